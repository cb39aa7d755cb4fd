/*
 * tokenize_cmd.c - `lookahead tokenize --tokenizer PATH [--m N]
 * [--partial-chars complete|replace] [TEXT | -]`: prints one JSON line
 * per text, {"ids":[...],"tokens":[...]} as HuggingFace's
 * encode(text, add_special_tokens=False), plus "preview" with --m.
 * Without TEXT, or with "-", each line of standard input is a text; with
 * --json each line is a JSON string instead (so texts may hold newlines).
 */
#include "cli/tokenize_cmd.h"
#include "cli/cli.h"
#include "json.h"
#include "lookahead.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *path;
    size_t m;                /* 0: no preview */
    int complete;
    int json;                /* stdin lines are JSON strings */
    int no_cache;            /* --no-cache */
    la_tokenizer *tok;
    la_tok_work *w;
    la_tokens toks;
    la_buf line, preview, text;
} tok_cmd;

static int usage(const char *why)
{
    fprintf(stderr, "lookahead: %s\n"
                    "usage: lookahead tokenize --tokenizer PATH [--m N] "
                    "[--partial-chars complete|replace] [--json] [TEXT | -]\n", why);
    return EXIT_USAGE;
}

/* Appends one text's JSON line to c->line. */
static int format_text(tok_cmd *c, const char *text, size_t len, la_err *err)
{
    int rc = la_tokenizer_encode(c->tok, c->w, text, len, 0, &c->toks, err);
    if (rc != LA_OK)
        return rc;
    la_buf *o = &c->line;
    la_buf_clear(o);
    rc |= la_buf_append(o, "{\"ids\":[", 8);
    for (size_t i = 0; i < c->toks.n; i++)
        rc |= la_buf_printf(o, "%s%" PRIu32, i ? "," : "", c->toks.ids[i]);
    rc |= la_buf_append(o, "],\"tokens\":[", 12);
    for (size_t i = 0; i < c->toks.n; i++) {
        const char *s = c->toks.strs.data + c->toks.str_off[i];
        size_t n = (i + 1 < c->toks.n ? c->toks.str_off[i + 1] : c->toks.strs.len) - c->toks.str_off[i] - 1;
        rc |= la_buf_append(o, i ? ",\"" : "\"", i ? 2 : 1);
        rc |= la_json_escape(s, n, o);
        rc |= la_buf_putc(o, '"');
    }
    rc |= la_buf_putc(o, ']');
    if (c->m) {
        la_buf_clear(&c->preview);
        int prc = la_tokenizer_preview(c->tok, c->w, text, len, c->m, c->complete, &c->preview, NULL, err);
        if (prc != LA_OK)
            return prc;
        rc |= la_buf_append(o, ",\"preview\":\"", 12);
        rc |= la_json_escape(c->preview.data ? c->preview.data : "", c->preview.len, o);
        rc |= la_buf_putc(o, '"');
    }
    rc |= la_buf_append(o, "}\n", 2);
    return rc ? la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory") : LA_OK;
}

/* Encodes and prints one text (line no of standard input; 0: the TEXT
 * argument); returns an exit code (0 on success). A text is UTF-8, as
 * HuggingFace's tokenizers take it. */
static int do_text(tok_cmd *c, const char *text, size_t len, uint64_t no)
{
    la_err err = {{0}, {0}};
    char where[48] = "TEXT";
    if (no)
        snprintf(where, sizeof where, "standard input:%" PRIu64, no);
    if (!cli_valid_utf8(text, len)) {
        fprintf(stderr, "lookahead: %s: not valid UTF-8: a text to tokenize is UTF-8, as HuggingFace's tokenizers take it\n",
                where);
        return EXIT_DATA;
    }
    if (format_text(c, text, len, &err) != LA_OK) {
        fprintf(stderr, "lookahead: %s: %s\n", c->path, err.msg);
        return EXIT_DATA;
    }
    if (fwrite(c->line.data, 1, c->line.len, stdout) != c->line.len) {
        fprintf(stderr, "lookahead: standard output: write failed: %s\n", strerror(errno));
        return EXIT_IOERR;
    }
    return 0;
}

/* Decodes a line (number no) holding one JSON string into c->text. */
static int json_text(tok_cmd *c, const char *line, size_t n, uint64_t no)
{
    la_err err = {{0}, {0}};
    la_span v;
    la_buf_clear(&c->text);
    if (la_json_validate(line, n, &v, &err) != LA_OK || la_json_type(line[v.start]) != LA_JSTRING ||
        la_json_unescape(line, v, &c->text, &err) != LA_OK) {
        fprintf(stderr, "lookahead: standard input:%" PRIu64 ": not a JSON string%s%s\n", no,
                err.msg[0] ? ": " : "", err.msg);
        return EXIT_DATA;
    }
    return 0;
}

