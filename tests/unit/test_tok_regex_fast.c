/*
 * test_tok_regex_fast.c - the hand-written matchers of regex_fast.c
 * against Oniguruma (regex.c with the fast path turned off), which is
 * what HuggingFace runs:
 *   - the Split patterns of GPT-2, cl100k, o200k, Qwen2 and DeepSeek-V3
 *     are recognised, and nothing else;
 *   - the class bits agree with Oniguruma's classes for every code point;
 *   - for every code point in a few contexts, around contractions too;
 *   - for many random texts (ASCII, letters, marks and numbers of many
 *     scripts incl. recent Unicode, all kinds of white space, \r\n,
 *     apostrophes, digit runs, CJK ideographs, kana and punctuation,
 *     emoji, controls, invalid bytes) and for the texts of
 *     tests/fixtures/tok/hostile.jsonl: the match searched from every
 *     character boundary, and the whole match stream, are the same.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "tokenizer/tk.h"
#include "tokenizer/tk_test.h"

#define GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define CL100K                                                                                 \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "                  \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define O200K                                                                                  \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+" \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+" \
    "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| "                  \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

#define QWEN2                                                                                  \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "                        \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* DeepSeek-V3's three (\r and \n as the characters, as its file has them) */
#define DS_DIGITS "\\p{N}{1,3}"
#define DS_HAN_KANA "[\xE4\xB8\x80-\xE9\xBE\xA5\xE3\x81\x80-\xE3\x82\x9F\xE3\x82\xA0-\xE3\x83\xBF]+"
#define DS_WORDS                                                                               \
    ("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?"          \
     "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+")

#define NPAT 7
static const char *const pats[NPAT] = {GPT2, CL100K, O200K, QWEN2, DS_DIGITS, DS_HAN_KANA, DS_WORDS};

/* A fast and an Oniguruma-only copy of each pattern. */
static tk_regex *fast_re[NPAT], *onig_re[NPAT];
static la_tok_work *w;

static void setup(void)
{
    la_err err = {{0}, {0}};
    for (int k = 0; k < NPAT; k++) {
        fast_re[k] = tk_regex_new(pats[k], strlen(pats[k]), &err);
        onig_re[k] = tk_regex_new(pats[k], strlen(pats[k]), &err);
        ck_assert_ptr_nonnull(fast_re[k]);
        ck_assert_ptr_nonnull(onig_re[k]);
        tk_regex_set_fast(onig_re[k], 0);
    }
    w = la_tok_work_new();
    ck_assert_ptr_nonnull(w);
}

static void teardown(void)
{
    for (int k = 0; k < NPAT; k++) {
        tk_regex_free(fast_re[k]);
        tk_regex_free(onig_re[k]);
    }
    la_tok_work_free(w);
}

/* Prints s with non-printable bytes escaped (for messages). */
static const char *show(const char *s, size_t n)
{
    static char out[4096];
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < sizeof out; i++) {
        unsigned char c = (unsigned char)s[i];
        o += (size_t)snprintf(out + o, sizeof out - o, c >= 0x20 && c < 0x7F ? "%c" : "\\x%02X", c);
    }
    out[o] = 0;
    return out;
}

/* The same match stream (as the Split pre-tokenizer iterates it), and
 * with every_start the same match from every character boundary. */
static void compare(int k, const char *s, size_t n, int every_start)
{
    la_err err = {{0}, {0}};
    for (size_t i = 0; every_start && i <= n; i++) {
        if (i < n && ((unsigned char)s[i] & 0xC0) == 0x80)
            continue;
        size_t a1 = 0, b1 = 0, a2 = 0, b2 = 0;
        int r1 = tk_regex_next(fast_re[k], s, n, i, &a1, &b1, w, &err);
        int r2 = tk_regex_next(onig_re[k], s, n, i, &a2, &b2, w, &err);
        if (!(r1 == r2 && (r1 != 1 || (a1 == a2 && b1 == b2))))
            ck_abort_msg("pattern %d at %zu: fast %d [%zu,%zu) oniguruma %d [%zu,%zu) in \"%s\"",
                         k, i, r1, a1, b1, r2, a2, b2, show(s, n));
    }
    tk_regex_iter i1 = {0, 0}, i2 = {0, 0};
    for (;;) {
        size_t a1 = 0, b1 = 0, a2 = 0, b2 = 0;
        int r1 = tk_regex_iter_next(fast_re[k], s, n, &i1, &a1, &b1, w, &err);
        int r2 = tk_regex_iter_next(onig_re[k], s, n, &i2, &a2, &b2, w, &err);
        if (!(r1 == r2 && (r1 != 1 || (a1 == a2 && b1 == b2))))
            ck_abort_msg("pattern %d stream: fast %d [%zu,%zu) oniguruma %d [%zu,%zu) in \"%s\"",
                         k, r1, a1, b1, r2, a2, b2, show(s, n));
        if (r1 != 1)
            break;
    }
}

