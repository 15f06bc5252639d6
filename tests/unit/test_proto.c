/* Unit tests of the protocol codec: round trips of every message, every rejection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "cs_proto.h"

static const cs_msg_type_t s_all_types[] = {
    CS_MSG_READY,         CS_MSG_TASK,         CS_MSG_RESULT,        CS_MSG_HEARTBEAT,
    CS_MSG_DISCONNECT,    CS_MSG_STATE,        CS_MSG_PUB_HEARTBEAT, CS_MSG_SNAPSHOT_REQ,
    CS_MSG_SNAPSHOT_ROWS, CS_MSG_SNAPSHOT_END, CS_MSG_REFRESH_REQ,   CS_MSG_REFRESH_REP,
    CS_MSG_STATUS_REQ,    CS_MSG_STATUS_REP,   CS_MSG_ERROR};

/* Every field set to a distinctive value, so a field lost on the way shows. */
static cs_msg_t *s_full_message(cs_msg_type_t type)
{
    cs_msg_t *msg = cs_msg_new(type);
    assert_non_null(msg);
    msg->capacity = 7;
    msg->name = strdup("wrk-1");
    msg->pid = 4242;
    msg->task_id = 1ull << 40;
    msg->kind = CS_TASK_COMMENTS;
    msg->connection = strdup("aws_prod");
    msg->plugin = strdup("synthetic");
    msg->config = strdup("{\"tables\":3,\"secret\":\"s3cr\\u00e9t\"}");
    msg->fingerprint = strdup("a1b2c3");
    msg->attempt = 2;
    msg->ok = true;
    msg->error = strdup("plugin said: \"no\" \xc3\xa9");
    msg->plugin_version = strdup("1.2.3");
    msg->schema_hash = strdup("ff00");
    msg->tables = 20;
    msg->ddl_count = 21;
    msg->elapsed_us = 123456789;
    msg->in_flight = 3;
    msg->last_task_id = (1ull << 40) + 1;
    msg->reason = strdup("going away");
    msg->seq = 99999999999ull;
    msg->status = CS_STATUS_ERROR;
    msg->time_us = -5; /* before the epoch: negative integers must survive */
    msg->comments_set = true;
    msg->instance = 0xdeadbeefcafeull;
    msg->request_id = 77;
    msg->prefix = strdup("aws_");
    msg->wait = true;
    msg->done = true;
    for (int i = 0; i < CS_STATUS_COUNT; i++)
        msg->counts[i] = (uint32_t)(i * 1000 + 1);
    msg->generation = 12;
    msg->total = 5000;
    msg->workers = 2;
    msg->queued = 40;
    msg->refreshing = true;
    assert_int_equal(cs_msg_add_row(msg, "a", CS_STATUS_READY, NULL, 1, true, 5, "csv"), 0);
    assert_int_equal(cs_msg_add_row(msg, "b", CS_STATUS_ERROR, "boom", 2, false, 6, NULL), 0);
    msg->retry = true;
    msg->worker_fault = true;
    msg->with_workers = true;
    msg->memory_max_mb = 2048;
    assert_int_equal(cs_strs_add(&msg->env, "AWS_PROFILE=prod"), 0);
    assert_int_equal(cs_strs_add(&msg->env, "TOKEN=t=ok\xc3\xa9"), 0);
    msg->members = strdup("aws_a=0123456789abcdef\naws_b=fedcba9876543210\n");
    assert_non_null(msg->members);
    cs_worker_row_t quarantined = {"wrk-2", 43, 4, 3, 1, 3, 1700000000123456, "plugin missing"};
    cs_worker_row_t fine = {"host-b:77", 77, 16, 0, 0, 0, 0, NULL};
    assert_int_equal(cs_msg_add_worker_row(msg, &quarantined), 0);
    assert_int_equal(cs_msg_add_worker_row(msg, &fine), 0);
    return msg;
}

static void s_encode(const cs_msg_t *msg, char **data, size_t *size)
{
    char why[256] = "";
    int rc = cs_msg_encode(msg, data, size, why, sizeof why);
    if (rc != 0)
        fail_msg("encode %s: %s", cs_msg_type_name(msg->type), why);
}

/* Decodes data that must be rejected, and checks the reason mentions `expect`. */
static void s_expect_reject(const void *data, size_t size, const char *expect)
{
    char why[256] = "";
    cs_msg_t *msg = cs_msg_decode(data, size, why, sizeof why);
    if (msg) {
        cs_msg_destroy(&msg);
        fail_msg("accepted a message that should fail with '%s'", expect);
    }
    if (!strstr(why, expect))
        fail_msg("reason '%s' does not mention '%s'", why, expect);
}

static void test_round_trip_every_type(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof s_all_types / sizeof *s_all_types; i++) {
        cs_msg_t *msg = s_full_message(s_all_types[i]);
        char *first, *second;
        size_t first_size, second_size;
        s_encode(msg, &first, &first_size);

        char why[256] = "";
        cs_msg_t *copy = cs_msg_decode(first, first_size, why, sizeof why);
        if (!copy)
            fail_msg("decode %s: %s", cs_msg_type_name(s_all_types[i]), why);
        assert_int_equal(copy->type, s_all_types[i]);
        /* Re-encoding the decoded message gives the same bytes: no field was lost. */
        s_encode(copy, &second, &second_size);
        assert_int_equal(first_size, second_size);
        assert_memory_equal(first, second, first_size);
        free(first);
        free(second);
        cs_msg_destroy(&copy);
        cs_msg_destroy(&msg);
        assert_null(msg);
    }
}

