/*
 * bpe_words.c - accelerators of the BPE model (bpe.c): words of few
 * symbols merged by a scan instead of the heap, with the same merges in
 * the same order, the per-thread word caches (a word's tokens depend on
 * the model and the word alone), the compact merge table, and the tables
 * of the common characters for a word's symbols and for cutting. The
 * entry points of tokenizing (tk_bpe_tokenize and its kin, tk_bpe_chunk_end)
 * are here: each picks, by bpe_use, these shortcuts or the plain
 * computation of bpe.c.
 */
#include "tokenizer/bpe_int.h"
#include "tokenizer/tk_test.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Word cache (per thread): words of up to CACHE_KEY bytes and up to
 * CACHE_IDS tokens, in sets of two entries chosen by the word's hash.
 * It starts at CACHE_FIRST entries and is made CACHE_SLOTS big (empty)
 * once it has taken CACHE_FIRST / 2 words: a run that tokenizes few
 * words with it (direct previews keep their words in a table of their
 * own) touches a sixteenth of the pages, whose first touch (a page
 * fault) costs more than the words' work. */
#define CACHE_FIRST 2048
#define CACHE_SLOTS 32768
#define CACHE_KEY 26
#define CACHE_IDS 8
_Static_assert(CACHE_KEY <= 32, "tk_word_hash reads at most 32 bytes");

typedef struct {                 /* 64 bytes, one cache line */
    uint32_t hash;               /* the word's hash, high half */
    uint8_t klen;                /* key length + 1; 0: empty */
    uint8_t nids;
    char key[CACHE_KEY];
    uint32_t ids[CACHE_IDS];
} cache_entry;
_Static_assert(sizeof(cache_entry) == 64, "a cache entry is one cache line");

typedef struct {
    cache_entry *e;              /* slots entries; NULL until first use */
    uint32_t slots;
    uint32_t taken;              /* words put in since it was made */
    uint64_t serial;             /* the model the entries belong to */
} word_cache;

/* This file's per-thread scratch (la_tok_work's bpe_words). */
typedef struct {
    word_cache cache;            /* words tokenized here */
    word_cache pcache;           /* the callers' piece cache, the same way */
} words_work;

static void cache_unmap(word_cache *c)
{
    if (c->e)
        munmap(c->e, (size_t)c->slots * sizeof *c->e);
    c->e = NULL;
    c->slots = 0;
}

static words_work *get_words(la_tok_work *w)
{
    if (!w->bpe_words)
        w->bpe_words = calloc(1, sizeof(words_work));
    return w->bpe_words;
}

void tk_bpe_words_free(void *p)
{
    words_work *ww = p;
    if (!ww)
        return;
    cache_unmap(&ww->cache);
    cache_unmap(&ww->pcache);
    free(ww);
}

/* ---- merging short words -------------------------------------------------- */

#define SMALL_WORD 24

/* bpe_merge_all for a word of few symbols, with the same merges in the same
 * order: each symbol keeps the rank and result of the pair it starts, and
 * a scan takes the lowest rank, leftmost on ties (the heap's order), as
 * long as one is left; only the pairs beside a merge are looked up again.
 * (A word's first tokenization, which direct previews do once per word,
 * takes fewer instructions so than with the heap.) */
static void merge_small(const tk_bpe *m, bpe_work *bw)
{
    int compact = bpe_use(m, BPE_COMPACT);
    uint32_t rank[SMALL_WORD], new_id[SMALL_WORD];
    bpe_sym *sym = bw->sym;
    size_t n = bw->nsym;
    for (size_t i = 0; i < n; i++) {
        rank[i] = UINT32_MAX;     /* merge_get_in writes it only for a merge */
        if (i + 1 < n)
            merge_get_in(m, compact, sym[i].id, sym[i + 1].id, &rank[i], &new_id[i]);
    }
    for (;;) {
        int32_t best = -1;
        uint32_t best_rank = UINT32_MAX;
        for (int32_t i = 0; i >= 0; i = sym[i].next)
            if (rank[i] < best_rank) {
                best_rank = rank[i];
                best = i;
            }
        if (best < 0)
            return;
        bpe_sym *cur = &sym[best], *right = &sym[cur->next];
        cur->id = new_id[best];
        cur->len += right->len;
        right->len = 0;
        cur->next = right->next;
        if (cur->next >= 0)
            sym[cur->next].prev = best;
        if (cur->prev >= 0 && !merge_get_in(m, compact, sym[cur->prev].id, cur->id, &rank[cur->prev], &new_id[cur->prev]))
            rank[cur->prev] = UINT32_MAX;
        if (cur->next < 0 || !merge_get_in(m, compact, cur->id, sym[cur->next].id, &rank[best], &new_id[best]))
            rank[best] = UINT32_MAX;
    }
}

