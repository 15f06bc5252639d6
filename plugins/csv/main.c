/* csv: a dynamic-schema plugin; each CSV file its paths match is a table whose columns (text)
 * come from its header, read by file_fdw directly where it can, else through `rows`. */
#include "../plugin.h"
#include "csv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define S_VERSION "1.0.0"

/* The args of a table's `rows`: the settings, then after "--" the file (or the patterns). */
static json_t *s_args(const cs_csv_config_t *config, const char *header, size_t columns)
{
    char separator[2] = {config->separator, '\0'}, comment[2] = {config->comment, '\0'};
    json_t *args = json_pack("[s,s,s,s,s,s]", "--separator", separator, "--comment", comment,
                             "--header", header);
    if (columns) {
        char count[24];
        snprintf(count, sizeof count, "%zu", columns);
        json_array_append_new(args, json_string("--columns"));
        json_array_append_new(args, json_string(count));
    }
    json_array_append_new(args, json_string("--"));
    return args;
}

/* The table of one file. */
static json_t *s_file_table(const cs_csv_config_t *config, const cs_csv_file_t *file)
{
    const cs_csv_head_t *head = &file->head;
    json_t *columns = json_array();
    for (size_t c = 0; c < head->count; c++)
        json_array_append_new(columns,
                              json_pack("{s:s, s:s}", "name", head->columns[c], "type", "text"));
    char *description = NULL;
    if (asprintf(&description, "CSV file %s (%s)%s%s", file->path,
                 head->header ? "columns from its header" : "no header: columns a, b, ...",
                 file->note ? "; " : "", file->note ? file->note : "") < 0)
        return NULL;
    cs_csv_cut(description, 8192); /* the schema's bound on a description */
    json_t *args = s_args(config, head->header ? "on" : "off", head->count);
    json_array_append_new(args, json_string(file->path));
    json_t *table = json_pack("{s:s, s:s, s:o, s:o}", "name", file->name, "description",
                              description, "columns", columns, "args", args);
    free(description);
    if (table && cs_csv_direct(config, head)) {
        char delimiter[2] = {config->separator, '\0'};
        json_object_set_new(table, "file",
                            json_pack("{s:s, s:s, s:b, s:s, s:b}", "path", file->path, "format",
                                      "csv", "header", head->header, "delimiter", delimiter,
                                      "force_not_null", 1));
    }
    return table;
}

/* How many skipped files the description of _csv_skipped names, and its bound in bytes
 * (the schema's is 8192). */
#define S_SKIPPED_NAMED    10
#define S_SKIPPED_TEXT_MAX 4000

/* The table of the files that are not tables: its rows scan the paths again; its description
 * also names those skipped when the schema was read (at most S_SKIPPED_NAMED). */
static json_t *s_skipped_table(const cs_csv_config_t *config, const cs_csv_scan_t *scan)
{
    json_t *args = s_args(config, cs_csv_header_name(config->header), 0);
    for (size_t p = 0; p < config->path_count; p++)
        json_array_append_new(args, json_string(config->paths[p]));
    json_t *columns = json_array();
    cs_plugin_column(columns, "path", "text", "The file");
    cs_plugin_column(columns, "reason", "text", "Why it is not a table");
    char text[S_SKIPPED_TEXT_MAX + 64];
    int at = snprintf(text, sizeof text,
                      "Files that the connection's paths match but that are not tables, and why "
                      "(the paths are scanned again at each query)");
    size_t skipped = 0, named = 0;
    for (size_t i = 0; i < scan->count; i++) {
        const cs_csv_file_t *file = &scan->files[i];
        if (!file->skipped)
            continue;
        skipped++;
        if (named >= S_SKIPPED_NAMED || at >= S_SKIPPED_TEXT_MAX - 600 ||
            !cs_csv_utf8_valid(file->path, strlen(file->path)))
            continue; /* (a path that is not UTF-8 cannot be in the JSON: counted only) */
        char path[257], reason[201];
        snprintf(path, sizeof path, "%s", file->path);
        snprintf(reason, sizeof reason, "%s", file->skipped);
        cs_csv_cut(path, sizeof path - 1);
        cs_csv_cut(reason, sizeof reason - 1);
        at += snprintf(text + at, sizeof text - (size_t)at, "%s%s (%s)",
                       named ? "; " : ". Skipped when the schema was read: ", path, reason);
        named++;
    }
    if (skipped > named)
        snprintf(text + at, sizeof text - (size_t)at, " and %zu more", skipped - named);
    return json_pack("{s:s, s:s, s:o, s:o}", "name", CS_CSV_SKIPPED_TABLE, "description", text,
                     "columns", columns, "args", args);
}

