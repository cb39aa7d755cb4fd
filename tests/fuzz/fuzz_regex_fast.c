/* fuzz_regex_fast.c - the hand-written matchers of regex_fast.c against
 * Oniguruma alone (the reference), for every pattern they know.
 *
 * Input: a byte choosing the pattern (modulo the number of known ones),
 * then the text, any bytes: where a matcher reads an invalid UTF-8
 * sequence it declines and Oniguruma decides, which is checked too.
 * Checked: the search from every position that does not continue a
 * character, and the match stream as the Split pre-tokenizer iterates it
 * (find_iter), are the same with the matcher and without it. */
#include <string.h>

#include "fuzz_common.h"
#include "tokenizer/tk.h"
#include "tokenizer/tk_test.h"

#define MAXPAT 32
static tk_regex *fast_re[MAXPAT], *onig_re[MAXPAT];
static size_t npat;
static la_tok_work *work;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *p;
    size_t len;
    la_err err = {{0}, {0}};
    for (npat = 0; (p = tk_fast_pattern(npat, &len)) != NULL; npat++) {
        FUZZ_CHECK(npat < MAXPAT, "more than %d known patterns: raise MAXPAT", MAXPAT);
        fast_re[npat] = tk_regex_new(p, len, &err);
        onig_re[npat] = tk_regex_new(p, len, &err);
        FUZZ_CHECK(fast_re[npat] && onig_re[npat], "pattern %zu: %s", npat, err.msg);
        FUZZ_CHECK(tk_regex_fast_name(fast_re[npat]) != NULL, "pattern %zu has no matcher", npat);
        tk_regex_set_fast(onig_re[npat], 0);
    }
    FUZZ_CHECK(npat > 0, "no known patterns");
    work = la_tok_work_new();
    FUZZ_CHECK(work != NULL, "out of memory");
    return 0;
}

/* Both results of one call, the same or the run stops. */
static void same(int r1, size_t a1, size_t b1, int r2, size_t a2, size_t b2, size_t k,
                 const char *what, size_t at)
{
    FUZZ_CHECK(r1 == r2 && (r1 != 1 || (a1 == a2 && b1 == b2)),
               "%s (%s) at %zu: matcher %d [%zu,%zu), oniguruma %d [%zu,%zu)", what,
               tk_regex_fast_name(fast_re[k]), at, r1, a1, b1, r2, a2, b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t k = data[0] % npat;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    la_err err = {{0}, {0}};
    for (size_t i = 0; i <= n; i++) {
        if (i < n && (data[1 + i] & 0xC0) == 0x80)
            continue;
        size_t a1 = 0, b1 = 0, a2 = 0, b2 = 0;
        int r1 = tk_regex_next(fast_re[k], s, n, i, &a1, &b1, work, &err);
        int r2 = tk_regex_next(onig_re[k], s, n, i, &a2, &b2, work, &err);
        same(r1, a1, b1, r2, a2, b2, k, "search", i);
    }
    tk_regex_iter i1 = {0, 0}, i2 = {0, 0};
    for (size_t m = 0;; m++) {
        size_t a1 = 0, b1 = 0, a2 = 0, b2 = 0;
        int r1 = tk_regex_iter_next(fast_re[k], s, n, &i1, &a1, &b1, work, &err);
        int r2 = tk_regex_iter_next(onig_re[k], s, n, &i2, &a2, &b2, work, &err);
        same(r1, a1, b1, r2, a2, b2, k, "match stream", m);
        if (r1 != 1)
            break;
    }
    return 0;
}
