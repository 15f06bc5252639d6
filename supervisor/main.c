/* connstate-supervisor: command line, then the supervisor's event loop. */
#include "supervisor.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void s_usage(FILE *out)
{
    fprintf(
        out,
        "Usage: connstate-supervisor [OPTION]...\n"
        "Keeps a PostgreSQL database's connection schemas in step with a directory of .spc\n"
        "files, using worker processes over ZeroMQ.\n"
        "\n"
        "  --config-dir DIR     connection configs (CONNSTATE_CONFIG_DIR, ~/.connstate/config)\n"
        "  --db CONNINFO        PostgreSQL to manage (CONNSTATE_DB); without it an embedded\n"
        "                       cluster under --data-dir is created and started\n"
        "  --data-dir DIR       embedded cluster (CONNSTATE_DATA_DIR, ~/.connstate/db)\n"
        "  --workers N          local workers to spawn (CONNSTATE_WORKERS, number of CPUs)\n"
        "  --bind-workers EP    worker endpoint (CONNSTATE_BIND_WORKERS, tcp://127.0.0.1:7600)\n"
        "  --bind-publish EP    publish endpoint (CONNSTATE_BIND_PUBLISH, tcp://127.0.0.1:7601)\n"
        "  --bind-control EP    control endpoint (CONNSTATE_BIND_CONTROL, tcp://127.0.0.1:7602)\n"
        "  --plugin-dir DIR     plugins (CONNSTATE_PLUGIN_DIR, the bundled ones)\n"
        "  --batch-size N       results per state-table write (CONNSTATE_BATCH_SIZE, 200)\n"
        "  --batch-ms MS        longest wait before a state write (CONNSTATE_BATCH_MS, 50)\n"
        "  --log-level LEVEL    error|warn|info|debug (CONNSTATE_LOG_LEVEL, info)\n"
        "  --help               show this help and exit\n"
        "  --version            show the version and exit\n");
}

int main(int argc, char **argv)
{
    static const struct option options[] = {{"config-dir", required_argument, NULL, 'c'},
                                            {"db", required_argument, NULL, 'd'},
                                            {"data-dir", required_argument, NULL, 'D'},
                                            {"workers", required_argument, NULL, 'w'},
                                            {"bind-workers", required_argument, NULL, 'W'},
                                            {"bind-publish", required_argument, NULL, 'P'},
                                            {"bind-control", required_argument, NULL, 'C'},
                                            {"plugin-dir", required_argument, NULL, 'p'},
                                            {"batch-size", required_argument, NULL, 'b'},
                                            {"batch-ms", required_argument, NULL, 'm'},
                                            {"log-level", required_argument, NULL, 'l'},
                                            {"help", no_argument, NULL, 'h'},
                                            {"version", no_argument, NULL, 'V'},
                                            {NULL, 0, NULL, 0}};
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
            case 'h':
                s_usage(stdout);
                return 0;
            case 'V':
                printf("connstate-supervisor %s\n", CS_VERSION);
                return 0;
            case '?':
                fprintf(stderr, "connstate-supervisor: unknown or incomplete option '%s'\n",
                        argv[optind - 1]);
                s_usage(stderr);
                return 2;
            default:
                break;
        }
    }
    fprintf(stderr, "connstate-supervisor: the supervisor is not built yet (issue 4)\n");
    return 1;
}
