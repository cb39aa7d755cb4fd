/* json.c - strict, iterative JSON validation and span location. */
#include "json.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Byte classes inside a string: 0 = ordinary ASCII (copied through by
 * the fast loop), 1 = '"', 2 = '\\', 3 = control, 4 = UTF-8 lead/other. */
static const unsigned char str_class[256] = {
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
};

static int is_ws(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t la_json_ws(const char *p, size_t n, size_t pos)
{
    return la_json_ws_run(p, n, pos);
}

/* Length of a valid UTF-8 sequence at s (strict: no overlongs, no
 * surrogates, nothing above U+10FFFF), 0 if invalid or truncated.
 * Inlined where strings are a few bytes (la_json_scan_short), called
 * elsewhere (utf8_seq). */
static inline __attribute__((always_inline)) size_t utf8_seq_inline(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    if (c < 0xC2 || c > 0xF4)
        return 0;
    if (c < 0xE0)
        return avail >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (avail < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F))
            return 0;
        return 3;
    }
    if (avail < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
        return 0;
    if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F))
        return 0;
    return 4;
}

static __attribute__((noinline)) size_t utf8_seq(const unsigned char *s, size_t avail)
{
    return utf8_seq_inline(s, avail);
}

/* True when one of the 8 bytes of w is a control character, '"', '\\'
 * or non-ASCII: the word cannot be skipped by the fast loop. */
static inline int word_special(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    uint64_t lt = (w - ones * 0x20) & ~w;           /* bytes < 0x20 (or >= 0x80, caught below) */
    uint64_t zq = (q - ones) & ~q, zb = (b - ones) & ~b;
    return ((lt | zq | zb) & highs) != 0 || (w & highs) != 0;
}

static inline uint64_t load8(const unsigned char *s)
{
    uint64_t w;
    memcpy(&w, s, 8);
    return w;
}

#ifdef __SSE2__
/* Bit k set when byte k of s[0..16) is a control character, '"', '\\'
 * or non-ASCII. One signed compare catches both control and non-ASCII
 * bytes. */
static inline unsigned specials16_sse2(const unsigned char *s)
{
    __m128i v = _mm_loadu_si128((const __m128i *)s);
    __m128i sp = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                              _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                           _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
    return (unsigned)_mm_movemask_epi8(sp);
}
#endif

/* Skips ordinary string bytes from i (for la_json_escape, whose texts
 * are short): 16 (SSE2) or 8 bytes at a time. */
static inline size_t skip_plain(const unsigned char *u, size_t n, size_t i)
{
#ifdef __SSE2__
    while (i + 16 <= n) {
        unsigned mask = specials16_sse2(u + i);
        if (mask)
            return i + (unsigned)__builtin_ctz(mask);
        i += 16;
    }
#endif
    while (i + 8 <= n && !word_special(load8(u + i)))
        i += 8;
    return i;
}

/* ---- 32-byte blocks ------------------------------------------------------
 * String scanning and re-escaping look at 32 bytes at a time and get a bit
 * mask of the bytes that need attention, so that several escapes in one
 * block cost one load. Three implementations of the same masks: plain C
 * (any machine), SSE2 (x86-64 baseline) and AVX2, picked at run time. */

#if defined(__x86_64__) && defined(__GNUC__)
#define LA_HAVE_AVX2 1
#include <immintrin.h>
#endif

enum { SIMD_PLAIN, SIMD_SSE2, SIMD_AVX2 };

/* Bit k: byte k of s[0..32) is special inside a string (str_class != 0). */
static inline uint32_t specials32_plain(const unsigned char *s)
{
    uint32_t m = 0;
    for (unsigned k = 0; k < 32; k++)
        m |= (uint32_t)(str_class[s[k]] != 0) << k;
    return m;
}

/* Bit k: byte k of s[0..32) is a backslash. */
static inline uint32_t backslashes32_plain(const unsigned char *s)
{
    uint32_t m = 0;
    for (unsigned k = 0; k < 32; k++)
        m |= (uint32_t)(s[k] == '\\') << k;
    return m;
}

#ifdef __SSE2__
static inline uint32_t specials32_sse2(const unsigned char *s)
{
    return specials16_sse2(s) | specials16_sse2(s + 16) << 16;
}

static inline uint32_t backslashes32_sse2(const unsigned char *s)
{
    const __m128i bs = _mm_set1_epi8('\\');
    unsigned lo = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)s), bs));
    unsigned hi = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(s + 16)), bs));
    return lo | hi << 16;
}
#endif

#ifdef LA_HAVE_AVX2
__attribute__((target("avx2"))) static inline uint32_t specials32_avx2(const unsigned char *s)
{
    __m256i v = _mm256_loadu_si256((const __m256i *)s);
    __m256i sp = _mm256_or_si256(_mm256_cmpgt_epi8(_mm256_set1_epi8(0x20), v),
                                 _mm256_or_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('"')),
                                                 _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\\'))));
    return (uint32_t)_mm256_movemask_epi8(sp);
}

__attribute__((target("avx2"))) static inline uint32_t backslashes32_avx2(const unsigned char *s)
{
    __m256i v = _mm256_loadu_si256((const __m256i *)s);
    return (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('\\')));
}
#endif

enum { MASK_SPECIAL, MASK_BACKSLASH };

/* The mask `which` of s[0..32) at a level; `level` and `which` are
 * constants wherever this is inlined, so each instantiation keeps one
 * branch. */
static inline __attribute__((always_inline)) uint32_t mask32(const unsigned char *s, int level, int which)
{
#ifdef LA_HAVE_AVX2
    if (level == SIMD_AVX2)
        return which == MASK_SPECIAL ? specials32_avx2(s) : backslashes32_avx2(s);
#endif
#ifdef __SSE2__
    if (level == SIMD_SSE2)
        return which == MASK_SPECIAL ? specials32_sse2(s) : backslashes32_sse2(s);
#endif
    (void)level;
    return which == MASK_SPECIAL ? specials32_plain(s) : backslashes32_plain(s);
}

/* Instantiates CALL(level) (an always-inline body) once per level as
 * NAME_plain, NAME_sse2 and NAME_avx2 (the last compiled for AVX2), and
 * NAME_at[level], the table the public functions call through. */
#ifdef __SSE2__
#define SSE2_VARIANT(ret, name, params, call) \
    static ret name##_sse2 params { return call(SIMD_SSE2); }
#define SSE2_OR_PLAIN(name) name##_sse2
#else
#define SSE2_VARIANT(ret, name, params, call)
#define SSE2_OR_PLAIN(name) name##_plain
#endif
#ifdef LA_HAVE_AVX2
#define AVX2_VARIANT(ret, name, params, call) \
    __attribute__((target("avx2"))) static ret name##_avx2 params { return call(SIMD_AVX2); }
