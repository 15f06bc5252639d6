/* cs_config: the connections of .spc files, validated and loaded.
 * The rules a connection block must follow are in config.c; loading files and directories
 * into a cs_config_t, and the lookups on it, in loader.c. */
#ifndef CS_CONFIG_H
#define CS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cs_hcl.h"

#define CS_CONFIG_MAX_NAME    63    /* connection names */
#define CS_CONFIG_MAX_IGNORED 100   /* ignored settings listed per file; one more counts the rest */
#define CS_CONFIG_MAX_PLUGINS 10000 /* plugin blocks in one file */

/* A plugin instance: plugin "LABEL" { source = "aws@^0.5"  memory_max_mb = 2048
 * env = { NAME = "value" } }. Strings are owned by the config that holds it. */
typedef struct {
    const char *label;
    const char *source;     /* the plugin reference as written */
    const char *plugin;     /* its short name: the executable of the plugin directory */
    const char *constraint; /* the version after '@' ("0.5.0", "^0.5"); NULL: none or latest */
    const char *image;      /* the full reference: "hub.steampipe.io/plugins/turbot/aws@latest" */
    int64_t memory_max_mb;  /* 0: no limit of its own */
    const char **env;       /* "NAME=VALUE", in written order */
    size_t env_count;
    const char *file;
    int line;
} cs_config_plugin_t;

/* One valid connection. Strings are owned by the config that holds it. */
typedef struct {
    const char *name;
    const char *plugin;            /* short name: the executable of the plugin directory */
    const char *plugin_written;    /* the reference as written: "turbot/aws@^0.5", "plugin.x" */
    const char *plugin_constraint; /* the version after '@'; NULL: none or latest */
    const cs_config_plugin_t *instance; /* plugin = plugin.LABEL; NULL: the plugin itself */
    int64_t memory_max_mb;              /* the memory limit of its plugin runs: its instance's, else
                                           options "plugin"'s; 0: none (set when the directory is resolved) */
    const char **members;               /* aggregators: connection names or globs */
    size_t member_count;
    const char *file; /* the path of its .spc file */
    /* the plugin's config (every other attribute and block), as JSON in written order; may
     * hold secrets. After its NUL: an empty text, or its canonical form where that is not
     * made from it (cs_canon_config_forms). */
    const char *config_json;
    int start_line;
    int end_line;
    cs_line_col_t name_at;   /* its name label (in file) */
    cs_line_col_t plugin_at; /* the value of its plugin attribute */
    char fingerprint[17];    /* hex: stable hash of the canonical config */
    bool aggregator;         /* type = "aggregator" */
    bool import_disabled;    /* import_schema = "disabled" */
    bool plugin_instance;    /* plugin = plugin.LABEL (plugin_written), not a string */
    /* its plugin, instance, memory limit or fingerprint are not as its file's load set them: a
     * directory's plugin instance or options "plugin" reached it, and a later directory sets
     * them again */
    bool resolved;
} cs_connection_t;

/* A file that failed: none of its connections were loaded. names are the connection
 * names that could still be read from it, so that a caller can keep (not delete) them. */
typedef struct {
    const char *path;
    const char **names;
    size_t name_count;
} cs_failed_file_t;

/* A top-level block or a setting that connstate accepts but does not act on (a workspace,
 * options of the terminal, ...): reported by `connstate config check`, never an error. */
typedef struct {
    const char *file;
    int line;
    const char *what; /* e.g. `workspace "dev"`, `options "database": port` */
} cs_config_ignored_t;

/* The settings of `options "database" { ... }` that connstate honours. A list that is not
 * set has set == false (an empty list that is set is a setting too). */
typedef struct {
    const char **items;
    size_t count;
    bool set;
    const char *file; /* where it was set */
    int line;
} cs_config_list_t;

typedef struct {
    cs_config_list_t search_path;        /* the schemas of the default search path */
    cs_config_list_t search_path_prefix; /* put before them */
    bool uncertain; /* a file that failed to load declares options "database": what it sets
                       is not known, so a user of these keeps what is in force */
    bool declared;  /* some file has an options "database" block, even an empty one */
} cs_config_database_t;

/* The result of loading a directory or a text. */
typedef struct cs_config_s {
    cs_connection_t *connections; /* files in name order, blocks in file order */
    size_t count;
    cs_config_error_t *errors;
    size_t error_count;
    cs_failed_file_t *failed;
    size_t failed_count;
    cs_config_plugin_t *plugins; /* the plugin blocks, in file order */
    size_t plugin_count;
    cs_config_ignored_t *ignored; /* in file order, then line order */
    size_t ignored_count;
    cs_config_database_t database; /* the first file (in name order) to set each wins */
    /* options "plugin" { memory_max_mb = N }: the memory limit of every plugin run that its
     * instance does not set (0: none); the first file to set it wins */
    int64_t plugin_memory_max_mb;
    const char *plugin_options_file;
    int plugin_options_line;
    size_t file_count; /* .spc files read */
    bool dir_failed;   /* the directory itself could not be read: nothing is known */
    cs_arena_t *arena;
    cs_connection_t **by_name; /* index for cs_config_find */
    /* A directory load is made of one unit per file, each with its own arena (owned), so
     * that a reload can keep the units of unchanged files. A unit's connections are its part
     * of the connections of the directory that last loaded it, or its own array when its file
     * failed there (or before it is merged into one): connections_owned, malloc'ed. */
    struct cs_config_s **units;
    size_t unit_count;
    /* A unit: the file it was read from, and that file's identity when it was read; reused:
     * taken over from the previous load by cs_config_reload_dir, not parsed again. */
    const char *source;
    bool reused;
    cs_connection_t *connections_owned;
    int64_t source_mtime_ns;
    int64_t source_size;
    uint64_t source_ino;
    /* A directory load: what changed since the previous load given to cs_config_reload_dir
     * (cs_config_changes) */
    const char **changed; /* names (in the arena; a name may be listed twice) */
    size_t changed_count, changed_cap;
    bool changed_all;
} cs_config_t;

