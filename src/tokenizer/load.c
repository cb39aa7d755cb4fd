/*
 * load.c - tokenizer.json -> pipeline. Reads the file (or FOLDER/
 * tokenizer.json), validates it strictly, and hands each component's
 * object to its constructor. The small components go through cJSON; the
 * model's vocabulary and merges (nearly all of a 9 MB file) are read
 * from the validated bytes by bpe.c, which is what keeps loading fast.
 * Only the BPE model is supported; the post_processor is ignored because
 * no special tokens are added.
 */
#include "tokenizer/tk.h"
#include "json.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __SSE2__
#include <immintrin.h>
#endif

/* Largest tokenizer.json accepted (the biggest real ones are ~20 MB). */
#define TK_MAX_FILE ((size_t)1 << 30)

/* Reads the whole file at path into a new buffer (*data, *len). */
static int read_file(const char *path, char **data, size_t *len, la_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return la_err_set(err, LA_EIO, "cannot_open", "tokenizer: cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return la_err_set(err, LA_EIO, "cannot_open", "tokenizer: cannot open: not a regular file");
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = cap >= TK_MAX_FILE ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                close(fd);
                return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: file too large");
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return la_err_set(err, LA_EIO, "cannot_open", "tokenizer: read failed: %s", strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    *data = buf;
    *len = n;
    return LA_OK;
}

/* a followed by b, a new string (NULL when out of memory). */
static char *joined(const char *a, const char *b)
{
    size_t n = strlen(a), k = strlen(b);
    char *p = malloc(n + k + 1);
    if (p) {
        memcpy(p, a, n);
        memcpy(p + n, b, k + 1);
    }
    return p;
}

/* A model id "ORG/NAME" (letters, digits, '-', '_', '.'; one slash;
 * neither part "." or ".."; not a file name ending in ".json"). */
static int model_id(const char *p)
{
    const char *slash = strchr(p, '/');
    size_t n = strlen(p);
    if (!slash || slash == p || !slash[1] || strchr(slash + 1, '/') || (n >= 5 && strcmp(p + n - 5, ".json") == 0))
        return 0;
    for (const char *c = p; *c; c++)
        if (c != slash && !((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                            *c == '-' || *c == '_' || *c == '.'))
            return 0;
    return strncmp(p, "./", 2) && strncmp(p, "../", 3) && strcmp(slash, "/.") && strcmp(slash, "/..");
}

/* The HuggingFace hub cache's tokenizer.json of model id ORG/NAME at the
 * revision refs/main names (what transformers' from_pretrained uses
 * offline): $HF_HUB_CACHE (or its older name $HUGGINGFACE_HUB_CACHE),
 * else $HF_HOME/hub, else
 * $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub; then
 * models--ORG--NAME/snapshots/REV/tokenizer.json. NULL when not there. */
static int hub_dir(char *hub, size_t cap)
{
    const char *e;
    if (((e = getenv("HF_HUB_CACHE")) && e[0]) || ((e = getenv("HUGGINGFACE_HUB_CACHE")) && e[0]))
        snprintf(hub, cap, "%s", e);
    else if ((e = getenv("HF_HOME")) && e[0])
        snprintf(hub, cap, "%s/hub", e);
    else if ((e = getenv("XDG_CACHE_HOME")) && e[0] == '/')
        snprintf(hub, cap, "%s/huggingface/hub", e);
    else if ((e = getenv("HOME")) && e[0] == '/')
        snprintf(hub, cap, "%s/.cache/huggingface/hub", e);
    else
        return 0;
    return 1;
}

static char *hub_file(const char *id)
{
    char hub[4096], ref[128], dir[6144], path[8192];
    if (!hub_dir(hub, sizeof hub))
        return NULL;
    const char *slash = strchr(id, '/');
    int n = snprintf(dir, sizeof dir, "%s/models--%.*s--%s", hub, (int)(slash - id), id, slash + 1);
    if (n < 0 || (size_t)n >= sizeof dir)
        return NULL;
    snprintf(path, sizeof path, "%s/refs/main", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t k = fread(ref, 1, sizeof ref - 1, f);
    fclose(f);
    while (k > 0 && (ref[k - 1] == '\n' || ref[k - 1] == '\r' || ref[k - 1] == ' '))
        k--;
    ref[k] = 0;
    for (size_t i = 0; i < k; i++)      /* a commit hash */
        if (!((ref[i] >= '0' && ref[i] <= '9') || (ref[i] >= 'a' && ref[i] <= 'f')))
            return NULL;
    if (k == 0)
        return NULL;
    snprintf(path, sizeof path, "%s/snapshots/%s/tokenizer.json", dir, ref);
    struct stat st;
    if (stat(path, &st) != 0)
        return NULL;
    return strdup(path);
}

/* PATH itself, or PATH/tokenizer.json when PATH is a folder, or, when
 * PATH is not there and reads as a model id, the hub cache's file (see
 * hub_file); new string. */
static char *resolve_path(const char *path)
{
    struct stat st;
    const char *suffix = "";
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            suffix = path[0] && path[strlen(path) - 1] == '/' ? "tokenizer.json" : "/tokenizer.json";
    } else if (errno == ENOENT && model_id(path)) {
        char *hub = hub_file(path);
        if (hub)
            return hub;
    }
    return joined(path, suffix);
}

/* 1 if j (a component's JSON) holds "ByteLevel" as a key or a string,
 * anywhere: what the oracle looks for to map tokens back to bytes. */
static int mentions_byte_level(const cJSON *j, int depth)
{
    if (!j || depth > 64)
        return 0;
    if (j->string && strcmp(j->string, "ByteLevel") == 0)
        return 1;
    if (cJSON_IsString(j) && strcmp(j->valuestring, "ByteLevel") == 0)
        return 1;
    for (const cJSON *c = j->child; c; c = c->next)
        if (mentions_byte_level(c, depth + 1))
            return 1;
    return 0;
}

/* Parses the value p[v] into a cJSON item added to obj under key p[k]
 * (a repeated key replaces the earlier value, as serde reads them). */
static int add_parsed(cJSON *obj, const char *p, la_span k, la_span v, la_buf *tmp, la_err *err)
{
    la_buf_clear(tmp);
    if (la_json_unescape(p, k, tmp, NULL) != LA_OK)
        return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: bad member name");
    cJSON *item = cJSON_ParseWithLength(p + v.start, v.end - v.start);
    if (!item)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    const char *key = tmp->data ? tmp->data : "";
    if (cJSON_GetObjectItemCaseSensitive(obj, key)) {
        if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item)) {
            cJSON_Delete(item);
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
        }
    } else if (!cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    }
    return LA_OK;
}

/* Builds the model from its span p[mv]: BPE (its small options through
 * cJSON, vocab and merges raw), or an "unsupported" error naming the type. */
static tk_bpe *build_model(const char *p, la_span mv, int chunking, la_err *err)
{
    if (mv.end == 0 || p[mv.start] != '{') {
        la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: missing or not an object");
        return NULL;
    }
    cJSON *opts = cJSON_CreateObject();
    la_buf tmp = {0};
    la_span k, v, vocab = {0, 0}, merges = {0, 0};
    size_t it = mv.start + 1;
    int rc = opts ? LA_OK : la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    tk_bpe *m = NULL;
    while (rc == LA_OK) {
        it = la_json_ws(p, mv.end, it);
        if (p[it] == ',')
            it = la_json_ws(p, mv.end, it + 1);
        if (p[it] != '"')
            break;
        k.start = it;
        k.end = la_json_skip(p, mv.end, it);
        v.start = la_json_ws(p, mv.end, la_json_ws(p, mv.end, k.end) + 1);
        v.end = la_json_skip(p, mv.end, v.start);
        it = v.end;
        la_buf_clear(&tmp);
        if (la_json_unescape(p, k, &tmp, NULL) == LA_OK && tmp.len == 5 && !memcmp(tmp.data, "vocab", 5))
            vocab = v;
        else if (tmp.len == 6 && !memcmp(tmp.data, "merges", 6))
            merges = v;
        else
            rc = add_parsed(opts, p, k, v, &tmp, err);
    }
    if (rc == LA_OK) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(opts, "type");
        if (type && !cJSON_IsString(type))
            la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: \"type\" is not a string");
        else if (type && strcmp(type->valuestring, "BPE") != 0)
            la_err_set(err, LA_EUNSUP, "unsupported", "tokenizer: model: unsupported type \"%.60s\"",
                       type->valuestring);
        else if (!type && !merges.end)
            la_err_set(err, LA_EUNSUP, "unsupported", "tokenizer: model: unsupported model (no type, no merges)");
        else
            m = tk_bpe_from_raw(opts, vocab.end ? p + vocab.start : NULL, vocab.end - vocab.start,
                                merges.end ? p + merges.start : NULL, merges.end - merges.start, chunking, err);
    }
    la_buf_free(&tmp);
    cJSON_Delete(opts);
    return m;
}

