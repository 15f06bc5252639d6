/* The connections' rows in memory: what the supervisor last decided for each (its values,
 * queued for the batch writer when they change) and what the state table holds (committed,
 * what snapshots and counts show). Rows change only through these functions. The strings
 * that many rows share (plugin, plugin_version, type, file_name, worker, and the committed
 * plugin) are interned: one copy each, owned by the store, kept until cs_store_clear; a
 * row owns its name (also its key in by_name), error, detail and digests. */
#include "supervisor.h"

#include <stdlib.h>
#include <string.h>

/* A row's place in one of the store's lists of rows. */
typedef struct {
    cs_record_t *prev, *next;
} s_link_t;

enum { S_ALL, S_UNSETTLED, S_LISTS };

struct cs_record {
    cs_row_values_t now;    /* what we last decided */
    cs_visible_t committed; /* what the table holds */
    bool in_table;          /* the table has the row (committed is valid) */
    bool dirty;             /* queued for writing */
    bool gone;              /* to be deleted from the table */
    bool claimed;           /* its status (or deletion) is a worker's word, not yet checked */
    bool described; /* its description may differ from the table's: the next write is a full one */
    bool unsettled; /* in the store's unsettled rows */
    s_link_t links[S_LISTS];
    cs_record_t *dirty_next; /* in its queue for writing (while dirty) */
};

/* The rows in the order they came, the rows not settled, and the rows queued for writing in
 * order: lists through the rows themselves (a list's own nodes, or a set's entries, would be
 * three allocations more a row). */
typedef struct {
    int which; /* the row's links it goes through */
    cs_record_t *first, *last;
    cs_record_t *cursor; /* the next one an iteration returns */
    size_t size;
} s_rows_t;

typedef struct {
    cs_record_t *first, *last;
    size_t size;
} s_queue_t;

struct cs_store {
    zhashx_t *by_name; /* the row's own name -> cs_record_t (owned) */
    zhashx_t *strings; /* interned strings: text -> the one copy (owned) */
    s_rows_t rows;     /* every row, for iteration */
    s_queue_t dirty;   /* rows queued for writing, in order */
    int64_t dirty_since;
    bool urgent; /* a queued row changed status or error (not only its comments) */
    /* kept as rows change (the block at the end of this file) */
    uint32_t counts[CS_STATUS_COUNT]; /* rows the table holds, by committed status */
    s_rows_t unsettled;               /* rows not settled for a plan */
};

static void s_count(cs_store_t *self, const cs_record_t *row, int sign);
static void s_note_unsettled(cs_store_t *self, cs_record_t *row);

static char *s_dup(const char *text)
{
    return text ? strdup(text) : NULL;
}

static bool s_same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void s_rows_add(s_rows_t *rows, cs_record_t *row)
{
    s_link_t *link = &row->links[rows->which];
    link->prev = rows->last;
    link->next = NULL;
    if (rows->last)
        rows->last->links[rows->which].next = row;
    else
        rows->first = row;
    rows->last = row;
    rows->size++;
}

static void s_rows_remove(s_rows_t *rows, cs_record_t *row)
{
    s_link_t *link = &row->links[rows->which];
    if (rows->cursor == row) /* an iteration goes on with the next one */
        rows->cursor = link->next;
    if (link->prev)
        link->prev->links[rows->which].next = link->next;
    else
        rows->first = link->next;
    if (link->next)
        link->next->links[rows->which].prev = link->prev;
    else
        rows->last = link->prev;
    link->prev = link->next = NULL;
    rows->size--;
}

/* Each next row of the list (NULL at the end; the row returned may leave it), from the first
 * after s_rows_first. */
static cs_record_t *s_rows_next(s_rows_t *rows)
{
    cs_record_t *row = rows->cursor;
    rows->cursor = row ? row->links[rows->which].next : NULL;
    return row;
}

static cs_record_t *s_rows_first(s_rows_t *rows)
{
    rows->cursor = rows->first;
    return s_rows_next(rows);
}

static void s_queue_add(s_queue_t *queue, cs_record_t *row, bool front)
{
    row->dirty_next = NULL;
    if (!queue->first) {
        queue->first = queue->last = row;
    } else if (front) {
        row->dirty_next = queue->first;
        queue->first = row;
    } else {
        queue->last->dirty_next = row;
        queue->last = row;
    }
    queue->size++;
}

static cs_record_t *s_queue_take(s_queue_t *queue)
{
    cs_record_t *row = queue->first;
    if (!row)
        return NULL;
    queue->first = row->dirty_next;
    if (!queue->first)
        queue->last = NULL;
    row->dirty_next = NULL;
    queue->size--;
    return row;
}

