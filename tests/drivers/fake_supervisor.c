/* Test driver: a fake supervisor's publish and control sockets, scripted line by line on
 * stdin, to show subscribers (connstate watch) a database outage, a standby, a restart.
 *   fake_supervisor --publish EP --control EP [--hold-subscriptions MS]
 * It sends PUB_HEARTBEAT every 200 ms and answers SNAPSHOT_REQ from its table, or with
 * ERROR while it is down or a standby (printing "snapshot served at seq S (N rows)" before
 * it sends the snapshot, or "snapshot refused" after the ERROR, on stdout). With
 * --hold-subscriptions, a subscription that reaches it takes effect only MS ms later, or at
 * once after a snapshot was served and its after-snapshot command ran: as a restarted
 * supervisor whose publish socket a subscriber reaches later than its control socket (until
 * then the subscriber receives nothing). Commands:
 *   row NAME STATUS SEQ       set a row of its table (status by name: ready, pending, ...)
 *   drop NAME                 remove a row
 *   seq N                     the seq its heartbeats and snapshots carry
 *   publish SEQ NAME STATUS   publish a STATE (the row and seq follow it)
 *   down SINCE_US | standby | up    the database state its heartbeats carry
 *   instance N                a new instance id (a restart)
 *   after-snapshot SEQ NAME STATUS   publish this STATE right after the next snapshot served
 * Exits 0 at the end of stdin. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cs_wire.h"

typedef struct {
    char name[64];
    cs_status_t status;
    uint64_t seq;
    int64_t time_us;
} s_row_t;

typedef struct {
    zsock_t *pub, *control;
    s_row_t rows[256];
    int count;
    uint64_t seq, instance;
    int64_t down_since;
    bool standby;
    int hold_ms;        /* --hold-subscriptions; 0: none */
    int64_t held_since; /* when the subscriptions waiting on the XPUB were first seen */
    char after[3][64];  /* after-snapshot: SEQ NAME STATUS, or "" */
} s_fake_t;

static s_row_t *s_find(s_fake_t *f, const char *name)
{
    for (int i = 0; i < f->count; i++)
        if (strcmp(f->rows[i].name, name) == 0)
            return &f->rows[i];
    return NULL;
}

static void s_set(s_fake_t *f, const char *name, cs_status_t status, uint64_t seq, int64_t time_us)
{
    s_row_t *row = s_find(f, name);
    if (!row && f->count < 256) {
        row = &f->rows[f->count++];
        snprintf(row->name, sizeof row->name, "%s", name);
    }
    if (row) {
        row->status = status;
        row->seq = seq;
        row->time_us = time_us;
    }
}

static void s_heartbeat(s_fake_t *f)
{
    cs_msg_t *msg = cs_msg_new(CS_MSG_PUB_HEARTBEAT);
    msg->seq = f->seq;
    msg->instance = f->instance;
    msg->time_us = zclock_time() * 1000;
    msg->db_down_since = f->down_since;
    msg->standby = f->standby;
    if (cs_wire_send(f->pub, NULL, "!hb", msg) != 0)
        fprintf(stderr, "fake_supervisor: heartbeat not sent\n");
    cs_msg_destroy(&msg);
}

/* Publishes a STATE (the row and seq follow it). */
static void s_publish(s_fake_t *f, const char *seq, const char *name, cs_status_t status)
{
    cs_msg_t *msg = cs_msg_new(CS_MSG_STATE);
    msg->seq = f->seq = strtoull(seq, NULL, 10);
    msg->connection = strdup(name);
    msg->status = status;
    msg->time_us = zclock_time() * 1000; /* the row keeps it: a snapshot says the same */
    if (cs_wire_send(f->pub, NULL, name, msg) != 0)
        fprintf(stderr, "fake_supervisor: STATE not sent\n");
    s_set(f, name, status, f->seq, msg->time_us);
    cs_msg_destroy(&msg);
}

