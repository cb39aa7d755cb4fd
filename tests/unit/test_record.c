/* test_record.c - processing one record: transforms, units, formats,
 * splicing, statistics. */
#include <check.h>

#include "check_run.h"
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lookahead.h"
#include "unit.h"

#include "proc_run.h"

static la_config cfg_mode(int mode)
{
    la_config c;
    la_config_defaults(&c);
    c.mode = mode;
    return c;
}

START_TEST(virtual_edits_both_fields_and_keeps_everything_else)
{
    la_config c = cfg_mode(LA_MODE_VIRTUAL);
    c.P = "P! ";
    c.connector = " | ";
    ck_assert_int_eq(run(&c, "{ \"n\" : 1.0E+2 , \"output\":\"b\\/c\", \"input\" :\"a\"}"), LA_OK);
    ck_assert_str_eq(out.data, "{ \"n\" : 1.0E+2 , \"output\":\"P! b\\/c\", \"input\" :\"a | P! \"}");
}
END_TEST

START_TEST(real_word_preview)
{
    la_config c = cfg_mode(LA_MODE_REAL);
    c.m = 3;
    ck_assert_int_eq(run(&c, "{\"input\":\"q\",\"output\":\" one\\ttwo  three four\"}"), LA_OK);
    ck_assert_str_eq(out.data, "{\"input\":\"q The answer begins with:  one\\ttwo  three\",\"output\":\" one\\ttwo  three four\"}");
}
END_TEST

START_TEST(words_and_graphemes)
{
    size_t units;
    int whole;
    const char *t = "\xc2\xa0" "a b\xe3\x80\x80" "c ";   /* NBSP a SP b IDEOGRAPHIC-SPACE c SP */
    ck_assert_uint_eq(la_words_prefix(t, strlen(t), 2, &units, &whole), 5);
    ck_assert_uint_eq(units, 2);
    ck_assert_int_eq(whole, 0);
    ck_assert_uint_eq(la_words_prefix(t, strlen(t), 3, &units, &whole), strlen(t) - 1);
    ck_assert_int_eq(whole, 1);
    ck_assert_uint_eq(la_words_prefix(t, strlen(t), 9, &units, &whole), strlen(t));
    ck_assert_uint_eq(units, 3);
    ck_assert_uint_eq(la_words_prefix("", 0, 1, &units, &whole), 0);
    ck_assert_uint_eq(units, 0);
    const char *g = "e\xcc\x81x\xf0\x9f\x87\xab\xf0\x9f\x87\xb7y";  /* e+acute, x, flag FR, y */
    ck_assert_uint_eq(la_graphemes_prefix(g, strlen(g), 1, &units, &whole), 3);
    ck_assert_uint_eq(la_graphemes_prefix(g, strlen(g), 3, &units, &whole), 12);
    ck_assert_uint_eq(units, 3);
    ck_assert_int_eq(whole, 0);
}
END_TEST

