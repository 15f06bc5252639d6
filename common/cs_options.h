/* cs_options: a program's options as one table (flag, environment variable, default,
 * parser, help line) from which its parsing, fallbacks, defaults and --help all come. */
#ifndef CS_OPTIONS_H
#define CS_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

/* The default endpoints of the supervisor's three sockets: what it binds and what workers
 * and clients connect to unless told otherwise. */
#define CS_ENDPOINT_WORKERS "tcp://127.0.0.1:7600"
#define CS_ENDPOINT_PUBLISH "tcp://127.0.0.1:7601"
#define CS_ENDPOINT_CONTROL "tcp://127.0.0.1:7602"

typedef enum {
    CS_OPTION_TEXT,   /* a string: const char * */
    CS_OPTION_NUMBER, /* an integer within [lo, hi]: long */
    CS_OPTION_LEVEL,  /* a log level, error|warn|info|debug: const char * (checked only) */
    CS_OPTION_SWITCH, /* a flag without a value (arg NULL): bool, true when given or when its
                         variable is 1, true or yes */
} cs_option_kind_t;

/* One option. Its value goes to `offset` in the program's options struct: the flag's
 * value, else the environment variable's (when set and not empty), else `fallback` (NULL:
 * none, the program computes one; then `fallback_help` says what the default is). */
typedef struct {
    const char *flag; /* without its "--" */
    const char *arg;  /* the value as the help names it: DIR, N, SEC */
    const char *env;  /* NULL: none */
    const char *fallback;
    const char *fallback_help;
    const char *help; /* one line; may go on on lines of its own after a '\n' */
    cs_option_kind_t kind;
    long lo, hi;
    size_t offset;
} cs_option_t;

/* The log level option every program has, its value at offset (a const char *). */
#define CS_OPTION_LOG_LEVEL(offset)                                                                \
    {                                                                                              \
        "log-level", "LEVEL", "CONNSTATE_LOG_LEVEL", "info", NULL, "error|warn|info|debug",        \
            CS_OPTION_LEVEL, 0, 0, (offset)                                                        \
    }

/* A program as its options see it. */
typedef struct {
    const char *name;    /* connstate-supervisor */
    const char *version; /* printed by --version */
    const char *usage;   /* the lines above the options: "Usage: ..." and what it does */
    const char *epilog;  /* the lines after them (signals, exit status), or NULL */
    const cs_option_t *options;
    size_t count;
} cs_program_t;

/* Parses argv into out (whose fields the table's offsets name; the caller zeroes it).
 * Returns -1 when the program is to run, else the exit status it returns at once: 0 after
 * --help (on stdout) or --version, 2 after a usage error (an unknown option, a bad value,
 * an argument), said on stderr with the usage. */
int cs_options_parse(const cs_program_t *program, int argc, char **argv, void *out);

/* Prints the program's help: its usage, one line per option (with its variable and
 * default), --help and --version, and its epilog. */
void cs_options_usage(const cs_program_t *program, FILE *out);

#endif
