/*
 * record.c - one record through validate -> format adapter -> turns ->
 * transform -> edits -> splice. The record is copied through with only
 * the edited string values replaced, so every other byte is kept.
 */
#include "lookahead.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "unit.h"

/* A turn: where the preview goes (the end of `prompt`), where P goes
 * (the start of `answer`), and the string values whose text, joined, is
 * the answer that real mode previews. */
typedef struct {
    la_span prompt;
    la_span answer;
    size_t parts_off, nparts;   /* into proc->parts */
} turn;

/* A replacement of one string value by prefix + its text + suffix;
 * prefix and suffix live in proc->add, escaped. */
typedef struct {
    la_span span;
    size_t pre_off, pre_len, suf_off, suf_len;
    int canonical;   /* the value's bytes are already in re-escaped form */
} edit;

/* A dot path into nested objects. */
typedef struct {
    const char *whole;   /* the name as given */
    size_t whole_len;
    char *copy;          /* components, NUL-separated */
    size_t ncomp;
} path;

struct la_proc {
    la_config cfg;
    la_unit *unit;
    path in_path, out_path;
    size_t P_len, connector_len;
    turn *turns;
    size_t nturns, turns_cap;
    la_span *parts;
    size_t nparts, parts_cap;
    edit *edits;
    size_t nedits, edits_cap;
    int edits_sorted;    /* edits[] in increasing span.start, none twice */
    la_members top;      /* the record's top-level members, from validation */
    size_t top_start;    /* where the top-level object starts */
    la_buf text;   /* decoded string values */
    la_buf add;    /* edit prefixes and suffixes, escaped */
    la_buf esc_conn, esc_P, esc_conn_P;   /* connector, P, connector + P, escaped once */
};

/* Grows *arr (of elements of size sz) to hold one more; 0 on success. */
static int grow(void **arr, size_t *cap, size_t n, size_t sz)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, nc * sz);
    if (!p)
        return -1;
    *arr = p;
    *cap = nc;
    return 0;
}

static int path_init(path *pt, const char *name)
{
    pt->whole = name;
    pt->whole_len = strlen(name);
    pt->copy = strdup(name);
    if (!pt->copy)
        return -1;
    pt->ncomp = 1;
    for (char *c = pt->copy; *c; c++)
        if (*c == '.') {
            *c = 0;
            pt->ncomp++;
        }
    return 0;
}

la_proc *la_proc_new(const la_config *cfg, la_err *err)
{
    if (cfg->m < 1) {
        la_err_set(err, LA_EARG, "usage", "m must be at least 1");
        return NULL;
    }
    la_proc *p = calloc(1, sizeof *p);
    if (!p) {
        la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
        return NULL;
    }
    p->cfg = *cfg;
    p->P_len = strlen(cfg->P);
    p->connector_len = strlen(cfg->connector);
    if (path_init(&p->in_path, cfg->input_field) || path_init(&p->out_path, cfg->output_field)) {
        la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
        la_proc_free(p);
        return NULL;
    }
    if (la_json_escape(cfg->connector, p->connector_len, &p->esc_conn) ||
        la_json_escape(cfg->P, p->P_len, &p->esc_P) ||
        la_json_escape(cfg->connector, p->connector_len, &p->esc_conn_P) ||
        la_json_escape(cfg->P, p->P_len, &p->esc_conn_P)) {
        la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
        la_proc_free(p);
        return NULL;
    }
    if (cfg->mode == LA_MODE_REAL) {
        p->unit = la_unit_new(cfg->unit, cfg->tokenizer, cfg->partial_complete, err);
        if (!p->unit) {
            la_proc_free(p);
            return NULL;
        }
    }
    return p;
}

void la_proc_free(la_proc *p)
{
    if (!p)
        return;
    if (p->unit)
        p->unit->free(p->unit);
    free(p->in_path.copy);
    free(p->out_path.copy);
    free(p->turns);
    free(p->parts);
    free(p->edits);
    free(p->top.m);
    la_buf_free(&p->text);
    la_buf_free(&p->add);
    la_buf_free(&p->esc_conn);
    la_buf_free(&p->esc_P);
    la_buf_free(&p->esc_conn_P);
    free(p);
}

