/*
 * pretokenize.c - HuggingFace pre-tokenizers, built from tokenizer.json.
 *
 * A pre-tokenizer cuts a string into pieces and pushes them to a sink one
 * at a time, stopping as soon as the sink says so: nothing is scanned
 * beyond the piece the caller needed. Splitting follows the reference's
 * NormalizedString::split: a pattern yields a stream of (span, is_match)
 * elements covering the text (find_matches), a behaviour (Removed,
 * Isolated, MergedWithPrevious, MergedWithNext, Contiguous) groups them,
 * and empty pieces are dropped. Here the grouping is done on the fly.
 *
 * Scratch: a component that rewrites text (Metaspace, ByteLevel) writes
 * its pieces into w->pre[depth] (ByteLevel's prefixed head also uses
 * w->pre[depth + 1]); a Sequence gives each stage the slots after those
 * of the stages before it, so a piece stays valid while later stages
 * work on it.
 *
 * Character classes come from the reference (tokenizers 0.23.2), derived
 * by testing every code point: Rust's char::is_whitespace, the `\w` of
 * the Rust regex crate (Whitespace), char::is_numeric (Digits) and
 * ASCII-or-Unicode punctuation (Punctuation, BertPreTokenizer). The
 * ByteLevel and Split regular expressions run on Oniguruma (regex.c).
 */
#include "tokenizer/tk.h"
#include "tokenizer/scripts.h"

#include <stdlib.h>
#include <string.h>


/* ---- Unicode tables (generated from the reference, see above) -------- */
/* written by tests/gen/tables.js (`make tables`) */
#include "tokenizer/tables_pretokenize.h"

/* ---- character classes ------------------------------------------------------ */

#define IN_TABLE(t, cp) tk_in_ranges((t), sizeof(t) / sizeof((t)[0]), (cp))

#define is_ws tk_is_white_space   /* Rust's char::is_whitespace */

/* ASCII or Unicode punctuation (the reference's is_bert_punc). */
static int is_punct(int32_t c)
{
    if (c < 0x80)
        return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) ||
               (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
    return IN_TABLE(punct_chars, c);
}

/* Rust's char::is_numeric. */
static int is_numeric(int32_t c)
{
    if (c < 0x80)
        return c >= '0' && c <= '9';
    return IN_TABLE(numeric_chars, c);
}

/* The `\w` class of the Rust regex crate. */
static int is_word(int32_t c)
{
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
               c == '_';
    return IN_TABLE(word_chars, c);
}

#define next_char tk_next_char

static int oom(la_err *err)
{
    return la_err_set(err, LA_ENOMEM, "tokenizer", "out of memory");
}

/* ---- grouping match elements into pieces ----------------------------------- */

enum { B_REMOVED, B_ISOLATED, B_MERGED_PREV, B_MERGED_NEXT, B_CONTIGUOUS };

static const char *const behavior_names[] = {"Removed", "Isolated", "MergedWithPrevious",
                                             "MergedWithNext", "Contiguous"};

/* Streaming form of the reference's split behaviours. Elements (a span
 * and whether it matched) arrive in order; pieces leave through emit()
 * as soon as no later element can change them. Offsets index s. */
typedef struct {
    int behavior;
    const char *s;
    int at_start;            /* bytes at s's start that stem from the original's first character */
    tk_piece_fn fn;
    void *ctx;
    size_t pa, pb;           /* pending piece */
    int pending;
    int prev_match;          /* kind of the previous element */
} grouper;

static void grouper_init(grouper *g, int behavior, const char *s, int at_start, tk_piece_fn fn,
                         void *ctx)
{
    memset(g, 0, sizeof *g);
    g->behavior = behavior;
    g->s = s;
    g->at_start = at_start;
    g->fn = fn;
    g->ctx = ctx;
}

/* Pushes s[a..b) unless empty (the reference drops empty splits). */
static int emit(grouper *g, size_t a, size_t b)
{
    if (a == b)
        return 0;
    return g->fn(g->ctx, g->s + a, b - a, tk_lead_after(g->at_start, a)) ? 1 : 0;
}

/* Emits the pending piece, if any. */
static int flush(grouper *g)
{
    if (!g->pending)
        return 0;
    g->pending = 0;
    return emit(g, g->pa, g->pb);
}