void cs_visible_clear(cs_visible_t *v)
{
    free(v->error);
    free(v->detail);
    free(v->plugin);
    v->error = v->detail = v->plugin = NULL;
}

void cs_visible_of(cs_visible_t *dst, const cs_row_values_t *src)
{
    cs_visible_clear(dst);
    dst->status = src->status;
    dst->error = s_dup(src->error);
    dst->detail = s_dup(src->detail);
    dst->comments_set = src->comments_set;
    dst->time_us = src->time_us;
    dst->seq = src->seq;
    dst->plugin = s_dup(src->plugin);
}

/* An interned string: its text, and how many fields of rows point at it. */
typedef struct {
    size_t refs;
    char text[];
} s_string_t;

static s_string_t *s_string_of(const char *text)
{
    return (s_string_t *)(void *)(text - offsetof(s_string_t, text));
}

static zhashx_t *s_strings_new(void)
{
    zhashx_t *strings = zhashx_new();
    if (strings) {
        zhashx_set_destructor(strings, (zhashx_destructor_fn *)zstr_free);
        zhashx_set_key_duplicator(strings, NULL); /* the string's own text */
        zhashx_set_key_destructor(strings, NULL);
    }
    return strings;
}

/* The one copy of text in the store, for one more field (NULL for NULL, and when out of
 * memory: logged); s_release when the field lets go of it. A string lives while a field
 * points at it: the set holds only what the rows use. */
static char *s_intern(cs_store_t *self, const char *text)
{
    if (!text)
        return NULL;
    s_string_t *string = zhashx_lookup(self->strings, text);
    if (!string) {
        size_t len = strlen(text);
        if (!(string = malloc(sizeof *string + len + 1))) {
            cs_log_error("out of memory: a row's \"%s\" is not kept", text);
            return NULL;
        }
        string->refs = 0;
        memcpy(string->text, text, len + 1);
        zhashx_insert(self->strings, string->text, string);
    }
    string->refs++;
    return string->text;
}

static void s_release(cs_store_t *self, char **field)
{
    if (*field && --s_string_of(*field)->refs == 0)
        zhashx_delete(self->strings, *field);
    *field = NULL;
}

/* Lets go of every interned string of a row. */
static void s_row_release(cs_store_t *self, cs_record_t *row)
{
    s_release(self, &row->now.plugin);
    s_release(self, &row->now.plugin_version);
    s_release(self, &row->now.type);
    s_release(self, &row->now.file_name);
    s_release(self, &row->now.worker);
    s_release(self, &row->committed.plugin);
}

/* Frees what a row owns of its values and of what the table holds (not the interned). */
static void s_row_strings_free(cs_record_t *row)
{
    free(row->now.error);
    free(row->now.detail);
    free(row->now.config_hash);
    free(row->now.schema_hash);
    free(row->committed.error);
    free(row->committed.detail);
    row->now.error = row->now.detail = row->now.config_hash = row->now.schema_hash = NULL;
    row->committed.error = row->committed.detail = NULL;
}

/* The hash's destructor: a row and what it owns (its interned strings are let go of by
 * s_row_release, or freed with the set). */
static void s_row_free(void **item)
{
    cs_record_t *row = *item;
    if (!row)
        return;
    s_row_strings_free(row);
    free(row->now.name);
    free(row);
    *item = NULL;
}

cs_store_t *cs_store_new(void)
{
    cs_store_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->by_name = zhashx_new();
    self->strings = s_strings_new();
    self->rows.which = S_ALL;
    self->unsettled.which = S_UNSETTLED;
    if (!self->by_name || !self->strings) {
        cs_store_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->by_name, s_row_free);
    zhashx_set_key_duplicator(self->by_name, NULL); /* the row's own name */
    zhashx_set_key_destructor(self->by_name, NULL);
    return self;
}

void cs_store_destroy(cs_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_store_t *self = *self_p;
    zhashx_destroy(&self->by_name);
    zhashx_destroy(&self->strings); /* after the rows that point into it */
    free(self);
    *self_p = NULL;
}

void cs_store_clear(cs_store_t *self)
{
    self->dirty = (s_queue_t){0};
    self->rows = (s_rows_t){.which = S_ALL};
    self->unsettled = (s_rows_t){.which = S_UNSETTLED};
    zhashx_purge(self->by_name); /* frees the rows */
    zhashx_purge(self->strings);
    memset(self->counts, 0, sizeof self->counts);
    self->dirty_since = 0;
    self->urgent = false;
}

