/*
 * tk.h - internal interfaces of the tokenizer pipeline.
 *
 * tokenizer.json is a pipeline and so is this code, one file per stage:
 *   added.c       added/special tokens, split out of the raw text first
 *   normalize.c   normalizers            (tk_normalizer)
 *   pretokenize.c pre-tokenizers         (tk_pretok), regex.c for patterns
 *   bpe.c         the BPE model          (tk_bpe)
 *   decode.c      decoders               (tk_decoder)
 *   load.c        tokenizer.json -> pipeline; tokenizer.c runs it.
 *   byte_level.c  GPT-2's byte alphabet, for the three ByteLevel stages
 * Accelerators, each with one entry point that may decline (the
 * reference path then gives the same result): direct.c (direct
 * previews), bpe_words.c (short words merged by a scan, per-thread word
 * caches, the compact merge table and the tables of common characters;
 * the one switch is bpe_use, in bpe_int.h), cache.c and
 * cache_image.c (the tokenizer cache). Test-only hooks are in tk_test.h.
 * Each component is a struct with function pointers built by a
 * constructor from its cJSON object; a table maps "type" tags to
 * constructors, so adding a component adds one entry.
 *
 * Components are immutable after loading (shared by threads). Scratch
 * memory comes from tk_work, owned by the caller, reused between calls so
 * that the per-record path does not allocate once buffers have grown.
 */
#ifndef LA_TK_H
#define LA_TK_H

#include "lookahead.h"
#include <cjson/cJSON.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define TK_MAX_DEPTH 16   /* nesting of Sequence components, scratch slots */

/* The tokens of a preview: model tokens are ids alone (their strings
 * are the vocabulary's); added tokens keep the text they matched. */
typedef struct {
    uint32_t *ids;
    uint32_t *off, *len;         /* off UINT32_MAX: a model token */
    size_t n, cap;
    la_buf strs;
} tk_plist;

/* Appends a token with its own string to a preview list (added tokens;
 * tests). */
int tk_plist_push_added(tk_plist *p, uint32_t id, const char *s, size_t n);
/* Makes room for `more` further tokens; LA_OK or LA_ENOMEM. */
int tk_plist_reserve(tk_plist *p, size_t more);
/* Appends model ids (inline: once per word of a preview). */
static inline int tk_plist_push_model(tk_plist *p, const uint32_t *ids, size_t n)
{
    if (p->n + n > p->cap && tk_plist_reserve(p, n))
        return LA_ENOMEM;
    for (size_t i = 0; i < n; i++) {   /* a word's few ids: no library calls */
        p->ids[p->n + i] = ids[i];
        p->off[p->n + i] = UINT32_MAX;  /* a model token */
    }
    p->n += n;
    return LA_OK;
}

/* ---- work budget -------------------------------------------------------
 * A hostile tokenizer.json can make a stage's work or output grow faster
 * than the text (a Split regex that backtracks over the whole text at
 * every position, Replace normalizers that each double it). Each call of
 * the public API (encode, preview, decode) is given a budget from the
 * length of its text; a stage that would exceed it fails with code
 * "tokenizer_budget" (LA_EDATA: the record is bad, the run goes on).
 * Legitimate tokenizers stay far inside it. The bounds: */
#define TK_GROW_FACTOR 64          /* a normalized or decoded text: at most 64 x its input */
#define TK_GROW_SLACK 4096         /* ... plus 4 KiB */
#define TK_RETRY_PER_BYTE 1024     /* Oniguruma backtracking steps per byte of text */
#define TK_RETRY_BASE ((uint64_t)1 << 20)   /* ... plus about a million */
#define TK_TIME_BASE_MS 1000       /* regex time: 1 s ... */
#define TK_TIME_PER_MB_MS 4000     /* ... plus 4 s per MiB of text */
typedef struct {
    int armed;                   /* set by tk_budget_begin, cleared by tk_budget_end */
    size_t grow_max;             /* most bytes a stage's text may reach, 0: not set */
    uint64_t retries;            /* Oniguruma retries left */
    uint64_t time_ms;            /* regex time allowed, from the call's first search */
    uint64_t deadline_ms;        /* on the coarse monotonic clock, 0: no search yet */
    uint64_t wall0_ms;           /* when the first search began */
    uint64_t cpu0_ns;            /* the thread's CPU time then, 0: not read yet */
} tk_budget;
/* The most bytes a text grown from len bytes may reach. */
static inline size_t tk_grow_max(size_t len)
{
    return len > (SIZE_MAX - TK_GROW_SLACK) / TK_GROW_FACTOR ? SIZE_MAX : len * TK_GROW_FACTOR + TK_GROW_SLACK;
}
/* Fails with code "tokenizer_budget", naming what (e.g. "normalizer
 * Replace") in the message. */
int tk_budget_error(la_err *err, const char *what);

/* Per-thread scratch. la_tok_work (public) is this struct. */
struct la_tok_work {
    la_buf norm[2];              /* normalizer ping-pong buffers */
    la_buf pre[TK_MAX_DEPTH];    /* one per pre-tokenizer nesting depth */
    la_buf seg;                  /* a raw segment between added tokens */
    void *bpe;                   /* bpe.c's own scratch (symbols, heap) */
    void *bpe_words;             /* bpe_words.c's own scratch (word caches) */
    void *model;                 /* models.c's own scratch (Unigram's lattice) */
    void *regex;                 /* regex.c's own scratch (match region, limits) */
    la_tokens toks;              /* tokens gathered by preview */
    la_buf dec;                  /* decoder scratch */
    la_buf dec2;
    la_tokens dtoks;             /* a decoder's output list, swapped with its input */
    la_buf mt[3];                /* per-token decoder stages, their result */
    la_tokens ftoks;             /* tk_decoder_finish's one-string list */
    tk_plist pl;                 /* a preview's tokens */
    la_buf fast, fast2;          /* a preview's bytes and text (tokenizer.c) */
    void *idc;                   /* per-id strings of previews (tokenizer.c) */
    la_buf mapped;               /* a piece in ByteLevel's characters (tokenizer.c) */
    la_buf dwtok;                /* a token's decoded string (tokenizer.c, dw_fill) */
    /* How many characters at the front of the text being normalized stem
     * from the original text's first one (HuggingFace's alignments, for
     * Metaspace's prepend_scheme "first", which only prepends to a piece
     * that starts the original text): 1 before normalizing; stages that
     * drop leading characters take from it, Prepend adds to it. */
    size_t lead0;
    tk_budget budget;            /* of the current API call (tokenizer.c) */
};
/* Arms w's budget for one API call on a text of len bytes; end disarms
 * it (components called on their own then bound only themselves). */
void tk_budget_begin(la_tok_work *w, size_t len);
void tk_budget_end(la_tok_work *w);
/* The most bytes a stage of w's call may write; when no call set the
 * bound, that of the stage's own input of len bytes. */
static inline size_t tk_budget_grow(const la_tok_work *w, size_t len)
{
    return w && w->budget.grow_max ? w->budget.grow_max : tk_grow_max(len);
}

/* ---- short strings: hashing and comparing ---------------------------- */

static inline uint64_t tk_load64(const char *s)
{
    uint64_t x;
    memcpy(&x, s, 8);
    return x;
}

static inline uint64_t tk_load32(const char *s)
{
    uint32_t x;
    memcpy(&x, s, 4);
    return x;
}

/* The last (up to) eight bytes of s[0..n), n > 0, as one word: loads
 * that overlap rather than a loop over the tail. */
