/*
 * regex.c - regular expressions on Oniguruma, configured as HuggingFace
 * tokenizers configures it (through the Rust `onig` crate): UTF-8
 * encoding, the library's default syntax (ONIG_SYNTAX_DEFAULT), no
 * compile or search options.
 *
 * Searching is always forward from a position with the whole string as
 * the end, so that look-aheads see the following text, and onig_search
 * stops at the leftmost match: the cost is that of reaching the match,
 * not of the rest of the string.
 */
#include "tokenizer/tk.h"

#include <oniguruma.h>
#include <pthread.h>
#include <stdlib.h>

struct tk_regex {
    regex_t *re;
};

/* Oniguruma's one-time library set-up is not thread-safe, and the Rust
 * binding serialises onig_new with a lock; we do the same, so loading
 * tokenizers from several threads at once is safe. Both objects are
 * synchronisation primitives, not data. */
static pthread_once_t onig_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t onig_new_lock = PTHREAD_MUTEX_INITIALIZER;

/* Initialises Oniguruma for UTF-8 (once per process). */
static void onig_init_once(void)
{
    OnigEncoding enc = ONIG_ENCODING_UTF8;
    onig_initialize(&enc, 1);
}

/* Compiles pattern[0..len). Errors carry Oniguruma's own reason. */
tk_regex *tk_regex_new(const char *pattern, size_t len, la_err *err)
{
    pthread_once(&onig_once, onig_init_once);
    tk_regex *r = calloc(1, sizeof *r);
    if (!r) {
        la_err_set(err, LA_ENOMEM, "tokenizer", "out of memory");
        return NULL;
    }
    OnigErrorInfo info;
    const OnigUChar *p = (const OnigUChar *)pattern;
    pthread_mutex_lock(&onig_new_lock);
    int rc = onig_new(&r->re, p, p + len, ONIG_OPTION_NONE, ONIG_ENCODING_UTF8,
                      ONIG_SYNTAX_DEFAULT, &info);
    pthread_mutex_unlock(&onig_new_lock);
    if (rc != ONIG_NORMAL) {
        OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
        onig_error_code_to_str(msg, rc, &info);
        la_err_set(err, rc == ONIGERR_MEMORY ? LA_ENOMEM : LA_EDATA, "tokenizer",
                   "regex /%.*s/: %s", len > 80 ? 80 : (int)len, pattern, (char *)msg);
        free(r);
        return NULL;
    }
    return r;
}

void tk_regex_free(tk_regex *re)
{
    if (!re)
        return;
    onig_free(re->re);
    free(re);
}

/* The match region lives in the caller's work area, made on first use
 * and reused (Oniguruma only grows it). */
static OnigRegion *work_region(la_tok_work *w)
{
    if (!w->regex)
        w->regex = onig_region_new();
    return w->regex;
}

void tk_regex_work_free(void *region)
{
    if (region)
        onig_region_free(region, 1);
}

int tk_regex_next(const tk_regex *re, const char *s, size_t len, size_t from,
                  size_t *mstart, size_t *mend, la_tok_work *w, la_err *err)
{
    if (from > len)
        return 0;
    OnigRegion *region = work_region(w);
    if (!region)
        return la_err_set(err, LA_ENOMEM, "tokenizer", "out of memory");
    const OnigUChar *str = (const OnigUChar *)s;
    int r = onig_search(re->re, str, str + len, str + from, str + len, region,
                        ONIG_OPTION_NONE);
    if (r == ONIG_MISMATCH)
        return 0;
    if (r < 0) {
        OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
        onig_error_code_to_str(msg, r);
        return la_err_set(err, r == ONIGERR_MEMORY ? LA_ENOMEM : LA_EDATA, "tokenizer",
                          "regex search failed: %s", (char *)msg);
    }
    *mstart = (size_t)region->beg[0];
    *mend = (size_t)region->end[0];
    return 1;
}

/* Length of the character at s[i] for stepping over it (1 at the end or
 * on a byte that does not start a valid sequence). */
static size_t step_len(const char *s, size_t len, size_t i)
{
    if (i >= len)
        return 1;
    size_t n = tk_utf8_len((const unsigned char *)s + i, len - i);
    return n ? n : 1;
}

/* The Rust binding's find_iter: after each match the search resumes at
 * its end; an empty match moves the resume point one character on, and
 * an empty match found right after a non-empty one is skipped (which can
 * hide a non-empty match starting at that same position - the reference
 * behaves so, and so do we). */
int tk_regex_iter_next(const tk_regex *re, const char *s, size_t len, tk_regex_iter *it,
                       size_t *mstart, size_t *mend, la_tok_work *w, la_err *err)
{
    for (;;) {
        if (it->last_end > len)
            return 0;
        size_t a, b;
        int r = tk_regex_next(re, s, len, it->last_end, &a, &b, w, err);
        if (r <= 0) {
            it->last_end = len + 1;
            return r;
        }
        it->last_end = b;
        if (a == b) {
            it->last_end += step_len(s, len, b);
            if (it->skip_next_empty) {
                it->skip_next_empty = 0;
                continue;
            }
        } else {
            it->skip_next_empty = 1;
        }
        *mstart = a;
        *mend = b;
        return 1;
    }
}
