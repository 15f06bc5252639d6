/* Unit tests of libconnstate subscriptions against a fake supervisor in this process: an
 * XPUB (so that the test knows when the subscription is live) and a control ROUTER. The
 * subscriber asks for a snapshot only once a message came on SUB: each test publishes one
 * (a heartbeat, or a STATE) before it awaits the first request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connstate.h"
#include "cs_wire.h"

typedef struct {
    zsock_t *pub;
    zsock_t *control;
    connstate_sub_t *sub;
    char changes[64][96]; /* "seq name status[+snapshot]" */
    int count;
} s_fake_t;

static int s_n;

static void s_on_change(const connstate_change_t *c, void *arg)
{
    s_fake_t *f = arg;
    if (f->count < 64)
        snprintf(f->changes[f->count++], sizeof f->changes[0], "%llu %s %s%s",
                 (unsigned long long)c->seq, c->connection, c->status,
                 c->snapshot ? " snapshot" : "");
}

static int s_setup(void **state)
{
    s_fake_t *f = calloc(1, sizeof *f);
    char pub[64], control[64];
    snprintf(pub, sizeof pub, "inproc://pub-%d", s_n);
    snprintf(control, sizeof control, "inproc://control-%d", s_n++);
    f->pub = zsock_new(ZMQ_XPUB);
    f->control = zsock_new(ZMQ_ROUTER);
    assert_int_equal(zsock_bind(f->pub, "%s", pub), 0);
    assert_int_equal(zsock_bind(f->control, "%s", control), 0);
    zsock_set_rcvtimeo(f->pub, 5000);
    zsock_set_rcvtimeo(f->control, 5000);
    f->sub = connstate_sub_new(pub, control, getenv("TEST_PREFIX"), s_on_change, f);
    assert_non_null(f->sub);
    /* the subscription reaches the XPUB: from now on nothing published is lost */
    zframe_t *subscription = zframe_recv(f->pub);
    assert_non_null(subscription);
    assert_int_equal(zframe_data(subscription)[0], 1);
    zframe_destroy(&subscription);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    s_fake_t *f = *state;
    connstate_sub_destroy(&f->sub);
    zsock_destroy(&f->pub);
    zsock_destroy(&f->control);
    free(f);
    return 0;
}

static void s_publish(s_fake_t *f, uint64_t seq, const char *name, cs_status_t status)
{
    cs_msg_t *msg = cs_msg_new(CS_MSG_STATE);
    msg->seq = seq;
    msg->connection = strdup(name);
    msg->status = status;
    msg->time_us = 1000;
    assert_int_equal(cs_wire_send(f->pub, NULL, name, msg), 0);
    cs_msg_destroy(&msg);
}

/* A heartbeat; db_down_since and standby as the supervisor fills them (0, false: active). */
static void s_heartbeat_db(s_fake_t *f, uint64_t seq, uint64_t instance, int64_t db_down_since,
                           bool standby)
{
    cs_msg_t *msg = cs_msg_new(CS_MSG_PUB_HEARTBEAT);
    msg->seq = seq;
    msg->instance = instance;
    msg->db_down_since = db_down_since;
    msg->standby = standby;
    assert_int_equal(cs_wire_send(f->pub, NULL, "!hb", msg), 0);
    cs_msg_destroy(&msg);
}

static void s_heartbeat(s_fake_t *f, uint64_t seq, uint64_t instance)
{
    s_heartbeat_db(f, seq, instance, 0, false);
}

/* Runs the subscriber until it asks for a snapshot, and returns the request (caller frees). */
static cs_msg_t *s_await_request(s_fake_t *f, zframe_t **peer)
{
    for (int i = 0; i < 100; i++) {
        connstate_sub_run(f->sub, 10);
        if (zsock_events(f->control) & ZMQ_POLLIN)
            break;
    }
    cs_msg_t *req = NULL;
    char why[128];
    assert_int_equal(cs_wire_recv(f->control, CS_WIRE_ROUTED, peer, &req, why, sizeof why), 0);
    assert_non_null(req);
    assert_int_equal(req->type, CS_MSG_SNAPSHOT_REQ);
    return req;
}

