/*
 * layout.c - LLaMA-Factory's description of a dataset, read as
 * LLaMA-Factory reads it (its parser's DatasetAttr): "formatting" alpaca
 * (the default), sharegpt or openai; a "columns" object replaces every
 * column (one it leaves out is not used); a "tags" object replaces every
 * tag. Without them the defaults are instruction / input / output (no
 * history) and conversations with from / value / human / gpt. --columns
 * and --tags take the same names, so that an entry translates word for
 * word. Preference data and layouts without answers are refused: there
 * is no supervised answer to preview.
 */
#define _GNU_SOURCE   /* strcasestr */
#include "cli/layout.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { C_PROMPT, C_QUERY, C_RESPONSE, C_HISTORY, C_MESSAGES, C_SYSTEM, C_TOOLS, C_IMAGES, C_VIDEOS, C_AUDIOS,
       C_COUNT };
static const char *const column_keys[] = {"prompt", "query", "response", "history", "messages", "system",
                                          "tools", "images", "videos", "audios", NULL};
enum { T_ROLE, T_CONTENT, T_USER, T_ASSISTANT, T_OBSERVATION, T_FUNCTION, T_SYSTEM, T_COUNT };
static const char *const tag_keys[] = {"role_tag", "content_tag", "user_tag", "assistant_tag",
                                       "observation_tag", "function_tag", "system_tag", NULL};
/* preference data: no single answer to preview */
static const char *const preference_keys[] = {"chosen", "rejected", "kto_tag", NULL};

static const char *const column_defaults[C_COUNT] = {"instruction", "input", "output", NULL, "conversations"};
static const char *const tag_defaults[T_COUNT] = {"from", "value", "human", "gpt", "observation",
                                                  "function_call", "system"};

/* A layout being read: names by index, and whether columns/tags were given. */
typedef struct {
    const char *col[C_COUNT], *tag[T_COUNT];
    int cols_given, tags_given;
    const char *format;    /* "alpaca", "sharegpt", "openai" */
} names;

static int key_index(const char *const *keys, const char *k)
{
    for (int i = 0; keys[i]; i++)
        if (strcmp(keys[i], k) == 0)
            return i;
    return -1;
}

/* Where a layout came from, for messages: "--columns" or
 * "FILE: dataset \"NAME\"". */
typedef struct {
    char where[512];
} origin;

/* One name of a columns or tags list. 0, or an exit code after saying why. */
static int set_name(names *nm, int tags, const char *key, const char *val, const origin *from)
{
    const char *what = tags ? "tags" : "columns";
    if (!tags && key_index(preference_keys, key) >= 0) {
        cli_msg("%s: %s.%s: preference data (chosen/rejected or KTO labels) has no single answer for LookAhead "
                "Tuning to preview; give supervised (SFT) data",
                from->where, what, key);
        return EXIT_USAGE;
    }
    int i = key_index(tags ? tag_keys : column_keys, key);
    if (i < 0) {
        cli_msg("%s: unknown %s '%s' (known: %s)", from->where, tags ? "tag" : "column", key,
                tags ? "role_tag, content_tag, user_tag, assistant_tag, observation_tag, function_tag, system_tag"
                     : "prompt, query, response, history, messages, system, tools, images, videos, audios");
        return EXIT_USAGE;
    }
    if (val && !*val) {
        cli_msg("%s: %s.%s is empty", from->where, what, key);
        return EXIT_USAGE;
    }
    if (tags)
        nm->tag[i] = val;
    else
        nm->col[i] = val;
    return 0;
}

/* Parses "key=value,key=value" (a copy the names point into). */
static int parse_pairs(names *nm, int tags, char *s, const origin *from)
{
    if (tags)
        nm->tags_given = 1;
    else
        nm->cols_given = 1;
    for (char *item = strtok(s, ","); item; item = strtok(NULL, ",")) {
        char *eq = strchr(item, '=');
        if (!eq || eq == item) {
            cli_msg("%s: expected KEY=NAME, as in %s, got '%s'", from->where,
                    tags ? "role_tag=role" : "prompt=question", item);
            return EXIT_USAGE;
        }
        *eq = 0;
        int rc = set_name(nm, tags, item, eq + 1, from);
        if (rc)
            return rc;
    }
    return 0;
}

/* A "columns" or "tags" object of a dataset entry. */
static int object_names(names *nm, int tags, const cJSON *obj, const origin *from)
{
    const char *what = tags ? "tags" : "columns";
    if (!obj)
        return 0;
    if (!cJSON_IsObject(obj)) {
        cli_msg("%s: \"%s\" is not an object", from->where, what);
        return EXIT_DATA;
    }
    if (tags)
        nm->tags_given = 1;
    else
        nm->cols_given = 1;
    for (const cJSON *m = obj->child; m; m = m->next) {
        if (!cJSON_IsString(m) && !cJSON_IsNull(m) && !(!tags && cJSON_IsBool(m))) {
            cli_msg("%s: %s.%s is not a string", from->where, what, m->string);
            return EXIT_DATA;
        }
        int rc = set_name(nm, tags, m->string, cJSON_IsString(m) ? m->valuestring : NULL, from);
        if (rc)
            return rc;
    }
    return 0;
}

