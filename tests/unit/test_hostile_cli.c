/* test_hostile_cli.c - random byte damage to real records (the data files)
 * through the CLI with --on-error skip: every record is classified here
 * with la_proc_record under the same options, and the CLI must write
 * exactly the accepted ones (as la_proc_record edits them) to its output
 * and exactly the rejected ones, byte for byte and in order, to
 * --rejects; its statistics must say records in = out + rejected.
 * The CLI is the lookahead next to this test's build folder (or
 * $LOOKAHEAD). */
#include <check.h>

#include "check_run.h"
#include "damage.h"
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <libgen.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lookahead.h"
#include "tokenizer/tk_test.h"

static char cli[4096];

static uint64_t rng = 0x243F6A8885A308D3ull;

static void slurp(const char *path, la_buf *b)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char tmp[65536];
    size_t k;
    while ((k = fread(tmp, 1, sizeof tmp, f)) > 0)
        la_buf_append(b, tmp, k);
    fclose(f);
}

/* Damages rec (no newline in it) into out; the result holds no '\n' or
 * '\r' (those frame lines) and is not blank. Returns its length. */
static size_t damage(const char *rec, size_t n, char *out)
{
    n = damage_record(&rng, rec, n, out, 3, 1);
    for (size_t i = 0; i < n; i++)
        if (out[i] == '\n' || out[i] == '\r')
            out[i] = 'x';
    out[0] = out[0] == ' ' || out[0] == '\t' ? 'x' : out[0];
    return n;
}

static uint64_t stat_field(const char *json, const char *key)
{
    const char *p = strstr(json, key);
    ck_assert_msg(p != NULL, "%s missing from the statistics", key);
    return strtoull(p + strlen(key) + 2, NULL, 10);
}

