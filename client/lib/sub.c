/* libconnstate subscriptions: SUB first, then (once a message came on it, so that the
 * subscription is known to have reached the supervisor) a snapshot over the control channel,
 * then sequenced updates; a gap, a restart or silence starts a new snapshot. Heartbeats also
 * say whether the supervisor has its database (or is a standby). */
#include "libconnstate.h"
#include "cs_curve.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define S_SILENCE_MS        3000 /* no heartbeat for this long: resync when it comes back */
#define S_SNAPSHOT_RETRY_MS 2000 /* no snapshot answer: ask again */
#define S_SEND_RETRY_MS     250  /* a request the control socket did not take: tried again */

typedef struct {
    char *name;
    cs_status_t status;
    char *error;
    int64_t time_us;
    bool comments_set;
    uint64_t seq;
    char *plugin;
} s_row_t;

typedef enum { S_SYNCING, S_LIVE } s_state_t;

struct connstate_sub {
    zsock_t *sub;
    zsock_t *control;
    char *prefix;
    connstate_change_fn *fn;
    void *arg;
    zhashx_t *rows; /* name -> s_row_t */
    s_state_t state;
    uint64_t last_seq;
    uint64_t instance;
    int64_t last_heard; /* anything from the publisher */
    bool heard;         /* a message came on SUB since the start or the last silence: our
                           subscription reached the supervisor, a snapshot may be asked for */
    /* while syncing */
    uint64_t request_id; /* the snapshot asked for; 0: none */
    int64_t ask_at;      /* when to ask (again): zclock_mono; 0: as soon as SUB has heard */
    zhashx_t *incoming;  /* the snapshot being received */
    zlistx_t *buffered;  /* live STATE messages received meanwhile (cs_msg_t) */
    uint64_t resyncs;
    uint64_t snapshots, snapshot_seq; /* applied, and the last one's seq */
    bool synced_once; /* a snapshot was applied: a resync reports only what differs */
    char *refused;    /* why the last snapshot request was refused (logged once) */
    /* what the supervisor's latest heartbeat said */
    connstate_supervisor_state_t supervisor;
    int64_t db_down_since;
};

static void s_row_free(void **item)
{
    s_row_t *row = *item;
    if (!row)
        return;
    free(row->name);
    free(row->error);
    free(row->plugin);
    free(row);
    *item = NULL;
}

static void s_msg_free(void **item)
{
    cs_msg_destroy((cs_msg_t **)item);
}

static zhashx_t *s_rows_new(void)
{
    zhashx_t *rows = zhashx_new();
    zhashx_set_destructor(rows, s_row_free);
    return rows;
}

connstate_sub_t *connstate_sub_new(const char *publish_ep, const char *control_ep,
                                   const char *prefix, connstate_change_fn *fn, void *arg)
{
    return connstate_sub_new_curve(publish_ep, control_ep, prefix, NULL, NULL, fn, arg);
}

