/* Benchmark baseline: replays the DDL connstate issued (captured with CONNSTATE_DDL_CAPTURE,
 * one transaction per connection) through W parallel libpq sessions, one transaction per
 * connection, with nothing else around it, and prints the wall time in seconds and the number
 * of transactions; with --cpu also the CPU-seconds (user + system) of its sessions' processes
 * (not of the loading of the files before them, nor the database's: the caller reads those
 * from /proc).
 *   tool_replay [--cpu] CONNINFO W FILE...   (not run by bench/run.sh directly as a row) */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "cs_buf.h"

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void s_quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Splits the captured files into transactions (blocks ending with "-- end"). */
static char **s_load(int files, char **paths, size_t *count)
{
    size_t n = 0, cap = 1024;
    char **blocks = malloc(cap * sizeof *blocks);
    for (int f = 0; f < files; f++) {
        FILE *in = fopen(paths[f], "r");
        if (!in) {
            perror(paths[f]);
            exit(2);
        }
        cs_buf_t block = {0};
        char line[1 << 16];
        while (fgets(line, sizeof line, in)) {
            if (strcmp(line, "-- end\n") == 0) {
                if (n == cap)
                    blocks = realloc(blocks, (cap *= 2) * sizeof *blocks);
                blocks[n++] = cs_buf_take(&block);
                continue;
            }
            cs_buf_puts(&block, line);
        }
        cs_buf_free(&block);
        fclose(in);
    }
    *count = n;
    return blocks;
}

static double s_cpu(int who)
{
    struct rusage ru;
    if (getrusage(who, &ru) != 0)
        return 0;
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    bool cpu = argc > 1 && strcmp(argv[1], "--cpu") == 0;
    if (cpu) {
        argc--;
        argv++;
    }
    if (argc < 4) {
        fprintf(stderr, "usage: tool_replay [--cpu] CONNINFO W FILE...\n");
        return 2;
    }
    const char *conninfo = argv[1];
    int workers = atoi(argv[2]);
    size_t count;
    char **blocks = s_load(argc - 3, argv + 3, &count);
    /* Every session connects before the clock starts, like connstate's workers. */
    int go[2], ready[2];
    if (pipe(go) || pipe(ready))
        return 2;
    for (int w = 0; w < workers; w++) {
        if (fork() == 0) {
            PGconn *conn = PQconnectdb(conninfo);
            if (PQstatus(conn) != CONNECTION_OK)
                _exit(3);
            PQsetNoticeProcessor(conn, s_quiet, NULL); /* "drop cascades to ..." */
            char byte = 1;
            if (write(ready[1], &byte, 1) != 1 || read(go[0], &byte, 1) != 1)
                _exit(3);
            for (size_t i = (size_t)w; i < count; i += (size_t)workers) {
                cs_buf_t sql = {0};
                cs_buf_puts(&sql, "BEGIN;\n");
                cs_buf_puts(&sql, blocks[i]); /* the captured block ends with COMMIT */
                PGresult *res = PQexec(conn, cs_buf_str(&sql));
                if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                    fprintf(stderr, "tool_replay: %s", PQerrorMessage(conn));
                    _exit(4);
                }
                PQclear(res);
                cs_buf_free(&sql);
            }
            PQfinish(conn);
            _exit(0);
        }
    }
    char byte;
    for (int w = 0; w < workers; w++)
        if (read(ready[0], &byte, 1) != 1)
            return 3;
    double start = s_now();
    for (int w = 0; w < workers; w++)
        if (write(go[1], &byte, 1) != 1)
            return 3;
    int status, failed = 0;
    while (wait(&status) > 0)
        failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    double elapsed = s_now() - start;
    if (failed)
        return 1;
    if (cpu)
        printf("%.3f %zu %.3f\n", elapsed, count, s_cpu(RUSAGE_CHILDREN));
    else
        printf("%.3f %zu\n", elapsed, count);
    return 0;
}
