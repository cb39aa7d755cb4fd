/*
 * normalize.c - HuggingFace normalizers, built from tokenizer.json.
 *
 * Each normalizer is a whole-string transform (tk_normalizer.apply). The
 * semantics follow the Rust `tokenizers` crate, including its Unicode
 * data: the character tables below were derived from the reference
 * implementation itself (tokenizers 0.23.2) by testing every code point,
 * because its Unicode versions differ from utf8proc's:
 *  - Lowercase is Rust's char::to_lowercase (Unicode 17, full mappings:
 *    U+0130 -> "i\u0307"; no final-sigma rule): a table of its own here;
 *  - NFC/NFD/NFKC/NFKD come from an older Unicode (the crate
 *    unicode-normalization-alignments): utf8proc does the work, except
 *    for `nf_inert`, the characters that crate does not know, which pass
 *    through untouched (they are starters that never combine, so the
 *    text is normalized piecewise between them);
 *  - BertNormalizer's control and non-spacing-mark classes and
 *    StripAccents' combining marks come from older crates too.
 * White space is Rust's char::is_whitespace (the White_Space property).
 *
 * Scratch: a Sequence is flattened at load time; it alternates between
 * `out` and one of w->norm[0], w->norm[1], w->pre[TK_MAX_DEPTH - 1] (the
 * first that is neither `out` nor holds `in`). Multi-step normalizers
 * (BertNormalizer) work inside `out`.
 */
#include "tokenizer/tk.h"

#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <utf8proc.h>


typedef struct {
    int32_t lo, hi;
    int32_t stride, delta;
} tk_case_run;

/* ---- Unicode tables (generated from the reference, see above) -------- */
/* written by tests/gen/tables.js (`make tables`) */
#include "tokenizer/tables_normalize.h"

/* ---- small helpers ------------------------------------------------------ */

#define IN_TABLE(t, cp) tk_in_ranges((t), sizeof(t) / sizeof((t)[0]), (cp))

#define rust_is_whitespace tk_is_white_space   /* Rust's char::is_whitespace */

/* Rust's char::to_lowercase as UTF-8 into o (room for 8 bytes); returns
 * the byte count. */
static size_t rust_lower(int32_t c, char *o)
{
    if (c < 0x80) {
        o[0] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        return 1;
    }
    if (c == 0x130) {
        size_t n = tk_utf8_encode('i', o);
        return n + tk_utf8_encode(0x307, o + n);
    }
    size_t lo = 0, hi = sizeof low_runs / sizeof low_runs[0];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c < low_runs[mid].lo)
            hi = mid;
        else if (c > low_runs[mid].hi)
            lo = mid + 1;
        else {
            const tk_case_run *r = &low_runs[mid];
            if ((c - r->lo) % r->stride == 0)
                c += r->delta;
            break;
        }
    }
    return tk_utf8_encode(c, o);
}

#define next_char tk_next_char

/* Ensures out has room for n more bytes (plus the NUL). */
static int room(la_buf *out, size_t n)
{
    if (out->cap - out->len > n)
        return LA_OK;
    return la_buf_reserve(out, n);
}

static int oom(la_err *err)
{
    return la_err_set(err, LA_ENOMEM, "tokenizer", "out of memory");
}

/* The growth bound (tk.h): a stage's output may not pass lim bytes, and
 * each stage checks before it reserves, so that normalizers that each
 * multiply the text (Replace "a" by "aa", forty times) stop at the bound
 * instead of taking all memory. The budget error names the stage. */
static int over(la_err *err, const char *type)
{
    char what[48];
    snprintf(what, sizeof what, "normalizer %s", type);
    return tk_budget_error(err, what);
}

/* Whether have + more bytes pass lim (without overflowing). */
static int past(size_t have, size_t more, size_t lim)
{
    return have > lim || more > lim - have;
}

/* Sets out to exactly in[0..len). */
/* Characters in s[0..n) (bytes that do not continue one). */
static size_t count_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* A stage dropped the first d characters of its text: those of them
 * that stemmed from the original's first character are gone (see
 * la_tok_work.lead0). */
static void lead_drop(la_tok_work *w, size_t d)
{
    if (w && d)
        w->lead0 = d >= w->lead0 ? 0 : w->lead0 - d;
}

static int copy_to(la_buf *out, const char *in, size_t len, la_err *err)
{
    la_buf_clear(out);
    if (la_buf_append(out, in, len) != LA_OK)
        return oom(err);
    return LA_OK;
}

/* Replaces out's content by its bytes from `from` on (the result of a
 * step that appended after its own input). */
static void drop_front(la_buf *out, size_t from)
{
    memmove(out->data, out->data + from, out->len - from);
    out->len -= from;
    out->data[out->len] = 0;
}

/* ---- Unicode normalization forms ---------------------------------------- */

/* The text a step reads: an outside string, or a region of the buffer it
 * appends to (re-read after every growth). */
typedef struct {
    const char *ext;
    size_t off;
} src_ref;

static const char *src_ptr(src_ref r, const la_buf *out)
{
    return r.ext ? r.ext : out->data + r.off;
}

/* Normalizes one run of characters (none inert) with utf8proc, appending
 * UTF-8 to out. The code points are decoded into out's spare room past
 * its end and re-encoded from there, so nothing else is allocated. With
 * drop_mn, non-spacing marks (BertNormalizer's strip_accents) are left
 * out. */
static int nf_run(utf8proc_option_t opts, int drop_mn, src_ref src, size_t a, size_t b,
                  la_buf *out, size_t lim, la_err *err)
{
    size_t cap = (b - a) + 16;
    for (;;) {
        size_t base = (out->len + 4) & ~(size_t)3;
        if (la_buf_reserve(out, base - out->len + cap * sizeof(int32_t)) != LA_OK)
            return oom(err);
        int32_t *cps = (int32_t *)(void *)(out->data + base);
        const char *s = src_ptr(src, out);
        utf8proc_ssize_t n = utf8proc_decompose((const utf8proc_uint8_t *)s + a,
                                                (utf8proc_ssize_t)(b - a), cps,
                                                (utf8proc_ssize_t)cap, opts);
        if (n < 0)
            return la_err_set(err, LA_EDATA, "tokenizer", "normalizer: %s",
                              utf8proc_errmsg(n));
        if (past(out->len, (size_t)n, lim))   /* each code point takes a byte at least */
            return over(err, "(a Unicode normal form)");
        if ((size_t)n > cap) {
            cap = (size_t)n;
            continue;
        }
        n = utf8proc_normalize_utf32(cps, n, opts);
        if (n < 0)
            return la_err_set(err, LA_EDATA, "tokenizer", "normalizer: %s",
                              utf8proc_errmsg(n));
        /* Re-encode in place: the bytes of code point i end at or before
         * where code point i + 1 is stored, so reading each before writing
         * it is safe. */
        char *o = out->data + out->len;
        for (utf8proc_ssize_t i = 0; i < n; i++) {
            int32_t c = cps[i];
            if (drop_mn && IN_TABLE(mark_nonspacing, c))
                continue;
            o += tk_utf8_encode(c, o);
        }
        out->len = (size_t)(o - out->data);
        out->data[out->len] = 0;
        return out->len > lim ? over(err, "(a Unicode normal form)") : LA_OK;
    }
}