/* Takes one element; returns 1 when the sink asked to stop. */
static int feed(grouper *g, size_t a, size_t b, int is_match)
{
    int rc = 0;
    switch (g->behavior) {
    case B_REMOVED:
        rc = is_match ? 0 : emit(g, a, b);
        break;
    case B_ISOLATED:
        rc = emit(g, a, b);
        break;
    case B_MERGED_PREV:
        /* a match joins the piece before it, unless that was a match */
        if (is_match && !g->prev_match && g->pending) {
            g->pb = b;
            rc = flush(g);
        } else {
            rc = flush(g);
            g->pa = a, g->pb = b, g->pending = 1;
        }
        break;
    case B_MERGED_NEXT:
        /* a match is held and joins the non-match after it */
        if (g->pending) {
            if (!is_match) {
                g->pending = 0;
                rc = emit(g, g->pa, b);
                break;
            }
            rc = flush(g);
        }
        if (is_match)
            g->pa = a, g->pb = b, g->pending = 1;
        else if (!rc)
            rc = emit(g, a, b);
        break;
    default: /* B_CONTIGUOUS: runs of the same kind merge */
        if (g->pending && is_match == g->prev_match) {
            g->pb = b;
        } else {
            rc = flush(g);
            g->pa = a, g->pb = b, g->pending = 1;
        }
        break;
    }
    g->prev_match = is_match;
    return rc;
}

/* Feeds the elements of a character-predicate pattern over s[0..len):
 * each character satisfying pred is a match of its own. */
static int feed_chars(grouper *g, size_t len, int (*pred)(int32_t), int invert)
{
    size_t last = 0;
    for (size_t i = 0; i < len;) {
        int32_t cp;
        size_t n = next_char(g->s, len, i, &cp);
        if (cp >= 0 && pred(cp)) {
            if (last < i && feed(g, last, i, invert))
                return 1;
            if (feed(g, i, i + n, !invert))
                return 1;
            last = i + n;
        }
        i += n;
    }
    if (last < len && feed(g, last, len, invert))
        return 1;
    return flush(g);
}

/* Feeds the elements of a regex pattern over s[0..len) (find_matches);
 * returns 0, 1 (stopped) or a negative status. */
static int feed_regex(grouper *g, size_t len, const tk_regex *re, int invert, la_tok_work *w,
                      la_err *err)
{
    if (len == 0)
        return 0;
    tk_regex_iter it = {0, 0};
    size_t prev = 0, ms, me;
    int rc;
    while ((rc = tk_regex_iter_next(re, g->s, len, &it, &ms, &me, w, err)) == 1) {
        if (prev != ms && feed(g, prev, ms, invert))
            return 1;
        if (feed(g, ms, me, !invert))
            return 1;
        prev = me;
    }
    if (rc < 0)
        return rc;
    if (prev != len && feed(g, prev, len, invert))
        return 1;
    return flush(g);
}

/* ---- components ------------------------------------------------------------- */

/* Every pre-tokenizer: the interface plus the scratch slots it uses
 * (w->pre[depth .. depth + slots)). */
typedef struct {
    tk_pretok base;
    int slots;
} pre_base;

static int slots_of(const tk_pretok *p)
{
    return ((const pre_base *)p)->slots;
}

/* Checks that the slots a component needs exist. */
static int check_depth(int depth, int slots, la_err *err)
{
    if (depth < 0 || depth + slots > TK_MAX_DEPTH)
        return la_err_set(err, LA_EARG, "tokenizer", "pre-tokenizer: nesting too deep");
    return LA_OK;
}

static void plain_free(tk_pretok *p)
{
    free(p);
}

typedef int (*split_fn)(const tk_pretok *, const char *, size_t, int, tk_piece_fn, void *,
                        la_tok_work *, int, la_err *);

/* Allocates a component of `size` bytes. */
static void *new_component(size_t size, split_fn split, void (*freefn)(tk_pretok *), int slots,
                           la_err *err)
{
    pre_base *p = calloc(1, size);
    if (!p) {
        oom(err);
        return NULL;
    }
    p->base.split = split;
    p->base.free = freefn;
    p->slots = slots;
    return p;
}

/* -- Split ---------------------------------------------------------------- */

typedef struct {
    pre_base b;
    tk_regex *re;
    int behavior, invert;
    char *lit;               /* a {"String": s} pattern's s, NULL for a regex */
    size_t lit_len;
} split_pre;

static int split_split(const tk_pretok *p, const char *s, size_t len, int at_start,
                       tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err)
{
    (void)depth;
    const split_pre *sp = (const split_pre *)p;
    grouper g;
    grouper_init(&g, sp->behavior, s, at_start, fn, ctx);
    return feed_regex(&g, len, sp->re, sp->invert, w, err);
}

static void split_free(tk_pretok *p)
{
    split_pre *sp = (split_pre *)p;
    tk_regex_free(sp->re);
    free(sp->lit);
    free(sp);
}

/* -- character-predicate splitters ------------------------------------------ */

typedef struct {
    pre_base b;
    int behavior;
    int32_t delim;           /* CharDelimiterSplit */
} char_pre;

static int punct_split(const tk_pretok *p, const char *s, size_t len, int at_start,
                       tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err)
{
    (void)w, (void)depth, (void)err;
    grouper g;
    grouper_init(&g, ((const char_pre *)p)->behavior, s, at_start, fn, ctx);
    return feed_chars(&g, len, is_punct, 0);
}

