/* fuzz_cache.c - the tokenizer cache's entries (load.c, bpe.c).
 *
 * At start each tokenizer below is loaded once from its file with the
 * cache on, in a private cache folder, which makes a real entry for it:
 * its bytes are kept, and the tokenizer loaded with the cache off is
 * kept beside them. An input picks one of those entries and edits it:
 *
 *   byte 0        the tokenizer (modulo their number)
 *   then edits    [region][offset: 4 bytes, little-endian][n][n bytes],
 *                 n <= 16, written over the entry at offset (modulo the
 *                 region's length): region % 4 = 0 the entry's head and
 *                 what follows it (its first 512 bytes), 1 all but the
 *                 word table, 2 the word table, 3 anywhere
 *
 * The edited entry's check is made right again (tk_cache_reseal), so that
 * the edits reach the checks of its parts, and it is put where the cache
 * looks for it. Then the tokenizer is loaded again: from the file when
 * the loader refused the entry (it must have removed it), or from the
 * entry, and then it encodes and previews a few texts without error or
 * crash, every id below the vocabulary's size, and with the same results
 * as the file's own tokenizer unless an edit changed a byte that only
 * the entry's check vouches for (tk_cache_vouched: merge ranks, the other
 * members' text, ...), which no loader can tell from another file's; or
 * it fails with bad_cache, the entry removed, once a merge it looks up
 * does not hold (merges are checked at use). */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "tokenizer/tk.h"
#include "tokenizer/tk_test.h"

static const char *const names[] = {
    "full_llama.json", "bpe_prefix.json", "full_bytelevel.json", "bpe_wide_ids.json",
    "window_lower.json", "full_llama_shared_id.json", "bpe_ignore_merges.json", "full_llama_unk.json",
};
#define NTOK (sizeof names / sizeof names[0])

static const char *const texts[] = {
    "the cat sat on the mat", " the  hat\tand\n<s>the cat</s>", "\xE6\x97\xA5\xE6\x9C\xAC caf\xC3\xA9! 12345",
    "\342\226\201\342\226\201at <unk> THE HAT attatt", "ab abc abcd a b c", "",
};
#define NTEXT (sizeof texts / sizeof texts[0])

typedef struct {
    char path[512];               /* the tokenizer.json */
    char entry[512];              /* its entry's file */
    char *bytes;                  /* the entry as made */
    size_t len;
    la_tokenizer *ref;            /* loaded from the file, no cache */
} fixture;

static fixture fix[NTOK];
static char dir[64];

/* The one entry file in the cache folder into f (and removes nothing). */
static void find_entry(fixture *f)
{
    DIR *d = opendir(dir);
    FUZZ_CHECK(d != NULL, "opendir %s", dir);
    struct dirent *e;
    f->entry[0] = 0;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tok"))
            snprintf(f->entry, sizeof f->entry, "%s/%s", dir, e->d_name);
    closedir(d);
    FUZZ_CHECK(f->entry[0], "no entry made for %s", f->path);
}

/* The whole file at path into a new buffer. */
static char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    FUZZ_CHECK(fp != NULL, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    FUZZ_CHECK(b && fread(b, 1, (size_t)n, fp) == (size_t)n, "cannot read %s", path);
    fclose(fp);
    *len = (size_t)n;
    return b;
}

static void spill(const char *path, const char *b, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FUZZ_CHECK(fd >= 0, "cannot write %s", path);
    FUZZ_CHECK(write(fd, b, n) == (ssize_t)n, "short write to %s", path);
    close(fd);
}

/* At exit: the private cache folder and what is left in it. */
static void remove_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            char path[600];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    if (d)
        closedir(d);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    strcpy(dir, "/tmp/la-fuzz-cache.XXXXXX");
    FUZZ_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    atexit(remove_dir);
    setenv("LOOKAHEAD_CACHE_DIR", dir, 1);
    unsetenv("LOOKAHEAD_CACHE_MAX_MB");
    for (size_t i = 0; i < NTOK; i++) {
        fixture *f = &fix[i];
        la_err e = {{0}, {0}};
        snprintf(f->path, sizeof f->path, "%s/%s", fuzz_fixture_dir(), names[i]);
        la_tokenizer_use_cache(0);
        f->ref = la_tokenizer_load(f->path, &e);
        FUZZ_CHECK(f->ref != NULL, "%s: %s", f->path, e.msg);
        la_tokenizer_use_cache(1);
        la_tokenizer *t = la_tokenizer_load(f->path, &e);
        FUZZ_CHECK(t != NULL && !t->from_cache, "%s: %s", f->path, e.msg);
        la_tokenizer_free(t);
        find_entry(f);
        f->bytes = slurp(f->entry, &f->len);
        unlink(f->entry);
    }
    return 0;
}

/* 1 when a call failed with e because a merge of the entry at path did
 * not hold when looked up (its merges are checked at use): the entry
 * must be gone then, and every later call may fail alike. */
static int bad_merge(int rc, const la_err *e, const char *path)
{
    if (rc == LA_OK || strcmp(e->code, "bad_cache") != 0)
        return 0;
    FUZZ_CHECK(access(path, F_OK) != 0, "%s: a merge did not hold, the entry is still there", path);
    return 1;
}

