/* PostgreSQL helpers: connecting and running statements, with each error logged once. */
#include "common.h"

#include "cs_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* NOTICEs ("drop cascades to ...") are not errors: logged at debug level only. */
static void s_notice(void *arg, const char *message)
{
    (void)arg;
    cs_log_debug("database notice: %.*s", (int)strcspn(message, "\n"), message);
}

static const char *const s_connect_keys[] = {"dbname", "application_name", "connect_timeout", NULL};

/* The session's last error, without its trailing newline (libpq's may have several lines:
 * one per host tried, a hint). */
static void s_error_line(const PGconn *conn, char *err, size_t err_size)
{
    snprintf(err, err_size, "%s", conn ? PQerrorMessage(conn) : "out of memory");
    size_t len = strlen(err);
    while (len && (err[len - 1] == '\n' || err[len - 1] == ' '))
        err[--len] = '\0';
}

PGconn *cs_pg_connect(const char *conninfo, const char *application, char *err, size_t err_size)
{
    const char *values[] = {conninfo, application, "10", NULL};
    /* expand_dbname: conninfo may be a keyword=value string or a URI */
    PGconn *conn = PQconnectdbParams(s_connect_keys, values, 1);
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        s_error_line(conn, err, err_size);
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, s_notice, NULL);
    return conn;
}

PGconn *cs_pg_connect_start(const char *conninfo, const char *application, char *err,
                            size_t err_size)
{
    const char *values[] = {conninfo, application, "10", NULL};
    PGconn *conn = PQconnectStartParams(s_connect_keys, values, 1);
    if (!conn || PQstatus(conn) == CONNECTION_BAD) {
        s_error_line(conn, err, err_size);
        PQfinish(conn);
        return NULL;
    }
    return conn;
}

int cs_pg_connect_poll(PGconn *conn, char *err, size_t err_size)
{
    switch (PQconnectPoll(conn)) {
        case PGRES_POLLING_OK:
            PQsetNoticeProcessor(conn, s_notice, NULL);
            return 0;
        case PGRES_POLLING_READING:
            return 1;
        case PGRES_POLLING_WRITING:
            return 2;
        default:
            s_error_line(conn, err, err_size);
            return -1;
    }
}

/* The first line of a PostgreSQL error message. */
static const char *s_first_line(const char *message, char *buf, size_t size)
{
    snprintf(buf, size, "%s", message);
    char *nl = strchr(buf, '\n');
    if (nl)
        *nl = '\0';
    return buf;
}

int cs_pg_exec(PGconn *conn, const char *what, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        char line[512];
        cs_log_error("%s: %s", what, s_first_line(PQerrorMessage(conn), line, sizeof line));
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

PGresult *cs_pg_query(PGconn *conn, const char *what, const char *sql, int nparams,
                      const char *const *params)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        char line[512];
        cs_log_error("%s: %s", what, s_first_line(PQerrorMessage(conn), line, sizeof line));
        PQclear(res);
        return NULL;
    }
    return res;
}

void cs_pg_error_text(const PGresult *res, char *buf, size_t size)
{
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
    if (!primary) {
        const char *message = res ? PQresultErrorMessage(res) : "";
        snprintf(buf, size, "%s", *message ? message : "unknown error");
    } else {
        int n = snprintf(buf, size, "%s", primary);
        if (detail && n >= 0 && (size_t)n < size)
            n += snprintf(buf + n, size - (size_t)n, " (DETAIL: %s)", detail);
        if (hint && n >= 0 && (size_t)n < size)
            snprintf(buf + n, size - (size_t)n, " (HINT: %s)", hint);
    }
    for (char *p = buf; *p; p++) /* one line */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    size_t len = strlen(buf);
    while (len && buf[len - 1] == ' ')
        buf[--len] = '\0';
}