#define AVX2_OR_LESS(name) name##_avx2
#else
#define AVX2_VARIANT(ret, name, params, call)
#define AVX2_OR_LESS(name) SSE2_OR_PLAIN(name)
#endif
#define SIMD_VARIANTS(ret, name, params, call)                     \
    static ret name##_plain params { return call(SIMD_PLAIN); }    \
    SSE2_VARIANT(ret, name, params, call)                          \
    AVX2_VARIANT(ret, name, params, call)                          \
    static ret (*const name##_at[3]) params = {name##_plain, SSE2_OR_PLAIN(name), AVX2_OR_LESS(name)};

/* The best level this machine runs, found once; la_json_set_simd lowers
 * it for tests. Relaxed atomics: every thread computes the same value. */
static int simd_level = -1;

static int detect_simd(void)
{
#ifdef LA_HAVE_AVX2
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        return SIMD_AVX2;
#endif
#ifdef __SSE2__
    return SIMD_SSE2;
#else
    return SIMD_PLAIN;
#endif
}

static inline int simd(void)
{
    int l = __atomic_load_n(&simd_level, __ATOMIC_RELAXED);
    if (l < 0) {
        l = detect_simd();
        __atomic_store_n(&simd_level, l, __ATOMIC_RELAXED);
    }
    return l;
}

int la_json_set_simd(int level)
{
    int best = detect_simd();
    int l = level < 0 || level > best ? best : level;
    __atomic_store_n(&simd_level, l, __ATOMIC_RELAXED);
    return l;
}

/* The mask of the block at u[i..i+32): straight from the input when 32
 * bytes remain before n, else from a copy padded with zero bytes (which
 * show as control characters: the caller treats any bit at or past n as
 * the end of the input). */
static inline __attribute__((always_inline)) uint32_t block_specials(const unsigned char *u, size_t n, size_t i,
                                                                    int level)
{
    if (i + 32 <= n)
        return mask32(u + i, level, MASK_SPECIAL);
    unsigned char t[32] = {0};
    memcpy(t, u + i, n - i);
    return mask32(t, level, MASK_SPECIAL);
}

/* Scans a string starting at p[pos] == '"'; on success *end is just past
 * the closing quote. Strings are most of a record: ordinary bytes are
 * skipped a block at a time, and only the special ones are looked at. */
static inline __attribute__((always_inline)) int scan_string_body(const char *p, size_t n, size_t pos, size_t from,
                                                                size_t *end, int *has_u, la_err *err, int level)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t i = from;   /* the block being looked at starts here; from is at an escape boundary */
    for (;;) {
        if (i >= n)
            return la_err_set(err, LA_EDATA, "invalid_json", "unterminated string starting at byte %zu", pos + 1);
        uint32_t m = block_specials(u, n, i, level);
        size_t j = i + 32;   /* the first byte not yet accepted */
        while (m) {
            j = i + (unsigned)__builtin_ctz(m);
            if (j >= n)
                return la_err_set(err, LA_EDATA, "invalid_json", "unterminated string starting at byte %zu",
                                  pos + 1);
            unsigned char c = u[j];
            if (c == '"') {
                *end = j + 1;
                return LA_OK;
            }
            if (c == '\\') {
                if (j + 1 >= n)
                    return la_err_set(err, LA_EDATA, "invalid_json", "unterminated string at byte %zu", pos + 1);
                switch (u[j + 1]) {
                case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
                    j += 2;
                    break;
                case 'u':
                    *has_u = 1;
                    if (j + 6 > n || hexval(u[j + 2]) < 0 || hexval(u[j + 3]) < 0 || hexval(u[j + 4]) < 0 ||
                        hexval(u[j + 5]) < 0)
                        return la_err_set(err, LA_EDATA, "invalid_json", "bad \\u escape at byte %zu", j + 1);
                    j += 6;
                    break;
                default:
                    return la_err_set(err, LA_EDATA, "invalid_json", "bad escape '\\%c' at byte %zu",
                                      (u[j + 1] >= 0x20 && u[j + 1] < 0x7f) ? p[j + 1] : '?', j + 1);
                }
            } else if (c < 0x20) {
                return la_err_set(err, LA_EDATA, "control_character",
                                  "raw control character U+%04X in a string at byte %zu", c, j + 1);
            } else {
                size_t k = utf8_seq(u + j, n - j);
                if (!k)
                    return la_err_set(err, LA_EDATA, "invalid_utf8", "invalid UTF-8 at byte %zu", j + 1);
                j += k;
            }
            if (j >= i + 32)
                break;
            m &= ~0u << (j - i);   /* bits of the bytes just consumed */
        }
        i = j > i + 32 ? j : i + 32;
    }
}

#ifdef LA_HAVE_AVX2
/* The bits of the bytes escaped by a backslash in a 64-byte block, given
 * the backslashes; *carry says the block's first byte is escaped and is
 * set for the next block. Runs of backslashes are paired off with one
 * addition instead of a branch per escape (the method of simdjson). */
static inline uint64_t escaped_bits(uint64_t bs, uint64_t *carry)
{
    const uint64_t even = 0x5555555555555555ull;
    bs &= ~*carry;
    uint64_t follows = bs << 1 | *carry;
    uint64_t odd_starts = bs & ~even & ~follows, seq_even;
    *carry = __builtin_add_overflow(odd_starts, bs, &seq_even);
    return (even ^ (seq_even << 1)) & follows;
}

__attribute__((target("avx2"))) static inline uint64_t movemask64(__m256i a, __m256i b)
{
    return (uint32_t)_mm256_movemask_epi8(a) | (uint64_t)(uint32_t)_mm256_movemask_epi8(b) << 32;
}

/* The letters a backslash may escape without further checks; \u (four
 * hex digits, and has_u) is left to the general scanner. */
static const unsigned char short_escape[256] = {
    ['"'] = 1, ['\\'] = 1, ['/'] = 1, ['b'] = 1, ['f'] = 1, ['n'] = 1, ['r'] = 1, ['t'] = 1,
};

