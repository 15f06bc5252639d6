/* Private header of supervisor/: what the supervisor's modules share. */
#ifndef CS_SUPERVISOR_H
#define CS_SUPERVISOR_H

#include <czmq.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cs_buf.h"
#include "cs_config.h"
#include "cs_embedded.h"
#include "cs_log.h"
#include "cs_marker.h"
#include "cs_paths.h"
#include "cs_pg.h"
#include "cs_plugin.h"
#include "cs_proto.h"
#include "cs_wire.h"

/* Milliseconds of a monotonic clock, and microseconds since the epoch (time_changed). */
int64_t cs_now_ms(void);
int64_t cs_wall_us(void);

/* ---- store.c: the connections' rows, in memory and in the state table ------------------ */

/* What a connection's row holds. Strings are owned (NULL when empty). */
typedef struct {
    cs_status_t status;
    char *error;
    char *detail; /* what a pending row waits for (e.g. a worker); NULL otherwise */
    bool comments_set;
    int64_t time_us;
    uint64_t seq;
    char *plugin;
} cs_visible_t;

typedef struct {
    char *name;
    cs_visible_t now;       /* what we last decided */
    cs_visible_t committed; /* what the table holds (snapshots are served from this) */
    bool in_table;          /* committed: the table has the row */
    char *plugin_version;
    char *config_hash;
    char *schema_hash;
    char *type;
    char *file_name;
    int start_line;
    int end_line;
    char *worker;
    int attempts;
    bool dirty;   /* to be written */
    bool gone;    /* to be deleted from the table */
    void *handle; /* in the store's list of rows */
} cs_conn_t;

/* A schema of the database and its marker (managed: it carries a connstate marker). */
typedef struct {
    bool managed;
    cs_marker_t marker;
} cs_schema_info_t;

typedef struct cs_store cs_store_t;

/* Called once per row of a committed batch, in seq order, with the values written (a
 * deleted row has status CS_STATUS_DELETED). */
typedef void(cs_store_commit_fn)(void *arg, const char *name, const cs_visible_t *row);

/* Connects to the database (blocking). Returns NULL with the reason logged. */
cs_store_t *cs_store_new(const char *conninfo, cs_store_commit_fn *on_commit, void *arg);
void cs_store_destroy(cs_store_t **self_p);

/* Takes the session advisory lock that makes one supervisor active per database. When
 * another holds it, logs that we stand by and waits (checking *stop every second) until it
 * is ours. Returns 0 once held, -1 when stopped or on a database error. Blocks. */
int cs_store_lock(cs_store_t *self, volatile int *stop) __attribute__((warn_unused_result));

/* Creates connstate_internal (state and meta tables, file_fdw and its server) if missing,
 * loads every row, and sets every row to pending in one committed batch. Blocks. */
int cs_store_start(cs_store_t *self) __attribute__((warn_unused_result));

/* The row of a connection, or NULL. */
cs_conn_t *cs_store_get(cs_store_t *self, const char *name);

/* The row of a connection, created (pending, not yet in the table) when missing. */
cs_conn_t *cs_store_add(cs_store_t *self, const char *name);

/* Every row (borrowed list of cs_conn_t *; do not add or remove while iterating). */
zlistx_t *cs_store_rows(cs_store_t *self);

/* Sets a row's status and error (NULL: none), clears its detail, and queues it for writing
 * when anything changed; time_changed moves only when the status or error does. */
void cs_store_set(cs_store_t *self, cs_conn_t *conn, cs_status_t status, const char *error);

/* Sets what the row waits for (NULL: nothing), keeping its status; queued when changed. */
void cs_store_set_detail(cs_store_t *self, cs_conn_t *conn, const char *detail);

/* Sets a string field (plugin_version, ...) and queues the row when it changed. */
void cs_store_set_field(cs_store_t *self, cs_conn_t *conn, char **field, const char *value);
void cs_store_set_int(cs_store_t *self, cs_conn_t *conn, int *field, int value);
void cs_store_set_comments(cs_store_t *self, cs_conn_t *conn, bool comments_set);

/* Queues the row's deletion from the table. */
void cs_store_remove(cs_store_t *self, cs_conn_t *conn);

/* The schemas of the database: name -> cs_schema_info_t. The caller destroys the hash.
 * Waits for a batch in flight first. Blocks. */
zhashx_t *cs_store_schemas(cs_store_t *self);

/* Rows waiting to be written (and since when, cs_now_ms), and whether a batch is being
 * written. */
