/* The message codec: one field table per message type drives both encoding and decoding. */
#include "proto.h"

#include <msgpack.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    F_U32,     /* uint32_t, lo..hi (hi 0: no upper bound) */
    F_U64,     /* uint64_t, lo.. */
    F_I64,     /* int64_t */
    F_BOOL,    /* bool */
    F_STR,     /* char *, at most hi bytes of UTF-8 without NUL */
    F_STATUS,  /* cs_status_t, 0..hi */
    F_KIND,    /* cs_task_kind_t */
    F_ROWS,    /* cs_row_t *rows + uint32_t row_count (message only) */
    F_WORKERS, /* cs_worker_row_t *worker_rows + uint32_t worker_row_count (message only) */
    F_COUNTS,  /* uint32_t counts[CS_STATUS_COUNT] (message only) */
    F_ENV,     /* cs_strs_t of at most hi "NAME=VALUE" entries (message only) */
    F_STRS     /* cs_strs_t of at most hi strings of 1..lo bytes of UTF-8 without NUL */
} s_ftype_t;

typedef struct {
    uint8_t key;
    uint8_t type;
    bool required;
    uint64_t lo;
    uint64_t hi;
    size_t offset;
    const char *name;
} s_field_t;

#define REQ true
#define OPT false
#define M(key, type, req, lo, hi, member)                                                          \
    {                                                                                              \
        key, type, req, lo, hi, offsetof(cs_msg_t, member), #member                                \
    }
#define R(key, type, req, lo, hi, member)                                                          \
    {                                                                                              \
        key, type, req, lo, hi, offsetof(cs_row_t, member), #member                                \
    }
#define W(key, type, req, lo, hi, member)                                                          \
    {                                                                                              \
        key, type, req, lo, hi, offsetof(cs_worker_row_t, member), #member                         \
    }

