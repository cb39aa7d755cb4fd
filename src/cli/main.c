/*
 * main.c - the command line: options in, a cli_opts out, cli_run does
 * the work. Messages and exit codes are decided here, in run.c and in output.c only.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/files.h"
#include "cli/layout.h"
#include "cli/tokenize_cmd.h"

static const char usage_text[] =
    "Usage: lookahead [OPTIONS] [FILE...]\n"
    "       lookahead tokenize --tokenizer PATH [--m N] [TEXT | -]\n"
    "       lookahead merge-stats STATS.json...\n"
    "\n"
    "Prepares fine-tuning data with LookAhead Tuning: previews the first tokens\n"
    "of each answer in its instruction. Reads JSONL or a JSON array from the\n"
    "FILEs (gzip, zstd, xz and bzip2 too), or standard input when there are\n"
    "none or a FILE is -, and writes standard output unless -o is given.\n"
    "\n"
    "Transform:\n"
    "  --mode real|virtual        real: instruction += connector + first m units\n"
    "                             of the answer; virtual: instruction += connector\n"
    "                             + P, answer = P + answer (default: real)\n"
    "  --m N                      preview length in units, N >= 1 (default: 6)\n"
    "  --unit word|char|token     what m counts in real mode (default: token\n"
    "                             with --tokenizer, else word)\n"
    "  --tokenizer PATH           tokenizer.json, or a model folder holding one,\n"
    "                             or a model id (ORG/NAME) in the HuggingFace cache\n"
    "  --no-cache                 load the tokenizer from its file, not from the\n"
    "                             tokenizer cache, and keep nothing there\n"
    "  --partial-chars complete|replace\n"
    "                             a token preview that ends inside a character:\n"
    "                             take more tokens (complete, default) or keep\n"
    "                             U+FFFD (replace)\n"
    "  --P TEXT                   virtual prefix (default: \"Let's solve this problem. \")\n"
    "  --connector TEXT           joins instruction and preview\n"
    "                             (default: \" The answer begins with: \")\n"
    "Records:\n"
    "  --format auto|fields|alpaca|messages|sharegpt|prompt-completion\n"
    "                             record layout (default: auto, per record)\n"
    "  --dataset-info FILE --dataset NAME\n"
    "                             the layout of entry NAME of LLaMA-Factory's\n"
    "                             dataset_info.json (and its file, without FILE)\n"
    "  --columns NAME=COLUMN,...  LLaMA-Factory columns: prompt, query, response,\n"
    "                             history, messages, ...\n"
    "  --tags NAME=TAG,...        LLaMA-Factory tags: role_tag, content_tag,\n"
    "                             user_tag, assistant_tag, ...\n"    "  --turns all|first|last     chat turns to edit (default: all)\n"
    "  --input-field NAME         instruction field, or dot path; a number\n"
    "                             indexes an array (default: input)\n"
    "  --output-field NAME        answer field, or dot path (default: output)\n"
    "  --input-format auto|jsonl|json\n"
    "                             json: one top-level array (default: auto)\n"
    "  --output-format jsonl|json (default: the input's)\n"
    "Output and errors:\n"
    "  -o, --output FILE          write FILE (atomically) instead of stdout (- is\n"
    "                             stdout); .gz, .zst, .xz or .bz2 compresses\n"
    "  --on-error fail|skip       a bad record stops the run (fail, default) or\n"
    "                             is set aside (skip)\n"
    "  --rejects FILE             with skip: rejected records, byte for byte\n"
    "  --stats FILE               JSON statistics\n"
    "  --max-rejects N|P%         with skip: more than N rejected records, or more\n"
    "                             than P% of the records in, fails the run (exit 65)\n"
    "  --allow-empty              no record out of a non-empty input is no failure\n"
    "  --strict                   every warning is an error (exit 65), for CI\n"
    "  -q, --quiet                no summary, no progress\n"
    "  --progress                 progress on stderr even when not a terminal\n"
    "  --threads N                worker threads (default: the cores available)\n"
    "  --shard K/N                only records K, K+N, K+2N, ... (K from 0)\n"
    "  --split K/N                only the records starting in bytes [K*size/N,\n"
    "                             (K+1)*size/N) of one plain FILE (K from 0): the\n"
    "                             outputs of K = 0..N-1 joined are one run's\n"
    "  -h, --help                 this help\n"
    "  -V, --version              version\n"
    "\n"
    "Aliases of the original script: --input_file, --output_file, --input_format,\n"
    "--output_format, --input_field, --output_field, --tokenizer_path.\n"
    "\n"
    "Environment: LOOKAHEAD_CACHE_DIR, the tokenizer cache's folder (default\n"
    "$XDG_CACHE_HOME/lookahead or ~/.cache/lookahead; empty: no cache);\n"
    "LOOKAHEAD_CACHE_MAX_MB, what its entries may take (default 512).\n"
    "\n"
    "Examples:\n"
    "  # the paper's two runs: virtual, and real with the model's first 6 tokens\n"
    "  lookahead --mode virtual --input-field question --output-field answer \\\n"
    "      train.jsonl > virtual.jsonl\n"
    "  lookahead --tokenizer meta-llama/Llama-2-7b-chat-hf --m 6 \\\n"
    "      --input-field question --output-field answer -o real.jsonl train.jsonl\n"
    "  # a chat dataset (messages or sharegpt), the last turn of each record\n"
    "  lookahead --tokenizer ./model --turns last chat.jsonl.zst -o chat_la.jsonl.zst\n"
    "  # in CI: fail on more than 1% bad records or any warning, keep the report\n"
    "  lookahead --tokenizer ./model --on-error skip --max-rejects 1% --strict \\\n"
    "      --rejects bad.jsonl --stats stats.json -o train_la.jsonl train.jsonl\n"
    "\n"
    "Exit codes: 0 success, 2 usage, 65 bad data or tokenizer, 66 an input\n"
    "cannot be opened, 73 the output cannot be created, 74 I/O error or a\n"
    "tokenizer cache entry damaged or cut short while in use (run again).\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    cli_msg("%s", line);
    fputs("Try 'lookahead --help' for more information.\n", stderr);
    return EXIT_USAGE;
}

/* Matches arg against a NULL-terminated list; index or -1. */
static int choice(const char *arg, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(arg, names[i]) == 0)
            return i;
    return -1;
}

