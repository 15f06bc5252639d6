/* Private header of supervisor/: what the supervisor's modules share. */
#ifndef CS_SUPERVISOR_H
#define CS_SUPERVISOR_H

#include <czmq.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cs_buf.h"
#include "cs_clock.h"
#include "cs_config.h"
#include "cs_embedded.h"
#include "cs_log.h"
#include "cs_marker.h"
#include "cs_paths.h"
#include "cs_pg.h"
#include "cs_plugin.h"
#include "cs_plugins.h"
#include "cs_proto.h"
#include "cs_wire.h"

/* ---- table.c: the state table's columns, declared once -------------------------------- */

/* One row's values, as the state table holds them. Strings are owned (NULL when empty). */
typedef struct {
    char *name;
    cs_status_t status;
    int attempts;
    char *error;  /* set when status is error */
    char *detail; /* what a pending row waits for (e.g. a worker); a ready aggregator: who it left
                     out */
    int64_t time_us; /* time_changed, microseconds since the epoch */
    uint64_t seq;
    char *plugin;
    char *plugin_version;
    char *config_hash;
    char *schema_hash;
    char *type;
    char *file_name;
    char *worker;
    int start_line;
    int end_line;
    bool comments_set;
    uint16_t reason; /* why its last update was planned (cs_reason_intern; 0: none) */
    int build_ms;    /* its last build's duration (0: none yet) */
} cs_row_values_t;

/* The plans' reasons, each text kept once for the process (at most CS_REASONS_MAX; past
 * that a new one is "other"): its number (0 for NULL or ""), and a number's text (NULL for 0
 * or one never given out). Never blocks. */
#define CS_REASONS_MAX 4096
uint16_t cs_reason_intern(const char *text);
const char *cs_reason_text(uint16_t id);

/* Frees the strings of v (the struct stays). */
void cs_row_values_clear(cs_row_values_t *v);
/* Makes dst a copy of src (dst's strings freed first). */
void cs_row_values_copy(cs_row_values_t *dst, const cs_row_values_t *src);

/* The SQL texts, generated from the column list (borrowed, built on first use): the table's
 * CREATE with an ADD COLUMN IF NOT EXISTS for every column (a table of an earlier version
 * grows); the startup read; the batch ($1 the rows' deletion flags, $7 their claimed flags,
 * $8 onwards one array per column: cs_table_batch_params; $2 the last sequence number; $3
 * the NOTIFY payload without its closing brace; $4 and $5 the errors of a refused ready and
 * a refused deletion). The batch checks each row whose status
 * or deletion is a worker's word (cs_store_claim) against the schema of its name: a `ready`
 * only while that schema's connstate marker says the row's
 * config_hash (fingerprint), plugin_version and schema_hash; a deletion or a `disabled` only
 * while no schema of that name has a connstate marker. A refused row is written as `error`
 * with $4 or $5 (a refused deletion keeps its row). Its one result row: the pg_notify, the
 * rows upserted, the rows deleted, the seqs of the refused rows ("3,7"; NULL: none), and
 * what became of $6, the database's default search path asked for (cs_search_path_json; NULL:
 * none asked, and NULL is the answer): its connections kept only where the row is ready once
 * the statement commits, then set with ALTER DATABASE by connstate_internal.set_search_path
 * in the same transaction when it differs from the one in force ("set: PATH", "same", or
 * "failed: MESSAGE" -- a failure does not fail the statement). The plain upsert: the same
 * for a batch without a row to delete or a worker's word to check (same parameters and
 * answer), at about half the cost a row: no marker read, the rows updated by a join.
 * The status upsert: the same again for a batch of rows the table holds whose description it
 * holds as they are (cs_store_take_dirty says which): only the state columns' arrays, $8
 * onwards (cs_table_batch_params with status), each row updated by its key; a row the table
 * no longer has fails the statement (connstate_internal.rows_written).
 * The startup's pending ($1 the meta's last_seq, $2 now in microseconds since the epoch): one
 * statement sets every row pending as cs_store_set (PENDING, NULL) would (a row pending
 * without error or detail is left alone), each changed row with a new sequence number after
 * the highest in the table or $1; it answers every row, the startup read's columns and then
 * "changed" (t/f). Its end, in the same transaction ($1 the last sequence number, $2 the
 * NOTIFY payload without its closing brace): the meta's last_seq and the batch's pg_notify.
 * The table also keeps each row's history, which the supervisor neither holds nor sends: the
 * statements that write a row derive it from the change (last_attempt_at: when it last became
 * updating or deleting, or its attempts changed; last_ready_at: when it last became ready;
 * last_error_at and last_error: when it last became error, or its error changed, and that
 * error, kept after it is over). */
/* Appends text as one element of an array literal: quoted, backslash and quote escaped,
 * each byte that is not valid UTF-8 written as '?' (the server would refuse the statement). */
void cs_table_array_text(cs_buf_t *out, const char *text);

const char *cs_table_create_sql(void);
const char *cs_table_select_sql(void);
const char *cs_table_upsert_sql(void);
const char *cs_table_upsert_plain_sql(void);
const char *cs_table_upsert_status_sql(void);
const char *cs_table_pending_sql(void);
const char *cs_table_pending_end_sql(void);

/* Reads row `row` of a cs_table_select_sql (or cs_table_pending_sql) result into v (zeroed
 * first; the caller clears it). Returns 0, or -1 when the result does not have the table's
 * columns. */
int cs_table_parse_row(const PGresult *res, int row, cs_row_values_t *v);
/* ... its strings borrowed from res (valid until PQclear; not to be cleared). */
int cs_table_read_row(const PGresult *res, int row, cs_row_values_t *v);

#define CS_TABLE_COLUMNS      19
#define CS_TABLE_BATCH_PARAMS (7 + CS_TABLE_COLUMNS)

/* A batch's rows as the statement takes them: one array literal per column (and the
 * deletion and claimed flags). `cs_table_batch_t batch = {0};` is an empty one. */
typedef struct {
    cs_buf_t columns[CS_TABLE_COLUMNS];
    cs_buf_t gone, claimed;
    size_t rows;
} cs_table_batch_t;

/* Appends v (gone: the row is to be deleted; claimed: its status or deletion is a worker's
 * word, to be checked; status: the batch is the status upsert's, only the state columns are
 * written, and every row of it must be added so). Text that is not valid UTF-8 is written
 * with '?' for each bad byte. */
void cs_table_batch_add(cs_table_batch_t *self, const cs_row_values_t *v, bool gone, bool claimed,
                        bool status);
/* Closes the arrays and points params[0], params[6] and params[7...] at them (borrowed, valid
 * until cs_table_batch_free): every column's, or with status only the state columns' (the
 * status upsert's), the rest NULL; the caller fills params[1..5]. Returns how many
 * parameters the statement takes, or -1 when out of memory. Call once. */
int cs_table_batch_params(cs_table_batch_t *self, const char *params[CS_TABLE_BATCH_PARAMS],
                          bool status);
void cs_table_batch_free(cs_table_batch_t *self);

/* ---- store.c: the connections' rows in memory ---------------------------------------- */

/* What clients see of a row: published changes and snapshots. Strings are owned. */
typedef struct {
    cs_status_t status;
    bool comments_set;
    char *error;
    char *detail;
    int64_t time_us;
    uint64_t seq;
    char *plugin;
} cs_visible_t;

void cs_visible_clear(cs_visible_t *v);
/* Sets dst (cleared first) to the visible part of src. */
void cs_visible_of(cs_visible_t *dst, const cs_row_values_t *src);

typedef struct cs_store cs_store_t;
typedef struct cs_record cs_record_t; /* one connection's row: changed only through cs_store_* */

/* An empty store; NULL when out of memory. */
cs_store_t *cs_store_new(void);
void cs_store_destroy(cs_store_t **self_p);

/* Forgets every row and the writing queue (before the state table is read again). */
void cs_store_clear(cs_store_t *self);

/* A row as the state table holds it (startup): values copied, committed. Returns 0 or -1. */
int cs_store_load(cs_store_t *self, const cs_row_values_t *values);

/* The row of a connection, or NULL (borrowed). */
cs_record_t *cs_store_get(cs_store_t *self, const char *name);
/* ... created (pending, queued for writing) when missing. NULL when out of memory. */
cs_record_t *cs_store_add(cs_store_t *self, const char *name);

/* Every row, in the order they came: first, then next until NULL. Do not add or remove
 * rows while iterating (one iteration at a time). */
size_t cs_store_size(const cs_store_t *self);
cs_record_t *cs_store_first(cs_store_t *self);
cs_record_t *cs_store_next(cs_store_t *self);

/* A row's name and values (what we last decided), what the table holds (NULL when the
 * table has no such row), and whether its deletion is queued. All borrowed. */
const char *cs_record_name(const cs_record_t *row);
const cs_row_values_t *cs_record_values(const cs_record_t *row);
const cs_visible_t *cs_record_committed(const cs_record_t *row);
bool cs_record_gone(const cs_record_t *row);

