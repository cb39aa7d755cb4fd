/*
 * cache_id.c - identity records of the tokenizer cache: what a cache hit
 * needs to find its entry without reading the tokenizer file.
 *
 * An entry is filed under the key of the file's bytes (cache.c), so a
 * hit would have to read and hash the whole file only to learn where
 * its entry is. A record remembers, for one file as the file system
 * describes it (device, inode, size, modification and change times: its
 * identity, as git's index and ccache's inode cache use it), the key its
 * bytes hashed to. A load whose file has the identity of a good record
 * takes the key from it; any change to the file's bytes through the
 * file system moves its change time (which no user can set), so the
 * changed file has another identity and is hashed again.
 *
 * A record is written only for bytes that were hashed while the file was
 * "settled": its change and modification times at least a margin (2 s)
 * before the load began, and the same identity after the bytes were
 * read as before. A write within the same tick of the file system's
 * clock as the times a record holds could otherwise leave them as they
 * were (the racy-git case); after the margin, any later write stamps a
 * later time. A record is a file of its own in the cache folder, named
 * from a hash of the identity and the build id, holding both again, the
 * key and a check of its bytes; written under a temporary name and
 * renamed, read only when it is a regular file of the user's that
 * others cannot write, and removed when it does not hold.
 *
 * The same records, with the extension .ok, vouch for a cache entry's
 * own check (cache.c: a pass over all its bytes, tens of megabytes for
 * the largest vocabularies, at every load): one names the entry file's
 * identity when the entry passed that check, written once the entry is
 * settled as above, so that a later load of the entry with that identity
 * need not read all of it. Any change of the entry's bytes through the
 * file system moves its change time, and its check is made again. The
 * checks of its offsets and sizes are made at every load all the same.
 */
#define _GNU_SOURCE
#include "tokenizer/tk.h"
#include "tokenizer/tk_test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <stddef.h>
#include <xxhash.h>

#define ID_MAGIC "LATKIDNT"
#define ID_VERSION 1u
#define ID_KEEP 256               /* records kept in the folder, the most recently used */

/* What the file system says of a file that a change of its bytes moves. */
typedef struct {
    uint64_t dev, ino, size;
    int64_t mtime_s, mtime_ns, ctime_s, ctime_ns;
} file_id;

typedef struct {
    char magic[8];
    uint32_t version, head_size;
    uint32_t build_len, kind;     /* KIND_ID or KIND_OK (0 in records before .ok ones) */
    unsigned char build[TK_BUILD_ID_MAX];
    file_id id;
    tk_cache_key key;
    uint64_t check;               /* XXH3-64 of every byte before it */
} id_record;

static int settle_margin = 2;

void tk_cache_id_margin(int seconds) { settle_margin = seconds; }

static void id_of(const struct stat *st, file_id *id)
{
    memset(id, 0, sizeof *id);
    id->dev = (uint64_t)st->st_dev;
    id->ino = (uint64_t)st->st_ino;
    id->size = (uint64_t)st->st_size;
    id->mtime_s = (int64_t)st->st_mtim.tv_sec;
    id->mtime_ns = (int64_t)st->st_mtim.tv_nsec;
    id->ctime_s = (int64_t)st->st_ctim.tv_sec;
    id->ctime_ns = (int64_t)st->st_ctim.tv_nsec;
}

#define KIND_ID 0u                /* a tokenizer file's key (.id) */
#define KIND_OK 1u                /* an entry that passed its check (.ok) */

static const char *const kind_ext[] = { ".id", ".ok" };

/* The record's path for identity id and build (NULL without a cache
 * folder); the folder into *dir_out when asked for. */
static char *record_path_of(unsigned kind, const file_id *id, const unsigned char build[TK_BUILD_ID_MAX],
                            char **dir_out)
{
    struct {
        uint32_t version, head_size;
        file_id id;
        unsigned char build[TK_BUILD_ID_MAX];
    } name = { ID_VERSION, (uint32_t)sizeof(id_record), *id, { 0 } };
    memcpy(name.build, build, TK_BUILD_ID_MAX);
    return tk_cache_named(&name, sizeof name, kind_ext[kind], dir_out);
}

