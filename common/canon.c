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
    size_t at; /* the attribute's index, or that of the first block of that type */
} s_entry_t;

static int s_compare_entries(const void *a, const void *b)
{
    return strcmp(((const s_entry_t *)a)->key, ((const s_entry_t *)b)->key);
}

/* Blocks by type, then in written order: sorting groups the blocks of each type. */
static int s_compare_typed(const void *a, const void *b)
{
    const s_entry_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->at > y->at) - (x->at < y->at);
}

static void s_json_body(cs_buf_t *out, const cs_block_t *block, bool top, bool canonical);

/* The blocks of one type as an array of objects, in written order: from the first, along
 * next (the index of the following block of that type, or SIZE_MAX). */
static void s_json_blocks(cs_buf_t *out, const cs_block_t *parent, size_t first, const size_t *next,
                          bool canonical)
{
    cs_buf_putc(out, '[');
    for (size_t i = first; i != SIZE_MAX; i = next[i]) {
        if (i != first)
            cs_buf_putc(out, ',');
        s_json_body(out, parent->items[i].block, false, canonical);
    }
    cs_buf_putc(out, ']');
}

/* A block body as a JSON object: attributes as keys, nested blocks grouped by type under
 * their type as arrays; a nested block's labels under "_labels". The top-level body of a
 * connection leaves out the attributes connstate interprets. Canonical: keys sorted.
 * Grouping sorts the blocks by type, so that a body of n items costs O(n log n). */
static void s_json_body(cs_buf_t *out, const cs_block_t *block, bool top, bool canonical)
{
    size_t count = block->count ? block->count : 1;
    s_entry_t *entries = malloc(count * sizeof *entries);
    s_entry_t *typed = malloc(count * sizeof *typed);
    size_t *next = malloc(count * sizeof *next);
    bool *later = calloc(count, sizeof *later); /* a block whose type came earlier */
    if (!entries || !typed || !next || !later) {
        out->failed = true;
        goto done;
    }
    size_t n = 0, blocks = 0;
    for (size_t i = 0; i < block->count; i++) {
        next[i] = SIZE_MAX;
        if (block->items[i].block)
            typed[blocks++] = (s_entry_t){block->items[i].block->type, i};
    }
    qsort(typed, blocks, sizeof *typed, s_compare_typed);
    for (size_t i = 1; i < blocks; i++) {
        if (strcmp(typed[i - 1].key, typed[i].key) == 0) {
            next[typed[i - 1].at] = typed[i].at;
            later[typed[i].at] = true;
        }
    }
    for (size_t i = 0; i < block->count; i++) {
        const cs_item_t *item = &block->items[i];
        if (item->attr && !(top && cs_config_reserved(item->attr->key)))
            entries[n++] = (s_entry_t){item->attr->key, i};
        else if (item->block && !later[i])
            entries[n++] = (s_entry_t){item->block->type, i};
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
        const cs_item_t *item = &block->items[entries[i].at];
        if (item->attr)
            s_json_value(out, item->attr->value, canonical);
        else
            s_json_blocks(out, block, entries[i].at, next, canonical);
    }
    cs_buf_putc(out, '}');
done:
    free(entries);
    free(typed);
    free(next);
    free(later);
}

void cs_canon_config_json(cs_buf_t *out, const cs_block_t *block)
{
    s_json_body(out, block, true, false);
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
    cs_buf_printf(out, "],\"import_schema\":\"%s\",\"plugin\":",
                  conn->import_disabled ? "disabled" : "enabled");
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
