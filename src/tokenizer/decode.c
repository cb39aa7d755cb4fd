/*
 * decode.c - decoders of tokenizer.json, with HuggingFace's decode_chain
 * semantics: each decoder maps a list of token strings to a new list, a
 * Sequence runs them in turn, and the caller joins the final list.
 *
 * A decoder writes its output list into w->dtoks and then swaps it with
 * its input, so a warm la_tok_work decodes without allocating.
 */
#include "tokenizer/tk.h"

#include <stdlib.h>
#include <string.h>

enum dec_kind {
    DEC_SEQUENCE, DEC_BYTELEVEL, DEC_METASPACE, DEC_REPLACE, DEC_BYTEFALLBACK, DEC_FUSE,
    DEC_STRIP, DEC_WORDPIECE, DEC_BPE, DEC_CTC
};

typedef struct dec {
    tk_decoder base;
    enum dec_kind kind;
    struct dec **subs;       /* Sequence */
    size_t nsubs;
    char *s1, *s2;           /* Metaspace replacement; Replace pattern, content;
                              * Strip content; WordPiece prefix; BPE suffix;
                              * CTC pad token, word delimiter */
    size_t l1, l2;
    tk_regex *re;            /* Replace with a Regex pattern */
    int prepend;             /* Metaspace: prepend_scheme is not "never" */
    int cleanup;             /* WordPiece, CTC */
    size_t start, stop;      /* Strip */
    /* The root's plan for previews (see tk_decoder_join): the leaves in
     * order, how many lead as per-token maps, the joining stage, and
     * where the stages that see the joined string begin. */
    struct dec **flat;
    size_t nflat, nlocal, rest;
    int join;
} dec;

static int oom(la_err *err)
{
    return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: decoder: out of memory");
}

/* The growth bound (tk.h): Replace is the decoder whose output can
 * outgrow its input (a longer content; or an empty pattern, matched
 * before every character), and so can BPEDecoder and CTC with an empty
 * suffix or delimiter (a space before every character); a chain of them
 * can multiply it, so they check before they append that the text stays
 * within the bound of the call (or of the chain's input, for a chain run
 * on its own). */
static int over(la_err *err)
{
    return tk_budget_error(err, "decoder Replace");
}

/* Whether have + more bytes pass w's growth bound. */
static int past(const la_tok_work *w, size_t have, size_t more)
{
    size_t lim = tk_budget_grow(w, 0);
    return have > lim || more > lim - have;
}

/* Sets w's growth bound from the n bytes a chain starts from when no API
 * call has set it: 1 when it did (the caller clears it after). */
static int own_bound(la_tok_work *w, size_t n)
{
    if (w->budget.grow_max)
        return 0;
    w->budget.grow_max = tk_grow_max(n);
    return 1;
}

/* Token i's string. */
static const char *tok_str(const la_tokens *t, size_t i) { return t->strs.data + t->str_off[i]; }

/* Makes out (w->dtoks, filled by a decoder) the current list. */
static void swap_out(la_tokens *toks, la_tok_work *w)
{
    la_tokens tmp = *toks;
    *toks = w->dtoks;
    w->dtoks = tmp;
}

/* Appends s with every occurrence of pat replaced by rep, in one pass
 * into room reserved beforehand. An empty pat is Rust's str::replace
 * with "": rep before every character and once more at the end
 * ("ab".replace("", "-") is "-a-b-"), as the decoders that take their
 * pattern from the file (BPEDecoder's suffix, CTC's tokens) do. */
static int replace_all(la_buf *out, const char *s, size_t n, const char *pat, size_t pl,
                       const char *rep, size_t rl)
{
    if (!pl) {
        if (la_buf_reserve(out, n + (n + 1) * rl) != LA_OK)
            return LA_ENOMEM;
        for (size_t i = 0, k; i < n; i += k) {
            k = tk_utf8_len((const unsigned char *)s + i, n - i);
            k = k ? k : 1;
            if (la_buf_append(out, rep, rl) || la_buf_append(out, s + i, k))
                return LA_ENOMEM;
        }
        return la_buf_append(out, rep, rl);
    }
    if (n < pl)
        return la_buf_append(out, s, n);
    size_t most = n / pl * (rl > pl ? rl - pl : 0) + n;
    if (la_buf_reserve(out, most) != LA_OK)
        return LA_ENOMEM;
    char *o = out->data + out->len;
    size_t i = 0;
    while (i + pl <= n) {
        if (s[i] == pat[0] && memcmp(s + i + 1, pat + 1, pl - 1) == 0) {
            memcpy(o, rep, rl);
            o += rl;
            i += pl;
        } else {
            *o++ = s[i++];
        }
    }
    while (i < n)
        *o++ = s[i++];
    out->len = (size_t)(o - out->data);
    out->data[out->len] = 0;
    return LA_OK;
}