static int ws_split_split(const tk_pretok *p, const char *s, size_t len, int at_start,
                          tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err)
{
    (void)p, (void)w, (void)depth, (void)err;
    grouper g;
    grouper_init(&g, B_REMOVED, s, at_start, fn, ctx);
    return feed_chars(&g, len, is_ws, 0);
}

static int digits_split(const tk_pretok *p, const char *s, size_t len, int at_start,
                        tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err)
{
    (void)w, (void)depth, (void)err;
    grouper g;
    grouper_init(&g, ((const char_pre *)p)->behavior, s, at_start, fn, ctx);
    return feed_chars(&g, len, is_numeric, 0);
}

/* CharDelimiterSplit: the delimiter character, removed. */
static int delim_split(const tk_pretok *p, const char *s, size_t len, int at_start,
                       tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err)
{
    (void)w, (void)depth, (void)err;
    int32_t d = ((const char_pre *)p)->delim;
    grouper g;
    grouper_init(&g, B_REMOVED, s, at_start, fn, ctx);
    size_t last = 0;
    for (size_t i = 0; i < len;) {
        int32_t cp;
        size_t n = next_char(s, len, i, &cp);
        if (cp == d) {
            if (emit(&g, last, i))
                return 1;
            last = i + n;
        }
        i += n;
    }
    return emit(&g, last, len);
}

/* Whitespace: `\w+|[^\w\s]+` keeps runs of word characters and runs of
 * other non-space characters; white space separates and is dropped. */
static int whitespace_split(const tk_pretok *p, const char *s, size_t len, int at_start,
                            tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err)
{
    (void)p, (void)w, (void)depth, (void)err;
    grouper g;
    grouper_init(&g, B_ISOLATED, s, at_start, fn, ctx);
    size_t start = 0;
    int cls = 0; /* class of the current run: 0 space, 1 word, 2 other */
    for (size_t i = 0; i < len;) {
        int32_t cp;
        size_t n = next_char(s, len, i, &cp);
        int c = cp >= 0 && is_ws(cp) ? 0 : (cp >= 0 && is_word(cp) ? 1 : 2);
        if (c != cls) {
            if (cls && emit(&g, start, i))
                return 1;
            start = i;
            cls = c;
        }
        i += n;
    }
    return cls ? emit(&g, start, len) : 0;
}

/* The script of cp as UnicodeScripts sees it: 0 (none, "Any") for the
 * space and for code points in no range, Han for U+30FC. */
static int script_of(int32_t cp)
{
    if (cp == ' ')
        return 0;
    if (cp == 0x30FC)
        cp = 0x4E00;              /* a Han character: the same number */
    size_t lo = 0, hi = sizeof tk_script_ranges / sizeof tk_script_ranges[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (tk_script_ranges[mid].hi < cp)
            lo = mid + 1;
        else if (tk_script_ranges[mid].lo > cp)
            hi = mid;
        else
            return tk_script_ranges[mid].script;
    }
    return 0;
}

/* UnicodeScripts: a cut before each character (of some script) whose
 * script differs from the last character's that had one; characters of
 * no script belong to the piece they are in. As in HuggingFace, the
 * pieces run from cut to cut, so what precedes the first cut (the
 * characters of no script that start the text) is dropped. */
static int scripts_split(const tk_pretok *p, const char *s, size_t len, int at_start,
                         tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err)
{
    (void)p, (void)w, (void)depth, (void)err;
    grouper g;
    grouper_init(&g, B_ISOLATED, s, at_start, fn, ctx);
    int last = -1;                /* no script met yet */
    size_t cut = SIZE_MAX;
    for (size_t i = 0; i < len;) {
        int32_t cp;
        size_t n = next_char(s, len, i, &cp);
        int sc = script_of(cp);
        if (sc && sc != last) {
            if (cut != SIZE_MAX && emit(&g, cut, i))
                return 1;
            cut = i;
        }
        if (sc)
            last = sc;
        i += n;
    }
    return cut != SIZE_MAX ? emit(&g, cut, len) : 0;
}

static tk_pretok *new_scripts(const cJSON *j, const char *type, la_err *err)
{
    (void)j, (void)type;
    return new_component(sizeof(char_pre), scripts_split, plain_free, 0, err);
}

/* BertPreTokenizer: split on white space (removed), then isolate each
 * punctuation character. */
static int bert_split(const tk_pretok *p, const char *s, size_t len, int at_start,
                      tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err)
{
    (void)p, (void)w, (void)depth, (void)err;
    grouper g;
    grouper_init(&g, B_ISOLATED, s, at_start, fn, ctx);
    size_t start = 0;
    for (size_t i = 0; i < len;) {
        int32_t cp;
        size_t n = next_char(s, len, i, &cp);
        if (cp >= 0 && (is_ws(cp) || is_punct(cp))) {
            if (emit(&g, start, i))
                return 1;
            if (!is_ws(cp) && emit(&g, i, i + n))
                return 1;
            start = i + n;
        }
        i += n;
    }
    return emit(&g, start, len);
}

/* -- Metaspace --------------------------------------------------------------- */

