/* The rules of a connection block: names, plugin, type, members; errors at file:line:col. */
#include "common.h"

#include "cs_secrets.h"
#include "cs_semver.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Attributes of a connection block that connstate interprets; the rest is the plugin's. */
static const char *const s_reserved_attrs[] = {"plugin", "type", "connections", "import_schema"};

/* ---- a load's vectors and errors ------------------------------------------------------- */

void *cs_load_grow(cs_load_t *ld, void *items, size_t count, size_t *cap, size_t elem_size)
{
    void *grown = cs_arena_grow(ld->cfg->arena, items, count, cap, elem_size);
    if (!grown)
        ld->oom = true;
    return grown;
}

const char *cs_load_strdup(cs_load_t *ld, const char *text)
{
    char *copy = cs_arena_strndup(ld->cfg->arena, text, strlen(text));
    if (!copy)
        ld->oom = true;
    return copy;
}

const char *cs_load_vformat(cs_load_t *ld, const char *fmt, va_list args)
{
    char message[512];
    vsnprintf(message, sizeof message, fmt, args);
    return cs_load_strdup(ld, message);
}

/* Appends one error (its text already in the arena) to the result. */
static void s_add_error(cs_load_t *ld, cs_pos_t pos, const char *text)
{
    cs_config_t *cfg = ld->cfg;
    cs_config_error_t *errors =
        cs_load_grow(ld, cfg->errors, cfg->error_count, &ld->error_cap, sizeof *errors);
    if (!errors || !text)
        return;
    cfg->errors = errors;
    cfg->errors[cfg->error_count++] = (cs_config_error_t){pos.file, pos.line, pos.col, text};
}

bool cs_load_cap_take(cs_load_cap_t *cap, cs_pos_t pos, size_t max)
{
    if (pos.file != cap->file) {
        cap->file = pos.file;
        cap->kept = 0;
    }
    if (cap->kept >= max) {
        cap->dropped++;
        cap->dropped_at = pos;
        return false;
    }
    cap->kept++;
    return true;
}

void cs_load_error(cs_load_t *ld, cs_pos_t pos, const char *fmt, ...)
{
    ld->file_failed = true;
    if (!cs_load_cap_take(&ld->errors, pos, CS_CONFIG_MAX_ERRORS))
        return;
    va_list args;
    va_start(args, fmt);
    const char *text = cs_load_vformat(ld, fmt, args);
    va_end(args);
    s_add_error(ld, pos, text);
}

void cs_load_errors_done(cs_load_t *ld)
{
    if (ld->errors.dropped == 0)
        return;
    char message[128];
    snprintf(message, sizeof message, "and %zu more errors (only the first %d of a file are shown)",
             ld->errors.dropped, CS_CONFIG_MAX_ERRORS);
    s_add_error(ld, ld->errors.dropped_at, cs_load_strdup(ld, message));
    ld->errors.dropped = 0;
}

/* ---- names ----------------------------------------------------------------------------- */

