/* The control channel (ROUTER): snapshots (served in slices between the rest of the event
 * loop's work, each client's output bounded), refresh requests with their waiters, and
 * status. */
#include "supervisor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Bounds of the control channel. A client's unread replies stay within CS_CONTROL_SNDHWM
 * messages of at most S_SNAPSHOT_BYTES; what does not fit waits in the snapshot (one built
 * message and a cursor), not in ZeroMQ. */
#define S_SNAPSHOT_BYTES     (32 * 1024) /* a SNAPSHOT_ROWS message stays under this */
#define S_SNAPSHOTS_PER_PEER 2           /* snapshots served at once to one client */
#define S_WAITERS_MAX        1024        /* refresh requests waiting for their refresh */
#define S_WAITERS_PER_PEER   16          /* ... from one client */
/* One turn of the event loop sends at most S_SLICE_MESSAGES of each snapshot, and no more
 * once S_SLICE_BUDGET_US have passed (a message of 32 KB takes about 0.15 ms to build and
 * encode); requests are read for at most S_REQUESTS_BUDGET_US per turn. Worker traffic and
 * heartbeats wait no longer than that. */
#define S_SLICE_MESSAGES     2
#define S_SLICE_BUDGET_US    1000
#define S_REQUESTS_BUDGET_US 1000
/* A client whose queue is full is tried again after 1 ms, doubling up to this. */
#define S_RETRY_MAX_MS 50

typedef struct {
    zframe_t *identity;
    uint64_t request_id;
    uint64_t target; /* the refresh generation it waits for */
    cs_strs_t names; /* a named refresh: the connections it waits for (none: the generation) */
    int64_t since;   /* cs_clock_mono_ms when it was asked */
} s_waiter_t;

/* What one client (by routing id) has in flight. */
typedef struct {
    int snapshots;
    int waiters;
} s_peer_t;

/* A snapshot being served: the names that matched when it started (a stable copy: rows
 * deleted meanwhile are skipped, rows added meanwhile come as live updates after the END's
 * seq), each row read from the store as it is sent. */
typedef struct {
    zframe_t *identity;
    char *peer; /* the routing id in hex: the key of its s_peer_t */
    uint64_t request_id;
    uint64_t seq;   /* committed when it started: what its SNAPSHOT_END says */
    cs_buf_t names; /* NUL-separated */
    size_t *offsets;
    size_t count;
    size_t next;       /* the next name to look up */
    uint32_t sent;     /* rows in the messages built so far */
    cs_msg_t *pending; /* built, not yet taken by the socket (the END once pending->type says so) */
    int64_t last_taken; /* cs_clock_mono_ms when the socket last took one of its messages */
    int64_t retry_at;   /* the client's queue was full: not before then */
    int64_t retry_ms;
} s_snapshot_t;

struct cs_control {
    zsock_t *control;
    cs_control_deps_t deps;
    zlistx_t *waiters;
    zlistx_t *named;        /* s_waiter_t of named refreshes: answered when their rows are done */
    zlistx_t *snapshots;    /* s_snapshot_t, in serving order */
    zhashx_t *peers;        /* routing id in hex -> s_peer_t */
    int64_t requests_since; /* zclock_usecs of this turn's first request; 0: none yet */
};

cs_control_t *cs_control_new(zsock_t *control, const cs_control_deps_t *deps)
{
    cs_control_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->control = control;
    self->deps = *deps;
    self->waiters = zlistx_new();
    self->named = zlistx_new();
    self->snapshots = zlistx_new();
    self->peers = zhashx_new();
    /* A full client queue says EAGAIN (and a vanished client EHOSTUNREACH) at once,
     * instead of the message being dropped silently or the send blocking. */
    zsock_set_router_mandatory(control, 1);
    zsock_set_sndtimeo(control, 0);
    return self;
}

static void s_waiter_free(s_waiter_t **waiter_p)
{
    cs_strs_clear(&(*waiter_p)->names);
    zframe_destroy(&(*waiter_p)->identity);
    free(*waiter_p);
    *waiter_p = NULL;
}

static void s_snapshot_free(s_snapshot_t **snap_p)
{
    s_snapshot_t *snap = *snap_p;
    zframe_destroy(&snap->identity);
    free(snap->peer);
    cs_buf_free(&snap->names);
    free(snap->offsets);
    cs_msg_destroy(&snap->pending);
    free(snap);
    *snap_p = NULL;
}