/* ---- looking things up ------------------------------------------------ */

/* A member of the object at r[obj]: from the members gathered during
 * validation for the top-level object, by scanning for nested ones. */
static int obj_get(const la_proc *p, const char *r, size_t n, size_t obj, const char *key, size_t keylen,
                   la_span *val)
{
    if (obj == p->top_start)
        return la_json_members_get(&p->top, r, key, keylen, val);
    return la_json_object_get(r, n, obj, key, keylen, val);
}

/* Finds a field by name: the whole name first, then as a dot path
 * through nested objects. Returns 1 found, 0 missing. */
static int path_get(const la_proc *p, const char *r, size_t n, size_t obj, const path *pt, la_span *val)
{
    if (obj_get(p, r, n, obj, pt->whole, pt->whole_len, val))
        return 1;
    if (pt->ncomp == 1)
        return 0;
    const char *c = pt->copy;
    la_span cur = {obj, 0};
    for (size_t i = 0; i < pt->ncomp; i++) {
        if (r[cur.start] != '{' || !obj_get(p, r, n, cur.start, c, strlen(c), &cur))
            return 0;
        c += strlen(c) + 1;
    }
    *val = cur;
    return 1;
}

/* Does the string value at s equal lit? (decoding escapes if any) */
static int string_is(la_proc *p, const char *r, la_span s, const char *lit)
{
    size_t l = strlen(lit);
    if (la_json_string_is_plain(r, s))
        return s.end - s.start - 2 == l && memcmp(r + s.start + 1, lit, l) == 0;
    size_t mark = p->text.len;
    int eq = 0;
    if (la_json_unescape(r, s, &p->text, NULL) == LA_OK)
        eq = p->text.len - mark == l && memcmp(p->text.data + mark, lit, l) == 0;
    p->text.len = mark;
    return eq;
}

static int bad_field(la_err *err, const char *r, const char *what, const char *name, la_span v)
{
    if (v.end == 0)
        return la_err_set(err, LA_EDATA, "missing_field", "missing field \"%s\"", name);
    return la_err_set(err, LA_EDATA, "not_string", "%s \"%s\" is %s, not a string", what, name,
                      la_json_type_name(la_json_type(r[v.start])));
}

/* ---- format adapters: record -> turns ----------------------------------- */

static int add_turn(la_proc *p, la_span prompt, la_span answer, const la_span *parts, size_t nparts)
{
    if (grow((void **)&p->turns, &p->turns_cap, p->nturns, sizeof *p->turns))
        return LA_ENOMEM;
    turn *t = &p->turns[p->nturns++];
    t->prompt = prompt;
    t->answer = answer;
    t->parts_off = p->nparts;
    t->nparts = nparts;
    for (size_t i = 0; i < nparts; i++) {
        if (grow((void **)&p->parts, &p->parts_cap, p->nparts, sizeof *p->parts))
            return LA_ENOMEM;
        p->parts[p->nparts++] = parts[i];
    }
    return LA_OK;
}

static int adapt_fields(la_proc *p, const char *r, size_t n, size_t obj, la_err *err)
{
    la_span in = {0, 0}, out = {0, 0};
    path_get(p, r, n, obj, &p->in_path, &in);
    if (in.end == 0 || r[in.start] != '"')
        return bad_field(err, r, "field", p->in_path.whole, in);
    path_get(p, r, n, obj, &p->out_path, &out);
    if (out.end == 0 || r[out.start] != '"')
        return bad_field(err, r, "field", p->out_path.whole, out);
    return add_turn(p, in, out, &out, 1);
}

