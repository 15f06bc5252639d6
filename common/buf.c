/* A growable NUL-terminated byte buffer shared by JSON output, SQL building and messages. */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool s_reserve(cs_buf_t *self, size_t extra)
{
    if (self->failed)
        return false;
    if (extra > (size_t)-1 / 2 - self->len) {
        self->failed = true;
        return false;
    }
    size_t need = self->len + extra + 1;
    if (need <= self->cap)
        return true;
    size_t cap = self->cap ? self->cap : 64;
    while (cap < need)
        cap *= 2;
    char *data = realloc(self->data, cap);
    if (!data) {
        self->failed = true;
        return false;
    }
    self->data = data;
    self->cap = cap;
    return true;
}

void cs_buf_append(cs_buf_t *self, const void *data, size_t len)
{
    if (!s_reserve(self, len))
        return;
    if (len)
        memcpy(self->data + self->len, data, len);
    self->len += len;
    self->data[self->len] = '\0';
}

void cs_buf_puts(cs_buf_t *self, const char *text)
{
    cs_buf_append(self, text, strlen(text));
}

void cs_buf_putc(cs_buf_t *self, char c)
{
    if (!self->failed && self->len + 1 < self->cap) { /* room for c and the NUL */
        self->data[self->len++] = c;
        self->data[self->len] = '\0';
        return;
    }
    cs_buf_append(self, &c, 1);
}

void cs_buf_printf(cs_buf_t *self, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    int need = vsnprintf(NULL, 0, fmt, args);
    va_end(args);
    if (need < 0 || !s_reserve(self, (size_t)need))
        return;
    va_start(args, fmt);
    vsnprintf(self->data + self->len, (size_t)need + 1, fmt, args);
    va_end(args);
    self->len += (size_t)need;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when it is not valid UTF-8. */
static size_t s_utf8_length(const unsigned char *p, size_t avail)
{
    size_t len;
    unsigned min;
    if (p[0] < 0x80)
        return 1;
    else if ((p[0] & 0xE0) == 0xC0)
        len = 2, min = 0x80;
    else if ((p[0] & 0xF0) == 0xE0)
        len = 3, min = 0x800;
    else if ((p[0] & 0xF8) == 0xF0)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > avail)
        return 0;
    unsigned cp = p[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

void cs_buf_json_text(cs_buf_t *self, const char *text)
{
    if (text)
        cs_buf_json_string(self, text, strlen(text));
    else
        cs_buf_puts(self, "null");
}

void cs_buf_json_string(cs_buf_t *self, const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    cs_buf_putc(self, '"');
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t plain = i; /* printable ASCII that needs no escape: appended as one run */
        while (plain < len && p[plain] >= 0x20 && p[plain] < 0x7F && p[plain] != '"' &&
               p[plain] != '\\')
            plain++;
        if (plain > i) {
            cs_buf_append(self, p + i, plain - i);
            i = plain;
            continue;
        }
        if (c == '"' || c == '\\') {
            cs_buf_putc(self, '\\');
            cs_buf_putc(self, (char)c);
            i++;
        } else if (c == '\n') {
            cs_buf_puts(self, "\\n"), i++;
        } else if (c == '\t') {
            cs_buf_puts(self, "\\t"), i++;
        } else if (c == '\r') {
            cs_buf_puts(self, "\\r"), i++;
        } else if (c < 0x20 || c == 0x7F) {
            cs_buf_printf(self, "\\u%04x", c), i++;
        } else {
            size_t n = s_utf8_length(p + i, len - i);
            if (n == 0) {
                cs_buf_printf(self, "\\u%04x", c); /* a stray byte, shown as its Latin-1 code */
                i++;
            } else {
                cs_buf_append(self, p + i, n);
                i += n;
            }
        }
    }
    cs_buf_putc(self, '"');
}

void cs_buf_time(cs_buf_t *self, int64_t time_us)
{
    time_t seconds = (time_t)(time_us / 1000000);
    long micros = (long)(time_us % 1000000);
    if (micros < 0) {
        micros += 1000000;
        seconds--;
    }
    struct tm tm;
    gmtime_r(&seconds, &tm);
    char text[40];
    strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
    cs_buf_printf(self, "%s.%06ldZ", text, micros);
}

const char *cs_buf_str(const cs_buf_t *self)
{
    return self->data ? self->data : "";
}

char *cs_buf_take(cs_buf_t *self)
{
    char *data = self->data;
    if (self->failed || !data) {
        free(data);
        data = self->failed ? NULL : strdup("");
    }
    *self = (cs_buf_t){0};
    return data;
}

void cs_buf_reset(cs_buf_t *self)
{
    self->len = 0;
    self->failed = false;
    if (self->data)
        self->data[0] = '\0';
}

void cs_buf_free(cs_buf_t *self)
{
    free(self->data);
    *self = (cs_buf_t){0};
}

void *cs_grow(void *items, size_t count, size_t *cap, size_t first, size_t elem_size)
{
    if (count < *cap)
        return items;
    size_t fresh_cap = *cap ? *cap * 2 : first;
    if (fresh_cap > SIZE_MAX / elem_size)
        return NULL;
    void *grown = realloc(items, fresh_cap * elem_size);
    if (grown)
        *cap = fresh_cap;
    return grown;
}

size_t cs_utf8_prefix(const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t i = 0;
    while (i < len) {
        size_t n = s_utf8_length(p + i, len - i);
        if (n == 0)
            break;
        i += n;
    }
    return i;
}

bool cs_utf8_valid(const void *data, size_t len)
{
    return cs_utf8_prefix(data, len) == len;
}

void cs_utf8_sanitize(char *text)
{
    unsigned char *p = (unsigned char *)text;
    size_t len = strlen(text);
    size_t i = 0;
    while (i < len) {
        size_t n = s_utf8_length(p + i, len - i);
        if (n == 0 || (n == 1 && ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\t') || p[i] == 0x7F))) {
            p[i++] = '?';
            continue;
        }
        i += n;
    }
}
