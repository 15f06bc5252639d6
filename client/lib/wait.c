/* libconnstate waiting: the interactive-query rule. LISTEN first, then read the state
 * table; while a wanted connection is pending or updating, wait for a notification. A
 * session lost meanwhile is reset with backoff within the deadline: LISTEN again, then
 * read again, so that no change is missed. */
#include "libconnstate.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Pauses between reconnection attempts: the first, doubling up to the last. */
#define S_RETRY_FIRST_S 0.1
#define S_RETRY_MAX_S   1.0
/* One attempt to connect takes at most this long (a host that does not answer). */
#define S_ATTEMPT_MAX_S 10.0

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

void connstate_wait_result_free(connstate_wait_result_t *result)
{
    if (!result)
        return;
    for (size_t i = 0; i < result->count; i++) {
        free(result->outcomes[i].connection);
        free(result->outcomes[i].status);
        free(result->outcomes[i].error);
        free(result->outcomes[i].detail);
    }
    free(result->outcomes);
    memset(result, 0, sizeof *result);
}

/* The rows of the wanted connections (all when count is 0), as a text[] parameter. */
static PGresult *s_read(PGconn *conn, const char *const *names, size_t count)
{
    if (count == 0)
        return PQexec(conn, "SELECT connection_name, status, error, detail"
                            " FROM connstate_internal.connection_state"
                            " WHERE status NOT IN ('disabled', 'deleting')"
                            " ORDER BY connection_name");
    cs_buf_t array = {0};
    cs_buf_putc(&array, '{');
    for (size_t i = 0; i < count; i++) {
        if (i)
            cs_buf_putc(&array, ',');
        cs_buf_putc(&array, '"'); /* array literal quoting: the case is kept */
        for (const char *p = names[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                cs_buf_putc(&array, '\\');
            cs_buf_putc(&array, *p);
        }
        cs_buf_putc(&array, '"');
    }
    cs_buf_putc(&array, '}');
    const char *params[] = {cs_buf_str(&array)};
    PGresult *res = PQexecParams(
        conn,
        "SELECT n, s.status, s.error, s.detail FROM unnest($1::text[]) AS n"
        " LEFT JOIN connstate_internal.connection_state s ON s.connection_name = n ORDER BY n",
        1, NULL, params, NULL, NULL, 0);
    cs_buf_free(&array);
    return res;
}

/* Fills the result from a read; returns how many are still pending or updating. */
static size_t s_judge(PGresult *res, connstate_wait_result_t *result)
{
    connstate_wait_result_free(result);
    int rows = PQntuples(res);
    result->outcomes = calloc(rows ? (size_t)rows : 1, sizeof *result->outcomes);
    if (!result->outcomes)
        return 0;
    result->count = (size_t)rows;
    for (int i = 0; i < rows; i++) {
        connstate_outcome_t *o = &result->outcomes[i];
        const char *name = PQgetvalue(res, i, 0);
        o->connection = strdup(name);
        if (PQgetisnull(res, i, 1)) {
            o->status = strdup("unknown");
            cs_buf_t why = {0};
            cs_buf_printf(&why, "connection \"%s\" is not configured (no row in the state table)",
                          name);
            o->error = cs_buf_take(&why);
            result->failed++;
            continue;
        }
        const char *status = PQgetvalue(res, i, 1);
        o->status = strdup(status);
        if (!PQgetisnull(res, i, 3))
            o->detail = strdup(PQgetvalue(res, i, 3));
        if (strcmp(status, "ready") == 0) {
            result->ready++;
        } else if (strcmp(status, "pending") == 0 || strcmp(status, "updating") == 0) {
            result->waiting++;
        } else {
            cs_buf_t why = {0};
            if (strcmp(status, "error") == 0 && !PQgetisnull(res, i, 2))
                cs_buf_puts(&why, PQgetvalue(res, i, 2));
            else if (strcmp(status, "disabled") == 0)
                cs_buf_printf(&why, "connection \"%s\" is disabled (import_schema = \"disabled\")",
                              name);
            else
                cs_buf_printf(&why, "connection \"%s\" is %s", name, status);
            o->error = cs_buf_take(&why);
            result->failed++;
        }
    }
    return result->waiting;
}

/* Waits for a notification on conn until deadline (0: none). Returns 1 when one came, 0 on
 * timeout, -1 when the session failed. */
static int s_wait_notify(PGconn *conn, double deadline)
{
    for (;;) {
        if (!PQconsumeInput(conn))
            return -1;
        PGnotify *notify;
        int got = 0;
        while ((notify = PQnotifies(conn)) != NULL) {
            got = 1;
            PQfreemem(notify);
        }
        if (got)
            return 1;
        int timeout = -1;
        if (deadline > 0) {
            double left = deadline - s_now();
            if (left <= 0)
                return 0;
            timeout = (int)(left * 1000) + 1;
        }
        struct pollfd pfd = {PQsocket(conn), POLLIN, 0};
        int rc = poll(&pfd, 1, timeout);
        if (rc < 0 && errno != EINTR)
            return -1;
        if (rc < 0)
            return 0; /* a signal: let the caller decide (it re-reads and checks the time) */
    }
}

/* The milliseconds to wait for at most: until the deadline (0: none), capped by limit_s;
 * 0 when the deadline has passed. */
static int s_ms_left(double deadline, double limit_s)
{
    double left = limit_s;
    if (deadline > 0 && deadline - s_now() < left)
        left = deadline - s_now();
    return left > 0 ? (int)(left * 1000) + 1 : 0;
}

/* One reconnection attempt of conn (PQresetStart, then PQresetPoll as its socket gets
 * ready) for at most S_ATTEMPT_MAX_S, never blocking past the deadline. Returns 0 when the
 * session is up, 1 when the deadline passed first (conn is then neither up nor usable), -1
 * when the attempt failed (PQerrorMessage says why, unless it took too long). */
static int s_reset(PGconn *conn, double deadline)
{
    if (!PQresetStart(conn))
        return -1;
    double give_up = s_now() + S_ATTEMPT_MAX_S;
    PostgresPollingStatusType polling = PGRES_POLLING_WRITING;
    while (polling != PGRES_POLLING_OK) {
        if (polling == PGRES_POLLING_FAILED)
            return -1;
        int timeout = s_ms_left(deadline, give_up - s_now());
        if (timeout == 0)
            return deadline > 0 && s_now() >= deadline ? 1 : -1;
        struct pollfd pfd = {PQsocket(conn), polling == PGRES_POLLING_READING ? POLLIN : POLLOUT,
                             0};
        int rc = poll(&pfd, 1, timeout);
        if (rc < 0 && errno != EINTR)
            return -1;
        if (rc > 0)
            polling = PQresetPoll(conn);
    }
    return 0;
}

/* LISTEN on the session. Returns 0, or -1 (PQerrorMessage says why). Blocks. */
static int s_listen(PGconn *conn)
{
    PGresult *listen = PQexec(conn, "LISTEN connstate_state");
    int rc = PQresultStatus(listen) == PGRES_COMMAND_OK ? 0 : -1;
    PQclear(listen);
    return rc;
}

/* The first line of the session's last error, for a session callback. */
static const char *s_reason(PGconn *conn, char *buf, size_t size)
{
    snprintf(buf, size, "%s", PQerrorMessage(conn));
    buf[strcspn(buf, "\n")] = '\0';
    if (!buf[0])
        snprintf(buf, size, "the database session was lost");
    return buf;
}

/* Gets the lost session back: attempts with pauses that double (S_RETRY_FIRST_S ..
 * S_RETRY_MAX_S, a little jitter so that many clients do not knock at once), until one
 * connects and LISTENs or the deadline passes. Returns 0 when it is back, 1 on the
 * deadline, -1 when a new session could not LISTEN (PQerrorMessage says why). Blocks. */
static int s_reconnect(PGconn *conn, double deadline)
{
    double pause = S_RETRY_FIRST_S;
    /* the jitter's own seed: the caller's random() sequence is left alone */
    unsigned seed = (unsigned)getpid() ^ (unsigned)(s_now() * 1e6);
    for (;;) {
        int rc = s_reset(conn, deadline);
        if (rc > 0)
            return 1;
        if (rc == 0) {
            if (s_listen(conn) == 0)
                return 0;
            if (PQstatus(conn) == CONNECTION_OK)
                return -1; /* a session that cannot LISTEN: retrying will not change it */
        }
        int ms = s_ms_left(deadline, pause * (1 + 0.2 * rand_r(&seed) / RAND_MAX));
        if (ms == 0)
            return 1;
        poll(NULL, 0, ms);
        pause = pause * 2 < S_RETRY_MAX_S ? pause * 2 : S_RETRY_MAX_S;
    }
}

int connstate_wait_events(PGconn *conn, const char *const *names, size_t count, double timeout_s,
                          connstate_progress_fn *progress, connstate_session_fn *session, void *arg,
                          connstate_wait_result_t *result)
{
    memset(result, 0, sizeof *result);
    if (PQstatus(conn) != CONNECTION_OK)
        return CONNSTATE_WAIT_FAILED; /* no session to begin with: the caller's failure */
    double deadline = timeout_s > 0 ? s_now() + timeout_s : 0;
    /* LISTEN before the first read: a change committed after the read is then notified. */
    bool up = s_listen(conn) == 0;
    int rc = CONNSTATE_WAIT_FAILED;
    for (;;) {
        if (!up) {
            if (PQstatus(conn) == CONNECTION_OK)
                break; /* an error of the database, not a lost session */
            char why[512];
            if (session)
                session(CONNSTATE_SESSION_LOST, s_reason(conn, why, sizeof why), arg);
            int back = s_reconnect(conn, deadline);
            if (back != 0) {
                rc = back > 0 ? CONNSTATE_WAIT_TIMEOUT : CONNSTATE_WAIT_FAILED;
                break;
            }
            up = true;
            if (session)
                session(CONNSTATE_SESSION_BACK, NULL, arg);
        }
        PGresult *res = s_read(conn, names, count);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            PQclear(res);
            up = false;
            continue;
        }
        size_t waiting = s_judge(res, result);
        PQclear(res);
        if (progress)
            progress(result->count - waiting, result->count, arg);
        if (waiting == 0) {
            rc = result->failed ? CONNSTATE_WAIT_ERROR : CONNSTATE_WAIT_READY;
            break;
        }
        if (deadline > 0 && s_now() >= deadline) {
            rc = CONNSTATE_WAIT_TIMEOUT;
            break;
        }
        int notified = s_wait_notify(conn, deadline);
        if (notified < 0) {
            up = false;
            continue;
        }
        if (notified == 0 && deadline > 0 && s_now() >= deadline) {
            rc = CONNSTATE_WAIT_TIMEOUT;
            break;
        }
    }
    if (PQstatus(conn) == CONNECTION_OK)
        PQclear(PQexec(conn, "UNLISTEN connstate_state"));
    return rc;
}

int connstate_wait(PGconn *conn, const char *const *names, size_t count, double timeout_s,
                   connstate_progress_fn *progress, void *arg, connstate_wait_result_t *result)
{
    return connstate_wait_events(conn, names, count, timeout_s, progress, NULL, arg, result);
}
