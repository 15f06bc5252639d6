/* Bounds check of untrusted msgpack bytes before msgpack-c sees them (it has no limits). */
#include "proto.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const unsigned char *data;
    size_t size;
    size_t pos;
    char *why;
    size_t why_size;
} s_scan_t;

static int s_fail(s_scan_t *scan, const char *what)
{
    if (scan->why && scan->why_size)
        snprintf(scan->why, scan->why_size, "%s at byte %zu", what, scan->pos);
    return -1;
}

/* Reads an n-byte big-endian length at pos; -1 when the bytes are not there. */
static int s_read_length(s_scan_t *scan, size_t n, uint64_t *value)
{
    if (scan->size - scan->pos < n)
        return s_fail(scan, "truncated length");
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | scan->data[scan->pos + i];
    scan->pos += n;
    *value = v;
    return 0;
}

/* Skips `len` payload bytes, which must all remain and respect the cap. */
static int s_skip(s_scan_t *scan, uint64_t len, uint64_t cap, const char *what)
{
    if (len > cap) {
        char text[96];
        snprintf(text, sizeof text, "%s of %llu bytes exceeds the limit of %llu", what,
                 (unsigned long long)len, (unsigned long long)cap);
        return s_fail(scan, text);
    }
    if (len > scan->size - scan->pos) {
        char text[96];
        snprintf(text, sizeof text, "%s of %llu bytes but only %zu remain", what,
                 (unsigned long long)len, scan->size - scan->pos);
        return s_fail(scan, text);
    }
    scan->pos += (size_t)len;
    return 0;
}

static int s_check_object(s_scan_t *scan, int depth);

/* A container of `count` objects (maps: 2 per entry) at nesting level depth+1. */
static int s_check_container(s_scan_t *scan, uint64_t entries, bool is_map, int depth)
{
    if (depth + 1 > CS_PROTO_MAX_DEPTH)
        return s_fail(scan, "nesting deeper than the limit");
    if (entries > CS_PROTO_MAX_ITEMS) {
        char text[96];
        snprintf(text, sizeof text, "%s of %llu entries exceeds the limit of %d",
                 is_map ? "map" : "array", (unsigned long long)entries, CS_PROTO_MAX_ITEMS);
        return s_fail(scan, text);
    }
    uint64_t objects = is_map ? entries * 2 : entries;
    if (objects > scan->size - scan->pos) /* every object takes at least one byte */
        return s_fail(scan, is_map ? "map longer than the bytes that remain"
                                   : "array longer than the bytes that remain");
    for (uint64_t i = 0; i < objects; i++)
        if (s_check_object(scan, depth + 1) != 0)
            return -1;
    return 0;
}

static int s_check_object(s_scan_t *scan, int depth)
{
    if (scan->pos >= scan->size)
        return s_fail(scan, "truncated data");
    unsigned char b = scan->data[scan->pos++];
    uint64_t len;

    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 0; /* fixint, nil, bool */
    if ((b & 0xf0) == 0x80)
        return s_check_container(scan, b & 0x0f, true, depth);
    if ((b & 0xf0) == 0x90)
        return s_check_container(scan, b & 0x0f, false, depth);
    if ((b & 0xe0) == 0xa0)
        return s_skip(scan, b & 0x1f, CS_PROTO_MAX_BODY, "string");
    /* bin, ext and str 8/16/32: a length of 1, 2 or 4 bytes, then (ext) a type byte */
    static const struct {
        unsigned char first;
        unsigned extra;
        const char *what;
    } sized[] = {{0xc4, 0, "binary"}, {0xc7, 1, "extension"}, {0xd9, 0, "string"}};
    for (size_t i = 0; i < sizeof sized / sizeof *sized; i++) {
        if (b < sized[i].first || b > sized[i].first + 2)
            continue;
        if (s_read_length(scan, (size_t)1 << (b - sized[i].first), &len) != 0)
            return -1;
        return s_skip(scan, len + sized[i].extra, CS_PROTO_MAX_BODY, sized[i].what);
    }
    if (b == 0xca || b == 0xcb) /* float 32/64 */
        return s_skip(scan, b == 0xca ? 4 : 8, 8, "float");
    if (b >= 0xcc && b <= 0xd3) /* uint 8..64, then int 8..64 */
        return s_skip(scan, (uint64_t)1 << ((b - 0xcc) % 4), 8, "integer");

    switch (b) {
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8: /* fixext 1..16 + type byte */
            return s_skip(scan, ((uint64_t)1 << (b - 0xd4)) + 1, 17, "extension");
        case 0xdc:
        case 0xdd: /* array 16/32 */
            if (s_read_length(scan, b == 0xdc ? 2 : 4, &len) != 0)
                return -1;
            return s_check_container(scan, len, false, depth);
        case 0xde:
        case 0xdf: /* map 16/32 */
            if (s_read_length(scan, b == 0xde ? 2 : 4, &len) != 0)
                return -1;
            return s_check_container(scan, len, true, depth);
        default: /* 0xc1 is never used */
            scan->pos--;
            return s_fail(scan, "invalid msgpack type byte 0xc1");
    }
}

