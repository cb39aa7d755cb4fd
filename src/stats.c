/* stats.c - counters, their merge, and the JSON report. */
#include "lookahead.h"

#include <cjson/cJSON.h>
#include <string.h>

#include "json.h"

/* Adds k to the count of code in a small table (linear search: there
 * are a handful of reasons). A full table folds new codes into "other". */
void la_stats_count(la_reason_count *tab, size_t *n, size_t max, const char *code, uint64_t k)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(tab[i].code, code) == 0) {
            tab[i].count += k;
            return;
        }
    if (*n == max) {
        code = "other";
        for (size_t i = 0; i < *n; i++)
            if (strcmp(tab[i].code, code) == 0) {
                tab[i].count += k;
                return;
            }
        (*n)--;   /* reuse the last slot for "other" */
        k += tab[*n].count;
    }
    snprintf(tab[*n].code, sizeof tab[*n].code, "%s", code);
    tab[*n].count = k;
    (*n)++;
}

void la_stats_reject(la_stats *st, const char *code)
{
    st->records_rejected++;
    la_stats_count(st->rejected, &st->n_rejected_reasons, LA_MAX_REASONS, code, 1);
}

void la_stats_preview(la_stats *st, const la_preview_info *info)
{
    uint64_t u = info->units;
    if (st->previews == 0 || u < st->preview_min)
        st->preview_min = u;
    if (u > st->preview_max)
        st->preview_max = u;
    st->previews++;
    st->preview_sum += u;
    st->fully_previewed += info->whole ? 1 : 0;
    st->empty_answers += u == 0;
    st->extended += info->extended ? 1 : 0;
}

static const char *const status_names[] = {"complete", "output_closed", "failed"};
static const char *const out_format_names[] = {NULL, "jsonl", "json"};
static const char *const compress_names[] = {"none", "gzip", "zstd", "xz", "bzip2"};
#define N_COMPRESS (sizeof compress_names / sizeof compress_names[0])

void la_stats_merge(la_stats *into, const la_stats *f)
{
    if (f->status > into->status)
        into->status = f->status;
    into->records_in += f->records_in;
    into->records_out += f->records_out;
    into->records_rejected += f->records_rejected;
    for (size_t i = 0; i < f->n_rejected_reasons; i++)
        la_stats_count(into->rejected, &into->n_rejected_reasons, LA_MAX_REASONS, f->rejected[i].code,
                       f->rejected[i].count);
    if (f->previews) {
        if (into->previews == 0 || f->preview_min < into->preview_min)
            into->preview_min = f->preview_min;
        if (f->preview_max > into->preview_max)
            into->preview_max = f->preview_max;
    }
    into->previews += f->previews;
    into->preview_sum += f->preview_sum;
    into->fully_previewed += f->fully_previewed;
    into->extended += f->extended;
    into->bytes_in += f->bytes_in;
    into->bytes_out += f->bytes_out;
    for (int i = 0; i < LA_FMT_COUNT; i++)
        into->format_records[i] += f->format_records[i];
    into->turns_edited += f->turns_edited;
    for (size_t i = 0; i < f->n_skipped_reasons; i++)
        la_stats_count(into->skipped, &into->n_skipped_reasons, 8, f->skipped[i].code, f->skipped[i].count);
    into->records_without_turn += f->records_without_turn;
    into->empty_answers += f->empty_answers;
    into->already_edited += f->already_edited;
    into->warnings |= f->warnings;
}

static const char *const warning_names[LA_WARN_COUNT] = {
    "no_tokenizer", "many_full_previews", "empty_answers", "no_turn_edited", "tokenizer_unused", "turns_unused",
    "already_edited",
};

const char *la_warning_name(int w) { return w >= 0 && w < LA_WARN_COUNT ? warning_names[w] : "unknown"; }

/* The share the warnings judge: more than a tenth of a non-zero whole. */
static int over_a_tenth(uint64_t part, uint64_t whole)
{
    return whole && (unsigned __int128)part * 10 > whole;
}

