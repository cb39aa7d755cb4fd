/*
 * bpe.c - the BPE model of tokenizer.json, merging as HuggingFace's
 * models/bpe (word.rs merge_all): a min-heap of candidate merges ordered
 * by (rank, position), with the same handling of stale entries, so that
 * the result is the same token for token.
 *
 * The vocabulary and the merges live in open-addressing hash tables built
 * once at load time, straight from the validated bytes of tokenizer.json
 * (a cJSON tree of a 9 MB vocabulary costs more than all the rest).
 *
 * Whole-sequence BPE (no pre-tokenizer, e.g. Llama-2) gets one piece as
 * long as the answer. To stay lazy the piece is cut where no merge can
 * ever cross (see bpe_cut_after) and BPE'd chunk by chunk, stopping as
 * soon as the sink has enough tokens.
 */
#include "tokenizer/tk.h"
#include "tokenizer/tk_test.h"
#include "json.h"

#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Characters with table entries for cutting: ASCII and U+2581. */
#define SMALL_N 129

/* Word cache (per thread): words of up to CACHE_KEY bytes and up to
 * CACHE_IDS tokens, in sets of two entries chosen by the word's hash.
 * It starts at CACHE_FIRST entries and is made CACHE_SLOTS big (empty)
 * once it has taken CACHE_FIRST / 2 words: a run that tokenizes few
 * words with it (direct previews keep their words in a table of their
 * own) touches 128 KiB instead of 2 MiB of new pages, which cost 5% of
 * a single pass over GSM8K with Llama-2 (perf, page faults). */
#define CACHE_FIRST 2048
#define CACHE_SLOTS 32768
#define CACHE_KEY 26
#define CACHE_IDS 8
_Static_assert(CACHE_KEY <= 32, "tk_word_hash reads at most 32 bytes");

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
    int no_fast;                 /* tests: no tables, no word cache, only the heap */
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

/* Per-thread scratch: the symbols of the word being merged and the heap. */
typedef struct {
    int32_t prev, next;
    uint32_t id, len;            /* len 0: merged into its left neighbour */
} bpe_sym;

typedef struct {
    uint32_t rank, pos, new_id;
} bpe_merge;

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

typedef struct {
    bpe_sym *sym;
    size_t nsym, symcap;
    word_cache cache;            /* words tokenized here */
    word_cache pcache;           /* the callers' piece cache, the same way */
    bpe_merge *heap;
    size_t nheap, heapcap;
    uint32_t *ids;               /* ids of the finished word */
    size_t idcap;
    la_buf tmp;                  /* a character with prefix or suffix */
} bpe_work;

/* ---- hashing -------------------------------------------------------- */

/* Hash of a token string, eight bytes at a time (loading builds the
 * tables from a million strings, and every word-cache lookup hashes a
 * word, so both ends are hot). The length is mixed in, so the tail's
 * overlapping loads cannot make two strings of different lengths alike. */
static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0xff51afd7ed558ccdULL);
    if (n == 0)
        return h;
    size_t len = n;
    while (n > 8) {
        h = (h ^ tk_load64(s)) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    h = (h ^ tk_tail_word(s - (len - n), len) ) * 0xc4ceb93fe53e2ac9ULL;
    h ^= h >> 29;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 32);
}

/* Mixes a 64-bit key (a merge pair, a code-point pair) into a slot hash. */
static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb93fe53e2ac9ULL;
    x ^= x >> 33;
    return x;
}

/* Smallest power of two >= 2n (load factor <= 1/2), at least 16. */
static uint32_t table_size(size_t n)
{
    size_t c = 16;
    while (c < 2 * n)
        c *= 2;
    return (uint32_t)c;
}

/* ---- vocabulary ------------------------------------------------------ */

/* Entry index of token s (whose hash_bytes is h), or UINT32_MAX. */
static uint32_t vocab_find_h(const tk_bpe *m, const char *s, size_t n, uint64_t h)
{
    uint32_t tag = (uint32_t)(h >> 32), i = (uint32_t)h & m->vmask;
    for (;;) {
        const vocab_slot *sl = &m->vslot[i];
        if (!sl->ent)
            return UINT32_MAX;
        if (sl->tag == tag) {
            const vocab_entry *v = &m->ents[sl->ent - 1];
            if (v->len == n && tk_same_bytes(m->arena + v->off, s, n))
                return sl->ent - 1;
        }
        i = (i + 1) & m->vmask;
    }
}

/* Entry index of token s, or UINT32_MAX. */
static uint32_t vocab_find(const tk_bpe *m, const char *s, size_t n)
{
    return vocab_find_h(m, s, n, hash_bytes(s, n));
}

int64_t tk_bpe_token_to_id(const tk_bpe *m, const char *s, size_t len)
{
    uint32_t e = vocab_find(m, s, len);
    return e == UINT32_MAX ? -1 : (int64_t)m->ents[e].id;
}

const char *tk_bpe_id_to_token(const tk_bpe *m, uint32_t id, size_t *len)
{
    if (id >= m->id_count || m->by_id[id].len == UINT32_MAX)
        return NULL;
    if (len)
        *len = m->by_id[id].len;
    return m->arena + m->by_id[id].off;
}

int tk_bpe_byte_fallback(const tk_bpe *m) { return m->byte_fallback; }
uint64_t tk_bpe_serial(const tk_bpe *m) { return m->serial; }
uint32_t tk_bpe_vocab_size(const tk_bpe *m) { return m->id_count; }
uint32_t tk_bpe_vocab_count(const tk_bpe *m)
{
    /* a Unigram vocabulary counts its pieces, a repeated one too */
    return m->kind == TK_MODEL_UNIGRAM ? m->id_count : m->n_ents;
}
int tk_bpe_kind(const tk_bpe *m) { return m->kind; }

/* Adds (or, for a repeated key, re-assigns) token s -> id, as a HashMap
 * built from the JSON object would: the last value of a key wins. */
static int vocab_put(tk_bpe *m, const char *s, size_t n, uint32_t id)
{
    uint64_t h = hash_bytes(s, n);
    uint32_t tag = (uint32_t)(h >> 32), i = (uint32_t)h & m->vmask;
    for (;;) {
        vocab_slot *sl = &m->vslot[i];
        if (!sl->ent)
            break;
        vocab_entry *v = &m->ents[sl->ent - 1];
        if (sl->tag == tag && v->len == n && memcmp(m->arena + v->off, s, n) == 0) {
            v->id = id;
            return LA_OK;
        }
        i = (i + 1) & m->vmask;
    }
    if (m->arena_len + n + 1 > m->arena_cap) {
        size_t cap = m->arena_cap ? m->arena_cap * 2 : 1 << 16;
        while (cap < m->arena_len + n + 1)
            cap *= 2;
        if (cap > UINT32_MAX)
            return LA_ENOMEM;
        char *a = realloc(m->arena, cap);
        if (!a)
            return LA_ENOMEM;
        m->arena = a;
        m->arena_cap = cap;
    }
    if (m->n_ents == m->ents_cap)
        return LA_ENOMEM;      /* sized from the object's member count */
    memcpy(m->arena + m->arena_len, s, n);
    m->arena[m->arena_len + n] = 0;
    m->ents[m->n_ents] = (vocab_entry){ (uint32_t)m->arena_len, (uint32_t)n, id };
    m->arena_len += n + 1;
    m->vslot[i] = (vocab_slot){ tag, ++m->n_ents };
    if (n > m->max_token_len)
        m->max_token_len = n;
    return LA_OK;
}

/* Index of the first byte at or after i that is not JSON white space. */
static inline size_t skip_ws(const char *p, size_t n, size_t i)
{
    while (i < n && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t'))
        i++;
    return i;
}

/* Walks the members of the valid object p[0..n): each call gives the
 * next key and value spans, 0 at the end. *pos starts at 0. */
static int next_member(const char *p, size_t n, size_t *pos, la_span *key, la_span *val)
{
    size_t i = *pos ? *pos : skip_ws(p, n, 0) + 1;
    while (i < n && (p[i] == ',' || p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t'))
        i++;
    if (i >= n || p[i] != '"')
        return 0;
    key->start = i;
    key->end = la_json_skip(p, n, i);
    i = skip_ws(p, n, key->end) + 1;           /* past ':' */
    val->start = skip_ws(p, n, i);
    /* a vocabulary value is a run of digits; anything else is skipped
     * as JSON (and refused by the caller) */
    size_t j = val->start;
    while (j < n && p[j] >= '0' && p[j] <= '9')
        j++;
    if (j == val->start || (j < n && p[j] != ',' && p[j] != '}' && p[j] != ' ' && p[j] != '\n' &&
                            p[j] != '\r' && p[j] != '\t'))
        j = la_json_skip(p, n, val->start);
    val->end = j;
    *pos = val->end;
    return 1;
}

/* The decoded text of the string value at span s: its bytes when it
 * has no escape, else unescaped into tmp. */
static int string_text(const char *p, la_span s, la_buf *tmp, const char **out, size_t *len)
{
    if (la_json_string_is_plain(p, s)) {
        *out = p + s.start + 1;
        *len = s.end - s.start - 2;
        return LA_OK;
    }
    la_buf_clear(tmp);
    if (la_json_unescape(p, s, tmp, NULL) != LA_OK)
        return LA_EDATA;
    *out = tmp->data ? tmp->data : "";
    *len = tmp->len;
    return LA_OK;
}

/* A JSON number that is an integer in u32 range (serde's u32: no
 * fraction, no exponent, no sign). */
static int parse_u32(const char *p, la_span v, uint32_t *out)
{
    uint64_t x = 0;
    if (v.start >= v.end)
        return 0;
    for (size_t i = v.start; i < v.end; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        x = x * 10 + (uint64_t)(p[i] - '0');
        if (x > UINT32_MAX)
            return 0;
    }
    *out = (uint32_t)x;
    return 1;
}

/* Reads the "vocab" object p[0..n): token -> non-negative integer id. */
static int load_vocab(tk_bpe *m, const char *p, size_t n, la_err *err)
{
    size_t pos = 0, count = 0;
    la_span k, v;
    if (n == 0 || p[la_json_ws(p, n, 0)] != '{')
        return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: \"vocab\" is not an object");
    while (next_member(p, n, &pos, &k, &v))
        count++;
    if (count >= UINT32_MAX / 4)
        return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: vocabulary too large");
    m->ents_cap = (uint32_t)count;
    m->ents = malloc((count ? count : 1) * sizeof *m->ents);
    uint32_t cap = table_size(count);
    m->vslot = calloc(cap, sizeof *m->vslot);
    m->arena_cap = n + 1;                      /* the strings are no longer than the JSON */
    m->arena = malloc(m->arena_cap);
    if (!m->ents || !m->vslot || !m->arena)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
    m->vmask = cap - 1;
    uint32_t maxid = 0;
    la_buf tmp = {0};
    int rc = LA_OK;
    pos = 0;
    while (rc == LA_OK && next_member(p, n, &pos, &k, &v)) {
        const char *s;
        size_t len;
        uint32_t id;
        if (string_text(p, k, &tmp, &s, &len) != LA_OK || !parse_u32(p, v, &id))
            rc = la_err_set(err, LA_EDATA, "bad_tokenizer",
                            "tokenizer: model: vocab entry %zu: bad token or id (not a u32)", (size_t)m->n_ents);
        else if (vocab_put(m, s, len, id) != LA_OK)
            rc = la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
        else if (id > maxid)
            maxid = id;
    }
    la_buf_free(&tmp);
    if (rc != LA_OK)
        return rc;
    if (maxid >= UINT32_MAX - 1 || (uint64_t)maxid + 1 > 64 * (uint64_t)(count + 1024))
        return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: vocab ids too sparse");
    m->id_count = count ? maxid + 1 : 0;
    m->by_id = malloc((m->id_count ? m->id_count : 1) * sizeof *m->by_id);
    if (!m->by_id)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
    memset(m->by_id, 0xff, (m->id_count ? m->id_count : 1) * sizeof *m->by_id);
    for (uint32_t e = 0; e < m->n_ents; e++) {
        m->ids_shared |= m->by_id[m->ents[e].id].len != UINT32_MAX;
        m->by_id[m->ents[e].id] = (id_slot){ m->ents[e].off, m->ents[e].len };
    }
    return LA_OK;
}

/* ---- merges ----------------------------------------------------------- */

/* Slot of pair key k (an empty one if absent). */
static merge_slot *merge_find(const tk_bpe *m, uint64_t k)
{
    uint32_t i = (uint32_t)hash_u64(k) & m->mmask;
    while (m->merges[i].key != UINT64_MAX && m->merges[i].key != k)
        i = (i + 1) & m->mmask;
    return &m->merges[i];
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
            uint32_t v = bk[8 + __builtin_ctz(hit)];
            *rank = v >> 16;
            *new_id = v & 0xFFFF;
            return 1;
        }
#else
        for (int j = 0; j < 8; j++)
            if (bk[j] == k) {
                *rank = bk[8 + j] >> 16;
                *new_id = bk[8 + j] & 0xFFFF;
                return 1;
            }
#endif
        if (bk[7] == CM_EMPTY)     /* filled in order: a free slot ends the search */
            return 0;
        bi = (bi + 1) & m->cmask;
    }
}

