/* Test driver: connstate_wait must not lose a notification that arrives between its LISTEN
 * and its first read. The progress callback, called after the first read, commits the change
 * (status ready + pg_notify) from another session before the wait starts waiting. A wait
 * that listened after reading would miss it and time out.
 *   wait_check CONNINFO NAME      exit 0 (ready, in time), 1 (anything else) */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "connstate.h"

typedef struct {
    PGconn *other;
    const char *name;
    int calls;
} s_ctx_t;

static void s_progress(size_t settled, size_t total, void *arg)
{
    s_ctx_t *ctx = arg;
    if (ctx->calls++ > 0)
        return;
    printf("first read: %zu of %zu settled\n", settled, total);
    const char *params[] = {ctx->name};
    PGresult *res = PQexecParams(ctx->other,
                                 "WITH u AS (UPDATE connstate_internal.connection_state"
                                 " SET status = 'ready' WHERE connection_name = $1 RETURNING 1)"
                                 " SELECT pg_notify('connstate_state', 'test') FROM u",
                                 1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
        fprintf(stderr, "wait_check: the update failed: %s", PQerrorMessage(ctx->other));
    PQclear(res);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    PGconn *conn = PQconnectdb(argv[1]), *other = PQconnectdb(argv[1]);
    if (PQstatus(conn) != CONNECTION_OK || PQstatus(other) != CONNECTION_OK)
        return 2;
    s_ctx_t ctx = {other, argv[2], 0};
    const char *names[] = {argv[2]};
    connstate_wait_result_t result;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = connstate_wait(conn, names, 1, 10, s_progress, &ctx, &result);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("wait returned %d after %.3f s and %d reads: %s\n", rc, seconds, ctx.calls,
           result.count ? result.outcomes[0].status : "?");
    int ok = rc == CONNSTATE_WAIT_READY && ctx.calls == 2 && seconds < 5;
    connstate_wait_result_free(&result);
    PQfinish(conn);
    PQfinish(other);
    return ok ? 0 : 1;
}
