/*
 * added.c - added and special tokens (tokenizer.json "added_tokens"),
 * as HuggingFace's AddedVocabulary: ids assigned the way add_tokens
 * assigns them, two pattern sets (tokens matched on the raw text, and
 * "normalized" ones matched on the normalized pieces), leftmost-longest
 * matching with the single_word, lstrip and rstrip rules of find_matches.
 */
#include "tokenizer/tk.h"
#include "json.h"
#include "tokenizer/tk_test.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include <xxhash.h>

/* A pattern of one of the two sets. */
typedef struct {
    char *text;          /* content (normalized set: the normalized content) */
    size_t len;
    uint32_t id;
    int normalized;      /* the set it belongs to */
    int32_t tok;         /* index of the id's entry in toks, -1: none */
} added_pattern;

/* A trie node: the byte leading to it, its first child and next
 * sibling, and the pattern ending here (-1: none). */
typedef struct {
    uint32_t child, sibling;
    int32_t pat;
    unsigned char byte;
} trie_node;

/* One entry of the JSON array, before ids are known. */
typedef struct {
    char *content;
    size_t len;
    int single_word, lstrip, rstrip, normalized, special;
} json_token;

/* Open addressing over array indices (stored + 1; 0 is an empty slot),
 * at most half full: lookups by content or id in constant time, so that
 * tokenizers with thousands of added tokens load in linear time. What a
 * slot's index means, and when it equals a key, the caller says. */
typedef struct {
    uint32_t *slot;
    size_t mask;
} ix_table;

struct tk_added {
    tk_added_token *toks;   /* id -> token (added_tokens_map_r), one per id */
    size_t ntoks;
    added_pattern *pats;    /* special tokens first, then the others */
    size_t npats;
    uint32_t *bucket[256];  /* pattern indices by first byte, longest first */
    size_t nbucket[256];
    /* Matching: a byte trie per set (normalized or not), built from the
     * buckets in their order, so that the deepest pattern on the path is
     * the one the buckets would pick (longest, then first). */
    trie_node *nodes;       /* nodes[0] unused: 0 means none */
    uint32_t nnodes;
    uint32_t root[2][256];  /* first byte -> node */
    size_t npats_set[2];    /* patterns in each set */
    int first_byte[2];      /* the only first byte of a set, -1 if several */
    /* when every pattern of a set has two bytes or more: its second bytes
     * (second[set][b] = 1), so that a first byte followed by none of them
     * is passed over without walking the trie */
    int has_second[2];
    uint8_t second[2][256];
    int any_lstrip;
    uint32_t vocab_count;
    char *tok_text;         /* the tokens' contents, one after another (own_contents) */
    char *pat_text;         /* the patterns' texts, one after another (add_patterns) */
    json_token *pending;    /* parsed entries, until tk_added_prepare */
    size_t npending;
    char *pending_text;     /* the block their contents lie in (tk_added_from_image), else NULL:
                             * each content a malloc of its own */
    ix_table by_id;         /* id -> toks index */
    ix_table by_content;    /* content -> first toks index with it */
};

/* ---- index tables --------------------------------------------------------- */

static int ix_init(ix_table *t, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n + 2)
        cap <<= 1;
    t->slot = calloc(cap, sizeof *t->slot);
    t->mask = cap - 1;
    return t->slot ? LA_OK : LA_ENOMEM;
}

static void ix_free(ix_table *t)
{
    free(t->slot);
    t->slot = NULL;
    t->mask = 0;
}

/* The tables' hash of a content (never stored: a load makes them). */
static uint64_t hash_mem(const char *s, size_t n) { return XXH3_64bits(s, n); }

static uint64_t hash_u32(uint32_t x)
{
    uint64_t h = x * 0x9E3779B97F4A7C15ULL;
    return h ^ h >> 31;
}

/* First slot of h's probe sequence holding an index eq() accepts, or an
 * empty one. */
static uint32_t *ix_probe(const ix_table *t, uint64_t h, int (*eq)(const void *ctx, uint32_t i, const void *key),
                          const void *ctx, const void *key)
{
    size_t i = (size_t)h & t->mask;
    while (t->slot[i] && !eq(ctx, t->slot[i] - 1, key))
        i = (i + 1) & t->mask;
    return &t->slot[i];
}

/* A content as a key. */
typedef struct {
    const char *s;
    size_t len;
} mem_key;

static int tok_has_id(const void *ctx, uint32_t i, const void *key)
{
    return ((const tk_added_token *)ctx)[i].id == *(const uint32_t *)key;
}

static int tok_has_content(const void *ctx, uint32_t i, const void *key)
{
    const tk_added_token *t = &((const tk_added_token *)ctx)[i];
    const mem_key *k = key;
    return t->len == k->len && memcmp(t->content, k->s, k->len) == 0;
}

/* ---- building ----------------------------------------------------------- */

/* Reads an optional boolean member, def when absent. */
static int token_flag(const cJSON *o, const char *key, int def, int *out, la_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = def;
    if (!v)
        return LA_OK;
    if (!cJSON_IsBool(v))
        return la_err_set(err, LA_EDATA, "bad_tokenizer",
                          "tokenizer: added_tokens: \"%s\" is not a boolean", key);
    *out = cJSON_IsTrue(v);
    return LA_OK;
}

