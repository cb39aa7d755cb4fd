/* test_reader.c - framing records from streams. */
#include <check.h>

#include "check_run.h"
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "lookahead.h"

/* Writes data to a temporary file and returns an fd open on it. */
static int temp_fd(const void *data, size_t n)
{
    char path[] = "/tmp/la-test-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
    lseek(fd, 0, SEEK_SET);
    return fd;
}

/* Reads all records of r, joining them with '|' and their lines with ','. */
static int frame_records(la_reader *r, la_buf *recs, la_buf *lines, la_err *err)
{
    const char *rec;
    size_t len;
    uint64_t line;
    int rc;
    while ((rc = la_reader_next(r, &rec, &len, &line, err)) == 1) {
        la_buf_append(recs, rec, len);
        la_buf_putc(recs, '|');
        la_buf_printf(lines, "%llu,", (unsigned long long)line);
    }
    return rc;
}

/* frame_records on a file holding data[0..n). */
static int frame_all(const void *data, size_t n, int fmt, la_buf *recs, la_buf *lines, la_err *err)
{
    int fd = temp_fd(data, n);
    la_reader *r = la_reader_new(fd, fmt, err);
    int rc = frame_records(r, recs, lines, err);
    la_reader_free(r);
    close(fd);
    return rc;
}

START_TEST(jsonl_bom_crlf_blank_no_final_newline)
{
    const char in[] = "\xef\xbb\xbf{\"a\":1}\r\n\n  \t\n{\"b\":2}\n\r\n{\"c\":3}";
    la_buf recs = {0}, lines = {0};
    la_err e;
    ck_assert_int_eq(frame_all(in, sizeof in - 1, LA_IO_AUTO, &recs, &lines, &e), 0);
    ck_assert_str_eq(recs.data, "{\"a\":1}|{\"b\":2}|{\"c\":3}|");
    ck_assert_str_eq(lines.data, "1,4,6,");
    la_buf_free(&recs);
    la_buf_free(&lines);
}
END_TEST

START_TEST(json_array_elements_and_lines)
{
    const char in[] = " \n[\n {\"a\":\"],[{\\\"\"},\n 12 , \"s\",\n [1,[2]], null\n]\n";
    la_buf recs = {0}, lines = {0};
    la_err e;
    ck_assert_int_eq(frame_all(in, sizeof in - 1, LA_IO_AUTO, &recs, &lines, &e), 0);
    ck_assert_str_eq(recs.data, "{\"a\":\"],[{\\\"\"}|12|\"s\"|[1,[2]]|null|");
    ck_assert_str_eq(lines.data, "3,4,4,5,5,");
    la_buf_free(&recs);
    la_buf_free(&lines);
}
END_TEST

START_TEST(json_array_framing_errors)
{
    const char *bad[] = {"[1,]", "[1 2]", "[1] x", "[1,", "[\"abc", "{\"a\":1}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        la_buf recs = {0}, lines = {0};
        la_err e;
        int rc = frame_all(bad[i], strlen(bad[i]), LA_IO_JSON, &recs, &lines, &e);
        ck_assert_msg(rc == LA_EDATA, "%s framed without error", bad[i]);
        la_buf_free(&recs);
        la_buf_free(&lines);
    }
}
END_TEST

/* A record larger than the read block, across many refills, in both formats. */
START_TEST(records_larger_than_the_buffer)
{
    size_t big = 3u << 20;
    char *in = malloc(2 * big + 64);
    size_t n = 0;
    n += (size_t)sprintf(in + n, "[{\"x\":\"");
    memset(in + n, 'a', big);
    n += big;
    n += (size_t)sprintf(in + n, "\"},{\"y\":\"");
    memset(in + n, 'b', big);
    n += big;
    n += (size_t)sprintf(in + n, "\"}]");
    la_buf recs = {0}, lines = {0};
    la_err e;
    ck_assert_int_eq(frame_all(in, n, LA_IO_AUTO, &recs, &lines, &e), 0);
    ck_assert_uint_eq(recs.len, 2 * big + 18);   /* 2 x ({"x":"..."} + |) */
    ck_assert(memcmp(recs.data + big + 6, "\"}|{\"y\"", 7) == 0);
    free(in);
    la_buf_free(&recs);
    la_buf_free(&lines);
}
END_TEST

