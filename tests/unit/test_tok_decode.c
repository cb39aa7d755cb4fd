/* test_tok_decode.c - decoders against HuggingFace tokenizers 0.23.2:
 * each expected string is HuggingFace's decoder.decode(tokens) for the
 * same fixture (tests/fixtures/tok/dec_*.json). */
#include "tokenizer/tk.h"

#include <check.h>

#include "check_run.h"
#include <stdlib.h>
#include <string.h>

#define FIX "tests/fixtures/tok/"

/* Decodes the token strings with the fixture's decoder chain. */
static void check_decode(const char *fixture, const char *const *toks, size_t n, const char *want)
{
    la_err err = {{0}, {0}};
    la_tokenizer *t = la_tokenizer_load(fixture, &err);
    ck_assert_msg(t != NULL, "%s: %s", fixture, err.msg);
    ck_assert_ptr_nonnull(t->decoder);
    la_tok_work *w = la_tok_work_new();
    la_tokens list = {0};
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(tk_tokens_push(&list, 0, toks[i], strlen(toks[i])), LA_OK);
    ck_assert_int_eq(t->decoder->chain(t->decoder, &list, w, &err), LA_OK);
    la_buf out = {0};
    for (size_t i = 0; i < list.n; i++)
        la_buf_append(&out, list.strs.data + list.str_off[i], tk_tokens_len(&list, i));
    ck_assert_msg(out.len == strlen(want) && memcmp(out.data ? out.data : "", want, out.len) == 0,
                  "%s: got \"%s\", want \"%s\"", fixture, out.data ? out.data : "", want);
    /* previews decode by a plan taken from the chain: the same text
     * (only the chains it covers; the others run the chain) */
    w->pl.n = 0;
    la_buf_clear(&w->pl.strs);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(tk_plist_push_added(&w->pl, 0, toks[i], strlen(toks[i])), LA_OK);
    la_buf_clear(&out);
    ck_assert_int_eq(tk_preview_decode(t, w, n, &out, &err), LA_OK);
    ck_assert_msg(out.len == strlen(want) && memcmp(out.data ? out.data : "", want, out.len) == 0,
                  "%s (plan %d): got \"%s\", want \"%s\"", fixture, tk_decoder_join(t->decoder),
                  out.data ? out.data : "", want);
    la_buf_free(&out);
    la_tokens_free(&list);
    la_tok_work_free(w);
    la_tokenizer_free(t);
}

#define CHECK(fx, toks, want) check_decode(FIX fx, toks, sizeof toks / sizeof toks[0], want)
#define SP "\xE2\x96\x81"   /* U+2581 */
#define FFFD "\xEF\xBF\xBD"

START_TEST(metaspace)
{
    static const char *const a[] = {(SP "Hey"), (SP "friend"), (SP SP "x")};
    CHECK("dec_metaspace.json", a, "Hey friend  x");
    static const char *const b[] = {("Hey" SP SP), (SP "friend")};
    CHECK("dec_metaspace.json", b, "Hey friend");
    static const char *const c[] = {(SP "Hey"), (SP "friend")};
    CHECK("dec_metaspace_never.json", c, " Hey friend");
    static const char *const d[] = {"_Hey", "_friend"};
    CHECK("dec_metaspace_legacy.json", d, "Hey friend");
}
END_TEST

START_TEST(wordpiece_bpe_ctc)
{
    static const char *const a[] = {"##uelo", "Ara", "##\xC3\xBAj", "I", "do", "not", ".", "it", "'s", "n't"};
    CHECK("dec_wordpiece.json", a, "##uelo Ara\xC3\xBAj I do not. it'sn't");
    static const char *const b[] = {"hel", "lo</w>", "wor", "ld</w>"};
    CHECK("dec_bpe.json", b, "hello world");
    static const char *const c[] = {"<pad>", "h", "e", "e", "l", "l", "<pad>", "l", "o", "|", "w", "<pad>"};
    CHECK("dec_ctc.json", c, "hello w");
}
END_TEST

/* An empty BPEDecoder suffix or CTC pad or delimiter is Rust's
 * str::replace with "": the replacement goes before every character and
 * at the end (HuggingFace's " a b =>" for "ab", "=>"), not nowhere. */
