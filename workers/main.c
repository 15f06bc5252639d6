/* connstate-worker: connects a DEALER to the supervisor, runs the updates it is given in
 * its own PostgreSQL session, heartbeats, and reconnects when the supervisor goes away; when
 * the session goes away it says goodbye, waits for the database, and comes back. */
#include "worker.h"

#include "cs_curve.h"
#include "cs_options.h"

#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_HEARTBEAT_MS       1000  /* how often we say we are alive */
#define S_SUPERVISOR_LOST_MS 5000  /* silence after which the supervisor is presumed gone */
#define S_REFUSED_MS         2000  /* wait after the supervisor refused our key */
#define S_BACKOFF_MAX_MS     10000 /* longest wait between reconnections */
/* Tasks held at once: the running ones, the next ones (so that no round trip to the supervisor
 * separates two updates), and finished ones whose results wait to go out eight at a time. */
#define S_PREFETCH 16
/* Fresh builds and comments go to the database up to eight in one text, each its own
 * transaction: an eighth of the round trips (and of the wake-ups of the worker and its
 * database server), and the server has the next update as soon as it finished one. (A cold
 * refresh of 10,000 at W = 1, against one a text: 20% less of connstate's CPU and of the
 * database's with four, 22% and 8% less again with eight.) */
#define S_SENT_MAX 8
/* Results go out eight at a time while the database is busy (so that the supervisor answers
 * with eight tasks: an eighth of the wake-ups of the processes and their ZeroMQ threads, while
 * eight tasks more keep the session busy), but none waits longer than this, nor at all once
 * the worker has nothing running. */
#define S_RESULTS_AT_ONCE 8
#define S_RESULT_HOLD_MS  20
/* How long a socket closed because the session was lost still tries to deliver the results
 * and the goodbye queued on it (in ZeroMQ's thread: closing it does not wait). */
#define S_GOODBYE_LINGER_MS 1000
/* Lock timeouts (--lock-timeout): at most a day. */
#define S_LOCK_TIMEOUT_MAX_MS 86400000L

static volatile sig_atomic_t s_stop = 0;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

typedef struct {
    const char *endpoint;
    cs_curve_client_t curve; /* CURVE to the supervisor, or off */
    cs_curve_watch_t watch;  /* ... and whether it refused us */
    char name[128];
    zsock_t *sock;
    cs_session_t *session;
    PGconn *pg; /* the session's connection while it is open (borrowed), else NULL */
    bool lost;  /* ... and it is gone: we leave the supervisor, open another, come back */
    char lost_why[CS_PROTO_MAX_ERROR]; /* "database unavailable: ...", our goodbye */
    cs_tasks_t *tasks;
    int64_t last_sent;
    int64_t last_heard;
    zlistx_t *queue;            /* jobs received, run one at a time in order (cs_job_t) */
    cs_job_t *sent[S_SENT_MAX]; /* the jobs whose transactions the session runs, in order */
    size_t sent_count;
    uint32_t holding;      /* TASKs received and neither finished nor dropped: HEARTBEAT in_flight
                            * (the supervisor frees the places of expired attempts by it) */
    uint64_t last_task_id; /* the last TASK received on this socket: HEARTBEAT last_task_id */
    zlistx_t *results;     /* RESULTs not sent yet (cs_msg_t), oldest first */
    int64_t results_since;
    unsigned generation; /* sockets created, for their identities */
    pid_t parent;        /* a local worker's supervisor: we exit when it is gone */
} s_worker_t;

/* Whether a local worker's supervisor is gone (logged once). */
static bool s_orphaned(s_worker_t *self)
{
    if (!self->parent || getppid() == self->parent)
        return false;
    cs_log_warn("our supervisor (pid %d) is gone; stopping", (int)self->parent);
    self->parent = 0;
    s_stop = 1;
    return true;
}

/* While the worker waits for the database: whether to stop instead. */
static bool s_stopped(void *arg)
{
    return s_stop || s_orphaned(arg);
}

/* The session is gone (why: the text to say so; NULL: the session's own). Nothing more
 * starts on it; the loop leaves the supervisor and opens another. */
static void s_lose(s_worker_t *self, const char *why)
{
    if (self->lost)
        return;
    self->lost = true;
    if (why)
        snprintf(self->lost_why, sizeof self->lost_why, "%s", why);
    else
        snprintf(self->lost_why, sizeof self->lost_why, "database unavailable: %s",
                 cs_session_why(self->session));
}