int la_stats_many_full(const la_stats *st) { return over_a_tenth(st->fully_previewed, st->previews); }

int la_stats_many_already(const la_stats *st) { return over_a_tenth(st->already_edited, st->turns_edited); }

static void put_counts(la_buf *o, const char *name, const la_reason_count *t, size_t n)
{
    la_buf_printf(o, "  \"%s\": {", name);
    for (size_t i = 0; i < n; i++)
        la_buf_printf(o, "%s\"%s\": %llu", i ? ", " : "", t[i].code, (unsigned long long)t[i].count);
    la_buf_printf(o, "},\n");
}

int la_stats_json(const la_stats *st, const la_config *cfg, double seconds, la_buf *o)
{
    size_t start = o->len;
    int status = st->status >= 0 && st->status <= LA_RUN_FAILED ? st->status : LA_RUN_FAILED;
    la_buf_printf(o, "{\n  \"status\": \"%s\",\n", status_names[status]);
    la_buf_printf(o, "  \"records_in\": %llu,\n  \"records_out\": %llu,\n  \"records_rejected\": %llu,\n",
                  (unsigned long long)st->records_in, (unsigned long long)st->records_out,
                  (unsigned long long)st->records_rejected);
    put_counts(o, "rejected_by_reason", st->rejected, st->n_rejected_reasons);
    la_buf_printf(o, "  \"warnings\": [");
    for (int i = 0, k = 0; i < LA_WARN_COUNT; i++)
        if (st->warnings & (1u << i))
            la_buf_printf(o, "%s\"%s\"", k++ ? ", " : "", warning_names[i]);
    la_buf_printf(o, "],\n");
    la_buf_printf(o, "  \"mode\": \"%s\",\n  \"unit\": %s%s%s,\n  \"m\": %zu,\n", la_mode_name(cfg->mode),
                  cfg->mode == LA_MODE_REAL ? "\"" : "", cfg->mode == LA_MODE_REAL ? la_unit_name(cfg->unit) : "null",
                  cfg->mode == LA_MODE_REAL ? "\"" : "", cfg->m);
    if (st->previews)
        la_buf_printf(o, "  \"preview_units\": {\"min\": %llu, \"max\": %llu, \"mean\": %.6g},\n",
                      (unsigned long long)st->preview_min, (unsigned long long)st->preview_max,
                      (double)st->preview_sum / (double)st->previews);
    else
        la_buf_printf(o, "  \"preview_units\": {\"min\": null, \"max\": null, \"mean\": null},\n");
    la_buf_printf(o, "  \"previews\": %llu,\n  \"preview_units_sum\": %llu,\n  \"answers_fully_previewed\": %llu,\n"
                  "  \"previews_extended\": %llu,\n  \"empty_answers\": %llu,\n",
                  (unsigned long long)st->previews, (unsigned long long)st->preview_sum,
                  (unsigned long long)st->fully_previewed, (unsigned long long)st->extended,
                  (unsigned long long)st->empty_answers);
    la_buf_printf(o, "  \"records_by_format\": {");
    for (int i = LA_FMT_FIELDS; i < LA_FMT_COUNT; i++)
        la_buf_printf(o, "%s\"%s\": %llu", i > LA_FMT_FIELDS ? ", " : "", la_format_name(i),
                      (unsigned long long)st->format_records[i]);
    la_buf_printf(o, "},\n  \"turns_edited\": %llu,\n  \"already_edited\": %llu,\n", (unsigned long long)st->turns_edited,
                  (unsigned long long)st->already_edited);
    put_counts(o, "turns_skipped_by_reason", st->skipped, st->n_skipped_reasons);
    la_buf_printf(o, "  \"records_without_turn\": %llu,\n  \"bytes_in\": %llu,\n  \"bytes_out\": %llu,\n",
                  (unsigned long long)st->records_without_turn, (unsigned long long)st->bytes_in,
                  (unsigned long long)st->bytes_out);
    int of = st->out_format == LA_IO_JSONL || st->out_format == LA_IO_JSON ? st->out_format : 0;
    int oc = st->out_compress >= 0 && (size_t)st->out_compress < N_COMPRESS ? st->out_compress : 0;
    la_buf_printf(o, "  \"output_format\": %s%s%s,\n  \"output_compression\": \"%s\",\n",
                  of ? "\"" : "", of ? out_format_names[of] : "null", of ? "\"" : "", compress_names[oc]);
    if (st->split_n)
        la_buf_printf(o, "  \"split\": {\"k\": %llu, \"n\": %llu},\n", (unsigned long long)st->split_k,
                      (unsigned long long)st->split_n);
    if (st->shard_n)
        la_buf_printf(o, "  \"shard\": {\"k\": %llu, \"n\": %llu},\n", (unsigned long long)st->shard_k,
                      (unsigned long long)st->shard_n);
    la_buf_printf(o, "  \"seconds\": %.3f\n}\n", seconds);
    return o->len > start ? LA_OK : LA_ENOMEM;
}

