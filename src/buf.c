/* buf.c - growable byte buffers and error reasons (see lookahead.h). */
#include "lookahead.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Makes room for `extra` more bytes plus a NUL. Grows geometrically so
 * that a buffer reused across records stops allocating once it has seen
 * the largest record. */
int la_buf_reserve(la_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        return LA_ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return LA_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return LA_ENOMEM;
    b->data = p;
    b->cap = cap;
    return LA_OK;
}

int la_grow(void **arr, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : first ? first : 1;
    while (nc < need)
        nc = nc > SIZE_MAX / 2 ? need : nc * 2;
    if (size && nc > SIZE_MAX / size)
        return -1;
    void *p = realloc(*arr, nc * size);
    if (!p)
        return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

int la_buf_append_slow(la_buf *b, const void *p, size_t n)
{
    if (la_buf_reserve(b, n) != LA_OK)
        return LA_ENOMEM;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return LA_OK;
}

int la_buf_putc_slow(la_buf *b, char c)
{
    if (b->len + 1 >= b->cap && la_buf_reserve(b, 1) != LA_OK)
        return LA_ENOMEM;
    b->data[b->len++] = c;
    b->data[b->len] = 0;
    return LA_OK;
}

int la_buf_printf(la_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || la_buf_reserve(b, (size_t)n) != LA_OK)
        return LA_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return LA_OK;
}

void la_buf_free(la_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int la_err_set(la_err *err, int status, const char *code, const char *fmt, ...)
{
    if (err) {
        snprintf(err->code, sizeof err->code, "%s", code ? code : "error");
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}
