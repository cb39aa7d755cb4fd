/*
 * files.c - the files a run reads and writes, checked before anything is
 * opened for writing: standard descriptors that are really open, no file
 * both read and written (or written twice), -o only onto a regular file
 * or a new name, and the output's final name behind symbolic links.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/files.h"

int cli_std_fds_open(int was_closed[3])
{
    for (int fd = 0; fd < 3; fd++) {
        was_closed[fd] = 0;
        if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
            continue;
        /* open returns the lowest free descriptor: this one */
        int nfd = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (nfd != fd) {
            if (nfd >= 0)
                close(nfd);
            return -1;
        }
        was_closed[fd] = 1;
    }
    return 0;
}

int cli_is_system_path(const char *path)
{
    return strncmp(path, "/dev/", 5) == 0 || strncmp(path, "/proc/", 6) == 0;
}

/* One file the run touches: what the user called it, and what it is. */
typedef struct {
    const char *what;         /* "-o", "--rejects", "input", ... */
    const char *name;         /* as given, for messages */
    int exists;
    struct stat sb;
    char *resolved;           /* absolute, links followed; new string */
} file_ref;

/* PATH's directory resolved, plus its last component: the name a file
 * that does not exist yet would get. New string, NULL if the directory
 * cannot be resolved (the open will then fail with its own reason). */
static char *resolve_new(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path + 1)) : strdup(".");
    if (!dir)
        return NULL;
    char *rdir = realpath(dir, NULL);
    free(dir);
    if (!rdir)
        return NULL;
    const char *base = slash ? slash + 1 : path;
    size_t n = strlen(rdir) + strlen(base) + 2;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s/%s", strcmp(rdir, "/") == 0 ? "" : rdir, base);
    free(rdir);
    return out;
}

char *cli_final_name(const char *path, int *via_system)
{
    char cur[PATH_MAX], link[PATH_MAX];
    if (snprintf(cur, sizeof cur, "%s", path) >= (int)sizeof cur)
        return NULL;
    *via_system = cli_is_system_path(cur);
    /* follow the links by hand: the last one may point at a name that
     * does not exist yet, which realpath would refuse */
    for (int hops = 0; hops < 40; hops++) {
        struct stat sb;
        if (lstat(cur, &sb) != 0 || !S_ISLNK(sb.st_mode))
            return strdup(cur);
        ssize_t k = readlink(cur, link, sizeof link - 1);
        if (k < 0)
            return strdup(cur);
        link[k] = 0;
        char *slash = strrchr(cur, '/');
        if (link[0] == '/' || !slash) {
            memcpy(cur, link, (size_t)k + 1);
        } else {
            size_t dirlen = (size_t)(slash - cur + 1);
            if (dirlen + (size_t)k >= sizeof cur)
                return NULL;
            memcpy(cur + dirlen, link, (size_t)k + 1);
        }
        *via_system |= cli_is_system_path(cur);
    }
    errno = ELOOP;
    return NULL;
}

static void ref_init(file_ref *r, const char *what, const char *name, int fd)
{
    memset(r, 0, sizeof *r);
    r->what = what;
    r->name = name;
    if (fd >= 0) {
        r->exists = fstat(fd, &r->sb) == 0;
        return;
    }
    r->exists = stat(name, &r->sb) == 0;
    if (r->exists) {
        r->resolved = realpath(name, NULL);
    } else {
        int sys;
        char *final = cli_final_name(name, &sys);
        r->resolved = final ? resolve_new(final) : NULL;
        free(final);
    }
}

/* Two references to one file: the same inode, or (for names that do not
 * exist yet) the same resolved path. */
static int same_file(const file_ref *a, const file_ref *b)
{
    if (a->exists && b->exists)
        return a->sb.st_dev == b->sb.st_dev && a->sb.st_ino == b->sb.st_ino;
    return !a->exists && !b->exists && a->resolved && b->resolved && strcmp(a->resolved, b->resolved) == 0;
}

/* Terminals and /dev/null may be shared: nothing written there is a file
 * that another write could spoil. */
