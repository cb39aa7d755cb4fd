/* test_tok_cache.c - the tokenizer cache: a second load of the same file
 * comes from the cache and tokenizes exactly as the file does, for every
 * kind of model the fixtures have; entries that are damaged, cut short,
 * of another file or of a changed file are never used (and are made
 * again); a file that fails to load leaves no entry; an empty
 * LOOKAHEAD_CACHE_DIR turns the cache off. */
#define _GNU_SOURCE
#include "check_run.h"
#include "tokenizer/tk.h"
#include "tokenizer/tk_test.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#define FIX "tests/fixtures/tok/"

static char dir[64];

/* A fresh cache folder for each test. */
static void setup(void)
{
    strcpy(dir, "/tmp/la-cache-test.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    setenv("LOOKAHEAD_CACHE_DIR", dir, 1);
    la_tokenizer_use_cache(1);
}

static void teardown(void)
{
    tk_cache_id_margin(2);
    tk_cache_ok_margin(2);
    tk_cache_set_network(-1);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    la_tokenizer_use_cache(0);
    tk_bpe_image_threaded_from(TK_IMAGE_THREADED);
}

/* The entries in the cache folder: how many, and the path of the last. */
static int entries(char *last, size_t n) { return la_check_files(dir, last, n); }

static la_tokenizer *load(const char *path, int want_cached)
{
    la_err err = {{0}, {0}};
    la_tokenizer *t = la_tokenizer_load(path, &err);
    ck_assert_msg(t != NULL, "%s: %s", path, err.msg);
    ck_assert_msg(t->from_cache == want_cached, "%s: from_cache %d", path, t->from_cache);
    return t;
}

static const char *const texts[] = {
    "", "the cat", " the  hat\tand\n<s>the cat</s>", "\xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80 caf\xC3\xA9" "!",
    "\xE2\x96\x81\xE2\x96\x81" "at <unk> 123 <|end|> THE HAT", "attatt at tat ta a t", "'s 's 're",
};

/* a failed with err: allowed (1) when bad_damaged says a merge of a's
 * cache entry may not hold, the error says so and the entry is gone. */
static int failed_on_bad_merge(int bad_damaged, const la_err *err)
{
    ck_assert_msg(bad_damaged && strcmp(err->code, "bad_cache") == 0, "%s: %s", err->code, err->msg);
    ck_assert_int_eq(entries(NULL, 0), 0);
    return 1;
}

/* Two tokenizers agree on ids, strings and previews of every text; or,
 * with may_fail, a fails a text on a merge of its cache entry that does
 * not hold (then 1). */
static int agree_unless_bad(la_tokenizer *a, la_tokenizer *b, int may_fail)
{
    la_tok_work *w = la_tok_work_new();
    int bad = 0;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0] && !bad; i++) {
        la_err err;
        la_tokens ta = {0}, tb = {0};
        size_t n = strlen(texts[i]);
        if (la_tokenizer_encode(a, w, texts[i], n, 0, &ta, &err) != LA_OK) {
            bad = failed_on_bad_merge(may_fail, &err);
            la_tokens_free(&ta);
            break;
        }
        ck_assert_int_eq(la_tokenizer_encode(b, w, texts[i], n, 0, &tb, &err), LA_OK);
        ck_assert_uint_eq(ta.n, tb.n);
        for (size_t k = 0; k < ta.n; k++) {
            ck_assert_uint_eq(ta.ids[k], tb.ids[k]);
            ck_assert_uint_eq(tk_tokens_len(&ta, k), tk_tokens_len(&tb, k));
            ck_assert(memcmp(ta.strs.data + ta.str_off[k], tb.strs.data + tb.str_off[k], tk_tokens_len(&ta, k)) == 0);
        }
        for (size_t m = 1; m < 8 && !bad; m++) {
            la_buf pa = {0}, pb = {0};
            if (la_tokenizer_preview(a, w, texts[i], n, m, 1, &pa, NULL, &err) != LA_OK) {
                bad = failed_on_bad_merge(may_fail, &err);
            } else {
                ck_assert_int_eq(la_tokenizer_preview(b, w, texts[i], n, m, 1, &pb, NULL, &err), LA_OK);
                ck_assert(pa.len == pb.len && memcmp(pa.data ? pa.data : "", pb.data ? pb.data : "", pa.len) == 0);
            }
            la_buf_free(&pa);
            la_buf_free(&pb);
        }
        la_tokens_free(&ta);
        la_tokens_free(&tb);
    }
    la_tok_work_free(w);
    return bad;
}

static void same_tokenizers(la_tokenizer *a, la_tokenizer *b) { agree_unless_bad(a, b, 0); }

/* t (then freed) tokenizes as file loaded without the cache does. */
static void same_as_file(la_tokenizer *t, const char *file)
{
    la_tokenizer_use_cache(0);
    la_tokenizer *f = load(file, 0);
    la_tokenizer_use_cache(1);
    same_tokenizers(t, f);
    la_tokenizer_free(t);
    la_tokenizer_free(f);
}

static const char *const fixtures[] = {
    FIX "full_llama.json",    FIX "full_bytelevel.json",   FIX "full_bytelevel_removed.json",
    FIX "bpe_prefix.json",    FIX "bpe_ignore_merges.json", FIX "window_lower.json",
    FIX "full_llama_unk.json", FIX "added_flags.json",  FIX "full_llama_shared_id.json",
    FIX "bpe_wide_ids.json",
};
#define NFIX (sizeof fixtures / sizeof fixtures[0])

/* 1 when this kernel populates a mapping on request (MADV_POPULATE_READ,
 * Linux 5.14), which a cache entry's mapping needs unless forced. */
static int kernel_populates(void)
{
#ifdef MADV_POPULATE_READ
    long pg = sysconf(_SC_PAGESIZE);
    void *p = mmap(NULL, (size_t)pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int ok = p != MAP_FAILED && madvise(p, (size_t)pg, MADV_POPULATE_READ) == 0;
    if (p != MAP_FAILED)
        munmap(p, (size_t)pg);
    return ok;
#else
    return 0;
#endif
}

/* Each fixture three times from its entry: as a run has it (mapped from
 * its file, every page populated: the fixtures' entries are small, so
 * their pages are small in the page cache: such an entry was read
 * before), mapped without populating
 * (LOOKAHEAD_CACHE_MAP=always) and read into memory (never). A mapped
 * entry's model tables stay in it, its word table is copied; a mapping
 * is known by its address to la_tokenizer_cache_fault while it lives. */
START_TEST(second_load_from_cache)
{
    size_t i = (size_t)_i % NFIX, len;
    int way = (int)((size_t)_i / NFIX);   /* 0: as a run has it, 1: always, 2: never */
    int mapped = way == 1 || (way == 0 && kernel_populates());
    char path[1024];
    tk_bpe_image_threaded_from(_i % 2 ? 0 : TK_IMAGE_THREADED);  /* both ways of checking an image */
    la_tokenizer *a = load(fixtures[i], 0);
    ck_assert_int_eq(entries(path, sizeof path), 1);
    if (way)
        setenv("LOOKAHEAD_CACHE_MAP", way == 1 ? "always" : "never", 1);
    la_tokenizer *b = load(fixtures[i], 1);
    unsetenv("LOOKAHEAD_CACHE_MAP");
    const char *map = tk_bpe_map(b->model, &len);
    ck_assert_ptr_nonnull(map);
    ck_assert_int_eq(b->direct != NULL && tk_direct_in_entry(b), b->direct != NULL);
    if (mapped) {
        const char *at = la_tokenizer_cache_fault(map);
        ck_assert_msg(at && strcmp(at, path) == 0, "%s: mapped from %s", path, at ? at : "nothing");
        ck_assert_ptr_eq(la_tokenizer_cache_fault(map + len - 1), at);
        ck_assert_ptr_null(la_tokenizer_cache_fault(map + len));
    } else {
        ck_assert_ptr_null(la_tokenizer_cache_fault(map));
    }
    la_tokenizer_use_cache(0);
    la_tokenizer *c = load(fixtures[i], 0);
    la_tokenizer_use_cache(1);
    ck_assert_int_eq(b->direct != NULL, c->direct != NULL);
    ck_assert_int_eq(b->split_bytes, c->split_bytes);
    same_tokenizers(b, c);
    same_tokenizers(a, b);
    la_tokenizer_free(a);
    la_tokenizer_free(b);
    ck_assert_ptr_null(la_tokenizer_cache_fault(map));   /* unmapped with its model */
    la_tokenizer_free(c);
}
END_TEST

/* An entry on a network file system (as the test says, through
 * tk_cache_set_network) is read, never mapped: another machine may
 * remove or replace it while a run maps it. On a local one it is mapped
 * (where the kernel populates mappings); either way the model is the
 * file's. */
START_TEST(network_entries_are_read)
{
    size_t len;
    char path[1024];
    int network = _i == 0;
    la_tokenizer *a = load(FIX "full_bytelevel.json", 0);
    ck_assert_int_eq(entries(path, sizeof path), 1);
    tk_cache_set_network(network);
    la_tokenizer *b = load(FIX "full_bytelevel.json", 1);
    tk_cache_set_network(-1);
    const char *map = tk_bpe_map(b->model, &len);
    ck_assert_ptr_nonnull(map);
    if (network || !kernel_populates())
        ck_assert_msg(la_tokenizer_cache_fault(map) == NULL, "%s: mapped", path);
    else
        ck_assert_msg(la_tokenizer_cache_fault(map) != NULL, "%s: not mapped", path);
    same_tokenizers(a, b);
    la_tokenizer_free(a);
    la_tokenizer_free(b);
}
END_TEST

/* Overwrites the entry with its first n bytes, one byte changed at
 * flip (n: none cut; flip past n: none changed). */
static void damage(const char *path, long n, long flip)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len);
    ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    if (n < 0 || n > len)
        n = len;
    if (flip >= 0 && flip < n)
        buf[flip] ^= 0x20;
    f = fopen(path, "wb");
    ck_assert_uint_eq(fwrite(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    free(buf);
}

START_TEST(damaged_entries_are_not_used)
{
    char path[512];
    la_tokenizer_free(load(FIX "full_llama.json", 0));
    ck_assert_int_eq(entries(path, sizeof path), 1);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    long len = (long)st.st_size;
    /* a byte of the head, of the other members' text, of the tables, of
     * the word table (len - 3); cut short; empty */
    long flips[] = {2, 130, len / 2, len - 3, -1, -1};
    long cuts[] = {-1, -1, -1, -1, len - 8, 0};
    for (size_t i = 0; i < sizeof flips / sizeof flips[0]; i++) {
        damage(path, cuts[i], flips[i]);
        same_as_file(load(FIX "full_llama.json", 0), FIX "full_llama.json");   /* not from the damaged entry */
        la_tokenizer_free(load(FIX "full_llama.json", 1));  /* and it was made again */
    }
}
END_TEST

/* An entry that others may write (group or world write permission) is
 * not trusted: it is removed and made again, private. */
START_TEST(entries_others_may_write_are_not_used)
{
    char path[512];
    struct stat st;
    la_tokenizer_free(load(FIX "full_llama.json", 0));
    ck_assert_int_eq(entries(path, sizeof path), 1);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(chmod(path, i ? 0602 : 0620), 0);
        same_as_file(load(FIX "full_llama.json", 0), FIX "full_llama.json");
        ck_assert_int_eq(entries(path, sizeof path), 1);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(st.st_mode & 077, 0);
        la_tokenizer_free(load(FIX "full_llama.json", 1));
    }
}
END_TEST

