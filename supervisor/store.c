/* The connections' rows: kept in memory, written to connstate_internal.connection_state in
 * batches (one statement, one transaction, ending with one pg_notify), published only after
 * they commit. */
#include "supervisor.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_RETRY_FIRST_MS  100    /* backoff of a failed state write, doubling ... */
#define S_RETRY_MAX_MS    10000  /* ... up to this */
#define S_PENDING_WAIT_MS 60000  /* longest wait for a batch before a catalog read */
#define S_START_WRITE_MS  120000 /* longest the startup's pending batch may take */

/* The advisory lock key that makes one supervisor active per database ("connst"). */
#define S_LOCK_KEY "109304925990004"

static const char *const s_setup_sql =
    "CREATE SCHEMA IF NOT EXISTS connstate_internal;\n"
    "CREATE TABLE IF NOT EXISTS connstate_internal.connection_state (\n"
    "    connection_name text PRIMARY KEY,\n"
    "    status          text NOT NULL CHECK (status IN ('pending', 'updating', 'deleting',\n"
    "                                                    'ready', 'error', 'disabled')),\n"
    "    error           text,\n"
    "    comments_set    boolean NOT NULL DEFAULT false,\n"
    "    time_changed    timestamptz NOT NULL DEFAULT now(),\n"
    "    plugin          text,\n"
    "    plugin_version  text,\n"
    "    config_hash     text,\n"
    "    schema_hash     text,\n"
    "    type            text,\n"
    "    file_name       text,\n"
    "    start_line      integer,\n"
    "    end_line        integer,\n"
    "    seq             bigint NOT NULL DEFAULT 0,\n"
    "    worker          text,\n"
    "    attempts        integer NOT NULL DEFAULT 0,\n"
    "    detail          text\n"
    ") WITH (fillfactor = 50);\n" /* every row is updated in place, again and again (HOT) */
    "ALTER TABLE connstate_internal.connection_state ADD COLUMN IF NOT EXISTS detail text;\n"
    "CREATE TABLE IF NOT EXISTS connstate_internal.meta (\n"
    "    key   text PRIMARY KEY,\n"
    "    value bigint NOT NULL\n"
    ");\n"
    "INSERT INTO connstate_internal.meta VALUES ('last_seq', 0) ON CONFLICT DO NOTHING;\n"
    /* Readable by the role connstate_reader (granted to whoever needs it), by nobody else
     * but its owner: PUBLIC gets nothing. A supervisor without CREATEROLE leaves the role to
     * the operator (cs_store_start says so). */
    "REVOKE ALL ON SCHEMA connstate_internal FROM PUBLIC;\n"
    "REVOKE ALL ON ALL TABLES IN SCHEMA connstate_internal FROM PUBLIC;\n"
    "DO $$ BEGIN\n"
    "    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'connstate_reader') THEN\n"
    "        BEGIN\n"
    "            CREATE ROLE connstate_reader NOLOGIN;\n"
    "        EXCEPTION WHEN duplicate_object OR unique_violation OR insufficient_privilege\n"
    "            THEN NULL;\n"
    "        END;\n"
    "    END IF;\n"
    "    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'connstate_reader') THEN\n"
    "        GRANT USAGE ON SCHEMA connstate_internal TO connstate_reader;\n"
    "        GRANT SELECT ON connstate_internal.connection_state TO connstate_reader;\n"
    "    END IF;\n"
    "END $$;\n"
    "CREATE EXTENSION IF NOT EXISTS file_fdw;\n"
    "CREATE SERVER IF NOT EXISTS connstate_file FOREIGN DATA WRAPPER file_fdw;\n";