/* The merges of bw's symbols: by a scan for a short word, else the heap
 * (in the compact merge table when it is used). */
static void merge_word(const tk_bpe *m, bpe_work *bw)
{
    if (bw->nsym > SMALL_WORD) {
        if (bpe_use(m, BPE_COMPACT))
            bpe_merge_all_compact(m, bw);
        else
            bpe_merge_all(m, bw);
    } else if (bw->nsym > 1) {
        merge_small(m, bw);
    }
}

/* bpe_word_symbols with ASCII and the metaspace from the table (the
 * tables exist only without prefix or suffix): no hashing for most
 * characters of a word; the others go through bpe.c's step. */
static int word_symbols_small(const tk_bpe *m, bpe_work *bw, const char *s, size_t len, la_err *err)
{
    const unsigned char *u = (const unsigned char *)s;
    bpe_symbols_start(bw);
    for (size_t i = 0; i < len;) {
        size_t k = tk_utf8_len(u + i, len - i), sk;
        if (!k)
            k = 1;
        int a = small_index(u + i, len - i, &sk);
        if (a >= 0 && sk == k && m->small_id[a] >= 0) {
            bpe_unk_flush(bw);
            sym_add(bw, (uint32_t)m->small_id[a], (uint32_t)k);
        } else {
            int rc = bpe_char_symbols(m, bw, s, len, i, k, err);
            if (rc != LA_OK)
                return rc;
        }
        i += k;
    }
    bpe_unk_flush(bw);
    return LA_OK;
}

/* How a word's symbols and a piece's chunks are found: by the tables of
 * the common characters when they are used. */
static bpe_symbols_fn symbols_for(const tk_bpe *m)
{
    return bpe_use(m, BPE_SMALL) ? word_symbols_small : bpe_word_symbols;
}

static size_t chunk_end_small(const tk_bpe *m, const char *s, size_t len, size_t from)
{
    return chunk_end_table(m, s, len, from);
}

static bpe_chunk_fn chunk_end_for(const tk_bpe *m)
{
    return bpe_use(m, BPE_SMALL) ? chunk_end_small : bpe_chunk_end;
}

/* bpe_word with the tables and merge_word. */
static int word_fast(const tk_bpe *m, bpe_work *bw, la_tok_work *w, const char *s, size_t len, tk_sink *sink,
                     la_err *err)
{
    (void)w;
    return bpe_word_by(m, bw, s, len, sink, symbols_for(m), merge_word, err);
}

/* ---- word caches -------------------------------------------------------- */

/* Passes a word's ids on to the real sink, keeping a copy in a cache
 * entry when they fit. */
typedef struct {
    tk_sink sink;
    tk_sink *next;
    cache_entry *e;
    int fits;
} cache_sink;

static int cache_push(tk_sink *s, const uint32_t *ids, size_t n)
{
    cache_sink *c = (cache_sink *)s;
    c->fits = n <= CACHE_IDS;
    if (c->fits) {
        memcpy(c->e->ids, ids, n * sizeof *ids);
        c->e->nids = (uint8_t)n;
    }
    return c->next->push(c->next, ids, n);
}

/* The set of a cache for a word of hash h, and the entry holding word
 * s[0..n) in it (NULL when absent). */
static inline cache_entry *cache_set(const word_cache *c, uint64_t h)
{
    return &c->e[h & (c->slots - 2)];
}