START_TEST(gzip_and_zstd_input)
{
    const char plain[] = "{\"a\":1}\n{\"b\":2}\n";
    unsigned char gz[256], zs[256];
    z_stream z;
    memset(&z, 0, sizeof z);
    ck_assert_int_eq(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (unsigned char *)plain;
    z.avail_in = sizeof plain - 1;
    z.next_out = gz;
    z.avail_out = sizeof gz;
    ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t gzn = sizeof gz - z.avail_out;
    deflateEnd(&z);
    size_t zsn = ZSTD_compress(zs, sizeof zs, plain, sizeof plain - 1, 3);
    ck_assert(!ZSTD_isError(zsn));
    la_buf recs = {0}, lines = {0};
    la_err e;
    ck_assert_int_eq(frame_all(gz, gzn, LA_IO_AUTO, &recs, &lines, &e), 0);
    ck_assert_int_eq(frame_all(zs, zsn, LA_IO_AUTO, &recs, &lines, &e), 0);
    ck_assert_str_eq(recs.data, "{\"a\":1}|{\"b\":2}|{\"a\":1}|{\"b\":2}|");
    /* truncated compressed input is an I/O error, never silent loss */
    ck_assert_int_eq(frame_all(zs, zsn - 3, LA_IO_AUTO, &recs, &lines, &e), LA_EIO);
    ck_assert_int_eq(frame_all(gz, gzn - 9, LA_IO_AUTO, &recs, &lines, &e), LA_EIO);
    la_buf_free(&recs);
    la_buf_free(&lines);
}
END_TEST

/* Reads the raw bytes of an input with la_reader_read, cap bytes a call. */
static int read_raw(const void *data, size_t n, size_t cap, la_buf *out, la_err *err)
{
    int fd = temp_fd(data, n);
    la_reader *r = la_reader_new(fd, LA_IO_AUTO, err);
    int rc = la_reader_begin(r, err);
    ck_assert_int_eq(la_reader_format(r), LA_IO_JSONL);
    char *chunk = malloc(cap);
    size_t got = 1;
    while (!rc && got > 0) {
        rc = la_reader_read(r, chunk, cap, &got, err);
        if (!rc)
            la_buf_append(out, chunk, got);
    }
    if (!rc)   /* the end stays the end */
        ck_assert_int_eq(la_reader_read(r, chunk, cap, &got, err) == LA_OK && got == 0, 1);
    free(chunk);
    la_reader_free(r);
    close(fd);
    return rc;
}

/* The raw bytes after the BOM, whatever the compression and the size of
 * the reads (decompressed blocks taken in pieces). */
START_TEST(raw_reads_plain_gzip_zstd)
{
    size_t n = 3u << 20;   /* several decompressed blocks */
    char *plain = malloc(n + 3);
    memcpy(plain, "\xef\xbb\xbf", 3);
    for (size_t i = 0; i < n; i++)
        plain[3 + i] = i % 61 == 60 ? '\n' : (char)('a' + (i * 7 + i / 61) % 26);
    size_t zcap = ZSTD_compressBound(n + 3);
    unsigned char *zs = malloc(zcap);
    size_t zsn = ZSTD_compress(zs, zcap, plain, n + 3, 3);
    ck_assert(!ZSTD_isError(zsn));
    uLongf gzcap = compressBound(n + 3) + 64;
    unsigned char *gz = malloc(gzcap);
    z_stream z;
    memset(&z, 0, sizeof z);
    ck_assert_int_eq(deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (unsigned char *)plain;
    z.avail_in = (uInt)(n + 3);
    z.next_out = gz;
    z.avail_out = (uInt)gzcap;
    ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t gzn = gzcap - z.avail_out;
    deflateEnd(&z);
    size_t caps[] = {1000, 65536 + 7, 1u << 20};
    for (size_t c = 0; c < 3; c++) {
        la_buf a = {0}, b = {0}, d = {0};
        la_err e;
        ck_assert_int_eq(read_raw(plain, n + 3, caps[c], &a, &e), LA_OK);
        ck_assert_int_eq(read_raw(gz, gzn, caps[c], &b, &e), LA_OK);
        ck_assert_int_eq(read_raw(zs, zsn, caps[c], &d, &e), LA_OK);
        ck_assert_uint_eq(a.len, n);
        ck_assert(memcmp(a.data, plain + 3, n) == 0);
        ck_assert_uint_eq(b.len, n);
        ck_assert(memcmp(b.data, plain + 3, n) == 0);
        ck_assert_uint_eq(d.len, n);
        ck_assert(memcmp(d.data, plain + 3, n) == 0);
        la_buf_free(&a);
        la_buf_free(&b);
        la_buf_free(&d);
    }
    /* truncated: an error after the bytes that could be decoded */
    la_buf t = {0};
    la_err e;
    ck_assert_int_eq(read_raw(zs, zsn - 3, 4096, &t, &e), LA_EIO);
    ck_assert_uint_le(t.len, n);
    ck_assert(t.len == 0 || memcmp(t.data, plain + 3, t.len) == 0);
    la_buf_free(&t);
    free(plain);
    free(zs);
    free(gz);
}
END_TEST

/* Telling plain input from compressed reads a small block: a JSONL
 * input's bytes then go straight into the caller's buffers, instead of
 * a megabyte being read (and its pages faulted in) twice over before the
 * first record; what was read ahead still comes out first, in order. */
START_TEST(first_read_is_small)
{
    size_t n = 3u << 20;
    char *plain = malloc(n);
    for (size_t i = 0; i < n; i++)
        plain[i] = i % 100 == 99 ? '\n' : (char)('0' + i % 10);
    int fd = temp_fd(plain, n);
    la_err e;
    la_reader *r = la_reader_new(fd, LA_IO_AUTO, &e);
    ck_assert_int_eq(la_reader_begin(r, &e), LA_OK);
    ck_assert_int_eq(la_reader_format(r), LA_IO_JSONL);
    ck_assert_uint_gt(la_reader_bytes(r), 0);
    ck_assert_uint_le(la_reader_bytes(r), 64u << 10);
    char *dst = malloc(256u << 10);
    size_t got = 0, at = 0;
    do {
        ck_assert_int_eq(la_reader_read(r, dst, 256u << 10, &got, &e), LA_OK);
        ck_assert_uint_le(at + got, n);
        ck_assert(memcmp(dst, plain + at, got) == 0);
        at += got;
    } while (got > 0);
    ck_assert_uint_eq(at, n);
    ck_assert_uint_eq(la_reader_bytes(r), n);
    la_reader_free(r);
    close(fd);
    free(dst);
    free(plain);
}
END_TEST

START_TEST(empty_inputs)
{
    la_buf recs = {0}, lines = {0};
    la_err e;
    ck_assert_int_eq(frame_all("", 0, LA_IO_AUTO, &recs, &lines, &e), 0);
    ck_assert_int_eq(frame_all("\n\n", 2, LA_IO_AUTO, &recs, &lines, &e), 0);
    ck_assert_int_eq(frame_all("[]", 2, LA_IO_AUTO, &recs, &lines, &e), 0);
    ck_assert_uint_eq(recs.len, 0);
    la_buf_free(&recs);
    la_buf_free(&lines);
}
END_TEST

/* ---- hostile white space, streamed through a pipe -------------------- */

/* A piece of a generated stream: `text` once, or the byte `fill` `count`
 * times (hundreds of megabytes, never held in memory). */
typedef struct {
    const char *text;
    char fill;
    uint64_t count;
} piece;

enum { PLAIN, GZIP, ZSTD };

/* What the writing thread sends into the pipe: the pieces, compressed by
 * `codec`, in writes of `chunk` bytes (a pipe hands the reader what has
 * been written, so small writes make many small reads). */
typedef struct {
    int fd;
    int codec;
    size_t chunk;
    const piece *pieces;
    size_t npieces;
    z_stream gz;
    ZSTD_CCtx *zs;
    unsigned char out[1u << 16];
} stream_job;

/* Writes all of p[0..n) to the pipe; a reader that stopped reading (a
 * failed test) ends the writer. */
static void write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t k = write(fd, c, n);
        if (k <= 0)
            pthread_exit(NULL);
        c += k;
        n -= (size_t)k;
    }
}

