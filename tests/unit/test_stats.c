/* test_stats.c - the statistics' guard rails: --max-rejects parsing and
 * threshold arithmetic; merge-stats' validation of reports and its
 * exact sums. */
#include <check.h>

#include "check_run.h"
#include <stdint.h>
#include <string.h>

#include "lookahead.h"

START_TEST(reject_limit_parses_counts_and_percentages)
{
    la_reject_limit l;
    ck_assert_int_eq(la_reject_limit_parse("0", &l), LA_OK);
    ck_assert(l.set && !l.percent && l.count == 0);
    ck_assert_int_eq(la_reject_limit_parse("18446744073709551615", &l), LA_EARG);   /* 20 digits */
    ck_assert_int_eq(la_reject_limit_parse("9999999999999999999", &l), LA_OK);
    ck_assert(l.count == 9999999999999999999ull);
    ck_assert_int_eq(la_reject_limit_parse("5%", &l), LA_OK);
    ck_assert(l.set && l.percent && l.per10k == 500);
    ck_assert_int_eq(la_reject_limit_parse("0.5%", &l), LA_OK);
    ck_assert_uint_eq(l.per10k, 50);
    ck_assert_int_eq(la_reject_limit_parse("12.34%", &l), LA_OK);
    ck_assert_uint_eq(l.per10k, 1234);
    ck_assert_int_eq(la_reject_limit_parse("100%", &l), LA_OK);
    ck_assert_uint_eq(l.per10k, 10000);
    ck_assert_int_eq(la_reject_limit_parse("0%", &l), LA_OK);
    ck_assert(l.set && l.per10k == 0);
    static const char *const bad[] = {"", "-1", "+1", " 1", "1 ", "1.5", "%", "100.01%", "101%", "1.234%",
                                      "1.%",  ".5%", "5%%", "5 %", "1e3", "0x10", "5%x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(la_reject_limit_parse(bad[i], &l) == LA_EARG, "'%s' accepted", bad[i]);
        ck_assert(!l.set);
    }
}
END_TEST

START_TEST(reject_limit_arithmetic_is_exact)
{
    la_reject_limit l;
    memset(&l, 0, sizeof l);
    ck_assert(!la_reject_limit_exceeded(&l, UINT64_MAX, 1));   /* no limit */
    la_reject_limit_parse("3", &l);
    ck_assert(!la_reject_limit_exceeded(&l, 3, 3));
    ck_assert(la_reject_limit_exceeded(&l, 4, 100));
    la_reject_limit_parse("0", &l);
    ck_assert(!la_reject_limit_exceeded(&l, 0, 10));
    ck_assert(la_reject_limit_exceeded(&l, 1, 10));
    /* exactly at the percentage passes, one past it fails */
    la_reject_limit_parse("10%", &l);
    ck_assert(!la_reject_limit_exceeded(&l, 10, 100));
    ck_assert(la_reject_limit_exceeded(&l, 11, 100));
    ck_assert(!la_reject_limit_exceeded(&l, 0, 0));
    la_reject_limit_parse("33.33%", &l);
    ck_assert(!la_reject_limit_exceeded(&l, 3333, 10000));
    ck_assert(la_reject_limit_exceeded(&l, 1, 3));   /* 33.333...% > 33.33% */
    la_reject_limit_parse("0%", &l);
    ck_assert(!la_reject_limit_exceeded(&l, 0, 5));
    ck_assert(la_reject_limit_exceeded(&l, 1, UINT64_MAX));
    la_reject_limit_parse("100%", &l);
    ck_assert(!la_reject_limit_exceeded(&l, UINT64_MAX, UINT64_MAX));
    /* counts near 2^64 do not overflow: 1% of 2^64-1 */
    la_reject_limit_parse("1%", &l);
    ck_assert(!la_reject_limit_exceeded(&l, UINT64_MAX / 100, UINT64_MAX));
    ck_assert(la_reject_limit_exceeded(&l, UINT64_MAX / 100 + 1, UINT64_MAX));
}
END_TEST

/* A report of n records out (each of rec_bytes bytes in its output), one
 * rejected, written as fmt, parsed back into *st. */
