/*
 * models.c - the WordLevel, WordPiece and Unigram models of
 * tokenizer.json, as HuggingFace's models/wordlevel, models/wordpiece and
 * models/unigram compute them. Their vocabulary lives in a tk_bpe's
 * tables (bpe.c), so that the rest of the pipeline looks ids and strings
 * up the one way; what each adds (WordPiece's prefix, Unigram's scores
 * and trie) is a tk_model_ext.
 *
 *   WordLevel  a piece is one token: its own id, else unk's.
 *   WordPiece  greedy longest match from the start, later matches with
 *              continuing_subword_prefix; a piece with a part no token
 *              matches, or longer than max_input_chars_per_word
 *              characters, is the one unk token.
 *   Unigram    the best-scoring segmentation (Viterbi over the pieces
 *              the trie finds at each character, a character no piece
 *              covers by itself scored min_score - 10 as unk), runs of
 *              unk fused, then an unknown string as "<0xNN>" tokens with
 *              byte_fallback, else unk.
 *
 * A model whose unk token is needed but missing fails the text, as
 * HuggingFace's encode does (reason "tokenizer_unk").
 */
#include "tokenizer/tk.h"
#include "json.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* HuggingFace's K_UNK_PENALTY: an unknown character scores this much
 * below the lowest piece. */
#define UNK_PENALTY 10.0

/* Unigram's trie of piece strings: one hash table of edges, key
 * (node << 8 | byte) + 1 (0: empty slot) -> child node, and per node the
 * id a piece ending there has (its string's last id), or -1. */
typedef struct {
    uint64_t *key;
    uint32_t *child;
    uint32_t mask;
    int64_t *leaf;
    uint32_t nodes, cap_nodes;
} uni_trie;

struct tk_model_ext {
    int kind;
    int64_t unk_id;               /* -1: none (or not in the vocabulary) */
    /* WordPiece */
    char *prefix;
    size_t prefix_len;
    uint64_t max_chars;
    uint32_t prefix_node;         /* the trie node of the prefix, UINT32_MAX: none */
    /* Unigram */
    double *score;                /* per id */
    uint32_t n;                   /* pieces */
    double unk_score;
    int byte_fallback;
    uni_trie trie;
};

/* Unigram's best path to a byte position: its score, where its last
 * piece starts (SIZE_MAX: no path ends here yet) and that piece's id. */
typedef struct {
    double best;
    size_t from;
    int64_t id;
} lattice_end;

/* Per-thread scratch: Unigram's best paths per byte position, and
 * WordPiece's ids. */
typedef struct {
    lattice_end *end;
    size_t cap;
    uint32_t *ids;
    size_t idcap;
    la_buf tmp;
} model_work;

void tk_model_work_free(void *p)
{
    model_work *mw = p;
    if (!mw)
        return;
    free(mw->end);
    free(mw->ids);
    la_buf_free(&mw->tmp);
    free(mw);
}

static void ext_free(tk_model_ext *x)
{
    if (!x)
        return;
    free(x->prefix);
    free(x->score);
    free(x->trie.key);
    free(x->trie.child);
    free(x->trie.leaf);
    free(x);
}

static model_work *get_work(la_tok_work *w)
{
    if (!w->model)
        w->model = calloc(1, sizeof(model_work));
    return w->model;
}

static int push_id(tk_sink *sink, uint32_t id)
{
    return sink->push(sink, &id, 1) ? 1 : 0;
}

static int missing_unk(la_err *err, const char *model)
{
    return la_err_set(err, LA_EDATA, "tokenizer_unk",
                      "tokenizer: %s: a text needs the unknown token, which the model does not have", model);
}

/* The trie steps one piece of len bytes may take: a walk from a byte
 * stops where no token goes on, within the longest token's length (tens
 * of bytes in real vocabularies); a hostile one (a very long token that
 * almost matches everywhere) would take quadratic time, and fails the
 * text as over its work budget instead. */
