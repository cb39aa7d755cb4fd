/*
 * direct.c - direct previews, an accelerator of tokenizer.c's previews
 * for SentencePiece-style and byte-level pipelines, with their table of
 * words.
 *
 * One entry point, tk_direct_preview, which either makes the preview or
 * says it does not handle the text (then the reference path does, with
 * the same result). The rest readies the table at load, and lends it to
 * the tokenizer cache (load.c), which keeps a copy in its entries.
 */
#include "tokenizer/tk.h"
#include "tokenizer/tk_test.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

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
#define DW_WAYS 4                 /* fewer ways lose more common words to conflicts */
#define DW_SLOTS (DW_WAYS << DW_SET_BITS)   /* sets of four entries, two cache lines */
#define DW_KEY 16                 /* longest word kept */
#define DW_TOK 8                  /* most tokens of a word kept */
#define DW_BATCH 4                /* words found and fetched at once by the word-by-word loop */
#define DW_CUT 1                  /* a cut holds between the piece and an s after it */
#define DW_BIG 2                  /* more than DW_TOK tokens: the first ntok kept, the word taken in
                                   * pieces unless the preview ends in those */
#define DW_LONG 64                /* longest text of an escaped word taken in pieces */
/* In a key's klen: a text that holds a backslash. The words of a JSON
 * body are keyed by their bytes as they are there, escapes and all
 * (take_word keeps such entries too, their ends in those bytes): those
 * bytes hold a backslash only where an escape starts, and unescape to
 * one text, so a key that holds one stands for a text unless flagged. */
#define DW_BACKSLASH 64

