/*
 * cache.c - the tokenizer cache, an accelerator of loading (load.c): a
 * parsed model kept as bytes on disk (see below). Its entry points:
 * tk_cache_map reads an entry or says there is none (then load.c parses
 * the file, as without a cache), tk_cache_write makes one. The model's
 * own bytes are cache_image.c's.
 */
#define _GNU_SOURCE               /* dl_iterate_phdr (the build id) */
#include "tokenizer/tk.h"
#include "tokenizer/tk_test.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#ifdef __SSE2__
#include <immintrin.h>
#endif

/* Loading a large tokenizer.json is mostly parsing and hashing a
 * vocabulary and its merges, and a run that starts many processes (GNU
 * parallel --pipe, a job array) pays that in each. So a loaded model is
 * kept as bytes (tk_bpe_image) in a cache folder, with the text of the
 * file's other members, its added tokens as read (tk_added_image: no
 * JSON to parse) and the word table of direct previews, under the
 * file's content (an XXH3-128 hash of its bytes, which are read anyway,
 * and its length) and this program's build id; a later load of a file with the same bytes
 * by the same build reads that entry instead of parsing. No property of
 * the file but its bytes counts (a file replaced by another of the same
 * size within the same second is told apart); a hit finds that key
 * without reading the bytes only through an identity record
 * (cache_id.c), written once they were hashed and the file was settled.
 * An entry also holds a
 * check of its own bytes, and every offset, length, count and index in
 * it is checked before use (tk_bpe_from_image, tk_direct_table_valid):
 * an entry that fails anything is removed and the file parsed, never
 * trusted. (The check of its bytes is skipped for an entry file that a
 * record says passed it and that has not changed since: cache_id.c.)
 * What a merge makes is checked at its first lookup instead
 * (a run uses few): one that does not hold removes the entry and fails
 * the run. Entries are written whole under a temporary name and renamed,
 * so that readers never see half of one. */

static int cache_enabled;

void la_tokenizer_use_cache(int on) { cache_enabled = on; }

#define CACHE_MAGIC "LATKCACH"
#define CACHE_VERSION 6u          /* bump when loading a file gives other tables */

typedef struct {
    char magic[8];
    uint32_t version, head_size;
    uint32_t build_len, spare;
    unsigned char build[TK_BUILD_ID_MAX];   /* this build's id: entries of other builds do not match */
    tk_cache_key key;
    uint64_t src_dev, src_ino;    /* the file it was made from: only for removing older versions */
    uint64_t rest_len, added_len, image_off, image_len, words_off, words_len, check;
} cache_head;

/* Where this build's code is, to find its build id (tests move it to
 * where no program is: then no build id, so no cache). */
static const void *build_anchor;

void tk_cache_build_anchor(const void *p) { build_anchor = p; }

typedef struct {
    const void *anchor;
    unsigned char id[TK_BUILD_ID_MAX];
    size_t len;
} build_search;

/* The GNU build-id note among the notes p[0..n) (align: the segment's),
 * copied into s: 1 when found. */
static int build_note(const char *p, size_t n, size_t align, build_search *s)
{
    size_t at = 0;
    while (n - at >= sizeof(ElfW(Nhdr))) {
        ElfW(Nhdr) h;
        memcpy(&h, p + at, sizeof h);
        size_t name = (h.n_namesz + align - 1) & ~(align - 1), desc = (h.n_descsz + align - 1) & ~(align - 1);
        at += sizeof h;
        if (name > n - at || desc > n - at - name)
            return 0;
        if (h.n_type == NT_GNU_BUILD_ID && h.n_namesz == 4 && memcmp(p + at, "GNU", 4) == 0 && h.n_descsz > 0 &&
            h.n_descsz <= TK_BUILD_ID_MAX) {
            memcpy(s->id, p + at + name, h.n_descsz);
            s->len = h.n_descsz;
            return 1;
        }
        at += name + desc;
    }
    return 0;
}

/* dl_iterate_phdr's callback: in the object whose loaded segments hold
 * s->anchor, its build id (then stops the walk). */
static int build_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    build_search *s = arg;
    uintptr_t a = (uintptr_t)s->anchor;
    int holds = 0;
    (void)size;
    for (size_t i = 0; i < info->dlpi_phnum && !holds; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        holds = ph->p_type == PT_LOAD && a >= lo && a - lo < ph->p_memsz;
    }
    if (!holds)
        return 0;
    for (size_t i = 0; i < info->dlpi_phnum && !s->len; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_NOTE)
            build_note((const char *)(info->dlpi_addr + ph->p_vaddr), ph->p_memsz, ph->p_align == 8 ? 8 : 4, s);
    }
    return 1;
}

