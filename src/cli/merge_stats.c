/* merge_stats.c - `lookahead merge-stats A.json B.json ...`: adds up the
 * statistics of shards (or of any runs) into one report, written to
 * standard output, equal to what a single run over all of them reports
 * (seconds: the longest shard's, since shards run side by side). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static int read_file(const char *path, la_buf *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char chunk[65536];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (la_buf_append(b, chunk, k)) {
            fclose(f);
            return -1;
        }
    int bad = ferror(f);
    fclose(f);
    return bad ? -1 : 0;
}


/* Reads report argv[i] into *st: 0 or an exit code (said). The first
 * report's settings go to mode0, unit0 and m0; later ones must match. */
static int read_report(char **argv, int i, la_stats *st, char *mode0, char *unit0, uint64_t *m0, double *secs)
{
    la_buf b = {0};
    if (read_file(argv[i], &b)) {
        cli_msg("%s: cannot open", argv[i]);
        la_buf_free(&b);
        return EXIT_NOINPUT;
    }
    char mode[16], unit[16];
    uint64_t m;
    double t;
    la_err e;
    int bad = la_stats_parse(b.data ? b.data : "", b.len, st, mode, sizeof mode, unit, sizeof unit, &m, &t, &e);
    la_buf_free(&b);
    if (bad) {
        cli_msg("%s: %s", argv[i], e.msg);
        return EXIT_DATA;
    }
    if (st->status != LA_RUN_COMPLETE) {
        cli_msg("%s: the run stopped early (status %s): its counts do not cover its input; merge only complete "
                "runs' reports", argv[i], st->status == LA_RUN_FAILED ? "failed" : "output_closed");
        return EXIT_DATA;
    }
    *secs = t > *secs ? t : *secs;
    if (i == 1) {
        snprintf(mode0, 16, "%s", mode);
        snprintf(unit0, 16, "%s", unit);
        *m0 = m;
    } else if (strcmp(mode, mode0) || strcmp(unit, unit0) || m != *m0) {
        cli_msg("%s: made with other settings (mode %s, unit %s, m %llu) than %s", argv[i], mode,
                unit[0] ? unit : "none", (unsigned long long)m, argv[1]);
        return EXIT_DATA;
    }
    return 0;
}

/* Orders --split reports by K (others keep their place: all have K 0). */
static int by_split(const void *a, const void *b)
{
    const la_stats *x = a, *y = b;
    return x->split_k < y->split_k ? -1 : x->split_k > y->split_k;
}

static int by_value(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Reports of --split K/N (or --shard K/N) runs add up to the whole input
 * only when every K from 0 to N-1 is there once. */
static int check_parts(const la_stats *sts, int n_reports)
{
    const char *opt = sts[0].split_n ? "--split" : "--shard", *part = sts[0].split_n ? "split" : "shard";
    uint64_t n = sts[0].split_n ? sts[0].split_n : sts[0].shard_n;
    for (int i = 0; i < n_reports; i++)
        if (sts[i].split_n != sts[0].split_n || sts[i].shard_n != sts[0].shard_n) {
            cli_msg("reports of %s runs and of other runs, or of %ss of another N, cannot be merged",
                    sts[i].split_n || sts[0].split_n ? "--split" : "--shard",
                    sts[i].split_n || sts[0].split_n ? "split" : "shard");
            return EXIT_DATA;
        }
    if (!n)
        return 0;
    uint64_t *k = malloc((size_t)n_reports * sizeof *k);
    if (!k) {
        cli_msg("out of memory");
        return EXIT_IOERR;
    }
    for (int i = 0; i < n_reports; i++)
        k[i] = sts[0].split_n ? sts[i].split_k : sts[i].shard_k;
    qsort(k, (size_t)n_reports, sizeof *k, by_value);
    /* sorted, each K < N (read_report): the first place where k[j] is not
     * j names a K given twice (below j) or missing (j); else all N are
     * there unless there are fewer reports */
    uint64_t bad = UINT64_MAX;
    int twice = 0;
    for (uint64_t j = 0; j < (uint64_t)n_reports && bad == UINT64_MAX; j++)
        if (k[j] != j)
            bad = (twice = k[j] < j) ? k[j] : j;
    if (bad == UINT64_MAX && (uint64_t)n_reports < n)
        bad = (uint64_t)n_reports;
    int rc = 0;
    if (bad != UINT64_MAX) {
        cli_msg("the reports are not one of each %s K/%llu from K = 0 to %llu: %s %llu is %s", opt,
                (unsigned long long)n, (unsigned long long)(n - 1), part, (unsigned long long)bad,
                twice ? "given twice" : "missing");
        rc = EXIT_DATA;
    }
    free(k);
    return rc;
}

int cli_merge_stats(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fprintf(argc < 2 ? stderr : stdout, "Usage: lookahead merge-stats STATS.json...\n");
        return argc < 2 ? EXIT_USAGE : 0;
    }
    la_stats total;
    memset(&total, 0, sizeof total);
    la_config cfg;
    la_config_defaults(&cfg);
    char mode0[16] = "", unit0[16] = "";
    uint64_t m0 = 0;
    double secs = 0;
    int n = argc - 1, rc = 0;
    la_stats *sts = calloc((size_t)n, sizeof *sts);
    if (!sts) {
        cli_msg("out of memory");
        return EXIT_IOERR;
    }
    for (int i = 1; i <= n && !rc; i++)
        rc = read_report(argv, i, &sts[i - 1], mode0, unit0, &m0, &secs);
    /* splits in input order, so that reasons are listed in the order one
     * run meets them */
    if (!rc && sts[0].split_n)
        qsort(sts, (size_t)n, sizeof *sts, by_split);
    if (!rc)
        rc = check_parts(sts, n);
    for (int i = 0; i < n && !rc; i++) {
        la_err e;
        if (la_stats_merge_report(&total, &sts[i], i == 0, &e)) {
            cli_msg("%s: %s", sts[0].split_n ? "--split reports" : argv[i + 1], e.msg);
            rc = EXIT_DATA;
        }
    }
    free(sts);
    if (rc)
        return rc;
    la_stats_merge_end(&total);
    cfg.mode = strcmp(mode0, "virtual") == 0 ? LA_MODE_VIRTUAL : LA_MODE_REAL;
    cfg.unit = strcmp(unit0, "char") == 0 ? LA_UNIT_CHAR : strcmp(unit0, "token") == 0 ? LA_UNIT_TOKEN : LA_UNIT_WORD;
    cfg.m = (size_t)m0;
    la_buf out = {0};
    la_stats_json(&total, &cfg, secs, &out);
    rc = fwrite(out.data, 1, out.len, stdout) == out.len && fflush(stdout) == 0 ? 0 : EXIT_IOERR;
    la_buf_free(&out);
    return rc;
}
