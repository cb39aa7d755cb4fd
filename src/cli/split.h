/* split.h - --split K/N: one split's byte range of a plain file. */
#ifndef LA_CLI_SPLIT_H
#define LA_CLI_SPLIT_H

#include "cli/cli.h"

#include <sys/stat.h>

typedef struct {
    int fd;
    uint64_t size;            /* the file's */
    uint64_t start, end;      /* the range [start, end) this split reads */
    int format;               /* LA_IO_*, judged on the file's first bytes */
    int lines_known;
    uint64_t lines_before;    /* line feeds before start, once counted */
} cli_split;

/* Plans split o->split_k of o->split_n of the input open on fd (named
 * name in messages): a regular, uncompressed file whose shape is judged
 * as a run without --split judges it; its range starts and ends where
 * records start (la_split_boundary). Leaves fd at the range's start.
 * Prints its own messages; returns 0 or an exit code. */
int cli_split_open(const cli_opts *o, const char *name, int fd, cli_split *sp);

/* Before anything is opened for writing: 0 when the input open on fd
 * (named name) can be split (a regular, uncompressed file of a shape a
 * run accepts), else prints why not and returns an exit code; the
 * same for an input of the given mode (st_mode) that is not opened. */
int cli_split_check(const cli_opts *o, const char *name, int fd);
int cli_split_refuse_kind(const cli_opts *o, const char *name, mode_t mode);

/* The line of the file that is line rel (from 1) of the range. */
uint64_t cli_split_line(cli_split *sp, uint64_t rel);

#endif
