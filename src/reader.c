/*
 * reader.c - frames records from a stream without loading the file.
 *
 * Bytes come from a source (plain, gzip or zstd, told by magic bytes)
 * into one reused buffer; a record is a span of that buffer. JSONL: one
 * record a line (BOM, CRLF, blank lines, no final newline). JSON: the
 * elements of one top-level array, found by a small resumable scanner
 * (strings, escapes, bracket depth) so that memory follows the largest
 * record, not the file. Full validation happens later, per record.
 * White space before the first record, and at the start of a line past
 * its first MiB, is dropped as it comes (line feeds counted), so that
 * blank input costs neither memory nor a second look.
 */
#include "lookahead.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <bzlib.h>
#include <lzma.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define READ_BLOCK (1u << 20)
/* The first read, which tells plain from compressed input: small, since
 * a JSONL input's bytes then go straight into the batches, and each page
 * of a block first touched costs a page fault, a large share of a short
 * run when the block is big) */
#define SNIFF_BLOCK (64u << 10)
#define ZBLOCKS 3
#define ZBLOCK (256u << 10)
/* White space at the start of a line is kept up to this many bytes; the
 * rest of it, no part of any value, is dropped, so that a blank line of
 * megabytes of spaces (or such an indent) is never held whole. Every way
 * of reading drops the same bytes, however the reads fall; a line whole
 * within one read no longer than this needs no look (la_reader_read). */
#define INDENT_KEEP (1u << 20)

enum { SRC_PLAIN, SRC_GZIP, SRC_ZSTD, SRC_XZ, SRC_BZIP2 };
enum { J_START, J_FIRST, J_ELEM, J_AFTER, J_DONE };

struct la_reader {
    int fd;
    int format;         /* LA_IO_* (AUTO until the first byte is seen) */
    int src;            /* SRC_* */
    char *buf;
    size_t cap, start, end;
    int eof;
    uint64_t line;      /* line number at buf[start] */
    uint64_t blank_nl;  /* line feeds begin() dropped, for la_reader_read to give back */
    int lead_ws;        /* white space came before the first value: no magic number can start the input */
    int indent_seen;    /* next_line: the line begun has shown a byte not white space */
    size_t indent_ws;   /* next_line: white space known at its start */
    int line_text;      /* la_reader_read: the line being given has shown a byte not white space */
    uint64_t indent;    /* la_reader_read: white space given at the start of that line */
    uint64_t bytes;     /* raw bytes read from fd */
    uint64_t zbytes;    /* decompressed bytes taken (compressed input) */
    int begun;          /* BOM and format checked */
    /* a byte range of a plain file (la_reader_range) */
    int ranged;         /* reads stop after `remain` more bytes */
    uint64_t remain;
    int mid;            /* the range starts inside the input */
    int cut;            /* the range ends before the input does */
    int pend_rc;        /* a read that failed while begin() looked ahead: */
    la_err pend_err;    /* given after the bytes read before it */
    /* compressed input */
    unsigned char *zin;
    size_t zin_len, zin_pos;
    int zin_eof;
    z_stream gz;
    int gz_init, gz_end;
    ZSTD_DStream *zs;
    lzma_stream xz;
    int xz_init;
    bz_stream bz;
    int bz_init;
    /* decompression runs in its own thread, a few blocks ahead */
    int zthread;        /* started */
    pthread_t zth;
    pthread_mutex_t zmu;
    pthread_cond_t zcv;
    char *zblk[ZBLOCKS];
    size_t zlen[ZBLOCKS];
    int zend[ZBLOCKS];  /* 1: end of stream after this block; -1: error */
    la_err zerr;
    unsigned zhead, zcount;
    size_t zoff;        /* bytes of the head block already taken */
    int zstop;
    /* JSON array state */
    int jstate;
    uint64_t elems;     /* elements given */
    size_t scan;        /* element scanner position, relative to start */
    size_t depth;
    int in_str, esc;
};

static int raw_read(la_reader *r, void *dst, size_t cap, size_t *got, la_err *err)
{
    if (r->ranged && cap > r->remain)
        cap = (size_t)r->remain;
    for (;;) {
        ssize_t k = read(r->fd, dst, cap);
        if (k >= 0) {
            *got = (size_t)k;
            if (r->ranged)
                r->remain -= (uint64_t)k;
            __atomic_add_fetch(&r->bytes, (uint64_t)k, __ATOMIC_RELAXED);   /* read by progress */
            return LA_OK;
        }
        if (errno != EINTR)
            return la_err_set(err, LA_EIO, "read_error", "read failed: %s", strerror(errno));
    }
}

/* Refills the compressed input buffer when it is used up. */
static int zin_fill(la_reader *r, la_err *err)
{
    if (r->zin_pos < r->zin_len || r->zin_eof)
        return LA_OK;
    /* a pipe may deliver fewer bytes than the magic numbers: read on
     * until there are four, or the input ends */
    size_t got = 0, k = 1;
    while (got < 4 && k > 0) {
        int rc = raw_read(r, r->zin + got, SNIFF_BLOCK - got, &k, err);
        if (rc)
            return rc;
        got += k;
    }
    r->zin_len = got;
    r->zin_pos = 0;
    r->zin_eof = got == 0;
    return LA_OK;
}