/* The common string (escapes other than \\u) in 64-byte blocks, with the
 * escaped bytes found without a branch per backslash and their letters
 * checked one by one (a block has few); non-ASCII characters are checked
 * one sequence at a time (tokenizer files are full of them). Anything
 * else - a control byte, invalid UTF-8, a \\u escape, a bad escape, the
 * end of the input - goes to the general scanner from the start of that
 * block (or of the character running into it), which also words every
 * error. `padded`: the 64 bytes after p[n] may be read, so the last block
 * is masked instead of copied. */
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) int
scan_string_fast_core(const char *p, size_t n, size_t pos, size_t *end, int *has_u, la_err *err, int padded)
{
    const unsigned char *u = (const unsigned char *)p;
    const __m256i quote = _mm256_set1_epi8('"'), backslash = _mm256_set1_epi8('\\'), space = _mm256_set1_epi8(0x20);
    size_t i = pos + 1;
    uint64_t carry = 0, carry_in = 0;   /* carry_in: the block at i starts escaped */
    uint64_t spill = 0;                 /* the block's first bytes end a character begun before it */
    size_t lead = 0;                    /* where that character begins */
    unsigned char t[64];
    while (i < n) {
        /* the last block: bytes past n count as control bytes (as the zero
         * bytes of a padded copy do), so the general scanner takes over
         * unless the string ends before them */
        const unsigned char *b = u + i;
        uint64_t past = 0;
        if (n - i < 64) {
            if (padded) {
                past = ~0ull << (n - i);
            } else {
                memset(t, 0, sizeof t);
                memcpy(t, u + i, n - i);
                b = t;
            }
        }
        __m256i va = _mm256_loadu_si256((const __m256i *)b), vb = _mm256_loadu_si256((const __m256i *)(b + 32));
        uint64_t qm = movemask64(_mm256_cmpeq_epi8(va, quote), _mm256_cmpeq_epi8(vb, quote)) & ~past;
        uint64_t bs = movemask64(_mm256_cmpeq_epi8(va, backslash), _mm256_cmpeq_epi8(vb, backslash)) & ~past;
        /* signed: bytes below 0x20 and above 0x7F */
        uint64_t special = (movemask64(_mm256_cmpgt_epi8(space, va), _mm256_cmpgt_epi8(space, vb)) | past) & ~spill;
        carry_in = carry;
        uint64_t esc = bs | carry ? escaped_bits(bs, &carry) : 0, uq = qm & ~esc;
        uint64_t region = uq ? (uq & -uq) - 1 : ~0ull;   /* the bytes before the closing quote */
        uint64_t sp = special & region, next_spill = 0;
        size_t next_lead = 0;
        if (sp) {
            if (sp & ~(movemask64(va, vb) & ~past))
                break;             /* a control byte, or the end of the input */
            /* non-ASCII: each sequence from its lead byte (a quote or a
             * backslash is ASCII, so none is inside one) */
            while (sp) {
                unsigned at = (unsigned)__builtin_ctzll(sp);
                size_t k = utf8_seq(u + i + at, n - i - at);
                if (!k)
                    goto general;  /* invalid: the general scanner says where */
                if (at + k >= 64) {
                    next_spill = ((uint64_t)1 << (at + k - 64)) - 1;
                    next_lead = i + at;
                    break;
                }
                sp &= ~((((uint64_t)1 << k) - 1) << at);
            }
        }
        /* escaped bytes before the end are inside the input (past bytes
         * in the region stopped the scan above) */
        for (uint64_t e = esc & region; e; e &= e - 1)
            if (!short_escape[b[__builtin_ctzll(e)]])
                goto general;
        if (uq) {
            *end = i + (size_t)__builtin_ctzll(uq) + 1;
            return LA_OK;
        }
        i += 64;
        carry_in = carry;
        spill = next_spill;
        lead = next_lead;
    }
general:
    /* a block that starts escaped is rescanned from its backslash, one
     * that starts inside a character from that character */
    return scan_string_body(p, n, pos, spill ? lead : carry_in ? i - 1 : i, end, has_u, err, SIMD_AVX2);
}

__attribute__((target("avx2"))) static int scan_string_fast(const char *p, size_t n, size_t pos, size_t *end,
                                                           int *has_u, la_err *err)
{
    return scan_string_fast_core(p, n, pos, end, has_u, err, 0);
}

/* The same where 64 bytes past n may be read (the line validator's
 * input): the last block is masked instead of copied. Inlined into the
 * line validator's AVX2 build, so that a string costs no call. */
__attribute__((target("avx2"))) static inline __attribute__((always_inline)) int
scan_string_padded(const char *p, size_t n, size_t pos, size_t *end, int *has_u, la_err *err)
{
    return scan_string_fast_core(p, n, pos, end, has_u, err, 1);
}
#endif

#ifdef LA_HAVE_AVX2
#define SCAN_STRING(level)                                                                   \
    ((level) == SIMD_AVX2 ? scan_string_fast(p, n, pos, end, has_u, err)                     \
                          : scan_string_body(p, n, pos, pos + 1, end, has_u, err, level))
#else
#define SCAN_STRING(level) scan_string_body(p, n, pos, pos + 1, end, has_u, err, level)
#endif
SIMD_VARIANTS(int, scan_string, (const char *p, size_t n, size_t pos, size_t *end, int *has_u, la_err *err),
              SCAN_STRING)

int la_json_scan_string(const char *p, size_t n, size_t pos, size_t *end, int *has_u, la_err *err)
{
    return scan_string_at[simd()](p, n, pos, end, has_u, err);
}

int la_json_scan_short(const char *p, size_t n, size_t pos, size_t *end, int *plain)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t j = pos + 1;
    *plain = 1;
#ifdef __SSE2__
    size_t k;
    if (n - j >= 16 && (k = la_json_short_plain(u + j, n - j >= 32)) != 0) {
        *end = j + k;
        return LA_OK;
    }
#endif
    while (j < n) {
        unsigned c = u[j];
        if (c == '"') {
            *end = j + 1;
            return LA_OK;
        }
        if (c >= 0x80) {
            size_t k = utf8_seq_inline(u + j, n - j);
            if (!k)
                break;
            j += k;
        } else if (c < 0x20 || c == '\\') {
            break;
        } else {
            j++;
        }
    }
    int has_u = 0;
    *plain = 0;
    return la_json_scan_string(p, n, pos, end, &has_u, NULL);
}

#define LA_INT_PUBLISH 1024       /* members a fixed list is published by */

/* Appends member (key at k, klen bytes, plain, value) to out. */
static void int_member_put(la_int_members *out, size_t k, size_t klen, int plain, uint64_t value)
{
    if (out->failed)
        return;
    if (k > UINT32_MAX || klen >= ((size_t)1 << 31)) {
        out->failed = 1;
        return;
    }
    if (out->n == out->cap) {
        if (out->fixed) {
            out->failed = 1;
            return;
        }
        size_t cap = out->cap ? out->cap * 2 : 4096;
        la_int_member *m = realloc(out->m, cap * sizeof *m);
        if (!m) {
            out->failed = 1;
            return;
        }
        out->m = m;
        out->cap = cap;
    }
    out->m[out->n++] = (la_int_member){ (uint32_t)k, (uint32_t)klen, (unsigned)plain, value };
    /* a reader sees members in batches: a store per member would pass
     * the line holding ready back and forth between the two threads */
    if (out->fixed && (out->n & (LA_INT_PUBLISH - 1)) == 0)
        atomic_store_explicit(&out->ready, out->n, memory_order_release);
}

static atomic_ulong members_laid_out;   /* la_json_members_laid_out */

unsigned long la_json_members_laid_out(void) { return atomic_load(&members_laid_out); }

