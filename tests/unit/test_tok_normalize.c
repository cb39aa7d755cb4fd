/*
 * test_tok_normalize.c - normalizers against HuggingFace tokenizers.
 *
 * The expected outputs in fixtures/tok/norm_cases.h were computed by the
 * reference implementation (tokenizers 0.23.2) for every normalizer and
 * option on hostile text (CJK, Thai, RTL, emoji sequences, combining
 * marks, full-width forms, ligatures, odd white space, controls, NUL):
 * `make tables` writes them from tests/gen/norm_cases.json
 * (tests/gen/cases.js).
 */
#include <check.h>

#include "check_run.h"
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tk.h"
#include "tok_suite.h"
#include <utf8proc.h>

typedef struct {
    int cfg;
    const char *in;
    size_t in_len;
    const char *out;
    size_t out_len;
} norm_case;

#include "../fixtures/tok/norm_cases.h"

/* Builds a normalizer from JSON text (must succeed). */
static tk_normalizer *make(const char *json)
{
    cJSON *j = cJSON_Parse(json);
    ck_assert_ptr_nonnull(j);
    la_err err = {{0}, {0}};
    tk_normalizer *n = tk_normalizer_from_json(j, &err);
    cJSON_Delete(j);
    ck_assert_msg(n != NULL, "%s: %s", json, err.msg);
    return n;
}

/* Expects building to fail with status and a message containing want. */
static void expect_error(const char *json, int status, const char *want)
{
    cJSON *j = cJSON_Parse(json);
    ck_assert_ptr_nonnull(j);
    la_err err = {{0}, {0}};
    tk_normalizer *n = tk_normalizer_from_json(j, &err);
    cJSON_Delete(j);
    ck_assert_msg(n == NULL, "%s: accepted", json);
    (void)status;
    ck_assert_msg(strstr(err.msg, want) != NULL, "%s: message \"%s\" lacks \"%s\"", json,
                  err.msg, want);
    ck_assert_str_eq(err.code, "tokenizer");
}

/* Status of building json (0 when it builds). */
static int build_status(const char *json, la_err *err)
{
    cJSON *j = cJSON_Parse(json);
    ck_assert_ptr_nonnull(j);
    tk_normalizer *n = tk_normalizer_from_json(j, err);
    cJSON_Delete(j);
    if (!n)
        return -1;
    n->free(n);
    return 0;
}

/* Every case of the reference table, through a separate output buffer
 * and through w->norm[0] as output (what a caller may pass). */
START_TEST(test_reference_cases)
{
    size_t ncfg = sizeof norm_configs / sizeof norm_configs[0];
    size_t ncase = sizeof norm_cases / sizeof norm_cases[0];
    la_tok_work *w = tok_work();
    la_buf out = {0};
    la_err err = {{0}, {0}};
    for (size_t c = 0; c < ncfg; c++) {
        tk_normalizer *n = make(norm_configs[c]);
        for (size_t i = 0; i < ncase; i++) {
            const norm_case *k = &norm_cases[i];
            if ((size_t)k->cfg != c)
                continue;
            for (int via_work = 0; via_work < 2; via_work++) {
                la_buf *o = via_work ? &w->norm[0] : &out;
                int rc = n->apply(n, k->in, k->in_len, o, w, 0, &err);
                ck_assert_msg(rc == 0, "%s: %s", norm_configs[c], err.msg);
                ck_assert_msg(o->len == k->out_len && (o->len == 0 || memcmp(o->data, k->out, o->len) == 0),
                              "%s on \"%.*s\": got \"%.*s\", want \"%.*s\"", norm_configs[c],
                              (int)k->in_len, k->in, (int)o->len, o->data, (int)k->out_len,
                              k->out);
            }
        }
        n->free(n);
    }
    la_buf_free(&out);
    la_tok_work_free(w);
}
END_TEST

/* Applies json to in and compares with want (both NUL-free). */
static void check_one(const char *json, const char *in, const char *want)
{
    la_tok_work *w = tok_work();
    tk_normalizer *n = make(json);
    la_buf out = {0};
    la_err err = {{0}, {0}};
    ck_assert_int_eq(n->apply(n, in, strlen(in), &out, w, 0, &err), 0);
    ck_assert_str_eq(out.data ? out.data : "", want);
    n->free(n);
    la_buf_free(&out);
    la_tok_work_free(w);
}