/* Makes the compact table from the merge table when every id and rank
 * takes 16 bits (LA_OK also when not); the tokenizer cache then keeps it
 * instead (1 MB for Llama-2's merges, not 2: GSM8K train read once spent
 * a tenth of its time waiting on the larger table's slots). */
static int cm_build(tk_bpe *m, unsigned per_bucket)
{
    if (m->id_count > 0xFFFF || !m->merges)
        return LA_OK;
    size_t n = 0;
    for (uint32_t i = 0; i <= m->mmask; i++)
        if (m->merges[i].key != UINT64_MAX) {
            if (m->merges[i].rank > 0xFFFF)
                return LA_OK;
            n++;
        }
    uint32_t nb = 16;
    while ((size_t)nb * per_bucket <= n)   /* a free slot left, whatever the fill */
        nb *= 2;
    uint32_t *cm = aligned_alloc(64, (size_t)nb * 64);
    if (!cm)
        return LA_ENOMEM;
    memset(cm, 0xFF, (size_t)nb * 64);
    m->cm = cm;
    m->cmask = nb - 1;
    for (uint32_t i = 0; i <= m->mmask; i++) {
        const merge_slot *sl = &m->merges[i];
        if (sl->key == UINT64_MAX)
            continue;
        uint32_t k = (uint32_t)(sl->key >> 32) << 16 | (uint32_t)(sl->key & 0xFFFF);
        for (uint32_t bi = cm_bucket(m, k);; bi = (bi + 1) & m->cmask) {
            uint32_t *bk = cm + (size_t)bi * 16;
            int j = 0;
            while (j < 8 && bk[j] != CM_EMPTY)
                j++;
            if (j < 8) {
                bk[j] = k;
                bk[8 + j] = sl->rank << 16 | sl->new_id;
                break;
            }
        }
    }
    return LA_OK;
}

int tk_bpe_compact_tight(tk_bpe *m)
{
    if (!m->cm || m->map)
        return 0;
    free(m->cm);
    m->cm = NULL;
    if (cm_build(m, 8) != LA_OK || !m->cm)
        return 0;
    int spilled = 0;
    for (uint32_t bi = 0; bi <= m->cmask; bi++)
        for (int j = 0; j < 8; j++) {
            uint32_t k = m->cm[(size_t)bi * 16 + (size_t)j];
            spilled += k != CM_EMPTY && cm_bucket(m, k) != bi;
        }
    return spilled;
}

/* Looks a pair up: 1 with rank and new id, 0 when no merge exists. */
static int merge_get(const tk_bpe *m, uint32_t a, uint32_t b, uint32_t *rank, uint32_t *new_id)
{
    /* (tests turn shortcuts off: the merge table then, when there is one) */
    if (m->cm && (!m->no_fast || !m->merges))
        return cm_get(m, a << 16 | b, rank, new_id);
    const merge_slot *sl = merge_find(m, (uint64_t)a << 32 | b);
    if (sl->key == UINT64_MAX)
        return 0;
    *rank = sl->rank;
    *new_id = sl->new_id;
    return 1;
}

/* Merges are read in batches: the three vocabulary lookups of every
 * merge of a batch (left, right, merged string) are hashed and their
 * slots prefetched before any is resolved, and the pair slots likewise
 * before the inserts, so that the cache misses of a batch overlap. */
#define MERGE_BATCH 32

typedef struct {
    size_t off[3], len[3];       /* a, b, merged string in the batch store */
    uint64_t h[3];
    uint32_t rank;
    int short_b;                 /* b shorter than continuing_subword_prefix */
    uint64_t key;
    uint32_t new_id;
} pending_merge;

/* Resolves and inserts merges q[0..n) in order; the first failing one
 * sets the error (as one-by-one reading would: earlier merges do not
 * change the vocabulary). */
static int add_merges(tk_bpe *m, pending_merge *q, size_t n, const la_buf *store, la_err *err)
{
    const char *base = store->data;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) {
            if (k == 2 && q[i].short_b)
                continue;
            q[i].h[k] = hash_bytes(base + q[i].off[k], q[i].len[k]);
            __builtin_prefetch(&m->vslot[(uint32_t)q[i].h[k] & m->vmask]);
        }
    for (size_t i = 0; i < n; i++) {
        pending_merge *e = &q[i];
        const char *a = base + e->off[0], *b = base + e->off[1];
        size_t alen = e->len[0], blen = e->len[1];
        uint32_t ea = vocab_find_h(m, a, alen, e->h[0]), eb = vocab_find_h(m, b, blen, e->h[1]);
        if (ea == UINT32_MAX || eb == UINT32_MAX)
            return la_err_set(err, LA_EDATA, "bad_tokenizer",
                              "tokenizer: model: merge token \"%.*s\" is not in the vocabulary",
                              (int)(ea == UINT32_MAX ? (alen > 40 ? 40 : alen) : (blen > 40 ? 40 : blen)),
                              ea == UINT32_MAX ? a : b);
        if (e->short_b)
            return la_err_set(err, LA_EDATA, "bad_tokenizer",
                              "tokenizer: model: merge part shorter than continuing_subword_prefix");
        uint32_t en = vocab_find_h(m, base + e->off[2], e->len[2], e->h[2]);
        if (en == UINT32_MAX)
            return la_err_set(err, LA_EDATA, "bad_tokenizer",
                              "tokenizer: model: merged token \"%.40s\" is not in the vocabulary",
                              base + e->off[2]);
        e->key = (uint64_t)m->ents[ea].id << 32 | m->ents[eb].id;
        e->new_id = m->ents[en].id;
        __builtin_prefetch(&m->merges[(uint32_t)hash_u64(e->key) & m->mmask]);
    }
    /* a repeated pair keeps the later rank, as a HashMap collect would */
    for (size_t i = 0; i < n; i++)
        *merge_find(m, q[i].key) = (merge_slot){ q[i].key, q[i].rank, q[i].new_id };
    return LA_OK;
}

/* Appends s[0..n) to the batch store, recording where. */
static int store_put(la_buf *store, const char *s, size_t n, size_t *off, size_t *len)
{
    *off = store->len;
    *len = n;
    return la_buf_append(store, s, n) != LA_OK || la_buf_putc(store, 0) != LA_OK ? LA_ENOMEM : LA_OK;
}

/* One merge element at span e: "a b" (one space exactly) or [a, b].
 * Sets *skip for a "#version" line. */
static int merge_parts(const char *p, la_span e, la_buf *ta, la_buf *tb, const char **a, size_t *al,
                       const char **b, size_t *bl, int *skip)
{
    *skip = 0;
    if (p[e.start] == '"') {
        const char *s;
        size_t n;
        if (string_text(p, e, ta, &s, &n) != LA_OK)
            return LA_EDATA;
        if (n >= 8 && memcmp(s, "#version", 8) == 0) {
            *skip = 1;
            return LA_OK;
        }
        const char *sp = memchr(s, ' ', n);
        if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s)))
            return LA_EDATA;
        *a = s;
        *al = (size_t)(sp - s);
        *b = sp + 1;
        *bl = n - *al - 1;
        return LA_OK;
    }
    if (p[e.start] != '[')
        return LA_EDATA;
    size_t it = 0;
    la_span x, y, z;
    if (!la_json_array_next(p, e.end, e.start, &it, &x) || !la_json_array_next(p, e.end, e.start, &it, &y) ||
        la_json_array_next(p, e.end, e.start, &it, &z) || p[x.start] != '"' || p[y.start] != '"')
        return LA_EDATA;
    if (string_text(p, x, ta, a, al) != LA_OK || string_text(p, y, tb, b, bl) != LA_OK)
        return LA_EDATA;
    return LA_OK;
}

/* Occurrences of byte c in s[0..n), 16 bytes at a time. */
static size_t count_byte(const char *s, size_t n, char c)
{
    size_t k = 0, i = 0;
#ifdef __SSE2__
    const __m128i cv = _mm_set1_epi8(c);
    for (; i + 16 <= n; i += 16)
        k += (size_t)__builtin_popcount((unsigned)_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(s + i)), cv)));
#endif
    for (; i < n; i++)
        k += s[i] == c;
    return k;
}

/* The string at p[i] (a quote) when it is plain - no escape: sets *end
 * just past it, and the last space in it and the number of spaces. */
static int plain_string(const char *p, size_t n, size_t i, size_t *end, size_t *space, int *nspace)
{
    *nspace = 0;
    for (size_t j = i + 1; j < n; j++) {
        char c = p[j];
        if (c == '"') {
            *end = j + 1;
            return 1;
        }
        if (c == '\\')
            return 0;
        if (c == ' ')
            *space = j, (*nspace)++;
    }
    return 0;
}