/* ---- ByteLevel ------------------------------------------------------------ */

/* All tokens' bytes through the alphabet, then one lossy UTF-8 string. */
static int chain_bytelevel(const dec *d, la_tokens *t, la_tok_work *w, la_err *err)
{
    (void)d;
    la_buf_clear(&w->dec);
    for (size_t i = 0; i < t->n; i++)
        if (tk_byte_level_bytes(tok_str(t, i), tk_tokens_len(t, i), &w->dec))
            return oom(err);
    la_buf_clear(&w->dec2);
    tk_tokens_clear(&w->dtoks);
    if (tk_utf8_lossy(w->dec.data ? w->dec.data : "", w->dec.len, &w->dec2) ||
        tk_tokens_push(&w->dtoks, 0, w->dec2.data ? w->dec2.data : "", w->dec2.len))
        return oom(err);
    swap_out(t, w);
    return LA_OK;
}

/* ---- ByteFallback ----------------------------------------------------------- */

int tk_fallback_byte(const char *s, size_t n)
{
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int h = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* Flushes gathered bytes: one string if valid UTF-8, else one U+FFFD per byte. */
static int flush_bytes(la_buf *bytes, la_tokens *out)
{
    if (!bytes->len)
        return LA_OK;
    int rc = LA_OK;
    if (tk_utf8_valid(bytes->data, bytes->len))
        rc = tk_tokens_push(out, 0, bytes->data, bytes->len);
    else
        for (size_t k = 0; k < bytes->len && rc == LA_OK; k++)
            rc = tk_tokens_push(out, 0, "\xEF\xBF\xBD", 3);
    la_buf_clear(bytes);
    return rc;
}

static int chain_bytefallback(const dec *d, la_tokens *t, la_tok_work *w, la_err *err)
{
    (void)d;
    size_t first = 0;
    while (first < t->n && tk_fallback_byte(tok_str(t, first), tk_tokens_len(t, first)) < 0)
        first++;
    if (first == t->n)
        return LA_OK;            /* no byte token: every string stays as it is */
    tk_tokens_clear(&w->dtoks);
    la_buf_clear(&w->dec);
    for (size_t i = 0; i < t->n; i++) {
        int b = tk_fallback_byte(tok_str(t, i), tk_tokens_len(t, i));
        if (b >= 0) {
            if (la_buf_putc(&w->dec, (char)b))
                return oom(err);
            continue;
        }
        if (flush_bytes(&w->dec, &w->dtoks) ||
            tk_tokens_push(&w->dtoks, 0, tok_str(t, i), tk_tokens_len(t, i)))
            return oom(err);
    }
    if (flush_bytes(&w->dec, &w->dtoks))
        return oom(err);
    swap_out(t, w);
    return LA_OK;
}

/* ---- per-token string decoders ------------------------------------------- */

/* Metaspace: the replacement becomes a space, or vanishes in the first
 * token unless prepend_scheme is "never". */
static int map_metaspace(const dec *d, size_t i, const char *s, size_t n, la_buf *out)
{
    return replace_all(out, s, n, d->s1, d->l1, " ", (i == 0 && d->prepend) ? 0 : 1);
}

/* Strip: up to `start` leading and `stop` trailing content characters;
 * of token s[0..n) it keeps s[*from..*to). */
static void strip_cut(const dec *d, const char *s, size_t n, size_t *from, size_t *to)
{
    size_t a = 0, b = n, k;
    if (d->l1 == 1 && d->stop == 0) {    /* the usual one: leading spaces */
        for (size_t c = 0; c < d->start && a < n && s[a] == d->s1[0]; c++)
            a++;
        *from = a;
        *to = n;
        return;
    }
    for (size_t c = 0; c < d->start && a + d->l1 <= n && memcmp(s + a, d->s1, d->l1) == 0; c++)
        a += d->l1;
    /* the stop count is bounded by the characters left after the start cut */
    size_t chars_left = 0;
    for (size_t i = a; d->stop && i < n; i += k ? k : 1, chars_left++)
        k = tk_utf8_len((const unsigned char *)s + i, n - i);
    for (size_t c = 0; c < d->stop && c < chars_left && b >= a + d->l1 &&
                       memcmp(s + b - d->l1, d->s1, d->l1) == 0; c++)
        b -= d->l1;
    *from = a;
    *to = b;
}

static int map_strip(const dec *d, const char *s, size_t n, la_buf *out)
{
    size_t a, b;
    strip_cut(d, s, n, &a, &b);
    return la_buf_append(out, s + a, b - a);
}

/* WordPiece's cleanup of tokenization artifacts, in HuggingFace's order. */
static int wordpiece_cleanup(la_buf *s, la_buf *tmp)
{
    static const char *const pairs[][2] = {
        { " .", "." }, { " ?", "?" }, { " !", "!" }, { " ,", "," }, { " ' ", "'" },
        { " n't", "n't" }, { " 'm", "'m" }, { " do not", " don't" }, { " 's", "'s" },
        { " 've", "'ve" }, { " 're", "'re" },
    };
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        la_buf_clear(tmp);
        if (replace_all(tmp, s->data ? s->data : "", s->len, pairs[p][0], strlen(pairs[p][0]),
                        pairs[p][1], strlen(pairs[p][1])))
            return LA_ENOMEM;
        la_buf t = *s;
        *s = *tmp;
        *tmp = t;
    }
    return LA_OK;
}

