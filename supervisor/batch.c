/* The batch writer: the store's queued rows go to the state table as one statement (one
 * transaction) ending with one pg_notify, sent without blocking on the server; once it
 * committed, each row is published (on_commit). The statement checks a worker's word against
 * the schemas: a `ready` whose schema's marker does not match, or a deletion whose schema is
 * still there, is written as `error` instead and queued as a refusal, for the refresher to do
 * that update again. A failed batch is written again after a backoff, its rows first and in
 * their order. The same statement keeps the database's default search path (options
 * "database") in step with the rows that are ready once it commits. Also the rule of when to
 * write. */
#include "supervisor.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_RETRY_FIRST_MS 100   /* backoff of a failed state write, doubling ... */
#define S_RETRY_MAX_MS   10000 /* ... up to this */

/* One row of the batch in flight: what was written, to publish once it committed. */
typedef struct {
    char *name;
    cs_visible_t row;
    bool deleted;
    bool refused; /* the table refused it: written as error */
} s_entry_t;

/* What the batch does with the database's default search path. */
typedef enum {
    S_PATH_OFF,  /* the config has no options "database": the path is the operator's */
    S_PATH_KEEP, /* what the config says is not known (a broken file declares options
                    "database", the directory cannot be read): the path in force stays */
    S_PATH_ON    /* kept in step with the ready rows */
} s_path_mode_t;

/* A list of options "database", owned. */
typedef struct {
    char **items;
    size_t count;
    bool set;
} s_list_t;

/* A refusal waiting for the refresher. */
typedef struct {
    char *name;
    cs_task_kind_t redo;
} s_refusal_t;

struct cs_batch {
    PGconn *pg; /* borrowed: the catalog's session, which holds the supervisor lock */
    cs_store_t *store;
    cs_batch_commit_fn *on_commit;
    void *arg;
    uint64_t seq;           /* highest assigned sequence number */
    uint64_t committed_seq; /* highest committed one */
    s_entry_t *entries;     /* the batch in flight */
    size_t count;
    uint64_t first_seq;
    bool pending;    /* a statement's results are not all read yet (PQgetResult != NULL) */
    bool failed;     /* ... and one of them was an error */
    bool want_write; /* libpq has more to send */
    int64_t retry_at;
    int retry_ms;
    unsigned failures; /* consecutive failed batches */
    char error[CS_PROTO_MAX_ERROR];
    zlistx_t *refusals; /* s_refusal_t, in seq order */
    uint64_t batches, rows;
    int64_t sent_us, write_us;
    cs_histogram_t latency; /* of the committed writes */
    /* the database's default search path */
    s_path_mode_t path_mode;
    s_list_t path_prefix, path_explicit; /* search_path_prefix, search_path */
    size_t path_max;                     /* --search-path-max */
    size_t rows_max;                     /* --batch-max-rows: rows a statement at most */
    bool path_due;      /* the settings changed or a batch that carried them failed */
    bool path_bounded;  /* the last path computed left the connections out (logged once) */
    char *path_sent;    /* $6 of the last committed batch that carried one (NULL: none) */
    char *path_asked;   /* $6 of the batch in flight (NULL: it carries none) */
    char *path_outcome; /* what its statement answered */
    char *path_failure; /* the last failure logged */
};

cs_batch_t *cs_batch_new(cs_store_t *store, cs_batch_commit_fn *on_commit, void *arg)
{
    cs_batch_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store;
    self->on_commit = on_commit;
    self->arg = arg;
    self->refusals = zlistx_new();
    self->path_max = 100;
    self->rows_max = CS_BATCH_ROWS_MAX;
    self->latency.bounds = cs_histogram_write_bounds;
    self->latency.count = CS_HISTOGRAM_BUCKETS;
    return self;
}

static void s_list_free(s_list_t *list)
{
    for (size_t i = 0; i < list->count; i++)
        free(list->items[i]);
    free(list->items);
    memset(list, 0, sizeof *list);
}

static bool s_list_same(const s_list_t *mine, const cs_config_list_t *theirs)
{
    if (mine->set != theirs->set || mine->count != theirs->count)
        return false;
    for (size_t i = 0; i < mine->count; i++)
        if (strcmp(mine->items[i], theirs->items[i]) != 0)
            return false;
    return true;
}