connstate_sub_t *connstate_sub_new_curve(const char *publish_ep, const char *control_ep,
                                         const char *prefix, const char *curve_cert,
                                         const char *curve_server, connstate_change_fn *fn,
                                         void *arg)
{
    if (!curve_cert && !curve_server) {
        curve_cert = getenv("CONNSTATE_CURVE_CERT");
        curve_server = getenv("CONNSTATE_CURVE_SERVER");
    }
    cs_curve_client_t curve;
    char why[600];
    if (cs_curve_client_load(curve_cert, curve_server, &curve, why, sizeof why) != 0) {
        errno = EINVAL;
        return NULL;
    }
    connstate_sub_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->fn = fn;
    self->arg = arg;
    self->prefix = strdup(prefix ? prefix : "");
    self->rows = s_rows_new();
    self->buffered = zlistx_new();
    self->sub = zsock_new(ZMQ_SUB);
    self->control = zsock_new(ZMQ_DEALER);
    if (!self->prefix || !self->sub || !self->control)
        goto fail;
    zlistx_set_destructor(self->buffered, s_msg_free);
    const char *hwm = getenv("CONNSTATE_SUB_RCVHWM"); /* a tuning knob (and a test hook) */
    if (hwm && atoi(hwm) > 0)
        zsock_set_rcvhwm(self->sub, atoi(hwm));
    zsock_set_linger(self->sub, 0);
    zsock_set_linger(self->control, 0);
    zsock_set_immediate(self->control, 1); /* no requests queued for an absent supervisor */
    zsock_set_sndtimeo(self->control, 0);  /* ... and none waited for: retried on a timer */
    cs_wire_limit(self->sub);
    cs_wire_limit(self->control);
    cs_curve_client_apply(&curve, self->sub);
    cs_curve_client_apply(&curve, self->control);
    memset(&curve, 0, sizeof curve); /* the secret key: the sockets hold their copies */
    /* Everything: gap detection needs every sequence number; the prefix is applied here. */
    zsock_set_subscribe(self->sub, "");
    if (zsock_connect(self->sub, "%s", publish_ep) != 0 ||
        zsock_connect(self->control, "%s", control_ep) != 0)
        goto fail;
    self->state = S_SYNCING; /* the snapshot is asked for once SUB has heard something */
    self->last_heard = zclock_mono();
    return self;
fail:
    connstate_sub_destroy(&self);
    return NULL;
}

void connstate_sub_destroy(connstate_sub_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    connstate_sub_t *self = *self_p;
    zsock_destroy(&self->sub);
    zsock_destroy(&self->control);
    zhashx_destroy(&self->rows);
    zhashx_destroy(&self->incoming);
    zlistx_destroy(&self->buffered);
    free(self->prefix);
    free(self->refused);
    free(self);
    *self_p = NULL;
}

static bool s_wanted(const connstate_sub_t *self, const char *name)
{
    return strncmp(name, self->prefix, strlen(self->prefix)) == 0;
}

static void s_emit(connstate_sub_t *self, const s_row_t *row, cs_status_t status, bool snapshot)
{
    if (!self->fn)
        return;
    connstate_change_t change = {row->seq,    row->name,    cs_status_name(status),
                                 row->error,  row->time_us, row->comments_set,
                                 row->plugin, snapshot};
    self->fn(&change, self->arg);
}

static s_row_t *s_row_new(const char *name, cs_status_t status, const char *error, int64_t time_us,
                          bool comments_set, uint64_t seq, const char *plugin)
{
    s_row_t *row = calloc(1, sizeof *row);
    if (!row)
        return NULL;
    row->name = strdup(name);
    row->status = status;
    row->error = error ? strdup(error) : NULL;
    row->time_us = time_us;
    row->comments_set = comments_set;
    row->seq = seq;
    row->plugin = plugin ? strdup(plugin) : NULL;
    return row;
}

/* While syncing: asks for the snapshot when it is due (at once, or again when the last
 * request went unanswered), but only once a message came on SUB since the start or the last
 * silence. Before that the subscription may not have reached the supervisor (one that just
 * started, a reconnection), and a change published right after the snapshot could miss us.
 * The supervisor publishes a heartbeat every second. */
static void s_ask_snapshot(connstate_sub_t *self)
{
    int64_t now = zclock_mono();
    if (self->state != S_SYNCING || !self->heard || now < self->ask_at)
        return;
    zhashx_destroy(&self->incoming);
    self->incoming = s_rows_new();
    do
        self->request_id = ((uint64_t)zclock_time() << 16) ^ (uint64_t)random();
    while (!self->request_id); /* 0: none (and what an ERROR says when it could not read ours) */
    self->ask_at = now + S_SNAPSHOT_RETRY_MS;
    cs_msg_t *req = cs_msg_new(CS_MSG_SNAPSHOT_REQ);
    if (!req)
        return;
    req->request_id = self->request_id;
    req->prefix = *self->prefix ? strdup(self->prefix) : NULL;
    if (cs_wire_send(self->control, NULL, NULL, req) != 0) {
        cs_log_debug("snapshot request not sent yet (no supervisor on the control socket)");
        self->ask_at = now + S_SEND_RETRY_MS;
    }
    cs_msg_destroy(&req);
}