static void s_send(s_worker_t *self, cs_msg_t *msg)
{
    if (cs_wire_send(self->sock, NULL, NULL, msg) == 0)
        self->last_sent = cs_clock_mono_ms();
}

static void s_heartbeat(s_worker_t *self)
{
    cs_msg_t *hb = cs_msg_new(CS_MSG_HEARTBEAT);
    if (!hb)
        return;
    hb->in_flight = self->holding;
    hb->last_task_id = self->last_task_id;
    s_send(self, hb);
    cs_msg_destroy(&hb);
}

/* Called while a plugin runs: keep the supervisor's lease on us alive; a stop (SIGTERM) or
 * the supervisor gone ends the plugin at once, so that nothing it started outlives us. */
static bool s_tick(void *arg)
{
    s_worker_t *self = arg;
    if (cs_clock_mono_ms() - self->last_sent >= S_HEARTBEAT_MS)
        s_heartbeat(self);
    return !s_stopped(self);
}

static void s_finish(s_worker_t *self, cs_job_t **job_p);
static void s_finish_sent(s_worker_t *self);
static void s_send_results(s_worker_t *self, bool all);

/* A new DEALER with a fresh identity, connected, announcing itself with READY. */
static int s_connect(s_worker_t *self)
{
    /* The transactions under way end first: their results still go to the old connection. */
    s_finish_sent(self);
    s_send_results(self, true);
    cs_curve_unwatch(&self->watch);
    zsock_destroy(&self->sock);
    /* Tasks of the old connection are the supervisor's to hand out again. */
    cs_job_t *stale;
    while ((stale = zlistx_detach(self->queue, NULL)) != NULL)
        cs_job_destroy(&stale);
    self->holding = 0;
    self->last_task_id = 0;
    self->sock = zsock_new(ZMQ_DEALER);
    if (!self->sock)
        return -1;
    char identity[160];
    snprintf(identity, sizeof identity, "%s#%u", self->name, ++self->generation);
    zsock_set_identity(self->sock, identity);
    zsock_set_linger(self->sock, 0);
    zsock_set_sndhwm(self->sock, 1000);
    cs_wire_limit(self->sock);
    cs_curve_client_apply(&self->curve, self->sock);
    /* Refused (a key the supervisor does not list, or none where it requires CURVE), the
     * socket has no peer: a send must not wait for one. */
    zsock_set_sndtimeo(self->sock, 1000);
    if (cs_curve_watch(&self->watch, &self->curve, self->sock) != 0 ||
        zsock_connect(self->sock, "%s", self->endpoint) != 0) {
        cs_log_error("cannot connect to %s: %s", self->endpoint, zmq_strerror(zmq_errno()));
        return -1;
    }
    cs_msg_t *ready = cs_msg_new(CS_MSG_READY);
    if (!ready)
        return -1;
    ready->capacity = S_PREFETCH;
    ready->name = strdup(self->name);
    ready->pid = (uint32_t)getpid();
    s_send(self, ready);
    cs_msg_destroy(&ready);
    self->last_heard = cs_clock_mono_ms();
    return 0;
}

/* Completes a job (waiting for the database if it is still busy) and hands its RESULT to
 * s_send_results, which sends it now or with the next one. */
static void s_finish(s_worker_t *self, cs_job_t **job_p)
{
    cs_job_t *job = *job_p;
    const cs_msg_t *task = cs_job_task(job);
    cs_tasks_complete(self->tasks, self->pg, job);
    const cs_msg_t *result = cs_job_result(job);
    bool session_lost = cs_job_fault(job) == CS_FAULT_SESSION;
    if (session_lost || cs_session_lost(self->session, false))
        s_lose(self, session_lost ? result->error : NULL);
    if (result->ok)
        cs_log_conn_debug(task->connection,
                          "%s done (task %llu, attempt %u): %u tables, %u "
                          "statements, %.1f ms",
                          cs_task_kind_name(task->kind), (unsigned long long)task->task_id,
                          task->attempt, result->tables, result->ddl_count,
                          result->elapsed_us / 1000.0);
    else if (result->worker_fault && !session_lost)
        cs_log_conn_warn(task->connection,
                         "%s not done: this worker cannot run it (the supervisor gives it to "
                         "another): %s",
                         cs_task_kind_name(task->kind), result->error);
    else if (result->retry)
        cs_log_conn_info(task->connection, "%s not done, for the supervisor to try again: %s",
                         cs_task_kind_name(task->kind), result->error);
    else
        cs_log_conn_warn(task->connection, "%s failed: %s", cs_task_kind_name(task->kind),
                         result->error);
    if (self->holding)
        self->holding--;
    cs_msg_t *held = cs_job_take_result(job);
    if (held) {
        if (!zlistx_size(self->results))
            self->results_since = cs_clock_mono_ms();
        zlistx_add_end(self->results, held);
    }
    cs_job_destroy(job_p);
    s_send_results(self, false);
}