START_TEST(bad_records_leave_output_alone)
{
    la_config c = cfg_mode(LA_MODE_VIRTUAL);
    struct { const char *rec, *code; } cases[] = {
        {"[1]", "not_object"}, {"{\"input\":\"a\"}", "missing_field"},
        {"{\"input\":1,\"output\":\"b\"}", "not_string"}, {"{\"input\":\"\\ud800\",\"output\":\"b\"}", "lone_surrogate"},
        {"{\"input\":\"a\",\"output\":\"b\"", "invalid_json"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ck_assert_int_eq(run(&c, cases[i].rec), LA_EDATA);
        ck_assert_str_eq(err.code, cases[i].code);
        ck_assert_uint_eq(out.len, 0);
    }
}
END_TEST

START_TEST(nested_field_paths)
{
    la_config c = cfg_mode(LA_MODE_VIRTUAL);
    c.P = "P ";
    c.input_field = "data.q";
    c.output_field = "data.a.text";
    c.fields_given = 1;
    ck_assert_int_eq(run(&c, "{\"data\":{\"q\":\"Q\",\"a\":{\"text\":\"A\"}}}"), LA_OK);
    ck_assert_str_eq(out.data, "{\"data\":{\"q\":\"Q The answer begins with: P \",\"a\":{\"text\":\"P A\"}}}");
    /* a key that holds the dot itself wins */
    ck_assert_int_eq(run(&c, "{\"data.q\":\"Q\",\"data\":{\"a\":{\"text\":\"A\"}}}"), LA_OK);
    ck_assert_str_eq(out.data, "{\"data.q\":\"Q The answer begins with: P \",\"data\":{\"a\":{\"text\":\"P A\"}}}");
    ck_assert_int_eq(run(&c, "{\"data\":{\"q\":\"Q\",\"a\":\"A\"}}"), LA_EDATA);
    ck_assert_str_eq(err.code, "missing_field");
}
END_TEST

START_TEST(alpaca_preview_goes_to_input_or_instruction)
{
    la_config c = cfg_mode(LA_MODE_REAL);
    c.m = 1;
    c.connector = "|";
    ck_assert_int_eq(run(&c, "{\"instruction\":\"I\",\"input\":\"X\",\"output\":\"first second\"}"), LA_OK);
    ck_assert_str_eq(out.data, "{\"instruction\":\"I\",\"input\":\"X|first\",\"output\":\"first second\"}");
    ck_assert_int_eq(run(&c, "{\"instruction\":\"I\",\"input\":\"\",\"output\":\"first second\"}"), LA_OK);
    ck_assert_str_eq(out.data, "{\"instruction\":\"I|first\",\"input\":\"\",\"output\":\"first second\"}");
}
END_TEST

START_TEST(messages_turns_and_parts)
{
    la_config c = cfg_mode(LA_MODE_VIRTUAL);
    c.P = "P ";
    c.connector = "|";
    const char *rec = "{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"U1\"},"
                      "{\"role\":\"assistant\",\"content\":\"A1\"},{\"role\":\"tool\",\"content\":\"T\"},"
                      "{\"role\":\"assistant\",\"content\":\"A2\"},{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"},"
                      "{\"type\":\"text\",\"text\":\"U2\"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"A3\"}]}]}";
    ck_assert_int_eq(run(&c, rec), LA_OK);
    ck_assert_str_eq(out.data,
                     "{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"U1|P \"},"
                     "{\"role\":\"assistant\",\"content\":\"P A1\"},{\"role\":\"tool\",\"content\":\"T\"},"
                     "{\"role\":\"assistant\",\"content\":\"A2\"},{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"},"
                     "{\"type\":\"text\",\"text\":\"U2|P \"}]},{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"P A3\"}]}]}");
    c.turns = LA_TURNS_LAST;
    ck_assert_int_eq(run(&c, rec), LA_OK);
    ck_assert(strstr(out.data, "\"U1\"") && strstr(out.data, "\"U2|P \""));
    ck_assert_int_eq(run(&c, "{\"messages\":{}}"), LA_EDATA);
    ck_assert_str_eq(err.code, "bad_chat");
    ck_assert_int_eq(run(&c, "{\"messages\":[{\"role\":1,\"content\":\"x\"}]}"), LA_EDATA);
    ck_assert_int_eq(run(&c, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}"), LA_EDATA);
}
END_TEST

START_TEST(sharegpt_roles)
{
    la_config c = cfg_mode(LA_MODE_REAL);
    c.m = 2;
    c.connector = "|";
    ck_assert_int_eq(run(&c, "{\"conversations\":[{\"from\":\"human\",\"value\":\"H\"},{\"from\":\"gpt\",\"value\":\"g1 g2 g3\"}]}"),
                     LA_OK);
    ck_assert_str_eq(out.data, "{\"conversations\":[{\"from\":\"human\",\"value\":\"H|g1 g2\"},{\"from\":\"gpt\",\"value\":\"g1 g2 g3\"}]}");
}
END_TEST