void cs_control_destroy(cs_control_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_control_t *self = *self_p;
    s_waiter_t *waiter;
    while (self->waiters && (waiter = zlistx_detach(self->waiters, NULL)) != NULL)
        s_waiter_free(&waiter);
    zlistx_destroy(&self->waiters);
    while (self->named && (waiter = zlistx_detach(self->named, NULL)) != NULL)
        s_waiter_free(&waiter);
    zlistx_destroy(&self->named);
    s_snapshot_t *snap;
    while (self->snapshots && (snap = zlistx_detach(self->snapshots, NULL)) != NULL)
        s_snapshot_free(&snap);
    zlistx_destroy(&self->snapshots);
    if (self->peers)
        for (s_peer_t *peer = zhashx_first(self->peers); peer; peer = zhashx_next(self->peers))
            free(peer);
    zhashx_destroy(&self->peers);
    free(self);
    *self_p = NULL;
}

/* The entry of a client (created when missing, NULL when out of memory). */
static s_peer_t *s_peer(cs_control_t *self, const char *key)
{
    s_peer_t *peer = zhashx_lookup(self->peers, key);
    if (peer)
        return peer;
    peer = calloc(1, sizeof *peer);
    if (peer && zhashx_insert(self->peers, key, peer) != 0) {
        free(peer);
        peer = NULL;
    }
    return peer;
}

/* Forgets a client's entry once it has nothing in flight. */
static void s_peer_release(cs_control_t *self, const char *key)
{
    s_peer_t *peer = zhashx_lookup(self->peers, key);
    if (peer && !peer->snapshots && !peer->waiters) {
        zhashx_delete(self->peers, key);
        free(peer);
    }
}

/* Sends a reply and destroys it. A client whose queue is full, or who is gone, loses it. */
static void s_reply(cs_control_t *self, zframe_t *identity, cs_msg_t **msg_p)
{
    if (*msg_p && cs_wire_send(self->control, identity, NULL, *msg_p) != 0)
        cs_log_debug("control reply %s not sent", cs_msg_type_name((*msg_p)->type));
    cs_msg_destroy(msg_p);
}

/* Answers a request with ERROR and the reason. */
static void s_refuse(cs_control_t *self, zframe_t *identity, uint64_t request_id,
                     const char *reason)
{
    cs_msg_t *err = cs_msg_new(CS_MSG_ERROR);
    if (err) {
        err->request_id = request_id;
        err->reason = strdup(reason);
    }
    s_reply(self, identity, &err);
}

/* Why this supervisor cannot serve snapshots and refreshes now (into why), or false when it
 * is active: while the database is away, or as a standby, it has no truth to tell. */
static bool s_unavailable(const cs_control_t *self, char *why, size_t size)
{
    const cs_catalog_t *catalog = self->deps.catalog;
    switch (cs_catalog_state(catalog)) {
        case CS_DB_ACTIVE:
            return false;
        case CS_DB_STANDBY:
            snprintf(why, size, "standby: another supervisor is active on this database");
            return true;
        default: {
            char since[32];
            time_t t = (time_t)(cs_catalog_down_since(catalog) / 1000000);
            struct tm tm;
            strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
            snprintf(why, size, "database unavailable since %s: %s", since,
                     cs_catalog_error(catalog));
            return true;
        }
    }
}

/* A snapshot of what the table holds now (these names, at this seq), in the serving list.
 * Returns NULL when out of memory. */
static s_snapshot_t *s_snapshot_new(cs_control_t *self, zframe_t *identity, const char *key,
                                    const cs_msg_t *req)
{
    s_snapshot_t *snap = calloc(1, sizeof *snap);
    if (!snap)
        return NULL;
    size_t prefix_len = req->prefix ? strlen(req->prefix) : 0;
    cs_store_t *store = self->deps.store;
    size_t size = cs_store_size(store);
    snap->offsets = malloc((size ? size : 1) * sizeof *snap->offsets);
    for (cs_record_t *row = cs_store_first(store); row && snap->offsets;
         row = cs_store_next(store)) {
        const char *name = cs_record_name(row);
        if (!cs_record_committed(row) ||
            (prefix_len && strncmp(name, req->prefix, prefix_len) != 0))
            continue;
        snap->offsets[snap->count++] = snap->names.len;
        cs_buf_append(&snap->names, name, strlen(name) + 1);
    }
    snap->identity = zframe_dup(identity);
    snap->peer = strdup(key);
    snap->request_id = req->request_id;
    snap->seq = cs_batch_seq(self->deps.batch);
    snap->last_taken = cs_clock_mono_ms();
    if (!snap->offsets || snap->names.failed || !snap->identity || !snap->peer ||
        !zlistx_add_end(self->snapshots, snap))
        s_snapshot_free(&snap);
    return snap;
}

