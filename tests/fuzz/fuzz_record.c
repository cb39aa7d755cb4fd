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
 *  - a processor reused across records (warm scratch) gives the same
 *    bytes and status as a fresh one. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t a = data[0], b = data[1];
    const char *rec = (const char *)data + 2;
    size_t len = size - 2;

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
    if (rc == LA_OK) {
        FUZZ_CHECK(st.records_out == 1, "accepted but not counted");
        check_shape(rec, len, out.data + sizeof before - 1, out.len - (sizeof before - 1));
    } else {
        FUZZ_CHECK(out.len == sizeof before - 1, "rejected record left %zu bytes", out.len - (sizeof before - 1));
        FUZZ_CHECK(e.code[0] && e.msg[0], "rejection without a reason");
        FUZZ_CHECK(st.records_rejected == 1 && st.n_rejected_reasons == 1 &&
                       strcmp(st.rejected[0].code, e.code) == 0,
                   "rejection counted under another reason");
    }

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