START_TEST(stats_merge_and_round_trip)
{
    la_stats a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    la_preview_info i1 = {2, 1, 0}, i2 = {6, 0, 1}, i3 = {4, 0, 0};
    la_stats_preview(&a, &i1);
    la_stats_preview(&b, &i2);
    la_stats_preview(&b, &i3);
    a.records_in = 3;
    a.records_out = 1;
    a.format_records[LA_FMT_FIELDS] = 1;   /* a run's report: formats add up to records_out */
    la_stats_reject(&a, "invalid_json");
    la_stats_reject(&a, "invalid_json");
    b.records_in = 2;
    b.records_out = 1;
    b.format_records[LA_FMT_ALPACA] = 1;
    la_stats_reject(&b, "not_object");
    la_stats_merge(&a, &b);
    ck_assert_uint_eq(a.records_in, a.records_out + a.records_rejected);
    ck_assert_uint_eq(a.preview_min, 2);
    ck_assert_uint_eq(a.preview_max, 6);
    ck_assert_uint_eq(a.preview_sum, 12);
    ck_assert_uint_eq(a.fully_previewed, 1);
    ck_assert_uint_eq(a.extended, 1);
    la_config c;
    la_config_defaults(&c);
    la_buf j = {0};
    ck_assert_int_eq(la_stats_json(&a, &c, 1.5, &j), LA_OK);
    la_stats back;
    char mode[16], unit[16];
    uint64_t m;
    double secs;
    ck_assert_int_eq(la_stats_parse(j.data, j.len, &back, mode, sizeof mode, unit, sizeof unit, &m, &secs, &err), LA_OK);
    ck_assert(secs == 1.5);
    ck_assert_str_eq(mode, "real");
    ck_assert_str_eq(unit, "word");
    ck_assert_uint_eq(m, 6);
    la_buf j2 = {0};
    la_stats_json(&back, &c, 1.5, &j2);
    ck_assert_str_eq(j.data, j2.data);
    la_buf_free(&j);
    la_buf_free(&j2);
}
END_TEST

/* A chat record of n turns after `keys` other top-level members, as it
 * comes in (want 0) or as virtual mode (1) or real word mode with m = 2
 * (2) edit it, with P "P " and connector "|"; "conversations" with
 * from/value when sharegpt, else "messages" with role/content. */
static char *chat_record(size_t n, size_t keys, int sharegpt, int want)
{
    la_buf b = {0};
    la_buf_putc(&b, '{');
    for (size_t i = 0; i < keys; i++)
        la_buf_printf(&b, "\"k%zu\":\"v\",", i);
    const char *role = sharegpt ? "from" : "role", *text = sharegpt ? "value" : "content";
    la_buf_printf(&b, "\"%s\":[{\"%s\":\"system\",\"%s\":\"s\"}", sharegpt ? "conversations" : "messages", role,
                  text);
    for (size_t i = 0; i < n; i++) {
        la_buf_printf(&b, ",{\"%s\":\"%s\",\"%s\":\"q%zu", role, sharegpt ? "human" : "user", text, i);
        if (want == 1)
            la_buf_printf(&b, "|P ");
        else if (want == 2)
            la_buf_printf(&b, "|a%zu b", i);
        la_buf_printf(&b, "\"},{\"%s\":\"%s\",\"%s\":\"%sa%zu b c\"}", role, sharegpt ? "gpt" : "assistant", text,
                      want == 1 ? "P " : "", i);
    }
    la_buf_printf(&b, "]}");
    return b.data;
}

/* The string at a '/'-separated path of keys and array indices in a
 * parsed record, or NULL. */
static const char *string_at(const cJSON *j, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *save = NULL, *k = strtok_r(buf, "/", &save); k && j; k = strtok_r(NULL, "/", &save))
        j = cJSON_IsArray(j) ? cJSON_GetArrayItem(j, atoi(k)) : cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsString(j) ? j->valuestring : NULL;
}

/* Replaces the first "<P>" and "<A>" of tmpl by p and a. */
static char *fill(const char *tmpl, const char *p, const char *a)
{
    size_t n = strlen(tmpl) + strlen(p) + strlen(a) + 1;
    char *o = malloc(n), *w = o;
    for (const char *t = tmpl; *t;) {
        const char *put = strncmp(t, "<P>", 3) == 0 ? p : strncmp(t, "<A>", 3) == 0 ? a : NULL;
        if (put) {
            w += sprintf(w, "%s", put);
            t += 3;
        } else
            *w++ = *t++;
    }
    *w = 0;
    return o;
}

static int pure_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 0;
    return 1;
}

/* Edited values keep their own bytes in every format and mode: the
 * original inside of the prompt is followed by the added text, that of
 * the answer preceded by it; parsed, the values are the decoded
 * original plus the added text; the added text is written in the
 * value's style (\u escapes in a pure ASCII value that has them, and in
 * every value of a pure ASCII record that has them; UTF-8 otherwise),
 * so that an all-ASCII record stays all ASCII. */
