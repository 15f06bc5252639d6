/* cs_proto: the connstate wire protocol (proto/PROTOCOL.md): message types and the codec.
 * None of these functions blocks. */
#ifndef CS_PROTO_H
#define CS_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cs_buf.h"

/* The first frame of every message: protocol name and version. */
#define CS_PROTO_NAME    "connstate"
#define CS_PROTO_VERSION 1
#define CS_PROTO_HEADER  "connstate/1"

/* Limits enforced by the decoder before anything is allocated. */
#define CS_PROTO_MAX_BODY        (4u * 1024 * 1024) /* bytes in one body frame */
#define CS_PROTO_MAX_DEPTH       4                  /* nesting of maps and arrays */
#define CS_PROTO_MAX_ITEMS       4096               /* elements of any one array or map */
#define CS_PROTO_MAX_KEYS        64                 /* entries of a message or row map */
#define CS_PROTO_MAX_ROWS        1024               /* rows in one SNAPSHOT_ROWS message */
#define CS_PROTO_MAX_NAME        63                 /* connection names (PostgreSQL identifiers) */
#define CS_PROTO_MAX_SHORT       255            /* plugin names, versions, hashes, worker names */
#define CS_PROTO_MAX_ERROR       8192           /* error and reason texts */
#define CS_PROTO_MAX_CONFIG      (1024u * 1024) /* a connection's config (JSON text) */
#define CS_PROTO_MAX_CAPACITY    1024           /* a worker's concurrent tasks */
#define CS_PROTO_MAX_WORKER_ROWS 1024           /* workers listed in one STATUS_REP */
#define CS_PROTO_MAX_FAILURE     1024           /* a listed worker's last failure */
#define CS_PROTO_MAX_MEMORY_MB   (1024u * 1024) /* a plugin's memory limit, MiB (1 TiB) */
#define CS_PROTO_MAX_ENV         64             /* entries of a plugin's environment */
#define CS_PROTO_MAX_ENV_ENTRY   4096           /* bytes of one "NAME=VALUE" entry */
#define CS_PROTO_MAX_ENV_NAME    255            /* bytes of its NAME */
#define CS_PROTO_MAX_NAMES       1024           /* connections named in one REFRESH_REQ */
#define CS_PROTO_MAX_WATCH       1024           /* entries of a RESULT's watch list */
#define CS_PROTO_MAX_WATCH_PATH  4096           /* bytes of one entry (PATH_MAX) */

/* Message types by channel: 1..9 the worker channel, 10..19 the publish channel, 20 and up the
 * control channel, where key 1 of every message is its request_id. */
#define CS_PROTO_CONTROL_TYPES 20

typedef enum {
    /* worker channel: DEALER (worker) <-> ROUTER (supervisor) */
    CS_MSG_READY = 1,
    CS_MSG_TASK = 2,
    CS_MSG_RESULT = 3,
    CS_MSG_HEARTBEAT = 4,
    CS_MSG_DISCONNECT = 5,
    /* publish channel: PUB (supervisor) -> SUB */
    CS_MSG_STATE = 10,
    CS_MSG_PUB_HEARTBEAT = 11,
    /* snapshot/control channel: DEALER (client) <-> ROUTER (supervisor) */
    CS_MSG_SNAPSHOT_REQ = 20,
    CS_MSG_SNAPSHOT_ROWS = 21,
    CS_MSG_SNAPSHOT_END = 22,
    CS_MSG_REFRESH_REQ = 23,
    CS_MSG_REFRESH_REP = 24,
    CS_MSG_STATUS_REQ = 25,
    CS_MSG_STATUS_REP = 26,
    CS_MSG_ERROR = 27
} cs_msg_type_t;

/* A connection's status. DELETED is never stored: it is published when a row goes away. */
typedef enum {
    CS_STATUS_PENDING = 0,
    CS_STATUS_UPDATING = 1,
    CS_STATUS_DELETING = 2,
    CS_STATUS_READY = 3,
    CS_STATUS_ERROR = 4,
    CS_STATUS_DISABLED = 5,
    CS_STATUS_DELETED = 6
} cs_status_t;
#define CS_STATUS_COUNT 7

typedef enum {
    CS_TASK_BUILD = 1,    /* create or rebuild the connection's schema */
    CS_TASK_DELETE = 2,   /* drop the connection's (managed) schema */
    CS_TASK_COMMENTS = 3, /* write table and column descriptions */
    CS_TASK_AGGREGATE = 4 /* build an aggregator's views over its members' schemas */
} cs_task_kind_t;