static const s_field_t s_ready[] = {
    M(1, F_U32, REQ, 1, CS_PROTO_MAX_CAPACITY, capacity),
    M(2, F_STR, OPT, 0, CS_PROTO_MAX_SHORT, name),
    M(3, F_U32, OPT, 0, 0, pid),
};
static const s_field_t s_task[] = {
    M(1, F_U64, REQ, 1, 0, task_id),
    M(2, F_KIND, REQ, 0, 0, kind),
    M(3, F_STR, REQ, 0, CS_PROTO_MAX_NAME, connection),
    M(4, F_STR, OPT, 0, CS_PROTO_MAX_SHORT, plugin),
    M(5, F_STR, OPT, 0, CS_PROTO_MAX_CONFIG, config),
    M(6, F_STR, OPT, 0, CS_PROTO_MAX_SHORT, fingerprint),
    M(7, F_U32, OPT, 0, 0, attempt),
    M(8, F_BOOL, OPT, 0, 0, fresh),
    M(9, F_STR, OPT, 0, CS_PROTO_MAX_SHORT, plugin_version),
    M(10, F_U32, OPT, 0, CS_PROTO_MAX_MEMORY_MB, memory_max_mb),
    M(11, F_ENV, OPT, 0, CS_PROTO_MAX_ENV, env),
    M(12, F_STR, OPT, 0, CS_PROTO_MAX_CONFIG, members),
};
static const s_field_t s_result[] = {
    M(1, F_U64, REQ, 1, 0, task_id),
    M(2, F_STR, REQ, 0, CS_PROTO_MAX_NAME, connection),
    M(3, F_BOOL, REQ, 0, 0, ok),
    M(4, F_STR, OPT, 0, CS_PROTO_MAX_ERROR, error),
    M(5, F_STR, OPT, 0, CS_PROTO_MAX_SHORT, plugin_version),
    M(6, F_STR, OPT, 0, CS_PROTO_MAX_SHORT, schema_hash),
    M(7, F_U32, OPT, 0, 0, tables),
    M(8, F_U32, OPT, 0, 0, ddl_count),
    M(9, F_U64, OPT, 0, 0, elapsed_us),
    M(10, F_KIND, OPT, 0, 0, kind),
    M(11, F_BOOL, OPT, 0, 0, retry),
    M(12, F_BOOL, OPT, 0, 0, worker_fault),
    M(13, F_STRS, OPT, CS_PROTO_MAX_WATCH_PATH, CS_PROTO_MAX_WATCH, watch),
};
static const s_field_t s_heartbeat[] = {
    M(1, F_U32, OPT, 0, 0, in_flight),
    M(2, F_U64, OPT, 0, 0, last_task_id),
};
static const s_field_t s_disconnect[] = {
    M(1, F_STR, OPT, 0, CS_PROTO_MAX_ERROR, reason),
};
static const s_field_t s_state[] = {
    M(1, F_U64, REQ, 1, 0, seq),
    M(2, F_STR, REQ, 0, CS_PROTO_MAX_NAME, connection),
    M(3, F_STATUS, REQ, 0, CS_STATUS_DELETED, status),
    M(4, F_STR, OPT, 0, CS_PROTO_MAX_ERROR, error),
    M(5, F_I64, REQ, 0, 0, time_us),
    M(6, F_BOOL, OPT, 0, 0, comments_set),
    M(7, F_STR, OPT, 0, CS_PROTO_MAX_SHORT, plugin),
};
static const s_field_t s_pub_heartbeat[] = {
    M(1, F_U64, REQ, 0, 0, seq),      M(2, F_U64, REQ, 0, 0, instance),
    M(3, F_I64, OPT, 0, 0, time_us),  M(4, F_I64, OPT, 0, 0, db_down_since),
    M(5, F_BOOL, OPT, 0, 0, standby),
};
static const s_field_t s_snapshot_req[] = {
    M(1, F_U64, REQ, 0, 0, request_id),
    M(2, F_STR, OPT, 0, CS_PROTO_MAX_NAME, prefix),
};
static const s_field_t s_snapshot_rows[] = {
    M(1, F_U64, REQ, 0, 0, request_id),
    M(2, F_ROWS, REQ, 0, CS_PROTO_MAX_ROWS, rows),
};
static const s_field_t s_snapshot_end[] = {
    M(1, F_U64, REQ, 0, 0, request_id),
    M(2, F_U64, REQ, 0, 0, seq),
    M(3, F_U64, REQ, 0, 0, instance),
    M(4, F_U32, OPT, 0, 0, total),
};
static const s_field_t s_refresh_req[] = {
    M(1, F_U64, REQ, 0, 0, request_id),
    M(2, F_BOOL, OPT, 0, 0, wait),
    M(3, F_STRS, OPT, CS_PROTO_MAX_NAME, CS_PROTO_MAX_NAMES, names),
    M(4, F_BOOL, OPT, 0, 0, full),
};
static const s_field_t s_refresh_rep[] = {
    M(1, F_U64, REQ, 0, 0, request_id), M(2, F_BOOL, REQ, 0, 0, done),
    M(3, F_COUNTS, OPT, 0, 0, counts),  M(4, F_U64, OPT, 0, 0, elapsed_us),
    M(5, F_U64, OPT, 0, 0, generation), M(6, F_U32, OPT, 0, 0, total),
};
static const s_field_t s_status_req[] = {
    M(1, F_U64, REQ, 0, 0, request_id),
    M(2, F_BOOL, OPT, 0, 0, with_workers),
};
static const s_field_t s_status_rep[] = {
    M(1, F_U64, REQ, 0, 0, request_id),
    M(2, F_COUNTS, REQ, 0, 0, counts),
    M(3, F_U64, REQ, 0, 0, seq),
    M(4, F_U64, REQ, 0, 0, instance),
    M(5, F_U32, OPT, 0, 0, workers),
    M(6, F_U32, OPT, 0, 0, in_flight),
    M(7, F_U32, OPT, 0, 0, queued),
    M(8, F_BOOL, OPT, 0, 0, refreshing),
    M(9, F_U64, OPT, 0, 0, generation),
    M(10, F_U32, OPT, 0, 0, total),
    M(11, F_I64, OPT, 0, 0, db_down_since),
    M(12, F_STR, OPT, 0, CS_PROTO_MAX_ERROR, db_error),
    M(13, F_BOOL, OPT, 0, 0, standby),
    M(14, F_WORKERS, OPT, 0, CS_PROTO_MAX_WORKER_ROWS, worker_rows),
};
static const s_field_t s_error[] = {
    M(1, F_U64, OPT, 0, 0, request_id),
    M(2, F_STR, REQ, 0, CS_PROTO_MAX_ERROR, reason),
};
static const s_field_t s_row[] = {
    R(1, F_STR, REQ, 0, CS_PROTO_MAX_NAME, connection),
    R(2, F_STATUS, REQ, 0, CS_STATUS_DISABLED, status),
    R(3, F_STR, OPT, 0, CS_PROTO_MAX_ERROR, error),
    R(4, F_I64, REQ, 0, 0, time_us),
    R(5, F_BOOL, OPT, 0, 0, comments_set),
    R(6, F_U64, OPT, 0, 0, seq),
    R(7, F_STR, OPT, 0, CS_PROTO_MAX_SHORT, plugin),
};
static const s_field_t s_worker_row[] = {
    W(1, F_STR, REQ, 0, CS_PROTO_MAX_SHORT, name),
    W(2, F_U32, OPT, 0, 0, pid),
    W(3, F_U32, OPT, 0, 0, capacity),
    W(4, F_U32, OPT, 0, 0, in_flight),
    W(5, F_U32, OPT, 0, 0, expired),
    W(6, F_U32, OPT, 0, 0, failures),
    W(7, F_I64, OPT, 0, 0, quarantined_until),
    W(8, F_STR, OPT, 0, CS_PROTO_MAX_FAILURE, last_failure),
};

typedef struct {
    cs_msg_type_t type;
    const char *name;
    const s_field_t *fields;
    size_t count;
} s_schema_t;

#define SCHEMA(type, name, table)                                                                  \
    {                                                                                              \
        type, name, table, sizeof table / sizeof *table                                            \
    }