static cs_record_t *s_row_new(cs_store_t *self, const char *name)
{
    cs_record_t *row = calloc(1, sizeof *row);
    if (!row || !(row->now.name = strdup(name))) {
        free(row);
        return NULL;
    }
    row->described = true; /* not in the table */
    zhashx_insert(self->by_name, row->now.name, row);
    s_rows_add(&self->rows, row);
    return row;
}

static void s_mark(cs_store_t *self, cs_record_t *row)
{
    s_note_unsettled(self, row);
    if (row->dirty)
        return;
    if (self->dirty.size == 0)
        self->dirty_since = cs_clock_mono_ms();
    row->dirty = true;
    s_queue_add(&self->dirty, row, false);
}

/* ... a change of its description: written in full. */
static void s_mark_described(cs_store_t *self, cs_record_t *row)
{
    row->described = true;
    s_mark(self, row);
}

int cs_store_load(cs_store_t *self, const cs_row_values_t *values)
{
    cs_record_t *row = zhashx_lookup(self->by_name, values->name);
    if (!row && !(row = s_row_new(self, values->name)))
        return -1;
    s_count(self, row, -1);
    s_row_strings_free(row);
    s_row_release(self, row);
    char *name = row->now.name;
    row->now = *values;
    row->now.name = name;
    row->now.error = s_dup(values->error);
    row->now.detail = s_dup(values->detail);
    row->now.config_hash = s_dup(values->config_hash);
    row->now.schema_hash = s_dup(values->schema_hash);
    row->now.plugin = s_intern(self, values->plugin);
    row->now.plugin_version = s_intern(self, values->plugin_version);
    row->now.type = s_intern(self, values->type);
    row->now.file_name = s_intern(self, values->file_name);
    row->now.worker = s_intern(self, values->worker);
    row->committed = (cs_visible_t){.status = values->status,
                                    .comments_set = values->comments_set,
                                    .error = s_dup(values->error),
                                    .detail = s_dup(values->detail),
                                    .time_us = values->time_us,
                                    .seq = values->seq,
                                    .plugin = s_intern(self, values->plugin)};
    row->in_table = true;
    row->described = false;
    s_count(self, row, 1);
    s_note_unsettled(self, row);
    return 0;
}

cs_record_t *cs_store_get(cs_store_t *self, const char *name)
{
    return zhashx_lookup(self->by_name, name);
}

cs_record_t *cs_store_add(cs_store_t *self, const char *name)
{
    cs_record_t *row = zhashx_lookup(self->by_name, name);
    if (row) {
        row->gone = false; /* back in the config before its deletion was written */
        s_note_unsettled(self, row);
        return row;
    }
    row = s_row_new(self, name);
    if (row) {
        row->now.status = CS_STATUS_PENDING;
        row->now.time_us = cs_clock_wall_us();
        s_mark(self, row);
    }
    return row;
}

size_t cs_store_size(const cs_store_t *self)
{
    return self->rows.size;
}

cs_record_t *cs_store_first(cs_store_t *self)
{
    return s_rows_first(&self->rows);
}

cs_record_t *cs_store_next(cs_store_t *self)
{
    return s_rows_next(&self->rows);
}

const char *cs_record_name(const cs_record_t *row)
{
    return row->now.name;
}

const cs_row_values_t *cs_record_values(const cs_record_t *row)
{
    return &row->now;
}

const cs_visible_t *cs_record_committed(const cs_record_t *row)
{
    return row->in_table ? &row->committed : NULL;
}

bool cs_record_gone(const cs_record_t *row)
{
    return row->gone;
}

void cs_store_set(cs_store_t *self, cs_record_t *row, cs_status_t status, const char *error)
{
    cs_store_set_noted(self, row, status, error, NULL);
}

void cs_store_set_noted(cs_store_t *self, cs_record_t *row, cs_status_t status, const char *error,
                        const char *detail)
{
    if (row->now.status == status && s_same(row->now.error, error) &&
        (detail ? s_same(row->now.detail, detail) : !row->now.detail) && row->in_table &&
        !row->gone)
        return;
    if (row->now.status != status || !s_same(row->now.error, error))
        row->now.time_us = cs_clock_wall_us();
    free(row->now.detail);
    row->now.detail = s_dup(detail);
    row->now.status = status;
    free(row->now.error);
    row->now.error = s_dup(error);
    row->gone = false;
    row->claimed = false;
    self->urgent = true;
    s_mark(self, row);
}

void cs_store_claim(cs_store_t *self, cs_record_t *row)
{
    row->claimed = true;
    s_mark(self, row);
}

