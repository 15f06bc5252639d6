/* The worker's PostgreSQL session: opened while the database may be down (waiting for it
 * with backoff, stoppable at any moment), given its lock_timeout, watched while idle, and
 * closed when lost so that it can be opened again. */
#include "worker.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_BACKOFF_FIRST_MS 250   /* the first wait between two tries ... */
#define S_BACKOFF_MAX_MS   10000 /* ... doubled up to this */
/* A session lost sooner than this after it was opened is opened again only after the
 * backoff it had (a database that accepts sessions and drops them does not make us spin). */
#define S_STABLE_MS    10000
#define S_STOP_POLL_MS 100 /* how often a wait looks at the stop condition between signals */

struct cs_session {
    char *conninfo; /* libpq's own: keyword=value or URI, multi-host included; never parsed here */
    long lock_timeout_ms;
    PGconn *conn;
    int backoff_ms;     /* the next wait after a failed try */
    bool wait_first;    /* the session was lost soon after it was opened: wait before trying */
    bool down_logged;   /* "database unavailable" was said */
    bool reopening;     /* the session was lost: "available" is due when it is back */
    int64_t down_since; /* when it became unavailable (monotonic ms) */
    int64_t opened_at;
    char fatal[512]; /* the last FATAL message the server sent (why it closed the session) */
    char why[1024];  /* cs_session_why's text */
};

/* ---- one try, in a thread -------------------------------------------------------------- */

/* libpq connects in a thread of its own, so that the worker stays stoppable while libpq
 * resolves a name or waits for a host (up to connect_timeout per host of a multi-host
 * conninfo, which only its blocking connect honours). The thread touches only its
 * s_attempt_t; the last of the thread and the waiter to let go of it frees it, so a waiter
 * that stops leaves the thread to finish and clean up by itself. */
typedef struct {
    pthread_mutex_t lock;
    int refs;
    int pipe[2]; /* [1]: written once by the thread when it is done; [0]: polled */
    char *conninfo;
    PGconn *conn; /* the result, taken by the waiter (NULL: failed, err says why) */
    char err[1024];
} s_attempt_t;

static void s_attempt_release(s_attempt_t *a)
{
    pthread_mutex_lock(&a->lock);
    int left = --a->refs;
    pthread_mutex_unlock(&a->lock);
    if (left)
        return;
    PQfinish(a->conn); /* a session nobody waited for */
    close(a->pipe[0]);
    close(a->pipe[1]);
    pthread_mutex_destroy(&a->lock);
    free(a->conninfo);
    free(a);
}

static void *s_attempt_run(void *arg)
{
    s_attempt_t *a = arg;
    char err[sizeof a->err] = "";
    PGconn *conn = cs_pg_connect(a->conninfo, "connstate-worker", err, sizeof err);
    pthread_mutex_lock(&a->lock);
    a->conn = conn;
    memcpy(a->err, err, sizeof err);
    pthread_mutex_unlock(&a->lock);
    ssize_t written = write(a->pipe[1], "", 1);
    (void)written; /* a pipe of our own with room for one byte */
    s_attempt_release(a);
    return NULL;
}

/* Sleeps ms (0: only looks), waking for a signal; returns true when stopped says so. */
static bool s_nap(int ms, cs_session_stop_fn *stopped, void *arg)
{
    while (!stopped(arg)) {
        if (ms <= 0)
            return false;
        int slice = ms < S_STOP_POLL_MS ? ms : S_STOP_POLL_MS;
        int64_t start = cs_clock_mono_ms();
        if (poll(NULL, 0, slice) < 0 && errno != EINTR)
            return stopped(arg);
        ms -= (int)(cs_clock_mono_ms() - start);
    }
    return true;
}