/* U+11A7 is the base the trailing jamo count from, not a trailing jamo:
 * composition must leave it after an LV syllable (UAX #15; HuggingFace's
 * crate does), but utf8proc composes it away (<U+B0B4 U+11A7> comes out
 * as U+B0B4 in Debian 12's 2.8; fixed upstream in late 2025). It is a
 * starter that combines with nothing, so it is taken as inert: copied
 * through, with the text on either side normalized on its own. */
#define HANGUL_T_BASE 0x11A7

/* Appends src[a..b) to out as it is: LA_OK or LA_ENOMEM. */
static int nf_copy(src_ref src, size_t a, size_t b, la_buf *out)
{
    if (room(out, b - a) != LA_OK)
        return LA_ENOMEM;
    memcpy(out->data + out->len, src_ptr(src, out) + a, b - a);
    out->len += b - a;
    out->data[out->len] = 0;
    return LA_OK;
}

/* The end of the ASCII characters from i on (i < len) that are followed
 * by an ASCII character or the end: i when there are none. Such a
 * character is its own normal form in every form and nothing around it
 * changes it: it is a starter (marks after it are not moved before it,
 * and it blocks composing across it), no composition has it second, and
 * only a mark or the like after it could compose with it. */
static size_t ascii_inert_end(const char *s, size_t len, size_t i)
{
    size_t j = i;
    while (len - j >= 8 && !(tk_load64(s + j) & 0x8080808080808080ULL))
        j += 8;
    while (j < len && !((unsigned char)s[j] & 0x80))
        j++;
    /* the last one before a character that is not ASCII may compose with it */
    return j == len ? len : j > i ? j - 1 : i;
}

/* Appends the normalization of src[0..len) to out: runs between inert
 * characters go through utf8proc, inert characters (ASCII ones among
 * them, ascii_inert_end) and pure-ASCII runs are copied. */
static int nf_append(utf8proc_option_t opts, int drop_mn, src_ref src, size_t len,
                     la_buf *out, size_t lim, la_err *err)
{
    size_t i = 0, run = 0;
    int ascii = 1;
    while (i <= len) {
        int32_t cp = 0;
        size_t n = 0;
        int inert = 0;
        if (i < len) {
            const char *p = src_ptr(src, out);
            size_t e = (unsigned char)p[i] < 0x80 ? ascii_inert_end(p, len, i) : i;
            if (e > i + 1 || (e > i && !ascii)) {
                /* a stretch of them: the run before them out, then them
                 * copied at once (one alone goes on with an ASCII run) */
                int rc = run == i ? LA_OK
                         : ascii  ? nf_copy(src, run, i, out)
                                  : nf_run(opts, drop_mn, src, run, i, out, lim, err);
                if (rc == LA_OK)
                    rc = nf_copy(src, i, e, out);
                if (rc != LA_OK)
                    return rc == LA_ENOMEM ? oom(err) : rc;
                i = run = e;
                ascii = 1;
                continue;
            }
            n = next_char(p, len, i, &cp);
            inert = cp >= 0x7FD && (IN_TABLE(nf_inert, cp) || cp == HANGUL_T_BASE);
        }
        if (i == len || inert) {
            if (run < i) {
                if (ascii) {
                    if (nf_copy(src, run, i, out) != LA_OK)
                        return oom(err);
                } else {
                    int rc = nf_run(opts, drop_mn, src, run, i, out, lim, err);
                    if (rc)
                        return rc;
                }
            }
            if (i == len)
                break;
            if (nf_copy(src, i, i + n, out) != LA_OK)
                return oom(err);
            i += n;
            run = i;
            ascii = 1;
            continue;
        }
        if (cp >= 0x80 || cp < 0)
            ascii = 0;
        i += n;
    }
    return LA_OK;
}

typedef struct {
    tk_normalizer base;
    utf8proc_option_t opts;
} nf_norm;

#define NF_LEAD_MAX 32              /* characters of the front looked at (more: the front ends there) */

/* How many characters at the front of the normal form of in[0..len)
 * stem from its first lead ones (see la_tok_work.lead0), as HuggingFace
 * aligns them: its normalization crate tags each character it makes, a
 * decomposition's first character 0 (it stands where its source stood)
 * and the others 1 (inserted after it), and reordering marks carries the
 * tags along, so that characters are aligned by counting: a 0 takes the
 * next source character, a 1 that of the character before it. A
 * decomposition form is followed that way over the front and the marks
 * after it; a composing form counts the form of the first lead
 * characters alone (a composite stands where its starter stood). */
static size_t nf_lead(utf8proc_option_t opts, const char *in, size_t len, size_t lead)
{
    size_t i = 0, chars = 0;
    while (chars < lead && chars < NF_LEAD_MAX && i < len) {
        int32_t cp;
        i += next_char(in, len, i, &cp);
        chars++;
    }
    if (opts & UTF8PROC_COMPOSE) {
        utf8proc_uint8_t *o = NULL;
        utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)in, (utf8proc_ssize_t)i, &o, opts);
        size_t c = n > 0 ? count_chars((const char *)o, (size_t)n) : chars;
        free(o);
        return c;
    }
    /* the front, then the characters after it whose decomposition starts
     * with a mark (which can be put before the front's own marks) */
    struct {
        int32_t cp;
        int tag, ccc;
    } seq[4 * NF_LEAD_MAX + 64];
    size_t n = 0, from = 0;
    for (size_t k = 0; from < len && n + 18 <= sizeof seq / sizeof seq[0]; k++) {
        int32_t cp, dec[18];
        size_t step = next_char(in, len, from, &cp);
        int last = 0;
        utf8proc_ssize_t m = cp < 0 ? 0 : utf8proc_decompose_char(cp, dec, 18, opts, &last);
        if (m < 1 || m > 18)
            break;
        int ccc0 = utf8proc_get_property(dec[0])->combining_class;
        if (k >= chars && ccc0 == 0)
            break;
        for (utf8proc_ssize_t j = 0; j < m; j++)
            seq[n].cp = dec[j], seq[n].tag = j > 0, seq[n++].ccc = utf8proc_get_property(dec[j])->combining_class;
        from += step;
    }
    /* canonical order: each run of marks sorted by class, stably */
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0 && seq[b].ccc != 0 && seq[b - 1].ccc > seq[b].ccc; b--) {
            __typeof__(seq[0]) t = seq[b];
            seq[b] = seq[b - 1];
            seq[b - 1] = t;
        }
    size_t taken = 0, out = 0;
    for (size_t a = 0; a < n; a++) {
        if (seq[a].tag == 0)
            taken++;              /* aligned to source character taken - 1 */
        if (taken == 0 || taken > lead)
            break;
        out++;
    }
    return out;
}

