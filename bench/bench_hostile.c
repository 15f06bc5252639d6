/* Benchmark: loading one 16 MiB .spc file of each hostile shape, in seconds and in peak
 * memory per byte of file, against a normal file of many connections as the baseline.
 *   bench_hostile [--quick] [--size BYTES] [--help] [SHAPE...]
 * Each load runs in a child process of its own (its peak resident set is the load's), killed
 * after S_DEADLINE seconds so that a quadratic shape reports "over" instead of hanging. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cs_config.h"

#define S_ROUNDS   3
#define S_DEADLINE 60 /* seconds one load may take */

typedef struct {
    const char *name;
    const char *what;
    size_t (*write)(FILE *file, size_t size); /* returns the connections written */
} s_shape_t;

/* Each writer fills about size bytes with one shape (all valid files) and returns how many
 * connections it wrote. */

static size_t s_write_normal(FILE *file, size_t size)
{
    long c = 0;
    for (; ftell(file) < (long)size; c++)
        fprintf(file,
                "# connection %ld\n"
                "connection \"conn_%07ld\" {\n"
                "  plugin  = \"synthetic\"\n"
                "  tables  = %ld\n"
                "  regions = [\"us-east-1\", \"eu-west-1\"]  // where\n"
                "  options \"rate\" { max_rps = %ld }\n"
                "}\n\n",
                c, c, 10 + c % 90, 5 * (c % 100));
    return (size_t)c;
}

static size_t s_write_string_list(FILE *file, size_t size)
{
    fputs("connection \"many\" {\n  plugin = \"synthetic\"\n  regions = [", file);
    for (long i = 0; ftell(file) < (long)size - 16; i++)
        fprintf(file, "%s\"a%ld\"", i ? "," : "", i);
    fputs("]\n}\n", file);
    return 1;
}

/* One block (its opening line or lines: head) of attributes a0 = 0 ... up to size. */
static void s_write_attribute_block(FILE *file, size_t size, const char *head)
{
    fputs(head, file);
    for (long i = 0; ftell(file) < (long)size - 4; i++)
        fprintf(file, "  a%ld = %ld\n", i, i % 10);
    fputs("}\n", file);
}

static size_t s_write_attributes(FILE *file, size_t size)
{
    s_write_attribute_block(file, size, "connection \"many\" {\n  plugin = \"synthetic\"\n");
    return 1;
}

static size_t s_write_block_types(FILE *file, size_t size)
{
    fputs("connection \"many\" {\n  plugin = \"synthetic\"\n", file);
    for (long i = 0; ftell(file) < (long)size - 4; i++)
        fprintf(file, "  b%ld { x = 1 }\n", i);
    fputs("}\n", file);
    return 1;
}

/* Blocks nested 29 deep in a connection, then a list in a list: 32 levels, the limit, repeated. */
static size_t s_write_deep(FILE *file, size_t size)
{
    long c = 0;
    for (; ftell(file) < (long)size; c++) {
        fprintf(file, "connection \"deep_%07ld\" {\n  plugin = \"synthetic\"\n", c);
        for (int d = 0; d < 29; d++)
            fprintf(file, "%*sn%d {\n", 2 * d + 2, "", d);
        fprintf(file, "%*sx = [[1]]\n", 60, "");
        for (int d = 28; d >= 0; d--)
            fprintf(file, "%*s}\n", 2 * d + 2, "");
        fputs("}\n", file);
    }
    return (size_t)c;
}

/* Steampipe's other blocks: plugin instances (as many as a file may hold, 10,000) and
 * connections that use them by reference, and settings connstate ignores (listed up to 100
 * a file). */
static size_t s_write_plugin_blocks(FILE *file, size_t size)
{
    for (long i = 0; i < 10000; i++)
        fprintf(file, "plugin \"p%ld\" {\n  source = \"aws\"\n}\n", i);
    long c = 0;
    for (; ftell(file) < (long)size - 64; c++)
        fprintf(file, "connection \"c%07ld\" {\n  plugin = plugin.p%ld\n}\n", c, c % 10000);
    return (size_t)c;
}