/* Copies fixture src to dst. */
static void copy_file(const char *src, const char *dst)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", src, dst);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(changed_file_is_loaded_again)
{
    char file[128];
    snprintf(file, sizeof file, "%s/tokenizer.json", dir);
    copy_file(FIX "full_llama.json", file);
    la_tokenizer_free(load(file, 0));
    la_tokenizer_free(load(file, 1));
    char first[512], second[512], saved[600];
    ck_assert_int_eq(entries(first, sizeof first), 2);        /* tokenizer.json and its entry */
    snprintf(saved, sizeof saved, "%s.saved", first);
    copy_file(first, saved);
    /* the same path, other content: the other file's tokens */
    copy_file(FIX "full_bytelevel.json", file);
    la_tokenizer_free(load(file, 0));
    /* an entry under the new file's name that holds the old file's
     * tables (its head names the old file) is not used either */
    DIR *d = opendir(dir);
    struct dirent *e;
    second[0] = 0;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tok") && !strstr(e->d_name, ".saved") &&
            strcmp(strrchr(first, '/') + 1, e->d_name) != 0)
            snprintf(second, sizeof second, "%s/%s", dir, e->d_name);
    closedir(d);
    ck_assert_msg(second[0], "no entry for the changed file");
    copy_file(saved, second);
    same_as_file(load(file, 0), FIX "full_bytelevel.json");
    /* the same bytes, touched: the same entry (only the bytes count) */
    la_tokenizer_free(load(file, 1));
    struct timespec ts[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    ts[1].tv_sec = time(NULL) - 100;
    ts[1].tv_nsec = 0;
    ck_assert_int_eq(utimensat(AT_FDCWD, file, ts, 0), 0);
    la_tokenizer_free(load(file, 1));
}
END_TEST

/* An entry is keyed by the file's bytes, not by what the file system
 * says of it: a copy elsewhere (another inode, another path) uses the
 * same entry, and a file rewritten in place with other bytes of the
 * same size, its times set back to the old ones, does not. */
START_TEST(entry_follows_the_bytes)
{
    char a[128], b[128];
    snprintf(a, sizeof a, "%s/a.json", dir);
    snprintf(b, sizeof b, "%s/b.json", dir);
    copy_file(FIX "full_llama.json", a);
    la_tokenizer_free(load(a, 0));
    copy_file(FIX "full_llama.json", b);
    la_tokenizer_free(load(b, 1));
    /* full_llama_shared_id.json has full_llama.json's size, not its bytes */
    struct stat st, st2;
    ck_assert_int_eq(stat(a, &st), 0);
    ck_assert_int_eq(stat(FIX "full_llama_shared_id.json", &st2), 0);
    ck_assert_int_eq(st.st_size, st2.st_size);
    copy_file(FIX "full_llama_shared_id.json", a);
    struct timespec ts[2] = {st.st_atim, st.st_mtim};
    ck_assert_int_eq(utimensat(AT_FDCWD, a, ts, 0), 0);
    ck_assert_int_eq(stat(a, &st2), 0);
    ck_assert_int_eq(st2.st_ino, st.st_ino);
    ck_assert_int_eq(st2.st_mtim.tv_sec, st.st_mtim.tv_sec);
    same_as_file(load(a, 0), FIX "full_llama_shared_id.json");
}
END_TEST

/* Without a build id for the program (its code looked for where no
 * object is loaded) there is no cache: nothing is read or written. */
START_TEST(no_build_id_no_cache)
{
    la_tokenizer_free(load(FIX "full_llama.json", 0));
    ck_assert_int_eq(entries(NULL, 0), 1);
    int here = 0;
    tk_cache_build_anchor(&here);   /* the stack: in no loaded object */
    la_tokenizer_free(load(FIX "full_llama.json", 0));
    la_tokenizer_free(load(FIX "bpe_basic.json", 0));
    la_tokenizer_free(load(FIX "bpe_basic.json", 0));
    tk_cache_build_anchor(NULL);
    ck_assert_int_eq(entries(NULL, 0), 1);
    la_tokenizer_free(load(FIX "full_llama.json", 1));
}
END_TEST

/* LOOKAHEAD_CACHE_MAX_MB bounds every entry: one larger than it is not
 * kept, nor read (and removed) once the bound is lowered below it. */
START_TEST(entry_over_the_cap_is_not_kept)
{
    char path[512];
    setenv("LOOKAHEAD_CACHE_MAX_MB", "1", 1);
    la_tokenizer_free(load(FIX "full_llama.json", 0));   /* its word table alone is 1 MiB */
    ck_assert_int_eq(entries(NULL, 0), 0);
    la_tokenizer_free(load(FIX "full_llama.json", 0));
    unsetenv("LOOKAHEAD_CACHE_MAX_MB");
    la_tokenizer_free(load(FIX "full_llama.json", 0));
    ck_assert_int_eq(entries(path, sizeof path), 1);
    setenv("LOOKAHEAD_CACHE_MAX_MB", "1", 1);
    la_tokenizer_free(load(FIX "full_llama.json", 0));
    unsetenv("LOOKAHEAD_CACHE_MAX_MB");
    ck_assert_int_eq(entries(NULL, 0), 0);
}
END_TEST

START_TEST(failed_loads_leave_nothing)
{
    char file[128];
    snprintf(file, sizeof file, "%s/bad.json", dir);
    FILE *f = fopen(file, "w");
    fputs("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}}", f);
    fclose(f);
    for (int i = 0; i < 2; i++) {
        la_err err = {{0}, {0}};
        ck_assert_ptr_null(la_tokenizer_load(file, &err));
        ck_assert_msg(strstr(err.msg, "merge") != NULL, "%s", err.msg);
    }
    ck_assert_int_eq(entries(NULL, 0), 1);   /* bad.json alone */
}
END_TEST

START_TEST(empty_dir_turns_it_off)
{
    setenv("LOOKAHEAD_CACHE_DIR", "", 1);
    la_tokenizer_free(load(FIX "full_llama.json", 0));
    la_tokenizer_free(load(FIX "full_llama.json", 0));
    setenv("LOOKAHEAD_CACHE_DIR", dir, 1);
    ck_assert_int_eq(entries(NULL, 0), 0);
}
END_TEST

/* A file in the cache folder with the given size (sparse) and age. */
static void put_file(const char *name, off_t size, time_t age)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, size), 0);
    struct timespec ts[2] = {{time(NULL) - age, 0}, {time(NULL) - age, 0}};
    ck_assert_int_eq(futimens(fd, ts), 0);
    close(fd);
}

