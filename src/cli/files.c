/*
 * files.c - the files a run reads and writes, checked before anything is
 * opened for writing: standard descriptors that are really open, no file
 * both read and written (or written twice), -o only onto a regular file
 * or a new name, the output's final name behind symbolic links, and
 * what a name's extension says of compression.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/files.h"

#define PROC_SUPER_MAGIC 0x9fa0   /* statfs f_type of /proc (linux/magic.h) */

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

void cli_dir_of(const char *path, char *buf, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(buf, cap, ".");
    else if (slash == path)
        snprintf(buf, cap, "/");
    else
        snprintf(buf, cap, "%.*s", (int)(slash - path), path);
}

/* Looks at one name on the way to a file: whether its directory is on
 * /proc, and which of our descriptors it names (/proc/PID/fd/N, reached
 * as /dev/stdout, /dev/fd/N or any link to those folders), or -1. */
static void look_at_hop(const char *cur, cli_target *t)
{
    char dir[PATH_MAX], mine[64];
    struct statfs fs;
    cli_dir_of(cur, dir, sizeof dir);
    if (statfs(dir, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC)
        t->via_proc = 1;
    if (t->fd >= 0 || !t->via_proc)
        return;
    char *real = realpath(dir, NULL);
    snprintf(mine, sizeof mine, "/proc/%ld/fd", (long)getpid());
    const char *base = strrchr(cur, '/') ? strrchr(cur, '/') + 1 : cur;
    if (real && strcmp(real, mine) == 0 && *base && strspn(base, "0123456789") == strlen(base) && strlen(base) < 9)
        t->fd = atoi(base);
    free(real);
}

int cli_target_of(const char *path, cli_target *t)
{
    char cur[PATH_MAX], link[PATH_MAX];
    memset(t, 0, sizeof *t);
    t->fd = -1;
    if (snprintf(cur, sizeof cur, "%s", path) >= (int)sizeof cur) {
        errno = ENAMETOOLONG;
        return -1;
    }
    /* follow the links by hand: the last one may point at a name that
     * does not exist yet, which realpath would refuse */
    for (int hops = 0; hops < 40; hops++) {
        struct stat sb;
        look_at_hop(cur, t);
        ssize_t k;
        if (lstat(cur, &sb) != 0 || !S_ISLNK(sb.st_mode) || (k = readlink(cur, link, sizeof link - 1)) < 0) {
            t->final = strdup(cur);
            return t->final ? 0 : -1;
        }
        link[k] = 0;
        char *slash = strrchr(cur, '/');
        if (link[0] == '/' || !slash) {
            memcpy(cur, link, (size_t)k + 1);
        } else {
            size_t dirlen = (size_t)(slash - cur + 1);
            if (dirlen + (size_t)k >= sizeof cur) {
                errno = ENAMETOOLONG;
                return -1;
            }
            memcpy(cur + dirlen, link, (size_t)k + 1);
        }
    }
    errno = ELOOP;
    return -1;
}

/* One file the run touches: what the user called it, and what it is. */
typedef struct {
    const char *what;         /* "-o", "--rejects", "input", ... */
    const char *name;         /* as given, for messages; NULL for a descriptor */
    int exists;
    struct stat sb;           /* the file, when it exists */
    int parent_ok;            /* a new name: its folder, and the name in it */
    struct stat parent;
    const char *base;
    cli_target t;
} file_ref;

/* Fills r for NAME, or for descriptor fd when fd >= 0. */
static void ref_init(file_ref *r, const char *what, const char *name, int fd)
{
    memset(r, 0, sizeof *r);
    r->what = what;
    r->name = name;
    r->t.fd = -1;
    if (fd >= 0) {
        r->exists = fstat(fd, &r->sb) == 0;
        return;
    }
    r->exists = stat(name, &r->sb) == 0;
    if (cli_target_of(name, &r->t) != 0 || r->exists)
        return;
    char dir[PATH_MAX];
    cli_dir_of(r->t.final, dir, sizeof dir);
    r->parent_ok = stat(dir, &r->parent) == 0;
    r->base = strrchr(r->t.final, '/') ? strrchr(r->t.final, '/') + 1 : r->t.final;
}

/* Two references to one file: the same inode, or (for names that do not
 * exist yet) the same name in the same folder, however reached (links,
 * bind mounts). */
static int same_file(const file_ref *a, const file_ref *b)
{
    if (a->exists && b->exists)
        return a->sb.st_dev == b->sb.st_dev && a->sb.st_ino == b->sb.st_ino;
    return !a->exists && !b->exists && a->parent_ok && b->parent_ok && a->parent.st_dev == b->parent.st_dev &&
           a->parent.st_ino == b->parent.st_ino && strcmp(a->base, b->base) == 0;
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
    if (strcmp(other->what, "--tokenizer") == 0)
        cli_msg("%s is the tokenizer file (%s): it would be overwritten; write to another file", wl, ol);
    else if (strcmp(other->what, "input") == 0 || strcmp(other->what, "standard input") == 0)
        cli_msg("%s is also read by this run (%s): it would be overwritten; write to another file", wl, ol);
    else
        cli_msg("%s and %s are the same file: one would overwrite the other; give them different names", wl, ol);
    return EXIT_USAGE;
}

/* -o must be a regular file or a new name: renaming over a device, a
 * FIFO or a socket would replace the node itself, and a name reached
 * through /proc (/dev/stdout onto a redirected file) would replace the
 * shell's file. */
static int check_output_kind(const file_ref *o)
{
    if (!*o->name) {
        cli_msg("-o: the file name is empty");
        return EXIT_USAGE;
    }
    if ((!o->exists || S_ISREG(o->sb.st_mode)) && !o->t.via_proc)
        return 0;
    if (o->exists && S_ISDIR(o->sb.st_mode))
        cli_msg("-o %s: is a directory; name the file to write", o->name);
    else
        cli_msg("-o %s: not a regular file; to write to a device, a pipe or standard output, leave out -o and "
                "redirect standard output", o->name);
    return EXIT_USAGE;
}

/* --rejects and --stats: a descriptor they name (/dev/fd/3, /dev/stdout)
 * must have been open when the run started, and a file they name must be
 * one that can be written (not a folder, in a folder that exists), so
 * that nothing fails only after the whole run. */
static int check_side_file(const file_ref *r, const int std_closed[3])
{
    int fd = r->t.fd;
    if (!*r->name) {
        cli_msg("%s: the file name is empty", r->what);
        return EXIT_USAGE;
    }
    if (fd >= 0 && ((fd < 3 && std_closed[fd]) || (fd >= 3 && !r->exists))) {
        cli_msg("%s %s: descriptor %d was not open when the run started", r->what, r->name, fd);
        return EXIT_USAGE;
    }
    if (r->exists && S_ISDIR(r->sb.st_mode)) {
        cli_msg("%s %s: cannot create: Is a directory", r->what, r->name);
        return EXIT_CANTCREAT;
    }
    if (!r->exists && !r->parent_ok) {
        cli_msg("%s: cannot create: %s", r->name, strerror(ENOENT));
        return EXIT_CANTCREAT;
    }
    return 0;
}

/* The tokenizer file --tokenizer PATH reads (a file, a model folder's
 * tokenizer.json, or a model id's file in the hub cache). */
static void tokenizer_ref(file_ref *r, const char *path)
{
    char *file = la_tokenizer_file(path);
    ref_init(r, "--tokenizer", path, -1);
    if (file) {
        r->exists = stat(file, &r->sb) == 0;
        free(file);
    }
}

/* An input that reads standard input while it was closed at start: -
 * (the descriptor itself), or /dev/stdin and its like. */
static int closed_input(const file_ref *r, const int std_closed[3])
{
    if (!std_closed[0] || (r->name && r->t.fd != 0))
        return 0;
    if (r->name)
        cli_msg("%s: standard input is closed: name the input FILE, or give the input on standard input", r->name);
    else
        cli_msg("standard input is closed: name the input FILE, or give the input on standard input");
    return EXIT_NOINPUT;
}

int cli_check_files(const cli_opts *o)
{
    size_t n = o->ninputs + 6, k = 0, nw;
    file_ref *refs = calloc(n, sizeof *refs);
    if (!refs) {
        cli_msg("out of memory");
        return EXIT_IOERR;
    }
    int rc = 0;
    if (!o->output && o->std_closed[1]) {
        cli_msg("standard output is closed: give -o FILE, or run with standard output open");
        rc = EXIT_CANTCREAT;
    }
    /* the written files first: refs[0..nw) */
    if (o->output)
        ref_init(&refs[k++], "-o", o->output, -1);
    else
        ref_init(&refs[k++], "standard output", NULL, 1);
    if (o->output && !rc)
        rc = check_output_kind(&refs[0]);
    if (o->rejects) {
        ref_init(&refs[k], "--rejects", o->rejects, -1);
        rc = rc ? rc : check_side_file(&refs[k], o->std_closed);
        k++;
    }
    if (o->stats) {
        ref_init(&refs[k], "--stats", o->stats, -1);
        rc = rc ? rc : check_side_file(&refs[k], o->std_closed);
        k++;
    }
    nw = k;
    for (size_t i = 0; i < o->ninputs; i++) {
        int std_in = strcmp(o->inputs[i], "-") == 0;
        ref_init(&refs[k], std_in ? "standard input" : "input", std_in ? NULL : o->inputs[i], std_in ? 0 : -1);
        rc = rc ? rc : closed_input(&refs[k], o->std_closed);
        k++;
    }
    if (o->dataset_info)
        ref_init(&refs[k++], "--dataset-info", o->dataset_info, -1);
    /* also when the run does not read it (virtual mode, --unit word or
     * char): a file named there is the user's tokenizer all the same */
    if (o->tokenizer_path)
        tokenizer_ref(&refs[k++], o->tokenizer_path);
    for (size_t i = 0; i < nw && !rc; i++)
        for (size_t j = i + 1; j < k && !rc; j++)
            if (same_file(&refs[i], &refs[j]) && !shareable(&refs[i]))
                rc = refuse(&refs[i], &refs[j]);
    for (size_t i = 0; i < k; i++)
        free(refs[i].t.final);
    free(refs);
    return rc;
}

int cli_compression_of(const char *name)
{
    /* what a name ending in each means; the tools that write them and
     * that we do not (lz4, lzip, lzma, lzop, compress, brotli, snappy,
     * zip, 7-Zip, and tar shorthands) are refused, not written plain */
    static const struct {
        const char *ext;
        int kind;
    } exts[] = {
        {".gz", LA_Z_GZIP}, {".zst", LA_Z_ZSTD}, {".xz", LA_Z_XZ}, {".bz2", LA_Z_BZIP2},
        {".lz4", -1}, {".lz", -1}, {".lzma", -1}, {".lzo", -1}, {".Z", -1}, {".br", -1}, {".sz", -1},
        {".snappy", -1}, {".zip", -1}, {".7z", -1}, {".bz", -1}, {".tgz", -1}, {".tbz2", -1}, {".txz", -1},
        {".zstd", -1}, {".gzip", -1}, {".bzip2", -1},
    };
    /* in any case of letters (data.GZ is gzip's too, and data.z as
     * refused as data.Z) */
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t k = strlen(exts[i].ext);
        if (n > k && strcasecmp(name + n - k, exts[i].ext) == 0)
            return exts[i].kind;
    }
    return LA_Z_NONE;
}