static size_t s_write_ignored(FILE *file, size_t size)
{
    s_write_attribute_block(file, size, "options \"database\" {\n");
    return 0;
}

/* The smallest connections a file can hold, as many as fit. */
static size_t s_write_tiny(FILE *file, size_t size)
{
    long c = 0;
    for (; ftell(file) < (long)size - 48; c++)
        fprintf(file, "connection \"c%07ld\" {\n  plugin = \"aws\"\n}\n", c);
    return (size_t)c;
}

static const s_shape_t s_shapes[] = {
    {"normal", "many connections (the baseline)", s_write_normal},
    {"string_list", "one line: regions = [\"a0\",\"a1\",...]", s_write_string_list},
    {"attributes", "one connection: a0 = 0 ... on lines of their own", s_write_attributes},
    {"block_types", "one connection: distinct nested blocks b0 { x = 1 } ...", s_write_block_types},
    {"deep", "connections with blocks nested to the depth limit", s_write_deep},
    {"tiny", "the smallest connections, as many as fit: connection \"c0\" { plugin = \"aws\" }",
     s_write_tiny},
    {"plugin_blocks", "10,000 plugin blocks, then connections using them: plugin = plugin.p0",
     s_write_plugin_blocks},
    {"ignored", "options \"database\" { a0 = 0 ... }: settings connstate ignores", s_write_ignored},
};
#define S_SHAPES (sizeof s_shapes / sizeof *s_shapes)

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int s_compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* CPU seconds of this process: on a shared machine, what the load itself cost. */
static double s_cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A line of /proc/self/status in KiB ("VmRSS:", "VmHWM:"), or 0. */
static double s_status_kib(const char *field)
{
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    double kib = 0;
    while (status && fgets(line, sizeof line, status))
        if (strncmp(line, field, strlen(field)) == 0)
            kib = strtod(line + strlen(field), NULL);
    if (status)
        fclose(status);
    return kib;
}

/* The peak resident set (VmHWM) starts again from the current one: the child's peak is
 * then its load's, not the parent's it was forked from. */
static void s_reset_peak(void)
{
    FILE *clear = fopen("/proc/self/clear_refs", "w");
    if (clear) {
        fputs("5", clear);
        fclose(clear);
    }
}

/* Loads dir in a child: its seconds, its peak resident growth in bytes, its CPU seconds. Returns 0,
 * or -1 when the load failed or passed the deadline (*seconds is then the deadline). */
static int s_measure(const char *dir, size_t expect, double *seconds, double *peak, double *cpu)
{
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(pipefd[0]);
        alarm(S_DEADLINE);
        s_reset_peak();
        double before = s_status_kib("VmRSS:");
        double t0 = s_now(), cpu0 = s_cpu();
        cs_config_t *cfg = cs_config_load_dir(dir);
        double result[3] = {s_now() - t0, (s_status_kib("VmHWM:") - before) * 1024.0,
                            s_cpu() - cpu0};
        if (!cfg || cfg->error_count || cfg->count != expect) {
            if (cfg && cfg->error_count)
                fprintf(stderr, "bench_hostile: %s:%d: %s\n", cfg->errors[0].file,
                        cfg->errors[0].line, cfg->errors[0].message);
            _exit(1);
        }
        if (write(pipefd[1], result, sizeof result) != sizeof result)
            _exit(1);
        _exit(0);
    }
    close(pipefd[1]);
    double result[3];
    ssize_t got = read(pipefd[0], result, sizeof result);
    close(pipefd[0]);
    int status;
    waitpid(pid, &status, 0);
    if (got != sizeof result || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        *seconds = S_DEADLINE;
        return -1;
    }
    *seconds = result[0];
    *peak = result[1];
    *cpu = result[2];
    return 0;
}

