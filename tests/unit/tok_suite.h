/* tok_suite.h - what the tokenizer suites share: a tokenizer loaded from
 * a file (the test fails with the loader's message when it cannot be),
 * and a scratch area made by the library (freed by la_tok_work_free). */
#ifndef LA_TOK_SUITE_H
#define LA_TOK_SUITE_H

#include <check.h>

#include "lookahead.h"

static inline la_tokenizer *tok_load(const char *path)
{
    la_err err = {{0}, {0}};
    la_tokenizer *t = la_tokenizer_load(path, &err);
    ck_assert_msg(t != NULL, "%s: %s", path, err.msg);
    return t;
}

static inline la_tok_work *tok_work(void)
{
    la_tok_work *w = la_tok_work_new();
    ck_assert_ptr_nonnull(w);
    return w;
}

#endif
