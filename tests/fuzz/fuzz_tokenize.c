/* fuzz_tokenize.c - tokenizing arbitrary text with the fixture tokenizers
 * (la_tokenizer_encode, la_tokenizer_preview, la_tokenizer_decode).
 *
 * Input: a byte choosing the tokenizer (modulo the number of fixtures,
 * so that every one of up to 256 can be reached), a byte of options (m,
 * partial-chars mode), then the text; texts that are not valid UTF-8 are skipped (the library is given
 * validated UTF-8 only). Checked, from the API's contracts:
 *  - encoding with max_tokens = k gives at least k tokens (or all), and
 *    they equal the first tokens of the full encoding;
 *  - the preview with complete = 0 is decode(first m ids of the full
 *    encoding) (a tokenizer without a decoder: the token strings joined
 *    with ""); with complete = 1 it is decode(first info.units ids),
 *    info.units >= m unless the answer is whole, and info.extended says
 *    whether more than m were taken;
 *  - info.whole is 1 exactly when the text has no more tokens than were
 *    previewed;
 *  - the preview made straight from the text's JSON string body (direct
 *    previews, with '/' written both ways) is none, or the text's
 *    preview escaped as la_json_escape writes it, with the same info. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "json.h"
#include "tokenizer/tk.h"
#include "unit.h"

/* the tokenizer byte reaches this many fixtures */
#define MAXTOK 256
static la_tokenizer *toks[MAXTOK];
static size_t ntoks;
static la_tok_work *work;

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = fuzz_fixture_dir();
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "fuzz_tokenize: cannot open %s (set LA_FUZZ_FIXTURES)\n", dir);
        exit(1);
    }
    char *names[MAXTOK];
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l > 5 && strcmp(de->d_name + l - 5, ".json") == 0) {
            if (n == MAXTOK) {
                fprintf(stderr, "fuzz_tokenize: more than %d tokenizer fixtures in %s: raise MAXTOK\n", MAXTOK, dir);
                exit(1);
            }
            names[n++] = strdup(de->d_name);
        }
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);   /* the option byte means the same tokenizer every run */
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        la_err e = {{0}, {0}};
        la_tokenizer *t = la_tokenizer_load(path, &e);
        if (!t) {
            fprintf(stderr, "fuzz_tokenize: %s: %s\n", path, e.msg);
            exit(1);
        }
        toks[ntoks++] = t;
        free(names[i]);
    }
    if (!ntoks) {
        fprintf(stderr, "fuzz_tokenize: no tokenizer fixtures in %s\n", dir);
        exit(1);
    }
    work = la_tok_work_new();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || !fuzz_utf8_valid(data + 2, size - 2))
        return 0;
    const la_tokenizer *t = toks[data[0] % ntoks];
    size_t m = 1 + (data[1] & 3) * 3;   /* 1, 4, 7, 10 */
    int complete = (data[1] >> 2) & 1;
    const char *text = (const char *)data + 2;
    size_t len = size - 2;

    la_err e = {{0}, {0}};
    la_tokens all = {0}, few = {0};
    int rc = la_tokenizer_encode(t, work, text, len, 0, &all, &e);
    if (rc) {
        /* a tokenizer without an unknown token may refuse a text */
        FUZZ_CHECK(rc == LA_EDATA && e.code[0] && e.msg[0], "encode status %d (%s)", rc, e.msg);
        la_buf out = {0};
        la_preview_info info;
        (void)la_tokenizer_preview(t, work, text, len, m, complete, &out, &info, &e);
        la_buf_free(&out);
        la_tokens_free(&all);
        return 0;
    }
    rc = la_tokenizer_encode(t, work, text, len, m, &few, &e);
    FUZZ_CHECK(rc == LA_OK, "encode with max_tokens %zu failed: %s", m, e.msg);
    FUZZ_CHECK(few.n >= m || few.n == all.n, "max_tokens %zu gave %zu of %zu tokens", m, few.n, all.n);
    FUZZ_CHECK(few.n <= all.n, "max_tokens gave more tokens (%zu) than the full encoding (%zu)", few.n, all.n);
    for (size_t i = 0; i < few.n; i++)
        FUZZ_CHECK(few.ids[i] == all.ids[i], "token %zu: %u with max_tokens, %u in full", i, few.ids[i], all.ids[i]);

    la_buf prev = {0}, want = {0};
    la_preview_info info;
    rc = la_tokenizer_preview(t, work, text, len, m, complete, &prev, &info, &e);
    FUZZ_CHECK(rc == LA_OK, "preview failed: %s", e.msg);
    size_t k = info.units;
    FUZZ_CHECK(k <= all.n, "preview took %zu of %zu tokens", k, all.n);
    if (complete)
        FUZZ_CHECK(k >= m || k == all.n, "preview took %zu < m = %zu tokens of %zu", k, m, all.n);
    else
        FUZZ_CHECK(k == (all.n < m ? all.n : m), "preview took %zu tokens, m = %zu, %zu in all", k, m, all.n);
    FUZZ_CHECK(info.extended == (k > m), "extended %d with %zu tokens for m = %zu", info.extended, k, m);
    FUZZ_CHECK(info.whole == (k == all.n), "whole %d with %zu of %zu tokens", info.whole, k, all.n);
    rc = la_tokenizer_decode(t, work, all.ids, k, &want, &e);
    FUZZ_CHECK(rc == LA_OK, "decode failed: %s", e.msg);
    int equal;
    /* An added token's string in an encoding is the text it matched
     * (with the white space it stripped, or the normalized text), and a
     * Unigram unk token's the unknown text, which decoding by id does not
     * see; previews, like the oracle, decode the strings. When one
     * differs from its token's content, the decoder is run on the strings
     * here instead. */
    int strings_differ = 0;
    for (size_t i = 0; i < k; i++) {
        /* (a Unigram unk token's string is the unknown text it stands for) */
        const tk_added_token *a = tk_added_by_id(t->added, all.ids[i]);
        size_t cl = 0;
        const char *c = a ? a->content : tk_bpe_id_to_token(t->model, all.ids[i], &cl);
        if (a)
            cl = a->len;
        if (!c)
            c = "";
        if (tk_tokens_len(&all, i) != cl || memcmp(all.strs.data + all.str_off[i], c, cl))
            strings_differ = 1;
    }
    if (t->decoder && strings_differ) {
        la_tokens part = {0};
        for (size_t i = 0; i < k; i++)
            FUZZ_CHECK(tk_tokens_push(&part, all.ids[i], all.strs.data + all.str_off[i], tk_tokens_len(&all, i)) == 0,
                       "out of memory");
        FUZZ_CHECK(t->decoder->chain(t->decoder, &part, work, &e) == LA_OK, "decoder failed: %s", e.msg);
        la_buf_clear(&want);
        for (size_t i = 0; i < part.n; i++)
            la_buf_append(&want, part.strs.data + part.str_off[i], tk_tokens_len(&part, i));
        la_tokens_free(&part);
        equal = prev.len == want.len && (prev.len == 0 || memcmp(prev.data, want.data, prev.len) == 0);
    } else if (t->decoder) {
        equal = prev.len == want.len && (prev.len == 0 || memcmp(prev.data, want.data, prev.len) == 0);
    } else {
        /* without a decoder the preview is the tokens' strings joined
         * with "" (the oracle's toks.join('')), where decode joins the
         * vocabulary's strings with " " (HuggingFace's decode): an added
         * token that strips white space has that space in its string
         * (HuggingFace's getTokens), not in the vocabulary's */
        la_buf joined = {0};
        for (size_t i = 0; i < k; i++) {
            const char *s = all.strs.data + all.str_off[i];
            size_t sl = (i + 1 < all.n ? all.str_off[i + 1] : all.strs.len) - all.str_off[i] - 1;
            la_buf_append(&joined, s, sl);
        }
        equal = joined.len == prev.len && (prev.len == 0 || memcmp(joined.data, prev.data, prev.len) == 0);
        la_buf_free(&joined);
    }
    FUZZ_CHECK(equal, "preview \"%.*s\" != decode of its %zu tokens \"%.*s\"", (int)prev.len,
               prev.data ? prev.data : "", k, (int)want.len, want.data ? want.data : "");
    la_buf body = {0}, esc = {0};
    FUZZ_CHECK(la_json_escape(text, len, &body) == LA_OK && la_json_escape(prev.data ? prev.data : "", prev.len, &esc) == LA_OK,
               "escape failed");
    for (int slash = 0; slash < 2; slash++) {
        la_buf b = {0}, raw = {0};
        for (size_t i = 0; i < body.len; i++) {   /* the second time "/" as "\/" */
            if (slash && body.data[i] == '/')
                la_buf_putc(&b, '\\');
            la_buf_putc(&b, body.data[i]);
        }
        la_preview_info ri = {0, 0, 0};
        rc = tk_preview_raw(t, work, &la_json_body_escaping, b.data ? b.data : "", b.len, m, complete, &raw, &ri, &e);
        FUZZ_CHECK(rc == 0 || rc == 1, "raw preview status %d (%s)", rc, e.msg);
        if (rc == 1)
            FUZZ_CHECK(raw.len == esc.len && (raw.len == 0 || memcmp(raw.data, esc.data, raw.len) == 0) &&
                           ri.units == info.units && ri.whole == info.whole && ri.extended == info.extended,
                       "raw preview \"%.*s\" != \"%.*s\" escaped", (int)raw.len, raw.data ? raw.data : "",
                       (int)esc.len, esc.data ? esc.data : "");
        else
            FUZZ_CHECK(raw.len == 0, "raw preview declined but appended %zu bytes", raw.len);
        la_buf_free(&b);
        la_buf_free(&raw);
    }
    la_buf_free(&body);
    la_buf_free(&esc);
    la_buf_free(&prev);
    la_buf_free(&want);
    la_tokens_free(&all);
    la_tokens_free(&few);
    return 0;
}
