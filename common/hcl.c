/* The parser of the .spc language (HCL-style blocks and attributes) into an arena tree. */
#include "common.h"

#include "cs_secrets.h"

#include <errno.h>
#include <stddef.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    T_EOF,
    T_NEWLINE,
    T_IDENT,
    T_STRING, /* quoted string or heredoc, decoded */
    T_NUMBER,
    T_LBRACE,
    T_RBRACE,
    T_LBRACKET,
    T_RBRACKET,
    T_EQUALS,
    T_COLON,
    T_COMMA
} s_tok_type_t;

/* Keys (attribute names, block types, object keys) are shared by every use of the same
 * word: a cache of the last key of each hash, so that a body of a thousand blocks holding
 * x = 1 keeps one "x". */
#define S_KEY_CACHE  1024
#define S_KEY_SHARED 32          /* longer keys are copied each time */
#define S_STACK_KEEP (64 * 1024) /* the stack is given back past this once it empties */

typedef struct {
    s_tok_type_t type;
    cs_pos_t pos;
    const char *text; /* IDENT, NUMBER: raw text; STRING: decoded, NUL-terminated */
    size_t len;
} s_token_t;

typedef struct {
    cs_arena_t *arena;
    const char *file;
    const char *text;
    size_t len;
    size_t at; /* next byte to lex */
    int line;  /* position of text[at] */
    int col;
    s_token_t tok; /* the current token */
    int depth;
    int secret;           /* > 0 inside the value of a secret-named key: errors quote none of it */
    unsigned char *stack; /* items of the open containers: s_stack_push */
    size_t stack_len, stack_cap;
    const char *keys[S_KEY_CACHE]; /* recent keys by hash, shared: s_key_of */
    cs_config_error_t *error;
    jmp_buf fail;
} s_parser_t;

/* ---- errors ---------------------------------------------------------------------------- */

