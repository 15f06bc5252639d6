/* Private header of plugins/: helpers every bundled plugin shares (CSV rows, JSON out). */
#ifndef CS_PLUGINS_PRIVATE_H
#define CS_PLUGINS_PRIVATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* Writes one CSV row of count fields (RFC 4180 quoting); a NULL field is written empty
 * and unquoted, which file_fdw reads as NULL, and "" as a quoted empty string. */
void cs_plugin_csv_row(FILE *out, const char *const *fields, size_t count);

/* cs_plugin_csv_row with the fields listed in place: CS_PLUGIN_ROW(out, a, b, c). */
#define CS_PLUGIN_ROW(out, ...)                                                                    \
    cs_plugin_csv_row(out, (const char *const[]){__VA_ARGS__},                                     \
                      sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* A bundled plugin as its command line sees it. */
typedef struct {
    const char *name;
    const char *version;
    const char *schema_mode;            /* static, config or dynamic */
    const char *usage;                  /* after "usage: NAME ": the commands */
    int (*schema)(void);                /* `schema`, the config on stdin */
    int (*rows)(int argc, char **argv); /* `rows TABLE ...`: argv[2] is the table */
} cs_plugin_t;

/* Runs the command argv[1] names: `info` ({"name","version","schema_mode"} on stdout),
 * `schema` or `rows`; anything else is a usage error. Returns the exit status. */
int cs_plugin_main(const cs_plugin_t *plugin, int argc, char **argv);

/* Writes a JSON document followed by a newline to stdout and frees it. Returns 0 or 1. */
int cs_plugin_print_json(json_t *doc);

/* Reads the connection's config (JSON) from stdin; returns it, or NULL with a message on
 * stderr. An empty stdin is an empty object. */
json_t *cs_plugin_read_config(void);

/* Adds a column {"name","type","description"} to a table's columns array. */
void cs_plugin_column(json_t *columns, const char *name, const char *type, const char *description);

#endif
