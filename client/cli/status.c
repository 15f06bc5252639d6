/* connstate status: every connection's row of the state table, then counts by status; or,
 * with --workers, the supervisor's workers as its STATUS reply lists them. */
#include "cli.h"

#include "cs_pg.h"
#include "cs_wire.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_ANSWER_MS 5000 /* how long the supervisor has to answer --workers */

static const cs_cli_command_t s_command = {
    .name = "status",
    .usage = "Usage: connstate status [--db CONNINFO] [--data-dir DIR] [--format table|json]\n"
             "                        [--stuck[=SEC]] [NAME...]\n"
             "       connstate status --workers [--control EP] [--format table|json]\n"
             "                        [--curve-cert FILE --curve-server FILE]\n"
             "Prints every connection with its status, error, comments_set, time changed and\n"
             "plugin, then a line of counts by status. With NAMEs, each of those connections\n"
             "in full: every column of its row (exit 1 when one is not in the table). With\n"
             "--stuck, only the connections updating for longer than SEC seconds, then a line\n"
             "saying how many. With --workers, asks the running\n"
             "supervisor instead and prints each connected worker: name, pid, capacity, tasks\n"
             "it holds (in flight, expired leases included), expired leases, worker-side\n"
             "failures in a row, quarantined until (UTC), and its last worker-side failure.\n"
             "Exit status: 0, 1 when the database or the supervisor cannot be read, 2 on a\n"
             "usage error.\n",
    .options = CS_CLI_DB | CS_CLI_DATA_DIR | CS_CLI_FORMAT | CS_CLI_CONTROL | CS_CLI_WORKERS |
               CS_CLI_CURVE | CS_CLI_STUCK,
    .formats = {"table", "json"},
    .max_args = -1,
};

#define S_LEASE_DEFAULT_S 300 /* the supervisor's default --task-timeout */

/* Asks the supervisor at control for its STATUS with the workers listed. Returns the reply
 * (the caller destroys it), or NULL after printing why. Blocks up to S_ANSWER_MS. */
static cs_msg_t *s_ask_workers(const cs_cli_args_t *args, const cs_curve_client_t *curve)
{
    const char *control = args->control;
    zsock_t *sock = cs_cli_control_connect(args, curve);
    if (!sock)
        return NULL;
    uint64_t request_id = (uint64_t)zclock_time() ^ (uint64_t)getpid();
    cs_msg_t *req = cs_msg_new(CS_MSG_STATUS_REQ), *rep = NULL;
    if (req) {
        req->request_id = request_id;
        req->with_workers = true;
    }
    if (!req || cs_wire_send(sock, NULL, NULL, req) != 0) {
        fprintf(stderr, "connstate status: cannot ask %s\n", control);
        cs_msg_destroy(&req);
        zsock_destroy(&sock);
        return NULL;
    }
    cs_msg_destroy(&req);
    int64_t deadline = zclock_mono() + S_ANSWER_MS;
    while (!rep && zclock_mono() < deadline) {
        cs_msg_t *msg;
        int got = cs_cli_control_recv(args, sock, 100, &msg);
        if (got < 0)
            break;
        if (got == 0)
            continue;
        if (msg->type == CS_MSG_STATUS_REP && msg->request_id == request_id) {
            rep = msg;
            continue;
        }
        if (msg->type == CS_MSG_ERROR && msg->request_id == request_id) {
            fprintf(stderr, "connstate status: the supervisor says: %s\n", msg->reason);
            cs_msg_destroy(&msg);
            break;
        }
        cs_msg_destroy(&msg);
    }
    if (!rep && zclock_mono() >= deadline)
        fprintf(stderr, "connstate status: no supervisor answers at %s\n", control);
    zsock_destroy(&sock);
    return rep;
}

