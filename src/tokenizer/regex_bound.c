/*
 * regex_bound.c - the instrumented copy of a pattern, through which one
 * Oniguruma search can be stopped inside (regex.c).
 *
 * Oniguruma 6.9.8 has no time limit, and its retry limits count only
 * backtracking: a possessive or automatically possessive repeat, or one
 * inside a look-around, can read the rest of the text from every start
 * position without a single retry. All such work is repetition, so the
 * copy carries a contents callout in every repeated atom,
 *
 *     ATOM QUANTIFIERS   ->   (?:ATOM(?{+}))QUANTIFIERS
 *
 * and each iteration calls regex.c's function, which looks at the budget.
 * A non-capturing group around an atom and a callout that succeeds change
 * no match, no group and how no quantifier is read (the quantifier text
 * after the atom is kept as it is, whether its `?` and `+` make it lazy,
 * possessive or a second quantifier). A lone `?` (no repetition) gets
 * none. The default syntax, the one tk_regex_new compiles with, already
 * reads callouts, so nothing else in the pattern is read differently.
 *
 * The scanner below reads Oniguruma's default syntax exactly for what it
 * accepts, and refuses the rest: constructs that cost more than linear
 * work per step without a repeat to count (backreferences, subexpression
 * calls, grapheme clusters and their boundaries, absent and conditional
 * groups), the pattern's own callouts, extended mode, and escapes whose
 * reading depends on context (octal and raw bytes above ASCII, control
 * combinations), and \O and \R: Oniguruma 6.9.8's search optimisation
 * misses matches of `$\O+` that it finds once the repeat is counted, and
 * of `(?:[.{}](?{+}))*\R` that it finds without the callout, so that the
 * copy would answer differently; for the same reason a look-behind
 * together with a repeated `.` or `\N`: the plain `(?<!a|b).*}` skips
 * start positions after a failed leading `.*` (an optimisation that
 * does not hold behind a look-behind), the copy does not. A refused
 * pattern is refused at load (regex.c).
 */
#include "tokenizer/tk.h"

#include <string.h>

/* The callout written into the copy: its contents are never read. */
#define CALLOUT "(?{+})"

typedef struct {
    const unsigned char *p;
    size_t len, i;
    la_buf *o;
    const char *why;             /* the reason of a refusal */
    size_t at;                   /* and its byte offset in the pattern */
} scan;