/* The member key of root if present and not null, else NULL. */
static const cJSON *component(const cJSON *root, const char *key)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, key);
    return c && !cJSON_IsNull(c) ? c : NULL;
}

/* Builds every stage from the parsed root object (all but the model)
 * and the model's span in p into t. */
static int build_pipeline(la_tokenizer *t, const cJSON *root, const char *p, la_span model,
                          tk_bpe *prebuilt, la_err *err)
{
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (version && (!cJSON_IsString(version) || strcmp(version->valuestring, "1.0") != 0))
        return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: unknown tokenizer version");
    const cJSON *c;
    if ((c = component(root, "normalizer")) && !(t->normalizer = tk_normalizer_from_json(c, err)))
        return LA_EDATA;
    if ((c = component(root, "pre_tokenizer")) && !(t->pretok = tk_pretok_from_json(c, err)))
        return LA_EDATA;
    if ((c = component(root, "decoder")) && !(t->decoder = tk_decoder_from_json(c, err)))
        return LA_EDATA;
    /* without a pre-tokenizer the whole text is one piece, cut where no
     * token can span */
    if (prebuilt)
        t->model = prebuilt;
    else if (!(t->model = build_model(p, model, !t->pretok, err)))
        return LA_EDATA;
    if (!(t->added = tk_added_from_json(cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), err)))
        return LA_EDATA;
    la_tok_work *w = la_tok_work_new();
    if (!w)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    int rc = tk_added_prepare(t->added, t->model, t->normalizer, w, err);
    t->added_reach = tk_added_reach(t->added);
    t->serial = tk_bpe_serial(t->model);
    la_tok_work_free(w);
    if (rc != LA_OK)
        return rc;
    t->split_bytes = tk_pretok_split_bytes(t->pretok, &t->sb);
    tk_direct_prepare(t);
    t->byte_level = mentions_byte_level(component(root, "pre_tokenizer"), 0) ||
                    mentions_byte_level(component(root, "decoder"), 0);
    return LA_OK;
}