/* Copies a list of the config (which the next reload frees). Returns 0 or -1. */
static int s_list_copy(s_list_t *mine, const cs_config_list_t *theirs)
{
    s_list_free(mine);
    if (!theirs->set)
        return 0;
    mine->items = calloc(theirs->count ? theirs->count : 1, sizeof *mine->items);
    if (!mine->items)
        return -1;
    mine->set = true;
    for (size_t i = 0; i < theirs->count; i++) {
        if (!(mine->items[i] = strdup(theirs->items[i])))
            return -1;
        mine->count++;
    }
    return 0;
}

void cs_batch_search_path_max(cs_batch_t *self, size_t max)
{
    self->path_max = max;
}

void cs_batch_rows_max(cs_batch_t *self, size_t max)
{
    self->rows_max = max ? max : CS_BATCH_ROWS_MAX;
}

void cs_batch_search_path(cs_batch_t *self, const cs_config_database_t *db, bool dir_failed)
{
    s_path_mode_t mode = dir_failed || db->uncertain ? S_PATH_KEEP
                         : db->declared              ? S_PATH_ON
                                                     : S_PATH_OFF;
    if (mode == S_PATH_KEEP && self->path_mode != S_PATH_KEEP)
        cs_log_warn("the database's default search path is left as it is: %s",
                    dir_failed ? "the config directory cannot be read"
                               : "a file that failed to load declares options \"database\"");
    bool changed = mode != self->path_mode;
    if (mode == S_PATH_ON && (!s_list_same(&self->path_prefix, &db->search_path_prefix) ||
                              !s_list_same(&self->path_explicit, &db->search_path))) {
        changed = true;
        if (s_list_copy(&self->path_prefix, &db->search_path_prefix) != 0 ||
            s_list_copy(&self->path_explicit, &db->search_path) != 0) {
            cs_log_error("out of memory: the database's default search path is left as it is");
            mode = S_PATH_KEEP;
        }
    }
    if (mode == S_PATH_ON && self->path_mode != S_PATH_ON) { /* compared with the database's */
        free(self->path_sent);
        self->path_sent = NULL;
    }
    self->path_mode = mode;
    if (changed && mode == S_PATH_ON)
        self->path_due = true;
}

static void s_refusals_purge(cs_batch_t *self)
{
    s_refusal_t *refusal;
    while ((refusal = zlistx_detach(self->refusals, NULL)) != NULL) {
        free(refusal->name);
        free(refusal);
    }
}

static void s_entries_free(cs_batch_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        free(self->entries[i].name);
        cs_visible_clear(&self->entries[i].row);
    }
    free(self->entries);
    self->entries = NULL;
    self->count = 0;
}

void cs_batch_destroy(cs_batch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_entries_free(*self_p);
    s_refusals_purge(*self_p);
    zlistx_destroy(&(*self_p)->refusals);
    s_list_free(&(*self_p)->path_prefix);
    s_list_free(&(*self_p)->path_explicit);
    free((*self_p)->path_sent);
    free((*self_p)->path_asked);
    free((*self_p)->path_outcome);
    free((*self_p)->path_failure);
    free(*self_p);
    *self_p = NULL;
}

/* The batch failed: its rows go back to the front of the store's queue, in their order;
 * their sequence numbers are given out again (none was committed). */
static void s_failed(cs_batch_t *self)
{
    for (size_t i = self->count; i-- > 0;)
        cs_store_requeue(self->store, self->entries[i].name);
    if (self->count)
        self->seq = self->first_seq - 1;
    self->failures++;
    self->retry_ms = self->retry_ms ? self->retry_ms * 2 : S_RETRY_FIRST_MS;
    if (self->retry_ms > S_RETRY_MAX_MS)
        self->retry_ms = S_RETRY_MAX_MS;
    self->retry_at = cs_clock_mono_ms() + self->retry_ms;
    if (self->path_asked) /* asked again with the rows */
        self->path_due = self->path_mode == S_PATH_ON;
    free(self->path_asked);
    free(self->path_outcome);
    self->path_asked = self->path_outcome = NULL;
    s_entries_free(self);
}

