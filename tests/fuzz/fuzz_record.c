/* fuzz_record.c - record validation and splicing (la_proc_record).
 *
 * Input: two option bytes, then the record. The options pick the mode,
 * unit (word, char, or model tokens with a fixture tokenizer), format,
 * turns, m, the field names (plain, nested dot paths, odd paths) and the
 * prefix/connector texts. Checked on every input:
 *  - the status is LA_OK or LA_EDATA with a reason code and message;
 *  - a rejected record leaves the output buffer as it was;
 *  - records in = out + rejected;
 *  - an accepted record is appended as one valid JSON object (without
 *    the white space around the input's value) whose
 *    top-level keys are the input's, in order, and whose values are
 *    byte-identical except for edited strings and the containers
 *    holding them;
 *  - every edited value keeps its own bytes: the input's inside of it
 *    appears, in place, in the output's, and the text added around it
 *    is in the value's style (pure ASCII for a pure ASCII value with \u
 *    escapes, else UTF-8 escaped as la_json_escape does);
 *  - the output parses to the same value as the decoded-and-re-escaped
 *    computation: the same record with every string value decoded and
 *    re-escaped first gives the same status, and an output equal to
 *    this one once both have their string values re-escaped;
 *  - a processor reused across records (warm scratch) gives the same
 *    bytes and status as a fresh one;
 *  - the JSONL line way (la_proc_line, at every SIMD level) agrees with
 *    la_proc_record on the line cut the general way;
 *  - an object of plain integers read by la_json_int_object (a
 *    tokenizer's vocabulary, whose validation it stands for) is one the
 *    validator accepts, ending where the validator says, with as many
 *    members as the list reading of it keeps. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "json.h"

static const char *const in_fields[] = {"input", "question", "data.q", "a.b.c", "", "x..y", ".", "input.", "instruction"};
static const char *const out_fields[] = {"output", "answer", "data.a", "a.b.d", "", "x..z", "..", ".output", "output"};
#define NFIELDS (sizeof in_fields / sizeof *in_fields)

static const char *const texts[][2] = {
    {"Let's solve this problem. ", " The answer begins with: "},
    {"", ""},
    {"\"\\\x01\n\x7f", "\xe2\x80\xa8\xf0\x9f\x98\x80\t"},
    {"\xc3\xa9 ", " \xe6\x97\xa5: "},
};
#define NTEXTS (sizeof texts / sizeof *texts)

static la_tokenizer *toks[2];
static la_proc *warm[2 * 4 * 5 * 3 * NFIELDS];

static void load_tokenizers(void)
{
    static const char *const names[] = {"full_llama.json", "full_bytelevel.json"};
    for (int i = 0; i < 2; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", fuzz_fixture_dir(), names[i]);
        la_err e;
        toks[i] = la_tokenizer_load(path, &e);
        if (!toks[i]) {
            fprintf(stderr, "fuzz_record: %s: %s (set LA_FUZZ_FIXTURES)\n", path, e.msg);
            exit(1);
        }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    load_tokenizers();
    return 0;
}

/* Checks that out[mark..] is one JSON object with the same top-level
 * keys as rec, and unedited values byte for byte. */