#define MODEL_STEPS_PER_BYTE 256
static uint64_t model_budget(size_t len)
{
    return (uint64_t)len * MODEL_STEPS_PER_BYTE + TK_RETRY_BASE;
}

/* ---- WordLevel --------------------------------------------------------- */

static int wordlevel(const tk_bpe *m, const tk_model_ext *x, const char *s, size_t len, tk_sink *sink,
                     la_err *err)
{
    int64_t id = tk_bpe_token_to_id(m, s, len);
    if (id < 0)
        id = x->unk_id;
    if (id < 0)
        return missing_unk(err, "WordLevel");
    return push_id(sink, (uint32_t)id);
}

/* ---- WordPiece --------------------------------------------------------- */

static size_t count_chars(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

static uint64_t edge_hash(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb93fe53e2ac9ULL;
    return k ^ (k >> 33);
}

/* The child of node by byte b, or UINT32_MAX. */
static uint32_t trie_child(const uni_trie *t, uint32_t node, unsigned char b)
{
    uint64_t k = ((uint64_t)node << 8 | b) + 1;
    for (uint32_t i = (uint32_t)edge_hash(k) & t->mask;; i = (i + 1) & t->mask) {
        if (t->key[i] == k)
            return t->child[i];
        if (!t->key[i])
            return UINT32_MAX;
    }
}

/* The trie of every vocabulary string (an empty one is never matched),
 * each ending at a leaf with its id. */
static int trie_build(uni_trie *t, const tk_bpe *m)
{
    size_t total = 0, cap = 16, len;
    uint32_t n = tk_bpe_entries(m), id;
    for (uint32_t e = 0; e < n; e++) {
        tk_bpe_entry(m, e, &len, &id);
        total += len;
    }
    while (cap < 2 * (total + 1))
        cap *= 2;
    if (cap > ((size_t)1 << 31) || total + 1 >= UINT32_MAX)
        return LA_ENOMEM;
    t->key = calloc(cap, sizeof *t->key);
    t->child = malloc(cap * sizeof *t->child);
    t->leaf = malloc((total + 1) * sizeof *t->leaf);
    if (!t->key || !t->child || !t->leaf)
        return LA_ENOMEM;
    t->mask = (uint32_t)(cap - 1);
    t->nodes = 1;
    t->leaf[0] = -1;
    for (uint32_t e = 0; e < n; e++) {
        const char *s = tk_bpe_entry(m, e, &len, &id);
        uint32_t node = 0;
        for (size_t i = 0; i < len; i++) {
            uint64_t k = ((uint64_t)node << 8 | (unsigned char)s[i]) + 1;
            uint32_t j = (uint32_t)edge_hash(k) & t->mask;
            while (t->key[j] && t->key[j] != k)
                j = (j + 1) & t->mask;
            if (!t->key[j]) {
                t->key[j] = k;
                t->child[j] = t->nodes;
                t->leaf[t->nodes++] = -1;
            }
            node = t->child[j];
        }
        if (len)
            t->leaf[node] = id;
    }
    return LA_OK;
}

/* The node that s[0..n) leads to from the root, UINT32_MAX: none. */
static uint32_t trie_walk(const uni_trie *t, const char *s, size_t n)
{
    uint32_t node = 0;
    for (size_t i = 0; i < n && node != UINT32_MAX; i++)
        node = trie_child(t, node, (unsigned char)s[i]);
    return node;
}

/* The longest vocabulary string that s[0..len) starts with, read from
 * the trie from node on (the root, or the node of the prefix): its
 * length in *end and its id, or -1. Charges the steps taken. */
static int64_t longest_match(const uni_trie *t, uint32_t node, const char *s, size_t len, size_t *end,
                             uint64_t *steps)
{
    int64_t id = -1;
    size_t i = 0;
    for (; i < len; i++) {
        node = trie_child(t, node, (unsigned char)s[i]);
        if (node == UINT32_MAX)
            break;
        if (t->leaf[node] >= 0) {
            id = t->leaf[node];
            *end = i + 1;
        }
    }
    *steps += i + 1;
    return id;
}

static int wordpiece(const tk_bpe *m, const tk_model_ext *x, const char *s, size_t len, tk_sink *sink,
                     la_tok_work *w, la_err *err)
{
    (void)m;
    model_work *mw = get_work(w);
    if (!mw)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    if (count_chars(s, len) <= x->max_chars) {
        size_t n = 0;
        uint64_t steps = 0, limit = model_budget(len);
        int bad = 0;
        /* greedy: at each start the longest vocabulary string (with the
         * prefix after the first), which the trie finds in one walk */
        for (size_t start = 0; start < len && !bad;) {
            size_t got = 0;
            int64_t id = -1;
            if (start == 0 || x->prefix_node != UINT32_MAX)
                id = longest_match(&x->trie, start ? x->prefix_node : 0, s + start, len - start, &got, &steps);
            if (steps > limit)
                return tk_budget_error(err, "model WordPiece");
            if (id < 0) {
                bad = 1;
                break;
            }
            if (n == mw->idcap) {
                size_t cap = mw->idcap ? mw->idcap * 2 : 64;
                uint32_t *ids = realloc(mw->ids, cap * sizeof *ids);
                if (!ids)
                    return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
                mw->ids = ids;
                mw->idcap = cap;
            }
            mw->ids[n++] = (uint32_t)id;
            start += got;
        }
        if (!bad)
            return n && sink->push(sink, mw->ids, n) ? 1 : 0;
    }
    if (x->unk_id < 0)
        return missing_unk(err, "WordPiece");
    return push_id(sink, (uint32_t)x->unk_id);
}

/* ---- Unigram ----------------------------------------------------------- */

static int grow_lattice(model_work *mw, size_t need)
{
    if (need <= mw->cap)
        return LA_OK;
    size_t cap = mw->cap ? mw->cap : 256;
    while (cap < need)
        cap *= 2;
    lattice_end *e = realloc(mw->end, cap * sizeof *e);
    if (!e)
        return LA_ENOMEM;
    mw->end = e;
    mw->cap = cap;
    return LA_OK;
}

/* Pushes the tokens of the string s[0..n) that the best path made one
 * (a piece, or a run of unknown characters fused): its id when it is a
 * vocabulary string, else its bytes' "<0xNN>" tokens with byte_fallback
 * when all exist, else unk. */
static int unigram_emit(const tk_bpe *m, const tk_model_ext *x, const char *s, size_t n, tk_sink *sink,
                        la_err *err)
{
    int64_t id = tk_bpe_token_to_id(m, s, n);
    if (id >= 0)
        return push_id(sink, (uint32_t)id);
    if (x->byte_fallback) {
        const int64_t *bid = tk_bpe_byte_ids(m);
        size_t i = 0;
        while (i < n && bid[(unsigned char)s[i]] >= 0)
            i++;
        if (i == n) {
            for (i = 0; i < n; i++)
                if (push_id(sink, (uint32_t)bid[(unsigned char)s[i]]))
                    return 1;
            return 0;
        }
    }
    if (x->unk_id < 0)
        return missing_unk(err, "Unigram");
    /* the token keeps the text it stands for, as HuggingFace's does */
    if (sink->push_str)
        return sink->push_str(sink, (uint32_t)x->unk_id, s, n) ? 1 : 0;
    return push_id(sink, (uint32_t)x->unk_id);
}

/* A path of score cand whose last piece (id) starts at byte at reaches
 * e: kept when e has none yet or it scores strictly more. */
static inline void relax(lattice_end *e, double cand, size_t at, int64_t id)
{
    if (e->from == SIZE_MAX || cand > e->best) {
        e->best = cand;
        e->from = at;
        e->id = id;
    }
}

/* The best path's tokens of s[0..len). With hold, s is the start of a
 * longer piece and a last run of unk-id tokens is not pushed (it may
 * fuse with what follows). */
static int unigram(const tk_bpe *m, const tk_model_ext *x, const char *s, size_t len, tk_sink *sink,
                   la_tok_work *w, int hold, la_err *err)
{
    model_work *mw = get_work(w);
    if (!mw || grow_lattice(mw, len + 1) != LA_OK)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    uint64_t steps = 0, limit = model_budget(len);
    lattice_end *L = mw->end;
    for (size_t i = 0; i <= len; i++)
        L[i] = (lattice_end){ 0, SIZE_MAX, -1 };
    /* forward: at each character, every piece starting there (shortest
     * first), then unk when no piece is that one character */
    for (size_t at = 0; at < len;) {
        int32_t cp;
        size_t clen = tk_next_char(s, len, at, &cp);
        double here = L[at].best;
        int single = 0;
        uint32_t node = 0;
        for (size_t i = at; i < len; i++) {
            node = trie_child(&x->trie, node, (unsigned char)s[i]);
            if (node == UINT32_MAX)
                break;
            if (++steps > limit)
                return tk_budget_error(err, "model Unigram");
            int64_t id = x->trie.leaf[node];
            if (id < 0)
                continue;
            relax(&L[i + 1], x->score[id] + here, at, id);
            single |= i + 1 - at == clen;
        }
        if (!single) {
            if (x->unk_id < 0)
                return missing_unk(err, "Unigram");
            relax(&L[at + clen], x->unk_score + here, at, x->unk_id);
        }
        at += clen;
    }
    /* backward: the path's pieces, end to start, chained toward the end
     * instead (each from now the end of the following piece) */
    size_t end = len, next = SIZE_MAX;
    while (end > 0) {
        size_t start = L[end].from;
        L[end].from = next;
        next = end;
        end = start;
    }
    /* forward again: pieces in order, runs of unk fused */
    size_t start = 0;
    for (size_t e = next; e != SIZE_MAX;) {
        size_t after = L[e].from;
        if (x->unk_id >= 0 && L[e].id == x->unk_id) {
            while (after != SIZE_MAX && L[after].id == x->unk_id) {
                e = after;
                after = L[after].from;
            }
            if (hold && after == SIZE_MAX)
                break;
        }
        int rc = unigram_emit(m, x, s + start, e - start, sink, err);
        if (rc != 0)
            return rc;
        start = e;
        e = after;
    }
    return 0;
}

static int model_tokenize(const tk_bpe *m, const tk_model_ext *x, const char *piece, size_t len, tk_sink *sink,
                          la_tok_work *w, la_err *err)
{
    if (len == 0)
        return 0;
    switch (x->kind) {
    case TK_MODEL_WORDLEVEL:
        return wordlevel(m, x, piece, len, sink, err);
    case TK_MODEL_WORDPIECE:
        return wordpiece(m, x, piece, len, sink, w, err);
    default:
        return unigram(m, x, piece, len, sink, w, 0, err);
    }
}

int tk_model_prefix(const tk_bpe *m, const char *piece, size_t len, tk_sink *sink, la_tok_work *w,
                    la_err *err)
{
    const tk_model_ext *x = tk_bpe_ext(m);
    if (!x || x->kind != TK_MODEL_UNIGRAM || !tk_bpe_can_cut(m))
        return 3;
    /* the last cut: tk_bpe_chunk_end gives the next point where no piece
     * spans and both characters are pieces */
    size_t cut = 0;
    for (size_t from = 0;;) {
        size_t end = tk_bpe_chunk_end(m, piece, len, from);
        if (end >= len)
            break;
        cut = from = end;
    }
    if (cut == 0)
        return 2;
    int rc = unigram(m, x, piece, cut, sink, w, 1, err);
    return rc ? rc : 2;
}

/* ---- loading ----------------------------------------------------------- */

/* A required member (HuggingFace's serde: a missing field fails). */
static const cJSON *need(const cJSON *opts, const char *type, const char *key, la_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(opts, key);
    if (!v)
        la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: %s: missing field \"%s\"", type, key);
    return v;
}

