/* test_tok_params.c - the top-level members lookahead does not use
 * (params.c): refused where HuggingFace tokenizers 0.23.2 (npm) refuses
 * the file, accepted where it accepts it (each case was loaded by it with
 * Tokenizer.fromFile), and truncation and padding left out of previews. */
#include "check_run.h"
#include "tokenizer/tk.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIX "tests/fixtures/tok/"

/* A small BPE tokenizer.json with the top-level members given before
 * "model" (each ending with a comma) and added tokens added. */
static char *file_text(const char *members, const char *added)
{
    la_buf j = {0};
    la_buf_printf(&j, "{\"version\":\"1.0\",%s\"added_tokens\":[%s],\"normalizer\":null,"
                      "\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"},\"decoder\":null,"
                      "\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"vocab\":{\"<unk>\":0,\"a\":1,\"b\":2,"
                      "\"c\":3,\"ab\":4,\"Z\":5},\"merges\":[\"a b\"]}}",
                  members, added);
    return j.data;
}

/* Loads text from a temporary file: the tokenizer, or NULL with err. */
static la_tokenizer *load_text(const char *text, la_err *err)
{
    char path[] = "/tmp/la_tok_params_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    la_tokenizer *t = la_tokenizer_load(path, err);
    unlink(path);
    return t;
}

#define TOK(extra) "{\"id\":5,\"content\":\"Z\"" extra "}"
#define FLAGS ",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":true,\"special\":false"
#define TRUNC "\"direction\":\"Left\",\"max_length\":1,\"strategy\":\"LongestFirst\",\"stride\":0"
#define PAD "\"strategy\":{\"Fixed\":4},\"direction\":\"Right\",\"pad_to_multiple_of\":null,\"pad_id\":3," \
            "\"pad_type_id\":0,\"pad_token\":\"c\""
#define SEP "\"sep\":[\"[SEP]\",1],\"cls\":[\"[CLS]\",2]"
#define BL "\"add_prefix_space\":true,\"trim_offsets\":true"
#define TPL "\"single\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}]," \
            "\"pair\":[{\"Sequence\":[\"B\",1]}],\"special_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[1],\"tokens\":[\"[CLS]\"]}}"

