/* What the load of one file keeps, moved out of the arena that holds the file's parse tree into
 * one of its exact size: a loaded config holds no tree and no room to spare. */
#include "common.h"

#include <stdlib.h>
#include <string.h>

/* The most bytes cs_arena_alloc skips to align an array (it aligns to a pointer or a double). */
#define S_ALIGN_ROOM                                                                               \
    ((_Alignof(double) > _Alignof(void *) ? _Alignof(double) : _Alignof(void *)) - 1)

/* One walk over a file's results, made twice: counting the bytes they need (each move returns
 * what it is given), then moving them into the new arena (each returns the copy). */
typedef struct {
    bool counting;
    size_t size; /* counted so far */
    cs_arena_t *from, *to;
    const char *old_file, *file; /* the file's path, before and after the move */
    bool oom;
} s_move_t;

static const char *s_move_text(s_move_t *m, const char *text)
{
    if (!text)
        return NULL;
    size_t len = strlen(text);
    if (m->counting) {
        m->size += len + 1;
        return text;
    }
    char *copy = cs_arena_strndup(m->to, text, len);
    m->oom |= !copy;
    return copy ? copy : text;
}

/* The file's path: every place and entry of the file points at the same copy. */
static const char *s_move_file(s_move_t *m, const char *file)
{
    if (file && file == m->old_file)
        return m->counting ? file : m->file;
    return s_move_text(m, file);
}

/* count elements of elem_size bytes (their pointers still to be moved by the caller). */
static void *s_move_array(s_move_t *m, void *items, size_t count, size_t elem_size)
{
    if (!items)
        return NULL;
    size_t bytes = count * elem_size;
    if (m->counting) {
        m->size += (bytes ? bytes : 1) + S_ALIGN_ROOM;
        return items;
    }
    void *copy = cs_arena_alloc(m->to, bytes);
    if (!copy) {
        m->oom = true;
        return items;
    }
    if (bytes)
        memcpy(copy, items, bytes);
    return copy;
}

static const char **s_move_texts(s_move_t *m, const char **texts, size_t count)
{
    texts = s_move_array(m, texts, count, sizeof *texts);
    for (size_t i = 0; texts && i < count; i++)
        texts[i] = s_move_text(m, texts[i]);
    return texts;
}

/* A connection's config JSON, both forms (cs_canon_config_forms): a large one was adopted by
 * the old arena, and is adopted by the new one as it is. */
static const char *s_move_json(s_move_t *m, const char *json)
{
    size_t written = strlen(json);
    size_t size = written + 1 + strlen(json + written + 1) + 1;
    if (size - 1 >= CS_LOAD_JSON_ADOPT) {
        if (m->counting)
            return json;
        size_t adopted_size;
        void *block = cs_arena_disown(m->from, json, &adopted_size);
        if (block) {
            void *kept = cs_arena_adopt(m->to, &block, adopted_size);
            m->oom |= !kept;
            return kept ? kept : json; /* (then freed: the load fails) */
        }
    }
    if (m->counting) {
        m->size += size;
        return json;
    }
    char *copy = cs_arena_alloc_text(m->to, size);
    if (!copy) {
        m->oom = true;
        return json;
    }
    memcpy(copy, json, size);
    return copy;
}

static void s_move_connection(s_move_t *m, cs_connection_t *c)
{
    const char *written = c->plugin_written;
    bool plugin_is_written = c->plugin == written;
    /* cs_config_parse_ref points the constraint into the reference */
    size_t constraint_at = c->plugin_constraint ? (size_t)(c->plugin_constraint - written) : 0;
    c->name = s_move_text(m, c->name);
    c->plugin_written = s_move_text(m, written);
    c->plugin = plugin_is_written ? c->plugin_written : s_move_text(m, c->plugin);
    if (c->plugin_constraint)
        c->plugin_constraint = c->plugin_written + constraint_at;
    c->members = s_move_texts(m, c->members, c->member_count);
    c->file = s_move_file(m, c->file);
    c->config_json = s_move_json(m, c->config_json);
}

static void s_move_plugin(s_move_t *m, cs_config_plugin_t *p)
{
    const char *source = p->source;
    size_t constraint_at = p->constraint ? (size_t)(p->constraint - source) : 0;
    p->label = s_move_text(m, p->label);
    p->source = s_move_text(m, source);
    if (p->constraint)
        p->constraint = p->source + constraint_at;
    p->plugin = s_move_text(m, p->plugin);
    p->image = s_move_text(m, p->image);
    p->env = s_move_texts(m, p->env, p->env_count);
    p->file = s_move_file(m, p->file);
}

