/* connstate wait and connstate query: wait for connections (the interactive-query rule),
 * then, for query, run the SQL and print its result. */
#include "cli.h"

#include "connstate.h"
#include "cs_clock.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cs_cli_command_t s_wait_command = {
    .name = "wait",
    .usage = "Usage: connstate wait [NAME...] [--timeout SEC] [--db CONNINFO] [--data-dir DIR]\n"
             "Waits until the named connections (all when none is named) are no longer\n"
             "pending or updating; a lost database session is reconnected within the\n"
             "timeout. Exit status: 0 all ready, 1 any in error (each error printed),\n"
             "3 timeout (also while the database is unavailable), 2 usage error.\n",
    .options = CS_CLI_DB | CS_CLI_DATA_DIR | CS_CLI_TIMEOUT,
    .max_args = -1,
};

static const cs_cli_command_t s_query_command = {
    .name = "query",
    .usage = "Usage: connstate query [--db CONNINFO] [--data-dir DIR] [--timeout SEC]\n"
             "                       [--format table|csv|json] SQL\n"
             "Waits for the connections the query names (all pending or updating ones when\n"
             "it names none), then runs it and prints the result. A connection in error is\n"
             "reported with its error; a session lost while waiting is reconnected within\n"
             "the timeout. Exit status: 0 success, 1 error, 3 timeout, 2 usage.\n",
    .options = CS_CLI_DB | CS_CLI_DATA_DIR | CS_CLI_TIMEOUT | CS_CLI_FORMAT,
    .formats = {"table", "csv", "json"},
    .max_args = 1,
    .min_args = 1,
    .args = "exactly one SQL argument",
};

typedef struct {
    bool tty;
    const char *command;
    connstate_wait_result_t *result; /* as the last read left it */
    char said[512];                  /* the last detail printed */
    int64_t lost_at_us;              /* wall clock: when the session was lost; 0: it is up */
    int64_t lost_mono_us;
    char lost_why[512];
} s_progress_t;

/* What the server said before it closed the session ("terminating connection due to
 * administrator command"): libpq hands it to the notice processor, not to the error. */
static char s_fatal[512];

static void s_on_notice(void *arg, const char *message)
{
    (void)arg;
    if (strncmp(message, "FATAL:", 6) == 0) {
        snprintf(s_fatal, sizeof s_fatal, "%s", message + 6 + strspn(message + 6, " "));
        s_fatal[strcspn(s_fatal, "\n")] = '\0';
    }
    cs_log_debug("database notice: %.*s", (int)strcspn(message, "\n"), message);
}

/* After each read: the count on a terminal, and what the connections wait for when that is
 * not an update in progress (e.g. no worker), once each time it changes. */
static void s_progress(size_t settled, size_t total, void *arg)
{
    s_progress_t *p = arg;
    for (size_t i = 0; i < p->result->count; i++) {
        const connstate_outcome_t *o = &p->result->outcomes[i];
        if (!o->detail || strcmp(o->detail, p->said) == 0)
            continue;
        snprintf(p->said, sizeof p->said, "%s", o->detail);
        fprintf(stderr, "%sconnstate %s: %s: %s %s\n", p->tty ? "\r" : "", p->command,
                o->connection, o->status, o->detail);
        break;
    }
    if (p->tty) {
        fprintf(stderr, "\rLoaded %zu of %zu connections", settled, total);
        fflush(stderr);
    }
}

/* The session went away or came back: one line each time. */
static void s_session(connstate_session_event_t event, const char *message, void *arg)
{
    s_progress_t *p = arg;
    if (event == CONNSTATE_SESSION_LOST) {
        p->lost_at_us = cs_clock_wall_us();
        p->lost_mono_us = cs_clock_mono_us();
        snprintf(p->lost_why, sizeof p->lost_why, "%s", s_fatal[0] ? s_fatal : message);
        fprintf(stderr, "%sconnstate %s: the database went away (%s); reconnecting\n",
                p->tty ? "\r" : "", p->command, p->lost_why);
    } else {
        fprintf(stderr, "%sconnstate %s: reconnected to the database after %.1f s\n",
                p->tty ? "\r" : "", p->command, (cs_clock_mono_us() - p->lost_mono_us) / 1e6);
        p->lost_at_us = 0;
    }
    s_fatal[0] = '\0';
}

/* Waits and reports; returns the exit status (0, 1, 3) or -1 when the session failed.
 * quiet_errors: errors are not reported (a query that names no connection only waits for
 * the loading ones to settle; unrelated errors are none of its business). */
