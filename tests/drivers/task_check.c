/* Test driver: plays the supervisor for one real worker. Binds a ROUTER, waits for the
 * worker's READY, sends every TASK at once, answers heartbeats, and prints each RESULT as it
 * comes ("ok", "error: ..." or "retry: ...", prefixed with the connection name when there
 * are several). A DISCONNECT is printed ("disconnect: REASON"); the tasks the worker had not
 * answered then go to its next READY (from a new socket: "reconnected"), as the supervisor
 * would send them. Exits 0 when every task was answered, in the order sent on each socket;
 * 1 when one is missing after 30 s or out of order.
 *   task_check ENDPOINT (KIND CONNECTION PLUGIN CONFIG_JSON FRESH(0|1))...
 * KIND is build, delete, comments or aggregate; an aggregate's CONFIG_JSON is its members' lines
 * (TASK key 12) and its plugin_version is 1.0.0. TASK_FINGERPRINT=F in the environment
 * replaces every task's fingerprint (0123456789abcdef).
 * PLUGIN may carry its instance's settings after it: NAME;memory_max_mb=N;VAR=VALUE;... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_clock.h"
#include "cs_wire.h"

#define S_DEADLINE_MS 30000
#define S_TASKS_MAX   64

typedef struct {
    char **arg;    /* KIND CONNECTION PLUGIN CONFIG_JSON FRESH */
    bool sent;     /* to the worker's current socket */
    bool answered; /* a RESULT came */
} s_task_t;

/* Sends every task not answered nor sent yet to the worker; their ids go to order, as
 * sent. Returns 0 or -1. */
static int s_send_tasks(zsock_t *router, zframe_t *worker, s_task_t *tasks, int count,
                        uint64_t *order, int *ordered)
{
    for (int t = 0; t < count; t++) {
        if (tasks[t].sent || tasks[t].answered)
            continue;
        char **arg = tasks[t].arg;
        cs_msg_t *task = cs_msg_new(CS_MSG_TASK);
        task->task_id = (uint64_t)t + 1;
        task->kind = strcmp(arg[0], "delete") == 0      ? CS_TASK_DELETE
                     : strcmp(arg[0], "aggregate") == 0 ? CS_TASK_AGGREGATE
                     : strcmp(arg[0], "comments") == 0  ? CS_TASK_COMMENTS
                                                        : CS_TASK_BUILD;
        task->connection = strdup(arg[1]);
        /* NAME;memory_max_mb=N;VAR=VALUE...: the plugin and its instance's settings */
        char *spec = strdup(arg[2]), *save = NULL;
        task->plugin = strdup(strtok_r(spec, ";", &save));
        for (char *item = strtok_r(NULL, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
            if (strncmp(item, "memory_max_mb=", 14) == 0)
                task->memory_max_mb = (uint32_t)strtoul(item + 14, NULL, 10);
            else if (cs_strs_add(&task->env, item) != 0)
                return -1;
        }
        free(spec);
        if (task->kind == CS_TASK_AGGREGATE) { /* its members' lines, and a plugin version */
            task->members = strdup(arg[3]);
            task->plugin_version = strdup("1.0.0");
        } else {
            task->config = strdup(arg[3]);
        }
        const char *fingerprint = getenv("TASK_FINGERPRINT");
        task->fingerprint = strdup(fingerprint ? fingerprint : "0123456789abcdef");
        task->attempt = 1;
        task->fresh = strcmp(arg[4], "1") == 0;
        int rc = cs_wire_send(router, worker, NULL, task);
        cs_msg_destroy(&task);
        if (rc != 0)
            return -1;
        tasks[t].sent = true;
        order[(*ordered)++] = (uint64_t)t + 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 7 || (argc - 2) % 5 != 0 || (argc - 2) / 5 > S_TASKS_MAX)
        return 2;
    int count = (argc - 2) / 5, answered = 0, readies = 0;
    s_task_t tasks[S_TASKS_MAX] = {{0}};
    for (int t = 0; t < count; t++)
        tasks[t].arg = argv + 2 + 5 * t;
    /* The ids sent on the current socket, in order, and how many of them were answered. */
    uint64_t order[S_TASKS_MAX * 8];
    int ordered = 0, next = 0;
    zsys_handler_set(NULL);
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    if (zsock_bind(router, "%s", argv[1]) < 0)
        return 2;
    zsock_set_rcvtimeo(router, 200);
    zframe_t *worker = NULL;
    int rc = 0;
    int64_t deadline = cs_clock_mono_ms() + S_DEADLINE_MS;
    while (rc == 0 && answered < count) {
        if (cs_clock_mono_ms() > deadline) {
            printf("%d of %d tasks answered within %d s\n", answered, count, S_DEADLINE_MS / 1000);
            rc = 1;
            break;
        }
        zframe_t *from = NULL;
        cs_msg_t *msg = NULL;
        char why[256];
        if (cs_wire_recv(router, CS_WIRE_ROUTED, &from, &msg, why, sizeof why) != 0 || !msg) {
            zframe_destroy(&from);
            cs_msg_destroy(&msg);
            continue;
        }
        if (msg->type == CS_MSG_READY) {
            if (readies++)
                printf("reconnected\n");
            zframe_destroy(&worker);
            worker = zframe_dup(from);
            ordered = next = 0;
            for (int t = 0; t < count; t++)
                tasks[t].sent = false;
            if (s_send_tasks(router, worker, tasks, count, order, &ordered) != 0)
                rc = 1;
        } else if (msg->type == CS_MSG_HEARTBEAT && worker && zframe_eq(from, worker)) {
            cs_msg_t *hb = cs_msg_new(CS_MSG_HEARTBEAT);
            if (cs_wire_send(router, worker, NULL, hb) != 0)
                rc = 1;
            cs_msg_destroy(&hb);
        } else if (msg->type == CS_MSG_DISCONNECT) {
            printf("disconnect: %s\n", msg->reason ? msg->reason : "");
        } else if (msg->type == CS_MSG_RESULT && msg->task_id >= 1 &&
                   msg->task_id <= (uint64_t)count) {
            s_task_t *task = &tasks[msg->task_id - 1];
            if (count > 1)
                printf("%s ", msg->connection);
            printf(msg->ok ? "ok\n" : msg->retry ? "retry: %s\n" : "error: %s\n", msg->error);
            if (!task->answered)
                answered++;
            task->answered = true;
            if (next >= ordered || order[next] != msg->task_id) {
                printf("out of order: task %llu\n", (unsigned long long)msg->task_id);
                rc = 1;
            }
            next++;
        }
        fflush(stdout); /* a test may be watching for each line */
        zframe_destroy(&from);
        cs_msg_destroy(&msg);
    }
    zframe_destroy(&worker);
    zsock_destroy(&router);
    zsys_shutdown();
    return rc;
}
