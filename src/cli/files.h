/* files.h - checks on the files a run reads and writes (files.c). */
#ifndef LA_CLI_FILES_H
#define LA_CLI_FILES_H

#include "cli/cli.h"

/* Opens /dev/null on any of descriptors 0, 1 and 2 that is closed, so
 * that no file the run opens later takes their place (records written
 * into --rejects, messages into -o). was_closed[fd] says which were.
 * Returns 0, or -1 if one could not be opened. */
int cli_std_fds_open(int was_closed[3]);

/* Refuses, with a message and EXIT_USAGE, a run where -o, --rejects,
 * --stats or standard output name the same file as each other, as an
 * input or as the tokenizer (same device and inode, or for new names the
 * same resolved path), and -o onto anything but a regular file or a new
 * name. Terminals and other character devices may be shared. Opens
 * nothing for writing. */
int cli_check_files(const cli_opts *o);

/* Where a write to a name goes. */
typedef struct {
    char *final;              /* the name with symbolic links followed (the
                               * last may name a file not there yet); new
                               * string */
    int via_proc;             /* the name or a link on the way is in /proc
                               * (/dev/stdout, /dev/fd/N): written in place
                               * or refused, never replaced by a rename */
    int fd;                   /* the descriptor of ours it names, or -1 */
} cli_target;

/* Follows PATH's links into *t. 0, or -1 with errno set (a loop, a name
 * too long, out of memory). */
int cli_target_of(const char *path, cli_target *t);

/* The directory part of path ("." when it has none, "/" for the root's
 * files) into buf. */
void cli_dir_of(const char *path, char *buf, size_t cap);

#endif
