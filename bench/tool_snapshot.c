/* Benchmark tool: the time a supervisor takes to answer a snapshot request over the control
 * channel, from the request sent to its SNAPSHOT_END received, as a subscriber would see it
 * (without libconnstate's wait for a first heartbeat before it asks). Asks REPEAT times,
 * one after the other, on one DEALER connected before the first.
 *   tool_snapshot CONTROL REPEAT [TIMEOUT_SEC]
 * Prints one line per request: seconds rows. Exits 1 when an answer is refused, malformed
 * or late. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <czmq.h>

#include "cs_proto.h"
#include "cs_wire.h"

static double s_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One request: 0 with *seconds and *rows, or -1 (said on stderr). Blocks up to timeout. */
static int s_snapshot(zsock_t *control, uint64_t id, double timeout, double *seconds, size_t *rows)
{
    cs_msg_t *req = cs_msg_new(CS_MSG_SNAPSHOT_REQ);
    if (!req)
        return -1;
    req->request_id = id;
    double start = s_mono(), deadline = start + timeout;
    int rc = cs_wire_send(control, NULL, NULL, req);
    cs_msg_destroy(&req);
    if (rc != 0)
        return -1;
    *rows = 0;
    while (s_mono() < deadline) {
        zsock_set_rcvtimeo(control, (int)((deadline - s_mono()) * 1000) + 1);
        cs_msg_t *msg = NULL;
        char why[256];
        if (cs_wire_recv(control, 0, NULL, &msg, why, sizeof why) != 0)
            break; /* the timeout */
        if (!msg) {
            fprintf(stderr, "tool_snapshot: malformed answer: %s\n", why);
            return -1;
        }
        bool end = false, refused = false;
        if (msg->request_id == id) {
            if (msg->type == CS_MSG_SNAPSHOT_ROWS)
                *rows += msg->row_count;
            else if (msg->type == CS_MSG_SNAPSHOT_END)
                end = true;
            else if (msg->type == CS_MSG_ERROR) {
                fprintf(stderr, "tool_snapshot: refused: %s\n", msg->reason ? msg->reason : "");
                refused = true;
            }
        }
        cs_msg_destroy(&msg);
        if (refused)
            return -1;
        if (end) {
            *seconds = s_mono() - start;
            return 0;
        }
    }
    fprintf(stderr, "tool_snapshot: no SNAPSHOT_END within %.0f s\n", timeout);
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: tool_snapshot CONTROL REPEAT [TIMEOUT_SEC]\n");
        return 2;
    }
    zsys_handler_set(NULL);
    int repeat = atoi(argv[2]);
    double timeout = argc > 3 ? atof(argv[3]) : 60;
    zsock_t *control = zsock_new(ZMQ_DEALER);
    if (!control || zsock_connect(control, "%s", argv[1]) != 0) {
        fprintf(stderr, "tool_snapshot: cannot connect to %s\n", argv[1]);
        return 2;
    }
    cs_wire_limit(control);
    int status = 0;
    for (int i = 0; i < repeat && status == 0; i++) {
        double seconds;
        size_t rows;
        if (s_snapshot(control, (uint64_t)time(NULL) << 8 | (uint64_t)(i + 1), timeout, &seconds,
                       &rows) != 0)
            status = 1;
        else
            printf("%.3f %zu\n", seconds, rows);
    }
    zsock_destroy(&control);
    return status;
}
