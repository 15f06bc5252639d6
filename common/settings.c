/* The top-level blocks of a Steampipe directory besides connection: plugin, options and
 * workspace. What connstate honours is kept in the config; the rest is recorded as ignored,
 * with its place, so that `connstate config check` can say so. None of them costs a file its
 * connections, except an error in a setting connstate honours. */
#include "common.h"

#include "cs_plugin.h"

#include <ctype.h>
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
    if (!cs_load_cap_take(&ld->ignored, pos, CS_CONFIG_MAX_IGNORED))
        return; /* counted, not listed: bounded memory */
    va_list args;
    va_start(args, fmt);
    cs_config_ignored_t ignored = {pos.file, pos.line, cs_load_vformat(ld, fmt, args)};
    va_end(args);
    if (ignored.what)
        s_add_ignored(ld, &ignored);
}

void cs_settings_done(cs_load_t *ld)
{
    if (ld->ignored.dropped == 0)
        return;
    char what[128];
    snprintf(what, sizeof what,
             "and %zu more ignored settings (only the first %d of a file are "
             "listed)",
             ld->ignored.dropped, CS_CONFIG_MAX_IGNORED);
    cs_config_ignored_t ignored = {ld->ignored.dropped_at.file, ld->ignored.dropped_at.line,
                                   cs_load_strdup(ld, what)};
    if (ignored.what)
        s_add_ignored(ld, &ignored);
    ld->ignored.dropped = 0;
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

/* An options block's attributes, each to option (in order); its nested blocks are
 * ignored. */
typedef void s_option_fn(cs_load_t *ld, const cs_attr_t *attr);

static void s_options_each(cs_load_t *ld, const cs_block_t *block, const char *kind,
                           s_option_fn *option)
{
    for (size_t i = 0; i < block->count; i++) {
        const cs_item_t *item = &block->items[i];
        if (item->block)
            cs_settings_ignore(ld, item->block->pos, "options \"%s\": block %s", kind,
                               item->block->type);
        else
            option(ld, item->attr);
    }
}

/* options "database" { search_path = ..., search_path_prefix = ... } */
static void s_option_database(cs_load_t *ld, const cs_attr_t *attr)
{
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

/* memory_max_mb = N: a whole number of MiB, 1 to CS_CONFIG_MAX_MEMORY_MB. */
static int s_memory_mb(cs_load_t *ld, const cs_value_t *v, int64_t *out)
{
    if (v->type != CS_VAL_INT || v->via.i < 1 || v->via.i > CS_CONFIG_MAX_MEMORY_MB) {
        cs_load_error(ld, v->pos, "memory_max_mb must be a whole number of MiB from 1 to %d",
                      CS_CONFIG_MAX_MEMORY_MB);
        return -1;
    }
    *out = v->via.i;
    return 0;
}

/* options "plugin" { memory_max_mb = N }: the default of every plugin run; the rest (such
 * as start_timeout) is ignored. */
static void s_option_plugin(cs_load_t *ld, const cs_attr_t *attr)
{
    cs_config_t *cfg = ld->cfg;
    if (strcmp(attr->key, "memory_max_mb") != 0) {
        cs_settings_ignore(ld, attr->pos, "options \"plugin\": %s", attr->key);
    } else if (cfg->plugin_options_file) {
        cs_load_error(ld, attr->pos, "memory_max_mb is already set at line %d",
                      cfg->plugin_options_line);
    } else if (s_memory_mb(ld, attr->value, &cfg->plugin_memory_max_mb) == 0) {
        cfg->plugin_options_file = attr->pos.file;
        cfg->plugin_options_line = attr->pos.line;
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
    if (strcmp(kind, "database") == 0) {
        ld->cfg->database.declared = true;
        s_options_each(ld, block, kind, s_option_database);
    } else if (strcmp(kind, "plugin") == 0) {
        s_options_each(ld, block, kind, s_option_plugin);
    } else if (known) {
        cs_settings_ignore(ld, block->pos, "options \"%s\"", kind);
    } else {
        cs_settings_ignore(ld, block->pos, "options \"%.80s\" (not a Steampipe options kind)",
                           kind);
    }
    return 0;
}

/* ---- plugin instances ------------------------------------------------------------------ */

/* An instance label is an HCL name, as plugin.LABEL references it. */
static bool s_label_ok(const char *label)
{
    size_t len = strlen(label);
    if (len == 0 || len > CS_CONFIG_MAX_NAME ||
        !(isalpha((unsigned char)label[0]) || label[0] == '_'))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(isalnum((unsigned char)label[i]) || label[i] == '_' || label[i] == '-'))
            return false;
    return true;
}

static bool s_env_name_ok(const char *name)
{
    if (!(isalpha((unsigned char)name[0]) || name[0] == '_'))
        return false;
    for (size_t i = 1; name[i]; i++)
        if (!(isalnum((unsigned char)name[i]) || name[i] == '_'))
            return false;
    return strlen(name) <= 255;
}

/* source = "turbot/aws@^0.5" */
static int s_instance_source(cs_load_t *ld, const cs_attr_t *attr, cs_config_plugin_t *pi)
{
    const cs_value_t *v = attr->value;
    if (v->type != CS_VAL_STRING) {
        cs_load_error(ld, v->pos, "source must be a string, e.g. source = \"aws\"");
        return -1;
    }
    char name[CS_CONFIG_MAX_REF + 1], image[CS_CONFIG_MAX_IMAGE];
    const char *problem = cs_config_parse_ref(v->via.str.ptr, name, image, &pi->constraint);
    if (problem) {
        cs_load_error(ld, v->pos, "invalid source \"%.80s\": %s", v->via.str.ptr, problem);
        return -1;
    }
    pi->source = v->via.str.ptr;
    pi->plugin = cs_load_strdup(ld, name);
    pi->image = cs_load_strdup(ld, image);
    return pi->plugin && pi->image ? 0 : -1;
}

/* env = { NAME = "value" }: "NAME=VALUE" in written order. Values are not quoted in errors
 * (they are often credentials). */
static int s_instance_env(cs_load_t *ld, const cs_attr_t *attr, cs_config_plugin_t *pi)
{
    const cs_value_t *v = attr->value;
    if (v->type != CS_VAL_OBJECT) {
        cs_load_error(ld, v->pos,
                      "env must be an object of strings, e.g. env = { AWS_PROFILE = "
                      "\"prod\" }");
        return -1;
    }
    const char **env = cs_arena_alloc(ld->cfg->arena, (v->via.object.count + 1) * sizeof *env);
    if (!env) {
        ld->oom = true;
        return -1;
    }
    for (size_t i = 0; i < v->via.object.count; i++) {
        const cs_attr_t *e = &v->via.object.items[i];
        if (!s_env_name_ok(e->key)) {
            cs_load_error(
                ld, e->pos,
                "env: \"%.80s\" is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
                e->key);
            return -1;
        }
        if (e->value->type != CS_VAL_STRING) {
            cs_load_error(ld, e->value->pos, "env: %s must be a string", e->key);
            return -1;
        }
        size_t klen = strlen(e->key), vlen = e->value->via.str.len;
        char *pair = cs_arena_alloc(ld->cfg->arena, klen + vlen + 2);
        if (!pair) {
            ld->oom = true;
            return -1;
        }
        memcpy(pair, e->key, klen);
        pair[klen] = '=';
        memcpy(pair + klen + 1, e->value->via.str.ptr, vlen + 1);
        env[i] = pair;
    }
    pi->env = env;
    pi->env_count = v->via.object.count;
    return 0;
}

/* plugin "LABEL" { source = "aws"  memory_max_mb = 2048  env = {...}  limiter "x" {...} } */
static int s_plugin_instance(cs_load_t *ld, const cs_block_t *block)
{
    if (block->label_count != 1 || !s_label_ok(block->labels[0])) {
        cs_load_error(ld, block->pos,
                      "a plugin block has one label, its name (letters, digits, '_', '-'; at most "
                      "%d bytes): plugin \"aws_high\" { source = \"aws\" }",
                      CS_CONFIG_MAX_NAME);
        return -1;
    }
    cs_config_plugin_t pi = {
        .label = block->labels[0], .file = block->pos.file, .line = block->pos.line};
    cs_config_t *cfg = ld->cfg;
    /* (a label defined twice is found when the directory's instances are resolved) */
    if (cfg->plugin_count >= CS_CONFIG_MAX_PLUGINS) {
        cs_load_error(ld, block->pos, "more than %d plugin blocks in one file",
                      CS_CONFIG_MAX_PLUGINS);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < block->count; i++) {
        const cs_item_t *item = &block->items[i];
        if (item->block) {
            cs_settings_ignore(ld, item->block->pos, "plugin \"%s\": %s \"%.80s\"", pi.label,
                               item->block->type,
                               item->block->label_count ? item->block->labels[0] : "");
            continue;
        }
        const cs_attr_t *attr = item->attr;
        const cs_value_t *v = attr->value;
        if (strcmp(attr->key, "source") == 0) {
            rc |= s_instance_source(ld, attr, &pi);
        } else if (strcmp(attr->key, "memory_max_mb") == 0) {
            rc |= s_memory_mb(ld, v, &pi.memory_max_mb);
        } else if (strcmp(attr->key, "env") == 0) {
            rc |= s_instance_env(ld, attr, &pi);
        } else {
            cs_settings_ignore(ld, attr->pos, "plugin \"%s\": %s", pi.label, attr->key);
        }
    }
    if (rc == 0 && !pi.source) {
        cs_load_error(ld, block->pos, "plugin \"%s\" has no source: add source = \"aws\"",
                      pi.label);
        rc = -1;
    }
    /* the bounds of what a TASK carries to the worker (the values are never quoted) */
    char why[256];
    if (rc == 0 &&
        cs_plugin_settings_check(pi.memory_max_mb, pi.env, pi.env_count, why, sizeof why) != 0) {
        cs_load_error(ld, block->pos, "plugin \"%s\": %s", pi.label, why);
        rc = -1;
    }
    if (rc != 0)
        return -1;
    cs_config_plugin_t *grown =
        cs_load_grow(ld, cfg->plugins, cfg->plugin_count, &ld->plugin_cap, sizeof *grown);
    if (!grown)
        return -1;
    cfg->plugins = grown;
    cfg->plugins[cfg->plugin_count++] = pi;
    return 0;
}

int cs_settings_block(cs_load_t *ld, const cs_block_t *block)
{
    if (strcmp(block->type, "options") == 0)
        return s_options(ld, block);
    if (strcmp(block->type, "plugin") == 0)
        return s_plugin_instance(ld, block);
    if (strcmp(block->type, "workspace") == 0) {
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
    for (size_t i = 0; i < unit->plugin_count; i++) {
        cs_config_plugin_t *grown =
            cs_load_grow(ld, cfg->plugins, cfg->plugin_count, &ld->plugin_cap, sizeof *grown);
        if (!grown)
            return;
        cfg->plugins = grown;
        cfg->plugins[cfg->plugin_count++] = unit->plugins[i];
    }
    if (unit->plugin_options_file && !cfg->plugin_options_file) {
        cfg->plugin_memory_max_mb = unit->plugin_memory_max_mb;
        cfg->plugin_options_file = unit->plugin_options_file;
        cfg->plugin_options_line = unit->plugin_options_line;
    } else if (unit->plugin_options_file) {
        cs_settings_ignore(ld, (cs_pos_t){unit->plugin_options_file, unit->plugin_options_line, 0},
                           "options \"plugin\": memory_max_mb (already set at %s:%d)",
                           cfg->plugin_options_file, cfg->plugin_options_line);
    }
    cfg->database.uncertain |= unit->database.uncertain;
    cfg->database.declared |= unit->database.declared;
    s_merge_list(ld, &cfg->database.search_path, &unit->database.search_path, "search_path");
    s_merge_list(ld, &cfg->database.search_path_prefix, &unit->database.search_path_prefix,
                 "search_path_prefix");
}
