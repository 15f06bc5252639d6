/* The connstate commands' options: one table (flag, environment variable, default, parser,
 * help line) from which every command's parsing, fallbacks, defaults and --help come. */
#include "cli.h"

#include "cs_wire.h"

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct s_option s_option_t;

/* Stores an option's value, read from text, in args; returns 0, or -1 after printing why. */
typedef int(s_parse_fn)(const cs_cli_command_t *command, const s_option_t *option, const char *text,
                        cs_cli_args_t *args);

/* One option: what the help says, where its value comes from, how it is read. */
struct s_option {
    cs_cli_option_t id;
    const char *flag;          /* without its "--" */
    const char *arg;           /* the value as the help names it; NULL: a flag, no value */
    const char *help;          /* NULL: the command's formats */
    const char *env;           /* read when the flag is absent (text options); NULL: none */
    const char *fallback;      /* the value when both are absent (text options); NULL: none */
    const char *fallback_help; /* the default the help states when it is not fallback */
    s_parse_fn *parse;         /* reads the flag's value */
    size_t offset;             /* the value's place in cs_cli_args_t */
};

static s_parse_fn s_text, s_seconds, s_format, s_flag, s_stuck;

#define S_FIELD(name) offsetof(cs_cli_args_t, name)

/* id, flag, arg, help, env, fallback, fallback_help, parser, field */
#define S_OPTION(id, flag, arg, help, env, fallback, fallback_help, parse, field)                  \
    {                                                                                              \
        id, flag, arg, help, env, fallback, fallback_help, parse, S_FIELD(field)                   \
    }
static const s_option_t s_options[] = {
    S_OPTION(CS_CLI_DB, "db", "CONNINFO", "database", "CONNSTATE_DB", NULL, "the embedded cluster",
             s_text, db),
    S_OPTION(CS_CLI_DATA_DIR, "data-dir", "DIR", "the embedded cluster's directory",
             "CONNSTATE_DATA_DIR", NULL, "~/.connstate/db, as root /var/lib/connstate/db", s_text,
             data_dir),
    S_OPTION(CS_CLI_CONFIG_DIR, "config-dir", "DIR", "the directory of the .spc files",
             "CONNSTATE_CONFIG_DIR", NULL, "~/.connstate/config", s_text, config_dir),
    S_OPTION(CS_CLI_PLUGIN_DIR, "plugin-dir", "DIR", "the plugins", "CONNSTATE_PLUGIN_DIR", NULL,
             "the bundled ones", s_text, plugin_dir),
    S_OPTION(CS_CLI_PUBLISH, "publish", "EP", "the supervisor's publish endpoint",
             "CONNSTATE_PUBLISH", CONNSTATE_PUBLISH_DEFAULT, NULL, s_text, publish),
    S_OPTION(CS_CLI_CONTROL, "control", "EP", "the supervisor's control endpoint",
             "CONNSTATE_CONTROL", CONNSTATE_CONTROL_DEFAULT, NULL, s_text, control),
    S_OPTION(CS_CLI_CURVE, "curve-cert", "FILE",
             "this client's certificate (keygen's FILE; FILE_secret is read): CURVE, never plain "
             "text",
             "CONNSTATE_CURVE_CERT", NULL, NULL, s_text, curve_cert),
    S_OPTION(CS_CLI_CURVE, "curve-server", "FILE", "the supervisor's public certificate",
             "CONNSTATE_CURVE_SERVER", NULL, NULL, s_text, curve_server),
    S_OPTION(CS_CLI_TIMEOUT, "timeout", "SEC", "give up after SEC seconds", NULL, NULL,
             "wait as long as it takes", s_seconds, timeout),
    S_OPTION(CS_CLI_FORMAT, "format", "FORMAT", NULL, NULL, NULL, NULL, s_format, format),
    S_OPTION(CS_CLI_WORKERS, "workers", NULL,
             "the supervisor's workers instead (asked over --control): capacity, tasks held, "
             "failures in a row, quarantine",
             NULL, NULL, NULL, s_flag, workers),
    S_OPTION(CS_CLI_FULL, "full", NULL,
             "the supervisor reads every schema and its marker, not only what its schema "
             "journal says changed (for changes made without DDL, or with "
             "session_replication_role = replica)",
             NULL, NULL, NULL, s_flag, full),
    S_OPTION(CS_CLI_STUCK, "stuck", "[=SEC]",
             "only the connections updating for longer than SEC seconds (default: the "
             "supervisor's lease, --task-timeout, as it wrote it to the database)",
             NULL, NULL, NULL, s_stuck, stuck),
};

#define S_OPTION_COUNT (sizeof s_options / sizeof *s_options)
#define S_FORMAT_MAX   (sizeof((cs_cli_command_t *)0)->formats / sizeof(const char *))
#define S_OPTION_VAL   1000 /* getopt_long's answer for s_options[i]: S_OPTION_VAL + i */

static const char **s_text_field(cs_cli_args_t *args, const s_option_t *option)
{
    return (const char **)((char *)args + option->offset);
}