/* One try. Returns the connected session, or NULL with why in err ("" when stopped). */
static PGconn *s_try(cs_session_t *self, cs_session_stop_fn *stopped, void *arg, char *err,
                     size_t err_size)
{
    *err = '\0';
    s_attempt_t *a = calloc(1, sizeof *a);
    if (!a || !(a->conninfo = strdup(self->conninfo)) || pipe(a->pipe) != 0) {
        if (a)
            free(a->conninfo);
        free(a);
        snprintf(err, err_size, "cannot start a connection: %s", strerror(errno ? errno : ENOMEM));
        return NULL;
    }
    pthread_mutex_init(&a->lock, NULL);
    a->refs = 2;
    /* Signals go to the main thread, whose waits they interrupt. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_t thread;
    int started = pthread_create(&thread, NULL, s_attempt_run, a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (started != 0) {
        a->refs = 1;
        s_attempt_release(a);
        snprintf(err, err_size, "cannot start a connection: %s", strerror(started));
        return NULL;
    }
    pthread_detach(thread);
    struct pollfd done = {a->pipe[0], POLLIN, 0};
    while (!stopped(arg) && poll(&done, 1, S_STOP_POLL_MS) <= 0)
        ;
    PGconn *conn = NULL;
    if (done.revents & POLLIN) {
        pthread_mutex_lock(&a->lock);
        conn = a->conn;
        a->conn = NULL;
        snprintf(err, err_size, "%s", a->err);
        pthread_mutex_unlock(&a->lock);
    }
    s_attempt_release(a);
    return conn;
}

/* ---- the session ------------------------------------------------------------------------- */

/* The server's messages outside a query: a NOTICE (logged at debug level), or the FATAL
 * error it sends before it closes the session (kept: it says why). */
static void s_notice(void *arg, const char *message)
{
    cs_session_t *self = arg;
    cs_log_debug("database notice: %.*s", (int)strcspn(message, "\n"), message);
    if (strncmp(message, "FATAL:", 6) == 0) {
        const char *text = message + 6 + strspn(message + 6, " ");
        snprintf(self->fatal, sizeof self->fatal, "%.*s", (int)strcspn(text, "\n"), text);
    }
}

/* The session's DDL out of the supervisor's schema journal: in session_replication_role =
 * replica the journal's event triggers (and every ordinary trigger and rule) do not fire, so
 * that connstate's own DDL does not pay for them; the supervisor reads again what each update
 * may have touched instead. Nothing a worker does relies on a trigger or a rule firing: it
 * writes no table, and a view's SELECT rule is applied in any role. Setting it needs a
 * superuser, or GRANT SET ON PARAMETER session_replication_role (PostgreSQL 15): without it
 * the DDL is journaled (correct, slower), said once. */
static void s_not_journaled(PGconn *conn)
{
    static bool said;
    PGresult *res =
        PQexecParams(conn, "SELECT set_config('session_replication_role', 'replica', false)", 0,
                     NULL, NULL, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK && !said) {
        char why[512];
        cs_pg_error_text(res, why, sizeof why);
        cs_log_info("this session's DDL is recorded by the schema journal's event triggers, if "
                    "any (slower): session_replication_role cannot be set: %s",
                    why);
        said = true;
    }
    PQclear(res);
}

/* What the worker needs of a new session: its notices, its lock_timeout, its DDL out of the
 * schema journal. */
static int s_setup(cs_session_t *self, PGconn *conn, char *err, size_t err_size)
{
    PQsetNoticeProcessor(conn, s_notice, self);
    char value[32];
    snprintf(value, sizeof value, "%ldms", self->lock_timeout_ms);
    const char *params[] = {value};
    PGresult *res = PQexecParams(conn, "SELECT set_config('lock_timeout', $1, false)", 1, NULL,
                                 params, NULL, NULL, 0);
    int rc = PQresultStatus(res) == PGRES_TUPLES_OK ? 0 : -1;
    if (rc != 0)
        cs_update_error(err, err_size, conn, res);
    PQclear(res);
    if (rc == 0)
        s_not_journaled(conn);
    return rc;
}

cs_session_t *cs_session_new(const char *conninfo, long lock_timeout_ms)
{
    cs_session_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->conninfo = strdup(conninfo);
    if (!self->conninfo) {
        free(self);
        return NULL;
    }
    self->lock_timeout_ms = lock_timeout_ms;
    self->backoff_ms = S_BACKOFF_FIRST_MS;
    return self;
}

void cs_session_destroy(cs_session_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_session_t *self = *self_p;
    PQfinish(self->conn);
    free(self->conninfo);
    free(self);
    *self_p = NULL;
}

PGconn *cs_session_open(cs_session_t *self, cs_session_stop_fn *stopped, void *arg)
{
    if (self->conn)
        return self->conn;
    unsigned tries = 0;
    if (self->wait_first) {
        if (s_nap(self->backoff_ms, stopped, arg))
            return NULL;
        self->backoff_ms =
            self->backoff_ms * 2 > S_BACKOFF_MAX_MS ? S_BACKOFF_MAX_MS : self->backoff_ms * 2;
    }
    while (!stopped(arg)) {
        char err[1024];
        tries++;
        PGconn *conn = s_try(self, stopped, arg, err, sizeof err);
        if (conn && s_setup(self, conn, err, sizeof err) != 0) {
            PQfinish(conn);
            conn = NULL;
        }
        if (conn) {
            if (self->down_logged || self->reopening)
                cs_log_info("database available (after %.1f s, %u %s)",
                            (cs_clock_mono_ms() - self->down_since) / 1000.0, tries,
                            tries == 1 ? "try" : "tries");
            self->conn = conn;
            self->down_logged = self->reopening = self->wait_first = false;
            self->fatal[0] = '\0';
            self->opened_at = cs_clock_mono_ms();
            return conn;
        }
        if (stopped(arg))
            break;
        size_t len = strlen(err);
        while (len && (err[len - 1] == '\n' || err[len - 1] == ' '))
            err[--len] = '\0';
        if (!self->down_logged) {
            cs_log_warn("database unavailable; waiting for it (trying again with a backoff up "
                        "to %d s): %s",
                        S_BACKOFF_MAX_MS / 1000, err);
            self->down_logged = true;
            if (!self->reopening)
                self->down_since = cs_clock_mono_ms();
        } else {
            cs_log_debug("database still unavailable (try %u; next in %d ms): %s", tries,
                         self->backoff_ms, err);
        }
        if (s_nap(self->backoff_ms, stopped, arg))
            break;
        self->backoff_ms =
            self->backoff_ms * 2 > S_BACKOFF_MAX_MS ? S_BACKOFF_MAX_MS : self->backoff_ms * 2;
    }
    return NULL;
}

bool cs_session_lost(cs_session_t *self, bool readable)
{
    if (!self->conn)
        return true;
    /* Idle, nothing is due: what arrived is a notice, or the server's goodbye and the end
     * of the stream, which turns the session bad. PQisBusy parses what was read. */
    if (readable && PQconsumeInput(self->conn))
        (void)PQisBusy(self->conn);
    return PQstatus(self->conn) != CONNECTION_OK;
}

const char *cs_session_why(cs_session_t *self)
{
    if (self->fatal[0]) {
        snprintf(self->why, sizeof self->why, "%s", self->fatal);
        return self->why;
    }
    cs_update_error(self->why, sizeof self->why, self->conn, NULL);
    const char *prefix = "database: ";
    if (strncmp(self->why, prefix, strlen(prefix)) == 0)
        memmove(self->why, self->why + strlen(prefix), strlen(self->why) - strlen(prefix) + 1);
    return self->why;
}

void cs_session_close(cs_session_t *self)
{
    if (!self->conn)
        return;
    PQfinish(self->conn);
    self->conn = NULL;
    self->fatal[0] = '\0';
    self->reopening = true;
    self->down_since = cs_clock_mono_ms();
    if (cs_clock_mono_ms() - self->opened_at < S_STABLE_MS) {
        self->wait_first = true; /* lost again soon: the backoff goes on growing */
    } else {
        self->wait_first = false;
        self->backoff_ms = S_BACKOFF_FIRST_MS;
    }
}
