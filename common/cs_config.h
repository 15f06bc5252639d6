/* cs_config: the .spc connection config language, its parse tree, and the directory loader. */
#ifndef CS_CONFIG_H
#define CS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits of the language, so that hostile files cannot exhaust memory or the stack. */
#define CS_CONFIG_MAX_FILE  (16u * 1024 * 1024) /* bytes in one .spc file */
#define CS_CONFIG_MAX_DEPTH 32                  /* nesting of blocks, lists and objects */
#define CS_CONFIG_MAX_NAME  63                  /* connection names */

typedef struct cs_arena cs_arena_t;

/* Where something was written: 1-based line and column (bytes). file is borrowed. */
typedef struct {
    const char *file;
    int line;
    int col;
} cs_pos_t;

typedef enum {
    CS_VAL_STRING,
    CS_VAL_INT,
    CS_VAL_FLOAT,
    CS_VAL_BOOL,
    CS_VAL_NULL,
    CS_VAL_LIST,
    CS_VAL_OBJECT
} cs_value_type_t;

typedef struct cs_value cs_value_t;
typedef struct cs_block cs_block_t;

/* An attribute of a body, or an entry of an object: key = value. */
typedef struct {
    const char *key;
    cs_value_t *value;
    cs_pos_t pos;
} cs_attr_t;

struct cs_value {
    cs_value_type_t type;
    cs_pos_t pos;
    union {
        struct {
            const char *ptr; /* NUL-terminated; len excludes the NUL (no NUL inside) */
            size_t len;
        } str;
        int64_t i;
        double f;
        bool b;
        struct {
            cs_value_t **items;
            size_t count;
        } list;
        struct {
            cs_attr_t *items; /* in written order */
            size_t count;
        } object;
    } via;
};

/* One item of a block body: an attribute or a nested block, in written order. */
typedef struct {
    cs_attr_t *attr; /* exactly one of attr and block is set */
    cs_block_t *block;
} cs_item_t;

struct cs_block {
    const char *type;
    const char **labels;
    cs_pos_t *label_pos;
    size_t label_count;
    cs_pos_t pos; /* the block type word */
    cs_pos_t end; /* the closing brace */
    cs_item_t *items;
    size_t count;
};

/* A parsed file: its top-level items. Everything lives in the arena. */
typedef struct {
    const char *file;
    cs_item_t *items;
    size_t count;
} cs_hcl_file_t;

/* One error: FILE:LINE:COL: message. Strings are owned by the config that holds it. */
typedef struct {
    const char *file;
    int line;
    int col;
    const char *message;
} cs_config_error_t;

/* One valid connection. Strings are owned by the config that holds it. */
typedef struct {
    const char *name;
    const char *plugin;
    bool aggregator;      /* type = "aggregator" */
    bool import_disabled; /* import_schema = "disabled" */
    const char **members; /* aggregators: connection names or globs */
    size_t member_count;
    const char *file; /* the path of its .spc file */
    int start_line;
    int end_line;
    char fingerprint[17];    /* hex: stable hash of the canonical config */
    const char *config_json; /* the plugin's config (every other attribute and block),
                                as JSON in written order; may hold secrets */
    const cs_block_t *block; /* its parse tree */
} cs_connection_t;

/* A file that failed: none of its connections were loaded. names are the connection
 * names that could still be read from it, so that a caller can keep (not delete) them. */
typedef struct {
    const char *path;
    const char **names;
    size_t name_count;
} cs_failed_file_t;

/* The result of loading a directory or a text. */
typedef struct cs_config_s {
    cs_connection_t *connections; /* files in name order, blocks in file order */
    size_t count;
    cs_config_error_t *errors;
    size_t error_count;
    cs_failed_file_t *failed;
    size_t failed_count;
    size_t file_count; /* .spc files read */
    bool dir_failed;   /* the directory itself could not be read: nothing is known */
    cs_arena_t *arena;
    cs_connection_t **by_name; /* index for cs_config_find */
    /* A directory load is made of one unit per file, each with its own arena (owned), so
     * that a reload can keep the units of unchanged files. */
    struct cs_config_s **units;
    size_t unit_count;
    /* A unit: the file it was read from, and that file's identity when it was read; reused:
     * taken over from the previous load by cs_config_reload_dir, not parsed again. */
    const char *source;
    bool reused;
    int64_t source_mtime_ns;
    int64_t source_size;
    uint64_t source_ino;
} cs_config_t;