static void s_fail(s_parser_t *p, cs_pos_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

static void s_fail(s_parser_t *p, cs_pos_t pos, const char *fmt, ...)
{
    char message[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    p->error->file = p->file;
    p->error->line = pos.line;
    p->error->col = pos.col;
    p->error->message = cs_arena_strndup(p->arena, message, strlen(message));
    if (!p->error->message)
        p->error->message = "out of memory";
    longjmp(p->fail, 1);
}

static cs_pos_t s_here(const s_parser_t *p)
{
    return (cs_pos_t){p->file, p->line, p->col};
}

static void *s_alloc(s_parser_t *p, size_t size)
{
    void *ptr = cs_arena_alloc(p->arena, size);
    if (!ptr)
        s_fail(p, s_here(p), "out of memory");
    memset(ptr, 0, size);
    return ptr;
}

/* Unaligned bytes for decoded text, not cleared. */
static char *s_alloc_text(s_parser_t *p, size_t size)
{
    char *text = cs_arena_alloc_text(p->arena, size);
    if (!text)
        s_fail(p, s_here(p), "out of memory");
    return text;
}

/* The items of the lists, objects and bodies being parsed, pushed on p->stack (innermost
 * last: a nested one has been taken off before its parent's next item comes) and moved to
 * the arena at their exact size when their container closes, so that no arena vector
 * leaves the copies it grew out of. */
static size_t s_stack_reserve(s_parser_t *p, size_t size)
{
    while (p->stack_cap - p->stack_len < size) {
        if (p->stack_cap > (size_t)-1 / 2)
            s_fail(p, s_here(p), "out of memory");
        size_t cap = p->stack_cap ? p->stack_cap * 2 : 4096;
        unsigned char *grown = realloc(p->stack, cap);
        if (!grown)
            s_fail(p, s_here(p), "out of memory");
        p->stack = grown;
        p->stack_cap = cap;
    }
    size_t at = p->stack_len;
    p->stack_len += size;
    return at;
}

static void s_stack_push(s_parser_t *p, const void *item, size_t size)
{
    size_t at = s_stack_reserve(p, size);
    memcpy(p->stack + at, item, size);
}

/* Moves the items pushed since mark to the arena: returns them (NULL for none) and their
 * count. */
static void *s_stack_take(s_parser_t *p, size_t mark, size_t size, size_t *count)
{
    size_t bytes = p->stack_len - mark;
    *count = bytes / size;
    if (bytes == 0)
        return NULL;
    void *items = cs_arena_alloc(p->arena, bytes);
    if (!items)
        s_fail(p, s_here(p), "out of memory");
    memcpy(items, p->stack + mark, bytes);
    p->stack_len = mark;
    return items;
}

/* The items pushed since mark, at the start of a block of size bytes taken into the arena
 * (the room after them is the caller's): the stack itself when the items are many, so
 * that a large body is never held twice (on the stack and in the arena) while it closes.
 * The stack goes on in a fresh buffer with what lay below mark. */
static void *s_stack_take_all(s_parser_t *p, size_t mark, size_t size)
{
    size_t bytes = p->stack_len - mark;
    unsigned char *below = NULL;
    if (mark) {
        below = malloc(mark * 2);
        if (!below)
            s_fail(p, s_here(p), "out of memory");
        memcpy(below, p->stack, mark);
    }
    unsigned char *items = p->stack;
    p->stack = below;
    p->stack_len = mark;
    p->stack_cap = mark * 2;
    memmove(items, items + mark, bytes);
    unsigned char *fitted = realloc(items, size);
    if (!fitted) {
        free(items);
        s_fail(p, s_here(p), "out of memory");
    }
    void *block = fitted;
    void *kept = cs_arena_adopt(p->arena, &block, size);
    if (!kept)
        s_fail(p, s_here(p), "out of memory");
    return kept;
}

/* Gives back the memory of a stack that grew for one large container and now holds little
 * (it is the tree's peak: items are in the arena and on the stack when a body closes). */
static void s_stack_shrink(s_parser_t *p)
{
    if (p->stack_cap <= S_STACK_KEEP || p->stack_len > p->stack_cap / 4)
        return;
    size_t cap = p->stack_len * 2 > S_STACK_KEEP ? p->stack_len * 2 : S_STACK_KEEP;
    unsigned char *shrunk = realloc(p->stack, cap);
    if (shrunk) { /* else it keeps its size: nothing lost */
        p->stack = shrunk;
        p->stack_cap = cap;
    }
}

/* What an error says instead of quoting text from a secret's value. */
#define S_NOT_SHOWN "(not shown: secret)"

/* A name (key, attribute, block type) for an error: quoted, or not shown when it is part
 * of a secret's value. */
static const char *s_name(s_parser_t *p, bool hidden, const char *text, size_t len)
{
    if (hidden)
        return S_NOT_SHOWN;
    char quoted[96];
    snprintf(quoted, sizeof quoted, "\"%.*s\"", len > 64 ? 64 : (int)len, text);
    return cs_arena_strndup(p->arena, quoted, strlen(quoted));
}

/* A byte for an error: 0xNN, or not shown inside a secret's value. */
static const char *s_byte(s_parser_t *p, int c)
{
    if (p->secret)
        return S_NOT_SHOWN;
    char text[8];
    snprintf(text, sizeof text, "0x%02x", c & 0xff);
    return cs_arena_strndup(p->arena, text, strlen(text));
}

/* Four hex digits of an escape for an error, or XXXX inside a secret's value. */
static const char *s_hex4(s_parser_t *p, unsigned cp)
{
    if (p->secret)
        return "XXXX";
    char text[16];
    snprintf(text, sizeof text, "%04X", cp);
    return cs_arena_strndup(p->arena, text, strlen(text));
}

/* A printable description of the current token, for "expected X, found Y". */
static const char *s_describe(s_parser_t *p, const s_token_t *tok)
{
    switch (tok->type) {
        case T_EOF:
            return "the end of the file";
        case T_NEWLINE:
            return "a newline";
        case T_STRING:
            return "a string";
        case T_NUMBER:
            return "a number";
        case T_LBRACE:
            return "'{'";
        case T_RBRACE:
            return "'}'";
        case T_LBRACKET:
            return "'['";
        case T_RBRACKET:
            return "']'";
        case T_EQUALS:
            return "'='";
        case T_COLON:
            return "':'";
        case T_COMMA:
            return "','";
        case T_IDENT: {
            if (p->secret)
                return "an unquoted word " S_NOT_SHOWN;
            char text[96];
            snprintf(text, sizeof text, "'%.*s'", tok->len > 64 ? 64 : (int)tok->len, tok->text);
            return cs_arena_strndup(p->arena, text, strlen(text));
        }
    }
    return "something unexpected";
}

/* ---- lexer ----------------------------------------------------------------------------- */

static int s_peekc(const s_parser_t *p, size_t ahead)
{
    return p->at + ahead < p->len ? (unsigned char)p->text[p->at + ahead] : -1;
}

/* Advances one byte, keeping line and column (columns count characters, not bytes). */
static void s_advance(s_parser_t *p)
{
    unsigned char c = (unsigned char)p->text[p->at++];
    if (c == '\n') {
        p->line++;
        p->col = 1;
    } else if ((c & 0xC0) != 0x80) {
        p->col++;
    }
}

static bool s_is_ident_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool s_is_ident_char(int c)
{
    return s_is_ident_start(c) || (c >= '0' && c <= '9') || c == '-';
}

static bool s_is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* Skips blanks and comments; stops at a newline (a token) or anything else. */
static void s_skip_blanks(s_parser_t *p)
{
    for (;;) {
        int c = s_peekc(p, 0);
        if (c == ' ' || c == '\t' || c == '\r') {
            s_advance(p);
        } else if (c == '#' || (c == '/' && s_peekc(p, 1) == '/')) {
            while (p->at < p->len && p->text[p->at] != '\n')
                s_advance(p);
        } else if (c == '/' && s_peekc(p, 1) == '*') {
            cs_pos_t start = s_here(p);
            s_advance(p);
            s_advance(p);
            while (!(s_peekc(p, 0) == '*' && s_peekc(p, 1) == '/')) {
                if (p->at >= p->len)
                    s_fail(p, start, "unterminated comment: expected '*/' to close this '/*'");
                s_advance(p);
            }
            s_advance(p);
            s_advance(p);
        } else {
            return;
        }
    }
}

static int s_hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads 4 hex digits at the cursor; fails unless they are there. */
static unsigned s_read_hex4(s_parser_t *p, cs_pos_t escape)
{
    unsigned value = 0;
    for (int i = 0; i < 4; i++) {
        int digit = s_hex_value(s_peekc(p, 0));
        if (digit < 0)
            s_fail(p, escape, "invalid escape: \\u must be followed by 4 hex digits");
        value = value * 16 + (unsigned)digit;
        s_advance(p);
    }
    return value;
}

static size_t s_put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Template sequences: "$${" and "%%{" stand for a literal "${" / "%{"; a bare "${" or
 * "%{" (interpolation, directives) is not supported. Returns the bytes consumed into
 * out (2 or 3), or 0 when the cursor is not at a template sequence. */
static size_t s_template_sequence(s_parser_t *p, char *out, size_t *written)
{
    int c = s_peekc(p, 0);
    if (c != '$' && c != '%')
        return 0;
    if (s_peekc(p, 1) == c && s_peekc(p, 2) == '{') {
        out[0] = (char)c;
        out[1] = '{';
        *written = 2;
        s_advance(p);
        s_advance(p);
        s_advance(p);
        return 3;
    }
    if (s_peekc(p, 1) == '{')
        s_fail(p, s_here(p),
               "template sequence \"%c{\" is not supported (write \"%c%c{\" for a literal \"%c{\")",
               c, c, c, c);
    return 0;
}

/* The curly quote (U+2018, U+2019, U+201C or U+201D) at offset at, named for an error,
 * or NULL. The quote itself is shown even in a secret's value: it says nothing of it. */
static const char *s_curly_quote(const s_parser_t *p, size_t at)
{
    if (at + 3 > p->len || (unsigned char)p->text[at] != 0xE2 ||
        (unsigned char)p->text[at + 1] != 0x80)
        return NULL;
    switch ((unsigned char)p->text[at + 2]) {
        case 0x98:
            return "\u2018 (U+2018)";
        case 0x99:
            return "\u2019 (U+2019)";
        case 0x9C:
            return "\u201C (U+201C)";
        case 0x9D:
            return "\u201D (U+201D)";
        default:
            return NULL;
    }
}

/* A quoted string: the cursor is on the opening quote. */
static void s_lex_string(s_parser_t *p)
{
    cs_pos_t start = s_here(p);
    s_advance(p); /* the quote */
    size_t from = p->at;
    /* Decoding never makes a string longer than its source up to the closing quote (or the
     * end of the line, where it is unterminated), so that span bounds the buffer: each byte
     * is scanned twice at most and lexing stays linear however many strings a line holds. */
    size_t span = 0;
    while (p->at + span < p->len) {
        char c = p->text[p->at + span];
        if (c == '"' || c == '\n')
            break;
        bool escape = c == '\\' && p->at + span + 1 < p->len && p->text[p->at + span + 1] != '\n';
        span += escape ? 2 : 1;
    }
    char *out = s_alloc_text(p, span + 1);
    size_t n = 0;
    for (;;) {
        int c = s_peekc(p, 0);
        if (c < 0 || c == '\n') {
            const char *curly = NULL; /* a curly quote meant to close it? */
            for (size_t i = from; i < p->at && !curly && !p->secret; i++)
                curly = s_curly_quote(p, i);
            if (curly)
                s_fail(p, start,
                       "unterminated string: expected '\"' before the end of the line; the "
                       "string holds a curly quote %s: write a straight quote \" to close it",
                       curly);
            s_fail(p, start,
                   "unterminated string: expected '\"' before the end of the line (use a "
                   "heredoc <<EOT ... EOT for text on several lines)");
        }
        if (c == '"') {
            s_advance(p);
            break;
        }
        size_t written;
        if (s_template_sequence(p, out + n, &written)) {
            n += written;
            continue;
        }
        if (c != '\\') {
            if (c < 0x20 && c != '\t')
                s_fail(p, s_here(p), "control character %s in a string (write it escaped)",
                       s_byte(p, c));
            out[n++] = (char)c;
            s_advance(p);
            continue;
        }
        cs_pos_t escape = s_here(p);
        s_advance(p);
        int e = s_peekc(p, 0);
        if (e < 0 || e == '\n')
            continue; /* reported as an unterminated string by the next turn */
        s_advance(p);
        /* the one-letter escapes, each followed by what it stands for */
        static const char simple[] = "\"\"\\\\n\nt\tr\r";
        const char *hit = NULL;
        for (const char *at = simple; *at && !hit; at += 2)
            if (*at == e)
                hit = at + 1;
        if (hit) {
            out[n++] = *hit;
            continue;
        }
        switch (e) {
            case 'u': {
                unsigned cp = s_read_hex4(p, escape);
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (s_peekc(p, 0) != '\\' || s_peekc(p, 1) != 'u')
                        s_fail(p, escape,
                               "invalid escape: \\u%s is half of a surrogate pair "
                               "without its second half",
                               s_hex4(p, cp));
                    s_advance(p);
                    s_advance(p);
                    unsigned low = s_read_hex4(p, escape);
                    if (low < 0xDC00 || low > 0xDFFF)
                        s_fail(p, escape,
                               "invalid escape: \\u%s\\u%s is not a surrogate "
                               "pair",
                               s_hex4(p, cp), s_hex4(p, low));
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    s_fail(p, escape, "invalid escape: \\u%s is a lone surrogate", s_hex4(p, cp));
                }
                if (cp == 0)
                    s_fail(p, escape, "invalid escape: \\u0000 (NUL) is not allowed in a string");
                n += s_put_utf8(out + n, cp);
                break;
            }
            default:
                if (p->secret)
                    s_fail(p, escape,
                           "invalid escape " S_NOT_SHOWN
                           ": expected one of \\\" \\\\ \\n \\t \\r \\uXXXX");
                s_fail(p, escape,
                       "invalid escape '\\%c': expected one of \\\" \\\\ \\n \\t \\r \\uXXXX",
                       e >= 0x20 && e < 0x7f ? e : '?');
        }
    }
    out[n] = '\0';
    p->tok = (s_token_t){T_STRING, start, out, n};
}

/* Length of a heredoc line starting at offset i (without its newline). */
static size_t s_line_length(const s_parser_t *p, size_t i)
{
    const char *nl = memchr(p->text + i, '\n', p->len - i);
    return nl ? (size_t)(nl - (p->text + i)) : p->len - i;
}

/* A heredoc: the cursor is on "<<". Its lines, up to a line holding only the marker
 * (leading blanks allowed), each with its newline; <<- strips the common indentation. */
static void s_lex_heredoc(s_parser_t *p)
{
    cs_pos_t start = s_here(p);
    s_advance(p);
    s_advance(p);
    bool strip = false;
    if (s_peekc(p, 0) == '-') {
        strip = true;
        s_advance(p);
    }
    size_t marker_at = p->at;
    if (!s_is_ident_start(s_peekc(p, 0)))
        s_fail(p, s_here(p), "expected a heredoc marker such as EOT after '<<'");
    while (s_is_ident_char(s_peekc(p, 0)))
        s_advance(p);
    size_t marker_len = p->at - marker_at;
    const char *marker = p->text + marker_at;
    while (s_peekc(p, 0) == ' ' || s_peekc(p, 0) == '\t' || s_peekc(p, 0) == '\r')
        s_advance(p);
    if (s_peekc(p, 0) != '\n')
        s_fail(p, s_here(p), "expected a newline after the heredoc marker %.*s", (int)marker_len,
               marker);
    s_advance(p);

    /* Find the closing line first, then build the value. */
    size_t body_at = p->at, i = p->at, body_end = 0, close_at = 0;
    bool closed = false;
    while (i < p->len) {
        size_t line_len = s_line_length(p, i);
        size_t j = i;
        while (j < i + line_len && (p->text[j] == ' ' || p->text[j] == '\t'))
            j++;
        size_t k = i + line_len;
        while (k > j && p->text[k - 1] == '\r')
            k--;
        if (k - j == marker_len && memcmp(p->text + j, marker, marker_len) == 0) {
            body_end = i;
            close_at = j + marker_len;
            closed = true;
            break;
        }
        i += line_len + 1;
    }
    if (!closed)
        s_fail(p, start, "unterminated heredoc: expected a line holding only %.*s", (int)marker_len,
               marker);

    size_t indent = (size_t)-1;
    if (strip) {
        for (i = body_at; i < body_end; i += s_line_length(p, i) + 1) {
            size_t line_len = s_line_length(p, i), blank = 0;
            while (blank < line_len && (p->text[i + blank] == ' ' || p->text[i + blank] == '\t'))
                blank++;
            if (blank < line_len && p->text[i + blank] != '\r' && blank < indent)
                indent = blank;
        }
    }
    if (indent == (size_t)-1)
        indent = 0;

    char *out = s_alloc_text(p, body_end - body_at + 1);
    size_t n = 0;
    i = body_at;
    while (i < body_end) {
        size_t line_len = s_line_length(p, i);
        size_t skip = line_len < indent ? line_len : indent;
        /* Template sequences are checked with the cursor on the line's text. */
        while (p->at < i + skip)
            s_advance(p);
        while (p->at < i + line_len) {
            size_t written;
            if (s_template_sequence(p, out + n, &written)) {
                n += written;
                continue;
            }
            int c = s_peekc(p, 0);
            if (c == '\r' && p->at + 1 == i + line_len) {
                s_advance(p); /* CRLF line ends read as LF */
                continue;
            }
            if (c < 0x20 && c != '\t')
                s_fail(p, s_here(p), "control character %s in a heredoc", s_byte(p, c));
            out[n++] = (char)c;
            s_advance(p);
        }
        out[n++] = '\n';
        if (p->at < p->len)
            s_advance(p); /* the newline */
        i += line_len + 1;
    }
    out[n] = '\0';
    while (p->at < close_at)
        s_advance(p);
    p->tok = (s_token_t){T_STRING, start, out, n};
}

static void s_lex_number(s_parser_t *p)
{
    cs_pos_t start = s_here(p);
    size_t from = p->at;
    if (s_peekc(p, 0) == '-')
        s_advance(p);
    if (!s_is_digit(s_peekc(p, 0)))
        s_fail(p, start, "expected a digit after '-'");
    while (s_is_digit(s_peekc(p, 0)))
        s_advance(p);
    if (s_peekc(p, 0) == '.') {
        s_advance(p);
        if (!s_is_digit(s_peekc(p, 0)))
            s_fail(p, s_here(p), "expected a digit after the decimal point");
        while (s_is_digit(s_peekc(p, 0)))
            s_advance(p);
    }
    if (s_peekc(p, 0) == 'e' || s_peekc(p, 0) == 'E') {
        s_advance(p);
        if (s_peekc(p, 0) == '+' || s_peekc(p, 0) == '-')
            s_advance(p);
        if (!s_is_digit(s_peekc(p, 0)))
            s_fail(p, s_here(p), "expected a digit in the exponent");
        while (s_is_digit(s_peekc(p, 0)))
            s_advance(p);
    }
    if (s_is_ident_char(s_peekc(p, 0)) || s_peekc(p, 0) == '.')
        s_fail(p, s_here(p), "unexpected character after the number");
    p->tok = (s_token_t){T_NUMBER, start, p->text + from, p->at - from};
}

/* Reads the next token into p->tok. */
static void s_next(s_parser_t *p)
{
    s_skip_blanks(p);
    cs_pos_t pos = s_here(p);
    int c = s_peekc(p, 0);
    s_tok_type_t single = T_EOF;
    switch (c) {
        case -1:
            p->tok = (s_token_t){T_EOF, pos, "", 0};
            return;
        case '\n':
            single = T_NEWLINE;
            break;
        case '{':
            if (s_peekc(p, 1) == '{')
                s_fail(p, pos,
                       "\"{{\" starts a template placeholder such as {{NAME}}: templates are not "
                       "HCL, fill them in first (replace each {{...}} with its value)");
            single = T_LBRACE;
            break;
        case '}':
            single = T_RBRACE;
            break;
        case '[':
            single = T_LBRACKET;
            break;
        case ']':
            single = T_RBRACKET;
            break;
        case '=':
            single = T_EQUALS;
            break;
        case ':':
            single = T_COLON;
            break;
        case ',':
            single = T_COMMA;
            break;
        case '"':
            s_lex_string(p);
            return;
        default:
            break;
    }
    if (single != T_EOF) {
        s_advance(p);
        p->tok = (s_token_t){single, pos, p->text + p->at - 1, 1};
        return;
    }
    if (c == '<' && s_peekc(p, 1) == '<') {
        s_lex_heredoc(p);
        return;
    }
    if (c == '-' || s_is_digit(c)) {
        s_lex_number(p);
        return;
    }
    if (s_is_ident_start(c)) {
        size_t from = p->at;
        while (s_is_ident_char(s_peekc(p, 0)))
            s_advance(p);
        p->tok = (s_token_t){T_IDENT, pos, p->text + from, p->at - from};
        return;
    }
    const char *quote = s_curly_quote(p, p->at);
    if (quote)
        s_fail(p, pos,
               "curly quote %s: write a straight quote \" instead (text pasted from a web "
               "page or a word processor often has them)",
               quote);
    if (p->secret)
        s_fail(p, pos, "unexpected character " S_NOT_SHOWN);
    if (c >= 0x21 && c < 0x7f)
        s_fail(p, pos, "unexpected character '%c'", c);
    s_fail(p, pos, "unexpected character (byte 0x%02x)", c);
}

static void s_skip_newlines(s_parser_t *p)
{
    while (p->tok.type == T_NEWLINE)
        s_next(p);
}

static bool s_ident_is(const s_token_t *tok, const char *word)
{
    return tok->type == T_IDENT && tok->len == strlen(word) &&
           memcmp(tok->text, word, tok->len) == 0;
}

/* ---- parser ---------------------------------------------------------------------------- */

static void s_enter(s_parser_t *p)
{
    if (++p->depth > CS_CONFIG_MAX_DEPTH)
        s_fail(p, p->tok.pos, "nesting deeper than %d levels", CS_CONFIG_MAX_DEPTH);
}

/* A label's text: a copy of the token's. */
static const char *s_word_of(s_parser_t *p, const s_token_t *tok)
{
    const char *copy = cs_arena_strndup(p->arena, tok->text, tok->len);
    if (!copy)
        s_fail(p, tok->pos, "out of memory");
    return copy;
}

/* A key's text: the one copy of a recent key with the same text, or a fresh copy. */
static const char *s_key_of(s_parser_t *p, const s_token_t *tok)
{
    if (tok->len > S_KEY_SHARED)
        return s_word_of(p, tok);
    uint32_t hash = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < tok->len; i++)
        hash = (hash ^ (unsigned char)tok->text[i]) * 16777619u;
    const char **slot = &p->keys[hash % S_KEY_CACHE];
    if (*slot && strncmp(*slot, tok->text, tok->len) == 0 && (*slot)[tok->len] == '\0')
        return *slot;
    *slot = s_word_of(p, tok);
    return *slot;
}

