/* Private header of workers/: what the worker's modules share. */
#ifndef CS_WORKER_H
#define CS_WORKER_H

#include <czmq.h>
#include <libpq-fe.h>

#include "cs_buf.h"
#include "cs_clock.h"
#include "cs_digest.h"
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

/* ---- ddl.c: the SQL text of schema changes ---------------------------------------------- */

/* The part of a schema's DDL that does not depend on the connection: each table's foreign
 * table definition, whose rows come from `plugin_path rows TABLE ARGS...` (under the memory
 * limit of its plugin instance, memory_max_mb MiB, when not 0: cs_plugin_limit_prefix), or,
 * for a table with a "file", from that file (file_fdw's filename and its options). Built
 * once per cached schema, so that an update only splices in its schema name. Returns NULL
 * when escaping failed or memory ran out (the reason in why). */
typedef struct cs_ddl_tables cs_ddl_tables_t;
cs_ddl_tables_t *cs_ddl_tables_new(PGconn *conn, const cs_schema_t *schema, const char *plugin_path,
                                   uint32_t memory_max_mb, char *why, size_t why_size);
void cs_ddl_tables_destroy(cs_ddl_tables_t **self_p);

/* The number of tables. */
size_t cs_ddl_tables_count(const cs_ddl_tables_t *tables);

/* The functions below append statements to sql and return how many, or -1 when escaping
 * failed or memory ran out (the reason in why). None of them blocks. */

/* A whole fresh schema `name`: CREATE SCHEMA, one foreign table per table, the marker. */
int cs_ddl_build(PGconn *conn, const char *name, const cs_ddl_tables_t *tables, const char *marker,
                 cs_buf_t *sql, char *why, size_t why_size) __attribute__((warn_unused_result));