static int s_wait(PGconn *conn, const char *const *names, size_t count, double timeout,
                  const char *command, bool quiet_errors)
{
    connstate_wait_result_t result;
    s_progress_t progress = {.tty = isatty(STDERR_FILENO), .command = command, .result = &result};
    PQsetNoticeProcessor(conn, s_on_notice, NULL);
    int rc = connstate_wait_events(conn, names, count, timeout, s_progress, s_session, &progress,
                                   &result);
    if (progress.tty)
        fprintf(stderr, "\n");
    if (rc == CONNSTATE_WAIT_FAILED) {
        cs_cli_db_error(command, conn);
        connstate_wait_result_free(&result);
        return -1;
    }
    for (size_t i = 0; i < result.count; i++) {
        const connstate_outcome_t *o = &result.outcomes[i];
        if (o->error && !quiet_errors)
            fprintf(stderr, "connstate %s: %s: %s: %s\n", command, o->connection, o->status,
                    o->error);
        else if (rc == CONNSTATE_WAIT_TIMEOUT && strcmp(o->status, "ready") != 0)
            fprintf(stderr, "connstate %s: %s: still %s%s%s%s\n", command, o->connection, o->status,
                    o->detail ? " (" : "", o->detail ? o->detail : "", o->detail ? ")" : "");
    }
    if (rc == CONNSTATE_WAIT_TIMEOUT && progress.lost_at_us) {
        cs_buf_t since = {0};
        cs_buf_time(&since, progress.lost_at_us);
        fprintf(stderr,
                "connstate %s: timed out after %g s: the database has been unavailable since "
                "%.8s UTC (%s); %zu of %zu connections were still loading when it went away\n",
                command, timeout, cs_buf_str(&since) + 11, progress.lost_why, result.waiting,
                result.count);
        cs_buf_free(&since);
    } else if (rc == CONNSTATE_WAIT_TIMEOUT) {
        fprintf(stderr,
                "connstate %s: timed out after %g s with %zu of %zu connections "
                "still loading\n",
                command, timeout, result.waiting, result.count);
    }
    connstate_wait_result_free(&result);
    return quiet_errors && rc == CONNSTATE_WAIT_ERROR ? CONNSTATE_WAIT_READY : rc;
}

int cs_cli_wait(int argc, char **argv)
{
    cs_cli_args_t args;
    int rc = cs_cli_parse(&s_wait_command, argc, argv, &args);
    if (rc != CS_CLI_RUN)
        return rc;
    for (int i = 0; i < args.argc; i++) {
        const char *problem = cs_config_name_problem(args.argv[i]);
        if (problem) {
            fprintf(stderr, "connstate wait: '%s' is not a connection name: %s\n", args.argv[i],
                    problem);
            return 2;
        }
    }
    PGconn *conn = cs_cli_connect(&args);
    if (!conn)
        return 1;
    rc = s_wait(conn, (const char *const *)args.argv, (size_t)args.argc, args.timeout, "wait",
                false);
    PQfinish(conn);
    return rc < 0 ? 1 : rc;
}

/* ---- query --------------------------------------------------------------------------------- */

/* The connections a query names: identifiers followed by '.' that are connection names.
 * Strings, quoted identifiers, comments and dollar quotes are read as SQL reads them. */
static size_t s_named(const char *sql, PGresult *known, const char ***names_p)
{
    size_t count = 0, cap = 0;
    const char **names = NULL;
    const char *p = sql;
    while (*p) {
        char ident[64];
        size_t len = 0;
        bool have = false;
        if (*p == '\'') { /* string: '' is a quote */
            for (p++; *p && !(*p == '\'' && p[1] != '\''); p++)
                if (*p == '\'')
                    p++;
            if (*p)
                p++;
            continue;
        } else if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
            continue;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            p = end ? end + 2 : p + strlen(p);
            continue;
        } else if (*p == '$' && (p[1] == '$' || isalpha((unsigned char)p[1]) || p[1] == '_')) {
            const char *tag_end = strchr(p + 1, '$');
            if (tag_end) {
                size_t tag_len = (size_t)(tag_end - p) + 1;
                char tag[64];
                if (tag_len < sizeof tag) {
                    memcpy(tag, p, tag_len);
                    tag[tag_len] = '\0';
                    const char *close = strstr(tag_end + 1, tag);
                    p = close ? close + tag_len : p + strlen(p);
                    continue;
                }
            }
            p++;
            continue;
        } else if (*p == '"') {
            for (p++; *p && !(*p == '"' && p[1] != '"'); p++) {
                if (*p == '"')
                    p++;
                if (len < sizeof ident - 1)
                    ident[len++] = *p;
            }
            if (*p)
                p++;
            have = true;
        } else if (isalpha((unsigned char)*p) || *p == '_') {
            while (isalnum((unsigned char)*p) || *p == '_' || *p == '$') {
                if (len < sizeof ident - 1)
                    ident[len++] = (char)tolower((unsigned char)*p);
                p++;
            }
            have = true;
        } else {
            p++;
            continue;
        }
        ident[len] = '\0';
        const char *after = p;
        while (isspace((unsigned char)*after))
            after++;
        if (!have || *after != '.')
            continue;
        for (int i = 0; i < PQntuples(known); i++) {
            if (strcmp(PQgetvalue(known, i, 0), ident) != 0)
                continue;
            bool seen = false;
            for (size_t j = 0; j < count; j++)
                seen = seen || strcmp(names[j], ident) == 0;
            if (!seen && count == cap) {
                cap = cap ? cap * 2 : 8;
                const char **grown = realloc(names, cap * sizeof *names);
                if (!grown)
                    break;
                names = grown;
            }
            if (!seen && count < cap)
                names[count++] = PQgetvalue(known, i, 0);
        }
    }
    *names_p = names;
    return count;
}

