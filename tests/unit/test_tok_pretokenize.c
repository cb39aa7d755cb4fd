/*
 * test_tok_pretokenize.c - pre-tokenizers and regex against HuggingFace
 * tokenizers.
 *
 * The expected pieces in fixtures/tok/pre_cases.h were computed by the
 * reference implementation (tokenizers 0.23.2, pre_tokenize_str) for
 * every pre-tokenizer and option, including the pre-tokenizers of the
 * Llama 3 and GPT-4o tokenizers, on hostile text: `make tables` writes
 * them from tests/gen/pre_cases.json (tests/gen/cases.js).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tokenizer/tk.h"
#include "tok_suite.h"

typedef struct {
    int cfg;
    const char *in;
    size_t n;                /* number of pieces */
    const char *pieces;      /* joined by \001 */
} pre_case;

#include "../fixtures/tok/pre_cases.h"

static tk_pretok *make(const char *json)
{
    cJSON *j = cJSON_Parse(json);
    ck_assert_ptr_nonnull(j);
    la_err err = {{0}, {0}};
    tk_pretok *p = tk_pretok_from_json(j, &err);
    cJSON_Delete(j);
    ck_assert_msg(p != NULL, "%s: %s", json, err.msg);
    return p;
}

/* Collects pieces joined by \001, with their at_start flags; stops
 * after `limit` pieces when limit > 0. */
typedef struct {
    la_buf joined;
    size_t n, limit;
    int starts[64];
} collector;

static int collect(void *ctx, const char *piece, size_t len, int at_start)
{
    collector *c = ctx;
    ck_assert_uint_gt(len, 0);
    if (c->n && la_buf_putc(&c->joined, '\001') != LA_OK)
        return 1;
    if (la_buf_append(&c->joined, piece, len) != LA_OK)
        return 1;
    if (c->n < 64)
        c->starts[c->n] = at_start;
    c->n++;
    return c->limit && c->n >= c->limit;
}

/* Runs p on s; returns the split status. */
static int run(const tk_pretok *p, const char *s, size_t len, int at_start, collector *c,
               la_tok_work *w)
{
    la_err err = {{0}, {0}};
    la_buf_clear(&c->joined);
    c->n = 0;
    int rc = p->split(p, s, len, at_start, collect, c, w, 0, &err);
    ck_assert_msg(rc >= 0, "split failed: %s", err.msg);
    return rc;
}

START_TEST(test_reference_cases)
{
    size_t ncfg = sizeof pre_configs / sizeof pre_configs[0];
    size_t ncase = sizeof pre_cases / sizeof pre_cases[0];
    la_tok_work *w = tok_work();
    collector c = {{0}, 0, 0, {0}};
    for (size_t k = 0; k < ncfg; k++) {
        tk_pretok *p = make(pre_configs[k]);
        for (size_t i = 0; i < ncase; i++) {
            const pre_case *t = &pre_cases[i];
            if ((size_t)t->cfg != k)
                continue;
            ck_assert_int_eq(run(p, t->in, strlen(t->in), 1, &c, w), 0);
            const char *got = c.joined.data ? c.joined.data : "";
            ck_assert_msg(c.n == t->n && strcmp(got, t->pieces) == 0,
                          "%s on \"%s\": got %zu pieces \"%s\", want %zu \"%s\"", pre_configs[k],
                          t->in, c.n, got, t->n, t->pieces);
        }
        p->free(p);
    }
    la_buf_free(&c.joined);
    la_tok_work_free(w);
}
END_TEST

/* Checks one configuration on one text. */
static void check_one(const char *json, const char *in, int at_start, const char *want,
                      size_t nwant)
{
    la_tok_work *w = tok_work();
    tk_pretok *p = make(json);
    collector c = {{0}, 0, 0, {0}};
    run(p, in, strlen(in), at_start, &c, w);
    ck_assert_uint_eq(c.n, nwant);
    ck_assert_str_eq(c.joined.data ? c.joined.data : "", want);
    p->free(p);
    la_buf_free(&c.joined);
    la_tok_work_free(w);
}

/* UnicodeScripts cuts where the script changes (Hiragana, Katakana and
 * U+30FC as Han; spaces belong to no script and stay in their piece) and
 * drops what precedes the first cut; HuggingFace's pieces (its offsets). */
