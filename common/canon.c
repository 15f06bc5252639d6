/* A connection's config as JSON: as written for the plugin, and canonical for its fingerprint. */
#include "common.h"

#include "cs_canon.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void s_json_value(cs_buf_t *out, const cs_value_t *v, bool canonical);

static int s_compare_attr_keys(const void *a, const void *b)
{
    return strcmp((*(const cs_attr_t *const *)a)->key, (*(const cs_attr_t *const *)b)->key);
}

/* An integer in decimal, as printf's %lld writes it (without its cost per number). */
static void s_json_int(cs_buf_t *out, int64_t i)
{
    char text[24], *at = text + sizeof text;
    uint64_t magnitude = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
    do {
        *--at = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (i < 0)
        *--at = '-';
    cs_buf_append(out, at, (size_t)(text + sizeof text - at));
}

static void s_json_float(cs_buf_t *out, double f)
{
    char text[40];
    snprintf(text, sizeof text, "%.17g", f);
    cs_buf_puts(out, text);
    if (!strpbrk(text, ".eEn")) /* keep 1.0 a float: not the integer 1 */
        cs_buf_puts(out, ".0");
}

static void s_json_object(cs_buf_t *out, const cs_value_t *v, bool canonical)
{
    size_t n = v->via.object.count;
    const cs_attr_t **order = malloc((n ? n : 1) * sizeof *order);
    if (!order) {
        out->failed = true;
        return;
    }
    for (size_t i = 0; i < n; i++)
        order[i] = &v->via.object.items[i];
    if (canonical)
        qsort(order, n, sizeof *order, s_compare_attr_keys);
    cs_buf_putc(out, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            cs_buf_putc(out, ',');
        cs_buf_json_string(out, order[i]->key, strlen(order[i]->key));
        cs_buf_putc(out, ':');
        s_json_value(out, order[i]->value, canonical);
    }
    cs_buf_putc(out, '}');
    free(order);
}

static void s_json_value(cs_buf_t *out, const cs_value_t *v, bool canonical)
{
    switch (v->type) {
        case CS_VAL_STRING:
        case CS_VAL_REFERENCE: /* as its text: plugin.aws_high */
            cs_buf_json_string(out, v->via.str.ptr, v->via.str.len);
            break;
        case CS_VAL_INT:
            s_json_int(out, v->via.i);
            break;
        case CS_VAL_FLOAT:
            s_json_float(out, v->via.f);
            break;
        case CS_VAL_BOOL:
            cs_buf_puts(out, v->via.b ? "true" : "false");
            break;
        case CS_VAL_NULL:
            cs_buf_puts(out, "null");
            break;
        case CS_VAL_LIST:
            cs_buf_putc(out, '[');
            for (size_t i = 0; i < v->via.list.count; i++) {
                if (i)
                    cs_buf_putc(out, ',');
                s_json_value(out, v->via.list.items[i], canonical);
            }
            cs_buf_putc(out, ']');
            break;
        case CS_VAL_OBJECT:
            s_json_object(out, v, canonical);
            break;
    }
}

static void s_json_body(cs_buf_t *out, const cs_block_t *block, bool top, bool canonical);

/* One key of a body: an attribute's value, or the blocks of one type as an array of
 * objects in written order (blocks[0..count), item indices of body; NULL for an
 * attribute). */
static void s_json_key(cs_buf_t *out, const cs_block_t *body, const cs_item_t *item,
                       const uint32_t *blocks, uint32_t count, bool canonical)
{
    const char *key = cs_hcl_item_key(item);
    cs_buf_json_string(out, key, strlen(key));
    cs_buf_putc(out, ':');
    if (item->attr) {
        s_json_value(out, item->attr->value, canonical);
        return;
    }
    cs_buf_putc(out, '[');
    for (uint32_t i = 0; i < count; i++) {
        if (i)
            cs_buf_putc(out, ',');
        s_json_body(out, body->items[blocks[i]].block, false, canonical);
    }
    cs_buf_putc(out, ']');
}

/* The end of the run of items with the key of sorted[run]: equal keys are neighbours. */
static uint32_t s_run_end(const cs_block_t *body, uint32_t run)
{
    uint32_t end = run + 1;
    while (end < body->count && cs_hcl_same_key(body, end))
        end++;
    return end;
}

/* The blocks of the run of sorted[run] (equal keys, in written order), as item indices:
 * the run itself in a valid body, which has no attribute of a block's name; else a copy of
 * its blocks in *copy (the caller frees it). NULL when out of memory. */
static const uint32_t *s_run_blocks(const cs_block_t *body, const uint32_t *sorted, uint32_t run,
                                    uint32_t *count, uint32_t **copy)
{
    uint32_t end = s_run_end(body, run), blocks = 0;
    *copy = NULL;
    for (uint32_t i = run; i < end; i++)
        blocks += body->items[sorted[i]].block != NULL;
    *count = blocks;
    if (blocks == end - run)
        return &sorted[run];
    *copy = malloc((blocks ? blocks : 1) * sizeof **copy);
    if (!*copy)
        return NULL;
    blocks = 0;
    for (uint32_t i = run; i < end; i++)
        if (body->items[sorted[i]].block)
            (*copy)[blocks++] = sorted[i];
    return *copy;
}

/* The keys of a body in canonical order: by key, as the parser sorted them. */
static void s_json_sorted_keys(cs_buf_t *out, const cs_block_t *body, bool top, bool comma)
{
    const uint32_t *sorted = cs_hcl_sorted(body);
    for (uint32_t run = 0, end; run < body->count; run = end) {
        end = s_run_end(body, run);
        bool blocks = false;
        for (uint32_t i = run; i < end; i++) {
            const cs_item_t *item = &body->items[sorted[i]];
            if (item->block) {
                blocks = true;
            } else if (!(top && cs_config_reserved(item->attr->key))) {
                if (comma)
                    cs_buf_putc(out, ',');
                comma = true;
                s_json_key(out, body, item, NULL, 1, true);
            }
        }
        if (!blocks)
            continue;
        uint32_t count, *copy;
        const uint32_t *members = s_run_blocks(body, sorted, run, &count, &copy);
        if (!members) {
            out->failed = true;
            return;
        }
        if (comma)
            cs_buf_putc(out, ',');
        comma = true;
        s_json_key(out, body, &body->items[members[0]], members, count, true);
        free(copy);
    }
}

/* The keys of a body in written order: each attribute, and the blocks of each type where
 * the first of them was written. Returns false when out of memory. */
static bool s_json_written_keys(cs_buf_t *out, const cs_block_t *body, bool top, bool comma)
{
    const uint32_t *sorted = cs_hcl_sorted(body);
    if (!sorted) {
        if (body->count == 1 &&
            !(body->items[0].attr && top && cs_config_reserved(body->items[0].attr->key))) {
            if (comma)
                cs_buf_putc(out, ',');
            uint32_t only = 0;
            s_json_key(out, body, &body->items[0], &only, 1, false);
        }
        return true;
    }
    /* run[i]: for the first block of each type, where its run starts in sorted; UINT32_MAX
     * for the other blocks of its type (written with the first). Only bodies with blocks
     * need it. */
    uint32_t *run = NULL;
    for (uint32_t i = 0; i < body->count && !run; i++)
        if (body->items[i].block && !(run = malloc(body->count * sizeof *run)))
            return false;
    if (run) {
        for (uint32_t start = 0, end; start < body->count; start = end) {
            end = s_run_end(body, start);
            bool first = true;
            for (uint32_t i = start; i < end; i++) {
                if (!body->items[sorted[i]].block)
                    continue;
                run[sorted[i]] = first ? start : UINT32_MAX;
                first = false;
            }
        }
    }
    bool ok = true;
    for (uint32_t i = 0; i < body->count && ok; i++) {
        const cs_item_t *item = &body->items[i];
        if (item->attr ? top && cs_config_reserved(item->attr->key) : run[i] == UINT32_MAX)
            continue;
        if (comma)
            cs_buf_putc(out, ',');
        comma = true;
        if (item->attr) {
            s_json_key(out, body, item, NULL, 1, false);
            continue;
        }
        uint32_t count, *copy;
        const uint32_t *members = s_run_blocks(body, sorted, run[i], &count, &copy);
        if (members)
            s_json_key(out, body, item, members, count, false);
        ok = members != NULL;
        free(copy);
    }
    free(run);
    return ok;
}

/* A block body as a JSON object: attributes as keys, nested blocks grouped by type under
 * their type as arrays; a nested block's labels under "_labels". The top-level body of a
 * connection leaves out the attributes connstate interprets. Canonical: keys sorted. Both
 * read the order the parser sorted the body in: nothing is sorted again. */
static void s_json_body(cs_buf_t *out, const cs_block_t *block, bool top, bool canonical)
{
    cs_buf_putc(out, '{');
    bool comma = false;
    if (!top && block->label_count) {
        cs_buf_puts(out, "\"_labels\":[");
        for (size_t i = 0; i < block->label_count; i++) {
            if (i)
                cs_buf_putc(out, ',');
            cs_buf_json_string(out, block->labels[i], strlen(block->labels[i]));
        }
        cs_buf_putc(out, ']');
        comma = true;
    }
    if (canonical && block->count >= 2)
        s_json_sorted_keys(out, block, top, comma);
    else if (!s_json_written_keys(out, block, top, comma))
        out->failed = true;
    cs_buf_putc(out, '}');
}

void cs_canon_config_json(cs_buf_t *out, const cs_block_t *block)
{
    s_json_body(out, block, true, false);
}

void cs_canon_config_canonical(cs_buf_t *out, const cs_block_t *block)
{
    s_json_body(out, block, true, true);
}

/* Where the canonical form cannot be made by sorting every object of the config as written
 * (s_sorted_value), and is stored: a key "_labels" of its own (an attribute, block type or
 * object key, which JSON does not tell from a block's labels), or, below a nested block of
 * fewer than two items, whose body and all below it are written as they are (s_json_body),
 * something sorting would change (a body of two items or more, an object of two keys or
 * more). */
typedef struct {
    bool labels_key; /* a key "_labels" of its own */
    bool sortable;   /* a body or object of two items or more */
} s_shape_t;

static void s_value_shape(const cs_value_t *v, s_shape_t *shape)
{
    if (v->type == CS_VAL_LIST)
        for (size_t i = 0; i < v->via.list.count; i++)
            s_value_shape(v->via.list.items[i], shape);
    if (v->type != CS_VAL_OBJECT)
        return;
    shape->sortable |= v->via.object.count >= 2;
    for (size_t i = 0; i < v->via.object.count; i++) {
        shape->labels_key |= strcmp(v->via.object.items[i].key, "_labels") == 0;
        s_value_shape(v->via.object.items[i].value, shape);
    }
}

/* The shape of what is below a body; true when its canonical form is to be stored. */
static bool s_body_shape(const cs_block_t *block, s_shape_t *shape)
{
    s_shape_t below = {false, false};
    for (uint32_t i = 0; i < block->count; i++) {
        const cs_item_t *item = &block->items[i];
        below.labels_key |= strcmp(cs_hcl_item_key(item), "_labels") == 0;
        if (item->attr)
            s_value_shape(item->attr->value, &below);
        else if (s_body_shape(item->block, &below))
            return true;
    }
    if (below.labels_key || (block->count < 2 && below.sortable))
        return true;
    shape->sortable |= below.sortable || block->count >= 2;
    return false;
}

void cs_canon_config_forms(cs_buf_t *out, const cs_block_t *block)
{
    s_json_body(out, block, true, false);
    cs_buf_putc(out, '\0');
    s_shape_t shape = {false, false};
    if (s_body_shape(block, &shape))
        s_json_body(out, block, true, true);
}

/* ---- the canonical form, from the form as written -------------------------------------- */

/* A fingerprint's canonical form goes to its digest in pieces of about S_SPILL bytes, so that
 * the form of a large connection is never held whole (cs_canon_fingerprint). */
#define S_SPILL (64 * 1024)

/* Where a canonical form is written: a buffer, handed to the digest when there is one. */
typedef struct {
    cs_buf_t *buf;
    cs_digest_t *digest;
} s_sink_t;

static void s_spill(s_sink_t *sink, size_t at_least)
{
    if (!sink->digest || sink->buf->len < at_least || sink->buf->failed)
        return;
    cs_digest_update(sink->digest, sink->buf->data, sink->buf->len);
    cs_buf_reset(sink->buf);
}

/* The JSON below is the config as written, as this file writes it (no spaces; strings as
 * cs_buf_json_string escapes them): read with no checks. */

static const char *s_string_end(const char *p)
{
    for (p++; *p != '"'; p++)
        if (*p == '\\')
            p++;
    return p + 1;
}

/* The end of the value at p. */
static const char *s_value_end(const char *p)
{
    if (*p != '"' && *p != '[' && *p != '{') { /* a number, true, false or null */
        while (*p && *p != ',' && *p != ']' && *p != '}')
            p++;
        return p;
    }
    int depth = 0;
    do {
        if (*p == '"') {
            p = s_string_end(p);
            continue;
        }
        depth += (*p == '[' || *p == '{') - (*p == ']' || *p == '}');
        p++;
    } while (depth > 0);
    return p;
}

static int s_hex(char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* The next byte of a string's text at *p (past its opening quote), or -1 at its end: the byte
 * that cs_buf_json_string escaped, where it did. */
static int s_text_byte(const char **p)
{
    const char *at = *p;
    if (*at == '"')
        return -1;
    if (*at != '\\') {
        *p = at + 1;
        return (unsigned char)*at;
    }
    *p = at + 2;
    switch (at[1]) {
        case 'n':
            return '\n';
        case 't':
            return '\t';
        case 'r':
            return '\r';
        case 'u': /* \u00XX: a control character or a byte that is not UTF-8 */
            *p = at + 6;
            return s_hex(at[4]) << 4 | s_hex(at[5]);
        default: /* \" or \\ */
            return (unsigned char)at[1];
    }
}

/* Two keys (at their opening quotes) in the order of strcmp over their texts, as the
 * canonical form sorts them. */
static int s_compare_texts(const char *a, const char *b)
{
    a++, b++;
    while (*a == *b && *a != '"' && *a != '\\') /* the same, and no escape: as they are */
        a++, b++;
    if (*a != '"' && *a != '\\' && *b != '"' && *b != '\\')
        return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
    for (;;) {
        int x = s_text_byte(&a), y = s_text_byte(&b);
        if (x != y)
            return x < y ? -1 : 1;
        if (x < 0)
            return 0;
    }
}

/* Members of one object, by their offsets from its opening brace. */
static int s_compare_members(const void *a, const void *b, void *object)
{
    return s_compare_texts((const char *)object + *(const uint32_t *)a,
                           (const char *)object + *(const uint32_t *)b);
}

/* Writes the value at *at (moved past it) with every object's members sorted by key: the
 * canonical form of the config as written. A block's "_labels" stays first; no key is
 * written twice in an object, and a key "_labels" is only a block's labels (else the
 * canonical form is stored: cs_canon_config_forms). */
static void s_sorted_value(s_sink_t *sink, const char **at)
{
    const char *p = *at;
    if (*p == '[') {
        cs_buf_putc(sink->buf, '[');
        for (p++; *p != ']';) {
            if (*p == ',')
                cs_buf_putc(sink->buf, *p++);
            s_sorted_value(sink, &p);
            s_spill(sink, S_SPILL);
        }
        cs_buf_putc(sink->buf, ']');
        *at = p + 1;
        return;
    }
    if (*p != '{') {
        const char *end = s_value_end(p);
        cs_buf_append(sink->buf, p, (size_t)(end - p));
        *at = end;
        return;
    }
    const char *object = p;
    /* offsets from the brace: a config's JSON is far under 4 GiB (its file is 16 MiB at most,
     * and escaping makes it 6 times that at most) */
    uint32_t *members = NULL;
    size_t count = 0, cap = 0;
    for (p++; *p != '}';) {
        if (*p == ',')
            p++;
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            uint32_t *grown = realloc(members, cap * sizeof *members);
            if (!grown) {
                free(members);
                sink->buf->failed = true;
                *at = s_value_end(object);
                return;
            }
            members = grown;
        }
        members[count++] = (uint32_t)(p - object);
        p = s_value_end(s_value_end(p) + 1); /* the key, ':', the value */
    }
    *at = p + 1;
    size_t first = count && strncmp(object + members[0], "\"_labels\":", 10) == 0;
    if (count - first > 1)
        qsort_r(members + first, count - first, sizeof *members, s_compare_members, (void *)object);
    cs_buf_putc(sink->buf, '{');
    for (size_t i = 0; i < count; i++) {
        if (i)
            cs_buf_putc(sink->buf, ',');
        const char *key = object + members[i], *value = s_value_end(key) + 1;
        cs_buf_append(sink->buf, key, (size_t)(value - key)); /* with its ':' */
        s_sorted_value(sink, &value);
        s_spill(sink, S_SPILL);
    }
    cs_buf_putc(sink->buf, '}');
    free(members);
}

/* Writes the canonical form of a connection's config: as stored after its config_json, or
 * made from its config as written. */
static void s_canonical_config(s_sink_t *sink, const cs_connection_t *conn)
{
    const char *stored = conn->config_json + strlen(conn->config_json) + 1;
    if (!*stored) {
        const char *at = conn->config_json;
        s_sorted_value(sink, &at);
    } else if (sink->digest) {
        s_spill(sink, 0);
        if (!sink->buf->failed)
            cs_digest_update(sink->digest, stored, strlen(stored)); /* not copied */
    } else {
        cs_buf_puts(sink->buf, stored);
    }
}

/* Sorts env entries by NAME, keeping the written order among entries of one NAME (the last
 * one wins when the plugin runs). */
static int s_compare_env(const void *a, const void *b)
{
    const char *const *x = *(const char *const *const *)a;
    const char *const *y = *(const char *const *const *)b;
    size_t nx = strcspn(*x, "="), ny = strcspn(*y, "=");
    int c = strncmp(*x, *y, nx < ny ? nx : ny);
    if (c == 0 && nx != ny)
        c = nx < ny ? -1 : 1;
    return c != 0 ? c : (x < y ? -1 : x > y);
}

/* The settings of a connection's plugin runs that change what its plugin does: its memory
 * limit (its instance's or the default of options "plugin") and its instance's environment
 * (by name). Not the instance's label: two instances with the same settings are the same
 * plugin. */
static void s_canon_instance(cs_buf_t *out, const cs_connection_t *conn)
{
    const cs_config_plugin_t *instance = conn->instance;
    size_t n = instance ? instance->env_count : 0;
    const char *const **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted) {
        out->failed = true;
        return;
    }
    for (size_t i = 0; i < n; i++)
        sorted[i] = &instance->env[i];
    qsort(sorted, n, sizeof *sorted, s_compare_env);
    cs_buf_puts(out, ",\"instance\":{\"env\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            cs_buf_putc(out, ',');
        cs_buf_json_string(out, *sorted[i], strlen(*sorted[i]));
    }
    cs_buf_puts(out, "],\"memory_max_mb\":");
    s_json_int(out, conn->memory_max_mb);
    cs_buf_putc(out, '}');
    free(sorted);
}

