/* test_tokenizer.c - the whole pipeline: encoding, previews and their
 * laziness. Expected values come from HuggingFace tokenizers 0.23.2
 * (encode) and the oracle (../shared/oracle/lookahead_oracle.js, --emit
 * prefix) run on the same fixtures (tests/fixtures/tok/full_*.json). */
#define _GNU_SOURCE               /* F_SETLEASE */
#include "check_run.h"
#include "tok_suite.h"
#include "tokenizer/tk.h"
#include "tokenizer/tk_test.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FIX "tests/fixtures/tok/"
#define SP "\xE2\x96\x81"


/* Encodes text and compares the ids. */
static void check_ids(la_tokenizer *t, la_tok_work *w, const char *text, const uint32_t *ids, size_t n)
{
    la_err err;
    la_tokens out = {0};
    ck_assert_int_eq(la_tokenizer_encode(t, w, text, strlen(text), 0, &out, &err), LA_OK);
    ck_assert_msg(out.n == n, "\"%s\": %zu tokens, want %zu", text, out.n, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq(out.ids[i], ids[i]);
    la_tokens_free(&out);
}

/* Previews text and compares with the oracle's prefix and m_used. */
static void check_preview(la_tokenizer *t, la_tok_work *w, const char *text, size_t m, int complete,
                          const char *want, size_t units, int whole)
{
    la_err err;
    la_buf out = {0};
    la_preview_info info;
    ck_assert_int_eq(la_tokenizer_preview(t, w, text, strlen(text), m, complete, &out, &info, &err), LA_OK);
    ck_assert_msg(strcmp(out.data ? out.data : "", want) == 0, "\"%s\" m=%zu: got \"%s\", want \"%s\"", text,
                  m, out.data ? out.data : "", want);
    ck_assert_uint_eq(info.units, units);
    ck_assert_int_eq(info.whole, whole);
    ck_assert_int_eq(info.extended, units > m);
    la_buf_free(&out);
}

START_TEST(encode_byte_level)
{
    la_tokenizer *t = tok_load(FIX "full_bytelevel.json");
    la_tok_work *w = la_tok_work_new();
    static const uint32_t a[] = {116, 257, 267, 264, 258, 269};
    check_ids(t, w, "the cat and the hat", a, 6);
    static const uint32_t b[] = {273, 32, 271, 276, 277, 258};
    check_ids(t, w, "\xC3\xA4 123 on<|end|> the", b, 6);
    static const uint32_t c[] = {258, 32, 267, 10};
    check_ids(t, w, " the  cat\n", c, 4);
    check_ids(t, w, "", NULL, 0);
    ck_assert_int_eq(t->byte_level, 1);
    la_tok_work_free(w);
    la_tokenizer_free(t);
}
END_TEST

START_TEST(encode_whole_sequence)
{
    la_tokenizer *t = tok_load(FIX "full_llama.json");
    la_tok_work *w = la_tok_work_new();
    static const uint32_t a[] = {305, 295, 298, 292, 300, 286};
    check_ids(t, w, "The cat and the hat.", a, 6);
    static const uint32_t b[] = {296, 1, 292, 2, 259, 295};   /* each piece gets its own Prepend */
    check_ids(t, w, "a<s>the</s> cat", b, 6);
    la_err err;
    la_buf out = {0};
    ck_assert_int_eq(la_tokenizer_decode(t, w, b, 6, &out, &err), LA_OK);
    ck_assert_str_eq(out.data, "a<s> the</s>  cat");
    la_buf_free(&out);
    la_tok_work_free(w);
    la_tokenizer_free(t);
}
END_TEST

START_TEST(previews)
{
    la_tokenizer *t = tok_load(FIX "full_llama.json");
    la_tok_work *w = la_tok_work_new();
    const char *snow = "the \xE2\x98\x83 hat";
    check_preview(t, w, snow, 3, 1, "the \xE2\x98\x83", 5, 0);
    check_preview(t, w, snow, 3, 0, "the \xEF\xBF\xBD", 3, 0);
    check_preview(t, w, snow, 4, 0, "the \xEF\xBF\xBD\xEF\xBF\xBD", 4, 0);
    check_preview(t, w, "a<s>the</s> cat", 4, 1, "a<s> the</s>", 4, 0);
    check_preview(t, w, "The cat and the hat.", 3, 1, "The cat and", 3, 0);
    check_preview(t, w, "The cat and the hat.", 6, 1, "The cat and the hat.", 6, 1);
    check_preview(t, w, "The cat and the hat.", 17, 0, "The cat and the hat.", 6, 1);
    check_preview(t, w, "", 3, 1, "", 0, 1);
    la_tokenizer_free(t);
    t = tok_load(FIX "full_bytelevel.json");
    check_preview(t, w, "the \xE2\x98\x83 cat", 4, 1, "the \xE2\x98\x83", 6, 0);
    check_preview(t, w, "the \xE2\x98\x83 cat", 4, 0, "the \xEF\xBF\xBD", 4, 0);
    check_preview(t, w, "the \xE2\x98\x83 cat", 3, 1, "the ", 3, 0);
    check_preview(t, w, "\xC3\xA4 123 on<|end|> the", 4, 1, "\xC3\xA4 123 on", 4, 0);
    la_tok_work_free(w);
    la_tokenizer_free(t);
}
END_TEST

/* ~60 KB of text the fixtures know. */
static char *long_text(size_t *len)
{
    static const char unit[] = "The cat and the hat. the hat and the cat in the hat. ";
    size_t k = 60000 / (sizeof unit - 1) + 1, n = k * (sizeof unit - 1);
    char *s = malloc(n + 8);
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < k; i++)
        memcpy(s + i * (sizeof unit - 1), unit, sizeof unit - 1);
    s[n] = 0;
    *len = n;
    return s;
}

