/* msg.c - the command line's one way of saying something on stderr, and
 * its check of text given to it as UTF-8, used by every command (main.c,
 * run.c, tokenize_cmd.c, ...), so it sits below them all. */
#include <stdarg.h>
#include <stdio.h>
#include <utf8proc.h>

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

int cli_valid_utf8(const char *s, size_t len)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    utf8proc_ssize_t n = (utf8proc_ssize_t)len;
    while (n > 0) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p, n, &cp);
        if (k < 0)
            return 0;
        p += k;
        n -= k;
    }
    return 1;
}
