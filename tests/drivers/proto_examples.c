/* Test driver: the worked examples of proto/PROTOCOL.md, one message of every type encoded
 * by the real codec and printed as annotated hex dumps, so that the document shows exactly
 * what connstate sends (test_protocol fails when PROTOCOL.md holds anything else).
 *   proto_examples                  prints the examples (the text between the markers)
 *   proto_examples --update FILE    writes them into FILE between the markers
 *       <!-- examples: begin -->  and  <!-- examples: end -->
 * Exits 0; 1 when an example does not encode or does not decode back to the same bytes, or
 * FILE has no markers; 2 on a usage error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cs_buf.h"
#include "cs_proto.h"

#define S_BEGIN "<!-- examples: begin -->\n"
#define S_END   "<!-- examples: end -->\n"
#define S_HEX   12 /* bytes per line */
#define S_WIDTH 46 /* the hex column */

/* Values the examples share, so that they tell one story: the subscriber's snapshot,
 * request 7, is at seq 1042 of supervisor instance 7310628105514620331. */
#define S_INSTANCE 7310628105514620331ull
#define S_TIME     1764600000123456 /* 2025-12-01T14:40:00.123456Z */

typedef struct {
    const char *title;
    const char *from; /* who sends it, to whom */
    const char *text; /* what it shows */
    const char *topic;
    cs_msg_t *msg;
} s_example_t;

static cs_msg_t *s_msg(cs_msg_type_t type)
{
    cs_msg_t *msg = cs_msg_new(type);
    if (!msg) {
        fprintf(stderr, "proto_examples: out of memory\n");
        exit(1);
    }
    return msg;
}

static s_example_t s_example_of(const char *title, const char *from, const char *text,
                                const char *topic, cs_msg_t *msg)
{
    return (s_example_t){title, from, text, topic, msg};
}

#define S_ADD(title, from, text, topic) examples[n++] = s_example_of(title, from, text, topic, m)