#ifdef __SSE2__
/* A pretty-printed vocabulary puts the same bytes between every key and
 * its value, and between a value and the next key: once a member has
 * been read the usual way, those runs (its layout) are kept, and the
 * next members are read by comparing theirs with them, each key found
 * and checked in one step (la_json_short_plain). A member that differs
 * in any way (a key with an escape or longer than 31 bytes, a value of
 * 20 digits or more or not a plain integer, other white space, the
 * object's end) goes the usual way. */
typedef struct {
    char colon[LA_JSON_RUN_MAX];  /* a key's closing quote .. its value */
    char comma[LA_JSON_RUN_MAX];  /* a value's end .. the next key's opening quote */
    size_t cl, ml;
} member_layout;

/* The members at p[i..) (i at a key's quote) that follow layout l, put
 * in out (when not NULL) and counted in *k; returns where the first that
 * does not starts (or one near the end of the bytes). */
static inline __attribute__((always_inline)) size_t laid_out_members(const char *p, size_t n, size_t pos, size_t i,
                                                                     const member_layout *l, size_t *k,
                                                                     la_int_members *out)
{
    const unsigned char *u = (const unsigned char *)p;
    unsigned long taken = 0;
    while (n - i > 4 * LA_JSON_RUN_MAX + 64) {
        size_t q = la_json_short_plain(u + i + 1, 1);
        if (!q)
            break;
        size_t e = i + 1 + q;
        if (!la_json_same_run(p + e, l->colon, l->cl))
            break;
        size_t d = e + l->cl, j = d;
        uint64_t v = 0;
        if (u[j] == '0') {
            j++;
        } else {
            /* up to 19 digits: a 20th (the usual way saturates) is no
             * layout's first byte */
            while (j - d < 19 && is_digit(u[j]))
                v = v * 10 + (uint64_t)(u[j++] - '0');
            if (j == d)
                break;
        }
        if (!la_json_same_run(p + j, l->comma, l->ml) || p[j + l->ml] != '"')
            break;
        if (out)
            int_member_put(out, i - pos, e - i, 1, v);
        ++*k;
        i = j + l->ml;
        taken++;
    }
    atomic_fetch_add_explicit(&members_laid_out, taken, memory_order_relaxed);
    return i;
}
#endif

static inline __attribute__((always_inline)) size_t int_object(const char *p, size_t n, size_t pos, size_t *count,
                                                               la_int_members *out)
{
    size_t i = la_json_ws_run(p, n, pos + 1), k = 0, e;
    int plain;
#ifdef __SSE2__
    member_layout lay;
    int laid = 0;
#endif
    if (p[pos] != '{')
        return 0;
    if (i < n && p[i] == '}')
        return *count = 0, i + 1;
    for (;;) {
#ifdef __SSE2__
        if (laid)
            i = laid_out_members(p, n, pos, i, &lay, &k, out);
#endif
        if (i >= n || p[i] != '"' || la_json_scan_short(p, n, i, &e, &plain) != LA_OK)
            return 0;
        size_t key = i;
        i = la_json_ws_run(p, n, e);
        if (i >= n || p[i] != ':')
            return 0;
        i = la_json_ws_run(p, n, i + 1);
        /* 0, or a digit 1-9 and more digits; what else follows (a
         * leading zero's digits, a fraction, an exponent) is not the ','
         * or '}' looked for next, so left to the validator, as a sign is */
        if (i >= n || !is_digit((unsigned char)p[i]))
            return 0;
        size_t d = i;
        if (p[i++] != '0')
            while (i < n && is_digit((unsigned char)p[i]))
                i++;
        if (out) {
            uint64_t v = 0;
            for (size_t j = d; j < i; j++)
                v = v * 10 + (uint64_t)(p[j] - '0');
            int_member_put(out, key - pos, e - key, plain, i - d > 19 ? UINT64_MAX : v);
        }
        k++;
        size_t vend = i;
        i = la_json_ws_run(p, n, i);
        if (i < n && p[i] == '}')
            return *count = k, i + 1;
        if (i >= n || p[i] != ',')
            return 0;
        i = la_json_ws_run(p, n, i + 1);
#ifdef __SSE2__
        /* this member's layout, for the next ones */
        laid = i < n && p[i] == '"' && la_json_keep_run(p, e, d, lay.colon, &lay.cl) &&
               la_json_keep_run(p, vend, i, lay.comma, &lay.ml);
#else
        (void)vend;
#endif
    }
}

size_t la_json_int_object(const char *p, size_t n, size_t pos, size_t *count)
{
    return int_object(p, n, pos, count, NULL);
}

size_t la_json_int_object_list(const char *p, size_t n, size_t pos, size_t *count, la_int_members *out)
{
    size_t end = int_object(p, n, pos, count, out);
    if (out->fixed) {
        atomic_store_explicit(&out->ready, out->n, memory_order_release);
        atomic_store_explicit(&out->closed, end && !out->failed ? 1 : 2, memory_order_release);
    }
    return end;
}

/* Scans a number per RFC 8259's grammar; *end just past it. */
static int scan_number(const char *p, size_t n, size_t pos, size_t *end, la_err *err)
{
    size_t i = pos;
    if (i < n && p[i] == '-')
        i++;
    if (i < n && p[i] == '0')
        i++;
    else if (i < n && p[i] >= '1' && p[i] <= '9')
        while (i < n && is_digit((unsigned char)p[i]))
            i++;
    else
        goto bad;
    if (i < n && p[i] == '.') {
        i++;
        if (i >= n || !is_digit((unsigned char)p[i]))
            goto bad;
        while (i < n && is_digit((unsigned char)p[i]))
            i++;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        if (i >= n || !is_digit((unsigned char)p[i]))
            goto bad;
        while (i < n && is_digit((unsigned char)p[i]))
            i++;
    }
    *end = i;
    return LA_OK;
bad:
    return la_err_set(err, LA_EDATA, "invalid_json", "invalid number at byte %zu", pos + 1);
}

static int scan_literal(const char *p, size_t n, size_t pos, size_t *end, la_err *err)
{
    static const char *const lits[] = {"true", "false", "null"};
    for (int k = 0; k < 3; k++) {
        size_t l = strlen(lits[k]);
        if (p[pos] == lits[k][0]) {
            if (n - pos >= l && memcmp(p + pos, lits[k], l) == 0) {
                *end = pos + l;
                return LA_OK;
            }
            break;
        }
    }
    return la_err_set(err, LA_EDATA, "invalid_json", "invalid literal at byte %zu", pos + 1);
}

/* Describes the byte at pos for "expected X" messages. */
static int unexpected(const char *p, size_t n, size_t pos, const char *what, la_err *err)
{
    if (pos >= n)
        return la_err_set(err, LA_EDATA, "invalid_json", "expected %s at byte %zu, found the end", what, pos + 1);
    unsigned char c = (unsigned char)p[pos];
    if (c >= 0x20 && c < 0x7f)
        return la_err_set(err, LA_EDATA, "invalid_json", "expected %s at byte %zu, found '%c'", what, pos + 1, c);
    return la_err_set(err, LA_EDATA, "invalid_json", "expected %s at byte %zu, found byte 0x%02X", what, pos + 1, c);
}