/* WordPiece: later tokens lose the prefix or gain a space; cleanup. */
static int map_wordpiece(const dec *d, size_t i, const char *s, size_t n, la_buf *out, la_buf *tmp)
{
    size_t start = out->len;
    if (i != 0) {
        if (n >= d->l1 && memcmp(s, d->s1, d->l1) == 0) {
            s += d->l1;
            n -= d->l1;
        } else if (la_buf_putc(out, ' ')) {
            return LA_ENOMEM;
        }
    }
    if (la_buf_append(out, s, n))
        return LA_ENOMEM;
    if (!d->cleanup)
        return LA_OK;
    /* clean the part just written */
    la_buf part = {0};
    int rc = la_buf_append(&part, out->data + start, out->len - start);
    if (rc == LA_OK)
        rc = wordpiece_cleanup(&part, tmp);
    if (rc == LA_OK) {
        out->len = start;
        rc = la_buf_append(out, part.data ? part.data : "", part.len);
    }
    la_buf_free(&part);
    return rc;
}

/* Replace: every match of the pattern becomes the content. The text it
 * makes starts at out->data + base (for the growth bound). */
static int map_replace(const dec *d, const char *s, size_t n, la_buf *out, size_t base, la_tok_work *w,
                       la_err *err)
{
    if (!d->re) {
        if (d->l1 == 0) {           /* an empty match before each character and at the end */
            for (size_t i = 0; i < n;) {
                size_t k = tk_utf8_len((const unsigned char *)s + i, n - i);
                k = k ? k : 1;
                if (past(w, out->len - base, d->l2 + k))
                    return over(err);
                if (la_buf_append(out, d->s2, d->l2) || la_buf_append(out, s + i, k))
                    return oom(err);
                i += k;
            }
            if (past(w, out->len - base, d->l2))
                return over(err);
            return la_buf_append(out, d->s2, d->l2) ? oom(err) : LA_OK;
        }
        /* what replace_all reserves: every byte a match */
        if (d->l2 > d->l1 && past(w, out->len - base, n / d->l1 * (d->l2 - d->l1) + n))
            return over(err);
        return replace_all(out, s, n, d->s1, d->l1, d->s2, d->l2) ? oom(err) : LA_OK;
    }
    tk_regex_iter it = {0};
    size_t ms, me, done = 0;
    int rc;
    while ((rc = tk_regex_iter_next(d->re, s, n, &it, &ms, &me, w, err)) == 1) {
        if (past(w, out->len - base, ms - done + d->l2))
            return over(err);
        if (la_buf_append(out, s + done, ms - done) || la_buf_append(out, d->s2, d->l2))
            return oom(err);
        done = me;
    }
    if (rc < 0)
        return rc;
    if (past(w, out->len - base, n - done))
        return over(err);
    return la_buf_append(out, s + done, n - done) ? oom(err) : LA_OK;
}