enum { PREPEND_ALWAYS, PREPEND_FIRST, PREPEND_NEVER };

typedef struct {
    pre_base b;
    int32_t rep;
    char rep_utf8[4];
    size_t rep_len;
    int prepend, split;
} metaspace_pre;

/* Spaces become the replacement; it is prepended (always, or only at
 * the start of the original text) unless the piece already starts with
 * it; with split, a piece starts at every replacement character. Pieces
 * are built in w->pre[depth] one at a time. */
static int metaspace_split(const tk_pretok *p, const char *s, size_t len, int at_start,
                           tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err)
{
    const metaspace_pre *m = (const metaspace_pre *)p;
    if (check_depth(depth, 1, err))
        return LA_EARG;
    if (len == 0)
        return 0;
    la_buf *buf = &w->pre[depth];
    la_buf_clear(buf);
    int32_t first;
    next_char(s, len, 0, &first);
    int starts = first == ' ' || first == m->rep;
    int prepends = !starts && (m->prepend == PREPEND_ALWAYS || (m->prepend == PREPEND_FIRST && at_start > 0));
    if (prepends && la_buf_append(buf, m->rep_utf8, m->rep_len) != LA_OK)
        return oom(err);
    /* (what it prepends stems from the piece's first character) */
    int piece_at_start = at_start > 0 && prepends ? at_start + (int)m->rep_len : at_start;
    for (size_t i = 0; i < len;) {
        int32_t cp;
        size_t n = next_char(s, len, i, &cp);
        int is_rep = cp == ' ' || cp == m->rep;
        if (is_rep && m->split && buf->len) {
            if (fn(ctx, buf->data, buf->len, piece_at_start))
                return 1;
            la_buf_clear(buf);
            piece_at_start = tk_lead_after(at_start, i);
        }
        int rc = is_rep ? la_buf_append(buf, m->rep_utf8, m->rep_len)
                        : la_buf_append(buf, s + i, n);
        if (rc != LA_OK)
            return oom(err);
        i += n;
    }
    if (buf->len && fn(ctx, buf->data, buf->len, piece_at_start))
        return 1;
    return 0;
}

/* -- ByteLevel ----------------------------------------------------------------- */

#define GPT2_PATTERN                                                                      \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

typedef struct {
    pre_base b;
    tk_regex *re;            /* NULL without use_regex */
    int add_prefix_space;
    char enc[256][2];        /* GPT-2's byte -> character, as UTF-8 */
    unsigned char enc_len[256];
} byte_level_pre;

/* Sink context that maps each piece's bytes before passing it on. */
typedef struct {
    const byte_level_pre *bl;
    la_buf *buf;
    tk_piece_fn fn;
    void *ctx;
    size_t lim;              /* the growth bound of the call (tk.h) */
    int failed;              /* LA_ENOMEM or MAP_OVER */
} bl_sink;

/* map_bytes's answer when the piece would pass the growth bound: each
 * ByteLevel in a Sequence doubles the bytes above 0x7F, so a chain of
 * them multiplies the text. */
#define MAP_OVER 1

/* Appends the GPT-2 characters of bytes p[0..len) to b, unless b would
 * pass lim bytes (MAP_OVER). */
static int map_bytes(const byte_level_pre *bl, const char *p, size_t len, la_buf *b, size_t lim)
{
    if (len > SIZE_MAX / 2 - 1 || b->len > lim || 2 * len > lim - b->len)
        return MAP_OVER;
    if (la_buf_reserve(b, 2 * len) != LA_OK)
        return LA_ENOMEM;
    char *o = b->data + b->len;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)p[i];
        memcpy(o, bl->enc[ch], 2);
        o += bl->enc_len[ch];
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = 0;
    return LA_OK;
}

/* Maps a piece into the sink's buffer and passes it on. */
static int bl_emit(void *c, const char *piece, size_t len, int at_start)
{
    bl_sink *k = c;
    la_buf_clear(k->buf);
    int rc = map_bytes(k->bl, piece, len, k->buf, k->lim);
    if (rc != LA_OK) {
        k->failed = rc;
        return 1;
    }
    return k->fn(k->ctx, k->buf->data, k->buf->len, at_start);
}

/* The first element(s) of " " + s under the GPT-2 regex, computed on a
 * growing prefixed copy of s's head so that a long text is not copied:
 * the copy is long enough once the match ends well before its end (the
 * pattern looks at most one character past a match). Feeds the elements
 * and returns, in *resume, where matching continues in s. */