/* A client's entry when it may have one more request of a kind in flight: held < its own
 * bound and total < the global one (snapshot: of snapshots, else of refresh requests that
 * wait). Else NULL with why, the entry released. *key_p gets the client's key (the caller frees
 * it). */
static s_peer_t *s_admit(cs_control_t *self, zframe_t *identity, char **key_p, bool snapshot,
                         char *why, size_t size)
{
    char *key = *key_p = zframe_strhex(identity);
    s_peer_t *peer = key ? s_peer(self, key) : NULL;
    int held = peer ? (snapshot ? peer->snapshots : peer->waiters) : 0;
    int own = snapshot ? S_SNAPSHOTS_PER_PEER : S_WAITERS_PER_PEER;
    size_t total = snapshot ? zlistx_size(self->snapshots)
                            : zlistx_size(self->waiters) + zlistx_size(self->named);
    size_t all = snapshot ? (size_t)self->deps.max_snapshots : S_WAITERS_MAX;
    if (!peer)
        snprintf(why, size, "out of memory");
    else if (held >= own)
        snprintf(why, size,
                 snapshot ? "too many snapshots in flight for this client (at most %d); ask "
                            "again when one is done"
                          : "too many refresh requests of this client waiting (at most %d); "
                            "not refreshing",
                 own);
    else if (total >= all)
        snprintf(why, size,
                 snapshot ? "too many snapshots in flight (at most %zu); ask again shortly"
                          : "too many refresh requests waiting (at most %zu); not refreshing",
                 all);
    else
        return peer;
    if (key)
        s_peer_release(self, key);
    return NULL;
}

static void s_snapshot(cs_control_t *self, zframe_t *identity, const cs_msg_t *req)
{
    char unavailable[CS_PROTO_MAX_ERROR];
    if (s_unavailable(self, unavailable, sizeof unavailable)) {
        s_refuse(self, identity, req->request_id, unavailable);
        return;
    }
    char *key, why[160];
    s_peer_t *peer = s_admit(self, identity, &key, true, why, sizeof why);
    if (peer && !s_snapshot_new(self, identity, key, req)) {
        snprintf(why, sizeof why, "out of memory");
        s_peer_release(self, key);
        peer = NULL;
    }
    if (peer) {
        peer->snapshots++;
    } else {
        cs_log_debug("client %s: snapshot %llu refused: %s", key ? key : "?",
                     (unsigned long long)req->request_id, why);
        s_refuse(self, identity, req->request_id, why);
    }
    free(key);
}

/* Builds the snapshot's next message: rows up to S_SNAPSHOT_BYTES, each as the store holds
 * it now (skipping rows deleted since the start), or the END once every name is done.
 * Returns 0, or -1 when out of memory. */
static int s_snapshot_build(cs_control_t *self, s_snapshot_t *snap)
{
    if (snap->next == snap->count) {
        snap->pending = cs_msg_new(CS_MSG_SNAPSHOT_END);
        if (!snap->pending)
            return -1;
        snap->pending->request_id = snap->request_id;
        snap->pending->seq = snap->seq;
        snap->pending->instance = self->deps.instance;
        snap->pending->total = snap->sent;
        return 0;
    }
    cs_msg_t *rows = cs_msg_new(CS_MSG_SNAPSHOT_ROWS);
    if (!rows)
        return -1;
    rows->request_id = snap->request_id;
    size_t bytes = 0;
    while (snap->next < snap->count && rows->row_count < CS_PROTO_MAX_ROWS) {
        const char *name = snap->names.data + snap->offsets[snap->next];
        const cs_record_t *row = cs_store_get(self->deps.store, name);
        const cs_visible_t *v = row ? cs_record_committed(row) : NULL;
        if (!v) {
            snap->next++;
            continue;
        }
        /* A row's encoding: its strings plus at most 40 bytes of keys and numbers. */
        size_t size = strlen(name) + (v->error ? strlen(v->error) : 0) +
                      (v->plugin ? strlen(v->plugin) : 0) + 40;
        if (rows->row_count && bytes + size > S_SNAPSHOT_BYTES)
            break;
        if (cs_msg_add_row(rows, name, v->status, v->error, v->time_us, v->comments_set, v->seq,
                           v->plugin) != 0) {
            cs_msg_destroy(&rows);
            return -1;
        }
        bytes += size;
        snap->next++;
    }
    if (rows->row_count == 0) { /* the rest were deleted: straight to the END */
        cs_msg_destroy(&rows);
        return s_snapshot_build(self, snap);
    }
    snap->sent += rows->row_count;
    snap->pending = rows;
    return 0;
}