/* The usual merge element at p[i], read in one pass: a plain "a b"
 * string (one space, not "#version") or [a, b] of plain strings. Sets the
 * parts and *end (just past the element); 0 leaves it to merge_parts. */
static int merge_fast(const char *p, size_t n, size_t i, const char **a, size_t *al, const char **b,
                      size_t *bl, size_t *end)
{
    size_t e, sp;
    int ns;
    if (p[i] == '"') {
        if (!plain_string(p, n, i, &e, &sp, &ns) || ns != 1 ||
            (e - i - 2 >= 8 && memcmp(p + i + 1, "#version", 8) == 0))
            return 0;
        *a = p + i + 1;
        *al = sp - i - 1;
        *b = p + sp + 1;
        *bl = e - sp - 2;
        *end = e;
        return 1;
    }
    if (p[i] != '[')
        return 0;
    size_t j = skip_ws(p, n, i + 1);
    if (p[j] != '"' || !plain_string(p, n, j, &e, &sp, &ns))
        return 0;
    *a = p + j + 1;
    *al = e - j - 2;
    j = skip_ws(p, n, e);
    if (p[j] != ',')
        return 0;
    j = skip_ws(p, n, j + 1);
    if (p[j] != '"' || !plain_string(p, n, j, &e, &sp, &ns))
        return 0;
    *b = p + j + 1;
    *bl = e - j - 2;
    j = skip_ws(p, n, e);
    if (p[j] != ']')
        return 0;
    *end = j + 1;
    return 1;
}

/* Merges are read by two threads for a large file: this one parses the
 * elements into chunks of pending merges, a second resolves and inserts
 * them in order (add_merges), each about half of the work. Chunks go
 * round a ring; a small file is resolved chunk by chunk on this thread.
 * Errors come out as one thread would find them: the first failing
 * merge, the merges before an unreadable element being checked first. */
#define MERGE_CHUNK 1024
#define MERGE_RING 4
#define MERGE_THREADED 8192      /* merges (estimated) from which a second thread pays */

typedef struct {
    pending_merge q[MERGE_CHUNK];
    size_t n;
    la_buf store;                /* the chunk's strings */
} merge_chunk;

typedef struct {
    tk_bpe *m;
    merge_chunk *ring;           /* nring chunks: MERGE_RING, or 1 on this thread alone */
    size_t produced, consumed;   /* chunks handed over, chunks resolved */
    int done;                    /* the parser has handed over its last chunk */
    int failed;                  /* a chunk failed to resolve: frc and err say why */
    int frc;
    int threaded;
    size_t nring;
    la_err err;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} merge_pipe;

/* Resolves and inserts one chunk. */
static int resolve_chunk(merge_pipe *pp, merge_chunk *c)
{
    int rc = LA_OK;
    for (size_t i = 0; i < c->n && rc == LA_OK; i += MERGE_BATCH)
        rc = add_merges(pp->m, c->q + i, c->n - i < MERGE_BATCH ? c->n - i : MERGE_BATCH, &c->store, &pp->err);
    return rc;
}

static void *merge_resolver(void *arg)
{
    merge_pipe *pp = arg;
    pthread_mutex_lock(&pp->mu);
    for (;;) {
        while (pp->consumed == pp->produced && !pp->done)
            pthread_cond_wait(&pp->cv, &pp->mu);
        if (pp->consumed == pp->produced)
            break;
        merge_chunk *c = &pp->ring[pp->consumed % pp->nring];
        pthread_mutex_unlock(&pp->mu);
        int rc = resolve_chunk(pp, c);
        pthread_mutex_lock(&pp->mu);
        pp->consumed++;
        if (rc != LA_OK) {
            pp->failed = 1;
            pp->frc = rc;
        }
        pthread_cond_broadcast(&pp->cv);
        if (rc != LA_OK)
            break;
    }
    pthread_mutex_unlock(&pp->mu);
    return NULL;
}

/* Hands the chunk being filled over (resolving it here when single
 * threaded) and returns the next one to fill, or NULL once resolving has
 * failed. */
static merge_chunk *hand_over(merge_pipe *pp)
{
    merge_chunk *c = &pp->ring[pp->produced % pp->nring];
    if (!pp->threaded) {
        pp->produced++;
        pp->consumed++;
        int rc = resolve_chunk(pp, c);
        if (rc != LA_OK) {
            pp->failed = 1;
            pp->frc = rc;
            return NULL;
        }
    } else {
        pthread_mutex_lock(&pp->mu);
        pp->produced++;
        pthread_cond_broadcast(&pp->cv);
        while (pp->produced - pp->consumed >= pp->nring && !pp->failed)
            pthread_cond_wait(&pp->cv, &pp->mu);
        int failed = pp->failed;
        pthread_mutex_unlock(&pp->mu);
        if (failed)
            return NULL;
    }
    c = &pp->ring[pp->produced % pp->nring];
    c->n = 0;
    la_buf_clear(&c->store);
    return c;
}

/* Parses the merge elements of p[0..n) from i (past the '[') into
 * chunks. Returns LA_OK, or a parse or memory error (set in err); a
 * resolving failure just ends it early (pp->failed). */
static int parse_merges(merge_pipe *pp, const char *p, size_t n, size_t i, la_err *err)
{
    tk_bpe *m = pp->m;
    la_buf ta = {0}, tb = {0};
    merge_chunk *c = &pp->ring[0];
    uint32_t rank = 0;
    int rc = LA_OK;
    for (;;) {
        /* the array is valid JSON: elements separated by commas */
        i = skip_ws(p, n, i);
        if (p[i] == ',')
            i = skip_ws(p, n, i + 1);
        if (p[i] == ']')
            break;
        const char *a = NULL, *b = NULL;
        size_t al = 0, bl = 0, end;
        int skip = 0;
        if (!merge_fast(p, n, i, &a, &al, &b, &bl, &end)) {
            la_span e = { i, la_json_skip(p, n, i) };
            end = e.end;
            if (merge_parts(p, e, &ta, &tb, &a, &al, &b, &bl, &skip) != LA_OK) {
                rc = la_err_set(err, LA_EDATA, "bad_tokenizer",
                                "tokenizer: model: merge %u is neither \"a b\" nor [a, b]", rank + 1);
                break;
            }
        }
        i = end;
        if (skip)
            continue;
        pending_merge *x = &c->q[c->n++];
        x->rank = rank++;
        x->short_b = bl < m->prefix_len;
        la_buf *store = &c->store;
        if (store_put(store, a, al, &x->off[0], &x->len[0]) ||
            store_put(store, b, bl, &x->off[1], &x->len[1]) ||
            (x->off[2] = store->len, x->len[2] = x->short_b ? 0 : al + bl - m->prefix_len,
             la_buf_append(store, a, al)) ||
            (!x->short_b && la_buf_append(store, b + m->prefix_len, bl - m->prefix_len)) ||
            la_buf_putc(store, 0)) {
            rc = la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
            break;
        }
        if (c->n == MERGE_CHUNK && !(c = hand_over(pp)))
            break;
    }
    /* the merges read before the end (or before an error) are resolved */
    if (c && c->n && !pp->failed)
        hand_over(pp);
    la_buf_free(&ta);
    la_buf_free(&tb);
    return rc;
}

/* Reads "merges" p[0..n): "a b" strings ("#version" lines skipped) or
 * [a, b] pairs, ranked by position. */
static int load_merges(tk_bpe *m, const char *p, size_t n, la_err *err)
{
    size_t arr = n ? skip_ws(p, n, 0) : 0;
    if (n == 0 || p[arr] != '[')
        return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: \"merges\" is not an array");
    /* the table is sized from the quotes: at least two per merge ("a b"),
     * four per pair - an upper bound that costs one pass without calls */
    size_t quotes = count_byte(p + arr, n - arr, '"');
    size_t first = skip_ws(p, n, arr + 1);
    size_t count = quotes / (p[first] == '[' ? 4 : 2) + 1;
    uint32_t cap = 16;
    while (cap < count + count / 2 + 1)          /* load factor <= 2/3 */
        cap *= 2;
    m->merges = malloc((size_t)cap * sizeof *m->merges);
    if (!m->merges)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
    for (uint32_t i = 0; i < cap; i++)     /* whole slots: the tokenizer cache writes them out */
        m->merges[i] = (merge_slot){ UINT64_MAX, 0, 0 };
    m->mmask = cap - 1;

    merge_pipe pp;
    memset(&pp, 0, sizeof pp);
    pp.m = m;
    size_t nring = count >= MERGE_THREADED ? MERGE_RING : 1;
    pp.nring = nring;
    if (!(pp.ring = calloc(nring, sizeof *pp.ring)))
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
    pthread_t tid;
    if (nring == MERGE_RING && pthread_mutex_init(&pp.mu, NULL) == 0) {
        if (pthread_cond_init(&pp.cv, NULL) == 0) {
            pp.threaded = pthread_create(&tid, NULL, merge_resolver, &pp) == 0;
            if (!pp.threaded)
                pthread_cond_destroy(&pp.cv);
        }
        if (!pp.threaded)
            pthread_mutex_destroy(&pp.mu);
    }
    int rc = parse_merges(&pp, p, n, arr + 1, err);
    if (pp.threaded) {
        pthread_mutex_lock(&pp.mu);
        pp.done = 1;
        pthread_cond_broadcast(&pp.cv);
        pthread_mutex_unlock(&pp.mu);
        pthread_join(tid, NULL);
        pthread_cond_destroy(&pp.cv);
        pthread_mutex_destroy(&pp.mu);
    }
    if (pp.failed) {           /* an earlier merge failed first */
        *err = pp.err;
        rc = pp.frc;
    }
    for (size_t k = 0; k < nring; k++)
        la_buf_free(&pp.ring[k].store);
    free(pp.ring);
    return rc;
}

/* ---- options ------------------------------------------------------------- */

/* Reads an optional string field (absent or null: NULL); new copy. */
static int opt_string(const cJSON *model, const char *key, char **out, size_t *len, la_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, key);
    *out = NULL;
    *len = 0;
    if (!v || cJSON_IsNull(v))
        return LA_OK;
    if (!cJSON_IsString(v))
        return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: \"%s\" is not a string", key);
    *len = strlen(v->valuestring);
    *out = malloc(*len + 1);
    if (!*out)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
    memcpy(*out, v->valuestring, *len + 1);
    return LA_OK;
}

/* Reads an optional boolean field (absent or null: def). */
static int opt_bool(const cJSON *model, const char *key, int def, int *out, la_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, key);
    *out = def;
    if (!v || cJSON_IsNull(v))
        return LA_OK;
    if (!cJSON_IsBool(v))
        return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: \"%s\" is not a boolean", key);
    *out = cJSON_IsTrue(v);
    return LA_OK;
}

/* Reads the scalar options; a dropout other than null/0 is unsupported
 * (random merges cannot be reproduced). */