static void check_shape(const char *rec, size_t len, const char *o, size_t olen)
{
    la_span v1, v2;
    la_members m1 = {0}, m2 = {0};
    la_err e;
    FUZZ_CHECK(la_json_validate_top(rec, len, &v1, &m1, &e) == LA_OK, "accepted input does not validate");
    int rc = la_json_validate_top(o, olen, &v2, &m2, &e);
    FUZZ_CHECK(rc == LA_OK, "output is not valid JSON: %s: %.*s", e.msg, (int)(olen < 400 ? olen : 400), o);
    FUZZ_CHECK(o[v2.start] == '{', "output is not an object");
    FUZZ_CHECK(m1.n == m2.n, "top-level members %zu in, %zu out", m1.n, m2.n);
    for (size_t i = 0; i < m1.n; i++) {
        size_t k1 = m1.m[i].key.end - m1.m[i].key.start, k2 = m2.m[i].key.end - m2.m[i].key.start;
        FUZZ_CHECK(k1 == k2 && memcmp(rec + m1.m[i].key.start, o + m2.m[i].key.start, k1) == 0,
                   "key %zu changed", i);
        size_t a = m1.m[i].val.end - m1.m[i].val.start, b = m2.m[i].val.end - m2.m[i].val.start;
        char c1 = rec[m1.m[i].val.start], c2 = o[m2.m[i].val.start];
        int same = a == b && memcmp(rec + m1.m[i].val.start, o + m2.m[i].val.start, a) == 0;
        FUZZ_CHECK(same || (c1 == c2 && (c1 == '"' || c1 == '{' || c1 == '[')),
                   "member %zu changed kind or a scalar changed", i);
    }
    /* the record is the value alone: white space around it is dropped */
    FUZZ_CHECK(v2.start == 0 && v2.end == olen, "output has bytes around the value");
    free(m1.m);
    free(m2.m);
}

/* Appends p[from..to) (valid JSON) with every string value that is not
 * a key decoded and re-escaped as la_json_escape writes it; a value with
 * a lone surrogate, which has no such form, is kept as it is. */
static void reescaped(const char *p, size_t from, size_t to, la_buf *out)
{
    size_t i = from, run = from;
    while (i < to) {
        if (p[i] != '"') {
            i++;
            continue;
        }
        size_t e = la_json_skip(p, to, i), k = la_json_ws(p, to, e);
        if (k < to && p[k] == ':') {   /* a key */
            i = e;
            continue;
        }
        la_buf_append(out, p + run, i + 1 - run);
        size_t mark = out->len;
        la_err err;
        if (la_json_reescape_body(p + i + 1, e - i - 2, out, &err) != LA_OK) {
            out->len = mark;
            la_buf_append(out, p + i + 1, e - i - 2);
        }
        run = e - 1;
        i = e;
    }
    la_buf_append(out, p + run, to - run);
}

/* Text added to an edited value, s[0..n): whole escapes, and in the
 * value's style. */
static int added_ok(const char *s, size_t n, int ascii)
{
    la_buf q = {0}, d = {0}, e = {0};
    la_err err;
    la_span v;
    la_buf_putc(&q, '"');
    la_buf_append(&q, s, n);
    la_buf_putc(&q, '"');
    int ok = la_json_validate(q.data, q.len, &v, &err) == LA_OK && la_json_unescape_body(s, n, &d, &err) == LA_OK;
    if (ok && ascii) {
        for (size_t i = 0; i < n; i++)
            ok &= (unsigned char)s[i] < 0x80;
    } else if (ok) {
        la_json_escape(d.data, d.len, &e);
        ok = e.len == n && (n == 0 || memcmp(e.data, s, n) == 0);
    }
    la_buf_free(&q);
    la_buf_free(&d);
    la_buf_free(&e);
    return ok;
}

/* An edited value: the inside of the input's, raw[0..rn), must appear in
 * the output's, val[0..vn), with added text in its style around it (all
 * ASCII, too, in a record that is all ASCII with \u escapes: rec_ascii). */
static void check_edited(const char *raw, size_t rn, const char *val, size_t vn, int rec_ascii)
{
    int ascii;
    la_err e;
    FUZZ_CHECK(la_json_escape_style(raw, 0, rn, &ascii, &e) == LA_OK, "an edited value with a lone surrogate kept");
    ascii |= rec_ascii;
    for (size_t k = 0; k + rn <= vn; k++)
        if ((rn == 0 || memcmp(val + k, raw, rn) == 0) && added_ok(val, k, ascii) &&
            added_ok(val + k + rn, vn - k - rn, ascii))
            return;
    FUZZ_CHECK(0, "an edited value's bytes are not in place (%s style): \"%.*s\" -> \"%.*s\"",
               ascii ? "ASCII" : "UTF-8", (int)(rn < 300 ? rn : 300), raw, (int)(vn < 300 ? vn : 300), val);
}

/* The input value rec[from..to) and the output o[0..olen) side by side:
 * every byte outside strings and every string but edited values is the
 * same; each edited value passes check_edited. */
