/*
 * bpe_int.h - what the files of the BPE model share: bpe.c (the model
 * as HuggingFace's models/bpe computes it, with its tables),
 * bpe_words.c (the small-word merge and the per-thread word caches) and
 * cache_image.c (the model as bytes, for the tokenizer cache). No other
 * file includes it.
 */
#ifndef LA_BPE_INT_H
#define LA_BPE_INT_H

#include "tokenizer/tk.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Characters with table entries for cutting: ASCII and U+2581. */
#define SMALL_N 129

/* One vocabulary entry: the token string lives in the arena. */
typedef struct {
    uint32_t off, len, id;
} vocab_entry;

/* id -> token string, one load away. */
typedef struct {
    uint32_t off, len;
} id_slot;

/* A vocabulary hash slot: the string's hash tag saves most compares. */
typedef struct {
    uint32_t tag, ent;           /* ent: entry index + 1, 0 = empty */
} vocab_slot;

/* A merge: one slot, one cache line visit per lookup. */
typedef struct {
    uint64_t key;
    uint32_t rank, new_id;
} merge_slot;

/* What a model read from a cache entry knows of its merges, which are
 * checked as lookups first return them (bpe_merge_check): once one does
 * not hold, `bad` is set (for good) with that merge, and the entry's
 * file (NULL: none known) is removed. */
typedef struct {
    int bad;                     /* read and set atomically: workers look merges up at once */
    uint32_t a, b, new_id;       /* the first merge that did not hold */
    char *entry;
    int unlink_errno;            /* 0: the entry's file was removed; else why it was not */
} bpe_lazy;

struct tk_bpe {
    char *arena;                 /* token strings, each NUL-terminated */
    size_t arena_len, arena_cap;
    vocab_entry *ents;           /* unique token strings */
    uint32_t n_ents, ents_cap;
    vocab_slot *vslot;           /* hash slots; ent 0 = empty */
    uint32_t vmask;
    id_slot *by_id;              /* id -> its string in the arena; len UINT32_MAX: none */
    uint32_t id_count;           /* max id + 1 */

    merge_slot *merges;          /* key (left id << 32 | right id); UINT64_MAX: empty */
    uint32_t mmask;
    /* The same merges in half the room when ids and ranks take 16 bits
     * (Llama-2, Mistral and their kin): buckets of one cache line, eight
     * keys (left << 16 | right; all ones: empty) then eight values (rank
     * << 16 | new id), filled in order; NULL otherwise. */
    uint32_t *cm;
    uint32_t cmask;              /* buckets - 1 */
    /* One bit per merge slot (in the compact table, per way: bucket * 8
     * + way), set once the merge there was checked and holds; NULL when
     * every merge holds already (a model parsed from its file). Set with
     * relaxed atomics: a check done twice by two threads is only done
     * twice. */
    uint64_t *merge_ok;
    bpe_lazy *lazy;              /* with merge_ok */

    int64_t unk_id;              /* -1: no unk_token, or it is not in the vocab */
    int has_unk;                 /* an unk_token was given */
    char *prefix, *suffix;       /* continuing_subword_prefix, end_of_word_suffix */
    size_t prefix_len, suffix_len;
    int fuse_unk, byte_fallback, ignore_merges;
    int64_t byte_id[256];        /* id of "<0xNN>", -1 if absent */
    size_t max_token_len;        /* longest token string, bytes */

    uint64_t *pairs;             /* code-point pairs inside tokens, for cutting */
    uint32_t pmask;              /* 0: chunking disabled */
    /* The same facts for the common characters (ASCII and the metaspace,
     * see small_index), one byte per pair (bits cost more instructions
     * a character): 1 when both characters are tokens by themselves and
     * the pair occurs inside no token (a cut). */
    uint8_t small_cut[SMALL_N][SMALL_N];
    int32_t small_id[SMALL_N];   /* the id of the character as a token, or -1 */
    int small_ready;
    int ids_shared;              /* two vocabulary strings have one id (its string is the last one's) */
    int no_fast;                 /* tests: every shortcut off (read by bpe_use alone) */
    uint64_t serial;             /* tells models apart in a word cache */
    void *map;                   /* a mapped image the tables live in (tk_bpe_from_image) */
    size_t map_len;
    /* Another model type (models.c) sharing the vocabulary tables:
     * TK_MODEL_BPE (0) for BPE itself, else its kind and its own data,
     * which tokenize instead of the merges. */
    int kind;
    tk_model_ext *ext;
    tk_model_fn ext_tokenize;
    void (*ext_free)(tk_model_ext *);
};


