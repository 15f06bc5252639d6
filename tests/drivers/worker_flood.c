/* Test driver: hostile or greedy peers on the supervisor's worker endpoint.
 *   worker_flood ready EP N         N peers of distinct identities, one after another (in
 *                                   groups of 100 open at once), each sends READY and goes
 *                                   away; prints how many were told to go away
 *   worker_flood greedy EP CAP SEC  one peer that announces capacity CAP, takes every TASK and
 *                                   never answers, heartbeating for SEC seconds; prints the
 *                                   most tasks the supervisor said it held at once ("held N",
 *                                   from its heartbeats) and the total received ("received N")
 *   worker_flood workers CONTROL_EP  the number of workers the supervisor counts ("workers N")
 * Exit 0 when it could run, 2 on bad arguments, 1 when the endpoint never answered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cs_wire.h"

static zsock_t *s_peer(const char *endpoint, const char *identity)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (!sock)
        return NULL;
    zsock_set_identity(sock, identity);
    zsock_set_linger(sock, 0);
    if (zsock_connect(sock, "%s", endpoint) != 0)
        zsock_destroy(&sock);
    return sock;
}

static int s_send_ready(zsock_t *sock, const char *name, uint32_t capacity)
{
    cs_msg_t *ready = cs_msg_new(CS_MSG_READY);
    ready->capacity = capacity;
    ready->name = strdup(name);
    ready->pid = (uint32_t)getpid();
    int rc = cs_wire_send(sock, NULL, NULL, ready);
    cs_msg_destroy(&ready);
    return rc;
}

static int s_ready_flood(const char *endpoint, int count)
{
    int refused = 0;
    char why[256];
    for (int done = 0; done < count;) {
        zsock_t *group[100];
        int n = 0;
        for (; n < 100 && done + n < count; n++) {
            char identity[64];
            snprintf(identity, sizeof identity, "flood-%d-%d", (int)getpid(), done + n);
            group[n] = s_peer(endpoint, identity);
            if (!group[n] || s_send_ready(group[n], identity, 1) != 0)
                return 1;
        }
        /* Give each peer a moment to hear back (DISCONNECT when refused). */
        int64_t until = zclock_mono() + 200;
        for (int i = 0; i < n; i++) {
            zmq_pollitem_t item = {zsock_resolve(group[i]), 0, ZMQ_POLLIN, 0};
            int64_t left = until - zclock_mono();
            while (zmq_poll(&item, 1, left > 0 ? (long)left : 0) > 0) {
                cs_msg_t *msg = NULL;
                if (cs_wire_recv(group[i], CS_WIRE_DONTWAIT, NULL, &msg, why, sizeof why) != 0)
                    break;
                if (msg && msg->type == CS_MSG_DISCONNECT)
                    refused++;
                cs_msg_destroy(&msg);
                left = 0;
            }
            zsock_destroy(&group[i]);
        }
        done += n;
    }
    printf("refused %d\n", refused);
    return 0;
}

static int s_greedy(const char *endpoint, uint32_t capacity, int seconds)
{
    zsock_t *sock = s_peer(endpoint, "greedy");
    if (!sock || s_send_ready(sock, "greedy", capacity) != 0)
        return 1;
    int64_t end = zclock_mono() + seconds * 1000LL, last_hb = 0;
    int received = 0, held = 0, most = 0;
    char why[256];
    while (zclock_mono() < end) {
        if (zclock_mono() - last_hb >= 1000) {
            last_hb = zclock_mono();
            cs_msg_t *hb = cs_msg_new(CS_MSG_HEARTBEAT);
            hb->in_flight = (uint32_t)held;
            if (cs_wire_send(sock, NULL, NULL, hb) != 0)
                return 1;
            cs_msg_destroy(&hb);
        }
        zmq_pollitem_t item = {zsock_resolve(sock), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 100) <= 0)
            continue;
        cs_msg_t *msg = NULL;
        if (cs_wire_recv(sock, CS_WIRE_DONTWAIT, NULL, &msg, why, sizeof why) != 0 || !msg)
            continue;
        if (msg->type == CS_MSG_TASK) {
            received++;
        } else if (msg->type == CS_MSG_HEARTBEAT) {
            held = (int)msg->in_flight; /* the supervisor's count: its leases expire */
            most = held > most ? held : most;
        }
        cs_msg_destroy(&msg);
    }
    printf("held %d\nreceived %d\n", most, received);
    zsock_destroy(&sock);
    return 0;
}

static int s_workers(const char *endpoint)
{
    zsock_t *sock = s_peer(endpoint, "worker-flood-status");
    cs_msg_t *ask = cs_msg_new(CS_MSG_STATUS_REQ);
    ask->request_id = 7;
    int rc = sock && cs_wire_send(sock, NULL, NULL, ask) == 0 ? 1 : 2;
    cs_msg_destroy(&ask);
    zsock_set_rcvtimeo(sock, 5000);
    char why[256];
    while (rc == 1) {
        cs_msg_t *msg = NULL;
        if (cs_wire_recv(sock, 0, NULL, &msg, why, sizeof why) != 0)
            break;
        if (msg && msg->type == CS_MSG_STATUS_REP) {
            printf("workers %u\n", msg->workers);
            rc = 0;
        }
        cs_msg_destroy(&msg);
    }
    zsock_destroy(&sock);
    return rc;
}

int main(int argc, char **argv)
{
    zsys_handler_set(NULL);
    zsys_set_linger(0);
    int rc = 2;
    if (argc == 4 && strcmp(argv[1], "ready") == 0)
        rc = s_ready_flood(argv[2], atoi(argv[3]));
    else if (argc == 3 && strcmp(argv[1], "workers") == 0)
        rc = s_workers(argv[2]);
    else if (argc == 5 && strcmp(argv[1], "greedy") == 0)
        rc = s_greedy(argv[2], (uint32_t)atoi(argv[3]), atoi(argv[4]));
    else
        fprintf(
            stderr,
            "usage: worker_flood ready EP N | greedy EP CAPACITY SECONDS | workers CONTROL_EP\n");
    zsys_shutdown();
    return rc;
}
