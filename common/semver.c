/* Semantic versions and version constraints, with the semantics of Masterminds/semver v3
 * (what Steampipe uses for the version after '@' in a plugin reference). */
#include "cs_semver.h"

#include <stdint.h>
#include <string.h>

#define S_MAX_TERMS (CS_SEMVER_MAX_TEXT / 2 + 1) /* a term is at least one byte and a space */

/* A version as written: up to three numbers (each given, a wildcard, or left out), a
 * prerelease. Build metadata is read and ignored, as semver says. */
typedef struct {
    uint64_t num[3];
    bool given[3]; /* a number was written (not a wildcard, not left out) */
    const char *pre;
    size_t pre_len;
} s_version_t;

typedef enum { S_EQ, S_NE, S_GT, S_LT, S_GE, S_LE, S_TILDE, S_CARET } s_op_t;

/* One constraint, as Masterminds keeps it: the version to compare with (left-out or wildcard
 * numbers are 0) and which of its numbers were not given. */
typedef struct {
    s_op_t op;
    s_version_t con;
    bool dirty, minor_dirty, patch_dirty;
} s_term_t;

static bool s_is_space(char c)
{
    return c == ' ' || c == '\t';
}

static bool s_is_ident(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

/* Dot-separated identifiers of [0-9A-Za-z-]: a prerelease or build metadata. */
static const char *s_identifiers(const char **at)
{
    const char *p = *at;
    for (;;) {
        if (!s_is_ident(*p))
            return "a prerelease or build part is dot-separated [0-9A-Za-z-] identifiers";
        while (s_is_ident(*p))
            p++;
        if (*p != '.')
            break;
        p++;
    }
    *at = p;
    return NULL;
}

/* Reads [v]N[.N[.N]][-PRE][+BUILD] at *at; wildcards (x, X, *) for numbers when allowed. */
static const char *s_read_version(const char **at, s_version_t *v, bool wildcards)
{
    const char *p = *at;
    *v = (s_version_t){0};
    if (*p == 'v')
        p++;
    for (int i = 0; i < 3; i++) {
        if (i > 0) {
            if (*p != '.')
                break;
            p++;
        }
        if (*p == 'x' || *p == 'X' || *p == '*') {
            if (!wildcards)
                return "a version has numbers, not wildcards";
            p++;
            continue;
        }
        if (!(*p >= '0' && *p <= '9'))
            return "a version is MAJOR[.MINOR[.PATCH]] of decimal numbers, e.g. 0.5.1";
        uint64_t n = 0;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (n > (INT64_MAX - 9) / 10)
                return "a version number is too large";
            n = n * 10 + (uint64_t)(*p - '0');
        }
        v->num[i] = n;
        v->given[i] = true;
    }
    if (*p == '-') {
        const char *pre = ++p;
        const char *problem = s_identifiers(&p);
        if (problem)
            return problem;
        v->pre = pre;
        v->pre_len = (size_t)(p - pre);
    }
    if (*p == '+') {
        p++;
        const char *problem = s_identifiers(&p);
        if (problem)
            return problem;
    }
    *at = p;
    return NULL;
}

/* ---- comparison ------------------------------------------------------------------------ */

static bool s_numeric(const char *id, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!(id[i] >= '0' && id[i] <= '9'))
            return false;
    return len > 0;
}

/* Semver precedence of two prereleases: none is above any; identifiers compared in turn,
 * numbers numerically and below words; a shorter list that agrees is below. */
static int s_compare_pre(const char *a, size_t alen, const char *b, size_t blen)
{
    if (!alen || !blen)
        return alen == blen ? 0 : alen ? -1 : 1;
    size_t i = 0, j = 0;
    while (i < alen && j < blen) {
        size_t ai = i, bj = j;
        while (i < alen && a[i] != '.')
            i++;
        while (j < blen && b[j] != '.')
            j++;
        size_t al = i - ai, bl = j - bj;
        bool an = s_numeric(a + ai, al), bn = s_numeric(b + bj, bl);
        int c;
        if (an && bn) {
            while (al > 1 && a[ai] == '0')
                ai++, al--;
            while (bl > 1 && b[bj] == '0')
                bj++, bl--;
            c = al != bl ? (al < bl ? -1 : 1) : memcmp(a + ai, b + bj, al);
        } else if (an != bn) {
            c = an ? -1 : 1;
        } else {
            c = memcmp(a + ai, b + bj, al < bl ? al : bl);
            if (c == 0 && al != bl)
                c = al < bl ? -1 : 1;
        }
        if (c)
            return c < 0 ? -1 : 1;
        i += i < alen;
        j += j < blen;
    }
    return (i < alen) - (j < blen);
}

