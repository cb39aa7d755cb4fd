/*
 * params.c - the top-level members of tokenizer.json that lookahead does
 * not use, checked as HuggingFace's serde structs read them, so that a
 * file HuggingFace refuses is refused here too: no member other than
 * those its Tokenizer knows (its visitor fails on any other key);
 * "truncation" (TruncationParams) and "padding" (PaddingParams) null or
 * of their struct's shape; "post_processor" null or one of the untagged
 * PostProcessorWrapper's variants; "added_tokens" an array of objects
 * with each of AddedTokenWithId's members once (its readers in added.c
 * then take them). Previews never truncate, pad or add special tokens,
 * so nothing of the others is kept.
 *
 * serde's rules, as the npm core applies them: a struct is an object
 * (unknown members ignored, a known one twice refused, a missing one
 * refused unless it has a default or is an Option) or an array of exactly
 * its fields in order; an integer field takes digits alone (no fraction,
 * exponent or sign) within its type; a unit enum variant is its name as a
 * string or as the only key of an object whose value is null; a newtype
 * variant is the only key of an object.
 */
#include "tokenizer/tk.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A value: its text (validated JSON) and length. */
typedef struct {
    const char *s;
    size_t n;
} val;

static val sub(const char *base, la_span sp) { return (val){ base + sp.start, sp.end - sp.start }; }

static int is_null(val v) { return v.n == 4 && memcmp(v.s, "null", 4) == 0; }
static int is_bool(val v) { return (v.n == 4 && memcmp(v.s, "true", 4) == 0) || (v.n == 5 && memcmp(v.s, "false", 5) == 0); }
static int is_str(val v) { return v.n >= 2 && v.s[0] == '"'; }

/* An integer literal of digits alone, at most max. */
static int is_uint(val v, uint64_t max)
{
    if (!v.n)
        return 0;
    uint64_t x = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (v.s[i] < '0' || v.s[i] > '9')
            return 0;
        unsigned d = (unsigned)(v.s[i] - '0');
        if (x > (max - d) / 10)
            return 0;
        x = x * 10 + d;
    }
    return 1;
}

static int is_u32(val v) { return is_uint(v, UINT32_MAX); }
static int is_usize(val v) { return is_uint(v, UINT64_MAX); }

/* The members of v when it is an object (m->n members; m->m freed by the
 * caller), else 0. */
static int members(val v, la_members *m)
{
    la_span top;
    la_err e = {{0}, {0}};
    memset(m, 0, sizeof *m);
    return v.n && v.s[0] == '{' && la_json_validate_top(v.s, v.n, &top, m, &e) == LA_OK;
}

/* The elements of v when it is an array: up to max spans in el, their
 * number in *count (counted past max); 0 when not an array. */
static int elements(val v, val *el, size_t max, size_t *count)
{
    if (!v.n || v.s[0] != '[')
        return 0;
    size_t it = 0, k = 0;
    la_span e;
    while (la_json_array_next(v.s, v.n, 0, &it, &e)) {
        if (k < max)
            el[k] = sub(v.s, e);
        k++;
    }
    *count = k;
    return 1;
}

/* Whether member key k (in base) is name, escapes decoded. */
static int key_is(const char *base, la_span k, const char *name)
{
    size_t len = strlen(name);
    if (!memchr(base + k.start, '\\', k.end - k.start))
        return k.end - k.start == len + 2 && memcmp(base + k.start + 1, name, len) == 0;
    la_buf b = {0};
    int same = la_json_unescape(base, k, &b, NULL) == LA_OK && b.len == len && memcmp(b.data ? b.data : "", name, len) == 0;
    la_buf_free(&b);
    return same;
}

/* Member name of the object v (members m): 1 with its value, 0 when
 * absent, -1 when given twice. */
static int field(val v, const la_members *m, const char *name, val *out)
{
    int found = 0;
    for (size_t i = 0; i < m->n; i++)
        if (key_is(v.s, m->m[i].key, name)) {
            if (found)
                return -1;
            found = 1;
            *out = sub(v.s, m->m[i].val);
        }
    return found;
}

