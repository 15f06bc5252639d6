/* Schema markers: the comment that says connstate owns a schema and what built it. */
#include "common.h"

#include "cs_marker.h"

#include <stdio.h>
#include <string.h>

int cs_marker_format(const cs_marker_t *marker, char *out, size_t size)
{
    int n = snprintf(out, size,
                     CS_MARKER_PREFIX " fingerprint=%s; plugin=%s; plugin_version=%s; "
                                      "schema_hash=%s%s",
                     marker->fingerprint, marker->plugin, marker->plugin_version,
                     marker->schema_hash, marker->aggregator ? "; kind=aggregator" : "");
    return (n < 0 || (size_t)n >= size) ? -1 : 0;
}

static void s_copy_field(char *dst, size_t size, const char *value, size_t len)
{
    if (len >= size)
        len = size - 1;
    memcpy(dst, value, len);
    dst[len] = '\0';
}

int cs_marker_parse(const char *text, cs_marker_t *marker)
{
    memset(marker, 0, sizeof *marker);
    size_t prefix = strlen(CS_MARKER_PREFIX);
    if (!text || strncmp(text, CS_MARKER_PREFIX, prefix) != 0)
        return -1;
    const char *p = text + prefix;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (eq) {
            size_t key_len = (size_t)(eq - p), value_len = len - key_len - 1;
            if (key_len == 11 && strncmp(p, "fingerprint", 11) == 0)
                s_copy_field(marker->fingerprint, sizeof marker->fingerprint, eq + 1, value_len);
            else if (key_len == 6 && strncmp(p, "plugin", 6) == 0)
                s_copy_field(marker->plugin, sizeof marker->plugin, eq + 1, value_len);
            else if (key_len == 14 && strncmp(p, "plugin_version", 14) == 0)
                s_copy_field(marker->plugin_version, sizeof marker->plugin_version, eq + 1,
                             value_len);
            else if (key_len == 11 && strncmp(p, "schema_hash", 11) == 0)
                s_copy_field(marker->schema_hash, sizeof marker->schema_hash, eq + 1, value_len);
            else if (key_len == 4 && strncmp(p, "kind", 4) == 0)
                marker->aggregator = value_len == 10 && strncmp(eq + 1, "aggregator", 10) == 0;
        }
        p += len;
        if (*p == ';')
            p++;
    }
    return 0;
}

int cs_marker_version_ok(const char *version)
{
    size_t len = strlen(version);
    if (len == 0 || len > 64)
        return 0;
    return strspn(version, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+~-") ==
           len;
}

#define S_TEMP_NEW "cs$new$"
#define S_TEMP_OLD "cs$old$"

int cs_marker_temp_name(const char *connection, cs_marker_temp_t kind, char *out, size_t size)
{
    if (size < CS_MARKER_TEMP_NAME_SIZE)
        return -1;
    char hex[CS_DIGEST_HEX_SIZE];
    if (cs_digest_hex16(connection, strlen(connection), hex) != 0)
        return -1;
    snprintf(out, size, "%s%s", kind == CS_MARKER_TEMP_NEW ? S_TEMP_NEW : S_TEMP_OLD, hex);
    return 0;
}

bool cs_marker_is_temp_name(const char *schema)
{
    if (strncmp(schema, S_TEMP_NEW, CS_MARKER_TEMP_HASH_AT) != 0 &&
        strncmp(schema, S_TEMP_OLD, CS_MARKER_TEMP_HASH_AT) != 0)
        return false;
    const char *hex = schema + CS_MARKER_TEMP_HASH_AT;
    return strlen(hex) == 16 && strspn(hex, "0123456789abcdef") == 16;
}