/* A count: value v of key k, a whole number from 0 to 2^53 (what a
 * double holds exactly); absent or null is 0. Anything else makes *bad
 * the key's name. */
static uint64_t count_of(const cJSON *v, const char *k, const char **bad)
{
    if (!v || cJSON_IsNull(v))
        return 0;
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    if (d < 0 || d > 9007199254740992.0 || d != (double)(uint64_t)d) {
        if (!*bad)
            *bad = k;
        return 0;
    }
    return (uint64_t)d;
}

/* The count under key k of object o (count_of). */
static uint64_t num(const cJSON *o, const char *k, const char **bad)
{
    return count_of(cJSON_GetObjectItemCaseSensitive(o, k), k, bad);
}

static void counts(const cJSON *o, const char *k, la_reason_count *tab, size_t *n, size_t max, const char **bad)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, k), *e;
    cJSON_ArrayForEach(e, t)
        if (e->string)
            la_stats_count(tab, n, max, e->string, count_of(e, e->string, bad));
}

/* The report's "status"; reports written before it existed were only
 * ever written by complete runs. -1 for an unknown value. */
static int parse_status(const cJSON *o)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "status");
    if (!v)
        return LA_RUN_COMPLETE;
    for (int i = 0; i <= LA_RUN_FAILED; i++)
        if (cJSON_IsString(v) && strcmp(v->valuestring, status_names[i]) == 0)
            return i;
    return -1;
}

/* The index of string value v of key k of o in names[0..n) (NULL
 * entries skipped); absent or null: dflt; anything else: -1. */
static int name_of(const cJSON *o, const char *k, const char *const *names, size_t n, int dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v || cJSON_IsNull(v))
        return dflt;
    for (size_t i = 0; i < n; i++)
        if (names[i] && cJSON_IsString(v) && strcmp(v->valuestring, names[i]) == 0)
            return (int)i;
    return -1;
}

/* The sum of a reason table's counts (they cannot pass 2^64: each is
 * below 2^53 and there are at most LA_MAX_REASONS). */
static uint64_t table_sum(const la_reason_count *t, size_t n)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += t[i].count;
    return sum;
}

/* Counts of one report that cannot all be true of a run: the reason
 * table, the records per format and the previews must agree with the
 * totals (tables and keys a report does not have are not checked).
 * LA_OK or LA_EDATA with err. */
