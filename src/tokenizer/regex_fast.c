/*
 * regex_fast.c - hand-written matchers for the Split patterns of the
 * byte-level BPE families, which Oniguruma would otherwise run for
 * every piece:
 *
 *   GPT-2    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+
 *            |\s+(?!\S)|\s+
 *   cl100k   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+
 *   (Llama-3) |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   Qwen2    cl100k with \p{N} for \p{N}{1,3} (one digit a match;
 *            Qwen2, Qwen2.5, Qwen3)
 *   o200k    [^\r\n\p{L}\p{N}]?UP*LO+C?|[^\r\n\p{L}\p{N}]?UP+LO*C?
 *   (GPT-4o) |\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *            with UP = [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}],
 *            LO = [\p{Ll}\p{Lm}\p{Lo}\p{M}], C = (?i:'s|'t|...|'d)
 *   DeepSeek-V3, a Sequence of three Splits:
 *            \p{N}{1,3}
 *            [\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+
 *            (CJK ideographs, hiragana, katakana), and
 *            [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+
 *            |[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*
 *            |\s*[\r\n]+|\s+(?!\S)|\s+  (\r and \n written as the characters)
 *
 * A pattern is handled here only when its text is exactly one of these
 * (tk_fast_for); the result must be Oniguruma's, backtracking order
 * included. Each function below follows the alternatives in order and
 * says how Oniguruma's backtracking resolves them. In the first four
 * patterns every character is a letter, a number, white space (\s) or
 * none of these ("other"), and some branch matches each kind, so a
 * match starts where the search starts; DeepSeek-V3's patterns match at
 * some characters only, and the search moves on one character at a time
 * as Oniguruma's does. No pattern here matches the empty string.
 *
 * Classes are those Oniguruma sees after regex.c rewrites the pattern
 * (HuggingFace's Unicode tables, Oniguruma's own for \p{Lt}, \p{Nl},
 * \p{Me} and \s), read once through tk_regex_class_ranges into a table
 * of class bits per code point (DeepSeek-V3's ideographs and kana are
 * literal ranges, compared as code points). Case-insensitive
 * contractions: under Oniguruma's case folding only U+017F (long s)
 * joins the ASCII letters, for 's' (checked over all code points by the
 * unit test).
 *
 * Invalid UTF-8 is left to Oniguruma: the matcher reports it (-1) when
 * it reads any.
 */
