/*
 * json.h - strict JSON validation, value location and string escaping on
 * raw record bytes. The record is never rebuilt: these functions find byte
 * spans so that the caller can copy everything else through unchanged
 * (cJSON cannot report spans or keep numbers such as 1.0E+2 verbatim).
 */
#ifndef LA_JSON_H
#define LA_JSON_H

#include "lookahead.h"

#include <stddef.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Deepest nesting of arrays and objects a record may have. Deeper input
 * is rejected (code "too_deep") rather than risking consumers' stacks;
 * validation itself is iterative and never recurses. */
#define LA_JSON_MAX_DEPTH 10000

/* A value's bytes: p[start..end) includes the quotes of a string. */
typedef struct {
    size_t start, end;
} la_span;

/* JSON value kinds, from the first byte of a valid value. */
typedef enum { LA_JNONE, LA_JOBJECT, LA_JARRAY, LA_JSTRING, LA_JNUMBER, LA_JBOOL, LA_JNULL } la_jtype;

/* Validates p[0..n) as one JSON value (RFC 8259, UTF-8 throughout) with
 * optional white space around it. On success stores the value's span in
 * *value. On failure fills err (codes: invalid_json, invalid_utf8,
 * control_character, too_deep, trailing_data, extra_value, empty) and
 * returns LA_EDATA. */
int la_json_validate(const char *p, size_t n, la_span *value, la_err *err);

/* The members of a record's top-level object, gathered while validating
 * so that finding a field does not scan the record again. */
typedef struct {
    la_span key, val;
    int has_u;       /* not a string value without \\u escapes */
} la_member;
typedef struct la_members {
    la_member *m;
    size_t n, cap;
} la_members;

/* la_json_validate, also filling *top (cleared first) with the top-level
 * object's members in order (left empty when the value is no object). */
int la_json_validate_top(const char *p, size_t n, la_span *value, la_members *top, la_err *err);

/* The members of one top-level member's object value, gathered while
 * validating (la_json_validate_sub) so that a large value (a tokenizer's
 * "model") is not walked again to find them. `name` is the top-level key
 * as written, quotes included (an escaped spelling of it is not
 * recognised); `parent` is the value of its last occurrence, {0, 0} when
 * there is none or it is no object. Each member has its key and value
 * spans and, when the value is an array or an object, how many elements
 * or members it holds (0 for other values). */
typedef struct {
    la_span key, val;
    size_t count;
} la_sub_member;
typedef struct la_sub_members {
    const char *name;
    size_t name_len;
    la_span parent;
    la_sub_member *m;
    size_t n, cap;
    /* when set, called with each member as soon as it is validated, and
     * the top-level members validated before it (an occurrence of name
     * that turns out invalid or is repeated later has had members
     * reported too) */
    void (*on_member)(void *ctx, const char *p, const la_sub_member *m, const la_members *top);
    /* when set, called where a member's value begins (p[pos], key the
     * member's key as written), with the members before it: it may go
     * over the whole value itself, as strictly as the validator (RFC 8259
     * and UTF-8, la_json_scan_string for its strings), and return where
     * the value ends with its element count in *count; 0 leaves the value
     * to the validator, which then finds and words any error in it */
    size_t (*on_value)(void *ctx, const char *p, size_t n, la_span key, size_t pos, const struct la_sub_members *sub,
                       size_t *count);
    void *ctx;
    /* the top-level members validated so far, while on_value is called */
    const struct la_members *top;
} la_sub_members;

/* The validator's own string scanner: the string at p[pos] (a quote),
 * *end just past its closing quote, *has_u set when it holds a \u
 * escape; an error as the validator words it. */
int la_json_scan_string(const char *p, size_t n, size_t pos, size_t *end, int *has_u, la_err *err);
/* The same for a string of a few bytes (a merge's token), in one or two
 * 16-byte steps when it closes within 32 bytes without escapes or UTF-8
 * longer than three bytes, else a byte at a time, where the general
 * scanner would begin with a whole block: *plain
 * is 1 when it has no escape (0 may also mean the general scanner took
 * over); an error is said by neither, only returned. */
int la_json_scan_short(const char *p, size_t n, size_t pos, size_t *end, int *plain);
/* The object at p[pos] when all its values are integers without sign,
 * fraction or exponent (a tokenizer's vocabulary), validated as strictly
 * as la_json_validate: where it ends, with its member count in *count;
 * 0 for any other value or any error, left to the validator to word. */
