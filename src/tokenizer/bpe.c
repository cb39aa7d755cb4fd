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
 *
 * Its accelerators are elsewhere: the merge of short words by a scan,
 * the per-thread word caches and the uses of the tables of common
 * characters in bpe_words.c, which also holds the entry points of
 * tokenizing (tk_bpe_tokenize and its kin) and picks there, by bpe_use
 * (bpe_int.h), whether they are tried. The functions here are the plain
 * computation and take no shortcut of their own; the compact merge table
 * is the model's merge table when it is the only one (a model read from a
 * cache image).
 */
#include "tokenizer/bpe_int.h"
#include "tokenizer/tk_test.h"
#include "json.h"

#include <errno.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <pthread.h>
#include <stddef.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

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

uint32_t bpe_vocab_find(const tk_bpe *m, const char *s, size_t n) { return vocab_find(m, s, n); }

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
tk_model_ext *tk_bpe_ext(const tk_bpe *m) { return m->ext; }

/* Adds (or, for a repeated key, re-assigns) token s (whose hash_bytes
 * is h) -> id, as a HashMap built from the JSON object would: the last
 * value of a key wins. */
static int vocab_put_h(tk_bpe *m, const char *s, size_t n, uint32_t id, uint64_t h)
{
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
        char *a = tk_table_grow(m->arena, m->arena_len, cap);
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

static int vocab_put(tk_bpe *m, const char *s, size_t n, uint32_t id)
{
    return vocab_put_h(m, s, n, id, hash_bytes(s, n));
}

/* Index of the first byte at or after i that is not JSON white space. */
static inline size_t skip_ws(const char *p, size_t n, size_t i)
{
    return la_json_ws_run(p, n, i);
}

/* Walks the members of the valid object p[0..n): each call gives the
 * next key and value spans, 0 at the end. *pos starts at 0. */
static int next_member(const char *p, size_t n, size_t *pos, la_span *key, la_span *val)
{
    size_t i = *pos ? *pos : skip_ws(p, n, 0) + 1;
    i = skip_ws(p, n, i);
    if (i < n && p[i] == ',')
        i = skip_ws(p, n, i + 1);
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

/* Occurrences of byte c in s[0..n), 16 bytes at a time: each lane
 * counts its matches (a match compares to -1, subtracted) for up to 255
 * blocks, then the lanes are summed by _mm_sad_epu8. No popcount: the
 * build targets any x86-64, where __builtin_popcount is a library call. */
static size_t count_byte(const char *s, size_t n, char c)
{
    size_t k = 0, i = 0;
#ifdef __SSE2__
    const __m128i cv = _mm_set1_epi8(c), zero = _mm_setzero_si128();
    while (i + 16 <= n) {
        __m128i acc = zero;
        for (int b = 0; b < 255 && i + 16 <= n; b++, i += 16)
            acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(s + i)), cv));
        __m128i sum = _mm_sad_epu8(acc, zero);
        k += (size_t)_mm_cvtsi128_si32(sum) + (size_t)_mm_cvtsi128_si32(_mm_unpackhi_epi64(sum, sum));
    }
#endif
    for (; i < n; i++)
        k += s[i] == c;
    return k;
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

/* Vocabulary members are added in batches: the slots of a batch's
 * tokens are hashed and prefetched before any is added, so that their
 * cache misses overlap (a large vocabulary's slots are far larger than
 * the caches). A token with escapes is unescaped and added on its own,
 * after the batch before it, so the order of adding stays the file's. */
#define VOCAB_BATCH 16

typedef struct {
    const char *s;
    size_t len;
    uint32_t id;
    uint64_t h;
} pending_token;

/* Adds q[0..n) in order; LA_ENOMEM when one cannot be. */
static int vocab_put_batch(tk_bpe *m, pending_token *q, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        q[i].h = hash_bytes(q[i].s, q[i].len);
        __builtin_prefetch(&m->vslot[(uint32_t)q[i].h & m->vmask]);
    }
    for (size_t i = 0; i < n; i++)
        if (vocab_put_h(m, q[i].s, q[i].len, q[i].id, q[i].h) != LA_OK)
            return LA_ENOMEM;
    return LA_OK;
}

#define VOCAB_SORT_BITS 12

/* The first pass for member x of the list (its key at p + x->key): its
 * string into the arena, its entry (number e) and its hash into h[e];
 * *most is the largest id so far. 0 for a bad id or escape, or no room. */
static int listed_put(tk_bpe *m, const char *p, const la_int_member *x, size_t e, la_buf *tmp, uint64_t *h,
                      uint32_t *most)
{
    const char *str = p + x->key + 1;
    size_t len = x->len - 2;
    if (x->value > UINT32_MAX ||
        (!x->plain && string_text(p, (la_span){ x->key, (size_t)x->key + x->len }, tmp, &str, &len) != LA_OK) ||
        m->arena_len + len + 1 > m->arena_cap || e >= m->ents_cap)
        return 0;
    memcpy(m->arena + m->arena_len, str, len);
    m->arena[m->arena_len + len] = 0;
    m->ents[e] = (vocab_entry){ (uint32_t)m->arena_len, (uint32_t)len, (uint32_t)x->value };
    m->arena_len += len + 1;
    h[e] = hash_bytes(str, len);
    m->max_token_len = len > m->max_token_len ? len : m->max_token_len;
    *most = (uint32_t)x->value > *most ? (uint32_t)x->value : *most;
    return 1;
}

/* The second pass: the hash slots of the count entries (hashes h) filled
 * in the order of where they fall. 0 for a repeated key (or no memory). */
static int listed_slots(tk_bpe *m, const uint64_t *h, size_t count)
{
    uint32_t *order = malloc((count ? count : 1) * sizeof *order);
    uint32_t *at = calloc((size_t)1 << VOCAB_SORT_BITS, sizeof *at);
    int ok = order && at;
    /* the entries by the top bits of their home slot, stable */
    unsigned bits = 0;
    while (((size_t)1 << bits) < (size_t)m->vmask + 1)
        bits++;
    unsigned shift = bits > VOCAB_SORT_BITS ? bits - VOCAB_SORT_BITS : 0;
    for (size_t e = 0; ok && e < count; e++)
        at[((uint32_t)h[e] & m->vmask) >> shift]++;
    for (uint32_t b = 0, sum = 0; ok && b < ((uint32_t)1 << VOCAB_SORT_BITS); b++) {
        uint32_t c = at[b];
        at[b] = sum;
        sum += c;
    }
    for (size_t e = 0; ok && e < count; e++)
        order[at[((uint32_t)h[e] & m->vmask) >> shift]++] = (uint32_t)e;
    for (size_t k = 0; ok && k < count; k++) {
        uint32_t e = order[k], tag = (uint32_t)(h[e] >> 32), i = (uint32_t)h[e] & m->vmask;
        const vocab_entry *v = &m->ents[e];
        for (; m->vslot[i].ent; i = (i + 1) & m->vmask) {
            const vocab_entry *o = &m->ents[m->vslot[i].ent - 1];
            if (m->vslot[i].tag == tag && o->len == v->len && memcmp(m->arena + o->off, m->arena + v->off, v->len) == 0) {
                ok = 0;           /* a repeated key: its last id counts, as the usual way says */
                break;
            }
        }
        if (ok)
            m->vslot[i] = (vocab_slot){ tag, e + 1 };
    }
    free(order);
    free(at);
    if (ok)
        m->n_ents = (uint32_t)count;
    return ok;
}

/* The vocabulary from the members the validator kept (list), in two
 * passes: the strings into the arena and the entries in the file's order,
 * each hashed; then the hash slots filled in the order of where they
 * fall (a counting sort on their top bits), so that the table, larger
 * than the caches, is gone over nearly in order rather than at random.
 * 1 when done; 0 when the list has a repeated key, a token with a bad id
 * or escape, or memory runs short: the caller then reads the object the
 * usual way (one member at a time, in order), which says what is wrong. */
static int vocab_from_list(tk_bpe *m, const char *p, const la_int_members *list, la_buf *tmp, uint32_t *maxid)
{
    size_t count = list->n;
    uint64_t *h = malloc((count ? count : 1) * sizeof *h);
    int ok = h != NULL;
    uint32_t most = 0;
    for (size_t e = 0; ok && e < count; e++)
        ok = listed_put(m, p, &list->m[e], e, tmp, h, &most);
    ok = ok && listed_slots(m, h, count);
    free(h);
    if (ok)
        *maxid = most;
    return ok;
}

static int vocab_ids(tk_bpe *m, size_t count, uint32_t maxid, la_err *err);

/* Reads the "vocab" object p[0..n): token -> non-negative integer id.
 * known is its number of members, or SIZE_MAX to count them first; list,
 * when not NULL, holds them as the validator went over them (known of
 * them, keys placed from p), so they are not scanned again unless
 * vocab_from_list gives up. */
