/* test_stats.c - the statistics' guard rails: --max-rejects parsing and
 * threshold arithmetic. */
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

int main(void)
{
    Suite *s = suite_create("stats");
    TCase *t = tcase_create("guard rails");
    tcase_add_test(t, reject_limit_parses_counts_and_percentages);
    tcase_add_test(t, reject_limit_arithmetic_is_exact);
    suite_add_tcase(s, t);
    return la_check_run(s);
}
