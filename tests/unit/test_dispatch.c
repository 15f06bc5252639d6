/* Unit tests of the dispatcher (supervisor/dispatch.c) against fake workers in this process
 * over inproc: capacity, leases and re-dispatch, one task per connection, the caps, and the
 * events the results stage gets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../supervisor/supervisor.h"

static int s_endpoint_id = 0;
static int s_quarantine_ms = 0; /* the next bench's first quarantine (0: the default) */
static char s_endpoint[64];

typedef struct {
    zsock_t *router;
    cs_dispatch_t *dispatch;
} s_bench_t;

static s_bench_t s_bench(int lease_ms, int max_attempts, uint32_t max_capacity, size_t max_workers)
{
    snprintf(s_endpoint, sizeof s_endpoint, "inproc://dispatch-%d", ++s_endpoint_id);
    s_bench_t b;
    b.router = zsock_new_router(s_endpoint);
    assert_non_null(b.router);
    cs_dispatch_limits_t limits = {.max_attempts = max_attempts,
                                   .lease_ms = lease_ms,
                                   .peer_timeout_ms = 10000,
                                   .max_capacity = max_capacity,
                                   .max_workers = max_workers,
                                   .quarantine_ms = s_quarantine_ms};
    b.dispatch = cs_dispatch_new(b.router, limits);
    assert_non_null(b.dispatch);
    return b;
}

static void s_bench_free(s_bench_t *b)
{
    cs_dispatch_destroy(&b->dispatch);
    zsock_destroy(&b->router);
}

/* A fake worker: announces capacity under its name. */
static zsock_t *s_worker(const char *name, uint32_t capacity)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    zsock_set_identity(sock, name);
    assert_int_equal(zsock_connect(sock, "%s", s_endpoint), 0);
    cs_msg_t *ready = cs_msg_new(CS_MSG_READY);
    ready->capacity = capacity;
    ready->name = strdup(name);
    assert_int_equal(cs_wire_send(sock, NULL, NULL, ready), 0);
    cs_msg_destroy(&ready);
    return sock;
}

/* Lets the dispatcher read and pump for ms milliseconds. */
static void s_spin(s_bench_t *b, int ms)
{
    int64_t until = cs_clock_mono_ms() + ms;
    do {
        while (cs_dispatch_on_socket(b->dispatch))
            ;
        cs_dispatch_pump(b->dispatch);
        zclock_sleep(2);
    } while (cs_clock_mono_ms() < until);
}

/* The TASKs a fake worker has received by now (the caller destroys them, NULL-ended). */
static int s_tasks(zsock_t *worker, cs_msg_t **tasks, int max)
{
    int n = 0;
    char why[256];
    while (n < max && (zsock_events(worker) & ZMQ_POLLIN)) {
        cs_msg_t *msg = NULL;
        if (cs_wire_recv(worker, CS_WIRE_DONTWAIT, NULL, &msg, why, sizeof why) != 0)
            break;
        if (msg && msg->type == CS_MSG_TASK)
            tasks[n++] = msg;
        else
            cs_msg_destroy(&msg);
    }
    return n;
}

static void s_free_tasks(cs_msg_t **tasks, int n)
{
    for (int i = 0; i < n; i++)
        cs_msg_destroy(&tasks[i]);
}

/* Answers a TASK. */
static void s_answer(zsock_t *worker, const cs_msg_t *task, bool ok)
{
    cs_msg_t *result = cs_msg_new(CS_MSG_RESULT);
    result->task_id = task->task_id;
    result->connection = strdup(task->connection);
    result->kind = task->kind;
    result->ok = ok;
    if (!ok)
        result->error = strdup("it failed");
    assert_int_equal(cs_wire_send(worker, NULL, NULL, result), 0);
    cs_msg_destroy(&result);
}

/* Answers a TASK with a worker-side failure (retry and worker_fault), saying why; version:
 * the plugin's version at the worker (NULL: none). */
static void s_answer_worker_fault(zsock_t *worker, const cs_msg_t *task, const char *why,
                                  const char *version)
{
    cs_msg_t *result = cs_msg_new(CS_MSG_RESULT);
    result->task_id = task->task_id;
    result->connection = strdup(task->connection);
    result->kind = task->kind;
    result->ok = false;
    result->retry = true;
    result->worker_fault = true;
    result->error = strdup(why);
    result->plugin_version = version ? strdup(version) : NULL;
    assert_int_equal(cs_wire_send(worker, NULL, NULL, result), 0);
    cs_msg_destroy(&result);
}

/* A fake worker's HEARTBEAT: the tasks it holds, and the last one it received. */
static void s_heartbeat(zsock_t *worker, uint32_t in_flight, uint64_t last_task_id)
{
    cs_msg_t *hb = cs_msg_new(CS_MSG_HEARTBEAT);
    hb->in_flight = in_flight;
    hb->last_task_id = last_task_id;
    assert_int_equal(cs_wire_send(worker, NULL, NULL, hb), 0);
    cs_msg_destroy(&hb);
}