/* One batch: upserts and deletes from JSON, the last sequence number, then the NOTIFY. */
static const char *const s_batch_sql =
    "WITH r AS (\n"
    "    SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(n text, s text, e text, c boolean,\n"
    "        t bigint, q bigint, p text, pv text, ch text, sh text, ty text, f text, sl int,\n"
    "        el int, w text, a int, d text)\n"
    "), up AS (\n"
    "    INSERT INTO connstate_internal.connection_state AS cs (connection_name, status, error,\n"
    "        comments_set, time_changed, seq, plugin, plugin_version, config_hash, schema_hash,\n"
    "        type, file_name, start_line, end_line, worker, attempts, detail)\n"
    "    SELECT n, s, e, c, 'epoch'::timestamptz + t * interval '1 microsecond', q, p, pv, ch,\n"
    "        sh, ty, f, sl, el, w, a, d FROM r\n"
    "    ON CONFLICT (connection_name) DO UPDATE SET status = EXCLUDED.status,\n"
    "        error = EXCLUDED.error, comments_set = EXCLUDED.comments_set,\n"
    "        time_changed = EXCLUDED.time_changed, seq = EXCLUDED.seq, plugin = EXCLUDED.plugin,\n"
    "        plugin_version = EXCLUDED.plugin_version, config_hash = EXCLUDED.config_hash,\n"
    "        schema_hash = EXCLUDED.schema_hash, type = EXCLUDED.type,\n"
    "        file_name = EXCLUDED.file_name, start_line = EXCLUDED.start_line,\n"
    "        end_line = EXCLUDED.end_line, worker = EXCLUDED.worker, attempts = "
    "EXCLUDED.attempts,\n"
    "        detail = EXCLUDED.detail\n"
    "    RETURNING 1\n"
    "), del AS (\n"
    "    DELETE FROM connstate_internal.connection_state\n"
    "    WHERE connection_name IN (SELECT jsonb_array_elements_text($2::jsonb)) RETURNING 1\n"
    "), meta AS (\n"
    "    UPDATE connstate_internal.meta SET value = $3::bigint WHERE key = 'last_seq'\n"
    "    RETURNING 1\n"
    ")\n"
    "SELECT pg_notify('connstate_state', $4 || ',\"xid\":' || txid_current() || '}'),"
    " (SELECT count(*) FROM up), (SELECT count(*) FROM del)";

typedef struct {
    char *name;
    cs_visible_t row;
    bool deleted;
} s_entry_t;

struct cs_store {
    PGconn *pg;
    char error[CS_PROTO_MAX_ERROR]; /* of the failed batch */
    cs_store_commit_fn *on_commit;
    void *arg;
    zhashx_t *by_name; /* name -> cs_conn_t (owned) */
    zlistx_t *rows;    /* every cs_conn_t, for iteration */
    zlistx_t *dirty;   /* cs_conn_t waiting to be written */
    uint64_t seq;      /* highest assigned sequence number */
    uint64_t committed_seq;
    s_entry_t *batch; /* in flight */
    size_t batch_count;
    uint64_t batch_first_seq;
    bool want_write;
    bool pending;      /* a statement's results are not all read yet (PQgetResult != NULL) */
    bool batch_error;  /* ... and one of them was an error */
    int64_t retry_at;  /* a failed batch is written again from then on */
    int retry_ms;      /* the backoff after the next failure */
    unsigned failures; /* consecutive failed batches */
    int64_t dirty_since;
    bool urgent; /* a dirty row changed status or error */
    uint64_t batches, batch_rows;
    int64_t batch_sent_us;   /* when the batch in flight was sent */
    uint64_t batch_write_us; /* total time batches took, send to commit */
};

int64_t cs_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cs_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static char *s_dup(const char *text)
{
    return text ? strdup(text) : NULL;
}

static void s_batch_failed(cs_store_t *self);
static int s_wait_pending(cs_store_t *self, int64_t deadline);

static void s_visible_clear(cs_visible_t *v)
{
    free(v->error);
    free(v->detail);
    free(v->plugin);
    v->error = v->detail = v->plugin = NULL;
}

static void s_visible_copy(cs_visible_t *dst, const cs_visible_t *src)
{
    s_visible_clear(dst);
    *dst = *src;
    dst->error = s_dup(src->error);
    dst->detail = s_dup(src->detail);
    dst->plugin = s_dup(src->plugin);
}

static void s_conn_free(void **item)
{
    cs_conn_t *conn = *item;
    if (!conn)
        return;
    s_visible_clear(&conn->now);
    s_visible_clear(&conn->committed);
    free(conn->name);
    free(conn->plugin_version);
    free(conn->config_hash);
    free(conn->schema_hash);
    free(conn->type);
    free(conn->file_name);
    free(conn->worker);
    free(conn);
    *item = NULL;
}

