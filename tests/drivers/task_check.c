/* Test driver: plays the supervisor for one real worker. Binds a ROUTER, waits for the
 * worker's READY, sends one TASK, prints the RESULT ("ok" or "error: ...") and exits 0, or
 * exits 1 when no result comes within 30 s.
 *   task_check ENDPOINT KIND CONNECTION PLUGIN CONFIG_JSON FRESH(0|1) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_wire.h"

int main(int argc, char **argv)
{
    if (argc != 7)
        return 2;
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
    cs_msg_t *task = cs_msg_new(CS_MSG_TASK);
    task->task_id = 1;
    task->kind = strcmp(argv[2], "delete") == 0 ? CS_TASK_DELETE : CS_TASK_BUILD;
    task->connection = strdup(argv[3]);
    task->plugin = strdup(argv[4]);
    task->config = strdup(argv[5]);
    task->fingerprint = strdup("0123456789abcdef");
    task->attempt = 1;
    task->fresh = strcmp(argv[6], "1") == 0;
    if (cs_wire_send(router, worker, NULL, task) != 0)
        return 1;
    cs_msg_destroy(&task);
    int rc = 1;
    while (cs_wire_recv(router, CS_WIRE_ROUTED, NULL, &msg, why, sizeof why) == 0) {
        if (msg && msg->type == CS_MSG_RESULT) {
            printf(msg->ok ? "ok\n" : "error: %s\n", msg->error);
            rc = 0;
            cs_msg_destroy(&msg);
            break;
        }
        cs_msg_destroy(&msg);
    }
    zframe_destroy(&worker);
    zsock_destroy(&router);
    zsys_shutdown();
    return rc;
}