static int load_vocab(tk_bpe *m, const char *p, size_t n, size_t known, const la_int_members *list, la_err *err)
{
    size_t pos = 0, count = 0;
    la_span k, v;
    if (n == 0 || p[la_json_ws(p, n, 0)] != '{')
        return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: \"vocab\" is not an object");
    if (known != SIZE_MAX)
        count = known;
    else
        while (next_member(p, n, &pos, &k, &v))
            count++;
    if (count >= UINT32_MAX / 4)
        return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: vocabulary too large");
    m->ents_cap = (uint32_t)count;
    m->ents = tk_table_alloc((count ? count : 1) * sizeof *m->ents);
    uint32_t cap = table_size(count);
    m->vslot = tk_table_alloc((size_t)cap * sizeof *m->vslot);
    m->arena_cap = n + 1;                      /* the strings are no longer than the JSON */
    m->arena = tk_table_alloc(m->arena_cap);
    if (!m->ents || !m->vslot || !m->arena)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
    m->vmask = cap - 1;
    uint32_t maxid = 0;
    la_buf tmp = {0};
    int rc = LA_OK;
    pending_token q[VOCAB_BATCH];
    size_t nq = 0;
    pos = 0;
    int listed = list && list->n == count && vocab_from_list(m, p, list, &tmp, &maxid);
    if (list && !listed) {        /* the usual way, from the start, which says what is wrong */
        memset(m->vslot, 0, (size_t)cap * sizeof *m->vslot);
        m->n_ents = 0;
        m->arena_len = 0;
        m->max_token_len = 0;
        maxid = 0;
    }
    while (!listed) {
        int more = next_member(p, n, &pos, &k, &v);
        const char *s = NULL;
        size_t len = 0;
        uint32_t id = 0;
        int plain = more && la_json_string_is_plain(p, k), bad = more && !parse_u32(p, v, &id);
        /* the batch goes in before an error is said, a token with
         * escapes, or the end */
        if (nq && (nq == VOCAB_BATCH || !more || !plain || bad)) {
            if (vocab_put_batch(m, q, nq) != LA_OK) {
                rc = la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
                break;
            }
            nq = 0;
        }
        if (!more)
            break;
        if (bad || (!plain && string_text(p, k, &tmp, &s, &len) != LA_OK)) {
            rc = la_err_set(err, LA_EDATA, "bad_tokenizer",
                            "tokenizer: model: vocab entry %zu: bad token or id (not a u32)", (size_t)m->n_ents);
            break;
        }
        if (!plain && vocab_put(m, s, len, id) != LA_OK) {
            rc = la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
            break;
        }
        if (plain)
            q[nq++] = (pending_token){ p + k.start + 1, k.end - k.start - 2, id, 0 };
        maxid = id > maxid ? id : maxid;
    }
    la_buf_free(&tmp);
    if (rc != LA_OK)
        return rc;
    return vocab_ids(m, count, maxid, err);
}

/* The vocabulary's ids, once its count entries (ids up to maxid) are in:
 * by_id, and whether an id has two strings. */
static int vocab_ids(tk_bpe *m, size_t count, uint32_t maxid, la_err *err)
{
    if (maxid >= UINT32_MAX - 1 || (uint64_t)maxid + 1 > 64 * (uint64_t)(count + 1024))
        return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: vocab ids too sparse");
    m->id_count = count ? maxid + 1 : 0;
    m->by_id = tk_table_alloc((m->id_count ? m->id_count : 1) * sizeof *m->by_id);
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

/* Merges are read in batches: the three vocabulary lookups of every
 * merge of a batch (left, right, merged string) have their hashes and
 * their slots prefetched before any is resolved, and the pair slots likewise
 * before the inserts, so that the cache misses of a batch overlap. */
#define MERGE_BATCH 32

/* A merge parsed, waiting to be looked up and inserted: as small as it
 * goes (a chunk's thousand of them are written by one thread and read by
 * another), the merged token made only while it is looked up. */
typedef struct {
    const char *s[2];            /* a and b */
    uint64_t h[2];               /* their hash_bytes (when parsed) */
    uint32_t len[2];
    uint32_t off[2];             /* a or b kept in the chunk's store: where (see stored) */
    uint32_t rank;
    uint32_t new_id;             /* the merged token's id, once looked up */
    uint64_t key;                /* the ids of a and b, once looked up */
    uint8_t short_b;             /* b shorter than continuing_subword_prefix */
    uint8_t stored;              /* bit k: s[k] is at off[k] of the store, not in the bytes read */
} pending_merge;

/* Where a merge's merged token is looked for first. In the files of
 * every family seen, merges come in the order of their merged tokens'
 * ids: a merge makes the token the merge before it made (two merges of
 * one token) or the next id (Llama-3, Gemma-3, GPT-OSS), or always the
 * next (GPT-4o, Qwen3, DeepSeek-V3: id = rank + a constant). So the
 * merged token is first compared with the strings of those two ids,
 * which reads by_id and the arena in order and hashes nothing; only a
 * miss takes the third lookup. by_id names, for each id, a string of
 * the vocabulary as finally read (a repeated key's last id), so an id
 * whose string is the merged token is the id the vocabulary gives it. */
typedef struct {
    int64_t last;                 /* the id the merge before made; -1: not known */
    int step;                     /* 0 or 1: which of last and last + 1 held last */
    uint32_t tries, hits;         /* merges guessed, and right */
} merge_guess;

/* Guessing stops once a file shows it is not ordered so: after this
 * many guesses, fewer than nine in ten right. */
#define GUESS_TRIAL 4096

static int guessing(const merge_guess *g)
{
    return g->tries < GUESS_TRIAL || (uint64_t)g->hits * 10 >= (uint64_t)g->tries * 9;
}

/* 1 when id's string is merge e's merged token. */
static int id_is_merged(const tk_bpe *m, const pending_merge *e, size_t mlen, int64_t id, size_t prefix_len)
{
    if (id < 0 || id >= (int64_t)m->id_count)
        return 0;
    const id_slot *b = &m->by_id[id];
    size_t al = e->len[0];
    return b->len == mlen && tk_same_bytes(m->arena + b->off, e->s[0], al) &&
           tk_same_bytes(m->arena + b->off + al, e->s[1] + prefix_len, e->len[1] - prefix_len);
}

/* The id of merge e's merged token when one of the guesses holds, else
 * -1. */
static int64_t guessed_id(const tk_bpe *m, const pending_merge *e, size_t mlen, merge_guess *g, size_t prefix_len)
{
    if (e->short_b || g->last < 0)
        return -1;
    g->tries++;
    for (int k = 0; k < 2; k++) {
        int step = k ? 1 - g->step : g->step;
        if (id_is_merged(m, e, mlen, g->last + step, prefix_len)) {
            g->hits++;
            g->step = step;
            return g->last + step;
        }
    }
    return -1;
}

/* Resolves and inserts merges q[0..n) in order; the first failing one
 * sets the error (as one-by-one reading would: earlier merges do not
 * change the vocabulary). Their merged tokens (a, then b without its
 * first prefix_len bytes) are made in scratch, unless guessed (g): while
 * guessing, a merged token guessed wrong is looked up at once, so that
 * the next merge's guess starts from it; otherwise with the batch's other
 * lookups, its slot fetched beside theirs. */
static int lookup_merges(const tk_bpe *m, pending_merge *q, size_t n, const la_buf *store, la_buf *scratch,
                         size_t prefix_len, merge_guess *g, la_err *err)
{
    size_t need = 0;
    int64_t known[MERGE_BATCH];   /* the merged token's id; -1: looked up below; -2: not in the vocabulary */
    const char *ms[MERGE_BATCH];  /* the merged tokens (made when not guessed), */
    size_t ml[MERGE_BATCH];       /* their lengths */
    uint64_t mh[MERGE_BATCH];     /* and hashes */
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 2; k++)
            if (q[i].stored >> k & 1)
                q[i].s[k] = store->data + q[i].off[k];
        ml[i] = q[i].short_b ? 0 : (size_t)q[i].len[0] + q[i].len[1] - prefix_len;
        need += ml[i] + 1;
    }
    la_buf_clear(scratch);
    if (la_buf_reserve(scratch, need) != LA_OK)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
    char *at = scratch->data;
    int guess = guessing(g);
    for (size_t i = 0; i < n; i++) {
        known[i] = guess ? guessed_id(m, &q[i], ml[i], g, prefix_len) : -1;
        int third = known[i] < 0 && !q[i].short_b;
        ms[i] = at;
        mh[i] = 0;
        if (third) {
            memcpy(at, q[i].s[0], q[i].len[0]);
            memcpy(at + q[i].len[0], q[i].s[1] + prefix_len, q[i].len[1] - prefix_len);
            mh[i] = hash_bytes(ms[i], ml[i]);
            at += ml[i];
            *at++ = 0;
        }
        if (third && guess) {
            uint32_t en = vocab_find_h(m, ms[i], ml[i], mh[i]);
            known[i] = en == UINT32_MAX ? -2 : (int64_t)m->ents[en].id;
            g->last = known[i] < 0 ? -1 : known[i];
            third = 0;
        } else if (known[i] >= 0) {
            g->last = known[i];
        }
        for (int k = 0; k < 2; k++)
            __builtin_prefetch(&m->vslot[(uint32_t)q[i].h[k] & m->vmask]);
        if (third)
            __builtin_prefetch(&m->vslot[(uint32_t)mh[i] & m->vmask]);
    }
    for (size_t i = 0; i < n; i++) {
        pending_merge *e = &q[i];
        const char *a = e->s[0], *b = e->s[1];
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
        if (known[i] == -1) {
            uint32_t en = vocab_find_h(m, ms[i], ml[i], mh[i]);
            known[i] = en == UINT32_MAX ? -2 : (int64_t)m->ents[en].id;
        }
        if (known[i] < 0)
            return la_err_set(err, LA_EDATA, "bad_tokenizer",
                              "tokenizer: model: merged token \"%.40s\" is not in the vocabulary", ms[i]);
        e->new_id = (uint32_t)known[i];
        e->key = (uint64_t)m->ents[ea].id << 32 | m->ents[eb].id;
    }
    return LA_OK;
}

/* Inserts the merges q[0..n), looked up, in order: a repeated pair keeps
 * the later rank, as a HashMap collect would. */