bool cs_record_claimed(const cs_record_t *row)
{
    return row->claimed;
}

void cs_store_set_detail(cs_store_t *self, cs_record_t *row, const char *detail)
{
    if (s_same(row->now.detail, detail))
        return;
    free(row->now.detail);
    row->now.detail = s_dup(detail);
    self->urgent = true;
    s_mark(self, row);
}

/* Sets one string of the row's values (owned by the row); true when it changed. */
static bool s_set_text(char **field, const char *value)
{
    if (s_same(*field, value))
        return false;
    free(*field);
    *field = s_dup(value);
    return true;
}

/* ... one of the interned ones. */
static bool s_set_interned(cs_store_t *self, char **field, const char *value)
{
    if (s_same(*field, value))
        return false;
    char *interned = s_intern(self, value);
    s_release(self, field);
    *field = interned;
    return true;
}

void cs_store_describe(cs_store_t *self, cs_record_t *row, const cs_connection_t *c)
{
    cs_row_values_t *v = &row->now;
    bool changed = s_set_interned(self, &v->plugin, c->plugin);
    if (!c->aggregator)
        changed |= s_set_text(&v->config_hash, c->fingerprint);
    changed |= s_set_interned(self, &v->type, c->aggregator ? "aggregator" : "plugin");
    changed |= s_set_interned(self, &v->file_name, c->file);
    changed |= v->start_line != c->start_line || v->end_line != c->end_line;
    v->start_line = c->start_line;
    v->end_line = c->end_line;
    if (changed)
        s_mark_described(self, row);
}

void cs_store_set_fingerprint(cs_store_t *self, cs_record_t *row, const char *fingerprint)
{
    if (s_set_text(&row->now.config_hash, fingerprint))
        s_mark_described(self, row);
}

void cs_store_set_built(cs_store_t *self, cs_record_t *row, const char *plugin_version,
                        const char *schema_hash)
{
    bool changed = s_set_interned(self, &row->now.plugin_version, plugin_version);
    changed |= s_set_text(&row->now.schema_hash, schema_hash);
    if (changed)
        s_mark_described(self, row);
}

void cs_store_set_worker(cs_store_t *self, cs_record_t *row, const char *worker, int attempts)
{
    bool changed = worker && s_set_interned(self, &row->now.worker, worker);
    changed |= row->now.attempts != attempts;
    row->now.attempts = attempts;
    if (changed)
        s_mark_described(self, row);
}

void cs_store_set_reason(cs_store_t *self, cs_record_t *row, const char *reason)
{
    uint16_t id = cs_reason_intern(reason);
    if (row->now.reason != id) {
        row->now.reason = id;
        s_mark_described(self, row);
    }
}

void cs_store_set_build_ms(cs_store_t *self, cs_record_t *row, uint64_t elapsed_us)
{
    int ms = elapsed_us ? (int)((elapsed_us + 999) / 1000) : 0; /* a build took 1 ms at least */
    if (elapsed_us > (uint64_t)INT32_MAX * 1000)
        ms = INT32_MAX;
    if (row->now.build_ms != ms) {
        row->now.build_ms = ms;
        s_mark_described(self, row);
    }
}

void cs_store_set_comments(cs_store_t *self, cs_record_t *row, bool comments_set)
{
    if (row->now.comments_set != comments_set) {
        row->now.comments_set = comments_set;
        s_mark(self, row);
    }
}

void cs_store_touch(cs_store_t *self, cs_record_t *row)
{
    row->now.time_us = cs_clock_wall_us();
    self->urgent = true;
    s_mark(self, row);
}

bool cs_record_settled(const cs_record_t *row)
{
    return !row->dirty && row->in_table && row->committed.seq == row->now.seq;
}

void cs_store_remove(cs_store_t *self, cs_record_t *row)
{
    if (!row->gone) {
        row->gone = true;
        row->claimed = false;
        self->urgent = true;
        s_mark(self, row);
    }
}

uint32_t cs_store_counts(const cs_store_t *self, uint32_t counts[CS_STATUS_COUNT])
{
    memset(counts, 0, CS_STATUS_COUNT * sizeof *counts);
    uint32_t total = 0;
    for (const cs_record_t *row = self->rows.first; row; row = row->links[S_ALL].next) {
        if (!row->in_table)
            continue;
        counts[row->committed.status]++;
        total++;
    }
    return total;
}

size_t cs_store_dirty(const cs_store_t *self)
{
    return self->dirty.size;
}

int64_t cs_store_dirty_since(const cs_store_t *self)
{
    return self->dirty_since;
}

bool cs_store_urgent(const cs_store_t *self)
{
    return self->urgent;
}