static cs_value_t *s_parse_value(s_parser_t *p);

/* A number, true, false or null: its node ends after the 8 bytes of via it uses. */
#define S_SCALAR_SIZE (offsetof(cs_value_t, via) + sizeof(int64_t))

static cs_value_t *s_parse_number(s_parser_t *p)
{
    cs_value_t *v = s_alloc(p, S_SCALAR_SIZE);
    v->pos = p->tok.pos;
    char text[512];
    if (p->tok.len >= sizeof text)
        s_fail(p, v->pos, "number too long");
    memcpy(text, p->tok.text, p->tok.len);
    text[p->tok.len] = '\0';
    char *end;
    errno = 0;
    if (strpbrk(text, ".eE")) {
        v->type = CS_VAL_FLOAT;
        v->via.f = strtod(text, &end);
        if (errno == ERANGE && isinf(v->via.f))
            s_fail(p, v->pos, "number %s is out of range", p->secret ? S_NOT_SHOWN : text);
    } else {
        v->type = CS_VAL_INT;
        v->via.i = strtoll(text, &end, 10);
        if (errno == ERANGE)
            s_fail(p, v->pos, "integer %s is out of range (at most 64 bits)",
                   p->secret ? S_NOT_SHOWN : text);
    }
    s_next(p);
    return v;
}