/* A row the table refused: it was written as error (the text the statement wrote), what we
 * decided for it follows, and the update is queued to be done again (unless a newer decision
 * replaced the refused one meanwhile: that one is under way). */
static void s_refused(cs_batch_t *self, s_entry_t *entry)
{
    bool deletion = entry->deleted || entry->row.status == CS_STATUS_DISABLED;
    cs_status_t claimed = entry->row.status;
    const char *why = deletion ? CS_BATCH_STILL_THERE : CS_BATCH_MARKER_MISMATCH;
    entry->row.status = CS_STATUS_ERROR;
    free(entry->row.error);
    entry->row.error = strdup(why);
    free(entry->row.detail);
    entry->row.detail = NULL;
    if (!cs_store_refused(self->store, entry->name, entry->deleted, claimed, why))
        return;
    const cs_record_t *row = cs_store_get(self->store, entry->name);
    const char *worker = row ? cs_record_values(row)->worker : NULL;
    cs_log_conn_warn(entry->name, "%s (worker %s): written as error; the %s is done again", why,
                     worker ? worker : "(unknown)", deletion ? "deletion" : "build");
    s_refusal_t *refusal = calloc(1, sizeof *refusal);
    if (!refusal || !(refusal->name = strdup(entry->name))) {
        free(refusal);
        cs_log_conn_error(entry->name, "out of memory: its update is not done again");
        return;
    }
    refusal->redo = deletion ? CS_TASK_DELETE : CS_TASK_BUILD;
    zlistx_add_end(self->refusals, refusal);
}

/* The batch that carried a search path committed: what its statement did is logged (a
 * failure once per text: a session that may not ALTER DATABASE is not told again and again),
 * and the path is not asked for again until it changes -- unless a refused row may have
 * left the path set short of the one asked for. */
static void s_path_committed(cs_batch_t *self, bool refused)
{
    const char *outcome = self->path_outcome ? self->path_outcome : "";
    if (strncmp(outcome, "set: ", 5) == 0) {
        cs_log_info("the database's default search path is now %s", outcome + 5);
        free(self->path_failure);
        self->path_failure = NULL;
    } else if (strncmp(outcome, "failed: ", 8) == 0 &&
               (!self->path_failure || strcmp(self->path_failure, outcome) != 0)) {
        cs_log_warn("the database's default search path could not be set (it is asked for again "
                    "when it changes): %s",
                    outcome + 8);
        free(self->path_failure);
        self->path_failure = strdup(outcome);
    }
    free(self->path_sent);
    self->path_sent = refused ? NULL : self->path_asked;
    if (refused)
        free(self->path_asked);
    free(self->path_outcome);
    self->path_asked = self->path_outcome = NULL;
}

/* The batch committed: what snapshots see follows, and each row is published. */
static void s_committed(cs_batch_t *self)
{
    bool refused = false;
    for (size_t i = 0; i < self->count; i++)
        refused |= self->entries[i].refused;
    if (self->path_asked)
        s_path_committed(self, refused);
    for (size_t i = 0; i < self->count; i++) {
        s_entry_t *entry = &self->entries[i];
        if (entry->refused) {
            s_refused(self, entry);
            entry->deleted = false;
        }
        cs_store_written(self->store, entry->name, &entry->row, entry->deleted);
        if (self->on_commit)
            self->on_commit(self->arg, entry->name, &entry->row);
    }
    self->committed_seq = self->seq;
    if (self->failures)
        cs_log_info("state write succeeded after %u failed attempts", self->failures);
    self->failures = 0;
    self->retry_ms = 0;
    int64_t took_us = cs_clock_wall_us() - self->sent_us;
    self->write_us += took_us;
    cs_histogram_observe(&self->latency, (double)took_us / 1e6);
    self->batches++;
    self->rows += self->count;
    s_entries_free(self);
}

void cs_batch_attach(cs_batch_t *self, PGconn *pg, uint64_t last_seq)
{
    s_refusals_purge(self); /* the table, read again, and the next plan say what is needed */
    self->pg = pg;
    self->seq = self->committed_seq = last_seq;
    free(self->path_sent); /* another supervisor may have set it meanwhile: compared again */
    self->path_sent = NULL;
    self->path_due = self->path_mode == S_PATH_ON;
    self->retry_at = 0;
    self->retry_ms = 0;
    self->failures = 0;
}