/* This build's id (the linker's GNU build-id note of the program, or
 * shared object, holding this code; the Makefile links with
 * -Wl,--build-id) into out: its length, or 0 when there is none (then no
 * cache: size and time of a program file would be a guess, and collide
 * under reproducible builds). */
static size_t build_id(unsigned char out[TK_BUILD_ID_MAX])
{
    build_search s = { build_anchor ? build_anchor : (const void *)build_id, { 0 }, 0 };
    dl_iterate_phdr(build_object, &s);
    memset(out, 0, TK_BUILD_ID_MAX);
    memcpy(out, s.id, s.len);
    return s.len;
}

size_t tk_cache_build(unsigned char out[TK_BUILD_ID_MAX])
{
    if (!cache_enabled) {
        memset(out, 0, TK_BUILD_ID_MAX);
        return 0;
    }
    return build_id(out);
}

/* A check of n bytes (n a multiple of 8), made to catch a damaged entry,
 * not an adversary (the folder is the user's own). Eight 64-bit lanes,
 * one for each word of a 64-byte block: a lane adds the product of the
 * halves of its word (with the lane's key mixed in) and its neighbour's
 * word as it is, the shape of the accumulating hashes (XXH3's among
 * them) whose blocks SIMD multiplies take whole; a last mix of the lanes
 * and n makes the value. With AVX2 a block takes two multiplies, faster
 * than a four-lane scalar mix; SSE2 and plain C give the same value. */
static const uint64_t check_keys[8] = {
    0x243F6A8885A308D3ULL, 0x13198A2E03707344ULL, 0xA4093822299F31D0ULL, 0x082EFA98EC4E6C89ULL,
    0x452821E638D01377ULL, 0xBE5466CF34E90C6CULL, 0xC0AC29B7C97C50DDULL, 0x3F84D5B5B5470917ULL,
};

static inline void check_word(uint64_t acc[8], int j, uint64_t x)
{
    uint64_t y = x ^ check_keys[j];
    acc[j] += (y & 0xFFFFFFFFu) * (y >> 32);
    acc[j ^ 1] += x;
}

static size_t check_blocks_plain(const char *p, size_t n, uint64_t acc[8])
{
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int j = 0; j < 8; j++)
            check_word(acc, j, tk_load64(p + i + 8 * (size_t)j));
    return i;
}

#ifdef __SSE2__
static size_t check_blocks_sse2(const char *p, size_t n, uint64_t acc[8])
{
    __m128i a[4], k[4];
    for (int j = 0; j < 4; j++) {
        a[j] = _mm_loadu_si128((const __m128i *)(const void *)(acc + 2 * j));
        k[j] = _mm_loadu_si128((const __m128i *)(const void *)(check_keys + 2 * j));
    }
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        for (int j = 0; j < 4; j++) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 16 * (size_t)j));
            __m128i y = _mm_xor_si128(x, k[j]);
            a[j] = _mm_add_epi64(a[j], _mm_mul_epu32(y, _mm_srli_epi64(y, 32)));
            a[j] = _mm_add_epi64(a[j], _mm_shuffle_epi32(x, 0x4E));
        }
    for (int j = 0; j < 4; j++)
        _mm_storeu_si128((__m128i *)(void *)(acc + 2 * j), a[j]);
    return i;
}

__attribute__((target("avx2"))) static size_t check_blocks_avx2(const char *p, size_t n, uint64_t acc[8])
{
    __m256i a0 = _mm256_loadu_si256((const __m256i *)(const void *)acc),
            a1 = _mm256_loadu_si256((const __m256i *)(const void *)(acc + 4)),
            k0 = _mm256_loadu_si256((const __m256i *)(const void *)check_keys),
            k1 = _mm256_loadu_si256((const __m256i *)(const void *)(check_keys + 4));
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m256i x0 = _mm256_loadu_si256((const __m256i *)(const void *)(p + i)),
                x1 = _mm256_loadu_si256((const __m256i *)(const void *)(p + i + 32));
        __m256i y0 = _mm256_xor_si256(x0, k0), y1 = _mm256_xor_si256(x1, k1);
        a0 = _mm256_add_epi64(a0, _mm256_mul_epu32(y0, _mm256_srli_epi64(y0, 32)));
        a1 = _mm256_add_epi64(a1, _mm256_mul_epu32(y1, _mm256_srli_epi64(y1, 32)));
        a0 = _mm256_add_epi64(a0, _mm256_shuffle_epi32(x0, 0x4E));
        a1 = _mm256_add_epi64(a1, _mm256_shuffle_epi32(x1, 0x4E));
    }
    _mm256_storeu_si256((__m256i *)(void *)acc, a0);
    _mm256_storeu_si256((__m256i *)(void *)(acc + 4), a1);
    return i;
}
#endif

