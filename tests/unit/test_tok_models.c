/* test_tok_models.c - the WordLevel, WordPiece and Unigram models against
 * HuggingFace tokenizers 0.23.2: every expected id and token list below
 * was produced by HuggingFace's encode() (special tokens not added) on
 * the same fixture (tests/fixtures/tok/wl_*, wp_*, uni_*.json); the
 * previews by the oracle's decoding of the first tokens. Broken and
 * hostile model members must fail the load cleanly. */
#include "tok_suite.h"
#include "tokenizer/tk.h"

#include <check.h>

#include "check_run.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIX "tests/fixtures/tok/"


/* Writes json to a new temporary file, its name in path (a mkstemp
 * template). */
static void temp_file(char *path, const char *json)
{
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, json, strlen(json)), (ssize_t)strlen(json));
    close(fd);
}

/* Loads the tokenizer.json text json. */
static la_tokenizer *load_text(const char *json)
{
    char path[] = "/tmp/la-models-test.XXXXXX";
    temp_file(path, json);
    la_tokenizer *t = tok_load(path);
    unlink(path);
    return t;
}

/* Encodes text with the fixture and compares ids and token strings
 * (toks: one string per token, "|" between them). */
static void check_encode(const char *fixture, const char *text, const uint32_t *ids, size_t n,
                         const char *toks)
{
    la_err err = {{0}, {0}};
    la_tokenizer *t = tok_load(fixture);
    la_tok_work *w = la_tok_work_new();
    la_tokens out = {0};
    ck_assert_msg(la_tokenizer_encode(t, w, text, strlen(text), 0, &out, &err) == LA_OK, "%s: %s", fixture,
                  err.msg);
    ck_assert_msg(out.n == n, "%s: \"%s\": %zu tokens, want %zu", fixture, text, out.n, n);
    const char *p = toks;
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_eq(out.ids[i], ids[i]);
        const char *bar = strchr(p, '|');
        size_t k = bar ? (size_t)(bar - p) : strlen(p);
        ck_assert_msg(tk_tokens_len(&out, i) == k && memcmp(out.strs.data + out.str_off[i], p, k) == 0,
                      "%s: \"%s\": token %zu is \"%s\", want \"%.*s\"", fixture, text, i,
                      out.strs.data + out.str_off[i], (int)k, p);
        p = bar ? bar + 1 : p + k;
    }
    la_tokens_free(&out);
    la_tok_work_free(w);
    la_tokenizer_free(t);
}

#define CHECK(fx, text, ids, toks) check_encode(FIX fx, text, ids, sizeof ids / sizeof ids[0], toks)

/* The preview of m tokens (complete characters or not). */
static void check_preview(const char *fixture, const char *text, size_t m, int complete, const char *want)
{
    la_err err = {{0}, {0}};
    la_tokenizer *t = tok_load(fixture);
    la_tok_work *w = la_tok_work_new();
    la_buf out = {0};
    la_preview_info info;
    ck_assert_msg(la_tokenizer_preview(t, w, text, strlen(text), m, complete, &out, &info, &err) == LA_OK,
                  "%s: %s", fixture, err.msg);
    ck_assert_msg(out.len == strlen(want) && memcmp(out.data, want, out.len) == 0,
                  "%s: \"%s\" m=%zu: preview \"%.*s\", want \"%s\"", fixture, text, m, (int)out.len,
                  out.data ? out.data : "", want);
    la_buf_free(&out);
    la_tok_work_free(w);
    la_tokenizer_free(t);
}

/* A text the model cannot encode: HuggingFace's encode fails; here the
 * text is refused with reason tokenizer_unk. */
static void check_unk_error(const char *fixture, const char *text)
{
    la_err err = {{0}, {0}};
    la_tokenizer *t = tok_load(fixture);
    la_tok_work *w = la_tok_work_new();
    la_tokens out = {0};
    ck_assert_int_eq(la_tokenizer_encode(t, w, text, strlen(text), 0, &out, &err), LA_EDATA);
    ck_assert_str_eq(err.code, "tokenizer_unk");
    la_tokens_free(&out);
    la_tok_work_free(w);
    la_tokenizer_free(t);
}

