/* cs_embedded: the PostgreSQL cluster connstate runs itself, and which database to use. */
#ifndef CS_EMBEDDED_H
#define CS_EMBEDDED_H

#include <stdbool.h>

/* The conninfo of the database to use: db when given, else $CONNSTATE_DB, else the
 * embedded cluster's under data_dir (default: cs_embedded_default_dir). *embedded tells
 * which. Returns a malloc'd string (the caller frees it), or NULL when no home directory
 * is known. Never blocks. */
char *cs_db_resolve(const char *db, const char *data_dir, bool *embedded);

/* The embedded cluster's directory: $CONNSTATE_DATA_DIR, else ~/.connstate/db, or
 * /var/lib/connstate/db when run as root (PostgreSQL then runs as the postgres user, which
 * cannot enter /root). Returns a malloc'd string (the caller frees it) or NULL. Never blocks. */
char *cs_embedded_default_dir(void);

/* The conninfo of the embedded cluster under data_dir: a malloc'd string (the caller frees
 * it), or NULL when out of memory. Never blocks. */
char *cs_embedded_conninfo(const char *data_dir);

typedef struct cs_embedded cs_embedded_t;

/* Creates the cluster under data_dir if it does not exist (initdb), starts it unless it is
 * already running, and creates the connstate database. Runs PostgreSQL as the postgres
 * user (or nobody) when we are root. Returns a handle, or NULL (the reason logged). Call
 * it before any ZeroMQ context exists: it forks. Blocks until the server accepts sessions. */
cs_embedded_t *cs_embedded_start(const char *data_dir);

/* Starts the server again unless it runs (pg_ctl status): after its postmaster died.
 * Returns 0 when it ran, 1 when it was started again, -1 when it could not be (the reason
 * logged). Forks pg_ctl;
 * blocks while the server starts (60 s at most). */
int cs_embedded_ensure(cs_embedded_t *self);

/* Stops the cluster if cs_embedded_start started it (fast shutdown), frees the handle and
 * NULLs *self_p. Blocks until the server has stopped. Idempotent. */
void cs_embedded_stop(cs_embedded_t **self_p);

#endif
