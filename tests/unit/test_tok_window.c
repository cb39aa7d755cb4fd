/* test_tok_window.c - previews computed on a window of the text (grown
 * while the tokens need more) equal previews of the whole text: random
 * texts over what the fixtures know, short and long, for every kind of
 * normalizer chain that is windowed (none; Prepend + one-character
 * Replace; with Lowercase; with longer literal patterns) and for the
 * pipelines that are not (a pre-tokenizer), m from 1 to 80, both ways
 * of handling partial characters. The whole-segment previews also go
 * through the pre-tokenizer itself, the others through the piece cache
 * of Split + ByteLevel pre-tokenizers (Isolated, and Removed inverted as
 * GPT-4o's) and of a ByteLevel with its own regex alone (Claude's). */
#include "tok_suite.h"
#include "json.h"
#include "tokenizer/tk.h"
#include "tokenizer/tk_test.h"
#include "unit.h"

#include <cJSON.h>
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIX "tests/fixtures/tok/"


static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

/* Words, white space, added tokens, characters the vocabularies lack
 * (byte fallback, several bytes long), the metaspace itself and the
 * pieces of the patterns the window fixtures replace. */
static const char *const atoms[] = {
    "the", "cat", "and", "hat", "The", "HAT", "T", "H", " ", " ", " ", "  ", "   ", ".", ",",
    "a", "t", "at", "att", "\n", "\t", "\xC3\xA9", "\xE6\x97\xA5\xE6\x9C\xAC",
    "\xF0\x9F\x98\x80", "\xE2\x96\x81", "\xE2\x96\x81\xE2\x96\x81", "<s>", "</s>", "<unk>",
    "<|end|>", "<", "|", "on", "in", "123", "'s", "4567", "\xE3\x81\x82\xE3\x82\xAB" /* kana */,
};

/* A random text of about n bytes in buf (NUL-terminated); its length. */
static size_t random_text(char *buf, size_t n)
{
    size_t len = 0;
    /* some texts are one long run of a single atom */
    const char *only = rnd(8) == 0 ? atoms[rnd(sizeof atoms / sizeof atoms[0])] : NULL;
    while (len < n) {
        const char *a = only ? only : atoms[rnd(sizeof atoms / sizeof atoms[0])];
        size_t k = strlen(a);
        memcpy(buf + len, a, k);
        len += k;
    }
    buf[len] = 0;
    return len;
}

/* Previews found from the start of a text alone (not TK_MORE). */
static size_t starts_enough;

/* The preview with windows against the one from whole segments, and
 * against the one from a random start of the text. */
static void same_preview(la_tokenizer *t, la_tok_work *w, const char *text, size_t len, size_t m,
                         int complete)
{
    la_err err;
    la_buf a = {0}, b = {0};
    la_preview_info ia, ib;
    int split_bytes = t->split_bytes;
    t->no_window = 1;
    t->no_plan = 1;            /* and decoded by the chain itself, not the plan */
    t->split_bytes = 0;        /* pieces through the pre-tokenizer, not the piece cache */
    int ra = la_tokenizer_preview(t, w, text, len, m, complete, &a, &ia, &err);
    t->no_window = 0;
    t->no_plan = 0;
    t->split_bytes = split_bytes;
    /* small first windows put their edges everywhere */
    t->first_window = 1 + rnd(len / 4 + 8);
    int rb = la_tokenizer_preview(t, w, text, len, m, complete, &b, &ib, &err);
    t->first_window = 0;
    ck_assert_int_eq(ra, rb);
    /* only the text's start, known to go on: the same preview, or a
     * request for the whole text */
    la_buf c = {0};
    la_preview_info ic;
    size_t cut = len ? rnd((uint32_t)len) : 0;
    int rc = tk_preview_text(t, w, text, cut, 1, m, complete, &c, &ic, &err);
    if (rc == TK_MORE) {
        ck_assert_uint_eq(c.len, 0);
    } else {
        starts_enough++;
        ck_assert_int_eq(rc, ra);
        ck_assert_msg(ra != LA_OK || (a.len == c.len && memcmp(a.data ? a.data : "", c.data ? c.data : "", a.len) == 0),
                      "start of %zu bytes of %zu: \"%.*s\" vs \"%.*s\"", cut, len, (int)c.len,
                      c.data ? c.data : "", (int)a.len, a.data ? a.data : "");
        ck_assert_uint_eq(ic.units, ia.units);
        ck_assert_int_eq(ic.whole, ia.whole);
        ck_assert_int_eq(ic.extended, ia.extended);
    }
    la_buf_free(&c);
    if (ra == LA_OK) {
        ck_assert_msg(a.len == b.len && memcmp(a.data ? a.data : "", b.data ? b.data : "", a.len) == 0,
                      "m=%zu complete=%d len=%zu: \"%.*s\" vs \"%.*s\" for \"%.200s\"", m, complete,
                      len, (int)a.len, a.data ? a.data : "", (int)b.len, b.data ? b.data : "", text);
        ck_assert_uint_eq(ia.units, ib.units);
        ck_assert_int_eq(ia.whole, ib.whole);
        ck_assert_int_eq(ia.extended, ib.extended);
    }
    la_buf_free(&a);
    la_buf_free(&b);
}

/* window_unigram: a Unigram model behind Prepend + Replace with no
 * pre-tokenizer (byte fallback for some bytes only, so that unknown runs
 * fuse, and the unk token's own string "<unk>" a piece as well);
 * full_bytelevel_splits: full_bytelevel's model behind DeepSeek-V3's
 * pre-tokenizer (three Splits, then ByteLevel) */
static const char *const fixtures[] = {
    FIX "full_llama.json", FIX "window_plain.json", FIX "window_lower.json",
    FIX "window_multi.json", FIX "window_unigram.json", FIX "full_bytelevel.json",
    FIX "full_bytelevel_removed.json", FIX "full_gemma.json", FIX "full_bytelevel_alone.json",
    FIX "full_bytelevel_splits.json",
};
#define NFIX (sizeof fixtures / sizeof fixtures[0])

START_TEST(window_equals_whole)
{
    static const size_t ms[] = {1, 2, 6, 17, 80};
    static const size_t sizes[] = {0, 1, 5, 20, 60, 130, 300, 700, 1500, 5000};
    char *buf = malloc(8192);
    ck_assert_ptr_nonnull(buf);
    la_tokenizer *t = tok_load(fixtures[_i]);
    la_tok_work *w = la_tok_work_new();
    for (int round = 0; round < 60; round++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            size_t len = random_text(buf, sizes[s]);
            for (size_t k = 0; k < sizeof ms / sizeof ms[0]; k++)
                for (int complete = 0; complete < 2; complete++)
                    same_preview(t, w, buf, len, ms[k], complete);
        }
    la_tok_work_free(w);
    la_tokenizer_free(t);
    free(buf);
}
END_TEST

/* A long answer (~60 KB) with added tokens far in, and one with an added
 * token right at a window's edge, give the same previews. */
