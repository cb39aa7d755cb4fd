/*
 * regex_classes.c - the Unicode classes regular expressions see, as the
 * reference sees them: its tables for the classes whose members changed
 * between Unicode versions (rewritten into every pattern), Oniguruma's
 * own for the rest. Data and lookups only, below regex.c (which rewrites
 * patterns with them) and regex_fast.c (which builds its class tables
 * from them).
 */
#include "tokenizer/tk.h"

#include <oniguruma.h>
#include <pthread.h>
#include <string.h>

/* ---- Unicode classes of the reference ------------------------------------
 * The reference's Oniguruma carries newer Unicode tables (16) than a
 * system library may (6.9.8 has 14), so the general categories whose
 * members changed, \w and \d, and the POSIX classes whose members
 * changed ([:punct:] is also defined otherwise: \p{P} and \p{S}), are
 * rewritten in every pattern into explicit ranges taken from the
 * reference (derived by testing every code point against it). Categories
 * that did not change are left to Oniguruma. Script properties
 * (\p{Han}...) are not rewritten. */
typedef struct {
    int32_t lo, hi;
} re_range;

/* written by tests/gen/tables.js (`make tables`) */
#include "tokenizer/tables_regex.h"

/* One piece of a class: a range table or a literal class item. */
typedef struct {
    const re_range *r;
    size_t n;
    const char *lit;
} class_part;

#define TAB(t) {t, sizeof t / sizeof t[0], NULL}
#define LIT(s) {NULL, 0, s}

/* The rewritten classes, as unions of parts. */
enum { C_L, C_LU, C_LL, C_LM, C_LO, C_M, C_MN, C_MC, C_N, C_ND, C_NO, C_P, C_PD, C_PO,
       C_S, C_SM, C_SO, C_WORD, C_ALNUM, C_ALPHA, C_GRAPH, C_LOWER, C_PRINT, C_PUNCT, C_UPPER,
       C_PWORD, C_COUNT };
static const class_part class_parts[C_COUNT][7] = {
    [C_L] = {TAB(gc_Lu), TAB(gc_Ll), LIT("\\p{Lt}"), TAB(gc_Lm), TAB(gc_Lo)},
    [C_LU] = {TAB(gc_Lu)},
    [C_LL] = {TAB(gc_Ll)},
    [C_LM] = {TAB(gc_Lm)},
    [C_LO] = {TAB(gc_Lo)},
    [C_M] = {TAB(gc_Mn), TAB(gc_Mc), LIT("\\p{Me}")},
    [C_MN] = {TAB(gc_Mn)},
    [C_MC] = {TAB(gc_Mc)},
    [C_N] = {TAB(gc_Nd), LIT("\\p{Nl}"), TAB(gc_No)},
    [C_ND] = {TAB(gc_Nd)},
    [C_NO] = {TAB(gc_No)},
    [C_P] = {LIT("\\p{Pc}"), TAB(gc_Pd), LIT("\\p{Ps}\\p{Pe}\\p{Pi}\\p{Pf}"), TAB(gc_Po)},
    [C_PD] = {TAB(gc_Pd)},
    [C_PO] = {TAB(gc_Po)},
    [C_S] = {TAB(gc_Sm), LIT("\\p{Sc}\\p{Sk}"), TAB(gc_So)},
    [C_SM] = {TAB(gc_Sm)},
    [C_SO] = {TAB(gc_So)},
    [C_WORD] = {TAB(gc_word)},
    [C_ALNUM] = {TAB(posix_alnum)},
    [C_ALPHA] = {TAB(posix_alpha)},
    [C_GRAPH] = {TAB(posix_graph)},
    [C_LOWER] = {TAB(posix_lower)},
    [C_PRINT] = {TAB(posix_print)},
    [C_PUNCT] = {TAB(posix_punct)},
    [C_UPPER] = {TAB(posix_upper)},
    [C_PWORD] = {TAB(posix_word)},
};

/* Property names (lower case, without spaces, '-' and '_', as
 * Oniguruma compares them) of the rewritten classes. */
