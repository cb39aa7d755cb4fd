/*
 * split.c - where the byte range of one split of an input begins
 * (--split K/N), found by reading around that byte only.
 *
 * JSONL: a line starts after a line feed, so the first line start at or
 * after p is exact.
 *
 * JSON array: from an arbitrary byte nothing says whether it lies in a
 * string or how deep it is. The scan first tells strings from structure:
 * it follows three readings of the bytes from p at once (outside a
 * string, inside one, inside one just after a backslash) and drops each
 * reading as soon as the bytes break JSON under it (a raw control
 * character or a bad escape in a string; a letter, a backslash, a byte
 * above 0x7f, or two values with no separator between them outside one).
 * When one reading is left, strings are known from there on. Then the
 * depth: it follows the nesting relative to that point. An element start
 * is a value (not a string) after a ',' in a container that was open
 * before the point, at the lowest such level seen; a container that
 * closes, unless it is the array's own closing bracket (nothing but white
 * space after it), was not the top-level array, and its candidate goes.
 * A candidate is taken once ACCEPT_AFTER bytes after it have not closed
 * its container. This can be fooled (hostile strings made only of
 * punctuation, a nested list of objects longer than ACCEPT_AFTER), so the
 * guarantee lies elsewhere: the split that ends at the found byte reads
 * its range with la_reader_range, which fails ("split_boundary") unless
 * the range ends exactly between two elements of the array. Split 0
 * starts at byte 0, so by induction every boundary a successful set of
 * splits used is a true one.
 */
#include "lookahead.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* reads start small (a JSONL boundary needs the rest of one line) and
 * double up to CHUNK */
#define FIRST_READ (64u << 10)
#define CHUNK (1u << 20)
/* bytes kept before the scan position when the window slides */
#define KEEP_BEFORE (64u << 10)
/* strings must be told from structure within this many bytes after p */
#define RESOLVE_MAX (1u << 20)
/* a candidate element start is taken once its container stayed open for
 * this many bytes after it: the bytes each boundary costs beyond the
 * range, against the length of a nested list of objects that can fool
 * the scan (which then fails, never splits wrongly) */
#define ACCEPT_AFTER (256u << 10)

/* A sliding window over the file, read with pread. */
typedef struct {
    int fd;
    uint64_t size;
    uint64_t base;   /* file offset of buf[0] */
    char *buf;
    size_t len, cap;
    size_t step;     /* the next read's size */
    int failed;
    la_err *err;
} window;

/* Makes the window hold byte off (off < size), keeping up to
 * KEEP_BEFORE bytes before it. 1, or 0 at the end of the file or on a
 * read error (w->failed). */
static int slide(window *w, uint64_t off)
{
    if (off >= w->size)
        return 0;
    if (off < w->base || off > w->base + w->len + CHUNK) {   /* a jump: start afresh */
        w->base = off;
        w->len = 0;
        w->step = 0;
    }
    uint64_t keep = off > KEEP_BEFORE ? off - KEEP_BEFORE : 0;
    if (keep > w->base) {
        size_t drop = (size_t)(keep - w->base) < w->len ? (size_t)(keep - w->base) : w->len;
        memmove(w->buf, w->buf + drop, w->len - drop);
        w->len -= drop;
        w->base += drop;
    }
    while (off >= w->base + w->len) {
        size_t step = w->step ? w->step : FIRST_READ;
        w->step = step < CHUNK ? step * 2 : CHUNK;
        if (w->cap - w->len < step) {
            size_t nc = w->len + step;
            char *nb = realloc(w->buf, nc);
            if (!nb) {
                la_err_set(w->err, LA_ENOMEM, "out_of_memory", "out of memory");
                w->failed = LA_ENOMEM;
                return 0;
            }
            w->buf = nb;
            w->cap = nc;
        }
        ssize_t k = pread(w->fd, w->buf + w->len, step, (off_t)(w->base + w->len));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            la_err_set(w->err, LA_EIO, "read_error", "read failed: %s", strerror(errno));
            w->failed = LA_EIO;
            return 0;
        }
        if (k == 0)   /* the file is shorter than it was */
            return 0;
        w->len += (size_t)k;
    }
    return 1;
}

/* Byte off of the file, or -1 at its end (or on a read error). */
static inline int byte_at(window *w, uint64_t off)
{
    if (off >= w->base && off - w->base < w->len)
        return (unsigned char)w->buf[off - w->base];
    return slide(w, off) ? (unsigned char)w->buf[off - w->base] : -1;
}