/* Changes of a row; each queues it for writing when anything changed. cs_store_set sets
 * the status and error (NULL: none) and clears the detail; time_changed moves only when the
 * status or error does. */
void cs_store_set(cs_store_t *self, cs_record_t *row, cs_status_t status, const char *error);
/* ... and the detail with them (a ready aggregator's: the members it left out). */
void cs_store_set_noted(cs_store_t *self, cs_record_t *row, cs_status_t status, const char *error,
                        const char *detail);
/* What the row waits for (NULL: nothing), keeping its status. */
void cs_store_set_detail(cs_store_t *self, cs_record_t *row, const char *detail);
/* Where and how the connection is configured: plugin, fingerprint (not an aggregator's: that
 * one the plan sets), type, file and lines. */
void cs_store_describe(cs_store_t *self, cs_record_t *row, const cs_connection_t *c);
/* An aggregator's fingerprint (its config_hash: over its config, the plugin's version and its
 * members' schema hashes), which its schema's marker must say for the row to be ready. */
void cs_store_set_fingerprint(cs_store_t *self, cs_record_t *row, const char *fingerprint);
/* What its schema was built from. */
void cs_store_set_built(cs_store_t *self, cs_record_t *row, const char *plugin_version,
                        const char *schema_hash);
/* The worker of its last update (NULL: unchanged) and that update's attempts. */
void cs_store_set_worker(cs_store_t *self, cs_record_t *row, const char *worker, int attempts);
void cs_store_set_comments(cs_store_t *self, cs_record_t *row, bool comments_set);
/* Why its update was planned (the plan's reason, interned); its last build's duration. */
void cs_store_set_reason(cs_store_t *self, cs_record_t *row, const char *reason);
void cs_store_set_build_ms(cs_store_t *self, cs_record_t *row, uint64_t elapsed_us);
/* Its schema changed while its status stayed (a dynamic schema fetched again, built anew):
 * time_changed moves to now, and the row is queued for writing at once. */
void cs_store_touch(cs_store_t *self, cs_record_t *row);
/* Queues the row's deletion from the table (undone by cs_store_set or cs_store_add). */
void cs_store_remove(cs_store_t *self, cs_record_t *row);
/* The row's status (ready, disabled) or its deletion, as just set, is a worker's word: the
 * batch that writes it checks it against the schema (cs_table_upsert_sql) until a write of
 * it committed. Any later cs_store_set or cs_store_remove is a decision of its own and
 * clears it. Queues the row for writing. */
void cs_store_claim(cs_store_t *self, cs_record_t *row);
bool cs_record_claimed(const cs_record_t *row);
/* True when the table holds what was last decided for the row: nothing of it is queued or in a
 * batch that has not committed yet. */
bool cs_record_settled(const cs_record_t *row);

/* The rows the table holds, by committed status (counts has CS_STATUS_COUNT entries);
 * returns their number. */
uint32_t cs_store_counts(const cs_store_t *self, uint32_t counts[CS_STATUS_COUNT]);

/* The same counts, kept as rows change: O(1) (cs_store_counts walks every row). */
uint32_t cs_store_status_counts(const cs_store_t *self, uint32_t counts[CS_STATUS_COUNT]);
/* The rows a plan must look at again whatever else changed, each once to fn (NULL: none; no
 * order): those whose decided status is not ready or disabled, a ready one whose comments are
 * owed, one whose deletion is queued. Returns their number. The store must not change while
 * fn runs. Never blocks. */
size_t cs_store_unsettled(cs_store_t *self, void (*fn)(void *arg, const char *name), void *arg);

/* The writing queue (for the batch writer): how many rows wait (and since when, cs_clock_mono_ms),
 * whether one changed status or error; the first one taken off the queue with its next
 * sequence number (NULL when none waits), *full saying whether it is to be written with every
 * column (the table may not have it, or may hold another description: plugin, fingerprint,
 * type, file, lines, what it was built from, worker, attempts) or its state columns are
 * enough; a row of a failed batch put back at the front (when it was not queued again
 * meanwhile), written in full next; and what a committed batch wrote for a row (deleted: the
 * row left the table; forgotten unless it was queued again). */
size_t cs_store_dirty(const cs_store_t *self);
int64_t cs_store_dirty_since(const cs_store_t *self);
bool cs_store_urgent(const cs_store_t *self);
cs_record_t *cs_store_take_dirty(cs_store_t *self, uint64_t seq, bool *full);
void cs_store_requeue(cs_store_t *self, const char *name);
void cs_store_written(cs_store_t *self, const char *name, const cs_visible_t *written,
                      bool deleted);
/* The table refused what a batch wrote for the row (its deletion, when deleted; else the
 * status claimed, ready or disabled) and holds error instead: what we decided becomes that
 * error, unless the row was decided otherwise meanwhile. Returns true when it did (the
 * refused update is to be done again), false when a newer decision stands. Call before
 * cs_store_written. */
bool cs_store_refused(cs_store_t *self, const char *name, bool deleted, cs_status_t claimed,
                      const char *error);

/* ---- schemas.c: the database's schemas, as last read (kept across plans) ---------------- */

/* What a schema's connstate marker says, compactly: the plugin's name and version are interned
 * by the cache that holds it ("" when the marker has none). */
typedef struct {
    char fingerprint[17];
    char schema_hash[17];
    bool aggregator;
    const char *plugin;
    const char *plugin_version;
} cs_schema_marker_t;

/* A schema of the database (managed: it carries a connstate marker; then marker says what). */
typedef struct {
    bool managed;
    uint32_t oid; /* pg_namespace.oid */
    cs_schema_marker_t marker;
} cs_schema_info_t;

typedef struct cs_schemas cs_schemas_t;

/* An empty cache: nothing read yet (the first read is a full one). NULL when out of memory. */
cs_schemas_t *cs_schemas_new(void);
void cs_schemas_destroy(cs_schemas_t **self_p);

/* The schema of that name as last read, or NULL (borrowed: valid until the next change). */
const cs_schema_info_t *cs_schemas_get(const cs_schemas_t *self, const char *name);
size_t cs_schemas_count(const cs_schemas_t *self);
/* Every schema, in no order: first, then next until NULL (*name borrowed). The cache must not
 * change, nor be looked up with cs_schemas_get, while iterating. */
const cs_schema_info_t *cs_schemas_first(const cs_schemas_t *self, const char **name);
const cs_schema_info_t *cs_schemas_next(const cs_schemas_t *self, const char **name);

/* What a read of the catalog found. set: the schema exists (comment: its description, NULL
 * when none); drop: no schema of that name. A full read is cs_schemas_full_begin, a set of
 * every schema there is, then cs_schemas_full_end, which drops those not set since begin.
 * Each change of an entry notes its name (cs_schemas_take_changed). Out of memory, an entry
 * is dropped and the cache wants a full read (cs_schemas_stale). Never block. */
void cs_schemas_set(cs_schemas_t *self, const char *name, uint32_t oid, const char *comment);
void cs_schemas_drop(cs_schemas_t *self, const char *name);
/* What the schema journal says, by oid (it knows oids, not the names they had): set_oid, the
 * schema of that oid is now name (a rename: the name it had in the cache is dropped); drop_oid,
 * it is gone, whatever its name was. Never block. */
void cs_schemas_set_oid(cs_schemas_t *self, uint32_t oid, const char *name, const char *comment);
void cs_schemas_drop_oid(cs_schemas_t *self, uint32_t oid);
void cs_schemas_full_begin(cs_schemas_t *self);
void cs_schemas_full_end(cs_schemas_t *self);
/* True when only a full read can make the cache right again (nothing read yet, out of memory,
 * or cs_schemas_invalidate: e.g. the session changed and with it what was seen). */
bool cs_schemas_stale(const cs_schemas_t *self);
void cs_schemas_invalidate(cs_schemas_t *self);

/* Names in doubt: what an update of a worker may have changed, which the schema journal does
 * not show (workers' sessions are not journaled), read again by name by the next read. doubt:
 * that name; doubt_update: what a build, delete or aggregate of that connection (or temporary
 * schema) may have touched -- its name, its temporary names, and every aggregator's schema known
 * (a member's update marks those that read it stale), or for an aggregate every temporary
 * schema known (it drops its members' previous ones). More than CS_SCHEMAS_DOUBT_MAX names (or out
 * of memory): the next read is a full one. The names are listed with doubt_first/next (no order;
 * borrowed; no doubt added meanwhile) and forgotten once read (doubts_read; a full read
 * forgets them too). Never block. */
#define CS_SCHEMAS_DOUBT_MAX 10000
void cs_schemas_doubt(cs_schemas_t *self, const char *name);
void cs_schemas_doubt_update(cs_schemas_t *self, const char *name, bool aggregate);
size_t cs_schemas_doubt_count(const cs_schemas_t *self);
const char *cs_schemas_doubt_first(const cs_schemas_t *self);
const char *cs_schemas_doubt_next(const cs_schemas_t *self);
void cs_schemas_doubts_read(cs_schemas_t *self);

