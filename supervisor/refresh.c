/* RefreshConnections, driven: when a refresh begins (and plans again while it runs), the
 * plan's inputs (the config, the plugins' info asked without blocking, the catalog), the
 * plan applied to the rows and the dispatcher, dispatch events applied through results.c,
 * and when a refresh is done. It remembers what plans need across refreshes: which files
 * are being rewritten and which are gone, and whose dynamic schemas are to be fetched again
 * (the oracle's refetch rule). */
#include "supervisor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_CHURN_MS        1000  /* a file changed again within this is being rewritten ... */
#define S_QUIET_MS        300   /* ... and its updates wait until it rested this long, ... */
#define S_CHURN_MAX_MS    10000 /* ... but not when it keeps changing for longer */
#define S_FILES_MAX       4096  /* files whose changes are remembered */
#define S_DIRTY_ALL_MIN   4096  /* open decisions from which the next plan looks at all */
#define S_REPLAN_MS       250   /* shortest time between two plans of one refresh ... */
#define S_PLAN_GAP_MS     50    /* ... and between two plans at all */
#define S_CATALOG_WAIT_MS 60000 /* longest wait for a batch before a catalog read */

#define S_AWAITING_NAMED 8 /* members a deferred aggregator's detail names */

/* What the plan queued with an aggregator's aggregate task: for its result and its redo. */
typedef struct {
    char *fingerprint;
    char *members;
    char *plugin_version;
    char *left_out; /* NULL: none */
} s_aggregate_t;

/* The configured connections of one plugin (by the config's short name): how many, and how
 * many of them make a plan ask for the plugin's info (not an aggregator, not disabled). Their
 * names are found in the config when the plugin changes (100,000 names are not held twice). */
typedef struct {
    size_t count;
    size_t askers;
} s_plugin_set_t;

/* A config file's changes, as plans found them (cs_clock_mono_ms). */
typedef struct {
    int64_t last_change;
    int64_t burst_start; /* 0: not being rewritten */
} s_churn_t;

struct cs_refresh {
    cs_refresh_deps_t deps;
    char *config_dir;
    cs_config_t *config;                 /* of the last plan: what results are judged against */
    const cs_connection_t **aggregators; /* ... its aggregators (results ask for them often) */
    size_t aggregator_count;
    cs_config_t *next;      /* loaded for the plan that waits for plugins' info */
    cs_config_t *preloaded; /* read at startup for the first plan (cs_refresh_preloaded) */
    zhashx_t *churn;        /* file path -> s_churn_t */
    zhashx_t *gone;         /* file path -> when a plan first found it missing (int64_t) */
    zhashx_t *failed;       /* connection -> the fingerprint of its update that failed since the
                               last request ("" when none): plans of this refresh keep the error */
    zhashx_t *aggregates;   /* aggregator -> s_aggregate_t of its last aggregate task */
    zhashx_t *awaited;      /* members that the last plan's deferred aggregators wait for */
    cs_schemas_t *schemas;  /* the database's schemas, as the last plan read them */
    size_t deferred;        /* aggregators the last plan deferred */
    uint64_t plans;         /* plans tried: a plugin's file is looked at once per plan */
    cs_results_stats_t stats;
    size_t builds, deletes, comments; /* tasks the last plan queued */
    size_t refetches;                 /* ... of its builds, refetches */
    /* Whose dynamic schemas the next plan fetches again: these (name -> why, a static text),
     * or all of them; once a plan is made, none. */
    zhashx_t *refetch;
    bool refetch_all;
    /* What the next plan decides (cs_plan_input_t.names): every connection, or the names that
     * changed since the last plan -- in the config (the loader's report), in the catalog, of a
     * plugin whose info changed, of an event, a refusal or a refetch -- those whose decision
     * was not final (kept until a plan gives them one), the rows that are not settled, the
     * temporary schemas, the connections of dynamic plugins, closed under aggregators. */
    zhashx_t *dirty;
    bool dirty_all;
    zhashx_t *by_plugin;   /* plugin -> s_plugin_set_t: the connections of the config planned */
    zhashx_t *agg_names;   /* the aggregators of that config (name -> "") */
    zhashx_t *plugin_seen; /* plugin -> what its info said at the last plan (a string) */
    zhashx_t *temps;       /* temporary schemas seen in the catalog (name -> "") */
    /* The config files the directory's watch saw change since the last load (name -> ""),
     * or every file to be looked at: no watch, or a plan asked for otherwise. */
    zhashx_t *touched;
    bool touched_all, watched;
    size_t decided, looked_at; /* of the last plan: decisions, and the names it was given */
    bool looked_all;           /* ... or it was given none: it looked at every one */
    /* the refresh */
    uint64_t started, done; /* generations */
    uint64_t planned;       /* the generation whose plan was last made */
    bool running, requested, planning, lost;
    bool settle; /* plan again for the deferred aggregators (the same refresh, generation) */
    int64_t began_at, last_plan, replan_at;
};

static void s_dirty_add(void *arg, const char *name);

static void s_free_item(void **item)
{
    free(*item);
    *item = NULL;
}

static void s_plugin_set_free(void **item)
{
    free(*item);
    *item = NULL;
}

static void s_aggregate_free(void **item)
{
    s_aggregate_t *a = *item;
    if (a) {
        free(a->fingerprint);
        free(a->members);
        free(a->plugin_version);
        free(a->left_out);
        free(a);
    }
    *item = NULL;
}

cs_refresh_t *cs_refresh_new(const cs_refresh_deps_t *deps)
{
    cs_refresh_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->deps = *deps;
    self->config_dir = strdup(deps->config_dir);
    self->deps.config_dir = self->config_dir;
    self->churn = zhashx_new();
    self->gone = zhashx_new();
    self->refetch = zhashx_new();
    self->failed = zhashx_new();
    self->aggregates = zhashx_new();
    self->awaited = zhashx_new();
    self->schemas = cs_schemas_new();
    self->dirty = zhashx_new();
    self->by_plugin = zhashx_new();
    self->agg_names = zhashx_new();
    self->plugin_seen = zhashx_new();
    self->temps = zhashx_new();
    self->touched = zhashx_new();
    self->dirty_all = true; /* the first plan looks at everything */
    self->touched_all = true;
    if (!self->config_dir || !self->churn || !self->gone || !self->refetch || !self->failed ||
        !self->aggregates || !self->awaited || !self->schemas || !self->dirty || !self->by_plugin ||
        !self->agg_names || !self->plugin_seen || !self->temps || !self->touched) {
        cs_refresh_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->churn, s_free_item);
    zhashx_set_destructor(self->gone, s_free_item);
    zhashx_set_destructor(self->failed, s_free_item);
    zhashx_set_destructor(self->aggregates, s_aggregate_free);
    zhashx_set_destructor(self->by_plugin, s_plugin_set_free);
    zhashx_set_destructor(self->plugin_seen, s_free_item);
    return self;
}