/* Frees a list of parsed JSON entries: their contents one by one, or
 * the block that holds them all (block not NULL). */
static void free_json_tokens(json_token *jt, size_t n, char *block)
{
    for (size_t i = 0; jt && !block && i < n; i++)
        free(jt[i].content);
    free(block);
    free(jt);
}

/* Index of the first token registered for content, or -1 (once
 * tk_added_prepare has built the table). */
static long find_content(const tk_added *a, const char *s, size_t len)
{
    if (!a->by_content.slot)
        return -1;
    mem_key k = { s, len };
    uint32_t *slot = ix_probe(&a->by_content, hash_mem(s, len), tok_has_content, a->toks, &k);
    return (long)*slot - 1;
}

/* Index of the token with this id, or -1. */
static long find_id(const tk_added *a, uint32_t id)
{
    if (!a->by_id.slot)
        return -1;
    uint32_t *slot = ix_probe(&a->by_id, hash_u32(id), tok_has_id, a->toks, &id);
    return (long)*slot - 1;
}

tk_added *tk_added_from_json(const cJSON *arr, la_err *err)
{
    if (arr && !cJSON_IsArray(arr)) {       /* null too: HuggingFace wants a sequence */
        la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: added_tokens: not an array");
        return NULL;
    }
    tk_added *a = calloc(1, sizeof *a);
    size_t n = arr && cJSON_IsArray(arr) ? (size_t)cJSON_GetArraySize(arr) : 0;
    json_token *jt = calloc(n ? n : 1, sizeof *jt);
    if (!a || !jt) {
        free(a);
        free(jt);
        la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: added_tokens: out of memory");
        return NULL;
    }
    /* ids come later: tk_added_prepare numbers them against the model */
    a->pending = jt;
    a->npending = n;
    size_t i = 0;
    for (const cJSON *c = arr && n ? arr->child : NULL; c; c = c->next, i++) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(c, "content");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
        int rc = LA_OK;
        if (!cJSON_IsObject(c) || !cJSON_IsString(content) || !cJSON_IsNumber(id) ||
            id->valuedouble < 0 || id->valuedouble > 4294967295.0)
            rc = la_err_set(err, LA_EDATA, "bad_tokenizer",
                            "tokenizer: added_tokens: entry %zu needs a string content and a u32 id", i);
        if (rc == LA_OK && (rc = token_flag(c, "single_word", 0, &jt[i].single_word, err)) == LA_OK &&
            (rc = token_flag(c, "lstrip", 0, &jt[i].lstrip, err)) == LA_OK &&
            (rc = token_flag(c, "rstrip", 0, &jt[i].rstrip, err)) == LA_OK &&
            (rc = token_flag(c, "normalized", 1, &jt[i].normalized, err)) == LA_OK)
            rc = token_flag(c, "special", 0, &jt[i].special, err);
        if (rc == LA_OK) {
            jt[i].len = strlen(content->valuestring);
            jt[i].content = malloc(jt[i].len + 1);
            if (!jt[i].content)
                rc = la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: added_tokens: out of memory");
            else
                memcpy(jt[i].content, content->valuestring, jt[i].len + 1);
        }
        if (rc != LA_OK) {
            tk_added_free(a);
            return NULL;
        }
    }
    return a;
}

/* ---- the usual array read from its validated text ---------------------- */

/* The end of the string at p[i] (a quote) when it has no escape, else 0. */
static size_t plain_end(const char *p, size_t end, size_t i)
{
    const char *q = memchr(p + i + 1, '"', end - i - 1), *b;
    if (!q || ((b = memchr(p + i + 1, '\\', (size_t)(q - p) - i - 1)) && b < q))
        return 0;
    return (size_t)(q - p) + 1;
}

/* The content string p[s..e) (validated) into t: its bytes, unescaped
 * when it has escapes other than backslash-u ones (which decode as cJSON
 * decodes them); 0 for a backslash-u escape (left to cJSON) or when out
 * of memory. */
static int content_text(const char *p, size_t s, size_t e, json_token *t)
{
    int esc = 0;
    for (size_t j = s + 1; j + 1 < e; j++)
        if (p[j] == '\\') {
            if (p[j + 1] == 'u')
                return 0;
            esc = 1;
            j++;
        }
    la_buf text = {0};
    const char *from = p + s + 1;
    size_t len = e - s - 2;
    if (esc) {
        if (la_json_unescape(p, (la_span){ s, e }, &text, NULL) != LA_OK) {
            la_buf_free(&text);
            return 0;
        }
        from = text.data ? text.data : "";
        len = text.len;
    }
    if ((t->content = malloc(len + 1))) {
        memcpy(t->content, from, len);
        t->content[len] = 0;
        t->len = len;
    }
    la_buf_free(&text);
    return t->content != NULL;
}

/* The members an entry may have, by bit. */
static const char *const entry_keys[] = { "\"id\"", "\"content\"", "\"single_word\"", "\"lstrip\"", "\"rstrip\"",
                                          "\"normalized\"", "\"special\"" };

/* One entry at p[*i] ('{') into *t: each member at most once, keys and
 * content without escapes, id digits alone within u32, flags true or
 * false, content and id present; 0 otherwise. */