START_TEST(window_long_answers)
{
    size_t n = 60000;
    char *buf = malloc(n + 64);
    ck_assert_ptr_nonnull(buf);
    for (size_t f = 0; f < NFIX; f++) {
        la_tokenizer *t = tok_load(fixtures[f]);
        la_tok_work *w = la_tok_work_new();
        static const char unit[] = "The cat and the hat. the hat and the cat in the hat. ";
        size_t len = 0;
        while (len + sizeof unit - 1 <= n) {
            memcpy(buf + len, unit, sizeof unit - 1);
            len += sizeof unit - 1;
        }
        buf[len] = 0;
        for (size_t at = 1; at < 300; at += 7) {
            char keep[8];
            memcpy(keep, buf + at, 4);
            memcpy(buf + at, "</s>", 4);
            for (size_t m = 1; m < 90; m += 11)
                same_preview(t, w, buf, len, m, 1);
            memcpy(buf + at, keep, 4);
        }
        same_preview(t, w, buf, len, 6, 1);
        same_preview(t, w, buf, len, 500, 0);
        /* windowed pipelines find short previews in the first 2 KB, and
         * so do direct previews of byte-level ones */
        la_buf a = {0}, b = {0};
        la_preview_info ia, ib;
        la_err err;
        int ra = la_tokenizer_preview(t, w, buf, len, 6, 1, &a, &ia, &err);
        int rb = tk_preview_text(t, w, buf, 2048, 1, 6, 1, &b, &ib, &err);
        if (strstr(fixtures[f], "bytelevel") && (!t->direct || t->no_direct)) {
            ck_assert_int_eq(rb, TK_MORE);     /* a pre-tokenizer needs the whole segment */
        } else {
            ck_assert_int_eq(ra, LA_OK);
            ck_assert_int_eq(rb, LA_OK);
            ck_assert(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
        }
        la_buf_free(&a);
        la_buf_free(&b);
        la_tok_work_free(w);
        la_tokenizer_free(t);
    }
    free(buf);
}
END_TEST

/* Tokens with their strings, for the model's own sinks. */
typedef struct {
    tk_sink sink;
    la_tokens toks;
} str_sink;

static int str_push(tk_sink *s, const uint32_t *ids, size_t n)
{
    str_sink *x = (str_sink *)s;
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(tk_tokens_push(&x->toks, ids[i], "", 0), 0);
    return 0;
}

static int str_push_str(tk_sink *s, uint32_t id, const char *str, size_t n)
{
    str_sink *x = (str_sink *)s;
    ck_assert_int_eq(tk_tokens_push(&x->toks, id, str, n), 0);
    return 0;
}

/* A Unigram window ends at the last point no piece spans, but a run of
 * unk-id tokens just before it (the unknown "x", or the piece "<unk>"
 * itself) fuses with one just after: tk_model_prefix on every start of
 * texts where such runs meet gives the first tokens of the whole text,
 * strings too (an unk token's is its text); and previews with every
 * first window and m equal those of the whole text. */
START_TEST(unigram_window_edges)
{
    static const char *const texts[] = {
        "the <unk><unk> cat <unk><unk><unk>x the hat",
        "<unk>x<unk> and x<unk>. the<unk>\xE6\x97\xA5<unk>, the cat",
        "the cat\n\n<unk>\t<unk> and the hat and the cat",
        "\xC3\xA9<unk>\xC3\xA9\xF0\x9F\x98\x80<unk> the the the",
    };
    la_tokenizer *t = tok_load(FIX "window_unigram.json");
    la_tok_work *w = la_tok_work_new();
    size_t cuts = 0;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        size_t len = strlen(texts[i]);
        la_err err;
        str_sink all = { { str_push, str_push_str }, {0} };
        ck_assert_int_eq(tk_bpe_tokenize(t->model, texts[i], len, &all.sink, w, &err), 0);
        for (size_t n = 1; n < len; n++) {
            if (((unsigned char)texts[i][n] & 0xC0) == 0x80)
                continue;
            str_sink part = { { str_push, str_push_str }, {0} };
            int rc = tk_model_prefix(t->model, texts[i], n, &part.sink, w, &err);
            ck_assert_int_eq(rc, 2);
            ck_assert_uint_le(part.toks.n, all.toks.n);
            cuts += part.toks.n > 0;
            for (size_t k = 0; k < part.toks.n; k++) {
                size_t la = tk_tokens_len(&all.toks, k), lp = tk_tokens_len(&part.toks, k);
                ck_assert_msg(part.toks.ids[k] == all.toks.ids[k] && la == lp &&
                                  memcmp(all.toks.strs.data + all.toks.str_off[k],
                                         part.toks.strs.data + part.toks.str_off[k], la) == 0,
                              "text %zu, start of %zu bytes: token %zu is \"%.*s\" (%u), whole \"%.*s\" (%u)", i,
                              n, k, (int)lp, part.toks.strs.data + part.toks.str_off[k], part.toks.ids[k], (int)la,
                              all.toks.strs.data + all.toks.str_off[k], all.toks.ids[k]);
            }
            la_tokens_free(&part.toks);
        }
        la_tokens_free(&all.toks);
        for (size_t m = 1; m <= 24; m++)
            for (size_t win = 1; win <= len; win++) {
                la_buf a = {0}, b = {0};
                la_preview_info ia, ib;
                t->no_window = 1;
                ck_assert_int_eq(la_tokenizer_preview(t, w, texts[i], len, m, 0, &a, &ia, &err), LA_OK);
                t->no_window = 0;
                t->first_window = win;
                ck_assert_int_eq(la_tokenizer_preview(t, w, texts[i], len, m, 0, &b, &ib, &err), LA_OK);
                t->first_window = 0;
                ck_assert_msg(a.len == b.len && memcmp(a.data ? a.data : "", b.data ? b.data : "", a.len) == 0,
                              "text %zu m=%zu window %zu: \"%.*s\" vs \"%.*s\"", i, m, win, (int)b.len,
                              b.data ? b.data : "", (int)a.len, a.data ? a.data : "");
                ck_assert_uint_eq(ia.units, ib.units);
                la_buf_free(&a);
                la_buf_free(&b);
            }
    }
    ck_assert_uint_gt(cuts, 40);   /* most starts had a cut to stop at */
    la_tok_work_free(w);
    la_tokenizer_free(t);
}
END_TEST

/* Which fixtures are windowed: the previews above must test the windows,
 * not compare the whole-segment path with itself. */
START_TEST(window_is_used)
{
    static const int want[NFIX] = {1, 1, 1, 1, 1, 0, 0, 1, 0, 0};
    for (size_t f = 0; f < NFIX; f++) {
        la_tokenizer *t = tok_load(fixtures[f]);
        /* full_gemma's Split on " " follows a Replace of every " ": inert */
        int on = (!t->pretok || t->pretok_inert) && (!t->normalizer || t->normalizer->cut_ok) &&
                 tk_bpe_can_cut(t->model);
        /* the byte-level ones (a ByteLevel with its own regex alone too)
         * take their pieces through the piece cache */
        ck_assert_int_eq(t->split_bytes, strstr(fixtures[f], "bytelevel") != NULL);
        /* DeepSeek-V3's three Splits cut each other's pieces there */
        if (t->split_bytes)
            ck_assert_uint_eq(t->sb.n_re, strstr(fixtures[f], "splits") ? 3 : 1);
        ck_assert_msg(on == want[f], "%s", fixtures[f]);
        la_tokenizer_free(t);
    }
}
END_TEST

/* Token ids and strings of the whole encoding of text. */
static void encode_all(la_tokenizer *t, la_tok_work *w, const char *text, size_t len, la_tokens *out)
{
    la_err err;
    int rc = la_tokenizer_encode(t, w, text, len, 0, out, &err);
    ck_assert_msg(rc == LA_OK, "%s", err.msg);
}

static void same_tokens(const la_tokens *a, const la_tokens *b, const char *text)
{
    ck_assert_msg(a->n == b->n, "%zu vs %zu tokens for \"%.200s\"", a->n, b->n, text);
    for (size_t i = 0; i < a->n; i++)
        ck_assert_msg(a->ids[i] == b->ids[i], "token %zu: %u vs %u for \"%.200s\"", i, a->ids[i],
                      b->ids[i], text);
    ck_assert(a->strs.len == b->strs.len && memcmp(a->strs.data, b->strs.data, a->strs.len) == 0);
}

/* The word cache and the cutting tables give the tokens of the plain
 * path: random texts encoded twice with them (the second time from the
 * cache) and once without, and previews the same way. */
START_TEST(fast_equals_plain)
{
    static const size_t sizes[] = {1, 5, 20, 60, 130, 300, 1500};
    char *buf = malloc(4096);
    ck_assert_ptr_nonnull(buf);
    la_tokenizer *t = tok_load(fixtures[_i]);
    la_tok_work *fast = la_tok_work_new(), *plain = la_tok_work_new();
    la_tokens a = {0}, b = {0};
    la_buf pa = {0}, pb = {0};
    la_err err;
    for (int round = 0; round < 80; round++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            size_t len = random_text(buf, sizes[s]);
            for (int again = 0; again < 2; again++) {
                tk_bpe_set_fast(t->model, 1);
                encode_all(t, fast, buf, len, &a);
                tk_bpe_set_fast(t->model, 0);
                encode_all(t, plain, buf, len, &b);
                same_tokens(&a, &b, buf);
                size_t m = 1 + rnd(20);
                la_buf_clear(&pa);
                la_buf_clear(&pb);
                /* the word table is the tokenizer's: each way fills its own */
                tk_bpe_set_fast(t->model, 1);
                tk_direct_clear(t);
                ck_assert_int_eq(la_tokenizer_preview(t, fast, buf, len, m, 1, &pa, NULL, &err), LA_OK);
                tk_bpe_set_fast(t->model, 0);
                tk_direct_clear(t);
                ck_assert_int_eq(la_tokenizer_preview(t, plain, buf, len, m, 1, &pb, NULL, &err), LA_OK);
                ck_assert(pa.len == pb.len && memcmp(pa.data, pb.data, pa.len) == 0);
            }
        }
    la_tokens_free(&a);
    la_tokens_free(&b);
    la_buf_free(&pa);
    la_buf_free(&pb);
    la_tok_work_free(fast);
    la_tok_work_free(plain);
    la_tokenizer_free(t);
    free(buf);
}
END_TEST

/* The word cache starts small and is remade big (and empty) once it has
 * taken its share of words: words met before and after that give the
 * plain path's tokens, in whole encodings (a pre-tokenizer's words) and
 * in windowed previews (chunks cut where no merge crosses: here each
 * CJK character, which the vocabulary lacks). */