/* Spot checks, values from the reference: Rust's full lowercase mapping
 * without final sigma, Unicode 16/17 letters, Prepend on empty text,
 * Replace with empty matches, NFC of characters the reference's tables
 * predate, BERT's strip_accents following lowercase when null. */
START_TEST(test_spot_checks)
{
    check_one("{\"type\":\"Lowercase\"}", "\xC4\xB0", "i\xCC\x87");
    check_one("{\"type\":\"Lowercase\"}", "\xCE\xA3\xCE\x91\xCE\xA3", "\xCF\x83\xCE\xB1\xCF\x83");
    check_one("{\"type\":\"Lowercase\"}", "\xF0\x90\xB5\x90\xE1\xB2\x89", "\xF0\x90\xB5\xB0\xE1\xB2\x8A");
    check_one("{\"type\":\"Prepend\",\"prepend\":\"x\"}", "", "");
    check_one("{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"a*|b\"},\"content\":\"X\"}", "ab",
              "XbX");
    check_one("{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"a*|b\"},\"content\":\"X\"}", "",
              "");
    check_one("{\"type\":\"Replace\",\"pattern\":{\"String\":\"(l)\"},\"content\":\"$1\"}",
              "(l)l", "$1l");
    check_one("{\"type\":\"NFC\"}", "\xF0\x91\xA4\xB5\xF0\x91\xA4\xB0", "\xF0\x91\xA4\xB5\xF0\x91\xA4\xB0");
    check_one("{\"type\":\"NFKC\"}", "\xEF\xAC\x81", "fi");
    /* U+11A7 after an LV syllable stays (HuggingFace: "\uB0B4\u11A7");
     * a true trailing jamo, U+11A8, composes */
    static const char *const nf[] = {"{\"type\":\"NFC\"}", "{\"type\":\"NFKC\"}"};
    for (int i = 0; i < 2; i++) {
        check_one(nf[i], "\xE1\x84\x82\xE1\x85\xA2\xE1\x86\xA7", "\xEB\x82\xB4\xE1\x86\xA7");
        check_one(nf[i], "\xEB\x82\xB4\xE1\x86\xA7", "\xEB\x82\xB4\xE1\x86\xA7");
        check_one(nf[i], "\xEA\xB0\x80\xE1\x86\xA7\xCC\x81 x", "\xEA\xB0\x80\xE1\x86\xA7\xCC\x81 x");
        check_one(nf[i], "\xE1\x84\x82\xE1\x85\xA2\xE1\x86\xA8", "\xEB\x82\xB5");
    }
    check_one("{\"type\":\"NFD\"}", "\xEB\x82\xB4\xE1\x86\xA7", "\xE1\x84\x82\xE1\x85\xA2\xE1\x86\xA7");
    check_one("{\"type\":\"BertNormalizer\",\"clean_text\":false,\"handle_chinese_chars\":false,"
              "\"lowercase\":true}",
              "\xC3\x89t\xC3\xA9", "ete");
    check_one("{\"type\":\"Strip\",\"strip_left\":true,\"strip_right\":true}",
              "\xE3\x80\x80 a \xC2\x85", "a");
}
END_TEST

/* The Unicode normal forms copy ASCII characters followed by ASCII
 * through (ascii_inert_end): random texts of ASCII around marks that
 * compose with it ("e" + U+0301, "<" + U+0338), compatibility characters,
 * Hangul jamo and precomposed letters come out as utf8proc makes the
 * whole text, in all four forms. */