static int raw_entry(const char *p, size_t end, size_t *i, json_token *t)
{
    size_t at = la_json_ws_run(p, end, *i + 1), cstart = 0, cend = 0;
    unsigned seen = 0;
    int *flags[] = { NULL, NULL, &t->single_word, &t->lstrip, &t->rstrip, &t->normalized, &t->special };
    *t = (json_token){ NULL, 0, 0, 0, 0, 1, 0 };
    while (p[at] == '"') {
        size_t kend = plain_end(p, end, at), k = 0;
        while (kend && k < 7 && (strlen(entry_keys[k]) != kend - at || memcmp(p + at, entry_keys[k], kend - at)))
            k++;
        if (!kend || k == 7 || (seen >> k & 1))
            return 0;
        seen |= 1u << k;
        at = la_json_ws_run(p, end, la_json_ws_run(p, end, kend) + 1);      /* past ':' */
        if (k == 0) {
            uint64_t id = 0;
            size_t d = at;
            while (p[d] >= '0' && p[d] <= '9' && id <= 4294967295u)
                id = id * 10 + (uint64_t)(p[d++] - '0');
            if (d == at || id > 4294967295u || p[d] == '.' || p[d] == 'e' || p[d] == 'E' || (p[d] >= '0' && p[d] <= '9'))
                return 0;
            at = d;
        } else if (k == 1) {
            if (p[at] != '"' || !(cend = la_json_skip(p, end, at)) || cend <= at)
                return 0;
            cstart = at;
            at = cend;
        } else if (p[at] == 't' || p[at] == 'f') {
            *flags[k] = p[at] == 't';
            at += p[at] == 't' ? 4 : 5;
        } else {
            return 0;
        }
        at = la_json_ws_run(p, end, at);
        if (p[at] == ',')
            at = la_json_ws_run(p, end, at + 1);
    }
    if (p[at] != '}' || (seen & 3) != 3 || !content_text(p, cstart, cend, t))
        return 0;
    *i = at + 1;
    return 1;
}

tk_added *tk_added_from_raw(const char *p, size_t start, size_t end)
{
    tk_added *a = calloc(1, sizeof *a);
    json_token *jt = NULL;
    size_t n = 0, cap = 0, i = la_json_ws_run(p, end, start + 1);
    int ok = a && p[start] == '[';
    while (ok && p[i] != ']') {
        void *items = jt;
        ok = p[i] == '{' && la_grow(&items, &cap, n + 1, sizeof *jt, 64) == 0;
        jt = items;
        if (ok && (ok = raw_entry(p, end, &i, &jt[n])))
            n++;
        i = la_json_ws_run(p, end, i);
        if (ok && p[i] == ',')
            i = la_json_ws_run(p, end, i + 1);
    }
    if (!ok) {
        free_json_tokens(jt, n, NULL);
        free(a);
        return NULL;
    }
    a->pending = jt ? jt : calloc(1, sizeof *jt);
    a->npending = n;
    if (!a->pending) {
        free(a);
        return NULL;
    }
    return a;
}

/* ---- the tokens as bytes, for the tokenizer cache ----------------------- *
 * The entries as read, before ids (what tk_added_prepare takes), so that
 * a load from the cache parses no JSON: a count, then a record per entry
 * (where its content starts in the text after the records, its length,
 * its flags), then the contents one after another. */
typedef struct {
    uint32_t off, len, flags;
} added_record;

enum { F_SINGLE = 1, F_LSTRIP = 2, F_RSTRIP = 4, F_NORMALIZED = 8, F_SPECIAL = 16 };

int tk_added_image(const tk_added *a, la_buf *out)
{
    uint64_t n = a->npending, at = 0;
    if (n > UINT32_MAX || la_buf_append(out, (const char *)&n, sizeof n))
        return LA_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_token *t = &a->pending[i];
        if (t->len > UINT32_MAX || at > UINT32_MAX - t->len)
            return LA_ENOMEM;
        added_record r = { (uint32_t)at, (uint32_t)t->len,
                           (uint32_t)((t->single_word ? F_SINGLE : 0) | (t->lstrip ? F_LSTRIP : 0) |
                                      (t->rstrip ? F_RSTRIP : 0) | (t->normalized ? F_NORMALIZED : 0) |
                                      (t->special ? F_SPECIAL : 0)) };
        at += t->len;
        if (la_buf_append(out, (const char *)&r, sizeof r))
            return LA_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        if (la_buf_append(out, a->pending[i].content, a->pending[i].len))
            return LA_ENOMEM;
    return LA_OK;
}

/* The records of image p[0..n) (tk_added_image): their number in *count
 * and where the contents start in *text, when the count fits. */
static const char *image_records(const char *p, size_t n, size_t *count, size_t *text)
{
    uint64_t c;
    if (n < sizeof c)
        return NULL;
    memcpy(&c, p, sizeof c);
    if (c > (n - sizeof c) / sizeof(added_record))
        return NULL;
    *count = (size_t)c;
    *text = sizeof c + (size_t)c * sizeof(added_record);
    return p + sizeof c;
}

