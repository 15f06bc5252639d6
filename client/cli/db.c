/* The commands' database session: --db / --data-dir resolved and connected, and a failed
 * read of the state table explained. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

PGconn *cs_cli_connect(const cs_cli_args_t *args)
{
    bool embedded;
    char *conninfo = cs_db_resolve(args->db, args->data_dir, &embedded);
    if (!conninfo) {
        fprintf(stderr, "connstate %s: no --db, no $CONNSTATE_DB and no home directory\n",
                args->command);
        return NULL;
    }
    char err[512];
    PGconn *conn = cs_pg_connect(conninfo, "connstate", err, sizeof err);
    if (!conn)
        fprintf(stderr, "connstate %s: cannot connect to %s: %s\n", args->command,
                embedded ? "the embedded database (is connstate-supervisor running?)"
                         : "the database",
                err);
    free(conninfo);
    return conn;
}

void cs_cli_db_error(const char *command, PGconn *conn)
{
    fprintf(stderr, "connstate %s: %s", command, PQerrorMessage(conn));
    if (strstr(PQerrorMessage(conn), "does not exist"))
        fprintf(stderr, "connstate %s: has connstate-supervisor run on this database?\n", command);
}