cs_store_t *cs_store_new(const char *conninfo, cs_store_commit_fn *on_commit, void *arg)
{
    cs_store_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    char err[512];
    self->pg = cs_pg_connect(conninfo, "connstate-supervisor", err, sizeof err);
    if (!self->pg) {
        cs_log_error("database: %s", err);
        free(self);
        return NULL;
    }
    self->on_commit = on_commit;
    self->arg = arg;
    self->by_name = zhashx_new();
    self->rows = zlistx_new();
    self->dirty = zlistx_new();
    zhashx_set_destructor(self->by_name, s_conn_free);
    return self;
}

static void s_batch_free(cs_store_t *self)
{
    for (size_t i = 0; i < self->batch_count; i++) {
        free(self->batch[i].name);
        s_visible_clear(&self->batch[i].row);
    }
    free(self->batch);
    self->batch = NULL;
    self->batch_count = 0;
}

void cs_store_destroy(cs_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_store_t *self = *self_p;
    s_batch_free(self);
    zlistx_destroy(&self->dirty);
    zlistx_destroy(&self->rows);
    zhashx_destroy(&self->by_name);
    PQfinish(self->pg);
    free(self);
    *self_p = NULL;
}

int cs_store_lock(cs_store_t *self, volatile int *stop)
{
    bool said = false;
    while (!*stop) {
        PGresult *res = cs_pg_query(self->pg, "taking the supervisor lock",
                                    "SELECT pg_try_advisory_lock(" S_LOCK_KEY ")", 0, NULL);
        if (!res)
            return -1;
        bool held = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        PQclear(res);
        if (held) {
            if (said)
                cs_log_info("the other supervisor is gone: taking over");
            return 0;
        }
        if (!said)
            cs_log_info("another supervisor is active on this database; standing by");
        said = true;
        for (int i = 0; i < 10 && !*stop; i++)
            zclock_sleep(100);
    }
    return -1;
}

static cs_conn_t *s_conn_new(cs_store_t *self, const char *name)
{
    cs_conn_t *conn = calloc(1, sizeof *conn);
    if (!conn || !(conn->name = strdup(name))) {
        free(conn);
        return NULL;
    }
    zhashx_insert(self->by_name, name, conn);
    conn->handle = zlistx_add_end(self->rows, conn);
    return conn;
}

static void s_mark(cs_store_t *self, cs_conn_t *conn)
{
    if (!conn->dirty) {
        if (zlistx_size(self->dirty) == 0)
            self->dirty_since = cs_now_ms();
        conn->dirty = true;
        zlistx_add_end(self->dirty, conn);
    }
}

static char *s_value(PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : strdup(PQgetvalue(res, row, col));
}