static const s_schema_t s_schemas[] = {
    SCHEMA(CS_MSG_READY, "READY", s_ready),
    SCHEMA(CS_MSG_TASK, "TASK", s_task),
    SCHEMA(CS_MSG_RESULT, "RESULT", s_result),
    SCHEMA(CS_MSG_HEARTBEAT, "HEARTBEAT", s_heartbeat),
    SCHEMA(CS_MSG_DISCONNECT, "DISCONNECT", s_disconnect),
    SCHEMA(CS_MSG_STATE, "STATE", s_state),
    SCHEMA(CS_MSG_PUB_HEARTBEAT, "PUB_HEARTBEAT", s_pub_heartbeat),
    SCHEMA(CS_MSG_SNAPSHOT_REQ, "SNAPSHOT_REQ", s_snapshot_req),
    SCHEMA(CS_MSG_SNAPSHOT_ROWS, "SNAPSHOT_ROWS", s_snapshot_rows),
    SCHEMA(CS_MSG_SNAPSHOT_END, "SNAPSHOT_END", s_snapshot_end),
    SCHEMA(CS_MSG_REFRESH_REQ, "REFRESH_REQ", s_refresh_req),
    SCHEMA(CS_MSG_REFRESH_REP, "REFRESH_REP", s_refresh_rep),
    SCHEMA(CS_MSG_STATUS_REQ, "STATUS_REQ", s_status_req),
    SCHEMA(CS_MSG_STATUS_REP, "STATUS_REP", s_status_rep),
    SCHEMA(CS_MSG_ERROR, "ERROR", s_error),
};
static const s_schema_t s_row_schema = {0, "row", s_row, sizeof s_row / sizeof *s_row};
static const s_schema_t s_worker_schema = {0, "worker", s_worker_row,
                                           sizeof s_worker_row / sizeof *s_worker_row};

/* The lists of maps a message carries (F_ROWS, F_WORKERS): where the array and its count
 * live in cs_msg_t, and what one entry is called in errors. */
typedef struct {
    const s_schema_t *schema;
    size_t array_at; /* offset of the array pointer */
    size_t count_at; /* offset of its uint32_t count */
    size_t size;     /* of one entry */
    const char *many;
} s_list_t;

static const s_list_t s_row_list = {&s_row_schema, offsetof(cs_msg_t, rows),
                                    offsetof(cs_msg_t, row_count), sizeof(cs_row_t), "rows"};
static const s_list_t s_worker_list = {&s_worker_schema, offsetof(cs_msg_t, worker_rows),
                                       offsetof(cs_msg_t, worker_row_count),
                                       sizeof(cs_worker_row_t), "workers"};

static const s_list_t *s_list_of(const s_field_t *field)
{
    return field->type == F_ROWS ? &s_row_list : &s_worker_list;
}

static uint32_t *s_list_count(const s_list_t *list, const void *msg)
{
    return (uint32_t *)((char *)msg + list->count_at);
}

static char **s_list_array(const s_list_t *list, const void *msg)
{
    return (char **)((char *)msg + list->array_at);
}

static const char *const s_status_names[CS_STATUS_COUNT] = {
    "pending", "updating", "deleting", "ready", "error", "disabled", "deleted"};

static const s_schema_t *s_schema_of(uint64_t type)
{
    for (size_t i = 0; i < sizeof s_schemas / sizeof *s_schemas; i++)
        if ((uint64_t)s_schemas[i].type == type)
            return &s_schemas[i];
    return NULL;
}

const char *cs_msg_type_name(cs_msg_type_t type)
{
    const s_schema_t *schema = s_schema_of((uint64_t)type);
    return schema ? schema->name : "?";
}

/* The name of a key in a schema's table: its member's name. */
static const char *s_key_name(const s_schema_t *schema, unsigned key)
{
    for (size_t i = 0; schema && i < schema->count; i++)
        if (schema->fields[i].key == key)
            return schema->fields[i].name;
    return "?";
}

const char *cs_msg_key_name(cs_msg_type_t type, unsigned key)
{
    return key == 0 ? "type" : s_key_name(s_schema_of((uint64_t)type), key);
}

const char *cs_row_key_name(unsigned key)
{
    return s_key_name(&s_row_schema, key);
}

const char *cs_status_name(cs_status_t status)
{
    return ((unsigned)status < CS_STATUS_COUNT) ? s_status_names[status] : "?";
}

int cs_status_parse(const char *name, size_t len, cs_status_t *status)
{
    for (int i = 0; i < CS_STATUS_COUNT; i++) {
        if (strlen(s_status_names[i]) == len && memcmp(s_status_names[i], name, len) == 0) {
            *status = (cs_status_t)i;
            return 0;
        }
    }
    return -1;
}

const char *cs_task_kind_name(cs_task_kind_t kind)
{
    switch (kind) {
        case CS_TASK_BUILD:
            return "build";
        case CS_TASK_DELETE:
            return "delete";
        case CS_TASK_COMMENTS:
            return "comments";
        case CS_TASK_AGGREGATE:
            return "aggregate";
    }
    return "?";
}

static bool s_kind_valid(uint64_t kind)
{
    return kind >= CS_TASK_BUILD && kind <= CS_TASK_AGGREGATE;
}

/* ---- construction ---------------------------------------------------------------------- */

cs_msg_t *cs_msg_new(cs_msg_type_t type)
{
    cs_msg_t *self = calloc(1, sizeof *self);
    if (self)
        self->type = type;
    return self;
}

static void s_row_clear(cs_row_t *row)
{
    free(row->connection);
    free(row->error);
    free(row->plugin);
}