static int gz_read(la_reader *r, char *dst, size_t cap, size_t *got, la_err *err)
{
    *got = 0;
    while (*got == 0) {
        int rc = zin_fill(r, err);
        if (rc)
            return rc;
        if (r->gz_end) {   /* a concatenated member follows (gzip -c a b) */
            if (r->zin_pos >= r->zin_len)
                return LA_OK;
            if (inflateReset(&r->gz) != Z_OK)
                return la_err_set(err, LA_EIO, "read_error", "gzip: cannot reset the decoder");
            r->gz_end = 0;
        }
        if (r->zin_pos >= r->zin_len)
            return la_err_set(err, LA_EIO, "read_error", "gzip: truncated input");
        r->gz.next_in = r->zin + r->zin_pos;
        r->gz.avail_in = (uInt)(r->zin_len - r->zin_pos);
        r->gz.next_out = (unsigned char *)dst;
        r->gz.avail_out = (uInt)cap;
        int z = inflate(&r->gz, Z_NO_FLUSH);
        r->zin_pos = r->zin_len - r->gz.avail_in;
        *got = cap - r->gz.avail_out;
        if (z == Z_STREAM_END)
            r->gz_end = 1;
        else if (z != Z_OK && z != Z_BUF_ERROR)
            return la_err_set(err, LA_EIO, "read_error", "gzip: %s", r->gz.msg ? r->gz.msg : "corrupt input");
    }
    return LA_OK;
}

static int zstd_read(la_reader *r, char *dst, size_t cap, size_t *got, la_err *err)
{
    *got = 0;
    while (*got == 0) {
        int rc = zin_fill(r, err);
        if (rc)
            return rc;
        if (r->zin_pos >= r->zin_len) {
            if (r->gz_end)
                return LA_OK;
            return la_err_set(err, LA_EIO, "read_error", "zstd: truncated input");
        }
        ZSTD_inBuffer in = {r->zin, r->zin_len, r->zin_pos};
        ZSTD_outBuffer out = {dst, cap, 0};
        size_t z = ZSTD_decompressStream(r->zs, &out, &in);
        if (ZSTD_isError(z))
            return la_err_set(err, LA_EIO, "read_error", "zstd: %s", ZSTD_getErrorName(z));
        r->zin_pos = in.pos;
        r->gz_end = z == 0;   /* a frame ended; more frames may follow */
        *got = out.pos;
    }
    return LA_OK;
}

/* xz: streams one after another (xz -c a b) decode as one, the end of
 * the input told to the decoder so that a cut stream is an error. */
static int xz_read(la_reader *r, char *dst, size_t cap, size_t *got, la_err *err)
{
    *got = 0;
    while (*got == 0) {
        int rc = zin_fill(r, err);
        if (rc)
            return rc;
        if (r->gz_end)
            return LA_OK;
        r->xz.next_in = r->zin + r->zin_pos;
        r->xz.avail_in = r->zin_len - r->zin_pos;
        r->xz.next_out = (uint8_t *)dst;
        r->xz.avail_out = cap;
        lzma_ret z = lzma_code(&r->xz, r->zin_eof ? LZMA_FINISH : LZMA_RUN);
        r->zin_pos = r->zin_len - r->xz.avail_in;
        *got = cap - r->xz.avail_out;
        if (z == LZMA_STREAM_END)
            r->gz_end = 1;
        else if (z == LZMA_BUF_ERROR && r->zin_eof)
            return la_err_set(err, LA_EIO, "read_error", "xz: truncated input");
        else if (z != LZMA_OK && z != LZMA_BUF_ERROR)
            return la_err_set(err, LA_EIO, "read_error", "xz: %s",
                              z == LZMA_MEM_ERROR ? "out of memory" : z == LZMA_FORMAT_ERROR ? "not an xz stream"
                                                                                           : "corrupt input");
    }
    return LA_OK;
}

/* bzip2: streams one after another (bzip2 -c a b, pbzip2) decode as one. */
static int bz_read(la_reader *r, char *dst, size_t cap, size_t *got, la_err *err)
{
    *got = 0;
    while (*got == 0) {
        int rc = zin_fill(r, err);
        if (rc)
            return rc;
        if (r->gz_end) {   /* another stream may follow */
            if (r->zin_pos >= r->zin_len)
                return LA_OK;
            BZ2_bzDecompressEnd(&r->bz);
            memset(&r->bz, 0, sizeof r->bz);
            if (BZ2_bzDecompressInit(&r->bz, 0, 0) != BZ_OK) {
                r->bz_init = 0;
                return la_err_set(err, LA_ENOMEM, "out_of_memory", "bzip2: cannot restart the decoder");
            }
            r->gz_end = 0;
        }
        if (r->zin_pos >= r->zin_len)
            return la_err_set(err, LA_EIO, "read_error", "bzip2: truncated input");
        r->bz.next_in = (char *)r->zin + r->zin_pos;
        r->bz.avail_in = (unsigned)(r->zin_len - r->zin_pos);
        r->bz.next_out = dst;
        r->bz.avail_out = cap > (1u << 30) ? (1u << 30) : (unsigned)cap;
        unsigned room = r->bz.avail_out;
        int z = BZ2_bzDecompress(&r->bz);
        r->zin_pos = r->zin_len - r->bz.avail_in;
        *got = room - r->bz.avail_out;
        if (z == BZ_STREAM_END)
            r->gz_end = 1;
        else if (z != BZ_OK)
            return la_err_set(err, LA_EIO, "read_error", "bzip2: %s",
                              z == BZ_MEM_ERROR ? "out of memory" : "corrupt input");
    }
    return LA_OK;
}

/* Decompressed bytes from whichever decoder the input has. */
static int z_read(la_reader *r, char *dst, size_t cap, size_t *got, la_err *err)
{
    switch (r->src) {
    case SRC_GZIP: return gz_read(r, dst, cap, got, err);
    case SRC_XZ: return xz_read(r, dst, cap, got, err);
    case SRC_BZIP2: return bz_read(r, dst, cap, got, err);
    default: return zstd_read(r, dst, cap, got, err);
    }
}

/* Looks at the first bytes: gzip (1f 8b), zstd (28 b5 2f fd), xz
 * (fd 37 7a 58 5a 00) and bzip2 ("BZh" and a digit) streams get a
 * decoder, anything else is read as it is. */