static int s_compare(const s_version_t *a, const s_version_t *b)
{
    for (int i = 0; i < 3; i++)
        if (a->num[i] != b->num[i])
            return a->num[i] < b->num[i] ? -1 : 1;
    return s_compare_pre(a->pre, a->pre_len, b->pre, b->pre_len);
}

/* ---- one constraint -------------------------------------------------------------------- */

static bool s_tilde(const s_version_t *v, const s_term_t *t)
{
    const s_version_t *c = &t->con;
    if (s_compare(v, c) < 0)
        return false;
    if (c->num[0] == 0 && c->num[1] == 0 && c->num[2] == 0 && !t->minor_dirty && !t->patch_dirty)
        return true; /* ~0.0.0 and ~*: anything */
    if (v->num[0] != c->num[0])
        return false;
    return v->num[1] == c->num[1] || t->minor_dirty;
}

static bool s_caret(const s_version_t *v, const s_term_t *t)
{
    const s_version_t *c = &t->con;
    if (s_compare(v, c) < 0)
        return false;
    if (c->num[0] > 0 || t->minor_dirty)
        return v->num[0] == c->num[0];
    if (v->num[0] > 0)
        return false;
    if (c->num[1] > 0 || t->patch_dirty)
        return v->num[1] == c->num[1];
    if (v->num[1] > 0)
        return false;
    return v->num[2] == c->num[2];
}

static bool s_not_equal(const s_version_t *v, const s_term_t *t)
{
    const s_version_t *c = &t->con;
    if (t->dirty) {
        if (c->num[0] != v->num[0])
            return true;
        if (t->minor_dirty)
            return false;
        if (c->num[1] != v->num[1])
            return true;
        if (t->patch_dirty)
            return s_compare_pre(v->pre, v->pre_len, c->pre, c->pre_len) != 0;
    }
    return s_compare(v, c) != 0;
}

static bool s_greater(const s_version_t *v, const s_term_t *t)
{
    const s_version_t *c = &t->con;
    if (!t->dirty || (!t->minor_dirty && !t->patch_dirty))
        return s_compare(v, c) > 0;
    if (v->num[0] != c->num[0])
        return v->num[0] > c->num[0];
    if (t->minor_dirty)
        return false; /* >1 wants 2 or above */
    return v->num[1] > c->num[1];
}

static bool s_less_equal(const s_version_t *v, const s_term_t *t)
{
    const s_version_t *c = &t->con;
    if (!t->dirty)
        return s_compare(v, c) <= 0;
    if (v->num[0] > c->num[0])
        return false;
    return !(v->num[0] == c->num[0] && v->num[1] > c->num[1] && !t->minor_dirty);
}

static bool s_check(const s_version_t *v, const s_term_t *t, bool include_pre)
{
    if (v->pre_len && !include_pre)
        return false;
    switch (t->op) {
        case S_EQ:
            return t->dirty ? s_tilde(v, t) : s_compare(v, &t->con) == 0;
        case S_NE:
            return s_not_equal(v, t);
        case S_GT:
            return s_greater(v, t);
        case S_LT:
            return s_compare(v, &t->con) < 0;
        case S_GE:
            return s_compare(v, &t->con) >= 0;
        case S_LE:
            return s_less_equal(v, t);
        case S_TILDE:
            return s_tilde(v, t);
        case S_CARET:
            return s_caret(v, t);
    }
    return false;
}

/* ---- constraints ----------------------------------------------------------------------- */

/* Reads an operator at *at, if there is one; *op is then it, else S_EQ. */
static bool s_read_op(const char **at, s_op_t *op)
{
    static const struct {
        const char *text;
        s_op_t op;
    } ops[] = {{"!=", S_NE}, {">=", S_GE},    {"=>", S_GE},  {"<=", S_LE},
               {"=<", S_LE}, {"~>", S_TILDE}, {">", S_GT},   {"<", S_LT},
               {"=", S_EQ},  {"~", S_TILDE},  {"^", S_CARET}};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        size_t n = strlen(ops[i].text);
        if (strncmp(*at, ops[i].text, n) == 0) {
            *at += n;
            *op = ops[i].op;
            return true;
        }
    }
    *op = S_EQ;
    return false;
}