/* The lanes of the whole blocks of p[0..n) added to acc: the number of
 * bytes they take. */
static size_t check_blocks(const char *p, size_t n, uint64_t acc[8], int simd)
{
#ifdef __SSE2__
    if (simd < 0)
        simd = __builtin_cpu_supports("avx2") ? 2 : 1;
    return simd >= 2 && __builtin_cpu_supports("avx2") ? check_blocks_avx2(p, n, acc)
           : simd >= 1                                 ? check_blocks_sse2(p, n, acc)
                                                       : check_blocks_plain(p, n, acc);
#else
    (void)simd;
    return check_blocks_plain(p, n, acc);
#endif
}

/* One thread: the entry is checked in memory of its own or in a mapping
 * of huge pages, which is quick, and on a hit beside the building of the
 * model (load.c); a second thread for half of it costs more to start
 * than it saves. */
uint64_t tk_cache_check(const char *p, size_t n, int simd)
{
    uint64_t acc[8] = { 0 };
    size_t i = check_blocks(p, n, acc, simd);
    for (int j = 0; i + 8 <= n; i += 8, j++)
        check_word(acc, j, tk_load64(p + i));
    uint64_t h = (uint64_t)n * 0x9E3779B97F4A7C15ULL;
    for (int j = 0; j < 8; j++) {
        h = (h ^ acc[j]) * 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
    }
    h = (h ^ (h >> 32)) * 0xc4ceb93fe53e2ac9ULL;
    return h ^ (h >> 29);
}

static uint64_t bytes_check(const char *p, size_t n) { return tk_cache_check(p, n, -1); }

int tk_cache_reseal(char *p, size_t n)
{
    cache_head h;
    if (n < sizeof h || n % 8 != 0)
        return 0;
    memcpy(&h, p, sizeof h);
    h.check = bytes_check(p + sizeof h, n - sizeof h);
    memcpy(p, &h, sizeof h);
    return 1;
}

int tk_cache_vouched(const char *p, size_t n, size_t off)
{
    cache_head h;
    if (n < sizeof h || off >= n || off < sizeof h)
        return 0;
    memcpy(&h, p, sizeof h);
    if (off - sizeof h < h.rest_len)
        return 1;                 /* the other members' text */
    if (off - sizeof h - h.rest_len < h.added_len)
        return tk_added_image_vouched(p + sizeof h + h.rest_len, (size_t)h.added_len,
                                      off - sizeof h - (size_t)h.rest_len);
    if (off >= h.image_off && off - h.image_off < h.image_len)
        return tk_bpe_image_vouched(p + h.image_off, (size_t)h.image_len, off - (size_t)h.image_off);
    /* in the word table: what an entry says of its word's tokens */
    return off >= h.words_off && (off - h.words_off) % 32 >= 17 && (off - h.words_off) % 32 < 28;
}

int tk_cache_added_part(const char *p, size_t n, size_t *off, size_t *len)
{
    cache_head h;
    if (n < sizeof h)
        return 0;
    memcpy(&h, p, sizeof h);
    if (h.rest_len > n - sizeof h || h.added_len > n - sizeof h - h.rest_len)
        return 0;
    *off = sizeof h + (size_t)h.rest_len;
    *len = (size_t)h.added_len;
    return 1;
}

int tk_cache_image_part(const char *p, size_t n, size_t *off, size_t *len)
{
    cache_head h;
    if (n < sizeof h)
        return 0;
    memcpy(&h, p, sizeof h);
    if (h.image_off > n || h.image_len > n - h.image_off)
        return 0;
    *off = (size_t)h.image_off;
    *len = (size_t)h.image_len;
    return 1;
}

/* A file of TK_KEY_SPLIT bytes or more is hashed as two halves, the
 * second on another thread when the key is read from the file (a cache
 * hit pays for reading and hashing the whole file before it can look for
 * its entry): its key is the hash of the two halves' hashes. A smaller
 * one is hashed whole, sooner than a thread starts. */
static void key_set(tk_cache_key *k, XXH128_hash_t h, size_t len)
{
    memset(k, 0, sizeof *k);
    k->hash[0] = h.low64;
    k->hash[1] = h.high64;
    k->size = (uint64_t)len;
}