static int bl_prefixed_head(const byte_level_pre *bl, grouper *g, const char *s, size_t len,
                            la_buf *head, size_t *resume, la_tok_work *w, la_err *err)
{
    size_t k = len < 256 ? len : 256;
    size_t ms, me;
    int rc;
    for (;;) {
        la_buf_clear(head);
        if (la_buf_putc(head, ' ') != LA_OK || la_buf_append(head, s, k) != LA_OK)
            return oom(err);
        rc = tk_regex_next(bl->re, head->data, head->len, 0, &ms, &me, w, err);
        if (rc < 0)
            return rc;
        if (k == len || (rc == 1 && me + 8 <= head->len))
            break;
        k = len - k < 3 * k ? len : 4 * k;
    }
    g->s = head->data;
    if (rc == 0) {           /* no match at all: one non-match element */
        *resume = len;
        return feed(g, 0, head->len, 0) ? 1 : flush(g);
    }
    if (ms > 0 && feed(g, 0, ms, 0))
        return 1;
    if (feed(g, ms, me, 1))
        return 1;
    /* the rest of the stream refers to s, one byte to the left */
    if (flush(g))
        return 1;
    *resume = me - 1;
    return 0;
}

/* The error of a map_bytes that failed with rc. */
static int bl_failed(int rc, la_err *err)
{
    return rc == MAP_OVER ? tk_budget_error(err, "pre-tokenizer ByteLevel") : oom(err);
}

static int byte_level_split(const tk_pretok *p, const char *s, size_t len, int at_start,
                            tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err)
{
    const byte_level_pre *bl = (const byte_level_pre *)p;
    if (check_depth(depth, bl->b.slots, err))
        return LA_EARG;
    if (len == 0)
        return 0;
    bl_sink k = {bl, &w->pre[depth], fn, ctx, tk_budget_grow(w, len + 1), 0};
    int prefix = bl->add_prefix_space && s[0] != ' ';
    int rc;
    if (!bl->re) {
        /* one piece: the (prefixed) text, mapped */
        la_buf_clear(k.buf);
        if ((rc = prefix ? map_bytes(bl, " ", 1, k.buf, k.lim) : LA_OK) == LA_OK)
            rc = map_bytes(bl, s, len, k.buf, k.lim);
        if (rc != LA_OK)
            return bl_failed(rc, err);
        return fn(ctx, k.buf->data, k.buf->len, at_start) ? 1 : 0;
    }
    grouper g;
    grouper_init(&g, B_ISOLATED, s, at_start, bl_emit, &k);
    size_t from = 0;
    if (prefix) {
        rc = bl_prefixed_head(bl, &g, s, len, &w->pre[depth + 1], &from, w, err);
        if (rc || from >= len)
            return k.failed ? bl_failed(k.failed, err) : rc;
        g.s = s;
        g.at_start = 0;
    }
    /* continue the match stream on s itself from `from` */
    tk_regex_iter it = {from, from > 0};
    size_t prev = from, ms, me;
    while ((rc = tk_regex_iter_next(bl->re, s, len, &it, &ms, &me, w, err)) == 1) {
        if ((prev != ms && feed(&g, prev, ms, 0)) || feed(&g, ms, me, 1))
            return k.failed ? bl_failed(k.failed, err) : 1;
        prev = me;
    }
    if (rc < 0)
        return rc;
    if (prev != len && feed(&g, prev, len, 0))
        return k.failed ? bl_failed(k.failed, err) : 1;
    return 0;
}

static void byte_level_free(tk_pretok *p)
{
    byte_level_pre *bl = (byte_level_pre *)p;
    tk_regex_free(bl->re);
    free(bl);
}

/* -- Sequence ------------------------------------------------------------------- */

typedef struct {
    pre_base b;
    tk_pretok **items;
    int *offset;             /* scratch slot of each item, from the Sequence's own */
    size_t n;
} seq_pre;

/* Passes each piece of stage `next - 1` through stage `next`. */
typedef struct {
    const seq_pre *sq;
    size_t next;
    tk_piece_fn fn;
    void *ctx;
    la_tok_work *w;
    int depth;
    la_err *err;
    int *status;             /* first error, shared by the whole chain */
} seq_ctx;

static int seq_sink(void *c, const char *piece, size_t len, int at_start)
{
    const seq_ctx *sc = c;
    const tk_pretok *p = sc->sq->items[sc->next];
    int d = sc->depth + sc->sq->offset[sc->next];
    int rc;
    if (sc->next + 1 == sc->sq->n) {
        rc = p->split(p, piece, len, at_start, sc->fn, sc->ctx, sc->w, d, sc->err);
    } else {
        seq_ctx inner = *sc;
        inner.next++;
        rc = p->split(p, piece, len, at_start, seq_sink, &inner, sc->w, d, sc->err);
    }
    if (rc < 0) {
        if (*sc->status == 0)
            *sc->status = rc;
        return 1;
    }
    return rc;
}

/* Each piece of the first stage goes through all later stages before
 * the next piece is cut (the reference applies every stage to every
 * split independently, so the result is the same). */