START_TEST(word_cache_grows)
{
    static const char *const fix[] = {FIX "full_bytelevel.json", FIX "window_plain.json"};
    for (size_t f = 0; f < 2; f++) {
        la_tokenizer *t = tok_load(fix[f]);
        la_tok_work *fast = la_tok_work_new(), *plain = la_tok_work_new();
        la_tokens a = {0}, b = {0};
        la_err err;
        ck_assert_uint_eq(tk_bpe_cache_slots(fast), 0);
        size_t first = 0;
        for (uint32_t i = 0; i < 1500; i++) {
            /* two new words and two new characters a text */
            char buf[128];
            size_t len = 0;
            for (uint32_t k = 2 * i; k < 2 * i + 2; k++) {
                buf[len++] = ' ';
                for (uint32_t d = k, n = 0; n < 4; n++, d /= 26)
                    buf[len++] = (char)('a' + d % 26);
                uint32_t cp = 0x4E00 + k;  /* three bytes of UTF-8 */
                buf[len++] = ' ';
                buf[len++] = (char)(0xE0 | cp >> 12);
                buf[len++] = (char)(0x80 | (cp >> 6 & 0x3F));
                buf[len++] = (char)(0x80 | (cp & 0x3F));
            }
            buf[len] = 0;
            tk_bpe_set_fast(t->model, 1);
            encode_all(t, fast, buf, len, &a);
            la_buf pa = {0}, pb = {0};
            size_t m = 1 + rnd(12);
            ck_assert_int_eq(la_tokenizer_preview(t, fast, buf, len, m, 1, &pa, NULL, &err), LA_OK);
            tk_bpe_set_fast(t->model, 0);
            encode_all(t, plain, buf, len, &b);
            ck_assert_int_eq(la_tokenizer_preview(t, plain, buf, len, m, 1, &pb, NULL, &err), LA_OK);
            same_tokens(&a, &b, buf);
            ck_assert(pa.len == pb.len && memcmp(pa.data, pb.data, pa.len) == 0);
            la_buf_free(&pa);
            la_buf_free(&pb);
            if (i == 0)
                first = tk_bpe_cache_slots(fast);
        }
        ck_assert_msg(first == 2048 && tk_bpe_cache_slots(fast) == 32768, "%s: %zu, then %zu entries",
                      fix[f], first, tk_bpe_cache_slots(fast));
        la_tokens_free(&a);
        la_tokens_free(&b);
        la_tok_work_free(fast);
        la_tok_work_free(plain);
        la_tokenizer_free(t);
    }
}
END_TEST

/* One scratch shared by two tokenizers that give the same words other
 * ids (the second numbers the vocabulary backwards): the word cache of
 * one is never read for the other. */
START_TEST(cache_per_model)
{
    la_tokenizer *t1 = tok_load(FIX "full_llama.json"), *t2 = tok_load(FIX "full_llama_renumbered.json");
    la_tok_work *shared = la_tok_work_new(), *w1 = la_tok_work_new(), *w2 = la_tok_work_new();
    la_tokens a = {0}, b = {0};
    char buf[512];
    for (int round = 0; round < 200; round++) {
        size_t len = random_text(buf, 1 + rnd(200));
        la_tokenizer *t = round % 2 ? t1 : t2;
        encode_all(t, shared, buf, len, &a);
        encode_all(t, round % 2 ? w1 : w2, buf, len, &b);
        same_tokens(&a, &b, buf);
    }
    la_tokens_free(&a);
    la_tokens_free(&b);
    la_tok_work_free(shared);
    la_tok_work_free(w1);
    la_tok_work_free(w2);
    la_tokenizer_free(t1);
    la_tokenizer_free(t2);
}
END_TEST

/* Comparisons of starts are not all requests for more: with a windowed
 * pipeline, most random starts of 3 KB texts are enough. */
START_TEST(starts_were_enough)
{
    la_tokenizer *t = tok_load(fixtures[0]);
    la_tok_work *w = la_tok_work_new();
    char buf[4096];
    starts_enough = 0;
    for (int i = 0; i < 200; i++) {
        size_t len = random_text(buf, 3000);
        same_preview(t, w, buf, len, 6, 1);
    }
    ck_assert_uint_gt(starts_enough, 50);
    la_tok_work_free(w);
    la_tokenizer_free(t);
}
END_TEST

/* The start a long answer gets first (tk_preview_start): none for
 * pipelines that need the whole text, and for windowed ones a start
 * that is usually enough, giving the whole text's preview. */
START_TEST(start_hint)
{
    static const int windowed[NFIX] = {1, 1, 1, 1, 1, 0, 0, 1, 0, 0};
    char buf[4096];
    for (size_t f = 0; f < NFIX; f++) {
        la_tokenizer *t = tok_load(fixtures[f]);
        la_tok_work *w = la_tok_work_new();
        size_t start = tk_preview_start(t, 6), enough = 0;
        ck_assert_msg((start != 0) == windowed[f], "%s: %zu", fixtures[f], start);
        ck_assert_uint_lt(start, 200);
        ck_assert(!start || tk_preview_start(t, 17) > start);
        for (int i = 0; i < 200 && start; i++) {
            size_t len = random_text(buf, 3000);
            la_err err;
            la_buf a = {0}, c = {0};
            ck_assert_int_eq(la_tokenizer_preview(t, w, buf, len, 6, 1, &a, NULL, &err), LA_OK);
            size_t cut = start < len ? start : len;
            while (cut > 0 && ((unsigned char)buf[cut] & 0xC0) == 0x80)
                cut--;           /* a decoded start ends on a character */
            int rc = tk_preview_text(t, w, buf, cut, 1, 6, 1, &c, NULL, &err);
            if (rc != TK_MORE) {
                enough++;
                ck_assert_int_eq(rc, LA_OK);
                ck_assert(a.len == c.len && memcmp(a.data, c.data, a.len) == 0);
            }
            la_buf_free(&a);
            la_buf_free(&c);
        }
        ck_assert_msg(!start || enough > 150, "%s: %zu of 200 starts were enough", fixtures[f], enough);
        la_tok_work_free(w);
        la_tokenizer_free(t);
    }
}
END_TEST

/* Writes text as a JSON string body the long way round, as other tools
 * may: "\/" for some slashes, \uXXXX (surrogate pairs past U+FFFF) for
 * some characters (spaces too unless keep_spaces), escapes for what must
 * be escaped. */
static void escape_otherwise(const char *text, size_t len, la_buf *out, int keep_spaces)
{
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)text[i];
        size_t k = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        uint32_t cp = k == 1 ? c : k == 2 ? c & 0x1F : k == 3 ? c & 0x0F : c & 0x07;
        for (size_t j = 1; j < k; j++)
            cp = cp << 6 | ((unsigned char)text[i + j] & 0x3F);
        char buf[16];
        if (c == '/' && rnd(2)) {
            la_buf_append(out, "\\/", 2);
        } else if (c < 0x20 || c == '"' || c == '\\' || (rnd(6) == 0 && !(keep_spaces && c == ' '))) {
            if (cp >= 0x10000) {
                uint32_t v = cp - 0x10000;
                snprintf(buf, sizeof buf, "\\u%04X\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
            } else {
                snprintf(buf, sizeof buf, "\\u%04x", cp);
            }
            la_buf_append(out, buf, strlen(buf));
        } else {
            la_buf_append(out, text + i, k);
        }
        i += k;
    }
}

/* n words drawn from words[0..nw), one space between each, into buf
 * (NUL-terminated): its length. */
static size_t random_words(char *buf, const char *const *words, size_t nw, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *x = words[rnd(nw)];
        if (i)
            buf[len++] = ' ';
        memcpy(buf + len, x, strlen(x));
        len += strlen(x);
    }
    buf[len] = 0;
    return len;
}

/* Direct previews (SentencePiece-style pipelines: word by word, the
 * text itself up to the m-th token's end) against the general path, for
 * texts with everything that must make them step aside: added tokens,
 * two spaces, the metaspace itself, characters that fall back on bytes,
 * partial characters. From JSON bodies too, escaped the usual way or
 * the long way round: the body's preview is either not made (0, nothing
 * appended) or the text's preview escaped as la_json_escape does. */