void cs_batch_detach(cs_batch_t *self)
{
    if (self->pending) /* its outcome is unknown: the table, read again, will say */
        s_failed(self);
    self->pending = false;
    self->want_write = false;
    self->pg = NULL;
}

/* The path this batch asks for as its $6, or NULL when it asks for none: not kept in step,
 * or the same as the last committed batch asked for. The connections in it are those whose
 * row is ready once the batch commits as far as the store knows (the statement keeps a
 * claimed ready only where the table takes it). The caller frees it. */
static char *s_path_param(cs_batch_t *self)
{
    if (self->path_mode != S_PATH_ON)
        return NULL;
    const char **ready = malloc((cs_store_size(self->store) + 1) * sizeof *ready);
    if (!ready)
        return NULL;
    zhashx_t *in_batch = zhashx_new();
    for (size_t i = 0; i < self->count; i++)
        zhashx_insert(in_batch, self->entries[i].name, &self->entries[i]);
    size_t count = 0;
    for (cs_record_t *row = cs_store_first(self->store); row; row = cs_store_next(self->store)) {
        const s_entry_t *entry = zhashx_lookup(in_batch, cs_record_name(row));
        const cs_visible_t *committed = cs_record_committed(row);
        cs_status_t status = entry       ? entry->row.status
                             : committed ? committed->status
                                         : CS_STATUS_PENDING;
        if (status == CS_STATUS_READY)
            ready[count++] = cs_record_name(row);
    }
    zhashx_destroy(&in_batch);
    cs_config_database_t db = {
        .search_path = {(const char **)self->path_explicit.items, self->path_explicit.count,
                        self->path_explicit.set, NULL, 0},
        .search_path_prefix = {(const char **)self->path_prefix.items, self->path_prefix.count,
                               self->path_prefix.set, NULL, 0}};
    cs_search_path_t path;
    int rc = cs_search_path_compute(&db, ready, count, self->path_max, &path);
    free(ready);
    if (rc != 0)
        return NULL;
    if (path.bounded && !self->path_bounded)
        cs_log_warn("the database's default search path would hold %zu schemas, more than "
                    "--search-path-max %zu: it holds search_path_prefix and public only, without "
                    "the connections",
                    path.wanted, self->path_max);
    else if (!path.bounded && self->path_bounded)
        cs_log_info("the database's default search path holds the ready connections again "
                    "(%zu schemas, --search-path-max %zu)",
                    path.count, self->path_max);
    self->path_bounded = path.bounded;
    cs_buf_t json = {0};
    cs_search_path_json(&path, &json);
    cs_search_path_clear(&path);
    char *param = json.failed ? NULL : cs_buf_take(&json);
    cs_buf_free(&json);
    if (param && self->path_sent && strcmp(param, self->path_sent) == 0) {
        free(param);
        return NULL;
    }
    return param;
}