static void check_in_place(const char *rec, size_t from, size_t to, const char *o, size_t olen)
{
    /* the record's style, as record.c reads it, written here apart: no
     * byte above 0x7F, and a backslash that starts a \u escape */
    int rec_ascii = 1, has_u = 0;
    for (size_t k = from; k < to; k++) {
        rec_ascii &= (unsigned char)rec[k] < 0x80;
        if (rec[k] == '\\' && k + 1 < to)
            has_u |= rec[++k] == 'u';
    }
    rec_ascii &= has_u;
    size_t i = from, j = 0;
    while (i < to) {
        FUZZ_CHECK(j < olen && (rec[i] == '"') == (o[j] == '"'), "output shorter or out of step at input byte %zu", i);
        if (rec[i] != '"') {
            FUZZ_CHECK(rec[i] == o[j], "input byte %zu changed", i);
            i++;
            j++;
            continue;
        }
        size_t ie = la_json_skip(rec, to, i), je = la_json_skip(o, olen, j);
        if (ie - i != je - j || memcmp(rec + i, o + j, ie - i) != 0)
            check_edited(rec + i + 1, ie - i - 2, o + j + 1, je - j - 2, rec_ascii);
        i = ie;
        j = je;
    }
    FUZZ_CHECK(j == olen, "output longer than the input's value");
}

/* The record with every string value decoded and re-escaped first goes
 * through cfg with the same status and, values re-escaped, the same
 * output (o[0..olen), when accepted). */
static void check_reescaped_record(const la_config *cfg, const char *rec, size_t len, int rc, const char *code,
                                   const char *o, size_t olen)
{
    la_span v;
    la_err e;
    if (la_json_validate(rec, len, &v, &e) != LA_OK)
        return;   /* nothing to re-escape */
    la_buf r2 = {0}, o2 = {0}, c1 = {0}, c2 = {0};
    reescaped(rec, 0, len, &r2);
    la_proc *p = la_proc_new(cfg, &e);
    FUZZ_CHECK(p != NULL, "la_proc_new: %s", e.msg);
    la_stats st = {0};
    la_err e2 = {{0}, {0}};
    int rc2 = la_proc_record(p, r2.data, r2.len, &o2, &st, &e2);
    FUZZ_CHECK(rc2 == rc, "re-escaped record: status %d, %d as given (%s / %s)", rc2, rc, e2.code, code);
    if (rc)
        FUZZ_CHECK(strcmp(e2.code, code) == 0, "re-escaped record rejected as %s, as given as %s", e2.code, code);
    else {
        reescaped(o, 0, olen, &c1);
        reescaped(o2.data, 0, o2.len, &c2);
        FUZZ_CHECK(c1.len == c2.len && memcmp(c1.data, c2.data, c1.len) == 0,
                   "output differs, parsed, from the re-escaped record's: %.*s | %.*s", (int)(c1.len < 400 ? c1.len : 400),
                   c1.data, (int)(c2.len < 400 ? c2.len : 400), c2.data);
    }
    la_proc_free(p);
    la_buf_free(&r2);
    la_buf_free(&o2);
    la_buf_free(&c1);
    la_buf_free(&c2);
}

/* The JSONL line way (la_proc_line) on the input as a line, at every
 * SIMD level, with hostile bytes past it: when it takes the line, the
 * same status, reason, output and statistics as la_proc_record on the
 * line cut the general way (plain C scanning); and it takes every line
 * that validates and has no carriage return. */