/* Whether a path can be in the schema's "watch" list (not ending in '/', no control
 * characters: what the supervisor accepts); a path that cannot is still read, only not
 * watched (a refresh picks its changes up). */
static bool s_watchable(const char *path)
{
    size_t len = strlen(path);
    if (len == 0 || path[len - 1] == '/')
        return false;
    for (const unsigned char *c = (const unsigned char *)path; *c; c++)
        if (*c < 0x20 || *c == 0x7f)
            return false;
    return true;
}

static int s_schema(void)
{
    json_t *json = cs_plugin_read_config();
    if (!json)
        return 1;
    cs_csv_config_t config;
    char why[300];
    int rc = cs_csv_config_parse(json, &config, why, sizeof why);
    json_decref(json);
    if (rc != 0) {
        fprintf(stderr, "%s\n", why);
        cs_csv_config_free(&config);
        return 1;
    }
    cs_csv_scan_t scan;
    if (cs_csv_scan(&config, &scan) != 0) {
        fprintf(stderr, "csv: out of memory scanning the paths\n");
        cs_csv_config_free(&config);
        return 1;
    }
    json_t *tables = json_array(), *watch = json_array();
    json_array_append_new(tables, s_skipped_table(&config, &scan));
    for (size_t i = 0; i < scan.count; i++) {
        const cs_csv_file_t *file = &scan.files[i];
        if (file->skipped) {
            fprintf(stderr, "csv: %s is not a table: %s\n", file->path, file->skipped);
            continue;
        }
        json_t *table = s_file_table(&config, file);
        if (!table || json_array_append_new(tables, table) != 0) {
            fprintf(stderr, "csv: out of memory building the schema\n");
            rc = 1;
            break;
        }
    }
    for (size_t p = 0; p < config.path_count; p++) /* what the supervisor can watch */
        if (s_watchable(config.paths[p]))
            json_array_append_new(watch, json_string(config.paths[p]));
    cs_csv_scan_free(&scan);
    cs_csv_config_free(&config);
    if (rc != 0) {
        json_decref(tables);
        json_decref(watch);
        return 1;
    }
    return cs_plugin_print_json(json_pack("{s:o, s:o}", "tables", tables, "watch", watch));
}

/* The options of `rows TABLE --separator C --comment C --header H [--columns N] -- PATH...`:
 * a config (paths: what follows "--") and the column count. Returns 0 or 1 (with a message). */
static int s_rows_options(int argc, char **argv, cs_csv_config_t *config, size_t *columns)
{
    memset(config, 0, sizeof *config);
    config->separator = ',';
    *columns = 0;
    int i = 3;
    for (; i + 1 < argc && strcmp(argv[i], "--") != 0; i += 2) {
        const char *v = argv[i + 1];
        if (strcmp(argv[i], "--separator") == 0 && strlen(v) == 1)
            config->separator = v[0];
        else if (strcmp(argv[i], "--comment") == 0 && strlen(v) <= 1)
            config->comment = v[0];
        else if (strcmp(argv[i], "--header") == 0 && cs_csv_header_parse(v, &config->header) == 0)
            ;
        else if (strcmp(argv[i], "--columns") == 0 && atol(v) > 0 && atol(v) <= CS_CSV_MAX_COLUMNS)
            *columns = (size_t)atol(v);
        else {
            fprintf(stderr, "csv: rows %s: bad option %s '%s'\n", argv[2], argv[i], v);
            return 1;
        }
    }
    if (i >= argc || strcmp(argv[i], "--") != 0 || i + 1 >= argc) {
        fprintf(stderr, "csv: rows %s: no path after --\n", argv[2]);
        return 1;
    }
    config->paths = argv + i + 1;
    config->path_count = (size_t)(argc - i - 1);
    return 0;
}