tk_added *tk_added_from_image(const char *p, size_t n, la_err *err)
{
    size_t count, text;
    const char *rec = image_records(p, n, &count, &text);
    tk_added *a = rec ? calloc(1, sizeof *a) : NULL;
    json_token *jt = a ? calloc(count ? count : 1, sizeof *jt) : NULL;
    /* the contents, each with a NUL after it, in one block (at most the
     * part's own size again: count records come before them) */
    char *block = jt ? malloc(n - text + count + 1) : NULL;
    if (!block) {
        free(jt);
        free(a);
        if (rec)
            la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: added_tokens: out of memory");
        else
            la_err_set(err, LA_EDATA, "bad_cache", "tokenizer cache: added tokens do not hold together");
        return NULL;
    }
    a->pending = jt;
    a->npending = count;
    a->pending_text = block;
    /* the contents one after another, to the end, each with no NUL (a
     * string of the file never has one) and in UTF-8; flags known */
    size_t at = 0;
    int ok = 1;
    for (size_t i = 0; i < count && ok; i++) {
        added_record r;
        memcpy(&r, rec + i * sizeof r, sizeof r);
        const char *c = p + text + at;
        ok = r.off == at && r.len <= n - text - at && r.flags < 32 && !memchr(c, 0, r.len) &&
             tk_utf8_valid(c, r.len);
        if (!ok)
            break;
        jt[i] = (json_token){ block + at + i, r.len, !!(r.flags & F_SINGLE), !!(r.flags & F_LSTRIP),
                              !!(r.flags & F_RSTRIP), !!(r.flags & F_NORMALIZED), !!(r.flags & F_SPECIAL) };
        at += r.len;
        memcpy(jt[i].content, c, r.len);
        jt[i].content[r.len] = 0;
    }
    if (!ok || at != n - text) {
        tk_added_free(a);
        la_err_set(err, LA_EDATA, "bad_cache", "tokenizer cache: added tokens do not hold together");
        return NULL;
    }
    return a;
}

int tk_added_image_vouched(const char *p, size_t n, size_t off)
{
    size_t count, text;
    if (!image_records(p, n, &count, &text) || off < sizeof(uint64_t))
        return 0;
    if (off >= text)
        return 1;                 /* a content's bytes */
    /* in a record: its flags */
    return (off - sizeof(uint64_t)) % sizeof(added_record) >= offsetof(added_record, flags);
}

/* 1 if the two entries are the same token: content and flags. */
static int same_token(const tk_added_token *t, const tk_added_token *r)
{
    return r->len == t->len && memcmp(r->content, t->content, t->len) == 0 &&
           r->single_word == t->single_word && r->lstrip == t->lstrip && r->rstrip == t->rstrip &&
           r->normalized == t->normalized && r->special == t->special;
}

/* HuggingFace's added_tokens_map (content -> id), kept apart from the
 * id -> token entries (added_tokens_map_r, a->toks): a later token given
 * the id of an earlier content replaces that id's entry, while the
 * earlier content still maps to the id. Contents point into the parsed
 * entries; only tk_added_prepare uses it. */
typedef struct {
    const char **content;
    size_t *len;
    uint32_t *id;
    size_t n;
    ix_table ix;
} content_map;

static int map_has(const void *ctx, uint32_t i, const void *key)
{
    const content_map *cm = ctx;
    const mem_key *k = key;
    return cm->len[i] == k->len && memcmp(cm->content[i], k->s, k->len) == 0;
}

/* The map's slot for content s (empty if s is not in the map). */
static uint32_t *map_slot(const content_map *cm, const char *s, size_t len)
{
    mem_key k = { s, len };
    return ix_probe(&cm->ix, hash_mem(s, len), map_has, cm, &k);
}

/* Index of content s in the map, or -1. */
static long map_find(const content_map *cm, const char *s, size_t len)
{
    return (long)*map_slot(cm, s, len) - 1;
}

/* The id add_tokens gives token t: the content's added id, else the
 * model's, else the next new id (*next, then counted on). HuggingFace's
 * add_tokens takes one past the largest added id (or the vocabulary
 * size) once, before the first token, and counts new ids on from there,
 * so a token found in the vocabulary does not move it: with a vocabulary
 * of 4 ids where "big" is 200, "NEW", "big", "NEW2" get 4, 200 and 5. At
 * load nothing is added before, so it starts at the vocabulary size. */
static uint32_t new_id_for(const content_map *cm, const tk_bpe *model, const json_token *t, uint32_t *next)
{
    long k = map_find(cm, t->content, t->len);
    if (k >= 0)
        return cm->id[k];
    int64_t mid = model ? tk_bpe_token_to_id(model, t->content, t->len) : -1;
    if (mid >= 0)
        return (uint32_t)mid;
    return (*next)++;
}

/* Registers token t under id (added_tokens_map and _map_r). The content
 * pointer is shared with the JSON entry list, owned by the pattern list
 * afterwards. */
static void register_token(tk_added *a, content_map *cm, const tk_added_token *nt)
{
    uint32_t id = nt->id, *slot = map_slot(cm, nt->content, nt->len);
    if (*slot) {
        cm->id[*slot - 1] = id;        /* map: content -> new id */
    } else {
        cm->content[cm->n] = nt->content;
        cm->len[cm->n] = nt->len;
        cm->id[cm->n] = id;
        *slot = (uint32_t)++cm->n;
    }
    uint32_t *r = ix_probe(&a->by_id, hash_u32(id), tok_has_id, a->toks, &id);
    if (*r) {
        a->toks[*r - 1] = *nt;         /* map_r: id -> latest token */
    } else {
        a->toks[a->ntoks] = *nt;
        *r = (uint32_t)++a->ntoks;
    }
}