static int adapt_alpaca(la_proc *p, const char *r, size_t n, size_t obj, la_err *err)
{
    la_span ins = {0, 0}, inp = {0, 0}, out = {0, 0};
    obj_get(p, r, n, obj, "instruction", 11, &ins);
    if (ins.end == 0 || r[ins.start] != '"')
        return bad_field(err, r, "field", "instruction", ins);
    obj_get(p, r, n, obj, "output", 6, &out);
    if (out.end == 0 || r[out.start] != '"')
        return bad_field(err, r, "field", "output", out);
    int has_input = obj_get(p, r, n, obj, "input", 5, &inp);
    if (has_input && r[inp.start] != '"' && r[inp.start] != 'n')
        return bad_field(err, r, "field", "input", inp);
    int input_text = has_input && r[inp.start] == '"' && inp.end - inp.start > 2;
    return add_turn(p, input_text ? inp : ins, out, &out, 1);
}

/* The text-bearing strings of a chat message's content: the string
 * itself, or the "text" of each {"type": "text"} part. Returns the number
 * found (0 for null content or no text parts), negative on malformed
 * content. Spans go to *first.. in p->parts scratch order. */
typedef struct {
    la_span role;
    la_span content;   /* end == 0: absent */
} chat_msg;

static int chat_texts(la_proc *p, const char *r, size_t n, la_span content, la_span *buf,
                      size_t max, size_t *count, la_err *err)
{
    *count = 0;
    if (content.end == 0 || r[content.start] == 'n')
        return LA_OK;
    if (r[content.start] == '"') {
        buf[(*count)++] = content;
        return LA_OK;
    }
    if (r[content.start] != '[')
        return la_err_set(err, LA_EDATA, "bad_chat", "message content is %s, not a string, array or null",
                          la_json_type_name(la_json_type(r[content.start])));
    size_t it = 0;
    la_span part;
    while (la_json_array_next(r, n, content.start, &it, &part)) {
        if (r[part.start] != '{')
            return la_err_set(err, LA_EDATA, "bad_chat", "a content part is %s, not an object",
                              la_json_type_name(la_json_type(r[part.start])));
        la_span type, text;
        if (!la_json_object_get(r, n, part.start, "type", 4, &type) || r[type.start] != '"' ||
            !string_is(p, r, type, "text"))
            continue;
        if (!la_json_object_get(r, n, part.start, "text", 4, &text) || r[text.start] != '"')
            return la_err_set(err, LA_EDATA, "bad_chat", "a text part has no string \"text\"");
        if (*count == max)
            return la_err_set(err, LA_EDATA, "bad_chat", "more than %zu text parts in one message", max);
        buf[(*count)++] = text;
    }
    return LA_OK;
}

#define MAX_PARTS 256

/* Shared by messages and sharegpt: `list` is the array of messages,
 * role_key/content_key their field names, user/assistant the role
 * names that make a turn. */
