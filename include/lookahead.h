/*
 * lookahead.h - the public API of liblookahead.
 *
 * The library prepares fine-tuning data with LookAhead Tuning: it frames
 * records from a byte stream, validates them strictly, finds the string
 * values it must edit, computes the new values (virtual or real transform)
 * and splices them back so that every other byte of a record is kept.
 *
 * Conventions:
 *  - every name has the la_ prefix;
 *  - the library never prints and never exits: a function that can fail
 *    returns an int status (0 = success, a negative LA_E* code otherwise)
 *    and, where it takes one, fills an la_err with a human reason;
 *  - ownership is stated on each function: "new" means the caller frees;
 *  - objects are not shared between threads unless a comment says so.
 */
#ifndef LOOKAHEAD_H
#define LOOKAHEAD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LA_VERSION "0.1.0"

/* ---- status codes ---------------------------------------------------- */
enum {
    LA_OK = 0,
    LA_ENOMEM = -1,   /* out of memory */
    LA_EDATA = -2,    /* bad input data (a record, a tokenizer file) */
    LA_EIO = -3,      /* read or write failed */
    LA_EUNSUP = -4,   /* a valid but unsupported construct */
    LA_EARG = -5      /* bad argument from the caller */
};

/* An error reason, filled by a failing call. `msg` is one line, no
 * trailing newline, never names the file (the caller knows it). `code`
 * is a short stable identifier for counting (e.g. "invalid_json"). */
typedef struct {
    char code[32];
    char msg[384];
} la_err;

/* Fills err (if non-NULL) and returns status; printf-style message. */
int la_err_set(la_err *err, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- growable byte buffer -------------------------------------------- */
/* A buffer owns `data` (NUL-terminated when len < cap, which la_buf
 * functions keep true). Zero-initialise to start; la_buf_free releases. */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} la_buf;

int la_buf_reserve(la_buf *b, size_t extra);          /* room for extra+1 */
/* Room for `need` items of `size` bytes in *arr (*cap of them, from
 * `first`, doubled until enough); 0, or -1 when out of memory. */
int la_grow(void **arr, size_t *cap, size_t need, size_t size, size_t first);
int la_buf_append_slow(la_buf *b, const void *p, size_t n);
int la_buf_putc_slow(la_buf *b, char c);
/* Appends n bytes; inline because records are built from many short
 * pieces. Returns LA_OK or LA_ENOMEM. */