size_t cs_store_dirty(const cs_store_t *self);
int64_t cs_store_dirty_since(const cs_store_t *self);

/* True when a row waiting to be written changed status or error (not just its comments). */
bool cs_store_urgent(const cs_store_t *self);
bool cs_store_busy(const cs_store_t *self);

/* Starts writing up to max rows (0: all) as one transaction ending with pg_notify, unless a
 * batch is in flight or nothing is dirty. Returns 0, or -1 when the database is lost. Does
 * not block on the server. */
int cs_store_flush(cs_store_t *self, size_t max) __attribute__((warn_unused_result));

/* The socket to poll while a batch is in flight (-1 otherwise), whether to poll it for
 * writing too, and the handler of its events: finishes the batch when the server answered
 * (calling on_commit for its rows). Returns -1 when the database session is lost. */
int cs_store_socket(const cs_store_t *self, bool *want_write);
int cs_store_on_socket(cs_store_t *self) __attribute__((warn_unused_result));

/* Writes everything dirty and waits for it (startup and shutdown), retrying failed batches
 * with their backoff. Returns 0, or -1 when the session is lost or timeout_ms passes
 * first. Blocks. */
int cs_store_flush_all(cs_store_t *self, int timeout_ms) __attribute__((warn_unused_result));

/* When a failed batch may be written again (cs_now_ms; 0 or past: now). */
int64_t cs_store_retry_at(const cs_store_t *self);

/* The highest committed sequence number, and statistics of the writes so far (batches,
 * rows, and the time from sending them to their commit). */
uint64_t cs_store_seq(const cs_store_t *self);
void cs_store_stats(const cs_store_t *self, uint64_t *batches, uint64_t *rows, uint64_t *write_us);

/* ---- dispatch.c: tasks to workers -------------------------------------------------------- */

typedef struct {
    uint64_t id;
    cs_task_kind_t kind;
    char *connection;
    char *plugin;
    char *config; /* secrets: only ever sent to a worker */
    char *fingerprint;
    uint32_t attempt;
    bool fresh;         /* no schema of this name existed when it was planned */
    char *last_loss;    /* why the previous attempt was lost */
    bool waiting;       /* its row says it waits for a worker */
    char *lost_by;      /* the worker (routing id in hex) that lost the last attempt */
    bool superseded;    /* a newer plan replaced it while in flight: its result does not count */
    void *handle;       /* in its queue, while queued */
    int64_t not_before; /* held until then (cs_now_ms): its file is being rewritten */
    bool held;          /* ... and waits among the held tasks meanwhile */
} cs_task_t;

typedef struct cs_dispatch cs_dispatch_t;

typedef struct {
    /* a worker answered a task; the dispatcher frees the task afterwards */
    void (*on_result)(void *arg, cs_task_t *task, const cs_msg_t *result, const char *worker);
    /* a task was lost too many times; the dispatcher frees it afterwards */
    void (*on_lost)(void *arg, cs_task_t *task, const char *reason);
    /* a queued update waits for a worker (why), or no longer does (why NULL: it was sent) */
    void (*on_waiting)(void *arg, cs_task_t *task, const char *why);
    void *arg;
} cs_dispatch_events_t;

/* What the dispatcher allows: attempts of one task, the lease of one attempt, the silence
 * after which a worker is gone, the capacity a worker may claim, and how many workers may be
 * connected at once (more are told to go away). */
typedef struct {
    int max_attempts;
    int lease_ms;
    int peer_timeout_ms;
    uint32_t max_capacity;
    size_t max_workers;
} cs_dispatch_limits_t;

/* Borrows the ROUTER socket. */
cs_dispatch_t *cs_dispatch_new(zsock_t *router, cs_dispatch_events_t events,
                               cs_dispatch_limits_t limits);
void cs_dispatch_destroy(cs_dispatch_t **self_p);

/* Sets the argument the event callbacks receive. */
void cs_dispatch_set_arg(cs_dispatch_t *self, void *arg);

/* Queues a task (takes ownership). Comments go to a lower-priority queue. One update and one
 * comments task per connection: a newer update replaces the queued one (in its place), the
 * same one again is dropped; an update in flight is superseded by a different one, which is
 * held until it lands (its result then does not count: task->superseded). Comments are
 * dropped while an update of the connection is queued or in flight. */
void cs_dispatch_add(cs_dispatch_t *self, cs_task_t **task_p);

/* True when a build or delete of the connection is in flight. */
bool cs_dispatch_update_in_flight(const cs_dispatch_t *self, const char *connection);