static int need_string(const cJSON *opts, const char *type, const char *key, const char **out, la_err *err)
{
    const cJSON *v = need(opts, type, key, err);
    if (!v)
        return LA_EDATA;
    if (!cJSON_IsString(v))
        return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: %s: \"%s\" is not a string", type,
                          key);
    *out = v->valuestring;
    return LA_OK;
}

/* A JSON number that is a whole number in [0, 2^53] (a usize). */
static int whole(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0) || v->valuedouble > 9007199254740992.0 ||
        v->valuedouble != floor(v->valuedouble))
        return 0;
    *out = (uint64_t)v->valuedouble;
    return 1;
}

static tk_bpe *load_word(int kind, const char *type, const cJSON *opts, const char *vocab, size_t vocab_len,
                         la_err *err)
{
    const char *unk = NULL, *prefix = "";
    uint64_t max_chars = UINT64_MAX;
    if (!vocab) {
        la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: %s: missing field \"vocab\"", type);
        return NULL;
    }
    if (need_string(opts, type, "unk_token", &unk, err) != LA_OK)
        return NULL;
    if (kind == TK_MODEL_WORDPIECE) {
        const cJSON *mc;
        if (need_string(opts, type, "continuing_subword_prefix", &prefix, err) != LA_OK ||
            !(mc = need(opts, type, "max_input_chars_per_word", err)))
            return NULL;
        if (!whole(mc, &max_chars)) {
            la_err_set(err, LA_EDATA, "bad_tokenizer",
                       "tokenizer: model: WordPiece: \"max_input_chars_per_word\" is not a whole number");
            return NULL;
        }
    }
    tk_bpe *m = tk_bpe_new_kind(kind, err);
    tk_model_ext *x = m ? calloc(1, sizeof *x) : NULL;
    if (m && !x)
        la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
    if (x && !(x->prefix = strdup(prefix)))
        la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
    if (x && (!x->prefix || tk_bpe_vocab_object(m, vocab, vocab_len, err) != LA_OK)) {
        ext_free(x);
        x = NULL;
    }
    if (!x) {
        tk_bpe_free(m);
        return NULL;
    }
    x->kind = kind;
    x->prefix_len = strlen(prefix);
    x->max_chars = max_chars;
    x->unk_id = tk_bpe_token_to_id(m, unk, strlen(unk));
    tk_bpe_set_ext(m, x, model_tokenize, ext_free, x->unk_id, 0);
    if (kind == TK_MODEL_WORDPIECE && trie_build(&x->trie, m) != LA_OK) {
        la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
        tk_bpe_free(m);
        return NULL;
    }
    x->prefix_node = trie_walk(&x->trie, x->prefix, x->prefix_len);
    return m;
}