static XXH128_hash_t halves_hash(XXH128_hash_t a, XXH128_hash_t b)
{
    uint64_t w[4] = { a.low64, a.high64, b.low64, b.high64 };
    return XXH3_128bits(w, sizeof w);
}

/* The key of a file's bytes data[0..len). */
void tk_cache_key_of(const char *data, size_t len, tk_cache_key *k)
{
    if (len < TK_KEY_SPLIT) {
        key_set(k, XXH3_128bits(data, len), len);
        return;
    }
    size_t half = len / 2;
    key_set(k, halves_hash(XXH3_128bits(data, half), XXH3_128bits(data + half, len - half)), len);
}

/* When the entry is there, the file's bytes are wanted for their key
 * alone: read through a buffer that stays in the processor's caches,
 * they cost neither the copy into, nor the zeroing of, fresh memory as
 * large as the file. XXH3's streaming state gives the same hash as one
 * call over all the bytes. */
#define KEY_CHUNK ((size_t)256 << 10)

typedef struct {
    int fd;
    size_t from, len;
    XXH128_hash_t h;
    int rc;
} key_range;

/* The hash of bytes [from, from + len) of the file open on fd into r. */
static void *range_hash(void *arg)
{
    key_range *r = arg;
    XXH3_state_t *st = XXH3_createState();
    char *buf = malloc(KEY_CHUNK);
    int rc = st && buf && XXH3_128bits_reset(st) == XXH_OK ? LA_OK : LA_EIO;
    size_t got = 0;
    while (rc == LA_OK && got < r->len) {
        size_t want = r->len - got < KEY_CHUNK ? r->len - got : KEY_CHUNK;
        ssize_t n = pread(r->fd, buf, want, (off_t)(r->from + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || XXH3_128bits_update(st, buf, (size_t)n) != XXH_OK)
            rc = LA_EIO;
        else
            got += (size_t)n;
    }
    if (rc == LA_OK)
        r->h = XXH3_128bits_digest(st);
    r->rc = rc;
    free(buf);
    XXH3_freeState(st);
    return NULL;
}

int tk_cache_key_of_fd(int fd, size_t n, tk_cache_key *k)
{
    if (n < TK_KEY_SPLIT) {
        key_range r = { fd, 0, n, { 0, 0 }, LA_EIO };
        range_hash(&r);
        if (r.rc == LA_OK)
            key_set(k, r.h, n);
        return r.rc;
    }
    size_t half = n / 2;
    key_range a = { fd, 0, half, { 0, 0 }, LA_EIO }, b = { fd, half, n - half, { 0, 0 }, LA_EIO };
    pthread_t tid;
    int threaded = pthread_create(&tid, NULL, range_hash, &b) == 0;
    range_hash(&a);
    if (threaded)
        pthread_join(tid, NULL);
    else
        range_hash(&b);
    if (a.rc != LA_OK || b.rc != LA_OK)
        return LA_EIO;
    key_set(k, halves_hash(a.h, b.h), n);
    return LA_OK;
}

/* The cache folder: $LOOKAHEAD_CACHE_DIR (empty: no cache), else
 * $XDG_CACHE_HOME/lookahead, else $HOME/.cache/lookahead; NULL when
 * none (or out of memory). */
char *tk_cache_dir(void)
{
    const char *d = getenv("LOOKAHEAD_CACHE_DIR"), *base, *tail;
    if (d)
        return d[0] ? strdup(d) : NULL;
    if ((base = getenv("XDG_CACHE_HOME")) && base[0] == '/')
        tail = "/lookahead";
    else if ((base = getenv("HOME")) && base[0] == '/')
        tail = "/.cache/lookahead";
    else
        return NULL;
    size_t n = strlen(base) + strlen(tail) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s", base, tail);
    return p;
}

char *tk_cache_named(const void *name, size_t len, const char *ext, char **dir_out)
{
    char *dir = tk_cache_dir();
    if (!dir)
        return NULL;
    XXH128_hash_t h = XXH3_128bits(name, len);
    size_t n = strlen(dir) + strlen(ext) + 36;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%016llx-%016llx%s", dir, (unsigned long long)h.high64, (unsigned long long)h.low64, ext);
    if (dir_out)
        *dir_out = dir;
    else
        free(dir);
    return p;
}

/* The entry's path for key k made by build (NULL without a cache
 * folder): its name is a hash of both and of the format's version; the
 * folder in *dir_out when asked for. */
static char *cache_path(const tk_cache_key *k, const unsigned char build[TK_BUILD_ID_MAX], char **dir_out)
{
    struct {
        uint32_t version, head_size;
        tk_cache_key key;
        unsigned char build[TK_BUILD_ID_MAX];
    } name = { CACHE_VERSION, (uint32_t)sizeof(cache_head), *k, { 0 } };
    memcpy(name.build, build, TK_BUILD_ID_MAX);
    return tk_cache_named(&name, sizeof name, ".tok", dir_out);
}

/* The n bytes of an entry's file, read into private memory of its own,
 * on huge pages where the system gives them: MAP_FAILED when it cannot
 * be had or read. *len: the mapping's length. What entry_map falls back
 * to, and what LOOKAHEAD_CACHE_MAP=never forces. */
static void *entry_read(int fd, size_t n, size_t *len)
{
    size_t want = n;
    char *a = tk_map_huge(&want);
    if (!a)
        return MAP_FAILED;
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, a + got, n - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < n) {
        munmap(a, want);
        return MAP_FAILED;
    }
    *len = want;
    return a;
}