/* Sends the held RESULTs when there are enough of them, when the oldest has waited long
 * enough, when nothing runs (nothing would follow them soon), or when `all`. */
static void s_send_results(s_worker_t *self, bool all)
{
    size_t count = zlistx_size(self->results);
    if (!count || !(all || count >= S_RESULTS_AT_ONCE || !self->sent_count ||
                    cs_clock_mono_ms() - self->results_since >= S_RESULT_HOLD_MS))
        return;
    cs_msg_t *result;
    while ((result = zlistx_detach(self->results, NULL)) != NULL) {
        if (self->sock)
            s_send(self, result);
        cs_msg_destroy(&result);
    }
}

/* Sends the fresh builds and comments at the head of the queue to the database, in one text,
 * without waiting for them. Returns false when the first queued job is not of those kinds. */
static bool s_send_jobs(s_worker_t *self)
{
    cs_job_t *head[S_SENT_MAX];
    size_t count = 0;
    for (cs_job_t *job = zlistx_first(self->queue); job && count < S_SENT_MAX;
         job = zlistx_next(self->queue))
        head[count++] = job;
    size_t sent = count ? cs_tasks_send(self->tasks, self->pg, head, count) : 0;
    for (size_t i = 0; i < sent; i++) {
        self->sent[i] = zlistx_detach(self->queue, NULL); /* head[i] */
        const cs_msg_t *task = cs_job_task(self->sent[i]);
        cs_log_conn_debug(task->connection, "%s sent (task %llu, attempt %u, %zu of %zu)",
                          cs_task_kind_name(task->kind), (unsigned long long)task->task_id,
                          task->attempt, i + 1, sent);
    }
    self->sent_count = sent;
    return sent > 0;
}

/* Starts the queued jobs in order: fresh builds and comments go to the database without
 * waiting; any other kind runs to its end here. None once we are asked to stop (the supervisor
 * hands the rest out again). */
static void s_start_next(s_worker_t *self)
{
    while (!self->sent_count && !self->lost && !s_stop && zlistx_size(self->queue)) {
        if (s_send_jobs(self))
            return;
        cs_job_t *job = zlistx_detach(self->queue, NULL);
        s_finish(self, &job);
    }
}

/* Reads what arrived of the sent jobs' results (all of them when wait) and completes the jobs
 * whose results are in, into done (S_SENT_MAX). Once the text is over (every job collected, or
 * one failed: the database ran none after it, and those go back to the head of the queue) the
 * session is free again. Returns how many jobs are done. */
static size_t s_collect(s_worker_t *self, cs_job_t **done, bool wait)
{
    size_t count = 0;
    while (count < self->sent_count &&
           cs_tasks_collect(self->tasks, self->pg, self->sent[count], wait)) {
        done[count] = self->sent[count];
        if (cs_job_ended_text(done[count++]))
            break;
    }
    size_t left = self->sent_count - count;
    bool over = left == 0 || (count && cs_job_ended_text(done[count - 1]));
    if (over && count) {
        cs_tasks_end_text(self->tasks, self->pg, self->sent + count, left);
        for (size_t i = self->sent_count; i-- > count;)
            zlistx_add_start(self->queue, self->sent[i]);
        self->sent_count = 0;
    } else if (count) {
        memmove(self->sent, self->sent + count, left * sizeof *self->sent);
        self->sent_count = left;
    }
    for (size_t i = 0; i < count; i++)
        cs_tasks_complete(self->tasks, self->pg, done[i]);
    return count;
}

/* The sent jobs end (waiting for the database) and their RESULTs go out. */
static void s_finish_sent(s_worker_t *self)
{
    cs_job_t *done[S_SENT_MAX];
    size_t count = s_collect(self, done, true);
    for (size_t i = 0; i < count; i++)
        s_finish(self, &done[i]);
}

