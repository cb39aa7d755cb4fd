/*
 * tokenizer.c - runs the pipeline of a loaded tokenizer.json the way
 * HuggingFace's encode(text, add_special_tokens=False) does:
 *   1. split out added tokens that match the raw text (normalized=false);
 *   2. normalize each remaining segment on its own;
 *   3. split out "normalized" added tokens from the normalized segment;
 *   4. pre-tokenize what remains, BPE each piece.
 * Everything is pulled lazily: pieces go straight from the pre-tokenizer
 * into the model and the model into a sink that stops the whole pipeline
 * as soon as enough tokens exist.
 */
#include "tokenizer/tk.h"
#include "json.h"

#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static void plist_clear(tk_plist *p)
{
    p->n = 0;
    la_buf_clear(&p->strs);
}

/* ---- per-id strings of previews ---------------------------------------------------- */

/* A preview needs two strings per token: its bytes (whether the preview
 * ends on a whole character) and its string after the decoder's per-token
 * stages. For model tokens both depend on the id alone, so each thread
 * keeps them per id, computed on first use: a record then costs a few
 * loads per token instead of a pass of every decoder stage. */
typedef struct {
    uint32_t off;                /* in the arena: mapped string, then bytes */
    uint16_t dlen, blen;
    int16_t fb;                  /* the mapped string's "<0xNN>" byte, or -1 */
    uint8_t ready;               /* 1: filled; 2: too long, not kept */
    int8_t ends;                 /* see bytes_end */
} idc_ent;

typedef struct {
    uint64_t serial;             /* the model the entries belong to */
    idc_ent *e;
    uint32_t n;
    la_buf arena;
} idc_t;

static void idc_free(void *p)
{
    idc_t *c = p;
    if (!c)
        return;
    free(c->e);
    la_buf_free(&c->arena);
    free(c);
}

/* Appends the bytes a token string stands for (the oracle's tokenBytes):
 * a "<0xNN>" token is its byte when the model falls back on bytes; with a
 * ByteLevel stage, the alphabet's bytes; else the string's own UTF-8. */
static int string_bytes(const la_tokenizer *t, const char *s, size_t n, la_buf *out)
{
    if (tk_bpe_byte_fallback(t->model)) {
        int b = tk_fallback_byte(s, n);
        if (b >= 0)
            return la_buf_putc(out, (char)b);
    }
    if (t->byte_level)
        return tk_byte_level_bytes(s, n, out);
    return la_buf_append(out, s, n);
}

/* 1 if the bytes end on a whole UTF-8 character (the oracle's
 * endsOnCharBoundary, including its view of stray bytes). */
static int ends_on_char(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = n, cont = 0;
    while (i > 0 && (p[i - 1] & 0xC0) == 0x80) {
        i--;
        cont++;
    }
    if (i == 0)
        return cont == 0;
    unsigned c = p[i - 1];
    size_t need = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2
                : (c & 0xF8) == 0xF0 ? 3 : cont;
    return cont >= need;
}

/* Whether a preview that ends with a token of these bytes ends on a whole
 * character: 1 or 0 when the bytes alone decide (they hold a byte that
 * starts a character, and ends_on_char looks back no further than it),
 * -1 when earlier tokens' bytes count too. */
static int bytes_end(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            return ends_on_char(s, n);
    return -1;
}

/* This thread's entry for model id (NULL with *rc set on failure, or
 * when the id has no entry: then *rc is LA_OK and the caller computes). */
static const idc_ent *idc_get(const la_tokenizer *t, la_tok_work *w, uint32_t id, int *rc,
                              la_err *err)
{
    idc_t *c = w->idc;
    *rc = LA_OK;
    if (!c || c->serial != t->serial) {
        if (!c && !(c = w->idc = calloc(1, sizeof *c)))
            return NULL;
        uint32_t n = tk_bpe_vocab_size(t->model);
        free(c->e);
        la_buf_clear(&c->arena);
        /* calloc: pages of ids never met are never touched */
        if (!(c->e = calloc(n ? n : 1, sizeof *c->e))) {
            c->n = 0;
            c->serial = 0;
            return NULL;
        }
        c->n = n;
        c->serial = t->serial;
    }
    if (id >= c->n)
        return NULL;
    idc_ent *e = &c->e[id];
    if (e->ready)
        return e->ready == 1 ? e : NULL;
    size_t len = 0;
    const char *s = tk_bpe_id_to_token(t->model, id, &len);
    if (!s)
        s = "";
    size_t at = c->arena.len;
    if ((*rc = tk_decoder_map(t->decoder, s, len, &c->arena, w, err)) != LA_OK)
        return NULL;
    size_t dlen = c->arena.len - at;
    if (string_bytes(t, s, len, &c->arena)) {
        *rc = la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
        return NULL;
    }
    size_t blen = c->arena.len - at - dlen;
    if (dlen > UINT16_MAX || blen > UINT16_MAX || c->arena.len >= UINT32_MAX) {
        c->arena.len = at;
        e->ready = 2;
        return NULL;
    }
    e->off = (uint32_t)at;
    e->dlen = (uint16_t)dlen;
    e->blen = (uint16_t)blen;
    e->fb = (int16_t)(tk_decoder_join(t->decoder) == TK_JOIN_BYTEFALLBACK
                          ? tk_fallback_byte(c->arena.data + at, dlen) : -1);
    e->ends = (int8_t)bytes_end(c->arena.data + at + dlen, blen);
    e->ready = 1;
    return e;
}

/* Token i's string as the model or the matched text gives it. */
static const char *plist_str(const la_tokenizer *t, const tk_plist *p, size_t i, size_t *len)
{
    if (p->off[i] != UINT32_MAX) {
        *len = p->len[i];
        return p->strs.data + p->off[i];
    }
    const char *s = tk_bpe_id_to_token(t->model, p->ids[i], len);
    if (!s) {
        *len = 0;
        s = "";
    }
    return s;
}

/* ---- scratch ------------------------------------------------------------------ */

la_tok_work *la_tok_work_new(void)
{
    return calloc(1, sizeof(la_tok_work));
}

void la_tok_work_free(la_tok_work *w)
{
    if (!w)
        return;
    la_buf_free(&w->norm[0]);
    la_buf_free(&w->norm[1]);
    for (int i = 0; i < TK_MAX_DEPTH; i++)
        la_buf_free(&w->pre[i]);
    la_buf_free(&w->seg);
    tk_bpe_work_free(w->bpe);
    tk_model_work_free(w->model);
    tk_regex_work_free(w->regex);
    la_tokens_free(&w->toks);
    la_buf_free(&w->dec);
    la_buf_free(&w->dec2);
    la_buf_free(&w->dwtok);
    la_tokens_free(&w->dtoks);
    for (int i = 0; i < 3; i++)
        la_buf_free(&w->mt[i]);
    la_tokens_free(&w->ftoks);
    free(w->pl.ids);
    free(w->pl.off);
    free(w->pl.len);
    la_buf_free(&w->pl.strs);
    la_buf_free(&w->fast);
    la_buf_free(&w->fast2);
    idc_free(w->idc);
    la_buf_free(&w->mapped);
    free(w);
}

/* ---- encoding ---------------------------------------------------------------- */

/* The state one encode threads through the sink and the piece callback. */
typedef struct {
    tk_sink sink;                /* first: the model sees a tk_sink */
    const la_tokenizer *t;
    la_tok_work *w;
    la_tokens *out;              /* tokens with their strings, or */
    tk_plist *pl;                /* (previews) ids, strings only for added tokens */
    size_t max;                  /* 0: all */
    la_err *err;
    int status;                  /* an error met inside a callback */
} enc_ctx;

/* 1 when the caller has enough tokens. */
static int enough(const enc_ctx *c)
{
    return c->max && (c->pl ? c->pl->n : c->out->n) >= c->max;
}

static int sink_push_tokens(enc_ctx *c, const uint32_t *ids, size_t n);

/* Model ids in: a preview keeps the ids alone (a leaf function: the
 * common case, once per word); else each id with its vocabulary string
 * goes to the output. */
