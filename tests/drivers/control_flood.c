/* Test driver: clients that flood the supervisor's control channel.
 *   control_flood --control EP --ignore SEC [--peers P] [--refresh] [--hold SEC]
 *       P clients send snapshot requests (REFRESH_REQ with wait: --refresh) as fast as the
 *       socket takes them for SEC seconds and never read a reply; they stay connected for
 *       --hold more seconds, then exit 0. Prints "sent N requests" when the flood is over.
 *   control_flood --control EP --read SEC [--until-file PATH] [--peers K] [--depth D]
 *                 [--rows R]
 *       K clients ask for snapshots back to back for SEC seconds (or until PATH exists), D
 *       at a time each, every one read to its SNAPSHOT_END. Prints "K clients: N snapshots, ...,
 * longest T ms" and exits 0. Exits 1 when an END's total differs from the rows that came, a row
 *       came twice, a snapshot had other than R rows (with --rows), a request went
 *       unanswered for 10 s, or no snapshot completed at all. ERROR replies (refusals) are
 *       counted, and the first one printed.
 *   control_flood --control EP --waits N
 *       One client sends N REFRESH_REQ with wait at once, then reads the replies until each
 *       request is refused (ERROR) or answered done, for at most 20 s. Prints "accepted A,
 *       refused R, done D" and exits 0 when every request got its answer, else 1. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cs_wire.h"

#define S_UNANSWERED_MS 10000

typedef struct {
    uint64_t id; /* 0: free */
    int64_t asked_at;
    zhashx_t *seen; /* its rows so far */
    uint32_t rows;
} s_request_t;

typedef struct {
    zsock_t *sock;
    s_request_t *requests; /* --depth of them */
} s_client_t;

typedef struct {
    int depth;
    int want_rows;
    uint64_t snapshots, rows, refused;
    int64_t longest;
} s_tally_t;

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static zsock_t *s_connect(const char *endpoint, bool reading)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (!sock)
        return NULL;
    zsock_set_linger(sock, 0);
    if (!reading) {
        zsock_set_rcvhwm(sock, 1); /* what we never read piles up at the supervisor */
        zsock_set_sndtimeo(sock, 50);
    }
    cs_wire_limit(sock);
    if (zsock_connect(sock, "%s", endpoint) != 0) {
        fprintf(stderr, "control_flood: cannot connect to %s\n", endpoint);
        zsock_destroy(&sock);
    }
    return sock;
}

static int s_ask(zsock_t *sock, cs_msg_type_t type, uint64_t request_id)
{
    cs_msg_t *req = cs_msg_new(type);
    if (!req)
        return -1;
    req->request_id = request_id;
    req->wait = type == CS_MSG_REFRESH_REQ;
    int rc = cs_wire_send(sock, NULL, NULL, req);
    cs_msg_destroy(&req);
    return rc;
}

static int s_ignore(const char *endpoint, int peers, double seconds, double hold, bool refresh)
{
    zsock_t **socks = calloc((size_t)peers, sizeof *socks);
    for (int i = 0; i < peers; i++)
        if (!socks || !(socks[i] = s_connect(endpoint, false)))
            return 2;
    uint64_t sent = 0;
    int64_t end = s_now_ms() + (int64_t)(seconds * 1000);
    while (s_now_ms() < end)
        for (int i = 0; i < peers; i++)
            if (s_ask(socks[i], refresh ? CS_MSG_REFRESH_REQ : CS_MSG_SNAPSHOT_REQ, sent + 1) == 0)
                sent++;
    printf("sent %llu requests\n", (unsigned long long)sent);
    fflush(stdout);
    zclock_sleep((int)(hold * 1000));
    for (int i = 0; i < peers; i++)
        zsock_destroy(&socks[i]);
    free(socks);
    return 0;
}

/* Reads one reply of a reading client; returns -1 when a snapshot is inconsistent (reason
 * printed), else 0. */