static int detect_source(la_reader *r, la_err *err)
{
    /* a pipe may deliver fewer bytes than the magic numbers: read on
     * until there are six, or the input ends */
    size_t got = 0, k = 1;
    while (got < 6 && k > 0) {
        int rc = raw_read(r, r->zin + got, SNIFF_BLOCK - got, &k, err);
        if (rc)
            return rc;
        got += k;
    }
    r->zin_len = got;
    r->zin_pos = 0;
    r->zin_eof = got == 0;
    const unsigned char *z = r->zin;
    static const unsigned char xz_magic[6] = {0xfd, '7', 'z', 'X', 'Z', 0};
    if (got >= 6 && memcmp(z, xz_magic, 6) == 0) {
        lzma_stream init = LZMA_STREAM_INIT;
        r->xz = init;
        if (lzma_stream_decoder(&r->xz, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK)
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "xz: cannot start the decoder");
        r->xz_init = 1;
        r->src = SRC_XZ;
        return LA_OK;
    }
    if (got >= 4 && z[0] == 'B' && z[1] == 'Z' && z[2] == 'h' && z[3] >= '1' && z[3] <= '9') {
        if (BZ2_bzDecompressInit(&r->bz, 0, 0) != BZ_OK)
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "bzip2: cannot start the decoder");
        r->bz_init = 1;
        r->src = SRC_BZIP2;
        return LA_OK;
    }
    if (got >= 2 && z[0] == 0x1f && z[1] == 0x8b) {
        if (inflateInit2(&r->gz, 15 + 16) != Z_OK)
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "gzip: cannot start the decoder");
        r->gz_init = 1;
        r->src = SRC_GZIP;
    } else if (got >= 4 && z[0] == 0x28 && z[1] == 0xb5 && z[2] == 0x2f && z[3] == 0xfd) {
        if (!(r->zs = ZSTD_createDStream()))
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "zstd: cannot start the decoder");
        r->src = SRC_ZSTD;
    } else {
        /* plain: the bytes read so far are data */
        memcpy(r->buf + r->end, r->zin, got);
        r->end += got;
        r->eof = got == 0;
        r->src = SRC_PLAIN;
    }
    return LA_OK;
}

la_reader *la_reader_new(int fd, int format, la_err *err)
{
    la_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->buf = malloc(READ_BLOCK + 1)) || !(r->zin = malloc(READ_BLOCK))) {
        if (r)
            free(r->buf);
        free(r);
        la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
        return NULL;
    }
    r->fd = fd;
    r->cap = READ_BLOCK;
    r->format = format;
    r->line = 1;
    r->src = -1;
    return r;
}

void la_reader_free(la_reader *r)
{
    if (!r)
        return;
    if (r->zthread) {
        pthread_mutex_lock(&r->zmu);
        r->zstop = 1;
        pthread_cond_broadcast(&r->zcv);
        pthread_mutex_unlock(&r->zmu);
        pthread_join(r->zth, NULL);
        pthread_mutex_destroy(&r->zmu);
        pthread_cond_destroy(&r->zcv);
    }
    for (int i = 0; i < ZBLOCKS; i++)
        free(r->zblk[i]);
    if (r->gz_init)
        inflateEnd(&r->gz);
    ZSTD_freeDStream(r->zs);
    if (r->xz_init)
        lzma_end(&r->xz);
    if (r->bz_init)
        BZ2_bzDecompressEnd(&r->bz);
    free(r->zin);
    free(r->buf);
    free(r);
}

int la_reader_format(const la_reader *r) { return r->format; }

int la_reader_compression(const la_reader *r)
{
    static const int kind[] = {LA_Z_NONE, LA_Z_GZIP, LA_Z_ZSTD, LA_Z_XZ, LA_Z_BZIP2};
    return r->src < 0 ? LA_Z_NONE : kind[r->src];
}

int la_reader_range(la_reader *r, uint64_t length, int mid, int cut, la_err *err)
{
    if (r->src >= 0 || (mid && r->format == LA_IO_AUTO))
        return la_err_set(err, LA_EARG, "bad_argument", "a range is set before reading, with the format given");
    r->src = SRC_PLAIN;   /* bytes inside a file: never a compressor's magic */
    r->ranged = 1;
    r->remain = length;
    r->mid = mid;
    r->cut = cut;
    if (mid && r->format == LA_IO_JSON)
        r->jstate = J_FIRST;   /* the range starts at an element, after the '[' */
    return LA_OK;
}
uint64_t la_reader_bytes(const la_reader *r) { return __atomic_load_n(&r->bytes, __ATOMIC_RELAXED); }
uint64_t la_reader_data_bytes(const la_reader *r)
{
    return r->src == SRC_PLAIN || r->src < 0 ? la_reader_bytes(r) : __atomic_load_n(&r->zbytes, __ATOMIC_RELAXED);
}

/* The decompression thread: fills free blocks in turn until the stream
 * ends, fails, or the reader is freed. Running it beside the parser is
 * what makes reading FILE.zst as fast as `zstd -dc FILE.zst |`. */
static void *decompress_main(void *arg)
{
    la_reader *r = arg;
    unsigned slot = 0;
    for (;;) {
        pthread_mutex_lock(&r->zmu);
        while (r->zcount == ZBLOCKS && !r->zstop)
            pthread_cond_wait(&r->zcv, &r->zmu);
        int stop = r->zstop;
        pthread_mutex_unlock(&r->zmu);
        if (stop)
            return NULL;
        size_t got = 0;
        la_err e;
        int rc = z_read(r, r->zblk[slot], ZBLOCK, &got, &e);
        pthread_mutex_lock(&r->zmu);
        r->zlen[slot] = got;
        r->zend[slot] = rc ? -1 : got == 0;
        if (rc)
            r->zerr = e;
        r->zcount++;
        pthread_cond_broadcast(&r->zcv);
        pthread_mutex_unlock(&r->zmu);
        if (rc || got == 0)
            return NULL;
        slot = (slot + 1) % ZBLOCKS;
    }
}

