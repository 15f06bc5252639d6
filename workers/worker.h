/* Private header of workers/: what the worker's modules share. */
#ifndef CS_WORKER_H
#define CS_WORKER_H

#include <czmq.h>
#include <libpq-fe.h>

#include "cs_buf.h"
#include "cs_config.h"
#include "cs_log.h"
#include "cs_marker.h"
#include "cs_pg.h"
#include "cs_plugin.h"
#include "cs_proto.h"
#include "cs_wire.h"

/* ---- ddl.c: the SQL text of schema changes ---------------------------------------------- */

/* The part of a schema's DDL that does not depend on the connection: each table's foreign
 * table definition, whose rows come from `plugin_path rows TABLE ARGS...`. Built once per
 * cached schema, so that an update only splices in its schema name. Returns NULL when
 * escaping failed or memory ran out (the reason in why). */
typedef struct cs_ddl_tables cs_ddl_tables_t;
cs_ddl_tables_t *cs_ddl_tables_new(PGconn *conn, const cs_schema_t *schema, const char *plugin_path,
                                   char *why, size_t why_size);
void cs_ddl_tables_destroy(cs_ddl_tables_t **self_p);

/* Appends to sql the statements that replace schema `name` with the tables: drop the old
 * one (when `replace`), create it, one foreign table per table, and the marker comment.
 * Returns the number of statements, or -1 when escaping failed (the reason in why). Never
 * blocks. */
int cs_ddl_build(PGconn *conn, const char *name, bool replace, const cs_ddl_tables_t *tables,
                 const char *marker, cs_buf_t *sql, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* Appends the table and column COMMENT statements of schema `name`. Returns the number of
 * statements (0 when the plugin gives no descriptions), or -1 as above. */
int cs_ddl_comments(PGconn *conn, const char *name, const cs_schema_t *schema, cs_buf_t *sql,
                    char *why, size_t why_size) __attribute__((warn_unused_result));

/* ---- task.c: running one update ------------------------------------------------------- */

typedef struct cs_tasks cs_tasks_t;

/* The task runner: plugin info and schema caches and the database session. Returns NULL
 * when out of memory. */
cs_tasks_t *cs_tasks_new(const char *plugin_dir, int plugin_timeout_ms, cs_plugin_tick_fn *tick,
                         void *tick_arg);
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

/* Does what needs no round trip to the database: the plugin's schema (which may run the
 * plugin, calling tick) and, for a build of a schema that did not exist when it was
 * planned, the whole transaction's text. Idempotent. Never touches the session's socket,
 * so it may run while the session executes another job. */
void cs_tasks_prepare(cs_tasks_t *self, PGconn *conn, cs_job_t *job);

/* Sends a prepared fresh build without waiting for it. Returns false when the job is not of
 * that kind (or sending failed): cs_tasks_complete then runs it entirely. */
bool cs_tasks_send(cs_tasks_t *self, PGconn *conn, cs_job_t *job);

/* Runs the job to its end and fills its RESULT (once; later calls do nothing). Each update
 * is one transaction; a failure rolls back and leaves the previous schema as it was. Blocks:
 * call it for a sent job once the session is no longer busy (PQisBusy) to wait for nothing. */
void cs_tasks_complete(cs_tasks_t *self, PGconn *conn, cs_job_t *job);

#endif