void cs_refresh_destroy(cs_refresh_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_refresh_t *self = *self_p;
    cs_config_destroy(&self->next); /* its units may hold strings of config's */
    cs_config_destroy(&self->preloaded);
    cs_config_destroy(&self->config);
    free(self->aggregators);
    zhashx_destroy(&self->churn);
    zhashx_destroy(&self->gone);
    zhashx_destroy(&self->refetch);
    zhashx_destroy(&self->failed);
    zhashx_destroy(&self->aggregates);
    zhashx_destroy(&self->awaited);
    cs_schemas_destroy(&self->schemas);
    zhashx_destroy(&self->dirty);
    zhashx_destroy(&self->by_plugin);
    zhashx_destroy(&self->agg_names);
    zhashx_destroy(&self->plugin_seen);
    zhashx_destroy(&self->temps);
    zhashx_destroy(&self->touched);
    free(self->config_dir);
    free(self);
    *self_p = NULL;
}

/* ---- what plans remember of files ---------------------------------------------------- */

/* Notes the files this load parsed again (they changed). */
static void s_note_changes(cs_refresh_t *self, const cs_config_t *cfg, int64_t now)
{
    for (size_t i = 0; i < cs_config_file_count(cfg); i++) {
        const char *path = cs_config_file_path(cfg, i);
        if (!path || !cs_config_file_changed(cfg, i))
            continue;
        s_churn_t *churn = zhashx_lookup(self->churn, path);
        if (!churn) {
            if (zhashx_size(self->churn) >= S_FILES_MAX)
                zhashx_purge(self->churn); /* forget the oldest bursts rather than grow */
            if (!(churn = calloc(1, sizeof *churn)))
                continue;
            zhashx_insert(self->churn, path, churn);
        } else if (now - churn->last_change <= S_CHURN_MS &&
                   cs_dispatch_updates_outstanding(self->deps.dispatch) > 0) {
            if (!churn->burst_start)
                churn->burst_start = churn->last_change;
        } else {
            churn->burst_start = 0;
        }
        churn->last_change = now;
    }
}

/* The plan's oracle. */
static cs_plugin_state_t s_plugin(void *arg, const char *name, const cs_plugin_info_t **info,
                                  const char **why)
{
    cs_refresh_t *self = arg;
    return cs_plugins_lookup(self->deps.plugins, name, self->plans, info, why);
}

static bool s_in_flight(void *arg, const char *connection)
{
    return cs_dispatch_update_in_flight(((cs_refresh_t *)arg)->deps.dispatch, connection);
}

/* When the updates of a file's connections may start: at once, unless the file is being
 * rewritten again and again (changed again within S_CHURN_MS of its last change, while
 * updates are still under way): then once it rested for S_QUIET_MS, so that versions a
 * later one replaces are not built; but a file that never rests is not held for more than
 * S_CHURN_MAX_MS. */
static int64_t s_settled_at(void *arg, const char *file)
{
    cs_refresh_t *self = arg;
    const s_churn_t *churn = file ? zhashx_lookup(self->churn, file) : NULL;
    if (!churn || !churn->burst_start || churn->last_change - churn->burst_start > S_CHURN_MAX_MS)
        return 0;
    return churn->last_change + S_QUIET_MS;
}

static int64_t s_gone_since(void *arg, const char *file)
{
    const int64_t *since = zhashx_lookup(((cs_refresh_t *)arg)->gone, file);
    return since ? *since : 0;
}

/* When a current dynamic schema is fetched again: a plain refresh asked for by an operator
 * (all of them), a refresh that named it, one of its watches fired, or no watch list of it
 * is known yet (the first plan since this supervisor started, so that a restart looks at
 * every one once) and no refetch of it is under way to bring one. Not on the plans of the
 * config directory's own refreshes, nor on the further plans of a refresh. */
static const char *s_refetch(void *arg, const char *connection)
{
    cs_refresh_t *self = arg;
    if (self->refetch_all)
        return "a refresh was asked for: dynamic schema fetched again";
    const char *why = zhashx_lookup(self->refetch, connection);
    if (why)
        return why;
    if (!self->deps.watch)
        return "dynamic schema: fetched again";
    if (!cs_watch_known(self->deps.watch, connection) &&
        !cs_dispatch_refetch_pending(self->deps.dispatch, connection))
        return "dynamic schema: fetched once since the supervisor started";
    return NULL;
}

static bool s_refetching(void *arg, const char *connection)
{
    return cs_dispatch_refetch_pending(((cs_refresh_t *)arg)->deps.dispatch, connection);
}

static const char *s_failed(void *arg, const char *connection)
{
    return zhashx_lookup(((cs_refresh_t *)arg)->failed, connection);
}

/* After a plan: the gone files are those its WAIT decisions name (a file back again, or
 * past its grace, is forgotten). */
static void s_remember_gone(cs_refresh_t *self, const cs_plan_t *plan, int64_t now)
{
    zhashx_t *gone = zhashx_new();
    if (!gone)
        return;
    zhashx_set_destructor(gone, s_free_item);
    for (size_t i = 0; i < cs_plan_count(plan); i++) {
        const cs_decision_t *d = cs_plan_decision(plan, i);
        if (d->action != CS_ACTION_WAIT || zhashx_lookup(gone, d->file) ||
            zhashx_size(gone) >= S_FILES_MAX)
            continue;
        int64_t *since = malloc(sizeof *since);
        if (!since)
            continue;
        *since = s_gone_since(self, d->file);
        if (!*since)
            *since = now;
        zhashx_insert(gone, d->file, since);
    }
    zhashx_destroy(&self->gone);
    self->gone = gone;
}

/* ---- applying decisions ---------------------------------------------------------------- */

/* A new task (NULL when out of memory, logged): what a worker needs of the connection's
 * config (fingerprint: NULL for the config's own) and, for a build or comments, the plugin's
 * version the plan used (a worker whose plugin has another one does not run it). */
static cs_task_t *s_task_new(cs_refresh_t *self, cs_task_kind_t kind, const char *name,
                             const cs_connection_t *c, const char *fingerprint)
{
    const cs_plugin_info_t *info;
    const char *why;
    const char *version = c && kind != CS_TASK_DELETE &&
                                  cs_plugins_lookup(self->deps.plugins, c->plugin, self->plans,
                                                    &info, &why) == CS_PLUGIN_KNOWN
                              ? info->version
                              : NULL;
    if (!fingerprint && c)
        fingerprint = c->fingerprint;
    cs_task_t *task = cs_task_new(kind, name, c ? c->plugin : NULL, c ? c->config_json : NULL,
                                  fingerprint, version);
    if (!task) {
        cs_log_conn_error(name, "out of memory: its %s is not queued", cs_task_kind_name(kind));
        return NULL;
    }
    const cs_config_plugin_t *instance = c ? c->instance : NULL;
    if (c && kind != CS_TASK_DELETE) /* its plugin runs' memory limit */
        task->memory_max_mb = (uint32_t)c->memory_max_mb;
    if (instance && kind != CS_TASK_DELETE && kind != CS_TASK_AGGREGATE) { /* ... environment */
        for (size_t i = 0; i < instance->env_count; i++) {
            if (cs_strs_add(&task->env, instance->env[i]) != 0) {
                cs_log_conn_error(name, "out of memory: its %s is not queued",
                                  cs_task_kind_name(kind));
                cs_task_destroy(&task);
                return NULL;
            }
        }
    }
    return task;
}