static int nf_apply(const tk_normalizer *n, const char *in, size_t len, la_buf *out,
                    la_tok_work *w, int depth, la_err *err)
{
    (void)depth;
    const nf_norm *f = (const nf_norm *)n;
    la_buf_clear(out);
    src_ref src = {in, 0};
    if (w && w->lead0)
        w->lead0 = nf_lead(f->opts, in, len, w->lead0);
    return nf_append(f->opts, 0, src, len, out, tk_budget_grow(w, len), err);
}

/* ---- Lowercase ---------------------------------------------------------- */

/* Appends the lowercase of src[0..len) to out. At most doubles the size
 * (U+0130 is 2 bytes and becomes 3), so one reservation suffices and an
 * in-buffer source stays put. */
static int lower_append(src_ref src, size_t len, la_buf *out, size_t lim, la_err *err)
{
    if (len > (SIZE_MAX - 16) / 2 || past(out->len, 2 * len, lim))
        return over(err, "Lowercase");
    if (la_buf_reserve(out, 2 * len + 8) != LA_OK)
        return oom(err);
    const char *s = src_ptr(src, out);
    char *o = out->data + out->len;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            *o++ = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            i++;
            continue;
        }
        int32_t cp;
        size_t n = next_char(s, len, i, &cp);
        if (cp < 0)
            *o++ = (char)c;
        else
            o += rust_lower(cp, o);
        i += n;
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = 0;
    return LA_OK;
}

static int lower_apply(const tk_normalizer *n, const char *in, size_t len, la_buf *out,
                       la_tok_work *w, int depth, la_err *err)
{
    (void)n;
    (void)depth;
    la_buf_clear(out);
    /* U+0130 lowercases to two characters, the second inserted after the
     * first: both stem from it (la_tok_work.lead0) */
    if (w && w->lead0) {
        size_t add = 0, i = 0;
        for (size_t k = 0; k < w->lead0 && i < len; k++) {
            int32_t cp;
            i += next_char(in, len, i, &cp);
            add += cp == 0x130;
        }
        w->lead0 += add;
    }
    src_ref src = {in, 0};
    return lower_append(src, len, out, tk_budget_grow(w, len), err);
}

/* ---- Strip ---------------------------------------------------------------- */

typedef struct {
    tk_normalizer base;
    int left, right;
} strip_norm;

/* Start of the character that ends at s[end] (exclusive). */
static size_t char_start_before(const char *s, size_t end)
{
    size_t i = end - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80 && end - i < 4)
        i--;
    return i;
}

static int strip_apply(const tk_normalizer *n, const char *in, size_t len, la_buf *out,
                       la_tok_work *w, int depth, la_err *err)
{
    (void)depth;
    const strip_norm *s = (const strip_norm *)n;
    size_t a = 0, b = len;
    size_t dropped = 0;
    while (s->left && a < b) {
        int32_t cp;
        size_t k = next_char(in, b, a, &cp);
        if (!rust_is_whitespace(cp))
            break;
        a += k;
        dropped++;
    }
    lead_drop(w, dropped);
    while (s->right && b > a) {
        size_t st = char_start_before(in, b);
        int32_t cp;
        if (st < a || next_char(in, b, st, &cp) != b - st || !rust_is_whitespace(cp))
            break;
        b = st;
    }
    return copy_to(out, in + a, b - a, err);
}

/* ---- Prepend -------------------------------------------------------------- */

typedef struct {
    tk_normalizer base;
    char *text;
    size_t len;
} prepend_norm;

/* Prepends only to a non-empty string, as the reference does. */
static int prepend_apply(const tk_normalizer *n, const char *in, size_t len, la_buf *out,
                         la_tok_work *w, int depth, la_err *err)
{
    (void)depth;
    const prepend_norm *p = (const prepend_norm *)n;
    la_buf_clear(out);
    if (len == 0)
        return LA_OK;
    if (past(p->len, len, tk_budget_grow(w, len)))
        return over(err, "Prepend");
    if (w && w->lead0)           /* what it prepends stems from the first character */
        w->lead0 += count_chars(p->text, p->len);
    if (la_buf_append(out, p->text, p->len) != LA_OK || la_buf_append(out, in, len) != LA_OK)
        return oom(err);
    return LA_OK;
}

static void prepend_free(tk_normalizer *n)
{
    prepend_norm *p = (prepend_norm *)n;
    free(p->text);
    free(p);
}

/* ---- Replace -------------------------------------------------------------- */

typedef struct {
    tk_normalizer base;
    tk_regex *re;
    char *content;
    size_t len;
    char *lit;               /* a {"String": s} pattern's s, NULL for a regex */
    size_t lit_len;
    char content8[8];        /* content, zero-padded, when it fits */
} replace_norm;

/* A non-empty literal pattern: its matches are the leftmost
 * non-overlapping occurrences (what the regex finds on UTF-8 text),
 * found with memchr/memmem instead of Oniguruma. */
static int replace_literal(const replace_norm *r, const char *in, size_t len, la_buf *out,
                           size_t lim, la_err *err)
{
    /* the one-pass way reserves for every byte matching */
    if (r->lit_len == 1 && r->len <= 8 && !past(out->len, len * (r->len > 1 ? r->len : 1), lim)) {
        /* one byte for another short string: one pass, no calls; the
         * content is stored as eight bytes, so a match is one store, and
         * text is copied 16 bytes at a time up to the next match (the
         * room reserved has 16 bytes of slack for these stores) */
        if (la_buf_reserve(out, len * (r->len > 1 ? r->len : 1) + 16) != LA_OK)
            return oom(err);
        char *o = out->data + out->len, c = r->lit[0];
        uint64_t rep;
        memcpy(&rep, r->content8, 8);
        size_t i = 0;
#ifdef __SSE2__
        const __m128i cv = _mm_set1_epi8(c);
        while (i + 16 <= len) {
            __m128i v = _mm_loadu_si128((const __m128i *)(in + i));
            unsigned mask = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, cv));
            _mm_storeu_si128((__m128i *)o, v);
            if (!mask) {
                o += 16;
                i += 16;
                continue;
            }
            unsigned k = (unsigned)__builtin_ctz(mask);
            o += k;
            memcpy(o, &rep, 8);
            o += r->len;
            i += k + 1;
        }
