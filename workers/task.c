/* Running one connection update: ask the plugin for the schema (cached where the plugin
 * allows it), then change the database (update.c) in transactions that also check and
 * write the marker. */
#include "worker.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_SCHEMA_CACHE_MAX 256
/* Between the transactions of one text: a statement that changes nothing and makes the server
 * send what it holds (a notice is sent at once, the results before it with it; results alone
 * wait for the end of the text). So a finished update's result does not wait for the ones after
 * it, such as one that waits for a lock. The table could only be this session's own, and none
 * is made. */
#define S_FLUSH "\nDROP TABLE IF EXISTS pg_temp.connstate_flush;\n"

struct cs_tasks {
    char *plugin_dir;
    int timeout_ms;
    size_t batch; /* tables per transaction */
    cs_plugin_tick_fn *tick;
    void *tick_arg;
    cs_plugins_t *infos; /* the plugins' info, asked again when a plugin's file changes */
    zhashx_t *schemas;   /* plugin, version (and config digest) -> s_cached_t */
    zhashx_t *built;     /* a dynamic schema a build used, for the comments that follow it:
                          * connection, plugin, config and instance digests -> s_cached_t */
    /* The session that has the comments' check function (cs_update_comments_setup), told
     * apart by its connection and backend pid, and whether creating it succeeded there. */
    const PGconn *check_conn;
    int check_pid;
    bool check_ok;
    cs_buf_t text; /* the texts of the jobs sent together */
};

/* A plugin's schema and, once a build has used it, its DDL. Counted: the cache holds one
 * reference and each job that uses it one, so that a cache purged while a prepared job waits
 * frees nothing that job still reads. */
typedef struct {
    cs_schema_t *schema;
    cs_ddl_tables_t *tables;
    unsigned refs;
} s_cached_t;

/* Lets go of one reference (the hash's destructor, and a job's). */
static void s_cached_free(void **item)
{
    s_cached_t *cached = *item;
    *item = NULL;
    if (!cached || --cached->refs > 0)
        return;
    cs_schema_destroy(&cached->schema);
    cs_ddl_tables_destroy(&cached->tables);
    free(cached);
}

/* Frees the schemas kept for comments (their entries are not the hash's to free: a comments
 * job takes its own out). */
static void s_built_purge(cs_tasks_t *self)
{
    if (!self->built)
        return;
    for (void *item = zhashx_first(self->built); item; item = zhashx_next(self->built))
        s_cached_free(&item);
    zhashx_purge(self->built);
}

cs_tasks_t *cs_tasks_new(const char *plugin_dir, int plugin_timeout_ms,
                         size_t tables_per_transaction, cs_plugin_tick_fn *tick, void *tick_arg)
{
    cs_tasks_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->plugin_dir = strdup(plugin_dir);
    self->timeout_ms = plugin_timeout_ms;
    self->batch = tables_per_transaction ? tables_per_transaction : 1;
    self->tick = tick;
    self->tick_arg = tick_arg;
    self->infos = cs_plugins_new(plugin_dir, plugin_timeout_ms);
    self->schemas = zhashx_new();
    self->built = zhashx_new();
    if (!self->plugin_dir || !self->infos || !self->schemas || !self->built) {
        cs_tasks_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->schemas, s_cached_free); /* built's are given away: no destructor */
    return self;
}

void cs_tasks_destroy(cs_tasks_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_tasks_t *self = *self_p;
    cs_plugins_destroy(&self->infos);
    zhashx_destroy(&self->schemas);
    s_built_purge(self);
    zhashx_destroy(&self->built);
    cs_buf_free(&self->text);
    free(self->plugin_dir);
    free(self);
    *self_p = NULL;
}

/* The secrets of a task: its config's (every value under a key whose name contains
 * password, secret, token, key or credential, at any depth) and its plugin environment's
 * values (cs_plugin_env_secrets). NULL when out of memory. */
static cs_secrets_t *s_task_secrets(const cs_msg_t *task)
{
    cs_secrets_t *secrets = cs_secrets_from_config(task->config);
    if (secrets &&
        cs_plugin_env_secrets(secrets, (const char *const *)task->env.items, task->env.count))
        cs_secrets_destroy(&secrets);
    return secrets;
}

/* Masks the task's secrets, so that an error text that echoes them does not carry them into
 * the state table, logs or published messages. */