static void same_direct(la_tokenizer *t, la_tok_work *w, const char *text, size_t len, size_t m,
                        int complete, int keep_spaces, size_t *raw_done)
{
    la_err err;
    la_buf a = {0}, b = {0}, esc = {0}, want = {0}, c = {0};
    la_preview_info ia, ib, ic;
    t->no_direct = 1;
    ck_assert_int_eq(la_tokenizer_preview(t, w, text, len, m, complete, &a, &ia, &err), LA_OK);
    t->no_direct = 0;
    ck_assert_int_eq(la_tokenizer_preview(t, w, text, len, m, complete, &b, &ib, &err), LA_OK);
    ck_assert_msg(a.len == b.len && memcmp(a.data ? a.data : "", b.data ? b.data : "", a.len) == 0,
                  "m=%zu complete=%d: \"%.*s\" vs \"%.*s\" for \"%s\"", m, complete, (int)a.len,
                  a.data ? a.data : "", (int)b.len, b.data ? b.data : "", text);
    ck_assert_uint_eq(ia.units, ib.units);
    ck_assert_int_eq(ia.whole, ib.whole);
    ck_assert_int_eq(ia.extended, ib.extended);
    if (rnd(2))
        ck_assert_int_eq(la_json_escape(text, len, &esc), LA_OK);
    else
        escape_otherwise(text, len, &esc, keep_spaces);
    ck_assert_int_eq(la_json_escape(a.data ? a.data : "", a.len, &want), LA_OK);
    int rc = tk_preview_raw(t, w, &la_json_body_escaping, esc.data ? esc.data : "", esc.len, m, complete, &c, &ic,
                            &err);
    ck_assert(rc == 0 || rc == 1);
    if (rc == 1) {
        ++*raw_done;
        ck_assert_msg(c.len == want.len && memcmp(c.data, want.data, c.len) == 0,
                      "raw m=%zu: \"%.*s\" vs \"%.*s\"", m, (int)c.len, c.data, (int)want.len,
                      want.data ? want.data : "");
        ck_assert_uint_eq(ic.units, ia.units);
        ck_assert_int_eq(ic.whole, ia.whole);
        ck_assert_int_eq(ic.extended, ia.extended);
    } else {
        ck_assert_uint_eq(c.len, 0);
    }
    la_buf_free(&a);
    la_buf_free(&b);
    la_buf_free(&esc);
    la_buf_free(&want);
    la_buf_free(&c);
}

/* same_direct on random texts of several sizes (rounds of them), every m
 * of a few and both ways of partial characters: how many were made from
 * the body. */
static size_t direct_random_texts(la_tokenizer *t, la_tok_work *w, int rounds)
{
    static const size_t ms[] = {1, 2, 3, 6, 17};
    static const size_t sizes[] = {1, 5, 20, 60, 130, 300};
    char buf[512];
    size_t raw_done = 0;
    for (int round = 0; round < rounds; round++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            size_t len = random_text(buf, sizes[s]);
            for (size_t k = 0; k < sizeof ms / sizeof ms[0]; k++)
                for (int complete = 0; complete < 2; complete++)
                    same_direct(t, w, buf, len, ms[k], complete, 0, &raw_done);
        }
    return raw_done;
}

/* Byte-level pipelines whose Splits direct previews know: GPT-2's
 * (Isolated, Removed inverted, ByteLevel's own), cl100k behind NFC,
 * o200k (Removed inverted) behind NFKC, DeepSeek-V3's three Splits, and
 * those behind an empty normalizer Sequence with added tokens matched
 * after it ("<\uFF5Cend\uFF5C>", and one of kana, which the second
 * Split would isolate). */
static const char *const bytelevel_fixtures[] = {
    FIX "full_bytelevel.json", FIX "full_bytelevel_removed.json", FIX "full_bytelevel_alone.json",
    FIX "bytelevel_cl100k_nfc.json", FIX "bytelevel_o200k_nfkc.json", FIX "full_bytelevel_splits.json",
    FIX "bytelevel_splits_added_norm.json",
};

/* Llama-2's shape (Prepend and Strip), and Gemma's (no Prepend, no Strip:
 * a text's first word has no s before it) */
static const char *const direct_fixtures[] = {FIX "full_llama.json", FIX "full_gemma.json",
                                               FIX "full_gemma_added.json"};
#define NDIRECT (int)(sizeof direct_fixtures / sizeof direct_fixtures[0])

START_TEST(direct_equals_general)
{
    static const size_t ms[] = {1, 2, 3, 6, 17};
    char buf[512];
    la_tokenizer *t = tok_load(direct_fixtures[_i]);
    ck_assert(t->direct != NULL);
    ck_assert_int_eq(tk_direct_lead(t), _i == 0);
    /* Llama's '<', the space and the backslash; Gemma's with added tokens
     * starting with a tab, a newline, U+2581, '[' and '{' as well (Gemma
     * 3's own have the first five): every row of the scans */
    ck_assert_int_eq(tk_direct_stops(t), _i < 2 ? 3 : 8);
    la_tok_work *w = la_tok_work_new();
    size_t raw_done = direct_random_texts(t, w, 80);
    ck_assert_uint_gt(raw_done, 100);   /* some texts start with plain words */
    /* plain words between single spaces: always direct, from the body too
     * (the fixture's ".\u2581" token keeps "." off word ends, and a word
     * ending in a character it lacks, like "3", steps aside) */
    static const char *const words[] = {"the", "cat", "and", "hat", "The", "a", "at", "on", "in",
                                        "attatt", "\xC3\xA9t", "cat,", "'s"};
    for (int round = 0; round < 300; round++) {
        size_t len = random_words(buf, words, sizeof words / sizeof words[0], 1 + rnd(12));
        for (size_t k = 0; k < sizeof ms / sizeof ms[0]; k++) {
            size_t before = raw_done;
            same_direct(t, w, buf, len, ms[k], 1, 1, &raw_done);
            ck_assert_msg(raw_done == before + 1, "not direct: \"%s\" m=%zu", buf, ms[k]);
        }
    }
    la_tok_work_free(w);
    la_tokenizer_free(t);
}
END_TEST

/* The general path's preview of m tokens of a JSON body, escaped as the
 * caller writes it, into *want (its info in *wi). */
static void general_body_preview(la_tokenizer *t, la_tok_work *w, const char *body, size_t m, la_buf *want,
                                 la_preview_info *wi)
{
    la_buf text = {0}, a = {0};
    la_err err;
    ck_assert_int_eq(la_json_body_escaping.unescape(body, strlen(body), &text, NULL), LA_OK);
    t->no_direct = 1;
    ck_assert_int_eq(la_tokenizer_preview(t, w, text.data, text.len, m, 1, &a, wi, &err), LA_OK);
    t->no_direct = 0;
    ck_assert_int_eq(la_json_escape(a.data ? a.data : "", a.len, want), LA_OK);
    la_buf_free(&text);
    la_buf_free(&a);
}

/* A body's preview got (gi) against the one wanted (wi: the general
 * path's, escaped): the same bytes, tokens and flags. */
static void same_body_preview(const la_buf *got, const la_preview_info *gi, const la_buf *want,
                              const la_preview_info *wi, const char *body, size_t m)
{
    ck_assert_msg(got->len == want->len && memcmp(got->data, want->data, got->len) == 0,
                  "m=%zu: \"%.*s\" vs \"%.*s\" for \"%s\"", m, (int)got->len, got->data, (int)want->len,
                  want->data ? want->data : "", body);
    ck_assert_uint_eq(gi->units, wi->units);
    ck_assert_int_eq(gi->whole, wi->whole);
    ck_assert_int_eq(gi->extended, wi->extended);
}

/* Words with two-byte escapes in the body (\/ \" \\ \n \t) go direct
 * too, by their text, on both sides of the first 64 bytes; the preview
 * comes out escaped as la_json_escape would (\/ as /). */