static int present(const char *name)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

/* The folder stays bounded: writing an entry removes the entries of the
 * same file's earlier versions, temporary files of writers dead for an
 * hour, and the least recently used entries past the budget
 * (LOOKAHEAD_CACHE_MAX_MB); a used entry counts as recent; files that
 * are not entries stay. */
START_TEST(folder_stays_bounded)
{
    char file[128];
    snprintf(file, sizeof file, "%s/tokenizer.json", dir);
    copy_file(FIX "full_llama.json", file);
    la_tokenizer_free(load(file, 0));
    ck_assert_int_eq(entries(NULL, 0), 2);
    /* changed in place (cp keeps the inode): the old entry goes (the new
     * one has no word table, which would not fit the budget below) */
    copy_file(FIX "window_plain.json", file);
    la_tokenizer_free(load(file, 0));
    ck_assert_int_eq(entries(NULL, 0), 2);
    la_tokenizer_free(load(file, 1));

    /* an old and a newer stand-in entry of 600 KB each, a dead and a live
     * writer's temporary files, a file of the user's */
    put_file("00000000000000aa-1.tok", 600 << 10, 3 * 3600);
    put_file("00000000000000bb-2.tok", 600 << 10, 2 * 3600);
    put_file("00000000000000cc-3.tok.77.tmp", 10, 2 * 3600);
    put_file("00000000000000dd-4.tok.78.tmp", 10, 0);
    put_file("notes.txt", 600 << 10, 5 * 3600);
    /* used two hours after it was made: its time is refreshed */
    char entry[512];
    DIR *d = opendir(dir);
    struct dirent *e;
    entry[0] = 0;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "00000000000000", 14) != 0 && strstr(e->d_name, ".tok"))
            snprintf(entry, sizeof entry, "%s/%s", dir, e->d_name);
    closedir(d);
    ck_assert(entry[0]);
    struct timespec old[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
    ck_assert_int_eq(utimensat(AT_FDCWD, entry, old, 0), 0);
    la_tokenizer_free(load(file, 1));
    struct stat st;
    ck_assert_int_eq(stat(entry, &st), 0);
    ck_assert_int_ge(st.st_mtim.tv_sec, time(NULL) - 60);

    /* a new entry with 1 MB allowed: the oldest stand-in goes, and the
     * dead writer's file; the rest stays */
    setenv("LOOKAHEAD_CACHE_MAX_MB", "1", 1);
    la_tokenizer_free(load(FIX "bpe_prefix.json", 0));
    ck_assert(!present("00000000000000aa-1.tok"));
    ck_assert(present("00000000000000bb-2.tok"));
    ck_assert(!present("00000000000000cc-3.tok.77.tmp"));
    ck_assert(present("00000000000000dd-4.tok.78.tmp"));
    ck_assert(present("notes.txt"));
    ck_assert_int_eq(stat(entry, &st), 0);
    la_tokenizer_free(load(FIX "bpe_prefix.json", 1));
    la_tokenizer_free(load(file, 1));

    /* nothing allowed: a new entry is not kept, and the others go */
    setenv("LOOKAHEAD_CACHE_MAX_MB", "0", 1);
    la_tokenizer_free(load(FIX "window_lower.json", 0));
    ck_assert(!present("00000000000000bb-2.tok"));
    ck_assert_int_ne(stat(entry, &st), 0);
    la_tokenizer_free(load(FIX "window_lower.json", 0));
    la_tokenizer_free(load(file, 0));
    unsetenv("LOOKAHEAD_CACHE_MAX_MB");
    la_tokenizer_free(load(file, 0));   /* its entry was removed: made again */
    /* tokenizer.json, notes.txt, the live writer's file and file's entry */
    ck_assert_int_eq(entries(NULL, 0), 4);
}
END_TEST

/* The entry's check: plain C, SSE2 and AVX2 (where the processor has
 * it) give one value for every length, and any changed byte changes it. */
START_TEST(check_same_on_every_path)
{
    char buf[1024];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (char)(x >> 16);
    }
    for (size_t n = 0; n <= 200; n += 8) {
        uint64_t plain = tk_cache_check(buf, n, 0);
        ck_assert_uint_eq(tk_cache_check(buf, n, 1), plain);
        ck_assert_uint_eq(tk_cache_check(buf, n, 2), plain);
        ck_assert_uint_eq(tk_cache_check(buf, n, -1), plain);
        for (size_t i = 0; i < n; i += 7) {
            buf[i] ^= 0x01;
            ck_assert_uint_ne(tk_cache_check(buf, n, -1), plain);
            ck_assert_uint_ne(tk_cache_check(buf, n, 0), plain);
            buf[i] ^= 0x01;
        }
    }
    /* lengths differ: the same zero bytes do not check alike */
    memset(buf, 0, sizeof buf);
    ck_assert_uint_ne(tk_cache_check(buf, 64, -1), tk_cache_check(buf, 72, -1));
}
END_TEST

/* An entry keeps the vocabulary's words for direct previews: a load from
 * it knows "the" and "cat" (tokens "\u2581the", "\u2581cat") before any
 * text, from the table in the entry's own memory, a load of the file
 * without the cache does not, and previews of all, and of the one that
 * made the entry, agree; two loads of one entry have tables of their
 * own. */
START_TEST(entry_keeps_vocabulary_words)
{
    la_tokenizer *a = load(FIX "full_llama.json", 0);
    la_tokenizer *b = load(FIX "full_llama.json", 1);
    la_tokenizer_use_cache(0);
    la_tokenizer *c = load(FIX "full_llama.json", 0);
    la_tokenizer_use_cache(1);
    ck_assert(b->direct && c->direct);
    ck_assert_int_eq(tk_direct_kept(a, "the"), 1);
    ck_assert_int_eq(tk_direct_kept(b, "the"), 1);
    ck_assert_int_eq(tk_direct_kept(b, "cat"), 1);
    ck_assert_int_eq(tk_direct_kept(b, "hat"), 1);
    ck_assert_int_eq(tk_direct_kept(b, "tac"), 0);   /* no token "\u2581tac" */
    ck_assert_int_eq(tk_direct_kept(c, "the"), 0);
    same_tokenizers(b, c);
    same_tokenizers(a, c);
    ck_assert(tk_direct_in_entry(b) && !tk_direct_in_entry(a) && !tk_direct_in_entry(c));
    la_tokenizer *d = load(FIX "full_llama.json", 1);
    ck_assert(tk_direct_in_entry(d));
    size_t dl, bl;
    ck_assert_ptr_ne(tk_direct_table(d, &dl), tk_direct_table(b, &bl));
    tk_direct_clear(b);
    ck_assert_int_eq(tk_direct_kept(b, "the"), 0);
    ck_assert_int_eq(tk_direct_kept(d, "the"), 1);   /* b's table was b's alone */
    same_tokenizers(d, c);
    la_tokenizer_free(a);
    la_tokenizer_free(b);
    la_tokenizer_free(c);
    la_tokenizer_free(d);
}
END_TEST

/* A cache folder that cannot be made: no entry, and no time spent on the
 * vocabulary's words for one (the word table stays empty). */
