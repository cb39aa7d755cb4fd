/* check_run.h - runs a Check suite and turns its result into the exit
 * code `make unit` looks at (0 when every test passed); reads a file
 * whole for the suites that compare files, and counts a folder's files
 * for those that look at a tokenizer cache. */
#ifndef LA_CHECK_RUN_H
#define LA_CHECK_RUN_H

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline int la_check_run(Suite *s)
{
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}

/* The whole file at path in a new buffer, NUL after its *len bytes. */
static inline char *la_check_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    b[n] = 0;
    *len = (size_t)n;
    return b;
}

/* 1 when name ends with end. */
static inline int la_check_ends(const char *name, const char *end)
{
    size_t n = strlen(name), k = strlen(end);
    return n >= k && strcmp(name + n - k, end) == 0;
}

/* The files in folder dir (names not starting with '.'), but a tokenizer
 * cache's identity records (names ending ".id", which a load of a file
 * left alone for a while adds beside its entry): how many, and the path
 * of the last one read into last (when not NULL). */
static inline int la_check_files(const char *dir, char *last, size_t n)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && !la_check_ends(e->d_name, ".id") && !la_check_ends(e->d_name, ".ok")) {
            count++;
            if (last)
                snprintf(last, n, "%s/%s", dir, e->d_name);
        }
    closedir(d);
    return count;
}

#endif