/* How entries are had: mapped from the file, populated (0); tests and
 * comparisons force a mapping without populating ("always", 1) or a read
 * ("never", -1) with $LOOKAHEAD_CACHE_MAP. */
static int map_mode(void)
{
    const char *s = getenv("LOOKAHEAD_CACHE_MAP");
    return !s ? 0 : strcmp(s, "always") == 0 ? 1 : strcmp(s, "never") == 0 ? -1 : 0;
}

/* The file systems another machine may change a file on (Linux's
 * statfs magic numbers): NFS, SMB/CIFS (three), FUSE, 9P, Ceph, AFS,
 * Coda, OCFS2, GFS2, Lustre, GPFS, OrangeFS. */
static const unsigned long network_fs[] = {
    0x6969, 0x517B, 0xFF534D42, 0xFE534D42, 0x65735546, 0x01021997, 0x00C36400, 0x5346414F,
    0x73757245, 0x7461636F, 0x01161970, 0x0BD00BD0, 0x47504653, 0x20030528,
};

static int network_override = -1;   /* tests: -1 asks fstatfs */

void tk_cache_set_network(int on) { network_override = on; }

/* 1 when the file open on fd lies on a network or cluster file system
 * (or fstatfs cannot say: taken as the safer kind). */
static int on_network_fs(int fd)
{
    if (network_override >= 0)
        return network_override;
    struct statfs sf;
    if (fstatfs(fd, &sf) != 0)
        return 1;
    for (size_t i = 0; i < sizeof network_fs / sizeof network_fs[0]; i++)
        if ((unsigned long)(uint32_t)sf.f_type == network_fs[i])
            return 1;
    return 0;
}

/* The n bytes of the entry's file open on fd, path: mapped read-only
 * (tk_map_file; *is_mapped set), which costs neither the zeroing of fresh
 * memory nor the copy out of the page cache that reading it does, its
 * pages populated at once unless vouched (its check is not made, so only
 * the pages a run reads are touched); read
 * (entry_read) where it cannot be mapped, and on a network file system:
 * another machine may remove or replace the entry while a run maps it,
 * and the pages the mapping then reads fail as SIGBUS, where a read fails
 * as an error (the entry is then made again). The word table, the one
 * part written in, is copied out of a mapping at load (load.c). */
static void *entry_map(int fd, size_t n, size_t *len, int *is_mapped, const char *path, int vouched, int network)
{
    int mode = map_mode();
    void *p = mode > 0 || (mode == 0 && !network) ? tk_map_file(fd, n, mode > 0 || vouched, path) : NULL;
    *is_mapped = p != NULL;
    if (!p)
        return entry_read(fd, n, len);
    *len = n;
    return p;
}

/* The folder's budget: $LOOKAHEAD_CACHE_MAX_MB, else 512 MB (Llama-3's
 * entry is 14 MB); no entry larger than it is kept or read. */
static uint64_t cache_budget(void)
{
    const char *s = getenv("LOOKAHEAD_CACHE_MAX_MB");
    char *end;
    if (s && s[0] >= '0' && s[0] <= '9') {
        unsigned long long mb = strtoull(s, &end, 10);
        if (*end == 0 && mb < ((uint64_t)1 << 40))
            return (uint64_t)mb << 20;
    }
    return (uint64_t)512 << 20;
}

/* 1 when the head h of an entry of n bytes is of this format, of key k
 * and build, and its parts lie in order inside the n bytes (the rest,
 * the added tokens, the image on 8 bytes, the word table on 64 after less than 64 bytes
 * of padding, up to the end). */