START_TEST(unwritable_folder_skips_vocabulary_words)
{
    char file[128], sub[160];
    snprintf(file, sizeof file, "%s/not-a-folder", dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    snprintf(sub, sizeof sub, "%s/cache", file);
    setenv("LOOKAHEAD_CACHE_DIR", sub, 1);
    la_tokenizer *t = load(FIX "full_llama.json", 0);
    ck_assert(t->direct);
    ck_assert_int_eq(tk_direct_kept(t, "the"), 0);
    la_tokenizer_free(t);
    ck_assert_int_eq(entries(NULL, 0), 1);   /* not-a-folder alone */
    setenv("LOOKAHEAD_CACHE_DIR", dir, 1);
}
END_TEST

static void spill(const char *path, const char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

/* Every id of every text below the vocabulary's size, or an added
 * token's (one the vocabulary lacks has the next id). */
static void ids_in_range(la_tokenizer *t)
{
    la_tok_work *w = la_tok_work_new();
    uint32_t vocab = tk_bpe_vocab_size(t->model);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        la_err err;
        la_tokens a = {0};
        if (la_tokenizer_encode(t, w, texts[i], strlen(texts[i]), 0, &a, &err) == LA_OK)
            for (size_t k = 0; k < a.n; k++)
                ck_assert_msg(a.ids[k] < vocab || tk_added_by_id(t->added, a.ids[k]), "id %u of %u", a.ids[k], vocab);
        la_tokens_free(&a);
    }
    la_tok_work_free(w);
}

/* Makes file's cache entry (its path into path) and returns the
 * tokenizer loaded from the file itself, to compare with. */
static la_tokenizer *entry_and_reference(const char *file, char *path, size_t cap)
{
    la_tokenizer_free(load(file, 0));
    ck_assert_int_eq(entries(path, cap), 1);
    la_tokenizer_use_cache(0);
    la_tokenizer *ref = load(file, 0);
    la_tokenizer_use_cache(1);
    return ref;
}

/* Entries changed one byte at a time, their check made right again (as
 * a crafted entry's would be), all through the head, the other members'
 * text and the model's tables, and in the word table: each is refused
 * (then removed and made again as it was) or, taken, tokenizes as the
 * file does or fails on the first merge looked up that does not hold
 * (bad_cache, the entry then removed), unless the byte is one only the
 * check vouches for (a merge rank, say: tk_cache_vouched), when its ids
 * stay in range. Refused or taken, no load crashes or reads outside the
 * entry. */
START_TEST(resealed_entries_are_checked)
{
    static const char *const files[] = { FIX "full_llama.json", FIX "bpe_wide_ids.json", FIX "bpe_prefix.json",
                                         FIX "full_llama_shared_id.json" };
    const char *file = files[_i];
    char path[512];
    tk_bpe_image_threaded_from(_i % 2 ? 0 : TK_IMAGE_THREADED);  /* both ways of checking an image */
    la_tokenizer *ref = entry_and_reference(file, path, sizeof path);
    size_t len;
    char *orig = la_check_slurp(path, &len), *b = malloc(len);
    ck_assert_ptr_nonnull(b);
    /* the word table, when there is one, is the entry's last MiB */
    size_t table = len > ((size_t)1 << 20) + 4096 ? (size_t)1 << 20 : 0, core = len - table;
    size_t step = core / 300 + 1;
    int taken = 0, refused = 0;
    for (size_t k = 0; k < 300 + 80; k++) {
        size_t at = k < 300 ? (k * step + k % 7) % core : core + (table ? (k * 104729) % table : 0);
        if (at >= len)
            continue;
        memcpy(b, orig, len);
        b[at] ^= (char)(1u << (k % 8));
        ck_assert(tk_cache_reseal(b, len));
        spill(path, b, len);
        la_err err = {{0}, {0}};
        la_tokenizer *t = la_tokenizer_load(file, &err);
        ck_assert_msg(t != NULL, "%s, byte %zu: %s", file, at, err.msg);
        if (t->from_cache) {
            taken++;
            ids_in_range(t);
            if (!tk_cache_vouched(orig, len, at))
                agree_unless_bad(t, ref, 1);
        } else {
            refused++;
            size_t now_len;
            char *now = la_check_slurp(path, &now_len);
            ck_assert_msg(now_len == len && memcmp(now, orig, len) == 0, "byte %zu: not made again", at);
            free(now);
        }
        la_tokenizer_free(t);
    }
    ck_assert_int_gt(refused, 0);
    ck_assert_int_gt(taken, 0);
    /* the word table's kept words (ways of 32 bytes: key, klen at 16,
     * ntok at 17, flags, whole at 19, ends): told no token ends on a
     * whole character, more tokens than a way holds, another length:
     * each refused */
    for (size_t way = 0, hits = 0; table && way < table / 32 && hits < 40; way++) {
        size_t at = core + way * 32;
        if (!orig[at + 16] || !orig[at + 17])
            continue;
        hits++;
        for (int how = 0; how < 3; how++) {
            memcpy(b, orig, len);
            if (how == 0)
                b[at + 19] = 0;
            else if (how == 1)
                b[at + 17] = 9;
            else
                b[at + 16] ^= 0x40;
            ck_assert(tk_cache_reseal(b, len));
            spill(path, b, len);
            la_tokenizer *t = load(file, 0);
            la_tokenizer_free(t);
        }
    }
    free(orig);
    free(b);
    la_tokenizer_free(ref);
}
END_TEST

/* One load of file with entry b[0..len) (resealed and put at path):
 * refused (the entry then made again as orig was) or taken, when its ids
 * stay in range, and it tokenizes as ref does (or fails on a merge that
 * does not hold) unless byte at is one only the check vouches for. 1
 * when taken. */
static int load_resealed(const char *file, const char *path, char *b, const char *orig, size_t len, size_t at,
                         la_tokenizer *ref)
{
    ck_assert(tk_cache_reseal(b, len));
    spill(path, b, len);
    la_err err = {{0}, {0}};
    la_tokenizer *t = la_tokenizer_load(file, &err);
    ck_assert_msg(t != NULL, "%s, byte %zu: %s", file, at, err.msg);
    int taken = t->from_cache;
    if (taken) {
        ids_in_range(t);
        if (!tk_cache_vouched(orig, len, at))
            agree_unless_bad(t, ref, 1);
    } else {
        size_t now_len;
        char *now = la_check_slurp(path, &now_len);
        ck_assert_msg(now_len == len && memcmp(now, orig, len) == 0, "byte %zu: not made again", at);
        free(now);
    }
    la_tokenizer_free(t);
    return taken;
}

/* The added tokens kept in an entry as read (no JSON): every byte of
 * them changed, resealed, is refused or tokenizes as the file does
 * unless only the check vouches for it (a content's bytes, flags);
 * a record's content moved or made longer or shorter, a content with a
 * NUL or not in UTF-8, unknown flags: each refused. */
START_TEST(resealed_added_tokens_are_checked)
{
    static const char *const files[] = { FIX "added_flags.json", FIX "full_llama.json",
                                         FIX "full_llama_norm_added.json" };
    const char *file = files[_i];
    char path[512];
    la_tokenizer *ref = entry_and_reference(file, path, sizeof path);
    size_t len, off, n;
    char *orig = la_check_slurp(path, &len), *b = malloc(len);
    ck_assert_ptr_nonnull(b);
    ck_assert(tk_cache_added_part(orig, len, &off, &n));
    uint64_t count;
    memcpy(&count, orig + off, sizeof count);
    ck_assert_uint_gt(count, 0);
    ck_assert_uint_gt(n, 8 + 12 * count);   /* count, records of 12 bytes, contents */
    int taken = 0, refused = 0;
    for (size_t k = 0; k < n; k++)
        for (int bit = 0; bit < 8; bit += 5) {
            memcpy(b, orig, len);
            b[off + k] ^= (char)(1u << bit);
            if (load_resealed(file, path, b, orig, len, off + k, ref))
                taken++;
            else
                refused++;
        }
    ck_assert_int_gt(taken, 0);
    ck_assert_int_gt(refused, 0);
    /* a record: where its content starts, its length, its flags (u32
     * each); the contents after the last record */
    size_t text = off + 8 + 12 * (size_t)count;
    for (size_t r = 0; r < count; r++) {
        size_t rec = off + 8 + 12 * r;
        uint32_t v[3];
        memcpy(v, orig + rec, sizeof v);
        for (int how = 0; how < 6; how++) {
            memcpy(b, orig, len);
            uint32_t w[3] = { v[0], v[1], v[2] };
            if (how == 0)
                w[0] += 1;                  /* content moved */
            else if (how == 1)
                w[1] += 1;                  /* longer */
            else if (how == 2 && v[1] > 0)
                w[1] -= 1;                  /* shorter */
            else if (how == 3)
                w[2] = 32;                  /* unknown flag */
            memcpy(b + rec, w, sizeof w);
            if (how == 4 && v[1] > 0)
                b[text + v[0]] = 0;         /* a NUL in the content */
            if (how == 5 && v[1] > 0)
                b[text + v[0]] = (char)0xC0;   /* not UTF-8 */
            if (memcmp(b, orig, len) == 0)
                continue;
            ck_assert_msg(!load_resealed(file, path, b, orig, len, rec, ref), "%s: record %zu, change %d taken",
                          file, r, how);
        }
    }
    free(orig);
    free(b);
    la_tokenizer_free(ref);
}
END_TEST

/* A sink that keeps nothing. */
static int drop_ids(tk_sink *s, const uint32_t *ids, size_t n)
{
    (void)s, (void)ids, (void)n;
    return 0;
}

/* The model of t tokenizing the piece made of the strings of tokens a
 * and b (as ref's model has them): its status, err set on error. */
static int tokenize_pair(const la_tokenizer *t, const la_tokenizer *ref, uint32_t a, uint32_t b, la_err *err)
{
    size_t la, lb;
    const char *sa = tk_bpe_id_to_token(ref->model, a, &la), *sb = tk_bpe_id_to_token(ref->model, b, &lb);
    ck_assert(sa && sb);
    char piece[256];
    ck_assert_uint_lt(la + lb, sizeof piece);
    memcpy(piece, sa, la);
    memcpy(piece + la, sb, lb);
    la_tok_work *w = la_tok_work_new();
    tk_sink sink = { drop_ids, NULL };
    int rc = tk_bpe_tokenize(t->model, piece, la + lb, &sink, w, err);
    la_tok_work_free(w);
    return rc;
}

/* Every merge's result changed to another id, resealed: the entry is
 * taken (its merges are checked when first looked up), and the word that
 * looks that merge up fails with bad_cache naming the entry, which is
 * removed then, so that the next load parses the file and makes it
 * again. From a merge table and from a compact one. */
START_TEST(merge_results_are_checked)
{
    static const char *const files[] = { FIX "full_llama.json", FIX "bpe_wide_ids.json" };
    const char *file = files[_i];
    char path[512];
    la_tokenizer *ref = entry_and_reference(file, path, sizeof path);
    size_t len, off, n, at[4096];
    uint32_t pair[4096][2];
    char *orig = la_check_slurp(path, &len), *b = malloc(len);
    ck_assert_ptr_nonnull(b);
    ck_assert(tk_cache_image_part(orig, len, &off, &n));
    size_t merges = tk_bpe_image_results(orig + off, n, at, pair, sizeof at / sizeof at[0]);
    ck_assert_uint_ge(merges, 4);
    ck_assert_uint_le(merges, sizeof at / sizeof at[0]);
    for (size_t k = 0; k < merges; k++) {
        memcpy(b, orig, len);
        b[off + at[k]] ^= 1;
        ck_assert(tk_cache_reseal(b, len));
        spill(path, b, len);
        la_tokenizer *t = load(file, 1);
        ck_assert_int_eq(entries(NULL, 0), 1);
        la_err err = {{0}, {0}};
        size_t other = (k + 1) % merges;
        int rc = tokenize_pair(t, ref, pair[k][0], pair[k][1], &err);
        ck_assert_msg(rc < 0, "%s: merge %zu of %zu (%u, %u) used", file, k, merges, pair[k][0], pair[k][1]);
        ck_assert_str_eq(err.code, "bad_cache");
        ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, "removed"), "%s", err.msg);
        ck_assert_int_eq(entries(NULL, 0), 0);
        /* once bad, every word that runs the merges fails alike */
        ck_assert_int_lt(tokenize_pair(t, ref, pair[other][0], pair[other][1], &err), 0);
        la_tokenizer_free(t);
        la_tokenizer_free(load(file, 0));
        size_t now_len;
        char *now = la_check_slurp(path, &now_len);
        ck_assert(now_len == len && memcmp(now, orig, len) == 0);
        free(now);
    }
    free(orig);
    free(b);
    la_tokenizer_free(ref);
}
END_TEST