/* Runs a per-token mapping over the list, each result written straight
 * into the output list's strings. */
static int chain_map(const dec *d, la_tokens *t, la_tok_work *w, la_err *err)
{
    la_tokens *o = &w->dtoks;
    tk_tokens_clear(o);
    for (size_t i = 0; i < t->n; i++) {
        const char *s = tok_str(t, i);
        size_t n = tk_tokens_len(t, i), at = o->strs.len;
        int rc;
        switch (d->kind) {
        case DEC_METASPACE: rc = map_metaspace(d, i, s, n, &o->strs); break;
        case DEC_STRIP: rc = map_strip(d, s, n, &o->strs); break;
        case DEC_WORDPIECE: rc = map_wordpiece(d, i, s, n, &o->strs, &w->dec2); break;
        case DEC_BPE:
            /* an empty suffix: a space before each byte at most, and one more */
            if (!d->l1 && i + 1 != t->n && past(w, o->strs.len, 2 * n + 1))
                return tk_budget_error(err, "decoder BPEDecoder");
            rc = replace_all(&o->strs, s, n, d->s1, d->l1, " ", i + 1 == t->n ? 0 : 1);
            break;
        default: rc = map_replace(d, s, n, &o->strs, 0, w, err); break;
        }
        if (rc == LA_ENOMEM)
            return oom(err);
        if (rc != LA_OK)
            return rc;
        if (tk_tokens_push_tail(o, 0, at))
            return oom(err);
    }
    swap_out(t, w);
    return LA_OK;
}

/* ---- Fuse, CTC, Sequence ------------------------------------------------------ */

static int chain_fuse(const dec *d, la_tokens *t, la_tok_work *w, la_err *err)
{
    (void)d;
    if (t->n == 1)
        return LA_OK;            /* one string: already fused */
    la_tokens *o = &w->dtoks;
    tk_tokens_clear(o);
    for (size_t i = 0; i < t->n; i++)
        if (la_buf_append(&o->strs, tok_str(t, i), tk_tokens_len(t, i)))
            return oom(err);
    if (tk_tokens_push_tail(o, 0, 0))
        return oom(err);
    swap_out(t, w);
    return LA_OK;
}

/* CTC: repeated tokens collapse, pads vanish, the delimiter becomes a
 * space (with cleanup), empty results are dropped. */
static int chain_ctc(const dec *d, la_tokens *t, la_tok_work *w, la_err *err)
{
    tk_tokens_clear(&w->dtoks);
    for (size_t i = 0; i < t->n; i++) {
        size_t n = tk_tokens_len(t, i);
        if (i > 0 && n == tk_tokens_len(t, i - 1) && memcmp(tok_str(t, i), tok_str(t, i - 1), n) == 0)
            continue;
        la_buf_clear(&w->dec);
        if (replace_all(&w->dec, tok_str(t, i), n, d->s1, d->l1, "", 0))
            return oom(err);
        if (d->cleanup) {
            if (wordpiece_cleanup(&w->dec, &w->dec2))
                return oom(err);
            la_buf_clear(&w->dec2);
            /* an empty delimiter: a space before each byte at most, and one more */
            if (!d->l2 && past(w, w->dtoks.strs.len, 2 * w->dec.len + 1))
                return tk_budget_error(err, "decoder CTC");
            if (replace_all(&w->dec2, w->dec.data ? w->dec.data : "", w->dec.len, d->s2, d->l2, " ", 1))
                return oom(err);
            la_buf tmp = w->dec;
            w->dec = w->dec2;
            w->dec2 = tmp;
        }
        if (w->dec.len && tk_tokens_push(&w->dtoks, 0, w->dec.data, w->dec.len))
            return oom(err);
    }
    swap_out(t, w);
    return LA_OK;
}

static int chain_any(const tk_decoder *base, la_tokens *t, la_tok_work *w, la_err *err);

