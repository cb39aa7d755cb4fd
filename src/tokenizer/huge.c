/*
 * huge.c - private memory on huge pages, for the large tables that are
 * read at random (the word table of direct previews, a tokenizer file's
 * bytes and a tokenizer cache entry's model image). A file of its own
 * because both the word table (direct.c) and the tokenizer cache
 * (load.c) map memory this way, and the cache also uses the word table.
 * The model's tables built from a tokenizer file (bpe.c, cache_image.c)
 * come from here too, through tk_table_alloc.
 */
#include "tokenizer/tk.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void *tk_map_huge(size_t *len)
{
    size_t want = (*len + TK_HUGE_PAGE - 1) & ~(TK_HUGE_PAGE - 1);
    char *p = mmap(NULL, want + TK_HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* aligned on a huge page, the rest given back */
    char *a = (char *)(((uintptr_t)p + TK_HUGE_PAGE - 1) & ~(uintptr_t)(TK_HUGE_PAGE - 1));
    if (a > p)
        munmap(p, (size_t)(a - p));
    if (a + want < p + want + TK_HUGE_PAGE)
        munmap(a + want, (size_t)(p + want + TK_HUGE_PAGE - (a + want)));
#ifdef MADV_HUGEPAGE
    madvise(a, want, MADV_HUGEPAGE);   /* a hint: without it, ordinary pages */
#endif
    *len = want;
    return a;
}

/* A table's header, just before its bytes: the length of its mapping, 0
 * when it came from malloc. 64 bytes, so the bytes after it start a cache
 * line. */
typedef struct {
    size_t map_len;
    unsigned char pad[64 - sizeof(size_t)];
} table_head;

/* A fresh buffer's first touch of each small page is a page fault, which
 * on a virtual machine costs more than filling the page; the tables of a
 * large vocabulary span thousands of them, a huge page each few hundred. */
void *tk_table_alloc(size_t n)
{
    if (n > SIZE_MAX - 2 * sizeof(table_head))
        return NULL;
    table_head *h;
    if (n >= TK_TABLE_HUGE) {
        size_t len = n + sizeof *h;
        if (!(h = tk_map_huge(&len)))
            return NULL;
        h->map_len = len;
    } else {
        if (!(h = aligned_alloc(64, (n + sizeof *h + 63) & ~(size_t)63)))
            return NULL;
        memset(h, 0, n + sizeof *h);
    }
    return h + 1;
}

void *tk_table_grow(void *p, size_t old, size_t n)
{
    char *q = tk_table_alloc(n);
    if (q && p)
        memcpy(q, p, old < n ? old : n);
    if (q)
        tk_table_free(p);
    return q;
}

void tk_table_free(void *p)
{
    if (!p)
        return;
    table_head *h = (table_head *)p - 1;
    if (h->map_len)
        munmap(h, h->map_len);
    else
        free(h);
}
