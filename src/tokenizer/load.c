/*
 * load.c - tokenizer.json -> pipeline. Reads the file (or FOLDER/
 * tokenizer.json), validates it strictly, and hands each component's
 * object to its constructor. The small components go through cJSON; the
 * model's vocabulary and merges (nearly all of a 9 MB file) are read
 * from the validated bytes by bpe.c, which is what keeps loading fast.
 * BPE, WordLevel, WordPiece and Unigram models (models.c for the last
 * three); the post_processor, truncation and padding are only checked
 * (params.c), because no special tokens are added and previews are of
 * the answer's first tokens.
 */
#define _GNU_SOURCE               /* sched_getaffinity, CPU_COUNT */
#include "tokenizer/tk.h"
#include "tokenizer/tk_test.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Largest tokenizer.json accepted (the biggest real ones are ~20 MB):
 * checked on the file's size before any byte is read. */
#define TK_MAX_FILE ((uint64_t)1 << 30)

/* What a file that is not a regular file is, for the message. */
static const char *file_kind(mode_t m)
{
    return S_ISDIR(m) ? "a folder" : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : S_ISSOCK(m) ? "a socket" : "not a regular file";
}

/* A file's bytes, NUL after them: mapped from the page cache while a
 * lease keeps other programs from changing the file (map_fd; lease_fd
 * holds it), else read into memory of their own (tk_map_huge: on huge
 * pages where the system gives them, as a few page faults instead of one
 * per 4 KiB page of a fresh buffer, which on a virtual machine cost more
 * than the read); file_free unmaps them and lets the lease go. */
typedef struct {
    char *data;
    size_t len, map_len;
    int lease_fd;                /* -1: read */
} file_bytes;

static void file_free(file_bytes *f)
{
    if (f->data && f->lease_fd >= 0) {
        tk_text_unmap(f->data, f->map_len);
        fcntl(f->lease_fd, F_SETLEASE, F_UNLCK);
        close(f->lease_fd);
    } else if (f->data) {
        munmap(f->data, f->map_len);
    }
    f->lease_fd = -1;
    f->data = NULL;
}

/* Opens the file at path into *fd (its fstat in *st). Only a regular
 * file is opened: without blocking (a FIFO with no writer would block
 * open), and its size is checked before reading, so that a huge (or
 * sparse) file is refused at once. */
static int open_file(const char *path, int *fd_out, struct stat *st, la_err *err)
{
    int fd = *fd_out = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
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
    if (rc != LA_OK) {
        close(fd);
        *fd_out = -1;
    }
    return rc;
}

/* Files smaller than this are read: a mapping's set-up costs more than
 * their copy. 1 maps files of MAP_MIN bytes or more, 2 any (tests), 0
 * none. */
#define MAP_MIN ((size_t)256 << 10)
static int map_text = 1;
static unsigned long files_mapped;

static void (*map_hook)(const char *path, const char *data, size_t len);

void tk_load_set_map(int on) { map_text = on; }

void tk_load_set_map_hook(void (*fn)(const char *path, const char *data, size_t len)) { map_hook = fn; }

unsigned long tk_load_files_mapped(void) { return __atomic_load_n(&files_mapped, __ATOMIC_RELAXED); }

/* Maps the file open on fd (n bytes, at path) into *f, when it can be
 * kept unchanged meanwhile: under a read lease (F_SETLEASE), which has
 * another program's open for writing, or truncation, wait until the
 * lease is let go (file_free, as soon as the bytes are read into the
 * model), and which is refused while any program has the file open for
 * writing. The copy a read makes costs fresh memory, dear where the
 * system hands it out slowly (a virtual machine whose host takes back
 * idle memory); a mapping shares the page cache's. The lease's break is
 * signalled by SIGURG, which is ignored unless caught, not by SIGIO,
 * which would end the process. 1 when mapped (fd then belongs to *f);
 * 0 when not (a network file system, a file of another user, a writer
 * at work, a small file): the caller reads it. */