static int chain_sequence(const dec *d, la_tokens *t, la_tok_work *w, la_err *err)
{
    for (size_t i = 0; i < d->nsubs; i++) {
        int rc = chain_any(&d->subs[i]->base, t, w, err);
        if (rc != LA_OK)
            return rc;
    }
    return LA_OK;
}

/* The whole chain, within the growth bound (own_bound). */
static int chain_root(const tk_decoder *base, la_tokens *t, la_tok_work *w, la_err *err)
{
    int own = own_bound(w, t->strs.len);
    int rc = chain_any(base, t, w, err);
    if (own)
        w->budget.grow_max = 0;
    return rc;
}

/* Dispatches on the decoder's kind. */
static int chain_any(const tk_decoder *base, la_tokens *t, la_tok_work *w, la_err *err)
{
    const dec *d = (const dec *)base;
    switch (d->kind) {
    case DEC_SEQUENCE: return chain_sequence(d, t, w, err);
    case DEC_BYTELEVEL: return chain_bytelevel(d, t, w, err);
    case DEC_BYTEFALLBACK: return chain_bytefallback(d, t, w, err);
    case DEC_FUSE: return chain_fuse(d, t, w, err);
    case DEC_CTC: return chain_ctc(d, t, w, err);
    default: return chain_map(d, t, w, err);
    }
}

/* ---- construction ---------------------------------------------------------- */

/* ---- previews: the plan ------------------------------------------------------- */

/* Stages whose output for a token depends on that token's string alone. */
static int per_token(const dec *d)
{
    return d->kind == DEC_REPLACE || d->kind == DEC_STRIP;
}

/* Appends the leaves of d (Sequences opened) to root->flat. */
static int flatten(dec *root, dec *d)
{
    if (d->kind == DEC_SEQUENCE) {
        for (size_t i = 0; i < d->nsubs; i++)
            if (flatten(root, d->subs[i]))
                return LA_ENOMEM;
        return LA_OK;
    }
    dec **f = realloc(root->flat, (root->nflat + 1) * sizeof *f);
    if (!f)
        return LA_ENOMEM;
    root->flat = f;
    root->flat[root->nflat++] = d;
    return LA_OK;
}

/* Finds the plan: per-token maps, then a stage that joins the list into
 * one string (the end of the chain also does: previews join the final
 * list), then whatever sees that one string. */
static int make_plan(dec *root)
{
    if (flatten(root, root))
        return LA_ENOMEM;
    size_t k = 0;
    while (k < root->nflat && per_token(root->flat[k]))
        k++;
    root->nlocal = k;
    root->join = TK_JOIN_NONE;
    if (k == root->nflat) {
        root->join = TK_JOIN_CONCAT;
        root->rest = k;
    } else if (root->flat[k]->kind == DEC_FUSE) {
        root->join = TK_JOIN_CONCAT;
        root->rest = k + 1;
    } else if (root->flat[k]->kind == DEC_BYTELEVEL) {
        root->join = TK_JOIN_BYTELEVEL;
        root->rest = k + 1;
    } else if (root->flat[k]->kind == DEC_BYTEFALLBACK &&
               (k + 1 == root->nflat || root->flat[k + 1]->kind == DEC_FUSE)) {
        root->join = TK_JOIN_BYTEFALLBACK;
        root->rest = k + 1 < root->nflat ? k + 2 : k + 1;
    }
    return LA_OK;
}

int tk_decoder_join(const tk_decoder *base)
{
    return base ? ((const dec *)base)->join : TK_JOIN_CONCAT;
}

/* Runs per-token stages root->flat[from..to) over one string, appending
 * the result to out (not one of w->mt[0..1], which hold the steps). */
static int map_stages(const dec *root, size_t from, size_t to, const char *s, size_t n, la_buf *out,
                      la_tok_work *w, la_err *err)
{
    if (from == to)
        return la_buf_append(out, s, n) ? oom(err) : LA_OK;
    int cur = 0, own = own_bound(w, n), rc = LA_OK;
    size_t start = out->len;
    for (size_t k = from; k < to && rc == LA_OK; k++) {
        const dec *d = root->flat[k];
        la_buf *dst = k + 1 == to ? out : &w->mt[cur];
        if (dst != out)
            la_buf_clear(dst);
        rc = d->kind == DEC_STRIP ? (map_strip(d, s, n, dst) ? oom(err) : LA_OK)
                                  : map_replace(d, s, n, dst, dst == out ? start : 0, w, err);
        s = dst->data ? dst->data : "";
        n = dst->len;
        cur ^= 1;
    }
    if (own)
        w->budget.grow_max = 0;
    return rc;
}