static int sink_push(tk_sink *s, const uint32_t *ids, size_t n)
{
    enc_ctx *c = (enc_ctx *)s;
    tk_plist *p = c->pl;
    if (!p)
        return sink_push_tokens(c, ids, n);
    if (tk_plist_push_model(p, ids, n)) {
        c->status = la_err_set(c->err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
        return 1;
    }
    return c->max && p->n >= c->max;
}

static __attribute__((noinline)) int sink_push_tokens(enc_ctx *c, const uint32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *str = tk_bpe_id_to_token(c->t->model, ids[i], &len);
        if (tk_tokens_push(c->out, ids[i], str ? str : "", str ? len : 0)) {
            c->status = la_err_set(c->err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
            return 1;
        }
    }
    return enough(c);
}

/* A model token with a string of its own in: kept with it. */
static int sink_push_str(tk_sink *s, uint32_t id, const char *str, size_t n)
{
    enc_ctx *c = (enc_ctx *)s;
    if (c->pl ? tk_plist_push_added(c->pl, id, str, n) : tk_tokens_push(c->out, id, str, n)) {
        c->status = la_err_set(c->err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
        return 1;
    }
    return enough(c);
}

/* A pre-token in: BPE it. Errors stop the pre-tokenizer and are kept. */
static int piece_in(void *ctx, const char *piece, size_t len, int at_start)
{
    enc_ctx *c = ctx;
    (void)at_start;
    int rc = tk_bpe_tokenize(c->t->model, piece, len, &c->sink, c->w, c->err);
    if (rc < 0) {
        c->status = rc;
        return 1;
    }
    return rc;
}

/* One piece of a tk_split_bytes pre-tokenizer, raw: its ids from this
 * thread's piece cache, else mapped to ByteLevel's characters and
 * encoded (then kept when they fit). A preview's pieces are mostly
 * words met before, so most cost one lookup instead of the map and the
 * model's own lookups. */
static int cached_piece(enc_ctx *c, const char *raw, size_t k)
{
    const uint32_t *ids;
    size_t nids;
    if (tk_bpe_piece_get(c->t->model, c->w, raw, k, &ids, &nids))
        return nids ? c->sink.push(&c->sink, ids, nids) : 0;
    la_buf *b = &c->w->mapped;
    la_buf_clear(b);
    if (tk_split_bytes_map(&c->t->sb, raw, k, b) != LA_OK)
        return la_err_set(c->err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    size_t before = c->pl->n;
    int rc = piece_in(c, b->data, b->len, 0);
    if (c->status < 0)
        return c->status;
    /* piece_in pushes model ids alone (none yet: the list may have no
     * array) */
    size_t got = c->pl->n - before;
    tk_bpe_piece_put(c->t->model, c->w, raw, k, got ? c->pl->ids + before : NULL, got);
    return rc;
}

/* The pieces of s[0..n) under a tk_split_bytes pre-tokenizer, as its
 * Split gives them (Isolated: gaps and matches; Removed: one kind). */
static int encode_split_bytes(enc_ctx *c, const char *s, size_t n)
{
    const tk_split_bytes *sb = &c->t->sb;
    tk_regex_iter it = {0, 0};
    size_t prev = 0, ms, me;
    int rc;
    while ((rc = tk_regex_iter_next(sb->re, s, n, &it, &ms, &me, c->w, c->err)) == 1) {
        if (sb->gaps && prev != ms && (rc = cached_piece(c, s + prev, ms - prev)) != 0)
            return rc;
        if (sb->matches && ms != me && (rc = cached_piece(c, s + ms, me - ms)) != 0)
            return rc;
        prev = me;
    }
    if (rc < 0)
        return rc;
    if (sb->gaps && prev != n)
        return cached_piece(c, s + prev, n - prev);
    return 0;
}

/* Pre-tokenizes (or not) a normalized piece with no added token in it.
 * Returns 0, 1 to stop, or a negative status. */
static int encode_piece(enc_ctx *c, const char *s, size_t n, int at_start)
{
    if (n == 0)
        return 0;
    if (c->pl && c->t->split_bytes) {
        int rc = encode_split_bytes(c, s, n);
        return c->status < 0 ? c->status : rc;
    }
    int rc = c->t->pretok
                 ? c->t->pretok->split(c->t->pretok, s, n, at_start, piece_in, c, c->w, 0, c->err)
                 : piece_in(c, s, n, at_start);
    if (c->status < 0)
        return c->status;
    return rc;
}

/* Pushes an added token matched on span s[0..n) (its string is what
 * matched, stripped white space included, as HuggingFace's). */
static int push_added(enc_ctx *c, const tk_added_token *tok, const char *s, size_t n)
{
    if (c->pl ? tk_plist_push_added(c->pl, tok->id, s, n) : tk_tokens_push(c->out, tok->id, s, n))
        return la_err_set(c->err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    return enough(c);
}

/* 1 when this pipeline can encode a window of a long text: a normalizer
 * that can be cut (or none), no pre-tokenizer or an inert one (the whole
 * segment is one piece, which BPE cuts where no merge can cross), no added tokens matched
 * after normalization and none that strip white space on their left (so
 * a segment known up to a point is the same text up to that point). */
static int windowable(const la_tokenizer *t)
{
    return !t->no_window && (!t->pretok || t->pretok_inert) && (!t->normalizer || t->normalizer->cut_ok) &&
           tk_bpe_can_cut(t->model) &&
           tk_added_count(t->added, 1) == 0 && !tk_added_any_lstrip(t->added);
}

/* The largest character boundary c <= at, 0 < c, where the normalizer
 * can cut raw[0..avail) (0 when none is near). */
static size_t window_cut(const la_tokenizer *t, const char *raw, size_t avail, size_t at)
{
    size_t lo = at > 64 ? at - 64 : 0;
    for (size_t c = at; c > lo; c--) {
        if (((unsigned char)raw[c] & 0xC0) == 0x80)
            continue;
        if (!t->normalizer || t->normalizer->cut_ok(t->normalizer, raw, avail, c))
            return c;
    }
    return 0;
}

/* A raw segment between raw-matched added tokens: normalize it, then
 * split out normalized added tokens, then encode the rest. With
 * partial, raw[0..rawlen) is only the start of a longer segment (which
 * goes on in raw[rawlen..avail)): only its first tokens that cannot
 * depend on the rest are pushed, and 2 is returned when they are not
 * enough. */
static int encode_segment(enc_ctx *c, const char *raw, size_t rawlen, size_t avail, int at_start,
                          int partial)
{
    const char *s = raw;
    size_t n = rawlen;
    if (partial) {
        rawlen = window_cut(c->t, raw, avail, rawlen);
        if (rawlen == 0)
            return 2;
    }
    if (c->t->normalizer) {
        c->w->lead0 = 1;
        int rc = c->t->normalizer->apply(c->t->normalizer, raw, rawlen, &c->w->seg, c->w, 0, c->err);
        if (rc < 0)
            return rc;
        s = c->w->seg.data ? c->w->seg.data : "";
        n = c->w->seg.len;
    } else {
        n = rawlen;
    }
    /* the bytes at the front that stem from the original's first
     * character (see tk_piece_fn): none when the normalizer dropped it
     * (a control character, say), several when it decomposed it or
     * prepended to it */
    int lead = 0;
    if (at_start) {
        size_t chars = c->t->normalizer ? c->w->lead0 : 1, b = 0;
        for (size_t k = 0; k < chars && b < n; k++) {
            size_t l = tk_utf8_len((const unsigned char *)s + b, n - b);
            b += l ? l : 1;
        }
        lead = b < (size_t)INT_MAX ? (int)b : INT_MAX;
    }
    if (partial) {
        int rc = c->pl ? tk_bpe_prefix_ids(c->t->model, s, n, c->pl, c->max, c->w, c->err) : 3;
        if (rc == 3)
            rc = tk_bpe_tokenize_prefix(c->t->model, s, n, &c->sink, c->w, c->err);
        return c->status < 0 ? c->status : rc;
    }
    /* done: where the last match's span ended (the text before the next
     * one is encoded from there); scan: where its match ended (the next
     * is looked for from there: a match can start inside the white space
     * the last one took with rstrip, and HuggingFace then gives both
     * spans, the white space twice) */
    size_t done = 0, scan = 0, ms, me, re;
    const tk_added_token *tok;
    while (scan < n) {
        int found = tk_added_next(c->t->added, 1, s, n, scan, done, &ms, &me, &re, &tok);
        if (found < 0)
            return tk_budget_error(c->err, "added tokens");
        if (!found)
            break;
        int rc = 0;
        if (ms > done)
            rc = encode_piece(c, s + done, ms - done, tk_lead_after(lead, done));
        /* an empty span (lstrip held back by the last one) is dropped, as
         * HuggingFace drops empty splits */
        if (rc == 0 && me > ms)
            rc = push_added(c, tok, s + ms, me - ms);
        if (rc != 0)
            return rc;
        done = me;                /* as HuggingFace: even when that is back before done */
        scan = re;
    }
    return done < n ? encode_piece(c, s + done, n - done, tk_lead_after(lead, done)) : 0;
}

/* Encodes text into out, stopping once out has max tokens (0: never).
 * *ended tells whether the whole text was encoded. With win > 0 (a
 * windowable pipeline) only text[0..win) is looked at - added tokens
 * starting there, and the start of the segment that runs past it -
 * and *short_win is set when that was not enough for max tokens; the
 * tokens out holds are then the first ones of the whole encoding. */
static int encode_text(const la_tokenizer *t, la_tok_work *w, const char *text, size_t len,
                       size_t max, la_tokens *out, tk_plist *pl, int *ended, size_t win,
                       int *short_win, la_err *err)
{
    enc_ctx c = { { sink_push, sink_push_str }, t, w, out, pl, max, err, 0 };
    if (pl)
        plist_clear(pl);
    else
        tk_tokens_clear(out);
    *ended = 0;
    *short_win = 0;
    size_t limit = win && win < len ? win : len;
    /* done and scan as in encode_segment */
    size_t done = 0, scan = 0, ms, me, re;
    const tk_added_token *tok;
    for (;;) {
        if (limit < len && (scan >= limit || done >= limit)) {
            *short_win = 1;
            return LA_OK;
        }
        int found = scan < len ? tk_added_next_before(t->added, 0, text, len, scan, done, limit, &ms, &me,
                                                      &re, &tok)
                               : 0;
        if (found < 0)
            return tk_budget_error(err, "added tokens");
        if (!found && done >= len)
            break;
        int partial = !found && limit < len;
        size_t end = found ? ms : partial ? limit : len;
        int rc = 0;
        if (end > done || partial)
            rc = encode_segment(&c, text + done, end - done, len - done, done == 0, partial);
        if (rc == 0 && found && me > ms)
            rc = push_added(&c, tok, text + ms, me - ms);
        if (rc < 0)
            return rc;
        if (rc == 2) {
            *short_win = 1;
            return LA_OK;
        }
        if (rc > 0)
            return LA_OK;        /* stopped early: enough tokens */
        if (!found)
            break;
        done = me;
        scan = re;
    }
    *ended = 1;
    return LA_OK;
}

int la_tokenizer_encode(const la_tokenizer *t, la_tok_work *w, const char *text, size_t len,
                        size_t max_tokens, la_tokens *out, la_err *err)
{
    int ended, short_win;
    if (!t || !w || !out || (!text && len))
        return la_err_set(err, LA_EARG, "bad_argument", "tokenizer: bad argument");
    tk_budget_begin(w, len);
    int rc = encode_text(t, w, text ? text : "", len, max_tokens, out, NULL, &ended, 0, &short_win, err);
    tk_budget_end(w);
    return rc;
}

/* ---- decoding ------------------------------------------------------------------ */

/* Runs the decoder chain over toks and appends the joined strings to
 * out. Without a decoder the strings are joined with sep: "" for
 * previews (as the oracle joins them), " " for decoding ids (as
 * HuggingFace's Tokenizer::decode does). */
static int decode_tokens(const la_tokenizer *t, la_tok_work *w, la_tokens *toks, const char *sep,
                         la_buf *out, la_err *err)
{
    if (t->decoder) {
        int rc = t->decoder->chain(t->decoder, toks, w, err);
        if (rc != LA_OK)
            return rc;
        sep = "";
    }
    for (size_t i = 0; i < toks->n; i++)
        if ((i && la_buf_append(out, sep, strlen(sep))) ||
            la_buf_append(out, toks->strs.data + toks->str_off[i], tk_tokens_len(toks, i)))
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    return LA_OK;
}

int la_tokenizer_decode(const la_tokenizer *t, la_tok_work *w, const uint32_t *ids, size_t n,
                        la_buf *out, la_err *err)
{
    if (!t || !w || !out || (!ids && n))
        return la_err_set(err, LA_EARG, "bad_argument", "tokenizer: bad argument");
    tk_tokens_clear(&w->toks);
    for (size_t i = 0; i < n; i++) {
        /* added tokens first, then the model; unknown ids are skipped */
        const tk_added_token *a = tk_added_by_id(t->added, ids[i]);
        size_t len = 0;
        const char *s = a ? a->content : tk_bpe_id_to_token(t->model, ids[i], &len);
        if (a)
            len = a->len;
        if (s && tk_tokens_push(&w->toks, ids[i], s, len))
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    }
    tk_budget_begin(w, w->toks.strs.len);   /* the decoders' input: the token strings */
    int rc = decode_tokens(t, w, &w->toks, " ", out, err);
    tk_budget_end(w);
    return rc;
}

/* ---- previews ------------------------------------------------------------------- */


/* This thread's per-id entry of preview token i, when it is a model
 * token that has one (else *e is NULL), and where its strings are. */
static inline int token_entry(const la_tokenizer *t, la_tok_work *w, size_t i, const idc_ent **e,
                              const char **at, la_err *err)
{
    int rc = LA_OK;
    const idc_t *c = w->idc;
    uint32_t id = w->pl.ids[i];
    if (w->pl.off[i] != UINT32_MAX) {
        *e = NULL;
    } else if (c && c->serial == t->serial && id < c->n && c->e[id].ready == 1) {
        *e = &c->e[id];          /* the usual case, without a call */
    } else {
        *e = idc_get(t, w, id, &rc, err);
        c = w->idc;
    }
    *at = *e ? c->arena.data + (*e)->off : NULL;
    return rc;
}

/* Appends the bytes of preview token i. */
static int token_bytes(const la_tokenizer *t, la_tok_work *w, size_t i, la_buf *out, la_err *err)
{
    const idc_ent *e;
    const char *at;
    int rc = token_entry(t, w, i, &e, &at, err);
    if (rc != LA_OK || e)
        return rc != LA_OK ? rc : la_buf_append(out, at + e->dlen, e->blen) ? LA_ENOMEM : LA_OK;
    size_t n;
    const char *s = plist_str(t, &w->pl, i, &n);
    return string_bytes(t, s, n, out) ? LA_ENOMEM : LA_OK;
}

/* Whether the bytes of preview tokens 0..n-1 end on a whole character:
 * mostly the last token alone tells (bytes_end); else all are joined. */
static int tokens_end_on_char(const la_tokenizer *t, la_tok_work *w, size_t n, int *ok, la_err *err)
{
    if (n == 0) {
        *ok = 1;
        return LA_OK;
    }
    const idc_ent *e;
    const char *at;
    int rc = token_entry(t, w, n - 1, &e, &at, err);
    if (rc != LA_OK)
        return rc;
    *ok = e ? e->ends : -1;
    if (*ok >= 0)
        return LA_OK;
    la_buf *bytes = &w->fast;
    la_buf_clear(bytes);
    for (size_t j = 0; j < n && rc == LA_OK; j++)
        rc = token_bytes(t, w, j, bytes, err);
    if (rc == LA_ENOMEM)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    *ok = ends_on_char(bytes->data, bytes->len);
    return rc;
}

/* How many tokens the preview takes: m (or all there are), then with
 * complete, more until the bytes end on a whole character or the tokens
 * run out. Sets *mu; *ran_out is set when the tokens ran out before the
 * condition held (more tokens may exist beyond them). */
static int preview_units(const la_tokenizer *t, la_tok_work *w, size_t m, int complete,
                         size_t *mu_out, int *ran_out, la_err *err)
{
    size_t n = w->pl.n, mu = m < n ? m : n;
    int rc = LA_OK, ok = 1;
    *ran_out = 0;
    while (complete && (rc = tokens_end_on_char(t, w, mu, &ok, err)) == LA_OK && !ok) {
        if (mu == n) {
            *ran_out = 1;
            break;
        }
        mu++;
    }
    *mu_out = mu;
    return rc;
}

/* Preview token i's string after the decoder's per-token stages (and
 * the byte of a "<0xNN>" one in *fb, else -1): kept per id for model
 * tokens, made in w->dec for added ones. */
static int mapped_string(const la_tokenizer *t, la_tok_work *w, size_t i, const char **str,
                         size_t *len, int *fb, la_err *err)
{
    const idc_ent *e;
    int rc = token_entry(t, w, i, &e, str, err);
    if (rc != LA_OK)
        return rc;
    if (e) {
        *len = e->dlen;
        *fb = e->fb;
        return LA_OK;
    }
    size_t n;
    const char *s = plist_str(t, &w->pl, i, &n);
    la_buf_clear(&w->dec);
    rc = tk_decoder_map(t->decoder, s, n, &w->dec, w, err);
    *str = w->dec.data ? w->dec.data : "";
    *len = w->dec.len;
    *fb = rc == LA_OK && tk_decoder_join(t->decoder) == TK_JOIN_BYTEFALLBACK ? tk_fallback_byte(*str, *len)
                                                                            : -1;
    return rc;
}

/* Gathered "<0xNN>" bytes join the text: as they are if they make valid
 * UTF-8, else one U+FFFD each (ByteFallback's rule). */
static int flush_fallback(la_buf *bytes, la_buf *text)
{
    int rc = LA_OK;
    if (tk_utf8_valid(bytes->data, bytes->len))
        rc = la_buf_append(text, bytes->data, bytes->len);
    else
        for (size_t k = 0; k < bytes->len && rc == LA_OK; k++)
            rc = la_buf_append(text, "\xEF\xBF\xBD", 3);
    la_buf_clear(bytes);
    return rc;
}

/* Appends the short string s[0..n) (a token's text, a few bytes) with
 * overlapping fixed-size copies rather than a call. */
static inline int append_short(la_buf *b, const char *s, size_t n)
{
    if (n > 16 || !b->data || n >= b->cap - b->len)
        return la_buf_append(b, s, n);
    char *d = b->data + b->len;
    if (n >= 8) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else if (n > 0) {
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
    b->len += n;
    d[n] = 0;
    return 0;
}

/* Decodes the first mu preview tokens, appending to out: by the decoder's
 * plan with per-id strings, or (for chains the plan does not cover) by
 * the chain itself over the tokens' strings. */
int tk_preview_decode(const la_tokenizer *t, la_tok_work *w, size_t mu, la_buf *out, la_err *err)
{
    const tk_plist *p = &w->pl;
    int join = tk_decoder_join(t->decoder), rc = LA_OK, fb;
    if (join == TK_JOIN_NONE || t->no_plan) {
        tk_tokens_clear(&w->toks);
        for (size_t i = 0; i < mu && rc == LA_OK; i++) {
            size_t n;
            const char *s = plist_str(t, p, i, &n);
            rc = tk_tokens_push(&w->toks, p->ids[i], s, n);
        }
        if (rc != LA_OK)
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
        return decode_tokens(t, w, &w->toks, "", out, err);
    }
    la_buf *text = &w->fast, *bytes = &w->fast2;
    la_buf_clear(text);
    la_buf_clear(bytes);
    for (size_t i = 0; i < mu && rc == LA_OK; i++) {
        const char *str;
        size_t n;
        if ((rc = mapped_string(t, w, i, &str, &n, &fb, err)) != LA_OK)
            break;
        if (join == TK_JOIN_BYTEFALLBACK) {
            if (fb >= 0) {
                rc = la_buf_putc(bytes, (char)fb);
                continue;
            }
            if (bytes->len && (rc = flush_fallback(bytes, text)) != LA_OK)
                break;
        }
        /* ByteLevel: the mapped strings are bytes, made text below */
        rc = append_short(join == TK_JOIN_BYTELEVEL ? bytes : text, str, n);
    }
    if (rc == LA_OK && bytes->len)
        rc = join == TK_JOIN_BYTELEVEL ? tk_utf8_lossy(bytes->data, bytes->len, text)
                                       : flush_fallback(bytes, text);
    if (rc == LA_ENOMEM)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    size_t from = 0, to = text->len;
    if (rc == LA_OK && !tk_decoder_finish_cut(t->decoder, text->data ? text->data : "", text->len, &from, &to)) {
        rc = tk_decoder_finish(t->decoder, text, w, err);
        to = text->len;
    }
    if (rc == LA_OK && la_buf_append(out, (text->data ? text->data : "") + from, to - from))
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    return rc;
}

/* Room a window keeps from the end of a text known only in part, on top
 * of the added tokens' reach: the normalizer's cut test reads one
 * character past a cut (this is more, for safety). */
#define MORE_MARGIN 16

/* The first window for a preview of m tokens (0: the whole text). */
static size_t first_window(const la_tokenizer *t, size_t m)
{
    return !windowable(t) ? 0 : t->first_window ? t->first_window : 16 + 4 * (m + 1);
}

/* What a window keeps from the end of a text known only in part. */
static size_t window_margin(const la_tokenizer *t)
{
    return MORE_MARGIN + (t->added_reach < SIZE_MAX - MORE_MARGIN ? t->added_reach : 0);
}

size_t tk_preview_start(const la_tokenizer *t, size_t m)
{
    size_t win = t ? first_window(t, m) : 0;
    if (win == 0 || t->added_reach == SIZE_MAX || m > SIZE_MAX / 8)
        return 0;
    /* the first window and the margin, with 32 bytes to spare (measured
     * on GSM8K: less falls back to the whole answer too often, more
     * decodes bytes no preview looks at) */
    size_t n = win + window_margin(t) + 32;
    return n < win ? 0 : n;
}

/* ---- direct previews ------------------------------------------------------------ */

/* SentencePiece-style pipelines (Llama-2, Mistral and their kin) make a
 * text s + the text with each space an s (s = U+2581), and with no
 * pre-tokenizer the model cuts it wherever no token spans the two
 * characters around a point. Where such a cut lies before the s of each
 * space, the tokens of a text are those of s + w for its space-separated
 * words w in turn. When the decoder turns the tokens of s + w back into
 * " " + w, and its last stage strips the first space (the prepended s),
 * the preview of m tokens is the text itself up to where the m-th token
 * ends. Without the prepended s and the Strip (Gemma's normalizer and
 * decoder), the same holds with the first word's tokens those of the
 * word alone. So a preview needs, per word, only how many tokens s + w makes
 * and where each ends; each thread keeps that per word, made the first
 * time the word is met by the model itself, and checked against the
 * decoder's own strings. A record whose first words are not all such
 * (an added token may start in them, two spaces in a row, a word too
 * long to keep, a cut that does not hold, a decoding that is not the
 * text) takes the general path: the result is the same, only slower. */

#define DW_SET_BITS 13
#define DW_WAYS 4                 /* (two ways lost 4% of a GSM8K copy's words to conflicts) */
#define DW_SLOTS (DW_WAYS << DW_SET_BITS)   /* sets of four entries, two cache lines: 1 MiB a thread */
#define DW_KEY 16                 /* longest word kept */
#define DW_TOK 8                  /* most tokens of a word kept */
#define DW_BATCH 4                /* words found and fetched at once by the word-by-word loop */
#define DW_CUT 1                  /* a cut holds between the piece and an s after it */
#define DW_BIG 2                  /* more than DW_TOK tokens: to be taken in pieces */

typedef struct {
    char key[DW_KEY];             /* the piece's bytes, zero-padded */
    uint8_t klen;                 /* key length + 1 (+ 32 inside a word); 0: empty */
    uint8_t ntok;                 /* tokens of s + word; 0: not direct */
    uint8_t flags;                /* DW_CUT, DW_BIG */
    uint8_t whole;                /* bit j: token j ends on a whole character */
    uint8_t end[DW_TOK];          /* where token j ends, in bytes from the word's space */
    uint32_t seq;                 /* in a set's first entry: the set's sequence number; in its
                                   * second, the set's tags (byte i: way i's, 0 when empty) */
} dw_entry;

/* The table holds entries as words that threads read and write
 * atomically (dw_read, dw_insert); an entry is looked at through a copy. */
typedef struct {
    uint64_t w[4];
} dw_slot;

_Static_assert(sizeof(dw_entry) == 32 && sizeof(dw_slot) == 32, "two entries to a cache line");
_Static_assert(offsetof(dw_entry, klen) == 16 && offsetof(dw_entry, seq) == 28, "klen in word 2, seq in word 3");
_Static_assert((DW_SLOTS & (DW_SLOTS - 1)) == 0 && DW_SLOTS % DW_WAYS == 0, "whole sets");
_Static_assert(DW_KEY == 16, "a key is two 64-bit words");

/* A piece's key: its bytes zero-padded to DW_KEY, as two words, its klen
 * (length + 1, + 32 for a piece inside a word, which has no space
 * before it) and the first entry of its set. Keys are made from the
 * bytes under a mask where 16 bytes can be read, so no loop or branch
 * depends on the length. */
typedef struct {
    uint64_t a, b;
    size_t set;
    uint32_t tags;                /* the key's tag (more bits of its hash, never 0) in each byte */
    uint8_t klen;
} dw_k;

/* n bytes of 0xFF, then zeros: the mask of a piece of n bytes is read
 * at dw_ones + 16 - n. */
static const unsigned char dw_ones[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
};

/* The set of a key: the top bits of a product of each word, which all
 * of the key's bits reach (two independent multiplies, no more); its
 * tag: the seven bits below them, and the top bit. */
static inline void dw_set_of(dw_k *k)
{
    uint64_t h = (k->a + k->klen) * 0x9E3779B97F4A7C15ULL ^ k->b * 0xC2B2AE3D27D4EB4FULL;
    k->set = (size_t)(h >> (64 - DW_SET_BITS)) * DW_WAYS;
    k->tags = (((uint32_t)(h >> (64 - DW_SET_BITS - 7)) & 0x7F) | 0x80) * 0x01010101u;
}

/* The key of p[0..n), 0 < n <= DW_KEY, where p[0..16) can be read. */
static inline __attribute__((always_inline)) void dw_key_at(const char *p, size_t n, uint8_t klen, dw_k *k)
{
    const char *mask = (const char *)dw_ones + 16 - n;
    k->a = tk_load64(p) & tk_load64(mask);
    k->b = tk_load64(p + 8) & tk_load64(mask + 8);
    k->klen = klen;
    dw_set_of(k);
}

/* The key of word[0..n), 0 < n <= DW_KEY, wherever it lies. */
static inline void dw_key_of(const char *word, size_t n, int lead, dw_k *k)
{
    char pad[DW_KEY] = { 0 };
    memcpy(pad, word, n);
    dw_key_at(pad, n, (uint8_t)(n + 1 + (lead ? 0 : 32)), k);
}

#define DW_GATHER 8               /* first words found and fetched before any lookup */

/* One table of words for all the threads that preview with a tokenizer
 * (a word met by one is known to all, and the caches hold one copy). A
 * set's readers never wait: each set has a sequence number, odd while a
 * thread rewrites the set, and a reader that sees it change while it
 * copied an entry reads again (a seqlock, as Boehm describes it for
 * C11). Writers take a set by making its number odd, or leave it: a
 * word that finds its set taken is tokenized and not kept. */
typedef struct {
    dw_slot e[DW_SLOTS];          /* sets start on cache lines (the table is page-aligned) */
} dw_cache;

static inline const dw_slot *dw_set(const dw_cache *dc, const dw_k *k)
{
    return &dc->e[k->set];
}

static inline uint64_t dw_ld(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void dw_st(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }

/* The sequence number in a set's first entry's last word. */
static inline uint32_t dw_seq_of(uint64_t w3)
{
    dw_entry e;
    memcpy((char *)&e + 24, &w3, 8);
    return e.seq;
}

static inline uint64_t dw_with_seq(uint64_t w3, uint32_t seq)
{
    dw_entry e;
    memcpy((char *)&e + 24, &w3, 8);
    e.seq = seq;
    memcpy(&w3, (char *)&e + 24, 8);
    return w3;
}

#define DW_TRIES 64               /* reads of a set being rewritten before it counts as a miss */

/* Copies the entry of key k in set to *out: 1, or 0 when the set has
 * none (an empty way's tag is 0, never a key's) or stays busy. */
static inline __attribute__((always_inline)) int dw_read(const dw_slot *set, const dw_k *k, dw_entry *out)
{
    _Static_assert(DW_WAYS == 4, "a byte of the tags per way");
    for (int tries = 0; tries < DW_TRIES; tries++) {
        uint32_t s1 = dw_seq_of(__atomic_load_n(&set[0].w[3], __ATOMIC_ACQUIRE));
        /* The ways whose tag is the key's (the bytes of x that are 0, and
         * maybe bytes above one), then their keys: which way holds a word
         * is random, and comparing the ways in turn mispredicted 4.1
         * branches a GSM8K record (callgrind's branch simulation). */
        uint32_t x = dw_seq_of(dw_ld(&set[1].w[3])) ^ k->tags;
        uint32_t cand = (x - 0x01010101u) & ~x & 0x80808080u;
        int i = DW_WAYS;
        uint64_t w2 = 0, w3 = 0;
        while (cand) {
            int j = __builtin_ctz(cand) >> 3;
            w2 = dw_ld(&set[j].w[2]);
            if ((uint8_t)w2 == k->klen && dw_ld(&set[j].w[0]) == k->a && dw_ld(&set[j].w[1]) == k->b) {
                w3 = dw_ld(&set[j].w[3]);
                i = j;
                break;
            }
            cand &= cand - 1;
        }
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        uint32_t s2 = dw_seq_of(dw_ld(&set[0].w[3]));
        if (s1 != s2 || (s1 & 1))
            continue;             /* rewritten meanwhile */
        if (i == DW_WAYS)
            return 0;
        uint64_t v[4] = { k->a, k->b, w2, w3 };
        memcpy(out, v, sizeof v);
        return 1;
    }
    return 0;
}

/* Puts entry e (its key set) first in set, the others a way down and the
 * last one out, unless the set is being rewritten or holds e's key; tag:
 * e's tag. */
static void dw_insert(dw_slot *set, const dw_entry *e, uint8_t tag)
{
    uint64_t w3 = dw_ld(&set[0].w[3]);
    uint32_t seq = dw_seq_of(w3);
    if ((seq & 1) ||
        !__atomic_compare_exchange_n(&set[0].w[3], &w3, dw_with_seq(w3, seq + 1), 0, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        return;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    uint64_t v[4];
    memcpy(v, e, sizeof v);
    int have = 0;
    for (int i = 0; i < DW_WAYS && !have; i++)
        have = dw_ld(&set[i].w[2]) == v[2] && dw_ld(&set[i].w[0]) == v[0] && dw_ld(&set[i].w[1]) == v[1];
    if (!have) {
        uint32_t tags = dw_seq_of(dw_ld(&set[1].w[3])) << 8 | tag;
        for (int i = DW_WAYS - 1; i > 0; i--)
            for (int j = 0; j < 4; j++)
                dw_st(&set[i].w[j], dw_ld(&set[i - 1].w[j]));
        dw_st(&set[1].w[3], dw_with_seq(dw_ld(&set[1].w[3]), tags));
        for (int j = 0; j < 3; j++)
            dw_st(&set[0].w[j], v[j]);
    }
    uint64_t last = have ? dw_ld(&set[0].w[3]) : v[3];
    __atomic_store_n(&set[0].w[3], dw_with_seq(last, seq + 2), __ATOMIC_RELEASE);
}

#define DW_MAP TK_HUGE_PAGE       /* the table's mapping: one huge page where the system has them */
_Static_assert(sizeof(dw_cache) <= DW_MAP, "the table fits its mapping");

void *tk_map_huge(size_t *len)
{
    size_t want = (*len + TK_HUGE_PAGE - 1) & ~(TK_HUGE_PAGE - 1);
    char *p = mmap(NULL, want + TK_HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* aligned on a huge page, the rest given back */
    char *a = (char *)(((uintptr_t)p + TK_HUGE_PAGE - 1) & ~(uintptr_t)(TK_HUGE_PAGE - 1));
    if (a > p)
        munmap(p, (size_t)(a - p));
    if (a + want < p + want + TK_HUGE_PAGE)
        munmap(a + want, (size_t)(p + want + TK_HUGE_PAGE - (a + want)));
#ifdef MADV_HUGEPAGE
    madvise(a, want, MADV_HUGEPAGE);   /* a hint: without it, ordinary pages */
#endif
    *len = want;
    return a;
}

/* A new, empty table: zeroed pages on one huge page where the system has
 * them (one TLB entry for its random reads: GSM8K x40 with Llama-2 took
 * 4% less time, 2 threads, 21 interleaved rounds); NULL when no memory
 * can be mapped. */
static dw_cache *dw_map(void)
{
    size_t len = DW_MAP;
    return tk_map_huge(&len);
}

void tk_direct_prepare(la_tokenizer *t)
{
    char c;
    const char *s;
    size_t slen, from, to;
    int lead;
    t->direct = 0;
    if (!t->model || tk_bpe_kind(t->model) != TK_MODEL_BPE || !windowable(t) || tk_bpe_ignores_merges(t->model) ||
        !tk_normalizer_spaces(t->normalizer, &c, &s, &slen, &lead) || c != ' ' ||
        tk_decoder_join(t->decoder) != TK_JOIN_BYTEFALLBACK)
        return;
    /* the decoder's last stage takes the one leading space the normalizer
     * put in front (none when it put none), nothing else */
    size_t cut = lead ? 1 : 0;
    if (!tk_decoder_finish_cut(t->decoder, " a", 2, &from, &to) || from != cut || to != 2 ||
        !tk_decoder_finish_cut(t->decoder, "  a ", 4, &from, &to) || from != cut || to != 4)
        return;
    t->sp_lead = lead;
    memset(t->sp_cls, 0, sizeof t->sp_cls);
    tk_added_mark_first_bytes(t->added, 0, t->sp_cls, 2);
    if (t->sp_cls[(unsigned char)c])
        return;
    t->sp_cls[(unsigned char)c] = 1;
    memcpy(t->sp_cls_raw, t->sp_cls, sizeof t->sp_cls);
    if (t->sp_cls_raw['\\'])
        return;
    t->sp_cls_raw['\\'] = 3;  /* an escape: the text differs from the body there */
    t->sp_nstop = 0;
    for (int b = 0; b < 256; b++)
        if (t->sp_cls_raw[b] && t->sp_nstop >= 0)
            t->sp_nstop = t->sp_nstop < 4 ? t->sp_nstop + 1 : -1;
    if (t->sp_nstop < 0)
        t->sp_nstop = 0;
    memset(t->sp_vec, (unsigned char)c, sizeof t->sp_vec);
    for (int b = 0, k = 1; t->sp_nstop && b < 256; b++)
        if (t->sp_cls_raw[b] && b != (unsigned char)c) {
            for (int j = k; j < 4; j++)
                memset(t->sp_vec[j], b, 16);
            k++;
        }
    t->sp_c = c;
    t->sp_s = s;
    t->sp_slen = slen;
    t->sp_dec = tk_decoder_map_is_replace(t->decoder, s, slen, &c, 1);
    /* (a cache entry's table may be taken instead: tk_direct_table_use) */
    if (!t->dw && !t->dw_later && !(t->dw = dw_map()))
        return;                   /* no table, no direct previews */
    t->direct = 1;
}

/* After a load that set t->dw_later and found no table for t: an empty
 * one, or no direct previews when it cannot be had. */
void tk_direct_take(la_tokenizer *t)
{
    t->dw_later = 0;
    if (t->direct && !t->dw && !(t->dw = dw_map()))
        t->direct = 0;
}

void tk_direct_clear(la_tokenizer *t)
{
    if (t->dw)
        memset(t->dw, 0, sizeof(dw_cache));
}

void tk_direct_set_busy(la_tokenizer *t, int busy)
{
    dw_cache *dc = t->dw;
    if (!dc)
        return;
    for (size_t i = 0; i < DW_SLOTS; i += DW_WAYS)
        dw_st(&dc->e[i].w[3], dw_with_seq(dw_ld(&dc->e[i].w[3]), busy ? 1 : 0));
}

int tk_direct_kept(const la_tokenizer *t, const char *word)
{
    size_t n = strlen(word);
    dw_entry e;
    dw_k k;
    if (!t->dw || n == 0 || n > DW_KEY)
        return 0;
    dw_key_of(word, n, 1, &k);
    return dw_read(dw_set(t->dw, &k), &k, &e);
}

void tk_direct_free(la_tokenizer *t)
{
    if (t->dw && !t->dw_in_entry)
        munmap(t->dw, DW_MAP);
    t->dw = NULL;
    t->dw_in_entry = 0;
    t->direct = 0;
}

/* Collects the ids of one word, noting when there are too many. */
typedef struct {
    tk_sink sink;
    uint32_t ids[DW_TOK];
    size_t n;
    int over;
} dw_sink;

static int dw_push(tk_sink *s, const uint32_t *ids, size_t n)
{
    dw_sink *d = (dw_sink *)s;
    if (n > DW_TOK - d->n) {
        d->over = 1;
        return 1;
    }
    memcpy(d->ids + d->n, ids, n * sizeof *ids);
    d->n += n;
    return 0;
}

/* Fills d for the piece word[0..n): a word's first piece (lead: the s of
 * the space before it, then the piece) or a later one (the piece alone,
 * cut from the rest of its word where no merge crosses). Tokenizes it
 * with the model, then walks the tokens' decoded strings along " " +
 * piece (or the piece); ntok stays 0 unless they spell it exactly. */
static int dw_fill(const la_tokenizer *t, la_tok_work *w, dw_entry *d, const char *word, size_t n,
                   int lead, la_err *err)
{
    d->ntok = 0;
    d->flags = 0;
    d->whole = 0;
    if (!tk_utf8_valid(word, n))
        return LA_OK;
    la_buf *b = &w->dec2;
    la_buf_clear(b);
    if ((lead && la_buf_append(b, t->sp_s, t->sp_slen)) || la_buf_append(b, word, n))
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    size_t off = lead ? 1 : 0, total = n + off, at = 0;   /* byte i is word[i - off] */
    if (t->sp_dec && !tk_find_bytes(word, n, t->sp_s, t->sp_slen)) {
        /* Where each token's string is the bytes it covers (no byte
         * fallback or unk among them) and the decoder's one Replace
         * turns only the leading s into the space: the tokens' ends
         * from their lengths, their strings never read (a new word's
         * vocabulary strings were a fifth of its time on GSM8K, all
         * cold) */
        uint32_t ids[DW_TOK + 1], lens[DW_TOK + 1];
        size_t nt;
        int rc = tk_bpe_word_spans(t->model, w, b->data, b->len, ids, lens, DW_TOK + 1, &nt, err);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            if (nt > DW_TOK) {
                d->flags = DW_BIG;
                return LA_OK;
            }
            size_t pos = 0;       /* in b */
            for (size_t j = 0; j < nt; j++) {
                const char *cov = b->data + pos;
                if (lens[j] == 6 && memcmp(cov, "<0x", 3) == 0 && cov[5] == '>')
                    goto general;     /* a string ByteFallback would make a byte of */
                pos += lens[j];
                at = pos - (lead ? t->sp_slen - 1 : 0);
                d->end[j] = (uint8_t)at;
                if (at == total || ((unsigned char)word[at - off] & 0xC0) != 0x80)
                    d->whole |= (uint8_t)(1u << j);
            }
            d->ntok = (uint8_t)nt;
            goto cut;
        }
    }
general:
    d->whole = 0;
    at = 0;
    dw_sink k = { { dw_push, NULL }, { 0 }, 0, 0 };
    int rc = tk_bpe_tokenize_once(t->model, b->data, b->len, &k.sink, w, err);
    if (rc < 0)
        return rc;
    if (k.over)
        d->flags = DW_BIG;
    if (k.over || k.n == 0)
        return LA_OK;
    int fallback = tk_decoder_join(t->decoder) == TK_JOIN_BYTEFALLBACK;
    la_buf *tok = &w->dwtok;
    for (size_t j = 0; j < k.n; j++) {
        /* the token's string after the decoder's per-token stages, made
         * here rather than taken from the per-id strings (idc_get): a
         * word is filled once, and on a first pass that table's pages,
         * touched for the first time, cost more than the decoding */
        size_t slen = 0;
        const char *s = tk_bpe_id_to_token(t->model, k.ids[j], &slen);
        la_buf_clear(tok);
        if (!s)
            s = "", slen = 0;
        if (t->sp_dec) {
            /* the decoder's one Replace, made here: a fifth of a new
             * word's instructions went to the general maps */
            if (la_buf_reserve(tok, slen))
                return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
            size_t o = 0;
            for (size_t i = 0; i < slen;) {
                if (s[i] == t->sp_s[0] && slen - i >= t->sp_slen && memcmp(s + i, t->sp_s, t->sp_slen) == 0) {
                    tok->data[o++] = t->sp_c;
                    i += t->sp_slen;
                } else {
                    tok->data[o++] = s[i++];
                }
            }
            tok->len = o;
        } else if ((rc = tk_decoder_map(t->decoder, s, slen, tok, w, err)) != LA_OK) {
            return rc;
        }
        const char *str = tok->data;
        size_t len = tok->len;
        int fb = fallback ? tk_fallback_byte(str, len) : -1;
        char one = (char)fb;
        if (fb >= 0) {
            str = &one;
            len = 1;
        }
        if (len == 0)             /* decodes to nothing (a decoder deleted it) */
            return LA_OK;
        for (size_t i = 0; i < len; i++, at++)
            if (at >= total || str[i] != (at < off ? t->sp_c : word[at - off]))
                return LA_OK;
        d->end[j] = (uint8_t)at;
        if (at == total || ((unsigned char)word[at - off] & 0xC0) != 0x80)
            d->whole |= (uint8_t)(1u << j);
    }
    if (at != total)
        return LA_OK;
    d->ntok = (uint8_t)k.n;
cut:;
    size_t last = n;              /* the piece's last character */
    while (last > 0 && ((unsigned char)word[last - 1] & 0xC0) == 0x80)
        last--;
    last = last ? last - 1 : 0;
    if (tk_bpe_cut_between(t->model, word + last, n - last, t->sp_s, t->sp_slen))
        d->flags |= DW_CUT;
    return LA_OK;
}

static inline int dw_word(const la_tokenizer *t, la_tok_work *w, dw_cache *dc, const char *word, size_t n,
                          const dw_k *k, int lead, dw_entry *d, la_err *err);

/* The entry of a piece of several chunks (cut where no token spans:
 * "7000", "cakes,", "Alex's", "4*9=<<4*9=36>>36"), made from its chunks'
 * entries, each found in the table or made and kept there: the tokens
 * of a text are its chunks' in turn, so the entry is the one the model
 * would make of the whole piece. 1 when made, 0 when the piece is one
 * chunk or a chunk's entry does not spell its text (the piece is then
 * tokenized whole), < 0 on error. */
static int dw_compose(const la_tokenizer *t, la_tok_work *w, const char *word, size_t n, int lead,
                      dw_entry *d, la_err *err)
{
    size_t to = tk_bpe_chunk_end(t->model, word, n, 0);
    if (to >= n)
        return 0;
    size_t off = lead ? 1 : 0, ntok = 0;
    for (size_t from = 0; from < n;) {
        int plead = lead && from == 0;
        dw_k k;
        dw_entry pe;
        dw_key_of(word + from, to - from, plead, &k);
        int rc = dw_word(t, w, (dw_cache *)t->dw, word + from, to - from, &k, plead, &pe, err);
        if (rc != LA_OK)
            return rc;
        if (!pe.ntok || (pe.flags & DW_BIG) || ntok + pe.ntok > DW_TOK)
            return 0;
        /* a chunk's ends count from its start (a lead chunk's from its space) */
        size_t base = plead ? 0 : off + from;
        for (size_t j = 0; j < pe.ntok; j++) {
            d->end[ntok + j] = (uint8_t)(base + pe.end[j]);
            if (pe.whole >> j & 1)
                d->whole |= (uint8_t)(1u << (ntok + j));
        }
        ntok += pe.ntok;
        d->flags = pe.flags & DW_CUT;   /* the last chunk's: the piece ends with its last character */
        from = to;
        if (from < n)
            to = tk_bpe_chunk_end(t->model, word, n, from);
    }
    d->ntok = (uint8_t)ntok;
    return 1;
}

/* A miss: the piece's entry is made into *d and kept in set. */
static __attribute__((noinline)) int dw_miss(const la_tokenizer *t, la_tok_work *w, dw_slot *set,
                                             const char *word, size_t n, const dw_k *k, int lead, dw_entry *d,
                                             la_err *err)
{
    memset(d, 0, sizeof *d);
    int rc = dw_compose(t, w, word, n, lead, d, err);
    if (rc == 0) {
        memset(d, 0, sizeof *d);
        rc = dw_fill(t, w, d, word, n, lead, err);
    } else if (rc == 1) {
        rc = LA_OK;
    }
    if (rc != LA_OK)
        return rc;
    memcpy(d->key, &k->a, 8);
    memcpy(d->key + 8, &k->b, 8);
    d->klen = k->klen;
    dw_insert(set, d, (uint8_t)k->tags);
    return LA_OK;
}

/* The entry for the piece word[0..n), 0 < n <= DW_KEY, of key k (lead:
 * a word's first) into *d, made when missing: LA_OK or an error. */
static inline __attribute__((always_inline)) int dw_word(const la_tokenizer *t, la_tok_work *w, dw_cache *dc,
                                                        const char *word, size_t n, const dw_k *k, int lead,
                                                        dw_entry *d, la_err *err)
{
    dw_slot *set = &dc->e[k->set];
    return dw_read(set, k, d) ? LA_OK : dw_miss(t, w, set, word, n, k, lead, d, err);
}

/* The vocabulary's words, lowest ids first (SentencePiece numbers its
 * pieces by score, so the common words come first): each token s + w
 * whose w could be a text's word is tokenized by the model as a miss
 * would, and its entry kept while its set has a free way. Of GSM8K
 * train's answers' first words met for the first time, 2,052 of 5,671
 * are such words. At most DW_SLOTS words are tokenized, whatever the
 * vocabulary's size. */
int tk_direct_prefill(la_tokenizer *t, la_err *err)
{
    dw_cache *dc = t->dw;
    if (!t->direct || !dc)
        return LA_OK;
    la_tok_work *w = la_tok_work_new();
    if (!w)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    uint32_t ids = tk_bpe_vocab_size(t->model);
    size_t tried = 0;
    int rc = LA_OK;
    for (uint32_t id = 0; id < ids && tried < DW_SLOTS && rc == LA_OK; id++) {
        size_t len = 0;
        const char *s = tk_bpe_id_to_token(t->model, id, &len);
        if (!s || len <= t->sp_slen || len - t->sp_slen > DW_KEY || memcmp(s, t->sp_s, t->sp_slen) != 0)
            continue;
        const char *word = s + t->sp_slen;
        size_t n = len - t->sp_slen, i = 0;
        while (i < n && !t->sp_cls[(unsigned char)word[i]])
            i++;
        if (i < n)
            continue;             /* never a word of a text: it holds a space or an added token's start */
        dw_k k;
        dw_key_of(word, n, 1, &k);
        dw_slot *set = &dc->e[k.set];
        dw_entry d;
        if ((uint8_t)set[DW_WAYS - 1].w[2] != 0 || dw_read(set, &k, &d))
            continue;             /* the set is full (of more common words), or has it */
        tried++;
        rc = dw_miss(t, w, set, word, n, &k, 1, &d, err);
    }
    la_tok_work_free(w);
    return rc;
}

const void *tk_direct_table(const la_tokenizer *t, size_t *len)
{
    *len = t->direct && t->dw ? sizeof(dw_cache) : 0;
    return *len ? t->dw : NULL;
}

/* 1 when entry d, in the way of tag byte tag of set number set, is
 * empty (all zero, tag 0) or is one that dw_miss could have made: a
 * piece of 1 to DW_KEY bytes zero-padded, kept in the set and under the
 * tag its key gives, with up to DW_TOK tokens whose ends rise to the
 * piece's end, the last one on a whole character (dw_take's walk stops
 * there), and no flag but DW_CUT and DW_BIG (DW_BIG: no tokens kept). */
static int dw_entry_valid(const dw_entry *d, size_t set, uint8_t tag)
{
    if (d->klen == 0) {
        static const char zero[offsetof(dw_entry, seq)];
        return tag == 0 && memcmp(d, zero, sizeof zero) == 0;
    }
    int lead = d->klen < 32;
    size_t n = (size_t)d->klen - 1 - (lead ? 0 : 32);
    if (n == 0 || n > DW_KEY)
        return 0;
    for (size_t i = n; i < DW_KEY; i++)
        if (d->key[i])
            return 0;
    dw_k k;
    memcpy(&k.a, d->key, 8);
    memcpy(&k.b, d->key + 8, 8);
    k.klen = d->klen;
    dw_set_of(&k);
    if (k.set != set * DW_WAYS || (uint8_t)k.tags != tag || (d->flags & ~(DW_CUT | DW_BIG)) ||
        d->ntok > DW_TOK || ((d->flags & DW_BIG) && d->ntok))
        return 0;
    if (!d->ntok)
        return 1;                 /* not direct: nothing else is read */
    size_t total = n + (lead ? 1 : 0), prev = 0;
    for (size_t j = 0; j < d->ntok; j++) {
        if (d->end[j] <= prev || d->end[j] > total)
            return 0;
        prev = d->end[j];
    }
    return prev == total && (d->whole >> (d->ntok - 1) & 1) && (d->whole >> d->ntok) == 0;
}

int tk_direct_table_valid(const void *p, size_t len)
{
    if (len == 0)
        return 1;
    if (len != sizeof(dw_cache) || ((uintptr_t)p & 63) != 0)
        return 0;
    const dw_slot *e = p;
    for (size_t set = 0; set < DW_SLOTS / DW_WAYS; set++) {
        const dw_slot *s = e + set * DW_WAYS;
        dw_entry d[DW_WAYS];
        memcpy(d, s, sizeof d);
        if (d[0].seq & 1)
            return 0;             /* left mid-rewrite: never taken again */
        for (int j = 0; j < DW_WAYS; j++)
            if (!dw_entry_valid(&d[j], set, (uint8_t)(d[1].seq >> (8 * j))))
                return 0;
    }
    return 1;
}

int tk_direct_table_use(la_tokenizer *t, void *p, size_t len)
{
    t->dw_later = 0;
    if (!t->direct || len != sizeof(dw_cache) || ((uintptr_t)p & 63) != 0)
        return 0;
    if (t->dw && !t->dw_in_entry)
        munmap(t->dw, DW_MAP);
    t->dw = p;
    t->dw_in_entry = 1;
    return 1;
}

/* Takes piece d (at text offset at; lead: with the space before it) into
 * a preview of m tokens that has *count so far: 1 when the m-th token is
 * in it (*units and *end set), 0 when it was taken whole, -1 when the
 * preview would end inside a character (replace: the general path). */
static inline __attribute__((always_inline)) int dw_take(const dw_entry *d, size_t at, int lead, size_t m,
                                                        int complete, size_t *count, size_t *units,
                                                        size_t *end)
{
    if (*count + d->ntok < m) {
        *count += d->ntok;
        return 0;
    }
    size_t j = m - *count - 1;
    if (complete)
        while (!(d->whole >> j & 1))
            j++;                  /* the last token ends the piece: whole */
    else if (!(d->whole >> j & 1))
        return -1;
    *units = *count + j + 1;
    *end = at + d->end[j] - (lead ? 1 : 0);   /* a lead piece counts the space before it */
    return 1;
}

/* A word of more than DW_KEY bytes or DW_TOK tokens, text[at..at+n), in
 * pieces cut where the model never merges across (GSM8K's
 * "3*2=<<3*2=6>>6", whose digits are tokens of their own): as dw_take,
 * with -1 also for a piece that must go the general way, and < -1 (*rc)
 * on error. */
static int dw_pieces(const la_tokenizer *t, la_tok_work *w, dw_cache *dc, const char *text, size_t at,
                     size_t n, int space_after, size_t m, int complete, size_t *count, size_t *units,
                     size_t *end, int *rc, la_err *err)
{
    const char *word = text + at;
    for (size_t from = 0; from < n;) {
        size_t to = tk_bpe_chunk_end(t->model, word, n, from), pn = to - from;
        int lead = from == 0 && (at > 0 || t->sp_lead);
        if (pn > DW_KEY)
            return -1;
        dw_k k;
        dw_key_of(word + from, pn, lead, &k);
        dw_entry de, *d = &de;
        if ((*rc = dw_word(t, w, dc, word + from, pn, &k, lead, d, err)) != LA_OK)
            return -2;
        if (!d->ntok || (to == n && space_after && !(d->flags & DW_CUT)))
            return -1;
        int r = dw_take(d, at + from, lead, m, complete, count, units, end);
        if (r != 0)
            return r;
        from = to;
    }
    return 0;
}

/* The first position at or after e where text[0..len) has a byte of a
 * class other than 0 in cls, or len: 16 bytes a step against the few
 * such bytes (most words take one step), where they are few. */
static inline __attribute__((always_inline)) size_t dw_scan(const la_tokenizer *t, const uint8_t *cls,
                                                           const char *text, size_t e, size_t len)
{
#ifdef __SSE2__
    const __m128i *v = (const __m128i *)(const void *)t->sp_vec;
    __m128i s0 = _mm_loadu_si128(v), s1 = _mm_loadu_si128(v + 1), s2 = _mm_loadu_si128(v + 2),
            s3 = _mm_loadu_si128(v + 3);
    while (t->sp_nstop && len - e >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(text + e));
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, s0), _mm_cmpeq_epi8(x, s1)),
                                   _mm_or_si128(_mm_cmpeq_epi8(x, s2), _mm_cmpeq_epi8(x, s3)));
        unsigned bits = (unsigned)_mm_movemask_epi8(hit);
        if (!bits) {
            e += 16;
            continue;
        }
        e += (size_t)__builtin_ctz(bits);
        if (cls[(unsigned char)text[e]])
            return e;
        e++;                      /* a byte only the other table stops at */
    }
#endif
    while (e < len && !cls[(unsigned char)text[e]])
        e++;
    return e;
}

/* The text of a JSON string body's word raw[0..n), which holds escapes,
 * into buf (DW_KEY bytes): its length, or 0 when it does not fit, or
 * holds a byte the word scan stops at (an escaped space, say). */
static size_t dw_unescape(const la_tokenizer *t, const char *raw, size_t n, char *buf)
{
    /* The two-byte escapes (GSM8K's "\n", quotes) byte by byte, here:
     * a word is short, and la_json_unescape_body's setup and memchr
     * calls took five times the instructions (callgrind). A \u escape
     * goes the long way. */
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = raw[i];
        if (c == '\\') {
            int ch = i + 1 < n ? la_json_short_escape(raw[++i]) : -1;
            if (ch < 0)
                goto slow;
            c = (char)ch;
        }
        if (o == DW_KEY || t->sp_cls[(unsigned char)c])
            return 0;
        buf[o++] = c;
    }
    return o;
slow:;
    /* room for the whole body's bytes (its text is no longer), so that
     * the buffer is never grown */
    char tmp[6 * DW_KEY + 8];
    la_buf b = { tmp, 0, sizeof tmp };
    if (n > 6 * DW_KEY || la_json_unescape_body(raw, n, &b, NULL) != LA_OK || b.len > DW_KEY)
        return 0;
    for (size_t i = 0; i < b.len; i++)
        if (t->sp_cls[(unsigned char)tmp[i]])
            return 0;
    memcpy(buf, tmp, b.len);
    return b.len;
}

/* The offset in a body's word raw[0..n) where its text's first k bytes
 * end, or SIZE_MAX when that is inside an escape's character. */
static size_t dw_raw_offset(const char *raw, size_t n, size_t k)
{
    size_t i = 0, done = 0;
    char tmp[16];                 /* an escape is at most 12 bytes: never grown */
    while (done < k && i < n) {
        if (raw[i] != '\\') {
            i++, done++;
            continue;
        }
        size_t e = la_json_escape_len(raw, i, n);
        la_buf b = { tmp, 0, sizeof tmp };
        if (!e || e > 12 || la_json_unescape_body(raw + i, e, &b, NULL) != LA_OK)
            return SIZE_MAX;
        i += e, done += b.len;
    }
    return done == k ? i : SIZE_MAX;
}

/* A preview's end *end, a text offset in the word of a body that holds
 * escapes and spans text[at..e), made the offset in the body: 0 when it
 * falls inside an escape's character. */
static int dw_end_in_body(const char *text, size_t at, size_t e, size_t *end)
{
    size_t off = dw_raw_offset(text + at, e - at, *end - at);
    if (off == SIZE_MAX)
        return 0;
    *end = at + off;
    return 1;
}

#ifdef __SSE2__
/* Bits of b[0..64): in *other the stop bytes other than the space, in
 * the result the spaces (t->sp_vec). */
static inline __attribute__((always_inline)) uint64_t dw_masks(const la_tokenizer *t, const char *b,
                                                              uint64_t *other)
{
    const __m128i *v = (const __m128i *)(const void *)t->sp_vec;
    __m128i sp = _mm_loadu_si128(v), o1 = _mm_loadu_si128(v + 1), o2 = _mm_loadu_si128(v + 2),
            o3 = _mm_loadu_si128(v + 3);
    uint64_t m = 0, s = 0;
    for (int i = 0; i < 4; i++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(b + 16 * i));
        __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, o1), _mm_cmpeq_epi8(x, o2)),
                                   _mm_cmpeq_epi8(x, o3));
        m |= (uint64_t)(unsigned)_mm_movemask_epi8(hit) << (16 * i);
        s |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, sp)) << (16 * i);
    }
    *other = m;
    return s;
}
#endif