/* ---- the switch ---------------------------------------------------------
 * Which shortcuts are tried, decided here alone and asked by bpe_words.c
 * alone, where the entry points pick the functions a piece goes through:
 * the compact merge table (also when it is the only merge table, as in a
 * model read from a cache image), the tables of the common characters,
 * and bpe_words.c's merge of short words and word caches. bpe.c's
 * functions take no shortcut. tk_bpe_set_fast(m, 0) turns them off, so
 * that tests compare them with the plain computation. */
enum { BPE_COMPACT, BPE_SMALL, BPE_WORDS };
static inline int bpe_use(const tk_bpe *m, int what)
{
    switch (what) {
    case BPE_COMPACT:
        return m->cm && (!m->no_fast || !m->merges);
    case BPE_SMALL:
        return m->small_ready && !m->no_fast;
    default:
        return !m->no_fast;
    }
}

/* Per-thread scratch: the symbols of the word being merged and the heap. */
typedef struct {
    int32_t prev, next;
    uint32_t id, len;            /* len 0: merged into its left neighbour */
} bpe_sym;

typedef struct {
    uint32_t rank, pos, new_id;
} bpe_merge;

typedef struct {
    bpe_sym *sym;
    size_t nsym, symcap;
    bpe_merge *heap;
    size_t nheap, heapcap;
    uint32_t *ids;               /* ids of the finished word */
    size_t idcap;
    la_buf tmp;                  /* a character with prefix or suffix */
    int64_t unk;                 /* an unk symbol not yet added (fuse_unk may extend it), or -1 */
    uint32_t unk_len;
} bpe_work;

/* Appends a symbol (Word::add). */
static inline void sym_add(bpe_work *bw, uint32_t id, uint32_t len)
{
    size_t n = bw->nsym;
    bw->sym[n] = (bpe_sym){ n ? (int32_t)n - 1 : -1, -1, id, len };
    if (n)
        bw->sym[n - 1].next = (int32_t)n;
    bw->nsym = n + 1;
}

/* A word's symbols begin: none, no unk held. */
static inline void bpe_symbols_start(bpe_work *bw)
{
    bw->nsym = 0;
    bw->unk = -1;
}

/* Adds the unk symbol held back, if any. */
static inline void bpe_unk_flush(bpe_work *bw)
{
    if (bw->unk >= 0)
        sym_add(bw, (uint32_t)bw->unk, bw->unk_len);
    bw->unk = -1;
}


/* This thread's scratch, created on first use (NULL when it cannot be). */
bpe_work *bpe_get_work(la_tok_work *w);
/* Room in bw's scratch for the symbols of a word of len bytes: LA_OK or
 * LA_ENOMEM. */
int bpe_word_room(const tk_bpe *m, bpe_work *bw, size_t len);
/* The symbols of one word (BPE::merge_word) into bw: LA_OK or an error. */
int bpe_word_symbols(const tk_bpe *m, bpe_work *bw, const char *s, size_t len, la_err *err);
/* Its step: the symbols of the character s[i..i+k) of the word s[0..len)
 * (between bpe_symbols_start and bpe_unk_flush): LA_OK or an error. */
int bpe_char_symbols(const tk_bpe *m, bpe_work *bw, const char *s, size_t len, size_t i, size_t k, la_err *err);
/* HuggingFace's merge_all over bw's symbols, by the model's merge table;
 * the same by the compact merge table (m->cm). */
void bpe_merge_all(const tk_bpe *m, bpe_work *bw);
void bpe_merge_all_compact(const tk_bpe *m, bpe_work *bw);
/* Functions that do what bpe_word_symbols and bpe_merge_all do. */
typedef int (*bpe_symbols_fn)(const tk_bpe *m, bpe_work *bw, const char *s, size_t len, la_err *err);
typedef void (*bpe_merge_fn)(const tk_bpe *m, bpe_work *bw);
/* One word's symbols by symbols, merged by merge, their ids pushed to
 * sink: 0, 1 when the sink stopped, or an error. */
int bpe_word_by(const tk_bpe *m, bpe_work *bw, const char *s, size_t len, tk_sink *sink, bpe_symbols_fn symbols,
                bpe_merge_fn merge, la_err *err);
/* BPE of one word, pushing its ids to the sink (the plain computation;
 * w, the scratch bw belongs to, for the shortcuts that do the same). */
int bpe_word(const tk_bpe *m, bpe_work *bw, la_tok_work *w, const char *s, size_t len, tk_sink *sink,
             la_err *err);