static inline uint64_t tk_tail_word(const char *s, size_t n)
{
    if (n >= 8)
        return tk_load64(s + n - 8);
    if (n >= 4)
        return tk_load32(s) | tk_load32(s + n - 4) << 32;
    return (uint64_t)(unsigned char)s[0] | (uint64_t)(unsigned char)s[n / 2] << 8 |
           (uint64_t)(unsigned char)s[n - 1] << 16;
}

/* Hash of a word-cache key (0 < n <= 32): the word's bytes in at most
 * four overlapping loads and one multiply per eight bytes, cheaper
 * than hash_bytes for the short words a preview looks up. */
static inline uint64_t tk_word_hash(const char *s, size_t n)
{
    uint64_t h = tk_tail_word(s, n) ^ (uint64_t)n << 58;
    if (n > 8) {
        h = (h ^ tk_load64(s)) * 0x9E3779B97F4A7C15ULL;
        if (n > 16)
            h = (h ^ (h >> 29) ^ tk_load64(s + 8)) * 0xff51afd7ed558ccdULL;
        if (n > 24)
            h = (h ^ (h >> 29) ^ tk_load64(s + 16)) * 0xff51afd7ed558ccdULL;
    }
    h ^= h >> 31;
    h *= 0xc4ceb93fe53e2ac9ULL;
    return h ^ (h >> 29);
}

/* Equality of two short byte strings without a call for the common case. */
static inline int tk_same_bytes(const char *a, const char *b, size_t n)
{
    if (n > 16)
        return memcmp(a, b, n) == 0;
    if (n == 0)
        return 1;
    if (n > 8)
        return tk_load64(a) == tk_load64(b) && tk_load64(a + n - 8) == tk_load64(b + n - 8);
    return tk_tail_word(a, n) == tk_tail_word(b, n);
}

/* ---- normalizers ------------------------------------------------------ */
/* Whole-string transform of `in` into `out` (out is cleared first; in and
 * out never alias). depth selects scratch for nested Sequences. */
typedef struct tk_normalizer tk_normalizer;
struct tk_normalizer {
    int (*apply)(const tk_normalizer *n, const char *in, size_t len, la_buf *out,
                 la_tok_work *w, int depth, la_err *err);
    void (*free)(tk_normalizer *n);
    /* Windowing (NULL: this normalizer must see whole segments). For a
     * character boundary 0 < c < len of s[0..len), 1 if the
     * normalization of s[0..c) is a prefix of that of s[0..len) -
     * whatever follows s[len) - so that a long segment can be normalized
     * a window at a time. Checks only the text around c. */
    int (*cut_ok)(const tk_normalizer *n, const char *s, size_t len, size_t c);
};
/* Builds a normalizer from its JSON object; NULL with err set on error. */
tk_normalizer *tk_normalizer_from_json(const cJSON *j, la_err *err);
/* The Precompiled normalizer (SentencePiece's charsmap; precompiled.c). */
tk_normalizer *tk_precompiled_new(const cJSON *j, la_err *err);
/* 1 when n is SentencePiece's pair [Prepend s, Replace of the one byte
 * *c by s] (the normalized text is then s followed by the text with each
 * *c made s; *prepends = 1), or that Replace alone (the text with each *c
 * made s; *prepends = 0), with s[0..*slen) (s not holding *c); else 0. */
int tk_normalizer_spaces(const tk_normalizer *n, char *c, const char **s, size_t *slen, int *prepends);
/* 1 when no text n makes holds the byte c (its last stage replaces every
 * c by a content without one); 0 when it may, or n is NULL. */
int tk_normalizer_removes(const tk_normalizer *n, char c);

/* 1 when n is one of Unicode's normal forms (NFC, NFD, NFKC, NFKD) alone:
 * then a space is a boundary no normalization crosses (no composition
 * involves U+0020 and it is a starter), so a text cut before a space is
 * normalized piece by piece. */
int tk_normalizer_unicode_form(const tk_normalizer *n);
/* 1 when n leaves every text as it is: none, or a Sequence of such
 * (DeepSeek-V3's empty one). Added tokens matched after normalizing are
 * then matched on the text itself. */
int tk_normalizer_identity(const tk_normalizer *n);

/* ---- pre-tokenizers --------------------------------------------------- */
/* Pieces are pushed to a sink, in order; the sink returns nonzero to stop
 * early (the pipeline has enough tokens), which the pre-tokenizer must
 * pass back up at once without scanning further: that is what keeps the
 * cost independent of the answer's length. */
/* at_start: how many bytes at the piece's start stem from the original
 * text's first character, 0 when none: a piece that starts there has
 * HuggingFace's original offset 0, which Metaspace's prepend_scheme
 * "first" asks (a normalizer that decomposes or prepends makes several
 * characters stem from the first, and a split between them makes two
 * pieces that both start the original text). */
typedef int (*tk_piece_fn)(void *ctx, const char *piece, size_t len, int at_start);

/* First occurrence of needle[0..m) (m >= 1) in hay[0..n), NULL if none
 * (memmem is not in C11 or POSIX). */
static inline const char *tk_find_bytes(const char *hay, size_t n, const char *needle, size_t m)
{
    const char *end = hay + n;
    while ((size_t)(end - hay) >= m) {
        const char *q = memchr(hay, needle[0], (size_t)(end - hay) - m + 1);
        if (!q)
            return NULL;
        if (memcmp(q + 1, needle + 1, m - 1) == 0)
            return q;
        hay = q + 1;
    }
    return NULL;
}

/* The at_start of a piece that starts at offset a of one whose at_start
 * is lead. */
static inline int tk_lead_after(int lead, size_t a)
{
    return lead > 0 && (size_t)lead > a ? lead - (int)a : 0;
}

typedef struct tk_pretok tk_pretok;
struct tk_pretok {
    /* Splits s into pieces (possibly transformed, e.g. ByteLevel maps
     * bytes to its alphabet), pushing each to fn. Returns 0, or 1 when fn
     * asked to stop, or a negative status with err set. */
    int (*split)(const tk_pretok *p, const char *s, size_t len, int at_start,
                 tk_piece_fn fn, void *ctx, la_tok_work *w, int depth, la_err *err);
    void (*free)(tk_pretok *p);
};
tk_pretok *tk_pretok_from_json(const cJSON *j, la_err *err);

/* The shape of most byte-level models' pre-tokenizer (Llama-3, GPT-4o,
 * Qwen): Sequence[Split(regex, Isolated or Removed), ByteLevel without
 * its own regex or prefix space], or with more Splits before the
 * ByteLevel, all Isolated (DeepSeek-V3's three), or a ByteLevel with its
 * regex and no prefix space alone (GPT-2, Claude). Each piece's tokens
 * then depend on the piece's raw bytes alone, so previews cache them by
 * those bytes. */
typedef struct tk_regex tk_regex;
#define TK_SPLIT_MAX 4
typedef struct {
    const tk_regex *re[TK_SPLIT_MAX];   /* each cuts the pieces of the one before */
    size_t n_re;
    int gaps, matches;       /* which elements of a split are pieces */
    const void *map;         /* the ByteLevel stage */
} tk_split_bytes;
/* 1 and *out set when p has that shape. */
int tk_pretok_split_bytes(const tk_pretok *p, tk_split_bytes *out);
/* 1 when p is a Split (not inverted) of a String pattern holding the
 * byte c: on a text without c it never matches and gives the text whole,
 * as if there were no pre-tokenizer. */
int tk_pretok_split_needs(const tk_pretok *p, char c);
/* Appends ByteLevel's characters for bytes s[0..n); LA_OK or LA_ENOMEM. */
int tk_split_bytes_map(const tk_split_bytes *sb, const char *s, size_t n, la_buf *out);