/* The first words of a JSON string body text[0..len), the common case of
 * direct_preview, in few instructions: words of 1 to DW_KEY bytes, one
 * space after each, within the first 64 bytes and before any other byte
 * the scan stops at (an escape, where an added token may start), all in
 * the table. Their sets are fetched together, then read in turn. Returns
 * 1 when the m-th token is in them (*units and *end set), 2 when the
 * text ran out first, -1 when the general path must make the preview,
 * and 0 when the caller goes on from *pos, *count tokens taken. */
static int dw_fast(const la_tokenizer *t, const dw_cache *dc, const char *text,
                   size_t len, size_t m, int complete, size_t *pos, size_t *count, size_t *units, size_t *end)
{
#ifdef __SSE2__
    char pad[96];
    const char *b = text;
    if (len < 80) {               /* a key reads 16 bytes wherever a word starts */
        memset(pad, 0, sizeof pad);
        memcpy(pad, text, len);
        b = pad;
    }
    uint64_t other, sp = dw_masks(t, b, &other);
    uint64_t in = len < 64 ? ((uint64_t)1 << len) - 1 : ~(uint64_t)0;
    other &= in;
    /* the words end before the first other stop byte, or the text's end
     * when it comes first inside the 64 bytes */
    size_t limit = other ? (size_t)__builtin_ctzll(other) : len < 64 ? len : 64;
    sp &= in & (limit < 64 ? ((uint64_t)1 << limit) - 1 : ~(uint64_t)0);
    size_t want = m < DW_GATHER ? m : DW_GATHER, n = 0, p = 0;
    size_t ends[DW_GATHER];
    dw_k k[DW_GATHER];
    while (n < want) {
        size_t e;
        if (sp) {
            e = (size_t)__builtin_ctzll(sp);
            sp &= sp - 1;
        } else if (limit == len) {
            e = len;              /* the last word */
        } else {
            break;
        }
        size_t wl = e - p;
        if (wl - 1 >= DW_KEY)     /* empty (two spaces) or long */
            break;
        /* a text's first word without the normalizer's s in front is
         * keyed as a piece with no space before it */
        dw_key_at(b + p, wl, (uint8_t)(wl + 1 + (n == 0 && !t->sp_lead ? 32 : 0)), &k[n]);
        const dw_slot *set = dw_set(dc, &k[n]);
        __builtin_prefetch(set);
        __builtin_prefetch(set + 2);
        ends[n++] = e;
        if (e == len)
            break;
        p = e + 1;
    }
    p = 0;
    for (size_t i = 0; i < n; i++) {
        dw_entry d;
        if (!dw_read(dw_set(dc, &k[i]), &k[i], &d) || !d.ntok)
            break;
        size_t e = ends[i];
        if (e < len && !(d.flags & DW_CUT))
            return -1;
        int r = dw_take(&d, p, i > 0 || t->sp_lead, m, complete, count, units, end);
        if (r)
            return r;
        if (e == len)
            return 2;
        p = e + 1;
    }
    *pos = p;
#else
    (void)t, (void)dc, (void)text, (void)len, (void)m, (void)complete, (void)pos, (void)count;
    (void)units, (void)end;
#endif
    return 0;
}