static int refuse(scan *s, const char *why)
{
    s->why = why;
    s->at = s->i;
    return 0;
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_xdigit(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static int is_alnum(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Bytes of the UTF-8 character led by c, 0 when c cannot lead one. */
static size_t lead_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return 2;
    if (c >= 0xE0 && c <= 0xEF)
        return 3;
    if (c >= 0xF0 && c <= 0xF4)
        return 4;
    return 0;
}

/* Length of a character at p[i] (lead byte and continuation bytes), 0
 * when it is not one. */
static size_t char_len(const unsigned char *p, size_t len, size_t i)
{
    size_t n = lead_len(p[i]);
    if (!n || i + n > len)
        return 0;
    for (size_t k = 1; k < n; k++)
        if ((p[i + k] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* Length of an interval quantifier {n}, {n,}, {n,m} or {,m} at p[i] (as
 * Oniguruma's fetch_interval reads it: decimal digits only), 0 when the
 * brace is a literal character. */
static size_t interval_len(const unsigned char *p, size_t len, size_t i)
{
    size_t k = i + 1, d0 = k;
    while (k < len && is_digit(p[k]))
        k++;
    int low = k > d0;
    if (k < len && p[k] == ',') {
        size_t d1 = ++k;
        while (k < len && is_digit(p[k]))
            k++;
        if (!low && k == d1)
            return 0;            /* {,} */
    } else if (!low) {
        return 0;                /* {} or {x */
    }
    if (k >= len || p[k] != '}')
        return 0;
    return k + 1 - i;
}

/* Length of the escape at p[i] (a backslash), 0 when refused; *atom says
 * whether it matches a character (a quantifier may follow) rather than
 * being an anchor. */
static size_t escape_len(scan *s, int *atom)
{
    const unsigned char *p = s->p;
    size_t len = s->len, i = s->i;
    *atom = 1;
    if (i + 1 >= len)
        return refuse(s, "a backslash at the end");
    unsigned char c = p[i + 1];
    if (c >= 0x80) {
        size_t n = char_len(p, len, i + 1);
        return n ? 1 + n : (size_t)refuse(s, "an escaped byte that is not UTF-8");
    }
    if (!is_alnum(c))
        return 2;                /* an escaped punctuation or control character */
    if (c == 'O' || c == 'R')
        return refuse(s, "\\O or \\R, which Oniguruma's search optimisation answers differently once counted");
    if (strchr("wWsSdDhHNtnrfvae", c))
        return 2;
    if (strchr("bBAzZGK", c)) {
        *atom = 0;
        return 2;
    }
    if (c == 'p' || c == 'P') {
        if (i + 2 >= len || p[i + 2] != '{')
            return refuse(s, "a \\p without braces");
        for (size_t k = i + 3; k < len; k++) {
            if (p[k] == '}')
                return k + 1 - i;
            if (!is_alnum(p[k]) && p[k] != '_' && p[k] != ' ' && p[k] != '-' && p[k] != '^')
                break;
        }
        return refuse(s, "a \\p{...} this reader does not know");
    }
    if (c == 'x') {
        size_t k = i + 2;
        if (k < len && p[k] == '{') {
            size_t d = ++k;
            while (k < len && is_xdigit(p[k]))
                k++;
            if (k > d && k - d <= 8 && k < len && p[k] == '}')
                return k + 1 - i;
            return refuse(s, "a \\x{...} other than one code point");
        }
        unsigned v = 0;
        while (k < len && k < i + 4 && is_xdigit(p[k]))
            v = v * 16 + (unsigned)(is_digit(p[k]) ? p[k] - '0' : (p[k] | 0x20) - 'a' + 10), k++;
        if (k > i + 2 && v < 0x80)
            return k - i;
        return refuse(s, "a \\x byte escape outside ASCII");
    }
    if (c == 'u') {
        size_t k = i + 2;
        while (k < len && k < i + 6 && is_xdigit(p[k]))
            k++;
        if (k == i + 6)
            return 6;
        return refuse(s, "a \\u without four hex digits");
    }
    if (is_digit(c))
        return refuse(s, "a backreference or octal escape");
    if (c == 'k')
        return refuse(s, "a backreference");
    if (c == 'g')
        return refuse(s, "a subexpression call");
    if (c == 'X' || c == 'y' || c == 'Y')
        return refuse(s, "a grapheme cluster (\\X, \\y, \\Y)");
    return refuse(s, "an escape this reader does not know");
}

/* Length of the character class at p[i] ('['), nested classes and
 * POSIX brackets included, 0 when refused. */
static size_t class_len(scan *s)
{
    const unsigned char *p = s->p;
    size_t len = s->len, k = s->i, depth = 0;
    while (k < len) {
        if (p[k] == '[') {
            if (k + 1 < len && p[k + 1] == ':') {
                /* [:name:] or [:^name:], else refused */
                size_t e = k + 2;
                if (e < len && p[e] == '^')
                    e++;
                size_t n0 = e;
                while (e < len && ((p[e] >= 'a' && p[e] <= 'z')))
                    e++;
                if (depth == 0 || e == n0 || e + 1 >= len || p[e] != ':' || p[e + 1] != ']') {
                    s->i = k;
                    return refuse(s, "a '[:' that is not a POSIX bracket");
                }
                k = e + 2;
                continue;
            }
            depth++;
            k++;
            if (k < len && p[k] == '^')
                k++;
            if (k < len && p[k] == ']') {
                s->i = k;
                return refuse(s, "a ']' first in a class");
            }
            continue;
        }
        if (p[k] == ']') {
            k++;
            if (--depth == 0)
                return k - s->i;
            continue;
        }
        if (p[k] == '\\') {
            if (k + 1 >= len)
                break;
            if (p[k + 1] == 'c' || p[k + 1] == 'C' || p[k + 1] == 'M') {
                /* \c[ is a control character: the bracket is not one */
                s->i = k;
                return refuse(s, "a control escape in a class");
            }
            size_t n = p[k + 1] >= 0x80 ? char_len(p, len, k + 1) : 1;
            if (!n)
                break;
            k += 1 + n;
            continue;
        }
        size_t n = char_len(p, len, k);
        if (!n)
            break;
        k += n;
    }
    return refuse(s, "a character class this reader cannot end");
}

/* Length of a group's opening at p[i] ('('): "(", "(?:", "(?=", "(?!",
 * "(?>", "(?<=", "(?<!", "(?<name>", "(?'name'" or "(?imsWDSPa-...:";
 * *isolated is set for an option setting "(?i)" that opens no group. 0
 * when refused. */
static size_t open_len(scan *s, int *isolated)
{
    const unsigned char *p = s->p;
    size_t len = s->len, i = s->i;
    *isolated = 0;
    if (i + 1 < len && p[i + 1] == '*')
        return refuse(s, "a callout or verb (*...)");
    if (i + 1 >= len || p[i + 1] != '?')
        return 1;
    if (i + 2 >= len)
        return refuse(s, "an unfinished group");
    unsigned char c = p[i + 2];
    if (c == ':' || c == '=' || c == '!' || c == '>')
        return 3;
    if (c == '<' && i + 3 < len && (p[i + 3] == '=' || p[i + 3] == '!'))
        return 4;
    if (c == '<' || c == '\'') {
        unsigned char close = c == '<' ? '>' : '\'';
        for (size_t k = i + 3; k < len; k++) {
            if (p[k] == close)
                return k > i + 3 ? k + 1 - i : (size_t)refuse(s, "an empty group name");
            if (!is_alnum(p[k]) && p[k] != '_' && p[k] < 0x80)
                break;
        }
        return refuse(s, "a group name this reader does not know");
    }
    if (c == '{')
        return refuse(s, "a callout (?{...})");
    if (c == '~')
        return refuse(s, "an absent group (?~...)");
    if (c == '(')
        return refuse(s, "a conditional group (?(...)...)");
    for (size_t k = i + 2; k < len; k++) {
        if (p[k] == ':')
            return k + 1 - i;
        if (p[k] == ')') {
            *isolated = 1;
            return k + 1 - i;
        }
        if (!strchr("imsWDSPa-", p[k]) || !p[k])
            break;
    }
    return refuse(s, "an option this reader does not know (extended mode among them)");
}

/* Inserts "(?:" at offset at of the output and appends the callout and
 * ")": the atom written from `at` on becomes a counted group. */
static int wrap(la_buf *o, size_t at)
{
    if (la_buf_reserve(o, 3) != LA_OK)
        return LA_ENOMEM;
    memmove(o->data + at + 3, o->data + at, o->len - at);
    memcpy(o->data + at, "(?:", 3);
    o->len += 3;
    o->data[o->len] = 0;
    return la_buf_append(o, CALLOUT ")", sizeof CALLOUT);
}

#define MAX_DEPTH 256

int tk_regex_instrument(const char *pattern, size_t len, la_buf *out, const char **why,
                        size_t *at)
{
    scan s = {(const unsigned char *)pattern, len, 0, out, NULL, 0};
    const unsigned char *p = s.p;
    size_t groups[MAX_DEPTH];    /* output offsets of the open groups */
    size_t depth = 0;
    long atom = -1;              /* output offset of the last atom, -1: none */
    int any = 0;                 /* the last atom is '.' or \\N */
    int behind = 0, any_repeated = 0;
    la_buf_clear(out);
    if (la_buf_reserve(out, len + 16) != LA_OK)   /* a copy of "" too has its bytes */
        return LA_ENOMEM;
    while (s.i < len) {
        unsigned char c = p[s.i];
        size_t n = 0;
        size_t here = out->len;
        int is_atom = 1;
        if (c == '*' || c == '+' || c == '?' || (c == '{' && interval_len(p, len, s.i))) {
            /* the whole run of quantifiers on this atom */
            size_t e = s.i;
            for (;;) {
                if (e < len && (p[e] == '*' || p[e] == '+' || p[e] == '?'))
                    e++;
                else if (e < len && p[e] == '{' && interval_len(p, len, e))
                    e += interval_len(p, len, e);
                else
                    break;
            }
            if (atom < 0) {
                refuse(&s, "a quantifier with nothing to repeat");
                break;
            }
            size_t q = e - s.i;
            int once = (q == 1 && c == '?') ||
                       (q == 2 && c == '?' && (p[s.i + 1] == '?' || p[s.i + 1] == '+'));
            if (!once && any)
                any_repeated = 1;
            if (!once && wrap(out, (size_t)atom) != LA_OK)
                return LA_ENOMEM;
            if (la_buf_append(out, p + s.i, q) != LA_OK)
                return LA_ENOMEM;
            s.i = e;
            atom = -1;           /* a quantifier right after is read with this run */
            continue;
        }
        switch (c) {
        case '\\':
            n = escape_len(&s, &is_atom);
            break;
        case '[':
            n = class_len(&s);
            break;
        case '(': {
            if (s.i + 2 < len && p[s.i + 1] == '?' && p[s.i + 2] == '#') {
                /* a comment: up to the first unescaped ')', read through */
                size_t k = s.i + 3;
                while (k < len && p[k] != ')')
                    k += p[k] == '\\' ? 2 : 1;
                if (k >= len) {
                    refuse(&s, "an unfinished comment");
                    break;
                }
                if (la_buf_append(out, p + s.i, k + 1 - s.i) != LA_OK)
                    return LA_ENOMEM;
                s.i = k + 1;
                continue;        /* the last atom stays the last atom */
            }
            int isolated;
            n = open_len(&s, &isolated);
            if (!n)
                break;
            if (la_buf_append(out, p + s.i, n) != LA_OK)
                return LA_ENOMEM;
            if (n == 4 && p[s.i + 2] == '<')
                behind = 1;
            s.i += n;
            atom = -1;
            if (!isolated) {
                if (depth == MAX_DEPTH) {
                    refuse(&s, "groups nested too deep");
                    n = 0;
                    break;
                }
                groups[depth++] = here;
            }
            continue;
        }
        case ')':
            if (!depth) {
                refuse(&s, "an unmatched ')'");
                break;
            }
            if (la_buf_putc(out, ')') != LA_OK)
                return LA_ENOMEM;
            s.i++;
            atom = (long)groups[--depth];
            any = 0;
            continue;
        case '|':
        case '^':
        case '$':
            n = 1;
            is_atom = 0;
            break;
        default:
            n = char_len(p, len, s.i);
            if (!n)
                refuse(&s, "a byte that is not UTF-8");
            break;
        }
        if (!n)
            break;
        if (la_buf_append(out, p + s.i, n) != LA_OK)
            return LA_ENOMEM;
        any = c == '.' || (c == '\\' && n == 2 && p[s.i + 1] == 'N');
        s.i += n;
        atom = is_atom ? (long)here : -1;
    }
    if (!s.why && depth) {
        s.i = len;
        refuse(&s, "an unclosed group");
    }
    if (!s.why && behind && any_repeated) {
        s.i = len;
        refuse(&s, "a look-behind with a repeated '.' or \\N, whose search Oniguruma optimises "
                   "differently once counted");
    }
    if (s.why) {
        *why = s.why;
        *at = s.at;
        return 0;
    }
    return 1;
}