static void compare_all(const char *s, size_t n, int every_start)
{
    for (int k = 0; k < NPAT; k++)
        compare(k, s, n, every_start);
}

START_TEST(test_kinds)
{
    static const char *const names[NPAT] = {"gpt2",           "cl100k",            "o200k",
                                            "qwen2",          "deepseek_digits",   "deepseek_han_kana",
                                            "deepseek_words"};
    for (int k = 0; k < NPAT; k++) {
        ck_assert_str_eq(tk_regex_fast_name(fast_re[k]), names[k]);
        ck_assert_str_eq(tk_fast_name(tk_fast_for(pats[k], strlen(pats[k]))), names[k]);
    }
    /* anything else, even one character off, stays with Oniguruma */
    const char *other[] = {"\\s+",       GPT2 "|x", "(?i:'s|'t|'re|'ve|'m|'ll|'d)", "",
                           "\\p{N}{1,4}", "\\p{N}",  "[\xE4\xB8\x80-\xE9\xBE\xA5]+"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++)
        ck_assert_ptr_null(tk_fast_for(other[i], strlen(other[i])));
    char tmp[sizeof CL100K];
    memcpy(tmp, CL100K, sizeof tmp);
    tmp[sizeof tmp - 2] = '*';
    ck_assert_ptr_null(tk_fast_for(tmp, sizeof tmp - 1));
    ck_assert_ptr_null(tk_fast_for(DS_WORDS, strlen(DS_WORDS) - 1));
    tk_regex *re = tk_regex_new(tmp, sizeof tmp - 1, &(la_err){{0}, {0}});
    ck_assert_ptr_nonnull(re);
    ck_assert_ptr_null(tk_regex_fast_name(re));
    tk_regex_free(re);
}
END_TEST

/* Every code point (but surrogates), each followed by \x01 (no class
 * here has it), as one text. */
static char *all_code_points(const char *prefix, size_t *len)
{
    size_t pl = strlen(prefix), o = 0;
    char *s = malloc(0x110000 * (pl + 5));
    ck_assert_ptr_nonnull(s);
    for (int32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if ((cp >= 0xD800 && cp <= 0xDFFF) || cp == 1)
            continue;
        memcpy(s + o, prefix, pl);
        o += pl;
        o += tk_utf8_encode(cp, s + o);
        s[o++] = 1;
    }
    *len = o;
    return s;
}

/* Class bits against Oniguruma's classes (as rewritten), every code
 * point: the runs of [class]+ over all code points mark its members. */
/* A known pattern is compiled when Oniguruma is first needed: not by
 * tk_regex_new, nor by searches its matcher answers, and then by one it
 * declines or with the fast path off, from two threads at once alike,
 * with Oniguruma's answers. */
typedef struct {
    tk_regex *re;
    const char *text;
    size_t a, b;
    int r;
} search_job;

static void *search_main(void *arg)
{
    search_job *j = arg;
    la_tok_work *tw = la_tok_work_new();
    la_err err = {{0}, {0}};
    j->r = tk_regex_next(j->re, j->text, strlen(j->text), 0, &j->a, &j->b, tw, &err);
    la_tok_work_free(tw);
    return NULL;
}

