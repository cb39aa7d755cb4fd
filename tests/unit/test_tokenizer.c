/* test_tokenizer.c - the whole pipeline: encoding, previews and their
 * laziness. Expected values come from HuggingFace tokenizers 0.23.2
 * (encode) and the oracle (../shared/oracle/lookahead_oracle.js, --emit
 * prefix) run on the same fixtures (tests/fixtures/tok/full_*.json). */
#include "tok_suite.h"
#include "tokenizer/tk.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define FIX "tests/fixtures/tok/"
#define SP "\xE2\x96\x81"


/* Encodes text and compares the ids. */
static void check_ids(la_tokenizer *t, la_tok_work *w, const char *text, const uint32_t *ids, size_t n)
{
    la_err err;
    la_tokens out = {0};
    ck_assert_int_eq(la_tokenizer_encode(t, w, text, strlen(text), 0, &out, &err), LA_OK);
    ck_assert_msg(out.n == n, "\"%s\": %zu tokens, want %zu", text, out.n, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq(out.ids[i], ids[i]);
    la_tokens_free(&out);
}

/* Previews text and compares with the oracle's prefix and m_used. */
static void check_preview(la_tokenizer *t, la_tok_work *w, const char *text, size_t m, int complete,
                          const char *want, size_t units, int whole)
{
    la_err err;
    la_buf out = {0};
    la_preview_info info;
    ck_assert_int_eq(la_tokenizer_preview(t, w, text, strlen(text), m, complete, &out, &info, &err), LA_OK);
    ck_assert_msg(strcmp(out.data ? out.data : "", want) == 0, "\"%s\" m=%zu: got \"%s\", want \"%s\"", text,
                  m, out.data ? out.data : "", want);
    ck_assert_uint_eq(info.units, units);
    ck_assert_int_eq(info.whole, whole);
    ck_assert_int_eq(info.extended, units > m);
    la_buf_free(&out);
}

START_TEST(encode_byte_level)
{
    la_tokenizer *t = tok_load(FIX "full_bytelevel.json");
    la_tok_work *w = la_tok_work_new();
    static const uint32_t a[] = {116, 257, 267, 264, 258, 269};
    check_ids(t, w, "the cat and the hat", a, 6);
    static const uint32_t b[] = {273, 32, 271, 276, 277, 258};
    check_ids(t, w, "\xC3\xA4 123 on<|end|> the", b, 6);
    static const uint32_t c[] = {258, 32, 267, 10};
    check_ids(t, w, " the  cat\n", c, 4);
    check_ids(t, w, "", NULL, 0);
    ck_assert_int_eq(t->byte_level, 1);
    la_tok_work_free(w);
    la_tokenizer_free(t);
}
END_TEST

START_TEST(encode_whole_sequence)
{
    la_tokenizer *t = tok_load(FIX "full_llama.json");
    la_tok_work *w = la_tok_work_new();
    static const uint32_t a[] = {305, 295, 298, 292, 300, 286};
    check_ids(t, w, "The cat and the hat.", a, 6);
    static const uint32_t b[] = {296, 1, 292, 2, 259, 295};   /* each piece gets its own Prepend */
    check_ids(t, w, "a<s>the</s> cat", b, 6);
    la_err err;
    la_buf out = {0};
    ck_assert_int_eq(la_tokenizer_decode(t, w, b, 6, &out, &err), LA_OK);
    ck_assert_str_eq(out.data, "a<s> the</s>  cat");
    la_buf_free(&out);
    la_tok_work_free(w);
    la_tokenizer_free(t);
}
END_TEST

START_TEST(previews)
{
    la_tokenizer *t = tok_load(FIX "full_llama.json");
    la_tok_work *w = la_tok_work_new();
    const char *snow = "the \xE2\x98\x83 hat";
    check_preview(t, w, snow, 3, 1, "the \xE2\x98\x83", 5, 0);
    check_preview(t, w, snow, 3, 0, "the \xEF\xBF\xBD", 3, 0);
    check_preview(t, w, snow, 4, 0, "the \xEF\xBF\xBD\xEF\xBF\xBD", 4, 0);
    check_preview(t, w, "a<s>the</s> cat", 4, 1, "a<s> the</s>", 4, 0);
    check_preview(t, w, "The cat and the hat.", 3, 1, "The cat and", 3, 0);
    check_preview(t, w, "The cat and the hat.", 6, 1, "The cat and the hat.", 6, 1);
    check_preview(t, w, "The cat and the hat.", 17, 0, "The cat and the hat.", 6, 1);
    check_preview(t, w, "", 3, 1, "", 0, 1);
    la_tokenizer_free(t);
    t = tok_load(FIX "full_bytelevel.json");
    check_preview(t, w, "the \xE2\x98\x83 cat", 4, 1, "the \xE2\x98\x83", 6, 0);
    check_preview(t, w, "the \xE2\x98\x83 cat", 4, 0, "the \xEF\xBF\xBD", 4, 0);
    check_preview(t, w, "the \xE2\x98\x83 cat", 3, 1, "the ", 3, 0);
    check_preview(t, w, "\xC3\xA4 123 on<|end|> the", 4, 1, "\xC3\xA4 123 on", 4, 0);
    la_tok_work_free(w);
    la_tokenizer_free(t);
}
END_TEST

/* ~60 KB of text the fixtures know. */
static char *long_text(size_t *len)
{
    static const char unit[] = "The cat and the hat. the hat and the cat in the hat. ";
    size_t k = 60000 / (sizeof unit - 1) + 1, n = k * (sizeof unit - 1);
    char *s = malloc(n + 8);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < k; i++)
        memcpy(s + i * (sizeof unit - 1), unit, sizeof unit - 1);
    s[n] = 0;
    *len = n;
    return s;
}

