/* progress.h - the progress line (pv/tqdm-like), formatted to fit a
 * terminal's width so that it never wraps. */
#ifndef LA_PROGRESS_H
#define LA_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    double elapsed;        /* seconds since the start */
    uint64_t records;      /* records read */
    uint64_t data_bytes;   /* bytes of data read, decompressed */
    uint64_t pos, total;   /* position in the inputs as stored, and their size (total 0: not known) */
} la_progress;

/* Formats the line for a terminal `width` columns wide into buf (cap
 * bytes): at most width - 1 characters, the least useful parts left out
 * first (elapsed, records, their rate, MB and MB/s; with a known total
 * also percent, ETA and a bar filling what is left). ASCII only, so
 * bytes are columns. Returns its length. */
size_t la_progress_line(const la_progress *p, size_t width, char *buf, size_t cap);

#endif