static void s_add(s_bench_t *b, cs_task_kind_t kind, const char *name, const char *fingerprint)
{
    cs_task_t *task = cs_task_new(kind, name, "synthetic", "{}", fingerprint,
                                  kind == CS_TASK_DELETE ? NULL : "1.0");
    assert_non_null(task);
    cs_dispatch_add(b->dispatch, &task);
    assert_null(task);
}

/* The next event of a kind (others are skipped), or NULL. */
static cs_event_t *s_event(s_bench_t *b, cs_event_kind_t kind)
{
    cs_event_t *event;
    while ((event = cs_dispatch_next_event(b->dispatch)) != NULL) {
        if (event->kind == kind)
            return event;
        cs_event_destroy(&event);
    }
    return NULL;
}

static void test_capacity_is_respected_and_capped(void **state)
{
    (void)state;
    s_bench_t b = s_bench(60000, 3, 3, 16);
    zsock_t *small = s_worker("small", 2), *greedy = s_worker("greedy", 1000);
    s_spin(&b, 50);
    for (int i = 0; i < 20; i++) {
        char name[16];
        snprintf(name, sizeof name, "c_%d", i);
        s_add(&b, CS_TASK_BUILD, name, "f1");
    }
    s_spin(&b, 50);
    cs_msg_t *tasks[32];
    int n_small = s_tasks(small, tasks, 32);
    s_free_tasks(tasks, n_small);
    int n_greedy = s_tasks(greedy, tasks, 32);
    assert_int_equal(n_small, 2);  /* its own capacity */
    assert_int_equal(n_greedy, 3); /* what it claimed, capped */
    assert_int_equal(cs_dispatch_outstanding(b.dispatch), 20);
    assert_int_equal(cs_dispatch_queued(b.dispatch), 15);
    assert_int_equal(cs_dispatch_in_flight(b.dispatch), 5); /* 2 + 3 at the workers */
    /* an answer frees a place: the next task goes there */
    s_answer(greedy, tasks[0], true);
    s_spin(&b, 50);
    cs_event_t *event = s_event(&b, CS_EVENT_RESULT);
    assert_non_null(event);
    assert_string_equal(event->connection, tasks[0]->connection);
    assert_string_equal(event->worker, "greedy");
    assert_true(event->result->ok);
    cs_event_destroy(&event);
    s_free_tasks(tasks, n_greedy);
    assert_int_equal(s_tasks(greedy, tasks, 32), 1);
    s_free_tasks(tasks, 1);
    zsock_destroy(&small);
    zsock_destroy(&greedy);
    s_bench_free(&b);
}

static void test_an_expired_lease_goes_to_another_worker_then_is_lost(void **state)
{
    (void)state;
    s_bench_t b = s_bench(100, 2, 16, 16);
    zsock_t *first = s_worker("first", 4);
    s_spin(&b, 50);
    s_add(&b, CS_TASK_BUILD, "slow", "f1");
    s_spin(&b, 30);
    cs_msg_t *tasks[4];
    assert_int_equal(s_tasks(first, tasks, 4), 1);
    assert_int_equal(tasks[0]->attempt, 1);
    s_free_tasks(tasks, 1);
    zsock_t *second = s_worker("second", 4);
    s_spin(&b, 250); /* the lease (100 ms) expires: attempt 2, at the other worker */
    assert_int_equal(s_tasks(first, tasks, 4), 0);
    assert_int_equal(s_tasks(second, tasks, 4), 1);
    assert_int_equal(tasks[0]->attempt, 2);
    s_free_tasks(tasks, 1);
    s_spin(&b, 250); /* and again: 2 attempts were all it had */
    cs_event_t *lost = s_event(&b, CS_EVENT_LOST);
    assert_non_null(lost);
    assert_string_equal(lost->connection, "slow");
    assert_non_null(strstr(lost->why, "attempted 2 times"));
    cs_event_destroy(&lost);
    assert_int_equal(cs_dispatch_outstanding(b.dispatch), 0);
    zsock_destroy(&first);
    zsock_destroy(&second);
    s_bench_free(&b);
}