static int check_balance(const cJSON *o, const la_stats *st, la_err *err)
{
    if (cJSON_GetObjectItemCaseSensitive(o, "rejected_by_reason") &&
        table_sum(st->rejected, st->n_rejected_reasons) != st->records_rejected)
        return la_err_set(err, LA_EDATA, "bad_stats", "rejected_by_reason adds up to %llu, not records_rejected (%llu)",
                          (unsigned long long)table_sum(st->rejected, st->n_rejected_reasons),
                          (unsigned long long)st->records_rejected);
    uint64_t by_format = 0;
    for (int i = LA_FMT_FIELDS; i < LA_FMT_COUNT; i++)
        by_format += st->format_records[i];
    if (cJSON_GetObjectItemCaseSensitive(o, "records_by_format") && by_format != st->records_out)
        return la_err_set(err, LA_EDATA, "bad_stats", "records_by_format adds up to %llu, not records_out (%llu)",
                          (unsigned long long)by_format, (unsigned long long)st->records_out);
    if (st->fully_previewed > st->previews || st->extended > st->previews || st->empty_answers > st->previews)
        return la_err_set(err, LA_EDATA, "bad_stats",
                          "more answers_fully_previewed, previews_extended or empty_answers than previews (%llu)",
                          (unsigned long long)st->previews);
    if (st->already_edited > st->turns_edited)
        return la_err_set(err, LA_EDATA, "bad_stats", "already_edited (%llu) is more than turns_edited (%llu)",
                          (unsigned long long)st->already_edited, (unsigned long long)st->turns_edited);
    if (st->previews && (st->preview_min > st->preview_max ||
                         (unsigned __int128)st->preview_min * st->previews > st->preview_sum ||
                         (unsigned __int128)st->preview_max * st->previews < st->preview_sum))
        return la_err_set(err, LA_EDATA, "bad_stats",
                          "preview_units_sum (%llu) is not between previews x min and previews x max",
                          (unsigned long long)st->preview_sum);
    return LA_OK;
}

/* The report's "warnings", a list of names, into bits: 0, or -1 for
 * anything but a list of known names (absent: none). */
static int parse_warnings(const cJSON *o, unsigned *bits)
{
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "warnings"), *e;
    *bits = 0;
    if (!w)
        return 0;
    if (!cJSON_IsArray(w))
        return -1;
    cJSON_ArrayForEach(e, w) {
        int k = 0;
        while (k < LA_WARN_COUNT && !(cJSON_IsString(e) && strcmp(e->valuestring, warning_names[k]) == 0))
            k++;
        if (k == LA_WARN_COUNT)
            return -1;
        *bits |= 1u << k;
    }
    return 0;
}