START_TEST(test_unicode_scripts)
{
    const char *us = "{\"type\":\"UnicodeScripts\"}";
    check_one(us, "  Hello \xE4\xB8\x96\xE7\x95\x8C\xE3\x81\xB2\xE3\x82\xAB\xE3\x83\xBC abc123 "
              "\xD0\x9F\xD1\x80\xD0\xB8 \xD0\xBC\xD0\xB8\xD1\x80!", 1,
              "Hello \001\xE4\xB8\x96\xE7\x95\x8C\xE3\x81\xB2\xE3\x82\xAB\xE3\x83\xBC \001abc\001"
              "123 \001\xD0\x9F\xD1\x80\xD0\xB8 \xD0\xBC\xD0\xB8\xD1\x80\001!", 6);
    check_one(us, "\xE3\x83\xBC" "abc", 1, "\xE3\x83\xBC\001" "abc", 2);
    check_one(us, "x.y", 1, "x\001.\001y", 3);
    check_one(us, "   ", 1, "", 0);
}
END_TEST

/* Metaspace "first" prepends only to a piece at the start of the text
 * (the reference looks at the split's original offset); a text already
 * starting with the replacement (or a space) gets nothing. */
START_TEST(test_metaspace_first)
{
    const char *first = "{\"type\":\"Metaspace\",\"replacement\":\"\xE2\x96\x81\","
                        "\"prepend_scheme\":\"first\"}";
    check_one(first, "Hey you", 1, "\xE2\x96\x81Hey\001\xE2\x96\x81you", 2);
    check_one(first, "Hey you", 0, "Hey\001\xE2\x96\x81you", 2);
    check_one(first, " Hey", 1, "\xE2\x96\x81Hey", 1);
    check_one(first, "\xE2\x96\x81Hey", 1, "\xE2\x96\x81Hey", 1);
    check_one(first, "", 1, "", 0);
    /* in a Sequence, only the first piece of the text is at its start */
    check_one("{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"WhitespaceSplit\"},"
              "{\"type\":\"Metaspace\",\"replacement\":\"_\",\"prepend_scheme\":\"first\"}]}",
              "a b", 1, "_a\001b", 2);
    /* at_start of the pieces pushed: the bytes at their front that stem
     * from the text's first character, here the replacement prepended
     * and "a" */
    la_tok_work *w = tok_work();
    tk_pretok *p = make(first);
    collector c = {{0}, 0, 0, {0}};
    run(p, "a b c", 5, 1, &c, w);
    ck_assert_uint_eq(c.n, 3);
    ck_assert_int_eq(c.starts[0], 4);
    ck_assert_int_eq(c.starts[1], 0);
    ck_assert_int_eq(c.starts[2], 0);
    p->free(p);
    la_buf_free(&c.joined);
    la_tok_work_free(w);
}
END_TEST

/* A stop request ends the scan at once, and the rest of the text is
 * never read: the text ends on an inaccessible page. */
START_TEST(test_lazy_stop)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t ps = (size_t)page;
    char *map = mmap(NULL, 3 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ck_assert_ptr_ne(map, MAP_FAILED);
    /* two readable pages of words, digits and punctuation, then a
     * guard page */
    static const char cycle[] = "ab1, cd2. ";
    for (size_t i = 0; i < 2 * ps; i++)
        map[i] = cycle[i % 10];
    ck_assert_int_eq(mprotect(map + 2 * ps, ps, PROT_NONE), 0);
    /* the text claims to go on far beyond the guard page */
    size_t len = 3 * ps + 1000000;
    const char *cfgs[] = {
        "{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true}",
        "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true}",
        "{\"type\":\"Metaspace\",\"replacement\":\"_\",\"prepend_scheme\":\"always\"}",
        "{\"type\":\"Whitespace\"}",
        "{\"type\":\"WhitespaceSplit\"}",
        "{\"type\":\"BertPreTokenizer\"}",
        "{\"type\":\"Punctuation\",\"behavior\":\"MergedWithNext\"}",
        "{\"type\":\"Digits\",\"individual_digits\":false}",
        "{\"type\":\"CharDelimiterSplit\",\"delimiter\":\" \"}",
        "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"behavior\":\"MergedWithPrevious\","
        "\"invert\":false}",
        "{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"Contiguous\","
        "\"invert\":true}",
        "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{\"Regex\":"
        "\"[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]"
        "*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false},"
        "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,"
        "\"use_regex\":false}]}",
    };
    la_tok_work *w = tok_work();
    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
        tk_pretok *p = make(cfgs[k]);
        collector c = {{0}, 0, 3, {0}};
        ck_assert_msg(run(p, map, len, 1, &c, w) == 1, "%s did not stop", cfgs[k]);
        ck_assert_uint_eq(c.n, 3);
        p->free(p);
        la_buf_free(&c.joined);
    }
    la_tok_work_free(w);
    munmap(map, 3 * ps);
}
END_TEST