int cs_store_start(cs_store_t *self)
{
    if (cs_pg_exec(self->pg, "creating connstate_internal", s_setup_sql) != 0)
        return -1;
    PGresult *role =
        cs_pg_query(self->pg, "looking for the role connstate_reader",
                    "SELECT count(*) FROM pg_roles WHERE rolname = 'connstate_reader'", 0, NULL);
    if (role && strcmp(PQgetvalue(role, 0, 0), "0") == 0)
        cs_log_warn("the role connstate_reader does not exist and this session may not create "
                    "it: only the table's owner can read connstate_internal.connection_state "
                    "(CREATE ROLE connstate_reader NOLOGIN, then restart the supervisor)");
    PQclear(role);
    PGresult *res = cs_pg_query(
        self->pg, "loading the state table",
        "SELECT connection_name, status, error, comments_set,"
        " (extract(epoch FROM time_changed) * 1000000)::bigint, seq, plugin, plugin_version,"
        " config_hash, schema_hash, type, file_name, start_line, end_line, worker, attempts,"
        " detail"
        " FROM connstate_internal.connection_state",
        0, NULL);
    if (!res)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        cs_conn_t *conn = s_conn_new(self, PQgetvalue(res, i, 0));
        if (!conn) {
            PQclear(res);
            return -1;
        }
        cs_visible_t *v = &conn->committed;
        if (cs_status_parse(PQgetvalue(res, i, 1), strlen(PQgetvalue(res, i, 1)), &v->status))
            v->status = CS_STATUS_PENDING;
        v->error = s_value(res, i, 2);
        v->comments_set = strcmp(PQgetvalue(res, i, 3), "t") == 0;
        v->time_us = strtoll(PQgetvalue(res, i, 4), NULL, 10);
        v->seq = strtoull(PQgetvalue(res, i, 5), NULL, 10);
        v->plugin = s_value(res, i, 6);
        conn->plugin_version = s_value(res, i, 7);
        conn->config_hash = s_value(res, i, 8);
        conn->schema_hash = s_value(res, i, 9);
        conn->type = s_value(res, i, 10);
        conn->file_name = s_value(res, i, 11);
        conn->start_line = atoi(PQgetvalue(res, i, 12));
        conn->end_line = atoi(PQgetvalue(res, i, 13));
        conn->worker = s_value(res, i, 14);
        conn->attempts = atoi(PQgetvalue(res, i, 15));
        v->detail = s_value(res, i, 16);
        conn->in_table = true;
        s_visible_copy(&conn->now, v);
        if (v->seq > self->seq)
            self->seq = v->seq;
    }
    PQclear(res);
    res = cs_pg_query(self->pg, "reading the last sequence number",
                      "SELECT value FROM connstate_internal.meta WHERE key = 'last_seq'", 0, NULL);
    if (!res)
        return -1;
    uint64_t last = PQntuples(res) ? strtoull(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    if (last > self->seq)
        self->seq = last;
    self->committed_seq = self->seq;
    if (PQsetnonblocking(self->pg, 1) != 0) {
        cs_log_error("database: cannot switch to non-blocking mode");
        return -1;
    }
    cs_log_info("state table: %zu rows, last sequence number %llu", zhashx_size(self->by_name),
                (unsigned long long)self->seq);
    /* Service startup: every row is pending until this supervisor's first refresh says more. */
    cs_conn_t *conn;
    for (conn = zlistx_first(self->rows); conn; conn = zlistx_next(self->rows))
        cs_store_set(self, conn, CS_STATUS_PENDING, NULL);
    if (cs_store_flush_all(self, S_START_WRITE_MS) != 0) {
        cs_log_error("the state table could not be written within %d s", S_START_WRITE_MS / 1000);
        return -1;
    }
    return 0;
}

cs_conn_t *cs_store_get(cs_store_t *self, const char *name)
{
    return zhashx_lookup(self->by_name, name);
}

cs_conn_t *cs_store_add(cs_store_t *self, const char *name)
{
    cs_conn_t *conn = zhashx_lookup(self->by_name, name);
    if (conn) {
        conn->gone = false; /* back in the config before its deletion was written */
        return conn;
    }
    conn = s_conn_new(self, name);
    if (conn) {
        conn->now.status = CS_STATUS_PENDING;
        conn->now.time_us = cs_wall_us();
        s_mark(self, conn);
    }
    return conn;
}

zlistx_t *cs_store_rows(cs_store_t *self)
{
    return self->rows;
}

static bool s_same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

void cs_store_set(cs_store_t *self, cs_conn_t *conn, cs_status_t status, const char *error)
{
    if (conn->now.status == status && s_same(conn->now.error, error) && !conn->now.detail &&
        conn->in_table && !conn->gone)
        return;
    free(conn->now.detail);
    conn->now.detail = NULL;
    if (conn->now.status != status || !s_same(conn->now.error, error))
        conn->now.time_us = cs_wall_us();
    conn->now.status = status;
    free(conn->now.error);
    conn->now.error = s_dup(error);
    conn->gone = false;
    self->urgent = true;
    s_mark(self, conn);
}

void cs_store_set_detail(cs_store_t *self, cs_conn_t *conn, const char *detail)
{
    if (s_same(conn->now.detail, detail))
        return;
    free(conn->now.detail);
    conn->now.detail = s_dup(detail);
    self->urgent = true;
    s_mark(self, conn);
}

void cs_store_set_field(cs_store_t *self, cs_conn_t *conn, char **field, const char *value)
{
    if (s_same(*field, value))
        return;
    free(*field);
    *field = s_dup(value);
    s_mark(self, conn);
}

