/* libconnstate: the C client API of connstate. Subscribe to every state change of a
 * supervisor (snapshot plus sequenced updates), or wait, in a PostgreSQL session, until the
 * connections a query needs are usable. Link with -lconnstate (pkg: libpq, libzmq, czmq). */
#ifndef CONNSTATE_H
#define CONNSTATE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the library's API: the only symbols libconnstate.so exports (it is built with
 * -fvisibility=hidden). Harmless in a program that uses the library. */
#if defined(__GNUC__)
#define CONNSTATE_EXPORT __attribute__((visibility("default")))
#else
#define CONNSTATE_EXPORT
#endif

/* Where a supervisor listens by default: its publish (PUB) and control (ROUTER) endpoints. */
#define CONNSTATE_PUBLISH_DEFAULT "tcp://127.0.0.1:7601"
#define CONNSTATE_CONTROL_DEFAULT "tcp://127.0.0.1:7602"

/* The library's version, "MAJOR.MINOR.PATCH"; borrowed. */
CONNSTATE_EXPORT const char *connstate_version(void);

/* ---- subscribing -------------------------------------------------------------------------- */

/* One change of a connection's state. Strings are borrowed for the callback's duration. */
typedef struct {
    uint64_t seq; /* the supervisor's sequence number of this change */
    const char *connection;
    const char *status;      /* pending, updating, deleting, ready, error, disabled, or
                                deleted (the row is gone) */
    const char *error;       /* NULL unless status is error */
    int64_t time_changed_us; /* microseconds since the Unix epoch */
    bool comments_set;
    const char *plugin; /* may be NULL */
    bool snapshot;      /* part of a snapshot, not a live change: the first one whole, a
                           resync only the rows that differ from those held (a row gone:
                           deleted), so that no change is reported twice */
} connstate_change_t;

typedef void(connstate_change_fn)(const connstate_change_t *change, void *arg);

typedef struct connstate_sub connstate_sub_t;

/* Subscribes to a supervisor: SUB on publish_ep first, then a snapshot from control_ep, asked
 * for once a message (a heartbeat: one a second) came on SUB, then live changes in order.
 * Updates at or below the snapshot's sequence number are discarded; a gap in sequence
 * numbers, a supervisor restart, or silence (3 s without a heartbeat) triggers a new
 * snapshot, after silence once SUB hears from the supervisor again. Only connections whose name
 * starts with prefix (NULL or "": all) are kept and reported. Every change is passed to fn. Returns
 * NULL when out of memory or an endpoint is invalid. Does not block: the supervisor may start
 * later. */
CONNSTATE_EXPORT connstate_sub_t *connstate_sub_new(const char *publish_ep, const char *control_ep,
                                                    const char *prefix, connstate_change_fn *fn,
                                                    void *arg);

/* The same over CURVE: curve_cert is this client's certificate (as `connstate keygen FILE`
 * wrote it: FILE, with FILE_secret beside it), curve_server the supervisor's public
 * certificate. Both NULL: CONNSTATE_CURVE_CERT and CONNSTATE_CURVE_SERVER from the
 * environment, and plain text only when neither is set. connstate_sub_new is this with both
 * NULL. Returns NULL with errno EINVAL when only one is given or a certificate cannot be
 * read: a client with CURVE settings never falls back to plain text. */
CONNSTATE_EXPORT connstate_sub_t *
connstate_sub_new_curve(const char *publish_ep, const char *control_ep, const char *prefix,
                        const char *curve_cert, const char *curve_server, connstate_change_fn *fn,
                        void *arg);

/* Closes the sockets, frees everything and NULLs *self_p. Idempotent. */
CONNSTATE_EXPORT void connstate_sub_destroy(connstate_sub_t **self_p);

/* To poll the subscription with your own sockets and file descriptors: fills up to max
 * items (it needs 2) and returns how many; call zmq_poll with a timeout of at most
 * connstate_sub_timeout() ms, then connstate_sub_process() with the same items. */
CONNSTATE_EXPORT int connstate_sub_pollitems(connstate_sub_t *self, zmq_pollitem_t *items, int max);
CONNSTATE_EXPORT int connstate_sub_timeout(const connstate_sub_t *self);

/* Reads what arrived and calls the callback for each change; also runs the timers (snapshot
 * retries, silence detection). Returns 0, or -1 on a socket error. Never blocks. */
CONNSTATE_EXPORT int connstate_sub_process(connstate_sub_t *self, const zmq_pollitem_t *items,
                                           int count);

/* Convenience: polls for at most timeout_ms and processes. Returns 0, or -1 (interrupted by a
 * signal, or a socket error). Blocks up to timeout_ms. */
CONNSTATE_EXPORT int connstate_sub_run(connstate_sub_t *self, int timeout_ms);

/* True once a snapshot was applied and no resync is under way. */
CONNSTATE_EXPORT bool connstate_sub_synced(const connstate_sub_t *self);

/* The last sequence number applied; how many resyncs happened (gaps, restarts, silence). */
CONNSTATE_EXPORT uint64_t connstate_sub_seq(const connstate_sub_t *self);
CONNSTATE_EXPORT uint64_t connstate_sub_resyncs(const connstate_sub_t *self);
/* How many snapshots were applied (the first, and one per resync); seq, when not NULL,
 * receives the last one's sequence number. The count goes up before the snapshot's rows are
 * passed to the callback: a callback that sees it change knows a snapshot is being reported. */
CONNSTATE_EXPORT uint64_t connstate_sub_snapshots(const connstate_sub_t *self, uint64_t *seq);

