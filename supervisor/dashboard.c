/* The web dashboard's data: the event stream behind its page (a snapshot of every row, then
 * each committed change, and the supervisor's status once a second), from the supervisor's
 * own rows and publication. The page itself is dashboard.html, built into the binary. */
#include "supervisor.h"

#include <stdlib.h>
#include <string.h>

#define S_STATUS_MS 1000 /* the status event's period while a stream is open */

struct cs_dashboard {
    cs_http_t *http;
    cs_dashboard_deps_t deps;
    cs_buf_t event; /* the event being encoded (its memory kept) */
    int64_t status_at;
};

/* A row as the page reads it: [name, status, error, time_us, comments_set, plugin, attempts,
 * seq]. */
static void s_row(cs_buf_t *out, const char *name, const cs_visible_t *v, int attempts)
{
    cs_buf_putc(out, '[');
    cs_buf_json_text(out, name);
    cs_buf_printf(out, ",\"%s\",", cs_status_name(v->status));
    cs_buf_json_text(out, v->error);
    cs_buf_printf(out, ",%lld,%d,", (long long)v->time_us, v->comments_set ? 1 : 0);
    cs_buf_json_text(out, v->plugin);
    cs_buf_printf(out, ",%d,%llu]", attempts, (unsigned long long)v->seq);
}

static const char *s_db_name(cs_db_state_t db)
{
    switch (db) {
        case CS_DB_ACTIVE:
            return "active";
        case CS_DB_STANDBY:
            return "standby";
        case CS_DB_CONNECTING:
            return "connecting";
        default:
            return "down";
    }
}

/* The status event's data: the database, the refresh, the workers, the refresh history. */
static void s_status(cs_dashboard_t *self, cs_buf_t *out)
{
    const cs_dashboard_deps_t *d = &self->deps;
    cs_db_state_t db = cs_catalog_state(d->catalog);
    cs_buf_printf(out, "{\"db\":\"%s\",\"db_error\":", s_db_name(db));
    cs_buf_json_text(out, db == CS_DB_ACTIVE || db == CS_DB_STANDBY ? NULL
                                                                    : cs_catalog_error(d->catalog));
    cs_buf_printf(out,
                  ",\"refreshing\":%s,\"generation\":%llu,\"seq\":%llu,\"queued\":%zu,"
                  "\"in_flight\":%zu,\"lease_s\":%d,\"now\":%lld,\"workers\":[",
                  cs_refresh_running(d->refresh) ? "true" : "false",
                  (unsigned long long)cs_refresh_generation(d->refresh),
                  (unsigned long long)cs_batch_seq(d->batch), cs_dispatch_queued(d->dispatch),
                  cs_dispatch_in_flight(d->dispatch), d->lease_s, (long long)cs_clock_wall_us());
    cs_msg_t *list = cs_msg_new(CS_MSG_STATUS_REP);
    if (list && cs_dispatch_list_workers(d->dispatch, list) == 0) {
        for (uint32_t i = 0; i < list->worker_row_count; i++) {
            const cs_worker_row_t *w = &list->worker_rows[i];
            cs_buf_puts(out, i ? ",{\"name\":" : "{\"name\":");
            cs_buf_json_text(out, w->name);
            cs_buf_printf(out,
                          ",\"pid\":%u,\"capacity\":%u,\"in_flight\":%u,\"expired\":%u,"
                          "\"failures\":%u,\"quarantined_until\":%lld,\"last_failure\":",
                          w->pid, w->capacity, w->in_flight, w->expired, w->failures,
                          (long long)w->quarantined_until);
            cs_buf_json_text(out, w->last_failure);
            cs_buf_putc(out, '}');
        }
    }
    cs_msg_destroy(&list);
    cs_buf_puts(out, "],\"refreshes\":[");
    cs_refresh_record_t history[CS_METRICS_HISTORY];
    size_t n = cs_metrics_history(d->metrics, history, CS_METRICS_HISTORY);
    for (size_t i = 0; i < n; i++)
        cs_buf_printf(out, "%s{\"generation\":%llu,\"ended\":%lld,\"seconds\":%.3f}", i ? "," : "",
                      (unsigned long long)history[i].generation, (long long)history[i].ended_us,
                      (double)history[i].elapsed_us / 1e6);
    cs_buf_puts(out, "]}");
}

/* A new stream's start: the status, then a snapshot of every row the table holds. */
static void s_start(void *arg, cs_buf_t *out)
{
    cs_dashboard_t *self = arg;
    cs_buf_puts(out, "event: status\ndata: ");
    s_status(self, out);
    cs_buf_printf(out,
                  "\n\nevent: snapshot\ndata: {\"seq\":%llu,\"instance\":\"%016llx\",\"rows\":[",
                  (unsigned long long)cs_batch_seq(self->deps.batch),
                  (unsigned long long)self->deps.instance);
    bool first = true;
    for (cs_record_t *row = cs_store_first(self->deps.store); row;
         row = cs_store_next(self->deps.store)) {
        const cs_visible_t *held = cs_record_committed(row);
        if (!held)
            continue; /* not in the table yet */
        if (!first)
            cs_buf_putc(out, ',');
        first = false;
        s_row(out, cs_record_name(row), held, cs_record_values(row)->attempts);
    }
    cs_buf_puts(out, "]}\n\n");
}

cs_dashboard_t *cs_dashboard_new(cs_http_t *http, const cs_dashboard_deps_t *deps)
{
    cs_dashboard_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->http = http;
    self->deps = *deps;
    if (http)
        cs_http_stream_path(http, "/events", s_start, self);
    return self;
}

void cs_dashboard_destroy(cs_dashboard_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_buf_free(&(*self_p)->event);
    free(*self_p);
    *self_p = NULL;
}

void cs_dashboard_change(cs_dashboard_t *self, const char *name, const cs_visible_t *row)
{
    if (!self || !cs_http_streams(self->http))
        return;
    const cs_record_t *record = cs_store_get(self->deps.store, name);
    cs_buf_reset(&self->event);
    cs_buf_puts(&self->event, "event: change\ndata: ");
    s_row(&self->event, name, row, record ? cs_record_values(record)->attempts : 0);
    cs_buf_puts(&self->event, "\n\n");
    if (!self->event.failed)
        cs_http_stream_send(self->http, self->event.data, self->event.len);
    if (self->event.cap > 64 * 1024)
        cs_buf_free(&self->event);
}

void cs_dashboard_tick(cs_dashboard_t *self)
{
    if (!self || !cs_http_streams(self->http))
        return;
    int64_t now = cs_clock_mono_ms();
    if (now < self->status_at)
        return;
    self->status_at = now + S_STATUS_MS;
    cs_buf_reset(&self->event);
    cs_buf_puts(&self->event, "event: status\ndata: ");
    s_status(self, &self->event);
    cs_buf_puts(&self->event, "\n\n");
    if (!self->event.failed)
        cs_http_stream_send(self->http, self->event.data, self->event.len);
}

int64_t cs_dashboard_next_ms(const cs_dashboard_t *self)
{
    if (!self || !cs_http_streams(self->http))
        return -1;
    int64_t now = cs_clock_mono_ms();
    return self->status_at > now ? self->status_at - now : 0;
}