/* The examples, in PROTOCOL.md's order; returns how many, or -1. */
static int s_build(s_example_t *examples)
{
    int n = 0;
    cs_msg_t *m = s_msg(CS_MSG_READY);
    m->capacity = 4;
    m->name = strdup("wrk-1");
    m->pid = 4242;
    S_ADD("READY", "worker → supervisor",
          "A worker announces itself, from a new socket: it takes up to 4 tasks at once.", NULL);

    m = s_msg(CS_MSG_TASK);
    m->task_id = 17;
    m->kind = CS_TASK_BUILD;
    m->connection = strdup("syn_1");
    m->plugin = strdup("synthetic");
    m->config = strdup("{\"columns\":3,\"tables\":2}");
    m->fingerprint = strdup("9b1d5c0e7f3a2468");
    m->attempt = 1;
    m->fresh = true;
    m->memory_max_mb = 2048;
    if (cs_strs_add(&m->env, "SYNTHETIC_SEED=7") != 0)
        return -1;
    S_ADD("TASK", "supervisor → worker",
          "Build connection syn_1: its first attempt, and no schema of that name existed. Its "
          "plugin instance limits the plugin to 2 GiB and sets one variable of its environment.",
          NULL);

    m = s_msg(CS_MSG_RESULT);
    m->task_id = 17;
    m->connection = strdup("syn_1");
    m->ok = true;
    m->plugin_version = strdup("1.0.0");
    m->schema_hash = strdup("0c4f3e2d1b0a9988");
    m->tables = 2;
    m->ddl_count = 4;
    m->elapsed_us = 5321;
    m->kind = CS_TASK_BUILD;
    S_ADD("RESULT", "worker → supervisor",
          "Task 17 done: the schema has 2 tables, made in 4 statements in 5.3 ms.", NULL);

    m = s_msg(CS_MSG_HEARTBEAT);
    m->in_flight = 1;
    S_ADD("HEARTBEAT", "worker → supervisor, and back",
          "The worker holds one task (in the supervisor's: it has one in flight at that worker).",
          NULL);

    m = s_msg(CS_MSG_DISCONNECT);
    m->reason = strdup("worker stopping");
    S_ADD("DISCONNECT", "worker → supervisor, and back", "A worker that stops gracefully.", NULL);

    m = s_msg(CS_MSG_STATE);
    m->seq = 1043;
    m->connection = strdup("syn_2");
    m->status = CS_STATUS_READY;
    m->time_us = S_TIME + 2000000;
    m->plugin = strdup("synthetic");
    S_ADD("STATE", "supervisor → subscribers",
          "syn_2 became ready: the first change after the snapshot below. Its topic is the "
          "connection's name.",
          "syn_2");

    m = s_msg(CS_MSG_PUB_HEARTBEAT);
    m->seq = 1042;
    m->instance = S_INSTANCE;
    m->time_us = S_TIME;
    S_ADD("PUB_HEARTBEAT", "supervisor → subscribers",
          "The latest seq published is 1042; the supervisor has its database (db_down_since 0) "
          "and is not a standby. Its topic is `!hb`.",
          "!hb");

    m = s_msg(CS_MSG_SNAPSHOT_REQ);
    m->request_id = 7;
    m->prefix = strdup("syn_");
    S_ADD("SNAPSHOT_REQ", "client → supervisor",
          "A subscriber asks for the rows of the connections whose names start with `syn_`.", NULL);

    m = s_msg(CS_MSG_SNAPSHOT_ROWS);
    m->request_id = 7;
    if (cs_msg_add_row(m, "syn_1", CS_STATUS_READY, NULL, S_TIME - 1000000, true, 1040,
                       "synthetic") != 0 ||
        cs_msg_add_row(m, "syn_2", CS_STATUS_ERROR, "plugin: tables must be at least 1",
                       S_TIME - 500000, false, 1041, "synthetic") != 0)
        return -1;
    S_ADD("SNAPSHOT_ROWS", "supervisor → client",
          "The rows of request 7: syn_1 is ready with its comments, syn_2 failed.", NULL);

    m = s_msg(CS_MSG_SNAPSHOT_END);
    m->request_id = 7;
    m->seq = 1042;
    m->instance = S_INSTANCE;
    m->total = 2;
    S_ADD("SNAPSHOT_END", "supervisor → client",
          "The end of request 7: 2 rows, as of seq 1042. The subscriber then applies the STATEs "
          "above 1042.",
          NULL);

    m = s_msg(CS_MSG_REFRESH_REQ);
    m->request_id = 8;
    m->wait = true;
    S_ADD("REFRESH_REQ", "client → supervisor",
          "A refresh, and a second reply when it is complete.", NULL);

    m = s_msg(CS_MSG_REFRESH_REP);
    m->request_id = 8;
    m->done = true;
    m->counts[CS_STATUS_READY] = 998;
    m->counts[CS_STATUS_ERROR] = 2;
    m->elapsed_us = 2500000;
    m->generation = 3;
    m->total = 1000;
    S_ADD("REFRESH_REP", "supervisor → client",
          "The second reply to request 8: refresh 3 is complete after 2.5 s, 998 connections "
          "ready and 2 in error. (The first, sent at once, said done false, generation 3.)",
          NULL);

    m = s_msg(CS_MSG_STATUS_REQ);
    m->request_id = 9;
    S_ADD("STATUS_REQ", "client → supervisor", "A client asks for the supervisor's status.", NULL);

    m = s_msg(CS_MSG_STATUS_REP);
    m->request_id = 9;
    m->counts[CS_STATUS_READY] = 998;
    m->counts[CS_STATUS_ERROR] = 2;
    m->seq = 1043;
    m->instance = S_INSTANCE;
    m->workers = 2;
    m->generation = 3;
    m->total = 1000;
    S_ADD("STATUS_REP", "supervisor → client",
          "1000 connections, 2 workers connected, nothing to do, the database available.", NULL);

    m = s_msg(CS_MSG_ERROR);
    m->request_id = 7;
    m->reason = strdup("too many snapshots in flight for this client (at most 2); ask again "
                       "when one is done");
    S_ADD("ERROR", "supervisor → client",
          "Request 7 refused: the client has 2 snapshots in flight already.", NULL);
    return n;
}