int tk_decoder_map(const tk_decoder *base, const char *s, size_t n, la_buf *out, la_tok_work *w,
                   la_err *err)
{
    const dec *root = (const dec *)base;
    if (!root || root->join != TK_JOIN_BYTELEVEL)
        return map_stages(root, 0, root ? root->nlocal : 0, s, n, out, w, err);
    la_buf_clear(&w->mt[2]);
    int rc = map_stages(root, 0, root->nlocal, s, n, &w->mt[2], w, err);
    if (rc == LA_OK && tk_byte_level_bytes(w->mt[2].data ? w->mt[2].data : "", w->mt[2].len, out))
        rc = oom(err);
    return rc;
}

int tk_decoder_map_is_replace(const tk_decoder *base, const char *pat, size_t pl, const char *content,
                              size_t cl)
{
    const dec *root = (const dec *)base;
    if (!root || root->join == TK_JOIN_BYTELEVEL || root->nlocal != 1)
        return 0;
    const dec *d = root->flat[0];
    return d->kind == DEC_REPLACE && !d->re && d->l1 == pl && pl > 0 && memcmp(d->s1, pat, pl) == 0 &&
           d->l2 == cl && memcmp(d->s2, content, cl) == 0;
}

int tk_decoder_finish_cut(const tk_decoder *base, const char *s, size_t n, size_t *from, size_t *to)
{
    const dec *root = (const dec *)base;
    if (!root || root->rest == root->nflat) {
        *from = 0;
        *to = n;
        return 1;
    }
    if (root->rest + 1 != root->nflat || root->flat[root->rest]->kind != DEC_STRIP)
        return 0;
    strip_cut(root->flat[root->rest], s, n, from, to);
    return 1;
}

int tk_decoder_finish(const tk_decoder *base, la_buf *s, la_tok_work *w, la_err *err)
{
    const dec *root = (const dec *)base;
    if (!root || root->rest == root->nflat)
        return LA_OK;
    size_t k = root->rest;
    while (k < root->nflat && per_token(root->flat[k]))
        k++;
    if (k == root->nflat) {
        /* per-token stages alone: one string is one token */
        la_buf_clear(&w->mt[2]);
        int rc = map_stages(root, root->rest, k, s->data ? s->data : "", s->len, &w->mt[2], w, err);
        la_buf tmp = *s;
        *s = w->mt[2];
        w->mt[2] = tmp;
        return rc;
    }
    la_tokens *t = &w->ftoks;
    tk_tokens_clear(t);
    if (tk_tokens_push(t, 0, s->data ? s->data : "", s->len))
        return oom(err);
    int own = own_bound(w, s->len), rc = LA_OK;
    for (k = root->rest; k < root->nflat && rc == LA_OK; k++)
        rc = chain_any(&root->flat[k]->base, t, w, err);
    if (own)
        w->budget.grow_max = 0;
    if (rc != LA_OK)
        return rc;
    la_buf_clear(s);
    for (size_t i = 0; i < t->n; i++)
        if (la_buf_append(s, tok_str(t, i), tk_tokens_len(t, i)))
            return oom(err);
    return LA_OK;
}

static void dec_free(tk_decoder *base)
{
    dec *d = (dec *)base;
    if (!d)
        return;
    free(d->flat);
    for (size_t i = 0; i < d->nsubs; i++)
        dec_free(&d->subs[i]->base);
    free(d->subs);
    free(d->s1);
    free(d->s2);
    tk_regex_free(d->re);
    free(d);
}

/* Copies a string member (def when absent) into *out. A NULL def makes
 * the member required, as HuggingFace's serde structs do. */
static int get_str(const cJSON *j, const char *key, const char *def, char **out, size_t *len,
                   const char *type, la_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    const char *s = def;
    if (v && !cJSON_IsNull(v)) {
        if (!cJSON_IsString(v))
            return la_err_set(err, LA_EDATA, "bad_tokenizer",
                              "tokenizer: decoder: %s: \"%s\" is not a string", type, key);
        s = v->valuestring;
    }
    if (!s)
        return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: decoder: %s: missing \"%s\"",
                          type, key);
    *len = strlen(s);
    *out = malloc(*len + 1);
    if (!*out)
        return oom(err);
    memcpy(*out, s, *len + 1);
    return LA_OK;
}

