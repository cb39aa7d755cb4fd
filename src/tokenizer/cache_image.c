/*
 * cache_image.c - a loaded BPE model as bytes and back, for the
 * tokenizer cache (cache.c): tk_bpe_image writes the model's tables as
 * they are, tk_bpe_from_image takes them back (in place, in the entry's
 * memory) once every offset, length, index and id in them is checked
 * against the others, so that no lookup reads outside them; what a
 * merge makes is checked when a lookup first returns it
 * (bpe_merge_check, in bpe.c).
 */
#include "tokenizer/bpe_int.h"
#include "tokenizer/tk_test.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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

/* The vocabulary, checked in two parts (the second on another thread
 * for a large vocabulary), each a share of the ids, of the entries and
 * of the hash slots: every id's string inside the arena with its NUL
 * after it (`named` of them have one); every entry's string too, its id
 * below id_count with a string of its own (the same one, unless ids are
 * shared) (`longest`: the longest string); every slot empty or naming
 * an entry (`taken` of them). Put together: as many ids named as
 * entries unless shared, max_token_len the longest, as many slots taken
 * as entries, and an empty slot somewhere (image_holds) where lookups
 * end. Which slot an entry is in, and its tag, are not checked: a
 * lookup returns only an entry whose string is the one asked for
 * (vocab_find_h compares them), so an entry put where a lookup does not
 * reach it is a token the vocabulary lacks, a change of what it says
 * that only the entry's own check answers for, as for a merge's key.
 * All three walks are in order: nothing is read at random. */
typedef struct {
    const tk_bpe *m;
    uint32_t id_from, id_to, from, to;
    size_t slot_from, slot_to;
    size_t named, longest, taken;
    int ok;
} vocab_part;

static void *vocab_part_check(void *arg)
{
    vocab_part *j = arg;
    const tk_bpe *m = j->m;
    j->ok = 0;
    j->named = j->longest = j->taken = 0;
    for (uint32_t id = j->id_from; id < j->id_to; id++) {
        const id_slot *b = &m->by_id[id];
        if (b->len == UINT32_MAX)
            continue;
        if (b->off >= m->arena_len || b->len >= m->arena_len - b->off || m->arena[b->off + b->len])
            return NULL;
        j->named++;
    }
    /* no branch on the way (the largest entry named, and the slots
     * taken, said after): the walk goes at the memory's pace */
    uint32_t most = 0;
    size_t taken = 0;
    for (size_t i = j->slot_from; i < j->slot_to; i++) {
        uint32_t ent = m->vslot[i].ent;
        most = ent > most ? ent : most;
        taken += ent != 0;
    }
    if (most > m->n_ents)
        return NULL;
    j->taken = taken;
    for (uint32_t e = j->from; e < j->to; e++) {
        const vocab_entry *v = &m->ents[e];
        if (v->off >= m->arena_len || v->len >= m->arena_len - v->off || m->arena[v->off + v->len] ||
            v->id >= m->id_count || m->by_id[v->id].len == UINT32_MAX ||
            (!m->ids_shared && (m->by_id[v->id].off != v->off || m->by_id[v->id].len != v->len)))
            return NULL;
        j->longest = v->len > j->longest ? v->len : j->longest;
    }
    j->ok = 1;
    return NULL;
}

/* An empty slot (the merge table's) or a bucket with a free way (the
 * compact one's), where every lookup ends. */
static int merges_end(const tk_bpe *m)
{
    if (m->cm) {
        for (size_t b = 0; b <= m->cmask; b++)
            if (m->cm[b * 16 + 7] == CM_EMPTY)
                return 1;
        return 0;
    }
    for (size_t i = 0; i <= m->mmask; i++)
        if (m->merges[i].key == UINT64_MAX)
            return 1;
    return 0;
}

/* The id a string of the vocabulary has (-1: none), for the ids an
 * image keeps beside the vocabulary. */
static int64_t image_id_of(const tk_bpe *m, const char *s, size_t n)
{
    uint32_t e = bpe_vocab_find(m, s, n);
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
    if (m->unk_id < -1 || (m->unk_id >= 0 && (m->unk_id >= m->id_count || !bpe_id_string(m, (uint32_t)m->unk_id, &s, &len))))
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
        size_t k = tk_utf8_encode(bpe_small_cp(a), c);
        int64_t id = image_id_of(m, c, k);
        known[a] = id >= 0;
        if (m->small_id[a] != (id >= 0 && id <= INT32_MAX ? (int32_t)id : -1))
            return 0;
    }
    for (int a = 0; a < SMALL_N; a++)
        for (int b = 0; b < SMALL_N; b++)
            if (m->small_cut[a][b] !=
                (known[a] && known[b] && !(m->pairs && bpe_pair_has(m, bpe_pair_key(bpe_small_cp(a), bpe_small_cp(b))))))
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
 * without end, and the ids kept beside the vocabulary are the ones it
 * gives. The merges are left to their lookups: one ends at an empty
 * slot, and the merge it returns is checked then (bpe_merge_check),
 * before it is used. (What the vocabulary, the slots it is found
 * through, ranks, merge keys and options themselves say cannot be
 * checked without the file: an entry's own check and key answer for
 * those.) */