static int adapt_chat(la_proc *p, const char *r, size_t n, size_t obj, const char *list_key,
                      const char *role_key, const char *content_key, const char *const *users,
                      const char *const *assistants, int parts_allowed, la_stats *st, la_err *err)
{
    la_span list;
    if (!obj_get(p, r, n, obj, list_key, strlen(list_key), &list))
        return la_err_set(err, LA_EDATA, "bad_chat", "missing field \"%s\"", list_key);
    if (r[list.start] != '[')
        return la_err_set(err, LA_EDATA, "bad_chat", "\"%s\" is %s, not an array", list_key,
                          la_json_type_name(la_json_type(r[list.start])));
    size_t it = 0;
    la_span msg;
    int prev_user = 0;
    la_span prev_content = {0, 0};
    la_span ubuf[MAX_PARTS], abuf[MAX_PARTS];
    size_t idx = 0;
    while (la_json_array_next(r, n, list.start, &it, &msg)) {
        idx++;
        if (r[msg.start] != '{')
            return la_err_set(err, LA_EDATA, "bad_chat", "%s[%zu] is %s, not an object", list_key, idx - 1,
                              la_json_type_name(la_json_type(r[msg.start])));
        la_span role = {0, 0}, content = {0, 0};
        if (!la_json_object_get(r, n, msg.start, role_key, strlen(role_key), &role) || r[role.start] != '"')
            return role.end ? la_err_set(err, LA_EDATA, "bad_chat", "%s[%zu].%s is %s, not a string", list_key,
                                         idx - 1, role_key, la_json_type_name(la_json_type(r[role.start])))
                            : la_err_set(err, LA_EDATA, "bad_chat", "%s[%zu] has no \"%s\"", list_key, idx - 1,
                                         role_key);
        la_json_object_get(r, n, msg.start, content_key, strlen(content_key), &content);
        if (content.end && r[content.start] != '"' && r[content.start] != 'n' &&
            !(parts_allowed && r[content.start] == '['))
            return la_err_set(err, LA_EDATA, "bad_chat", "%s[%zu].%s is %s, not a string%s", list_key, idx - 1,
                              content_key, la_json_type_name(la_json_type(r[content.start])),
                              parts_allowed ? ", array or null" : "");
        int is_user = 0, is_asst = 0;
        for (const char *const *u = users; *u; u++)
            is_user |= string_is(p, r, role, *u);
        for (const char *const *a = assistants; *a; a++)
            is_asst |= string_is(p, r, role, *a);
        if (is_asst && prev_user) {
            size_t nu, na;
            int rc = chat_texts(p, r, n, prev_content, ubuf, MAX_PARTS, &nu, err);
            if (!rc)
                rc = chat_texts(p, r, n, content, abuf, MAX_PARTS, &na, err);
            if (rc)
                return rc;
            if (nu == 0 || na == 0)
                la_stats_count(st->skipped, &st->n_skipped_reasons, 8,
                               nu == 0 ? "no_user_text" : "no_assistant_text", 1);
            else if ((rc = add_turn(p, ubuf[nu - 1], abuf[0], abuf, na)))
                return rc;
        } else if (content.end && r[content.start] == '[') {
            size_t k;   /* validate parts of messages that are not in a turn too */
            int rc = chat_texts(p, r, n, content, abuf, MAX_PARTS, &k, err);
            if (rc)
                return rc;
        }
        prev_user = is_user;
        prev_content = content;
    }
    return LA_OK;
}

static const char *const msg_users[] = {"user", NULL};
static const char *const msg_assts[] = {"assistant", NULL};
static const char *const sg_users[] = {"human", "user", NULL};
static const char *const sg_assts[] = {"gpt", "assistant", NULL};

/* Which format a record is in, for --format auto: a messages key means
 * messages, conversations sharegpt, instruction with output alpaca. */
static int detect_format(const la_proc *p, const char *r, size_t n, size_t obj)
{
    la_span v;
    if (p->cfg.fields_given)
        return LA_FMT_FIELDS;
    /* The key alone decides, so that a malformed chat record is reported
     * as such rather than as a record missing "input". */
    if (obj_get(p, r, n, obj, "messages", 8, &v))
        return LA_FMT_MESSAGES;
    if (obj_get(p, r, n, obj, "conversations", 13, &v))
        return LA_FMT_SHAREGPT;
    if (obj_get(p, r, n, obj, "instruction", 11, &v) && obj_get(p, r, n, obj, "output", 6, &v))
        return LA_FMT_ALPACA;
    return LA_FMT_FIELDS;
}

/* ---- transform: turns -> edits ------------------------------------------ */

/* The top-level member whose value starts at `start`, or NULL: a
 * binary search, since validation gathers members in record order (a
 * scan for each of a chat record's many nested values would cost the
 * number of edits times the number of top-level members). */
static const la_member *top_member(const la_proc *p, size_t start)
{
    size_t lo = 0, hi = p->top.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->top.m[mid].val.start < start)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < p->top.n && p->top.m[lo].val.start == start ? &p->top.m[lo] : NULL;
}

/* The edit of span s, created on first use, so that a value touched by
 * two turns is still replaced once. Turns come in record order, so
 * while the edits are in order a span after the last one is new without
 * a search: a chat record of N turns then costs N, not N^2. Otherwise
 * (only the two fields of a fields record can come out of order) the
 * span is looked for among all the edits. */