static void s_strings_free(void *base, const s_field_t *fields, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (fields[i].type == F_STR) {
            char **slot = (char **)((char *)base + fields[i].offset);
            free(*slot);
            *slot = NULL;
        }
    }
}

void cs_msg_destroy(cs_msg_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_msg_t *self = *self_p;
    /* Free every string member, whatever the type (a message may have been reused). */
    for (size_t i = 0; i < sizeof s_schemas / sizeof *s_schemas; i++)
        s_strings_free(self, s_schemas[i].fields, s_schemas[i].count);
    for (uint32_t i = 0; i < self->row_count; i++)
        s_row_clear(&self->rows[i]);
    free(self->rows);
    for (uint32_t i = 0; i < self->worker_row_count; i++)
        s_strings_free(&self->worker_rows[i], s_worker_schema.fields, s_worker_schema.count);
    free(self->worker_rows);
    cs_strs_clear(&self->env);
    cs_strs_clear(&self->names);
    cs_strs_clear(&self->watch);
    free(self);
    *self_p = NULL;
}

int cs_strs_add(cs_strs_t *self, const char *text)
{
    return cs_strs_add_max(self, text, CS_PROTO_MAX_ENV);
}

int cs_strs_add_max(cs_strs_t *self, const char *text, uint32_t max)
{
    if (self->count >= max)
        return -1;
    char **items = realloc(self->items, (self->count + 1) * sizeof *items);
    if (!items)
        return -1;
    self->items = items;
    if (!(items[self->count] = strdup(text)))
        return -1;
    self->count++;
    return 0;
}

void cs_strs_clear(cs_strs_t *self)
{
    for (uint32_t i = 0; i < self->count; i++)
        free(self->items[i]);
    free(self->items);
    *self = (cs_strs_t){0};
}

