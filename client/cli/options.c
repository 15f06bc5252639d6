/* Helpers shared by the connstate commands. */
#include "cli.h"

#include <stdlib.h>

#include <stdio.h>
#include <string.h>

int cs_cli_bad_option(const char *command, const char *arg, void (*usage)(FILE *out))
{
    fprintf(stderr, "connstate %s: unknown or incomplete option or argument '%s'\n", command,
            arg ? arg : "");
    usage(stderr);
    return 2;
}

PGconn *cs_cli_connect(const char *command, const char *db, const char *data_dir)
{
    bool embedded;
    char *conninfo = cs_db_resolve(db, data_dir, &embedded);
    if (!conninfo) {
        fprintf(stderr, "connstate %s: no --db, no $CONNSTATE_DB and no home directory\n", command);
        return NULL;
    }
    char err[512];
    PGconn *conn = cs_pg_connect(conninfo, "connstate", err, sizeof err);
    if (!conn)
        fprintf(stderr, "connstate %s: cannot connect to %s: %s\n", command,
                embedded ? "the embedded database (is connstate-supervisor running?)"
                         : "the database",
                err);
    free(conninfo);
    return conn;
}