static int seq_split(const tk_pretok *p, const char *s, size_t len, int at_start,
                     tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err)
{
    const seq_pre *sq = (const seq_pre *)p;
    if (sq->n == 0)
        return len ? (fn(ctx, s, len, at_start) ? 1 : 0) : 0;
    if (check_depth(depth, sq->b.slots, err))
        return LA_EARG;
    if (sq->n == 1)
        return sq->items[0]->split(sq->items[0], s, len, at_start, fn, ctx, w, depth, err);
    /* run on its own (no API call set the growth bound): the bound is
     * that of the sequence's input, for every item */
    int own_bound = !w->budget.grow_max;
    if (own_bound)
        w->budget.grow_max = tk_grow_max(len);
    int status = 0;
    seq_ctx c = {sq, 1, fn, ctx, w, depth, err, &status};
    int rc = sq->items[0]->split(sq->items[0], s, len, at_start, seq_sink, &c, w, depth, err);
    if (own_bound)
        w->budget.grow_max = 0;
    return status ? status : rc;
}

int tk_pretok_split_bytes(const tk_pretok *p, tk_split_bytes *out)
{
    if (p && p->split == byte_level_split) {
        /* ByteLevel with its own regex and no prefix space (Claude's,
         * GPT-2's): the regex's matches and the gaps between them, each
         * mapped, as Split Isolated + ByteLevel without one */
        const byte_level_pre *bl = (const byte_level_pre *)p;
        if (!bl->re || bl->add_prefix_space)
            return 0;
        out->gaps = out->matches = 1;
        out->re[0] = bl->re;
        out->n_re = 1;
        out->map = bl;
        return 1;
    }
    if (!p || p->split != seq_split)
        return 0;
    const seq_pre *sq = (const seq_pre *)p;
    if (sq->n < 2 || sq->n - 1 > TK_SPLIT_MAX || sq->items[sq->n - 1]->split != byte_level_split)
        return 0;
    const byte_level_pre *bl = (const byte_level_pre *)sq->items[sq->n - 1];
    if (bl->re || bl->add_prefix_space)
        return 0;
    out->gaps = out->matches = 1;
    for (size_t i = 0; i + 1 < sq->n; i++) {
        const split_pre *sp = (const split_pre *)sq->items[i];
        if (sq->items[i]->split != split_split)
            return 0;
        if (sp->behavior == B_REMOVED && sq->n == 2)
            out->gaps = !sp->invert, out->matches = sp->invert;   /* what is not a "match" stays */
        else if (sp->behavior != B_ISOLATED)
            return 0;
        out->re[i] = sp->re;
    }
    out->n_re = sq->n - 1;
    out->map = bl;
    return 1;
}

int tk_pretok_split_needs(const tk_pretok *p, char c)
{
    if (!p || p->split != split_split)
        return 0;
    const split_pre *sp = (const split_pre *)p;
    /* not inverted, every match is the literal: none where c is not */
    return !sp->invert && sp->lit && memchr(sp->lit, c, sp->lit_len) != NULL;
}

int tk_split_bytes_map(const tk_split_bytes *sb, const char *s, size_t n, la_buf *out)
{
    /* one ByteLevel: twice the bytes at most, no bound needed */
    int rc = map_bytes((const byte_level_pre *)sb->map, s, n, out, SIZE_MAX);
    return rc == MAP_OVER ? LA_ENOMEM : rc;
}

static void seq_free(tk_pretok *p)
{
    seq_pre *sq = (seq_pre *)p;
    for (size_t i = 0; i < sq->n; i++)
        sq->items[i]->free(sq->items[i]);
    free(sq->items);
    free(sq->offset);
    free(sq);
}

/* ---- construction from JSON ------------------------------------------------------ */

/* Field `name` of a `type` pre-tokenizer; NULL (with err) when missing
 * and required. */
static const cJSON *field(const cJSON *j, const char *type, const char *name, int required,
                          la_err *err)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!f && required)
        la_err_set(err, LA_EDATA, "tokenizer", "pre-tokenizer: %s: missing field \"%s\"", type,
                   name);
    return f;
}

static int type_error(const char *type, const char *name, const char *what, la_err *err)
{
    return la_err_set(err, LA_EDATA, "tokenizer", "pre-tokenizer: %s: field \"%s\" must be %s",
                      type, name, what);
}

/* Reads a boolean; a missing optional field leaves *v alone. */
static int get_bool(const cJSON *j, const char *type, const char *name, int required, int *v,
                    la_err *err)
{
    const cJSON *f = field(j, type, name, required, err);
    if (!f)
        return required ? LA_EDATA : LA_OK;
    if (!cJSON_IsBool(f))
        return type_error(type, name, "a boolean", err);
    *v = cJSON_IsTrue(f);
    return LA_OK;
}

/* Reads a behaviour name; a missing optional field leaves *v alone. */
static int get_behavior(const cJSON *j, const char *type, int required, int *v, la_err *err)
{
    const cJSON *f = field(j, type, "behavior", required, err);
    if (!f)
        return required ? LA_EDATA : LA_OK;
    if (cJSON_IsString(f))
        for (int i = 0; i < 5; i++)
            if (strcmp(f->valuestring, behavior_names[i]) == 0) {
                *v = i;
                return LA_OK;
            }
    return type_error(type, "behavior",
                      "one of Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous",
                      err);
}

