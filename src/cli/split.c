/*
 * split.c - --split K/N: the byte range of one split of a plain file, and
 * the file's true line numbers for messages about it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/split.h"

/* What a non-seekable input is, for the message. */
static const char *kind_of(mode_t m)
{
    return S_ISFIFO(m) ? "a pipe or FIFO" : S_ISCHR(m) ? "a character device" : S_ISSOCK(m) ? "a socket" : "not a file";
}

/* The input's format and compression, judged on its first bytes as a run
 * without --split judges them (the same shape errors, the same exit
 * codes). Leaves fd's offset anywhere. */
static int probe(const cli_opts *o, const char *name, int fd, int *format, int *compression)
{
    la_err e = {{0}, {0}};
    if (lseek(fd, 0, SEEK_SET) != 0) {
        cli_msg("%s: --split: cannot seek: %s", name, strerror(errno));
        return EXIT_IOERR;
    }
    la_reader *r = la_reader_new(fd, o->input_format, &e);
    int rc = r ? la_reader_begin(r, &e) : LA_ENOMEM;
    if (rc) {
        cli_msg("%s: %s", name, e.msg);
        la_reader_free(r);
        return strcmp(e.code, "input_shape") == 0 ? EXIT_DATA : EXIT_IOERR;
    }
    *format = la_reader_format(r);
    *compression = la_reader_compression(r);
    la_reader_free(r);
    return 0;
}

int cli_split_refuse_kind(const cli_opts *o, const char *name, mode_t mode)
{
    if (S_ISREG(mode))
        return 0;
    cli_msg("%s: --split %llu/%llu reads a byte range of a regular file, and this input is %s: use --shard "
            "K/N, which reads the whole stream in every process", name, (unsigned long long)o->split_k,
            (unsigned long long)o->split_n, kind_of(mode));
    return EXIT_USAGE;
}

/* The file's format into *format when fd is a regular, uncompressed file
 * of a shape a run accepts; else prints why not and returns an exit
 * code. */
static int check_file(const cli_opts *o, const char *name, int fd, int *format, struct stat *sb)
{
    static const char *const znames[] = {"plain", "gzip", "zstd", "xz", "bzip2"};
    if (fstat(fd, sb) != 0)
        sb->st_mode = 0;
    int rc = cli_split_refuse_kind(o, name, sb->st_mode);
    if (rc)
        return rc;
    int z = 0;
    rc = probe(o, name, fd, format, &z);
    if (rc)
        return rc;
    if (z != LA_Z_NONE) {
        cli_msg("%s: --split reads byte ranges of a plain file, and this one is %s-compressed: decompress it first, "
                "or use --shard K/N, which decompresses the whole stream in every process", name, znames[z]);
        return EXIT_USAGE;
    }
    return 0;
}

int cli_split_check(const cli_opts *o, const char *name, int fd)
{
    int format;
    struct stat sb;
    return check_file(o, name, fd, &format, &sb);
}

int cli_split_open(const cli_opts *o, const char *name, int fd, cli_split *sp)
{
    struct stat sb;
    memset(sp, 0, sizeof *sp);
    sp->fd = fd;
    int rc = check_file(o, name, fd, &sp->format, &sb);
    if (rc)
        return rc;
    sp->size = (uint64_t)sb.st_size;
    /* p_K = K * size / N, each moved forward to the next record start */
    uint64_t k = o->split_k, n = o->split_n;
    uint64_t p0 = (uint64_t)((unsigned __int128)sp->size * k / n);
    uint64_t p1 = (uint64_t)((unsigned __int128)sp->size * (k + 1) / n);
    la_err e = {{0}, {0}};
    sp->start = 0;
    sp->end = sp->size;
    uint64_t near = p0;
    if ((k > 0 && (rc = la_split_boundary(fd, sp->size, sp->format, p0, &sp->start, &e))) ||
        (k + 1 < n && (near = p1, rc = la_split_boundary(fd, sp->size, sp->format, p1, &sp->end, &e)))) {
        if (rc == LA_EDATA)
            cli_msg("%s: --split %llu/%llu: no element boundary found near byte %llu (%s); use --shard K/N, or "
                    "make the array JSONL (jq -c '.[]' FILE > FILE.jsonl) and split that",
                    name, (unsigned long long)k, (unsigned long long)n, (unsigned long long)near, e.msg);
        else
            cli_msg("%s: %s", name, e.msg);
        return rc == LA_EDATA ? EXIT_DATA : EXIT_IOERR;
    }
    if (sp->end < sp->start) {
        cli_msg("%s: --split %llu/%llu: the boundaries found (bytes %llu and %llu) are out of order: the array's "
                "strings defeat the scan; use --shard K/N", name, (unsigned long long)k, (unsigned long long)n,
                (unsigned long long)sp->start, (unsigned long long)sp->end);
        return EXIT_DATA;
    }
    if (lseek(fd, (off_t)sp->start, SEEK_SET) < 0) {
        cli_msg("%s: --split: cannot seek: %s", name, strerror(errno));
        return EXIT_IOERR;
    }
    return 0;
}

uint64_t cli_split_line(cli_split *sp, uint64_t rel)
{
    if (!sp->lines_known) {
        /* counted once, when a message first needs it: the bytes before
         * the range are otherwise never read */
        char block[1 << 16];
        uint64_t nl = 0, off = 0;
        while (off < sp->start) {
            size_t want = sp->start - off < sizeof block ? (size_t)(sp->start - off) : sizeof block;
            ssize_t k = pread(sp->fd, block, want, (off_t)off);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                break;
            for (const char *p = block, *e = block + k; (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
                nl++;
            off += (uint64_t)k;
        }
        sp->lines_before = nl;
        sp->lines_known = 1;
    }
    return sp->lines_before + rel;
}