/* One row of the state table, as carried by SNAPSHOT_ROWS. Strings are owned. */
typedef struct {
    char *connection;
    cs_status_t status;
    char *error;     /* NULL unless status is error */
    int64_t time_us; /* time_changed, microseconds since the Unix epoch */
    bool comments_set;
    uint64_t seq; /* sequence number of the row's last change */
    char *plugin; /* may be NULL */
} cs_row_t;

/* One worker as STATUS_REP lists it. Strings are owned. */
typedef struct {
    char *name;
    uint32_t pid;
    uint32_t capacity;         /* what the supervisor allows it (its claim, capped) */
    uint32_t in_flight;        /* tasks counted against its capacity, expired ones included */
    uint32_t expired;          /* ... of which the lease expired: it has not let go of them */
    uint32_t failures;         /* worker-side failures in a row */
    int64_t quarantined_until; /* microseconds since the epoch; 0: not quarantined */
    char *last_failure;        /* its last worker-side failure; NULL: none */
} cs_worker_row_t;

/* A list of owned strings (TASK: env; REFRESH_REQ: names; RESULT: watch). */
typedef struct {
    char **items;
    uint32_t count;
} cs_strs_t;

/* One message. Which fields a type uses is listed in proto/PROTOCOL.md; strings are
 * owned by the message (NULL when absent) and freed by cs_msg_destroy. */
typedef struct {
    cs_msg_type_t type;
    /* READY */
    uint32_t capacity;
    char *name;
    uint32_t pid;
    /* TASK, RESULT */
    uint64_t task_id;
    cs_task_kind_t kind;
    char *connection;
    char *plugin;
    char *config; /* TASK: the connection's config as JSON; may hold secrets */
    char *fingerprint;
    uint32_t attempt;
    bool fresh; /* TASK: no schema of this name existed when it was planned */
    bool ok;
    char *error;
    char *plugin_version;   /* TASK: the version planned with; RESULT: the worker's */
    uint32_t memory_max_mb; /* TASK: the plugin instance's memory limit (0: none) */
    cs_strs_t env;          /* TASK: "NAME=VALUE" for the plugin's environment; may hold secrets */
    char *members; /* TASK (aggregate): "NAME=SCHEMA_HASH" lines, one per member it reads */
    char *schema_hash;
    uint32_t tables;
    uint32_t ddl_count;
    uint64_t elapsed_us;
    bool retry; /* RESULT: not run, for a reason that is not the connection's: queue it again */
    bool worker_fault; /* RESULT: ... and the reason is this worker's: another one runs it */
    cs_strs_t watch;   /* RESULT (build of a dynamic schema): absolute paths and globs to watch */
    /* HEARTBEAT */
    uint32_t in_flight;
    uint64_t last_task_id; /* worker -> supervisor: the last TASK it received (0: none) */
    /* DISCONNECT, ERROR */
    char *reason;
    /* STATE, PUB_HEARTBEAT, SNAPSHOT_END, STATUS_REP */
    uint64_t seq;
    cs_status_t status;
    int64_t time_us;
    bool comments_set;
    uint64_t instance; /* random per supervisor start: a change means it restarted */
    /* control channel */
    uint64_t request_id;
    char *prefix;
    cs_strs_t names; /* REFRESH_REQ: only these connections (none: all) */
    cs_row_t *rows;
    uint32_t row_count;
    bool wait;
    bool full; /* REFRESH_REQ: read every schema and its marker, not only what changed */
    bool done;
    uint32_t counts[CS_STATUS_COUNT];
    uint64_t generation; /* refresh number */
    uint32_t total;
    uint32_t workers;
    uint32_t queued;
    bool refreshing;
    bool with_workers;            /* STATUS_REQ: list the workers in the reply */
    cs_worker_row_t *worker_rows; /* STATUS_REP */
    uint32_t worker_row_count;
    /* PUB_HEARTBEAT, STATUS_REP: the supervisor's database */
    int64_t db_down_since; /* microseconds since the epoch; 0: available */
    char *db_error;        /* STATUS_REP: why it is unavailable */
    bool standby;          /* another supervisor holds the lock: this one is not active */
} cs_msg_t;

/* Returns a new, zeroed message of the given type, or NULL when out of memory. */
cs_msg_t *cs_msg_new(cs_msg_type_t type);

/* Frees the message and its strings and rows, and NULLs *self_p. Idempotent. */
void cs_msg_destroy(cs_msg_t **self_p);