/* Files HuggingFace refuses, with the start of our reason. */
static const struct {
    const char *members, *added, *reason;
} refused[] = {
    {"\"extra_key\":1,", "", "tokenizer: unknown member \"extra_key\""},
    {"\"extra_key\":null,", "", "tokenizer: unknown member \"extra_key\""},
    {"", TOK(""), "tokenizer: added_tokens: entry 0: missing \"single_word\""},
    {"", TOK(",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":true"),
     "tokenizer: added_tokens: entry 0: missing \"special\""},
    {"", TOK(FLAGS ",\"special\":true"), "tokenizer: added_tokens: entry 0: \"special\" given twice"},
    {"", "{\"id\":5.0,\"content\":\"Z\"" FLAGS "}", "tokenizer: added_tokens: entry 0: \"id\" must be"},
    {"\"truncation\":{},", "", "tokenizer: truncation: missing \"max_length\""},
    {"\"truncation\":{\"max_length\":\"x\"},", "", "tokenizer: truncation: \"max_length\" must be"},
    {"\"truncation\":{" TRUNC ",\"stride\":0},", "", "tokenizer: truncation: \"stride\" given twice"},
    {"\"truncation\":{\"direction\":null,\"max_length\":1,\"strategy\":\"LongestFirst\",\"stride\":0},", "",
     "tokenizer: truncation: \"direction\" must be"},
    {"\"truncation\":{\"max_length\":1.0,\"strategy\":\"LongestFirst\",\"stride\":0},", "",
     "tokenizer: truncation: \"max_length\" must be"},
    {"\"truncation\":{\"max_length\":1,\"strategy\":{\"OnlyFirst\":1},\"stride\":0},", "",
     "tokenizer: truncation: \"strategy\" must be"},
    {"\"truncation\":[1,\"LongestFirst\",0],", "", "tokenizer: truncation: an array of 3 values, not 4"},
    {"\"truncation\":5,", "", "tokenizer: truncation: not an object"},
    {"\"padding\":{\"foo\":1},", "", "tokenizer: padding: missing \"strategy\""},
    {"\"padding\":{\"strategy\":\"Fixed\",\"direction\":\"Right\",\"pad_id\":3,\"pad_type_id\":0,\"pad_token\":\"c\"},",
     "", "tokenizer: padding: \"strategy\" must be"},
    {"\"padding\":{\"strategy\":\"BatchLongest\",\"direction\":\"Right\",\"pad_id\":4294967296,\"pad_type_id\":0,"
     "\"pad_token\":\"c\"},", "", "tokenizer: padding: \"pad_id\" must be"},
    {"\"padding\":{\"strategy\":\"BatchLongest\",\"direction\":\"Right\",\"pad_id\":3,\"pad_type_id\":0},", "",
     "tokenizer: padding: missing \"pad_token\""},
    {"\"post_processor\":{\"type\":\"Foo\"},", "", "tokenizer: post_processor: not a post-processor"},
    {"\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":\"x\",\"pair\":[],\"special_tokens\":{}},", "",
     "tokenizer: post_processor: not a post-processor"},
    {"\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",1]},", "", "tokenizer: post_processor"},
    {"\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",1.0],\"cls\":[\"[CLS]\",2]},", "",
     "tokenizer: post_processor"},
    {"\"post_processor\":{\"type\":\"ByteLevel\",\"trim_offsets\":true},", "", "tokenizer: post_processor"},
    {"\"post_processor\":{\"type\":\"Sequence\",\"processors\":[{\"type\":\"ByteLevel\"}]},", "",
     "tokenizer: post_processor"},
    {"\"post_processor\":[],", "", "tokenizer: post_processor"},
};

/* Files HuggingFace accepts. */
static const struct {
    const char *members, *added;
} accepted[] = {
    {"\"truncation\":null,\"padding\":null,\"post_processor\":null,", TOK(FLAGS)},
    {"", TOK(FLAGS ",\"extra\":1")},
    {"\"truncation\":{" TRUNC "},\"padding\":{" PAD "},", ""},
    {"\"truncation\":{\"max_length\":1,\"strategy\":{\"OnlyFirst\":null},\"stride\":9,\"foo\":1},", ""},
    {"\"truncation\":[\"Left\",1,\"LongestFirst\",0],", ""},
    {"\"padding\":{\"strategy\":{\"BatchLongest\":null},\"direction\":\"Left\",\"pad_id\":3,\"pad_type_id\":0,"
     "\"pad_token\":\"c\"},", ""},
    {"\"padding\":[{\"Fixed\":4},\"Right\",null,3,0,\"c\"],", ""},
    {"\"post_processor\":{\"type\":\"Foo\"," SEP "},", ""},
    {"\"post_processor\":{\"type\":\"RobertaProcessing\"," SEP ",\"trim_offsets\":1},", ""},
    {"\"post_processor\":{\"type\":\"ByteLevel\"," BL "},", ""},
    {"\"post_processor\":{\"type\":{\"ByteLevel\":null}," BL ",\"use_regex\":true,\"x\":1},", ""},
    {"\"post_processor\":{\"type\":\"TemplateProcessing\"," TPL "},", ""},
    {"\"post_processor\":{\"type\":\"Sequence\",\"processors\":[{" SEP "},{\"type\":\"Sequence\","
     "\"processors\":[{\"type\":\"ByteLevel\"," BL "}]}]},", ""},
    {"\"\\u0074runcation\":null,", ""},
};