/* cJSON fits here: a small report read once; counts below 2^53 are exact. */
int la_stats_parse(const char *json, size_t len, la_stats *st, char *mode, size_t modelen, char *unit,
                   size_t unitlen, uint64_t *m, double *seconds, la_err *err)
{
    cJSON *o = cJSON_ParseWithLength(json, len);
    if (!o || !cJSON_IsObject(o) || !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "records_in"))) {
        cJSON_Delete(o);
        return la_err_set(err, LA_EDATA, "bad_stats", "not a lookahead statistics report");
    }
    memset(st, 0, sizeof *st);
    const char *bad = NULL;
    st->status = parse_status(o);
    st->records_in = num(o, "records_in", &bad);
    st->records_out = num(o, "records_out", &bad);
    st->records_rejected = num(o, "records_rejected", &bad);
    counts(o, "rejected_by_reason", st->rejected, &st->n_rejected_reasons, LA_MAX_REASONS, &bad);
    st->previews = num(o, "previews", &bad);
    st->preview_sum = num(o, "preview_units_sum", &bad);
    const cJSON *pu = cJSON_GetObjectItemCaseSensitive(o, "preview_units");
    st->preview_min = num(pu, "min", &bad);
    st->preview_max = num(pu, "max", &bad);
    st->fully_previewed = num(o, "answers_fully_previewed", &bad);
    st->extended = num(o, "previews_extended", &bad);
    st->empty_answers = num(o, "empty_answers", &bad);
    int bad_warning = parse_warnings(o, &st->warnings);
    st->bytes_in = num(o, "bytes_in", &bad);
    st->bytes_out = num(o, "bytes_out", &bad);
    const cJSON *bf = cJSON_GetObjectItemCaseSensitive(o, "records_by_format");
    for (int i = LA_FMT_FIELDS; i < LA_FMT_COUNT; i++)
        st->format_records[i] = num(bf, la_format_name(i), &bad);
    st->turns_edited = num(o, "turns_edited", &bad);
    st->already_edited = num(o, "already_edited", &bad);
    counts(o, "turns_skipped_by_reason", st->skipped, &st->n_skipped_reasons, 8, &bad);
    st->records_without_turn = num(o, "records_without_turn", &bad);
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "mode"), *un = cJSON_GetObjectItemCaseSensitive(o, "unit");
    snprintf(mode, modelen, "%s", cJSON_IsString(md) ? md->valuestring : "");
    snprintf(unit, unitlen, "%s", cJSON_IsString(un) ? un->valuestring : "");
    *m = num(o, "m", &bad);
    st->out_format = name_of(o, "output_format", out_format_names, 3, 0);
    st->out_compress = name_of(o, "output_compression", compress_names, N_COMPRESS, LA_Z_NONE);
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(o, "split");
    st->split_k = num(sp, "k", &bad);
    st->split_n = num(sp, "n", &bad);
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(o, "shard");
    st->shard_k = num(sh, "k", &bad);
    st->shard_n = num(sh, "n", &bad);
    int bad_split = (sp && (!cJSON_IsObject(sp) || st->split_k >= st->split_n)) ||
                    (sh && (!cJSON_IsObject(sh) || st->shard_k >= st->shard_n)) || (sp && sh);
    int balance = check_balance(o, st, err);
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(o, "seconds");
    int bad_seconds = sec && !(cJSON_IsNumber(sec) && sec->valuedouble >= 0 && sec->valuedouble <= 1e12);
    *seconds = sec && !bad_seconds ? sec->valuedouble : 0.0;
    char bad_key[32] = "";
    if (bad)   /* the key lives in the tree deleted below */
        snprintf(bad_key, sizeof bad_key, "%s", bad);
    cJSON_Delete(o);
    if (bad)
        return la_err_set(err, LA_EDATA, "bad_stats", "\"%s\" is not a count (a whole number from 0 to 2^53)",
                          bad_key);
    if (bad_seconds)
        return la_err_set(err, LA_EDATA, "bad_stats", "\"seconds\" is not a number of seconds from 0 to 10^12");
    if (st->status < 0)
        return la_err_set(err, LA_EDATA, "bad_stats", "unknown \"status\" (expected complete, output_closed or failed)");
    if (bad_split && !bad)
        return la_err_set(err, LA_EDATA, "bad_stats",
                          "\"split\" or \"shard\" is not {\"k\": K, \"n\": N} with K < N, or both are there");
    if (bad_warning)
        return la_err_set(err, LA_EDATA, "bad_stats", "\"warnings\" is not a list of known warning names");
    if (st->out_format < 0 || st->out_compress < 0)
        return la_err_set(err, LA_EDATA, "bad_stats",
                          "unknown \"output_format\" or \"output_compression\" (expected jsonl or json; none, gzip, "
                          "zstd, xz or bzip2)");
    if (st->records_in != st->records_out + st->records_rejected)
        return la_err_set(err, LA_EDATA, "bad_stats",
                          "records_in (%llu) is not records_out + records_rejected (%llu + %llu)",
                          (unsigned long long)st->records_in, (unsigned long long)st->records_out,
                          (unsigned long long)st->records_rejected);
    return balance;
}

/* The bytes a JSON array of n records takes besides them: "[\n", ",\n"
 * between records and "\n]\n", or "[]\n" (la_writer_finish). */
static uint64_t array_framing(uint64_t n) { return n ? 2 * n + 3 : 3; }

static int plain_array(const la_stats *st) { return st->out_format == LA_IO_JSON && st->out_compress == LA_Z_NONE; }

/* A report of option (--split, --shard) K/n where the first was of K/first
 * (0: without it). */
static int other_part(la_err *err, const char *option, uint64_t n, uint64_t first)
{
    char a[48], b[48];
    snprintf(a, sizeof a, n ? "%s K/%llu" : "a run without %s", option, (unsigned long long)n);
    snprintf(b, sizeof b, first ? "%s K/%llu" : "a run without %s", option, (unsigned long long)first);
    return la_err_set(err, LA_EDATA, "bad_stats", "a report of %s, not of %s like the first report", a, b);
}