/* ---- regular expressions (Oniguruma, as HuggingFace) ------------------ */
tk_regex *tk_regex_new(const char *pattern, size_t len, la_err *err);
/* The same for the literal text s[0..len) (a {"String": s} pattern). */
tk_regex *tk_regex_literal(const char *s, size_t len, la_err *err);
/* Finds the first match at or after `from` in s[0..len): returns 1 and sets
 * [*mstart, *mend), 0 when none, negative on error. Searching is lazy: it
 * reads no further than the match needs. */
int tk_regex_next(const tk_regex *re, const char *s, size_t len, size_t from,
                  size_t *mstart, size_t *mend, la_tok_work *w, la_err *err);
void tk_regex_free(tk_regex *re);
/* Calls add(ctx, lo, hi) for each code point range of \p{name} as the
 * patterns see it (the classes regex.c rewrites, Oniguruma's own tables
 * for the others), or of \s for name "\\s". 0, or -1 when unknown. */
typedef void (*tk_range_fn)(void *ctx, int32_t lo, int32_t hi);
int tk_regex_class_ranges(const char *name, tk_range_fn add, void *ctx);
/* Copies pattern p[0..len) to o with the classes whose members the
 * reference sees otherwise spelled out as ranges, and \b and \B as
 * look-arounds over them (regex_classes.c): 1 when something was
 * rewritten, 0 when not, LA_ENOMEM. *dash is set when a class spelled out
 * inside brackets borders a '-': the pattern as written must then be
 * checked for the range errors the spelled-out form hides. */
int tk_regex_rewrite_classes(const char *p, size_t len, la_buf *o, int *dash);
/* Writes to out the copy of pattern[0..len) (Oniguruma's default syntax)
 * with a callout in every repeated atom, which matches exactly as the
 * pattern does (regex_bound.c): 1; 0 when the pattern has a construct the
 * copy cannot bound, with *why and the byte offset *at set; LA_ENOMEM. */
int tk_regex_instrument(const char *pattern, size_t len, la_buf *out, const char **why,
                        size_t *at);
/* Sets Oniguruma up for UTF-8, once per process (any thread). */
void tk_onig_init(void);

/* ---- hand-written matchers of known Split patterns (regex_fast.c) ------ */
/* The Split patterns of GPT-2 (ByteLevel), Llama-3 (cl100k), GPT-4o
 * (o200k), Qwen2 (cl100k with one digit a match) and DeepSeek-V3 (three),
 * recognised by their exact text, are matched without Oniguruma, with the same results (the
 * classes come from tk_regex_class_ranges). */
typedef struct tk_fast tk_fast;
/* The matcher of pattern[0..len), or NULL when none knows it. */
const tk_fast *tk_fast_for(const char *pattern, size_t len);
/* Searches s[0..len) from `from` (a character boundary) as onig_search
 * does: 1 with the leftmost match [*mstart, *mend), 0 when there is none,
 * or -1 when it declines (it read an invalid UTF-8 sequence, or the class
 * tables could not be built): the caller then asks Oniguruma. */
int tk_fast_search(const tk_fast *f, const char *s, size_t len, size_t from, size_t *mstart,
                   size_t *mend);
/* Iterates matches as HuggingFace's find_matches does (the Rust onig
 * binding's find_iter): zero-initialise, then call until it returns 0.
 * An empty match advances one character; an empty match right after a
 * non-empty one is skipped. Returns 1 with a match, 0 at the end, or a
 * negative status. */
typedef struct {
    size_t last_end;
    int skip_next_empty;
} tk_regex_iter;
int tk_regex_iter_next(const tk_regex *re, const char *s, size_t len, tk_regex_iter *it,
                       size_t *mstart, size_t *mend, la_tok_work *w, la_err *err);
/* Frees la_tok_work.regex (for la_tok_work_free). */
void tk_regex_work_free(void *region);

/* ---- token sink ------------------------------------------------------- */
/* The model pushes token ids to a sink; nonzero return = stop. */
typedef struct tk_sink tk_sink;
struct tk_sink {
    int (*push)(tk_sink *s, const uint32_t *ids, size_t n);
    /* A token whose string is not its id's (Unigram's unknown text, kept
     * as HuggingFace's encoding keeps it); NULL: push the id alone. */
    int (*push_str)(tk_sink *s, uint32_t id, const char *str, size_t n);
};

/* ---- BPE model -------------------------------------------------------- */
typedef struct tk_bpe tk_bpe;
tk_bpe *tk_bpe_from_json(const cJSON *model, la_err *err);
/* The same from validated JSON text: opts holds the model's small members
 * (type, unk_token, ...), vocab and merges are the JSON texts of those
 * two members (NULL when missing). Reads them without building a tree.
 * vocab_count is the number of the vocabulary's members when the caller
 * knows it (the validator counted them), else SIZE_MAX (counted here).
 * With chunking, also readies the cutting of long pieces (see
 * tk_bpe_prepare_chunking), on a second thread while merges load. */
tk_bpe *tk_bpe_from_raw(const cJSON *opts, const char *vocab, size_t vocab_len, size_t vocab_count,
                        const char *merges, size_t merges_len, int chunking, la_err *err);
/* A vocabulary read ahead: tk_bpe_ahead_start reads the validated "vocab"
 * object vocab[0..len) of count members (from list, its members as the
 * validator kept them, when not NULL: it must outlive the reading; then,
 * with cut, the pairs that
 * cut long pieces, see tk_bpe_prepare_chunking, stopped early when the
 * model is not to have them unless cut is 2) on a thread of its own, while the
 * caller validates the rest of the file (NULL when no thread could be
 * started: nothing to undo). tk_bpe_from_ahead is tk_bpe_from_raw taking
 * it over when it is for the same vocab bytes (its error, if reading them
 * failed, comes out where tk_bpe_from_raw would have said it); it always
 * ends the read-ahead. tk_bpe_ahead_drop waits for it and frees it. */
typedef struct tk_bpe_ahead tk_bpe_ahead;
struct la_int_members;
tk_bpe_ahead *tk_bpe_ahead_start(const char *vocab, size_t len, size_t count, int cut,
                                 const struct la_int_members *list);
/* Or from where the object starts, before it is validated: its members
 * are read from list (fixed, see la_json_int_object_list) as the
 * validator writes them, into tables sized for bound bytes (the file's
 * from vocab on), the cutting pairs of the strings in too while it waits
 * for more when cut (as it looks where the object starts);
 * tk_bpe_ahead_confirm then says, once the object is validated, its
 * length, its count, cut, and whether list holds it whole (else it is
 * read the usual way). NULL when no thread could be started, or the list
 * is too long for this. */
tk_bpe_ahead *tk_bpe_ahead_stream(const char *vocab, size_t bound, const struct la_int_members *list, int cut);
void tk_bpe_ahead_confirm(tk_bpe_ahead *a, size_t len, size_t count, int cut, int list_ok);
tk_bpe *tk_bpe_from_ahead(tk_bpe_ahead *a, const cJSON *opts, const char *vocab, size_t vocab_len,
                          size_t vocab_count, const char *merges, size_t merges_len, int chunking, la_err *err);
