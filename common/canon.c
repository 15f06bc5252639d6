/* A connection's config as JSON: as written for the plugin, and canonical for its fingerprint. */
#include "common.h"

#include "cs_canon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void s_json_value(cs_buf_t *out, const cs_value_t *v, bool canonical);

static int s_compare_attr_keys(const void *a, const void *b)
{
    return strcmp((*(const cs_attr_t *const *)a)->key, (*(const cs_attr_t *const *)b)->key);
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
            cs_buf_json_string(out, v->via.str.ptr, v->via.str.len);
            break;
        case CS_VAL_INT:
            cs_buf_printf(out, "%lld", (long long)v->via.i);
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

/* One key of a body's JSON object: an attribute, or every nested block of one type. */
typedef struct {
    const char *key;
    const cs_item_t *first; /* the attribute, or the first block of that type */
} s_entry_t;

static int s_compare_entries(const void *a, const void *b)
{
    return strcmp(((const s_entry_t *)a)->key, ((const s_entry_t *)b)->key);
}

static const char *s_item_key(const cs_item_t *item)
{
    return item->attr ? item->attr->key : item->block->type;
}

static void s_json_body(cs_buf_t *out, const cs_block_t *block, bool top, bool canonical);

/* The blocks of one type, as an array of objects, in written order. */
static void s_json_blocks(cs_buf_t *out, const cs_block_t *parent, const char *type, bool canonical)
{
    cs_buf_putc(out, '[');
    bool first = true;
    for (size_t i = 0; i < parent->count; i++) {
        const cs_block_t *block = parent->items[i].block;
        if (!block || strcmp(block->type, type) != 0)
            continue;
        if (!first)
            cs_buf_putc(out, ',');
        first = false;
        s_json_body(out, block, false, canonical);
    }
    cs_buf_putc(out, ']');
}

/* A block body as a JSON object: attributes as keys, nested blocks grouped by type under
 * their type as arrays; a nested block's labels under "_labels". The top-level body of a
 * connection leaves out the attributes connstate interprets. Canonical: keys sorted. */
static void s_json_body(cs_buf_t *out, const cs_block_t *block, bool top, bool canonical)
{
    s_entry_t *entries = malloc((block->count ? block->count : 1) * sizeof *entries);
    if (!entries) {
        out->failed = true;
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < block->count; i++) {
        const cs_item_t *item = &block->items[i];
        const char *key = s_item_key(item);
        if (top && item->attr && cs_config_reserved(key))
            continue;
        bool seen = false; /* later blocks of a type already listed join its array */
        for (size_t j = 0; item->block && j < n && !seen; j++)
            seen = entries[j].first->block && strcmp(entries[j].key, key) == 0;
        if (!seen)
            entries[n++] = (s_entry_t){key, item};
    }
    if (canonical)
        qsort(entries, n, sizeof *entries, s_compare_entries);
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
    for (size_t i = 0; i < n; i++) {
        if (comma)
            cs_buf_putc(out, ',');
        comma = true;
        cs_buf_json_string(out, entries[i].key, strlen(entries[i].key));
        cs_buf_putc(out, ':');
        if (entries[i].first->attr)
            s_json_value(out, entries[i].first->attr->value, canonical);
        else
            s_json_blocks(out, block, entries[i].key, canonical);
    }
    cs_buf_putc(out, '}');
    free(entries);
}

void cs_canon_config_json(cs_buf_t *out, const cs_block_t *block)
{
    s_json_body(out, block, true, false);
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

/* The settings of a connection's plugin instance that change what its plugin does: its
 * memory limit and its environment (by name). Not its label: two instances with the same
 * settings are the same plugin. */
static void s_canon_instance(cs_buf_t *out, const cs_config_plugin_t *instance)
{
    size_t n = instance->env_count;
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
    cs_buf_printf(out, "],\"memory_max_mb\":%lld}", (long long)instance->memory_max_mb);
    free(sorted);
}

void cs_canon_connection(cs_buf_t *out, const cs_connection_t *conn)
{
    cs_buf_puts(out, "{\"config\":");
    s_json_body(out, conn->block, true, true);
    cs_buf_puts(out, ",\"connections\":[");
    for (size_t i = 0; i < conn->member_count; i++) {
        if (i)
            cs_buf_putc(out, ',');
        cs_buf_json_string(out, conn->members[i], strlen(conn->members[i]));
    }
    cs_buf_printf(out, "],\"import_schema\":\"%s\"",
                  conn->import_disabled ? "disabled" : "enabled");
    if (conn->instance && (conn->instance->memory_max_mb || conn->instance->env_count))
        s_canon_instance(out, conn->instance);
    cs_buf_puts(out, ",\"plugin\":");
    cs_buf_json_string(out, conn->plugin, strlen(conn->plugin));
    cs_buf_printf(out, ",\"type\":\"%s\"}", conn->aggregator ? "aggregator" : "plugin");
}

int cs_canon_fingerprint(const cs_connection_t *conn, char out[CS_DIGEST_HEX_SIZE])
{
    out[0] = '\0';
    cs_buf_t canon = {0};
    cs_canon_connection(&canon, conn);
    int rc = canon.failed ? -1 : cs_digest_hex16(canon.data, canon.len, out);
    cs_buf_free(&canon);
    return rc;
}