/* The members of the top-level object data[0..len) into root, all but
 * "model" (its value's span in *model, the last one if several); the
 * other members' text in *rest as an object of its own when rest is not
 * NULL. */
static int parse_top(const char *data, size_t len, cJSON **root, la_span *model, la_buf *rest,
                     la_err *err)
{
    la_span value;
    la_members top = {0};
    la_err jerr = {{0}, {0}};
    int rc = LA_OK;
    *root = NULL;
    if (la_json_validate_top(data, len, &value, &top, &jerr) != LA_OK)
        rc = la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: not valid JSON: %.200s", jerr.msg);
    else if (data[value.start] != '{')
        rc = la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: not a JSON object");
    else if (!(*root = cJSON_CreateObject()))
        rc = la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    la_buf key = {0};
    if (rest && rc == LA_OK && la_buf_putc(rest, '{'))
        rc = la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    for (size_t i = 0; rc == LA_OK && i < top.n; i++) {
        la_buf_clear(&key);
        la_span k = top.m[i].key, v = top.m[i].val;
        if (la_json_unescape(data, k, &key, NULL) == LA_OK && key.len == 5 && memcmp(key.data, "model", 5) == 0) {
            *model = v;
            continue;
        }
        rc = add_parsed(*root, data, k, v, &key, err);
        if (rc == LA_OK && rest &&
            ((rest->len > 1 && la_buf_putc(rest, ',')) || la_buf_append(rest, data + k.start, k.end - k.start) ||
             la_buf_putc(rest, ':') || la_buf_append(rest, data + v.start, v.end - v.start)))
            rc = la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    }
    if (rest && rc == LA_OK && la_buf_putc(rest, '}'))
        rc = la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    la_buf_free(&key);
    free(top.m);
    return rc;
}

/* ---- the tokenizer cache ------------------------------------------------------ */

/* Loading Llama-2's tokenizer.json takes 20 ms, Llama-3's 90 ms: parsing
 * and hashing a vocabulary and its merges. A run that starts many
 * processes (GNU parallel --pipe, a job array) pays that in each. So a
 * loaded model is kept as bytes (tk_bpe_image) in a cache folder, with
 * the text of the file's other members, under the file's identity
 * (device, inode, size, modification and change times, to the
 * nanosecond: what a changed or replaced file changes); a later load of
 * the same file maps that entry instead of parsing. An entry also holds
 * this build's stamp and a check of its own bytes: one that does not
 * match in every field is ignored (and replaced), never trusted. Entries
 * are written whole under a temporary name and renamed, so that readers
 * never see half of one. */

static int cache_enabled;

void la_tokenizer_use_cache(int on) { cache_enabled = on; }

#define CACHE_MAGIC "LATKCACH"
#define CACHE_VERSION 4u          /* bump when loading a file gives other tables */

/* What identifies the source file. */
typedef struct {
    uint64_t dev, ino, size;
    int64_t mtime_s, mtime_ns, ctime_s, ctime_ns;
} cache_key;

typedef struct {
    char magic[8];
    uint32_t version, head_size;
    char build[32];               /* this build: entries of other builds do not match */
    cache_key key;
    uint64_t rest_len, image_off, image_len, words_off, words_len, check;
} cache_head;

/* This build's stamp: the format, and the size and time of the running
 * program (a rebuilt program may load files differently); 0 when it
 * cannot be had (then no cache). */