/* ---- the annotated dump ---------------------------------------------------------------- */

typedef struct {
    const unsigned char *data;
    size_t size, pos;
    cs_buf_t *out;
    cs_msg_type_t type;
} s_dump_t;

typedef enum { V_UINT, V_INT, V_NIL, V_BOOL, V_STR, V_ARRAY, V_MAP, V_OTHER } s_vtype_t;

typedef struct {
    s_vtype_t type;
    uint64_t u;
    int64_t i;
    const char *str;
    size_t len; /* string bytes; array or map entries */
} s_value_t;

static uint64_t s_be(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Reads one value's head (and a string's bytes) at pos: what the codec writes. */
static s_value_t s_read(s_dump_t *d)
{
    s_value_t v = {V_OTHER, 0, 0, NULL, 0};
    unsigned char b = d->data[d->pos++];
    const unsigned char *p = d->data + d->pos;
    if (b <= 0x7f) {
        v = (s_value_t){V_UINT, b, 0, NULL, 0};
    } else if (b >= 0xe0) {
        v = (s_value_t){V_INT, 0, (int8_t)b, NULL, 0};
    } else if ((b & 0xf0) == 0x80 || (b & 0xf0) == 0x90) {
        v.type = (b & 0xf0) == 0x80 ? V_MAP : V_ARRAY;
        v.len = b & 0x0f;
    } else if ((b & 0xe0) == 0xa0 || (b >= 0xd9 && b <= 0xdb)) {
        size_t n = (b & 0xe0) == 0xa0 ? 0 : (size_t)1 << (b - 0xd9);
        v.type = V_STR;
        v.len = (b & 0xe0) == 0xa0 ? (size_t)(b & 0x1f) : (size_t)s_be(p, n);
        v.str = (const char *)p + n;
        d->pos += n + v.len;
    } else if (b >= 0xcc && b <= 0xcf) {
        size_t n = (size_t)1 << (b - 0xcc);
        v = (s_value_t){V_UINT, s_be(p, n), 0, NULL, 0};
        d->pos += n;
    } else if (b >= 0xd0 && b <= 0xd3) {
        size_t n = (size_t)1 << (b - 0xd0);
        uint64_t raw = s_be(p, n);
        int shift = (int)(64 - 8 * n);
        v = (s_value_t){V_INT, 0, (int64_t)(raw << shift) >> shift, NULL, 0};
        d->pos += n;
    } else if (b == 0xdc || b == 0xdd || b == 0xde || b == 0xdf) {
        size_t n = b == 0xdc || b == 0xde ? 2 : 4;
        v.type = b <= 0xdd ? V_ARRAY : V_MAP;
        v.len = (size_t)s_be(p, n);
        d->pos += n;
    } else if (b == 0xc0) {
        v.type = V_NIL;
    } else if (b == 0xc2 || b == 0xc3) {
        v = (s_value_t){V_BOOL, b == 0xc3, 0, NULL, 0};
    }
    return v;
}

/* One line: the bytes from..to (wrapped at S_HEX, the note on the first line), indented. */
static void s_line(s_dump_t *d, size_t from, size_t to, int depth, const char *note)
{
    for (size_t at = from; at < to || at == from; at += S_HEX) {
        size_t start = d->out->len;
        for (int i = 0; i < depth; i++)
            cs_buf_puts(d->out, "  ");
        for (size_t i = at; i < to && i < at + S_HEX; i++)
            cs_buf_printf(d->out, i == at ? "%02x" : " %02x", d->data[i]);
        if (at == from && note) {
            while (d->out->len - start < S_WIDTH)
                cs_buf_putc(d->out, ' ');
            cs_buf_puts(d->out, note);
        }
        cs_buf_putc(d->out, '\n');
        if (to <= at + S_HEX)
            break;
    }
}