/* Answers a snapshot request with rows "name:status" and the given end seq and instance. */
static void s_answer(s_fake_t *f, zframe_t *peer, const cs_msg_t *req, uint64_t seq,
                     uint64_t instance, const char *const *rows, int n, int claim_total)
{
    cs_msg_t *msg = cs_msg_new(CS_MSG_SNAPSHOT_ROWS);
    msg->request_id = req->request_id;
    for (int i = 0; i < n; i++)
        assert_int_equal(cs_msg_add_row(msg, rows[i], CS_STATUS_READY, NULL, 5, false, seq, NULL),
                         0);
    assert_int_equal(cs_wire_send(f->control, peer, NULL, msg), 0);
    cs_msg_destroy(&msg);
    msg = cs_msg_new(CS_MSG_SNAPSHOT_END);
    msg->request_id = req->request_id;
    msg->seq = seq;
    msg->instance = instance;
    msg->total = (uint32_t)(claim_total >= 0 ? claim_total : n);
    assert_int_equal(cs_wire_send(f->control, peer, NULL, msg), 0);
    cs_msg_destroy(&msg);
}

static void s_run(s_fake_t *f)
{
    for (int i = 0; i < 5; i++)
        connstate_sub_run(f->sub, 5);
}

static void s_sync(s_fake_t *f, uint64_t seq, uint64_t instance, const char *const *rows, int n)
{
    zframe_t *peer;
    cs_msg_t *req = s_await_request(f, &peer);
    s_answer(f, peer, req, seq, instance, rows, n, -1);
    cs_msg_destroy(&req);
    zframe_destroy(&peer);
    s_run(f);
    assert_true(connstate_sub_synced(f->sub));
}

static void test_snapshot_then_live(void **state)
{
    s_fake_t *f = *state;
    const char *rows[] = {"b", "a"};
    uint64_t snap_seq = 99;
    assert_int_equal(connstate_sub_snapshots(f->sub, &snap_seq), 0);
    assert_int_equal(snap_seq, 0);
    s_heartbeat(f, 5, 77);
    s_sync(f, 5, 77, rows, 2);
    assert_int_equal(connstate_sub_snapshots(f->sub, &snap_seq), 1);
    assert_int_equal(snap_seq, 5);
    assert_int_equal(connstate_sub_size(f->sub), 2);
    assert_int_equal(connstate_sub_seq(f->sub), 5);
    assert_int_equal(f->count, 2);
    assert_string_equal(f->changes[0], "5 a ready snapshot"); /* in name order */
    assert_string_equal(f->changes[1], "5 b ready snapshot");
    s_publish(f, 6, "a", CS_STATUS_UPDATING);
    s_publish(f, 5, "b", CS_STATUS_ERROR); /* old: dropped */
    s_publish(f, 7, "c", CS_STATUS_PENDING);
    s_run(f);
    assert_int_equal(f->count, 4);
    assert_string_equal(f->changes[2], "6 a updating");
    assert_string_equal(f->changes[3], "7 c pending");
    assert_int_equal(connstate_sub_count(f->sub, "ready"), 1);
    assert_int_equal(connstate_sub_resyncs(f->sub), 0);
}

/* The snapshot's rows come in name order, however many and in whatever order they came. */
static void test_snapshot_rows_in_name_order(void **state)
{
    s_fake_t *f = *state;
    const char *rows[] = {"t_9", "q", "m_2", "z", "a_7", "k", "b", "y_1", "c_3", "x",
                          "d",   "w", "e_5", "v", "f",   "u", "g", "s_8", "h",   "r"};
    int n = (int)(sizeof rows / sizeof *rows);
    s_heartbeat(f, 3, 1);
    s_sync(f, 3, 1, rows, n);
    assert_int_equal(f->count, n);
    for (int i = 1; i < n; i++) {
        const char *prev = strchr(f->changes[i - 1], ' ') + 1,
                   *next = strchr(f->changes[i], ' ') + 1;
        if (strcmp(prev, next) >= 0)
            fail_msg("snapshot rows out of name order: '%s' before '%s'", f->changes[i - 1],
                     f->changes[i]);
    }
}