/* Reads a field that must hold exactly one character. */
static int get_char(const cJSON *j, const char *type, const char *name, int32_t *cp,
                    la_err *err)
{
    const cJSON *f = field(j, type, name, 1, err);
    if (!f)
        return LA_EDATA;
    size_t len = cJSON_IsString(f) ? strlen(f->valuestring) : 0;
    if (!len || tk_utf8_decode((const unsigned char *)f->valuestring, len, cp) != len)
        return type_error(type, name, "a single character", err);
    return LA_OK;
}

/* Compiles a {"String": s} or {"Regex": r} pattern. */
static tk_regex *compile_pattern(const cJSON *j, const char *type, la_err *err)
{
    const cJSON *pat = field(j, type, "pattern", 1, err);
    if (!pat)
        return NULL;
    const cJSON *str = cJSON_IsObject(pat) ? cJSON_GetObjectItemCaseSensitive(pat, "String") : NULL;
    const cJSON *rx = cJSON_IsObject(pat) ? cJSON_GetObjectItemCaseSensitive(pat, "Regex") : NULL;
    if ((!str == !rx) || cJSON_GetArraySize(pat) != 1 || !cJSON_IsString(str ? str : rx)) {
        type_error(type, "pattern", "{\"String\": s} or {\"Regex\": r}", err);
        return NULL;
    }
    if (rx)
        return tk_regex_new(rx->valuestring, strlen(rx->valuestring), err);
    return tk_regex_literal(str->valuestring, strlen(str->valuestring), err);
}

typedef tk_pretok *(*pre_ctor)(const cJSON *j, const char *type, la_err *err);

static tk_pretok *new_split(const cJSON *j, const char *type, la_err *err)
{
    int behavior = 0, invert = 0;
    if (get_behavior(j, type, 1, &behavior, err) || get_bool(j, type, "invert", 1, &invert, err))
        return NULL;
    tk_regex *re = compile_pattern(j, type, err);
    if (!re)
        return NULL;
    split_pre *sp = new_component(sizeof *sp, split_split, split_free, 0, err);
    if (!sp) {
        tk_regex_free(re);
        return NULL;
    }
    sp->re = re;
    sp->behavior = behavior;
    sp->invert = invert;
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(j, "pattern");
    const cJSON *str = cJSON_GetObjectItemCaseSensitive(pat, "String");
    if (cJSON_IsString(str)) {
        sp->lit_len = strlen(str->valuestring);
        if (!(sp->lit = malloc(sp->lit_len + 1))) {
            split_free(&sp->b.base);
            oom(err);
            return NULL;
        }
        memcpy(sp->lit, str->valuestring, sp->lit_len + 1);
    }
    return (tk_pretok *)sp;
}

static tk_pretok *new_punctuation(const cJSON *j, const char *type, la_err *err)
{
    int behavior = B_ISOLATED;
    if (get_behavior(j, type, 0, &behavior, err))
        return NULL;
    char_pre *c = new_component(sizeof *c, punct_split, plain_free, 0, err);
    if (c)
        c->behavior = behavior;
    return (tk_pretok *)c;
}

static tk_pretok *new_digits(const cJSON *j, const char *type, la_err *err)
{
    int individual = 0;
    if (get_bool(j, type, "individual_digits", 1, &individual, err))
        return NULL;
    char_pre *c = new_component(sizeof *c, digits_split, plain_free, 0, err);
    if (c)
        c->behavior = individual ? B_ISOLATED : B_CONTIGUOUS;
    return (tk_pretok *)c;
}

static tk_pretok *new_delimiter(const cJSON *j, const char *type, la_err *err)
{
    int32_t d;
    if (get_char(j, type, "delimiter", &d, err))
        return NULL;
    char_pre *c = new_component(sizeof *c, delim_split, plain_free, 0, err);
    if (c)
        c->delim = d;
    return (tk_pretok *)c;
}

static tk_pretok *new_whitespace_split(const cJSON *j, const char *type, la_err *err)
{
    (void)j, (void)type;
    return new_component(sizeof(char_pre), ws_split_split, plain_free, 0, err);
}

static tk_pretok *new_whitespace(const cJSON *j, const char *type, la_err *err)
{
    (void)j, (void)type;
    return new_component(sizeof(char_pre), whitespace_split, plain_free, 0, err);
}

static tk_pretok *new_bert(const cJSON *j, const char *type, la_err *err)
{
    (void)j, (void)type;
    return new_component(sizeof(char_pre), bert_split, plain_free, 0, err);
}

/* Metaspace: replacement (one character), prepend_scheme (always,
 * first, never; default always), split (default true), and the legacy
 * add_prefix_space: false requires prepend_scheme "never". */