static int cache_build(char out[32])
{
    struct stat st;
    memset(out, 0, 32);
    if (stat("/proc/self/exe", &st) != 0)
        return 0;
    snprintf(out, 32, "%u %zu %lld.%ld %lld", CACHE_VERSION, sizeof(cache_head), (long long)st.st_mtim.tv_sec,
             (long)st.st_mtim.tv_nsec, (long long)st.st_size);
    return 1;
}

/* A check of n bytes (n a multiple of 8), made to catch a damaged entry,
 * not an adversary (the folder is the user's own). Eight 64-bit lanes,
 * one for each word of a 64-byte block: a lane adds the product of the
 * halves of its word (with the lane's key mixed in) and its neighbour's
 * word as it is, the shape of the accumulating hashes (XXH3's among
 * them) whose blocks SIMD multiplies take whole; a last mix of the lanes
 * and n makes the value. With AVX2 a block takes two multiplies, so that
 * checking Llama-2's 4.6 MB entry takes 0.3 ms instead of the 0.55 ms of
 * a four-lane scalar mix (one thread, read from memory); SSE2 and plain
 * C give the same value. */
static const uint64_t check_keys[8] = {
    0x243F6A8885A308D3ULL, 0x13198A2E03707344ULL, 0xA4093822299F31D0ULL, 0x082EFA98EC4E6C89ULL,
    0x452821E638D01377ULL, 0xBE5466CF34E90C6CULL, 0xC0AC29B7C97C50DDULL, 0x3F84D5B5B5470917ULL,
};

static inline void check_word(uint64_t acc[8], int j, uint64_t x)
{
    uint64_t y = x ^ check_keys[j];
    acc[j] += (y & 0xFFFFFFFFu) * (y >> 32);
    acc[j ^ 1] += x;
}

static size_t check_blocks_plain(const char *p, size_t n, uint64_t acc[8])
{
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int j = 0; j < 8; j++)
            check_word(acc, j, tk_load64(p + i + 8 * (size_t)j));
    return i;
}

#ifdef __SSE2__
static size_t check_blocks_sse2(const char *p, size_t n, uint64_t acc[8])
{
    __m128i a[4], k[4];
    for (int j = 0; j < 4; j++) {
        a[j] = _mm_loadu_si128((const __m128i *)(const void *)(acc + 2 * j));
        k[j] = _mm_loadu_si128((const __m128i *)(const void *)(check_keys + 2 * j));
    }
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int j = 0; j < 4; j++) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 16 * (size_t)j));
            __m128i y = _mm_xor_si128(x, k[j]);
            a[j] = _mm_add_epi64(a[j], _mm_mul_epu32(y, _mm_srli_epi64(y, 32)));
            a[j] = _mm_add_epi64(a[j], _mm_shuffle_epi32(x, 0x4E));
        }
    for (int j = 0; j < 4; j++)
        _mm_storeu_si128((__m128i *)(void *)(acc + 2 * j), a[j]);
    return i;
}

__attribute__((target("avx2"))) static size_t check_blocks_avx2(const char *p, size_t n, uint64_t acc[8])
{
    __m256i a0 = _mm256_loadu_si256((const __m256i *)(const void *)acc),
            a1 = _mm256_loadu_si256((const __m256i *)(const void *)(acc + 4)),
            k0 = _mm256_loadu_si256((const __m256i *)(const void *)check_keys),
            k1 = _mm256_loadu_si256((const __m256i *)(const void *)(check_keys + 4));
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)(p + i)),
                x1 = _mm256_loadu_si256((const __m256i *)(const void *)(p + i + 32));
        __m256i y0 = _mm256_xor_si256(x0, k0), y1 = _mm256_xor_si256(x1, k1);
        a0 = _mm256_add_epi64(a0, _mm256_mul_epu32(y0, _mm256_srli_epi64(y0, 32)));
        a1 = _mm256_add_epi64(a1, _mm256_mul_epu32(y1, _mm256_srli_epi64(y1, 32)));
        a0 = _mm256_add_epi64(a0, _mm256_shuffle_epi32(x0, 0x4E));
        a1 = _mm256_add_epi64(a1, _mm256_shuffle_epi32(x1, 0x4E));
    }
    _mm256_storeu_si256((__m256i *)(void *)acc, a0);
    _mm256_storeu_si256((__m256i *)(void *)(acc + 4), a1);
    return i;
}
#endif

/* The lanes of the whole blocks of p[0..n) added to acc: the number of
 * bytes they take. */
static size_t check_blocks(const char *p, size_t n, uint64_t acc[8], int simd)
{
#ifdef __SSE2__
    if (simd < 0)
        simd = __builtin_cpu_supports("avx2") ? 2 : 1;
    return simd >= 2 && __builtin_cpu_supports("avx2") ? check_blocks_avx2(p, n, acc)
           : simd >= 1                                 ? check_blocks_sse2(p, n, acc)
                                                       : check_blocks_plain(p, n, acc);
#else
    (void)simd;
    return check_blocks_plain(p, n, acc);
#endif
}