static void test_round_trip_fields(void **state)
{
    (void)state;
    char *data;
    size_t size;
    char why[256];

    cs_msg_t *task = s_full_message(CS_MSG_TASK);
    s_encode(task, &data, &size);
    cs_msg_t *got = cs_msg_decode(data, size, why, sizeof why);
    free(data);
    assert_non_null(got);
    assert_int_equal(got->task_id, 1ull << 40);
    assert_int_equal(got->kind, CS_TASK_COMMENTS);
    assert_string_equal(got->connection, "aws_prod");
    assert_string_equal(got->plugin, "synthetic");
    assert_string_equal(got->config, task->config);
    assert_string_equal(got->fingerprint, "a1b2c3");
    assert_int_equal(got->attempt, 2);
    assert_string_equal(got->plugin_version, "1.2.3"); /* the version planned with */
    assert_int_equal(got->memory_max_mb, 2048);
    assert_int_equal(got->env.count, 2);
    assert_string_equal(got->env.items[0], "AWS_PROFILE=prod");
    assert_string_equal(got->env.items[1], "TOKEN=t=ok\xc3\xa9"); /* '=' in a value */
    assert_string_equal(got->members, task->members);
    assert_null(got->error); /* not a TASK field: not carried */
    assert_null(got->rows);
    assert_false(got->worker_fault);
    cs_msg_destroy(&got);
    cs_msg_destroy(&task);

    cs_msg_t *result = s_full_message(CS_MSG_RESULT);
    s_encode(result, &data, &size);
    got = cs_msg_decode(data, size, why, sizeof why);
    free(data);
    assert_non_null(got);
    assert_true(got->retry);
    assert_true(got->worker_fault);
    assert_string_equal(got->plugin_version, "1.2.3");
    cs_msg_destroy(&got);
    cs_msg_destroy(&result);

    cs_msg_t *status_req = s_full_message(CS_MSG_STATUS_REQ);
    s_encode(status_req, &data, &size);
    got = cs_msg_decode(data, size, why, sizeof why);
    free(data);
    assert_non_null(got);
    assert_true(got->with_workers);
    assert_int_equal(got->worker_row_count, 0);
    cs_msg_destroy(&got);
    cs_msg_destroy(&status_req);

    cs_msg_t *status = s_full_message(CS_MSG_STATUS_REP);
    s_encode(status, &data, &size);
    got = cs_msg_decode(data, size, why, sizeof why);
    free(data);
    assert_non_null(got);
    assert_int_equal(got->worker_row_count, 2);
    const cs_worker_row_t *w = &got->worker_rows[0];
    assert_string_equal(w->name, "wrk-2");
    assert_int_equal(w->pid, 43);
    assert_int_equal(w->capacity, 4);
    assert_int_equal(w->in_flight, 3);
    assert_int_equal(w->expired, 1);
    assert_int_equal(w->failures, 3);
    assert_int_equal(w->quarantined_until, 1700000000123456);
    assert_string_equal(w->last_failure, "plugin missing");
    assert_string_equal(got->worker_rows[1].name, "host-b:77");
    assert_null(got->worker_rows[1].last_failure);
    assert_int_equal(got->worker_rows[1].quarantined_until, 0);
    cs_msg_destroy(&got);
    cs_msg_destroy(&status);

    cs_msg_t *rows = s_full_message(CS_MSG_SNAPSHOT_ROWS);
    s_encode(rows, &data, &size);
    got = cs_msg_decode(data, size, why, sizeof why);
    free(data);
    assert_non_null(got);
    assert_int_equal(got->row_count, 2);
    assert_string_equal(got->rows[0].connection, "a");
    assert_int_equal(got->rows[0].status, CS_STATUS_READY);
    assert_null(got->rows[0].error);
    assert_true(got->rows[0].comments_set);
    assert_string_equal(got->rows[0].plugin, "csv");
    assert_string_equal(got->rows[1].error, "boom");
    assert_int_equal(got->rows[1].seq, 6);
    assert_null(got->rows[1].plugin);
    cs_msg_destroy(&got);
    cs_msg_destroy(&rows);

    cs_msg_t *state_msg = s_full_message(CS_MSG_STATE);
    s_encode(state_msg, &data, &size);
    got = cs_msg_decode(data, size, why, sizeof why);
    free(data);
    assert_non_null(got);
    assert_int_equal(got->seq, 99999999999ull);
    assert_int_equal(got->status, CS_STATUS_ERROR);
    assert_int_equal(got->time_us, -5);
    assert_string_equal(got->error, state_msg->error);
    cs_msg_destroy(&got);
    cs_msg_destroy(&state_msg);
}

static void test_optional_strings_absent(void **state)
{
    (void)state;
    cs_msg_t *msg = cs_msg_new(CS_MSG_STATE);
    msg->seq = 1;
    msg->connection = strdup("x");
    msg->status = CS_STATUS_READY;
    char *data;
    size_t size;
    s_encode(msg, &data, &size);
    char why[256];
    cs_msg_t *got = cs_msg_decode(data, size, why, sizeof why);
    assert_non_null(got);
    assert_null(got->error);
    assert_null(got->plugin);
    free(data);
    cs_msg_destroy(&got);
    cs_msg_destroy(&msg);
}

/* Found by the fuzzer: a RESULT without its optional kind must re-encode. */
static void test_optional_kind_absent(void **state)
{
    (void)state;
    const unsigned char result[] = {0x84, 0x00, 0x03, 0x01, 0x01, 0x02, 0xa1, 'c', 0x03, 0xc3};
    char why[256];
    cs_msg_t *msg = cs_msg_decode(result, sizeof result, why, sizeof why);
    assert_non_null(msg);
    assert_int_equal(msg->kind, 0);
    char *data;
    size_t size;
    s_encode(msg, &data, &size);
    cs_msg_t *again = cs_msg_decode(data, size, why, sizeof why);
    assert_non_null(again);
    assert_int_equal(again->kind, 0);
    free(data);
    cs_msg_destroy(&again);
    cs_msg_destroy(&msg);
}

/* Found by the fuzzer: an empty string (str8 of length 0 at the end of the data). */
static void test_empty_string(void **state)
{
    (void)state;
    const unsigned char body[] = {0x82, 0x00, 0x05, 0x01, 0xd9, 0x00};
    char why[256];
    cs_msg_t *msg = cs_msg_decode(body, sizeof body, why, sizeof why);
    assert_non_null(msg);
    assert_string_equal(msg->reason, "");
    cs_msg_destroy(&msg);
}

static void test_encode_rejects(void **state)
{
    (void)state;
    char *data;
    size_t size;
    char why[256] = "";

    cs_msg_t *msg = cs_msg_new(CS_MSG_TASK); /* connection is required */
    msg->task_id = 1;
    msg->kind = CS_TASK_BUILD;
    assert_int_equal(cs_msg_encode(msg, &data, &size, why, sizeof why), -1);
    assert_non_null(strstr(why, "required"));
    msg->connection = calloc(1, CS_PROTO_MAX_NAME + 2);
    memset(msg->connection, 'a', CS_PROTO_MAX_NAME + 1);
    assert_int_equal(cs_msg_encode(msg, &data, &size, why, sizeof why), -1);
    assert_non_null(strstr(why, "too long"));
    msg->connection[1] = '\xff';
    msg->connection[2] = '\0';
    assert_int_equal(cs_msg_encode(msg, &data, &size, why, sizeof why), -1);
    assert_non_null(strstr(why, "UTF-8"));
    cs_msg_destroy(&msg);

    msg = cs_msg_new(CS_MSG_READY); /* capacity 0 is out of range */
    assert_int_equal(cs_msg_encode(msg, &data, &size, why, sizeof why), -1);
    assert_non_null(strstr(why, "capacity"));
    cs_msg_destroy(&msg);

    msg = cs_msg_new((cs_msg_type_t)99);
    assert_int_equal(cs_msg_encode(msg, &data, &size, why, sizeof why), -1);
    cs_msg_destroy(&msg);
    cs_msg_destroy(&msg); /* idempotent */
}

