/* cs_pg: PostgreSQL helpers: connecting, and running statements with each error logged once. */
#ifndef CS_PG_H
#define CS_PG_H

#include <libpq-fe.h>
#include <stddef.h>

/* Connects (blocking, at most 10 s per host). Returns the session (the caller PQfinish()es
 * it), or NULL with the reason in err. NOTICEs are logged at debug level. */
PGconn *cs_pg_connect(const char *conninfo, const char *application, char *err, size_t err_size);

/* Starts connecting without blocking (libpq's PQconnectStart: a multi-host conninfo tries
 * each host in turn). Returns the session to drive with cs_pg_connect_poll, or NULL with
 * the reason in err. */
PGconn *cs_pg_connect_start(const char *conninfo, const char *application, char *err,
                            size_t err_size);

/* One step of a connection started so: 0 connected, 1 waiting to read its socket, 2 to
 * write it, -1 failed (the reason in err; the caller PQfinish()es it). */
int cs_pg_connect_poll(PGconn *conn, char *err, size_t err_size);

/* Runs a command (or several, separated by ';') without parameters. Returns 0, or -1 with
 * the error logged (what names the action in the log line). Blocks. */
int cs_pg_exec(PGconn *conn, const char *what, const char *sql) __attribute__((warn_unused_result));

/* Runs a query with text parameters. Returns its result (the caller PQclear()s it) when it
 * succeeded with PGRES_TUPLES_OK or PGRES_COMMAND_OK, else NULL with the error logged.
 * Blocks. */
PGresult *cs_pg_query(PGconn *conn, const char *what, const char *sql, int nparams,
                      const char *const *params);

/* A failed result's error on one line: the message, then its DETAIL and HINT in
 * parentheses when the server gave them. Writes at most size bytes to buf (res may be NULL).
 * Never blocks. */
void cs_pg_error_text(const PGresult *res, char *buf, size_t size);

#endif