size_t la_json_int_object(const char *p, size_t n, size_t pos, size_t *count);
/* A member of such an object as it was validated: its key's place
 * (offset of the opening quote from the object's '{', length with the
 * quotes), whether the key has no escape, and its value (UINT64_MAX
 * when it has more than 19 digits). */
typedef struct {
    uint32_t key;
    uint32_t len : 31, plain : 1;
    uint64_t value;
} la_int_member;
typedef struct la_int_members {
    la_int_member *m;
    size_t n, cap;
    int failed;                   /* out of memory: the list is not whole */
    /* fixed: m holds cap members and never moves (more fail the list),
     * so that another thread may read the list while it is written:
     * ready says how many members are in (published every so often, with
     * release), and closed that the writer is done (1: ready is all of
     * them) or gave up (2). Set by whoever set m. */
    int fixed;
    _Atomic size_t ready;
    _Atomic int closed;
} la_int_members;
/* la_json_int_object, keeping each member in *out as well (out->n
 * counts them; a failure to grow it sets out->failed, the validation's
 * result stands), so that a reader of the object need not scan it again.
 * A fixed list is published as it grows (out->ready) and closed at the
 * end: 1 when the object was read whole into it, else 2. */
size_t la_json_int_object_list(const char *p, size_t n, size_t pos, size_t *count, la_int_members *out);
/* For tests: how many members the two above read by their layout (the
 * bytes around them those of the member before) since the program
 * started (0 without SSE2). */
unsigned long la_json_members_laid_out(void);

/* la_json_validate_top, also filling *sub (sub->name set by the caller;
 * sub->m is the caller's to free). */
int la_json_validate_sub(const char *p, size_t n, la_span *value, la_members *top, la_sub_members *sub,
                         la_err *err);

/* The fast way through a JSONL line: the first line of p[0..n), where the
 * 64 bytes after p[n] may be read too. LA_OK when the line (up to its
 * '\n', or n) is one valid JSON value with only spaces and tabs inside it
 * and only those and carriage returns around it: *value and *top are
 * then what la_json_validate_top gives for the line (its trailing '\r'
 * cut or not) and *line_end is where its '\n' is (or n). Anything else
 * gives LA_EDATA without a reason; the line must then go the general way
 * (la_json_validate_top on it alone), which says what is wrong. */
int la_json_validate_line(const char *p, size_t n, la_span *value, la_members *top, size_t *line_end);

/* Finds key among members (the last duplicate wins). 1 found, 0 not. */
int la_json_members_get(const la_members *top, const char *p, const char *key, size_t keylen, la_span *val);

/* Appends the inside of a string, p[0..n) (between the quotes, only
 * whole escapes), in the form la_json_escape gives its decoded text, in
 * one pass over the escaped bytes: \u escapes of printable characters
 * become raw UTF-8, \/ becomes /. LA_EDATA (code lone_surrogate) for an
 * escaped lone surrogate. */
int la_json_reescape_body(const char *p, size_t n, la_buf *out, la_err *err);

/* String scanning and re-escaping run on 32-byte blocks with AVX2 when
 * the CPU has it, else SSE2 on x86-64, else plain C. Sets the level
 * (0 plain, 1 SSE2, 2 AVX2; -1 or more than the machine has: the best it
 * has) and returns the one in use. For tests, which run every path; not
 * to be changed while other threads validate. */
int la_json_set_simd(int level);

/* Kind of the valid value starting at p[0]. */
la_jtype la_json_type(char c);
const char *la_json_type_name(la_jtype t);

/* End (exclusive) of the valid value starting at p[pos]; p must have been
 * validated; n bounds every read. Iterative. */
size_t la_json_skip(const char *p, size_t n, size_t pos);

/* Skips JSON white space from pos. */
size_t la_json_ws(const char *p, size_t n, size_t pos);

/* The same, inlined where it is hot: a byte that is no white space
 * returns at once, and a longer run (the indentation of a pretty-printed
 * tokenizer.json, a line break and several spaces before nearly every
 * element) is passed 16 bytes at a time where 16 bytes are left. */
static inline size_t la_json_ws_run(const char *p, size_t n, size_t pos)
{
    if (pos >= n || (p[pos] != ' ' && p[pos] != '\n' && p[pos] != '\r' && p[pos] != '\t'))
        return pos;
#ifdef __SSE2__
    while (pos + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + pos));
        __m128i ws = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\n'))),
                                  _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('\r')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\t'))));
        unsigned other = ~(unsigned)_mm_movemask_epi8(ws) & 0xFFFFu;
        if (other)
            return pos + (unsigned)__builtin_ctz(other);
        pos += 16;
    }