START_TEST(edited_values_keep_their_bytes)
{
    static const struct {
        const char *tmpl, *prompt_path, *answer_path;
    } formats[] = {
        {"{\"input\":\"<P>\",\"output\":\"<A>\"}", "input", "output"},
        {"{\"instruction\":\"I\",\"input\":\"<P>\",\"output\":\"<A>\"}", "input", "output"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"<P>\"},{\"role\":\"assistant\",\"content\":\"<A>\"}]}",
         "messages/0/content", "messages/1/content"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"<P>\"}]},"
         "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"<A>\"}]}]}",
         "messages/0/content/0/text", "messages/1/content/0/text"},
        {"{\"conversations\":[{\"from\":\"human\",\"value\":\"<P>\"},{\"from\":\"gpt\",\"value\":\"<A>\"}]}",
         "conversations/0/value", "conversations/1/value"},
    };
    /* the insides of prompts and answers, and their decoded texts */
    static const struct {
        const char *raw, *text;
        int ascii;   /* pure ASCII with \u escapes */
    } prompts[] = {
        {"Caf\\u00e9 \\/ \\ud83d\\ude00 \\\"q\\\"\\n", "Caf\xc3\xa9 / \xf0\x9f\x98\x80 \"q\"\n", 1},
        {"Caf\xc3\xa9 \\/ \\u00e9", "Caf\xc3\xa9 / \xc3\xa9", 0},
        {"plain \\/ \\\\u00e9", "plain / \\u00e9", 0},
    }, answers[] = {
        {"R\\u00e9sum\\u00e9 \\ud83d\\ude00 end", "R\xc3\xa9sum\xc3\xa9 \xf0\x9f\x98\x80 end", 1},
        {"R\xc3\xa9sum\xc3\xa9 \xf0\x9f\x98\x80 end", "R\xc3\xa9sum\xc3\xa9 \xf0\x9f\x98\x80 end", 0},
    };
    const char *preview = "R\xc3\xa9sum\xc3\xa9 \xf0\x9f\x98\x80";   /* the answers' first two words */
    const char *P = "P\xc3\xa9 ", *conn = " \xe2\x86\x92 ";
    for (size_t f = 0; f < sizeof formats / sizeof *formats; f++)
        for (size_t pi = 0; pi < sizeof prompts / sizeof *prompts; pi++)
            for (size_t ai = 0; ai < sizeof answers / sizeof *answers; ai++)
                for (int mode = 0; mode < 2; mode++) {
                    la_config c = cfg_mode(mode ? LA_MODE_VIRTUAL : LA_MODE_REAL);
                    c.unit = LA_UNIT_WORD;
                    c.m = 2;
                    c.P = P;
                    c.connector = conn;
                    char *rec = fill(formats[f].tmpl, prompts[pi].raw, answers[ai].raw);
                    ck_assert_msg(run(&c, rec) == LA_OK, "%s: %s", rec, err.msg);
                    /* the original insides, in place */
                    char *pq = fill("\"<P>", prompts[pi].raw, ""), *aq = fill("<A>\"", "", answers[ai].raw);
                    ck_assert_msg(strstr(out.data, pq) != NULL, "prompt bytes lost: %s", out.data);
                    ck_assert_msg(strstr(out.data, aq) != NULL, "answer bytes lost: %s", out.data);
                    /* the added text in the value's style */
                    int all_ascii = pure_ascii(rec) && (prompts[pi].ascii || answers[ai].ascii);
                    ck_assert_msg(pure_ascii(out.data) == all_ascii, "%s -> %s", rec, out.data);
                    /* parsed: the decoded original plus the added text */
                    cJSON *j = cJSON_Parse(out.data);
                    ck_assert_ptr_nonnull(j);
                    char want_p[256], want_a[256];
                    snprintf(want_p, sizeof want_p, "%s%s%s", prompts[pi].text, conn, mode ? P : preview);
                    snprintf(want_a, sizeof want_a, "%s%s", mode ? P : "", answers[ai].text);
                    const char *got_p = string_at(j, formats[f].prompt_path), *got_a = string_at(j, formats[f].answer_path);
                    ck_assert_ptr_nonnull(got_p);
                    ck_assert_ptr_nonnull(got_a);
                    ck_assert_str_eq(got_p, want_p);
                    ck_assert_str_eq(got_a, want_a);
                    cJSON_Delete(j);
                    free(pq);
                    free(aq);
                    free(rec);
                }
}
END_TEST