void tk_bpe_ahead_drop(tk_bpe_ahead *a);
/* Reads the model's "merges" array at p[pos] (of the n bytes being
 * validated) while validating it, as strictly as la_json_validate, for
 * the vocabulary read ahead a: parsed here, resolved on another thread as
 * soon as the vocabulary is in. Returns where the array ends, with its
 * element count, or 0 when it takes a shape it does not read (validation
 * then goes over it). prefix_len is the continuing_subword_prefix length
 * the model is taken to have; tk_bpe_from_ahead keeps the merges only when
 * they are its merges bytes, all went in and that length is right, and
 * reads them again otherwise, so an error is said as without them. */
size_t tk_bpe_ahead_merges(tk_bpe_ahead *a, const char *p, size_t n, size_t pos, size_t prefix_len, size_t *count);
void tk_bpe_free(tk_bpe *m);
/* Tokenizes one pre-token, pushing ids to sink. A long piece (whole
 * sequence BPE without a pre-tokenizer) is cut where no vocabulary token
 * can span and pushed chunk by chunk, so a stop request ends the work
 * early. Returns 0, 1 when the sink stopped, or negative with err set. */
int tk_bpe_tokenize(const tk_bpe *m, const char *piece, size_t len, tk_sink *sink,
                    la_tok_work *w, la_err *err);
/* The same without this thread's word cache, for callers that keep what
 * they need of the result themselves (the direct previews' word table):
 * a second copy of each word would cost a cache line and, on a first
 * pass, the faults of a table that is only written. */
int tk_bpe_tokenize_once(const tk_bpe *m, const char *piece, size_t len, tk_sink *sink,
                         la_tok_work *w, la_err *err);
/* The tokens of one short word s[0..len) with the bytes each covers
 * (ids and lens, room for max), for callers that take a token's string
 * to be those bytes: 1 with *n set when that holds (no prefix or
 * suffix, no id shared by two strings, and every character a token of
 * its own: no byte fallback, no unk), 0 when it may not or more than
 * max tokens (nothing kept), < 0 on error. The same tokens as
 * tk_bpe_tokenize_once. */
int tk_bpe_word_spans(const tk_bpe *m, la_tok_work *w, const char *s, size_t len, uint32_t *ids,
                      uint32_t *lens, size_t max, size_t *n, la_err *err);
/* id -> token string (NULL if unknown id); string -> id (-1 if absent). */
const char *tk_bpe_id_to_token(const tk_bpe *m, uint32_t id, size_t *len);
int64_t tk_bpe_token_to_id(const tk_bpe *m, const char *s, size_t len);
int tk_bpe_byte_fallback(const tk_bpe *m);
/* A number no other model loaded in this process has. */
uint64_t tk_bpe_serial(const tk_bpe *m);
uint32_t tk_bpe_vocab_size(const tk_bpe *m);   /* max id + 1 */
/* Number of distinct vocabulary strings (HuggingFace's get_vocab_size,
 * which numbers added tokens missing from the vocabulary). */
uint32_t tk_bpe_vocab_count(const tk_bpe *m);
/* Readies the cutting of long pieces (whole-sequence BPE, when there is
 * no pre-tokenizer); without it tk_bpe_tokenize treats a piece as one
 * word. Done once at load time. */
int tk_bpe_prepare_chunking(tk_bpe *m, la_err *err);
/* 1 when long pieces can be cut (tk_bpe_prepare_chunking succeeded). */
int tk_bpe_can_cut(const tk_bpe *m);
/* 1 when a cut between the character at a[0..na) and the one at
 * b[0..nb) never changes the tokens (see tk_bpe_prepare_chunking). */
int tk_bpe_cut_between(const tk_bpe *m, const char *a, size_t na, const char *b, size_t nb);
/* The model as bytes (appended to out, a multiple of 8 long; cache_image.c):
 * LA_OK or LA_ENOMEM. And a model made from such bytes p[0..n), 8-aligned (NULL
 * with err set when they do not hold together): with map, a mapping
 * (map_len bytes) that holds p, the model's tables stay there and the
 * model unmaps it when freed (on failure it stays the caller's); else
 * they are copied. */
int tk_bpe_image(const tk_bpe *m, la_buf *out);
tk_bpe *tk_bpe_from_image(const char *p, size_t n, void *map, size_t map_len, la_err *err);
/* The cache entry's file a model from tk_bpe_from_image came from (a
 * copy is kept): its merges are checked when first looked up, and the
 * first that does not hold removes that file and fails the word (error
 * "bad_cache", naming it). LA_OK or LA_ENOMEM. */
int tk_bpe_set_entry(tk_bpe *m, const char *path);
/* The first point after from where s[0..len) can be cut (no merge
 * crosses it), or len. */
size_t tk_bpe_chunk_end(const tk_bpe *m, const char *s, size_t len, size_t from);
/* 1 when ignore_merges is set. */
int tk_bpe_ignores_merges(const tk_bpe *m);
/* Tokenizes piece[0..len) known only to be a prefix of the real piece
 * (a window): pushes the tokens of the chunks that end at a cut inside
 * it - the same as the whole piece's first tokens, since a cut depends
 * only on the two characters around it - and returns 2 when the sink
 * has not stopped before the last chunk (more text is needed), 1 when
 * it stopped, negative on error. */
int tk_bpe_tokenize_prefix(const tk_bpe *m, const char *piece, size_t len, tk_sink *sink,
                           la_tok_work *w, la_err *err);
/* The same straight into a preview list, stopping once it holds max ids
 * (0: never): 1 when it does, 2 when the window ran out first, 3 when
 * this model needs the general path (tk_bpe_tokenize_prefix with a
 * sink), or negative with err set. The hot path of a preview: the chunk
 * cut, the one-character tokens and the word cache in one loop. */
int tk_bpe_prefix_ids(const tk_bpe *m, const char *piece, size_t len, tk_plist *pl, size_t max,
                      la_tok_work *w, la_err *err);
/* A second per-thread word cache, for the caller's own keys (the raw
 * bytes of pre-tokenized pieces): 1 with the ids when key s[0..n) is
 * there; put keeps ids for it (when key and ids fit). */
int tk_bpe_piece_get(const tk_bpe *m, la_tok_work *w, const char *s, size_t n, const uint32_t **ids,
                     size_t *nids);
void tk_bpe_piece_put(const tk_bpe *m, la_tok_work *w, const char *s, size_t n, const uint32_t *ids,
                      size_t nids);
/* Frees bpe.c's scratch in la_tok_work->bpe, and bpe_words.c's in
 * la_tok_work->bpe_words. */
void tk_bpe_work_free(void *bpe_work);
void tk_bpe_words_free(void *words_work);

/* ---- the other model types (models.c) ---------------------------------
 * WordLevel, WordPiece and Unigram keep their vocabulary in a tk_bpe's
 * tables (so the pipeline's lookups of ids and strings are the same)
 * with kind set and their own data in an extension; tk_bpe_tokenize
 * hands their pieces to the extension's function. BPE's shortcuts (chunking,
 * word spans, images for the tokenizer cache) refuse them, but Unigram
 * has the cutting tables when its pieces are whole texts (tk_model_prefix). */
enum { TK_MODEL_BPE, TK_MODEL_WORDLEVEL, TK_MODEL_WORDPIECE, TK_MODEL_UNIGRAM };
typedef struct tk_model_ext tk_model_ext;
int tk_bpe_kind(const tk_bpe *m);
/* The extension tk_bpe_set_ext handed over (NULL for BPE). */
tk_model_ext *tk_bpe_ext(const tk_bpe *m);
/* An empty model of that kind. */
tk_bpe *tk_bpe_new_kind(int kind, la_err *err);
/* The vocabulary from the JSON object p[0..n) (token -> id), as BPE's. */
int tk_bpe_vocab_object(tk_bpe *m, const char *p, size_t n, la_err *err);
/* Or piece by piece, ids 0, 1, 2... in turn (a repeated string's lookup
 * gives its last id; each id keeps its own string): room for count
 * pieces of at most arena bytes in all, then tk_bpe_vocab_add for each,
 * then tk_bpe_vocab_done. */
