/* faultshim.c - an LD_PRELOAD library that makes I/O fail on demand, for
 * the fault cases (tests/cases/fault_*):
 *   LA_FAULT_READ_AFTER=N   read() on fd LA_FAULT_READ_FD (default 0)
 *                           fails with EIO once N bytes have been read
 *   LA_FAULT_WRITE_AFTER=N  write() on a file whose path contains
 *                           LA_FAULT_WRITE_MATCH fails with ENOSPC once N
 *                           bytes have been written to such files
 *   LA_FAULT_WRITE_TEE=PATH appends to PATH a copy of every byte such
 *                           files took, so that a case can read what a
 *                           failed run wrote to a temporary file
 *   LA_FAULT_FSYNC=1        fsync() fails with EIO
 *   LA_FAULT_LINKAT=1       linkat() fails with EPERM (as a security
 *                           module may refuse to name an unnamed file)
 * Build: cc -shared -fPIC -o faultshim.so faultshim.c -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long long env_ll(const char *name, long long dflt)
{
    const char *v = getenv(name);
    return v && *v ? atoll(v) : dflt;
}

static long long read_so_far, written_so_far;

ssize_t read(int fd, void *buf, size_t n)
{
    static ssize_t (*real)(int, void *, size_t);
    if (!real)
        real = (ssize_t (*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
    long long after = env_ll("LA_FAULT_READ_AFTER", -1);
    if (after < 0 || fd != (int)env_ll("LA_FAULT_READ_FD", 0))
        return real(fd, buf, n);
    if (read_so_far >= after) {
        errno = EIO;
        return -1;
    }
    if ((long long)n > after - read_so_far)
        n = (size_t)(after - read_so_far);
    ssize_t k = real(fd, buf, n);
    if (k > 0)
        read_so_far += k;
    return k;
}

static int write_matches(int fd)
{
    const char *m = getenv("LA_FAULT_WRITE_MATCH");
    if (!m || !*m)
        return 0;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t k = readlink(link, path, sizeof path - 1);
    if (k <= 0)
        return 0;
    path[k] = 0;
    return strstr(path, m) != NULL;
}

/* Appends p[0..n) to LA_FAULT_WRITE_TEE, if set. */
static void copy_out(ssize_t (*real)(int, const void *, size_t), const void *p, size_t n)
{
    const char *path = getenv("LA_FAULT_WRITE_TEE");
    if (!path || !*path)
        return;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    if (real(fd, p, n) != (ssize_t)n)
        fprintf(stderr, "faultshim: %s: short copy\n", path);
    close(fd);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    static ssize_t (*real)(int, const void *, size_t);
    if (!real)
        real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    long long after = env_ll("LA_FAULT_WRITE_AFTER", -1);
    if (after < 0 || !write_matches(fd))
        return real(fd, buf, n);
    if (written_so_far >= after) {
        errno = ENOSPC;
        return -1;
    }
    if ((long long)n > after - written_so_far)
        n = (size_t)(after - written_so_far);
    ssize_t k = real(fd, buf, n);
    if (k > 0) {
        written_so_far += k;
        copy_out(real, buf, (size_t)k);
    }
    return k;
}

int fsync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    if (env_ll("LA_FAULT_FSYNC", 0)) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}

int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
{
    static int (*real)(int, const char *, int, const char *, int);
    if (!real)
        real = (int (*)(int, const char *, int, const char *, int))dlsym(RTLD_NEXT, "linkat");
    if (env_ll("LA_FAULT_LINKAT", 0)) {
        errno = EPERM;
        return -1;
    }
    return real(olddirfd, oldpath, newdirfd, newpath, flags);
}