/* The session finished (or failed) some of the sent jobs' transactions: their RESULTs go out.
 * Once it finished the text, the next fresh builds or comments are sent before these results,
 * so that the database waits for little; anything else starts after them, so that results go
 * out in order. */
static void s_on_database(s_worker_t *self)
{
    if (!self->sent_count)
        return;
    bool broken = !PQconsumeInput(self->pg); /* the results say what happened */
    cs_job_t *done[S_SENT_MAX];
    size_t count = s_collect(self, done, broken);
    bool usable = !self->sent_count && PQstatus(self->pg) == CONNECTION_OK;
    for (size_t i = 0; i < count; i++)
        usable = usable && cs_job_fault(done[i]) != CS_FAULT_SESSION;
    if (usable)
        s_send_jobs(self);
    for (size_t i = 0; i < count; i++)
        s_finish(self, &done[i]); /* already complete: the RESULTs go out with the next ones */
}

/* Handles one waiting message from the supervisor. Returns 1 when it handled one, 0 when
 * none was waiting, -1 when we must reconnect. */
static int s_handle(s_worker_t *self)
{
    cs_msg_t *msg = NULL;
    char why[256];
    if (cs_wire_recv(self->sock, CS_WIRE_DONTWAIT, NULL, &msg, why, sizeof why) != 0)
        return 0;
    self->last_heard = cs_clock_mono_ms();
    if (!msg) {
        cs_log_warn("malformed message from the supervisor: %s", why);
        return 1;
    }
    int rc = 1;
    switch (msg->type) {
        case CS_MSG_TASK: {
            self->last_task_id = msg->task_id;
            cs_job_t *job = cs_job_new(&msg);
            if (job) {
                zlistx_add_end(self->queue, job); /* run by the loop, in order */
                self->holding++;
            } else
                cs_log_error("out of memory: task dropped (the supervisor's lease expires)");
            break;
        }
        case CS_MSG_HEARTBEAT:
            break;
        case CS_MSG_DISCONNECT:
            cs_log_warn("the supervisor disconnected us: %s", msg->reason ? msg->reason : "");
            rc = -1;
            break;
        default:
            cs_log_warn("unexpected %s from the supervisor", cs_msg_type_name(msg->type));
            break;
    }
    cs_msg_destroy(&msg);
    return rc;
}

/* The session is gone: the results that are finished go out, then our goodbye (the
 * supervisor hands out our other tasks again without counting an attempt against them), and
 * the socket closes; the tasks not started are dropped, the session closed. */
static void s_leave(s_worker_t *self)
{
    s_finish_sent(self); /* fails at once: its session is gone */
    s_send_results(self, true);
    cs_msg_t *bye = cs_msg_new(CS_MSG_DISCONNECT);
    if (bye && self->sock) {
        bye->reason = strdup(self->lost_why);
        s_send(self, bye);
    }
    cs_msg_destroy(&bye);
    if (self->sock)
        zsock_set_linger(self->sock, S_GOODBYE_LINGER_MS);
    zsock_destroy(&self->sock);
    cs_job_t *stale;
    while ((stale = zlistx_detach(self->queue, NULL)) != NULL)
        cs_job_destroy(&stale);
    self->holding = 0;
    cs_log_warn("%s; told the supervisor, opening a new session", self->lost_why);
    cs_session_close(self->session);
    self->pg = NULL;
    self->lost = false;
}

/* How s_serve ended. */
typedef enum { S_STOPPED, S_FAILED, S_LOST } s_end_t;

/* Serves the supervisor while the session is open: connects to it (READY), runs its tasks,
 * reconnects when it goes away. Returns S_STOPPED after a graceful stop, S_LOST after the
 * session was lost (s_leave said goodbye), S_FAILED when polling failed. */
