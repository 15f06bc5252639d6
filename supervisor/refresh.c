/* RefreshConnections: from the config (what must exist), the state table and the schemas
 * with their markers (what does exist), decide every connection's update and status; then
 * turn workers' results into statuses. No state file: the database is the truth. */
#include "supervisor.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_CHURN_MS     1000  /* a file changed again within this is being rewritten ... */
#define S_QUIET_MS     300   /* ... and its updates wait until it rested this long, ... */
#define S_CHURN_MAX_MS 10000 /* ... but not when it keeps changing for longer */
#define S_CHURN_FILES  4096  /* files whose last change is remembered */
#define S_GONE_MS      1000  /* a file gone from the directory this long: its connections go */

/* A config file's changes, as plans found them (cs_now_ms). */
typedef struct {
    int64_t last_change;
    int64_t burst_start; /* 0: not being rewritten */
} s_churn_t;

struct cs_refresh {
    cs_store_t *store;
    cs_dispatch_t *dispatch;
    cs_plugins_t *plugins;
    char *config_dir;
    cs_config_t *config; /* of the last plan: what results are judged against */
    cs_config_t *next;   /* loaded for the plan that waits for plugins' info */
    size_t builds, deletes, comments;
    uint64_t plans;          /* plans made: a plugin's file is looked at once per plan */
    uint64_t ddl_statements; /* reported by workers for builds and deletes, since start */
    uint64_t builds_done;    /* builds that changed a schema, since start */
    zhashx_t *churn;         /* file path -> s_churn_t */
    zhashx_t *gone;          /* file path -> when a plan first found it missing (int64_t) */
    int64_t replan_at;       /* a plan is due then (0: none): a gone file's grace ends */
    uint64_t comment_statements;
};

static void s_free_item(void **item)
{
    free(*item);
    *item = NULL;
}

cs_refresh_t *cs_refresh_new(cs_store_t *store, cs_dispatch_t *dispatch, cs_plugins_t *plugins,
                             const char *config_dir)
{
    cs_refresh_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store;
    self->dispatch = dispatch;
    self->plugins = plugins;
    self->config_dir = strdup(config_dir);
    self->churn = zhashx_new();
    if (self->churn)
        zhashx_set_destructor(self->churn, s_free_item);
    self->gone = zhashx_new();
    if (self->gone)
        zhashx_set_destructor(self->gone, s_free_item);
    if (!self->config_dir || !self->churn || !self->gone)
        cs_refresh_destroy(&self);
    return self;
}

void cs_refresh_destroy(cs_refresh_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_refresh_t *self = *self_p;
    cs_config_destroy(&self->next); /* its units may hold strings of config's */
    cs_config_destroy(&self->config);
    zhashx_destroy(&self->churn);
    zhashx_destroy(&self->gone);
    free(self->config_dir);
    free(self);
    *self_p = NULL;
}

/* Queues an update. fresh: no schema of that name exists (the worker may skip its marker
 * check and create it in one round trip). */
/* When the updates of a file's connections may start: at once, unless the file is being
 * rewritten again and again (changed again within S_CHURN_MS of its last change, while
 * updates are still under way): then once
 * it was left alone for S_QUIET_MS, so that versions a later one replaces are not built;
 * but a file that never rests is not held for more than S_CHURN_MAX_MS. */
static int64_t s_settled_at(cs_refresh_t *self, const char *file)
{
    const s_churn_t *churn = file ? zhashx_lookup(self->churn, file) : NULL;
    if (!churn || !churn->burst_start || churn->last_change - churn->burst_start > S_CHURN_MAX_MS)
        return 0;
    return churn->last_change + S_QUIET_MS;
}