static int s_on_reply(s_client_t *c, s_tally_t *tally)
{
    cs_msg_t *msg = NULL;
    char why[256];
    if (cs_wire_recv(c->sock, CS_WIRE_DONTWAIT, NULL, &msg, why, sizeof why) != 0)
        return 0;
    if (!msg) {
        printf("malformed reply: %s\n", why);
        return -1;
    }
    s_request_t *req = NULL;
    for (int i = 0; i < tally->depth && !req; i++)
        if (c->requests[i].id && c->requests[i].id == msg->request_id)
            req = &c->requests[i];
    int rc = 0;
    if (!req) {
        printf("a %s answers no request of ours\n", cs_msg_type_name(msg->type));
        rc = -1;
    } else if (msg->type == CS_MSG_ERROR) {
        if (tally->refused++ == 0)
            printf("first refusal: %s\n", msg->reason);
        req->id = 0;
    } else if (msg->type == CS_MSG_SNAPSHOT_ROWS) {
        for (uint32_t i = 0; i < msg->row_count && rc == 0; i++, req->rows++) {
            if (zhashx_insert(req->seen, msg->rows[i].connection, req) != 0) {
                printf("row %s came twice in one snapshot\n", msg->rows[i].connection);
                rc = -1;
            }
        }
    } else if (msg->type == CS_MSG_SNAPSHOT_END) {
        if (msg->total != req->rows) {
            printf("SNAPSHOT_END says %u rows, %u came\n", msg->total, req->rows);
            rc = -1;
        } else if (tally->want_rows >= 0 && req->rows != (uint32_t)tally->want_rows) {
            printf("a snapshot of %u rows, expected %d\n", req->rows, tally->want_rows);
            rc = -1;
        }
        int64_t took = s_now_ms() - req->asked_at;
        tally->longest = took > tally->longest ? took : tally->longest;
        tally->snapshots++;
        tally->rows += req->rows;
        req->id = 0;
    }
    cs_msg_destroy(&msg);
    return rc;
}

static int s_waits(const char *endpoint, int count)
{
    zsock_t *sock = s_connect(endpoint, true);
    if (!sock)
        return 2;
    for (int i = 1; i <= count; i++)
        if (s_ask(sock, CS_MSG_REFRESH_REQ, (uint64_t)i) != 0)
            return 2;
    int accepted = 0, refused = 0, done = 0;
    int64_t end = s_now_ms() + 20000;
    zsock_set_rcvtimeo(sock, 100);
    while (refused + done < count && s_now_ms() < end) {
        cs_msg_t *msg = NULL;
        char why[256];
        if (cs_wire_recv(sock, 0, NULL, &msg, why, sizeof why) != 0 || !msg)
            continue;
        if (msg->type == CS_MSG_ERROR) {
            if (refused++ == 0)
                printf("first refusal: %s\n", msg->reason);
        } else if (msg->type == CS_MSG_REFRESH_REP) {
            accepted += !msg->done;
            done += msg->done;
        }
        cs_msg_destroy(&msg);
    }
    printf("accepted %d, refused %d, done %d\n", accepted, refused, done);
    zsock_destroy(&sock);
    return refused + done == count && done == accepted ? 0 : 1;
}

