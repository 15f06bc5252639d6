/* The supervisor's metrics: counters kept as things happen, and the Prometheus text
 * exposition of them and of the state the other modules hold. */
#include "supervisor.h"

#include <stdlib.h>
#include <string.h>

#define S_KINDS    5 /* cs_task_kind_t runs 1..4 */
#define S_OUTCOMES 5

const double cs_histogram_write_bounds[CS_HISTOGRAM_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
const double cs_histogram_refresh_bounds[CS_HISTOGRAM_BUCKETS] = {
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120};

/* What became of an update or comments task. */
typedef enum {
    S_OK,         /* done as asked */
    S_ERROR,      /* the connection's own failure: its row is error */
    S_RETRIED,    /* not run for a reason that is not the connection's: queued again */
    S_LOST,       /* lost by workers as often as allowed */
    S_SUPERSEDED, /* a newer plan replaced it while it ran */
} s_outcome_t;

static const char *const s_outcome_names[S_OUTCOMES] = {"ok", "error", "retried", "lost",
                                                        "superseded"};

struct cs_metrics {
    cs_histogram_t refreshes;
    cs_refresh_record_t history[CS_METRICS_HISTORY]; /* a ring: the last ones completed */
    size_t history_next;
    double last_refresh_s;
    uint64_t last_generation;
    uint64_t updates[S_KINDS][S_OUTCOMES];
    uint64_t statements[S_KINDS]; /* run by workers, as their results count them */
    uint64_t db_losses, db_returns;
};

void cs_histogram_observe(cs_histogram_t *self, double seconds)
{
    for (size_t i = 0; i < self->count; i++) {
        if (seconds <= self->bounds[i]) {
            self->buckets[i]++;
            break;
        }
    }
    self->total++;
    self->sum += seconds;
}

static void s_head(cs_buf_t *out, const char *name, const char *type, const char *help)
{
    cs_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void cs_histogram_render(const cs_histogram_t *self, const char *name, const char *help,
                         cs_buf_t *out)
{
    s_head(out, name, "histogram", help);
    uint64_t below = 0;
    for (size_t i = 0; i < self->count; i++) {
        below += self->buckets[i];
        cs_buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, self->bounds[i],
                      (unsigned long long)below);
    }
    cs_buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
                  (unsigned long long)self->total, name, self->sum, name,
                  (unsigned long long)self->total);
}

cs_metrics_t *cs_metrics_new(void)
{
    cs_metrics_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->refreshes.bounds = cs_histogram_refresh_bounds;
    self->refreshes.count = CS_HISTOGRAM_BUCKETS;
    return self;
}

