/* cs_plugin: running plugin executables, and validating the schemas they print.
 * Each run has a deadline. The plugin interface is documented in plugins/README.md. */
#ifndef CS_PLUGIN_H
#define CS_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>

#include "cs_buf.h"
#include "cs_secrets.h"

#define CS_PLUGIN_MAX_OUTPUT  (16u * 1024 * 1024) /* bytes a plugin may print */
#define CS_PLUGIN_MAX_TABLES  10000
#define CS_PLUGIN_MAX_COLUMNS 1600 /* PostgreSQL's limit per table */

/* Called every 100 ms or so while a plugin runs (heartbeats). */
typedef void(cs_plugin_tick_fn)(void *arg);

/* Runs argv[0] (a path) with argv, writing input to its stdin. Collects stdout into out
 * (at most CS_PLUGIN_MAX_OUTPUT bytes) and kills the plugin and its process group after
 * timeout_ms. Returns 0 when it exited with status 0, else -1 with the reason in why
 * (not found, timed out, exit status or signal, with the last lines of its stderr, in
 * which the secrets are masked before they are cut; secrets may be NULL, and is borrowed).
 * Blocks, calling tick (when not NULL) while it waits. */
int cs_plugin_run(char *const argv[], const char *input, size_t input_len,
                  const cs_secrets_t *secrets, int timeout_ms, cs_buf_t *out, char *why,
                  size_t why_size, cs_plugin_tick_fn *tick, void *tick_arg)
    __attribute__((warn_unused_result));

typedef struct {
    char version[65];
    char mode[16]; /* static, config or dynamic */
} cs_plugin_info_t;

/* Runs `path info` and validates what it prints. Returns 0, or -1 with the reason. Blocks. */
int cs_plugin_info(const char *path, int timeout_ms, cs_plugin_info_t *info, char *why,
                   size_t why_size, cs_plugin_tick_fn *tick, void *tick_arg)
    __attribute__((warn_unused_result));

typedef struct {
    char *name;
    char *type;        /* one of the allowed PostgreSQL types */
    char *description; /* may be NULL */
} cs_column_t;

typedef struct {
    char *name;
    char *description; /* may be NULL */
    cs_column_t *columns;
    size_t column_count;
    char **args; /* for `rows` */
    size_t arg_count;
} cs_table_t;

typedef struct {
    cs_table_t *tables;
    size_t count;
    char hash[17];     /* hex hash of the schema's canonical JSON */
    bool has_comments; /* any description at all */
} cs_schema_t;

/* Parses and validates a plugin's schema output (untrusted): JSON object with a tables
 * array; names 1-63 bytes without NUL and unique; column types from the allowed list;
 * descriptions and args strings. Returns the schema (the caller destroys it), or NULL with
 * the reason in why, in which the secrets (may be NULL; borrowed) are masked before
 * anything is cut. Never blocks. */
cs_schema_t *cs_schema_parse(const char *json, size_t len, const cs_secrets_t *secrets, char *why,
                             size_t why_size);

/* Frees a schema and NULLs *self_p. Idempotent. Never blocks. */
void cs_schema_destroy(cs_schema_t **self_p);

/* The bundled plugin directory: lib/connstate/plugins beside the directory of the running
 * executable (bin/ in the build tree and after install). Returns a malloc'd path (the caller
 * frees it), or NULL when it is missing. Blocks only on a readlink and a realpath. */
char *cs_plugin_default_dir(void);

/* Returns true when type is a column type plugins may use. Never blocks. */
bool cs_schema_type_allowed(const char *type);

#endif
