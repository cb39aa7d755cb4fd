/*
 * run.c - the run loop: inputs -> reader -> processor -> writer, with
 * rejects, statistics, progress, guard rails and warnings. The files it
 * writes are made safely by output.c (-o's file appears, by rename, only
 * when the run succeeds).
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/files.h"
#include "cli/output.h"
#include "cli/split.h"
#include "json.h"
#include "progress.h"

#define SHOWN_REJECTS 5

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define BATCH_BYTES (256u << 10)
#define BATCH_FIRST (32u << 10)
#define BATCH_RECORDS 4096

/* One record of a batch: where its bytes are, and what became of it. */
typedef struct {
    size_t off, len;          /* in batch.in */
    uint64_t line;
    uint64_t elem;            /* a JSON array's element: its number from 1 (ELEM_UNKNOWN in a --split
                               * range, which starts mid-array); 0: a line of JSONL */
    size_t out_off, out_len;  /* in batch.out, when accepted */
    uint64_t end;             /* handed to the writer: where it ends in the output stream (a reject: where that stood) */
    int err;                  /* -1 accepted, else index in batch.errs */
} batch_rec;

#define ELEM_UNKNOWN UINT64_MAX

/* Batches are processed by workers while the main thread reads ahead and
 * a writer thread writes finished batches in input order (with one
 * thread, the main thread does all three). A JSONL batch is raw input
 * read straight into `in` (whole lines; the cut last line moves to the
 * next batch), and the worker splits it into records; otherwise (JSON
 * arrays, --shard) the main thread frames records and copies them in. */
typedef struct {
    la_buf in, out;
    size_t raw_len;           /* raw batch: in[0..raw_len) holds whole lines; 0: framed records */
    size_t next_off;          /* raw batch: where splitting resumes */
    uint64_t next_line;       /* raw batch: lines before next_off */
    int new_input;            /* raw batch: the first of its input (its lines count from 1) */
    batch_rec *recs;
    size_t n, cap;
    la_err *errs;
    size_t nerrs, errs_cap;
    la_stats st;
    const char *name;         /* the input, for messages */
    int state;                /* B_FREE, B_QUEUED, B_BUSY, B_DONE */
    int fatal;                /* out of memory, or a damaged tokenizer cache entry, while processing */
    la_err fatal_err;         /* what it was (fatal set from a record's error) */
    int lines;                /* out holds finished JSONL lines, ready to write as one block */
    int padded;               /* raw batch: LINE_PAD zero bytes follow in.len, for la_proc_line */
} batch;

/* Bytes la_proc_line may read past a line; LOOKAHEAD_SCAN=general in the
 * environment turns that way off (and SIMD string scanning with it), so
 * that tests can compare the two ways end to end. */
#define LINE_PAD 64
static int fast_lines = 1;

enum { B_FREE, B_QUEUED, B_BUSY, B_DONE };

typedef struct run_state run_state;
typedef struct {
    run_state *s;
    la_proc *proc;
    pthread_t tid;
} worker;

struct run_state {
    cli_opts *o;
    la_proc *proc;
    la_writer *w;
    cli_out out;              /* -o's file, or standard output */
    int rej_fd;
    /* --rejects is a file this run made (a regular file opened by name,
     * truncated): its rejects are written before their part's output, and
     * the file is cut back to what the report counts when a write fails */
    int rej_trunc;
    uint64_t rej_off;         /* rej_trunc: bytes written to it, whole lines */
    uint64_t rej_committed;   /* rej_trunc: rej_off at the last commit */
    la_buf rej_buf;
    int jsonl_out;            /* output format is JSONL */
    la_stats st;
    uint64_t shown;           /* rejects reported on stderr */
    uint64_t index;           /* records seen, for --shard */
    uint64_t total_bytes;     /* input size when known, else 0 */
    uint64_t done_bytes;      /* bytes of finished inputs */
    uint64_t done_data;       /* the same, decompressed */
    size_t progress_len;      /* length of the progress line on screen, 0 when none */
    double t0, next_progress;
    int show_progress;
    int progress_shown;
    /* batches and workers */
    batch *slots;
    size_t nslots;
    uint64_t seq_fill, seq_write;  /* batch being filled; next batch to write */
    worker *workers;
    int nworkers;
    pthread_mutex_t mu;
    pthread_cond_t work_cv, done_cv, free_cv;
    int quit;
    /* the writer thread (only with workers): it alone writes batches, so
     * the main thread's reads overlap its writes */
    pthread_t wtid;
    int writer_on;            /* started and not yet joined */
    int wquit;                /* stop before the next batch */
    int wrc;                  /* the writer's first error; it then stops */
    const char *cur_name;
    la_reader *cur_reader;
    uint64_t line_base;       /* line number of the first line of the raw batch being written */
    int limit_hit;            /* --max-rejects N was passed (the run stopped there) */
    cli_split split;          /* --split: the range read */
    /* what the parts handed to the writer since its last sync add: they
     * count, and their rejects are written, once the output before them
     * is surely in its file (commit), else they are dropped with it */
    la_stats pend_st;
    la_buf pend_rej;
    int broken;               /* a write of the output failed: nothing more is written */
};

static const char *display_name(const char *path) { return strcmp(path, "-") == 0 ? "-" : path; }

/* The terminal's width for the progress line: stderr's, else $COLUMNS,
 * else 80 (asked at each update: the window may be resized). */
static size_t term_width(void)
{
    struct winsize ws;
    if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *c = getenv("COLUMNS");
    long v = c ? strtol(c, NULL, 10) : 0;
    return v > 0 && v < 10000 ? (size_t)v : 80;
}

/* Rewrites the progress line in place (four times a second, or the
 * final one, which ends with a line feed): at most the terminal's width
 * less one, so that it never wraps, and what is left of a longer earlier
 * line blanked. cur: the input being read, if any. */
static void progress(run_state *s, const la_reader *cur, int final)
{
    double t = now();
    if (!final && t < s->next_progress)
        return;
    s->next_progress = t + 0.25;
    la_progress p = {t - s->t0, s->st.records_in, s->done_data + (cur ? la_reader_data_bytes(cur) : 0),
                     s->done_bytes + (cur ? la_reader_bytes(cur) : 0), s->total_bytes};
    char line[512];
    size_t width = term_width();
    size_t n = la_progress_line(&p, width < sizeof line ? width : sizeof line, line, sizeof line);
    int pad = s->progress_len > n ? (int)(s->progress_len - n) : 0;
    fprintf(stderr, "\r%s%*s%s", line, pad, "", final ? "\n" : "");
    s->progress_len = final ? 0 : n;
    s->progress_shown = 1;
}

/* Blanks the progress line before a message, which then starts at the
 * left edge; the next update draws the line again below it. */
static void progress_clear(run_state *s)
{
    if (s->progress_len)
        fprintf(stderr, "\r%*s\r", (int)s->progress_len, "");
    s->progress_len = 0;
}

/* Opens an input for reading: 66 with a message when it cannot be. */
static int open_input(const char *path, int *fd)
{
    if (strcmp(path, "-") == 0) {
        *fd = 0;
        return 0;
    }
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0) {
        cli_msg("%s: cannot open: %s", path, strerror(errno));
        return EXIT_NOINPUT;
    }
    struct stat sb;
    if (fstat(*fd, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        cli_msg("%s: cannot open: Is a directory", path);
        close(*fd);
        return EXIT_NOINPUT;
    }
    return 0;
}

/* An error from the writer: a closed pipe ends the run quietly. */
static int write_failed(run_state *s, const la_err *e)
{
    if (strcmp(e->code, "broken_pipe") == 0)
        return -1;
    cli_msg("%s: %s", s->o->output ? s->o->output : "standard output", e->msg);
    return EXIT_IOERR;
}