/* A value as the note shows it: numbers, true/false, "strings" (JSON escapes), named enums. */
static void s_note_value(cs_buf_t *note, const s_value_t *v, const char *name)
{
    switch (v->type) {
        case V_UINT:
            cs_buf_printf(note, "%llu", (unsigned long long)v->u);
            if (strcmp(name, "type") == 0)
                cs_buf_printf(note, " (%s)", cs_msg_type_name((cs_msg_type_t)v->u));
            else if (strcmp(name, "status") == 0)
                cs_buf_printf(note, " (%s)", cs_status_name((cs_status_t)v->u));
            else if (strcmp(name, "kind") == 0)
                cs_buf_printf(note, " (%s)", cs_task_kind_name((cs_task_kind_t)v->u));
            if (v->u && (strcmp(name, "time_us") == 0 || strcmp(name, "db_down_since") == 0)) {
                time_t t = (time_t)(v->u / 1000000);
                struct tm tm;
                char when[32];
                strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", gmtime_r(&t, &tm));
                cs_buf_printf(note, " (%s.%06lluZ)", when, (unsigned long long)(v->u % 1000000));
            }
            break;
        case V_INT:
            cs_buf_printf(note, "%lld", (long long)v->i);
            break;
        case V_NIL:
            cs_buf_puts(note, "nil");
            break;
        case V_BOOL:
            cs_buf_puts(note, v->u ? "true" : "false");
            break;
        case V_STR:
            cs_buf_json_string(note, v->str, v->len);
            break;
        default:
            cs_buf_puts(note, "?");
    }
}

static int s_dump_map(s_dump_t *d, int depth, bool row, const char *what);

/* One entry of a map: the key and a scalar, string or array of numbers on one line; an array
 * of rows as its head, then each row map below it. */
static int s_dump_entry(s_dump_t *d, int depth, bool row)
{
    size_t from = d->pos;
    s_value_t key = s_read(d);
    if (key.type != V_UINT)
        return -1;
    const char *name =
        row ? cs_row_key_name((unsigned)key.u) : cs_msg_key_name(d->type, (unsigned)key.u);
    cs_buf_t note = {0};
    cs_buf_printf(&note, "%llu %s: ", (unsigned long long)key.u, name);
    s_value_t value = s_read(d);
    int rc = 0;
    if (value.type == V_ARRAY && strcmp(name, "rows") == 0) {
        cs_buf_printf(&note, "array of %zu rows", value.len);
        s_line(d, from, d->pos, depth, cs_buf_str(&note));
        for (size_t i = 0; i < value.len && rc == 0; i++) {
            char what[32];
            snprintf(what, sizeof what, "row %zu: ", i);
            rc = s_dump_map(d, depth + 1, true, what);
        }
    } else if (value.type == V_ARRAY) {
        cs_buf_putc(&note, '[');
        for (size_t i = 0; i < value.len && rc == 0; i++) {
            s_value_t item = s_read(d);
            if (item.type != V_UINT && item.type != V_STR)
                rc = -1;
            if (i)
                cs_buf_puts(&note, ", ");
            s_note_value(&note, &item, "");
        }
        cs_buf_putc(&note, ']');
        s_line(d, from, d->pos, depth, cs_buf_str(&note));
    } else if (value.type == V_MAP || value.type == V_OTHER) {
        rc = -1;
    } else {
        s_note_value(&note, &value, name);
        s_line(d, from, d->pos, depth, cs_buf_str(&note));
    }
    cs_buf_free(&note);
    return rc;
}

static int s_dump_map(s_dump_t *d, int depth, bool row, const char *what)
{
    size_t from = d->pos;
    s_value_t map = s_read(d);
    if (map.type != V_MAP)
        return -1;
    char note[64];
    snprintf(note, sizeof note, "%smap of %zu", what, map.len);
    s_line(d, from, d->pos, depth, note);
    for (size_t i = 0; i < map.len; i++)
        if (s_dump_entry(d, depth + 1, row) != 0)
            return -1;
    return 0;
}

/* A frame that is text (header, topic): its bytes and the text. */
static void s_text_frame(cs_buf_t *out, int number, const char *what, const char *text)
{
    cs_buf_printf(out, "frame %d, %s (%zu bytes):\n", number, what, strlen(text));
    s_dump_t d = {(const unsigned char *)text, strlen(text), 0, out, 0};
    char note[96];
    snprintf(note, sizeof note, "\"%s\"", text);
    s_line(&d, 0, d.size, 1, note);
}