/* Appends a pattern, its text copied to the end of texts (with a NUL);
 * the text's pointer is set once every text is in (add_patterns). */
static int add_pattern(tk_added *a, la_buf *texts, const char *s, size_t len, uint32_t id, int normalized)
{
    if (la_buf_append(texts, s, len) || la_buf_append(texts, "", 1))
        return LA_ENOMEM;
    a->pats[a->npats++] = (added_pattern){ NULL, len, id, normalized, (int32_t)find_id(a, id) };
    return LA_OK;
}

static uint32_t trie_child(const tk_added *a, int set, uint32_t n, unsigned char c);

int tk_added_may_start(const tk_added *a, int normalized, const char *s, size_t len, size_t pos)
{
    uint32_t n = 0;
    for (size_t i = pos;; i++) {
        if (n && a->nodes[n].pat >= 0)
            return 1;
        if (i == len)
            return n != 0;      /* a pattern may go on past the end */
        if (!(n = trie_child(a, normalized ? 1 : 0, n, (unsigned char)s[i])))
            return 0;
    }
}

void tk_added_mark_first_bytes(const tk_added *a, int normalized, uint8_t mark[256], uint8_t v)
{
    for (int b = 0; a && b < 256; b++)
        if (a->root[normalized ? 1 : 0][b])
            mark[b] = v;
}

/* Child of node n (0 = a set's root level) reached by byte c, 0 if none. */
static uint32_t trie_child(const tk_added *a, int set, uint32_t n, unsigned char c)
{
    if (n == 0)
        return a->root[set][c];
    for (uint32_t k = a->nodes[n].child; k; k = a->nodes[k].sibling)
        if (a->nodes[k].byte == c)
            return k;
    return 0;
}

/* Builds the two tries from the sorted buckets. */
static int build_tries(tk_added *a)
{
    size_t total = 1;
    for (size_t p = 0; p < a->npats; p++)
        total += a->pats[p].len;
    a->nodes = calloc(total, sizeof *a->nodes);
    if (!a->nodes)
        return LA_ENOMEM;
    a->nnodes = 1;
    for (int set = 0; set < 2; set++) {
        a->first_byte[set] = -2;
        a->has_second[set] = 1;
        memset(a->second[set], 0, sizeof a->second[set]);
        a->npats_set[set] = 0;
    }
    for (int b = 0; b < 256; b++)
        for (size_t k = 0; k < a->nbucket[b]; k++) {
            uint32_t p = a->bucket[b][k];
            const added_pattern *pat = &a->pats[p];
            int set = pat->normalized ? 1 : 0;
            a->npats_set[set]++;
            a->first_byte[set] = a->first_byte[set] == -2 || a->first_byte[set] == b ? b : -1;
            if (pat->len >= 2)
                a->second[set][(unsigned char)pat->text[1]] = 1;
            else
                a->has_second[set] = 0;
            uint32_t n = 0;
            for (size_t i = 0; i < pat->len; i++) {
                unsigned char c = (unsigned char)pat->text[i];
                uint32_t next = trie_child(a, set, n, c);
                if (!next) {
                    next = a->nnodes++;
                    a->nodes[next] = (trie_node){0, 0, -1, c};
                    if (n == 0) {
                        a->root[set][c] = next;
                    } else {
                        a->nodes[next].sibling = a->nodes[n].child;
                        a->nodes[n].child = next;
                    }
                }
                n = next;
            }
            if (a->nodes[n].pat < 0)
                a->nodes[n].pat = (int32_t)p;
        }
    for (size_t i = 0; i < a->ntoks; i++)
        if (a->toks[i].lstrip)
            a->any_lstrip = 1;
    return LA_OK;
}

typedef struct {
    size_t len;
    uint32_t index;
} len_index;

/* The longest pattern a bucket sorted by counting may hold. */
#define COUNT_SORT_LEN 4096

