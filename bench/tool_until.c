/* Benchmark tool: waits until a condition on the database holds, re-checking on every
 * connstate_state notification (LISTEN before the first check, no polling), and prints the
 * wall-clock time (seconds since the epoch) when it first held.
 *   tool_until CONNINFO "SQL RETURNING ONE BOOLEAN" [TIMEOUT_SEC [READY_FILE [MIN_ROWS]]]
 * READY_FILE ("" for none) is created once it is listening, before the first check. With
 * MIN_ROWS the condition is checked only once the notifications received have carried at
 * least MIN_ROWS row changes in all (their payload's "rows"), and from then on after every
 * one, and once a second: a condition that holds before (all rows ready before a restart
 * sets them pending) is not taken for the one awaited, and a condition that counts 100,000 rows is
 * then not read on every one of the hundreds of batches before it can hold (each such read would
 * cost the database what is being measured). */
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

static double s_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int s_holds(PGconn *conn, const char *sql)
{
    PGresult *res = PQexec(conn, sql);
    int holds = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
                strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    return holds;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    double timeout = argc > 3 ? atof(argv[3]) : 600, deadline = s_wall() + timeout;
    unsigned long long min_rows = argc > 5 ? strtoull(argv[5], NULL, 10) : 0, rows = 0;
    double last_check = 0;
    unsigned checks = 0;
    PGconn *conn = PQconnectdb(argv[1]);
    if (PQstatus(conn) != CONNECTION_OK)
        return 2;
    PQclear(PQexec(conn, "LISTEN connstate_state"));
    if (argc > 4 && *argv[4]) {
        FILE *ready = fopen(argv[4], "w");
        if (ready)
            fclose(ready);
    }
    bool notified = true;
    while (s_wall() < deadline) {
        double now = s_wall();
        if (min_rows == 0 || (rows >= min_rows && (notified || now - last_check >= 1.0))) {
            last_check = now;
            checks++;
            if (s_holds(conn, argv[2])) {
                printf("%.6f\n", s_wall());
                if (getenv("TOOL_UNTIL_CHECKS"))
                    fprintf(stderr, "tool_until: %u checks\n", checks);
                return 0;
            }
        }
        notified = false;
        struct pollfd pfd = {PQsocket(conn), POLLIN, 0};
        poll(&pfd, 1, 100); /* the table may not exist yet: look again every 100 ms too */
        PQconsumeInput(conn);
        PGnotify *n;
        while ((n = PQnotifies(conn)) != NULL) {
            unsigned long long seq, batch, xid;
            if (sscanf(n->extra, "{\"seq\":%llu,\"rows\":%llu,\"xid\":%llu}", &seq, &batch, &xid) ==
                3)
                rows += batch;
            notified = true;
            PQfreemem(n);
        }
    }
    fprintf(stderr, "tool_until: condition not met within %.0f s\n", timeout);
    return 1;
}
