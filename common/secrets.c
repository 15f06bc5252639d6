/* Secrets of a connection's config, and masking them in texts before any cut. */
#include "common.h"

#include "cs_secrets.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    char *value;
    size_t len;
} s_secret_t;

struct cs_secrets {
    s_secret_t *items; /* longest first */
    size_t count;
    size_t cap;
};

static const char *const s_secret_words[] = {"password", "secret", "token", "key", "credential"};

bool cs_secrets_name_is_secret(const char *name)
{
    if (!name)
        return false;
    /* One pass: each word is tried only where its first letter is (the loader asks this of
     * every key of a file). */
    for (const char *at = name; *at; at++) {
        char c = (char)tolower((unsigned char)*at);
        for (size_t i = 0; i < sizeof s_secret_words / sizeof *s_secret_words; i++)
            if (s_secret_words[i][0] == c &&
                strncasecmp(at, s_secret_words[i], strlen(s_secret_words[i])) == 0)
                return true;
    }
    return false;
}

cs_secrets_t *cs_secrets_new(void)
{
    return calloc(1, sizeof(cs_secrets_t));
}

void cs_secrets_destroy(cs_secrets_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_secrets_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        free(self->items[i].value);
    free(self->items);
    free(self);
    *self_p = NULL;
}

int cs_secrets_add(cs_secrets_t *self, const char *value, size_t len)
{
    if (len == 0)
        return 0;
    size_t at = 0; /* kept sorted: longest first, so that the order of masking is stable */
    for (; at < self->count && self->items[at].len >= len; at++)
        if (self->items[at].len == len && memcmp(self->items[at].value, value, len) == 0)
            return 0;
    s_secret_t *grown = cs_grow(self->items, self->count, &self->cap, 8, sizeof *grown);
    if (!grown)
        return -1;
    self->items = grown;
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, value, len);
    copy[len] = '\0';
    memmove(&self->items[at + 1], &self->items[at], (self->count - at) * sizeof *self->items);
    self->items[at] = (s_secret_t){copy, len};
    self->count++;
    return 0;
}

size_t cs_secrets_count(const cs_secrets_t *self)
{
    return self ? self->count : 0;
}

size_t cs_secrets_max_len(const cs_secrets_t *self)
{
    return self && self->count ? self->items[0].len : 0;
}

/* A string secret, as written and as JSON writes it inside quotes: connstate's own
 * encoding (UTF-8 kept), and the ASCII-only one of many JSON libraries, with upper- and
 * lower-case hex digits in its \\uXXXX escapes. */