static int load_options(tk_bpe *m, const cJSON *model, la_err *err)
{
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (d && !cJSON_IsNull(d)) {
        if (!cJSON_IsNumber(d))
            return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: \"dropout\" is not a number");
        if (d->valuedouble < 0 || d->valuedouble > 1)
            return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: dropout out of [0, 1]");
        if (d->valuedouble != 0)
            return la_err_set(err, LA_EUNSUP, "unsupported", "tokenizer: model: BPE dropout is unsupported");
    }
    char *unk;
    size_t unk_len;
    int rc = opt_string(model, "unk_token", &unk, &unk_len, err);
    if (rc != LA_OK)
        return rc;
    m->has_unk = unk != NULL;
    m->unk_id = unk ? tk_bpe_token_to_id(m, unk, unk_len) : -1;
    free(unk);
    if ((rc = opt_string(model, "continuing_subword_prefix", &m->prefix, &m->prefix_len, err)) ||
        (rc = opt_string(model, "end_of_word_suffix", &m->suffix, &m->suffix_len, err)) ||
        (rc = opt_bool(model, "fuse_unk", 0, &m->fuse_unk, err)) ||
        (rc = opt_bool(model, "byte_fallback", 0, &m->byte_fallback, err)))
        return rc;
    return opt_bool(model, "ignore_merges", 0, &m->ignore_merges, err);
}

/* Looks the 256 "<0xNN>" byte tokens up once. */
static void load_byte_ids(tk_bpe *m)
{
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char s[6] = { '<', '0', 'x', hex[b >> 4], hex[b & 15], '>' };
        m->byte_id[b] = tk_bpe_token_to_id(m, s, 6);
    }
}

/* tk_bpe_prepare_chunking on a thread of its own: it reads only the
 * vocabulary and options and writes only the chunking tables, while
 * load_merges reads the vocabulary and writes only the merge table. */
typedef struct {
    tk_bpe *m;
    la_err err;
    int rc;
} chunk_job;

static void *chunk_main(void *arg)
{
    chunk_job *j = arg;
    j->rc = tk_bpe_prepare_chunking(j->m, &j->err);
    return NULL;
}

/* A number no other model in this process has (word caches tell models
 * apart by it). */
static uint64_t next_serial(void)
{
    static atomic_uint_fast64_t serial = 1;
    return (uint64_t)atomic_fetch_add(&serial, 1);
}

tk_bpe *tk_bpe_from_raw(const cJSON *opts, const char *vocab, size_t vocab_len, const char *merges,
                        size_t merges_len, int chunking, la_err *err)
{
    tk_bpe *m = calloc(1, sizeof *m);
    if (!m) {
        la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
        return NULL;
    }
    int rc;
    if (!vocab || !merges)
        rc = la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: missing vocab/merges");
    else if ((rc = load_vocab(m, vocab, vocab_len, err)) == LA_OK &&
             (rc = load_options(m, opts, err)) == LA_OK) {
        /* the chunking tables (15M instructions for Llama-2's vocabulary)
         * are built beside the merges (58M), so loading waits for the
         * longer of the two only */
        chunk_job job = { m, {{0}, {0}}, LA_OK };
        pthread_t tid;
        int threaded = chunking && pthread_create(&tid, NULL, chunk_main, &job) == 0;
        rc = load_merges(m, merges, merges_len, err);
        if (threaded)
            pthread_join(tid, NULL);
        else if (chunking && rc == LA_OK)
            chunk_main(&job);
        if (rc == LA_OK && chunking && job.rc != LA_OK) {
            rc = job.rc;
            *err = job.err;
        }
    }
    if (rc == LA_OK && (rc = cm_build(m, 4)) != LA_OK)
        la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
    if (rc != LA_OK) {
        tk_bpe_free(m);
        return NULL;
    }
    load_byte_ids(m);
    m->serial = next_serial();
    return m;
}

/* ---- the vocabulary for the other model types (models.c) ---------- */

tk_bpe *tk_bpe_new_kind(int kind, la_err *err)
{
    tk_bpe *m = calloc(1, sizeof *m);
    if (!m) {
        la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
        return NULL;
    }
    m->kind = kind;
    m->unk_id = -1;
    m->serial = next_serial();
    return m;
}

int tk_bpe_vocab_object(tk_bpe *m, const char *p, size_t n, la_err *err)
{
    int rc = load_vocab(m, p, n, err);
    if (rc == LA_OK)
        load_byte_ids(m);
    return rc;
}

int tk_bpe_vocab_reserve(tk_bpe *m, size_t count, size_t arena, la_err *err)
{
    if (count >= UINT32_MAX / 4 || arena >= UINT32_MAX)
        return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: vocabulary too large");
    uint32_t cap = table_size(count);
    m->ents_cap = (uint32_t)count;
    m->ents = malloc((count ? count : 1) * sizeof *m->ents);
    m->vslot = calloc(cap, sizeof *m->vslot);
    m->arena_cap = arena + 1;
    m->arena = malloc(m->arena_cap);
    m->by_id = malloc((count ? count : 1) * sizeof *m->by_id);
    if (!m->ents || !m->vslot || !m->arena || !m->by_id)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
    m->vmask = cap - 1;
    return LA_OK;
}

int tk_bpe_vocab_add(tk_bpe *m, const char *s, size_t n, uint32_t id, la_err *err)
{
    if (id >= m->ents_cap)
        return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: more pieces than counted");
    if (vocab_put(m, s, n, id) != LA_OK)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
    /* the string's entry, new or met before: id -> that string */
    uint32_t e = vocab_find(m, s, n);
    m->by_id[id] = (id_slot){ m->ents[e].off, m->ents[e].len };
    m->id_count = id + 1;
    return LA_OK;
}

void tk_bpe_vocab_done(tk_bpe *m)
{
    load_byte_ids(m);
}

void tk_bpe_set_ext(tk_bpe *m, tk_model_ext *ext, tk_model_fn tokenize, void (*freefn)(tk_model_ext *),
                    int64_t unk_id, int byte_fallback)
{
    m->ext = ext;
    m->ext_tokenize = tokenize;
    m->ext_free = freefn;
    m->unk_id = unk_id;
    m->has_unk = unk_id >= 0;
    m->byte_fallback = byte_fallback;
}

const int64_t *tk_bpe_byte_ids(const tk_bpe *m) { return m->byte_id; }

uint32_t tk_bpe_entries(const tk_bpe *m) { return m->n_ents; }

const char *tk_bpe_entry(const tk_bpe *m, uint32_t e, size_t *len, uint32_t *id)
{
    *len = m->ents[e].len;
    *id = m->ents[e].id;
    return m->arena + m->ents[e].off;
}

size_t tk_bpe_max_token_len(const tk_bpe *m) { return m->max_token_len; }

void tk_bpe_set_fast(tk_bpe *m, int on)
{
    m->no_fast = !on;
}

/* The cJSON route (small models, tests): serializes vocab and merges
 * back to text for the one raw reader. */