static void test_add_worker_row_limit(void **state)
{
    (void)state;
    cs_msg_t *msg = cs_msg_new(CS_MSG_STATUS_REP);
    cs_worker_row_t row = {.name = "w", .capacity = 1};
    for (int i = 0; i < CS_PROTO_MAX_WORKER_ROWS; i++)
        assert_int_equal(cs_msg_add_worker_row(msg, &row), 0);
    assert_int_equal(cs_msg_add_worker_row(msg, &row), -1);
    assert_int_equal(msg->worker_row_count, CS_PROTO_MAX_WORKER_ROWS);
    cs_msg_destroy(&msg);
    msg = cs_msg_new(CS_MSG_STATUS_REP);
    row.name = NULL;
    assert_int_equal(cs_msg_add_worker_row(msg, &row), -1);
    /* a last failure beyond its limit is not encoded */
    char long_text[CS_PROTO_MAX_FAILURE + 2];
    memset(long_text, 'x', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    row = (cs_worker_row_t){.name = "w", .last_failure = long_text};
    assert_int_equal(cs_msg_add_worker_row(msg, &row), 0);
    msg->request_id = 1;
    char *data = NULL, why[256] = "";
    size_t size;
    assert_int_equal(cs_msg_encode(msg, &data, &size, why, sizeof why), -1);
    assert_non_null(strstr(why, "key 8 (last_failure): string too long"));
    cs_msg_destroy(&msg);
}

static void test_add_row_limit(void **state)
{
    (void)state;
    cs_msg_t *msg = cs_msg_new(CS_MSG_SNAPSHOT_ROWS);
    for (int i = 0; i < CS_PROTO_MAX_ROWS; i++)
        assert_int_equal(cs_msg_add_row(msg, "c", CS_STATUS_READY, NULL, 0, false, 0, NULL), 0);
    assert_int_equal(cs_msg_add_row(msg, "c", CS_STATUS_READY, NULL, 0, false, 0, NULL), -1);
    assert_int_equal(msg->row_count, CS_PROTO_MAX_ROWS);
    assert_int_equal(cs_msg_add_row(msg, NULL, CS_STATUS_READY, NULL, 0, false, 0, NULL), -1);
    cs_msg_destroy(&msg);
}

/* ---- raw msgpack builders for malformed input ------------------------------------------ */

typedef struct {
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
} s_raw_t;

static void s_raw_init(s_raw_t *raw)
{
    msgpack_sbuffer_init(&raw->sbuf);
    msgpack_packer_init(&raw->pk, &raw->sbuf, msgpack_sbuffer_write);
}

static void s_raw_str(s_raw_t *raw, const char *text, size_t len)
{
    msgpack_pack_str(&raw->pk, len);
    msgpack_pack_str_body(&raw->pk, text, len);
}

/* A valid HEARTBEAT-free STATE map header: {0: STATE, 1: seq, 2: conn, 3: status, 5: time}
 * with `extra` more entries for the caller to append. */
static void s_raw_state(s_raw_t *raw, size_t extra)
{
    s_raw_init(raw);
    msgpack_pack_map(&raw->pk, 5 + extra);
    msgpack_pack_uint8(&raw->pk, 0);
    msgpack_pack_uint8(&raw->pk, CS_MSG_STATE);
    msgpack_pack_uint8(&raw->pk, 1);
    msgpack_pack_uint64(&raw->pk, 10);
    msgpack_pack_uint8(&raw->pk, 2);
    s_raw_str(raw, "conn", 4);
    msgpack_pack_uint8(&raw->pk, 3);
    msgpack_pack_uint8(&raw->pk, CS_STATUS_READY);
    msgpack_pack_uint8(&raw->pk, 5);
    msgpack_pack_int64(&raw->pk, 1000);
}

static void s_raw_reject(s_raw_t *raw, const char *expect)
{
    s_expect_reject(raw->sbuf.data, raw->sbuf.size, expect);
    msgpack_sbuffer_destroy(&raw->sbuf);
}

/* A TASK: {0: TASK, 1: id, 2: kind, 3: connection} and `extra` more entries. */
static void s_raw_task(s_raw_t *raw, size_t extra)
{
    s_raw_init(raw);
    msgpack_pack_map(&raw->pk, 4 + extra);
    msgpack_pack_uint8(&raw->pk, 0);
    msgpack_pack_uint8(&raw->pk, CS_MSG_TASK);
    msgpack_pack_uint8(&raw->pk, 1);
    msgpack_pack_uint8(&raw->pk, 1);
    msgpack_pack_uint8(&raw->pk, 2);
    msgpack_pack_uint8(&raw->pk, CS_TASK_BUILD);
    msgpack_pack_uint8(&raw->pk, 3);
    s_raw_str(raw, "c", 1);
}

/* ---- a plugin instance's settings in TASK ---------------------------------------------- */

static void test_env_entries(void **state)
{
    (void)state;
    assert_true(cs_env_entry_valid("A=", 2));
    assert_true(cs_env_entry_valid("_x9=1=2", 7));
    assert_false(cs_env_entry_valid("=v", 2));    /* no name */
    assert_false(cs_env_entry_valid("NAME", 4));  /* no '=' */
    assert_false(cs_env_entry_valid("9A=v", 4));  /* starts with a digit */
    assert_false(cs_env_entry_valid("A-B=v", 5)); /* not [A-Za-z0-9_] */
    assert_false(cs_env_entry_valid("A=v", 1));   /* the '=' beyond len */
    char name[CS_PROTO_MAX_ENV_NAME + 3];
    memset(name, 'N', sizeof name);
    name[CS_PROTO_MAX_ENV_NAME] = '=';
    assert_true(cs_env_entry_valid(name, CS_PROTO_MAX_ENV_NAME + 1));
    name[CS_PROTO_MAX_ENV_NAME] = 'N';
    name[CS_PROTO_MAX_ENV_NAME + 1] = '=';
    assert_false(cs_env_entry_valid(name, CS_PROTO_MAX_ENV_NAME + 2)); /* name too long */

    cs_strs_t strs = {0};
    for (int i = 0; i < CS_PROTO_MAX_ENV; i++)
        assert_int_equal(cs_strs_add(&strs, "A=1"), 0);
    assert_int_equal(cs_strs_add(&strs, "A=1"), -1); /* full */
    cs_strs_clear(&strs);
    assert_int_equal(strs.count, 0);
    cs_strs_clear(&strs); /* idempotent */
}

/* REFRESH_REQ names and RESULT watch: lists of strings, each bounded in count and length. */
static void test_lists_of_strings(void **state)
{
    (void)state;
    char *data;
    size_t size;
    char why[256] = "";
    cs_msg_t *req = cs_msg_new(CS_MSG_REFRESH_REQ);
    req->request_id = 5;
    req->wait = true;
    assert_int_equal(cs_strs_add_max(&req->names, "sales", CS_PROTO_MAX_NAMES), 0);
    assert_int_equal(cs_strs_add_max(&req->names, "all_aws", CS_PROTO_MAX_NAMES), 0);
    s_encode(req, &data, &size);
    cs_msg_t *got = cs_msg_decode(data, size, why, sizeof why);
    free(data);
    assert_non_null(got);
    assert_int_equal(got->names.count, 2);
    assert_string_equal(got->names.items[1], "all_aws");
    assert_false(got->full);
    cs_msg_destroy(&got);
    /* --full travels as key 4 */
    req->full = true;
    s_encode(req, &data, &size);
    got = cs_msg_decode(data, size, why, sizeof why);
    free(data);
    assert_non_null(got);
    assert_true(got->full);
    cs_msg_destroy(&got);
    req->full = false;
    /* a name longer than a connection name is not encoded */
    char long_name[CS_PROTO_MAX_NAME + 2];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    assert_int_equal(cs_strs_add_max(&req->names, long_name, CS_PROTO_MAX_NAMES), 0);
    assert_int_equal(cs_msg_encode(req, &data, &size, why, sizeof why), -1);
    assert_non_null(strstr(why, "(names): entry empty or too long"));
    cs_msg_destroy(&req);
    /* a plain refresh leaves the key out */
    req = cs_msg_new(CS_MSG_REFRESH_REQ);
    req->request_id = 6;
    s_encode(req, &data, &size);
    got = cs_msg_decode(data, size, why, sizeof why);
    free(data);
    assert_int_equal(got->names.count, 0);
    cs_msg_destroy(&got);
    cs_msg_destroy(&req);

    cs_msg_t *result = cs_msg_new(CS_MSG_RESULT);
    result->task_id = 3;
    result->connection = strdup("sales");
    result->ok = true;
    assert_int_equal(cs_strs_add_max(&result->watch, "/data/sales/*.csv", CS_PROTO_MAX_WATCH), 0);
    s_encode(result, &data, &size);
    got = cs_msg_decode(data, size, why, sizeof why);
    free(data);
    assert_non_null(got);
    assert_int_equal(got->watch.count, 1);
    assert_string_equal(got->watch.items[0], "/data/sales/*.csv");
    cs_msg_destroy(&got);
    cs_msg_destroy(&result);
    cs_strs_t full = {0};
    for (int i = 0; i < CS_PROTO_MAX_NAMES; i++)
        assert_int_equal(cs_strs_add_max(&full, "n", CS_PROTO_MAX_NAMES), 0);
    assert_int_equal(cs_strs_add_max(&full, "n", CS_PROTO_MAX_NAMES), -1);
    cs_strs_clear(&full);

    /* the decoder: the count, an empty or too long entry, a NUL, a non-string */
    s_raw_t raw;
    s_raw_init(&raw);
    msgpack_pack_map(&raw.pk, 3);
    msgpack_pack_uint8(&raw.pk, 0);
    msgpack_pack_uint8(&raw.pk, CS_MSG_REFRESH_REQ);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 9);
    msgpack_pack_uint8(&raw.pk, 3);
    msgpack_pack_array(&raw.pk, CS_PROTO_MAX_NAMES + 1);
    for (int i = 0; i <= CS_PROTO_MAX_NAMES; i++)
        s_raw_str(&raw, "n", 1);
    s_raw_reject(&raw, "(names): more entries than the limit");
    const struct {
        const char *entry;
        size_t len;
        const char *expect;
    } bad[] = {{"", 0, "entry empty or longer than the limit"},
               {long_name, CS_PROTO_MAX_NAME + 1, "entry empty or longer than the limit"},
               {"a\0b", 3, "entry is not UTF-8 without NUL"},
               {"\xff", 1, "entry is not UTF-8 without NUL"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        s_raw_init(&raw);
        msgpack_pack_map(&raw.pk, 3);
        msgpack_pack_uint8(&raw.pk, 0);
        msgpack_pack_uint8(&raw.pk, CS_MSG_REFRESH_REQ);
        msgpack_pack_uint8(&raw.pk, 1);
        msgpack_pack_uint8(&raw.pk, 9);
        msgpack_pack_uint8(&raw.pk, 3);
        msgpack_pack_array(&raw.pk, 1);
        s_raw_str(&raw, bad[i].entry, bad[i].len);
        s_raw_reject(&raw, bad[i].expect);
    }
    s_raw_init(&raw);
    msgpack_pack_map(&raw.pk, 3);
    msgpack_pack_uint8(&raw.pk, 0);
    msgpack_pack_uint8(&raw.pk, CS_MSG_REFRESH_REQ);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 9);
    msgpack_pack_uint8(&raw.pk, 3);
    msgpack_pack_array(&raw.pk, 2);
    s_raw_str(&raw, "a", 1);
    msgpack_pack_uint8(&raw.pk, 7); /* no string: the first entry is freed */
    s_raw_reject(&raw, "(names): expected a string");
}

