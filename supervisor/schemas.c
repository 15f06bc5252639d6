/* The database's schemas as the supervisor last read them, kept across plans: each one's oid
 * and what its connstate marker says, compactly (the plugin names and versions interned), and
 * the names whose entry changed since the plan last asked. catalog.c fills it; the plan reads
 * it. */
#include "supervisor.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    cs_schema_info_t info;
    uint64_t seen; /* the full read that last set it */
} s_entry_t;

struct cs_schemas {
    zhashx_t *entries; /* name -> s_entry_t */
    zhashx_t *strings; /* interned plugin names and versions: text -> the same text, owned */
    zhashx_t *changed; /* names whose entry changed since cs_schemas_take_changed */
    uint64_t full;     /* full reads begun */
    bool stale;        /* only a full read makes it right */
    bool all;          /* filled from nothing since the changes were last taken */
};

static void s_free(void **item)
{
    free(*item);
    *item = NULL;
}

cs_schemas_t *cs_schemas_new(void)
{
    cs_schemas_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->entries = zhashx_new();
    self->strings = zhashx_new();
    self->changed = zhashx_new();
    if (!self->entries || !self->strings || !self->changed) {
        cs_schemas_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->entries, s_free);
    zhashx_set_destructor(self->strings, s_free);
    self->stale = true;
    return self;
}

void cs_schemas_destroy(cs_schemas_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cs_schemas_t *self = *self_p;
    zhashx_destroy(&self->entries);
    zhashx_destroy(&self->strings);
    zhashx_destroy(&self->changed);
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
        entry->info = info;
        s_note(self, name);
        return;
    }
    if (!(entry = calloc(1, sizeof *entry)) || zhashx_insert(self->entries, name, entry) != 0) {
        free(entry);
        self->stale = true;
        return;
    }
    entry->info = info;
    entry->seen = self->full;
    s_note(self, name);
}

void cs_schemas_drop(cs_schemas_t *self, const char *name)
{
    if (!zhashx_lookup(self->entries, name))
        return;
    s_note(self, name);
    zhashx_delete(self->entries, name);
}

void cs_schemas_full_begin(cs_schemas_t *self)
{
    self->full++;
    if (zhashx_size(self->entries) == 0) { /* filled from nothing: every name is new */
        self->all = true;
        zhashx_purge(self->changed);
    }
    self->stale = false;
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
            zlistx_add_end(gone, (void *)zhashx_cursor(self->entries));
    for (const char *name = zlistx_first(gone); name; name = zlistx_next(gone)) {
        s_note(self, name);
        zhashx_delete(self->entries, name); /* name was its key: not used after */
    }
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