tk_bpe *tk_bpe_from_json(const cJSON *model, la_err *err)
{
    if (!cJSON_IsObject(model)) {
        la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: not an object");
        return NULL;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    const cJSON *mg = cJSON_GetObjectItemCaseSensitive(model, "merges");
    char *vs = v ? cJSON_PrintUnformatted(v) : NULL, *ms = mg ? cJSON_PrintUnformatted(mg) : NULL;
    tk_bpe *m = NULL;
    if ((v && !vs) || (mg && !ms))
        la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
    else
        m = tk_bpe_from_raw(model, vs, vs ? strlen(vs) : 0, ms, ms ? strlen(ms) : 0, 0, err);
    cJSON_free(vs);
    cJSON_free(ms);
    return m;
}

void tk_bpe_free(tk_bpe *m)
{
    if (!m)
        return;
    if (m->map) {
        munmap(m->map, m->map_len);
    } else {
        free(m->arena);
        free(m->ents);
        free(m->vslot);
        free(m->by_id);
        free(m->merges);
        free(m->pairs);
        free(m->cm);
    }
    free(m->prefix);
    free(m->suffix);
    if (m->ext)
        m->ext_free(m->ext);
    free(m);
}

/* ---- images: a loaded model as bytes, for the tokenizer cache ---------- */

/* The fixed part of an image; the arrays follow in this order, each
 * padded to 8 bytes: arena, ents, vslot, by_id, merges, pairs, prefix,
 * suffix, then the compact merges after cm_pad more bytes (so that its
 * buckets start on cache lines where the image is put where it was
 * made). With the compact merges the merge table is not kept (its part
 * is empty, mmask 0). */
typedef struct {
    uint64_t arena_len, max_token_len, prefix_len, suffix_len;
    int64_t unk_id;
    int64_t byte_id[256];
    uint32_t n_ents, vmask, id_count, mmask, pmask, cmask, cm_pad;
    int32_t has_unk, fuse_unk, byte_fallback, ignore_merges, small_ready, ids_shared;
    int32_t small_id[SMALL_N];
    uint8_t small_cut[SMALL_N][SMALL_N];
} bpe_image_head;

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

/* The arrays of an image: where each is in m, and its size in bytes. */
static void image_parts(tk_bpe *m, void ***where, size_t *size)
{
    where[0] = (void **)&m->arena, size[0] = m->arena_len;
    where[1] = (void **)&m->ents, size[1] = (size_t)m->n_ents * sizeof *m->ents;
    where[2] = (void **)&m->vslot, size[2] = ((size_t)m->vmask + 1) * sizeof *m->vslot;
    where[3] = (void **)&m->by_id, size[3] = (size_t)m->id_count * sizeof *m->by_id;
    where[4] = (void **)&m->merges, size[4] = m->merges ? ((size_t)m->mmask + 1) * sizeof *m->merges : 0;
    where[5] = (void **)&m->pairs, size[5] = m->pairs ? ((size_t)m->pmask + 1) * sizeof *m->pairs : 0;
    where[6] = (void **)&m->prefix, size[6] = m->prefix ? m->prefix_len : 0;
    where[7] = (void **)&m->suffix, size[7] = m->suffix ? m->suffix_len : 0;
    where[8] = (void **)&m->cm, size[8] = m->cm ? ((size_t)m->cmask + 1) * 64 : 0;
}
#define IMAGE_PARTS 9

int tk_bpe_image(const tk_bpe *m, la_buf *out)
{
    if (m->kind != TK_MODEL_BPE)     /* an image holds BPE's tables only */
        return LA_EUNSUP;
    bpe_image_head h;
    memset(&h, 0, sizeof h);
    h.arena_len = m->arena_len;
    h.max_token_len = m->max_token_len;
    h.prefix_len = m->prefix ? m->prefix_len : 0;
    h.suffix_len = m->suffix ? m->suffix_len : 0;
    h.unk_id = m->unk_id;
    memcpy(h.byte_id, m->byte_id, sizeof h.byte_id);
    h.n_ents = m->n_ents;
    h.vmask = m->vmask;
    h.id_count = m->id_count;
    h.mmask = m->cm ? 0 : m->mmask;
    h.pmask = m->pairs ? m->pmask : 0;
    h.cmask = m->cm ? m->cmask : 0;
    h.has_unk = m->has_unk;
    h.fuse_unk = m->fuse_unk;
    h.byte_fallback = m->byte_fallback;
    h.ignore_merges = m->ignore_merges;
    h.small_ready = m->small_ready;
    h.ids_shared = m->ids_shared;
    memcpy(h.small_id, m->small_id, sizeof h.small_id);
    memcpy(h.small_cut, m->small_cut, sizeof h.small_cut);
    tk_bpe parts = *m;
    if (m->cm)
        parts.merges = NULL;      /* the compact merges alone */
    void **where[IMAGE_PARTS];
    size_t size[IMAGE_PARTS];
    image_parts(&parts, where, size);
    size_t end = out->len + sizeof h;
    for (int i = 0; i < IMAGE_PARTS - 1; i++)
        end += pad8(size[i]);
    h.cm_pad = m->cm ? (uint32_t)((64 - end % 64) % 64) : 0;
    static const char zero[64] = {0};
    if (la_buf_append(out, (const char *)&h, sizeof h))
        return LA_ENOMEM;
    for (int i = 0; i < IMAGE_PARTS; i++)
        if ((i == IMAGE_PARTS - 1 && la_buf_append(out, zero, h.cm_pad)) ||
            (size[i] && la_buf_append(out, (const char *)*where[i], size[i])) ||
            la_buf_append(out, zero, pad8(size[i]) - size[i]))
            return LA_ENOMEM;
    return LA_OK;
}

/* ---- checking an image: nothing in it is trusted ------------------------- */

static int32_t small_cp(int a);
static uint64_t pair_key(int32_t a, int32_t b);
static int pair_has(const tk_bpe *m, uint64_t k);

/* The string of id (a valid id) is there: 1 with it in *s, *len. */
static int id_string(const tk_bpe *m, uint32_t id, const char **s, size_t *len)
{
    if (m->by_id[id].len == UINT32_MAX)
        return 0;
    *s = m->arena + m->by_id[id].off;
    *len = m->by_id[id].len;
    return 1;
}

/* The vocabulary: every entry's string inside the arena with its NUL
 * after it, and its id below id_count with a string of its own (the
 * same one, unless ids are shared); every id's string inside the arena,
 * as many of them as entries unless shared; max_token_len the longest. */
static int image_vocab_holds(const tk_bpe *m)
{
    size_t longest = 0, named = 0;
    for (uint32_t id = 0; id < m->id_count; id++) {
        const id_slot *b = &m->by_id[id];
        if (b->len == UINT32_MAX)
            continue;
        if (b->off >= m->arena_len || b->len >= m->arena_len - b->off || m->arena[b->off + b->len])
            return 0;
        named++;
    }
    for (uint32_t e = 0; e < m->n_ents; e++) {
        const vocab_entry *v = &m->ents[e];
        if (v->off >= m->arena_len || v->len >= m->arena_len - v->off || m->arena[v->off + v->len] ||
            v->id >= m->id_count || m->by_id[v->id].len == UINT32_MAX ||
            (!m->ids_shared && (m->by_id[v->id].off != v->off || m->by_id[v->id].len != v->len)))
            return 0;
        longest = v->len > longest ? v->len : longest;
    }
    return longest == m->max_token_len && (m->ids_shared ? named <= m->n_ents : named == m->n_ents);
}

/* The vocabulary's hash slots: as many taken as there are entries, an
 * empty one somewhere (lookups end), and each entry found by a lookup of
 * its string, under its string's tag: then each entry is in exactly one
 * slot. The entries are taken in order (their strings lie in order in
 * the arena), so that only the slots are read at random. */
static int image_slots_hold(const tk_bpe *m)
{
    size_t slots = (size_t)m->vmask + 1, taken = 0;
    for (size_t i = 0; i < slots; i++) {
        if (m->vslot[i].ent > m->n_ents)
            return 0;
        taken += m->vslot[i].ent != 0;
    }
    if (taken != m->n_ents || taken == slots)
        return 0;
    for (uint32_t e = 0; e < m->n_ents; e++) {
        const vocab_entry *v = &m->ents[e];
        uint64_t h = hash_bytes(m->arena + v->off, v->len);
        uint32_t i = (uint32_t)h & m->vmask;
        while (m->vslot[i].ent != e + 1) {
            if (!m->vslot[i].ent)
                return 0;         /* not where a lookup looks */
            i = (i + 1) & m->vmask;
        }
        if (m->vslot[i].tag != (uint32_t)(h >> 32))
            return 0;
    }
    return 1;
}

/* A merge of the pair (a, b) into new_id: all three ids with strings,
 * the new one a's followed by b's (less the continuing prefix), as the
 * merges were read (unless ids are shared, when an id's string may be
 * another one's). */
static int merge_holds(const tk_bpe *m, uint32_t a, uint32_t b, uint32_t new_id)
{
    const char *sa, *sb, *sn;
    size_t la, lb, ln;
    if (a >= m->id_count || b >= m->id_count || new_id >= m->id_count || !id_string(m, a, &sa, &la) ||
        !id_string(m, b, &sb, &lb) || !id_string(m, new_id, &sn, &ln))
        return 0;
    if (m->ids_shared)
        return 1;
    size_t skip = m->prefix ? m->prefix_len : 0;
    return lb >= skip && ln == la + lb - skip && tk_same_bytes(sn, sa, la) &&
           tk_same_bytes(sn + la, sb + skip, lb - skip);
}

/* Merges to check, gathered so that the ids' slots and their strings,
 * read at random, are fetched for a batch before any is compared. */
#define CHECK_BATCH 32
typedef struct {
    uint32_t a[CHECK_BATCH], b[CHECK_BATCH], new_id[CHECK_BATCH];
    size_t n;
} merge_batch;

static void prefetch_string(const tk_bpe *m, uint32_t id)
{
    if (id < m->id_count && m->by_id[id].len != UINT32_MAX && m->by_id[id].off < m->arena_len)
        __builtin_prefetch(m->arena + m->by_id[id].off);
}

/* merge_holds for every merge of q, which it empties: 1 when all hold. */
static int batch_holds(const tk_bpe *m, merge_batch *q)
{
    const uint32_t *ids[3] = { q->a, q->b, q->new_id };
    for (int w = 0; w < 3; w++)
        for (size_t j = 0; j < q->n; j++)
            if (ids[w][j] < m->id_count)
                __builtin_prefetch(&m->by_id[ids[w][j]]);
    for (int w = 0; w < 3; w++)
        for (size_t j = 0; j < q->n; j++)
            prefetch_string(m, ids[w][j]);
    size_t n = q->n;
    q->n = 0;
    for (size_t j = 0; j < n; j++)
        if (!merge_holds(m, q->a[j], q->b[j], q->new_id[j]))
            return 0;
    return 1;
}

/* Adds a merge to q: 0 when q was full and a merge in it does not hold. */
static int batch_add(const tk_bpe *m, merge_batch *q, uint32_t a, uint32_t b, uint32_t new_id)
{
    if (q->n == CHECK_BATCH && !batch_holds(m, q))
        return 0;
    q->a[q->n] = a;
    q->b[q->n] = b;
    q->new_id[q->n++] = new_id;
    return 1;
}

/* The merge table: each pair where a lookup from its home slot finds
 * it, merging as merge_holds says, and an empty slot somewhere. */
static int image_merges_hold(const tk_bpe *m)
{
    size_t slots = (size_t)m->mmask + 1, start = slots;
    for (size_t i = 0; i < slots && start == slots; i++)
        if (m->merges[i].key == UINT64_MAX)
            start = i;
    if (start == slots)
        return 0;
    size_t run = start;
    merge_batch q;
    q.n = 0;
    for (size_t k = 1; k <= slots; k++) {
        size_t i = (start + k) & m->mmask;
        const merge_slot *sl = &m->merges[i];
        if (sl->key == UINT64_MAX) {
            run = i;
            continue;
        }
        size_t home = (size_t)hash_u64(sl->key) & m->mmask;
        if (((i - home) & m->mmask) >= ((i - run) & m->mmask) ||
            !batch_add(m, &q, (uint32_t)(sl->key >> 32), (uint32_t)sl->key, sl->new_id))
            return 0;
    }
    return batch_holds(m, &q);
}

/* The compact merge table: buckets filled in order, each key where
 * cm_get finds it from its home bucket (every bucket between full),
 * merging as merge_holds says, and a bucket with a free way somewhere
 * (lookups end). */
static int image_compact_holds(const tk_bpe *m)
{
    size_t buckets = (size_t)m->cmask + 1, start = buckets;
    for (size_t i = 0; i < buckets && start == buckets; i++)
        if (m->cm[i * 16 + 7] == CM_EMPTY)
            start = i;
    if (start == buckets)
        return 0;
    size_t run = start;               /* the last bucket with a free way */
    merge_batch q;
    q.n = 0;
    for (size_t k = 1; k <= buckets; k++) {
        size_t bi = (start + k) & m->cmask;
        const uint32_t *bk = m->cm + bi * 16;
        for (int j = 0; j < 8; j++) {
            if (bk[j] == CM_EMPTY) {
                for (int r = j; r < 8; r++)
                    if (bk[r] != CM_EMPTY || bk[8 + r] != CM_EMPTY)
                        return 0;
                break;
            }
            size_t home = cm_bucket(m, bk[j]);
            /* a key met in its home bucket, or after full ones only */
            if ((home != bi && ((bi - home) & m->cmask) >= ((bi - run) & m->cmask)) ||
                !batch_add(m, &q, bk[j] >> 16, bk[j] & 0xFFFF, bk[8 + j] & 0xFFFF))
                return 0;
        }
        if (bk[7] == CM_EMPTY)
            run = bi;
    }
    return batch_holds(m, &q);
}

/* The id a string of the vocabulary has (-1: none), for the ids an
 * image keeps beside the vocabulary. */
static int64_t image_id_of(const tk_bpe *m, const char *s, size_t n)
{
    uint32_t e = vocab_find(m, s, n);
    return e == UINT32_MAX ? -1 : (int64_t)m->ents[e].id;
}

/* The ids kept beside the vocabulary: byte_fallback's "<0xNN>" ones and
 * the one-character ones of the cutting tables, those the vocabulary
 * gives; unk's an id with a string, or -1; the flags 0 or 1; the
 * cutting table's facts 0 or 1, its characters' pairs in the pair set
 * only where a pair makes no cut. */
static int image_ids_hold(const tk_bpe *m)
{
    const int32_t flags[] = { m->has_unk, m->fuse_unk, m->byte_fallback, m->ignore_merges, m->small_ready,
                              m->ids_shared };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (flags[i] != 0 && flags[i] != 1)
            return 0;
    const char *s;
    size_t len;
    if (m->unk_id < -1 || (m->unk_id >= 0 && (m->unk_id >= m->id_count || !id_string(m, (uint32_t)m->unk_id, &s, &len))))
        return 0;
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        if (m->byte_id[b] != image_id_of(m, name, 6))
            return 0;
    }
    if (!m->small_ready) {
        static const tk_bpe none;
        return memcmp(m->small_id, none.small_id, sizeof none.small_id) == 0 &&
               memcmp(m->small_cut, none.small_cut, sizeof none.small_cut) == 0;
    }
    int known[SMALL_N];
    for (int a = 0; a < SMALL_N; a++) {
        char c[4];
        size_t k = tk_utf8_encode(small_cp(a), c);
        int64_t id = image_id_of(m, c, k);
        known[a] = id >= 0;
        if (m->small_id[a] != (id >= 0 && id <= INT32_MAX ? (int32_t)id : -1))
            return 0;
    }
    for (int a = 0; a < SMALL_N; a++)
        for (int b = 0; b < SMALL_N; b++)
            if (m->small_cut[a][b] !=
                (known[a] && known[b] && !(m->pairs && pair_has(m, pair_key(small_cp(a), small_cp(b))))))
                return 0;
    return 1;
}