static void insert_merges(tk_bpe *m, const pending_merge *q, size_t n)
{
    for (size_t i = 0; i < n; i += MERGE_BATCH) {
        size_t k = n - i < MERGE_BATCH ? n - i : MERGE_BATCH;
        for (size_t j = 0; j < k; j++)
            __builtin_prefetch(&m->merges[(uint32_t)hash_u64(q[i + j].key) & m->mmask]);
        for (size_t j = 0; j < k; j++)
            *merge_find(m, q[i + j].key) = (merge_slot){ q[i + j].key, q[i + j].rank, q[i + j].new_id };
    }
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
 * elements into chunks of pending merges, a second resolves them (looks
 * their parts up: lookup_merges) and inserts them in order
 * (insert_merges). Resolving is the longer of the two, so the parsing
 * thread, rather than wait for room in the ring, looks chunks up itself,
 * the newest first (the resolver takes the oldest): a chunk is looked up
 * by whichever thread claims it, and inserted by the resolver. Chunks go
 * round a ring; a small file is resolved chunk by chunk on this thread.
 * Errors come out as one thread would find them: the first failing
 * merge, the merges before an unreadable element being checked first. */
#define MERGE_CHUNK 1024
#define MERGE_RING 4
#define MERGE_THREADED 8192      /* merges (estimated) from which a second thread pays */
#define AHEAD_RING 32            /* chunks parsed ahead of the vocabulary being read */

enum { CHUNK_PARSED, CHUNK_CLAIMED, CHUNK_LOOKED_UP };

typedef struct {
    pending_merge q[MERGE_CHUNK];
    size_t n;
    la_buf store;                /* the chunk's strings */
    atomic_int state;            /* CHUNK_*: a thread that moves it from PARSED looks it up */
    int rc;                      /* the lookups' result, once LOOKED_UP */
    la_err err;
} merge_chunk;

/* A thread's own state for looking chunks up. */
typedef struct {
    la_buf scratch;              /* merged tokens */
    merge_guess guess;           /* where merged tokens are looked for first */
} merge_looker;

typedef struct {
    tk_bpe *m;
    merge_chunk *ring;           /* nring chunks: MERGE_RING, or 1 on this thread alone */
    size_t produced, consumed;   /* chunks handed over, chunks resolved */
    int done;                    /* the parser has handed over its last chunk */
    int failed;                  /* a chunk failed to resolve: frc and err say why */
    int frc;
    int threaded;
    int resolver_waits;          /* the resolver waits for a chunk */
    int parser_waits;            /* the parser waits for room in the ring */
    size_t nring;
    size_t prefix_len;           /* the continuing_subword_prefix's length */
    int can_look;                /* the vocabulary is in: chunks may be looked up */
    merge_looker look;           /* the resolver's */
    merge_looker help;           /* the parsing thread's */
    la_err err;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} merge_pipe;

/* Test hooks (tk_test.h): resolvers held until the parsing thread has
 * nothing left to look up, and the chunks parsing threads looked up. */
static atomic_int hold_resolver;
static atomic_ulong chunks_helped;

void tk_bpe_set_hold_resolver(int on) { atomic_store(&hold_resolver, on); }

unsigned long tk_bpe_chunks_helped(void) { return atomic_load(&chunks_helped); }

/* Looks chunk c up (claimed by this thread) with lk, and marks it so. */
static void lookup_chunk(merge_pipe *pp, merge_chunk *c, merge_looker *lk)
{
    int rc = LA_OK;
    for (size_t i = 0; i < c->n && rc == LA_OK; i += MERGE_BATCH)
        rc = lookup_merges(pp->m, c->q + i, c->n - i < MERGE_BATCH ? c->n - i : MERGE_BATCH, &c->store,
                           &lk->scratch, pp->prefix_len, &lk->guess, &c->err);
    c->rc = rc;
    atomic_store_explicit(&c->state, CHUNK_LOOKED_UP, memory_order_release);
}

/* Claims chunk c for looking up: 1 when this thread is to do it. */
static int claim_chunk(merge_chunk *c)
{
    int parsed = CHUNK_PARSED;
    return atomic_load_explicit(&c->state, memory_order_relaxed) == CHUNK_PARSED &&
           atomic_compare_exchange_strong(&c->state, &parsed, CHUNK_CLAIMED);
}

/* Resolves and inserts one chunk, the next in order: looked up here
 * unless the parsing thread claimed it (then waited for: it is at work
 * on it, a chunk's lookups long). */
static int resolve_chunk(merge_pipe *pp, merge_chunk *c)
{
    if (claim_chunk(c))
        lookup_chunk(pp, c, &pp->look);
    else
        while (atomic_load_explicit(&c->state, memory_order_acquire) != CHUNK_LOOKED_UP)
            sched_yield();
    if (c->rc != LA_OK) {
        pp->err = c->err;
        return c->rc;
    }
    insert_merges(pp->m, c->q, c->n);
    return LA_OK;
}

/* On the parsing thread, pp->mu held: looks up the newest chunk handed
 * over that no thread has claimed, the oldest left to the resolver. 1
 * when there was one (the lock was let go meanwhile), 0 when none. */
static int help_resolve(merge_pipe *pp)
{
    if (!pp->can_look || pp->failed)
        return 0;
    for (size_t k = pp->produced; k > pp->consumed + 1; k--) {
        merge_chunk *c = &pp->ring[(k - 1) % pp->nring];
        if (!claim_chunk(c))
            continue;
        pthread_mutex_unlock(&pp->mu);
        lookup_chunk(pp, c, &pp->help);
        atomic_fetch_add_explicit(&chunks_helped, 1, memory_order_relaxed);
        pthread_mutex_lock(&pp->mu);
        return 1;
    }
    return 0;
}

/* The parsing thread's part once it has handed over its last chunk:
 * the chunks not claimed yet looked up, while the resolver inserts (the
 * vocabulary is in by now: it waits, if need be, for the resolver to
 * have seen so). */
static void help_to_end(merge_pipe *pp)
{
    pthread_mutex_lock(&pp->mu);
    while (!pp->can_look && !pp->failed && pp->consumed < pp->produced)
        pthread_cond_wait(&pp->cv, &pp->mu);
    while (help_resolve(pp))
        ;
    pthread_mutex_unlock(&pp->mu);
}

static void looker_free(merge_looker *lk)
{
    la_buf_free(&lk->scratch);
}

static void *merge_resolver(void *arg)
{
    merge_pipe *pp = arg;
    pthread_mutex_lock(&pp->mu);
    for (;;) {
        while (((pp->consumed == pp->produced && !pp->done) ||
                (atomic_load(&hold_resolver) && !pp->done && !pp->parser_waits)) &&
               !pp->failed) {
            pp->resolver_waits = 1;
            pthread_cond_wait(&pp->cv, &pp->mu);
            pp->resolver_waits = 0;
        }
        if (pp->consumed == pp->produced || pp->failed)
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
        /* a waiting parser is woken once half the ring is free, not at
         * every chunk: each wake-up is a system call on this thread, the
         * one the loading waits for */
        if (rc != LA_OK || (pp->parser_waits && pp->produced - pp->consumed <= pp->nring / 2))
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
        if (pp->resolver_waits)
            pthread_cond_broadcast(&pp->cv);
        while (pp->produced - pp->consumed >= pp->nring && !pp->failed) {
            if (help_resolve(pp))
                continue;
            if (pp->resolver_waits)
                pthread_cond_broadcast(&pp->cv);   /* a resolver held for the test hook */
            pp->parser_waits = 1;
            pthread_cond_wait(&pp->cv, &pp->mu);
            pp->parser_waits = 0;
        }
        int failed = pp->failed;
        pthread_mutex_unlock(&pp->mu);
        if (failed)
            return NULL;
    }
    c = &pp->ring[pp->produced % pp->nring];
    c->n = 0;
    la_buf_clear(&c->store);
    atomic_store_explicit(&c->state, CHUNK_PARSED, memory_order_relaxed);   /* seen once handed over, under mu */
    return c;
}

/* 1 when s lies in p[0..n). */
static int in_bytes(const char *p, size_t n, const char *s)
{
    return (uintptr_t)s >= (uintptr_t)p && (uintptr_t)s < (uintptr_t)p + n;
}

/* Adds merge a b of the given rank to chunk c (not full): a part that
 * lies in the bytes read, p[0..n), is pointed to (they outlive the
 * resolving), another (unescaped) is copied into the chunk's store. The
 * merged token is a then b without its first prefix_len bytes (the
 * continuing_subword_prefix). The hashes of a and b are taken here, on
 * the parsing thread, which leaves the resolver (the longer of the two
 * once the vocabulary is in) less to do. */
static int put_merge(merge_chunk *c, const char *p, size_t n, const char *a, size_t al, const char *b, size_t bl,
                     size_t prefix_len, uint32_t rank)
{
    if (al > UINT32_MAX || bl > UINT32_MAX || c->store.len + al + bl > UINT32_MAX)
        return LA_ENOMEM;        /* not from a file of at most 1 GiB */
    pending_merge *x = &c->q[c->n++];
    x->rank = rank;
    x->short_b = bl < prefix_len;
    x->s[0] = a;
    x->s[1] = b;
    x->len[0] = (uint32_t)al;
    x->len[1] = (uint32_t)bl;
    x->stored = 0;
    for (int k = 0; k < 2; k++) {
        x->h[k] = hash_bytes(x->s[k], x->len[k]);
        if (!in_bytes(p, n, x->s[k])) {
            x->stored |= (uint8_t)(1 << k);
            x->off[k] = (uint32_t)c->store.len;
            if (la_buf_append(&c->store, x->s[k], x->len[k]) != LA_OK)
                return LA_ENOMEM;
        }
    }
    return LA_OK;
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
        if (put_merge(c, p, n, a, al, b, bl, m->prefix_len, rank++) != LA_OK) {
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

/* The merge table's size for the array at p[arr] (running to p[n]),
 * sized from its quotes: at least two per merge ("a b"), four per pair -
 * an upper bound that costs one pass without calls. */
static uint32_t cap_of(size_t quotes, int pairs, size_t *merges)
{
    size_t count = quotes / (pairs ? 4 : 2) + 1;
    uint32_t cap = 16;
    while (cap < count + count / 2 + 1)          /* load factor <= 2/3 */
        cap *= 2;
    if (merges)
        *merges = count;
    return cap;
}

static uint32_t merges_cap(const char *p, size_t n, size_t arr, size_t *merges)
{
    return cap_of(count_byte(p + arr, n - arr, '"'), p[skip_ws(p, n, arr + 1)] == '[', merges);
}

/* An empty merge table of cap slots for m. */
static int merges_alloc(tk_bpe *m, uint32_t cap)
{
    m->merges = tk_table_alloc((size_t)cap * sizeof *m->merges);
    if (!m->merges)
        return LA_ENOMEM;
    for (uint32_t i = 0; i < cap; i++)     /* whole slots: the tokenizer cache writes them out */
        m->merges[i] = (merge_slot){ UINT64_MAX, 0, 0 };
    m->mmask = cap - 1;
    return LA_OK;
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
    size_t count;
    if (merges_alloc(m, merges_cap(p, n, arr, &count)) != LA_OK)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");

    merge_pipe pp;
    memset(&pp, 0, sizeof pp);
    pp.m = m;
    pp.prefix_len = m->prefix_len;
    pp.can_look = 1;
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
        help_to_end(&pp);
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
    looker_free(&pp.look);
    looker_free(&pp.help);
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
uint64_t bpe_next_serial(void)
{
    static atomic_uint_fast64_t serial = 1;
    return (uint64_t)atomic_fetch_add(&serial, 1);
}

static int prepare_chunking(tk_bpe *m, la_err *err, atomic_int *stop);

/* The merges read while they are validated (tk_bpe_ahead_merges): parsed
 * on the validating thread, resolved on a thread of their own once the
 * vocabulary is in, into the model read ahead. */
typedef struct {
    merge_pipe pp;
    pthread_t tid;
    int started;                 /* tid runs */
    const char *p;               /* the array's bytes, set when all of it was read */
    size_t n;
    size_t prefix_len;           /* the continuing_subword_prefix length assumed */
    const char *src;             /* the bytes validated, from the array's '[' to their end */
    size_t src_n;
    int pairs;                   /* the first element is a pair */
    size_t quotes;               /* the quotes in src, counted by the resolver */
    size_t tail;                 /* those after the array */
    uint32_t cap;                /* the merge table's size, from quotes */
} ahead_merges;

struct tk_bpe_ahead {
    pthread_t tid;
    const char *p;
    size_t n, count;
    const la_int_members *list;  /* the members as validated, or NULL */
    /* streamed (tk_bpe_ahead_stream): the list is read as the validator
     * writes it, into tables sized for bound bytes; n, count, cut and
     * list_ok come with tk_bpe_ahead_confirm (confirmed set, under mu) */
    int stream;
    size_t bound;
    int confirmed, list_ok;
    int stream_cut;              /* cut as the stream began (cut is tk_bpe_ahead_confirm's) */
    struct pair_build *pb;       /* the cutting pairs begun while the stream waited, */
    uint32_t pairs_done;         /* for the entries before this one */
    atomic_int dropped;          /* tk_bpe_ahead_drop: the model is not wanted */
    tk_bpe *m;
    int rc;                      /* load_vocab's, with err */
    la_err err;
    int cut;                     /* make the chunking pairs */
    int chunked;                 /* they were made */
    atomic_int stop;             /* set: the pairs are not wanted */
    pthread_mutex_t mu;          /* vocab_done, for the merges' resolver */
    pthread_cond_t cv;
    int vocab_done;              /* load_vocab has returned (rc set) */
    ahead_merges *mg;            /* the merges read ahead, if any */
};

struct pair_build;
static int pairs_begin(tk_bpe *m, struct pair_build *pb);
static int pairs_token(tk_bpe *m, struct pair_build *pb, const unsigned char *s, size_t len);
static int pairs_rest(tk_bpe *m, struct pair_build *pb, uint32_t from, la_err *err, atomic_int *stop);
static void pairs_drop(tk_bpe *m);
static struct pair_build *pair_build_new(void);

/* Tokens whose cutting pairs are collected at a time while the stream
 * waits for the validator: few, so that new members are not kept waiting. */
#define PAIRS_IDLE_BATCH 256

static atomic_ulong vocabs_streamed;

unsigned long tk_bpe_vocabs_streamed(void) { return atomic_load(&vocabs_streamed); }

/* Waits a little for the validator to write more members: spinning
 * briefly, then sleeping a few batches' time (a spinning thread would
 * take from the validator what the two share of a core). */
static void wait_a_bit(unsigned *spins)
{
    if (++*spins < 64) {
#ifdef __SSE2__
        _mm_pause();
#endif
    } else {
        struct timespec ts = { 0, 50000 };
        nanosleep(&ts, NULL);
    }
}

/* Frees what the first pass of a streamed vocabulary made, for the usual
 * way to start over. */
static void vocab_unmade(tk_bpe *m)
{
    tk_table_free(m->ents);
    tk_table_free(m->vslot);
    tk_table_free(m->arena);
    m->ents = NULL;
    m->vslot = NULL;
    m->arena = NULL;
    m->n_ents = m->ents_cap = 0;
    m->arena_len = m->arena_cap = 0;
    m->max_token_len = 0;
}

/* The vocabulary from the validator's list while it is written (a
 * stream): each member's first pass (listed_put) as soon as it is
 * published, so that the strings and entries are in when the object's
 * validation ends; then, once the loading thread has said that the
 * object is whole and where it ends (tk_bpe_ahead_confirm), the hash
 * slots and the ids. Anything off (a bad or repeated key, a list given
 * up or not the object's) leaves it to load_vocab's usual way, from
 * the start, which says what is wrong. */
static int vocab_streamed(tk_bpe_ahead *a)
{
    tk_bpe *m = a->m;
    const la_int_members *list = a->list;
    la_buf tmp = {0};
    uint32_t most = 0;
    m->ents_cap = (uint32_t)list->cap;
    m->ents = tk_table_alloc(list->cap * sizeof *m->ents);
    m->arena_cap = a->bound + 1;                 /* the strings are no longer than the JSON */
    m->arena = tk_table_alloc(m->arena_cap);
    uint64_t *h = tk_table_alloc(list->cap * sizeof *h);
    int ok = m->ents && m->arena && h;
    /* the cutting pairs, when likely wanted, of the strings already in,
     * collected only while there is nothing else to do: the validator is
     * slower than the first pass, and the pairs would otherwise take a
     * core from the merges later */
    if (ok && a->stream_cut && (a->pb = pair_build_new()) != NULL && pairs_begin(m, a->pb) != LA_OK) {
        free(a->pb);
        a->pb = NULL;
    }
    size_t e = 0;
    for (unsigned spins = 0; ok;) {
        int closed = atomic_load_explicit(&list->closed, memory_order_acquire);
        size_t ready = atomic_load_explicit(&list->ready, memory_order_acquire);
        if (e < ready)
            spins = 0;
        for (; ok && e < ready; e++)
            ok = listed_put(m, a->p, &list->m[e], e, &tmp, h, &most);
        if (closed) {
            ok = ok && closed == 1;
            break;
        }
        if (atomic_load_explicit(&a->dropped, memory_order_relaxed)) {
            ok = 0;
        } else if (ok && a->pb && a->pairs_done < e) {
            uint32_t to = e - a->pairs_done > PAIRS_IDLE_BATCH ? a->pairs_done + PAIRS_IDLE_BATCH : (uint32_t)e;
            for (; a->pb && a->pairs_done < to; a->pairs_done++)
                if (pairs_token(m, a->pb, (const unsigned char *)m->arena + m->ents[a->pairs_done].off,
                                m->ents[a->pairs_done].len) != LA_OK) {
                    free(a->pb);     /* out of memory: made later, the usual way */
                    a->pb = NULL;
                }
        } else if (ok) {
            wait_a_bit(&spins);
        }
    }
    pthread_mutex_lock(&a->mu);
    while (!a->confirmed && !atomic_load(&a->dropped))
        pthread_cond_wait(&a->cv, &a->mu);
    int confirmed = a->confirmed;
    pthread_mutex_unlock(&a->mu);
    int rc = LA_EDATA;
    if (confirmed) {
        size_t count = a->count;
        ok = ok && a->list_ok && list->n == count && e == count && count < UINT32_MAX / 4;
        uint32_t cap = ok ? table_size(count) : 0;
        if (ok && (m->vslot = tk_table_alloc((size_t)cap * sizeof *m->vslot)) != NULL) {
            m->vmask = cap - 1;
            ok = listed_slots(m, h, count);
        } else {
            ok = 0;
        }
        if (ok) {
            rc = vocab_ids(m, count, most, &a->err);
            atomic_fetch_add_explicit(&vocabs_streamed, 1, memory_order_relaxed);
        } else {
            if (a->pb) {
                pairs_drop(m);
                free(a->pb);
                a->pb = NULL;
            }
            vocab_unmade(m);
            rc = load_vocab(m, a->p, a->n, a->count, NULL, &a->err);
        }
    }
    tk_table_free(h);
    la_buf_free(&tmp);
    return rc;
}

static void *ahead_main(void *arg)
{
    tk_bpe_ahead *a = arg;
    la_err cerr = {{0}, {0}};
    a->rc = a->stream ? vocab_streamed(a) : load_vocab(a->m, a->p, a->n, a->count, a->list, &a->err);
    pthread_mutex_lock(&a->mu);
    a->vocab_done = 1;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    /* then the pairs that cut long pieces, while the caller is still
     * validating: as for a model without a prefix or suffix (the options
     * are not read yet). The caller stops them when the model is not to
     * have them and drops them when it has either; a failure here is
     * left for the usual way to meet and say. */
    atomic_int *stop = a->cut == 2 ? NULL : &a->stop;
    if (a->pb && a->cut && a->rc == LA_OK)   /* begun in the stream: the rest */
        a->chunked = pairs_rest(a->m, a->pb, a->pairs_done, &cerr, stop) == LA_OK;
    else if (a->pb)
        pairs_drop(a->m);
    else
        a->chunked = a->cut && a->rc == LA_OK && prepare_chunking(a->m, &cerr, stop) == LA_OK;
    free(a->pb);
    a->pb = NULL;
    return NULL;
}

/* Forgets the chunking pairs and tables made ahead for a model that is
 * not to have them: it is then as if they had never been made. */
static void unchunk(tk_bpe *m)
{
    pairs_drop(m);
    m->small_ready = 0;
    memset(m->small_cut, 0, sizeof m->small_cut);
    memset(m->small_id, 0, sizeof m->small_id);
}

/* A read-ahead of the vocabulary at vocab, its thread started. */
static tk_bpe_ahead *ahead_new(const char *vocab, size_t len, size_t count, int cut, const la_int_members *list,
                               int stream, size_t bound)
{
    tk_bpe_ahead *a = calloc(1, sizeof *a);
    if (!a || !(a->m = calloc(1, sizeof *a->m))) {
        free(a);
        return NULL;
    }
    a->p = vocab;
    a->n = len;
    a->count = count;
    a->cut = cut;
    a->list = list;
    a->stream = stream;
    a->stream_cut = cut;
    a->bound = bound;
    atomic_init(&a->stop, 0);
    atomic_init(&a->dropped, 0);
    int mu = pthread_mutex_init(&a->mu, NULL) == 0, cv = mu && pthread_cond_init(&a->cv, NULL) == 0;
    if (!cv || pthread_create(&a->tid, NULL, ahead_main, a) != 0) {
        if (cv)
            pthread_cond_destroy(&a->cv);
        if (mu)
            pthread_mutex_destroy(&a->mu);
        free(a->m);
        free(a);
        return NULL;
    }
    return a;
}

tk_bpe_ahead *tk_bpe_ahead_start(const char *vocab, size_t len, size_t count, int cut, const la_int_members *list)
{
    return ahead_new(vocab, len, count, cut, list && !list->failed && list->n == count ? list : NULL, 0, 0);
}

tk_bpe_ahead *tk_bpe_ahead_stream(const char *vocab, size_t bound, const la_int_members *list, int cut)
{
    if (!list->fixed || list->cap >= UINT32_MAX / 4)
        return NULL;
    return ahead_new(vocab, 0, 0, cut, list, 1, bound);
}

void tk_bpe_ahead_confirm(tk_bpe_ahead *a, size_t len, size_t count, int cut, int list_ok)
{
    pthread_mutex_lock(&a->mu);
    a->n = len;
    a->count = count;
    a->cut = cut;
    a->list_ok = list_ok;
    a->confirmed = 1;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
}

/* What the merges read ahead leave in the model: whether they all went
 * in, for which bytes, assuming which prefix length, in a table of how
 * many slots. */
typedef struct {
    int whole;
    const char *p;
    size_t n, prefix_len;
    uint32_t cap;
    uint32_t span_cap;           /* the size the array's own quotes give */
} merges_done;

/* Ends the merges read ahead (waiting for their resolver), says what
 * they left in *d and frees them; the table they filled stays in the
 * model. */
static void merges_end(tk_bpe_ahead *a, merges_done *d)
{
    ahead_merges *g = a->mg;
    *d = (merges_done){ 0, NULL, 0, 0, 0, 0 };
    if (!g)
        return;
    if (g->started) {
        help_to_end(&g->pp);
        pthread_mutex_lock(&g->pp.mu);
        g->pp.done = 1;
        pthread_cond_broadcast(&g->pp.cv);
        pthread_mutex_unlock(&g->pp.mu);
        pthread_join(g->tid, NULL);
        pthread_cond_destroy(&g->pp.cv);
        pthread_mutex_destroy(&g->pp.mu);
        *d = (merges_done){ g->p && !g->pp.failed && g->pp.consumed == g->pp.produced, g->p, g->n, g->prefix_len,
                            g->cap, cap_of(g->quotes - g->tail, g->pairs, NULL) };
    }
    for (size_t k = 0; k < g->pp.nring; k++)
        la_buf_free(&g->pp.ring[k].store);
    free(g->pp.ring);
    looker_free(&g->pp.look);
    looker_free(&g->pp.help);
    free(g);
    a->mg = NULL;
}

/* Joins the read-ahead's threads and frees all of a but its model. */
static void ahead_end(tk_bpe_ahead *a, merges_done *d)
{
    pthread_join(a->tid, NULL);
    merges_end(a, d);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
}

void tk_bpe_ahead_drop(tk_bpe_ahead *a)
{
    if (!a)
        return;
    merges_done d;
    atomic_store(&a->stop, 1);
    pthread_mutex_lock(&a->mu);
    atomic_store(&a->dropped, 1);
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    ahead_end(a, &d);
    tk_bpe_free(a->m);
    free(a);
}

/* The resolver of the merges read ahead: it waits for the vocabulary,
 * then resolves the chunks as the validating thread parses them (none
 * when the vocabulary could not be read: the merges are then left to
 * the usual way, after its error). */
static void *ahead_resolver(void *arg)
{
    tk_bpe_ahead *a = arg;
    ahead_merges *g = a->mg;
    /* the table, sized from the quotes up to the end of the bytes (the
     * array's end is not known yet), while the vocabulary is read */
    g->quotes = count_byte(g->src, g->src_n, '"');
    g->cap = cap_of(g->quotes, g->pairs, NULL);
    int table = merges_alloc(a->m, g->cap) == LA_OK;
    pthread_mutex_lock(&a->mu);
    while (!a->vocab_done)
        pthread_cond_wait(&a->cv, &a->mu);
    int ok = a->rc == LA_OK && table;
    pthread_mutex_unlock(&a->mu);
    merge_pipe *pp = &g->pp;
    if (ok) {
        pthread_mutex_lock(&pp->mu);
        pp->can_look = 1;                /* the validating thread may look chunks up too */
        pthread_cond_broadcast(&pp->cv);
        pthread_mutex_unlock(&pp->mu);
        return merge_resolver(pp);
    }
    pthread_mutex_lock(&pp->mu);
    pp->failed = 1;
    pp->frc = LA_EDATA;
    pthread_cond_broadcast(&pp->cv);
    pthread_mutex_unlock(&pp->mu);
    return NULL;
}

/* The string at p[pos], validated (la_json_scan_string): its text (in
 * tmp when it has escapes) and *end past it; 0 when it is not valid. */
static int strict_string(const char *p, size_t n, size_t pos, la_buf *tmp, const char **s, size_t *len, size_t *end)
{
    int plain;
    if (p[pos] != '"' || la_json_scan_short(p, n, pos, end, &plain) != LA_OK)
        return 0;
    if (plain) {
        *s = p + pos + 1;
        *len = *end - pos - 2;
        return 1;
    }
    return string_text(p, (la_span){ pos, *end }, tmp, s, len) == LA_OK;
}

/* The one space in s[0..n) (a merge's few bytes, so a plain loop), NULL
 * when there is none or more than one. */
static const char *one_space(const char *s, size_t n)
{
    const char *sp = NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ' ') {
            if (sp)
                return NULL;
            sp = s + i;
        }
    return sp;
}

/* ---- merges laid out alike ---------------------------------------- */

/* A pretty-printed merges array puts the same white space around every
 * element: only the strings change. Once an element has been read the
 * usual way, the bytes between its parts are kept (the layout) and the
 * next elements are read by comparing theirs with them, each string
 * found and checked in one step (la_json_short_plain): what this
 * accepts, the usual way accepts too, with the same strings. Anything
 * else (a string with an escape or longer than 31 bytes, other white
 * space, the array's end) goes back to the usual way for that element,
 * which then keeps its layout for the next ones. */
#define LAYOUT_MAX LA_JSON_RUN_MAX   /* longest run of bytes between parts kept */

static atomic_ulong merges_laid_out;   /* test hook (tk_test.h) */

unsigned long tk_bpe_merges_laid_out(void) { return atomic_load(&merges_laid_out); }

static atomic_ulong merges_read_again;   /* test hook (tk_test.h) */

unsigned long tk_bpe_merges_read_again(void) { return atomic_load(&merges_read_again); }

typedef struct {
    char head[LAYOUT_MAX];        /* "[" ... a's opening quote (pairs) */
    char mid[LAYOUT_MAX];         /* a's closing quote ... b's opening quote (pairs) */
    char tail[LAYOUT_MAX];        /* the last closing quote ... the next element */
    size_t hl, ml, tl;
    int ready;
} merge_layout;

#ifdef __SSE2__
/* The bytes a laid-out element may read past its start: three runs, two
 * strings of up to 32 bytes after their quotes, and a run's 32 bytes. */
#define LAYOUT_READ (3 * LAYOUT_MAX + 2 * 34 + LAYOUT_MAX + 8)

/* one_space for a string of up to 31 bytes at s, 32 bytes readable there:
 * the spaces' bits at once. */
static inline const char *one_space_short(const char *s, size_t len)
{
    __m128i sp = _mm_set1_epi8(' ');
    uint32_t m = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)s), sp)) |
                 (uint32_t)_mm_movemask_epi8(
                     _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(s + 16)), sp))
                     << 16;
    m &= ((uint32_t)1 << len) - 1;
    return m && !(m & (m - 1)) ? s + __builtin_ctz(m) : NULL;
}