int tk_bpe_vocab_reserve(tk_bpe *m, size_t count, size_t arena, la_err *err);
int tk_bpe_vocab_add(tk_bpe *m, const char *s, size_t n, uint32_t id, la_err *err);
void tk_bpe_vocab_done(tk_bpe *m);
/* The model's own tokenization of a piece (as tk_bpe_tokenize), and
 * how its data is freed. */
typedef int (*tk_model_fn)(const tk_bpe *m, const tk_model_ext *x, const char *piece, size_t len, tk_sink *sink,
                           la_tok_work *w, la_err *err);
/* Hands ext (freed with the model by freefn), the function that
 * tokenizes the model's pieces and the options the pipeline reads. */
void tk_bpe_set_ext(tk_bpe *m, tk_model_ext *ext, tk_model_fn tokenize, void (*freefn)(tk_model_ext *),
                    int64_t unk_id, int byte_fallback);
/* The ids of "<0xNN>" (-1: absent), 256 of them; the longest string. */
const int64_t *tk_bpe_byte_ids(const tk_bpe *m);
/* The distinct vocabulary strings: how many, and entry e's string (its
 * length in *len) and id (the last one given to it). */
uint32_t tk_bpe_entries(const tk_bpe *m);
const char *tk_bpe_entry(const tk_bpe *m, uint32_t e, size_t *len, uint32_t *id);
size_t tk_bpe_max_token_len(const tk_bpe *m);
/* Builds a WordLevel, WordPiece or Unigram model (type names it) from
 * its small members (opts) and its "vocab" member's JSON text; with
 * chunking (the pipeline sends it whole texts), a Unigram model gets the
 * tables that say where no piece spans, for tk_model_prefix. */
tk_bpe *tk_model_from_raw(const char *type, const cJSON *opts, const char *vocab, size_t vocab_len,
                          int chunking, la_err *err);
/* The tokens of piece[0..len), the start of a longer piece, that the
 * rest cannot change, for a Unigram model with those tables: the best
 * path of the text up to the last cut where no piece spans and both
 * characters around it are pieces by themselves (so no unknown
 * character lies on either side) is the whole text's path up to there,
 * since every path passes that point and the scores before it are
 * summed the same way; a final run of unk-id tokens is held back, as it
 * may fuse with one after the cut. Pushes them to sink and returns 1
 * when it stopped, 2 when more text is needed, 3 when the model has no
 * such tables (not Unigram, or no chunking), negative on error. */
int tk_model_prefix(const tk_bpe *m, const char *piece, size_t len, tk_sink *sink, la_tok_work *w,
                    la_err *err);
/* Frees la_tok_work.model. */
void tk_model_work_free(void *p);

/* ---- decoders --------------------------------------------------------- */
/* HuggingFace's decode_chain: a list of token strings in, a list out.
 * Tokens are passed as one buffer of NUL-separated strings with offsets. */
typedef struct tk_decoder tk_decoder;
struct tk_decoder {
    /* Transforms tokens in place (toks->strs / str_off / n rewritten). */
    int (*chain)(const tk_decoder *d, la_tokens *toks, la_tok_work *w, la_err *err);
    void (*free)(tk_decoder *d);
};
tk_decoder *tk_decoder_from_json(const cJSON *j, la_err *err);
/* Previews decode a few tokens per record, so the chain is taken apart
 * once: most are per-token maps (Replace, Strip), then one stage that
 * joins the list into one string, then stages that see that string.
 * tk_decoder_join tells the joining stage (d NULL: previews concatenate):
 *   TK_JOIN_CONCAT        Fuse, or the end of the chain;
 *   TK_JOIN_BYTEFALLBACK  ByteFallback (then Fuse or the end);
 *   TK_JOIN_BYTELEVEL     ByteLevel: bytes joined, then lossy UTF-8;
 *   TK_JOIN_NONE          anything else: run the chain itself.
 * tk_decoder_map appends a token's string after the per-token maps (and,
 * for ByteLevel, its bytes); it depends on the string alone, so callers
 * may keep it per vocabulary id. tk_decoder_finish runs the stages after
 * the join on the joined string s, in place. */
enum { TK_JOIN_NONE, TK_JOIN_CONCAT, TK_JOIN_BYTEFALLBACK, TK_JOIN_BYTELEVEL };
int tk_decoder_join(const tk_decoder *d);
int tk_decoder_map(const tk_decoder *d, const char *s, size_t n, la_buf *out, la_tok_work *w,
                   la_err *err);
int tk_decoder_finish(const tk_decoder *d, la_buf *s, la_tok_work *w, la_err *err);
/* 1 when the per-token maps are one Replace of the String pat[0..pl) by
 * content[0..cl) (SentencePiece's decoders turning the metaspace back
 * into a space), so that a caller may make them itself; else 0. */
int tk_decoder_map_is_replace(const tk_decoder *d, const char *pat, size_t pl, const char *content,
                              size_t cl);
/* When the stages after the join only cut the joined string s[0..n)
 * (one Strip), sets the part kept, s[*from..*to), and returns 1; else 0
 * (then tk_decoder_finish does the work). */
int tk_decoder_finish_cut(const tk_decoder *d, const char *s, size_t n, size_t *from, size_t *to);
/* Decodes the first n tokens of w->pl as a preview (joined with ""),
 * appending to out: by the plan above, or by the chain itself. */
int tk_preview_decode(const la_tokenizer *t, la_tok_work *w, size_t n, la_buf *out, la_err *err);

/* la_tokenizer_preview of a text known only up to len (more = 1: the
 * real text goes on past it) returns TK_MORE when the preview might
 * depend on what follows - a pipeline that is not windowed, or windows
 * that come near len - and the caller must give the whole text. */
#define TK_MORE 1
int tk_preview_text(const la_tokenizer *t, la_tok_work *w, const char *text, size_t len, int more,
                    size_t m, int complete, la_buf *out, la_preview_info *info, la_err *err);
/* How many bytes of a long text's start tk_preview_text usually needs
 * for m tokens when given only that start (more = 1); 0 when it always
 * needs the whole text. */
size_t tk_preview_start(const la_tokenizer *t, size_t m);
/* 1 when the pipeline can encode a window of a long text (tokenizer.c):
 * what direct previews stand on. */
int tk_windowable(const la_tokenizer *t);

/* A text in an escaped form whose escapes start with a backslash, such as
 * the body of a JSON string between its quotes: the caller's scheme, for
 * previews made from the escaped bytes themselves (tk_preview_raw). A
 * body without a backslash must stand for its own bytes and be written
 * as they are. */
typedef struct tk_escaping {
    /* the byte the two-byte escape \c stands for, -1 when c starts a
     * longer escape (or none) */
    int (*short_escape)(char c);
    /* bytes of the escape at p[i] of a body that ends at end, 0 when
     * none fits */
    size_t (*escape_len)(const char *p, size_t i, size_t end);
    /* appends the text body p[0..n) stands for: LA_OK or an error */
    int (*unescape)(const char *p, size_t n, la_buf *out, la_err *err);
    /* appends body p[0..n) in the one escaped form the caller writes
     * texts in: LA_OK or an error */
    int (*reescape)(const char *p, size_t n, la_buf *out, la_err *err);
} tk_escaping;
/* With direct previews (t->direct), the preview of the text an escaped
 * body raw[0..len) stands for, made from raw itself: 1 when done
 * (appended to out as esc->reescape writes it), 0 when not handled (the
 * caller unescapes and calls tk_preview_text), < 0 on error. */