/* The pair set: an empty slot somewhere (lookups end). */
static int image_pairs_hold(const tk_bpe *m)
{
    for (size_t i = 0; i <= m->pmask; i++)
        if (m->pairs[i] == UINT64_MAX)
            return 1;
    return 0;
}

/* 1 when the model made from an image can be used as it is: every
 * offset, length, index and id in its parts is checked against the
 * others (above), so that no lookup reads outside them or runs on
 * without end, and the tables made from the vocabulary are the ones it
 * gives. (What the vocabulary, ranks and options themselves say cannot
 * be checked without the file: an entry's own check and key answer for
 * those.) */
static int image_holds(const tk_bpe *m)
{
    return (!m->pairs || image_pairs_hold(m)) && image_vocab_holds(m) && image_slots_hold(m) &&
           (!m->merges || image_merges_hold(m)) && (!m->cm || image_compact_holds(m)) && image_ids_hold(m) &&
           (!m->small_ready || m->pairs);
}

/* 1 when byte off of field f (offset fo, size fs) of a struct. */
static int in_field(size_t off, size_t fo, size_t fs) { return off >= fo && off - fo < fs; }

int tk_bpe_image_vouched(const char *p, size_t n, size_t off)
{
    bpe_image_head h;
    if (n < sizeof h || off >= n)
        return 0;
    memcpy(&h, p, sizeof h);
#define VOUCHED(f) in_field(off, offsetof(bpe_image_head, f), sizeof h.f)
    if (off < sizeof h)
        return VOUCHED(unk_id) || VOUCHED(has_unk) || VOUCHED(fuse_unk) || VOUCHED(byte_fallback) ||
               VOUCHED(ignore_merges) || VOUCHED(ids_shared) || VOUCHED(prefix_len) || VOUCHED(suffix_len);
#undef VOUCHED
    tk_bpe m;
    memset(&m, 0, sizeof m);
    m.arena_len = (size_t)h.arena_len;
    m.n_ents = h.n_ents;
    m.vmask = h.vmask;
    m.id_count = h.id_count;
    m.mmask = h.mmask;
    m.pmask = h.pmask;
    m.cmask = h.cmask;
    m.prefix_len = (size_t)h.prefix_len;
    m.suffix_len = (size_t)h.suffix_len;
    m.pairs = h.pmask ? (uint64_t *)1 : NULL;
    m.prefix = h.prefix_len ? (char *)1 : NULL;
    m.suffix = h.suffix_len ? (char *)1 : NULL;
    m.merges = h.cmask ? NULL : (merge_slot *)1;
    m.cm = h.cmask ? (uint32_t *)1 : NULL;
    void **where[IMAGE_PARTS];
    size_t size[IMAGE_PARTS], at = sizeof h;
    image_parts(&m, where, size);
    for (int i = 0; i < IMAGE_PARTS; i++) {
        at += i == IMAGE_PARTS - 1 ? h.cm_pad : 0;
        if (off >= at && off - at < size[i]) {
            size_t o = off - at;
            switch (i) {
            case 4:               /* a merge's rank */
                return in_field(o % sizeof(merge_slot), offsetof(merge_slot, rank), sizeof(uint32_t));
            case 5: case 6: case 7:   /* the pair set, prefix, suffix */
                return 1;
            case 8:               /* a compact merge's rank: a value's high half */
                return o % 64 >= 32 && (o % 64 - 32) % 4 >= 2;
            default:
                return 0;
            }
        }
        at += pad8(size[i]);
    }
    return 0;
}

tk_bpe *tk_bpe_from_image(const char *p, size_t n, void *map, size_t map_len, la_err *err)
{
    bpe_image_head h;
    tk_bpe *m = n >= sizeof h && ((uintptr_t)p & 7) == 0 ? calloc(1, sizeof *m) : NULL;
    if (!m) {
        if (map)
            munmap(map, map_len);
        if (n < sizeof h || ((uintptr_t)p & 7) != 0)
            la_err_set(err, LA_EDATA, "bad_cache", "tokenizer cache: image too short");
        else
            la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
        return NULL;
    }
    m->map = map;
    m->map_len = map_len;
    memcpy(&h, p, sizeof h);
    /* the sizes first: powers of two where masks, each part inside n */
    int ok = h.arena_len < ((uint64_t)1 << 40) && h.prefix_len < 4096 && h.suffix_len < 4096 &&
             ((h.vmask + 1) & h.vmask) == 0 && ((h.mmask + 1) & h.mmask) == 0 &&
             ((h.pmask + 1) & h.pmask) == 0 && h.arena_len > 0 && h.cm_pad < 64 &&
             ((h.cmask + 1) & h.cmask) == 0 && (!h.cmask || (h.cmask >= 15 && h.id_count <= 0xFFFF));
    m->arena_len = m->arena_cap = (size_t)h.arena_len;
    m->n_ents = m->ents_cap = h.n_ents;
    m->vmask = h.vmask;
    m->id_count = h.id_count;
    m->mmask = h.mmask;
    m->pmask = h.pmask;
    m->prefix_len = (size_t)h.prefix_len;
    m->suffix_len = (size_t)h.suffix_len;
    /* pairs, prefix and suffix are present only when they were */
    m->pairs = h.pmask ? (uint64_t *)1 : NULL;
    m->prefix = h.prefix_len ? (char *)1 : NULL;
    m->suffix = h.suffix_len ? (char *)1 : NULL;
    m->merges = h.cmask ? NULL : (merge_slot *)1;
    m->cm = h.cmask ? (uint32_t *)1 : NULL;
    m->cmask = h.cmask;
    void **where[IMAGE_PARTS];
    size_t size[IMAGE_PARTS], at = sizeof h;
    image_parts(m, where, size);
    for (int i = 0; i < IMAGE_PARTS; i++)
        *where[i] = NULL;
    for (int i = 0; ok == 1 && i < IMAGE_PARTS; i++) {
        if (i == IMAGE_PARTS - 1) {
            if (h.cm_pad > n - at) {
                ok = 0;
                break;
            }
            at += h.cm_pad;
        }
        if (size[i] > n - at || pad8(size[i]) > n - at) {
            ok = 0;
            break;
        }
        if (size[i] && map && (i < 6 || i == IMAGE_PARTS - 1)) {
            *where[i] = (void *)(uintptr_t)(p + at);   /* read only: never written */
        } else if (size[i]) {
            /* strings get a NUL after them, as when built */
            char *a = malloc(size[i] + 1);
            if (!a) {
                ok = -1;
                break;
            }
            memcpy(a, p + at, size[i]);
            a[size[i]] = 0;
            *where[i] = a;
        }
        at += pad8(size[i]);
    }
    if (ok == 1 && (at != n || !m->arena || m->arena[m->arena_len - 1] != 0 || !m->vslot ||
                    (!m->merges && !m->cm) || (h.id_count && !m->by_id)))
        ok = 0;
    if (ok != 1) {
        if (ok < 0)
            la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
        else
            la_err_set(err, LA_EDATA, "bad_cache", "tokenizer cache: image does not hold together");
        tk_bpe_free(m);
        return NULL;
    }
    m->max_token_len = (size_t)h.max_token_len;
    m->unk_id = h.unk_id;
    memcpy(m->byte_id, h.byte_id, sizeof m->byte_id);
    m->has_unk = h.has_unk;
    m->fuse_unk = h.fuse_unk;
    m->byte_fallback = h.byte_fallback;
    m->ignore_merges = h.ignore_merges;
    m->small_ready = h.small_ready;
    m->ids_shared = h.ids_shared;
    memcpy(m->small_id, h.small_id, sizeof m->small_id);
    memcpy(m->small_cut, h.small_cut, sizeof m->small_cut);
    if (!image_holds(m)) {
        la_err_set(err, LA_EDATA, "bad_cache", "tokenizer cache: image does not hold together");
        tk_bpe_free(m);
        return NULL;
    }
    m->serial = next_serial();
    return m;
}

/* ---- cutting long pieces ---------------------------------------------- */

/* The code point of table index a (see small_index). */
static int32_t small_cp(int a) { return a < 128 ? a : 0x2581; }

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

/* Code-point pair key. */
static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }

/* Inserts a pair into the set (which has room); 1 when it is new. */
static int pair_put(tk_bpe *m, uint64_t k)
{
    uint32_t i = (uint32_t)hash_u64(k) & m->pmask;
    while (m->pairs[i] != UINT64_MAX) {
        if (m->pairs[i] == k)
            return 0;
        i = (i + 1) & m->pmask;
    }
    m->pairs[i] = k;
    return 1;
}

/* A pair set of cap slots (a power of two), empty; LA_OK or LA_ENOMEM. */
static int pairs_alloc(tk_bpe *m, uint32_t cap)
{
    uint64_t *t = malloc((size_t)cap * sizeof *t);
    if (!t)
        return LA_ENOMEM;
    memset(t, 0xff, (size_t)cap * sizeof *t);
    m->pairs = t;
    m->pmask = cap - 1;
    return LA_OK;
}

/* Doubles the pair set. */
static int pairs_grow(tk_bpe *m)
{
    uint64_t *old = m->pairs;
    uint32_t oldcap = m->pmask + 1;
    if (oldcap > UINT32_MAX / 2 || pairs_alloc(m, oldcap * 2) != LA_OK) {
        m->pairs = old;
        m->pmask = oldcap - 1;
        return LA_ENOMEM;
    }
    for (uint32_t i = 0; i < oldcap; i++)
        if (old[i] != UINT64_MAX)
            pair_put(m, old[i]);
    free(old);
    return LA_OK;
}

static int pair_has(const tk_bpe *m, uint64_t k)
{
    uint32_t i = (uint32_t)hash_u64(k) & m->pmask;
    while (m->pairs[i] != UINT64_MAX) {
        if (m->pairs[i] == k)
            return 1;
        i = (i + 1) & m->pmask;
    }
    return 0;
}

/* Collects every pair of adjacent code points inside a vocabulary token.
 * A merge joins two symbols into a vocabulary token, so it can only
 * happen across a|b if "ab" occurs in some token. Without a prefix or a
 * suffix (which change the strings merged) this is all a cut needs;
 * ignore_merges looks at the whole piece before any cutting. */
