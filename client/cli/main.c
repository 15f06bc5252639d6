/* connstate: the command-line client (config check, status, refresh, wait, query, inspect, watch,
 * keygen). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;  /* argv[1] */
    const char *usage; /* as the help lists it */
    int (*run)(int argc, char **argv);
    const char *help;
} s_commands[] = {
    {"config", "config check", cs_cli_config, "validate the .spc files and list their connections"},
    {"status", "status", cs_cli_status, "every connection's status"},
    {"refresh", "refresh", cs_cli_refresh, "ask the supervisor to refresh and wait for it"},
    {"wait", "wait", cs_cli_wait, "wait until connections are ready"},
    {"query", "query", cs_cli_query, "wait for the connections a query needs, then run it"},
    {"inspect", "inspect", cs_cli_inspect, "connections, their tables and columns"},
    {"plan", "plan", cs_cli_plan, "what a refresh would do now, and why (changes nothing)"},
    {"watch", "watch", cs_cli_watch, "live dashboard of state changes"},
    {"keygen", "keygen FILE", cs_cli_keygen, "write a CURVE certificate pair (FILE, FILE_secret)"},
};

#define S_COMMAND_COUNT (sizeof s_commands / sizeof *s_commands)

static void s_usage(FILE *out)
{
    fprintf(out, "Usage: connstate COMMAND [OPTION]...\n\nCommands:\n");
    for (size_t i = 0; i < S_COMMAND_COUNT; i++)
        fprintf(out, "  %-15s%s\n", s_commands[i].usage, s_commands[i].help);
    fprintf(out, "\n"
                 "  --help         show this help (or a command's: connstate COMMAND --help)\n"
                 "  --version      show the version and exit\n");
}

int main(int argc, char **argv)
{
    cs_log_init("connstate");
    if (argc < 2) {
        s_usage(stderr);
        return 2;
    }
    const char *command = argv[1];
    if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0) {
        s_usage(stdout);
        return 0;
    }
    if (strcmp(command, "--version") == 0) {
        printf("connstate %s\n", CS_VERSION);
        return 0;
    }
    for (size_t i = 0; i < S_COMMAND_COUNT; i++)
        if (strcmp(command, s_commands[i].name) == 0)
            return s_commands[i].run(argc - 1, argv + 1);
    if (command[0] == '-')
        fprintf(stderr, "connstate: unknown option '%s'\n", command);
    else
        fprintf(stderr, "connstate: unknown command '%s'\n", command);
    s_usage(stderr);
    return 2;
}