/* The preview of a long answer equals decode(first m tokens of the full
 * encoding), for both kinds of pipeline. */
START_TEST(lazy_preview_is_exact)
{
    static const char *const fixtures[] = {(FIX "full_llama.json"), (FIX "full_bytelevel.json")};
    size_t len;
    char *text = long_text(&len);
    for (size_t f = 0; f < 2; f++) {
        la_tokenizer *t = tok_load(fixtures[f]);
        la_tok_work *w = la_tok_work_new();
        la_err err;
        la_tokens all = {0};
        ck_assert_int_eq(la_tokenizer_encode(t, w, text, len, 0, &all, &err), LA_OK);
        ck_assert_uint_gt(all.n, 10000);
        la_tokens first = {0};
        ck_assert_int_eq(la_tokenizer_encode(t, w, text, len, 6, &first, &err), LA_OK);
        ck_assert_uint_ge(first.n, 6);
        ck_assert_uint_lt(first.n, 100);          /* it stopped early */
        for (size_t i = 0; i < 6; i++)
            ck_assert_uint_eq(first.ids[i], all.ids[i]);
        /* preview from the full encoding, through the token strings */
        la_tokens six = {0};
        for (size_t i = 0; i < 6; i++)
            tk_tokens_push(&six, all.ids[i], all.strs.data + all.str_off[i], tk_tokens_len(&all, i));
        la_buf want = {0}, got = {0};
        if (t->decoder)
            ck_assert_int_eq(t->decoder->chain(t->decoder, &six, w, &err), LA_OK);
        for (size_t i = 0; i < six.n; i++)
            la_buf_append(&want, six.strs.data + six.str_off[i], tk_tokens_len(&six, i));
        la_preview_info info;
        ck_assert_int_eq(la_tokenizer_preview(t, w, text, len, 6, 1, &got, &info, &err), LA_OK);
        ck_assert_str_eq(got.data, want.data);
        ck_assert_uint_eq(info.units, 6);
        ck_assert_int_eq(info.whole, 0);
        la_buf_free(&want);
        la_buf_free(&got);
        la_tokens_free(&six);
        la_tokens_free(&first);
        la_tokens_free(&all);
        la_tok_work_free(w);
        la_tokenizer_free(t);
    }
    free(text);
}
END_TEST

/* Proof that the tail is never tokenized: in full_lazy.json an unknown
 * character is an error (its unk_token is missing from the vocabulary),
 * and one sits at the end of 60 KB of text. The full encoding fails;
 * the preview never gets there. */