int tk_bpe_prepare_chunking(tk_bpe *m, la_err *err)
{
    if (m->kind != TK_MODEL_BPE)     /* cuts are facts about merges */
        return LA_OK;
    if (m->pairs || m->prefix_len || m->suffix_len)
        return LA_OK;
    /* grown with the distinct pairs, far fewer than the bytes of the
     * vocabulary (Llama-2: 3,162 for 32,000 tokens), load factor <= 1/2,
     * so that the set stays in the nearer caches */
    if (pairs_alloc(m, 512) != LA_OK)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
    size_t count = 0;
    for (uint32_t e = 0; e < m->n_ents; e++) {
        const unsigned char *s = (const unsigned char *)m->arena + m->ents[e].off;
        size_t len = m->ents[e].len, i = 0;
        int32_t prev = -1, cp;
        while (i < len) {
            size_t k = tk_utf8_decode(s + i, len - i, &cp);
            if (!k) {
                k = 1;
                cp = -2;     /* not UTF-8: never equal to a text code point */
            }
            if (prev >= 0 && cp >= 0 && pair_put(m, pair_key(prev, cp)) && ++count * 2 > m->pmask &&
                pairs_grow(m) != LA_OK) {
                free(m->pairs);
                m->pairs = NULL;
                m->pmask = 0;
                return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
            }
            prev = cp;
            i += k;
        }
    }
    uint8_t known[SMALL_N];
    uint64_t pair[SMALL_N][(SMALL_N + 63) / 64];
    memset(pair, 0, sizeof pair);
    for (int a = 0; a < SMALL_N; a++) {
        char s[4];
        size_t k = tk_utf8_encode(small_cp(a), s);
        uint32_t e = vocab_find(m, s, k);
        known[a] = e != UINT32_MAX;
        m->small_id[a] = known[a] && m->ents[e].id <= INT32_MAX ? (int32_t)m->ents[e].id : -1;
        for (int b = 0; b < SMALL_N; b++)
            if (pair_has(m, pair_key(small_cp(a), small_cp(b))))
                pair[a][b >> 6] |= (uint64_t)1 << (b & 63);
    }
    for (int a = 0; a < SMALL_N; a++)
        for (int b = 0; b < SMALL_N; b++)
            m->small_cut[a][b] = known[a] && known[b] && !(pair[a][b >> 6] >> (b & 63) & 1);
    m->small_ready = 1;
    return LA_OK;
}

/* 1 if the code point at s (k bytes) is a vocabulary token by itself: its
 * symbol's string is then exactly that code point. */
static int known_char(const tk_bpe *m, const char *s, size_t k)
{
    return vocab_find(m, s, k) != UINT32_MAX;
}

/* End of the chunk starting at `from`: the first position p > from where
 * the code points a|b around p are both single-token characters and "ab"
 * occurs in no token, or len. */
static size_t bpe_chunk_end_slow(const tk_bpe *m, const char *s, size_t len, size_t from)
{
    size_t i = from;
    int32_t a;
    size_t ka = tk_utf8_decode((const unsigned char *)s + i, len - i, &a);
    if (!ka)
        ka = 1, a = -1;
    int a_known = a >= 0 && known_char(m, s + i, ka);
    i += ka;
    while (i < len) {
        int32_t b;
        size_t kb = tk_utf8_decode((const unsigned char *)s + i, len - i, &b);
        if (!kb)
            kb = 1, b = -1;
        int b_known = b >= 0 && known_char(m, s + i, kb);
        if (a_known && b_known && !pair_has(m, pair_key(a, b)))
            return i;
        a = b;
        a_known = b_known;
        i += kb;
    }
    return len;
}

/* The same, with the tables while the characters have entries there
 * (a boundary between a table character and another one is judged
 * by bpe_chunk_end_slow from that character on). */
/* The end of the chunk at `from` by the tables (small_ready), falling
 * back on bpe_chunk_end_slow from the first other character. */
static inline __attribute__((always_inline)) size_t chunk_end_table(const tk_bpe *m, const char *s, size_t len,
                                                                   size_t from)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = from, ka;
    int a = small_index(u + i, len - i, &ka);
    if (a < 0)
        return bpe_chunk_end_slow(m, s, len, from);
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
            return bpe_chunk_end_slow(m, s, len, pa);
        }
    }
    return len;
}

static size_t bpe_chunk_end(const tk_bpe *m, const char *s, size_t len, size_t from)
{
    if (!m->small_ready || m->no_fast)
        return bpe_chunk_end_slow(m, s, len, from);
    return chunk_end_table(m, s, len, from);
}

/* The id of chunk u[0..k) when it is one table character that is a
 * token by itself (a digit, a punctuation mark, the metaspace: a fifth of
 * the chunks of GSM8K's answers), with no merge to look up; else -1. */
static inline int32_t chunk_small_id(const tk_bpe *m, const unsigned char *u, size_t k)
{
    if (k == 1 && u[0] < 0x80)
        return m->small_id[u[0]];
    if (k == 3 && u[0] == 0xE2 && u[1] == 0x96 && u[2] == 0x81)
        return m->small_id[128];
    return -1;
}

/* ---- merging ------------------------------------------------------------ */

static int work_grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return LA_OK;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * size);
    if (!q)
        return LA_ENOMEM;
    *p = q;
    *cap = c;
    return LA_OK;
}

/* This thread's scratch, created on first use. */
static bpe_work *get_work(la_tok_work *w)
{
    if (!w->bpe)
        w->bpe = calloc(1, sizeof(bpe_work));
    return w->bpe;
}

static void cache_unmap(word_cache *c)
{
    if (c->e)
        munmap(c->e, (size_t)c->slots * sizeof *c->e);
    c->e = NULL;
    c->slots = 0;
}

void tk_bpe_work_free(void *p)
{
    bpe_work *bw = p;
    if (!bw)
        return;
    free(bw->sym);
    free(bw->heap);
    free(bw->ids);
    cache_unmap(&bw->cache);
    cache_unmap(&bw->pcache);
    la_buf_free(&bw->tmp);
    free(bw);
}

/* Appends a symbol (Word::add). */
static void sym_add(bpe_work *bw, uint32_t id, uint32_t len)
{
    size_t n = bw->nsym;
    bw->sym[n] = (bpe_sym){ n ? (int32_t)n - 1 : -1, -1, id, len };
    if (n)
        bw->sym[n - 1].next = (int32_t)n;
    bw->nsym = n + 1;
}

/* Heap order: lower rank first, then lower position. */
static int merge_before(const bpe_merge *x, const bpe_merge *y)
{
    return x->rank != y->rank ? x->rank < y->rank : x->pos < y->pos;
}

static void heap_push(bpe_work *bw, bpe_merge e)
{
    size_t i = bw->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!merge_before(&e, &bw->heap[p]))
            break;
        bw->heap[i] = bw->heap[p];
        i = p;
    }
    bw->heap[i] = e;
}

static bpe_merge heap_pop(bpe_work *bw)
{
    bpe_merge top = bw->heap[0], last = bw->heap[--bw->nheap];
    size_t i = 0, n = bw->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && merge_before(&bw->heap[c + 1], &bw->heap[c]))
            c++;
        if (!merge_before(&bw->heap[c], &last))
            break;
        bw->heap[i] = bw->heap[c];
        i = c;
    }
    if (n)
        bw->heap[i] = last;
    return top;
}

/* Pushes the merge of the pair starting at symbol pos, if there is one. */
static void queue_pair(const tk_bpe *m, bpe_work *bw, size_t pos, uint32_t right_id)
{
    uint32_t rank, new_id;
    if (merge_get(m, bw->sym[pos].id, right_id, &rank, &new_id))
        heap_push(bw, (bpe_merge){ rank, (uint32_t)pos, new_id });
}

#define SMALL_WORD 24

/* merge_all for a word of few symbols, with the same merges in the same
 * order: each symbol keeps the rank and result of the pair it starts, and
 * a scan takes the lowest rank, leftmost on ties (the heap's order), as
 * long as one is left; only the pairs beside a merge are looked up again.
 * (A word's first tokenization, which direct previews do once per word,
 * takes 30% fewer instructions so on GSM8K's first words.) */
static void merge_small(const tk_bpe *m, bpe_work *bw)
{
    uint32_t rank[SMALL_WORD], new_id[SMALL_WORD];
    bpe_sym *sym = bw->sym;
    size_t n = bw->nsym;
    for (size_t i = 0; i < n; i++)
        if (i + 1 >= n || !merge_get(m, sym[i].id, sym[i + 1].id, &rank[i], &new_id[i]))
            rank[i] = UINT32_MAX;
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
        if (cur->prev >= 0 && !merge_get(m, sym[cur->prev].id, cur->id, &rank[cur->prev], &new_id[cur->prev]))
            rank[cur->prev] = UINT32_MAX;
        if (cur->next < 0 || !merge_get(m, cur->id, sym[cur->next].id, &rank[best], &new_id[best]))
            rank[best] = UINT32_MAX;
    }
}

/* HuggingFace's merge_all: pop the best merge; skip it if its left symbol
 * is gone, is last, or the pair there no longer yields the same token;
 * otherwise merge and queue the new pairs on both sides. The heap never
 * holds more than one entry per pair popped plus the initial ones, so
 * room for 2 * nsym entries is enough. Words of few symbols go the
 * scanning way (merge_small). */
static void merge_all(const tk_bpe *m, bpe_work *bw)
{
    if (bw->nsym <= SMALL_WORD && !m->no_fast) {
        if (bw->nsym > 1)
            merge_small(m, bw);
        return;
    }
    bw->nheap = 0;
    for (size_t i = 0; i + 1 < bw->nsym; i++)
        queue_pair(m, bw, i, bw->sym[i + 1].id);
    while (bw->nheap) {
        bpe_merge top = heap_pop(bw);
        bpe_sym *cur = &bw->sym[top.pos];
        if (cur->len == 0 || cur->next == -1)
            continue;
        bpe_sym right = bw->sym[cur->next];
        uint32_t rank, new_id;
        if (!merge_get(m, cur->id, right.id, &rank, &new_id) || new_id != top.new_id)
            continue;
        bw->sym[cur->next].len = 0;
        cur->id = top.new_id;
        cur->len += right.len;
        cur->next = right.next;
        if (right.next >= 0)
            bw->sym[right.next].prev = (int32_t)top.pos;
        if (cur->prev >= 0)
            queue_pair(m, bw, (size_t)cur->prev, cur->id);
        if (cur->next >= 0)
            queue_pair(m, bw, top.pos, bw->sym[cur->next].id);
    }
}

/* Builds the symbols of one word (BPE::merge_word): each character's
 * token (with the continuing prefix after the first and the suffix on
 * the last), else its "<0xNN>" bytes with byte_fallback, else unk
 * (fused if fuse_unk), else nothing. */
