/*
 * byte_level.c - GPT-2's byte alphabet (bytes_to_unicode), the one table
 * the ByteLevel normalizer, pre-tokenizer and decoder share: every byte
 * stands for a printable character, printable Latin-1 bytes for
 * themselves and the others for U+0100 onwards in byte order.
 */
#include "tokenizer/tk.h"

#include <stdatomic.h>
#include <string.h>

/* Bytes that stand for themselves. */
static int byte_kept(int b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

/* The highest code point of the alphabet: 256 + the bytes not kept - 1. */
#define BYTE_LEVEL_LAST 0x143

void tk_byte_level_table(char enc[256][2], unsigned char enc_len[256])
{
    int32_t next = 256;
    for (int b = 0; b < 256; b++) {
        int32_t cp = byte_kept(b) ? b : next++;
        char tmp[4];
        enc_len[b] = (unsigned char)tk_utf8_encode(cp, tmp);
        memcpy(enc[b], tmp, enc_len[b]);
    }
}

int tk_byte_level_byte(int32_t c)
{
    /* filled on first use (racing threads write the same values) */
    static _Atomic int16_t table[BYTE_LEVEL_LAST + 1];
    static _Atomic int ready;
    if (c < 0 || c > BYTE_LEVEL_LAST)
        return -1;
    if (!atomic_load_explicit(&ready, memory_order_acquire)) {
        for (int32_t x = 0; x <= BYTE_LEVEL_LAST; x++)
            atomic_store_explicit(&table[x], -1, memory_order_relaxed);
        int32_t next = 256;
        for (int b = 0; b < 256; b++)
            atomic_store_explicit(&table[byte_kept(b) ? b : next++], (int16_t)b, memory_order_relaxed);
        atomic_store_explicit(&ready, 1, memory_order_release);
    }
    return atomic_load_explicit(&table[c], memory_order_relaxed);
}

int tk_byte_level_bytes(const char *s, size_t n, la_buf *out)
{
    size_t start = out->len;
    for (size_t i = 0; i < n;) {
        int32_t c;
        size_t k = tk_utf8_decode((const unsigned char *)s + i, n - i, &c);
        int b = k ? tk_byte_level_byte(c) : -1;
        if (b < 0) {                        /* not all in the alphabet: own bytes */
            out->len = start;
            return la_buf_append(out, s, n);
        }
        if (la_buf_putc(out, (char)b))
            return LA_ENOMEM;
        i += k;
    }
    return LA_OK;
}