static int s_read(const char *endpoint, int peers, double seconds, const char *until_file,
                  s_tally_t *tally)
{
    s_client_t *clients = calloc((size_t)peers, sizeof *clients);
    zmq_pollitem_t *items = calloc((size_t)peers, sizeof *items);
    if (!clients || !items)
        return 2;
    for (int i = 0; i < peers; i++) {
        s_client_t *c = &clients[i];
        c->requests = calloc((size_t)tally->depth, sizeof *c->requests);
        if (!c->requests || !(c->sock = s_connect(endpoint, true)))
            return 2;
        for (int r = 0; r < tally->depth; r++)
            if (!(c->requests[r].seen = zhashx_new()))
                return 2;
        items[i] = (zmq_pollitem_t){zsock_resolve(c->sock), 0, ZMQ_POLLIN, 0};
    }
    uint64_t next_id = 1;
    int64_t end = s_now_ms() + (int64_t)(seconds * 1000);
    int rc = 0;
    while (rc == 0 && s_now_ms() < end && !(until_file && access(until_file, F_OK) == 0)) {
        for (int i = 0; i < peers * tally->depth && rc == 0; i++) {
            s_client_t *c = &clients[i / tally->depth];
            s_request_t *req = &c->requests[i % tally->depth];
            if (req->id && s_now_ms() - req->asked_at > S_UNANSWERED_MS) {
                printf("a snapshot request went unanswered for %d s\n", S_UNANSWERED_MS / 1000);
                rc = 1;
            }
            if (req->id)
                continue;
            zhashx_purge(req->seen);
            req->rows = 0;
            req->id = next_id++;
            req->asked_at = s_now_ms();
            if (s_ask(c->sock, CS_MSG_SNAPSHOT_REQ, req->id) != 0)
                req->id = 0;
        }
        if (rc != 0 || zmq_poll(items, peers, 100) < 0)
            break;
        for (int i = 0; i < peers && rc == 0; i++)
            for (int n = 0; n < 1000 && rc == 0 && (zsock_events(clients[i].sock) & ZMQ_POLLIN);
                 n++)
                rc = s_on_reply(&clients[i], tally) < 0 ? 1 : 0;
    }
    if (rc == 0 && tally->snapshots == 0) {
        printf("no snapshot completed\n");
        rc = 1;
    }
    printf("%d clients: %llu snapshots, %llu rows, %llu refused, longest %lld ms\n", peers,
           (unsigned long long)tally->snapshots, (unsigned long long)tally->rows,
           (unsigned long long)tally->refused, (long long)tally->longest);
    for (int i = 0; i < peers; i++) {
        zsock_destroy(&clients[i].sock);
        for (int r = 0; r < tally->depth; r++)
            zhashx_destroy(&clients[i].requests[r].seen);
        free(clients[i].requests);
    }
    free(clients);
    free(items);
    return rc;
}

int main(int argc, char **argv)
{
    const char *endpoint = NULL;
    double ignore = -1, read = -1, hold = 0;
    const char *until_file = NULL;
    int peers = 1, waits = 0;
    s_tally_t tally = {1, -1, 0, 0, 0, 0};
    bool refresh = false;
    static const struct option options[] = {{"control", required_argument, NULL, 'c'},
                                            {"ignore", required_argument, NULL, 'i'},
                                            {"read", required_argument, NULL, 'r'},
                                            {"peers", required_argument, NULL, 'p'},
                                            {"hold", required_argument, NULL, 'h'},
                                            {"rows", required_argument, NULL, 'R'},
                                            {"depth", required_argument, NULL, 'D'},
                                            {"refresh", no_argument, NULL, 'f'},
                                            {"waits", required_argument, NULL, 'w'},
                                            {"until-file", required_argument, NULL, 'u'},
                                            {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
            case 'c':
                endpoint = optarg;
                break;
            case 'i':
                ignore = atof(optarg);
                break;
            case 'r':
                read = atof(optarg);
                break;
            case 'p':
                peers = atoi(optarg);
                break;
            case 'h':
                hold = atof(optarg);
                break;
            case 'R':
                tally.want_rows = atoi(optarg);
                break;
            case 'D':
                tally.depth = atoi(optarg);
                break;
            case 'f':
                refresh = true;
                break;
            case 'w':
                waits = atoi(optarg);
                break;
            case 'u':
                until_file = optarg;
                break;
            default:
                return 2;
        }
    }
    if (!endpoint || peers < 1 || tally.depth < 1 || (ignore >= 0) + (read >= 0) + (waits > 0) != 1)
        return 2;
    zsys_handler_set(NULL);
    int rc = ignore >= 0 ? s_ignore(endpoint, peers, ignore, hold, refresh)
             : read >= 0 ? s_read(endpoint, peers, read, until_file, &tally)
                         : s_waits(endpoint, waits);
    zsys_shutdown();
    return rc;
}