static int start_decompressor(la_reader *r, la_err *err)
{
    for (int i = 0; i < ZBLOCKS; i++)
        if (!(r->zblk[i] = malloc(ZBLOCK)))
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
    pthread_mutex_init(&r->zmu, NULL);
    pthread_cond_init(&r->zcv, NULL);
    if (pthread_create(&r->zth, NULL, decompress_main, r)) {
        pthread_mutex_destroy(&r->zmu);
        pthread_cond_destroy(&r->zcv);
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "cannot start the decompression thread");
    }
    r->zthread = 1;
    return LA_OK;
}

/* Takes up to cap bytes of the decompressed blocks into dst; a block is
 * released once all of it has been taken. */
static int take_block(la_reader *r, char *dst, size_t cap, size_t *got, la_err *err)
{
    pthread_mutex_lock(&r->zmu);
    while (r->zcount == 0)
        pthread_cond_wait(&r->zcv, &r->zmu);
    unsigned h = r->zhead;
    pthread_mutex_unlock(&r->zmu);
    int end = r->zend[h];
    if (end < 0) {
        if (err)
            *err = r->zerr;
        return LA_EIO;
    }
    size_t k = r->zlen[h] - r->zoff;
    if (k > cap)
        k = cap;
    memcpy(dst, r->zblk[h] + r->zoff, k);
    *got = k;
    __atomic_add_fetch(&r->zbytes, (uint64_t)k, __ATOMIC_RELAXED);   /* read by progress */
    r->zoff += k;
    if (r->zoff < r->zlen[h])
        return LA_OK;
    pthread_mutex_lock(&r->zmu);
    if (!end) {   /* the final block stays, so later calls see the end again */
        r->zhead = (h + 1) % ZBLOCKS;
        r->zoff = 0;
        r->zcount--;
        pthread_cond_broadcast(&r->zcv);
    }
    pthread_mutex_unlock(&r->zmu);
    return LA_OK;
}

/* Reads more data after buf[end], first moving unconsumed bytes to the
 * front and growing the buffer when one record fills it. */
/* The failure begin() met while looking ahead, once. */
static int pending(la_reader *r, la_err *err)
{
    int rc = r->pend_rc;
    r->pend_rc = 0;
    if (err)
        *err = r->pend_err;
    return rc;
}

static int fill(la_reader *r, la_err *err)
{
    if (r->pend_rc)
        return pending(r, err);
    if (r->src < 0) {
        int rc = detect_source(r, err);
        if (rc || r->src == SRC_PLAIN)
            return rc;
    }
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->cap - r->end < READ_BLOCK / 2) {
        size_t nc = r->cap * 2;
        char *nb = realloc(r->buf, nc + 1);
        if (!nb)
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory for a record of %zu bytes", r->end);
        r->buf = nb;
        r->cap = nc;
    }
    size_t got;
    int rc;
    if (r->src == SRC_PLAIN)
        rc = raw_read(r, r->buf + r->end, r->cap - r->end, &got, err);
    else if (!r->zthread && (rc = start_decompressor(r, err)))
        return rc;
    else
        rc = take_block(r, r->buf + r->end, r->cap - r->end, &got, err);
    if (rc)
        return rc;
    r->end += got;
    if (got == 0)
        r->eof = 1;
    return LA_OK;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static uint64_t count_nl(const char *p, size_t n)
{
    uint64_t k = 0;
    const char *e = p + n;
    while ((p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
        k++;
        p++;
    }
    return k;
}

#define ONES 0x0101010101010101ull
#define LOW7 0x7f7f7f7f7f7f7f7full

/* The top bit of each byte of w that equals c, the others 0 (exact:
 * no carry crosses a byte). */
static uint64_t bytes_eq(uint64_t w, unsigned char c)
{
    w ^= ONES * c;
    return ~(((w & LOW7) + LOW7) | w) & ~LOW7;
}

/* Counts the line feeds in p[0..n) eight bytes at a time: white space
 * may be all line feeds, where a memchr per line feed (count_nl) would
 * cost a call per byte. */
static uint64_t count_nl_dense(const char *p, size_t n)
{
    uint64_t k = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        k += ((bytes_eq(w, '\n') >> 7) * ONES) >> 56;   /* the bytes' sum */
    }
    for (; i < n; i++)
        k += p[i] == '\n';
    return k;
}

/* The first byte of p[i..n) that is not white space (n if none), eight
 * bytes at a time, for megabytes of blank input. */
static size_t skip_ws(const char *p, size_t i, size_t n)
{
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if ((bytes_eq(w, ' ') | bytes_eq(w, '\n') | bytes_eq(w, '\r') | bytes_eq(w, '\t')) != ~LOW7)
            break;
    }
    while (i < n && is_ws(p[i]))
        i++;
    return i;
}

/* The first byte of p[i..n) that is neither a space, a tab nor a
 * carriage return (n if none): white space within one line. */
static size_t skip_indent(const char *p, size_t i, size_t n)
{
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if ((bytes_eq(w, ' ') | bytes_eq(w, '\r') | bytes_eq(w, '\t')) != ~LOW7)
            break;
    }
    while (i < n && (p[i] == ' ' || p[i] == '\r' || p[i] == '\t'))
        i++;
    return i;
}

/* Where the last line of p[0..n) starts: after its last line feed, 0
 * when there is none. Eight bytes at a time from the end: a read ends
 * within a record, most often a short way after a line feed. */
static size_t last_line(const char *p, size_t n)
{
    size_t i = n;
    for (; i >= 8; i -= 8) {
        uint64_t w;
        memcpy(&w, p + i - 8, 8);
        if (bytes_eq(w, '\n'))
            break;
    }
    while (i > 0 && p[i - 1] != '\n')
        i--;
    return i;
}

/* Drops white space before the first value as it comes, so that blank
 * input ahead of it costs a block of memory and one look at each byte:
 * whole lines, whose line feeds are counted into the line number and
 * kept as a count for la_reader_read to give back as blank lines, and of
 * the line begun, all but its first INDENT_KEEP bytes. buf[start..end)
 * is all white space. */