/* The preview of a long answer equals decode(first m tokens of the full
 * encoding), for both kinds of pipeline. */
START_TEST(lazy_preview_is_exact)
{
    static const char *const fixtures[] = {(FIX "full_llama.json"), (FIX "full_bytelevel.json")};
    size_t len;
    char *text = long_text(&len);
    for (size_t f = 0; f < 2; f++) {
        la_tokenizer *t = tok_load(fixtures[f]);
        la_tok_work *w = la_tok_work_new();
        la_err err;
        la_tokens all = {0};
        ck_assert_int_eq(la_tokenizer_encode(t, w, text, len, 0, &all, &err), LA_OK);
        ck_assert_uint_gt(all.n, 10000);
        la_tokens first = {0};
        ck_assert_int_eq(la_tokenizer_encode(t, w, text, len, 6, &first, &err), LA_OK);
        ck_assert_uint_ge(first.n, 6);
        ck_assert_uint_lt(first.n, 100);          /* it stopped early */
        for (size_t i = 0; i < 6; i++)
            ck_assert_uint_eq(first.ids[i], all.ids[i]);
        /* preview from the full encoding, through the token strings */
        la_tokens six = {0};
        for (size_t i = 0; i < 6; i++)
            tk_tokens_push(&six, all.ids[i], all.strs.data + all.str_off[i], tk_tokens_len(&all, i));
        la_buf want = {0}, got = {0};
        if (t->decoder)
            ck_assert_int_eq(t->decoder->chain(t->decoder, &six, w, &err), LA_OK);
        for (size_t i = 0; i < six.n; i++)
            la_buf_append(&want, six.strs.data + six.str_off[i], tk_tokens_len(&six, i));
        la_preview_info info;
        ck_assert_int_eq(la_tokenizer_preview(t, w, text, len, 6, 1, &got, &info, &err), LA_OK);
        ck_assert_str_eq(got.data, want.data);
        ck_assert_uint_eq(info.units, 6);
        ck_assert_int_eq(info.whole, 0);
        la_buf_free(&want);
        la_buf_free(&got);
        la_tokens_free(&six);
        la_tokens_free(&first);
        la_tokens_free(&all);
        la_tok_work_free(w);
        la_tokenizer_free(t);
    }
    free(text);
}
END_TEST

/* Proof that the tail is never tokenized: in full_lazy.json an unknown
 * character is an error (its unk_token is missing from the vocabulary),
 * and one sits at the end of 60 KB of text. The full encoding fails;
 * the preview never gets there. */
START_TEST(lazy_preview_never_reads_the_tail)
{
    size_t len;
    char *text = long_text(&len);
    memcpy(text + len, "\xE2\x98\x83", 4);
    len += 3;
    la_tokenizer *t = tok_load(FIX "full_lazy.json");
    la_tok_work *w = la_tok_work_new();
    la_err err;
    la_tokens all = {0};
    ck_assert_int_ne(la_tokenizer_encode(t, w, text, len, 0, &all, &err), LA_OK);
    la_buf got = {0};
    la_preview_info info;
    ck_assert_int_eq(la_tokenizer_preview(t, w, text, len, 6, 1, &got, &info, &err), LA_OK);
    /* the same vocabulary and merges as full_llama.json, whose full
     * encoding gives the same first tokens */
    la_tokenizer *ref = tok_load(FIX "full_llama.json");
    la_buf want = {0};
    ck_assert_int_eq(la_tokenizer_preview(ref, w, text, len - 3, 6, 1, &want, &info, &err), LA_OK);
    ck_assert_str_eq(got.data, want.data);
    la_tokenizer_free(ref);
    la_buf_free(&want);
    la_buf_free(&got);
    la_tokens_free(&all);
    la_tok_work_free(w);
    la_tokenizer_free(t);
    free(text);
}
END_TEST

START_TEST(folder_path)
{
    la_err err;
    la_tokenizer *t = la_tokenizer_load("tests/fixtures/tok", &err);   /* no tokenizer.json there */
    ck_assert_ptr_null(t);
    ck_assert_str_eq(err.code, "cannot_open");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("pipeline");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, encode_byte_level);
    tcase_add_test(tc, encode_whole_sequence);
    tcase_add_test(tc, previews);
    tcase_add_test(tc, lazy_preview_is_exact);
    tcase_add_test(tc, lazy_preview_never_reads_the_tail);
    tcase_add_test(tc, folder_path);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
