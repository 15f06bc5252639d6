/* Logging for every connstate process: one line per event on stderr, prefixed role[pid]. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

cs_log_level_t cs_log_level = CS_LOG_INFO;
static char s_role[32] = "connstate";
static bool s_time = false; /* CONNSTATE_LOG_TIME=1: prefix UTC time with milliseconds */

static const char *const s_level_names[] = {"error", "warn", "info", "debug"};

void cs_log_init(const char *role)
{
    snprintf(s_role, sizeof s_role, "%s", role ? role : "connstate");
    const char *time_env = getenv("CONNSTATE_LOG_TIME");
    s_time = time_env && strcmp(time_env, "1") == 0;
    const char *env = getenv("CONNSTATE_LOG_LEVEL");
    if (env && *env && cs_log_set_level(env) != 0)
        cs_log_warn("CONNSTATE_LOG_LEVEL=%s is not one of error|warn|info|debug; using info", env);
}

int cs_log_set_level(const char *name)
{
    for (size_t i = 0; i < sizeof s_level_names / sizeof *s_level_names; i++) {
        if (strcmp(name, s_level_names[i]) == 0) {
            cs_log_level = (cs_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

void cs_log_write(cs_log_level_t level, const char *conn, const char *fmt, ...)
{
    /* One buffer and one write(2), so that lines from many processes never interleave. */
    char line[4096];
    int used = 0;
    if (s_time) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        used = (int)strftime(line, sizeof line, "%H:%M:%S", &tm);
        used += snprintf(line + used, sizeof line - (size_t)used, ".%03ld ", ts.tv_nsec / 1000000);
    }
    used += snprintf(line + used, sizeof line - (size_t)used, "%s[%ld] %s: ", s_role,
                     (long)getpid(), s_level_names[level]);
    if (conn && used >= 0 && (size_t)used < sizeof line)
        used += snprintf(line + used, sizeof line - (size_t)used, "[%s] ", conn);
    if (used >= 0 && (size_t)used < sizeof line) {
        va_list args;
        va_start(args, fmt);
        used += vsnprintf(line + used, sizeof line - (size_t)used, fmt, args);
        va_end(args);
    }
    size_t len = (used < 0) ? 0 : (size_t)used;
    if (len > sizeof line - 2)
        len = sizeof line - 2; /* truncated: keep the newline */
    line[len++] = '\n';
    ssize_t rc = write(STDERR_FILENO, line, len);
    (void)rc; /* nowhere left to report a failed log write */
}