static void test_one_task_per_connection(void **state)
{
    (void)state;
    s_bench_t b = s_bench(60000, 3, 16, 16);
    /* no worker yet: the same update twice is queued once, comments behind an update none */
    s_add(&b, CS_TASK_BUILD, "x", "f1");
    s_add(&b, CS_TASK_BUILD, "x", "f1");
    s_add(&b, CS_TASK_COMMENTS, "x", "f1");
    assert_int_equal(cs_dispatch_queued(b.dispatch), 1);
    /* a newer update replaces the queued one */
    s_add(&b, CS_TASK_BUILD, "x", "f2");
    assert_int_equal(cs_dispatch_queued(b.dispatch), 1);
    zsock_t *a = s_worker("a", 4), *other = s_worker("other", 4);
    s_spin(&b, 50);
    cs_msg_t *tasks[4];
    int got = s_tasks(a, tasks, 4);
    zsock_t *holder = a;
    if (!got) {
        got = s_tasks(other, tasks, 4);
        holder = other;
    }
    assert_int_equal(got, 1);
    assert_string_equal(tasks[0]->fingerprint, "f2");
    assert_true(cs_dispatch_update_in_flight(b.dispatch, "x"));
    /* while it is in flight, a different one is held, and the one in flight superseded */
    s_add(&b, CS_TASK_BUILD, "x", "f3");
    s_spin(&b, 50);
    cs_msg_t *none[4];
    assert_int_equal(s_tasks(a, none, 4) + s_tasks(other, none, 4), 0);
    s_answer(holder, tasks[0], true);
    s_spin(&b, 50);
    cs_event_t *event = s_event(&b, CS_EVENT_RESULT);
    assert_non_null(event);
    assert_true(event->superseded); /* its result no longer counts */
    cs_event_destroy(&event);
    s_free_tasks(tasks, 1);
    got = s_tasks(a, tasks, 4);
    got += s_tasks(other, tasks + got, 4);
    assert_int_equal(got, 1); /* the held one goes now */
    assert_string_equal(tasks[0]->fingerprint, "f3");
    s_free_tasks(tasks, got);
    zsock_destroy(&a);
    zsock_destroy(&other);
    s_bench_free(&b);
}

static void s_add_refetch(s_bench_t *b, const char *name, const char *fingerprint)
{
    cs_task_t *task = cs_task_new(CS_TASK_BUILD, name, "folder", "{}", fingerprint, "1.0");
    assert_non_null(task);
    task->refetch = true;
    cs_dispatch_add(b->dispatch, &task);
    assert_null(task);
}

static void test_a_refetch_follows_the_same_work_in_flight(void **state)
{
    (void)state;
    s_bench_t b = s_bench(60000, 3, 16, 16);
    assert_false(cs_dispatch_refetch_pending(b.dispatch, "x"));
    assert_true(cs_dispatch_idle(b.dispatch, "x"));
    s_add_refetch(&b, "x", "f1");
    s_add_refetch(&b, "x", "f1"); /* the same queued: merged */
    assert_int_equal(cs_dispatch_queued(b.dispatch), 1);
    assert_true(cs_dispatch_refetch_pending(b.dispatch, "x"));
    assert_false(cs_dispatch_idle(b.dispatch, "x"));
    zsock_t *a = s_worker("a", 4);
    s_spin(&b, 50);
    cs_msg_t *tasks[4];
    assert_int_equal(s_tasks(a, tasks, 4), 1);
    assert_true(cs_dispatch_refetch_pending(b.dispatch, "x")); /* in flight */
    /* the same work again while it runs: a plain build's result stands (dropped), a refetch
     * is queued behind it (what it reads may have changed), which does not supersede it */
    s_add(&b, CS_TASK_BUILD, "x", "f1");
    assert_int_equal(cs_dispatch_queued(b.dispatch), 0);
    s_add_refetch(&b, "x", "f1");
    assert_int_equal(cs_dispatch_queued(b.dispatch), 1);
    s_spin(&b, 50);
    cs_msg_t *none[4];
    assert_int_equal(s_tasks(a, none, 4), 0); /* held while the first runs */
    s_answer(a, tasks[0], true);
    s_spin(&b, 50);
    cs_event_t *event = s_event(&b, CS_EVENT_RESULT);
    assert_non_null(event);
    assert_false(event->superseded); /* its result counts */
    assert_true(event->refetch);
    cs_event_destroy(&event);
    s_free_tasks(tasks, 1);
    assert_int_equal(s_tasks(a, tasks, 4), 1); /* the queued refetch goes now */
    s_answer(a, tasks[0], true);
    s_spin(&b, 50);
    event = s_event(&b, CS_EVENT_RESULT);
    assert_non_null(event);
    cs_event_destroy(&event);
    s_free_tasks(tasks, 1);
    assert_true(cs_dispatch_idle(b.dispatch, "x"));
    /* merged with a queued plain build of the same work, it is a plain build */
    s_add(&b, CS_TASK_BUILD, "y", "f1");
    s_add_refetch(&b, "y", "f1");
    assert_false(cs_dispatch_refetch_pending(b.dispatch, "y"));
    zsock_destroy(&a);
    s_bench_free(&b);
}