#include "tokenizer/tk.h"
#include "tokenizer/tk_test.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- pattern texts (as tokenizer.json spells them) --------------------- */
static const char pat_gpt2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char pat_cl100k[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char pat_qwen2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char pat_o200k[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"
    "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static const char pat_ds_digits[] = "\\p{N}{1,3}";
/* U+4E00-U+9FA5, U+3040-U+309F, U+30A0-U+30FF as UTF-8 */
static const char pat_ds_han_kana[] = ("[\xE4\xB8\x80-\xE9\xBE\xA5\xE3\x81\x80-\xE3\x82\x9F"
                                       "\xE3\x82\xA0-\xE3\x83\xBF]+");
static const char pat_ds_words[] =
    ("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?"
     "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+");

/* ---- class table ---------------------------------------------------------- */
/* Bits per code point: a byte per BMP code point, runs of equal bits
 * (by first code point) above it. Built once per process. */
#define SUP_MAX 8192
static uint8_t bmp_bits[0x10000];
static struct {
    int32_t lo;
    uint8_t bits;
} sup_runs[SUP_MAX];
static size_t n_sup;
static int table_ok;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

/* A class's range above the BMP starts (delta 1) or ends (-1) at cp. */
typedef struct {
    int32_t cp;
    int32_t delta;
    uint8_t bit;
} sup_edge;

typedef struct {
    uint8_t bit;
    sup_edge *e;
    size_t n, cap;
    int oom;
} paint_ctx;

/* A class's range lo..hi: painted into bmp_bits below U+10000, kept as
 * two edges above it (the planes above hold a million code points,
 * mostly in long runs: a byte for each would be a megabyte of pages
 * touched for the first time). */
static void paint(void *c, int32_t lo, int32_t hi)
{
    paint_ctx *p = c;
    if (lo < 0)
        lo = 0;
    if (hi > 0x10FFFF)
        hi = 0x10FFFF;
    for (int32_t cp = lo; cp <= hi && cp < 0x10000; cp++)
        bmp_bits[cp] |= p->bit;
    if (hi < 0x10000 || p->oom)
        return;
    void *e = p->e;
    if (la_grow(&e, &p->cap, p->n + 2, sizeof *p->e, 1024)) {
        p->oom = 1;
        return;
    }
    p->e = e;
    p->e[p->n++] = (sup_edge){ lo < 0x10000 ? 0x10000 : lo, 1, p->bit };
    p->e[p->n++] = (sup_edge){ hi + 1, -1, p->bit };
}

static int edge_cmp(const void *a, const void *b)
{
    int32_t x = ((const sup_edge *)a)->cp, y = ((const sup_edge *)b)->cp;
    return (x > y) - (x < y);
}

/* The runs of equal bits from U+10000 on, from the classes' edges in
 * order: each bit is set where more ranges of it have started than
 * ended. 0 when they need more than SUP_MAX runs. */
static int sup_sweep(sup_edge *e, size_t n)
{
    int count[8] = {0};
    size_t i = 0;
    n_sup = 0;
    qsort(e, n, sizeof *e, edge_cmp);
    for (int32_t cp = 0x10000; cp < 0x110000;) {
        for (; i < n && e[i].cp <= cp; i++)
            for (int b = 0; b < 8; b++)
                if (e[i].bit >> b & 1)
                    count[b] += e[i].delta;
        uint8_t bits = 0;
        for (int b = 0; b < 8; b++)
            bits |= (uint8_t)((count[b] > 0) << b);
        if (n_sup == 0 || sup_runs[n_sup - 1].bits != bits) {
            if (n_sup == SUP_MAX)
                return 0;
            sup_runs[n_sup].lo = cp;
            sup_runs[n_sup].bits = bits;
            n_sup++;
        }
        cp = i < n ? e[i].cp : 0x110000;
    }
    return 1;
}

static void build_table(void)
{
    static const struct {
        const char *name;
        uint8_t bit;
    } parts[] = {
        {"L", TK_FC_L},   {"N", TK_FC_N},   {"\\s", TK_FC_S}, {"Lu", TK_FC_UP},
        {"Lt", TK_FC_UP}, {"Lm", TK_FC_UP | TK_FC_LO},         {"Lo", TK_FC_UP | TK_FC_LO},
        {"M", TK_FC_UP | TK_FC_LO | TK_FC_M}, {"Ll", TK_FC_LO},
        {"P", TK_FC_PS},  {"S", TK_FC_PS},
    };
    paint_ctx p = { 0, NULL, 0, 0, 0 };
    int ok = 1;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0] && ok; i++) {
        p.bit = parts[i].bit;
        ok = tk_regex_class_ranges(parts[i].name, paint, &p) == 0 && !p.oom;
    }
    ok = ok && sup_sweep(p.e, p.n);
    free(p.e);
    if (!ok) {
        memset(bmp_bits, 0, sizeof bmp_bits);
        n_sup = 0;
        return;
    }
    table_ok = 1;
}

static unsigned sup_class(int32_t cp)
{
    size_t lo = 0, hi = n_sup;  /* sup_runs[0].lo == 0x10000 <= cp */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (sup_runs[mid].lo <= cp)
            lo = mid;
        else
            hi = mid;
    }
    return sup_runs[lo].bits;
}

static int table_ready(void)
{
    pthread_once(&table_once, build_table);
    return table_ok;
}