static void test_task_settings_bounds(void **state)
{
    (void)state;
    char *data;
    size_t size;
    char why[256] = "";

    /* without settings nothing is written for env, and 0 for the limit */
    cs_msg_t *msg = cs_msg_new(CS_MSG_TASK);
    msg->task_id = 1;
    msg->kind = CS_TASK_BUILD;
    msg->connection = strdup("c");
    s_encode(msg, &data, &size);
    cs_msg_t *got = cs_msg_decode(data, size, why, sizeof why);
    free(data);
    assert_non_null(got);
    assert_int_equal(got->memory_max_mb, 0);
    assert_int_equal(got->env.count, 0);
    assert_null(got->env.items);
    cs_msg_destroy(&got);

    /* the encoder keeps to the bounds too */
    msg->memory_max_mb = CS_PROTO_MAX_MEMORY_MB + 1;
    assert_int_equal(cs_msg_encode(msg, &data, &size, why, sizeof why), -1);
    assert_non_null(strstr(why, "memory_max_mb"));
    msg->memory_max_mb = CS_PROTO_MAX_MEMORY_MB;
    assert_int_equal(cs_strs_add(&msg->env, "not an entry"), 0);
    assert_int_equal(cs_msg_encode(msg, &data, &size, why, sizeof why), -1);
    assert_non_null(strstr(why, "NAME=VALUE"));
    cs_strs_clear(&msg->env);
    char *long_entry = malloc(CS_PROTO_MAX_ENV_ENTRY + 2);
    memset(long_entry, 'v', CS_PROTO_MAX_ENV_ENTRY + 1);
    memcpy(long_entry, "A=", 2);
    long_entry[CS_PROTO_MAX_ENV_ENTRY + 1] = '\0';
    assert_int_equal(cs_strs_add(&msg->env, long_entry), 0);
    assert_int_equal(cs_msg_encode(msg, &data, &size, why, sizeof why), -1);
    assert_non_null(strstr(why, "entry too long"));
    cs_strs_clear(&msg->env);
    long_entry[CS_PROTO_MAX_ENV_ENTRY] = '\0'; /* at the limit */
    assert_int_equal(cs_strs_add(&msg->env, long_entry), 0);
    s_encode(msg, &data, &size);
    free(data);
    cs_msg_destroy(&msg);

    /* the decoder: each bound, and each entry's shape */
    s_raw_t raw;
    s_raw_task(&raw, 1);
    msgpack_pack_uint8(&raw.pk, 10);
    msgpack_pack_uint32(&raw.pk, CS_PROTO_MAX_MEMORY_MB + 1);
    s_raw_reject(&raw, "(memory_max_mb): value out of range");

    s_raw_task(&raw, 1);
    msgpack_pack_uint8(&raw.pk, 11);
    msgpack_pack_array(&raw.pk, CS_PROTO_MAX_ENV + 1);
    for (int i = 0; i <= CS_PROTO_MAX_ENV; i++)
        s_raw_str(&raw, "A=1", 3);
    s_raw_reject(&raw, "(env): more entries than the limit");

    s_raw_task(&raw, 1);
    msgpack_pack_uint8(&raw.pk, 11);
    msgpack_pack_array(&raw.pk, 1);
    s_raw_str(&raw, long_entry, CS_PROTO_MAX_ENV_ENTRY + 1);
    s_raw_reject(&raw, "(env): entry longer than the limit");
    free(long_entry);

    const struct {
        const char *entry;
        size_t len;
    } bad[] = {{"NOEQUALS", 8}, {"=v", 2}, {"1A=v", 4}, {"A=\0v", 4}, {"A=\xff", 3}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        s_raw_task(&raw, 1);
        msgpack_pack_uint8(&raw.pk, 11);
        msgpack_pack_array(&raw.pk, 1);
        s_raw_str(&raw, bad[i].entry, bad[i].len);
        s_raw_reject(&raw, "(env): entry is not NAME=VALUE");
    }

    s_raw_task(&raw, 1);
    msgpack_pack_uint8(&raw.pk, 11);
    msgpack_pack_array(&raw.pk, 2);
    s_raw_str(&raw, "A=1", 3);
    msgpack_pack_uint8(&raw.pk, 7); /* the second entry is no string: the first is freed */
    s_raw_reject(&raw, "(env): expected a string");

    s_raw_task(&raw, 1);
    msgpack_pack_uint8(&raw.pk, 11);
    s_raw_str(&raw, "A=1", 3);
    s_raw_reject(&raw, "(env): expected an array of strings");
}

