/* test_progress.c - the progress line never passes the terminal's width
 * and keeps its most useful parts. */
#include <check.h>

#include "check_run.h"
#include <string.h>

#include "progress.h"

static const la_progress cases[] = {
    {0.0, 0, 0, 0, 0},
    {0.3, 12, 3456, 100, 1000},
    {12.5, 1234567, 512300000, 512300000, 1220000000},
    {3725.0, 987654321012ull, 999999999999999ull, 1, 3},
    {1e9, 18446744073709551615ull, 18446744073709551615ull, 18446744073709551615ull, 1},
    {5.0, 100, 100, 0, 0},
};

START_TEST(never_wider_than_the_terminal)
{
    char buf[512];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t width = 0; width <= 300; width++) {
            size_t n = la_progress_line(&cases[c], width, buf, sizeof buf);
            ck_assert_uint_eq(n, strlen(buf));
            ck_assert_msg(n + 1 <= width || n == 0, "case %zu, width %zu: %zu characters", c, width, n);
            ck_assert_ptr_null(strpbrk(buf, "\r\n\033"));
        }
}
END_TEST

START_TEST(known_total_shows_percent_eta_and_bar)
{
    char buf[512];
    const la_progress *p = &cases[2];   /* 42% of 1220 MB after 12.5 s */
    la_progress_line(p, 40, buf, sizeof buf);
    ck_assert_ptr_nonnull(strstr(buf, " 42%"));
    ck_assert_ptr_nonnull(strstr(buf, "ETA 0:17"));   /* 12.5 s x 58 / 42 */
    ck_assert_ptr_nonnull(strstr(buf, "0:12"));        /* elapsed, rounded */
    la_progress_line(p, 120, buf, sizeof buf);
    ck_assert_ptr_nonnull(strstr(buf, "1.2M rec"));
    ck_assert_ptr_nonnull(strstr(buf, "98.8k rec/s"));
    ck_assert_ptr_nonnull(strstr(buf, "512.3 MB"));
    ck_assert_ptr_nonnull(strstr(buf, "41.0 MB/s"));
    ck_assert_ptr_nonnull(strchr(buf, '['));
    ck_assert_ptr_nonnull(strstr(buf, "lookahead:"));
    /* a narrow terminal keeps percent and elapsed first */
    la_progress_line(p, 12, buf, sizeof buf);
    ck_assert_str_eq(buf, " 42% 0:12");
    /* no total: no percent, ETA or bar */
    la_progress_line(&cases[5], 200, buf, sizeof buf);
    ck_assert_ptr_null(strchr(buf, '%'));
    ck_assert_ptr_null(strstr(buf, "ETA"));
    ck_assert_ptr_null(strchr(buf, '['));
    ck_assert_ptr_nonnull(strstr(buf, "100 rec 20 rec/s"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("progress");
    TCase *t = tcase_create("line");
    tcase_add_test(t, never_wider_than_the_terminal);
    tcase_add_test(t, known_total_shows_percent_eta_and_bar);
    suite_add_tcase(s, t);
    return la_check_run(s);
}