static void s_task(cs_refresh_t *self, cs_task_kind_t kind, const char *name,
                   const cs_connection_t *c, bool fresh, int64_t not_before, bool refetch)
{
    cs_task_t *task = s_task_new(self, kind, name, c, NULL);
    if (!task)
        return;
    task->fresh = fresh;
    task->not_before = not_before;
    task->refetch = refetch;
    if (kind == CS_TASK_BUILD && refetch)
        self->refetches++;
    else if (kind == CS_TASK_BUILD || kind == CS_TASK_AGGREGATE)
        self->builds++;
    else if (kind == CS_TASK_DELETE)
        self->deletes++;
    else
        self->comments++;
    cs_dispatch_add(self->deps.dispatch, &task);
}

/* An aggregator's aggregate task: the plan's fingerprint (over its config, the plugin's
 * version and its members) and member lines; what it queued is remembered for the result
 * (the members left out) and for a redo. */
static cs_task_t *s_aggregate_task(cs_refresh_t *self, const char *name, const cs_connection_t *c,
                                   const char *fingerprint, const char *members)
{
    cs_task_t *task = s_task_new(self, CS_TASK_AGGREGATE, name, c, fingerprint);
    if (!task)
        return NULL;
    task->members = strdup(members);
    if (!task->members) {
        cs_log_conn_error(name, "out of memory: its aggregate is not queued");
        cs_task_destroy(&task);
    }
    return task;
}

/* Remembers what the plan queued for an aggregator (left_out: NULL for none). */
static void s_remember_aggregate(cs_refresh_t *self, const cs_task_t *task, const char *left_out)
{
    s_aggregate_t *a = calloc(1, sizeof *a);
    if (!a)
        return;
    a->fingerprint = strdup(task->fingerprint);
    a->members = strdup(task->members);
    a->plugin_version = task->plugin_version ? strdup(task->plugin_version) : NULL;
    a->left_out = left_out ? strdup(left_out) : NULL;
    if (!a->fingerprint || !a->members || (left_out && !a->left_out)) {
        void *item = a;
        s_aggregate_free(&item);
        return;
    }
    zhashx_update(self->aggregates, task->connection, a);
}

/* The state table refused a worker's word for a row (a ready whose schema's marker does not
 * match, a deletion or a `disabled` whose schema is still there; the row says error): that
 * update is done again, like one whose worker was lost, as its next attempt. */
static void s_redo(cs_refresh_t *self, const char *name, cs_task_kind_t kind)
{
    s_dirty_add(self, name);
    const cs_record_t *row = cs_store_get(self->deps.store, name);
    if (!row)
        return;
    const cs_row_values_t *v = cs_record_values(row);
    const cs_connection_t *c = self->config ? cs_config_find(self->config, name) : NULL;
    if (kind == CS_TASK_BUILD && !c) { /* it left the config: the next plan deletes it */
        cs_log_conn_debug(name, "not built again: it is no longer configured");
        return;
    }
    const s_aggregate_t *a = c && c->aggregator ? zhashx_lookup(self->aggregates, name) : NULL;
    if (kind == CS_TASK_BUILD && c->aggregator && !a) { /* planned again instead */
        if (self->running)
            self->settle = true;
        else
            self->requested = true;
        return;
    }
    cs_task_t *task = a && kind == CS_TASK_BUILD
                          ? s_aggregate_task(self, name, c, a->fingerprint, a->members)
                          : s_task_new(self, kind, name, c, NULL);
    if (!task)
        return;
    task->attempt = v->attempts > 0 ? (uint32_t)v->attempts : 1;
    cs_dispatch_redo(self->deps.dispatch, &task, v->worker,
                     kind == CS_TASK_BUILD ? CS_BATCH_MARKER_MISMATCH : CS_BATCH_STILL_THERE);
}

/* What a pending deferred aggregator waits for, as its row's detail. */
static void s_describe_awaiting(cs_store_t *store, cs_record_t *row, const cs_decision_t *d)
{
    cs_buf_t text = {0};
    cs_buf_puts(&text, "waits for the updates of its members ");
    for (size_t i = 0; i < d->awaiting_count && i < S_AWAITING_NAMED; i++)
        cs_buf_printf(&text, "%s%s", i ? ", " : "", d->awaiting[i]);
    if (d->awaiting_count > S_AWAITING_NAMED)
        cs_buf_printf(&text, ", and %zu more", d->awaiting_count - S_AWAITING_NAMED);
    if (!text.failed)
        cs_store_set_detail(store, row, cs_buf_str(&text));
    cs_buf_free(&text);
}

/* The row of a decision, described by its config entry when it has one. */
static cs_record_t *s_row(cs_refresh_t *self, const cs_decision_t *d)
{
    cs_record_t *row = cs_store_add(self->deps.store, d->name);
    if (row && d->config)
        cs_store_describe(self->deps.store, row, d->config);
    return row;
}

static void s_apply(cs_refresh_t *self, const cs_decision_t *d)
{
    cs_store_t *store = self->deps.store;
    cs_dispatch_t *dispatch = self->deps.dispatch;
    cs_record_t *row;
    switch (d->action) {
        case CS_ACTION_READY:
            if (!(row = s_row(self, d)) || d->refetching) /* its refetch decides */
                return;
            cs_dispatch_cancel(dispatch, d->name); /* nothing to do: none of its tasks */
            cs_store_set_built(store, row, d->marker->plugin_version, d->marker->schema_hash);
            if (d->fingerprint) { /* an aggregator: its comments are its build's */
                cs_store_set_fingerprint(store, row, d->fingerprint);
                cs_store_set_comments(store, row, true);
            }
            cs_store_set_noted(store, row, CS_STATUS_READY, NULL, d->left_out);
            if (d->comments)
                s_task(self, CS_TASK_COMMENTS, d->name, d->config, false, 0, false);
            return;
        case CS_ACTION_AGGREGATE: {
            if (!(row = s_row(self, d)))
                return;
            cs_store_set_fingerprint(store, row, d->fingerprint);
            cs_store_set_reason(store, row, d->reason);
            cs_store_set(store, row, CS_STATUS_UPDATING, NULL);
            cs_task_t *task =
                s_aggregate_task(self, d->name, d->config, d->fingerprint, d->members);
            if (!task)
                return;
            task->fresh = d->fresh;
            s_remember_aggregate(self, task, d->left_out);
            self->builds++;
            cs_dispatch_add(dispatch, &task);
            return;
        }
        case CS_ACTION_DEFER:
            if (!(row = s_row(self, d)))
                return;
            cs_dispatch_cancel(dispatch, d->name); /* rebuilt once its members landed */
            self->deferred++;
            for (size_t i = 0; i < d->awaiting_count; i++)
                zhashx_update(self->awaited, d->awaiting[i], (void *)"");
            if (cs_record_values(row)->status == CS_STATUS_PENDING) /* else it stays as it is */
                s_describe_awaiting(store, row, d);
            return;
        case CS_ACTION_BUILD:
            if (!(row = s_row(self, d)))
                return;
            /* A refetch builds atomically: a ready row stays ready (results.c writes it only
             * when its schema hash changes); another one is under way meanwhile. */
            if (d->refetch)
                cs_store_set_built(store, row, d->marker->plugin_version, d->marker->schema_hash);
            cs_store_set_reason(store, row, d->reason); /* a refetch's says why it is one */
            if (!d->refetch || cs_record_values(row)->status != CS_STATUS_READY)
                cs_store_set(store, row, CS_STATUS_UPDATING, NULL);
            s_task(self, CS_TASK_BUILD, d->name, d->config, d->fresh, d->not_before, d->refetch);
            return;
        case CS_ACTION_DELETE:
            if (self->deps.watch)
                cs_watch_forget(self->deps.watch, d->name);
            if ((row = s_row(self, d)) != NULL) {
                cs_store_set_reason(store, row, d->reason);
                cs_store_set(store, row, CS_STATUS_DELETING, NULL);
                s_task(self, CS_TASK_DELETE, d->name, d->config, false, 0, false);
            }
            return;
        case CS_ACTION_DISABLED:
        case CS_ACTION_ERROR:
            if (d->action == CS_ACTION_DISABLED && self->deps.watch)
                cs_watch_forget(self->deps.watch, d->name);
            if ((row = s_row(self, d)) != NULL)
                cs_store_set(store, row,
                             d->action == CS_ACTION_ERROR ? CS_STATUS_ERROR : CS_STATUS_DISABLED,
                             d->error);
            cs_dispatch_cancel(dispatch, d->name);
            return;
        case CS_ACTION_FORGET:
            if (self->deps.watch)
                cs_watch_forget(self->deps.watch, d->name);
            cs_dispatch_cancel(dispatch, d->name);
            if ((row = cs_store_get(store, d->name)) != NULL)
                cs_store_remove(store, row);
            return;
        case CS_ACTION_WAIT:
            return;
        case CS_ACTION_DROP_TEMP: /* no row: only connections have one */
            s_task(self, CS_TASK_DELETE, d->name, NULL, false, 0, false);
            return;
    }
}