/* Parses a positive decimal integer that fits in size_t. */
static int parse_count(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9')   /* no sign, no space: strtoull takes both */
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v == 0 || v > (unsigned long long)SIZE_MAX / 2)
        return -1;
    *out = v;
    return 0;
}

enum {
    O_MODE = 256, O_M, O_UNIT, O_TOKENIZER, O_PARTIAL, O_P, O_CONNECTOR, O_FORMAT, O_TURNS, O_INFIELD,
    O_OUTFIELD, O_INFMT, O_OUTFMT, O_INFILE, O_ONERROR, O_REJECTS, O_STATS, O_PROGRESS, O_THREADS, O_SHARD, O_SPLIT, O_NOCACHE,
    O_MAXREJ, O_ALLOWEMPTY, O_DSINFO, O_DATASET, O_COLUMNS, O_TAGS, O_STRICT
};

static const struct option long_opts[] = {
    {"mode", required_argument, 0, O_MODE},
    {"m", required_argument, 0, O_M},
    {"unit", required_argument, 0, O_UNIT},
    {"tokenizer", required_argument, 0, O_TOKENIZER},
    {"tokenizer_path", required_argument, 0, O_TOKENIZER},
    {"no-cache", no_argument, 0, O_NOCACHE},
    {"partial-chars", required_argument, 0, O_PARTIAL},
    {"P", required_argument, 0, O_P},
    {"connector", required_argument, 0, O_CONNECTOR},
    {"format", required_argument, 0, O_FORMAT},
    {"turns", required_argument, 0, O_TURNS},
    {"input-field", required_argument, 0, O_INFIELD},
    {"input_field", required_argument, 0, O_INFIELD},
    {"output-field", required_argument, 0, O_OUTFIELD},
    {"output_field", required_argument, 0, O_OUTFIELD},
    {"input-format", required_argument, 0, O_INFMT},
    {"input_format", required_argument, 0, O_INFMT},
    {"output-format", required_argument, 0, O_OUTFMT},
    {"output_format", required_argument, 0, O_OUTFMT},
    {"input_file", required_argument, 0, O_INFILE},
    {"output", required_argument, 0, 'o'},
    {"output_file", required_argument, 0, 'o'},
    {"on-error", required_argument, 0, O_ONERROR},
    {"rejects", required_argument, 0, O_REJECTS},
    {"stats", required_argument, 0, O_STATS},
    {"quiet", no_argument, 0, 'q'},
    {"progress", no_argument, 0, O_PROGRESS},
    {"threads", required_argument, 0, O_THREADS},
    {"shard", required_argument, 0, O_SHARD},
    {"split", required_argument, 0, O_SPLIT},
    {"max-rejects", required_argument, 0, O_MAXREJ},
    {"allow-empty", no_argument, 0, O_ALLOWEMPTY},
    {"dataset-info", required_argument, 0, O_DSINFO},
    {"dataset", required_argument, 0, O_DATASET},
    {"columns", required_argument, 0, O_COLUMNS},
    {"tags", required_argument, 0, O_TAGS},
    {"strict", no_argument, 0, O_STRICT},
    {"help", no_argument, 0, 'h'},
    {"version", no_argument, 0, 'V'},
    {0, 0, 0, 0},
};