START_TEST(direct_takes_short_escapes)
{
    /* (each ends in a letter: the fixture lacks the others, and a word
     * ending in a character the model lacks steps aside; "inn" is what
     * "i\nn" would be looked up as if its escape were misread); for the
     * byte-level fixtures also words longer than a key, cut between
     * digits and the rest, escaped or not, and '<' that starts no added
     * token */
    static const char *const words[] = {"the", "cat", "a", "1/a", "\"hi\"t", "a\\b", "x\ny", "t\tb",
                                        "//a", "at/c", "i\nn", "inn", "h\\e", "attatt", "\xC3\xA9t", "hat",
                                        "20*2=<<20*2=40>>40", "24/6=<<24/6=4>>4", "6*2.5=$<<6*2.5=15>>15",
                                        "x=<<1000/25=40>>40.", "a<<b", "\"<<1+2=3>>3\""};
    /* for the SentencePiece-style fixtures, words whose text is longer
     * than a key, with escapes, ending in a letter */
    static const char *const sp_words[] = {"the", "cat", "a", "1/a", "\"hi\"t", "a\\b", "x\ny", "t\tb",
                                           "//a", "at/c", "i\nn", "inn", "h\\e", "attatt", "\xC3\xA9t", "hat",
                                           "cat/hat/the/cat/at", "the\nhat\\cat\"inn\"t", "a/b/c/d/e/f/g/h/i/j/k",
                                           "attatt/attatt/attatt/attatt/attatt/attatt/attatt/attatt/at"};
    static const size_t ms[] = {1, 2, 3, 6, 17};
    char buf[2048];   /* 30 words of the longest */
    la_tokenizer *t = tok_load(_i < NDIRECT ? direct_fixtures[_i] : bytelevel_fixtures[_i - NDIRECT]);
    const char *const *ws = _i < NDIRECT ? sp_words : words;
    size_t nwords = _i < NDIRECT ? sizeof sp_words / sizeof sp_words[0] : sizeof words / sizeof words[0];
    la_tok_work *w = la_tok_work_new();
    size_t direct = 0, tries = 0;
    for (int round = 0; round < 400; round++) {
        size_t len = random_words(buf, ws, nwords, 1 + rnd(30));
        la_buf body = {0};
        for (size_t i = 0; i < len; i++) {   /* every '/' escaped too */
            const char *e = buf[i] == '/' ? "\\/" : buf[i] == '"' ? "\\\"" : buf[i] == '\\' ? "\\\\"
                          : buf[i] == '\n' ? "\\n" : buf[i] == '\t' ? "\\t" : NULL;
            la_buf_append(&body, e ? e : buf + i, e ? 2 : 1);
        }
        for (size_t k = 0; k < sizeof ms / sizeof ms[0]; k++) {
            la_err err;
            la_buf a = {0}, want = {0}, c = {0};
            la_preview_info ia, ic;
            t->no_direct = 1;
            ck_assert_int_eq(la_tokenizer_preview(t, w, buf, len, ms[k], 1, &a, &ia, &err), LA_OK);
            t->no_direct = 0;
            ck_assert_int_eq(la_json_escape(a.data ? a.data : "", a.len, &want), LA_OK);
            int rc = tk_preview_raw(t, w, &la_json_body_escaping, body.data, body.len, ms[k], 1, &c, &ic,
                                    &err);
            tries++;
            ck_assert(rc == 0 || rc == 1);
            if (_i < NDIRECT) {
                /* from the body exactly when from the text itself: a word's
                 * escapes never send it the general way */
                la_buf d = {0};
                int rd = tk_direct_preview(t, w, NULL, buf, len, 0, ms[k], 1, &d, NULL, &err);
                ck_assert_msg(rd == rc, "m=%zu: %d from the text, %d from the body \"%s\"", ms[k], rd, rc,
                              body.data);
                la_buf_free(&d);
            }
            if (rc == 1) {
                direct++;
                same_body_preview(&c, &ic, &want, &ia, body.data, ms[k]);
            }
            la_buf_free(&a);
            la_buf_free(&want);
            la_buf_free(&c);
        }
        la_buf_free(&body);
    }
    if (_i < NDIRECT)   /* the fixtures' words that merge across a cut go the general way */
        ck_assert_uint_gt(direct, tries / 2);
    else
        ck_assert_uint_eq(direct, tries);
    la_tok_work_free(w);
    la_tokenizer_free(t);
}
END_TEST

/* The first loop of direct previews keeps records whose first words
 * hold a first byte of added tokens that no added token goes on from
 * ("<<" where they start "<s>" or "<|"), or escapes (looked up by the
 * body's bytes once the word-by-word loop has met the word): with
 * tk_direct_set_fast_only it alone makes their previews, the general
 * path's. A first byte followed by a backslash, or ending the text,
 * still sends the record on. */
START_TEST(direct_fast_keeps_leavers)
{
    static const char *const fixtures[] = {FIX "full_llama.json", FIX "full_gemma_added.json",
                                           FIX "full_bytelevel.json", FIX "bytelevel_splits_added_norm.json"};
    /* bodies, and 1 when the first loop makes their previews */
    static const struct {
        const char *body;
        int fast;
    } cases[] = {
        {"the cat a<<b hat", 1},          {"a<<b", 1},
        {"at\\/c the cat", 1},          {"the 1\\/a cat at\\/c hat", 1},
        {"\\\"hi\\\"t a\\\\b cat", 1}, {"cat a\\\\b a<<b at\\/c", 1},
        {"a<\\/b the cat", 0},          {"a<", 0},
        /* the text 1\/a (a backslash in it), then the body bytes 1\/a
         * (the text 1/a): two words, two entries */
        {"1\\\\/a the cat", 1},         {"1\\/a the cat", 1},
    };
    static const size_t ms[] = {1, 2, 3, 6, 17};
    la_err err;
    for (size_t f = 0; f < sizeof fixtures / sizeof fixtures[0]; f++) {
        la_tokenizer *t = tok_load(fixtures[f]);
        ck_assert(t->direct != NULL);
        la_tok_work *w = la_tok_work_new();
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            for (size_t k = 0; k < sizeof ms / sizeof ms[0]; k++) {
                const char *body = cases[i].body;
                la_buf want = {0}, b = {0};
                la_preview_info ia, ic;
                general_body_preview(t, w, body, ms[k], &want, &ia);
                /* the word-by-word loop meets the words first (a first byte
                 * at the text's end may start an added token past it: the
                 * general path) */
                int rb = tk_preview_raw(t, w, &la_json_body_escaping, body, strlen(body), ms[k], 1, &b, NULL, &err);
                ck_assert_int_eq(rb, cases[i].fast || body[strlen(body) - 1] != '<');
                tk_direct_set_fast_only(t, 1);
                la_buf d = {0};
                int rd = tk_direct_preview(t, w, &la_json_body_escaping, body, strlen(body), 0, ms[k], 1, &d,
                                           &ic, &err);
                tk_direct_set_fast_only(t, 0);
                ck_assert_msg(rd == cases[i].fast, "%s: \"%s\" m=%zu: %d", fixtures[f], body, ms[k], rd);
                if (rd == 1)   /* as the caller writes it: the re-escaped preview */
                    same_body_preview(&d, &ic, &want, &ia, body, ms[k]);
                if (rb == 1) {
                    ck_assert_uint_eq(b.len, want.len);
                    ck_assert(memcmp(b.data, want.data, b.len) == 0);
                }
                la_buf_free(&want);
                la_buf_free(&b);
                la_buf_free(&d);
            }
        la_tok_work_free(w);
        la_tokenizer_free(t);
    }
}
END_TEST

/* Words longer than a key, or of more tokens than an entry keeps (GSM8K's
 * calculations): a byte-level pipeline's long word is looked up by its
 * first chunk, cut where no token spans, and an entry of too many tokens
 * keeps its first ones, so that the first loop makes the previews that
 * end in those; the others go on in pieces. Once the word-by-word loop
 * has met the words, with tk_direct_set_fast_only: the first token of a
 * text that starts with such a word is the first loop's, every preview
 * it makes is the general path's, and the table the entries are in
 * passes the check of cache entries. */
START_TEST(direct_fast_takes_long_words)
{
    static const char *const fixtures[] = {FIX "full_llama.json", FIX "full_bytelevel.json",
                                           FIX "bytelevel_splits_added_norm.json"};
    static const char *const bodies[] = {
        "5*2=<<5*2=10>>10 cats", "15+25=<<15+25=40>>40 dollars", "the 15+25=<<15+25=40>>40 dollars",
        "a 12345678901234567890 b", "Ann has 3*15=<<3*15=45>>45 cats\\n",
        "zqxjkvbpwyzq cats",     /* a token a letter in full_llama.json: 13 */
    };
    static const size_t ms[] = {1, 2, 3, 4, 6, 9, 17};
    la_err err;
    for (size_t f = 0; f < sizeof fixtures / sizeof fixtures[0]; f++) {
        la_tokenizer *t = tok_load(fixtures[f]);
        ck_assert(t->direct != NULL);
        int bl = strstr(fixtures[f], "bytelevel") != NULL;   /* long words by their first chunk */
        la_tok_work *w = la_tok_work_new();
        size_t fast = 0, first = 0;
        for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
            for (size_t k = 0; k < sizeof ms / sizeof ms[0]; k++) {
                const char *body = bodies[i];
                la_buf want = {0}, b = {0}, d = {0};
                la_preview_info ia, ic;
                general_body_preview(t, w, body, ms[k], &want, &ia);
                /* the word-by-word loop meets the words first */
                int rb = tk_preview_raw(t, w, &la_json_body_escaping, body, strlen(body), ms[k], 1, &b, NULL, &err);
                if (rb == 1) {
                    ck_assert_uint_eq(b.len, want.len);
                    ck_assert(memcmp(b.data, want.data, b.len) == 0);
                }
                tk_direct_set_fast_only(t, 1);
                int rd = tk_direct_preview(t, w, &la_json_body_escaping, body, strlen(body), 0, ms[k], 1, &d,
                                           &ic, &err);
                tk_direct_set_fast_only(t, 0);
                ck_assert_msg(rd == 0 || rd == 1, "%s: \"%s\" m=%zu: %d", fixtures[f], body, ms[k], rd);
                if (rd == 1)
                    same_body_preview(&d, &ic, &want, &ia, body, ms[k]);
                /* a text that starts with such a word, its first token
                 * direct, or the first six tokens of thirteen: in the
                 * first loop now */
                if (((ms[k] == 1 && body[0] != 'a') || (body[0] == 'z' && ms[k] <= 6)) && rb == 1) {
                    ck_assert_msg(rd == 1, "%s: \"%s\": the first token", fixtures[f], body);
                    first++;
                }
                fast += rd == 1;
                la_buf_free(&want);
                la_buf_free(&b);
                la_buf_free(&d);
            }
        ck_assert_uint_gt(fast, 0);
        ck_assert_uint_ge(first, bl ? 4 : 6);
        size_t len = 0;
        const void *table = tk_direct_table(t, &len);
        ck_assert_uint_gt(len, 0);
        ck_assert_int_eq(tk_direct_table_valid(table, len), 1);
        la_tok_work_free(w);
        la_tokenizer_free(t);
    }
}
END_TEST