static int is_ws(int c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* The first byte at or after off that is not white space, or size. */
static uint64_t skip_ws(window *w, uint64_t off)
{
    while (is_ws(byte_at(w, off)))
        off++;
    return off < w->size ? off : w->size;
}

/* Where the input starts: after a UTF-8 BOM, if any. */
static uint64_t bom(window *w)
{
    return byte_at(w, 0) == 0xEF && byte_at(w, 1) == 0xBB && byte_at(w, 2) == 0xBF ? 3 : 0;
}

/* Every split but the first starts after the first record's first byte,
 * so that the first split holds the first record (a JSON array's part
 * that opens it needs one). */

/* ---- JSONL ---- */

static int line_boundary(window *w, uint64_t p, uint64_t *at)
{
    uint64_t first = skip_ws(w, bom(w));   /* the first record's first byte */
    if (p <= first)
        p = first + 1;
    for (uint64_t off = p - 1; off < w->size;) {   /* a line feed at p - 1 or later */
        if (!slide(w, off))
            break;
        size_t i = (size_t)(off - w->base);
        const char *nl = memchr(w->buf + i, '\n', w->len - i);
        if (nl) {
            *at = w->base + (uint64_t)(nl - w->buf) + 1;
            return LA_OK;
        }
        off = w->base + w->len;
    }
    *at = w->size;
    return w->failed ? w->failed : LA_OK;
}

/* ---- JSON array ---- */

/* One reading of the bytes: whether it is in a string, after a backslash
 * there, and, outside strings, what came last. */
typedef struct {
    int alive;
    int in_str, esc;
    int after_str;   /* a string just closed: a separator must come first */
    int after_tok;   /* a number or literal is going on */
} reading;

/* Feeds byte c to reading h; drops it when c breaks JSON under it. */
static void feed(reading *h, int c)
{
    if (h->in_str) {
        if (h->esc) {
            h->esc = 0;
            if (!strchr("\"\\/bfnrtu", c) || c == 0)
                h->alive = 0;
        } else if (c == '\\') {
            h->esc = 1;
        } else if (c == '"') {
            h->in_str = 0;
            h->after_str = 1;
            h->after_tok = 0;
        } else if (c < 0x20) {
            h->alive = 0;
        }
        return;
    }
    if (is_ws(c))
        return;
    if (c == '"') {
        if (h->after_str || h->after_tok)
            h->alive = 0;
        h->in_str = 1;
    } else if (c && strchr("{}[]:,", c)) {
        h->after_str = h->after_tok = 0;
    } else if (c && strchr("0123456789-+.eEtruefalsn", c)) {
        if (h->after_str)
            h->alive = 0;
        h->after_tok = 1;
    } else {
        h->alive = 0;
    }
}

static int same(const reading *a, const reading *b)
{
    return a->in_str == b->in_str && a->esc == b->esc && a->after_str == b->after_str &&
           a->after_tok == b->after_tok;
}

/* Tells strings from structure from byte p on: *pos is where the one
 * reading left takes over, *state that reading. */
static int resolve(window *w, uint64_t p, uint64_t *pos, reading *state, la_err *err)
{
    reading h[3];
    uint64_t from = p;
    for (;;) {
        memset(h, 0, sizeof h);
        h[0].alive = h[1].alive = h[2].alive = 1;
        h[1].in_str = h[2].in_str = 1;
        h[2].esc = 1;
        uint64_t i = from;
        for (;; i++) {
            if (i - p >= RESOLVE_MAX)
                return la_err_set(err, LA_EDATA, "split_boundary",
                                  "strings cannot be told from structure in the %u bytes after byte %llu",
                                  RESOLVE_MAX, (unsigned long long)p);
            int c = byte_at(w, i);
            if (c < 0) {
                if (w->failed)
                    return w->failed;
                *pos = w->size;   /* the end came first: no element after p */
                return LA_OK;
            }
            int alive = 0, last = 0;
            for (int k = 0; k < 3; k++) {
                if (!h[k].alive)
                    continue;
                feed(&h[k], c);
                for (int j = 0; j < k && h[k].alive; j++)
                    if (h[j].alive && same(&h[j], &h[k]))
                        h[k].alive = 0;
                if (h[k].alive) {
                    alive++;
                    last = k;
                }
            }
            if (alive == 1) {
                *pos = i + 1;
                *state = h[last];
                return LA_OK;
            }
            if (alive == 0) {   /* no reading fits (a bad record): start again after it */
                from = i + 1;
                break;
            }
        }
    }
}

/* Whether byte c starts a value that is not a string. */
static int value_start(int c) { return c > 0 && strchr("{[-0123456789tfn", c) != NULL; }

static int element_boundary(window *w, uint64_t p, uint64_t *at, la_err *err)
{
    uint64_t open = skip_ws(w, bom(w));
    if (w->failed)
        return w->failed;
    if (open >= w->size || byte_at(w, open) != '[') {
        *at = w->size;   /* not an array: the first split reads it all, and says so */
        return w->failed;
    }
    uint64_t first = skip_ws(w, open + 1);   /* the first element's first byte */
    if (p <= first)
        p = first + 1;
    if (p >= w->size) {
        *at = w->size;
        return w->failed;
    }
    reading st = {0, 0, 0, 0, 0};
    uint64_t i = p;
    int rc = resolve(w, p, &i, &st, err);
    if (rc)
        return rc;
    int in_str = st.in_str, esc = st.esc;
    int64_t depth = 0, lowest = 0;   /* relative to i; lowest reached so far */
    uint64_t head = UINT64_MAX;      /* the candidate element start */
    for (;; i++) {
        if (head != UINT64_MAX && i > head && i - head >= ACCEPT_AFTER)
            break;
        int c = byte_at(w, i);
        if (c < 0)
            break;
        if (in_str) {
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == lowest) {   /* a container open before i closes */
                if (c == ']' && skip_ws(w, i + 1) >= w->size && !w->failed) {
                    *at = head != UINT64_MAX ? head : w->size;   /* the array's own end */
                    return LA_OK;
                }
                head = UINT64_MAX;   /* that container was not the array */
                lowest--;
            }
            depth--;
        } else if (c == ',' && depth == lowest && head == UINT64_MAX) {
            uint64_t v = skip_ws(w, i + 1);
            if (v < w->size && value_start(byte_at(w, v)))
                head = v;
        }
    }
    if (w->failed)
        return w->failed;
    *at = head != UINT64_MAX ? head : w->size;
    return LA_OK;
}

int la_split_boundary(int fd, uint64_t size, int format, uint64_t p, uint64_t *at, la_err *err)
{
    if (p >= size) {
        *at = size;
        return LA_OK;
    }
    window w = {fd, size, 0, NULL, 0, 0, 0, 0, err};
    int rc = format == LA_IO_JSON ? element_boundary(&w, p, at, err) : line_boundary(&w, p, at);
    free(w.buf);
    return rc;
}