/* The preview of text[0..len) by its words: 1 when done (appended to out,
 * info set), 0 when the general path must do it, < 0 on error. With
 * cls = t->sp_cls_raw, text is a JSON string body: a word with escapes
 * is looked up by its text, and the preview is escaped as la_json_escape
 * would (the body's bytes themselves when it holds no escape). */
static int direct_preview(const la_tokenizer *t, la_tok_work *w, const uint8_t *cls, const char *text,
                          size_t len, int more, size_t m, int complete, la_buf *out,
                          la_preview_info *info, la_err *err)
{
    dw_cache *dc = t->dw;
    if (!dc || m == 0)
        return 0;
    size_t pos = 0, count = 0, end = 0, units = 0;
    int escaped = 0;              /* the preview holds an escape */
    /* Most words are plain and in the table: dw_fast takes those, in few
     * instructions; from the first that is not (or after the last one it
     * looked at) the loop below goes on, which handles every case. */
    if (cls == t->sp_cls_raw && !more && t->sp_nstop) {
        int r = dw_fast(t, dc, text, len, m, complete, &pos, &count, &units, &end);
        if (r < 0)
            return 0;
        if (r == 1)
            goto done;
        if (r == 2)
            goto all_taken;
    }
    /* Words are found a few at a time (no more than the tokens still
     * wanted: each word makes one at least) and their table sets fetched
     * together, then looked up: the table is bigger than the nearer
     * caches, and the lookups' misses then overlap instead of coming one
     * after the other (a third of the preview's time before). */
    struct {
        size_t pos, n, tn;
        int lead;                 /* with the s of a space before it (not the text's first
                                   * word when the normalizer prepends none) */
        const char *txt;          /* the word's text: in text, or in wt */
        dw_k k;
    } wv[DW_BATCH];
    char wt[DW_BATCH][DW_KEY];
    for (;;) {
        size_t k = 0, want = m - count < DW_BATCH ? m - count : DW_BATCH, p = pos;
        int blocked = 0;          /* the word after the gathered ones must go the general way */
        while (k < want) {
            size_t e = p;
            int esc = 0;
            for (;;) {
                e = dw_scan(t, cls, text, e, len);
                if (e == len || cls[(unsigned char)text[e]] == 1)
                    break;
                if (cls[(unsigned char)text[e]] == 3) {
                    size_t el = la_json_escape_len(text, e, len);
                    if (!el) {
                        blocked = 1;
                        break;
                    }
                    esc = 1;
                    e += el;
                    continue;
                }
                if (tk_added_may_start(t->added, 0, text, len, e)) {
                    blocked = 1;  /* an added token: the general path splits it out */
                    break;
                }
                e++;
            }
            /* the word may go on past the window; or none */
            if (blocked || (e == len && more) || e == p) {
                blocked = 1;
                break;
            }
            wv[k].pos = p;
            wv[k].lead = p > 0 || t->sp_lead;
            wv[k].n = e - p;
            wv[k].txt = text + p;
            wv[k].tn = e - p;
            if (!esc && e - p > DW_KEY) {
                wv[k++].tn = 0;   /* in pieces, when it comes to it */
                if (e == len)
                    break;
                p = e + 1;
                continue;
            }
            if (esc) {
                wv[k].txt = wt[k];
                if (!(wv[k].tn = dw_unescape(t, text + p, e - p, wt[k]))) {
                    blocked = 1;
                    break;
                }
            }
            dw_key_of(wv[k].txt, wv[k].tn, wv[k].lead, &wv[k].k);
            const dw_slot *set = dw_set(dc, &wv[k].k);
            __builtin_prefetch(set);
            __builtin_prefetch(set + 2);
            k++;
            if (e == len)
                break;
            p = e + 1;
        }
        for (size_t i = 0; i < k; i++) {
            size_t at = wv[i].pos, n = wv[i].n, e = at + n;
            int rc = LA_OK, esc = wv[i].txt != text + at, r;
            dw_entry de, *d = NULL;
            if (wv[i].tn &&
                (rc = dw_word(t, w, dc, wv[i].txt, wv[i].tn, &wv[i].k, wv[i].lead, d = &de, err)) != LA_OK)
                return rc;
            if (d && d->ntok) {
                if (e < len && !(d->flags & DW_CUT))
                    return 0;
                r = dw_take(d, at, wv[i].lead, m, complete, &count, &units, &end);
                if (r < 0)
                    return 0;
                if (r > 0 && esc && !dw_end_in_body(text, at, e, &end))
                    return 0;
            } else if (!esc && (!d || (d->flags & DW_BIG))) {
                r = dw_pieces(t, w, dc, text, at, n, e < len, m, complete, &count, &units, &end, &rc, err);
                if (r < -1)
                    return rc;
                if (r < 0)
                    return 0;
            } else {
                return 0;
            }
            escaped |= esc;
            if (r > 0)
                goto done;
            if (e == len)
                goto all_taken;
            pos = e + 1;
        }
        if (blocked || k == 0)
            return 0;
    }
all_taken:                        /* fewer than m tokens in all */
    units = count;
    end = len;
done:
    if (info) {
        info->units = units;
        info->whole = !more && end == len;
        info->extended = units > m;
    }
    if (!escaped) {
        if (la_buf_append(out, text, end))
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
        return 1;
    }
    int rc = la_json_reescape_body(text, end, out, err);   /* escaped the one way */
    return rc == LA_OK ? 1 : rc;
}