static void test_updates_during_sync_are_buffered(void **state)
{
    s_fake_t *f = *state;
    zframe_t *peer;
    s_publish(f, 3, "x", CS_STATUS_UPDATING); /* a STATE is a first message too */
    cs_msg_t *req = s_await_request(f, &peer);
    for (uint64_t seq = 4; seq <= 7; seq++)
        s_publish(f, seq, "x", seq % 2 ? CS_STATUS_UPDATING : CS_STATUS_READY);
    s_run(f); /* they arrive while the snapshot is awaited */
    assert_false(connstate_sub_synced(f->sub));
    assert_int_equal(f->count, 0);
    const char *rows[] = {"x"};
    s_answer(f, peer, req, 5, 1, rows, 1, -1);
    s_run(f);
    /* the snapshot at 5, then 6 and 7; 3..5 are in the snapshot already */
    assert_int_equal(f->count, 3);
    assert_string_equal(f->changes[0], "5 x ready snapshot");
    assert_string_equal(f->changes[1], "6 x ready");
    assert_string_equal(f->changes[2], "7 x updating");
    assert_int_equal(connstate_sub_seq(f->sub), 7);
    cs_msg_destroy(&req);
    zframe_destroy(&peer);
}

/* A snapshot served in slices: its END has the seq from when it started, and rows read later
 * carry newer seqs. The final state is right, and no change is shown twice. */
static void test_rows_newer_than_the_snapshot(void **state)
{
    s_fake_t *f = *state;
    zframe_t *peer;
    s_heartbeat(f, 5, 1);
    cs_msg_t *req = s_await_request(f, &peer);
    s_publish(f, 6, "x", CS_STATUS_UPDATING);
    s_publish(f, 7, "x", CS_STATUS_READY);
    s_publish(f, 8, "y", CS_STATUS_ERROR);
    s_publish(f, 9, "z", CS_STATUS_PENDING); /* added after the start: not in the snapshot */
    s_publish(f, 10, "x", CS_STATUS_DELETED);
    s_run(f);
    cs_msg_t *msg = cs_msg_new(CS_MSG_SNAPSHOT_ROWS);
    msg->request_id = req->request_id;
    assert_int_equal(cs_msg_add_row(msg, "x", CS_STATUS_READY, NULL, 5, false, 7, NULL), 0);
    assert_int_equal(cs_msg_add_row(msg, "y", CS_STATUS_READY, NULL, 5, false, 3, NULL), 0);
    assert_int_equal(cs_wire_send(f->control, peer, NULL, msg), 0);
    cs_msg_destroy(&msg);
    msg = cs_msg_new(CS_MSG_SNAPSHOT_END);
    msg->request_id = req->request_id;
    msg->seq = 5;
    msg->instance = 1;
    msg->total = 2;
    assert_int_equal(cs_wire_send(f->control, peer, NULL, msg), 0);
    cs_msg_destroy(&msg);
    s_run(f);
    assert_true(connstate_sub_synced(f->sub));
    assert_int_equal(f->count, 5);
    assert_string_equal(f->changes[0], "7 x ready snapshot");
    assert_string_equal(f->changes[1], "3 y ready snapshot");
    assert_string_equal(f->changes[2], "8 y error"); /* 6 and 7 are in x's row already */
    assert_string_equal(f->changes[3], "9 z pending");
    assert_string_equal(f->changes[4], "10 x deleted");
    assert_int_equal(connstate_sub_seq(f->sub), 10);
    assert_int_equal(connstate_sub_size(f->sub), 2);
    assert_int_equal(connstate_sub_resyncs(f->sub), 0);
    cs_msg_destroy(&req);
    zframe_destroy(&peer);
}