/* Gemma's added tokens of 1 to 31 newlines, in a fixture of its shape
 * (runs of 1 to 3 here): a run of "\\n" escapes in a body is split out
 * as runs of three and the rest, and the text after it starts a piece of
 * its own, on the direct path, as the general path splits it. A space
 * before a run, or a run of newlines written otherwise, steps aside. */
START_TEST(direct_newline_runs)
{
    char dir[] = "/tmp/la_nl_XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/tok.json", dir);
    FILE *f = fopen(FIX "full_gemma_added.json", "rb");
    ck_assert_ptr_nonnull(f);
    char *src = calloc(1, 1 << 20);
    size_t n = fread(src, 1, (1 << 20) - 1, f);
    fclose(f);
    ck_assert_uint_gt(n, 0);
    cJSON *root = cJSON_Parse(src), *added = cJSON_GetObjectItem(root, "added_tokens"), *it;
    ck_assert_ptr_nonnull(added);
    cJSON_ArrayForEach(it, added)
        if (strcmp(cJSON_GetObjectItem(it, "content")->valuestring, "\n\n") == 0)
            cJSON_ReplaceItemInObject(it, "special", cJSON_CreateFalse());
    static const char *const runs[] = {"\n", "\n\n\n"};
    for (int i = 0; i < 2; i++) {
        cJSON *tok = cJSON_CreateObject();
        cJSON_AddNumberToObject(tok, "id", 310 + i);
        cJSON_AddStringToObject(tok, "content", runs[i]);
        cJSON_AddFalseToObject(tok, "single_word");
        cJSON_AddFalseToObject(tok, "lstrip");
        cJSON_AddFalseToObject(tok, "rstrip");
        cJSON_AddFalseToObject(tok, "normalized");
        cJSON_AddFalseToObject(tok, "special");
        cJSON_AddItemToArray(added, tok);
    }
    char *out = cJSON_PrintUnformatted(root);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(out, f);
    fclose(f);
    free(out);
    free(src);
    cJSON_Delete(root);
    la_tokenizer *t = tok_load(path);
    ck_assert(t->direct != NULL);
    /* bodies, and 1 when direct previews make them (every m), 0 when
     * they do not (m = 17), -1 either (the fixture lacks a word's tokens) */
    static const struct {
        const char *body;
        int direct;
    } cases[] = {
        {"the cat\\nthe cat", 1},
        {"the cat\\n\\n\\n\\n\\n\\n\\nthe cat", 1},
        {"\\n\\nthe cat\\n", 1},
        {"the\\nthe\\n\\nthe\\n\\n\\nthe\\n\\n\\n\\nthe", 1},
        {"the cat\\n", 1},
        {"\\n", 1},
        {"the cat\\n\\n\\n\\n\\n\\n\\n the", 0},   /* a space after the run */
        {"the cat \\nthe", 0},                 /* a space before it */
        {"the cat\\u000athe", 0},              /* a newline escaped otherwise */
        {"attatt\\n\\n\\n\\nhat at the cat\\nx", -1},
    };
    la_tok_work *w = la_tok_work_new();
    la_err err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (size_t m = 1; m <= 17; m++)
            for (int complete = 0; complete < 2; complete++) {
                const char *body = cases[i].body;
                la_buf text = {0}, a = {0}, want = {0}, c = {0};
                la_preview_info ia, ic;
                ck_assert_int_eq(la_json_body_escaping.unescape(body, strlen(body), &text, NULL), LA_OK);
                t->no_direct = 1;
                ck_assert_int_eq(la_tokenizer_preview(t, w, text.data, text.len, m, complete, &a, &ia, &err),
                                 LA_OK);
                t->no_direct = 0;
                ck_assert_int_eq(la_json_escape(a.data ? a.data : "", a.len, &want), LA_OK);
                int rc = tk_direct_preview(t, w, &la_json_body_escaping, body, strlen(body), 0, m, complete, &c,
                                           &ic, &err);
                /* those that step aside do once the preview reaches the run */
                if (cases[i].direct > 0 || (cases[i].direct == 0 && m == 17))
                    ck_assert_msg(rc == cases[i].direct, "\"%s\" m=%zu: %d", body, m, rc);
                if (rc == 1)
                    same_body_preview(&c, &ic, &want, &ia, body, m);
                la_buf_free(&text);
                la_buf_free(&a);
                la_buf_free(&want);
                la_buf_free(&c);
            }
    la_tok_work_free(w);
    la_tokenizer_free(t);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* The word table is the tokenizer's, read and written by every thread
 * that previews with it: threads that meet the same new words at the
 * same time (more words than the table holds, so sets are rewritten all
 * along) each get the previews the general path gives. */
#define SHARED_TEXTS 3000
#define SHARED_THREADS 4

typedef struct {
    la_tokenizer *t;
    char (*texts)[128];
    la_buf *want;
    size_t start, failures, direct;
} shared_job;

static void *shared_worker(void *arg)
{
    shared_job *j = arg;
    la_tok_work *w = la_tok_work_new();
    la_buf got = {0};
    la_err err;
    for (size_t k = 0; k < SHARED_TEXTS; k++) {
        size_t i = (j->start + k * 7) % SHARED_TEXTS;   /* each thread its own order */
        size_t len = strlen(j->texts[i]);
        la_buf_clear(&got);
        int rc = tk_preview_raw(j->t, w, &la_json_body_escaping, j->texts[i], len, 6, 1, &got, NULL, &err);
        j->direct += rc == 1;
        if (rc != 1 || got.len != j->want[i].len || memcmp(got.data, j->want[i].data, got.len) != 0)
            j->failures++;
    }
    la_buf_free(&got);
    la_tok_work_free(w);
    return NULL;
}

START_TEST(direct_shared_by_threads)
{
    static const char letters[] = "abcdefghijklmnopqrstuvwxyz";
    la_tokenizer *t = tok_load(FIX "full_llama.json");
    ck_assert(t->direct != NULL);
    char (*texts)[128] = malloc(SHARED_TEXTS * sizeof *texts);
    la_buf *want = calloc(SHARED_TEXTS, sizeof *want);
    ck_assert(texts && want);
    /* texts of 1 to 8 words of 2 to 9 letters: some 20,000 words, of
     * which most are new when met */
    la_tok_work *w = la_tok_work_new();
    la_err err;
    t->no_direct = 1;
    for (size_t i = 0; i < SHARED_TEXTS; i++) {
        size_t len = 0, nw = 1 + rnd(8);
        for (size_t k = 0; k < nw; k++) {
            if (k)
                texts[i][len++] = ' ';
            for (size_t n = 2 + rnd(8); n > 0; n--)
                texts[i][len++] = letters[rnd(26)];
        }
        texts[i][len] = 0;
        ck_assert_int_eq(la_tokenizer_preview(t, w, texts[i], len, 6, 1, &want[i], NULL, &err), LA_OK);
    }
    t->no_direct = 0;
    for (int round = 0; round < 4; round++) {
        tk_direct_clear(t);   /* every round starts with no word kept */
        pthread_t tid[SHARED_THREADS];
        shared_job jobs[SHARED_THREADS];
        for (int k = 0; k < SHARED_THREADS; k++) {
            jobs[k] = (shared_job){ t, texts, want, (size_t)k * 13 + (size_t)round, 0, 0 };
            ck_assert_int_eq(pthread_create(&tid[k], NULL, shared_worker, &jobs[k]), 0);
        }
        for (int k = 0; k < SHARED_THREADS; k++) {
            pthread_join(tid[k], NULL);
            ck_assert_uint_eq(jobs[k].failures, 0);
            ck_assert_uint_eq(jobs[k].direct, SHARED_TEXTS);
        }
    }
    for (size_t i = 0; i < SHARED_TEXTS; i++)
        la_buf_free(&want[i]);
    free(want);
    free(texts);
    la_tok_work_free(w);
    la_tokenizer_free(t);
}
END_TEST

/* A set that another thread keeps rewriting is read DW_TRIES times, then
 * its word is tokenized and not kept: the previews are the same, and
 * the table holds none of the words met meanwhile. */