#endif
        for (; i < len; i++) {
            if (in[i] != c) {
                *o++ = in[i];
            } else {
                memcpy(o, &rep, 8);
                o += r->len;
            }
        }
        out->len = (size_t)(o - out->data);
        out->data[out->len] = 0;
        return LA_OK;
    }
    size_t prev = 0;
    while (prev < len) {
        const char *q = r->lit_len == 1 ? memchr(in + prev, r->lit[0], len - prev)
                                        : tk_find_bytes(in + prev, len - prev, r->lit, r->lit_len);
        if (!q)
            break;
        size_t ms = (size_t)(q - in);
        if (past(out->len, ms - prev + r->len, lim))
            return over(err, "Replace");
        if (la_buf_append(out, in + prev, ms - prev) != LA_OK ||
            la_buf_append(out, r->content, r->len) != LA_OK)
            return oom(err);
        prev = ms + r->lit_len;
    }
    if (past(out->len, len - prev, lim))
        return over(err, "Replace");
    if (la_buf_append(out, in + prev, len - prev) != LA_OK)
        return oom(err);
    return LA_OK;
}

/* The front of a text through Replace (see la_tok_work.lead0): its
 * replacement takes the alignment of the last character it replaces, so
 * it stems from the original's first character when all the characters
 * it replaces do. Matches are fed in turn while they follow one another
 * from the start of the text and in is not 0. */
typedef struct {
    size_t in;                   /* leading characters of the input still from the first */
    size_t out;                  /* leading characters of the output from it so far */
} lead_run;

static void lead_match(lead_run *lr, const replace_norm *r, size_t k)
{
    if (k <= lr->in) {
        lr->in -= k;
        lr->out += count_chars(r->content, r->len);
    } else {
        lr->in = 0;              /* a replacement from elsewhere: nothing after it counts */
    }
}

static void lead_end(const lead_run *lr, la_tok_work *w)
{
    if (w && w->lead0)
        w->lead0 = lr->out + lr->in;
}

/* Replaces every match (the reference's find_matches, empty matches
 * included) by the literal content; an empty string stays empty. */
static int replace_apply(const tk_normalizer *n, const char *in, size_t len, la_buf *out,
                         la_tok_work *w, int depth, la_err *err)
{
    (void)depth;
    const replace_norm *r = (const replace_norm *)n;
    la_buf_clear(out);
    if (len == 0)
        return LA_OK;
    lead_run lr = { w && w->lead0 ? w->lead0 : 0, 0 };
    if (r->lit) {
        for (size_t at = 0; lr.in && at + r->lit_len <= len && memcmp(in + at, r->lit, r->lit_len) == 0;
             at += r->lit_len)
            lead_match(&lr, r, count_chars(r->lit, r->lit_len));
        lead_end(&lr, w);
        return replace_literal(r, in, len, out, tk_budget_grow(w, len), err);
    }
    tk_regex_iter it = {0, 0};
    size_t prev = 0, ms, me, front = 0, lim = tk_budget_grow(w, len);
    int rc;
    while ((rc = tk_regex_iter_next(r->re, in, len, &it, &ms, &me, w, err)) == 1) {
        if (lr.in && ms == front) {
            lead_match(&lr, r, count_chars(in + ms, me - ms));
            front = me;
        }
        if (past(out->len, ms - prev + r->len, lim))
            return over(err, "Replace");
        if (la_buf_append(out, in + prev, ms - prev) != LA_OK ||
            la_buf_append(out, r->content, r->len) != LA_OK)
            return oom(err);
        prev = me;
    }
    if (rc < 0)
        return rc;
    lead_end(&lr, w);
    if (past(out->len, len - prev, lim))
        return over(err, "Replace");
    if (la_buf_append(out, in + prev, len - prev) != LA_OK)
        return oom(err);
    return LA_OK;
}

static void replace_free(tk_normalizer *n)
{
    replace_norm *r = (replace_norm *)n;
    tk_regex_free(r->re);
    free(r->content);
    free(r->lit);
    free(r);
}

/* ---- BertNormalizer ------------------------------------------------------- */

typedef struct {
    tk_normalizer base;
    int clean_text, chinese, strip_accents, lowercase;
} bert_norm;

