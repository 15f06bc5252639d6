/* Running one connection update: ask the plugin for the schema (cached where the plugin
 * allows it), then change the database in one transaction that also writes the marker. */
#include "worker.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_SCHEMA_CACHE_MAX 256

typedef struct {
    cs_plugin_info_t info;
    struct timespec mtime;
    off_t size;
} s_info_entry_t;

struct cs_tasks {
    char *plugin_dir;
    int timeout_ms;
    cs_plugin_tick_fn *tick;
    void *tick_arg;
    zhashx_t *infos;   /* plugin path -> s_info_entry_t */
    zhashx_t *schemas; /* plugin, version (and config digest) -> s_cached_t */
};

/* A plugin's schema and, once a build has used it, its DDL. */
typedef struct {
    cs_schema_t *schema;
    cs_ddl_tables_t *tables;
} s_cached_t;

static void s_free_item(void **item)
{
    free(*item);
    *item = NULL;
}

static void s_cached_free(void **item)
{
    s_cached_t *cached = *item;
    if (!cached)
        return;
    cs_schema_destroy(&cached->schema);
    cs_ddl_tables_destroy(&cached->tables);
    free(cached);
    *item = NULL;
}

cs_tasks_t *cs_tasks_new(const char *plugin_dir, int plugin_timeout_ms, cs_plugin_tick_fn *tick,
                         void *tick_arg)
{
    cs_tasks_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->plugin_dir = strdup(plugin_dir);
    self->timeout_ms = plugin_timeout_ms;
    self->tick = tick;
    self->tick_arg = tick_arg;
    self->infos = zhashx_new();
    self->schemas = zhashx_new();
    if (!self->plugin_dir || !self->infos || !self->schemas) {
        cs_tasks_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->infos, s_free_item);
    zhashx_set_destructor(self->schemas, s_cached_free);
    return self;
}

void cs_tasks_destroy(cs_tasks_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_tasks_t *self = *self_p;
    zhashx_destroy(&self->infos);
    zhashx_destroy(&self->schemas);
    free(self->plugin_dir);
    free(self);
    *self_p = NULL;
}

/* The plugin's info, asked again only when its file changed. */
static const cs_plugin_info_t *s_info(cs_tasks_t *self, const char *path, char *why,
                                      size_t why_size)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(why, why_size, "plugin not found: %s", path);
        return NULL;
    }
    s_info_entry_t *entry = zhashx_lookup(self->infos, path);
    if (entry && entry->size == st.st_size && entry->mtime.tv_sec == st.st_mtim.tv_sec &&
        entry->mtime.tv_nsec == st.st_mtim.tv_nsec)
        return &entry->info;
    s_info_entry_t fresh = {.mtime = st.st_mtim, .size = st.st_size};
    if (cs_plugin_info(path, self->timeout_ms, &fresh.info, why, why_size, self->tick,
                       self->tick_arg) != 0)
        return NULL;
    entry = malloc(sizeof *entry);
    if (!entry) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    *entry = fresh;
    zhashx_update(self->infos, path, entry);
    return &entry->info;
}

/* Masks the secrets of the task's config (every value under a key whose name contains
 * password, secret, token, key or credential, at any depth), so that an error text that
 * echoes them does not carry them into the state table, logs or published messages. */
static void s_mask_secrets(char *text, size_t size, const char *config)
{
    if (!config || !*text)
        return;
    cs_secrets_t *secrets = cs_secrets_from_config(config);
    if (!secrets || cs_secrets_mask_str(secrets, text, size) != 0)
        snprintf(text, size, "(error withheld: out of memory while masking its secrets)");
    cs_secrets_destroy(&secrets);
}

/* The schema for this connection: from the cache for static plugins (per version) and
 * config plugins (per version and config), fetched every time for dynamic ones. *owned
 * tells whether the caller must free it (s_cached_free). */