/* With --hold-subscriptions: the subscriptions waiting on the XPUB take effect. */
static void s_apply_subscriptions(s_fake_t *f)
{
    void *raw = zsock_resolve(f->pub);
    while (zsock_events(f->pub) & ZMQ_POLLIN) {
        zframe_t *frame = zframe_recv(f->pub);
        if (!frame)
            break;
        byte *data = zframe_data(frame);
        size_t size = zframe_size(frame);
        if (size >= 1 && (data[0] == 0 || data[0] == 1))
            zmq_setsockopt(raw, data[0] ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE, data + 1, size - 1);
        zframe_destroy(&frame);
    }
    f->held_since = 0;
}

static void s_command(s_fake_t *f, char *line)
{
    char word[32] = "", a[64] = "", b[64] = "", c[64] = "";
    int n = sscanf(line, "%31s %63s %63s %63s", word, a, b, c);
    cs_status_t status;
    if (n == 4 && strcmp(word, "row") == 0 && cs_status_parse(b, strlen(b), &status) == 0) {
        s_set(f, a, status, strtoull(c, NULL, 10), 1000);
    } else if (n == 2 && strcmp(word, "drop") == 0) {
        s_row_t *row = s_find(f, a);
        if (row)
            *row = f->rows[--f->count];
    } else if (n == 2 && strcmp(word, "seq") == 0) {
        f->seq = strtoull(a, NULL, 10);
    } else if (n == 4 && strcmp(word, "publish") == 0 &&
               cs_status_parse(c, strlen(c), &status) == 0) {
        s_publish(f, a, b, status);
    } else if (n == 4 && strcmp(word, "after-snapshot") == 0 &&
               cs_status_parse(c, strlen(c), &status) == 0) {
        snprintf(f->after[0], sizeof f->after[0], "%s", a);
        snprintf(f->after[1], sizeof f->after[1], "%s", b);
        snprintf(f->after[2], sizeof f->after[2], "%s", c);
    } else if (n == 2 && strcmp(word, "down") == 0) {
        f->down_since = strtoll(a, NULL, 10);
        f->standby = false;
    } else if (n == 1 && strcmp(word, "standby") == 0) {
        f->down_since = 0;
        f->standby = true;
    } else if (n == 1 && strcmp(word, "up") == 0) {
        f->down_since = 0;
        f->standby = false;
    } else if (n == 2 && strcmp(word, "instance") == 0) {
        f->instance = strtoull(a, NULL, 10);
    } else if (n > 0) {
        fprintf(stderr, "fake_supervisor: unknown command: %s\n", line);
        return;
    }
    s_heartbeat(f); /* at once: what changed is announced without waiting for the timer */
}

static void s_on_control(s_fake_t *f)
{
    zframe_t *peer = NULL;
    cs_msg_t *req = NULL;
    char why[256];
    if (cs_wire_recv(f->control, CS_WIRE_ROUTED | CS_WIRE_DONTWAIT, &peer, &req, why, sizeof why) !=
        0)
        return;
    if (req && req->type == CS_MSG_SNAPSHOT_REQ) {
        if (f->down_since || f->standby) {
            cs_msg_t *err = cs_msg_new(CS_MSG_ERROR);
            err->request_id = req->request_id;
            err->reason = strdup(f->standby ? "standby: another supervisor is active on this "
                                              "database"
                                            : "database unavailable since 14:40:00 UTC: "
                                              "connection refused");
            if (cs_wire_send(f->control, peer, NULL, err) == 0)
                printf("snapshot refused\n");
            cs_msg_destroy(&err);
        } else {
            cs_msg_t *rows = cs_msg_new(CS_MSG_SNAPSHOT_ROWS);
            rows->request_id = req->request_id;
            for (int i = 0; i < f->count; i++)
                if (cs_msg_add_row(rows, f->rows[i].name, f->rows[i].status, NULL,
                                   f->rows[i].time_us, false, f->rows[i].seq, NULL) != 0)
                    fprintf(stderr, "fake_supervisor: row not added\n");
            cs_msg_t *end = cs_msg_new(CS_MSG_SNAPSHOT_END);
            end->request_id = req->request_id;
            end->seq = f->seq;
            end->instance = f->instance;
            end->total = (uint32_t)f->count;
            printf("snapshot served at seq %llu (%d rows)\n", (unsigned long long)f->seq, f->count);
            fflush(stdout); /* before the subscriber can show it */
            if (cs_wire_send(f->control, peer, NULL, rows) != 0 ||
                cs_wire_send(f->control, peer, NULL, end) != 0)
                fprintf(stderr, "fake_supervisor: snapshot not sent\n");
            cs_msg_destroy(&rows);
            cs_msg_destroy(&end);
            cs_status_t status;
            if (f->after[0][0] && cs_status_parse(f->after[2], strlen(f->after[2]), &status) == 0)
                s_publish(f, f->after[0], f->after[1], status);
            f->after[0][0] = '\0';
            if (f->hold_ms)
                s_apply_subscriptions(f);
        }
        fflush(stdout);
    }
    cs_msg_destroy(&req);
    zframe_destroy(&peer);
}