/* Tokenizer t (from the edited entry at path) against the file's own on
 * every text: encodings and previews the same, or (vouched: an edit
 * changed what only the check vouches for) only sound; or failing on a
 * merge that does not hold, from then on. */
static void compare(const la_tokenizer *t, const la_tokenizer *ref, int vouched, const char *path)
{
    la_tok_work *w = la_tok_work_new();
    FUZZ_CHECK(w != NULL, "la_tok_work_new");
    uint32_t vocab = tk_bpe_vocab_size(t->model);
    for (size_t i = 0; i < NTEXT; i++) {
        size_t n = strlen(texts[i]);
        la_tokens a = {0}, b = {0};
        la_err e = {{0}, {0}}, f = {{0}, {0}};
        int ra = la_tokenizer_encode(t, w, texts[i], n, 0, &a, &e);
        int rb = la_tokenizer_encode(ref, w, texts[i], n, 0, &b, &f);
        FUZZ_CHECK(ra == LA_OK || e.msg[0], "encode failed without a reason");
        if (bad_merge(ra, &e, path)) {
            la_tokens_free(&a);
            la_tokens_free(&b);
            break;
        }
        for (size_t k = 0; ra == LA_OK && k < a.n; k++)
            FUZZ_CHECK(a.ids[k] < vocab, "id %u of a vocabulary of %u", a.ids[k], vocab);
        if (!vouched) {
            FUZZ_CHECK(ra == rb, "encode status %d, %d from the file", ra, rb);
            FUZZ_CHECK(ra != LA_OK || (a.n == b.n && (a.n == 0 || !memcmp(a.ids, b.ids, a.n * sizeof *a.ids))),
                       "text %zu: %zu ids, %zu from the file", i, a.n, b.n);
        }
        la_tokens_free(&a);
        la_tokens_free(&b);
        for (size_t m = 1; m <= 4; m++)
            for (int complete = 0; complete < 2; complete++) {
                la_buf pa = {0}, pb = {0};
                ra = la_tokenizer_preview(t, w, texts[i], n, m, complete, &pa, NULL, &e);
                rb = la_tokenizer_preview(ref, w, texts[i], n, m, complete, &pb, NULL, &f);
                FUZZ_CHECK(ra == LA_OK || e.msg[0], "preview failed without a reason");
                if (!vouched && !bad_merge(ra, &e, path))
                    FUZZ_CHECK(ra == rb && (ra != LA_OK || (pa.len == pb.len &&
                                                            (pa.len == 0 || !memcmp(pa.data, pb.data, pa.len)))),
                               "text %zu, m %zu: preview \"%.*s\", \"%.*s\" from the file", i, m, (int)pa.len,
                               pa.data ? pa.data : "", (int)pb.len, pb.data ? pb.data : "");
                la_buf_free(&pa);
                la_buf_free(&pb);
            }
    }
    la_tok_work_free(w);
}

/* Applies the input's edits to entry b (of f's length): 1 when a changed
 * byte is one only the check vouches for (the results may then differ
 * from the file's), 0 when none is. */
static int apply_edits(const fixture *f, char *b, const uint8_t *d, size_t size)
{
    size_t table = f->len > ((size_t)1 << 20) + 4096 ? (size_t)1 << 20 : 0, i = 0;
    while (size - i >= 7) {
        unsigned region = d[i] % 4;
        size_t off = (size_t)d[i + 1] | (size_t)d[i + 2] << 8 | (size_t)d[i + 3] << 16 | (size_t)d[i + 4] << 24;
        size_t n = d[i + 5] % 17;
        i += 6;
        if (n > size - i)
            n = size - i;
        size_t from = region == 2 ? f->len - table : 0;
        size_t span = region == 0 ? 512 : region == 1 ? f->len - table : region == 2 ? table : f->len;
        if (span > f->len - from)
            span = f->len - from;
        if (span == 0)
            span = f->len, from = 0;
        off = from + off % span;
        for (size_t k = 0; k < n && off + k < f->len; k++)
            b[off + k] = (char)d[i + k];
        i += n;
    }
    /* one vouched byte changed is enough for the results to differ, even
     * when other edits touched bytes the checks must catch */
    int vouched = 0;
    for (size_t k = 0; k < f->len && !vouched; k++)
        if (b[k] != f->bytes[k] && tk_cache_vouched(f->bytes, f->len, k))
            vouched = 1;
    return vouched;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fixture *f = &fix[data[0] % NTOK];
    char *b = malloc(f->len);
    FUZZ_CHECK(b != NULL, "out of memory");
    memcpy(b, f->bytes, f->len);
    int vouched = apply_edits(f, b, data + 1, size - 1);
    tk_cache_reseal(b, f->len);
    spill(f->entry, b, f->len);
    free(b);
    la_err e = {{0}, {0}};
    la_tokenizer *t = la_tokenizer_load(f->path, &e);
    FUZZ_CHECK(t != NULL, "%s: %s", f->path, e.msg);
    if (t->from_cache) {
        compare(t, f->ref, vouched, f->entry);
    } else {
        /* refused: removed, and a good entry made in its place */
        size_t len;
        char *now = slurp(f->entry, &len);
        FUZZ_CHECK(len == f->len && !memcmp(now, f->bytes, len), "the refused entry was not made again");
        free(now);
    }
    la_tokenizer_free(t);
    unlink(f->entry);
    return 0;
}