static edit *edit_for(la_proc *p, la_span s)
{
    size_t n = p->nedits;
    if (n && (!p->edits_sorted || s.start <= p->edits[n - 1].span.start)) {
        for (size_t i = n; i-- > 0;)
            if (p->edits[i].span.start == s.start)
                return &p->edits[i];
        p->edits_sorted = 0;
    }
    if (grow((void **)&p->edits, &p->edits_cap, p->nedits, sizeof *p->edits))
        return NULL;
    edit *e = &p->edits[p->nedits++];
    memset(e, 0, sizeof *e);
    e->span = s;
    const la_member *m = top_member(p, s.start);   /* top-level values: validation knows their form */
    if (m)
        e->canonical = m->canonical;
    return e;
}

/* Makes the text at *off (length *len) the tail of p->add, so that the
 * caller can extend it by appending: a value edited by two turns gets
 * both texts. Texts in p->add are already JSON-escaped. */
static int text_to_tail(la_proc *p, size_t *off, size_t *len)
{
    if (*len == 0)
        *off = p->add.len;
    else if (*off + *len != p->add.len) {   /* not the tail: move it there */
        size_t old = *off;
        if (la_buf_reserve(&p->add, *len))
            return LA_ENOMEM;
        *off = p->add.len;
        memmove(p->add.data + p->add.len, p->add.data + old, *len);
        p->add.len += *len;
    }
    return LA_OK;
}

/* Appends escaped bytes to the text at *off. */
static int add_escaped(la_proc *p, size_t *off, size_t *len, const la_buf *esc)
{
    if (text_to_tail(p, off, len) || la_buf_append(&p->add, esc->data, esc->len))
        return LA_ENOMEM;
    *len = p->add.len - *off;
    return LA_OK;
}

/* The answer text of a turn (its parts joined), decoded into p->text. */
static int answer_text(la_proc *p, const char *r, const turn *t, size_t *off, size_t *len, la_err *err)
{
    *off = p->text.len;
    for (size_t i = 0; i < t->nparts; i++) {
        int rc = la_json_unescape(r, p->parts[t->parts_off + i], &p->text, err);
        if (rc)
            return rc;
    }
    *len = p->text.len - *off;
    return LA_OK;
}

/* Whether a top-level string value at start may hold \u escapes (the
 * validation of top-level values tells; nested ones may). */
static int may_have_u(const la_proc *p, size_t start)
{
    const la_member *m = top_member(p, start);
    return m ? m->has_u : 1;
}

/* The answer text of a turn, or (*more = 1) only its start when it is
 * longer than what the unit needs first (a token preview of m = 6 needs
 * about 100 bytes: decoding kilobytes for it would cost more than the
 * preview itself); the rest is still checked for what decoding it would
 * reject. */
static int answer_start(la_proc *p, const char *r, const turn *t, size_t *off, size_t *len, int *more,
                        la_err *err)
{
    *more = 0;
    size_t start = p->unit->start ? p->unit->start(p->unit, p->cfg.m) : 0;
    if (t->nparts != 1 || start == 0)
        return answer_text(p, r, t, off, len, err);
    la_span s = p->parts[t->parts_off];
    size_t cut = la_json_cut(r, s.start + 1, s.end - 1, start);
    if (cut + 1 >= s.end)
        return answer_text(p, r, t, off, len, err);
    *off = p->text.len;
    int rc = la_json_unescape(r, (la_span){ s.start, cut + 1 }, &p->text, err);
    if (rc == LA_OK && may_have_u(p, s.start))
        rc = la_json_check_escapes(r, cut, s.end - 1, err);
    *len = p->text.len - *off;
    *more = 1;
    return rc;
}

/* The preview of a one-part answer taken from its JSON body as it is,
 * when the unit can (escapes where the preview looks make it decode the
 * answer instead): 1 when done, the preview added to the prompt's
 * suffix (after the connector); 0 when not; < 0 on error. A bad \u
 * escape anywhere in the answer still makes the record bad. */
static int raw_preview(la_proc *p, const char *r, const turn *t, edit *pe, la_stats *st, la_err *err)
{
    if (t->nparts != 1 || !p->unit->preview_raw)
        return 0;
    la_span s = p->parts[t->parts_off];
    int rc;
    if (may_have_u(p, s.start) && (rc = la_json_check_escapes(r, s.start + 1, s.end - 1, err)))
        return rc;
    la_preview_info info = {0, 0, 0};
    rc = p->unit->preview_raw(p->unit, r + s.start + 1, s.end - s.start - 2, p->cfg.m, &p->add, &info, err);
    if (rc <= 0)
        return rc;
    la_stats_preview(st, &info);
    pe->suf_len = p->add.len - pe->suf_off;
    return 1;
}

