/*
 * output.c - the files a run writes, made so that none is ever left
 * half-written, stale or behind: -o's file (written without a name, and
 * named and renamed over FILE only when the run succeeds), the --stats
 * report (whole or not at all), --rejects and --stats opened in place
 * where a rename cannot serve, and the signal handlers that remove what
 * an interrupted run leaves.
 */
#define _GNU_SOURCE               /* O_TMPFILE */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/files.h"
#include "cli/output.h"

/* The temporary files (output, statistics), removed by the signal
 * handler, and the --stats file an interrupted run removes so that an
 * earlier report is not left looking like this run's: the only mutable
 * global state, and it lives in the CLI. */
static char tmp_path[PATH_MAX];
static char stats_tmp[PATH_MAX];
static char stats_final[PATH_MAX];

static void remove_temps(void)
{
    if (tmp_path[0])
        unlink(tmp_path);
    if (stats_tmp[0])
        unlink(stats_tmp);
    if (stats_final[0])
        unlink(stats_final);
}

static void on_signal(int sig)
{
    remove_temps();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void say(const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(2, s, n);
        if (w <= 0 && errno != EINTR)
            return;
        if (w > 0)
            s += w, n -= (size_t)w;
    }
}

/* Only what a signal handler may call: unlink, write, _exit. */
static void on_bus(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    const char *entry = la_tokenizer_cache_fault(si->si_addr), *file = la_tokenizer_file_fault(si->si_addr);
    if (!entry && !file) {
        on_signal(sig);
        return;
    }
    remove_temps();
    if (entry) {
        say("lookahead: the tokenizer cache entry ");
        say(entry);
        say(" was cut short while in use by another program; run again (or use --no-cache)\n");
    } else {
        say("lookahead: the tokenizer file ");
        say(file);
        say(" could not be read while loading (cut short by another program, or a read error); check it and run "
            "again\n");
    }
    _exit(EXIT_IOERR);
}

void cli_catch_bus(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_bus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, NULL);
}

/* Whether a signal's default action ends the process (the others stop,
 * continue or are ignored, and cannot end a run). */
static int ends_process(int sig)
{
    static const int harmless[] = {SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGWINCH, SIGKILL};
    for (size_t i = 0; i < sizeof harmless / sizeof harmless[0]; i++)
        if (sig == harmless[i])
            return 0;
    return 1;
}

/* Every signal whose default action ends the process, real-time ones and
 * crashes included, removes the temporary files first. SIGPIPE is
 * ignored (a closed pipe is a write error, handled where it happens) and
 * so is SIGXFSZ (a file over the size limit is a write error too: EFBIG).
 * A signal ignored by whoever started us (nohup, a shell's background
 * job) stays ignored. SIGBUS is cli_catch_bus's. */
void cli_catch_signals(void)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction old;
        if (sig == SIGPIPE || sig == SIGXFSZ || sig == SIGBUS || !ends_process(sig) || sigaction(sig, NULL, &old) != 0 ||
            old.sa_handler == SIG_IGN)
            continue;
        signal(sig, on_signal);   /* fails harmlessly on the C library's own signals */
    }
}

/* The name of a temporary file next to final (so that the rename stays
 * within one file system), .BASE.tmp-XXXXXX with BASE cut short to fit
 * NAME_MAX, into path: 0, or -1. */