/* ASCII letters of either case: a connection's schema name is quoted where it is mixed. */
static bool s_is_letter(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool cs_config_entry_match(const cs_connection_t *agg, const char *name)
{
    for (size_t i = 0; i < agg->member_count; i++)
        if (fnmatch(agg->members[i], name, 0) == 0)
            return true;
    return false;
}

bool cs_config_member_of(const cs_connection_t *agg, const cs_connection_t *c)
{
    if (c->aggregator || c == agg)
        return false;
    if (agg->instance ? !c->instance || strcmp(c->instance->label, agg->instance->label) != 0
                      : strcmp(c->plugin, agg->plugin) != 0)
        return false;
    return cs_config_entry_match(agg, c->name);
}

const char *cs_config_name_problem(const char *name)
{
    size_t len = strlen(name);
    if (len == 0)
        return "a name cannot be empty";
    if (len > CS_CONFIG_MAX_NAME)
        return "a name is at most 63 bytes";
    if (!(s_is_letter(name[0]) || name[0] == '_'))
        return "a name starts with a letter or '_'";
    for (size_t i = 0; i < len; i++)
        if (!(s_is_letter(name[i]) || (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
            return "a name holds only letters, digits and '_'";
    /* Reserved in any case: "Public" is a schema of its own, but an unquoted Public.t in SQL
     * means public.t, and the rest name PostgreSQL's or connstate's own schemas. */
    if (strcasecmp(name, "public") == 0 || strcasecmp(name, "information_schema") == 0 ||
        strcasecmp(name, "connstate_internal") == 0 || strncasecmp(name, "pg_", 3) == 0)
        return "the name is reserved, in any case (public, information_schema, "
               "connstate_internal, pg_*)";
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

static bool s_ref_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == ':';
}

/* Appends len bytes of text to the full reference being built in image (CS_CONFIG_MAX_IMAGE
 * bytes, NUL-terminated), cut at its bound as snprintf cuts: no printf per connection. */
static void s_image_put(char image[CS_CONFIG_MAX_IMAGE], size_t *at, const char *text, size_t len)
{
    size_t room = CS_CONFIG_MAX_IMAGE - 1 - *at;
    if (len > room)
        len = room;
    memcpy(image + *at, text, len);
    *at += len;
    image[*at] = '\0';
}

const char *cs_config_parse_ref(const char *ref, char name[CS_CONFIG_MAX_REF + 1],
                                char image[CS_CONFIG_MAX_IMAGE], const char **constraint)
{
    static const char hub[] = "hub.steampipe.io/plugins";
    size_t len = strlen(ref);
    *constraint = NULL;
    name[0] = image[0] = '\0';
    if (len == 0 || len > CS_CONFIG_MAX_REF)
        return "a plugin reference has 1 to 512 bytes";
    const char *at = strchr(ref, '@');
    size_t path_len = at ? (size_t)(at - ref) : len;
    const char *stream = "latest";
    if (at) {
        stream = at[1] == 'v' ? at + 2 : at + 1; /* @v0.5.0 is @0.5.0, as Steampipe reads it */
        const char *problem =
            strcmp(stream, "latest") == 0 ? NULL : cs_semver_constraint_problem(stream);
        if (problem)
            return problem;
        if (strcmp(stream, "latest") != 0)
            *constraint = stream;
    }
    /* path segments: registry and organisation, then the short name */
    size_t segments = 1, last = 0;
    bool dotted_first = false;
    for (size_t i = 0; i <= path_len; i++) {
        if (i < path_len && ref[i] != '/') {
            if (!s_ref_char(ref[i]))
                return "a plugin reference holds letters, digits, '.', '_', '-', ':', '/' and "
                       "one '@' before its version";
            continue;
        }
        if (i == last ||
            (ref[last] == '.' && (i == last + 1 || (i == last + 2 && ref[last + 1] == '.'))))
            return "a plugin reference has no empty, '.' or '..' part: write \"org/name\" or "
                   "\"name\"";
        if (segments == 1 && memchr(ref, '.', i))
            dotted_first = true;
        if (i < path_len) {
            segments++;
            last = i + 1;
        }
    }
    size_t name_len = path_len - last;
    memcpy(name, ref + last, name_len);
    name[name_len] = '\0';
    const char *problem = s_plugin_problem(name, name_len);
    if (problem)
        return problem;
    /* The full reference, as Steampipe builds it to match connections to instances. */
    size_t filled = 0;
    if (strncmp(ref, "local/", 6) == 0) {
        s_image_put(image, &filled, ref, strlen(ref));
    } else {
        if (segments == 1 || (segments == 2 && !dotted_first))
            s_image_put(image, &filled, hub, strlen(hub));
        if (segments == 1)
            s_image_put(image, &filled, "/turbot/", 8);
        else if (segments == 2 && !dotted_first)
            s_image_put(image, &filled, "/", 1);
        s_image_put(image, &filled, ref, path_len);
        s_image_put(image, &filled, "@", 1);
        s_image_put(image, &filled, stream, strlen(stream));
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
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '*' || c == '?' || c == '[' || c == ']' || c == '-' || c == '!'))
            return "a member holds only name characters and the glob characters * ? [ ] ! -";
    }
    return NULL;
}

bool cs_config_reserved(const char *key)
{
    for (size_t i = 0; i < sizeof s_reserved_attrs / sizeof *s_reserved_attrs; i++)
        if (strcmp(key, s_reserved_attrs[i]) == 0)
            return true;
    return false;
}

/* An attribute and the first written nested block of the same name. */
typedef struct {
    uint32_t attr; /* its index in the body */
    const cs_block_t *block;
} s_twin_t;

static int s_compare_twins(const void *a, const void *b)
{
    uint32_t x = ((const s_twin_t *)a)->attr, y = ((const s_twin_t *)b)->attr;
    return (x > y) - (x < y);
}

/* The attributes of a body that share their name with a nested block, in written order:
 * equal keys are neighbours in the body's sorted order (cs_hcl_sorted), and a body holds
 * one attribute of a name at most. Returns 0 with them in *twins_p (malloc'ed, the caller
 * frees it) and their number in *count_p, or -1 when out of memory. */
static int s_find_twins(const cs_block_t *block, s_twin_t **twins_p, size_t *count_p)
{
    const uint32_t *sorted = cs_hcl_sorted(block);
    *twins_p = NULL;
    *count_p = 0;
    if (!sorted)
        return 0;
    size_t count = 0, cap = 0;
    for (uint32_t run = 0, end; run < block->count; run = end) {
        uint32_t attr = UINT32_MAX;
        const cs_block_t *first = NULL;
        for (end = run; end < block->count && (end == run || cs_hcl_same_key(block, end)); end++) {
            const cs_item_t *item = &block->items[sorted[end]];
            if (item->attr)
                attr = sorted[end];
            else if (!first)
                first = item->block;
        }
        if (attr == UINT32_MAX || !first)
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 8;
            s_twin_t *grown = realloc(*twins_p, cap * sizeof *grown);
            if (!grown) {
                free(*twins_p);
                *twins_p = NULL;
                return -1;
            }
            *twins_p = grown;
        }
        (*twins_p)[count++] = (s_twin_t){attr, first};
    }
    if (count > 1)
        qsort(*twins_p, count, sizeof **twins_p, s_compare_twins);
    *count_p = count;
    return 0;
}

/* An attribute and a nested block with the same name would share one JSON key. hidden:
 * the block is (inside) a secret-named block, whose names errors do not quote either.
 * The body's order by key (sorted by the parser) finds them: a body of n items costs O(n). */
static void s_check_body_names(cs_load_t *ld, const cs_block_t *block, bool top, bool hidden)
{
    s_twin_t *twins;
    size_t twin_count, next_twin = 0;
    if (s_find_twins(block, &twins, &twin_count) != 0) {
        ld->oom = true;
        return;
    }
    for (uint32_t i = 0; i < block->count; i++) {
        const cs_item_t *item = &block->items[i];
        if (item->block) {
            if (top && cs_config_reserved(item->block->type))
                cs_load_error(ld, item->block->pos, "\"%s\" is an attribute: write %s = ...",
                              item->block->type, item->block->type);
            s_check_body_names(ld, item->block, false,
                               hidden || cs_secrets_name_is_secret(item->block->type));
            continue;
        }
        if (!top && strcmp(item->attr->key, "_labels") == 0)
            cs_load_error(ld, item->attr->pos, "the attribute name \"_labels\" is reserved");
        if (next_twin < twin_count && twins[next_twin].attr == i) {
            const cs_block_t *other = twins[next_twin++].block;
            char name[96] = "a name (not shown: secret)";
            if (!hidden)
                snprintf(name, sizeof name, "\"%.80s\"", other->type);
            cs_load_error(ld, other->pos, "%s is both an attribute (at line %d) and a block", name,
                          item->attr->pos.line);
        }
    }
    free(twins);
}

/* ---- connections ----------------------------------------------------------------------- */

/* An attribute that is one of two words: *second is whether it is the second.
 * False (and the error said) for anything else. */
static bool s_choice_attr(cs_load_t *ld, const cs_attr_t *attr, const char *first,
                          const char *second, bool *is_second)
{
    const cs_value_t *v = attr->value;
    if (v->type == CS_VAL_STRING && strcmp(v->via.str.ptr, first) == 0) {
        *is_second = false;
        return true;
    }
    if (v->type == CS_VAL_STRING && strcmp(v->via.str.ptr, second) == 0) {
        *is_second = true;
        return true;
    }
    if (v->type != CS_VAL_STRING)
        cs_load_error(ld, v->pos, "%s must be a string, e.g. %s = \"%s\"", attr->key, attr->key,
                      second);
    else
        cs_load_error(ld, v->pos, "%s must be \"%s\" or \"%s\", not \"%.80s\"", attr->key, first,
                      second, v->via.str.ptr);
    return false;
}

/* plugin = "turbot/aws@^0.5" (its short name and constraint now), or plugin = plugin.LABEL
 * (an instance: resolved when every file is loaded, s_resolve_plugins in loader.c). */
static int s_plugin_attr(cs_load_t *ld, const cs_attr_t *attr, cs_connection_t *conn)
{
    const cs_value_t *v = attr->value;
    if (v->type == CS_VAL_REFERENCE) {
        const char *label = v->via.str.ptr + 7;
        if (strncmp(v->via.str.ptr, "plugin.", 7) != 0 || strchr(label, '.')) {
            cs_load_error(ld, v->pos,
                          "plugin = %.80s: a reference names a plugin instance, plugin.LABEL, "
                          "or write the plugin as a string, plugin = \"aws\"",
                          v->via.str.ptr);
            return -1;
        }
        conn->plugin_written = v->via.str.ptr;
        conn->plugin_instance = true;
        conn->plugin_at = (cs_line_col_t){v->pos.line, v->pos.col};
        conn->plugin = NULL; /* known once the instance is found */
        return 0;
    }
    if (v->type != CS_VAL_STRING) {
        cs_load_error(ld, v->pos,
                      "plugin must be a string or an instance, e.g. plugin = \"aws\" or "
                      "plugin = plugin.aws_high");
        return -1;
    }
    char name[CS_CONFIG_MAX_REF + 1], image[CS_CONFIG_MAX_IMAGE];
    const char *constraint;
    const char *problem = cs_config_parse_ref(v->via.str.ptr, name, image, &constraint);
    if (problem) {
        cs_load_error(ld, v->pos, "invalid plugin \"%.80s\": %s", v->via.str.ptr, problem);
        return -1;
    }
    conn->plugin_written = v->via.str.ptr;
    conn->plugin_at = (cs_line_col_t){v->pos.line, v->pos.col};
    conn->plugin_constraint = constraint;
    conn->plugin = strcmp(name, v->via.str.ptr) == 0 ? v->via.str.ptr : cs_load_strdup(ld, name);
    return conn->plugin ? 0 : -1;
}

int cs_config_check(cs_load_t *ld, const cs_block_t *block, cs_connection_t *out)
{
    if (block->label_count != 1) {
        cs_load_error(ld, block->pos,
                      "a connection block has exactly one label, its name: "
                      "connection \"name\" { ... }");
        return -1;
    }
    const char *name = block->labels[0];
    const char *problem = cs_config_name_problem(name);
    if (problem) {
        cs_load_error(ld, block->label_pos[0], "invalid connection name \"%.80s\": %s", name,
                      problem);
        return -1;
    }
    cs_connection_t conn = {0};
    conn.name = name;
    conn.file = block->pos.file;
    conn.start_line = block->pos.line;
    conn.end_line = block->end.line;
    conn.name_at = (cs_line_col_t){block->label_pos[0].line, block->label_pos[0].col};
    bool ok = true;
    const cs_attr_t *members_attr = NULL;

    for (size_t i = 0; i < block->count; i++) {
        const cs_attr_t *attr = block->items[i].attr;
        if (!attr)
            continue;
        if (strcmp(attr->key, "plugin") == 0) {
            ok &= s_plugin_attr(ld, attr, &conn) == 0;
        } else if (strcmp(attr->key, "type") == 0) {
            ok &= s_choice_attr(ld, attr, "plugin", "aggregator", &conn.aggregator);
        } else if (strcmp(attr->key, "import_schema") == 0) {
            ok &= s_choice_attr(ld, attr, "enabled", "disabled", &conn.import_disabled);
        } else if (strcmp(attr->key, "connections") == 0) {
            members_attr = attr;
        }
    }
    if (!conn.plugin_written && ok) {
        cs_load_error(ld, block->pos, "connection \"%s\" has no plugin: add plugin = \"NAME\"",
                      name);
        ok = false;
    }
    if (members_attr && !conn.aggregator) {
        cs_load_error(ld, members_attr->pos,
                      "connections is only valid in an aggregator (type = \"aggregator\")");
        ok = false;
    } else if (conn.aggregator && !members_attr) {
        cs_load_error(ld, block->pos,
                      "aggregator \"%s\" needs connections = [\"name\", \"glob_*\"]", name);
        ok = false;
    } else if (members_attr) {
        const cs_value_t *list = members_attr->value;
        if (list->type != CS_VAL_LIST) {
            cs_load_error(ld, list->pos, "connections must be a list of names, e.g. [\"aws_*\"]");
            ok = false;
        } else {
            conn.members =
                cs_arena_alloc(ld->cfg->arena, (list->via.list.count + 1) * sizeof *conn.members);
            if (!conn.members) {
                ld->oom = true;
                return -1;
            }
            for (size_t i = 0; i < list->via.list.count; i++) {
                const cs_value_t *item = list->via.list.items[i];
                if (item->type != CS_VAL_STRING) {
                    cs_load_error(ld, item->pos, "connections must hold strings (names or globs)");
                    ok = false;
                } else if ((problem = s_member_problem(item->via.str.ptr, item->via.str.len))) {
                    cs_load_error(ld, item->pos, "invalid member \"%.80s\": %s", item->via.str.ptr,
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
        return -1;

    *out = conn;
    return 0;
}
