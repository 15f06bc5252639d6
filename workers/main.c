/* connstate-worker: command line, then the worker's loop. */
#include "worker.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static void s_usage(FILE *out)
{
    fprintf(out, "Usage: connstate-worker --connect EP --db CONNINFO [OPTION]...\n"
                 "Builds connection schemas for a connstate supervisor.\n"
                 "\n"
                 "  --connect EP         the supervisor's worker endpoint (CONNSTATE_CONNECT,\n"
                 "                       tcp://127.0.0.1:7600)\n"
                 "  --db CONNINFO        PostgreSQL to write schemas into (CONNSTATE_DB)\n"
                 "  --plugin-dir DIR     plugins (CONNSTATE_PLUGIN_DIR, the bundled ones)\n"
                 "  --name NAME          name shown in the supervisor's logs (host:pid)\n"
                 "  --capacity N         updates run at once (CONNSTATE_CAPACITY, 1)\n"
                 "  --log-level LEVEL    error|warn|info|debug (CONNSTATE_LOG_LEVEL, info)\n"
                 "  --help               show this help and exit\n"
                 "  --version            show the version and exit\n");
}

int main(int argc, char **argv)
{
    static const struct option options[] = {{"connect", required_argument, NULL, 'c'},
                                            {"db", required_argument, NULL, 'd'},
                                            {"plugin-dir", required_argument, NULL, 'p'},
                                            {"name", required_argument, NULL, 'n'},
                                            {"capacity", required_argument, NULL, 'k'},
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
                printf("connstate-worker %s\n", CS_VERSION);
                return 0;
            case '?':
                fprintf(stderr, "connstate-worker: unknown or incomplete option '%s'\n",
                        argv[optind - 1]);
                s_usage(stderr);
                return 2;
            default:
                break;
        }
    }
    fprintf(stderr, "connstate-worker: the worker is not built yet (issue 4)\n");
    return 1;
}