static int s_text(const cs_cli_command_t *command, const s_option_t *option, const char *text,
                  cs_cli_args_t *args)
{
    (void)command;
    *s_text_field(args, option) = text;
    return 0;
}

static int s_flag(const cs_cli_command_t *command, const s_option_t *option, const char *text,
                  cs_cli_args_t *args)
{
    (void)command;
    (void)text;
    *(bool *)((char *)args + option->offset) = true;
    return 0;
}

/* An option whose value is optional: its arg as the help shows it starts with '['. */
static bool s_optional(const s_option_t *option)
{
    return option->arg && option->arg[0] == '[';
}

static int s_stuck(const cs_cli_command_t *command, const s_option_t *option, const char *text,
                   cs_cli_args_t *args)
{
    args->stuck = true;
    if (!text)
        return 0;
    char *end;
    double seconds = strtod(text, &end);
    if (*end || end == text || !(seconds > 0) || seconds > 1e9) {
        fprintf(stderr, "connstate %s: --%s=SEC must be a positive number of seconds, not '%s'\n",
                command->name, option->flag, text);
        return -1;
    }
    args->stuck_s = seconds;
    return 0;
}

static int s_seconds(const cs_cli_command_t *command, const s_option_t *option, const char *text,
                     cs_cli_args_t *args)
{
    char *end;
    double seconds = strtod(text, &end);
    if (*end || end == text || !(seconds > 0)) {
        fprintf(stderr, "connstate %s: --%s must be a positive number of seconds\n", command->name,
                option->flag);
        return -1;
    }
    *(double *)((char *)args + option->offset) = seconds;
    return 0;
}

/* The command's formats as a sentence, "table, csv or json"; note follows the first. */
static void s_formats(cs_buf_t *out, const cs_cli_command_t *command, const char *note)
{
    size_t count = 0;
    while (count < S_FORMAT_MAX && command->formats[count])
        count++;
    for (size_t i = 0; i < count; i++) {
        cs_buf_puts(out, i == 0 ? "" : i + 1 == count ? " or " : ", ");
        cs_buf_puts(out, command->formats[i]);
        if (i == 0 && note)
            cs_buf_puts(out, note);
    }
}

static int s_format(const cs_cli_command_t *command, const s_option_t *option, const char *text,
                    cs_cli_args_t *args)
{
    for (size_t i = 0; i < S_FORMAT_MAX; i++) {
        if (command->formats[i] && strcmp(command->formats[i], text) == 0) {
            *s_text_field(args, option) = command->formats[i];
            return 0;
        }
    }
    cs_buf_t choices = {0};
    s_formats(&choices, command, NULL);
    fprintf(stderr, "connstate %s: --%s must be %s, not '%s'\n", command->name, option->flag,
            cs_buf_str(&choices), text);
    cs_buf_free(&choices);
    return -1;
}

/* The options a command has not been given (given: a bit per s_options entry): their
 * environment variable, else default. */
static void s_defaults(const cs_cli_command_t *command, uint64_t given, cs_cli_args_t *args)
{
    bool format_given = false;
    for (size_t i = 0; i < S_OPTION_COUNT; i++) {
        const s_option_t *option = &s_options[i];
        format_given = format_given || (option->id == CS_CLI_FORMAT && (given >> i & 1));
        if (!(command->options & option->id) || (given >> i & 1))
            continue;
        if (option->env)
            *s_text_field(args, option) = cs_opt(NULL, option->env, option->fallback);
        else if (option->fallback)
            *s_text_field(args, option) = option->fallback;
    }
    if ((command->options & CS_CLI_FORMAT) && !format_given && !command->format_by_tty)
        args->format = command->formats[0];
}

/* One option in the help: "  --flag ARG  help (default: $ENV, else fallback)", the words
 * wrapped into the help's column before the 80th. */
static void s_usage_line(cs_buf_t *out, const cs_cli_command_t *command, const s_option_t *option,
                         int width)
{
    cs_buf_t help = {0};
    if (option->help)
        cs_buf_puts(&help, option->help);
    else
        s_formats(&help, command,
                  command->format_by_tty ? " (default on a terminal)" : " (default)");
    const char *value = option->fallback ? option->fallback : option->fallback_help;
    if (option->env && value)
        cs_buf_printf(&help, " (default: $%s, else %s)", option->env, value);
    else if (option->env)
        cs_buf_printf(&help, " (default: $%s)", option->env);
    else if (value)
        cs_buf_printf(&help, " (default: %s)", value);
    size_t start = out->len;
    if (s_optional(option)) /* "--stuck[=SEC]" */
        cs_buf_printf(out, "  --%s%-*s ", option->flag, width - 2 - (int)strlen(option->flag),
                      option->arg);
    else
        cs_buf_printf(out, "  --%s %-*s ", option->flag, width - 3 - (int)strlen(option->flag),
                      option->arg ? option->arg : "");
    size_t column = out->len - start;
    const char *word = cs_buf_str(&help);
    while (*word) {
        size_t len = strcspn(word, " ");
        if (column + 1 + len > 79 && column > (size_t)width + 4) {
            cs_buf_printf(out, "\n%*s", width + 3, "");
            column = (size_t)width + 3;
        }
        cs_buf_printf(out, " %.*s", (int)len, word);
        column += 1 + len;
        word += len + strspn(word + len, " ");
    }
    cs_buf_putc(out, '\n');
    cs_buf_free(&help);
}

