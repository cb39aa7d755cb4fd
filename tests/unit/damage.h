/* damage.h - random byte damage to a record, for the suites that feed
 * broken input through the library and the CLI (test_hostile.c,
 * test_hostile_cli.c). The generator is a xorshift on a state each suite
 * seeds itself, so that a failure repeats. */
#ifndef LA_DAMAGE_H
#define LA_DAMAGE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The next number of the state *rng. */
static inline uint32_t damage_rnd(uint64_t *rng)
{
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    return (uint32_t)(*rng >> 11);
}

/* Copies rec[0..n) into out (room for n + max_hits bytes) with 1 to
 * max_hits hits: a flipped bit, a deleted byte, a byte inserted or
 * replaced by one that matters to JSON or UTF-8 (NUL, quote, backslash,
 * brackets, a lone continuation byte, a surrogate's lead...) or by any
 * byte. Hits stop while the record is down to min_len bytes. Returns the
 * new length. */
static inline size_t damage_record(uint64_t *rng, const char *rec, size_t n, char *out, int max_hits,
                                   size_t min_len)
{
    static const char special[] = "\"\\{}[],: \x00\x01\x7f\xc3\xa9\xed\xa0\x80\xff";
    memcpy(out, rec, n);
    int hits = 1 + (int)(damage_rnd(rng) % (uint32_t)max_hits);
    for (int h = 0; h < hits && n > min_len; h++) {
        size_t at = damage_rnd(rng) % n;
        switch (damage_rnd(rng) % 5) {
        case 0: out[at] ^= (char)(1u << (damage_rnd(rng) % 8)); break;
        case 1: memmove(out + at, out + at + 1, n - at - 1); n--; break;
        case 2:
            memmove(out + at + 1, out + at, n - at);
            out[at] = special[damage_rnd(rng) % (sizeof special - 1)];
            n++;
            break;
        case 3: out[at] = special[damage_rnd(rng) % (sizeof special - 1)]; break;
        default: out[at] = (char)damage_rnd(rng); break;
        }
    }
    return n;
}

#endif