static void test_gap_resyncs(void **state)
{
    s_fake_t *f = *state;
    const char *rows[] = {"a"};
    s_heartbeat(f, 10, 1);
    s_sync(f, 10, 1, rows, 1);
    s_publish(f, 12, "a", CS_STATUS_ERROR); /* 11 was lost */
    zframe_t *peer;
    cs_msg_t *req = s_await_request(f, &peer);
    assert_int_equal(connstate_sub_resyncs(f->sub), 1);
    assert_false(connstate_sub_synced(f->sub));
    const char *now[] = {"a", "z"};
    assert_int_equal(connstate_sub_snapshots(f->sub, NULL), 1); /* not applied yet */
    s_answer(f, peer, req, 12, 1, now, 2, -1);
    s_run(f);
    uint64_t snap_seq;
    assert_int_equal(connstate_sub_snapshots(f->sub, &snap_seq), 2); /* the resync's */
    assert_int_equal(snap_seq, 12);
    assert_true(connstate_sub_synced(f->sub));
    assert_int_equal(connstate_sub_size(f->sub), 2);
    assert_int_equal(connstate_sub_seq(f->sub), 12);
    cs_msg_destroy(&req);
    zframe_destroy(&peer);
}

static void test_restart_and_missed_tail_resync(void **state)
{
    s_fake_t *f = *state;
    const char *rows[] = {"a", "gone"};
    s_heartbeat(f, 4, 1);
    s_sync(f, 4, 1, rows, 2);
    s_heartbeat(f, 4, 1); /* same instance, nothing missed */
    s_run(f);
    assert_true(connstate_sub_synced(f->sub));
    s_heartbeat(f, 9, 1); /* changes 5..9 never arrived */
    zframe_t *peer;
    cs_msg_t *req = s_await_request(f, &peer);
    assert_int_equal(connstate_sub_resyncs(f->sub), 1);
    s_answer(f, peer, req, 9, 1, rows, 2, -1);
    cs_msg_destroy(&req);
    zframe_destroy(&peer);
    s_run(f);
    s_heartbeat(f, 9, 2); /* a new supervisor instance */
    req = s_await_request(f, &peer);
    assert_int_equal(connstate_sub_resyncs(f->sub), 2);
    const char *after[] = {"a"}; /* "gone" vanished while the supervisor was down */
    f->count = 0;
    s_answer(f, peer, req, 9, 2, after, 1, -1);
    s_run(f);
    assert_int_equal(connstate_sub_size(f->sub), 1);
    assert_string_equal(f->changes[0], "9 gone deleted snapshot");
    cs_msg_destroy(&req);
    zframe_destroy(&peer);
}

static void test_incomplete_snapshot_is_requested_again(void **state)
{
    s_fake_t *f = *state;
    zframe_t *peer;
    s_heartbeat(f, 3, 1);
    cs_msg_t *req = s_await_request(f, &peer);
    const char *rows[] = {"a"};
    s_answer(f, peer, req, 3, 1, rows, 1, 2); /* claims 2 rows, sent 1 */
    cs_msg_destroy(&req);
    zframe_destroy(&peer);
    req = s_await_request(f, &peer);
    assert_false(connstate_sub_synced(f->sub));
    s_answer(f, peer, req, 3, 1, rows, 1, -1);
    s_run(f);
    assert_true(connstate_sub_synced(f->sub));
    cs_msg_destroy(&req);
    zframe_destroy(&peer);
}

static void test_deleted_rows(void **state)
{
    s_fake_t *f = *state;
    const char *rows[] = {"a", "b"};
    s_heartbeat(f, 1, 1);
    s_sync(f, 1, 1, rows, 2);
    s_publish(f, 2, "a", CS_STATUS_DELETED);
    s_run(f);
    assert_int_equal(connstate_sub_size(f->sub), 1);
    assert_string_equal(f->changes[2], "2 a deleted");
}

static void test_prefix(void **state)
{
    s_fake_t *f = *state;
    const char *rows[] = {"aws_1"}; /* the supervisor filters snapshots by the prefix */
    s_heartbeat(f, 1, 1);
    s_sync(f, 1, 1, rows, 1);
    s_publish(f, 2, "gcp_1", CS_STATUS_READY); /* counted for sequencing, not kept */
    s_publish(f, 3, "aws_2", CS_STATUS_READY);
    s_run(f);
    assert_int_equal(connstate_sub_size(f->sub), 2);
    assert_int_equal(connstate_sub_seq(f->sub), 3);
    assert_int_equal(connstate_sub_resyncs(f->sub), 0);
    assert_string_equal(f->changes[f->count - 1], "3 aws_2 ready");
}

