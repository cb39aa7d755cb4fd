/*
 * lookahead.h - the public API of liblookahead.
 *
 * The library prepares fine-tuning data with LookAhead Tuning: it frames
 * records from a byte stream, validates them strictly, finds the string
 * values it must edit, computes the new values (virtual or real transform)
 * and splices them back so that every other byte of a record is kept.
 *
 * Conventions:
 *  - every name has the la_ prefix;
 *  - the library never prints and never exits: a function that can fail
 *    returns an int status (0 = success, a negative LA_E* code otherwise)
 *    and, where it takes one, fills an la_err with a human reason;
 *  - ownership is stated on each function: "new" means the caller frees;
 *  - objects are not shared between threads unless a comment says so.
 */
#ifndef LOOKAHEAD_H
#define LOOKAHEAD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LA_VERSION "0.1.0"

/* ---- status codes ---------------------------------------------------- */
enum {
    LA_OK = 0,
    LA_ENOMEM = -1,   /* out of memory */
    LA_EDATA = -2,    /* bad input data (a record, a tokenizer file) */
    LA_EIO = -3,      /* read or write failed */
    LA_EUNSUP = -4,   /* a valid but unsupported construct */
    LA_EARG = -5      /* bad argument from the caller */
};

/* An error reason, filled by a failing call. `msg` is one line, no
 * trailing newline, never names the file (the caller knows it). `code`
 * is a short stable identifier for counting (e.g. "invalid_json"). */
typedef struct {
    char code[32];
    char msg[256];
} la_err;

/* Fills err (if non-NULL) and returns status; printf-style message. */
int la_err_set(la_err *err, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- growable byte buffer -------------------------------------------- */
/* A buffer owns `data` (NUL-terminated when len < cap, which la_buf
 * functions keep true). Zero-initialise to start; la_buf_free releases. */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} la_buf;

int la_buf_reserve(la_buf *b, size_t extra);          /* room for extra+1 */
int la_buf_append(la_buf *b, const void *p, size_t n);
int la_buf_putc(la_buf *b, char c);
int la_buf_printf(la_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void la_buf_free(la_buf *b);
static inline void la_buf_clear(la_buf *b) { b->len = 0; if (b->data) b->data[0] = 0; }

/* ---- model tokenizers (HuggingFace tokenizer.json) ------------------- */
/* A loaded tokenizer is immutable and may be shared by threads; all
 * per-call scratch memory lives in an la_tok_work, one per thread. */
typedef struct la_tokenizer la_tokenizer;
typedef struct la_tok_work la_tok_work;

/* Loads PATH: a tokenizer.json file, or a folder holding one. Returns a
 * new tokenizer (free with la_tokenizer_free) or NULL with err filled
 * ("tokenizer: <component>: reason"). */
la_tokenizer *la_tokenizer_load(const char *path, la_err *err);
void la_tokenizer_free(la_tokenizer *t);

/* New scratch space for one thread; NULL when out of memory. */
la_tok_work *la_tok_work_new(void);
void la_tok_work_free(la_tok_work *w);

/* Token ids with their token strings (UTF-8, as in the vocabulary). */
typedef struct {
    uint32_t *ids;
    size_t n, cap;
    la_buf strs;        /* token strings, each NUL-terminated, in order */
    size_t *str_off;    /* str_off[i]: offset of token i's string in strs */
    size_t str_cap;
} la_tokens;
void la_tokens_free(la_tokens *t);

/* Encodes text (special tokens not added, as HuggingFace's
 * encode(text, add_special_tokens=False)). max_tokens = 0 encodes all;
 * otherwise the encoder may stop once it has at least max_tokens tokens,
 * which are then equal to the first tokens of the full encoding. `out` is
 * cleared first. */
int la_tokenizer_encode(const la_tokenizer *t, la_tok_work *w, const char *text,
                        size_t len, size_t max_tokens, la_tokens *out, la_err *err);

/* Decodes token ids with the tokenizer's decoder chain (no tokens are
 * skipped), appending UTF-8 to out. Without a decoder, token strings are
 * joined. */
int la_tokenizer_decode(const la_tokenizer *t, la_tok_work *w, const uint32_t *ids,
                        size_t n, la_buf *out, la_err *err);

/* What a preview took. */
typedef struct {
    size_t units;        /* tokens previewed (m, or fewer, or more: see below) */
    int whole;           /* 1: the answer has no more tokens than were previewed */
    int extended;        /* 1: more than m tokens were needed to end on a whole character */
} la_preview_info;

/* The preview of an answer: decode(first m tokens of encode(text)).
 * complete = 1: take the fewest further tokens after m whose bytes end on
 * a whole UTF-8 character; complete = 0: exactly m tokens (a cut
 * character decodes to U+FFFD). Appends to out; work done does not grow
 * with the length of text beyond what the first tokens depend on. */
int la_tokenizer_preview(const la_tokenizer *t, la_tok_work *w, const char *text,
                         size_t len, size_t m, int complete, la_buf *out,
                         la_preview_info *info, la_err *err);

#endif