static void test_cancel_drops_what_is_queued(void **state)
{
    (void)state;
    s_bench_t b = s_bench(60000, 3, 16, 16);
    s_add(&b, CS_TASK_BUILD, "x", "f1");
    s_add(&b, CS_TASK_DELETE, "y", NULL);
    cs_dispatch_cancel(b.dispatch, "x");
    assert_int_equal(cs_dispatch_queued(b.dispatch), 1);
    assert_int_equal(cs_dispatch_updates_queued(b.dispatch), 1);
    s_bench_free(&b);
}

static void test_workers_beyond_the_cap_are_told_to_go(void **state)
{
    (void)state;
    s_bench_t b = s_bench(60000, 3, 16, 1);
    zsock_t *one = s_worker("one", 4), *two = s_worker("two", 4);
    s_spin(&b, 50);
    assert_int_equal(cs_dispatch_workers(b.dispatch), 1);
    char why[256];
    cs_msg_t *msg = NULL;
    zsock_set_rcvtimeo(two, 1000);
    assert_int_equal(cs_wire_recv(two, 0, NULL, &msg, why, sizeof why), 0);
    assert_non_null(msg);
    assert_int_equal(msg->type, CS_MSG_DISCONNECT);
    assert_non_null(strstr(msg->reason, "too many workers"));
    cs_msg_destroy(&msg);
    zsock_destroy(&one);
    zsock_destroy(&two);
    s_bench_free(&b);
}

static void test_waiting_for_a_worker_and_resuming(void **state)
{
    (void)state;
    s_bench_t b = s_bench(60000, 3, 16, 16);
    s_add(&b, CS_TASK_BUILD, "x", "f1");
    cs_dispatch_mark_waiting(b.dispatch, "no worker is connected");
    cs_event_t *event = s_event(&b, CS_EVENT_WAITING);
    assert_non_null(event);
    assert_string_equal(event->connection, "x");
    assert_string_equal(event->why, "no worker is connected");
    cs_event_destroy(&event);
    cs_dispatch_mark_waiting(b.dispatch, "no worker is connected"); /* told already */
    assert_null(s_event(&b, CS_EVENT_WAITING));
    zsock_t *late = s_worker("late", 4);
    s_spin(&b, 50);
    event = s_event(&b, CS_EVENT_RESUMED);
    assert_non_null(event);
    assert_string_equal(event->connection, "x");
    cs_event_destroy(&event);
    cs_msg_t *tasks[4];
    int n = s_tasks(late, tasks, 4);
    assert_int_equal(n, 1);
    s_free_tasks(tasks, n);
    zsock_destroy(&late);
    s_bench_free(&b);
}

/* A RESULT with retry: not the connection's failure -- no result event, no attempt spent; the
 * row is told why (RETRYING), and the task comes back after its backoff. */
static void test_a_retry_is_queued_again_after_a_backoff(void **state)
{
    (void)state;
    s_bench_t b = s_bench(60000, 1, 16, 16);
    zsock_t *worker = s_worker("w", 4);
    s_spin(&b, 50);
    s_add(&b, CS_TASK_BUILD, "locked", "f1");
    s_spin(&b, 30);
    cs_msg_t *tasks[4];
    assert_int_equal(s_tasks(worker, tasks, 4), 1);
    cs_msg_t *result = cs_msg_new(CS_MSG_RESULT);
    result->task_id = tasks[0]->task_id;
    result->connection = strdup("locked");
    result->ok = false;
    result->retry = true;
    result->error = strdup("waiting for a lock on locked.t1");
    assert_int_equal(cs_wire_send(worker, NULL, NULL, result), 0);
    cs_msg_destroy(&result);
    s_free_tasks(tasks, 1);
    s_spin(&b, 100);
    cs_event_t *event = cs_dispatch_next_event(b.dispatch);
    assert_non_null(event);
    assert_int_equal(event->kind, CS_EVENT_RETRYING);
    assert_non_null(strstr(event->why, "waiting for a lock on locked.t1; retrying in 0.5 s"));
    cs_event_destroy(&event);
    assert_null(s_event(&b, CS_EVENT_RESULT));
    assert_int_equal(s_tasks(worker, tasks, 4), 0); /* held for its backoff */
    assert_int_equal(cs_dispatch_outstanding(b.dispatch), 1);
    s_spin(&b, 600);
    assert_int_equal(s_tasks(worker, tasks, 4), 1);
    assert_int_equal(tasks[0]->attempt, 1); /* max_attempts is 1: a counted retry would be lost */
    event = s_event(&b, CS_EVENT_RESUMED);  /* the row: under way again */
    assert_non_null(event);
    cs_event_destroy(&event);
    s_answer(worker, tasks[0], true);
    s_free_tasks(tasks, 1);
    s_spin(&b, 50);
    event = s_event(&b, CS_EVENT_RESULT);
    assert_non_null(event);
    assert_true(event->result->ok);
    cs_event_destroy(&event);
    zsock_destroy(&worker);
    s_bench_free(&b);
}