#endif
    while (pos < n && (p[pos] == ' ' || p[pos] == '\n' || p[pos] == '\r' || p[pos] == '\t'))
        pos++;
    return pos;
}

#ifdef __SSE2__
/* The bytes of the 16 at s that are c, and those in [lo, lo + span], as
 * bit masks. */
static inline unsigned la_eq16(__m128i v, char c)
{
    return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c)));
}

static inline unsigned la_in16(__m128i v, unsigned char lo, unsigned char span)
{
    __m128i d = _mm_sub_epi8(v, _mm_set1_epi8((char)lo));
    return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8((char)span)), d));
}

/* The UTF-8 of the bytes of a string before its closing quote (below),
 * given their masks: 1 when every byte from 0x80 up (hi) is in a sequence
 * of two bytes (lead C2-DF) or three (lead E0-EF, no overlong form after
 * E0, no surrogate after ED: bad3 marks the bytes after such leads that
 * make one), each lead followed by its continuation bytes (cont, 80-BF),
 * all before the quote. */
static inline int la_utf8_masks_hold(uint64_t below, uint64_t hi, uint64_t cont, uint64_t lead2,
                                     uint64_t lead3, uint64_t bad3)
{
    cont &= below, lead2 &= below, lead3 &= below;
    return (lead2 | lead3 | cont) == hi && (lead2 << 1 | lead3 << 1 | lead3 << 2) == cont && !bad3;
}

/* The common short string of la_json_scan_short (and of the tokenizer's
 * merges reader) in one step: its closing quote within the 16 bytes after
 * the opening one (or, when not there, within 32: two steps), no
 * backslash or control character before it, and every byte from 0x80 up
 * in a two- or three-byte UTF-8 sequence (la_utf8_masks_hold): Latin,
 * Greek, Cyrillic, GPT-2's byte alphabet, CJK, SentencePiece's U+2581.
 * Returns the offset past the closing quote, or 0 when the string is not
 * such (the byte loop then looks at it, and says what the validator
 * says). s[0..16) can be read, and s[16..32) when wide. */
static inline size_t la_json_short_plain(const unsigned char *s, int wide)
{
    __m128i v0 = _mm_loadu_si128((const __m128i *)(const void *)s), v1 = _mm_setzero_si128();
    uint64_t q = la_eq16(v0, '"');
    int two = 0;
    if (!q) {
        if (!wide)
            return 0;
        v1 = _mm_loadu_si128((const __m128i *)(const void *)(s + 16));
        q = (uint64_t)la_eq16(v1, '"') << 16;
        if (!q)
            return 0;
        two = 1;
    }
#define BOTH(f, ...) ((uint64_t)f(v0, __VA_ARGS__) | (two ? (uint64_t)f(v1, __VA_ARGS__) << 16 : 0))
    uint64_t below = (q & (0 - q)) - 1;
    if ((BOTH(la_in16, 0x00, 0x1F) | BOTH(la_eq16, '\\')) & below)
        return 0;
    uint64_t hi = ((uint64_t)(unsigned)_mm_movemask_epi8(v0) |
                   (two ? (uint64_t)(unsigned)_mm_movemask_epi8(v1) << 16 : 0)) & below;
    /* E0 then 80-9F is an overlong form, ED then A0-BF a surrogate */
    if (hi && !la_utf8_masks_hold(below, hi, BOTH(la_in16, 0x80, 0x3F), BOTH(la_in16, 0xC2, 0x1D),
                                  BOTH(la_in16, 0xE0, 0x0F),
                                  (BOTH(la_eq16, (char)0xE0) << 1 & BOTH(la_in16, 0x80, 0x1F)) |
                                      (BOTH(la_eq16, (char)0xED) << 1 & BOTH(la_in16, 0xA0, 0x1F))))
        return 0;
#undef BOTH
    return (size_t)__builtin_ctzll(q) + 1;
}
#endif

/* Longest run of bytes between the parts of an element that the readers
 * of tokenizer.json's big arrays and objects keep as their layout. */
#define LA_JSON_RUN_MAX 32

/* Keeps p[from..to) as run (LA_JSON_RUN_MAX bytes, zero after it) and
 * its length in *len; 0 when longer. */
static inline int la_json_keep_run(const char *p, size_t from, size_t to, char *run, size_t *len)
{
    if (to - from > LA_JSON_RUN_MAX)
        return 0;
    memset(run, 0, LA_JSON_RUN_MAX);
    memcpy(run, p + from, to - from);
    *len = to - from;
    return 1;
}