/* A function that does what bpe_word does. */
typedef int (*bpe_word_fn)(const tk_bpe *m, bpe_work *bw, la_tok_work *w, const char *s, size_t len,
                           tk_sink *sink, la_err *err);
/* The end of the chunk at `from` (see tk_bpe_chunk_end), by the pair
 * set; a function that does the same. */
size_t bpe_chunk_end(const tk_bpe *m, const char *s, size_t len, size_t from);
typedef size_t (*bpe_chunk_fn)(const tk_bpe *m, const char *s, size_t len, size_t from);
/* Tokenizes a whole piece (tk_bpe_tokenize), cut by chunk_end, each
 * chunk by word. */
int bpe_tokenize_by(const tk_bpe *m, const char *piece, size_t len, tk_sink *sink, la_tok_work *w,
                    bpe_word_fn word, bpe_chunk_fn chunk_end, la_err *err);
/* Tokenizes the chunks of a window that end inside it
 * (tk_bpe_tokenize_prefix), cut by chunk_end, each by word. */
int bpe_tokenize_prefix_by(const tk_bpe *m, const char *piece, size_t len, tk_sink *sink, la_tok_work *w,
                           bpe_word_fn word, bpe_chunk_fn chunk_end, la_err *err);

/* ---- what cache_image.c checks an image with ---------------------------- */
/* The vocabulary entry of s[0..n), UINT32_MAX when none. */
uint32_t bpe_vocab_find(const tk_bpe *m, const char *s, size_t n);
/* The code point of a table index of the common characters; the key of
 * a code-point pair; 1 when the pair occurs inside a token. */
int32_t bpe_small_cp(int a);
uint64_t bpe_pair_key(int32_t a, int32_t b);
int bpe_pair_has(const tk_bpe *m, uint64_t k);
/* The string of id (a valid id) is there: 1 with it in *s, *len. */
int bpe_id_string(const tk_bpe *m, uint32_t id, const char **s, size_t *len);
/* A number no other model loaded in this process has. */
uint64_t bpe_next_serial(void);

/* ---- merges: lookups inline, for the merge loops of both files ---------- */
/* Mixes a 64-bit key (a merge pair, a code-point pair) into a slot hash. */
static inline uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb93fe53e2ac9ULL;
    x ^= x >> 33;
    return x;
}

/* Slot of pair key k (an empty one if absent). */
static inline merge_slot *merge_find(const tk_bpe *m, uint64_t k)
{
    uint32_t i = (uint32_t)hash_u64(k) & m->mmask;
    while (m->merges[i].key != UINT64_MAX && m->merges[i].key != k)
        i = (i + 1) & m->mmask;
    return &m->merges[i];
}

/* Checks the merge at slot of a model whose merges are checked at use:
 * 1 when it holds (then marked so), 0 when it does not, when the model
 * becomes bad (bpe_lazy) and the lookup answers that there is no merge,
 * so that nothing reads past the tables; the word's caller then fails
 * (bpe_merge_failed). */
int bpe_merge_check(const tk_bpe *m, size_t slot, uint32_t a, uint32_t b, uint32_t new_id);

/* 1 when the merge at slot may be used: checked before, or now. */
static inline int merge_usable(const tk_bpe *m, size_t slot, uint32_t a, uint32_t b, uint32_t new_id)
{
    return !m->merge_ok || (__atomic_load_n(&m->merge_ok[slot >> 6], __ATOMIC_RELAXED) >> (slot & 63) & 1) ||
           bpe_merge_check(m, slot, a, b, new_id);
}

/* After a word's merges: LA_OK, or LA_EDATA with err set when a merge
 * of the model did not hold (its cache entry is damaged). */
int bpe_merge_error(const tk_bpe *m, la_err *err);
static inline int bpe_merge_failed(const tk_bpe *m, la_err *err)
{
    return m->lazy && __atomic_load_n(&m->lazy->bad, __ATOMIC_ACQUIRE) ? bpe_merge_error(m, err) : LA_OK;
}

#define CM_EMPTY 0xFFFFFFFFu

static inline uint32_t cm_bucket(const tk_bpe *m, uint32_t k)
{
    return (uint32_t)((k * 0x9E3779B97F4A7C15ULL) >> 40) & m->cmask;
}

/* The compact table's lookup: one cache line for nearly every pair (the
 * table is at most half full), its eight keys compared at once. */
