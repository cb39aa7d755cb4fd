/* fuzz_reader.c - the JSONL reader and the JSON array framer (la_reader).
 *
 * Input: one option byte (format: auto, jsonl, json; chunk sizes), then
 * the stream. The stream is framed from a memfd; then, unless it starts
 * with gzip or zstd magic bytes, again from
 *  - an AF_UNIX SOCK_SEQPACKET socket fed in small messages by a thread,
 *    so that every read() returns one short chunk (records, strings,
 *    escapes, CRLF and the BOM cut at every place), and
 *  - its gzip and zstd compressions,
 * and every way must frame the same records (bytes and line numbers)
 * and end the same way (end, or the same error code). Also checked:
 * records are never empty, JSONL records hold no newline and never start
 * with white space only, and all bytes are counted at the end. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "fuzz_common.h"

typedef struct {
    la_buf recs;        /* each record: 8-byte length, 8-byte line, bytes */
    size_t n;
    int rc;
    char code[32];
    int format;
    uint64_t bytes;
} framing;

static void frame_fd(int fd, int fmt, framing *f)
{
    memset(f, 0, sizeof *f);
    la_err e = {{0}, {0}};
    la_reader *r = la_reader_new(fd, fmt, &e);
    FUZZ_CHECK(r != NULL, "la_reader_new: %s", e.msg);
    const char *rec;
    size_t len;
    uint64_t line;
    int rc;
    while ((rc = la_reader_next(r, &rec, &len, &line, &e)) == 1) {
        FUZZ_CHECK(len > 0, "empty record");
        uint64_t l64 = len;
        la_buf_append(&f->recs, &l64, 8);
        la_buf_append(&f->recs, &line, 8);
        la_buf_append(&f->recs, rec, len);
        f->n++;
        if (la_reader_format(r) == LA_IO_JSONL)
            FUZZ_CHECK(memchr(rec, '\n', len) == NULL, "JSONL record holds a newline");
    }
    f->rc = rc;
    if (rc < 0) {
        FUZZ_CHECK(rc == LA_EDATA || rc == LA_EIO, "status %d", rc);
        FUZZ_CHECK(e.code[0] && e.msg[0], "error without a reason");
        memcpy(f->code, e.code, sizeof f->code);
    }
    f->format = la_reader_format(r);
    f->bytes = la_reader_bytes(r);
    la_reader_free(r);
}

static void framing_free(framing *f) { la_buf_free(&f->recs); }

static void same(const framing *a, const framing *b, const char *how)
{
    FUZZ_CHECK(a->rc == b->rc, "%s: status %d, plain %d", how, b->rc, a->rc);
    FUZZ_CHECK(strcmp(a->code, b->code) == 0, "%s: reason %s, plain %s", how, b->code, a->code);
    FUZZ_CHECK(a->n == b->n, "%s: %zu records, plain %zu", how, b->n, a->n);
    FUZZ_CHECK(a->recs.len == b->recs.len && (a->recs.len == 0 || memcmp(a->recs.data, b->recs.data, a->recs.len) == 0),
               "%s: records differ", how);
}

static int memfd_with(const void *p, size_t n)
{
    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0, "memfd_create: %s", strerror(errno));
    const char *c = p;
    while (n) {
        ssize_t k = write(fd, c, n);
        FUZZ_CHECK(k > 0, "write: %s", strerror(errno));
        c += k;
        n -= (size_t)k;
    }
    lseek(fd, 0, SEEK_SET);
    return fd;
}

typedef struct {
    int fd;
    const uint8_t *p;
    size_t n;
    unsigned seed;
} feeder;