static char *record_path(const file_id *id, const unsigned char build[TK_BUILD_ID_MAX], char **dir_out)
{
    return record_path_of(KIND_ID, id, build, dir_out);
}

static uint64_t record_check(const id_record *r) { return XXH3_64bits(r, offsetof(id_record, check)); }

/* 1 when r (read whole) is a record of this format whose check holds. */
static int record_sound(const id_record *r)
{
    return memcmp(r->magic, ID_MAGIC, 8) == 0 && r->version == ID_VERSION && r->head_size == sizeof *r &&
           r->build_len > 0 && r->build_len <= TK_BUILD_ID_MAX && record_check(r) == r->check;
}

/* Reads the record of the open file fd of size bytes into r: 1 when
 * the file is exactly one record long and was read whole. */
static int record_read(int fd, off_t size, id_record *r)
{
    if (size != (off_t)sizeof *r)
        return 0;
    size_t got = 0;
    while (got < sizeof *r) {
        ssize_t n = pread(fd, (char *)r + got, sizeof *r - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got == sizeof *r;
}

/* The record of kind for the file of status st and build, read into
 * *k when good: 1; a record that does not hold (or, with want, names
 * another key) is removed. */
static int record_find(unsigned kind, const struct stat *st, const unsigned char *build, size_t build_len,
                       const tk_cache_key *want, tk_cache_key *k)
{
    file_id id;
    id_of(st, &id);
    char *path = record_path_of(kind, &id, build, NULL);
    if (!path)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        free(path);
        return 0;
    }
    struct stat rs;
    id_record r;
    int found = 0, bad = 0;
    if (fstat(fd, &rs) != 0 || !S_ISREG(rs.st_mode) || rs.st_uid != geteuid()) {
        bad = 0;                  /* not ours to read, nor to remove */
    } else if (rs.st_mode & (S_IWGRP | S_IWOTH)) {
        bad = 1;                  /* others could have written it */
    } else if (!record_read(fd, rs.st_size, &r) || !record_sound(&r) || r.kind != kind ||
               r.build_len != build_len || memcmp(r.build, build, TK_BUILD_ID_MAX) != 0 ||
               memcmp(&r.id, &id, sizeof id) != 0 || (kind == KIND_ID && r.key.size != id.size) ||
               (want && memcmp(&r.key, want, sizeof r.key) != 0)) {
        bad = 1;                  /* cut, damaged, of another file, build or key */
    } else {
        *k = r.key;
        found = 1;
        /* used: its time says so, at most once an hour (the least
         * recently used records go first) */
        if (rs.st_mtim.tv_sec + 3600 <= time(NULL))
            futimens(fd, NULL);
    }
    close(fd);
    if (bad)
        unlink(path);
    free(path);
    return found;
}

int tk_cache_id_find(const struct stat *st, const unsigned char *build, size_t build_len, tk_cache_key *k)
{
    return record_find(KIND_ID, st, build, build_len, NULL, k);
}

void tk_cache_id_drop(const struct stat *st, const unsigned char *build)
{
    file_id id;
    id_of(st, &id);
    char *path = record_path(&id, build, NULL);
    if (path)
        unlink(path);
    free(path);
}

static int settled_by(int margin, const struct stat *before, const struct timespec *began, const struct stat *after)
{
    file_id a, b;
    id_of(before, &a);
    id_of(after, &b);
    int64_t limit = (int64_t)began->tv_sec - margin;
    /* at least the margin before: whole seconds below the limit, or the
     * limit's own second no later than began's fraction */
    int settled_m = a.mtime_s < limit || (a.mtime_s == limit && a.mtime_ns <= began->tv_nsec);
    int settled_c = a.ctime_s < limit || (a.ctime_s == limit && a.ctime_ns <= began->tv_nsec);
    return settled_m && settled_c && memcmp(&a, &b, sizeof a) == 0;
}

int tk_cache_id_settled(const struct stat *before, const struct timespec *began, const struct stat *after)
{
    return settled_by(settle_margin, before, began, after);
}

/* 1 when the record open on fd (of status st) is to go: damaged, its
 * entry gone, or (fresh, when not NULL) of an earlier version of the
 * same file (same device and inode, another identity). */
static int record_stale(int fd, const struct stat *st, const void *fresh_id)
{
    const file_id *fresh = fresh_id;
    id_record r;
    if (!record_read(fd, st->st_size, &r) || !record_sound(&r))
        return 1;
    if (fresh && r.id.dev == fresh->dev && r.id.ino == fresh->ino && memcmp(&r.id, fresh, sizeof r.id) != 0)
        return 1;
    char *entry = tk_cache_entry_path(&r.key, r.build);
    struct stat es;
    int gone = entry && lstat(entry, &es) != 0 && errno == ENOENT;
    free(entry);
    return gone;
}

/* Keeps the records in folder dir few: removes the temporary files of
 * writers dead an hour or more, records that are stale (record_stale),
 * then the least recently used past ID_KEEP. Only the user's own
 * regular files named as records are touched. */
static void prune_kind(unsigned kind, const char *dir, const file_id *fresh)
{
    tk_cache_file *f;
    int dfd;
    size_t n = tk_cache_scan(dir, kind_ext[kind], "", record_stale, fresh, &f, &dfd);
    for (size_t i = 0; n > ID_KEEP && i < n - ID_KEEP; i++)
        unlinkat(dfd, f[i].name, 0);
    tk_cache_files_free(f, n, dfd);
}

static void prune_in(const char *dir, const file_id *fresh)
{
    prune_kind(KIND_ID, dir, fresh);
}

void tk_cache_id_prune(void)
{
    char *dir = tk_cache_dir();
    if (dir) {
        prune_in(dir, NULL);
        prune_kind(KIND_OK, dir, NULL);   /* those of entries pruned too */
    }
    free(dir);
}

/* Writes the record of kind for the file of status st: key k, build;
 * only when the entry of k is there (a record of an entry that could not
 * be written would be useless); the folder's records of that kind are
 * pruned either way. */
static void record_write(unsigned kind, const struct stat *st, const tk_cache_key *k, const unsigned char *build,
                         size_t build_len)
{
    file_id id;
    id_of(st, &id);
    char *dir = NULL, *path = record_path_of(kind, &id, build, &dir), *tmp = NULL;
    char *entry = path ? tk_cache_entry_path(k, build) : NULL;
    struct stat es;
    if (!entry || stat(entry, &es) != 0) {
        if (dir)
            prune_kind(kind, dir, &id);
        free(entry);
        free(path);
        free(dir);
        return;
    }
    free(entry);
    id_record r;
    memset(&r, 0, sizeof r);
    memcpy(r.magic, ID_MAGIC, 8);
    r.version = ID_VERSION;
    r.head_size = sizeof r;
    r.build_len = (uint32_t)build_len;
    r.kind = kind;
    memcpy(r.build, build, TK_BUILD_ID_MAX);
    r.id = id;
    r.key = *k;
    r.check = record_check(&r);
    int fd = tk_cache_open_temp(path, dir, &tmp);
    if (fd >= 0) {
        int ok = tk_cache_write_all(fd, (const char *)&r, sizeof r);
        if (close(fd) != 0 || !ok || rename(tmp, path) != 0)
            unlink(tmp);
        else
            prune_kind(kind, dir, &id);
    }
    free(tmp);
    free(path);
    free(dir);
}

void tk_cache_id_write(const struct stat *st, const tk_cache_key *k, const unsigned char *build, size_t build_len)
{
    file_id id;
    id_of(st, &id);
    if (k->size != id.size)
        return;
    record_write(KIND_ID, st, k, build, build_len);
}

/* ---- entries that passed their check ----------------------------------- */

static int ok_margin = 2;

void tk_cache_ok_margin(int seconds) { ok_margin = seconds; }

int tk_cache_ok_find(const struct stat *st, const tk_cache_key *k, const unsigned char *build, size_t build_len)
{
    tk_cache_key got;
    return record_find(KIND_OK, st, build, build_len, k, &got);
}

void tk_cache_ok_write(const struct stat *before, const struct timespec *began, const struct stat *after,
                       const tk_cache_key *k, const unsigned char *build, size_t build_len)
{
    if (settled_by(ok_margin, before, began, after))
        record_write(KIND_OK, before, k, build, build_len);
}