/* The supervisor's database state comes from its heartbeats, whatever the subscription's
 * own state, and goes away when a heartbeat no longer carries it. */
static void test_supervisor_state_from_heartbeats(void **state)
{
    s_fake_t *f = *state;
    int64_t since = -1;
    assert_int_equal(connstate_sub_supervisor_state(f->sub, &since), CONNSTATE_SUPERVISOR_UNKNOWN);
    assert_int_equal(since, 0);
    const int64_t down = 1764600000123456; /* 2025-12-01T14:40:00.123456Z */
    s_heartbeat_db(f, 0, 1, down, false);  /* before any snapshot: the first one is refused */
    s_run(f);
    assert_int_equal(connstate_sub_supervisor_state(f->sub, &since), CONNSTATE_SUPERVISOR_DB_DOWN);
    assert_int_equal(since, down);
    const char *rows[] = {"a"};
    s_sync(f, 4, 1, rows, 1);
    s_heartbeat_db(f, 4, 1, down, false); /* synced, and down again: the rows stay */
    s_run(f);
    assert_int_equal(connstate_sub_supervisor_state(f->sub, NULL), CONNSTATE_SUPERVISOR_DB_DOWN);
    assert_true(connstate_sub_synced(f->sub));
    assert_int_equal(connstate_sub_size(f->sub), 1);
    s_heartbeat_db(f, 4, 1, 0, true);
    s_run(f);
    assert_int_equal(connstate_sub_supervisor_state(f->sub, &since), CONNSTATE_SUPERVISOR_STANDBY);
    assert_int_equal(since, 0);
    s_heartbeat_db(f, 4, 1, down + 1, true); /* no session: it cannot know it is a standby */
    s_run(f);
    assert_int_equal(connstate_sub_supervisor_state(f->sub, &since), CONNSTATE_SUPERVISOR_DB_DOWN);
    assert_int_equal(since, down + 1);
    s_heartbeat(f, 4, 1);
    s_run(f);
    assert_int_equal(connstate_sub_supervisor_state(f->sub, &since), CONNSTATE_SUPERVISOR_ACTIVE);
    assert_int_equal(since, 0);
    assert_int_equal(connstate_sub_resyncs(f->sub), 0);
    assert_int_equal(f->count, 1); /* the snapshot's row, nothing else */
}

/* Answers an ERROR to a snapshot request, as a supervisor without its database does. */
static void s_refuse(s_fake_t *f, zframe_t *peer, const cs_msg_t *req, const char *reason)
{
    cs_msg_t *msg = cs_msg_new(CS_MSG_ERROR);
    msg->request_id = req->request_id;
    msg->reason = strdup(reason);
    assert_int_equal(cs_wire_send(f->control, peer, NULL, msg), 0);
    cs_msg_destroy(&msg);
}

/* A snapshot refused while the database is down is asked for again as soon as a heartbeat
 * says it is back, not only on the 2 s retry timer. */
static void test_refused_snapshot_asked_again_when_back(void **state)
{
    s_fake_t *f = *state;
    zframe_t *peer;
    s_heartbeat(f, 7, 1);
    cs_msg_t *req = s_await_request(f, &peer);
    s_heartbeat_db(f, 7, 1, 1764600000000000, false);
    s_refuse(f, peer, req, "database unavailable since 2025-12-01T14:40:00Z: connection refused");
    s_run(f);
    assert_false(connstate_sub_synced(f->sub));
    cs_msg_destroy(&req);
    zframe_destroy(&peer);
    int64_t back = zclock_mono();
    s_heartbeat(f, 9, 1);
    req = s_await_request(f, &peer);
    int64_t asked_after = zclock_mono() - back;
    if (asked_after > 1000)
        fail_msg("asked again %lld ms after the database was back", (long long)asked_after);
    const char *rows[] = {"a"};
    s_answer(f, peer, req, 9, 1, rows, 1, -1);
    s_run(f);
    assert_true(connstate_sub_synced(f->sub));
    assert_int_equal(connstate_sub_seq(f->sub), 9);
    cs_msg_destroy(&req);
    zframe_destroy(&peer);
}