/* The flags, for --help. */
static const struct {
    const char *flag, *what;
} s_options[] = {
    {"--quick", "accepted for make bench QUICK=1 (the full run is already about a minute)"},
    {"--size BYTES", "the size of each shape's file (default: 16 MiB less 4 KiB)"},
    {"--help", "this list, and the shapes"},
};

static void s_usage(FILE *out)
{
    fprintf(out, "usage: bench_hostile [FLAG...] [SHAPE...] (the normal shape always runs)\n");
    for (size_t i = 0; i < sizeof s_options / sizeof *s_options; i++)
        fprintf(out, "  %-14s %s\n", s_options[i].flag, s_options[i].what);
    fprintf(out, "shapes:\n");
    for (size_t s = 0; s < S_SHAPES; s++)
        fprintf(out, "  %-14s %s\n", s_shapes[s].name, s_shapes[s].what);
}

int main(int argc, char **argv)
{
    size_t size = CS_CONFIG_MAX_FILE - 4096;
    const char *only[S_SHAPES];
    size_t only_count = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            s_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--quick") == 0)
            continue;
        if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
            size = strtoul(argv[++i], NULL, 10);
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "bench_hostile: unknown flag %s\n", argv[i]);
            s_usage(stderr);
            return 2;
        } else if (only_count < S_SHAPES) {
            only[only_count++] = argv[i];
        }
    }
    char dir[] = "/tmp/connstate-bench-hostile.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    int status = 0;
    double normal_seconds = 0, normal_ratio = 0;
    for (size_t s = 0; s < S_SHAPES; s++) {
        const s_shape_t *shape = &s_shapes[s];
        bool wanted = only_count == 0 || s == 0;
        for (size_t i = 0; i < only_count; i++)
            wanted |= strcmp(only[i], shape->name) == 0;
        if (!wanted)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s.spc", dir, shape->name);
        FILE *file = fopen(path, "w");
        if (!file)
            return 1;
        size_t expect = shape->write(file, size);
        long bytes = ftell(file);
        fclose(file);
        double seconds[S_ROUNDS], cpu[S_ROUNDS], peak = 0;
        bool over = false;
        for (int r = 0; r < S_ROUNDS && !over; r++) {
            double one_peak = 0;
            over = s_measure(dir, expect, &seconds[r], &one_peak, &cpu[r]) != 0;
            if (one_peak > peak)
                peak = one_peak;
        }
        unlink(path);
        double median = seconds[0];
        if (!over) {
            qsort(seconds, S_ROUNDS, sizeof *seconds, s_compare_doubles);
            median = seconds[S_ROUNDS / 2];
            qsort(cpu, S_ROUNDS, sizeof *cpu, s_compare_doubles);
        }
        double ratio = peak / (double)bytes;
        if (s == 0) {
            normal_seconds = median;
            normal_ratio = ratio;
        }
        bool met = !over && median < 1.0 && ratio < 10;
        status |= !met;
        if (over)
            printf("| config load, %s: %s (%.1f MiB) | failed or over %d s | | | < 1 s, < 10x "
                   "the file in memory | FAILED |\n",
                   shape->name, shape->what, bytes / 1048576.0, S_DEADLINE);
        else
            printf("| config load, %s: %s (%.1f MiB), median of %d | %.3f s (%.3f s CPU), peak "
                   "memory %.1fx the file | %.3f s, %.1fx (normal file) | %.2f | < 1 s, < 10x the "
                   "file in memory | %s |\n",
                   shape->name, shape->what, bytes / 1048576.0, S_ROUNDS, median, cpu[S_ROUNDS / 2],
                   ratio, normal_seconds, normal_ratio,
                   normal_seconds > 0 ? median / normal_seconds : 0, met ? "met" : "MISSED");
        fflush(stdout);
    }
    rmdir(dir);
    return status;
}