/* Loads every *.spc file of dir (sorted by name, not recursive). A file with any error
 * contributes its errors and no connection; the others load normally. A missing or
 * unreadable directory is an error of the result. Returns NULL only when out of memory;
 * the caller destroys the result. Blocks on file I/O. */
cs_config_t *cs_config_load_dir(const char *dir);

/* Like cs_config_load_dir, but the files whose path, size, modification time and inode are
 * those previous read are not parsed again: their results move out of previous (NULL: parse
 * everything), which the caller still destroys. When no file changed (the same files, each
 * reused), the result takes over previous's merged connections and index as they are
 * (O(files)); previous stays readable, unchanged, until it is destroyed, and must be
 * destroyed before the result. Returns NULL only when out of memory. Blocks on file I/O. */
cs_config_t *cs_config_reload_dir(const char *dir, cs_config_t *previous);

/* Like cs_config_reload_dir, when only the files named (count names of files in dir, in any
 * order, a name may repeat) may have changed since previous was loaded -- each changed,
 * created or removed: the supervisor's directory watch names them. The directory is not
 * listed and previous's other files are taken as they are, not looked at (O(files) with no
 * system call, instead of a stat of each). Without a previous load, or after one whose
 * directory failed, the same as cs_config_reload_dir. Returns NULL only when out of memory.
 * Blocks on file I/O. */
cs_config_t *cs_config_reload_files(const char *dir, cs_config_t *previous,
                                    const char *const *files, size_t count);

/* The connection names whose entry may differ between previous (the load given to
 * cs_config_reload_dir) and self: each once or more to fn (NULL: none), in no order -- none
 * when no file changed; else every name declared by a file parsed again (its old version's
 * and its new one's), by a file removed, or by a file that failed in either load (a name
 * defined twice fails the later file, whichever changed). Returns true instead when every name is
 * to be looked at: there was no previous load, the directory failed in one of them, or a file
 * that changed declares plugin instances or options "plugin" (they change the connections of
 * other files). Costs O(names listed). Never blocks. */
bool cs_config_changes(const cs_config_t *self, void (*fn)(void *arg, const char *name), void *arg);

/* Loads one file's text (len bytes, need not be NUL-terminated); file names it in errors.
 * Same rules and ownership as cs_config_load_dir. Never blocks. */
cs_config_t *cs_config_load_text(const char *file, const char *text, size_t len);

/* The lookups and checks below never block. */

/* Returns the connection with that name, or NULL. Borrowed. */
const cs_connection_t *cs_config_find(const cs_config_t *self, const char *name);

/* True when a directory entry of this name is a file the loader reads: NAME.spc, not
 * hidden. (The supervisor's directory watch ignores every other file.) */
bool cs_config_file_name(const char *name);

/* The files a directory load read (in name order), their paths (borrowed), and whether each
 * was parsed again by this load (changed since the previous one) rather than reused. */
size_t cs_config_file_count(const cs_config_t *self);
const char *cs_config_file_path(const cs_config_t *self, size_t i);
bool cs_config_file_changed(const cs_config_t *self, size_t i);

/* Logs (warn) the errors of the files this load parsed again, and of the directory; the
 * errors of reused files were logged when they were parsed. */
void cs_config_log_errors(const cs_config_t *self);

/* Returns true when name was declared in a file that failed to load. */
bool cs_config_name_failed(const cs_config_t *self, const char *name);

/* Returns the first error of a failed file, or NULL. Borrowed. */
const cs_config_error_t *cs_config_file_error(const cs_config_t *self, const char *path);

/* Frees everything and NULLs *self_p. Idempotent. */
void cs_config_destroy(cs_config_t **self_p);

/* Checks a connection name as Steampipe allows it: 1-63 bytes of [A-Za-z0-9_], not starting
 * with a digit (a mixed-case name is its schema's name exactly, quoted in SQL; "Aws" and
 * "aws" are two connections), and not reserved in any case (public, information_schema,
 * connstate_internal, pg_*). Returns NULL when valid, else a static text saying what is
 * wrong. */
const char *cs_config_name_problem(const char *name);

/* Whether name matches one of the aggregator's entries (names and globs, fnmatch). */
bool cs_config_entry_match(const cs_connection_t *agg, const char *name);

/* Whether c is a member of the aggregator agg as configured: not an aggregator itself, of
 * agg's plugin instance when agg names one, else of agg's plugin (its instances too), with a
 * name that matches one of agg's entries. Never blocks. */
bool cs_config_member_of(const cs_connection_t *agg, const cs_connection_t *c);

/* True when key is an attribute connstate interprets itself (plugin, type, connections,
 * import_schema): not part of the plugin's config. */
bool cs_config_reserved(const char *key);

#endif