START_TEST(test_compiled_when_needed)
{
    la_err err = {{0}, {0}};
    const char *text = "  Hello world's 123 \xE6\x97\xA5\xE6\x9C\xAC!";
    for (int k = 0; k < NPAT; k++) {
        tk_regex *a = tk_regex_new(pats[k], strlen(pats[k]), &err), *b = tk_regex_new(pats[k], strlen(pats[k]), &err);
        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(tk_regex_compiled(a), 0);
        size_t s1, e1, s2, e2;
        int r1 = tk_regex_next(a, text, strlen(text), 0, &s1, &e1, w, &err);
        ck_assert_int_ge(r1, 0);
        tk_regex_set_fast(a, 0);
        tk_regex_set_fast(b, 0);
        search_job j[2] = { { b, text, 0, 0, -9 }, { b, text, 0, 0, -9 } };
        pthread_t tid;
        ck_assert_int_eq(pthread_create(&tid, NULL, search_main, &j[0]), 0);
        search_main(&j[1]);
        pthread_join(tid, NULL);
        ck_assert_int_eq(tk_regex_compiled(b), 1);
        int r2 = tk_regex_next(a, text, strlen(text), 0, &s2, &e2, w, &err);
        ck_assert_int_eq(tk_regex_compiled(a), 1);
        ck_assert_int_eq(r1, r2);
        for (int i = 0; i < 2; i++) {
            ck_assert_int_eq(j[i].r, r2);
            ck_assert(r2 == 0 || (j[i].a == s2 && j[i].b == e2));
        }
        ck_assert(r1 == 0 || (s1 == s2 && e1 == e2));
        tk_regex_free(a);
        tk_regex_free(b);
    }
    /* a pattern without a matcher: compiled at once */
    tk_regex *o = tk_regex_new("a+b", 3, &err);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(tk_regex_compiled(o), 1);
    tk_regex_free(o);
}
END_TEST

START_TEST(test_classes_every_code_point)
{
    static const struct {
        const char *pat;
        unsigned bit;
    } cls[] = {
        {"\\p{L}+", TK_FC_L},
        {"\\p{N}+", TK_FC_N},
        {"\\s+", TK_FC_S},
        {"[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+", TK_FC_UP},
        {"[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+", TK_FC_LO},
        {"\\p{M}+", TK_FC_M},
        {"[\\p{P}\\p{S}]+", TK_FC_PS},
    };
    la_err err = {{0}, {0}};
    size_t len;
    char *s = all_code_points("", &len);
    unsigned char *member = malloc(0x110000);
    ck_assert_ptr_nonnull(member);
    for (size_t c = 0; c < sizeof cls / sizeof cls[0]; c++) {
        tk_regex *re = tk_regex_new(cls[c].pat, strlen(cls[c].pat), &err);
        ck_assert_ptr_nonnull(re);
        memset(member, 0, 0x110000);
        tk_regex_iter it = {0, 0};
        size_t a, b;
        while (tk_regex_iter_next(re, s, len, &it, &a, &b, w, &err) == 1)
            for (size_t i = a; i < b;) {
                int32_t cp;
                size_t n = tk_utf8_decode((const unsigned char *)s + i, b - i, &cp);
                if (n == 0)
                    ck_abort_msg("invalid match");
                member[cp] = 1;
                i += n;
            }
        for (int32_t cp = 0; cp <= 0x10FFFF; cp++)
            if ((cp < 0xD800 || cp > 0xDFFF) && member[cp] != !!(tk_fast_class(cp) & cls[c].bit))
                ck_abort_msg("U+%04X %s: oniguruma %d", (unsigned)cp, cls[c].pat, member[cp]);
        tk_regex_free(re);
    }
    free(member);
    free(s);
}
END_TEST

/* Case-insensitive contractions: after an apostrophe (and after 'l,
 * 'r, 'v), the code points Oniguruma's case folding lets through are
 * those regex_fast.c knows: ASCII case and U+017F for s. */
START_TEST(test_contraction_folding)
{
    static const struct {
        const char *prefix;
        const char *ok;      /* ASCII letters completing a contraction */
        int long_s;
    } ctx[] = {{"'", "sStTmMdD", 1}, {"'l", "lL", 0}, {"'r", "eE", 0}, {"'v", "eE", 0}};
    const char *pat = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
    la_err err = {{0}, {0}};
    tk_regex *re = tk_regex_new(pat, strlen(pat), &err);
    ck_assert_ptr_nonnull(re);
    for (size_t c = 0; c < sizeof ctx / sizeof ctx[0]; c++) {
        size_t len, a, b, found = 0;
        char *s = all_code_points(ctx[c].prefix, &len);
        tk_regex_iter it = {0, 0};
        while (tk_regex_iter_next(re, s, len, &it, &a, &b, w, &err) == 1) {
            int32_t cp;
            size_t pl = strlen(ctx[c].prefix);
            ck_assert_mem_eq(s + a, ctx[c].prefix, pl);
            ck_assert_uint_eq(tk_utf8_decode((const unsigned char *)s + a + pl, b - a - pl, &cp),
                              b - a - pl);
            if (!((cp < 0x80 && strchr(ctx[c].ok, (int)cp)) || (cp == 0x17F && ctx[c].long_s)))
                ck_abort_msg("%s U+%04X", ctx[c].prefix, (unsigned)cp);
            found++;
        }
        ck_assert_uint_eq(found, strlen(ctx[c].ok) + (size_t)ctx[c].long_s);
        free(s);
    }
    tk_regex_free(re);
}
END_TEST

