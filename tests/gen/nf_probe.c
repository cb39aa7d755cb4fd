/*
 * nf_probe.c - the four Unicode normal forms as utf8proc computes them
 * (the library the normalizers hand NFC/NFD/NFKC/NFKD to), for the table
 * generator (tables.js), which compares them with the reference's.
 *
 * Reads lines of code points in hex separated by spaces; writes for each
 * its NFC, NFD, NFKC and NFKD, in the same notation, separated by ';'.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

enum { MAX_CPS = 64, OUT_CPS = 64 * 18 };

static const utf8proc_option_t forms[4] = {
    UTF8PROC_STABLE | UTF8PROC_COMPOSE,
    UTF8PROC_STABLE | UTF8PROC_DECOMPOSE,
    UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT,
    UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT,
};

/* Writes the normal form `opts` of cps[0..n) as normalize.c computes it
 * (utf8proc_decompose, which also puts marks in canonical order, then
 * utf8proc_normalize_utf32), or fails. */
static int put_form(const utf8proc_int32_t *cps, size_t n, utf8proc_option_t opts)
{
    utf8proc_uint8_t text[MAX_CPS * 4];
    utf8proc_ssize_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += utf8proc_encode_char(cps[i], text + bytes);
    utf8proc_int32_t buf[OUT_CPS];
    utf8proc_ssize_t len = utf8proc_decompose(text, bytes, buf, OUT_CPS, opts);
    if (len < 0 || len > OUT_CPS)
        return -1;
    len = utf8proc_normalize_utf32(buf, len, opts);
    if (len < 0)
        return -1;
    for (utf8proc_ssize_t i = 0; i < len; i++)
        printf(i ? " %X" : "%X", (unsigned)buf[i]);
    return 0;
}

int main(void)
{
    char line[MAX_CPS * 9 + 2];
    while (fgets(line, sizeof line, stdin)) {
        utf8proc_int32_t cps[MAX_CPS];
        size_t n = 0;
        char *p = line, *end;
        for (;;) {
            unsigned long c = strtoul(p, &end, 16);
            if (end == p)
                break;
            if (n == MAX_CPS || c > 0x10FFFF) {
                fprintf(stderr, "nf_probe: bad line: %s", line);
                return 1;
            }
            cps[n++] = (utf8proc_int32_t)c;
            p = end;
        }
        for (int f = 0; f < 4; f++) {
            if (f)
                putchar(';');
            if (put_form(cps, n, forms[f]) != 0) {
                fprintf(stderr, "nf_probe: cannot normalize: %s", line);
                return 1;
            }
        }
        putchar('\n');
    }
    return ferror(stdout) ? 1 : 0;
}
