/* test_hostile.c - hostile records through la_proc_record: every
 * truncation of valid records, random byte damage to real records, NUL
 * bytes, very deep nesting, and regressions found by fuzzing
 * (tests/fuzz/). Invariants checked on every record: the status is OK or
 * LA_EDATA with a reason, a rejected record leaves the output as it was,
 * an accepted one is valid JSON, and records in = out + rejected. */
#include <check.h>

#include "check_run.h"
#include "damage.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "lookahead.h"

/* Valid records: the lines of the project's data files and a few more. */
static const char *const extra[] = {
    "{\"input\":\"\\u00e9\\ud83d\\ude00 \\\"x\\\" \\/\",\"output\":\"one two\\tthree \\u2028 four five six seven\"}",
    "{\"instruction\":\"Do it\",\"input\":\"\",\"output\":\"Done, \\\\ ok\",\"n\":[1.0E+2,-0,true,null,{}]}",
    ("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
     "\"text\":\"one\"},{\"type\":\"text\",\"text\":\" two\"}]}]}"),
    "{\"conversations\":[{\"from\":\"human\",\"value\":\"q\"},{\"from\":\"gpt\",\"value\":\"a b c\"}]}",
    "{\"input\":\"a\",\"output\":\"b\",\"input\":\"c\"}",
    "{\"input\":\"x\\u0000y\",\"output\":\"\\u0000 z\"}",
};

typedef struct {
    char **v;
    size_t n, cap;
} lines;

static void lines_add(lines *l, const char *s, size_t n)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 32;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n] = malloc(n + 1);
    memcpy(l->v[l->n], s, n);
    l->v[l->n][n] = 0;
    l->n++;
}