/* Notes the files this plan parsed again (they changed). */
static void s_note_changes(cs_refresh_t *self, const cs_config_t *cfg)
{
    int64_t now = cs_now_ms();
    for (size_t i = 0; i < cfg->unit_count; i++) {
        const cs_config_t *unit = cfg->units[i];
        if (unit->reused || !unit->source)
            continue;
        s_churn_t *churn = zhashx_lookup(self->churn, unit->source);
        if (!churn) {
            if (zhashx_size(self->churn) >= S_CHURN_FILES)
                zhashx_purge(self->churn); /* forget the oldest bursts rather than grow */
            churn = calloc(1, sizeof *churn);
            if (!churn)
                continue;
            zhashx_insert(self->churn, unit->source, churn);
        } else if (now - churn->last_change <= S_CHURN_MS &&
                   cs_dispatch_updates_outstanding(self->dispatch) > 0) {
            if (!churn->burst_start)
                churn->burst_start = churn->last_change;
        } else {
            churn->burst_start = 0;
        }
        churn->last_change = now;
    }
}

static void s_task(cs_refresh_t *self, cs_task_kind_t kind, const char *name,
                   const cs_connection_t *c, bool fresh)
{
    cs_task_t *task = calloc(1, sizeof *task);
    if (!task)
        return;
    task->kind = kind;
    task->fresh = fresh;
    task->connection = strdup(name);
    if (c) {
        task->plugin = strdup(c->plugin);
        task->config = strdup(c->config_json);
        task->fingerprint = strdup(c->fingerprint);
        if (kind != CS_TASK_COMMENTS)
            task->not_before = s_settled_at(self, c->file);
    }
    if (kind == CS_TASK_BUILD)
        self->builds++;
    else if (kind == CS_TASK_DELETE)
        self->deletes++;
    else
        self->comments++;
    cs_dispatch_add(self->dispatch, &task);
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

static void s_keep(zhashx_t *kept, const char *name, const char *why)
{
    if (!zhashx_lookup(kept, name))
        zhashx_insert(kept, name, strdup(why));
}

/* The files of the directory now, by path and by name (borrowed keys of cfg). */
static zhashx_t *s_present_files(const cs_config_t *cfg)
{
    zhashx_t *present = zhashx_new();
    for (size_t i = 0; present && i < cfg->unit_count; i++) {
        const char *path = cfg->units[i]->source;
        if (!path)
            continue;
        const char *base = strrchr(path, '/');
        zhashx_update(present, path, (void *)path);
        zhashx_update(present, base ? base + 1 : path, (void *)path);
    }
    return present;
}

/* True while a row's file is gone from the directory for less than S_GONE_MS: an editor
 * that renames the old file away before writing the new one, or `rm` and `cp`, must not cost
 * the connections their schemas. The plan after the grace deletes them. */
static bool s_file_just_gone(cs_refresh_t *self, zhashx_t *present, const char *file, int64_t now)
{
    if (!file)
        return false;
    const char *base = strrchr(file, '/');
    if (zhashx_lookup(present, file) || zhashx_lookup(present, base ? base + 1 : file))
        return false; /* it is there: the connection left it */
    int64_t *since = zhashx_lookup(self->gone, file);
    if (!since) {
        if (zhashx_size(self->gone) >= S_CHURN_FILES)
            zhashx_purge(self->gone);
        since = malloc(sizeof *since);
        if (!since)
            return false;
        *since = now;
        zhashx_insert(self->gone, file, since);
    }
    if (now - *since >= S_GONE_MS)
        return false;
    if (!self->replan_at || *since + S_GONE_MS < self->replan_at)
        self->replan_at = *since + S_GONE_MS;
    return true;
}

/* The connections that a config failure keeps, name -> the error their rows show: those a
 * failed file still declares, and every row the state table attributes to a failed file
 * (by its path, or its name within the directory, which is not recursive) -- a file cut in
 * the middle, replaced by a directory or unreadable keeps all of them -- or to any file
 * when the directory itself could not be read. The caller destroys the hash. */
static zhashx_t *s_kept_names(cs_refresh_t *self, const cs_config_t *cfg)
{
    zhashx_t *kept = zhashx_new();
    zhashx_set_destructor(kept, s_free_item);
    if (cfg->failed_count == 0 && !cfg->dir_failed)
        return kept;
    zhashx_t *files = zhashx_new(); /* failed path and base name -> error */
    zhashx_set_destructor(files, s_free_item);
    char why[CS_PROTO_MAX_ERROR];
    for (size_t i = 0; i < cfg->failed_count; i++) {
        const cs_failed_file_t *file = &cfg->failed[i];
        s_file_error(cfg, file->path, why, sizeof why);
        s_keep(files, file->path, why);
        const char *base = strrchr(file->path, '/');
        s_keep(files, base ? base + 1 : file->path, why);
        for (size_t j = 0; j < file->name_count; j++)
            s_keep(kept, file->names[j], why);
    }
    char dir_why[CS_PROTO_MAX_ERROR] = "";
    if (cfg->dir_failed)
        s_file_error(cfg, self->config_dir, dir_why, sizeof dir_why);
    zlistx_t *rows = cs_store_rows(self->store);
    for (cs_conn_t *conn = zlistx_first(rows); conn; conn = zlistx_next(rows)) {
        if (!conn->file_name || cs_config_find(cfg, conn->name))
            continue;
        const char *base = strrchr(conn->file_name, '/');
        const char *file_why = zhashx_lookup(files, conn->file_name);
        if (!file_why)
            file_why = zhashx_lookup(files, base ? base + 1 : conn->file_name);
        if (!file_why && cfg->dir_failed)
            file_why = dir_why;
        if (file_why)
            s_keep(kept, conn->name, file_why);
    }
    zhashx_destroy(&files);
    return kept;
}

/* Records where a connection is configured; the row is written when anything changed. */
static void s_describe(cs_refresh_t *self, cs_conn_t *conn, const cs_connection_t *c)
{
    cs_store_set_field(self->store, conn, &conn->now.plugin, c->plugin);
    cs_store_set_field(self->store, conn, &conn->config_hash, c->fingerprint);
    cs_store_set_field(self->store, conn, &conn->type, c->aggregator ? "aggregator" : "plugin");
    cs_store_set_field(self->store, conn, &conn->file_name, c->file);
    cs_store_set_int(self->store, conn, &conn->start_line, c->start_line);
    cs_store_set_int(self->store, conn, &conn->end_line, c->end_line);
}

/* The plan's final word on a connection that needs no update (error, disabled, removed):
 * its queued tasks go, the one in flight no longer counts. */
static void s_settle(cs_refresh_t *self, const char *name)
{
    cs_dispatch_cancel(self->dispatch, name);
}

/* One configured connection: ready as it is, or built, or deleted (disabled), or error. A
 * connection whose build or delete is in flight is never judged ready from the catalog (the
 * schema may change under it): it gets a checked build, held until that one lands. */
static void s_plan_connection(cs_refresh_t *self, const cs_connection_t *c, zhashx_t *schemas)
{
    cs_conn_t *conn = cs_store_add(self->store, c->name);
    if (!conn)
        return;
    s_describe(self, conn, c);
    const cs_schema_info_t *schema = zhashx_lookup(schemas, c->name);
    bool in_flight = cs_dispatch_update_in_flight(self->dispatch, c->name);
    if (schema && !schema->managed) {
        char why[256];
        snprintf(why, sizeof why,
                 "schema \"%s\" exists and is not managed by connstate (it has "
                 "no connstate marker); it was left untouched",
                 c->name);
        cs_store_set(self->store, conn, CS_STATUS_ERROR, why);
        s_settle(self, c->name);
        return;
    }
    if (c->import_disabled) {
        if (schema || in_flight) {
            cs_store_set(self->store, conn, CS_STATUS_DELETING, NULL);
            s_task(self, CS_TASK_DELETE, c->name, c, false);
        } else {
            cs_store_set(self->store, conn, CS_STATUS_DISABLED, NULL);
            s_settle(self, c->name);
        }
        return;
    }
    if (c->aggregator) {
        cs_store_set(self->store, conn, CS_STATUS_ERROR,
                     "aggregator connections are not built by this version of connstate");
        s_settle(self, c->name);
        return;
    }
    const cs_plugin_info_t *info;
    const char *why;
    if (cs_plugins_lookup(self->plugins, c->plugin, self->plans, &info, &why) != CS_PLUGIN_KNOWN) {
        cs_store_set(self->store, conn, CS_STATUS_ERROR, why);
        s_settle(self, c->name);
        return;
    }
    bool current = schema && strcmp(schema->marker.fingerprint, c->fingerprint) == 0 &&
                   strcmp(schema->marker.plugin_version, info->version) == 0 &&
                   strcmp(info->mode, "dynamic") != 0;
    if (!current || in_flight) {
        cs_store_set(self->store, conn, CS_STATUS_UPDATING, NULL);
        s_task(self, CS_TASK_BUILD, c->name, c, schema == NULL && !in_flight);
        return;
    }
    /* Unchanged: no DDL, ever. Only the comments may still be owed. */
    s_settle(self, c->name);
    cs_store_set_field(self->store, conn, &conn->plugin_version, schema->marker.plugin_version);
    cs_store_set_field(self->store, conn, &conn->schema_hash, schema->marker.schema_hash);
    cs_store_set(self->store, conn, CS_STATUS_READY, NULL);
    if (!conn->now.comments_set)
        s_task(self, CS_TASK_COMMENTS, c->name, c, false);
}

/* True when a plugin the config builds with is still being asked for its info. */
static bool s_plugins_asking(cs_refresh_t *self, const cs_config_t *cfg)
{
    bool asking = false;
    for (size_t i = 0; i < cfg->count; i++) {
        const cs_connection_t *c = &cfg->connections[i];
        const cs_plugin_info_t *info;
        const char *why;
        if (!c->import_disabled && !c->aggregator &&
            cs_plugins_lookup(self->plugins, c->plugin, self->plans, &info, &why) ==
                CS_PLUGIN_ASKING)
            asking = true; /* go on: every stale plugin starts being asked now */
    }
    return asking;
}

int cs_refresh_plan(cs_refresh_t *self)
{
    self->builds = self->deletes = self->comments = 0;
    self->plans++;
    int64_t t0 = cs_now_ms();
    /* Only the files that changed since the last plan are parsed again; a plan that waits
     * for plugins keeps what it loaded. */
    bool loaded = !self->next;
    if (loaded)
        self->next = cs_config_reload_dir(self->config_dir, self->config);
    if (!self->next) {
        cs_log_error("out of memory loading the config");
        return -1;
    }
    cs_config_t *cfg = self->next;
    size_t parsed = 0;
    for (size_t i = 0; i < cfg->unit_count; i++)
        parsed += !cfg->units[i]->reused;
    for (size_t i = 0; i < cfg->error_count && loaded; i++) {
        const cs_config_error_t *e = &cfg->errors[i];
        bool fresh = cfg->unit_count == 0; /* the directory itself failed */
        for (size_t u = 0; u < cfg->unit_count && !fresh; u++)
            fresh = !cfg->units[u]->reused && cfg->units[u]->source == e->file;
        if (!fresh)
            continue; /* logged when its file was parsed */
        if (e->line > 0)
            cs_log_warn("config: %s:%d:%d: %s", e->file, e->line, e->col, e->message);
        else
            cs_log_warn("config: %s: %s", e->file, e->message);
    }
    if (loaded)
        s_note_changes(self, cfg);
    if (s_plugins_asking(self, cfg))
        return CS_REFRESH_WAITING;
    int64_t t_config = cs_now_ms();
    zhashx_t *schemas = cs_store_schemas(self->store);
    if (!schemas)
        return -1; /* the next plan tries again with what was loaded */
    self->next = NULL;
    int64_t t_catalog = cs_now_ms();
    for (size_t i = 0; i < cfg->count; i++)
        s_plan_connection(self, &cfg->connections[i], schemas);
    cs_log_debug("plan: config (%zu of %zu files parsed) in %lld ms, catalog (%zu schemas) in "
                 "%lld ms, %zu connections compared in %lld ms",
                 parsed, cfg->unit_count, (long long)(t_config - t0), zhashx_size(schemas),
                 (long long)(t_catalog - t_config), cfg->count,
                 (long long)(cs_now_ms() - t_catalog));

    /* Connections of files that failed to load keep their schemas and report the error. A
     * name a failed file declares is in error even where another file defines it too (the
     * later of two definitions fails its file). */
    zhashx_t *kept = s_kept_names(self, cfg);
    for (const char *why = zhashx_first(kept); why; why = zhashx_next(kept)) {
        cs_conn_t *conn = cs_store_add(self->store, zhashx_cursor(kept));
        if (conn)
            cs_store_set(self->store, conn, CS_STATUS_ERROR, why);
        s_settle(self, zhashx_cursor(kept));
    }
    /* Rows whose connection left the config: drop the managed schema, then the row. */
    size_t count = zlistx_size(cs_store_rows(self->store));
    cs_conn_t **rows = calloc(count ? count : 1, sizeof *rows);
    size_t n = 0;
    zlistx_t *all = cs_store_rows(self->store);
    for (cs_conn_t *conn = zlistx_first(all); conn && rows; conn = zlistx_next(all))
        rows[n++] = conn;
    zhashx_t *present = s_present_files(cfg);
    int64_t now = cs_now_ms();
    zlistx_t *back = zlistx_new(); /* gone files that are there again: forgotten */
    for (void *since = zhashx_first(self->gone); since && back && present;
         since = zhashx_next(self->gone))
        if (zhashx_lookup(present, zhashx_cursor(self->gone)))
            zlistx_add_end(back, (void *)zhashx_cursor(self->gone));
    for (const char *path = back ? zlistx_first(back) : NULL; path; path = zlistx_next(back))
        zhashx_delete(self->gone, path);
    zlistx_destroy(&back);
    for (size_t i = 0; i < n; i++) {
        cs_conn_t *conn = rows[i];
        if (cs_config_find(cfg, conn->name) || zhashx_lookup(kept, conn->name))
            continue;
        if (present && s_file_just_gone(self, present, conn->file_name, now))
            continue;
        const cs_schema_info_t *schema = zhashx_lookup(schemas, conn->name);
        if ((schema && schema->managed) ||
            cs_dispatch_update_in_flight(self->dispatch, conn->name)) {
            cs_store_set(self->store, conn, CS_STATUS_DELETING, NULL);
            s_task(self, CS_TASK_DELETE, conn->name, NULL, false);
        } else {
            s_settle(self, conn->name);
            cs_store_remove(self->store, conn);
        }
    }
    free(rows);
    zhashx_destroy(&present);
    /* Managed schemas with no connection and no row (a crash between drop and row delete,
     * or a row removed by hand): drop them too. */
    for (cs_schema_info_t *schema = zhashx_first(schemas); schema; schema = zhashx_next(schemas)) {
        const char *name = zhashx_cursor(schemas);
        if (schema->managed && cs_marker_is_temp_name(name)) {
            /* Left by an update that crashed midway (or under way: the worker then leaves
             * it): dropped without a row, which only connections have. */
            s_task(self, CS_TASK_DELETE, name, NULL, false);
            continue;
        }
        if (!schema->managed || cs_store_get(self->store, name) || cs_config_find(cfg, name) ||
            zhashx_lookup(kept, name))
            continue;
        cs_conn_t *conn = cs_store_add(self->store, name);
        if (conn) {
            cs_store_set(self->store, conn, CS_STATUS_DELETING, NULL);
            s_task(self, CS_TASK_DELETE, name, NULL, false);
        }
    }
    zhashx_destroy(&kept);
    zhashx_destroy(&schemas);
    cs_config_destroy(&self->config);
    self->config = cfg;
    return (int)cfg->count;
}

void cs_refresh_on_result(void *arg, cs_task_t *task, const cs_msg_t *result, const char *worker)
{
    cs_refresh_t *self = arg;
    if (result->ok && task->kind == CS_TASK_COMMENTS)
        self->comment_statements += result->ddl_count;
    else if (result->ok)
        self->ddl_statements += result->ddl_count;
    if (result->ok && task->kind == CS_TASK_BUILD && result->ddl_count)
        self->builds_done++;
    cs_conn_t *conn = cs_store_get(self->store, task->connection);
    if (!conn)
        return;
    if (task->superseded) { /* a newer plan's task decides */
        cs_log_conn_debug(task->connection, "result of a superseded %s not written",
                          cs_task_kind_name(task->kind));
        return;
    }
    cs_store_set_field(self->store, conn, &conn->worker, worker);
    cs_store_set_int(self->store, conn, &conn->attempts, (int)task->attempt);
    switch (task->kind) {
        case CS_TASK_BUILD:
            if (!result->ok) {
                cs_store_set(self->store, conn, CS_STATUS_ERROR, result->error);
                break;
            }
            cs_store_set_field(self->store, conn, &conn->plugin_version, result->plugin_version);
            cs_store_set_field(self->store, conn, &conn->schema_hash, result->schema_hash);
            cs_store_set_comments(self->store, conn, false);
            cs_store_set(self->store, conn, CS_STATUS_READY, NULL);
            {
                const cs_connection_t *c =
                    self->config ? cs_config_find(self->config, task->connection) : NULL;
                if (c)
                    s_task(self, CS_TASK_COMMENTS, task->connection, c, false);
            }
            break;
        case CS_TASK_DELETE:
            if (!result->ok) {
                cs_store_set(self->store, conn, CS_STATUS_ERROR, result->error);
            } else {
                const cs_connection_t *c =
                    self->config ? cs_config_find(self->config, task->connection) : NULL;
                if (c && c->import_disabled)
                    cs_store_set(self->store, conn, CS_STATUS_DISABLED, NULL);
                else
                    cs_store_remove(self->store, conn);
            }
            break;
        case CS_TASK_COMMENTS:
            if (result->ok)
                cs_store_set_comments(self->store, conn, true);
            else
                cs_log_conn_warn(task->connection, "comments not written: %s", result->error);
            break;
    }
}

void cs_refresh_on_lost(void *arg, cs_task_t *task, const char *reason)
{
    cs_refresh_t *self = arg;
    cs_conn_t *conn = cs_store_get(self->store, task->connection);
    if (!conn || task->kind == CS_TASK_COMMENTS || task->superseded)
        return;
    cs_store_set_int(self->store, conn, &conn->attempts, (int)task->attempt);
    cs_store_set(self->store, conn, CS_STATUS_ERROR, reason);
}

void cs_refresh_on_waiting(void *arg, cs_task_t *task, const char *why)
{
    cs_refresh_t *self = arg;
    cs_conn_t *conn = cs_store_get(self->store, task->connection);
    if (!conn || task->kind == CS_TASK_COMMENTS)
        return;
    if (!why) { /* sent to a worker: in progress again */
        cs_store_set(self->store, conn,
                     task->kind == CS_TASK_DELETE ? CS_STATUS_DELETING : CS_STATUS_UPDATING, NULL);
        return;
    }
    char detail[CS_PROTO_MAX_ERROR];
    snprintf(detail, sizeof detail, "waiting for a worker to %s it: %s",
             task->kind == CS_TASK_DELETE ? "delete" : "build", why);
    cs_store_set(self->store, conn, CS_STATUS_PENDING, NULL);
    cs_store_set_detail(self->store, conn, detail);
}

int64_t cs_refresh_replan_at(cs_refresh_t *self, int64_t now, bool *due)
{
    *due = self->replan_at && now >= self->replan_at;
    if (*due)
        self->replan_at = 0;
    return self->replan_at;
}

uint64_t cs_refresh_builds(const cs_refresh_t *self)
{
    return self->builds_done;
}

void cs_refresh_ddl(const cs_refresh_t *self, uint64_t *ddl, uint64_t *comments)
{
    *ddl = self->ddl_statements;
    *comments = self->comment_statements;
}

void cs_refresh_counts(const cs_refresh_t *self, size_t *builds, size_t *deletes, size_t *comments)
{
    *builds = self->builds;
    *deletes = self->deletes;
    *comments = self->comments;
}