/* Sends n bytes through the job's compressor (last: the end of the stream). */
static void emit(stream_job *j, const void *p, size_t n, int last)
{
    if (j->codec == PLAIN) {
        write_all(j->fd, p, n);
        return;
    }
    if (j->codec == GZIP) {
        j->gz.next_in = (unsigned char *)p;
        j->gz.avail_in = (uInt)n;
        int z;
        do {
            j->gz.next_out = j->out;
            j->gz.avail_out = sizeof j->out;
            z = deflate(&j->gz, last ? Z_FINISH : Z_NO_FLUSH);
            if (z == Z_STREAM_ERROR)
                abort();
            write_all(j->fd, j->out, sizeof j->out - j->gz.avail_out);
        } while (j->gz.avail_in > 0 || (last && z != Z_STREAM_END));
        return;
    }
    ZSTD_inBuffer in = {p, n, 0};
    size_t left;
    do {
        ZSTD_outBuffer out = {j->out, sizeof j->out, 0};
        left = ZSTD_compressStream2(j->zs, &out, &in, last ? ZSTD_e_end : ZSTD_e_continue);
        if (ZSTD_isError(left))
            abort();
        write_all(j->fd, j->out, out.pos);
    } while (in.pos < in.size || (last && left > 0));
}

/* The writing thread: every piece in order, then the end of the stream. */
static void *stream_main(void *arg)
{
    stream_job *j = arg;
    static char fill[1u << 16];
    for (size_t i = 0; i < j->npieces; i++) {
        const piece *pc = &j->pieces[i];
        if (pc->text) {
            emit(j, pc->text, strlen(pc->text), 0);
            continue;
        }
        memset(fill, pc->fill, j->chunk);
        for (uint64_t left = pc->count; left > 0;) {
            size_t k = left < j->chunk ? (size_t)left : j->chunk;
            emit(j, fill, k, 0);
            left -= k;
        }
    }
    emit(j, "", 0, 1);
    close(j->fd);
    return NULL;
}