/* The CJK blocks BERT surrounds with spaces. */
static int is_chinese(int32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* How many characters at the front of s[0..len) decompose (NFD) into
 * non-spacing marks alone, which strip_accents drops. */
static size_t leading_marks(const char *s, size_t len)
{
    size_t d = 0;
    for (size_t i = 0; i < len;) {
        int32_t cp, dec[8];
        size_t k = next_char(s, len, i, &cp);
        int last;
        utf8proc_ssize_t m = cp < 0 ? 0 : utf8proc_decompose_char(cp, dec, 8, UTF8PROC_DECOMPOSE, &last);
        if (m < 1 || m > 8 || !IN_TABLE(mark_nonspacing, dec[0]))
            break;
        d++;
        i += k;
    }
    return d;
}

/* First BERT steps, character by character: clean_text drops NUL,
 * U+FFFD and control characters (tab, LF and CR excepted) and turns
 * white space into ' '; handle_chinese_chars puts spaces around CJK
 * ideographs. */
static int bert_clean(const bert_norm *b, const char *in, size_t len, la_buf *out,
                      size_t *lead, size_t lim, la_err *err)
{
    for (size_t i = 0; i < len;) {
        int32_t cp;
        size_t n = next_char(in, len, i, &cp);
        if (past(out->len, n + 2, lim))
            return over(err, "BertNormalizer");
        if (room(out, n + 2) != LA_OK)
            return oom(err);
        char *o = out->data + out->len;
        if (b->clean_text && cp >= 0) {
            int keep_ws = cp == '\t' || cp == '\n' || cp == '\r';
            if (cp == 0 || cp == 0xFFFD || (!keep_ws && IN_TABLE(bert_control, cp))) {
                if (out->len == 0)
                    ++*lead;
                i += n;
                continue;
            }
            if (rust_is_whitespace(cp)) {
                *o = ' ';
                out->len++;
                out->data[out->len] = 0;
                i += n;
                continue;
            }
        }
        if (b->chinese && cp >= 0x3400 && is_chinese(cp)) {
            *o++ = ' ';
            memcpy(o, in + i, n);
            o[n] = ' ';
            out->len += n + 2;
        } else {
            memcpy(o, in + i, n);
            out->len += n;
        }
        out->data[out->len] = 0;
        i += n;
    }
    return LA_OK;
}

/* clean, chinese, strip accents (NFD, then drop non-spacing marks),
 * lowercase - in that order, the later steps reading the earlier
 * result from the front of `out` and appending after it. */
static int bert_apply(const tk_normalizer *n, const char *in, size_t len, la_buf *out,
                      la_tok_work *w, int depth, la_err *err)
{
    (void)depth;
    const bert_norm *b = (const bert_norm *)n;
    la_buf_clear(out);
    int rc;
    size_t lead = 0, lim = tk_budget_grow(w, len);
    if (b->clean_text || b->chinese)
        rc = bert_clean(b, in, len, out, &lead, lim, err);
    else
        rc = la_buf_append(out, in, len) != LA_OK ? oom(err) : LA_OK;
    if (rc)
        return rc;
    lead_drop(w, lead);
    if (b->strip_accents) {
        lead_drop(w, leading_marks(out->data, out->len));
        size_t mid = out->len;
        src_ref src = {NULL, 0};
        rc = nf_append(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE, 1, src, mid, out, mid + lim, err);
        if (rc)
            return rc;
        drop_front(out, mid);
    }
    if (b->lowercase) {
        size_t mid = out->len;
        src_ref src = {NULL, 0};
        rc = lower_append(src, mid, out, mid + lim, err);
        if (rc)
            return rc;
        drop_front(out, mid);
    }
    return LA_OK;
}

/* ---- Nmt, StripAccents ---------------------------------------------------- */

/* Nmt: drops some ASCII controls, maps other odd spaces to ' '. */
static int nmt_apply(const tk_normalizer *n, const char *in, size_t len, la_buf *out,
                     la_tok_work *w, int depth, la_err *err)
{
    (void)n;
    (void)depth;
    la_buf_clear(out);
    if (la_buf_reserve(out, len) != LA_OK)
        return oom(err);
    size_t lead = 0;              /* characters dropped before the first kept */
    for (size_t i = 0; i < len;) {
        int32_t c;
        size_t k = next_char(in, len, i, &c);
        int drop = (c >= 0x01 && c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) ||
                   c == 0x7F || c == 0x8F || c == 0x9F;
        if (drop && out->len == 0)
            lead++;
        int space = c == 0x09 || c == 0x0A || c == 0x0C || c == 0x0D || c == 0x1680 ||
                    (c >= 0x200B && c <= 0x200F) || c == 0x2028 || c == 0x2029 ||
                    c == 0x2581 || c == 0xFEFF || c == 0xFFFD;
        if (space)
            out->data[out->len++] = ' ';
        else if (!drop) {
            memcpy(out->data + out->len, in + i, k);
            out->len += k;
        }
        i += k;
    }
    out->data[out->len] = 0;
    lead_drop(w, lead);
    return LA_OK;
}

/* StripAccents: drops combining marks (no decomposition first). */
static int strip_accents_apply(const tk_normalizer *n, const char *in, size_t len,
                               la_buf *out, la_tok_work *w, int depth, la_err *err)
{
    (void)n;
    (void)depth;
    la_buf_clear(out);
    if (la_buf_reserve(out, len) != LA_OK)
        return oom(err);
    size_t lead = 0;
    for (size_t i = 0; i < len;) {
        int32_t c;
        size_t k = next_char(in, len, i, &c);
        if (!(c >= 0x300 && IN_TABLE(combining_mark, c))) {
            memcpy(out->data + out->len, in + i, k);
            out->len += k;
        } else if (out->len == 0) {
            lead++;
        }
        i += k;
    }
    out->data[out->len] = 0;
    lead_drop(w, lead);
    return LA_OK;
}

/* ---- ByteLevel (normalizer) ------------------------------------------------ */

typedef struct {
    tk_normalizer base;
    char enc[256][2];        /* GPT-2's byte -> character, as UTF-8 */
    unsigned char enc_len[256];
} byte_level_norm;

static int byte_level_apply(const tk_normalizer *n, const char *in, size_t len, la_buf *out,
                            la_tok_work *w, int depth, la_err *err)
{
    (void)depth;
    const byte_level_norm *b = (const byte_level_norm *)n;
    la_buf_clear(out);
    if (len > SIZE_MAX / 2 - 1 || 2 * len > tk_budget_grow(w, len))
        return over(err, "ByteLevel");
    if (la_buf_reserve(out, 2 * len) != LA_OK)
        return oom(err);
    char *o = out->data;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        memcpy(o, b->enc[c], 2);
        o += b->enc_len[c];
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = 0;
    return LA_OK;
}

/* ---- Sequence --------------------------------------------------------------- */

typedef struct {
    tk_normalizer base;
    tk_normalizer **items;   /* flattened: never a Sequence */
    size_t n;
    int strict;              /* windowing with long literal patterns (seq_window) */
    /* [Prepend p, Replace of one byte] (SentencePiece's pair): the
     * replaced p, then the replaced text in one pass (seq_fuse) */
    la_buf fused_pre;
    int fused;
} seq_norm;

/* A scratch buffer distinct from out and not holding in: w->norm[0],
 * w->norm[1], or else the last pre-tokenizer slot (normalizing is done
 * before pre-tokenizing starts, never in the middle of it). */
static la_buf *seq_scratch(la_tok_work *w, const la_buf *out, const char *in)
{
    la_buf *cand[3] = {&w->norm[0], &w->norm[1], &w->pre[TK_MAX_DEPTH - 1]};
    for (int k = 0; k < 3; k++) {
        la_buf *b = cand[k];
        int holds_in = b->data && in >= b->data && in < b->data + b->cap;
        if (b != out && !holds_in)
            return b;
    }
    return NULL;
}

/* Runs the items in turn, alternating between out and a scratch buffer
 * so that the last one writes to out. */
static int seq_apply(const tk_normalizer *n, const char *in, size_t len, la_buf *out,
                     la_tok_work *w, int depth, la_err *err)
{
    const seq_norm *s = (const seq_norm *)n;
    if (s->n == 0)
        return copy_to(out, in, len, err);
    if (s->fused) {
        la_buf_clear(out);
        if (len == 0)
            return LA_OK;    /* Prepend leaves an empty text empty */
        size_t lim = tk_budget_grow(w, len);
        if (past(0, s->fused_pre.len, lim))
            return over(err, "Prepend");
        if (la_buf_append(out, s->fused_pre.data, s->fused_pre.len) != LA_OK)
            return oom(err);
        if (w && w->lead0)
            w->lead0 += count_chars(s->fused_pre.data, s->fused_pre.len);
        return replace_literal((const replace_norm *)s->items[1], in, len, out, lim, err);
    }
    la_buf *tmp = s->n > 1 ? seq_scratch(w, out, in) : NULL;
    if (s->n > 1 && !tmp)
        return la_err_set(err, LA_EARG, "tokenizer", "normalizer: no scratch buffer");
    /* called on its own (no API call set the growth bound): the bound is
     * that of the sequence's input, for every item, not of each item's */
    int own_bound = w && !w->budget.grow_max;
    if (own_bound)
        w->budget.grow_max = tk_grow_max(len);
    const char *src = in;
    size_t slen = len;
    int rc = LA_OK;
    for (size_t i = 0; i < s->n && rc == LA_OK; i++) {
        la_buf *dst = ((s->n - 1 - i) % 2 == 0) ? out : tmp;
        rc = s->items[i]->apply(s->items[i], src, slen, dst, w, depth + 1, err);
        src = dst->data ? dst->data : "";
        slen = dst->len;
    }
    if (own_bound)
        w->budget.grow_max = 0;
    return rc;
}

static void seq_free(tk_normalizer *n)
{
    seq_norm *s = (seq_norm *)n;
    for (size_t i = 0; i < s->n; i++)
        s->items[i]->free(s->items[i]);
    free(s->items);
    la_buf_free(&s->fused_pre);
    free(s);
}

/* ---- windowing (cut_ok) ---------------------------------------------------- */

/* Character-local normalizers (each character is mapped on its own) and
 * Prepend (which only looks at whether the text is empty) can be cut at
 * any character boundary. */
static int cut_anywhere(const tk_normalizer *n, const char *s, size_t len, size_t c)
{
    (void)n, (void)s, (void)len, (void)c;
    return 1;
}

/* The character ending at s[c) and the one starting there. */
static void chars_around(const char *s, size_t len, size_t c, size_t *a, size_t *b)
{
    *a = c - 1;
    while (*a > 0 && c - *a < 4 && ((unsigned char)s[*a] & 0xC0) == 0x80)
        (*a)--;
    size_t k = tk_utf8_len((const unsigned char *)s + c, len - c);
    *b = c + (k ? k : 1);
}

/* A literal Replace: a cut is safe unless an occurrence could span it,
 * which needs the pattern to hold the characters on both sides (literal
 * occurrences in UTF-8 text start and end on character boundaries). */
static int replace_cut_strict(const tk_normalizer *n, const char *s, size_t len, size_t c)
{
    const replace_norm *r = (const replace_norm *)n;
    size_t a, b;
    chars_around(s, len, c, &a, &b);
    return !tk_find_bytes(r->lit, r->lit_len, s + a, c - a) &&
           !tk_find_bytes(r->lit, r->lit_len, s + c, b - c);
}

/* On its own, a one-character pattern never spans a boundary. */
static int replace_cut_ok(const tk_normalizer *n, const char *s, size_t len, size_t c)
{
    const replace_norm *r = (const replace_norm *)n;
    if (tk_utf8_len((const unsigned char *)r->lit, r->lit_len) == r->lit_len)
        return 1;
    return replace_cut_strict(n, s, len, c);
}

/* A Sequence: every item must be cuttable there. With a literal Replace
 * pattern longer than one character, the check looks at the raw text,
 * which is what the item sees around the cut only if the items before
 * leave the characters there untouched; so then the items must all be
 * Prepend or literal Replace, and the two characters around the cut must
 * be in no pattern at all: never replaced, they stay side by side at
 * every step and keep every match off the cut. */
static int seq_cut_ok(const tk_normalizer *n, const char *s, size_t len, size_t c)
{
    const seq_norm *q = (const seq_norm *)n;
    for (size_t i = 0; i < q->n; i++) {
        const tk_normalizer *x = q->items[i];
        int ok = q->strict && x->cut_ok == replace_cut_ok ? replace_cut_strict(x, s, len, c)
                                                           : x->cut_ok(x, s, len, c);
        if (!ok)
            return 0;
    }
    return 1;
}

/* Sets a Sequence's cut_ok once its items are known. */
static void seq_window(seq_norm *q)
{
    int long_lit = 0, only_literal = 1;
    for (size_t i = 0; i < q->n; i++) {
        const tk_normalizer *x = q->items[i];
        if (!x->cut_ok)
            return;
        if (x->cut_ok == replace_cut_ok) {
            const replace_norm *r = (const replace_norm *)x;
            if (tk_utf8_len((const unsigned char *)r->lit, r->lit_len) != r->lit_len)
                long_lit = 1;
        } else if (x->apply != prepend_apply) {
            only_literal = 0;
        }
    }
    if (long_lit && !only_literal)
        return;
    q->strict = long_lit;
    q->base.cut_ok = seq_cut_ok;
}

/* ---- construction from JSON -------------------------------------------------- */

static void plain_free(tk_normalizer *n)
{
    free(n);
}

/* Allocates a component of `size` bytes with the given operations. */
static void *new_component(size_t size, int (*apply)(const tk_normalizer *, const char *, size_t,
                                                     la_buf *, la_tok_work *, int, la_err *),
                           void (*freefn)(tk_normalizer *), la_err *err)
{
    tk_normalizer *n = calloc(1, size);
    if (!n) {
        oom(err);
        return NULL;
    }
    n->apply = apply;
    n->free = freefn;
    return n;
}

/* Reads boolean field `name` of a `type` normalizer. A missing field
 * takes *v's preset value when optional, else is an error (as in the
 * reference, whose fields are required unless they have a default). */
static int get_bool(const cJSON *j, const char *type, const char *name, int optional, int *v,
                    la_err *err)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!f && optional)
        return LA_OK;
    if (!f)
        return la_err_set(err, LA_EDATA, "tokenizer", "normalizer: %s: missing field \"%s\"",
                          type, name);
    if (!cJSON_IsBool(f))
        return la_err_set(err, LA_EDATA, "tokenizer",
                          "normalizer: %s: field \"%s\" must be a boolean", type, name);
    *v = cJSON_IsTrue(f);
    return LA_OK;
}