void cs_store_set_int(cs_store_t *self, cs_conn_t *conn, int *field, int value)
{
    if (*field != value) {
        *field = value;
        s_mark(self, conn);
    }
}

void cs_store_set_comments(cs_store_t *self, cs_conn_t *conn, bool comments_set)
{
    if (conn->now.comments_set != comments_set) {
        conn->now.comments_set = comments_set;
        s_mark(self, conn);
    }
}

void cs_store_remove(cs_store_t *self, cs_conn_t *conn)
{
    if (!conn->gone) {
        conn->gone = true;
        self->urgent = true;
        s_mark(self, conn);
    }
}

zhashx_t *cs_store_schemas(cs_store_t *self)
{
    /* A catalog read must not overlap a batch on the same session: the one in flight ends
     * first (one statement: milliseconds); a failed one is retried later as usual. */
    if (s_wait_pending(self, cs_now_ms() + S_PENDING_WAIT_MS) != 0)
        return NULL;
    PGresult *res = cs_pg_query(
        self->pg, "reading the schemas",
        "SELECT n.nspname, d.description FROM pg_namespace n LEFT JOIN pg_description d"
        " ON d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass AND d.objsubid = 0"
        " WHERE n.nspname !~ '^pg_' AND n.nspname NOT IN ('information_schema',"
        " 'connstate_internal')",
        0, NULL);
    if (!res)
        return NULL;
    zhashx_t *schemas = zhashx_new();
    zhashx_set_destructor(schemas, (zhashx_destructor_fn *)zstr_free);
    for (int i = 0; i < PQntuples(res); i++) {
        cs_schema_info_t *info = calloc(1, sizeof *info);
        if (!info)
            break;
        const char *comment = PQgetisnull(res, i, 1) ? NULL : PQgetvalue(res, i, 1);
        info->managed = cs_marker_parse(comment, &info->marker) == 0;
        zhashx_insert(schemas, PQgetvalue(res, i, 0), info);
    }
    PQclear(res);
    return schemas;
}

size_t cs_store_dirty(const cs_store_t *self)
{
    return zlistx_size(self->dirty);
}

bool cs_store_urgent(const cs_store_t *self)
{
    return self->urgent;
}

int64_t cs_store_dirty_since(const cs_store_t *self)
{
    return self->dirty_since;
}

bool cs_store_busy(const cs_store_t *self)
{
    return self->pending;
}

static void s_json_string_or_null(cs_buf_t *out, const char *text)
{
    if (text)
        cs_buf_json_string(out, text, strlen(text));
    else
        cs_buf_puts(out, "null");
}