static void report(la_stats *st, uint64_t n, uint64_t rec_bytes, int fmt, int compress)
{
    la_stats w;
    memset(&w, 0, sizeof w);
    la_config c;
    la_config_defaults(&c);
    w.records_out = n;
    w.format_records[LA_FMT_FIELDS] = n;
    la_stats_reject(&w, "missing_field");
    w.records_in = n + 1;
    w.out_format = fmt;
    w.out_compress = compress;
    /* JSONL: a line feed after each record; JSON: [\n, ,\n between, \n]\n */
    w.bytes_out = fmt == LA_IO_JSONL ? n * (rec_bytes + 1) : n ? n * rec_bytes + 2 * n + 3 : 3;
    la_buf b = {0};
    ck_assert_int_eq(la_stats_json(&w, &c, 0.5, &b), LA_OK);
    char mode[16], unit[16];
    uint64_t m;
    double secs;
    la_err e;
    ck_assert_int_eq(la_stats_parse(b.data, b.len, st, mode, sizeof mode, unit, sizeof unit, &m, &secs, &e), LA_OK);
    ck_assert_int_eq(st->out_format, fmt);
    ck_assert_int_eq(st->out_compress, compress);
    la_buf_free(&b);
}

START_TEST(merge_of_json_arrays_frames_once)
{
    /* shards of 3, 0 and 2 records of 10 bytes: one run writes one array
     * of 5 (2 + 5 x 10 + 4 x 2 + 3 bytes), and JSONL adds up as it is */
    static const uint64_t shards[] = {3, 0, 2};
    for (int fmt = LA_IO_JSONL; fmt <= LA_IO_JSON; fmt++) {
        la_stats total, st;
        memset(&total, 0, sizeof total);
        la_err e;
        for (size_t i = 0; i < 3; i++) {
            report(&st, shards[i], 10, fmt, LA_Z_NONE);
            ck_assert_int_eq(la_stats_merge_report(&total, &st, i == 0, &e), LA_OK);
        }
        la_stats_merge_end(&total);
        ck_assert_uint_eq(total.records_out, 5);
        ck_assert_uint_eq(total.records_in, 8);
        ck_assert_uint_eq(total.bytes_out, fmt == LA_IO_JSON ? 2 + 50 + 8 + 3 : 55);
    }
    /* compressed outputs: sizes add up, as concatenated streams */
    la_stats total, st;
    memset(&total, 0, sizeof total);
    la_err e;
    report(&st, 2, 10, LA_IO_JSON, LA_Z_GZIP);
    ck_assert_int_eq(la_stats_merge_report(&total, &st, 1, &e), LA_OK);
    ck_assert_int_eq(la_stats_merge_report(&total, &st, 0, &e), LA_OK);
    la_stats_merge_end(&total);
    ck_assert_uint_eq(total.bytes_out, 2 * st.bytes_out);
    /* another format or compression than the first report's is refused */
    report(&st, 2, 10, LA_IO_JSONL, LA_Z_GZIP);
    ck_assert_int_eq(la_stats_merge_report(&total, &st, 0, &e), LA_EDATA);
    report(&st, 2, 10, LA_IO_JSON, LA_Z_NONE);
    ck_assert_int_eq(la_stats_merge_report(&total, &st, 0, &e), LA_EDATA);
    /* a JSON array's bytes_out below its own framing cannot be */
    memset(&total, 0, sizeof total);
    st.bytes_out = 2 * 2 + 2;
    ck_assert_int_eq(la_stats_merge_report(&total, &st, 1, &e), LA_EDATA);
    ck_assert_str_eq(e.code, "bad_stats");
}
END_TEST

/* la_stats_parse of a good report with `from` replaced by `to`. */
static int parse_edited(const char *from, const char *to, la_err *e)
{
    static const char good[] =
        "{\"status\": \"complete\", \"records_in\": 3, \"records_out\": 2, \"records_rejected\": 1,"
        " \"rejected_by_reason\": {\"missing_field\": 1}, \"mode\": \"real\", \"unit\": \"word\", \"m\": 6,"
        " \"preview_units\": {\"min\": 2, \"max\": 6, \"mean\": 4}, \"previews\": 2, \"preview_units_sum\": 8,"
        " \"answers_fully_previewed\": 1, \"previews_extended\": 0,"
        " \"records_by_format\": {\"fields\": 1, \"alpaca\": 1, \"messages\": 0, \"sharegpt\": 0},"
        " \"bytes_out\": 100, \"output_format\": \"json\", \"output_compression\": \"none\", \"seconds\": 1}";
    char buf[sizeof good + 64];
    const char *at = strstr(good, from);
    ck_assert_ptr_nonnull(at);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - good), good, to, at + strlen(from));
    la_stats st;
    char mode[16], unit[16];
    uint64_t m;
    double secs;
    return la_stats_parse(buf, strlen(buf), &st, mode, sizeof mode, unit, sizeof unit, &m, &secs, e);
}