/* Reads string field `name` (required) as a new NUL-terminated copy. */
static int get_string(const cJSON *j, const char *type, const char *name, char **s,
                      size_t *len, la_err *err)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!f)
        return la_err_set(err, LA_EDATA, "tokenizer", "normalizer: %s: missing field \"%s\"",
                          type, name);
    if (!cJSON_IsString(f) || !f->valuestring)
        return la_err_set(err, LA_EDATA, "tokenizer",
                          "normalizer: %s: field \"%s\" must be a string", type, name);
    *len = strlen(f->valuestring);
    *s = malloc(*len + 1);
    if (!*s)
        return oom(err);
    memcpy(*s, f->valuestring, *len + 1);
    return LA_OK;
}

typedef tk_normalizer *(*norm_ctor)(const cJSON *j, const char *type, la_err *err);

/* Marks a character-local normalizer (or Prepend) as cuttable anywhere. */
static tk_normalizer *local(tk_normalizer *n)
{
    if (n)
        n->cut_ok = cut_anywhere;
    return n;
}

static tk_normalizer *make_nf(utf8proc_option_t opts, la_err *err)
{
    nf_norm *f = new_component(sizeof *f, nf_apply, plain_free, err);
    if (f)
        f->opts = opts;
    return (tk_normalizer *)f;
}