/* Loads every *.spc file of dir (sorted by name, not recursive). A file with any error
 * contributes its errors and no connection; the others load normally. A missing or
 * unreadable directory is an error of the result. Returns NULL only when out of memory;
 * the caller destroys the result. Blocks on file I/O. */
cs_config_t *cs_config_load_dir(const char *dir);

/* Like cs_config_load_dir, but the files whose path, size, modification time and inode are
 * those previous read are not parsed again: their results move out of previous (NULL: parse
 * everything), which the caller still destroys. Returns NULL only when out of memory. */
cs_config_t *cs_config_reload_dir(const char *dir, cs_config_t *previous);

/* Loads one file's text (len bytes, need not be NUL-terminated); file names it in errors.
 * Same rules and ownership as cs_config_load_dir. */
cs_config_t *cs_config_load_text(const char *file, const char *text, size_t len);

/* $env when set (env may be NULL), else ~/.connstate/LEAF, from $HOME or the password
 * database. malloc'd; NULL when there is no home directory. */
char *cs_home_path(const char *env, const char *leaf);

/* An option's value: flag when given, else $env when set and not empty, else fallback.
 * Borrowed. */
const char *cs_opt(const char *flag, const char *env, const char *fallback);

/* DIR/relative, where DIR holds the running executable (/proc/self/exe): how programs find
 * what was installed beside them. malloc'd; NULL when the executable cannot be read. */
char *cs_exe_path(const char *relative);

/* The default config directory: $CONNSTATE_CONFIG_DIR, else ~/.connstate/config.
 * malloc'd; NULL when there is no home directory. */
char *cs_config_default_dir(void);

/* Returns the connection with that name, or NULL. Borrowed. */
const cs_connection_t *cs_config_find(const cs_config_t *self, const char *name);

/* True when a directory entry of this name is a file the loader reads: NAME.spc, not
 * hidden. (The supervisor's directory watch ignores every other file.) */
bool cs_config_file_name(const char *name);

/* Returns true when name was declared in a file that failed to load. */
bool cs_config_name_failed(const cs_config_t *self, const char *name);

/* Returns the first error of a failed file, or NULL. Borrowed. */
const cs_config_error_t *cs_config_file_error(const cs_config_t *self, const char *path);

/* Frees everything and NULLs *self_p. Idempotent. */
void cs_config_destroy(cs_config_t **self_p);

/* Checks a connection name: 1-63 bytes of [a-z0-9_], not starting with a digit, not
 * reserved (public, information_schema, connstate_internal, pg_*). Returns NULL when
 * valid, else a static text saying what is wrong. */
const char *cs_config_name_problem(const char *name);

/* Parses one file into the arena. Returns the tree, or NULL with one error written to
 * *error (allocated in the arena). Exposed for tests and the fuzzer. */
cs_hcl_file_t *cs_hcl_parse(cs_arena_t *arena, const char *file, const char *text, size_t len,
                            cs_config_error_t *error);

/* Arena: allocations freed all at once. cs_arena_new returns NULL when out of memory. */
cs_arena_t *cs_arena_new(void);
void *cs_arena_alloc(cs_arena_t *self, size_t size);
char *cs_arena_strndup(cs_arena_t *self, const char *text, size_t len);
/* Returns items when count < *cap, else a copy with twice the capacity (*cap updated);
 * NULL when out of memory. For arena vectors: items = cs_arena_grow(...); items[count++] = x */
void *cs_arena_grow(cs_arena_t *self, void *items, size_t count, size_t *cap, size_t elem_size);
void cs_arena_destroy(cs_arena_t **self_p);

#endif