START_TEST(lazy_preview_never_reads_the_tail)
{
    size_t len;
    char *text = long_text(&len);
    memcpy(text + len, "\xE2\x98\x83", 4);
    len += 3;
    la_tokenizer *t = tok_load(FIX "full_lazy.json");
    la_tok_work *w = la_tok_work_new();
    la_err err;
    la_tokens all = {0};
    ck_assert_int_ne(la_tokenizer_encode(t, w, text, len, 0, &all, &err), LA_OK);
    la_buf got = {0};
    la_preview_info info;
    ck_assert_int_eq(la_tokenizer_preview(t, w, text, len, 6, 1, &got, &info, &err), LA_OK);
    /* the same vocabulary and merges as full_llama.json, whose full
     * encoding gives the same first tokens */
    la_tokenizer *ref = tok_load(FIX "full_llama.json");
    la_buf want = {0};
    ck_assert_int_eq(la_tokenizer_preview(ref, w, text, len - 3, 6, 1, &want, &info, &err), LA_OK);
    ck_assert_str_eq(got.data, want.data);
    la_tokenizer_free(ref);
    la_buf_free(&want);
    la_buf_free(&got);
    la_tokens_free(&all);
    la_tok_work_free(w);
    la_tokenizer_free(t);
    free(text);
}
END_TEST

START_TEST(folder_path)
{
    la_err err;
    la_tokenizer *t = la_tokenizer_load("tests/fixtures/tok", &err);   /* no tokenizer.json there */
    ck_assert_ptr_null(t);
    ck_assert_str_eq(err.code, "cannot_open");
}
END_TEST

/* The tokens of a few texts, or the error, loading path as it is set. */
static char *load_outcome(const char *path)
{
    static const char *const texts[] = { "the cat and the hat", "\xC3\xA4 123 on<|end|> the", " a  b\n\n c", "" };
    la_err err = {{0}, {0}};
    la_tokenizer *t = la_tokenizer_load(path, &err);
    la_buf out = {0};
    if (!t) {
        ck_assert_int_eq(la_buf_append(&out, err.msg, strlen(err.msg) + 1), LA_OK);
        return out.data;
    }
    la_tok_work *w = la_tok_work_new();
    la_tokens toks = {0};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        int rc = la_tokenizer_encode(t, w, texts[i], strlen(texts[i]), 0, &toks, &err);
        char num[32];
        int n = snprintf(num, sizeof num, "rc %d:", rc);
        ck_assert_int_eq(la_buf_append(&out, num, (size_t)n), LA_OK);
        for (size_t k = 0; rc == LA_OK && k < toks.n; k++) {
            n = snprintf(num, sizeof num, " %u", toks.ids[k]);
            ck_assert_int_eq(la_buf_append(&out, num, (size_t)n), LA_OK);
        }
        ck_assert_int_eq(la_buf_append(&out, ";", 1), LA_OK);
    }
    ck_assert_int_eq(la_buf_append(&out, "", 1), LA_OK);
    la_tokens_free(&toks);
    la_tok_work_free(w);
    la_tokenizer_free(t);
    return out.data;
}

static const char *mapped_data;
static size_t mapped_len;
static int mapped_errno;
static pid_t mapped_cutter;

/* While the file is mapped: the mapping is known as the tokenizer file's;
 * a writer that does not wait is refused; a program that cuts the file
 * short is started, and waits. */
static void on_mapped(const char *path, const char *data, size_t len)
{
    mapped_data = data;
    mapped_len = len;
    ck_assert_str_eq(la_tokenizer_file_fault(data), path);
    ck_assert_str_eq(la_tokenizer_file_fault(data + len - 1), path);
    ck_assert_ptr_null(la_tokenizer_file_fault(data + len));
    ck_assert_ptr_null(la_tokenizer_cache_fault(data));
    ck_assert_int_eq(data[len], 0);
    int fd = open(path, O_WRONLY | O_NONBLOCK);
    mapped_errno = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    mapped_cutter = fork();
    ck_assert_int_ge(mapped_cutter, 0);
    if (mapped_cutter == 0)
        _exit(truncate(path, 0) == 0 ? 0 : 1);
}