/* The reason e of rejecting a JSON array's element rec[0..len) (number
 * elem) as msg: its number first, and a byte it names ("at byte N",
 * counted from the element's start) said to be the element's; *line
 * moved on to the line that byte is on. */
static void element_reason(const char *rec, size_t len, uint64_t elem, const la_err *e, uint64_t *line, char *msg,
                           size_t cap)
{
    static const char at[] = " at byte ";
    const char *p = NULL, *q = e->msg;
    /* only the JSON validator's reasons name a byte (another's text may
     * quote a record's key that reads so) */
    int placed = strcmp(e->code, "invalid_json") == 0 || strcmp(e->code, "invalid_utf8") == 0 ||
                 strcmp(e->code, "control_character") == 0 || strcmp(e->code, "extra_value") == 0 ||
                 strcmp(e->code, "trailing_data") == 0;
    while (placed && (q = strstr(q, at)) != NULL)
        p = q++;
    size_t head = 0;
    if (elem != ELEM_UNKNOWN)
        head = (size_t)snprintf(msg, cap, "element %llu: ", (unsigned long long)elem);
    if (!p || head >= cap) {
        snprintf(msg + head, cap - head, "%s", e->msg);
        return;
    }
    const char *digits = p + sizeof at - 1, *end = digits;
    unsigned long long n = strtoull(digits, (char **)&end, 10);
    if (end > digits && n >= 1 && n <= len) {
        for (size_t i = 0; i + 1 < n; i++)
            *line += rec[i] == '\n';
    }
    snprintf(msg + head, cap - head, "%.*s of the element%s", (int)(end - e->msg), e->msg, end);
}

/* Whether the k-th reject of the run passes --max-rejects N (a count;
 * a percentage is only known at the end: guard_rails), which stops it. */
static int stops_at(const run_state *s, uint64_t k)
{
    const la_reject_limit *lim = &s->o->max_rejects;
    return lim->set && !lim->percent && la_reject_limit_exceeded(lim, k, 0);
}

/* A record was refused: fail, or set it aside (the caller writes it to
 * --rejects once the output before it is in its file) and go on. A JSON
 * array's element (elem > 0: rec[0..len)) is named by its number. */
static int reject(run_state *s, const char *name, uint64_t line, const la_err *err, const char *rec, size_t len,
                  uint64_t elem)
{
    la_err named;
    const la_err *e = err;
    if (elem) {
        named = *err;
        element_reason(rec, len, elem, err, &line, named.msg, sizeof named.msg);
        e = &named;
    }
    if (s->o->split_n)
        line = cli_split_line(&s->split, line);
    if (!s->o->skip_bad) {
        cli_msg("%s:%llu: %s", name, (unsigned long long)line, e->msg);
        return EXIT_DATA;
    }
    /* --max-rejects N stops at the record past it (which still goes to
     * --rejects and is counted, so that in = out + rejected holds); a
     * percentage is only known at the end (guard_rails) */
    const la_reject_limit *lim = &s->o->max_rejects;
    if (s->shown < SHOWN_REJECTS || (lim->set && !lim->percent))
        progress_clear(s);
    if (stops_at(s, s->shown + 1)) {
        cli_msg("%s:%llu: %s (rejected record %llu, more than --max-rejects %llu allows: the run stops)", name,
                (unsigned long long)line, e->msg, (unsigned long long)(s->shown + 1),
                (unsigned long long)lim->count);
        s->limit_hit = 1;
    } else if (s->shown < SHOWN_REJECTS) {
        cli_msg("%s:%llu: %s (skipped)", name, (unsigned long long)line, e->msg);
    }
    s->shown++;
    return s->limit_hit ? EXIT_DATA : 0;
}

/* Makes room in *arr (cap elements of size sz, `first` at first) for
 * element n: 0, or -1 when out of memory. */
static int room_for(void **arr, size_t *cap, size_t n, size_t sz, size_t first)
{
    return la_grow(arr, cap, n + 1, sz, first);
}

/* Files the outcome rc (reason in *e) of the record in[off..off+len) as
 * b->recs[b->n], its output at out[out_off..] when accepted; `check`
 * says whether that output may span lines. 0, or -1 when out of memory. */
static int file_record(batch *b, size_t off, size_t len, uint64_t line, uint64_t elem, size_t out_off, int rc,
                       const la_err *e, int check)
{
    if (room_for((void **)&b->recs, &b->cap, b->n, sizeof *b->recs, 256))
        return -1;
    batch_rec *r = &b->recs[b->n++];
    r->off = off;
    r->len = len;
    r->line = line;
    r->elem = elem;
    r->out_off = out_off;
    if (rc == LA_OK) {
        r->out_len = b->out.len - r->out_off;
        r->err = -1;
        /* JSONL lines are finished here, off the main thread, unless a
         * record spans lines and must be compacted by the writer */
        if (b->lines && ((check && (memchr(b->out.data + r->out_off, '\n', r->out_len) ||
                                    memchr(b->out.data + r->out_off, '\r', r->out_len))) ||
                         la_buf_putc(&b->out, '\n')))
            b->lines = 0;
        return 0;
    }
    if (room_for((void **)&b->errs, &b->errs_cap, b->nerrs, sizeof *b->errs, 16))
        return -1;
    /* no record is rejected for these: the run stops (a cache entry
     * found damaged mid-run has been removed, and the next run makes it
     * again) */
    if (strcmp(e->code, "out_of_memory") == 0 || strcmp(e->code, "bad_cache") == 0) {
        if (!b->fatal)
            b->fatal_err = *e;
        b->fatal = 1;
    }
    b->errs[b->nerrs] = *e;
    r->err = (int)b->nerrs++;
    return 0;
}

/* Processes the record rec[0..len) as b->recs[b->n] (a worker's proc, or
 * the main thread's when there are no workers); `check` says whether its
 * output may span lines. 0, or -1 when out of memory. */
static int process_one(la_proc *proc, batch *b, size_t off, size_t len, uint64_t line, uint64_t elem, int check)
{
    la_err e;
    size_t out_off = b->out.len;
    int rc = la_proc_record(proc, b->in.data + off, len, &b->out, &b->st, &e);
    return file_record(b, off, len, line, elem, out_off, rc, &e, check);
}

/* Processes the line at in[off..raw_len) the fast way when it can
 * (la_proc_line): 1 when done, with *next past its line feed; 0 when it
 * must go the general way; -1 when out of memory. Its output holds no
 * line break, so it needs no check. */