/* A unit variant among names[0..k). */
static int unit_variant(val v, const char *const *names, size_t k)
{
    la_members m;
    int ok = 0;
    if (is_str(v)) {
        for (size_t i = 0; i < k; i++)
            ok |= key_is(v.s, (la_span){ 0, v.n }, names[i]);
        return ok;
    }
    if (members(v, &m) && m.n == 1 && is_null(sub(v.s, m.m[0].val)))
        for (size_t i = 0; i < k; i++)
            ok |= key_is(v.s, m.m[0].key, names[i]);
    free(m.m);
    return ok;
}

/* ---- structs -------------------------------------------------------------- */

enum { REQUIRED, OPTIONAL };      /* OPTIONAL: a default, or an Option (null too) */

typedef struct {
    const char *name;
    int presence;
    int (*ok)(val);
    const char *what;             /* for the message */
} field_rule;

/* Checks v as a struct of rules[0..k): LA_OK, else a message in err
 * (what: the member's name, for it). */
static int check_struct(val v, const field_rule *rules, size_t k, const char *what, la_err *err)
{
    la_members m;
    if (members(v, &m)) {
        int rc = LA_OK;
        for (size_t i = 0; rc == LA_OK && i < k; i++) {
            val f;
            int got = field(v, &m, rules[i].name, &f);
            if (got < 0)
                rc = la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: %s: \"%s\" given twice", what,
                                rules[i].name);
            else if (got == 0 && rules[i].presence == REQUIRED)
                rc = la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: %s: missing \"%s\"", what,
                                rules[i].name);
            else if (got && !rules[i].ok(f))
                rc = la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: %s: \"%s\" must be %s", what,
                                rules[i].name, rules[i].what);
        }
        free(m.m);
        return rc;
    }
    free(m.m);
    val el[8];
    size_t count;
    if (k <= 8 && elements(v, el, 8, &count)) {
        if (count != k)
            return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: %s: an array of %zu values, not %zu",
                              what, count, k);
        for (size_t i = 0; i < k; i++)
            if (!rules[i].ok(el[i]))
                return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: %s: \"%s\" must be %s", what,
                                  rules[i].name, rules[i].what);
        return LA_OK;
    }
    return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: %s: not an object", what);
}

/* check_struct as a yes or no. */
static int struct_ok(val v, const field_rule *rules, size_t k)
{
    la_err e = {{0}, {0}};
    return check_struct(v, rules, k, "", &e) == LA_OK;
}

#define N(a) (sizeof a / sizeof a[0])

/* ---- truncation and padding ------------------------------------------------- */

static const char *const directions[] = { "Left", "Right" };
static int direction_ok(val v) { return unit_variant(v, directions, 2); }

static int trunc_strategy_ok(val v)
{
    static const char *const s[] = { "LongestFirst", "OnlyFirst", "OnlySecond" };
    return unit_variant(v, s, 3);
}

static const field_rule truncation[] = {
    { "direction", OPTIONAL, direction_ok, "\"Left\" or \"Right\"" },
    { "max_length", REQUIRED, is_usize, "a non-negative integer" },
    { "strategy", REQUIRED, trunc_strategy_ok, "\"LongestFirst\", \"OnlyFirst\" or \"OnlySecond\"" },
    { "stride", REQUIRED, is_usize, "a non-negative integer" },
};

/* "BatchLongest", or {"Fixed": n}. */
static int pad_strategy_ok(val v)
{
    static const char *const batch[] = { "BatchLongest" };
    if (unit_variant(v, batch, 1))
        return 1;
    la_members m;
    int ok = members(v, &m) && m.n == 1 && key_is(v.s, m.m[0].key, "Fixed") && is_usize(sub(v.s, m.m[0].val));
    free(m.m);
    return ok;
}

static int usize_or_null(val v) { return is_null(v) || is_usize(v); }

static const field_rule padding[] = {
    { "strategy", REQUIRED, pad_strategy_ok, "\"BatchLongest\" or {\"Fixed\": n}" },
    { "direction", REQUIRED, direction_ok, "\"Left\" or \"Right\"" },
    { "pad_to_multiple_of", OPTIONAL, usize_or_null, "null or a non-negative integer" },
    { "pad_id", REQUIRED, is_u32, "an integer of 0 to 4294967295" },
    { "pad_type_id", REQUIRED, is_u32, "an integer of 0 to 4294967295" },
    { "pad_token", REQUIRED, is_str, "a string" },
};