static void test_raw_state_valid(void **state)
{
    (void)state;
    s_raw_t raw;
    s_raw_state(&raw, 1);
    msgpack_pack_uint8(&raw.pk, 100); /* an unknown key is ignored */
    msgpack_pack_array(&raw.pk, 1);
    msgpack_pack_nil(&raw.pk);
    char why[256];
    cs_msg_t *msg = cs_msg_decode(raw.sbuf.data, raw.sbuf.size, why, sizeof why);
    assert_non_null(msg);
    assert_string_equal(msg->connection, "conn");
    cs_msg_destroy(&msg);
    msgpack_sbuffer_destroy(&raw.sbuf);
}

static void test_reject_truncated(void **state)
{
    (void)state;
    cs_msg_t *msg = s_full_message(CS_MSG_TASK);
    free(msg->plugin_version); /* so that it ends with a one-byte value (fresh) */
    msg->plugin_version = NULL;
    cs_strs_clear(&msg->env); /* (the env and members come last when there are any) */
    free(msg->members);
    msg->members = NULL;
    msg->memory_max_mb = 0;
    char *data;
    size_t size;
    s_encode(msg, &data, &size);
    /* every proper prefix is rejected */
    for (size_t cut = 0; cut < size; cut++) {
        char why[256] = "";
        cs_msg_t *got = cs_msg_decode(data, cut, why, sizeof why);
        assert_null(got);
        assert_true(why[0] != '\0');
    }
    s_expect_reject(data, size - 1, "truncated");
    free(data);
    cs_msg_destroy(&msg);
}

static void test_reject_trailing_bytes(void **state)
{
    (void)state;
    s_raw_t raw;
    s_raw_state(&raw, 0);
    msgpack_pack_nil(&raw.pk);
    s_raw_reject(&raw, "trailing bytes");
}

static void test_reject_wrong_types(void **state)
{
    (void)state;
    s_raw_t raw;
    s_raw_state(&raw, 1);
    msgpack_pack_uint8(&raw.pk, 4); /* error: must be a string */
    msgpack_pack_int(&raw.pk, 5);
    s_raw_reject(&raw, "key 4 (error): expected a string, got an integer");

    s_raw_state(&raw, 1);
    msgpack_pack_uint8(&raw.pk, 6); /* comments_set: must be a boolean */
    s_raw_str(&raw, "yes", 3);
    s_raw_reject(&raw, "expected a boolean, got a string");

    /* seq as a negative integer */
    s_raw_init(&raw);
    msgpack_pack_map(&raw.pk, 3);
    msgpack_pack_uint8(&raw.pk, 0);
    msgpack_pack_uint8(&raw.pk, CS_MSG_PUB_HEARTBEAT);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_int(&raw.pk, -1);
    msgpack_pack_uint8(&raw.pk, 2);
    msgpack_pack_uint8(&raw.pk, 1);
    s_raw_reject(&raw, "got a negative integer");

    /* the body is not a map */
    s_raw_init(&raw);
    msgpack_pack_array(&raw.pk, 0);
    s_raw_reject(&raw, "not a map");

    /* message type is a string */
    s_raw_init(&raw);
    msgpack_pack_map(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 0);
    s_raw_str(&raw, "TASK", 4);
    s_raw_reject(&raw, "unknown message type");

    /* a float where a count belongs */
    s_raw_init(&raw);
    msgpack_pack_map(&raw.pk, 2);
    msgpack_pack_uint8(&raw.pk, 0);
    msgpack_pack_uint8(&raw.pk, CS_MSG_READY);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_double(&raw.pk, 1.5);
    s_raw_reject(&raw, "got a float");

    /* counts of the wrong length */
    s_raw_init(&raw);
    msgpack_pack_map(&raw.pk, 5);
    msgpack_pack_uint8(&raw.pk, 0);
    msgpack_pack_uint8(&raw.pk, CS_MSG_STATUS_REP);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 2);
    msgpack_pack_array(&raw.pk, 2);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 3);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 4);
    msgpack_pack_uint8(&raw.pk, 1);
    s_raw_reject(&raw, "one count per status");

    /* a row that is not a map */
    s_raw_init(&raw);
    msgpack_pack_map(&raw.pk, 3);
    msgpack_pack_uint8(&raw.pk, 0);
    msgpack_pack_uint8(&raw.pk, CS_MSG_SNAPSHOT_ROWS);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 2);
    msgpack_pack_array(&raw.pk, 1);
    msgpack_pack_true(&raw.pk);
    s_raw_reject(&raw, "row 0: expected a map, got a boolean");

    /* a STATUS_REP whose worker entry has no name */
    s_raw_init(&raw);
    msgpack_pack_map(&raw.pk, 6);
    msgpack_pack_uint8(&raw.pk, 0);
    msgpack_pack_uint8(&raw.pk, CS_MSG_STATUS_REP);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 2);
    msgpack_pack_array(&raw.pk, CS_STATUS_COUNT);
    for (int i = 0; i < CS_STATUS_COUNT; i++)
        msgpack_pack_uint8(&raw.pk, 0);
    msgpack_pack_uint8(&raw.pk, 3);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 4);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 14);
    msgpack_pack_array(&raw.pk, 1);
    msgpack_pack_map(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 2);
    msgpack_pack_uint8(&raw.pk, 5);
    s_raw_reject(&raw, "STATUS_REP worker 0: key 1 (name): required key missing");

    /* worker_fault that is not a boolean */
    s_raw_init(&raw);
    msgpack_pack_map(&raw.pk, 5);
    msgpack_pack_uint8(&raw.pk, 0);
    msgpack_pack_uint8(&raw.pk, CS_MSG_RESULT);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 2);
    s_raw_str(&raw, "c", 1);
    msgpack_pack_uint8(&raw.pk, 3);
    msgpack_pack_false(&raw.pk);
    msgpack_pack_uint8(&raw.pk, 12);
    msgpack_pack_uint8(&raw.pk, 1);
    s_raw_reject(&raw, "RESULT: key 12 (worker_fault): expected a boolean, got an integer");
}