static void check_line_way(const la_config *cfg, const char *rec, size_t len)
{
    const char *nl = memchr(rec, '\n', len);
    size_t stop = nl ? (size_t)(nl - rec) : len, cut = stop > 0 && rec[stop - 1] == '\r' ? stop - 1 : stop;
    char *buf = malloc(len + 64);
    memcpy(buf, rec, len);
    for (size_t i = 0; i < 64; i++)
        buf[len + i] = "\"\\u\"}\n"[i % 6];
    la_err e;
    la_proc *ref = la_proc_new(cfg, &e);
    la_buf want = {0};
    la_stats ws = {0};
    la_err we = {{0}, {0}};
    la_json_set_simd(0);
    int wrc = la_proc_record(ref, rec, cut, &want, &ws, &we);
    la_span v;
    la_members top = {0};
    int plain = la_json_validate_top(rec, cut, &v, &top, &e) == LA_OK && !memchr(rec, '\r', cut);
    free(top.m);
    for (int level = 0; level <= 2; level++) {
        la_json_set_simd(level);
        la_proc *p = la_proc_new(cfg, &e);
        la_buf got = {0}, j1 = {0}, j2 = {0};
        la_stats gs = {0};
        la_err ge = {{0}, {0}};
        size_t l = 0, next = 0;
        int rc = la_proc_line(p, buf, len, &l, &next, &got, &gs, &ge);
        if (rc == LA_PROC_GENERAL) {
            FUZZ_CHECK(!plain, "level %d: a valid line without CR went the general way", level);
            FUZZ_CHECK(got.len == 0 && gs.records_in == 0, "the general way asked for after doing something");
        } else {
            FUZZ_CHECK(l == cut && next == (nl ? stop + 1 : len), "line cut at %zu/%zu, expected %zu", l, next, cut);
            FUZZ_CHECK(rc == wrc, "level %d: line way status %d, general %d", level, rc, wrc);
            if (rc)
                FUZZ_CHECK(strcmp(ge.code, we.code) == 0 && strcmp(ge.msg, we.msg) == 0, "line way reason %s, general %s",
                           ge.msg, we.msg);
            FUZZ_CHECK(got.len == want.len && (got.len == 0 || memcmp(got.data, want.data, got.len) == 0),
                       "level %d: line way output differs", level);
            la_stats_json(&gs, cfg, 0, &j1);
            la_stats_json(&ws, cfg, 0, &j2);
            FUZZ_CHECK(strcmp(j1.data, j2.data) == 0, "level %d: line way statistics differ", level);
        }
        la_proc_free(p);
        la_buf_free(&got);
        la_buf_free(&j1);
        la_buf_free(&j2);
    }
    la_json_set_simd(-1);
    la_proc_free(ref);
    la_buf_free(&want);
    free(buf);
}