/* One turn of a snapshot: up to S_SLICE_MESSAGES messages, the second and later ones only
 * before deadline (zclock_usecs). Returns 1 while it goes on, 0 once its END is sent, -1
 * when it is dropped (the client took nothing for too long, is gone, or we are out of
 * memory). */
static int s_snapshot_turn(cs_control_t *self, s_snapshot_t *snap, int64_t now, int64_t deadline)
{
    for (int m = 0;
         m < S_SLICE_MESSAGES && now >= snap->retry_at && (m == 0 || zclock_usecs() < deadline);
         m++) {
        if (!snap->pending && s_snapshot_build(self, snap) != 0) {
            cs_log_warn("client %s: snapshot %llu dropped: out of memory", snap->peer,
                        (unsigned long long)snap->request_id);
            return -1;
        }
        errno = 0;
        if (cs_wire_send(self->control, snap->identity, NULL, snap->pending) != 0) {
            if (errno != EAGAIN) {
                cs_log_debug("client %s: snapshot %llu dropped: %s", snap->peer,
                             (unsigned long long)snap->request_id,
                             errno ? zmq_strerror(errno) : "cannot encode");
                return -1;
            }
            snap->retry_ms = snap->retry_ms ? snap->retry_ms * 2 : 1;
            if (snap->retry_ms > S_RETRY_MAX_MS)
                snap->retry_ms = S_RETRY_MAX_MS;
            snap->retry_at = now + snap->retry_ms;
            break;
        }
        bool end = snap->pending->type == CS_MSG_SNAPSHOT_END;
        cs_msg_destroy(&snap->pending);
        snap->last_taken = now;
        snap->retry_ms = 0;
        if (end)
            return 0;
    }
    if (now - snap->last_taken >= self->deps.snapshot_timeout_ms) {
        cs_log_warn("client %s: snapshot %llu dropped after %u of %zu rows: the client took "
                    "nothing for %d s",
                    snap->peer, (unsigned long long)snap->request_id, snap->sent, snap->count,
                    self->deps.snapshot_timeout_ms / 1000);
        return -1;
    }
    return 1;
}

void cs_control_serve(cs_control_t *self)
{
    self->requests_since = 0; /* the next turn's requests get a budget of their own */
    int64_t deadline = zclock_usecs() + S_SLICE_BUDGET_US, now = cs_clock_mono_ms();
    size_t count = zlistx_size(self->snapshots);
    for (size_t i = 0; i < count && zclock_usecs() < deadline; i++) {
        s_snapshot_t *snap = zlistx_first(self->snapshots);
        void *cursor = zlistx_cursor(self->snapshots);
        if (s_snapshot_turn(self, snap, now, deadline) > 0) {
            zlistx_move_end(self->snapshots, cursor); /* the others' turn first */
            continue;
        }
        zlistx_detach(self->snapshots, cursor);
        s_peer_t *peer = zhashx_lookup(self->peers, snap->peer);
        if (peer)
            peer->snapshots--;
        s_peer_release(self, snap->peer);
        s_snapshot_free(&snap);
    }
}

int64_t cs_control_next_ms(const cs_control_t *self)
{
    int64_t now = cs_clock_mono_ms(), next = -1;
    for (s_snapshot_t *snap = zlistx_first(self->snapshots); snap;
         snap = zlistx_next(self->snapshots)) {
        int64_t due = snap->retry_at > now ? snap->retry_at - now : 0;
        if (next < 0 || due < next)
            next = due;
    }
    return next;
}

