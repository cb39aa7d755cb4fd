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

#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

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
    tk_bpe_words_free(w->bpe_words);
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

/* The pieces of s[0..n) under a tk_split_bytes pre-tokenizer from its
 * Split `level` on: as that Split gives them (Isolated: gaps and
 * matches; Removed: one kind), each cut by the next Splits. */
static int encode_split_bytes(enc_ctx *c, size_t level, const char *s, size_t n)
{
    const tk_split_bytes *sb = &c->t->sb;
    if (level == sb->n_re)
        return cached_piece(c, s, n);
    tk_regex_iter it = {0, 0};
    size_t prev = 0, ms, me;
    int rc;
    while ((rc = tk_regex_iter_next(sb->re[level], s, n, &it, &ms, &me, c->w, c->err)) == 1) {
        if (sb->gaps && prev != ms && (rc = encode_split_bytes(c, level + 1, s + prev, ms - prev)) != 0)
            return rc;
        if (sb->matches && ms != me && (rc = encode_split_bytes(c, level + 1, s + ms, me - ms)) != 0)
            return rc;
        prev = me;
    }
    if (rc < 0)
        return rc;
    if (sb->gaps && prev != n)
        return encode_split_bytes(c, level + 1, s + prev, n - prev);
    return 0;
}

/* Pre-tokenizes (or not) a normalized piece with no added token in it.
 * Returns 0, 1 to stop, or a negative status. */
static int encode_piece(enc_ctx *c, const char *s, size_t n, int at_start)
{
    if (n == 0)
        return 0;
    if (c->pl && c->t->split_bytes) {
        int rc = encode_split_bytes(c, 0, s, n);
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
 * segment is one piece, which BPE cuts where no merge can cross, and
 * Unigram where no piece spans: tk_model_prefix), no added tokens matched
 * after normalization and none that strip white space on their left (so
 * a segment known up to a point is the same text up to that point). */
int tk_windowable(const la_tokenizer *t)
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
            rc = tk_model_prefix(c->t->model, s, n, &c->sink, c->w, c->err);
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
    return !tk_windowable(t) ? 0 : t->first_window ? t->first_window : 16 + 4 * (m + 1);
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

/* Whether a preview tries the direct path (direct.c) first: the one
 * place that decides it. On when the pipeline allows it and no test
 * turned it (or what it stands on) off. */
static int direct_on(const la_tokenizer *t)
{
    return t->direct && !t->no_direct && !t->no_window && !t->no_plan;
}

int tk_preview_raw(const la_tokenizer *t, la_tok_work *w, const tk_escaping *esc, const char *raw,
                   size_t len, size_t m, int complete, la_buf *out, la_preview_info *info, la_err *err)
{
    if (!t || !w || !out || !raw || !esc || !direct_on(t) || !len)
        return 0;
    tk_budget_begin(w, len);
    int rc = tk_direct_preview(t, w, esc, raw, len, 0, m, complete, out, info, err);
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
        int rc = tk_direct_preview(t, w, NULL, text, len, more, m, complete, out, info, err);
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