/* Answers a snapshot request with rows "name status seq" (status as in cs_status_t). */
typedef struct {
    const char *name;
    cs_status_t status;
    uint64_t seq;
} s_spec_t;

static void s_answer_rows(s_fake_t *f, zframe_t *peer, const cs_msg_t *req, uint64_t seq,
                          const s_spec_t *rows, int n)
{
    cs_msg_t *msg = cs_msg_new(CS_MSG_SNAPSHOT_ROWS);
    msg->request_id = req->request_id;
    for (int i = 0; i < n; i++)
        assert_int_equal(
            cs_msg_add_row(msg, rows[i].name, rows[i].status, NULL, 5, false, rows[i].seq, NULL),
            0);
    assert_int_equal(cs_wire_send(f->control, peer, NULL, msg), 0);
    cs_msg_destroy(&msg);
    msg = cs_msg_new(CS_MSG_SNAPSHOT_END);
    msg->request_id = req->request_id;
    msg->seq = seq;
    msg->instance = 1;
    msg->total = (uint32_t)n;
    assert_int_equal(cs_wire_send(f->control, peer, NULL, msg), 0);
    cs_msg_destroy(&msg);
}

/* After an outage the supervisor's seq jumps (it wrote changes it could not publish): the
 * subscriber takes a new snapshot and reports each change once: what the snapshot changed
 * or removed, not the rows it already held, and no live change it already has. */
static void test_outage_seq_jump_reports_each_change_once(void **state)
{
    s_fake_t *f = *state;
    zframe_t *peer;
    s_heartbeat(f, 10, 1);
    cs_msg_t *req = s_await_request(f, &peer);
    const s_spec_t before[] = {
        {"a", CS_STATUS_READY, 3}, {"b", CS_STATUS_UPDATING, 8}, {"c", CS_STATUS_READY, 10}};
    s_answer_rows(f, peer, req, 10, before, 3);
    cs_msg_destroy(&req);
    zframe_destroy(&peer);
    s_run(f);
    assert_int_equal(f->count, 3);
    s_heartbeat_db(f, 10, 1, 1764600000000000, false); /* down: nothing is published */
    s_run(f);
    assert_int_equal(connstate_sub_resyncs(f->sub), 0);
    s_heartbeat(f, 14, 1); /* back, and 11..14 were written but never published */
    req = s_await_request(f, &peer);
    assert_int_equal(connstate_sub_resyncs(f->sub), 1);
    s_publish(f, 15, "b", CS_STATUS_READY); /* live, while the snapshot is served */
    s_publish(f, 16, "d", CS_STATUS_READY);
    s_run(f);
    const s_spec_t after[] = {{"a", CS_STATUS_READY, 3},
                              {"b", CS_STATUS_READY, 15}, /* read after 15 was published */
                              {"d", CS_STATUS_PENDING, 13},
                              {"e", CS_STATUS_ERROR, 12}};
    f->count = 0;
    s_answer_rows(f, peer, req, 14, after, 4);
    s_run(f);
    assert_true(connstate_sub_synced(f->sub));
    assert_int_equal(f->count, 5);
    assert_string_equal(f->changes[0], "10 c deleted snapshot"); /* gone while it was down */
    assert_string_equal(f->changes[1], "15 b ready snapshot");
    assert_string_equal(f->changes[2], "13 d pending snapshot");
    assert_string_equal(f->changes[3], "12 e error snapshot");
    assert_string_equal(f->changes[4], "16 d ready"); /* 15 is in b's row already */
    assert_int_equal(connstate_sub_seq(f->sub), 16);
    assert_int_equal(connstate_sub_size(f->sub), 4);
    s_heartbeat(f, 16, 1);
    s_publish(f, 16, "d", CS_STATUS_READY); /* again: dropped */
    s_run(f);
    assert_int_equal(f->count, 5);
    assert_int_equal(connstate_sub_resyncs(f->sub), 1);
    cs_msg_destroy(&req);
    zframe_destroy(&peer);
}