void cs_metrics_destroy(cs_metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

void cs_metrics_refresh_done(cs_metrics_t *self, uint64_t generation, int64_t elapsed_us)
{
    self->last_refresh_s = (double)elapsed_us / 1e6;
    self->last_generation = generation;
    self->history[self->history_next % CS_METRICS_HISTORY] =
        (cs_refresh_record_t){generation, cs_clock_wall_us(), elapsed_us};
    self->history_next++;
    cs_histogram_observe(&self->refreshes, self->last_refresh_s);
}

size_t cs_metrics_history(const cs_metrics_t *self, cs_refresh_record_t *out, size_t max)
{
    size_t have = self->history_next < CS_METRICS_HISTORY ? self->history_next : CS_METRICS_HISTORY;
    size_t n = have < max ? have : max;
    for (size_t i = 0; i < n; i++)
        out[i] = self->history[(self->history_next - 1 - i) % CS_METRICS_HISTORY];
    return n;
}

void cs_metrics_event(cs_metrics_t *self, const cs_event_t *event)
{
    unsigned kind = (unsigned)event->task_kind;
    if (kind >= S_KINDS || event->refetch)
        return; /* a refetch is no update of its row */
    if (event->kind == CS_EVENT_RESULT) {
        const cs_msg_t *result = event->result;
        if (result)
            self->statements[kind] += result->ddl_count;
        s_outcome_t outcome = event->superseded ? S_SUPERSEDED
                              : !result         ? S_ERROR
                              : result->ok      ? S_OK
                              : result->retry   ? S_RETRIED
                                                : S_ERROR;
        self->updates[kind][outcome]++;
    } else if (event->kind == CS_EVENT_LOST) {
        self->updates[kind][S_LOST]++;
    } else if (event->kind == CS_EVENT_RETRYING) {
        self->updates[kind][S_RETRIED]++;
    }
}

void cs_metrics_db_lost(cs_metrics_t *self)
{
    self->db_losses++;
}

void cs_metrics_db_back(cs_metrics_t *self)
{
    if (self->db_losses > self->db_returns)
        self->db_returns++;
}

static void s_gauge(cs_buf_t *out, const char *name, const char *help, double value)
{
    s_head(out, name, "gauge", help);
    cs_buf_printf(out, "%s %.17g\n", name, value);
}

static void s_counter(cs_buf_t *out, const char *name, const char *help, uint64_t value)
{
    s_head(out, name, "counter", help);
    cs_buf_printf(out, "%s %llu\n", name, (unsigned long long)value);
}

typedef struct {
    cs_store_t *store;
    int64_t before_us; /* updating since before this: stuck */
    uint32_t stuck;
} s_stuck_t;

static void s_count_stuck(void *arg, const char *name)
{
    s_stuck_t *s = arg;
    const cs_record_t *row = cs_store_get(s->store, name);
    const cs_visible_t *held = row ? cs_record_committed(row) : NULL;
    if (held && held->status == CS_STATUS_UPDATING && held->time_us < s->before_us)
        s->stuck++;
}

static void s_connections(cs_buf_t *out, cs_store_t *store, int64_t stuck_after_us)
{
    uint32_t counts[CS_STATUS_COUNT] = {0};
    if (store)
        cs_store_status_counts(store, counts);
    /* only while some row is updating: then the unsettled rows, not every row, are read */
    s_stuck_t stuck = {store, cs_clock_wall_us() - stuck_after_us, 0};
    if (store && counts[CS_STATUS_UPDATING] && stuck_after_us > 0)
        cs_store_unsettled(store, s_count_stuck, &stuck);
    s_head(out, "connstate_connections", "gauge",
           "Connections in the state table, by committed status.");
    for (int s = 0; s < CS_STATUS_COUNT; s++) {
        if (s != CS_STATUS_DELETED)
            cs_buf_printf(out, "connstate_connections{status=\"%s\"} %u\n",
                          cs_status_name((cs_status_t)s), counts[s]);
    }
    s_gauge(out, "connstate_connections_stuck",
            "Connections updating (as the state table says) for longer than the lease "
            "(--task-timeout).",
            stuck.stuck);
}

static void s_refreshes(cs_buf_t *out, const cs_metrics_t *self, const cs_refresh_t *refresh)
{
    s_counter(out, "connstate_refreshes_total", "Refreshes completed since the supervisor started.",
              self->refreshes.total);
    cs_histogram_render(&self->refreshes, "connstate_refresh_duration_seconds",
                        "Time from a refresh's start to its last update's committed state.", out);
    s_gauge(out, "connstate_refresh_last_duration_seconds", "The last completed refresh's time.",
            self->last_refresh_s);
    s_gauge(out, "connstate_refresh_last_generation",
            "The generation number of the last completed refresh.", (double)self->last_generation);
    s_gauge(out, "connstate_refresh_running", "1 while a refresh is under way.",
            refresh && cs_refresh_running(refresh) ? 1 : 0);
}

static void s_updates(cs_buf_t *out, const cs_metrics_t *self)
{
    s_head(out, "connstate_updates_total", "counter",
           "Tasks that ended, by kind (build, delete, comments, aggregate) and outcome.");
    for (unsigned k = 1; k < S_KINDS; k++)
        for (unsigned o = 0; o < S_OUTCOMES; o++)
            cs_buf_printf(out, "connstate_updates_total{kind=\"%s\",outcome=\"%s\"} %llu\n",
                          cs_task_kind_name((cs_task_kind_t)k), s_outcome_names[o],
                          (unsigned long long)self->updates[k][o]);
    s_head(out, "connstate_ddl_statements_total", "counter",
           "DDL statements the workers ran for builds, deletions and aggregators.");
    for (unsigned k = 1; k < S_KINDS; k++)
        if (k != CS_TASK_COMMENTS)
            cs_buf_printf(out, "connstate_ddl_statements_total{kind=\"%s\"} %llu\n",
                          cs_task_kind_name((cs_task_kind_t)k),
                          (unsigned long long)self->statements[k]);
    s_counter(out, "connstate_comment_statements_total",
              "COMMENT statements the workers ran for tables' and columns' descriptions.",
              self->statements[CS_TASK_COMMENTS]);
}

static void s_state_writes(cs_buf_t *out, const cs_batch_t *batch, const cs_publish_t *publish)
{
    uint64_t batches = 0, rows = 0, write_us = 0;
    if (batch)
        cs_batch_stats(batch, &batches, &rows, &write_us);
    s_counter(out, "connstate_state_batches_total",
              "Batched writes to connstate_internal.connection_state committed.", batches);
    s_counter(out, "connstate_state_batch_rows_total", "Rows those writes carried.", rows);
    if (batch)
        cs_histogram_render(cs_batch_latency(batch), "connstate_state_write_seconds",
                            "Time from sending a batched write to its commit.", out);
    s_gauge(out, "connstate_publish_seq",
            "Sequence number of the last committed state change (published on PUB and NOTIFY).",
            batch ? (double)cs_batch_seq(batch) : 0);
    s_gauge(out, "connstate_publish_backlog_messages",
            "Committed changes waiting for a subscriber's full queue.",
            publish ? (double)cs_publish_backlog(publish) : 0);
    s_gauge(out, "connstate_publish_lag_seconds",
            "How long the oldest of them has waited: the lag a subscriber sees.",
            publish ? (double)cs_publish_backlog_ms(publish) / 1000 : 0);
}

static void s_workers(cs_buf_t *out, const cs_dispatch_t *dispatch)
{
    size_t workers = 0, available = 0, capacity = 0, in_flight = 0, queued = 0;
    if (dispatch) {
        workers = cs_dispatch_workers(dispatch);
        available = cs_dispatch_workers_available(dispatch);
        capacity = cs_dispatch_capacity(dispatch);
        in_flight = cs_dispatch_in_flight(dispatch);
        queued = cs_dispatch_queued(dispatch);
    }
    s_gauge(out, "connstate_workers", "Workers connected.", (double)workers);
    s_gauge(out, "connstate_workers_quarantined",
            "Connected workers given no task for now: they failed 3 times in a row.",
            (double)(workers - available));
    s_gauge(out, "connstate_worker_capacity", "Tasks the connected workers may hold at once.",
            (double)capacity);
    s_gauge(out, "connstate_tasks_in_flight", "Tasks sent to workers and not answered yet.",
            (double)in_flight);
    s_gauge(out, "connstate_tasks_queued", "Tasks waiting for a worker.", (double)queued);
}

static void s_database(cs_buf_t *out, const cs_metrics_t *self, const cs_catalog_t *catalog)
{
    cs_db_state_t db = catalog ? cs_catalog_state(catalog) : CS_DB_DOWN;
    s_gauge(out, "connstate_database_up", "1 while the supervisor has a session with the database.",
            db == CS_DB_ACTIVE || db == CS_DB_STANDBY ? 1 : 0);
    s_gauge(out, "connstate_active",
            "1 while this supervisor holds the lock: it manages the schemas; 0 standing by.",
            db == CS_DB_ACTIVE ? 1 : 0);
    s_counter(out, "connstate_database_losses_total",
              "Times the session with the database was lost.", self->db_losses);
    s_counter(out, "connstate_database_reconnects_total",
              "Times a session was made again after a loss.", self->db_returns);
}

static void s_config(cs_buf_t *out, const cs_refresh_t *refresh)
{
    const cs_config_t *cfg = refresh ? cs_refresh_config(refresh) : NULL;
    s_gauge(out, "connstate_config_files", "Config files the last plan read (.spc).",
            cfg ? (double)cs_config_file_count(cfg) : 0);
    s_gauge(out, "connstate_config_files_failed",
            "Of them, files that failed to load (their connections are kept as they were).",
            cfg ? (double)cfg->failed_count : 0);
    s_gauge(out, "connstate_config_errors", "Errors those files hold.",
            cfg ? (double)cfg->error_count : 0);
}

void cs_metrics_render(const cs_metrics_t *self, const cs_metrics_deps_t *deps, cs_buf_t *out)
{
    s_head(out, "connstate_build_info", "gauge", "The supervisor's version, as a label.");
    cs_buf_printf(out, "connstate_build_info{version=\"%s\"} 1\n", CS_VERSION);
    s_connections(out, deps->store, deps->stuck_after_us);
    s_refreshes(out, self, deps->refresh);
    s_updates(out, self);
    s_state_writes(out, deps->batch, deps->publish);
    s_workers(out, deps->dispatch);
    s_database(out, self, deps->catalog);
    s_config(out, deps->refresh);
}
