/* progress.c - the progress line: the parts that fit the width, in a
 * fixed order, most useful first to stay. */
#include "progress.h"

#include <stdio.h>
#include <string.h>

/* h:mm:ss, or m:ss under an hour (whole seconds gone by). */
static void clock_of(double s, char *b, size_t cap)
{
    unsigned long t = s < 0 ? 0 : s > 3.6e8 ? 360000000ul : (unsigned long)s;
    if (t >= 3600)
        snprintf(b, cap, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(b, cap, "%lu:%02lu", t / 60, t % 60);
}

/* A count in at most five characters and a suffix: 999, 12.3k, 4.56M. */
static void count_of(double v, char *b, size_t cap)
{
    if (v < 1000)
        snprintf(b, cap, "%.0f", v);
    else if (v < 1e6)
        snprintf(b, cap, "%.1fk", v / 1e3);
    else if (v < 1e9)
        snprintf(b, cap, "%.1fM", v / 1e6);
    else
        snprintf(b, cap, "%.1fG", v / 1e9);
}

enum { P_PREFIX, P_PCT, P_BAR, P_ELAPSED, P_ETA, P_RECS, P_RATE, P_MB, P_MBS, P_N };

size_t la_progress_line(const la_progress *p, size_t width, char *buf, size_t cap)
{
    char part[P_N][40], a[24];
    memset(part, 0, sizeof part);
    double frac = p->total ? (double)p->pos / (double)p->total : -1;
    if (frac > 1)
        frac = 1;
    snprintf(part[P_PREFIX], sizeof part[0], "lookahead:");
    clock_of(p->elapsed, part[P_ELAPSED], sizeof part[0]);
    count_of((double)p->records, a, sizeof a);
    snprintf(part[P_RECS], sizeof part[0], "%s rec", a);
    count_of(p->elapsed > 0 ? (double)p->records / p->elapsed : 0, a, sizeof a);
    snprintf(part[P_RATE], sizeof part[0], "%s rec/s", a);
    double mb = (double)p->data_bytes / 1e6;
    snprintf(part[P_MB], sizeof part[0], mb < 1e6 ? "%.1f MB" : "%.0f MB", mb);
    snprintf(part[P_MBS], sizeof part[0], "%.1f MB/s", p->elapsed > 0 ? mb / p->elapsed : 0.0);
    if (frac >= 0) {
        snprintf(part[P_PCT], sizeof part[0], "%3.0f%%", 100 * frac);
        if (frac > 0 && p->elapsed > 0) {
            clock_of(p->elapsed * (1 - frac) / frac, a, sizeof a);
            snprintf(part[P_ETA], sizeof part[0], "ETA %s", a);
        } else {
            snprintf(part[P_ETA], sizeof part[0], "ETA -:--");
        }
    }
    /* the parts kept while they fit, most useful first; the bar then
     * takes what is left (at most 30 columns, at least 5 inside) */
    static const int keep_order[] = {P_PCT, P_ELAPSED, P_RECS, P_MBS, P_ETA, P_RATE, P_MB, P_PREFIX};
    size_t room = width > 1 ? width - 1 : 0, used = 0;
    int keep[P_N] = {0};
    for (size_t i = 0; i < sizeof keep_order / sizeof keep_order[0]; i++) {
        int k = keep_order[i];
        size_t len = strlen(part[k]);
        if (len && used + (used ? 1 : 0) + len <= room) {
            used += (used ? 1 : 0) + len;
            keep[k] = 1;
        }
    }
    if (frac >= 0 && used + 1 + 7 <= room) {
        size_t inner = room - used - 1 - 2;
        if (inner > 30)
            inner = 30;
        size_t full = (size_t)(frac * (double)inner + 0.5);
        part[P_BAR][0] = '[';
        memset(part[P_BAR] + 1, '#', full);
        memset(part[P_BAR] + 1 + full, '.', inner - full);
        part[P_BAR][inner + 1] = ']';
        part[P_BAR][inner + 2] = 0;
        keep[P_BAR] = 1;
    }
    size_t n = 0;
    if (cap)
        buf[0] = 0;
    for (int k = 0; k < P_N; k++) {
        if (!keep[k])
            continue;
        int w = snprintf(buf + n, cap > n ? cap - n : 0, "%s%s", n ? " " : "", part[k]);
        if (w < 0 || n + (size_t)w >= cap)
            break;
        n += (size_t)w;
    }
    return n;
}