static int process_fast(la_proc *proc, batch *b, size_t off, uint64_t line, size_t *next)
{
    la_err e;
    size_t out_off = b->out.len, len;
    int rc = la_proc_line(proc, b->in.data + off, b->raw_len - off, &len, next, &b->out, &b->st, &e);
    if (rc == LA_PROC_GENERAL)
        return 0;
    *next += off;
    return file_record(b, off, len, line, 0, out_off, rc, &e, 0) ? -1 : 1;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Splits the lines of a raw batch from next_off into records, as the
 * reader does (CR LF, blank lines skipped), up to BATCH_RECORDS of them,
 * so that a batch of tiny lines keeps its bookkeeping small; the writer
 * has the rest processed afterwards. Line numbers are relative to the
 * batch. */
static void process_lines(la_proc *proc, batch *b)
{
    const char *d = b->in.data;
    size_t a = b->next_off, len = b->raw_len;
    uint64_t line = b->next_line;
    /* a line holds no line feed, so without any carriage return no output
     * line needs the check for line breaks */
    int check = b->padded || memchr(d + a, '\r', len - a) != NULL;
    while (a < len && b->n < BATCH_RECORDS) {
        if (b->padded) {
            size_t next;
            int rc = process_fast(proc, b, a, line, &next);
            if (rc < 0) {
                b->fatal = 1;
                return;
            }
            if (rc) {
                line++;
                a = next;
                continue;
            }
        }
        const char *nl = memchr(d + a, '\n', len - a);
        size_t stop = nl ? (size_t)(nl - d) : len, e = stop, k = a;
        if (e > a && d[e - 1] == '\r')
            e--;
        while (k < e && is_ws(d[k]))
            k++;
        if (k < e && process_one(proc, b, a, e - a, line, 0, check)) {
            b->fatal = 1;
            return;
        }
        line++;
        a = stop + 1;
    }
    b->next_off = a < len ? a : len;
    b->next_line = line;
}

/* Processes every record of batch b (or, for a raw batch, its next
 * BATCH_RECORDS) with proc. */
static void process_batch(la_proc *proc, batch *b, int jsonl)
{
    la_buf_clear(&b->out);
    b->lines = jsonl;
    memset(&b->st, 0, sizeof b->st);
    b->nerrs = 0;
    b->fatal = 0;
    b->fatal_err.msg[0] = 0;
    if (b->raw_len) {
        b->n = 0;
        process_lines(proc, b);
        return;
    }
    size_t n = b->n;
    b->n = 0;
    for (size_t i = 0; i < n; i++)
        if (process_one(proc, b, b->recs[i].off, b->recs[i].len, b->recs[i].line, b->recs[i].elem, 1)) {
            b->fatal = 1;
            return;
        }
}

static void *worker_main(void *arg)
{
    worker *wk = arg;
    run_state *s = wk->s;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        batch *b = NULL;
        /* the oldest queued batch first, so the writer waits least */
        for (uint64_t q = s->seq_write; q < s->seq_fill && !b; q++)
            if (s->slots[q % s->nslots].state == B_QUEUED)
                b = &s->slots[q % s->nslots];
        if (!b) {
            if (s->quit)
                break;
            pthread_cond_wait(&s->work_cv, &s->mu);
            continue;
        }
        b->state = B_BUSY;
        pthread_mutex_unlock(&s->mu);
        process_batch(wk->proc, b, s->jsonl_out);
        pthread_mutex_lock(&s->mu);
        b->state = B_DONE;
        pthread_cond_broadcast(&s->done_cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Compressed output is flushed (la_writer_sync) after a part once this
 * much output came since the last flush: rarely enough to cost next to
 * nothing in size (a bzip2 block holds 900 kB), often enough that a
 * failed write loses little; and once this much of rejects waits for
 * it, so that memory stays flat. Plain output is written out after
 * every part. */
#define SYNC_EVERY (4u << 20)
#define REJECTS_HELD (1u << 20)

/* How many of records [0, n) of b go before the run stops at the reject
 * past --max-rejects N (that one included), as reject decides it. */
static size_t limit_cut(const run_state *s, const batch *b, size_t n)
{
    uint64_t k = s->shown;
    for (size_t i = 0; i < n; i++)
        if (b->recs[i].err >= 0 && stops_at(s, ++k))
            return i + 1;
    return n;
}

/* Cuts the rejects file (rej_trunc) back to its first off bytes, the
 * rejects the report counts. */
static void rejects_cut(run_state *s, uint64_t off)
{
    if (off < s->rej_off && ftruncate(s->rej_fd, (off_t)off) == 0 && lseek(s->rej_fd, (off_t)off, SEEK_SET) >= 0)
        s->rej_off = off;
}

/* Appends the rejects among records [0, n) of b to out, a line each: 0,
 * or -1 (said) when out of memory. */
static int gather_rejects(const batch *b, size_t n, la_buf *out)
{
    for (size_t i = 0; i < n; i++)
        if (b->recs[i].err >= 0 && (la_buf_append(out, b->in.data + b->recs[i].off, b->recs[i].len) ||
                                    la_buf_putc(out, '\n'))) {
            cli_msg("%s: out of memory", b->name);
            return -1;
        }
    return 0;
}

/* Writes the rejects of records [0, *n) of b (rej_trunc), before their
 * output. 0; or, when the file fails, EXIT_IOERR with the file cut back
 * to its whole rejects and *n cut to the records before the first that
 * is not in it. */
static int write_rejects(run_state *s, batch *b, size_t *n)
{
    la_err e;
    size_t done = 0, at = 0, i;
    la_buf_clear(&s->rej_buf);
    if (gather_rejects(b, *n, &s->rej_buf)) {
        *n = 0;
        return EXIT_IOERR;
    }
    if (!s->rej_buf.len || !la_write_counted(s->rej_fd, s->rej_buf.data, s->rej_buf.len, &done, &e)) {
        s->rej_off += s->rej_buf.len;
        return 0;
    }
    for (i = 0; i < *n; i++)
        if (b->recs[i].err >= 0) {
            if (at + b->recs[i].len + 1 > done)
                break;
            at += b->recs[i].len + 1;
        }
    s->rej_off += done;
    rejects_cut(s, s->rej_off - done + at);
    *n = i;
    cli_msg("%s: %s", s->o->rejects, e.msg);
    return EXIT_IOERR;
}

static void drop_pending(run_state *s)
{
    memset(&s->pend_st, 0, sizeof s->pend_st);
    la_buf_clear(&s->pend_rej);
}

/* Makes what was handed to the writer surely in its file, then counts
 * the pending parts and writes their rejects. 0 or an exit code (-1:
 * the output's reader went away); on failure the pending parts are
 * dropped, and with them the records after the last flush. */
static int commit(run_state *s)
{
    la_err e;
    int rc = 0;
    if (la_writer_sync(s->w, &e)) {
        s->broken = 1;
        rc = write_failed(s, &e);
        /* the counts stop at the last commit (plain output: count_written
         * then counts on, and cuts the rejects itself) */
        if (s->rej_trunc && s->out.compress != LA_Z_NONE)
            rejects_cut(s, s->rej_committed);
    } else if (s->pend_rej.len && la_write_all(s->rej_fd, s->pend_rej.data, s->pend_rej.len, &e)) {
        /* the counts stop where both files were last whole */
        cli_msg("%s: %s", s->o->rejects, e.msg);
        rc = EXIT_IOERR;
    } else {
        la_stats_merge(&s->st, &s->pend_st);
        s->rej_committed = s->rej_off;
    }
    drop_pending(s);
    return rc;
}

/* Counts records [0, n) of b into st again, one by one (the batch's own
 * counts cover all of it). */
static void recount(run_state *s, batch *b, size_t n, la_stats *st)
{
    la_err e;
    la_buf scratch = {0};
    for (size_t j = 0; j < n; j++) {
        la_buf_clear(&scratch);
        la_proc_record(s->proc, b->in.data + b->recs[j].off, b->recs[j].len, &scratch, st, &e);
    }
    la_buf_free(&scratch);
}

/* Plain output that failed within part b: the file took its records up
 * to the first that does not end within what the file took (a reject
 * sits where the output stood when it came); those count and their
 * rejects are written. */
static void count_written(run_state *s, batch *b, size_t n, uint64_t rej_start)
{
    uint64_t in_file = la_writer_confirmed(s->w);
    size_t upto = 0;
    while (upto < n && b->recs[upto].end <= in_file)
        upto++;
    recount(s, b, upto, &s->st);
    if (s->rej_trunc) {
        /* written with the part, from rej_start: those of the records
         * counted kept */
        uint64_t keep = rej_start;
        for (size_t i = 0; i < upto; i++)
            keep += b->recs[i].err >= 0 ? b->recs[i].len + 1 : 0;
        rejects_cut(s, keep);
        return;
    }
    la_err e;
    for (size_t i = 0; i < upto && s->rej_fd >= 0 && s->o->skip_bad; i++)
        if (b->recs[i].err >= 0 && (la_write_all(s->rej_fd, b->in.data + b->recs[i].off, b->recs[i].len, &e) ||
                                    la_write_all(s->rej_fd, "\n", 1, &e))) {
            cli_msg("%s: %s", s->o->rejects, e.msg);
            return;
        }
}

/* Writes the processed records of a batch part: accepted records to the
 * output; refused ones go to the rejects once the output before them is
 * in its file (commit), or, when the rejects file can be cut back
 * (rej_trunc), before the part's output (write_rejects). base + a
 * record's line is its line number. The part ends early at the record
 * that ends the run (--on-error fail, --max-rejects N). What the report
 * counts is what the files hold: after a failed write (a full disk, the
 * output's reader gone), the records up to the last one whole in the
 * file (for compressed output, up to the last flush), and their rejects,
 * the same for any number of threads. */
static int write_part(run_state *s, batch *b, uint64_t base)
{
    la_err e;
    if (b->fatal) {
        cli_msg("%s: %s", b->name, b->fatal_err.msg[0] ? b->fatal_err.msg : "out of memory");
        return EXIT_IOERR;
    }
    size_t n = b->n;   /* records handed: all, or up to the one that ends the run */
    int rc = 0, rrc = 0, early = s->rej_trunc && s->o->skip_bad && b->nerrs;
    uint64_t rej_start = s->rej_off;
    if (early) {
        /* the rejects first (up to the one past --max-rejects N), the part
         * cut before the first the file did not take; they are said once
         * the output has settled which records count */
        n = limit_cut(s, b, n);
        rrc = write_rejects(s, b, &n);
    }
    if (b->lines && b->nerrs == 0) {   /* the common case: one write for the part */
        uint64_t start = la_writer_pos(s->w);
        for (size_t i = 0; i < n; i++)
            b->recs[i].end = start + b->recs[i].out_off + b->recs[i].out_len + 1;
        if (la_writer_lines(s->w, b->out.data, b->out.len, n, &e))
            rc = write_failed(s, &e);
    } else {
        int orc = 0;
        for (size_t i = 0; i < n && !orc && !(rc && !early); i++) {
            batch_rec *r = &b->recs[i];
            if (r->err >= 0) {
                r->end = la_writer_pos(s->w);
                if (!early &&
                    (rc = reject(s, b->name, base + r->line, &b->errs[r->err], b->in.data + r->off, r->len, r->elem)))
                    n = i + 1;
            } else if (la_writer_record(s->w, b->out.data + r->out_off, r->out_len, &e)) {
                orc = write_failed(s, &e);
                r->end = UINT64_MAX;
                n = i + 1;
            } else {
                r->end = la_writer_pos(s->w);
            }
        }
        rc = orc ? orc : rc;
    }
    for (size_t i = 0; early && i < n; i++) {
        batch_rec *r = &b->recs[i];
        int drc;
        if (r->err >= 0 &&
            (drc = reject(s, b->name, base + r->line, &b->errs[r->err], b->in.data + r->off, r->len, r->elem)) && !rc)
            rc = drc;
    }
    if (rc && rc != EXIT_DATA) {
        s->broken = 1;
        drop_pending(s);
        if (s->out.compress == LA_Z_NONE)
            count_written(s, b, n, rej_start);
        else if (s->rej_trunc)
            rejects_cut(s, s->rej_committed);   /* the counts stop at the last flush */
        return rc == -1 && rrc ? rrc : rc;   /* a closed pipe does not hide a failed --rejects */
    }
    if (n == b->n)
        la_stats_merge(&s->pend_st, &b->st);
    else
        recount(s, b, n, &s->pend_st);
    if (!s->rej_trunc && s->rej_fd >= 0 && s->o->skip_bad && gather_rejects(b, n, &s->pend_rej))
        return EXIT_IOERR;
    if (rc || rrc || s->out.compress == LA_Z_NONE || la_writer_pos(s->w) - la_writer_confirmed(s->w) >= SYNC_EVERY ||
        s->pend_rej.len >= REJECTS_HELD) {
        int crc = commit(s);
        if (crc && s->broken && s->out.compress == LA_Z_NONE)
            count_written(s, b, n, rej_start);
        if (crc)
            rc = crc;
    }
    return rrc && (!rc || rc == EXIT_DATA || rc == -1) ? rrc : rc;
}

/* Writes a finished batch; the records of a raw batch that its worker
 * left (past BATCH_RECORDS) are processed here, in order. */
static int write_batch(run_state *s, batch *b)
{
    if (!b->raw_len)
        return write_part(s, b, 0);
    if (b->new_input)
        s->line_base = 1;
    int rc;
    while (!(rc = write_part(s, b, s->line_base)) && b->next_off < b->raw_len)
        process_batch(s->proc, b, s->jsonl_out);
    s->line_base += b->next_line;
    return rc;
}

/* Writes the oldest batch and reports progress. cur_reader is only set
 * and cleared by the main thread while no batch of that input is in
 * flight, and the mutex orders those stores before and after this. */
static int retire(run_state *s, batch *b)
{
    int rc = write_batch(s, b);
    if (s->show_progress && s->cur_reader)
        progress(s, s->cur_reader, 0);
    return rc;
}

/* The writer thread: writes finished batches in input order and frees
 * their slots. On the first error it records the exit code and stops;
 * the main thread sees it when it next waits for a slot or drains. */
static void *writer_main(void *arg)
{
    run_state *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        batch *b = &s->slots[s->seq_write % s->nslots];
        if (s->wquit)
            break;
        if (s->seq_write == s->seq_fill || b->state != B_DONE) {
            pthread_cond_wait(&s->done_cv, &s->mu);
            continue;
        }
        pthread_mutex_unlock(&s->mu);
        int rc = retire(s, b);
        pthread_mutex_lock(&s->mu);
        b->state = B_FREE;
        s->seq_write++;
        pthread_cond_signal(&s->free_cv);
        if (rc) {
            s->wrc = rc;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Stops the writer thread after the batch it is writing, if any: once a
 * run fails on the main thread's side, no further batch is written. */
static void stop_writer(run_state *s)
{
    if (!s->writer_on)
        return;
    pthread_mutex_lock(&s->mu);
    s->wquit = 1;
    pthread_cond_signal(&s->done_cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->wtid, NULL);
    s->writer_on = 0;
}

/* Waits until every submitted batch is written, or the writer failed:
 * 0, or the writer's exit code. */
static int drain(run_state *s)
{
    if (!s->nworkers)
        return 0;   /* batches were written as they were submitted */
    pthread_mutex_lock(&s->mu);
    while (!s->wrc && s->seq_write < s->seq_fill)
        pthread_cond_wait(&s->free_cv, &s->mu);
    int rc = s->wrc;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* Hands the batch being filled to the workers (or processes and writes
 * it here), then makes the next slot ready, waiting for the writer to
 * free it when every slot is in flight. */
static int submit(run_state *s)
{
    batch *b = &s->slots[s->seq_fill % s->nslots];
    if (b->n == 0 && !b->raw_len)
        return 0;
    if (s->nworkers) {
        /* wait for the next slot to be written and freed */
        pthread_mutex_lock(&s->mu);
        b->state = B_QUEUED;
        s->seq_fill++;
        pthread_cond_signal(&s->work_cv);
        while (!s->wrc && s->seq_fill - s->seq_write >= s->nslots)
            pthread_cond_wait(&s->free_cv, &s->mu);
        int rc = s->wrc;
        pthread_mutex_unlock(&s->mu);
        if (rc)
            return rc;
    } else {
        process_batch(s->proc, b, s->jsonl_out);
        s->seq_fill++;
        int rc = retire(s, b);
        s->seq_write++;
        if (rc)
            return rc;
    }
    batch *nb = &s->slots[s->seq_fill % s->nslots];
    nb->n = 0;
    nb->raw_len = nb->next_off = 0;
    nb->padded = 0;
    nb->next_line = 0;
    nb->new_input = 0;
    la_buf_clear(&nb->in);
    return 0;
}

/* Copies one record into the batch being filled. */
static int add_record(run_state *s, const char *name, const char *rec, size_t len, uint64_t line, uint64_t elem)
{
    batch *b = &s->slots[s->seq_fill % s->nslots];
    if (b->n > 0 && (b->in.len + len > BATCH_BYTES || b->n == BATCH_RECORDS || b->name != name)) {
        int rc = submit(s);
        if (rc)
            return rc;
        b = &s->slots[s->seq_fill % s->nslots];
    }
    if (room_for((void **)&b->recs, &b->cap, b->n, sizeof *b->recs, 256))
        goto oom;
    b->name = name;
    b->recs[b->n].off = b->in.len;
    b->recs[b->n].len = len;
    b->recs[b->n].line = line;
    b->recs[b->n].elem = elem;
    if (la_buf_append(&b->in, rec, len))
        goto oom;
    b->n++;
    return 0;
oom:
    cli_msg("%s:%llu: out of memory", name, (unsigned long long)line);
    return EXIT_IOERR;
}

/* The last line break in b->in, plus one; 0 when there is none. */
static size_t whole_lines(const batch *b)
{
    size_t k = b->in.len;
    while (k > 0 && b->in.data[k - 1] != '\n')
        k--;
    return k;
}

/* Hands the whole lines of the batch being filled, in[0..cut), to the
 * workers, and carries the rest, the start of a line, over to the next
 * batch. */
static int submit_lines(run_state *s, const char *name, size_t cut, int *first)
{
    batch *b = &s->slots[s->seq_fill % s->nslots];
    if (cut) {
        b->raw_len = cut;
        b->new_input = *first;
        b->name = name;
        *first = 0;
        /* without room for the padding, the lines go the general way */
        b->padded = fast_lines && la_buf_reserve(&b->in, LINE_PAD) == LA_OK;
        if (b->padded)
            memset(b->in.data + b->in.len, 0, LINE_PAD);
    }
    size_t tail = b->in.len - cut;
    int rc = submit(s);
    if (rc || !tail)
        return rc;
    batch *nb = &s->slots[s->seq_fill % s->nslots];
    if (nb == b) {   /* one slot: it has been written already */
        memmove(b->in.data, b->in.data + cut, tail);
    } else {         /* b is only read by its worker, and only below cut */
        if (la_buf_reserve(&nb->in, tail)) {
            cli_msg("%s: out of memory", name);
            return EXIT_IOERR;
        }
        memcpy(nb->in.data, b->in.data + cut, tail);
    }
    nb->in.len = tail;
    return 0;
}

/* The size of batch k of an input, done bytes of size (0: not known)
 * read: small at first, so that the workers start soon after the first
 * bytes came in, then doubling up to BATCH_BYTES; near the end of a file
 * of known size, a share of what is left, so that the workers run out
 * of work together rather than one of them finishing a whole batch
 * alone (for compressed input the share is of the compressed bytes:
 * smaller batches, never below BATCH_FIRST). Small inputs also touch
 * less fresh memory. Compressed output gets no share: each batch ends
 * with a flush of the compressor (write_part), so its bytes follow the
 * batches, which must then not depend on the threads nor on how far a
 * decompressing reader ran ahead. */
static size_t batch_limit(const run_state *s, uint64_t k, uint64_t done, uint64_t size)
{
    size_t limit = BATCH_FIRST << (k < 8 ? k : 8);
    if (limit > BATCH_BYTES)
        limit = BATCH_BYTES;
    if (size > done && s->nworkers > 1 && s->out.compress == LA_Z_NONE) {
        uint64_t share = (size - done) / (2 * (uint64_t)s->nworkers);
        if (share < limit)
            limit = share > BATCH_FIRST ? (size_t)share : BATCH_FIRST;
    }
    return limit;
}

/* Reads a JSONL input straight into batches of batch_limit bytes (more
 * when one line is longer); the workers split the lines. size: the
 * file's, 0 when not known. Returns 0 or an exit code; *got < 0 with *e
 * set when reading failed, after the whole lines read until then were
 * submitted. */
static int read_lines(run_state *s, la_reader *r, const char *name, uint64_t size, int *got, la_err *e)
{
    int first = 1;
    uint64_t k = 0;
    *got = 0;
    for (;;) {
        batch *b = &s->slots[s->seq_fill % s->nslots];
        size_t limit = batch_limit(s, k++, la_reader_bytes(r), size), cut = 0, n = 0;
        for (;;) {
            if (b->in.len >= limit) {
                if ((cut = whole_lines(b)) > 0)
                    break;
                limit = b->in.len * 2;   /* one line fills the batch: read on */
            }
            if (la_buf_reserve(&b->in, limit - b->in.len)) {
                la_err_set(e, LA_ENOMEM, "out_of_memory", "out of memory for a record of %zu bytes", b->in.len);
                *got = LA_ENOMEM;
                return 0;
            }
            int rc = la_reader_read(r, b->in.data + b->in.len, limit - b->in.len, &n, e);
            if (rc) {   /* the cut line is no record */
                *got = rc;
                b->in.len = whole_lines(b);
                return submit_lines(s, name, b->in.len, &first);
            }
            if (n == 0) {
                cut = b->in.len;
                break;
            }
            b->in.len += n;
        }
        int rc = submit_lines(s, name, cut, &first);
        if (rc || n == 0)
            return rc;
    }
}

/* Creates the writer: the first input's format decides the output's. */
static int make_writer(run_state *s, la_reader *r, la_err *e)
{
    int fmt = s->o->output_format ? s->o->output_format : la_reader_format(r);
    s->jsonl_out = fmt != LA_IO_JSON;
    s->st.out_format = fmt == LA_IO_JSON ? LA_IO_JSON : LA_IO_JSONL;
    s->st.out_compress = s->out.compress;
    if (!(s->w = la_writer_new(s->out.fd, fmt, e)) || la_writer_compress(s->w, s->out.compress, e)) {
        cli_msg("%s", e->msg);
        return EXIT_IOERR;
    }
    if (fmt == LA_IO_JSON && s->o->split_n > 1)   /* each split writes its part of one array */
        la_writer_part(s->w, s->o->split_k == 0, s->o->split_k + 1 == s->o->split_n);
    return 0;
}

/* How much further a compressed input is decoded, after a bad record,
 * to see whether the file is damaged: enough for the block or stream
 * check of any of the four formats to come within most files, without a
 * failing run on a huge input decoding all of it. */
#define DAMAGE_LOOK (16u << 20)

/* A run that stopped at a bad record (or framing) of a compressed file
 * (fd): when the rest of the stream (DAMAGE_LOOK of it) fails its
 * decoder's check, the file is damaged, which is the more likely cause
 * and the one the user must mend, so that is said and rc becomes
 * EXIT_IOERR. A pipe is not read on: its writer may not end soon. */
static int damaged_input(la_reader *r, int fd, const char *name, int rc)
{
    static const char *const tool[] = { "", "gzip", "zstd", "xz", "bzip2" };
    int z = la_reader_compression(r);
    la_err e = {{0}, {0}};
    struct stat sb;
    if (z == LA_Z_NONE || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
        la_reader_check_rest(r, DAMAGE_LOOK, &e) != LA_EIO)
        return rc;
    if (strcmp(name, "-") == 0)
        cli_msg("-: %s: the compressed data is damaged (the bad data above may be its first sign); restore the "
                "input", e.msg);
    else
        cli_msg("%s: %s: the compressed data is damaged (the bad data above may be its first sign); "
                "restore the file (`%s -t %s` tests it)", name, e.msg, tool[z], name);
    return EXIT_IOERR;
}

/* Reads every record of one input into batches. */
static int run_input(run_state *s, const char *path)
{
    int fd, rc = open_input(path, &fd);
    if (rc)
        return rc;
    const char *name = display_name(path);
    la_err e = {{0}, {0}};
    cli_split *sp = s->o->split_n ? &s->split : NULL;
    if (sp && (rc = cli_split_open(s->o, name, fd, sp))) {
        if (fd > 0)
            close(fd);
        return rc;
    }
    la_reader *r = la_reader_new(fd, sp ? sp->format : s->o->input_format, &e);
    if (r && sp && la_reader_range(r, sp->end - sp->start, sp->start > 0, sp->end < sp->size || sp->start == sp->size, &e)) {
        la_reader_free(r);
        r = NULL;
    }
    if (!r) {
        cli_msg("%s", e.msg);
        if (fd > 0)
            close(fd);
        return EXIT_IOERR;
    }
    if (sp)
        s->total_bytes = sp->end - sp->start;
    s->cur_reader = r;
    const char *rec;
    size_t len;
    uint64_t line = 0, elems = 0;
    int got = la_reader_begin(r, &e);
    if (got == LA_OK && la_reader_format(r) == LA_IO_JSONL && !s->o->shard_n) {
        /* JSONL without --shard: the main thread only moves bytes */
        struct stat sb;
        uint64_t size = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
        if (!(rc = s->w ? 0 : make_writer(s, r, &e)))
            rc = read_lines(s, r, name, size, &got, &e);
    } else if (got == LA_OK) {
        got = 1;
    }
    while (got == 1 && ((got = la_reader_next(r, &rec, &len, &line, &e)) == 1 || (got == 0 && !s->w))) {
        if (!s->w) {
            if ((rc = make_writer(s, r, &e)))
                break;
            if (got == 0)
                break;
        }
        uint64_t elem = la_reader_format(r) != LA_IO_JSON ? 0 : s->o->split_k ? ELEM_UNKNOWN : ++elems;
        if (s->o->shard_n && s->index++ % s->o->shard_n != s->o->shard_k)
            continue;
        if ((rc = add_record(s, name, rec, len, line, elem)))
            break;
    }
    /* records framed before a framing error are still written */
    if (!rc)
        rc = submit(s);
    if (!rc)
        rc = drain(s);
    /* after any failure no further batch is written, and the writer is
     * done with this input's reader before it is freed */
    if (rc)
        stop_writer(s);
    if (got < 0 && !rc) {
        if (strcmp(e.code, "read_error") == 0 || strcmp(e.code, "out_of_memory") == 0) {
            cli_msg("%s: %s", name, e.msg);
            rc = EXIT_IOERR;
        } else if (strcmp(e.code, "input_shape") == 0) {   /* the message says where */
            cli_msg("%s: %s", name, e.msg);
            rc = EXIT_DATA;
        } else if (sp && strcmp(e.code, "split_boundary") == 0) {
            cli_msg("%s: --split %llu/%llu: the next split starts at byte %llu, found by a scan from byte %llu, and "
                    "that is not the start of an element of the array (the array's strings defeated the scan): its "
                    "output is wrong; use --shard K/N, or make the array JSONL (jq -c '.[]' FILE > FILE.jsonl) and "
                    "split that", name, (unsigned long long)s->o->split_k, (unsigned long long)s->o->split_n,
                    (unsigned long long)sp->end,
                    (unsigned long long)((unsigned __int128)sp->size * (s->o->split_k + 1) / s->o->split_n));
            rc = EXIT_DATA;
        } else {
            if (sp)
                line = cli_split_line(sp, line);
            cli_msg("%s:%llu: %s", name, (unsigned long long)line, e.msg);
            rc = EXIT_DATA;
        }
    }
    if (rc == EXIT_DATA)
        rc = damaged_input(r, fd, name, rc);
    s->cur_reader = NULL;
    s->done_bytes += la_reader_bytes(r);
    s->done_data += la_reader_data_bytes(r);
    /* every shard reads all the input; shard 0 alone counts it, so that
     * merged shard statistics equal a single run's */
    /* (a failed input is not counted: how far it was read ahead depends
     * on the threads) */
    if (!rc && got >= 0 && (!s->o->shard_n || s->o->shard_k == 0))
        s->st.bytes_in += la_reader_bytes(r);
    la_reader_free(r);
    if (fd > 0)
        close(fd);
    return rc;
}

/* Starts the batch slots and, with more than one thread, the workers. */
static int start_workers(run_state *s, int threads, const la_config *cfg)
{
    s->nworkers = threads > 1 ? threads : 0;
    /* one batch per worker in flight, one being filled, one being written
     * and one finished, so that the reader need not wait for the writer
     * whenever a write takes longer than a read: memory stays flat, a few
     * hundred KB a thread */
    s->nslots = s->nworkers ? (size_t)s->nworkers + 3 : 1;
    s->slots = calloc(s->nslots, sizeof *s->slots);
    s->workers = s->nworkers ? calloc((size_t)s->nworkers, sizeof *s->workers) : NULL;
    if (!s->slots || (s->nworkers && !s->workers))
        return -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work_cv, NULL);
    pthread_cond_init(&s->done_cv, NULL);
    pthread_cond_init(&s->free_cv, NULL);
    if (s->nworkers) {
        if (pthread_create(&s->wtid, NULL, writer_main, s)) {
            s->nworkers = 0;
            return -1;
        }
        s->writer_on = 1;
    }
    for (int i = 0; i < s->nworkers; i++) {
        la_err e;
        worker *wk = &s->workers[i];
        wk->s = s;
        if (!(wk->proc = la_proc_new(cfg, &e)) || pthread_create(&wk->tid, NULL, worker_main, wk)) {
            la_proc_free(wk->proc);
            wk->proc = NULL;
            s->nworkers = i;
            return -1;
        }
    }
    return 0;
}

static void stop_workers(run_state *s)
{
    if (!s->slots)
        return;
    stop_writer(s);
    pthread_mutex_lock(&s->mu);
    s->quit = 1;
    pthread_cond_broadcast(&s->work_cv);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->nworkers; i++) {
        pthread_join(s->workers[i].tid, NULL);
        la_proc_free(s->workers[i].proc);
    }
    for (size_t i = 0; i < s->nslots && s->slots; i++) {
        la_buf_free(&s->slots[i].in);
        la_buf_free(&s->slots[i].out);
        free(s->slots[i].recs);
        free(s->slots[i].errs);
    }
    free(s->slots);
    free(s->workers);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->work_cv);
    pthread_cond_destroy(&s->done_cv);
    pthread_cond_destroy(&s->free_cv);
}

/* Writes the run's report to --stats (cli_stats_write: whole or not at
 * all; with staged, left in its temporary file for cli_stats_put). */
static int write_stats(run_state *s, double seconds, char **staged)
{
    la_buf b = {0};
    if (staged)
        *staged = NULL;
    if (la_stats_json(&s->st, &s->o->cfg, seconds, &b) != LA_OK) {
        la_buf_free(&b);
        cli_msg("%s: out of memory", s->o->stats);
        return EXIT_IOERR;
    }
    int rc = cli_stats_write(s->o->stats, &b, staged);
    la_buf_free(&b);
    return rc;
}

static void summary(run_state *s, double seconds)
{
    const la_stats *st = &s->st;
    double mbi = (double)st->bytes_in / 1e6, mbo = (double)st->bytes_out / 1e6;
    int nw = __builtin_popcount(st->warnings);
    fprintf(stderr, "lookahead: %llu records in, %llu out, %llu rejected; %.1f MB -> %.1f MB in %.2f s (%.1f MB/s)",
            (unsigned long long)st->records_in, (unsigned long long)st->records_out,
            (unsigned long long)st->records_rejected, mbi, mbo, seconds, seconds > 0 ? mbi / seconds : 0.0);
    if (nw)
        fprintf(stderr, "; %d warning%s", nw, nw == 1 ? "" : "s");
    fputc('\n', stderr);
    if (st->previews) {
        static const char *const plural[] = {"words", "characters", "tokens"};
        fprintf(stderr, "lookahead: preview length in %s: min %llu, mean %.2f, max %llu; %llu answer%s fully previewed\n",
                plural[s->o->cfg.unit], (unsigned long long)st->preview_min,
                (double)st->preview_sum / (double)st->previews, (unsigned long long)st->preview_max,
                (unsigned long long)st->fully_previewed, st->fully_previewed == 1 ? "" : "s");
        if (st->extended)
            fprintf(stderr, "lookahead: %llu preview%s took more than m tokens to end on a whole character\n",
                    (unsigned long long)st->extended, st->extended == 1 ? "" : "s");
    }
    if (s->shown > SHOWN_REJECTS)
        fprintf(stderr, "lookahead: %llu more rejected records not shown\n",
                (unsigned long long)(s->shown - SHOWN_REJECTS));
}

/* The three most frequent reasons in st's reject table, as
 * "reason count, ..." into buf. */
static void top_reasons(const la_stats *st, char *buf, size_t cap)
{
    int used[LA_MAX_REASONS] = {0};
    size_t len = 0;
    buf[0] = 0;
    for (int k = 0; k < 3; k++) {
        size_t best = st->n_rejected_reasons;
        for (size_t i = 0; i < st->n_rejected_reasons; i++)
            if (!used[i] && (best == st->n_rejected_reasons || st->rejected[i].count > st->rejected[best].count))
                best = i;
        if (best == st->n_rejected_reasons)
            break;
        used[best] = 1;
        int n = snprintf(buf + len, cap - len, "%s%s %llu", k ? ", " : "", st->rejected[best].code,
                         (unsigned long long)st->rejected[best].count);
        if (n < 0 || (size_t)n >= cap - len)
            break;
        len += (size_t)n;
    }
}

/* The checks of a run that read all its input (README "Guard rails"):
 * a share of rejects past --max-rejects P%, and no record out of a
 * non-empty input without --allow-empty, fail it (exit 65) so that a CI
 * step does not carry on with a broken dataset. Also reports a stop at
 * --max-rejects N (rc already 65). */
static int guard_rails(run_state *s, int rc)
{
    const la_stats *st = &s->st;
    const la_reject_limit *lim = &s->o->max_rejects;
    char why[256];
    top_reasons(st, why, sizeof why);
    if (s->limit_hit) {
        cli_msg("stopped after %llu rejected records of %llu read (top reasons: %s); raise --max-rejects or fix the "
                "input", (unsigned long long)st->records_rejected, (unsigned long long)st->records_in, why);
        return rc;
    }
    if (rc)
        return rc;
    if (lim->set && lim->percent && la_reject_limit_exceeded(lim, st->records_rejected, st->records_in)) {
        cli_msg("%llu of %llu records rejected (%.2f%%), more than --max-rejects %u.%02u%% allows (top reasons: %s)",
                (unsigned long long)st->records_rejected, (unsigned long long)st->records_in,
                100.0 * (double)st->records_rejected / (double)st->records_in, lim->per10k / 100, lim->per10k % 100,
                why);
        return EXIT_DATA;
    }
    if (!s->o->allow_empty && st->records_in > 0 && st->records_out == 0) {
        cli_msg("no record came out: all %llu records in were rejected (top reasons: %s); check --format and the "
                "field options, or give --allow-empty to accept an empty output",
                (unsigned long long)st->records_in, why);
        return EXIT_DATA;
    }
    return 0;
}

/* Gives warning `kind` (README "Warnings"): counted in the report, one
 * line on stderr unless -q; with --strict an error (always shown).
 * Returns EXIT_DATA with --strict, else 0. */
static int warn(run_state *s, int kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int warn(run_state *s, int kind, const char *fmt, ...)
{
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->st.warnings |= 1u << kind;
    if (s->o->strict) {
        cli_msg("error (--strict): %s", line);
        return EXIT_DATA;
    }
    if (!s->o->quiet)
        cli_msg("warning: %s", line);
    return 0;
}

/* Warnings about the options, before any input is read. */
static int start_warnings(run_state *s)
{
    const cli_opts *o = s->o;
    int rc = 0;
    if (o->cfg.mode == LA_MODE_REAL && o->cfg.unit == LA_UNIT_WORD && !o->unit_given && !o->tokenizer_path)
        rc |= warn(s, LA_WARN_NO_TOKENIZER,
                   "no --tokenizer: real mode counts words (runs of non-space characters), not the model's tokens "
                   "as the paper does; text without spaces (Chinese, Japanese) makes whole answers one word. Give "
                   "--tokenizer PATH (tokenizer.json, model folder or model id), or --unit word to mean words");
    if (o->tokenizer_path && (o->cfg.mode == LA_MODE_VIRTUAL || o->cfg.unit != LA_UNIT_TOKEN))
        rc |= warn(s, LA_WARN_TOKENIZER_UNUSED, "--tokenizer has no effect %s",
                   o->cfg.mode == LA_MODE_VIRTUAL ? "in virtual mode (nothing is previewed)"
                                                  : o->cfg.unit == LA_UNIT_WORD ? "with --unit word"
                                                                                : "with --unit char");
    return rc ? EXIT_DATA : 0;
}

/* Warnings about what the run's records showed, after a complete run. */
static int end_warnings(run_state *s)
{
    static const char *const plural[] = {"words", "characters", "tokens"};
    const la_stats *st = &s->st;
    const cli_opts *o = s->o;
    int rc = 0;
    if (la_stats_many_full(st))
        rc |= warn(s, LA_WARN_FULL_PREVIEWS,
                   "%llu of %llu answers (%.1f%%) were copied whole into the instruction (m = %zu %s): such a "
                   "preview gives the answer away; a smaller --m%s previews less",
                   (unsigned long long)st->fully_previewed, (unsigned long long)st->previews,
                   100.0 * (double)st->fully_previewed / (double)st->previews, o->cfg.m, plural[o->cfg.unit],
                   o->cfg.unit == LA_UNIT_WORD ? ", or --tokenizer," : "");
    if (st->empty_answers)
        rc |= warn(s, LA_WARN_EMPTY_ANSWERS,
                   "%llu answer%s had nothing to preview (empty%s): the instruction ends with the connector alone "
                   "(counted in empty_answers)",
                   (unsigned long long)st->empty_answers, st->empty_answers == 1 ? "" : "s",
                   o->cfg.unit == LA_UNIT_WORD ? " or only white space" : "");
    if (st->records_without_turn)
        rc |= warn(s, LA_WARN_NO_TURN,
                   "%llu chat record%s had no turn to edit (no assistant answer right after a user message) and "
                   "passed through unchanged (counted in records_without_turn)",
                   (unsigned long long)st->records_without_turn, st->records_without_turn == 1 ? "" : "s");
    if (la_stats_many_already(st))
        rc |= warn(s, LA_WARN_ALREADY_EDITED,
                   "%llu of %llu edited instructions (%.1f%%) already ended with the text added to them (%s): the "
                   "input looks like the output of a run, and they now hold it twice (counted in already_edited)",
                   (unsigned long long)st->already_edited, (unsigned long long)st->turns_edited,
                   100.0 * (double)st->already_edited / (double)st->turns_edited,
                   o->cfg.mode == LA_MODE_VIRTUAL ? "the connector and P" : "the connector and the preview");
    if (o->turns_given && st->records_out && st->format_records[LA_FMT_FIELDS] == st->records_out)
        rc |= warn(s, LA_WARN_TURNS_UNUSED,
                   "--turns has no effect: every record was in the fields format (one instruction, one answer)");
    return rc ? EXIT_DATA : 0;
}

/* The inputs' total size for the progress percentage: 0 (not known)
 * unless every input is a regular file. */
static uint64_t total_size(const cli_opts *o)
{
    uint64_t t = 0;
    for (size_t i = 0; i < o->ninputs; i++) {
        struct stat sb;
        int bad = strcmp(o->inputs[i], "-") == 0 ? fstat(0, &sb) : stat(o->inputs[i], &sb);
        if (bad || !S_ISREG(sb.st_mode))
            return 0;
        t += (uint64_t)sb.st_size;
    }
    return t;
}

/* Checks up front that every input can be opened, so that a typo in the
 * last name does not cost a long run. */
static int check_inputs(const cli_opts *o)
{
    for (size_t i = 0; i < o->ninputs; i++) {
        struct stat sb;
        /* a FIFO is not opened twice: its writer would see the first close */
        if (strcmp(o->inputs[i], "-") != 0 && stat(o->inputs[i], &sb) == 0 && S_ISFIFO(sb.st_mode)) {
            if (o->split_n)
                return cli_split_refuse_kind(o, o->inputs[i], sb.st_mode);
            continue;
        }
        int fd, rc = open_input(o->inputs[i], &fd);
        if (rc)
            return rc;
        /* --split refuses what it cannot split before the run starts, as
         * other usage errors (no output, no summary) */
        if (o->split_n)
            rc = cli_split_check(o, display_name(o->inputs[i]), fd);
        if (fd > 0)
            close(fd);
        if (rc)
            return rc;
    }
    return 0;
}

static la_tokenizer *load_tokenizer(const char *path, int *rc)
{
    la_err e = {{0}, {0}};
    la_tokenizer *t = la_tokenizer_load(path, &e);
    if (!t) {
        /* always "PATH: tokenizer: reason", whichever component said it */
        cli_msg("%s: %s%s", path, strncmp(e.msg, "tokenizer:", 10) ? "tokenizer: " : "", e.msg);
        *rc = strcmp(e.code, "cannot_open") == 0 ? EXIT_NOINPUT : EXIT_DATA;
    }
    return t;
}

/* Opens --rejects and -o's temporary file, and starts the workers. */
static int start_run(run_state *s)
{
    cli_opts *o = s->o;
    if (o->rejects && (s->rej_fd = cli_rejects_open(o->rejects, &s->rej_trunc)) < 0) {
        cli_msg("%s: cannot create: %s", o->rejects, strerror(errno));
        return EXIT_CANTCREAT;
    }
    int rc = cli_out_open(o->output, &s->out);
    if (rc)
        return rc;
    cli_stats_note(o->stats);
    s->show_progress = !o->quiet && (o->progress || isatty(2));
    if (s->show_progress)
        s->total_bytes = total_size(o);
    if (start_workers(s, o->threads, &o->cfg)) {
        cli_msg("cannot start %d threads", o->threads);
        return EXIT_IOERR;
    }
    return 0;
}

/* The writer's last bytes. */
static int finish_writer(run_state *s, int rc)
{
    la_err e;
    /* records written before a bad one still reach standard output */
    if ((!rc || (rc == EXIT_DATA && !s->o->output)) && s->w && la_writer_finish(s->w, &e)) {
        int wrc = write_failed(s, &e);
        rc = rc ? rc : wrc;
    }
    if (s->w)
        s->st.bytes_out = la_writer_bytes(s->w);
    return rc;
}

/* Ends the output: the writer's last bytes, then the rename of -o's
 * temporary file; on failure the temporary file goes. A run that has
 * succeeded so far with -o and --stats writes its report first (*staged,
 * *said as write_stats and cli_stats_put), so that a report that cannot be
 * written fails the run before FILE is replaced. */
static int finish_output(run_state *s, int rc, int *said)
{
    char *staged = NULL;
    *said = 0;
    rc = finish_writer(s, rc);
    if (!rc && s->o->output && s->o->stats && !cli_stats_in_place(s->o->stats)) {
        s->st.status = LA_RUN_COMPLETE;
        int src = write_stats(s, now() - s->t0, &staged);
        if (src) {
            rc = src;             /* said so, and the earlier report removed */
            *said = 1;
        }
    }
    if (!rc)
        rc = cli_out_commit(s->o->output, &s->out);
    if (rc)
        cli_out_drop(&s->out);
    if (staged) {
        /* written now, or again below if the run failed after all; until
         * it is in place a signal removes the earlier report */
        int src = cli_stats_put(s->o->stats, staged, !rc);
        if (!rc && !src)
            cli_stats_settled();
        *said = !rc;
        rc = rc ? rc : src;
    }
    return rc;
}

/* Runs the job; rc -1 inside means standard output's reader went away,
 * which ends the run quietly with exit 0. */
int cli_run(cli_opts *o)
{
    run_state s;
    memset(&s, 0, sizeof s);
    s.o = o;
    s.rej_fd = -1;
    s.out.fd = -1;
    s.t0 = now();
    s.st.split_k = o->split_k;
    s.st.split_n = o->split_n;
    s.st.shard_k = o->shard_k;
    s.st.shard_n = o->shard_n;
    const char *scan = getenv("LOOKAHEAD_SCAN");
    if (scan && strcmp(scan, "general") == 0) {
        fast_lines = 0;
        la_json_set_simd(0);
    }
    /* nothing is opened for writing before this check */
    int rc = cli_check_files(o);
    if (rc)
        return rc;
    la_tokenizer *tok = NULL;
    la_err e;
    cli_catch_bus();
    rc = check_inputs(o);
    if (!rc && o->cfg.mode == LA_MODE_REAL && o->cfg.unit == LA_UNIT_TOKEN && (tok = load_tokenizer(o->tokenizer_path, &rc)))
        o->cfg.tokenizer = tok;
    if (!rc && !(s.proc = la_proc_new(&o->cfg, &e))) {
        cli_msg("%s", e.msg);
        la_tokenizer_free(tok);
        return EXIT_USAGE;
    }
    cli_catch_signals();
    if (!rc)
        rc = start_warnings(&s);
    int started = 0;
    if (!rc && !(rc = start_run(&s)))
        started = 1;
    for (size_t i = 0; i < o->ninputs && !rc; i++)
        rc = run_input(&s, o->inputs[i]);
    stop_workers(&s);
    /* the parts handed to the writer since its last flush count once it
     * is flushed, also when the run fails for another reason */
    if (started && s.w && !s.broken) {
        int crc = commit(&s);
        if (crc && !rc)
            rc = crc;
    }
    /* the last progress line before any end message */
    if (s.show_progress && s.progress_shown)
        progress(&s, NULL, 1);
    if (started)
        rc = guard_rails(&s, rc);
    if (started && !rc && o->split_n > 1 && o->split_k == 0 && s.w && !s.jsonl_out && s.st.records_out == 0) {
        /* the first split's part opens the array with its first record */
        cli_msg("--split 0/%llu wrote no record, so the JSON array the splits' outputs make when joined would have no "
                "opening: write JSONL (--output-format jsonl), or use fewer splits",
                (unsigned long long)o->split_n);
        rc = EXIT_DATA;
    }
    if (started && !rc)
        rc = end_warnings(&s);
    /* --rejects is whole before the output is put in place: a failure
     * to close it fails the run */
    if (s.rej_fd >= 0 && close(s.rej_fd) != 0 && rc <= 0) {
        cli_msg("%s: %s", o->rejects, strerror(errno));
        rc = EXIT_IOERR;
    }
    s.rej_fd = -1;
    int stats_said;
    rc = finish_output(&s, rc, &stats_said);
    double secs = now() - s.t0;
    s.st.status = rc == 0 ? LA_RUN_COMPLETE : rc == -1 ? LA_RUN_OUTPUT_CLOSED : LA_RUN_FAILED;
    cli_stats_settled();   /* from here the report is written or removed */
    if (o->stats) {
        int src = stats_said ? 0 : write_stats(&s, secs, NULL);
        if (rc <= 0 && src)
            rc = src;
    }
    if (!o->quiet && rc != -1 && started)
        summary(&s, secs);
    la_writer_free(s.w);
    la_buf_free(&s.pend_rej);
    la_buf_free(&s.rej_buf);
    la_proc_free(s.proc);
    la_tokenizer_free(tok);
    cli_out_free(&s.out);
    return rc == -1 ? 0 : rc;
}