static int s_add_string(cs_secrets_t *self, const char *text, size_t len)
{
    if (cs_secrets_add(self, text, len) != 0)
        return -1;
    cs_buf_t escaped = {0};
    cs_buf_json_string(&escaped, text, len);
    int rc = escaped.failed ? -1 : cs_secrets_add(self, escaped.data + 1, escaped.len - 2);
    cs_buf_free(&escaped);
    json_t *string = json_stringn(text, len);
    char *ascii = string ? json_dumps(string, JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : NULL;
    size_t ascii_len = ascii ? strlen(ascii) : 0;
    if (ascii_len >= 2) {
        if (cs_secrets_add(self, ascii + 1, ascii_len - 2) != 0)
            rc = -1;
        for (size_t i = 0; i + 6 <= ascii_len; i++) {
            if (ascii[i] == '\\' && ascii[i + 1] == 'u')
                for (size_t j = i + 2; j < i + 6; j++)
                    ascii[j] = (char)tolower((unsigned char)ascii[j]);
            if (ascii[i] == '\\')
                i++; /* an escaped backslash is not the start of an escape */
        }
        if (cs_secrets_add(self, ascii + 1, ascii_len - 2) != 0)
            rc = -1;
    }
    free(ascii);
    json_decref(string);
    return rc;
}

/* A real number as connstate writes it (%.17g) and in its shortest exact form. */
static int s_add_real(cs_secrets_t *self, double value)
{
    char text[40];
    snprintf(text, sizeof text, "%.17g", value);
    if (cs_secrets_add(self, text, strlen(text)) != 0)
        return -1;
    for (int precision = 1; precision < 17 && isfinite(value); precision++) {
        snprintf(text, sizeof text, "%.*g", precision, value);
        if (strtod(text, NULL) == value)
            return cs_secrets_add(self, text, strlen(text));
    }
    return 0;
}

/* Collects every string and number under value; secret: value is under a secret name. */
static int s_collect(cs_secrets_t *self, json_t *value, bool secret)
{
    const char *key;
    json_t *member;
    size_t index;
    char text[32];
    switch (json_typeof(value)) {
        case JSON_OBJECT:
            json_object_foreach(value, key, member)
            {
                if (s_collect(self, member, secret || cs_secrets_name_is_secret(key)) != 0)
                    return -1;
            }
            return 0;
        case JSON_ARRAY:
            json_array_foreach(value, index, member)
            {
                if (s_collect(self, member, secret) != 0)
                    return -1;
            }
            return 0;
        case JSON_STRING:
            return secret ? s_add_string(self, json_string_value(value), json_string_length(value))
                          : 0;
        case JSON_INTEGER:
            snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
            return secret ? cs_secrets_add(self, text, strlen(text)) : 0;
        case JSON_REAL:
            return secret ? s_add_real(self, json_real_value(value)) : 0;
        default:
            return 0; /* true, false, null: not secrets, and too common to mask */
    }
}

cs_secrets_t *cs_secrets_from_config(const char *config_json)
{
    cs_secrets_t *self = cs_secrets_new();
    if (!self || !config_json)
        return self;
    json_t *doc = json_loads(config_json, JSON_DECODE_ANY, NULL);
    int rc = doc ? s_collect(self, doc, false) : 0;
    json_decref(doc);
    if (rc != 0)
        cs_secrets_destroy(&self);
    return self;
}

/* Marks in covered[] the bytes of every occurrence of every secret (overlaps included),
 * and with flags the part of a secret left at a cut edge. */
static void s_cover(const cs_secrets_t *self, const char *text, size_t len, unsigned flags,
                    bool *covered)
{
    for (size_t s = 0; s < self->count; s++) {
        const char *secret = self->items[s].value;
        size_t slen = self->items[s].len;
        const char *at = text, *end = text + len, *hit;
        while (at < end && (hit = memmem(at, (size_t)(end - at), secret, slen)) != NULL) {
            memset(covered + (hit - text), 1, slen);
            at = hit + 1;
        }
        /* A cut start may hold the secret's last k bytes; a cut end its first k bytes. */
        for (size_t k = slen - 1; (flags & CS_SECRETS_CUT_START) && k > 0; k--) {
            if (k <= len && memcmp(text, secret + slen - k, k) == 0) {
                memset(covered, 1, k);
                break;
            }
        }
        for (size_t k = slen - 1; (flags & CS_SECRETS_CUT_END) && k > 0; k--) {
            if (k <= len && memcmp(text + len - k, secret, k) == 0) {
                memset(covered + len - k, 1, k);
                break;
            }
        }
    }
}

char *cs_secrets_mask(const cs_secrets_t *self, const char *text, size_t len, unsigned flags,
                      size_t *out_len)
{
    bool *covered = calloc(len ? len : 1, sizeof *covered);
    if (!covered)
        return NULL;
    if (self)
        s_cover(self, text, len, flags, covered);
    cs_buf_t out = {0};
    for (size_t i = 0; i < len;) {
        size_t run = i;
        while (run < len && covered[run] == covered[i])
            run++;
        if (covered[i])
            cs_buf_puts(&out, CS_SECRETS_MASK);
        else
            cs_buf_append(&out, text + i, run - i);
        i = run;
    }
    free(covered);
    if (out.failed) {
        cs_buf_free(&out);
        return NULL;
    }
    if (out_len)
        *out_len = out.len;
    return cs_buf_take(&out);
}

int cs_secrets_mask_into(const cs_secrets_t *self, const char *text, size_t len, char *out,
                         size_t size)
{
    if (size == 0)
        return 0;
    char *masked = cs_secrets_mask(self, text, len, 0, &len);
    if (!masked) {
        snprintf(out, size, "(text withheld: out of memory while masking secrets)");
        return -1;
    }
    size_t n = len < size - 1 ? len : size - 1;
    memcpy(out, masked, n);
    out[n] = '\0';
    free(masked);
    return 0;
}

int cs_secrets_mask_str(const cs_secrets_t *self, char *text, size_t size)
{
    if (size == 0 || cs_secrets_count(self) == 0)
        return 0;
    size_t len = strnlen(text, size - 1);
    char *copy = malloc(len + 1);
    if (!copy) {
        snprintf(text, size, "(text withheld: out of memory while masking secrets)");
        return -1;
    }
    memcpy(copy, text, len);
    int rc = cs_secrets_mask_into(self, copy, len, text, size);
    free(copy);
    return rc;
}