static void s_status(cs_control_t *self, zframe_t *identity, const cs_msg_t *req)
{
    cs_msg_t *rep = cs_msg_new(CS_MSG_STATUS_REP);
    if (!rep)
        return;
    rep->request_id = req->request_id;
    rep->total = cs_store_status_counts(self->deps.store, rep->counts);
    rep->seq = cs_batch_seq(self->deps.batch);
    rep->instance = self->deps.instance;
    rep->workers = (uint32_t)cs_dispatch_workers(self->deps.dispatch);
    rep->queued = (uint32_t)cs_dispatch_queued(self->deps.dispatch);
    rep->in_flight = (uint32_t)cs_dispatch_in_flight(self->deps.dispatch);
    rep->refreshing = cs_refresh_running(self->deps.refresh);
    rep->generation = cs_refresh_generation(self->deps.refresh);
    cs_db_state_t db = cs_catalog_state(self->deps.catalog);
    rep->standby = db == CS_DB_STANDBY;
    rep->db_down_since = cs_catalog_down_since(self->deps.catalog);
    if (db != CS_DB_ACTIVE && db != CS_DB_STANDBY)
        rep->db_error = strdup(cs_catalog_error(self->deps.catalog));
    if (req->with_workers && cs_dispatch_list_workers(self->deps.dispatch, rep) != 0)
        cs_log_error("out of memory: the STATUS reply lists %u of %zu workers",
                     rep->worker_row_count, cs_dispatch_workers(self->deps.dispatch));
    s_reply(self, identity, &rep);
}

/* A named refresh (`connstate refresh NAME...`): its names are checked and expanded, and it
 * is requested. Returns the generation (0 after refusing it: a name that is no connection). */
static uint64_t s_refresh_names(cs_control_t *self, zframe_t *identity, const cs_msg_t *req,
                                cs_strs_t *expanded)
{
    const char *unknown;
    uint64_t target = cs_refresh_request_names(self->deps.refresh, &req->names, expanded, &unknown);
    if (target)
        return target;
    char why[CS_PROTO_MAX_NAME + 160];
    if (unknown)
        snprintf(why, sizeof why,
                 "no connection named \"%s\" (as of the last read of the config directory); "
                 "nothing refreshed",
                 unknown);
    else
        snprintf(why, sizeof why, "out of memory; nothing refreshed");
    cs_log_info("refresh of %u connections refused: %s", req->names.count, why);
    s_refuse(self, identity, req->request_id, why);
    return 0;
}

static void s_refresh(cs_control_t *self, zframe_t *identity, const cs_msg_t *req)
{
    char unavailable[CS_PROTO_MAX_ERROR];
    if (s_unavailable(self, unavailable, sizeof unavailable)) {
        if (!req->names.count) /* it runs once the database is back */
            cs_refresh_request_all(self->deps.refresh);
        s_refuse(self, identity, req->request_id, unavailable);
        return;
    }
    char *key = NULL;
    s_peer_t *peer = NULL;
    if (req->wait) {
        char why[160];
        peer = s_admit(self, identity, &key, false, why, sizeof why);
        if (!peer) {
            s_refuse(self, identity, req->request_id, why);
            free(key);
            return;
        }
    }
    cs_strs_t names = {0};
    uint64_t target = req->names.count ? s_refresh_names(self, identity, req, &names)
                                       : cs_refresh_request_all(self->deps.refresh);
    if (!target) {
        cs_strs_clear(&names);
        if (key)
            s_peer_release(self, key);
        free(key);
        return;
    }
    if (req->full) /* the same plan: target */
        cs_refresh_catalog_full(self->deps.refresh, "asked for: refresh --full");
    if (req->names.count)
        cs_log_info("refresh of %u connections (%s%s) asked for", names.count, names.items[0],
                    names.count > 1 ? ", ..." : "");
    cs_msg_t *rep = cs_msg_new(CS_MSG_REFRESH_REP);
    if (rep) {
        rep->request_id = req->request_id;
        rep->done = false;
        rep->generation = target;
    }
    s_reply(self, identity, &rep);
    s_waiter_t *waiter = peer ? calloc(1, sizeof *waiter) : NULL;
    if (waiter) {
        waiter->identity = zframe_dup(identity);
        waiter->request_id = req->request_id;
        waiter->target = target;
        waiter->names = names;
        names = (cs_strs_t){0};
        waiter->since = cs_clock_mono_ms();
        zlistx_t *list = waiter->names.count ? self->named : self->waiters;
        if (waiter->identity && zlistx_add_end(list, waiter))
            peer->waiters++;
        else
            s_waiter_free(&waiter);
    }
    cs_strs_clear(&names);
    if (key)
        s_peer_release(self, key);
    free(key);
}

