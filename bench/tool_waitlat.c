/* Benchmark tool: the delay from the commit that makes the last wanted connection ready to
 * connstate_wait returning. A second session LISTENs too; after the wait returns, the commit
 * times (pg_xact_commit_timestamp of each batch's xid) say when the row became ready.
 *   tool_waitlat CONNINFO NAME TIMEOUT_SEC      prints: delay_ms */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connstate.h"

static double s_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    PGconn *conn = PQconnectdb(argv[1]), *watch = PQconnectdb(argv[1]);
    if (PQstatus(conn) != CONNECTION_OK || PQstatus(watch) != CONNECTION_OK)
        return 2;
    PQclear(PQexec(watch, "LISTEN connstate_state"));
    const char *names[] = {argv[2]};
    connstate_wait_result_t result;
    int rc = connstate_wait(conn, names, 1, atof(argv[3]), NULL, NULL, &result);
    double returned = s_wall();
    connstate_wait_result_free(&result);
    if (rc != CONNSTATE_WAIT_READY) {
        fprintf(stderr, "tool_waitlat: wait returned %d\n", rc);
        return 1;
    }
    /* The commit that made it ready: the latest batch committed before the return. */
    PQconsumeInput(watch);
    double best = 0;
    PGnotify *note;
    while ((note = PQnotifies(watch)) != NULL) {
        unsigned long long seq, rows, xid;
        if (sscanf(note->extra, "{\"seq\":%llu,\"rows\":%llu,\"xid\":%llu}", &seq, &rows, &xid) ==
            3) {
            char sql[128];
            snprintf(sql, sizeof sql,
                     "SELECT extract(epoch FROM pg_xact_commit_timestamp('%llu'::xid))", xid);
            PGresult *res = PQexec(watch, sql);
            if (PQresultStatus(res) == PGRES_TUPLES_OK && !PQgetisnull(res, 0, 0)) {
                double committed = atof(PQgetvalue(res, 0, 0));
                if (committed <= returned && committed > best)
                    best = committed;
            }
            PQclear(res);
        }
        PQfreemem(note);
    }
    if (best == 0) {
        fprintf(stderr, "tool_waitlat: no batch committed while waiting\n");
        return 1;
    }
    printf("%.3f\n", (returned - best) * 1e3);
    PQfinish(conn);
    PQfinish(watch);
    return 0;
}
