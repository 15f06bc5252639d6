/* Private header of plugins/: helpers every bundled plugin shares (CSV rows, JSON out). */
#ifndef CS_PLUGINS_PRIVATE_H
#define CS_PLUGINS_PRIVATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* Writes one CSV field (RFC 4180 quoting); NULL is written as an empty unquoted field,
 * which file_fdw reads as NULL, and "" as a quoted empty string. */
void cs_plugin_csv_field(FILE *out, const char *value, bool last);

/* Writes a JSON document followed by a newline to stdout and frees it. Returns 0 or 1. */
int cs_plugin_print_json(json_t *doc);

/* Reads the connection's config (JSON) from stdin; returns it, or NULL with a message on
 * stderr. An empty stdin is an empty object. */
json_t *cs_plugin_read_config(void);

/* Adds a column {"name","type","description"} to a table's columns array. */
void cs_plugin_column(json_t *columns, const char *name, const char *type, const char *description);

#endif
