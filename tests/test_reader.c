/* test_reader.c - framing records from streams. */
#include <check.h>

#include "check_run.h"
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

/* Reads all records, joining them with '|' and their lines with ','. */
static int frame_all(const void *data, size_t n, int fmt, la_buf *recs, la_buf *lines, la_err *err)
{
    int fd = temp_fd(data, n);
    la_reader *r = la_reader_new(fd, fmt, err);
    const char *rec;
    size_t len;
    uint64_t line;
    int rc;
    while ((rc = la_reader_next(r, &rec, &len, &line, err)) == 1) {
        la_buf_append(recs, rec, len);
        la_buf_putc(recs, '|');
        la_buf_printf(lines, "%llu,", (unsigned long long)line);
    }
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
    int failed = la_check_run(s);
    return failed ? 1 : 0;
}
