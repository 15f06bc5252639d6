/* Private header of client/cli/ (the connstate command): its subcommands, the option table
 * they parse their flags with, and the helpers they share. */
#ifndef CS_CLI_H
#define CS_CLI_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>

#include "connstate.h"
#include "cs_buf.h"
#include "cs_config.h"
#include "cs_curve.h"
#include "cs_embedded.h"
#include "cs_log.h"
#include "cs_paths.h"
#include "cs_pg.h"
#include "cs_proto.h"

/* Subcommands: each takes argv starting at its own name and returns the exit status. */
int cs_cli_config(int argc, char **argv);
int cs_cli_status(int argc, char **argv);
int cs_cli_refresh(int argc, char **argv);
int cs_cli_wait(int argc, char **argv);
int cs_cli_query(int argc, char **argv);
int cs_cli_inspect(int argc, char **argv);
int cs_cli_plan(int argc, char **argv);
int cs_cli_watch(int argc, char **argv);
int cs_cli_keygen(int argc, char **argv);

/* ---- options ------------------------------------------------------------------------------ */

/* The options of the connstate commands (options.c holds each one's flag, environment
 * variable, default, parser and help line); a command accepts a set of them. */
typedef enum {
    CS_CLI_DB = 1 << 0,          /* --db CONNINFO */
    CS_CLI_DATA_DIR = 1 << 1,    /* --data-dir DIR */
    CS_CLI_CONFIG_DIR = 1 << 2,  /* --config-dir DIR */
    CS_CLI_PUBLISH = 1 << 3,     /* --publish EP */
    CS_CLI_CONTROL = 1 << 4,     /* --control EP */
    CS_CLI_TIMEOUT = 1 << 5,     /* --timeout SEC */
    CS_CLI_FORMAT = 1 << 6,      /* --format FORMAT, one of the command's formats */
    CS_CLI_CURVE = 1 << 7,       /* --curve-cert FILE and --curve-server FILE */
    CS_CLI_WORKERS = 1 << 8,     /* --workers (a flag, no value) */
    CS_CLI_FULL = 1 << 9,        /* --full (a flag, no value) */
    CS_CLI_STUCK = 1 << 10,      /* --stuck[=SECONDS] (a flag with an optional value) */
    CS_CLI_PLUGIN_DIR = 1 << 11, /* --plugin-dir DIR */
} cs_cli_option_t;

/* A subcommand as its options see it. */
typedef struct {
    const char *name;       /* as messages say it: "status", "config check" */
    const char *usage;      /* the help above the options: "Usage: ..." and what it does */
    unsigned options;       /* the cs_cli_option_t it accepts (and --help) */
    const char *formats[4]; /* with CS_CLI_FORMAT: the values of --format, the default first */
    bool format_by_tty;     /* no default format: the command picks one by its terminal */
    int max_args;           /* positional arguments at most; -1: any number */
    int min_args;           /* ... at least (fewer: "expected ARGS", a usage error) */
    const char *args;       /* what they are, for that message: "exactly one SQL argument" */
} cs_cli_command_t;

/* A command's options once parsed: each the flag's value, else its environment variable's
 * (when set and not empty), else its default; NULL when there is none (the command
 * computes one, as for the embedded cluster). Strings are borrowed from argv, the
 * environment or the option table. */
typedef struct {
    const char *command; /* the command's name, for messages */
    const char *db;
    const char *data_dir;
    const char *config_dir;
    const char *plugin_dir;
    const char *publish;
    const char *control;
    const char *curve_cert;   /* this client's certificate */
    const char *curve_server; /* the supervisor's public certificate */
    const char *format;       /* NULL only with format_by_tty and no --format */
    bool json;                /* format is json */
    double timeout;           /* seconds; 0: as long as it takes */
    bool workers;             /* --workers was given */
    bool full;                /* --full was given */
    bool stuck;               /* --stuck was given ... */
    double stuck_s;           /* ... with this many seconds (0: none given) */
    int argc;                 /* the positional arguments, in order */
    char **argv;
} cs_cli_args_t;

/* cs_cli_parse's answer when the command is to run. */
#define CS_CLI_RUN (-1)

/* Parses a command's argv (argv[0] is its name) into args. Returns CS_CLI_RUN, or the exit
 * status the command returns at once: 0 after printing its help (--help), 2 after a
 * usage error (an unknown option, a missing or bad value, too many arguments), printed
 * on stderr. */
int cs_cli_parse(const cs_cli_command_t *command, int argc, char **argv, cs_cli_args_t *args);

/* Prints the command's help: its usage text, then one line per option it accepts. */
void cs_cli_usage(const cs_cli_command_t *command, FILE *out);

/* ---- shared by the commands --------------------------------------------------------------- */

/* Connects to the database of args->db / args->data_dir (see cs_db_resolve). Returns the
 * session (the caller PQfinish'es it), or NULL after printing why. Blocks. */
PGconn *cs_cli_connect(const cs_cli_args_t *args);

/* The command's CURVE settings (--curve-cert and --curve-server, or their variables): both,
 * or neither (plain text). Returns 0, or 2 after saying why (one without the other, a
 * certificate that cannot be read). */
int cs_cli_curve(const cs_cli_args_t *args, cs_curve_client_t *curve);

/* A DEALER connected to the supervisor's control endpoint (args->control), over CURVE when
 * curve is on. Returns it, or NULL after saying why. */
zsock_t *cs_cli_control_connect(const cs_cli_args_t *args, const cs_curve_client_t *curve);

/* Waits up to timeout_ms for one message on that socket. Returns 1 with *msg (the caller
 * destroys it), 0 when nothing came (or a frame that is no message), -1 after printing
 * "connstate COMMAND: malformed reply from CONTROL: why". */
int cs_cli_control_recv(const cs_cli_args_t *args, zsock_t *sock, int timeout_ms, cs_msg_t **msg);

/* Prints "connstate COMMAND: " and the session's last error on stderr, and a hint when the
 * state table does not exist (no supervisor has run on that database). */
void cs_cli_db_error(const char *command, PGconn *conn);

#endif