/* A code point in contexts that exercise each branch: after a space, an
 * apostrophe, a letter, an upper-case letter, inside contractions,
 * before \r\n and at the end. */
static void in_context(int32_t cp)
{
    char buf[256], c[4];
    size_t n = tk_utf8_encode(cp, c), o = 0;
    static const char *const parts[] = {"'", "e A", "x'l", " 'r", "'s a", "", "B'", "\r\n ",
                                        "1", "  ", "#", "\xE4\xB8\x80", NULL};
    for (size_t k = 0; parts[k]; k++) {
        size_t l = strlen(parts[k]);
        memcpy(buf + o, parts[k], l);
        o += l;
        memcpy(buf + o, c, n);
        o += n;
    }
    compare_all(buf, o, 1);
}

/* Contexts for the first code points, then for both sides of every
 * change of class bits (the class test covers the rest). */
START_TEST(test_code_points_in_context)
{
    for (int32_t cp = 0; cp < 0x300; cp++)
        in_context(cp);
    unsigned prev = tk_fast_class(0x2FF);
    for (int32_t cp = 0x300; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        unsigned b = tk_fast_class(cp);
        if (b != prev) {
            if (cp - 1 < 0xD800 || cp - 1 > 0xDFFF)
                in_context(cp - 1);
            in_context(cp);
        }
        prev = b;
    }
}
END_TEST