/* Split on an empty regex: empty matches never loop, and are dropped. */
START_TEST(test_empty_matches)
{
    check_one("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\"},\"behavior\":\"Isolated\","
              "\"invert\":false}",
              "ab", 1, "a\001b", 2);
    check_one("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"x*\"},\"behavior\":\"Removed\","
              "\"invert\":false}",
              "axxb", 1, "a\001b", 2);
    /* rust-onig skips an empty match right after a match, hiding the
     * "b" that the alternation would match there */
    check_one("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a*|b\"},\"behavior\":\"Removed\","
              "\"invert\":false}",
              "ab", 1, "b", 1);

    la_tok_work *w = tok_work();
    la_err err = {{0}, {0}};
    tk_regex *re = tk_regex_new("", 0, &err);
    ck_assert_ptr_nonnull(re);
    tk_regex_iter it = {0, 0};
    size_t a, b, n = 0;
    while (tk_regex_iter_next(re, "abc", 3, &it, &a, &b, w, &err) == 1) {
        ck_assert_uint_eq(a, b);
        ck_assert_uint_eq(a, n);
        n++;
    }
    ck_assert_uint_eq(n, 4);
    tk_regex_free(re);
    la_tok_work_free(w);
}
END_TEST

/* The GPT-2 classes follow the reference's Unicode 16 tables: Garay
 * (U+10D50) is a letter, whatever the system Oniguruma knows. */
START_TEST(test_regex_unicode)
{
    la_tok_work *w = tok_work();
    la_err err = {{0}, {0}};
    const char *pats[] = {"\\p{L}+", "[\\p{L}]+", "\\w+", "[^\\P{L}]+"};
    for (size_t k = 0; k < 4; k++) {
        tk_regex *re = tk_regex_new(pats[k], strlen(pats[k]), &err);
        ck_assert_msg(re != NULL, "%s", err.msg);
        size_t a, b;
        const char *s = "1\xF0\x90\xB5\x90x2";
        ck_assert_int_eq(tk_regex_next(re, s, strlen(s), 0, &a, &b, w, &err), 1);
        ck_assert_uint_eq(a, k == 2 ? 0 : 1);
        ck_assert_uint_eq(b, k == 2 ? 7 : 6);
        tk_regex_free(re);
    }
    /* a digit added in Unicode 15 (KAWI DIGIT ZERO U+11F50) is \d */
    tk_regex *re = tk_regex_new("\\d", 2, &err);
    size_t a, b;
    ck_assert_int_eq(tk_regex_next(re, "\xF0\x91\xBD\x90", 4, 0, &a, &b, w, &err), 1);
    tk_regex_free(re);
    ck_assert_ptr_null(tk_regex_new("(", 1, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "regex"));
    la_tok_work_free(w);
}
END_TEST

/* \b and \B are written as look-arounds over the reference's \w
 * (U+0897, of Unicode 16, is a word character there), except inside a
 * look-behind, which takes no look-ahead (the reference takes \b there);
 * a quantified \b is refused as the reference refuses it. */
START_TEST(test_regex_boundary)
{
    la_tok_work *w = tok_work();
    la_err err = {{0}, {0}};
    tk_regex *re = tk_regex_new("\\b", 2, &err);
    ck_assert_msg(re != NULL, "%s", err.msg);
    const char *s = "a\xE0\xA2\x97" "b c";
    size_t a, b;
    ck_assert_int_eq(tk_regex_next(re, s, strlen(s), 1, &a, &b, w, &err), 1);
    ck_assert_uint_eq(a, 5);
    tk_regex_free(re);
    static const char *const taken[] = {"(?<=a\\b)", "(?<!\\B)a", "(?<=(?:x|y\\b))z", "\\b{a"};
    for (size_t k = 0; k < sizeof taken / sizeof taken[0]; k++) {
        re = tk_regex_new(taken[k], strlen(taken[k]), &err);
        ck_assert_msg(re != NULL, "%s: %s", taken[k], err.msg);
        tk_regex_free(re);
    }
    static const char *const refused[] = {"\\b*", "a\\B+", "\\b{2}", "\\b{,3}"};
    for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++) {
        ck_assert_ptr_null(tk_regex_new(refused[k], strlen(refused[k]), &err));
        ck_assert_msg(strstr(err.msg, "target of repeat operator is invalid") != NULL, "%s", err.msg);
    }
    la_tok_work_free(w);
}
END_TEST