/* A version as a constraint compares with its left-out and wildcard numbers as 0; a number
 * after one not given is not looked at (x.5 is x). */
static s_term_t s_term(s_op_t op, const s_version_t *written)
{
    s_term_t t = {op, *written, false, false, false};
    if (!written->given[0]) {
        t.dirty = true;
        t.con.num[1] = t.con.num[2] = 0;
    } else if (!written->given[1]) {
        t.dirty = t.minor_dirty = true;
        t.con.num[2] = 0;
    } else if (!written->given[2]) {
        t.dirty = t.patch_dirty = true;
    }
    return t;
}

/* Reads the constraints of one alternative, [p, end), into terms. */
static const char *s_read_terms(const char *p, const char *end, s_term_t *terms, size_t *count)
{
    *count = 0;
    while (p < end && s_is_space(*p))
        p++;
    if (p == end)
        return "an empty version constraint";
    while (p < end) {
        if (*count == S_MAX_TERMS)
            return "too many version constraints";
        s_op_t op;
        bool written_op = s_read_op(&p, &op);
        while (p < end && s_is_space(*p))
            p++;
        s_version_t v;
        const char *problem = s_read_version(&p, &v, true);
        if (problem)
            return problem;
        const char *after = p;
        while (after < end && s_is_space(*after))
            after++;
        if (!written_op && after > p && after < end && *after == '-' && after + 1 < end &&
            s_is_space(after[1])) {
            /* a hyphen range: A - B is >=A, <=B */
            p = after + 1;
            while (p < end && s_is_space(*p))
                p++;
            s_version_t upper;
            if ((problem = s_read_version(&p, &upper, true)))
                return problem;
            if (*count + 2 > S_MAX_TERMS)
                return "too many version constraints";
            terms[(*count)++] = s_term(S_GE, &v);
            terms[(*count)++] = s_term(S_LE, &upper);
        } else {
            terms[(*count)++] = s_term(op, &v);
        }
        if (p == end)
            break;
        if (!s_is_space(*p) && *p != ',')
            return "constraints are separated by commas or spaces, e.g. >=0.5, <0.7";
        while (p < end && s_is_space(*p))
            p++;
        if (p < end && *p == ',') {
            p++;
            while (p < end && s_is_space(*p))
                p++;
            if (p == end)
                return "a version constraint ends with a comma";
        }
    }
    return NULL;
}

/* Walks every alternative of text; with version, *satisfied says whether one holds. */
static const char *s_walk(const char *text, const s_version_t *version, bool *satisfied)
{
    if (strlen(text) > CS_SEMVER_MAX_TEXT)
        return "a version constraint has at most 255 bytes";
    if (satisfied)
        *satisfied = false;
    const char *p = text;
    for (;;) {
        const char *bar = strstr(p, "||");
        const char *end = bar ? bar : p + strlen(p);
        s_term_t group[S_MAX_TERMS];
        size_t count;
        const char *problem = s_read_terms(p, end, group, &count);
        if (problem)
            return problem;
        if (version && satisfied && !*satisfied) {
            bool include_pre = false;
            for (size_t i = 0; i < count; i++)
                include_pre |= group[i].con.pre_len > 0;
            bool all = true;
            for (size_t i = 0; i < count && all; i++)
                all = s_check(version, &group[i], include_pre);
            *satisfied = all;
        }
        if (!bar)
            return NULL;
        p = bar + 2;
    }
}

const char *cs_semver_constraint_problem(const char *constraint)
{
    return s_walk(constraint, NULL, NULL);
}

const char *cs_semver_version_problem(const char *version)
{
    if (strlen(version) > CS_SEMVER_MAX_TEXT)
        return "a version has at most 255 bytes";
    const char *p = version;
    s_version_t v;
    const char *problem = s_read_version(&p, &v, false);
    if (!problem && *p)
        problem = "a version is MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD], e.g. 0.5.1";
    return problem;
}

int cs_semver_satisfies(const char *version, const char *constraint)
{
    if (cs_semver_version_problem(version))
        return -1;
    const char *p = version;
    s_version_t v;
    if (s_read_version(&p, &v, false))
        return -1;
    bool satisfied;
    if (s_walk(constraint, &v, &satisfied))
        return -1;
    return satisfied ? 1 : 0;
}