#ifdef __SSE2__
/* 1 when s[0..len) is run[0..len) (len <= LA_JSON_RUN_MAX; 32 bytes of
 * s and of run readable). */
static inline int la_json_same_run(const char *s, const char *run, size_t len)
{
    __m128i a0 = _mm_loadu_si128((const __m128i *)(const void *)s);
    __m128i b0 = _mm_loadu_si128((const __m128i *)(const void *)run);
    uint32_t eq = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(a0, b0));
    if (len > 16) {
        __m128i a1 = _mm_loadu_si128((const __m128i *)(const void *)(s + 16));
        __m128i b1 = _mm_loadu_si128((const __m128i *)(const void *)(run + 16));
        eq |= (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(a1, b1)) << 16;
    } else {
        eq |= 0xFFFF0000u;
    }
    uint32_t want = len >= 32 ? 0xFFFFFFFFu : ((uint32_t)1 << len) - 1;
    return (eq & want) == want;
}
#endif

/* Looks up key (raw UTF-8 bytes) among the members of the valid object
 * starting at p[obj]. Duplicate keys: the last one wins, as in
 * JavaScript's and Python's parsers, so the edit lands on the value a
 * consumer sees. Returns 1 with the value's span, 0 when absent. */
int la_json_object_get(const char *p, size_t n, size_t obj, const char *key, size_t keylen,
                       la_span *val);

/* Iterates the elements of the valid array at p[arr]: start with
 * *it = 0; each call returns 1 with the next element's span, 0 at the end. */
int la_json_array_next(const char *p, size_t n, size_t arr, size_t *it, la_span *elem);

/* Decodes the string value p[s.start..s.end) (quotes included) as UTF-8,
 * appending to out. Returns LA_EDATA (code lone_surrogate) when an escape
 * encodes a lone UTF-16 surrogate, which has no UTF-8 form. */
int la_json_unescape(const char *p, la_span s, la_buf *out, la_err *err);
/* The same for the inside of a string, p[0..n) (between the quotes). */
int la_json_unescape_body(const char *p, size_t n, la_buf *out, la_err *err);
/* The character the two-byte escape \c stands for (\n, \", \/, ...), or
 * -1 when there is none (\u takes more bytes). */
static inline int la_json_short_escape(char c)
{
    switch (c) {
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case '"': case '\\': case '/': return c;
    default: return -1;
    }
}
/* Length of the escape at p[i] (a backslash) of a string's inside that
 * ends at `end` (a \u surrogate pair counts as one), 0 if none fits. */
size_t la_json_escape_len(const char *p, size_t i, size_t end);

/* For decoding only the start of a long string: the offset in the inside
 * p[from..to) of a string, as close to from + want as possible without
 * cutting an escape or a surrogate pair (to when the string is shorter). */
size_t la_json_cut(const char *p, size_t from, size_t to, size_t want);

/* What la_json_unescape would reject in p[from..to) (the inside of a
 * string, from at an escape boundary) - a lone surrogate - without
 * decoding: LA_EDATA with the same error, else LA_OK. */
int la_json_check_escapes(const char *p, size_t from, size_t to, la_err *err);

/* The escaping style of the inside p[from..to) of a string, for text
 * added to it: *ascii = 1 when it is pure ASCII and holds a \u escape
 * (as JSON writers that escape all non-ASCII make it), else 0. Checks
 * the escapes as la_json_check_escapes does (LA_EDATA, *ascii 0, for a
 * lone surrogate). */
int la_json_escape_style(const char *p, size_t from, size_t to, int *ascii, la_err *err);
/* 1 when s[0..n) holds no byte above 0x7F: 8 bytes at a time, inline,
 * for the short texts of every record too. */
static inline int la_json_all_ascii(const char *s, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if (w & 0x8080808080808080ull)
            return 0;
    }
    for (; i < n; i++)
        if ((unsigned char)s[i] & 0x80)
            return 0;
    return 1;
}

/* True when the string value p[s..] holds no escape, so its bytes between
 * the quotes are its UTF-8 text. */
int la_json_string_is_plain(const char *p, la_span s);

/* Appends text as the inside of a JSON string: only '"', '\\' and control
 * characters are escaped; everything else stays raw UTF-8. */
int la_json_escape(const char *s, size_t n, la_buf *out);

/* Appends s[0..n), text in the form la_json_escape writes (UTF-8), with
 * each non-ASCII character as \uXXXX (lower-case hex; a UTF-16 surrogate
 * pair above U+FFFF): the same string, in pure ASCII. */
int la_json_ascii_escape(const char *s, size_t n, la_buf *out);

#endif