/* A class that the rewrite spells out (\w, \d, \p{..}, POSIX brackets)
 * next to '-' inside brackets makes or ends a range that the reference's
 * Oniguruma refuses; written as ranges it would be taken. The forms the
 * reference refuses are refused with its reason, the ones it takes (a
 * '-' at an end, after a range, before &&) are taken. */
START_TEST(test_regex_class_ranges)
{
    static const char *const refused[][2] = {
        {"[\\w-z]", "unmatched range specifier in char-class"},
        {"[\\d-x]+", "unmatched range specifier in char-class"},
        {"[\\p{L}-\\p{N}]+", "unmatched range specifier in char-class"},
        {"[\\p{N}-9]", "unmatched range specifier in char-class"},
        {"[\\w--\\d]", "unmatched range specifier in char-class"},
        {"[^\\W-z]", "unmatched range specifier in char-class"},
        {"[\\P{Lu}-\\]]", "unmatched range specifier in char-class"},
        {"[[:punct:]-z]", "unmatched range specifier in char-class"},
        {"[\\w-[a]]", "unmatched range specifier in char-class"},
        {"[!-\\w]", "char-class value at end of range"},
        {"[!-[:alpha:]]", "char-class value at end of range"},
    };
    static const char *const taken[] = {
        "[\\w-]", "[-\\w]", "[a-z-\\w]", "[\\w-&&a]", "[a\\-\\w]", "[\\w\\-a]", "[[:punct:]-]",
        "\\w-z",
    };
    la_err err = {{0}, {0}};
    for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++) {
        tk_regex *re = tk_regex_new(refused[k][0], strlen(refused[k][0]), &err);
        ck_assert_msg(re == NULL, "%s was taken", refused[k][0]);
        ck_assert_msg(strstr(err.msg, refused[k][1]) != NULL, "%s: %s", refused[k][0], err.msg);
    }
    for (size_t k = 0; k < sizeof taken / sizeof taken[0]; k++) {
        tk_regex *re = tk_regex_new(taken[k], strlen(taken[k]), &err);
        ck_assert_msg(re != NULL, "%s: %s", taken[k], err.msg);
        tk_regex_free(re);
    }
}
END_TEST

/* Nested Sequences get their own scratch slots: pieces from an outer
 * stage stay intact while inner stages rewrite theirs. */
START_TEST(test_sequence_nesting)
{
    check_one("{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Metaspace\","
              "\"replacement\":\"_\",\"prepend_scheme\":\"always\"},{\"type\":\"Sequence\","
              "\"pretokenizers\":[{\"type\":\"ByteLevel\",\"add_prefix_space\":true,"
              "\"trim_offsets\":false},{\"type\":\"Metaspace\",\"replacement\":\"x\","
              "\"prepend_scheme\":\"never\",\"split\":false}]}]}",
              "ab cd", 1, "\xC4\xA0_\001ab\001\xC4\xA0_\001cd", 4);
    check_one("{\"type\":\"Sequence\",\"pretokenizers\":[]}", "a b", 1, "a b", 1);
}
END_TEST

static void expect_error(const char *json, const char *want)
{
    cJSON *j = cJSON_Parse(json);
    ck_assert_ptr_nonnull(j);
    la_err err = {{0}, {0}};
    tk_pretok *p = tk_pretok_from_json(j, &err);
    cJSON_Delete(j);
    ck_assert_msg(p == NULL, "%s: accepted", json);
    ck_assert_msg(strstr(err.msg, want) != NULL, "%s: message \"%s\" lacks \"%s\"", json,
                  err.msg, want);
}

