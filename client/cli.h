/* Private header of client/: what the CLI and libconnstate modules share. */
#ifndef CS_CLIENT_H
#define CS_CLIENT_H

#include <stdio.h>

#include "cs_buf.h"
#include "cs_config.h"
#include "cs_log.h"

/* Subcommands: each takes argv starting at its own name and returns the exit status. */
int cs_cli_config(int argc, char **argv);

/* Prints "unknown option" and the usage on stderr; returns 2 (the usage-error status). */
int cs_cli_bad_option(const char *command, const char *arg, void (*usage)(FILE *out));

#endif
