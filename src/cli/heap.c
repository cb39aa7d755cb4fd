/* heap.c - the command's heap on huge pages.
 *
 * Each page of memory touched for the first time costs a page fault, and
 * where faults are dear (in a virtual machine each one may exit to the
 * host) a run spends much of its system time on them: the tokenizer's
 * tables, the batch buffers. A huge page takes one fault where ordinary
 * pages take 512. glibc can keep malloc's heap on huge pages (its
 * glibc.malloc.hugetlb tunable), but reads that setting only from the
 * environment at start-up; this does the same from inside, before the
 * first large allocation: one heap for all threads (M_ARENA_MAX), which
 * takes every allocation below the largest mmap threshold and never
 * shrinks, its first stretch grown at once and marked MADV_HUGEPAGE. That
 * is a hint: where the system has no huge pages to give, or its policy
 * ("never") refuses them, ordinary pages are used as before. A user who
 * sets GLIBC_TUNABLES keeps malloc as those say, and so does a run whose
 * address space or data size is limited. */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "cli/cli.h"

#define HEAP_HUGE ((uintptr_t)2 << 20)      /* a huge page */
#define HEAP_FIRST ((size_t)1 << 20)        /* more than the heap holds before main */
#define HEAP_PAD (32 << 20)                 /* what each growth of the heap adds */
#ifdef MADV_COLLAPSE
#define HEAP_COLLAPSE MADV_COLLAPSE
#else
#define HEAP_COLLAPSE 25                    /* Linux's value, for C libraries whose headers predate it */
#endif

/* 1 when the process's resource is limited (ulimit -v, -d): the heap's
 * reserve of address space, and each growth's pad, would then count
 * against a budget the run's own memory needs. */
static int limited(int resource)
{
    struct rlimit r;
    return getrlimit(resource, &r) == 0 && r.rlim_cur != RLIM_INFINITY;
}

void cli_heap_setup(void)
{
#if defined(__GLIBC__) && defined(MADV_HUGEPAGE) && defined(M_ARENA_MAX)
    if (getenv("GLIBC_TUNABLES") || limited(RLIMIT_AS) || limited(RLIMIT_DATA))
        return;
    char *brk0 = sbrk(0);
    if (brk0 == (char *)-1 || !mallopt(M_ARENA_MAX, 1) || !mallopt(M_MMAP_THRESHOLD, 32 << 20) ||
        !mallopt(M_TRIM_THRESHOLD, 1 << 30) || !mallopt(M_TOP_PAD, HEAP_PAD))
        return;
    /* the heap starts on a huge page's boundary: the address space before
     * it is taken and never touched (else the first allocations, on
     * ordinary pages, fill up to there) */
    uintptr_t gap = (HEAP_HUGE - ((uintptr_t)brk0 & (HEAP_HUGE - 1))) & (HEAP_HUGE - 1);
    if (gap && sbrk((intptr_t)gap) == (void *)-1)
        gap = 0;
    char *start = brk0 + gap;   /* where the heap grows from */
    /* the heap grows now, by HEAP_PAD more than asked for, none of it
     * touched (malloc knows that memory to be zero) */
    void *volatile grow = malloc(HEAP_FIRST);   /* volatile: a malloc freed unused may be left out */
    free(grow);
    char *end = sbrk(0);
    if (end == (char *)-1 || end <= start)
        return;   /* the heap could not grow in place: ordinary pages */
    uintptr_t a = ((uintptr_t)start + HEAP_HUGE - 1) & ~(HEAP_HUGE - 1);
    if (a < (uintptr_t)end && madvise((void *)a, (uintptr_t)end - a, MADV_HUGEPAGE) == 0 &&
        (uintptr_t)end - a >= HEAP_HUGE) {
        /* the first huge page already holds malloc's first chunk, on an
         * ordinary page (the growth wrote it before the heap could be
         * marked), which would keep the rest of it on ordinary pages too:
         * made one huge page now (Linux 6.1 on; a hint elsewhere) */
        madvise((void *)a, HEAP_HUGE, HEAP_COLLAPSE);
    }
#endif
}