int cs_store_flush(cs_store_t *self, size_t max)
{
    size_t n = zlistx_size(self->dirty);
    if (self->batch || self->pending || n == 0 || cs_now_ms() < self->retry_at)
        return 0;
    if (max && n > max)
        n = max;
    self->batch = calloc(n, sizeof *self->batch);
    if (!self->batch)
        return -1;
    self->batch_first_seq = self->seq + 1;
    self->batch_sent_us = cs_wall_us();
    cs_buf_t rows = {0}, deletes = {0};
    cs_buf_putc(&rows, '[');
    cs_buf_putc(&deletes, '[');
    for (size_t i = 0; i < n; i++) {
        cs_conn_t *conn = zlistx_first(self->dirty);
        zlistx_delete(self->dirty, zlistx_cursor(self->dirty));
        conn->dirty = false;
        conn->now.seq = ++self->seq;
        s_entry_t *entry = &self->batch[self->batch_count++];
        entry->name = strdup(conn->name);
        s_visible_copy(&entry->row, &conn->now);
        entry->deleted = conn->gone;
        if (conn->gone) {
            entry->row.status = CS_STATUS_DELETED;
            if (deletes.len > 1)
                cs_buf_putc(&deletes, ',');
            cs_buf_json_string(&deletes, conn->name, strlen(conn->name));
            continue;
        }
        if (rows.len > 1)
            cs_buf_putc(&rows, ',');
        cs_buf_puts(&rows, "{\"n\":");
        cs_buf_json_string(&rows, conn->name, strlen(conn->name));
        cs_buf_printf(&rows, ",\"s\":\"%s\",\"e\":", cs_status_name(conn->now.status));
        s_json_string_or_null(&rows, conn->now.error);
        cs_buf_printf(&rows, ",\"c\":%s,\"t\":%lld,\"q\":%llu,\"p\":",
                      conn->now.comments_set ? "true" : "false", (long long)conn->now.time_us,
                      (unsigned long long)conn->now.seq);
        s_json_string_or_null(&rows, conn->now.plugin);
        cs_buf_puts(&rows, ",\"pv\":");
        s_json_string_or_null(&rows, conn->plugin_version);
        cs_buf_puts(&rows, ",\"ch\":");
        s_json_string_or_null(&rows, conn->config_hash);
        cs_buf_puts(&rows, ",\"sh\":");
        s_json_string_or_null(&rows, conn->schema_hash);
        cs_buf_puts(&rows, ",\"ty\":");
        s_json_string_or_null(&rows, conn->type);
        cs_buf_puts(&rows, ",\"f\":");
        s_json_string_or_null(&rows, conn->file_name);
        cs_buf_printf(&rows, ",\"sl\":%d,\"el\":%d,\"w\":", conn->start_line, conn->end_line);
        s_json_string_or_null(&rows, conn->worker);
        cs_buf_printf(&rows, ",\"a\":%d,\"d\":", conn->attempts);
        s_json_string_or_null(&rows, conn->now.detail);
        cs_buf_putc(&rows, '}');
    }
    cs_buf_putc(&rows, ']');
    cs_buf_putc(&deletes, ']');
    if (zlistx_size(self->dirty) == 0)
        self->urgent = false;
    char last_seq[32], payload[64];
    snprintf(last_seq, sizeof last_seq, "%llu", (unsigned long long)self->seq);
    /* {"seq":N,"rows":n,"xid":X}: the statement appends the transaction id */
    snprintf(payload, sizeof payload, "{\"seq\":%llu,\"rows\":%zu", (unsigned long long)self->seq,
             n);
    const char *params[] = {cs_buf_str(&rows), cs_buf_str(&deletes), last_seq, payload};
    int rc = 0;
    if (rows.failed || deletes.failed ||
        !PQsendQueryParams(self->pg, s_batch_sql, 4, NULL, params, NULL, NULL, 0)) {
        cs_log_error("state write: %s", PQerrorMessage(self->pg));
        rc = -1;
    } else {
        self->pending = true;
        self->batch_error = false;
        int flushed = PQflush(self->pg);
        self->want_write = flushed == 1;
        if (flushed < 0)
            rc = -1;
    }
    if (rc != 0)
        s_batch_failed(self);
    cs_buf_free(&rows);
    cs_buf_free(&deletes);
    return rc;
}

int cs_store_socket(const cs_store_t *self, bool *want_write)
{
    *want_write = self->want_write;
    return self->pending ? PQsocket(self->pg) : -1;
}

/* The batch committed: publish its rows and update what snapshots see. */
static void s_batch_committed(cs_store_t *self)
{
    for (size_t i = 0; i < self->batch_count; i++) {
        s_entry_t *entry = &self->batch[i];
        cs_conn_t *conn = zhashx_lookup(self->by_name, entry->name);
        if (conn) {
            s_visible_copy(&conn->committed, &entry->row);
            conn->in_table = !entry->deleted;
            if (entry->deleted && conn->gone && !conn->dirty) {
                zlistx_delete(self->rows, conn->handle);
                zhashx_delete(self->by_name, entry->name);
            }
        }
        if (self->on_commit)
            self->on_commit(self->arg, entry->name, &entry->row);
    }
    self->committed_seq = self->seq;
    if (self->failures)
        cs_log_info("state write succeeded after %u failed attempts", self->failures);
    self->failures = 0;
    self->retry_ms = 0;
    self->batch_write_us += (uint64_t)(cs_wall_us() - self->batch_sent_us);
    self->batches++;
    self->batch_rows += self->batch_count;
    s_batch_free(self);
}

/* The batch failed: its rows go back to the front of the queue, in their order, and are
 * written again after a backoff (100 ms, doubling up to S_RETRY_MAX_MS). Their sequence
 * numbers are given out again: none was committed. */