unsigned tk_fast_class(int32_t cp)
{
    if (!table_ready() || cp < 0 || cp > 0x10FFFF)
        return 0;
    return cp < 0x10000 ? bmp_bits[cp] : sup_class(cp);
}

/* ---- scanning --------------------------------------------------------------- */

#define C_LN (TK_FC_L | TK_FC_N)
#define C_LNS (TK_FC_L | TK_FC_N | TK_FC_S)

typedef struct {
    const unsigned char *s;
    size_t len;
    int bad;                 /* an invalid sequence was read */
} scan;

/* Class bits of the character at i (< len), its length in *n and code
 * point in *cp. An invalid sequence sets bad (length 1, no bits). */
static inline unsigned char_at(scan *m, size_t i, size_t *n, int32_t *cp)
{
    unsigned c = m->s[i];
    if (c < 0x80) {
        *n = 1;
        *cp = (int32_t)c;
        return bmp_bits[c];
    }
    size_t k = tk_utf8_decode(m->s + i, m->len - i, cp);
    if (!k) {
        m->bad = 1;
        *n = 1;
        *cp = -1;
        return 0;
    }
    *n = k;
    return *cp < 0x10000 ? bmp_bits[*cp] : sup_class(*cp);
}

/* Bits of the character at i, or 0 at the end (*n = 0). */
static inline unsigned bits_at(scan *m, size_t i, size_t *n, int32_t *cp)
{
    if (i >= m->len) {
        *n = 0;
        *cp = -1;
        return 0;
    }
    return char_at(m, i, n, cp);
}

/* Is the character at i "other" ([^\s\p{L}\p{N}])? */
static inline int other_at(scan *m, size_t i, size_t *n)
{
    int32_t cp;
    unsigned b = bits_at(m, i, n, &cp);
    return *n && cp >= 0 && !(b & C_LNS);
}

/* End of the run of characters having a bit of mask, from i. */
static size_t run_in(scan *m, size_t i, unsigned mask)
{
    while (i < m->len) {
        size_t n;
        int32_t cp;
        if (!(char_at(m, i, &n, &cp) & mask))
            break;
        i += n;
    }
    return i;
}

/* End of the run of "other" characters from i. */
static size_t run_other(scan *m, size_t i)
{
    while (i < m->len) {
        size_t n;
        int32_t cp;
        unsigned b = char_at(m, i, &n, &cp);
        if ((b & C_LNS) || cp < 0)
            break;
        i += n;
    }
    return i;
}

/* End of up to `max` characters having a bit of mask, from i. */
static size_t run_in_max(scan *m, size_t i, unsigned mask, int max)
{
    for (int k = 0; k < max && i < m->len; k++) {
        size_t n;
        int32_t cp;
        if (!(char_at(m, i, &n, &cp) & mask))
            break;
        i += n;
    }
    return i;
}

/* End of the run of bytes in set (ASCII), from i. */
static size_t run_bytes(const scan *m, size_t i, const char *set)
{
    while (i < m->len && m->s[i] && strchr(set, m->s[i]))
        i++;
    return i;
}

/* Length of a contraction ('s 't 're 've 'm 'll 'd) at i, 0 if none;
 * icase: (?i:...), where Oniguruma folds ASCII case and U+017F to s.
 * Oniguruma decodes a lead byte with whatever follows it, so an invalid
 * sequence after the apostrophe may read as U+017F (C5 FF does): the
 * matcher reports it as invalid and leaves the answer to Oniguruma. */
