/* cs_marker: the comment that marks a schema as connstate's and says what built it.
 * Written in the same transaction as the schema's DDL. None of these functions blocks. */
#ifndef CS_MARKER_H
#define CS_MARKER_H

#include <stdbool.h>
#include <stddef.h>

#define CS_MARKER_PREFIX "connstate marker v1;"

typedef struct {
    char fingerprint[17]; /* the connection's config fingerprint */
    char plugin[256];
    char plugin_version[65];
    char schema_hash[17]; /* hash of the plugin's schema (an aggregator's: of its views) */
    bool aggregator;      /* "kind=aggregator": the schema holds an aggregator's views */
} cs_marker_t;

/* Writes "connstate marker v1; fingerprint=...; plugin=...; plugin_version=...;
 * schema_hash=..." (and "; kind=aggregator" for an aggregator's schema) into out. Returns 0, or -1
 * when it does not fit. */
int cs_marker_format(const cs_marker_t *marker, char *out, size_t size)
    __attribute__((warn_unused_result));

/* Parses a schema comment. Returns 0 when it is a connstate marker (fields filled; unknown
 * fields ignored), -1 when text is NULL or anything else (a schema connstate does not own). */
int cs_marker_parse(const char *text, cs_marker_t *marker) __attribute__((warn_unused_result));

/* Returns 1 when a plugin version can go into a marker: 1-64 of [A-Za-z0-9._+~-]. */
int cs_marker_version_ok(const char *version);

/* Temporary schemas: an update too big for one transaction builds the new schema under a
 * temporary name and renames the old one away before dropping it. Their names are
 * "cs$new$" or "cs$old$" and 16 hex digits of a hash of the connection's name: never a
 * connection's name ([A-Za-z_][A-Za-z0-9_]*), deterministic, and the same digits for both kinds.
 * Each carries a connstate marker, so that a leftover (a crash mid-update) is recognised. */
typedef enum { CS_MARKER_TEMP_NEW, CS_MARKER_TEMP_OLD } cs_marker_temp_t;

#define CS_MARKER_TEMP_NAME_SIZE 24 /* "cs$new$" + 16 hex digits + NUL */
#define CS_MARKER_TEMP_HASH_AT   7  /* where the hex digits start */

/* Writes the temporary schema name of that kind for connection into out. Returns 0, or -1
 * when size is less than CS_MARKER_TEMP_NAME_SIZE. Never blocks. */
int cs_marker_temp_name(const char *connection, cs_marker_temp_t kind, char *out, size_t size)
    __attribute__((warn_unused_result));

/* Returns true when schema is a temporary schema name (of any connection). */
bool cs_marker_is_temp_name(const char *schema);

#endif