/* ---- random texts ------------------------------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)((rng >> 11) % n);
}

/* Pieces random texts are made of. */
static const char *const alphabet[] = {
    /* ASCII */
    "a", "b", "z", "A", "Q", "Z", "0", "1", "9", "42", "12345", " ", "  ", "!", ".", ",", "/",
    "//", "-", "_", "(", ")", "\"", "#", "$", "%", "*", "+", "=", "<", ">", "@", "[", "\\", "`",
    "~", "word", "Word", "WORD", "mIxEd",
    /* apostrophes and contractions */
    "'", "'", "''", "s", "S", "t", "T", "re", "RE", "Re", "ve", "VE", "m", "M", "ll", "LL", "lL",
    "d", "D", "r", "v", "l", "e", "E", "\xC5\xBF" /* U+017F long s */, "\xE2\x80\x99" /* U+2019 */,
    "\xCA\xBC" /* U+02BC */,
    /* white space */
    "\t", "\n", "\r", "\r\n", "\n\n", "\x0B", "\x0C", "\xC2\x85" /* U+0085 */,
    "\xC2\xA0" /* NBSP */, "\xE1\x9A\x80" /* U+1680 */, "\xE2\x80\x80" /* U+2000 */,
    "\xE2\x80\x8A" /* U+200A */, "\xE2\x80\xA8" /* U+2028 */, "\xE2\x80\xA9" /* U+2029 */,
    "\xE2\x80\xAF" /* U+202F */, "\xE2\x81\x9F" /* U+205F */, "\xE3\x80\x80" /* U+3000 */,
    "\xE1\xA0\x8E" /* U+180E, no longer space */, "\xE2\x80\x8B" /* ZWSP */,
    "\xEF\xBB\xBF" /* BOM */,
    /* controls */
    "\x01", "\x1B", "\x7F", "\xC2\x80", "\xC2\x9F",
    /* letters of many scripts, cased and not */
    "\xC3\xA9" /* é */, "\xC3\x89" /* É */, "\xC3\x9F" /* ß */, "\xE1\xBA\x9E" /* ẞ */,
    "\xCE\xA3" /* Σ */, "\xCF\x83" /* σ */, "\xD0\x96" /* Ж */, "\xD0\xB6" /* ж */,
    "\xC7\x85" /* U+01C5 Lt */, "\xE1\xBE\x88" /* U+1F88 Lt */, "\xCA\xB0" /* U+02B0 Lm */,
    "\xE3\x80\x85" /* U+3005 Lm */, "\xD7\x90" /* U+05D0 Lo */, "\xE4\xB8\x80" /* U+4E00 */,
    "\xEA\xB0\x80" /* U+AC00 */, "\xE0\xB8\x81" /* Thai ko kai */, "\xD8\xA8" /* Arabic beh */,
    "\xE0\xA4\x95" /* Devanagari ka */, "\xEF\xBC\xA1" /* fullwidth A */,
    "\xEF\xBD\x81" /* fullwidth a */, "\xEF\xAC\x81" /* ﬁ */, "\xE2\x84\xAA" /* Kelvin */,
    "\xE2\x85\xA0" /* U+2160 Nl */,
    /* marks */
    "\xCC\x81" /* U+0301 */, "\xCC\x88" /* U+0308 */, "\xE2\x83\x9D" /* U+20DD Me */,
    "\xE0\xA4\x83" /* U+0903 Mc */, "\xE0\xB8\xB1" /* U+0E31 Mn */, "\xEF\xB8\x8F" /* VS16 */,
    "\xE0\xA5\x8D" /* virama */,
    /* numbers */
    "\xD9\xA0" /* U+0660 */, "\xE0\xA5\xA6" /* U+0966 */, "\xC2\xB2" /* ² */,
    "\xE2\x91\xA0" /* ① */, "\xE3\x80\x87" /* U+3007 Nl */, "\xC2\xBD" /* ½ */,
    "\xEF\xBC\x91" /* fullwidth 1 */,
    /* recent Unicode (15, 16) */
    "\xF0\x9E\x93\x90" /* U+1E4D0 Nag Mundari */, "\xF0\x9E\x93\xB0" /* U+1E4F0 digit */,
    "\xF0\x91\xBC\x84" /* U+11F04 Kawi */, "\xF0\x91\xBD\x90" /* U+11F50 Kawi digit */,
    "\xF0\x9E\x97\x90" /* U+1E5D0 Ol Onal */, "\xF0\x9E\x97\xB1" /* U+1E5F1 digit */,
    "\xF0\x96\xB5\x80" /* U+16D40 Kirat Rai */, "\xF0\x96\xB5\xB0" /* U+16D70 digit */,
    "\xF0\x90\xB5\x8A" /* U+10D4A Garay */, "\xF0\x9C\xB3\xB0" /* U+1CCF0 */,
    "\xF0\xB1\x8D\x90" /* U+31350 CJK ext H */, "\xF0\xAE\xAF\xB0" /* U+2EBF0 ext I */,
    "\xF0\x91\x8E\x80" /* U+11380 Tulu-Tigalari */, "\xF0\x91\x8F\x8E" /* U+113CE mark */,
    /* DeepSeek-V3: CJK ideographs and kana (its range ends and their
     * neighbours), CJK punctuation, digit runs, ASCII punctuation before
     * letters */
    "\xE4\xB8\x80" /* U+4E00 */, "\xE4\xB8\xAD" /* U+4E2D */, "\xE9\xBE\xA5" /* U+9FA5 */,
    "\xE9\xBE\xA6" /* U+9FA6 */, "\xE4\xB7\xBF" /* U+4DFF So */, "\xE3\x90\x80" /* U+3400 */,
    "\xE3\x81\x80" /* U+3040 unassigned */, "\xE3\x81\x82" /* U+3042 */,
    "\xE3\x82\x99" /* U+3099 Mn */, "\xE3\x82\x9B" /* U+309B Sk */,
    "\xE3\x82\x9F" /* U+309F */, "\xE3\x82\xA0" /* U+30A0 Pd */, "\xE3\x82\xAB" /* U+30AB */,
    "\xE3\x83\xBB" /* U+30FB Po */, "\xE3\x83\xBC" /* U+30FC Lm */, "\xE3\x83\xBF" /* U+30FF */,
    "\xE3\x84\x80" /* U+3100 */, "\xE3\x80\x81" /* U+3001 */, "\xE3\x80\x82" /* U+3002 */,
    "\xE3\x80\x8C" /* U+300C */, "\xEF\xBC\x8C" /* U+FF0C */, "\xEF\xBC\x9A" /* U+FF1A */,
    "\xEF\xBD\xB1" /* U+FF71 halfwidth katakana */, "1", "12", "123", "1234", "\xD9\xA1\xD9\xA2",
    "'a", ".x", "#Tag", "-B", "@user", "\\n", "$5", "(x)", "~~", "e\xCC\x81", "n\xCC\x83\xCC\x81",
    /* symbols and emoji */
    "\xE2\x82\xAC" /* € */, "\xE2\x88\x91" /* ∑ */, "\xF0\x9F\x98\x80" /* 😀 */,
    "\xF0\x9F\x91\x8D" /* 👍 */, "\xF0\x9F\x8F\xBD" /* skin tone */, "\xE2\x80\x8D" /* ZWJ */,
    "\xF0\x9F\x87\xAB" /* regional indicator */, "\xEF\xBF\xBD" /* U+FFFD */,
    "\xEF\xBF\xBE" /* U+FFFE noncharacter */, "\xF0\x9D\x94\xB8" /* 𝔸 */,
    "\xEE\x80\x80" /* private use */, "\xF3\xA0\x80\x81" /* tag */,
    /* invalid UTF-8 (left to Oniguruma) */
    "\xFF", "\xC3", "\xED\xA0\x80", "\xC5\xFF" /* read as U+017F by Oniguruma */,
};