static tk_normalizer *new_nfc(const cJSON *j, const char *type, la_err *err)
{
    (void)j;
    (void)type;
    return make_nf(UTF8PROC_STABLE | UTF8PROC_COMPOSE, err);
}

static tk_normalizer *new_nfd(const cJSON *j, const char *type, la_err *err)
{
    (void)j;
    (void)type;
    return make_nf(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE, err);
}

static tk_normalizer *new_nfkc(const cJSON *j, const char *type, la_err *err)
{
    (void)j;
    (void)type;
    return make_nf(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT, err);
}

static tk_normalizer *new_nfkd(const cJSON *j, const char *type, la_err *err)
{
    (void)j;
    (void)type;
    return make_nf(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT, err);
}

static tk_normalizer *new_lowercase(const cJSON *j, const char *type, la_err *err)
{
    (void)j;
    (void)type;
    return local(new_component(sizeof(tk_normalizer), lower_apply, plain_free, err));
}

static tk_normalizer *new_nmt(const cJSON *j, const char *type, la_err *err)
{
    (void)j;
    (void)type;
    return local(new_component(sizeof(tk_normalizer), nmt_apply, plain_free, err));
}

static tk_normalizer *new_strip_accents(const cJSON *j, const char *type, la_err *err)
{
    (void)j;
    (void)type;
    return local(new_component(sizeof(tk_normalizer), strip_accents_apply, plain_free, err));
}

static tk_normalizer *new_byte_level(const cJSON *j, const char *type, la_err *err)
{
    (void)j;
    (void)type;
    byte_level_norm *b = new_component(sizeof *b, byte_level_apply, plain_free, err);
    if (b)
        tk_byte_level_table(b->enc, b->enc_len);
    return local((tk_normalizer *)b);
}

static tk_normalizer *new_strip(const cJSON *j, const char *type, la_err *err)
{
    int l = 0, r = 0;
    if (get_bool(j, type, "strip_left", 0, &l, err) || get_bool(j, type, "strip_right", 0, &r, err))
        return NULL;
    strip_norm *s = new_component(sizeof *s, strip_apply, plain_free, err);
    if (s) {
        s->left = l;
        s->right = r;
    }
    return (tk_normalizer *)s;
}

static tk_normalizer *new_prepend(const cJSON *j, const char *type, la_err *err)
{
    char *text;
    size_t len;
    if (get_string(j, type, "prepend", &text, &len, err))
        return NULL;
    prepend_norm *p = new_component(sizeof *p, prepend_apply, prepend_free, err);
    if (!p) {
        free(text);
        return NULL;
    }
    p->text = text;
    p->len = len;
    return local((tk_normalizer *)p);
}

/* Compiles a {"String": s} or {"Regex": r} pattern (shared with
 * pretokenize.c's Split through the same JSON shape). */
static tk_regex *compile_pattern(const cJSON *pat, const char *type, la_err *err)
{
    const cJSON *str = cJSON_IsObject(pat) ? cJSON_GetObjectItemCaseSensitive(pat, "String") : NULL;
    const cJSON *rx = cJSON_IsObject(pat) ? cJSON_GetObjectItemCaseSensitive(pat, "Regex") : NULL;
    if (!pat) {
        la_err_set(err, LA_EDATA, "tokenizer", "normalizer: %s: missing field \"pattern\"", type);
        return NULL;
    }
    if (!cJSON_IsObject(pat) || (!str == !rx) || cJSON_GetArraySize(pat) != 1 ||
        !cJSON_IsString(str ? str : rx)) {
        la_err_set(err, LA_EDATA, "tokenizer",
                   "normalizer: %s: field \"pattern\" must be {\"String\": s} or {\"Regex\": r}",
                   type);
        return NULL;
    }
    if (rx)
        return tk_regex_new(rx->valuestring, strlen(rx->valuestring), err);
    return tk_regex_literal(str->valuestring, strlen(str->valuestring), err);
}

static tk_normalizer *new_replace(const cJSON *j, const char *type, la_err *err)
{
    /* a String pattern of valid UTF-8 is applied as the literal it is
     * (r->lit below), never through its regex: it is not compiled, and a
     * tokenizer such as Llama-2's, whose only pattern is such a string,
     * does without Oniguruma (its set-up and lazy symbol binding are a
     * noticeable part of a short run's load) */
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(j, "pattern");
    const cJSON *str = cJSON_IsObject(pat) && cJSON_GetArraySize(pat) == 1
                           ? cJSON_GetObjectItemCaseSensitive(pat, "String") : NULL;
    size_t lit_len = cJSON_IsString(str) ? strlen(str->valuestring) : 0;
    int literal = lit_len > 0 && tk_utf8_valid(str->valuestring, lit_len);
    tk_regex *re = literal ? NULL : compile_pattern(pat, type, err);
    if (!re && !literal)
        return NULL;
    char *content;
    size_t len;
    if (get_string(j, type, "content", &content, &len, err)) {
        tk_regex_free(re);
        return NULL;
    }
    replace_norm *r = new_component(sizeof *r, replace_apply, replace_free, err);
    if (!r) {
        tk_regex_free(re);
        free(content);
        return NULL;
    }
    r->re = re;
    r->content = content;
    r->len = len;
    memcpy(r->content8, content, len < 8 ? len : 8);   /* new_component zeroed the rest */
    if (literal) {
        r->lit = malloc(lit_len + 1);
        if (!r->lit) {
            replace_free(&r->base);
            oom(err);
            return NULL;
        }
        memcpy(r->lit, str->valuestring, lit_len + 1);
        r->lit_len = lit_len;
        r->base.cut_ok = replace_cut_ok;
    }
    return (tk_normalizer *)r;
}

static tk_normalizer *new_bert(const cJSON *j, const char *type, la_err *err)
{
    int clean = 0, chinese = 0, lower = 0, strip = -1;
    if (get_bool(j, type, "clean_text", 0, &clean, err) ||
        get_bool(j, type, "handle_chinese_chars", 0, &chinese, err) ||
        get_bool(j, type, "lowercase", 0, &lower, err))
        return NULL;
    const cJSON *sa = cJSON_GetObjectItemCaseSensitive(j, "strip_accents");
    if (sa && !cJSON_IsNull(sa) && get_bool(j, type, "strip_accents", 0, &strip, err))
        return NULL;
    bert_norm *b = new_component(sizeof *b, bert_apply, plain_free, err);
    if (b) {
        b->clean_text = clean;
        b->chinese = chinese;
        b->lowercase = lower;
        b->strip_accents = strip < 0 ? lower : strip;   /* null: follows lowercase */
        if (!b->strip_accents)   /* NFD reorders marks: not character-local */
            b->base.cut_ok = cut_anywhere;
    }
    return (tk_normalizer *)b;
}