START_TEST(wordlevel_words_and_unk)
{
    static const uint32_t a[] = {1, 3, 2, 4};
    CHECK("wl_basic.json", "hello, world!", a, "hello|,|world|!");
    static const uint32_t b[] = {5, 6, 0};
    CHECK("wl_basic.json", "h\xC3\xA9llo \xE6\x9D\xB1\xE4\xBA\xAC nope", b,
          "h\xC3\xA9llo|\xE6\x9D\xB1\xE4\xBA\xAC|[UNK]");
    static const uint32_t c[] = {0, 1};
    CHECK("wl_nounk.json", "hello world", c, "hello|world");
    check_unk_error(FIX "wl_nounk.json", "hello nope");
    /* no decoder: the tokens' strings joined */
    check_preview(FIX "wl_basic.json", "hello, world!", 3, 1, "hello,world");
}
END_TEST

START_TEST(wordpiece_greedy_longest)
{
    static const uint32_t a[] = {0, 8};
    CHECK("wp_basic.json", "Unaffable abc", a, "[UNK]|abc");        /* 9 characters > 8: unk */
    static const uint32_t b[] = {7, 11, 8, 11};
    CHECK("wp_basic.json", "abx ABCx", b, "ab|##x|abc|##x");
    static const uint32_t c[] = {0};
    CHECK("wp_basic.json", "abcabcabc", c, "[UNK]");                 /* no "##abc": the word is unk */
    static const uint32_t d[] = {0, 13, 14, 12};
    CHECK("wp_basic.json", "\xC3\x89" "ab\xC3\xA9 \xE6\x9D\xB1\xE4\xBA\xAC!", d,
          "[UNK]|\xE6\x9D\xB1|##\xE4\xBA\xAC|!");
    static const uint32_t e[] = {1, 15};
    CHECK("wp_basic.json", "unabl", e, "un|##abl");
    /* the WordPiece decoder joins "##" pieces and cleans up before "!" */
    check_preview(FIX "wp_basic.json", "abx ABCx", 3, 1, "abx abc");
    check_preview(FIX "wp_basic.json", "\xC3\x89" "ab\xC3\xA9 \xE6\x9D\xB1\xE4\xBA\xAC!", 4, 1,
                  "[UNK] \xE6\x9D\xB1\xE4\xBA\xAC!");
}
END_TEST

START_TEST(unigram_best_path)
{
    static const uint32_t a[] = {9, 8, 5};
    CHECK("uni_basic.json", "abc ab", a, "\xE2\x96\x81" "a|bc|\xE2\x96\x81" "ab");
    static const uint32_t b[] = {9, 1, 8};
    CHECK("uni_basic.json", "a bc", b, "\xE2\x96\x81" "a|\xE2\x96\x81|bc");
    /* ties: the first path found at each end is kept */
    static const uint32_t c[] = {1, 11, 13, 1, 0};
    CHECK("uni_basic.json", "xxxx q", c, "\xE2\x96\x81|x|xxx|\xE2\x96\x81|q");
    /* unknown characters and the unk piece itself fused into one token
     * that keeps its text */
    static const uint32_t d[] = {1, 0, 2, 1, 10, 10};
    CHECK("uni_basic.json", "qq<unk>a \xC3\xA9\xC3\xA9", d,
          "\xE2\x96\x81|qq<unk>|a|\xE2\x96\x81|\xC3\xA9|\xC3\xA9");
    static const uint32_t e[] = {0, 1};
    CHECK("uni_nounk.json", "ab", e, "a|b");
    check_unk_error(FIX "uni_nounk.json", "abc");
    /* the preview decodes the tokens' strings: the unknown text comes back */
    check_preview(FIX "uni_basic.json", "qq<unk>a \xC3\xA9\xC3\xA9", 3, 1, "qq<unk>a");
    check_preview(FIX "uni_basic.json", "abc ab", 2, 1, "abc");
}
END_TEST