/* ---- post-processors ------------------------------------------------------------ */

static int pp_ok(val v);

/* An array all of whose elements pass ok. */
static int all_of(val v, int (*ok)(val))
{
    size_t it = 0;
    la_span e;
    if (!v.n || v.s[0] != '[')
        return 0;
    while (la_json_array_next(v.s, v.n, 0, &it, &e))
        if (!ok(sub(v.s, e)))
            return 0;
    return 1;
}

/* (String, u32): an array of exactly those two. */
static int str_u32_ok(val v)
{
    val el[2];
    size_t count;
    return elements(v, el, 2, &count) && count == 2 && is_str(el[0]) && is_u32(el[1]);
}

static int u32s_ok(val v) { return all_of(v, is_u32); }
static int strs_ok(val v) { return all_of(v, is_str); }

static int seq_id_ok(val v)
{
    static const char *const ab[] = { "A", "B" };
    return unit_variant(v, ab, 2);
}

/* A template's piece: {"Sequence": {id: A|B, type_id}} or
 * {"SpecialToken": {id: string, type_id}}. */
static int piece_ok(val v)
{
    static const field_rule seq[] = { { "id", REQUIRED, seq_id_ok, "" }, { "type_id", REQUIRED, is_u32, "" } };
    static const field_rule special[] = { { "id", REQUIRED, is_str, "" }, { "type_id", REQUIRED, is_u32, "" } };
    la_members m;
    int ok = 0;
    if (members(v, &m) && m.n == 1) {
        val in = sub(v.s, m.m[0].val);
        ok = (key_is(v.s, m.m[0].key, "Sequence") && struct_ok(in, seq, N(seq))) ||
             (key_is(v.s, m.m[0].key, "SpecialToken") && struct_ok(in, special, N(special)));
    }
    free(m.m);
    return ok;
}

static int template_ok(val v) { return all_of(v, piece_ok); }

/* The special tokens: an object of {id, ids, tokens}. */
static int special_tokens_ok(val v)
{
    static const field_rule st[] = {
        { "id", REQUIRED, is_str, "" }, { "ids", REQUIRED, u32s_ok, "" }, { "tokens", REQUIRED, strs_ok, "" },
    };
    la_members m;
    int ok = members(v, &m);
    for (size_t i = 0; ok && i < m.n; i++)
        ok = struct_ok(sub(v.s, m.m[i].val), st, N(st));
    free(m.m);
    return ok;
}

static int bool_ok(val v) { return is_bool(v); }
static int processors_ok(val v) { return all_of(v, pp_ok); }

/* A "type" that names the struct (checked by ByteLevel and Sequence,
 * not by the derived Bert, Roberta and TemplateProcessing). */
static int typed(val v, const la_members *m, const char *name)
{
    val t;
    const char *names[] = { name };
    return field(v, m, "type", &t) == 1 && unit_variant(t, names, 1);
}

/* One of PostProcessorWrapper's variants, tried in its order (Roberta's
 * members are Bert's and more, so Bert stands for both). */
static int pp_ok(val v)
{
    static const field_rule bert[] = {
        { "sep", REQUIRED, str_u32_ok, "" }, { "cls", REQUIRED, str_u32_ok, "" },
    };
    static const field_rule byte_level[] = {
        { "add_prefix_space", REQUIRED, bool_ok, "" }, { "trim_offsets", REQUIRED, bool_ok, "" },
        { "use_regex", OPTIONAL, bool_ok, "" },
    };
    static const field_rule tmpl[] = {
        { "single", REQUIRED, template_ok, "" }, { "pair", REQUIRED, template_ok, "" },
        { "special_tokens", REQUIRED, special_tokens_ok, "" },
    };
    static const field_rule sequence[] = { { "processors", REQUIRED, processors_ok, "" } };
    la_members m;
    if (!members(v, &m)) {
        free(m.m);
        return 0;
    }
    int ok = struct_ok(v, bert, N(bert)) || (typed(v, &m, "ByteLevel") && struct_ok(v, byte_level, N(byte_level))) ||
             struct_ok(v, tmpl, N(tmpl)) || (typed(v, &m, "Sequence") && struct_ok(v, sequence, N(sequence)));
    free(m.m);
    return ok;
}