/* The aggregators of the config just adopted (none when out of memory: then the results'
 * aggregators are found by the next plan only). */
static void s_note_aggregators(cs_refresh_t *self)
{
    free(self->aggregators);
    self->aggregators = NULL;
    self->aggregator_count = 0;
    size_t n = zhashx_size(self->agg_names);
    if (!n || !(self->aggregators = malloc(n * sizeof *self->aggregators)))
        return;
    for (void *it = zhashx_first(self->agg_names); it; it = zhashx_next(self->agg_names)) {
        const cs_connection_t *c = cs_config_find(self->config, zhashx_cursor(self->agg_names));
        if (c && c->aggregator)
            self->aggregators[self->aggregator_count++] = c;
    }
}

/* ---- what the next plan decides ---------------------------------------------------------- */

static void s_dirty_add(void *arg, const char *name)
{
    cs_refresh_t *self = arg;
    if (!self->dirty_all)
        zhashx_update(self->dirty, name, (void *)"");
}

/* A name whose schema changed in the catalog; a temporary one is looked at until it is gone. */
static void s_schema_changed(void *arg, const char *name)
{
    cs_refresh_t *self = arg;
    s_dirty_add(self, name);
    if (cs_marker_is_temp_name(name) && cs_schemas_get(self->schemas, name))
        zhashx_update(self->temps, name, (void *)"");
}

/* Takes a connection out of (sign -1) or into (1) the index of the planned config. */
static void s_index_connection(cs_refresh_t *self, const cs_connection_t *c, int sign)
{
    if (c->aggregator) {
        if (sign > 0)
            zhashx_update(self->agg_names, c->name, (void *)"");
        else
            zhashx_delete(self->agg_names, c->name);
    }
    if (!c->plugin)
        return;
    s_plugin_set_t *set = zhashx_lookup(self->by_plugin, c->plugin);
    if (!set && sign > 0) {
        if (!(set = calloc(1, sizeof *set))) {
            self->dirty_all = true; /* out of memory: the index is incomplete */
            return;
        }
        zhashx_insert(self->by_plugin, c->plugin, set);
    }
    if (!set)
        return;
    bool asker = !c->aggregator && !c->import_disabled;
    if (sign > 0) {
        set->count++;
        set->askers += asker;
    } else if (set->count) {
        set->count--;
        set->askers -= asker && set->askers;
        if (!set->count)
            zhashx_delete(self->by_plugin, c->plugin);
    }
}

/* A changed name: its entry in the previous config leaves the index, its new one enters. */
typedef struct {
    cs_refresh_t *self;
    const cs_config_t *before, *now;
} s_reindex_t;

static void s_reindex_name(void *arg, const char *name)
{
    s_reindex_t *r = arg;
    const cs_connection_t *old = r->before ? cs_config_find(r->before, name) : NULL;
    const cs_connection_t *now = cs_config_find(r->now, name);
    if (old)
        s_index_connection(r->self, old, -1);
    if (now)
        s_index_connection(r->self, now, 1);
}

/* A config was loaded for the next plan: what changed since the one planned last (before) is
 * decided by it, and the index by plugin follows (rebuilt when everything changed). */
static void s_config_loaded(cs_refresh_t *self, const cs_config_t *cfg, const cs_config_t *before)
{
    s_reindex_t r = {self, before, cfg};
    if (!before || cs_config_changes(cfg, NULL, NULL)) {
        self->dirty_all = true;
        zhashx_purge(self->by_plugin);
        zhashx_purge(self->agg_names);
        for (size_t i = 0; i < cfg->count; i++)
            s_index_connection(self, &cfg->connections[i], 1);
        return;
    }
    cs_config_changes(cfg, s_dirty_add, self);
    cs_config_changes(cfg, s_reindex_name, &r);
}

/* What a plugin's info says now, to see it change between plans (the caller frees it). */
static char *s_plugin_said(cs_plugin_state_t state, const cs_plugin_info_t *info, const char *why)
{
    cs_buf_t text = {0};
    if (state == CS_PLUGIN_KNOWN)
        cs_buf_printf(&text, "known %s %s", info->version, info->mode);
    else
        cs_buf_printf(&text, "%d %s", (int)state, why ? why : "");
    char *said = text.failed ? NULL : strdup(cs_buf_str(&text));
    cs_buf_free(&text);
    return said;
}

/* The connections of the plugin in the config to be planned. */
static void s_dirty_plugin(cs_refresh_t *self, const cs_config_t *cfg, const char *plugin)
{
    for (size_t i = 0; !self->dirty_all && i < cfg->count; i++)
        if (cfg->connections[i].plugin && strcmp(cfg->connections[i].plugin, plugin) == 0)
            s_dirty_add(self, cfg->connections[i].name);
}

/* The names the plan about to be made decides beyond those noted as they changed: the
 * connections of a plugin whose info changed, of a dynamic plugin (the refetch rule is asked
 * of each), those a refetch was asked for, the rows not settled, the temporary schemas. */