static int shareable(const file_ref *r)
{
    return r->exists && S_ISCHR(r->sb.st_mode);
}

/* "-o out.jsonl", "input -", or "standard output": how messages name r. */
static void label(const file_ref *r, char *buf, size_t cap)
{
    if (r->name)
        snprintf(buf, cap, "%s %s", r->what, r->name);
    else
        snprintf(buf, cap, "%s", r->what);
}

static int refuse(const file_ref *w, const file_ref *other)
{
    char wl[PATH_MAX + 32], ol[PATH_MAX + 32];
    label(w, wl, sizeof wl);
    label(other, ol, sizeof ol);
    if (strcmp(other->what, "input") == 0 || strcmp(other->what, "standard input") == 0 ||
        strcmp(other->what, "--tokenizer") == 0)
        cli_msg("%s is also read by this run (%s): it would be overwritten; write to another file", wl, ol);
    else
        cli_msg("%s and %s are the same file: one would overwrite the other; give them different names", wl, ol);
    return EXIT_USAGE;
}

/* -o must be a regular file or a new name: renaming over a device, a
 * FIFO or a socket would replace the node itself, and /dev/stdout
 * onto a redirected file would replace the shell's file. */
static int check_output_kind(const file_ref *o)
{
    int sys = 0;
    char *final = cli_final_name(o->name, &sys);
    free(final);
    if ((!o->exists || S_ISREG(o->sb.st_mode)) && !sys)
        return 0;
    if (o->exists && S_ISDIR(o->sb.st_mode)) {
        cli_msg("-o %s: is a directory; name the file to write", o->name);
        return EXIT_USAGE;
    }
    cli_msg("-o %s: not a regular file; to write to a device or a pipe, leave out -o and redirect standard output "
            "(> %s)", o->name, o->name);
    return EXIT_USAGE;
}

/* The tokenizer file a --tokenizer PATH reads, when PATH is a file or a
 * model folder (a model id in the hub cache is nobody's output). */
static void tokenizer_ref(file_ref *r, const char *path)
{
    struct stat sb;
    char buf[PATH_MAX];
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) &&
        snprintf(buf, sizeof buf, "%s/tokenizer.json", path) < (int)sizeof buf) {
        ref_init(r, "--tokenizer", path, -1);
        r->exists = stat(buf, &r->sb) == 0;
        return;
    }
    ref_init(r, "--tokenizer", path, -1);
}

int cli_check_files(const cli_opts *o)
{
    size_t n = o->ninputs + 5, k = 0, nw;
    file_ref *refs = calloc(n, sizeof *refs);
    if (!refs) {
        cli_msg("out of memory");
        return EXIT_IOERR;
    }
    /* the written files first: refs[0..nw) */
    if (o->output)
        ref_init(&refs[k++], "-o", o->output, -1);
    else
        ref_init(&refs[k++], "standard output", NULL, 1);
    if (o->rejects)
        ref_init(&refs[k++], "--rejects", o->rejects, -1);
    if (o->stats)
        ref_init(&refs[k++], "--stats", o->stats, -1);
    nw = k;
    for (size_t i = 0; i < o->ninputs; i++) {
        int std_in = strcmp(o->inputs[i], "-") == 0;
        ref_init(&refs[k++], std_in ? "standard input" : "input", std_in ? NULL : o->inputs[i], std_in ? 0 : -1);
    }
    if (o->tokenizer_path && o->cfg.mode == LA_MODE_REAL && o->cfg.unit == LA_UNIT_TOKEN)
        tokenizer_ref(&refs[k++], o->tokenizer_path);
    int rc = o->output ? check_output_kind(&refs[0]) : 0;
    for (size_t i = 0; i < nw && !rc; i++)
        for (size_t j = i + 1; j < k && !rc; j++) {
            if (same_file(&refs[i], &refs[j]) && !shareable(&refs[i]))
                rc = refuse(&refs[i], &refs[j]);
        }
    for (size_t i = 0; i < k; i++)
        free(refs[i].resolved);
    free(refs);
    return rc;
}