static inline int cm_get(const tk_bpe *m, uint32_t k, uint32_t *rank, uint32_t *new_id)
{
    uint32_t bi = cm_bucket(m, k);
    for (;;) {
        const uint32_t *bk = m->cm + (size_t)bi * 16;
#ifdef __SSE2__
        __m128i kk = _mm_set1_epi32((int)k);
        __m128i k0 = _mm_loadu_si128((const __m128i *)(const void *)bk);
        __m128i k1 = _mm_loadu_si128((const __m128i *)(const void *)(bk + 4));
        unsigned hit = (unsigned)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(k0, kk))) |
                       (unsigned)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(k1, kk))) << 4;
        if (hit) {
            unsigned j = (unsigned)__builtin_ctz(hit);
            uint32_t v = bk[8 + j];
            if (!merge_usable(m, (size_t)bi * 8 + j, k >> 16, k & 0xFFFF, v & 0xFFFF))
                return 0;
            *rank = v >> 16;
            *new_id = v & 0xFFFF;
            return 1;
        }
#else
        for (int j = 0; j < 8; j++)
            if (bk[j] == k) {
                uint32_t v = bk[8 + j];
                if (!merge_usable(m, (size_t)bi * 8 + (size_t)j, k >> 16, k & 0xFFFF, v & 0xFFFF))
                    return 0;
                *rank = v >> 16;
                *new_id = v & 0xFFFF;
                return 1;
            }
#endif
        if (bk[7] == CM_EMPTY)     /* filled in order: a free slot ends the search */
            return 0;
        bi = (bi + 1) & m->cmask;
    }
}

/* Looks a pair up in the compact merge table when compact, else in the
 * hashed one: 1 with rank and new id, 0 when no merge exists. */
static inline __attribute__((always_inline)) int merge_get_in(const tk_bpe *m, int compact, uint32_t a, uint32_t b,
                                                              uint32_t *rank, uint32_t *new_id)
{
    if (compact)
        return cm_get(m, a << 16 | b, rank, new_id);
    const merge_slot *sl = merge_find(m, (uint64_t)a << 32 | b);
    if (sl->key == UINT64_MAX || !merge_usable(m, (size_t)(sl - m->merges), a, b, sl->new_id))
        return 0;
    *rank = sl->rank;
    *new_id = sl->new_id;
    return 1;
}


/* ---- the tables of common characters ------------------------------------ */
/* Table index of the character at s[0..avail) with its length in *k,
 * or -1 when it has none (then the hash tables answer). */
static inline int small_index(const unsigned char *s, size_t avail, size_t *k)
{
    if (s[0] < 0x80) {
        *k = 1;
        return s[0];
    }
    if (s[0] == 0xE2 && avail >= 3 && s[1] == 0x96 && s[2] == 0x81) {
        *k = 3;
        return 128;
    }
    return -1;
}

/* The same, with the tables while the characters have entries there
 * (a boundary between a table character and another one is judged
 * by bpe_chunk_end from that character on). */
/* The end of the chunk at `from` by the tables (small_ready), falling
 * back on bpe_chunk_end from the first other character. */
static inline __attribute__((always_inline)) size_t chunk_end_table(const tk_bpe *m, const char *s, size_t len,
                                                                   size_t from)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = from, ka;
    int a = small_index(u + i, len - i, &ka);
    if (a < 0)
        return bpe_chunk_end(m, s, len, from);
    /* the row of the character before i, and where that character starts
     * (a row pointer saves the multiply of a two-index lookup) */
    const uint8_t *row = m->small_cut[a];
    size_t pa = i;
    i += ka;
    while (i < len) {
        unsigned c = u[i];
        if (c < 0x80) {
            if (row[c])
                return i;
            row = m->small_cut[c];
            pa = i++;
        } else if (c == 0xE2 && len - i >= 3 && u[i + 1] == 0x96 && u[i + 2] == 0x81) {
            if (row[128])
                return i;
            row = m->small_cut[128];
            pa = i;
            i += 3;
        } else {
            return bpe_chunk_end(m, s, len, pa);
        }
    }
    return len;
}

/* The id of chunk u[0..k) when it is one table character that is a
 * token by itself (a digit, a punctuation mark, the metaspace: common
 * chunks), with no merge to look up; else -1. */
static inline int32_t chunk_small_id(const tk_bpe *m, const unsigned char *u, size_t k)
{
    if (k == 1 && u[0] < 0x80)
        return m->small_id[u[0]];
    if (k == 3 && u[0] == 0xE2 && u[1] == 0x96 && u[2] == 0x81)
        return m->small_id[128];
    return -1;
}


#endif
