/* connstate: the command-line client (config check, status, refresh, wait, query, inspect, watch).
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static void s_usage(FILE *out)
{
    fprintf(out, "Usage: connstate COMMAND [OPTION]...\n"
                 "\n"
                 "Commands:\n"
                 "  config check   validate the .spc files and list their connections\n"
                 "  status         every connection's status\n"
                 "  refresh        ask the supervisor to refresh and wait for it\n"
                 "  wait           wait until connections are ready\n"
                 "  query          wait for the connections a query needs, then run it\n"
                 "  inspect        connections, their tables and columns\n"
                 "  watch          live dashboard of state changes\n"
                 "\n"
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
    if (strcmp(command, "config") == 0)
        return cs_cli_config(argc - 1, argv + 1);
    if (strcmp(command, "status") == 0)
        return cs_cli_status(argc - 1, argv + 1);
    if (strcmp(command, "refresh") == 0)
        return cs_cli_refresh(argc - 1, argv + 1);
    if (strcmp(command, "wait") == 0)
        return cs_cli_wait(argc - 1, argv + 1);
    if (strcmp(command, "query") == 0)
        return cs_cli_query(argc - 1, argv + 1);
    if (strcmp(command, "inspect") == 0)
        return cs_cli_inspect(argc - 1, argv + 1);
    if (strcmp(command, "watch") == 0)
        return cs_cli_watch(argc - 1, argv + 1);
    if (command[0] == '-')
        fprintf(stderr, "connstate: unknown option '%s'\n", command);
    else
        fprintf(stderr, "connstate: unknown command '%s'\n", command);
    s_usage(stderr);
    return 2;
}