/* The powers of ten 1e0 to 1e308, each the nearest double, as serde's
 * literals are. */
static double pow10[309];
static pthread_once_t pow10_once = PTHREAD_ONCE_INIT;

static void pow10_fill(void)
{
    char lit[8];
    for (int i = 0; i <= 308; i++) {
        snprintf(lit, sizeof lit, "1e%d", i);
        pow10[i] = strtod(lit, NULL);
    }
}

/* A JSON number p[0..n) as serde_json reads it into an f64 without its
 * float_roundtrip feature (as HuggingFace's tokenizers is built): up to
 * 19 or 20 significant digits kept in a u64 (later ones dropped, those of
 * the integer part counted in the exponent), that integer converted, then
 * one multiplication or division by a power of ten (a few more for
 * exponents past 308). Not always the nearest double, so it is done the
 * same way here: Viterbi's ties between paths of one score, summed in
 * different orders, depend on the last bit. 1 with *out, 0 out of range. */
static int serde_f64(const char *p, size_t n, double *out)
{
    pthread_once(&pow10_once, pow10_fill);
    size_t i = 0;
    int neg = i < n && p[i] == '-';
    i += (size_t)neg;
    uint64_t sig = 0;
    int32_t exp = 0;
    int full = 0;                  /* the significand took all it can */
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        unsigned d = (unsigned)(p[i] - '0');
        if (!full && sig > (UINT64_MAX - d) / 10)
            full = 1;
        if (full)
            exp++;
        else
            sig = sig * 10 + d;
    }
    int plain = 1;                 /* an integer: converted directly */
    if (i < n && p[i] == '.') {
        plain = 0;
        for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
            unsigned d = (unsigned)(p[i] - '0');
            if (!full && sig > (UINT64_MAX - d) / 10)
                full = 1;
            if (!full) {
                sig = sig * 10 + d;
                exp--;
            }
        }
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        plain = 0;
        i++;
        int eneg = i < n && p[i] == '-';
        if (i < n && (p[i] == '-' || p[i] == '+'))
            i++;
        int64_t e = 0;
        for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
            e = e * 10 + (p[i] - '0');
            if (e > INT32_MAX) {     /* serde: out of range, or zero */
                if (sig != 0 && !eneg)
                    return 0;
                *out = neg ? -0.0 : 0.0;
                return 1;
            }
        }
        int64_t x = eneg ? (int64_t)exp - e : (int64_t)exp + e;
        exp = x > INT32_MAX ? INT32_MAX : x < INT32_MIN ? INT32_MIN : (int32_t)x;
    }
    double f = (double)sig;
    if (!plain || full) {
        for (;;) {
            uint32_t a = exp < 0 ? (uint32_t)0 - (uint32_t)exp : (uint32_t)exp;
            if (a <= 308) {
                if (exp >= 0) {
                    f *= pow10[a];
                    if (isinf(f))
                        return 0;
                } else {
                    f /= pow10[a];
                }
                break;
            }
            if (f == 0)
                break;
            if (exp >= 0)
                return 0;
            f /= 1e308;
            exp += 308;
        }
    }
    *out = neg ? -f : f;
    return 1;
}

