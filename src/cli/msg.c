/* msg.c - the command line's one way of saying something on stderr, used
 * by every command (main.c, run.c, merge_stats.c, ...), so it sits below
 * them all. */
#include <stdarg.h>
#include <stdio.h>

#include "cli/cli.h"

void cli_msg(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "lookahead: %s\n", line);
}
