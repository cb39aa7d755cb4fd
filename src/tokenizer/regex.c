/*
 * regex.c - regular expressions on Oniguruma, configured as HuggingFace
 * tokenizers configures it (through the Rust `onig` crate): UTF-8
 * encoding, the library's default syntax (ONIG_SYNTAX_DEFAULT), no
 * compile or search options.
 *
 * Searching is always forward from a position with the whole string as
 * the end, so that look-aheads see the following text, and onig_search
 * stops at the leftmost match: the cost is that of reaching the match,
 * not of the rest of the string.
 */
#include "tokenizer/tk.h"
#include "tokenizer/tk_test.h"

#include <limits.h>
#include <oniguruma.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct tk_regex {
    regex_t *re;
    regex_t *counted;        /* the copy with a callout in every repeat (regex_bound.c) */
    int compiled;            /* re and counted made (read and set atomically: see ensure_compiled) */
    char *source;            /* the pattern, until compiled */
    size_t source_len;
    const tk_fast *fast;     /* regex_fast.c's matcher of a known pattern, or NULL */
    int fast_on;             /* 0: Oniguruma only (tests) */
    char name[48];           /* "regex /<the pattern's start>/", for messages */
};

/* Oniguruma's pattern compiler shares state between threads: onig_new
 * is serialised, as the Rust binding does. A synchronisation primitive,
 * not data. */
static pthread_mutex_t onig_new_lock = PTHREAD_MUTEX_INITIALIZER;

/* Compiles pattern[0..len) (with the Unicode classes spelled out:
 * regex_classes.c) into r->re and r->counted: LA_OK, or an error that
 * carries Oniguruma's own reason. */
static int compile(tk_regex *r, const char *pattern, size_t len, la_err *err)
{
    tk_onig_init();
    la_buf rw = {0};
    int dash = 0;
    int changed = tk_regex_rewrite_classes(pattern, len, &rw, &dash);
    if (changed < 0) {
        la_buf_free(&rw);
        return la_err_set(err, LA_ENOMEM, "tokenizer", "out of memory");
    }
    const OnigUChar *p = (const OnigUChar *)(changed ? rw.data : pattern);
    size_t plen = changed ? rw.len : len;
    OnigErrorInfo info;
    int rc = ONIG_NORMAL;
    if (dash) {
        /* A class next to '-' inside brackets ([\w-z], [a-\d]) is an
         * error to Oniguruma, which its spelled-out ranges would hide:
         * the pattern as written is compiled (the system library parses
         * as the reference's does) and those errors kept. */
        pthread_mutex_lock(&onig_new_lock);
        rc = onig_new(&r->re, (const OnigUChar *)pattern, (const OnigUChar *)pattern + len,
                      ONIG_OPTION_NONE, ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT, &info);
        pthread_mutex_unlock(&onig_new_lock);
        if (rc == ONIG_NORMAL)
            onig_free(r->re);
        else if (rc != ONIGERR_UNMATCHED_RANGE_SPECIFIER_IN_CHAR_CLASS &&
                 rc != ONIGERR_CHAR_CLASS_VALUE_AT_END_OF_RANGE)
            rc = ONIG_NORMAL;
    }
    if (rc == ONIG_NORMAL) {
        pthread_mutex_lock(&onig_new_lock);
        rc = onig_new(&r->re, p, p + plen, ONIG_OPTION_NONE, ONIG_ENCODING_UTF8,
                      ONIG_SYNTAX_DEFAULT, &info);
        pthread_mutex_unlock(&onig_new_lock);
    }
    if (rc != ONIG_NORMAL) {
        la_buf_free(&rw);
        OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
        onig_error_code_to_str(msg, rc, &info);
        r->re = NULL;
        return la_err_set(err, rc == ONIGERR_MEMORY ? LA_ENOMEM : LA_EDATA, "tokenizer",
                          "regex /%.*s/: %s", len > 80 ? 80 : (int)len, pattern, (char *)msg);
    }
    /* The copy whose searches the work budget can stop (regex_bound.c),
     * made from what Oniguruma compiled. */
    la_buf inst = {0};
    const char *why = NULL;
    size_t at = 0;
    int ok = tk_regex_instrument((const char *)p, plen, &inst, &why, &at);
    la_buf_free(&rw);
    if (ok == 1 && inst.len == plen) {
        /* the copy only ever adds callouts: nothing repeated, so it is
         * the pattern, already compiled */
        r->counted = r->re;
    } else if (ok == 1) {
        pthread_mutex_lock(&onig_new_lock);
        rc = onig_new(&r->counted, (OnigUChar *)inst.data, (OnigUChar *)inst.data + inst.len,
                      ONIG_OPTION_NONE, ONIG_ENCODING_UTF8, ONIG_SYNTAX_DEFAULT, &info);
        pthread_mutex_unlock(&onig_new_lock);
        if (rc != ONIG_NORMAL)
            r->counted = NULL, ok = rc == ONIGERR_MEMORY ? LA_ENOMEM : 0,
            why = "its counted copy does not compile";
    }
    la_buf_free(&inst);
    if (ok != 1) {
        onig_free(r->re);
        r->re = r->counted = NULL;
        if (ok < 0)
            return la_err_set(err, LA_ENOMEM, "tokenizer", "out of memory");
        return la_err_set(err, LA_EDATA, "tokenizer",
                          "regex /%.*s/: the time of its searches cannot be bounded (%s, near byte %zu "
                          "of the pattern as compiled); a tokenizer whose patterns avoid it is needed "
                          "(docs/tokenizer.md, Work budget)",
                          len > 80 ? 80 : (int)len, pattern, why, at);
    }
    return LA_OK;
}