/* Each line of standard input (without its line feed, or its CR LF) is
 * a text. */
static int do_stdin(tok_cmd *c)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    uint64_t no = 0;
    while (rc == 0 && (n = getline(&line, &cap, stdin)) >= 0) {
        no++;
        if (n > 0 && line[n - 1] == '\n') {
            n--;
            if (n > 0 && line[n - 1] == '\r')
                n--;
        }
        if (!c->json)
            rc = do_text(c, line, (size_t)n, no);
        else if ((rc = json_text(c, line, (size_t)n, no)) == 0)
            rc = do_text(c, c->text.data ? c->text.data : "", c->text.len, no);
    }
    free(line);
    if (rc == 0 && ferror(stdin)) {
        fprintf(stderr, "lookahead: reading standard input failed\n");
        rc = EXIT_IOERR;
    }
    return rc;
}

/* Parses the options into c; returns -1 when all is well, else an exit code. */
static int parse_args(tok_cmd *c, int argc, char **argv)
{
    static const struct option opts[] = {
        { "tokenizer", required_argument, 0, 't' },
        { "tokenizer_path", required_argument, 0, 't' },
        { "m", required_argument, 0, 'm' },
        { "partial-chars", required_argument, 0, 'p' },
        { "partial_chars", required_argument, 0, 'p' },
        { "json", no_argument, 0, 'j' },
        { "no-cache", no_argument, 0, 'n' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    int o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (o) {
        case 'h':
            printf("usage: lookahead tokenize --tokenizer PATH [--m N] [--partial-chars complete|replace] [--json]\n"
                   "                          [--no-cache] [TEXT | -]\n"
                   "Prints {\"ids\": [...], \"tokens\": [...]} for TEXT, or for each line of standard input\n"
                   "(--json: each line is a JSON string), as HuggingFace's encode without special tokens;\n"
                   "with --m, also the \"preview\" of the first m tokens that real mode would use.\n");
            return 0;
        case 't': c->path = optarg; break;
        case 'j': c->json = 1; break;
        case 'n': c->no_cache = 1; break;
        case 'm':
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || *end || !*optarg || optarg[0] == '-' || v == 0 || v > SIZE_MAX / 4)
                return usage("--m needs a positive integer");
            c->m = (size_t)v;
            break;
        case 'p':
            if (strcmp(optarg, "complete") == 0) c->complete = 1;
            else if (strcmp(optarg, "replace") == 0) c->complete = 0;
            else return usage("--partial-chars is complete or replace");
            break;
        default:
            return usage("unknown option or missing argument");
        }
    }
    if (!c->path)
        return usage("tokenize needs --tokenizer PATH");
    if (argc - optind > 1)
        return usage("tokenize takes at most one TEXT");
    return -1;
}

int la_cli_tokenize(int argc, char **argv)
{
    tok_cmd c;
    memset(&c, 0, sizeof c);
    c.complete = 1;
    int rc = parse_args(&c, argc, argv);
    if (rc >= 0)
        return rc;
    la_err err = {{0}, {0}};
    la_tokenizer_use_cache(!c.no_cache);
    cli_catch_bus();
    c.tok = la_tokenizer_load(c.path, &err);
    if (!c.tok) {
        /* "PATH: tokenizer: reason" as real mode says it, whichever component said it */
        fprintf(stderr, "lookahead: %s: %s%s\n", c.path, strncmp(err.msg, "tokenizer:", 10) ? "tokenizer: " : "",
                err.msg);
        return strcmp(err.code, "cannot_open") == 0 ? EXIT_NOINPUT : EXIT_DATA;
    }
    c.w = la_tok_work_new();
    if (!c.w) {
        fprintf(stderr, "lookahead: out of memory\n");
        rc = EXIT_DATA;
    } else if (optind < argc && strcmp(argv[optind], "-") != 0) {
        rc = do_text(&c, argv[optind], strlen(argv[optind]), 0);
    } else {
        rc = do_stdin(&c);
    }
    if (rc == 0 && fflush(stdout) != 0) {
        fprintf(stderr, "lookahead: standard output: write failed: %s\n", strerror(errno));
        rc = EXIT_IOERR;
    }
    la_tokens_free(&c.toks);
    la_buf_free(&c.line);
    la_buf_free(&c.preview);
    la_buf_free(&c.text);
    la_tok_work_free(c.w);
    la_tokenizer_free(c.tok);
    return rc;
}
