/* synthetic: a plugin for scale tests and benchmarks; its tables come from the config
 * (tables = N, columns = M, rows = R) and its rows are generated, with no external data. */
#include "../plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_VERSION "1.0.0"

/* Reads an integer setting in [lo, hi]; returns 0, or 1 with a message on stderr. */
static int s_setting(json_t *config, const char *key, long long fallback, long long lo,
                     long long hi, long long *value)
{
    json_t *v = json_object_get(config, key);
    if (!v) {
        *value = fallback;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        fprintf(stderr, "synthetic: %s must be an integer from %lld to %lld\n", key, lo, hi);
        return 1;
    }
    *value = json_integer_value(v);
    return 0;
}

static int s_schema(void)
{
    json_t *config = cs_plugin_read_config();
    if (!config)
        return 1;
    long long tables, columns, rows;
    int bad = s_setting(config, "tables", 1, 0, 10000, &tables) ||
              s_setting(config, "columns", 2, 1, 1600, &columns) ||
              s_setting(config, "rows", 10, 0, 100000000, &rows);
    json_decref(config);
    if (bad)
        return 1;
    char columns_arg[24], rows_arg[24];
    snprintf(columns_arg, sizeof columns_arg, "%lld", columns);
    snprintf(rows_arg, sizeof rows_arg, "%lld", rows);
    json_t *list = json_array();
    for (long long t = 1; t <= tables; t++) {
        char name[32], description[96];
        snprintf(name, sizeof name, "table_%lld", t);
        snprintf(description, sizeof description, "Synthetic table %lld of %lld", t, tables);
        json_t *cols = json_array();
        cs_plugin_column(cols, "id", "bigint", "Row number");
        for (long long c = 2; c <= columns; c++) {
            char col[32], col_description[64];
            snprintf(col, sizeof col, "col_%lld", c);
            snprintf(col_description, sizeof col_description, "Synthetic column %lld", c);
            cs_plugin_column(cols, col, "text", col_description);
        }
        json_array_append_new(list, json_pack("{s:s, s:s, s:o, s:[s,s,s,s]}", "name", name,
                                              "description", description, "columns", cols, "args",
                                              "--columns", columns_arg, "--rows", rows_arg));
    }
    return cs_plugin_print_json(json_pack("{s:o}", "tables", list));
}

/* rows TABLE --columns M --rows R: R rows of M columns. */
static int s_rows(int argc, char **argv)
{
    long long columns = 2, rows = 10;
    for (int i = 3; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--columns") == 0)
            columns = atoll(argv[i + 1]);
        else if (strcmp(argv[i], "--rows") == 0)
            rows = atoll(argv[i + 1]);
    }
    if (columns < 1 || rows < 0) {
        fprintf(stderr, "synthetic: bad --columns or --rows\n");
        return 1;
    }
    for (long long r = 1; r <= rows; r++) {
        printf("%lld", r);
        for (long long c = 2; c <= columns; c++)
            printf(",%s-%lld-%lld", argv[2], r, c);
        putchar('\n');
    }
    return fflush(stdout) != 0;
}

int main(int argc, char **argv)
{
    static const cs_plugin_t plugin = {
        "synthetic", S_VERSION,
        "config",    "info | schema < config.json | rows TABLE [--columns M] [--rows R]",
        s_schema,    s_rows};
    return cs_plugin_main(&plugin, argc, argv);
}