/* Serialises the compiles of patterns put off (ensure_compiled). A
 * synchronisation primitive, not data. */
static pthread_mutex_t later_lock = PTHREAD_MUTEX_INITIALIZER;

/* Compiles re now if its compile was put off: LA_OK once it is (any
 * thread may ask first; one compiles, the others wait for it), else an
 * error (out of memory: the patterns put off are known ones, which
 * compile). */
static int ensure_compiled(const tk_regex *cre, la_err *err)
{
    tk_regex *re = (tk_regex *)cre;   /* made by tk_regex_new, not const */
    if (__atomic_load_n(&re->compiled, __ATOMIC_ACQUIRE))
        return LA_OK;
    pthread_mutex_lock(&later_lock);
    int rc = LA_OK;
    if (!__atomic_load_n(&re->compiled, __ATOMIC_RELAXED) &&
        (rc = compile(re, re->source, re->source_len, err)) == LA_OK) {
        free(re->source);
        re->source = NULL;
        __atomic_store_n(&re->compiled, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&later_lock);
    return rc;
}

/* A pattern that regex_fast.c matches by hand (a known one: it compiles
 * and its searches can be bounded) is compiled when Oniguruma is first
 * needed, if ever (a matcher declining, the fast path turned off): its
 * compile, with the Unicode classes spelled out, costs more than a
 * cached tokenizer's loading otherwise does. Any other one is compiled
 * now, so that its errors come with the tokenizer's. */
tk_regex *tk_regex_new(const char *pattern, size_t len, la_err *err)
{
    tk_regex *r = calloc(1, sizeof *r);
    if (!r) {
        la_err_set(err, LA_ENOMEM, "tokenizer", "out of memory");
        return NULL;
    }
    r->fast = tk_fast_for(pattern, len);
    if (r->fast) {
        if (!(r->source = malloc(len + 1))) {
            free(r);
            la_err_set(err, LA_ENOMEM, "tokenizer", "out of memory");
            return NULL;
        }
        memcpy(r->source, pattern, len);
        r->source[len] = 0;
        r->source_len = len;
    } else if (compile(r, pattern, len, err) != LA_OK) {
        free(r);
        return NULL;
    } else {
        r->compiled = 1;
    }
    r->fast_on = 1;
    size_t shown = len > 24 ? 24 : len;
    while (shown < len && shown > 0 && ((unsigned char)pattern[shown] & 0xC0) == 0x80)
        shown--;                 /* cut between characters */
    snprintf(r->name, sizeof r->name, "regex /%.*s%s/", (int)shown, pattern, shown < len ? "..." : "");
    return r;
}

void tk_regex_set_fast(tk_regex *re, int on)
{
    re->fast_on = on;
}

const char *tk_regex_fast_name(const tk_regex *re)
{
    return tk_fast_name(re->fast);
}

int tk_regex_compiled(const tk_regex *re)
{
    return __atomic_load_n(&re->compiled, __ATOMIC_ACQUIRE);
}

void tk_regex_forms(const tk_regex *re, void **plain, void **counted)
{
    la_err err = {{0}, {0}};
    ensure_compiled(re, &err);    /* NULL forms when it cannot be */
    *plain = re->re;
    *counted = re->counted;
}

void tk_regex_free(tk_regex *re)
{
    if (!re)
        return;
    if (re->re)
        onig_free(re->re);
    if (re->counted && re->counted != re->re)
        onig_free(re->counted);
    free(re->source);
    free(re);
}

/* This thread's search state, in the caller's work area, made on first
 * use and reused: the match region (Oniguruma only grows it) and the
 * match parameters that carry each search's limits. */
typedef struct {
    OnigRegion *region;
    OnigMatchParam *mp;
    tk_budget *budget;           /* of the running counted search */
    unsigned calls;              /* its callouts, for when to look at the clock */
    int stopped;                 /* 1: the callout stopped it */
} re_work;

void tk_regex_work_free(void *p)
{
    re_work *rw = p;
    if (!rw)
        return;
    if (rw->region)
        onig_region_free(rw->region, 1);
    if (rw->mp)
        onig_free_match_param(rw->mp);
    free(rw);
}

static int count_step(OnigCalloutArgs *args, void *user);

static re_work *work_state(la_tok_work *w)
{
    re_work *rw = w->regex;
    if (rw)
        return rw;
    if (!(rw = calloc(1, sizeof *rw)) || !(rw->region = onig_region_new()) ||
        !(rw->mp = onig_new_match_param())) {
        tk_regex_work_free(rw);
        return NULL;
    }
    onig_initialize_match_param(rw->mp);
    onig_set_progress_callout_of_match_param(rw->mp, count_step);
    onig_set_callout_user_data_of_match_param(rw->mp, rw);
    w->regex = rw;
    return rw;
}

/* ---- the work budget (tk.h) -------------------------------------------------- */

int tk_budget_error(la_err *err, const char *what)
{
    return la_err_set(err, LA_EDATA, "tokenizer_budget",
                      "the tokenizer's %s exceeded its work budget on this record; real models' "
                      "tokenizers stay far within it, so the tokenizer file is likely broken or hostile",
                      what);
}

void tk_budget_begin(la_tok_work *w, size_t len)
{
    tk_budget *b = &w->budget;
    b->armed = 1;
    b->grow_max = tk_grow_max(len);
    b->retries = len > (UINT64_MAX - TK_RETRY_BASE) / TK_RETRY_PER_BYTE
                     ? UINT64_MAX
                     : (uint64_t)len * TK_RETRY_PER_BYTE + TK_RETRY_BASE;
    b->time_ms = TK_TIME_BASE_MS + (uint64_t)(len >> 10) * TK_TIME_PER_MB_MS / 1024;
    b->deadline_ms = 0;
}

void tk_budget_end(la_tok_work *w)
{
    w->budget.armed = 0;
    w->budget.grow_max = 0;
}

/* A clock for the deadline that is cheap to read (a coarse one where
 * the system has it), in milliseconds. */
static uint64_t coarse_ms(void)
{
    struct timespec ts;
#ifdef CLOCK_MONOTONIC_COARSE
    if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
#endif
        clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The CPU time this thread has used, in nanoseconds (0 if unknown). */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* How long a call runs before its CPU time is looked at (most calls
 * end before: reading it is a system call). */
#define CPU_AFTER_MS 8

/* Milliseconds of the call's regex time left, 0 when it is spent.
 * Retries do not count work done without backtracking (a failed start
 * whose look-ahead reads to the end of the text), so time bounds that:
 * counted from the call's first search on the cheap clock, and once that
 * says the time is up, on the thread's CPU time, so that a busy or
 * suspended machine does not reject a record that did not use it. The
 * CPU time is first read CPU_AFTER_MS into the call, the time before
 * taken as all CPU. */
static uint64_t time_left(tk_budget *b)
{
    uint64_t now = coarse_ms();
    if (!b->deadline_ms) {
        b->deadline_ms = now + b->time_ms;
        b->wall0_ms = now;
        b->cpu0_ns = 0;
    }
    if (!b->cpu0_ns && now - b->wall0_ms >= CPU_AFTER_MS) {
        uint64_t before = (now - b->wall0_ms) * 1000000;
        uint64_t cpu = thread_cpu_ns();
        b->cpu0_ns = cpu > before ? cpu - before : 1;
    }
    if (now < b->deadline_ms)
        return b->deadline_ms - now;
    uint64_t used = b->cpu0_ns ? (thread_cpu_ns() - b->cpu0_ns) / 1000000 : b->time_ms;
    if (used >= b->time_ms)
        return 0;
    b->deadline_ms = now + (b->time_ms - used);
    return b->time_ms - used;
}

/* How many callouts of a counted search pass between looks at the
 * clock (a power of two). */
#define CALLS_PER_LOOK 1024

/* The callout of every repeat of a counted copy (regex_bound.c): stops
 * the search once the call's regex time is spent. */
static int count_step(OnigCalloutArgs *args, void *user)
{
    (void)args;
    re_work *rw = user;
    if (++rw->calls % CALLS_PER_LOOK || !rw->budget)
        return ONIG_CALLOUT_SUCCESS;
    if (time_left(rw->budget))
        return ONIG_CALLOUT_SUCCESS;
    rw->stopped = 1;
    return ONIG_ABORT;
}

/* The first limit of a search, and its growth from attempt to attempt. */
#define RETRY_FIRST 64
#define RETRY_GROWTH 8
/* The match stack of a search (what it may come back to), in entries
 * of 32 bytes: the patterns of real tokenizers keep about one per
 * character of a run they repeat over, while a look-ahead inside a
 * repetition can keep one per character for every character it takes,
 * quadratic memory with no retry to count. */
#define STACK_PER_BYTE 16
#define STACK_BASE ((uint64_t)1 << 20)
/* search()'s answer when the budget ran out (no Oniguruma code). */
#define RE_BUDGET (-100000)

/* The limit of a search's next attempt after one with `limit` that took
 * `took` ms, `left` ms being left: RETRY_GROWTH times more, or less when
 * the time left would not cover an attempt that much longer. */
static uint64_t next_limit(uint64_t limit, uint64_t took, uint64_t left)
{
    uint64_t growth = RETRY_GROWTH;
    if (took && took * RETRY_GROWTH > left)
        growth = left / took > 2 ? left / took : 2;
    return limit > UINT64_MAX / growth ? UINT64_MAX : limit * growth;
}

/* onig_search from `from` within the armed budget. Oniguruma does not
 * tell how many retries a search took, only whether it stayed within a
 * limit; so a search runs with a small limit, then again with larger
 * ones until it stays within one, and every limit tried is taken from
 * the budget: at least the work done, at most about RETRY_GROWTH times
 * it plus RETRY_FIRST. The time left is checked before each search and
 * each new attempt, and inside each one: the search runs on the counted
 * copy, whose callouts look at the clock. A single match never gets more
 * than Oniguruma's own limit (HuggingFace's has the same). Returns what
 * onig_search returns, or RE_BUDGET. */
static int search_budgeted(const tk_regex *re, const OnigUChar *str, size_t len, size_t from,
                           re_work *rw, tk_budget *b)
{
    unsigned long in_match = onig_get_retry_limit_in_match();
    uint64_t limit = RETRY_FIRST, left = time_left(b);
    uint64_t stack = (uint64_t)(len - from) * STACK_PER_BYTE + STACK_BASE;
    onig_set_match_stack_limit_size_of_match_param(rw->mp, stack < UINT_MAX ? (unsigned)stack : UINT_MAX);
    for (;;) {
        if (limit > b->retries)
            limit = b->retries;
        if (limit == 0 || left == 0)
            return RE_BUDGET;
        onig_set_retry_limit_in_search_of_match_param(rw->mp, (unsigned long)limit);
        onig_set_retry_limit_in_match_of_match_param(rw->mp, limit < in_match ? (unsigned long)limit : in_match);
        uint64_t t0 = coarse_ms();
        rw->budget = b;
        rw->stopped = 0;
        int r = onig_search_with_param(re->counted, str, str + len, str + from, str + len, rw->region,
                                       ONIG_OPTION_NONE, rw->mp);
        rw->budget = NULL;
        b->retries -= limit;
        if (rw->stopped)
            return RE_BUDGET;
        if (r == ONIGERR_MATCH_STACK_LIMIT_OVER)
            return RE_BUDGET;
        if (r != ONIGERR_RETRY_LIMIT_IN_SEARCH_OVER && r != ONIGERR_RETRY_LIMIT_IN_MATCH_OVER)
            return r;
        if (r == ONIGERR_RETRY_LIMIT_IN_MATCH_OVER && limit >= in_match)
            return RE_BUDGET;     /* one match past Oniguruma's own limit */
        uint64_t took = coarse_ms() - t0;
        if ((left = time_left(b)) == 0)
            return RE_BUDGET;
        limit = next_limit(limit, took, left);
    }
}

/* onig_search from `from`: within w's budget when a call armed it, else
 * with Oniguruma's own limits, as HuggingFace searches. */
static int search(const tk_regex *re, const OnigUChar *str, size_t len, size_t from, re_work *rw,
                  la_tok_work *w)
{
    if (w->budget.armed)
        return search_budgeted(re, str, len, from, rw, &w->budget);
    onig_set_match_stack_limit_size_of_match_param(rw->mp, onig_get_match_stack_limit_size());
    onig_set_retry_limit_in_search_of_match_param(rw->mp, onig_get_retry_limit_in_search());
    onig_set_retry_limit_in_match_of_match_param(rw->mp, onig_get_retry_limit_in_match());
    return onig_search_with_param(re->re, str, str + len, str + from, str + len, rw->region,
                                  ONIG_OPTION_NONE, rw->mp);
}

int tk_regex_next(const tk_regex *re, const char *s, size_t len, size_t from,
                  size_t *mstart, size_t *mend, la_tok_work *w, la_err *err)
{
    if (from > len)
        return 0;
    if (re->fast && re->fast_on) {
        int r = tk_fast_search(re->fast, s, len, from, mstart, mend);
        if (r >= 0)
            return r;
        /* declined: Oniguruma decides */
    }
    int crc = ensure_compiled(re, err);
    if (crc != LA_OK)
        return crc;
    re_work *rw = work_state(w);
    if (!rw)
        return la_err_set(err, LA_ENOMEM, "tokenizer", "out of memory");
    OnigRegion *region = rw->region;
    int r = search(re, (const OnigUChar *)s, len, from, rw, w);
    if (r == ONIG_MISMATCH)
        return 0;
    if (r == RE_BUDGET)
        return tk_budget_error(err, re->name);
    if (r < 0) {
        OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
        onig_error_code_to_str(msg, r);
        return la_err_set(err, r == ONIGERR_MEMORY ? LA_ENOMEM : LA_EDATA, "tokenizer",
                          "regex search failed: %s", (char *)msg);
    }
    *mstart = (size_t)region->beg[0];
    *mend = (size_t)region->end[0];
    return 1;
}

/* Length of the character at s[i] for stepping over it (1 at the end or
 * on a byte that does not start a valid sequence). */
static size_t step_len(const char *s, size_t len, size_t i)
{
    if (i >= len)
        return 1;
    size_t n = tk_utf8_len((const unsigned char *)s + i, len - i);
    return n ? n : 1;
}

/* The Rust binding's find_iter: after each match the search resumes at
 * its end; an empty match moves the resume point one character on, and
 * an empty match found right after a non-empty one is skipped (which can
 * hide a non-empty match starting at that same position - the reference
 * behaves so, and so do we). */
int tk_regex_iter_next(const tk_regex *re, const char *s, size_t len, tk_regex_iter *it,
                       size_t *mstart, size_t *mend, la_tok_work *w, la_err *err)
{
    for (;;) {
        if (it->last_end > len)
            return 0;
        size_t a, b;
        int r = tk_regex_next(re, s, len, it->last_end, &a, &b, w, err);
        if (r <= 0) {
            it->last_end = len + 1;
            return r;
        }
        it->last_end = b;
        if (a == b) {
            it->last_end += step_len(s, len, b);
            if (it->skip_next_empty) {
                it->skip_next_empty = 0;
                continue;
            }
        } else {
            it->skip_next_empty = 1;
        }
        *mstart = a;
        *mend = b;
        return 1;
    }
}

tk_regex *tk_regex_literal(const char *s, size_t len, la_err *err)
{
    /* every character Rust's regex::escape escapes, preceded by a
     * backslash (HuggingFace compiles String patterns that way) */
    static const char meta[] = "\\.+*?()|[]{}^$#&-~";
    la_buf esc = {0};
    int rc = la_buf_reserve(&esc, 2 * len + 1);
    for (size_t i = 0; rc == LA_OK && i < len; i++) {
        if (s[i] && strchr(meta, s[i]))
            rc = la_buf_putc(&esc, '\\');
        if (rc == LA_OK)
            rc = la_buf_putc(&esc, s[i]);
    }
    if (rc != LA_OK) {
        la_buf_free(&esc);
        la_err_set(err, LA_ENOMEM, "tokenizer", "out of memory");
        return NULL;
    }
    tk_regex *re = tk_regex_new(esc.data ? esc.data : "", esc.len, err);
    la_buf_free(&esc);
    return re;
}