/* Appends normalizer x to s, splicing in the items of a nested
 * Sequence; takes ownership of x. */
static int seq_add(seq_norm *s, size_t *cap, tk_normalizer *x)
{
    if (x->free == seq_free) {
        seq_norm *inner = (seq_norm *)x;
        for (size_t i = 0; i < inner->n; i++) {
            if (seq_add(s, cap, inner->items[i])) {
                /* items[0..i) moved; free the rest with the shell */
                for (size_t k = i; k < inner->n; k++)
                    inner->items[k]->free(inner->items[k]);
                free(inner->items);
                free(inner);
                return LA_ENOMEM;
            }
        }
        free(inner->items);
        free(inner);
        return LA_OK;
    }
    if (s->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        tk_normalizer **p = realloc(s->items, nc * sizeof *p);
        if (!p) {
            x->free(x);
            return LA_ENOMEM;
        }
        s->items = p;
        *cap = nc;
    }
    s->items[s->n++] = x;
    return LA_OK;
}

/* Fuses [Prepend p, Replace of a one-byte literal]: a one-byte match
 * cannot span the join of p and the text, so the result is replace(p)
 * followed by replace(text), one pass instead of two. LA_OK or LA_ENOMEM. */
static int seq_fuse(seq_norm *s)
{
    if (s->n != 2 || s->items[0]->apply != prepend_apply || s->items[1]->apply != replace_apply)
        return LA_OK;
    const prepend_norm *p = (const prepend_norm *)s->items[0];
    const replace_norm *r = (const replace_norm *)s->items[1];
    if (!r->lit || r->lit_len != 1 || p->len == 0)
        return LA_OK;
    la_err e;
    if (replace_literal(r, p->text, p->len, &s->fused_pre, SIZE_MAX, &e) != LA_OK)
        return LA_ENOMEM;
    s->fused = 1;
    return LA_OK;
}

int tk_normalizer_spaces(const tk_normalizer *n, char *c, const char **s, size_t *slen, int *prepends)
{
    if (n && n->apply == replace_apply) {
        /* the Replace alone (Gemma's): no s in front */
        const replace_norm *r = (const replace_norm *)n;
        if (!r->lit || r->lit_len != 1 || !r->len || memchr(r->content, r->lit[0], r->len))
            return 0;
        *c = r->lit[0];
        *s = r->content;
        *slen = r->len;
        *prepends = 0;
        return 1;
    }
    if (!n || n->apply != seq_apply || !((const seq_norm *)n)->fused)
        return 0;
    const seq_norm *q = (const seq_norm *)n;
    const prepend_norm *p = (const prepend_norm *)q->items[0];
    const replace_norm *r = (const replace_norm *)q->items[1];
    /* the prepended text, unchanged by the Replace, is its content */
    if (p->len != r->len || memcmp(p->text, r->content, r->len) != 0 || memchr(p->text, r->lit[0], p->len))
        return 0;
    *c = r->lit[0];
    *s = r->content;
    *slen = r->len;
    *prepends = 1;
    return 1;
}

int tk_normalizer_removes(const tk_normalizer *n, char c)
{
    if (n && n->apply == seq_apply) {
        const seq_norm *q = (const seq_norm *)n;
        n = q->n ? q->items[q->n - 1] : NULL;   /* the last one decides */
    }
    if (!n || n->apply != replace_apply)
        return 0;
    const replace_norm *r = (const replace_norm *)n;
    /* every c replaced, by a content without c: the text has none after */
    return r->lit && r->lit_len == 1 && r->lit[0] == c && !memchr(r->content, c, r->len);
}

int tk_normalizer_unicode_form(const tk_normalizer *n)
{
    return n && n->apply == nf_apply;
}

int tk_normalizer_identity(const tk_normalizer *n)
{
    if (!n)
        return 1;
    if (n->apply != seq_apply)
        return 0;
    const seq_norm *q = (const seq_norm *)n;
    for (size_t i = 0; i < q->n; i++)
        if (!tk_normalizer_identity(q->items[i]))
            return 0;
    return 1;
}

static tk_normalizer *new_sequence(const cJSON *j, const char *type, la_err *err)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "normalizers");
    if (!arr) {
        la_err_set(err, LA_EDATA, "tokenizer", "normalizer: %s: missing field \"normalizers\"",
                   type);
        return NULL;
    }
    if (!cJSON_IsArray(arr)) {
        la_err_set(err, LA_EDATA, "tokenizer",
                   "normalizer: %s: field \"normalizers\" must be an array", type);
        return NULL;
    }
    seq_norm *s = new_component(sizeof *s, seq_apply, seq_free, err);
    if (!s)
        return NULL;
    size_t cap = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, arr) {
        tk_normalizer *x = tk_normalizer_from_json(item, err);
        if (!x || seq_add(s, &cap, x)) {
            if (x)
                oom(err);
            seq_free(&s->base);
            return NULL;
        }
    }
    seq_window(s);
    if (seq_fuse(s)) {
        oom(err);
        seq_free(&s->base);
        return NULL;
    }
    return (tk_normalizer *)s;
}

static tk_normalizer *new_precompiled(const cJSON *j, const char *type, la_err *err)
{
    (void)type;
    return tk_precompiled_new(j, err);
}

/* The "type" tags this file knows (Precompiled: precompiled.c). */
static const struct {
    const char *type;
    norm_ctor make;
} norm_types[] = {
    {"Sequence", new_sequence},   {"NFC", new_nfc},
    {"NFD", new_nfd},             {"NFKC", new_nfkc},
    {"NFKD", new_nfkd},           {"Lowercase", new_lowercase},
    {"Strip", new_strip},         {"StripAccents", new_strip_accents},
    {"Prepend", new_prepend},     {"Replace", new_replace},
    {"BertNormalizer", new_bert}, {"Nmt", new_nmt},
    {"ByteLevel", new_byte_level}, {"Precompiled", new_precompiled},
};

tk_normalizer *tk_normalizer_from_json(const cJSON *j, la_err *err)
{
    const char *type = tk_component_type(j, "normalizer", err);
    if (!type)
        return NULL;
    for (size_t i = 0; i < sizeof norm_types / sizeof norm_types[0]; i++)
        if (strcmp(norm_types[i].type, type) == 0)
            return norm_types[i].make(j, norm_types[i].type, err);
    la_err_set(err, LA_EUNSUP, "tokenizer", "normalizer: unsupported type \"%.64s\"", type);
    return NULL;
}
