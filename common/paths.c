/* Paths connstate derives (home, executable directory, config directory) and option fallbacks. */
#include "common.h"

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *cs_home_path(const char *env, const char *leaf)
{
    const char *value = env ? getenv(env) : NULL;
    if (value && *value)
        return strdup(value);
    const char *home = getenv("HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : NULL;
    }
    if (!home)
        return NULL;
    cs_buf_t path = {0};
    cs_buf_printf(&path, "%s/.connstate/%s", home, leaf);
    return cs_buf_take(&path);
}

const char *cs_opt(const char *flag, const char *env, const char *fallback)
{
    if (flag)
        return flag;
    const char *value = getenv(env);
    return value && *value ? value : fallback;
}

char *cs_exe_path(const char *relative)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    cs_buf_t path = {0};
    cs_buf_printf(&path, "%s/%s", exe, relative);
    return cs_buf_take(&path);
}

char *cs_config_default_dir(void)
{
    return cs_home_path("CONNSTATE_CONFIG_DIR", "config");
}
