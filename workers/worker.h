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

/* Runs one TASK against the session and fills result (a RESULT message: ok or error, plugin
 * version, schema hash, table and DDL counts). Each update is one transaction; a failure
 * rolls back and leaves the previous schema as it was. Blocks (calling tick). */
void cs_tasks_run(cs_tasks_t *self, PGconn *conn, const cs_msg_t *task, cs_msg_t *result);

#endif
