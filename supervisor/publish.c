/* Publication of committed state changes (PUB, topic = connection name) and the control
 * channel (ROUTER): snapshots, refresh requests and status. */
#include "supervisor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_HEARTBEAT_MS    1000
#define S_SNAPSHOT_BYTES  (1024 * 1024) /* a SNAPSHOT_ROWS message stays well under the cap */
#define S_HEARTBEAT_TOPIC "!hb"

typedef struct {
    zframe_t *identity;
    uint64_t request_id;
    uint64_t target; /* the refresh generation it waits for */
} s_waiter_t;

struct cs_publish {
    zsock_t *pub;
    zsock_t *control;
    cs_sup_view_t *view;
    int64_t last_heartbeat;
    zlistx_t *waiters;
};

cs_publish_t *cs_publish_new(zsock_t *pub, zsock_t *control, cs_sup_view_t *view)
{
    cs_publish_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->pub = pub;
    self->control = control;
    self->view = view;
    self->waiters = zlistx_new();
    return self;
}

static void s_waiter_free(s_waiter_t **waiter_p)
{
    zframe_destroy(&(*waiter_p)->identity);
    free(*waiter_p);
    *waiter_p = NULL;
}

void cs_publish_destroy(cs_publish_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_publish_t *self = *self_p;
    s_waiter_t *waiter;
    while ((waiter = zlistx_first(self->waiters)) != NULL) {
        zlistx_delete(self->waiters, zlistx_cursor(self->waiters));
        s_waiter_free(&waiter);
    }
    zlistx_destroy(&self->waiters);
    free(self);
    *self_p = NULL;
}

void cs_publish_change(void *arg, const char *name, const cs_visible_t *row)
{
    cs_publish_t *self = arg;
    if (!self || !self->pub)
        return;
    /* A message on the stack that borrows the row's strings: nothing to allocate or free. */
    cs_msg_t msg = {0};
    msg.type = CS_MSG_STATE;
    msg.seq = row->seq;
    msg.connection = (char *)name;
    msg.status = row->status;
    msg.error = row->error;
    msg.time_us = row->time_us;
    msg.comments_set = row->comments_set;
    msg.plugin = row->plugin;
    if (cs_wire_send(self->pub, NULL, name, &msg) != 0)
        cs_log_debug("STATE %llu not published", (unsigned long long)row->seq);
}

void cs_publish_tick(cs_publish_t *self)
{
    int64_t now = cs_now_ms();
    if (now - self->last_heartbeat < S_HEARTBEAT_MS)
        return;
    self->last_heartbeat = now;
    cs_msg_t *hb = cs_msg_new(CS_MSG_PUB_HEARTBEAT);
    if (!hb)
        return;
    hb->seq = cs_store_seq(self->view->store);
    hb->instance = self->view->instance;
    hb->time_us = cs_wall_us();
    if (cs_wire_send(self->pub, NULL, S_HEARTBEAT_TOPIC, hb) != 0)
        cs_log_debug("heartbeat not published");
    cs_msg_destroy(&hb);
}

/* Counts of the committed rows by status. */
static uint32_t s_counts(cs_publish_t *self, uint32_t counts[CS_STATUS_COUNT])
{
    memset(counts, 0, CS_STATUS_COUNT * sizeof *counts);
    uint32_t total = 0;
    zlistx_t *rows = cs_store_rows(self->view->store);
    for (cs_conn_t *conn = zlistx_first(rows); conn; conn = zlistx_next(rows)) {
        if (!conn->in_table)
            continue;
        counts[conn->committed.status]++;
        total++;
    }
    return total;
}

static void s_reply(cs_publish_t *self, zframe_t *identity, cs_msg_t **msg_p)
{
    if (*msg_p && cs_wire_send(self->control, identity, NULL, *msg_p) != 0)
        cs_log_debug("control reply %s not sent", cs_msg_type_name((*msg_p)->type));
    cs_msg_destroy(msg_p);
}

static void s_snapshot(cs_publish_t *self, zframe_t *identity, const cs_msg_t *req)
{
    size_t prefix_len = req->prefix ? strlen(req->prefix) : 0;
    uint32_t total = 0;
    size_t bytes = 0;
    cs_msg_t *rows = cs_msg_new(CS_MSG_SNAPSHOT_ROWS);
    zlistx_t *all = cs_store_rows(self->view->store);
    for (cs_conn_t *conn = zlistx_first(all); conn && rows; conn = zlistx_next(all)) {
        if (!conn->in_table || (prefix_len && strncmp(conn->name, req->prefix, prefix_len) != 0))
            continue;
        const cs_visible_t *v = &conn->committed;
        if (rows->row_count == CS_PROTO_MAX_ROWS || bytes > S_SNAPSHOT_BYTES) {
            rows->request_id = req->request_id;
            s_reply(self, identity, &rows);
            rows = cs_msg_new(CS_MSG_SNAPSHOT_ROWS);
            bytes = 0;
            if (!rows)
                break;
        }
        if (cs_msg_add_row(rows, conn->name, v->status, v->error, v->time_us, v->comments_set,
                           v->seq, v->plugin) != 0)
            break;
        bytes += strlen(conn->name) + (v->error ? strlen(v->error) : 0) + 64;
        total++;
    }
    if (rows && rows->row_count) {
        rows->request_id = req->request_id;
        s_reply(self, identity, &rows);
    }
    cs_msg_destroy(&rows);
    cs_msg_t *end = cs_msg_new(CS_MSG_SNAPSHOT_END);
    if (end) {
        end->request_id = req->request_id;
        end->seq = cs_store_seq(self->view->store);
        end->instance = self->view->instance;
        end->total = total;
    }
    s_reply(self, identity, &end);
}