static int head_holds(const cache_head *h, size_t n, const tk_cache_key *k, const unsigned char *build,
                      size_t build_len)
{
    return memcmp(h->magic, CACHE_MAGIC, 8) == 0 && h->version == CACHE_VERSION && h->head_size == sizeof *h &&
           h->build_len == build_len && memcmp(h->build, build, TK_BUILD_ID_MAX) == 0 &&
           memcmp(&h->key, k, sizeof *k) == 0 && n % 8 == 0 && h->rest_len <= n - sizeof *h &&
           h->added_len <= n - sizeof *h - h->rest_len &&
           h->image_off == ((sizeof *h + h->rest_len + h->added_len + 7) & ~(uint64_t)7) && h->image_off <= n &&
           h->image_len <= n - h->image_off && h->words_off <= n && h->words_off % 64 == 0 &&
           h->words_off >= h->image_off + h->image_len && h->words_off - (h->image_off + h->image_len) < 64 &&
           h->words_len == n - h->words_off;
}


/* Reads the entry of key k made by build (entry_map) into *e: LA_OK
 * when it is there, whole, and its head holds (its check is the
 * caller's, tk_cache_entry_holds, unless vouch vouches for it); LA_EIO
 * when there is none (or it cannot be read); LA_EDATA when the file there
 * is not a good entry of this key (then removed). */
int tk_cache_map(const tk_cache_key *k, const unsigned char *build, size_t build_len, tk_cache_vouch_fn vouch,
                 tk_cache_entry *e)
{
    char *path = cache_path(k, build, NULL);
    if (!path)
        return LA_EIO;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        free(path);
        return LA_EIO;
    }
    struct stat st;
    cache_head h;
    void *p = MAP_FAILED;
    size_t n = 0, len = 0;
    int rc = LA_EDATA, is_mapped = 0, vouched = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        rc = LA_EIO;              /* not ours to read, nor to remove */
    } else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        rc = LA_EDATA;            /* others could have written it: made again */
    } else if ((uint64_t)st.st_size >= sizeof h && (uint64_t)st.st_size <= cache_budget()) {
        n = (size_t)st.st_size;
        /* on a network file system another machine may change the entry
         * in ways its times there need not show at once: always checked */
        int network = on_network_fs(fd);
        vouched = vouch && !network && vouch(&st, k, build, build_len);
        p = entry_map(fd, n, &len, &is_mapped, path, vouched, network);
        rc = p == MAP_FAILED ? LA_EIO : LA_EDATA;
    }
    if (p != MAP_FAILED) {
        memcpy(&h, p, sizeof h);
        const char *b = p;
        if (head_holds(&h, n, k, build, build_len)) {
            *e = (tk_cache_entry){ p, len, b + sizeof h, b + sizeof h + h.rest_len, b + h.image_off,
                                   (char *)p + h.words_off, (size_t)h.rest_len, (size_t)h.added_len,
                                   (size_t)h.image_len, (size_t)h.words_len, path, is_mapped, n, h.check, st,
                                   vouched };
            /* used: its time says so, at most once an hour (cache_prune
             * removes the least recently used entries first) */
            if (st.st_mtim.tv_sec + 3600 <= time(NULL))
                futimens(fd, NULL);
            rc = LA_OK;
        } else {
            tk_entry_unmap(p, len);
        }
    }
    close(fd);
    if (rc == LA_EDATA)
        unlink(path);
    if (rc != LA_OK)
        free(path);
    return rc;
}

static unsigned long entry_checks;

unsigned long tk_cache_entry_checks(void) { return __atomic_load_n(&entry_checks, __ATOMIC_RELAXED); }

int tk_cache_entry_holds(const tk_cache_entry *e)
{
    __atomic_fetch_add(&entry_checks, 1, __ATOMIC_RELAXED);
    return e->size >= sizeof(cache_head) &&
           bytes_check((const char *)e->map + sizeof(cache_head), e->size - sizeof(cache_head)) == e->check;
}

char *tk_cache_entry_path(const tk_cache_key *k, const unsigned char *build) { return cache_path(k, build, NULL); }

void tk_cache_drop(const tk_cache_key *k, const unsigned char *build)
{
    char *path = cache_path(k, build, NULL);
    if (path)
        unlink(path);
    free(path);
}