/* Asks for a full read at the next read, saying why (static text: "SIGHUP", ...; the first
 * reason given is kept until a full read). full_wanted: why one is due (asked, or the cache is
 * stale), NULL when a read of what changed will do. changes: entries changed since the cache
 * was made (for the logs: a read's difference is what it found changed). */
void cs_schemas_ask_full(cs_schemas_t *self, const char *why);
const char *cs_schemas_full_wanted(const cs_schemas_t *self);
uint64_t cs_schemas_changes(const cs_schemas_t *self);

/* The names whose entry changed since the last call, each once to fn (no order; NULL fn: only
 * forgotten). Returns true when every name is to be looked at instead (the cache was filled
 * from nothing since: the first read); the names are then not listed. */
bool cs_schemas_take_changed(cs_schemas_t *self, void (*fn)(void *arg, const char *name),
                             void *arg);

/* Fills a cs_schema_marker_t from a parsed marker, with strings interned by the cache (for
 * tests and for whoever builds entries by hand). */
void cs_schemas_marker_of(cs_schemas_t *self, const cs_marker_t *in, cs_schema_marker_t *out);

/* ---- catalog.c: the supervisor's database session and the catalog ------------------- */

typedef struct cs_catalog cs_catalog_t;

/* Where the supervisor stands with its database. Only an active supervisor writes the state
 * table, publishes changes and completes refreshes. */
typedef enum {
    CS_DB_DOWN,       /* no session: the next attempt after a backoff (100 ms doubling to 5 s) */
    CS_DB_CONNECTING, /* an attempt is under way (without blocking) */
    CS_DB_STANDBY,    /* connected; another supervisor holds the lock (asked every second) */
    CS_DB_ACTIVE      /* connected, holding the session advisory lock */
} cs_db_state_t;

/* A catalog that is not connected yet: cs_catalog_step connects. NULL when out of memory. */
cs_catalog_t *cs_catalog_new(const char *conninfo);
/* A catalog over a session of the caller's (it takes ownership of pg), for reads only: it
 * never takes the supervisors' lock (cs_catalog_load, cs_catalog_read_schemas). NULL when
 * out of memory (pg is then finished). */
cs_catalog_t *cs_catalog_reader(PGconn *pg);
/* The lease of an update (--task-timeout), which each setup writes to connstate_internal.meta
 * as task_timeout_s: how long `connstate status --stuck` lets a row be updating. */
void cs_catalog_set_lease(cs_catalog_t *self, int seconds);
/* Closes the session, which releases the supervisor lock. */
void cs_catalog_destroy(cs_catalog_t **self_p);

/* Moves the session on: connects (a multi-host conninfo tries each host), takes the lock
 * (or stands by, asking again every second), and notices a session that went away
 * (readable: its socket polled readable, or writable while connecting). Logs once per change
 * of state. Returns the state. Blocks only on the lock's one query. */
cs_db_state_t cs_catalog_step(cs_catalog_t *self, bool readable);
/* The socket to poll (into item) while connecting or idle; false when there is none. Not
 * to be polled while a batch is in flight on the session (the batch reads it). */
bool cs_catalog_pollitem(const cs_catalog_t *self, zmq_pollitem_t *item);
/* Milliseconds until cs_catalog_step has an attempt or a lock try to make; -1: none. */
int64_t cs_catalog_next_ms(const cs_catalog_t *self);
/* Someone found the session gone (why: NULL for the session's own error): down. */
void cs_catalog_lost(cs_catalog_t *self, const char *why);

cs_db_state_t cs_catalog_state(const cs_catalog_t *self);
/* When the database went away (wall clock, microseconds; 0 while connected), and why. */
int64_t cs_catalog_down_since(const cs_catalog_t *self);
const char *cs_catalog_error(const cs_catalog_t *self);

/* The session while active (borrowed; NULL otherwise): the batch writer writes on it. */
PGconn *cs_catalog_session(cs_catalog_t *self);
/* True when there is no session or libpq found it broken. */
bool cs_catalog_session_bad(const cs_catalog_t *self);

/* Creates what connstate_internal needs if missing: the state table (and its new columns),
 * meta, the grants to connstate_reader, file_fdw and its server. Blocks. */
int cs_catalog_setup(cs_catalog_t *self) __attribute__((warn_unused_result));

/* Called once per row of a committed write, in seq order, with the values written (a
 * deleted row has status CS_STATUS_DELETED). */
typedef void(cs_batch_commit_fn)(void *arg, const char *name, const cs_visible_t *row);

/* Loads every row of the state table into store and the last sequence number given out;
 * then switches the session to non-blocking mode for the batch writer. With pending (service
 * startup), every row is set pending in the same pass: one statement (cs_table_pending_sql)
 * that answers the rows as it leaves them, then the meta's last_seq and one pg_notify, one
 * transaction; once it committed, on_commit (when not NULL) is called for each row it changed,
 * in seq order. The rows are read one at a time (libpq's single-row mode), never as one result
 * of every row. meanwhile (when not NULL) is called once with arg while the server runs the
 * statement, before its rows are read: work that needs no database overlaps it. Returns 0,
 * or -1 with the error logged (nothing committed when pending failed before its commit: the
 * next activation does it again). Blocks. */
int cs_catalog_load(cs_catalog_t *self, cs_store_t *store, bool pending, uint64_t *last_seq,
                    cs_batch_commit_fn *on_commit, void (*meanwhile)(void *arg), void *arg)
    __attribute__((warn_unused_result));

/* Brings the cache of the database's schemas up to date: a full read when full is asked for or
 * the cache is stale, else what changed since the last read (as exactly as the catalog lets it
 * know). Returns 0, or -1 (logged; the cache is left stale). No batch may be in flight
 * (cs_batch_wait). Blocks (one query). */
int cs_catalog_read_schemas(cs_catalog_t *self, cs_schemas_t *schemas, bool full)
    __attribute__((warn_unused_result));

/* ---- searchpath.c: the database's default search path ------------------------------------ */

/* One schema of the path: a connection's (kept only where its row is ready) or one that the
 * config names (search_path_prefix, search_path) or public. The name is borrowed. */
typedef struct {
    const char *name;
    bool connection;
} cs_path_item_t;

typedef struct {
    cs_path_item_t *items; /* owned; the names borrowed from the inputs */
    size_t count;
    bool bounded;  /* the connections were left out: the path would have held `wanted` > max */
    size_t wanted; /* set when bounded */
} cs_search_path_t;

/* The path as Steampipe sets it for the database's users (options "database"):
 * search_path_prefix, then either search_path as written, or public and the ready
 * connections in byte order of their names (as Go sorts them). Each schema once (its first
 * place). When the second form would hold more than max schemas, the connections are left
 * out (bounded). ready: the ready connections' names, any order (borrowed). Returns 0, or
 * -1 when out of memory; out is cleared by cs_search_path_clear. Pure: no I/O. */
int cs_search_path_compute(const cs_config_database_t *db, const char *const *ready,
                           size_t ready_count, size_t max, cs_search_path_t *out)
    __attribute__((warn_unused_result));
void cs_search_path_clear(cs_search_path_t *path);
/* Appends the path as the batch statement's $6: [{"n":NAME,"c":CONNECTION},...]. */
void cs_search_path_json(const cs_search_path_t *path, cs_buf_t *out);

/* ---- metrics.c: what /metrics shows ------------------------------------------------- */

#define CS_HISTOGRAM_BUCKETS 12

/* A histogram of seconds: observations counted under the first of bounds (ascending upper
 * bounds, count of them at most CS_HISTOGRAM_BUCKETS) they do not exceed, the larger ones
 * only in total; rendered with cumulative buckets and +Inf, as Prometheus wants them. */
typedef struct {
    const double *bounds;
    size_t count;
    uint64_t buckets[CS_HISTOGRAM_BUCKETS];
    uint64_t total;
    double sum;
} cs_histogram_t;

void cs_histogram_observe(cs_histogram_t *self, double seconds);
/* Appends the histogram's lines (# HELP, # TYPE, _bucket, _sum, _count) for name. */
void cs_histogram_render(const cs_histogram_t *self, const char *name, const char *help,
                         cs_buf_t *out);

/* Bucket bounds: of a state-table write, and of a refresh. */
extern const double cs_histogram_write_bounds[CS_HISTOGRAM_BUCKETS];
extern const double cs_histogram_refresh_bounds[CS_HISTOGRAM_BUCKETS];

/* ---- batch.c: writing the queued rows ------------------------------------------------- */

typedef struct cs_batch cs_batch_t;

/* What the state table says of a row whose worker's word it refused. */
#define CS_BATCH_MARKER_MISMATCH "worker reported success but the schema's marker does not match"
#define CS_BATCH_STILL_THERE     "worker reported success but the schema still exists"

/* Writes the store's queued rows, once cs_batch_attach gave it a session. NULL when out of
 * memory. */
