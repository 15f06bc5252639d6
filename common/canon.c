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
        case CS_VAL_REFERENCE: /* as its text: plugin.aws_high */
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

/* The key of an item of a body: an attribute's name or a block's type. */
static const char *s_item_key(const cs_item_t *item)
{
    return item->attr ? item->attr->key : item->block->type;
}

/* Items by key (the keys of a body's JSON object). */
static int s_compare_items(const void *a, const void *b)
{
    return strcmp(s_item_key(*(const cs_item_t *const *)a),
                  s_item_key(*(const cs_item_t *const *)b));
}

/* Items by key, then in written order: sorting groups the blocks of each type. */
static int s_compare_typed(const void *a, const void *b)
{
    const cs_item_t *x = *(const cs_item_t *const *)a, *y = *(const cs_item_t *const *)b;
    int c = strcmp(s_item_key(x), s_item_key(y));
    return c ? c : (x > y) - (x < y);
}

static void s_json_body(cs_buf_t *out, const cs_block_t *block, bool top, bool canonical);

/* The nested blocks of a body grouped by type, by item index: next[i] is the next block of
 * the type of item i (SIZE_MAX: none), later[i] says a block of its type came before it.
 * Both NULL when the body has no nested block. */
typedef struct {
    size_t *next;
    bool *later;
} s_groups_t;

/* The blocks of one type as an array of objects, in written order, from item first. */
static void s_json_blocks(cs_buf_t *out, const cs_block_t *parent, const s_groups_t *groups,
                          size_t first, bool canonical)
{
    cs_buf_putc(out, '[');
    for (size_t i = first; i != SIZE_MAX; i = groups->next[i]) {
        if (i != first)
            cs_buf_putc(out, ',');
        s_json_body(out, parent->items[i].block, false, canonical);
    }
    cs_buf_putc(out, ']');
}

/* Groups the nested blocks of body by type: sorting them keeps this O(n log n). Returns 0,
 * or -1 when out of memory. */
static int s_group_blocks(const cs_block_t *body, s_groups_t *groups)
{
    *groups = (s_groups_t){NULL, NULL};
    size_t n = 0;
    for (size_t i = 0; i < body->count; i++)
        n += body->items[i].block != NULL;
    if (n == 0)
        return 0;
    groups->next = malloc(body->count * sizeof *groups->next);
    groups->later = calloc(body->count, sizeof *groups->later);
    const cs_item_t **typed = malloc(n * sizeof *typed);
    if (!groups->next || !groups->later || !typed) {
        free(typed);
        return -1;
    }
    n = 0;
    for (size_t i = 0; i < body->count; i++) {
        groups->next[i] = SIZE_MAX;
        if (body->items[i].block)
            typed[n++] = &body->items[i];
    }
    qsort(typed, n, sizeof *typed, s_compare_typed);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(typed[i - 1]->block->type, typed[i]->block->type) == 0) {
            groups->next[typed[i - 1] - body->items] = (size_t)(typed[i] - body->items);
            groups->later[typed[i] - body->items] = true;
        }
    }
    free(typed);
    return 0;
}

/* A block body as a JSON object: attributes as keys, nested blocks grouped by type under
 * their type as arrays; a nested block's labels under "_labels". The top-level body of a
 * connection leaves out the attributes connstate interprets. Canonical: keys sorted. */
static void s_json_body(cs_buf_t *out, const cs_block_t *block, bool top, bool canonical)
{
    s_groups_t groups;
    /* the keys: each attribute, and the first block of each type */
    const cs_item_t **keys = malloc((block->count ? block->count : 1) * sizeof *keys);
    if (s_group_blocks(block, &groups) != 0 || !keys) {
        out->failed = true;
        goto done;
    }
    size_t n = 0;
    for (size_t i = 0; i < block->count; i++) {
        const cs_item_t *item = &block->items[i];
        if (item->attr ? !(top && cs_config_reserved(item->attr->key)) : !groups.later[i])
            keys[n++] = item;
    }
    if (canonical)
        qsort(keys, n, sizeof *keys, s_compare_items);
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
        const char *key = s_item_key(keys[i]);
        cs_buf_json_string(out, key, strlen(key));
        cs_buf_putc(out, ':');
        if (keys[i]->attr)
            s_json_value(out, keys[i]->attr->value, canonical);
        else
            s_json_blocks(out, block, &groups, (size_t)(keys[i] - block->items), canonical);
    }
    cs_buf_putc(out, '}');
done:
    free(keys);
    free(groups.next);
    free(groups.later);
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
    cs_buf_printf(out, "],\"memory_max_mb\":%lld}", (long long)conn->memory_max_mb);
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
