/* utf8.c - the few UTF-8 primitives the tokenizer stages share. */
#include "tokenizer/tk.h"

size_t tk_utf8_len(const unsigned char *s, size_t avail)
{
    int32_t cp;
    return tk_utf8_decode(s, avail, &cp);
}

/* Strict decoding (no overlongs, no surrogates, <= U+10FFFF), because
 * the records reaching the tokenizer were validated the same way. */
size_t tk_utf8_decode(const unsigned char *s, size_t avail, int32_t *cp)
{
    if (avail == 0)
        return 0;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = (int32_t)c;
        return 1;
    }
    size_t n;
    int32_t v, min;
    if ((c & 0xE0) == 0xC0) { n = 2; v = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { n = 3; v = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { n = 4; v = c & 0x07; min = 0x10000; }
    else return 0;
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return n;
}

size_t tk_utf8_encode(int32_t cp, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

const char *tk_component_type(const cJSON *j, const char *what, la_err *err)
{
    if (!cJSON_IsObject(j)) {
        la_err_set(err, LA_EDATA, "tokenizer", "%s: must be an object", what);
        return NULL;
    }
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (!t) {
        la_err_set(err, LA_EDATA, "tokenizer", "%s: missing field \"type\"", what);
        return NULL;
    }
    if (!cJSON_IsString(t) || !t->valuestring) {
        la_err_set(err, LA_EDATA, "tokenizer", "%s: field \"type\" must be a string", what);
        return NULL;
    }
    return t->valuestring;
}

int tk_in_ranges(const tk_range *t, size_t n, int32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < t[mid].lo)
            hi = mid;
        else if (cp > t[mid].hi)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

/* The White_Space list is short and stable (PropList.txt); Rust's
 * char::is_whitespace is exactly this set. */
int tk_is_white_space(int32_t c)
{
    if (c < 0x80)
        return c == ' ' || (c >= 0x09 && c <= 0x0D);
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Length of the maximal valid-or-invalid chunk at s[0] (Rust's
 * Utf8Chunks): sets *valid. Each invalid chunk becomes one U+FFFD. */
static size_t utf8_chunk(const unsigned char *s, size_t n, int *valid)
{
    unsigned c = s[0];
    *valid = 0;
    if (c < 0x80) {
        *valid = 1;
        return 1;
    }
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 1;
    if (n < 2 || s[1] < lo || s[1] > hi)
        return 1;
    for (size_t i = 2; i < need; i++)
        if (i >= n || (s[i] & 0xC0) != 0x80)
            return i;
    *valid = 1;
    return need;
}

int tk_utf8_lossy(const char *s, size_t n, la_buf *out)
{
    size_t run = 0;              /* start of the valid run not yet copied */
    for (size_t i = 0; i < n;) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        int valid;
        size_t k = utf8_chunk((const unsigned char *)s + i, n - i, &valid);
        if (!valid && (la_buf_append(out, s + run, i - run) || la_buf_append(out, "\xEF\xBF\xBD", 3)))
            return LA_ENOMEM;
        i += k;
        if (!valid)
            run = i;
    }
    return run < n ? la_buf_append(out, s + run, n - run) : LA_OK;
}

int tk_utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        int valid;
        i += utf8_chunk((const unsigned char *)s + i, n - i, &valid);
        if (!valid)
            return 0;
    }
    return 1;
}