cs_batch_t *cs_batch_new(cs_store_t *store, cs_batch_commit_fn *on_commit, void *arg);

/* A (new) session to write on (borrowed; non-blocking), and the table's last sequence
 * number: the next batch is numbered after it. */
void cs_batch_attach(cs_batch_t *self, PGconn *pg, uint64_t last_seq);
/* The session went away: a batch in flight goes back to the queue (whether it committed is
 * for the table, read again, to say) and nothing is written until cs_batch_attach. */
void cs_batch_detach(cs_batch_t *self);
void cs_batch_destroy(cs_batch_t **self_p);

/* The database's default search path (options "database"; see cs_search_path_compute):
 * kept in step by the batches, in the statement that writes the rows (so that no new session
 * sees a connection in it whose row is not ready), and only when it changes. The most
 * schemas it holds with the connections (--search-path-max; default 100). The config's
 * settings after each load: a config without options "database" leaves the path to the
 * operator; one whose settings are unknown (dir_failed, or db->uncertain) leaves the path in
 * force as it is; a change is written at once, with whatever rows are queued. Copies what it
 * keeps. Never blocks. */
void cs_batch_search_path_max(cs_batch_t *self, size_t max);
void cs_batch_search_path(cs_batch_t *self, const cs_config_database_t *db, bool dir_failed);

/* The most rows one statement writes (--batch-max-rows; 0: the default). A statement's
 * arrays and libpq's copy of them are held until it is sent (about 0.5 KB a row), so 100,000
 * rows queued at once (a cold plan's statuses, a restart's ready ones) go out as several
 * statements, one after the other, each committed and published as it lands. */
#define CS_BATCH_ROWS_MAX 10000
void cs_batch_rows_max(cs_batch_t *self, size_t max);

/* Starts writing up to max queued rows (0: all, up to the most a statement writes) as one
 * transaction ending with pg_notify,
 * unless a batch is in flight, nothing is queued or a failed batch's backoff runs. Returns
 * 0, or -1 when the database is lost. Does not block on the server. */
int cs_batch_flush(cs_batch_t *self, size_t max) __attribute__((warn_unused_result));

/* The socket to poll while a batch is in flight (-1 otherwise), whether for writing too;
 * and the handler of its events: finishes the batch once the server answered (committed:
 * on_commit per row; failed: its rows back in the queue, the backoff doubled). Returns -1
 * when the session is lost. */
int cs_batch_socket(const cs_batch_t *self, bool *want_write);
int cs_batch_on_socket(cs_batch_t *self) __attribute__((warn_unused_result));

/* The rows whose worker's word a committed batch refused (written as error; see
 * cs_table_upsert_sql), in order: the next one's name (the caller frees it) and what is to be
 * done again (CS_TASK_BUILD, or CS_TASK_DELETE for a deletion or a `disabled`), or NULL; and
 * how many wait. cs_batch_attach forgets them (the table is read again). Never blocks. */
char *cs_batch_next_refusal(cs_batch_t *self, cs_task_kind_t *redo);
size_t cs_batch_refusals(const cs_batch_t *self);

/* Waits for the batch in flight, if any, to end. Returns -1 when the session is lost or
 * timeout_ms passes first. Blocks (one statement). */
int cs_batch_wait(cs_batch_t *self, int timeout_ms) __attribute__((warn_unused_result));

/* Writes everything queued and waits for it (startup and shutdown), retrying failed
 * batches with their backoff. Returns 0, or -1 when the session is lost or timeout_ms
 * passes first. Blocks. */
int cs_batch_flush_all(cs_batch_t *self, int timeout_ms) __attribute__((warn_unused_result));

/* True while a batch is in flight. */
bool cs_batch_busy(const cs_batch_t *self);

/* When to write: after `size` queued rows, or `ms` after the first one was queued, or at
 * once when a status changed and no build or delete is outstanding, or when no task at all
 * is outstanding. */
typedef struct {
    size_t size;
    int ms;
    size_t updates_outstanding;
    size_t outstanding;
} cs_batch_rule_t;
bool cs_batch_due(const cs_batch_t *self, const cs_batch_rule_t *rule, int64_t now);

/* When the queued rows are due by time (cs_clock_mono_ms; 0: nothing waits for time). */
int64_t cs_batch_wake_at(const cs_batch_t *self, int batch_ms);

/* The highest committed sequence number; statistics of the writes so far (batches, rows,
 * and the time from sending them to their commit). */
uint64_t cs_batch_seq(const cs_batch_t *self);
void cs_batch_stats(const cs_batch_t *self, uint64_t *batches, uint64_t *rows, uint64_t *write_us);
/* The committed writes' latencies (sent to committed), borrowed. */
const cs_histogram_t *cs_batch_latency(const cs_batch_t *self);

/* ---- dispatch.c: tasks to workers -------------------------------------------------------- */

typedef struct cs_task cs_task_t;
struct cs_task {
    uint64_t id;
    cs_task_kind_t kind;
    uint32_t memory_max_mb; /* its plugin instance's memory limit (0: none) */
    uint32_t attempt;
    uint32_t retries; /* times a worker could not run it (not counted as attempts) */
    /* what cs_task_new was given, copied into texts (NULL: none, but connection); a task's
     * contents may be swapped with another's as a whole (the strings go with their block) */
    char *texts;
    const char *connection;
    const char *plugin;
    const char *config; /* secrets: only ever sent to a worker */
    const char *fingerprint;
    const char *plugin_version; /* builds and comments: the plugin's version the plan used */
    cs_strs_t env;   /* ... and environment ("NAME=VALUE"; secrets: only sent to a worker) */
    char *members;   /* aggregate: the included members, "NAME=SCHEMA_HASH\n" lines */
    char *last_loss; /* why the previous attempt was lost */
    char *lost_by;   /* the worker (routing id in hex) that lost the last attempt */
    cs_task_t *before, *after; /* its neighbours in its queue, while queued (dispatch.c) */
    int64_t not_before;        /* held until then (cs_clock_mono_ms): its file is being rewritten */
    bool held;                 /* queued, it waits among the held tasks meanwhile */
    bool fresh;                /* no schema of this name existed when it was planned */
    bool waiting;              /* its row says it waits for a worker */
    bool superseded; /* a newer plan replaced it while in flight: its result does not count */
    bool refetch;    /* a build whose schema is current: only its dynamic schema is fetched again
                      * (its row keeps its status: results.c) */
};

typedef struct cs_dispatch cs_dispatch_t;

/* What happened to a task, for the results stage (the dispatcher queues them in order). */
typedef enum {
    CS_EVENT_RESULT,  /* a worker answered it */
    CS_EVENT_LOST,    /* it was lost too many times (why) */
    CS_EVENT_WAITING, /* it waits for a worker (why) */
    CS_EVENT_RESUMED, /* it waited, and was sent to a worker */
    CS_EVENT_RETRYING /* a worker could not run it; it is queued again (why) */
} cs_event_kind_t;

typedef struct {
    cs_event_kind_t kind;
    cs_task_kind_t task_kind;
    char *connection;
    uint32_t attempt;
    bool superseded;      /* a newer plan replaced its task: its result does not count */
    cs_msg_t *result;     /* RESULT: the worker's RESULT */
    char *worker;         /* RESULT: the worker's name */
    char *why;            /* LOST, WAITING, RETRYING */
    bool recheck_plugins; /* RETRYING: the worker has another version of the plugin than the
                           * plan used: the plugins are to be looked at again */
    bool refetch;         /* its task was a refetch (cs_task_t) */
} cs_event_t;

void cs_event_destroy(cs_event_t **event_p);
const char *cs_event_kind_name(cs_event_kind_t kind);

/* What the dispatcher allows: attempts of one task, the lease of one attempt, the silence
 * after which a worker is gone, the capacity a worker may claim, how many workers may be
 * connected at once (more are told to go away), and how long a worker that failed 3 times in
 * a row for reasons of its own is quarantined: quarantine_ms the first time (0: 30 s), twice
 * as long each next time up to quarantine_max_ms (0: 10 min), from the first again after a
 * success. */
typedef struct {
    int max_attempts;
    int lease_ms;
    int peer_timeout_ms;
    uint32_t max_capacity;
    size_t max_workers;
    int quarantine_ms;
    int quarantine_max_ms;
} cs_dispatch_limits_t;

/* Borrows the ROUTER socket. NULL when out of memory. */
cs_dispatch_t *cs_dispatch_new(zsock_t *router, cs_dispatch_limits_t limits);
void cs_dispatch_destroy(cs_dispatch_t **self_p);

/* The next event (the caller destroys it), or NULL when none waits. Take them all after
 * every cs_dispatch_on_socket, cs_dispatch_pump, cs_dispatch_worker_exited and
 * cs_dispatch_mark_waiting. */
cs_event_t *cs_dispatch_next_event(cs_dispatch_t *self);