static void drop_blank(la_reader *r)
{
    size_t at = r->start + last_line(r->buf + r->start, r->end - r->start);
    uint64_t k = count_nl_dense(r->buf + r->start, at - r->start);
    r->line += k;
    r->blank_nl += k;
    r->start = at;
    if (r->end - r->start > INDENT_KEEP)
        r->end = r->start + INDENT_KEEP;
}

/* Skips a UTF-8 BOM and the white space before the first value, and
 * decides the format from the first byte after it. White space in the
 * block where the value begins stays (an indented first record keeps its
 * indent); an explicit JSON array's is left to the array scanner. */
/* ---- input shapes that are not JSONL nor a JSON array of objects ---- */

/* How much of the input, from its first value, the shape is judged on. */
#define SHAPE_LOOK ((size_t)64 << 10)

/* What the first bytes say the input is when it is another format:
 * Parquet, or a compressor's stream that is not read. NULL when none. */
static const char *foreign_magic(const unsigned char *p, size_t n)
{
    static const struct {
        const char *magic;
        size_t len;
        const char *what;
    } known[] = {
        {"PAR1", 4, "a Parquet file (magic PAR1), not JSON: convert it to JSONL first, e.g. duckdb -c \"COPY "
                    "(FROM 'FILE') TO 'FILE.jsonl' (FORMAT json)\" or pandas' to_json(orient='records', lines=True)"},
        {"\x04\x22\x4d\x18", 4, "lz4-compressed, which is not read: lz4 -dc FILE | lookahead ... (gzip, zstd, xz "
                                "and bzip2 are read as they are)"},
        {"\x02\x21\x4c\x18", 4, "lz4-compressed (legacy frame), which is not read: lz4 -dc FILE | lookahead ..."},
        {"LZIP", 4, "lzip-compressed, which is not read: lzip -dc FILE | lookahead ..."},
        {"PK\x03\x04", 4, "a zip archive, which is not read: unzip -p FILE | lookahead ..."},
        {"7z\xbc\xaf\x27\x1c", 6, "a 7-Zip archive, which is not read: 7z x -so FILE | lookahead ..."},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (n >= known[i].len && memcmp(p, known[i].magic, known[i].len) == 0)
            return known[i].what;
    return NULL;
}

/* Walks JSON text p[0..n) from its first byte (an opening bracket) with
 * strings and depth, stopping where the value closes: the index after
 * it, or n when it does not close in p. *nl: the first line feed outside
 * strings before that (n if none); *eol_last: the last byte not white
 * space before *nl; *key: the first member name of the top level whose
 * value is an array (up to keycap - 1 bytes, "" if none). */
static size_t walk_value(const char *p, size_t n, size_t *nl, char *eol_last, char *key, size_t keycap)
{
    size_t depth = 0, str_at = 0, str_end = 0;
    int in_str = 0, esc = 0;
    char last = 0;
    *nl = n;
    *eol_last = 0;
    key[0] = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (in_str) {
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"') {
                in_str = 0;
                str_end = i;
                last = c;
            }
            continue;
        }
        if (c == '\n' && *nl == n) {
            *nl = i;
            *eol_last = last;
        }
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        if (c == '"') {
            in_str = 1;
            str_at = i + 1;
        } else if (c == '{' || c == '[') {
            if (c == '[' && depth == 1 && last == ':' && !key[0] && str_end >= str_at) {
                size_t k = str_end - str_at < keycap - 1 ? str_end - str_at : keycap - 1;
                memcpy(key, p + str_at, k);
                key[k] = 0;
            }
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth <= 1)
                return i + 1;
            depth--;
        }
        last = c;
    }
    return n;
}

/* Looks at what begin() has buffered, buf[i..end) from the first byte
 * that is not white space, for shapes that are certainly not what was
 * asked (auto: the format was told by that byte), and fails naming the
 * shape and the way out (code "input_shape"). Only what is buffered is
 * looked at: a shape it cannot tell there is read as before. */
