/* cs_log: the one logging module of every connstate process.
 * Lines go to stderr with a role[pid] prefix and timestamps (unless journald adds its own);
 * repeated messages are rate-limited. Nothing here blocks longer than a write(2) to stderr. */
#ifndef CS_LOG_H
#define CS_LOG_H

#include <stdarg.h>
#include <stdint.h>

typedef enum {
    CS_LOG_ERROR = 0,
    CS_LOG_WARN = 1,
    CS_LOG_INFO = 2,
    CS_LOG_DEBUG = 3
} cs_log_level_t;

/* The current level; messages above it are not formatted. */
extern cs_log_level_t cs_log_level;

/* Sets the role printed before every line ("sup", "wrk-2", "connstate"); the string is
 * copied (at most 31 bytes). Reads CONNSTATE_LOG_LEVEL (error|warn|info|debug) when set,
 * and CONNSTATE_LOG_TIME: 1 starts every line with the UTC time (2026-11-26T17:03:08.123Z),
 * 0 never; unset, lines have it unless stderr is the journal's stream (JOURNAL_STREAM
 * names its device and inode), which timestamps lines itself. */
void cs_log_init(const char *role);

/* Sets the level from its name (error|warn|info|debug). Returns 0, or -1 when the name is
 * unknown (the level is then unchanged). */
int cs_log_set_level(const char *name) __attribute__((warn_unused_result));

/* Writes "[time ]role[pid] level: [conn] message" to stderr in one write(2), the same prefix
 * before every line of a multi-line message; at most 4096 bytes. conn may be NULL. Above
 * debug level, each call site (fmt) and conn prints at most 20 messages per 10 s window;
 * the rest are counted, and one line says how many were suppressed when the window is
 * over (at its next message, or at cs_log_flush). Use the macros below, which check the
 * level before any formatting happens. */
void cs_log_write(cs_log_level_t level, const char *conn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prints the summaries of the rate-limited call sites whose window is over, and frees their
 * slots. Event loops call it on every tick (it only scans a small fixed table). */
void cs_log_flush(void);

/* Sets the rate limit (burst messages per window_ms per call site and connection; burst 0:
 * no limit) and the clock it uses (NULL: the monotonic clock, in ms); forgets every count.
 * For tests. */
void cs_log_set_rate_limit(unsigned burst, int window_ms, int64_t (*now_ms)(void));

#define CS_LOG_AT(lvl, conn, ...)                                                                  \
    do {                                                                                           \
        if ((lvl) <= cs_log_level)                                                                 \
            cs_log_write((lvl), (conn), __VA_ARGS__);                                              \
    } while (0)

#define cs_log_error(...) CS_LOG_AT(CS_LOG_ERROR, NULL, __VA_ARGS__)
#define cs_log_warn(...)  CS_LOG_AT(CS_LOG_WARN, NULL, __VA_ARGS__)
#define cs_log_info(...)  CS_LOG_AT(CS_LOG_INFO, NULL, __VA_ARGS__)
#define cs_log_debug(...) CS_LOG_AT(CS_LOG_DEBUG, NULL, __VA_ARGS__)

/* The same, about one connection: its name is printed in brackets after the level. */
#define cs_log_conn_error(conn, ...) CS_LOG_AT(CS_LOG_ERROR, (conn), __VA_ARGS__)
#define cs_log_conn_warn(conn, ...)  CS_LOG_AT(CS_LOG_WARN, (conn), __VA_ARGS__)
#define cs_log_conn_info(conn, ...)  CS_LOG_AT(CS_LOG_INFO, (conn), __VA_ARGS__)
#define cs_log_conn_debug(conn, ...) CS_LOG_AT(CS_LOG_DEBUG, (conn), __VA_ARGS__)

#endif