/* Queues a task (takes ownership). Comments go to a lower-priority queue. One update and one
 * comments task per connection: a newer update replaces the queued one (in its place), the
 * same one again is dropped (merged with a queued one, it is a refetch only when both are);
 * an update in flight is superseded by a different one, which is held until it lands (its
 * result then does not count: task->superseded). A refetch that is the same work as the update
 * in flight is queued behind it without superseding it (the world it reads may have changed
 * since that one read it). Comments are dropped while an update of the connection is queued
 * or in flight. */
void cs_dispatch_add(cs_dispatch_t *self, cs_task_t **task_p);

/* A build or delete whose worker said it succeeded and whose result the state table refused
 * (reason: why; worker: the name of the worker that said so, NULL when unknown): done again
 * like an update whose worker was lost -- at the front of the queue as the next attempt
 * (task->attempt: the refused one), to another worker when one is connected, and after max
 * attempts reported lost (a CS_EVENT_LOST whose why starts with reason). Dropped when an
 * update of the connection is queued or in flight already (that one decides); queued
 * comments of the connection are dropped (the new build's follow it). Takes ownership. */
void cs_dispatch_redo(cs_dispatch_t *self, cs_task_t **task_p, const char *worker,
                      const char *reason);

/* True when a build or delete of the connection is in flight. */
bool cs_dispatch_update_in_flight(const cs_dispatch_t *self, const char *connection);
/* True when a refetch of the connection is queued or in flight (and not superseded). */
bool cs_dispatch_refetch_pending(const cs_dispatch_t *self, const char *connection);
/* True when no task of the connection is queued or in flight. */
bool cs_dispatch_idle(const cs_dispatch_t *self, const char *connection);

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

/* Tasks queued and in flight (all; builds and deletes only); queued; in flight (sent to a
 * worker, not answered yet); connected workers; connected workers that may be given tasks
 * (not quarantined). */
size_t cs_dispatch_outstanding(const cs_dispatch_t *self);
size_t cs_dispatch_updates_outstanding(const cs_dispatch_t *self);
size_t cs_dispatch_queued(const cs_dispatch_t *self);
size_t cs_dispatch_in_flight(const cs_dispatch_t *self);
size_t cs_dispatch_workers(const cs_dispatch_t *self);
size_t cs_dispatch_workers_available(const cs_dispatch_t *self);
/* The tasks the connected workers may hold at once, in all. */
size_t cs_dispatch_capacity(const cs_dispatch_t *self);

/* Why the quarantined workers get no task, on one line into buf: the one whose quarantine
 * ends first (until when, its failures in a row and the last one) and how many more. */
void cs_dispatch_describe_quarantine(const cs_dispatch_t *self, char *buf, size_t size);

/* Appends an entry per connected worker (at most CS_PROTO_MAX_WORKER_ROWS) to a STATUS_REP:
 * name, pid, capacity, tasks held (expired ones included), expired ones, worker-side failures
 * in a row, quarantined until, last failure. Returns 0, or -1 when out of memory. */
int cs_dispatch_list_workers(const cs_dispatch_t *self, cs_msg_t *status)
    __attribute__((warn_unused_result));

/* When a held task may go (cs_clock_mono_ms), or 0 when none is held. */
int64_t cs_dispatch_next_due(const cs_dispatch_t *self);

/* Builds and deletes queued (not in flight). */
size_t cs_dispatch_updates_queued(const cs_dispatch_t *self);

/* No worker is there for the queued updates: each one not yet told so (or told another
 * why) gets a WAITING event; once it is sent, a RESUMED one. */
void cs_dispatch_mark_waiting(cs_dispatch_t *self, const char *why);

/* Tells every worker we are going away. */
void cs_dispatch_goodbye(cs_dispatch_t *self);

/* While paused no task is handed out; workers, leases and heartbeats are kept as usual. */
void cs_dispatch_pause(cs_dispatch_t *self, bool paused);

/* A task of the kind for the connection, with what a worker needs of it (any but connection
 * may be NULL), its texts copied into one block: 100,000 queued builds are 200,000
 * allocations, not 600,000. NULL when out of memory. */
cs_task_t *cs_task_new(cs_task_kind_t kind, const char *connection, const char *plugin,
                       const char *config, const char *fingerprint, const char *plugin_version);
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

/* ---- auth.c: who may connect (CURVE, allow-lists, the ZAP handler) ------------------------ */

typedef enum { CS_AUTH_WORKERS, CS_AUTH_PUBLISH, CS_AUTH_CONTROL } cs_auth_socket_t;

#define CS_AUTH_MAX_KEYS 10000 /* certificates read from one allow-list directory */
#define CS_AUTH_ITEMS    3     /* poll items: the ZAP socket, the directories, the monitors */

typedef struct cs_auth cs_auth_t;

/* CURVE for the supervisor's sockets: cert is its own certificate; workers_dir holds the
 * public certificates admitted on the worker socket, clients_dir those admitted on the
 * publish and control sockets (NULL: none; the supervisor's local workers are admitted by a
 * key of their own). Binds the ZAP handler. Returns NULL after logging why. */
cs_auth_t *cs_auth_new(const char *cert, const char *workers_dir, const char *clients_dir);
void cs_auth_destroy(cs_auth_t **self_p);

/* Makes sock a CURVE server whose peers are checked against which's allow-list; call it
 * before the socket binds. NULL self: nothing (no CURVE). Returns 0, or -1. */
int cs_auth_secure(cs_auth_t *self, zsock_t *sock, cs_auth_socket_t which);

/* The local workers' keys, as the CS_CURVE_LOCAL_ENV value (NULL without CURVE). */
const char *cs_auth_local_env(const cs_auth_t *self);

/* Reads both allow-lists again and watches their directories anew (SIGHUP). */
void cs_auth_reload(cs_auth_t *self);

/* Fills CS_AUTH_ITEMS items (0 without CURVE) and returns how many; then cs_auth_on_poll
 * with the same items answers ZAP requests, follows the directories and the monitors. */
int cs_auth_pollitems(cs_auth_t *self, zmq_pollitem_t *items);
void cs_auth_on_poll(cs_auth_t *self, const zmq_pollitem_t *items);

/* True for an endpoint that stays on this host (ipc://, inproc://, tcp:// on 127.0.0.0/8,
 * ::1, localhost or lo): the only ones bound in clear without --insecure. */
bool cs_auth_loopback(const char *endpoint);

/* ---- publish.c: the publish socket (an XPUB) ------------------------------------------------ */

typedef struct cs_publish cs_publish_t;

/* Borrows the publish socket (an XPUB with ZMQ_XPUB_VERBOSE, so that every subscription is
 * seen); heartbeats carry the committed seq of batch, instance, and the catalog's state
 * (since when the database is unavailable; standby). */
cs_publish_t *cs_publish_new(zsock_t *pub, const cs_batch_t *batch, const cs_catalog_t *catalog,
                             uint64_t instance);
/* The next cs_publish_tick sends a heartbeat at once (the database's state changed). */
void cs_publish_soon(cs_publish_t *self);
void cs_publish_destroy(cs_publish_t **self_p);

/* Publishes one committed change (a cs_batch_commit_fn; arg is the cs_publish_t), encoded
 * into a buffer the publisher keeps. The socket does not drop at its high-water mark: while
 * a subscriber's queue is full the change waits, in order, in the publisher's backlog
 * (encoded; at most 32 MB and 1 s, then it goes out lossy: full queues lose it, their
 * subscribers see the gap). Never blocks. */
void cs_publish_change(void *arg, const char *name, const cs_visible_t *row);

/* Sends what the backlog holds as the queues take it; heartbeats when idle (every second),
 * and soon after a new subscription (after the backlog, whose changes they count). */
void cs_publish_tick(cs_publish_t *self);

/* Messages waiting in the backlog. */
size_t cs_publish_backlog(const cs_publish_t *self);
/* How long the oldest of them has waited, in ms (0: none waits): what a subscriber that
 * keeps up lags behind the state table at most. */
int64_t cs_publish_backlog_ms(const cs_publish_t *self);

/* Reads the subscription messages waiting on the socket (at most 1000): after one, the next
 * heartbeat comes 50 ms after the last one (at once when that is past) instead of a second,
 * so that a new subscriber soon has its first message, after which it may ask for its
 * snapshot (PROTOCOL.md); at most 20 such heartbeats a second. Never blocks. */
void cs_publish_on_socket(cs_publish_t *self);

/* Milliseconds until cs_publish_tick has a heartbeat to send (0: now; 1 while the backlog
 * holds messages). */
int64_t cs_publish_next_ms(const cs_publish_t *self);

/* ---- plan.c: what every connection needs (a pure function) -------------------------------- */

