/* cs_buf: a growable, always NUL-terminated byte buffer (text, JSON and SQL building).
 * The buffer owns its memory; none of these functions blocks. */
#ifndef CS_BUF_H
#define CS_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data;  /* NUL-terminated; NULL until the first append */
    size_t len;  /* bytes used, not counting the NUL */
    size_t cap;  /* bytes allocated */
    bool failed; /* an allocation failed: contents are incomplete */
} cs_buf_t;

/* A cs_buf_t needs no constructor: `cs_buf_t buf = {0};` is an empty buffer. */

/* Appends bytes / a C string / formatted text. On allocation failure the buffer
 * keeps what it had and sets failed; later appends do nothing. */
void cs_buf_append(cs_buf_t *self, const void *data, size_t len);
void cs_buf_puts(cs_buf_t *self, const char *text);
void cs_buf_putc(cs_buf_t *self, char c);
void cs_buf_printf(cs_buf_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends text as a JSON string literal, quotes included; control characters and
 * invalid UTF-8 bytes are escaped (\u00XX), so the output is always valid JSON. */
void cs_buf_json_string(cs_buf_t *self, const char *text, size_t len);
/* The same for a C string, and null (the JSON literal) for NULL. */
void cs_buf_json_text(cs_buf_t *self, const char *text);

/* Appends a time (microseconds since the epoch) as ISO 8601 UTC: 2026-11-26T17:03:08.123456Z */
void cs_buf_time(cs_buf_t *self, int64_t time_us);

/* Returns the contents ("" when empty); borrowed, valid until the next append. */
const char *cs_buf_str(const cs_buf_t *self);

/* Hands the contents to the caller (free() it) and empties the buffer; NULL on failure. */
char *cs_buf_take(cs_buf_t *self);

/* Empties the buffer, keeping its memory. */
void cs_buf_reset(cs_buf_t *self);

/* Frees the memory; the buffer is empty and reusable afterwards. */
void cs_buf_free(cs_buf_t *self);

/* Returns items when count < *cap, else items realloc()ed to twice *cap (first when *cap is 0)
 * with *cap updated; NULL when out of memory (items is then as it was, still the caller's).
 * The heap's cs_arena_grow, for vectors of elem_size items:
 * grown = cs_grow(items, count, &cap, 16, sizeof *items); if (!grown) fail; items = grown */
void *cs_grow(void *items, size_t count, size_t *cap, size_t first, size_t elem_size);

/* Returns true when data holds len bytes of valid UTF-8 (no overlongs, no surrogates). */
bool cs_utf8_valid(const void *data, size_t len);

/* Returns the length of the longest prefix of data that is valid UTF-8. */
size_t cs_utf8_prefix(const void *data, size_t len);

/* Replaces, in place, every byte of text that is not part of valid UTF-8, and every
 * control character other than newline and tab, with '?'. */
void cs_utf8_sanitize(char *text);

#endif
