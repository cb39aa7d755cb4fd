/* writer.c - buffered JSONL / JSON array output to a file descriptor. */
#include "lookahead.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bzlib.h>
#include <lzma.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define WRITE_BLOCK (1u << 20)

struct la_writer {
    int fd;
    int format;
    la_buf buf;
    la_buf line;     /* a record made single-line for JSONL */
    uint64_t records;
    uint64_t bytes;      /* bytes the file took (compressed or not), a failed write's part included */
    uint64_t fed;        /* bytes of the stream handed to sink (before compression) */
    uint64_t confirmed;  /* the stream up to here is wholly in the file, decodable */
    int compress;        /* LA_Z_* */
    int part;            /* a JSON array's part (la_writer_part) */
    int opens, closes;
    z_stream gz;
    ZSTD_CCtx *zs;
    lzma_stream xz;
    int xz_init;
    bz_stream bz;
    int bz_init;
    unsigned char *zbuf; /* compressed output block */
};

/* Writes p[0..n) to fd, retrying short writes and EINTR; *done gets the
 * bytes the file took, also when a write fails midway. */
static int write_counted(int fd, const void *p, size_t n, size_t *done, la_err *err)
{
    const char *c = p;
    *done = 0;
    while (n > 0) {
        ssize_t k = write(fd, c, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EPIPE)
                return la_err_set(err, LA_EIO, "broken_pipe", "broken pipe");
            return la_err_set(err, LA_EIO, "write_error", "write failed: %s", strerror(errno));
        }
        c += k;
        n -= (size_t)k;
        *done += (size_t)k;
    }
    return LA_OK;
}

int la_write_all(int fd, const void *p, size_t n, la_err *err)
{
    size_t done;
    return write_counted(fd, p, n, &done, err);
}

int la_write_counted(int fd, const void *p, size_t n, size_t *done, la_err *err)
{
    return write_counted(fd, p, n, done, err);
}

la_writer *la_writer_new(int fd, int format, la_err *err)
{
    la_writer *w = calloc(1, sizeof *w);
    if (!w || la_buf_reserve(&w->buf, WRITE_BLOCK + 4096)) {
        free(w);
        la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
        return NULL;
    }
    w->fd = fd;
    w->format = format == LA_IO_JSON ? LA_IO_JSON : LA_IO_JSONL;
    return w;
}

int la_writer_compress(la_writer *w, int kind, la_err *err)
{
    if (kind == LA_Z_NONE)
        return LA_OK;
    if (!(w->zbuf = malloc(WRITE_BLOCK)))
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
    if (kind == LA_Z_GZIP) {
        /* level 6, zlib's default: what gzip users expect of the size */
        if (deflateInit2(&w->gz, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "gzip: cannot start the encoder");
    } else if (kind == LA_Z_XZ) {
        /* preset 6 with a CRC64 check, what the xz tool makes by default */
        lzma_stream init = LZMA_STREAM_INIT;
        w->xz = init;
        if (lzma_easy_encoder(&w->xz, 6, LZMA_CHECK_CRC64) != LZMA_OK)
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "xz: cannot start the encoder");
        w->xz_init = 1;
    } else if (kind == LA_Z_BZIP2) {
        /* blocks of 900 kB, what the bzip2 tool makes by default */
        if (BZ2_bzCompressInit(&w->bz, 9, 0, 0) != BZ_OK)
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "bzip2: cannot start the encoder");
        w->bz_init = 1;
    } else {
        if (!(w->zs = ZSTD_createCCtx()))
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "zstd: cannot start the encoder");
        ZSTD_CCtx_setParameter(w->zs, ZSTD_c_compressionLevel, 3);
    }
    w->compress = kind;
    return LA_OK;
}

/* Writes p[0..k) to fd, counting what the file took; for plain output
 * that much more of the stream is in the file. */
static int put(la_writer *w, const void *p, size_t k, la_err *err)
{
    size_t done;
    int rc = write_counted(w->fd, p, k, &done, err);
    w->bytes += done;
    if (w->compress == LA_Z_NONE)
        w->confirmed += done;
    return rc;
}

/* Writes the compressed bytes of the block zbuf[0..k) to fd. */
static int put_block(la_writer *w, size_t k, la_err *err) { return put(w, w->zbuf, k, err); }

/* How sink leaves the compressor: holding what it may (RUN), with all it
 * took written out so that the file so far decodes to it (SYNC), or with
 * the stream ended (END). */
enum { SINK_RUN, SINK_SYNC, SINK_END };

/* sink through xz: like gzip's, until the encoder has taken all of p
 * (and, for SYNC or END, flushed or ended the stream). */