typedef enum {
    CS_ACTION_READY,     /* as it is: no DDL (comments: its comments are still owed) */
    CS_ACTION_BUILD,     /* build or rebuild its schema */
    CS_ACTION_DELETE,    /* drop its managed schema (then its row, or disabled) */
    CS_ACTION_DISABLED,  /* import disabled, no schema */
    CS_ACTION_ERROR,     /* cannot be built: error says why */
    CS_ACTION_FORGET,    /* its row leaves the table (no schema to drop) */
    CS_ACTION_WAIT,      /* its file is gone for less than the grace: nothing yet */
    CS_ACTION_DROP_TEMP, /* a temporary schema an interrupted update left: dropped, no row */
    CS_ACTION_AGGREGATE, /* an aggregator: build its views over the included members */
    CS_ACTION_DEFER,     /* an aggregator whose members are being updated: its row stays as it
                            is until they land, then the refresh plans again */
} cs_action_t;

/* One decision. Strings are borrowed from the plan's inputs or the plan. */
typedef struct {
    const char *name;
    cs_action_t action;
    const char *reason;               /* why, e.g. "config changed", "left the config" */
    const char *error;                /* ERROR: the row's error */
    const cs_connection_t *config;    /* its config entry when configured */
    const cs_schema_marker_t *marker; /* READY: the marker of its current schema */
    const char *file;                 /* WAIT: the file that is gone */
    bool fresh;                       /* BUILD: no schema of that name (one round trip) */
    bool comments;                    /* READY: its comments are still owed */
    bool refetch;    /* BUILD: its schema is current (marker: its marker); only its dynamic schema
                      * is fetched again, and a ready row stays ready meanwhile */
    bool refetching; /* READY: a refetch of it is queued or in flight: its row and tasks are left
                      * to that one */
    int64_t not_before; /* BUILD: hold until then (its file is being rewritten) */
    /* aggregators (READY, AGGREGATE): the fingerprint over its config, the plugin's version and
     * the included members' schema hashes; the included members, one "NAME=SCHEMA_HASH\n" line
     * each in name order (AGGREGATE); the members left out and why, the ready row's detail
     * (NULL: none) */
    const char *fingerprint;
    const char *members;
    const char *left_out;
    /* DEFER: the members whose updates it waits for, in name order */
    const char *const *awaiting;
    size_t awaiting_count;
} cs_decision_t;

/* What the plan asks of the world: a plugin's info (all known by now: KNOWN or FAILED);
 * whether an update of a connection is in flight; until when a file's updates are held
 * (0: not); since when a file is gone from the directory (0: not seen gone before). Of a
 * connection of a dynamic plugin whose schema is current: why its schema is to be fetched
 * again now (a static text; NULL: it is not; refetch NULL: on every plan), and whether a
 * refetch of it is queued or in flight (refetching NULL: never). */
typedef struct {
    cs_plugin_state_t (*plugin)(void *arg, const char *name, const cs_plugin_info_t **info,
                                const char **why);
    bool (*in_flight)(void *arg, const char *connection);
    int64_t (*settled_at)(void *arg, const char *file);
    int64_t (*gone_since)(void *arg, const char *file);
    /* the fingerprint of the connection's update that failed since the refresh was last asked
     * for ("" when that task had none), or NULL: an update with that fingerprint is not tried
     * again by the plans of this refresh, which keep its row's error (NULL function: none) */
    const char *(*failed)(void *arg, const char *connection);
    void *arg;
    const char *(*refetch)(void *arg, const char *connection);
    bool (*refetching)(void *arg, const char *connection);
} cs_plan_oracle_t;

typedef struct {
    const cs_config_t *config;
    const char *config_dir;
    cs_store_t *store;           /* read only */
    const cs_schemas_t *schemas; /* the database's schemas */
    cs_plan_oracle_t oracle;
    int64_t now; /* cs_clock_mono_ms */
    /* The names to decide (a set: name -> any non-NULL item), or NULL: every connection, row
     * and schema. A plan given names decides exactly those among them that a full plan would
     * decide, and decides each as the full plan would, provided the set is closed under
     * aggregators (cs_plan_close_names): an aggregator is planned from the decisions of its
     * members, so the members of every aggregator planned are planned with it. */
    zhashx_t *names;
} cs_plan_input_t;

#define CS_PLAN_GONE_MS 1000 /* a file gone from the directory this long: its connections go */
/* The reason of an ERROR decision that keeps a connection whose file failed to load (its
 * schema stays; error says where the file failed). */
#define CS_PLAN_KEPT "its file failed to load"

typedef struct cs_plan cs_plan_t;

/* Every connection's decision (or those of the names given: cs_plan_input_t.names), in
 * order: the kept ones of failed files, the configured ones (aggregators last), the rows that left
 * the config, the schemas without a connection, the aggregators. An aggregator is planned from its
 * members' decisions of this plan: the configured connections of its plugin (or plugin instance),
 * not aggregators, whose names match one of its entries (fnmatch), in name order; those READY are
 * included, the others left out with why, and while any of them (or a matching connection that left
 * the config) is to be built or deleted, or being so, it is deferred. While an aggregator is to be
 * built or deferred no temporary schema is dropped (its aggregate drops the members' previous
 * schemas it read). Reads only its inputs, which must outlive the plan. Returns NULL when
 * out of memory. Never blocks. */
cs_plan_t *cs_plan_make(const cs_plan_input_t *in);
void cs_plan_destroy(cs_plan_t **self_p);
size_t cs_plan_count(const cs_plan_t *self);
const cs_decision_t *cs_plan_decision(const cs_plan_t *self, size_t i);
/* When a plan is due again (a gone file's grace ends; 0: none). */
int64_t cs_plan_replan_at(const cs_plan_t *self);
/* Closes a set of names to decide under aggregators: when any of the config's aggregators
 * (aggregators: borrowed from cfg) is in names, or a name there concerns one (a configured
 * member, a name its entries match, a temporary schema), every aggregator is added with
 * every name that concerns one: the configured members, the rows and the names of failed
 * files that an entry matches (the aggregators' stage reads the decisions of all of them:
 * members shared, former members, the deletions waited for, the temporary schemas their
 * builds keep). Returns the number of names added. Costs O(names x aggregators), and
 * O((connections + rows) x aggregators) when it adds. Never blocks. */
size_t cs_plan_close_names(const cs_config_t *cfg, cs_store_t *store,
                           const cs_connection_t *const *aggregators, size_t aggregator_count,
                           zhashx_t *names);
const char *cs_action_name(cs_action_t action);

/* ---- watch.c: the files that dynamic schemas come from (inotify) ------------------------- */

#define CS_WATCH_DIRS_MAX  8192                /* directories watched at once */
#define CS_WATCH_BYTES_MAX (16u * 1024 * 1024) /* bytes of the watch lists of all connections */
#define CS_WATCH_QUIET_MS  200  /* a connection is due this long after its last event ... */
#define CS_WATCH_MAX_MS    2000 /* ... or this long after its first one, whichever is first */

typedef struct cs_watch cs_watch_t;

/* Watches nothing yet. Without inotify (its instance limit reached) it keeps the lists and
 * watches nothing, which it logs with the sysctl to raise. NULL when out of memory. */
cs_watch_t *cs_watch_new(void);
void cs_watch_destroy(cs_watch_t **self_p);

/* A connection's watch list, as its last schema gave it (replacing the one before; count 0:
 * known, nothing to watch): absolute paths whose last component may be a glob. The directory
 * of each entry is watched (a directory that does not exist yet: through its nearest parent
 * that does, until it appears). An entry that cannot be watched (a glob before its last
 * component, beyond CS_WATCH_DIRS_MAX directories or CS_WATCH_BYTES_MAX bytes, inotify's own
 * limits) is logged once and left out: that connection is fetched again only by a refresh.
 * Copies what it keeps. Never blocks. */
void cs_watch_set(cs_watch_t *self, const char *connection, char *const *entries, size_t count);
/* The connection went: its list and its directories' watches (where no other needs them). */
void cs_watch_forget(cs_watch_t *self, const char *connection);
/* Whether a list of the connection was set since the supervisor started. */
bool cs_watch_known(const cs_watch_t *self, const char *connection);

/* The inotify descriptor to poll (-1: none), and its handler: reads every waiting event; a
 * create, delete, move, close after writing or attribute change of a file that an entry
 * matches makes its connections due (debounced: CS_WATCH_QUIET_MS after the last event,
 * CS_WATCH_MAX_MS after the first at most); a lost queue (IN_Q_OVERFLOW) makes every
 * connection with a list due. Never blocks. */
int cs_watch_fd(const cs_watch_t *self);
void cs_watch_on_readable(cs_watch_t *self);
/* Milliseconds until a connection is due (0: now; -1: none waits). */
int64_t cs_watch_next_ms(const cs_watch_t *self);
/* Each connection due by now (cs_clock_mono_ms) goes to due(arg, name), once per burst of
 * events. */
void cs_watch_take_due(cs_watch_t *self, int64_t now,
                       void (*due)(void *arg, const char *connection), void *arg);
/* Directories watched now (with an inotify watch). */
size_t cs_watch_dirs(const cs_watch_t *self);

