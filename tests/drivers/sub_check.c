/* Test driver: a libconnstate subscriber that must end with exactly the state table's
 * contents (name, status, error, seq), compared row by row.
 *   sub_check --publish EP --control EP --db CONNINFO [--timeout SEC]
 *             [--pause-until-ready N]  don't read the sockets until N rows are ready
 *             [--pause-after-sync]     ... and start doing so only after the first snapshot
 *             [--until-file PATH]      keep following changes until PATH exists
 *             [--min-resyncs N]        fail unless at least N resyncs happened
 * Prints "synced at seq S" when the first snapshot is in (a test waits for it before it
 * disturbs the supervisor), then "match ROWS rows, seq S, resyncs R" and exits 0, or the
 * first difference and exits 1 when the deadline passes. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "connstate.h"
#include "cs_log.h"

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct {
    PGresult *table;
    int matched;
    char first_diff[512];
} s_compare_t;

static void s_check_row(const connstate_change_t *c, void *arg)
{
    s_compare_t *cmp = arg;
    for (int i = 0; i < PQntuples(cmp->table); i++) {
        if (strcmp(PQgetvalue(cmp->table, i, 0), c->connection) != 0)
            continue;
        const char *error = PQgetisnull(cmp->table, i, 2) ? NULL : PQgetvalue(cmp->table, i, 2);
        bool same = strcmp(PQgetvalue(cmp->table, i, 1), c->status) == 0 &&
                    ((!error && !c->error) || (error && c->error && !strcmp(error, c->error))) &&
                    strtoull(PQgetvalue(cmp->table, i, 3), NULL, 10) == c->seq;
        if (same)
            cmp->matched++;
        else if (!cmp->first_diff[0])
            snprintf(cmp->first_diff, sizeof cmp->first_diff,
                     "%s: subscriber has %s seq %llu, table has %s seq %s", c->connection,
                     c->status, (unsigned long long)c->seq, PQgetvalue(cmp->table, i, 1),
                     PQgetvalue(cmp->table, i, 3));
        return;
    }
    if (!cmp->first_diff[0])
        snprintf(cmp->first_diff, sizeof cmp->first_diff, "%s: in the subscriber, not the table",
                 c->connection);
}

/* True when the subscriber holds exactly the table's rows. */
static bool s_matches(connstate_sub_t *sub, PGconn *db, char *diff, size_t size, int *rows)
{
    PGresult *table = PQexec(db, "SELECT connection_name, status, error, seq"
                                 " FROM connstate_internal.connection_state");
    if (PQresultStatus(table) != PGRES_TUPLES_OK) {
        snprintf(diff, size, "cannot read the table: %s", PQerrorMessage(db));
        PQclear(table);
        if (PQstatus(db) != CONNECTION_OK)
            PQreset(db); /* the database was restarted: read it again next time */
        return false;
    }
    s_compare_t cmp = {table, 0, ""};
    connstate_sub_foreach(sub, s_check_row, &cmp);
    *rows = PQntuples(table);
    bool same = cmp.matched == PQntuples(table) && (size_t)cmp.matched == connstate_sub_size(sub);
    if (!same)
        snprintf(diff, size, "%s (subscriber %zu rows, table %d, matching %d)",
                 cmp.first_diff[0] ? cmp.first_diff : "row counts differ", connstate_sub_size(sub),
                 PQntuples(table), cmp.matched);
    PQclear(table);
    return same;
}

/* One round of the subscriber; announces the first sync. */
static void s_run(connstate_sub_t *sub, int timeout_ms, bool *announced)
{
    connstate_sub_run(sub, timeout_ms);
    if (!*announced && connstate_sub_synced(sub)) {
        *announced = true;
        printf("synced at seq %llu\n", (unsigned long long)connstate_sub_seq(sub));
        fflush(stdout);
    }
}

static int s_ready(PGconn *db)
{
    PGresult *res = PQexec(db, "SELECT count(*) FROM connstate_internal.connection_state"
                               " WHERE status = 'ready'");
    int n = PQresultStatus(res) == PGRES_TUPLES_OK ? atoi(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    return n;
}

int main(int argc, char **argv)
{
    const char *publish = NULL, *control = NULL, *conninfo = NULL, *until_file = NULL;
    double timeout = 60;
    int pause_until_ready = -1;
    bool pause_after_sync = false;
    unsigned long min_resyncs = 0;
    static const struct option options[] = {{"publish", required_argument, NULL, 'p'},
                                            {"control", required_argument, NULL, 'c'},
                                            {"db", required_argument, NULL, 'd'},
                                            {"timeout", required_argument, NULL, 't'},
                                            {"pause-until-ready", required_argument, NULL, 'P'},
                                            {"until-file", required_argument, NULL, 'u'},
                                            {"min-resyncs", required_argument, NULL, 'r'},
                                            {"pause-after-sync", no_argument, NULL, 'A'},
                                            {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
            case 'p':
                publish = optarg;
                break;
            case 'c':
                control = optarg;
                break;
            case 'd':
                conninfo = optarg;
                break;
            case 't':
                timeout = atof(optarg);
                break;
            case 'P':
                pause_until_ready = atoi(optarg);
                break;
            case 'u':
                until_file = optarg;
                break;
            case 'r':
                min_resyncs = strtoul(optarg, NULL, 10);
                break;
            case 'A':
                pause_after_sync = true;
                break;
            default:
                return 2;
        }
    }
    if (!publish || !control || !conninfo)
        return 2;
    cs_log_init("sub_check"); /* CONNSTATE_LOG_LEVEL=debug shows every resync and why */
    PGconn *db = PQconnectdb(conninfo);
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "sub_check: %s", PQerrorMessage(db));
        return 2;
    }
    connstate_sub_t *sub = connstate_sub_new(publish, control, NULL, NULL, NULL);
    if (!sub)
        return 2;
    double deadline = s_now() + timeout;
    bool announced = false;
    while (pause_after_sync && !connstate_sub_synced(sub) && s_now() < deadline)
        s_run(sub, 50, &announced);
    if (pause_after_sync)
        printf("not reading until %d rows are ready\n", pause_until_ready);
    fflush(stdout);
    /* Fall behind on purpose: the publisher drops what does not fit our queue. */
    while (pause_until_ready >= 0 && s_ready(db) < pause_until_ready && s_now() < deadline)
        usleep(20000);
    while (until_file && access(until_file, F_OK) != 0 && s_now() < deadline)
        s_run(sub, 100, &announced);
    char diff[1024] = "never synced";
    int rows = 0;
    double next_compare = 0;
    while (s_now() < deadline) {
        s_run(sub, 50, &announced);
        if (!connstate_sub_synced(sub) || s_now() < next_compare)
            continue;
        next_compare = s_now() + 0.2;
        if (!s_matches(sub, db, diff, sizeof diff, &rows))
            continue;
        if (connstate_sub_resyncs(sub) < min_resyncs) {
            snprintf(diff, sizeof diff, "matches the table, but after %llu resyncs (wanted %lu)",
                     (unsigned long long)connstate_sub_resyncs(sub), min_resyncs);
            continue;
        }
        printf("match %d rows, seq %llu, resyncs %llu\n", rows,
               (unsigned long long)connstate_sub_seq(sub),
               (unsigned long long)connstate_sub_resyncs(sub));
        connstate_sub_destroy(&sub);
        PQfinish(db);
        return 0;
    }
    printf("no match after %.0f s: %s; resyncs %llu\n", timeout, diff,
           (unsigned long long)connstate_sub_resyncs(sub));
    connstate_sub_destroy(&sub);
    PQfinish(db);
    return 1;
}