static void s_dirty_gather(cs_refresh_t *self, const cs_config_t *cfg)
{
    for (s_plugin_set_t *set = zhashx_first(self->by_plugin); set;
         set = zhashx_next(self->by_plugin)) {
        const char *plugin = zhashx_cursor(self->by_plugin);
        const cs_plugin_info_t *info = NULL;
        const char *why = NULL;
        cs_plugin_state_t state =
            cs_plugins_lookup(self->deps.plugins, plugin, self->plans, &info, &why);
        char *said = s_plugin_said(state, info, why);
        const char *before = zhashx_lookup(self->plugin_seen, plugin);
        if (!said || !before || strcmp(before, said) != 0 ||
            (state == CS_PLUGIN_KNOWN && strcmp(info->mode, "dynamic") == 0))
            s_dirty_plugin(self, cfg, plugin);
        if (said)
            zhashx_update(self->plugin_seen, plugin, said);
        else
            zhashx_delete(self->plugin_seen, plugin);
    }
    for (void *it = zhashx_first(self->refetch); it; it = zhashx_next(self->refetch))
        s_dirty_add(self, zhashx_cursor(self->refetch));
    cs_store_unsettled(self->deps.store, s_dirty_add, self);
    for (void *it = zhashx_first(self->temps); it; it = zhashx_next(self->temps))
        s_dirty_add(self, zhashx_cursor(self->temps));
}

/* Whether a decision leaves nothing for a later plan to see unless something changes. */
static bool s_final(const cs_decision_t *d)
{
    return (d->action == CS_ACTION_READY && !d->refetching && !d->comments) ||
           d->action == CS_ACTION_DISABLED || d->action == CS_ACTION_FORGET;
}

/* After a plan: the names it decided without a final decision are decided again by the
 * next; the temporary schemas gone are forgotten. The set is made anew: a decision's name
 * may be one of the old set's own keys. When most of a large plan's decisions are not final
 * (a cold start's builds), the next plan looks at everything instead: it costs about what
 * looking at those names would, and no set of them is held meanwhile. */
static void s_dirty_after(cs_refresh_t *self, const cs_plan_t *plan)
{
    size_t open = 0, count = cs_plan_count(plan);
    for (size_t i = 0; i < count; i++)
        open += !s_final(cs_plan_decision(plan, i));
    zhashx_t *dirty = open >= S_DIRTY_ALL_MIN && open > count / 2 ? NULL : zhashx_new();
    self->dirty_all = !dirty;
    for (size_t i = 0; dirty && i < count; i++) {
        const cs_decision_t *d = cs_plan_decision(plan, i);
        if (!s_final(d))
            zhashx_update(dirty, d->name, (void *)"");
    }
    if (dirty) {
        zhashx_destroy(&self->dirty);
        self->dirty = dirty;
    } else {
        zhashx_purge(self->dirty);
    }
    if (self->looked_all) { /* the catalog's names were not listed: its temporary schemas */
        const char *name;
        for (const cs_schema_info_t *schema = cs_schemas_first(self->schemas, &name); schema;
             schema = cs_schemas_next(self->schemas, &name))
            if (schema->managed && cs_marker_is_temp_name(name))
                zhashx_update(self->temps, name, (void *)"");
    }
    zlistx_t *gone = zlistx_new();
    for (void *it = zhashx_first(self->temps); gone && it; it = zhashx_next(self->temps))
        if (!cs_schemas_get(self->schemas, zhashx_cursor(self->temps)))
            zlistx_add_end(gone, (void *)zhashx_cursor(self->temps));
    for (const char *name = gone ? zlistx_first(gone) : NULL; name; name = zlistx_next(gone))
        zhashx_delete(self->temps, name);
    if (!gone)
        self->dirty_all = true;
    zlistx_destroy(&gone);
}

/* ---- planning --------------------------------------------------------------------------- */

/* The config for the next plan: only the files the watch saw change are looked at, unless
 * every one is to be. */
static cs_config_t *s_load(cs_refresh_t *self)
{
    cs_config_t *cfg = self->preloaded;
    self->preloaded = NULL;
    if (cfg) /* read at startup: what the watch saw since is touched (cs_refresh_preloaded) */
        return cfg;
    size_t n = zhashx_size(self->touched);
    const char **files = self->touched_all ? NULL : malloc((n + 1) * sizeof *files);
    if (files) {
        size_t i = 0;
        for (void *it = zhashx_first(self->touched); it; it = zhashx_next(self->touched))
            files[i++] = zhashx_cursor(self->touched);
        cfg = cs_config_reload_files(self->config_dir, self->config, files, n);
        free(files);
    } else {
        cfg = cs_config_reload_dir(self->config_dir, self->config);
    }
    if (cfg) {
        zhashx_purge(self->touched);
        self->touched_all = !self->watched;
    }
    return cfg;
}

/* Reads the catalog (what changed since the last read, or every schema); false when it
 * failed (the cause was logged; a later plan tries again with what was loaded). A read must
 * not overlap a batch on the same session: the one in flight ends first (one statement:
 * milliseconds). */
static bool s_read_catalog(cs_refresh_t *self)
{
    if (cs_batch_wait(self->deps.batch, S_CATALOG_WAIT_MS) == 0 &&
        cs_catalog_read_schemas(self->deps.catalog, self->schemas, false) == 0)
        return true;
    self->lost = cs_catalog_session_bad(self->deps.catalog);
    return false;
}

/* Plans the refresh that began: the config (only files that changed are parsed again), the
 * plugins' info (asked without blocking: while an answer is missing the refresh waits, and
 * tick plans again when one comes), the catalog, then the plan applied and its statuses
 * sent in one batch. */