/* 1 when this system grants a read lease on a file in /tmp. */
static int leases_granted(void)
{
    char path[] = "/tmp/la_tok_lease_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    fd = open(path, O_RDONLY);
    int ok = fd >= 0 && fcntl(fd, F_SETLEASE, F_RDLCK) == 0;
    if (fd >= 0)
        close(fd);
    unlink(path);
    return ok;
}

/* A tokenizer file is mapped rather than read while a read lease keeps
 * other programs from changing it (tk_load_set_map(2): any size): every
 * fixture gives the same tokens, or the same error, mapped and read; the
 * bytes end with a NUL; while mapped, a writer that does not wait is
 * refused and a truncation waits for the load to end, which sees the
 * file whole; a fault in the mapping is told to be the tokenizer file's
 * until it is gone; a file this process holds open for writing is read. */
START_TEST(file_mapped_under_lease)
{
    setenv("LOOKAHEAD_CACHE_DIR", "", 1);
    int leases = leases_granted();
    if (!leases)
        fprintf(stderr, "file_mapped_under_lease: this system grants no read lease in /tmp: files are read, "
                        "not mapped; only that is tested\n");
    glob_t g;
    ck_assert_int_eq(glob(FIX "*.json", 0, NULL, &g), 0);
    unsigned long before = tk_load_files_mapped();
    for (size_t i = 0; i < g.gl_pathc; i++) {
        tk_load_set_map(2);
        char *mapped = load_outcome(g.gl_pathv[i]);
        tk_load_set_map(0);
        char *read = load_outcome(g.gl_pathv[i]);
        ck_assert_msg(strcmp(mapped, read) == 0, "%s: mapped %s, read %s", g.gl_pathv[i], mapped, read);
        free(mapped);
        free(read);
    }
    if (leases)
        ck_assert_uint_eq(tk_load_files_mapped() - before, g.gl_pathc);
    globfree(&g);

    /* a copy of a fixture, cut short while it is mapped */
    char path[] = "/tmp/la_tok_map_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size_t len;
    char *text = la_check_slurp(FIX "full_bytelevel.json", &len);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    free(text);
    if (leases) {
        tk_load_set_map(2);
        tk_load_set_map_hook(on_mapped);
        mapped_cutter = -1;
        la_err err;
        la_tokenizer *t = la_tokenizer_load(path, &err);
        tk_load_set_map_hook(NULL);
        ck_assert_msg(t != NULL, "%s", err.msg);
        ck_assert_int_gt(mapped_cutter, 0);
        int status;
        ck_assert_int_eq(waitpid(mapped_cutter, &status, 0), mapped_cutter);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        ck_assert_msg(mapped_errno == EWOULDBLOCK || mapped_errno == EAGAIN, "a writer got in: %s",
                      strerror(mapped_errno));
        ck_assert_uint_eq(mapped_len, len);
        ck_assert_ptr_null(la_tokenizer_file_fault(mapped_data));   /* unmapped */
        struct stat st;
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(st.st_size, 0);                            /* cut once the load was done */
        la_tok_work *w = la_tok_work_new();
        static const uint32_t a[] = {116, 257, 267, 264, 258, 269};
        check_ids(t, w, "the cat and the hat", a, 6);
        la_tok_work_free(w);
        la_tokenizer_free(t);
        /* the file rewritten, and held open for writing here: read */
        text = la_check_slurp(FIX "full_bytelevel.json", &len);
        fd = open(path, O_WRONLY | O_TRUNC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
        free(text);
        before = tk_load_files_mapped();
        t = la_tokenizer_load(path, &err);
        ck_assert_msg(t != NULL, "%s", err.msg);
        ck_assert_uint_eq(tk_load_files_mapped(), before);
        la_tokenizer_free(t);
        close(fd);
    }
    unlink(path);
    tk_load_set_map(1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("pipeline");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, encode_byte_level);
    tcase_add_test(tc, encode_whole_sequence);
    tcase_add_test(tc, previews);
    tcase_add_test(tc, lazy_preview_is_exact);
    tcase_add_test(tc, lazy_preview_never_reads_the_tail);
    tcase_add_test(tc, folder_path);
    tcase_add_test(tc, file_mapped_under_lease);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