/* What the supervisor's latest heartbeat said about its database. */
typedef enum {
    CONNSTATE_SUPERVISOR_UNKNOWN = 0, /* no heartbeat heard yet */
    CONNSTATE_SUPERVISOR_ACTIVE = 1,  /* it has its database session and the lock */
    CONNSTATE_SUPERVISOR_DB_DOWN = 2, /* it has had no database session since *since_us: it
                                         publishes no change and refuses snapshots meanwhile */
    CONNSTATE_SUPERVISOR_STANDBY = 3, /* another supervisor holds the lock: this one is not
                                         active (publishes only heartbeats) */
} connstate_supervisor_state_t;

/* The supervisor's state as its latest heartbeat (about once a second) said; since_us, when
 * not NULL, receives the time (microseconds since the Unix epoch) the database became
 * unavailable, 0 unless the state is CONNSTATE_SUPERVISOR_DB_DOWN. The rows stay as they
 * were meanwhile; once it is active again a jump in its sequence numbers starts a resync,
 * and a refused snapshot is asked for again at once. Never blocks. */
CONNSTATE_EXPORT connstate_supervisor_state_t
connstate_sub_supervisor_state(const connstate_sub_t *self, int64_t *since_us);

/* The current rows (matching the prefix): their number, the number in a status, and each
 * row through fn (snapshot false; in no particular order). */
CONNSTATE_EXPORT size_t connstate_sub_size(const connstate_sub_t *self);
CONNSTATE_EXPORT size_t connstate_sub_count(const connstate_sub_t *self, const char *status);
CONNSTATE_EXPORT void connstate_sub_foreach(const connstate_sub_t *self, connstate_change_fn *fn,
                                            void *arg);

/* ---- waiting ------------------------------------------------------------------------------ */

#define CONNSTATE_WAIT_READY   0    /* every wanted connection is ready */
#define CONNSTATE_WAIT_ERROR   1    /* some ended in error (or are disabled, or unknown) */
#define CONNSTATE_WAIT_TIMEOUT 3    /* some are still pending or updating */
#define CONNSTATE_WAIT_FAILED  (-1) /* the database session failed; see PQerrorMessage */

typedef struct {
    char *connection;
    char *status; /* ready, error, disabled, pending, updating, ... or "unknown" */
    char *error;  /* why it is not usable; NULL when ready */
    char *detail; /* what a pending one waits for (e.g. "waiting for a worker ..."), or NULL */
} connstate_outcome_t;

typedef struct {
    connstate_outcome_t *outcomes; /* one per wanted connection, in name order */
    size_t count;
    size_t ready;
    size_t failed;  /* error, disabled or unknown */
    size_t waiting; /* still pending or updating (after a timeout) */
} connstate_wait_result_t;

/* Called after every read of the state table: how many wanted connections are settled. */
typedef void(connstate_progress_fn)(size_t settled, size_t total, void *arg);

/* The interactive-query rule, in the caller's PostgreSQL session: LISTEN connstate_state
 * first, then read the state table; while any wanted connection (names; all of them when
 * count is 0) is pending or updating, wait for a notification and read again. A named
 * connection without a row is "unknown"; with no names, disabled and deleting connections
 * are not waited for. timeout_s <= 0 waits as long as it takes. Fills result (free it with
 * connstate_wait_result_free) and returns a CONNSTATE_WAIT_* code. Blocks.
 *
 * A session lost while waiting (the server restarted, the backend terminated) is reset
 * with libpq's PQresetStart/PQresetPoll on the same conn, the same conninfo (so a multi-host
 * conninfo finds the new primary), retried with pauses doubling from 0.1 s to 1 s and
 * never past the timeout; then it LISTENs again and reads the table again, so no change is
 * missed. What the session had set (SET, prepared statements, temporary tables) is gone, as
 * after PQreset. CONNSTATE_WAIT_TIMEOUT with PQstatus(conn) != CONNECTION_OK: the timeout
 * passed while the database was unreachable (result holds the read before it went away);
 * PQreset or PQfinish the session. CONNSTATE_WAIT_FAILED: conn was not connected to begin
 * with, a read failed on a live session (no state table, no permission), or a new session
 * could not LISTEN; PQerrorMessage says why. */
CONNSTATE_EXPORT int connstate_wait(PGconn *conn, const char *const *names, size_t count,
                                    double timeout_s, connstate_progress_fn *progress, void *arg,
                                    connstate_wait_result_t *result);

/* What happened to the session of a wait. */
typedef enum {
    CONNSTATE_SESSION_LOST = 1, /* it failed; message: libpq's reason (one line). Reconnecting */
    CONNSTATE_SESSION_BACK = 2, /* a new session LISTENs; the table is read again next (message
                                   NULL) */
} connstate_session_event_t;

/* Called when the session is lost and when it is back; message is borrowed for the call. */
typedef void(connstate_session_fn)(connstate_session_event_t event, const char *message, void *arg);

/* connstate_wait, telling session (when not NULL) each time the session is lost and each
 * time it is back: LOST, then BACK once reconnected (or nothing more when the timeout
 * passes first). progress and session both get arg. Returns as connstate_wait. Blocks. */
CONNSTATE_EXPORT int connstate_wait_events(PGconn *conn, const char *const *names, size_t count,
                                           double timeout_s, connstate_progress_fn *progress,
                                           connstate_session_fn *session, void *arg,
                                           connstate_wait_result_t *result);

CONNSTATE_EXPORT void connstate_wait_result_free(connstate_wait_result_t *result);

#ifdef __cplusplus
}
#endif

#endif
