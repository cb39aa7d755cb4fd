/* tokens.c - the growing lists of tokens the stages hand each other: a
 * decoded token list (la_tokens: ids and their strings) and a preview's
 * list (tk_plist: ids and where their text lies). Below every stage. */
#include "tokenizer/tk.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- token lists ------------------------------------------------------------ */

/* Room for one more id and offset. */
static int tokens_room(la_tokens *t)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        uint32_t *ids = realloc(t->ids, cap * sizeof *ids);
        if (!ids)
            return LA_ENOMEM;
        t->ids = ids;
        t->cap = cap;
    }
    if (t->n == t->str_cap) {
        size_t cap = t->str_cap ? t->str_cap * 2 : 64;
        size_t *off = realloc(t->str_off, cap * sizeof *off);
        if (!off)
            return LA_ENOMEM;
        t->str_off = off;
        t->str_cap = cap;
    }
    return LA_OK;
}

int tk_tokens_push_tail(la_tokens *t, uint32_t id, size_t at)
{
    if ((t->n >= t->cap || t->n >= t->str_cap) && tokens_room(t))
        return LA_ENOMEM;
    if (la_buf_putc(&t->strs, 0))
        return LA_ENOMEM;
    t->ids[t->n] = id;
    t->str_off[t->n] = at;
    t->n++;
    return LA_OK;
}

int tk_tokens_push(la_tokens *t, uint32_t id, const char *s, size_t len)
{
    size_t at = t->strs.len;
    if (la_buf_append(&t->strs, s, len))
        return LA_ENOMEM;
    return tk_tokens_push_tail(t, id, at);
}

void tk_tokens_clear(la_tokens *t)
{
    t->n = 0;
    la_buf_clear(&t->strs);
}

void la_tokens_free(la_tokens *t)
{
    if (!t)
        return;
    free(t->ids);
    free(t->str_off);
    la_buf_free(&t->strs);
    memset(t, 0, sizeof *t);
}

/* ---- preview token lists ------------------------------------------------------- */

/* Room for `more` tokens. */
static int plist_room(tk_plist *p, size_t more)
{
    if (p->n + more <= p->cap)
        return LA_OK;
    size_t cap = p->cap ? p->cap : 32;
    while (cap < p->n + more)
        cap *= 2;
    uint32_t *ids = realloc(p->ids, cap * sizeof *ids);
    if (ids)
        p->ids = ids;
    uint32_t *off = realloc(p->off, cap * sizeof *off);
    if (off)
        p->off = off;
    uint32_t *len = realloc(p->len, cap * sizeof *len);
    if (len)
        p->len = len;
    if (!ids || !off || !len)
        return LA_ENOMEM;
    p->cap = cap;
    return LA_OK;
}

int tk_plist_reserve(tk_plist *p, size_t more)
{
    return plist_room(p, more);
}

int tk_plist_push_added(tk_plist *p, uint32_t id, const char *s, size_t n)
{
    if (p->strs.len + n >= UINT32_MAX || plist_room(p, 1) || la_buf_append(&p->strs, s, n))
        return LA_ENOMEM;
    p->ids[p->n] = id;
    p->off[p->n] = (uint32_t)(p->strs.len - n);
    p->len[p->n++] = (uint32_t)n;
    return LA_OK;
}