static void s_mask_secrets(char *text, size_t size, const cs_msg_t *task)
{
    if ((!task->config && !task->env.count) || !*text)
        return;
    cs_secrets_t *secrets = s_task_secrets(task);
    if (!secrets || cs_secrets_mask_str(secrets, text, size) != 0)
        snprintf(text, size, "(error withheld: out of memory while masking its secrets)");
    cs_secrets_destroy(&secrets);
}

/* The task's plugin instance settings (borrowed from it). */
static cs_plugin_settings_t s_settings(const cs_msg_t *task)
{
    return (cs_plugin_settings_t){task->memory_max_mb, (const char *const *)task->env.items,
                                  task->env.count};
}

/* The part of a schema cache key that tells plugin instances apart: "" without settings,
 * else "\n" and the digest of the memory limit and environment (never the values
 * themselves: they may be secrets). -1 when out of memory. */
static int s_instance_key(const cs_msg_t *task, char *out, size_t size)
{
    out[0] = '\0';
    if (!task->memory_max_mb && !task->env.count)
        return 0;
    cs_buf_t text = {0};
    cs_buf_printf(&text, "memory_max_mb=%u", task->memory_max_mb);
    for (uint32_t i = 0; i < task->env.count; i++) {
        cs_buf_putc(&text, '\n');
        cs_buf_puts(&text, task->env.items[i]);
    }
    char digest[CS_DIGEST_HEX_SIZE];
    int rc = text.failed ? -1 : cs_digest_hex16(text.data, text.len, digest);
    cs_buf_free(&text);
    if (rc == 0)
        snprintf(out, size, "\n%s", digest);
    return rc;
}

/* The key of a connection's dynamic schema as a build used it: its name, plugin path, config
 * and instance (digests). -1 when out of memory. */
static int s_built_key(const char *path, const cs_msg_t *task, char *key, size_t size)
{
    char instance[CS_DIGEST_HEX_SIZE + 1], digest[CS_DIGEST_HEX_SIZE];
    const char *config = task->config ? task->config : "{}";
    if (s_instance_key(task, instance, sizeof instance) != 0 ||
        cs_digest_hex16(config, strlen(config), digest) != 0)
        return -1;
    snprintf(key, size, "%s\n%s\n%s%s", task->connection, path, digest, instance);
    return 0;
}

/* The schema for this connection: from the cache for static plugins (per version) and
 * config plugins (per version and config), fetched every time for dynamic ones; cached per
 * plugin instance too (its memory limit and environment). The caller holds a reference
 * (*owned: it lets go of it with s_cached_free). */