START_TEST(parse_refuses_inconsistent_reports)
{
    la_err e;
    ck_assert_int_eq(parse_edited("\"m\": 6", "\"m\": 6", &e), LA_OK);
    static const char *const edits[][2] = {
        {"\"records_rejected\": 1", "\"records_rejected\": -1"},   /* negative */
        {"\"records_out\": 2", "\"records_out\": 2.5"},            /* fractional */
        {"\"records_in\": 3", "\"records_in\": 4"},                /* in != out + rejected */
        {"\"missing_field\": 1", "\"missing_field\": 2"},          /* reasons != rejected */
        {"\"alpaca\": 1", "\"alpaca\": 0"},                        /* formats != out */
        {"\"answers_fully_previewed\": 1", "\"answers_fully_previewed\": 3"},
        {"\"previews_extended\": 0", "\"previews_extended\": 3"},
        {"\"preview_units_sum\": 8", "\"preview_units_sum\": 13"},  /* above 2 x max */
        {"\"preview_units_sum\": 8", "\"preview_units_sum\": 3"},   /* below 2 x min */
        {"\"min\": 2", "\"min\": 7"},                              /* min > max */
        {"\"output_format\": \"json\"", "\"output_format\": \"csv\""},
        {"\"output_compression\": \"none\"", "\"output_compression\": \"lz4\""},
        {"\"status\": \"complete\"", "\"status\": \"done\""},
        {"\"seconds\": 1", "\"seconds\": -1"},
        {"\"m\": 6", "\"m\": 6, \"warnings\": [\"no_such_warning\"]"},
        {"\"m\": 6", "\"m\": 6, \"warnings\": \"empty_answers\""},
        {"\"m\": 6", "\"m\": 6, \"empty_answers\": 3"},   /* more than previews */
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        memset(&e, 0, sizeof e);
        ck_assert_msg(parse_edited(edits[i][0], edits[i][1], &e) == LA_EDATA, "%s accepted", edits[i][1]);
        ck_assert_str_eq(e.code, "bad_stats");
    }
}
END_TEST

START_TEST(merged_warnings_are_a_single_runs)
{
    /* shard A: 2 of 10 answers whole (20%, warned), shard B: 0 of 30;
     * together 2 of 40 (5%): a single run gives no such warning, while
     * the other warnings any shard gave stay */
    la_stats a, b, total;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&total, 0, sizeof total);
    la_preview_info whole = {1, 1, 0}, part = {6, 0, 0};
    for (int i = 0; i < 10; i++)
        la_stats_preview(&a, i < 2 ? &whole : &part);
    for (int i = 0; i < 30; i++)
        la_stats_preview(&b, &part);
    ck_assert(la_stats_many_full(&a));
    ck_assert(!la_stats_many_full(&b));
    a.warnings = 1u << LA_WARN_FULL_PREVIEWS | 1u << LA_WARN_NO_TOKENIZER;
    b.warnings = 1u << LA_WARN_NO_TOKENIZER | 1u << LA_WARN_EMPTY_ANSWERS;
    la_err e;
    ck_assert_int_eq(la_stats_merge_report(&total, &a, 1, &e), LA_OK);
    ck_assert_int_eq(la_stats_merge_report(&total, &b, 0, &e), LA_OK);
    la_stats_merge_end(&total);
    ck_assert_uint_eq(total.warnings, 1u << LA_WARN_NO_TOKENIZER | 1u << LA_WARN_EMPTY_ANSWERS);
    /* exactly 10% is not more than 10% */
    memset(&a, 0, sizeof a);
    for (int i = 0; i < 10; i++)
        la_stats_preview(&a, i < 1 ? &whole : &part);
    ck_assert(!la_stats_many_full(&a));
    la_stats_preview(&a, &whole);
    ck_assert(la_stats_many_full(&a));
    /* an answer with nothing to preview is counted as empty */
    la_preview_info none = {0, 1, 0};
    la_stats_preview(&a, &none);
    ck_assert_uint_eq(a.empty_answers, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stats");
    TCase *t = tcase_create("guard rails");
    tcase_add_test(t, reject_limit_parses_counts_and_percentages);
    tcase_add_test(t, reject_limit_arithmetic_is_exact);
    suite_add_tcase(s, t);
    TCase *mt = tcase_create("merge-stats");
    tcase_add_test(mt, merge_of_json_arrays_frames_once);
    tcase_add_test(mt, parse_refuses_inconsistent_reports);
    tcase_add_test(mt, merged_warnings_are_a_single_runs);
    suite_add_tcase(s, mt);
    return la_check_run(s);
}