static const struct {
    const char *name;
    int cls;
} class_names[] = {
    {"l", C_L},           {"letter", C_L},           {"lu", C_LU},
    {"uppercaseletter", C_LU}, {"ll", C_LL},         {"lowercaseletter", C_LL},
    {"lm", C_LM},         {"modifierletter", C_LM},  {"lo", C_LO},
    {"otherletter", C_LO}, {"m", C_M},               {"mark", C_M},
    {"combiningmark", C_M}, {"mn", C_MN},            {"nonspacingmark", C_MN},
    {"mc", C_MC},         {"spacingmark", C_MC},     {"n", C_N},
    {"number", C_N},      {"nd", C_ND},              {"decimalnumber", C_ND},
    {"no", C_NO},         {"othernumber", C_NO},     {"p", C_P},
    {"punctuation", C_P}, {"pd", C_PD},              {"dashpunctuation", C_PD},
    {"po", C_PO},         {"otherpunctuation", C_PO}, {"s", C_S},
    {"symbol", C_S},      {"sm", C_SM},              {"mathsymbol", C_SM},
    {"so", C_SO},         {"othersymbol", C_SO},
    /* the POSIX names as properties: the reference's \p{Punct} is \p{P}
     * and \p{Word} is \w, unlike [[:punct:]] and [[:word:]] (tables.js
     * checks these against it) */
    {"alnum", C_ALNUM},   {"alpha", C_ALPHA},        {"alphabetic", C_ALPHA},
    {"digit", C_ND},      {"graph", C_GRAPH},        {"lower", C_LOWER},
    {"lowercase", C_LOWER}, {"print", C_PRINT},      {"punct", C_P},
    {"upper", C_UPPER},   {"uppercase", C_UPPER},    {"word", C_WORD},
};

/* POSIX bracket names ([:name:] inside a bracket class) of the
 * rewritten classes; the others (ascii, blank, cntrl, space, xdigit)
 * have the same members in both libraries and are left to Oniguruma. */
static const struct {
    const char *name;
    int cls;
} posix_names[] = {
    {"alnum", C_ALNUM}, {"alpha", C_ALPHA}, {"digit", C_ND},    {"graph", C_GRAPH},
    {"lower", C_LOWER}, {"print", C_PRINT}, {"punct", C_PUNCT}, {"upper", C_UPPER},
    {"word", C_PWORD},
};

/* Class index of POSIX bracket name p[0..n) (exact, as Oniguruma
 * compares them), or -1. */
static int posix_lookup(const char *p, size_t n)
{
    for (size_t i = 0; i < sizeof posix_names / sizeof posix_names[0]; i++)
        if (strlen(posix_names[i].name) == n && memcmp(posix_names[i].name, p, n) == 0)
            return posix_names[i].cls;
    return -1;
}

/* Class index of property name p[0..n), or -1. */
static int class_lookup(const char *p, size_t n)
{
    char key[40];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == ' ' || c == '_' || c == '-')
            continue;
        if (k + 1 >= sizeof key)
            return -1;
        key[k++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    key[k] = 0;
    for (size_t i = 0; i < sizeof class_names / sizeof class_names[0]; i++)
        if (strcmp(class_names[i].name, key) == 0)
            return class_names[i].cls;
    return -1;
}

/* Writes class `cls` as bracket-class items, inside brackets of its own
 * unless it is a positive class already inside brackets. */