/* A worker that says goodbye (DISCONNECT: its database went away) costs its tasks no
 * attempt; while dispatch is paused nothing is handed out. */
static void test_a_goodbye_costs_no_attempt_and_pause_holds_tasks(void **state)
{
    (void)state;
    s_bench_t b = s_bench(60000, 1, 16, 16);
    zsock_t *first = s_worker("first", 4);
    s_spin(&b, 50);
    s_add(&b, CS_TASK_BUILD, "x", "f1");
    s_spin(&b, 30);
    cs_msg_t *tasks[4];
    assert_int_equal(s_tasks(first, tasks, 4), 1);
    s_free_tasks(tasks, 1);
    cs_dispatch_pause(b.dispatch, true);
    cs_msg_t *bye = cs_msg_new(CS_MSG_DISCONNECT);
    bye->reason = strdup("database unavailable: server closed the connection");
    assert_int_equal(cs_wire_send(first, NULL, NULL, bye), 0);
    cs_msg_destroy(&bye);
    zsock_t *second = s_worker("second", 4);
    s_spin(&b, 100);
    assert_null(s_event(&b, CS_EVENT_LOST));        /* max_attempts 1: a counted loss would be */
    assert_int_equal(s_tasks(second, tasks, 4), 0); /* paused */
    assert_int_equal(cs_dispatch_queued(b.dispatch), 1);
    cs_dispatch_pause(b.dispatch, false);
    s_spin(&b, 50);
    assert_int_equal(s_tasks(second, tasks, 4), 1);
    assert_string_equal(tasks[0]->connection, "x");
    assert_int_equal(tasks[0]->attempt, 1);
    s_free_tasks(tasks, 1);
    zsock_destroy(&first);
    zsock_destroy(&second);
    s_bench_free(&b);
}

/* The task of a connection named name among n TASKs, or NULL. */
static const cs_msg_t *s_task_of(cs_msg_t **tasks, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(tasks[i]->connection, name) == 0)
            return tasks[i];
    return NULL;
}

/* Every attempt has its own task id: when a lease expires and the task goes back to the same
 * worker, that worker's late answer to the first attempt is not taken for the second's. (More
 * work than workers, so that a retry goes to that worker while the expired attempts still hold
 * their places there.) */
static void test_a_late_answer_to_an_earlier_attempt_is_ignored(void **state)
{
    (void)state;
    s_bench_t b = s_bench(300, 3, 16, 16);
    zsock_t *worker = s_worker("only", 8);
    s_spin(&b, 50);
    s_add(&b, CS_TASK_BUILD, "slow", "f1");
    s_add(&b, CS_TASK_BUILD, "also", "f1");
    s_add(&b, CS_TASK_BUILD, "third", "f1");
    s_spin(&b, 30);
    cs_msg_t *first[8], *second[8];
    int n_first = s_tasks(worker, first, 8);
    assert_int_equal(n_first, 2); /* the third one waits for a free worker */
    s_spin(&b, 330);              /* the leases expire: attempts 2, at the same (only) worker */
    int n_second = s_tasks(worker, second, 8);
    assert_true(n_second >= 1);
    const cs_msg_t *retry = second[0], *late = s_task_of(first, n_first, retry->connection);
    assert_non_null(late);
    assert_int_equal(retry->attempt, 2);
    assert_true(retry->task_id != late->task_id);
    s_answer(worker, late, false); /* the first attempt's answer, late */
    s_spin(&b, 30);
    assert_null(s_event(&b, CS_EVENT_RESULT));
    assert_int_equal(cs_dispatch_outstanding(b.dispatch), 3); /* the retry: still in flight */
    s_answer(worker, retry, true);
    s_spin(&b, 30);
    cs_event_t *event = s_event(&b, CS_EVENT_RESULT);
    assert_non_null(event);
    assert_string_equal(event->connection, retry->connection);
    assert_true(event->result->ok);
    cs_event_destroy(&event);
    s_free_tasks(first, n_first);
    s_free_tasks(second, n_second);
    zsock_destroy(&worker);
    s_bench_free(&b);
}

/* A task of attempt `attempt` whose result the state table refused, done again. */
static void s_redo(s_bench_t *b, cs_task_kind_t kind, const char *name, uint32_t attempt,
                   const char *worker)
{
    cs_task_t *task = cs_task_new(kind, name, NULL, NULL, "f1", NULL);
    assert_non_null(task);
    task->attempt = attempt;
    cs_dispatch_redo(b->dispatch, &task, worker, "refused");
    assert_null(task);
}

/* A result the state table refused is done again like a lost update: the next attempt, at
 * another worker when there is one, lost after max attempts; not when a newer update of the
 * connection is under way. */
