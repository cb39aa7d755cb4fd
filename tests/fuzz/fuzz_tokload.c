/* fuzz_tokload.c - loading tokenizer.json (la_tokenizer_load).
 *
 * The input is written to a memfd and loaded by its /proc/self/fd path,
 * as a file would be. A load either fails with a reason (code and
 * message) or gives a tokenizer that can encode, decode and preview a
 * few texts without error or crash; encoding with a token limit gives
 * the first tokens of the full encoding, and previews are the same with
 * every shortcut off. Loaded again without the cache, reading the
 * vocabulary and merges while validating them (the merges by their
 * layout) or after, it is accepted or refused alike, with the same tables
 * or the same reason. (Both validate the vocabulary object through
 * la_json_int_object; fuzz_record holds that to the validator.) */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "tokenizer/tk.h"
#include "tokenizer/tk_test.h"

static const char *const samples[] = {
    "Hello world, 12345!",
    " the  cat\n<s> \xc3\xa9t\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9",
    "",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbb",
};

static void exercise(const la_tokenizer *t)
{
    la_tok_work *w = la_tok_work_new();
    FUZZ_CHECK(w != NULL, "la_tok_work_new");
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
        const char *s = samples[i];
        size_t n = strlen(s);
        la_tokens all = {0}, few = {0};
        la_err e = {{0}, {0}};
        int rc = la_tokenizer_encode(t, w, s, n, 0, &all, &e);
        if (rc) {   /* a tokenizer may refuse a text (e.g. no unk token): with a reason */
            FUZZ_CHECK(rc == LA_EDATA || rc == LA_EUNSUP, "encode status %d (%s)", rc, e.msg);
            FUZZ_CHECK(e.msg[0], "encode failed without a reason");
            la_tokens_free(&all);
            continue;
        }
        rc = la_tokenizer_encode(t, w, s, n, 3, &few, &e);
        FUZZ_CHECK(rc == LA_OK, "encode with a limit failed: %s", e.msg);
        size_t k = few.n < 3 ? few.n : 3;
        FUZZ_CHECK(few.n >= 3 || few.n == all.n, "limited encoding stopped early: %zu of %zu", few.n, all.n);
        FUZZ_CHECK(k <= all.n && (k == 0 || memcmp(few.ids, all.ids, k * sizeof *few.ids) == 0), "limited encoding differs");
        la_buf out = {0};
        rc = la_tokenizer_decode(t, w, all.ids, all.n, &out, &e);
        FUZZ_CHECK(rc == LA_OK || e.msg[0], "decode failed without a reason");
        la_buf_free(&out);
        for (int complete = 0; complete < 2; complete++) {
            la_preview_info info, slow_info;
            la_buf slow = {0};
            rc = la_tokenizer_preview(t, w, s, n, 2, complete, &out, &info, &e);
            FUZZ_CHECK(rc == LA_OK || e.msg[0], "preview failed without a reason");
            /* the same preview with every shortcut off (windows, decode
             * plans, direct previews) */
            la_tokenizer *u = (la_tokenizer *)t;
            u->no_window = u->no_plan = u->no_direct = 1;
            int slow_rc = la_tokenizer_preview(t, w, s, n, 2, complete, &slow, &slow_info, &e);
            u->no_window = u->no_plan = u->no_direct = 0;
            FUZZ_CHECK(slow_rc == rc, "preview status %d, %d without shortcuts", rc, slow_rc);
            if (rc == LA_OK)
                FUZZ_CHECK(out.len == slow.len && (out.len == 0 || memcmp(out.data, slow.data, out.len) == 0) &&
                               info.units == slow_info.units && info.whole == slow_info.whole &&
                               info.extended == slow_info.extended,
                           "preview \"%.*s\" (%zu tokens), \"%.*s\" (%zu) without shortcuts", (int)out.len,
                           out.data ? out.data : "", info.units, (int)slow.len, slow.data ? slow.data : "",
                           slow_info.units);
            la_buf_free(&out);
            la_buf_free(&slow);
        }
        la_tokens_free(&all);
        la_tokens_free(&few);
    }
    la_tok_work_free(w);
}

static void same_read_after(const char *path)
{
    const char *was = getenv("LOOKAHEAD_CACHE_DIR");
    char *keep = was ? strdup(was) : NULL;
    FUZZ_CHECK(!was || keep, "strdup");
    setenv("LOOKAHEAD_CACHE_DIR", "", 1);
    la_err e1 = {{0}, {0}}, e2 = {{0}, {0}};
    la_tokenizer *a = la_tokenizer_load(path, &e1);
    tk_load_set_ahead(0);
    la_tokenizer *b = la_tokenizer_load(path, &e2);
    tk_load_set_ahead(1);
    if (keep)
        setenv("LOOKAHEAD_CACHE_DIR", keep, 1);
    else
        unsetenv("LOOKAHEAD_CACHE_DIR");
    free(keep);
    FUZZ_CHECK((a == NULL) == (b == NULL), "read ahead: %s; after validation: %s", a ? "loaded" : e1.msg,
               b ? "loaded" : e2.msg);
    if (!a)
        FUZZ_CHECK(strcmp(e1.msg, e2.msg) == 0, "refused as \"%s\" read ahead, \"%s\" after", e1.msg, e2.msg);
    else if (tk_bpe_kind(a->model) == TK_MODEL_BPE)
        FUZZ_CHECK(tk_bpe_kind(b->model) == TK_MODEL_BPE &&
                       tk_bpe_vocab_count(a->model) == tk_bpe_vocab_count(b->model) &&
                       tk_bpe_vocab_size(a->model) == tk_bpe_vocab_size(b->model) &&
                       tk_bpe_merge_count(a->model) == tk_bpe_merge_count(b->model) &&
                       tk_bpe_merge_digest(a->model) == tk_bpe_merge_digest(b->model),
                   "tables read ahead differ from those read after validation");
    la_tokenizer_free(a);
    la_tokenizer_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("tokenizer.json", MFD_CLOEXEC);
    FUZZ_CHECK(fd >= 0, "memfd_create: %s", strerror(errno));
    size_t off = 0;
    while (off < size) {
        ssize_t k = write(fd, data + off, size - off);
        FUZZ_CHECK(k > 0, "write: %s", strerror(errno));
        off += (size_t)k;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    la_err e = {{0}, {0}};
    la_tokenizer *t = la_tokenizer_load(path, &e);
    if (!t) {
        FUZZ_CHECK(e.code[0] && e.msg[0], "load failed without a reason");
    } else {
        exercise(t);
        la_tokenizer_free(t);
    }
    same_read_after(path);
    close(fd);
    return 0;
}