static void s_move_list(s_move_t *m, cs_config_list_t *list)
{
    list->items = s_move_texts(m, list->items, list->count);
    list->file = s_move_file(m, list->file);
}

/* Everything of the file's results that points into the arena (none is resolved or indexed
 * yet: that comes after, in s_finish). */
static void s_move_all(s_move_t *m, cs_config_t *cfg)
{
    m->file = s_move_text(m, m->old_file);
    cfg->source = s_move_file(m, cfg->source);
    for (size_t i = 0; i < cfg->count; i++)
        s_move_connection(m, &cfg->connections[i]);
    cfg->errors = s_move_array(m, cfg->errors, cfg->error_count, sizeof *cfg->errors);
    for (size_t i = 0; i < cfg->error_count; i++) {
        cfg->errors[i].file = s_move_file(m, cfg->errors[i].file);
        cfg->errors[i].message = s_move_text(m, cfg->errors[i].message);
    }
    cfg->failed = s_move_array(m, cfg->failed, cfg->failed_count, sizeof *cfg->failed);
    for (size_t i = 0; i < cfg->failed_count; i++) {
        cfg->failed[i].path = s_move_file(m, cfg->failed[i].path);
        cfg->failed[i].names = s_move_texts(m, cfg->failed[i].names, cfg->failed[i].name_count);
    }
    cfg->plugins = s_move_array(m, cfg->plugins, cfg->plugin_count, sizeof *cfg->plugins);
    for (size_t i = 0; i < cfg->plugin_count; i++)
        s_move_plugin(m, &cfg->plugins[i]);
    cfg->ignored = s_move_array(m, cfg->ignored, cfg->ignored_count, sizeof *cfg->ignored);
    for (size_t i = 0; i < cfg->ignored_count; i++) {
        cfg->ignored[i].file = s_move_file(m, cfg->ignored[i].file);
        cfg->ignored[i].what = s_move_text(m, cfg->ignored[i].what);
    }
    s_move_list(m, &cfg->database.search_path);
    s_move_list(m, &cfg->database.search_path_prefix);
    cfg->plugin_options_file = s_move_file(m, cfg->plugin_options_file);
}

/* The array of the connections (the config's own, malloc'ed with room for every connection
 * block), as it is: cut to their number, and apart or taken into the arena. Returns false when
 * out of memory. */
static bool s_keep_connections(cs_config_t *cfg, bool apart)
{
    cs_connection_t *owned = cfg->connections_owned;
    size_t size = cfg->count * sizeof *owned;
    cfg->connections_owned = NULL;
    cfg->connections = NULL;
    if (!owned || cfg->count == 0) {
        free(owned);
        return true;
    }
    cs_connection_t *fitted = realloc(owned, size); /* smaller: in place, or a copy */
    if (fitted)
        owned = fitted;
    if (apart) {
        cfg->connections = cfg->connections_owned = owned;
        return true;
    }
    void *block = owned;
    cfg->connections = cs_arena_adopt(cfg->arena, &block, size);
    return cfg->connections != NULL;
}

void cs_load_keep(cs_load_t *ld, const char *file, bool apart)
{
    cs_config_t *cfg = ld->cfg;
    s_move_t m = {.counting = true, .from = cfg->arena, .old_file = file};
    s_move_all(&m, cfg);
    m.counting = false;
    m.to = cs_arena_new_sized(m.size);
    if (!m.to) {
        ld->oom = true;
        return;
    }
    s_move_all(&m, cfg);
    if (m.oom) { /* what moved is lost with the new arena: the load fails */
        cs_arena_destroy(&m.to);
        ld->oom = true;
        return;
    }
    cfg->arena = m.to;
    cs_arena_destroy(&m.from);
    if (!s_keep_connections(cfg, apart))
        ld->oom = true;
    /* the arrays are full: a later entry grows them */
    ld->conn_cap = cfg->count;
    ld->error_cap = cfg->error_count;
    ld->failed_cap = cfg->failed_count;
    ld->plugin_cap = cfg->plugin_count;
    ld->ignored_cap = cfg->ignored_count;
    cs_load_cap_t *caps[] = {&ld->errors, &ld->ignored};
    for (size_t i = 0; i < sizeof caps / sizeof *caps; i++) {
        if (caps[i]->file == file)
            caps[i]->file = m.file;
        if (caps[i]->dropped_at.file == file)
            caps[i]->dropped_at.file = m.file;
    }
}
