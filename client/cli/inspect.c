/* connstate inspect: connections, their tables and columns, with descriptions. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void s_usage(FILE *out)
{
    fprintf(out, "Usage: connstate inspect [NAME[.TABLE]] [--db CONNINFO] [--data-dir DIR]\n"
                 "                         [--format table|json]\n"
                 "Without a name: every connection with its status and table count. With a\n"
                 "connection: its tables and their descriptions. With a table: its columns,\n"
                 "types and descriptions. A connection that is not ready says so.\n");
}

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

int cs_cli_inspect(int argc, char **argv)
{
    static const struct option options[] = {{"db", required_argument, NULL, 'd'},
                                            {"data-dir", required_argument, NULL, 'D'},
                                            {"format", required_argument, NULL, 'f'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *db = NULL, *data_dir = NULL, *format = "table";
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
            case 'd':
                db = optarg;
                break;
            case 'D':
                data_dir = optarg;
                break;
            case 'f':
                format = optarg;
                break;
            case 'h':
                s_usage(stdout);
                return 0;
            default:
                return cs_cli_bad_option("inspect", argv[optind - 1], s_usage);
        }
    }
    if (argc - optind > 1)
        return cs_cli_bad_option("inspect", argv[optind + 1], s_usage);
    bool json = strcmp(format, "json") == 0;
    if (!json && strcmp(format, "table") != 0) {
        fprintf(stderr, "connstate inspect: --format must be table or json\n");
        return 2;
    }
    char name[128] = "", table[128] = "";
    if (optind < argc) {
        const char *arg = argv[optind], *dot = strchr(arg, '.');
        snprintf(name, sizeof name, "%.*s", dot ? (int)(dot - arg) : (int)strlen(arg), arg);
        if (dot)
            snprintf(table, sizeof table, "%s", dot + 1);
    }
    PGconn *conn = cs_cli_connect("inspect", db, data_dir);
    if (!conn)
        return 1;
    int rc = 0;
    PGresult *res = NULL;
    if (!*name) {
        static const char *const headers[] = {"CONNECTION", "STATUS", "TABLES", "PLUGIN", "ERROR"};
        res = PQexec(
            conn, "SELECT s.connection_name AS connection, s.status,"
                  " (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                  "  WHERE n.nspname = s.connection_name AND c.relkind IN ('f', 'r', 'v'))::int"
                  " AS tables, s.plugin, s.error"
                  " FROM connstate_internal.connection_state s ORDER BY 1");
        if (PQresultStatus(res) == PGRES_TUPLES_OK)
            s_print(res, json, headers);
        else
            rc = 1;
    } else {
        const char *params[] = {name, table};
        res = PQexecParams(conn,
                           "SELECT status, error FROM connstate_internal.connection_state"
                           " WHERE connection_name = $1",
                           1, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = 1;
        } else if (PQntuples(res) == 0) {
            fprintf(stderr, "connstate inspect: no connection \"%s\"\n", name);
            rc = 1;
        } else if (strcmp(PQgetvalue(res, 0, 0), "ready") != 0) {
            /* not usable: say why rather than show an empty list */
            fprintf(stderr, "connstate inspect: connection \"%s\" is %s%s%s\n", name,
                    PQgetvalue(res, 0, 0), PQgetisnull(res, 0, 1) ? "" : ": ",
                    PQgetvalue(res, 0, 1));
            rc = 1;
        } else if (!*table) {
            static const char *const headers[] = {"TABLE", "COLUMNS", "DESCRIPTION"};
            PQclear(res);
            res = PQexecParams(conn,
                               "SELECT c.relname AS \"table\","
                               " (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid"
                               "  AND a.attnum > 0 AND NOT a.attisdropped)::int AS columns,"
                               " obj_description(c.oid, 'pg_class') AS description"
                               " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                               " WHERE n.nspname = $1 AND c.relkind IN ('f', 'r', 'v')"
                               " ORDER BY 1",
                               1, NULL, params, NULL, NULL, 0);
            if (PQresultStatus(res) == PGRES_TUPLES_OK)
                s_print(res, json, headers);
            else
                rc = 1;
        } else {
            static const char *const headers[] = {"COLUMN", "TYPE", "DESCRIPTION"};
            PQclear(res);
            res = PQexecParams(conn,
                               "SELECT a.attname AS \"column\","
                               " format_type(a.atttypid, a.atttypmod) AS type,"
                               " col_description(c.oid, a.attnum) AS description"
                               " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                               " JOIN pg_attribute a ON a.attrelid = c.oid"
                               " WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0"
                               " AND NOT a.attisdropped ORDER BY a.attnum",
                               2, NULL, params, NULL, NULL, 0);
            if (PQresultStatus(res) != PGRES_TUPLES_OK) {
                rc = 1;
            } else if (PQntuples(res) == 0) {
                fprintf(stderr, "connstate inspect: connection \"%s\" has no table \"%s\"\n", name,
                        table);
                rc = 1;
            } else {
                s_print(res, json, headers);
            }
        }
    }
    if (rc && PQresultStatus(res) != PGRES_TUPLES_OK)
        fprintf(stderr, "connstate inspect: %s", PQerrorMessage(conn));
    PQclear(res);
    PQfinish(conn);
    return rc;
}