static void s_status(cs_publish_t *self, zframe_t *identity, const cs_msg_t *req)
{
    cs_msg_t *rep = cs_msg_new(CS_MSG_STATUS_REP);
    if (!rep)
        return;
    rep->request_id = req->request_id;
    rep->total = s_counts(self, rep->counts);
    rep->seq = cs_store_seq(self->view->store);
    rep->instance = self->view->instance;
    rep->workers = (uint32_t)cs_dispatch_workers(self->view->dispatch);
    rep->queued = (uint32_t)cs_dispatch_queued(self->view->dispatch);
    rep->in_flight = (uint32_t)(cs_dispatch_outstanding(self->view->dispatch) - rep->queued);
    rep->refreshing = self->view->refreshing;
    rep->generation = self->view->generation_done;
    s_reply(self, identity, &rep);
}

static void s_refresh(cs_publish_t *self, zframe_t *identity, const cs_msg_t *req)
{
    /* The next refresh to start (now, or as the coalesced follow-up of the running one)
     * reads the config after this request: that is the one to wait for. */
    uint64_t target = self->view->generation_started + 1;
    self->view->refresh_requested = true;
    cs_msg_t *rep = cs_msg_new(CS_MSG_REFRESH_REP);
    if (!rep)
        return;
    rep->request_id = req->request_id;
    rep->done = false;
    rep->generation = target;
    s_reply(self, identity, &rep);
    if (req->wait) {
        s_waiter_t *waiter = calloc(1, sizeof *waiter);
        if (!waiter)
            return;
        waiter->identity = zframe_dup(identity);
        waiter->request_id = req->request_id;
        waiter->target = target;
        zlistx_add_end(self->waiters, waiter);
    }
}

bool cs_publish_on_control(cs_publish_t *self)
{
    zframe_t *identity = NULL;
    cs_msg_t *msg = NULL;
    char why[256];
    if (cs_wire_recv(self->control, CS_WIRE_ROUTED | CS_WIRE_DONTWAIT, &identity, &msg, why,
                     sizeof why) != 0)
        return false;
    if (!msg) {
        cs_log_warn("malformed control request: %s", why);
        cs_msg_t *err = cs_msg_new(CS_MSG_ERROR);
        if (err)
            err->reason = strdup(why);
        if (identity)
            s_reply(self, identity, &err);
        cs_msg_destroy(&err);
        zframe_destroy(&identity);
        return true;
    }
    switch (msg->type) {
        case CS_MSG_SNAPSHOT_REQ:
            s_snapshot(self, identity, msg);
            break;
        case CS_MSG_REFRESH_REQ:
            s_refresh(self, identity, msg);
            break;
        case CS_MSG_STATUS_REQ:
            s_status(self, identity, msg);
            break;
        default: {
            cs_msg_t *err = cs_msg_new(CS_MSG_ERROR);
            if (err) {
                err->request_id = msg->request_id;
                err->reason = strdup("unexpected message type on the control channel");
            }
            s_reply(self, identity, &err);
        }
    }
    cs_msg_destroy(&msg);
    zframe_destroy(&identity);
    return true;
}

void cs_publish_refresh_done(cs_publish_t *self, uint64_t generation, int64_t elapsed_us)
{
    s_waiter_t *waiter = zlistx_first(self->waiters);
    while (waiter) {
        if (waiter->target > generation) {
            waiter = zlistx_next(self->waiters);
            continue;
        }
        cs_msg_t *rep = cs_msg_new(CS_MSG_REFRESH_REP);
        if (rep) {
            rep->request_id = waiter->request_id;
            rep->done = true;
            rep->generation = generation;
            rep->elapsed_us = (uint64_t)elapsed_us;
            rep->total = s_counts(self, rep->counts);
        }
        s_reply(self, waiter->identity, &rep);
        zlistx_delete(self->waiters, zlistx_cursor(self->waiters));
        s_waiter_free(&waiter);
        waiter = zlistx_first(self->waiters);
    }
}
