/* output.h - the files a run writes, made safely (output.c). */
#ifndef LA_CLI_OUTPUT_H
#define LA_CLI_OUTPUT_H

#include "lookahead.h"

/* Every signal whose default action ends the process removes the run's
 * temporary files first (and, before its report is written, the report
 * --stats replaces); SIGPIPE and SIGXFSZ are ignored (write errors). */
void cli_catch_signals(void);

/* -o FILE while the run writes it. */
typedef struct {
    int fd;                   /* written to: 1 for standard output; -1 once closed */
    int compress;             /* LA_Z_* that FILE's name asks for */
    char *final;              /* the file replaced, links followed; NULL for standard output */
} cli_out;

/* Opens -o's file as it is written: without a name where the system
 * allows (so that nothing is left behind, SIGKILL too), else a
 * temporary file beside FILE; path NULL: standard output. 0, or an exit
 * code after saying why. */
int cli_out_open(const char *path, cli_out *out);
/* The run succeeded: flushes the file to disk and puts it in place of
 * FILE (by rename). 0, or an exit code after saying why. */
int cli_out_commit(const char *path, cli_out *out);
/* The run failed: the file goes, FILE is left as it was. */
void cli_out_drop(cli_out *out);
void cli_out_free(cli_out *out);

/* Opens --rejects where it is (a descriptor's name as a copy of it, a
 * FIFO or device as it is, a file made or truncated); *trunc set when it
 * is a regular file opened by name. The descriptor, or -1 with errno. */
int cli_rejects_open(const char *path, int *trunc);

/* 1 when --stats PATH is written in place (a descriptor's name, a device,
 * a FIFO, a name in /proc), not through a temporary file. */
int cli_stats_in_place(const char *path);
/* Remembers the regular file (or new name) --stats replaces, so that a
 * run killed before its report is written removes the earlier one. */
void cli_stats_note(const char *path);
/* The report is written or removed from here on: no signal removes it. */
void cli_stats_settled(void);
/* Writes the report b to --stats PATH whole or not at all: a reader
 * never sees half of one, and when it cannot be written an earlier
 * report there is removed (and said so) rather than left looking
 * current. With staged, a report that goes through a temporary file is
 * left there (*staged: the file it is to replace) for cli_stats_put.
 * 0, or an exit code after saying why. */
int cli_stats_write(const char *path, const la_buf *b, char **staged);
/* The report staged by cli_stats_write: put in place of final when
 * keep, else removed; final is freed. 0, or an exit code. */
int cli_stats_put(const char *path, char *final, int keep);

#endif