static void run_damaged(const char *data, const char *opts, const la_config *cfg, int copies)
{
    la_buf src = {0}, in = {0}, want_out = {0}, want_rej = {0};
    slurp(data, &src);
    la_err e;
    la_proc *p = la_proc_new(cfg, &e);
    ck_assert_ptr_nonnull(p);
    la_stats st = {0};
    char *buf = malloc(src.len + 16);
    for (int c = 0; c < copies; c++) {
        const char *line = src.data;
        while (line < src.data + src.len) {
            const char *nl = memchr(line, '\n', (size_t)(src.data + src.len - line));
            size_t n = nl ? (size_t)(nl - line) : (size_t)(src.data + src.len - line);
            if (n > 0) {
                size_t k = damage_rnd(&rng) % 4 ? damage(line, n, buf) : (memcpy(buf, line, n), n);
                if (in.len == 0 && k >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
                    buf[0] = 'x';   /* a BOM would be taken off */
                la_buf_append(&in, buf, k);
                la_buf_putc(&in, '\n');
                if (la_proc_record(p, buf, k, &want_out, &st, &e) == LA_OK)
                    la_buf_putc(&want_out, '\n');
                else {
                    la_buf_append(&want_rej, buf, k);
                    la_buf_putc(&want_rej, '\n');
                }
            }
            line += n + 1;
        }
    }
    free(buf);
    la_proc_free(p);

    char dir[] = "/tmp/la-hostile-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char inpath[256], cmd[8192];
    snprintf(inpath, sizeof inpath, "%s/in.jsonl", dir);
    FILE *f = fopen(inpath, "wb");
    ck_assert_uint_eq(fwrite(in.data, 1, in.len, f), in.len);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "'%s' -q --output-format jsonl --threads 3 --on-error skip %s --rejects %s/rej.jsonl --stats %s/stats.json "
             "-o %s/out.jsonl %s 2>/dev/null",
             cli, opts, dir, dir, dir, inpath);
    int rc = system(cmd);
    ck_assert_msg(rc == 0, "%s: exit status %d", cmd, rc);
    la_buf out = {0}, rej = {0}, stats = {0};
    char path[256];
    snprintf(path, sizeof path, "%s/out.jsonl", dir);
    slurp(path, &out);
    snprintf(path, sizeof path, "%s/rej.jsonl", dir);
    slurp(path, &rej);
    snprintf(path, sizeof path, "%s/stats.json", dir);
    slurp(path, &stats);
    ck_assert_msg(rej.len == want_rej.len && memcmp(rej.data, want_rej.data, rej.len) == 0,
                  "%s: --rejects is not the rejected records byte for byte (%zu bytes, want %zu)", data, rej.len,
                  want_rej.len);
    ck_assert_msg(out.len == want_out.len && memcmp(out.data, want_out.data, out.len) == 0,
                  "%s: output differs from la_proc_record's (%zu bytes, want %zu)", data, out.len, want_out.len);
    uint64_t rin = stat_field(stats.data, "\"records_in\""), rout = stat_field(stats.data, "\"records_out\""),
             rrej = stat_field(stats.data, "\"records_rejected\"");
    ck_assert_uint_eq(rin, st.records_in);
    ck_assert_uint_eq(rout, st.records_out);
    ck_assert_uint_eq(rrej, st.records_rejected);
    ck_assert_uint_eq(rin, rout + rrej);
    ck_assert_uint_gt(rout, 0);
    ck_assert_uint_gt(rrej, 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    la_buf_free(&src);
    la_buf_free(&in);
    la_buf_free(&want_out);
    la_buf_free(&want_rej);
    la_buf_free(&out);
    la_buf_free(&rej);
    la_buf_free(&stats);
}

START_TEST(damaged_sample_virtual)
{
    la_config c;
    la_config_defaults(&c);
    c.mode = LA_MODE_VIRTUAL;
    c.input_field = "question";
    c.output_field = "answer";
    c.fields_given = 1;
    run_damaged("data/sample.jsonl", "--mode virtual --input-field question --output-field answer", &c, 300);
}
END_TEST

START_TEST(damaged_chat_real_word)
{
    la_config c;
    la_config_defaults(&c);
    run_damaged("data/chat.jsonl", "--mode real --unit word --m 6", &c, 300);
}
END_TEST

START_TEST(damaged_chat_real_char)
{
    la_config c;
    la_config_defaults(&c);
    c.unit = LA_UNIT_CHAR;
    c.m = 4;
    c.turns = LA_TURNS_LAST;
    run_damaged("data/chat.jsonl", "--mode real --unit char --m 4 --turns last", &c, 300);
}
END_TEST

/* A run of the CLI in real mode on input in folder dir (to output out
 * there, stderr to err), with dir's cache: its exit status. */
static int run_real(const char *dir, const char *input, const char *out)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "LOOKAHEAD_CACHE_DIR='%s/cache' '%s' -q --mode real --tokenizer tests/fixtures/tok/full_llama.json "
             "--input-field question --output-field answer -o '%s/%s' '%s/%s' 2>'%s/err'",
             dir, cli, dir, out, dir, input, dir);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void put(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    ck_assert_int_eq(fclose(f), 0);
}

