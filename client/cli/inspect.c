/* connstate inspect: connections, their tables and columns, with descriptions. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static const cs_cli_command_t s_command = {
    .name = "inspect",
    .usage = "Usage: connstate inspect [NAME[.TABLE]] [--db CONNINFO] [--data-dir DIR]\n"
             "                         [--format table|json]\n"
             "Without a name: every connection with its status and table count. With a\n"
             "connection: its tables and their descriptions. With a table: its columns,\n"
             "types and descriptions. A connection that is not ready says so.\n",
    .options = CS_CLI_DB | CS_CLI_DATA_DIR | CS_CLI_FORMAT,
    .formats = {"table", "json"},
    .max_args = 1,
};

/* Prints a result as aligned columns (table) or as a JSON array of objects. */
static void s_print(PGresult *res, bool json, const char *const *headers)
{
    int rows = PQntuples(res), cols = PQnfields(res);
    cs_buf_t out = {0};
    if (json) {
        cs_buf_putc(&out, '[');
        for (int r = 0; r < rows; r++) {
            cs_buf_puts(&out, r ? ",\n {" : "\n {");
            for (int c = 0; c < cols; c++) {
                cs_buf_printf(&out, "%s\"%s\":", c ? "," : "", PQfname(res, c));
                const char *v = PQgetvalue(res, r, c);
                if (PQgetisnull(res, r, c))
                    cs_buf_puts(&out, "null");
                else if (PQftype(res, c) == 20 || PQftype(res, c) == 23)
                    cs_buf_puts(&out, v);
                else
                    cs_buf_json_string(&out, v, strlen(v));
            }
            cs_buf_putc(&out, '}');
        }
        cs_buf_puts(&out, rows ? "\n]\n" : "]\n");
    } else {
        int width[8] = {0};
        for (int c = 0; c < cols && c < 8; c++) {
            width[c] = (int)strlen(headers[c]);
            for (int r = 0; r < rows; r++)
                if (PQgetlength(res, r, c) > width[c])
                    width[c] = PQgetlength(res, r, c);
        }
        for (int r = -1; r < rows; r++) {
            for (int c = 0; c < cols && c < 8; c++) {
                const char *v = r < 0 ? headers[c] : PQgetvalue(res, r, c);
                if (c == cols - 1)
                    cs_buf_printf(&out, "%s", v); /* the last column is not padded */
                else
                    cs_buf_printf(&out, "%-*s  ", width[c], v);
            }
            cs_buf_putc(&out, '\n');
        }
    }
    fputs(cs_buf_str(&out), stdout);
    cs_buf_free(&out);
}

/* What inspect shows: a query (its parameters: the connection, then the table) and the
 * table headers of its columns. */
typedef struct {
    const char *sql;
    int params;
    const char *headers[5];
} s_view_t;

static const s_view_t s_connections = {
    "SELECT s.connection_name AS connection, s.status,"
    " (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    "  WHERE n.nspname = s.connection_name AND c.relkind IN ('f', 'r', 'v'))::int"
    " AS tables, s.plugin, s.error"
    " FROM connstate_internal.connection_state s ORDER BY 1",
    0,
    {"CONNECTION", "STATUS", "TABLES", "PLUGIN", "ERROR"}};

static const s_view_t s_tables = {"SELECT c.relname AS \"table\","
                                  " (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid"
                                  "  AND a.attnum > 0 AND NOT a.attisdropped)::int AS columns,"
                                  " obj_description(c.oid, 'pg_class') AS description"
                                  " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                                  " WHERE n.nspname = $1 AND c.relkind IN ('f', 'r', 'v')"
                                  " ORDER BY 1",
                                  1,
                                  {"TABLE", "COLUMNS", "DESCRIPTION"}};

static const s_view_t s_columns = {"SELECT a.attname AS \"column\","
                                   " format_type(a.atttypid, a.atttypmod) AS type,"
                                   " col_description(c.oid, a.attnum) AS description"
                                   " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                                   " JOIN pg_attribute a ON a.attrelid = c.oid"
                                   " WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0"
                                   " AND NOT a.attisdropped ORDER BY a.attnum",
                                   2,
                                   {"COLUMN", "TYPE", "DESCRIPTION"}};

/* Runs a view and prints it; returns the exit status (1 when it failed or, for a table's
 * columns, found no such table). */
static int s_show(PGconn *conn, const s_view_t *view, const char *const *params, bool json)
{
    PGresult *res = PQexecParams(conn, view->sql, view->params, NULL, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        cs_cli_db_error("inspect", conn);
        rc = 1;
    } else if (view == &s_columns && PQntuples(res) == 0) {
        fprintf(stderr, "connstate inspect: connection \"%s\" has no table \"%s\"\n", params[0],
                params[1]);
        rc = 1;
    } else {
        s_print(res, json, view->headers);
    }
    PQclear(res);
    return rc;
}

/* Whether the connection is there to be inspected; returns 0, or 1 after saying why not
 * (no such connection, or not ready: rather than show an empty list). */
static int s_ready(PGconn *conn, const char *name)
{
    const char *params[] = {name};
    PGresult *res = PQexecParams(conn,
                                 "SELECT status, error FROM connstate_internal.connection_state"
                                 " WHERE connection_name = $1",
                                 1, NULL, params, NULL, NULL, 0);
    int rc = 1;
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        cs_cli_db_error("inspect", conn);
    else if (PQntuples(res) == 0)
        fprintf(stderr, "connstate inspect: no connection \"%s\"\n", name);
    else if (strcmp(PQgetvalue(res, 0, 0), "ready") != 0)
        fprintf(stderr, "connstate inspect: connection \"%s\" is %s%s%s\n", name,
                PQgetvalue(res, 0, 0), PQgetisnull(res, 0, 1) ? "" : ": ", PQgetvalue(res, 0, 1));
    else
        rc = 0;
    PQclear(res);
    return rc;
}

int cs_cli_inspect(int argc, char **argv)
{
    cs_cli_args_t args;
    int rc = cs_cli_parse(&s_command, argc, argv, &args);
    if (rc != CS_CLI_RUN)
        return rc;
    char name[128] = "", table[128] = "";
    if (args.argc == 1) {
        const char *arg = args.argv[0], *dot = strchr(arg, '.');
        snprintf(name, sizeof name, "%.*s", dot ? (int)(dot - arg) : (int)strlen(arg), arg);
        if (dot)
            snprintf(table, sizeof table, "%s", dot + 1);
    }
    PGconn *conn = cs_cli_connect(&args);
    if (!conn)
        return 1;
    const char *params[] = {name, table};
    if (!*name)
        rc = s_show(conn, &s_connections, params, args.json);
    else if ((rc = s_ready(conn, name)) == 0)
        rc = s_show(conn, *table ? &s_columns : &s_tables, params, args.json);
    PQfinish(conn);
    return rc;
}
