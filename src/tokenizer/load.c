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
                          la_err *err)
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
    if (!(t->model = build_model(p, model, !t->pretok, err)))
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
    la_span value, model = {0, 0};
    la_members top = {0};
    cJSON *root = NULL;
    la_err jerr = {{0}, {0}};
    int rc = LA_OK;
    if (la_json_validate_top(data, len, &value, &top, &jerr) != LA_OK)
        rc = la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: not valid JSON: %.200s", jerr.msg);
    else if (data[value.start] != '{')
        rc = la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: not a JSON object");
    else if (!(root = cJSON_CreateObject()))
        rc = la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    la_buf key = {0};
    for (size_t i = 0; rc == LA_OK && i < top.n; i++) {
        la_buf_clear(&key);
        if (la_json_unescape(data, top.m[i].key, &key, NULL) == LA_OK && key.len == 5 &&
            memcmp(key.data, "model", 5) == 0)
            model = top.m[i].val;
        else
            rc = add_parsed(root, data, top.m[i].key, top.m[i].val, &key, err);
    }
    la_buf_free(&key);
    free(top.m);
    if (rc == LA_OK)
        rc = build_pipeline(t, root, data, model, err);
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