/* A list or an object starts at its opening bracket: one level deeper. */
static cs_value_t *s_open_nested(s_parser_t *p, cs_value_type_t type)
{
    cs_value_t *v = s_alloc(p, sizeof *v);
    v->type = type;
    v->pos = p->tok.pos;
    s_enter(p);
    s_next(p);
    return v;
}

/* ... and ends after its closing one. */
static cs_value_t *s_close_nested(s_parser_t *p, cs_value_t *v)
{
    s_next(p);
    p->depth--;
    return v;
}

/* Skips newlines; whether the token is then close, the end of a list or an object. */
static bool s_at_close(s_parser_t *p, s_tok_type_t close)
{
    s_skip_newlines(p);
    return p->tok.type == close;
}

/* [ a, b, ] — newlines are free inside brackets. */
static cs_value_t *s_parse_list(s_parser_t *p)
{
    cs_value_t *v = s_open_nested(p, CS_VAL_LIST);
    size_t mark = p->stack_len;
    while (!s_at_close(p, T_RBRACKET)) {
        cs_value_t *item = s_parse_value(p);
        s_stack_push(p, &item, sizeof item);
        s_skip_newlines(p);
        if (p->tok.type == T_COMMA) {
            s_next(p);
            continue;
        }
        if (p->tok.type != T_RBRACKET)
            s_fail(p, p->tok.pos,
                   "expected ',' or ']' in the list that starts at line %d, "
                   "found %s",
                   v->pos.line, s_describe(p, &p->tok));
    }
    v->via.list.items = s_stack_take(p, mark, sizeof *v->via.list.items, &v->via.list.count);
    s_stack_shrink(p);
    return s_close_nested(p, v);
}

