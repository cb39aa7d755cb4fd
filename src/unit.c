/* unit.c - word, grapheme-cluster and model-token unit backends. */
#include "unit.h"

#include <stdlib.h>
#include <utf8proc.h>

#include "json.h"
#include "tokenizer/tk.h"

/* Decodes the code point at text[i]; the text is valid UTF-8. */
static size_t next_cp(const char *text, size_t len, size_t i, int32_t *cp)
{
    size_t k = tk_utf8_decode((const unsigned char *)text + i, len - i, cp);
    if (!k) {   /* not reachable on validated text; step one byte to stay safe */
        *cp = (unsigned char)text[i];
        k = 1;
    }
    return k;
}

size_t la_words_prefix(const char *text, size_t len, size_t m, size_t *words, int *whole)
{
    size_t i = 0, n = 0, end = 0;
    int in_word = 0;
    while (i < len) {
        int32_t cp;
        size_t k = next_cp(text, len, i, &cp);
        int ws = tk_is_white_space(cp);
        if (!ws && !in_word) {
            if (n == m) {             /* an (m+1)-th word exists */
                *words = n;
                *whole = 0;
                return end;
            }
            n++;
        }
        in_word = !ws;
        i += k;
        if (in_word)
            end = i;
    }
    *words = n;
    *whole = 1;
    return n == m ? end : len;   /* exactly m words: trailing white space is not needed */
}

size_t la_graphemes_prefix(const char *text, size_t len, size_t m, size_t *clusters, int *whole)
{
    size_t i = 0, n = 0;
    utf8proc_int32_t state = 0, prev = -1;
    while (i < len) {
        int32_t cp;
        size_t k = next_cp(text, len, i, &cp);
        if (prev < 0 || utf8proc_grapheme_break_stateful(prev, cp, &state)) {
            if (n == m) {
                *clusters = n;
                *whole = 0;
                return i;
            }
            n++;
        }
        prev = cp;
        i += k;
    }
    *clusters = n;
    *whole = 1;
    return len;
}

typedef struct {
    la_unit base;
    size_t (*prefix)(const char *, size_t, size_t, size_t *, int *);
} prefix_unit;

static int prefix_preview(la_unit *u, const char *text, size_t len, int more, size_t m, la_buf *out,
                          la_preview_info *info, la_err *err)
{
    prefix_unit *pu = (prefix_unit *)u;
    int whole;
    size_t units;
    if (more)
        return LA_UNIT_MORE;     /* words and graphemes are counted on the whole text */
    size_t n = pu->prefix(text, len, m, &units, &whole);
    info->units = units;
    info->whole = whole;
    info->extended = 0;
    if (la_buf_append(out, text, n) != LA_OK)
        return la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
    return LA_OK;
}

static void plain_free(la_unit *u) { free(u); }

typedef struct {
    la_unit base;
    const la_tokenizer *tok;
    la_tok_work *work;
    int complete;
    int start_known;
    size_t start_m, start;
} token_unit;

static int token_preview(la_unit *u, const char *text, size_t len, int more, size_t m, la_buf *out,
                         la_preview_info *info, la_err *err)
{
    token_unit *tu = (token_unit *)u;
    int rc = tk_preview_text(tu->tok, tu->work, text, len, more, m, tu->complete, out, info, err);
    return rc == TK_MORE ? LA_UNIT_MORE : rc;
}

/* la_json_short_escape is inline: here as a function of its own */
static int json_short_escape(char c)
{
    return la_json_short_escape(c);
}

const tk_escaping la_json_body_escaping = {
    json_short_escape, la_json_escape_len, la_json_unescape_body, la_json_reescape_body,
};

static int token_preview_raw(la_unit *u, const char *raw, size_t len, size_t m, la_buf *out,
                             la_preview_info *info, la_err *err)
{
    token_unit *tu = (token_unit *)u;
    return tk_preview_raw(tu->tok, tu->work, &la_json_body_escaping, raw, len, m, tu->complete, out, info,
                          err);
}

static size_t token_start(la_unit *u, size_t m)
{
    token_unit *tu = (token_unit *)u;
    if (!tu->start_known || tu->start_m != m) {   /* the same m for every record: once */
        tu->start = tk_preview_start(tu->tok, m);
        tu->start_m = m;
        tu->start_known = 1;
    }
    return tu->start;
}

static void token_free(la_unit *u)
{
    token_unit *tu = (token_unit *)u;
    la_tok_work_free(tu->work);
    free(tu);
}

la_unit *la_unit_new(int kind, const la_tokenizer *tok, int complete, la_err *err)
{
    if (kind == LA_UNIT_TOKEN) {
        if (!tok) {
            la_err_set(err, LA_EARG, "usage", "--unit token needs --tokenizer");
            return NULL;
        }
        token_unit *tu = calloc(1, sizeof *tu);
        if (!tu || !(tu->work = la_tok_work_new())) {
            free(tu);
            la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
            return NULL;
        }
        tu->base.preview = token_preview;
        tu->base.free = token_free;
        tu->base.start = token_start;
        tu->base.preview_raw = tok->direct ? token_preview_raw : NULL;
        tu->tok = tok;
        tu->complete = complete;
        return &tu->base;
    }
    prefix_unit *pu = calloc(1, sizeof *pu);
    if (!pu) {
        la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
        return NULL;
    }
    pu->base.preview = prefix_preview;
    pu->base.free = plain_free;
    pu->prefix = kind == LA_UNIT_CHAR ? la_graphemes_prefix : la_words_prefix;
    return &pu->base;
}