START_TEST(test_errors)
{
    expect_error("{\"type\":\"UnicodeSegments\"}", "pre-tokenizer: unsupported type \"UnicodeSegments\"");
    expect_error("{\"type\":\"Nope\"}", "unsupported type \"Nope\"");
    expect_error("{}", "missing field \"type\"");
    expect_error("{\"type\":null}", "\"type\" must be a string");
    expect_error("{\"type\":\"ByteLevel\"}", "ByteLevel: missing field \"add_prefix_space\"");
    expect_error("{\"type\":\"ByteLevel\",\"add_prefix_space\":false}",
                 "missing field \"trim_offsets\"");
    expect_error("{\"type\":\"ByteLevel\",\"add_prefix_space\":\"no\",\"trim_offsets\":true}",
                 "field \"add_prefix_space\" must be a boolean");
    expect_error("{\"type\":\"Metaspace\"}", "Metaspace: missing field \"replacement\"");
    expect_error("{\"type\":\"Metaspace\",\"replacement\":\"ab\"}", "a single character");
    expect_error("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"prepend_scheme\":\"sometimes\"}",
                 "prepend_scheme");
    expect_error("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"add_prefix_space\":false}",
                 "add_prefix_space does not match");
    expect_error("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"add_prefix_space\":false,"
                 "\"prepend_scheme\":\"always\"}",
                 "add_prefix_space does not match");
    expect_error("{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"Removed\"}",
                 "Split: missing field \"invert\"");
    expect_error("{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"Sideways\","
                 "\"invert\":false}",
                 "field \"behavior\"");
    expect_error("{\"type\":\"Split\",\"pattern\":\" \",\"behavior\":\"Removed\",\"invert\":false}",
                 "field \"pattern\"");
    expect_error("{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Removed\","
                 "\"invert\":false}",
                 "regex");
    expect_error("{\"type\":\"Digits\"}", "Digits: missing field \"individual_digits\"");
    expect_error("{\"type\":\"Punctuation\",\"behavior\":3}", "field \"behavior\"");
    expect_error("{\"type\":\"CharDelimiterSplit\",\"delimiter\":\"\"}", "a single character");
    expect_error("{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Whitespace\"},"
                 "{\"type\":\"Bogus\"}]}",
                 "unsupported type \"Bogus\"");
    expect_error("{\"type\":\"Sequence\"}", "Sequence: missing field \"pretokenizers\"");
}
END_TEST

/* The legacy Metaspace field agrees with prepend_scheme when it can. */
START_TEST(test_metaspace_legacy)
{
    check_one("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"add_prefix_space\":true}", "a b", 1,
              "_a\001_b", 2);
    check_one("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"add_prefix_space\":true,"
              "\"prepend_scheme\":\"never\"}",
              "a b", 1, "a\001_b", 2);
    check_one("{\"type\":\"Metaspace\",\"replacement\":\"_\",\"add_prefix_space\":false,"
              "\"prepend_scheme\":\"never\"}",
              "a b", 1, "a\001_b", 2);
}
END_TEST

/* The growth bound in pre-tokenizers: each ByteLevel of a Sequence
 * doubles the bytes above 0x7F, and eight of them (as many as nesting
 * allows) would make 256 times the text; past 64 times plus 4 KiB the
 * piece is refused with "tokenizer_budget" before it is made, on its
 * own and within the budget of a call. Three of them are fine. */
START_TEST(test_growth_bound)
{
    const char *bl = "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":false}";
    la_buf text = {0};
    for (int i = 0; i < 4000; i++)
        ck_assert_int_eq(la_buf_append(&text, "\xc3\xa9", 2), LA_OK);
    for (int k = 3; k <= 8; k += 5) {
        la_buf j = {0};
        la_buf_printf(&j, "{\"type\":\"Sequence\",\"pretokenizers\":[");
        for (int i = 0; i < k; i++)
            la_buf_printf(&j, "%s%s", i ? "," : "", bl);
        la_buf_printf(&j, "]}");
        tk_pretok *p = make(j.data);
        la_buf_free(&j);
        for (int armed = 0; armed < 2; armed++) {
            la_tok_work *w = tok_work();
            collector c = {{0}, 0, 0, {0}};
            la_err err = {{0}, {0}};
            if (armed)
                tk_budget_begin(w, text.len);
            int rc = p->split(p, text.data, text.len, 1, collect, &c, w, 0, &err);
            if (k == 3) {
                ck_assert_int_eq(rc, 0);
                ck_assert_uint_eq(c.joined.len, 8 * text.len);
            } else {
                ck_assert_int_eq(rc, LA_EDATA);
                ck_assert_str_eq(err.code, "tokenizer_budget");
                ck_assert_uint_eq(c.n, 0);
            }
            la_buf_free(&c.joined);
            la_tok_work_free(w);
        }
        p->free(p);
    }
    la_buf_free(&text);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tok_pretokenize");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_reference_cases);
    tcase_add_test(t, test_metaspace_first);
    tcase_add_test(t, test_lazy_stop);
    tcase_add_test(t, test_empty_matches);
    tcase_add_test(t, test_regex_unicode);
    tcase_add_test(t, test_regex_boundary);
    tcase_add_test(t, test_regex_class_ranges);
    tcase_add_test(t, test_sequence_nesting);
    tcase_add_test(t, test_errors);
    tcase_add_test(t, test_unicode_scripts);
    tcase_add_test(t, test_metaspace_legacy);
    tcase_add_test(t, test_growth_bound);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed != 0;
}
