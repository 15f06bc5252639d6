/* Helpers shared by the connstate commands: usage errors and default paths. */
#include "cli.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cs_cli_bad_option(const char *command, const char *arg, void (*usage)(FILE *out))
{
    fprintf(stderr, "connstate %s: unknown or incomplete option or argument '%s'\n", command,
            arg ? arg : "");
    usage(stderr);
    return 2;
}

char *cs_cli_default_path(const char *env, const char *leaf)
{
    const char *value = getenv(env);
    if (value && *value)
        return strdup(value);
    const char *home = getenv("HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (!home)
        return NULL;
    size_t len = strlen(home) + strlen(leaf) + 16;
    char *path = malloc(len);
    if (path)
        snprintf(path, len, "%s/.connstate/%s", home, leaf);
    return path;
}