/* A random code point outside the surrogates; some from around
 * DeepSeek-V3's ideograph and kana ranges and the fullwidth forms. */
static size_t random_char(char *out)
{
    static const int32_t near[][2] = {{0x3000, 0x3100}, {0x4DF0, 0x4E10}, {0x9F90, 0x9FB0},
                                      {0xFF00, 0xFF70}};
    int32_t cp;
    if (rnd(3) == 0) {
        const int32_t *r = near[rnd(4)];
        return tk_utf8_encode(r[0] + (int32_t)rnd((uint32_t)(r[1] - r[0])), out);
    }
    do
        cp = (int32_t)(rnd(4) == 0 ? rnd(0x110000) : rnd(4) == 0 ? rnd(0x3400) : rnd(0x800));
    while (cp >= 0xD800 && cp <= 0xDFFF);
    return tk_utf8_encode(cp, out);
}

START_TEST(test_random_texts)
{
    const size_t na = sizeof alphabet / sizeof alphabet[0];
    char buf[1024];
    rng ^= (uint64_t)_i * 0x2545F4914F6CDD1Dull + 1;
    for (int t = 0; t < 10000; t++) {
        size_t o = 0, pieces = rnd(4) == 0 ? rnd(60) : rnd(12);
        int invalid_ok = rnd(8) == 0;
        for (size_t p = 0; p < pieces; p++) {
            if (rnd(10) == 0) {
                o += random_char(buf + o);
                continue;
            }
            const char *a = alphabet[rnd((uint32_t)na)];
            if (!invalid_ok && (a[0] == '\xFF' || (a[0] == '\xC3' && !a[1]) || a[0] == '\xED' ||
                                (a[0] == '\xC5' && a[1] == '\xFF')))
                continue;
            size_t l = strlen(a);
            memcpy(buf + o, a, l);
            o += l;
        }
        compare_all(buf, o, 1);
    }
}
END_TEST

/* An invalid sequence after an apostrophe: Oniguruma decodes a lead byte
 * with whatever follows, so C5 FF reads as U+017F, which folds to s in
 * (?i:'s); the matchers must leave such texts to it. */
START_TEST(test_invalid_after_apostrophe)
{
    static const char *const texts[] = {
        "'\xC5\xFF", "a'\xC5\xFF", "Ab'\xC5\xFF bad", "x'\xC5", "'\xC5\xFFs", "r'\xC5\x41",
        "\x02#\x80\xE2\x00\x80\xA8r'\xC5\xFF\x16", "WORD'\xC5\xFF\xC5\xBF",
    };
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++)
        compare_all(texts[t], t == 6 ? 12 : strlen(texts[t]), 1);
}
END_TEST