/* One thread: the entry is checked once read into memory, where its
 * 3.6 MB (Llama-2) take 0.1 ms; a second thread for half of them, as
 * when the check read a mapping of the file, cost more to start than it
 * saved (one-record runs, 81 interleaved rounds: 8.52 ms against 8.76;
 * Llama-3's 14 MB entry, 41 rounds: 18.81 against 19.26). */
uint64_t tk_cache_check(const char *p, size_t n, int simd)
{
    uint64_t acc[8] = { 0 };
    size_t i = check_blocks(p, n, acc, simd);
    for (int j = 0; i + 8 <= n; i += 8, j++)
        check_word(acc, j, tk_load64(p + i));
    uint64_t h = (uint64_t)n * 0x9E3779B97F4A7C15ULL;
    for (int j = 0; j < 8; j++) {
        h = (h ^ acc[j]) * 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
    }
    h = (h ^ (h >> 32)) * 0xc4ceb93fe53e2ac9ULL;
    return h ^ (h >> 29);
}

static uint64_t bytes_check(const char *p, size_t n) { return tk_cache_check(p, n, -1); }

static void key_of(const struct stat *st, cache_key *k)
{
    memset(k, 0, sizeof *k);
    k->dev = (uint64_t)st->st_dev;
    k->ino = (uint64_t)st->st_ino;
    k->size = (uint64_t)st->st_size;
    k->mtime_s = (int64_t)st->st_mtim.tv_sec;
    k->mtime_ns = (int64_t)st->st_mtim.tv_nsec;
    k->ctime_s = (int64_t)st->st_ctim.tv_sec;
    k->ctime_ns = (int64_t)st->st_ctim.tv_nsec;
}

/* The cache folder: $LOOKAHEAD_CACHE_DIR (empty: no cache), else
 * $XDG_CACHE_HOME/lookahead, else $HOME/.cache/lookahead; NULL when
 * none (or out of memory). */
static char *cache_dir(void)
{
    const char *d = getenv("LOOKAHEAD_CACHE_DIR"), *base, *tail;
    if (d)
        return d[0] ? strdup(d) : NULL;
    if ((base = getenv("XDG_CACHE_HOME")) && base[0] == '/')
        tail = "/lookahead";
    else if ((base = getenv("HOME")) && base[0] == '/')
        tail = "/.cache/lookahead";
    else
        return NULL;
    return joined(base, tail);
}

/* The entry's path for a key (NULL without a cache folder); the folder
 * in *dir_out when asked for. */
static char *cache_path(const cache_key *k, char **dir_out)
{
    char *dir = cache_dir();
    if (!dir)
        return NULL;
    uint64_t h = bytes_check((const char *)k, sizeof *k);
    size_t n = strlen(dir) + 40;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%016llx-%llx.tok", dir, (unsigned long long)h, (unsigned long long)k->ino);
    if (dir_out)
        *dir_out = dir;
    else
        free(dir);
    return p;
}

/* The n bytes of an entry's file, read into private memory of its own,
 * on huge pages where the system gives them: MAP_FAILED when it cannot
 * be had or read. *len: the mapping's length. Not a mapping of the
 * file: on a virtual machine the first touch of each 4 KiB page of one
 * cost about 2 us, 1.7 ms for Llama-2's 3.6 MB entry (which its check
 * reads whole), against 0.5-0.7 ms for reading it into two huge pages,
 * whose check then costs 0.1 ms; and the word table in it is written in
 * place (tk_direct_table_use), without the copy onto a huge page of its
 * own that a read-only mapping needed (0.35-0.45 ms of a thread). The
 * rest is only read. */
static void *entry_read(int fd, size_t n, size_t *len)
{
    size_t want = n;
    char *a = tk_map_huge(&want);
    if (!a)
        return MAP_FAILED;
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, a + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < n) {
        munmap(a, want);
        return MAP_FAILED;
    }
    *len = want;
    return a;
}

/* Reads the entry for the source with key k (entry_read): LA_OK with
 * *map (of *map_len bytes) and *rest, *image and *words inside it when
 * it is there and whole. */
