/*
 * test_tok_regex_bound.c - the counted copies of regex_bound.c against
 * the patterns they come from, both compiled as regex.c compiles them:
 *   - the Split and Replace patterns of the real tokenizers, of the
 *     conformance pipelines and of the test fixtures, and many random
 *     patterns from a small grammar (escapes, classes with set operations,
 *     groups of every kind, comments, option settings, every quantifier
 *     with its lazy and possessive forms, chains, intervals that are
 *     literal text), give the same match (or none) with the same groups
 *     from every start position of random texts;
 *   - every repeat of a counted copy calls the callout, and an error
 *     returned by it ends the search;
 *   - what cannot be counted is refused, at load, with the reason.
 */
#include <check.h>
#include <oniguruma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "tokenizer/tk.h"
#include "tokenizer/tk_test.h"

/* Patterns of tokenizers in use (their pre-tokenizers' Split and their
 * normalizers' and decoders' Replace) and of the conformance pipelines. */
static const char *const real[] = {
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"
    "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+|"
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
    "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
    "[\xe4\xb8\x80-\xe9\xbe\xa5\\u3040-\xe3\x82\x9f\xe3\x82\xa0-\xe3\x83\xbf]+",
    "\\p{N}{1,3}",
    " ?[^(\\s|[.,!?\xe2\x80\xa6\xe3\x80\x82\xef\xbc\x8c\xe3\x80\x81\xe0\xa5\xa4\xdb\x94\xd8\x8c])]+",
    "\\s+",
    "[\\p{P}\\p{S}]",
    "(?<=\\d)(?=\\D)",
    "[0-9][0-9][0-9]",
    " {2,}",
    "\\p{Zs}",
    "\\p{M}",
    "(?:a+)+(?<=b)|\\s+",
    "b(?=b)(?!b)|a(?=a*+c)",
    "\\p{L}+\\d",
};
#define NREAL (sizeof real / sizeof real[0])

/* Both forms of a pattern, as tk_regex_new compiles them. */
typedef struct {
    tk_regex *re;
    regex_t *plain, *counted;
} pair;

/* 1 with both compiled, 0 when the pattern does not compile at all, -1
 * when it compiles and its counted copy is refused. */
static int make_pair(const char *pattern, pair *pr)
{
    la_err err = {{0}, {0}};
    pr->re = tk_regex_new(pattern, strlen(pattern), &err);
    if (!pr->re) {
        ck_assert_msg(!strstr(err.msg, "copy does not compile"), "%s", err.msg);
        return strstr(err.msg, "cannot be bounded") ? -1 : 0;
    }
    void *plain, *counted;
    tk_regex_forms(pr->re, &plain, &counted);
    pr->plain = plain;
    pr->counted = counted;
    return 1;
}

static void free_pair(pair *pr)
{
    tk_regex_free(pr->re);
}

static unsigned long calls;

static int count_call(OnigCalloutArgs *args, void *user)
{
    (void)args;
    (void)user;
    calls++;
    return ONIG_CALLOUT_SUCCESS;
}

/* Same result, match and groups from every start of s; returns the
 * number of matches seen. */
static int same_matches(const char *pattern, const pair *pr, const char *s, size_t len)
{
    OnigRegion *a = onig_region_new(), *b = onig_region_new();
    OnigMatchParam *mp = onig_new_match_param();
    onig_initialize_match_param(mp);
    onig_set_progress_callout_of_match_param(mp, count_call);
    const OnigUChar *u = (const OnigUChar *)s;
    int found = 0;
    for (size_t from = 0; from <= len; from++) {
        int ra = onig_search(pr->plain, u, u + len, u + from, u + len, a, ONIG_OPTION_NONE);
        int rb = onig_search_with_param(pr->counted, u, u + len, u + from, u + len, b,
                                        ONIG_OPTION_NONE, mp);
        ck_assert_msg(ra == rb, "/%s/ on \"%s\" from %zu: %d, counted %d", pattern, s, from, ra, rb);
        if (ra < 0)
            continue;
        found++;
        ck_assert_int_eq(a->num_regs, b->num_regs);
        for (int g = 0; g < a->num_regs; g++)
            ck_assert_msg(a->beg[g] == b->beg[g] && a->end[g] == b->end[g],
                          "/%s/ on \"%s\" from %zu: group %d at [%d,%d), counted [%d,%d)", pattern, s,
                          from, g, a->beg[g], a->end[g], b->beg[g], b->end[g]);
    }
    onig_region_free(a, 1);
    onig_region_free(b, 1);
    onig_free_match_param(mp);
    return found;
}

/* ---- random texts and patterns ------------------------------------------ */

static unsigned long long rng;

static unsigned rnd(unsigned n)
{
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)((rng >> 33) % n);
}

static const char *const text_pieces[] = {"a", "b", "c", "A", "B", " ", "\n", "1", "2", ".", "'",
                                          "\xc3\xa9", "\xc3\x89", "\xe4\xb8\x80", "\xcc\x81", "ss",
                                          "\xc3\x9f", "\r\n", "{", "}", "x", "-"};