int main(int argc, char **argv)
{
    const char *publish = NULL, *control = NULL;
    int hold_ms = 0;
    static const struct option options[] = {{"publish", required_argument, NULL, 'p'},
                                            {"control", required_argument, NULL, 'c'},
                                            {"hold-subscriptions", required_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (opt == 'p')
            publish = optarg;
        else if (opt == 'c')
            control = optarg;
        else if (opt == 'h')
            hold_ms = atoi(optarg);
        else
            return 2;
    }
    if (!publish || !control || hold_ms < 0)
        return 2;
    zsys_handler_set(NULL);
    s_fake_t f = {.instance = 1, .hold_ms = hold_ms};
    if (hold_ms) { /* an XPUB whose subscriptions take effect when we say so */
        f.pub = zsock_new(ZMQ_XPUB);
        if (f.pub) {
            zsock_set_xpub_manual(f.pub, 1);
            if (zsock_bind(f.pub, "%s", publish) < 0)
                zsock_destroy(&f.pub);
        }
    } else {
        f.pub = zsock_new_pub(publish);
    }
    f.control = zsock_new_router(control);
    if (!f.pub || !f.control) {
        fprintf(stderr, "fake_supervisor: cannot bind %s or %s\n", publish, control);
        return 2;
    }
    printf("bound\n");
    fflush(stdout);
    char buf[4096];
    size_t len = 0;
    int64_t next_beat = 0;
    for (;;) {
        zmq_pollitem_t items[] = {{zsock_resolve(f.control), 0, ZMQ_POLLIN, 0},
                                  {NULL, STDIN_FILENO, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 2, 50) < 0 && errno != EINTR)
            break;
        while (zsock_events(f.control) & ZMQ_POLLIN)
            s_on_control(&f);
        if (f.hold_ms && (zsock_events(f.pub) & ZMQ_POLLIN)) {
            if (!f.held_since)
                f.held_since = zclock_mono();
            else if (zclock_mono() - f.held_since >= f.hold_ms)
                s_apply_subscriptions(&f);
        }
        if (items[1].revents & ZMQ_POLLIN) {
            ssize_t got = read(STDIN_FILENO, buf + len, sizeof buf - 1 - len);
            if (got <= 0)
                break;
            len += (size_t)got;
            buf[len] = '\0';
            char *nl;
            while ((nl = strchr(buf, '\n')) != NULL) {
                size_t used = (size_t)(nl + 1 - buf);
                *nl = '\0';
                s_command(&f, buf);
                memmove(buf, buf + used, len - used + 1);
                len -= used;
            }
            if (len == sizeof buf - 1)
                len = 0; /* a line too long: dropped */
        }
        if (zclock_mono() >= next_beat) {
            s_heartbeat(&f);
            next_beat = zclock_mono() + 200;
        }
    }
    zsock_destroy(&f.pub);
    zsock_destroy(&f.control);
    return 0;
}