static s_end_t s_serve(s_worker_t *self)
{
    int backoff = 100;
    cs_log_info("connecting to %s", self->endpoint);
    while (!s_stop && s_connect(self) != 0) {
        zclock_sleep(backoff);
        backoff = backoff * 2 > S_BACKOFF_MAX_MS ? S_BACKOFF_MAX_MS : backoff * 2;
    }
    while (!s_stop) {
        if (s_orphaned(self))
            break;
        if (self->lost) {
            s_leave(self);
            return S_LOST;
        }
        /* The supervisor's socket, and the session's: a job's result, or (idle) its end. */
        zmq_pollitem_t items[2] = {{zsock_resolve(self->sock), 0, ZMQ_POLLIN, 0},
                                   {NULL, PQsocket(self->pg), ZMQ_POLLIN, 0}};
        int64_t wait = !self->sent_count && zlistx_size(self->queue) ? 0 : S_HEARTBEAT_MS / 2;
        if (zlistx_size(self->results)) {
            int64_t due = self->results_since + S_RESULT_HOLD_MS - cs_clock_mono_ms();
            wait = due < 0 ? 0 : due < wait ? due : wait;
        }
        if (zmq_poll(items, 2, (long)wait) < 0 && zmq_errno() != EINTR) {
            cs_log_error("poll: %s", zmq_strerror(zmq_errno()));
            return S_FAILED;
        }
        /* Everything that arrived (also while a task ran): tasks, heartbeats, goodbyes. */
        bool reconnect = false, heard = false;
        if (cs_curve_refused(&self->watch)) {
            cs_log_warn("the supervisor at %s refused this worker's key (is its public "
                        "certificate in the supervisor's --curve-workers, and --curve-server "
                        "the supervisor's current one?); trying again in %d s",
                        self->endpoint, S_REFUSED_MS / 1000);
            zclock_sleep(S_REFUSED_MS);
            backoff = 100;
            reconnect = true;
        }
        for (int rc = 1; rc == 1 && (items[0].revents & ZMQ_POLLIN);) {
            rc = s_handle(self);
            reconnect = rc < 0;
            heard = heard || rc != 0;
        }
        if (heard)
            backoff = 100;
        else if (cs_clock_mono_ms() - self->last_heard > S_SUPERVISOR_LOST_MS) {
            cs_log_warn("no word from the supervisor at %s for %d s; reconnecting", self->endpoint,
                        S_SUPERVISOR_LOST_MS / 1000);
            reconnect = true;
        }
        if (reconnect && !s_stop) {
            zclock_sleep(backoff);
            backoff = backoff * 2 > S_BACKOFF_MAX_MS ? S_BACKOFF_MAX_MS : backoff * 2;
            if (s_connect(self) != 0)
                continue;
        }
        bool busy = self->sent_count || zlistx_size(self->queue);
        bool readable = items[1].revents & ZMQ_POLLIN;
        /* Done, failed, or the session lost (libpq closed its socket): collect it. */
        if (self->sent_count && (readable || PQsocket(self->pg) < 0))
            s_on_database(self);
        else if (!self->sent_count && cs_session_lost(self->session, readable))
            s_lose(self, NULL); /* while idle: the server closed it, or it is shutting down */
        s_start_next(self);
        if (self->lost)
            continue; /* the goodbye, first of all */
        /* While the database works: the next jobs' schemas and SQL texts. */
        cs_job_t *next = self->sent_count ? zlistx_first(self->queue) : NULL;
        for (size_t i = 0; next && i < S_SENT_MAX; i++, next = zlistx_next(self->queue))
            cs_tasks_prepare(self->tasks, self->pg, next);
        s_send_results(self, false);
        if (busy && !self->sent_count && !zlistx_size(self->queue))
            cs_tasks_idle(self->tasks);
        if (cs_clock_mono_ms() - self->last_sent >= S_HEARTBEAT_MS)
            s_heartbeat(self);
        cs_log_flush(); /* summaries of rate-limited messages whose window is over */
    }
    /* Graceful stop: the transaction under way ends and is reported; the supervisor hands
     * out the rest again without waiting for our lease. */
    s_finish_sent(self);
    s_send_results(self, true);
    cs_msg_t *bye = cs_msg_new(CS_MSG_DISCONNECT);
    if (bye && self->sock) {
        bye->reason = strdup("worker stopping");
        s_send(self, bye);
    }
    cs_msg_destroy(&bye);
    return S_STOPPED;
}

/* Opens the session (waiting for the database), serves, and again each time the session
 * is lost. Returns the exit status: 0 when stopped, 1 when polling failed. */
static int s_run(s_worker_t *self)
{
    for (;;) {
        self->pg = cs_session_open(self->session, s_stopped, self);
        if (!self->pg)
            return 0; /* stopped while waiting for the database */
        s_end_t end = s_serve(self);
        if (end != S_LOST)
            return end == S_FAILED ? 1 : 0;
    }
}

/* A duration: a number with the unit ms, s or min (none: seconds), within [0, max_ms].
 * Returns 0 with *ms set, or -1. */
