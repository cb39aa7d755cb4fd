/* test_json.c - strict validation, location, escaping. */
#include <check.h>

#include "check_run.h"
#include <stdlib.h>
#include <string.h>

#include "json.h"

#include <cjson/cJSON.h>

static const char *code_of(const char *s)
{
    static la_err e;
    la_span v;
    memset(&e, 0, sizeof e);
    if (la_json_validate(s, strlen(s), &v, &e) == LA_OK)
        return "ok";
    return e.code;
}

START_TEST(accepts_valid_json)
{
    const char *ok[] = {"{}", "[]", " {\"a\" : [1, -0.5e+3, 1E2, true, false, null, \"x\\u00e9\\/\"]} ",
                        "\"\\ud800\"", "0", "-0", "123456789012345678901234567890", "{\"a\":{\"b\":{}}}",
                        "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"", "[\"\\\\\",\"\\\"\"]"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        ck_assert_msg(strcmp(code_of(ok[i]), "ok") == 0, "rejected: %s (%s)", ok[i], code_of(ok[i]));
}
END_TEST

START_TEST(rejects_with_reason)
{
    struct { const char *in, *code; } cases[] = {
        {"", "empty"}, {"   ", "empty"}, {"{", "invalid_json"}, {"{\"a\":}", "invalid_json"},
        {"{\"a\" 1}", "invalid_json"}, {"[1,]", "invalid_json"}, {"01", "extra_value"},
        {"1.", "invalid_json"}, {"-", "invalid_json"}, {"1e", "invalid_json"}, {"tru", "invalid_json"},
        {"nul", "invalid_json"}, {"'a'", "invalid_json"}, {"{a:1}", "invalid_json"},
        {"\"\\x\"", "invalid_json"}, {"\"\\u12\"", "invalid_json"}, {"\"a\tb\"", "control_character"},
        {"\"\xff\"", "invalid_utf8"}, {"\"\xc0\xaf\"", "invalid_utf8"}, {"\"\xed\xa0\x80\"", "invalid_utf8"},
        {"\"\xf4\x90\x80\x80\"", "invalid_utf8"}, {"\"\xe2\x82\"", "invalid_utf8"}, {"{} x", "trailing_data"},
        {"{} {}", "extra_value"}, {"[1] 2", "extra_value"}, {"\"abc", "invalid_json"}, {"[1 2]", "invalid_json"},
        {"NaN", "invalid_json"}, {"+1", "invalid_json"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        ck_assert_msg(strcmp(code_of(cases[i].in), cases[i].code) == 0, "%s: got %s, want %s", cases[i].in,
                      code_of(cases[i].in), cases[i].code);
}
END_TEST

START_TEST(nesting_limit_is_enforced_without_recursion)
{
    size_t d = 200000;
    char *s = malloc(2 * d + 1);
    memset(s, '[', d);
    memset(s + d, ']', d);
    s[2 * d] = 0;
    ck_assert_str_eq(code_of(s), "too_deep");
    memset(s + LA_JSON_MAX_DEPTH, ']', LA_JSON_MAX_DEPTH);   /* exactly the limit: fine */
    s[2 * LA_JSON_MAX_DEPTH] = 0;
    ck_assert_str_eq(code_of(s), "ok");
    s[LA_JSON_MAX_DEPTH] = '[';                                /* one deeper: rejected */
    s[2 * LA_JSON_MAX_DEPTH] = ']';
    s[2 * LA_JSON_MAX_DEPTH + 1] = 0;
    ck_assert_str_eq(code_of(s), "too_deep");
    free(s);
}
END_TEST

START_TEST(object_get_last_duplicate_and_escaped_keys)
{
    const char *s = "{\"a\":1,\"b\":{\"c\":[1,{\"d\":2}]},\"a\":\"x\",\"\\u0065\":true}";
    la_span v;
    ck_assert(la_json_object_get(s, strlen(s), 0, "a", 1, &v));
    ck_assert_int_eq(s[v.start], '"');
    ck_assert(la_json_object_get(s, strlen(s), 0, "e", 1, &v));
    ck_assert_int_eq(s[v.start], 't');
    ck_assert(la_json_object_get(s, strlen(s), 0, "b", 1, &v));
    ck_assert_int_eq(v.end - v.start, strlen("{\"c\":[1,{\"d\":2}]}"));
    ck_assert(!la_json_object_get(s, strlen(s), 0, "c", 1, &v));
}
END_TEST

START_TEST(array_iteration)
{
    const char *s = "[ 1 , \"a,]\" ,{\"x\":[]} ]";
    size_t it = 0, n = 0;
    la_span e;
    const char *want[] = {"1", "\"a,]\"", "{\"x\":[]}"};
    while (la_json_array_next(s, strlen(s), 0, &it, &e)) {
        ck_assert_uint_lt(n, 3);
        ck_assert_int_eq(e.end - e.start, strlen(want[n]));
        ck_assert(memcmp(s + e.start, want[n], e.end - e.start) == 0);
        n++;
    }
    ck_assert_uint_eq(n, 3);
}
END_TEST

START_TEST(unescape_and_escape)
{
    const char *s = "\"a\\n\\t\\\"\\\\\\/\\u00e9\\ud83d\\ude00\\u0001\"";
    la_span sp = {0, strlen(s)};
    la_buf b = {0}, e = {0};
    la_err err;
    ck_assert_int_eq(la_json_unescape(s, sp, &b, &err), LA_OK);
    ck_assert_str_eq(b.data, "a\n\t\"\\/\xc3\xa9\xf0\x9f\x98\x80\x01");
    ck_assert_int_eq(la_json_escape(b.data, b.len, &e), LA_OK);
    ck_assert_str_eq(e.data, "a\\n\\t\\\"\\\\/\xc3\xa9\xf0\x9f\x98\x80\\u0001");
    const char *lone = "\"x\\udc00y\"";
    la_span ls = {0, strlen(lone)};
    ck_assert_int_eq(la_json_unescape(lone, ls, &b, &err), LA_EDATA);
    ck_assert_str_eq(err.code, "lone_surrogate");
    la_buf_free(&b);
    la_buf_free(&e);
}
END_TEST

/* The style of a string's inside, for text added to it: pure ASCII with
 * a \u escape, or anything else; lone surrogates are still found. */
START_TEST(escape_style)
{
    static const struct {
        const char *body;
        int rc, ascii;
    } cases[] = {
        {"", LA_OK, 0},
        {"plain \\/ \\n \\\"", LA_OK, 0},
        {"caf\\u00e9", LA_OK, 1},
        {"\\ud83d\\ude00", LA_OK, 1},
        {"\\u0001 tab", LA_OK, 1},
        {"caf\xc3\xa9 \\u00e9", LA_OK, 0},      /* UTF-8 beside the escape */
        {"back\\\\u00e9", LA_OK, 0},            /* an escaped backslash, then "u00e9" */
        {"x \\ud800 y", LA_EDATA, 0},
        {"\\u0041\\udc00", LA_EDATA, 0},
        {"\\ud83d\\u0041", LA_EDATA, 0},        /* a high half without its low half */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        la_err e;
        int ascii = -1;
        const char *b = cases[i].body;
        int rc = la_json_escape_style(b, 0, strlen(b), &ascii, &e);
        ck_assert_msg(rc == cases[i].rc && ascii == cases[i].ascii, "%s: rc %d ascii %d", b, rc, ascii);
        if (rc)
            ck_assert_str_eq(e.code, "lone_surrogate");
    }
    /* only the given range is looked at */
    la_err e;
    int ascii;
    ck_assert_int_eq(la_json_escape_style("\xc3\xa9\\u00e9\xc3\xa9", 2, 8, &ascii, &e), LA_OK);
    ck_assert_int_eq(ascii, 1);
}
END_TEST

/* Text escaped by la_json_escape, rewritten all in ASCII: non-ASCII
 * characters become \u escapes (surrogate pairs above U+FFFF), the rest
 * is kept; decoded, it is the same text. */
START_TEST(ascii_escape_round_trip)
{
    la_buf e = {0}, a = {0}, d = {0};
    la_err err;
    const char *t = "a\"\\/\n\x01\x7f\xc3\xa9\xe2\x82\xac\xe2\x80\xa8\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\xef\xbf\xbd";
    ck_assert_int_eq(la_json_escape(t, strlen(t), &e), LA_OK);
    ck_assert_int_eq(la_json_ascii_escape(e.data, e.len, &a), LA_OK);
    ck_assert_int_eq(la_buf_putc(&a, 0), LA_OK);
    ck_assert_str_eq(a.data, "a\\\"\\\\/\\n\\u0001\x7f\\u00e9\\u20ac\\u2028\\ud83d\\ude00\\udbff\\udfff\\ufffd");
    /* random texts of characters of every length, and specials */
    static const char *const chars[] = {"a", " ", "\"", "\\", "/", "\n", "\x1f", "\x7f", "\xc2\x80", "\xdf\xbf",
                                        "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf",
                                        "\xf0\x90\x80\x80", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf"};
    unsigned seed = 7;
    char text[512];
    for (int iter = 0; iter < 2000; iter++) {
        size_t n = 0, want = (size_t)rand_r(&seed) % 60;
        for (size_t k = 0; k < want; k++) {
            const char *c = chars[(size_t)rand_r(&seed) % (sizeof chars / sizeof *chars)];
            memcpy(text + n, c, strlen(c));
            n += strlen(c);
        }
        e.len = a.len = d.len = 0;
        ck_assert_int_eq(la_json_escape(text, n, &e), LA_OK);
        ck_assert_int_eq(la_json_ascii_escape(e.data, e.len, &a), LA_OK);
        for (size_t i = 0; i < a.len; i++)
            ck_assert_uint_lt((unsigned char)a.data[i], 0x80);
        ck_assert_int_eq(la_json_unescape_body(a.data, a.len, &d, &err), LA_OK);
        ck_assert_uint_eq(d.len, n);
        ck_assert(memcmp(d.data, text, n) == 0);
    }
    la_buf_free(&e);
    la_buf_free(&a);
    la_buf_free(&d);
}
END_TEST

/* Random string bodies built from pieces that exercise every branch of
 * the string scanner: plain runs of any length (block boundaries),
 * escapes, UTF-8 good and bad, control bytes, quotes. */
static size_t random_body(char *o, size_t cap, unsigned *seed)
{
    static const char *const pieces[] = {
        "a", "hello world, ", "0123456789abcdefghijklmnopqrstuvwxyz", "\\/", "\\n", "\\\"", "\\\\",
        "\\u00e9", "\\u0001", "\\u0022", "\\ud83d\\ude00", "\\ud800", "\\udc00x", "\\u12", "\\x", "caf\xc3\xa9",
        "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xff", "\xc0\xaf", "\xed\xa0\x80", "\x01", "\t", "\"", "\\",
        "<<48\\/2=24>>", " ",
    };
    size_t n = 0, want = (size_t)rand_r(seed) % 120;
    while (n < want) {
        int r = rand_r(seed) % 100;
        /* mostly valid text, sometimes a bad piece */
        size_t k = r < 60 ? (size_t)(r % 3) + 1 : r < 97 ? (size_t)(r % 18) : (size_t)(18 + r % 9);
        const char *pc = pieces[k % (sizeof pieces / sizeof *pieces)];
        size_t l = strlen(pc);
        if (n + l >= cap)
            break;
        memcpy(o + n, pc, l);
        n += l;
    }
    return n;
}

/* Validates s[0..n) from an exact-size copy (so that a sanitizer sees
 * any read past the end) at the current SIMD level; *has_u gets a bit
 * per top-level member whose value may hold \\u escapes. */
static int validate_copy(const char *s, size_t n, la_span *v, la_err *e, unsigned *has_u)
{
    char *c = malloc(n ? n : 1);
    la_members top = {0};
    memcpy(c, s, n);
    memset(e, 0, sizeof *e);
    int rc = la_json_validate_top(c, n, v, &top, e);
    *has_u = 0;
    for (size_t i = 0; rc == LA_OK && i < top.n && i < 32; i++)
        *has_u |= (unsigned)top.m[i].has_u << i;
    free(top.m);
    free(c);
    return rc;
}

/* Every SIMD level (plain C, SSE2, AVX2, as far as this machine has them)
 * gives the same verdict, message and span as the plain path, on whole
 * records and on every truncation of them; re-escaping gives what
 * escaping the decoded text gives. */
START_TEST(simd_levels_agree)
{
    int best = la_json_set_simd(-1);
    unsigned seed = 12345;
    char body[400], rec[512];
    /* characters of 2 to 4 bytes, valid or not, across the 64-byte blocks */
    static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xe2\x96\x81\xe2\x96\x81",
                                        "\xe2\x82", "\xf0\x9f\x98", "\xed\xa0\x80", "\xc3\xa9\x80"};
    const int nchars = (int)(sizeof chars / sizeof *chars), nstraddle = nchars * 24;
    for (int iter = 0; iter < 1500 + 7 * 20 * 4 + nstraddle; iter++) {
        size_t bl;
        if (iter < 1500)
            bl = random_body(body, sizeof body, &seed);
        else if (iter >= 1500 + 7 * 20 * 4) {
            int j = iter - 1500 - 7 * 20 * 4, o = 50 + j / nchars;
            const char *ch = chars[j % nchars];
            memset(body, 'a', (size_t)o);
            memcpy(body + o, ch, strlen(ch));
            memset(body + o + strlen(ch), 'x', 80);
            bl = (size_t)o + strlen(ch) + 80;
        } else {   /* runs of backslashes around the 64-byte blocks */
            int k = (iter - 1500) % 7, o = 50 + (iter - 1500) / 7 % 20, after = (iter - 1500) / 140;
            memset(body, 'a', (size_t)o);
            memset(body + o, '\\', (size_t)k);
            body[o + k] = "\"n/u"[after];
            memset(body + o + k + 1, 'x', 80);
            bl = (size_t)(o + k + 81);
        }
        int wrap = iter % 3;   /* a bare string, an object member, a string then more */
        int rl = wrap == 0   ? snprintf(rec, sizeof rec, "\"%.*s\"", (int)bl, body)
                 : wrap == 1 ? snprintf(rec, sizeof rec, "{\"k\":\"%.*s\"}", (int)bl, body)
                             : snprintf(rec, sizeof rec, "[\"%.*s\",\"%.*s\"]", (int)bl, body, (int)(bl / 2), body);
        for (size_t cut = (size_t)rl; cut + 24 >= (size_t)rl && cut > 0; cut--) {
            la_span v0 = {0, 0};
            la_err e0;
            la_json_set_simd(0);
            unsigned c0;
            int rc0 = validate_copy(rec, cut, &v0, &e0, &c0);
            for (int level = 1; level <= best; level++) {
                la_span v = {0, 0};
                la_err e;
                ck_assert_int_eq(la_json_set_simd(level), level);
                unsigned c;
                int rc = validate_copy(rec, cut, &v, &e, &c);
                ck_assert_int_eq(rc, rc0);
                ck_assert_str_eq(e.code, e0.code);
                ck_assert_str_eq(e.msg, e0.msg);
                ck_assert_uint_eq(v.start, v0.start);
                ck_assert_uint_eq(v.end, v0.end);
                ck_assert_uint_eq(c, c0);
            }
            if (rc0 != LA_OK || wrap != 0)
                continue;
            /* a valid bare string: re-escaping at each level equals
             * escaping its decoded text */
            la_buf dec = {0}, want = {0};
            la_err ue;
            int urc = la_json_unescape(rec, v0, &dec, &ue);
            if (urc == LA_OK)
                la_json_escape(dec.data, dec.len, &want);
            for (int level = 0; level <= best; level++) {
                la_buf got = {0};
                la_err re;
                la_json_set_simd(level);
                char *c = malloc(cut);
                memcpy(c, rec, cut);
                la_buf_append(&got, "pre", 3);
                int rrc = la_json_reescape_body(c + v0.start + 1, v0.end - v0.start - 2, &got, &re);
                free(c);
                ck_assert_int_eq(rrc, urc);
                if (urc == LA_OK) {
                    ck_assert_uint_eq(got.len, 3 + want.len);
                    ck_assert(memcmp(got.data + 3, want.data, want.len) == 0);
                    ck_assert_int_eq(got.data[got.len], 0);
                } else
                    ck_assert_str_eq(re.code, "lone_surrogate");
                la_buf_free(&got);
            }
            la_buf_free(&dec);
            la_buf_free(&want);
        }
    }
    la_json_set_simd(-1);
}
END_TEST

/* The line validator against the general one on the line it cuts: the
 * same value and members whenever it accepts, and it accepts every line
 * the general one accepts unless a carriage return is in it. Lines are
 * built from hostile bodies (escapes, backslash runs and characters of
 * 2-4 bytes across the 16/32/64-byte blocks, quotes and line breaks at
 * block edges), in objects and arrays, with white space, CR LF and
 * further lines around them; the bytes past n that it may read are
 * quotes, backslashes and letters, which must change nothing. */
static int line_case(const char *buf, size_t n, int level)
{
    char *c = malloc(n + 64);
    memcpy(c, buf, n);
    for (size_t i = 0; i < 64; i++)
        c[n + i] = "\"\\n\"}a\xc3"[i % 7];
    la_span v = {0, 0}, v0 = {0, 0};
    la_members top = {0}, top0 = {0};
    size_t le = 0;
    int rc = la_json_validate_line(c, n, &v, &top, &le);
    const char *nl = memchr(c, '\n', n);
    size_t stop = nl ? (size_t)(nl - c) : n, e = stop > 0 && c[stop - 1] == '\r' ? stop - 1 : stop;
    char *line = malloc(e ? e : 1);   /* exact size: a sanitizer sees any read past it */
    memcpy(line, c, e);
    la_err err;
    int rc0 = la_json_validate_top(line, e, &v0, &top0, &err);
    if (rc == LA_OK) {
        ck_assert_msg(rc0 == LA_OK, "level %d accepted a line the general way refuses (%s): %.*s", level, err.msg,
                      (int)n, buf);
        ck_assert_uint_eq(le, stop);
        ck_assert_uint_eq(v.start, v0.start);
        ck_assert_uint_eq(v.end, v0.end);
        ck_assert_uint_eq(top.n, top0.n);
        for (size_t i = 0; i < top.n; i++) {
            ck_assert_uint_eq(top.m[i].key.start, top0.m[i].key.start);
            ck_assert_uint_eq(top.m[i].key.end, top0.m[i].key.end);
            ck_assert_uint_eq(top.m[i].val.start, top0.m[i].val.start);
            ck_assert_uint_eq(top.m[i].val.end, top0.m[i].val.end);
            ck_assert_int_eq(top.m[i].has_u, top0.m[i].has_u);
        }
    } else {
        ck_assert_int_eq(rc, LA_EDATA);
        ck_assert_msg(rc0 != LA_OK || memchr(line, '\r', e), "level %d refused a valid line: %.*s", level, (int)n, buf);
    }
    free(line);
    free(c);
    free(top.m);
    free(top0.m);
    return rc == LA_OK;
}

START_TEST(line_validation_agrees)
{
    int best = la_json_set_simd(-1);
    unsigned seed = 777;
    char body[400], rec[1200];
    static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xe2\x82", "\xed\xa0\x80",
                                        "\\\"", "\\\\", "\\u00e9", "\n", "\r", "\"", "\\"};
    static const char *const before[] = {"", " \t", "\r", "\n"};
    static const char *const after[] = {"", "\n{\"x\":1}", "\r\n{}", " \t\r\n", "\r", "x", "\n\n", "\r\r\n"};
    const int nchars = (int)(sizeof chars / sizeof *chars);
    int accepted = 0, total = 0;
    for (int iter = 0; iter < 3000; iter++) {
        size_t bl;
        if (iter < 1000) {
            bl = random_body(body, sizeof body, &seed);
        } else if (iter < 2000) {   /* a piece at every offset around the blocks */
            int j = iter - 1000, o = j / nchars % 80;
            const char *ch = chars[j % nchars];
            memset(body, 'a', (size_t)o);
            memcpy(body + o, ch, strlen(ch));
            memset(body + o + strlen(ch), 'x', 70);
            bl = (size_t)o + strlen(ch) + 70;
        } else {   /* runs of backslashes ending at every offset */
            int j = iter - 2000, k = j % 9, o = 40 + j / 9 % 80;
            memset(body, 'a', (size_t)o);
            memset(body + o, '\\', (size_t)k);
            body[o + k] = "\"nu"[j / 720 % 3];
            memset(body + o + k + 1, 'x', 40);
            bl = (size_t)(o + k + 41);
        }
        const char *b = before[iter % 4], *a = after[iter / 4 % 8];
        int rl;
        switch (iter % 5) {
        case 0:
            rl = snprintf(rec, sizeof rec, "%s{\"question\":\"%.*s\",\"answer\":\"%.*s\"}%s", b, (int)bl, body,
                          (int)(bl / 2), body, a);
            break;
        case 1:
            rl = snprintf(rec, sizeof rec, "%s{\"k\" : [1, {\"n\":\"%.*s\"}, -2.5e3, true] ,\"v\":null}%s", b,
                          (int)bl, body, a);
            break;
        case 2:
            rl = snprintf(rec, sizeof rec, "%s\"%.*s\"%s", b, (int)bl, body, a);
            break;
        case 3:
            rl = snprintf(rec, sizeof rec, "%s{\"a\":\"%.*s\"\t,\r\"b\":1}%s", b, (int)bl, body, a);
            break;
        default:
            rl = snprintf(rec, sizeof rec, "%s{\"%.*s\":0}%s", b, (int)bl, body, a);
        }
        for (size_t cut = (size_t)rl; cut + 6 >= (size_t)rl && cut > 0; cut--)
            for (int level = 0; level <= best; level++) {
                la_json_set_simd(level);
                accepted += line_case(rec, cut, level);
                total++;
            }
    }
    la_json_set_simd(-1);
    /* (line_case fails on every valid line without a carriage return that
     * is declined; this guards against cases that are all invalid) */
    ck_assert_msg(accepted > total / 20, "%d of %d lines accepted", accepted, total);
}
END_TEST

/* White space runs of every length up to 40 (mixing the four kinds),
 * before a value byte or running to the bound n with more white space
 * beyond it: la_json_ws stops where a byte-by-byte walk does and never
 * past n. Indentation runs longer than one 16-byte step are the case the
 * vector loop is for. */
START_TEST(white_space_runs)
{
    static const char kinds[] = " \n\r\t";
    char buf[128];
    for (size_t len = 0; len <= 40; len++)
        for (size_t at = 0; at < 4; at++)
            for (int bounded = 0; bounded < 2; bounded++) {
                memset(buf, ' ', sizeof buf);
                for (size_t i = 0; i < len; i++)
                    buf[at + i] = kinds[(i * 7 + len) % 4];
                buf[at + len] = bounded ? ' ' : 'x';
                size_t n = bounded ? at + len : sizeof buf, want = at;
                while (want < n && buf[want] && strchr(kinds, buf[want]))
                    want++;
                ck_assert_uint_eq(la_json_ws(buf, n, at), want);
                ck_assert_uint_eq(la_json_ws_run(buf, n, at), want);
                ck_assert_uint_eq(want, at + len);
            }
    /* a comma or a quote inside a long run ends it */
    memset(buf, ' ', sizeof buf);
    buf[37] = ',';
    ck_assert_uint_eq(la_json_ws(buf, sizeof buf, 3), 37);
    buf[20] = '"';
    ck_assert_uint_eq(la_json_ws(buf, sizeof buf, 3), 20);
}
END_TEST

/* la_json_validate_sub: the members of the last "model" object with their
 * spans and element counts; a later non-object "model", an escaped
 * spelling of the key and a failed validation are told apart. */
static la_sub_members sub_of(const char *doc, int *rc)
{
    la_sub_members sub = { .name = "\"model\"", .name_len = 7 };
    la_members top = {0};
    la_span v;
    la_err e;
    memset(&e, 0, sizeof e);
    *rc = la_json_validate_sub(doc, strlen(doc), &v, &top, &sub, &e);
    free(top.m);
    return sub;
}

static int span_is(const char *doc, la_span s, const char *want)
{
    return s.end - s.start == strlen(want) && memcmp(doc + s.start, want, strlen(want)) == 0;
}

START_TEST(sub_members_gathered)
{
    int rc;
    const char *doc = "{\"model\": {\"a\": 1}, \"x\": {\"model\": 2},\n \"model\" : { \"vocab\" : {\"a\": 1, \"b\": [2, {}]},"
                      " \"merges\": [[\"a\", \"b\"], \"a b\", []], \"e\": {}, \"s\": \"t\" } }";
    la_sub_members sub = sub_of(doc, &rc);
    ck_assert_int_eq(rc, LA_OK);
    ck_assert(span_is(doc, sub.parent, "{ \"vocab\" : {\"a\": 1, \"b\": [2, {}]}, \"merges\": [[\"a\", \"b\"], \"a b\", []],"
                                       " \"e\": {}, \"s\": \"t\" }"));
    ck_assert_uint_eq(sub.n, 4);
    ck_assert(span_is(doc, sub.m[0].key, "\"vocab\""));
    ck_assert(span_is(doc, sub.m[0].val, "{\"a\": 1, \"b\": [2, {}]}"));
    ck_assert_uint_eq(sub.m[0].count, 2);
    ck_assert(span_is(doc, sub.m[1].key, "\"merges\""));
    ck_assert_uint_eq(sub.m[1].count, 3);
    ck_assert(span_is(doc, sub.m[2].val, "{}"));
    ck_assert_uint_eq(sub.m[2].count, 0);
    ck_assert(span_is(doc, sub.m[3].val, "\"t\""));
    ck_assert_uint_eq(sub.m[3].count, 0);
    free(sub.m);
    /* the last "model" is no object: nothing gathered */
    sub = sub_of("{\"model\": {\"a\": [1, 2]}, \"model\": [1]}", &rc);
    ck_assert_int_eq(rc, LA_OK);
    ck_assert_uint_eq(sub.n, 0);
    ck_assert_uint_eq(sub.parent.end, 0);
    free(sub.m);
    /* an escaped key is not the name as written */
    sub = sub_of("{\"m\\u006fdel\": {\"a\": [1, 2]}}", &rc);
    ck_assert_int_eq(rc, LA_OK);
    ck_assert_uint_eq(sub.n, 0);
    free(sub.m);
    sub = sub_of("{\"model\": {\"a\": [1, 2}}", &rc);
    ck_assert_int_eq(rc, LA_EDATA);
    free(sub.m);
}
END_TEST

/* An object of plain integers (a vocabulary) is gone over by
 * la_json_int_object exactly as the validator goes over it; anything
 * else is left to the validator. */
START_TEST(int_object_as_validated)
{
    static const struct { const char *s; size_t count; } ok[] = {
        { "{}", 0 }, { "{ \n }", 0 }, { "{\"a\":0}", 1 }, { "{ \"a\" : 10 ,\n \"\xE2\x96\x81\" : 7 }", 2 },
        { "{\"a\\\"\\u0062\":4294967296}", 1 }, { "{\"a\":1,\"a\":2}", 2 },
    };
    static const char *const other[] = {
        "{\"a\":01}", "{\"a\":-1}", "{\"a\":1.5}", "{\"a\":1e5}", "{\"a\":\"x\"}", "{\"a\" 1}", "{\"a\":1,}",
        "{\"a\":1", "{\"a\x01\":1}", "{\"\xC3\":1}", "{\"a\":1 \"b\":2}", "{\"a\":}", "{a:1}", "[1]",
        "{\"a\":1]", "{\"a\\x\":1}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        size_t n = strlen(ok[i].s), count = 99;
        la_span v;
        ck_assert_int_eq(la_json_validate(ok[i].s, n, &v, NULL), LA_OK);
        ck_assert_msg(la_json_int_object(ok[i].s, n, 0, &count) == v.end, "%zu", i);
        ck_assert_uint_eq(count, ok[i].count);
    }
    for (size_t i = 0; i < sizeof other / sizeof *other; i++) {
        size_t count = 0;
        ck_assert_msg(la_json_int_object(other[i], strlen(other[i]), 0, &count) == 0, "%zu", i);
    }
}
END_TEST

/* A vocabulary of 400 members, pretty-printed, with member 200 (or the
 * bytes before it) replaced: what the read by layout (the bytes around a
 * member those of the member before) must hand back to the usual way.
 * An object taken must be valid JSON ending where the validator says,
 * its members those cJSON reads; one refused must not be an object of
 * plain integers. */
typedef struct {
    int takes;                    /* an object of plain integers */
    const char *at200;            /* member 200 as written, NULL: as the others */
    const char *sep200;           /* the bytes between members 199 and 200, NULL: as the others */
    const char *ind;              /* indentation (NULL: two spaces) */
    const char *colon;            /* between key and value (NULL: ": ") */
} vocab_case;

#define S10 "          "

static char *vocab_text(const vocab_case *c)
{
    la_buf b = {0};
    const char *ind = c->ind ? c->ind : "  ";
    la_buf_printf(&b, "{");
    for (int k = 0; k < 400; k++) {
        if (k == 200 && c->sep200)
            la_buf_printf(&b, "%s", c->sep200);
        else
            la_buf_printf(&b, "%s\n%s", k ? "," : "", ind);
        if (k == 200 && c->at200)
            la_buf_printf(&b, "%s", c->at200);
        else
            la_buf_printf(&b, "\"%s%d\"%s%d", k % 3 ? "tok" : "\xE2\x96\x81t", k, c->colon ? c->colon : ": ", k * 7);
    }
    la_buf_printf(&b, "\n}\n");
    return b.data;
}

START_TEST(int_object_by_layout)
{
    static const vocab_case cases[] = {
        { 1, NULL, NULL, NULL, NULL },
        { 1, NULL, NULL, S10 S10, NULL },                                       /* runs of 17 to 32 bytes */
        { 1, NULL, NULL, NULL, " :" S10 S10 },
        { 1, NULL, NULL, S10 S10 S10 S10, NULL },                               /* too long to keep */
        { 1, "\"\\u00e9x\": 5", NULL, NULL, NULL },                             /* an escape */
        { 1, "\"\xF0\x9F\x98\x80\": 5", NULL, NULL, NULL },                     /* four-byte UTF-8 */
        { 1, "\"" S10 S10 S10 "xx\": 5", NULL, NULL, NULL },                    /* longer than 31 */
        { 1, "\"a\": 0", NULL, NULL, NULL },
        { 1, "\"a\": 1234567890123456789", NULL, NULL, NULL },                  /* 19 digits */
        { 1, "\"a\": 12345678901234567890", NULL, NULL, NULL },                 /* 20: saturated */
        { 1, "\"a\" :5", NULL, NULL, NULL },                                    /* other spaces */
        { 1, NULL, ",\r\n\t", NULL, NULL },
        { 1, NULL, ",", NULL, NULL },
        { 0, "\"a\": 01", NULL, NULL, NULL },
        { 0, "\"a\": -1", NULL, NULL, NULL },
        { 0, "\"a\": 1.5", NULL, NULL, NULL },
        { 0, "\"a\": 1e5", NULL, NULL, NULL },
        { 0, "\"a\": \"x\"", NULL, NULL, NULL },
        { 0, "\"a\": ", NULL, NULL, NULL },
        { 0, "\"a\" 5", NULL, NULL, NULL },
        { 0, "\"a\x01\": 5", NULL, NULL, NULL },                                /* a control character */
        { 0, "\"a\xC3\": 5", NULL, NULL, NULL },                                /* bad UTF-8 */
        { 0, "\"a\xED\xA0\x80\": 5", NULL, NULL, NULL },                        /* a surrogate */
        { 0, "\"a\": 5 \"b\": 6", NULL, NULL, NULL },                           /* no comma */
        { 0, NULL, "\n", NULL, NULL },
        /* a byte that is no white space late in a run of 17 to 32 */
        { 0, "\"a\":" S10 "         x5", NULL, NULL, ":" S10 S10 },
        { 0, NULL, ",\n" S10 "         x", S10 S10, NULL },
        { 0, "\"a\": 5x", NULL, S10 S10, NULL },
    };
    unsigned long before = la_json_members_laid_out();
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *text = vocab_text(&cases[i]);
        size_t n = strlen(text), count = 0;
        la_span v;
        int valid = la_json_validate(text, n, &v, NULL) == LA_OK;
        la_int_members list = {0};
        size_t end = la_json_int_object_list(text, n, 0, &count, &list);
        ck_assert_msg(end == la_json_int_object(text, n, 0, &count), "%zu", i);
        if (!cases[i].takes) {
            ck_assert_msg(end == 0, "case %zu taken", i);
        } else {
            ck_assert_msg(valid && end == v.end, "case %zu: end %zu, want %zu", i, end, v.end);
            cJSON *root = cJSON_ParseWithLength(text, n);
            ck_assert_ptr_nonnull(root);
            ck_assert_uint_eq(count, 400);
            ck_assert_uint_eq(list.n, 400);
            size_t k = 0;
            for (const cJSON *m = root->child; m; m = m->next, k++) {
                const la_int_member *x = &list.m[k];
                if (x->plain) {
                    ck_assert_uint_eq(x->len - 2, strlen(m->string));
                    ck_assert_msg(memcmp(text + x->key + 1, m->string, x->len - 2) == 0, "case %zu member %zu", i,
                                  k);
                }
                /* the value's digits as written, saturated past 19 */
                const char *d = text + x->key + x->len;
                while (*d < '0' || *d > '9')
                    d++;
                size_t nd = strspn(d, "0123456789");
                uint64_t want = nd > 19 ? UINT64_MAX : strtoull(d, NULL, 10);
                ck_assert_msg(x->value == want, "case %zu member %zu", i, k);
                ck_assert_int_eq((int)cJSON_IsNumber(m), 1);
            }
            ck_assert_uint_eq(k, 400);
            cJSON_Delete(root);
        }
        free(list.m);
        free(text);
    }
#ifdef __SSE2__
    /* most members were read by their layout (two reads a case) */
    ck_assert_uint_gt(la_json_members_laid_out() - before, 350 * (sizeof cases / sizeof *cases));
#else
    (void)before;
#endif
}
END_TEST

/* la_json_scan_short (16 or 32 bytes at once where the string is short
 * and plain, a byte at a time otherwise) against the validator's scanner on
 * random strings of the bytes that matter: quotes, backslashes, control
 * characters, ASCII, UTF-8 leads of every length and continuation bytes,
 * whole two- and three-byte characters (the last before the surrogates,
 * and the first after), the overlong leads C0 and C1 and the bytes no
 * UTF-8 has; the closing quote anywhere in the first 32 bytes or past
 * them, and the buffer ending right after it or 32 bytes on. */
START_TEST(short_strings_as_scanned)
{
    static const unsigned char alphabet[] = { '"', '\\', 0x01, 0x1F, 0x20, 'a', 'n', 'u', '0', 0x7F, 0x80, 0x9F,
                                              0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xC4, 0xDF, 0xE0, 0xE2, 0xED, 0xEF,
                                              0xF0, 0xF4, 0xF5, 0xFF };
    static const char *const whole[] = { "\xC4\xA0", "\xC3\xA9", "\xE2\x96\x81", "\xE4\xB8\x80",
                                         "\xED\x9F\xBF", "\xEE\x80\x80", "\xE0\xA0\x80", "\xEF\xBF\xBF",
                                         "\xED\xA0\x80", "\xE0\x9F\xBF", "\xF0\x9F\x98\x80" };
    unsigned long long x = 88172645463325252ULL;
    unsigned char buf[96];
    size_t fast = 0, fast3 = 0;
    for (int round = 0; round < 400000; round++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t len = 1 + (size_t)(x % 48);
        buf[0] = '"';
        size_t i = 1;
        while (i < len) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* mostly plain characters and whole UTF-8 ones, as a
             * tokenizer's strings are */
            unsigned r = (unsigned)(x >> 40) % 96;
            if (r < (unsigned)sizeof alphabet) {
                buf[i++] = alphabet[r];
            } else if (r < 64) {
                buf[i++] = (unsigned char)('a' + r % 26);
            } else {
                const char *w = whole[r % (sizeof whole / sizeof *whole)];
                size_t k = strlen(w);
                if (i + k > len)
                    break;
                memcpy(buf + i, w, k);
                i += k;
            }
        }
        len = i;
        buf[len] = '"';
        size_t n = (x >> 20) & 1 ? len + 1 : sizeof buf;
        for (size_t k = len + 1; k < n; k++)
            buf[k] = 'z';
        size_t e1 = 0, e2 = 0;
        int plain = -1, has_u = 0;
        int r1 = la_json_scan_short((const char *)buf, n, 0, &e1, &plain);
        int r2 = la_json_scan_string((const char *)buf, n, 0, &e2, &has_u, NULL);
        ck_assert_msg((r1 == LA_OK) == (r2 == LA_OK), "round %d: %d against %d", round, r1, r2);
        if (r1 == LA_OK) {
            ck_assert_uint_eq(e1, e2);
            ck_assert_msg(!plain || !memchr(buf + 1, '\\', e1 - 2), "round %d: plain with an escape", round);
            int in_step = plain && e1 <= 33 && n - 1 >= 32;
            fast += in_step;
            fast3 += in_step && memchr(buf + 1, 0xE2, e1 - 2);
        }
    }
    /* the one-step path was taken (plain strings closed within 32 bytes),
     * with three-byte characters too */
    ck_assert_uint_gt(fast, 1000);
    ck_assert_uint_gt(fast3, 100);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("json");
    TCase *t = tcase_create("core");
    tcase_add_test(t, accepts_valid_json);
    tcase_add_test(t, rejects_with_reason);
    tcase_add_test(t, nesting_limit_is_enforced_without_recursion);
    tcase_add_test(t, object_get_last_duplicate_and_escaped_keys);
    tcase_add_test(t, array_iteration);
    tcase_add_test(t, unescape_and_escape);
    tcase_add_test(t, escape_style);
    tcase_add_test(t, ascii_escape_round_trip);
    tcase_add_test(t, simd_levels_agree);
    tcase_add_test(t, line_validation_agrees);
    tcase_add_test(t, white_space_runs);
    tcase_add_test(t, sub_members_gathered);
    tcase_add_test(t, int_object_as_validated);
    tcase_add_test(t, int_object_by_layout);
    tcase_add_test(t, short_strings_as_scanned);
    tcase_set_timeout(t, 60);   /* many small validations: slow under sanitizers */
    suite_add_tcase(s, t);
    int failed = la_check_run(s);
    return failed ? 1 : 0;
}