static int check_shape(la_reader *r, size_t i, int auto_format, la_err *err)
{
    /* the same bytes whatever the reads brought: at most SHAPE_LOOK from
     * the first value (begin() has read that much, or to the end) */
    const char *p = r->buf + i;
    size_t n = r->end - i < SHAPE_LOOK ? r->end - i : SHAPE_LOOK;
    int at_end = r->eof && r->end - i <= SHAPE_LOOK;
    /* a magic number is the input's first bytes: after white space that
     * a slow pipe's reads had dropped, it is none (as a file read at once
     * shows it, white space first) */
    const char *what =
        r->lead_ws ? NULL : foreign_magic((const unsigned char *)r->buf + r->start, i + n - r->start);
    if (what)
        return la_err_set(err, LA_EDATA, "input_shape", "%s", what);
    if (!auto_format || n == 0)
        return LA_OK;
    const char *nl = memchr(p, '\n', n);
    size_t line1 = nl ? (size_t)(nl - p) : at_end ? n : 0;
    if (p[0] != '{' && p[0] != '[') {
        /* a header line of names and separators, no JSON object on it; a
         * quoted first name is followed by a separator (a line that is one
         * JSON string is a record, rejected as not an object) */
        size_t q = 1;
        while (p[0] == '"' && q < line1 && p[q] != '"')
            q += p[q] == '\\' ? 2 : 1;
        int quoted_name = p[0] == '"' && q + 1 < line1 && (p[q + 1] == ',' || p[q + 1] == '\t');
        if (line1 && !memchr(p, '{', line1) && (memchr(p, ',', line1) || memchr(p, '\t', line1)) &&
            (quoted_name || (p[0] >= '0' && p[0] <= '9') || ((p[0] | 0x20) >= 'a' && (p[0] | 0x20) <= 'z')))
            return la_err_set(err, LA_EDATA, "input_shape",
                              "line 1 looks like a CSV header (%.*s), not JSON: convert it to JSONL first, e.g. "
                              "python3 -c 'import csv,json,sys; [print(json.dumps(r)) for r in csv.DictReader(sys.stdin)]'",
                              (int)(line1 < 40 ? line1 : 40), p);
        return LA_OK;
    }
    size_t first_nl;
    char eol_last, key[48];
    size_t close = walk_value(p, n, &first_nl, &eol_last, key, sizeof key);
    size_t after = skip_ws(p, close, n);
    if (p[0] == '[') {
        /* a whole array on line 1, another on line 2: JSONL of arrays */
        if (close < n && first_nl >= close && after < n && p[after] == '[')
            return la_err_set(err, LA_EDATA, "input_shape",
                              "lines 1 and 2 each hold a JSON array: JSONL whose lines are arrays, not one JSON "
                              "array; records must be objects (jq -c '.[]' flattens arrays of objects), or give "
                              "--input-format jsonl to read each line as a record");
        return LA_OK;
    }
    /* '{' not closed on line 1, the line ending where a pretty-printer
     * breaks it (a truncated record ends inside a string or a value) */
    if (first_nl >= close || (eol_last != '{' && eol_last != '[' && eol_last != ',' && eol_last != ':'))
        return LA_OK;
    if (close < n && after < n && p[after] == '{')
        return la_err_set(err, LA_EDATA, "input_shape",
                          "line 1 starts a JSON object spread over several lines and another follows: pretty-printed "
                          "objects, not JSONL (one object a line); convert with jq -c . FILE > FILE.jsonl");
    if (key[0])
        return la_err_set(err, LA_EDATA, "input_shape",
                          "the input is one JSON object over several lines, not JSONL nor a JSON array of records; "
                          "take its records out with jq -c '.%s[]' FILE > FILE.jsonl",
                          key);
    if (close < n && after == n)
        return la_err_set(err, LA_EDATA, "input_shape",
                          "the input is one JSON object over several lines, not JSONL (one object a line); convert "
                          "with jq -c . FILE > FILE.jsonl");
    return LA_OK;
}

static int begin(la_reader *r, la_err *err)
{
    int auto_format = r->format == LA_IO_AUTO;
    while (!r->eof && r->end - r->start < 3) {
        int rc = fill(r, err);
        if (rc)
            return rc;
    }
    if (!r->mid && r->end - r->start >= 3 && memcmp(r->buf + r->start, "\xEF\xBB\xBF", 3) == 0)
        r->start += 3;
    size_t seen = 0;   /* buf[start..start + seen) is known white space */
    while (r->format != LA_IO_JSON) {
        size_t i = skip_ws(r->buf, r->start + seen, r->end);
        if (i < r->end || r->eof) {
            if (r->format == LA_IO_AUTO)
                r->format = i < r->end && r->buf[i] == '[' ? LA_IO_JSON : LA_IO_JSONL;
            /* the shape is judged on SHAPE_LOOK bytes (or all there is),
             * so that a pipe giving a byte at a time is judged as a file;
             * a read that fails here fails again when the records need
             * it, after those before it */
            size_t off = i - r->start;
            while (!r->eof && r->end - r->start - off < SHAPE_LOOK &&
                   (r->pend_rc = fill(r, &r->pend_err)) == LA_OK)
                ;
            i = r->start + off;
            /* a range from inside the input: its shape was judged on the
             * input's first bytes */
            int rc = r->mid ? LA_OK : check_shape(r, i, auto_format, err);
            if (rc)
                return rc;
            break;
        }
        r->lead_ws |= r->end > r->start;
        drop_blank(r);
        seen = r->end - r->start;
        int rc = fill(r, err);
        if (rc)
            return rc;
    }
    r->begun = 1;
    return LA_OK;
}

/* Before reading more of a line that has no line feed yet and fills more
 * than INDENT_KEEP bytes: white space at its start beyond INDENT_KEEP
 * bytes is dropped, as next_line would drop it from the record, so that
 * a blank line of megabytes of spaces never grows the buffer. What is
 * known to be white space is not looked at again; once the line has
 * shown other bytes, nothing is. */
static void drop_indent(la_reader *r)
{
    if (r->indent_seen || r->end - r->start <= INDENT_KEEP)
        return;
    size_t k = skip_indent(r->buf, r->start + r->indent_ws, r->end);   /* no line feed in the line */
    r->indent_seen = k < r->end;
    if (k - r->start > INDENT_KEEP) {
        size_t keep = r->start + INDENT_KEEP;
        memmove(r->buf + keep, r->buf + k, r->end - k);
        r->end -= k - keep;
        k = keep;
    }
    r->indent_ws = k - r->start;
}

static int next_line(la_reader *r, const char **rec, size_t *len, uint64_t *line, la_err *err)
{
    size_t scanned = r->start;
    for (;;) {
        char *nl = memchr(r->buf + scanned, '\n', r->end - scanned);
        size_t stop;
        if (nl)
            stop = (size_t)(nl - r->buf);
        else if (r->eof)
            stop = r->end;
        else {
            drop_indent(r);
            scanned = r->end - r->start;   /* relative: fill may move data */
            int rc = fill(r, err);
            if (rc)
                return rc;
            scanned += r->start;
            continue;
        }
        if (stop == r->start && r->eof && !nl)
            return 0;
        size_t a = r->start, b = stop;
        *line = r->line;
        r->start = nl ? stop + 1 : stop;
        r->line++;
        r->indent_seen = 0;
        r->indent_ws = 0;
        if (b > a && r->buf[b - 1] == '\r')
            b--;
        size_t k = a;
        while (k < b && is_ws(r->buf[k]))
            k++;
        if (k == b) {           /* blank line; the empty ones after it without a memchr each */
            while (r->start < r->end && r->buf[r->start] == '\n') {
                r->start++;
                r->line++;
            }
            scanned = r->start;
            continue;
        }
        if (k - a > INDENT_KEEP) {   /* an indent's first INDENT_KEEP bytes only */
            memmove(r->buf + k - INDENT_KEEP, r->buf + a, INDENT_KEEP);
            a = k - INDENT_KEEP;
        }
        *rec = r->buf + a;
        *len = b - a;
        return 1;
    }
}

