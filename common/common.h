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

/* A load in progress: the result being built (loader.c), into which the validation of each
 * connection block (config.c) reports its errors. Its vectors grow in the result's arena. */
typedef struct {
    cs_config_t *cfg;
    size_t conn_cap, error_cap, failed_cap, ignored_cap;
    bool oom;         /* an allocation failed: the load returns NULL */
    bool file_failed; /* the file being loaded has an error */
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

/* Validates one connection block (config.c). Returns 0 with *out filled (everything but
 * config_json and fingerprint, which the loader adds), or -1 with its errors recorded in
 * ld. Strings in *out are borrowed from the tree. Never blocks. */
int cs_config_check(cs_load_t *ld, const cs_block_t *block, cs_connection_t *out)
    __attribute__((warn_unused_result));

/* Takes a top-level block other than connection (settings.c): plugin, options, workspace.
 * Records what it honours and what it ignores in ld->cfg; returns -1 with an error recorded
 * for a block type that is none of these. Never costs the file its connections otherwise. */
int cs_settings_block(cs_load_t *ld, const cs_block_t *block);

/* Records something accepted but not acted on (settings.c). */
void cs_settings_ignore(cs_load_t *ld, cs_pos_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Adds a unit's settings to the directory's result (settings.c): ignored entries appended,
 * a database option kept from the first file that set it (a later one is ignored). */
void cs_settings_merge(cs_load_t *ld, const cs_config_t *unit);

#endif
