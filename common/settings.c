/* The top-level blocks of a Steampipe directory besides connection: plugin, options and
 * workspace. What connstate honours is kept in the config; the rest is recorded as ignored,
 * with its place, so that `connstate config check` can say so. None of them costs a file its
 * connections, except an error in a setting connstate honours. */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The labels Steampipe knows for options blocks. */
static const char *const s_option_kinds[] = {"connection", "database", "dashboard", "general",
                                             "plugin",     "terminal", "query",     "check"};

static void s_add_ignored(cs_load_t *ld, const cs_config_ignored_t *ignored)
{
    cs_config_t *cfg = ld->cfg;
    cs_config_ignored_t *grown =
        cs_load_grow(ld, cfg->ignored, cfg->ignored_count, &ld->ignored_cap, sizeof *grown);
    if (!grown)
        return;
    cfg->ignored = grown;
    cfg->ignored[cfg->ignored_count++] = *ignored;
}

void cs_settings_ignore(cs_load_t *ld, cs_pos_t pos, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    cs_config_ignored_t ignored = {pos.file, pos.line, cs_load_vformat(ld, fmt, args)};
    va_end(args);
    if (ignored.what)
        s_add_ignored(ld, &ignored);
}

/* One schema name of a search path list, checked and kept. */
static bool s_schema_name(cs_load_t *ld, const cs_attr_t *attr, cs_pos_t pos, const char *name,
                          size_t len, const char **out)
{
    while (len && (*name == ' ' || *name == '\t'))
        name++, len--;
    while (len && (name[len - 1] == ' ' || name[len - 1] == '\t'))
        len--;
    if (len == 0 || len > CS_CONFIG_MAX_NAME) {
        cs_load_error(ld, pos, "%s holds schema names of 1 to %d bytes", attr->key,
                      CS_CONFIG_MAX_NAME);
        return false;
    }
    *out = cs_arena_strndup(ld->cfg->arena, name, len);
    if (!*out)
        ld->oom = true;
    return *out != NULL;
}

/* A list of schema names, as a list (search_path = ["aws", "gcp"]) or, as Steampipe's own
 * default.spc writes it, one comma-separated string (search_path = "aws,gcp"). */
static void s_schema_list(cs_load_t *ld, const cs_attr_t *attr, cs_config_list_t *out)
{
    const cs_value_t *v = attr->value;
    size_t count = 0;
    if (v->type == CS_VAL_LIST) {
        count = v->via.list.count;
    } else if (v->type == CS_VAL_STRING) {
        count = 1;
        for (size_t i = 0; i < v->via.str.len; i++)
            count += v->via.str.ptr[i] == ',';
    } else {
        cs_load_error(ld, v->pos,
                      "%s must be a list of schema names, e.g. %s = [\"aws\", \"gcp\"] (or "
                      "\"aws,gcp\")",
                      attr->key, attr->key);
        return;
    }
    const char **items = cs_arena_alloc(ld->cfg->arena, (count + 1) * sizeof *items);
    if (!items) {
        ld->oom = true;
        return;
    }
    const char *at = v->type == CS_VAL_STRING ? v->via.str.ptr : NULL;
    for (size_t i = 0; i < count; i++) {
        if (at) {
            const char *comma = strchr(at, ',');
            size_t len = comma ? (size_t)(comma - at) : strlen(at);
            if (!s_schema_name(ld, attr, v->pos, at, len, &items[i]))
                return;
            at += len + (comma != NULL);
            continue;
        }
        const cs_value_t *item = v->via.list.items[i];
        if (item->type != CS_VAL_STRING) {
            cs_load_error(ld, item->pos, "%s holds schema names: strings", attr->key);
            return;
        }
        if (!s_schema_name(ld, attr, item->pos, item->via.str.ptr, item->via.str.len, &items[i]))
            return;
    }
    *out = (cs_config_list_t){items, count, true, attr->pos.file, attr->pos.line};
}

static void s_options_database(cs_load_t *ld, const cs_block_t *block)
{
    ld->cfg->database.declared = true;
    for (size_t i = 0; i < block->count; i++) {
        const cs_item_t *item = &block->items[i];
        if (item->block) {
            cs_settings_ignore(ld, item->block->pos, "options \"database\": block %s",
                               item->block->type);
            continue;
        }
        const cs_attr_t *attr = item->attr;
        cs_config_database_t *db = &ld->cfg->database;
        cs_config_list_t *list = strcmp(attr->key, "search_path") == 0 ? &db->search_path
                                 : strcmp(attr->key, "search_path_prefix") == 0
                                     ? &db->search_path_prefix
                                     : NULL;
        if (!list)
            cs_settings_ignore(ld, attr->pos, "options \"database\": %s", attr->key);
        else if (list->set)
            cs_load_error(ld, attr->pos, "%s is already set at line %d", attr->key, list->line);
        else
            s_schema_list(ld, attr, list);
    }
}

static int s_options(cs_load_t *ld, const cs_block_t *block)
{
    if (block->label_count != 1) {
        cs_load_error(ld, block->pos,
                      "an options block has one label, its kind: options \"database\" { ... }");
        return -1;
    }
    const char *kind = block->labels[0];
    bool known = false;
    for (size_t i = 0; i < sizeof s_option_kinds / sizeof *s_option_kinds; i++)
        known |= strcmp(kind, s_option_kinds[i]) == 0;
    if (strcmp(kind, "database") == 0)
        s_options_database(ld, block);
    else if (known)
        cs_settings_ignore(ld, block->pos, "options \"%s\"", kind);
    else
        cs_settings_ignore(ld, block->pos, "options \"%.80s\" (not a Steampipe options kind)",
                           kind);
    return 0;
}

int cs_settings_block(cs_load_t *ld, const cs_block_t *block)
{
    if (strcmp(block->type, "options") == 0)
        return s_options(ld, block);
    if (strcmp(block->type, "workspace") == 0 || strcmp(block->type, "plugin") == 0) {
        cs_settings_ignore(ld, block->pos, "%s \"%.80s\"", block->type,
                           block->label_count ? block->labels[0] : "");
        return 0;
    }
    cs_load_error(ld, block->pos,
                  "unknown block type \"%.80s\": expected connection, plugin, options or workspace",
                  block->type);
    return -1;
}

/* A unit's list setting, unless the directory has it already. */
static void s_merge_list(cs_load_t *ld, cs_config_list_t *into, const cs_config_list_t *from,
                         const char *key)
{
    if (!from->set)
        return;
    if (!into->set)
        *into = *from;
    else
        cs_settings_ignore(ld, (cs_pos_t){from->file, from->line, 0},
                           "options \"database\": %s (already set at %s:%d)", key, into->file,
                           into->line);
}

void cs_settings_merge(cs_load_t *ld, const cs_config_t *unit)
{
    cs_config_t *cfg = ld->cfg;
    for (size_t i = 0; i < unit->ignored_count; i++)
        s_add_ignored(ld, &unit->ignored[i]);
    cfg->database.uncertain |= unit->database.uncertain;
    cfg->database.declared |= unit->database.declared;
    s_merge_list(ld, &cfg->database.search_path, &unit->database.search_path, "search_path");
    s_merge_list(ld, &cfg->database.search_path_prefix, &unit->database.search_path_prefix,
                 "search_path_prefix");
}