/* Asks for a snapshot (again) at once, or as soon as SUB has heard something; live updates
 * are buffered until it has arrived. */
static void s_request_snapshot(connstate_sub_t *self)
{
    self->state = S_SYNCING;
    self->ask_at = 0;
    s_ask_snapshot(self);
}

static void s_resync(connstate_sub_t *self, const char *why)
{
    cs_log_debug("resync: %s", why);
    self->resyncs++;
    s_request_snapshot(self);
}

/* Applies one live STATE (its seq is last_seq + 1). */
static void s_apply(connstate_sub_t *self, const cs_msg_t *msg)
{
    self->last_seq = msg->seq;
    if (!s_wanted(self, msg->connection))
        return;
    /* A snapshot row may be newer than the snapshot's seq (it was read as it was sent):
     * the updates it already holds are not shown again. */
    s_row_t *held = zhashx_lookup(self->rows, msg->connection);
    if (held && held->seq >= msg->seq)
        return;
    if (msg->status == CS_STATUS_DELETED) {
        if (held) {
            held->seq = msg->seq;
            s_emit(self, held, CS_STATUS_DELETED, false);
            zhashx_delete(self->rows, msg->connection);
        }
        return;
    }
    s_row_t *row = s_row_new(msg->connection, msg->status, msg->error, msg->time_us,
                             msg->comments_set, msg->seq, msg->plugin);
    if (!row)
        return;
    zhashx_update(self->rows, msg->connection, row);
    s_emit(self, row, row->status, false);
}

/* A live STATE: applied in order, older ones dropped, a gap starts a resync. */
static void s_on_state(connstate_sub_t *self, cs_msg_t **msg_p)
{
    cs_msg_t *msg = *msg_p;
    if (self->state == S_SYNCING) {
        zlistx_add_end(self->buffered, msg); /* decided once the snapshot is in */
        *msg_p = NULL;
        return;
    }
    if (msg->seq <= self->last_seq)
        return;
    if (msg->seq != self->last_seq + 1) {
        char why[96];
        snprintf(why, sizeof why, "gap: expected %llu, got %llu",
                 (unsigned long long)self->last_seq + 1, (unsigned long long)msg->seq);
        zlistx_add_end(self->buffered, msg);
        *msg_p = NULL;
        s_resync(self, why);
        return;
    }
    s_apply(self, msg);
}

/* True when a snapshot's row says something that the held one does not. */
static bool s_row_differs(const s_row_t *held, const s_row_t *row)
{
    return held->seq != row->seq || held->status != row->status || held->time_us != row->time_us ||
           held->comments_set != row->comments_set || !held->error != !row->error ||
           (held->error && strcmp(held->error, row->error)) || !held->plugin != !row->plugin ||
           (held->plugin && strcmp(held->plugin, row->plugin));
}

/* The snapshot is complete: it replaces the rows; buffered updates after it follow. The
 * first snapshot is reported whole; a resync reports what differs from the rows held
 * (rows that vanished as deleted), so that no change is shown twice. */