static inline const cache_entry *cache_find(const cache_entry *set, uint64_t h, const char *s, size_t n)
{
    uint32_t tag = (uint32_t)(h >> 32);
    for (int way = 0; way < 2; way++)
        if (set[way].klen == n + 1 && set[way].hash == tag && tk_same_bytes(set[way].key, s, n))
            return &set[way];
    return NULL;
}

/* Makes c an empty cache of n entries: 0, or -1 (c left empty) when
 * they cannot be allocated. Its own zero pages, mapped as first touched:
 * a run that puts a few words in it (with direct previews) pays for a
 * few pages, not for all of the first size (a page's first touch is a
 * fault, and writing each entry's length would touch them all). */
static int cache_make(word_cache *c, uint32_t n)
{
    cache_unmap(c);
    c->taken = 0;
    void *p = mmap(NULL, (size_t)n * sizeof *c->e, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    c->e = p;
    c->slots = n;
    return 0;
}

/* A per-thread cache c ready for model m (emptied when it held another
 * model's words) and for one more word (grown when the first size has
 * taken its share): c, or NULL when it cannot be allocated. */
static word_cache *cache_for(const tk_bpe *m, word_cache *c)
{
    if (!c->e || c->serial != m->serial) {
        if (cache_make(c, CACHE_FIRST))
            return NULL;
        c->serial = m->serial;
    } else if (c->slots < CACHE_SLOTS && c->taken >= CACHE_FIRST / 2) {
        if (cache_make(c, CACHE_SLOTS))
            return NULL;
    }
    return c;
}

size_t tk_bpe_cache_slots(la_tok_work *w)
{
    const words_work *ww = w->bpe_words;
    return ww ? ww->cache.slots : 0;
}

/* This thread's word cache for model m, NULL when it cannot be had. */
static word_cache *cache_ready(const tk_bpe *m, la_tok_work *w)
{
    words_work *ww = get_words(w);
    return ww ? cache_for(m, &ww->cache) : NULL;
}

/* The piece cache of this thread for model m (see tk_bpe_piece_get),
 * NULL when it cannot be had. */
static word_cache *piece_cache(const tk_bpe *m, la_tok_work *w)
{
    words_work *ww = bpe_use(m, BPE_WORDS) ? get_words(w) : NULL;
    return ww ? cache_for(m, &ww->pcache) : NULL;
}

int tk_bpe_piece_get(const tk_bpe *m, la_tok_work *w, const char *s, size_t n, const uint32_t **ids,
                     size_t *nids)
{
    if (m->kind != TK_MODEL_BPE)     /* a model token may carry a string of its own */
        return 0;
    if (n == 0 || n > CACHE_KEY)
        return 0;
    word_cache *c = piece_cache(m, w);
    if (!c)
        return 0;
    uint64_t h = tk_word_hash(s, n);
    const cache_entry *e = cache_find(cache_set(c, h), h, s, n);
    if (!e)
        return 0;
    *ids = e->ids;
    *nids = e->nids;
    return 1;
}

void tk_bpe_piece_put(const tk_bpe *m, la_tok_work *w, const char *s, size_t n, const uint32_t *ids,
                      size_t nids)
{
    if (m->kind != TK_MODEL_BPE)
        return;
    if (n == 0 || n > CACHE_KEY || nids > CACHE_IDS)
        return;
    word_cache *c = piece_cache(m, w);
    if (!c)
        return;
    uint64_t h = tk_word_hash(s, n);
    cache_entry *e = cache_set(c, h);
    c->taken++;
    e[1] = e[0];             /* the newer word in the first way, as bpe_word_cached */
    e->hash = (uint32_t)(h >> 32);
    e->klen = (uint8_t)(n + 1);
    e->nids = (uint8_t)nids;
    memcpy(e->key, s, n);
    if (nids)
        memcpy(e->ids, ids, nids * sizeof *ids);
}

/* word_fast through this thread's word cache: a word's tokens depend on
 * the model and the word alone. The cache is allocated on first use and
 * grows once (cache_for). It is two-way set-associative: a word goes to
 * the first way of its set and the older one moves to the second, so two
 * frequent words that share a set do not evict each other. */
static int word_cached(const tk_bpe *m, bpe_work *bw, la_tok_work *w, const char *s, size_t len,
                       tk_sink *sink, la_err *err)
{
    word_cache *c = len <= CACHE_KEY ? cache_ready(m, w) : NULL;
    if (!c)
        return word_fast(m, bw, w, s, len, sink, err);
    uint64_t h = tk_word_hash(s, len);
    cache_entry *e = cache_set(c, h);
    const cache_entry *hit = cache_find(e, h, s, len);
    if (hit)
        return hit->nids && sink->push(sink, hit->ids, hit->nids) ? 1 : 0;
    /* computed by bpe_word, with a sink that keeps the ids */
    e[1] = e[0];
    cache_sink cs = { { cache_push, NULL }, sink, e, 0 };
    e->klen = 0;
    int rc = word_fast(m, bw, w, s, len, &cs.sink, err);
    if (rc >= 0 && cs.fits) {
        c->taken++;
        e->hash = (uint32_t)(h >> 32);
        e->klen = (uint8_t)(len + 1);
        memcpy(e->key, s, len);
    }
    return rc;
}

/* A chunk of a window: a one-character token from the table, else as
 * word_cached. */
static int chunk_cached(const tk_bpe *m, bpe_work *bw, la_tok_work *w, const char *s, size_t len, tk_sink *sink,
                        la_err *err)
{
    int32_t id = chunk_small_id(m, (const unsigned char *)s, len);
    if (id >= 0) {
        uint32_t x = (uint32_t)id;
        return sink->push(sink, &x, 1) ? 1 : 0;
    }
    return word_cached(m, bw, w, s, len, sink, err);
}

/* ---- the entry points ----------------------------------------------------- */

int tk_bpe_tokenize(const tk_bpe *m, const char *piece, size_t len, tk_sink *sink,
                    la_tok_work *w, la_err *err)
{
    return bpe_tokenize_by(m, piece, len, sink, w, bpe_use(m, BPE_WORDS) ? word_cached : bpe_word, chunk_end_for(m),
                           err);
}

int tk_bpe_tokenize_once(const tk_bpe *m, const char *piece, size_t len, tk_sink *sink,
                         la_tok_work *w, la_err *err)
{
    return bpe_tokenize_by(m, piece, len, sink, w, bpe_use(m, BPE_WORDS) ? word_fast : bpe_word, chunk_end_for(m),
                           err);
}

int tk_bpe_tokenize_prefix(const tk_bpe *m, const char *piece, size_t len, tk_sink *sink,
                           la_tok_work *w, la_err *err)
{
    bpe_word_fn word = !bpe_use(m, BPE_WORDS) ? bpe_word : bpe_use(m, BPE_SMALL) ? chunk_cached : word_cached;
    return bpe_tokenize_prefix_by(m, piece, len, sink, w, word, chunk_end_for(m), err);
}

size_t tk_bpe_chunk_end(const tk_bpe *m, const char *s, size_t len, size_t from)
{
    return m->pmask ? chunk_end_for(m)(m, s, len, from) : len;
}

int tk_bpe_cut_between(const tk_bpe *m, const char *a, size_t na, const char *b, size_t nb)
{
    char s[8];
    if (!m->pmask || na == 0 || nb == 0 || na > 4 || nb > 4)
        return 0;
    memcpy(s, a, na);
    memcpy(s + na, b, nb);
    return tk_bpe_chunk_end(m, s, na + nb, 0) == na;
}

int tk_bpe_word_spans(const tk_bpe *m, la_tok_work *w, const char *s, size_t len, uint32_t *ids,
                      uint32_t *lens, size_t max, size_t *n, la_err *err)
{
    *n = 0;
    /* (a token's string is the one its id maps back to: with ids shared
     * by several strings, the id may stand for another) */
    if (len == 0 || m->kind != TK_MODEL_BPE || m->prefix || m->suffix || m->ignore_merges || m->ids_shared)
        return 0;
    bpe_work *bw = bpe_get_work(w);
    if (!bw || bpe_word_room(m, bw, len) != LA_OK)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    int rc = symbols_for(m)(m, bw, s, len, err);
    if (rc != LA_OK)
        return rc;
    /* each symbol a character's own token: not a byte of byte fallback
     * (the only one-byte symbol of a character of several bytes, or the
     * id of "<0xNN>" for an ASCII one), not unk */
    size_t at = 0;
    for (size_t i = 0; i < bw->nsym; i++) {
        const bpe_sym *y = &bw->sym[i];
        if (at >= len)
            return 0;
        unsigned char b = (unsigned char)s[at];
        if ((y->len == 1 && (b >= 0x80 || (m->byte_id[b] >= 0 && y->id == (uint64_t)m->byte_id[b]))) ||
            (m->unk_id >= 0 && y->id == (uint64_t)m->unk_id))
            return 0;
        at += y->len;
    }
    if (at != len)
        return 0;
    /* the whole word at once: a cut between chunks is where no token
     * spans, so no merge crosses it and the tokens are the chunks' */
    if (bpe_use(m, BPE_WORDS))
        merge_word(m, bw);
    else
        bpe_merge_all(m, bw);
    if ((rc = bpe_merge_failed(m, err)) != LA_OK)
        return rc;
    for (size_t i = 0; i < bw->nsym; i++)
        if (bw->sym[i].len) {
            if (*n == max)
                return 0;
            ids[*n] = bw->sym[i].id;
            lens[(*n)++] = bw->sym[i].len;
        }
    return 1;
}


/* A sink appending to a preview list (the fused path's word-cache
 * misses and long words). */
typedef struct {
    tk_sink sink;
    tk_plist *pl;
    int oom;
} plist_sink;

static int plist_sink_push(tk_sink *s, const uint32_t *ids, size_t n)
{
    plist_sink *ps = (plist_sink *)s;
    if (tk_plist_push_model(ps->pl, ids, n)) {
        ps->oom = 1;
        return 1;
    }
    return 0;
}

int tk_bpe_prefix_ids(const tk_bpe *m, const char *piece, size_t len, tk_plist *pl, size_t max,
                      la_tok_work *w, la_err *err)
{
    if (m->kind != TK_MODEL_BPE)
        return 3;
    if (!m->pmask || (m->ignore_merges && len <= m->max_token_len))
        return 2;
    if (!bpe_use(m, BPE_SMALL) || !bpe_use(m, BPE_WORDS))
        return 3;
    bpe_work *bw = bpe_get_work(w);
    /* the cache as a whole: word_cached may grow it (new entries) */
    word_cache *cache = bw ? cache_ready(m, w) : NULL;
    if (!cache)
        return 3;
    const unsigned char *u = (const unsigned char *)piece;
    for (size_t from = 0; from < len;) {
        size_t end = chunk_end_table(m, piece, len, from);
        if (end == len)
            return 2;            /* the last chunk may go on past the window */
        /* its ids: a one-character token, a word-cache hit, or BPE */
        size_t k = end - from;
        const uint32_t *ids = NULL;
        size_t nids = 0;
        uint32_t one;
        int32_t sid = chunk_small_id(m, u + from, k);
        if (sid >= 0) {
            one = (uint32_t)sid;
            ids = &one;
            nids = 1;
        } else if (k <= CACHE_KEY) {
            uint64_t h = tk_word_hash(piece + from, k);
            const cache_entry *hit = cache_find(cache_set(cache, h), h, piece + from, k);
            if (hit) {
                ids = hit->ids;
                nids = hit->nids;
            }
        }
        if (ids) {
            if (nids) {
                if (tk_plist_push_model(pl, ids, nids))
                    return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
                if (max && pl->n >= max)
                    return 1;
            }
        } else {
            size_t before = pl->n;
            plist_sink ps = { { plist_sink_push, NULL }, pl, 0 };
            int rc = word_cached(m, bw, w, piece + from, k, &ps.sink, err);
            if (ps.oom)
                return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
            if (rc < 0)
                return rc;
            if (pl->n > before && max && pl->n >= max)
                return 1;
        }
        from = end;
    }
    return 2;
}