/* The container stack is one bit per level (1 = object), so the deepest
 * allowed record costs LA_JSON_MAX_DEPTH/8 bytes of stack. */
int la_json_validate(const char *p, size_t n, la_span *value, la_err *err)
{
    return la_json_validate_top(p, n, value, NULL, err);
}

/* Room for one more of n items of `size` bytes in *items; -1 when out
 * of memory. */
static int room_for_one(void **items, size_t *cap, size_t n, size_t size)
{
    return la_grow(items, cap, n + 1, size, 16);
}

/* Records a top-level member; -1 when out of memory. */
static int add_member(la_members *top, la_span key, la_span val, int has_u)
{
    void *items = top->m;
    int rc = room_for_one(&items, &top->cap, top->n, sizeof *top->m);
    top->m = items;
    if (rc)
        return -1;
    top->m[top->n].key = key;
    top->m[top->n].val = val;
    top->m[top->n].has_u = has_u;
    top->n++;
    return 0;
}

#define WS(p, n, pos) (line ? ws_line(p, n, pos) : la_json_ws_run(p, n, pos))
/* White space inside a line: line breaks and carriage returns are left
 * for the general way. */
static inline size_t ws_line(const char *p, size_t n, size_t pos)
{
    while (pos < n && (p[pos] == ' ' || p[pos] == '\t'))
        pos++;
    return pos;
}

typedef int (*scan_fn)(const char *p, size_t n, size_t pos, size_t *end, int *has_u, la_err *err);

/* Records a member of the sub object; -1 when out of memory. */
static int add_sub(la_sub_members *sub, la_span key, la_span val, size_t count)
{
    void *items = sub->m;
    int rc = room_for_one(&items, &sub->cap, sub->n, sizeof *sub->m);
    sub->m = items;
    if (rc)
        return -1;
    sub->m[sub->n++] = (la_sub_member){ key, val, count };
    return 0;
}

/* la_json_validate_top, and (line != 0) la_json_validate_line: white
 * space inside the value is only spaces and tabs, and the value ends at
 * a line feed. Strings are scanned by `scan` when given (a constant, so
 * inlined), else at the machine's level. */
static inline __attribute__((always_inline)) int validate_core(const char *p, size_t n, la_span *value,
                                                              la_members *top, la_sub_members *sub, la_err *err,
                                                              size_t *line_end, int line, scan_fn scan)
{
    unsigned char stack[LA_JSON_MAX_DEPTH / 8 + 1];
    size_t depth = 0, pos = WS(p, n, 0), end;
    int rc;
    la_span key = {0, 0}, val = {0, 0};
    int has_u = 0, level = simd();
    /* the sub object's member being read: its key, where its value
     * starts (0: none yet) and the values counted inside it */
    la_span key2 = {0, 0};
    size_t val2 = 0, count2 = 0;
    int in_sub = 0;                     /* inside the value of sub->name */
    if (top)
        top->n = 0;
    if (sub) {
        sub->n = 0;
        sub->parent = (la_span){ 0, 0 };
    }
    if (pos >= n)
        return la_err_set(err, LA_EDATA, "empty", "empty record");
    size_t vstart = pos;
    int track = top && p[pos] == '{';   /* gather members at depth 1 */
    if (!track)
        sub = NULL;

value:
    if (track && depth == 1)
        val.start = pos;
    if (sub && in_sub) {
        if (depth == 1 && p[pos] != '{') {
            in_sub = 0;                 /* not an object: nothing to gather */
        } else if (depth == 2) {
            val2 = pos;
            count2 = 0;
            size_t done;
            sub->top = top;
            if (sub->on_value && (done = sub->on_value(sub->ctx, p, n, key2, pos, sub, &count2)) > pos) {
                pos = done;             /* gone over whole: its end */
                goto after;
            }
        }
    }
    if (pos >= n)
        return unexpected(p, n, pos, "a value", err);
    switch (p[pos]) {
    case '{':
    case '[': {
        if (depth >= LA_JSON_MAX_DEPTH)
            return la_err_set(err, LA_EDATA, "too_deep", "nesting deeper than %d levels", LA_JSON_MAX_DEPTH);
        int obj = p[pos] == '{';
        if (obj)
            stack[depth >> 3] |= (unsigned char)(1u << (depth & 7));
        else
            stack[depth >> 3] &= (unsigned char)~(1u << (depth & 7));
        depth++;
        pos = WS(p, n, pos + 1);
        if (pos < n && p[pos] == (obj ? '}' : ']')) {
            depth--;
            pos++;
            goto after;
        }
        if (obj)
            goto key;
        goto value;
    }
    case '"':
        has_u = 0;
        rc = (scan ? scan : scan_string_at[level])(p, n, pos, &end, &has_u, err);
        break;
    case 't': case 'f': case 'n':
        rc = scan_literal(p, n, pos, &end, err);
        break;
    default:
        if (p[pos] == '-' || is_digit((unsigned char)p[pos]))
            rc = scan_number(p, n, pos, &end, err);
        else
            return unexpected(p, n, pos, "a value", err);
    }
    if (rc)
        return rc;
    pos = end;

after:
    if (sub && in_sub) {
        if (depth == 3) {
            count2++;
        } else if (depth == 2 && val2) {
            if (add_sub(sub, key2, (la_span){ val2, pos }, p[val2] == '{' || p[val2] == '[' ? count2 : 0))
                return la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
            if (sub->on_member)
                sub->on_member(sub->ctx, p, &sub->m[sub->n - 1], top);
            val2 = 0;
        } else if (depth == 1) {
            sub->parent = (la_span){ val.start, pos };
            in_sub = 0;
        }
    }
    if (track && depth == 1 && val.start) {
        val.end = pos;
        if (add_member(top, key, val, p[val.start] != '"' || has_u))
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
        val.start = 0;
    }
    if (depth == 0) {
        size_t vend = pos;
        if (line) {   /* spaces, tabs and carriage returns, then the line feed */
            while (pos < n && (p[pos] == ' ' || p[pos] == '\t' || p[pos] == '\r'))
                pos++;
            if (pos < n && p[pos] != '\n')
                return LA_EDATA;
            *line_end = pos;
            value->start = vstart;
            value->end = vend;
            return LA_OK;
        }
        pos = WS(p, n, pos);
        if (pos < n) {
            unsigned char c = (unsigned char)p[pos];
            if (c == '{' || c == '[' || c == '"' || c == '-' || is_digit(c) || c == 't' || c == 'f' || c == 'n')
                return la_err_set(err, LA_EDATA, "extra_value", "a second JSON value at byte %zu", pos + 1);
            return la_err_set(err, LA_EDATA, "trailing_data", "trailing data after the JSON value at byte %zu",
                              pos + 1);
        }
        value->start = vstart;
        value->end = vend;
        return LA_OK;
    }
    {
        int obj = (stack[(depth - 1) >> 3] >> ((depth - 1) & 7)) & 1;
        pos = WS(p, n, pos);
        if (pos < n && p[pos] == ',') {
            pos = WS(p, n, pos + 1);
            if (obj)
                goto key;
            goto value;
        }
        if (pos < n && p[pos] == (obj ? '}' : ']')) {
            depth--;
            pos++;
            goto after;
        }
        return unexpected(p, n, pos, obj ? "',' or '}'" : "',' or ']'", err);
    }

key:
    if (pos >= n || p[pos] != '"')
        return unexpected(p, n, pos, "a string key", err);
    if ((rc = (scan ? scan : scan_string_at[level])(p, n, pos, &end, &has_u, err)))
        return rc;
    if (depth == 1) {
        key.start = pos;
        key.end = end;
        if (sub && end - pos == sub->name_len && memcmp(p + pos, sub->name, sub->name_len) == 0) {
            in_sub = 1;                 /* a later occurrence replaces an earlier one */
            sub->n = 0;
            sub->parent = (la_span){ 0, 0 };
        }
    } else if (sub && in_sub && depth == 2) {
        key2.start = pos;
        key2.end = end;
    }
    pos = WS(p, n, end);
    if (pos >= n || p[pos] != ':')
        return unexpected(p, n, pos, "':'", err);
    pos = WS(p, n, pos + 1);
    goto value;
}

