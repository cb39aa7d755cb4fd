/*
 * fuzz_regex.c - a pattern and its counted copy (regex_bound.c) find the
 * same matches. The input is a pattern, a NUL byte and a text; when
 * tk_regex_new takes the pattern (its copy must compile whenever the
 * scanner makes one), both forms must give the same result, match and groups
 * from every start position of the text (Oniguruma's own retry limit
 * kept small so that no input runs long). And no pattern crashes the
 * scanner.
 */
#include <oniguruma.h>
#include <string.h>

#include "fuzz_common.h"
#include "tokenizer/tk.h"
#include "tokenizer/tk_test.h"

/* A search under a small retry limit: a limit error is an answer too,
 * only compared when both reach it. */
static int search(regex_t *re, const OnigUChar *s, size_t n, size_t from, OnigRegion *rg,
                  OnigMatchParam *mp)
{
    return onig_search_with_param(re, s, s + n, s + from, s + n, rg, ONIG_OPTION_NONE, mp);
}

static int is_limit(int r)
{
    return r == ONIGERR_RETRY_LIMIT_IN_MATCH_OVER || r == ONIGERR_RETRY_LIMIT_IN_SEARCH_OVER ||
           r == ONIGERR_MATCH_STACK_LIMIT_OVER;
}

/* 1 when tk_regex_new's message says that the counted copy did not
 * compile. The message is "regex /PATTERN/: REASON" with at most 80
 * bytes of the pattern shown, and the pattern may hold any text (even
 * the words of that reason), so the reason is read where it starts. */
static int copy_failed(const char *msg, size_t plen)
{
    static const char head[] = "regex /", why[] = "the time of its searches cannot be bounded (its counted copy";
    size_t at = sizeof head - 1 + (plen > 80 ? 80 : plen) + 3;
    return strlen(msg) > at && strncmp(msg + at, why, sizeof why - 1) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tk_onig_init();
    const uint8_t *nul = memchr(data, 0, size);
    if (!nul || nul - data > 200)
        return 0;
    const char *pat = (const char *)data;
    size_t plen = (size_t)(nul - data);
    const OnigUChar *text = nul + 1;
    size_t tlen = size - plen - 1;
    if (tlen > 200)
        tlen = 200;
    la_err err = {{0}, {0}};
    tk_regex *re = tk_regex_new(pat, plen, &err);
    FUZZ_CHECK(re || !copy_failed(err.msg, plen), "/%.*s/: %s", (int)plen, pat, err.msg);
    if (re) {
        void *pv, *cv;
        tk_regex_forms(re, &pv, &cv);
        regex_t *plain = pv, *counted = cv;
        OnigRegion *a = onig_region_new(), *b = onig_region_new();
        OnigMatchParam *mp = onig_new_match_param();
        onig_initialize_match_param(mp);
        onig_set_retry_limit_in_match_of_match_param(mp, 20000);
        onig_set_retry_limit_in_search_of_match_param(mp, 200000);
        for (size_t from = 0; from <= tlen; from++) {
            int ra = search(plain, text, tlen, from, a, mp);
            int rb = search(counted, text, tlen, from, b, mp);
            if (is_limit(ra) || is_limit(rb))
                break;          /* the copy backtracks more where Oniguruma optimises less */
            FUZZ_CHECK(ra == rb, "/%.*s/ from %zu: %d, counted %d", (int)plen, pat, from, ra, rb);
            if (ra < 0)
                continue;
            for (int g = 0; g < a->num_regs; g++)
                FUZZ_CHECK(a->beg[g] == b->beg[g] && a->end[g] == b->end[g],
                           "/%.*s/ from %zu: group %d differs", (int)plen, pat, from, g);
        }
        onig_region_free(a, 1);
        onig_region_free(b, 1);
        onig_free_match_param(mp);
        tk_regex_free(re);
    }
    return 0;
}