static int xz_sink(la_writer *w, const char *p, size_t n, int mode, la_err *err)
{
    if (n == 0 && mode == SINK_RUN)
        return LA_OK;   /* no progress to make: liblzma would call it an error */
    static const lzma_action act[] = {LZMA_RUN, LZMA_SYNC_FLUSH, LZMA_FINISH};
    w->xz.next_in = (const uint8_t *)p;
    w->xz.avail_in = n;
    lzma_ret z;
    do {
        w->xz.next_out = w->zbuf;
        w->xz.avail_out = WRITE_BLOCK;
        z = lzma_code(&w->xz, act[mode]);
        if (z != LZMA_OK && z != LZMA_STREAM_END)
            return la_err_set(err, z == LZMA_MEM_ERROR ? LA_ENOMEM : LA_EIO, "write_error",
                              "xz: compression failed (liblzma error %d)", (int)z);
        int rc = put_block(w, WRITE_BLOCK - w->xz.avail_out, err);
        if (rc)
            return rc;
    } while (w->xz.avail_in > 0 || w->xz.avail_out == 0 || (mode != SINK_RUN && z != LZMA_STREAM_END));
    return LA_OK;
}

/* sink through bzip2 (its counts are unsigned int: p is fed in parts,
 * the last with the flush or end). */
static int bz_sink(la_writer *w, const char *p, size_t n, int mode, la_err *err)
{
    if (n == 0 && mode == SINK_RUN)
        return LA_OK;   /* no progress to make: libbz2 would call it an error */
    static const int act[] = {BZ_RUN, BZ_FLUSH, BZ_FINISH};
    do {
        size_t part = n > (1u << 30) ? (1u << 30) : n;
        int action = part == n ? act[mode] : BZ_RUN;
        w->bz.next_in = (char *)p;
        w->bz.avail_in = (unsigned)part;
        int z;
        do {
            w->bz.next_out = (char *)w->zbuf;
            w->bz.avail_out = WRITE_BLOCK;
            z = BZ2_bzCompress(&w->bz, action);
            if (z != BZ_RUN_OK && z != BZ_FLUSH_OK && z != BZ_FINISH_OK && z != BZ_STREAM_END)
                return la_err_set(err, LA_EIO, "write_error", "bzip2: compression failed (libbz2 error %d)", z);
            int rc = put_block(w, WRITE_BLOCK - w->bz.avail_out, err);
            if (rc)
                return rc;
        } while (w->bz.avail_in > 0 || (action == BZ_FLUSH && z == BZ_FLUSH_OK) ||
                 (action == BZ_FINISH && z != BZ_STREAM_END));
        p += part;
        n -= part;
    } while (n > 0);
    return LA_OK;
}

/* Sends bytes to fd, through the compressor when there is one, which is
 * left as `mode` says. */
static int sink(la_writer *w, const char *p, size_t n, int mode, la_err *err)
{
    w->fed += n;
    if (w->compress == LA_Z_NONE)
        return put(w, p, n, err);
    int rc;
    if (w->compress == LA_Z_GZIP) {
        static const int act[] = {Z_NO_FLUSH, Z_SYNC_FLUSH, Z_FINISH};
        w->gz.next_in = (unsigned char *)p;
        w->gz.avail_in = (uInt)n;
        int z;
        do {
            w->gz.next_out = w->zbuf;
            w->gz.avail_out = WRITE_BLOCK;
            z = deflate(&w->gz, act[mode]);
            if (z == Z_STREAM_ERROR)
                return la_err_set(err, LA_EIO, "write_error", "gzip: compression failed");
            if ((rc = put_block(w, WRITE_BLOCK - w->gz.avail_out, err)))
                return rc;
        } while (w->gz.avail_out == 0 || (mode == SINK_END && z != Z_STREAM_END));
    } else if (w->compress == LA_Z_XZ) {
        if ((rc = xz_sink(w, p, n, mode, err)))
            return rc;
    } else if (w->compress == LA_Z_BZIP2) {
        if ((rc = bz_sink(w, p, n, mode, err)))
            return rc;
    } else {
        static const ZSTD_EndDirective act[] = {ZSTD_e_continue, ZSTD_e_flush, ZSTD_e_end};
        ZSTD_inBuffer in = {p, n, 0};
        size_t left;
        do {
            ZSTD_outBuffer out = {w->zbuf, WRITE_BLOCK, 0};
            left = ZSTD_compressStream2(w->zs, &out, &in, act[mode]);
            if (ZSTD_isError(left))
                return la_err_set(err, LA_EIO, "write_error", "zstd: %s", ZSTD_getErrorName(left));
            if ((rc = put_block(w, out.pos, err)))
                return rc;
        } while (in.pos < in.size || (mode != SINK_RUN && left != 0));
    }
    if (mode != SINK_RUN)
        w->confirmed = w->fed;
    return LA_OK;
}