static int put_class(la_buf *o, int cls, int neg, int in_bracket)
{
    /* Inside brackets the reference's \w (and \p{Word}) is [[:word:]],
     * without the superscript digits and fractions of Latin-1 that \w
     * has outside them. */
    if (in_bracket && cls == C_WORD)
        cls = C_PWORD;
    int own = !in_bracket || neg;
    if (own && la_buf_append(o, neg ? "[^" : "[", neg ? 2 : 1) != LA_OK)
        return LA_ENOMEM;
    for (int k = 0; k < 7; k++) {
        const class_part *pt = &class_parts[cls][k];
        if (pt->lit && la_buf_append(o, pt->lit, strlen(pt->lit)) != LA_OK)
            return LA_ENOMEM;
        for (size_t i = 0; i < pt->n; i++) {
            int rc = pt->r[i].lo == pt->r[i].hi
                         ? la_buf_printf(o, "\\x{%X}", (unsigned)pt->r[i].lo)
                         : la_buf_printf(o, "\\x{%X}-\\x{%X}", (unsigned)pt->r[i].lo,
                                         (unsigned)pt->r[i].hi);
            if (rc != LA_OK)
                return LA_ENOMEM;
        }
    }
    if (own && la_buf_putc(o, ']') != LA_OK)
        return LA_ENOMEM;
    return LA_OK;
}

/* End (past the closing ']') of the bracket class opening at p[i], and
 * whether it uses the && intersection operator. Escapes, nested classes
 * and POSIX brackets are stepped over. */
static size_t bracket_end(const char *p, size_t len, size_t i, int *has_and)
{
    int depth = 0;
    *has_and = 0;
    while (i < len) {
        char c = p[i];
        if (c == '\\') {
            i += 2;
            continue;
        }
        if (c == '[' && depth > 0 && i + 1 < len && p[i + 1] == ':') {
            const char *close = NULL;
            for (size_t k = i + 2; k + 1 < len && !close; k++)
                if (p[k] == ':' && p[k + 1] == ']')
                    close = p + k + 2;
            if (close) {
                i = (size_t)(close - p);
                continue;
            }
        }
        if (c == '&' && i + 1 < len && p[i + 1] == '&')
            *has_and = 1;
        if (c == '[')
            depth++;
        else if (c == ']' && --depth == 0)
            return i + 1;
        i++;
    }
    return len;
}

/* Whether pattern p[0..len) may turn case-insensitive matching on: an
 * option group or setting naming 'i' ("(?i)", "(?i:", "(?m-i)"...).
 * Read loosely (an escaped "(?i" counts too): it only decides whether
 * the classes spelled out outside brackets are shielded from case
 * folding, which is right either way. */
static int may_ignore_case(const char *p, size_t len)
{
    for (size_t i = 0; i + 2 < len; i++) {
        if (p[i] != '(' || p[i + 1] != '?')
            continue;
        for (size_t k = i + 2; k < len; k++) {
            char c = p[k];
            if (c == 'i')
                return 1;
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'))
                break;
        }
    }
    return 0;
}

/* Writes the word boundary \b (or \B when neg) as look-arounds over the
 * reference's \w: Oniguruma's own \b would ask the system's word table.
 * A character before or after the position that is a word character on
 * one side only makes a boundary; the start and end of the text count
 * as non-word. `shield` writes it inside (?-i:...), as the reference's
 * \b never folds case. */
static int put_boundary(la_buf *o, int neg, int shield)
{
    static const char *const parts[2][4] = {
        {"(?<=", ")(?!", ")|(?<!", ")(?="},      /* \b: w|W or W|w */
        {"(?<=", ")(?=", ")|(?<!", ")(?!"},      /* \B: w|w or W|W */
    };
    if (la_buf_append(o, shield ? "(?-i:" : "(?:", shield ? 5 : 3) != LA_OK)
        return LA_ENOMEM;
    for (int k = 0; k < 4; k++)
        if (la_buf_append(o, parts[neg][k], strlen(parts[neg][k])) != LA_OK ||
            put_class(o, C_WORD, 0, 0) != LA_OK)
            return LA_ENOMEM;
    return la_buf_append(o, "))", 2) == LA_OK ? LA_OK : LA_ENOMEM;
}

/* Whether p[i..len) starts a quantifier (which Oniguruma refuses after
 * an anchor such as \b: left as written, it refuses it the same way). */
static int quantifier_at(const char *p, size_t len, size_t i)
{
    if (i >= len)
        return 0;
    if (p[i] == '*' || p[i] == '+' || p[i] == '?')
        return 1;
    return p[i] == '{' && i + 1 < len && ((p[i + 1] >= '0' && p[i + 1] <= '9') || p[i + 1] == ',');
}