static void s_snapshot_done(connstate_sub_t *self, const cs_msg_t *end)
{
    if (zhashx_size(self->incoming) != end->total) {
        s_resync(self, "snapshot incomplete");
        return;
    }
    self->snapshots++; /* counted before its rows are reported: they are part of it */
    self->snapshot_seq = end->seq;
    zhashx_t *held = self->rows;
    /* rows that vanished */
    for (s_row_t *row = zhashx_first(held); row; row = zhashx_next(held))
        if (!zhashx_lookup(self->incoming, row->name))
            s_emit(self, row, CS_STATUS_DELETED, true);
    self->rows = self->incoming;
    self->incoming = NULL;
    self->last_seq = end->seq;
    self->instance = end->instance;
    self->state = S_LIVE;
    zlistx_t *names = zhashx_keys(self->rows); /* the snapshot in name order */
    if (names) {
        zlistx_set_comparator(names, (zlistx_comparator_fn *)strcmp);
        zlistx_sort(names);
        for (const char *name = zlistx_first(names); name; name = zlistx_next(names)) {
            s_row_t *row = zhashx_lookup(self->rows, name);
            const s_row_t *before = zhashx_lookup(held, name);
            if (!self->synced_once || !before || s_row_differs(before, row))
                s_emit(self, row, row->status, true);
        }
        zlistx_destroy(&names);
    }
    zhashx_destroy(&held);
    self->synced_once = true;
    free(self->refused);
    self->refused = NULL;
    /* Buffered live updates: those at or below the snapshot's seq are in it already; a gap
     * among the rest starts another resync, which buffers what follows. */
    zlistx_t *buffered = self->buffered;
    self->buffered = zlistx_new();
    zlistx_set_destructor(self->buffered, s_msg_free);
    cs_msg_t *msg;
    while ((msg = zlistx_detach(buffered, NULL)) != NULL) {
        s_on_state(self, &msg);
        cs_msg_destroy(&msg); /* NULL when the resync buffer took it */
    }
    zlistx_destroy(&buffered);
}

static void s_on_control(connstate_sub_t *self)
{
    cs_msg_t *msg = NULL;
    char why[256];
    if (cs_wire_recv(self->control, 0, NULL, &msg, why, sizeof why) != 0)
        return;
    if (!msg) {
        cs_log_warn("malformed snapshot message: %s", why);
        return;
    }
    if (self->state == S_SYNCING && self->request_id && msg->request_id == self->request_id) {
        if (msg->type == CS_MSG_SNAPSHOT_ROWS) {
            for (uint32_t i = 0; i < msg->row_count; i++) {
                const cs_row_t *r = &msg->rows[i];
                s_row_t *row = s_row_new(r->connection, r->status, r->error, r->time_us,
                                         r->comments_set, r->seq, r->plugin);
                if (row)
                    zhashx_update(self->incoming, r->connection, row);
            }
        } else if (msg->type == CS_MSG_SNAPSHOT_END) {
            s_snapshot_done(self, msg);
        } else if (msg->type == CS_MSG_ERROR) {
            /* e.g. its database is unavailable: asked again on the timer, said once */
            if (!self->refused || strcmp(self->refused, msg->reason) != 0)
                cs_log_warn("the supervisor refused the snapshot: %s", msg->reason);
            free(self->refused);
            self->refused = strdup(msg->reason);
        }
    }
    cs_msg_destroy(&msg);
}

/* A heartbeat: the supervisor's database state; a restart or a seq ahead of ours resyncs
 * (after an outage the supervisor's seq may jump: what it wrote but did not publish). */
static void s_on_heartbeat(connstate_sub_t *self, const cs_msg_t *msg)
{
    connstate_supervisor_state_t was = self->supervisor;
    self->supervisor = msg->db_down_since ? CONNSTATE_SUPERVISOR_DB_DOWN
                       : msg->standby     ? CONNSTATE_SUPERVISOR_STANDBY
                                          : CONNSTATE_SUPERVISOR_ACTIVE;
    self->db_down_since = msg->db_down_since;
    if (self->state == S_LIVE) {
        if (msg->instance != self->instance)
            s_resync(self, "the supervisor restarted");
        else if (msg->seq > self->last_seq)
            s_resync(self, "missed the latest changes");
    } else if (self->supervisor == CONNSTATE_SUPERVISOR_ACTIVE && was != self->supervisor &&
               was != CONNSTATE_SUPERVISOR_UNKNOWN) {
        s_request_snapshot(self); /* it refused while it was not active: ask at once */
    }
}

static void s_on_publish(connstate_sub_t *self)
{
    cs_msg_t *msg = NULL;
    char why[256];
    if (cs_wire_recv(self->sub, CS_WIRE_TOPIC, NULL, &msg, why, sizeof why) != 0)
        return;
    self->last_heard = zclock_mono();
    self->heard = true;
    if (!msg) {
        cs_log_warn("malformed published message: %s", why);
        return;
    }
    if (msg->type == CS_MSG_STATE)
        s_on_state(self, &msg);
    else if (msg->type == CS_MSG_PUB_HEARTBEAT)
        s_on_heartbeat(self, msg);
    cs_msg_destroy(&msg);
    s_ask_snapshot(self); /* the first message: the snapshot may be asked for now */
}

