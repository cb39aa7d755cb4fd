/* proc_run.h - the record suites' way of running one record: a new
 * processor from cfg, the record through it into `out`, status back. */
#ifndef LA_PROC_RUN_H
#define LA_PROC_RUN_H

#include <check.h>
#include <string.h>

#include "lookahead.h"

static la_buf out;
static la_stats st;
static la_err err;

static inline int run(const la_config *cfg, const char *rec)
{
    la_proc *p = la_proc_new(cfg, &err);
    ck_assert_ptr_nonnull(p);
    la_buf_clear(&out);
    int rc = la_proc_record(p, rec, strlen(rec), &out, &st, &err);
    la_proc_free(p);
    return rc;
}

#endif