static const char *const modes[] = {"real", "virtual", NULL};
static const char *const units[] = {"word", "char", "token", NULL};
static const char *const formats[] = {"auto", "fields", "alpaca", "messages", "sharegpt", "prompt-completion",
                                      "prompt_completion", NULL};
static const char *const turn_names[] = {"all", "first", "last", NULL};
static const char *const io_in[] = {"auto", "jsonl", "json", NULL};
static const char *const on_error[] = {"fail", "skip", NULL};
static const char *const partial[] = {"replace", "complete", NULL};

/* Parses K/N: two decimal numbers of digits only (no sign, no space),
 * 0 <= K < N. */
static int parse_shard(const char *s, uint64_t *k, uint64_t *n)
{
    const char *slash = strchr(s, '/');
    if (!slash || slash == s || !slash[1] || strspn(s, "0123456789") != (size_t)(slash - s) ||
        strspn(slash + 1, "0123456789") != strlen(slash + 1))
        return -1;
    errno = 0;
    unsigned long long a = strtoull(s, NULL, 10), b = strtoull(slash + 1, NULL, 10);
    if (errno || b == 0 || a >= b)
        return -1;
    *k = a;
    *n = b;
    return 0;
}

/* Parses one option into o; returns 0 or an exit code. */
static int set_option(cli_opts *o, cli_layout *L, int c, const char *arg, const char *name, int *unit_given,
                      char ***extra, size_t *nextra)
{
    int k;
    uint64_t v;
    switch (c) {
    case O_MODE:
        if ((k = choice(arg, modes)) < 0)
            return usage_error("--mode: expected real or virtual, got '%s'", arg);
        o->cfg.mode = k;
        break;
    case O_M:
        if (parse_count(arg, &v))
            return usage_error("--m: expected a whole number >= 1, got '%s'", arg);
        o->cfg.m = (size_t)v;
        break;
    case O_UNIT:
        if ((k = choice(arg, units)) < 0)
            return usage_error("--unit: expected word, char or token, got '%s'", arg);
        o->cfg.unit = k;
        *unit_given = 1;
        break;
    case O_TOKENIZER: o->tokenizer_path = arg; break;
    case O_PARTIAL:
        if ((k = choice(arg, partial)) < 0)
            return usage_error("--partial-chars: expected complete or replace, got '%s'", arg);
        o->cfg.partial_complete = k;
        break;
    case O_P: o->cfg.P = arg; break;
    case O_CONNECTOR: o->cfg.connector = arg; break;
    case O_FORMAT:
        if ((k = choice(arg, formats)) < 0)
            return usage_error("--format: expected auto, fields, alpaca, messages, sharegpt or prompt-completion, "
                               "got '%s'", arg);
        o->cfg.format = k < LA_FMT_COUNT ? k : LA_FMT_PROMPT_COMPLETION;
        break;
    case O_TURNS:
        if ((k = choice(arg, turn_names)) < 0)
            return usage_error("--turns: expected all, first or last, got '%s'", arg);
        o->cfg.turns = k;
        o->turns_given = 1;
        break;
    case O_INFIELD:
    case O_OUTFIELD:
        if (!*arg)
            return usage_error("%s: the field name is empty", name);
        *(c == O_INFIELD ? &o->cfg.input_field : &o->cfg.output_field) = arg;
        o->cfg.fields_given = 1;
        break;
    case O_INFMT:
        if ((k = choice(arg, io_in)) < 0)
            return usage_error("%s: expected auto, jsonl or json, got '%s'", name, arg);
        o->input_format = k;
        break;
    case O_OUTFMT:
        if ((k = choice(arg, io_in)) <= 0)
            return usage_error("%s: expected jsonl or json, got '%s'", name, arg);
        o->output_format = k;
        break;
    case O_INFILE: {
        char **n = realloc(*extra, (*nextra + 1) * sizeof *n);
        if (!n)
            return EXIT_IOERR;
        n[(*nextra)++] = (char *)arg;
        *extra = n;
        break;
    }
    case 'o': o->output = strcmp(arg, "-") == 0 ? NULL : arg; break;   /* as for inputs, - is standard output */
    case O_ONERROR:
        if ((k = choice(arg, on_error)) < 0)
            return usage_error("--on-error: expected fail or skip, got '%s'", arg);
        o->skip_bad = k;
        break;
    case O_REJECTS: o->rejects = arg; break;
    case O_STATS: o->stats = arg; break;
    case 'q': o->quiet = 1; break;
    case O_PROGRESS: o->progress = 1; break;
    case O_NOCACHE: o->no_cache = 1; break;
    case O_THREADS:
        if (parse_count(arg, &v) || v > 256)
            return usage_error("--threads: expected a number from 1 to 256, got '%s'", arg);
        o->threads = (int)v;
        break;
    case O_SHARD:
        if (parse_shard(arg, &o->shard_k, &o->shard_n))
            return usage_error("--shard: expected K/N with 0 <= K < N, got '%s'", arg);
        break;
    case O_SPLIT:
        if (parse_shard(arg, &o->split_k, &o->split_n))
            return usage_error("--split: expected K/N with 0 <= K < N, got '%s'", arg);
        break;
    case O_MAXREJ:
        if (la_reject_limit_parse(arg, &o->max_rejects))
            return usage_error("--max-rejects: expected a count (N) or a percentage from 0%% to 100%% with at most two "
                               "decimals (P%%), got '%s'",
                               arg);
        break;
    case O_ALLOWEMPTY: o->allow_empty = 1; break;
    case O_DSINFO: L->info = arg; break;
    case O_DATASET: L->dataset = arg; break;
    case O_COLUMNS: L->columns = arg; break;
    case O_TAGS: L->tags = arg; break;
    case O_STRICT: o->strict = 1; break;
    default: return usage_error("unknown option");
    }
    return 0;
}