/* A time (microseconds since the epoch) as 2026-01-02T03:04:05Z. */
static void s_utc(int64_t us, char *text, size_t size)
{
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(text, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* connstate status --workers. */
static int s_workers(const cs_cli_args_t *args)
{
    cs_curve_client_t curve;
    if (cs_cli_curve(args, &curve) != 0)
        return 2;
    cs_msg_t *rep = s_ask_workers(args, &curve);
    if (!rep)
        return 1;
    cs_buf_t out = {0};
    int wn = 4;
    for (uint32_t i = 0; i < rep->worker_row_count; i++)
        if ((int)strlen(rep->worker_rows[i].name) > wn)
            wn = (int)strlen(rep->worker_rows[i].name);
    if (args->json)
        cs_buf_putc(&out, '[');
    else if (rep->worker_row_count)
        cs_buf_printf(&out, "%-*s  %7s  %8s  %9s  %7s  %8s  %-20s  %s\n", wn, "NAME", "PID",
                      "CAPACITY", "IN_FLIGHT", "EXPIRED", "FAILURES", "QUARANTINED_UNTIL",
                      "LAST_FAILURE");
    uint32_t quarantined = 0;
    for (uint32_t i = 0; i < rep->worker_row_count; i++) {
        const cs_worker_row_t *w = &rep->worker_rows[i];
        char until[32] = "-";
        if (w->quarantined_until) {
            s_utc(w->quarantined_until, until, sizeof until);
            quarantined++;
        }
        if (args->json) {
            cs_buf_puts(&out, i ? ",\n {\"name\":" : "\n {\"name\":");
            cs_buf_json_string(&out, w->name, strlen(w->name));
            cs_buf_printf(&out,
                          ",\"pid\":%u,\"capacity\":%u,\"in_flight\":%u,\"expired\":%u,"
                          "\"failures\":%u,\"quarantined_until\":",
                          w->pid, w->capacity, w->in_flight, w->expired, w->failures);
            if (w->quarantined_until)
                cs_buf_printf(&out, "\"%s\"", until);
            else
                cs_buf_puts(&out, "null");
            cs_buf_puts(&out, ",\"last_failure\":");
            cs_buf_json_text(&out, w->last_failure);
            cs_buf_putc(&out, '}');
        } else {
            cs_buf_printf(&out, "%-*s  %7u  %8u  %9u  %7u  %8u  ", wn, w->name, w->pid, w->capacity,
                          w->in_flight, w->expired, w->failures);
            if (w->last_failure)
                cs_buf_printf(&out, "%-20s  %s\n", until, w->last_failure);
            else
                cs_buf_printf(&out, "%s\n", until);
        }
    }
    if (args->json) {
        cs_buf_puts(&out, rep->worker_row_count ? "\n]\n" : "]\n");
    } else {
        cs_buf_printf(&out, "%s%u worker%s connected", rep->worker_row_count ? "\n" : "",
                      rep->workers, rep->workers == 1 ? "" : "s");
        if (quarantined)
            cs_buf_printf(&out, ": %u quarantined", quarantined);
        if (rep->workers > rep->worker_row_count)
            cs_buf_printf(&out, " (%u listed)", rep->worker_row_count);
        cs_buf_putc(&out, '\n');
    }
    fputs(cs_buf_str(&out), stdout);
    cs_buf_free(&out);
    cs_msg_destroy(&rep);
    return 0;
}

/* $1: only the rows updating since more than that many seconds (NULL: every row). */
static const char *const s_query =
    "SELECT connection_name, status, coalesce(error, ''), comments_set,"
    " to_char(time_changed AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " coalesce(plugin, ''), error IS NULL"
    " FROM connstate_internal.connection_state"
    " WHERE $1::float8 IS NULL OR (status = 'updating'"
    "     AND time_changed < now() - $1::float8 * interval '1 second')"
    " ORDER BY connection_name";

/* One connection's row, every column as text (NULL as NULL), by name ($1). */
static const char *const s_row_query =
    "SELECT connection_name, status, error, detail, comments_set::text,"
    " to_char(time_changed AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " plugin, plugin_version, type, file_name, start_line::text, end_line::text, worker,"
    " attempts::text, reason, build_ms::text,"
    " to_char(last_attempt_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " to_char(last_ready_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " to_char(last_error_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " last_error, config_hash, schema_hash, seq::text"
    " FROM connstate_internal.connection_state WHERE connection_name = $1";

/* The columns of s_row_query, as status NAME shows them; literal ones are JSON numbers or
 * booleans. */
static const struct {
    const char *label;
    bool literal;
} s_row_fields[] = {
    {"connection_name", false},
    {"status", false},
    {"error", false},
    {"detail", false},
    {"comments_set", true},
    {"time_changed", false},
    {"plugin", false},
    {"plugin_version", false},
    {"type", false},
    {"file_name", false},
    {"start_line", true},
    {"end_line", true},
    {"worker", false},
    {"attempts", true},
    {"reason", false},
    {"build_ms", true},
    {"last_attempt_at", false},
    {"last_ready_at", false},
    {"last_error_at", false},
    {"last_error", false},
    {"config_hash", false},
    {"schema_hash", false},
    {"seq", true},
};
#define S_ROW_FIELDS (sizeof s_row_fields / sizeof *s_row_fields)

/* connstate status NAME...: each row in full. Returns 0, or 1 when one is not in the table or
 * the table cannot be read. */
static int s_rows(const cs_cli_args_t *args, PGconn *conn)
{
    cs_buf_t out = {0};
    int rc = 0;
    if (args->json)
        cs_buf_putc(&out, '[');
    int shown = 0;
    for (int i = 0; i < args->argc; i++) {
        const char *params[] = {args->argv[i]};
        PGresult *res = PQexecParams(conn, s_row_query, 1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            cs_cli_db_error("status", conn);
            PQclear(res);
            cs_buf_free(&out);
            return 1;
        }
        if (PQntuples(res) == 0) {
            fprintf(stderr, "connstate status: no connection named \"%s\" in the state table\n",
                    args->argv[i]);
            rc = 1;
            PQclear(res);
            continue;
        }
        if (args->json)
            cs_buf_puts(&out, shown ? ",\n {" : "\n {");
        else if (shown)
            cs_buf_putc(&out, '\n');
        for (size_t f = 0; f < S_ROW_FIELDS && (int)f < PQnfields(res); f++) {
            bool null = PQgetisnull(res, 0, (int)f);
            const char *value = PQgetvalue(res, 0, (int)f);
            if (args->json) {
                cs_buf_printf(&out, "%s\"%s\":", f ? "," : "", s_row_fields[f].label);
                if (null)
                    cs_buf_puts(&out, "null");
                else if (s_row_fields[f].literal)
                    cs_buf_puts(&out, strcmp(value, "true") == 0 || strcmp(value, "false") == 0 ||
                                              strspn(value, "-0123456789") == strlen(value)
                                          ? value
                                          : "null");
                else
                    cs_buf_json_string(&out, value, strlen(value));
            } else {
                cs_buf_printf(&out, "%-16s %s\n", s_row_fields[f].label, null ? "-" : value);
            }
        }
        if (args->json)
            cs_buf_putc(&out, '}');
        shown++;
        PQclear(res);
    }
    if (args->json)
        cs_buf_puts(&out, shown ? "\n]\n" : "]\n");
    fputs(cs_buf_str(&out), stdout);
    cs_buf_free(&out);
    return rc;
}

/* --stuck's seconds: as given, else the lease the supervisor wrote, else its default. */
static double s_stuck_after(const cs_cli_args_t *args, PGconn *conn)
{
    if (args->stuck_s > 0)
        return args->stuck_s;
    PGresult *res = PQexec(conn, "SELECT value FROM connstate_internal.meta "
                                 "WHERE key = 'task_timeout_s'");
    double seconds = S_LEASE_DEFAULT_S;
    if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
        seconds = strtod(PQgetvalue(res, 0, 0), NULL);
    PQclear(res);
    return seconds > 0 ? seconds : S_LEASE_DEFAULT_S;
}

int cs_cli_status(int argc, char **argv)
{
    cs_cli_args_t args;
    int rc = cs_cli_parse(&s_command, argc, argv, &args);
    if (rc != CS_CLI_RUN)
        return rc;
    if (args.workers)
        return s_workers(&args);
    if (args.argc && args.stuck) {
        fprintf(stderr, "connstate status: --stuck lists every stuck connection: give it no "
                        "NAME\n");
        return 2;
    }
    PGconn *conn = cs_cli_connect(&args);
    if (!conn)
        return 1;
    if (args.argc) {
        rc = s_rows(&args, conn);
        PQfinish(conn);
        return rc;
    }
    char after[32];
    double stuck_s = args.stuck ? s_stuck_after(&args, conn) : 0;
    snprintf(after, sizeof after, "%g", stuck_s);
    const char *params[] = {args.stuck ? after : NULL};
    PGresult *res = PQexecParams(conn, s_query, 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        cs_cli_db_error("status", conn);
        PQclear(res);
        PQfinish(conn);
        return 1;
    }
    int rows = PQntuples(res);
    int counts[CS_STATUS_COUNT] = {0};
    cs_buf_t out = {0};
    int wn = 15, ws = 8, wp = 6;
    for (int i = 0; i < rows; i++) {
        cs_status_t status;
        const char *text = PQgetvalue(res, i, 1);
        if (cs_status_parse(text, strlen(text), &status) == 0)
            counts[status]++;
        wn = (int)strlen(PQgetvalue(res, i, 0)) > wn ? (int)strlen(PQgetvalue(res, i, 0)) : wn;
        wp = (int)strlen(PQgetvalue(res, i, 5)) > wp ? (int)strlen(PQgetvalue(res, i, 5)) : wp;
    }
    if (args.json)
        cs_buf_putc(&out, '[');
    else if (rows)
        cs_buf_printf(&out, "%-*s  %-*s  %-*s  %-8s  %-27s  %s\n", wn, "CONNECTION_NAME", ws,
                      "STATUS", wp, "PLUGIN", "COMMENTS", "TIME_CHANGED", "ERROR");
    for (int i = 0; i < rows; i++) {
        const char *name = PQgetvalue(res, i, 0), *status = PQgetvalue(res, i, 1),
                   *error = PQgetvalue(res, i, 2), *time = PQgetvalue(res, i, 4),
                   *plugin = PQgetvalue(res, i, 5);
        bool comments = strcmp(PQgetvalue(res, i, 3), "t") == 0;
        bool no_error = strcmp(PQgetvalue(res, i, 6), "t") == 0;
        if (args.json) {
            cs_buf_puts(&out, i ? ",\n {\"connection_name\":" : "\n {\"connection_name\":");
            cs_buf_json_string(&out, name, strlen(name));
            cs_buf_printf(&out, ",\"status\":\"%s\",\"error\":", status);
            if (no_error)
                cs_buf_puts(&out, "null");
            else
                cs_buf_json_string(&out, error, strlen(error));
            cs_buf_printf(&out, ",\"comments_set\":%s,\"time_changed\":\"%s\",\"plugin\":",
                          comments ? "true" : "false", time);
            if (*plugin)
                cs_buf_json_string(&out, plugin, strlen(plugin));
            else
                cs_buf_puts(&out, "null");
            cs_buf_putc(&out, '}');
        } else {
            cs_buf_printf(&out, "%-*s  %-*s  %-*s  %-8s  %-27s  %s\n", wn, name, ws, status, wp,
                          plugin, comments ? "yes" : "no", time, error);
        }
    }
    if (args.json) {
        cs_buf_puts(&out, rows ? "\n]\n" : "]\n");
    } else if (args.stuck) {
        cs_buf_printf(&out, "%s%d connection%s updating for longer than %s s\n", rows ? "\n" : "",
                      rows, rows == 1 ? "" : "s", after);
    } else {
        cs_buf_printf(&out, "%s%d connection%s", rows ? "\n" : "", rows, rows == 1 ? "" : "s");
        const char *sep = ": ";
        for (int s = 0; s < CS_STATUS_COUNT; s++) {
            if (!counts[s])
                continue;
            cs_buf_printf(&out, "%s%d %s", sep, counts[s], cs_status_name((cs_status_t)s));
            sep = ", ";
        }
        cs_buf_putc(&out, '\n');
    }
    fputs(cs_buf_str(&out), stdout);
    cs_buf_free(&out);
    PQclear(res);
    PQfinish(conn);
    return 0;
}