static int exists(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* A tokenizer cache entry whose every merge makes another token than
 * the file says, its check made right again: the entry is taken (merges
 * are checked when first looked up), so a run that looks up none of
 * them passes; a run that does stops with an error naming the entry,
 * leaves no output file and removes the entry; the run after it makes
 * the entry again and writes what the first run wrote. */
START_TEST(damaged_cache_entry_stops_the_run)
{
    char dir[] = "/tmp/la-hostile-XXXXXX", entry[1024], path[512];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/cache", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    put(dir, "in.jsonl", "{\"question\":\"q\",\"answer\":\"1 2 3\"}\n"
                         "{\"question\":\"q\",\"answer\":\"thethe catcat and\"}\n");
    put(dir, "digits.jsonl", "{\"question\":\"q\",\"answer\":\"1 2 3\"}\n");
    ck_assert_int_eq(run_real(dir, "in.jsonl", "first.jsonl"), 0);
    snprintf(path, sizeof path, "%s/cache", dir);
    ck_assert_int_eq(la_check_files(path, entry, sizeof entry), 1);
    size_t len, off, n, at[4096];
    char *b = la_check_slurp(entry, &len);
    ck_assert(tk_cache_image_part(b, len, &off, &n));
    size_t merges = tk_bpe_image_results(b + off, n, at, NULL, sizeof at / sizeof at[0]);
    ck_assert_uint_gt(merges, 0);
    for (size_t k = 0; k < merges; k++)
        b[off + at[k]] ^= 1;
    ck_assert(tk_cache_reseal(b, len));
    FILE *f = fopen(entry, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(b, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    free(b);
    /* no merge looked up: "1", "2", "3" after the metaspace make none */
    ck_assert_int_eq(run_real(dir, "digits.jsonl", "digits.out"), 0);
    ck_assert(exists(dir, "digits.out"));
    ck_assert_int_eq(access(entry, F_OK), 0);
    /* "thethe" looks merges up */
    ck_assert_int_eq(run_real(dir, "in.jsonl", "second.jsonl"), 74);
    ck_assert(!exists(dir, "second.jsonl"));
    ck_assert_int_ne(access(entry, F_OK), 0);
    la_buf err = {0};
    snprintf(path, sizeof path, "%s/err", dir);
    slurp(path, &err);
    la_buf_putc(&err, 0);
    ck_assert_msg(strstr(err.data, entry) && strstr(err.data, "removed") && strstr(err.data, "--no-cache"), "%s",
                  err.data);
    la_buf_free(&err);
    /* made again */
    ck_assert_int_eq(run_real(dir, "in.jsonl", "third.jsonl"), 0);
    ck_assert_int_eq(access(entry, F_OK), 0);
    la_buf one = {0}, three = {0};
    snprintf(path, sizeof path, "%s/first.jsonl", dir);
    slurp(path, &one);
    snprintf(path, sizeof path, "%s/third.jsonl", dir);
    slurp(path, &three);
    ck_assert(one.len > 0 && one.len == three.len && memcmp(one.data, three.data, one.len) == 0);
    la_buf_free(&one);
    la_buf_free(&three);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* 1 when /proc/PID/maps lists file path (mapped by process pid). */
static int maps_file(pid_t pid, const char *path)
{
    char name[64], line[4096];
    snprintf(name, sizeof name, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(name, "r");
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f)) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        size_t n = strlen(line), k = strlen(path);
        found = n >= k && strcmp(line + n - k, path) == 0;
    }
    if (f)
        fclose(f);
    return found;
}

/* Runs sh command cmd (which execs the CLI, its input the FIFO dir/fifo)
 * with the cache entry mapped (LOOKAHEAD_CACHE_MAP=always), cuts entry
 * short in place once the CLI maps it, then gives it records whose words
 * only the model knows: the CLI's exit status, or -1 when a signal ended
 * it. */
static int cut_while_mapped(const char *dir, const char *entry, const char *cmd)
{
    char fifo[512];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    unlink(fifo);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setenv("LOOKAHEAD_CACHE_MAP", "always", 1);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    /* the CLI may be gone before the records below are all written: a
     * write then fails with EPIPE rather than killing this test (set
     * after the fork, so the CLI keeps SIGPIPE as a user's shell gives it) */
    void (*old_pipe)(int) = signal(SIGPIPE, SIG_IGN);
    int w = open(fifo, O_WRONLY);
    ck_assert_int_ge(w, 0);
    struct timespec pause = {0, 10 * 1000 * 1000};
    int tries = 0;
    while (!maps_file(pid, entry) && tries++ < 3000)
        nanosleep(&pause, NULL);
    ck_assert_msg(maps_file(pid, entry), "the CLI never mapped %s", entry);
    ck_assert_int_eq(truncate(entry, 0), 0);
    static const char rec[] = "{\"question\":\"q\",\"answer\":\"zqxv wbkj hyfp qqzx\"}\n";
    for (int i = 0; i < 200; i++)
        if (write(w, rec, sizeof rec - 1) != (ssize_t)(sizeof rec - 1))
            break;                /* the CLI is gone: its status says why */
    close(w);
    signal(SIGPIPE, old_pipe);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    unlink(fifo);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The files in dir whose names start with prefix. */
static int files_named(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

/* A tokenizer cache entry cut short in place by another program (the
 * cache itself only ever renames and unlinks entries) while the CLI has
 * it mapped: the kernel raises SIGBUS at the next touch of a lost page,
 * and the run stops with a message naming the entry and the way out,
 * exit status 74, and neither its output, its temporary output, nor its
 * statistics left; lookahead tokenize alike. */
START_TEST(entry_cut_while_mapped_stops_the_run)
{
    char dir[] = "/tmp/la-hostile-XXXXXX", entry[1024], path[512], cmd[8192];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/cache", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    put(dir, "in.jsonl", "{\"question\":\"q\",\"answer\":\"the cat\"}\n");
    for (int tokenize = 0; tokenize < 2; tokenize++) {
        ck_assert_int_eq(run_real(dir, "in.jsonl", "first.jsonl"), 0);   /* the entry made (again) */
        ck_assert_int_eq(la_check_files(path, entry, sizeof entry), 1);
        if (tokenize)
            snprintf(cmd, sizeof cmd,
                     "LOOKAHEAD_CACHE_DIR='%s/cache' exec '%s' tokenize --tokenizer "
                     "tests/fixtures/tok/full_llama.json <'%s/fifo' >'%s/tokens' 2>'%s/err'",
                     dir, cli, dir, dir, dir);
        else
            snprintf(cmd, sizeof cmd,
                     "LOOKAHEAD_CACHE_DIR='%s/cache' exec '%s' -q --mode real --tokenizer "
                     "tests/fixtures/tok/full_llama.json --input-field question --output-field answer "
                     "-o '%s/out.jsonl' --stats '%s/stats.json' '%s/fifo' 2>'%s/err'",
                     dir, cli, dir, dir, dir, dir);
        ck_assert_int_eq(cut_while_mapped(dir, entry, cmd), 74);
        la_buf err = {0};
        char errpath[600];
        snprintf(errpath, sizeof errpath, "%s/err", dir);
        slurp(errpath, &err);
        la_buf_putc(&err, 0);
        ck_assert_msg(strstr(err.data, entry) && strstr(err.data, "cut short while in use by another program") &&
                          strstr(err.data, "--no-cache"),
                      "%s", err.data);
        la_buf_free(&err);
        ck_assert(!exists(dir, "out.jsonl") && !exists(dir, "stats.json"));
        ck_assert_int_eq(files_named(dir, ".out.jsonl.tmp"), 0);
        ck_assert_int_eq(files_named(dir, ".stats.json"), 0);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

int main(int argc, char **argv)
{
    (void)argc;
    const char *env = getenv("LOOKAHEAD");
    if (env && *env) {
        snprintf(cli, sizeof cli, "%s", env);
    } else {
        /* build/tests/unit/test_hostile_cli -> build/lookahead */
        char self[4096];
        snprintf(self, sizeof self, "%s", argv[0]);
        snprintf(cli, sizeof cli, "%s/../../lookahead", dirname(self));
    }
    if (access(cli, X_OK) != 0) {
        fprintf(stderr, "test_hostile_cli: %s is not there: build the CLI first (or set LOOKAHEAD)\n", cli);
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("hostile_cli");
    TCase *tc = tcase_create("damage");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, damaged_sample_virtual);
    tcase_add_test(tc, damaged_chat_real_word);
    tcase_add_test(tc, damaged_chat_real_char);
    tcase_add_test(tc, damaged_cache_entry_stops_the_run);
    tcase_add_test(tc, entry_cut_while_mapped_stops_the_run);
    suite_add_tcase(s, tc);
    int failed = la_check_run(s);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