int tk_preview_raw(const la_tokenizer *t, la_tok_work *w, const tk_escaping *esc, const char *raw,
                   size_t len, size_t m, int complete, la_buf *out, la_preview_info *info, la_err *err);

/* ---- direct previews (direct.c), an accelerator ----------------------
 * For SentencePiece-style and byte-level pipelines, previews from a
 * shared table of words instead of the pipeline; off for tests with la_tokenizer's
 * no_direct. */
typedef struct tk_direct tk_direct;
/* Readies direct previews when the pipeline allows them (at load, once
 * its stages are built; windowable: tk_windowable). With table_later the
 * word table is to come from a cache entry (tk_direct_table_use), else
 * tk_direct_take makes an empty one. */
void tk_direct_prepare(la_tokenizer *t, int windowable, int table_later);
/* After tk_direct_prepare with table_later, when no table was taken: an
 * empty one of t's own, or no direct previews when there is no memory
 * for it. */
void tk_direct_take(la_tokenizer *t);
/* Frees what tk_direct_prepare made (t->direct is then NULL). */
void tk_direct_free(la_tokenizer *t);
/* The entry point: the preview of m tokens of text[0..len) (esc NULL: a
 * plain text; else an escaped body, the preview escaped as esc writes
 * it), as tk_preview_text would make it: 1 when made (appended to out,
 * info set), 0 when not handled (the reference path must make it), < 0
 * on error. */
int tk_direct_preview(const la_tokenizer *t, la_tok_work *w, const tk_escaping *esc, const char *text,
                      size_t len, int more, size_t m, int complete, la_buf *out, la_preview_info *info,
                      la_err *err);
/* Puts the vocabulary's own words (s + w for each token s + w) in the
 * word table, as the first text to hold them would: done once, when a
 * tokenizer cache entry is made, whose copy of the table then spares
 * every later run those words' first tokenization. w: scratch of the
 * caller's. LA_OK, or an error. */
int tk_direct_prefill(la_tokenizer *t, la_tok_work *w, la_err *err);
/* The word table's bytes, to keep in a cache entry (NULL, 0: none). */
const void *tk_direct_table(const la_tokenizer *t, size_t *len);
/* Takes kept bytes p[0..len) (64-byte aligned, writable) as t's word
 * table itself, written in place as words are met: 1, or 0 (nothing
 * taken) when t makes no direct previews or they are not a table of this
 * build. own: p is TK_HUGE_PAGE bytes of tk_map_huge that t then frees;
 * else p lies in memory that t's model frees (a cache entry read into
 * memory of its own). */
int tk_direct_table_use(la_tokenizer *t, void *p, size_t len, int own);
/* 1 when p[0..len) (64-byte aligned) can be a word table of this build
 * (len 0: none): every entry's length, token count, ends and flags in
 * range, its tag and set the ones its key gives, every set's sequence
 * number even (not being rewritten), empty ways all zero. What a table
 * from a tokenizer cache entry must pass before tk_direct_table_use. */
int tk_direct_table_valid(const void *p, size_t len);

/* ---- the tokenizer cache (cache.c, cache_image.c), an accelerator ----
 * Parsed BPE models kept on disk, read instead of parsing the file again
 * (off unless la_tokenizer_use_cache turned it on). */
/* What identifies a tokenizer file: its bytes. */
typedef struct {
    uint64_t hash[2];             /* XXH3-128 of the file's bytes */
    uint64_t size;                /* their number */
} tk_cache_key;
void tk_cache_key_of(const char *data, size_t len, tk_cache_key *k);
/* The key of the first n bytes of the file open on fd, read through a
 * small buffer (no copy of the file is kept): LA_OK, or LA_EIO when it
 * cannot be read or ends before n bytes. */
int tk_cache_key_of_fd(int fd, size_t n, tk_cache_key *k);
#define TK_BUILD_ID_MAX 32
/* This build's id, which keys the entries, into out: its length, or 0
 * when there is no cache (turned off, or no build id). */
size_t tk_cache_build(unsigned char out[TK_BUILD_ID_MAX]);
/* The parts of an entry read into memory or mapped from its file; map
 * owns them (freed by tk_entry_unmap). */
typedef struct {
    void *map;
    size_t map_len;
    const char *rest, *added, *image;   /* the file's other members as JSON text; its added tokens
                                         * (tk_added_image); the model's image */
    char *words;                  /* the word table of direct previews */
    size_t rest_len, added_len, image_len, words_len;
    char *path;                   /* the entry's file (malloc'd, the caller's) */
    int mapped;                   /* map is the file's, read-only (else memory of its own) */
    size_t size;                  /* the entry's bytes from map on */
    uint64_t check;               /* what its head says their check is (tk_cache_entry_holds) */
    struct stat st;               /* its file's status when opened */
    int vouched;                  /* a record says it passed its check as it is (tk_cache_ok_find) */
} tk_cache_entry;
/* The entry of key k made by build into *e: LA_OK when there is one
 * whose head holds (its parts in order inside the file; e->map and
 * e->path are then the caller's); LA_EIO when there is none; LA_EDATA
 * when the file there is no good entry (it is removed). Its check over
 * all its bytes is left to the caller (tk_cache_entry_holds), who makes
 * it before anything built from the entry is used, and drops the entry
 * (tk_cache_drop) when it does not hold, unless vouch (when not NULL)
 * says the entry file of status st passed it as it is (e->vouched: its
 * pages are then not all read at once). */
typedef int (*tk_cache_vouch_fn)(const struct stat *st, const tk_cache_key *k, const unsigned char *build,
                                 size_t build_len);
int tk_cache_map(const tk_cache_key *k, const unsigned char *build, size_t build_len, tk_cache_vouch_fn vouch,
                 tk_cache_entry *e);
/* 1 when the check of entry e's bytes is the one its head says (only
 * reads them: may run beside what is built from them). */
int tk_cache_entry_holds(const tk_cache_entry *e);
/* Removes the entry of key k made by build (one whose parts do not hold
 * together). */
void tk_cache_drop(const tk_cache_key *k, const unsigned char *build);
/* Writes the entry of t, parsed from the file of key k (src: its
 * status; rest: its members but the model and the added tokens, as JSON
 * text; added: those tokens, tk_added_image), quietly: a
 * cache that cannot be written is only not there next time. */
struct stat;
void tk_cache_write(const tk_cache_key *k, const unsigned char *build, size_t build_len, const struct stat *src,
                    const la_buf *rest, const la_buf *added, la_tokenizer *t);
/* The cache folder (cache.c: $LOOKAHEAD_CACHE_DIR, else
 * $XDG_CACHE_HOME/lookahead, else ~/.cache/lookahead), a new string;
 * NULL when there is none. The path of the entry of key k made by build,
 * a new string (NULL: no folder). */
char *tk_cache_dir(void);
char *tk_cache_entry_path(const tk_cache_key *k, const unsigned char *build);
/* The folder's files, entries and identity records alike (cache.c):
 * tk_cache_named gives the path of the file named by an XXH3-128 of
 * name[0..len) (16 hex digits, '-', 16 more) and ext, a new string (NULL
 * without a folder; the folder into *dir_out when asked for);
 * tk_cache_name_is says whether n is such a name with ext (then
 * *tmp 0), or a writer's temporary one (ext, ".PID.tmp": *tmp 1);
 * tk_cache_open_temp makes the private file path.PID.tmp for writing
 * (the folder dir and its parent made when missing): its descriptor
 * with its name in *tmp (to free), or -1; tk_cache_write_all writes
 * p[0..n) to fd: 1 when all of it was written. */