START_TEST(test_nf_ascii_stretches)
{
    static const char *const atoms[] = {
        "a", "e", "<", "=", " ", "ab cd ", "x1", "\n", "\xCC\x81", "\xCC\x88", "\xCC\xA7", "\xCC\xB8",
        "\xEF\xAC\x81", "\xE2\x91\xA0", "\xE2\x84\xAB", "\xEF\xBC\xA1", "\xE1\x84\x80", "\xE1\x85\xA1",
        "\xE1\x86\xA8", "\xC3\xA9", "\xE0\xAD\x87", "\xE0\xAC\xBE", "0123456789abcdef",
    };
    static const struct {
        const char *json;
        utf8proc_option_t opts;
    } forms[] = {
        {"{\"type\":\"NFC\"}", UTF8PROC_STABLE | UTF8PROC_COMPOSE},
        {"{\"type\":\"NFD\"}", UTF8PROC_STABLE | UTF8PROC_DECOMPOSE},
        {"{\"type\":\"NFKC\"}", UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT},
        {"{\"type\":\"NFKD\"}", UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT},
    };
    uint64_t r = 0x243F6A8885A308D3u;
    la_tok_work *w = tok_work();
    la_buf out = {0};
    char text[512];
    for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
        tk_normalizer *n = make(forms[f].json);
        for (int round = 0; round < 3000; round++) {
            size_t len = 0, want_len = 8 + round % 64;
            while (len < want_len) {
                r ^= r << 13, r ^= r >> 7, r ^= r << 17;
                const char *a = atoms[r % (sizeof atoms / sizeof atoms[0])];
                memcpy(text + len, a, strlen(a));
                len += strlen(a);
            }
            text[len] = 0;
            la_err err = {{0}, {0}};
            la_buf_clear(&out);
            ck_assert_int_eq(n->apply(n, text, len, &out, w, 0, &err), 0);
            utf8proc_uint8_t *want = NULL;
            utf8proc_ssize_t wl = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, &want,
                                               forms[f].opts);
            ck_assert_int_ge(wl, 0);
            ck_assert_msg(out.len == (size_t)wl && memcmp(out.data, want, out.len) == 0, "%s of \"%s\"",
                          forms[f].json, text);
            free(want);
        }
        n->free(n);
    }
    la_buf_free(&out);
    la_tok_work_free(w);
}
END_TEST

/* NUL is a character like any other (BertNormalizer's clean_text drops
 * it), and lengths, not terminators, delimit the text. */
/* A one-byte String pattern is replaced 16 bytes at a time: the same
 * text as the Regex path (Oniguruma) for matches at every offset of the
 * blocks, runs of them, and contents of 0 to 8 bytes. */
START_TEST(test_replace_byte_blocks)
{
    static const char *const contents[] = {"", "_", "\u2581", "12345678"};
    la_tok_work *w = tok_work();
    char in[200];
    for (size_t c = 0; c < sizeof contents / sizeof contents[0]; c++) {
        char a[200], b[200];
        snprintf(a, sizeof a, "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"%s\"}",
                 contents[c]);
        snprintf(b, sizeof b, "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" \"},\"content\":\"%s\"}",
                 contents[c]);
        tk_normalizer *lit = make(a), *re = make(b);
        uint64_t x = 88172645463325252ull;
        for (int round = 0; round < 400; round++) {
            size_t len = (size_t)(round % 67);
            for (size_t k = 0; k < len; k++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                in[k] = (x % 5 == 0 || (round % 7 == 0 && k > 20)) ? ' ' : (char)('a' + x % 26);
            }
            la_buf o1 = {0}, o2 = {0};
            la_err err;
            ck_assert_int_eq(lit->apply(lit, in, len, &o1, w, 0, &err), LA_OK);
            ck_assert_int_eq(re->apply(re, in, len, &o2, w, 0, &err), LA_OK);
            ck_assert_msg(o1.len == o2.len && memcmp(o1.data ? o1.data : "", o2.data ? o2.data : "", o1.len) == 0,
                          "content %zu, \"%.*s\"", c, (int)len, in);
            la_buf_free(&o1);
            la_buf_free(&o2);
        }
        lit->free(lit);
        re->free(re);
    }
    la_tok_work_free(w);
}
END_TEST

START_TEST(test_nul)
{
    la_tok_work *w = tok_work();
    la_buf out = {0};
    la_err err = {{0}, {0}};
    tk_normalizer *n = make("{\"type\":\"Lowercase\"}");
    ck_assert_int_eq(n->apply(n, "A\0B", 3, &out, w, 0, &err), 0);
    ck_assert_uint_eq(out.len, 3);
    ck_assert_int_eq(memcmp(out.data, "a\0b", 3), 0);
    n->free(n);
    n = make("{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":false,"
             "\"strip_accents\":false,\"lowercase\":false}");
    ck_assert_int_eq(n->apply(n, "A\0B", 3, &out, w, 0, &err), 0);
    ck_assert_str_eq(out.data, "AB");
    n->free(n);
    la_buf_free(&out);
    la_tok_work_free(w);
}
END_TEST

