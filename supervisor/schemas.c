/* The database's schemas as the supervisor last read them, kept across plans: each one's oid
 * and what its connstate marker says, compactly (the plugin names and versions interned), an
 * index by oid (the schema journal names oids: a drop or a rename is found by it), the names
 * whose entry changed since the plan last asked, the names in doubt (a worker's update may have
 * changed them: read again by name), and whether only a full read makes it right. catalog.c
 * fills it; the plan reads it. */
#include "supervisor.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    cs_schema_info_t info;
    uint64_t seen; /* the full read that last set it */
    char name[];   /* its key in entries, temps and (by oid) oids */
} s_entry_t;

struct cs_schemas {
    zhashx_t *entries; /* name -> s_entry_t (the key is the entry's name) */
    zhashx_t *oids;    /* oid -> the s_entry_t of that oid */
    zhashx_t *temps;   /* the entries of temporary schemas (cs$new$..., cs$old$...) */
    zhashx_t *aggs;    /* the entries whose marker says aggregator */
    zhashx_t *strings; /* interned plugin names and versions: text -> the same text, owned */
    zhashx_t *changed; /* names whose entry changed since cs_schemas_take_changed */
    zhashx_t *doubted; /* names to read again by name (cs_schemas_doubt) */
    uint64_t full;     /* full reads begun */
    uint64_t changes;  /* entries changed, ever (for the logs) */
    bool stale;        /* only a full read makes it right */
    bool all;          /* filled from nothing since the changes were last taken */
    const char *why;   /* why a full read is wanted (static text; NULL: stale says it) */
};

static void s_free(void **item)
{
    free(*item);
    *item = NULL;
}

/* oids as zhashx keys: the number itself, never 0 (no schema has oid 0) */
static size_t s_oid_hash(const void *key)
{
    return (size_t)(uintptr_t)key * 2654435761u;
}

static int s_oid_compare(const void *a, const void *b)
{
    return (uintptr_t)a < (uintptr_t)b ? -1 : (uintptr_t)a > (uintptr_t)b;
}

#define S_OID_KEY(oid) ((void *)(uintptr_t)(oid))

/* The keys of hash are borrowed: neither copied nor freed by it. */
static void s_borrow_keys(zhashx_t *hash)
{
    zhashx_set_key_duplicator(hash, NULL);
    zhashx_set_key_destructor(hash, NULL);
}

cs_schemas_t *cs_schemas_new(void)
{
    cs_schemas_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->entries = zhashx_new();
    self->oids = zhashx_new();
    self->temps = zhashx_new();
    self->aggs = zhashx_new();
    self->strings = zhashx_new();
    self->changed = zhashx_new();
    self->doubted = zhashx_new();
    if (!self->entries || !self->oids || !self->temps || !self->aggs || !self->strings ||
        !self->changed || !self->doubted) {
        cs_schemas_destroy(&self);
        return NULL;
    }
    /* entries own their names: the keys of entries, temps, aggs and oids are borrowed */
    s_borrow_keys(self->entries);
    zhashx_set_destructor(self->entries, s_free);
    s_borrow_keys(self->temps);
    s_borrow_keys(self->aggs);
    s_borrow_keys(self->oids);
    zhashx_set_key_hasher(self->oids, s_oid_hash);
    zhashx_set_key_comparator(self->oids, s_oid_compare);
    zhashx_set_destructor(self->strings, s_free);
    self->stale = true;
    return self;
}

void cs_schemas_destroy(cs_schemas_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_schemas_t *self = *self_p;
    zhashx_destroy(&self->oids); /* (before the entries whose names they borrow) */
    zhashx_destroy(&self->temps);
    zhashx_destroy(&self->aggs);
    zhashx_destroy(&self->entries);
    zhashx_destroy(&self->strings);
    zhashx_destroy(&self->changed);
    zhashx_destroy(&self->doubted);
    free(self);
    *self_p = NULL;
}

const cs_schema_info_t *cs_schemas_get(const cs_schemas_t *self, const char *name)
{
    const s_entry_t *entry = zhashx_lookup(self->entries, name);
    return entry ? &entry->info : NULL;
}

size_t cs_schemas_count(const cs_schemas_t *self)
{
    return zhashx_size(self->entries);
}

const cs_schema_info_t *cs_schemas_first(const cs_schemas_t *self, const char **name)
{
    const s_entry_t *entry = zhashx_first(self->entries);
    *name = entry ? zhashx_cursor(self->entries) : NULL;
    return entry ? &entry->info : NULL;
}

const cs_schema_info_t *cs_schemas_next(const cs_schemas_t *self, const char **name)
{
    const s_entry_t *entry = zhashx_next(self->entries);
    *name = entry ? zhashx_cursor(self->entries) : NULL;
    return entry ? &entry->info : NULL;
}