/* A damaged merge met when the entry's file cannot be removed (here a
 * folder took its name after the load): the error says so, and how to get
 * past it, instead of claiming the file went. */
START_TEST(unremovable_bad_entry_is_named)
{
    const char *file = FIX "full_llama.json";
    char path[512];
    la_tokenizer *ref = entry_and_reference(file, path, sizeof path);
    size_t len, off, n, at[4096];
    uint32_t pair[4096][2];
    char *b = la_check_slurp(path, &len);
    ck_assert(tk_cache_image_part(b, len, &off, &n));
    ck_assert_uint_gt(tk_bpe_image_results(b + off, n, at, pair, sizeof at / sizeof at[0]), 0);
    b[off + at[0]] ^= 1;
    ck_assert(tk_cache_reseal(b, len));
    spill(path, b, len);
    la_tokenizer *t = load(file, 1);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    la_err err = {{0}, {0}};
    ck_assert_int_lt(tokenize_pair(t, ref, pair[0][0], pair[0][1], &err), 0);
    ck_assert_str_eq(err.code, "bad_cache");
    ck_assert_msg(strstr(err.msg, path) && strstr(err.msg, "could not be removed") && strstr(err.msg, "--no-cache") &&
                      !strstr(err.msg, "it was removed"),
                  "%s", err.msg);
    ck_assert_int_eq(rmdir(path), 0);
    la_tokenizer_free(t);
    la_tokenizer_free(ref);
    free(b);
}
END_TEST

/* Every slot of the vocabulary's hash table changed, resealed: an empty
 * one naming an entry (one more slot taken than there are entries), a
 * taken one naming no entry: each refused, with the slots checked on one
 * thread or in two halves on two. A taken one with another tag is
 * refused when an id kept beside the vocabulary is no longer found
 * through it, else taken (only the entry's check vouches for where an
 * entry is found; a lookup that passes the slot by finds no token
 * there), its ids in range. */
START_TEST(vocabulary_slots_are_checked)
{
    static const char *const files[] = { FIX "full_llama.json", FIX "bpe_wide_ids.json" };
    const char *file = files[_i / 2];
    char path[512];
    tk_bpe_image_threaded_from(_i % 2 ? 0 : UINT32_MAX);
    la_tokenizer *ref = entry_and_reference(file, path, sizeof path);
    size_t len, off, n, at;
    char *orig = la_check_slurp(path, &len), *b = malloc(len);
    ck_assert_ptr_nonnull(b);
    ck_assert(tk_cache_image_part(orig, len, &off, &n));
    size_t slots = tk_bpe_image_slots(orig + off, n, &at);
    ck_assert_uint_gt(slots, 0);
    int empty = 0, taken = 0, retaken = 0;
    for (size_t k = 0; k < slots; k++)
        for (int how = 0; how < 2; how++) {
            uint32_t sl[2];
            int retagged = 0;
            memcpy(b, orig, len);
            char *p = b + off + at + k * sizeof sl;
            memcpy(sl, p, sizeof sl);
            if (!sl[1]) {
                if (how)
                    continue;
                sl[1] = 1 + (uint32_t)(k % 8);   /* entries 1 to 8 */
                empty++;
            } else if (how == 0) {
                sl[0] ^= 1u << (k % 32);
                taken++;
                retagged = 1;
            } else {
                sl[1] = 0x7FFFFFFF;
            }
            memcpy(p, sl, sizeof sl);
            if (retagged) {
                retaken += load_resealed(file, path, b, orig, len, off + at + k * sizeof sl, ref);
                continue;
            }
            ck_assert(tk_cache_reseal(b, len));
            spill(path, b, len);
            la_tokenizer_free(load(file, 0));
        }
    ck_assert_int_gt(empty, 0);
    ck_assert_int_gt(taken, 0);
    ck_assert_int_gt(retaken, 0);
    la_tokenizer_free(ref);
    free(orig);
    free(b);
}
END_TEST

/* The resident bytes of the mapping that holds p (/proc/self/smaps),
 * 0 when not found. */
static size_t mapping_rss(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int in = 0;
    size_t rss = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char c;
        if (sscanf(line, "%lx-%lx %c", &lo, &hi, &c) == 3 && strchr(line, '-') < strchr(line, ' ')) {
            in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
            continue;
        }
        unsigned long kb;
        if (in && sscanf(line, "Rss: %lu kB", &kb) == 1) {
            rss = (size_t)kb << 10;
            break;
        }
    }
    fclose(f);
    return rss;
}

/* The model's tables (tk_table_alloc): zeroed, on 64 bytes, below and
 * from the huge-page size alike; growing keeps the bytes there were and
 * zeroes the new ones, across that size in both directions. From that
 * size a table starts a huge page, and one of a power of two of bytes
 * (a hash table), filled, holds no more memory than its bytes and one
 * small page (the header once took a huge page more). */
START_TEST(tables_zeroed_and_grown)
{
    const size_t sizes[] = { 0, 1, 100, 4096, TK_TABLE_HUGE - 1, TK_TABLE_HUGE, 3 * TK_TABLE_HUGE + 5 };
    const size_t ns = sizeof sizes / sizeof sizes[0];
    for (size_t i = 0; i < ns; i++)
        for (size_t j = 0; j < ns; j++) {
            unsigned char *p = tk_table_alloc(sizes[i]);
            ck_assert_ptr_nonnull(p);
            ck_assert_uint_eq((uintptr_t)p % 64, 0);
            size_t bad = SIZE_MAX;
            for (size_t k = 0; k < sizes[i]; k++) {
                if (p[k] != 0 && bad == SIZE_MAX)
                    bad = k;
                p[k] = (unsigned char)(k * 7 + 1);
            }
            ck_assert_msg(bad == SIZE_MAX, "size %zu: byte %zu not zero", sizes[i], bad);
            unsigned char *q = tk_table_grow(p, sizes[i], sizes[j]);
            ck_assert_ptr_nonnull(q);
            ck_assert_uint_eq((uintptr_t)q % 64, 0);
            for (size_t k = 0; k < sizes[j] && bad == SIZE_MAX; k++)
                if (q[k] != (k < sizes[i] ? (unsigned char)(k * 7 + 1) : 0))
                    bad = k;
            ck_assert_msg(bad == SIZE_MAX, "%zu to %zu bytes: byte %zu wrong", sizes[i], sizes[j], bad);
            tk_table_free(q);
        }
    tk_table_free(NULL);
    for (size_t n = TK_TABLE_HUGE; n <= 4 * TK_HUGE_PAGE; n *= 2) {
        unsigned char *p = tk_table_alloc(n);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % TK_HUGE_PAGE, 0);
        memset(p, 1, n);
        size_t rss = mapping_rss(p), pg = (size_t)sysconf(_SC_PAGESIZE);
        size_t whole = (n + TK_HUGE_PAGE - 1) & ~(TK_HUGE_PAGE - 1);
        ck_assert_msg(rss >= n && rss <= whole + pg, "%zu bytes: %zu resident", n, rss);
        tk_table_free(p);
    }
}
END_TEST