START_TEST(unigram_byte_fallback)
{
    static const uint32_t a[] = {1, 6, 3, 8};
    CHECK("uni_bytes.json", "aAb", a, "\xE2\x96\x81|a|<0x41>|b");
    static const uint32_t b[] = {1, 4, 5, 6};
    CHECK("uni_bytes.json", "\xC3\xA9" "a", b, "\xE2\x96\x81|<0xC3>|<0xA9>|a");
    /* "z" has no byte piece: the fused unknown text is unk as a whole */
    static const uint32_t c[] = {1, 0};
    CHECK("uni_bytes.json", "z\xC3\xA9", c, "\xE2\x96\x81|z\xC3\xA9");
    /* a character cut in half by the m-th token: completed, or U+FFFD */
    check_preview(FIX "uni_bytes.json", "\xC3\xA9" "a", 2, 1, "\xC3\xA9");
    check_preview(FIX "uni_bytes.json", "\xC3\xA9" "a", 2, 0, "\xEF\xBF\xBD");
}
END_TEST

/* A small SentencePiece charsmap (trained with a rule table: A -> a, B ->
 * bb, full-width A -> a, circled 1 -> 1, ideographic space -> space,
 * U+200B removed, e + U+0301 -> e-acute): replacements of whole clusters
 * and of single characters, and a removal at the front, after which
 * Metaspace "first" still prepends, as HuggingFace's alignment has it. */
START_TEST(precompiled_charsmap)
{
    static const uint32_t a[] = {5, 4, 8};
    CHECK("uni_precompiled.json", "ABc", a, "\xE2\x96\x81" "a|bb|c");
    static const uint32_t b[] = {5, 3};
    CHECK("uni_precompiled.json", "\xE2\x80\x8B" "Ab", b, "\xE2\x96\x81" "a|b");
    static const uint32_t c[] = {1, 6, 9};
    CHECK("uni_precompiled.json", "e\xCC\x81x", c, "\xE2\x96\x81|\xC3\xA9|x");
    static const uint32_t d[] = {1, 7, 2};
    CHECK("uni_precompiled.json", "\xE2\x91\xA0\xEF\xBC\xA1", d, "\xE2\x96\x81|1|a");
    static const uint32_t e[] = {5, 10};
    CHECK("uni_precompiled.json", "a\xE3\x80\x80" "b", e, "\xE2\x96\x81" "a|\xE2\x96\x81" "b");
    static const uint32_t f[] = {10};
    CHECK("uni_precompiled.json", "\xE2\x80\x8B\xE2\x80\x8B" "b", f, "\xE2\x96\x81" "b");
    static const uint32_t g[] = {1, 4, 6};
    CHECK("uni_precompiled.json", "Be\xCC\x81", g, "\xE2\x96\x81|bb|\xC3\xA9");
    check_preview(FIX "uni_precompiled.json", "ABc", 2, 1, "abb");
}
END_TEST

/* Hostile or broken model members: a clean error naming the problem
 * (exit 65 from the CLI), never a crash. want: a part of the message. */
static void check_bad(const char *json, const char *want)
{
    char path[] = "/tmp/la-models-test.XXXXXX";
    temp_file(path, json);
    la_err err = {{0}, {0}};
    la_tokenizer *t = la_tokenizer_load(path, &err);
    unlink(path);
    ck_assert_msg(t == NULL, "%s: loaded", json);
    ck_assert_msg(strstr(err.msg, want) != NULL, "%s: \"%s\" lacks \"%s\"", json, err.msg, want);
    /* the codes the CLI turns into exit 65 */
    ck_assert_msg(strcmp(err.code, "bad_tokenizer") == 0 || strcmp(err.code, "unsupported") == 0, "%s: code %s",
                  json, err.code);
}