int cs_msgpack_check(const void *data, size_t size, char *why, size_t why_size)
{
    s_scan_t scan = {data, size, 0, why, why_size};
    if (size == 0)
        return s_fail(&scan, "empty body");
    if (size > CS_PROTO_MAX_BODY)
        return s_fail(&scan, "body larger than the limit of 4 MiB");
    if (s_check_object(&scan, 0) != 0)
        return -1;
    if (scan.pos != size)
        return s_fail(&scan, "trailing bytes after the message");
    return 0;
}

/* Reads an unsigned integer at pos (fixint, uint 8..64, or a signed int 8..64 that is not
 * negative, as msgpack-c decodes them); returns 0 with *value, or -1 (then pos is not moved)
 * for anything else. The bytes were checked to be there. */
static int s_read_uint(s_scan_t *scan, uint64_t *value)
{
    unsigned char b = scan->data[scan->pos];
    if (b <= 0x7f) {
        *value = b;
        scan->pos++;
        return 0;
    }
    if (b < 0xcc || b > 0xd3)
        return -1;
    size_t n = (size_t)1 << ((b - 0xcc) % 4);
    const unsigned char *p = scan->data + scan->pos + 1;
    if (b >= 0xd0 && (p[0] & 0x80))
        return -1; /* negative */
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    *value = v;
    scan->pos += 1 + n;
    return 0;
}

int cs_msg_peek_request_id(const void *data, size_t size, uint64_t *request_id)
{
    if (cs_msgpack_check(data, size, NULL, 0) != 0)
        return -1;
    s_scan_t scan = {data, size, 0, NULL, 0};
    unsigned char b = scan.data[scan.pos++];
    uint64_t entries = 0;
    if ((b & 0xf0) == 0x80)
        entries = b & 0x0f;
    else if (b == 0xde || b == 0xdf)
        (void)s_read_length(&scan, b == 0xde ? 2 : 4, &entries); /* checked: it is there */
    else
        return -1; /* not a map */
    uint64_t type = 0, id = 0;
    int types = 0, ids = 0;
    for (uint64_t i = 0; i < entries; i++) {
        uint64_t key;
        bool integer = s_read_uint(&scan, &key) == 0;
        if (!integer && s_check_object(&scan, 1) != 0) /* a key that is not an integer */
            return -1;
        if (!integer || key > 1) {
            if (s_check_object(&scan, 1) != 0) /* a value we do not look at */
                return -1;
            continue;
        }
        if (s_read_uint(&scan, key == 0 ? &type : &id) != 0)
            return -1; /* the type or the request_id is not an unsigned integer */
        types += key == 0;
        ids += key == 1;
    }
    if (types != 1 || ids != 1 || type < CS_PROTO_CONTROL_TYPES)
        return -1;
    *request_id = id;
    return 0;
}
