/* Benchmark tool: waits until a condition on the database holds, re-checking on every
 * connstate_state notification (LISTEN before the first check, no polling), and prints the
 * wall-clock time (seconds since the epoch) when it first held.
 *   tool_until CONNINFO "SQL RETURNING ONE BOOLEAN" [TIMEOUT_SEC [READY_FILE]]
 * READY_FILE is created once it is listening, before the first check. */
#include <poll.h>
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
    PGconn *conn = PQconnectdb(argv[1]);
    if (PQstatus(conn) != CONNECTION_OK)
        return 2;
    PQclear(PQexec(conn, "LISTEN connstate_state"));
    if (argc > 4) {
        FILE *ready = fopen(argv[4], "w");
        if (ready)
            fclose(ready);
    }
    while (s_wall() < deadline) {
        if (s_holds(conn, argv[2])) {
            printf("%.6f\n", s_wall());
            return 0;
        }
        struct pollfd pfd = {PQsocket(conn), POLLIN, 0};
        poll(&pfd, 1, 100); /* the table may not exist yet: look again every 100 ms too */
        PQconsumeInput(conn);
        PGnotify *n;
        while ((n = PQnotifies(conn)) != NULL)
            PQfreemem(n);
    }
    fprintf(stderr, "tool_until: condition not met within %.0f s\n", timeout);
    return 1;
}
