/* Benchmark tool: what a subscriber that keeps up receives of a supervisor's burst of changes
 * (a restart's: every row pending, then ready again). A SUB socket with a subscriber's
 * settings (libconnstate's: everything subscribed, the default high-water mark) connects
 * before the supervisor starts, and a session LISTENs; it reads every STATE as it comes and,
 * from the notifications (every batch's payload carries its last seq and its number of
 * rows), knows what the supervisor published. Stops once the notifications carried MIN_ROWS
 * row changes and the last notified seq was received (or 5 s after that, or at the
 * deadline). Changes published before the first one received (before the subscription
 * reached the new supervisor) are counted apart from those after it, where a missing seq
 * is a drop.
 *   tool_burst PUBLISH CONNINFO MIN_ROWS [TIMEOUT_SEC]
 * Prints: received sent_from_first gaps before_first first_seq last_seq changes_per_s
 * Exits 1 when the notifications did not carry MIN_ROWS changes by the deadline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <czmq.h>
#include <libpq-fe.h>

#include "cs_proto.h"
#include "cs_wire.h"

static double s_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The notified batches: seq is each one's last. */
typedef struct {
    unsigned long long seq, rows;
} s_batch_t;

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: tool_burst PUBLISH CONNINFO MIN_ROWS [TIMEOUT_SEC]\n");
        return 2;
    }
    zsys_handler_set(NULL);
    unsigned long long min_rows = strtoull(argv[3], NULL, 10), notified = 0;
    double deadline = s_wall() + (argc > 4 ? atof(argv[4]) : 120);
    PGconn *conn = PQconnectdb(argv[2]);
    if (PQstatus(conn) != CONNECTION_OK)
        return 2;
    PQclear(PQexec(conn, "LISTEN connstate_state"));
    zsock_t *sub = zsock_new(ZMQ_SUB);
    if (!sub)
        return 2;
    zsock_set_reconnect_ivl(sub, 10); /* the supervisor binds after we connect */
    cs_wire_limit(sub);
    zsock_set_subscribe(sub, "");
    if (zsock_connect(sub, "%s", argv[1]) != 0)
        return 2;
    size_t cap = 1024, batches = 0;
    s_batch_t *batch = malloc(cap * sizeof *batch);
    unsigned long long last_notified = 0, first = 0, last = 0, received = 0, gaps = 0;
    double first_at = 0, last_at = 0, all_notified_at = 0;
    while (s_wall() < deadline) {
        zmq_pollitem_t items[] = {{zsock_resolve(sub), 0, ZMQ_POLLIN, 0},
                                  {NULL, PQsocket(conn), ZMQ_POLLIN, 0}};
        zmq_poll(items, 2, 100);
        while (zsock_events(sub) & ZMQ_POLLIN) {
            cs_msg_t *msg = NULL;
            char why[256];
            if (cs_wire_recv(sub, CS_WIRE_TOPIC, NULL, &msg, why, sizeof why) != 0)
                break;
            if (msg && msg->type == CS_MSG_STATE) {
                double now = s_wall();
                if (!received++) {
                    first = msg->seq;
                    first_at = now;
                } else if (msg->seq != last + 1)
                    gaps++;
                last = msg->seq;
                last_at = now;
            }
            cs_msg_destroy(&msg);
        }
        PQconsumeInput(conn);
        PGnotify *note;
        while ((note = PQnotifies(conn)) != NULL) {
            s_batch_t b;
            unsigned long long xid;
            if (sscanf(note->extra, "{\"seq\":%llu,\"rows\":%llu,\"xid\":%llu}", &b.seq, &b.rows,
                       &xid) == 3) {
                if (batches == cap)
                    batch = realloc(batch, (cap *= 2) * sizeof *batch);
                batch[batches++] = b;
                notified += b.rows;
                if (b.seq > last_notified)
                    last_notified = b.seq;
            }
            PQfreemem(note);
        }
        if (notified >= min_rows) {
            if (!all_notified_at)
                all_notified_at = s_wall();
            if ((received && last >= last_notified) || s_wall() - all_notified_at > 5)
                break;
        }
    }
    /* what was published from the first seq received on, and before it */
    unsigned long long sent = 0, before = 0;
    for (size_t i = 0; i < batches; i++)
        for (unsigned long long q = batch[i].seq - batch[i].rows + 1; q <= batch[i].seq; q++)
            if (received && q >= first)
                sent++;
            else
                before++;
    double span = last_at - first_at;
    printf("%llu %llu %llu %llu %llu %llu %.0f\n", received, sent, gaps, before, first, last,
           span > 0 ? (double)received / span : 0);
    zsock_destroy(&sub);
    free(batch);
    PQfinish(conn);
    if (notified < min_rows) {
        fprintf(stderr, "tool_burst: %llu of %llu changes notified by the deadline\n", notified,
                min_rows);
        return 1;
    }
    return 0;
}
