/* test_json_start.c - skipping over valid values (16 bytes at a time)
 * ends where validation does; and decoding only the start of a long
 * string value:
 * la_json_cut never splits an escape or a surrogate pair, and
 * la_json_check_escapes rejects exactly what la_json_unescape would
 * (lone surrogates) in the rest, wherever the escapes fall relative to
 * its 16-byte blocks. */
#include "json.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"

/* What la_json_unescape says of the inside s[from..to) of a string. */
static int unescape_rc(const char *s, size_t from, size_t to)
{
    la_buf out = {0};
    la_err err;
    int rc = la_json_unescape(s, (la_span){ from - 1, to + 1 }, &out, &err);
    la_buf_free(&out);
    return rc;
}

START_TEST(cut_keeps_escapes_whole)
{
    /* "ab\n\ud83d\ude00cd\\u00e9": every target offset */
    const char *s = "\"ab\\n\\ud83d\\ude00cd\\\\u00e9\\u00e9\"";
    size_t from = 1, to = strlen(s) - 1;
    /* escape starts: 3 (\n, 2), 5 (pair, 12), 19 (\\, 2), 26 (\u00e9, 6) */
    static const size_t starts[] = {3, 5, 19, 26};
    static const size_t lens[] = {2, 12, 2, 6};
    for (size_t want = 0; want <= to - from + 2; want++) {
        size_t cut = la_json_cut(s, from, to, want);
        ck_assert_uint_le(cut, to);
        if (to - from <= want)
            ck_assert_uint_eq(cut, to);
        else
            ck_assert_uint_le(cut, from + want);
        for (size_t k = 0; k < 4; k++)
            ck_assert_msg(!(cut > starts[k] && cut < starts[k] + lens[k]), "want %zu: cut %zu inside an escape",
                          want, cut);
        /* both sides decode on their own */
        ck_assert_int_eq(unescape_rc(s, from, cut), LA_OK);
        ck_assert_int_eq(la_json_check_escapes(s, cut, to, NULL), LA_OK);
    }
}
END_TEST

/* A string of filler with one escape put at each offset: the check agrees
 * with unescaping the same bytes. */
START_TEST(check_agrees_with_unescape)
{
    static const char *const escapes[] = {
        "\\ud800",            /* lone high */
        "\\udc00",            /* lone low */
        "\\ud83d\\ude00",     /* a pair */
        "\\\\ud800",          /* an escaped backslash, then text */
        "\\\\\\ud800",        /* an escaped backslash, then a lone surrogate */
        "\\u00e9",
        "\\n\\/",
        "\\ud83d\\n",         /* high, then no low */
        "\\ud83d",            /* high at the very end */
    };
    static const char *const fillers[] = {"x", "\\n", "\\\\", "\\/ab"};
    char buf[256];
    for (size_t e = 0; e < sizeof escapes / sizeof escapes[0]; e++)
        for (size_t f = 0; f < sizeof fillers / sizeof fillers[0]; f++)
            for (size_t at = 0; at < 40; at++) {
                size_t n = 0;
                buf[n++] = '"';
                while (n < 1 + at) {
                    size_t k = strlen(fillers[f]);
                    memcpy(buf + n, fillers[f], k);
                    n += k;
                }
                memcpy(buf + n, escapes[e], strlen(escapes[e]));
                n += strlen(escapes[e]);
                for (size_t k = 0; k < (at % 3) * 7; k++)
                    buf[n++] = 'y';
                buf[n++] = '"';
                buf[n] = 0;
                int want = unescape_rc(buf, 1, n - 1) == LA_OK ? LA_OK : LA_EDATA;
                la_err err;
                int got = la_json_check_escapes(buf, 1, n - 1, &err);
                ck_assert_msg(got == want, "%s: check %d, unescape %d", buf, got, want);
                if (got != LA_OK)
                    ck_assert_str_eq(err.code, "lone_surrogate");
            }
}
END_TEST

/* Random JSON: strings with escapes (\\", \\\\ before a quote) at every
 * offset of the 16-byte blocks, nested containers, numbers, literals. */
static uint64_t rs = 0x2545F4914F6CDD1Dull;
static unsigned rnd(unsigned n)
{
    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
    return (unsigned)(rs % n);
}

static void gen(la_buf *b, int depth)
{
    static const char *const atoms[] = {"a", "\\\"", "\\\\", "\\n", "[", "]", "{", "}", ",", ":", "xyz",
                                        "\\u00e9", "\xc3\xa9", " "};
    unsigned k = depth > 4 ? rnd(3) : rnd(6);
    if (k == 0) {
        la_buf_putc(b, '"');
        for (unsigned i = rnd(40); i > 0; i--) {
            const char *a = atoms[rnd(sizeof atoms / sizeof atoms[0])];
            la_buf_append(b, a, strlen(a));
        }
        la_buf_putc(b, '"');
    } else if (k == 1) {
        la_buf_append(b, "-12.5e+3", 8);
    } else if (k == 2) {
        la_buf_append(b, "true", 4);
    } else if (k < 5) {
        la_buf_append(b, "[ ", 2);
        for (unsigned i = rnd(5); i > 0; i--) {
            gen(b, depth + 1);
            if (i > 1)
                la_buf_putc(b, ',');
        }
        la_buf_putc(b, ']');
    } else {
        la_buf_putc(b, '{');
        for (unsigned i = rnd(5); i > 0; i--) {
            la_buf_append(b, "\"k\\\"{\": ", 8);
            gen(b, depth + 1);
            if (i > 1)
                la_buf_append(b, ", ", 2);
        }
        la_buf_putc(b, '}');
    }
}

START_TEST(skip_finds_the_end)
{
    la_buf b = {0};
    for (int round = 0; round < 3000; round++) {
        la_buf_clear(&b);
        for (unsigned pad = rnd(17); pad > 0; pad--)
            la_buf_putc(&b, ' ');
        size_t start = b.len;
        gen(&b, 0);
        size_t end = b.len;
        la_buf_append(&b, " ,1]", 4);   /* what follows must not be read as part of it */
        la_span v;
        la_err err;
        ck_assert_msg(la_json_validate(b.data + start, end - start, &v, &err) == LA_OK, "%s: %s", b.data, err.msg);
        ck_assert_uint_eq(la_json_skip(b.data, b.len, start), end);
    }
    la_buf_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("json_start");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, cut_keeps_escapes_whole);
    tcase_add_test(tc, check_agrees_with_unescape);
    tcase_add_test(tc, skip_finds_the_end);
    suite_add_tcase(s, tc);
    return la_check_run(s);
}
