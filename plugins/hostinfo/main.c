/* hostinfo: a plugin with a static schema and real rows from this host's /proc. */
#include "../plugin.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_VERSION "1.0.0"

typedef struct {
    const char *name;
    const char *type;
    const char *description;
} s_column_t;

typedef struct {
    const char *name;
    const char *description;
    const s_column_t *columns;
    size_t column_count;
    int (*rows)(FILE *out);
} s_table_t;

/* ---- processes: /proc/PID/stat and cmdline ---------------------------------------------- */

static int s_rows_processes(FILE *out)
{
    DIR *proc = opendir("/proc");
    if (!proc)
        return 1;
    struct dirent *entry;
    while ((entry = readdir(proc)) != NULL) {
        if (!isdigit((unsigned char)entry->d_name[0]))
            continue;
        char path[300], stat[4096];
        snprintf(path, sizeof path, "/proc/%s/stat", entry->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* the process exited meanwhile */
        size_t n = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
        stat[n] = '\0';
        /* pid (comm) state ppid ... : comm may hold spaces and parentheses */
        char *open = strchr(stat, '('), *close = strrchr(stat, ')');
        if (!open || !close || close < open)
            continue;
        *close = '\0';
        char state[8] = "";
        long ppid = 0, threads = 0, rss_pages = 0;
        /* fields after comm: state(3) ppid(4) ... num_threads(20) ... rss(24) */
        char *rest = close + 2;
        char *save = NULL;
        int field = 3;
        for (char *tok = strtok_r(rest, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
            if (field == 3)
                snprintf(state, sizeof state, "%s", tok);
            else if (field == 4)
                ppid = atol(tok);
            else if (field == 20)
                threads = atol(tok);
            else if (field == 24)
                rss_pages = atol(tok);
            field++;
        }
        char cmdline[2048] = "";
        snprintf(path, sizeof path, "/proc/%s/cmdline", entry->d_name);
        f = fopen(path, "r");
        if (f) {
            size_t len = fread(cmdline, 1, sizeof cmdline - 1, f);
            fclose(f);
            for (size_t i = 0; i + 1 < len; i++)
                if (cmdline[i] == '\0')
                    cmdline[i] = ' ';
            cmdline[len] = '\0';
        }
        char ppid_text[24], threads_text[24], rss_text[24];
        snprintf(ppid_text, sizeof ppid_text, "%ld", ppid);
        snprintf(threads_text, sizeof threads_text, "%ld", threads);
        snprintf(rss_text, sizeof rss_text, "%ld", rss_pages * 4);
        CS_PLUGIN_ROW(out, entry->d_name, ppid_text, open + 1, state, threads_text, rss_text,
                      cmdline[0] ? cmdline : NULL);
    }
    closedir(proc);
    return 0;
}

/* Calls row(out, line) for each line of the file at path after its first skip lines. */
static int s_rows_by_line(FILE *out, const char *path, int skip, void (*row)(FILE *, char *))
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 1;
    char line[4096];
    int number = 0;
    while (fgets(line, sizeof line, f))
        if (++number > skip)
            row(out, line);
    fclose(f);
    return 0;
}

/* ---- mounts: /proc/mounts ------------------------------------------------------------- */

static void s_mount_row(FILE *out, char *line)
{
    char device[1024], point[1024], type[256], options[1024];
    if (sscanf(line, "%1023s %1023s %255s %1023s", device, point, type, options) == 4)
        CS_PLUGIN_ROW(out, device, point, type, options);
}

static int s_rows_mounts(FILE *out)
{
    return s_rows_by_line(out, "/proc/mounts", 0, s_mount_row);
}

/* ---- network interfaces: /proc/net/dev ------------------------------------------------ */

static void s_interface_row(FILE *out, char *line)
{
    char *colon = strchr(line, ':');
    if (!colon)
        return;
    *colon = '\0';
    char *name = line;
    while (*name == ' ')
        name++;
    unsigned long long v[16] = {0};
    if (sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
               &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) != 10)
        return;
    char rx_bytes[24], rx_packets[24], tx_bytes[24], tx_packets[24];
    snprintf(rx_bytes, sizeof rx_bytes, "%llu", v[0]);
    snprintf(rx_packets, sizeof rx_packets, "%llu", v[1]);
    snprintf(tx_bytes, sizeof tx_bytes, "%llu", v[8]);
    snprintf(tx_packets, sizeof tx_packets, "%llu", v[9]);
    CS_PLUGIN_ROW(out, name, rx_bytes, rx_packets, tx_bytes, tx_packets);
}

static int s_rows_interfaces(FILE *out)
{
    return s_rows_by_line(out, "/proc/net/dev", 2, s_interface_row); /* two header lines */
}

/* ---- memory: /proc/meminfo ------------------------------------------------------------ */