/* Every answer and question of the hostile fixture. */
START_TEST(test_hostile_fixture)
{
    FILE *f = fopen("tests/fixtures/tok/hostile.jsonl", "r");
    ck_assert_ptr_nonnull(f);
    char *line = NULL;
    size_t cap = 0;
    int records = 0;
    while (getline(&line, &cap, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        if (!j)
            continue;
        const char *fields[] = {"question", "answer"};
        for (int k = 0; k < 2; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, fields[k]);
            if (cJSON_IsString(v))
                compare_all(v->valuestring, strlen(v->valuestring), 1);
        }
        records++;
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    ck_assert_int_gt(records, 30);
}
END_TEST

/* Counts the matches of re over s[0..n) (find_iter), within the work
 * budget of a call on that text when armed; the status in *rc. */
static size_t count_matches(const tk_regex *re, const char *s, size_t n, int armed, int *rc, la_err *err)
{
    if (armed)
        tk_budget_begin(w, n);
    tk_regex_iter it = {0, 0};
    size_t a, b, k = 0;
    while ((*rc = tk_regex_iter_next(re, s, n, &it, &a, &b, w, err)) == 1)
        k++;
    tk_budget_end(w);
    return k;
}

/* The regex work budget: the three patterns on Oniguruma over long runs
 * of each kind of character (the longest searches they make) find the
 * same matches within it; a pattern that backtracks exponentially is
 * stopped by the retries of the budget ("tokenizer_budget"), where
 * alone it runs into Oniguruma's own limit after ten million; one that
 * piles up its match stack, by the budget's stack. */
START_TEST(test_budget)
{
    static const char *const runs[] = {" ", "a", "7", "!", "\n", " \n", "\xc3\xa9", "'s"};
    la_buf text = {0};
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++)
        for (int i = 0; i < 20000; i++)
            ck_assert_int_eq(la_buf_append(&text, runs[r], strlen(runs[r])), 0);
    la_err err = {{0}, {0}};
    int rc;
    for (int k = 0; k < NPAT; k++) {
        size_t plain = count_matches(onig_re[k], text.data, text.len, 0, &rc, &err);
        ck_assert_int_eq(rc, 0);
        ck_assert_uint_eq(count_matches(onig_re[k], text.data, text.len, 1, &rc, &err), plain);
        ck_assert_msg(rc == 0, "%s", err.msg);
    }
    la_buf_free(&text);
    const char *bad = "(?:a|aa)+b";
    tk_regex *re = tk_regex_new(bad, strlen(bad), &err);
    ck_assert_ptr_nonnull(re);
    char as[61];
    memset(as, 'a', 60);
    as[60] = 0;
    count_matches(re, as, 60, 1, &rc, &err);
    ck_assert_int_eq(rc, LA_EDATA);
    ck_assert_str_eq(err.code, "tokenizer_budget");
    ck_assert_ptr_nonnull(strstr(err.msg, "regex /(?:a|aa)+b/"));
    count_matches(re, as, 60, 0, &rc, &err);
    ck_assert_int_eq(rc, LA_EDATA);
    ck_assert_str_eq(err.code, "tokenizer");
    tk_regex_free(re);
    /* a look-ahead in a repetition keeps a stack entry per character for
     * every character it takes, without a retry: 4.5 million entries for
     * 3,000 bytes, past the budget's stack */
    const char *deep = "(?:(?=a*)a)+";
    re = tk_regex_new(deep, strlen(deep), &err);
    ck_assert_ptr_nonnull(re);
    char *many = malloc(3000);
    ck_assert_ptr_nonnull(many);
    memset(many, 'a', 3000);
    count_matches(re, many, 3000, 1, &rc, &err);
    ck_assert_int_eq(rc, LA_EDATA);
    ck_assert_str_eq(err.code, "tokenizer_budget");
    free(many);
    tk_regex_free(re);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tok_regex_fast");
    TCase *t = tcase_create("core");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 300);
    tcase_add_test(t, test_kinds);
    tcase_add_test(t, test_compiled_when_needed);
    tcase_add_test(t, test_invalid_after_apostrophe);
    tcase_add_test(t, test_hostile_fixture);
    tcase_add_test(t, test_budget);
    suite_add_tcase(s, t);
    TCase *c = tcase_create("classes");
    tcase_add_checked_fixture(c, setup, teardown);
    tcase_set_timeout(c, 300);
    tcase_add_test(c, test_classes_every_code_point);
    tcase_add_test(c, test_contraction_folding);
    tcase_add_test(c, test_code_points_in_context);
    suite_add_tcase(s, c);
    TCase *r = tcase_create("random");
    tcase_add_checked_fixture(r, setup, teardown);
    tcase_set_timeout(r, 300);
    tcase_add_loop_test(r, test_random_texts, 0, 4);
    suite_add_tcase(s, r);
    return s;
}

int main(void)
{
    return la_check_run(suite());
}
