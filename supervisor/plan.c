/* The plan: from the config (what must exist), the rows (what the state table says) and the
 * schemas with their markers (what does exist), what every connection needs and why. A
 * pure function: it reads its inputs and writes nothing; refresh.c applies the decisions.
 * No state file: the database is the truth. */
#include "supervisor.h"

#include "cs_semver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cs_plan {
    cs_decision_t *items;
    size_t count, cap;
    zlistx_t *texts; /* owned strings the decisions point to */
    int64_t replan_at;
    bool oom;
};

static void s_text_free(void **item)
{
    free(*item);
    *item = NULL;
}

static const char *s_keep_text(cs_plan_t *self, const char *text)
{
    char *copy = strdup(text);
    if (!copy) {
        self->oom = true;
        return "out of memory";
    }
    zlistx_add_end(self->texts, copy);
    return copy;
}

static cs_decision_t *s_decide(cs_plan_t *self, const char *name, cs_action_t action,
                               const char *reason)
{
    if (self->count == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        cs_decision_t *items = realloc(self->items, cap * sizeof *items);
        if (!items) {
            self->oom = true;
            return NULL;
        }
        self->items = items;
        self->cap = cap;
    }
    cs_decision_t *d = &self->items[self->count++];
    *d = (cs_decision_t){.name = name, .action = action, .reason = reason};
    return d;
}

static void s_error(cs_plan_t *self, const char *name, const cs_connection_t *c, const char *reason,
                    const char *error)
{
    cs_decision_t *d = s_decide(self, name, CS_ACTION_ERROR, reason);
    if (d) {
        d->config = c;
        d->error = error;
    }
}

/* The first error of a file that failed to load, as FILE:LINE:COL: message. */
static void s_file_error(const cs_config_t *cfg, const char *path, char *buf, size_t size)
{
    const cs_config_error_t *e = cs_config_file_error(cfg, path);
    if (e && e->line > 0)
        snprintf(buf, size, "%s:%d:%d: %s", e->file, e->line, e->col, e->message);
    else if (e)
        snprintf(buf, size, "%s: %s", e->file, e->message);
    else
        snprintf(buf, size, "%s failed to load", path);
}