static void test_reject_out_of_range(void **state)
{
    (void)state;
    s_raw_t raw;
    /* READY capacity beyond the limit */
    s_raw_init(&raw);
    msgpack_pack_map(&raw.pk, 2);
    msgpack_pack_uint8(&raw.pk, 0);
    msgpack_pack_uint8(&raw.pk, CS_MSG_READY);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint32(&raw.pk, CS_PROTO_MAX_CAPACITY + 1);
    s_raw_reject(&raw, "out of range");

    /* status beyond the last status */
    s_raw_init(&raw);
    msgpack_pack_map(&raw.pk, 5);
    msgpack_pack_uint8(&raw.pk, 0);
    msgpack_pack_uint8(&raw.pk, CS_MSG_STATE);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 2);
    s_raw_str(&raw, "c", 1);
    msgpack_pack_uint8(&raw.pk, 3);
    msgpack_pack_uint8(&raw.pk, CS_STATUS_COUNT);
    msgpack_pack_uint8(&raw.pk, 5);
    msgpack_pack_uint8(&raw.pk, 0);
    s_raw_reject(&raw, "key 3 (status): value out of range");

    /* unknown task kind; task_id 0 */
    s_raw_init(&raw);
    msgpack_pack_map(&raw.pk, 4);
    msgpack_pack_uint8(&raw.pk, 0);
    msgpack_pack_uint8(&raw.pk, CS_MSG_TASK);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 2);
    msgpack_pack_uint8(&raw.pk, 9);
    msgpack_pack_uint8(&raw.pk, 3);
    s_raw_str(&raw, "c", 1);
    s_raw_reject(&raw, "(kind): value out of range");

    s_raw_init(&raw);
    msgpack_pack_map(&raw.pk, 4);
    msgpack_pack_uint8(&raw.pk, 0);
    msgpack_pack_uint8(&raw.pk, CS_MSG_TASK);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 0);
    msgpack_pack_uint8(&raw.pk, 2);
    msgpack_pack_uint8(&raw.pk, CS_TASK_BUILD);
    msgpack_pack_uint8(&raw.pk, 3);
    s_raw_str(&raw, "c", 1);
    s_raw_reject(&raw, "(task_id): value out of range");

    /* a pid that does not fit 32 bits */
    s_raw_init(&raw);
    msgpack_pack_map(&raw.pk, 3);
    msgpack_pack_uint8(&raw.pk, 0);
    msgpack_pack_uint8(&raw.pk, CS_MSG_READY);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 3);
    msgpack_pack_uint64(&raw.pk, 1ull << 33);
    s_raw_reject(&raw, "(pid): value out of range");
}

static void test_reject_missing_keys(void **state)
{
    (void)state;
    s_raw_t raw;
    s_raw_init(&raw);
    msgpack_pack_map(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 0);
    msgpack_pack_uint8(&raw.pk, CS_MSG_STATE);
    s_raw_reject(&raw, "STATE: key 1 (seq): required key missing");

    s_raw_init(&raw);
    msgpack_pack_map(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 1);
    s_raw_reject(&raw, "message type (key 0) missing");

    /* a required string may not be nil */
    s_raw_init(&raw);
    msgpack_pack_map(&raw.pk, 2);
    msgpack_pack_uint8(&raw.pk, 0);
    msgpack_pack_uint8(&raw.pk, CS_MSG_ERROR);
    msgpack_pack_uint8(&raw.pk, 2);
    msgpack_pack_nil(&raw.pk);
    s_raw_reject(&raw, "(reason): expected a string, got nil");

    /* a row without its connection */
    s_raw_init(&raw);
    msgpack_pack_map(&raw.pk, 3);
    msgpack_pack_uint8(&raw.pk, 0);
    msgpack_pack_uint8(&raw.pk, CS_MSG_SNAPSHOT_ROWS);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 2);
    msgpack_pack_array(&raw.pk, 1);
    msgpack_pack_map(&raw.pk, 2);
    msgpack_pack_uint8(&raw.pk, 2);
    msgpack_pack_uint8(&raw.pk, CS_STATUS_READY);
    msgpack_pack_uint8(&raw.pk, 4);
    msgpack_pack_uint8(&raw.pk, 0);
    s_raw_reject(&raw, "row 0: key 1 (connection): required key missing");
}

static void test_reject_duplicate_and_bad_keys(void **state)
{
    (void)state;
    s_raw_t raw;
    s_raw_state(&raw, 1);
    msgpack_pack_uint8(&raw.pk, 2); /* connection again */
    s_raw_str(&raw, "other", 5);
    s_raw_reject(&raw, "duplicate key 2");

    s_raw_state(&raw, 1);
    s_raw_str(&raw, "key", 3);
    msgpack_pack_nil(&raw.pk);
    s_raw_reject(&raw, "map key is a string");

    s_raw_state(&raw, 1);
    msgpack_pack_int(&raw.pk, -3);
    msgpack_pack_nil(&raw.pk);
    s_raw_reject(&raw, "map key is a negative integer");

    s_raw_init(&raw); /* more keys than a message may have */
    msgpack_pack_map(&raw.pk, CS_PROTO_MAX_KEYS + 1);
    msgpack_pack_uint8(&raw.pk, 0);
    msgpack_pack_uint8(&raw.pk, CS_MSG_HEARTBEAT);
    for (int k = 1; k <= CS_PROTO_MAX_KEYS; k++) {
        msgpack_pack_uint8(&raw.pk, (uint8_t)(100 + k));
        msgpack_pack_nil(&raw.pk);
    }
    s_raw_reject(&raw, "more keys than the limit");
}