static int make_temp_name(const char *final, char *path, size_t cap)
{
    const char *slash = strrchr(final, '/');
    const char *base = slash ? slash + 1 : final;
    int dirlen = slash ? (int)(slash - final + 1) : 0;
    int baselen = (int)strlen(base), room = NAME_MAX - (int)sizeof "." ".tmp-XXXXXX" + 1;
    if (snprintf(path, cap, "%.*s.%.*s.tmp-XXXXXX", dirlen, final, baselen < room ? baselen : room, base) >=
        (int)cap) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

/* A temporary file of that name, made by mkstemp (path gets its name):
 * the descriptor, or -1. */
static int make_temp(const char *final, char *path, size_t cap)
{
    return make_temp_name(final, path, cap) != 0 ? -1 : mkstemp(path);
}

/* Gives a new file made by mkstemp (mode 0600) what replacing final
 * should keep: final's permission bits (never setuid or setgid) and, as
 * far as we may, its owner and group; a new name gets what a plain
 * create would. */
static void take_mode(int fd, const char *final)
{
    struct stat sb;
    if (stat(final, &sb) == 0) {
        if (fchown(fd, sb.st_uid, sb.st_gid) != 0 && fchown(fd, (uid_t)-1, sb.st_gid) != 0) {
            /* not ours to give away: the new file stays the caller's */
        }
        fchmod(fd, sb.st_mode & 0777);
        return;
    }
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
}

/* -o's file while it is written has no name (O_TMPFILE), so that no
 * temporary file stays behind whatever ends the run, SIGKILL too; it is
 * named when the run succeeds (link_output), then renamed over FILE.
 * On a file system without unnamed files, or without /proc to name one
 * through, or with LOOKAHEAD_TEMP=named (tests), a named temporary file
 * (make_temp), which the signal handler removes. */
static int out_unnamed;

static int make_unnamed(const char *final)
{
    const char *e = getenv("LOOKAHEAD_TEMP");
    char dir[PATH_MAX], link[64];
    if (e && strcmp(e, "named") == 0)
        return -1;
    cli_dir_of(final, dir, sizeof dir);
#ifdef O_TMPFILE
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);   /* read too: copied if it cannot be linked */
    struct stat a, b;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    /* it can be named only through /proc (linkat's AT_EMPTY_PATH needs a
     * privilege) */
    if (fd >= 0 && (stat(link, &a) != 0 || fstat(fd, &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino)) {
        close(fd);
        fd = -1;
    }
    return fd;
#else
    (void)link;
    return -1;
#endif
}

/* A temporary name beside final (make_temp's pattern) with its six X
 * filled at random. */
static int random_temp_name(const char *final, char *path, size_t cap)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    static unsigned long long count;
    unsigned char r[6];
    if (make_temp_name(final, path, cap) != 0)
        return -1;
    if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        unsigned long long x = (unsigned long long)t.tv_nsec ^ (unsigned long long)getpid() << 20;
        x += ++count * 0x9E3779B97F4A7C15ULL;
        for (size_t i = 0; i < sizeof r; i++, x >>= 8)
            r[i] = (unsigned char)x;
    }
    char *x = path + strlen(path) - 6;
    for (size_t i = 0; i < 6; i++)
        x[i] = chars[r[i] % (sizeof chars - 1)];
    return 0;
}

/* Names the unnamed output (*fd) for renaming over final: linked under a
 * free temporary name, which tmp_path holds from the moment it exists
 * (the catchable signals held meanwhile), so that a signal removes it;
 * or, when it cannot be linked, copied into a named temporary file
 * (make_temp), which *fd then is. 0, or -1 with errno set. */
static int link_output(int *fd, const char *final)
{
    char link[64], name[PATH_MAX];
    sigset_t all, old;
    int err = 0;
    snprintf(link, sizeof link, "/proc/self/fd/%d", *fd);
    sigfillset(&all);
    for (int tries = 0; tries < 100; tries++) {
        if (random_temp_name(final, name, sizeof name) != 0)
            return -1;
        /* linkat never replaces: a name taken fails with EEXIST */
        pthread_sigmask(SIG_BLOCK, &all, &old);
        int rc = linkat(AT_FDCWD, link, AT_FDCWD, name, AT_SYMLINK_FOLLOW);
        err = errno;
        if (rc == 0)
            snprintf(tmp_path, sizeof tmp_path, "%s", name);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc == 0)
            return 0;
        if (err != EEXIST)
            break;
    }
    /* not linked (a security module's refusal, say): copied */
    int t = make_temp(final, tmp_path, sizeof tmp_path);
    if (t < 0) {
        tmp_path[0] = 0;
        return -1;
    }
    take_mode(t, final);
    struct stat sb;
    off_t off = 0;
    int ok = fstat(*fd, &sb) == 0;
    while (ok && off < sb.st_size) {
        ssize_t k = copy_file_range(*fd, &off, t, NULL, (size_t)(sb.st_size - off), 0);
        ok = k > 0 || (k < 0 && errno == EINTR);
    }
    if (!ok || fsync(t) != 0) {
        err = errno;
        close(t);
        unlink(tmp_path);
        tmp_path[0] = 0;
        errno = err;
        return -1;
    }
    close(*fd);
    *fd = t;
    return 0;
}