/* Reads a boolean member, def when absent (-1: required). */
static int get_bool(const cJSON *j, const char *key, int def, int *out, const char *type, la_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    *out = def;
    if ((!v || cJSON_IsNull(v)) && def < 0)
        return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: decoder: %s: missing \"%s\"",
                          type, key);
    if (!v || cJSON_IsNull(v))
        return LA_OK;
    if (!cJSON_IsBool(v))
        return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: decoder: %s: \"%s\" is not a boolean",
                          type, key);
    *out = cJSON_IsTrue(v);
    return LA_OK;
}

/* Reads a required non-negative integer member. */
static int get_count(const cJSON *j, const char *key, size_t *out, const char *type, la_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    *out = 0;
    if (!v)
        return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: decoder: %s: missing \"%s\"",
                          type, key);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e15 ||
        v->valuedouble != (double)(size_t)v->valuedouble)
        return la_err_set(err, LA_EDATA, "bad_tokenizer",
                          "tokenizer: decoder: %s: \"%s\" is not a count", type, key);
    *out = (size_t)v->valuedouble;
    return LA_OK;
}

/* A string that must be exactly one character (Rust char). */
static int one_char(const char *s, size_t n, const char *type, const char *key, la_err *err)
{
    if (n == 0 || tk_utf8_len((const unsigned char *)s, n) != n)
        return la_err_set(err, LA_EDATA, "bad_tokenizer",
                          "tokenizer: decoder: %s: \"%s\" must be one character", type, key);
    return LA_OK;
}

static dec *build(const cJSON *j, int depth, la_err *err);

static int build_sequence(dec *d, const cJSON *j, int depth, la_err *err)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "decoders");
    if (!cJSON_IsArray(arr))
        return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: decoder: Sequence: \"decoders\" is not an array");
    size_t n = (size_t)cJSON_GetArraySize(arr);
    d->subs = calloc(n ? n : 1, sizeof *d->subs);
    if (!d->subs)
        return oom(err);
    for (const cJSON *c = arr->child; c; c = c->next) {
        dec *s = build(c, depth + 1, err);
        if (!s)
            return LA_EDATA;
        d->subs[d->nsubs++] = s;
    }
    return LA_OK;
}

/* Metaspace: replacement, and prepend_scheme (or the older
 * add_prefix_space) deciding whether the first token's is dropped. */
static int build_metaspace(dec *d, const cJSON *j, la_err *err)
{
    int rc = get_str(j, "replacement", NULL, &d->s1, &d->l1, "Metaspace", err);
    if (rc == LA_OK)
        rc = one_char(d->s1, d->l1, "Metaspace", "replacement", err);
    if (rc != LA_OK)
        return rc;
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(j, "prepend_scheme");
    int never = 0, add_prefix_space;
    if (ps && !cJSON_IsNull(ps)) {
        if (!cJSON_IsString(ps) || (strcmp(ps->valuestring, "always") && strcmp(ps->valuestring, "first") &&
                                    strcmp(ps->valuestring, "never")))
            return la_err_set(err, LA_EDATA, "bad_tokenizer",
                              "tokenizer: decoder: Metaspace: bad \"prepend_scheme\"");
        never = strcmp(ps->valuestring, "never") == 0;
    }
    /* the older add_prefix_space may only agree with the scheme
     * (absent scheme: "always"); false needs "never" */
    if ((rc = get_bool(j, "add_prefix_space", 1, &add_prefix_space, "Metaspace", err)) != LA_OK)
        return rc;
    if (!add_prefix_space && !never)
        return la_err_set(err, LA_EDATA, "bad_tokenizer",
                          "tokenizer: decoder: Metaspace: add_prefix_space does not match prepend_scheme");
    d->prepend = !never;
    return LA_OK;
}