/* 1 when both names are given and equal. */
static int same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* The names into o->cfg.layout and the format, refusing a layout with
 * nothing to preview. */
static int apply(const names *nm, cli_opts *o, const origin *from)
{
    la_layout *l = &o->cfg.layout;
    const char *const *col = nm->cols_given ? nm->col : column_defaults;
    const char *const *tag = nm->tags_given ? nm->tag : tag_defaults;
    int chat = strcmp(nm->format, "alpaca") != 0;
    /* what tag mistakes are said of: --tags, when given beside --columns */
    const char *tags_from = nm->tags_given && strcmp(from->where, "--columns") == 0 ? "--tags" : from->where;
    memset(l, 0, sizeof *l);
    l->given = 1;
    l->prompt = col[C_PROMPT];
    l->query = col[C_QUERY];
    l->response = col[C_RESPONSE];
    l->history = col[C_HISTORY];
    l->messages = col[C_MESSAGES];
    l->role_tag = tag[T_ROLE];
    l->content_tag = tag[T_CONTENT];
    l->user_tag = tag[T_USER];
    l->assistant_tag = tag[T_ASSISTANT];
    o->cfg.format = chat ? LA_FMT_SHAREGPT : LA_FMT_ALPACA;
    l->openai = strcmp(nm->format, "openai") == 0;
    if (!chat && !l->response) {
        cli_msg("%s: no response column (%s): without answers (pre-training text, prompts only) there is "
                "nothing for LookAhead Tuning to preview",
                from->where, l->prompt ? "only a prompt" : "no columns for answers");
        return EXIT_USAGE;
    }
    if (!chat && !l->prompt && !l->query) {
        cli_msg("%s: neither a prompt nor a query column: the preview has no instruction to go into", from->where);
        return EXIT_USAGE;
    }
    if (chat && same(l->user_tag, l->assistant_tag)) {
        cli_msg("%s: user_tag and assistant_tag are both \"%s\": every message would be an instruction and an "
                "answer at once; name each role's own tag",
                tags_from, l->user_tag);
        return EXIT_USAGE;
    }
    if (chat && !l->messages) {
        cli_msg("%s: no messages column for %s records", from->where, nm->format);
        return EXIT_USAGE;
    }
    if (!chat && (same(l->response, l->prompt) || same(l->response, l->query))) {
        cli_msg("%s: the response column \"%s\" is also the %s column: the answer would be edited as the "
                "instruction; name the instruction's own column",
                from->where, l->response, same(l->response, l->prompt) ? "prompt" : "query");
        return EXIT_USAGE;
    }
    if (chat && (!l->role_tag || !l->content_tag || !l->user_tag || !l->assistant_tag)) {
        cli_msg("%s: role_tag, content_tag, user_tag and assistant_tag must all be named (given tags replace all "
                "of LLaMA-Factory's defaults)",
                tags_from);
        return EXIT_USAGE;
    }
    return 0;
}

/* Reads the whole dataset_info file. */
static char *read_info(const char *path, size_t *len, int *rc)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);   /* a FIFO does not block */
    struct stat sb;
    const char *why = fd < 0 || fstat(fd, &sb) != 0 ? strerror(errno)
                      : !S_ISREG(sb.st_mode)          ? "not a regular file"
                      : sb.st_size > (64 << 20)       ? "larger than 64 MiB"
                                                      : NULL;
    if (why) {
        cli_msg("--dataset-info %s: %s", path, why);
        if (fd >= 0)
            close(fd);
        *rc = EXIT_NOINPUT;
        return NULL;
    }
    char *buf = malloc((size_t)sb.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)sb.st_size) {
        ssize_t k = read(fd, buf + got, (size_t)sb.st_size - got);
        if (k <= 0) {
            cli_msg("--dataset-info %s: %s", path, k < 0 ? strerror(errno) : "file shrank while read");
            free(buf);
            close(fd);
            *rc = EXIT_IOERR;
            return NULL;
        }
        got += (size_t)k;
    }
    close(fd);
    if (!buf) {
        cli_msg("out of memory");
        *rc = EXIT_IOERR;
        return NULL;
    }
    *len = got;
    return buf;
}