int connstate_sub_pollitems(connstate_sub_t *self, zmq_pollitem_t *items, int max)
{
    if (max < 2)
        return 0;
    items[0] = (zmq_pollitem_t){zsock_resolve(self->sub), 0, ZMQ_POLLIN, 0};
    items[1] = (zmq_pollitem_t){zsock_resolve(self->control), 0, ZMQ_POLLIN, 0};
    return 2;
}

int connstate_sub_timeout(const connstate_sub_t *self)
{
    (void)self;
    return 250; /* timers are coarse: silence and retries are measured in seconds */
}

int connstate_sub_process(connstate_sub_t *self, const zmq_pollitem_t *items, int count)
{
    (void)items;
    (void)count;
    /* Drain both sockets (their pollitems are level-triggered; draining here is simpler). */
    for (int i = 0; i < 10000 && (zsock_events(self->control) & ZMQ_POLLIN); i++)
        s_on_control(self);
    for (int i = 0; i < 10000 && (zsock_events(self->sub) & ZMQ_POLLIN); i++)
        s_on_publish(self);
    int64_t now = zclock_mono();
    if (self->heard && now - self->last_heard > S_SILENCE_MS) {
        /* The supervisor may be gone or restarting: the next snapshot waits for its next
         * message on SUB, which says our subscription reached it again. */
        self->heard = false;
        self->request_id = 0; /* an answer to what we asked before is not taken either */
        if (self->state == S_LIVE)
            s_resync(self, "the supervisor fell silent");
        else
            self->ask_at = 0;
    }
    s_ask_snapshot(self); /* a retry, or a request the control socket did not take */
    return 0;
}

int connstate_sub_run(connstate_sub_t *self, int timeout_ms)
{
    zmq_pollitem_t items[2];
    int n = connstate_sub_pollitems(self, items, 2);
    int wait = timeout_ms < connstate_sub_timeout(self) ? timeout_ms : connstate_sub_timeout(self);
    if (zmq_poll(items, n, wait) < 0)
        return -1;
    return connstate_sub_process(self, items, n);
}

bool connstate_sub_synced(const connstate_sub_t *self)
{
    return self->state == S_LIVE;
}

uint64_t connstate_sub_seq(const connstate_sub_t *self)
{
    return self->last_seq;
}

uint64_t connstate_sub_resyncs(const connstate_sub_t *self)
{
    return self->resyncs;
}

uint64_t connstate_sub_snapshots(const connstate_sub_t *self, uint64_t *seq)
{
    if (seq)
        *seq = self->snapshot_seq;
    return self->snapshots;
}

connstate_supervisor_state_t connstate_sub_supervisor_state(const connstate_sub_t *self,
                                                            int64_t *since_us)
{
    if (since_us)
        *since_us = self->supervisor == CONNSTATE_SUPERVISOR_DB_DOWN ? self->db_down_since : 0;
    return self->supervisor;
}

size_t connstate_sub_size(const connstate_sub_t *self)
{
    return zhashx_size(self->rows);
}

size_t connstate_sub_count(const connstate_sub_t *self, const char *status)
{
    size_t n = 0;
    for (s_row_t *row = zhashx_first(self->rows); row; row = zhashx_next(self->rows))
        if (strcmp(cs_status_name(row->status), status) == 0)
            n++;
    return n;
}

void connstate_sub_foreach(const connstate_sub_t *self, connstate_change_fn *fn, void *arg)
{
    for (s_row_t *row = zhashx_first(self->rows); row; row = zhashx_next(self->rows)) {
        connstate_change_t change = {row->seq,    row->name,    cs_status_name(row->status),
                                     row->error,  row->time_us, row->comments_set,
                                     row->plugin, false};
        fn(&change, arg);
    }
}