/* A Sequence works whichever buffer the caller gives as output, and
 * leaves the input alone. */
START_TEST(test_sequence_buffers)
{
    la_tok_work *w = tok_work();
    la_err err = {{0}, {0}};
    tk_normalizer *n = make("{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Lowercase\"},"
                            "{\"type\":\"Prepend\",\"prepend\":\"<\"},{\"type\":\"Replace\","
                            "\"pattern\":{\"String\":\" \"},\"content\":\"_\"}]}");
    const char *in = "A B";
    for (int k = 0; k < 2; k++) {
        la_buf *o = &w->norm[k];
        ck_assert_int_eq(n->apply(n, in, 3, o, w, 0, &err), 0);
        ck_assert_str_eq(o->data, "<a_b");
    }
    /* input held in one work buffer, output to the other */
    la_buf_clear(&w->norm[1]);
    ck_assert_int_eq(la_buf_append(&w->norm[1], "C D", 3), 0);
    ck_assert_int_eq(n->apply(n, w->norm[1].data, 3, &w->norm[0], w, 0, &err), 0);
    ck_assert_str_eq(w->norm[0].data, "<c_d");
    ck_assert_str_eq(w->norm[1].data, "C D");
    n->free(n);
    la_tok_work_free(w);
}
END_TEST

/* Output buffers are reused: a long text then a short one. */
START_TEST(test_reuse)
{
    la_tok_work *w = tok_work();
    la_err err = {{0}, {0}};
    la_buf out = {0};
    tk_normalizer *n = make("{\"type\":\"NFKC\"}");
    size_t big = 99999;
    char *s = malloc(big);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i + 3 <= big; i += 3)
        memcpy(s + i, "\xEF\xAC\x81", 3);     /* U+FB01, "fi" */
    ck_assert_int_eq(n->apply(n, s, big, &out, w, 0, &err), 0);
    ck_assert_uint_eq(out.len, 2 * (big / 3));
    ck_assert_int_eq(n->apply(n, "\xEF\xAC\x81", 3, &out, w, 0, &err), 0);
    ck_assert_str_eq(out.data, "fi");
    free(s);
    n->free(n);
    la_buf_free(&out);
    la_tok_work_free(w);
}
END_TEST

