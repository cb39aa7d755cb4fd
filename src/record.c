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

/* A replacement of one string value by prefix + its bytes + suffix;
 * prefix and suffix live in proc->add, escaped as la_json_escape does. */
typedef struct {
    la_span span;
    size_t pre_off, pre_len, suf_off, suf_len;
    int high;            /* the prefix or suffix may hold bytes above 0x7F */
} edit;

/* A field name or dot path. A component of digits indexes an array (a
 * leading minus counts from the end: -1 is the last element); in an
 * object every component is a key, so a key "0" still works. */
typedef struct {
    const char *whole;   /* the name as given */
    size_t whole_len;
    char *copy;          /* components, NUL-separated */
    size_t ncomp;
} path;

/* How one record is read: the names its layout gives, resolved once. */
typedef struct {
    path prompt, query, response, history;   /* alpaca; copy NULL: not in the layout */
    path list;                               /* chat: the messages; copy NULL: found by auto */
    const char *role, *content;              /* chat keys; NULL: by the messages' shape */
    const char *users[2], *assts[2];         /* the layout's tags */
} layout_spec;

struct la_proc {
    la_config cfg;
    la_unit *unit;
    path in_path, out_path;
    layout_spec lay;
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
    int conn_high, P_high;                 /* they hold bytes above 0x7F */
    uint64_t already;    /* this record's instructions that already ended with what is added */
    la_span *texts[2];   /* a message's text parts: [0] the user's, [1] the assistant's (chat_texts) */
    int count_already;   /* what is added holds more than the answer's own start (not real mode's
                          * preview behind an empty connector, which an instruction may end with) */
    size_t *starts;      /* scratch of turns' value starts (one_value) */
    size_t starts_cap;
    size_t texts_cap[2];
};

/* Grows *arr (of elements of size sz) to hold one more; 0 on success. */
static int grow(void **arr, size_t *cap, size_t n, size_t sz)
{
    return la_grow(arr, cap, n + 1, sz, 8);
}