static size_t contraction(scan *m, size_t i, int icase)
{
    const unsigned char *s = m->s;
    if (i + 1 >= m->len || s[i] != '\'')
        return 0;
    unsigned c = s[i + 1];
    if (icase) {
        if (c >= 0x80) {
            int32_t cp;
            size_t k = tk_utf8_decode(s + i + 1, m->len - i - 1, &cp);
            if (!k)
                m->bad = 1;
            return k && cp == 0x17F ? 3 : 0;
        }
        if (c >= 'A' && c <= 'Z')
            c += 32;
    }
    switch (c) {
    case 's': case 't': case 'm': case 'd':
        return 2;
    case 'r': case 'v': case 'l': {
        if (i + 2 >= m->len)
            return 0;
        unsigned d = s[i + 2];
        if (icase && d >= 'A' && d <= 'Z')
            d += 32;
        return d == (c == 'l' ? 'l' : 'e') ? 3 : 0;
    }
    default:
        return 0;
    }
}

/* The white space branches from i (a \s character):
 *   crlf: \s*[\r\n]+  - \s* backs off from the end of the run to its
 *         last \r or \n, and the match ends just after it;
 *   \s+(?!\S)         - the whole run at the end of the text, else the
 *         run less its last character when that leaves one;
 *   \s+               - else the whole run (one character). */
static size_t white_space(scan *m, size_t i, int crlf)
{
    size_t j = i, last = i, nl = 0;
    int has_nl = 0;
    while (j < m->len) {
        size_t n;
        int32_t cp;
        if (!(char_at(m, j, &n, &cp) & TK_FC_S))
            break;
        if (crlf && (cp == '\r' || cp == '\n'))
            nl = j, has_nl = 1;
        last = j;
        j += n;
    }
    if (has_nl)
        return nl + 1;
    if (j == m->len)
        return j;
    return last > i ? last : j;
}

/* ---- the patterns --------------------------------------------------------- */

/* GPT-2: a contraction; else an optional space and a run of letters,
 * of numbers or of "other" characters (the space is taken when the run
 * can follow it); else white space. */
static size_t match_gpt2(scan *m, size_t i)
{
    size_t k = contraction(m, i, 0), n0, n1;
    if (k)
        return i + k;
    int32_t c0, c1;
    unsigned b0 = char_at(m, i, &n0, &c0);
    if (c0 == ' ') {
        unsigned b1 = bits_at(m, i + 1, &n1, &c1);
        if (b1 & TK_FC_L)
            return run_in(m, i + 1, TK_FC_L);
        if (b1 & TK_FC_N)
            return run_in(m, i + 1, TK_FC_N);
        if (other_at(m, i + 1, &n1))
            return run_other(m, i + 1);
    }
    if (b0 & TK_FC_L)
        return run_in(m, i, TK_FC_L);
    if (b0 & TK_FC_N)
        return run_in(m, i, TK_FC_N);
    if (!(b0 & TK_FC_S))
        return run_other(m, i);
    return white_space(m, i, 0);
}

/* [^\r\n\p{L}\p{N}]: a valid character that is none of these. */
static inline int lead_ok(unsigned b, int32_t cp)
{
    return cp >= 0 && cp != '\r' && cp != '\n' && !(b & C_LN);
}

/* Llama-3 / cl100k (digits: 3), Qwen2 (digits: 1). */
static size_t match_cl100k(scan *m, size_t i, int digits)
{
    size_t k = contraction(m, i, 1), n0, n1;
    if (k)
        return i + k;
    int32_t c0, c1;
    unsigned b0 = char_at(m, i, &n0, &c0);
    /* [^\r\n\p{L}\p{N}]?\p{L}+: the optional character is taken when a
     * letter follows; otherwise the run must start at i */
    if (lead_ok(b0, c0) && (bits_at(m, i + n0, &n1, &c1) & TK_FC_L))
        return run_in(m, i + n0, TK_FC_L);
    if (b0 & TK_FC_L)
        return run_in(m, i, TK_FC_L);
    if (b0 & TK_FC_N)
        return run_in_max(m, i, TK_FC_N, digits);
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    if (c0 == ' ' && other_at(m, i + 1, &n1))
        return run_bytes(m, run_other(m, i + 1), "\r\n");
    if (!(b0 & TK_FC_S))
        return run_bytes(m, run_other(m, i), "\r\n");
    return white_space(m, i, 1);
}

