/*
 * load.c - tokenizer.json -> pipeline. Reads the file (or FOLDER/
 * tokenizer.json), parses it with cJSON and hands each component's
 * object to its constructor. Only the BPE model is supported; the
 * post_processor is ignored because no special tokens are added.
 */
#include "tokenizer/tk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* PATH itself, or PATH/tokenizer.json when PATH is a folder; new string. */
static char *resolve_path(const char *path)
{
    struct stat st;
    const char *suffix = "";
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        suffix = path[0] && path[strlen(path) - 1] == '/' ? "tokenizer.json" : "/tokenizer.json";
    size_t n = strlen(path), k = strlen(suffix);
    char *p = malloc(n + k + 1);
    if (p) {
        memcpy(p, path, n);
        memcpy(p + n, suffix, k + 1);
    }
    return p;
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

/* Builds the model: BPE, or an "unsupported" error naming the type. */
static tk_bpe *build_model(const cJSON *model, la_err *err)
{
    if (!cJSON_IsObject(model)) {
        la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: missing or not an object");
        return NULL;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (type && !cJSON_IsString(type)) {
        la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: \"type\" is not a string");
        return NULL;
    }
    if (type && strcmp(type->valuestring, "BPE") != 0) {
        la_err_set(err, LA_EUNSUP, "unsupported", "tokenizer: model: unsupported type \"%.60s\"",
                   type->valuestring);
        return NULL;
    }
    if (!type && !cJSON_GetObjectItemCaseSensitive(model, "merges")) {
        la_err_set(err, LA_EUNSUP, "unsupported", "tokenizer: model: unsupported model (no type, no merges)");
        return NULL;
    }
    return tk_bpe_from_json(model, err);
}

/* The member key of root if present and not null, else NULL. */
static const cJSON *component(const cJSON *root, const char *key)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, key);
    return c && !cJSON_IsNull(c) ? c : NULL;
}

/* Builds every stage from the parsed root object into t. */
static int build_pipeline(la_tokenizer *t, const cJSON *root, la_err *err)
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
    if (!(t->model = build_model(cJSON_GetObjectItemCaseSensitive(root, "model"), err)))
        return LA_EDATA;
    if (!(t->added = tk_added_from_json(cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), err)))
        return LA_EDATA;
    la_tok_work *w = la_tok_work_new();
    if (!w)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    int rc = tk_added_prepare(t->added, t->model, t->normalizer, w, err);
    la_tok_work_free(w);
    if (rc != LA_OK)
        return rc;
    if (!t->pretok && (rc = tk_bpe_prepare_chunking(t->model, err)) != LA_OK)
        return rc;
    t->byte_level = mentions_byte_level(component(root, "pre_tokenizer"), 0) ||
                    mentions_byte_level(component(root, "decoder"), 0);
    return LA_OK;
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
    char *data = NULL;
    size_t len = 0;
    if (read_file(file, &data, &len, err) != LA_OK) {
        la_tokenizer_free(t);
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(data, len + 1, &end, 1); /* with its NUL */
    int rc = LA_OK;
    if (!root)
        rc = la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: not valid JSON (at byte %zu)",
                        end && end >= data ? (size_t)(end - data) : (size_t)0);
    else if (!cJSON_IsObject(root))
        rc = la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: not a JSON object");
    else
        rc = build_pipeline(t, root, err);
    cJSON_Delete(root);
    free(data);
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
    tk_added_free(t->added);
    if (t->normalizer)
        t->normalizer->free(t->normalizer);
    if (t->pretok)
        t->pretok->free(t->pretok);
    tk_bpe_free(t->model);
    if (t->decoder)
        t->decoder->free(t->decoder);
    free(t->path);
    free(t);
}