/* The connection needs no update after all: its queued tasks are dropped and the one in
 * flight is superseded. */
void cs_dispatch_cancel(cs_dispatch_t *self, const char *connection);

/* Reads one message from the ROUTER, if one is waiting, and acts on it. Returns false when
 * none was waiting. */
bool cs_dispatch_on_socket(cs_dispatch_t *self);

/* Sends queued tasks to workers with free capacity; expires silent workers and leases;
 * heartbeats workers every second. */
void cs_dispatch_pump(cs_dispatch_t *self);

/* A local worker process exited: its tasks are re-queued at once. */
void cs_dispatch_worker_exited(cs_dispatch_t *self, pid_t pid, const char *how);

/* Tasks queued and in flight (all; builds and deletes only); connected workers. */
size_t cs_dispatch_outstanding(const cs_dispatch_t *self);
size_t cs_dispatch_updates_outstanding(const cs_dispatch_t *self);
size_t cs_dispatch_queued(const cs_dispatch_t *self);
size_t cs_dispatch_workers(const cs_dispatch_t *self);

/* When a held task may go (cs_now_ms), or 0 when none is held. */
int64_t cs_dispatch_next_due(const cs_dispatch_t *self);

/* Builds and deletes queued (not in flight). */
size_t cs_dispatch_updates_queued(const cs_dispatch_t *self);

/* No worker is there for the queued updates: each one not yet told so (or told another
 * why) is reported to on_waiting with why; once sent, with NULL. */
void cs_dispatch_mark_waiting(cs_dispatch_t *self, const char *why);

/* Tells every worker we are going away. */
void cs_dispatch_goodbye(cs_dispatch_t *self);

void cs_task_destroy(cs_task_t **self_p);

/* ---- spawn.c: local worker processes ------------------------------------------------------ */

typedef struct cs_spawn cs_spawn_t;

/* argv_base: the worker command line without --name (copied). A worker that exits more
 * than max_restarts times within window_ms is not restarted for window_ms. */
cs_spawn_t *cs_spawn_new(int count, char *const argv_base[], int max_restarts, int window_ms);
void cs_spawn_destroy(cs_spawn_t **self_p);

/* Starts the workers whose (re)start time has come. */
void cs_spawn_tick(cs_spawn_t *self);

/* Reaps the local workers that exited (by their pids only: plugin children of ask
 * threads are theirs to wait for); for each calls exited(arg, pid, how). */
void cs_spawn_reap(cs_spawn_t *self, void (*exited)(void *arg, pid_t pid, const char *how),
                   void *arg);

/* Why no local worker may be connected, on one line ("of 2 local workers, 2 restarted too
 * often (tried again at 12:00:00 UTC)"), into buf. */
void cs_spawn_describe(const cs_spawn_t *self, char *buf, size_t size);

/* SIGTERM to every worker, SIGKILL after deadline_ms; waits for them. Blocks. */
void cs_spawn_stop(cs_spawn_t *self, int deadline_ms);

/* ---- publish.c: the PUB socket and the control ROUTER ------------------------------------- */

typedef struct cs_publish cs_publish_t;

/* The supervisor's state that control requests read and act on. */
typedef struct {
    cs_store_t *store;
    cs_dispatch_t *dispatch;
    uint64_t instance;
    uint64_t generation_started;
    uint64_t generation_done;
    bool refreshing;
    bool refresh_requested; /* set by a REFRESH_REQ */
} cs_sup_view_t;

/* The control socket's send high-water mark: messages queued to one client (replies, and
 * snapshot slices of at most 32 KB: 1 MB at most). A snapshot waits for room; any other
 * reply to a client with this many unread is dropped. */
#define CS_CONTROL_SNDHWM 32

/* Borrows the sockets and the view; sets the control socket to fail rather than queue or
 * block when a client's queue is full (ZMQ_ROUTER_MANDATORY, no send timeout). At most
 * max_snapshots are served at once (2 per client); a snapshot whose client takes nothing for
 * snapshot_timeout_ms, or is gone, is dropped. Returns NULL when out of memory. */
cs_publish_t *cs_publish_new(zsock_t *pub, zsock_t *control, cs_sup_view_t *view, int max_snapshots,
                             int snapshot_timeout_ms);
void cs_publish_destroy(cs_publish_t **self_p);

/* Publishes one committed change (a cs_store_commit_fn). */
void cs_publish_change(void *self, const char *name, const cs_visible_t *row);

/* Heartbeats when idle. */
void cs_publish_tick(cs_publish_t *self);