static int s_parse_duration(const char *text, long max_ms, long *ms)
{
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || end == text || value < 0)
        return -1;
    long unit = strcmp(end, "ms") == 0                  ? 1
                : strcmp(end, "s") == 0 || *end == '\0' ? 1000
                : strcmp(end, "min") == 0               ? 60000
                                                        : 0;
    if (!unit || value > max_ms / unit)
        return -1;
    *ms = value * unit;
    return 0;
}

/* The options, as the table below fills them. */
typedef struct {
    const char *connect;
    const char *db;
    const char *plugin_dir;
    const char *name;
    const char *log_level;
    const char *lock_timeout;
    const char *curve_cert;
    const char *curve_server;
    long plugin_timeout;
    long tables_per_transaction;
} s_options_t;

#define S_AT(field) offsetof(s_options_t, field)

static char s_tables_default[24]; /* CS_UPDATE_TABLES_PER_TRANSACTION */

static const cs_option_t s_options[] = {
    {"connect", "EP", "CONNSTATE_CONNECT", CS_ENDPOINT_WORKERS, NULL,
     "the supervisor's worker endpoint", CS_OPTION_TEXT, 0, 0, S_AT(connect)},
    {"db", "CONNINFO", "CONNSTATE_DB", NULL, "the embedded cluster under CONNSTATE_DATA_DIR",
     "PostgreSQL to write schemas into", CS_OPTION_TEXT, 0, 0, S_AT(db)},
    {"plugin-dir", "DIR", "CONNSTATE_PLUGIN_DIR", NULL, "the bundled ones", "plugins",
     CS_OPTION_TEXT, 0, 0, S_AT(plugin_dir)},
    {"plugin-timeout", "SEC", "CONNSTATE_PLUGIN_TIMEOUT", "30", NULL, "longest a plugin may run",
     CS_OPTION_NUMBER, 1, 86400, S_AT(plugin_timeout)},
    {"tables-per-transaction", "N", "CONNSTATE_TABLES_PER_TRANSACTION", s_tables_default, NULL,
     "most tables created or dropped in one transaction: a bigger\n"
     "update runs in batches, so that it fits PostgreSQL's lock table\n"
     "(a dropped table takes 3 locks, a created one 1; an aggregator's\n"
     "view 1 and 1 per member table it reads, within 3 x N)",
     CS_OPTION_NUMBER, 1, 1000000, S_AT(tables_per_transaction)},
    {"lock-timeout", "DURATION", "CONNSTATE_LOCK_TIMEOUT", "5s", NULL,
     "longest an update's DDL waits for a lock that another session\n"
     "holds (a user's query on the old tables): then it is rolled back,\n"
     "the old schema left usable, and tried again later; 500ms, 5s,\n"
     "2min (no unit: seconds); 0: wait as long as it takes",
     CS_OPTION_TEXT, 0, 0, S_AT(lock_timeout)},
    {"name", "NAME", NULL, NULL, "host:pid", "name shown in the supervisor's logs", CS_OPTION_TEXT,
     0, 0, S_AT(name)},
    {"curve-cert", "FILE", "CONNSTATE_CURVE_CERT", NULL, NULL,
     "this worker's certificate (keygen's FILE; FILE_secret is read);\n"
     "with --curve-server: CURVE, never plain text",
     CS_OPTION_TEXT, 0, 0, S_AT(curve_cert)},
    {"curve-server", "FILE", "CONNSTATE_CURVE_SERVER", NULL, NULL,
     "the supervisor's public certificate", CS_OPTION_TEXT, 0, 0, S_AT(curve_server)},
    CS_OPTION_LOG_LEVEL(S_AT(log_level)),
};

static const cs_program_t s_program = {
    "connstate-worker",
    CS_VERSION,
    "Usage: connstate-worker --connect EP --db CONNINFO [OPTION]...\n"
    "Builds connection schemas for a connstate supervisor.\n",
    "A database that is down, restarts or fails over is waited for: the worker tries\n"
    "again with a backoff (250 ms doubling up to 10 s), and serves the supervisor only\n"
    "while it has a session.\n"
    "\n"
    "Exit status: 0 after SIGTERM/SIGINT (also while it waits for the database); 1\n"
    "on a failure of its own (polling: restart it); 2 when it cannot start (bad\n"
    "option, unreadable plugin directory, no database given).\n",
    s_options,
    sizeof s_options / sizeof *s_options};