/* { k = v, k2 = v2 } — entries separated by commas or newlines. */
static cs_value_t *s_parse_object(s_parser_t *p)
{
    cs_value_t *v = s_open_nested(p, CS_VAL_OBJECT);
    size_t mark = p->stack_len;
    while (!s_at_close(p, T_RBRACE)) {
        if (p->tok.type != T_IDENT && p->tok.type != T_STRING)
            s_fail(p, p->tok.pos,
                   "expected a key or '}' in the object that starts at line %d, "
                   "found %s",
                   v->pos.line, s_describe(p, &p->tok));
        cs_attr_t entry = {s_key_of(p, &p->tok), NULL, p->tok.pos};
        bool hidden = p->secret > 0;
        bool secret = cs_secrets_name_is_secret(entry.key);
        p->secret += secret; /* from the token after the key to the one after the value */
        s_next(p);
        if (p->tok.type != T_EQUALS && p->tok.type != T_COLON)
            s_fail(p, p->tok.pos, "expected '=' after the key %s, found %s",
                   s_name(p, hidden, entry.key, strlen(entry.key)), s_describe(p, &p->tok));
        s_next(p);
        s_skip_newlines(p);
        entry.value = s_parse_value(p);
        s_stack_push(p, &entry, sizeof entry);
        if (p->tok.type != T_COMMA && p->tok.type != T_NEWLINE && p->tok.type != T_RBRACE)
            s_fail(p, p->tok.pos, "expected ',', a newline or '}' after the value of %s, found %s",
                   s_name(p, hidden, entry.key, strlen(entry.key)), s_describe(p, &p->tok));
        p->secret -= secret;
        if (p->tok.type != T_RBRACE)
            s_next(p);
    }
    v->via.object.items = s_stack_take(p, mark, sizeof *v->via.object.items, &v->via.object.count);
    return s_close_nested(p, v);
}

