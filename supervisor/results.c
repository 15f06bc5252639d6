/* Results: what a dispatch event (a worker's answer, an update lost too often, an update
 * waiting for a worker) does to its connection's row, and which follow-up it asks for. It
 * changes rows only; refresh.c queues the follow-up. */
#include "supervisor.h"

#include <stdio.h>
#include <string.h>

static const cs_connection_t *s_configured(const cs_config_t *config, const char *name)
{
    return config ? cs_config_find(config, name) : NULL;
}

static bool s_same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* A refetch whose worker found the schema it had (same hash and plugin version): the row was
 * right all along. Nothing is written for a ready row (not even the worker: no change, no
 * STATE); a row that was not ready (pending at startup, updating after an error) becomes
 * ready, checked like any build's. Returns the connection when its comments are still
 * owed. */
static const cs_connection_t *s_unchanged(cs_store_t *store, cs_record_t *row,
                                          const cs_event_t *event, const cs_connection_t *c)
{
    const cs_row_values_t *v = cs_record_values(row);
    if (v->status != CS_STATUS_READY) {
        cs_store_set_worker(store, row, event->worker, (int)event->attempt);
        cs_store_set(store, row, CS_STATUS_READY, NULL);
        cs_store_claim(store, row);
    }
    cs_log_conn_debug(event->connection, "dynamic schema fetched again: unchanged (%s)",
                      v->schema_hash);
    return v->comments_set ? NULL : c;
}

static const cs_connection_t *s_result(cs_store_t *store, const cs_event_t *event,
                                       const cs_config_t *config,
                                       const cs_results_aggregate_t *aggregate,
                                       cs_results_stats_t *stats)
{
    const cs_msg_t *result = event->result;
    if (result->ok && event->task_kind == CS_TASK_COMMENTS)
        stats->comment_statements += result->ddl_count;
    else if (result->ok)
        stats->ddl_statements += result->ddl_count;
    if (result->ok && result->ddl_count &&
        (event->task_kind == CS_TASK_BUILD || event->task_kind == CS_TASK_AGGREGATE))
        stats->builds++;
    cs_record_t *row = cs_store_get(store, event->connection);
    if (!row)
        return NULL;         /* a temporary schema's drop, or a row gone meanwhile */
    if (event->superseded) { /* a newer plan's task decides */
        cs_log_conn_debug(event->connection, "result of a superseded %s not written",
                          cs_task_kind_name(event->task_kind));
        return NULL;
    }
    const cs_connection_t *c = s_configured(config, event->connection);
    const cs_row_values_t *v = cs_record_values(row);
    if (event->refetch && result->ok && s_same(v->schema_hash, result->schema_hash) &&
        s_same(v->plugin_version, result->plugin_version))
        return s_unchanged(store, row, event, c);
    /* the worker and attempts of its last update (comments are not one: they say nothing of
     * them, and a refused update is attempted again from that count) */
    if (event->task_kind != CS_TASK_COMMENTS)
        cs_store_set_worker(store, row, event->worker, (int)event->attempt);
    switch (event->task_kind) {
        case CS_TASK_BUILD:
            if (!result->ok) {
                cs_store_set(store, row, CS_STATUS_ERROR, result->error);
                return NULL;
            }
            /* a ready row whose refetch brought another schema: ready anew, at a new time */
            if (event->refetch && v->status == CS_STATUS_READY)
                cs_store_touch(store, row);
            cs_store_set_built(store, row, result->plugin_version, result->schema_hash);
            cs_store_set_build_ms(store, row, result->elapsed_us);
            cs_store_set_comments(store, row, false);
            cs_store_set(store, row, CS_STATUS_READY, NULL);
            cs_store_claim(store, row); /* the state write checks the worker's word */
            return c;                   /* its comments next */
        case CS_TASK_DELETE:
            if (!result->ok) {
                cs_store_set(store, row, CS_STATUS_ERROR, result->error);
                return NULL;
            }
            if (c && !c->import_disabled) { /* an aggregator's schema it replaces: built next */
                cs_store_set(store, row, CS_STATUS_PENDING, NULL);
                return NULL;
            }
            if (c)
                cs_store_set(store, row, CS_STATUS_DISABLED, NULL);
            else
                cs_store_remove(store, row);
            cs_store_claim(store, row);
            return NULL;
        case CS_TASK_COMMENTS:
            if (result->ok)
                cs_store_set_comments(store, row, true);
            else
                cs_log_conn_warn(event->connection, "comments not written: %s", result->error);
            return NULL;
        case CS_TASK_AGGREGATE: /* its views, with their comments */
            if (!result->ok) {
                cs_store_set(store, row, CS_STATUS_ERROR, result->error);
                return NULL;
            }
            cs_store_set_built(store, row,
                               result->plugin_version ? result->plugin_version
                               : aggregate            ? aggregate->plugin_version
                                                      : NULL,
                               result->schema_hash);
            cs_store_set_build_ms(store, row, result->elapsed_us);
            cs_store_set_comments(store, row, true);
            cs_store_set_noted(store, row, CS_STATUS_READY, NULL,
                               aggregate ? aggregate->left_out : NULL);
            cs_store_claim(store, row); /* the state write checks the worker's word */
            return NULL;
    }
    return NULL;
}

const cs_connection_t *cs_results_apply(cs_store_t *store, const cs_event_t *event,
                                        const cs_config_t *config,
                                        const cs_results_aggregate_t *aggregate,
                                        cs_results_stats_t *stats)
{
    if (event->kind == CS_EVENT_RESULT)
        return s_result(store, event, config, aggregate, stats);
    cs_record_t *row = cs_store_get(store, event->connection);
    if (!row || event->task_kind == CS_TASK_COMMENTS)
        return NULL;
    /* a ready row's refetch waiting, resumed or retried: the row stays as it is (its schema is
     * usable meanwhile); only its end may change it */
    if (event->refetch && event->kind != CS_EVENT_LOST &&
        cs_record_values(row)->status == CS_STATUS_READY)
        return NULL;
    if (event->kind == CS_EVENT_LOST) {
        if (!event->superseded) {
            cs_store_set_worker(store, row, NULL, (int)event->attempt);
            cs_store_set(store, row, CS_STATUS_ERROR, event->why);
        }
    } else if (event->kind == CS_EVENT_RESUMED) { /* sent to a worker: in progress again */
        cs_store_set(store, row,
                     event->task_kind == CS_TASK_DELETE ? CS_STATUS_DELETING : CS_STATUS_UPDATING,
                     NULL);
    } else if (event->kind == CS_EVENT_RETRYING) { /* its status stays: it is under way */
        cs_store_set_detail(store, row, event->why);
    } else if (event->kind == CS_EVENT_WAITING) {
        char detail[CS_PROTO_MAX_ERROR];
        snprintf(detail, sizeof detail, "waiting for a worker to %s it: %s",
                 event->task_kind == CS_TASK_DELETE ? "delete" : "build", event->why);
        cs_store_set(store, row, CS_STATUS_PENDING, NULL);
        cs_store_set_detail(store, row, detail);
    }
    return NULL;
}