/* An edited value whose bytes hold a lone surrogate escape is a bad
 * record, as when it was decoded; a value that is not edited keeps it. */
START_TEST(edited_lone_surrogate_is_rejected)
{
    la_config c = cfg_mode(LA_MODE_VIRTUAL);
    const char *bad[] = {"{\"input\":\"a \\ud800\",\"output\":\"b\"}", "{\"input\":\"a\",\"output\":\"\\udc00 b\"}",
                         ("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"\\ud83d\"}]},"
                          "{\"role\":\"assistant\",\"content\":\"b\"}]}")};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(run(&c, bad[i]), LA_EDATA);
        ck_assert_str_eq(err.code, "lone_surrogate");
        ck_assert_uint_eq(out.len, 0);
    }
    ck_assert_int_eq(run(&c, "{\"input\":\"a\",\"output\":\"b\",\"x\":\"\\ud800\"}"), LA_OK);
    ck_assert_ptr_nonnull(strstr(out.data, ",\"x\":\"\\ud800\"}"));
}
END_TEST

/* A chat record of 200,000 turns (and 20,000 other members) is edited
 * whole, in both chat formats and both modes, exactly as a short one:
 * the work per turn does not grow with the number of turns before it. */
/* la_proc_line gives what la_proc_record gives on the line it cuts
 * (output, status, reason, statistics), in virtual and real mode, for
 * accepted and rejected records, and takes the plain lines the fast way. */
START_TEST(proc_line_equals_proc_record)
{
    static const char *const recs[] = {
        "{\"question\":\"How many?\",\"answer\":\"Natalia sold 48\\/2 = <<48/2=24>>24 clips.\\n#### 72\"}",
        " \t{\"question\" : \"caf\xc3\xa9 \\u00e9\", \"answer\":\"\\ud83d\\ude00 ok\"}\r",
        "{\"question\":\"q\"}",
        "{\"question\":\"q\",\"answer\":5}",
        "[1,2]",
        "{\"question\":\"q\",\"answer\":\"a\\ud800\"}",
        "{\"question\":\"a\x01\",\"answer\":\"b\"}",
        "{\"question\":\"q\", \"answer\":\"a\"} x",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"yes it is\"}]}",
        "{\"question\":\"q\",\r\"answer\":\"a\"}",
        "   ",
    };
    static const char *const ends[] = {"", "\n", "\r\n", "\n{\"question\":\"next\",\"answer\":\"line\"}\n"};
    int fast = 0;
    for (int mode = 0; mode < 2; mode++) {
        la_config c = cfg_mode(mode ? LA_MODE_REAL : LA_MODE_VIRTUAL);
        c.input_field = "question";
        c.output_field = "answer";
        c.format = mode ? LA_FMT_AUTO : LA_FMT_FIELDS;
        for (size_t i = 0; i < sizeof recs / sizeof *recs; i++)
            for (size_t k = 0; k < sizeof ends / sizeof *ends; k++) {
                la_buf line = {0}, o1 = {0}, o2 = {0}, j1 = {0}, j2 = {0};
                la_buf_append(&line, recs[i], strlen(recs[i]));
                la_buf_append(&line, ends[k], strlen(ends[k]));
                size_t n = line.len;
                la_buf_reserve(&line, 64);
                memset(line.data + n, '"', 64);
                la_stats s1, s2;
                memset(&s1, 0, sizeof s1);
                memset(&s2, 0, sizeof s2);
                la_err e1, e2;
                la_proc *p1 = la_proc_new(&c, &e1), *p2 = la_proc_new(&c, &e2);
                ck_assert_ptr_nonnull(p1);
                ck_assert_ptr_nonnull(p2);
                la_buf_append(&o1, "x", 1);
                la_buf_append(&o2, "x", 1);
                size_t len = 0, next = 0;
                int rc = la_proc_line(p1, line.data, n, &len, &next, &o1, &s1, &e1);
                const char *nl = memchr(line.data, '\n', n);
                size_t stop = nl ? (size_t)(nl - line.data) : n;
                size_t want = stop > 0 && line.data[stop - 1] == '\r' ? stop - 1 : stop;
                if (rc == LA_PROC_GENERAL) {   /* nothing done */
                    ck_assert_uint_eq(o1.len, 1);
                    ck_assert_uint_eq(s1.records_in, 0);
                    ck_assert_msg(memchr(line.data, '\r', want) || strcmp(recs[i], "   ") == 0 ||
                                      la_proc_record(p2, line.data, want, &o2, &s2, &e2) != LA_OK,
                                  "a plain valid line went the general way: %s", recs[i]);
                } else {
                    fast++;
                    ck_assert_uint_eq(len, want);
                    ck_assert_uint_eq(next, nl ? stop + 1 : n);
                    int rc2 = la_proc_record(p2, line.data, want, &o2, &s2, &e2);
                    ck_assert_int_eq(rc, rc2);
                    if (rc != LA_OK) {
                        ck_assert_str_eq(e1.code, e2.code);
                        ck_assert_str_eq(e1.msg, e2.msg);
                    }
                    ck_assert_uint_eq(o1.len, o2.len);
                    ck_assert(memcmp(o1.data, o2.data, o1.len) == 0);
                    la_stats_json(&s1, &c, 0, &j1);
                    la_stats_json(&s2, &c, 0, &j2);
                    ck_assert_str_eq(j1.data, j2.data);
                }
                la_proc_free(p1);
                la_proc_free(p2);
                la_buf_free(&line);
                la_buf_free(&o1);
                la_buf_free(&o2);
                la_buf_free(&j1);
                la_buf_free(&j2);
            }
    }
    ck_assert_int_ge(fast, 40);
}
END_TEST