/* Whether s is UTF-8 (JSON text must be: P and the connector are
 * written into the records as they are). */
static int valid_utf8(const char *s)
{
    return cli_valid_utf8(s, strlen(s));
}

/* Checks option combinations after parsing. */
static int check_options(cli_opts *o, int unit_given)
{
    if (!valid_utf8(o->cfg.P) || !valid_utf8(o->cfg.connector))
        return usage_error("%s is not valid UTF-8: records are JSON text, which must be UTF-8; give the text in UTF-8",
                           valid_utf8(o->cfg.P) ? "--connector" : "--P");
    o->unit_given = unit_given;
    if (o->cfg.mode == LA_MODE_REAL && !unit_given)
        o->cfg.unit = o->tokenizer_path ? LA_UNIT_TOKEN : LA_UNIT_WORD;
    if (o->cfg.mode == LA_MODE_REAL && o->cfg.unit == LA_UNIT_TOKEN && !o->tokenizer_path)
        return usage_error("--unit token needs --tokenizer PATH (a tokenizer.json or a model folder)");
    if (o->rejects && !o->skip_bad)
        return usage_error("--rejects needs --on-error skip");
    if (o->output && cli_compression_of(o->output) < 0)
        return usage_error("-o %s: that compressor's format is not written (.gz, .zst, .xz and .bz2 are); pick one of "
                           "those, or write plain and compress with its tool", o->output);
    const char *side[] = {o->rejects, o->stats};
    for (int i = 0; i < 2; i++)
        if (side[i] && cli_compression_of(side[i]) != LA_Z_NONE)
            return usage_error("%s %s: written plain, never compressed: give a name without a compressor's extension",
                               i ? "--stats" : "--rejects", side[i]);
    if (o->max_rejects.set && !o->skip_bad)
        return usage_error("--max-rejects needs --on-error skip (with fail, the first bad record stops the run)");
    if (o->split_n && o->shard_n)
        return usage_error("--split and --shard cannot be combined: --split K/N already gives each process its "
                           "share of the input");
    if (strcmp(o->cfg.input_field, o->cfg.output_field) == 0)
        return usage_error("--input-field and --output-field must differ (both are '%s')", o->cfg.input_field);
    if (o->cfg.fields_given && o->cfg.format != LA_FMT_AUTO && o->cfg.format != LA_FMT_FIELDS)
        return usage_error("--input-field and --output-field name the fields of the fields format, and --format %s "
                           "reads its own: drop one of them (--columns renames alpaca's and sharegpt's fields)",
                           la_format_name(o->cfg.format));
    return 0;
}