/* Starts the writer of a generated stream; returns the pipe's read end. */
static int stream_start(stream_job *j, pthread_t *th, const piece *pc, size_t n, int codec, size_t chunk)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    memset(j, 0, sizeof *j);
    j->fd = fds[1];
    j->codec = codec;
    j->chunk = chunk;
    j->pieces = pc;
    j->npieces = n;
    if (codec == GZIP)
        ck_assert_int_eq(deflateInit2(&j->gz, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    if (codec == ZSTD) {
        ck_assert_ptr_nonnull(j->zs = ZSTD_createCCtx());
        ck_assert(!ZSTD_isError(ZSTD_CCtx_setParameter(j->zs, ZSTD_c_compressionLevel, 1)));
    }
    ck_assert_int_eq(pthread_create(th, NULL, stream_main, j), 0);
    return fds[0];
}

static void stream_end(stream_job *j, pthread_t th, int fd)
{
    close(fd);
    pthread_join(th, NULL);
    if (j->codec == GZIP)
        deflateEnd(&j->gz);
    ZSTD_freeCCtx(j->zs);
}

/* This process's resident memory in KiB. */
static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    fclose(f);
    ck_assert_int_ge(kib, 0);
    return kib;
}

/* How much more resident memory than at the start a reader may hold: its
 * blocks, the decoders' windows and the writer's compressor, far below
 * the hundreds of megabytes of white space the tests send. */
#define FLAT_KIB (32L << 10)

/* A reader on a generated stream, and the resident memory before it. */
typedef struct {
    stream_job j;
    pthread_t th;
    int fd;
    la_reader *r;
    long before;
} streamed;

static la_reader *streamed_open(streamed *s, const piece *pc, size_t n, int codec, size_t chunk, int fmt,
                                la_err *err)
{
    s->before = rss_kib();
    s->fd = stream_start(&s->j, &s->th, pc, n, codec, chunk);
    s->r = la_reader_new(s->fd, fmt, err);
    ck_assert_ptr_nonnull(s->r);
    return s->r;
}

