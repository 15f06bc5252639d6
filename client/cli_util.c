/* Helpers shared by the connstate commands. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

int cs_cli_bad_option(const char *command, const char *arg, void (*usage)(FILE *out))
{
    fprintf(stderr, "connstate %s: unknown or incomplete option or argument '%s'\n", command,
            arg ? arg : "");
    usage(stderr);
    return 2;
}