static int transform_turn(la_proc *p, const char *r, const turn *t, la_stats *st, la_err *err)
{
    edit *pe = edit_for(p, t->prompt);
    if (!pe)
        return LA_ENOMEM;
    const la_config *c = &p->cfg;
    if (c->mode == LA_MODE_VIRTUAL) {
        size_t pi = (size_t)(pe - p->edits);
        edit *ae = edit_for(p, t->answer);
        pe = &p->edits[pi];   /* edit_for may have moved the array */
        if (!ae || add_escaped(p, &pe->suf_off, &pe->suf_len, &p->esc_conn_P) ||
            add_escaped(p, &ae->pre_off, &ae->pre_len, &p->esc_P))
            return LA_ENOMEM;
        return LA_OK;
    }
    /* the connector first: the preview follows it, by either path (only
     * p->add holds escaped text, so nothing comes between them) */
    if (add_escaped(p, &pe->suf_off, &pe->suf_len, &p->esc_conn))
        return LA_ENOMEM;
    int rc = raw_preview(p, r, t, pe, st, err);
    if (rc)
        return rc < 0 ? rc : LA_OK;
    size_t off, len;
    int more;
    rc = answer_start(p, r, t, &off, &len, &more, err);
    if (rc)
        return rc;
    /* The preview goes to p->text after the answer; keep offsets, since
     * the buffer may move. */
    la_preview_info info = {0, 0, 0};
    for (;;) {
        if (la_buf_reserve(&p->text, len))   /* a word or char preview appends part of p->text to itself */
            return LA_ENOMEM;
        rc = p->unit->preview(p->unit, p->text.data + off, len, more, c->m, &p->text, &info, err);
        if (rc != LA_UNIT_MORE)
            break;
        p->text.len = off;                  /* the start was not enough: all of it */
        more = 0;
        if ((rc = answer_text(p, r, t, &off, &len, err)))
            return rc;
    }
    size_t pv = off + len;
    if (rc)
        return rc;
    la_stats_preview(st, &info);
    if (la_json_escape(p->text.data + pv, p->text.len - pv, &p->add))
        return LA_ENOMEM;
    pe->suf_len = p->add.len - pe->suf_off;
    return LA_OK;
}

/* ---- splice: edits -> output --------------------------------------------- */

/* Writes one edited string value: prefix + text + suffix, the text
 * re-escaped (a lone surrogate in it makes the record bad) unless
 * validation found it already canonical. */
static int splice_value(la_proc *p, const char *r, const edit *e, la_buf *out, la_err *err)
{
    int rc = la_buf_putc(out, '"') || la_buf_append(out, p->add.data + e->pre_off, e->pre_len);
    if (rc)
        return LA_ENOMEM;
    if (e->canonical)
        rc = la_buf_append(out, r + e->span.start + 1, e->span.end - e->span.start - 2);
    else if ((rc = la_json_reescape(r, e->span, out, err)))
        return rc;
    if (rc || la_buf_append(out, p->add.data + e->suf_off, e->suf_len) || la_buf_putc(out, '"'))
        return LA_ENOMEM;
    return LA_OK;
}

static int splice(la_proc *p, const char *r, la_span v, la_buf *out, la_err *err)
{
    /* insertion sort, when edit_for saw a span out of order: a handful of edits */
    for (size_t i = 1; !p->edits_sorted && i < p->nedits; i++)
        for (size_t j = i; j > 0 && p->edits[j].span.start < p->edits[j - 1].span.start; j--) {
            edit t = p->edits[j];
            p->edits[j] = p->edits[j - 1];
            p->edits[j - 1] = t;
        }
    size_t at = v.start;
    for (size_t i = 0; i < p->nedits; i++) {
        const edit *e = &p->edits[i];
        if (la_buf_append(out, r + at, e->span.start - at))
            return LA_ENOMEM;
        int rc = splice_value(p, r, e, out, err);
        if (rc)
            return rc;
        at = e->span.end;
    }
    return la_buf_append(out, r + at, v.end - at) ? LA_ENOMEM : LA_OK;
}