/* Checks that the reader, which still holds its buffer, stayed within
 * FLAT_KIB, then frees it and ends the stream. */
static void streamed_close(streamed *s)
{
    long grown = rss_kib() - s->before;
    ck_assert_msg(grown < FLAT_KIB, "the reader grew by %ld KiB", grown);
    la_reader_free(s->r);
    stream_end(&s->j, s->th, s->fd);
}

/* Frames a generated stream as frame_all does, with la_reader_next. */
static int frame_stream(const piece *pc, size_t n, int codec, size_t chunk, int fmt, la_buf *recs, la_buf *lines,
                        la_err *err)
{
    streamed s;
    int rc = frame_records(streamed_open(&s, pc, n, codec, chunk, fmt, err), recs, lines, err);
    streamed_close(&s);
    return rc;
}

/* Reads a generated JSONL stream with la_reader_read and frames it as the
 * run loop does (a record a line, blank lines skipped but counted),
 * joining each record's line number and text with ':' and records with
 * '|'. */
static int read_stream(const piece *pc, size_t n, int codec, size_t chunk, la_buf *recs, la_err *err)
{
    streamed s;
    la_reader *r = streamed_open(&s, pc, n, codec, chunk, LA_IO_AUTO, err);
    int rc = la_reader_begin(r, err);
    ck_assert_int_eq(rc, LA_OK);
    ck_assert_int_eq(la_reader_format(r), LA_IO_JSONL);
    static char dst[1u << 18];
    uint64_t line = 1;
    int in_rec = 0;
    size_t got = 1;
    while (!rc && got > 0) {
        rc = la_reader_read(r, dst, sizeof dst, &got, err);
        for (size_t i = 0; !rc && i < got; i++) {
            char c = dst[i];
            if (c == '\n') {
                if (in_rec)
                    la_buf_putc(recs, '|');
                in_rec = 0;
                line++;
            } else if (in_rec || (c != ' ' && c != '\t' && c != '\r')) {
                if (!in_rec)
                    la_buf_printf(recs, "%llu:", (unsigned long long)line);
                in_rec = 1;
                la_buf_putc(recs, c);
            }
        }
    }
    if (in_rec)
        la_buf_putc(recs, '|');
    streamed_close(&s);
    return rc;
}

#define MiB (1ull << 20)

/* Frames a generated stream both with the format detected and declared
 * (`declared`), expecting the records (joined with '|') and their lines
 * (joined with ','); the record check skips `indent` leading spaces,
 * which must be there. */
static void expect_frames(const piece *pc, size_t n, int codec, size_t chunk, int declared, size_t indent,
                          const char *want_recs, const char *want_lines)
{
    const int fmts[] = {LA_IO_AUTO, declared};
    for (int f = 0; f < 2; f++) {
        la_buf recs = {0}, lines = {0};
        la_err e;
        ck_assert_int_eq(frame_stream(pc, n, codec, chunk, fmts[f], &recs, &lines, &e), 0);
        ck_assert_uint_eq(recs.len, indent + strlen(want_recs));
        ck_assert_uint_eq(strspn(recs.data, " "), indent);
        ck_assert_str_eq(recs.data + indent, want_recs);
        ck_assert_str_eq(lines.data, want_lines);
        la_buf_free(&recs);
        la_buf_free(&lines);
    }
}

/* Reads a generated JSONL stream with la_reader_read, expecting what
 * read_stream frames of it. */
static void expect_read(const piece *pc, size_t n, int codec, size_t chunk, const char *want)
{
    la_buf raw = {0};
    la_err e;
    ck_assert_int_eq(read_stream(pc, n, codec, chunk, &raw, &e), LA_OK);
    ck_assert_str_eq(raw.data, want);
    la_buf_free(&raw);
}

/* Blank lines before the first record (and between records), from a
 * pipe in big and in small writes: skipped in a block of memory, the
 * records on their right lines, by both ways of reading JSONL, for a
 * detected and a declared format. */