static cs_value_t *s_parse_value(s_parser_t *p)
{
    switch (p->tok.type) {
        case T_STRING: {
            cs_value_t *v = s_alloc(p, sizeof *v);
            v->type = CS_VAL_STRING;
            v->pos = p->tok.pos;
            v->via.str.ptr = p->tok.text;
            v->via.str.len = p->tok.len;
            s_next(p);
            return v;
        }
        case T_NUMBER:
            return s_parse_number(p);
        case T_LBRACKET:
            return s_parse_list(p);
        case T_LBRACE:
            return s_parse_object(p);
        case T_IDENT: {
            bool scalar = s_ident_is(&p->tok, "true") || s_ident_is(&p->tok, "false") ||
                          s_ident_is(&p->tok, "null");
            cs_value_t *v = s_alloc(p, scalar ? S_SCALAR_SIZE : sizeof *v);
            v->pos = p->tok.pos;
            if (s_ident_is(&p->tok, "true") || s_ident_is(&p->tok, "false")) {
                v->type = CS_VAL_BOOL;
                v->via.b = s_ident_is(&p->tok, "true");
            } else if (s_ident_is(&p->tok, "null")) {
                v->type = CS_VAL_NULL;
            } else if (s_peekc(p, 0) == '.' && s_is_ident_start(s_peekc(p, 1))) {
                /* a reference: NAME.NAME[.NAME...], read on from the end of the first name */
                const char *from = p->tok.text;
                while (s_peekc(p, 0) == '.' && s_is_ident_start(s_peekc(p, 1))) {
                    s_advance(p);
                    while (s_is_ident_char(s_peekc(p, 0)))
                        s_advance(p);
                }
                size_t len = (size_t)(p->text + p->at - from);
                if (len > 255)
                    s_fail(p, v->pos, "a reference is at most 255 bytes");
                v->type = CS_VAL_REFERENCE;
                v->via.str.ptr = cs_arena_strndup(p->arena, from, len);
                v->via.str.len = len;
                if (!v->via.str.ptr)
                    s_fail(p, v->pos, "out of memory");
            } else {
                s_fail(p, p->tok.pos,
                       "expected a value (string, number, true, false, null, list "
                       "or object), found %s; strings must be quoted",
                       s_describe(p, &p->tok));
            }
            s_next(p);
            return v;
        }
        default:
            s_fail(p, p->tok.pos,
                   "expected a value (string, number, true, false, null, list or "
                   "object), found %s",
                   s_describe(p, &p->tok));
    }
}

static int s_compare_attrs(const void *a, const void *b)
{
    const cs_attr_t *x = *(const cs_attr_t *const *)a, *y = *(const cs_attr_t *const *)b;
    int c = strcmp(x->key, y->key);
    if (c == 0)
        c = x->pos.line != y->pos.line ? x->pos.line - y->pos.line : x->pos.col - y->pos.col;
    return c;
}

/* Fails on the second of two attributes (or object keys) with the same name. The
 * attributes are those pushed on p->stack since mark (which this takes off); sorting them
 * there keeps this O(n log n), in no memory of the tree's, for hostile files with huge
 * bodies (a hash table could be attacked with chosen names). */
static void s_check_duplicates(s_parser_t *p, size_t mark, const char *what, bool hidden)
{
    size_t count = (p->stack_len - mark) / sizeof(cs_attr_t *);
    if (count < 2) {
        p->stack_len = mark;
        return; /* also: an empty object pushed nothing, and the stack may not exist yet */
    }
    cs_attr_t **attrs = (cs_attr_t **)(void *)(p->stack + mark);
    qsort(attrs, count, sizeof *attrs, s_compare_attrs);
    for (size_t i = 1; i < count; i++)
        if (strcmp(attrs[i - 1]->key, attrs[i]->key) == 0)
            s_fail(p, attrs[i]->pos, "%s %s is already defined at %s:%d:%d", what,
                   s_name(p, hidden, attrs[i]->key, strlen(attrs[i]->key)), attrs[i - 1]->pos.file,
                   attrs[i - 1]->pos.line, attrs[i - 1]->pos.col);
    p->stack_len = mark;
}