int main(int argc, char **argv)
{
    snprintf(s_tables_default, sizeof s_tables_default, "%d", CS_UPDATE_TABLES_PER_TRANSACTION);
    s_options_t o = {0};
    int parsed = cs_options_parse(&s_program, argc, argv, &o);
    if (parsed >= 0)
        return parsed;
    const char *name = o.name, *db = o.db, *plugin_dir = o.plugin_dir;
    s_worker_t self = {0};
    char host[64] = "worker";
    gethostname(host, sizeof host - 1);
    snprintf(self.name, sizeof self.name, "%s:%d", name ? name : host, (int)getpid());
    if (name)
        snprintf(self.name, sizeof self.name, "%s", name);
    cs_log_init(name ? name : "wrk");
    if (cs_log_set_level(o.log_level) != 0)
        return 2; /* checked by the parser already */
    self.endpoint = o.connect;
    char why[600];
    int curve_rc =
        o.curve_cert || o.curve_server
            ? cs_curve_client_load(o.curve_cert, o.curve_server, &self.curve, why, sizeof why)
            : cs_curve_local_load(&self.curve, why, sizeof why);
    if (curve_rc != 0) {
        cs_log_error("cannot start: %s", why);
        return 2;
    }
    /* Set by a supervisor for the workers it spawns; a remote worker outlives supervisors. */
    const char *parent = getenv("CONNSTATE_SUPERVISOR_PID");
    self.parent = parent ? (pid_t)atoi(parent) : 0;
    if (self.parent && getppid() != self.parent)
        self.parent = 0; /* inherited by a process the supervisor did not start */
    char *default_dir = NULL;
    if (!plugin_dir)
        plugin_dir = default_dir = cs_plugin_default_dir();
    long timeout_s = o.plugin_timeout, tables_per_transaction = o.tables_per_transaction;
    if (!plugin_dir || access(plugin_dir, R_OK | X_OK) != 0) {
        cs_log_error("cannot start: plugin directory %s is not readable",
                     plugin_dir ? plugin_dir : "(bundled, not found)");
        free(default_dir);
        return 2;
    }
    long lock_timeout_ms = 0;
    if (s_parse_duration(o.lock_timeout, S_LOCK_TIMEOUT_MAX_MS, &lock_timeout_ms) != 0) {
        fprintf(stderr,
                "connstate-worker: --lock-timeout must be a duration such as 500ms, 5s or 2min "
                "(at most a day; 0: none), not '%s'\n",
                o.lock_timeout);
        free(default_dir);
        return 2;
    }
    bool embedded;
    char *conninfo = cs_db_resolve(db, NULL, &embedded);
    if (!conninfo) {
        cs_log_error("cannot start: no database given (--db, CONNSTATE_DB) and no embedded "
                     "cluster to use");
        free(default_dir);
        return 2;
    }
    self.session = cs_session_new(conninfo, lock_timeout_ms);
    free(conninfo);
    self.tasks = cs_tasks_new(plugin_dir, (int)timeout_s * 1000, (size_t)tables_per_transaction,
                              s_tick, &self);
    self.queue = zlistx_new();
    self.results = zlistx_new();
    free(default_dir);
    if (!self.session || !self.tasks || !self.queue || !self.results) {
        cs_log_error("cannot start: out of memory");
        cs_session_destroy(&self.session);
        cs_tasks_destroy(&self.tasks);
        zlistx_destroy(&self.queue);
        zlistx_destroy(&self.results);
        return 2;
    }

    zsys_handler_set(NULL); /* our own signal handling: flags only */
    struct sigaction sa = {0};
    sa.sa_handler = s_on_signal; /* no SA_RESTART: a signal ends a wait at once */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = s_run(&self);
    cs_curve_unwatch(&self.watch);
    zsock_destroy(&self.sock);
    cs_job_t *left;
    while (self.queue && (left = zlistx_detach(self.queue, NULL)) != NULL)
        cs_job_destroy(&left);
    zlistx_destroy(&self.queue);
    cs_msg_t *unsent;
    while (self.results && (unsent = zlistx_detach(self.results, NULL)) != NULL)
        cs_msg_destroy(&unsent);
    zlistx_destroy(&self.results);
    cs_tasks_destroy(&self.tasks);
    cs_session_destroy(&self.session);
    memset(&self.curve, 0, sizeof self.curve); /* the secret key */
    zsys_shutdown();
    cs_log_info("stopped");
    return rc;
}
