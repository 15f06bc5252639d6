/* Logging for every connstate process: one write(2) per message on stderr.
 * Each line is prefixed with the time (unless journald records it), role[pid] and level;
 * repeated messages are rate-limited per call site and connection. */
#include "common.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_LINE_MAX    4096 /* bytes written per message, prefixes included */
#define S_LIMIT_SLOTS 64   /* call sites (and connections) tracked at once */

cs_log_level_t cs_log_level = CS_LOG_INFO;
static char s_role[32] = "connstate";
static int s_time = -1; /* timestamps: 1 on, 0 off, -1 not decided yet */

static const char *const s_level_names[] = {"error", "warn", "info", "debug"};

/* One rate-limited call site: its format string (the pointer identifies the call site) and
 * connection, and what it printed and suppressed in the current window. */
typedef struct {
    const char *fmt; /* NULL: a free slot */
    char conn[CS_CONFIG_MAX_NAME + 1];
    cs_log_level_t level;
    int64_t window_start;
    int64_t last_used;
    unsigned printed;
    unsigned long suppressed;
} s_limit_t;

static s_limit_t s_limits[S_LIMIT_SLOTS];
static size_t s_limits_used;
static unsigned s_burst = 20;
static int64_t s_window_ms = 10000;
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER; /* libconnstate may be threaded */

static int64_t (*s_clock)(void) = cs_clock_mono_ms;

/* True when stderr is the stream systemd connected to the journal (JOURNAL_STREAM holds its
 * device and inode), which timestamps every line itself. */