static const char *s_base(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The file of a row, among the files of a hash keyed by path and by name within the
 * directory (which is not recursive). */
static void *s_file_lookup(zhashx_t *files, const char *file)
{
    void *found = zhashx_lookup(files, file);
    return found ? found : zhashx_lookup(files, s_base(file));
}

/* The connections that a config failure keeps, name -> the error their rows show: those a
 * failed file still declares, and every row the state table attributes to a failed file --
 * a file cut in the middle, replaced by a directory or unreadable keeps all of them -- or to
 * any file when the directory itself could not be read. Texts are kept by the plan. */
static zhashx_t *s_kept_names(cs_plan_t *self, const cs_plan_input_t *in)
{
    const cs_config_t *cfg = in->config;
    zhashx_t *kept = zhashx_new();
    if (!kept || (cfg->failed_count == 0 && !cfg->dir_failed))
        return kept;
    zhashx_t *files = zhashx_new(); /* failed path and base name -> error */
    char why[CS_PROTO_MAX_ERROR];
    for (size_t i = 0; files && i < cfg->failed_count; i++) {
        const cs_failed_file_t *file = &cfg->failed[i];
        s_file_error(cfg, file->path, why, sizeof why);
        const char *text = s_keep_text(self, why);
        zhashx_insert(files, file->path, (void *)text);
        zhashx_insert(files, s_base(file->path), (void *)text);
        for (size_t j = 0; j < file->name_count; j++)
            zhashx_insert(kept, file->names[j], (void *)text);
    }
    const char *dir_why = NULL;
    if (cfg->dir_failed) {
        s_file_error(cfg, in->config_dir, why, sizeof why);
        dir_why = s_keep_text(self, why);
    }
    for (cs_record_t *row = cs_store_first(in->store); row && files;
         row = cs_store_next(in->store)) {
        const char *file = cs_record_values(row)->file_name;
        if (!file || cs_config_find(cfg, cs_record_name(row)))
            continue;
        const char *file_why = s_file_lookup(files, file);
        if (!file_why)
            file_why = dir_why;
        if (file_why)
            zhashx_insert(kept, cs_record_name(row), (void *)file_why);
    }
    zhashx_destroy(&files);
    return kept;
}

/* Whether a schema was built from this config and plugin version. */
static bool s_current(const cs_connection_t *c, const cs_schema_info_t *schema,
                      const cs_plugin_info_t *info)
{
    return schema && strcmp(schema->marker.fingerprint, c->fingerprint) == 0 &&
           strcmp(schema->marker.plugin_version, info->version) == 0;
}

/* Why a connection must be built; NULL when its schema is current. An update in flight is
 * waited for, unless it is a refetch of a current schema (which changes only its tables, at
 * once: the schema is judged from the catalog as usual). */
static const char *s_build_reason(const cs_connection_t *c, const cs_schema_info_t *schema,
                                  const cs_plugin_info_t *info, bool in_flight, bool refetching,
                                  bool has_row)
{
    if (in_flight && !(refetching && s_current(c, schema, info)))
        return "an update of it is in flight: checked again after it";
    if (!schema)
        return has_row ? "schema missing" : "new";
    if (strcmp(schema->marker.fingerprint, c->fingerprint) != 0)
        return "config changed";
    if (strcmp(schema->marker.plugin_version, info->version) != 0)
        return "plugin version changed";
    return NULL;
}

/* Whether the installed version of a connection's plugin misses the version its reference
 * asks for (@latest and no version always match); text says which, naming both. */
static bool s_version_mismatch(const cs_connection_t *c, const char *installed, char *text,
                               size_t size)
{
    char written[600];
    if (c->instance)
        snprintf(written, sizeof written, "%s, source \"%s\"", c->plugin_written,
                 c->instance->source);
    else
        snprintf(written, sizeof written, "%s", c->plugin_written);
    switch (cs_semver_satisfies(installed, c->plugin_constraint)) {
        case 1:
            return false;
        case 0:
            snprintf(text, size, "plugin %s %s does not satisfy @%s (%s)", c->plugin, installed,
                     c->plugin_constraint, written);
            return true;
        default:
            snprintf(text, size,
                     "plugin %s version \"%s\" is not a semantic version: cannot check @%s (%s)",
                     c->plugin, installed, c->plugin_constraint, written);
            return true;
    }
}

/* One configured connection: ready as it is, or built, or deleted (disabled), or error. A
 * connection whose build or delete is in flight is never judged ready from the catalog (the
 * schema may change under it): it gets a checked build, held until that one lands. */
static void s_plan_connection(cs_plan_t *self, const cs_plan_input_t *in, const cs_connection_t *c)
{
    const cs_schema_info_t *schema = zhashx_lookup(in->schemas, c->name);
    const cs_plan_oracle_t *o = &in->oracle;
    bool in_flight = o->in_flight && o->in_flight(o->arg, c->name);
    cs_decision_t *d;
    if (schema && !schema->managed) {
        char why[256];
        snprintf(why, sizeof why,
                 "schema \"%s\" exists and is not managed by connstate (it has no connstate "
                 "marker); it was left untouched",
                 c->name);
        s_error(self, c->name, c, "schema not managed", s_keep_text(self, why));
        return;
    }
    if (c->import_disabled) {
        d = s_decide(self, c->name, schema || in_flight ? CS_ACTION_DELETE : CS_ACTION_DISABLED,
                     "import disabled");
        if (d)
            d->config = c;
        return;
    }
    if (c->aggregator) {
        s_error(self, c->name, c, "aggregator",
                "aggregator connections are not built by this version of connstate");
        return;
    }
    const cs_plugin_info_t *info = NULL;
    const char *why = "plugin unknown";
    if (o->plugin(o->arg, c->plugin, &info, &why) != CS_PLUGIN_KNOWN) {
        s_error(self, c->name, c, "plugin", s_keep_text(self, why));
        return;
    }
    if (c->plugin_constraint) {
        char text[1024];
        if (s_version_mismatch(c, info->version, text, sizeof text)) {
            s_error(self, c->name, c, "plugin version", s_keep_text(self, text));
            return;
        }
    }
    const cs_record_t *row = cs_store_get(in->store, c->name);
    bool refetching = o->refetching && o->refetching(o->arg, c->name);
    const char *reason = s_build_reason(c, schema, info, in_flight, refetching, row != NULL);
    if (reason) {
        d = s_decide(self, c->name, CS_ACTION_BUILD, reason);
        if (d) {
            d->config = c;
            d->fresh = !schema && !in_flight;
            d->not_before = o->settled_at ? o->settled_at(o->arg, c->file) : 0;
        }
        return;
    }
    /* A current dynamic schema is fetched again only when the oracle says why (a watched
     * file changed, a refresh named it or asked for all, none was fetched since the start);
     * a refetch of it that is queued or under way is left to finish. */
    if (strcmp(info->mode, "dynamic") == 0) {
        const char *refetch =
            o->refetch ? o->refetch(o->arg, c->name) : "dynamic schema: fetched again";
        if (refetch) {
            d = s_decide(self, c->name, CS_ACTION_BUILD, refetch);
            if (d) {
                d->config = c;
                d->marker = &schema->marker;
                d->refetch = true;
                d->not_before = o->settled_at ? o->settled_at(o->arg, c->file) : 0;
            }
            return;
        }
    }
    d = s_decide(self, c->name, CS_ACTION_READY,
                 refetching ? "its schema is being fetched again" : "unchanged");
    if (d) {
        d->config = c;
        d->marker = &schema->marker;
        d->comments = !row || !cs_record_values(row)->comments_set;
        d->refetching = refetching;
    }
}

/* The files of the directory now, by path and by name (borrowed keys of the config). */
static zhashx_t *s_present_files(const cs_config_t *cfg)
{
    zhashx_t *present = zhashx_new();
    for (size_t i = 0; present && i < cs_config_file_count(cfg); i++) {
        const char *path = cs_config_file_path(cfg, i);
        if (!path)
            continue;
        zhashx_update(present, path, (void *)path);
        zhashx_update(present, s_base(path), (void *)path);
    }
    return present;
}

cs_plan_t *cs_plan_make(const cs_plan_input_t *in)
{
    cs_plan_t *self = calloc(1, sizeof *self);
    if (!self || !(self->texts = zlistx_new())) {
        free(self);
        return NULL;
    }
    zlistx_set_destructor(self->texts, s_text_free);
    const cs_config_t *cfg = in->config;
    const cs_plan_oracle_t *o = &in->oracle;
    zhashx_t *kept = s_kept_names(self, in);
    zhashx_t *present = s_present_files(cfg);
    if (!kept || !present) {
        zhashx_destroy(&kept);
        zhashx_destroy(&present);
        cs_plan_destroy(&self);
        return NULL;
    }
    /* Connections of files that failed to load keep their schemas and report the error. A
     * name a failed file declares is in error even where another file defines it too (the
     * later of two definitions fails its file). */
    size_t rows_seen = 0; /* rows of kept or configured connections */
    for (const char *why = zhashx_first(kept); why; why = zhashx_next(kept)) {
        const char *name = s_keep_text(self, zhashx_cursor(kept)); /* kept's keys go with it */
        s_error(self, name, cs_config_find(cfg, name), "its file failed to load", why);
        rows_seen += cs_store_get(in->store, name) != NULL;
    }
    for (size_t i = 0; i < cfg->count; i++) {
        if (zhashx_lookup(kept, cfg->connections[i].name))
            continue;
        s_plan_connection(self, in, &cfg->connections[i]);
        rows_seen += cs_store_get(in->store, cfg->connections[i].name) != NULL;
    }
    /* Rows whose connection left the config: their managed schema goes, then the row;
     * unless their file is gone from the directory for less than the grace. (None when
     * every row was seen above: the usual refresh, which then skips the walk.) */
    bool rows_left = rows_seen < cs_store_size(in->store);
    for (cs_record_t *row = rows_left ? cs_store_first(in->store) : NULL; row;
         row = cs_store_next(in->store)) {
        const char *name = cs_record_name(row), *file = cs_record_values(row)->file_name;
        if (cs_config_find(cfg, name) || zhashx_lookup(kept, name))
            continue;
        if (file && !s_file_lookup(present, file)) {
            int64_t since = o->gone_since ? o->gone_since(o->arg, file) : 0;
            if (!since || in->now - since < CS_PLAN_GONE_MS) {
                cs_decision_t *d =
                    s_decide(self, name, CS_ACTION_WAIT, "its file is gone for less than a second");
                if (d)
                    d->file = file;
                int64_t at = (since ? since : in->now) + CS_PLAN_GONE_MS;
                if (!self->replan_at || at < self->replan_at)
                    self->replan_at = at;
                continue;
            }
        }
        const cs_schema_info_t *schema = zhashx_lookup(in->schemas, name);
        bool in_flight = o->in_flight && o->in_flight(o->arg, name);
        s_decide(self, name,
                 (schema && schema->managed) || in_flight ? CS_ACTION_DELETE : CS_ACTION_FORGET,
                 "left the config");
    }
    /* Managed schemas with no connection and no row (a crash between drop and row delete,
     * a row removed by hand), and temporary schemas an interrupted update left. */
    for (cs_schema_info_t *schema = zhashx_first(in->schemas); schema;
         schema = zhashx_next(in->schemas)) {
        const char *name = zhashx_cursor(in->schemas);
        if (!schema->managed)
            continue;
        if (cs_marker_is_temp_name(name))
            s_decide(self, name, CS_ACTION_DROP_TEMP, "left by an interrupted update");
        else if (!cs_store_get(in->store, name) && !cs_config_find(cfg, name) &&
                 !zhashx_lookup(kept, name))
            s_decide(self, name, CS_ACTION_DELETE, "managed schema without a connection");
    }
    zhashx_destroy(&kept);
    zhashx_destroy(&present);
    if (self->oom)
        cs_plan_destroy(&self);
    return self;
}

void cs_plan_destroy(cs_plan_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zlistx_destroy(&(*self_p)->texts);
    free((*self_p)->items);
    free(*self_p);
    *self_p = NULL;
}

size_t cs_plan_count(const cs_plan_t *self)
{
    return self->count;
}

const cs_decision_t *cs_plan_decision(const cs_plan_t *self, size_t i)
{
    return i < self->count ? &self->items[i] : NULL;
}

int64_t cs_plan_replan_at(const cs_plan_t *self)
{
    return self->replan_at;
}

const char *cs_action_name(cs_action_t action)
{
    static const char *const names[] = {"ready", "build",  "delete", "disabled",
                                        "error", "forget", "wait",   "drop temporary"};
    return (unsigned)action < sizeof names / sizeof *names ? names[action] : "?";
}