/* UP*LO+ from a: UP* takes the whole run of UP characters, then LO+
 * the LO run after it when one follows; else UP* backs off to the last
 * character of its run that is also LO (M, Lm, Lo), which LO+ takes
 * alone. 0 when neither works. */
static size_t up_lo_plus(scan *m, size_t a)
{
    size_t j = a, last_lo = 0, n;
    int has_lo = 0;
    int32_t cp;
    while (j < m->len) {
        unsigned b = char_at(m, j, &n, &cp);
        if (!(b & TK_FC_UP))
            break;
        if (b & TK_FC_LO)
            last_lo = j + n, has_lo = 1;
        j += n;
    }
    if (bits_at(m, j, &n, &cp) & TK_FC_LO)
        return run_in(m, j, TK_FC_LO);
    return has_lo ? last_lo : 0;
}

/* UP+LO* from a: both runs whole; 0 when no UP character is at a. */
static size_t up_plus_lo(scan *m, size_t a)
{
    size_t n;
    int32_t cp;
    if (!(bits_at(m, a, &n, &cp) & TK_FC_UP))
        return 0;
    return run_in(m, run_in(m, a, TK_FC_UP), TK_FC_LO);
}

/* GPT-4o / o200k. The two word branches are tried in order, each first
 * with the optional leading character taken, then without it. */
static size_t match_o200k(scan *m, size_t i)
{
    size_t n0, n1, e;
    int32_t c0;
    unsigned b0 = char_at(m, i, &n0, &c0);
    int lead = lead_ok(b0, c0);
    if ((lead && (e = up_lo_plus(m, i + n0))) || (e = up_lo_plus(m, i)) ||
        (lead && (e = up_plus_lo(m, i + n0))) || (e = up_plus_lo(m, i)))
        return e + contraction(m, e, 1);
    if (b0 & TK_FC_N)
        return run_in_max(m, i, TK_FC_N, 3);
    /*  ?[^\s\p{L}\p{N}]+[\r\n/]* */
    if (c0 == ' ' && other_at(m, i + 1, &n1))
        return run_bytes(m, run_other(m, i + 1), "\r\n/");
    if (!(b0 & TK_FC_S))
        return run_bytes(m, run_other(m, i), "\r\n/");
    return white_space(m, i, 1);
}

/* DeepSeek-V3's numbers: one to three \p{N}, i when none at i. */
static size_t match_ds_digits(scan *m, size_t i)
{
    return run_in_max(m, i, TK_FC_N, 3);
}

/* DeepSeek-V3's run of CJK ideographs and kana, i when none at i. */
static size_t match_ds_han_kana(scan *m, size_t i)
{
    while (i < m->len) {
        size_t n;
        int32_t cp;
        char_at(m, i, &n, &cp);
        if (!((cp >= 0x4E00 && cp <= 0x9FA5) || (cp >= 0x3040 && cp <= 0x30FF)))
            break;
        i += n;
    }
    return i;
}