START_TEST(test_errors)
{
    la_err err = {{0}, {0}};
    ck_assert_int_ne(build_status("{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"\"}", &err),
                     0);
    expect_error("{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"\"}", LA_EDATA,
                 "cannot parse precompiled_charsmap");
    expect_error("{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"AAAA\"}", LA_EDATA,
                 "cannot parse precompiled_charsmap");      /* 3 bytes */
    expect_error("{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"CAAAAA==\"}", LA_EDATA,
                 "shorter than its trie");                  /* a trie of 8 bytes, none there */
    expect_error("{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"AAAAAA=\"}", LA_EDATA,
                 "not base64");
    expect_error("{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"AAAAAB==\"}", LA_EDATA,
                 "not base64");                             /* stray bits */
    expect_error("{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"AAAAAP8=\"}", LA_EDATA,
                 "not UTF-8");
    expect_error("{\"type\":\"Frobnicate\"}", LA_EUNSUP, "unsupported type \"Frobnicate\"");
    expect_error("{\"type\":3}", LA_EDATA, "\"type\"");
    expect_error("{}", LA_EDATA, "missing field \"type\"");
    expect_error("[]", LA_EDATA, "normalizer");
    expect_error("{\"type\":\"Strip\",\"strip_left\":1,\"strip_right\":true}", LA_EDATA,
                 "Strip: field \"strip_left\" must be a boolean");
    expect_error("{\"type\":\"Strip\",\"strip_left\":true}", LA_EDATA,
                 "Strip: missing field \"strip_right\"");
    expect_error("{\"type\":\"Prepend\"}", LA_EDATA, "Prepend: missing field \"prepend\"");
    expect_error("{\"type\":\"Prepend\",\"prepend\":1}", LA_EDATA,
                 "Prepend: field \"prepend\" must be a string");
    expect_error("{\"type\":\"Replace\",\"pattern\":\"a\",\"content\":\"b\"}", LA_EDATA,
                 "Replace: field \"pattern\"");
    expect_error("{\"type\":\"Replace\",\"pattern\":{\"String\":\"a\",\"Regex\":\"b\"},"
                 "\"content\":\"c\"}",
                 LA_EDATA, "Replace: field \"pattern\"");
    expect_error("{\"type\":\"Replace\",\"pattern\":{\"String\":\"a\"}}", LA_EDATA,
                 "Replace: missing field \"content\"");
    expect_error("{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"(\"},\"content\":\"\"}", LA_EDATA,
                 "regex");
    expect_error("{\"type\":\"BertNormalizer\",\"clean_text\":true}", LA_EDATA,
                 "BertNormalizer: missing field");
    expect_error("{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":true,"
                 "\"lowercase\":true,\"strip_accents\":\"yes\"}",
                 LA_EDATA, "field \"strip_accents\" must be a boolean");
    expect_error("{\"type\":\"Sequence\"}", LA_EDATA, "Sequence: missing field \"normalizers\"");
    expect_error("{\"type\":\"Sequence\",\"normalizers\":{}}", LA_EDATA, "must be an array");
    expect_error("{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"},{\"type\":\"Nope\"}]}",
                 LA_EUNSUP, "unsupported type \"Nope\"");

    /* statuses */
    cJSON *j = cJSON_Parse("{\"type\":\"Precompiled\"}");
    ck_assert_ptr_null(tk_normalizer_from_json(j, &err));
    cJSON_Delete(j);
    j = cJSON_Parse("{\"type\":\"Strip\",\"strip_left\":\"x\",\"strip_right\":true}");
    ck_assert_ptr_null(tk_normalizer_from_json(j, &err));
    cJSON_Delete(j);
    /* extra fields are ignored, as by the reference */
    ck_assert_int_eq(build_status("{\"type\":\"NFC\",\"x\":2}", &err), 0);
}
END_TEST

/* The statuses themselves. */
START_TEST(test_error_status)
{
    const struct {
        const char *json;
        int status;
    } cases[] = {
        {"{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"\"}", LA_EDATA},
        {"{\"type\":\"Precompiled2\"}", LA_EUNSUP},
        {"{\"type\":\"UnknownThing\"}", LA_EUNSUP},
        {"{\"type\":\"Lowercase\"}", 0},
        {"{\"type\":\"Strip\",\"strip_left\":null,\"strip_right\":true}", LA_EDATA},
        {"{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"[\"},\"content\":\"\"}", LA_EDATA},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *j = cJSON_Parse(cases[i].json);
        la_err err = {{0}, {0}};
        tk_normalizer *n = tk_normalizer_from_json(j, &err);
        cJSON_Delete(j);
        if (cases[i].status == 0) {
            ck_assert_ptr_nonnull(n);
            n->free(n);
            continue;
        }
        ck_assert_ptr_null(n);
        /* the status is carried by the message's component naming and
         * by the code family; check the unsupported/data split */
        int unsup = strstr(err.msg, "unsupported") != NULL;
        ck_assert_int_eq(unsup, cases[i].status == LA_EUNSUP);
    }
}
END_TEST

/* A Sequence of k copies of the normalizer item (JSON text). */
static tk_normalizer *chain_of(const char *item, int k)
{
    la_buf j = {0};
    ck_assert_int_eq(la_buf_printf(&j, "{\"type\":\"Sequence\",\"normalizers\":["), 0);
    for (int i = 0; i < k; i++)
        ck_assert_int_eq(la_buf_printf(&j, "%s%s", i ? "," : "", item), 0);
    ck_assert_int_eq(la_buf_printf(&j, "]}"), 0);
    tk_normalizer *n = make(j.data);
    la_buf_free(&j);
    return n;
}

/* Normalizes in[0..len) with n (as the pipeline does when armed is 1:
 * within the budget of a call on that text); returns the status, the
 * error code in code. */
static int norm_status(tk_normalizer *n, const char *in, size_t len, int armed, la_buf *out,
                       char code[32])
{
    la_tok_work *w = tok_work();
    la_err err = {{0}, {0}};
    if (armed)
        tk_budget_begin(w, len);
    int rc = n->apply(n, in, len, out, w, 0, &err);
    snprintf(code, 32, "%s", err.code);
    la_tok_work_free(w);
    return rc;
}

/* The growth bound: whatever a chain of normalizers does, no text passes
 * 64 times its input plus 4 KiB; the normalizer that would pass it fails
 * with "tokenizer_budget" before reserving, so that memory stays near
 * the bound (a chain of twenty Replace "a" -> "aa" would make a million
 * bytes of one). Each growing normalizer is checked, at the bound
 * exactly, and so are legitimate expansions far past a few times. */
START_TEST(test_growth_bound)
{
    char code[32];
    la_buf out = {0};
    /* each chain ends far past the bound (and within memory without it) */
    const struct {
        const char *item;
        int k;
    } growing[] = {
        {"{\"type\":\"Replace\",\"pattern\":{\"String\":\"a\"},\"content\":\"aa\"}", 20},
        {"{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"a\"},\"content\":\"aa\"}", 20},
        {"{\"type\":\"Replace\",\"pattern\":{\"String\":\"a\"},\"content\":\"aaaaaaaaaaaa\"}", 5},
        {"{\"type\":\"Replace\",\"pattern\":{\"String\":\"\"},\"content\":\"a\"}", 20},
        {"{\"type\":\"Prepend\",\"prepend\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", 200},
        {"{\"type\":\"ByteLevel\"}", 20},
        {"{\"type\":\"BertNormalizer\",\"clean_text\":false,\"handle_chinese_chars\":true,"
         "\"strip_accents\":false,\"lowercase\":false}", 3000},
    };
    for (size_t g = 0; g < sizeof growing / sizeof growing[0]; g++) {
        tk_normalizer *n = chain_of(growing[g].item, growing[g].k);
        for (int armed = 0; armed < 2; armed++) {
            la_buf_clear(&out);
            int rc = norm_status(n, "a\xe4\xb8\x80", 4, armed, &out, code);
            ck_assert_msg(rc == LA_EDATA && strcmp(code, "tokenizer_budget") == 0, "%s: %d %s", growing[g].item,
                          rc, code);
            ck_assert_uint_le(out.cap, 4 * tk_grow_max(4));
        }
        n->free(n);
    }
    /* at the bound exactly: 100 bytes may become 64 * 100 + 4096 */
    char in[101], item[200];
    memset(in, 'a', 100);
    in[100] = 0;
    for (int extra = 0; extra < 2; extra++) {
        snprintf(item, sizeof item, "{\"type\":\"Replace\",\"pattern\":{\"String\":\"a\"},\"content\":\"%0*d\"}",
                 104 + extra, 0);
        tk_normalizer *n = make(item);
        la_buf_clear(&out);
        int rc = norm_status(n, in, 100, 1, &out, code);
        ck_assert_int_eq(rc, extra ? LA_EDATA : LA_OK);
        if (!extra)
            ck_assert_uint_eq(out.len, 10400);
        n->free(n);
    }
    /* NFKC makes 18 characters of U+FDFA; with SentencePiece's Replace
     * and Prepend after it, a text of them grows 13 times */
    la_buf fdfa = {0};
    for (int i = 0; i < 2000; i++)
        ck_assert_int_eq(la_buf_append(&fdfa, "\xef\xb7\xba", 3), 0);
    tk_normalizer *n = make("{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFKC\"},{\"type\":\"Replace\","
                            "\"pattern\":{\"String\":\" \"},\"content\":\"\xe2\x96\x81\"},"
                            "{\"type\":\"Prepend\",\"prepend\":\"\xe2\x96\x81\"}]}");
    for (int armed = 0; armed < 2; armed++) {
        la_buf_clear(&out);
        ck_assert_int_eq(norm_status(n, fdfa.data, fdfa.len, armed, &out, code), LA_OK);
        ck_assert_uint_gt(out.len, 12 * fdfa.len);
    }
    n->free(n);
    la_buf_free(&fdfa);
    la_buf_free(&out);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tok_normalize");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_reference_cases);
    tcase_add_test(t, test_spot_checks);
    tcase_add_test(t, test_nf_ascii_stretches);
    tcase_add_test(t, test_replace_byte_blocks);
    tcase_add_test(t, test_nul);
    tcase_add_test(t, test_sequence_buffers);
    tcase_add_test(t, test_reuse);
    tcase_add_test(t, test_errors);
    tcase_add_test(t, test_error_status);
    tcase_add_test(t, test_growth_bound);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    int failed = la_check_run(suite());
    return failed != 0;
}