static void s_memory_row(FILE *out, char *line)
{
    char key[128];
    unsigned long long kb;
    if (sscanf(line, "%127[^:]: %llu", key, &kb) != 2)
        return;
    char value[24];
    snprintf(value, sizeof value, "%llu", kb);
    CS_PLUGIN_ROW(out, key, value);
}

static int s_rows_memory(FILE *out)
{
    return s_rows_by_line(out, "/proc/meminfo", 0, s_memory_row);
}

/* ---- load: /proc/loadavg -------------------------------------------------------------- */

static int s_rows_load(FILE *out)
{
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f)
        return 1;
    double l1, l5, l15;
    int running, total;
    int n = fscanf(f, "%lf %lf %lf %d/%d", &l1, &l5, &l15, &running, &total);
    fclose(f);
    if (n != 5)
        return 1;
    fprintf(out, "%.2f,%.2f,%.2f,%d,%d\n", l1, l5, l15, running, total);
    return 0;
}

static const s_column_t s_process_columns[] = {
    {"pid", "bigint", "Process ID"},
    {"ppid", "bigint", "Parent process ID"},
    {"name", "text", "Command name (from /proc/PID/stat)"},
    {"state", "text", "Process state: R running, S sleeping, D disk sleep, Z zombie, ..."},
    {"threads", "integer", "Number of threads"},
    {"rss_kb", "bigint", "Resident set size in KiB"},
    {"cmdline", "text", "Full command line; NULL for kernel threads"},
};
static const s_column_t s_mount_columns[] = {
    {"device", "text", "Mounted device or pseudo file system"},
    {"mount_point", "text", "Where it is mounted"},
    {"fs_type", "text", "File system type"},
    {"options", "text", "Mount options"},
};
static const s_column_t s_interface_columns[] = {
    {"name", "text", "Interface name"},           {"rx_bytes", "bigint", "Bytes received"},
    {"rx_packets", "bigint", "Packets received"}, {"tx_bytes", "bigint", "Bytes sent"},
    {"tx_packets", "bigint", "Packets sent"},
};
static const s_column_t s_memory_columns[] = {
    {"key", "text", "Field of /proc/meminfo"},
    {"kb", "bigint", "Value in KiB (or a count for HugePages_* fields)"},
};
static const s_column_t s_load_columns[] = {
    {"load1", "double precision", "Load average over 1 minute"},
    {"load5", "double precision", "Load average over 5 minutes"},
    {"load15", "double precision", "Load average over 15 minutes"},
    {"running", "integer", "Runnable scheduling entities"},
    {"total", "integer", "Existing scheduling entities"},
};

#define TABLE(name, description, columns, rows)                                                    \
    {                                                                                              \
        name, description, columns, sizeof columns / sizeof *columns, rows                         \
    }
static const s_table_t s_tables[] = {
    TABLE("processes", "Processes running on the host", s_process_columns, s_rows_processes),
    TABLE("mounts", "Mounted file systems", s_mount_columns, s_rows_mounts),
    TABLE("network_interfaces", "Network interfaces and their traffic counters",
          s_interface_columns, s_rows_interfaces),
    TABLE("memory", "Memory statistics from /proc/meminfo", s_memory_columns, s_rows_memory),
    TABLE("load", "Load averages", s_load_columns, s_rows_load),
};

static int s_schema(void)
{
    json_t *config = cs_plugin_read_config(); /* hostinfo takes no settings */
    if (!config)
        return 1;
    json_decref(config);
    json_t *tables = json_array();
    for (size_t t = 0; t < sizeof s_tables / sizeof *s_tables; t++) {
        json_t *columns = json_array();
        for (size_t c = 0; c < s_tables[t].column_count; c++)
            cs_plugin_column(columns, s_tables[t].columns[c].name, s_tables[t].columns[c].type,
                             s_tables[t].columns[c].description);
        json_array_append_new(tables,
                              json_pack("{s:s, s:s, s:o}", "name", s_tables[t].name, "description",
                                        s_tables[t].description, "columns", columns));
    }
    return cs_plugin_print_json(json_pack("{s:o}", "tables", tables));
}

static int s_rows(int argc, char **argv)
{
    (void)argc;
    for (size_t t = 0; t < sizeof s_tables / sizeof *s_tables; t++)
        if (strcmp(argv[2], s_tables[t].name) == 0)
            return s_tables[t].rows(stdout) || fflush(stdout) != 0;
    fprintf(stderr, "hostinfo: no table '%s'\n", argv[2]);
    return 1;
}

int main(int argc, char **argv)
{
    static const cs_plugin_t plugin = {"hostinfo", S_VERSION,
                                       "static",   "info | schema < config.json | rows TABLE",
                                       s_schema,   s_rows};
    return cs_plugin_main(&plugin, argc, argv);
}