/* Reads one control request, if one is waiting, and answers it (a snapshot is only
 * started: cs_publish_serve sends it). Returns false when none was waiting, or when this
 * turn of the event loop has spent its time on requests (the rest wait for the next). */
bool cs_publish_on_control(cs_publish_t *self);

/* Sends the next slices of the snapshots being served: a few messages of each, for about a
 * millisecond in all; drops those whose client is gone or took nothing for too long. Call
 * once per turn of the event loop. Never blocks. */
void cs_publish_serve(cs_publish_t *self);

/* Milliseconds until cs_publish_serve has something to send: 0 now, -1 nothing at all. */
int64_t cs_publish_next_ms(const cs_publish_t *self);

/* A refresh generation finished: answers the REFRESH_REQs that waited for it. */
void cs_publish_refresh_done(cs_publish_t *self, uint64_t generation, int64_t elapsed_us);

/* ---- plugins.c: the plugins' info, asked without blocking ----------------------------------- */

typedef struct cs_plugins cs_plugins_t;

typedef enum {
    CS_PLUGIN_KNOWN,  /* *info holds its version and schema mode */
    CS_PLUGIN_FAILED, /* *why says why (not found, info failed or timed out) */
    CS_PLUGIN_ASKING  /* being asked (or waiting for a free thread): look again later */
} cs_plugin_state_t;

/* Info of the plugins of plugin_dir, each `info` run bounded by timeout_ms. */
cs_plugins_t *cs_plugins_new(const char *plugin_dir, int timeout_ms);
/* Waits for the asks still running (each bounded by the timeout). */
void cs_plugins_destroy(cs_plugins_t **self_p);

/* What is known of a plugin. Its file is looked at (stat) once per generation; when it is
 * new or changed, a thread starts asking it (`PLUGIN info`) and the answer is
 * CS_PLUGIN_ASKING until cs_plugins_collect has it. *info and *why are borrowed until the
 * next call. Never blocks. */
cs_plugin_state_t cs_plugins_lookup(cs_plugins_t *self, const char *name, uint64_t generation,
                                    const cs_plugin_info_t **info, const char **why);

/* Poll items of the asks running (at most max); returns how many. */
int cs_plugins_pollitems(cs_plugins_t *self, zmq_pollitem_t *items, int max);

/* Takes in the answers of the asks that finished; returns how many did. Never blocks. */
size_t cs_plugins_collect(cs_plugins_t *self);

/* Asks running. */
size_t cs_plugins_asking(const cs_plugins_t *self);

/* ---- refresh.c: RefreshConnections -------------------------------------------------------- */

typedef struct cs_refresh cs_refresh_t;

/* The refresher borrows the store, the dispatcher and the plugins' info (whose versions
 * tell which schemas are out of date). */
cs_refresh_t *cs_refresh_new(cs_store_t *store, cs_dispatch_t *dispatch, cs_plugins_t *plugins,
                             const char *config_dir);
void cs_refresh_destroy(cs_refresh_t **self_p);

#define CS_REFRESH_WAITING (-2)

/* Computes the connection updates (config x state table x schemas and their markers), sets
 * every connection's status, queues the state write and the tasks. Returns the number of
 * configured connections, -1 when the database could not be read, or CS_REFRESH_WAITING
 * when plugins are being asked for their info (call it again once cs_plugins_collect has
 * answers: the config it loaded is kept). Blocks on the catalog read only (milliseconds). */
int cs_refresh_plan(cs_refresh_t *self);

/* A worker's answer or a lost task (cs_dispatch_events_t). */
void cs_refresh_on_result(void *self, cs_task_t *task, const cs_msg_t *result, const char *worker);
void cs_refresh_on_lost(void *self, cs_task_t *task, const char *reason);
void cs_refresh_on_waiting(void *self, cs_task_t *task, const char *why);

/* DDL statements workers reported since start: schema changes, and comments. */
void cs_refresh_ddl(const cs_refresh_t *self, uint64_t *ddl, uint64_t *comments);

/* When the refresher wants a plan of its own (cs_now_ms; 0: none): *due tells whether that
 * time has come (then it is forgotten: request the refresh). */
int64_t cs_refresh_replan_at(cs_refresh_t *self, int64_t now, bool *due);

/* Builds that changed a schema since start (superseded ones too). */
uint64_t cs_refresh_builds(const cs_refresh_t *self);

/* Statistics of the last plan: tasks queued by kind. */
void cs_refresh_counts(const cs_refresh_t *self, size_t *builds, size_t *deletes, size_t *comments);

#endif
