/*
 * unit.h - what m counts in real mode. A unit backend returns the preview
 * of an answer: its first m units, as text. Word and char previews are
 * byte prefixes of the answer; token previews are decoded model tokens.
 * A backend holds per-thread scratch, so each thread owns its own.
 */
#ifndef LA_UNIT_H
#define LA_UNIT_H

#include "lookahead.h"

#define LA_UNIT_MORE 1

typedef struct la_unit la_unit;
struct la_unit {
    /* Appends the preview of text[0..len) holding m units to out. With
     * more = 1, text is only the start of the answer: LA_UNIT_MORE
     * (nothing appended) asks for the whole of it. */
    int (*preview)(la_unit *u, const char *text, size_t len, int more, size_t m, la_buf *out,
                   la_preview_info *info, la_err *err);
    /* How many (escaped) bytes of a long answer's start are worth
     * decoding first for m units; NULL or 0: the whole answer. */
    size_t (*start)(la_unit *u, size_t m);
    /* NULL, or the preview straight from an answer's JSON string body
     * raw[0..len) (between the quotes, escapes as they are): 1 when it
     * could be made so (then appended to out, escaped, as escaping the
     * preview would give), 0 when preview must make it, < 0 on error. */
    int (*preview_raw)(la_unit *u, const char *raw, size_t len, size_t m, la_buf *out,
                       la_preview_info *info, la_err *err);
    void (*free)(la_unit *u);
};

/* JSON string bodies (between the quotes, escapes as they are) as the
 * tokenizer's previews from escaped text read them (tk_preview_raw). */
struct tk_escaping;
extern const struct tk_escaping la_json_body_escaping;

/* New backend for kind (LA_UNIT_*); tok is required for tokens and must
 * outlive the unit. NULL with err set on failure. */
la_unit *la_unit_new(int kind, const la_tokenizer *tok, int complete, la_err *err);

/* Byte length of the shortest prefix of text holding m words (white
 * space before the first word kept), sets *words to the words counted
 * (at most m) and *whole when the text has no more than m words. */
size_t la_words_prefix(const char *text, size_t len, size_t m, size_t *words, int *whole);

/* The same for extended grapheme clusters. */
size_t la_graphemes_prefix(const char *text, size_t len, size_t m, size_t *clusters, int *whole);

#endif