START_TEST(leading_blank_lines_in_flat_memory)
{
    const piece pc[] = {{NULL, '\n', 256 * MiB}, {"{\"a\":1}\r\n", 0, 0}, {NULL, '\n', 8 * MiB},
                        {"  \t\r\n{\"b\":2}", 0, 0}};
    char lines[64], read[96];
    snprintf(lines, sizeof lines, "%llu,%llu,", 256 * MiB + 1, 264 * MiB + 3);
    snprintf(read, sizeof read, "%llu:{\"a\":1}\r|%llu:{\"b\":2}|", 256 * MiB + 1, 264 * MiB + 3);
    expect_frames(pc, 4, PLAIN, 1u << 16, LA_IO_JSONL, 0, "{\"a\":1}|{\"b\":2}|", lines);
    expect_read(pc, 4, PLAIN, 1u << 16, read);
    /* many small reads: 32 MiB of line feeds in writes of 4093 bytes */
    const piece small[] = {{NULL, '\n', 32 * MiB}, {"{\"a\":1}\n", 0, 0}};
    snprintf(lines, sizeof lines, "%llu,", 32 * MiB + 1);
    snprintf(read, sizeof read, "%llu:{\"a\":1}|", 32 * MiB + 1);
    expect_frames(small, 2, PLAIN, 4093, LA_IO_JSONL, 0, "{\"a\":1}|", lines);
    expect_read(small, 2, PLAIN, 4093, read);
}
END_TEST

/* What a line keeps of a longer indent (the reader's INDENT_KEEP). */
#define KEEP (1u << 20)

/* An input of three lines: a record, a long record (so that a reader's
 * reads fall anywhere) and a record indented by `indent` spaces. Returns
 * its length. */
static size_t indented_input(char *p, size_t indent)
{
    size_t n = (size_t)sprintf(p, "{\"a\":1}\n{\"p\":\"");
    memset(p + n, 'p', 200000);
    n += 200000;
    n += (size_t)sprintf(p + n, "\"}\n");
    memset(p + n, ' ', indent);
    n += indent;
    return n + (size_t)sprintf(p + n, "{\"b\":2}\n");
}

/* White space without line feeds: a first line of spaces before the first
 * record, and a blank line of tabs and spaces between records, each
 * longer than the reader's buffer; a record keeps the first MiB of its
 * indent, however the reads fall, by both ways of reading. */
START_TEST(long_lines_of_spaces_in_flat_memory)
{
    const piece pc[] = {{NULL, ' ', 128 * MiB}, {"{\"a\":1}\n", 0, 0}, {NULL, '\t', 64 * MiB},
                        {NULL, ' ', 64 * MiB},  {"\n{\"b\":2}\n", 0, 0}};
    expect_frames(pc, 5, PLAIN, 1u << 16, LA_IO_JSONL, KEEP, "{\"a\":1}|{\"b\":2}|", "1,3,");
    expect_read(pc, 5, PLAIN, 1u << 16, "1:{\"a\":1}|3:{\"b\":2}|");
    /* an indent of 1.5 MiB from a pipe, in small and big writes */
    const piece ind[] = {{NULL, ' ', 3 * KEEP / 2}, {"{\"a\":1}\n", 0, 0}};
    expect_frames(ind, 2, PLAIN, 4093, LA_IO_JSONL, KEEP, "{\"a\":1}|", "1,");
    expect_frames(ind, 2, PLAIN, 1u << 16, LA_IO_JSONL, KEEP, "{\"a\":1}|", "1,");
    /* and from a file, after a long line: la_reader_read in reads small
     * and large (the indented line whole within one read), and
     * la_reader_next, all give the first MiB of the indent */
    char *file = malloc(3 * KEEP), *want = malloc(3 * KEEP);
    size_t n = indented_input(file, 3 * KEEP / 2), wn = indented_input(want, KEEP);
    const size_t caps[] = {1000, 65536 + 7, 4 * KEEP};
    for (int c = 0; c < 3; c++) {
        la_buf raw = {0};
        la_err e;
        ck_assert_int_eq(read_raw(file, n, caps[c], &raw, &e), LA_OK);
        ck_assert_uint_eq(raw.len, wn);
        ck_assert(memcmp(raw.data, want, wn) == 0);
        la_buf_free(&raw);
    }
    la_buf recs = {0}, lines = {0};
    la_err e;
    ck_assert_int_eq(frame_all(file, n, LA_IO_AUTO, &recs, &lines, &e), 0);
    ck_assert_uint_eq(recs.len, wn);   /* a '|' for each '\n' */
    ck_assert_str_eq(lines.data, "1,2,3,");
    ck_assert_uint_eq(strspn(recs.data + wn - 8 - KEEP, " "), KEEP);
    free(file);
    free(want);
    la_buf_free(&recs);
    la_buf_free(&lines);
}
END_TEST