static void s_plan(cs_refresh_t *self)
{
    self->settle = false; /* this plan is made again from the world as it is now */
    self->builds = self->deletes = self->comments = self->refetches = 0;
    self->plans++;
    int64_t t0 = cs_clock_mono_ms();
    bool loaded = !self->next;
    if (loaded)
        self->next = s_load(self);
    if (!self->next) {
        cs_log_error("out of memory loading the config");
        self->planning = false;
        return;
    }
    cs_config_t *cfg = self->next;
    size_t parsed = 0;
    for (size_t i = 0; i < cs_config_file_count(cfg); i++)
        parsed += cs_config_file_changed(cfg, i);
    if (loaded) {
        cs_config_log_errors(cfg); /* of the files parsed again; the others' were logged */
        s_note_changes(self, cfg, t0);
        s_config_loaded(self, cfg, self->config);
    }
    /* Every stale plugin starts being asked now; the plan waits for all of them. */
    bool asking = false;
    for (s_plugin_set_t *set = zhashx_first(self->by_plugin); set;
         set = zhashx_next(self->by_plugin)) {
        const cs_plugin_info_t *info;
        const char *why;
        if (set->askers && cs_plugins_lookup(self->deps.plugins, zhashx_cursor(self->by_plugin),
                                             self->plans, &info, &why) == CS_PLUGIN_ASKING)
            asking = true;
    }
    if (asking) {
        if (!self->planning) {
            cs_log_debug("refresh %llu waits for %zu plugins' info",
                         (unsigned long long)self->started, cs_plugins_asking(self->deps.plugins));
            /* the catalog is read while they answer (a full read at startup): the plan, once
             * they did, reads only what changed since */
            self->planning = true;
            (void)s_read_catalog(self);
        }
        return;
    }
    self->planning = false;
    int64_t t_config = cs_clock_mono_ms();
    if (!s_read_catalog(self))
        return;
    int64_t t_catalog = cs_clock_mono_ms();
    /* what this plan decides: what changed, and what is not settled */
    if (cs_schemas_take_changed(self->schemas, s_schema_changed, self))
        self->dirty_all = true;
    s_dirty_gather(self, cfg);
    size_t aggregator_count = 0;
    const cs_connection_t **aggregators =
        calloc(zhashx_size(self->agg_names) + 1, sizeof *aggregators);
    for (void *it = zhashx_first(self->agg_names); aggregators && it;
         it = zhashx_next(self->agg_names)) {
        const cs_connection_t *c = cs_config_find(cfg, zhashx_cursor(self->agg_names));
        if (c && c->aggregator)
            aggregators[aggregator_count++] = c;
    }
    if (!aggregators)
        self->dirty_all = true;
    else if (!self->dirty_all)
        cs_plan_close_names(cfg, self->deps.store, aggregators, aggregator_count, self->dirty);
    free(aggregators);
    cs_plan_input_t in = {cfg,
                          self->config_dir,
                          self->deps.store,
                          self->schemas,
                          {s_plugin, s_in_flight, s_settled_at, s_gone_since, s_failed, self,
                           s_refetch, s_refetching},
                          t_catalog,
                          self->dirty_all ? NULL : self->dirty};
    self->looked_all = self->dirty_all;
    self->looked_at = self->dirty_all ? 0 : zhashx_size(self->dirty);
    cs_plan_t *plan = cs_plan_make(&in);
    if (!plan) {
        cs_log_error("out of memory planning refresh %llu", (unsigned long long)self->started);
        return;
    }
    self->deferred = 0;
    zhashx_purge(self->awaited);
    for (size_t i = 0; i < cs_plan_count(plan); i++)
        s_apply(self, cs_plan_decision(plan, i));
    if (self->deferred)
        cs_log_info("refresh %llu: %zu aggregators wait for %zu of their members' updates",
                    (unsigned long long)self->started, self->deferred, zhashx_size(self->awaited));
    s_remember_gone(self, plan, t_catalog);
    zhashx_purge(self->refetch); /* asked for by this plan: the next ones fetch no more */
    self->refetch_all = false;
    self->planned = self->started;
    self->replan_at = cs_plan_replan_at(plan);
    self->decided = cs_plan_count(plan);
    char looked[64];
    if (!self->looked_all)
        snprintf(looked, sizeof looked, "%zu names looked at", self->looked_at);
    else
        snprintf(looked, sizeof looked, "every one looked at");
    cs_log_debug("plan: %zu of %zu connections decided (%s); config (%zu of %zu files parsed) "
                 "in %lld ms, catalog (%zu schemas) in %lld ms, plan and its application in "
                 "%lld ms",
                 cs_plan_count(plan), cfg->count, looked, parsed, cs_config_file_count(cfg),
                 (long long)(t_config - t0), cs_schemas_count(self->schemas),
                 (long long)(t_catalog - t_config), (long long)(cs_clock_mono_ms() - t_catalog));
    s_dirty_after(self, plan);
    cs_plan_destroy(&plan);
    self->next = NULL;
    cs_config_destroy(&self->config);
    self->config = cfg;
    s_note_aggregators(self);
    cs_batch_search_path(self->deps.batch, &cfg->database, cfg->dir_failed);
    cs_log_info("refresh %llu: %zu connections configured; %zu to build, %zu to delete, %zu "
                "comments to write, %zu dynamic schemas to fetch again",
                (unsigned long long)self->started, cfg->count, self->builds, self->deletes,
                self->comments, self->refetches);
    if (cs_batch_flush(self->deps.batch, 0) != 0) /* the plan's statuses: the first batch */
        self->lost = true;
}

/* Whether a requested refresh may begin now (*wait: milliseconds until it may): S_PLAN_GAP_MS
 * after the last plan when none runs; while one runs, once its plan is made and S_REPLAN_MS
 * after it (a burst of changes costs a few plans, not one per change). */
static bool s_due(const cs_refresh_t *self, int64_t now, int64_t *wait)
{
    *wait = 0;
    if (!self->requested || self->planning)
        return false;
    *wait = self->last_plan + (self->running ? S_REPLAN_MS : S_PLAN_GAP_MS) - now;
    return *wait <= 0;
}

/* Whether the running refresh is to be planned again for its deferred aggregators now (*wait:
 * milliseconds until it may): S_REPLAN_MS after its last plan, unless a request plans it. */
static bool s_settle_due(const cs_refresh_t *self, int64_t now, int64_t *wait)
{
    *wait = 0;
    if (!self->settle || !self->running || self->requested || self->planning)
        return false;
    *wait = self->last_plan + S_REPLAN_MS - now;
    return *wait <= 0;
}

/* Begins a refresh, or plans the running one again: a config change while updates are under
 * way supersedes what it changed (queued updates are replaced, those in flight no longer
 * count) instead of waiting for all of them; the same updates stay where they are. */
static void s_begin(cs_refresh_t *self, int64_t now)
{
    self->requested = false;
    if (!self->running)
        self->began_at = now;
    self->running = true;
    self->started++;
    self->last_plan = now;
    s_plan(self);
}

/* The refresh is done when its last plan is made and everything it queued is written. */
static uint64_t s_check_done(cs_refresh_t *self, int64_t now, int64_t *elapsed_us)
{
    if (!self->running || self->planning || self->replan_at || self->deferred || self->settle ||
        cs_dispatch_outstanding(self->deps.dispatch) || cs_store_dirty(self->deps.store) ||
        cs_batch_busy(self->deps.batch) || cs_batch_refusals(self->deps.batch))
        return 0;
    self->running = false;
    self->done = self->started;
    int64_t elapsed = now - self->began_at;
    *elapsed_us = elapsed * 1000;
    uint32_t counts[CS_STATUS_COUNT];
    cs_store_status_counts(self->deps.store, counts);
    uint64_t batches, rows, write_us;
    cs_batch_stats(self->deps.batch, &batches, &rows, &write_us);
    cs_log_info("refresh %llu done in %.3f s: %u ready, %u error, %u disabled; since start: "
                "%llu builds, %llu DDL statements, %llu comment statements, %llu state writes "
                "of %llu rows in %.3f s",
                (unsigned long long)self->done, elapsed / 1000.0, counts[CS_STATUS_READY],
                counts[CS_STATUS_ERROR], counts[CS_STATUS_DISABLED],
                (unsigned long long)self->stats.builds,
                (unsigned long long)self->stats.ddl_statements,
                (unsigned long long)self->stats.comment_statements, (unsigned long long)batches,
                (unsigned long long)rows, write_us / 1e6);
    return self->done;
}