/* Creates -o's file while it is written (unnamed where it can be, else
 * a temporary file) next to the file path names, behind its symbolic
 * links (the target is replaced, not the link); path NULL: standard
 * output. 0, or an exit code after saying why. */
int cli_out_open(const char *path, cli_out *out)
{
    out->final = NULL;
    out->compress = LA_Z_NONE;
    if (!path) {
        out->fd = 1;
        return 0;
    }
    cli_target t;
    if (cli_target_of(path, &t) != 0) {
        cli_msg("%s: cannot create: %s", path, strerror(errno));
        return EXIT_CANTCREAT;
    }
    out->final = t.final;
    int fd = make_unnamed(out->final);
    out_unnamed = fd >= 0;
    if (fd < 0)
        fd = make_temp(out->final, tmp_path, sizeof tmp_path);
    if (fd < 0) {
        cli_msg("%s: cannot create: %s", path, strerror(errno));
        tmp_path[0] = 0;
        return EXIT_CANTCREAT;
    }
    take_mode(fd, out->final);
    out->fd = fd;
    int z = cli_compression_of(path);
    out->compress = z > 0 ? z : LA_Z_NONE;   /* other compressors' names were refused by main */
    return 0;
}

void cli_out_drop(cli_out *out)
{
    if (tmp_path[0]) {
        unlink(tmp_path);
        tmp_path[0] = 0;
    }
    if (out->fd > 2)
        close(out->fd);
    out->fd = -1;
}

int cli_out_commit(const char *path, cli_out *out)
{
    if (!path)
        return 0;
    if (fsync(out->fd) != 0 && errno != EINVAL) {
        cli_msg("%s: %s", path, strerror(errno));
        return EXIT_IOERR;
    }
    if (out_unnamed && link_output(&out->fd, out->final) != 0) {
        cli_msg("%s: cannot create: %s", path, strerror(errno));
        return EXIT_CANTCREAT;
    }
    if (close(out->fd) != 0) {
        out->fd = -1;
        cli_msg("%s: %s", path, strerror(errno));
        return EXIT_IOERR;
    }
    out->fd = -1;
    if (rename(tmp_path, out->final) != 0) {
        cli_msg("%s: cannot create: %s", path, strerror(errno));
        return EXIT_CANTCREAT;
    }
    tmp_path[0] = 0;
    return 0;
}

void cli_out_free(cli_out *out)
{
    free(out->final);
    out->final = NULL;
}

/* Opens a side file (--stats, --rejects) to be written in place: a
 * descriptor's name (/dev/stdout, /dev/fd/3) as a copy of that
 * descriptor, so that a shell's >> keeps appending; a device, a FIFO or
 * another name in /proc as it is (a FIFO without a reader is an error,
 * not a wait); anything else with O_CREAT | O_TRUNC. Returns the
 * descriptor or -1 with errno set. */
static int open_in_place(const char *path, const cli_target *t)
{
    if (t->fd >= 0)
        return fcntl(t->fd, F_DUPFD_CLOEXEC, 3);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISFIFO(sb.st_mode)) {
        int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0)
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        return fd;
    }
    return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
}

/* 1 for what --stats writes in place: a descriptor's name, anything
 * that is not a regular file, or a name in /proc. */
static int in_place(const char *path, const cli_target *t)
{
    struct stat sb;
    return t->fd >= 0 || t->via_proc || (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode));
}