START_TEST(bad_unigram_models)
{
    check_bad("{\"model\":{\"type\":\"Unigram\",\"unk_id\":0}}", "missing field \"vocab\"");
    check_bad("{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":[]}}", "vocabulary is empty");
    check_bad("{\"model\":{\"type\":\"Unigram\",\"unk_id\":2,\"vocab\":[[\"a\",0],[\"b\",-1]]}}",
              "unk_id 2 is not below");
    check_bad("{\"model\":{\"type\":\"Unigram\",\"unk_id\":-1,\"vocab\":[[\"a\",0]]}}",
              "not a whole number");
    check_bad("{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",1e999]]}}", "score out of range");
    check_bad("{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",\"x\"]]}}", "not a [piece, score] pair");
    check_bad("{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\"]]}}", "not a [piece, score] pair");
    check_bad("{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",0,1]]}}", "not a [piece, score] pair");
    check_bad("{\"model\":{\"type\":\"Unigram\",\"vocab\":[[1,0]]}}", "not a [piece, score] pair");
    check_bad("{\"model\":{\"type\":\"Unigram\",\"vocab\":[\"a\"]}}", "not a [piece, score] pair");
    check_bad("{\"model\":{\"type\":\"Unigram\",\"vocab\":{\"a\":0}}}", "not an array");
    check_bad("{\"model\":{\"type\":\"Unigram\",\"byte_fallback\":1,\"vocab\":[[\"a\",0]]}}",
              "not a boolean");
}
END_TEST

START_TEST(bad_word_models)
{
    check_bad("{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":0}}}", "missing field \"unk_token\"");
    check_bad("{\"model\":{\"type\":\"WordLevel\",\"unk_token\":\"a\"}}", "missing field \"vocab\"");
    check_bad("{\"model\":{\"type\":\"WordLevel\",\"unk_token\":\"a\",\"vocab\":[]}}", "not an object");
    check_bad("{\"model\":{\"type\":\"WordLevel\",\"unk_token\":\"a\",\"vocab\":{\"a\":-1}}}", "not a u32");
    check_bad("{\"model\":{\"type\":\"WordLevel\",\"unk_token\":3,\"vocab\":{\"a\":0}}}", "not a string");
    check_bad("{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"a\",\"continuing_subword_prefix\":\"##\","
              "\"vocab\":{\"a\":0}}}", "missing field \"max_input_chars_per_word\"");
    check_bad("{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"a\",\"continuing_subword_prefix\":\"##\","
              "\"max_input_chars_per_word\":-3,\"vocab\":{\"a\":0}}}", "not a whole number");
    check_bad("{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"a\",\"continuing_subword_prefix\":\"##\","
              "\"max_input_chars_per_word\":1.5,\"vocab\":{\"a\":0}}}", "not a whole number");
    check_bad("{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"a\",\"max_input_chars_per_word\":5,"
              "\"vocab\":{\"a\":0}}}", "missing field \"continuing_subword_prefix\"");
    check_bad("{\"model\":{\"type\":\"Piecewise\",\"vocab\":{}}}", "unsupported type \"Piecewise\"");
}
END_TEST

/* A word of a million characters, with a prefix and max_input_chars_per_word
 * as large as they come: WordPiece tries no candidate longer than the
 * longest token, so this ends at once instead of taking quadratic time. */
START_TEST(wordpiece_long_word)
{
    const char *json = "{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\","
                       "\"max_input_chars_per_word\":9007199254740992,\"vocab\":{\"[UNK]\":0,\"a\":1,\"##a\":2,"
                       "\"##aa\":3}}}";
    la_tokenizer *t = load_text(json);
    size_t n = 1000001;
    char *s = malloc(n);
    memset(s, 'a', n);
    la_err err = {{0}, {0}};
    la_tok_work *w = la_tok_work_new();
    la_tokens out = {0};
    ck_assert_int_eq(la_tokenizer_encode(t, w, s, n, 0, &out, &err), LA_OK);
    /* "a", then "##aa" pairs */
    ck_assert_uint_eq(out.n, 1 + n / 2);
    ck_assert_uint_eq(out.ids[0], 1);
    ck_assert_uint_eq(out.ids[1], 3);
    ck_assert_uint_eq(out.ids[out.n - 1], 3);
    la_tokens_free(&out);
    la_tok_work_free(w);
    la_tokenizer_free(t);
    free(s);
}
END_TEST