static void s_batch_failed(cs_store_t *self)
{
    for (size_t i = self->batch_count; i-- > 0;) {
        cs_conn_t *conn = zhashx_lookup(self->by_name, self->batch[i].name);
        if (conn && !conn->dirty) {
            if (zlistx_size(self->dirty) == 0)
                self->dirty_since = cs_now_ms();
            conn->dirty = true;
            zlistx_add_start(self->dirty, conn);
        }
    }
    if (self->batch)
        self->seq = self->batch_first_seq - 1;
    self->urgent = true;
    self->failures++;
    self->retry_ms = self->retry_ms ? self->retry_ms * 2 : S_RETRY_FIRST_MS;
    if (self->retry_ms > S_RETRY_MAX_MS)
        self->retry_ms = S_RETRY_MAX_MS;
    self->retry_at = cs_now_ms() + self->retry_ms;
    s_batch_free(self);
}

/* Reads the results of the statement in flight without blocking; once all are in (libpq
 * returns NULL: the transaction is over), the batch is committed or failed. */
int cs_store_on_socket(cs_store_t *self)
{
    if (!self->pending)
        return 0;
    if (self->want_write) {
        int flushed = PQflush(self->pg);
        if (flushed < 0)
            goto lost;
        self->want_write = flushed == 1;
    }
    if (!PQconsumeInput(self->pg))
        goto lost;
    while (!PQisBusy(self->pg)) {
        PGresult *res = PQgetResult(self->pg);
        if (!res) {
            self->pending = false;
            if (self->batch_error || !self->batch) {
                s_batch_failed(self);
                cs_log_error("state write failed (attempt %u; retrying in %d ms): %s",
                             self->failures, self->retry_ms, self->error);
            } else {
                s_batch_committed(self);
            }
            return 0;
        }
        if (PQresultStatus(res) != PGRES_TUPLES_OK && !self->batch_error) {
            self->batch_error = true;
            cs_pg_error_text(res, self->error, sizeof self->error);
        }
        PQclear(res);
    }
    return 0;
lost:
    cs_log_error("lost the database session (and the supervisor lock): %s",
                 PQerrorMessage(self->pg));
    self->pending = false;
    s_batch_failed(self);
    return -1;
}

/* Waits for the statement in flight, if any, to end (committed or failed). Returns -1 when
 * the session is lost or timeout_ms passes first. Blocks. */
static int s_wait_pending(cs_store_t *self, int64_t deadline)
{
    while (self->pending) {
        int64_t left = deadline - cs_now_ms();
        if (left <= 0)
            return -1;
        bool want_write;
        struct pollfd pfd = {cs_store_socket(self, &want_write), POLLIN, 0};
        if (want_write)
            pfd.events |= POLLOUT;
        if (poll(&pfd, 1, (int)(left < 1000 ? left : 1000)) < 0 && errno != EINTR)
            return -1;
        if (cs_store_on_socket(self) != 0)
            return -1;
    }
    return 0;
}

int cs_store_flush_all(cs_store_t *self, int timeout_ms)
{
    int64_t deadline = cs_now_ms() + timeout_ms;
    while (self->pending || zlistx_size(self->dirty)) {
        if (s_wait_pending(self, deadline) != 0)
            return -1;
        if (!zlistx_size(self->dirty))
            break;
        int64_t now = cs_now_ms();
        if (now >= deadline)
            return -1;
        if (self->retry_at > now) /* the backoff of a failed batch */
            zclock_sleep((int)(self->retry_at < deadline ? self->retry_at - now : deadline - now));
        if (cs_store_flush(self, 0) != 0)
            return -1;
    }
    return 0;
}

uint64_t cs_store_seq(const cs_store_t *self)
{
    return self->committed_seq;
}

void cs_store_stats(const cs_store_t *self, uint64_t *batches, uint64_t *rows, uint64_t *write_us)
{
    *batches = self->batches;
    *rows = self->batch_rows;
    *write_us = self->batch_write_us;
}

int64_t cs_store_retry_at(const cs_store_t *self)
{
    return self->retry_at;
}

bool cs_store_lost(const cs_store_t *self)
{
    return PQstatus(self->pg) != CONNECTION_OK;
}
