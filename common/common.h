/* Private header of common/: what its modules share. */
#ifndef CS_COMMON_PRIVATE_H
#define CS_COMMON_PRIVATE_H

#include <stdarg.h>

#include "cs_arena.h"
#include "cs_buf.h"
#include "cs_clock.h"
#include "cs_config.h"
#include "cs_digest.h"
#include "cs_log.h"
#include "cs_marker.h"
#include "cs_paths.h"

/* A per-file cap on what a load lists (errors, ignored settings): past max entries of one
 * file (pos.file) the rest are counted, with the place of the last. */
typedef struct {
    const char *file;
    size_t kept, dropped;
    cs_pos_t dropped_at;
} cs_load_cap_t;

/* Whether an entry at pos is still listed (else it is counted) (config.c). */
bool cs_load_cap_take(cs_load_cap_t *cap, cs_pos_t pos, size_t max);

/* A load in progress: the result being built (loader.c), into which the validation of each
 * connection block (config.c) reports its errors. Its vectors grow in the result's arena. */
typedef struct {
    cs_config_t *cfg;
    size_t conn_cap, error_cap, failed_cap, ignored_cap, plugin_cap;
    bool oom;         /* an allocation failed: the load returns NULL */
    bool file_failed; /* the file being loaded has an error */
    /* At most CS_CONFIG_MAX_ERRORS errors are recorded per file, and cs_load_errors_done says
     * how many more there were; the same for what is ignored (CS_CONFIG_MAX_IGNORED,
     * cs_settings_done). */
    cs_load_cap_t errors, ignored;
} cs_load_t;

/* The load's vector helpers (config.c): as cs_arena_grow and cs_arena_strndup in the
 * result's arena; a NULL return also sets ld->oom. */
void *cs_load_grow(cs_load_t *ld, void *items, size_t count, size_t *cap, size_t elem_size);
const char *cs_load_strdup(cs_load_t *ld, const char *text);

/* The message formatted and copied into the result's arena (NULL, and ld->oom, when out of
 * memory). */
const char *cs_load_vformat(cs_load_t *ld, const char *fmt, va_list args);

/* Records an error at pos (the message is formatted, then copied into the arena) and marks
 * the current file failed (config.c). */
void cs_load_error(cs_load_t *ld, cs_pos_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records, when errors were dropped for the cap, one more error saying how many (config.c). */
void cs_load_errors_done(cs_load_t *ld);

/* Validates one connection block (config.c). Returns 0 with *out filled (everything but
 * config_json and fingerprint, which the loader adds), or -1 with its errors recorded in
 * ld. Strings in *out are borrowed from the tree. Never blocks. */
int cs_config_check(cs_load_t *ld, const cs_block_t *block, cs_connection_t *out)
    __attribute__((warn_unused_result));

/* A connection's config JSON (both forms: cs_canon_config_forms) of this many bytes or more
 * is adopted by the arena that keeps it, not copied (loader.c, keep.c). */
#define CS_LOAD_JSON_ADOPT (64 * 1024)

/* Moves everything the load of one file (file: its path, in the arena) put in ld->cfg, which
 * is not resolved or indexed yet, into a new arena of its exact size, and frees the old arena
 * with the file's parse tree (keep.c). The connections stay in the array the load made them
 * in (ld->cfg->connections_owned, with room for every connection block), cut to their number:
 * the config's own when apart is set (a unit's: see cs_config_t), else taken into the new
 * arena. Sets ld->oom when out of memory. Never blocks. */
void cs_load_keep(cs_load_t *ld, const char *file, bool apart);

#define CS_CONFIG_MAX_REF       512 /* bytes of a plugin reference ("turbot/aws@^0.5") */
#define CS_CONFIG_MAX_IMAGE     (CS_CONFIG_MAX_REF + 48)
#define CS_CONFIG_MAX_MEMORY_MB 1048576 /* a plugin instance's memory_max_mb: 1 TiB */

/* Reads a plugin reference as Steampipe writes it: "aws", "turbot/aws", "csv@0.5.0",
 * "hub.steampipe.io/plugins/turbot/aws@latest", "local/oci" (config.c). Writes its short name
 * (the last path segment without the version: a file of the plugin directory) into name, the
 * full reference by which Steampipe matches a connection to a plugin instance into image
 * ("hub.steampipe.io/plugins/turbot/aws@latest"), and points *constraint into ref after '@'
 * (NULL for none or latest; a leading 'v' skipped). Returns NULL, or a static text saying
 * what is wrong (a bad constraint: cs_semver's text). Never blocks. */
const char *cs_config_parse_ref(const char *ref, char name[CS_CONFIG_MAX_REF + 1],
                                char image[CS_CONFIG_MAX_IMAGE], const char **constraint);

/* Takes a top-level block other than connection (settings.c): plugin, options, workspace.
 * Records what it honours and what it ignores in ld->cfg; returns -1 with an error recorded
 * for a block type that is none of these. Never costs the file its connections otherwise. */
int cs_settings_block(cs_load_t *ld, const cs_block_t *block);

/* Adds one entry saying how many ignored settings were not listed (settings.c). */
void cs_settings_done(cs_load_t *ld);

/* Records something accepted but not acted on (settings.c), at most CS_CONFIG_MAX_IGNORED
 * per file. */
void cs_settings_ignore(cs_load_t *ld, cs_pos_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds a unit's settings to the directory's result (settings.c): ignored entries appended,
 * a database option kept from the first file that set it (a later one is ignored). */
void cs_settings_merge(cs_load_t *ld, const cs_config_t *unit);

#endif