cs_record_t *cs_store_take_dirty(cs_store_t *self, uint64_t seq, bool *full)
{
    cs_record_t *row = s_queue_take(&self->dirty);
    if (!row)
        return NULL;
    row->dirty = false;
    row->now.seq = seq;
    *full = row->described || !row->in_table;
    row->described = false; /* what is taken is written */
    if (self->dirty.size == 0)
        self->urgent = false;
    return row;
}

void cs_store_requeue(cs_store_t *self, const char *name)
{
    cs_record_t *row = zhashx_lookup(self->by_name, name);
    if (!row)
        return;
    row->described = true; /* what the failed write carried is written again, in full */
    if (row->dirty)
        return; /* changed again meanwhile: its newer values are queued already */
    if (self->dirty.size == 0)
        self->dirty_since = cs_clock_mono_ms();
    row->dirty = true;
    self->urgent = true;
    s_queue_add(&self->dirty, row, true);
}

void cs_store_written(cs_store_t *self, const char *name, const cs_visible_t *written, bool deleted)
{
    cs_record_t *row = zhashx_lookup(self->by_name, name);
    if (!row)
        return;
    s_count(self, row, -1);
    if (!s_same(row->committed.error, written->error)) {
        free(row->committed.error);
        row->committed.error = s_dup(written->error);
    }
    if (!s_same(row->committed.detail, written->detail)) {
        free(row->committed.detail);
        row->committed.detail = s_dup(written->detail);
    }
    char *error = row->committed.error, *detail = row->committed.detail;
    char *plugin = s_intern(self, written->plugin);
    s_release(self, &row->committed.plugin);
    row->committed = *written;
    row->committed.error = error;
    row->committed.detail = detail;
    row->committed.plugin = plugin;
    row->in_table = !deleted;
    row->described |= deleted;
    s_count(self, row, 1);
    if (!row->dirty) /* checked by the write that committed (a newer one is checked again) */
        row->claimed = false;
    if (deleted && row->gone && !row->dirty) {
        if (row->unsettled)
            s_rows_remove(&self->unsettled, row);
        s_row_release(self, row);
        s_rows_remove(&self->rows, row);
        zhashx_delete(self->by_name, name);
    }
}

bool cs_store_refused(cs_store_t *self, const char *name, bool deleted, cs_status_t claimed,
                      const char *error)
{
    cs_record_t *row = zhashx_lookup(self->by_name, name);
    if (!row || row->gone != deleted || (!deleted && row->now.status != claimed))
        return false; /* decided otherwise since: that decision is queued, or under way */
    row->gone = false;
    row->claimed = false;
    row->now.status = CS_STATUS_ERROR;
    s_set_text(&row->now.error, error);
    s_set_text(&row->now.detail, NULL);
    s_note_unsettled(self, row);
    return true;
}

/* ---- counts by status and rows not settled, kept as rows change ------------------------- */

/* Counts a row the table holds in (sign 1) or out of (sign -1) its committed status. */
static void s_count(cs_store_t *self, const cs_record_t *row, int sign)
{
    if (row->in_table && (unsigned)row->committed.status < CS_STATUS_COUNT)
        self->counts[row->committed.status] += (uint32_t)sign;
}

/* Whether a plan must look at the row again whatever else changed: what we decided for it is
 * not final (not ready, nor disabled), its comments are owed, or its deletion is queued. */
static bool s_unsettled(const cs_record_t *row)
{
    if (row->gone)
        return true;
    if (row->now.status == CS_STATUS_DISABLED)
        return false;
    return row->now.status != CS_STATUS_READY || !row->now.comments_set;
}

static void s_note_unsettled(cs_store_t *self, cs_record_t *row)
{
    bool unsettled = s_unsettled(row);
    if (unsettled && !row->unsettled)
        s_rows_add(&self->unsettled, row);
    else if (!unsettled && row->unsettled)
        s_rows_remove(&self->unsettled, row);
    row->unsettled = unsettled;
}

uint32_t cs_store_status_counts(const cs_store_t *self, uint32_t counts[CS_STATUS_COUNT])
{
    uint32_t total = 0;
    for (int i = 0; i < CS_STATUS_COUNT; i++)
        total += counts[i] = self->counts[i];
    return total;
}

size_t cs_store_unsettled(cs_store_t *self, void (*fn)(void *arg, const char *name), void *arg)
{
    for (cs_record_t *row = fn ? s_rows_first(&self->unsettled) : NULL; row;
         row = s_rows_next(&self->unsettled))
        fn(arg, row->now.name);
    return self->unsettled.size;
}