bool cs_control_on_socket(cs_control_t *self)
{
    int64_t now = zclock_usecs();
    if (!self->requests_since)
        self->requests_since = now;
    else if (now - self->requests_since >= S_REQUESTS_BUDGET_US)
        return false; /* the rest wait for the next turn */
    zframe_t *identity = NULL;
    cs_msg_t *msg = NULL;
    uint64_t request_id;
    char why[256];
    if (cs_wire_recv_request(self->control, CS_WIRE_ROUTED | CS_WIRE_DONTWAIT, &identity, &msg,
                             &request_id, why, sizeof why) != 0)
        return false;
    if (!msg) { /* answered with its request_id when that could be read, else 0 */
        cs_log_warn("malformed control request: %s", why);
        if (identity)
            s_refuse(self, identity, request_id, why);
        zframe_destroy(&identity);
        return true;
    }
    if (self->deps.recheck)
        self->deps.recheck(self->deps.recheck_arg);
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
        default:
            s_refuse(self, identity, msg->request_id,
                     "unexpected message type on the control channel");
    }
    cs_msg_destroy(&msg);
    zframe_destroy(&identity);
    return true;
}

/* A waiter that got its answer: its client may wait for more, and it is freed. */
static void s_waiter_answered(cs_control_t *self, s_waiter_t **waiter_p)
{
    char *key = zframe_strhex((*waiter_p)->identity);
    s_peer_t *peer = key ? zhashx_lookup(self->peers, key) : NULL;
    if (peer) {
        peer->waiters--;
        s_peer_release(self, key);
    }
    free(key);
    s_waiter_free(waiter_p);
}

void cs_control_refresh_done(cs_control_t *self, uint64_t generation, int64_t elapsed_us)
{
    uint32_t counts[CS_STATUS_COUNT];
    uint32_t total = cs_store_status_counts(self->deps.store, counts); /* once, however many wait */
    /* Waiters are in request order, so their targets never decrease. */
    s_waiter_t *waiter;
    while ((waiter = zlistx_first(self->waiters)) != NULL && waiter->target <= generation) {
        zlistx_detach(self->waiters, NULL);
        cs_msg_t *rep = cs_msg_new(CS_MSG_REFRESH_REP);
        if (rep) {
            rep->request_id = waiter->request_id;
            rep->done = true;
            rep->generation = generation;
            rep->elapsed_us = (uint64_t)elapsed_us;
            rep->total = total;
            memcpy(rep->counts, counts, sizeof counts);
        }
        s_reply(self, waiter->identity, &rep);
        s_waiter_answered(self, &waiter);
    }
}

void cs_control_named_check(cs_control_t *self)
{
    if (zlistx_size(self->named) == 0)
        return;
    bool rechecked = false;
    s_waiter_t *waiter = zlistx_first(self->named);
    while (waiter) {
        s_waiter_t *next = zlistx_next(self->named);
        if (cs_refresh_names_done(self->deps.refresh, &waiter->names, waiter->target)) {
            if (!rechecked && self->deps.recheck) {
                /* as a refresh's "done": the session as it is now, not as the loop last saw
                 * it (the waiters are refused if it is lost) */
                rechecked = true;
                self->deps.recheck(self->deps.recheck_arg);
                char why[CS_PROTO_MAX_ERROR];
                if (s_unavailable(self, why, sizeof why)) {
                    cs_control_fail_waiters(self);
                    return;
                }
            }
            zlistx_delete(self->named, zlistx_find(self->named, waiter));
            cs_msg_t *rep = cs_msg_new(CS_MSG_REFRESH_REP);
            if (rep) {
                rep->request_id = waiter->request_id;
                rep->done = true;
                rep->generation = waiter->target;
                rep->elapsed_us = (uint64_t)(cs_clock_mono_ms() - waiter->since) * 1000;
                for (uint32_t i = 0; i < waiter->names.count; i++) {
                    cs_record_t *row = cs_store_get(self->deps.store, waiter->names.items[i]);
                    const cs_visible_t *v = row ? cs_record_committed(row) : NULL;
                    if (v) {
                        rep->counts[v->status]++;
                        rep->total++;
                    }
                }
            }
            s_reply(self, waiter->identity, &rep);
            s_waiter_answered(self, &waiter);
        }
        waiter = next;
    }
}

void cs_control_fail_waiters(cs_control_t *self)
{
    char why[CS_PROTO_MAX_ERROR];
    if (!s_unavailable(self, why, sizeof why))
        return;
    zlistx_t *lists[] = {self->waiters, self->named};
    for (int i = 0; i < 2; i++) {
        s_waiter_t *waiter;
        while ((waiter = zlistx_detach(lists[i], NULL)) != NULL) {
            s_refuse(self, waiter->identity, waiter->request_id, why);
            s_waiter_answered(self, &waiter);
        }
    }
}