/* Appends a row (strings copied; error and plugin may be NULL) to a SNAPSHOT_ROWS
 * message. Returns 0, or -1 when out of memory or the message already holds
 * CS_PROTO_MAX_ROWS rows. */
int cs_msg_add_row(cs_msg_t *self, const char *connection, cs_status_t status, const char *error,
                   int64_t time_us, bool comments_set, uint64_t seq, const char *plugin)
    __attribute__((warn_unused_result));

/* Appends a copy of a worker's entry to a STATUS_REP message. Returns 0, or -1 when out of
 * memory, when row->name is NULL, or when the message already lists CS_PROTO_MAX_WORKER_ROWS
 * workers. */
int cs_msg_add_worker_row(cs_msg_t *self, const cs_worker_row_t *row)
    __attribute__((warn_unused_result));

/* Appends a copy of text to a list of strings (at most CS_PROTO_MAX_ENV of them). Returns 0,
 * or -1 when out of memory or the list is full. */
int cs_strs_add(cs_strs_t *self, const char *text) __attribute__((warn_unused_result));
/* The same for a list of at most max strings (names, watch: their CS_PROTO_MAX_*). */
int cs_strs_add_max(cs_strs_t *self, const char *text, uint32_t max)
    __attribute__((warn_unused_result));

/* Frees the strings of a list and empties it. Idempotent. */
void cs_strs_clear(cs_strs_t *self);

/* Whether text is a plugin environment entry: NAME=VALUE, NAME 1 to CS_PROTO_MAX_ENV_NAME
 * bytes of [A-Za-z_][A-Za-z0-9_]*. */
bool cs_env_entry_valid(const char *text, size_t len);

/* Encodes the body (msgpack) of a message. Returns 0 and a malloc'd buffer in *data
 * (the caller frees it), or -1 when a required field is missing or a value exceeds
 * its documented limit (the reason, if why is not NULL, goes into why). Never blocks. */
int cs_msg_encode(const cs_msg_t *self, char **data, size_t *size, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* The same into out (emptied first; the caller owns and reuses it). Returns 0 or -1 as
 * cs_msg_encode does. */
int cs_msg_encode_to(const cs_msg_t *self, cs_buf_t *out, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* Decodes an untrusted body. Returns a new message (the caller destroys it), or NULL
 * with the reason in why: truncated data, trailing bytes, wrong types, missing or
 * duplicate keys, lengths beyond what remains or beyond the limits above, too deep
 * nesting, an unknown message type. Unknown keys are ignored. Allocates nothing
 * beyond the limits. Never blocks. */
cs_msg_t *cs_msg_decode(const void *data, size_t size, char *why, size_t why_size);

/* The request_id of a control-channel request that cs_msg_decode rejects (a field of the
 * wrong type, an unknown key type, a type this version does not know), read without
 * allocating: data must be one msgpack object within the limits (cs_msgpack_check), a map
 * with key 0 (the type) once, an unsigned integer of at least CS_PROTO_CONTROL_TYPES, and key
 * 1 once, an unsigned integer. Returns 0 with *request_id set, or -1 when there is no such
 * id. Reads every byte at most twice; never blocks. */
int cs_msg_peek_request_id(const void *data, size_t size, uint64_t *request_id)
    __attribute__((warn_unused_result));

/* Checks a header frame. Returns 0 when it is CS_PROTO_HEADER, else -1 with the reason
 * (not a connstate peer, or which version it speaks). */
int cs_proto_check_header(const void *data, size_t size, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* Checks that data holds exactly one msgpack object within the limits above (lengths
 * against the bytes that remain, caps, depth), without allocating. Returns 0, or -1
 * with the reason. cs_msg_decode calls it first; exposed for tests and the fuzzer. */
int cs_msgpack_check(const void *data, size_t size, char *why, size_t why_size)
    __attribute__((warn_unused_result));

/* Names: "READY", "pending", "build", ...; "?" for an unknown value. Borrowed. */
const char *cs_msg_type_name(cs_msg_type_t type);
/* ... of a key of a message type ("type" for key 0, "request_id", ...) or of a SNAPSHOT_ROWS
 * row map ("connection", ...), as PROTOCOL.md names them. */
const char *cs_msg_key_name(cs_msg_type_t type, unsigned key);
const char *cs_row_key_name(unsigned key);
const char *cs_status_name(cs_status_t status);
const char *cs_task_kind_name(cs_task_kind_t kind);

/* Parses a status name (not NUL-terminated, len bytes). Returns 0, or -1 when unknown. */
int cs_status_parse(const char *name, size_t len, cs_status_t *status)
    __attribute__((warn_unused_result));

#endif