#undef WS

int la_json_validate_top(const char *p, size_t n, la_span *value, la_members *top, la_err *err)
{
    return validate_core(p, n, value, top, NULL, err, NULL, 0, NULL);
}

int la_json_validate_sub(const char *p, size_t n, la_span *value, la_members *top, la_sub_members *sub,
                         la_err *err)
{
    return validate_core(p, n, value, top, sub, err, NULL, 0, NULL);
}

#ifdef LA_HAVE_AVX2
__attribute__((target("avx2"))) static int validate_line_avx2(const char *p, size_t n, la_span *value,
                                                             la_members *top, size_t *line_end)
{
    return validate_core(p, n, value, top, NULL, NULL, line_end, 1, scan_string_padded);
}
#endif

int la_json_validate_line(const char *p, size_t n, la_span *value, la_members *top, size_t *line_end)
{
#ifdef LA_HAVE_AVX2
    if (simd() == SIMD_AVX2)
        return validate_line_avx2(p, n, value, top, line_end);
#endif
    return validate_core(p, n, value, top, NULL, NULL, line_end, 1, NULL);
}

la_jtype la_json_type(char c)
{
    switch (c) {
    case '{': return LA_JOBJECT;
    case '[': return LA_JARRAY;
    case '"': return LA_JSTRING;
    case 't': case 'f': return LA_JBOOL;
    case 'n': return LA_JNULL;
    default: return (c == '-' || is_digit((unsigned char)c)) ? LA_JNUMBER : LA_JNONE;
    }
}

const char *la_json_type_name(la_jtype t)
{
    static const char *const names[] = {"nothing", "an object", "an array", "a string",
                                        "a number", "a boolean", "null"};
    return names[t];
}

/* End of a valid string at p[pos] == '"'. */
/* Bits of the 16 bytes at s equal to a, b, c or d (SSE2) - the
 * structural bytes skipping looks for. */
#ifdef __SSE2__
static inline unsigned eq_mask4(const char *s, char a, char b, char c, char d)
{
    __m128i v = _mm_loadu_si128((const __m128i *)s);
    __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(a)), _mm_cmpeq_epi8(v, _mm_set1_epi8(b))),
                             _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(c)), _mm_cmpeq_epi8(v, _mm_set1_epi8(d))));
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* End of the valid string at p[pos] (a quote). Tokenizer files have
 * hundreds of thousands of short strings, so quotes and backslashes are
 * found 16 bytes at a time rather than by a call per string. */
static size_t skip_string(const char *p, size_t n, size_t pos)
{
    size_t i = pos + 1;
#ifdef __SSE2__
    while (i + 16 <= n) {
        unsigned m = eq_mask4(p + i, '"', '\\', '"', '\\');
        if (!m) {
            i += 16;
            continue;
        }
        size_t k = i + (unsigned)__builtin_ctz(m);
        if (p[k] == '"')
            return k + 1;
        i = k + 2;               /* a backslash escapes the next byte */
    }
#endif
    while (i < n && p[i] != '"')
        i += p[i] == '\\' ? 2 : 1;
    return i + 1;
}

size_t la_json_skip(const char *p, size_t n, size_t pos)
{
    char c = p[pos];
    if (c == '"')
        return skip_string(p, n, pos);
    if (c != '{' && c != '[') {
        size_t i = pos + 1;
        while (i < n && (is_digit((unsigned char)p[i]) || (p[i] >= 'a' && p[i] <= 'z') || p[i] == '.' ||
                        p[i] == '+' || p[i] == '-' || p[i] == 'E'))
            i++;
        return i;
    }
    /* a container: brackets are counted outside strings; the input is
     * valid, so brackets of either kind match */
    size_t depth = 0, i = pos;
    for (;;) {
#ifdef __SSE2__
        while (i + 16 <= n) {
            unsigned m = eq_mask4(p + i, '"', '[', ']', '"') | eq_mask4(p + i, '{', '}', '{', '}');
            if (m)
                break;
            i += 16;
        }
        if (i + 16 <= n)
            i += (unsigned)__builtin_ctz(eq_mask4(p + i, '"', '[', ']', '"') | eq_mask4(p + i, '{', '}', '{', '}'));
#endif
        char d = p[i];
        if (d == '"') {
            i = skip_string(p, n, i);
            continue;
        }
        if (d == '{' || d == '[')
            depth++;
        else if (d == '}' || d == ']') {
            if (--depth == 0)
                return i + 1;
        }
        i++;
    }
}

/* Compares a key's raw string value (quotes included) with key bytes,
 * decoding escapes only when the raw form has any. */
static int key_equals(const char *p, la_span k, const char *key, size_t keylen)
{
    size_t rawlen = k.end - k.start - 2;
    /* an escape is always longer than what it stands for: a raw key no
     * longer than the wanted one can only match byte for byte */
    if (rawlen < keylen)
        return 0;
    if (rawlen == keylen)
        return memcmp(p + k.start + 1, key, keylen) == 0 && !memchr(key, '\\', keylen);
    if (memchr(p + k.start + 1, '\\', rawlen) == NULL)
        return 0;
    la_buf b = {0};   /* rare path: escaped keys */
    int eq = 0;
    if (la_json_unescape(p, k, &b, NULL) == LA_OK)
        eq = b.len == keylen && memcmp(b.data, key, keylen) == 0;
    la_buf_free(&b);
    return eq;
}