int la_stats_merge_report(la_stats *into, const la_stats *from, int first, la_err *err)
{
    if (first) {
        into->out_format = from->out_format;
        into->out_compress = from->out_compress;
        into->split_n = from->split_n;
        into->shard_n = from->shard_n;
    } else if (from->shard_n != into->shard_n) {
        return other_part(err, "--shard", from->shard_n, into->shard_n);
    } else if (from->split_n != into->split_n) {
        return other_part(err, "--split", from->split_n, into->split_n);
    } else if (from->out_format != into->out_format || from->out_compress != into->out_compress) {
        return la_err_set(err, LA_EDATA, "bad_stats", "output written as %s (%s), not as %s (%s) like the first report's",
                          from->out_format ? out_format_names[from->out_format] : "unknown",
                          compress_names[from->out_compress],
                          into->out_format ? out_format_names[into->out_format] : "unknown",
                          compress_names[into->out_compress]);
    }
    la_stats f = *from;
    if (plain_array(&f) && !f.split_n) {   /* the records' bytes alone; la_stats_merge_end adds one framing */
        uint64_t fr = array_framing(f.records_out);
        if (f.bytes_out < fr)
            return la_err_set(err, LA_EDATA, "bad_stats",
                              "bytes_out (%llu) is less than a JSON array of %llu records takes (%llu)",
                              (unsigned long long)f.bytes_out, (unsigned long long)f.records_out,
                              (unsigned long long)fr);
        f.bytes_out -= fr;
    }
    la_stats_merge(into, &f);
    return LA_OK;
}

void la_stats_merge_end(la_stats *into)
{
    /* the warnings that depend on a share, not on any shard's count */
    into->warnings &= ~(1u << LA_WARN_FULL_PREVIEWS | 1u << LA_WARN_ALREADY_EDITED);
    if (la_stats_many_full(into))
        into->warnings |= 1u << LA_WARN_FULL_PREVIEWS;
    if (la_stats_many_already(into))
        into->warnings |= 1u << LA_WARN_ALREADY_EDITED;
    if (plain_array(into) && !into->split_n)
        into->bytes_out += array_framing(into->records_out);
    into->split_n = 0;   /* the whole input's report, as one run writes it */
    into->shard_n = 0;
}

int la_reject_limit_parse(const char *s, la_reject_limit *l)
{
    memset(l, 0, sizeof *l);
    size_t n = strlen(s), digits = strspn(s, "0123456789");
    if (digits == 0 || digits > 19)
        return LA_EARG;
    if (n > 0 && s[n - 1] == '%') {
        /* P%: whole percent, then at most two decimals, 0 to 100 */
        uint64_t whole = 0, frac = 0;
        for (size_t i = 0; i < digits; i++)
            whole = whole * 10 + (uint64_t)(s[i] - '0');
        size_t i = digits, nd = 0;
        if (s[i] == '.') {
            i++;
            while (s[i] >= '0' && s[i] <= '9' && nd < 2) {
                frac = frac * 10 + (uint64_t)(s[i++] - '0');
                nd++;
            }
            if (nd == 0)
                return LA_EARG;
            if (nd == 1)
                frac *= 10;
        }
        if (i != n - 1 || whole > 100 || (whole == 100 && frac))
            return LA_EARG;
        l->percent = 1;
        l->per10k = (uint32_t)(whole * 100 + frac);
    } else {
        if (digits != n)
            return LA_EARG;
        uint64_t v = 0;
        for (size_t i = 0; i < digits; i++) {
            if (v > (UINT64_MAX - 9) / 10)
                return LA_EARG;
            v = v * 10 + (uint64_t)(s[i] - '0');
        }
        l->count = v;
    }
    l->set = 1;
    return LA_OK;
}

int la_reject_limit_exceeded(const la_reject_limit *l, uint64_t rejected, uint64_t in)
{
    if (!l->set)
        return 0;
    if (!l->percent)
        return rejected > l->count;
    /* rejected / in > per10k / 10000, without division or overflow */
    return (unsigned __int128)rejected * 10000u > (unsigned __int128)in * l->per10k;
}