/* The interned copy of text (NULL when out of memory). */
static const char *s_intern(cs_schemas_t *self, const char *text)
{
    const char *kept = zhashx_lookup(self->strings, text);
    if (kept)
        return kept;
    char *copy = strdup(text);
    if (!copy || zhashx_insert(self->strings, text, copy) != 0) {
        free(copy);
        return NULL;
    }
    return copy;
}

void cs_schemas_marker_of(cs_schemas_t *self, const cs_marker_t *in, cs_schema_marker_t *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out->fingerprint, in->fingerprint, sizeof out->fingerprint);
    memcpy(out->schema_hash, in->schema_hash, sizeof out->schema_hash);
    out->aggregator = in->aggregator;
    out->plugin = s_intern(self, in->plugin);
    out->plugin_version = s_intern(self, in->plugin_version);
    if (!out->plugin || !out->plugin_version)
        self->stale = true;
    if (!out->plugin)
        out->plugin = "";
    if (!out->plugin_version)
        out->plugin_version = "";
}

static void s_note(cs_schemas_t *self, const char *name)
{
    self->changes++;
    if (!self->all && zhashx_insert(self->changed, name, (void *)"") == -1 &&
        !zhashx_lookup(self->changed, name))
        self->all = true; /* out of memory: every name is to be looked at */
}

static bool s_same(const cs_schema_info_t *a, const cs_schema_info_t *b)
{
    if (a->managed != b->managed || a->oid != b->oid)
        return false;
    if (!a->managed)
        return true;
    return strcmp(a->marker.fingerprint, b->marker.fingerprint) == 0 &&
           strcmp(a->marker.schema_hash, b->marker.schema_hash) == 0 &&
           a->marker.aggregator == b->marker.aggregator &&
           a->marker.plugin == b->marker.plugin && /* interned */
           a->marker.plugin_version == b->marker.plugin_version;
}

/* Removes an entry from every index, noting its name, and frees it. */
static void s_remove(cs_schemas_t *self, s_entry_t *entry)
{
    s_note(self, entry->name);
    if (zhashx_lookup(self->oids, S_OID_KEY(entry->info.oid)) == entry)
        zhashx_delete(self->oids, S_OID_KEY(entry->info.oid));
    zhashx_delete(self->temps, entry->name);
    zhashx_delete(self->aggs, entry->name);
    zhashx_delete(self->entries, entry->name); /* frees it, and the name its key was */
}

/* The entry's oid becomes oid: the index follows (the last entry set with an oid is the one
 * it finds). */
static void s_index_oid(cs_schemas_t *self, s_entry_t *entry, uint32_t oid)
{
    if (entry->info.oid && zhashx_lookup(self->oids, S_OID_KEY(entry->info.oid)) == entry)
        zhashx_delete(self->oids, S_OID_KEY(entry->info.oid));
    if (oid) /* (czmq's containers abort when out of memory) */
        zhashx_update(self->oids, S_OID_KEY(oid), entry);
}

/* Whether the entry is in the index of aggregators follows its marker. */
static void s_index_aggregator(cs_schemas_t *self, s_entry_t *entry)
{
    bool aggregator = entry->info.managed && entry->info.marker.aggregator;
    if (!aggregator)
        zhashx_delete(self->aggs, entry->name);
    else if (!zhashx_lookup(self->aggs, entry->name) &&
             zhashx_insert(self->aggs, entry->name, entry) != 0)
        self->stale = true;
}

void cs_schemas_set(cs_schemas_t *self, const char *name, uint32_t oid, const char *comment)
{
    cs_schema_info_t info = {.oid = oid};
    cs_marker_t marker;
    info.managed = cs_marker_parse(comment, &marker) == 0;
    if (info.managed)
        cs_schemas_marker_of(self, &marker, &info.marker);
    s_entry_t *entry = zhashx_lookup(self->entries, name);
    if (entry) {
        entry->seen = self->full;
        if (s_same(&entry->info, &info))
            return;
        if (entry->info.oid != oid)
            s_index_oid(self, entry, oid);
        entry->info = info;
        s_index_aggregator(self, entry);
        s_note(self, name);
        return;
    }
    size_t len = strlen(name);
    if (!(entry = calloc(1, sizeof *entry + len + 1))) {
        self->stale = true;
        return;
    }
    memcpy(entry->name, name, len + 1);
    if (zhashx_insert(self->entries, entry->name, entry) != 0) {
        free(entry);
        self->stale = true;
        return;
    }
    entry->seen = self->full;
    s_index_oid(self, entry, oid);
    entry->info = info;
    if (cs_marker_is_temp_name(name) && zhashx_insert(self->temps, entry->name, entry) != 0)
        self->stale = true;
    s_index_aggregator(self, entry);
    s_note(self, name);
}