/* Vocabularies from this many entries have the second part of their
 * check (vocab_part) made on a second thread: both only read. A small
 * one is checked sooner than a thread starts. */
static uint32_t slots_threaded = TK_IMAGE_THREADED;

void tk_bpe_image_threaded_from(uint32_t n) { slots_threaded = n; }

static int image_holds(const tk_bpe *m)
{
    if ((m->pairs && !image_pairs_hold(m)) || !merges_end(m))
        return 0;
    size_t slots = (size_t)m->vmask + 1, empty = 0;
    while (empty < slots && m->vslot[empty].ent)
        empty++;
    if (empty == slots)
        return 0;                 /* no empty slot: lookups would not end */
    uint32_t ids = m->id_count, ents = m->n_ents;
    vocab_part part[2] = { { m, 0, ids / 2, 0, ents / 2, 0, slots / 2, 0, 0, 0, 0 },
                           { m, ids / 2, ids, ents / 2, ents, slots / 2, slots, 0, 0, 0, 0 } };
    pthread_t tid;
    int threaded = ents >= slots_threaded && pthread_create(&tid, NULL, vocab_part_check, &part[1]) == 0;
    if (!threaded)
        vocab_part_check(&part[1]);
    vocab_part_check(&part[0]);
    if (threaded)
        pthread_join(tid, NULL);
    size_t named = part[0].named + part[1].named;
    size_t longest = part[0].longest > part[1].longest ? part[0].longest : part[1].longest;
    if (!part[0].ok || !part[1].ok || longest != m->max_token_len ||
        (m->ids_shared ? named > ents : named != ents) || part[0].taken + part[1].taken != ents)
        return 0;
    /* the ids are looked up through the slots: after theirs */
    return image_ids_hold(m) && (!m->small_ready || m->pairs);
}

/* 1 when byte off of field f (offset fo, size fs) of a struct. */
static int in_field(size_t off, size_t fo, size_t fs) { return off >= fo && off - fo < fs; }

/* The sizes of m's arrays as image head h gives them; the arrays
 * present (pairs, prefix and suffix only when they were; the merge table
 * or the compact one) marked by a pointer that is not NULL, to be set
 * where each is. */
static void sizes_from_head(tk_bpe *m, const bpe_image_head *h)
{
    m->arena_len = (size_t)h->arena_len;
    m->n_ents = h->n_ents;
    m->vmask = h->vmask;
    m->id_count = h->id_count;
    m->mmask = h->mmask;
    m->pmask = h->pmask;
    m->cmask = h->cmask;
    m->prefix_len = (size_t)h->prefix_len;
    m->suffix_len = (size_t)h->suffix_len;
    m->pairs = h->pmask ? (uint64_t *)1 : NULL;
    m->prefix = h->prefix_len ? (char *)1 : NULL;
    m->suffix = h->suffix_len ? (char *)1 : NULL;
    m->merges = h->cmask ? NULL : (merge_slot *)1;
    m->cm = h->cmask ? (uint32_t *)1 : NULL;
}

/* Where each array of image p[0..n) starts (start[i]) and its size
 * (size[i]), as its head h says (not checked): 0 when p is too short for
 * a head. */
static int image_layout(const char *p, size_t n, bpe_image_head *h, size_t start[IMAGE_PARTS],
                        size_t size[IMAGE_PARTS])
{
    if (n < sizeof *h)
        return 0;
    memcpy(h, p, sizeof *h);
    tk_bpe m;
    memset(&m, 0, sizeof m);
    sizes_from_head(&m, h);
    void **where[IMAGE_PARTS];
    size_t at = sizeof *h;
    image_parts(&m, where, size);
    for (int i = 0; i < IMAGE_PARTS; i++) {
        at += i == IMAGE_PARTS - 1 ? h->cm_pad : 0;
        start[i] = at;
        at += pad8(size[i]);
    }
    return 1;
}