int cs_batch_flush(cs_batch_t *self, size_t max)
{
    size_t n = cs_store_dirty(self->store);
    bool path_due = self->path_due && self->path_mode == S_PATH_ON;
    if (!self->pg || self->pending || (n == 0 && !path_due) || cs_clock_mono_ms() < self->retry_at)
        return 0;
    if (!max || max > self->rows_max)
        max = self->rows_max;
    if (n > max) /* the rest in the next statements: their arrays are not all held at once */
        n = max;
    self->entries = calloc(n ? n : 1, sizeof *self->entries);
    if (!self->entries)
        return -1;
    self->first_seq = self->seq + 1;
    self->sent_us = cs_clock_wall_us();
    cs_table_batch_t rows = {0};
    bool checked = false; /* a row to delete, or a worker's word to check: the full statement */
    bool full = false;    /* a row the table may not have, or not with this description */
    cs_record_t *row, **taken = malloc((n ? n : 1) * sizeof *taken);
    if (!taken) {
        free(self->entries);
        self->entries = NULL;
        return -1;
    }
    bool row_full;
    while (self->count < n &&
           (row = cs_store_take_dirty(self->store, self->seq + 1, &row_full)) != NULL) {
        full |= row_full;
        self->seq++;
        const cs_row_values_t *v = cs_record_values(row);
        taken[self->count] = row;
        s_entry_t *entry = &self->entries[self->count++];
        entry->name = strdup(v->name);
        cs_visible_of(&entry->row, v);
        entry->deleted = cs_record_gone(row);
        checked |= entry->deleted || cs_record_claimed(row);
        if (entry->deleted)
            entry->row.status = CS_STATUS_DELETED;
    }
    bool status_only = !checked && !full;
    for (size_t i = 0; i < self->count; i++) /* the arrays of the form it takes */
        cs_table_batch_add(&rows, cs_record_values(taken[i]), cs_record_gone(taken[i]),
                           cs_record_claimed(taken[i]), status_only);
    free(taken);
    char last_seq[32], payload[64];
    snprintf(last_seq, sizeof last_seq, "%llu", (unsigned long long)self->seq);
    /* {"seq":N,"rows":n,"xid":X}: the statement appends the transaction id */
    snprintf(payload, sizeof payload, "{\"seq\":%llu,\"rows\":%zu", (unsigned long long)self->seq,
             self->count);
    self->path_due = false;
    self->path_asked = s_path_param(self);
    if (self->count == 0 && !self->path_asked) { /* the path asked for is already in force */
        cs_table_batch_free(&rows);
        s_entries_free(self);
        return 0;
    }
    const char *params[CS_TABLE_BATCH_PARAMS] = {
        NULL, last_seq, payload, CS_BATCH_MARKER_MISMATCH, CS_BATCH_STILL_THERE, self->path_asked};
    int nparams = cs_table_batch_params(&rows, params, status_only);
    bool failed = nparams < 0;
    int rc = 0;
    const char *sql = checked       ? cs_table_upsert_sql()
                      : status_only ? cs_table_upsert_status_sql()
                                    : cs_table_upsert_plain_sql();
    if (failed || !PQsendQueryParams(self->pg, sql, nparams, NULL, params, NULL, NULL, 0)) {
        cs_log_error("state write: %s", failed ? "out of memory" : PQerrorMessage(self->pg));
        rc = -1;
        s_failed(self);
    } else {
        self->pending = true;
        self->failed = false;
        int flushed = PQflush(self->pg);
        self->want_write = flushed == 1;
        if (flushed < 0)
            rc = -1;
    }
    cs_table_batch_free(&rows);
    return rc;
}

/* The statement's answer: its last column lists the seqs of the rows it refused
 * ("12,15"; NULL when none). */
static void s_mark_refused(cs_batch_t *self, const PGresult *res)
{
    if (PQntuples(res) != 1 || PQnfields(res) < 4 || PQgetisnull(res, 0, 3))
        return;
    for (const char *p = PQgetvalue(res, 0, 3); *p;) {
        char *end;
        unsigned long long seq = strtoull(p, &end, 10);
        if (end == p)
            break;
        if (seq >= self->first_seq && seq - self->first_seq < self->count)
            self->entries[seq - self->first_seq].refused = true;
        p = *end == ',' ? end + 1 : end;
    }
}

int cs_batch_socket(const cs_batch_t *self, bool *want_write)
{
    *want_write = self->want_write;
    return self->pending ? PQsocket(self->pg) : -1;
}

int cs_batch_on_socket(cs_batch_t *self)
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
        if (!res) { /* the transaction is over */
            self->pending = false;
            if (self->failed) {
                s_failed(self);
                cs_log_error("state write failed (attempt %u; retrying in %d ms): %s",
                             self->failures, self->retry_ms, self->error);
            } else {
                s_committed(self);
            }
            return 0;
        }
        if (PQresultStatus(res) != PGRES_TUPLES_OK && !self->failed) {
            self->failed = true;
            cs_pg_error_text(res, self->error, sizeof self->error);
        } else if (PQresultStatus(res) == PGRES_TUPLES_OK) {
            s_mark_refused(self, res);
            if (PQntuples(res) == 1 && PQnfields(res) >= 5 && !PQgetisnull(res, 0, 4)) {
                free(self->path_outcome);
                self->path_outcome = strdup(PQgetvalue(res, 0, 4));
            }
        }
        PQclear(res);
    }
    return 0;