/* Makes sure buf[start + off] exists; 0 = yes, 1 = end of input. */
static int need(la_reader *r, size_t off, la_err *err, int *rc)
{
    while (r->start + off >= r->end) {
        if (r->eof)
            return 1;
        if ((*rc = fill(r, err)))
            return 1;
    }
    return 0;
}

/* Consumes white space (counting lines) before the next token of the
 * array syntax; returns the token byte or -1 at end of input. */
static int array_token(la_reader *r, la_err *err, int *rc)
{
    for (;;) {
        if (need(r, 0, err, rc))
            return -1;
        size_t i = skip_ws(r->buf, r->start, r->end);
        r->line += count_nl_dense(r->buf + r->start, i - r->start);
        r->start = i;
        if (i < r->end)
            return (unsigned char)r->buf[i];
    }
}

/* Where buf[start] is in the input's data (from 1), for the array's
 * framing errors, which a one-line array (json.dump's way) would
 * otherwise place only on its line 1; 0 in a --split range, whose
 * offsets are not the file's. */
static uint64_t data_pos(const la_reader *r)
{
    if (r->ranged)
        return 0;
    return (r->src == SRC_PLAIN ? r->bytes : r->zbytes) - (r->end - r->start) + 1;
}

/* The input ended inside element elems + 1, which starts at buf[start]. */
static int cut_element(la_reader *r, la_err *err)
{
    uint64_t pos = data_pos(r);
    char at[48] = "", which[32] = "an element";
    if (pos)
        snprintf(at, sizeof at, ", which starts at byte %llu", (unsigned long long)pos);
    if (!r->mid)
        snprintf(which, sizeof which, "element %llu", (unsigned long long)r->elems + 1);
    return la_err_set(err, LA_EDATA, "invalid_json", "unexpected end of input inside %s of the array%s", which, at);
}

/* Finds where the element starting at buf[start] ends. */
static int scan_element(la_reader *r, size_t *elen, la_err *err)
{
    int rc = 0;
    size_t i = r->scan;
    for (;;) {
        if (need(r, i, err, &rc))
            return rc ? rc : cut_element(r, err);
        const char *p = r->buf + r->start;
        size_t n = r->end - r->start;
        for (; i < n; i++) {
            char c = p[i];
            if (r->in_str) {
                if (r->esc)
                    r->esc = 0;
                else if (c == '\\')
                    r->esc = 1;
                else if (c == '"') {
                    r->in_str = 0;
                    if (r->depth == 0) {
                        *elen = i + 1;
                        return LA_OK;
                    }
                }
                continue;
            }
            if (c == '"')
                r->in_str = 1;
            else if (c == '{' || c == '[')
                r->depth++;
            else if (c == '}' || c == ']') {
                if (r->depth == 0) {
                    *elen = i;
                    return LA_OK;
                }
                if (--r->depth == 0) {
                    *elen = i + 1;
                    return LA_OK;
                }
            } else if (r->depth == 0 && (c == ',' || is_ws(c))) {
                *elen = i;
                return LA_OK;
            }
        }
        r->scan = i;
    }
}

/* The end of a range that is cut before the input's end (la_reader_range)
 * came inside an element or before the ',' after one: the range was not
 * cut between two elements. */
static int cut_inside(la_err *err)
{
    return la_err_set(err, LA_EDATA, "split_boundary", "the range does not end between two elements of the array");
}

/* A framing error at buf[start]: what was expected there, after which
 * element, what was found, and at which byte. */
static int array_error(la_reader *r, const char *what, int found, la_err *err)
{
    char after[48] = "", at[48] = "", got[32] = "the end";
    uint64_t pos = data_pos(r);
    if (r->elems && !r->mid)   /* a --split range starting mid-array does not know its elements' numbers */
        snprintf(after, sizeof after, " after element %llu", (unsigned long long)r->elems);
    if (pos && found >= 0)
        snprintf(at, sizeof at, " at byte %llu", (unsigned long long)pos);
    if (found >= 0x20 && found < 0x7f)
        snprintf(got, sizeof got, "'%c'", found);
    else if (found >= 0)
        snprintf(got, sizeof got, "byte 0x%02X", (unsigned)found);
    return la_err_set(err, LA_EDATA, "invalid_json", "%s%s, found %s%s", what, after, got, at);
}

static int next_element(la_reader *r, const char **rec, size_t *len, uint64_t *line, la_err *err)
{
    int rc = 0, c;
    for (;;) {
        switch (r->jstate) {
        case J_START:
            c = array_token(r, err, &rc);
            if (rc)
                return rc;
            if (c != '[')
                return la_err_set(err, LA_EDATA, "invalid_json", "expected '[' to open the array");
            r->start++;
            r->jstate = J_FIRST;
            break;
        case J_FIRST:
        case J_AFTER:
            c = array_token(r, err, &rc);
            if (rc)
                return rc;
            if (c < 0 && r->cut && r->jstate == J_FIRST) {   /* a range holding no element */
                r->jstate = J_DONE;
                return 0;
            }
            if (c < 0)
                return r->cut ? cut_inside(err) : array_error(r, "expected an element or ']'", c, err);
            if (c == ']') {
                r->start++;
                r->jstate = J_DONE;
                break;
            }
            if (r->jstate == J_AFTER) {
                if (c != ',')
                    return array_error(r, "expected ',' or ']'", c, err);
                r->start++;
                c = array_token(r, err, &rc);
                if (rc)
                    return rc;
                if (c < 0 && r->cut) {   /* the range ends where the next element starts */
                    r->jstate = J_DONE;
                    return 0;
                }
                if (c == ']' || c < 0)
                    return array_error(r, c < 0 ? "expected an element" : "trailing comma: expected an element", c,
                                       err);
            }
            r->jstate = J_ELEM;
            r->scan = 0;
            r->depth = 0;
            r->in_str = r->esc = 0;
            break;
        case J_ELEM: {
            size_t elen = 0;
            if ((rc = scan_element(r, &elen, err)))
                return rc == LA_EDATA && r->cut ? cut_inside(err) : rc;
            if (elen == 0)
                return array_error(r, "expected an element", (unsigned char)r->buf[r->start], err);
            *rec = r->buf + r->start;
            r->elems++;
            *len = elen;
            *line = r->line;
            r->line += count_nl(r->buf + r->start, elen);
            r->start += elen;
            r->jstate = J_AFTER;
            return 1;
        }
        case J_DONE:
            c = array_token(r, err, &rc);
            if (rc)
                return rc;
            if (c >= 0) {
                char at[48] = "";
                if (data_pos(r))
                    snprintf(at, sizeof at, ", at byte %llu", (unsigned long long)data_pos(r));
                return la_err_set(err, LA_EDATA, "trailing_data", "trailing data after the top-level array%s", at);
            }
            return 0;
        }
    }
}

