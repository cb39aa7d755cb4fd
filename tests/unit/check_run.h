/* check_run.h - runs a Check suite and turns its result into the exit
 * code `make unit` looks at (0 when every test passed). */
#ifndef LA_CHECK_RUN_H
#define LA_CHECK_RUN_H

#include <check.h>

static inline int la_check_run(Suite *s)
{
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}

#endif
