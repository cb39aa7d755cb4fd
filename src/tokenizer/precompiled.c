/*
 * precompiled.c - the Precompiled normalizer: SentencePiece's
 * precompiled_charsmap as HuggingFace applies it (the spm_precompiled
 * crate and tokenizers' normalizers/precompiled.rs).
 *
 * The charsmap (base64 in tokenizer.json) is a little-endian u32 trie
 * size in bytes, that many bytes of double-array trie (u32 units), then
 * the replacement strings, each ended by NUL. The text is taken an
 * extended grapheme cluster at a time: a cluster of fewer than 6 bytes
 * whose bytes start with a key of the trie is replaced as a whole by the
 * string of the shortest such key; otherwise each of its characters is
 * replaced by the string of the shortest key its bytes start with, or
 * kept. (Shortest, and a prefix rather than the whole: what HuggingFace
 * does, which its authors checked against SentencePiece on XNLI.)
 *
 * Nothing of the charsmap is trusted: every unit read is inside the
 * array and every string offset inside the strings and on a character
 * boundary, else the text fails (HuggingFace would panic).
 */
#include "tokenizer/tk.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

typedef struct {
    tk_normalizer base;
    uint32_t *unit;               /* the double array */
    size_t nunits;
    char *str;                    /* the replacement strings */
    size_t nstr;
} precompiled_norm;

static int bad_trie(la_err *err)
{
    return la_err_set(err, LA_EDATA, "tokenizer", "normalizer: Precompiled: the charsmap's trie points outside it");
}

/* The replacement of the shortest key that key[0..n) starts with:
 * 1 with *s, *len set; 0 when none; < 0 on a broken trie. */
static int lookup(const precompiled_norm *p, const unsigned char *key, size_t n, const char **s, size_t *len)
{
    if (!p->nunits)
        return -1;
    uint32_t u = p->unit[0];
    /* offset: (u >> 10) << ((u & (1 << 9)) >> 6) */
    size_t pos = (size_t)(u >> 10) << ((u & (1u << 9)) >> 6);
    for (size_t i = 0; i < n && key[i]; i++) {
        pos ^= key[i];
        if (pos >= p->nunits)
            return -1;
        u = p->unit[pos];
        if ((u & ((1u << 31) | 0xFF)) != key[i])     /* the unit's label */
            return 0;
        pos ^= (size_t)(u >> 10) << ((u & (1u << 9)) >> 6);
        if ((u >> 8) & 1) {                            /* a leaf below */
            if (pos >= p->nunits)
                return -1;
            size_t at = p->unit[pos] & ((1u << 31) - 1), end = at;
            if (at > p->nstr || (at < p->nstr && ((unsigned char)p->str[at] & 0xC0) == 0x80))
                return -1;
            while (end < p->nstr && p->str[end])
                end++;
            *s = p->str + at;
            *len = end - at;
            return 1;
        }
    }
    return 0;
}

static int precompiled_apply(const tk_normalizer *n, const char *in, size_t len, la_buf *out, la_tok_work *w,
                             int depth, la_err *err)
{
    const precompiled_norm *p = (const precompiled_norm *)n;
    (void)depth;
    la_buf_clear(out);
    if (la_buf_reserve(out, len) != LA_OK)
        return la_err_set(err, LA_ENOMEM, "tokenizer", "out of memory");
    size_t lim = tk_budget_grow(w, len);
    utf8proc_int32_t state = 0;
    int first = 1;
    for (size_t g = 0; g < len;) {
        /* the extended grapheme cluster at g */
        int32_t c, prev;
        size_t e = g + tk_next_char(in, len, g, &prev);
        state = 0;
        while (e < len) {
            size_t k = tk_next_char(in, len, e, &c);
            if (prev < 0 || c < 0 || utf8proc_grapheme_break_stateful(prev, c, &state))
                break;
            prev = c;
            e += k;
        }
        const char *s;
        size_t sl;
        size_t before = out->len, chars_in = 0;
        int r = 0;
        if (e - g < 6 && (r = lookup(p, (const unsigned char *)in + g, e - g, &s, &sl)) == 1) {
            if (la_buf_append(out, s, sl))
                return la_err_set(err, LA_ENOMEM, "tokenizer", "out of memory");
            for (size_t i = g; i < e; i++)
                chars_in += ((unsigned char)in[i] & 0xC0) != 0x80;
        } else {
            for (size_t i = g; r >= 0 && i < e;) {
                size_t k = tk_next_char(in, len, i, &c);
                if ((r = lookup(p, (const unsigned char *)in + i, k, &s, &sl)) == 1) {
                    if (la_buf_append(out, s, sl))
                        return la_err_set(err, LA_ENOMEM, "tokenizer", "out of memory");
                } else if (r == 0 && la_buf_append(out, in + i, k)) {
                    return la_err_set(err, LA_ENOMEM, "tokenizer", "out of memory");
                }
                if (first && i == g && w && r == 1) {
                    /* the first character replaced on its own: what it
                     * became stems from it (nothing: the next one takes its
                     * place, as HuggingFace's alignment of a removal at the
                     * front does) */
                    size_t got = 0;
                    for (size_t b = 0; b < sl; b++)
                        got += ((unsigned char)s[b] & 0xC0) != 0x80;
                    if (got)
                        w->lead0 = got;
                }
                i += k;
            }
            chars_in = 0;
        }
        if (r < 0)
            return bad_trie(err);
        if (first && chars_in && w) {
            /* a first cluster replaced whole: its new characters stem from
             * the first original one when that was all of it */
            size_t got = 0;
            for (size_t b = before; b < out->len; b++)
                got += ((unsigned char)out->data[b] & 0xC0) != 0x80;
            if (got)
                w->lead0 = chars_in == 1 ? got : 1;
        }
        if (out->len > lim)
            return tk_budget_error(err, "normalizer Precompiled");
        first = 0;
        g = e;
    }
    if (la_buf_reserve(out, 1) != LA_OK)
        return la_err_set(err, LA_ENOMEM, "tokenizer", "out of memory");
    out->data[out->len] = 0;
    return LA_OK;
}