static bool s_is_number(Oid type)
{
    return type == 20 || type == 21 || type == 23 || type == 700 || type == 701 || type == 1700 ||
           type == 26;
}

static void s_print_result(PGresult *res, const char *format)
{
    int rows = PQntuples(res), cols = PQnfields(res);
    cs_buf_t out = {0};
    if (strcmp(format, "json") == 0) {
        cs_buf_putc(&out, '[');
        for (int r = 0; r < rows; r++) {
            cs_buf_puts(&out, r ? ",\n {" : "\n {");
            for (int c = 0; c < cols; c++) {
                if (c)
                    cs_buf_putc(&out, ',');
                cs_buf_json_string(&out, PQfname(res, c), strlen(PQfname(res, c)));
                cs_buf_putc(&out, ':');
                const char *v = PQgetvalue(res, r, c);
                Oid type = PQftype(res, c);
                if (PQgetisnull(res, r, c))
                    cs_buf_puts(&out, "null");
                else if (type == 16)
                    cs_buf_puts(&out, strcmp(v, "t") == 0 ? "true" : "false");
                else if (s_is_number(type) && strspn(v, "0123456789+-.eE") == strlen(v))
                    cs_buf_puts(&out, v);
                else if (type == 114 || type == 3802)
                    cs_buf_puts(&out, v);
                else
                    cs_buf_json_string(&out, v, strlen(v));
            }
            cs_buf_putc(&out, '}');
        }
        cs_buf_puts(&out, rows ? "\n]\n" : "]\n");
    } else if (strcmp(format, "csv") == 0) {
        for (int r = -1; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                const char *v = r < 0 ? PQfname(res, c) : PQgetvalue(res, r, c);
                bool null = r >= 0 && PQgetisnull(res, r, c);
                if (c)
                    cs_buf_putc(&out, ',');
                if (!null && (strpbrk(v, ",\"\r\n") || !*v)) {
                    cs_buf_putc(&out, '"');
                    for (const char *q = v; *q; q++) {
                        if (*q == '"')
                            cs_buf_putc(&out, '"');
                        cs_buf_putc(&out, *q);
                    }
                    cs_buf_putc(&out, '"');
                } else if (!null) {
                    cs_buf_puts(&out, v);
                }
            }
            cs_buf_putc(&out, '\n');
        }
    } else {
        int *width = calloc((size_t)(cols ? cols : 1), sizeof *width);
        for (int c = 0; c < cols && width; c++) {
            width[c] = (int)strlen(PQfname(res, c));
            for (int r = 0; r < rows; r++)
                if (PQgetlength(res, r, c) > width[c])
                    width[c] = PQgetlength(res, r, c);
        }
        for (int r = -2; r < rows && width; r++) {
            for (int c = 0; c < cols; c++) {
                if (c)
                    cs_buf_puts(&out, r == -1 ? "-+-" : " | ");
                if (r == -1) {
                    for (int i = 0; i < width[c]; i++)
                        cs_buf_putc(&out, '-');
                    continue;
                }
                const char *v = r < 0 ? PQfname(res, c) : PQgetvalue(res, r, c);
                bool right = r >= 0 && s_is_number(PQftype(res, c));
                cs_buf_printf(&out, right ? "%*s" : "%-*s", width[c], v);
            }
            cs_buf_putc(&out, '\n');
        }
        cs_buf_printf(&out, "(%d row%s)\n", rows, rows == 1 ? "" : "s");
        free(width);
    }
    fputs(cs_buf_str(&out), stdout);
    cs_buf_free(&out);
}

int cs_cli_query(int argc, char **argv)
{
    cs_cli_args_t args;
    int rc = cs_cli_parse(&s_query_command, argc, argv, &args);
    if (rc != CS_CLI_RUN)
        return rc;
    const char *sql = args.argv[0];
    PGconn *conn = cs_cli_connect(&args);
    if (!conn)
        return 1;
    PGresult *known =
        PQexec(conn, "SELECT connection_name FROM connstate_internal.connection_state");
    if (PQresultStatus(known) != PGRES_TUPLES_OK) {
        cs_cli_db_error("query", conn);
        PQclear(known);
        PQfinish(conn);
        return 1;
    }
    const char **names = NULL;
    size_t count = s_named(sql, known, &names);
    rc = s_wait(conn, names, count, args.timeout, "query", count == 0);
    free(names);
    PQclear(known);
    if (rc != 0) {
        PQfinish(conn);
        return rc < 0 ? 1 : rc;
    }
    PGresult *res = PQexec(conn, sql);
    ExecStatusType status = PQresultStatus(res);
    if (status == PGRES_TUPLES_OK) {
        s_print_result(res, args.format);
    } else if (status == PGRES_COMMAND_OK) {
        printf("%s\n", PQcmdStatus(res));
    } else {
        fprintf(stderr, "connstate query: %s", PQerrorMessage(conn));
        rc = 1;
    }
    PQclear(res);
    PQfinish(conn);
    return rc;
}