static inline int la_buf_append(la_buf *b, const void *p, size_t n)
{
    if (n < b->cap - b->len && b->data) {
        __builtin_memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = 0;
        return 0;
    }
    return la_buf_append_slow(b, p, n);
}
static inline int la_buf_putc(la_buf *b, char c)
{
    if (b->len + 1 < b->cap) {
        b->data[b->len++] = c;
        b->data[b->len] = 0;
        return 0;
    }
    return la_buf_putc_slow(b, c);
}
int la_buf_printf(la_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void la_buf_free(la_buf *b);
static inline void la_buf_clear(la_buf *b) { b->len = 0; if (b->data) b->data[0] = 0; }

/* ---- model tokenizers (HuggingFace tokenizer.json) ------------------- */
/* A loaded tokenizer is immutable and may be shared by threads; all
 * per-call scratch memory lives in an la_tok_work, one per thread. */
typedef struct la_tokenizer la_tokenizer;
typedef struct la_tok_work la_tok_work;

/* Loads PATH: a tokenizer.json file, or a folder holding one. Returns a
 * new tokenizer (free with la_tokenizer_free) or NULL with err filled
 * ("tokenizer: <component>: reason"). */
la_tokenizer *la_tokenizer_load(const char *path, la_err *err);
/* The file la_tokenizer_load(path) reads: PATH, PATH/tokenizer.json for a
 * model folder, or the HuggingFace hub cache's file for a model id. New
 * string (free), NULL when out of memory. */
char *la_tokenizer_file(const char *path);
void la_tokenizer_free(la_tokenizer *t);
/* Whether la_tokenizer_load keeps loaded models in the cache folder
 * ($LOOKAHEAD_CACHE_DIR, else $XDG_CACHE_HOME/lookahead, else
 * ~/.cache/lookahead) and reads them back for a file with the same
 * bytes. Off until turned on. */
void la_tokenizer_use_cache(int on);
/* A cache entry may be mapped from its file while a tokenizer made from
 * it lives. Entries are only ever replaced by rename and removed by
 * unlink, but another program that cuts one short in place makes the
 * kernel raise SIGBUS when a lost page is touched, which ends the
 * process unless a handler catches it. For such a handler (SA_SIGINFO,
 * the signal's si_addr): the path of the entry whose mapping holds addr,
 * NULL when addr is in none. Async-signal-safe; the string stays valid
 * while that tokenizer lives. */
const char *la_tokenizer_cache_fault(const void *addr);
/* The same for the tokenizer file itself, which is mapped while it is
 * loaded (other programs are kept from changing it meanwhile where the
 * system allows, else it is read instead; a failing disk may still
 * raise SIGBUS): its path, NULL when addr is in no such mapping. */
const char *la_tokenizer_file_fault(const void *addr);

/* New scratch space for one thread; NULL when out of memory. */
la_tok_work *la_tok_work_new(void);
void la_tok_work_free(la_tok_work *w);

/* Token ids with their token strings (UTF-8, as in the vocabulary). */
typedef struct {
    uint32_t *ids;
    size_t n, cap;
    la_buf strs;        /* token strings, each NUL-terminated, in order */
    size_t *str_off;    /* str_off[i]: offset of token i's string in strs */
    size_t str_cap;
} la_tokens;
void la_tokens_free(la_tokens *t);

/* Encodes text (special tokens not added, as HuggingFace's
 * encode(text, add_special_tokens=False)). max_tokens = 0 encodes all;
 * otherwise the encoder may stop once it has at least max_tokens tokens,
 * which are then equal to the first tokens of the full encoding. `out` is
 * cleared first. */
int la_tokenizer_encode(const la_tokenizer *t, la_tok_work *w, const char *text,
                        size_t len, size_t max_tokens, la_tokens *out, la_err *err);

/* Decodes token ids with the tokenizer's decoder chain (no tokens are
 * skipped), appending UTF-8 to out. Without a decoder, token strings are
 * joined. */
int la_tokenizer_decode(const la_tokenizer *t, la_tok_work *w, const uint32_t *ids,
                        size_t n, la_buf *out, la_err *err);

/* What a preview took. */
typedef struct {
    size_t units;        /* tokens previewed (m, or fewer, or more: see below) */
    int whole;           /* 1: the answer has no more tokens than were previewed */
    int extended;        /* 1: more than m tokens were needed to end on a whole character */
} la_preview_info;

/* The preview of an answer: decode(first m tokens of encode(text)).
 * complete = 1: take the fewest further tokens after m whose bytes end on
 * a whole UTF-8 character; complete = 0: exactly m tokens (a cut
 * character decodes to U+FFFD). Appends to out; work done does not grow
 * with the length of text beyond what the first tokens depend on. */
int la_tokenizer_preview(const la_tokenizer *t, la_tok_work *w, const char *text,
                         size_t len, size_t m, int complete, la_buf *out,
                         la_preview_info *info, la_err *err);


/* ---- configuration ---------------------------------------------------- */
enum { LA_MODE_REAL, LA_MODE_VIRTUAL };
enum { LA_UNIT_WORD, LA_UNIT_CHAR, LA_UNIT_TOKEN };
enum { LA_FMT_AUTO, LA_FMT_FIELDS, LA_FMT_ALPACA, LA_FMT_MESSAGES, LA_FMT_SHAREGPT, LA_FMT_PROMPT_COMPLETION,
       LA_FMT_COUNT };
enum { LA_TURNS_ALL, LA_TURNS_FIRST, LA_TURNS_LAST };
enum { LA_IO_AUTO, LA_IO_JSONL, LA_IO_JSON };

/* A dataset's layout as LLaMA-Factory's dataset_info.json names it: the
 * columns (alpaca) and tags (sharegpt) that edits depend on; NULL where
 * the layout has none. With `given` set, every record is read with it,
 * in the format of cfg.format (LA_FMT_ALPACA or LA_FMT_SHAREGPT). */
typedef struct {
    int given;
    int openai;          /* formatting "openai": an assistant message with
                          * tool_calls is a function call, not an answer */
    const char *prompt, *query, *response, *history;   /* alpaca columns */
    const char *messages;                               /* sharegpt column */
    const char *role_tag, *content_tag, *user_tag, *assistant_tag;
} la_layout;

/* What to do to each record. Strings are borrowed (must outlive users). */
typedef struct {
    int mode;                  /* LA_MODE_* */
    size_t m;                  /* preview length in units, >= 1 */
    int unit;                  /* LA_UNIT_* */
    const char *P;             /* virtual prefix */
    const char *connector;     /* joins the instruction and the preview */
    const char *input_field;   /* fields format: names or dot paths */
    const char *output_field;
    int format;                /* LA_FMT_* */
    int turns;                 /* LA_TURNS_* */
    int fields_given;          /* auto format: a field option was given => fields */
    la_layout layout;          /* --dataset-info, --columns, --tags */
    int partial_complete;      /* tokens: complete cut characters (1) or not (0) */
    const la_tokenizer *tokenizer;
} la_config;

/* Fills cfg with the paper's defaults (real, m = 6, words). */
void la_config_defaults(la_config *cfg);
const char *la_mode_name(int mode);
const char *la_unit_name(int unit);
const char *la_format_name(int format);

/* ---- statistics -------------------------------------------------------- */
#define LA_MAX_REASONS 32
typedef struct {
    char code[32];
    uint64_t count;
} la_reason_count;

/* How a run ended, in its report: only a complete run's counts cover
 * the whole input. Ordered: a merge keeps the worst. */
enum { LA_RUN_COMPLETE, LA_RUN_OUTPUT_CLOSED, LA_RUN_FAILED };

/* Counters that every stage feeds. Zero-initialise; la_stats_merge adds
 * one run's (or one thread's, or one shard's) counters into another. */
typedef struct {
    int status;                     /* LA_RUN_*; set by the caller at the end */
    uint64_t records_in, records_out, records_rejected;
    la_reason_count rejected[LA_MAX_REASONS];
    size_t n_rejected_reasons;
    uint64_t previews;              /* previews made (real mode) */
    uint64_t preview_min, preview_max, preview_sum;
    uint64_t fully_previewed;       /* answers of m units or fewer */
    uint64_t extended;              /* token previews that took more than m tokens */
    uint64_t bytes_in, bytes_out;
    uint64_t format_records[LA_FMT_COUNT];  /* records per detected format */
    uint64_t turns_edited;
    la_reason_count skipped[8];     /* turns skipped, by reason */
    size_t n_skipped_reasons;
    uint64_t records_without_turn;
    uint64_t empty_answers;         /* real mode: answers with nothing to preview */
    uint64_t already_edited;        /* instructions that already ended with what is added to them */
    unsigned warnings;              /* bit 1 << LA_WARN_* for each warning the run gave */
    /* the output's format (LA_IO_JSONL or LA_IO_JSON, 0 unknown) and
     * compression (LA_Z_*), for merge-stats: a JSON array's brackets
     * and commas are a single run's, not one set per shard */
    int out_format, out_compress;
    /* --split K/N (split_n 0: none): a split's JSON array output holds
     * its share of the framing, so merge-stats adds bytes_out as it is */
    uint64_t split_k, split_n;
    /* --shard K/N (shard_n 0: none), so that merge-stats knows a set of
     * shards is whole */
    uint64_t shard_k, shard_n;
} la_stats;

/* Warnings: a run that is probably a mistake but not certainly one
 * (README "Warnings"); each is given once a run. */
enum {
    LA_WARN_NO_TOKENIZER,      /* real mode counts words: no --tokenizer */
    LA_WARN_FULL_PREVIEWS,     /* more than 10% of the answers previewed whole */
    LA_WARN_EMPTY_ANSWERS,     /* answers with nothing to preview */
    LA_WARN_NO_TURN,           /* chat records with no turn edited */
    LA_WARN_TOKENIZER_UNUSED,  /* --tokenizer without token previews */
    LA_WARN_TURNS_UNUSED,      /* --turns on records without turns */
    LA_WARN_ALREADY_EDITED,    /* more than 10% of the instructions already ended with what is added */
    LA_WARN_COUNT
};
const char *la_warning_name(int w);
/* Whether more than 10% of st's previews took the whole answer. */
int la_stats_many_full(const la_stats *st);
/* Whether more than 10% of st's edited instructions already ended with
 * what was added to them (the input made by a run before, most likely). */
int la_stats_many_already(const la_stats *st);
void la_stats_count(la_reason_count *tab, size_t *n, size_t max, const char *code, uint64_t k);
void la_stats_reject(la_stats *st, const char *code);
void la_stats_preview(la_stats *st, const la_preview_info *info);
void la_stats_merge(la_stats *into, const la_stats *from);
/* Writes the JSON report (schema in README.md) to out. */
int la_stats_json(const la_stats *st, const la_config *cfg, double seconds, la_buf *out);
/* Reads a report written by la_stats_json back (for merge-stats); fills
 * st, the mode/unit/m it names into the strings given, and its seconds
 * (0 when absent). Refuses counts that are not whole numbers from 0 to
 * 2^53, unbalanced records and an unknown status. */
int la_stats_parse(const char *json, size_t len, la_stats *st, char *mode, size_t modelen,
                   char *unit, size_t unitlen, uint64_t *m, double *seconds, la_err *err);

/* A --max-rejects limit: at most `count` rejected records, or (percent)
 * at most per10k / 100 percent of the records in. */
typedef struct {
    int set;          /* 0: no limit */
    int percent;      /* 1: per10k counts, else count */
    uint64_t count;
    uint32_t per10k;  /* 0..10000: hundredths of a percent */
} la_reject_limit;
/* Parses N (digits, 0 allowed) or P% (0 to 100, at most two decimals):
 * LA_OK or LA_EARG. */
int la_reject_limit_parse(const char *s, la_reject_limit *l);
/* Whether `rejected` of `in` records breaks the limit (exact integer
 * arithmetic; never with no limit set). */
int la_reject_limit_exceeded(const la_reject_limit *l, uint64_t rejected, uint64_t in);

/* merge-stats: adds one report (from la_stats_parse) into `into`
 * (zeroed before the first); reports whose output format or compression
 * differs from the first's are refused (LA_EDATA). la_stats_merge_end
 * then makes bytes_out what one run over all of them writes: a JSON
 * array's framing once (uncompressed output; compressed sizes add up,
 * as concatenated streams do). */
int la_stats_merge_report(la_stats *into, const la_stats *from, int first, la_err *err);
void la_stats_merge_end(la_stats *into);

/* ---- byte-range splits ---------------------------------------------- */
/* Where the part of an input that starts near byte p > 0 begins (the
 * first part starts at byte 0; --split): *at is the first byte of a
 * record at or after p, and after the input's first record (so that the
 * first part holds it), found by reading fd
 * (a regular file of `size` bytes, plain) with pread from around p only.
 * JSONL: the start of the first line at or after p. JSON array: an
 * element start found by a scan that does not know the state at p (README
 * and docs/scale-out.md give the rule); it need not be the first element
 * after p, and a range that ends there is checked by its reader
 * (la_reader_range's "split_boundary"). *at = size when no record starts
 * after p. LA_EDATA (code "split_boundary") when the scan cannot tell
 * strings from structure near p, LA_EIO when a read fails. */
int la_split_boundary(int fd, uint64_t size, int format, uint64_t p, uint64_t *at, la_err *err);

/* ---- records ----------------------------------------------------------- */
/* A processor edits records under one configuration. It owns scratch
 * space reused between records (no per-record allocation once warm), so
 * give each thread its own. */
typedef struct la_proc la_proc;
la_proc *la_proc_new(const la_config *cfg, la_err *err);
void la_proc_free(la_proc *p);

/* Validates and edits one record (its bytes, without framing), appending
 * the edited record to out and feeding st. A bad record returns LA_EDATA
 * with err's code naming the reason; out is then left as it was. */
int la_proc_record(la_proc *p, const char *rec, size_t len, la_buf *out, la_stats *st,
                   la_err *err);
/* The same for the JSONL line at rec[0..avail) (up to its '\n', or
 * avail), where the 64 bytes after rec[avail] may be read, when the line
 * validates the fast way (la_json_validate_line): then *len is the
 * record's length as a line splitter gives it (its '\r' of a CR LF cut)
 * and *next the offset past its '\n', and the outcome is what
 * la_proc_record(p, rec, *len, ...) gives. Otherwise LA_PROC_GENERAL with
 * nothing done: the caller splits the line and calls la_proc_record. */
enum { LA_PROC_GENERAL = 1 };
int la_proc_line(la_proc *p, const char *rec, size_t avail, size_t *len, size_t *next, la_buf *out, la_stats *st,
                 la_err *err);

/* ---- reading ------------------------------------------------------------ */
/* Frames records from a byte stream: JSONL lines, or the elements of one
 * top-level JSON array, reading in large blocks; memory grows only with
 * the largest record. gzip, zstd, xz and bzip2 streams are decompressed
 * on the fly. */
typedef struct la_reader la_reader;
la_reader *la_reader_new(int fd, int format /* LA_IO_* */, la_err *err);
/* Next record: returns 1 with rec/len (valid until the next call) and the
 * 1-based line it starts on, 0 at the end, or a negative status (LA_EIO:
 * a read failed; LA_EDATA: the stream cannot be framed further). */
int la_reader_next(la_reader *r, const char **rec, size_t *len, uint64_t *line, la_err *err);
/* For callers that split JSONL lines themselves (the CLI, in its worker
 * threads): la_reader_begin decides the format, reading the first bytes
 * and dropping a UTF-8 BOM; when it is LA_IO_JSONL, la_reader_read gives
 * the rest of the (decompressed) input as it comes, up to cap bytes a
 * call, *got == 0 at the end, except blank lines before the first record,
 * which come as bare line feeds (line numbers stay right), and white
 * space at the start of a line past its first MiB, which is dropped. Not
 * to be mixed with la_reader_next. */
int la_reader_begin(la_reader *r, la_err *err);
int la_reader_read(la_reader *r, char *dst, size_t cap, size_t *got, la_err *err);
int la_reader_format(const la_reader *r);     /* LA_IO_JSONL or LA_IO_JSON once known */
/* The compression la_reader_begin found: LA_Z_NONE, LA_Z_GZIP, LA_Z_ZSTD,
 * LA_Z_XZ or LA_Z_BZIP2 (declared with the writer, below). */
int la_reader_compression(const la_reader *r);
/* Makes r read only the next `length` bytes of fd, from where its offset
 * is, as plain data (a byte range of an uncompressed file, for --split);
 * call before anything is read. mid: the range starts inside the input,
 * at the start of a line or of an element of the array (the format must
 * be given): no BOM is looked for, no shape judged, and an array's first
 * element comes without its '['. cut: the range ends before the input
 * does, where a line or an element starts: an array's range then ends
 * cleanly after a ',' (or before its first element); ending anywhere
 * else in the array is an error with code "split_boundary". */
int la_reader_range(la_reader *r, uint64_t length, int mid, int cut, la_err *err);
/* Decodes the rest of a compressed input, up to limit more bytes of data,
 * and drops it: LA_EIO with err set when the decoder finds the data
 * damaged, else LA_OK (a plain input, the end, or the limit reached). For
 * a run that stopped at a bad record: gzip's and bzip2's checks come at
 * the end of a stream, so damage may first show as a garbled record. */
int la_reader_check_rest(la_reader *r, uint64_t limit, la_err *err);
uint64_t la_reader_bytes(const la_reader *r); /* bytes consumed from fd */
/* Bytes of data read so far: decompressed for compressed input (safe to
 * call from another thread, for progress). */
uint64_t la_reader_data_bytes(const la_reader *r);
void la_reader_free(la_reader *r);

/* ---- writing ------------------------------------------------------------ */
/* Writes records as JSONL or as one JSON array, buffered, to an fd. */
typedef struct la_writer la_writer;
la_writer *la_writer_new(int fd, int format /* LA_IO_JSONL or LA_IO_JSON */, la_err *err);
int la_writer_record(la_writer *w, const char *rec, size_t len, la_err *err);
/* JSONL only: writes nrecords finished lines (each record followed by
 * '\n', none spanning lines) as one block. */
int la_writer_lines(la_writer *w, const char *lines, size_t len, size_t nrecords, la_err *err);
/* Compresses what the writer writes: LA_Z_GZIP, LA_Z_ZSTD, LA_Z_XZ or
 * LA_Z_BZIP2 (call before the first record). */
enum { LA_Z_NONE, LA_Z_GZIP, LA_Z_ZSTD, LA_Z_XZ, LA_Z_BZIP2 };
int la_writer_compress(la_writer *w, int kind, la_err *err);
/* JSON: makes w write one part of an array that other writers write the
 * rest of, so that the parts joined in order are the array one writer
 * writes (--split): opens, "[\n" before its first record (else ",\n"
 * before every record); closes, "\n]\n" at the end (else nothing). The
 * first part must hold a record. Call before the first record. */
void la_writer_part(la_writer *w, int opens, int closes);
/* Closes the array (JSON), flushes and ends compression; does not close fd. */
int la_writer_finish(la_writer *w, la_err *err);
/* Writes out all that was handed in, the compressor flushed, so that the
 * file so far decodes to the whole stream (nothing when nothing is new:
 * where the flushes fall depends only on where the caller syncs). */
int la_writer_sync(la_writer *w, la_err *err);
/* Offsets in the stream of records (before compression): how much was
 * handed in, and how much of it is surely in the file, decodable (after
 * a failed write: up to the last sync for compressed output, to the
 * last byte the file took for plain output). */
uint64_t la_writer_pos(const la_writer *w);
uint64_t la_writer_confirmed(const la_writer *w);
/* Bytes the file took, compressed or not, a failed write's part included. */
uint64_t la_writer_bytes(const la_writer *w);
void la_writer_free(la_writer *w);
/* Writes all of p to fd (retrying short writes and EINTR); LA_EIO with a
 * reason on failure, code "broken_pipe" for EPIPE. */
int la_write_all(int fd, const void *p, size_t n, la_err *err);
/* la_write_all, *done set to the bytes written (all of them on success). */
int la_write_counted(int fd, const void *p, size_t n, size_t *done, la_err *err);

#endif
