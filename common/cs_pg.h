/* cs_pg: PostgreSQL helpers (connecting, queries with errors logged once) and the embedded
 * cluster that connstate starts when no --db is given. */
#ifndef CS_PG_H
#define CS_PG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* Connects (blocking). Returns the session, or NULL with the reason in err. */
PGconn *cs_pg_connect(const char *conninfo, const char *application, char *err, size_t err_size);

/* Runs a command (or several, separated by ';') without parameters. Returns 0, or -1 with
 * the error logged (what names the action in the log line). Blocks. */
int cs_pg_exec(PGconn *conn, const char *what, const char *sql) __attribute__((warn_unused_result));

/* Runs a query with text parameters. Returns its result (the caller PQclear()s it) when it
 * succeeded with PGRES_TUPLES_OK or PGRES_COMMAND_OK, else NULL with the error logged. */
PGresult *cs_pg_query(PGconn *conn, const char *what, const char *sql, int nparams,
                      const char *const *params);

/* A failed result's error on one line: the message, then its DETAIL and HINT in
 * parentheses when the server gave them. Writes at most size bytes to buf. */
void cs_pg_error_text(const PGresult *res, char *buf, size_t size);

/* The conninfo of the database to use: db when given, else $CONNSTATE_DB, else the
 * embedded cluster's under data_dir (default: cs_embedded_default_dir). *embedded tells
 * which. Returns a malloc'd string, or NULL when no home directory is known. */
char *cs_db_resolve(const char *db, const char *data_dir, bool *embedded);

/* The embedded cluster's directory: $CONNSTATE_DATA_DIR, else ~/.connstate/db, or
 * /var/lib/connstate/db when run as root (PostgreSQL then runs as the postgres user, which
 * cannot enter /root). Returns a malloc'd string or NULL. */
char *cs_embedded_default_dir(void);

/* The conninfo of the embedded cluster under data_dir (malloc'd). */
char *cs_embedded_conninfo(const char *data_dir);

typedef struct cs_embedded cs_embedded_t;

/* Creates the cluster under data_dir if it does not exist (initdb), starts it unless it is
 * already running, and creates the connstate database. Runs PostgreSQL as the postgres
 * user (or nobody) when we are root. Returns a handle, or NULL (the reason logged). Call
 * it before any ZeroMQ context exists: it forks. Blocks until the server accepts sessions. */
cs_embedded_t *cs_embedded_start(const char *data_dir);

/* Stops the cluster if cs_embedded_start started it (fast shutdown), frees the handle and
 * NULLs *self_p. Blocks until the server has stopped. Idempotent. */
void cs_embedded_stop(cs_embedded_t **self_p);

#endif