static void *feed(void *arg)
{
    feeder *f = arg;
    size_t i = 0;
    unsigned s = f->seed;
    while (i < f->n) {
        s = s * 1103515245u + 12345u;
        size_t k = 1 + (s >> 16) % 7;
        if (k > f->n - i)
            k = f->n - i;
        if (send(f->fd, f->p + i, k, MSG_NOSIGNAL) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        i += k;
    }
    close(f->fd);
    return NULL;
}

static void frame_chunked(const uint8_t *p, size_t n, int fmt, unsigned seed, framing *f)
{
    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0, "socketpair: %s", strerror(errno));
    feeder fd = {sv[1], p, n, seed};
    pthread_t th;
    FUZZ_CHECK(pthread_create(&th, NULL, feed, &fd) == 0, "pthread_create");
    frame_fd(sv[0], fmt, f);
    close(sv[0]);   /* a reader that stopped early: the feeder sees EPIPE */
    pthread_join(th, NULL);
}

/* The compressors' states are made once and reset for each input (28
 * inputs a second against 30 here: most of an input's time goes to
 * AddressSanitizer's handling of each reader's 2 MB of buffers, mapped,
 * poisoned and quarantined four times an input). */
static void frame_gzip(const uint8_t *p, size_t n, int fmt, framing *f)
{
    static z_stream z;
    static int made;
    if (!made) {
        FUZZ_CHECK(deflateInit2(&z, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) == Z_OK, "deflateInit2");
        made = 1;
    } else {
        FUZZ_CHECK(deflateReset(&z) == Z_OK, "deflateReset");
    }
    size_t cap = deflateBound(&z, n) + 64;
    unsigned char *c = malloc(cap);
    z.next_in = (unsigned char *)p;
    z.avail_in = (uInt)n;
    z.next_out = c;
    z.avail_out = (uInt)cap;
    FUZZ_CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END, "deflate");
    int fd = memfd_with(c, cap - z.avail_out);
    free(c);
    frame_fd(fd, fmt, f);
    close(fd);
}

static void frame_zstd(const uint8_t *p, size_t n, int fmt, framing *f)
{
    static ZSTD_CCtx *cc;
    if (!cc)
        FUZZ_CHECK((cc = ZSTD_createCCtx()) != NULL, "ZSTD_createCCtx");
    size_t cap = ZSTD_compressBound(n);
    void *c = malloc(cap);
    size_t k = ZSTD_compressCCtx(cc, c, cap, p, n, 1);
    FUZZ_CHECK(!ZSTD_isError(k), "ZSTD_compress");
    int fd = memfd_with(c, k);
    free(c);
    frame_fd(fd, fmt, f);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const int fmts[] = {LA_IO_AUTO, LA_IO_JSONL, LA_IO_JSON, LA_IO_AUTO};
    int fmt = fmts[data[0] & 3];
    unsigned seed = data[0] >> 2;
    const uint8_t *p = data + 1;
    size_t n = size - 1;

    framing plain, other;
    int fd = memfd_with(p, n);
    frame_fd(fd, fmt, &plain);
    close(fd);
    if (plain.rc == 0)
        FUZZ_CHECK(plain.bytes == n, "%llu bytes counted of %zu", (unsigned long long)plain.bytes, n);
    /* input the reader decompresses (gzip, zstd, xz, bzip2) is framed
     * plain only: wrapped in gzip it would be read as text */
    int compressed = (n >= 2 && p[0] == 0x1f && p[1] == 0x8b) ||
                     (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd) ||
                     (n >= 6 && memcmp(p, "\xfd" "7zXZ\0", 6) == 0) ||
                     (n >= 4 && p[0] == 'B' && p[1] == 'Z' && p[2] == 'h' && p[3] >= '1' && p[3] <= '9');
    if (!compressed) {
        frame_chunked(p, n, fmt, seed, &other);
        same(&plain, &other, "chunked");
        framing_free(&other);
        frame_gzip(p, n, fmt, &other);
        same(&plain, &other, "gzip");
        framing_free(&other);
        frame_zstd(p, n, fmt, &other);
        same(&plain, &other, "zstd");
        framing_free(&other);
    }
    framing_free(&plain);
    return 0;
}
