/* Connection configs: validation of parsed .spc files, fingerprints, the directory loader. */
#include "common.h"

#include "cs_secrets.h"

#include <czmq.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Attributes of a connection block that connstate interprets; the rest is the plugin's. */
static const char *const s_reserved_attrs[] = {"plugin", "type", "connections", "import_schema"};

/* The loader's state: vectors that grow in the result's arena. Any allocation failure
 * sets oom, and the load returns NULL. */
typedef struct {
    cs_config_t *cfg;
    size_t conn_cap, error_cap, failed_cap;
    bool oom;
    bool file_failed; /* the file being validated has an error */
} s_loader_t;

static void *s_grow(s_loader_t *ld, void *items, size_t count, size_t *cap, size_t elem_size)
{
    void *grown = cs_arena_grow(ld->cfg->arena, items, count, cap, elem_size);
    if (!grown)
        ld->oom = true;
    return grown;
}

static const char *s_strdup(s_loader_t *ld, const char *text)
{
    char *copy = cs_arena_strndup(ld->cfg->arena, text, strlen(text));
    if (!copy)
        ld->oom = true;
    return copy;
}

static void s_error(s_loader_t *ld, cs_pos_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s_error(s_loader_t *ld, cs_pos_t pos, const char *fmt, ...)
{
    char message[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    cs_config_t *cfg = ld->cfg;
    cs_config_error_t *errors =
        s_grow(ld, cfg->errors, cfg->error_count, &ld->error_cap, sizeof *errors);
    const char *text = s_strdup(ld, message);
    if (!errors || !text)
        return;
    cfg->errors = errors;
    cfg->errors[cfg->error_count++] = (cs_config_error_t){pos.file, pos.line, pos.col, text};
    ld->file_failed = true;
}

/* ---- names ----------------------------------------------------------------------------- */

const char *cs_config_name_problem(const char *name)
{
    size_t len = strlen(name);
    if (len == 0)
        return "a name cannot be empty";
    if (len > CS_CONFIG_MAX_NAME)
        return "a name is at most 63 bytes";
    if (!((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
        return "a name starts with a lowercase letter or '_'";
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return "a name holds only lowercase letters, digits and '_'";
    }
    if (strcmp(name, "public") == 0 || strcmp(name, "information_schema") == 0 ||
        strcmp(name, "connstate_internal") == 0 || strncmp(name, "pg_", 3) == 0)
        return "the name is reserved (public, information_schema, connstate_internal, pg_*)";
    return NULL;
}

/* Plugin names become file names in the plugin directory: no paths, nothing hidden. */
static const char *s_plugin_problem(const char *plugin, size_t len)
{
    if (len == 0 || len > 255)
        return "a plugin name has 1 to 255 characters";
    if (!((plugin[0] >= 'a' && plugin[0] <= 'z') || (plugin[0] >= '0' && plugin[0] <= '9')))
        return "a plugin name starts with a lowercase letter or a digit";
    for (size_t i = 0; i < len; i++) {
        char c = plugin[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
            return "a plugin name holds only lowercase letters, digits, '_', '-' and '.'";
    }
    return NULL;
}

/* Aggregator members: a connection name, or a glob of name characters and * ? [ ]. */
static const char *s_member_problem(const char *member, size_t len)
{
    if (len == 0 || len > CS_CONFIG_MAX_NAME)
        return "a member is a connection name or glob of 1 to 63 characters";
    for (size_t i = 0; i < len; i++) {
        char c = member[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '*' ||
              c == '?' || c == '[' || c == ']' || c == '-' || c == '!'))
            return "a member holds only name characters and the glob characters * ? [ ] ! -";
    }
    return NULL;
}

/* ---- JSON ------------------------------------------------------------------------------ */

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

static bool s_is_reserved(const char *key)
{
    for (size_t i = 0; i < sizeof s_reserved_attrs / sizeof *s_reserved_attrs; i++)
        if (strcmp(key, s_reserved_attrs[i]) == 0)
            return true;
    return false;
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
        if (top && item->attr && s_is_reserved(key))
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

/* An attribute and a nested block with the same name would share one JSON key. hidden:
 * the block is (inside) a secret-named block, whose names errors do not quote either. */
static void s_check_body_names(s_loader_t *ld, const cs_block_t *block, bool top, bool hidden)
{
    for (size_t i = 0; i < block->count; i++) {
        const cs_item_t *item = &block->items[i];
        if (item->block) {
            if (top && s_is_reserved(item->block->type))
                s_error(ld, item->block->pos, "\"%s\" is an attribute: write %s = ...",
                        item->block->type, item->block->type);
            s_check_body_names(ld, item->block, false,
                               hidden || cs_secrets_name_is_secret(item->block->type));
            continue;
        }
        if (!top && strcmp(item->attr->key, "_labels") == 0)
            s_error(ld, item->attr->pos, "the attribute name \"_labels\" is reserved");
        for (size_t j = 0; j < block->count; j++) {
            const cs_block_t *other = block->items[j].block;
            if (other && strcmp(other->type, item->attr->key) == 0) {
                char name[96] = "a name (not shown: secret)";
                if (!hidden)
                    snprintf(name, sizeof name, "\"%.80s\"", other->type);
                s_error(ld, other->pos, "%s is both an attribute (at line %d) and a block", name,
                        item->attr->pos.line);
                break;
            }
        }
    }
}

/* ---- connections ----------------------------------------------------------------------- */

static const cs_value_t *s_string_attr(s_loader_t *ld, const cs_attr_t *attr, const char *hint)
{
    if (attr->value->type != CS_VAL_STRING) {
        s_error(ld, attr->value->pos, "%s must be a string, e.g. %s", attr->key, hint);
        return NULL;
    }
    return attr->value;
}

/* Validates one connection block; appends it to the file's connections when valid. */
static void s_connection(s_loader_t *ld, const cs_block_t *block, cs_connection_t **conns,
                         size_t *count, size_t *cap)
{
    if (block->label_count != 1) {
        s_error(ld, block->pos,
                "a connection block has exactly one label, its name: "
                "connection \"name\" { ... }");
        return;
    }
    const char *name = block->labels[0];
    const char *problem = cs_config_name_problem(name);
    if (problem) {
        s_error(ld, block->label_pos[0], "invalid connection name \"%.80s\": %s", name, problem);
        return;
    }
    cs_connection_t conn = {0};
    conn.name = name;
    conn.file = block->pos.file;
    conn.start_line = block->pos.line;
    conn.end_line = block->end.line;
    conn.block = block;
    bool ok = true;
    const cs_attr_t *members_attr = NULL;

    for (size_t i = 0; i < block->count; i++) {
        const cs_attr_t *attr = block->items[i].attr;
        if (!attr)
            continue;
        const cs_value_t *v;
        if (strcmp(attr->key, "plugin") == 0) {
            if (!(v = s_string_attr(ld, attr, "plugin = \"aws\""))) {
                ok = false;
            } else if ((problem = s_plugin_problem(v->via.str.ptr, v->via.str.len))) {
                s_error(ld, v->pos, "invalid plugin \"%.80s\": %s", v->via.str.ptr, problem);
                ok = false;
            } else {
                conn.plugin = v->via.str.ptr;
            }
        } else if (strcmp(attr->key, "type") == 0) {
            if (!(v = s_string_attr(ld, attr, "type = \"aggregator\""))) {
                ok = false;
            } else if (strcmp(v->via.str.ptr, "aggregator") == 0) {
                conn.aggregator = true;
            } else if (strcmp(v->via.str.ptr, "plugin") != 0) {
                s_error(ld, v->pos, "type must be \"plugin\" or \"aggregator\", not \"%.80s\"",
                        v->via.str.ptr);
                ok = false;
            }
        } else if (strcmp(attr->key, "import_schema") == 0) {
            if (!(v = s_string_attr(ld, attr, "import_schema = \"disabled\""))) {
                ok = false;
            } else if (strcmp(v->via.str.ptr, "disabled") == 0) {
                conn.import_disabled = true;
            } else if (strcmp(v->via.str.ptr, "enabled") != 0) {
                s_error(ld, v->pos,
                        "import_schema must be \"enabled\" or \"disabled\", not \"%.80s\"",
                        v->via.str.ptr);
                ok = false;
            }
        } else if (strcmp(attr->key, "connections") == 0) {
            members_attr = attr;
        }
    }
    if (!conn.plugin && ok) {
        s_error(ld, block->pos, "connection \"%s\" has no plugin: add plugin = \"NAME\"", name);
        ok = false;
    }
    if (members_attr && !conn.aggregator) {
        s_error(ld, members_attr->pos,
                "connections is only valid in an aggregator (type = \"aggregator\")");
        ok = false;
    } else if (conn.aggregator && !members_attr) {
        s_error(ld, block->pos, "aggregator \"%s\" needs connections = [\"name\", \"glob_*\"]",
                name);
        ok = false;
    } else if (members_attr) {
        const cs_value_t *list = members_attr->value;
        if (list->type != CS_VAL_LIST) {
            s_error(ld, list->pos, "connections must be a list of names, e.g. [\"aws_*\"]");
            ok = false;
        } else {
            conn.members =
                cs_arena_alloc(ld->cfg->arena, (list->via.list.count + 1) * sizeof *conn.members);
            if (!conn.members) {
                ld->oom = true;
                return;
            }
            for (size_t i = 0; i < list->via.list.count; i++) {
                const cs_value_t *item = list->via.list.items[i];
                if (item->type != CS_VAL_STRING) {
                    s_error(ld, item->pos, "connections must hold strings (names or globs)");
                    ok = false;
                } else if ((problem = s_member_problem(item->via.str.ptr, item->via.str.len))) {
                    s_error(ld, item->pos, "invalid member \"%.80s\": %s", item->via.str.ptr,
                            problem);
                    ok = false;
                } else {
                    conn.members[conn.member_count++] = item->via.str.ptr;
                }
            }
        }
    }
    size_t errors_before = ld->cfg->error_count;
    s_check_body_names(ld, block, true, false);
    if (!ok || ld->cfg->error_count != errors_before)
        return;

    /* The plugin's config in written order, and the canonical form that is hashed. */
    cs_buf_t json = {0}, canon = {0};
    s_json_body(&json, block, true, false);
    cs_buf_puts(&canon, "{\"config\":");
    s_json_body(&canon, block, true, true);
    cs_buf_puts(&canon, ",\"connections\":[");
    for (size_t i = 0; i < conn.member_count; i++) {
        if (i)
            cs_buf_putc(&canon, ',');
        cs_buf_json_string(&canon, conn.members[i], strlen(conn.members[i]));
    }
    cs_buf_printf(&canon, "],\"import_schema\":\"%s\",\"plugin\":",
                  conn.import_disabled ? "disabled" : "enabled");
    cs_buf_json_string(&canon, conn.plugin, strlen(conn.plugin));
    cs_buf_printf(&canon, ",\"type\":\"%s\"}", conn.aggregator ? "aggregator" : "plugin");
    if (json.failed || canon.failed) {
        ld->oom = true;
    } else {
        zdigest_t *digest = zdigest_new();
        if (!digest) {
            ld->oom = true;
        } else {
            zdigest_update(digest, (const byte *)canon.data, canon.len);
            const byte *hash = zdigest_data(digest);
            for (size_t i = 0; i < 8; i++)
                snprintf(conn.fingerprint + 2 * i, 3, "%02x", hash[i]);
            zdigest_destroy(&digest);
        }
        conn.config_json = cs_arena_strndup(ld->cfg->arena, json.data, json.len);
        cs_connection_t *grown = s_grow(ld, *conns, *count, cap, sizeof conn);
        if (conn.config_json && grown) {
            *conns = grown;
            (*conns)[(*count)++] = conn;
        }
    }
    cs_buf_free(&json);
    cs_buf_free(&canon);
}

/* ---- files ----------------------------------------------------------------------------- */

static void s_add_failed(s_loader_t *ld, const char *path, const char **names, size_t count)
{
    cs_config_t *cfg = ld->cfg;
    for (size_t i = 0; i < cfg->failed_count; i++) {
        if (strcmp(cfg->failed[i].path, path) == 0)
            return; /* already failed: it keeps the names it had */
    }
    cs_failed_file_t *failed =
        s_grow(ld, cfg->failed, cfg->failed_count, &ld->failed_cap, sizeof *failed);
    if (!failed)
        return;
    cfg->failed = failed;
    cfg->failed[cfg->failed_count++] = (cs_failed_file_t){path, names, count};
}

/* The connection names a broken file declares, read leniently line by line:
 * `connection "NAME"` at the start of a line. */
static void s_scan_names(s_loader_t *ld, const char *text, size_t len, const char ***names,
                         size_t *count)
{
    size_t cap = 0;
    size_t at = 0;
    while (at < len) {
        const char *line = text + at;
        const char *nl = memchr(line, '\n', len - at);
        size_t line_len = nl ? (size_t)(nl - line) : len - at;
        at += line_len + 1;
        size_t i = 0;
        while (i < line_len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (line_len - i < 12 || memcmp(line + i, "connection", 10) != 0)
            continue;
        i += 10;
        if (line[i] != ' ' && line[i] != '\t')
            continue;
        while (i < line_len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i >= line_len || line[i] != '"')
            continue;
        const char *start = line + i + 1;
        const char *end = memchr(start, '"', line_len - i - 1);
        if (!end || end - start > CS_CONFIG_MAX_NAME)
            continue;
        char name[CS_CONFIG_MAX_NAME + 1];
        memcpy(name, start, (size_t)(end - start));
        name[end - start] = '\0';
        if (cs_config_name_problem(name))
            continue;
        const char **grown = s_grow(ld, *names, *count, &cap, sizeof *grown);
        const char *copy = s_strdup(ld, name);
        if (!grown || !copy)
            return;
        *names = grown;
        (*names)[(*count)++] = copy;
    }
}

/* Parses and validates one file's text; file must live as long as the config. */
static void s_load_text(s_loader_t *ld, const char *file, const char *text, size_t len)
{
    cs_config_t *cfg = ld->cfg;
    cfg->file_count++;
    ld->file_failed = false;
    cs_config_error_t syntax = {0};
    cs_hcl_file_t *tree = cs_hcl_parse(cfg->arena, file, text, len, &syntax);
    const char **names = NULL;
    size_t name_count = 0;
    if (!tree) {
        s_error(ld, (cs_pos_t){file, syntax.line, syntax.col}, "%s", syntax.message);
        s_scan_names(ld, text, len, &names, &name_count);
        s_add_failed(ld, file, names, name_count);
        return;
    }
    cs_connection_t *conns = NULL;
    size_t count = 0, cap = 0, names_cap = 0;
    for (size_t i = 0; i < tree->count; i++) {
        const cs_item_t *item = &tree->items[i];
        if (item->attr) {
            s_error(ld, item->attr->pos,
                    "unexpected attribute \"%s\" at the top level: expected a block such as "
                    "connection \"name\" { ... }",
                    item->attr->key);
            continue;
        }
        const cs_block_t *block = item->block;
        if (strcmp(block->type, "connection") != 0) {
            s_error(ld, block->pos, "unknown block type \"%.80s\": expected \"connection\"",
                    block->type);
            continue;
        }
        /* Every valid name a block declares, for the failed-file list. */
        if (block->label_count >= 1 && !cs_config_name_problem(block->labels[0])) {
            const char **grown = s_grow(ld, names, name_count, &names_cap, sizeof *grown);
            if (grown) {
                names = grown;
                names[name_count++] = block->labels[0];
            }
        }
        s_connection(ld, block, &conns, &count, &cap);
    }
    if (ld->file_failed) {
        s_add_failed(ld, file, names, name_count);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        cs_connection_t *grown =
            s_grow(ld, cfg->connections, cfg->count, &ld->conn_cap, sizeof *grown);
        if (!grown)
            return;
        cfg->connections = grown;
        cfg->connections[cfg->count++] = conns[i];
    }
}

static int s_compare_conn_names(const void *a, const void *b)
{
    const cs_connection_t *x = *(const cs_connection_t *const *)a;
    const cs_connection_t *y = *(const cs_connection_t *const *)b;
    int c = strcmp(x->name, y->name);
    /* equal names: keep load order, so that the later definition comes second */
    return c ? c : (x < y ? -1 : x > y);
}

static bool s_file_failed(const cs_config_t *cfg, const char *path)
{
    for (size_t i = 0; i < cfg->failed_count; i++)
        if (strcmp(cfg->failed[i].path, path) == 0)
            return true;
    return false;
}

static int s_compare_errors(const void *a, const void *b)
{
    const cs_config_error_t *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    if (c == 0)
        c = x->line != y->line ? x->line - y->line : x->col - y->col;
    return c;
}

/* After every file: a name defined twice fails the file of its later definition (the
 * error names both places); then the index by name is built. */
static void s_finish(s_loader_t *ld)
{
    cs_config_t *cfg = ld->cfg;
    cs_connection_t **index = cs_arena_alloc(cfg->arena, (cfg->count + 1) * sizeof *index);
    if (!index) {
        ld->oom = true;
        return;
    }
    for (size_t i = 0; i < cfg->count; i++)
        index[i] = &cfg->connections[i];
    qsort(index, cfg->count, sizeof *index, s_compare_conn_names);
    bool any_duplicate = false;
    for (size_t i = 1; i < cfg->count; i++) {
        if (strcmp(index[i - 1]->name, index[i]->name) != 0)
            continue;
        const cs_connection_t *first = index[i - 1], *again = index[i];
        s_error(ld, again->block->label_pos[0], "connection \"%s\" is already defined at %s:%d:%d",
                again->name, first->file, first->block->label_pos[0].line,
                first->block->label_pos[0].col);
        /* The later file fails; it is re-read for its names so that none is deleted. */
        const char **names = NULL;
        size_t name_count = 0, cap = 0;
        for (size_t j = 0; j < cfg->count; j++) {
            if (cfg->connections[j].file != again->file)
                continue;
            const char **grown = s_grow(ld, names, name_count, &cap, sizeof *grown);
            if (!grown)
                return;
            names = grown;
            names[name_count++] = cfg->connections[j].name;
        }
        s_add_failed(ld, again->file, names, name_count);
        any_duplicate = true;
    }
    if (any_duplicate) {
        size_t kept = 0;
        for (size_t i = 0; i < cfg->count; i++)
            if (!s_file_failed(cfg, cfg->connections[i].file))
                cfg->connections[kept++] = cfg->connections[i];
        cfg->count = kept;
        for (size_t i = 0; i < cfg->count; i++)
            index[i] = &cfg->connections[i];
        qsort(index, cfg->count, sizeof *index, s_compare_conn_names);
    }
    cfg->by_name = index;
    if (cfg->error_count > 1)
        qsort(cfg->errors, cfg->error_count, sizeof *cfg->errors, s_compare_errors);
}

static cs_config_t *s_config_new(s_loader_t *ld)
{
    *ld = (s_loader_t){0};
    cs_config_t *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return NULL;
    cfg->arena = cs_arena_new();
    if (!cfg->arena) {
        free(cfg);
        return NULL;
    }
    ld->cfg = cfg;
    return cfg;
}

static cs_config_t *s_config_done(s_loader_t *ld)
{
    cs_config_t *cfg = ld->cfg;
    if (!ld->oom)
        s_finish(ld);
    if (ld->oom)
        cs_config_destroy(&cfg);
    return cfg;
}

cs_config_t *cs_config_load_text(const char *file, const char *text, size_t len)
{
    s_loader_t ld;
    cs_config_t *cfg = s_config_new(&ld);
    if (!cfg)
        return NULL;
    const char *path = s_strdup(&ld, file);
    if (path)
        s_load_text(&ld, path, text, len);
    return s_config_done(&ld);
}

static int s_compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Reads a whole file into the arena; on failure records an error and returns NULL. */
static char *s_read_file(s_loader_t *ld, const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *text = NULL;
    if (fd < 0 || fstat(fd, &st) != 0) {
        s_error(ld, (cs_pos_t){path, 0, 0}, "cannot read: %s", strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        s_error(ld, (cs_pos_t){path, 0, 0}, "not a regular file");
    } else if ((uint64_t)st.st_size > CS_CONFIG_MAX_FILE) {
        s_error(ld, (cs_pos_t){path, 0, 0}, "file is larger than %u MiB", CS_CONFIG_MAX_FILE >> 20);
    } else if (!(text = cs_arena_alloc(ld->cfg->arena, (size_t)st.st_size + 1))) {
        ld->oom = true;
    } else {
        ld->cfg->source_mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
        ld->cfg->source_size = (int64_t)st.st_size;
        ld->cfg->source_ino = (uint64_t)st.st_ino;
        size_t got = 0;
        while (got < (size_t)st.st_size) {
            ssize_t n = read(fd, text + got, (size_t)st.st_size - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            got += (size_t)n;
        }
        *len = got; /* a file that shrank while read is parsed as it was read */
    }
    if (fd >= 0)
        close(fd);
    return text;
}

/* Loads one file into a unit of its own. */
static cs_config_t *s_load_unit(const char *path)
{
    s_loader_t ld;
    cs_config_t *unit = s_config_new(&ld);
    if (!unit)
        return NULL;
    const char *file = s_strdup(&ld, path);
    unit->source = file;
    size_t len = 0;
    char *text = file ? s_read_file(&ld, file, &len) : NULL;
    if (text)
        s_load_text(&ld, file, text, len);
    else if (file)
        s_add_failed(&ld, file, NULL, 0);
    return s_config_done(&ld);
}

/* Adds a unit's connections, errors and failed file to the directory's result. */
static void s_merge(s_loader_t *ld, const cs_config_t *unit)
{
    cs_config_t *cfg = ld->cfg;
    cfg->file_count += unit->file_count;
    for (size_t i = 0; i < unit->count; i++) {
        cs_connection_t *grown =
            s_grow(ld, cfg->connections, cfg->count, &ld->conn_cap, sizeof *grown);
        if (!grown)
            return;
        cfg->connections = grown;
        cfg->connections[cfg->count++] = unit->connections[i];
    }
    for (size_t i = 0; i < unit->error_count; i++) {
        cs_config_error_t *grown =
            s_grow(ld, cfg->errors, cfg->error_count, &ld->error_cap, sizeof *grown);
        if (!grown)
            return;
        cfg->errors = grown;
        cfg->errors[cfg->error_count++] = unit->errors[i];
    }
    for (size_t i = 0; i < unit->failed_count; i++)
        s_add_failed(ld, unit->failed[i].path, unit->failed[i].names, unit->failed[i].name_count);
}

/* The unit of previous read from path, when the file is still what it was then: taken out
 * of previous. *cursor walks previous's units, which are in path order like ours. */
static cs_config_t *s_reuse(cs_config_t *previous, size_t *cursor, const char *path)
{
    if (!previous)
        return NULL;
    while (*cursor < previous->unit_count) {
        cs_config_t *unit = previous->units[*cursor];
        int order = unit && unit->source ? strcmp(unit->source, path) : -1;
        if (order > 0)
            return NULL;
        (*cursor)++;
        if (order < 0)
            continue;
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || unit->source_size == 0 ||
            (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec != unit->source_mtime_ns ||
            (int64_t)st.st_size != unit->source_size || (uint64_t)st.st_ino != unit->source_ino)
            return NULL; /* changed (or never read): parse it again */
        previous->units[*cursor - 1] = NULL;
        unit->reused = true;
        return unit;
    }
    return NULL;
}

cs_config_t *cs_config_reload_dir(const char *dir, cs_config_t *previous)
{
    s_loader_t ld;
    cs_config_t *cfg = s_config_new(&ld);
    if (!cfg)
        return NULL;
    DIR *d = opendir(dir);
    if (!d) {
        s_error(&ld, (cs_pos_t){s_strdup(&ld, dir), 0, 0}, "cannot open the config directory: %s",
                strerror(errno));
        cfg->dir_failed = true;
        return s_config_done(&ld);
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (!cs_config_file_name(entry->d_name))
            continue;
        size_t len = strlen(entry->d_name);
        char **grown = s_grow(&ld, names, count, &cap, sizeof *grown);
        char *copy = cs_arena_strndup(cfg->arena, entry->d_name, len);
        if (!grown || !copy) {
            ld.oom = true;
            break;
        }
        names = grown;
        names[count++] = copy;
    }
    closedir(d);
    if (count > 1)
        qsort(names, count, sizeof *names, s_compare_strings);
    cfg->units = cs_arena_alloc(cfg->arena, (count ? count : 1) * sizeof *cfg->units);
    if (!cfg->units)
        ld.oom = true;
    bool slash = dir[0] && dir[strlen(dir) - 1] == '/';
    size_t cursor = 0;
    for (size_t i = 0; i < count && !ld.oom; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s%s%s", dir, slash ? "" : "/", names[i]);
        cs_config_t *unit = s_reuse(previous, &cursor, path);
        if (!unit)
            unit = s_load_unit(path);
        if (!unit) {
            ld.oom = true;
            break;
        }
        cfg->units[cfg->unit_count++] = unit;
        s_merge(&ld, unit);
    }
    return s_config_done(&ld);
}

cs_config_t *cs_config_load_dir(const char *dir)
{
    return cs_config_reload_dir(dir, NULL);
}

char *cs_home_path(const char *env, const char *leaf)
{
    const char *value = env ? getenv(env) : NULL;
    if (value && *value)
        return strdup(value);
    const char *home = getenv("HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (!home)
        return NULL;
    cs_buf_t path = {0};
    cs_buf_printf(&path, "%s/.connstate/%s", home, leaf);
    return cs_buf_take(&path);
}

const char *cs_opt(const char *flag, const char *env, const char *fallback)
{
    if (flag)
        return flag;
    const char *value = getenv(env);
    return value && *value ? value : fallback;
}

char *cs_exe_path(const char *relative)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    cs_buf_t path = {0};
    cs_buf_printf(&path, "%s/%s", exe, relative);
    return cs_buf_take(&path);
}

char *cs_config_default_dir(void)
{
    return cs_home_path("CONNSTATE_CONFIG_DIR", "config");
}

/* ---- lookups --------------------------------------------------------------------------- */

static int s_find_name(const void *key, const void *item)
{
    return strcmp(key, (*(const cs_connection_t *const *)item)->name);
}

bool cs_config_file_name(const char *name)
{
    size_t len = strlen(name);
    return name[0] != '.' && len > 4 && strcmp(name + len - 4, ".spc") == 0;
}

const cs_connection_t *cs_config_find(const cs_config_t *self, const char *name)
{
    if (!self->by_name)
        return NULL;
    cs_connection_t **found =
        bsearch(name, self->by_name, self->count, sizeof *self->by_name, s_find_name);
    return found ? *found : NULL;
}

bool cs_config_name_failed(const cs_config_t *self, const char *name)
{
    for (size_t i = 0; i < self->failed_count; i++)
        for (size_t j = 0; j < self->failed[i].name_count; j++)
            if (strcmp(self->failed[i].names[j], name) == 0)
                return true;
    return false;
}

const cs_config_error_t *cs_config_file_error(const cs_config_t *self, const char *path)
{
    for (size_t i = 0; i < self->error_count; i++)
        if (strcmp(self->errors[i].file, path) == 0)
            return &self->errors[i];
    return NULL;
}

void cs_config_destroy(cs_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    for (size_t i = 0; i < (*self_p)->unit_count; i++)
        cs_config_destroy(&(*self_p)->units[i]);
    cs_arena_destroy(&(*self_p)->arena);
    free(*self_p);
    *self_p = NULL;
}

size_t cs_config_file_count(const cs_config_t *self)
{
    return self->unit_count;
}

const char *cs_config_file_path(const cs_config_t *self, size_t i)
{
    return i < self->unit_count && self->units[i] ? self->units[i]->source : NULL;
}

bool cs_config_file_changed(const cs_config_t *self, size_t i)
{
    return i < self->unit_count && self->units[i] && !self->units[i]->reused;
}

void cs_config_log_errors(const cs_config_t *self)
{
    for (size_t i = 0; i < self->error_count; i++) {
        const cs_config_error_t *e = &self->errors[i];
        bool fresh = self->unit_count == 0; /* the directory itself failed */
        for (size_t u = 0; u < self->unit_count && !fresh; u++)
            fresh = !self->units[u]->reused && self->units[u]->source == e->file;
        if (!fresh)
            continue;
        if (e->line > 0)
            cs_log_warn("config: %s:%d:%d: %s", e->file, e->line, e->col, e->message);
        else
            cs_log_warn("config: %s: %s", e->file, e->message);
    }
}