static int cache_map(const cache_key *k, void **map, size_t *map_len, const char **rest, size_t *rest_len,
                     const char **image, size_t *image_len, char **words, size_t *words_len)
{
    char *path = cache_path(k, NULL);
    if (!path)
        return LA_EIO;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    free(path);
    if (fd < 0)
        return LA_EIO;
    struct stat st;
    cache_head h;
    char build[32];
    void *p = MAP_FAILED;
    size_t n = 0, len = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
        (uint64_t)st.st_size >= sizeof h && (uint64_t)st.st_size < ((uint64_t)1 << 36) && cache_build(build)) {
        n = (size_t)st.st_size;
        p = entry_read(fd, n, &len);
    }
    if (p == MAP_FAILED) {
        close(fd);
        return LA_EIO;
    }
    memcpy(&h, p, sizeof h);
    const char *b = p;
    int whole =
        memcmp(h.magic, CACHE_MAGIC, 8) == 0 && h.version == CACHE_VERSION && h.head_size == sizeof h &&
        memcmp(h.build, build, 32) == 0 && memcmp(&h.key, k, sizeof *k) == 0 &&
        h.rest_len <= n - sizeof h && h.image_off == ((sizeof h + h.rest_len + 7) & ~(uint64_t)7) &&
        h.image_off <= n && h.image_len <= n - h.image_off && h.words_off <= n && h.words_off % 64 == 0 &&
        h.words_off >= h.image_off + h.image_len && h.words_off - (h.image_off + h.image_len) < 64 &&
        h.words_len == n - h.words_off && n % 8 == 0;
    if (whole && bytes_check(b + sizeof h, n - sizeof h) == h.check) {
        *map = p;
        *map_len = len;
        *rest = b + sizeof h;
        *rest_len = (size_t)h.rest_len;
        *image = b + h.image_off;
        *image_len = (size_t)h.image_len;
        *words = (char *)p + h.words_off;
        *words_len = (size_t)h.words_len;
        /* used: its time says so, at most once an hour (cache_prune
         * removes the least recently used entries first) */
        if (st.st_mtim.tv_sec + 3600 <= time(NULL))
            futimens(fd, NULL);
        close(fd);
        return LA_OK;
    }
    close(fd);
    munmap(p, len);
    return LA_EIO;
}

/* The folder's budget: $LOOKAHEAD_CACHE_MAX_MB, else 512 MB (Llama-3's
 * entry is 14 MB). */
static uint64_t cache_budget(void)
{
    const char *s = getenv("LOOKAHEAD_CACHE_MAX_MB");
    char *end;
    if (s && s[0] >= '0' && s[0] <= '9') {
        unsigned long long mb = strtoull(s, &end, 10);
        if (*end == 0 && mb < ((uint64_t)1 << 40))
            return (uint64_t)mb << 20;
    }
    return (uint64_t)512 << 20;
}

/* An entry's file name: 16 hex digits, '-', hex digits, ".tok"; a
 * temporary one has ".PID.tmp" after that. Sets *tmp for the latter. */
static int entry_name(const char *n, int *tmp)
{
    size_t i = 0;
    while (i < 16 && ((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f')))
        i++;
    if (i != 16 || n[i++] != '-')
        return 0;
    size_t j = i;
    while ((n[j] >= '0' && n[j] <= '9') || (n[j] >= 'a' && n[j] <= 'f'))
        j++;
    if (j == i || strncmp(n + j, ".tok", 4) != 0)
        return 0;
    *tmp = n[j + 4] != 0;
    if (!*tmp)
        return 1;
    const char *t = n + j + 4;
    if (*t++ != '.' || !(*t >= '0' && *t <= '9'))
        return 0;
    while (*t >= '0' && *t <= '9')
        t++;
    return strcmp(t, ".tmp") == 0;
}

typedef struct {
    char *name;
    uint64_t size;
    struct timespec mtime;
} cache_file;

static int older_first(const void *a, const void *b)
{
    const cache_file *x = a, *y = b;
    if (x->mtime.tv_sec != y->mtime.tv_sec)
        return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
    if (x->mtime.tv_nsec != y->mtime.tv_nsec)
        return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* After entry keep (for source key k) was written: removes the entries
 * of earlier versions of the same file (same device and inode, another
 * key: the file changed in place, so they can never match again),
 * temporary files left by writers that died an hour or more ago, and
 * then the least recently used entries (an entry's time is refreshed
 * when it is used, see cache_map) until the folder's entries fit the
 * budget. Files that are not entries, or are another user's (a shared
 * folder), are never touched; a file another run removed first is
 * simply gone. */
static void cache_prune(const char *dir, const char *keep, const cache_key *k)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return;
    }
    cache_file *f = NULL;
    size_t n = 0, cap = 0;
    uint64_t total = 0;
    time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d))) {
        int tmp;
        struct stat st;
        if (!entry_name(e->d_name, &tmp) || strcmp(e->d_name, keep) == 0 ||
            fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
            st.st_uid != geteuid())
            continue;
        if (tmp) {
            if (st.st_mtim.tv_sec + 3600 <= now)
                unlinkat(dfd, e->d_name, 0);
            continue;
        }
        cache_head h;
        int efd = openat(dfd, e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        int stale = efd >= 0 && pread(efd, &h, sizeof h, 0) == (ssize_t)sizeof h &&
                    memcmp(h.magic, CACHE_MAGIC, 8) == 0 && h.key.dev == k->dev && h.key.ino == k->ino &&
                    memcmp(&h.key, k, sizeof *k) != 0;
        if (efd >= 0)
            close(efd);
        if (stale) {
            unlinkat(dfd, e->d_name, 0);
            continue;
        }
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 32;
            cache_file *g = realloc(f, nc * sizeof *f);
            if (!g)
                break;
            f = g;
            cap = nc;
        }
        if (!(f[n].name = strdup(e->d_name)))
            break;
        f[n].size = (uint64_t)st.st_size;
        f[n].mtime = st.st_mtim;
        total += f[n].size;
        n++;
    }
    struct stat ks;
    if (fstatat(dfd, keep, &ks, 0) == 0)
        total += (uint64_t)ks.st_size;
    uint64_t budget = cache_budget();
    if (n)
        qsort(f, n, sizeof *f, older_first);
    for (size_t i = 0; i < n && total > budget; i++)
        if (unlinkat(dfd, f[i].name, 0) == 0 || errno == ENOENT)
            total -= f[i].size;
    for (size_t i = 0; i < n; i++)
        free(f[i].name);
    free(f);
    closedir(d);
}