START_TEST(empty_patterns)
{
    static const char *const a[] = {"ab", "\xC3\xA9x", "", "c"};
    CHECK("dec_bpe_empty.json", a, " a b  \xC3\xA9 x  c");
    static const char *const b[] = {"<pad>", "ab", "ab", "", "\xC3\xA9 'm", "c"};
    CHECK("dec_ctc_empty.json", b, " < p a d >  a b   \xC3\xA9 ' m  c ");
    static const char *const c[] = {""};
    CHECK("dec_ctc_empty.json", c, " ");
}
END_TEST

START_TEST(strip_replace)
{
    static const char *const a[] = {"xxxhix", "xaxx", "xxa", "ab"};
    CHECK("dec_strip.json", a, "xhiaxaab");
    static const char *const b[] = {"banana", "aaa", "b"};
    CHECK("dec_replace_regex.json", b, "b-n-n--b");
}
END_TEST

START_TEST(bytes)
{
    /* byte fallback is all or nothing per run of byte tokens */
    static const char *const a[] = {(SP "a"), "<0xE2>", "<0x98>", "<0x83>", "<0xE2>", (SP "b"), "<0xff>"};
    CHECK("dec_sequence.json", a, "a" FFFD FFFD FFFD FFFD " b" FFFD);
    static const char *const b[] = {(SP "a"), "<0xE2>", "<0x98>", "<0x83>"};
    CHECK("dec_sequence.json", b, "a\xE2\x98\x83");
    /* byte level: lossy UTF-8 over all bytes, foreign tokens as they are */
    static const char *const c[] = {"Hello", "\xC4\xA0w", "\xC3\x83\xC2\xA4", "\xC3\xA2\xC4\xBA", "\xC4\xA0",
                                    "[PA D]", "\xC3\x83"};
    CHECK("dec_bytelevel.json", c, "Hello w\xC3\xA4" FFFD " [PA D]" FFFD);
    /* Llama-2's order: Replace, then ByteFallback, Fuse, Strip */
    static const char *const d[] = {(SP "a"), "<0xE2>", "<0x98>", "<0x83>", "<0xE2>", (SP "b"), "<0xff>"};
    CHECK("dec_llama.json", d, "a" FFFD FFFD FFFD FFFD " b" FFFD);
    static const char *const e[] = {(SP SP "a"), "<0xE2>", "<0x98>", "<0x83>", ("x" SP)};
    CHECK("dec_llama.json", e, " a\xE2\x98\x83x ");
    static const char *const f[] = {"<0x41>", (SP "b")};
    CHECK("dec_llama.json", f, "A b");
    /* per-token Strip before ByteLevel; Replace and Strip after it */
    static const char *const g[] = {"aHelloa", "\xC4\xA0w", "\xC3\x83\xC2\xA4", "\xC3\xA2\xC4\xBA", "\xC4\xA0",
                                    "[PA D]", "\xC3\x83"};
    CHECK("dec_bytelevel_seq.json", g, "Hell0 w\xC3\xA4" FFFD " [PA D]" FFFD);
}
END_TEST

START_TEST(lossy_utf8)
{
    la_buf out = {0};
    ck_assert_int_eq(tk_utf8_lossy("a\xE2\x98", 3, &out), LA_OK);       /* cut at the end: one */
    ck_assert_str_eq(out.data, "a" FFFD);
    la_buf_clear(&out);
    tk_utf8_lossy("\xE2\x98" "b\x80\x80\xC0\xAF\xED\xA0\x80", 10, &out);  /* maximal subparts */
    ck_assert_str_eq(out.data, FFFD "b" FFFD FFFD FFFD FFFD FFFD FFFD FFFD);
    la_buf_free(&out);
}
END_TEST