START_TEST(members_as_huggingface_reads_them)
{
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char *text = file_text(refused[i].members, refused[i].added);
        la_err err = {{0}, {0}};
        la_tokenizer *t = load_text(text, &err);
        ck_assert_msg(t == NULL, "refused %zu accepted: %s", i, text);
        ck_assert_str_eq(err.code, "bad_tokenizer");
        ck_assert_msg(strncmp(err.msg, refused[i].reason, strlen(refused[i].reason)) == 0,
                      "refused %zu: \"%s\", want \"%s...\"", i, err.msg, refused[i].reason);
        free(text);
    }
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        char *text = file_text(accepted[i].members, accepted[i].added);
        la_err err = {{0}, {0}};
        la_tokenizer *t = load_text(text, &err);
        ck_assert_msg(t != NULL, "accepted %zu refused (%s): %s", i, err.msg, text);
        la_tokenizer_free(t);
        free(text);
    }
}
END_TEST

/* Truncation and padding are not applied: previews are the answer's first
 * tokens as transformers' tokenizer(text) computes them, which turns the
 * file's truncation and padding off for the call. A file with truncation
 * to one token from the left and padding to a fixed length previews as
 * the same file without them. */
START_TEST(truncation_and_padding_not_applied)
{
    static const char *const fixtures[] = { FIX "full_llama.json", FIX "full_bytelevel.json", FIX "wp_basic.json" };
    static const char *const texts[] = { "Hello world, this is a test.", "a", "", "  two  spaces 123456 \xC3\xA9t\xC3\xA9" };
    la_tok_work *w = la_tok_work_new();
    for (size_t f = 0; f < sizeof fixtures / sizeof fixtures[0]; f++) {
        FILE *fp = fopen(fixtures[f], "rb");
        ck_assert_ptr_nonnull(fp);
        la_buf plain = {0}, with = {0};
        char chunk[4096];
        size_t got;
        while ((got = fread(chunk, 1, sizeof chunk, fp)) > 0)
            la_buf_append(&plain, chunk, got);
        fclose(fp);
        const char *brace = strchr(plain.data, '{');
        ck_assert_ptr_nonnull(brace);
        la_buf_append(&with, plain.data, (size_t)(brace - plain.data) + 1);
        la_buf_printf(&with, "\"truncation\":{" TRUNC "},\"padding\":{" PAD "},");
        la_buf_append(&with, brace + 1, plain.len - (size_t)(brace - plain.data) - 1);
        la_err err = {{0}, {0}};
        la_tokenizer *a = load_text(plain.data, &err), *b = load_text(with.data, &err);
        ck_assert_msg(a && b, "%s: %s", fixtures[f], err.msg);
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
            for (size_t m = 1; m <= 6; m++) {
                la_buf pa = {0}, pb = {0};
                la_preview_info ia, ib;
                ck_assert_int_eq(la_tokenizer_preview(a, w, texts[i], strlen(texts[i]), m, 1, &pa, &ia, &err), LA_OK);
                ck_assert_int_eq(la_tokenizer_preview(b, w, texts[i], strlen(texts[i]), m, 1, &pb, &ib, &err), LA_OK);
                ck_assert_msg(pa.len == pb.len && memcmp(pa.data ? pa.data : "", pb.data ? pb.data : "", pa.len) == 0 &&
                                  ia.units == ib.units,
                              "%s \"%s\" m=%zu: \"%s\" without, \"%s\" with", fixtures[f], texts[i], m,
                              pa.data ? pa.data : "", pb.data ? pb.data : "");
                la_buf_free(&pa);
                la_buf_free(&pb);
            }
        la_tokenizer_free(a);
        la_tokenizer_free(b);
        la_buf_free(&plain);
        la_buf_free(&with);
    }
    la_tok_work_free(w);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tok_params");
    TCase *tc = tcase_create("params");
    tcase_add_test(tc, members_as_huggingface_reads_them);
    tcase_add_test(tc, truncation_and_padding_not_applied);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = la_check_run(suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
