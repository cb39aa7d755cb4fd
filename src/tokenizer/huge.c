/*
 * huge.c - private memory on huge pages, for the large tables that are
 * read at random (the word table of direct previews, a tokenizer file's
 * bytes and a tokenizer cache entry's model image). A file of its own
 * because both the word table (direct.c) and the tokenizer cache
 * (load.c) map memory this way, and the cache also uses the word table.
 */
#include "tokenizer/tk.h"

#include <stdint.h>
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