/* Fills pt for name; a NULL name leaves it empty (not in the layout). */
static int path_init(path *pt, const char *name)
{
    memset(pt, 0, sizeof *pt);
    if (!name)
        return 0;
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

static void path_free(path *pt) { free(pt->copy); }

static int layout_init(la_proc *p)
{
    const la_layout *l = &p->cfg.layout;
    layout_spec *s = &p->lay;
    if (!l->given)
        return path_init(&s->prompt, "instruction") || path_init(&s->query, "input") ||
               path_init(&s->response, "output") || path_init(&s->history, "history");
    s->role = l->role_tag;
    s->content = l->content_tag;
    s->users[0] = l->user_tag;
    s->assts[0] = l->assistant_tag;
    return path_init(&s->prompt, l->prompt) || path_init(&s->query, l->query) ||
           path_init(&s->response, l->response) || path_init(&s->history, l->history) ||
           path_init(&s->list, l->messages);
}

la_proc *la_proc_new(const la_config *cfg, la_err *err)
{
    if (cfg->m < 1) {
        la_err_set(err, LA_EARG, "usage", "m must be at least 1");
        return NULL;
    }
    const la_layout *l = &cfg->layout;
    const char *bad = !l->given ? NULL
                      : cfg->format == LA_FMT_ALPACA ? (l->response ? NULL : "the layout has no response column")
                      : cfg->format != LA_FMT_SHAREGPT ? "a layout reads alpaca or sharegpt records"
                      : !l->messages ? "the layout has no messages column"
                      : !l->role_tag || !l->content_tag ? "the layout has no role_tag or content_tag"
                      : !l->user_tag || !l->assistant_tag ? "the layout has no user_tag or assistant_tag"
                      : NULL;
    if (bad) {
        la_err_set(err, LA_EARG, "usage", "%s", bad);
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
    p->count_already = cfg->mode == LA_MODE_VIRTUAL || p->connector_len > 0;
    p->conn_high = !la_json_all_ascii(cfg->connector, p->connector_len);
    p->P_high = !la_json_all_ascii(cfg->P, strlen(cfg->P));
    if (path_init(&p->in_path, cfg->input_field) || path_init(&p->out_path, cfg->output_field) ||
        layout_init(p)) {
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
    path *paths[] = {&p->in_path, &p->out_path, &p->lay.prompt, &p->lay.query, &p->lay.response,
                     &p->lay.history, &p->lay.list};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        path_free(paths[i]);
    free(p->turns);
    free(p->parts);
    free(p->texts[0]);
    free(p->texts[1]);
    free(p->starts);
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

/* The element of the array at r[arr] that index c names ("0", "-1"):
 * 1 found, 0 not (out of range, or c is no index). */
static int array_at(const char *r, size_t n, size_t arr, const char *c, la_span *val)
{
    int from_end = *c == '-';
    const char *d = c + from_end;
    if (!*d || strspn(d, "0123456789") != strlen(d) || strlen(d) > 18)
        return 0;
    unsigned long long want = strtoull(d, NULL, 10), count = 0;
    size_t it = 0;
    la_span e;
    if (from_end) {   /* counted from the end: the length first */
        if (want == 0)
            return 0;
        while (la_json_array_next(r, n, arr, &it, &e))
            count++;
        if (want > count)
            return 0;
        want = count - want;
        it = 0;
    }
    for (unsigned long long i = 0; la_json_array_next(r, n, arr, &it, &e); i++)
        if (i == want) {
            *val = e;
            return 1;
        }
    return 0;
}

/* Finds a field by name: the whole name first, then as a dot path
 * through nested objects and arrays. Returns 1 found, 0 missing. */
static int path_get(const la_proc *p, const char *r, size_t n, size_t obj, const path *pt, la_span *val)
{
    if (obj_get(p, r, n, obj, pt->whole, pt->whole_len, val))
        return 1;
    if (pt->ncomp == 1)
        return 0;
    const char *c = pt->copy;
    la_span cur = {obj, 0};
    for (size_t i = 0; i < pt->ncomp; i++) {
        size_t cl = strlen(c);
        if (r[cur.start] == '{') {
            if (!obj_get(p, r, n, cur.start, c, cl, &cur))
                return 0;
        } else if (r[cur.start] != '[' || !array_at(r, n, cur.start, c, &cur)) {
            return 0;
        }
        c += cl + 1;
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

/* Is s (a string value) one of the names in list (NULL-terminated)? */
static int string_in(la_proc *p, const char *r, la_span s, const char *const *list)
{
    for (; *list; list++)
        if (string_is(p, r, s, *list))
            return 1;
    return 0;
}

static int ascii_ieq(const char *a, size_t al, const char *b, size_t bl)
{
    if (al != bl)
        return 0;
    for (size_t i = 0; i < al; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if ((x >= 'A' && x <= 'Z' ? x + 32 : x) != (y >= 'A' && y <= 'Z' ? y + 32 : y))
            return 0;
    }
    return 1;
}

/* 1 when s[0..n) holds "name" (its first len bytes) as a key: the
 * quoted name, white space, then a colon (a hint's test, not a parse). */
static int has_key_in(const char *s, size_t n, const char *name, size_t len)
{
    for (const char *q = s; len > 0 && (q = memchr(q, '"', (size_t)(s + n - q))) != NULL; q++) {
        if ((size_t)(s + n - q) < len + 2 || memcmp(q + 1, name, len) != 0 || q[len + 1] != '"')
            continue;
        const char *c = q + len + 2;
        while (c < s + n && (*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r'))
            c++;
        if (c < s + n && *c == ':')
            return 1;
    }
    return 0;
}

/* A missing field: which layout looked for it, the record's top-level
 * keys, and a key that differs from the name (its first component, for
 * a path) only in case. */
static int missing_field(const la_proc *p, const char *r, const char *layout, const char *name, la_err *err)
{
    char keys[200], hint[160];
    size_t kl = 0, first = strcspn(name, ".");
    keys[0] = hint[0] = 0;
    for (size_t i = 0; i < p->top.n; i++) {
        la_span k = p->top.m[i].key;
        const char *kb = r + k.start + 1;
        size_t klen = k.end - k.start - 2;
        if (!hint[0] && ascii_ieq(kb, klen, name, first) && memcmp(kb, name, first) != 0)
            snprintf(hint, sizeof hint, "; did you mean \"%.*s%s\"?", (int)klen, kb, name + first);
        if (kl + klen + 8 >= sizeof keys) {
            snprintf(keys + kl, sizeof keys - kl, ", ...");
            kl = sizeof keys;
        }
        if (kl < sizeof keys)
            kl += (size_t)snprintf(keys + kl, sizeof keys - kl, "%s%.*s", kl ? ", " : "", (int)klen, kb);
    }
    /* a record that holds the records: one object with an array of
     * objects that have the field ({"data": [{"input": ...}, ...]} on
     * one line) */
    for (size_t i = 0; i < p->top.n && !hint[0]; i++) {
        la_span k = p->top.m[i].key, v = p->top.m[i].val;
        size_t at = v.start + 1;
        while (at < v.end && (r[at] == ' ' || r[at] == '\t' || r[at] == '\n' || r[at] == '\r'))
            at++;
        if (!has_key_in(r + v.start, v.end - v.start, name, first))
            continue;
        const char *kb = r + k.start + 1;
        int klen = (int)(k.end - k.start - 2), ident = klen > 0 && !(kb[0] >= '0' && kb[0] <= '9');
        for (int j = 0; j < klen; j++) {
            char c = (char)(kb[j] | 0x20);   /* letters in lower case */
            ident &= (c >= 'a' && c <= 'z') || (kb[j] >= '0' && kb[j] <= '9') || kb[j] == '_';
        }
        if (r[v.start] == '[' && at < v.end && r[at] == '{' && klen <= 40 && !memchr(kb, '\\', (size_t)klen) &&
            !memchr(kb, '\'', (size_t)klen))
            snprintf(hint, sizeof hint, "; are the records in its array \"%.*s\"? jq -c '.%s%.*s%s[]' FILE > FILE.jsonl",
                     klen, kb, ident ? "" : "[\"", klen, kb, ident ? "" : "\"]");
    }
    return la_err_set(err, LA_EDATA, "missing_field", "missing field \"%s\" (layout: %s; the record has: %s%s)",
                      name, layout, p->top.n ? keys : "no keys", hint);
}

/* A field that is missing or not a string. */
static int bad_field(const la_proc *p, const char *r, const char *layout, const char *name, la_span v,
                     la_err *err)
{
    if (v.end == 0)
        return missing_field(p, r, layout, name, err);
    return la_err_set(err, LA_EDATA, "not_string", "field \"%s\" is %s, not a string", name,
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
        return bad_field(p, r, "fields", p->in_path.whole, in, err);
    path_get(p, r, n, obj, &p->out_path, &out);
    if (out.end == 0 || r[out.start] != '"')
        return bad_field(p, r, "fields", p->out_path.whole, out, err);
    return add_turn(p, in, out, &out, 1);
}

/* Alpaca's history: [query, answer] pairs, each a turn, before the
 * record's own. Absent or null: none. */
static int alpaca_history(la_proc *p, const char *r, size_t n, size_t obj, la_err *err)
{
    const path *h = &p->lay.history;
    la_span list = {0, 0}, pair, q, a;
    if (!h->copy || !path_get(p, r, n, obj, h, &list) || r[list.start] == 'n')
        return LA_OK;
    if (r[list.start] != '[')
        return la_err_set(err, LA_EDATA, "bad_history", "\"%s\" is %s, not a list of [query, answer] pairs",
                          h->whole, la_json_type_name(la_json_type(r[list.start])));
    size_t it = 0;
    for (size_t i = 0; la_json_array_next(r, n, list.start, &it, &pair); i++) {
        size_t pit = 0;
        int ok = r[pair.start] == '[' && la_json_array_next(r, n, pair.start, &pit, &q) && r[q.start] == '"' &&
                 la_json_array_next(r, n, pair.start, &pit, &a) && r[a.start] == '"' &&
                 !la_json_array_next(r, n, pair.start, &pit, &pair);
        if (!ok)
            return la_err_set(err, LA_EDATA, "bad_history", "%s[%zu] is not a [query, answer] pair of strings",
                              h->whole, i);
        int rc = add_turn(p, q, a, &a, 1);
        if (rc)
            return rc;
    }
    return LA_OK;
}

/* Alpaca: the preview goes at the end of the query column when it is a
 * non-empty string, else at the end of the prompt column (LLaMA-Factory
 * joins them as prompt + "\n" + query, so either way it ends the user's
 * message); P goes in front of the response. */
static int adapt_alpaca(la_proc *p, const char *r, size_t n, size_t obj, la_err *err)
{
    const layout_spec *l = &p->lay;
    la_span ins = {0, 0}, inp = {0, 0}, out = {0, 0};
    int rc = alpaca_history(p, r, n, obj, err);
    if (rc)
        return rc;
    int has_input = l->query.copy && path_get(p, r, n, obj, &l->query, &inp);
    if (has_input && r[inp.start] != '"' && r[inp.start] != 'n')
        return bad_field(p, r, "alpaca", l->query.whole, inp, err);
    int input_text = has_input && r[inp.start] == '"' && inp.end - inp.start > 2;
    if (l->prompt.copy) {
        path_get(p, r, n, obj, &l->prompt, &ins);
        if (ins.end == 0 || r[ins.start] != '"')
            return bad_field(p, r, "alpaca", l->prompt.whole, ins, err);
    } else if (!has_input || r[inp.start] != '"') {
        return bad_field(p, r, "alpaca", l->query.copy ? l->query.whole : "(no prompt column)", inp, err);
    }
    path_get(p, r, n, obj, &l->response, &out);
    if (out.end == 0 || r[out.start] != '"')
        return bad_field(p, r, "alpaca", l->response.whole, out, err);
    return add_turn(p, input_text || !l->prompt.copy ? inp : ins, out, &out, 1);
}

/* The text-bearing strings of a chat message's content: the string
 * itself, or the "text" of each {"type": "text"} part, into
 * p->texts[side] (as many as there are). Sets *count to the number
 * found (0 for null content or no text parts). */
static int chat_texts(la_proc *p, const char *r, size_t n, la_span content, int side, size_t *count, la_err *err)
{
    *count = 0;
    if (content.end == 0 || r[content.start] == 'n')
        return LA_OK;
    if (r[content.start] == '"') {
        if (grow((void **)&p->texts[side], &p->texts_cap[side], 0, sizeof(la_span)))
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
        p->texts[side][(*count)++] = content;
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
        /* OpenAI's parts hold the text under "text", LLaMA-Factory's v1
         * files under "value" */
        if ((!la_json_object_get(r, n, part.start, "text", 4, &text) || r[text.start] != '"') &&
            (!la_json_object_get(r, n, part.start, "value", 5, &text) || r[text.start] != '"'))
            return la_err_set(err, LA_EDATA, "bad_chat", "a text part has no string \"text\" (nor \"value\")");
        if (grow((void **)&p->texts[side], &p->texts_cap[side], *count, sizeof(la_span)))
            return la_err_set(err, LA_ENOMEM, "out_of_memory", "out of memory");
        p->texts[side][(*count)++] = text;
    }
    return LA_OK;
}

/* How a list of chat messages is read: its name (for messages), the
 * array, the keys of role and content, and the roles that make a turn. */
typedef struct {
    const char *name;
    la_span list;
    const char *role, *content;
    const char *const *users, *const *assts;
    int tool_calls_not_answers;   /* LLaMA-Factory's openai formatting */
} chat_keys;

static const char *const msg_users[] = {"user", NULL};
static const char *const msg_assts[] = {"assistant", NULL};
static const char *const sg_users[] = {"human", "user", NULL};
static const char *const sg_assts[] = {"gpt", "assistant", NULL};

/* Keys by shape: role/content (OpenAI) or from/value (ShareGPT), as the
 * first message holding either key says; sharegpt_default otherwise
 * (an empty list, or no message with either key). */
static void keys_by_shape(const char *r, size_t n, chat_keys *k, int sharegpt_default)
{
    int sg = sharegpt_default;
    size_t it = 0;
    la_span msg, v;
    while (r[k->list.start] == '[' && la_json_array_next(r, n, k->list.start, &it, &msg)) {
        if (r[msg.start] != '{')
            continue;
        if (la_json_object_get(r, n, msg.start, "role", 4, &v)) {
            sg = 0;
            break;
        }
        if (la_json_object_get(r, n, msg.start, "from", 4, &v)) {
            sg = 1;
            break;
        }
    }
    k->role = sg ? "from" : "role";
    k->content = sg ? "value" : "content";
    k->users = sg ? sg_users : msg_users;
    k->assts = sg ? sg_assts : msg_assts;
}

/* One message of a chat list, checked: its role (a string) and content
 * (a string, an array of parts, null, or absent: end == 0). */
static int chat_message(const char *r, size_t n, const chat_keys *k, la_span msg, size_t idx, la_span *role,
                        la_span *content, la_err *err)
{
    if (r[msg.start] != '{')
        return la_err_set(err, LA_EDATA, "bad_chat", "%s[%zu] is %s, not an object", k->name, idx,
                          la_json_type_name(la_json_type(r[msg.start])));
    *role = *content = (la_span){0, 0};
    if (!la_json_object_get(r, n, msg.start, k->role, strlen(k->role), role) || r[role->start] != '"')
        return role->end ? la_err_set(err, LA_EDATA, "bad_chat", "%s[%zu].%s is %s, not a string", k->name, idx,
                                      k->role, la_json_type_name(la_json_type(r[role->start])))
                         : la_err_set(err, LA_EDATA, "bad_chat", "%s[%zu] has no \"%s\"", k->name, idx, k->role);
    la_json_object_get(r, n, msg.start, k->content, strlen(k->content), content);
    if (content->end && r[content->start] != '"' && r[content->start] != 'n' && r[content->start] != '[')
        return la_err_set(err, LA_EDATA, "bad_chat", "%s[%zu].%s is %s, not a string, array or null", k->name,
                          idx, k->content, la_json_type_name(la_json_type(r[content->start])));
    return LA_OK;
}

/* A chat list: a turn is a message with an assistant role right after
 * one with a user role; the preview goes at the end of the user's (last
 * text part), P at the start of the assistant's (first text part). */
static int adapt_chat(la_proc *p, const char *r, size_t n, const chat_keys *k, la_stats *st, la_err *err)
{
    if (r[k->list.start] != '[')
        return la_err_set(err, LA_EDATA, "bad_chat", "\"%s\" is %s, not an array", k->name,
                          la_json_type_name(la_json_type(r[k->list.start])));
    size_t it = 0;
    la_span msg;
    int prev_user = 0;
    la_span prev_content = {0, 0};
    for (size_t idx = 0; la_json_array_next(r, n, k->list.start, &it, &msg); idx++) {
        la_span role, content;
        int rc = chat_message(r, n, k, msg, idx, &role, &content, err);
        if (rc)
            return rc;
        int is_user = string_in(p, r, role, k->users), is_asst = string_in(p, r, role, k->assts);
        la_span calls;
        if (is_asst && k->tool_calls_not_answers &&
            la_json_object_get(r, n, msg.start, "tool_calls", 10, &calls) && r[calls.start] == '[' &&
            la_json_array_next(r, n, calls.start, &(size_t){0}, &calls))
            is_asst = 0;   /* LLaMA-Factory trains on the calls, as a function message */
        if (is_asst && prev_user) {
            size_t nu, na;
            rc = chat_texts(p, r, n, prev_content, 0, &nu, err);
            if (!rc)
                rc = chat_texts(p, r, n, content, 1, &na, err);
            if (rc)
                return rc;
            if (nu == 0 || na == 0)
                la_stats_count(st->skipped, &st->n_skipped_reasons, 8,
                               nu == 0 ? "no_user_text" : "no_assistant_text", 1);
            else if ((rc = add_turn(p, p->texts[0][nu - 1], p->texts[1][0], p->texts[1], na)))
                return rc;
        } else if (content.end && r[content.start] == '[') {
            size_t cnt;   /* validate parts of messages that are not in a turn too */
            if ((rc = chat_texts(p, r, n, content, 1, &cnt, err)))
                return rc;
        }
        prev_user = is_user;
        prev_content = content;
    }
    return LA_OK;
}

/* One side of a prompt-completion record: a string, or a list of
 * messages of which the last user one (prompt) or the first assistant
 * one (completion) is taken. Fills buf with its text strings. */
static int pc_side(la_proc *p, const char *r, size_t n, const char *name, la_span v, int completion, size_t *count,
                   la_err *err)
{
    *count = 0;
    if (r[v.start] == '"')
        return chat_texts(p, r, n, v, completion, count, err);
    if (r[v.start] != '[')
        return la_err_set(err, LA_EDATA, "not_string", "field \"%s\" is %s, not a string or a list of messages",
                          name, la_json_type_name(la_json_type(r[v.start])));
    chat_keys k = {name, v, NULL, NULL, NULL, NULL, 0};
    keys_by_shape(r, n, &k, 0);
    size_t it = 0;
    la_span msg, pick = {0, 0};
    for (size_t idx = 0; la_json_array_next(r, n, v.start, &it, &msg); idx++) {
        la_span role, content;
        int rc = chat_message(r, n, &k, msg, idx, &role, &content, err);
        if (rc)
            return rc;
        if (string_in(p, r, role, completion ? k.assts : k.users)) {
            pick = content;
            if (completion)
                break;
        }
    }
    return chat_texts(p, r, n, pick, completion, count, err);
}

/* TRL's prompt-completion: "prompt" with "completion" (or "response"). */
static int adapt_prompt_completion(la_proc *p, const char *r, size_t n, size_t obj, la_stats *st, la_err *err)
{
    la_span pr = {0, 0}, an = {0, 0};
    size_t nu, na;
    const char *aname = "completion";
    obj_get(p, r, n, obj, "prompt", 6, &pr);
    /* a null completion is a column the record does not use, as for
     * --format auto: the response is the answer then */
    la_span rs;
    if ((!obj_get(p, r, n, obj, "completion", 10, &an) || r[an.start] == 'n') &&
        obj_get(p, r, n, obj, "response", 8, &rs) && (r[rs.start] != 'n' || an.end == 0)) {
        an = rs;
        aname = "response";
    }
    if (pr.end == 0)
        return missing_field(p, r, "prompt_completion", "prompt", err);
    if (an.end == 0)
        return missing_field(p, r, "prompt_completion", "completion", err);
    int rc = pc_side(p, r, n, "prompt", pr, 0, &nu, err);
    if (!rc)
        rc = pc_side(p, r, n, aname, an, 1, &na, err);
    if (rc)
        return rc;
    if (nu == 0 || na == 0) {
        la_stats_count(st->skipped, &st->n_skipped_reasons, 8, nu == 0 ? "no_user_text" : "no_assistant_text", 1);
        return LA_OK;
    }
    return add_turn(p, p->texts[0][nu - 1], p->texts[1][0], p->texts[1], na);
}

/* The chat list of a record read by --format messages or sharegpt, or by
 * the layout options. Returns 1 found (k filled), 0 not. */
static int chat_of_layout(la_proc *p, const char *r, size_t n, size_t obj, int fmt, chat_keys *k)
{
    const layout_spec *l = &p->lay;
    if (p->cfg.layout.given) {
        k->name = l->list.whole;
        k->role = l->role;
        k->content = l->content;
        k->users = l->users;
        k->assts = l->assts;
        k->tool_calls_not_answers = p->cfg.layout.openai;
        return path_get(p, r, n, obj, &l->list, &k->list);
    }
    k->name = fmt == LA_FMT_MESSAGES ? "messages" : "conversations";
    if (!obj_get(p, r, n, obj, k->name, strlen(k->name), &k->list))
        return 0;
    k->role = fmt == LA_FMT_MESSAGES ? "role" : "from";
    k->content = fmt == LA_FMT_MESSAGES ? "content" : "value";
    k->users = fmt == LA_FMT_MESSAGES ? msg_users : sg_users;
    k->assts = fmt == LA_FMT_MESSAGES ? msg_assts : sg_assts;
    return 1;
}

/* The keys auto-detection looks at, in its order of precedence. */
enum { K_MESSAGES, K_CONVERSATIONS, K_CONVERSATION, K_INSTRUCTION, K_OUTPUT, K_PROMPT, K_COMPLETION, K_RESPONSE,
       K_COUNT };
static const struct {
    const char *name;
    size_t len;
} auto_keys[K_COUNT] = {{"messages", 8},     {"conversations", 13}, {"conversation", 12}, {"instruction", 11},
                        {"output", 6},       {"prompt", 6},         {"completion", 10},   {"response", 8}};

/* Which of auto_keys the record's top-level object has with a value
 * that is not null (bit K_*): a null is a column the record does not
 * use (a file written from a table with every layout's columns), and a
 * repeated key is decided by its last value, the one read. One pass over
 * the members, where a lookup of each name would pass over them once a
 * name. A key with an escape is decoded by lookups. */
static unsigned top_keys(la_proc *p, const char *r, size_t n, size_t obj)
{
    unsigned mask = 0;
    la_span v;
    for (size_t i = 0; i < p->top.n; i++) {
        la_span k = p->top.m[i].key;
        const char *kb = r + k.start + 1;
        size_t kl = k.end - k.start - 2;
        if (kl < 6)
            continue;
        if (memchr(kb, '\\', kl)) {
            mask = 0;
            for (int j = 0; j < K_COUNT; j++)
                if (obj_get(p, r, n, obj, auto_keys[j].name, auto_keys[j].len, &v) && r[v.start] != 'n')
                    mask |= 1u << j;
            return mask;
        }
        for (int j = 0; j < K_COUNT; j++)
            if (kl == auto_keys[j].len && memcmp(kb, auto_keys[j].name, kl) == 0)
                mask = r[p->top.m[i].val.start] == 'n' ? mask & ~(1u << j) : mask | 1u << j;
    }
    return mask;
}

/* Which format a record is in, for --format auto, by its shape: a list
 * under messages, conversations or conversation is chat (messages or
 * sharegpt by the keys its messages use; the key alone decides, unless
 * its value is null, so that a malformed chat record is reported as
 * such); instruction with output
 * alpaca; prompt with completion or response prompt_completion; anything
 * else fields. A chat list found is left in *k. */
static int detect_format(la_proc *p, const char *r, size_t n, size_t obj, chat_keys *k)
{
    if (p->cfg.fields_given)
        return LA_FMT_FIELDS;
    unsigned has = top_keys(p, r, n, obj);
    for (int i = K_MESSAGES; i <= K_CONVERSATION; i++)
        if (has & (1u << i)) {
            k->name = auto_keys[i].name;
            obj_get(p, r, n, obj, k->name, auto_keys[i].len, &k->list);
            keys_by_shape(r, n, k, i == K_CONVERSATIONS);
            return k->users == sg_users ? LA_FMT_SHAREGPT : LA_FMT_MESSAGES;
        }
    if ((has & (1u << K_INSTRUCTION)) && (has & (1u << K_OUTPUT)))
        return LA_FMT_ALPACA;
    if ((has & (1u << K_PROMPT)) && (has & ((1u << K_COMPLETION) | (1u << K_RESPONSE))))
        return LA_FMT_PROMPT_COMPLETION;
    return LA_FMT_FIELDS;
}

/* Reads the record's turns in its format; *fmt: the format found. */
static int adapt(la_proc *p, const char *r, size_t n, size_t obj, int *fmt, la_stats *st, la_err *err)
{
    chat_keys k = {NULL, {0, 0}, NULL, NULL, NULL, NULL, 0};
    int f = p->cfg.format;
    if (f == LA_FMT_AUTO)
        f = detect_format(p, r, n, obj, &k);
    else if ((f == LA_FMT_MESSAGES || f == LA_FMT_SHAREGPT) && !chat_of_layout(p, r, n, obj, f, &k))
        return missing_field(p, r, la_format_name(f), k.name, err);
    *fmt = f;
    switch (f) {
    case LA_FMT_ALPACA: return adapt_alpaca(p, r, n, obj, err);
    case LA_FMT_MESSAGES:
    case LA_FMT_SHAREGPT: return adapt_chat(p, r, n, &k, st, err);
    case LA_FMT_PROMPT_COMPLETION: return adapt_prompt_completion(p, r, n, obj, st, err);
    default: return adapt_fields(p, r, n, obj, err);
    }
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

/* Notes in e whether the preview added to p->add from `from` on holds
 * bytes above 0x7F. */
static void preview_high(la_proc *p, edit *e, size_t from)
{
    e->high |= !la_json_all_ascii(p->add.data + from, p->add.len - from);
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
        pe->high |= p->conn_high | p->P_high;
        ae->high |= p->P_high;
        return LA_OK;
    }
    /* the connector first: the preview follows it, by either path (only
     * p->add holds escaped text, so nothing comes between them) */
    if (add_escaped(p, &pe->suf_off, &pe->suf_len, &p->esc_conn))
        return LA_ENOMEM;
    pe->high |= p->conn_high;
    size_t from = p->add.len;   /* the preview, escaped, goes after it */
    int rc = raw_preview(p, r, t, pe, st, err);
    if (rc > 0)
        preview_high(p, pe, from);
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
    preview_high(p, pe, from);
    return LA_OK;
}

/* ---- splice: edits -> output --------------------------------------------- */

/* 1 when s[0..n) (valid JSON) is all ASCII and holds a \u escape. */
static int ascii_escaped(const char *s, size_t n)
{
    if (!la_json_all_ascii(s, n))
        return 0;
    for (const char *q = s, *end = s + n; (q = memchr(q, '\\', (size_t)(end - q))) != NULL; q += 2)
        if (q[1] == 'u')   /* a backslash in valid JSON is followed by its escape's letter */
            return 1;
    return 0;
}

/* Appends added text (in p->add, escaped as la_json_escape does) in the
 * style of the value it joins: as it is, or all ASCII. */
static int put_added(la_proc *p, size_t off, size_t len, int ascii, la_buf *out)
{
    if (ascii)
        return la_json_ascii_escape(p->add.data + off, len, out);
    return la_buf_append(out, p->add.data + off, len);
}

/* Writes one edited string value: prefix + the value's own bytes, as
 * they are + suffix. Nothing of the value is decoded; a lone surrogate
 * escape in it still makes the record bad, as decoding it would. The
 * added text follows the value's style: a pure ASCII value with \u
 * escapes (as Python's json.dumps writes) gets non-ASCII characters as
 * \u escapes, so that it stays pure ASCII; any other value gets them as
 * UTF-8. */
static int splice_value(la_proc *p, const char *r, la_span rec, int *rec_ascii, const edit *e, la_buf *out,
                        la_err *err)
{
    size_t from = e->span.start + 1, to = e->span.end - 1;
    int ascii = 0;
    if (may_have_u(p, e->span.start)) {
        int rc = la_json_escape_style(r, from, to, &ascii, err);
        if (rc)
            return rc;
    }
    /* non-ASCII text added to a record that is all ASCII with \u escapes
     * (json.dumps' default style: the answer's text, then, in escapes too)
     * is escaped, so that such a file stays ASCII, whatever the style of
     * the value it joins says alone (a short question has no escape) */
    if (!ascii && e->high) {
        if (*rec_ascii < 0)
            *rec_ascii = ascii_escaped(r + rec.start, rec.end - rec.start);
        ascii = *rec_ascii;
    }
    if (la_buf_putc(out, '"') || put_added(p, e->pre_off, e->pre_len, ascii, out))
        return LA_ENOMEM;
    size_t v0 = out->len;
    if (la_buf_append(out, r + from, to - from))
        return LA_ENOMEM;
    size_t v1 = out->len;
    if (put_added(p, e->suf_off, e->suf_len, ascii, out) || la_buf_putc(out, '"'))
        return LA_ENOMEM;
    /* an instruction that already ended with what is added to it, as
     * written (a run on a run's output adds it twice): compared in the
     * output, where both are in the value's style */
    size_t k = out->len - 1 - v1;
    p->already += p->count_already && k && v1 - v0 >= k && out->data[v1 - 1] == out->data[v1 + k - 1] &&
                  memcmp(out->data + v1 - k, out->data + v1, k) == 0;   /* the last bytes first: no call, mostly */
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
    int rec_ascii = -1;   /* whether the record is all ASCII with \u escapes, looked at once when needed */
    for (size_t i = 0; i < p->nedits; i++) {
        const edit *e = &p->edits[i];
        if (la_buf_append(out, r + at, e->span.start - at))
            return LA_ENOMEM;
        int rc = splice_value(p, r, v, &rec_ascii, e, out, err);
        if (rc)
            return rc;
        at = e->span.end;
    }
    return la_buf_append(out, r + at, v.end - at) ? LA_ENOMEM : LA_OK;
}

/* ---- the record ------------------------------------------------------------ */

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* Sorts s[0..n) unless it is in order already (a chat record's turns
 * come in record order). */
static void sort_starts(size_t *s, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (s[i] < s[i - 1]) {
            qsort(s, n, sizeof *s, cmp_size);
            return;
        }
}

/* Refuses turns t[0..n) where an answer is also an instruction (layout
 * names that reach one value: a first and a last element of a list of
 * one, a tag that is both the user's and the assistant's, a history path
 * that is the query): that value would be edited as an instruction.
 * LA_OK, LA_ENOMEM, or LA_EDATA with err set. */
static int one_value(la_proc *p, const turn *t, size_t n, la_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].prompt.start == t[i].answer.start)
            return la_err_set(err, LA_EDATA, "same_value",
                              "the instruction and the answer are the same value in this record (the names given "
                              "for them reach one string): it has no answer of its own to preview");
    if (n < 2)
        return LA_OK;
    if (la_grow((void **)&p->starts, &p->starts_cap, 2 * n, sizeof *p->starts, 64))
        return LA_ENOMEM;
    size_t *pr = p->starts, *an = p->starts + n;
    for (size_t i = 0; i < n; i++) {
        pr[i] = t[i].prompt.start;
        an[i] = t[i].answer.start;
    }
    sort_starts(pr, n);
    sort_starts(an, n);
    for (size_t i = 0, j = 0; i < n && j < n;) {
        if (pr[i] == an[j])
            return la_err_set(err, LA_EDATA, "same_value",
                              "one turn's answer is another turn's instruction in this record (the names given "
                              "for them reach one string): it would be edited as an instruction");
        if (pr[i] < an[j])
            i++;
        else
            j++;
    }
    return LA_OK;
}

/* A record r[0..n) whose value v is valid and whose top-level members
 * are in p->top. */
static int process_valid(la_proc *p, const char *r, size_t n, la_span v, la_buf *out, la_stats *st, la_err *err)
{
    int rc;
    p->top_start = v.start;
    if (r[v.start] != '{')
        return la_err_set(err, LA_EDATA, "not_object", "record is %s, not an object",
                          la_json_type_name(la_json_type(r[v.start])));
    p->nturns = p->nparts = p->nedits = 0;
    p->already = 0;
    p->edits_sorted = 1;
    la_buf_clear(&p->text);
    la_buf_clear(&p->add);
    /* this record's previews and skipped turns count only once it is
     * accepted; only those fields of `local` are set and folded (the
     * whole struct is large, and this runs for every record) */
    la_stats local;
    local.previews = local.preview_min = local.preview_max = local.preview_sum = 0;
    local.fully_previewed = local.extended = local.empty_answers = 0;
    local.n_skipped_reasons = 0;
    int fmt = LA_FMT_FIELDS;
    rc = adapt(p, r, n, v.start, &fmt, &local, err);
    if (rc)
        return rc == LA_ENOMEM ? la_err_set(err, rc, "out_of_memory", "out of memory") : rc;
    size_t first = 0, count = p->nturns;
    if (p->cfg.turns != LA_TURNS_ALL && count > 1) {
        la_stats_count(local.skipped, &local.n_skipped_reasons, 8, "turns_option", count - 1);
        first = p->cfg.turns == LA_TURNS_LAST ? count - 1 : 0;
        count = 1;
    }
    if (count && (rc = one_value(p, p->turns + first, count, err)))
        return rc == LA_ENOMEM ? la_err_set(err, rc, "out_of_memory", "out of memory") : rc;
    for (size_t i = first; i < first + count; i++)
        if ((rc = transform_turn(p, r, &p->turns[i], &local, err)))
            return rc == LA_ENOMEM ? la_err_set(err, rc, "out_of_memory", "out of memory") : rc;
    if ((rc = splice(p, r, v, out, err)))   /* the caller drops partial output */
        return rc == LA_ENOMEM ? la_err_set(err, rc, "out_of_memory", "out of memory") : rc;
    /* accepted: fold this record's counters in */
    st->format_records[fmt]++;
    st->turns_edited += count;
    st->already_edited += p->already;
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
        st->empty_answers += local.empty_answers;
    }
    return LA_OK;
}

static int process(la_proc *p, const char *r, size_t n, la_buf *out, la_stats *st, la_err *err)
{
    la_span v;
    int rc = la_json_validate_top(r, n, &v, &p->top, err);
    return rc ? rc : process_valid(p, r, n, v, out, st, err);
}

/* The record's outcome in st and out. */
static int finish(int rc, la_buf *out, size_t mark, la_stats *st, la_err *err)
{
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

int la_proc_record(la_proc *p, const char *rec, size_t len, la_buf *out, la_stats *st, la_err *err)
{
    st->records_in++;
    size_t mark = out->len;
    return finish(process(p, rec, len, out, st, err), out, mark, st, err);
}

int la_proc_line(la_proc *p, const char *rec, size_t avail, size_t *len, size_t *next, la_buf *out, la_stats *st,
                 la_err *err)
{
    la_span v;
    size_t nl;
    if (la_json_validate_line(rec, avail, &v, &p->top, &nl) != LA_OK)
        return LA_PROC_GENERAL;
    /* the record as the line splitter cuts it: without the '\r' of a CR LF */
    *len = nl > v.end && rec[nl - 1] == '\r' ? nl - 1 : nl;
    *next = nl < avail ? nl + 1 : avail;
    st->records_in++;
    size_t mark = out->len;
    return finish(process_valid(p, rec, *len, v, out, st, err), out, mark, st, err);
}