int cli_stats_in_place(const char *path)
{
    cli_target t;
    if (cli_target_of(path, &t) != 0)
        return 0;
    int r = in_place(path, &t);
    free(t.final);
    return r;
}

/* Opens where --stats goes: in place (open_in_place), or a temporary
 * file (stats_tmp) that *final, the file behind the links, is replaced
 * by. Returns the descriptor or -1. */
static int open_stats(const char *path, char **final)
{
    cli_target t;
    *final = NULL;
    if (cli_target_of(path, &t) != 0)
        return -1;
    if (in_place(path, &t)) {
        int fd = open_in_place(path, &t);
        free(t.final);
        return fd;
    }
    *final = t.final;
    int fd = make_temp(*final, stats_tmp, sizeof stats_tmp);
    if (fd < 0)
        stats_tmp[0] = 0;
    else
        take_mode(fd, *final);
    return fd;
}

int cli_rejects_open(const char *path, int *trunc)
{
    cli_target t;
    struct stat sb;
    *trunc = 0;
    if (cli_target_of(path, &t) != 0)
        return -1;
    int fd = open_in_place(path, &t);
    *trunc = fd >= 0 && t.fd < 0 && !t.via_proc && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
    free(t.final);
    return fd;
}

/* Writes b to the open --stats descriptor and closes it. Returns 0 or
 * an exit code. */
static int put_stats(const char *path, int fd, const la_buf *b)
{
    la_err e;
    if (la_write_all(fd, b->data, b->len, &e)) {
        cli_msg("%s: %s", path, e.msg);
        close(fd);
        return EXIT_IOERR;
    }
    if (close(fd) != 0) {
        cli_msg("%s: %s", path, strerror(errno));
        return EXIT_IOERR;
    }
    return 0;
}

/* Puts the report written to its temporary file (stats_tmp) in place of
 * final. Returns 0 or an exit code. */
static int stats_rename(const char *path, const char *final)
{
    if (rename(stats_tmp, final) != 0) {
        cli_msg("%s: cannot create: %s", path, strerror(errno));
        return EXIT_CANTCREAT;
    }
    stats_tmp[0] = 0;
    return 0;
}

int cli_stats_write(const char *path, const la_buf *b, char **staged)
{
    char *final = NULL;
    int rc = 0;
    if (staged)
        *staged = NULL;
    int fd = open_stats(path, &final);
    if (fd < 0) {
        cli_msg("%s: cannot create: %s", path, strerror(errno));
        rc = EXIT_CANTCREAT;
    } else {
        rc = put_stats(path, fd, b);
    }
    if (!rc && staged && final) {
        *staged = final;
        return 0;
    }
    if (!rc && final)
        rc = stats_rename(path, final);
    if (stats_tmp[0])
        unlink(stats_tmp);
    stats_tmp[0] = 0;
    struct stat sb;
    if (rc && final && lstat(final, &sb) == 0 && S_ISREG(sb.st_mode)) {
        if (unlink(final) == 0)
            cli_msg("%s: removed the earlier report there, which this run could not replace", path);
        else
            cli_msg("%s: the earlier report there could not be replaced nor removed (%s): it is not this run's",
                    path, strerror(errno));
    }
    free(final);
    return rc;
}

int cli_stats_put(const char *path, char *final, int keep)
{
    int rc = keep ? stats_rename(path, final) : 0;
    if (stats_tmp[0])
        unlink(stats_tmp);
    stats_tmp[0] = 0;
    free(final);
    return rc;
}

void cli_stats_note(const char *path)
{
    cli_target t;
    struct stat sb;
    stats_final[0] = 0;
    if (!path || cli_target_of(path, &t) != 0)
        return;
    if (t.fd < 0 && !t.via_proc && (stat(t.final, &sb) != 0 || S_ISREG(sb.st_mode)))
        snprintf(stats_final, sizeof stats_final, "%s", t.final);
    free(t.final);
}

void cli_stats_settled(void) { stats_final[0] = 0; }