char *tk_cache_named(const void *name, size_t len, const char *ext, char **dir_out);
int tk_cache_name_is(const char *n, const char *ext, int *tmp);
int tk_cache_open_temp(const char *path, char *dir, char **tmp);
int tk_cache_write_all(int fd, const char *p, size_t n);
typedef struct {
    char *name;
    uint64_t size;
    struct timespec mtime;
} tk_cache_file;
/* The files of folder dir named as ext's (tk_cache_name_is) that are the
 * user's own regular files, but keep: removes the temporary ones left
 * an hour or more and those stale(fd, status, ctx) says are to go, and
 * lists the rest, oldest first (then by name), into *out (*dfd_out: the folder open);
 * their number. tk_cache_files_free frees the list and closes dfd. */
typedef int (*tk_cache_stale_fn)(int fd, const struct stat *st, const void *ctx);
size_t tk_cache_scan(const char *dir, const char *ext, const char *keep, tk_cache_stale_fn stale, const void *ctx,
                     tk_cache_file **out, int *dfd_out);
void tk_cache_files_free(tk_cache_file *f, size_t n, int dfd);
/* Identity records (cache_id.c): the key a file's bytes hashed to, found
 * from what fstat says of it, so that a hit does not read the file.
 * tk_cache_id_find: 1 with *k when a good record of this build is there
 * for the file of status st (one that does not hold is removed).
 * tk_cache_id_drop removes that record (its entry was missing or bad).
 * tk_cache_id_settled: 1 when the file whose status was before (taken
 * no earlier than began, the time just before the load looked at it)
 * had been left alone long enough before began and after, its status
 * once its bytes were read, is the same file unchanged: only then may
 * tk_cache_id_write record the key of the bytes read (quietly, and only
 * when the entry of k is there; the folder's records are pruned then).
 * tk_cache_id_prune keeps the folder's records (and those of entries that
 * passed their check, below) few (load.c calls it after a parse, which
 * writes an entry and prunes entries, when no record was written). */
int tk_cache_id_find(const struct stat *st, const unsigned char *build, size_t build_len, tk_cache_key *k);
void tk_cache_id_drop(const struct stat *st, const unsigned char *build);
int tk_cache_id_settled(const struct stat *before, const struct timespec *began, const struct stat *after);
void tk_cache_id_write(const struct stat *st, const tk_cache_key *k, const unsigned char *build, size_t build_len);
void tk_cache_id_prune(void);
/* Records that an entry passed its check (cache_id.c, .ok): tk_cache_ok_find
 * is 1 when one of this build names the entry file of status st as the
 * entry of key k; tk_cache_ok_write writes one for the entry whose status
 * was before when the load that checked it began (began) and after once
 * checked, if it was settled then (as tk_cache_id_settled, with a margin
 * of its own). */
int tk_cache_ok_find(const struct stat *st, const tk_cache_key *k, const unsigned char *build, size_t build_len);
void tk_cache_ok_write(const struct stat *before, const struct timespec *began, const struct stat *after,
                       const tk_cache_key *k, const unsigned char *build, size_t build_len);
/* The tokenizer cache's check of p[0..n), n a multiple of 8;
 * simd: -1 the best the processor has, 0 plain C, 1 SSE2, 2 AVX2 (for
 * tests: all give the same value). */
uint64_t tk_cache_check(const char *p, size_t n, int simd);
/* Zeroed private memory of at least *len bytes (*len set to the length
 * mapped, a multiple of TK_HUGE_PAGE) on huge pages where the system
 * gives them (a hint), aligned on one; NULL when none can be mapped.
 * munmap(p, *len) frees it. (huge.c) */
#define TK_HUGE_PAGE ((size_t)2 << 20)
void *tk_map_huge(size_t *len);
/* The n bytes of the file open on fd (a tokenizer cache entry's, path)
 * mapped read-only (MAP_PRIVATE) from a huge page's boundary: on the page
 * cache's huge pages where it holds them (each one the file fills
 * touched and asked about), else every small page set up at once
 * (MADV_POPULATE_READ); with always set, mapped without either. NULL
 * when it cannot be mapped or populated (the caller then reads the
 * file). tk_entry_unmap(p, n) frees it. A file cut short while mapped
 * raises SIGBUS where its lost pages are touched; until freed,
 * la_tokenizer_cache_fault names path for an address in it. (huge.c) */
void *tk_map_file(int fd, size_t n, int always, const char *path);
/* Frees an entry's memory (tk_cache_entry's map, a model made from it):
 * a mapping of tk_map_file, or memory of tk_map_huge. */
void tk_entry_unmap(void *map, size_t len);
/* The n bytes of the tokenizer file open on fd (path) mapped read-only
 * (MAP_PRIVATE) and set up at once, followed by zeros (at least a page:
 * the text is NUL-ended), for a reader that keeps the file from being
 * changed meanwhile (load.c's lease); *map_len set. NULL when it cannot
 * be mapped. A fault in it (the file cut short) is named by
 * la_tokenizer_file_fault until tk_text_unmap(p, *map_len). (huge.c) */
void *tk_map_text(int fd, size_t n, const char *path, size_t *map_len);
void tk_text_unmap(void *p, size_t map_len);
/* Zeroed memory for a model's large tables (vocabulary, its hash slots
 * and arena, the merge table): on huge pages (tk_map_huge) from
 * TK_TABLE_HUGE bytes, else from malloc; aligned on 64 bytes. Freed by
 * tk_table_free alone; tk_table_grow makes it n bytes (the first old
 * kept), NULL leaving p as it was. (huge.c) */
#define TK_TABLE_HUGE ((size_t)1 << 20)
void *tk_table_alloc(size_t n);
void *tk_table_grow(void *p, size_t old, size_t n);
void tk_table_free(void *p);

/* The byte of a "<0xNN>" token string, -1 otherwise. */
int tk_fallback_byte(const char *s, size_t n);
/* 1 if s[0..n) is valid UTF-8. */
int tk_utf8_valid(const char *s, size_t n);
/* Appends token (id, s[0..len)) to t; LA_ENOMEM on failure. */
int tk_tokens_push(la_tokens *t, uint32_t id, const char *s, size_t len);
/* Appends a token whose string was appended to t->strs from offset at
 * on (its NUL is added here); LA_ENOMEM on failure. */
int tk_tokens_push_tail(la_tokens *t, uint32_t id, size_t at);
/* Empties t, keeping its memory. */
void tk_tokens_clear(la_tokens *t);
/* GPT-2's byte alphabet (byte_level.c): each byte's character as UTF-8
 * (enc_len bytes of enc); the byte a code point stands for, -1 if none;
 * the bytes behind a byte-level token appended to out (a token with a
 * character outside the alphabet: its own UTF-8). */
void tk_byte_level_table(char enc[256][2], unsigned char enc_len[256]);
int tk_byte_level_byte(int32_t c);
int tk_byte_level_bytes(const char *s, size_t n, la_buf *out);
/* Appends s as UTF-8, each invalid sequence replaced by one U+FFFD as
 * Rust's String::from_utf8_lossy does. */
int tk_utf8_lossy(const char *s, size_t n, la_buf *out);
/* Byte length of token i's string (it may hold NUL bytes once decoded). */
static inline size_t tk_tokens_len(const la_tokens *t, size_t i)
{
    return (i + 1 < t->n ? t->str_off[i + 1] : t->strs.len) - t->str_off[i] - 1;
}