/* The key of a file read through a buffer (a run that finds its entry)
 * is the key of its bytes read whole (the run that made the entry), at
 * every size around the buffer's and around the size from which two
 * halves are hashed (on two threads from the file); a file shorter than
 * asked has none. */
START_TEST(key_of_fd_is_key_of_bytes)
{
    const size_t sizes[] = { 0, 1, 63, 4096, (256 << 10) - 1, 256 << 10, (256 << 10) + 1, (3 << 20) + 17,
                             TK_KEY_SPLIT - 1, TK_KEY_SPLIT, TK_KEY_SPLIT + 1, TK_KEY_SPLIT + (3 << 20) + 17 };
    size_t most = sizes[sizeof sizes / sizeof sizes[0] - 1];
    char *data = malloc(most), path[128];
    ck_assert_ptr_nonnull(data);
    for (size_t k = 0; k < most; k++)
        data[k] = (char)(k * 2654435761u >> 13);
    snprintf(path, sizeof path, "%s/bytes", dir);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(data, 1, sizes[i], f), sizes[i]);
        fclose(f);
        int fd = open(path, O_RDONLY);
        ck_assert_int_ge(fd, 0);
        tk_cache_key a, b;
        memset(&b, 0x5a, sizeof b);
        tk_cache_key_of(data, sizes[i], &a);
        ck_assert_int_eq(tk_cache_key_of_fd(fd, sizes[i], &b), LA_OK);
        ck_assert_msg(memcmp(&a, &b, sizeof a) == 0, "size %zu: keys differ", sizes[i]);
        ck_assert_int_eq(tk_cache_key_of_fd(fd, sizes[i] + 1, &b), LA_EIO);
        close(fd);
    }
    unlink(path);
    free(data);
}
END_TEST

/* ---- identity records: a hit that does not read the file ---- */

/* The identity records in the cache folder: how many, and the path of
 * the last (when last is not NULL). */
static int records(char *last, size_t n)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && la_check_ends(e->d_name, ".id")) {
            count++;
            if (last)
                snprintf(last, n, "%s/%s", dir, e->d_name);
        }
    closedir(d);
    return count;
}

/* Loads file as load does (from the cache or not, want_cached), then
 * checks that it read the file's bytes exactly `reads` times, and that
 * it tokenizes as the file does without the cache. */
static void load_reading(const char *file, int want_cached, unsigned long reads)
{
    unsigned long before = tk_load_file_reads();
    la_tokenizer *t = load(file, want_cached);
    ck_assert_msg(tk_load_file_reads() - before == reads, "%s: read %lu times, not %lu", file,
                  tk_load_file_reads() - before, reads);
    same_as_file(t, file);
}

/* A copy of fixture src at dir/name (path into out), recorded from its
 * first load on (tk_cache_id_margin below 0: a file made just now counts
 * as settled). */
static void fresh_copy(const char *src, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", dir, name);
    copy_file(src, out);
    tk_cache_id_margin(-60);
}

/* A fixture checked in long ago (its times well before the load, by the
 * real margin) is hashed once: its second load, from its record, reads
 * no byte of it, and tokenizes as the file does. */
START_TEST(record_spares_reading_the_file)
{
    const char *file = FIX "full_llama.json";
    struct stat st;
    ck_assert_int_eq(stat(file, &st), 0);
    while (st.st_ctim.tv_sec + 3 > time(NULL) || st.st_mtim.tv_sec + 3 > time(NULL))
        sleep(1);                 /* a checkout made just now: wait for it to settle */
    load_reading(file, 0, 2);     /* hashed, then read to be parsed */
    ck_assert_int_eq(records(NULL, 0), 1);
    ck_assert_int_eq(entries(NULL, 0), 1);
    load_reading(file, 1, 0);
    load_reading(file, 1, 0);
    ck_assert_int_eq(records(NULL, 0), 1);
    /* without an entry, the record is dropped and the file hashed again */
    char entry[512];
    ck_assert_int_eq(entries(entry, sizeof entry), 1);
    ck_assert_int_eq(unlink(entry), 0);
    load_reading(file, 0, 2);
    load_reading(file, 1, 0);
}
END_TEST

/* A file changed within the margin before its load is hashed at every
 * load and no record is written; once its times are old enough (the
 * margin lowered), the next load records it. */
START_TEST(racy_file_is_not_recorded)
{
    char file[128];
    snprintf(file, sizeof file, "%s/tokenizer.json", dir);
    copy_file(FIX "full_llama.json", file);
    load_reading(file, 0, 2);
    load_reading(file, 1, 1);
    ck_assert_int_eq(records(NULL, 0), 0);
    tk_cache_id_margin(-60);
    load_reading(file, 1, 1);
    ck_assert_int_eq(records(NULL, 0), 1);
    load_reading(file, 1, 0);
}
END_TEST

/* The rule itself: times at least the margin before began and the file
 * unchanged once read; each field of the identity changed after the
 * read, or a time within the margin, says no. */
START_TEST(settled_needs_old_times_and_no_change)
{
    struct stat a, b;
    memset(&a, 0, sizeof a);
    a.st_dev = 3;
    a.st_ino = 77;
    a.st_size = 6738;
    struct timespec began = { 1000000, 500 };
    a.st_mtim = (struct timespec){ 1000000 - 2, 500 };
    a.st_ctim = (struct timespec){ 1000000 - 5, 0 };
    b = a;
    ck_assert(tk_cache_id_settled(&a, &began, &b));
    a.st_mtim.tv_nsec = 501;      /* 1 ns within the margin */
    b = a;
    ck_assert(!tk_cache_id_settled(&a, &began, &b));
    a.st_mtim = (struct timespec){ 1000000 - 5, 0 };
    a.st_ctim = (struct timespec){ 1000000 - 1, 0 };
    b = a;
    ck_assert(!tk_cache_id_settled(&a, &began, &b));
    a.st_ctim = (struct timespec){ 1000000 - 3, 999999999 };
    b = a;
    ck_assert(tk_cache_id_settled(&a, &began, &b));
    for (int f = 0; f < 7; f++) {
        b = a;
        switch (f) {
        case 0: b.st_dev++; break;
        case 1: b.st_ino++; break;
        case 2: b.st_size--; break;
        case 3: b.st_mtim.tv_sec++; break;
        case 4: b.st_mtim.tv_nsec++; break;
        case 5: b.st_ctim.tv_sec++; break;
        default: b.st_ctim.tv_nsec--; break;
        }
        ck_assert_msg(!tk_cache_id_settled(&a, &began, &b), "field %d changed, still settled", f);
    }
}
END_TEST

/* A file rewritten in place with other bytes of the same size, its
 * modification time put back (touch -d): its change time moved, so it
 * is hashed again and gives its new tokens. */
START_TEST(rewritten_in_place_is_hashed_again)
{
    char file[128];
    fresh_copy(FIX "full_llama.json", "tokenizer.json", file, sizeof file);
    load_reading(file, 0, 2);
    load_reading(file, 1, 0);
    struct stat st, st2;
    ck_assert_int_eq(stat(file, &st), 0);
    struct timespec pause = { 0, 30 * 1000 * 1000 };   /* past a tick of the file system's clock */
    nanosleep(&pause, NULL);
    copy_file(FIX "full_llama_shared_id.json", file);   /* same size, other bytes, same inode */
    struct timespec ts[2] = { st.st_atim, st.st_mtim };
    ck_assert_int_eq(utimensat(AT_FDCWD, file, ts, 0), 0);
    ck_assert_int_eq(stat(file, &st2), 0);
    ck_assert_int_eq(st2.st_ino, st.st_ino);
    ck_assert_int_eq(st2.st_size, st.st_size);
    ck_assert(st2.st_mtim.tv_sec == st.st_mtim.tv_sec && st2.st_mtim.tv_nsec == st.st_mtim.tv_nsec);
    ck_assert(st2.st_ctim.tv_sec != st.st_ctim.tv_sec || st2.st_ctim.tv_nsec != st.st_ctim.tv_nsec);
    load_reading(file, 0, 2);     /* the new bytes: no entry yet */
    /* the earlier version's record went with its entry */
    ck_assert_int_eq(records(NULL, 0), 1);
    load_reading(file, 1, 0);
    /* touched, the same bytes: hashed once, its entry used, and the
     * record of its earlier times replaced */
    nanosleep(&pause, NULL);
    ck_assert_int_eq(utimensat(AT_FDCWD, file, NULL, 0), 0);
    load_reading(file, 1, 1);
    ck_assert_int_eq(records(NULL, 0), 1);
    load_reading(file, 1, 0);
}
END_TEST

/* A file replaced by rename (another inode) with bytes of the same size
 * and the old one's times is hashed again; a hard link to a recorded
 * file (the same inode, made before it was recorded) uses its record
 * until the link count changes. */
