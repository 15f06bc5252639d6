/* Benchmark: loading 10,000 connections spread over 1,000 .spc files, against a baseline
 * measured in the same run: only reading those files (the I/O floor of any loader). */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cs_config.h"

#define S_FILES    1000
#define S_PER_FILE 10
#define S_ROUNDS   7

static double s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int s_compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double s_median(double *samples, int n)
{
    qsort(samples, (size_t)n, sizeof *samples, s_compare_doubles);
    return samples[n / 2];
}

/* The baseline: open, read and close every .spc file of dir. Returns the bytes read. */
static size_t s_read_all(const char *dir)
{
    static char buffer[1 << 16];
    size_t total = 0;
    DIR *d = opendir(dir);
    struct dirent *entry;
    while (d && (entry = readdir(d)) != NULL) {
        size_t len = strlen(entry->d_name);
        if (len < 5 || strcmp(entry->d_name + len - 4, ".spc") != 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
        int fd = open(path, O_RDONLY);
        ssize_t n;
        while (fd >= 0 && (n = read(fd, buffer, sizeof buffer)) > 0)
            total += (size_t)n;
        if (fd >= 0)
            close(fd);
    }
    if (d)
        closedir(d);
    return total;
}

int main(void)
{
    char dir[] = "/tmp/connstate-bench-config.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    for (int f = 0; f < S_FILES; f++) {
        char path[512];
        snprintf(path, sizeof path, "%s/team_%04d.spc", dir, f);
        FILE *file = fopen(path, "w");
        if (!file)
            return 1;
        for (int c = 0; c < S_PER_FILE; c++)
            fprintf(file,
                    "# connection %d of team %d\n"
                    "connection \"team_%04d_conn_%02d\" {\n"
                    "  plugin  = \"synthetic\"\n"
                    "  tables  = %d\n"
                    "  columns = 8\n"
                    "  regions = [\"us-east-1\", \"eu-west-1\"]  // where\n"
                    "  options \"rate\" { max_rps = %d }\n"
                    "}\n\n",
                    c, f, f, c, 10 + c, 5 * c);
        fclose(file);
    }

    double load[S_ROUNDS], read_only[S_ROUNDS];
    size_t connections = 0, bytes = 0;
    for (int r = 0; r < S_ROUNDS; r++) {
        double t0 = s_now_ms();
        bytes = s_read_all(dir);
        double t1 = s_now_ms();
        cs_config_t *cfg = cs_config_load_dir(dir);
        double t2 = s_now_ms();
        if (!cfg || cfg->error_count) {
            fprintf(stderr, "bench_config: the generated config did not load\n");
            return 1;
        }
        connections = cfg->count;
        cs_config_destroy(&cfg);
        read_only[r] = t1 - t0;
        load[r] = t2 - t1;
    }
    double load_ms = s_median(load, S_ROUNDS), read_ms = s_median(read_only, S_ROUNDS);

    /* A reload after one file of 1,000 changed: the other 999 are not parsed again. */
    double reload[S_ROUNDS];
    cs_config_t *previous = cs_config_load_dir(dir);
    for (int r = 0; r < S_ROUNDS; r++) {
        char path[512];
        snprintf(path, sizeof path, "%s/team_0500.spc", dir);
        FILE *file = fopen(path, "a");
        if (!file)
            return 1;
        fprintf(file, "# edit %d\n", r);
        fclose(file);
        double t0 = s_now_ms();
        cs_config_t *next = cs_config_reload_dir(dir, previous);
        reload[r] = s_now_ms() - t0;
        if (!next || next->count != connections)
            return 1;
        cs_config_destroy(&previous);
        previous = next;
    }
    cs_config_destroy(&previous);
    double reload_ms = s_median(reload, S_ROUNDS);

    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0)
        return 1;

    printf("| config load: %zu connections in %d files (%zu KiB), median of %d | %.1f ms "
           "(%.0f connections/s) | %.1f ms (reading the files only) | %.1f | < 100 ms | %s |\n",
           connections, S_FILES, bytes / 1024, S_ROUNDS, load_ms, connections / (load_ms / 1e3),
           read_ms, load_ms / read_ms, load_ms < 100 ? "met" : "MISSED");
    printf("| config reload after 1 of %d files changed (%zu connections), median of %d | "
           "%.2f ms | %.1f ms (a full load) | %.3f | | |\n",
           S_FILES, connections, S_ROUNDS, reload_ms, load_ms, reload_ms / load_ms);
    return 0;
}