/* Dataset names that contain `name` (any case), for a suggestion. */
static void suggest(const cJSON *root, const char *name, char *out, size_t cap)
{
    size_t n = 0, shown = 0, total = 0;
    out[0] = 0;
    for (const cJSON *m = root->child; m; m = m->next) {
        total++;
        if (!strcasestr(m->string, name) && !strcasestr(name, m->string))
            continue;
        if (shown++ < 5 && n + strlen(m->string) + 16 < cap)
            n += (size_t)snprintf(out + n, cap - n, "%s\"%s\"", n ? ", " : "; did you mean ", m->string);
    }
    if (shown)
        snprintf(out + n, cap - n, "?");
    else
        snprintf(out, cap, "; it names %zu datasets", total);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The entry's file_name: a file, or every file of a folder in name order. */
static int entry_files(cli_layout *L, const cJSON *entry, const origin *from)
{
    const cJSON *fn = cJSON_GetObjectItemCaseSensitive(entry, "file_name");
    if (!cJSON_IsString(fn) || !*fn->valuestring) {
        static const char *const remote[] = {"hf_hub_url", "ms_hub_url", "om_hub_url", "script_url",
                                             "cloud_file_name", NULL};
        for (int i = 0; remote[i]; i++) {
            const cJSON *u = cJSON_GetObjectItemCaseSensitive(entry, remote[i]);
            if (cJSON_IsString(u)) {
                cli_msg("%s has no local file, only %s \"%s\"; nothing is downloaded: fetch the data yourself "
                        "and give its file(s) as FILE",
                        from->where, remote[i], u->valuestring);
                return EXIT_NOINPUT;
            }
        }
        cli_msg("%s has no \"file_name\": give the data file(s) as FILE", from->where);
        return EXIT_NOINPUT;
    }
    /* relative to the folder of dataset_info.json */
    const char *slash = strrchr(L->info_file, '/');
    size_t dl = slash ? (size_t)(slash - L->info_file) + 1 : 0;
    size_t fl = strlen(fn->valuestring);
    char *path = malloc(dl + fl + 1);
    if (!path) {
        cli_msg("out of memory");
        return EXIT_IOERR;
    }
    if (fn->valuestring[0] == '/')
        dl = 0;
    memcpy(path, L->info_file, dl);
    memcpy(path + dl, fn->valuestring, fl + 1);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        cli_msg("%s: file_name %s: %s", from->where, path, strerror(errno));
        free(path);
        return EXIT_NOINPUT;
    }
    if (!S_ISDIR(sb.st_mode)) {
        L->files = malloc(sizeof *L->files);
        if (!L->files) {
            free(path);
            cli_msg("out of memory");
            return EXIT_IOERR;
        }
        L->files[L->nfiles++] = path;
        return 0;
    }
    DIR *d = opendir(path);
    if (!d) {
        cli_msg("%s: file_name %s: %s", from->where, path, strerror(errno));
        free(path);
        return EXIT_NOINPUT;
    }
    size_t cap = 0;
    int rc = 0;
    for (struct dirent *e; !rc && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;   /* hidden files, . and .. */
        size_t nl = strlen(e->d_name);
        char *f = malloc(strlen(path) + nl + 2);
        struct stat fs;
        if (!f || (L->nfiles == cap && !(L->files = realloc(L->files, (cap = cap ? 2 * cap : 16) * sizeof *L->files)))) {
            free(f);
            cli_msg("out of memory");
            rc = EXIT_IOERR;
            break;
        }
        sprintf(f, "%s/%s", path, e->d_name);
        if (stat(f, &fs) == 0 && S_ISREG(fs.st_mode))
            L->files[L->nfiles++] = f;
        else
            free(f);
    }
    closedir(d);
    if (!rc && L->nfiles == 0) {
        cli_msg("%s: the folder %s holds no files", from->where, path);
        rc = EXIT_NOINPUT;
    }
    free(path);
    if (!rc)
        qsort(L->files, L->nfiles, sizeof *L->files, by_name);
    return rc;
}