/* ---- the record ------------------------------------------------------------ */

static int process(la_proc *p, const char *r, size_t n, la_buf *out, la_stats *st, la_err *err)
{
    la_span v;
    int rc = la_json_validate_top(r, n, &v, &p->top, err);
    if (rc)
        return rc;
    p->top_start = v.start;
    if (r[v.start] != '{')
        return la_err_set(err, LA_EDATA, "not_object", "record is %s, not an object",
                          la_json_type_name(la_json_type(r[v.start])));
    p->nturns = p->nparts = p->nedits = 0;
    p->edits_sorted = 1;
    la_buf_clear(&p->text);
    la_buf_clear(&p->add);
    int fmt = p->cfg.format == LA_FMT_AUTO ? detect_format(p, r, n, v.start) : p->cfg.format;
    /* this record's previews and skipped turns count only once it is
     * accepted; only those fields of `local` are set and folded (the
     * whole struct is large, and this runs for every record) */
    la_stats local;
    local.previews = local.preview_min = local.preview_max = local.preview_sum = 0;
    local.fully_previewed = local.extended = 0;
    local.n_skipped_reasons = 0;
    switch (fmt) {
    case LA_FMT_ALPACA: rc = adapt_alpaca(p, r, n, v.start, err); break;
    case LA_FMT_MESSAGES:
        rc = adapt_chat(p, r, n, v.start, "messages", "role", "content", msg_users, msg_assts, 1, &local, err);
        break;
    case LA_FMT_SHAREGPT:
        rc = adapt_chat(p, r, n, v.start, "conversations", "from", "value", sg_users, sg_assts, 0, &local, err);
        break;
    default: rc = adapt_fields(p, r, n, v.start, err); break;
    }
    if (rc)
        return rc == LA_ENOMEM ? la_err_set(err, rc, "out_of_memory", "out of memory") : rc;
    size_t first = 0, count = p->nturns;
    if (p->cfg.turns != LA_TURNS_ALL && count > 1) {
        la_stats_count(local.skipped, &local.n_skipped_reasons, 8, "turns_option", count - 1);
        first = p->cfg.turns == LA_TURNS_LAST ? count - 1 : 0;
        count = 1;
    }
    for (size_t i = first; i < first + count; i++)
        if ((rc = transform_turn(p, r, &p->turns[i], &local, err)))
            return rc == LA_ENOMEM ? la_err_set(err, rc, "out_of_memory", "out of memory") : rc;
    if ((rc = splice(p, r, v, out, err)))   /* the caller drops partial output */
        return rc == LA_ENOMEM ? la_err_set(err, rc, "out_of_memory", "out of memory") : rc;
    /* accepted: fold this record's counters in */
    st->format_records[fmt]++;
    st->turns_edited += count;
    if (p->nturns == 0)
        st->records_without_turn++;
    for (size_t i = 0; i < local.n_skipped_reasons; i++)
        la_stats_count(st->skipped, &st->n_skipped_reasons, 8, local.skipped[i].code, local.skipped[i].count);
    if (local.previews) {
        if (st->previews == 0 || local.preview_min < st->preview_min)
            st->preview_min = local.preview_min;
        if (local.preview_max > st->preview_max)
            st->preview_max = local.preview_max;
        st->previews += local.previews;
        st->preview_sum += local.preview_sum;
        st->fully_previewed += local.fully_previewed;
        st->extended += local.extended;
    }
    return LA_OK;
}

int la_proc_record(la_proc *p, const char *rec, size_t len, la_buf *out, la_stats *st, la_err *err)
{
    st->records_in++;
    size_t mark = out->len;
    int rc = process(p, rec, len, out, st, err);
    if (rc) {
        out->len = mark;
        if (out->data)
            out->data[mark] = 0;
        la_stats_reject(st, err ? err->code : "error");
        return rc;
    }
    st->records_out++;
    return LA_OK;
}
