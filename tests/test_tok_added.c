/* test_tok_added.c - added tokens against HuggingFace tokenizers 0.23.2:
 * the expected ids and strings are HuggingFace's encode() output on
 * tests/fixtures/tok/added_flags.json (a Lowercase normalizer; tokens
 * with lstrip+rstrip, single_word, normalized, rstrip, a prefix of
 * another token, and one also in the vocabulary). */
#include "tokenizer/tk.h"

#include <check.h>

#include "check_run.h"
#include <stdlib.h>
#include <string.h>

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

/* Encodes text; compares ids and strings (n of each). */
static void check(const char *text, const uint32_t *ids, const char *const *strs, size_t n)
{
    la_err err;
    la_tokens out = {0};
    ck_assert_int_eq(la_tokenizer_encode(tok, work, text, strlen(text), 0, &out, &err), LA_OK);
    ck_assert_msg(out.n == n, "\"%s\": %zu tokens, want %zu", text, out.n, n);
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_eq(out.ids[i], ids[i]);
        ck_assert_str_eq(out.strs.data + out.str_off[i], strs[i]);
    }
    la_tokens_free(&out);
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
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = la_check_run(suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
