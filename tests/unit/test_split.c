/* test_split.c - la_split_boundary: for every byte p of inputs whose
 * strings hold brackets, braces, commas, quotes, backslashes and escaped
 * line breaks, the boundary found is a true record start (or the end),
 * after the first record, and never moves back as p grows; where strings
 * cannot be told from structure it fails with "split_boundary". */
#include <check.h>

#include "check_run.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lookahead.h"

/* A temporary file holding text; its descriptor. */
static int file_of(const char *text, size_t len)
{
    char path[] = "/tmp/la_split_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    return fd;
}

/* The byte offsets where the top-level array's elements start, found by a
 * plain walk from the first byte (what a run without --split frames). */
static size_t element_starts(const char *t, size_t n, size_t *starts, size_t cap)
{
    size_t k = 0, depth = 0;
    int in_str = 0, esc = 0, want = 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (in_str) {
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (want && depth == 1 && c != ']') {
            ck_assert_uint_lt(k, cap);
            starts[k++] = i;
        }
        want = 0;
        if (c == '"')
            in_str = 1;
        else if (c == '{' || c == '[')
            want = ++depth == 1;
        else if (c == '}' || c == ']')
            depth--;
        else if (c == ',' && depth == 1)
            want = 1;
    }
    return k;
}

/* Checks la_split_boundary at every p of a JSON array text. */
static void every_byte_of_array(const char *t)
{
    size_t n = strlen(t), starts[256];
    size_t ns = element_starts(t, n, starts, 256);
    ck_assert_uint_gt(ns, 2);
    int fd = file_of(t, n);
    uint64_t last = 0;
    size_t inner = 0;   /* boundaries that are not the end */
    for (uint64_t p = 1; p <= n; p++) {
        uint64_t at;
        la_err e;
        ck_assert_int_eq(la_split_boundary(fd, n, LA_IO_JSON, p, &at, &e), LA_OK);
        int ok = at == n;
        for (size_t i = 1; i < ns && !ok; i++)   /* never the first element */
            ok = at == starts[i];
        ck_assert_msg(ok, "p = %llu: boundary %llu is no element start after the first",
                      (unsigned long long)p, (unsigned long long)at);
        ck_assert_msg(at >= last, "p = %llu: boundary %llu before %llu", (unsigned long long)p,
                      (unsigned long long)at, (unsigned long long)last);
        ck_assert_msg(at >= p || at == starts[1], "p = %llu: boundary %llu before p", (unsigned long long)p,
                      (unsigned long long)at);
        last = at;
        inner += at < n;
    }
    ck_assert_uint_gt(inner, n / 2);   /* it does find starts, not just the end */
    close(fd);
}

/* Strings that look like structure, records with nested lists of objects
 * (as chat data has), compact and pretty-printed, after a BOM and blank
 * lines. */
START_TEST(hostile_strings_compact)
{
    every_byte_of_array(
        "[{\"input\":\"},{\\\"a\\\":1},{\",\"output\":\"]]],[[[{{\"},"
        "{\"input\":\"\\\\\",\"output\":\"\\\\\\\"},{\\\"\"},"
        "{\"messages\":[{\"role\":\"user\",\"content\":\"a, b\"},{\"role\":\"assistant\",\"content\":\"}]},{\"}]},"
        "{\"input\":\"line\\nbreak\\r\\n\\u2028\",\"output\":\"\\\"\\\"\\\"\"},"
        "{\"input\":\"x\",\"output\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\",\"n\":[[{\"k\":[1,2,{\"z\":\"],[\"}]}]]},"
        "{\"input\":\":\",\"output\":\",\"},"
        "{\"input\":\"last\",\"output\":\"{\\\"input\\\":\\\"fake\\\"}\"}]");
}
END_TEST

START_TEST(hostile_strings_pretty)
{
    every_byte_of_array(
        "\xef\xbb\xbf\n\n  [\n"
        "  {\n    \"input\": \"},\\n  {\\\"x\\\": \\\"\",\n    \"output\": \"a\"\n  },\n"
        "  {\n    \"messages\": [\n      {\"role\": \"user\", \"content\": \"[{\"},\n"
        "      {\"role\": \"assistant\", \"content\": \"\\\\\"}\n    ]\n  },\n"
        "  {\n    \"input\": \"\\\\\\\\\", \"output\": \"  },  {  \"\n  },\n"
        "  {\n    \"input\": \"q\", \"output\": \"w\", \"x\": [[], {}, [{}], \"]\"]\n  }\n"
        "]\n\n");
}
END_TEST

/* JSONL: the start of the first line at or after p, after the first
 * record's line. */
START_TEST(lines_exact)
{
    const char *t = "\xef\xbb\xbf\n  {\"a\":1}\r\n\n{\"b\":\"x\\ny\"}\n\n\n{\"c\":3}\r\n{\"d\":4}";
    size_t n = strlen(t);
    int fd = file_of(t, n);
    uint64_t first_end = (uint64_t)(strchr(t + 4, '\n') - t) + 1;   /* the first record's line ends */
    for (uint64_t p = 1; p <= n; p++) {
        uint64_t at, want = p <= first_end ? first_end : p;
        while (want < n && t[want - 1] != '\n')
            want++;
        la_err e;
        ck_assert_int_eq(la_split_boundary(fd, n, LA_IO_JSONL, p, &at, &e), LA_OK);
        ck_assert_msg(at == want, "p = %llu: %llu, expected %llu", (unsigned long long)p, (unsigned long long)at,
                      (unsigned long long)want);
    }
    close(fd);
}
END_TEST

/* Strings of punctuation alone in a one-line array read as JSON either
 * way: the scan says it cannot tell, rather than guess. */
START_TEST(undecidable_strings_fail)
{
    size_t reps = 300000, n = 2 + reps * 10;
    char *t = malloc(n + 1);
    ck_assert_ptr_nonnull(t);
    size_t k = 0;
    t[k++] = '[';
    for (size_t i = 0; i < reps; i++) {
        memcpy(t + k, "{\":\":\":\"}", 9);
        k += 9;
        t[k++] = i + 1 < reps ? ',' : ']';
    }
    int fd = file_of(t, k);
    uint64_t at;
    la_err e;
    ck_assert_int_eq(la_split_boundary(fd, k, LA_IO_JSON, k / 3, &at, &e), LA_EDATA);
    ck_assert_str_eq(e.code, "split_boundary");
    close(fd);
    free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("split");
    TCase *t = tcase_create("boundary");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, hostile_strings_compact);
    tcase_add_test(t, hostile_strings_pretty);
    tcase_add_test(t, lines_exact);
    tcase_add_test(t, undecidable_strings_fail);
    suite_add_tcase(s, t);
    return la_check_run(s);
}