/* la_json_int_object's verdict on rec[0..len) held to the validator's. */
static void int_object_validated(const char *rec, size_t len)
{
    size_t pos = la_json_ws(rec, len, 0), count = 0, listed = 0;
    if (pos >= len || rec[pos] != '{')
        return;
    size_t end = la_json_int_object(rec, len, pos, &count);
    la_int_members list = {0};
    FUZZ_CHECK(la_json_int_object_list(rec, len, pos, &listed, &list) == end, "int_object and its list differ");
    size_t kept = list.n;
    int failed = list.failed;
    free(list.m);
    if (!end)
        return;
    la_span v;
    FUZZ_CHECK(la_json_validate(rec + pos, end - pos, &v, NULL) == LA_OK && v.start == 0 && v.end == end - pos,
               "la_json_int_object took an object the validator refuses");
    FUZZ_CHECK(listed == count && (failed || kept == count), "members counted %zu, listed %zu, kept %zu", count,
               listed, kept);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t a = data[0], b = data[1];
    const char *rec = (const char *)data + 2;
    size_t len = size - 2;
    int_object_validated(rec, len);

    la_config cfg;
    la_config_defaults(&cfg);
    int mode = a & 1;
    int unit = (a >> 1) & 3;           /* 0 word, 1 char, 2 token llama, 3 token byte-level */
    int fmt = ((a >> 3) & 7) % 5;
    int turns = (a >> 6) % 3;
    size_t fi = (b & 15) % NFIELDS;
    cfg.mode = mode ? LA_MODE_VIRTUAL : LA_MODE_REAL;
    cfg.unit = unit == 0 ? LA_UNIT_WORD : unit == 1 ? LA_UNIT_CHAR : LA_UNIT_TOKEN;
    cfg.tokenizer = unit >= 2 ? toks[unit - 2] : NULL;
    cfg.format = fmt;
    cfg.turns = turns;
    cfg.input_field = in_fields[fi];
    cfg.output_field = out_fields[fi];
    cfg.fields_given = (b >> 4) & 1;
    cfg.partial_complete = !((b >> 5) & 1);
    cfg.P = texts[(b >> 6) % NTEXTS][0];
    cfg.connector = texts[(b >> 6) % NTEXTS][1];
    cfg.m = 1 + (size_t)((a ^ b) % 7) * (1 + (b >> 6));   /* 1..25 */

    la_err e;
    la_proc *fresh = la_proc_new(&cfg, &e);
    FUZZ_CHECK(fresh != NULL, "la_proc_new: %s", e.msg);

    /* one warm processor per option set (m and texts aside) */
    size_t wi = (((size_t)mode * 4 + (size_t)unit) * 5 + (size_t)fmt) * 3 + (size_t)turns;
    wi = wi * NFIELDS + fi;
    la_config wcfg = cfg;
    wcfg.P = texts[0][0];
    wcfg.connector = texts[0][1];
    wcfg.m = 6;
    wcfg.partial_complete = 1;
    wcfg.fields_given = 0;
    if (!warm[wi])
        warm[wi] = la_proc_new(&wcfg, &e);
    la_proc *w = warm[wi];
    FUZZ_CHECK(w != NULL, "la_proc_new (warm): %s", e.msg);

    /* the output buffer already holds a record: a rejection must keep it */
    static const char before[] = "{\"kept\":1}\n";
    la_buf out = {0}, out2 = {0};
    la_buf_append(&out, before, sizeof before - 1);
    la_stats st = {0};
    memset(&e, 0, sizeof e);
    int rc = la_proc_record(fresh, rec, len, &out, &st, &e);
    FUZZ_CHECK(rc == LA_OK || rc == LA_EDATA, "status %d (%s)", rc, e.msg);
    FUZZ_CHECK(st.records_in == 1 && st.records_out + st.records_rejected == 1, "counts");
    FUZZ_CHECK(memcmp(out.data, before, sizeof before - 1) == 0, "earlier output changed");
    const char *o = out.data + sizeof before - 1;
    size_t olen = out.len - (sizeof before - 1);
    if (rc == LA_OK) {
        FUZZ_CHECK(st.records_out == 1, "accepted but not counted");
        check_shape(rec, len, o, olen);
        la_span v;
        FUZZ_CHECK(la_json_validate(rec, len, &v, &e) == LA_OK, "accepted input does not validate");
        check_in_place(rec, v.start, v.end, o, olen);
    } else {
        FUZZ_CHECK(out.len == sizeof before - 1, "rejected record left %zu bytes", out.len - (sizeof before - 1));
        FUZZ_CHECK(e.code[0] && e.msg[0], "rejection without a reason");
        FUZZ_CHECK(st.records_rejected == 1 && st.n_rejected_reasons == 1 &&
                       strcmp(st.rejected[0].code, e.code) == 0,
                   "rejection counted under another reason");
    }
    check_reescaped_record(&cfg, rec, len, rc, e.code, o, olen);
    check_line_way(&cfg, rec, len);

    /* the warm processor, with the same configuration as fresh */
    la_proc_free(fresh);
    fresh = la_proc_new(&wcfg, &e);
    la_buf_clear(&out);
    la_stats st1 = {0}, st2 = {0};
    la_err e1 = {{0}, {0}}, e2 = {{0}, {0}};
    int r1 = la_proc_record(fresh, rec, len, &out, &st1, &e1);
    int r2 = la_proc_record(w, rec, len, &out2, &st2, &e2);
    FUZZ_CHECK(r1 == r2, "warm processor status %d, fresh %d", r2, r1);
    FUZZ_CHECK(out.len == out2.len && (out.len == 0 || memcmp(out.data, out2.data, out.len) == 0),
               "warm processor output differs");
    if (r1)
        FUZZ_CHECK(strcmp(e1.code, e2.code) == 0, "warm reason %s, fresh %s", e2.code, e1.code);
    la_proc_free(fresh);
    la_buf_free(&out);
    la_buf_free(&out2);
    return 0;
}