static int s_example(cs_buf_t *out, const s_example_t *ex)
{
    char *data = NULL, *again = NULL;
    size_t size = 0, again_size = 0;
    char why[256] = "";
    cs_msg_t *decoded = NULL;
    if (cs_msg_encode(ex->msg, &data, &size, why, sizeof why) != 0 ||
        !(decoded = cs_msg_decode(data, size, why, sizeof why)) ||
        cs_msg_encode(decoded, &again, &again_size, why, sizeof why) != 0 || again_size != size ||
        memcmp(data, again, size) != 0) {
        fprintf(stderr, "proto_examples: %s does not encode and decode back: %s\n", ex->title, why);
        free(data);
        free(again);
        cs_msg_destroy(&decoded);
        return -1;
    }
    cs_buf_printf(out, "#### %s: %s\n\n%s\n\n```text\n", ex->title, ex->from, ex->text);
    int frame = 1;
    if (ex->topic)
        s_text_frame(out, frame++, "topic", ex->topic);
    s_text_frame(out, frame++, "header", CS_PROTO_HEADER);
    cs_buf_printf(out, "frame %d, body (%zu bytes):\n", frame, size);
    s_dump_t d = {(const unsigned char *)data, size, 0, out, ex->msg->type};
    int rc = s_dump_map(&d, 1, false, "");
    if (rc != 0 || d.pos != size)
        fprintf(stderr, "proto_examples: %s: cannot annotate byte %zu\n", ex->title, d.pos);
    cs_buf_puts(out, "```\n\n");
    free(data);
    free(again);
    cs_msg_destroy(&decoded);
    return rc == 0 && d.pos == size ? 0 : -1;
}

/* Replaces what lies between the markers of the file with text. Returns 0 or -1. */
static int s_update(const char *path, const char *text)
{
    FILE *in = fopen(path, "r");
    cs_buf_t file = {0};
    char chunk[4096];
    size_t got;
    while (in && (got = fread(chunk, 1, sizeof chunk, in)) > 0)
        cs_buf_append(&file, chunk, got);
    if (in)
        fclose(in);
    const char *all = cs_buf_str(&file);
    const char *begin = in ? strstr(all, S_BEGIN) : NULL;
    const char *end = begin ? strstr(begin, S_END) : NULL;
    if (!end) {
        fprintf(stderr, "proto_examples: %s has no lines %s and %s", path, S_BEGIN, S_END);
        cs_buf_free(&file);
        return -1;
    }
    cs_buf_t out = {0};
    cs_buf_append(&out, all, (size_t)(begin - all) + strlen(S_BEGIN));
    cs_buf_puts(&out, text);
    cs_buf_puts(&out, end);
    FILE *f = fopen(path, "w");
    int rc = f && fwrite(out.data, 1, out.len, f) == out.len ? 0 : -1;
    if (f && fclose(f) != 0)
        rc = -1;
    if (rc != 0)
        fprintf(stderr, "proto_examples: cannot write %s\n", path);
    cs_buf_free(&out);
    cs_buf_free(&file);
    return rc;
}

int main(int argc, char **argv)
{
    if (!(argc == 1 || (argc == 3 && strcmp(argv[1], "--update") == 0))) {
        fprintf(stderr, "usage: proto_examples [--update FILE]\n");
        return 2;
    }
    s_example_t examples[16]; /* one per message type (15), and room */
    int n = s_build(examples);
    if (n < 0)
        return 1;
    cs_buf_t out = {0};
    int rc = 0;
    for (int i = 0; i < n; i++) {
        rc |= s_example(&out, &examples[i]);
        cs_msg_destroy(&examples[i].msg);
    }
    if (rc == 0 && argc == 3)
        rc = s_update(argv[2], cs_buf_str(&out));
    else if (rc == 0)
        fputs(cs_buf_str(&out), stdout);
    cs_buf_free(&out);
    return rc == 0 ? 0 : 1;
}