/* Reads the elements at p[*i..) that follow layout l, into chunks from
 * *c on (k counting them), up to the first that does not (or near the
 * end of the bytes): *i is then where it starts. LA_OK, or LA_EDATA when
 * a merge could not be put or handed over (as the usual way's break). */
static int laid_out_merges(merge_pipe *pp, const merge_layout *l, int pairs, const char *p, size_t n, size_t *i,
                           merge_chunk **c, size_t *k, size_t prefix_len)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t at = *i, taken = 0;
    while (n - at > LAYOUT_READ) {
        size_t qa, ea, qb, eb, ka, kb, al, bl;
        const char *a, *b;
        if (pairs) {
            if (p[at] != '[' || !la_json_same_run(p + at + 1, l->head, l->hl) || p[qa = at + 1 + l->hl] != '"' ||
                !(ka = la_json_short_plain(u + qa + 1, 1)))
                break;
            ea = qa + 1 + ka;
            if (!la_json_same_run(p + ea, l->mid, l->ml) || p[qb = ea + l->ml] != '"' ||
                !(kb = la_json_short_plain(u + qb + 1, 1)))
                break;
            eb = qb + 1 + kb;
            a = p + qa + 1, al = ka - 1;
            b = p + qb + 1, bl = kb - 1;
        } else {
            const char *sp;
            if (p[at] != '"' || !(ka = la_json_short_plain(u + at + 1, 1)))
                break;
            a = p + at + 1, al = ka - 1;
            if ((al >= 8 && memcmp(a, "#version", 8) == 0) || !(sp = one_space_short(a, al)))
                break;
            b = sp + 1;
            bl = al - (size_t)(b - a);
            al = (size_t)(sp - a);
            eb = at + 1 + ka;
        }
        /* the element is taken only when the layout's bytes follow it:
         * the last one (the array's end after it) goes the usual way */
        if (!la_json_same_run(p + eb, l->tail, l->tl))
            break;
        if (put_merge(*c, p, n, a, al, b, bl, prefix_len, (uint32_t)*k) != LA_OK || ++*k >= UINT32_MAX ||
            ((*c)->n == MERGE_CHUNK && !(*c = hand_over(pp)))) {
            *i = at;
            return LA_EDATA;
        }
        at = eb + l->tl;
        taken++;
    }
    atomic_fetch_add_explicit(&merges_laid_out, taken, memory_order_relaxed);
    *i = at;
    return LA_OK;
}
#endif