int tk_cache_name_is(const char *n, const char *ext, int *tmp)
{
    size_t i = 0, k = strlen(ext);
    while (i < 16 && ((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f')))
        i++;
    if (i != 16 || n[i++] != '-')
        return 0;
    size_t j = i;
    while ((n[j] >= '0' && n[j] <= '9') || (n[j] >= 'a' && n[j] <= 'f'))
        j++;
    if (j == i || strncmp(n + j, ext, k) != 0)
        return 0;
    *tmp = n[j + k] != 0;
    if (!*tmp)
        return 1;
    const char *t = n + j + k;
    if (*t++ != '.' || !(*t >= '0' && *t <= '9'))
        return 0;
    while (*t >= '0' && *t <= '9')
        t++;
    return strcmp(t, ".tmp") == 0;
}

static int older_first(const void *a, const void *b)
{
    const tk_cache_file *x = a, *y = b;
    if (x->mtime.tv_sec != y->mtime.tv_sec)
        return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
    if (x->mtime.tv_nsec != y->mtime.tv_nsec)
        return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* After entry keep (for the bytes of key k, read from the file src
 * names) was written: removes the entries of earlier versions of the
 * same file (made from the same device and inode, of other bytes: the
 * file changed, so they are not likely to match again),
 * temporary files left by writers that died an hour or more ago, and
 * then the least recently used entries (an entry's time is refreshed
 * when it is used, see cache_map) until the folder's entries fit the
 * budget (load.c then has the identity records of entries gone
 * removed, tk_cache_id_prune). Files that are not entries, or are another user's (a shared
 * folder), are never touched; a file another run removed first is
 * simply gone. */
size_t tk_cache_scan(const char *dir, const char *ext, const char *keep, tk_cache_stale_fn stale, const void *ctx,
                     tk_cache_file **out, int *dfd_out)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    *out = NULL;
    *dfd_out = -1;
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return 0;
    }
    tk_cache_file *f = NULL;
    size_t n = 0, cap = 0;
    time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d))) {
        int tmp;
        struct stat st;
        if (!tk_cache_name_is(e->d_name, ext, &tmp) || strcmp(e->d_name, keep) == 0 ||
            fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
            st.st_uid != geteuid())
            continue;
        if (tmp) {
            if (st.st_mtim.tv_sec + 3600 <= now)
                unlinkat(dfd, e->d_name, 0);
            continue;
        }
        int ffd = openat(dfd, e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        int gone = ffd >= 0 && stale(ffd, &st, ctx);
        if (ffd >= 0)
            close(ffd);
        if (gone) {
            unlinkat(dfd, e->d_name, 0);
            continue;
        }
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 32;
            tk_cache_file *g = realloc(f, nc * sizeof *f);
            if (!g)
                break;
            f = g;
            cap = nc;
        }
        if (!(f[n].name = strdup(e->d_name)))
            break;
        f[n].size = (uint64_t)st.st_size;
        f[n].mtime = st.st_mtim;
        n++;
    }
    if (n)
        qsort(f, n, sizeof *f, older_first);
    *out = f;
    *dfd_out = dup(dfd);
    closedir(d);
    return n;
}

void tk_cache_files_free(tk_cache_file *f, size_t n, int dfd)
{
    for (size_t i = 0; i < n; i++)
        free(f[i].name);
    free(f);
    if (dfd >= 0)
        close(dfd);
}

typedef struct {
    const struct stat *src;
    const tk_cache_key *k;
} stale_of;

/* An entry made from the same device and inode as c->src, of other
 * bytes than c->k's. */
static int entry_stale(int fd, const struct stat *st, const void *ctx)
{
    const stale_of *c = ctx;
    cache_head h;
    (void)st;
    return pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h && memcmp(h.magic, CACHE_MAGIC, 8) == 0 &&
           h.version == CACHE_VERSION && h.src_dev == (uint64_t)c->src->st_dev &&
           h.src_ino == (uint64_t)c->src->st_ino && memcmp(&h.key, c->k, sizeof *c->k) != 0;
}

static void cache_prune(const char *dir, const char *keep, const struct stat *src, const tk_cache_key *k)
{
    stale_of c = { src, k };
    tk_cache_file *f;
    int dfd;
    size_t n = tk_cache_scan(dir, ".tok", keep, entry_stale, &c, &f, &dfd);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += f[i].size;
    struct stat ks;
    if (dfd >= 0 && fstatat(dfd, keep, &ks, 0) == 0)
        total += (uint64_t)ks.st_size;
    uint64_t budget = cache_budget();
    for (size_t i = 0; i < n && total > budget; i++)
        if (unlinkat(dfd, f[i].name, 0) == 0 || errno == ENOENT)
            total -= f[i].size;
    tk_cache_files_free(f, n, dfd);
}