static int word_symbols(const tk_bpe *m, bpe_work *bw, const char *s, size_t len, la_buf *tmp,
                        la_err *err)
{
    bw->nsym = 0;
    int64_t unk = -1;
    uint32_t unk_len = 0;
    for (size_t i = 0; i < len;) {
        size_t k = tk_utf8_len((const unsigned char *)s + i, len - i);
        if (!k)
            k = 1;
        const char *cs = s + i;
        size_t cl = k;
        if (m->small_ready && !m->no_fast) {
            /* ASCII and the metaspace from the table (no prefix or
             * suffix then): no hashing for most characters of a word */
            size_t sk;
            int a = small_index((const unsigned char *)s + i, len - i, &sk);
            if (a >= 0 && sk == k && m->small_id[a] >= 0) {
                if (unk >= 0)
                    sym_add(bw, (uint32_t)unk, unk_len);
                unk = -1;
                sym_add(bw, (uint32_t)m->small_id[a], (uint32_t)k);
                i += k;
                continue;
            }
        }
        if ((m->prefix && i > 0) || (m->suffix && i + k == len)) {
            la_buf_clear(tmp);
            if ((m->prefix && i > 0 && la_buf_append(tmp, m->prefix, m->prefix_len)) ||
                la_buf_append(tmp, s + i, k) ||
                (m->suffix && i + k == len && la_buf_append(tmp, m->suffix, m->suffix_len)))
                return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
            cs = tmp->data;
            cl = tmp->len;
        }
        uint32_t e = vocab_find(m, cs, cl);
        if (e != UINT32_MAX) {
            if (unk >= 0)
                sym_add(bw, (uint32_t)unk, unk_len);
            unk = -1;
            sym_add(bw, m->ents[e].id, (uint32_t)k);
        } else {
            int all = m->byte_fallback;
            for (size_t j = 0; all && j < cl; j++)
                all = m->byte_id[(unsigned char)cs[j]] >= 0;
            if (all) {
                for (size_t j = 0; j < cl; j++)
                    sym_add(bw, (uint32_t)m->byte_id[(unsigned char)cs[j]], 1);
            } else if (m->has_unk) {
                if (m->unk_id < 0)
                    return la_err_set(err, LA_EDATA, "bad_tokenizer",
                                      "tokenizer: model: unk_token is not in the vocabulary");
                if (unk >= 0 && m->fuse_unk) {
                    unk_len += (uint32_t)k;
                } else {
                    if (unk >= 0)
                        sym_add(bw, (uint32_t)unk, unk_len);
                    unk = m->unk_id;
                    unk_len = (uint32_t)k;
                }
            }
        }
        i += k;
    }
    if (unk >= 0)
        sym_add(bw, (uint32_t)unk, unk_len);
    return LA_OK;
}

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

/* BPE of one word, pushing its ids to the sink. */
static int bpe_word(const tk_bpe *m, bpe_work *bw, const char *s, size_t len, tk_sink *sink,
                    la_err *err)
{
    /* byte fallback: one symbol per byte of prefix + character + suffix;
     * the heap gets the initial pairs plus at most two per merge */
    size_t need = len * (4 + m->prefix_len) + m->suffix_len + 8;
    if (work_grow((void **)&bw->sym, &bw->symcap, need, sizeof *bw->sym) ||
        work_grow((void **)&bw->heap, &bw->heapcap, 3 * need, sizeof *bw->heap) ||
        work_grow((void **)&bw->ids, &bw->idcap, need, sizeof *bw->ids))
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    int rc = word_symbols(m, bw, s, len, &bw->tmp, err);
    if (rc != LA_OK)
        return rc;
    merge_all(m, bw);
    size_t n = 0;
    for (size_t i = 0; i < bw->nsym; i++)
        if (bw->sym[i].len)
            bw->ids[n++] = bw->sym[i].id;
    return n && sink->push(sink, bw->ids, n) ? 1 : 0;
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
 * a run that puts a few words in it (GSM8K with Llama-2's direct
 * previews: 6 words in all) pays for a few pages, not for all 32 of the
 * first size (a page's first touch cost 14 us on a virtual machine,
 * where writing each entry's length took 62 page faults of such a run). */
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
    const bpe_work *bw = w->bpe;
    return bw ? bw->cache.slots : 0;
}

/* This thread's word cache for model m. */
static word_cache *cache_ready(const tk_bpe *m, bpe_work *bw)
{
    return cache_for(m, &bw->cache);
}

/* The piece cache of this thread for model m (see tk_bpe_piece_get),
 * NULL when it cannot be had. */
static word_cache *piece_cache(const tk_bpe *m, la_tok_work *w)
{
    bpe_work *bw = get_work(w);
    if (!bw || m->no_fast)
        return NULL;
    return cache_for(m, &bw->pcache);
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

/* bpe_word through this thread's word cache: a word's tokens depend on
 * the model and the word alone. The cache is allocated on first use and
 * grows once (cache_for). It is two-way set-associative: a word goes to
 * the first way of its set and the older one moves to the second, so two
 * frequent words that share a set do not evict each other. */
static int bpe_word_cached(const tk_bpe *m, bpe_work *bw, const char *s, size_t len, tk_sink *sink,
                           la_err *err)
{
    if (m->no_fast || len > CACHE_KEY || !cache_ready(m, bw))
        return bpe_word(m, bw, s, len, sink, err);
    uint64_t h = tk_word_hash(s, len);
    cache_entry *e = cache_set(&bw->cache, h);
    const cache_entry *hit = cache_find(e, h, s, len);
    if (hit)
        return hit->nids && sink->push(sink, hit->ids, hit->nids) ? 1 : 0;
    /* computed by bpe_word, with a sink that keeps the ids */
    e[1] = e[0];
    cache_sink cs = { { cache_push, NULL }, sink, e, 0 };
    e->klen = 0;
    int rc = bpe_word(m, bw, s, len, &cs.sink, err);
    if (rc >= 0 && cs.fits) {
        bw->cache.taken++;
        e->hash = (uint32_t)(h >> 32);
        e->klen = (uint8_t)(len + 1);
        memcpy(e->key, s, len);
    }
    return rc;
}

/* tk_bpe_tokenize and tk_bpe_tokenize_once: words through this
 * thread's word cache, or not. */
static int tokenize(const tk_bpe *m, const char *piece, size_t len, tk_sink *sink, la_tok_work *w,
                    int cached, la_err *err)
{
    if (len == 0)
        return 0;
    if (m->kind != TK_MODEL_BPE)
        return m->ext_tokenize(m, m->ext, piece, len, sink, w, err);
    bpe_work *bw = get_work(w);
    if (!bw)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    if (m->ignore_merges && len <= m->max_token_len) {
        uint32_t e = vocab_find(m, piece, len);
        if (e != UINT32_MAX) {
            uint32_t id = m->ents[e].id;
            return sink->push(sink, &id, 1) ? 1 : 0;
        }
    }
    for (size_t from = 0; from < len;) {
        size_t end = m->pairs ? bpe_chunk_end(m, piece, len, from) : len;
        int rc = cached ? bpe_word_cached(m, bw, piece + from, end - from, sink, err)
                        : bpe_word(m, bw, piece + from, end - from, sink, err);
        if (rc != 0)
            return rc;
        from = end;
    }
    return 0;
}

int tk_bpe_word_spans(const tk_bpe *m, la_tok_work *w, const char *s, size_t len, uint32_t *ids,
                      uint32_t *lens, size_t max, size_t *n, la_err *err)
{
    *n = 0;
    /* (a token's string is the one its id maps back to: with ids shared
     * by several strings, the id may stand for another) */
    if (len == 0 || m->kind != TK_MODEL_BPE || m->prefix || m->suffix || m->ignore_merges || m->ids_shared)
        return 0;
    bpe_work *bw = get_work(w);
    size_t need = len * 4 + 8;
    if (!bw || work_grow((void **)&bw->sym, &bw->symcap, need, sizeof *bw->sym) ||
        work_grow((void **)&bw->heap, &bw->heapcap, 3 * need, sizeof *bw->heap))
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    int rc = word_symbols(m, bw, s, len, &bw->tmp, err);
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
    merge_all(m, bw);
    for (size_t i = 0; i < bw->nsym; i++)
        if (bw->sym[i].len) {
            if (*n == max)
                return 0;
            ids[*n] = bw->sym[i].id;
            lens[(*n)++] = bw->sym[i].len;
        }
    return 1;
}

int tk_bpe_tokenize(const tk_bpe *m, const char *piece, size_t len, tk_sink *sink,
                    la_tok_work *w, la_err *err)
{
    return tokenize(m, piece, len, sink, w, 1, err);
}

int tk_bpe_tokenize_once(const tk_bpe *m, const char *piece, size_t len, tk_sink *sink,
                         la_tok_work *w, la_err *err)
{
    return tokenize(m, piece, len, sink, w, 0, err);
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
    if (!m->pmask || (m->ignore_merges && len <= m->max_token_len))
        return 2;
    if (!m->small_ready || m->no_fast)
        return 3;
    bpe_work *bw = get_work(w);
    /* the cache as a whole: bpe_word_cached may grow it (new entries) */
    word_cache *cache = bw ? cache_ready(m, bw) : NULL;
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
            int rc = bpe_word_cached(m, bw, piece + from, k, &ps.sink, err);
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

int tk_bpe_can_cut(const tk_bpe *m)
{
    return m->pmask != 0;
}

int tk_bpe_ignores_merges(const tk_bpe *m) { return m->ignore_merges; }

size_t tk_bpe_chunk_end(const tk_bpe *m, const char *s, size_t len, size_t from)
{
    return m->pmask ? bpe_chunk_end(m, s, len, from) : len;
}

int tk_bpe_cut_between(const tk_bpe *m, const char *a, size_t na, const char *b, size_t nb)
{
    char s[8];
    if (!m->pmask || na == 0 || nb == 0 || na > 4 || nb > 4)
        return 0;
    memcpy(s, a, na);
    memcpy(s + na, b, nb);
    return bpe_chunk_end(m, s, na + nb, 0) == na;   /* by the tables when they have both */
}

int tk_bpe_tokenize_prefix(const tk_bpe *m, const char *piece, size_t len, tk_sink *sink,
                           la_tok_work *w, la_err *err)
{
    if (!m->pmask || (m->ignore_merges && len <= m->max_token_len))
        return 2;
    bpe_work *bw = get_work(w);
    if (!bw)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    int small = m->small_ready && !m->no_fast;
    for (size_t from = 0; from < len;) {
        size_t end = bpe_chunk_end(m, piece, len, from);
        if (end == len)
            break;            /* the last chunk may go on past the window */
        size_t k = end - from;
        int32_t id = small ? chunk_small_id(m, (const unsigned char *)piece + from, k) : -1;
        int rc;
        if (id >= 0) {
            uint32_t x = (uint32_t)id;
            rc = sink->push(sink, &x, 1) ? 1 : 0;
        } else {
            rc = bpe_word_cached(m, bw, piece + from, k, sink, err);
        }
        if (rc != 0)
            return rc;
        from = end;
    }
    return 2;
}