/* How an entry is watched: the directory it is in (into dir) and the pattern of its last
 * component (*base, borrowed from entry). Returns 0, or -1 with *why (static) when it cannot
 * be: not absolute, ending in '/', a glob before the last component, a directory longer than
 * size. Pure. */
int cs_watch_split(const char *entry, char *dir, size_t size, const char **base, const char **why);
/* Whether a file name matches an entry's last component: a glob as the shell's (* ? [...],
 * a leading dot only matched by a dot), else the same name. Pure. */
bool cs_watch_match(const char *pattern, const char *name);

/* ---- results.c: what dispatch events do to rows ----------------------------------------- */

typedef struct {
    uint64_t ddl_statements;     /* reported by workers for builds and deletes */
    uint64_t comment_statements; /* ... and for comments */
    uint64_t builds;             /* builds and aggregates that changed a schema (superseded
                                    ones too) */
} cs_results_stats_t;

/* What the plan queued with an aggregator's aggregate task: the plugin's version it planned
 * with, and the members it left out (the ready row's detail; NULL: none). Borrowed. */
typedef struct {
    const char *plugin_version;
    const char *left_out;
} cs_results_aggregate_t;

/* Applies an event to its connection's row (config: the last plan's, for how a delete ends --
 * the row removed, disabled, or pending when the connection is configured still: an
 * aggregator's schema that its plugin connection replaces -- and what follows a build; aggregate:
 * what the plan queued with an aggregate task, NULL for other tasks). An aggregate that succeeded
 * leaves its row ready (its comments are written with its views), its error naming the members left
 * out. Returns the connection whose comments are to be written next (a build succeeded), or NULL.
 */
const cs_connection_t *cs_results_apply(cs_store_t *store, const cs_event_t *event,
                                        const cs_config_t *config,
                                        const cs_results_aggregate_t *aggregate,
                                        cs_results_stats_t *stats);

/* ---- refresh.c: RefreshConnections, driven ------------------------------------------------ */

typedef struct cs_refresh cs_refresh_t;

/* What a refresher borrows. */
typedef struct {
    cs_store_t *store;
    cs_catalog_t *catalog;
    cs_batch_t *batch;
    cs_dispatch_t *dispatch;
    cs_plugins_t *plugins;
    const char *config_dir;
    cs_watch_t *watch; /* the connections' watch lists (NULL: none) */
} cs_refresh_deps_t;

cs_refresh_t *cs_refresh_new(const cs_refresh_deps_t *deps);
void cs_refresh_destroy(cs_refresh_t **self_p);

/* A refresh is wanted (the config directory, a worker's other plugin version, the database
 * back, a control request): what failed in the running one is tried again. Returns the
 * generation that reads the config after this request: the one to wait for. Dynamic schemas
 * are fetched again only where refetch (below) asks for it. */
uint64_t cs_refresh_request(cs_refresh_t *self);
/* ... for the config files that the directory's watch saw change: unlike the others, its
 * plan looks at only those (cs_refresh_file_touched), not at every file, when the watch was
 * up since the last plan. */
uint64_t cs_refresh_request_touched(cs_refresh_t *self);
/* The directory's watch saw the config file name change (created, written, removed, moved):
 * the next plan reads it again; name NULL: something was missed (the directory itself, lost
 * events): the next plan looks at every file. */
void cs_refresh_file_touched(cs_refresh_t *self, const char *name);
/* Whether the directory is watched now (at the start: not). Until it is, every plan looks at
 * every file, and the first plan once it is again does too. */
void cs_refresh_files_watched(cs_refresh_t *self, bool watched);
/* The config the first plan takes instead of reading the directory (taken over; *config_p
 * NULLs): read at startup while the database set every row pending, with the directory's
 * watch already up (cs_refresh_files_watched first), so that a later plan reads only the
 * files touched since. Ignored (destroyed) once a plan has read the config. */
void cs_refresh_preloaded(cs_refresh_t *self, cs_config_t **config_p);
/* ... asked for by an operator (a client's plain refresh, SIGHUP): its plan also fetches
 * every dynamic schema again. */
uint64_t cs_refresh_request_all(cs_refresh_t *self);
/* A plan whose read of the catalog is a full one (every schema and its marker), not only
 * what the schema journal and the names in doubt say changed: SIGHUP, `refresh --full`, the
 * periodic check (why: static text, logged with the read). What failed is not tried again
 * (cs_refresh_request does that). Returns the generation, as cs_refresh_request. */
uint64_t cs_refresh_catalog_full(cs_refresh_t *self, const char *why);
/* ... of some connections (`connstate refresh NAME...`): the plan fetches the dynamic
 * schemas of those again, and of no other connection. Each name must be a connection of the
 * last config read or a row of the state table; the set is then expanded (s_expand_names)
 * into expanded (its entries appended). Returns the generation, or 0 with *unknown (borrowed
 * from names) when a name is none (nothing is refreshed), or 0 and *unknown NULL when out of
 * memory. */
uint64_t cs_refresh_request_names(cs_refresh_t *self, const cs_strs_t *names, cs_strs_t *expanded,
                                  const char **unknown);
/* A connection's dynamic schema is to be fetched again at the next plan (why: static text,
 * e.g. "a watched file changed"), which is requested. */
void cs_refresh_refetch(cs_refresh_t *self, const char *connection, const char *why);
/* Whether the plan of generation target (or a later one) was made and every update of these
 * connections is done and written: none queued or in flight, comments included, their rows
 * settled, no refusal waiting. Never blocks. */
bool cs_refresh_names_done(const cs_refresh_t *self, const cs_strs_t *names, uint64_t target);

/* Drives refreshes: does again the updates whose result the state table refused
 * (cs_batch_next_refusal), begins a requested refresh when due (or plans the running one
 * again), plans again when plugins answered or a gone file's grace ended, and notices the end
 * of one (never while a refusal waits). Returns the generation that has just completed (0: none;
 * *elapsed_us its time). Call once per turn of the event loop, after the events. Blocks on a
 * catalog read only. */
uint64_t cs_refresh_tick(cs_refresh_t *self, int64_t *elapsed_us);

/* Milliseconds until cs_refresh_tick has something timed to do (-1: nothing timed). */
int64_t cs_refresh_next_ms(const cs_refresh_t *self);

/* Applies a dispatch event to its row and queues what follows it. */
void cs_refresh_on_event(cs_refresh_t *self, const cs_event_t *event);

/* Whether a refresh runs; the last completed generation; whether the database session was
 * lost (the supervisor must stop). */
bool cs_refresh_running(const cs_refresh_t *self);
uint64_t cs_refresh_generation(const cs_refresh_t *self);
/* The config the last plan was made from (borrowed, until the next plan; NULL: none yet). */
const cs_config_t *cs_refresh_config(const cs_refresh_t *self);
bool cs_refresh_lost(const cs_refresh_t *self);
/* The database is back (the rows read again): the interrupted refresh plans again from
 * what the database holds and goes on (what failed meanwhile is tried again). */
void cs_refresh_resume(cs_refresh_t *self);

/* ---- control.c: the control channel (snapshots, refresh requests, status) --------------- */

typedef struct cs_control cs_control_t;

/* The control socket's send high-water mark: messages queued to one client (replies, and
 * snapshot slices of at most 32 KB: 1 MB at most). A snapshot waits for room; any other
 * reply to a client with this many unread is dropped. */
#define CS_CONTROL_SNDHWM 32

/* What the control channel reads and asks. */
typedef struct {
    cs_store_t *store;
    const cs_batch_t *batch;
    const cs_dispatch_t *dispatch;
    cs_refresh_t *refresh;
    const cs_catalog_t *catalog; /* whether this supervisor may answer as the active one */
    uint64_t instance;
    int max_snapshots;
    int snapshot_timeout_ms;
    /* Called with recheck_arg after each request is read, before it is answered: brings the
     * catalog's state up to date (the event loop may have stood still since it last looked
     * at the session). NULL: none. */
    void (*recheck)(void *arg);
    void *recheck_arg;
} cs_control_deps_t;

/* Borrows the socket and the deps; sets the socket to fail rather than queue or block when a
 * client's queue is full (ZMQ_ROUTER_MANDATORY, no send timeout). At most max_snapshots are
 * served at once (2 per client); a snapshot whose client takes nothing for
 * snapshot_timeout_ms, or is gone, is dropped. Returns NULL when out of memory. */
cs_control_t *cs_control_new(zsock_t *control, const cs_control_deps_t *deps);
void cs_control_destroy(cs_control_t **self_p);

/* Reads one request, if one is waiting, and answers it (a snapshot is only started:
 * cs_control_serve sends it). Returns false when none was waiting, or when this turn of the
 * event loop has spent its time on requests (the rest wait for the next). */
bool cs_control_on_socket(cs_control_t *self);

/* Sends the next slices of the snapshots being served: a few messages of each, for about a
 * millisecond in all; drops those whose client is gone or took nothing for too long. Call
 * once per turn of the event loop. Never blocks. */
void cs_control_serve(cs_control_t *self);