static size_t random_text(char *buf, size_t cap)
{
    size_t n = 0, k = rnd(24);
    for (size_t i = 0; i < k; i++) {
        const char *p = text_pieces[rnd(sizeof text_pieces / sizeof text_pieces[0])];
        size_t l = strlen(p);
        if (n + l >= cap)
            break;
        memcpy(buf + n, p, l);
        n += l;
    }
    buf[n] = 0;
    return n;
}

static const char *const atoms[] = {
    "a", "b", "c", "\xc3\xa9", " ", "\\d", "\\D", "\\s", "\\w", "\\W", "\\h", "\\p{L}", "\\p{^L}",
    "\\P{N}", "\\p{Lu}", ".", "\\.", "\\x{61}", "\\u0062", "\\x63", "\\n", "\\t", "[ab]", "[^a]",
    "[a-c&&[^b]]", "[[:alpha:]]", "[\\p{L}\\d]", "[^\\s\\p{L}]", "[.{}]", "\\N", "x",
    "{", "}", "{,}", "{x}", "\\{", "\\}", "]", "\\]", "'s", "(?#c)",
};
static const char *const quants[] = {"*", "+", "?", "*?", "+?", "??", "*+", "++", "?+", "{2}",
                                     "{1,3}", "{,2}", "{2,}", "{3,1}", "{2}?", "{2}+", "{1,2}?",
                                     "{0}", "{1}", "{0,1}", "*{2}", "+?+"};
static const char *const opens[] = {"(", "(?:", "(?=", "(?!", "(?>", "(?i:", "(?<n>", "(?m:", "(?-i:"};

static void random_pattern(la_buf *o, int depth)
{
    int items = 1 + (int)rnd(4);
    for (int i = 0; i < items; i++) {
        unsigned k = rnd(14);
        if (k < 3 && depth < 3) {
            la_buf_printf(o, "%s", opens[rnd(sizeof opens / sizeof opens[0])]);
            random_pattern(o, depth + 1);
            la_buf_putc(o, ')');
        } else if (k == 3 && depth < 3) {
            /* a look-behind of fixed-length alternatives */
            la_buf_printf(o, "(?<%s%s|b)", rnd(2) ? "=" : "!", atoms[rnd(5)]);
        } else if (k == 4) {
            la_buf_printf(o, "%s", rnd(2) ? "|" : (rnd(2) ? "(?i)" : "^"));
            continue;
        } else if (k == 5) {
            la_buf_printf(o, "%s", rnd(2) ? "$" : "\\b");
            continue;
        } else {
            la_buf_printf(o, "%s", atoms[rnd(sizeof atoms / sizeof atoms[0])]);
        }
        if (rnd(2))
            la_buf_printf(o, "%s", quants[rnd(sizeof quants / sizeof quants[0])]);
    }
}

/* ---- tests ---------------------------------------------------------------- */

START_TEST(test_real_patterns)
{
    char text[256];
    long total = 0;
    rng = 11;
    for (size_t k = 0; k < NREAL; k++) {
        pair pr;
        ck_assert_msg(make_pair(real[k], &pr) == 1, "/%s/ is not counted", real[k]);
        int found = 0;
        calls = 0;
        for (int t = 0; t < 300; t++) {
            size_t n = random_text(text, sizeof text);
            found += same_matches(real[k], &pr, text, n);
        }
        total += found;
        /* a repeat that ran called the callout */
        la_buf o = {0};
        const char *why;
        size_t at;
        ck_assert_int_eq(tk_regex_instrument(real[k], strlen(real[k]), &o, &why, &at), 1);
        ck_assert_msg(calls > 0 || !strstr(o.data, "(?{+})"), "/%s/: no callout", real[k]);
        la_buf_free(&o);
        free_pair(&pr);
    }
    ck_assert_int_gt(total, (long)NREAL * 300);
}
END_TEST

START_TEST(test_random_patterns)
{
    char text[256];
    rng = 1000 + (unsigned long long)_i;
    int compiled = 0, counted = 0, matched = 0;
    la_buf pat = {0};
    for (int k = 0; k < 1500; k++) {
        la_buf_clear(&pat);
        random_pattern(&pat, 0);
        pair pr;
        int r = make_pair(pat.data, &pr);
        if (r == 0)
            continue;
        compiled++;
        if (r < 0)
            continue;
        counted++;
        for (int t = 0; t < 20; t++) {
            size_t n = random_text(text, sizeof text);
            matched += same_matches(pat.data, &pr, text, n) > 0;
        }
        free_pair(&pr);
    }
    la_buf_free(&pat);
    /* the grammar writes little that is refused (a quantifier right after
     * a comment, a quantified anchor) */
    ck_assert_int_gt(compiled, 1000);
    ck_assert_msg(counted * 10 >= compiled * 9, "%d of %d counted", counted, compiled);
    ck_assert_int_gt(matched, 1000);
}
END_TEST