int la_json_object_get(const char *p, size_t n, size_t obj, const char *key, size_t keylen, la_span *val)
{
    int found = 0;
    size_t pos = obj + 1;
    for (;;) {
        while (is_ws((unsigned char)p[pos]) || p[pos] == ',')
            pos++;
        if (p[pos] == '}')
            return found;
        la_span k = {pos, skip_string(p, n, pos)};
        pos = k.end;
        while (is_ws((unsigned char)p[pos]) || p[pos] == ':')
            pos++;
        size_t vend = la_json_skip(p, n, pos);
        if (key_equals(p, k, key, keylen)) {
            val->start = pos;
            val->end = vend;
            found = 1;
        }
        pos = vend;
    }
}

int la_json_members_get(const la_members *top, const char *p, const char *key, size_t keylen, la_span *val)
{
    for (size_t i = top->n; i-- > 0;)
        if (key_equals(p, top->m[i].key, key, keylen)) {
            *val = top->m[i].val;
            return 1;
        }
    return 0;
}

int la_json_array_next(const char *p, size_t n, size_t arr, size_t *it, la_span *elem)
{
    size_t pos = *it ? *it : arr + 1;
    while (is_ws((unsigned char)p[pos]) || p[pos] == ',')
        pos++;
    if (p[pos] == ']')
        return 0;
    elem->start = pos;
    elem->end = la_json_skip(p, n, pos);
    *it = elem->end;
    return 1;
}

int la_json_string_is_plain(const char *p, la_span s)
{
    return memchr(p + s.start + 1, '\\', s.end - s.start - 2) == NULL;
}

static size_t put_utf8(unsigned cp, char *o)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F)); return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static unsigned hex4(const char *q)
{
    return (unsigned)(hexval((unsigned char)q[0]) << 12 | hexval((unsigned char)q[1]) << 8 |
                      hexval((unsigned char)q[2]) << 4 | hexval((unsigned char)q[3]));
}

/* Decodes the \u escape at p[i] into *cp, joining a surrogate pair
 * whose second half ends by `end`. Returns the bytes used (6 or 12), 0
 * for a lone surrogate. */
static size_t decode_u(const char *p, size_t i, size_t end, unsigned *cp)
{
    unsigned c = hex4(p + i + 2);
    size_t used = 6;
    if (c >= 0xD800 && c <= 0xDBFF && i + 12 <= end && p[i + 6] == '\\' && p[i + 7] == 'u') {
        unsigned lo = hex4(p + i + 8);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
            used = 12;
        }
    }
    *cp = c;
    return c >= 0xD800 && c <= 0xDFFF ? 0 : used;
}

int la_json_unescape(const char *p, la_span s, la_buf *out, la_err *err)
{
    return la_json_unescape_body(p + s.start + 1, s.end - s.start - 2, out, err);
}

int la_json_unescape_body(const char *p, size_t n, la_buf *out, la_err *err)
{
    size_t i = 0, end = n;
    if (la_buf_reserve(out, end - i) != LA_OK)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
    while (i < end) {
        const char *bs = memchr(p + i, '\\', end - i);
        size_t run = bs ? (size_t)(bs - p) - i : end - i;
        memcpy(out->data + out->len, p + i, run);   /* reserved above: output never outgrows input */
        out->len += run;
        i += run;
        if (i >= end)
            break;
        char c = p[i + 1];
        if (c == 'u') {
            unsigned cp;
            size_t used = decode_u(p, i, end, &cp);
            if (!used)
                return la_err_set(err, LA_EDATA, "lone_surrogate", "lone surrogate \\u%.4s", p + i + 2);
            out->len += put_utf8(cp, out->data + out->len);
            i += used;
            continue;
        }
        int ch = la_json_short_escape(c);
        out->data[out->len++] = (char)(ch >= 0 ? ch : c);   /* validated: ch < 0 does not occur */
        i += 2;
    }
    out->data[out->len] = 0;
    return LA_OK;
}

/* Length of the escape at p[i] (a backslash) inside a string ending at
 * `end`: a \\u surrogate pair counts as one. */
static size_t escape_len(const char *p, size_t i, size_t end)
{
    unsigned cp;
    size_t used;
    if (p[i + 1] != 'u')
        return 2;
    used = decode_u(p, i, end, &cp);
    return used ? used : 6;
}

size_t la_json_escape_len(const char *p, size_t i, size_t end)
{
    return i + 1 < end ? escape_len(p, i, end) : 0;
}

/* Offset of the first backslash in p[i..n), or n. */
static size_t next_backslash(const char *p, size_t i, size_t n)
{
    const char *q = i < n ? memchr(p + i, '\\', n - i) : NULL;
    return q ? (size_t)(q - p) : n;
}

size_t la_json_cut(const char *p, size_t from, size_t to, size_t want)
{
    if (to - from <= want)
        return to;
    size_t target = from + want, i = from;
    for (;;) {
        size_t j = next_backslash(p, i, to);
        if (j >= target)
            return target;
        size_t k = escape_len(p, j, to);
        if (j + k > target)
            return j;            /* the escape spans the target: cut before it */
        i = j + k;
    }
}

/* Offset of the first "\\u" in p[i..n) that is a \\u escape (not the
 * end of an escaped backslash), or n. Only these can be lone
 * surrogates; long texts have many other escapes (\\n, \\/), so the
 * pairs are found 16 bytes at a time rather than escape by escape. */
static size_t next_u_escape(const char *p, size_t i, size_t n)
{
    for (;;) {
#ifdef __SSE2__
        const __m128i bs = _mm_set1_epi8('\\'), u = _mm_set1_epi8('u');
        while (i + 17 <= n) {
            __m128i a = _mm_loadu_si128((const __m128i *)(p + i));
            __m128i b = _mm_loadu_si128((const __m128i *)(p + i + 1));
            unsigned m = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, bs), _mm_cmpeq_epi8(b, u)));
            if (m) {
                i += (unsigned)__builtin_ctz(m);
                break;
            }
            i += 16;
        }
#endif
        while (i + 1 < n && !(p[i] == '\\' && p[i + 1] == 'u'))
            i++;
        if (i + 1 >= n)
            return n;
        /* an odd run of backslashes before it makes it "\\\\" + "u" */
        size_t k = i;
        while (k > 0 && p[k - 1] == '\\')
            k--;
        if ((i - k) % 2 == 0)
            return i;
        i++;
    }
}

/* The \\u escapes of p[from..to), counted in *count; LA_EDATA for the
 * first lone surrogate among them. */
static int u_escapes(const char *p, size_t from, size_t to, size_t *count, la_err *err)
{
    *count = 0;
    for (size_t i = next_u_escape(p, from, to); i < to; i = next_u_escape(p, i, to)) {
        unsigned cp;
        size_t used = decode_u(p, i, to, &cp);
        if (!used)
            return la_err_set(err, LA_EDATA, "lone_surrogate", "lone surrogate \\u%.4s", p + i + 2);
        i += used;
        (*count)++;
    }
    return LA_OK;
}