/* One entry of dataset_info.json into names (and files). */
static int read_entry(cli_layout *L, names *nm, origin *from)
{
    struct stat sb;
    size_t il = strlen(L->info);
    int is_dir = stat(L->info, &sb) == 0 && S_ISDIR(sb.st_mode);
    L->info_file = malloc(il + sizeof "/dataset_info.json");
    if (!L->info_file) {
        cli_msg("out of memory");
        return EXIT_IOERR;
    }
    sprintf(L->info_file, "%s%s", L->info, is_dir ? "/dataset_info.json" : "");
    size_t len;
    int rc = 0;
    char *text = read_info(L->info_file, &len, &rc);
    if (!text)
        return rc;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        cli_msg("--dataset-info %s: not valid JSON (near byte %zu)", L->info_file,
                end ? (size_t)(end - text) + 1 : (size_t)0);
        free(text);
        return EXIT_DATA;
    }
    free(text);
    L->root = root;
    if (!cJSON_IsObject(root)) {
        cli_msg("--dataset-info %s: not a JSON object of datasets", L->info_file);
        return EXIT_DATA;
    }
    snprintf(from->where, sizeof from->where, "%s: dataset \"%s\"", L->info_file, L->dataset);
    const cJSON *entry = cJSON_GetObjectItemCaseSensitive(root, L->dataset);
    if (!entry) {
        char hint[400];
        suggest(root, L->dataset, hint, sizeof hint);
        cli_msg("%s: no dataset \"%s\"%s", L->info_file, L->dataset, hint);
        return EXIT_USAGE;
    }
    if (!cJSON_IsObject(entry)) {
        cli_msg("%s is not an object", from->where);
        return EXIT_DATA;
    }
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(entry, "formatting");
    nm->format = cJSON_IsString(f) ? f->valuestring : "alpaca";
    if (f && !cJSON_IsString(f)) {
        cli_msg("%s: \"formatting\" is not a string", from->where);
        return EXIT_DATA;
    }
    if (strcmp(nm->format, "alpaca") && strcmp(nm->format, "sharegpt") && strcmp(nm->format, "openai")) {
        cli_msg("%s: unknown formatting \"%s\" (known: alpaca, sharegpt, openai)", from->where, nm->format);
        return EXIT_USAGE;
    }
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(entry, "ranking"))) {
        cli_msg("%s is preference data (ranking: true): it has no single answer for LookAhead Tuning to preview; "
                "give supervised (SFT) data",
                from->where);
        return EXIT_USAGE;
    }
    if ((rc = object_names(nm, 0, cJSON_GetObjectItemCaseSensitive(entry, "columns"), from)) ||
        (rc = object_names(nm, 1, cJSON_GetObjectItemCaseSensitive(entry, "tags"), from)))
        return rc;
    L->entry = entry;
    return 0;
}

int cli_layout_resolve(cli_layout *L, cli_opts *o, int have_files)
{
    names nm;
    origin from;
    memset(&nm, 0, sizeof nm);
    if (!L->info && !L->dataset && !L->columns && !L->tags)
        return 0;
    if (!L->info != !L->dataset) {
        cli_msg(L->info ? "--dataset-info needs --dataset NAME (the entry to use)"
                        : "--dataset needs --dataset-info FILE (LLaMA-Factory's dataset_info.json)");
        return EXIT_USAGE;
    }
    if (L->info && (L->columns || L->tags)) {
        cli_msg("--columns and --tags cannot be combined with --dataset-info: edit the entry, or give the "
                "columns and tags alone");
        return EXIT_USAGE;
    }
    if (o->cfg.fields_given) {
        cli_msg("--input-field and --output-field cannot be combined with a layout (--dataset-info, --columns, "
                "--tags): name the columns there");
        return EXIT_USAGE;
    }
    int rc;
    if (L->info) {
        if ((rc = read_entry(L, &nm, &from)))
            return rc;
        o->dataset_info = L->info_file;
    } else {
        strcpy(from.where, L->columns ? "--columns" : "--tags");
        if (L->columns && !(L->columns_copy = strdup(L->columns)))
            return EXIT_IOERR;
        if (L->tags && !(L->tags_copy = strdup(L->tags)))
            return EXIT_IOERR;
        if (L->columns && (rc = parse_pairs(&nm, 0, L->columns_copy, &from)))
            return rc;
        strcpy(from.where, "--tags");
        if (L->tags && (rc = parse_pairs(&nm, 1, L->tags_copy, &from)))
            return rc;
        strcpy(from.where, L->columns ? "--columns" : "--tags");
        /* the format: --format's, else sharegpt when tags or a messages column say so */
        nm.format = L->format_given ? la_format_name(o->cfg.format)
                    : L->tags || nm.col[C_MESSAGES] ? "sharegpt" : "alpaca";
        if (strcmp(nm.format, "alpaca") && strcmp(nm.format, "sharegpt")) {
            cli_msg("--columns and --tags describe alpaca or sharegpt records, not --format %s", nm.format);
            return EXIT_USAGE;
        }
    }
    int want = o->cfg.format;
    if ((rc = apply(&nm, o, &from)))
        return rc;
    if (L->info && L->format_given && want != o->cfg.format) {
        cli_msg("%s: formatting is \"%s\", not --format %s", from.where, nm.format, la_format_name(want));
        return EXIT_USAGE;
    }
    return L->info && !have_files ? entry_files(L, L->entry, &from) : 0;
}

void cli_layout_free(cli_layout *L)
{
    cJSON_Delete(L->root);
    free(L->info_file);
    free(L->columns_copy);
    free(L->tags_copy);
    for (size_t i = 0; i < L->nfiles; i++)
        free(L->files[i]);
    free(L->files);
}