lost: /* the catalog says so, once */
    self->pending = false;
    s_failed(self);
    return -1;
}

int cs_batch_wait(cs_batch_t *self, int timeout_ms)
{
    int64_t deadline = cs_clock_mono_ms() + timeout_ms;
    while (self->pending) {
        int64_t left = deadline - cs_clock_mono_ms();
        if (left <= 0)
            return -1;
        bool want_write;
        struct pollfd pfd = {cs_batch_socket(self, &want_write), POLLIN, 0};
        if (want_write)
            pfd.events |= POLLOUT;
        if (poll(&pfd, 1, (int)(left < 1000 ? left : 1000)) < 0 && errno != EINTR)
            return -1;
        if (cs_batch_on_socket(self) != 0)
            return -1;
    }
    return 0;
}

int cs_batch_flush_all(cs_batch_t *self, int timeout_ms)
{
    int64_t deadline = cs_clock_mono_ms() + timeout_ms;
    while (self->pending || cs_store_dirty(self->store)) {
        if (cs_batch_wait(self, (int)(deadline - cs_clock_mono_ms())) != 0)
            return -1;
        if (!cs_store_dirty(self->store))
            break;
        int64_t now = cs_clock_mono_ms();
        if (now >= deadline)
            return -1;
        if (self->retry_at > now) /* the backoff of a failed batch */
            zclock_sleep((int)(self->retry_at < deadline ? self->retry_at - now : deadline - now));
        if (cs_batch_flush(self, 0) != 0)
            return -1;
    }
    return 0;
}

bool cs_batch_busy(const cs_batch_t *self)
{
    return self->pending;
}

bool cs_batch_due(const cs_batch_t *self, const cs_batch_rule_t *rule, int64_t now)
{
    size_t dirty = cs_store_dirty(self->store);
    bool path_due = self->path_due && self->path_mode == S_PATH_ON;
    if ((!dirty && !path_due) || self->pending || now < self->retry_at)
        return false;
    if (path_due) /* the settings changed: at once, with whatever rows are queued */
        return true;
    /* After batch-size results, or batch-ms after the first one waited, or at once when a
     * status changed and no build or delete is outstanding (a client may be waiting for
     * exactly that row), or when no task at all is outstanding: then nothing more is
     * coming to batch it with. */
    return dirty >= rule->size || now - cs_store_dirty_since(self->store) >= rule->ms ||
           (cs_store_urgent(self->store) && rule->updates_outstanding == 0) ||
           rule->outstanding == 0;
}

int64_t cs_batch_wake_at(const cs_batch_t *self, int batch_ms)
{
    if (self->pg && !self->pending && self->path_due && self->path_mode == S_PATH_ON) {
        int64_t now = cs_clock_mono_ms();
        return self->retry_at > now ? self->retry_at : now;
    }
    if (!self->pg || !cs_store_dirty(self->store) || self->pending)
        return 0; /* no session: nothing to wake up for */
    int64_t due = cs_store_dirty_since(self->store) + batch_ms;
    return self->retry_at > due ? self->retry_at : due;
}

char *cs_batch_next_refusal(cs_batch_t *self, cs_task_kind_t *redo)
{
    s_refusal_t *refusal = zlistx_detach(self->refusals, NULL);
    if (!refusal)
        return NULL;
    char *name = refusal->name;
    *redo = refusal->redo;
    free(refusal);
    return name;
}

size_t cs_batch_refusals(const cs_batch_t *self)
{
    return zlistx_size(self->refusals);
}

uint64_t cs_batch_seq(const cs_batch_t *self)
{
    return self->committed_seq;
}

void cs_batch_stats(const cs_batch_t *self, uint64_t *batches, uint64_t *rows, uint64_t *write_us)
{
    *batches = self->batches;
    *rows = self->rows;
    *write_us = (uint64_t)self->write_us;
}

const cs_histogram_t *cs_batch_latency(const cs_batch_t *self)
{
    return &self->latency;
}
