/* cs_plugin: running plugin executables, and validating the schemas they print.
 * Each run has a deadline. The plugin interface is documented in plugins/README.md. */
#ifndef CS_PLUGIN_H
#define CS_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cs_buf.h"
#include "cs_secrets.h"

#define CS_PLUGIN_MAX_OUTPUT  (16u * 1024 * 1024) /* bytes a plugin may print */
#define CS_PLUGIN_MAX_TABLES  10000
#define CS_PLUGIN_MAX_COLUMNS 1600 /* PostgreSQL's limit per table */
#define CS_PLUGIN_MAX_PATH    4096 /* bytes of a table's "file" path, and of one of its args */

/* Called every 100 ms or so while a plugin runs (heartbeats). Returns true to go on waiting,
 * false when the caller is stopping: the plugin and its process group are killed at once
 * (nothing it started outlives a worker that stops) and the run fails, saying so. */
typedef bool(cs_plugin_tick_fn)(void *arg);

/* A plugin instance's settings for one run (plugin "LABEL" { memory_max_mb env }). Borrowed. */
typedef struct {
    uint32_t memory_max_mb; /* 0: no limit; else its address space (RLIMIT_AS), in MiB */
    const char *const *env; /* "NAME=VALUE": set on top of the inherited environment */
    size_t env_count;
} cs_plugin_settings_t;

/* Checks a plugin instance's settings against the bounds of a TASK (cs_proto.h,
 * proto/PROTOCOL.md): memory_max_mb 0 (none) to CS_PROTO_MAX_MEMORY_MB, at most
 * CS_PROTO_MAX_ENV entries of NAME=VALUE (cs_env_entry_valid), each valid UTF-8 of at most
 * CS_PROTO_MAX_ENV_ENTRY bytes.
 * For the loader: a connection whose instance fails it cannot be sent to a worker. Returns 0,
 * or -1 with the reason in why (naming the entry by its NAME, never its value). */
int cs_plugin_settings_check(int64_t memory_max_mb, const char *const *env, size_t env_count,
                             char *why, size_t why_size) __attribute__((warn_unused_result));

/* The shell command that runs a plugin under memory_max_mb MiB of address space: the
 * wrapper of both a schema run (sh -c COMMAND PLUGIN ARGS...) and a foreign table's rows
 * (file_fdw runs its program through sh -c), appended to out. */
void cs_plugin_limit_prefix(cs_buf_t *out, uint32_t memory_max_mb);

/* Adds the values of a plugin environment ("NAME=VALUE" entries) to a set of secrets: every
 * value of a secret-named NAME (cs_secrets_name_is_secret), and every other value of at least
 * 4 bytes (shorter ones would mask digits and words everywhere). Returns 0, or -1 when out of
 * memory. */
int cs_plugin_env_secrets(cs_secrets_t *secrets, const char *const *env, size_t env_count)
    __attribute__((warn_unused_result));

/* Runs argv[0] (a path) with argv, writing input to its stdin. Collects stdout into out
 * (at most CS_PLUGIN_MAX_OUTPUT bytes) and kills the plugin and its process group after
 * timeout_ms. settings (may be NULL: none) adds its env to the inherited environment (never
 * to argv) and runs the plugin under its memory limit, through /bin/sh's ulimit -v (GOMEMLIMIT
 * is set to it too, unless its env sets one). Returns 0 when it exited with status 0, else -1
 * with the reason in why (not found, timed out, exit status or signal, naming the memory limit
 * when there is one, with the last lines of its stderr, in which the secrets are masked before
 * they are cut; secrets may be NULL, and is borrowed). Blocks, calling tick (when not NULL)
 * while it waits. */
int cs_plugin_run(char *const argv[], const char *input, size_t input_len,
                  const cs_secrets_t *secrets, const cs_plugin_settings_t *settings, int timeout_ms,
                  cs_buf_t *out, char *why, size_t why_size, cs_plugin_tick_fn *tick,
                  void *tick_arg) __attribute__((warn_unused_result));

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

/* A table that the database server reads from a file with file_fdw's own options (the
 * schema's optional "file" object, plugins/README.md), instead of running `rows`. */
typedef struct {
    char *path;          /* absolute, at most CS_PLUGIN_MAX_PATH bytes */
    char *format;        /* "csv" or "text" */
    bool header;         /* the first line is a header, skipped */
    char delimiter;      /* one ASCII byte; '\0': file_fdw's default (',' csv, tab text) */
    char quote;          /* csv only; '\0': the default (") */
    char escape;         /* csv only; '\0': the default (the quote) */
    char *null;          /* the NULL string; NULL: the default */
    char *encoding;      /* the file's encoding; NULL: the database's client encoding */
    bool force_not_null; /* csv only: on every column, so an empty field is '' and not NULL */
} cs_table_file_t;

typedef struct {
    char *name;
    char *description; /* may be NULL */
    cs_column_t *columns;
    size_t column_count;
    char **args; /* for `rows` */
    size_t arg_count;
    cs_table_file_t *file; /* NULL: its rows come from `rows` */
} cs_table_t;

/* The bounds of a schema's "watch" list: entries (CS_PROTO_MAX_WATCH), bytes of one
 * (CS_PROTO_MAX_WATCH_PATH), and bytes of all of them, so that a RESULT carrying them stays
 * well within a message body. */
#define CS_PLUGIN_MAX_WATCH_BYTES (1024u * 1024)

typedef struct {
    cs_table_t *tables;
    size_t count;
    char hash[17];     /* hex hash of the schema's canonical JSON, "watch" left out */
    bool has_comments; /* any description at all */
    char **watch;      /* absolute paths, a glob allowed in the last component */
    size_t watch_count;
} cs_schema_t;

/* Parses and validates a plugin's schema output (untrusted): JSON object with a tables
 * array (other top-level keys are ignored, but are part of the hash); names 1-63 bytes without NUL
 * and unique; column types from the allowed list; descriptions and args strings; a table's optional
 * "file" object as file_fdw accepts it (unknown keys in it refused); an optional "watch" array of
 * at most CS_PROTO_MAX_WATCH absolute paths (1 to CS_PROTO_MAX_WATCH_PATH bytes of UTF-8 without
 * control characters, not ending in '/', CS_PLUGIN_MAX_WATCH_BYTES in all), which is not part of
 * the hash (what is watched does not change the tables). Returns the schema (the caller destroys
 * it), or NULL with the reason in why, in which the secrets (may be NULL; borrowed) are masked
 * before anything is cut. Never blocks. */
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