/* Parses the merges array at p[pos] (up to n) while validating it, as
 * strictly as la_json_validate would: elements all [a, b] pairs or all
 * "a b" strings (one space, no "#version" line). Returns the end of the
 * array with its element count, or 0 on anything else (the validator
 * then goes over it the usual way). */
static size_t strict_merges(ahead_merges *g, const char *p, size_t n, size_t pos, size_t *count)
{
    merge_pipe *pp = &g->pp;
    merge_chunk *c = &pp->ring[0];
    la_buf ta = {0}, tb = {0};
    size_t i = skip_ws(p, n, pos + 1), end = 0, k = 0;
    int pairs = p[i] == '[';
    merge_layout lay;
    lay.ready = 0;
    if (p[i] == ']')
        end = i + 1;
    while (!end) {
#ifdef __SSE2__
        if (lay.ready && laid_out_merges(pp, &lay, pairs, p, n, &i, &c, &k, g->prefix_len) != LA_OK)
            break;
#endif
        const char *a, *b;
        size_t al, bl, e, start = i, qa = 0, ea = 0, qb = 0;
        if (pairs) {
            if (p[i] != '[' || !strict_string(p, n, qa = skip_ws(p, n, i + 1), &ta, &a, &al, &ea) ||
                p[i = skip_ws(p, n, ea)] != ',' || !strict_string(p, n, qb = skip_ws(p, n, i + 1), &tb, &b, &bl, &e) ||
                p[i = skip_ws(p, n, e)] != ']')
                break;
            i++;
        } else {
            const char *sp;
            if (!strict_string(p, n, i, &ta, &a, &al, &e) || (al >= 8 && memcmp(a, "#version", 8) == 0) ||
                !(sp = one_space(a, al)))
                break;
            b = sp + 1;
            bl = al - (size_t)(b - a);
            al = (size_t)(sp - a);
            i = e;
        }
        if (put_merge(c, p, n, a, al, b, bl, g->prefix_len, (uint32_t)k) != LA_OK || ++k >= UINT32_MAX ||
            (c->n == MERGE_CHUNK && !(c = hand_over(pp))))
            break;
        i = skip_ws(p, n, i);
        if (p[i] == ']')
            end = i + 1;
        else if (p[i] == ',')
            i = skip_ws(p, n, i + 1);
        else
            break;
        /* this element's layout, for the next ones */
        lay.ready = p[i] == p[start] && (!pairs || (la_json_keep_run(p, start + 1, qa, lay.head, &lay.hl) &&
                                                    la_json_keep_run(p, ea, qb, lay.mid, &lay.ml))) &&
                    la_json_keep_run(p, e, i, lay.tail, &lay.tl);
    }
    if (end && c->n && !hand_over(pp))
        end = 0;
    la_buf_free(&ta);
    la_buf_free(&tb);
    *count = k;
    return end;
}