/* Copies pattern p[0..len) to o with the classes above spelled out.
 * Outside brackets a class is written as a bracket class of its own,
 * which Oniguruma would fold under (?i) where the reference's \p{..},
 * \w, \d and the rest never do: when the pattern may turn (?i) on, it
 * goes inside (?-i:...). Inside brackets the reference folds them as
 * Oniguruma folds the ranges. \b and \B become look-arounds over \w.
 * A bracket class using && is copied as it is: the reference's
 * Oniguruma evaluates \w and friends inside intersections with its own
 * (different) rules, which the system library shares.
 * *dash is set when a class spelled out inside brackets has a '-' right
 * before or after it: written as ranges it would make or end a range
 * where the class itself is an error to Oniguruma, so the caller checks
 * the pattern as written (regex.c).
 * Returns 1 when something was rewritten, 0 when not, LA_ENOMEM. */
int tk_regex_rewrite_classes(const char *p, size_t len, la_buf *o, int *dash)
{
    int changed = 0, depth = 0;
    int shield = may_ignore_case(p, len);
    /* the groups open outside brackets: a bit each for the outer 64
     * (set: a look-behind), the innermost lowest; deeper, \b is left as
     * written */
    uint64_t behind = 0;
    size_t groups = 0;
    *dash = 0;
    for (size_t i = 0; i < len;) {
        char c = p[i];
        if (c == '\\' && i + 1 < len) {
            char nx = p[i + 1];
            int cls = -1, neg = 0;
            size_t end = i + 2;
            if ((nx == 'p' || nx == 'P') && i + 2 < len && p[i + 2] == '{') {
                const char *close = memchr(p + i + 3, '}', len - i - 3);
                if (close) {
                    const char *name = p + i + 3;
                    neg = nx == 'P';
                    if (*name == '^')
                        neg = !neg, name++;
                    cls = class_lookup(name, (size_t)(close - name));
                    end = (size_t)(close - p) + 1;
                }
            } else if (nx == 'd' || nx == 'D') {
                cls = C_ND, neg = nx == 'D';
            } else if (nx == 'w' || nx == 'W') {
                cls = C_WORD, neg = nx == 'W';
            } else if ((nx == 'b' || nx == 'B') && depth == 0 && !quantifier_at(p, len, end) &&
                       !behind && groups <= 64) {
                /* Oniguruma takes no look-ahead inside a look-behind: there
                 * \b keeps the system's word table */
                if (put_boundary(o, nx == 'B', shield) != LA_OK)
                    return LA_ENOMEM;
                changed = 1;
                i = end;
                continue;
            }
            if (cls >= 0) {
                int guard = shield && depth == 0;
                if (depth > 0 && ((i > 0 && p[i - 1] == '-') || (end < len && p[end] == '-')))
                    *dash = 1;
                if ((guard && la_buf_append(o, "(?-i:", 5) != LA_OK) ||
                    put_class(o, cls, neg, depth > 0) != LA_OK ||
                    (guard && la_buf_putc(o, ')') != LA_OK))
                    return LA_ENOMEM;
                changed = 1;
                i = end;
                continue;
            }
            size_t n = tk_utf8_len((const unsigned char *)p + i + 1, len - i - 1);
            n = 1 + (n ? n : 1);
            if (la_buf_append(o, p + i, n) != LA_OK)
                return LA_ENOMEM;
            i += n;
            continue;
        }
        if (c == '[' && depth > 0 && i + 1 < len && p[i + 1] == ':') {
            /* a POSIX bracket [:name:] or [:^name:] */
            const char *close = NULL;
            for (size_t k = i + 2; k + 1 < len; k++)
                if (p[k] == ':' && p[k + 1] == ']') {
                    close = p + k + 2;
                    break;
                }
            if (close) {
                size_t end = (size_t)(close - p);
                int neg = p[i + 2] == '^';
                int cls = posix_lookup(p + i + 2 + neg, end - 2 - (i + 2 + neg));
                if (cls >= 0) {
                    if ((i > 0 && p[i - 1] == '-') || (end < len && p[end] == '-'))
                        *dash = 1;
                    if (put_class(o, cls, neg, 1) != LA_OK)
                        return LA_ENOMEM;
                    changed = 1;
                } else if (la_buf_append(o, p + i, end - i) != LA_OK) {
                    return LA_ENOMEM;
                }
                i = end;
                continue;
            }
        }
        if (c == '[' && depth == 0) {
            int has_and;
            size_t end = bracket_end(p, len, i, &has_and);
            if (has_and) {
                if (la_buf_append(o, p + i, end - i) != LA_OK)
                    return LA_ENOMEM;
                i = end;
                continue;
            }
        }
        if (c == '[')
            depth++;
        else if (c == ']' && depth > 0)
            depth--;
        else if (c == '(' && depth == 0) {
            int lb = i + 3 < len && p[i + 1] == '?' && p[i + 2] == '<' &&
                     (p[i + 3] == '=' || p[i + 3] == '!');
            if (groups++ < 64)
                behind = behind << 1 | (uint64_t)lb;
        } else if (c == ')' && depth == 0 && groups > 0) {
            if (--groups < 64)
                behind >>= 1;
        }
        if (la_buf_putc(o, c) != LA_OK)
            return LA_ENOMEM;
        i++;
    }
    return changed;
}

