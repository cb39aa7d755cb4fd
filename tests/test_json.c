/* test_json.c - strict validation, location, escaping. */
#include <check.h>

#include "check_run.h"
#include <stdlib.h>
#include <string.h>

#include "json.h"

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
    suite_add_tcase(s, t);
    int failed = la_check_run(s);
    return failed ? 1 : 0;
}