START_TEST(direct_busy_sets)
{
    static const char *const words[] = {"the", "cat", "and", "hat", "The", "a", "at", "on", "in",
                                        "attatt", "\xC3\xA9t", "cat,", "'s"};
    char buf[512];
    la_tokenizer *t = tok_load(FIX "full_llama.json");
    la_tok_work *w = la_tok_work_new();
    la_err err;
    for (int busy = 1; busy >= 0; busy--) {
        tk_direct_clear(t);
        tk_direct_set_busy(t, busy);
        for (int round = 0; round < 100; round++) {
            size_t len = random_words(buf, words, sizeof words / sizeof words[0], 1 + rnd(12));
            la_buf a = {0}, b = {0};
            t->no_direct = 1;
            ck_assert_int_eq(la_tokenizer_preview(t, w, buf, len, 6, 1, &a, NULL, &err), LA_OK);
            t->no_direct = 0;
            ck_assert_int_eq(tk_preview_raw(t, w, &la_json_body_escaping, buf, len, 6, 1, &b, NULL, &err),
                             1);
            ck_assert_msg(a.len == b.len && memcmp(a.data, b.data, a.len) == 0, "\"%s\"", buf);
            la_buf_free(&a);
            la_buf_free(&b);
        }
        la_buf c = {0};
        ck_assert_int_eq(tk_preview_raw(t, w, &la_json_body_escaping, "the cat", 7, 1, 1, &c, NULL, &err), 1);
        ck_assert_str_eq(c.data, "the");
        la_buf_free(&c);
        tk_direct_set_busy(t, 0);
        /* kept only when the sets were free */
        ck_assert_int_eq(tk_direct_kept(t, "the"), !busy);
    }
    la_tok_work_free(w);
    la_tokenizer_free(t);
}
END_TEST

/* A word the table keeps is found again, whichever of its set's ways it
 * went to: 2,000 words over the 8,192 sets put two or more in some 200
 * sets and five in almost none (Poisson), so every word met stays. */
START_TEST(direct_finds_kept_words)
{
    static const char letters[] = "abcdefghijklmnopqrstuvwxyz";
    enum { NWORDS = 2000 };
    char (*words)[12] = malloc(NWORDS * sizeof *words);
    ck_assert_ptr_nonnull(words);
    la_tokenizer *t = tok_load(FIX "full_llama.json");
    la_tok_work *w = la_tok_work_new();
    la_err err;
    tk_direct_clear(t);
    for (size_t i = 0; i < NWORDS; i++) {
        size_t n = 0;
        /* "q" + a number in letters + letters: distinct words */
        words[i][n++] = 'q';
        for (size_t v = i; v; v /= 26)
            words[i][n++] = letters[v % 26];
        while (n < 4 + i % 4)
            words[i][n++] = letters[rnd(26)];
        words[i][n] = 0;
        la_buf b = {0};
        ck_assert_int_eq(tk_preview_raw(t, w, &la_json_body_escaping, words[i], n, 17, 1, &b, NULL, &err), 1);
        ck_assert_str_eq(b.data, words[i]);
        la_buf_free(&b);
    }
    size_t kept = 0;
    for (size_t i = 0; i < NWORDS; i++)
        kept += (size_t)tk_direct_kept(t, words[i]);
    ck_assert_uint_eq(kept, NWORDS);
    ck_assert_int_eq(tk_direct_kept(t, "zzzzzzzzz"), 0);   /* never met */
    la_tok_work_free(w);
    la_tokenizer_free(t);
    free(words);
}
END_TEST

/* same_direct over texts for m = 1..mmax, with --partial-chars complete
 * (and replace too when both); returns how many went direct raw. */
static size_t same_direct_texts(la_tokenizer *t, la_tok_work *w, const char *const *texts, size_t n,
                                size_t mmax, int both)
{
    size_t raw_done = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t m = 1; m <= mmax; m++)
            for (int complete = 1; complete >= (both ? 0 : 1); complete--)
                same_direct(t, w, texts[i], strlen(texts[i]), m, complete, 0, &raw_done);
    return raw_done;
}

/* Words whose tokens decode to other text of the same length (five
 * unknown characters fused into one "<unk>") are not the text: such
 * words step aside, and the previews stay the model's. So do the pieces
 * of long words that cannot be cut where they are. */
START_TEST(direct_checks_decoding)
{
    static const char *const texts[] = {"cat ##### hat", "##### cat", "the cat@@@@@", "a %%%%% b"};
    la_tokenizer *t = tok_load(FIX "full_llama_unk.json");
    ck_assert(t->direct != NULL);
    la_tok_work *w = la_tok_work_new();
    size_t raw_done = same_direct_texts(t, w, texts, sizeof texts / sizeof texts[0], 5, 0);
    ck_assert_uint_gt(raw_done, 0);     /* the words before them do go direct */
    /* long words go in pieces; one that ends in "." before a space does
     * not (the fixture has a ".\u2581" token) */
    static const char *const long_words[] = {"attattattattattatt. | hat", "cat attattattattattattatt hat",
                                             "thethethethethethe.", "a tattattattattattattatta. | the"};
    for (size_t i = 0; i < sizeof long_words / sizeof long_words[0]; i++)
        for (size_t m = 1; m <= 24; m++)
            same_direct(t, w, long_words[i], strlen(long_words[i]), m, m % 2, 0, &raw_done);
    la_err err;
    la_buf b = {0};
    ck_assert_int_eq(la_tokenizer_preview(t, w, "cat ##### hat", 13, 3, 1, &b, NULL, &err), LA_OK);
    ck_assert_str_eq(b.data, "cat <unk>");
    la_buf_free(&b);
    la_tok_work_free(w);
    la_tokenizer_free(t);
}
END_TEST

/* A new word's token ends are taken from the bytes its tokens cover
 * when each token's string is those bytes. Where it is not, the word
 * steps aside: a token that ByteFallback decodes as one byte although
 * merges made it from text ("<0x41>", "<0x4a>": "A", "J"), and a token
 * merged from byte-fallback tokens ("<0xC3><0xA9>" for "\u00e9",
 * decoded as those twelve characters). Previews against HuggingFace's
 * (tokenizers 0.20 on the fixture) and the general path's. */
START_TEST(direct_spans_only_where_exact)
{
    static const char *const texts[] = {"the <0x41> cat", "<0x4a>b cat", "cat \xC3\xA9 the", "\xC3\xA9",
                                        "a <0x41>", "<0x41>the cat"};
    static const struct {
        const char *text;
        size_t m;
        const char *want;
    } hf[] = {
        {"the <0x41> cat", 3, "the A"},       {"the <0x41> cat", 4, "the A cat"},
        {"<0x4a>b cat", 2, "J"},              {"<0x4a>b cat", 3, "Jb"},
        {"cat \xC3\xA9 the", 3, "cat <0xC3><0xA9>"}, {"\xC3\xA9", 2, "<0xC3><0xA9>"},
    };
    la_tokenizer *t = tok_load(FIX "full_llama_bytes.json");
    ck_assert(t->direct != NULL);
    la_tok_work *w = la_tok_work_new();
    for (int pass = 0; pass < 2; pass++) {   /* words met for the first time, then kept */
        same_direct_texts(t, w, texts, sizeof texts / sizeof texts[0], 6, 1);
        for (size_t i = 0; i < sizeof hf / sizeof hf[0]; i++) {
            la_err err;
            la_buf b = {0};
            ck_assert_int_eq(la_tokenizer_preview(t, w, hf[i].text, strlen(hf[i].text), hf[i].m, 1, &b, NULL, &err),
                             LA_OK);
            ck_assert_str_eq(b.data ? b.data : "", hf[i].want);
            la_buf_free(&b);
        }
    }
    ck_assert_int_eq(tk_direct_kept(t, "cat"), 1);    /* plain words still go direct */
    la_tok_work_free(w);
    la_tokenizer_free(t);
}
END_TEST

/* Where two vocabulary strings share an id ("at" and "nd" here), the id
 * stands for one of them only (the last here; HuggingFace's pick varies
 * from run to run), so a token's string need not be the bytes it
 * covers: new words take the general way, and the previews stay the
 * general path's. */
START_TEST(direct_shared_ids)
{
    static const char *const texts[] = {"at cat", "cat at", "hat and at", "the at"};
    la_tokenizer *t = tok_load(FIX "full_llama_shared_id.json");
    ck_assert(t->direct != NULL);
    la_tok_work *w = la_tok_work_new();
    for (int pass = 0; pass < 2; pass++)
        same_direct_texts(t, w, texts, sizeof texts / sizeof texts[0], 6, 1);
    la_tok_work_free(w);
    la_tokenizer_free(t);
}
END_TEST

/* A new word of several chunks (cut where no token spans: "cat," is
 * "cat" and ",") is made from its chunks' entries, which are kept too;
 * its previews stay the general path's, also when the chunks make more
 * tokens than an entry holds ("a,b,c,d,e,f,g,h,") or one of them does
 * not spell its text (the unknown "#####"). */
