/*
 * huge.c - private memory on huge pages, for the large tables that are
 * read at random (the word table of direct previews, a tokenizer file's
 * bytes when read and a tokenizer cache entry's model image), and the
 * mappings of cache entries' and tokenizer files, which a SIGBUS handler
 * may ask about. A file of its own because both the word table (direct.c)
 * and the tokenizer cache (load.c) map memory this way, and the cache
 * also uses the word table. The model's tables built from a tokenizer
 * file (bpe.c, cache_image.c) come from here too, through tk_table_alloc.
 */
#include "tokenizer/tk.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/fs.h>

/* Linux's PAGEMAP_SCAN (a query of /proc/self/pagemap, 6.7 on), for C
 * libraries whose headers predate it: the layout is the kernel's ABI. */
#ifndef PAGEMAP_SCAN
struct page_region {
    uint64_t start, end, categories;
};
struct pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted, category_mask,
        category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_HUGE (1 << 6)
#endif

/* keep bytes of private anonymous memory (prot) starting on a huge
 * page's boundary: a huge page more is asked for, and what lies before
 * and after the aligned part given back. NULL when none. */
static char *huge_aligned(size_t keep, int prot)
{
    char *p = mmap(NULL, keep + TK_HUGE_PAGE, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    char *a = (char *)(((uintptr_t)p + TK_HUGE_PAGE - 1) & ~(uintptr_t)(TK_HUGE_PAGE - 1));
    if (a > p)
        munmap(p, (size_t)(a - p));
    if (a + keep < p + keep + TK_HUGE_PAGE)
        munmap(a + keep, (size_t)(p + keep + TK_HUGE_PAGE - (a + keep)));
    return a;
}

void *tk_map_huge(size_t *len)
{
    size_t want = (*len + TK_HUGE_PAGE - 1) & ~(TK_HUGE_PAGE - 1);
    char *a = huge_aligned(want, PROT_READ | PROT_WRITE);
    if (!a)
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(a, want, MADV_HUGEPAGE);   /* a hint: without it, ordinary pages */
#endif
    *len = want;
    return a;
}

/* 1 when the whole of p[0..len) (len a multiple of the small page) is
 * mapped by huge pages, as the kernel's PAGEMAP_SCAN reports; 0 when it
 * is not, or cannot be asked (older kernels). */
static int huge_mapped(const char *p, size_t len)
{
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct page_region r[4];
    struct pm_scan_arg a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.start = (uintptr_t)p;
    a.end = (uintptr_t)p + len;
    a.vec = (uintptr_t)r;
    a.vec_len = sizeof r / sizeof r[0];
    a.category_mask = a.return_mask = PAGE_IS_HUGE;
    long k = ioctl(fd, PAGEMAP_SCAN, &a);
    close(fd);
    size_t got = 0;
    for (long i = 0; i < k && i < (long)(sizeof r / sizeof r[0]); i++)
        got += (size_t)(r[i].end - r[i].start);
    return k > 0 && got == len;
}

/* The tokenizer cache entries mapped from their files (tk_map_file)
 * and the tokenizer files mapped while loaded (tk_map_text: kind 1),
 * with their paths, so that a SIGBUS at an address can be told to be
 * such a file cut short (la_tokenizer_cache_fault, la_tokenizer_file_fault,
 * which a signal handler calls: they read this table with atomic loads
 * alone). A slot's start is 0 when free, 1 while being filled or emptied.
 * More files mapped at once than slots is allowed; a fault in those is
 * just not named. */
#define MAPPED_SLOTS 16

static struct {
    uintptr_t start;
    size_t len;
    char *path;
    int kind;
} mapped[MAPPED_SLOTS];

static void mapped_add_kind(const void *p, size_t len, const char *path, int kind)
{
    for (int i = 0; i < MAPPED_SLOTS; i++) {
        uintptr_t zero = 0;
        if (!__atomic_compare_exchange_n(&mapped[i].start, &zero, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            continue;
        char *copy = strdup(path);
        if (!copy) {
            __atomic_store_n(&mapped[i].start, 0, __ATOMIC_RELEASE);
            return;
        }
        __atomic_store_n(&mapped[i].path, copy, __ATOMIC_RELAXED);
        __atomic_store_n(&mapped[i].len, len, __ATOMIC_RELAXED);
        __atomic_store_n(&mapped[i].kind, kind, __ATOMIC_RELAXED);
        __atomic_store_n(&mapped[i].start, (uintptr_t)p, __ATOMIC_RELEASE);
        return;
    }
}

static void mapped_add(const void *p, size_t len, const char *path)
{
    mapped_add_kind(p, len, path, 0);
}

static void mapped_remove(const void *p)
{
    for (int i = 0; i < MAPPED_SLOTS; i++) {
        uintptr_t at = (uintptr_t)p;
        if (!__atomic_compare_exchange_n(&mapped[i].start, &at, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            continue;
        free(__atomic_exchange_n(&mapped[i].path, NULL, __ATOMIC_RELAXED));
        __atomic_store_n(&mapped[i].start, 0, __ATOMIC_RELEASE);
        return;
    }
}

static const char *fault_in(const void *addr, int kind)
{
    uintptr_t a = (uintptr_t)addr;
    for (int i = 0; i < MAPPED_SLOTS; i++) {
        uintptr_t start = __atomic_load_n(&mapped[i].start, __ATOMIC_ACQUIRE);
        if (start > 1 && a >= start && a - start < __atomic_load_n(&mapped[i].len, __ATOMIC_RELAXED) &&
            __atomic_load_n(&mapped[i].kind, __ATOMIC_RELAXED) == kind)
            return __atomic_load_n(&mapped[i].path, __ATOMIC_RELAXED);
    }
    return NULL;
}

const char *la_tokenizer_cache_fault(const void *addr) { return fault_in(addr, 0); }

const char *la_tokenizer_file_fault(const void *addr) { return fault_in(addr, 1); }

void tk_entry_unmap(void *p, size_t len)
{
    mapped_remove(p);
    munmap(p, len);
}

void *tk_map_file(int fd, size_t n, int always, const char *path)
{
    if (n == 0 || n > SIZE_MAX - TK_HUGE_PAGE)
        return NULL;
    /* room for n bytes from a huge page's boundary, so that the page
     * cache's huge pages can be mapped whole */
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), end = (n + pg - 1) & ~(pg - 1);
    char *a = huge_aligned(end, PROT_NONE);
    if (!a)
        return NULL;
    if (mmap(a, n, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0) == MAP_FAILED) {
        munmap(a, end);
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    /* a file read from the disk through this mapping comes in huge pages */
    madvise(a, n, MADV_HUGEPAGE);
#endif
    if (always) {
        mapped_add(a, n, path);
        return a;
    }
#ifdef MADV_POPULATE_READ
    /* the first small page of every huge page the file fills touched
     * (which maps the whole huge page where the page cache holds one,
     * and reads one from the disk where it holds none); when that did not
     * map all of them whole (a page cache holding the file small, all or
     * some: a tmpfs folder, a file system without large folios, a file
     * written in pieces or when memory was short), every page of the
     * mapping is set up in the same way, by one call rather than a fault
     * each. Either way no fresh memory is zeroed and nothing is copied out
     * of the page cache, which reading the file would cost. */
    size_t whole = n & ~(TK_HUGE_PAGE - 1);
    int touched = 1;
    for (size_t off = 0; touched && off < whole; off += TK_HUGE_PAGE)
        touched = madvise(a + off, pg, MADV_POPULATE_READ) == 0;
    if (touched && ((whole && huge_mapped(a, whole)) || madvise(a, n, MADV_POPULATE_READ) == 0)) {
        mapped_add(a, n, path);
        return a;
    }
#endif
    munmap(a, n);
    return NULL;
}

void *tk_map_text(int fd, size_t n, const char *path, size_t *map_len)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    if (n == 0 || n > SIZE_MAX - TK_HUGE_PAGE - pg)
        return NULL;
    /* the file's pages from a huge page's boundary (the page cache's huge
     * pages mapped whole), then a page of zeros: the bytes past the end
     * of the file in its last page are zeros too, so the text ends with
     * a NUL and a scan may read a few bytes past it */
    size_t end = (n + pg - 1) & ~(pg - 1), len = end + pg;
    char *a = huge_aligned(len, PROT_NONE);
    if (!a)
        return NULL;
    if (mmap(a, n, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0) == MAP_FAILED ||
        mmap(a + end, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
        munmap(a, len);
        return NULL;
    }
#ifdef MADV_POPULATE_READ
    /* every page set up at once rather than by a fault each; where that
     * cannot be (an older kernel), faults will */
    madvise(a, n, MADV_POPULATE_READ);
#endif
    mapped_add_kind(a, n, path, 1);
    *map_len = len;
    return a;
}

void tk_text_unmap(void *p, size_t map_len)
{
    mapped_remove(p);
    munmap(p, map_len);
}

/* A table's header, just before its bytes: the length of its mapping, 0
 * when it came from malloc. 64 bytes, so the bytes after it start a cache
 * line. */
typedef struct {
    size_t map_len;
    char *map;                   /* where the mapping starts */
    unsigned char pad[64 - sizeof(size_t) - sizeof(char *)];
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
        /* the bytes from a huge page's boundary, in whole huge pages, and
         * the header at the end of the small page before them: a header
         * in front of the bytes would push a table of a power of two of
         * bytes (a hash table) 64 bytes into one more huge page, to be
         * zeroed when its last slot is touched */
        size_t pg = (size_t)sysconf(_SC_PAGESIZE), body = (n + TK_HUGE_PAGE - 1) & ~(TK_HUGE_PAGE - 1);
        if (n > SIZE_MAX - 2 * TK_HUGE_PAGE || pg < sizeof *h || pg > TK_HUGE_PAGE)
            return NULL;
        char *a = huge_aligned(TK_HUGE_PAGE + body, PROT_READ | PROT_WRITE);
        if (!a)
            return NULL;
        if (TK_HUGE_PAGE > pg)
            munmap(a, TK_HUGE_PAGE - pg);
#ifdef MADV_HUGEPAGE
        madvise(a + TK_HUGE_PAGE, body, MADV_HUGEPAGE);   /* a hint: without it, ordinary pages */
#endif
        h = (table_head *)(a + TK_HUGE_PAGE) - 1;
        h->map = a + TK_HUGE_PAGE - pg;
        h->map_len = pg + body;
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
        munmap(h->map, h->map_len);
    else
        free(h);
}