static s_cached_t *s_schema(cs_tasks_t *self, const char *path, const cs_plugin_info_t *info,
                            const cs_msg_t *task, bool *owned, char *why, size_t why_size)
{
    *owned = false;
    char key[4096 + 512] = "", instance[CS_DIGEST_HEX_SIZE + 1];
    if (strcmp(info->mode, "dynamic") != 0 &&
        s_instance_key(task, instance, sizeof instance) == 0) {
        snprintf(key, sizeof key, "%s\n%s%s", path, info->version, instance);
        if (strcmp(info->mode, "config") == 0) {
            const char *config = task->config ? task->config : "{}";
            char digest[CS_DIGEST_HEX_SIZE];
            if (cs_digest_hex16(config, strlen(config), digest) == 0)
                snprintf(key + strlen(key), sizeof key - strlen(key), "\n%s", digest);
            else
                key[0] = '\0'; /* no digest: not cached, fetched for this task */
        }
        s_cached_t *cached = zhashx_lookup(self->schemas, key);
        if (cached) {
            cached->refs++;
            *owned = true;
            return cached;
        }
    }
    cs_buf_t out = {0};
    const char *config = task->config ? task->config : "{}";
    char *const argv[] = {(char *)path, "schema", NULL};
    cs_schema_t *schema = NULL;
    cs_secrets_t *secrets = s_task_secrets(task);
    cs_plugin_settings_t settings = s_settings(task);
    if (!secrets)
        snprintf(why, why_size, "out of memory");
    else if (cs_plugin_run(argv, config, strlen(config), secrets, &settings, self->timeout_ms, &out,
                           why, why_size, self->tick, self->tick_arg) == 0) {
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
    entry->refs = 1; /* the caller's */
    *owned = true;
    if (!*key)
        return entry;
    if (zhashx_size(self->schemas) >= S_SCHEMA_CACHE_MAX)
        zhashx_purge(self->schemas); /* many distinct configs: start over rather than grow */
    entry->refs++;                   /* the cache's */
    zhashx_update(self->schemas, key, entry);
    return entry;
}

static void s_rollback(PGconn *conn)
{
    PQclear(PQexec(conn, "ROLLBACK"));
}

struct cs_job {
    cs_msg_t *task;
    cs_msg_t *result;
    long long start;
    char path[4096];
    char why[CS_PROTO_MAX_ERROR];
    bool prepared;     /* cs_tasks_prepare ran */
    bool failed;       /* ... and failed: why says so */
    bool sent;         /* whole is in the database's hands */
    bool collected;    /* ... and its results were read (cs_tasks_collect): */
    PGresult *failure; /* its first failed result (NULL: committed, unless cut) */
    bool cut;          /* its results ended before its COMMIT without a failure of its own */
    bool complete;     /* result is filled */
    cs_fault_t fault;  /* ... and whose fault its failure is */
    /* a build: the plugin's schema and the marker it writes */
    const cs_plugin_info_t *info;
    s_cached_t *cached;
    bool owned;
    cs_marker_t want;
    char marker[512];
    /* a fresh build, or comments of at most a batch of tables: the whole transaction, sent
     * in one round trip without waiting for the database */
    cs_buf_t whole;
    size_t comments_at; /* comments: where the COMMENT statements start in whole */
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
    job->start = cs_clock_mono_us();
    return job;
}

void cs_job_destroy(cs_job_t **job_p)
{
    if (!job_p || !*job_p)
        return;
    cs_job_t *job = *job_p;
    if (job->owned)
        s_cached_free((void **)&job->cached);
    cs_buf_free(&job->whole);
    PQclear(job->failure);
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

cs_fault_t cs_job_fault(const cs_job_t *job)
{
    return job->fault;
}

/* Whether the job's plugin is missing or not executable on this host (then why says so and
 * the failure is this worker's: another host may have it). */
static bool s_plugin_absent(const cs_tasks_t *self, cs_job_t *job)
{
    const char *plugin = job->task->plugin;
    struct stat st;
    if (stat(job->path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            snprintf(job->why, sizeof job->why,
                     "plugin \"%s\" is not installed on this worker (not found in %s)", plugin,
                     self->plugin_dir);
        else
            snprintf(job->why, sizeof job->why,
                     "plugin \"%s\" cannot be read on this worker: %s: %s", plugin, job->path,
                     strerror(errno));
        return true;
    }
    if (!S_ISREG(st.st_mode) || access(job->path, X_OK) != 0) {
        snprintf(job->why, sizeof job->why,
                 "plugin \"%s\" is not executable on this worker (%s is not an executable file)",
                 plugin, job->path);
        return true;
    }
    return false;
}

/* The plugin's info and the connection's schema (from the cache, or the job's own). A plugin
 * that is missing or not executable here, or whose version is not the one the supervisor
 * planned with, is this worker's fault (CS_FAULT_WORKER). */
static int s_job_schema(cs_tasks_t *self, cs_job_t *job)
{
    const char *why;
    const cs_msg_t *task = job->task;
    if (cs_plugins_get(self->infos, task->plugin, self->tick, self->tick_arg, &job->info, &why) !=
        CS_PLUGIN_KNOWN) {
        snprintf(job->why, sizeof job->why, "%s", why);
        job->info = NULL;
        if (s_plugin_absent(self, job))
            job->fault = CS_FAULT_WORKER;
        return -1;
    }
    if (task->plugin_version && strcmp(task->plugin_version, job->info->version) != 0) {
        snprintf(job->why, sizeof job->why,
                 "plugin \"%s\" is version %s on this worker, not %s as the supervisor planned",
                 task->plugin, job->info->version, task->plugin_version);
        job->result->plugin_version = strdup(job->info->version);
        job->fault = CS_FAULT_WORKER;
        job->info = NULL;
        return -1;
    }
    /* The comments of a dynamic schema describe the schema its build made: that one, when this
     * worker ran the build (the plugin is not run again), else the plugin's now (the update
     * checks it against the marker). */
    char key[4096 + 512];
    if (task->kind == CS_TASK_COMMENTS && strcmp(job->info->mode, "dynamic") == 0 &&
        s_built_key(job->path, task, key, sizeof key) == 0 &&
        (job->cached = zhashx_lookup(self->built, key)) != NULL) {
        zhashx_delete(self->built, key); /* the job takes it */
        job->owned = true;
        return 0;
    }
    job->cached =
        s_schema(self, job->path, job->info, task, &job->owned, job->why, sizeof job->why);
    if (!job->cached && s_plugin_absent(self, job)) /* gone since its info was asked */
        job->fault = CS_FAULT_WORKER;
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
    /* What the supervisor watches to fetch a dynamic schema again (only theirs: a static or
     * config schema is cached, and fetching it again would change nothing). */
    for (size_t i = 0; strcmp(job->info->mode, "dynamic") == 0 && i < schema->watch_count; i++) {
        if (cs_strs_add_max(&result->watch, schema->watch[i], CS_PROTO_MAX_WATCH) != 0) {
            snprintf(job->why, sizeof job->why, "out of memory");
            return -1;
        }
    }
    cs_marker_t *marker = &job->want;
    snprintf(marker->fingerprint, sizeof marker->fingerprint, "%s",
             task->fingerprint ? task->fingerprint : "");
    snprintf(marker->plugin, sizeof marker->plugin, "%s", task->plugin);
    snprintf(marker->plugin_version, sizeof marker->plugin_version, "%s", job->info->version);
    snprintf(marker->schema_hash, sizeof marker->schema_hash, "%s", schema->hash);
    if (cs_marker_format(marker, job->marker, sizeof job->marker) != 0) {
        snprintf(job->why, sizeof job->why, "marker too long");
        return -1;
    }
    if (!job->cached->tables)
        job->cached->tables = cs_ddl_tables_new(conn, schema, job->path, task->memory_max_mb,
                                                job->why, sizeof job->why);
    if (!job->cached->tables)
        return -1;
    if (!task->fresh || cs_ddl_tables_count(job->cached->tables) > self->batch)
        return 0; /* the checked path, in batches when the schema is big */
    /* Planned when no schema of this name existed: the whole transaction in one round trip.
     * If one appeared meanwhile, CREATE SCHEMA fails and the checked path decides. */
    cs_buf_puts(&job->whole, "BEGIN;\n");
    job->statements = cs_ddl_build(conn, task->connection, job->cached->tables, job->marker,
                                   &job->whole, job->why, sizeof job->why);
    cs_buf_puts(&job->whole, "COMMIT;");
    return job->statements < 0 ? -1 : 0;
}

/* A sent job's failure, once collected: why and whose fault (a job cut short: the session's
 * error, or what cut it). Returns the failed result (NULL when there is none: cut short). */
static const PGresult *s_failure(PGconn *conn, cs_job_t *job)
{
    if (job->failure) {
        cs_update_error(job->why, sizeof job->why, conn, job->failure);
        job->fault = cs_update_fault(conn, job->failure);
    } else {
        cs_update_error(job->why, sizeof job->why, conn, NULL);
        job->fault = cs_update_fault(conn, NULL);
        if (PQstatus(conn) == CONNECTION_OK)
            snprintf(job->why, sizeof job->why,
                     "database: the transaction's results ended before its COMMIT");
    }
    return job->failure;
}

/* Sends a job alone (when it was not sent with others) and collects it. Returns 0, or -1 with
 * why when it could not be sent. */
static int s_send_alone(cs_tasks_t *self, PGconn *conn, cs_job_t *job)
{
    if (job->collected)
        return 0;
    if (!job->sent && cs_tasks_send(self, conn, &job, 1) != 1) {
        cs_update_error(job->why, sizeof job->why, conn, NULL);
        job->fault = cs_update_fault(conn, NULL);
        return -1;
    }
    cs_tasks_collect(self, conn, job, true);
    cs_tasks_end_text(self, conn, NULL, 0);
    return 0;
}

/* How a fresh build's transaction ended. Returns 0, 1 when the schema appeared since planning
 * (the checked path decides), or -1 with why. */
static int s_fresh_end(PGconn *conn, cs_job_t *job)
{
    cs_log_conn_debug(job->task->connection, "built and executed in %.3f ms",
                      (cs_clock_mono_us() - job->start) / 1000.0);
    if (!job->failure && !job->cut) {
        cs_update_capture(cs_buf_str(&job->whole) + strlen("BEGIN;\n"));
        job->result->ddl_count = (uint32_t)job->statements;
        return 0;
    }
    const PGresult *failure = s_failure(conn, job);
    const char *state = failure ? PQresultErrorField(failure, PG_DIAG_SQLSTATE) : NULL;
    return state && strcmp(state, "42P06") == 0 ? 1 : -1; /* duplicate_schema */
}

/* The update's session and limits, its error going into the job's. */
static cs_update_t s_update(cs_tasks_t *self, PGconn *conn, cs_job_t *job)
{
    return (cs_update_t){.conn = conn,
                         .batch = self->batch,
                         .tick = self->tick,
                         .tick_arg = self->tick_arg,
                         .why = job->why,
                         .why_size = sizeof job->why};
}

/* The checked build: the schema's marker and what it holds read in the transaction, then
 * replaced (or left alone when it is what the marker says, or refused). */
/* An update ran (rc its outcome): its statements and whose fault a failure was go with the job. */
static int s_updated(cs_job_t *job, const cs_update_t *update, int rc)
{
    job->result->ddl_count = update->statements;
    job->fault = update->fault;
    return rc;
}

static int s_build_checked(cs_tasks_t *self, PGconn *conn, cs_job_t *job)
{
    cs_update_t update = s_update(self, conn, job);
    int rc = cs_update_build(&update, job->task->connection, job->cached->tables, &job->want,
                             job->marker);
    return s_updated(job, &update, rc);
}

static int s_build(cs_tasks_t *self, PGconn *conn, cs_job_t *job)
{
    if (job->failed)
        return -1;
    if (job->whole.len) {
        int rc = s_send_alone(self, conn, job) == 0 ? s_fresh_end(conn, job) : -1;
        if (rc <= 0)
            return rc;
    }
    return s_build_checked(self, conn, job);
}

static int s_delete(cs_tasks_t *self, PGconn *conn, cs_job_t *job)
{
    cs_update_t update = s_update(self, conn, job);
    int rc = cs_update_delete(&update, job->task->connection);
    return s_updated(job, &update, rc);
}

/* Whether the session has the comments' check function, creating it the first time it is
 * asked on a session (one statement, blocking; logged once when it cannot be made: that
 * session's comments then take two round trips). */
static bool s_check_ready(cs_tasks_t *self, PGconn *conn)
{
    int pid = PQbackendPID(conn);
    if (self->check_conn == conn && self->check_pid == pid)
        return self->check_ok;
    self->check_conn = conn;
    self->check_pid = pid;
    char why[CS_PROTO_MAX_ERROR];
    self->check_ok = cs_update_comments_setup(conn, why, sizeof why) == 0;
    if (!self->check_ok && PQstatus(conn) == CONNECTION_OK)
        cs_log_warn("comments take two round trips on this session (its check function "
                    "cannot be created: %s)",
                    why);
    return self->check_ok;
}

/* Comments sent in one round trip (by cs_tasks_send, or now): how they ended. Returns 0, -1
 * with why, or 1 when the session turned out not to have the check (the checked path
 * decides). */
static int s_comments_whole(cs_tasks_t *self, PGconn *conn, cs_job_t *job)
{
    if (s_send_alone(self, conn, job) != 0)
        return -1;
    cs_comments_end_t end = CS_COMMENTS_FAILED;
    if (job->cut && !job->failure)
        s_failure(conn, job);
    else
        end = cs_update_comments_end(conn, job->failure, job->why, sizeof job->why, &job->fault);
    if (end == CS_COMMENTS_DONE) {
        cs_update_capture_comments(cs_buf_str(&job->whole) + job->comments_at);
        job->result->ddl_count = (uint32_t)job->statements;
        return 0;
    }
    if (end == CS_COMMENTS_FAILED)
        return -1;
    self->check_conn = NULL; /* made again for the next one */
    job->why[0] = '\0';
    return 1;
}

static int s_comments(cs_tasks_t *self, PGconn *conn, cs_job_t *job)
{
    if (job->failed)
        return -1;
    if (job->whole.len && (job->sent || job->collected || s_check_ready(self, conn))) {
        int rc = s_comments_whole(self, conn, job);
        if (rc <= 0)
            return rc;
    }
    cs_update_t update = s_update(self, conn, job);
    int rc = cs_update_comments(&update, job->task->connection, job->cached->schema);
    return s_updated(job, &update, rc);
}

/* An aggregator's views over its members' schemas: no plugin runs (the members' schemas say
 * what there is); the marker carries the TASK's fingerprint, plugin and plugin version. */
static int s_aggregate(cs_tasks_t *self, PGconn *conn, cs_job_t *job)
{
    const cs_msg_t *task = job->task;
    if (!task->plugin_version || cs_marker_version_ok(task->plugin_version) != 1) {
        snprintf(job->why, sizeof job->why,
                 "aggregate task without a valid plugin_version (1 to 64 of [A-Za-z0-9._+~-])");
        return -1;
    }
    cs_agg_line_t *lines = NULL;
    int count = cs_aggregate_parse_members(task->members, &lines, job->why, sizeof job->why);
    if (count < 0)
        return -1;
    cs_marker_t *want = &job->want;
    snprintf(want->fingerprint, sizeof want->fingerprint, "%s",
             task->fingerprint ? task->fingerprint : "");
    snprintf(want->plugin, sizeof want->plugin, "%s", task->plugin);
    snprintf(want->plugin_version, sizeof want->plugin_version, "%s", task->plugin_version);
    cs_update_t update = s_update(self, conn, job);
    size_t views = 0;
    int rc = cs_update_aggregate(&update, task->connection, lines, (size_t)count, want, &views);
    free(lines);
    cs_msg_t *result = job->result;
    if (rc == 0) {
        result->plugin_version = strdup(task->plugin_version);
        result->schema_hash = strdup(want->schema_hash);
        result->tables = (uint32_t)views;
    }
    return s_updated(job, &update, rc);
}

/* What comments need before the database: plugin info, schema and, for a schema of at most
 * a batch of tables, the whole transaction's text (the checked path in batches else). */
static int s_comments_prepare(cs_tasks_t *self, PGconn *conn, cs_job_t *job)
{
    if (s_job_schema(self, job) != 0)
        return -1;
    const cs_schema_t *schema = job->cached->schema;
    if (schema->count > self->batch)
        return 0;
    job->statements = cs_update_comments_sql(conn, job->task->connection, schema, &job->whole,
                                             &job->comments_at, job->why, sizeof job->why);
    return job->statements < 0 ? -1 : 0;
}

void cs_tasks_idle(cs_tasks_t *self)
{
    (void)self;
    cs_update_flush_capture();
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
        job->failed = s_comments_prepare(self, conn, job) != 0;
}

/* Whether the job goes to the database as one text (prepared first when prepare: a job after
 * the first is sent with it only when it was prepared while the database worked, so that no
 * plugin runs while the database waits). */
static bool s_sendable(cs_tasks_t *self, PGconn *conn, cs_job_t *job, bool prepare)
{
    if (prepare)
        cs_tasks_prepare(self, conn, job);
    if (!job->prepared || job->sent || job->collected || job->failed || !job->whole.len ||
        PQstatus(conn) != CONNECTION_OK)
        return false;
    /* the first comments on a session create its check (else the checked path) */
    return job->task->kind != CS_TASK_COMMENTS || s_check_ready(self, conn);
}

size_t cs_tasks_send(cs_tasks_t *self, PGconn *conn, cs_job_t *const *jobs, size_t count)
{
    size_t sent = 0;
    while (sent < count && s_sendable(self, conn, jobs[sent], sent == 0))
        sent++;
    if (!sent)
        return 0;
    const char *text = cs_buf_str(&jobs[0]->whole);
    if (sent > 1) {
        cs_buf_reset(&self->text);
        for (size_t i = 0; i < sent; i++) {
            if (i)
                cs_buf_puts(&self->text, S_FLUSH);
            cs_buf_puts(&self->text, cs_buf_str(&jobs[i]->whole));
        }
        if (self->text.failed)
            sent = 1; /* out of memory: the first alone */
        else
            text = cs_buf_str(&self->text);
    }
    if (!PQsendQuery(conn, text))
        return 0; /* cs_tasks_complete says why */
    for (size_t i = 0; i < sent; i++)
        jobs[i]->sent = true;
    return sent;
}

/* Whether res is a transaction's end: every job's text ends with its COMMIT. */
static bool s_is_commit(PGresult *res)
{
    return PQresultStatus(res) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(res), "COMMIT") == 0;
}

bool cs_tasks_collect(cs_tasks_t *self, PGconn *conn, cs_job_t *job, bool wait)
{
    (void)self;
    while (!job->collected) {
        if (!wait && PQisBusy(conn))
            return false; /* more of its results to come */
        PGresult *res = PQgetResult(conn);
        ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (!res) {
            job->cut = true;
        } else if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
            job->failure = res; /* read by its kind's end */
        } else {
            job->collected = s_is_commit(res);
            PQclear(res);
            continue;
        }
        job->collected = true;
    }
    job->sent = false;
    return true;
}

bool cs_job_ended_text(const cs_job_t *job)
{
    return job->failure || job->cut;
}

void cs_tasks_end_text(cs_tasks_t *self, PGconn *conn, cs_job_t *const *not_run, size_t count)
{
    (void)self;
    for (size_t i = 0; i < count; i++)
        not_run[i]->sent = false;
    PGresult *res;
    while ((res = PQgetResult(conn)) != NULL)
        PQclear(res);
    if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE)
        s_rollback(conn); /* a failed transaction */
}