/* A JSON array with white space before '[', between its elements and
 * after ']': detected or declared, in flat memory, lines counted. */
START_TEST(json_array_white_space_in_flat_memory)
{
    const piece pc[] = {{NULL, '\n', 128 * MiB}, {" [", 0, 0},   {NULL, '\n', 32 * MiB},  {"{\"a\":1}", 0, 0},
                        {NULL, ' ', 32 * MiB},   {",\n", 0, 0},  {NULL, '\n', 32 * MiB},  {"2]", 0, 0},
                        {NULL, '\n', 32 * MiB}};
    char lines[64];
    snprintf(lines, sizeof lines, "%llu,%llu,", 160 * MiB + 1, 192 * MiB + 2);
    expect_frames(pc, 9, PLAIN, 1u << 16, LA_IO_JSON, 0, "{\"a\":1}|2|", lines);
}
END_TEST

/* The same through gzip and zstd: a few kilobytes that expand to
 * hundreds of megabytes of white space. */
START_TEST(compressed_blank_lines_in_flat_memory)
{
    const piece pc[] = {{NULL, '\n', 192 * MiB}, {"{\"a\":1}\n", 0, 0}, {NULL, ' ', 64 * MiB},
                        {"\n\n{\"b\":2}\n", 0, 0}};
    const piece arr[] = {{NULL, '\n', 128 * MiB}, {"[1,", 0, 0}, {NULL, '\n', 64 * MiB}, {"2]\n", 0, 0}};
    char lines[64], read[96], arr_lines[64];
    snprintf(lines, sizeof lines, "%llu,%llu,", 192 * MiB + 1, 192 * MiB + 4);
    snprintf(read, sizeof read, "%llu:{\"a\":1}|%llu:{\"b\":2}|", 192 * MiB + 1, 192 * MiB + 4);
    snprintf(arr_lines, sizeof arr_lines, "%llu,%llu,", 128 * MiB + 1, 192 * MiB + 1);
    const int codecs[] = {GZIP, ZSTD};
    for (int c = 0; c < 2; c++) {
        expect_frames(pc, 4, codecs[c], 1u << 16, LA_IO_JSONL, 0, "{\"a\":1}|{\"b\":2}|", lines);
        expect_read(pc, 4, codecs[c], 1u << 16, read);
        expect_frames(arr, 4, codecs[c], 1u << 16, LA_IO_JSON, 0, "1|2|", arr_lines);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reader");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 30);
    tcase_add_test(t, jsonl_bom_crlf_blank_no_final_newline);
    tcase_add_test(t, json_array_elements_and_lines);
    tcase_add_test(t, json_array_framing_errors);
    tcase_add_test(t, records_larger_than_the_buffer);
    tcase_add_test(t, gzip_and_zstd_input);
    tcase_add_test(t, empty_inputs);
    tcase_add_test(t, raw_reads_plain_gzip_zstd);
    tcase_add_test(t, first_read_is_small);
    suite_add_tcase(s, t);
    /* hundreds of megabytes each: the time limit only guards against a
     * hang, as a reader that rescanned its buffer would take minutes */
    TCase *h = tcase_create("hostile white space");
    tcase_set_timeout(h, 120);
    tcase_add_test(h, leading_blank_lines_in_flat_memory);
    tcase_add_test(h, long_lines_of_spaces_in_flat_memory);
    tcase_add_test(h, json_array_white_space_in_flat_memory);
    tcase_add_test(h, compressed_blank_lines_in_flat_memory);
    suite_add_tcase(s, h);
    int failed = la_check_run(s);
    return failed ? 1 : 0;
}
