/* The plan: from the config (what must exist), the rows (what the state table says) and the
 * schemas with their markers (what does exist), what every connection needs and why. A
 * pure function: it reads its inputs and writes nothing; refresh.c applies the decisions.
 * No state file: the database is the truth. */
#include "supervisor.h"

#include "cs_digest.h"
#include "cs_semver.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_FAILED         "its update failed in this refresh"
#define S_WAS_AGGREGATOR "its schema is an aggregator's: dropped, then built"
#define S_LEFT_OUT_NAMED 8   /* members a left-out text names; then "and N more" */
#define S_MEMBER_ERROR   200 /* bytes of a left-out member's error quoted (cut at a character) */

struct cs_plan {
    cs_decision_t *items;
    size_t count, cap;
    zlistx_t *texts;       /* owned strings (and arrays) the decisions point to */
    zlistx_t *aggregators; /* the configured aggregators (borrowed), planned last */
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

/* Room for cap decisions in all (more is made as needed). Returns false when out of memory. */
static bool s_reserve(cs_plan_t *self, size_t cap)
{
    if (cap <= self->cap)
        return true;
    cs_decision_t *items = realloc(self->items, cap * sizeof *items);
    if (!items)
        return false;
    self->items = items;
    self->cap = cap;
    return true;
}

static cs_decision_t *s_decide(cs_plan_t *self, const char *name, cs_action_t action,
                               const char *reason)
{
    if (self->count == self->cap && !s_reserve(self, self->cap ? self->cap * 2 : 64)) {
        self->oom = true;
        return NULL;
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

/* Whether the plan decides this name: every name, or one of the names it was given. */
static bool s_named(const cs_plan_input_t *in, const char *name)
{
    return !in->names || zhashx_lookup(in->names, name) != NULL;
}

/* The next schema among the names to decide (*it: the iteration of in->names, moved on;
 * *name: the schema's name, borrowed from in->names), or NULL at their end. */
static const cs_schema_info_t *s_next_named_schema(const cs_plan_input_t *in, void **it,
                                                   const char **name)
{
    for (; *it; *it = zhashx_next(in->names)) {
        const char *key = zhashx_cursor(in->names);
        const cs_schema_info_t *schema = cs_schemas_get(in->schemas, key);
        if (schema) {
            *name = key;
            *it = zhashx_next(in->names);
            return schema;
        }
    }
    return NULL;
}

/* A row of a connection that the config does not have, kept when its file failed (files:
 * failed path and base name -> error) or the directory did (dir_why). */
static void s_keep_row(zhashx_t *kept, zhashx_t *files, const char *dir_why, const cs_config_t *cfg,
                       const cs_record_t *row)
{
    const char *file = row ? cs_record_values(row)->file_name : NULL;
    if (!file || cs_config_find(cfg, cs_record_name(row)))
        return;
    const char *file_why = s_file_lookup(files, file);
    if (!file_why)
        file_why = dir_why;
    if (file_why)
        zhashx_insert(kept, cs_record_name(row), (void *)file_why);
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
    /* the rows: every one, or those of the names to decide */
    if (in->names) {
        for (void *it = zhashx_first(in->names); it && files; it = zhashx_next(in->names))
            s_keep_row(kept, files, dir_why, cfg,
                       cs_store_get(in->store, zhashx_cursor(in->names)));
    } else {
        for (cs_record_t *row = cs_store_first(in->store); row && files;
             row = cs_store_next(in->store))
            s_keep_row(kept, files, dir_why, cfg, row);
    }
    zhashx_destroy(&files);
    if (in->names) { /* only the names to decide are decided */
        zlistx_t *drop = zlistx_new();
        for (void *k = zhashx_first(kept); drop && k; k = zhashx_next(kept))
            if (!s_named(in, zhashx_cursor(kept)))
                zlistx_add_end(drop, (void *)zhashx_cursor(kept));
        for (const char *n = drop ? zlistx_first(drop) : NULL; n; n = zlistx_next(drop))
            zhashx_delete(kept, n);
        zlistx_destroy(&drop);
    }
    return kept;
}

/* Whether an update of the connection with this fingerprint failed in this refresh. */
static bool s_failed_as(const cs_plan_input_t *in, const char *name, const char *fingerprint)
{
    const cs_plan_oracle_t *o = &in->oracle;
    const char *failed = o->failed ? o->failed(o->arg, name) : NULL;
    return failed && strcmp(failed, fingerprint ? fingerprint : "") == 0;
}

/* The error a row holds (what a failed update wrote), or a placeholder; kept by the plan (the
 * row's own text changes when the decision is applied). */
static const char *s_row_error(cs_plan_t *self, const cs_record_t *row)
{
    const char *error = row ? cs_record_values(row)->error : NULL;
    return s_keep_text(self, error ? error : S_FAILED);
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
    const cs_schema_info_t *schema = cs_schemas_get(in->schemas, c->name);
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
        if (schema && !in_flight && s_failed_as(in, c->name, c->fingerprint)) {
            s_error(self, c->name, c, S_FAILED,
                    s_row_error(self, cs_store_get(in->store, c->name)));
            return;
        }
        d = s_decide(self, c->name, schema || in_flight ? CS_ACTION_DELETE : CS_ACTION_DISABLED,
                     "import disabled");
        if (d)
            d->config = c;
        return;
    }
    if (c->aggregator) { /* planned once its members are (s_plan_aggregator) */
        zlistx_add_end(self->aggregators, (void *)c);
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
    if (schema && schema->marker.aggregator && !in_flight) { /* it was an aggregator */
        if ((d = s_decide(self, c->name, CS_ACTION_DELETE, S_WAS_AGGREGATOR)))
            d->config = c;
        return;
    }
    bool refetching = o->refetching && o->refetching(o->arg, c->name);
    const char *reason = s_build_reason(c, schema, info, in_flight, refetching, row != NULL);
    if (reason && !in_flight && s_failed_as(in, c->name, c->fingerprint)) {
        s_error(self, c->name, c, S_FAILED, s_row_error(self, row));
        return;
    }
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

/* ---- aggregators ------------------------------------------------------------------------ */

/* A member of an aggregator as this plan found it. */
typedef struct {
    const char *name;
    const cs_decision_t *decision;
    const char *hash; /* included: its schema's hash */
} s_member_t;

static int s_member_cmp(const void *a, const void *b)
{
    return strcmp(((const s_member_t *)a)->name, ((const s_member_t *)b)->name);
}

static int s_name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether a decision changes the schema (or waits to know whether it goes); a ready schema
 * being fetched again may change when that refetch lands. */
static bool s_pending(const cs_decision_t *d)
{
    return d->action == CS_ACTION_BUILD || d->action == CS_ACTION_DELETE ||
           d->action == CS_ACTION_WAIT || (d->action == CS_ACTION_READY && d->refetching);
}

/* Why a left-out member is left out, appended to out: "NAME (disabled)", "NAME (error: ...)". */
static void s_put_left_out(cs_buf_t *out, const s_member_t *m)
{
    if (m->decision->action == CS_ACTION_DISABLED) {
        cs_buf_printf(out, "%s (disabled)", m->name);
        return;
    }
    const char *error = m->decision->error ? m->decision->error : "error";
    size_t len = strlen(error);
    size_t cut = len > S_MEMBER_ERROR ? cs_utf8_prefix(error, S_MEMBER_ERROR) : len;
    cs_buf_printf(out, "%s (error: %.*s%s)", m->name, (int)cut, error, cut < len ? "..." : "");
}

/* The members left out, as a list: at most S_LEFT_OUT_NAMED named, then "and N more". */
static void s_put_left_list(cs_buf_t *out, const s_member_t *left, size_t count)
{
    for (size_t i = 0; i < count && i < S_LEFT_OUT_NAMED; i++) {
        if (i)
            cs_buf_puts(out, ", ");
        s_put_left_out(out, &left[i]);
    }
    if (count > S_LEFT_OUT_NAMED)
        cs_buf_printf(out, ", and %zu more", count - S_LEFT_OUT_NAMED);
}

static const char *s_keep_buf(cs_plan_t *self, cs_buf_t *buf)
{
    if (buf->failed)
        self->oom = true;
    const char *text = s_keep_text(self, cs_buf_str(buf));
    cs_buf_free(buf);
    return text;
}

/* The plugin an aggregator reads, as its texts name it. */
static void s_plugin_words(const cs_connection_t *agg, char *buf, size_t size)
{
    if (agg->instance)
        snprintf(buf, size, "plugin instance plugin.%s", agg->instance->label);
    else
        snprintf(buf, size, "plugin %s", agg->plugin);
}

/* Whether a connection's row is `updating` (an aggregator's: one of its members changed
 * since its views were built, results.c or refresh.c said so). */
static bool s_row_updating(const cs_plan_input_t *in, const char *name)
{
    const cs_record_t *row = cs_store_get(in->store, name);
    return row && cs_record_values(row)->status == CS_STATUS_UPDATING;
}

/* An aggregator, from its members' decisions (by_name: decision index + 1 by name). */
static void s_plan_aggregator(cs_plan_t *self, const cs_plan_input_t *in, zhashx_t *by_name,
                              const cs_connection_t *c)
{
    const cs_config_t *cfg = in->config;
    const cs_plan_oracle_t *o = &in->oracle;
    size_t n = 0, n_in = 0, n_left = 0, n_wait = 0;
    s_member_t *members = calloc(cfg->count + self->count + 1, sizeof *members);
    const char **awaiting = calloc(self->count + 1, sizeof *awaiting);
    if (!members || !awaiting) {
        free(members);
        free(awaiting);
        self->oom = true;
        return;
    }
    zlistx_add_end(self->texts, awaiting); /* the decision points to it */
    for (size_t i = 0; i < cfg->count; i++) {
        const cs_connection_t *m = &cfg->connections[i];
        if (!cs_config_member_of(c, m))
            continue;
        size_t at = (size_t)(uintptr_t)zhashx_lookup(by_name, m->name);
        if (at)
            members[n++] = (s_member_t){m->name, &self->items[at - 1], NULL};
    }
    /* ... and those that a file that failed to load keeps (by their rows' plugin) */
    for (size_t i = 0; i < self->count; i++) {
        const cs_decision_t *d = &self->items[i];
        const cs_record_t *row;
        if (d->action == CS_ACTION_ERROR && strcmp(d->reason, CS_PLAN_KEPT) == 0 && !d->config &&
            cs_config_entry_match(c, d->name) && (row = cs_store_get(in->store, d->name)) &&
            cs_record_values(row)->plugin && strcmp(cs_record_values(row)->plugin, c->plugin) == 0)
            members[n++] = (s_member_t){d->name, d, NULL};
    }
    qsort(members, n, sizeof *members, s_member_cmp);
    /* a connection that left the config is no member, but the views may still read it: its
     * delete lands first */
    for (size_t i = 0; i < self->count; i++) {
        const cs_decision_t *d = &self->items[i];
        const cs_record_t *row;
        if (s_pending(d) && !d->config && !cs_config_find(cfg, d->name) &&
            cs_config_entry_match(c, d->name) && (row = cs_store_get(in->store, d->name)) &&
            cs_record_values(row)->plugin && strcmp(cs_record_values(row)->plugin, c->plugin) == 0)
            awaiting[n_wait++] = d->name;
    }
    /* members in name order: included (ready), left out, awaited; the left out after the
     * included in one array (left = members + n_in after the split) */
    s_member_t *split = calloc(n + 1, sizeof *split);
    if (!split) {
        free(members);
        self->oom = true;
        return;
    }
    for (size_t i = 0; i < n; i++) { /* ready, or kept as it is by its failed file */
        const cs_decision_t *d = members[i].decision;
        const cs_schema_info_t *kept = cs_schemas_get(in->schemas, members[i].name);
        if (d->action == CS_ACTION_READY)
            members[i].hash = d->marker->schema_hash;
        else if (d->action == CS_ACTION_ERROR && strcmp(d->reason, CS_PLAN_KEPT) == 0 && kept &&
                 kept->managed && !kept->marker.aggregator && kept->marker.schema_hash[0])
            members[i].hash = kept->marker.schema_hash;
        if (members[i].hash)
            split[n_in++] = members[i];
    }
    for (size_t i = 0; i < n; i++) {
        const cs_decision_t *d = members[i].decision;
        if (s_pending(d))
            awaiting[n_wait++] = members[i].name;
        else if (!members[i].hash)
            split[n_in + n_left++] = members[i];
    }
    free(members);
    const s_member_t *left = split + n_in;
    cs_decision_t *d;
    if (n_wait) {
        qsort(awaiting, n_wait, sizeof *awaiting, s_name_cmp);
        if ((d = s_decide(self, c->name, CS_ACTION_DEFER, "waits for its members' updates"))) {
            d->config = c;
            d->awaiting = awaiting;
            d->awaiting_count = n_wait;
        }
        free(split);
        return;
    }
    char words[300];
    s_plugin_words(c, words, sizeof words);
    cs_buf_t text = {0};
    if (!n_in) {
        bool all_error = true;
        for (size_t i = 0; i < n_left; i++)
            all_error &= left[i].decision->action == CS_ACTION_ERROR;
        if (!n_left)
            cs_buf_printf(&text, "matches no connection of %s", words);
        else if (all_error)
            cs_buf_printf(&text, "all %zu members are in error: ", n_left);
        else
            cs_buf_printf(&text, "none of its %zu members is ready: ", n_left);
        s_put_left_list(&text, left, n_left);
        s_error(self, c->name, c, n_left ? "no member ready" : "no member",
                s_keep_buf(self, &text));
        free(split);
        return;
    }
    const cs_plugin_info_t *info = NULL;
    const char *why = "plugin unknown";
    if (o->plugin(o->arg, c->plugin, &info, &why) != CS_PLUGIN_KNOWN) {
        s_error(self, c->name, c, "plugin", s_keep_text(self, why));
        free(split);
        return;
    }
    /* the included lines, and the fingerprint over the config, the version and them */
    cs_buf_t lines = {0};
    for (size_t i = 0; i < n_in; i++)
        cs_buf_printf(&lines, "%s=%s\n", split[i].name, split[i].hash);
    cs_buf_printf(&text, "%s\n%s\n%s", c->fingerprint, info->version, cs_buf_str(&lines));
    char fingerprint[CS_DIGEST_HEX_SIZE] = "";
    if (text.failed || cs_digest_hex16(text.data, text.len, fingerprint) != 0)
        self->oom = true;
    cs_buf_free(&text);
    const char *members_text = s_keep_buf(self, &lines);
    const char *left_out = NULL;
    if (n_left) {
        cs_buf_puts(&text, "left out: ");
        s_put_left_list(&text, left, n_left);
        left_out = s_keep_buf(self, &text);
    }
    free(split);
    const cs_schema_info_t *schema = cs_schemas_get(in->schemas, c->name);
    bool in_flight = o->in_flight && o->in_flight(o->arg, c->name);
    const char *reason = NULL;
    if (in_flight)
        reason = "an update of it is in flight: checked again after it";
    else if (!schema)
        reason = cs_store_get(in->store, c->name) ? "schema missing" : "new";
    else if (!schema->marker.aggregator)
        reason = "its schema is not an aggregator's";
    else if (strcmp(schema->marker.fingerprint, fingerprint) != 0)
        reason = "its config or members changed";
    else if (s_row_updating(in, c->name)) /* a member changed under it: are its views all there? */
        reason = "a member changed: its views are checked";
    if (reason && !in_flight && s_failed_as(in, c->name, fingerprint)) {
        s_error(self, c->name, c, S_FAILED, s_row_error(self, cs_store_get(in->store, c->name)));
        return;
    }
    if (!(d = s_decide(self, c->name, reason ? CS_ACTION_AGGREGATE : CS_ACTION_READY,
                       reason ? reason : "unchanged")))
        return;
    d->config = c;
    d->fingerprint = s_keep_text(self, fingerprint);
    d->members = members_text;
    d->left_out = left_out;
    d->fresh = !schema && !in_flight;
    if (!reason)
        d->marker = &schema->marker; /* no comments: the build writes them */
}

/* An aggregator whose schema is still a plugin's (it was a plugin connection), and so may
 * still be read by other aggregators' views (it was their member), waits until those being
 * built again (or waiting to be) have landed: its own aggregate drops those tables.
 * first: the index of the first aggregator's decision. */
static void s_defer_former_member(cs_plan_t *self, const cs_plan_input_t *in, size_t first,
                                  cs_decision_t *d)
{
    const cs_schema_info_t *schema = cs_schemas_get(in->schemas, d->name);
    if (d->action != CS_ACTION_AGGREGATE || !schema || !schema->managed ||
        schema->marker.aggregator)
        return;
    const char **awaiting = calloc(self->count - first + 1, sizeof *awaiting);
    if (!awaiting) {
        self->oom = true;
        return;
    }
    zlistx_add_end(self->texts, awaiting);
    size_t n = 0;
    cs_connection_t as_plugin = *d->config; /* what it was: a connection of that plugin */
    as_plugin.aggregator = false;
    for (size_t i = first; i < self->count; i++) {
        const cs_decision_t *a = &self->items[i];
        const cs_schema_info_t *views = cs_schemas_get(in->schemas, a->name);
        if (a != d && (a->action == CS_ACTION_AGGREGATE || a->action == CS_ACTION_DEFER) && views &&
            views->marker.aggregator && cs_config_member_of(a->config, &as_plugin))
            awaiting[n++] = a->name; /* (views of its own: never one that waits like this) */
    }
    if (!n)
        return;
    d->action = CS_ACTION_DEFER;
    d->reason = "its schema's tables may still be read by aggregators being built again";
    d->awaiting = awaiting;
    d->awaiting_count = n;
}

/* The aggregators, after every other decision (their members'). */
static void s_plan_aggregators(cs_plan_t *self, const cs_plan_input_t *in)
{
    if (!zlistx_size(self->aggregators))
        return;
    zhashx_t *by_name = zhashx_new();
    size_t before = self->count;
    for (size_t i = 0; i < before; i++)
        zhashx_insert(by_name, self->items[i].name, (void *)(uintptr_t)(i + 1));
    for (const cs_connection_t *c = zlistx_first(self->aggregators); c && !self->oom;
         c = zlistx_next(self->aggregators))
        s_plan_aggregator(self, in, by_name, c);
    for (size_t i = before; i < self->count && !self->oom; i++)
        s_defer_former_member(self, in, before, &self->items[i]);
    zhashx_destroy(&by_name);
    /* While an aggregator is to be built, the members' previous schemas that its views still
     * read are its aggregate's to drop (under each member's lock): a drop of them meanwhile
     * would only contend for those locks. They are planned again once it landed. */
    bool building = false;
    for (size_t i = before; i < self->count; i++)
        building |= self->items[i].action == CS_ACTION_AGGREGATE ||
                    self->items[i].action == CS_ACTION_DEFER;
    size_t kept = 0;
    for (size_t i = 0; building && i < self->count; i++)
        if (self->items[i].action != CS_ACTION_DROP_TEMP)
            self->items[kept++] = self->items[i];
    if (building)
        self->count = kept;
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
    if (!self || !(self->texts = zlistx_new()) || !(self->aggregators = zlistx_new())) {
        if (self)
            zlistx_destroy(&self->texts);
        free(self);
        return NULL;
    }
    zlistx_set_destructor(self->texts, s_text_free);
    const cs_config_t *cfg = in->config;
    const cs_plan_oracle_t *o = &in->oracle;
    zhashx_t *kept = s_kept_names(self, in);
    zhashx_t *present = NULL; /* made when a row that left the config is first seen */
    if (!kept) {
        zhashx_destroy(&kept);
        zhashx_destroy(&present);
        cs_plan_destroy(&self);
        return NULL;
    }
    /* Connections of files that failed to load keep their schemas and report the error. A
     * name a failed file declares is in error even where another file defines it too (the
     * later of two definitions fails its file). */
    /* room for a decision per name looked at, so that 100,000 do not take 131,072's room */
    size_t looked = in->names ? zhashx_size(in->names) : cfg->count;
    if (cs_store_size(in->store) > looked && !in->names)
        looked = cs_store_size(in->store);
    s_reserve(self, looked + zhashx_size(kept) + 64);
    size_t rows_seen = 0; /* rows of kept or configured connections */
    for (const char *why = zhashx_first(kept); why; why = zhashx_next(kept)) {
        const char *name = s_keep_text(self, zhashx_cursor(kept)); /* kept's keys go with it */
        s_error(self, name, cs_config_find(cfg, name), CS_PLAN_KEPT, why);
        rows_seen += cs_store_get(in->store, name) != NULL;
    }
    if (in->names) { /* the configured ones among the names, in no particular order */
        for (void *it = zhashx_first(in->names); it; it = zhashx_next(in->names)) {
            const cs_connection_t *c = cs_config_find(cfg, zhashx_cursor(in->names));
            if (c && !zhashx_lookup(kept, c->name))
                s_plan_connection(self, in, c);
        }
    }
    for (size_t i = 0; !in->names && i < cfg->count; i++) {
        if (zhashx_lookup(kept, cfg->connections[i].name))
            continue;
        s_plan_connection(self, in, &cfg->connections[i]);
        rows_seen += cs_store_get(in->store, cfg->connections[i].name) != NULL;
    }
    /* Rows whose connection left the config: their managed schema goes, then the row;
     * unless their file is gone from the directory for less than the grace. (None when
     * every row was seen above: the usual refresh, which then skips the walk; only the rows
     * of the names to decide when the plan was given names.) */
    zlistx_t *left = zlistx_new(); /* rows that left the config: borrowed */
    if (!left)
        self->oom = true;
    if (left && in->names) {
        for (void *it = zhashx_first(in->names); it; it = zhashx_next(in->names)) {
            cs_record_t *row = cs_store_get(in->store, zhashx_cursor(in->names));
            if (row)
                zlistx_add_end(left, row);
        }
    } else if (left && rows_seen < cs_store_size(in->store)) {
        for (cs_record_t *row = cs_store_first(in->store); row; row = cs_store_next(in->store))
            zlistx_add_end(left, row);
    }
    for (cs_record_t *row = left ? zlistx_first(left) : NULL; row; row = zlistx_next(left)) {
        const char *name = cs_record_name(row), *file = cs_record_values(row)->file_name;
        if (cs_config_find(cfg, name) || zhashx_lookup(kept, name))
            continue;
        if (file && !present && !(present = s_present_files(cfg)))
            self->oom = true;
        if (file && present && !s_file_lookup(present, file)) {
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
        const cs_schema_info_t *schema = cs_schemas_get(in->schemas, name);
        bool in_flight = o->in_flight && o->in_flight(o->arg, name);
        if (!in_flight && o->failed && o->failed(o->arg, name)) { /* its delete failed */
            s_error(self, name, NULL, S_FAILED, s_row_error(self, row));
            continue;
        }
        s_decide(self, name,
                 (schema && schema->managed) || in_flight ? CS_ACTION_DELETE : CS_ACTION_FORGET,
                 "left the config");
    }
    zlistx_destroy(&left);
    /* Managed schemas with no connection and no row (a crash between drop and row delete,
     * a row removed by hand), and temporary schemas an interrupted update left: every one,
     * or those of the names to decide. */
    const char *name = NULL;
    const cs_schema_info_t *schema = NULL;
    void *it = in->names ? zhashx_first(in->names) : NULL;
    if (in->names)
        schema = s_next_named_schema(in, &it, &name);
    else
        schema = cs_schemas_first(in->schemas, &name);
    for (; schema; schema = in->names ? s_next_named_schema(in, &it, &name)
                                      : cs_schemas_next(in->schemas, &name)) {
        if (!schema->managed)
            continue;
        if (cs_marker_is_temp_name(name))
            s_decide(self, name, CS_ACTION_DROP_TEMP, "left by an interrupted update");
        else if (!cs_store_get(in->store, name) && !cs_config_find(cfg, name) &&
                 !zhashx_lookup(kept, name))
            s_decide(self, name, CS_ACTION_DELETE, "managed schema without a connection");
    }
    s_plan_aggregators(self, in);
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
    zlistx_destroy(&(*self_p)->aggregators);
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

/* Whether a name concerns one of the aggregators: one itself, a configured member, a name an
 * entry matches, or a temporary schema (kept while one is built). */
static bool s_concerns_aggregators(const cs_config_t *cfg, const cs_connection_t *const *aggs,
                                   size_t n, const char *name)
{
    if (n && cs_marker_is_temp_name(name))
        return true;
    const cs_connection_t *c = cs_config_find(cfg, name);
    for (size_t a = 0; a < n; a++)
        if ((c && c == aggs[a]) ||
            (c ? cs_config_member_of(aggs[a], c) : cs_config_entry_match(aggs[a], name)))
            return true;
    return false;
}

size_t cs_plan_close_names(const cs_config_t *cfg, cs_store_t *store,
                           const cs_connection_t *const *aggregators, size_t aggregator_count,
                           zhashx_t *names)
{
    bool concerned = false;
    for (void *it = zhashx_first(names); it && !concerned; it = zhashx_next(names))
        concerned =
            s_concerns_aggregators(cfg, aggregators, aggregator_count, zhashx_cursor(names));
    if (!concerned)
        return 0;
    size_t before = zhashx_size(names);
    for (size_t a = 0; a < aggregator_count; a++)
        zhashx_update(names, aggregators[a]->name, (void *)"");
    for (size_t i = 0; i < cfg->count; i++)
        if (s_concerns_aggregators(cfg, aggregators, aggregator_count, cfg->connections[i].name))
            zhashx_update(names, cfg->connections[i].name, (void *)"");
    /* the names of no configured connection that an entry matches: rows that left the config
     * (their deletion is waited for) or that a failed file keeps, names a failed file declares */
    for (cs_record_t *row = cs_store_first(store); row; row = cs_store_next(store))
        if (!cs_config_find(cfg, cs_record_name(row)) &&
            s_concerns_aggregators(cfg, aggregators, aggregator_count, cs_record_name(row)))
            zhashx_update(names, cs_record_name(row), (void *)"");
    for (size_t i = 0; i < cfg->failed_count; i++)
        for (size_t j = 0; j < cfg->failed[i].name_count; j++)
            if (s_concerns_aggregators(cfg, aggregators, aggregator_count, cfg->failed[i].names[j]))
                zhashx_update(names, cfg->failed[i].names[j], (void *)"");
    return zhashx_size(names) - before;
}

const char *cs_action_name(cs_action_t action)
{
    static const char *const names[] = {"ready",  "build", "delete",         "disabled",  "error",
                                        "forget", "wait",  "drop temporary", "aggregate", "defer"};
    return (unsigned)action < sizeof names / sizeof *names ? names[action] : "?";
}