static inline int ascii_letter(unsigned c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

/* One of the 32 ASCII punctuation characters and symbols. */
static inline int ascii_punct(unsigned c)
{
    return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
           (c >= '{' && c <= '~');
}

#define C_LM (TK_FC_L | TK_FC_M)

/* DeepSeek-V3's words, punctuation and white space; i when no branch
 * matches at i (a number, a control, a format character...). */
static size_t match_ds_words(scan *m, size_t i)
{
    const unsigned char *s = m->s;
    /* [ASCII punctuation][A-Za-z]+, the run whole */
    if (ascii_punct(s[i]) && i + 1 < m->len && ascii_letter(s[i + 1])) {
        size_t j = i + 2;
        while (j < m->len && ascii_letter(s[j]))
            j++;
        return j;
    }
    size_t n0, n1;
    int32_t c0, c1;
    unsigned b0 = char_at(m, i, &n0, &c0);
    /* [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+: the optional character is
     * taken when a letter or mark follows; otherwise the run starts at i */
    if (c0 >= 0 && c0 != '\r' && c0 != '\n' && !(b0 & (TK_FC_L | TK_FC_PS)) &&
        (bits_at(m, i + n0, &n1, &c1) & C_LM))
        return run_in(m, i + n0, C_LM);
    if (b0 & C_LM)
        return run_in(m, i, C_LM);
    /*  ?[\p{P}\p{S}]+[\r\n]* */
    if (c0 == ' ' && (bits_at(m, i + 1, &n1, &c1) & TK_FC_PS))
        return run_bytes(m, run_in(m, i + 1, TK_FC_PS), "\r\n");
    if (b0 & TK_FC_PS)
        return run_bytes(m, run_in(m, i, TK_FC_PS), "\r\n");
    if (b0 & TK_FC_S)
        return white_space(m, i, 1);
    return i;
}

/* ---- the entry point ---------------------------------------------------- */

struct tk_fast {
    const char *name;
    const char *text;        /* the pattern, as tokenizer.json spells it */
    size_t len;
    /* end of the match at i (< len), i when there is none there */
    size_t (*match)(scan *m, size_t i);
    /* 1: an ASCII character starts a match only when it has a class bit
     * of `starts`, so that the search steps over the others unread */
    int ascii_filter;
    unsigned starts;
};

static size_t match_cl100k3(scan *m, size_t i)
{
    return match_cl100k(m, i, 3);
}

static size_t match_qwen2(scan *m, size_t i)
{
    return match_cl100k(m, i, 1);
}

#define PAT(s) s, sizeof s - 1
static const tk_fast matchers[] = {
    {"gpt2", PAT(pat_gpt2), match_gpt2, 0, 0},
    {"cl100k", PAT(pat_cl100k), match_cl100k3, 0, 0},
    {"o200k", PAT(pat_o200k), match_o200k, 0, 0},
    {"qwen2", PAT(pat_qwen2), match_qwen2, 0, 0},
    {"deepseek_digits", PAT(pat_ds_digits), match_ds_digits, 1, TK_FC_N},
    {"deepseek_han_kana", PAT(pat_ds_han_kana), match_ds_han_kana, 1, 0},  /* no ASCII */
    {"deepseek_words", PAT(pat_ds_words), match_ds_words, 0, 0},
};

const tk_fast *tk_fast_for(const char *pattern, size_t len)
{
    for (size_t i = 0; i < sizeof matchers / sizeof matchers[0]; i++)
        if (len == matchers[i].len && memcmp(pattern, matchers[i].text, len) == 0)
            return &matchers[i];
    return NULL;
}

const char *tk_fast_name(const tk_fast *f)
{
    return f ? f->name : NULL;
}

const char *tk_fast_pattern(size_t i, size_t *len)
{
    if (i >= sizeof matchers / sizeof matchers[0])
        return NULL;
    *len = matchers[i].len;
    return matchers[i].text;
}

/* Oniguruma's search: the match at the first position that has one.
 * None of these patterns matches the empty string, so there is none at
 * the end. */
int tk_fast_search(const tk_fast *f, const char *s, size_t len, size_t from, size_t *mstart,
                   size_t *mend)
{
    if (!table_ready())
        return -1;
    scan m = {(const unsigned char *)s, len, 0};
    for (size_t i = from; i < len;) {
        if (f->ascii_filter) {
            while (i < len && m.s[i] < 0x80 && !(bmp_bits[m.s[i]] & f->starts))
                i++;
            if (i == len)
                break;
        }
        size_t end = f->match(&m, i), n;
        int32_t cp;
        if (m.bad)
            return -1;
        if (end > i) {
            *mstart = i;
            *mend = end;
            return 1;
        }
        char_at(&m, i, &n, &cp);
        if (m.bad)
            return -1;
        i += n;
    }
    return 0;
}
