/* Private header of client/cli/ (the connstate command): its subcommands and helpers. */
#ifndef CS_CLIENT_H
#define CS_CLIENT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>

#include "cs_buf.h"
#include "cs_config.h"
#include "cs_log.h"
#include "cs_pg.h"
#include "cs_proto.h"

/* Subcommands: each takes argv starting at its own name and returns the exit status. */
int cs_cli_config(int argc, char **argv);
int cs_cli_status(int argc, char **argv);
int cs_cli_refresh(int argc, char **argv);
int cs_cli_wait(int argc, char **argv);
int cs_cli_query(int argc, char **argv);
int cs_cli_inspect(int argc, char **argv);
int cs_cli_watch(int argc, char **argv);

/* Connects to --db / $CONNSTATE_DB / the embedded cluster; NULL after printing why. */
PGconn *cs_cli_connect(const char *command, const char *db, const char *data_dir);

/* Prints "unknown option" and the usage on stderr; returns 2 (the usage-error status). */
int cs_cli_bad_option(const char *command, const char *arg, void (*usage)(FILE *out));

#endif