void cs_schemas_set_oid(cs_schemas_t *self, uint32_t oid, const char *name, const char *comment)
{
    s_entry_t *was = oid ? zhashx_lookup(self->oids, S_OID_KEY(oid)) : NULL;
    if (was && strcmp(was->name, name) != 0)
        s_remove(self, was); /* renamed: a schema has one name */
    cs_schemas_set(self, name, oid, comment);
}

void cs_schemas_drop(cs_schemas_t *self, const char *name)
{
    s_entry_t *entry = zhashx_lookup(self->entries, name);
    if (entry)
        s_remove(self, entry);
}

void cs_schemas_drop_oid(cs_schemas_t *self, uint32_t oid)
{
    s_entry_t *entry = oid ? zhashx_lookup(self->oids, S_OID_KEY(oid)) : NULL;
    if (entry)
        s_remove(self, entry);
}

void cs_schemas_doubt(cs_schemas_t *self, const char *name)
{
    if (zhashx_size(self->doubted) >= CS_SCHEMAS_DOUBT_MAX) {
        cs_schemas_ask_full(self, "too many names in doubt");
        return;
    }
    if (zhashx_insert(self->doubted, name, (void *)"") == -1 && !zhashx_lookup(self->doubted, name))
        cs_schemas_ask_full(self, "out of memory");
}

void cs_schemas_doubt_update(cs_schemas_t *self, const char *name, bool aggregate)
{
    cs_schemas_doubt(self, name);
    char temp[CS_MARKER_TEMP_NAME_SIZE];
    if (!cs_marker_is_temp_name(name)) {
        if (cs_marker_temp_name(name, CS_MARKER_TEMP_NEW, temp, sizeof temp) == 0)
            cs_schemas_doubt(self, temp);
        if (cs_marker_temp_name(name, CS_MARKER_TEMP_OLD, temp, sizeof temp) == 0)
            cs_schemas_doubt(self, temp);
    }
    /* An aggregate drops the previous schemas of members that its views no longer read: each
     * a temporary schema that a member's update renamed away (and that update's end put in
     * the cache). Any other update marks the aggregators whose views read its schema stale
     * (their marker). There are few of either: every one known is read again. */
    zhashx_t *touched = aggregate ? self->temps : self->aggs;
    for (s_entry_t *entry = zhashx_first(touched); entry; entry = zhashx_next(touched))
        cs_schemas_doubt(self, entry->name);
}

size_t cs_schemas_doubt_count(const cs_schemas_t *self)
{
    return zhashx_size(self->doubted);
}

const char *cs_schemas_doubt_first(const cs_schemas_t *self)
{
    return zhashx_first(self->doubted) ? zhashx_cursor(self->doubted) : NULL;
}

const char *cs_schemas_doubt_next(const cs_schemas_t *self)
{
    return zhashx_next(self->doubted) ? zhashx_cursor(self->doubted) : NULL;
}

void cs_schemas_doubts_read(cs_schemas_t *self)
{
    zhashx_purge(self->doubted);
}

void cs_schemas_ask_full(cs_schemas_t *self, const char *why)
{
    if (!self->why)
        self->why = why;
}

const char *cs_schemas_full_wanted(const cs_schemas_t *self)
{
    if (self->why)
        return self->why;
    return self->stale ? (self->full ? "the cache is not known to be right" : "the first read")
                       : NULL;
}

uint64_t cs_schemas_changes(const cs_schemas_t *self)
{
    return self->changes;
}

void cs_schemas_full_begin(cs_schemas_t *self)
{
    self->full++;
    if (zhashx_size(self->entries) == 0) { /* filled from nothing: every name is new */
        self->all = true;
        zhashx_purge(self->changed);
    }
    self->stale = false;
    self->why = NULL;
    zhashx_purge(self->doubted); /* every name is read */
}

void cs_schemas_full_end(cs_schemas_t *self)
{
    zlistx_t *gone = zlistx_new();
    if (!gone) {
        self->stale = true;
        return;
    }
    for (s_entry_t *entry = zhashx_first(self->entries); entry; entry = zhashx_next(self->entries))
        if (entry->seen != self->full)
            zlistx_add_end(gone, entry);
    for (s_entry_t *entry = zlistx_first(gone); entry; entry = zlistx_next(gone))
        s_remove(self, entry);
    zlistx_destroy(&gone);
}

bool cs_schemas_stale(const cs_schemas_t *self)
{
    return self->stale;
}

void cs_schemas_invalidate(cs_schemas_t *self)
{
    self->stale = true;
}

bool cs_schemas_take_changed(cs_schemas_t *self, void (*fn)(void *arg, const char *name), void *arg)
{
    bool all = self->all;
    if (!all && fn)
        for (void *item = zhashx_first(self->changed); item; item = zhashx_next(self->changed))
            fn(arg, zhashx_cursor(self->changed));
    zhashx_purge(self->changed);
    self->all = false;
    return all;
}