/* The copies themselves: what is wrapped and what is kept as it is. */
START_TEST(test_copies)
{
    static const char *const cases[][2] = {
        {"a+", "(?:a(?{+}))+"},
        {"ab*c", "a(?:b(?{+}))*c"},
        {"a?b??c?+", "a?b??c?+"},
        {"(ab)+?", "(?:(ab)(?{+}))+?"},
        {"\\p{L}{1,3}+", "(?:\\p{L}(?{+})){1,3}+"},
        {"[a-z&&[^x]]*", "(?:[a-z&&[^x]](?{+}))*"},
        {"a{,}", "a{,}"},
        {"a{x}*", "a{x(?:}(?{+}))*"},
        {"\xc3\xa9+", "(?:\xc3\xa9(?{+}))+"},
        {"a(?#x)*", "(?:a(?#x)(?{+}))*"},
        {"\\x{41}*+", "(?:\\x{41}(?{+}))*+"},
        {"(?i)a|b{2}", "(?i)a|(?:b(?{+})){2}"},
    };
    la_buf o = {0};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *why = NULL;
        size_t at = 0;
        ck_assert_int_eq(tk_regex_instrument(cases[k][0], strlen(cases[k][0]), &o, &why, &at), 1);
        ck_assert_str_eq(o.data, cases[k][1]);
    }
    la_buf_free(&o);
}
END_TEST

START_TEST(test_refused)
{
    static const char *const cases[][2] = {
        {"(a)\\1", "backreference"},
        {"(?<x>a)\\k<x>", "backreference"},
        {"(?<x>a|b\\g<x>)", "subexpression call"},
        {"\\X+", "grapheme"},
        {"a\\y", "grapheme"},
        {"(?~ab)", "absent"},
        {"(a)(?(1)a|b)", "conditional"},
        {"a\\O*", "\\O"},
        {"\\R+", "\\R"},
        {"a(?{x})", "callout"},
        {"(*FAIL)|a", "callout"},
        {"(?x) a +", "extended"},
        {"\\101", "octal"},
        {"\\xc3\\xa9", "ASCII"},
        {"\\cA", "escape"},
        {"[]a]", "class"},
        {"[^\\c[a]b]", "control escape in a class"},
        {"(?<!a|b).*}", "look-behind"},
        {"(?<=a)x|\\N+", "look-behind"},
    };
    la_buf o = {0};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *why = NULL;
        size_t at = 0;
        ck_assert_int_eq(tk_regex_instrument(cases[k][0], strlen(cases[k][0]), &o, &why, &at), 0);
        ck_assert_msg(why && strstr(why, cases[k][1]), "/%s/: %s", cases[k][0], why ? why : "(none)");
        /* at load, with the pattern and the reason */
        la_err err = {{0}, {0}};
        tk_regex *re = tk_regex_new(cases[k][0], strlen(cases[k][0]), &err);
        ck_assert_ptr_null(re);
        ck_assert_msg(strstr(err.msg, "cannot be bounded") && strstr(err.msg, why), "%s", err.msg);
    }
    la_buf_free(&o);
}
END_TEST

static int stop_at_100(OnigCalloutArgs *args, void *user)
{
    (void)args;
    unsigned long *n = user;
    return ++*n >= 100 ? ONIG_ABORT : ONIG_CALLOUT_SUCCESS;
}

/* A possessive scan in a look-ahead, which Oniguruma's retry limits do
 * not see, is stopped by the callout. */
START_TEST(test_callout_stops_search)
{
    pair pr;
    ck_assert_int_eq(make_pair("a(?=a*+c)", &pr), 1);
    size_t n = 5000;
    char *s = malloc(n + 1);
    memset(s, 'a', n);
    s[n] = 0;
    OnigRegion *rg = onig_region_new();
    OnigMatchParam *mp = onig_new_match_param();
    onig_initialize_match_param(mp);
    unsigned long count = 0;
    onig_set_progress_callout_of_match_param(mp, stop_at_100);
    onig_set_callout_user_data_of_match_param(mp, &count);
    const OnigUChar *u = (const OnigUChar *)s;
    int r = onig_search_with_param(pr.counted, u, u + n, u, u + n, rg, ONIG_OPTION_NONE, mp);
    ck_assert_int_eq(r, ONIG_ABORT);
    ck_assert_int_eq(count, 100);
    /* the plain pattern finds no match, without a callout */
    ck_assert_int_eq(onig_search(pr.plain, u, u + n, u, u + n, rg, ONIG_OPTION_NONE), ONIG_MISMATCH);
    onig_region_free(rg, 1);
    onig_free_match_param(mp);
    free_pair(&pr);
    free(s);
}
END_TEST

static Suite *suite(void)
{
    tk_onig_init();
    Suite *s = suite_create("tok_regex_bound");
    TCase *t = tcase_create("copies");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, test_copies);
    tcase_add_test(t, test_refused);
    tcase_add_test(t, test_callout_stops_search);
    tcase_add_test(t, test_real_patterns);
    tcase_add_loop_test(t, test_random_patterns, 0, 3);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return la_check_run(suite());
}