START_TEST(renamed_over_and_linked)
{
    char file[128], other[128], link2[128];
    fresh_copy(FIX "full_llama.json", "tokenizer.json", file, sizeof file);
    snprintf(link2, sizeof link2, "%s/linked.json", dir);
    ck_assert_int_eq(link(file, link2), 0);
    load_reading(file, 0, 2);
    load_reading(link2, 1, 0);
    struct stat st, st2;
    ck_assert_int_eq(stat(file, &st), 0);
    fresh_copy(FIX "full_llama_shared_id.json", "new.json", other, sizeof other);
    struct timespec ts[2] = { st.st_atim, st.st_mtim };
    ck_assert_int_eq(utimensat(AT_FDCWD, other, ts, 0), 0);
    ck_assert_int_eq(rename(other, file), 0);
    ck_assert_int_eq(stat(file, &st2), 0);
    ck_assert_int_ne(st2.st_ino, st.st_ino);
    load_reading(file, 0, 2);
    load_reading(file, 1, 0);
    /* the old inode, still linked there: its link count, hence its
     * change time, moved, so it is hashed once more */
    load_reading(link2, 1, 1);
    load_reading(link2, 1, 0);
}
END_TEST

/* The bytes of the file at path, into b (cap at most), their number. */
static size_t file_bytes_of(const char *path, char *b, size_t cap)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(b, 1, cap, f);
    fclose(f);
    return n;
}

/* A record at another file's record name (a file of the same size),
 * cut short, one byte longer, with a byte changed, or forged with its
 * check made right but the key of a file of another size: each is
 * refused, the file hashed (and its tokens the file's), and a good
 * record written in its place. */
START_TEST(bad_records_are_refused)
{
    char a[128], b[128], c[128], ra[512], rb[512], rc[512], rec[256], good[256], other[256];
    fresh_copy(FIX "full_llama.json", "a.json", a, sizeof a);
    fresh_copy(FIX "full_llama_shared_id.json", "b.json", b, sizeof b);   /* a.json's size */
    fresh_copy(FIX "full_bytelevel.json", "c.json", c, sizeof c);
    load_reading(a, 0, 2);
    ck_assert_int_eq(records(ra, sizeof ra), 1);
    ck_assert_int_eq(unlink(ra), 0);
    load_reading(b, 0, 2);
    ck_assert_int_eq(records(rb, sizeof rb), 1);
    ck_assert_int_eq(unlink(rb), 0);
    load_reading(c, 0, 2);
    ck_assert_int_eq(records(rc, sizeof rc), 1);
    size_t n = file_bytes_of(rc, other, sizeof other);
    load_reading(a, 1, 1);
    load_reading(b, 1, 1);
    ck_assert_uint_eq(file_bytes_of(ra, rec, sizeof rec), n);
    ck_assert_uint_eq(file_bytes_of(rb, good, sizeof good), n);
    ck_assert_uint_lt(n, sizeof rec - 1);
    for (int i = 0; i < 5; i++) {
        char forged[256];
        size_t len = n;
        memcpy(forged, good, n);
        switch (i) {
        case 0: memcpy(forged, rec, n); break;            /* a.json's record */
        case 1: len = n - 8; break;
        case 2: forged[len++] = 0; break;
        case 3: forged[n - 20] ^= 1; break;               /* in the key */
        default: {
            /* c.json's key (another size) under b.json's identity, check made right */
            memcpy(forged + n - 32, other + n - 32, 24);
            uint64_t check = XXH3_64bits(forged, n - 8);
            memcpy(forged + n - 8, &check, 8);
            break;
        }
        }
        spill(rb, forged, len);
        load_reading(b, 1, 1);
        ck_assert_uint_eq(file_bytes_of(rb, forged, sizeof forged), n);
        ck_assert_msg(memcmp(forged, good, n) == 0, "case %d: the record not made again", i);
        load_reading(b, 1, 0);
    }
    load_reading(a, 1, 0);
    load_reading(c, 1, 0);
}
END_TEST

/* What lies at a record's name but a private regular file of the user's
 * is not read: a symbolic link (to a good record, which stays as it
 * was), a FIFO (no load waits on it), a folder (no record can be written
 * over it: the file is hashed at every load), a record others may write
 * (removed and made again, private). Each load tokenizes as the file. */
/* A load of file that hashes it and leaves a private regular file at
 * rec, its record, which the next load uses. */
static void hashed_then_recorded(const char *file, const char *rec)
{
    struct stat st;
    load_reading(file, 1, 1);
    ck_assert_int_eq(lstat(rec, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_int_eq(st.st_mode & 077, 0);
    load_reading(file, 1, 0);
}

START_TEST(record_not_a_private_file)
{
    char file[128], rec[512], aside[600];
    struct stat st;
    fresh_copy(FIX "full_llama.json", "tokenizer.json", file, sizeof file);
    load_reading(file, 0, 2);
    ck_assert_int_eq(records(rec, sizeof rec), 1);
    snprintf(aside, sizeof aside, "%s.aside", rec);
    ck_assert_int_eq(rename(rec, aside), 0);
    ck_assert_int_eq(symlink(aside, rec), 0);
    hashed_then_recorded(file, rec);        /* the link replaced by a record */
    ck_assert_int_eq(lstat(aside, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_int_eq(unlink(rec), 0);
    ck_assert_int_eq(mkfifo(rec, 0600), 0);
    hashed_then_recorded(file, rec);
    ck_assert_int_eq(unlink(rec), 0);
    ck_assert_int_eq(mkdir(rec, 0700), 0);
    load_reading(file, 1, 1);
    load_reading(file, 1, 1);
    ck_assert_int_eq(rmdir(rec), 0);
    load_reading(file, 1, 1);
    ck_assert_int_eq(chmod(rec, 0620), 0);
    hashed_then_recorded(file, rec);
}
END_TEST

/* A record that cannot be written (its temporary name taken by a
 * folder) only means the file is hashed at each load. */
START_TEST(unwritable_record_only_costs_a_hash)
{
    char file[128], rec[512], tmp[600];
    fresh_copy(FIX "full_llama.json", "tokenizer.json", file, sizeof file);
    load_reading(file, 0, 2);
    ck_assert_int_eq(records(rec, sizeof rec), 1);
    ck_assert_int_eq(unlink(rec), 0);
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", rec, (long)getpid());
    ck_assert_int_eq(mkdir(tmp, 0700), 0);
    load_reading(file, 1, 1);
    load_reading(file, 1, 1);
    ck_assert_int_eq(records(NULL, 0), 0);
    ck_assert_int_eq(rmdir(tmp), 0);
    load_reading(file, 1, 1);
    load_reading(file, 1, 0);
}
END_TEST

/* The ids of every text, each list ended by UINT32_MAX, into out. */
static size_t all_ids(la_tokenizer *t, uint32_t *out, size_t cap)
{
    la_tok_work *w = la_tok_work_new();
    size_t n = 0;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        la_err err;
        la_tokens a = {0};
        if (la_tokenizer_encode(t, w, texts[i], strlen(texts[i]), 0, &a, &err) == LA_OK)
            for (size_t k = 0; k < a.n && n < cap; k++)
                out[n++] = a.ids[k];
        la_tokens_free(&a);
        if (n < cap)
            out[n++] = UINT32_MAX;
    }
    la_tok_work_free(w);
    return n;
}

/* Four processes loading one file at once, each several times, from no
 * entry and no record on: all tokenize as the file does, and the folder
 * ends with one entry and one record. */
START_TEST(loads_at_once)
{
    char file[128];
    fresh_copy(FIX "full_llama.json", "tokenizer.json", file, sizeof file);
    la_tokenizer_use_cache(0);
    la_tokenizer *ref = load(file, 0);
    la_tokenizer_use_cache(1);
    uint32_t want[512], got[512];
    size_t n = all_ids(ref, want, 512);
    la_tokenizer_free(ref);
    pid_t kids[4];
    for (int k = 0; k < 4; k++) {
        kids[k] = fork();
        ck_assert_int_ge(kids[k], 0);
        if (kids[k] == 0) {
            int bad = 0;
            for (int r = 0; r < 6; r++) {
                la_err err = {{0}, {0}};
                la_tokenizer *t = la_tokenizer_load(file, &err);
                bad |= !t || all_ids(t, got, 512) != n || memcmp(got, want, n * sizeof *got) != 0;
                la_tokenizer_free(t);
            }
            _exit(bad);
        }
    }
    for (int k = 0; k < 4; k++) {
        int status;
        ck_assert_int_eq(waitpid(kids[k], &status, 0), kids[k]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "process %d tokenized otherwise", k);
    }
    ck_assert_int_eq(entries(NULL, 0), 2);    /* tokenizer.json and its entry */
    ck_assert_int_eq(records(NULL, 0), 1);
    load_reading(file, 1, 0);
}
END_TEST

/* Records stay few: a record whose entry was pruned goes with the next
 * pruning, so do damaged ones and dead writers' temporary ones (a live
 * writer's stays), and past 256 the least recently used go. */
START_TEST(records_stay_few)
{
    char file[128], rec[512], name[600], good[256], entry[512];
    fresh_copy(FIX "full_llama.json", "tokenizer.json", file, sizeof file);
    load_reading(file, 0, 2);
    ck_assert_int_eq(records(rec, sizeof rec), 1);
    DIR *d = opendir(dir);
    struct dirent *e;
    entry[0] = 0;
    while ((e = readdir(d)))
        if (la_check_ends(e->d_name, ".tok"))
            snprintf(entry, sizeof entry, "%s/%s", dir, e->d_name);
    closedir(d);
    ck_assert(entry[0]);
    size_t n = file_bytes_of(rec, good, sizeof good);
    /* 300 copies of the good record, older and older, a damaged one, two
     * temporary ones */
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "%s/%016x-%016x.id", dir, i, i);
        spill(name, good, n);
        struct timespec ts[2] = {{time(NULL) - 100 - i, 0}, {time(NULL) - 100 - i, 0}};
        ck_assert_int_eq(utimensat(AT_FDCWD, name, ts, 0), 0);
    }
    put_file("00000000000000ee-00000000000000ee.id", 100, 0);
    put_file("00000000000000ef-00000000000000ef.id.55.tmp", 144, 7200);
    put_file("00000000000000f0-00000000000000f0.id.56.tmp", 144, 0);
    /* a record written (another file's): the folder's are pruned */
    char other[128];
    fresh_copy(FIX "bpe_prefix.json", "other.json", other, sizeof other);
    load_reading(other, 0, 2);
    ck_assert_int_eq(records(NULL, 0), 256);
    ck_assert(present("0000000000000000-0000000000000000.id"));      /* the newest copies stay */
    ck_assert(!present("000000000000012b-000000000000012b.id"));     /* the oldest went */
    ck_assert(!present("00000000000000ee-00000000000000ee.id"));
    ck_assert(!present("00000000000000ef-00000000000000ef.id.55.tmp"));
    ck_assert(present("00000000000000f0-00000000000000f0.id.56.tmp"));
    load_reading(file, 1, 0);
    /* the file's entry removed: its records go with the next pruning
     * (an entry written) */
    ck_assert_int_eq(unlink(entry), 0);
    load_reading(FIX "window_lower.json", 0, 2);
    ck_assert_int_eq(records(NULL, 0), 2);          /* other.json's and window_lower.json's */
    load_reading(other, 1, 0);
    load_reading(file, 0, 2);
    load_reading(file, 1, 0);
    /* every entry removed, then a file parsed that is not recorded (made
     * just now): the records go all the same */
    ck_assert_int_eq(records(NULL, 0), 3);
    d = opendir(dir);
    while ((e = readdir(d)))
        if (la_check_ends(e->d_name, ".tok")) {
            snprintf(name, sizeof name, "%s/%s", dir, e->d_name);
            ck_assert_int_eq(unlink(name), 0);
        }
    closedir(d);
    fresh_copy(FIX "bpe_basic.json", "new.json", other, sizeof other);
    tk_cache_id_margin(2);
    load_reading(other, 0, 2);
    ck_assert_int_eq(records(NULL, 0), 0);
}
END_TEST

/* The records that entries passed their check (.ok) in the folder. */
static int oks(void)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        count += la_check_ends(e->d_name, ".ok");
    closedir(d);
    return count;
}