/* ---- added tokens ------------------------------------------------------ */
typedef struct tk_added tk_added;
typedef struct {
    uint32_t id;
    const char *content;
    size_t len;
    int single_word, lstrip, rstrip, normalized, special;
} tk_added_token;
tk_added *tk_added_from_json(const cJSON *arr, la_err *err);
/* The same read from the validated text p[start..end) of the array, for
 * the usual shape only (entries whose members appear once, keys without
 * escapes, content without backslash-u escapes, ids of digits alone,
 * flags true or false, content and id present): NULL for any other,
 * which is then read by tk_added_from_json (that words any error) - or
 * when out of memory. */
tk_added *tk_added_from_raw(const char *p, size_t start, size_t end);
/* The tokens read by tk_added_from_json (before tk_added_prepare), as
 * bytes appended to out, for the tokenizer cache: LA_OK or LA_ENOMEM.
 * tk_added_from_image takes them back, once every count, offset and
 * length in them is checked (NULL with err set when they do not hold
 * together); what tk_added_from_json gave, for tk_added_prepare. */
int tk_added_image(const tk_added *a, la_buf *out);
tk_added *tk_added_from_image(const char *p, size_t n, la_err *err);
/* Checks a top-level member of tokenizer.json, key[0..klen) (unescaped)
 * with its value's text s[0..n), as HuggingFace reads it: an unknown key,
 * or a "truncation", "padding" or "post_processor" of a shape its serde
 * structs refuse, is an error (params.c); the others are left to their
 * readers. LA_OK or LA_EDATA. */
int tk_params_check(const char *key, size_t klen, const char *s, size_t n, la_err *err);
/* Numbers the tokens read by tk_added_from_json as HuggingFace's
 * add_tokens does (an existing added id, else the model's id, else the
 * next of the new ids counted from the vocabulary's size) and builds the
 * patterns of each id's last token, normalizing the contents of
 * "normalized" tokens with norm (may be NULL). Call once, before use. */
int tk_added_prepare(tk_added *a, const tk_bpe *model, const tk_normalizer *norm, la_tok_work *w,
                     la_err *err);
void tk_added_free(tk_added *a);
/* Finds the next added token (normalized == want_normalized) in s,
 * scanning from `from`, by HuggingFace's find_matches: leftmost-longest,
 * single_word, and lstrip and rstrip widening the match, lstrip never
 * before `floor` (where the previous match's span ended). Returns 1 with
 * the span (stripped white space included), the end of the match itself
 * (*raw_end: the next scan starts there, as HuggingFace's matcher goes on
 * from the match, not from the widened span, so the next span may start
 * inside this one) and the token; 0 when none; -1 when the scan ran past
 * its work budget (tk.h; the caller reports it with tk_budget_error). */
int tk_added_next(const tk_added *a, int want_normalized, const char *s, size_t len, size_t from,
                  size_t floor, size_t *mstart, size_t *mend, size_t *raw_end, const tk_added_token **tok);
/* The same, considering only matches found scanning from positions
 * before `limit` (the match itself may extend past it): 0 then means
 * none starts before limit (with lstrip, a match at or after limit may
 * still widen back before it). The scan reads no further than needed. */
int tk_added_next_before(const tk_added *a, int want_normalized, const char *s, size_t len,
                         size_t from, size_t floor, size_t limit, size_t *mstart, size_t *mend,
                         size_t *raw_end, const tk_added_token **tok);
/* The patterns of a's bucket for first byte b, in the order matching
 * takes them (*idx: their indices): how many (both sets). */
size_t tk_added_bucket(const tk_added *a, unsigned char b, const uint32_t **idx);
/* Number of patterns in a set; whether any token strips on its left. */
size_t tk_added_count(const tk_added *a, int normalized);
int tk_added_any_lstrip(const tk_added *a);
/* Sets mark[b] to v for every byte b that starts a pattern of a set. */
/* 1 when a pattern of a set matches at s[pos..len), or may (the text
 * ends inside one); 0 when none can start at pos. */
int tk_added_may_start(const tk_added *a, int normalized, const char *s, size_t len, size_t pos);
void tk_added_mark_first_bytes(const tk_added *a, int normalized, uint8_t mark[256], uint8_t v);
/* How far past the start of a match finding added tokens may read
 * (SIZE_MAX when an rstrip token makes it unbounded). */
size_t tk_added_reach(const tk_added *a);
const tk_added_token *tk_added_by_id(const tk_added *a, uint32_t id);
const tk_added_token *tk_added_by_content(const tk_added *a, const char *s, size_t len);

/* ---- the whole tokenizer ---------------------------------------------- */
struct la_tokenizer {
    tk_added *added;          /* may be NULL */
    tk_normalizer *normalizer;/* may be NULL */
    tk_pretok *pretok;        /* may be NULL */
    /* pretok never splits what the normalizer makes (a Split on " " after
     * a Replace of every " "): windows and direct previews treat the
     * pipeline as one without a pre-tokenizer (load.c) */
    int pretok_inert;
    tk_bpe *model;
    tk_decoder *decoder;      /* may be NULL */
    int byte_level;           /* a ByteLevel pre-tokenizer or decoder is present */
    /* for tests: previews encode whole segments (no_window), or start
     * with a window of first_window bytes (0: the usual size) */
    int no_window;
    size_t first_window;
    int no_plan;              /* for tests: previews decode by the chain itself */
    size_t added_reach;       /* tk_added_reach of added */
    uint64_t serial;          /* tk_bpe_serial of model */
    int split_bytes;          /* pretok has the tk_split_bytes shape (in sb) */
    tk_split_bytes sb;
    tk_direct *direct;        /* direct previews (direct.c), NULL: none */
    int no_direct;            /* for tests: previews never go direct */
    int from_cache;           /* loaded from the tokenizer cache (load.c) */
    char *path;               /* for messages */
};

/* The "type" tag of a component object (what: "normalizer", ...), or NULL
 * with err set when j is no object or has no string "type". */
const char *tk_component_type(const cJSON *j, const char *what, la_err *err);

/* A range of code points, inclusive, in sorted disjoint tables. */
typedef struct {
    int32_t lo, hi;
} tk_range;

/* Is cp in the sorted, disjoint range table t[0..n)? (utf8.c) */
int tk_in_ranges(const tk_range *t, size_t n, int32_t cp);
/* Unicode's White_Space property, as Rust's char::is_whitespace. */
int tk_is_white_space(int32_t c);

/* Shared helpers (utf8.c in this folder) */
/* Length of the UTF-8 sequence starting at s[0] (1..4), or 0 if invalid. */
size_t tk_utf8_len(const unsigned char *s, size_t avail);
/* Decodes one code point; returns bytes consumed (0 if invalid). */
size_t tk_utf8_decode(const unsigned char *s, size_t avail, int32_t *cp);
/* Encodes cp, returns bytes written (1..4) into out[4]. */
size_t tk_utf8_encode(int32_t cp, char *out);

/* Decodes the character at s[i] (i < len) and returns its length; a byte
 * that starts no valid sequence (validated input has none) is one opaque
 * unit with *cp = -1. Inline: the stages call it per character. */
static inline size_t tk_next_char(const char *s, size_t len, size_t i, int32_t *cp)
{
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t n = tk_utf8_decode((const unsigned char *)s + i, len - i, cp);
    if (!n) {
        *cp = -1;
        return 1;
    }
    return n;
}

#endif