static void test_a_refused_result_is_done_again_like_a_lost_one(void **state)
{
    (void)state;
    s_bench_t b = s_bench(60000, 3, 16, 16);
    zsock_t *liar = s_worker("liar", 4), *honest = s_worker("honest", 4);
    s_spin(&b, 50);
    s_redo(&b, CS_TASK_BUILD, "x", 1, "liar");
    s_spin(&b, 30);
    cs_msg_t *tasks[4];
    assert_int_equal(s_tasks(liar, tasks, 4), 0);
    assert_int_equal(s_tasks(honest, tasks, 4), 1); /* the other worker */
    assert_int_equal(tasks[0]->attempt, 2);
    assert_int_equal(tasks[0]->kind, CS_TASK_BUILD);
    /* while that one is in flight, a refusal of an older attempt is dropped */
    s_redo(&b, CS_TASK_BUILD, "x", 1, "liar");
    assert_int_equal(cs_dispatch_outstanding(b.dispatch), 1);
    s_answer(honest, tasks[0], true);
    s_free_tasks(tasks, 1);
    s_spin(&b, 30);
    cs_event_t *event = s_event(&b, CS_EVENT_RESULT);
    assert_non_null(event);
    cs_event_destroy(&event);
    /* the last attempt refused: lost, saying why and how often */
    s_redo(&b, CS_TASK_DELETE, "x", 3, "honest");
    event = s_event(&b, CS_EVENT_LOST);
    assert_non_null(event);
    assert_int_equal(event->task_kind, CS_TASK_DELETE);
    assert_string_equal(event->why, "refused (attempted 3 times; the last by worker honest)");
    cs_event_destroy(&event);
    assert_int_equal(cs_dispatch_outstanding(b.dispatch), 0);
    zsock_destroy(&liar);
    zsock_destroy(&honest);
    s_bench_free(&b);
}

/* A task whose lease expired still takes a place at its worker (which may still be running
 * it) until the worker lets go of it: its late RESULT, or a HEARTBEAT holding fewer tasks. A
 * stuck worker is not handed ever more work. */
static void test_an_expired_lease_keeps_its_place_until_the_worker_lets_go(void **state)
{
    (void)state;
    s_bench_t b = s_bench(200, 10, 16, 16);
    zsock_t *stuck = s_worker("stuck", 2);
    s_spin(&b, 50);
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "c_%d", i);
        s_add(&b, CS_TASK_BUILD, name, "f1");
    }
    s_spin(&b, 30);
    cs_msg_t *first[8], *more[8];
    assert_int_equal(s_tasks(stuck, first, 8), 2);
    uint64_t last = first[0]->task_id > first[1]->task_id ? first[0]->task_id : first[1]->task_id;
    s_heartbeat(stuck, 2, last); /* it holds both */
    s_spin(&b, 300);             /* both leases expire: the tasks are queued again ... */
    assert_int_equal(cs_dispatch_queued(b.dispatch), 5);
    assert_int_equal(s_tasks(stuck, more, 8), 0); /* ... but its places are still taken */
    s_heartbeat(stuck, 0, 0); /* holding nothing, having received nothing: it has not read them */
    s_spin(&b, 30);
    assert_int_equal(s_tasks(stuck, more, 8), 0);
    s_heartbeat(stuck, 1, last); /* it let go of one of the two it received */
    s_spin(&b, 30);
    assert_int_equal(s_tasks(stuck, more, 8), 1);
    s_answer(stuck, first[1], false); /* the other one's late answer: ignored, its place free */
    s_spin(&b, 30);
    assert_null(s_event(&b, CS_EVENT_RESULT));
    assert_int_equal(s_tasks(stuck, more + 1, 7), 1);
    s_free_tasks(first, 2);
    s_free_tasks(more, 2);
    zsock_destroy(&stuck);
    s_bench_free(&b);
}

/* A worker-side failure (the plugin is missing at that worker, or of another version) sends the
 * task to another worker at once, without costing an attempt; the row is told why, and a
 * version that differs from the plan's asks for the plugins to be looked at again. A failure
 * of the connection's own stays its result. */