/* An entry that passed its check is recorded so (.ok) once settled; a
 * later load of it as it is checks none of its bytes and tokenizes as
 * the file does. A change of its bytes moves its times: the check is
 * made again, and an entry damaged where only the check can tell (the
 * other members' text) is not used but made again from the file. An
 * entry written just now is not recorded. */
START_TEST(vouched_entry_checked_once)
{
    const char *file = FIX "full_llama.json";
    char path[512];
    la_tokenizer_free(load(file, 0));                     /* parsed, its entry written */
    ck_assert_int_eq(entries(path, sizeof path), 1);
    unsigned long c0 = tk_cache_entry_checks();
    la_tokenizer_free(load(file, 1));
    ck_assert_uint_eq(tk_cache_entry_checks(), c0 + 1);
    ck_assert_int_eq(oks(), 0);                           /* not settled: checked each time */
    la_tokenizer_free(load(file, 1));
    ck_assert_uint_eq(tk_cache_entry_checks(), c0 + 2);
    /* settled: its modification time half an hour past (a use an hour
     * after the last one refreshes it, which changes the entry's times
     * again), and the margin lowered (its change time is now) */
    struct timespec old[2] = { { time(NULL) - 1800, 0 }, { time(NULL) - 1800, 0 } };
    ck_assert_int_eq(utimensat(AT_FDCWD, path, old, 0), 0);
    tk_cache_ok_margin(-60);
    same_as_file(load(file, 1), file);                    /* checked, then recorded */
    ck_assert_uint_eq(tk_cache_entry_checks(), c0 + 3);
    ck_assert_int_eq(oks(), 1);
    for (int i = 0; i < 2; i++)
        same_as_file(load(file, 1), file);                /* vouched: not checked */
    ck_assert_uint_eq(tk_cache_entry_checks(), c0 + 3);
    tk_cache_set_network(1);                              /* on a network file system: checked */
    same_as_file(load(file, 1), file);
    tk_cache_set_network(-1);
    ck_assert_uint_eq(tk_cache_entry_checks(), c0 + 4);
    c0++;
    /* a byte of the other members' text changed ("normalizer" made
     * "Normalizer": still JSON, a member no more; modification time now) */
    size_t len;
    char *b = la_check_slurp(path, &len);
    char *at = memmem(b, len, "\"normalizer\"", 12);
    ck_assert_ptr_nonnull(at);
    damage(path, -1, (long)(at + 1 - b));
    free(b);
    same_as_file(load(file, 0), file);                    /* checked, refused, made again */
    ck_assert_uint_eq(tk_cache_entry_checks(), c0 + 4);
    la_tokenizer_free(load(file, 1));                     /* the new entry, checked */
    ck_assert_uint_eq(tk_cache_entry_checks(), c0 + 5);
    /* a record whose entry is gone goes when the records are pruned */
    ck_assert_int_eq(oks(), 1);
    ck_assert_int_eq(entries(path, sizeof path), 1);
    ck_assert_int_eq(unlink(path), 0);
    tk_cache_id_prune();
    ck_assert_int_eq(oks(), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tok_cache");
    TCase *tc = tcase_create("cache");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, second_load_from_cache, 0, 3 * NFIX);
    tcase_add_loop_test(tc, network_entries_are_read, 0, 2);
    tcase_add_test(tc, damaged_entries_are_not_used);
    tcase_add_test(tc, entries_others_may_write_are_not_used);
    tcase_add_test(tc, changed_file_is_loaded_again);
    tcase_add_test(tc, entry_follows_the_bytes);
    tcase_add_test(tc, no_build_id_no_cache);
    tcase_add_test(tc, entry_over_the_cap_is_not_kept);
    tcase_add_test(tc, failed_loads_leave_nothing);
    tcase_add_test(tc, empty_dir_turns_it_off);
    tcase_add_test(tc, folder_stays_bounded);
    tcase_add_test(tc, check_same_on_every_path);
    tcase_add_test(tc, entry_keeps_vocabulary_words);
    tcase_add_test(tc, unwritable_folder_skips_vocabulary_words);
    tcase_add_test(tc, tables_zeroed_and_grown);
    tcase_add_test(tc, key_of_fd_is_key_of_bytes);
    suite_add_tcase(s, tc);
    TCase *ti = tcase_create("identity");
    tcase_add_checked_fixture(ti, setup, teardown);
    tcase_set_timeout(ti, 60);
    tcase_add_test(ti, record_spares_reading_the_file);
    tcase_add_test(ti, racy_file_is_not_recorded);
    tcase_add_test(ti, settled_needs_old_times_and_no_change);
    tcase_add_test(ti, rewritten_in_place_is_hashed_again);
    tcase_add_test(ti, renamed_over_and_linked);
    tcase_add_test(ti, bad_records_are_refused);
    tcase_add_test(ti, record_not_a_private_file);
    tcase_add_test(ti, unwritable_record_only_costs_a_hash);
    tcase_add_test(ti, loads_at_once);
    tcase_add_test(ti, records_stay_few);
    tcase_add_test(ti, vouched_entry_checked_once);
    suite_add_tcase(s, ti);
    /* hundreds of loads each (many more seconds under the sanitizers) */
    TCase *tr = tcase_create("resealed");
    tcase_add_checked_fixture(tr, setup, teardown);
    tcase_set_timeout(tr, 900);
    tcase_add_loop_test(tr, resealed_entries_are_checked, 0, 4);
    tcase_add_loop_test(tr, resealed_added_tokens_are_checked, 0, 3);
    tcase_add_loop_test(tr, merge_results_are_checked, 0, 2);
    tcase_add_test(tr, unremovable_bad_entry_is_named);
    tcase_add_loop_test(tr, vocabulary_slots_are_checked, 0, 4);
    suite_add_tcase(s, tr);
    return la_check_run(s);
}