/* The canonical form of a connection after its config: from ,"connections" to the end. */
static void s_canon_settings(cs_buf_t *out, const cs_connection_t *conn)
{
    cs_buf_puts(out, ",\"connections\":[");
    for (size_t i = 0; i < conn->member_count; i++) {
        if (i)
            cs_buf_putc(out, ',');
        cs_buf_json_string(out, conn->members[i], strlen(conn->members[i]));
    }
    cs_buf_puts(out, conn->import_disabled ? "],\"import_schema\":\"disabled\""
                                           : "],\"import_schema\":\"enabled\"");
    if (conn->memory_max_mb || (conn->instance && conn->instance->env_count))
        s_canon_instance(out, conn);
    cs_buf_puts(out, ",\"plugin\":");
    cs_buf_json_string(out, conn->plugin, strlen(conn->plugin));
    /* keys that only a reference with a version or an instance has: a connection written
     * plugin = "aws" keeps the fingerprint it had before there were any */
    if (conn->plugin_constraint) {
        cs_buf_puts(out, ",\"plugin_constraint\":");
        cs_buf_json_string(out, conn->plugin_constraint, strlen(conn->plugin_constraint));
    }
    cs_buf_puts(out, conn->aggregator ? ",\"type\":\"aggregator\"}" : ",\"type\":\"plugin\"}");
}

void cs_canon_connection(cs_buf_t *out, const cs_connection_t *conn)
{
    s_sink_t sink = {out, NULL};
    cs_buf_puts(out, "{\"config\":");
    s_canonical_config(&sink, conn);
    s_canon_settings(out, conn);
}

int cs_canon_fingerprint(const cs_connection_t *conn, char out[CS_DIGEST_HEX_SIZE])
{
    out[0] = '\0';
    cs_buf_t buf = {0};
    s_sink_t sink = {&buf, cs_digest_new()};
    if (!sink.digest)
        return -1;
    cs_buf_puts(&buf, "{\"config\":");
    s_canonical_config(&sink, conn);
    s_canon_settings(&buf, conn);
    s_spill(&sink, 0);
    char hex[CS_DIGEST_HEX_SIZE];
    cs_digest_end(&sink.digest, hex);
    int rc = buf.failed ? -1 : 0;
    if (rc == 0)
        memcpy(out, hex, sizeof hex);
    cs_buf_free(&buf);
    return rc;
}