static void test_a_worker_side_failure_goes_to_another_worker(void **state)
{
    (void)state;
    s_bench_t b = s_bench(60000, 1, 16, 16);
    zsock_t *bad = s_worker("bad", 4);
    s_spin(&b, 30);
    zsock_t *good = s_worker("good", 4);
    s_spin(&b, 30);
    s_add(&b, CS_TASK_BUILD, "x", "f1");
    s_spin(&b, 30);
    cs_msg_t *tasks[4];
    assert_int_equal(s_tasks(bad, tasks, 4), 1); /* the first worker in turn */
    assert_string_equal(tasks[0]->plugin_version, "1.0");
    s_answer_worker_fault(bad, tasks[0], "plugin \"synthetic\" is version 2.0 on this worker",
                          "2.0");
    s_free_tasks(tasks, 1);
    s_spin(&b, 50);
    cs_event_t *event = s_event(&b, CS_EVENT_RETRYING);
    assert_non_null(event);
    assert_non_null(strstr(event->why, "worker bad could not run it: plugin \"synthetic\" is "
                                       "version 2.0 on this worker; dispatching it again"));
    assert_true(event->recheck_plugins);
    cs_event_destroy(&event);
    assert_null(s_event(&b, CS_EVENT_LOST)); /* max_attempts 1: a counted attempt would be */
    assert_int_equal(s_tasks(bad, tasks, 4), 0);
    assert_int_equal(s_tasks(good, tasks, 4), 1);
    assert_int_equal(tasks[0]->attempt, 1);
    s_answer(good, tasks[0], false); /* the plugin rejected the config: final */
    s_free_tasks(tasks, 1);
    s_spin(&b, 30);
    event = s_event(&b, CS_EVENT_RESULT);
    assert_non_null(event);
    assert_false(event->result->ok);
    assert_string_equal(event->worker, "good");
    cs_event_destroy(&event);
    assert_int_equal(cs_dispatch_outstanding(b.dispatch), 0);
    zsock_destroy(&bad);
    zsock_destroy(&good);
    s_bench_free(&b);
}

/* The entry of worker name in a STATUS reply's list (the caller destroys status). */
/* A task of a plugin instance: its memory limit and env reach the worker in its TASK, also
 * when it is sent again; a task without them sends none. */
static void test_a_plugin_instances_settings_go_in_its_task(void **state)
{
    (void)state;
    s_bench_t b = s_bench(100, 3, 16, 16);
    zsock_t *one = s_worker("one", 4), *two = s_worker("two", 4);
    s_spin(&b, 50);
    cs_task_t *task = cs_task_new(CS_TASK_BUILD, "aws_low", "aws", "{}", "f1", NULL);
    assert_non_null(task);
    task->memory_max_mb = 64;
    assert_int_equal(cs_strs_add(&task->env, "AWS_PROFILE=low"), 0);
    assert_int_equal(cs_strs_add(&task->env, "AWS_SECRET_ACCESS_KEY=s3cr3t"), 0);
    cs_dispatch_add(b.dispatch, &task);
    s_add(&b, CS_TASK_BUILD, "plain", "f2");
    s_spin(&b, 50);
    cs_msg_t *tasks[8];
    int n = s_tasks(one, tasks, 4);
    n += s_tasks(two, tasks + n, 4);
    assert_int_equal(n, 2);
    const cs_msg_t *low = s_task_of(tasks, n, "aws_low"), *plain = s_task_of(tasks, n, "plain");
    assert_non_null(low);
    assert_non_null(plain);
    assert_int_equal(low->memory_max_mb, 64);
    assert_int_equal(low->env.count, 2);
    assert_string_equal(low->env.items[0], "AWS_PROFILE=low");
    assert_string_equal(low->env.items[1], "AWS_SECRET_ACCESS_KEY=s3cr3t");
    assert_int_equal(plain->memory_max_mb, 0);
    assert_int_equal(plain->env.count, 0);
    s_free_tasks(tasks, n);
    /* the leases expire: the next attempts, at free workers, carry them again */
    zsock_t *three = s_worker("three", 4), *four = s_worker("four", 4);
    s_spin(&b, 250);
    n = s_tasks(three, tasks, 4);
    n += s_tasks(four, tasks + n, 4);
    assert_non_null(low = s_task_of(tasks, n, "aws_low"));
    assert_int_equal(low->attempt, 2);
    assert_int_equal(low->memory_max_mb, 64);
    assert_int_equal(low->env.count, 2);
    s_free_tasks(tasks, n);
    zsock_destroy(&one);
    zsock_destroy(&two);
    zsock_destroy(&three);
    zsock_destroy(&four);
    s_bench_free(&b);
}

static const cs_worker_row_t *s_listed(s_bench_t *b, cs_msg_t **status, const char *name)
{
    *status = cs_msg_new(CS_MSG_STATUS_REP);
    assert_int_equal(cs_dispatch_list_workers(b->dispatch, *status), 0);
    for (uint32_t i = 0; i < (*status)->worker_row_count; i++)
        if (strcmp((*status)->worker_rows[i].name, name) == 0)
            return &(*status)->worker_rows[i];
    return NULL;
}

/* Three worker-side failures in a row quarantine a worker: it gets no task until its
 * quarantine ends (the waiting tasks lose no attempt), then one at a time; failing again
 * quarantines it for twice as long; a success gives it its whole capacity back. */