/* A plan is wanted; what failed is not tried again by it (see cs_refresh_request). */
static uint64_t s_request_plan(cs_refresh_t *self)
{
    self->requested = true;
    /* the next refresh to start (now, or as a new plan of the running one) reads the config
     * after this request: that is the one to wait for */
    return self->started + 1;
}

uint64_t cs_refresh_request_touched(cs_refresh_t *self)
{
    zhashx_purge(self->failed); /* asked for: what failed is tried again */
    return s_request_plan(self);
}

uint64_t cs_refresh_request(cs_refresh_t *self)
{
    self->touched_all = true;
    return cs_refresh_request_touched(self);
}

void cs_refresh_file_touched(cs_refresh_t *self, const char *name)
{
    if (!name)
        self->touched_all = true;
    else if (!self->touched_all)
        zhashx_update(self->touched, name, (void *)"");
}

void cs_refresh_preloaded(cs_refresh_t *self, cs_config_t **config_p)
{
    cs_config_t *cfg = *config_p;
    *config_p = NULL;
    if (!cfg || self->config || self->next || self->preloaded) { /* a plan read it already */
        cs_config_destroy(&cfg);
        return;
    }
    self->preloaded = cfg;
    /* read with the directory watched: the next load reads only the files touched since */
    if (self->watched)
        self->touched_all = false;
}

void cs_refresh_files_watched(cs_refresh_t *self, bool watched)
{
    if (watched && !self->watched)
        self->touched_all = true; /* what changed while not watched is not known */
    self->watched = watched;
}

uint64_t cs_refresh_request_all(cs_refresh_t *self)
{
    self->refetch_all = true;
    return cs_refresh_request(self);
}

void cs_refresh_refetch(cs_refresh_t *self, const char *connection, const char *why)
{
    if (!zhashx_lookup(self->refetch, connection))
        zhashx_insert(self->refetch, connection, (void *)why);
    s_request_plan(self); /* (only this one is fetched again: others that failed stay so) */
}

/* Whether a name is a connection: one of the last config read, or a row of the table. */
static bool s_known(const cs_refresh_t *self, const char *name)
{
    return (self->config && cs_config_find(self->config, name)) ||
           cs_store_get(self->deps.store, name);
}

/* Appends name to a set of names unless it is there. Returns 0, or -1 when out of memory or
 * the set is full. */
static int s_add_name(cs_strs_t *set, const char *name)
{
    for (uint32_t j = 0; j < set->count; j++)
        if (strcmp(set->items[j], name) == 0)
            return 0;
    return cs_strs_add_max(set, name, CS_PROTO_MAX_NAMES);
}

/* The connections a refresh of these names refreshes: the names themselves, and every
 * configured aggregator that any of them is a member of (so that a named refresh leaves none
 * of them stale, and its waiter waits for them too). Returns 0, or -1 when out of memory or
 * the set would exceed CS_PROTO_MAX_NAMES. */
static int s_expand_names(const cs_refresh_t *self, const cs_strs_t *names, cs_strs_t *expanded)
{
    for (uint32_t i = 0; i < names->count; i++)
        if (s_add_name(expanded, names->items[i]) != 0)
            return -1;
    for (size_t a = 0; a < self->aggregator_count; a++) {
        const cs_connection_t *agg = self->aggregators[a];
        for (uint32_t i = 0; i < names->count; i++) {
            const cs_connection_t *c = cs_config_find(self->config, names->items[i]);
            if (c && cs_config_member_of(agg, c)) {
                if (s_add_name(expanded, agg->name) != 0)
                    return -1;
                break;
            }
        }
    }
    return 0;
}

uint64_t cs_refresh_request_names(cs_refresh_t *self, const cs_strs_t *names, cs_strs_t *expanded,
                                  const char **unknown)
{
    *unknown = NULL;
    for (uint32_t i = 0; i < names->count; i++) {
        if (!s_known(self, names->items[i])) {
            *unknown = names->items[i];
            return 0;
        }
    }
    if (s_expand_names(self, names, expanded) != 0)
        return 0;
    for (uint32_t i = 0; i < expanded->count; i++) {
        if (!zhashx_lookup(self->refetch, expanded->items[i]))
            zhashx_insert(self->refetch, expanded->items[i],
                          (void *)"a refresh named it: dynamic schema fetched again");
        zhashx_delete(self->failed, expanded->items[i]); /* those are tried again, no other */
    }
    self->touched_all = true;
    return s_request_plan(self);
}

bool cs_refresh_names_done(const cs_refresh_t *self, const cs_strs_t *names, uint64_t target)
{
    if (self->planned < target || self->planning || cs_batch_refusals(self->deps.batch))
        return false;
    for (uint32_t i = 0; i < names->count; i++) {
        const char *name = names->items[i];
        const cs_record_t *row = cs_store_get(self->deps.store, name);
        if (!cs_dispatch_idle(self->deps.dispatch, name) || (row && !cs_record_settled(row)))
            return false;
        /* an aggregator waits while the plan defers aggregators (or will plan them again) */
        const cs_connection_t *c = self->config ? cs_config_find(self->config, name) : NULL;
        if (c && c->aggregator && (self->deferred || self->settle))
            return false;
    }
    return true;
}

uint64_t cs_refresh_tick(cs_refresh_t *self, int64_t *elapsed_us)
{
    int64_t now = cs_clock_mono_ms(), wait;
    *elapsed_us = 0;
    cs_task_kind_t redo;
    char *refused;
    while ((refused = cs_batch_next_refusal(self->deps.batch, &redo)) != NULL) {
        cs_schemas_doubt_update(self->schemas, refused, false); /* what is there, read again */
        s_redo(self, refused, redo);
        free(refused);
    }
    if (cs_plugins_collect(self->deps.plugins) && self->planning)
        s_plan(self); /* the plugins it waited for answered */
    if (self->replan_at && now >= self->replan_at) {
        self->replan_at = 0;
        self->requested = true; /* a gone file's grace ended */
    }
    if (self->deferred && !cs_dispatch_updates_outstanding(self->deps.dispatch))
        self->settle = true; /* deferred aggregators: nothing more to wait for */
    if (s_due(self, now, &wait)) {
        s_begin(self, now);
    } else if (s_settle_due(self, now, &wait)) { /* the same refresh, planned again */
        self->settle = false;
        self->last_plan = now;
        s_plan(self);
    }
    return s_check_done(self, cs_clock_mono_ms(), elapsed_us);
}

int64_t cs_refresh_next_ms(const cs_refresh_t *self)
{
    int64_t now = cs_clock_mono_ms(), wait, next = -1;
    if (s_due(self, now, &wait) || cs_batch_refusals(self->deps.batch))
        return 0;
    if (self->requested && !self->planning && wait > 0)
        next = wait;
    if (s_settle_due(self, now, &wait))
        return 0;
    if (self->settle && !self->requested && !self->planning && wait > 0 &&
        (next < 0 || wait < next))
        next = wait;
    if (self->replan_at) {
        int64_t grace = self->replan_at > now ? self->replan_at - now : 0;
        if (next < 0 || grace < next)
            next = grace;
    }
    return next;
}

/* Whether the connection's plugin is known to have a schema that is not dynamic (which no
 * watch list changes, and no plan fetches again). */
