/* cs_marker: the comment on every schema connstate manages, saying it owns the schema and
 * what it was built from. Written in the same transaction as the schema's DDL. */
#ifndef CS_MARKER_H
#define CS_MARKER_H

#include <stddef.h>

#define CS_MARKER_PREFIX "connstate marker v1;"

typedef struct {
    char fingerprint[17]; /* the connection's config fingerprint */
    char plugin[256];
    char plugin_version[65];
    char schema_hash[17]; /* hash of the plugin's schema */
} cs_marker_t;

/* Writes "connstate marker v1; fingerprint=...; plugin=...; plugin_version=...;
 * schema_hash=..." into out. Returns 0, or -1 when it does not fit. */
int cs_marker_format(const cs_marker_t *marker, char *out, size_t size)
    __attribute__((warn_unused_result));

/* Parses a schema comment. Returns 0 when it is a connstate marker (fields filled; unknown
 * fields ignored), -1 when text is NULL or anything else (a schema connstate does not own). */
int cs_marker_parse(const char *text, cs_marker_t *marker) __attribute__((warn_unused_result));

/* Returns 1 when a plugin version can go into a marker: 1-64 of [A-Za-z0-9._+~-]. */
int cs_marker_version_ok(const char *version);

#endif