/* ---- added tokens ------------------------------------------------------------------ */

/* check_struct's yes for the usual object (thousands of added tokens in
 * some files): its members walked once, without allocating; 1 when it
 * holds each of rules[0..k) (k <= 32) once, each of its kind, and its
 * keys have no escape. 0 leaves the answer, and the message, to
 * check_struct. The text was validated: only its structure is read. */
static int plain_struct_ok(val t, const field_rule *rules, size_t k)
{
    uint32_t seen = 0;
    size_t i = la_json_ws(t.s, t.n, 1);
    while (i < t.n && t.s[i] == '"') {
        size_t ke = la_json_skip(t.s, t.n, i), kl = ke - i - 2;
        if (memchr(t.s + i + 1, '\\', kl))
            return 0;
        size_t vs = la_json_ws(t.s, t.n, la_json_ws(t.s, t.n, ke) + 1), ve = la_json_skip(t.s, t.n, vs);
        for (size_t r = 0; r < k; r++)
            if (strlen(rules[r].name) == kl && memcmp(rules[r].name, t.s + i + 1, kl) == 0) {
                if (seen >> r & 1 || !rules[r].ok((val){ t.s + vs, ve - vs }))
                    return 0;
                seen |= (uint32_t)1 << r;
                break;
            }
        i = la_json_ws(t.s, t.n, ve);
        if (i < t.n && t.s[i] == ',')
            i = la_json_ws(t.s, t.n, i + 1);
    }
    return seen == (k == 32 ? UINT32_MAX : ((uint32_t)1 << k) - 1);
}

/* AddedTokenWithId: an id, and the AddedToken flattened beside it (so an
 * object, never an array), every member required. */
static int check_added(val v, la_err *err)
{
    static const field_rule entry[] = {
        { "id", REQUIRED, is_u32, "an integer of 0 to 4294967295" }, { "content", REQUIRED, is_str, "a string" },
        { "single_word", REQUIRED, bool_ok, "true or false" }, { "lstrip", REQUIRED, bool_ok, "true or false" },
        { "rstrip", REQUIRED, bool_ok, "true or false" }, { "normalized", REQUIRED, bool_ok, "true or false" },
        { "special", REQUIRED, bool_ok, "true or false" },
    };
    size_t it = 0, i = 0;
    la_span e;
    if (!v.n || v.s[0] != '[')
        return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: added_tokens: not an array");
    for (; la_json_array_next(v.s, v.n, 0, &it, &e); i++) {
        val t = sub(v.s, e);
        if (t.s[0] == '{' && plain_struct_ok(t, entry, N(entry)))
            continue;
        char what[64];
        snprintf(what, sizeof what, "added_tokens: entry %zu", i);
        if (t.s[0] != '{')
            return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: %s: not an object", what);
        int rc = check_struct(t, entry, N(entry), what, err);
        if (rc != LA_OK)
            return rc;
    }
    return LA_OK;
}

/* ---- the members ------------------------------------------------------------------ */

int tk_params_check(const char *key, size_t klen, const char *s, size_t n, la_err *err)
{
    static const char *const known[] = { "version", "truncation", "padding", "added_tokens", "normalizer",
                                         "pre_tokenizer", "post_processor", "decoder", "model" };
    size_t i = 0;
    while (i < N(known) && (strlen(known[i]) != klen || memcmp(known[i], key, klen) != 0))
        i++;
    if (i == N(known))
        return la_err_set(err, LA_EDATA, "bad_tokenizer", "tokenizer: unknown member \"%.*s\" (HuggingFace refuses it)",
                          (int)(klen > 64 ? 64 : klen), key);
    val v = { s, n };
    if (i == 3)
        return check_added(v, err);
    if (is_null(v))
        return LA_OK;
    if (i == 1)
        return check_struct(v, truncation, N(truncation), "truncation", err);
    if (i == 2)
        return check_struct(v, padding, N(padding), "padding", err);
    if (i == 6 && !pp_ok(v))
        return la_err_set(err, LA_EDATA, "bad_tokenizer",
                          "tokenizer: post_processor: not a post-processor HuggingFace reads (RobertaProcessing, "
                          "BertProcessing, ByteLevel, TemplateProcessing or Sequence, with each of its members)");
    return LA_OK;
}