/* Runs the subscriber for ms and tells whether it sent anything on the control channel. */
static bool s_asked_within(s_fake_t *f, int ms)
{
    int64_t end = zclock_mono() + ms;
    while (zclock_mono() < end) {
        connstate_sub_run(f->sub, 10);
        if (zsock_events(f->control) & ZMQ_POLLIN)
            return true;
    }
    return false;
}

/* No snapshot is asked for before a message came on SUB (the subscription could still be on
 * its way to a supervisor that just started); at once when one comes. */
static void test_snapshot_asked_after_first_message(void **state)
{
    s_fake_t *f = *state;
    if (s_asked_within(f, 500))
        fail_msg("asked for a snapshot before anything came on SUB");
    assert_false(connstate_sub_synced(f->sub));
    int64_t sent = zclock_mono();
    s_heartbeat(f, 4, 1);
    zframe_t *peer;
    cs_msg_t *req = s_await_request(f, &peer);
    int64_t asked_after = zclock_mono() - sent;
    if (asked_after > 200)
        fail_msg("asked %lld ms after the first heartbeat", (long long)asked_after);
    assert_int_not_equal(req->request_id, 0);
    const char *rows[] = {"a"};
    s_answer(f, peer, req, 4, 1, rows, 1, -1);
    s_publish(f, 5, "a", CS_STATUS_UPDATING); /* right after the snapshot: not missed */
    s_run(f);
    assert_true(connstate_sub_synced(f->sub));
    assert_int_equal(f->count, 2);
    assert_string_equal(f->changes[1], "5 a updating");
    assert_int_equal(connstate_sub_resyncs(f->sub), 0);
    cs_msg_destroy(&req);
    zframe_destroy(&peer);
}

/* After a silence (3 s without a message on SUB) the new snapshot also waits for the next
 * message on SUB, and an answer to what was asked before the silence is not taken. */
static void test_silence_waits_for_sub_again(void **state)
{
    s_fake_t *f = *state;
    const char *rows[] = {"a"};
    s_heartbeat(f, 2, 1);
    s_sync(f, 2, 1, rows, 1);
    int64_t end = zclock_mono() + 5000;
    while (connstate_sub_resyncs(f->sub) == 0 && zclock_mono() < end)
        connstate_sub_run(f->sub, 100);
    assert_int_equal(connstate_sub_resyncs(f->sub), 1); /* "the supervisor fell silent" */
    assert_false(connstate_sub_synced(f->sub));
    if (s_asked_within(f, 300))
        fail_msg("asked for a snapshot while SUB was silent");
    s_heartbeat(f, 3, 2); /* a restarted supervisor */
    zframe_t *peer;
    cs_msg_t *req = s_await_request(f, &peer);
    const char *now[] = {"a", "b"};
    s_answer(f, peer, req, 3, 2, now, 2, -1);
    s_run(f);
    assert_true(connstate_sub_synced(f->sub));
    assert_int_equal(connstate_sub_size(f->sub), 2);
    assert_int_equal(connstate_sub_resyncs(f->sub), 1);
    cs_msg_destroy(&req);
    zframe_destroy(&peer);
}

static int s_setup_prefix(void **state)
{
    setenv("TEST_PREFIX", "aws_", 1);
    int rc = s_setup(state);
    unsetenv("TEST_PREFIX");
    return rc;
}

int main(void)
{
    zsys_handler_set(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_snapshot_asked_after_first_message, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_silence_waits_for_sub_again, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_then_live, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_rows_in_name_order, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_updates_during_sync_are_buffered, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_rows_newer_than_the_snapshot, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_gap_resyncs, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_restart_and_missed_tail_resync, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_incomplete_snapshot_is_requested_again, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_deleted_rows, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_prefix, s_setup_prefix, s_teardown),
        cmocka_unit_test_setup_teardown(test_supervisor_state_from_heartbeats, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_refused_snapshot_asked_again_when_back, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_outage_seq_jump_reports_each_change_once, s_setup,
                                        s_teardown),
    };
    int rc = cmocka_run_group_tests_name("sub", tests, NULL, NULL);
    zsys_shutdown();
    return rc;
}