/* Duplicate keys in the objects of v; hidden: v is (part of) a secret's value. */
static void s_check_object_keys(s_parser_t *p, const cs_value_t *v, bool hidden)
{
    if (v->type == CS_VAL_LIST) {
        for (size_t i = 0; i < v->via.list.count; i++)
            s_check_object_keys(p, v->via.list.items[i], hidden);
    } else if (v->type == CS_VAL_OBJECT) {
        for (size_t i = 0; i < v->via.object.count; i++) {
            const cs_attr_t *entry = &v->via.object.items[i];
            s_check_object_keys(p, entry->value, hidden || cs_secrets_name_is_secret(entry->key));
        }
        size_t mark = p->stack_len;
        for (size_t i = 0; i < v->via.object.count; i++) {
            const cs_attr_t *entry = &v->via.object.items[i];
            s_stack_push(p, &entry, sizeof entry);
        }
        s_check_duplicates(p, mark, "key", hidden);
    }
}

/* A block's labels (strings or words before its '{'), at their exact size. */
static void s_take_labels(s_parser_t *p, cs_block_t *block)
{
    typedef struct {
        const char *text;
        cs_pos_t pos;
    } s_label_t;
    size_t mark = p->stack_len;
    while (p->tok.type == T_STRING || p->tok.type == T_IDENT) {
        s_label_t label = {p->tok.type == T_STRING ? p->tok.text : s_word_of(p, &p->tok),
                           p->tok.pos};
        s_stack_push(p, &label, sizeof label);
        s_next(p);
    }
    uint32_t n = (uint32_t)((p->stack_len - mark) / sizeof(s_label_t));
    if (n == 0)
        return;
    block->labels = s_alloc(p, n * sizeof *block->labels);
    block->label_pos = s_alloc(p, n * sizeof *block->label_pos);
    const s_label_t *labels = (const s_label_t *)(void *)(p->stack + mark);
    for (uint32_t i = 0; i < n; i++) {
        block->labels[i] = labels[i].text;
        block->label_pos[i] = labels[i].pos;
    }
    block->label_count = n;
    p->stack_len = mark;
}

const uint32_t *cs_hcl_sorted(const cs_block_t *block)
{
    return block->count >= 2 ? (const uint32_t *)(const void *)(block->items + block->count) : NULL;
}

/* Two keys in byte order; most equal keys are one shared copy (s_key), found without
 * reading them. */
static int s_compare_keys(const char *a, const char *b)
{
    return a == b ? 0 : strcmp(a, b);
}

/* Items (their indices) by key, then in written order. */
static int s_compare_items(const void *a, const void *b, void *items)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    const cs_item_t *all = items;
    int c = s_compare_keys(cs_hcl_item_key(&all[x]), cs_hcl_item_key(&all[y]));
    return c ? c : (x > y) - (x < y);
}

/* Sorts the count items of a body into sorted (their indices: cs_hcl_sorted), then fails on
 * the second of two attributes with the same name. One sort, O(n log n), for hostile files
 * with huge bodies (a hash table could be attacked with chosen names); the checks of
 * config.c and both JSON forms of canon.c read the order instead of sorting again. */
static void s_sort_body(s_parser_t *p, const cs_item_t *items, uint32_t count, uint32_t *sorted,
                        unsigned char *same)
{
    /* A body already in order (a file's top level of blocks of one type, most small
     * bodies) is its own order: one pass instead of a sort. */
    bool in_order = true;
    for (uint32_t i = 0; i < count; i++) {
        sorted[i] = i;
        if (i && in_order &&
            s_compare_keys(cs_hcl_item_key(&items[i - 1]), cs_hcl_item_key(&items[i])) > 0)
            in_order = false;
    }
    if (!in_order)
        qsort_r(sorted, count, sizeof *sorted, s_compare_items, (void *)items);
    for (uint32_t i = 1; i < count; i++)
        if (s_compare_keys(cs_hcl_item_key(&items[sorted[i]]),
                           cs_hcl_item_key(&items[sorted[i - 1]])) == 0)
            same[i / 8] |= (unsigned char)(1u << (i % 8));
    for (uint32_t run = 0, end; run < count; run = end) {
        const char *key = cs_hcl_item_key(&items[sorted[run]]);
        const cs_attr_t *first = NULL;
        for (end = run; end < count && (end == run || same[end / 8] >> (end % 8) & 1); end++) {
            const cs_attr_t *attr = items[sorted[end]].attr;
            if (attr && first)
                s_fail(p, attr->pos, "attribute %s is already defined at %s:%d:%d",
                       s_name(p, p->secret, key, strlen(key)), first->pos.file, first->pos.line,
                       first->pos.col);
            if (attr)
                first = attr;
        }
    }
}