static tk_pretok *new_metaspace(const cJSON *j, const char *type, la_err *err)
{
    int32_t rep;
    int split = 1, aps = -1, prepend = PREPEND_ALWAYS;
    if (get_char(j, type, "replacement", &rep, err) || get_bool(j, type, "split", 0, &split, err) ||
        get_bool(j, type, "add_prefix_space", 0, &aps, err))
        return NULL;
    const cJSON *ps = field(j, type, "prepend_scheme", 0, err);
    if (ps && !cJSON_IsNull(ps)) {
        static const char *const names[] = {"always", "first", "never"};
        prepend = -1;
        for (int i = 0; i < 3 && cJSON_IsString(ps); i++)
            if (strcmp(ps->valuestring, names[i]) == 0)
                prepend = i;
        if (prepend < 0) {
            type_error(type, "prepend_scheme", "one of always, first, never", err);
            return NULL;
        }
    }
    if (aps == 0) {
        if (!ps || cJSON_IsNull(ps) || prepend != PREPEND_NEVER) {
            la_err_set(err, LA_EDATA, "tokenizer",
                       "pre-tokenizer: %s: add_prefix_space does not match prepend_scheme", type);
            return NULL;
        }
    }
    metaspace_pre *m = new_component(sizeof *m, metaspace_split, plain_free, 1, err);
    if (!m)
        return NULL;
    m->rep = rep;
    m->rep_len = tk_utf8_encode(rep, m->rep_utf8);
    m->prepend = prepend;
    m->split = split;
    return (tk_pretok *)m;
}

static tk_pretok *new_byte_level(const cJSON *j, const char *type, la_err *err)
{
    int aps = 0, trim = 0, use_regex = 1;
    if (get_bool(j, type, "add_prefix_space", 1, &aps, err) ||
        get_bool(j, type, "trim_offsets", 1, &trim, err) ||
        get_bool(j, type, "use_regex", 0, &use_regex, err))
        return NULL;
    tk_regex *re = NULL;
    if (use_regex && !(re = tk_regex_new(GPT2_PATTERN, strlen(GPT2_PATTERN), err)))
        return NULL;
    byte_level_pre *bl = new_component(sizeof *bl, byte_level_split, byte_level_free, 2, err);
    if (!bl) {
        tk_regex_free(re);
        return NULL;
    }
    bl->re = re;
    bl->add_prefix_space = aps;
    tk_byte_level_table(bl->enc, bl->enc_len);
    return (tk_pretok *)bl;
}

static tk_pretok *new_sequence(const cJSON *j, const char *type, la_err *err)
{
    const cJSON *arr = field(j, type, "pretokenizers", 1, err);
    if (!arr)
        return NULL;
    if (!cJSON_IsArray(arr)) {
        type_error(type, "pretokenizers", "an array", err);
        return NULL;
    }
    size_t n = (size_t)cJSON_GetArraySize(arr);
    seq_pre *sq = new_component(sizeof *sq, seq_split, seq_free, 0, err);
    if (!sq)
        return NULL;
    sq->items = calloc(n ? n : 1, sizeof *sq->items);
    sq->offset = calloc(n ? n : 1, sizeof *sq->offset);
    if (!sq->items || !sq->offset) {
        oom(err);
        seq_free((tk_pretok *)sq);
        return NULL;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, arr) {
        tk_pretok *x = tk_pretok_from_json(item, err);
        if (!x) {
            seq_free((tk_pretok *)sq);
            return NULL;
        }
        sq->offset[sq->n] = sq->b.slots;
        sq->items[sq->n++] = x;
        sq->b.slots += slots_of(x);
        if (sq->b.slots > TK_MAX_DEPTH) {
            la_err_set(err, LA_EUNSUP, "tokenizer", "pre-tokenizer: %s: nested too deeply", type);
            seq_free((tk_pretok *)sq);
            return NULL;
        }
    }
    return (tk_pretok *)sq;
}

/* The "type" tags this file knows. */
static const struct {
    const char *type;
    pre_ctor make;
} pre_types[] = {
    {"Sequence", new_sequence},
    {"Split", new_split},
    {"ByteLevel", new_byte_level},
    {"Metaspace", new_metaspace},
    {"Whitespace", new_whitespace},
    {"WhitespaceSplit", new_whitespace_split},
    {"Digits", new_digits},
    {"Punctuation", new_punctuation},
    {"BertPreTokenizer", new_bert},
    {"CharDelimiterSplit", new_delimiter},
    {"UnicodeScripts", new_scripts},
};

tk_pretok *tk_pretok_from_json(const cJSON *j, la_err *err)
{
    const char *type = tk_component_type(j, "pre-tokenizer", err);
    if (!type)
        return NULL;
    for (size_t i = 0; i < sizeof pre_types / sizeof pre_types[0]; i++)
        if (strcmp(pre_types[i].type, type) == 0)
            return pre_types[i].make(j, pre_types[i].type, err);
    la_err_set(err, LA_EUNSUP, "tokenizer", "pre-tokenizer: unsupported type \"%.64s\"", type);
    return NULL;
}
