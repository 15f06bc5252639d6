/* What a refresh would do now, computed without changing anything (`connstate plan`): the
 * config read from its directory, the state table and the schemas read from the database
 * (read-only, without the supervisors' lock), the plugins asked for their info, then the
 * plan a refresh would make of them, decision by decision. */
#include "supervisor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    cs_plugins_t *plugins;
    int64_t long_gone; /* a file gone from the directory: gone this long (past the grace) */
} s_world_t;

static cs_plugin_state_t s_plugin(void *arg, const char *name, const cs_plugin_info_t **info,
                                  const char **why)
{
    s_world_t *w = arg;
    return cs_plugins_get(w->plugins, name, NULL, NULL, info, why);
}

static bool s_in_flight(void *arg, const char *connection)
{
    (void)arg;
    (void)connection;
    return false; /* this process runs no update */
}

static int64_t s_settled_at(void *arg, const char *file)
{
    (void)arg;
    (void)file;
    return 0; /* no file is being rewritten as far as a single look can tell */
}

static int64_t s_gone_since(void *arg, const char *file)
{
    (void)file;
    return ((s_world_t *)arg)->long_gone; /* what a refresh would do once the grace is over */
}

static const char *s_refetch(void *arg, const char *connection)
{
    (void)arg;
    (void)connection;
    return NULL; /* a dynamic schema is fetched again on the supervisor's own schedule */
}

/* What the decision would do to the row the table holds, and whether that is a change. */
static cs_dryrun_row_t s_describe(const cs_decision_t *d, const cs_record_t *row, char *buf,
                                  size_t size)
{
    const cs_visible_t *held = row ? cs_record_committed(row) : NULL;
    const char *reason = d->reason ? d->reason : "";
    cs_dryrun_row_t r = {d->name, "", buf, true};
    switch (d->action) {
        case CS_ACTION_READY:
            if (d->comments) {
                r.action = "comments";
                snprintf(buf, size, "comments");
            } else {
                r.action = "ready";
                snprintf(buf, size, "ready");
                r.change = !held || held->status != CS_STATUS_READY;
            }
            break;
        case CS_ACTION_BUILD: /* a connection with a row whose schema went is rebuilt */
            r.action = d->fresh && !row ? "build" : "rebuild";
            snprintf(buf, size, "%s (%s)", r.action, reason); /* a refetch's says so */
            break;
        case CS_ACTION_AGGREGATE:
            r.action = d->fresh && !row ? "build" : "rebuild";
            snprintf(buf, size, "%s aggregator (%s)", r.action, reason);
            break;
        case CS_ACTION_DELETE:
            r.action = "delete";
            snprintf(buf, size, "delete (%s)", reason);
            break;
        case CS_ACTION_FORGET:
            r.action = "forget";
            snprintf(buf, size, "forget its row (%s; no schema to drop)", reason);
            break;
        case CS_ACTION_DISABLED:
            r.action = "disabled";
            snprintf(buf, size, "disabled");
            r.change = !held || held->status != CS_STATUS_DISABLED;
            break;
        case CS_ACTION_ERROR: { /* a connection of a file that failed to load keeps its schema, its
                                   row says why */
            bool kept = strcmp(reason, CS_PLAN_KEPT) == 0;
            r.action = kept ? "keep" : "error";
            snprintf(buf, size, "%s (%s%s)", r.action, kept ? CS_PLAN_KEPT ": " : "",
                     d->error ? d->error : reason);
            r.change = !held || held->status != CS_STATUS_ERROR || !held->error || !d->error ||
                       strcmp(held->error, d->error) != 0;
            break;
        }
        case CS_ACTION_WAIT:
            r.action = "wait";
            snprintf(buf, size, "wait (its file %s is gone: deleted after the grace)",
                     d->file ? d->file : "?");
            break;
        case CS_ACTION_DROP_TEMP:
            r.action = "drop";
            snprintf(buf, size, "drop (%s)", reason);
            break;
        case CS_ACTION_DEFER:
            r.action = "defer";
            snprintf(buf, size, "defer (%s)", reason[0] ? reason : "its members are updated first");
            break;
    }
    return r;
}

int cs_dryrun(const char *conninfo, const char *config_dir, const char *plugin_dir,
              int plugin_timeout_ms, cs_dryrun_fn *fn, void *arg, char *why, size_t why_size)
{
    char err[CS_PROTO_MAX_ERROR];
    PGconn *pg = cs_pg_connect(conninfo, "connstate-plan", err, sizeof err);
    if (!pg) {
        snprintf(why, why_size, "cannot connect to the database: %s", err);
        return -1;
    }
    /* Read-only: whatever it reads, this session changes nothing. */
    PGresult *res = cs_pg_query(pg, "starting a read-only transaction",
                                "SET default_transaction_read_only = on", 0, NULL);
    PQclear(res);
    res = cs_pg_query(pg, "looking for the state table",
                      "SELECT to_regclass('connstate_internal.connection_state') IS NOT NULL", 0,
                      NULL);
    bool table = res && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!res) {
        snprintf(why, why_size, "cannot read the database: %s", PQerrorMessage(pg));
        PQfinish(pg);
        return -1;
    }
    cs_catalog_t *catalog = cs_catalog_reader(pg); /* owns pg from here */
    cs_store_t *store = cs_store_new();
    cs_schemas_t *schemas = cs_schemas_new();
    cs_config_t *config = cs_config_load_dir(config_dir);
    s_world_t world = {cs_plugins_new(plugin_dir, plugin_timeout_ms), 0};
    int rc = -1;
    uint64_t last_seq = 0;
    if (!catalog || !store || !schemas || !config || !world.plugins)
        snprintf(why, why_size, "out of memory");
    else if (config->dir_failed)
        snprintf(why, why_size, "cannot read the config directory %s", config_dir);
    else if (table && cs_catalog_load(catalog, store, false, &last_seq, NULL, NULL, NULL) != 0)
        snprintf(why, why_size, "cannot read the state table (see the error above)");
    else if (cs_catalog_read_schemas(catalog, schemas, true) != 0)
        snprintf(why, why_size, "cannot read the database's schemas (see the error above)");
    else
        rc = 0;
    if (rc == 0) {
        int64_t now = cs_clock_mono_ms();
        world.long_gone = now - CS_PLAN_GONE_MS - 1;
        cs_plan_input_t in = {
            config,
            config_dir,
            store,
            schemas,
            {s_plugin, s_in_flight, s_settled_at, s_gone_since, NULL, &world, s_refetch, NULL},
            now,
            NULL};
        cs_plan_t *plan = cs_plan_make(&in);
        if (!plan) {
            snprintf(why, why_size, "out of memory");
            rc = -1;
        }
        for (size_t i = 0; plan && i < cs_plan_count(plan); i++) {
            const cs_decision_t *d = cs_plan_decision(plan, i);
            char text[CS_PROTO_MAX_ERROR + 128];
            cs_dryrun_row_t r = s_describe(d, cs_store_get(store, d->name), text, sizeof text);
            fn(arg, &r);
        }
        cs_plan_destroy(&plan);
    }
    cs_plugins_destroy(&world.plugins);
    cs_config_destroy(&config);
    cs_schemas_destroy(&schemas);
    cs_store_destroy(&store);
    cs_catalog_destroy(&catalog);
    return rc;
}