static s_cached_t *s_schema(cs_tasks_t *self, const char *path, const cs_plugin_info_t *info,
                            const cs_msg_t *task, bool *owned, char *why, size_t why_size)
{
    *owned = false;
    char key[512] = "";
    if (strcmp(info->mode, "dynamic") != 0) {
        snprintf(key, sizeof key, "%s\n%s", path, info->version);
        if (strcmp(info->mode, "config") == 0) {
            zdigest_t *digest = zdigest_new();
            const char *config = task->config ? task->config : "{}";
            zdigest_update(digest, (const byte *)config, strlen(config));
            snprintf(key + strlen(key), sizeof key - strlen(key), "\n%s", zdigest_string(digest));
            zdigest_destroy(&digest);
        }
        s_cached_t *cached = zhashx_lookup(self->schemas, key);
        if (cached)
            return cached;
    }
    cs_buf_t out = {0};
    const char *config = task->config ? task->config : "{}";
    char *const argv[] = {(char *)path, "schema", NULL};
    cs_schema_t *schema = NULL;
    cs_secrets_t *secrets = cs_secrets_from_config(config);
    if (cs_plugin_run(argv, config, strlen(config), secrets, self->timeout_ms, &out, why, why_size,
                      self->tick, self->tick_arg) == 0) {
        char detail[400];
        schema = cs_schema_parse(cs_buf_str(&out), out.len, secrets, detail, sizeof detail);
        if (!schema)
            snprintf(why, why_size, "plugin %s printed an invalid schema: %s", task->plugin,
                     detail);
    }
    cs_secrets_destroy(&secrets);
    cs_buf_free(&out);
    if (!schema)
        return NULL;
    s_cached_t *entry = calloc(1, sizeof *entry);
    if (!entry) {
        cs_schema_destroy(&schema);
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    entry->schema = schema;
    if (!*key) {
        *owned = true;
        return entry;
    }
    if (zhashx_size(self->schemas) >= S_SCHEMA_CACHE_MAX)
        zhashx_purge(self->schemas); /* many distinct configs: start over rather than grow */
    zhashx_update(self->schemas, key, entry);
    return entry;
}

/* Benchmarks replay the exact DDL connstate issued: with CONNSTATE_DDL_CAPTURE=DIR each
 * worker appends every committed build's statements to DIR/ddl.PID.sql, one transaction
 * per block, each block ending with the line "-- end". */
static FILE *s_capture_file = NULL;

static void s_capture(const char *sql)
{
    FILE *file = s_capture_file;
    static bool tried = false;
    if (!tried) {
        tried = true;
        const char *dir = getenv("CONNSTATE_DDL_CAPTURE");
        if (dir && *dir) {
            char path[4096];
            snprintf(path, sizeof path, "%s/ddl.%d.sql", dir, (int)getpid());
            file = fopen(path, "a");
            if (!file)
                cs_log_warn("cannot capture DDL in %s", path);
            else
                setvbuf(file, NULL, _IOFBF, 1 << 20); /* flushed when idle, not per update */
            s_capture_file = file;
        }
    }
    if (file)
        fprintf(file, "%s\n-- end\n", sql);
}

/* Opens the update's transaction and reads the marker of the connection's schema. Returns
 * 0 with *exists and *marker filled (*managed false for a schema without a connstate
 * marker), or -1 with the database error in why (the transaction is rolled back). */
static int s_begin(PGconn *conn, const char *name, bool *exists, bool *managed, cs_marker_t *marker,
                   char *why, size_t why_size)
{
    char *literal = PQescapeLiteral(conn, name, strlen(name));
    if (!literal) {
        snprintf(why, why_size, "database: %s", PQerrorMessage(conn));
        return -1;
    }
    cs_buf_t sql = {0};
    cs_buf_printf(&sql,
                  "BEGIN; SELECT d.description FROM pg_namespace n LEFT JOIN pg_description d "
                  "ON d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass "
                  "AND d.objsubid = 0 WHERE n.nspname = %s",
                  literal);
    PQfreemem(literal);
    PGresult *res = PQexec(conn, cs_buf_str(&sql));
    cs_buf_free(&sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(why, why_size, "database: %s", PQerrorMessage(conn));
        PQclear(res);
        PQclear(PQexec(conn, "ROLLBACK"));
        return -1;
    }
    *exists = PQntuples(res) > 0;
    const char *comment = *exists && !PQgetisnull(res, 0, 0) ? PQgetvalue(res, 0, 0) : NULL;
    *managed = *exists && cs_marker_parse(comment, marker) == 0;
    PQclear(res);
    return 0;
}

/* Runs the statements and COMMIT; on failure rolls back and puts the error in why. */
static int s_commit(PGconn *conn, cs_buf_t *sql, char *why, size_t why_size)
{
    cs_buf_puts(sql, "COMMIT;");
    PGresult *res = PQexec(conn, cs_buf_str(sql));
    ExecStatusType status = PQresultStatus(res);
    PQclear(res);
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
        return 0;
    snprintf(why, why_size, "database: %s", PQerrorMessage(conn));
    PQclear(PQexec(conn, "ROLLBACK"));
    return -1;
}

static void s_rollback(PGconn *conn)
{
    PQclear(PQexec(conn, "ROLLBACK"));
}

static int s_unmanaged(const char *name, char *why, size_t why_size)
{
    snprintf(why, why_size,
             "schema \"%s\" exists and is not managed by connstate (it has no connstate "
             "marker); it was left untouched: rename or drop it, or rename the connection",
             name);
    return -1;
}

static long long s_now_us(void);

struct cs_job {
    cs_msg_t *task;
    cs_msg_t *result;
    long long start;
    char path[4096];
    char why[CS_PROTO_MAX_ERROR];
    bool prepared; /* cs_tasks_prepare ran */
    bool failed;   /* ... and failed: why says so */
    bool sent;     /* fresh is in the database's hands */
    bool complete; /* result is filled */
    /* a build: the plugin's schema and the marker it writes */
    const cs_plugin_info_t *info;
    s_cached_t *cached;
    bool owned;
    char marker[512];
    /* a fresh build: its whole transaction, sent without waiting */
    cs_buf_t fresh;
    int statements;
};

cs_job_t *cs_job_new(cs_msg_t **task_p)
{
    cs_job_t *job = calloc(1, sizeof *job);
    cs_msg_t *result = cs_msg_new(CS_MSG_RESULT);
    if (!job || !result) {
        free(job);
        cs_msg_destroy(&result);
        return NULL;
    }
    job->task = *task_p;
    *task_p = NULL;
    job->result = result;
    job->start = s_now_us();
    return job;
}

void cs_job_destroy(cs_job_t **job_p)
{
    if (!job_p || !*job_p)
        return;
    cs_job_t *job = *job_p;
    if (job->owned)
        s_cached_free((void **)&job->cached);
    cs_buf_free(&job->fresh);
    cs_msg_destroy(&job->task);
    cs_msg_destroy(&job->result);
    free(job);
    *job_p = NULL;
}

const cs_msg_t *cs_job_task(const cs_job_t *job)
{
    return job->task;
}

cs_msg_t *cs_job_result(const cs_job_t *job)
{
    return job->result;
}

cs_msg_t *cs_job_take_result(cs_job_t *job)
{
    cs_msg_t *result = job->result;
    job->result = NULL;
    return result;
}

/* The plugin's info and the connection's schema (from the cache, or the job's own). */
static int s_job_schema(cs_tasks_t *self, cs_job_t *job)
{
    job->info = s_info(self, job->path, job->why, sizeof job->why);
    if (!job->info)
        return -1;
    job->cached =
        s_schema(self, job->path, job->info, job->task, &job->owned, job->why, sizeof job->why);
    return job->cached ? 0 : -1;
}

/* What a build needs before the database: plugin info, schema, marker, the tables' DDL. */
static int s_build_prepare(cs_tasks_t *self, PGconn *conn, cs_job_t *job)
{
    const cs_msg_t *task = job->task;
    cs_msg_t *result = job->result;
    if (s_job_schema(self, job) != 0)
        return -1;
    result->plugin_version = strdup(job->info->version);
    const cs_schema_t *schema = job->cached->schema;
    result->schema_hash = strdup(schema->hash);
    result->tables = (uint32_t)schema->count;
    cs_marker_t marker = {0};
    snprintf(marker.fingerprint, sizeof marker.fingerprint, "%s",
             task->fingerprint ? task->fingerprint : "");
    snprintf(marker.plugin, sizeof marker.plugin, "%s", task->plugin);
    snprintf(marker.plugin_version, sizeof marker.plugin_version, "%s", job->info->version);
    snprintf(marker.schema_hash, sizeof marker.schema_hash, "%s", schema->hash);
    if (cs_marker_format(&marker, job->marker, sizeof job->marker) != 0) {
        snprintf(job->why, sizeof job->why, "marker too long");
        return -1;
    }
    if (!job->cached->tables)
        job->cached->tables = cs_ddl_tables_new(conn, schema, job->path, job->why, sizeof job->why);
    if (!job->cached->tables)
        return -1;
    if (!task->fresh)
        return 0;
    /* Planned when no schema of this name existed: the whole transaction in one round trip.
     * If one appeared meanwhile, CREATE SCHEMA fails and the checked path decides. */
    cs_buf_puts(&job->fresh, "BEGIN;\n");
    job->statements = cs_ddl_build(conn, task->connection, false, job->cached->tables, job->marker,
                                   &job->fresh, job->why, sizeof job->why);
    cs_buf_puts(&job->fresh, "COMMIT;");
    return job->statements < 0 ? -1 : 0;
}

/* Collects a sent fresh build (waiting when the database is not done). Returns 0, 1 when
 * the schema appeared since planning (the checked path decides), or -1 with why. */
static int s_fresh_collect(PGconn *conn, cs_job_t *job)
{
    PGresult *res;
    bool failed = false, duplicate = false;
    while ((res = PQgetResult(conn)) != NULL) {
        ExecStatusType status = PQresultStatus(res);
        if (!failed && status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
            failed = true;
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
            duplicate = state && strcmp(state, "42P06") == 0; /* duplicate_schema */
            snprintf(job->why, sizeof job->why, "database: %s", PQresultErrorMessage(res));
        }
        PQclear(res);
    }
    job->sent = false;
    cs_log_conn_debug(job->task->connection, "built and executed in %.3f ms",
                      (s_now_us() - job->start) / 1000.0);
    if (!failed) {
        s_capture(cs_buf_str(&job->fresh) + strlen("BEGIN;\n"));
        job->result->ddl_count = (uint32_t)job->statements;
        return 0;
    }
    s_rollback(conn);
    return duplicate ? 1 : -1;
}

/* The checked build: read the schema's marker in the transaction, then replace it (or
 * leave it alone when it is what the marker says, or refuse when it is not ours). */
static int s_build_checked(PGconn *conn, cs_job_t *job)
{
    const cs_msg_t *task = job->task;
    char *why = job->why;
    size_t why_size = sizeof job->why;
    bool exists, managed;
    cs_marker_t old;
    if (s_begin(conn, task->connection, &exists, &managed, &old, why, why_size) != 0)
        return -1;
    if (exists && !managed) {
        s_rollback(conn);
        return s_unmanaged(task->connection, why, why_size);
    }
    if (exists && strcmp(old.fingerprint, task->fingerprint ? task->fingerprint : "") == 0 &&
        strcmp(old.plugin_version, job->info->version) == 0 &&
        strcmp(old.schema_hash, job->cached->schema->hash) == 0) {
        /* A dynamic plugin's schema, fetched again, is what the marker says: no DDL. */
        s_rollback(conn);
        job->result->ddl_count = 0;
        return 0;
    }
    cs_buf_t sql = {0};
    int statements = cs_ddl_build(conn, task->connection, exists, job->cached->tables, job->marker,
                                  &sql, why, why_size);
    int rc = -1;
    if (statements < 0) {
        s_rollback(conn);
    } else if (s_commit(conn, &sql, why, why_size) == 0) {
        job->result->ddl_count = (uint32_t)statements;
        s_capture(cs_buf_str(&sql));
        rc = 0;
    }
    cs_buf_free(&sql);
    return rc;
}

static int s_build(PGconn *conn, cs_job_t *job)
{
    if (job->failed)
        return -1;
    if (job->fresh.len) {
        if (!job->sent && !PQsendQuery(conn, cs_buf_str(&job->fresh))) {
            snprintf(job->why, sizeof job->why, "database: %s", PQerrorMessage(conn));
            return -1;
        }
        job->sent = true;
        int rc = s_fresh_collect(conn, job);
        if (rc <= 0)
            return rc;
    }
    return s_build_checked(conn, job);
}

static int s_delete(PGconn *conn, const cs_msg_t *task, cs_msg_t *result, char *why,
                    size_t why_size)
{
    bool exists, managed;
    cs_marker_t old;
    if (s_begin(conn, task->connection, &exists, &managed, &old, why, why_size) != 0)
        return -1;
    if (!exists) {
        s_rollback(conn);
        return 0; /* already gone: deleting is idempotent */
    }
    if (!managed) {
        s_rollback(conn);
        return s_unmanaged(task->connection, why, why_size);
    }
    char *id = PQescapeIdentifier(conn, task->connection, strlen(task->connection));
    if (!id) {
        s_rollback(conn);
        snprintf(why, why_size, "database: %s", PQerrorMessage(conn));
        return -1;
    }
    cs_buf_t sql = {0};
    cs_buf_printf(&sql, "DROP SCHEMA %s CASCADE;", id);
    PQfreemem(id);
    int rc = s_commit(conn, &sql, why, why_size);
    cs_buf_free(&sql);
    if (rc == 0)
        result->ddl_count = 1;
    return rc;
}

static int s_comments(PGconn *conn, cs_job_t *job)
{
    if (job->failed)
        return -1;
    const cs_msg_t *task = job->task;
    const cs_schema_t *schema = job->cached->schema;
    char *why = job->why;
    size_t why_size = sizeof job->why;
    int rc = -1;
    bool exists, managed;
    cs_marker_t marker;
    cs_buf_t sql = {0};
    if (s_begin(conn, task->connection, &exists, &managed, &marker, why, why_size) != 0)
        goto done;
    if (!exists || !managed || strcmp(marker.schema_hash, schema->hash) != 0) {
        s_rollback(conn);
        snprintf(why, why_size,
                 "schema \"%s\" is missing or changed before its comments "
                 "were written",
                 task->connection);
        goto done;
    }
    int statements = cs_ddl_comments(conn, task->connection, schema, &sql, why, why_size);
    if (statements < 0) {
        s_rollback(conn);
        goto done;
    }
    if (s_commit(conn, &sql, why, why_size) == 0) {
        job->result->ddl_count = (uint32_t)statements;
        rc = 0;
    }
done:
    cs_buf_free(&sql);
    return rc;
}

static long long s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void cs_tasks_idle(cs_tasks_t *self)
{
    (void)self;
    if (s_capture_file)
        fflush(s_capture_file);
}

void cs_tasks_prepare(cs_tasks_t *self, PGconn *conn, cs_job_t *job)
{
    if (job->prepared)
        return;
    job->prepared = true;
    const cs_msg_t *task = job->task;
    snprintf(job->path, sizeof job->path, "%s/%s", self->plugin_dir,
             task->plugin ? task->plugin : "");
    if (!task->plugin || !*task->plugin)
        return;
    if (task->kind == CS_TASK_BUILD)
        job->failed = s_build_prepare(self, conn, job) != 0;
    else if (task->kind == CS_TASK_COMMENTS)
        job->failed = s_job_schema(self, job) != 0;
}

bool cs_tasks_send(cs_tasks_t *self, PGconn *conn, cs_job_t *job)
{
    cs_tasks_prepare(self, conn, job);
    if (job->sent || job->failed || !job->fresh.len || PQstatus(conn) != CONNECTION_OK)
        return job->sent;
    job->sent = PQsendQuery(conn, cs_buf_str(&job->fresh)) == 1;
    return job->sent; /* when sending failed, cs_tasks_complete reports why */
}

void cs_tasks_complete(cs_tasks_t *self, PGconn *conn, cs_job_t *job)
{
    if (job->complete)
        return;
    job->complete = true;
    const cs_msg_t *task = job->task;
    cs_msg_t *result = job->result;
    result->task_id = task->task_id;
    result->connection = strdup(task->connection);
    result->kind = task->kind;
    char *why = job->why;
    int rc = -1;
    if (!job->sent && PQstatus(conn) != CONNECTION_OK)
        PQreset(conn); /* the server restarted or the session was killed: try once more */
    cs_tasks_prepare(self, conn, job);
    if (!job->sent && PQstatus(conn) != CONNECTION_OK)
        snprintf(why, sizeof job->why, "database unavailable: %s", PQerrorMessage(conn));
    else if (task->kind == CS_TASK_DELETE)
        rc = s_delete(conn, task, result, why, sizeof job->why);
    else if (!task->plugin || !*task->plugin)
        snprintf(why, sizeof job->why, "task without a plugin");
    else if (task->kind == CS_TASK_BUILD)
        rc = s_build(conn, job);
    else
        rc = s_comments(conn, job);
    result->ok = rc == 0;
    result->elapsed_us = (uint64_t)(s_now_us() - job->start);
    if (!result->ok) {
        if (!*why)
            snprintf(why, sizeof job->why, "failed without a reason");
        s_mask_secrets(why, sizeof job->why, task->config); /* before any cut */
        why[strcspn(why, "\n")] = '\0'; /* PostgreSQL's first line is the message */
        cs_utf8_sanitize(why);
        result->error = strdup(why);
    }
}