/* Writes the entry (quietly: a cache that cannot be written is only not
 * there next time). The vocabulary's words are put in t's word table
 * first (tk_direct_prefill), once the entry's file could be made: a
 * folder that cannot be written costs no more than the parse. */
static void cache_write(const cache_key *k, const la_buf *rest, la_tokenizer *t)
{
    char *dir = NULL, *path = cache_path(k, &dir), *tmp = NULL;
    la_buf b = {0};
    int fd = -1, ok = 0;
    if (!path)
        goto done;
    /* the folder and its parent (~/.cache) when missing, private */
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        mkdir(dir, 0700);
        *slash = '/';
    }
    mkdir(dir, 0700);
    size_t n = strlen(path) + 32;
    if (!(tmp = malloc(n)))
        goto done;
    snprintf(tmp, n, "%s.%ld.tmp", path, (long)getpid());
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
        goto done;
    la_err perr = {{0}, {0}};
    cache_head h;
    memset(&h, 0, sizeof h);
    static const char zero[8] = {0};
    size_t pad = (8 - (sizeof h + rest->len) % 8) % 8;
    if (tk_direct_prefill(t, &perr) != LA_OK || la_buf_append(&b, (const char *)&h, sizeof h) ||
        la_buf_append(&b, rest->data ? rest->data : "", rest->len) || la_buf_append(&b, zero, pad) ||
        tk_bpe_image(t->model, &b) != LA_OK || !cache_build(h.build))
        goto done;
    /* the word table last, on a 64-byte boundary (read in place, by sets
     * of two cache lines) */
    size_t image_end = b.len, words_len;
    static const char zero64[64] = {0};
    const void *words = tk_direct_table(t, &words_len);
    if (b.len % 8 != 0 || la_buf_append(&b, zero64, (64 - b.len % 64) % 64))
        goto done;
    size_t words_off = b.len;
    if (words_len && la_buf_append(&b, words, words_len))
        goto done;
    memcpy(h.magic, CACHE_MAGIC, 8);
    h.version = CACHE_VERSION;
    h.head_size = sizeof h;
    h.key = *k;
    h.rest_len = rest->len;
    h.image_off = sizeof h + rest->len + pad;
    h.image_len = image_end - h.image_off;
    h.words_off = words_off;
    h.words_len = words_len;
    h.check = bytes_check(b.data + sizeof h, b.len - sizeof h);
    memcpy(b.data, &h, sizeof h);
    size_t off = 0;
    while (off < b.len) {
        ssize_t w = write(fd, b.data + off, b.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    ok = off == b.len;
done:
    if (fd >= 0) {
        if (close(fd) != 0 || !ok || rename(tmp, path) != 0)
            unlink(tmp);
        else
            cache_prune(dir, strrchr(path, '/') + 1, k);
    }
    free(tmp);
    free(path);
    free(dir);
    la_buf_free(&b);
}

/* Frees t's stages, leaving t empty but for its path (a failed cached
 * load leaves the file's own to do). */
static void clear_stages(la_tokenizer *t)
{
    char *path = t->path;
    tk_direct_free(t);
    tk_added_free(t->added);
    if (t->normalizer)
        t->normalizer->free(t->normalizer);
    if (t->pretok)
        t->pretok->free(t->pretok);
    tk_bpe_free(t->model);
    if (t->decoder)
        t->decoder->free(t->decoder);
    memset(t, 0, sizeof *t);
    t->path = path;
}

/* Builds t from the cache entry for key k, if there is a good one. */
static int load_cached(la_tokenizer *t, const cache_key *k)
{
    void *map;
    size_t map_len, rest_len, image_len, words_len;
    const char *rest, *image;
    char *words;
    if (cache_map(k, &map, &map_len, &rest, &rest_len, &image, &image_len, &words, &words_len) != LA_OK)
        return 0;
    t->dw_later = words_len > 0;  /* the entry's table, taken once the pipeline is built */
    la_err e = {{0}, {0}};
    cJSON *root = NULL;
    la_span model = {0, 0};
    /* the rest first: the model's tables own the mapping once made */
    char *text = malloc(rest_len + 1);
    tk_bpe *m = NULL;
    int rc = LA_ENOMEM;
    if (text) {
        memcpy(text, rest, rest_len);
        text[rest_len] = 0;
        m = tk_bpe_from_image(image, image_len, map, map_len, &e);
        rc = m ? parse_top(text, rest_len, &root, &model, NULL, &e) : LA_EDATA;
    } else {
        munmap(map, map_len);
    }
    if (rc == LA_OK)
        rc = build_pipeline(t, root, NULL, model, m, &e);
    /* the vocabulary's words for direct previews, in the entry's memory */
    if (rc == LA_OK && t->dw_later && !tk_direct_table_use(t, words, words_len))
        tk_direct_take(t);
    t->dw_later = 0;
    if (rc != LA_OK && t->model != m)
        tk_bpe_free(m);           /* not handed over */
    cJSON_Delete(root);
    free(text);
    if (rc != LA_OK)
        clear_stages(t);
    return rc == LA_OK;
}

la_tokenizer *la_tokenizer_load(const char *path, la_err *err)
{
    if (!path) {
        la_err_set(err, LA_EARG, "bad_argument", "tokenizer: no path");
        return NULL;
    }
    la_tokenizer *t = calloc(1, sizeof *t);
    char *file = resolve_path(path);
    if (!t || !file) {
        free(t);
        free(file);
        la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
        return NULL;
    }
    t->path = file;
    cache_key key;
    struct stat st;
    int use_cache = cache_enabled && stat(file, &st) == 0 && S_ISREG(st.st_mode);
    if (use_cache) {
        key_of(&st, &key);
        if (load_cached(t, &key)) {
            t->from_cache = 1;
            return t;
        }
    }
    char *data = NULL;
    size_t len = 0;
    if (read_file(file, &data, &len, err) != LA_OK) {
        struct stat ds, fs;
        char hub[4096];
        if (strcmp(file, path) == 0 && model_id(path) && stat(path, &fs) != 0 && errno == ENOENT)
            la_err_set(err, LA_EIO, "cannot_open",
                       "tokenizer: no such file or folder, nor model %s in the HuggingFace hub cache (%s: "
                       "models--ORG--NAME with tokenizer.json at refs/main)",
                       path, hub_dir(hub, sizeof hub) ? hub : "no HOME");
        else if (strcmp(file, path) != 0 && stat(path, &ds) == 0 && S_ISDIR(ds.st_mode) && stat(file, &fs) != 0 &&
            errno == ENOENT) {
            /* a model folder without the file: say so, and what may be there instead */
            size_t n = strlen(path) + sizeof "/tokenizer.model";
            char *spm = malloc(n);
            struct stat ms;
            int has_spm = spm && snprintf(spm, n, "%s/tokenizer.model", path) > 0 && stat(spm, &ms) == 0;
            free(spm);
            la_err_set(err, LA_EIO, "cannot_open", "tokenizer: the folder has no tokenizer.json%s",
                       has_spm ? " (it has tokenizer.model, a SentencePiece file: saving the model's fast "
                                 "tokenizer with transformers, save_pretrained, writes tokenizer.json)"
                               : "");
        }
        la_tokenizer_free(t);
        return NULL;
    }
    la_span model = {0, 0};
    cJSON *root = NULL;
    la_buf rest = {0};
    int rc = parse_top(data, len, &root, &model, use_cache ? &rest : NULL, err);
    if (rc == LA_OK)
        rc = build_pipeline(t, root, data, model, NULL, err);
    cJSON_Delete(root);
    free(data);
    /* the file as read is the one the key names only if it did not change meanwhile */
    struct stat now;
    if (rc == LA_OK && use_cache && stat(file, &now) == 0) {
        cache_key after;
        key_of(&now, &after);
        if (memcmp(&after, &key, sizeof key) == 0 && (uint64_t)len == key.size)
            cache_write(&key, &rest, t);
    }
    la_buf_free(&rest);
    if (rc != LA_OK) {
        la_tokenizer_free(t);
        return NULL;
    }
    return t;
}

void la_tokenizer_free(la_tokenizer *t)
{
    if (!t)
        return;
    clear_stages(t);
    free(t->path);
    free(t);
}