int tk_bpe_image_vouched(const char *p, size_t n, size_t off)
{
    bpe_image_head h;
    size_t start[IMAGE_PARTS], size[IMAGE_PARTS];
    if (off >= n || !image_layout(p, n, &h, start, size))
        return 0;
#define VOUCHED(f) in_field(off, offsetof(bpe_image_head, f), sizeof h.f)
    if (off < sizeof h)
        return VOUCHED(unk_id) || VOUCHED(has_unk) || VOUCHED(fuse_unk) || VOUCHED(byte_fallback) ||
               VOUCHED(ignore_merges) || VOUCHED(ids_shared) || VOUCHED(prefix_len) || VOUCHED(suffix_len);
#undef VOUCHED
    for (int i = 0; i < IMAGE_PARTS; i++)
        if (off >= start[i] && off - start[i] < size[i]) {
            size_t o = off - start[i];
            switch (i) {
            case 4:               /* a merge's key or rank (its result is checked at use) */
                return !in_field(o % sizeof(merge_slot), offsetof(merge_slot, new_id), sizeof(uint32_t));
            case 2:               /* a vocabulary slot's tag, or which entry it names */
            case 5: case 6: case 7:   /* the pair set, prefix, suffix */
                return 1;
            case 8:               /* a compact merge's key, or its rank: a value's high half */
                return o % 64 < 32 || (o % 64 - 32) % 4 >= 2;
            default:
                return 0;
            }
        }
    return 0;
}

size_t tk_bpe_image_results(const char *p, size_t n, size_t *at, uint32_t (*pair)[2], size_t cap)
{
    bpe_image_head h;
    size_t start[IMAGE_PARTS], size[IMAGE_PARTS], k = 0;
    if (!image_layout(p, n, &h, start, size))
        return 0;
    if (!h.cmask && start[4] <= n && size[4] <= n - start[4])
        for (size_t s = 0; s < size[4] / sizeof(merge_slot); s++) {
            merge_slot sl;
            memcpy(&sl, p + start[4] + s * sizeof sl, sizeof sl);
            if (sl.key != UINT64_MAX && k < cap) {
                if (pair)
                    pair[k][0] = (uint32_t)(sl.key >> 32), pair[k][1] = (uint32_t)sl.key;
                at[k++] = start[4] + s * sizeof sl + offsetof(merge_slot, new_id);
            }
        }
    if (h.cmask && start[8] <= n && size[8] <= n - start[8])
        for (size_t b = 0; b < size[8] / 64; b++)
            for (size_t j = 0; j < 8; j++) {
                uint32_t key;
                memcpy(&key, p + start[8] + b * 64 + 4 * j, sizeof key);
                if (key != CM_EMPTY && k < cap) {
                    if (pair)
                        pair[k][0] = key >> 16, pair[k][1] = key & 0xFFFF;
                    at[k++] = start[8] + b * 64 + 32 + 4 * j;   /* the value's low half */
                }
            }
    return k;
}

size_t tk_bpe_image_slots(const char *p, size_t n, size_t *off)
{
    bpe_image_head h;
    size_t start[IMAGE_PARTS], size[IMAGE_PARTS];
    if (!image_layout(p, n, &h, start, size) || start[2] > n || size[2] > n - start[2])
        return 0;
    *off = start[2];
    return size[2] / sizeof(vocab_slot);
}

/* Frees a model made from an image that does not hold, but for the
 * mapping its tables lie in, which stays the caller's (another thread
 * may still be reading it: load.c). */
static void image_drop(tk_bpe *m)
{
    if (m->map) {
        void **where[IMAGE_PARTS];
        size_t size[IMAGE_PARTS];
        const char *from = m->map, *to = from + m->map_len;
        image_parts(m, where, size);
        for (int i = 0; i < IMAGE_PARTS; i++)
            if ((const char *)*where[i] >= from && (const char *)*where[i] < to)
                *where[i] = NULL;
        m->map = NULL;
    }
    tk_bpe_free(m);
}

tk_bpe *tk_bpe_from_image(const char *p, size_t n, void *map, size_t map_len, la_err *err)
{
    bpe_image_head h;
    tk_bpe *m = n >= sizeof h && ((uintptr_t)p & 7) == 0 ? calloc(1, sizeof *m) : NULL;
    if (!m) {
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
    sizes_from_head(m, &h);
    m->arena_cap = m->arena_len;
    m->ents_cap = m->n_ents;
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
            /* strings get a NUL after them, as when built; the parts
             * tk_bpe_free gives back with tk_table_free come from there */
            char *a = i < 5 ? tk_table_alloc(size[i] + 1) : malloc(size[i] + 1);
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
        image_drop(m);
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
        image_drop(m);
        return NULL;
    }
    /* the merges are checked at use: none is yet */
    size_t slots = m->cm ? ((size_t)m->cmask + 1) * 8 : (size_t)m->mmask + 1;
    m->merge_ok = calloc((slots + 63) / 64, sizeof *m->merge_ok);
    m->lazy = calloc(1, sizeof *m->lazy);
    if (!m->merge_ok || !m->lazy) {
        la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
        image_drop(m);
        return NULL;
    }
    m->serial = bpe_next_serial();
    return m;
}

const void *tk_bpe_map(const tk_bpe *m, size_t *len)
{
    *len = m->map_len;
    return m->map;
}
