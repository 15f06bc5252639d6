/* Benchmark tool: the delay from a state-table commit to (a) a libconnstate subscriber
 * receiving each change and (b) a LISTENing session receiving the NOTIFY. Commit times come
 * from pg_xact_commit_timestamp (track_commit_timestamp = on) of the transaction id that
 * every batch's NOTIFY payload carries. Changes to ready, error, disabled or deleted count
 * (the results clients wait for); changes to updating or pending do not.
 * every batch's NOTIFY payload carries. One zmq_poll waits on both, so neither waits for
 * the other. Also: the snapshot's rows per second, and live changes per second.
 *   tool_pubsub PUBLISH CONTROL CONNINFO CHANGES [TIMEOUT_SEC [all]]
 * With "all", pending and updating changes count too (for throughput). CHANGES 0: stop once
 * the snapshot is in (for the snapshot's rows per second).
 * Prints: p50_ms p99_ms notify_p50_ms notify_p99_ms changes_per_s snapshot_rows snapshot_rows_per_s
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connstate.h"

#define S_MAX 200000

static double s_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct {
    double received[S_MAX + 1]; /* by seq - first seq */
    uint64_t first_seq;
    size_t live;
    size_t snapshot_rows;
    double snapshot_done;
    double first_live, last_live;
} s_state_t;

static s_state_t s;
static bool s_all;

static void s_on_change(const connstate_change_t *c, void *arg)
{
    (void)arg;
    double now = s_wall();
    if (c->snapshot) {
        s.snapshot_rows++;
        s.snapshot_done = now;
        return;
    }
    /* Results are what clients wait for: the refresh plan's one big "updating" batch is
     * written once per refresh and is left out. */
    if (!s_all && (strcmp(c->status, "updating") == 0 || strcmp(c->status, "pending") == 0))
        return;
    if (!s.first_seq)
        s.first_seq = c->seq;
    if (c->seq >= s.first_seq && c->seq - s.first_seq <= S_MAX)
        s.received[c->seq - s.first_seq] = now;
    if (!s.live++)
        s.first_live = now;
    s.last_live = now;
}

static int s_compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double s_pct(double *v, size_t n, double p)
{
    if (!n)
        return -1;
    qsort(v, n, sizeof *v, s_compare);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

int main(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    size_t want = strtoul(argv[4], NULL, 10);
    double deadline = s_wall() + (argc > 5 ? atof(argv[5]) : 300);
    s_all = argc > 6 && strcmp(argv[6], "all") == 0;
    PGconn *conn = PQconnectdb(argv[3]);
    if (PQstatus(conn) != CONNECTION_OK)
        return 2;
    PQclear(PQexec(conn, "LISTEN connstate_state"));
    double subscribed = s_wall();
    connstate_sub_t *sub = connstate_sub_new(argv[1], argv[2], NULL, s_on_change, NULL);
    /* notifications: receipt time, seq (last of its batch), rows and xid */
    static double n_time[S_MAX];
    static unsigned long long n_seq[S_MAX], n_rows[S_MAX], n_xid[S_MAX];
    size_t notes = 0;
    while ((want ? s.live < want : !connstate_sub_synced(sub)) && s_wall() < deadline) {
        zmq_pollitem_t items[3];
        int n = connstate_sub_pollitems(sub, items, 2);
        items[n++] = (zmq_pollitem_t){NULL, PQsocket(conn), ZMQ_POLLIN, 0};
        zmq_poll(items, n, connstate_sub_timeout(sub));
        double now = s_wall();
        connstate_sub_process(sub, items, 2);
        PQconsumeInput(conn);
        PGnotify *note;
        while ((note = PQnotifies(conn)) != NULL) {
            if (notes < S_MAX && sscanf(note->extra, "{\"seq\":%llu,\"rows\":%llu,\"xid\":%llu}",
                                        &n_seq[notes], &n_rows[notes], &n_xid[notes]) == 3)
                n_time[notes++] = now;
            PQfreemem(note);
        }
    }
    bool synced = connstate_sub_synced(sub);
    connstate_sub_destroy(&sub);
    static double sub_delay[S_MAX], note_delay[S_MAX];
    size_t sd = 0, nd = 0;
    for (size_t i = 0; i < notes; i++) {
        char sql[128];
        snprintf(sql, sizeof sql,
                 "SELECT extract(epoch FROM pg_xact_commit_timestamp('%llu'::xid))", n_xid[i]);
        PGresult *res = PQexec(conn, sql);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQgetisnull(res, 0, 0)) {
            fprintf(stderr, "tool_pubsub: no commit timestamp (track_commit_timestamp off?)\n");
            PQclear(res);
            return 1;
        }
        double committed = atof(PQgetvalue(res, 0, 0));
        PQclear(res);
        note_delay[nd++] = (n_time[i] - committed) * 1e3;
        for (unsigned long long q = n_seq[i] - n_rows[i] + 1; q <= n_seq[i]; q++)
            if (q >= s.first_seq && q - s.first_seq <= S_MAX && s.received[q - s.first_seq] > 0)
                sub_delay[sd++] = (s.received[q - s.first_seq] - committed) * 1e3;
    }
    double span = s.last_live - s.first_live;
    printf("%.3f %.3f %.3f %.3f %.0f %zu %.0f %zu\n", s_pct(sub_delay, sd, 0.5),
           s_pct(sub_delay, sd, 0.99), s_pct(note_delay, nd, 0.5), s_pct(note_delay, nd, 0.99),
           span > 0 ? (double)s.live / span : 0, s.snapshot_rows,
           s.snapshot_rows && s.snapshot_done > subscribed
               ? (double)s.snapshot_rows / (s.snapshot_done - subscribed)
               : 0,
           sd);
    PQfinish(conn);
    return (want ? s.live >= want : synced) ? 0 : 1;
}