static void precompiled_free(tk_normalizer *n)
{
    precompiled_norm *p = (precompiled_norm *)n;
    free(p->unit);
    free(p->str);
    free(p);
}

/* Strict standard base64 (padding required, no white space, no stray
 * bits), as the base64 crate's STANDARD engine decodes. */
static int b64_value(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52
         : c == '+' ? 62 : c == '/' ? 63 : -1;
}

static unsigned char *b64_decode(const char *s, size_t n, size_t *outlen)
{
    if (n % 4)
        return NULL;
    unsigned char *o = malloc(n / 4 * 3 + 1);
    size_t k = 0;
    for (size_t i = 0; o && i < n; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)s[i + j];
            if (c == '=' && i + 4 == n && j >= 2 && (j == 3 || s[i + 3] == '=')) {
                v[j] = 0;
                pad++;
            } else if ((v[j] = b64_value(c)) < 0 || pad) {
                free(o);
                return NULL;
            }
        }
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        if ((pad == 1 && (x & 0xFF)) || (pad == 2 && (x & 0xFFFF))) {   /* stray bits */
            free(o);
            return NULL;
        }
        o[k++] = (unsigned char)(x >> 16);
        if (pad < 2)
            o[k++] = (unsigned char)(x >> 8);
        if (pad < 1)
            o[k++] = (unsigned char)x;
    }
    *outlen = k;
    return o;
}

tk_normalizer *tk_precompiled_new(const cJSON *j, la_err *err)
{
    const cJSON *cm = cJSON_GetObjectItemCaseSensitive(j, "precompiled_charsmap");
    if (!cm || !cJSON_IsString(cm)) {
        la_err_set(err, LA_EDATA, "tokenizer",
                   "normalizer: Precompiled: \"precompiled_charsmap\" is missing or not a string");
        return NULL;
    }
    size_t n = 0;
    unsigned char *b = b64_decode(cm->valuestring, strlen(cm->valuestring), &n);
    uint32_t trie = 0;
    if (b && n >= 4)
        trie = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    size_t units = trie / 4;
    if (!b || n < 4 || units > (n - 4) / 4) {
        free(b);
        la_err_set(err, LA_EDATA, "tokenizer", "normalizer: Precompiled: cannot parse precompiled_charsmap (%s)",
                   !b ? "not base64" : "shorter than its trie");
        return NULL;
    }
    size_t at = 4 + units * 4, ns = n - at;
    if (!tk_utf8_valid((const char *)b + at, ns)) {
        free(b);
        la_err_set(err, LA_EDATA, "tokenizer", "normalizer: Precompiled: precompiled_charsmap's strings are not UTF-8");
        return NULL;
    }
    precompiled_norm *p = calloc(1, sizeof *p);
    if (p) {
        p->unit = malloc((units ? units : 1) * sizeof *p->unit);
        p->str = malloc(ns + 1);
    }
    if (!p || !p->unit || !p->str) {
        free(b);
        if (p)
            precompiled_free(&p->base);
        la_err_set(err, LA_ENOMEM, "tokenizer", "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < units; i++) {
        const unsigned char *u = b + 4 + 4 * i;
        p->unit[i] = (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
    }
    p->nunits = units;
    memcpy(p->str, b + at, ns);
    p->str[ns] = 0;
    p->nstr = ns;
    free(b);
    p->base.apply = precompiled_apply;
    p->base.free = precompiled_free;
    p->base.cut_ok = NULL;        /* a cluster may run past any cut */
    return &p->base;
}