/* Direct previews are on: the pipeline allows them and no test turned
 * them (or what they stand on) off. */
static int direct_on(const la_tokenizer *t)
{
    return t->direct && !t->no_direct && !t->no_window && !t->no_plan;
}

int tk_preview_raw(const la_tokenizer *t, la_tok_work *w, const char *raw, size_t len, size_t m,
                   int complete, la_buf *out, la_preview_info *info, la_err *err)
{
    if (!t || !w || !out || !raw || !direct_on(t) || !len)
        return 0;
    /* a body without escapes is its text, and that text escapes to itself
     * (it holds no '"', no control character) */
    tk_budget_begin(w, len);
    int rc = direct_preview(t, w, t->sp_cls_raw, raw, len, 0, m, complete, out, info, err);
    tk_budget_end(w);
    return rc;
}

/* tk_preview_text, within the budget its caller armed. */
static int preview_text(const la_tokenizer *t, la_tok_work *w, const char *text, size_t len, int more,
                        size_t m, int complete, la_buf *out, la_preview_info *info, la_err *err)
{
    if (!t || !w || !out || (!text && len))
        return la_err_set(err, LA_EARG, "bad_argument", "tokenizer: bad argument");
    text = text ? text : "";
    if (direct_on(t) && len) {
        int rc = direct_preview(t, w, t->sp_cls, text, len, more, m, complete, out, info, err);
        if (rc != 0)
            return rc < 0 ? rc : LA_OK;
    }
    size_t want = m + 1, mu;
    int ended, short_win;
    /* a window of the text that usually holds the tokens wanted, doubled
     * when it does not (0: the whole text at once) */
    size_t win = first_window(t, m);
    size_t margin = window_margin(t);
    if (more && (win == 0 || t->added_reach == SIZE_MAX))
        return TK_MORE;
    for (;;) {
        if (more && (win >= len || len - win < margin))
            return TK_MORE;
        /* one token more than the preview needs tells whether it is whole */
        int rc = encode_text(t, w, text, len, want, NULL, &w->pl, &ended, win, &short_win, err);
        if (rc != LA_OK)
            return rc;
        if (short_win) {
            win = win > len / 2 ? len : win * 2;
            continue;
        }
        int ran_out;
        if ((rc = preview_units(t, w, m, complete, &mu, &ran_out, err)) != LA_OK)
            return rc;
        if (ended || (!ran_out && mu < w->pl.n))
            break;
        want = w->pl.n * 2 + 1;  /* the tokens ran out mid-character: pull more */
    }
    if (more && ended)
        return TK_MORE;          /* cannot happen: windows stop short of len */
    if (info) {
        info->units = mu;
        info->whole = ended && w->pl.n <= mu;
        info->extended = mu > m;
    }
    return tk_preview_decode(t, w, mu, out, err);
}

int tk_preview_text(const la_tokenizer *t, la_tok_work *w, const char *text, size_t len, int more,
                    size_t m, int complete, la_buf *out, la_preview_info *info, la_err *err)
{
    if (!w)
        return la_err_set(err, LA_EARG, "bad_argument", "tokenizer: bad argument");
    tk_budget_begin(w, len);
    int rc = preview_text(t, w, text, len, more, m, complete, out, info, err);
    tk_budget_end(w);
    return rc;
}

int la_tokenizer_preview(const la_tokenizer *t, la_tok_work *w, const char *text, size_t len,
                         size_t m, int complete, la_buf *out, la_preview_info *info, la_err *err)
{
    return tk_preview_text(t, w, text, len, 0, m, complete, out, info, err);
}