int main(int argc, char **argv)
{
    cli_heap_setup();
    int closed[3];
    if (cli_std_fds_open(closed) != 0) {
        cli_msg("a closed standard descriptor (0, 1 or 2) cannot be put on /dev/null: %s", strerror(errno));
        return EXIT_IOERR;
    }
    if (argc > 1 && closed[1] && (strcmp(argv[1], "tokenize") == 0 || strcmp(argv[1], "merge-stats") == 0)) {
        cli_msg("standard output is closed: run with standard output open");
        return EXIT_CANTCREAT;
    }
    if (argc > 1 && strcmp(argv[1], "tokenize") == 0)
        return la_cli_tokenize(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "merge-stats") == 0)
        return cli_merge_stats(argc - 1, argv + 1);

    cli_opts o;
    cli_layout L;
    memset(&o, 0, sizeof o);
    memset(&L, 0, sizeof L);
    memcpy(o.std_closed, closed, sizeof closed);
    la_config_defaults(&o.cfg);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    o.threads = cores < 1 ? 1 : cores > 64 ? 64 : (int)cores;
    int unit_given = 0, c, idx;
    char **extra = NULL;
    size_t nextra = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:qhV", long_opts, &idx)) != -1) {
        if (c == 'h') {
            fputs(usage_text, stdout);
            free(extra);
            return fflush(stdout) == 0 ? 0 : EXIT_IOERR;
        }
        if (c == 'V') {
            printf("lookahead %s\n", LA_VERSION);
            free(extra);
            return 0;
        }
        if (c == '?' || c == ':') {
            free(extra);
            const char *bad = argv[optind - 1];
            if (c == ':')
                return usage_error("option '%s' needs a value", bad);
            if (optopt)
                return usage_error("unknown option '-%c'", optopt);
            return usage_error("unknown option '%s'", bad);
        }
        const char *name = c < 256 ? "-o" : long_opts[idx].name;
        int rc = set_option(&o, &L, c, optarg, name, &unit_given, &extra, &nextra);
        if (rc) {
            free(extra);
            return rc;
        }
    }
    size_t npos = (size_t)(argc - optind);
    L.format_given = o.cfg.format != LA_FMT_AUTO;
    int rc = check_options(&o, unit_given);
    if (!rc)
        rc = cli_layout_resolve(&L, &o, nextra + npos > 0);
    /* inputs: --input_file values, then positional FILEs, else the
     * dataset entry's files */
    o.inputs = rc ? NULL : calloc(nextra + npos + L.nfiles + 2, sizeof *o.inputs);
    if (!rc && !o.inputs) {
        cli_msg("out of memory");
        rc = EXIT_IOERR;
    }
    if (rc) {
        free(extra);
        cli_layout_free(&L);
        return rc;
    }
    for (size_t i = 0; i < nextra; i++)
        o.inputs[o.ninputs++] = extra[i];
    for (int i = optind; i < argc; i++)
        o.inputs[o.ninputs++] = argv[i];
    if (o.ninputs == 0)
        for (size_t i = 0; i < L.nfiles; i++)
            o.inputs[o.ninputs++] = L.files[i];
    if (o.ninputs == 0 && isatty(0)) {
        /* as zstd and jq do: a bare run on a terminal would wait, silent,
         * for records typed in */
        cli_msg("no input: give a FILE, or pipe data in (standard input is a terminal; '-' reads it anyway)");
        fwrite(usage_text, 1, (size_t)(strstr(usage_text, "\n\n") + 1 - usage_text), stderr);
        fputs("Try 'lookahead --help' for more information.\n", stderr);
        free(extra);
        free(o.inputs);
        cli_layout_free(&L);
        return EXIT_USAGE;
    }
    if (o.ninputs == 0)
        o.inputs[o.ninputs++] = "-";
    if (o.split_n && o.ninputs != 1) {
        free(extra);
        free(o.inputs);
        cli_layout_free(&L);
        return usage_error("--split reads one FILE, and %zu were given: run each file apart, or join them first",
                           o.ninputs);
    }
    free(extra);
    la_tokenizer_use_cache(!o.no_cache);
    rc = cli_run(&o);
    free(o.inputs);
    cli_layout_free(&L);
    return rc;
}
