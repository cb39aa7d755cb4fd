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

/* The name a write to PATH should replace: PATH with symbolic links
 * followed, the last of which may name a file that does not exist yet.
 * *via_system: PATH or a link on the way is under /dev or /proc (such
 * a file is written in place or refused, never replaced). New string,
 * or NULL (errno set) for a loop or a name too long. */
char *cli_final_name(const char *path, int *via_system);

/* PATH is under /dev or /proc (/dev/stdout, /dev/fd/3, /proc/self/fd/1):
 * a name for an open descriptor or a device. */
int cli_is_system_path(const char *path);

#endif