static int longer_first(const void *x, const void *y)
{
    const len_index *a = x, *b = y;
    if (a->len != b->len)
        return a->len > b->len ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

static int build_buckets(tk_added *a)
{
    for (size_t p = 0; p < a->npats; p++)
        if (a->pats[p].len)
            a->nbucket[(unsigned char)a->pats[p].text[0]]++;
    for (int b = 0; b < 256; b++) {
        if (!a->nbucket[b])
            continue;
        a->bucket[b] = malloc(a->nbucket[b] * sizeof(uint32_t));
        if (!a->bucket[b])
            return LA_ENOMEM;
        a->nbucket[b] = 0;
    }
    for (size_t p = 0; p < a->npats; p++)
        if (a->pats[p].len) {
            unsigned char b = (unsigned char)a->pats[p].text[0];
            a->bucket[b][a->nbucket[b]++] = (uint32_t)p;
        }
    /* each bucket by length descending, then pattern index (a bucket can
     * hold thousands: Gemma-3 has 6,415 added tokens, nearly all "<...").
     * A bucket holds its indices ascending, so a stable counting sort by
     * length gives that order, without qsort's call per comparison;
     * patterns longer than COUNT_SORT_LEN send their bucket to qsort. */
    size_t most = 0;
    for (int b = 0; b < 256; b++)
        most = a->nbucket[b] > most ? a->nbucket[b] : most;
    len_index *tmp = malloc((most ? most : 1) * sizeof *tmp);
    uint32_t *out = malloc((most ? most : 1) * sizeof *out);
    size_t *before = malloc((COUNT_SORT_LEN + 2) * sizeof *before);
    int rc = tmp && out && before ? LA_OK : LA_ENOMEM;
    for (int b = 0; b < 256 && rc == LA_OK; b++) {
        uint32_t *v = a->bucket[b];
        size_t n = a->nbucket[b], longest = 0;
        if (!n)
            continue;
        for (size_t i = 0; i < n; i++)
            longest = a->pats[v[i]].len > longest ? a->pats[v[i]].len : longest;
        if (longest <= COUNT_SORT_LEN) {
            /* before[k]: how many come before those k shorter than the longest */
            memset(before, 0, (longest + 2) * sizeof *before);
            for (size_t i = 0; i < n; i++)
                before[longest - a->pats[v[i]].len + 1]++;
            for (size_t k = 1; k <= longest + 1; k++)
                before[k] += before[k - 1];
            for (size_t i = 0; i < n; i++)
                out[before[longest - a->pats[v[i]].len]++] = v[i];
            memcpy(v, out, n * sizeof *v);
            continue;
        }
        for (size_t i = 0; i < n; i++)
            tmp[i] = (len_index){ a->pats[v[i]].len, v[i] };
        qsort(tmp, n, sizeof *tmp, longer_first);
        for (size_t i = 0; i < n; i++)
            v[i] = tmp[i].index;
    }
    free(tmp);
    free(out);
    free(before);
    return rc == LA_OK ? build_tries(a) : rc;
}

size_t tk_added_bucket(const tk_added *a, unsigned char b, const uint32_t **idx)
{
    *idx = a->bucket[b];
    return a->nbucket[b];
}

size_t tk_added_pattern_len(const tk_added *a, uint32_t p) { return a->pats[p].len; }

/* Normalizes content with the tokenizer's normalizer (for the
 * normalized set) into out. */
static int normalize_content(const tk_normalizer *norm, const char *s, size_t len, la_buf *out,
                             la_tok_work *w, la_err *err)
{
    la_buf_clear(out);
    if (!norm)
        return la_buf_append(out, s, len) ? la_err_set(err, LA_ENOMEM, "out_of_memory",
                                                       "tokenizer: added_tokens: out of memory")
                                          : LA_OK;
    return norm->apply(norm, s, len, out, w, 0, err);
}

/* Numbers the pending tokens jt[0..n) as HuggingFace's add_tokens does
 * and registers each in a (into cm, the content -> id map): an empty
 * content is passed over, and so is a token whose content's id holds
 * that very token (content and flags) already; every other one takes
 * the id new_id_for gives and replaces what that id held. */
static void number_tokens(tk_added *a, content_map *cm, const tk_bpe *model, const json_token *jt, size_t n)
{
    uint32_t next = a->vocab_count;
    for (size_t i = 0; i < n; i++) {
        const json_token *t = &jt[i];
        if (!t->len)
            continue;
        tk_added_token nt = { 0, t->content, t->len, t->single_word, t->lstrip, t->rstrip,
                              t->normalized, t->special };
        long k = map_find(cm, t->content, t->len), have = k >= 0 ? find_id(a, cm->id[k]) : -1;
        if (have >= 0 && same_token(&a->toks[have], &nt))
            continue;
        nt.id = new_id_for(cm, model, t, &next);
        register_token(a, cm, &nt);
    }
}

/* The patterns: one per id's token (added_tokens_map_r, as HuggingFace's
 * refresh_added_tokens takes them, so a content whose id a later token
 * took is matched no more), the content of a "normalized" one normalized
 * with norm. LA_OK or an error. */
static int add_patterns(tk_added *a, const tk_normalizer *norm, la_tok_work *w, la_err *err)
{
    la_buf norm_buf = {0}, texts = {0};
    int rc = LA_OK;
    for (size_t k = 0; rc == LA_OK && k < a->ntoks; k++) {
        const tk_added_token *t = &a->toks[k];
        if (!t->normalized) {
            rc = add_pattern(a, &texts, t->content, t->len, t->id, 0);
        } else if ((rc = normalize_content(norm, t->content, t->len, &norm_buf, w, err)) == LA_OK) {
            rc = add_pattern(a, &texts, norm_buf.data ? norm_buf.data : "", norm_buf.len, t->id, 1);
        } else if (strcmp(err->code, "tokenizer_budget") == 0) {   /* at load: no record to blame */
            rc = la_err_set(err, LA_EDATA, "bad_tokenizer",
                            "tokenizer: added_tokens: normalizing a token's content exceeded the work budget");
        }
        if (rc == LA_ENOMEM)
            la_err_set(err, rc, "out_of_memory", "tokenizer: added_tokens: out of memory");
    }
    la_buf_free(&norm_buf);
    /* one block for every text, taken by a (the texts lie in pattern order) */
    a->pat_text = texts.data;
    for (size_t i = 0, at = 0; i < a->npats; at += a->pats[i].len + 1, i++)
        a->pats[i].text = texts.data + at;
    return rc;
}

/* The registered tokens take copies of their contents (which point into
 * the pending tokens, about to go), in one block (tok_text; after a
 * failure they are cleared), then the index by content. LA_OK or
 * LA_ENOMEM. */
static int own_contents(tk_added *a)
{
    size_t total = 1;
    for (size_t i = 0; i < a->ntoks; i++)
        total += a->toks[i].len + 1;
    char *c = a->tok_text = malloc(total);
    for (size_t i = 0; i < a->ntoks; i++) {
        if (c) {
            memcpy(c, a->toks[i].content, a->toks[i].len + 1);
            a->toks[i].content = c;
            c += a->toks[i].len + 1;
        } else {
            a->toks[i].content = NULL;
        }
    }
    if (!a->tok_text || ix_init(&a->by_content, a->ntoks) != LA_OK)
        return LA_ENOMEM;
    for (size_t i = 0; i < a->ntoks; i++) {
        mem_key k = { a->toks[i].content, a->toks[i].len };
        uint32_t *slot = ix_probe(&a->by_content, hash_mem(k.s, k.len), tok_has_content, a->toks, &k);
        if (!*slot)
            *slot = (uint32_t)i + 1;   /* the first entry with a content answers for it */
    }
    return LA_OK;
}

int tk_added_prepare(tk_added *a, const tk_bpe *model, const tk_normalizer *norm, la_tok_work *w,
                     la_err *err)
{
    json_token *jt = a->pending;
    size_t n = a->npending, c = n ? n : 1;
    char *block = a->pending_text;
    a->pending = NULL;
    a->npending = 0;
    a->pending_text = NULL;
    a->toks = calloc(c, sizeof *a->toks);
    a->pats = calloc(c, sizeof *a->pats);
    a->ntoks = 0;
    a->vocab_count = model ? tk_bpe_vocab_count(model) : 0;
    content_map cm = { calloc(c, sizeof *cm.content), calloc(c, sizeof *cm.len), calloc(c, sizeof *cm.id), 0, {0} };
    int rc = LA_OK;
    if (!cm.content || !cm.len || !cm.id || n > UINT32_MAX / 4 || ix_init(&cm.ix, n) || !a->toks || !a->pats ||
        ix_init(&a->by_id, n))
        rc = la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: added_tokens: out of memory");
    if (rc == LA_OK) {
        number_tokens(a, &cm, model, jt, n);
        rc = add_patterns(a, norm, w, err);
    }
    if (rc == LA_OK && (own_contents(a) != LA_OK || build_buckets(a) != LA_OK))
        rc = la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: added_tokens: out of memory");
    else if (rc != LA_OK)
        for (size_t k = 0; k < a->ntoks; k++)
            a->toks[k].content = NULL;   /* not copied: they point into jt */
    free(cm.content);
    free(cm.len);
    free(cm.id);
    ix_free(&cm.ix);
    free_json_tokens(jt, n, block);
    return rc;
}

void tk_added_free(tk_added *a)
{
    if (!a)
        return;
    free_json_tokens(a->pending, a->npending, a->pending_text);
    free(a->tok_text);
    free(a->toks);
    free(a->pat_text);
    free(a->pats);
    for (int b = 0; b < 256; b++)
        free(a->bucket[b]);
    free(a->nodes);
    ix_free(&a->by_id);
    ix_free(&a->by_content);
    free(a);
}

/* ---- matching ------------------------------------------------------------ */

/* Rust regex \w: alphabetic, marks, decimal digits, connector punctuation,
 * join controls. */
static int is_word_char(int32_t c)
{
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (c == 0x200C || c == 0x200D || (c >= 0x24B6 && c <= 0x24E9) ||
        (c >= 0x1F130 && c <= 0x1F149) || (c >= 0x1F150 && c <= 0x1F169) ||
        (c >= 0x1F170 && c <= 0x1F189))
        return 1;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_PC:
        return 1;
    default:
        return 0;
    }
}