static void test_reject_lengths_beyond_data(void **state)
{
    (void)state;
    /* {0: 5, 1: str32 claiming 1 GiB} with 3 bytes of string */
    const unsigned char str_long[] = {0x82, 0x00, 0x05, 0x01, 0xdb, 0x40,
                                      0x00, 0x00, 0x00, 'a',  'b',  'c'};
    s_expect_reject(str_long, sizeof str_long, "string of 1073741824 bytes exceeds the limit");
    const unsigned char str_short[] = {0x82, 0x00, 0x05, 0x01, 0xd9, 0x10, 'a', 'b'};
    s_expect_reject(str_short, sizeof str_short, "string of 16 bytes but only 2 remain");
    /* array32 claiming 4 billion elements: rejected before anything is allocated */
    const unsigned char arr_huge[] = {0x82, 0x00, 0x05, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff};
    s_expect_reject(arr_huge, sizeof arr_huge, "exceeds the limit of 4096");
    const unsigned char arr_long[] = {0x82, 0x00, 0x05, 0x01, 0xdc, 0x00, 0x10, 0xc0};
    s_expect_reject(arr_long, sizeof arr_long, "array longer than the bytes that remain");
    const unsigned char map_long[] = {0x82, 0x00, 0x05, 0x01, 0xde, 0x00, 0x08, 0xc0, 0xc0};
    s_expect_reject(map_long, sizeof map_long, "map longer than the bytes that remain");
    const unsigned char bin_long[] = {0x82, 0x00, 0x05, 0x01, 0xc5, 0x01, 0x00, 0x00};
    s_expect_reject(bin_long, sizeof bin_long, "binary of 256 bytes but only 1 remain");
    const unsigned char ext_long[] = {0x82, 0x00, 0x05, 0x01, 0xc7, 0x05, 0x01, 0x00};
    s_expect_reject(ext_long, sizeof ext_long, "extension");
    const unsigned char len_cut[] = {0x82, 0x00, 0x05, 0x01, 0xdb, 0x00};
    s_expect_reject(len_cut, sizeof len_cut, "truncated length");
    const unsigned char int_cut[] = {0x82, 0x00, 0x05, 0x01, 0xcf, 0x00};
    s_expect_reject(int_cut, sizeof int_cut, "integer");
    const unsigned char never[] = {0x81, 0x00, 0xc1};
    s_expect_reject(never, sizeof never, "0xc1");
    s_expect_reject("", 0, "empty body");
}

static void test_reject_caps(void **state)
{
    (void)state;
    s_raw_t raw;
    /* a connection name one byte over the cap */
    char name[CS_PROTO_MAX_NAME + 1];
    memset(name, 'n', sizeof name);
    s_raw_init(&raw);
    msgpack_pack_map(&raw.pk, 5);
    msgpack_pack_uint8(&raw.pk, 0);
    msgpack_pack_uint8(&raw.pk, CS_MSG_STATE);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 2);
    s_raw_str(&raw, name, sizeof name);
    msgpack_pack_uint8(&raw.pk, 3);
    msgpack_pack_uint8(&raw.pk, 0);
    msgpack_pack_uint8(&raw.pk, 5);
    msgpack_pack_uint8(&raw.pk, 0);
    s_raw_reject(&raw, "(connection): string longer than the limit");

    /* more rows than one SNAPSHOT_ROWS may carry */
    s_raw_init(&raw);
    msgpack_pack_map(&raw.pk, 3);
    msgpack_pack_uint8(&raw.pk, 0);
    msgpack_pack_uint8(&raw.pk, CS_MSG_SNAPSHOT_ROWS);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 1);
    msgpack_pack_uint8(&raw.pk, 2);
    msgpack_pack_array(&raw.pk, CS_PROTO_MAX_ROWS + 1);
    for (int i = 0; i <= CS_PROTO_MAX_ROWS; i++)
        msgpack_pack_map(&raw.pk, 0);
    s_raw_reject(&raw, "more rows than the limit");

    /* a body over 4 MiB is refused before it is scanned */
    size_t big = CS_PROTO_MAX_BODY + 1;
    char *huge = calloc(1, big);
    s_expect_reject(huge, big, "larger than the limit");
    free(huge);
}

static void test_reject_too_deep(void **state)
{
    (void)state;
    s_raw_t raw;
    s_raw_state(&raw, 1);
    msgpack_pack_uint8(&raw.pk, 50);
    for (int i = 0; i < CS_PROTO_MAX_DEPTH; i++)
        msgpack_pack_array(&raw.pk, 1);
    msgpack_pack_nil(&raw.pk);
    s_raw_reject(&raw, "nesting deeper than the limit");

    /* exactly at the limit is fine (ignored unknown key) */
    s_raw_state(&raw, 1);
    msgpack_pack_uint8(&raw.pk, 50);
    for (int i = 0; i < CS_PROTO_MAX_DEPTH - 1; i++)
        msgpack_pack_array(&raw.pk, 1);
    msgpack_pack_nil(&raw.pk);
    char why[256];
    cs_msg_t *msg = cs_msg_decode(raw.sbuf.data, raw.sbuf.size, why, sizeof why);
    assert_non_null(msg);
    cs_msg_destroy(&msg);
    msgpack_sbuffer_destroy(&raw.sbuf);
}

static void test_reject_bad_strings(void **state)
{
    (void)state;
    s_raw_t raw;
    s_raw_state(&raw, 1);
    msgpack_pack_uint8(&raw.pk, 4);
    s_raw_str(&raw, "a\0b", 3);
    s_raw_reject(&raw, "NUL byte");

    s_raw_state(&raw, 1);
    msgpack_pack_uint8(&raw.pk, 4);
    s_raw_str(&raw, "\xc3\x28", 2);
    s_raw_reject(&raw, "not valid UTF-8");

    s_raw_state(&raw, 1);
    msgpack_pack_uint8(&raw.pk, 4);
    s_raw_str(&raw, "\xed\xa0\x80", 3); /* a UTF-16 surrogate */
    s_raw_reject(&raw, "not valid UTF-8");
}

/* The request_id of a control request: read from messages that decode, and from those
 * that are rejected for another reason; not from what has no unambiguous one. */
static int s_peek(const char *bytes, size_t size, uint64_t *id)
{
    *id = 12345; /* left alone unless found */
    return cs_msg_peek_request_id(bytes, size, id);
}

#define PEEK(bytes, id) s_peek(bytes, sizeof bytes - 1, id)
#define B(literal)                                                                                 \
    {                                                                                              \
        literal, sizeof literal - 1                                                                \
    }

