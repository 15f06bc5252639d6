/* Test driver: plays the supervisor for one real worker. Binds a ROUTER, waits for the
 * worker's READY, sends every TASK at once, prints each RESULT as it comes ("ok" or
 * "error: ...", prefixed with the connection name when there are several) and exits 0 when
 * all came in the order sent, or exits 1 when one is missing after 30 s or out of order.
 *   task_check ENDPOINT (KIND CONNECTION PLUGIN CONFIG_JSON FRESH(0|1))... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_wire.h"

int main(int argc, char **argv)
{
    if (argc < 7 || (argc - 2) % 5 != 0)
        return 2;
    int tasks = (argc - 2) / 5;
    zsys_handler_set(NULL);
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    if (zsock_bind(router, "%s", argv[1]) < 0)
        return 2;
    zsock_set_rcvtimeo(router, 30000);
    zframe_t *worker = NULL;
    cs_msg_t *msg = NULL;
    char why[256];
    while (!msg || msg->type != CS_MSG_READY) { /* heartbeats may come first */
        cs_msg_destroy(&msg);
        zframe_destroy(&worker);
        if (cs_wire_recv(router, CS_WIRE_ROUTED, &worker, &msg, why, sizeof why) != 0)
            return 1;
    }
    cs_msg_destroy(&msg);
    for (int t = 0; t < tasks; t++) {
        char **arg = argv + 2 + 5 * t;
        cs_msg_t *task = cs_msg_new(CS_MSG_TASK);
        task->task_id = (uint64_t)t + 1;
        task->kind = strcmp(arg[0], "delete") == 0 ? CS_TASK_DELETE : CS_TASK_BUILD;
        task->connection = strdup(arg[1]);
        task->plugin = strdup(arg[2]);
        task->config = strdup(arg[3]);
        task->fingerprint = strdup("0123456789abcdef");
        task->attempt = 1;
        task->fresh = strcmp(arg[4], "1") == 0;
        if (cs_wire_send(router, worker, NULL, task) != 0)
            return 1;
        cs_msg_destroy(&task);
    }
    int rc = 0;
    for (int t = 0; t < tasks; t++) {
        while ((rc = cs_wire_recv(router, CS_WIRE_ROUTED, NULL, &msg, why, sizeof why)) == 0 &&
               (!msg || msg->type != CS_MSG_RESULT))
            cs_msg_destroy(&msg);
        if (rc != 0)
            break;
        if (tasks > 1)
            printf("%s ", msg->connection);
        printf(msg->ok ? "ok\n" : "error: %s\n", msg->error);
        fflush(stdout); /* a test may be watching for each line */
        if (msg->task_id != (uint64_t)t + 1) {
            printf("out of order: task %llu, expected %d\n", (unsigned long long)msg->task_id,
                   t + 1);
            rc = 1;
        }
        cs_msg_destroy(&msg);
        if (rc != 0)
            break;
    }
    zframe_destroy(&worker);
    zsock_destroy(&router);
    zsys_shutdown();
    return rc;
}