int la_json_check_escapes(const char *p, size_t from, size_t to, la_err *err)
{
    size_t count;
    return u_escapes(p, from, to, &count, err);
}

int la_json_escape_style(const char *p, size_t from, size_t to, int *ascii, la_err *err)
{
    size_t count;
    int rc = u_escapes(p, from, to, &count, err);
    *ascii = rc == LA_OK && count && la_json_all_ascii(p + from, to - from);
    return rc;
}

/* The escape la_json_escape writes for an ASCII byte that needs one;
 * returns its length (2 or 6). */
static size_t escape_of(unsigned char c, char *e)
{
    static const char hex[] = "0123456789abcdef";
    e[0] = '\\';
    switch (c) {
    case '"': e[1] = '"'; return 2;
    case '\\': e[1] = '\\'; return 2;
    case '\n': e[1] = 'n'; return 2;
    case '\r': e[1] = 'r'; return 2;
    case '\t': e[1] = 't'; return 2;
    case '\b': e[1] = 'b'; return 2;
    case '\f': e[1] = 'f'; return 2;
    default:
        e[1] = 'u'; e[2] = '0'; e[3] = '0'; e[4] = hex[c >> 4]; e[5] = hex[c & 15];
        return 6;
    }
}

/* What la_json_escape writes for the \u escape at p[i] (decoded by
 * decode_u), at o. Returns the input bytes used (6 or 12), 0 for a lone
 * surrogate; *ol gets the output length, never more than the input used. */
static size_t reescape_u(const char *p, size_t i, size_t end, char *o, size_t *ol)
{
    unsigned cp;
    size_t used = decode_u(p, i, end, &cp);
    if (used)
        *ol = (cp < 0x20 || cp == '"' || cp == '\\') ? escape_of((unsigned char)cp, o) : put_utf8(cp, o);
    return used;
}

/* The re-escaped form is never longer than the escaped one (\/ becomes
 * /, a \u escape 6 bytes or fewer), so the output is reserved once, with
 * a block of slack: each block is stored whole before its first
 * backslash is looked for, and the output pointer only moves past the
 * bytes that are kept. */
static inline __attribute__((always_inline)) int reescape_body(const char *p, size_t n, la_buf *out, la_err *err,
                                                             int level)
{
    size_t i = 0, end = n;
    if (la_buf_reserve(out, end - i + 32))
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
    char *o = out->data + out->len;
    while (i < end) {
        size_t avail = end - i, run;
        uint32_t m;
        if (avail >= 32) {
            memcpy(o, p + i, 32);
            m = mask32((const unsigned char *)p + i, level, MASK_BACKSLASH);
            run = m ? (unsigned)__builtin_ctz(m) : 32;
        } else {
            unsigned char t[32] = {0};
            memcpy(t, p + i, avail);
            memcpy(o, t, 32);
            m = mask32(t, level, MASK_BACKSLASH);
            run = m ? (unsigned)__builtin_ctz(m) : avail;
        }
        o += run;
        i += run;
        if (!m)
            continue;
        char c = p[i + 1];   /* valid input: a backslash starts an escape */
        if (c != 'u') {
            /* \/ becomes /, the others (\" \\ \b \f \n \r \t) stay: without
             * a branch, as both are common and mixed */
            int slash = c == '/';
            o[0] = slash ? '/' : '\\';
            o[1] = c;
            o += 2 - slash;
            i += 2;
        } else {
            size_t ol, used = reescape_u(p, i, end, o, &ol);
            if (!used) {
                out->data[out->len] = 0;   /* the blocks stored past it */
                return la_err_set(err, LA_EDATA, "lone_surrogate", "lone surrogate \\u%.4s", p + i + 2);
            }
            o += ol;
            i += used;
        }
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = 0;
    return LA_OK;
}

#define REESCAPE(level) reescape_body(p, n, out, err, level)
SIMD_VARIANTS(int, reescape, (const char *p, size_t n, la_buf *out, la_err *err), REESCAPE)

int la_json_reescape_body(const char *p, size_t n, la_buf *out, la_err *err)
{
    return reescape_at[simd()](p, n, out, err);
}

/* Writes \\uXXXX for code unit u at o. */
static void put_u(unsigned u, char *o)
{
    static const char hex[] = "0123456789abcdef";
    o[0] = '\\';
    o[1] = 'u';
    o[2] = hex[u >> 12 & 15];
    o[3] = hex[u >> 8 & 15];
    o[4] = hex[u >> 4 & 15];
    o[5] = hex[u & 15];
}

int la_json_ascii_escape(const char *s, size_t n, la_buf *out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && u[j] < 0x80)
            j++;
        if (la_buf_append(out, s + i, j - i) != LA_OK)
            return LA_ENOMEM;
        if (j >= n)
            break;
        size_t k = utf8_seq(u + j, n - j);
        if (!k) {   /* not UTF-8 (the caller's contract excludes it): kept as it is */
            if (la_buf_putc(out, s[j]) != LA_OK)
                return LA_ENOMEM;
            i = j + 1;
            continue;
        }
        unsigned cp = k == 2 ? (u[j] & 0x1Fu) << 6 | (u[j + 1] & 0x3Fu)
                    : k == 3 ? (u[j] & 0x0Fu) << 12 | (u[j + 1] & 0x3Fu) << 6 | (u[j + 2] & 0x3Fu)
                             : (u[j] & 0x07u) << 18 | (u[j + 1] & 0x3Fu) << 12 | (u[j + 2] & 0x3Fu) << 6 |
                                   (u[j + 3] & 0x3Fu);
        char e[12];
        size_t el = 6;
        if (cp < 0x10000)
            put_u(cp, e);
        else {   /* a UTF-16 surrogate pair */
            put_u(0xD800 + ((cp - 0x10000) >> 10), e);
            put_u(0xDC00 + ((cp - 0x10000) & 0x3FF), e + 6);
            el = 12;
        }
        if (la_buf_append(out, e, el) != LA_OK)
            return LA_ENOMEM;
        i = j + k;
    }
    return LA_OK;
}

int la_json_escape(const char *s, size_t n, la_buf *out)
{
    if (la_buf_reserve(out, n) != LA_OK)
        return LA_ENOMEM;
    size_t i = 0;
    while (i < n) {
        size_t j = skip_plain((const unsigned char *)s, n, i);
        while (j < n && (unsigned char)s[j] >= 0x20 && s[j] != '"' && s[j] != '\\')
            j++;
        if (la_buf_append(out, s + i, j - i) != LA_OK)
            return LA_ENOMEM;
        if (j >= n)
            break;
        char e[8];
        size_t el = escape_of((unsigned char)s[j], e);
        if (la_buf_append(out, e, el) != LA_OK)
            return LA_ENOMEM;
        i = j + 1;
    }
    return LA_OK;
}