static int map_fd(int fd, file_bytes *f, const struct stat *st, const char *path)
{
    size_t n = (size_t)st->st_size;
    struct stat now;
    f->data = NULL;
    f->lease_fd = -1;
    if (map_text == 0 || (map_text == 1 && n < MAP_MIN) || n == 0 || fcntl(fd, F_SETSIG, SIGURG) != 0 ||
        fcntl(fd, F_SETLEASE, F_RDLCK) != 0)
        return 0;
    /* changed before the lease was taken (the bytes past n in the last
     * page would not be zeros, or the pages past the end would fault):
     * read instead */
    if (fstat(fd, &now) != 0 || now.st_size != st->st_size || now.st_ino != st->st_ino ||
        !(f->data = tk_map_text(fd, n, path, &f->map_len))) {
        f->data = NULL;
        fcntl(fd, F_SETLEASE, F_UNLCK);
        return 0;
    }
    f->len = n;
    f->lease_fd = fd;
    __atomic_fetch_add(&files_mapped, 1, __ATOMIC_RELAXED);
    if (map_hook)
        map_hook(path, f->data, n);
    return 1;
}

/* Reads the file open on fd (of fstat st, checked by open_file) into *f.
 * The bytes read are the file's first st_size (a file that grows
 * meanwhile is read as it was). */