/* Unicode White_Space (Rust regex \s). */
static int is_space_char(int32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* The code point ending at s[end) (decoding backwards), -1 if none. */
static int32_t cp_before(const char *s, size_t end, size_t *start)
{
    if (end == 0)
        return -1;
    size_t i = end - 1;
    while (i > 0 && end - i < 4 && ((unsigned char)s[i] & 0xC0) == 0x80)
        i--;
    int32_t c;
    if (tk_utf8_decode((const unsigned char *)s + i, end - i, &c) != end - i) {
        i = end - 1;
        c = (unsigned char)s[i];
    }
    if (start)
        *start = i;
    return c;
}

/* The code point starting at s[i], -1 at the end; *k its length. */
static int32_t cp_at(const char *s, size_t len, size_t i, size_t *k)
{
    int32_t c;
    if (i >= len)
        return -1;
    *k = tk_utf8_decode((const unsigned char *)s + i, len - i, &c);
    if (!*k) {
        *k = 1;
        c = (unsigned char)s[i];
    }
    return c;
}

/* Longest pattern of the wanted set matching at s[i]: its index or -1
 * (the first of equal ones in bucket order). Adds the trie steps taken
 * to *steps. */
static long match_at(const tk_added *a, int want_normalized, const char *s, size_t len, size_t i,
                     size_t *steps)
{
    int set = want_normalized ? 1 : 0;
    uint32_t n = a->root[set][(unsigned char)s[i]];
    long best = -1;
    size_t j0 = i + 1;
    for (size_t j = j0;; j++) {
        if (!n) {
            *steps += j - j0;
            break;
        }
        if (a->nodes[n].pat >= 0)
            best = a->nodes[n].pat;
        if (j == len) {
            *steps += j - j0 + 1;
            break;
        }
        n = trie_child(a, set, n, (unsigned char)s[j]);
    }
    return best;
}

/* The trie steps a scan may take (the work budget, tk.h): the trie is
 * walked from every position that starts a pattern, as deep as the text
 * follows one, so text that follows a long pattern but for its end
 * (patterns "aa...ab", text "aa...a") would cost the pattern's length
 * at every byte. Real added tokens are short, and walks mostly end in a
 * match that the scan then jumps over. */
#define ADDED_STEPS_PER_BYTE 64
#define ADDED_STEPS_BASE 65536

int tk_added_next(const tk_added *a, int want_normalized, const char *s, size_t len, size_t from,
                  size_t floor, size_t *mstart, size_t *mend, size_t *raw_end, const tk_added_token **tok)
{
    return tk_added_next_before(a, want_normalized, s, len, from, floor, len, mstart, mend, raw_end, tok);
}

int tk_added_next_before(const tk_added *a, int want_normalized, const char *s, size_t len,
                         size_t from, size_t floor, size_t limit, size_t *mstart, size_t *mend,
                         size_t *raw_end, const tk_added_token **tok)
{
    int set = want_normalized ? 1 : 0;
    if (!a || !a->npats_set[set])
        return 0;
    if (limit > len)
        limit = len;
    const uint32_t *root = a->root[set];
    int fb = a->first_byte[set];
    const uint8_t *second = fb >= 0 && a->has_second[set] ? a->second[set] : NULL;
    size_t i = from, steps = 0;
    while (i < limit) {
        if (fb >= 0) {
            const char *q = memchr(s + i, fb, limit - i);
            if (!q)
                break;
            i = (size_t)(q - s);
            /* the second byte must be one of the patterns' ("<|" of
             * Llama-3's and GPT-4o's, "<|" and "<\xEF" of DeepSeek-V3's):
             * text such as "<<48/2=24>>" is passed over without walking
             * the trie */
            if (second && (i + 1 >= len || !second[(unsigned char)s[i + 1]])) {
                i++;
                continue;
            }
        } else if (!root[(unsigned char)s[i]]) {
            i++;
            continue;
        }
        long p = match_at(a, want_normalized, s, len, i, &steps);
        if (steps / ADDED_STEPS_PER_BYTE > i - from + ADDED_STEPS_BASE / ADDED_STEPS_PER_BYTE)
            return -1;
        if (p < 0) {
            i++;
            continue;
        }
        size_t start = i, stop = i + a->pats[p].len;
        const tk_added_token *t = a->pats[p].tok >= 0 ? &a->toks[a->pats[p].tok] : NULL;
        if (t && t->single_word) {
            size_t k;
            int32_t before = cp_before(s, start, NULL), after = cp_at(s, len, stop, &k);
            if ((before >= 0 && is_word_char(before)) || (after >= 0 && is_word_char(after))) {
                i = stop;          /* the scan resumes after a discarded match */
                continue;
            }
        }
        if (t && t->lstrip) {
            /* never back over the previous match's span (floor), though a
             * match after a widened one may start inside it */
            size_t j = start, cs;
            int32_t c;
            while ((c = cp_before(s, j, &cs)) >= 0 && is_space_char(c))
                j = cs;
            start = j > floor ? j : floor;
        }
        if (t && t->rstrip) {
            size_t k;
            int32_t c;
            while ((c = cp_at(s, len, stop, &k)) >= 0 && is_space_char(c))
                stop += k;
        }
        *mstart = start;
        *mend = stop;
        *raw_end = i + a->pats[p].len;
        *tok = t;
        return 1;
    }
    return 0;
}

size_t tk_added_count(const tk_added *a, int normalized)
{
    return a ? a->npats_set[normalized ? 1 : 0] : 0;
}

int tk_added_any_lstrip(const tk_added *a)
{
    return a ? a->any_lstrip : 0;
}

size_t tk_added_reach(const tk_added *a)
{
    size_t most = 0;
    for (size_t p = 0; a && p < a->npats; p++) {
        const tk_added_token *t = a->pats[p].tok >= 0 ? &a->toks[a->pats[p].tok] : NULL;
        if (t && t->rstrip)
            return SIZE_MAX;
        /* a character after the match (single_word) is at most 4 bytes */
        if (a->pats[p].len + 4 > most)
            most = a->pats[p].len + 4;
    }
    return most;
}

const tk_added_token *tk_added_by_id(const tk_added *a, uint32_t id)
{
    if (!a || !a->pats)
        return NULL;
    long r = find_id(a, id);
    return r < 0 ? NULL : &a->toks[r];
}

const tk_added_token *tk_added_by_content(const tk_added *a, const char *s, size_t len)
{
    if (!a || !a->pats)
        return NULL;
    long r = find_content(a, s, len);
    return r < 0 ? NULL : &a->toks[r];
}