/* Oniguruma's own ranges of property `name` (its Unicode tables). */
static int onig_prop_ranges(const char *name, size_t len, tk_range_fn add, void *ctx);

int tk_regex_class_ranges(const char *name, tk_range_fn add, void *ctx)
{
    size_t len = strlen(name);
    if (strcmp(name, "\\s") == 0)          /* \s is the Space ctype */
        return onig_prop_ranges("Space", 5, add, ctx);
    int cls = class_lookup(name, len);
    if (cls < 0)
        return onig_prop_ranges(name, len, add, ctx);
    for (int k = 0; k < 7; k++) {
        const class_part *pt = &class_parts[cls][k];
        for (size_t i = 0; i < pt->n; i++)
            add(ctx, pt->r[i].lo, pt->r[i].hi);
        /* literal parts: a run of \p{X} items, left to Oniguruma */
        for (const char *l = pt->lit; l && (l = strstr(l, "\\p{")) != NULL;) {
            const char *close = strchr(l, '}');
            if (!close || onig_prop_ranges(l + 3, (size_t)(close - l - 3), add, ctx) != 0)
                return -1;
            l = close + 1;
        }
    }
    return 0;
}

/* Oniguruma's one-time library set-up is not thread-safe: it is done
 * once per process (a synchronisation primitive, not data). */
static pthread_once_t onig_once = PTHREAD_ONCE_INIT;

/* Initialises Oniguruma for UTF-8 (once per process). */
static void onig_init_once(void)
{
    OnigEncoding enc = ONIG_ENCODING_UTF8;
    onig_initialize(&enc, 1);
}

void tk_onig_init(void)
{
    pthread_once(&onig_once, onig_init_once);
}

static int onig_prop_ranges(const char *name, size_t len, tk_range_fn add, void *ctx)
{
    tk_onig_init();
    OnigEncoding enc = ONIG_ENCODING_UTF8;
    const OnigUChar *p = (const OnigUChar *)name;
    int ctype = ONIGENC_PROPERTY_NAME_TO_CTYPE(enc, (OnigUChar *)p, (OnigUChar *)p + len);
    if (ctype < 0)
        return -1;
    OnigCodePoint sb;
    const OnigCodePoint *r;
    if (ONIGENC_GET_CTYPE_CODE_RANGE(enc, (OnigCtype)ctype, &sb, &r) != 0)
        return -1;
    for (OnigCodePoint i = 0; i < r[0]; i++)
        add(ctx, (int32_t)r[1 + 2 * i], (int32_t)r[2 + 2 * i]);
    return 0;
}