typedef struct {
    char key[DW_KEY];             /* the piece's bytes, zero-padded */
    uint8_t klen;                 /* key length + 1 (+ 32 inside a word, + DW_BACKSLASH); 0: empty */
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

/* 1 when one of the eight bytes of v is a backslash (a zero byte of v
 * ^ the backslashes, found as the classic test for a zero byte does). */
static inline int dw_has_backslash(uint64_t v)
{
    uint64_t x = v ^ 0x5C5C5C5C5C5C5C5CULL;
    return ((x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL) != 0;
}

/* The key of word[0..n), 0 < n <= DW_KEY, wherever it lies: a text's,
 * DW_BACKSLASH when it holds a backslash, looked for unless check is 0
 * (a body's bytes, or a text known to hold none). */
static inline void dw_key_of_as(const char *word, size_t n, int lead, int check, dw_k *k)
{
    char pad[DW_KEY] = { 0 };
    memcpy(pad, word, n);
    dw_key_at(pad, n, (uint8_t)(n + 1 + (lead ? 0 : 32)), k);
    if (check && (dw_has_backslash(k->a) || dw_has_backslash(k->b))) {
        k->klen += DW_BACKSLASH;
        dw_set_of(k);
    }
}

static inline void dw_key_of(const char *word, size_t n, int lead, dw_k *k)
{
    dw_key_of_as(word, n, lead, 1, k);
}

#define DW_GATHER 8               /* first words found and fetched before any lookup */
/* Most bytes the SIMD scans stop at: the space and the first bytes of
 * added tokens that may start in a word, with the backslash of escapes.
 * Gemma's added tokens start with seven (runs of tabs, of newlines and of
 * U+2581, and '<' and '['); the scans compare four rows when no more
 * are needed (Llama's '<'), else all of them. */
#define DW_STOPS 8

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

/* What direct previews of one tokenizer know (la_tokenizer's direct):
 * the space byte c that the normalizer makes s, the classes of the bytes
 * of a text, and the table of words, shared by threads. */
struct tk_direct {
    dw_cache *dw;                 /* NULL until taken (tk_direct_take, tk_direct_table_use) */
    int in_entry;                 /* dw came from a cache entry (tk_direct_table_use) */
    int borrowed;                 /* dw lies in that entry's memory, which the model frees */
    char c;
    int lead;                     /* the normalizer puts s before the text (Prepend), so the first
                                   * word is looked up as the others, with the s of a space */
    const char *s;                /* in the normalizer's memory */
    size_t slen;
    int dec;                      /* the decoder's per-token maps turn each s into c, nothing else */
    int bl;                       /* a byte-level pipeline (bl_allows): s is the space itself */
    int added_norm;               /* added tokens matched after normalizing, which leaves the
                                   * text as it is (bl_allows): looked for as the others */
    /* per Split of a byte-level chain, what a text needs for the Split to
     * match in it (BL_NEEDS_*; 0: nothing known) */
    uint8_t needs[TK_SPLIT_MAX];
    /* per byte of a plain text 1 for c, 2 where an added token may
     * start, else 0; cls_raw the same for escaped texts, 3 for the
     * backslash that starts an escape */
    uint8_t cls[256];
    uint8_t cls_raw[256];
    int nstop;                    /* bytes of class > 0 in cls_raw, if at most DW_STOPS, else 0 */
    /* with nstop, those bytes as the scans compare them, 16 of each: c,
     * then the others (the last repeated to fill the rows) */
    unsigned char vec[DW_STOPS][16];
    /* with nstop, for each first byte of added tokens (class 2), 1 + its
     * row in second, else 0; second's row: bit c when an added token may
     * start with that byte then byte c (or is that byte alone) */
    uint8_t srow[256];
    uint64_t second[DW_STOPS][4];
    /* K when the added tokens that start with a newline are exactly the
     * runs of 1 to K newlines, matched before normalizing, with no flag
     * that widens or limits a match, and the pipeline is SentencePiece-
     * style without a prepended s (Gemma's): a run of newlines in a text
     * then splits it into pieces tokenized alone, each as a text (see
     * take_run); else 0 */
    size_t nl_run;
    int fast_only;                /* tests: what dw_fast leaves goes the general way */
};

static inline const dw_slot *dw_set(const dw_cache *dc, const dw_k *k)
{
    return &dc->e[k->set];
}

/* Starts fetching the set of key k: its two cache lines. */
static inline void dw_fetch(const dw_cache *dc, const dw_k *k)
{
    const dw_slot *set = dw_set(dc, k);
    __builtin_prefetch(set);
    __builtin_prefetch(set + 2);
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

/* One read of the entry of key k in set into *out: 1 when there, 0 when
 * the set has none (an empty way's tag is 0, never a key's), -1 when the
 * set was being rewritten meanwhile. */
static inline __attribute__((always_inline)) int dw_read_once(const dw_slot *set, const dw_k *k, dw_entry *out)
{
    _Static_assert(DW_WAYS == 4, "a byte of the tags per way");
    uint32_t s1 = dw_seq_of(__atomic_load_n(&set[0].w[3], __ATOMIC_ACQUIRE));
    /* The ways whose tag is the key's (the bytes of x that are 0, and
     * maybe bytes above one), then their keys: which way holds a word
     * is random, and comparing the ways in turn mispredicts. */
    uint32_t x = dw_seq_of(dw_ld(&set[1].w[3])) ^ k->tags;
    uint32_t cand = (x - 0x01010101u) & ~x & 0x80808080u;
    int found = 0;
    uint64_t w2 = 0, w3 = 0;
    while (cand) {
        int j = __builtin_ctz(cand) >> 3;
        w2 = dw_ld(&set[j].w[2]);
        if ((uint8_t)w2 == k->klen && dw_ld(&set[j].w[0]) == k->a && dw_ld(&set[j].w[1]) == k->b) {
            w3 = dw_ld(&set[j].w[3]);
            found = 1;
            break;
        }
        cand &= cand - 1;
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    uint32_t s2 = dw_seq_of(dw_ld(&set[0].w[3]));
    if (s1 != s2 || (s1 & 1))
        return -1;                /* rewritten meanwhile */
    if (!found)
        return 0;
    uint64_t v[4] = { k->a, k->b, w2, w3 };
    memcpy(out, v, sizeof v);
    return 1;
}

/* dw_read's reads again while the set is being rewritten. */
static __attribute__((noinline)) int dw_read_again(const dw_slot *set, const dw_k *k, dw_entry *out)
{
    for (int tries = 1; tries < DW_TRIES; tries++) {
        int r = dw_read_once(set, k, out);
        if (r >= 0)
            return r;
    }
    return 0;
}

/* Copies the entry of key k in set to *out: 1, or 0 when the set has
 * none or stays busy. */
static inline __attribute__((always_inline)) int dw_read(const dw_slot *set, const dw_k *k, dw_entry *out)
{
    int r = dw_read_once(set, k, out);
    return r >= 0 ? r : dw_read_again(set, k, out);
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


/* A new, empty table: zeroed pages on one huge page where the system has
 * them (one TLB entry for its random reads); NULL when no memory can be
 * mapped. */
static dw_cache *dw_map(void)
{
    size_t len = DW_MAP;
    return tk_map_huge(&len);
}

static inline int dw_added_at(const tk_direct *x, const tk_added *added, const char *s, size_t len, size_t pos);

/* The byte classes of direct previews of a pipeline whose normalizer
 * makes each space s[0..slen) and with these added tokens into *x (those
 * matched after normalizing too, with x->added_norm): 1, or 0 when a
 * space or the backslash may start an added token. */
static int classes(tk_direct *x, const tk_added *added, char c)
{
    memset(x->cls, 0, sizeof x->cls);
    tk_added_mark_first_bytes(added, 0, x->cls, 2);
    if (x->added_norm)
        tk_added_mark_first_bytes(added, 1, x->cls, 2);
    if (x->cls[(unsigned char)c])
        return 0;
    x->cls[(unsigned char)c] = 1;
    memcpy(x->cls_raw, x->cls, sizeof x->cls);
    if (x->cls_raw['\\'])
        return 0;
    x->cls_raw['\\'] = 3;         /* an escape: the text differs from the body there */
    x->nstop = 0;
    for (int b = 0; b < 256; b++)
        if (x->cls_raw[b] && x->nstop >= 0)
            x->nstop = x->nstop < DW_STOPS ? x->nstop + 1 : -1;
    if (x->nstop < 0)
        x->nstop = 0;
    memset(x->vec, (unsigned char)c, sizeof x->vec);
    for (int b = 0, k = 1; x->nstop && b < 256; b++)
        if (x->cls_raw[b] && b != (unsigned char)c) {
            for (int j = k; j < DW_STOPS; j++)
                memset(x->vec[j], b, 16);
            k++;
        }
    /* the pairs of bytes that may start an added token, asked of the
     * added tokens' own matcher (a pattern that may go on past the two
     * bytes counts), so that dw_fast passes a first byte followed by
     * any other (GSM8K's "<<" where added tokens start with "<|") */
    memset(x->srow, 0, sizeof x->srow);
    memset(x->second, 0, sizeof x->second);
    for (int b = 0, r = 0; x->nstop && b < 256; b++) {
        if (x->cls_raw[b] != 2)
            continue;
        x->srow[b] = (uint8_t)(++r);
        for (int d = 0; d < 256; d++) {
            char two[2] = { (char)b, (char)d };
            if (dw_added_at(x, added, two, 2, 0))
                x->second[r - 1][d >> 6] |= (uint64_t)1 << (d & 63);
        }
    }
    return 1;
}

/* K when the added tokens that start with a newline are the runs of 1
 * to K newlines, each matched before normalizing with no lstrip, rstrip
 * or single_word, and not special (decoded as its content, as the text
 * it stands for), and no added token is matched after normalizing (cls:
 * the byte classes); else 0. A run of newlines in a text is then split
 * out as runs of K and the rest, and nothing else there. */
static size_t newline_runs(const tk_added *added, const uint8_t *cls)
{
    char nl[64];
    const uint32_t *idx;
    size_t k = 0;
    if (cls['\n'] != 2 || tk_added_count(added, 1) != 0)
        return 0;
    memset(nl, '\n', sizeof nl);
    for (; k < sizeof nl; k++) {
        const tk_added_token *tok = tk_added_by_content(added, nl, k + 1);
        if (!tok)
            break;
        if (tok->lstrip || tok->rstrip || tok->single_word || tok->normalized || tok->special)
            return 0;
    }
    /* those K are all the patterns that start with a newline */
    return k > 0 && k < sizeof nl && tk_added_bucket(added, '\n', &idx) == k ? k : 0;
}

/* 1 when the pipeline's stages allow direct previews: a BPE model that
 * merges, windows, a normalizer that makes each space s (*c, *s, *slen
 * set) and may prepend one (*lead), and a decoder that joins by
 * ByteFallback and then strips the one leading space the normalizer
 * put in front (none when it put none), nothing else. */
static int pipeline_allows(const la_tokenizer *t, int windowable, char *c, const char **s, size_t *slen,
                           int *lead)
{
    size_t from, to;
    if (!t->model || tk_bpe_kind(t->model) != TK_MODEL_BPE || !windowable || tk_bpe_ignores_merges(t->model) ||
        !tk_normalizer_spaces(t->normalizer, c, s, slen, lead) || *c != ' ' ||
        tk_decoder_join(t->decoder) != TK_JOIN_BYTEFALLBACK)
        return 0;
    size_t cut = *lead ? 1 : 0;
    return tk_decoder_finish_cut(t->decoder, " a", 2, &from, &to) && from == cut && to == 2 &&
           tk_decoder_finish_cut(t->decoder, "  a ", 4, &from, &to) && from == cut && to == 4;
}

/* Byte-level pipelines (Llama-3, GPT-4o, Qwen, gpt-oss, GPT-3.5, Claude,
 * DeepSeek-V3) go word by word too. Their Splits are one of the chains
 * below, of patterns regex_fast.c knows, and under each chain no piece
 * holds a character other than white space followed by a space
 * (letters, numbers and other characters run up to a space, and a
 * contraction holds none), a space always starts a piece, and a piece
 * depends only on the text from its start on (no look-behind; the one
 * look-ahead, (?!\S), reads only white space's next character). So the
 * pieces of a text are those of each word with the space before it
 * (" " + w, the text's first word alone), when the word ends with a
 * character other than white space (DW_CUT), and the model's tokens of
 * a piece depend on its bytes alone.
 *
 * DeepSeek-V3's chain: \p{N}{1,3}, then a run of CJK ideographs and
 * kana, each Isolated, then its word pattern on the pieces they leave.
 * The first two match runs of characters that are never a space, in
 * which a match's end is decided by the first character outside the
 * run, and a space is outside both as the text's end is; a digit run
 * that starts after a space is cut in threes from the same start. So
 * their cuts in a text are those in its words, and the space after a
 * word is in a gap. The word pattern then sees pieces that run across a
 * space only inside such gaps, and there it behaves as the others:
 * its branches end a match before a space that follows a character
 * other than white space, and one of them (\s+ at least) matches at
 * the space. Cuts of each Split are then the words' own, and the final
 * pieces are those of " " + w.
 *
 * A normalizer, if any, must be a Unicode normal form, which never
 * crosses a space, and leave the word as it is (checked when its entry
 * is made), or leave every text as it is (an empty Sequence); only then
 * may added tokens be matched after normalizing, on the text itself.
 * The ByteLevel decoder joins the tokens' bytes, so a preview is the
 * text itself up to the m-th token's end (when that is on a whole
 * character, or the general path makes it). Added tokens are found as
 * for the other pipelines: any that may start in the first words sends
 * the record the general way. Any other chain (another order, another
 * pattern among them) is not direct. */
static int bl_chain(const tk_split_bytes *sb)
{
    static const char *const known[][TK_SPLIT_MAX] = {
        {"gpt2"}, {"cl100k"}, {"o200k"}, {"qwen2"},
        {"deepseek_digits", "deepseek_han_kana", "deepseek_words"},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        size_t n = 0;
        while (n < TK_SPLIT_MAX && known[i][n])
            n++;
        if (n != sb->n_re)
            continue;
        size_t j = 0;
        for (; j < n; j++) {
            const char *name = tk_regex_fast_name(sb->re[j]);
            if (!name || strcmp(name, known[i][j]) != 0)
                break;
        }
        if (j == n)
            return 1;
    }
    return 0;
}

/* What DeepSeek-V3's first two Splits need to match in a text: a byte of
 * a digit or outside ASCII for \p{N}, a lead byte E3-E9 for its CJK
 * ideographs and kana (U+3040-U+30FF, U+4E00-U+9FA5). */
enum { BL_NEEDS_DIGIT = 1, BL_NEEDS_CJK = 2 };

static void bl_needs(tk_direct *x, const tk_split_bytes *sb)
{
    for (size_t i = 0; i < sb->n_re && i < TK_SPLIT_MAX; i++) {
        const char *name = tk_regex_fast_name(sb->re[i]);
        x->needs[i] = !name                                    ? 0
                      : strcmp(name, "deepseek_digits") == 0   ? BL_NEEDS_DIGIT
                      : strcmp(name, "deepseek_han_kana") == 0 ? BL_NEEDS_CJK
                                                               : 0;
    }
}

/* 1 when b[0..n) has what Split level of x needs to match (or when that
 * is not known). */
static int bl_may_match(const tk_direct *x, size_t level, const char *b, size_t n)
{
    int need = x->needs[level];
    for (size_t i = 0; need && i < n; i++) {
        unsigned char c = (unsigned char)b[i];
        if (need == BL_NEEDS_DIGIT ? c >= 0x80 || (c >= '0' && c <= '9') : c >= 0xE3 && c <= 0xE9)
            return 1;
    }
    return !need;
}

static int bl_allows(const la_tokenizer *t)
{
    size_t from, to;
    return t->model && tk_bpe_kind(t->model) == TK_MODEL_BPE && t->split_bytes && !t->pretok_inert &&
           bl_chain(&t->sb) &&
           (tk_normalizer_identity(t->normalizer) || tk_normalizer_unicode_form(t->normalizer)) &&
           (tk_added_count(t->added, 1) == 0 || tk_normalizer_identity(t->normalizer)) &&
           !tk_added_any_lstrip(t->added) &&
           tk_decoder_join(t->decoder) == TK_JOIN_BYTELEVEL &&
           tk_decoder_finish_cut(t->decoder, " a", 2, &from, &to) && from == 0 && to == 2 &&
           tk_decoder_finish_cut(t->decoder, "  a ", 4, &from, &to) && from == 0 && to == 4;
}

void tk_direct_prepare(la_tokenizer *t, int windowable, int table_later)
{
    char c;
    const char *s;
    size_t slen;
    int lead;
    tk_direct_free(t);
    tk_direct x = { 0 };
    if (pipeline_allows(t, windowable, &c, &s, &slen, &lead)) {
        x.dec = tk_decoder_map_is_replace(t->decoder, s, slen, &c, 1);
    } else if (bl_allows(t)) {
        c = ' ', s = " ", slen = 1, lead = 0;
        x.bl = 1;
        x.added_norm = tk_added_count(t->added, 1) > 0;
        bl_needs(&x, &t->sb);
    } else {
        return;
    }
    if (!classes(&x, t->added, c))
        return;
    x.c = c;
    x.lead = lead;
    x.s = s;
    x.slen = slen;
    x.nl_run = !x.bl && !lead ? newline_runs(t->added, x.cls) : 0;
    /* (with table_later a cache entry's table may be taken instead:
     * tk_direct_table_use, else tk_direct_take) */
    if (!table_later && !(x.dw = dw_map()))
        return;                   /* no table, no direct previews */
    if (!(t->direct = malloc(sizeof x))) {
        if (x.dw)
            munmap(x.dw, DW_MAP);
        return;
    }
    *t->direct = x;
}

void tk_direct_take(la_tokenizer *t)
{
    if (t->direct && !t->direct->dw && !(t->direct->dw = dw_map()))
        tk_direct_free(t);
}

void tk_direct_clear(la_tokenizer *t)
{
    if (t->direct && t->direct->dw)
        memset(t->direct->dw, 0, sizeof(dw_cache));
}

void tk_direct_set_busy(la_tokenizer *t, int busy)
{
    dw_cache *dc = t->direct ? t->direct->dw : NULL;
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
    if (!t->direct || !t->direct->dw || n == 0 || n > DW_KEY)
        return 0;
    dw_key_of(word, n, 1, &k);
    return dw_read(dw_set(t->direct->dw, &k), &k, &e);
}

int tk_direct_in_entry(const la_tokenizer *t)
{
    return t->direct && t->direct->in_entry;
}

int tk_direct_lead(const la_tokenizer *t)
{
    return t->direct && t->direct->lead;
}

int tk_direct_stops(const la_tokenizer *t)
{
    return t->direct ? t->direct->nstop : 0;
}

void tk_direct_set_fast_only(la_tokenizer *t, int on)
{
    if (t->direct)
        t->direct->fast_only = on;
}

void tk_direct_free(la_tokenizer *t)
{
    tk_direct *x = t->direct;
    if (!x)
        return;
    if (x->dw && !x->borrowed)
        munmap(x->dw, DW_MAP);
    free(x);
    t->direct = NULL;
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
    if (n > DW_TOK - d->n) {      /* the first tokens are kept all the same */
        memcpy(d->ids + d->n, ids, (DW_TOK - d->n) * sizeof *ids);
        d->n = DW_TOK;
        d->over = 1;
        return 1;
    }
    memcpy(d->ids + d->n, ids, n * sizeof *ids);
    d->n += n;
    return 0;
}

/* Marks in d where its token j ends, at (in bytes from the word's
 * space, or the piece's start when off is 0), and whether that is on a
 * whole character of word[0..n). */
static inline void mark_end(dw_entry *d, size_t j, size_t at, const char *word, size_t n, size_t off)
{
    d->end[j] = (uint8_t)at;
    if (at == n + off || ((unsigned char)word[at - off] & 0xC0) != 0x80)
        d->whole |= (uint8_t)(1u << j);
}

/* Fills d from the model's spans of b (s + piece, or the piece), where
 * each token's string is the bytes it covers (no byte fallback or unk
 * among them) and the decoder's one Replace turns only the leading s
 * into the space: the tokens' ends from their lengths, their strings
 * never read (a new word's vocabulary strings are cold). 1 when filled,
 * 0 when the spans do not tell (the tokens' decoded strings must), or an
 * error. */
static int fill_by_spans(const la_tokenizer *t, la_tok_work *w, dw_entry *d, const la_buf *b,
                         const char *word, size_t n, int lead, la_err *err)
{
    uint32_t ids[DW_TOK + 1], lens[DW_TOK + 1];
    size_t nt, off = lead ? 1 : 0;
    int rc = tk_bpe_word_spans(t->model, w, b->data, b->len, ids, lens, DW_TOK + 1, &nt, err);
    if (rc != 1)
        return rc;
    if (nt > DW_TOK) {
        d->flags = DW_BIG;        /* its first DW_TOK tokens kept */
        nt = DW_TOK;
    }
    size_t pos = 0;               /* in b */
    for (size_t j = 0; j < nt; j++) {
        const char *cov = b->data + pos;
        if (lens[j] == 6 && memcmp(cov, "<0x", 3) == 0 && cov[5] == '>')
            return 0;             /* a string ByteFallback would make a byte of */
        pos += lens[j];
        mark_end(d, j, pos - (lead ? t->direct->slen - 1 : 0), word, n, off);
    }
    d->ntok = (uint8_t)nt;
    return 1;
}

/* The string of model token id after the decoder's per-token stages,
 * into tok: the decoder's one Replace made here when that is all they
 * do (the general maps cost a new word more), else the decoder's own. */
static int token_text(const la_tokenizer *t, la_tok_work *w, uint32_t id, la_buf *tok, la_err *err)
{
    const tk_direct *x = t->direct;
    size_t slen = 0;
    const char *s = tk_bpe_id_to_token(t->model, id, &slen);
    la_buf_clear(tok);
    if (!s)
        s = "", slen = 0;
    if (!x->dec)
        return tk_decoder_map(t->decoder, s, slen, tok, w, err);
    if (la_buf_reserve(tok, slen))
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    size_t o = 0;
    for (size_t i = 0; i < slen;) {
        if (s[i] == x->s[0] && slen - i >= x->slen && memcmp(s + i, x->s, x->slen) == 0) {
            tok->data[o++] = x->c;
            i += x->slen;
        } else {
            tok->data[o++] = s[i++];
        }
    }
    tok->len = o;
    return LA_OK;
}

/* Fills d from the tokens k collected for " " + piece (or the piece) by
 * walking their decoded strings along it: d->ntok stays 0 unless they
 * spell it exactly. LA_OK or an error. */
static int fill_by_walk(const la_tokenizer *t, la_tok_work *w, dw_entry *d, const dw_sink *kp,
                        const char *word, size_t n, int lead, la_err *err)
{
    size_t off = lead ? 1 : 0, total = n + off, at = 0;   /* byte i is word[i - off] */
    const dw_sink k = *kp;
    int rc;
    if (k.over)
        d->flags = DW_BIG;        /* its first k.n tokens are walked and kept all the same */
    if (k.n == 0)
        return LA_OK;
    int fallback = tk_decoder_join(t->decoder) == TK_JOIN_BYTEFALLBACK;
    la_buf *tok = &w->dwtok;
    for (size_t j = 0; j < k.n; j++) {
        /* the token's string made here rather than taken from the per-id
         * strings of previews: a word is filled once, and on a first pass
         * that table's pages, touched for the first time, cost more than
         * the decoding */
        if ((rc = token_text(t, w, k.ids[j], tok, err)) != LA_OK)
            return rc;
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
            if (at >= total || str[i] != (at < off ? t->direct->c : word[at - off]))
                return LA_OK;
        mark_end(d, j, at, word, n, off);
    }
    if (k.over ? at < total : at == total)
        d->ntok = (uint8_t)k.n;
    return LA_OK;
}

/* Fills d by tokenizing b (s + piece, or the piece) with the model and
 * walking the tokens' decoded strings (fill_by_walk). */
static int fill_by_decoding(const la_tokenizer *t, la_tok_work *w, dw_entry *d, const la_buf *b,
                            const char *word, size_t n, int lead, la_err *err)
{
    dw_sink k = { { dw_push, NULL }, { 0 }, 0, 0 };
    int rc = tk_bpe_tokenize_once(t->model, b->data, b->len, &k.sink, w, err);
    if (rc < 0)
        return rc;
    return fill_by_walk(t, w, d, &k, word, n, lead, err);
}

/* The model's tokens of a byte-level pipeline's text b[0..n) (a word
 * with the space before it, or the text's first word), into k: its
 * pieces as the Splits give them from Split `level` on (each cuts the
 * pieces of the one before; bl_allows: one of the known chains), each
 * in ByteLevel's characters, tokenized by the model. LA_OK or an error. */
static int bl_tokens(const la_tokenizer *t, la_tok_work *w, size_t level, const char *b, size_t n, dw_sink *k,
                     la_err *err)
{
    const tk_split_bytes *sb = &t->sb;
    if (level == sb->n_re) {
        la_buf *mb = &w->mapped;
        la_buf_clear(mb);
        if (tk_split_bytes_map(sb, b, n, mb) != LA_OK)
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
        int r = tk_bpe_tokenize_once(t->model, mb->data, mb->len, &k->sink, w, err);
        return r < 0 ? r : LA_OK;
    }
    if (sb->gaps && !bl_may_match(t->direct, level, b, n))
        return bl_tokens(t, w, level + 1, b, n, k, err);   /* no match: the one gap, the whole text */
    tk_regex_iter it = { 0, 0 };
    size_t prev = 0, ms, me;
    int rc;
    for (;;) {
        rc = tk_regex_iter_next(sb->re[level], b, n, &it, &ms, &me, w, err);
        if (rc < 0)
            return rc;
        size_t span[2][2] = { { prev, rc ? ms : n }, { rc ? ms : n, rc ? me : n } };
        int keep[2] = { sb->gaps, sb->matches };
        for (int i = 0; i < 2 && !k->over; i++) {
            size_t a = span[i][0], e = span[i][1];
            if (!keep[i] || a == e)
                continue;
            int r = bl_tokens(t, w, level + 1, b + a, e - a, k, err);
            if (r != LA_OK)
                return r;
        }
        if (!rc || k->over)
            return LA_OK;
        prev = me;
    }
}

/* 1 when the text's last character, s[0..n) (n > 0), is not white
 * space as the Split pattern's \s sees it: then a cut lies before a
 * space after it. */
static int bl_cut_after(const char *s, size_t n)
{
    size_t last = n;
    while (last > 0 && ((unsigned char)s[last - 1] & 0xC0) == 0x80)
        last--;
    last = last ? last - 1 : 0;
    int32_t cp;
    if (tk_utf8_decode((const unsigned char *)s + last, n - last, &cp) != n - last)
        return 0;
    /* the class table is there (a space is white space in it) */
    return (tk_fast_class(' ') & TK_FC_S) && !(tk_fast_class(cp) & TK_FC_S);
}

/* dw_fill for a byte-level pipeline: the tokens of " " + word (lead) or
 * the word, walked along it, when a normalizer leaves that text as it
 * is; then whether a cut holds after it. */
static int bl_fill(const la_tokenizer *t, la_tok_work *w, dw_entry *d, const char *word, size_t n, int lead,
                   la_err *err)
{
    la_buf *b = &w->dec2;
    la_buf_clear(b);
    if ((lead && la_buf_putc(b, ' ')) || la_buf_append(b, word, n))
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    int rc;
    /* a Unicode normal form (bl_allows: the one normalizer there may be
     * besides none) leaves ASCII as it is */
    size_t i = 0;
    while (i < b->len && !((unsigned char)b->data[i] & 0x80))
        i++;
    if (t->normalizer && i < b->len) {
        w->lead0 = 1;
        if ((rc = t->normalizer->apply(t->normalizer, b->data, b->len, &w->seg, w, 0, err)) != LA_OK)
            return rc;
        if (w->seg.len != b->len || memcmp(w->seg.data, b->data, b->len) != 0)
            return LA_OK;         /* normalized to another text: not direct */
    }
    dw_sink k = { { dw_push, NULL }, { 0 }, 0, 0 };
    if ((rc = bl_tokens(t, w, 0, b->data, b->len, &k, err)) != LA_OK)
        return rc;
    if ((rc = fill_by_walk(t, w, d, &k, word, n, lead, err)) != LA_OK || !d->ntok)
        return rc;
    if (bl_cut_after(word, n))
        d->flags |= DW_CUT;
    return LA_OK;
}

/* Fills d for the piece word[0..n): a word's first piece (lead: the s of
 * the space before it, then the piece) or a later one (the piece alone,
 * cut from the rest of its word where no merge crosses), by the model's
 * spans when they tell, else by its tokens' decoded strings; then
 * whether a cut holds after its last character. */
static int dw_fill(const la_tokenizer *t, la_tok_work *w, dw_entry *d, const char *word, size_t n,
                   int lead, la_err *err)
{
    const tk_direct *x = t->direct;
    d->ntok = 0;
    d->flags = 0;
    d->whole = 0;
    if (!tk_utf8_valid(word, n))
        return LA_OK;
    if (x->bl)
        return bl_fill(t, w, d, word, n, lead, err);
    la_buf *b = &w->dec2;
    la_buf_clear(b);
    if ((lead && la_buf_append(b, x->s, x->slen)) || la_buf_append(b, word, n))
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    int rc = 0;
    if (x->dec && !tk_find_bytes(word, n, x->s, x->slen))
        rc = fill_by_spans(t, w, d, b, word, n, lead, err);
    if (rc == 0) {
        d->whole = 0;
        rc = fill_by_decoding(t, w, d, b, word, n, lead, err);
    }
    if (rc < 0 || !d->ntok)
        return rc < 0 ? rc : LA_OK;
    size_t last = n;              /* the piece's last character */
    while (last > 0 && ((unsigned char)word[last - 1] & 0xC0) == 0x80)
        last--;
    last = last ? last - 1 : 0;
    if (tk_bpe_cut_between(t->model, word + last, n - last, x->s, x->slen))
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
    if (t->direct->bl)
        return 0;                 /* a byte-level word is filled whole */
    size_t to = tk_bpe_chunk_end(t->model, word, n, 0);
    if (to >= n)
        return 0;
    size_t off = lead ? 1 : 0, ntok = 0;
    for (size_t from = 0; from < n;) {
        int plead = lead && from == 0;
        dw_k k;
        dw_entry pe;
        dw_key_of(word + from, to - from, plead, &k);
        int rc = dw_word(t, w, (dw_cache *)t->direct->dw, word + from, to - from, &k, plead, &pe, err);
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
 * would, and its entry kept while its set has a free way: many of the
 * words a run meets first are such words. At most DW_SLOTS words are
 * tokenized, whatever the vocabulary's size. */
int tk_direct_prefill(la_tokenizer *t, la_tok_work *w, la_err *err)
{
    dw_cache *dc = t->direct ? t->direct->dw : NULL;
    if (!dc)
        return LA_OK;
    uint32_t ids = tk_bpe_vocab_size(t->model);
    size_t tried = 0;
    int rc = LA_OK;
    la_buf bytes = { 0 };
    for (uint32_t id = 0; id < ids && tried < DW_SLOTS && rc == LA_OK; id++) {
        size_t len = 0;
        const char *s = tk_bpe_id_to_token(t->model, id, &len);
        if (s && t->direct->bl) {
            /* a byte-level token's string spells its bytes in ByteLevel's
             * characters: " w" is "\xC4\xA0" + w's */
            la_buf_clear(&bytes);
            if (len < 3 || len > 2 * (DW_KEY + 1) || tk_byte_level_bytes(s, len, &bytes)) {
                s = NULL;
            } else {
                s = bytes.data;
                len = bytes.len;
            }
        }
        if (!s || len <= t->direct->slen || len - t->direct->slen > DW_KEY || memcmp(s, t->direct->s, t->direct->slen) != 0)
            continue;
        const char *word = s + t->direct->slen;
        size_t n = len - t->direct->slen, i = 0;
        while (i < n && !t->direct->cls[(unsigned char)word[i]])
            i++;
        if (i < n)
            continue;             /* never a word of a text: it holds a space or an added token's start */
        dw_k k;
        dw_key_of(word, n, 1, &k);
        dw_slot *set = &dc->e[k.set];
        dw_entry d;
        /* a byte-level vocabulary's words take half of a set at most:
         * the words of its texts are more often not among them (numbers,
         * words with punctuation, long words in pieces) and need room */
        if ((uint8_t)set[t->direct->bl ? DW_WAYS / 2 - 1 : DW_WAYS - 1].w[2] != 0 || dw_read(set, &k, &d))
            continue;             /* the set is full (of more common words), or has it */
        tried++;
        rc = dw_miss(t, w, set, word, n, &k, 1, &d, err);
    }
    la_buf_free(&bytes);
    return rc;
}

const void *tk_direct_table(const la_tokenizer *t, size_t *len)
{
    *len = t->direct && t->direct->dw ? sizeof(dw_cache) : 0;
    return *len ? t->direct->dw : NULL;
}

/* 1 when entry d, in the way of tag byte tag of set number set, is
 * empty (all zero, tag 0) or is one that dw_miss could have made: a
 * piece of 1 to DW_KEY bytes zero-padded, DW_BACKSLASH when it holds a
 * backslash, kept in the set and under the
 * tag its key gives, with up to DW_TOK tokens whose ends rise to the
 * piece's end, the last one on a whole character (dw_take's walk stops
 * there), and no flag but DW_CUT and DW_BIG (DW_BIG: only the first
 * tokens kept, ending before the piece's end, or none). */
static int dw_entry_valid(const dw_entry *d, size_t set, uint8_t tag)
{
    if (d->klen == 0) {
        static const char zero[offsetof(dw_entry, seq)];
        return tag == 0 && memcmp(d, zero, sizeof zero) == 0;
    }
    int bs = d->klen > DW_BACKSLASH;
    size_t kl = (size_t)d->klen - 1 - (bs ? DW_BACKSLASH : 0);
    int lead = kl < 32;
    size_t n = kl - (lead ? 0 : 32);
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
        d->ntok > DW_TOK)
        return 0;
    if (!d->ntok)
        return 1;                 /* not direct: nothing else is read */
    size_t total = n + (lead ? 1 : 0), prev = 0;
    for (size_t j = 0; j < d->ntok; j++) {
        if (d->end[j] <= prev || d->end[j] > total)
            return 0;
        prev = d->end[j];
    }
    if (d->flags & DW_BIG)
        return prev < total && (d->whole >> d->ntok) == 0;
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

int tk_direct_table_use(la_tokenizer *t, void *p, size_t len, int own)
{
    if (!t->direct || len != sizeof(dw_cache) || ((uintptr_t)p & 63) != 0)
        return 0;
    if (t->direct->dw && !t->direct->borrowed)
        munmap(t->direct->dw, DW_MAP);
    t->direct->dw = p;
    t->direct->in_entry = 1;
    t->direct->borrowed = !own;
    return 1;
}

/* Takes piece d (at text offset at; lead: with the space before it) into
 * a preview of m tokens that has *count so far: 1 when the m-th token is
 * in it (*units and *end set), 0 when it was taken whole, -1 when the
 * preview would end inside a character (replace: the general path). A
 * DW_BIG piece is taken only when the preview ends in its first tokens
 * (its callers see to that): past them it goes in pieces. */
static inline __attribute__((always_inline)) int dw_take(const dw_entry *d, size_t at, int lead, size_t m,
                                                        int complete, size_t *count, size_t *units,
                                                        size_t *end)
{
    if (*count + d->ntok < m) {
        *count += d->ntok;
        return 0;
    }
    size_t j = m - *count - 1;
    if (complete) {
        while (!(d->whole >> j & 1))
            if (++j == d->ntok)
                return -1;        /* only a DW_BIG piece's first tokens: a whole piece's last is whole */
    } else if (!(d->whole >> j & 1)) {
        return -1;
    }
    *units = *count + j + 1;
    *end = at + d->end[j] - (lead ? 1 : 0);   /* a lead piece counts the space before it */
    return 1;
}

/* 1 when a|b, two bytes of a byte-level pipeline's word, are ASCII
 * letters, digits or punctuation and one of them is a digit and the
 * other not. Under the chains byte-level direct previews take, digits
 * are pieces of digits alone, so a piece ends between them. Under the
 * one-Split patterns the piece before such a point ends on a character
 * other than white space and is taken by a branch that reads no
 * look-ahead (a letter, digit or other run, a contraction), so the text
 * before the point alone gives the same pieces, and so does the text
 * after it. Under DeepSeek-V3's chain its first Split cuts there (a run
 * of digits ends or starts, cut in threes from its start), and the
 * later Splits only cut the pieces it leaves, so again each side alone
 * gives the same pieces. */
static inline int bl_cut_at(unsigned char a, unsigned char b)
{
    return a > ' ' && a < 0x7F && b > ' ' && b < 0x7F && ((a >= '0' && a <= '9') != (b >= '0' && b <= '9'));
}

/* The end of a byte-level word's piece word[from..to) to look up: n when
 * the rest is at most max (<= DW_KEY) bytes, else the last cut
 * (bl_cut_at) that leaves at most max; 0 when there is none. */
static size_t bl_chunk_end(const char *word, size_t n, size_t from, size_t max)
{
    if (n - from <= max)
        return n;
    for (size_t c = from + max; c > from; c--)
        if (bl_cut_at((unsigned char)word[c - 1], (unsigned char)word[c]))
            return c;
    return 0;
}

/* A word of more than DW_KEY bytes or DW_TOK tokens, word[0..n) (at
 * base in the text the preview's end counts in; lead0: with the space
 * before it; check: it may hold a backslash, dw_key_of_as), in pieces cut where the model never merges across
 * (GSM8K's "3*2=<<3*2=6>>6", whose digits are tokens of their own), or
 * for byte-level pipelines where bl_cut_at allows: as dw_take, with -1
 * also for a piece that must go the general way, and < -1 (*rc) on
 * error. */
static int dw_pieces(const la_tokenizer *t, la_tok_work *w, dw_cache *dc, const char *word, size_t n,
                     int lead0, int check, size_t base, int space_after, size_t m, int complete, size_t *count,
                     size_t *units, size_t *end, int *rc, la_err *err)
{
    int bl = t->direct->bl, small = 0;
    for (size_t from = 0; from < n;) {
        int lead = from == 0 && lead0;
        /* after a piece of too many tokens, pieces of at most DW_TOK
         * tokens for sure (a token covers a byte at least; a lead
         * piece's space is one more), rather than one entry for every
         * shorter piece tried */
        size_t max = !small ? DW_KEY : lead ? DW_TOK - 1 : DW_TOK;
        size_t to = bl ? bl_chunk_end(word, n, from, max) : tk_bpe_chunk_end(t->model, word, n, from),
               pn = to - from;
        if (to <= from || pn > DW_KEY)
            return -1;
        dw_k k;
        dw_key_of_as(word + from, pn, lead, check, &k);
        dw_entry de, *d = &de;
        if ((*rc = dw_word(t, w, dc, word + from, pn, &k, lead, d, err)) != LA_OK)
            return -2;
        if (bl && (d->flags & DW_BIG) && *count + d->ntok < m && !small) {
            small = 1;
            continue;
        }
        if (!d->ntok || ((d->flags & DW_BIG) && *count + d->ntok < m) ||
            (to == n && space_after && !(d->flags & DW_CUT)))
            return -1;
        int r = dw_take(d, base + from, lead, m, complete, count, units, end);
        if (r != 0)
            return r;
        from = to;
    }
    return 0;
}

#ifdef __SSE2__
/* The bytes of c that are stop bytes: those of rows first..rows of
 * x->vec (row 0 the space). */
static inline __attribute__((always_inline)) __m128i dw_hits(const tk_direct *x, __m128i c, int first, int rows)
{
    const __m128i *v = (const __m128i *)(const void *)x->vec;
    __m128i hit = _mm_cmpeq_epi8(c, _mm_loadu_si128(v + first));
    for (int r = first + 1; r < rows; r++)
        hit = _mm_or_si128(hit, _mm_cmpeq_epi8(c, _mm_loadu_si128(v + r)));
    return hit;
}
#endif

/* The first position at or after e where text[0..len) has a byte of a
 * class other than 0 in cls, or len: 16 bytes a step against the few
 * such bytes (most words take one step), where they are few. */
static inline __attribute__((always_inline)) size_t dw_scan_rows(const tk_direct *x, const uint8_t *cls,
                                                                const char *text, size_t e, size_t len, int rows)
{
#ifdef __SSE2__
    while (x->nstop && len - e >= 16) {
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(text + e));
        unsigned bits = (unsigned)_mm_movemask_epi8(dw_hits(x, c, 0, rows));
        if (!bits) {
            e += 16;
            continue;
        }
        e += (size_t)__builtin_ctz(bits);
        if (cls[(unsigned char)text[e]])
            return e;
        e++;                      /* a byte only the other table stops at */
    }
#else
    (void)x, (void)rows;
#endif
    while (e < len && !cls[(unsigned char)text[e]])
        e++;
    return e;
}

static inline __attribute__((always_inline)) size_t dw_scan(const tk_direct *x, const uint8_t *cls,
                                                           const char *text, size_t e, size_t len)
{
    return x->nstop <= 4 ? dw_scan_rows(x, cls, text, e, len, 4) : dw_scan_rows(x, cls, text, e, len, DW_STOPS);
}

/* 1 when an added token of either set x looks for may start at s[pos]. */
static inline int dw_added_at(const tk_direct *x, const tk_added *added, const char *s, size_t len, size_t pos)
{
    return tk_added_may_start(added, 0, s, len, pos) ||
           (x->added_norm && tk_added_may_start(added, 1, s, len, pos));
}

/* 1 when text[0..n), an escaped word's text, holds a space or may hold
 * (the start of) an added token, where the byte classes say one may
 * start. */
static int dw_stops_in(const tk_direct *x, const tk_added *added, const char *text, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = x->cls[(unsigned char)text[i]];
        if (c == 1 || (c == 2 && dw_added_at(x, added, text, n, i)))
            return 1;
    }
    return 0;
}

/* The text of an escaped word raw[0..n), which holds escapes, into buf
 * (cap bytes, at most DW_LONG): its length, or 0 when it does not fit,
 * or holds a byte the word scan stops at (an escaped space, an added
 * token's start, say). */
static size_t dw_unescape(const tk_direct *x, const tk_added *added, const tk_escaping *esc, const char *raw,
                          size_t n, char *buf, size_t cap)
{
    /* The two-byte escapes (a JSON body's "\n", quotes) byte by byte,
     * here: a word is short, and the whole-body unescaping's setup costs
     * more than the word. Longer escapes go the long way. */
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = raw[i];
        if (c == '\\') {
            int ch = i + 1 < n ? esc->short_escape(raw[++i]) : -1;
            if (ch < 0)
                goto slow;
            c = (char)ch;
        }
        if (o == cap)
            return 0;
        buf[o++] = c;
    }
    return dw_stops_in(x, added, buf, o) ? 0 : o;
slow:;
    /* room for the whole body's bytes (its text is no longer), so that
     * the buffer is never grown */
    char tmp[6 * DW_LONG + 8];
    la_buf b = { tmp, 0, sizeof tmp };
    if (n > 6 * cap || esc->unescape(raw, n, &b, NULL) != LA_OK || b.len > cap || dw_stops_in(x, added, tmp, b.len))
        return 0;
    memcpy(buf, tmp, b.len);
    return b.len;
}

/* The offset in a body's word raw[0..n) where its text's first k bytes
 * end, or SIZE_MAX when that is inside an escape's character. */
static size_t dw_raw_offset(const tk_escaping *esc, const char *raw, size_t n, size_t k)
{
    size_t i = 0, done = 0;
    char tmp[16];                 /* an escape is at most 12 bytes: never grown */
    while (done < k && i < n) {
        if (raw[i] != '\\') {
            i++, done++;
            continue;
        }
        size_t e = esc->escape_len(raw, i, n);
        la_buf b = { tmp, 0, sizeof tmp };
        if (!e || e > 12 || esc->unescape(raw + i, e, &b, NULL) != LA_OK)
            return SIZE_MAX;
        i += e, done += b.len;
    }
    return done == k ? i : SIZE_MAX;
}

/* A preview's end *end, a text offset in the word of a body that holds
 * escapes and spans text[at..e), made the offset in the body: 0 when it
 * falls inside an escape's character. */
static int dw_end_in_body(const tk_escaping *esc, const char *text, size_t at, size_t e, size_t *end)
{
    size_t off = dw_raw_offset(esc, text + at, e - at, *end - at);
    if (off == SIZE_MAX)
        return 0;
    *end = at + off;
    return 1;
}

#ifdef __SSE2__
/* Bits of b[0..64): in *other the stop bytes other than the space, in
 * the result the spaces (x->vec). */
static inline __attribute__((always_inline)) uint64_t dw_masks_rows(const tk_direct *x, const char *b,
                                                                   uint64_t *other, int rows)
{
    __m128i sp = _mm_loadu_si128((const __m128i *)(const void *)x->vec);
    uint64_t m = 0, s = 0;
    for (int i = 0; i < 4; i++) {
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(b + 16 * i));
        m |= (uint64_t)(unsigned)_mm_movemask_epi8(dw_hits(x, c, 1, rows)) << (16 * i);
        s |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(c, sp)) << (16 * i);
    }
    *other = m;
    return s;
}

/* The rows compared are a constant in each copy, so that the loops
 * unroll; a tokenizer's texts always take the same one. */
static inline __attribute__((always_inline)) uint64_t dw_masks(const tk_direct *x, const char *b, uint64_t *other)
{
    return x->nstop <= 4 ? dw_masks_rows(x, b, other, 4) : dw_masks_rows(x, b, other, DW_STOPS);
}
#endif

/* Where the words dw_fast takes must end in b[0..len) (64 at most):
 * at the first of the stop bytes other than the space, other (bits of
 * b's first 64 bytes), where an added token may start, or at len or 64.
 * The backslashes that start escapes are not such a stop: their bits
 * go to *esc, and the escaped character's bit is dropped ("\\\\"). A
 * first byte of added tokens is passed when the byte after it is in
 * the text and no added token starts with the two (x->second); a
 * backslash after it may spell any character, and stops. */
static inline __attribute__((always_inline)) size_t dw_limit(const tk_direct *x, const char *b, size_t len,
                                                            uint64_t other, uint64_t *esc)
{
    while (other) {
        size_t i = (size_t)__builtin_ctzll(other);
        unsigned char c = (unsigned char)b[i], d = (unsigned char)b[i + 1];
        other &= other - 1;
        if (c == '\\') {
            *esc |= (uint64_t)1 << i;
            other &= ~((uint64_t)2 << i);
            continue;
        }
        if (i + 1 >= len || d == '\\' || (x->second[x->srow[c] - 1][d >> 6] >> (d & 63) & 1))
            return i;
    }
    return len < 64 ? len : 64;
}

/* 1 when bits has a bit below e (<= 64). */
static inline int dw_below(uint64_t bits, size_t e)
{
    return (bits & (e < 64 ? ((uint64_t)1 << e) - 1 : ~(uint64_t)0)) != 0;
}

/* The first words of an escaped text text[0..len), the common case of
 * tk_direct_preview, in few instructions: words of 1 to DW_KEY bytes, one
 * space after each, within the first 64 bytes and before any byte where
 * an added token may start (dw_limit), all in the table. A word that
 * holds escapes is looked up by its bytes here (DW_BACKSLASH: entries
 * that take_word keeps, their ends in those bytes), and *escaped says
 * whether a word taken holds one. Their sets are fetched together, then read in
 * turn. Returns 1 when the m-th token is in them (*units and *end set),
 * 2 when the text ran out first, -1 when the general path must make the
 * preview, and 0 when the caller goes on from *pos, *count tokens taken.
 * Inlined whatever the size of its caller: its code, not the compiler's
 * weighing of the word-by-word loop beside it, is what most records
 * cost. */
static inline __attribute__((always_inline)) int dw_fast(const tk_direct *x, const dw_cache *dc, const char *text,
                                                        size_t len, size_t m, int complete, size_t *pos,
                                                        size_t *count, size_t *units, size_t *end, int *escaped)
{
#ifdef __SSE2__
    char pad[96];
    const char *b = text;
    if (len < 80) {               /* a key reads 16 bytes wherever a word starts */
        memset(pad, 0, sizeof pad);
        memcpy(pad, text, len);
        b = pad;
    }
    uint64_t other, sp = dw_masks(x, b, &other);
    uint64_t in = len < 64 ? ((uint64_t)1 << len) - 1 : ~(uint64_t)0, esc = 0;
    other &= in;
    sp &= in;
    /* the words end before the first other stop byte, or the text's end
     * when it comes first inside the 64 bytes; when that stop byte is an
     * escape, or a first byte of added tokens that none goes on with
     * there, the words go on past it (dw_limit) */
    size_t limit = other ? (size_t)__builtin_ctzll(other) : len < 64 ? len : 64;
    uint64_t rest = sp;           /* the spaces from limit on */
    sp &= limit < 64 ? ((uint64_t)1 << limit) - 1 : ~(uint64_t)0;
    rest &= ~sp;
    size_t want = m < DW_GATHER ? m : DW_GATHER, n = 0, p = 0;
    size_t ends[DW_GATHER];
    size_t chunk = DW_GATHER;     /* < DW_GATHER: k[chunk] is a long word's first chunk */
    dw_k k[DW_GATHER];
gather:
    while (n < want) {
        size_t e;
        if (sp) {
            e = (size_t)__builtin_ctzll(sp);
            sp &= sp - 1;
        } else if (limit == len) {
            e = len;              /* the last word */
        } else {
            goto stop;
        }
        size_t wl = e - p, ce;
        if (wl - 1 >= DW_KEY) {   /* empty (two spaces) or long */
            /* a byte-level pipeline's long word: its first chunk, cut
             * where no token spans (bl_chunk_end, as dw_pieces cuts it),
             * may hold the preview's last token; it and the byte after it
             * hold no escape, so their bytes are the text's */
            if (wl > DW_KEY && x->bl && (ce = bl_chunk_end(b + p, wl, 0, DW_KEY)) != 0 &&
                !memchr(b + p, '\\', ce + 1)) {
                dw_key_at(b + p, ce, (uint8_t)(ce + 1 + (n == 0 && !x->lead ? 32 : 0)), &k[n]);
                dw_fetch(dc, &k[n]);
                ends[n] = p + ce;
                chunk = n++;
            }
            break;
        }
        /* a text's first word without the normalizer's s in front is
         * keyed as a piece with no space before it */
        dw_key_at(b + p, wl, (uint8_t)(wl + 1 + (n == 0 && !x->lead ? 32 : 0)), &k[n]);
        dw_fetch(dc, &k[n]);
        ends[n++] = e;
        if (e == len)
            break;
        p = e + 1;
    }
    goto gathered;
stop:
    if (other) {
        /* the first stop byte: the words go on to where an added token
         * may start (dw_limit), those with escapes keyed by their bytes
         * here */
        limit = dw_limit(x, b, len, other, &esc);
        sp = rest & (limit < 64 ? ((uint64_t)1 << limit) - 1 : ~(uint64_t)0);
        other = 0;
        goto gather;
    }
gathered:
    p = 0;
    size_t c = 0;                 /* tokens taken (kept here, not through count, while the loop runs) */
    int lead = x->lead;
    for (size_t i = 0; i < n; i++) {
        dw_entry d;
        if (!dw_read(dw_set(dc, &k[i]), &k[i], &d) || !d.ntok || ((d.flags & DW_BIG) && c + d.ntok < m))
            break;
        size_t e = ends[i];
        if (i == chunk) {
            /* the preview ends in the chunk, or the word goes in pieces */
            if (c + d.ntok < m)
                break;
        } else if (e < len && !(d.flags & DW_CUT)) {
            return -1;
        }
        int r = dw_take(&d, p, lead, m, complete, &c, units, end);
        if (r) {
            if (esc)
                *escaped = dw_below(esc, e);
            return r;
        }
        if (e == len) {
            *count = c;
            *escaped = esc != 0;
            return 2;
        }
        p = e + 1;
        lead = 1;
    }
    *pos = p;
    *count = c;
    if (esc)
        *escaped = dw_below(esc, p);
#else
    (void)x, (void)dc, (void)text, (void)len, (void)m, (void)complete, (void)pos, (void)count;
    (void)units, (void)end, (void)escaped;
#endif
    return 0;
}

/* One direct preview under way: the text (plain, or escaped by esc) and
 * how far the tokens taken reach. */
typedef struct {
    const la_tokenizer *t;
    const tk_direct *x;
    la_tok_work *w;
    dw_cache *dc;
    const tk_escaping *esc;       /* NULL: a plain text */
    const uint8_t *cls;           /* x->cls, or x->cls_raw for an escaped text */
    const char *text;
    size_t len, m;
    int more, complete;
    size_t pos;                   /* where the next word starts */
    size_t count;                 /* tokens taken before it */
    size_t units, end;            /* once done: the preview's tokens, and where it ends in text */
    int escaped;                  /* the preview holds an escape */
    int fresh;                    /* pos starts a piece the added tokens cut (x->nl_run): its
                                   * first word has no s before it */
    la_err *err;
} dw_preview;

/* Words gathered from a preview's text, their table sets fetched. */
typedef struct {
    struct {
        size_t pos, n, tn;        /* where in text, its length there, its text's (0: in pieces) */
        size_t tl;                /* its text's length */
        int lead;                 /* with the s of a space before it (not the text's first word
                                   * when the normalizer prepends none) */
        const char *txt;          /* the word's text: in text, or in wt */
        size_t run;               /* > 0: not a word but a run of this many newlines (take_run) */
        int brk;                  /* a word that a run of newlines ends, not a space */
        dw_k k;
    } v[DW_BATCH];
    char wt[DW_BATCH][DW_LONG];
    size_t k;                     /* words gathered */
    int blocked;                  /* the word after them must go the general way */
} dw_batch;

/* The end of the word of pv's text that starts at p (the next space or
 * the text's end), *esc set when it holds an escape; SIZE_MAX when an
 * added token may start in it or an escape is cut short, which the
 * general path handles. With x->nl_run, a "\\n" escape ends it too (*brk
 * set): a run of newlines follows. */
static size_t word_end(const dw_preview *pv, size_t p, int *esc, int *brk)
{
    const uint8_t *cls = pv->cls;
    size_t e = p;
    *esc = 0;
    *brk = 0;
    for (;;) {
        e = dw_scan(pv->x, cls, pv->text, e, pv->len);
        if (e == pv->len || cls[(unsigned char)pv->text[e]] == 1)
            return e;
        if (cls[(unsigned char)pv->text[e]] == 3) {   /* only in escaped texts */
            if (pv->x->nl_run && e + 1 < pv->len && pv->text[e + 1] == 'n') {
                *brk = 1;
                return e;
            }
            size_t el = pv->esc->escape_len(pv->text, e, pv->len);
            if (!el)
                return SIZE_MAX;
            *esc = 1;
            e += el;
            continue;
        }
        if (dw_added_at(pv->x, pv->t->added, pv->text, pv->len, e))
            return SIZE_MAX;      /* an added token: the general path splits it out */
        e++;
    }
}

/* The run of "\\n" escapes at p in pv's text as the next item of b (a
 * run of newlines: x->nl_run); b->blocked when it may go on past the
 * window. */
static void gather_run(const dw_preview *pv, size_t p, dw_batch *b)
{
    size_t q = p, r = 0, i = b->k;
    while (q + 1 < pv->len && pv->text[q] == '\\' && pv->text[q + 1] == 'n')
        q += 2, r++;
    if (q == pv->len && pv->more) {
        b->blocked = 1;
        return;
    }
    b->v[i].pos = p;
    b->v[i].n = q - p;
    b->v[i].run = r;
    b->v[i].brk = 0;
    b->k++;
}

/* Gathers up to want words from pv->pos on into b and fetches their table
 * sets together: the table is bigger than the nearer caches, and the
 * lookups' misses then overlap instead of coming one after the other. */
static void gather_words(const dw_preview *pv, size_t want, dw_batch *b)
{
    size_t p = pv->pos;
    int fresh = pv->fresh;
    b->k = 0;
    b->blocked = 0;
    while (b->k < want) {
        int esc, brk;
        size_t e = word_end(pv, p, &esc, &brk);
        /* the word may go on past the window; or none (but a run of
         * newlines where no space comes before it: a space there would
         * end its piece, a token of its own) */
        if (e == SIZE_MAX || (e == pv->len && pv->more) ||
            (e == p && !(brk && (p == 0 || pv->text[p - 1] != pv->x->c)))) {
            b->blocked = 1;
            return;
        }
        size_t i = b->k;
        if (e == p) {
            gather_run(pv, p, b);
            if (b->blocked || b->v[i].pos + b->v[i].n == pv->len)
                return;
            p = b->v[i].pos + b->v[i].n;
            fresh = 1;
            continue;
        }
        b->v[i].pos = p;
        b->v[i].run = 0;
        b->v[i].brk = brk;
        b->v[i].lead = (p > 0 && !fresh) || pv->x->lead;
        b->v[i].n = e - p;
        b->v[i].txt = pv->text + p;
        b->v[i].tn = b->v[i].tl = e - p;
        if (esc) {
            /* words with escapes longer than a key are cut in pieces
             * as the others are (dw_pieces), from their text */
            b->v[i].txt = b->wt[i];
            b->v[i].tn = b->v[i].tl =
                dw_unescape(pv->x, pv->t->added, pv->esc, pv->text + p, e - p, b->wt[i], DW_LONG);
            if (!b->v[i].tn) {
                b->blocked = 1;
                return;
            }
        }
        if (b->v[i].tn > DW_KEY) {
            b->v[i].tn = 0;       /* in pieces, when it comes to it */
        } else {
            /* an escaped text's plain words hold no backslash */
            dw_key_of_as(b->v[i].txt, b->v[i].tn, b->v[i].lead, esc || !pv->esc, &b->v[i].k);
            dw_fetch(pv->dc, &b->v[i].k);
        }
        b->k++;
        if (e == pv->len)
            return;
        fresh = 0;
        p = brk ? e : e + 1;
    }
}

/* Keeps entry d of an escaped word raw[0..n) of a body (lead: with the
 * space before it) under the word's escaped bytes too, its ends made
 * offsets in those bytes, for dw_fast: the same bytes always unescape
 * to the same text, so they make the same tokens. Not when the bytes
 * are longer than a key or a token ends inside an escape's character. */
static void dw_keep_raw(const dw_preview *pv, const char *raw, size_t n, int lead, const dw_entry *d)
{
    size_t off = lead ? 1 : 0;
    if (n > DW_KEY)
        return;
    dw_k k;
    dw_key_of_as(raw, n, lead, 0, &k);
    dw_slot *set = &pv->dc->e[k.set];
    dw_entry e = *d;
    if (dw_read(set, &k, &e))
        return;                   /* kept before */
    e = *d;
    for (size_t j = 0; j < d->ntok; j++) {
        size_t o = dw_raw_offset(pv->esc, raw, n, d->end[j] - off);
        if (o == SIZE_MAX)
            return;
        e.end[j] = (uint8_t)(o + off);
    }
    memcpy(e.key, &k.a, 8);
    memcpy(e.key + 8, &k.b, 8);
    e.klen = k.klen;
    dw_insert(set, &e, (uint8_t)k.tags);
}

enum { DW_GENERAL, DW_NEXT, DW_DONE, DW_ALL };

/* Takes a run of r newlines, "\\n" escapes at text[at..at + n), into the
 * preview (x->nl_run = K): the added tokens split it out of the text,
 * leftmost-longest, so it makes runs of K newlines and then the rest,
 * one token each (ending on whole characters, as a newline is one), and
 * the text after it is a piece of its own, whose first word has no s
 * before it (pv->fresh). DW_DONE, DW_ALL or DW_NEXT, as take_word. */
static int take_run(dw_preview *pv, size_t at, size_t n, size_t r)
{
    size_t k = pv->x->nl_run, ntok = (r + k - 1) / k;
    pv->escaped = 1;
    if (pv->count + ntok >= pv->m) {
        size_t j = pv->m - pv->count;   /* tokens of the run taken */
        pv->units = pv->m;
        pv->end = at + 2 * (j * k < r ? j * k : r);
        return DW_DONE;
    }
    pv->count += ntok;
    if (at + n == pv->len)
        return DW_ALL;
    pv->pos = at + n;
    pv->fresh = 1;
    return DW_NEXT;
}

/* Takes gathered word i of b into the preview: DW_DONE when the m-th
 * token is in it (pv->units, pv->end set), DW_ALL when it was the text's
 * last, DW_NEXT when the preview goes on after it, DW_GENERAL when the
 * general path must make the preview; or an error (< 0). */
static int take_word(dw_preview *pv, const dw_batch *b, size_t i)
{
    size_t at = b->v[i].pos, n = b->v[i].n, e = at + n;
    if (b->v[i].run)
        return take_run(pv, at, n, b->v[i].run);
    /* a word a run of newlines ends is the last of its piece: no cut
     * after it is asked for */
    size_t cut_at = b->v[i].brk ? pv->len : e;
    int rc = LA_OK, esc = b->v[i].txt != pv->text + at, r;
    dw_entry de, *d = NULL;
    if (b->v[i].tn && (rc = dw_word(pv->t, pv->w, pv->dc, b->v[i].txt, b->v[i].tn, &b->v[i].k, b->v[i].lead,
                                    d = &de, pv->err)) != LA_OK)
        return rc;
    if (d && d->ntok && !((d->flags & DW_BIG) && pv->count + d->ntok < pv->m)) {
        if (esc)
            dw_keep_raw(pv, pv->text + at, n, b->v[i].lead, d);
        if (cut_at < pv->len && !(d->flags & DW_CUT))
            return DW_GENERAL;
        r = dw_take(d, at, b->v[i].lead, pv->m, pv->complete, &pv->count, &pv->units, &pv->end);
        if (r < 0 || (r > 0 && esc && !dw_end_in_body(pv->esc, pv->text, at, e, &pv->end)))
            return DW_GENERAL;
    } else if (!d || (d->flags & DW_BIG)) {
        /* an escaped word's pieces count their ends in its text, made
         * offsets in the body after */
        r = dw_pieces(pv->t, pv->w, pv->dc, b->v[i].txt, b->v[i].tl, b->v[i].lead, esc || !pv->esc, esc ? 0 : at,
                      cut_at < pv->len,
                      pv->m, pv->complete, &pv->count, &pv->units, &pv->end, &rc, pv->err);
        if (r < -1)
            return rc;
        if (r < 0)
            return DW_GENERAL;
        if (r > 0 && esc) {
            pv->end += at;
            if (!dw_end_in_body(pv->esc, pv->text, at, e, &pv->end))
                return DW_GENERAL;
        }
    } else {
        return DW_GENERAL;
    }
    pv->escaped |= esc;
    if (r > 0)
        return DW_DONE;
    if (e == pv->len)
        return DW_ALL;
    pv->pos = b->v[i].brk ? e : e + 1;
    pv->fresh = 0;
    return DW_NEXT;
}

/* The preview's words, from pv->pos on, a few at a time (no more than
 * the tokens still wanted: each word makes one at least): DW_DONE,
 * DW_ALL, DW_GENERAL or an error, as take_word. */
static int take_words(dw_preview *pv)
{
    dw_batch b;
    for (;;) {
        size_t want = pv->m - pv->count < DW_BATCH ? pv->m - pv->count : DW_BATCH;
        gather_words(pv, want, &b);
        for (size_t i = 0; i < b.k; i++) {
            int r = take_word(pv, &b, i);
            if (r != DW_NEXT)
                return r;
        }
        if (b.blocked || b.k == 0)
            return DW_GENERAL;
    }
}

/* The preview's text, up to where its last token ends, to out: the
 * text's bytes themselves, or escaped in the one way the caller writes
 * when it holds an escape. 1, or an error. */
static int put_preview(const dw_preview *pv, la_buf *out, la_preview_info *info)
{
    if (info) {
        info->units = pv->units;
        info->whole = !pv->more && pv->end == pv->len;
        info->extended = pv->units > pv->m;
    }
    if (!pv->escaped) {
        if (la_buf_append(out, pv->text, pv->end))
            return la_err_set(pv->err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
        return 1;
    }
    int rc = pv->esc->reescape(pv->text, pv->end, out, pv->err);
    return rc == LA_OK ? 1 : rc;
}

int tk_direct_preview(const la_tokenizer *t, la_tok_work *w, const tk_escaping *esc, const char *text,
                      size_t len, int more, size_t m, int complete, la_buf *out, la_preview_info *info,
                      la_err *err)
{
    const tk_direct *x = t->direct;
    if (!x || !x->dw || m == 0 || len == 0)
        return 0;
    dw_preview pv = { t, x, w, x->dw, esc, esc ? x->cls_raw : x->cls, text, len, m, more, complete,
                      0, 0, 0, 0, 0, 0, err };
    int r = 0;
    /* Most words are plain and in the table: dw_fast takes those, in few
     * instructions; from the first that is not (or after the last one it
     * looked at) take_words goes on, which handles every case. */
    if (esc && !more && x->nstop)
        r = dw_fast(x, pv.dc, text, len, m, complete, &pv.pos, &pv.count, &pv.units, &pv.end, &pv.escaped);
    if (r < 0 || (r == 0 && x->fast_only))
        return 0;
    r = r == 1 ? DW_DONE : r == 2 ? DW_ALL : take_words(&pv);
    if (r < 0 || r == DW_GENERAL)
        return r < 0 ? r : 0;
    if (r == DW_ALL) {            /* fewer than m tokens in all */
        pv.units = pv.count;
        pv.end = len;
    }
    return put_preview(&pv, out, info);
}