/* Replace: {"String": s} or {"Regex": r} pattern, and content. */
static int build_replace(dec *d, const cJSON *j, la_err *err)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "pattern");
    const cJSON *str = cJSON_GetObjectItemCaseSensitive(p, "String");
    const cJSON *re = cJSON_GetObjectItemCaseSensitive(p, "Regex");
    int rc = get_str(j, "content", NULL, &d->s2, &d->l2, "Replace", err);
    if (rc != LA_OK)
        return rc;
    if (cJSON_IsString(str))
        return get_str(p, "String", NULL, &d->s1, &d->l1, "Replace", err);
    if (!cJSON_IsString(re))
        return la_err_set(err, LA_EDATA, "bad_tokenizer",
                          "tokenizer: decoder: Replace: \"pattern\" needs a String or a Regex");
    d->re = tk_regex_new(re->valuestring, strlen(re->valuestring), err);
    return d->re ? LA_OK : LA_EDATA;
}

/* Reads the parameters of decoder kind k. */
static int build_params(dec *d, const cJSON *j, int depth, la_err *err)
{
    int rc = LA_OK;
    switch (d->kind) {
    case DEC_SEQUENCE: return build_sequence(d, j, depth, err);
    case DEC_METASPACE: return build_metaspace(d, j, err);
    case DEC_REPLACE: return build_replace(d, j, err);
    case DEC_STRIP:
        if ((rc = get_str(j, "content", NULL, &d->s1, &d->l1, "Strip", err)) ||
            (rc = one_char(d->s1, d->l1, "Strip", "content", err)) ||
            (rc = get_count(j, "start", &d->start, "Strip", err)))
            return rc;
        return get_count(j, "stop", &d->stop, "Strip", err);
    case DEC_WORDPIECE:
        if ((rc = get_str(j, "prefix", NULL, &d->s1, &d->l1, "WordPiece", err)))
            return rc;
        return get_bool(j, "cleanup", -1, &d->cleanup, "WordPiece", err);
    case DEC_BPE:
        return get_str(j, "suffix", NULL, &d->s1, &d->l1, "BPEDecoder", err);
    case DEC_CTC:
        if ((rc = get_str(j, "pad_token", NULL, &d->s1, &d->l1, "CTC", err)) ||
            (rc = get_str(j, "word_delimiter_token", NULL, &d->s2, &d->l2, "CTC", err)))
            return rc;
        return get_bool(j, "cleanup", -1, &d->cleanup, "CTC", err);
    default:
        return LA_OK;
    }
}

/* Type tags and their kinds. */
static const struct {
    const char *name;
    enum dec_kind kind;
} dec_types[] = {
    { "Sequence", DEC_SEQUENCE }, { "ByteLevel", DEC_BYTELEVEL }, { "Metaspace", DEC_METASPACE },
    { "Replace", DEC_REPLACE }, { "ByteFallback", DEC_BYTEFALLBACK }, { "Fuse", DEC_FUSE },
    { "Strip", DEC_STRIP }, { "WordPiece", DEC_WORDPIECE }, { "BPEDecoder", DEC_BPE },
    { "CTC", DEC_CTC },
};

static dec *build(const cJSON *j, int depth, la_err *err)
{
    if (depth > TK_MAX_DEPTH) {
        la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: decoder: nested too deeply");
        return NULL;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (!cJSON_IsObject(j) || !cJSON_IsString(type)) {
        la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: decoder: not an object with a \"type\"");
        return NULL;
    }
    size_t k = 0, nt = sizeof dec_types / sizeof dec_types[0];
    while (k < nt && strcmp(dec_types[k].name, type->valuestring) != 0)
        k++;
    if (k == nt) {
        la_err_set(err, LA_EUNSUP, "unsupported", "tokenizer: decoder: unsupported type \"%.60s\"",
                   type->valuestring);
        return NULL;
    }
    dec *d = calloc(1, sizeof *d);
    if (!d) {
        oom(err);
        return NULL;
    }
    d->base.chain = chain_root;
    d->base.free = dec_free;
    d->kind = dec_types[k].kind;
    if (build_params(d, j, depth, err) != LA_OK) {
        dec_free(&d->base);
        return NULL;
    }
    return d;
}

tk_decoder *tk_decoder_from_json(const cJSON *j, la_err *err)
{
    dec *d = build(j, 0, err);
    if (d && make_plan(d) != LA_OK) {
        dec_free(&d->base);
        oom(err);
        return NULL;
    }
    return d ? &d->base : NULL;
}