/* A vocabulary with a token of 20,000 "a" then "b": a text of "a"s
 * walks that far into the trie from every position, which would take
 * quadratic time; the text fails over its work budget instead (WordPiece
 * and Unigram alike), and a short text still works. */
START_TEST(long_token_budget)
{
    size_t k = 20000, n = 200;
    char *json = malloc(2 * k + 512), *s = malloc(4 * k);
    for (int model = 0; model < 2; model++) {
        size_t at = (size_t)sprintf(json, model ? "{\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"vocab\":"
                                                  "[[\"<unk>\",0],[\"a\",-1],[\""
                                                : "{\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\","
                                                  "\"continuing_subword_prefix\":\"\",\"max_input_chars_per_word\":"
                                                  "10000000,\"vocab\":{\"[UNK]\":0,\"a\":1,\"");
        memset(json + at, 'a', k);
        at += k;
        strcpy(json + at, model ? "b\",-2]]}}" : "b\":2}}}");
        la_tokenizer *t = load_text(json);
        memset(s, 'a', 4 * k);
        la_err err = {{0}, {0}};
        la_tok_work *w = la_tok_work_new();
        la_tokens out = {0};
        ck_assert_int_eq(la_tokenizer_encode(t, w, s, 4 * k, 0, &out, &err), LA_EDATA);
        ck_assert_str_eq(err.code, "tokenizer_budget");
        ck_assert_msg(strstr(err.msg, model ? "model Unigram" : "model WordPiece") != NULL, "%s", err.msg);
        ck_assert_int_eq(la_tokenizer_encode(t, w, s, n, 0, &out, &err), LA_OK);
        ck_assert_uint_eq(out.n, n);      /* "a" each */
        la_tokens_free(&out);
        la_tok_work_free(w);
        la_tokenizer_free(t);
    }
    free(json);
    free(s);
}
END_TEST

/* The tokenizer cache keeps BPE models only: loading another type twice
 * parses the file twice and leaves no entry behind. */
START_TEST(no_cache_entry_for_other_models)
{
    char dir[] = "/tmp/la-models-cache.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    setenv("LOOKAHEAD_CACHE_DIR", dir, 1);
    la_tokenizer_use_cache(1);
    static const char *const files[] = {FIX "wl_basic.json", FIX "wp_basic.json", FIX "uni_basic.json"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++)
        for (int k = 0; k < 2; k++) {
            la_tokenizer *t = tok_load(files[f]);
            ck_assert_int_eq(t->from_cache, 0);
            la_tokenizer_free(t);
        }
    /* and a BPE file next to them is kept, so the folder was usable */
    la_tokenizer_free(tok_load(FIX "bpe_basic.json"));
    la_tokenizer *t = tok_load(FIX "bpe_basic.json");
    int bpe_cached = t->from_cache;
    la_tokenizer_free(t);
    la_tokenizer_use_cache(0);
    unsetenv("LOOKAHEAD_CACHE_DIR");
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int entries = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') {
            char p[512];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
            entries += la_check_ends(e->d_name, ".tok");   /* not the BPE file's identity record */
        }
    closedir(d);
    rmdir(dir);
    ck_assert_int_eq(bpe_cached, 1);
    ck_assert_int_eq(entries, 1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tok_models");
    TCase *tc = tcase_create("models");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, wordlevel_words_and_unk);
    tcase_add_test(tc, wordpiece_greedy_longest);
    tcase_add_test(tc, unigram_best_path);
    tcase_add_test(tc, unigram_byte_fallback);
    tcase_add_test(tc, bad_unigram_models);
    tcase_add_test(tc, precompiled_charsmap);
    tcase_add_test(tc, bad_word_models);
    tcase_add_test(tc, wordpiece_long_word);
    tcase_add_test(tc, long_token_budget);
    tcase_add_test(tc, no_cache_entry_for_other_models);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = la_check_run(suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