/* tk_direct_prefill with scratch of its own. */
static int prefill_words(la_tokenizer *t, la_err *err)
{
    la_tok_work *w = la_tok_work_new();
    if (!w)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "tokenizer: out of memory");
    int rc = tk_direct_prefill(t, w, err);
    la_tok_work_free(w);
    return rc;
}

int tk_cache_open_temp(const char *path, char *dir, char **tmp)
{
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        mkdir(dir, 0700);
        *slash = '/';
    }
    mkdir(dir, 0700);
    size_t n = strlen(path) + 32;
    if (!(*tmp = malloc(n)))
        return -1;
    snprintf(*tmp, n, "%s.%ld.tmp", path, (long)getpid());
    return open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
}

/* The whole entry of t into b: its head, the text of the file's other
 * members (rest), its added tokens (added), the model's image, and the
 * word table of direct previews (filled with the vocabulary's words first) last, on a 64-byte
 * boundary (read in place, by sets of two cache lines). LA_OK or an
 * error. */
static int entry_bytes(const tk_cache_key *k, const unsigned char *build, size_t build_len, const struct stat *src,
                       const la_buf *rest, const la_buf *added, la_tokenizer *t, la_buf *b)
{
    la_err perr = {{0}, {0}};
    cache_head h;
    memset(&h, 0, sizeof h);
    static const char zero[64] = {0};
    size_t pad = (8 - (sizeof h + rest->len + added->len) % 8) % 8;
    if (prefill_words(t, &perr) != LA_OK || la_buf_append(b, (const char *)&h, sizeof h) ||
        la_buf_append(b, rest->data ? rest->data : "", rest->len) ||
        la_buf_append(b, added->data ? added->data : "", added->len) || la_buf_append(b, zero, pad) ||
        tk_bpe_image(t->model, b) != LA_OK)
        return LA_ENOMEM;
    size_t image_end = b->len, words_len;
    const void *words = tk_direct_table(t, &words_len);
    if (b->len % 8 != 0 || la_buf_append(b, zero, (64 - b->len % 64) % 64))
        return LA_ENOMEM;
    size_t words_off = b->len;
    if (words_len && la_buf_append(b, words, words_len))
        return LA_ENOMEM;
    memcpy(h.magic, CACHE_MAGIC, 8);
    h.version = CACHE_VERSION;
    h.head_size = sizeof h;
    h.build_len = (uint32_t)build_len;
    memcpy(h.build, build, TK_BUILD_ID_MAX);
    h.key = *k;
    h.src_dev = (uint64_t)src->st_dev;
    h.src_ino = (uint64_t)src->st_ino;
    h.rest_len = rest->len;
    h.added_len = added->len;
    h.image_off = sizeof h + rest->len + added->len + pad;
    h.image_len = image_end - h.image_off;
    h.words_off = words_off;
    h.words_len = words_len;
    h.check = bytes_check(b->data + sizeof h, b->len - sizeof h);
    memcpy(b->data, &h, sizeof h);
    return LA_OK;
}

int tk_cache_write_all(int fd, const char *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, p + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    return off == n;
}

/* Writes the entry (quietly: a cache that cannot be written is only not
 * there next time) under a temporary name, renamed when whole. The
 * vocabulary's words are put in t's word table first (tk_direct_prefill),
 * once the entry's file could be made: a folder that cannot be written
 * costs no more than the parse. */
void tk_cache_write(const tk_cache_key *k, const unsigned char *build, size_t build_len, const struct stat *src,
                    const la_buf *rest, const la_buf *added, la_tokenizer *t)
{
    char *dir = NULL, *path = cache_path(k, build, &dir), *tmp = NULL;
    la_buf b = {0};
    int fd = path ? tk_cache_open_temp(path, dir, &tmp) : -1, ok = 0, too_big = 0;
    if (fd >= 0 && entry_bytes(k, build, build_len, src, rest, added, t, &b) == LA_OK) {
        too_big = b.len > cache_budget();   /* not kept; the folder is still brought within the budget */
        ok = !too_big && tk_cache_write_all(fd, b.data, b.len);
    }
    if (fd >= 0) {
        if (close(fd) != 0 || !ok || rename(tmp, path) != 0)
            unlink(tmp);
        else
            cache_prune(dir, strrchr(path, '/') + 1, src, k);
        if (too_big)
            cache_prune(dir, "", src, k);
    }
    free(tmp);
    free(path);
    free(dir);
    la_buf_free(&b);
}