START_TEST(chat_with_many_turns)
{
    const size_t n = 200000, keys = 20000;
    for (int sharegpt = 0; sharegpt < 2; sharegpt++)
        for (int want = 1; want <= 2; want++) {
            la_config c = cfg_mode(want == 1 ? LA_MODE_VIRTUAL : LA_MODE_REAL);
            c.m = 2;
            c.P = "P ";
            c.connector = "|";
            char *in = chat_record(n, keys, sharegpt, 0), *expect = chat_record(n, keys, sharegpt, want);
            memset(&st, 0, sizeof st);
            ck_assert_int_eq(run(&c, in), LA_OK);
            ck_assert_uint_eq(st.turns_edited, n);
            ck_assert_uint_eq(st.records_out, 1);
            ck_assert_uint_eq(out.len, strlen(expect));
            ck_assert(memcmp(out.data, expect, out.len) == 0);
            /* a few values spelled out, beside the whole comparison */
            ck_assert_ptr_nonnull(strstr(out.data, want == 1 ? "\"q0|P \"" : "\"q0|a0 b\""));
            ck_assert_ptr_nonnull(strstr(out.data, want == 1 ? "\"P a199999 b c\"" : "\"q199999|a199999 b\""));
            free(in);
            free(expect);
        }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("record");
    TCase *t = tcase_create("core");
    tcase_add_test(t, virtual_edits_both_fields_and_keeps_everything_else);
    tcase_add_test(t, real_word_preview);
    tcase_add_test(t, words_and_graphemes);
    tcase_add_test(t, bad_records_leave_output_alone);
    tcase_add_test(t, nested_field_paths);
    tcase_add_test(t, alpaca_preview_goes_to_input_or_instruction);
    tcase_add_test(t, messages_turns_and_parts);
    tcase_add_test(t, sharegpt_roles);
    tcase_add_test(t, stats_merge_and_round_trip);
    tcase_add_test(t, edited_values_keep_their_bytes);
    tcase_add_test(t, edited_lone_surrogate_is_rejected);
    tcase_add_test(t, proc_line_equals_proc_record);
    suite_add_tcase(s, t);
    /* the time limit only guards against a hang: a record of N turns
     * that cost N^2 would take minutes */
    TCase *big = tcase_create("many turns");
    tcase_set_timeout(big, 120);
    tcase_add_test(big, chat_with_many_turns);
    suite_add_tcase(s, big);
    int failed = la_check_run(s);
    la_buf_free(&out);
    return failed ? 1 : 0;
}