/* A body: attributes and blocks, up to '}' (inside a block) or the end of the file. */
static void s_parse_body(s_parser_t *p, cs_item_t **items_p, uint32_t *count_p, bool in_block,
                         cs_pos_t opened)
{
    size_t mark = p->stack_len;
    for (;;) {
        s_skip_newlines(p);
        if (p->tok.type == T_EOF) {
            if (in_block)
                s_fail(p, opened, "this block has no closing '}'");
            break;
        }
        if (p->tok.type == T_RBRACE) {
            if (!in_block)
                s_fail(p, p->tok.pos, "unexpected '}' outside any block");
            break;
        }
        if (p->tok.type != T_IDENT)
            s_fail(p, p->tok.pos, "expected an attribute name or a block type, found %s",
                   s_describe(p, &p->tok));
        s_token_t name = p->tok;
        const char *key = s_key_of(p, &name);
        bool hidden = p->secret > 0; /* the name itself is part of a secret's value */
#define S_SHOWN s_name(p, hidden, key, strlen(key))
        /* A secret-named attribute or block: what follows its name is the secret's value. */
        bool secret = cs_secrets_name_is_secret(key);
        p->secret += secret;
        s_next(p);
        cs_item_t item = {NULL, NULL};
        if (p->tok.type == T_EQUALS) {
            cs_attr_t *attr = s_alloc(p, sizeof *attr);
            attr->key = key;
            attr->pos = name.pos;
            s_next(p);
            if (p->tok.type == T_NEWLINE || p->tok.type == T_EOF)
                s_fail(p, p->tok.pos, "expected a value after \"%s =\"",
                       hidden ? S_NOT_SHOWN : key);
            attr->value = s_parse_value(p);
            s_check_object_keys(p, attr->value, p->secret);
            /* An attribute ends at a newline, the end of the file, or a one-line block's '}'. */
            if (p->tok.type != T_NEWLINE && p->tok.type != T_EOF &&
                !(in_block && p->tok.type == T_RBRACE))
                s_fail(p, p->tok.pos, "expected a newline after the value of %s, found %s", S_SHOWN,
                       s_describe(p, &p->tok));
            item.attr = attr;
        } else if (p->tok.type == T_STRING || p->tok.type == T_IDENT || p->tok.type == T_LBRACE) {
            cs_block_t head = {.type = key, .pos = name.pos};
            s_take_labels(p, &head);
            size_t size = head.label_count ? sizeof head : offsetof(cs_block_t, labels);
            cs_block_t *block = s_alloc(p, size);
            memcpy(block, &head, size);
            if (p->tok.type != T_LBRACE)
                s_fail(p, p->tok.pos, "expected '{' to open the %s block, found %s", S_SHOWN,
                       s_describe(p, &p->tok));
            cs_pos_t brace = p->tok.pos;
            s_enter(p);
            s_next(p);
            s_parse_body(p, &block->items, &block->count, true, brace);
            block->end = (cs_line_col_t){p->tok.pos.line, p->tok.pos.col};
            p->depth--;
            s_next(p); /* the '}' */
            if (p->tok.type != T_NEWLINE && p->tok.type != T_EOF &&
                !(in_block && p->tok.type == T_RBRACE))
                s_fail(p, p->tok.pos, "expected a newline after the %s block, found %s", S_SHOWN,
                       s_describe(p, &p->tok));
            item.block = block;
        } else {
            s_fail(p, p->tok.pos, "expected '=' (attribute) or '{' (block) after %s, found %s",
                   S_SHOWN, s_describe(p, &p->tok));
        }
#undef S_SHOWN
        p->secret -= secret;
        s_stack_push(p, &item, sizeof item);
    }
    /* The items at their exact size, and after them their order by key (cs_hcl_sorted). */
    size_t count = (p->stack_len - mark) / sizeof(cs_item_t);
    *items_p = NULL;
    *count_p = (uint32_t)count;
    if (count == 0)
        return;
    /* the order, then a bit per item: its key is the previous one's (cs_hcl_same_key) */
    size_t order =
        count >= 2 ? ((count * sizeof(uint32_t) + 7) & ~(size_t)7) + ((count + 63) / 64) * 8 : 0;
    size_t size = count * sizeof(cs_item_t) + order;
    cs_item_t *items;
    if (count * sizeof *items >= S_STACK_KEEP) {
        items = s_stack_take_all(p, mark, size);
    } else {
        items = cs_arena_alloc(p->arena, size);
        if (!items)
            s_fail(p, s_here(p), "out of memory");
        memcpy(items, p->stack + mark, count * sizeof *items);
        p->stack_len = mark;
        s_stack_shrink(p);
    }
    *items_p = items;
    if (count >= 2) {
        uint32_t *sorted = (uint32_t *)(void *)(items + count);
        unsigned char *same =
            (unsigned char *)(void *)sorted + ((count * sizeof *sorted + 7) & ~(size_t)7);
        memset(same, 0, ((count + 63) / 64) * 8);
        s_sort_body(p, items, (uint32_t)count, sorted, same);
    }
}

/* Position (line, column) of byte offset `at`, for errors found before lexing. */
static cs_pos_t s_pos_of(const char *file, const char *text, size_t at)
{
    cs_pos_t pos = {file, 1, 1};
    for (size_t i = 0; i < at; i++) {
        if (text[i] == '\n') {
            pos.line++;
            pos.col = 1;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            pos.col++;
        }
    }
    return pos;
}

cs_hcl_file_t *cs_hcl_parse(cs_arena_t *arena, const char *file, const char *text, size_t len,
                            cs_config_error_t *error)
{
    s_parser_t *p = calloc(1, sizeof *p); /* jmp_buf is large: keep it off small stacks */
    if (!p) {
        *error = (cs_config_error_t){file, 1, 1, "out of memory"};
        return NULL;
    }
    /* A UTF-8 byte-order mark (editors on Windows write one) is not part of the text. */
    size_t bom = len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    p->arena = arena;
    p->file = file;
    p->text = text + bom;
    p->len = len - bom;
    p->line = 1;
    p->col = 1;
    p->error = error;
    cs_hcl_file_t *result = NULL;
    if (setjmp(p->fail) == 0) {
        if (p->len > CS_CONFIG_MAX_FILE)
            s_fail(p, s_here(p), "file is larger than %u MiB", CS_CONFIG_MAX_FILE >> 20);
        /* Valid UTF-8 without NUL bytes, checked up front so the lexer can trust it. */
        size_t valid = cs_utf8_prefix(p->text, p->len);
        const char *nul = memchr(p->text, '\0', valid);
        if (nul || valid < p->len) {
            size_t bad = nul ? (size_t)(nul - p->text) : valid;
            cs_pos_t pos = s_pos_of(file, p->text, bad);
            s_fail(p, pos,
                   nul ? "NUL byte in the file" : "invalid UTF-8 (the file must be UTF-8 text)");
        }
        cs_hcl_file_t *tree = s_alloc(p, sizeof *tree);
        tree->file = file;
        s_next(p);
        s_parse_body(p, &tree->items, &tree->count, false, s_here(p));
        result = tree;
    }
    free(p->stack);
    free(p);
    return result;
}