int la_reader_begin(la_reader *r, la_err *err)
{
    return r->begun ? LA_OK : begin(r, err);
}

/* Counts the white space at dst[at..] into the indent of the line being
 * given, and drops what goes beyond INDENT_KEEP; returns the new length. */
static size_t trim_at(la_reader *r, char *dst, size_t n, size_t at)
{
    size_t k = skip_indent(dst, at, n);
    r->line_text = k < n && dst[k] != '\n';
    r->indent += k - at;
    if (r->indent <= INDENT_KEEP)
        return n;
    size_t drop = r->indent - INDENT_KEEP < k - at ? (size_t)(r->indent - INDENT_KEEP) : k - at;
    memmove(dst + k - drop, dst + k, n - k);
    r->indent -= drop;
    return n - drop;
}

/* Drops from the n bytes just given in dst the white space at the start
 * of a line beyond INDENT_KEEP bytes (never a line feed: line numbers
 * stay), so that a caller framing lines never holds a blank line of
 * spaces whole; returns the new length. The first line of a read (which
 * may go on from the last read) and its last (which may go on in the
 * next) are looked at; the lines between lie whole within this read, so
 * their indents are shorter than it: only in a read longer than
 * INDENT_KEEP is each of them looked at. */
static size_t trim_indent(la_reader *r, char *dst, size_t n)
{
    if (!r->line_text)
        n = trim_at(r, dst, n, 0);
    if (n > INDENT_KEEP) {
        const char *nl;
        for (size_t at = 0; (nl = memchr(dst + at, '\n', n - at)) != NULL;) {
            at = (size_t)(nl - dst) + 1;
            r->indent = 0;
            n = trim_at(r, dst, n, at);
        }
        return n;
    }
    size_t at = last_line(dst, n);
    if (at > 0) {   /* a new line begins at dst[at] */
        r->indent = 0;
        n = trim_at(r, dst, n, at);
    }
    return n;
}

/* The next bytes of the input into dst, as they are: the blank lines
 * begin() dropped, then what it read ahead, then reads. */
static int read_some(la_reader *r, char *dst, size_t cap, size_t *got, la_err *err)
{
    int rc;
    *got = 0;
    if (r->blank_nl && cap) {
        size_t k = r->blank_nl < cap ? (size_t)r->blank_nl : cap;
        memset(dst, '\n', k);
        r->blank_nl -= k;
        *got = k;
        return LA_OK;
    }
    if (r->start < r->end) {
        size_t k = r->end - r->start < cap ? r->end - r->start : cap;
        memcpy(dst, r->buf + r->start, k);
        r->start += k;
        *got = k;
        return LA_OK;
    }
    if (r->pend_rc)
        return pending(r, err);
    if (r->eof || cap == 0)
        return LA_OK;
    if (r->src == SRC_PLAIN)
        rc = raw_read(r, dst, cap, got, err);
    else if (!r->zthread && (rc = start_decompressor(r, err)))
        return rc;
    else
        rc = take_block(r, dst, cap, got, err);
    if (!rc && *got == 0)
        r->eof = 1;
    return rc;
}

int la_reader_read(la_reader *r, char *dst, size_t cap, size_t *got, la_err *err)
{
    int rc = la_reader_begin(r, err);
    if (rc)
        return rc;
    /* a read that was all dropped white space is no end of input */
    while ((rc = read_some(r, dst, cap, got, err)) == LA_OK && *got > 0 && (*got = trim_indent(r, dst, *got)) == 0)
        ;
    return rc;
}

int la_reader_check_rest(la_reader *r, uint64_t limit, la_err *err)
{
    if (r->src <= SRC_PLAIN)
        return LA_OK;
    if (r->pend_rc)
        return pending(r, err) == LA_EIO ? LA_EIO : LA_OK;
    if (!r->zthread && start_decompressor(r, err) != LA_OK)
        return LA_OK;             /* not checked: the run's own error stands */
    char tmp[1 << 14];
    for (uint64_t taken = 0; taken < limit;) {
        size_t got = 0;
        if (take_block(r, tmp, sizeof tmp, &got, err) != LA_OK)
            return LA_EIO;
        if (got == 0)
            return LA_OK;
        taken += got;
    }
    return LA_OK;
}

int la_reader_next(la_reader *r, const char **rec, size_t *len, uint64_t *line, la_err *err)
{
    if (!r->begun) {
        int rc = begin(r, err);
        if (rc)
            return rc;
        if (r->format == LA_IO_JSON && r->start >= r->end && r->eof)
            return 0;
    }
    if (r->format == LA_IO_JSON) {
        int rc = next_element(r, rec, len, line, err);
        if (rc < 0)
            *line = r->line;
        return rc;
    }
    return next_line(r, rec, len, line, err);
}