static bool s_not_dynamic(cs_refresh_t *self, const char *connection)
{
    const cs_connection_t *c = self->config ? cs_config_find(self->config, connection) : NULL;
    const cs_plugin_info_t *info;
    const char *why;
    return c && !c->aggregator &&
           cs_plugins_lookup(self->deps.plugins, c->plugin, self->plans, &info, &why) ==
               CS_PLUGIN_KNOWN &&
           strcmp(info->mode, "dynamic") != 0;
}

/* A build's end: the watch list its schema gave (none: nothing to watch). One that failed
 * keeps the list known before, or says none is known, so that the plans that follow do
 * not fetch it again and again (a watch or a refresh does). A connection whose schema is not
 * dynamic keeps no entry at all (a cold refresh of 100,000 would hold 100,000 empty ones). */
static void s_note_watch(cs_refresh_t *self, const cs_event_t *event)
{
    cs_watch_t *watch = self->deps.watch;
    if (!watch || event->task_kind != CS_TASK_BUILD || event->superseded ||
        (event->kind != CS_EVENT_RESULT && event->kind != CS_EVENT_LOST))
        return;
    if (s_not_dynamic(self, event->connection)) {
        cs_watch_forget(watch, event->connection);
        return;
    }
    const cs_msg_t *result = event->result;
    if (result && (result->ok || result->watch.count))
        cs_watch_set(watch, event->connection, result->watch.items, result->watch.count);
    else if (!cs_watch_known(watch, event->connection))
        cs_watch_set(watch, event->connection, NULL, 0);
}

/* An update of the connection landed: when it failed, the plans of this refresh do not try it
 * again with the same fingerprint (the row's, which the plan set: an aggregator's own) but
 * keep its error; a refresh asked for tries it again. */
static void s_note_landed(cs_refresh_t *self, const char *name, bool failed)
{
    if (!failed) {
        zhashx_delete(self->failed, name);
        return;
    }
    const cs_record_t *row = cs_store_get(self->deps.store, name);
    const char *fingerprint = row ? cs_record_values(row)->config_hash : NULL;
    char *copy = strdup(fingerprint ? fingerprint : "");
    if (copy)
        zhashx_update(self->failed, name, copy);
}

/* A member's schema changed (a build or delete that ran DDL landed): each ready aggregator
 * that reads it is `updating` from the same batch that shows the member's change, until the
 * plan made again builds its views anew (or finds them current: ready again), so that no
 * aggregator is `ready` over a member's previous schema. A connection that left the config
 * is matched by name. */
static void s_members_changed(cs_refresh_t *self, const cs_event_t *event,
                              const cs_connection_t *member)
{
    for (size_t i = 0; i < self->aggregator_count; i++) {
        const cs_connection_t *agg = self->aggregators[i];
        if (!(member ? cs_config_member_of(agg, member)
                     : cs_config_entry_match(agg, event->connection)))
            continue;
        cs_record_t *row = cs_store_get(self->deps.store, agg->name);
        if (!row || cs_record_values(row)->status != CS_STATUS_READY)
            continue;
        char detail[128];
        snprintf(detail, sizeof detail, "member %s changed: its views are built again",
                 event->connection);
        cs_store_set_noted(self->deps.store, row, CS_STATUS_UPDATING, NULL, detail);
        self->settle = true;
    }
}

void cs_refresh_on_event(cs_refresh_t *self, const cs_event_t *event)
{
    s_dirty_add(self, event->connection); /* the next plan looks at it again */
    if (event->recheck_plugins) { /* plugins changed since the plan, or that worker's differ */
        cs_log_conn_info(event->connection,
                         "a worker has another version of its plugin than planned with: "
                         "planning again, which looks at the plugins again");
        cs_refresh_request(self);
    }
    s_note_watch(self, event);
    if (event->task_kind != CS_TASK_COMMENTS && event->kind != CS_EVENT_WAITING &&
        event->kind != CS_EVENT_RESUMED) /* an attempt ended: what it may have changed */
        cs_schemas_doubt_update(self->schemas, event->connection,
                                event->task_kind == CS_TASK_AGGREGATE);
    bool landed = (event->kind == CS_EVENT_RESULT || event->kind == CS_EVENT_LOST) &&
                  event->task_kind != CS_TASK_COMMENTS && !event->superseded;
    if (landed)
        s_note_landed(self, event->connection, event->kind == CS_EVENT_LOST || !event->result->ok);
    const s_aggregate_t *a = event->task_kind == CS_TASK_AGGREGATE
                                 ? zhashx_lookup(self->aggregates, event->connection)
                                 : NULL;
    cs_results_aggregate_t aggregate = {a ? a->plugin_version : NULL, a ? a->left_out : NULL};
    const cs_connection_t *c = cs_results_apply(self->deps.store, event, self->config,
                                                a ? &aggregate : NULL, &self->stats);
    if (c) /* a build's comments follow it */
        s_task(self, CS_TASK_COMMENTS, c->name, c, false, 0, false);
    const cs_connection_t *configured =
        self->config ? cs_config_find(self->config, event->connection) : NULL;
    if (landed && event->task_kind == CS_TASK_DELETE && event->kind == CS_EVENT_RESULT &&
        event->result->ok && configured && !configured->import_disabled)
        self->settle = true; /* an aggregator's schema is gone: the connection is built now */
    if (landed && event->task_kind == CS_TASK_AGGREGATE && event->kind == CS_EVENT_RESULT &&
        event->result->ok)
        self->settle = true; /* the previous schemas its aggregate left are dropped after it */
    if (landed && self->deferred && zhashx_lookup(self->awaited, event->connection)) {
        zhashx_delete(self->awaited, event->connection);
        self->settle = true; /* the aggregators that wait for it are planned again */
    }
    if (landed && event->kind == CS_EVENT_RESULT && event->result->ok &&
        event->result->ddl_count > 0 &&
        (event->task_kind == CS_TASK_BUILD || event->task_kind == CS_TASK_DELETE))
        s_members_changed(self, event, configured);
    if (self->settle && !self->running)
        s_request_plan(self); /* (a refresh that ended meanwhile: a new one) */
}

bool cs_refresh_running(const cs_refresh_t *self)
{
    return self->running;
}

uint64_t cs_refresh_generation(const cs_refresh_t *self)
{
    return self->done;
}

const cs_config_t *cs_refresh_config(const cs_refresh_t *self)
{
    return self->config;
}

bool cs_refresh_lost(const cs_refresh_t *self)
{
    return self->lost;
}

void cs_refresh_resume(cs_refresh_t *self)
{
    self->lost = false;
    self->requested = true;
    zhashx_purge(self->failed); /* what failed while the database went away is tried again */
    cs_schemas_invalidate(self->schemas); /* read whole again: it may have changed meanwhile */
    cs_schemas_ask_full(self->schemas, "this supervisor became active");
    self->dirty_all = true; /* and the rows were read anew: all looked at */
}

uint64_t cs_refresh_catalog_full(cs_refresh_t *self, const char *why)
{
    cs_schemas_ask_full(self->schemas, why);
    return s_request_plan(self);
}