/* A path as a field; one that is not valid UTF-8 (the database would refuse it) with '?'
 * for each byte past ASCII. */
static void s_write_path(const char *path)
{
    char *copy = strdup(path);
    if (copy && !cs_csv_utf8_valid(copy, strlen(copy)))
        for (char *p = copy; *p; p++)
            if ((unsigned char)*p >= 0x80)
                *p = '?';
    if (copy)
        cs_csv_write_field(stdout, copy, strlen(copy));
    free(copy);
}

/* rows _csv_skipped: the files that are not tables now. */
static int s_rows_skipped(const cs_csv_config_t *config)
{
    cs_csv_scan_t scan;
    if (cs_csv_scan(config, &scan) != 0) {
        fprintf(stderr, "csv: out of memory scanning the paths\n");
        return 1;
    }
    for (size_t i = 0; i < scan.count; i++) {
        const cs_csv_file_t *file = &scan.files[i];
        if (!file->skipped)
            continue;
        s_write_path(file->path);
        putc_unlocked(',', stdout);
        cs_csv_write_field(stdout, file->skipped, strlen(file->skipped));
        putc_unlocked('\n', stdout);
    }
    cs_csv_scan_free(&scan);
    return fflush(stdout) != 0;
}

/* rows TABLE ... -- PATH: the file's data records, each as many fields as the table has
 * columns (PostgreSQL's rule, so that file_fdw and rows agree), every field a string. */
static int s_rows_file(const char *table, const cs_csv_config_t *config, size_t columns)
{
    const char *path = config->paths[0];
    FILE *in = fopen(path, "re");
    if (!in) {
        fprintf(stderr, "csv: rows %s: cannot open %s: %s\n", table, path, strerror(errno));
        return 1;
    }
    static char buffer[1 << 18];
    setvbuf(stdout, buffer, _IOFBF, sizeof buffer);
    cs_csv_reader_t *reader =
        cs_csv_reader_new(in, config->separator, config->comment, CS_CSV_MAX_RECORD);
    char why[300] = "out of memory";
    int rc = reader ? 0 : -1, got;
    bool first = true;
    while (rc == 0 && (got = cs_csv_reader_next(reader, why, sizeof why)) == 1) {
        size_t n = cs_csv_reader_count(reader), len;
        const char *field = cs_csv_reader_field(reader, 0, &len);
        if (first && config->header == CS_CSV_HEADER_ON) {
            first = false;
            continue;
        }
        first = false;
        if (n == 1 && len == 2 && !cs_csv_reader_quoted(reader, 0) && memcmp(field, "\\.", 2) == 0)
            break; /* PostgreSQL's end of data, where file_fdw stops too */
        if (columns && n != columns) {
            snprintf(why, sizeof why,
                     "the record on line %zu has %zu fields, the table %zu columns",
                     cs_csv_reader_line(reader), n, columns);
            rc = -1;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            field = cs_csv_reader_field(reader, i, &len);
            if (i)
                putc_unlocked(',', stdout);
            cs_csv_write_field(stdout, field, len);
        }
        putc_unlocked('\n', stdout);
    }
    if (rc == 0 && got < 0)
        rc = -1;
    cs_csv_reader_destroy(&reader);
    fclose(in);
    if (fflush(stdout) != 0 && rc == 0) {
        snprintf(why, sizeof why, "cannot write: %s", strerror(errno));
        rc = -1;
    }
    if (rc != 0)
        fprintf(stderr, "csv: rows %s: %s: %s\n", table, path, why);
    return rc ? 1 : 0;
}

static int s_rows(int argc, char **argv)
{
    cs_csv_config_t config;
    size_t columns;
    if (s_rows_options(argc, argv, &config, &columns) != 0)
        return 1;
    if (strcmp(argv[2], CS_CSV_SKIPPED_TABLE) == 0)
        return s_rows_skipped(&config);
    return s_rows_file(argv[2], &config, columns);
}

int main(int argc, char **argv)
{
    static const cs_plugin_t plugin = {
        "csv",
        S_VERSION,
        "dynamic",
        "info | schema < config.json | rows TABLE --separator C --comment C "
        "--header on|off|auto [--columns N] -- PATH...",
        s_schema,
        s_rows};
    return cs_plugin_main(&plugin, argc, argv);
}