size_t tk_bpe_ahead_merges(tk_bpe_ahead *a, const char *p, size_t n, size_t pos, size_t prefix_len, size_t *count)
{
    ahead_merges *g;
    if (!a || a->mg || p[pos] != '[' || !(g = a->mg = calloc(1, sizeof *g)))
        return 0;
    g->prefix_len = prefix_len;
    g->src = p + pos;
    g->src_n = n - pos;
    g->pairs = p[skip_ws(p, n, pos + 1)] == '[';
    g->pp.m = a->m;
    g->pp.prefix_len = prefix_len;
    g->pp.nring = AHEAD_RING;
    g->pp.threaded = 1;
    size_t end = 0;
    if ((g->pp.ring = calloc(AHEAD_RING, sizeof *g->pp.ring)) && pthread_mutex_init(&g->pp.mu, NULL) == 0) {
        if (pthread_cond_init(&g->pp.cv, NULL) != 0)
            pthread_mutex_destroy(&g->pp.mu);
        else if (!(g->started = pthread_create(&g->tid, NULL, ahead_resolver, a) == 0)) {
            pthread_cond_destroy(&g->pp.cv);
            pthread_mutex_destroy(&g->pp.mu);
        } else
            end = strict_merges(g, p, n, pos, count);
    }
    if (end) {
        g->p = p + pos;
        g->n = end - pos;
        g->tail = count_byte(p + end, n - end, '"');
    } else if (g->started) {           /* given up: the resolver stops */
        pthread_mutex_lock(&g->pp.mu);
        g->pp.failed = 1;
        pthread_cond_broadcast(&g->pp.cv);
        pthread_mutex_unlock(&g->pp.mu);
    }
    return end;
}

/* tk_bpe_from_raw, with the vocabulary of the read-ahead a when a is for
 * these vocab bytes (a is ended either way). */