bool cs_env_entry_valid(const char *text, size_t len)
{
    const char *eq = memchr(text, '=', len);
    size_t name = eq ? (size_t)(eq - text) : 0;
    if (name == 0 || name > CS_PROTO_MAX_ENV_NAME || (text[0] >= '0' && text[0] <= '9'))
        return false;
    for (size_t i = 0; i < name; i++) {
        char c = text[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

static char *s_strdup_or_null(const char *text)
{
    return text ? strdup(text) : NULL;
}

int cs_msg_add_row(cs_msg_t *self, const char *connection, cs_status_t status, const char *error,
                   int64_t time_us, bool comments_set, uint64_t seq, const char *plugin)
{
    if (self->row_count >= CS_PROTO_MAX_ROWS || !connection)
        return -1;
    cs_row_t *rows = realloc(self->rows, (self->row_count + 1) * sizeof *rows);
    if (!rows)
        return -1;
    self->rows = rows;
    cs_row_t row = {strdup(connection), status, s_strdup_or_null(error), time_us,
                    comments_set,       seq,    s_strdup_or_null(plugin)};
    if (!row.connection || (error && !row.error) || (plugin && !row.plugin)) {
        s_row_clear(&row);
        return -1;
    }
    rows[self->row_count++] = row;
    return 0;
}

int cs_msg_add_worker_row(cs_msg_t *self, const cs_worker_row_t *row)
{
    if (self->worker_row_count >= CS_PROTO_MAX_WORKER_ROWS || !row->name)
        return -1;
    cs_worker_row_t *rows = realloc(self->worker_rows, (self->worker_row_count + 1) * sizeof *rows);
    if (!rows)
        return -1;
    self->worker_rows = rows;
    cs_worker_row_t copy = *row;
    copy.name = strdup(row->name);
    copy.last_failure = s_strdup_or_null(row->last_failure);
    if (!copy.name || (row->last_failure && !copy.last_failure)) {
        s_strings_free(&copy, s_worker_schema.fields, s_worker_schema.count);
        return -1;
    }
    rows[self->worker_row_count++] = copy;
    return 0;
}

/* The entries of an array of strings: what F_ENV and F_STRS share. Each entry is a string of
 * at most max bytes (empty only when empty_ok) of UTF-8 without NUL that valid (when not NULL)
 * accepts; the encoder and the decoder each have their words for why one is refused. */
typedef struct {
    const char *too_long, *not_valid;
} s_reasons_t;

typedef struct {
    uint32_t max;
    bool empty_ok;
    bool (*valid)(const char *text, size_t len);
    s_reasons_t encode_reasons, decode_reasons;
} s_entries_t;

/* The rule of a field's entries: a plugin's environment (F_ENV) takes "NAME=VALUE" entries,
 * a list of strings (F_STRS) entries of 1..lo bytes. */
static s_entries_t s_entries_of(const s_field_t *field)
{
    if (field->type == F_ENV)
        return (s_entries_t){
            CS_PROTO_MAX_ENV_ENTRY,
            true,
            cs_env_entry_valid,
            {"entry too long", "entry is not NAME=VALUE in UTF-8"},
            {"entry longer than the limit", "entry is not NAME=VALUE in UTF-8 without NUL"}};
    return (s_entries_t){
        (uint32_t)field->lo,
        false,
        NULL,
        {"entry empty or too long", "not valid UTF-8"},
        {"entry empty or longer than the limit", "entry is not UTF-8 without NUL"}};
}

/* Why an entry of len bytes at text breaks rule, in the words of reasons; NULL when it keeps
 * to it. */
static const char *s_entry_fault(const s_entries_t *rule, const char *text, size_t len,
                                 s_reasons_t reasons)
{
    if ((len == 0 && !rule->empty_ok) || len > rule->max)
        return reasons.too_long;
    if (memchr(text, '\0', len) || !cs_utf8_valid(text, len) ||
        (rule->valid && !rule->valid(text, len)))
        return reasons.not_valid;
    return NULL;
}

/* ---- encoding -------------------------------------------------------------------------- */

static int s_encode_fail(char *why, size_t why_size, const char *schema, const s_field_t *field,
                         const char *problem)
{
    if (why && why_size)
        snprintf(why, why_size, "%s: key %u (%s): %s", schema, field->key, field->name, problem);
    return -1;
}

static int s_encode_map(msgpack_packer *pk, const s_schema_t *schema, const void *base,
                        bool with_type, char *why, size_t why_size);

static int s_encode_field(msgpack_packer *pk, const s_schema_t *schema, const s_field_t *field,
                          const void *base, char *why, size_t why_size)
{
    const char *slot = (const char *)base + field->offset;
    msgpack_pack_uint8(pk, field->key);
    switch ((s_ftype_t)field->type) {
        case F_U32: {
            uint32_t v = *(const uint32_t *)slot;
            if (v < field->lo || (field->hi && v > field->hi))
                return s_encode_fail(why, why_size, schema->name, field, "value out of range");
            return msgpack_pack_uint32(pk, v);
        }
        case F_U64: {
            uint64_t v = *(const uint64_t *)slot;
            if (v < field->lo)
                return s_encode_fail(why, why_size, schema->name, field, "value out of range");
            return msgpack_pack_uint64(pk, v);
        }
        case F_I64:
            return msgpack_pack_int64(pk, *(const int64_t *)slot);
        case F_BOOL:
            return *(const bool *)slot ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
        case F_STATUS: {
            cs_status_t v = *(const cs_status_t *)slot;
            if ((unsigned)v > field->hi)
                return s_encode_fail(why, why_size, schema->name, field, "unknown status");
            return msgpack_pack_uint8(pk, (uint8_t)v);
        }
        case F_KIND: {
            cs_task_kind_t v = *(const cs_task_kind_t *)slot;
            if (!s_kind_valid((uint64_t)v))
                return s_encode_fail(why, why_size, schema->name, field, "unknown task kind");
            return msgpack_pack_uint8(pk, (uint8_t)v);
        }
        case F_STR: {
            const char *text = *(char *const *)slot;
            size_t len = strlen(text);
            if (len > field->hi)
                return s_encode_fail(why, why_size, schema->name, field, "string too long");
            if (!cs_utf8_valid(text, len))
                return s_encode_fail(why, why_size, schema->name, field, "not valid UTF-8");
            msgpack_pack_str(pk, len);
            return msgpack_pack_str_body(pk, text, len);
        }
        case F_COUNTS: {
            const uint32_t *counts = (const uint32_t *)slot;
            msgpack_pack_array(pk, CS_STATUS_COUNT);
            for (int i = 0; i < CS_STATUS_COUNT; i++)
                msgpack_pack_uint32(pk, counts[i]);
            return 0;
        }
        case F_ENV:
        case F_STRS: {
            const cs_strs_t *strs = (const cs_strs_t *)slot;
            const s_entries_t rule = s_entries_of(field);
            if (strs->count > field->hi)
                return s_encode_fail(why, why_size, schema->name, field, "too many entries");
            msgpack_pack_array(pk, strs->count);
            for (uint32_t i = 0; i < strs->count; i++) {
                const char *text = strs->items[i];
                size_t len = strlen(text);
                const char *fault = s_entry_fault(&rule, text, len, rule.encode_reasons);
                if (fault)
                    return s_encode_fail(why, why_size, schema->name, field, fault);
                msgpack_pack_str(pk, len);
                msgpack_pack_str_body(pk, text, len);
            }
            return 0;
        }
        case F_ROWS:
        case F_WORKERS: {
            const s_list_t *list = s_list_of(field);
            uint32_t n = *s_list_count(list, base);
            const char *entries = *s_list_array(list, base);
            if (n > field->hi) {
                char problem[64];
                snprintf(problem, sizeof problem, "too many %s", list->many);
                return s_encode_fail(why, why_size, schema->name, field, problem);
            }
            msgpack_pack_array(pk, n);
            for (uint32_t i = 0; i < n; i++)
                if (s_encode_map(pk, list->schema, entries + i * list->size, false, why,
                                 why_size) != 0)
                    return -1;
            return 0;
        }
    }
    return -1;
}

/* Absent optional strings (NULL), task kinds (0), worker lists, env and lists of strings (empty)
 * are left out of
 * the map; everything else is written. */
static bool s_field_present(const s_field_t *field, const void *base)
{
    const char *slot = (const char *)base + field->offset;
    if (field->type == F_STR)
        return *(char *const *)slot != NULL;
    if (field->type == F_WORKERS)
        return ((const cs_msg_t *)base)->worker_row_count > 0;
    if (field->type == F_ENV || field->type == F_STRS)
        return ((const cs_strs_t *)slot)->count > 0;
    if (field->type == F_KIND && !field->required)
        return *(const cs_task_kind_t *)slot != 0;
    return true;
}

static int s_encode_map(msgpack_packer *pk, const s_schema_t *schema, const void *base,
                        bool with_type, char *why, size_t why_size)
{
    size_t entries = with_type ? 1 : 0;
    for (size_t i = 0; i < schema->count; i++) {
        const s_field_t *field = &schema->fields[i];
        if (s_field_present(field, base))
            entries++;
        else if (field->required)
            return s_encode_fail(why, why_size, schema->name, field, "required but missing");
    }
    msgpack_pack_map(pk, entries);
    if (with_type) {
        msgpack_pack_uint8(pk, 0);
        msgpack_pack_uint8(pk, (uint8_t)schema->type);
    }
    for (size_t i = 0; i < schema->count; i++)
        if (s_field_present(&schema->fields[i], base) &&
            s_encode_field(pk, schema, &schema->fields[i], base, why, why_size) != 0)
            return -1;
    return 0;
}

/* msgpack-c's writer into a cs_buf_t (which starts small, unlike msgpack_sbuffer's 8 KiB). */
static int s_buf_write(void *data, const char *bytes, size_t len)
{
    cs_buf_t *buf = data;
    cs_buf_append(buf, bytes, len);
    return buf->failed ? -1 : 0;
}

int cs_msg_encode_to(const cs_msg_t *self, cs_buf_t *out, char *why, size_t why_size)
{
    cs_buf_reset(out);
    const s_schema_t *schema = s_schema_of((uint64_t)self->type);
    if (!schema) {
        if (why && why_size)
            snprintf(why, why_size, "unknown message type %d", (int)self->type);
        return -1;
    }
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, s_buf_write);
    int rc = s_encode_map(&pk, schema, self, true, why, why_size);
    if (rc == 0 && out->failed) {
        if (why && why_size)
            snprintf(why, why_size, "out of memory");
        rc = -1;
    }
    if (rc == 0 && out->len > CS_PROTO_MAX_BODY) {
        if (why && why_size)
            snprintf(why, why_size, "%s: body of %zu bytes exceeds the limit", schema->name,
                     out->len);
        rc = -1;
    }
    return rc;
}

int cs_msg_encode(const cs_msg_t *self, char **data, size_t *size, char *why, size_t why_size)
{
    cs_buf_t buf = {0};
    if (cs_msg_encode_to(self, &buf, why, why_size) != 0) {
        cs_buf_free(&buf);
        return -1;
    }
    *size = buf.len;
    *data = cs_buf_take(&buf);
    return *data ? 0 : -1;
}

/* ---- decoding -------------------------------------------------------------------------- */

typedef struct {
    char *why;
    size_t why_size;
    const char *where; /* "TASK" or "SNAPSHOT_ROWS row 3" */
} s_decoder_t;

static const char *s_object_type_name(msgpack_object_type type)
{
    switch (type) {
        case MSGPACK_OBJECT_NIL:
            return "nil";
        case MSGPACK_OBJECT_BOOLEAN:
            return "a boolean";
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            return "an integer";
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            return "a negative integer";
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
            return "a float";
        case MSGPACK_OBJECT_STR:
            return "a string";
        case MSGPACK_OBJECT_ARRAY:
            return "an array";
        case MSGPACK_OBJECT_MAP:
            return "a map";
        case MSGPACK_OBJECT_BIN:
            return "binary data";
        case MSGPACK_OBJECT_EXT:
            return "an extension";
    }
    return "an unknown type";
}

static int s_reject(s_decoder_t *dec, const s_field_t *field, const char *fmt, const char *arg)
{
    if (dec->why && dec->why_size) {
        char problem[160];
        snprintf(problem, sizeof problem, fmt, arg);
        if (field)
            snprintf(dec->why, dec->why_size, "%s: key %u (%s): %s", dec->where, field->key,
                     field->name, problem);
        else
            snprintf(dec->why, dec->why_size, "%s: %s", dec->where, problem);
    }
    return -1;
}

static int s_expect(s_decoder_t *dec, const s_field_t *field, const msgpack_object *value,
                    msgpack_object_type type, const char *expected)
{
    if (value->type == type)
        return 0;
    char text[96];
    snprintf(text, sizeof text, "expected %s, got %s", expected, s_object_type_name(value->type));
    return s_reject(dec, field, "%s", text);
}

static int s_decode_uint(s_decoder_t *dec, const s_field_t *field, const msgpack_object *value,
                         uint64_t max, uint64_t *out)
{
    if (s_expect(dec, field, value, MSGPACK_OBJECT_POSITIVE_INTEGER, "an unsigned integer") != 0)
        return -1;
    uint64_t v = value->via.u64;
    if (v < field->lo || (max && v > max))
        return s_reject(dec, field, "%s", "value out of range");
    *out = v;
    return 0;
}

static int s_decode_map(s_decoder_t *dec, const s_schema_t *schema, const msgpack_object *map,
                        void *base);

/* A list of maps (rows, workers), each entry decoded by its schema. */
static int s_decode_list(s_decoder_t *dec, const s_field_t *field, const msgpack_object *value,
                         void *msg)
{
    const s_list_t *list = s_list_of(field);
    char what[64];
    snprintf(what, sizeof what, "an array of %s", list->many);
    if (s_expect(dec, field, value, MSGPACK_OBJECT_ARRAY, what) != 0)
        return -1;
    uint32_t n = value->via.array.size;
    if (n > field->hi)
        return s_reject(dec, field, "more %s than the limit", list->many);
    if (n == 0)
        return 0;
    char *entries = calloc(n, list->size);
    if (!entries)
        return s_reject(dec, field, "%s", "out of memory");
    *s_list_array(list, msg) = entries;
    const char *where = dec->where;
    char entry_where[64];
    for (uint32_t i = 0; i < n; i++) {
        *s_list_count(list, msg) = i + 1; /* so that destroy frees the partly decoded entry */
        snprintf(entry_where, sizeof entry_where, "%s %s %u", where, list->schema->name, i);
        dec->where = entry_where;
        int rc =
            s_decode_map(dec, list->schema, &value->via.array.ptr[i], entries + i * list->size);
        dec->where = where;
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* An array of strings (F_ENV, F_STRS): at most hi entries, each kept to its field's rule. */
static int s_decode_entries(s_decoder_t *dec, const s_field_t *field, const msgpack_object *value,
                            cs_strs_t *strs)
{
    if (s_expect(dec, field, value, MSGPACK_OBJECT_ARRAY, "an array of strings") != 0)
        return -1;
    uint32_t n = value->via.array.size;
    if (n > field->hi)
        return s_reject(dec, field, "%s", "more entries than the limit");
    if (n == 0)
        return 0;
    strs->items = calloc(n, sizeof *strs->items);
    if (!strs->items)
        return s_reject(dec, field, "%s", "out of memory");
    const s_entries_t rule = s_entries_of(field);
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *item = &value->via.array.ptr[i];
        if (s_expect(dec, field, item, MSGPACK_OBJECT_STR, "a string") != 0)
            return -1;
        const char *ptr = item->via.str.ptr;
        uint32_t len = item->via.str.size;
        const char *fault = s_entry_fault(&rule, ptr, len, rule.decode_reasons);
        if (fault)
            return s_reject(dec, field, "%s", fault);
        if (!(strs->items[i] = strndup(ptr, len)))
            return s_reject(dec, field, "%s", "out of memory");
        strs->count = i + 1; /* so that destroy frees what was decoded */
    }
    return 0;
}

static int s_decode_field(s_decoder_t *dec, const s_field_t *field, const msgpack_object *value,
                          void *base)
{
    char *slot = (char *)base + field->offset;
    uint64_t u;
    switch ((s_ftype_t)field->type) {
        case F_U32:
            if (s_decode_uint(dec, field, value, field->hi ? field->hi : UINT32_MAX, &u) != 0)
                return -1;
            *(uint32_t *)slot = (uint32_t)u;
            return 0;
        case F_U64:
            if (s_decode_uint(dec, field, value, 0, &u) != 0)
                return -1;
            *(uint64_t *)slot = u;
            return 0;
        case F_I64:
            if (value->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
                *(int64_t *)slot = value->via.i64;
                return 0;
            }
            if (s_decode_uint(dec, field, value, INT64_MAX, &u) != 0)
                return -1;
            *(int64_t *)slot = (int64_t)u;
            return 0;
        case F_BOOL:
            if (s_expect(dec, field, value, MSGPACK_OBJECT_BOOLEAN, "a boolean") != 0)
                return -1;
            *(bool *)slot = value->via.boolean;
            return 0;
        case F_STATUS:
            if (s_decode_uint(dec, field, value, field->hi, &u) != 0)
                return -1;
            *(cs_status_t *)slot = (cs_status_t)u;
            return 0;
        case F_KIND:
            if (s_decode_uint(dec, field, value, CS_TASK_AGGREGATE, &u) != 0)
                return -1;
            if (!s_kind_valid(u))
                return s_reject(dec, field, "%s", "unknown task kind");
            *(cs_task_kind_t *)slot = (cs_task_kind_t)u;
            return 0;
        case F_STR: {
            if (value->type == MSGPACK_OBJECT_NIL && !field->required)
                return 0;
            if (s_expect(dec, field, value, MSGPACK_OBJECT_STR, "a string") != 0)
                return -1;
            const char *ptr = value->via.str.ptr;
            uint32_t len = value->via.str.size;
            if (len > field->hi)
                return s_reject(dec, field, "%s", "string longer than the limit");
            if (len > 0 && memchr(ptr, '\0', len))
                return s_reject(dec, field, "%s", "string contains a NUL byte");
            if (!cs_utf8_valid(ptr, len))
                return s_reject(dec, field, "%s", "string is not valid UTF-8");
            char *copy = len > 0 ? strndup(ptr, len) : strdup(""); /* "" may have no ptr */
            if (!copy)
                return s_reject(dec, field, "%s", "out of memory");
            *(char **)slot = copy;
            return 0;
        }
        case F_COUNTS: {
            if (s_expect(dec, field, value, MSGPACK_OBJECT_ARRAY, "an array of counts") != 0)
                return -1;
            if (value->via.array.size != CS_STATUS_COUNT)
                return s_reject(dec, field, "%s", "expected one count per status");
            uint32_t *counts = (uint32_t *)slot;
            for (int i = 0; i < CS_STATUS_COUNT; i++) {
                if (s_decode_uint(dec, field, &value->via.array.ptr[i], UINT32_MAX, &u) != 0)
                    return -1;
                counts[i] = (uint32_t)u;
            }
            return 0;
        }
        case F_ROWS:
        case F_WORKERS:
            return s_decode_list(dec, field, value, base);
        case F_ENV:
        case F_STRS:
            return s_decode_entries(dec, field, value, (cs_strs_t *)slot);
    }
    return -1;
}

/* Checks the keys of a map (unsigned integers, no duplicates, at most CS_PROTO_MAX_KEYS),
 * then decodes every field of the schema; unknown keys are ignored. */
static int s_decode_map(s_decoder_t *dec, const s_schema_t *schema, const msgpack_object *map,
                        void *base)
{
    if (map->type != MSGPACK_OBJECT_MAP) {
        char text[64];
        snprintf(text, sizeof text, "expected a map, got %s", s_object_type_name(map->type));
        return s_reject(dec, NULL, "%s", text);
    }
    uint32_t n = map->via.map.size;
    const msgpack_object_kv *kv = map->via.map.ptr;
    if (n > CS_PROTO_MAX_KEYS)
        return s_reject(dec, NULL, "%s", "map has more keys than the limit");
    for (uint32_t i = 0; i < n; i++) {
        if (kv[i].key.type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
            char text[64];
            snprintf(text, sizeof text, "map key is %s, not an unsigned integer",
                     s_object_type_name(kv[i].key.type));
            return s_reject(dec, NULL, "%s", text);
        }
        for (uint32_t j = 0; j < i; j++) {
            if (kv[j].key.via.u64 == kv[i].key.via.u64) {
                char text[64];
                snprintf(text, sizeof text, "duplicate key %llu",
                         (unsigned long long)kv[i].key.via.u64);
                return s_reject(dec, NULL, "%s", text);
            }
        }
    }
    for (size_t f = 0; f < schema->count; f++) {
        const s_field_t *field = &schema->fields[f];
        const msgpack_object *value = NULL;
        for (uint32_t i = 0; i < n && !value; i++)
            if (kv[i].key.via.u64 == field->key)
                value = &kv[i].val;
        if (!value) {
            if (field->required)
                return s_reject(dec, field, "%s", "required key missing");
            continue;
        }
        if (s_decode_field(dec, field, value, base) != 0)
            return -1;
    }
    return 0;
}

cs_msg_t *cs_msg_decode(const void *data, size_t size, char *why, size_t why_size)
{
    if (cs_msgpack_check(data, size, why, why_size) != 0)
        return NULL;
    s_decoder_t dec = {why, why_size, "message"};

    msgpack_unpacked unpacked;
    msgpack_unpacked_init(&unpacked);
    size_t offset = 0;
    cs_msg_t *self = NULL;
    msgpack_unpack_return rc = msgpack_unpack_next(&unpacked, data, size, &offset);
    if (rc != MSGPACK_UNPACK_SUCCESS || offset != size) {
        s_reject(&dec, NULL, "%s", "malformed msgpack");
        goto done;
    }
    const msgpack_object *root = &unpacked.data;
    if (root->type != MSGPACK_OBJECT_MAP) {
        s_reject(&dec, NULL, "%s", "body is not a map");
        goto done;
    }
    const msgpack_object *type = NULL;
    for (uint32_t i = 0; i < root->via.map.size && !type; i++) {
        const msgpack_object_kv *kv = &root->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_POSITIVE_INTEGER && kv->key.via.u64 == 0)
            type = &kv->val;
    }
    if (!type) {
        s_reject(&dec, NULL, "%s", "message type (key 0) missing");
        goto done;
    }
    const s_schema_t *schema = NULL;
    if (type->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        schema = s_schema_of(type->via.u64);
    if (!schema) {
        s_reject(&dec, NULL, "%s", "unknown message type");
        goto done;
    }
    dec.where = schema->name;
    self = cs_msg_new(schema->type);
    if (!self) {
        s_reject(&dec, NULL, "%s", "out of memory");
        goto done;
    }
    if (s_decode_map(&dec, schema, root, self) != 0)
        cs_msg_destroy(&self);
done:
    msgpack_unpacked_destroy(&unpacked);
    return self;
}

int cs_proto_check_header(const void *data, size_t size, char *why, size_t why_size)
{
    static const char header[] = CS_PROTO_HEADER;
    static const char prefix[] = CS_PROTO_NAME "/";
    if (size == sizeof header - 1 && memcmp(data, header, size) == 0)
        return 0;
    if (why && why_size) {
        if (size > sizeof prefix - 1 && size < sizeof prefix + 16 &&
            memcmp(data, prefix, sizeof prefix - 1) == 0)
            snprintf(why, why_size, "protocol version %.*s is not supported (this peer speaks %s)",
                     (int)(size - (sizeof prefix - 1)), (const char *)data + sizeof prefix - 1,
                     CS_PROTO_HEADER);
        else
            snprintf(why, why_size, "not a connstate peer (header frame is not %s)",
                     CS_PROTO_HEADER);
    }
    return -1;
}