void cs_cli_usage(const cs_cli_command_t *command, FILE *out)
{
    int width = (int)strlen("--help");
    for (size_t i = 0; i < S_OPTION_COUNT; i++) {
        const char *arg = s_options[i].arg ? s_options[i].arg : "";
        int len = (int)(strlen(s_options[i].flag) + 3 + strlen(arg));
        if ((command->options & s_options[i].id) && len > width)
            width = len;
    }
    cs_buf_t text = {0};
    cs_buf_printf(&text, "%s\n", command->usage);
    for (size_t i = 0; i < S_OPTION_COUNT; i++)
        if (command->options & s_options[i].id)
            s_usage_line(&text, command, &s_options[i], width);
    cs_buf_printf(&text, "  %-*s  show this help\n", width, "--help");
    fputs(cs_buf_str(&text), out);
    cs_buf_free(&text);
}

/* An unknown option, one without its value, or an argument too many: says so; returns 2. */
static int s_bad_option(const cs_cli_command_t *command, const char *arg)
{
    fprintf(stderr, "connstate %s: unknown or incomplete option or argument '%s'\n", command->name,
            arg ? arg : "");
    cs_cli_usage(command, stderr);
    return 2;
}

int cs_cli_parse(const cs_cli_command_t *command, int argc, char **argv, cs_cli_args_t *args)
{
    *args = (cs_cli_args_t){.command = command->name};
    struct option longopts[S_OPTION_COUNT + 2];
    size_t n = 0;
    for (size_t i = 0; i < S_OPTION_COUNT; i++)
        if (command->options & s_options[i].id)
            longopts[n++] = (struct option){s_options[i].flag,
                                            s_optional(&s_options[i]) ? optional_argument
                                            : s_options[i].arg        ? required_argument
                                                                      : no_argument,
                                            NULL, S_OPTION_VAL + (int)i};
    longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    uint64_t given = 0;
    _Static_assert(S_OPTION_COUNT <= 64, "a bit per option");
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt == 'h') {
            cs_cli_usage(command, stdout);
            return 0;
        }
        if (opt < S_OPTION_VAL)
            return s_bad_option(command, argv[optind - 1]);
        const s_option_t *option = &s_options[opt - S_OPTION_VAL];
        if (option->parse(command, option, optarg, args) != 0)
            return 2;
        given |= (uint64_t)1 << (opt - S_OPTION_VAL);
    }
    args->argc = argc - optind;
    args->argv = argv + optind;
    bool too_many = command->max_args >= 0 && args->argc > command->max_args;
    if (too_many && !command->args)
        return s_bad_option(command, args->argv[command->max_args]);
    if (too_many || args->argc < command->min_args) {
        fprintf(stderr, "connstate %s: expected %s\n", command->name, command->args);
        cs_cli_usage(command, stderr);
        return 2;
    }
    s_defaults(command, given, args);
    args->json = args->format && strcmp(args->format, "json") == 0;
    return CS_CLI_RUN;
}

int cs_cli_curve(const cs_cli_args_t *args, cs_curve_client_t *curve)
{
    char why[600];
    if (cs_curve_client_load(args->curve_cert, args->curve_server, curve, why, sizeof why) == 0)
        return 0;
    fprintf(stderr, "connstate %s: %s\n", args->command, why);
    return 2;
}

zsock_t *cs_cli_control_connect(const cs_cli_args_t *args, const cs_curve_client_t *curve)
{
    zsys_handler_set(NULL);
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (!sock) {
        fprintf(stderr, "connstate %s: cannot create a socket\n", args->command);
        return NULL;
    }
    zsock_set_linger(sock, 0);
    cs_wire_limit(sock);
    cs_curve_client_apply(curve, sock);
    if (zsock_connect(sock, "%s", args->control) != 0) {
        fprintf(stderr, "connstate %s: cannot connect to %s\n", args->command, args->control);
        zsock_destroy(&sock);
    }
    return sock;
}

int cs_cli_control_recv(const cs_cli_args_t *args, zsock_t *sock, int timeout_ms, cs_msg_t **msg)
{
    *msg = NULL;
    zmq_pollitem_t item = {zsock_resolve(sock), 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) <= 0)
        return 0;
    char why[256];
    if (cs_wire_recv(sock, 0, NULL, msg, why, sizeof why) != 0)
        return 0;
    if (!*msg) {
        fprintf(stderr, "connstate %s: malformed reply from %s: %s\n", args->command, args->control,
                why);
        return -1;
    }
    return 1;
}