static tk_bpe *from_raw(tk_bpe_ahead *a, const cJSON *opts, const char *vocab, size_t vocab_len, size_t vocab_count,
                        const char *merges, size_t merges_len, int chunking, la_err *err)
{
    tk_bpe *m;
    int ahead = a && vocab && a->p == vocab && a->n == vocab_len, chunked = 0, vrc = LA_OK;
    merges_done md = { 0, NULL, 0, 0, 0, 0 };
    if (ahead) {
        if (!chunking)
            atomic_store(&a->stop, 1);
        ahead_end(a, &md);
        m = a->m;
        chunked = a->chunked;
        if ((vrc = a->rc) != LA_OK)
            *err = a->err;
        free(a);
    } else {
        tk_bpe_ahead_drop(a);
        m = calloc(1, sizeof *m);
    }
    if (!m) {
        la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
        return NULL;
    }
    int rc;
    if (!vocab || !merges)
        rc = la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: missing vocab/merges");
    else if ((rc = ahead ? vrc : load_vocab(m, vocab, vocab_len, vocab_count, NULL, err)) == LA_OK &&
             (rc = load_options(m, opts, err)) == LA_OK) {
        if (chunked && (!chunking || m->prefix_len || m->suffix_len)) {
            unchunk(m);
            chunked = 0;
        }
        /* the chunking tables (when not made ahead) are built beside the
         * merges, in a thread of their own, so loading waits for the
         * longer of the two only */
        int want = chunking && !chunked;
        chunk_job job = { m, {{0}, {0}}, LA_OK };
        pthread_t tid;
        /* the merges read ahead are the model's when they are these bytes,
         * all in, with this prefix and table size; else read again */
        int taken = md.whole && md.p == merges && md.n == merges_len && md.prefix_len == m->prefix_len &&
                    md.cap == md.span_cap;
        if (md.p && !taken)
            atomic_fetch_add_explicit(&merges_read_again, 1, memory_order_relaxed);
        if (!taken && m->merges) {
            tk_table_free(m->merges);
            m->merges = NULL;
            m->mmask = 0;
        }
        int threaded = !taken && want && pthread_create(&tid, NULL, chunk_main, &job) == 0;
        rc = taken ? LA_OK : load_merges(m, merges, merges_len, err);
        if (threaded)
            pthread_join(tid, NULL);
        else if (want && rc == LA_OK)
            chunk_main(&job);
        if (rc == LA_OK && want && job.rc != LA_OK) {
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
    m->serial = bpe_next_serial();
    return m;
}

tk_bpe *tk_bpe_from_raw(const cJSON *opts, const char *vocab, size_t vocab_len, size_t vocab_count,
                        const char *merges, size_t merges_len, int chunking, la_err *err)
{
    return from_raw(NULL, opts, vocab, vocab_len, vocab_count, merges, merges_len, chunking, err);
}

tk_bpe *tk_bpe_from_ahead(tk_bpe_ahead *a, const cJSON *opts, const char *vocab, size_t vocab_len,
                          size_t vocab_count, const char *merges, size_t merges_len, int chunking, la_err *err)
{
    return from_raw(a, opts, vocab, vocab_len, vocab_count, merges, merges_len, chunking, err);
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
    m->serial = bpe_next_serial();
    return m;
}

int tk_bpe_vocab_object(tk_bpe *m, const char *p, size_t n, la_err *err)
{
    int rc = load_vocab(m, p, n, SIZE_MAX, NULL, err);
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
    m->ents = tk_table_alloc((count ? count : 1) * sizeof *m->ents);
    m->vslot = tk_table_alloc((size_t)cap * sizeof *m->vslot);
    m->arena_cap = arena + 1;
    m->arena = tk_table_alloc(m->arena_cap);
    m->by_id = tk_table_alloc((count ? count : 1) * sizeof *m->by_id);
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

/* ---- merges of a cache entry's model, checked at use ------------------- */

int bpe_id_string(const tk_bpe *m, uint32_t id, const char **s, size_t *len)
{
    if (m->by_id[id].len == UINT32_MAX)
        return 0;
    *s = m->arena + m->by_id[id].off;
    *len = m->by_id[id].len;
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
    if (a >= m->id_count || b >= m->id_count || new_id >= m->id_count || !bpe_id_string(m, a, &sa, &la) ||
        !bpe_id_string(m, b, &sb, &lb) || !bpe_id_string(m, new_id, &sn, &ln))
        return 0;
    if (m->ids_shared)
        return 1;
    size_t skip = m->prefix ? m->prefix_len : 0;
    return lb >= skip && ln == la + lb - skip && tk_same_bytes(sn, sa, la) &&
           tk_same_bytes(sn + la, sb + skip, lb - skip);
}

/* Guards what a bad model keeps of its first merge that did not hold. */
static pthread_mutex_t lazy_lock = PTHREAD_MUTEX_INITIALIZER;

int bpe_merge_check(const tk_bpe *m, size_t slot, uint32_t a, uint32_t b, uint32_t new_id)
{
    if (merge_holds(m, a, b, new_id)) {
        __atomic_fetch_or(&m->merge_ok[slot >> 6], (uint64_t)1 << (slot & 63), __ATOMIC_RELAXED);
        return 1;
    }
    bpe_lazy *z = m->lazy;
    pthread_mutex_lock(&lazy_lock);
    if (!__atomic_load_n(&z->bad, __ATOMIC_RELAXED)) {
        z->a = a;
        z->b = b;
        z->new_id = new_id;
        /* the next load parses the file and makes it again; a file that
         * stays (a read-only folder) is named in the error as such */
        z->unlink_errno = z->entry && unlink(z->entry) != 0 ? (errno ? errno : EIO) : 0;
        __atomic_store_n(&z->bad, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&lazy_lock);
    return 0;
}

int bpe_merge_error(const tk_bpe *m, la_err *err)
{
    bpe_lazy *z = m->lazy;
    pthread_mutex_lock(&lazy_lock);
    if (z->entry && z->unlink_errno)
        la_err_set(err, LA_EDATA, "bad_cache",
                   "tokenizer cache entry %s is damaged (its merge of tokens %u and %u does not make token %u) "
                   "and could not be removed (%s): remove it, or run with --no-cache",
                   z->entry, z->a, z->b, z->new_id, strerror(z->unlink_errno));
    else if (z->entry)
        la_err_set(err, LA_EDATA, "bad_cache",
                   "tokenizer cache entry %s is damaged (its merge of tokens %u and %u does not make token %u): "
                   "it was removed, so the next run reads the tokenizer file again and makes a new one (or run "
                   "with --no-cache)",
                   z->entry, z->a, z->b, z->new_id);
    else
        la_err_set(err, LA_EDATA, "bad_cache",
                   "tokenizer cache: image does not hold together (its merge of tokens %u and %u does not make "
                   "token %u)",
                   z->a, z->b, z->new_id);
    pthread_mutex_unlock(&lazy_lock);
    return LA_EDATA;
}

int tk_bpe_set_entry(tk_bpe *m, const char *path)
{
    if (!m->lazy)
        return LA_OK;
    free(m->lazy->entry);
    m->lazy->entry = path ? strdup(path) : NULL;
    return !path || m->lazy->entry ? LA_OK : LA_ENOMEM;
}

int tk_bpe_merge_of(const tk_bpe *m, uint32_t a, uint32_t b, uint32_t *rank, uint32_t *new_id)
{
    if (a >= m->id_count || b >= m->id_count || (!m->merges && !m->cm))
        return 0;
    return merge_get_in(m, !m->merges, a, b, rank, new_id);   /* the model's table (both agree) */
}

uint64_t tk_bpe_chunk_digest(const tk_bpe *m)
{
    if (!m->pairs && !m->small_ready)
        return 0;
    uint64_t h = hash_bytes((const char *)m->small_cut, sizeof m->small_cut) ^ m->pmask;
    h = h * 31 + hash_bytes((const char *)m->small_id, sizeof m->small_id) + (uint64_t)m->small_ready;
    if (m->pairs)
        h = h * 31 + hash_bytes((const char *)m->pairs, ((size_t)m->pmask + 1) * sizeof *m->pairs);
    return h ? h : 1;
}

uint64_t tk_bpe_merge_digest(const tk_bpe *m)
{
    uint64_t h = m->mmask;
    if (m->merges)
        h = h * 31 + hash_bytes((const char *)m->merges, ((size_t)m->mmask + 1) * sizeof *m->merges);
    return h;
}

size_t tk_bpe_merge_count(const tk_bpe *m)
{
    size_t n = 0;
    if (m->merges)
        for (uint32_t i = 0; i <= m->mmask; i++)
            n += m->merges[i].key != UINT64_MAX;
    else if (m->cm)
        for (size_t i = 0; i < ((size_t)m->cmask + 1) * 16; i += 16)
            for (int j = 0; j < 8; j++)
                n += m->cm[i + (size_t)j] != CM_EMPTY;
    return n;
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
        m = tk_bpe_from_raw(model, vs, vs ? strlen(vs) : 0, SIZE_MAX, ms, ms ? strlen(ms) : 0, 0, err);
    cJSON_free(vs);
    cJSON_free(ms);
    return m;
}

void tk_bpe_free(tk_bpe *m)
{
    if (!m)
        return;
    if (m->map) {
        tk_entry_unmap(m->map, m->map_len);
    } else {
        tk_table_free(m->arena);
        tk_table_free(m->ents);
        tk_table_free(m->vslot);
        tk_table_free(m->by_id);
        tk_table_free(m->merges);
        free(m->pairs);
        free(m->cm);
    }
    free(m->prefix);
    free(m->suffix);
    free(m->merge_ok);
    if (m->lazy)
        free(m->lazy->entry);
    free(m->lazy);
    if (m->ext)
        m->ext_free(m->ext);
    free(m);
}

/* ---- cutting long pieces ---------------------------------------------- */

/* The code point of table index a (see small_index). */
int32_t bpe_small_cp(int a) { return a < 128 ? a : 0x2581; }

/* Code-point pair key. */
uint64_t bpe_pair_key(int32_t a, int32_t b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }

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

int bpe_pair_has(const tk_bpe *m, uint64_t k) { return pair_has(m, k); }

/* Collects every pair of adjacent code points inside a vocabulary token.
 * A merge joins two symbols into a vocabulary token, so it can only
 * happen across a|b if "ab" occurs in some token. Without a prefix or a
 * suffix (which change the strings merged) this is all a cut needs;
 * ignore_merges looks at the whole piece before any cutting. For Unigram
 * the same pairs say where no piece spans (models.c, tk_model_prefix);
 * WordLevel and WordPiece look at the whole piece. */
int tk_bpe_prepare_chunking(tk_bpe *m, la_err *err)
{
    return prepare_chunking(m, err, NULL);
}

/* Pairs being collected from the vocabulary's strings (pairs_begin,
 * pairs_token for each string, pairs_end): the pairs of small characters
 * (ASCII and U+2581, most of every vocabulary's pairs) met so far, so that
 * each goes into the set once and the others are a bit's test; the bits
 * then make the small table. */
typedef struct pair_build {
    uint64_t small[SMALL_N][(SMALL_N + 63) / 64];
    size_t count;                /* pairs in the set */
} pair_build;

static pair_build *pair_build_new(void) { return malloc(sizeof(pair_build)); }

/* Forgets the pairs (their set freed). */
static void pairs_drop(tk_bpe *m)
{
    free(m->pairs);
    m->pairs = NULL;
    m->pmask = 0;
}

static int pairs_begin(tk_bpe *m, pair_build *pb)
{
    memset(pb, 0, sizeof *pb);
    /* grown with the distinct pairs, far fewer than the bytes of the
     * vocabulary (Llama-2: 3,162 for 32,000 tokens), load factor <= 1/2,
     * so that the set stays in the nearer caches */
    return pairs_alloc(m, 512);
}

/* Adds the pairs of adjacent characters of s[0..len): LA_OK or
 * LA_ENOMEM (the set then dropped). */
static int pairs_token(tk_bpe *m, pair_build *pb, const unsigned char *s, size_t len)
{
    size_t i = 0;
    int32_t prev = -1, cp;
    int sprev = -1, sc;
    while (i < len) {
        size_t k = 1;
        if (s[i] < 0x80) {
            cp = s[i];   /* ASCII without a call: most of the vocabulary's bytes */
            sc = s[i];
        } else if (!(k = tk_utf8_decode(s + i, len - i, &cp))) {
            k = 1;
            cp = -2;     /* not UTF-8: never equal to a text code point */
            sc = -1;
        } else {
            sc = cp == 0x2581 ? 128 : -1;
        }
        int known = 0;
        if (sprev >= 0 && sc >= 0) {
            uint64_t bit = (uint64_t)1 << (sc & 63), *w = &pb->small[sprev][sc >> 6];
            known = (*w & bit) != 0;
            *w |= bit;
        }
        if (!known && prev >= 0 && cp >= 0 && pair_put(m, bpe_pair_key(prev, cp)) && ++pb->count * 2 > m->pmask &&
            pairs_grow(m) != LA_OK) {
            pairs_drop(m);
            return LA_ENOMEM;
        }
        prev = cp;
        sprev = sc;
        i += k;
    }
    return LA_OK;
}

/* The small characters' ids and cuts, once every string is in (the
 * vocabulary's slots filled). */
static void pairs_end(tk_bpe *m, const pair_build *pb)
{
    uint8_t known[SMALL_N];
    for (int a = 0; a < SMALL_N; a++) {
        char s[4];
        size_t k = tk_utf8_encode(bpe_small_cp(a), s);
        uint32_t e = vocab_find(m, s, k);
        known[a] = e != UINT32_MAX;
        m->small_id[a] = known[a] && m->ents[e].id <= INT32_MAX ? (int32_t)m->ents[e].id : -1;
    }
    for (int a = 0; a < SMALL_N; a++)
        for (int b = 0; b < SMALL_N; b++)
            m->small_cut[a][b] = known[a] && known[b] && !(pb->small[a][b >> 6] >> (b & 63) & 1);
    m->small_ready = 1;
}

/* The pairs of entries from on into pb, then the small table: LA_OK;
 * LA_EARG when stopped, or out of memory (the pairs then dropped). */
static int pairs_rest(tk_bpe *m, pair_build *pb, uint32_t from, la_err *err, atomic_int *stop)
{
    for (uint32_t e = from; e < m->n_ents; e++) {
        if (stop && (e & 4095) == 0 && atomic_load_explicit(stop, memory_order_relaxed)) {
            pairs_drop(m);
            return LA_EARG;
        }
        if (pairs_token(m, pb, (const unsigned char *)m->arena + m->ents[e].off, m->ents[e].len) != LA_OK)
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
    }
    pairs_end(m, pb);
    return LA_OK;
}

/* tk_bpe_prepare_chunking, ending early (LA_EARG, nothing made) once
 * *stop is set. */
static int prepare_chunking(tk_bpe *m, la_err *err, atomic_int *stop)
{
    if (m->kind != TK_MODEL_BPE && m->kind != TK_MODEL_UNIGRAM)
        return LA_OK;
    if (m->pairs || m->prefix_len || m->suffix_len)
        return LA_OK;
    pair_build *pb = pair_build_new();
    if (!pb || pairs_begin(m, pb) != LA_OK) {
        free(pb);
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
    }
    int rc = pairs_rest(m, pb, 0, err, stop);
    free(pb);
    return rc;
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
size_t bpe_chunk_end(const tk_bpe *m, const char *s, size_t len, size_t from)
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
        if (a_known && b_known && !pair_has(m, bpe_pair_key(a, b)))
            return i;
        a = b;
        a_known = b_known;
        i += kb;
    }
    return len;
}

/* ---- merging ------------------------------------------------------------ */

static int work_grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)   /* the common case, without a call */
        return LA_OK;
    return la_grow(p, cap, need, size, 64) ? LA_ENOMEM : LA_OK;
}

bpe_work *bpe_get_work(la_tok_work *w)
{
    if (!w->bpe)
        w->bpe = calloc(1, sizeof(bpe_work));
    return w->bpe;
}

void tk_bpe_work_free(void *p)
{
    bpe_work *bw = p;
    if (!bw)
        return;
    free(bw->sym);
    free(bw->heap);
    free(bw->ids);
    la_buf_free(&bw->tmp);
    free(bw);
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

/* Pushes the merge of the pair starting at symbol pos, if there is one
 * (in the compact merge table when compact). */
static inline __attribute__((always_inline)) void queue_pair(const tk_bpe *m, bpe_work *bw, size_t pos,
                                                             uint32_t right_id, int compact)
{
    uint32_t rank, new_id;
    if (merge_get_in(m, compact, bw->sym[pos].id, right_id, &rank, &new_id))
        heap_push(bw, (bpe_merge){ rank, (uint32_t)pos, new_id });
}

/* HuggingFace's merge_all: pop the best merge; skip it if its left symbol
 * is gone, is last, or the pair there no longer yields the same token;
 * otherwise merge and queue the new pairs on both sides. The heap never
 * holds more than one entry per pair popped plus the initial ones, so
 * room for 2 * nsym entries is enough. */
static inline __attribute__((always_inline)) void merge_all_in(const tk_bpe *m, bpe_work *bw, int compact)
{
    bw->nheap = 0;
    for (size_t i = 0; i + 1 < bw->nsym; i++)
        queue_pair(m, bw, i, bw->sym[i + 1].id, compact);
    while (bw->nheap) {
        bpe_merge top = heap_pop(bw);
        bpe_sym *cur = &bw->sym[top.pos];
        if (cur->len == 0 || cur->next == -1)
            continue;
        bpe_sym right = bw->sym[cur->next];
        uint32_t rank, new_id;
        if (!merge_get_in(m, compact, cur->id, right.id, &rank, &new_id) || new_id != top.new_id)
            continue;
        bw->sym[cur->next].len = 0;
        cur->id = top.new_id;
        cur->len += right.len;
        cur->next = right.next;
        if (right.next >= 0)
            bw->sym[right.next].prev = (int32_t)top.pos;
        if (cur->prev >= 0)
            queue_pair(m, bw, (size_t)cur->prev, cur->id, compact);
        if (cur->next >= 0)
            queue_pair(m, bw, top.pos, bw->sym[cur->next].id, compact);
    }
}

/* The model's merge table: the hashed one, or the compact one when it is
 * the only one (a model read from a cache image). */
void bpe_merge_all(const tk_bpe *m, bpe_work *bw)
{
    if (m->merges)
        merge_all_in(m, bw, 0);
    else
        merge_all_in(m, bw, 1);
}

void bpe_merge_all_compact(const tk_bpe *m, bpe_work *bw)
{
    merge_all_in(m, bw, 1);
}

/* The symbols of the character s[i..i+k) of a word of len bytes
 * (BPE::merge_word's step): its token (with the continuing prefix after
 * the first and the suffix on the last), else its "<0xNN>" bytes with
 * byte_fallback, else unk (held in bw until a known character or the end
 * of the word, so that fuse_unk can join unknown neighbours), else
 * nothing. */
int bpe_char_symbols(const tk_bpe *m, bpe_work *bw, const char *s, size_t len, size_t i, size_t k, la_err *err)
{
    const char *cs = s + i;
    size_t cl = k;
    if ((m->prefix && i > 0) || (m->suffix && i + k == len)) {
        la_buf *tmp = &bw->tmp;
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
        bpe_unk_flush(bw);
        sym_add(bw, m->ents[e].id, (uint32_t)k);
        return LA_OK;
    }
    int all = m->byte_fallback;
    for (size_t j = 0; all && j < cl; j++)
        all = m->byte_id[(unsigned char)cs[j]] >= 0;
    if (all) {
        for (size_t j = 0; j < cl; j++)
            sym_add(bw, (uint32_t)m->byte_id[(unsigned char)cs[j]], 1);
    } else if (m->has_unk) {
        if (m->unk_id < 0)
            return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: unk_token is not in the vocabulary");
        if (bw->unk >= 0 && m->fuse_unk) {
            bw->unk_len += (uint32_t)k;
        } else {
            bpe_unk_flush(bw);
            bw->unk = m->unk_id;
            bw->unk_len = (uint32_t)k;
        }
    }
    return LA_OK;
}

int bpe_word_symbols(const tk_bpe *m, bpe_work *bw, const char *s, size_t len, la_err *err)
{
    bpe_symbols_start(bw);
    for (size_t i = 0; i < len;) {
        size_t k = tk_utf8_len((const unsigned char *)s + i, len - i);
        if (!k)
            k = 1;
        int rc = bpe_char_symbols(m, bw, s, len, i, k, err);
        if (rc != LA_OK)
            return rc;
        i += k;
    }
    bpe_unk_flush(bw);
    return LA_OK;
}

int bpe_word_room(const tk_bpe *m, bpe_work *bw, size_t len)
{
    /* byte fallback: one symbol per byte of prefix + character + suffix;
     * the heap gets the initial pairs plus at most two per merge */
    size_t need = len * (4 + m->prefix_len) + m->suffix_len + 8;
    if (work_grow((void **)&bw->sym, &bw->symcap, need, sizeof *bw->sym) ||
        work_grow((void **)&bw->heap, &bw->heapcap, 3 * need, sizeof *bw->heap) ||
        work_grow((void **)&bw->ids, &bw->idcap, need, sizeof *bw->ids))
        return LA_ENOMEM;
    return LA_OK;
}

/* Pushes the ids of bw's merged symbols to sink: 1 when it stopped. */
static int word_push(bpe_work *bw, tk_sink *sink)
{
    size_t n = 0;
    for (size_t i = 0; i < bw->nsym; i++)
        if (bw->sym[i].len)
            bw->ids[n++] = bw->sym[i].id;
    return n && sink->push(sink, bw->ids, n) ? 1 : 0;
}

int bpe_word_by(const tk_bpe *m, bpe_work *bw, const char *s, size_t len, tk_sink *sink, bpe_symbols_fn symbols,
                bpe_merge_fn merge, la_err *err)
{
    if (bpe_word_room(m, bw, len) != LA_OK)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    int rc = symbols(m, bw, s, len, err);
    if (rc != LA_OK)
        return rc;
    merge(m, bw);
    if ((rc = bpe_merge_failed(m, err)) != LA_OK)
        return rc;
    return word_push(bw, sink);
}

int bpe_word(const tk_bpe *m, bpe_work *bw, la_tok_work *w, const char *s, size_t len, tk_sink *sink,
             la_err *err)
{
    (void)w;
    return bpe_word_by(m, bw, s, len, sink, bpe_word_symbols, bpe_merge_all, err);
}

int bpe_tokenize_by(const tk_bpe *m, const char *piece, size_t len, tk_sink *sink, la_tok_work *w,
                    bpe_word_fn word, bpe_chunk_fn chunk_end, la_err *err)
{
    if (len == 0)
        return 0;
    if (m->kind != TK_MODEL_BPE)
        return m->ext_tokenize(m, m->ext, piece, len, sink, w, err);
    bpe_work *bw = bpe_get_work(w);
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
        size_t end = m->pairs ? chunk_end(m, piece, len, from) : len;
        int rc = word(m, bw, w, piece + from, end - from, sink, err);
        if (rc != 0)
            return rc;
        from = end;
    }
    return 0;
}

int bpe_tokenize_prefix_by(const tk_bpe *m, const char *piece, size_t len, tk_sink *sink, la_tok_work *w,
                           bpe_word_fn word, bpe_chunk_fn chunk_end, la_err *err)
{
    if (m->kind != TK_MODEL_BPE)     /* its own way (tk_model_prefix) */
        return 2;
    if (!m->pmask || (m->ignore_merges && len <= m->max_token_len))
        return 2;
    bpe_work *bw = bpe_get_work(w);
    if (!bw)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    for (size_t from = 0; from < len;) {
        size_t end = chunk_end(m, piece, len, from);
        if (end == len)
            break;                /* the last chunk may go on past the window */
        int rc = word(m, bw, w, piece + from, end - from, sink, err);
        if (rc != 0)
            return rc;
        from = end;
    }
    return 2;
}

int tk_bpe_can_cut(const tk_bpe *m)
{
    return m->pmask != 0;
}

int tk_bpe_ignores_merges(const tk_bpe *m) { return m->ignore_merges; }