static bool s_stderr_is_journal(void)
{
    const char *stream = getenv("JOURNAL_STREAM");
    uintmax_t dev, ino;
    struct stat st;
    if (!stream || sscanf(stream, "%ju:%ju", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0)
        return false;
    return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

static void s_decide_time(void)
{
    const char *env = getenv("CONNSTATE_LOG_TIME");
    if (env && strcmp(env, "1") == 0)
        s_time = 1;
    else if (env && strcmp(env, "0") == 0)
        s_time = 0;
    else
        s_time = !s_stderr_is_journal();
}

void cs_log_init(const char *role)
{
    snprintf(s_role, sizeof s_role, "%s", role ? role : "connstate");
    s_decide_time();
    const char *time_env = getenv("CONNSTATE_LOG_TIME");
    if (time_env && *time_env && strcmp(time_env, "0") != 0 && strcmp(time_env, "1") != 0)
        cs_log_warn("CONNSTATE_LOG_TIME=%s is not 0 or 1; timestamps are %s", time_env,
                    s_time ? "on (stderr is not the journal)" : "off (stderr is the journal)");
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

void cs_log_set_rate_limit(unsigned burst, int window_ms, int64_t (*now_ms)(void))
{
    pthread_mutex_lock(&s_lock);
    s_burst = burst;
    s_window_ms = window_ms > 0 ? window_ms : 1;
    s_clock = now_ms ? now_ms : cs_clock_mono_ms;
    memset(s_limits, 0, sizeof s_limits);
    s_limits_used = 0;
    pthread_mutex_unlock(&s_lock);
}

/* The prefix of every line of a message: [time ]role[pid] level: [[conn] ] */
static size_t s_prefix(char *out, size_t size, cs_log_level_t level, const char *conn)
{
    int used = 0;
    if (s_time) {
        int64_t now_us = cs_clock_wall_us();
        time_t seconds = (time_t)(now_us / 1000000);
        struct tm tm;
        gmtime_r(&seconds, &tm);
        used = (int)strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
        used +=
            snprintf(out + used, size - (size_t)used, ".%03dZ ", (int)(now_us % 1000000 / 1000));
    }
    used += snprintf(out + used, size - (size_t)used, "%s[%ld] %s: ", s_role, (long)getpid(),
                     s_level_names[level]);
    if (conn && (size_t)used < size)
        used += snprintf(out + used, size - (size_t)used, "[%s] ", conn);
    return (size_t)used < size ? (size_t)used : size - 1;
}

/* Writes message with the prefix before each of its lines, in one write(2), so that lines
 * from many processes never interleave; cut (keeping the last newline) past S_LINE_MAX. */
static void s_emit(cs_log_level_t level, const char *conn, const char *message)
{
    if (s_time < 0)
        s_decide_time(); /* a program that never called cs_log_init */
    char prefix[256];
    size_t prefix_len = s_prefix(prefix, sizeof prefix, level, conn);
    char out[S_LINE_MAX];
    size_t len = 0, size = sizeof out - 1; /* room for the final newline */
    size_t end = strlen(message);
    while (end && (message[end - 1] == '\n' || message[end - 1] == '\r'))
        end--;
    const char *line = message, *stop = message + end;
    do {
        const char *nl = memchr(line, '\n', (size_t)(stop - line));
        size_t line_len = nl ? (size_t)(nl - line) : (size_t)(stop - line);
        size_t n = prefix_len < size - len ? prefix_len : size - len;
        memcpy(out + len, prefix, n);
        len += n;
        n = line_len < size - len ? line_len : size - len;
        memcpy(out + len, line, n);
        len += n;
        if (nl && len < size)
            out[len++] = '\n';
        line = nl ? nl + 1 : stop;
    } while (line < stop && len < size);
    out[len++] = '\n';
    ssize_t rc = write(STDERR_FILENO, out, len);
    (void)rc; /* nowhere left to report a failed log write */
}

/* Prints how many messages of a slot were suppressed, and starts its count again. Called
 * with s_lock held. */
static void s_summary(s_limit_t *slot)
{
    if (!slot->suppressed)
        return;
    char message[512];
    snprintf(message, sizeof message, "suppressed %lu more messages like \"%.300s\" in %lld s",
             slot->suppressed, slot->fmt, (long long)((s_window_ms + 999) / 1000));
    slot->suppressed = 0;
    s_emit(slot->level, *slot->conn ? slot->conn : NULL, message);
}

/* The slot of a call site and connection: found, free, or taken over from the one used
 * least recently (its summary printed first). Called with s_lock held. */
static s_limit_t *s_slot(const char *fmt, const char *conn, cs_log_level_t level, int64_t now)
{
    s_limit_t *free_slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < S_LIMIT_SLOTS; i++) {
        s_limit_t *slot = &s_limits[i];
        if (!slot->fmt) {
            free_slot = free_slot ? free_slot : slot;
            continue;
        }
        if (slot->fmt == fmt && strcmp(slot->conn, conn ? conn : "") == 0)
            return slot;
        if (!oldest || slot->last_used < oldest->last_used)
            oldest = slot;
    }
    s_limit_t *slot = free_slot;
    if (!slot) {
        slot = oldest;
        s_summary(slot);
        s_limits_used--;
    }
    *slot = (s_limit_t){.fmt = fmt, .level = level, .window_start = now};
    snprintf(slot->conn, sizeof slot->conn, "%s", conn ? conn : "");
    s_limits_used++;
    return slot;
}

/* Counts one message of a call site; returns false when it is to be suppressed. Only
 * warnings and errors are limited: what a hostile or broken peer can make us say again and
 * again; progress lines (info) are the operator's record of each refresh and stay whole. */
static bool s_allowed(cs_log_level_t level, const char *conn, const char *fmt)
{
    if (level > CS_LOG_WARN || s_burst == 0)
        return true;
    pthread_mutex_lock(&s_lock);
    int64_t now = s_clock();
    s_limit_t *slot = s_slot(fmt, conn, level, now);
    slot->last_used = now;
    if (now - slot->window_start >= s_window_ms) {
        s_summary(slot);
        slot->window_start = now;
        slot->printed = 0;
    }
    bool allowed = slot->printed < s_burst;
    if (allowed)
        slot->printed++;
    else
        slot->suppressed++;
    pthread_mutex_unlock(&s_lock);
    return allowed;
}

void cs_log_flush(void)
{
    pthread_mutex_lock(&s_lock);
    if (s_limits_used) {
        int64_t now = s_clock();
        for (size_t i = 0; i < S_LIMIT_SLOTS; i++) {
            s_limit_t *slot = &s_limits[i];
            if (!slot->fmt || now - slot->window_start < s_window_ms)
                continue;
            s_summary(slot);
            slot->fmt = NULL; /* its window is over: the slot is free again */
            s_limits_used--;
        }
    }
    pthread_mutex_unlock(&s_lock);
}

void cs_log_write(cs_log_level_t level, const char *conn, const char *fmt, ...)
{
    if (!s_allowed(level, conn, fmt))
        return;
    char message[S_LINE_MAX];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    s_emit(level, conn, message);
}