static void test_peek_request_id(void **state)
{
    (void)state;
    uint64_t id;
    /* every message that decodes: control types have one (77), the others none */
    for (size_t i = 0; i < sizeof s_all_types / sizeof *s_all_types; i++) {
        cs_msg_t *msg = s_full_message(s_all_types[i]);
        char *data;
        size_t size;
        s_encode(msg, &data, &size);
        int rc = s_peek(data, size, &id);
        if (s_all_types[i] >= CS_PROTO_CONTROL_TYPES) {
            assert_int_equal(rc, 0);
            assert_int_equal(id, 77);
        } else {
            assert_int_equal(rc, -1); /* key 1 is a capacity, a task_id, a seq... */
            assert_int_equal(id, 12345);
        }
        free(data);
        cs_msg_destroy(&msg);
    }
    char why[256];
    /* SNAPSHOT_REQ 4243 whose prefix is an integer: rejected, and its id is read */
    static const char wrong_field[] = "\x83\x00\x14\x01\xcd\x10\x93\x02\x07";
    assert_null(cs_msg_decode(wrong_field, sizeof wrong_field - 1, why, sizeof why));
    assert_int_equal(PEEK(wrong_field, &id), 0);
    assert_int_equal(id, 4243);
    /* a type this version does not know (99), key 1 before key 0 */
    static const char unknown_type[] = "\x82\x01\x2a\x00\x63";
    assert_null(cs_msg_decode(unknown_type, sizeof unknown_type - 1, why, sizeof why));
    assert_int_equal(PEEK(unknown_type, &id), 0);
    assert_int_equal(id, 42);
    /* a string key and a nested map holding a key 1 of its own are skipped */
    static const char skipped[] = "\x84\xa1k\x01\x00\x17\x02\x81\x01\x05\x01\x09";
    assert_null(cs_msg_decode(skipped, sizeof skipped - 1, why, sizeof why));
    assert_int_equal(PEEK(skipped, &id), 0);
    assert_int_equal(id, 9);
    /* every width of unsigned integer, and a signed one that is not negative */
    static const char u64[] = "\x82\x00\x19\x01\xcf\xff\xff\xff\xff\xff\xff\xff\xfe";
    assert_int_equal(PEEK(u64, &id), 0);
    assert_int_equal(id, UINT64_MAX - 1);
    static const char i8[] = "\x82\x00\x19\x01\xd0\x05";
    assert_int_equal(PEEK(i8, &id), 0);
    assert_int_equal(id, 5);
    /* a map 16 */
    static const char map16[] = "\xde\x00\x02\x00\xcc\x19\x01\xcd\x01\x00";
    assert_int_equal(PEEK(map16, &id), 0);
    assert_int_equal(id, 256);

    /* no request_id to read */
    static const struct {
        const char *bytes;
        size_t size;
    } none[] = {
        B("\x82\x00\x19\x01\xd0\xff"),                             /* negative */
        B("\x82\x00\x19\x01\xa1x"),                                /* a string */
        B("\x82\x00\x19\x01\xc0"),                                 /* nil */
        B("\x82\x00\x19\x01\xcb\x40\x00\x00\x00\x00\x00\x00\x00"), /* a float */
        B("\x81\x00\x19"),                                         /* missing */
        B("\x83\x00\x19\x01\x05\x01\x06"),                         /* twice: ambiguous */
        B("\x81\x01\x05"),                                         /* no type */
        B("\x82\x00\xa1x\x01\x05"),                        /* a type that is not an integer */
        B("\x83\x00\x19\x00\x19\x01\x05"),                 /* the type twice */
        B("\x82\x00\x0b\x01\x05"),                         /* a publish type (11): key 1 is a seq */
        B("\x82\x00\x13\x01\x05"),                         /* 19, unknown, not a control type */
        B("\x83\x00\x19\x01\xcd\x10"),                     /* truncated */
        B("\x82\x00\x19\x01\x05\x00"),                     /* trailing bytes */
        B("\x92\x00\x19"),                                 /* an array */
        B("\x19"),                                         /* an integer */
        B("\x83\x00\x19\x01\x05\x02\xc1"),                 /* an invalid byte */
        B("\x83\x00\x19\x01\x05\x02\x91\x91\x91\x91\x05"), /* nested too deep */
    };
    for (size_t i = 0; i < sizeof none / sizeof *none; i++)
        if (s_peek(none[i].bytes, none[i].size, &id) != -1 || id != 12345)
            fail_msg("case %zu: read request_id %llu", i, (unsigned long long)id);
    assert_int_equal(s_peek("", 0, &id), -1);
}

static void test_header(void **state)
{
    (void)state;
    char why[256];
    assert_int_equal(cs_proto_check_header("connstate/1", 11, why, sizeof why), 0);
    assert_int_equal(cs_proto_check_header("connstate/2", 11, why, sizeof why), -1);
    assert_non_null(strstr(why, "version 2 is not supported"));
    assert_int_equal(cs_proto_check_header("connstate/1x", 12, why, sizeof why), -1);
    assert_int_equal(cs_proto_check_header("HTTP/1.1", 8, why, sizeof why), -1);
    assert_non_null(strstr(why, "not a connstate peer"));
    assert_int_equal(cs_proto_check_header("", 0, why, sizeof why), -1);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(cs_msg_type_name(CS_MSG_SNAPSHOT_END), "SNAPSHOT_END");
    assert_string_equal(cs_msg_type_name((cs_msg_type_t)0), "?");
    assert_string_equal(cs_status_name(CS_STATUS_DISABLED), "disabled");
    assert_string_equal(cs_status_name((cs_status_t)42), "?");
    assert_string_equal(cs_task_kind_name(CS_TASK_DELETE), "delete");
    assert_string_equal(cs_task_kind_name((cs_task_kind_t)0), "?");
    assert_string_equal(cs_msg_key_name(CS_MSG_TASK, 0), "type");
    assert_string_equal(cs_msg_key_name(CS_MSG_TASK, 5), "config");
    assert_string_equal(cs_msg_key_name(CS_MSG_STATUS_REP, 1), "request_id");
    assert_string_equal(cs_msg_key_name(CS_MSG_READY, 99), "?");
    assert_string_equal(cs_msg_key_name((cs_msg_type_t)99, 1), "?");
    assert_string_equal(cs_row_key_name(1), "connection");
    assert_string_equal(cs_row_key_name(8), "?");
    cs_status_t status;
    assert_int_equal(cs_status_parse("updating", 8, &status), 0);
    assert_int_equal(status, CS_STATUS_UPDATING);
    assert_int_equal(cs_status_parse("ready!", 5, &status), 0);
    assert_int_equal(status, CS_STATUS_READY);
    assert_int_equal(cs_status_parse("read", 4, &status), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_type),
        cmocka_unit_test(test_round_trip_fields),
        cmocka_unit_test(test_optional_strings_absent),
        cmocka_unit_test(test_optional_kind_absent),
        cmocka_unit_test(test_empty_string),
        cmocka_unit_test(test_encode_rejects),
        cmocka_unit_test(test_add_row_limit),
        cmocka_unit_test(test_add_worker_row_limit),
        cmocka_unit_test(test_env_entries),
        cmocka_unit_test(test_task_settings_bounds),
        cmocka_unit_test(test_raw_state_valid),
        cmocka_unit_test(test_reject_truncated),
        cmocka_unit_test(test_reject_trailing_bytes),
        cmocka_unit_test(test_reject_wrong_types),
        cmocka_unit_test(test_reject_out_of_range),
        cmocka_unit_test(test_reject_missing_keys),
        cmocka_unit_test(test_reject_duplicate_and_bad_keys),
        cmocka_unit_test(test_reject_lengths_beyond_data),
        cmocka_unit_test(test_reject_caps),
        cmocka_unit_test(test_reject_too_deep),
        cmocka_unit_test(test_reject_bad_strings),
        cmocka_unit_test(test_peek_request_id),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_lists_of_strings),
    };
    return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
