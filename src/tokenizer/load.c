/*
 * load.c - tokenizer.json -> pipeline. Reads the file (or FOLDER/
 * tokenizer.json), validates it strictly, and hands each component's
 * object to its constructor. The small components go through cJSON; the
 * model's vocabulary and merges (nearly all of a 9 MB file) are read
 * from the validated bytes by bpe.c, which is what keeps loading fast.
 * BPE, WordLevel, WordPiece and Unigram models (models.c for the last
 * three); the post_processor is ignored because no special tokens are
 * added.
 */
#define _GNU_SOURCE               /* dl_iterate_phdr (the build id) */
#include "tokenizer/tk.h"
#include "tokenizer/tk_test.h"
#include "json.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#ifdef __SSE2__
#include <immintrin.h>
#endif

/* Largest tokenizer.json accepted (the biggest real ones are ~20 MB):
 * checked on the file's size before any byte is read. */
#define TK_MAX_FILE ((uint64_t)1 << 30)

/* What a file that is not a regular file is, for the message. */
static const char *file_kind(mode_t m)
{
    return S_ISDIR(m) ? "a folder" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

/* A file's bytes, NUL after them, in memory of their own (tk_map_huge:
 * on huge pages where the system gives them, as a few page faults
 * instead of one per 4 KiB page of a fresh buffer, which on a virtual
 * machine cost more than the read); file_free unmaps them. */
typedef struct {
    char *data;
    size_t len, map_len;
} file_bytes;

static void file_free(file_bytes *f)
{
    if (f->data)
        munmap(f->data, f->map_len);
    f->data = NULL;
}

/* Reads the file at path into *f (its fstat in *st). Only a regular
 * file is read: it is opened without blocking (a FIFO with no writer
 * would block open), and its size is checked before reading, so that a
 * huge (or sparse) file is refused at once. The bytes read are the
 * file's first st_size (a file that grows meanwhile is read as it was). */
static int read_file(const char *path, file_bytes *f, struct stat *st, la_err *err)
{
    f->data = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return la_err_set(err, LA_EIO, "cannot_open", "tokenizer: cannot open: %s", strerror(errno));
    int rc = LA_OK;
    if (fstat(fd, st) != 0)
        rc = la_err_set(err, LA_EIO, "cannot_open", "tokenizer: cannot open: %s", strerror(errno));
    else if (!S_ISREG(st->st_mode))
        rc = la_err_set(err, LA_EIO, "cannot_open", "tokenizer: cannot open: %s, not a regular file",
                        file_kind(st->st_mode));
    else if ((uint64_t)st->st_size > TK_MAX_FILE)
        rc = la_err_set(err, LA_EDATA, "bad_tokenizer",
                        "tokenizer: file too large (%lld bytes; the limit is %llu MiB)", (long long)st->st_size,
                        (unsigned long long)(TK_MAX_FILE >> 20));
    size_t n = rc == LA_OK ? (size_t)st->st_size : 0, got = 0;
    f->map_len = n + 1;
    if (rc == LA_OK && !(f->data = tk_map_huge(&f->map_len)))
        rc = la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    while (rc == LA_OK && got < n) {
        ssize_t r = read(fd, f->data + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = la_err_set(err, LA_EIO, "cannot_open", "tokenizer: read failed: %s", strerror(errno));
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (rc != LA_OK) {
        file_free(f);
        return rc;
    }
    f->data[got] = 0;
    f->len = got;
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
char *la_tokenizer_file(const char *path)
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

/* The error for a value p[v] of member key that cJSON could not parse.
 * The file passed la_json_validate_top, so what cJSON refuses is valid
 * JSON it cannot take (nesting deeper than CJSON_NESTING_LIMIT): a parse
 * error, saying where cJSON stopped when it names a place in the value
 * (cJSON returns NULL alike when out of memory, and says nothing else). */
static int parse_failed(const char *p, la_span v, const char *key, la_err *err)
{
    const char *at = cJSON_GetErrorPtr();
    if (at && at >= p + v.start && at <= p + v.end)
        return la_err_set(err, LA_EDATA, "bad_tokenizer",
                          "tokenizer: \"%.60s\": cannot parse the value (stopped at byte %zu of the file; "
                          "at most %d levels of nesting are read)",
                          key, (size_t)(at - p), CJSON_NESTING_LIMIT);
    return la_err_set(err, LA_EDATA, "bad_tokenizer",
                      "tokenizer: \"%.60s\": cannot parse the value (at most %d levels of nesting are read)", key,
                      CJSON_NESTING_LIMIT);
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
        return parse_failed(p, v, tmp->data ? tmp->data : "", err);
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
 * cJSON, vocab and merges raw), WordLevel, WordPiece or Unigram
 * (models.c), or an "unsupported" error naming the type. */
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
            m = tk_model_from_raw(type->valuestring, opts, vocab.end ? p + vocab.start : NULL,
                                  vocab.end - vocab.start, err);
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
 * and the model's span in p into t; with words_later, the word table of
 * direct previews is to be taken from a cache entry. */
static int build_pipeline(la_tokenizer *t, const cJSON *root, const char *p, la_span model,
                          tk_bpe *prebuilt, int words_later, la_err *err)
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
    t->pretok_inert = tk_pretok_split_needs(t->pretok, ' ') && tk_normalizer_removes(t->normalizer, ' ');
    /* without a pre-tokenizer (or with one that never splits) the whole
     * text is one piece, cut where no token can span */
    if (prebuilt)
        t->model = prebuilt;
    else if (!(t->model = build_model(p, model, !t->pretok || t->pretok_inert, err)))
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
    tk_direct_prepare(t, tk_windowable(t), words_later);
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
 * the text of the file's other members, under the file's content (an
 * XXH3-128 hash of its bytes, which are read anyway, and its length) and
 * this program's build id; a later load of a file with the same bytes
 * by the same build reads that entry instead of parsing. No property of
 * the file but its bytes counts (a file replaced by another of the same
 * size within the same second is told apart). An entry also holds a
 * check of its own bytes, and every offset, length, count and index in
 * it is checked before use (tk_bpe_from_image, tk_direct_table_valid):
 * an entry that fails anything is removed and the file parsed, never
 * trusted. Entries are written whole under a temporary name and renamed,
 * so that readers never see half of one. */

static int cache_enabled;

void la_tokenizer_use_cache(int on) { cache_enabled = on; }

#define CACHE_MAGIC "LATKCACH"
#define CACHE_VERSION 5u          /* bump when loading a file gives other tables */

/* What identifies the source: its bytes. */
typedef struct {
    uint64_t hash[2];             /* XXH3-128 of the file's bytes */
    uint64_t size;                /* their number */
} cache_key;

#define BUILD_ID_MAX 32

typedef struct {
    char magic[8];
    uint32_t version, head_size;
    uint32_t build_len, spare;
    unsigned char build[BUILD_ID_MAX];   /* this build's id: entries of other builds do not match */
    cache_key key;
    uint64_t src_dev, src_ino;    /* the file it was made from: only for removing older versions */
    uint64_t rest_len, image_off, image_len, words_off, words_len, check;
} cache_head;

/* Where this build's code is, to find its build id (tests move it to
 * where no program is: then no build id, so no cache). */
static const void *build_anchor;

void tk_cache_build_anchor(const void *p) { build_anchor = p; }

typedef struct {
    const void *anchor;
    unsigned char id[BUILD_ID_MAX];
    size_t len;
} build_search;

/* The GNU build-id note among the notes p[0..n) (align: the segment's),
 * copied into s: 1 when found. */
static int build_note(const char *p, size_t n, size_t align, build_search *s)
{
    size_t at = 0;
    while (n - at >= sizeof(ElfW(Nhdr))) {
        ElfW(Nhdr) h;
        memcpy(&h, p + at, sizeof h);
        size_t name = (h.n_namesz + align - 1) & ~(align - 1), desc = (h.n_descsz + align - 1) & ~(align - 1);
        at += sizeof h;
        if (name > n - at || desc > n - at - name)
            return 0;
        if (h.n_type == NT_GNU_BUILD_ID && h.n_namesz == 4 && memcmp(p + at, "GNU", 4) == 0 && h.n_descsz > 0 &&
            h.n_descsz <= BUILD_ID_MAX) {
            memcpy(s->id, p + at + name, h.n_descsz);
            s->len = h.n_descsz;
            return 1;
        }
        at += name + desc;
    }
    return 0;
}

/* dl_iterate_phdr's callback: in the object whose loaded segments hold
 * s->anchor, its build id (then stops the walk). */
static int build_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    build_search *s = arg;
    uintptr_t a = (uintptr_t)s->anchor;
    int holds = 0;
    (void)size;
    for (size_t i = 0; i < info->dlpi_phnum && !holds; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        holds = ph->p_type == PT_LOAD && a >= lo && a - lo < ph->p_memsz;
    }
    if (!holds)
        return 0;
    for (size_t i = 0; i < info->dlpi_phnum && !s->len; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_NOTE)
            build_note((const char *)(info->dlpi_addr + ph->p_vaddr), ph->p_memsz, ph->p_align == 8 ? 8 : 4, s);
    }
    return 1;
}

/* This build's id (the linker's GNU build-id note of the program, or
 * shared object, holding this code; the Makefile links with
 * -Wl,--build-id) into out: its length, or 0 when there is none (then no
 * cache: size and time of a program file would be a guess, and collide
 * under reproducible builds). */
static size_t cache_build(unsigned char out[BUILD_ID_MAX])
{
    build_search s = { build_anchor ? build_anchor : (const void *)cache_build, { 0 }, 0 };
    dl_iterate_phdr(build_object, &s);
    memset(out, 0, BUILD_ID_MAX);
    memcpy(out, s.id, s.len);
    return s.len;
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

int tk_cache_reseal(char *p, size_t n)
{
    cache_head h;
    if (n < sizeof h || n % 8 != 0)
        return 0;
    memcpy(&h, p, sizeof h);
    h.check = bytes_check(p + sizeof h, n - sizeof h);
    memcpy(p, &h, sizeof h);
    return 1;
}

int tk_cache_vouched(const char *p, size_t n, size_t off)
{
    cache_head h;
    if (n < sizeof h || off >= n || off < sizeof h)
        return 0;
    memcpy(&h, p, sizeof h);
    if (off - sizeof h < h.rest_len)
        return 1;                 /* the other members' text */
    if (off >= h.image_off && off - h.image_off < h.image_len)
        return tk_bpe_image_vouched(p + h.image_off, (size_t)h.image_len, off - (size_t)h.image_off);
    /* in the word table: what an entry says of its word's tokens */
    return off >= h.words_off && (off - h.words_off) % 32 >= 17 && (off - h.words_off) % 32 < 28;
}

/* The key of a file's bytes data[0..len). */
static void key_of(const char *data, size_t len, cache_key *k)
{
    XXH128_hash_t h = XXH3_128bits(data, len);
    memset(k, 0, sizeof *k);
    k->hash[0] = h.low64;
    k->hash[1] = h.high64;
    k->size = (uint64_t)len;
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

/* The entry's path for key k made by build (NULL without a cache
 * folder): its name is a hash of both and of the format's version; the
 * folder in *dir_out when asked for. */
static char *cache_path(const cache_key *k, const unsigned char build[BUILD_ID_MAX], char **dir_out)
{
    char *dir = cache_dir();
    if (!dir)
        return NULL;
    struct {
        uint32_t version, head_size;
        cache_key key;
        unsigned char build[BUILD_ID_MAX];
    } name = { CACHE_VERSION, (uint32_t)sizeof(cache_head), *k, { 0 } };
    memcpy(name.build, build, BUILD_ID_MAX);
    XXH128_hash_t h = XXH3_128bits(&name, sizeof name);
    size_t n = strlen(dir) + 40;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%016llx-%016llx.tok", dir, (unsigned long long)h.high64, (unsigned long long)h.low64);
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

/* The folder's budget: $LOOKAHEAD_CACHE_MAX_MB, else 512 MB (Llama-3's
 * entry is 14 MB); no entry larger than it is kept or read. */
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

/* 1 when the head h of an entry of n bytes is of this format, of key k
 * and build, and its parts lie in order inside the n bytes (the rest,
 * the image on 8 bytes, the word table on 64 after less than 64 bytes
 * of padding, up to the end). */
static int head_holds(const cache_head *h, size_t n, const cache_key *k, const unsigned char *build,
                      size_t build_len)
{
    return memcmp(h->magic, CACHE_MAGIC, 8) == 0 && h->version == CACHE_VERSION && h->head_size == sizeof *h &&
           h->build_len == build_len && memcmp(h->build, build, BUILD_ID_MAX) == 0 &&
           memcmp(&h->key, k, sizeof *k) == 0 && n % 8 == 0 && h->rest_len <= n - sizeof *h &&
           h->image_off == ((sizeof *h + h->rest_len + 7) & ~(uint64_t)7) && h->image_off <= n &&
           h->image_len <= n - h->image_off && h->words_off <= n && h->words_off % 64 == 0 &&
           h->words_off >= h->image_off + h->image_len && h->words_off - (h->image_off + h->image_len) < 64 &&
           h->words_len == n - h->words_off;
}

/* The parts of an entry read into memory (cache_map); map owns them. */
typedef struct {
    void *map;
    size_t map_len;
    const char *rest, *image;
    char *words;
    size_t rest_len, image_len, words_len;
} cache_entry;

/* Reads the entry of key k made by build (entry_read) into *e: LA_OK
 * when it is there, whole, and its check holds; LA_EIO when there is
 * none (or it cannot be read); LA_EDATA when the file there is not a
 * good entry of this key (to be removed: *path_out then names it, for
 * the caller to free). */
static int cache_map(const cache_key *k, const unsigned char *build, size_t build_len, cache_entry *e,
                     char **path_out)
{
    char *path = cache_path(k, build, NULL);
    *path_out = NULL;
    if (!path)
        return LA_EIO;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        free(path);
        return LA_EIO;
    }
    struct stat st;
    cache_head h;
    void *p = MAP_FAILED;
    size_t n = 0, len = 0;
    int rc = LA_EDATA;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        rc = LA_EIO;              /* not ours to read, nor to remove */
    } else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        rc = LA_EDATA;            /* others could have written it: made again */
    } else if ((uint64_t)st.st_size >= sizeof h && (uint64_t)st.st_size <= cache_budget()) {
        n = (size_t)st.st_size;
        p = entry_read(fd, n, &len);
        rc = p == MAP_FAILED ? LA_EIO : LA_EDATA;
    }
    if (p != MAP_FAILED) {
        memcpy(&h, p, sizeof h);
        const char *b = p;
        if (head_holds(&h, n, k, build, build_len) && bytes_check(b + sizeof h, n - sizeof h) == h.check) {
            *e = (cache_entry){ p, len, b + sizeof h, b + h.image_off, (char *)p + h.words_off,
                                (size_t)h.rest_len, (size_t)h.image_len, (size_t)h.words_len };
            /* used: its time says so, at most once an hour (cache_prune
             * removes the least recently used entries first) */
            if (st.st_mtim.tv_sec + 3600 <= time(NULL))
                futimens(fd, NULL);
            rc = LA_OK;
        } else {
            munmap(p, len);
        }
    }
    close(fd);
    if (rc == LA_EDATA)
        *path_out = path;
    else
        free(path);
    return rc;
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

/* After entry keep (for the bytes of key k, read from the file src
 * names) was written: removes the entries of earlier versions of the
 * same file (made from the same device and inode, of other bytes: the
 * file changed, so they are not likely to match again),
 * temporary files left by writers that died an hour or more ago, and
 * then the least recently used entries (an entry's time is refreshed
 * when it is used, see cache_map) until the folder's entries fit the
 * budget. Files that are not entries, or are another user's (a shared
 * folder), are never touched; a file another run removed first is
 * simply gone. */
static void cache_prune(const char *dir, const char *keep, const struct stat *src, const cache_key *k)
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
        int efd = openat(dfd, e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        int stale = efd >= 0 && pread(efd, &h, sizeof h, 0) == (ssize_t)sizeof h &&
                    memcmp(h.magic, CACHE_MAGIC, 8) == 0 && h.version == CACHE_VERSION &&
                    h.src_dev == (uint64_t)src->st_dev && h.src_ino == (uint64_t)src->st_ino &&
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

/* tk_direct_prefill with scratch of its own. */
static int prefill_words(la_tokenizer *t, la_err *err)
{
    la_tok_work *w = la_tok_work_new();
    if (!w)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    int rc = tk_direct_prefill(t, w, err);
    la_tok_work_free(w);
    return rc;
}

/* Writes the entry (quietly: a cache that cannot be written is only not
 * there next time). The vocabulary's words are put in t's word table
 * first (tk_direct_prefill), once the entry's file could be made: a
 * folder that cannot be written costs no more than the parse. */
static void cache_write(const cache_key *k, const unsigned char *build, size_t build_len, const struct stat *src,
                        const la_buf *rest, la_tokenizer *t)
{
    char *dir = NULL, *path = cache_path(k, build, &dir), *tmp = NULL;
    la_buf b = {0};
    int fd = -1, ok = 0, too_big = 0;
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
    if (prefill_words(t, &perr) != LA_OK || la_buf_append(&b, (const char *)&h, sizeof h) ||
        la_buf_append(&b, rest->data ? rest->data : "", rest->len) || la_buf_append(&b, zero, pad) ||
        tk_bpe_image(t->model, &b) != LA_OK)
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
    if (b.len > cache_budget()) {
        too_big = 1;              /* not kept; the folder is still brought within the budget */
        goto done;
    }
    memcpy(h.magic, CACHE_MAGIC, 8);
    h.version = CACHE_VERSION;
    h.head_size = sizeof h;
    h.build_len = (uint32_t)build_len;
    memcpy(h.build, build, BUILD_ID_MAX);
    h.key = *k;
    h.src_dev = (uint64_t)src->st_dev;
    h.src_ino = (uint64_t)src->st_ino;
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
            cache_prune(dir, strrchr(path, '/') + 1, src, k);
        if (too_big)
            cache_prune(dir, "", src, k);
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

/* Builds t from the cache entry e (read by cache_map, which it takes):
 * 1 when every part of it holds (the model's image, the rest as a
 * tokenizer.json's members, the word table), else 0 with t empty. */
static int load_entry(la_tokenizer *t, cache_entry *e)
{
    la_err err = {{0}, {0}};
    cJSON *root = NULL;
    la_span model = {0, 0};
    /* the rest first: the model's tables own the mapping once made */
    char *text = malloc(e->rest_len + 1);
    tk_bpe *m = NULL;
    int rc = LA_ENOMEM;
    if (text && tk_direct_table_valid(e->words, e->words_len)) {
        memcpy(text, e->rest, e->rest_len);
        text[e->rest_len] = 0;
        m = tk_bpe_from_image(e->image, e->image_len, e->map, e->map_len, &err);
        rc = m ? parse_top(text, e->rest_len, &root, &model, NULL, &err) : LA_EDATA;
    } else {
        rc = text ? LA_EDATA : LA_ENOMEM;
        munmap(e->map, e->map_len);
    }
    if (rc == LA_OK)
        rc = build_pipeline(t, root, NULL, model, m, e->words_len > 0, &err);
    /* the vocabulary's words for direct previews, in the entry's memory */
    if (rc == LA_OK && e->words_len > 0 && !tk_direct_table_use(t, e->words, e->words_len))
        tk_direct_take(t);
    if (rc != LA_OK && t->model != m)
        tk_bpe_free(m);           /* not handed over */
    cJSON_Delete(root);
    free(text);
    if (rc != LA_OK)
        clear_stages(t);
    return rc == LA_OK;
}

/* Builds t from the cache entry of key k made by this build, if there
 * is a good one (1); one that does not hold is removed (0). */
static int load_cached(la_tokenizer *t, const cache_key *k, const unsigned char *build, size_t build_len)
{
    cache_entry e = { 0 };
    char *bad = NULL;
    int rc = cache_map(k, build, build_len, &e, &bad);
    if (rc == LA_OK && !load_entry(t, &e)) {
        rc = LA_EDATA;
        bad = cache_path(k, build, NULL);
    }
    if (bad)
        unlink(bad);
    free(bad);
    return rc == LA_OK;
}

/* The error for a tokenizer file path (resolved from the argument arg)
 * that could not be read: when it is not there, what may be meant
 * instead (a model id not in the hub cache, a folder without
 * tokenizer.json); else read_file's own. */
static void not_read(const char *arg, const char *path, la_err *err)
{
    struct stat ds, fs;
    char hub[4096];
    if (strcmp(path, arg) == 0 && model_id(arg) && stat(arg, &fs) != 0 && errno == ENOENT)
        la_err_set(err, LA_EIO, "cannot_open",
                   "tokenizer: no such file or folder, nor model %s in the HuggingFace hub cache (%s: "
                   "models--ORG--NAME with tokenizer.json at refs/main)",
                   arg, hub_dir(hub, sizeof hub) ? hub : "no HOME");
    else if (strcmp(path, arg) != 0 && stat(arg, &ds) == 0 && S_ISDIR(ds.st_mode) && stat(path, &fs) != 0 &&
             errno == ENOENT) {
        /* a model folder without the file: say so, and what may be there instead */
        size_t n = strlen(arg) + sizeof "/tokenizer.model";
        char *spm = malloc(n);
        struct stat ms;
        int has_spm = spm && snprintf(spm, n, "%s/tokenizer.model", arg) > 0 && stat(spm, &ms) == 0;
        free(spm);
        la_err_set(err, LA_EIO, "cannot_open", "tokenizer: the folder has no tokenizer.json%s",
                   has_spm ? " (it has tokenizer.model, a SentencePiece file: saving the model's fast "
                             "tokenizer with transformers, save_pretrained, writes tokenizer.json)"
                           : "");
    }
}

la_tokenizer *la_tokenizer_load(const char *path, la_err *err)
{
    if (!path) {
        la_err_set(err, LA_EARG, "bad_argument", "tokenizer: no path");
        return NULL;
    }
    la_tokenizer *t = calloc(1, sizeof *t);
    char *file = la_tokenizer_file(path);
    if (!t || !file) {
        free(t);
        free(file);
        la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
        return NULL;
    }
    t->path = file;
    file_bytes fb;
    struct stat st;
    if (read_file(file, &fb, &st, err) != LA_OK) {
        not_read(path, file, err);
        la_tokenizer_free(t);
        return NULL;
    }
    /* the cache's entry for these bytes and this build, when there is a build id */
    cache_key key;
    unsigned char build[BUILD_ID_MAX];
    size_t build_len = cache_enabled ? cache_build(build) : 0;
    if (build_len) {
        key_of(fb.data, fb.len, &key);
        if (load_cached(t, &key, build, build_len)) {
            file_free(&fb);
            t->from_cache = 1;
            return t;
        }
    }
    la_span model = {0, 0};
    cJSON *root = NULL;
    la_buf rest = {0};
    int rc = parse_top(fb.data, fb.len, &root, &model, build_len ? &rest : NULL, err);
    if (rc == LA_OK)
        rc = build_pipeline(t, root, fb.data, model, NULL, 0, err);
    cJSON_Delete(root);
    file_free(&fb);
    /* entries hold BPE's tables only: the other model types are parsed
     * each time (an entry is only ever made from, and read for, a BPE
     * file's bytes) */
    if (rc == LA_OK && build_len && tk_bpe_kind(t->model) == TK_MODEL_BPE)
        cache_write(&key, build, build_len, &st, &rest, t);
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