static int read_fd(int fd, file_bytes *f, const struct stat *st, la_err *err)
{
    int rc = LA_OK;
    size_t n = (size_t)st->st_size, got = 0;
    f->data = NULL;
    f->lease_fd = -1;
    f->map_len = n + 1;
    if (!(f->data = tk_map_huge(&f->map_len)))
        rc = la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    while (rc == LA_OK && got < n) {
        ssize_t r = pread(fd, f->data + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rc = la_err_set(err, LA_EIO, "cannot_open", "tokenizer: read failed: %s", strerror(errno));
        if (r <= 0)
            break;
        got += (size_t)r;
    }
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
 * (models.c), or an "unsupported" error naming the type. The model's
 * members are taken from sub when the validator gathered them for this
 * span (with the vocabulary's member count), else found by walking it;
 * a BPE model takes the vocabulary read ahead, *ahead (then NULL). */
static tk_bpe *build_model(const char *p, la_span mv, const la_sub_members *sub, tk_bpe_ahead **ahead,
                           int chunking, la_err *err)
{
    if (mv.end == 0 || p[mv.start] != '{') {
        la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: model: missing or not an object");
        return NULL;
    }
    cJSON *opts = cJSON_CreateObject();
    la_buf tmp = {0};
    la_span k, v, vocab = {0, 0}, merges = {0, 0};
    size_t it = mv.start + 1, next = 0, count = SIZE_MAX, vocab_count = SIZE_MAX;
    int gathered = sub && sub->parent.start == mv.start && sub->parent.end == mv.end;
    int rc = opts ? LA_OK : la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    tk_bpe *m = NULL;
    while (rc == LA_OK) {
        if (gathered) {
            if (next == sub->n)
                break;
            k = sub->m[next].key;
            v = sub->m[next].val;
            count = sub->m[next++].count;
        } else {
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
        }
        la_buf_clear(&tmp);
        if (la_json_unescape(p, k, &tmp, NULL) == LA_OK && tmp.len == 5 && !memcmp(tmp.data, "vocab", 5))
            vocab = v, vocab_count = count;
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
                                  vocab.end - vocab.start, chunking, err);
        else if (!type && !merges.end)
            la_err_set(err, LA_EUNSUP, "unsupported", "tokenizer: model: unsupported model (no type, no merges)");
        else {
            m = tk_bpe_from_ahead(*ahead, opts, vocab.end ? p + vocab.start : NULL, vocab.end - vocab.start,
                                  vocab_count, merges.end ? p + merges.start : NULL, merges.end - merges.start,
                                  chunking, err);
            *ahead = NULL;
        }
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

/* What a load from a cache entry brings built, and what a load from the
 * file keeps for one. */
typedef struct {
    tk_bpe *model;                /* the model (else parsed from p) */
    tk_added *added;              /* the added tokens (else read from root) */
    int words_later;              /* the word table of direct previews comes from the entry */
    la_buf *added_out;            /* the added tokens as read, for an entry (tk_added_image) */
} prebuilt_parts;

/* Builds every stage from the parsed root object (all but the model)
 * and the model's span in p into t, but for the parts pre brings. */
static int build_pipeline(la_tokenizer *t, const cJSON *root, const char *p, la_span model,
                          const la_sub_members *sub, tk_bpe_ahead **ahead, const prebuilt_parts *pre,
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
    t->pretok_inert = tk_pretok_split_needs(t->pretok, ' ') && tk_normalizer_removes(t->normalizer, ' ');
    /* without a pre-tokenizer (or with one that never splits) the whole
     * text is one piece, cut where no token can span */
    if (pre->model)
        t->model = pre->model;
    else if (!(t->model = build_model(p, model, sub, ahead, !t->pretok || t->pretok_inert, err)))
        return LA_EDATA;
    if (pre->added)
        t->added = pre->added;
    else if (!(t->added = tk_added_from_json(cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), err)))
        return LA_EDATA;
    if (pre->added_out && tk_added_image(t->added, pre->added_out) != LA_OK)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
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
    tk_direct_prepare(t, tk_windowable(t), pre->words_later);
    t->byte_level = mentions_byte_level(component(root, "pre_tokenizer"), 0) ||
                    mentions_byte_level(component(root, "decoder"), 0);
    return LA_OK;
}

/* 1 when the top-level member i's key is "added_tokens" as written and
 * no other member's key is written so or with an escape. */
static int once(const char *data, const la_members *top, size_t i)
{
    static const char key[] = "\"added_tokens\"";
    for (size_t j = 0; j < top->n; j++) {
        la_span k = top->m[j].key;
        int same = k.end - k.start == sizeof key - 1 && memcmp(data + k.start, key, sizeof key - 1) == 0;
        if ((j == i) != same || (j != i && memchr(data + k.start, '\\', k.end - k.start)))
            return 0;
    }
    return 1;
}

/* The members of the top-level object data[0..len) into root, all but
 * "model" (its value's span in *model, the last one if several); the
 * other members' text in *rest as an object of its own when rest is not
 * NULL, all but "added_tokens" (a cache entry keeps those as they are
 * read, tk_added_image); with sub, the model's members as validation
 * found them. */
static int parse_top(const char *data, size_t len, cJSON **root, la_span *model, la_buf *rest,
                     la_sub_members *sub, tk_added **added_raw, la_err *err)
{
    la_span value;
    la_members top = {0};
    la_err jerr = {{0}, {0}};
    int rc = LA_OK;
    *root = NULL;
    if (la_json_validate_sub(data, len, &value, &top, sub, &jerr) != LA_OK)
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
        /* the members lookahead does not use, as HuggingFace reads them */
        if ((rc = tk_params_check(key.data ? key.data : "", key.len, data + v.start, v.end - v.start, err)) != LA_OK)
            break;
        int added = key.len == 12 && memcmp(key.data, "added_tokens", 12) == 0;
        /* the added tokens read from the text, not through cJSON, when
         * their key is written once, plainly, and they take the usual shape */
        if (added && added_raw && !*added_raw && once(data, &top, i) &&
            (*added_raw = tk_added_from_raw(data, v.start, v.end)))
            continue;
        rc = add_parsed(*root, data, k, v, &key, err);
        if (rc == LA_OK && rest && !added &&
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

/* What a hit checks beside building the model and the added tokens
 * from the entry: the check of all its bytes (tk_cache_entry_holds) and
 * the word table (copied first into memory of its own, words, when the
 * entry is a read-only mapping), on a thread of their own, since
 * neither needs the other's results. Both only read the entry; the
 * thread writes only words, which nothing reads before it is joined. */
typedef struct {
    const tk_cache_entry *e;
    char *words;
    int ok;
} entry_checks;

static void *entry_checks_run(void *arg)
{
    entry_checks *c = arg;
    if (c->words != c->e->words)
        memcpy(c->words, c->e->words, c->e->words_len);
    c->ok = tk_direct_table_valid(c->words, c->e->words_len) && (c->e->vouched || tk_cache_entry_holds(c->e));
    return NULL;
}

/* Builds t from the cache entry e (read by tk_cache_map, which it takes):
 * 1 when every part of it holds (its check, the model's image, the rest
 * as a tokenizer.json's members, the word table), else 0 with t empty.
 * The entry's check and the word table's are made on a second thread
 * while the model and the added tokens are built: what those are built
 * from is first checked for their own use (tk_bpe_from_image,
 * tk_added_from_image, as for an entry whose check was made again over
 * a change: nothing read goes outside the entry, no lookup runs on
 * without end), and the thread is joined before t is given back, the
 * word table taken, or the entry's memory let go; an entry whose check
 * fails gives nothing. */
static int load_entry(la_tokenizer *t, tk_cache_entry *e)
{
    la_err err = {{0}, {0}};
    cJSON *root = NULL;
    la_span model = {0, 0};
    /* the rest first: the model's tables own the mapping once made */
    char *text = malloc(e->rest_len + 1);
    tk_bpe *m = NULL;
    tk_added *a = NULL;
    int rc = LA_ENOMEM;
    /* the word table is written as words are met: out of a mapping of the
     * file (read-only) it is copied into memory of its own, and checked
     * there */
    char *words = e->words;
    size_t words_map = 0;
    if (e->mapped && e->words_len > 0) {
        words_map = e->words_len <= TK_HUGE_PAGE ? e->words_len : 0;
        words = words_map ? tk_map_huge(&words_map) : NULL;
        if (!words)
            words_map = 0;
    }
    entry_checks chk = { e, words, 0 };
    pthread_t tid;
    int threaded = 0;
    if (text && words && !(threaded = pthread_create(&tid, NULL, entry_checks_run, &chk) == 0))
        entry_checks_run(&chk);
    if (text && words && (threaded || chk.ok) && (a = tk_added_from_image(e->added, e->added_len, &err))) {
        memcpy(text, e->rest, e->rest_len);
        text[e->rest_len] = 0;
        m = tk_bpe_from_image(e->image, e->image_len, e->map, e->map_len, &err);
        rc = !m ? LA_EDATA : tk_bpe_set_entry(m, e->path);
        rc = rc == LA_OK ? parse_top(text, e->rest_len, &root, &model, NULL, NULL, NULL, &err) : rc;
    } else {
        rc = text ? LA_EDATA : LA_ENOMEM;
    }
    if (rc == LA_OK) {
        prebuilt_parts pre = { m, a, e->words_len > 0, NULL };
        rc = build_pipeline(t, root, NULL, model, NULL, NULL, &pre, &err);
    }
    if (threaded)
        pthread_join(tid, NULL);
    if (rc == LA_OK && !chk.ok)
        rc = LA_EDATA;
    if (!m)
        tk_entry_unmap(e->map, e->map_len);   /* not the model's */
    /* the vocabulary's words for direct previews, in the entry's memory
     * or in their copy */
    if (rc == LA_OK && e->words_len > 0 && tk_direct_table_use(t, words, e->words_len, words_map > 0))
        words_map = 0;            /* t's now */
    else if (rc == LA_OK && e->words_len > 0)
        tk_direct_take(t);
    if (words_map)
        munmap(words, words_map);
    if (rc != LA_OK && t->model != m)
        tk_bpe_free(m);           /* not handed over */
    if (rc != LA_OK && t->added != a)
        tk_added_free(a);
    cJSON_Delete(root);
    free(text);
    if (rc != LA_OK)
        clear_stages(t);
    return rc == LA_OK;
}

/* Builds t from the cache entry of key k made by this build, if there
 * is a good one (1); one that does not hold is removed (0). An entry
 * that passed its check, unchanged and settled since the load began
 * (began), is recorded so (tk_cache_ok_write): later loads of it as it is
 * need not check all its bytes again. */
static int load_cached(la_tokenizer *t, const tk_cache_key *k, const unsigned char *build, size_t build_len,
                       const struct timespec *began)
{
    tk_cache_entry e = { 0 };
    if (tk_cache_map(k, build, build_len, tk_cache_ok_find, &e) != LA_OK)
        return 0;
    int ok = load_entry(t, &e);
    struct stat after;
    if (ok && !e.vouched && stat(e.path, &after) == 0)
        tk_cache_ok_write(&e.st, began, &after, k, build, build_len);
    free(e.path);
    if (!ok) {
        tk_cache_drop(k, build);
        return 0;
    }
    return 1;
}

/* The error for a tokenizer file path (resolved from the argument arg)
 * that could not be read: when it is not there, what may be meant
 * instead (a model id not in the hub cache, a folder without
 * tokenizer.json); else open_file's or read_fd's own. */
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

/* An empty tokenizer for the file that path names (see
 * la_tokenizer_file), NULL with err set. */
static la_tokenizer *tokenizer_new(const char *path, la_err *err)
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
    return t;
}

/* Starts reading the model's vocabulary (*ctx, a tk_bpe_ahead *) on a
 * second thread as soon as validation has passed it, while the merges
 * after it (most of a large file) are still being validated: the first
 * "vocab" object of "model" only; build_model takes it over when it is
 * the one the model has, and another is read the usual way. */
static int read_ahead = 1;

void tk_load_set_ahead(int on) { read_ahead = on; }

/* The vocabulary read while it is validated (vocab_stream), rather than
 * once its validation is done: 1 where the process may run on several
 * processors, 2 always (tests), 0 never. */
static int stream_vocab = 1;

void tk_load_set_stream(int on) { stream_vocab = on; }

/* 1 when p[s] holds word (quotes included). */
static int span_has(const char *p, la_span s, const char *word)
{
    size_t k = strlen(word);
    for (size_t i = s.start; i + k <= s.end; i++)
        if (p[i] == word[0] && memcmp(p + i, word, k) == 0)
            return 1;
    return 0;
}

/* Whether the pairs that cut long pieces are worth making ahead: a
 * pipeline cuts only without a pre-tokenizer or behind one that splits
 * at a character its normalizer removes, so not when the pre-tokenizer
 * validated before the model names a kind that always splits. A guess
 * from the text: a wrong one costs time (pairs made and dropped, or made
 * after validation), never the result. */
static int cut_likely(const char *p, const la_members *top)
{
    static const char *const splits[] = { "\"Regex\"", "\"ByteLevel\"", "\"Metaspace\"", "\"Whitespace\"",
                                          "\"WhitespaceSplit\"", "\"Punctuation\"", "\"Digits\"",
                                          "\"BertPreTokenizer\"", "\"UnicodeScripts\"", "\"CharDelimiterSplit\"" };
    for (size_t i = top ? top->n : 0; i-- > 0;) {
        la_member mb = top->m[i];
        if (mb.key.end - mb.key.start != 15 || memcmp(p + mb.key.start, "\"pre_tokenizer\"", 15) != 0)
            continue;
        for (size_t k = 0; k < sizeof splits / sizeof *splits; k++)
            if (span_has(p, mb.val, splits[k]))
                return 0;
        return 1;
    }
    return 1;
}

/* What the validation of "model" hands on: the vocabulary read ahead,
 * and the members of the "vocab" object validated last (at vocab_at, 0:
 * none whole), which it is read from. */
typedef struct {
    tk_bpe_ahead *ahead;
    la_int_members vocab;
    size_t vocab_at;
    size_t stream_at;            /* the object ahead streams from (0: none) */
} load_ahead;

static void vocab_ahead(void *ctx, const char *p, const la_sub_member *m, const la_members *top)
{
    load_ahead *la = ctx;
    int cut = cut_likely(p, top) ? read_ahead : 0;
    if (la->ahead && la->stream_at == m->val.start)
        tk_bpe_ahead_confirm(la->ahead, m->val.end - m->val.start, m->count, cut, la->vocab_at == m->val.start);
    else if (read_ahead && !la->ahead && m->key.end - m->key.start == 7 &&
             memcmp(p + m->key.start, "\"vocab\"", 7) == 0 && p[m->val.start] == '{')
        la->ahead = tk_bpe_ahead_start(p + m->val.start, m->val.end - m->val.start, m->count, cut,
                                       la->vocab_at == m->val.start ? &la->vocab : NULL);
}

/* 1 when this process may run on more than one processor: the vocabulary
 * is then read while it is validated, by a thread that waits for the
 * validator between batches (on one processor it would take turns with
 * the validator for nothing). */
static int several_cpus(void)
{
    static int known;            /* 0: not asked yet, 1: one, 2: several */
    int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (!k) {
        cpu_set_t set;
        k = sched_getaffinity(0, sizeof set, &set) == 0 ? (CPU_COUNT(&set) > 1 ? 2 : 1)
                                                        : (sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 2 : 1);
        __atomic_store_n(&known, k, __ATOMIC_RELAXED);
    }
    return k == 2;
}

/* Starts reading the vocabulary object at p[pos] while it is validated
 * (tk_bpe_ahead_stream): its members go to a list that never moves, room
 * for as many as the rest of the file could hold (a member takes five
 * bytes at least); memory is reserved, not touched, beyond those written. */
static void vocab_stream(load_ahead *la, const char *p, size_t n, size_t pos, int cut)
{
    size_t cap = (n - pos) / 5 + 1;
    if ((stream_vocab == 1 && !several_cpus()) || !(la->vocab.m = tk_table_alloc(cap * sizeof *la->vocab.m)))
        return;
    la->vocab.cap = cap;
    la->vocab.fixed = 1;
    if ((la->ahead = tk_bpe_ahead_stream(p + pos, n - pos, &la->vocab, cut)) != NULL) {
        la->stream_at = pos;
        return;
    }
    tk_table_free(la->vocab.m);
    la->vocab.m = NULL;
    la->vocab.cap = 0;
    la->vocab.fixed = 0;
}

/* The length of the model's continuing_subword_prefix as the members of
 * "model" validated so far give it (the last one written plainly; 0
 * without): what the merges read ahead assume, checked once the options
 * are read. */
static size_t prefix_len(const char *p, const la_sub_members *sub)
{
    static const char key[] = "\"continuing_subword_prefix\"";
    for (size_t i = sub->n; i-- > 0;) {
        la_sub_member mb = sub->m[i];
        if (mb.key.end - mb.key.start != sizeof key - 1 || memcmp(p + mb.key.start, key, sizeof key - 1) != 0)
            continue;
        la_buf text = {0};
        size_t len = p[mb.val.start] == '"' && la_json_unescape(p, mb.val, &text, NULL) == LA_OK ? text.len : 0;
        la_buf_free(&text);
        return len;
    }
    return 0;
}

static size_t merges_ahead(void *ctx, const char *p, size_t n, la_span key, size_t pos, const la_sub_members *sub,
                           size_t *count)
{
    load_ahead *la = ctx;
    /* the vocabulary's ids are all plain integers: gone over without the
     * general validator's steps (its strings are short), its members kept
     * for the reading ahead (once: a second "vocab" is read the usual way) */
    if (key.end - key.start == 7 && memcmp(p + key.start, "\"vocab\"", 7) == 0) {
        if (!read_ahead || la->ahead || la->vocab.m)
            return la_json_int_object(p, n, pos, count);
        if (p[pos] == '{' && stream_vocab)
            vocab_stream(la, p, n, pos, sub->top && cut_likely(p, sub->top) ? read_ahead : 0);
        size_t end = la_json_int_object_list(p, n, pos, count, &la->vocab);
        la->vocab_at = end && !la->vocab.failed ? pos : 0;
        return end;
    }
    if (!la->ahead || key.end - key.start != 8 || memcmp(p + key.start, "\"merges\"", 8) != 0)
        return 0;
    return tk_bpe_ahead_merges(la->ahead, p, n, pos, prefix_len(p, sub), count);
}

/* Builds t by parsing the file's bytes fb (freed here); with build_len,
 * then writes the cache entry of key and build for them. Entries hold
 * BPE's tables only: the other model types are parsed each time (an
 * entry is only ever made from, and read for, a BPE file's bytes). */
static int load_parsed(la_tokenizer *t, file_bytes *fb, const struct stat *st, const tk_cache_key *key,
                       const unsigned char *build, size_t build_len, la_err *err)
{
    la_span model = {0, 0};
    cJSON *root = NULL;
    la_buf rest = {0}, added = {0};
    load_ahead la = { NULL, { NULL, 0, 0, 0, 0, 0, 0 }, 0, 0 };
    la_sub_members sub = { .name = "\"model\"", .name_len = 7, .on_member = vocab_ahead, .on_value = merges_ahead,
                           .ctx = &la };
    tk_added *added_raw = NULL;
    int rc = parse_top(fb->data, fb->len, &root, &model, build_len ? &rest : NULL, &sub, &added_raw, err);
    prebuilt_parts pre = { NULL, added_raw, 0, build_len ? &added : NULL };
    if (rc == LA_OK)
        rc = build_pipeline(t, root, fb->data, model, &sub, &la.ahead, &pre, err);
    if (t->added != added_raw)
        tk_added_free(added_raw);     /* not handed over */
    tk_bpe_ahead_drop(la.ahead);  /* not taken: it reads the file's bytes and la.vocab, freed next */
    if (la.vocab.fixed)
        tk_table_free(la.vocab.m);
    else
        free(la.vocab.m);
    free(sub.m);
    cJSON_Delete(root);
    file_free(fb);
    if (rc == LA_OK && build_len && tk_bpe_kind(t->model) == TK_MODEL_BPE)
        tk_cache_write(key, build, build_len, st, &rest, &added, t);
    la_buf_free(&rest);
    la_buf_free(&added);
    return rc;
}

static unsigned long file_reads;

unsigned long tk_load_file_reads(void) { return __atomic_load_n(&file_reads, __ATOMIC_RELAXED); }

static void counted_read(void) { __atomic_fetch_add(&file_reads, 1, __ATOMIC_RELAXED); }

/* The key of the file's bytes from its identity record (cache_id.c),
 * and the entry it names, when both are good (1: t built from it); a
 * record whose entry is missing or bad is removed (0: the file is then
 * hashed). */
static int load_by_identity(la_tokenizer *t, const struct stat *st, const unsigned char *build, size_t build_len,
                            const struct timespec *began)
{
    tk_cache_key key;
    if (!tk_cache_id_find(st, build, build_len, &key))
        return 0;
    if (load_cached(t, &key, build, build_len, began))
        return 1;
    tk_cache_id_drop(st, build);
    return 0;
}

la_tokenizer *la_tokenizer_load(const char *path, la_err *err)
{
    la_tokenizer *t = tokenizer_new(path, err);
    if (!t)
        return NULL;
    file_bytes fb;
    struct stat st, after;
    struct timespec began;
    int fd;
    /* before the file is looked at: its times are compared with it */
    clock_gettime(CLOCK_REALTIME, &began);
    if (open_file(t->path, &fd, &st, err) != LA_OK) {
        not_read(path, t->path, err);
        la_tokenizer_free(t);
        return NULL;
    }
    /* the cache's entry for the file's bytes and this build, when there
     * is a build id: its key from the file's identity record, else from
     * the file's bytes, read for it alone */
    tk_cache_key key;
    unsigned char build[TK_BUILD_ID_MAX];
    size_t build_len = tk_cache_build(build);
    if (build_len && load_by_identity(t, &st, build, build_len, &began)) {
        close(fd);
        t->from_cache = 1;
        return t;
    }
    if (build_len) {
        counted_read();
        if (tk_cache_key_of_fd(fd, (size_t)st.st_size, &key) == LA_OK && load_cached(t, &key, build, build_len, &began)) {
            if (fstat(fd, &after) == 0 && tk_cache_id_settled(&st, &began, &after))
                tk_cache_id_write(&st, &key, build, build_len);
            close(fd);
            t->from_cache = 1;
            return t;
        }
    }
    counted_read();
    int mapped = map_fd(fd, &fb, &st, t->path);
    int rc = mapped ? LA_OK : read_fd(fd, &fb, &st, err);
    int settled = rc == LA_OK && build_len && fstat(fd, &after) == 0 && tk_cache_id_settled(&st, &began, &after);
    if (!mapped)
        close(fd);
    if (rc != LA_OK) {
        not_read(path, t->path, err);
        la_tokenizer_free(t);
        return NULL;
    }
    /* the key of the bytes parsed, which the entry made from them goes under */
    if (build_len)
        tk_cache_key_of(fb.data, fb.len, &key);
    if (load_parsed(t, &fb, &st, &key, build, build_len, err) != LA_OK) {
        la_tokenizer_free(t);
        return NULL;
    }
    /* recorded once the entry is there (tk_cache_id_write looks); either
     * way the records of entries the new one displaced go */
    if (settled)
        tk_cache_id_write(&st, &key, build, build_len);
    else if (build_len)
        tk_cache_id_prune();
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