/* A failure that is not the connection's: why says what the update waits for (the
 * database, or a lock and who holds it), and the supervisor tries it again later. */
static void s_not_the_connections(PGconn *conn, cs_job_t *job)
{
    char *why = job->why;
    const char *prefix = "database: ";
    if (job->fault == CS_FAULT_SESSION) {
        char text[sizeof job->why];
        const char *message =
            strncmp(why, prefix, strlen(prefix)) == 0 ? why + strlen(prefix) : why;
        snprintf(text, sizeof text, "database unavailable: %.*s", (int)sizeof text - 32,
                 *message ? message : "session lost");
        snprintf(why, sizeof job->why, "%s", text);
    } else if (job->fault == CS_FAULT_LOCK) {
        cs_update_describe_wait(conn, job->task->connection, why, sizeof job->why);
    }
    job->result->retry = true;
    job->result->worker_fault = job->fault == CS_FAULT_SESSION || job->fault == CS_FAULT_WORKER;
}

/* A build of a dynamic schema succeeded and changed the schema: its schema is kept for the
 * comments that follow it (one per connection, S_SCHEMA_CACHE_MAX in all). A refetch that
 * found the schema as it was keeps nothing: no comments follow it. */
static void s_keep_built(cs_tasks_t *self, cs_job_t *job)
{
    char key[4096 + 512];
    if (job->task->kind != CS_TASK_BUILD || !job->owned || !job->cached || !job->info ||
        strcmp(job->info->mode, "dynamic") != 0 || !job->result->ddl_count ||
        s_built_key(job->path, job->task, key, sizeof key) != 0)
        return;
    void *old = zhashx_lookup(self->built, key);
    if (old) {
        zhashx_delete(self->built, key);
        s_cached_free(&old);
    }
    if (zhashx_size(self->built) >= S_SCHEMA_CACHE_MAX)
        s_built_purge(self); /* no job holds these: they are given away, not lent */
    zhashx_insert(self->built, key, job->cached);
    job->cached = NULL;
    job->owned = false;
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
    cs_tasks_prepare(self, conn, job);
    if (!job->sent && !job->collected && PQstatus(conn) != CONNECTION_OK) {
        cs_update_error(why, sizeof job->why, conn, NULL);
        job->fault = CS_FAULT_SESSION;
    } else if (task->kind == CS_TASK_DELETE) {
        rc = s_delete(self, conn, job);
    } else if (!task->plugin || !*task->plugin) {
        snprintf(why, sizeof job->why, "task without a plugin");
    } else if (task->kind == CS_TASK_BUILD) {
        rc = s_build(self, conn, job);
    } else if (task->kind == CS_TASK_COMMENTS) {
        rc = s_comments(self, conn, job);
    } else if (task->kind == CS_TASK_AGGREGATE) {
        rc = s_aggregate(self, conn, job);
    } else {
        snprintf(why, sizeof job->why, "this worker cannot run a task of kind %s",
                 cs_task_kind_name(task->kind));
    }
    result->ok = rc == 0;
    result->elapsed_us = (uint64_t)(cs_clock_mono_us() - job->start);
    if (result->ok) {
        job->fault = CS_FAULT_NONE;
        s_keep_built(self, job);
        return;
    }
    if (PQstatus(conn) != CONNECTION_OK)
        job->fault = CS_FAULT_SESSION; /* whatever failed first: the retry finds out */
    if (!*why)
        snprintf(why, sizeof job->why, "failed without a reason");
    if (job->fault != CS_FAULT_NONE)
        s_not_the_connections(conn, job);
    s_mask_secrets(why, sizeof job->why, task); /* before any cut */
    why[strcspn(why, "\n")] = '\0';             /* PostgreSQL's first line is the message */
    cs_utf8_sanitize(why);
    result->error = strdup(why);
}