START_TEST(direct_composes_chunks)
{
    static const char *const texts[] = {"cat,hat, the", "the. cat", "a,b,c,d,e,f,g,h, cat", "hat,the,cat,",
                                        "cat,\xC3\xA9 the", "cat.the and"};
    la_tokenizer *t = tok_load(FIX "full_llama.json");
    ck_assert(t->direct != NULL);
    la_tok_work *w = la_tok_work_new();
    tk_direct_clear(t);
    la_err err;
    la_buf b = {0};
    ck_assert_int_eq(la_tokenizer_preview(t, w, "cat,hat, the", 12, 4, 1, &b, NULL, &err), LA_OK);
    ck_assert_str_eq(b.data, "cat,hat");
    ck_assert_int_eq(tk_direct_kept(t, "cat,hat,"), 1);
    ck_assert_int_eq(tk_direct_kept(t, "cat"), 1);   /* its first chunk, kept on the way */
    la_buf_free(&b);
    tk_direct_clear(t);
    for (int pass = 0; pass < 2; pass++)   /* words met for the first time, then kept */
        same_direct_texts(t, w, texts, sizeof texts / sizeof texts[0], 12, 1);
    la_tok_work_free(w);
    la_tokenizer_free(t);
    t = tok_load(FIX "full_llama_unk.json");
    w = la_tok_work_new();
    static const char *const unk[] = {"cat,##### hat", "hat.#####, cat", "the,cat#####"};
    same_direct_texts(t, w, unk, sizeof unk / sizeof unk[0], 8, 1);
    la_tok_work_free(w);
    la_tokenizer_free(t);
}
END_TEST

/* Tokens that decode to nothing (a decoder that deletes them) spell no
 * text: a word with such a token steps aside, whether the token is the
 * word's first (the metaspace and all) or inside it, and the previews
 * stay the general path's. */
START_TEST(direct_empty_tokens)
{
    static const char *const texts[] = {"cat", "the cat", "cat hat", "hhh the", "a h cat",
                                        "that hat", " cat", "at cat the"};
    la_tokenizer *t = tok_load(FIX "full_llama_empty.json");
    ck_assert(t->direct != NULL);
    la_tok_work *w = la_tok_work_new();
    ck_assert_uint_gt(same_direct_texts(t, w, texts, sizeof texts / sizeof texts[0], 6, 1), 0);
    /* HuggingFace's previews (the fixture's decoder also deletes "h") */
    static const char *const want[][2] = {{"the cat", "te"}, {"cat hat", "at"}, {"hhh the", ""}};
    for (size_t i = 0; i < 3; i++) {
        la_err err;
        la_buf b = {0};
        ck_assert_int_eq(la_tokenizer_preview(t, w, want[i][0], strlen(want[i][0]), 2, 1, &b, NULL, &err),
                         LA_OK);
        ck_assert_str_eq(b.data ? b.data : "", want[i][1]);
        la_buf_free(&b);
    }
    la_tok_work_free(w);
    la_tokenizer_free(t);
}
END_TEST

/* Byte-level pipelines with a Split pattern regex_fast.c knows go word
 * by word too: GPT-2's pattern (Isolated, Removed inverted, ByteLevel's
 * own), cl100k behind NFC, o200k (Removed inverted) behind NFKC. Random
 * texts, and words that must step aside: added tokens, white space at a
 * word's end or two spaces, text a normal form changes (e + U+0301,
 * U+FB01), a word of more than eight tokens or sixteen bytes, a
 * character cut by a token (replace). */

START_TEST(direct_bytelevel_equals_general)
{
    static const size_t ms[] = {1, 2, 3, 6, 17};
    static const char *const words[] = {
        "the", "cat", "and", "hat", "The", "a", "at", "on", "in", "attatt", "cat,", "'s", "don't",
        "HelloWorld", "ABCdef", "48/2", "1234", "12345678", "<<4*9=36>>36", "May.\nNext", "x\n", "\t",
        "\xC3\xA9t", "\xC3\xA4", "e\xCC\x81", "\xEF\xAC\x81", "\xE6\x97\xA5\xE6\x9C\xAC",
        "\xF0\x9F\x98\x80", "<|end|>", "<", "|", "$5.00", "thethethethethethethe", "\xC2\xA0x",
        "20*2=<<20*2=40>>40", "6*2.5=$<<6*2.5=15>>15", "x=<<1000/25=40>>40.", "123456789012345678901",
        "a1b2c3d4e5f6g7h8i9j0", "\"<|end|>\"", "<<<|end|>",
        /* for DeepSeek-V3's Splits: digit runs cut in threes, ideographs
         * and kana among Latin letters and digits, the added tokens
         * matched after normalizing and near misses of them, NBSP inside
         * a word and at its end, ASCII punctuation before letters */
        "1", "12", "123", "1234567", "x12345y", ("\xE6\x97\xA5\xE6\x9C\xAC" "abc"), "ab\xE3\x81\x82\xE3\x81\x84",
        "\xE3\x81\x82\xE3\x81\x84", "\xE3\x81\x82", ("\xE3\x82\xAB\xE3\x83\x8A" "12\xE5\xAD\x97"),
        "7\xE6\x97\xA5", ("<\xEF\xBD\x9C" "end\xEF\xBD\x9C>"), ("<\xEF\xBD\x9C" "end"), "a<\xEF\xBD\x9C",
        "x\xC2\xA0", "\xC2\xA0y", ".The", "(abc)", "$5,000.00", "\xD9\xA1\xD9\xA2\xD9\xA3\xD9\xA4",
        "\xE2\x85\xAB", "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",
    };
    char buf[512];
    la_tokenizer *t = tok_load(bytelevel_fixtures[_i]);
    ck_assert_msg(t->direct != NULL, "%s", bytelevel_fixtures[_i]);
    la_tok_work *w = la_tok_work_new();
    size_t raw_done = direct_random_texts(t, w, 40);
    ck_assert_uint_gt(raw_done, 20);
    size_t before = raw_done;
    for (int round = 0; round < 400; round++) {
        size_t len = random_words(buf, words, sizeof words / sizeof words[0], 1 + rnd(12));
        for (size_t k = 0; k < sizeof ms / sizeof ms[0]; k++)
            for (int complete = 0; complete < 2; complete++)
                same_direct(t, w, buf, len, ms[k], complete, 1, &raw_done);
    }
    ck_assert_uint_gt(raw_done - before, 1000);
    /* words of letters between single spaces: always direct */
    static const char *const plain[] = {"the", "cat", "and", "hat", "The", "a", "at", "on", "in", "attatt"};
    for (int round = 0; round < 200; round++) {
        size_t len = random_words(buf, plain, sizeof plain / sizeof plain[0], 1 + rnd(12));
        for (size_t k = 0; k < sizeof ms / sizeof ms[0]; k++) {
            before = raw_done;
            same_direct(t, w, buf, len, ms[k], 1, 1, &raw_done);
            ck_assert_msg(raw_done == before + 1, "not direct: \"%s\" m=%zu", buf, ms[k]);
        }
    }
    la_tok_work_free(w);
    la_tokenizer_free(t);
}
END_TEST

/* Pipelines of other shapes never go direct. */
START_TEST(direct_only_for_its_shape)
{
    static const char *const others[] = {
        FIX "window_plain.json", FIX "window_lower.json", FIX "window_multi.json", FIX "dec_llama.json",
        FIX "full_llama_norm_added.json",   /* an added token matched after normalizing */
        FIX "bytelevel_lowercase.json",     /* byte-level behind a normalizer that is no normal form */
        FIX "bytelevel_splits_reordered.json",   /* DeepSeek-V3's Splits in another order */
        FIX "bytelevel_splits_nfc_added.json",   /* added tokens matched after NFC */
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        la_tokenizer *t = tok_load(others[i]);
        ck_assert_msg(t->direct == NULL, "%s", others[i]);
        la_tokenizer_free(t);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tok_window");
    TCase *tc = tcase_create("window");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, window_equals_whole, 0, NFIX);
    tcase_add_test(tc, window_long_answers);
    tcase_add_test(tc, window_is_used);
    tcase_add_test(tc, unigram_window_edges);
    tcase_add_loop_test(tc, fast_equals_plain, 0, NFIX);
    tcase_add_test(tc, cache_per_model);
    tcase_add_test(tc, word_cache_grows);
    tcase_add_test(tc, starts_were_enough);
    tcase_add_test(tc, start_hint);
    tcase_add_loop_test(tc, direct_equals_general, 0, NDIRECT);
    tcase_add_loop_test(tc, direct_takes_short_escapes, 0,
                        NDIRECT + (int)(sizeof bytelevel_fixtures / sizeof bytelevel_fixtures[0]));
    tcase_add_test(tc, direct_fast_keeps_leavers);
    tcase_add_test(tc, direct_fast_takes_long_words);
    tcase_add_test(tc, direct_newline_runs);
    tcase_add_test(tc, direct_shared_by_threads);
    tcase_add_test(tc, direct_busy_sets);
    tcase_add_test(tc, direct_finds_kept_words);
    tcase_add_test(tc, direct_checks_decoding);
    tcase_add_test(tc, direct_spans_only_where_exact);
    tcase_add_test(tc, direct_composes_chunks);
    tcase_add_test(tc, direct_shared_ids);
    tcase_add_test(tc, direct_empty_tokens);
    tcase_add_test(tc, direct_only_for_its_shape);
    tcase_add_loop_test(tc, direct_bytelevel_equals_general, 0,
                        sizeof bytelevel_fixtures / sizeof bytelevel_fixtures[0]);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
