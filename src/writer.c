/* writer.c - buffered JSONL / JSON array output to a file descriptor. */
#include "lookahead.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WRITE_BLOCK (1u << 20)

struct la_writer {
    int fd;
    int format;
    la_buf buf;
    la_buf line;     /* a record made single-line for JSONL */
    uint64_t records;
    uint64_t bytes;
};

int la_write_all(int fd, const void *p, size_t n, la_err *err)
{
    const char *c = p;
    while (n > 0) {
        ssize_t k = write(fd, c, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EPIPE)
                return la_err_set(err, LA_EIO, "broken_pipe", "broken pipe");
            return la_err_set(err, LA_EIO, "write_error", "write failed: %s", strerror(errno));
        }
        c += k;
        n -= (size_t)k;
    }
    return LA_OK;
}

la_writer *la_writer_new(int fd, int format, la_err *err)
{
    la_writer *w = calloc(1, sizeof *w);
    if (!w || la_buf_reserve(&w->buf, WRITE_BLOCK + 4096)) {
        free(w);
        la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
        return NULL;
    }
    w->fd = fd;
    w->format = format == LA_IO_JSON ? LA_IO_JSON : LA_IO_JSONL;
    return w;
}

static int flush(la_writer *w, la_err *err)
{
    int rc = la_write_all(w->fd, w->buf.data, w->buf.len, err);
    w->bytes += w->buf.len;
    la_buf_clear(&w->buf);
    return rc;
}

/* A JSONL line cannot hold a record spread over lines (a pretty-printed
 * array element): copy it without the white space between tokens. Raw
 * line breaks can only be such white space, since strings cannot hold
 * them. */
static int append_compact(la_buf *b, const char *rec, size_t len)
{
    if (la_buf_reserve(b, len))
        return LA_ENOMEM;
    char *o = b->data + b->len;
    int in_str = 0, esc = 0;
    for (size_t i = 0; i < len; i++) {
        char c = rec[i];
        if (in_str) {
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        else if (c == '"')
            in_str = 1;
        *o++ = c;
    }
    b->len = (size_t)(o - b->data);
    b->data[b->len] = 0;
    return LA_OK;
}

int la_writer_record(la_writer *w, const char *rec, size_t len, la_err *err)
{
    if (w->format == LA_IO_JSONL && (memchr(rec, '\n', len) || memchr(rec, '\r', len))) {
        if (append_compact(&w->line, rec, len))
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
        rec = w->line.data;
        len = w->line.len;
        w->line.len = 0;
    }
    const char *sep = w->format == LA_IO_JSONL ? "" : w->records ? ",\n" : "[\n";
    size_t sl = strlen(sep);
    if (w->buf.len + sl + len + 1 > WRITE_BLOCK && w->buf.len) {
        int rc = flush(w, err);
        if (rc)
            return rc;
    }
    if (len + sl + 1 > WRITE_BLOCK) {   /* a huge record: write it straight through */
        int rc = la_write_all(w->fd, sep, sl, err);
        if (!rc)
            rc = la_write_all(w->fd, rec, len, err);
        if (!rc && w->format == LA_IO_JSONL)
            rc = la_write_all(w->fd, "\n", 1, err);
        w->bytes += sl + len + (w->format == LA_IO_JSONL);
        w->records++;
        return rc;
    }
    if (la_buf_append(&w->buf, sep, sl) || la_buf_append(&w->buf, rec, len) ||
        (w->format == LA_IO_JSONL && la_buf_putc(&w->buf, '\n')))
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
    w->records++;
    return LA_OK;
}

int la_writer_finish(la_writer *w, la_err *err)
{
    if (w->format == LA_IO_JSON) {
        const char *tail = w->records ? "\n]\n" : "[]\n";
        if (la_buf_append(&w->buf, tail, strlen(tail)))
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
    }
    return flush(w, err);
}

uint64_t la_writer_bytes(const la_writer *w) { return w->bytes + w->buf.len; }

void la_writer_free(la_writer *w)
{
    if (!w)
        return;
    la_buf_free(&w->buf);
    la_buf_free(&w->line);
    free(w);
}
