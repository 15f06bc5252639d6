/* connstate status: every connection's row of the state table, then counts by status. */
#include "cli.h"

#include "cs_pg.h"

#include <stdlib.h>
#include <string.h>

static const cs_cli_command_t s_command = {
    .name = "status",
    .usage = "Usage: connstate status [--db CONNINFO] [--data-dir DIR] [--format table|json]\n"
             "Prints every connection with its status, error, comments_set, time changed and\n"
             "plugin, then a line of counts by status.\n",
    .options = CS_CLI_DB | CS_CLI_DATA_DIR | CS_CLI_FORMAT,
    .formats = {"table", "json"},
    .max_args = 0,
};

static const char *const s_query =
    "SELECT connection_name, status, coalesce(error, ''), comments_set,"
    " to_char(time_changed AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
    " coalesce(plugin, ''), error IS NULL"
    " FROM connstate_internal.connection_state ORDER BY connection_name";

int cs_cli_status(int argc, char **argv)
{
    cs_cli_args_t args;
    int rc = cs_cli_parse(&s_command, argc, argv, &args);
    if (rc != CS_CLI_RUN)
        return rc;
    PGconn *conn = cs_cli_connect(&args);
    if (!conn)
        return 1;
    PGresult *res = PQexec(conn, s_query);
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