/* Unigram's "vocab": an array of [piece, score] pairs, p[0..n). Counts
 * them (and their bytes) first, then adds them. */
static tk_bpe *load_unigram(const cJSON *opts, const char *p, size_t n, int chunking, la_err *err)
{
    if (!p) {
        la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: Unigram: missing field \"vocab\"");
        return NULL;
    }
    size_t i = la_json_ws(p, n, 0);
    if (i >= n || p[i] != '[') {
        la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: Unigram: \"vocab\" is not an array");
        return NULL;
    }
    /* pass 1: the pairs' spans are checked and counted */
    size_t count = 0, bytes = 0;
    for (size_t at = la_json_ws(p, n, i + 1); at < n && p[at] != ']';) {
        size_t e = la_json_skip(p, n, at);
        if (p[at] != '[' || e <= at) {
            la_err_set(err, LA_EDATA, "bad_tokenizer",
                       "tokenizer: model: Unigram: vocab entry %zu is not a [piece, score] pair", count);
            return NULL;
        }
        bytes += e - at;
        count++;
        at = la_json_ws(p, n, e);
        if (at < n && p[at] == ',')
            at = la_json_ws(p, n, at + 1);
    }
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(opts, "unk_id");
    const cJSON *bf = cJSON_GetObjectItemCaseSensitive(opts, "byte_fallback");
    uint64_t unk = 0;
    int has_unk = u && !cJSON_IsNull(u);
    if (has_unk && !whole(u, &unk)) {
        la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: Unigram: \"unk_id\" is not a whole number");
        return NULL;
    }
    if (bf && !cJSON_IsNull(bf) && !cJSON_IsBool(bf)) {
        la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: Unigram: \"byte_fallback\" is not a boolean");
        return NULL;
    }
    if (has_unk && count == 0) {
        la_err_set(err, LA_EDATA, "bad_tokenizer",
                   "tokenizer: model: Unigram: the vocabulary is empty but unk_id needs a piece");
        return NULL;
    }
    if (has_unk && unk >= count) {
        la_err_set(err, LA_EDATA, "bad_tokenizer",
                   "tokenizer: model: Unigram: unk_id %llu is not below the vocabulary size %zu",
                   (unsigned long long)unk, count);
        return NULL;
    }
    tk_bpe *m = tk_bpe_new_kind(TK_MODEL_UNIGRAM, err);
    tk_model_ext *x = m ? calloc(1, sizeof *x) : NULL;
    if (!x) {
        if (m)
            la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
        tk_bpe_free(m);
        return NULL;
    }
    x->kind = TK_MODEL_UNIGRAM;
    x->unk_id = has_unk ? (int64_t)unk : -1;
    x->byte_fallback = bf && cJSON_IsTrue(bf);
    x->n = (uint32_t)count;
    int rc = tk_bpe_vocab_reserve(m, count, bytes, err);
    if (rc == LA_OK && !(x->score = malloc((count ? count : 1) * sizeof *x->score)))
        rc = la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
    /* pass 2: each pair's piece and score */
    la_buf tmp = {0};
    double min = INFINITY;
    size_t k = 0;
    for (size_t at = la_json_ws(p, n, i + 1); rc == LA_OK && at < n && p[at] != ']'; k++) {
        size_t e = la_json_skip(p, n, at);
        la_span str;
        str.start = la_json_ws(p, e, at + 1);
        str.end = p[str.start] == '"' ? la_json_skip(p, e, str.start) : str.start;
        size_t num = la_json_ws(p, e, str.end);
        num = num < e && p[num] == ',' ? la_json_ws(p, e, num + 1) : e;
        size_t num_end = num < e ? la_json_skip(p, e, num) : e;
        size_t close = la_json_ws(p, e, num_end);
        double score = 0;
        int isnum = num < e && (p[num] == '-' || (p[num] >= '0' && p[num] <= '9'));
        int inrange = isnum && serde_f64(p + num, num_end - num, &score);
        la_buf_clear(&tmp);
        if (str.end == str.start || !isnum || close + 1 != e || la_json_unescape(p, str, &tmp, NULL) != LA_OK)
            rc = la_err_set(err, LA_EDATA, "bad_tokenizer",
                            "tokenizer: model: Unigram: vocab entry %zu is not a [piece, score] pair", k);
        else if (!inrange)
            rc = la_err_set(err, LA_EDATA, "bad_tokenizer",
                            "tokenizer: model: Unigram: vocab entry %zu: score out of range", k);
        else if ((rc = tk_bpe_vocab_add(m, tmp.data ? tmp.data : "", tmp.len, (uint32_t)k, err)) == LA_OK) {
            x->score[k] = score;
            if (score < min)
                min = score;
        }
        at = la_json_ws(p, n, e);
        if (at < n && p[at] == ',')
            at = la_json_ws(p, n, at + 1);
    }
    la_buf_free(&tmp);
    x->unk_score = min - UNK_PENALTY;
    if (rc == LA_OK) {
        tk_bpe_vocab_done(m);
        if (trie_build(&x->trie, m) != LA_OK)
            rc = la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: model: out of memory");
    }
    tk_bpe_set_ext(m, x, model_tokenize, ext_free, x->unk_id, x->byte_fallback);
    if (rc == LA_OK && chunking)
        rc = tk_bpe_prepare_chunking(m, err);
    if (rc != LA_OK) {
        tk_bpe_free(m);
        return NULL;
    }
    return m;
}

tk_bpe *tk_model_from_raw(const char *type, const cJSON *opts, const char *vocab, size_t vocab_len,
                          int chunking, la_err *err)
{
    if (strcmp(type, "WordLevel") == 0)
        return load_word(TK_MODEL_WORDLEVEL, type, opts, vocab, vocab_len, err);
    if (strcmp(type, "WordPiece") == 0)
        return load_word(TK_MODEL_WORDPIECE, type, opts, vocab, vocab_len, err);
    if (strcmp(type, "Unigram") == 0)
        return load_unigram(opts, vocab, vocab_len, chunking, err);
    la_err_set(err, LA_EUNSUP, "unsupported", "tokenizer: model: unsupported type \"%.60s\"", type);
    return NULL;
}
