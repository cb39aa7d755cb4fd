/* cli.h - what the command line hands to the run loop. */
#ifndef LA_CLI_H
#define LA_CLI_H

#include "lookahead.h"

/* sysexits.h values, spelled out: the exit codes are part of the
 * interface (README "Exit codes"). */
enum { EXIT_USAGE = 2, EXIT_DATA = 65, EXIT_NOINPUT = 66, EXIT_CANTCREAT = 73, EXIT_IOERR = 74 };

typedef struct {
    la_config cfg;
    char **inputs;            /* NULL-terminated; "-" is standard input */
    size_t ninputs;
    const char *output;       /* NULL: standard output */
    const char *rejects;
    const char *stats;
    const char *tokenizer_path;
    const char *dataset_info;  /* the dataset_info.json read, an input too */
    int input_format;         /* LA_IO_* */
    int output_format;        /* LA_IO_*; AUTO = the first input's */
    int skip_bad;             /* --on-error skip */
    int quiet;
    int no_cache;             /* --no-cache: no tokenizer cache */
    int progress;             /* 1 forced, 0 when stderr is a terminal */
    int threads;
    uint64_t shard_k, shard_n;
    uint64_t split_k, split_n;  /* --split K/N (split_n 0: none) */
    int std_closed[3];        /* descriptors 0-2 were closed at start */
    /* guard rails (README "Guard rails") */
    la_reject_limit max_rejects;  /* --max-rejects N|P% */
    int allow_empty;          /* --allow-empty: no record out is no failure */
    int strict;               /* --strict: every warning is an error */
    int unit_given, turns_given;  /* --unit, --turns were given (for warnings) */
} cli_opts;

/* Runs the whole job; returns the process exit code. Prints its own
 * messages ("lookahead: ..."). */
int cli_run(cli_opts *o);
/* Catches SIGBUS (output.c): a tokenizer cache entry cut short in place by
 * another program while mapped (la_tokenizer_cache_fault), or the
 * tokenizer file failing while mapped to be loaded
 * (la_tokenizer_file_fault), ends the run with a message naming it and
 * exit status 74, after the run's temporary files are removed; any other
 * SIGBUS as other signals (output.c's on_signal). Installed before the
 * tokenizer is loaded. */
void cli_catch_bus(void);

/* What a file name's extension says of compression: LA_Z_* (LA_Z_NONE
 * for none), or -1 for a compressor whose format is not written. */
int cli_compression_of(const char *name);
/* 1 when s[0..len) is UTF-8. */
int cli_valid_utf8(const char *s, size_t len);

/* Prints "lookahead: " + message + newline on stderr. */
void cli_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Puts malloc's heap on huge pages where the system gives them (heap.c);
 * first thing in main, before any large allocation. */
void cli_heap_setup(void);

/* Subcommands. */
int cli_merge_stats(int argc, char **argv);

#endif
