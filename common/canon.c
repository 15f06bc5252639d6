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

void cs_canon_config_forms(cs_buf_t *out, const cs_block_t *block)
{
    size_t start = out->len;
    s_json_body(out, block, true, false);
    size_t written = out->len - start;
    cs_buf_putc(out, '\0');
    s_json_body(out, block, true, true);
    if (out->failed)
        return;
    const char *as_written = out->data + start, *canonical = as_written + written + 1;
    if ((size_t)(out->data + out->len - canonical) == written &&
        memcmp(as_written, canonical, written) == 0) {
        out->len = start + written + 1; /* the same text: left out */
        out->data[out->len] = '\0';
    }
}

/* The canonical form of a connection's config, stored after its config as written. */
static const char *s_canonical_config(const cs_connection_t *conn)
{
    const char *canonical = conn->config_json + strlen(conn->config_json) + 1;
    return *canonical ? canonical : conn->config_json;
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
    cs_buf_puts(out, "{\"config\":");
    cs_buf_puts(out, s_canonical_config(conn));
    s_canon_settings(out, conn);
}

int cs_canon_fingerprint(const cs_connection_t *conn, char out[CS_DIGEST_HEX_SIZE])
{
    out[0] = '\0';
    cs_digest_t *digest = cs_digest_new();
    if (!digest)
        return -1;
    /* the config goes to the digest from where it is stored: a large one is not copied */
    static const char head[] = "{\"config\":";
    const char *config = s_canonical_config(conn);
    cs_digest_update(digest, head, sizeof head - 1);
    cs_digest_update(digest, config, strlen(config));
    cs_buf_t settings = {0};
    s_canon_settings(&settings, conn);
    if (!settings.failed)
        cs_digest_update(digest, settings.data, settings.len);
    char hex[CS_DIGEST_HEX_SIZE];
    cs_digest_end(&digest, hex);
    int rc = settings.failed ? -1 : 0;
    if (rc == 0)
        memcpy(out, hex, sizeof hex);
    cs_buf_free(&settings);
    return rc;
}