static int flush(la_writer *w, int mode, la_err *err)
{
    int rc = sink(w, w->buf.data, w->buf.len, mode, err);
    la_buf_clear(&w->buf);
    return rc;
}

/* A JSONL line cannot hold a record spread over lines (a pretty-printed
 * array element): copy it without the white space between tokens. Raw
 * line breaks can only be such white space, since strings cannot hold
 * them. */
static int append_compact(la_buf *b, const char *rec, size_t len)
{
    if (la_buf_reserve(b, len))
        return LA_ENOMEM;
    char *o = b->data + b->len;
    int in_str = 0, esc = 0;
    for (size_t i = 0; i < len; i++) {
        char c = rec[i];
        if (in_str) {
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        else if (c == '"')
            in_str = 1;
        *o++ = c;
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = 0;
    return LA_OK;
}

int la_writer_record(la_writer *w, const char *rec, size_t len, la_err *err)
{
    if (w->format == LA_IO_JSONL && (memchr(rec, '\n', len) || memchr(rec, '\r', len))) {
        if (append_compact(&w->line, rec, len))
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
        rec = w->line.data;
        len = w->line.len;
        w->line.len = 0;
    }
    const char *sep = w->format == LA_IO_JSONL                 ? ""
                      : w->records || (w->part && !w->opens) ? ",\n"
                                                              : "[\n";
    size_t sl = strlen(sep);
    if (w->buf.len + sl + len + 1 > WRITE_BLOCK && w->buf.len) {
        int rc = flush(w, SINK_RUN, err);
        if (rc)
            return rc;
    }
    if (len + sl + 1 > WRITE_BLOCK) {   /* a huge record: write it straight through */
        int rc = sink(w, sep, sl, SINK_RUN, err);
        if (!rc)
            rc = sink(w, rec, len, SINK_RUN, err);
        if (!rc && w->format == LA_IO_JSONL)
            rc = sink(w, "\n", 1, SINK_RUN, err);
        w->records++;
        return rc;
    }
    if (la_buf_append(&w->buf, sep, sl) || la_buf_append(&w->buf, rec, len) ||
        (w->format == LA_IO_JSONL && la_buf_putc(&w->buf, '\n')))
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
    w->records++;
    return LA_OK;
}

int la_writer_lines(la_writer *w, const char *lines, size_t len, size_t nrecords, la_err *err)
{
    if (w->buf.len + len > WRITE_BLOCK && w->buf.len) {
        int rc = flush(w, SINK_RUN, err);
        if (rc)
            return rc;
    }
    w->records += nrecords;
    if (w->buf.len == 0 || len > WRITE_BLOCK / 2)   /* no copy: straight to fd */
        return sink(w, lines, len, SINK_RUN, err);
    return la_buf_append(&w->buf, lines, len) ? la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory") : LA_OK;
}

void la_writer_part(la_writer *w, int opens, int closes)
{
    w->part = 1;
    w->opens = opens;
    w->closes = closes;
}

int la_writer_finish(la_writer *w, la_err *err)
{
    if (w->format == LA_IO_JSON) {
        const char *tail = w->part && !w->closes                ? ""
                           : w->records || (w->part && !w->opens) ? "\n]\n"
                                                                  : "[]\n";
        if (la_buf_append(&w->buf, tail, strlen(tail)))
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
    }
    return flush(w, SINK_END, err);
}

int la_writer_sync(la_writer *w, la_err *err)
{
    if (w->fed + w->buf.len == w->confirmed)
        return LA_OK;   /* nothing new: no empty flush in the stream */
    return flush(w, SINK_SYNC, err);
}

uint64_t la_writer_pos(const la_writer *w) { return w->fed + w->buf.len; }

uint64_t la_writer_confirmed(const la_writer *w) { return w->confirmed; }

uint64_t la_writer_bytes(const la_writer *w) { return w->bytes; }

void la_writer_free(la_writer *w)
{
    if (!w)
        return;
    la_buf_free(&w->buf);
    la_buf_free(&w->line);
    if (w->compress == LA_Z_GZIP)
        deflateEnd(&w->gz);
    ZSTD_freeCCtx(w->zs);
    if (w->xz_init)
        lzma_end(&w->xz);
    if (w->bz_init)
        BZ2_bzCompressEnd(&w->bz);
    free(w->zbuf);
    free(w);
}