static void lines_free(lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* The valid records (tests run from the project's top folder). */
static lines valid_records(void)
{
    lines l = {0};
    static const char *const files[] = {"data/sample.jsonl", "data/chat.jsonl"};
    for (size_t f = 0; f < 2; f++) {
        FILE *fp = fopen(files[f], "rb");
        ck_assert_msg(fp != NULL, "%s: cannot open (run from the project's top folder)", files[f]);
        char *line = NULL;
        size_t cap = 0;
        ssize_t k;
        while ((k = getline(&line, &cap, fp)) > 0) {
            while (k > 0 && (line[k - 1] == '\n' || line[k - 1] == '\r'))
                k--;
            if (k > 0)
                lines_add(&l, line, (size_t)k);
        }
        free(line);
        fclose(fp);
    }
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++)
        lines_add(&l, extra[i], strlen(extra[i]));
    return l;
}

/* Configurations to run records through. */
static la_config config(int i)
{
    la_config c;
    la_config_defaults(&c);
    switch (i) {
    case 0: c.mode = LA_MODE_VIRTUAL; break;
    case 1: c.unit = LA_UNIT_WORD; break;
    case 2: c.unit = LA_UNIT_CHAR; c.m = 3; break;
    case 3: c.mode = LA_MODE_VIRTUAL; c.input_field = "question"; c.output_field = "answer"; c.fields_given = 1; break;
    default: c.turns = LA_TURNS_LAST; c.m = 1; break;
    }
    return c;
}
#define NCONFIGS 5

/* Runs one record, checking the invariants; returns its status. */
static int check_record(la_proc *p, const char *rec, size_t len, la_stats *st, const char *what)
{
    static const char before[] = "{\"kept\":true}\n";
    la_buf out = {0};
    la_buf_append(&out, before, sizeof before - 1);
    la_err e;
    memset(&e, 0, sizeof e);
    uint64_t in0 = st->records_in;
    int rc = la_proc_record(p, rec, len, &out, st, &e);
    ck_assert_msg(rc == LA_OK || rc == LA_EDATA, "%s: status %d", what, rc);
    ck_assert_uint_eq(st->records_in, in0 + 1);
    ck_assert_uint_eq(st->records_in, st->records_out + st->records_rejected);
    ck_assert_msg(memcmp(out.data, before, sizeof before - 1) == 0, "%s: earlier output changed", what);
    if (rc == LA_OK) {
        la_span v;
        la_err ve;
        ck_assert_msg(la_json_validate(out.data + sizeof before - 1, out.len - (sizeof before - 1), &v, &ve) == LA_OK,
                      "%s: accepted record's output is not JSON: %s", what, ve.msg);
    } else {
        ck_assert_msg(out.len == sizeof before - 1, "%s: a rejected record left output", what);
        ck_assert_msg(e.code[0] != 0 && e.msg[0] != 0, "%s: rejected without a reason", what);
    }
    la_buf_free(&out);
    return rc;
}

/* Fuzzing (fuzz_record) found that a word or char preview longer than
 * the room left in the processor's text buffer was copied from freed
 * memory: the preview is appended to the buffer that holds the answer.
 * A fresh processor per record makes every buffer size come up;
 * the expected preview is computed here. Run under make test-sanitize
 * or test-valgrind, any read of freed memory fails. */
START_TEST(preview_longer_than_buffer_room)
{
    const char *rec = "{\"instruction\":\"Convert to Celsius.\",\"input\":\"212 F\",\"output\":"
                      "\"212 F is 100`C, the boiling point of water.\"}";
    const char *want = "{\"instruction\":\"Convert to Celsius.\",\"input\":\"212 F The answer begins with: 212 F is "
                       "100`C, the boiling\",\"output\":\"212 F is 100`C, the boiling point of water.\"}";
    la_config c = config(1);
    la_err e;
    la_proc *p = la_proc_new(&c, &e);
    la_buf out = {0};
    la_stats st = {0};
    ck_assert_int_eq(la_proc_record(p, rec, strlen(rec), &out, &st, &e), LA_OK);
    ck_assert_str_eq(out.data, want);
    la_proc_free(p);
    la_buf_free(&out);

    for (int unit = 0; unit < 2; unit++)
        for (size_t len = 1; len < 300; len++) {
            char ans[400], r[512], w[1024];
            for (size_t i = 0; i < len; i++)
                ans[i] = (i % 3 == 2) ? ' ' : (char)('a' + (char)(i % 26));
            ans[len] = 0;
            /* six words (the answer has a word at every third byte): up
             * to the end of the sixth, or the whole answer when it has
             * fewer; or six characters */
            size_t plen = len, words = 0;
            if (unit == 0) {
                for (size_t i = 0; i < len; i++)
                    if (ans[i] != ' ' && (i + 1 == len || ans[i + 1] == ' ') && ++words == 6) {
                        plen = i + 1;
                        break;
                    }
            } else {
                plen = len < 6 ? len : 6;
            }
            snprintf(r, sizeof r, "{\"input\":\"q\",\"output\":\"%s\"}", ans);
            snprintf(w, sizeof w, "{\"input\":\"q The answer begins with: %.*s\",\"output\":\"%s\"}", (int)plen, ans, ans);
            la_config cu = config(1);
            cu.unit = unit ? LA_UNIT_CHAR : LA_UNIT_WORD;
            p = la_proc_new(&cu, &e);
            la_buf o = {0};
            ck_assert_int_eq(la_proc_record(p, r, strlen(r), &o, &st, &e), LA_OK);
            ck_assert_msg(strcmp(o.data, w) == 0, "unit %d, answer of %zu bytes: got %s, want %s", unit, len, o.data, w);
            la_proc_free(p);
            la_buf_free(&o);
        }
}
END_TEST

/* Each prefix of a valid record is rejected with a reason; the whole
 * record is accepted. */
START_TEST(every_truncation)
{
    lines l = valid_records();
    char *accepted = calloc(l.n, 1);
    for (int ci = 0; ci < NCONFIGS; ci++) {
        la_config c = config(ci);
        la_err e;
        la_proc *p = la_proc_new(&c, &e);
        la_stats st = {0};
        uint64_t full_ok = 0;
        for (size_t r = 0; r < l.n; r++) {
            size_t n = strlen(l.v[r]);
            for (size_t k = 0; k < n; k++) {
                char what[128];
                snprintf(what, sizeof what, "config %d, record %zu, first %zu bytes", ci, r, k);
                /* the prefix in a buffer of its own size, so that reading past it shows */
                char *pre = malloc(k ? k : 1);
                memcpy(pre, l.v[r], k);
                ck_assert_int_eq(check_record(p, pre, k, &st, what), LA_EDATA);
                free(pre);
            }
            int ok = check_record(p, l.v[r], n, &st, "whole record") == LA_OK;
            full_ok += ok;
            accepted[r] |= ok;
        }
        /* a whole record may lack the fields a configuration wants; never a prefix passes */
        ck_assert_uint_eq(st.records_out, full_ok);
        la_proc_free(p);
    }
    for (size_t r = 0; r < l.n; r++)
        ck_assert_msg(accepted[r], "no configuration accepts %s", l.v[r]);
    free(accepted);
    lines_free(&l);
}
END_TEST

static uint64_t rng = 0x9E3779B97F4A7C15ull;

START_TEST(random_damage)
{
    lines l = valid_records();
    for (int ci = 0; ci < NCONFIGS; ci++) {
        la_config c = config(ci);
        la_err e;
        la_proc *p = la_proc_new(&c, &e);
        la_stats st = {0};
        for (size_t r = 0; r < l.n; r++) {
            size_t n = strlen(l.v[r]);
            char *buf = malloc(n + 8);
            for (int i = 0; i < 400; i++) {
                size_t k = damage_record(&rng, l.v[r], n, buf, 4, 0);
                char *exact = malloc(k ? k : 1);   /* its own size, so that reading past it shows */
                memcpy(exact, buf, k);
                char what[128];
                snprintf(what, sizeof what, "config %d, record %zu, damage %d", ci, r, i);
                check_record(p, exact, k, &st, what);
                free(exact);
            }
            free(buf);
        }
        ck_assert_uint_eq(st.records_in, st.records_out + st.records_rejected);
        la_proc_free(p);
    }
    lines_free(&l);
}
END_TEST

/* Builds {"input":"a","output":"b","deep":<depth arrays or objects>}. */
static char *deep_record(size_t depth, int objects, size_t *len)
{
    char *s = malloc(depth * 6 + 64), *q = s;
    q += sprintf(q, "{\"input\":\"a\",\"output\":\"b\",\"deep\":");
    for (size_t i = 0; i < depth; i++)
        q += objects ? sprintf(q, "{\"k\":") : sprintf(q, "[");
    *q++ = '1';
    for (size_t i = 0; i < depth; i++)
        *q++ = objects ? '}' : ']';
    *q++ = '}';
    *q = 0;
    *len = (size_t)(q - s);
    return s;
}

START_TEST(deep_nesting)
{
    la_config c = config(0);
    la_err e;
    la_proc *p = la_proc_new(&c, &e);
    la_stats st = {0};
    for (int objects = 0; objects < 2; objects++) {
        size_t n;
        char *s = deep_record(200000, objects, &n);
        ck_assert_int_eq(check_record(p, s, n, &st, "200000 deep"), LA_EDATA);
        /* unclosed: the prefix up to the deepest point */
        ck_assert_int_eq(check_record(p, s, n / 2, &st, "200000 deep, unclosed"), LA_EDATA);
        free(s);
        /* the deepest allowed passes through byte for byte (the record is depth 1) */
        s = deep_record(LA_JSON_MAX_DEPTH - 1, objects, &n);
        la_buf out = {0};
        ck_assert_int_eq(la_proc_record(p, s, n, &out, &st, &e), LA_OK);
        const char *tail = strstr(s, ",\"deep\":");
        ck_assert_ptr_nonnull(tail);
        ck_assert_uint_ge(out.len, strlen(tail));
        ck_assert_int_eq(memcmp(out.data + out.len - strlen(tail), tail, strlen(tail)), 0);
        la_buf_free(&out);
        free(s);
        s = deep_record(LA_JSON_MAX_DEPTH, objects, &n);
        la_err te;
        la_buf o2 = {0};
        ck_assert_int_eq(la_proc_record(p, s, n, &o2, &st, &te), LA_EDATA);
        ck_assert_str_eq(te.code, "too_deep");
        la_buf_free(&o2);
        free(s);
    }
    la_proc_free(p);
}
END_TEST

/* NUL bytes: raw in a string or between tokens is bad; escaped is text. */
START_TEST(nul_bytes)
{
    la_config c = config(0);
    la_err e;
    la_proc *p = la_proc_new(&c, &e);
    la_stats st = {0};
    static const char *const bad[] = {"{\"input\":\"a\0\",\"output\":\"b\"}", "{\"input\":\"a\",\0\"output\":\"b\"}",
                                      "\0{\"input\":\"a\",\"output\":\"b\"}", "{\"input\":\"a\",\"output\":\"b\"}\0",
                                      "{\"in\0put\":\"a\",\"output\":\"b\"}", "\0"};
    static const size_t badlen[] = {28, 28, 28, 28, 28, 1};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_int_eq(check_record(p, bad[i], badlen[i], &st, "raw NUL"), LA_EDATA);
    const char *ok = "{\"input\":\"a\\u0000\",\"output\":\"\\u0000b\"}";
    la_buf out = {0};
    ck_assert_int_eq(la_proc_record(p, ok, strlen(ok), &out, &st, &e), LA_OK);
    ck_assert_str_eq(out.data, "{\"input\":\"a\\u0000 The answer begins with: Let's solve this problem. \","
                               "\"output\":\"Let's solve this problem. \\u0000b\"}");
    la_buf_free(&out);
    la_proc_free(p);
}
END_TEST

/* Fuzzing (fuzz_tokload) found tokenizer files that make loading read
 * outside its tables, or a preview offset a null pointer (a first piece
 * of no tokens): tests/fuzz/regress/tokload-*.json. Each must load, or
 * fail with a reason, and a loaded one must encode and preview; under
 * make test-sanitize or test-valgrind a bad read fails the test. */
START_TEST(tokenizer_files_found_by_fuzzing)
{
    static const char *const files[] = {"tests/fuzz/regress/tokload-added-tokens-overflow.json",
                                        "tests/fuzz/regress/tokload-empty-piece-ids.json"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        la_err e = {{0}, {0}};
        la_tokenizer *t = la_tokenizer_load(files[i], &e);
        if (!t) {
            ck_assert_msg(e.msg[0] != 0, "%s: failed without a reason", files[i]);
            continue;
        }
        la_tok_work *w = la_tok_work_new();
        la_tokens out = {0};
        const char *text = "yes <sep> [MASK] <se yesterday x";
        ck_assert_int_eq(la_tokenizer_encode(t, w, text, strlen(text), 0, &out, &e), LA_OK);
        la_tokens_free(&out);
        const char *const previews[] = {"Hello world, 12345!", " the  cat\n<s> \xc3\xa9t\xc3\xa9", text};
        for (size_t k = 0; k < sizeof previews / sizeof *previews; k++) {
            la_buf b = {0};
            ck_assert_int_eq(la_tokenizer_preview(t, w, previews[k], strlen(previews[k]), 2, 1, &b, NULL, &e), LA_OK);
            la_buf_free(&b);
        }
        la_tok_work_free(w);
        la_tokenizer_free(t);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hostile");
    TCase *tc = tcase_create("hostile");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, preview_longer_than_buffer_room);
    tcase_add_test(tc, every_truncation);
    tcase_add_test(tc, random_damage);
    tcase_add_test(tc, deep_nesting);
    tcase_add_test(tc, nul_bytes);
    tcase_add_test(tc, tokenizer_files_found_by_fuzzing);
    suite_add_tcase(s, tc);
    int failed = la_check_run(s);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