/* The foreign tables [from, to) of tables, created in schema `name`. */
int cs_ddl_create_tables(PGconn *conn, const char *name, const cs_ddl_tables_t *tables, size_t from,
                         size_t to, cs_buf_t *sql, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* One statement about schema `name`: CREATE SCHEMA; DROP SCHEMA ... RESTRICT (it fails
 * when anything is left in it); ALTER SCHEMA ... RENAME TO arg; COMMENT ON SCHEMA ... IS
 * arg (the marker). */
typedef enum { CS_DDL_CREATE, CS_DDL_DROP, CS_DDL_RENAME, CS_DDL_MARKER } cs_ddl_verb_t;
int cs_ddl_schema(PGconn *conn, cs_ddl_verb_t verb, const char *name, const char *arg,
                  cs_buf_t *sql, char *why, size_t why_size) __attribute__((warn_unused_result));

/* DROP FOREIGN TABLE name.t, ... RESTRICT for the count tables (it fails when an object
 * that connstate did not create depends on one of them); nothing when count is 0. */
int cs_ddl_drop_tables(PGconn *conn, const char *name, const char *const *tables, size_t count,
                       cs_buf_t *sql, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* The same for views when views (DROP VIEW name.v, ... RESTRICT), else foreign tables. */
int cs_ddl_drop_relations(PGconn *conn, bool views, const char *name, const char *const *tables,
                          size_t count, cs_buf_t *sql, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* The table and column COMMENT statements of the tables [from, to) of schema `name` (0
 * when the plugin gives them no descriptions). */
int cs_ddl_comments(PGconn *conn, const char *name, const cs_schema_t *schema, size_t from,
                    size_t to, cs_buf_t *sql, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* ---- aggregate.c: an aggregator's views (pure functions: no session, never block) ------- */

/* Bounds of one aggregate task: its members (TASK key 12 lines), the columns of one view
 * besides _connection (PostgreSQL's limit of 1664 entries in a target list), the DDL text. */
#define CS_AGGREGATE_MEMBERS_MAX 4096
#define CS_AGGREGATE_COLUMNS_MAX 1663
#define CS_AGGREGATE_SQL_MAX     (256u << 20)

/* One line of TASK key 12: a member and the schema hash its marker must carry. */
typedef struct {
    char name[64];
    char schema_hash[CS_DIGEST_HEX_SIZE];
} cs_agg_line_t;

/* Parses TASK key 12 ("NAME=SCHEMA_HASH" lines; a connection name, 16 lowercase hex digits;
 * each name once; at most CS_AGGREGATE_MEMBERS_MAX). Returns the number of lines (>= 1) with
 * *lines_p allocated (the caller frees it), or -1 with why. */
int cs_aggregate_parse_members(const char *text, cs_agg_line_t **lines_p, char *why,
                               size_t why_size) __attribute__((warn_unused_result));

/* A member's table as its schema holds it: columns in attnum order with their types as
 * format_type() spells them. Strings borrowed. */
typedef struct {
    const char *name;
    const char *const *columns;
    const char *const *types;
    size_t column_count;
} cs_agg_table_t;

/* A member: its name (which is its schema's) and its tables, in any order. */
typedef struct {
    const char *name;
    const cs_agg_table_t *tables;
    size_t table_count;
} cs_agg_member_t;

/* Appends to sql the DDL of aggregator `name`'s views over the count members (in the
 * order of their rows): for each table name any member has, in byte order, CREATE VIEW
 * name.table AS the members' tables UNION ALL, each row led by `_connection text` (the
 * member's name); the columns are the union by name in order of first appearance, NULL::TYPE
 * where a member lacks one, cast to text in every branch where members disagree on its type
 * (commented "type conflict: m1 bigint, m2 text; shown as text"); a member's own column
 * _connection is left out (said in the view's comment). Then COMMENT ON VIEW "aggregator
 * NAME: N members" (the prefix that marks the view as connstate's). Not the schema nor its
 * marker. Puts the digest of the appended text in hash (the marker's schema_hash) and the
 * number of views in *views. Returns the number of statements, or -1 with why (out of
 * memory, a view of too many columns, more than CS_AGGREGATE_SQL_MAX bytes). */
int cs_aggregate_sql(const char *name, const cs_agg_member_t *members, size_t count, cs_buf_t *sql,
                     size_t *views, char hash[CS_DIGEST_HEX_SIZE], char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* Where a view's statements end in the text appended (each view's CREATE VIEW and COMMENTs
 * are one piece), and how many members it reads (the relations its creation locks). */
typedef struct {
    size_t end;
    size_t branches;
} cs_agg_view_t;

/* The same, the views created in schema `schema` (a temporary schema of a big aggregate,
 * swapped in later) rather than `name` (still named in the comments); the hash is of that
 * text. With layout_p, *layout_p is an array of *views entries (the caller frees it; NULL
 * on failure). */
int cs_aggregate_sql_in(const char *name, const char *schema, const cs_agg_member_t *members,
                        size_t count, cs_buf_t *sql, cs_agg_view_t **layout_p, size_t *views,
                        char hash[CS_DIGEST_HEX_SIZE], char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* ---- update.c: an update's DDL within the lock table ----------------------------------- */

/* How many tables a worker creates or drops in one transaction unless told otherwise: a
 * dropped table takes 3 locks (the table, its row type and their array type), a created
 * one 1, so that one transaction holds at most about 760 of the lock table's slots (a
 * default PostgreSQL has 64 per connection: some 7,800 for max_connections = 100). */
#define CS_UPDATE_TABLES_PER_TRANSACTION 250

/* Why an update failed when it is not the connection's fault, so that the supervisor tries
 * it again later (RESULT retry) rather than record an error; SESSION and WORKER are this
 * worker's own (RESULT worker_fault: another worker runs it). */
typedef enum {
    CS_FAULT_NONE,     /* the connection's own failure (or none) */
    CS_FAULT_CONFLICT, /* a deadlock or serialization failure with another session */
    CS_FAULT_LOCK,     /* a lock wait ran out of lock_timeout: another session holds it */
    CS_FAULT_SESSION,  /* the session is lost or cannot write (a standby): open another */
    CS_FAULT_WORKER,   /* this host's plugin: missing, not executable, another version */
} cs_fault_t;

/* The fault of a failed result res (NULL: a failure of the session itself). Never blocks. */
cs_fault_t cs_update_fault(PGconn *conn, const PGresult *res);

/* One update's session and limits. The functions below block on the database; between
 * their transactions they call tick (which keeps the worker's lease alive). */
typedef struct {
    PGconn *conn;
    size_t batch; /* most tables created or dropped in one transaction */
    cs_plugin_tick_fn *tick;
    void *tick_arg;
    char *why; /* the error when a function returns -1: one line */
    size_t why_size;
    cs_fault_t fault;    /* whose fault the error in why is, when a function returned -1 */
    uint32_t statements; /* DDL statements committed by the last call */
    bool locked;         /* private: the connection's session lock is held */
    long key;
} cs_update_t;

/* Builds or rebuilds schema `name` with the tables and marker (text: marker_text), unless
 * it already is what want says. Refused when the schema is not connstate's, or when objects
 * connstate did not create depend on it or live in it (named in why). Old and new within
 * u->batch tables: one transaction; else the new schema is built under a temporary name in
 * batches and swapped in. A failure leaves the previous schema as it was. Another session's
 * update of the same connection is waited for (up to a minute), and the temporary schemas
 * an interrupted one left are dropped first (with the views of aggregators that still read
 * them: those aggregators are built again after it). When aggregators' views read the
 * schema (their dependencies are not a user's objects), it is renamed away to its cs$old$
 * name and kept, not dropped: the views go on reading its tables until they are built
 * again. Returns 0 or -1. */
int cs_update_build(cs_update_t *u, const char *name, const cs_ddl_tables_t *tables,
                    const cs_marker_t *want, const char *marker_text)
    __attribute__((warn_unused_result));

/* Drops schema `name` (idempotent), refused as above; a big one is renamed away in the
 * first transaction and dropped in batches; one that aggregators' views read is renamed
 * away and kept, as a build does; an aggregator's schema goes with its views. `name` may
 * be a temporary schema left behind (cs_marker_is_temp_name): dropped unless the update
 * that uses it is under way, or aggregators' views still read it ("kept: aggregator X still
 * reads it"; 0 then too). Returns 0 or -1. */
int cs_update_delete(cs_update_t *u, const char *name) __attribute__((warn_unused_result));

/* Builds aggregator `name`'s schema of views over the count members of lines (TASK key 12,
 * in that order; cs_aggregate_sql), with the marker want (fingerprint, plugin and
 * plugin_version set by the caller; its schema_hash, the views' digest, and kind=aggregator
 * set here), unless it already is that. One transaction, which takes the aggregator's lock
 * as every update does and each member's lock shared, trying only: a member being updated,
 * or whose marker does not carry its line's schema hash, fails the task with fault
 * CS_FAULT_CONFLICT (to be tried again). Refused like a build when the schema is not
 * connstate's or a user's objects depend on it or live in it. Once it committed, each
 * member's previous schema (cs$old$..., kept while aggregators read it) that nothing reads
 * any more is dropped, under that member's lock, trying only. Views that take more than
 * 3 x u->batch slots of the lock table (each view 1, and 1 per member table it reads; each
 * relation dropped 3) are built under the aggregator's temporary name, in batches within
 * that, while its session lock and its members' (shared) are held, then swapped in as a
 * batched build is. *views: how many views. Returns 0 or -1. */
int cs_update_aggregate(cs_update_t *u, const char *name, const cs_agg_line_t *lines, size_t count,
                        cs_marker_t *want, size_t *views) __attribute__((warn_unused_result));

/* Writes the comments of schema `name`, u->batch tables per transaction, each checking that
 * the schema is still the one built from schema. Returns 0 or -1. */
int cs_update_comments(cs_update_t *u, const char *name, const cs_schema_t *schema)
    __attribute__((warn_unused_result));

/* Comments in one round trip, for a schema of at most u->batch tables: the whole
 * transaction as one text (BEGIN, the check that the schema is connstate's and has the
 * schema's hash, the COMMENT statements, COMMIT), sent without waiting and collected later.
 * The check is a function of the session's own (pg_temp), created once per session by
 * cs_update_comments_setup (blocks for one statement; 0 or -1 with why: a role that may not
 * create temporary objects, for one, then takes cs_update_comments). */
int cs_update_comments_setup(PGconn *conn, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* Appends the transaction's text to sql; *comments_at: where its COMMENT statements start
 * (what the comment capture records, with the COMMIT). Returns the number of COMMENT
 * statements, or -1 with why (escaping, memory). Never blocks. */
int cs_update_comments_sql(PGconn *conn, const char *name, const cs_schema_t *schema, cs_buf_t *sql,
                           size_t *comments_at, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* How a transaction of cs_update_comments_sql ended. */
typedef enum {
    CS_COMMENTS_DONE,     /* committed */
    CS_COMMENTS_FAILED,   /* rolled back: why says why, fault whose fault */
    CS_COMMENTS_NO_CHECK, /* rolled back: the session has no check function (set it up again) */
} cs_comments_end_t;

/* How a sent transaction ended, from its first failed result (NULL: it committed; its
 * results are read and a failed one rolled back by cs_tasks_collect): the check's refusal
 * says that the schema "is missing or changed before its comments were written", as
 * cs_update_comments does; any other failure is the database's error. */
cs_comments_end_t cs_update_comments_end(PGconn *conn, const PGresult *failure, char *why,
                                         size_t why_size, cs_fault_t *fault);

/* Puts "database: MESSAGE (DETAIL: ...; HINT: ...)" in why, on one line: the error of res
 * when there is one, else the session's. */
void cs_update_error(char *why, size_t why_size, PGconn *conn, const PGresult *res);

/* Replaces why (the error of an update of connection `name` that ran out of lock_timeout,
 * rolled back) with what it waited for: which relation of the connection's schemas another
 * session holds a lock on, and the oldest holders (pid, application_name, state, how long
 * their transaction has been open; never their query); why stays when that cannot be read.
 * Blocks for one query. */
void cs_update_describe_wait(PGconn *conn, const char *name, char *why, size_t why_size);

/* The benchmarks' DDL capture (CONNSTATE_DDL_CAPTURE=DIR): appends a committed build's
 * statements; the flush writes out what is buffered (the comments' capture's too:
 * CONNSTATE_COMMENT_CAPTURE=DIR, written by cs_update_comments). */
void cs_update_capture(const char *sql);
/* The comment capture (CONNSTATE_COMMENT_CAPTURE=DIR): a committed comment transaction's
 * statements and its COMMIT. */
void cs_update_capture_comments(const char *sql);
void cs_update_flush_capture(void);

/* ---- session.c: the worker's database session ------------------------------------------ */

typedef struct cs_session cs_session_t;

/* Whether to give up waiting (a signal came, the supervisor is gone). */
typedef bool cs_session_stop_fn(void *arg);

/* A session to be opened with conninfo (libpq's own, a multi-host one included: it is never
 * parsed here), whose lock_timeout is lock_timeout_ms (0: none). Does not connect. Returns
 * NULL when out of memory. */
cs_session_t *cs_session_new(const char *conninfo, long lock_timeout_ms);
void cs_session_destroy(cs_session_t **self_p);

/* Opens the session, waiting for the database while it is unavailable: tries again after a
 * backoff of 250 ms doubling up to 10 s, logging once that it is unavailable and once that
 * it is available again. Returns the connection (borrowed: valid until cs_session_close), or
 * NULL when stopped(arg) said so. Blocks, but a signal or stopped() ends the wait within
 * 100 ms, also while libpq connects (in a thread of its own). */
PGconn *cs_session_open(cs_session_t *self, cs_session_stop_fn *stopped, void *arg);

/* Whether the open session is gone (true without one). readable: its socket is readable
 * while no query runs, so what came is read (a notice, or the server closing it). Never
 * blocks. */
bool cs_session_lost(cs_session_t *self, bool readable);

/* Why the session was lost, on one line: the server's FATAL message when it sent one, else
 * libpq's error. Borrowed until the next call. */
const char *cs_session_why(cs_session_t *self);

/* Closes the session after it was lost; the next cs_session_open opens another (at once, or
 * after the backoff when this one was lost soon after it was opened). */
void cs_session_close(cs_session_t *self);

/* ---- task.c: running one update ------------------------------------------------------- */

typedef struct cs_tasks cs_tasks_t;

/* The task runner: plugin info and schema caches; at most tables_per_transaction tables
 * created or dropped in one transaction. Returns NULL when out of memory. */
cs_tasks_t *cs_tasks_new(const char *plugin_dir, int plugin_timeout_ms,
                         size_t tables_per_transaction, cs_plugin_tick_fn *tick, void *tick_arg);
void cs_tasks_destroy(cs_tasks_t **self_p);

/* Nothing to do for now: writes out what is buffered (the benchmarks' DDL capture). */
void cs_tasks_idle(cs_tasks_t *self);

/* One TASK on its way through the worker: prepared (plugin, schema, SQL text) while the
 * session may still run the previous one, then sent, then completed into a RESULT. */
typedef struct cs_job cs_job_t;

/* Takes the TASK (*task_p becomes NULL). Returns NULL when out of memory (the task kept). */
cs_job_t *cs_job_new(cs_msg_t **task_p);
void cs_job_destroy(cs_job_t **job_p);
const cs_msg_t *cs_job_task(const cs_job_t *job);
/* The RESULT: ok or error, plugin version, schema hash, table and DDL counts. Filled by
 * cs_tasks_complete; the job keeps ownership. */
cs_msg_t *cs_job_result(const cs_job_t *job);
/* Hands the completed RESULT over to the caller (NULL when already taken). */
cs_msg_t *cs_job_take_result(cs_job_t *job);
/* Whose fault the completed job's failure is (CS_FAULT_NONE when it succeeded). A RESULT of
 * any other fault has retry set, one of CS_FAULT_SESSION or CS_FAULT_WORKER also
 * worker_fault, and CS_FAULT_SESSION means the session must be opened again. */
cs_fault_t cs_job_fault(const cs_job_t *job);

/* Does what needs no round trip to the database: the plugin's schema (which may run the
 * plugin, calling tick) and, for a build of a schema that did not exist when it was
 * planned or for comments of at most a batch of tables, the whole transaction's text.
 * Idempotent. Never touches the session's socket, so it may run while the session executes
 * another job. */
void cs_tasks_prepare(cs_tasks_t *self, PGconn *conn, cs_job_t *job);

/* Sends the fresh builds and comments transactions at the head of jobs[0..count) (the first
 * prepared here when it is not yet; the others only when they are) in one text, each its own
 * transaction, without waiting for the database: one round trip for them all (the first comments on
 * a session create its check function first: one statement, blocking). Returns how many were sent:
 * 0 when jobs[0] is not of that kind (or sending failed), and cs_tasks_complete then runs it
 * entirely. */
size_t cs_tasks_send(cs_tasks_t *self, PGconn *conn, cs_job_t *const *jobs, size_t count);

/* Reads the results of the first job of a text cs_tasks_send sent that is not collected yet,
 * up to its COMMIT, or its failure: the database then ran nothing after it in the text
 * (cs_job_ended_text). Without wait, only what arrived: returns false when more is to come
 * (its results so far are kept). Returns true when the job's results are all in (its outcome is
 * for cs_tasks_complete, once the text ended when the job failed). */
bool cs_tasks_collect(cs_tasks_t *self, PGconn *conn, cs_job_t *job, bool wait);
/* Whether the collected job ended its text: it failed, or the results stopped before its end. */
bool cs_job_ended_text(const cs_job_t *job);
/* After the last job of a text was collected, or one ended it: reads the end of the text
 * (blocking, briefly), rolls back a failed transaction; the count jobs sent with the text
 * that it did not run are sent no more (to be sent again). */
void cs_tasks_end_text(cs_tasks_t *self, PGconn *conn, cs_job_t *const *not_run, size_t count);

/* Runs the job to its end and fills its RESULT (once; later calls do nothing). Each update
 * is one transaction, or a few when it is too big for one (see update.c); a failure leaves
 * the previous schema as it was. A failure that is not the connection's (cs_job_fault) is
 * answered with retry and says what it waits for: "database unavailable: ..." when the
 * session is lost (never tried again here: the caller opens another), or the lock and who
 * holds it when lock_timeout ran out. A build or comments task whose plugin is missing or not
 * executable here, or has another version than the TASK's plugin_version, is not run: it is
 * answered with worker_fault (and the plugin's version here, when it has one). Blocks. A
 * job sent with others is collected with them (cs_tasks_collect) before it is completed. */
void cs_tasks_complete(cs_tasks_t *self, PGconn *conn, cs_job_t *job);

#endif