START_TEST(bad_decoders)
{
    la_err err;
    static const char *const bad[] = {
        "{\"type\":\"Strip\",\"content\":\"x\",\"start\":1}",
        "{\"type\":\"WordPiece\"}",
        "{\"type\":\"Metaspace\",\"replacement\":\"_\",\"add_prefix_space\":false}",
        "{\"type\":\"Metaspace\",\"replacement\":\"ab\"}",
        "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Fuse\"},{}]}",
        "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"(\"},\"content\":\"\"}",
        "[1]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *j = cJSON_Parse(bad[i]);
        ck_assert_ptr_null(tk_decoder_from_json(j, &err));
        cJSON_Delete(j);
    }
    cJSON *j = cJSON_Parse("{\"type\":\"Unknown\"}");
    ck_assert_ptr_null(tk_decoder_from_json(j, &err));
    ck_assert_str_eq(err.msg, "tokenizer: decoder: unsupported type \"Unknown\"");
    cJSON_Delete(j);
}
END_TEST

/* The growth bound in decoders: a chain of twenty Replace "a" -> "aa"
 * (a million bytes of one "a"), or of Replace with an empty pattern, or
 * of BPEDecoder or CTC with an empty suffix or delimiter (a space before
 * every character), fails with "tokenizer_budget" on every path (the
 * chain itself, the plan previews decode by, decoding ids) with little
 * memory; a Replace that makes a text of "a" 60 times longer is within
 * the bound. */
START_TEST(growth_bound)
{
    static const struct {
        const char *item;
        int k, ok, mapped;            /* mapped: a per-token plan (tk_decoder_map) */
    } chains[] = {
        {"{\"type\":\"Replace\",\"pattern\":{\"String\":\"a\"},\"content\":\"aa\"}", 20, 0, 1},
        {"{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"a\"},\"content\":\"aa\"}", 20, 0, 1},
        {"{\"type\":\"Replace\",\"pattern\":{\"String\":\"\"},\"content\":\"a\"}", 20, 0, 1},
        {"{\"type\":\"Replace\",\"pattern\":{\"String\":\"a\"},\"content\":"
         "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", 1, 1, 1},
        {"{\"type\":\"BPEDecoder\",\"suffix\":\"\"}", 20, 0, 0},
        {"{\"type\":\"CTC\",\"pad_token\":\"\",\"word_delimiter_token\":\"\",\"cleanup\":true}", 20, 0, 0},
    };
    for (size_t c = 0; c < sizeof chains / sizeof chains[0]; c++) {
        la_buf j = {0};
        la_buf_printf(&j, "{\"type\":\"Sequence\",\"decoders\":[");
        for (int i = 0; i < chains[c].k; i++)
            la_buf_printf(&j, "%s%s", i ? "," : "", chains[c].item);
        la_buf_printf(&j, "]}");
        cJSON *js = cJSON_Parse(j.data);
        la_err err = {{0}, {0}};
        tk_decoder *d = tk_decoder_from_json(js, &err);
        cJSON_Delete(js);
        la_buf_free(&j);
        ck_assert_msg(d != NULL, "%s", err.msg);
        la_tok_work *w = la_tok_work_new();
        la_tokens list = {0};
        char text[200];
        memset(text, 'a', sizeof text);
        /* two tokens: BPEDecoder's last token keeps its suffix as it is */
        ck_assert_int_eq(tk_tokens_push(&list, 0, text, sizeof text / 2), LA_OK);
        ck_assert_int_eq(tk_tokens_push(&list, 0, text, sizeof text / 2), LA_OK);
        int rc = d->chain(d, &list, w, &err);
        if (chains[c].ok) {
            ck_assert_int_eq(rc, LA_OK);
            ck_assert_uint_eq(tk_tokens_len(&list, 0) + tk_tokens_len(&list, 1), 60 * sizeof text);
        } else {
            ck_assert_int_eq(rc, LA_EDATA);
            ck_assert_str_eq(err.code, "tokenizer_budget");
            ck_assert_uint_le(list.strs.cap + w->dtoks.strs.cap, 4 * tk_grow_max(sizeof text));
        }
        if (!chains[c].ok && chains[c].mapped) {
            la_buf out = {0};
            ck_assert_int_eq(tk_decoder_map(d, text, sizeof text, &out, w, &err), LA_EDATA);
            ck_assert_str_eq(err.code, "tokenizer_budget");
            ck_assert_uint_le(out.cap, 4 * tk_grow_max(sizeof text));
            la_buf_free(&out);
        }
        la_tokens_free(&list);
        la_tok_work_free(w);
        d->free(d);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tok_decode");
    TCase *tc = tcase_create("decode");
    /* growth_bound builds long chains: slow under sanitizers on a busy
     * machine; the limit only guards against a hang */
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, metaspace);
    tcase_add_test(tc, wordpiece_bpe_ctc);
    tcase_add_test(tc, empty_patterns);
    tcase_add_test(tc, strip_replace);
    tcase_add_test(tc, bytes);
    tcase_add_test(tc, lossy_utf8);
    tcase_add_test(tc, bad_decoders);
    tcase_add_test(tc, growth_bound);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed = la_check_run(suite());
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