static void test_a_worker_failing_in_a_row_is_quarantined(void **state)
{
    (void)state;
    s_quarantine_ms = 300;
    s_bench_t b = s_bench(60000, 1, 16, 16);
    s_quarantine_ms = 0;
    zsock_t *bad = s_worker("bad", 4);
    s_spin(&b, 30);
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "c_%d", i);
        s_add(&b, CS_TASK_BUILD, name, "f1");
    }
    s_spin(&b, 30);
    cs_msg_t *tasks[8];
    int n = s_tasks(bad, tasks, 8);
    assert_int_equal(n, 4);
    for (int i = 0; i < n; i++)
        s_answer_worker_fault(bad, tasks[i], "plugin \"synthetic\" is not installed on this worker",
                              NULL);
    s_free_tasks(tasks, n);
    s_spin(&b, 100);
    assert_int_equal(s_tasks(bad, tasks, 8), 0); /* quarantined */
    assert_int_equal(cs_dispatch_workers(b.dispatch), 1);
    assert_int_equal(cs_dispatch_workers_available(b.dispatch), 0);
    char why[1024];
    cs_dispatch_describe_quarantine(b.dispatch, why, sizeof why);
    assert_non_null(strstr(why, "every connected worker is quarantined: bad until "));
    assert_non_null(strstr(why, "after 4 worker-side failures in a row (last: plugin "
                                "\"synthetic\" is not installed on this worker)"));
    cs_msg_t *status;
    const cs_worker_row_t *row = s_listed(&b, &status, "bad");
    assert_non_null(row);
    assert_int_equal(row->failures, 4);
    assert_int_equal(row->capacity, 4);
    assert_int_equal(row->in_flight, 0);
    int64_t first_until = row->quarantined_until;
    assert_true(first_until > cs_clock_wall_us());
    assert_true(first_until <= cs_clock_wall_us() + 300000);
    assert_string_equal(row->last_failure, "plugin \"synthetic\" is not installed on this worker");
    cs_msg_destroy(&status);
    assert_null(s_event(&b, CS_EVENT_LOST));
    assert_int_equal(cs_dispatch_queued(b.dispatch), 5);
    s_spin(&b, 300); /* its quarantine ends: one task, a probe */
    n = s_tasks(bad, tasks, 8);
    assert_int_equal(n, 1);
    assert_int_equal(cs_dispatch_workers_available(b.dispatch), 1);
    s_answer_worker_fault(bad, tasks[0], "plugin \"synthetic\" is not installed on this worker",
                          NULL);
    s_free_tasks(tasks, n);
    s_spin(&b, 30);
    row = s_listed(&b, &status, "bad"); /* quarantined again: for 600 ms */
    assert_int_equal(row->failures, 5);
    assert_true(row->quarantined_until > cs_clock_wall_us() + 400000);
    cs_msg_destroy(&status);
    s_spin(&b, 400);
    assert_int_equal(s_tasks(bad, tasks, 8), 0); /* still quarantined */
    s_spin(&b, 300);
    n = s_tasks(bad, tasks, 8);
    assert_int_equal(n, 1);
    s_answer(bad, tasks[0], true); /* it works again */
    s_free_tasks(tasks, n);
    s_spin(&b, 50);
    n = s_tasks(bad, tasks, 8);
    assert_int_equal(n, 3); /* not one at a time: of the 4 left, all but the one that waits for
                             * an idle worker (less work than workers) */
    row = s_listed(&b, &status, "bad");
    assert_int_equal(row->failures, 0);
    assert_int_equal(row->quarantined_until, 0);
    assert_int_equal(row->in_flight, 3);
    cs_msg_destroy(&status);
    s_free_tasks(tasks, n);
    zsock_destroy(&bad);
    s_bench_free(&b);
}

int main(void)
{
    zsys_handler_set(NULL);
    cs_log_init("test");
    if (cs_log_set_level("error") != 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capacity_is_respected_and_capped),
        cmocka_unit_test(test_an_expired_lease_goes_to_another_worker_then_is_lost),
        cmocka_unit_test(test_one_task_per_connection),
        cmocka_unit_test(test_cancel_drops_what_is_queued),
        cmocka_unit_test(test_a_refetch_follows_the_same_work_in_flight),
        cmocka_unit_test(test_workers_beyond_the_cap_are_told_to_go),
        cmocka_unit_test(test_waiting_for_a_worker_and_resuming),
        cmocka_unit_test(test_a_retry_is_queued_again_after_a_backoff),
        cmocka_unit_test(test_a_goodbye_costs_no_attempt_and_pause_holds_tasks),
        cmocka_unit_test(test_a_late_answer_to_an_earlier_attempt_is_ignored),
        cmocka_unit_test(test_a_refused_result_is_done_again_like_a_lost_one),
        cmocka_unit_test(test_an_expired_lease_keeps_its_place_until_the_worker_lets_go),
        cmocka_unit_test(test_a_worker_side_failure_goes_to_another_worker),
        cmocka_unit_test(test_a_worker_failing_in_a_row_is_quarantined),
        cmocka_unit_test(test_a_plugin_instances_settings_go_in_its_task),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    zsys_shutdown();
    return rc;
}