/* Milliseconds until cs_control_serve has something to send: 0 now, -1 nothing at all. */
int64_t cs_control_next_ms(const cs_control_t *self);

/* A refresh generation finished: answers the requests that waited for it. */
void cs_control_refresh_done(cs_control_t *self, uint64_t generation, int64_t elapsed_us);
/* Answers the requests that named connections (`connstate refresh NAME...`) whose updates
 * are done (cs_refresh_names_done), with the counts of those rows; before the first such
 * answer it looks at the session again (deps.recheck), as a refresh's "done" does. Call once
 * per turn of the event loop. Never blocks. */
void cs_control_named_check(cs_control_t *self);
/* The supervisor is no longer active (its database went away, or it became a standby):
 * every waiting refresh request is answered with ERROR saying so. While it is not active,
 * snapshot and refresh requests are answered so at once (a refresh is still requested for
 * when it is back); STATUS says why. */
void cs_control_fail_waiters(cs_control_t *self);

/* ---- metrics.c: the counters behind /metrics -------------------------------------------- */

typedef struct cs_metrics cs_metrics_t;

/* What the metrics read as they are rendered (borrowed; any may be NULL until it exists). */
typedef struct {
    cs_store_t *store; /* not changed: its unsettled rows are looked at */
    const cs_batch_t *batch;
    const cs_dispatch_t *dispatch;
    const cs_refresh_t *refresh;
    const cs_catalog_t *catalog;
    const cs_publish_t *publish;
    int64_t stuck_after_us; /* a row updating longer than this is stuck (the lease) */
} cs_metrics_deps_t;

/* A completed refresh, as the dashboard's history lists it. */
typedef struct {
    uint64_t generation;
    int64_t ended_us; /* microseconds since the epoch */
    int64_t elapsed_us;
} cs_refresh_record_t;
#define CS_METRICS_HISTORY 20 /* refreshes remembered */

/* NULL when out of memory. */
cs_metrics_t *cs_metrics_new(void);
/* The last completed refreshes, the latest first, into out (at most max); returns how many. */
size_t cs_metrics_history(const cs_metrics_t *self, cs_refresh_record_t *out, size_t max);
void cs_metrics_destroy(cs_metrics_t **self_p);

/* Counts what happened: a finished refresh (its generation and duration), a task's event
 * (an update's or comments' outcome, and a result's statements), the session with the
 * database lost, and one made again (after a loss). */
void cs_metrics_refresh_done(cs_metrics_t *self, uint64_t generation, int64_t elapsed_us);
void cs_metrics_event(cs_metrics_t *self, const cs_event_t *event);
void cs_metrics_db_lost(cs_metrics_t *self);
void cs_metrics_db_back(cs_metrics_t *self);

/* Appends every metric, in the Prometheus text exposition format (version 0.0.4), to out:
 * the counters and the state deps shows now. Never blocks; O(workers), not O(rows). */
void cs_metrics_render(const cs_metrics_t *self, const cs_metrics_deps_t *deps, cs_buf_t *out);

/* ---- http.c: the HTTP endpoint ---------------------------------------------------------- */

typedef struct cs_http cs_http_t;

/* Answers a GET (or HEAD) of path: fills body, may set *content_type (a static string;
 * text/plain by default), and returns the HTTP status. Called from cs_http_run. */
typedef int(cs_http_route_fn)(void *arg, const char *path, cs_buf_t *body,
                              const char **content_type);

/* Listens on bind ("HOST:PORT", "[V6]:PORT"; port 0: any free one) and answers through
 * route. A bind that is not a loopback address needs token_file, a file whose first line
 * is the bearer token every request but /healthz must then carry (with a loopback bind it
 * is required when given). Other methods than GET and HEAD get 405. Returns NULL (logged)
 * with errno EINVAL on a bad address or an unreadable or short token, EADDRINUSE on an
 * address it cannot listen on. */
cs_http_t *cs_http_new(const char *bind, const char *token_file, cs_http_route_fn *route,
                       void *arg);
void cs_http_destroy(cs_http_t **self_p);
/* Reads the token file again (SIGHUP: a token rotated). Returns 0, or -1 (logged) when it
 * cannot be read or is too short: the token read before stays in force. */
int cs_http_reload(cs_http_t *self);

/* The port it listens on (the one chosen when bind's was 0). */
uint16_t cs_http_port(const cs_http_t *self);
/* The descriptor to poll for reading (-1: none); the longest wait before cs_http_run is due
 * again (ms, at most 1000; -1: none); cs_http_run serves what is ready, never blocking. */
int cs_http_fd(const cs_http_t *self);
int64_t cs_http_next_ms(const cs_http_t *self);
void cs_http_run(cs_http_t *self);

/* An event stream (Server-Sent Events, text/event-stream): a GET of path opens one (at most
 * 16 at once; more get 503), whose first events start appends (a snapshot; called at once,
 * out borrowed); then every cs_http_stream_send goes to every open stream, and a comment
 * line every 15 s. A stream more than 4 MB behind (past its start) is ended: its client
 * (a browser's EventSource) comes back and starts from a snapshot again. Call once. */
typedef void(cs_http_stream_start_fn)(void *arg, cs_buf_t *out);
void cs_http_stream_path(cs_http_t *self, const char *path, cs_http_stream_start_fn *start,
                         void *arg);
/* Queues text (whole events: "event: NAME\ndata: JSON\n\n") to every open stream. Never
 * blocks. self may be NULL (nothing). */
void cs_http_stream_send(cs_http_t *self, const char *text, size_t len);
/* Streams open now; streams ended since the start because their client fell behind. */
size_t cs_http_streams(const cs_http_t *self);
uint64_t cs_http_streams_cut(const cs_http_t *self);

/* ---- dashboard.c: the web dashboard's event stream ------------------------------------- */

typedef struct cs_dashboard cs_dashboard_t;

/* What the dashboard reads (borrowed). */
typedef struct {
    cs_store_t *store; /* not changed: iterated for a snapshot */
    const cs_batch_t *batch;
    const cs_dispatch_t *dispatch;
    const cs_refresh_t *refresh;
    const cs_catalog_t *catalog;
    const cs_metrics_t *metrics;
    uint64_t instance;
    int lease_s;
} cs_dashboard_deps_t;

/* Serves /events on http (NULL: nothing is served): each new stream gets a status event and a
 * snapshot of every row the table holds; then every change and, once a second, the status.
 * The events (text/event-stream), each "data:" one JSON object:
 *   status    {"db":"active|standby|connecting|down","db_error":..,"refreshing":..,
 *              "generation":N,"seq":N,"queued":N,"in_flight":N,"lease_s":N,"now":US,
 *              "workers":[{name,pid,capacity,in_flight,expired,failures,quarantined_until,
 *              last_failure}],"refreshes":[{generation,ended,seconds}] (latest first)}
 *   snapshot  {"seq":N,"instance":"HEX","rows":[ROW...]}
 *   change    ROW
 * where ROW is [name, status, error, time_changed_us, comments_set (0/1), plugin, attempts,
 * seq] and status "deleted" says the row left the table. NULL when out of memory. */
cs_dashboard_t *cs_dashboard_new(cs_http_t *http, const cs_dashboard_deps_t *deps);
void cs_dashboard_destroy(cs_dashboard_t **self_p);
/* A committed change of a row (the batch's commit callback): to every open stream. */
void cs_dashboard_change(cs_dashboard_t *self, const char *name, const cs_visible_t *row);
/* The status event when it is due; ms until it is (-1: no stream open). Never block. */
void cs_dashboard_tick(cs_dashboard_t *self);
int64_t cs_dashboard_next_ms(const cs_dashboard_t *self);

/* The dashboard's page (dashboard.html, built in): borrowed, len bytes. */
extern const char cs_dashboard_page[];
extern const size_t cs_dashboard_page_len;

/* ---- dryrun.c: what a refresh would do now (connstate plan) ----------------------------- */

/* One decision as `connstate plan` shows it: the connection, its action (build, rebuild,
 * delete, forget, keep, error, comments, ready, disabled, wait, drop, defer), the action
 * with its reason ("rebuild (config changed)"), and whether it changes anything. Borrowed
 * for the callback's duration. */
typedef struct {
    const char *name;
    const char *action;
    const char *text;
    bool change;
} cs_dryrun_row_t;
typedef void(cs_dryrun_fn)(void *arg, const cs_dryrun_row_t *row);

/* Computes the plan a refresh would make now and passes each decision to fn, in the plan's
 * order: the config of config_dir, the state table and the schemas of the database of
 * conninfo (a read-only session of its own, which takes no lock: a running supervisor is not
 * disturbed), the plugins of plugin_dir asked for their info (each within
 * plugin_timeout_ms). Changes nothing anywhere. Returns 0, or -1 with why. Blocks. */
int cs_dryrun(const char *conninfo, const char *config_dir, const char *plugin_dir,
              int plugin_timeout_ms, cs_dryrun_fn *fn, void *arg, char *why, size_t why_size);

#endif
