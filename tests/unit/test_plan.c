/* Unit tests of the plan (supervisor/plan.c): every decision and its reason, from configs,
 * rows and schemas built by hand; no database, no process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../supervisor/supervisor.h"
#include "cs_digest.h"

/* The world a plan sees: one of each input, built by the test. */
typedef struct {
    cs_config_t *config;
    cs_store_t *store;
    cs_schemas_t *schemas;
    const char *in_flight;   /* a connection with an update in flight, or NULL */
    int64_t settled_at;      /* what every file's hold is */
    int64_t gone_since;      /* since when every gone file is gone (0: not seen) */
    const char *plugin_mode; /* of the synthetic plugin */
    bool oracle_refetch;     /* the oracle has a refetch rule (else: every plan fetches) */
    const char *refetch;     /* a connection whose dynamic schema is to be fetched again */
    const char *refetching;  /* a connection with a refetch queued or in flight */
    const char *failed;      /* a connection whose update failed in this refresh, or NULL */
    const char *failed_as;   /* ... the fingerprint it failed with */
    cs_plan_t *plan;
} s_world_t;

static cs_plugin_info_t s_info;

static cs_plugin_state_t s_plugin(void *arg, const char *name, const cs_plugin_info_t **info,
                                  const char **why)
{
    s_world_t *w = arg;
    if (strcmp(name, "synthetic") != 0) {
        *why = "plugin \"missing\" not found in /plugins";
        return CS_PLUGIN_FAILED;
    }
    snprintf(s_info.version, sizeof s_info.version, "1.0.0");
    snprintf(s_info.mode, sizeof s_info.mode, "%s", w->plugin_mode ? w->plugin_mode : "static");
    *info = &s_info;
    return CS_PLUGIN_KNOWN;
}

static bool s_in_flight(void *arg, const char *name)
{
    s_world_t *w = arg;
    return w->in_flight && strcmp(w->in_flight, name) == 0;
}

static const char *s_refetch(void *arg, const char *name)
{
    s_world_t *w = arg;
    return w->refetch && strcmp(w->refetch, name) == 0 ? "a watched file changed" : NULL;
}

static bool s_refetching(void *arg, const char *name)
{
    s_world_t *w = arg;
    return w->refetching && strcmp(w->refetching, name) == 0;
}

static int64_t s_settled_at(void *arg, const char *file)
{
    (void)file;
    return ((s_world_t *)arg)->settled_at;
}

static int64_t s_gone_since(void *arg, const char *file)
{
    (void)file;
    return ((s_world_t *)arg)->gone_since;
}

static const char *s_failed(void *arg, const char *name)
{
    s_world_t *w = arg;
    return w->failed && strcmp(w->failed, name) == 0 ? w->failed_as : NULL;
}

static s_world_t *s_world(const char *spc)
{
    s_world_t *w = calloc(1, sizeof *w);
    w->config = cs_config_load_text("/cfg/a.spc", spc, strlen(spc));
    w->store = cs_store_new();
    w->schemas = cs_schemas_new();
    assert_non_null(w->config);
    return w;
}

static void s_world_free(s_world_t **w_p)
{
    s_world_t *w = *w_p;
    cs_plan_destroy(&w->plan);
    cs_config_destroy(&w->config);
    cs_store_destroy(&w->store);
    cs_schemas_destroy(&w->schemas);
    free(w);
    *w_p = NULL;
}

/* A managed schema built from the connection's current config (or another fingerprint),
 * or an unmanaged one (fingerprint NULL). */
static void s_schema(s_world_t *w, const char *name, const char *fingerprint, const char *version)
{
    char comment[512] = "a schema of the user's";
    if (fingerprint) {
        cs_marker_t marker = {0};
        snprintf(marker.fingerprint, sizeof marker.fingerprint, "%s", fingerprint);
        snprintf(marker.plugin, sizeof marker.plugin, "synthetic");
        snprintf(marker.plugin_version, sizeof marker.plugin_version, "%s", version);
        snprintf(marker.schema_hash, sizeof marker.schema_hash, "0123456789abcdef");
        assert_int_equal(cs_marker_format(&marker, comment, sizeof comment), 0);
    }
    cs_schemas_set(w->schemas, name, 1, comment);
}

/* The schema hash of a schema added with s_schema; aggregator: its marker says kind=aggregator. */
static void s_schema_hash(s_world_t *w, const char *name, const char *hash, bool aggregator)
{
    const cs_schema_info_t *info = cs_schemas_get(w->schemas, name);
    assert_non_null(info);
    cs_marker_t marker = {0};
    snprintf(marker.fingerprint, sizeof marker.fingerprint, "%s", info->marker.fingerprint);
    snprintf(marker.plugin, sizeof marker.plugin, "%s", info->marker.plugin);
    snprintf(marker.plugin_version, sizeof marker.plugin_version, "%s",
             info->marker.plugin_version);
    snprintf(marker.schema_hash, sizeof marker.schema_hash, "%s", hash);
    marker.aggregator = aggregator;
    char comment[512];
    assert_int_equal(cs_marker_format(&marker, comment, sizeof comment), 0);
    cs_schemas_set(w->schemas, name, 1, comment);
}

static const char *s_fingerprint(s_world_t *w, const char *name)
{
    const cs_connection_t *c = cs_config_find(w->config, name);
    assert_non_null(c);
    return c->fingerprint;
}

/* A row of the state table (file: its file_name, NULL for none). */
static void s_row(s_world_t *w, const char *name, const char *file, bool comments_set)
{
    cs_row_values_t v = {0};
    v.name = (char *)name;
    v.status = CS_STATUS_READY;
    v.file_name = (char *)file;
    v.comments_set = comments_set;
    assert_int_equal(cs_store_load(w->store, &v), 0);
}

static bool s_same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Fails the test unless two decisions of one name are the same in every field. */
static void s_expect_same(const cs_decision_t *full, const cs_decision_t *part)
{
    const char *name = full->name;
    if (full->action != part->action || !s_same_text(full->reason, part->reason))
        fail_msg("%s: the full plan decides %s (%s), the plan of fewer names %s (%s)", name,
                 cs_action_name(full->action), full->reason, cs_action_name(part->action),
                 part->reason);
    if (!s_same_text(full->error, part->error) || full->config != part->config ||
        full->marker != part->marker || !s_same_text(full->file, part->file) ||
        full->fresh != part->fresh || full->comments != part->comments ||
        full->refetch != part->refetch || full->refetching != part->refetching ||
        full->not_before != part->not_before ||
        !s_same_text(full->fingerprint, part->fingerprint) ||
        !s_same_text(full->members, part->members) ||
        !s_same_text(full->left_out, part->left_out) ||
        full->awaiting_count != part->awaiting_count)
        fail_msg("%s: the plan of fewer names decides %s differently", name,
                 cs_action_name(full->action));
    for (size_t i = 0; i < full->awaiting_count; i++)
        assert_string_equal(full->awaiting[i], part->awaiting[i]);
}

static const cs_decision_t *s_find_decision(const cs_plan_t *plan, const char *name)
{
    for (size_t i = 0; i < cs_plan_count(plan); i++)
        if (strcmp(cs_plan_decision(plan, i)->name, name) == 0)
            return cs_plan_decision(plan, i);
    return NULL;
}

/* Plans the names of one set (closed under aggregators): it decides exactly the names of the
 * set that the full plan decides, and each as the full plan does. */
static void s_expect_part(s_world_t *w, cs_plan_input_t *in, zhashx_t *names)
{
    const cs_connection_t *aggs[64];
    size_t n = 0;
    for (size_t i = 0; i < w->config->count && n < 64; i++)
        if (w->config->connections[i].aggregator)
            aggs[n++] = &w->config->connections[i];
    cs_plan_close_names(w->config, w->store, aggs, n, names);
    in->names = names;
    cs_plan_t *part = cs_plan_make(in);
    in->names = NULL;
    assert_non_null(part);
    for (size_t i = 0; i < cs_plan_count(part); i++) {
        const cs_decision_t *d = cs_plan_decision(part, i);
        if (!zhashx_lookup(names, d->name))
            fail_msg("%s: decided by a plan not given it", d->name);
        const cs_decision_t *full = s_find_decision(w->plan, d->name);
        if (!full)
            fail_msg("%s: decided by a plan of fewer names, not by the full one", d->name);
        s_expect_same(full, d);
    }
    for (void *it = zhashx_first(names); it; it = zhashx_next(names)) {
        const char *name = zhashx_cursor(names);
        if (s_find_decision(w->plan, name) && !s_find_decision(part, name))
            fail_msg("%s: decided by the full plan, not by a plan given it", name);
    }
    cs_plan_destroy(&part);
}

/* Every name the plan may decide (configured, declared by a failed file, a row, a schema, and
 * one that is none of these), each planned alone and all of them together, must be decided as
 * the full plan decided it. */
static void s_expect_incremental(s_world_t *w, cs_plan_input_t *in)
{
    zhashx_t *all = zhashx_new();
    for (size_t i = 0; i < w->config->count; i++)
        zhashx_update(all, w->config->connections[i].name, (void *)"");
    for (size_t i = 0; i < w->config->failed_count; i++)
        for (size_t j = 0; j < w->config->failed[i].name_count; j++)
            zhashx_update(all, w->config->failed[i].names[j], (void *)"");
    for (cs_record_t *row = cs_store_first(w->store); row; row = cs_store_next(w->store))
        zhashx_update(all, cs_record_name(row), (void *)"");
    const char *name;
    for (const cs_schema_info_t *schema = cs_schemas_first(w->schemas, &name); schema;
         schema = cs_schemas_next(w->schemas, &name))
        zhashx_update(all, name, (void *)"");
    zhashx_update(all, "nothing_of_that_name", (void *)"");
    zlistx_t *each = zhashx_keys(all);
    for (const char *one = zlistx_first(each); one; one = zlistx_next(each)) {
        zhashx_t *names = zhashx_new();
        zhashx_update(names, one, (void *)"");
        s_expect_part(w, in, names);
        zhashx_destroy(&names);
    }
    zlistx_destroy(&each);
    s_expect_part(w, in, all);
    zhashx_destroy(&all);
}

static void s_make(s_world_t *w)
{
    cs_plan_input_t in = {w->config,
                          "/cfg",
                          w->store,
                          w->schemas,
                          {s_plugin, s_in_flight, s_settled_at, s_gone_since, s_failed, w,
                           w->oracle_refetch ? s_refetch : NULL,
                           w->oracle_refetch ? s_refetching : NULL},
                          100000,
                          NULL};
    cs_plan_destroy(&w->plan);
    w->plan = cs_plan_make(&in);
    assert_non_null(w->plan);
    /* every plan of the tests below is also made for fewer names: the same decisions */
    s_expect_incremental(w, &in);
}

/* The decision of a connection (fails the test when it has none). */
static const cs_decision_t *s_decision(s_world_t *w, const char *name)
{
    for (size_t i = 0; i < cs_plan_count(w->plan); i++)
        if (strcmp(cs_plan_decision(w->plan, i)->name, name) == 0)
            return cs_plan_decision(w->plan, i);
    fail_msg("no decision for %s", name);
    return NULL;
}

static void s_expect(s_world_t *w, const char *name, cs_action_t action, const char *reason)
{
    const cs_decision_t *d = s_decision(w, name);
    if (d->action != action || strcmp(d->reason, reason) != 0)
        fail_msg("%s: expected %s (%s), got %s (%s)", name, cs_action_name(action), reason,
                 cs_action_name(d->action), d->reason);
}

#define SYN(name) "connection \"" name "\" {\n  plugin = \"synthetic\"\n}\n"

static void test_builds_and_their_reasons(void **state)
{
    (void)state;
    s_world_t *w = s_world(SYN("fresh") SYN("lost") SYN("changed") SYN("upgraded") SYN("current"));
    s_row(w, "lost", "/cfg/a.spc", true); /* a row, but its schema is gone */
    s_schema(w, "changed", "ffffffffffffffff", "1.0.0");
    s_schema(w, "upgraded", s_fingerprint(w, "upgraded"), "0.9.0");
    s_schema(w, "current", s_fingerprint(w, "current"), "1.0.0");
    s_make(w);
    s_expect(w, "fresh", CS_ACTION_BUILD, "new");
    assert_true(s_decision(w, "fresh")->fresh);
    s_expect(w, "lost", CS_ACTION_BUILD, "schema missing");
    s_expect(w, "changed", CS_ACTION_BUILD, "config changed");
    assert_false(s_decision(w, "changed")->fresh); /* its schema exists: checked first */
    s_expect(w, "upgraded", CS_ACTION_BUILD, "plugin version changed");
    s_expect(w, "current", CS_ACTION_READY, "unchanged");
    assert_non_null(s_decision(w, "current")->config);
    assert_string_equal(s_decision(w, "current")->marker->plugin_version, "1.0.0");
    assert_int_equal(cs_plan_count(w->plan), 5);
    s_world_free(&w);
}

static void test_ready_owes_its_comments_until_set(void **state)
{
    (void)state;
    s_world_t *w = s_world(SYN("owed") SYN("written"));
    s_row(w, "owed", "/cfg/a.spc", false);
    s_row(w, "written", "/cfg/a.spc", true);
    s_schema(w, "owed", s_fingerprint(w, "owed"), "1.0.0");
    s_schema(w, "written", s_fingerprint(w, "written"), "1.0.0");
    s_make(w);
    assert_true(s_decision(w, "owed")->comments);
    assert_false(s_decision(w, "written")->comments);
    s_world_free(&w);
}

static void test_dynamic_schemas_are_fetched_again(void **state)
{
    (void)state;
    s_world_t *w = s_world(SYN("dyn"));
    w->plugin_mode = "dynamic";
    s_schema(w, "dyn", s_fingerprint(w, "dyn"), "1.0.0");
    s_make(w); /* an oracle without a refetch rule: every plan fetches it again */
    s_expect(w, "dyn", CS_ACTION_BUILD, "dynamic schema: fetched again");
    assert_true(s_decision(w, "dyn")->refetch);
    s_world_free(&w);
}

static void test_dynamic_schemas_are_fetched_again_only_when_the_oracle_says_why(void **state)
{
    (void)state;
    s_world_t *w = s_world(SYN("dyn") SYN("asked") SYN("changed") SYN("fresh"));
    w->plugin_mode = "dynamic";
    w->oracle_refetch = true;
    w->refetch = "asked";
    s_row(w, "dyn", "/cfg/a.spc", true);
    s_row(w, "asked", "/cfg/a.spc", true);
    s_schema(w, "dyn", s_fingerprint(w, "dyn"), "1.0.0");
    s_schema(w, "asked", s_fingerprint(w, "asked"), "1.0.0");
    s_schema(w, "changed", "ffffffffffffffff", "1.0.0");
    s_make(w);
    s_expect(w, "dyn", CS_ACTION_READY, "unchanged"); /* nothing asked: no plugin run */
    assert_false(s_decision(w, "dyn")->refetching);
    s_expect(w, "asked", CS_ACTION_BUILD, "a watched file changed");
    const cs_decision_t *d = s_decision(w, "asked");
    assert_true(d->refetch);
    assert_false(d->fresh);
    assert_non_null(d->marker); /* its row stays ready with the schema it has */
    assert_string_equal(d->marker->schema_hash, "0123456789abcdef");
    /* a config change or a new connection is a build, refetch or not */
    s_expect(w, "changed", CS_ACTION_BUILD, "config changed");
    assert_false(s_decision(w, "changed")->refetch);
    s_expect(w, "fresh", CS_ACTION_BUILD, "new");
    assert_false(s_decision(w, "fresh")->refetch);
    s_world_free(&w);
}

static void test_a_refetch_under_way_is_left_to_finish(void **state)
{
    (void)state;
    s_world_t *w = s_world(SYN("dyn"));
    w->plugin_mode = "dynamic";
    w->oracle_refetch = true;
    s_schema(w, "dyn", s_fingerprint(w, "dyn"), "1.0.0");
    w->in_flight = w->refetching = "dyn";
    s_make(w); /* a plan of a running refresh: neither flips it to updating nor cancels it */
    s_expect(w, "dyn", CS_ACTION_READY, "its schema is being fetched again");
    assert_true(s_decision(w, "dyn")->refetching);
    w->refetch = "dyn"; /* its files changed again meanwhile: another one after it */
    s_make(w);
    s_expect(w, "dyn", CS_ACTION_BUILD, "a watched file changed");
    assert_true(s_decision(w, "dyn")->refetch);
    /* its config changed meanwhile: the refetch in flight does not make it current */
    s_world_free(&w);
    w = s_world(SYN("dyn"));
    w->plugin_mode = "dynamic";
    w->oracle_refetch = true;
    s_schema(w, "dyn", "ffffffffffffffff", "1.0.0");
    w->in_flight = w->refetching = "dyn";
    s_make(w);
    s_expect(w, "dyn", CS_ACTION_BUILD, "an update of it is in flight: checked again after it");
    assert_false(s_decision(w, "dyn")->refetch);
    s_world_free(&w);
}

static void test_static_schemas_ignore_the_refetch_rule(void **state)
{
    (void)state;
    s_world_t *w = s_world(SYN("stat"));
    w->oracle_refetch = true;
    w->refetch = "stat"; /* a refresh named it: a static schema is current as it is */
    s_schema(w, "stat", s_fingerprint(w, "stat"), "1.0.0");
    s_make(w);
    s_expect(w, "stat", CS_ACTION_READY, "unchanged");
    s_world_free(&w);
}

static void test_an_update_in_flight_is_checked_after_it(void **state)
{
    (void)state;
    s_world_t *w = s_world(SYN("busy"));
    s_schema(w, "busy", s_fingerprint(w, "busy"), "1.0.0"); /* would be ready */
    w->in_flight = "busy";
    s_make(w);
    s_expect(w, "busy", CS_ACTION_BUILD, "an update of it is in flight: checked again after it");
    assert_false(s_decision(w, "busy")->fresh);
    s_world_free(&w);
}

static void test_held_while_its_file_is_rewritten(void **state)
{
    (void)state;
    s_world_t *w = s_world(SYN("churned"));
    w->settled_at = 123456;
    s_make(w);
    assert_int_equal(s_decision(w, "churned")->not_before, 123456);
    s_world_free(&w);
}

static void test_errors_and_disabled(void **state)
{
    (void)state;
    s_world_t *w = s_world(SYN("theirs") "connection \"agg\" {\n  plugin = \"synthetic\"\n"
                                         "  type = \"aggregator\"\n  connections = [\"a_*\"]\n}\n"
                                         "connection \"nope\" {\n  plugin = \"missing\"\n}\n"
                                         "connection \"off\" {\n  plugin = \"synthetic\"\n"
                                         "  import_schema = \"disabled\"\n}\n"
                                         "connection \"off_built\" {\n  plugin = \"synthetic\"\n"
                                         "  import_schema = \"disabled\"\n}\n");
    s_schema(w, "theirs", NULL, NULL); /* a user's own schema of that name */
    s_schema(w, "off_built", "0123456789abcdef", "1.0.0");
    s_make(w);
    s_expect(w, "theirs", CS_ACTION_ERROR, "schema not managed");
    assert_non_null(strstr(s_decision(w, "theirs")->error, "is not managed by connstate"));
    s_expect(w, "agg", CS_ACTION_ERROR, "no member");
    assert_string_equal(s_decision(w, "agg")->error, "matches no connection of plugin synthetic");
    s_expect(w, "nope", CS_ACTION_ERROR, "plugin");
    assert_string_equal(s_decision(w, "nope")->error, "plugin \"missing\" not found in /plugins");
    s_expect(w, "off", CS_ACTION_DISABLED, "import disabled");
    s_expect(w, "off_built", CS_ACTION_DELETE, "import disabled");
    s_world_free(&w);
}

/* A version constraint that the installed plugin (synthetic 1.0.0 here) does not satisfy puts
 * the connection in error naming both versions; @latest and satisfied ranges build. */
static void test_version_constraints(void **state)
{
    (void)state;
    s_world_t *w =
        s_world("plugin \"syn_old\" {\n  source = \"turbot/synthetic@~0.9\"\n}\n"
                "connection \"too_new\" {\n  plugin = \"synthetic@^0.5\"\n}\n"
                "connection \"exact_other\" {\n  plugin = \"turbot/synthetic@1.0.1\"\n}\n"
                "connection \"by_instance\" {\n  plugin = plugin.syn_old\n}\n"
                "connection \"caret\" {\n  plugin = \"synthetic@^1\"\n}\n"
                "connection \"exact\" {\n  plugin = \"synthetic@1.0.0\"\n}\n"
                "connection \"latest\" {\n  plugin = "
                "\"hub.steampipe.io/plugins/turbot/synthetic@latest\"\n}\n"
                "connection \"range\" {\n  plugin = \"synthetic@>=0.5, <2\"\n}\n");
    assert_int_equal(w->config->error_count, 0);
    s_make(w);
    s_expect(w, "too_new", CS_ACTION_ERROR, "plugin version");
    assert_string_equal(s_decision(w, "too_new")->error,
                        "plugin synthetic 1.0.0 does not satisfy @^0.5 (synthetic@^0.5)");
    s_expect(w, "exact_other", CS_ACTION_ERROR, "plugin version");
    assert_string_equal(s_decision(w, "exact_other")->error,
                        "plugin synthetic 1.0.0 does not satisfy @1.0.1 (turbot/synthetic@1.0.1)");
    s_expect(w, "by_instance", CS_ACTION_ERROR, "plugin version");
    assert_string_equal(s_decision(w, "by_instance")->error,
                        "plugin synthetic 1.0.0 does not satisfy @~0.9 (plugin.syn_old, source "
                        "\"turbot/synthetic@~0.9\")");
    s_expect(w, "caret", CS_ACTION_BUILD, "new");
    s_expect(w, "exact", CS_ACTION_BUILD, "new");
    s_expect(w, "latest", CS_ACTION_BUILD, "new");
    s_expect(w, "range", CS_ACTION_BUILD, "new");
    s_world_free(&w);
}

static void test_left_the_config(void **state)
{
    (void)state;
    s_world_t *w = s_world(SYN("kept"));
    s_row(w, "built", NULL, true);
    s_schema(w, "built", "0123456789abcdef", "1.0.0");
    s_row(w, "rowonly", NULL, true);
    s_schema(w, "orphan", "0123456789abcdef", "1.0.0"); /* no row, no config */
    s_schema(w, "cs$old$0123456789abcdef", "0123456789abcdef", "1.0.0");
    s_schema(w, "users", NULL, NULL); /* unmanaged: never touched */
    s_make(w);
    s_expect(w, "built", CS_ACTION_DELETE, "left the config");
    s_expect(w, "rowonly", CS_ACTION_FORGET, "left the config");
    s_expect(w, "orphan", CS_ACTION_DELETE, "managed schema without a connection");
    s_expect(w, "cs$old$0123456789abcdef", CS_ACTION_DROP_TEMP, "left by an interrupted update");
    for (size_t i = 0; i < cs_plan_count(w->plan); i++)
        assert_string_not_equal(cs_plan_decision(w->plan, i)->name, "users");
    s_world_free(&w);
}

static void test_a_gone_file_has_a_grace(void **state)
{
    (void)state;
    s_world_t *w = s_world(SYN("x"));
    s_row(w, "moved", "/cfg/b.spc", true); /* b.spc is not in the directory now */
    s_schema(w, "moved", "0123456789abcdef", "1.0.0");
    s_make(w); /* first seen gone */
    s_expect(w, "moved", CS_ACTION_WAIT, "its file is gone for less than a second");
    assert_string_equal(s_decision(w, "moved")->file, "/cfg/b.spc");
    assert_int_equal(cs_plan_replan_at(w->plan), 100000 + CS_PLAN_GONE_MS);
    w->gone_since = 100000 - CS_PLAN_GONE_MS; /* gone for the whole grace */
    s_make(w);
    s_expect(w, "moved", CS_ACTION_DELETE, "left the config");
    assert_int_equal(cs_plan_replan_at(w->plan), 0);
    s_world_free(&w);
}

static void test_a_failed_file_keeps_its_connections(void **state)
{
    (void)state;
    /* the file as it is now: cut in the middle of its second block */
    s_world_t *w = s_world(SYN("first") "connection \"second\" {\n  plugin = \"synth");
    s_row(w, "first", "/cfg/a.spc", true);
    s_row(w, "second", "/cfg/a.spc", true);
    s_row(w, "third", "/cfg/a.spc", true); /* the parser never reached it */
    s_row(w, "elsewhere", "/cfg/z.spc", true);
    s_schema(w, "third", "0123456789abcdef", "1.0.0");
    w->gone_since = 1; /* z.spc: gone long ago */
    s_make(w);
    s_expect(w, "first", CS_ACTION_ERROR, "its file failed to load");
    s_expect(w, "second", CS_ACTION_ERROR, "its file failed to load");
    s_expect(w, "third", CS_ACTION_ERROR, "its file failed to load");
    assert_non_null(strstr(s_decision(w, "third")->error, "/cfg/a.spc:"));
    s_expect(w, "elsewhere", CS_ACTION_FORGET, "left the config");
    s_world_free(&w);
}

/* ---- aggregators ---- */

#define AGG(name, plugin, entries)                                                                 \
    "connection \"" name "\" {\n  type = \"aggregator\"\n  plugin = " plugin                       \
    "\n  connections = " entries "\n}\n"

/* A member whose schema is current, with its own schema hash. */
static void s_ready_member(s_world_t *w, const char *name, const char *hash)
{
    s_schema(w, name, s_fingerprint(w, name), "1.0.0");
    s_schema_hash(w, name, hash, false);
}

/* The fingerprint the design gives an aggregator: over its config's fingerprint, the plugin's
 * version and its included member lines. */
static void s_agg_fingerprint(s_world_t *w, const char *name, const char *lines, char *out)
{
    char text[4096];
    int n = snprintf(text, sizeof text, "%s\n1.0.0\n%s", s_fingerprint(w, name), lines);
    assert_int_equal(cs_digest_hex16(text, (size_t)n, out), 0);
}

/* Members: the configured connections of its plugin (not of another plugin, not aggregators)
 * whose names match an entry, exact names too; included in name order whatever the order of
 * the blocks; the fingerprint is the design's. */
static void test_aggregator_members_by_name_and_plugin(void **state)
{
    (void)state;
    const char *spc =
        AGG("all", "\"synthetic\"", "[\"m_*\", \"legacy\", \"agg_*\"]") SYN("m_b") SYN("legacy")
            SYN("m_a") SYN("other") "connection \"m_x\" {\n  plugin = \"missing\"\n}\n" AGG(
                "agg_2", "\"synthetic\"", "[\"m_a\"]");
    s_world_t *w = s_world(spc);
    s_ready_member(w, "m_a", "aaaaaaaaaaaaaaaa");
    s_ready_member(w, "m_b", "bbbbbbbbbbbbbbbb");
    s_ready_member(w, "legacy", "cccccccccccccccc");
    s_ready_member(w, "other", "dddddddddddddddd");
    s_make(w);
    s_expect(w, "all", CS_ACTION_AGGREGATE, "new");
    const cs_decision_t *d = s_decision(w, "all");
    const char *lines = "legacy=cccccccccccccccc\nm_a=aaaaaaaaaaaaaaaa\nm_b=bbbbbbbbbbbbbbbb\n";
    for (size_t i = 0; i < cs_plan_count(w->plan); i++) /* (no leftover to drop meanwhile) */
        assert_int_not_equal(cs_plan_decision(w->plan, i)->action, CS_ACTION_DROP_TEMP);
    assert_string_equal(d->members, lines); /* not other, m_x (missing), agg_2 (aggregator) */
    assert_null(d->left_out);
    assert_true(d->fresh);
    char fp[CS_DIGEST_HEX_SIZE];
    s_agg_fingerprint(w, "all", lines, fp);
    assert_string_equal(d->fingerprint, fp);
    assert_string_equal(s_decision(w, "agg_2")->members, "m_a=aaaaaaaaaaaaaaaa\n");
    /* the aggregators come after every other decision */
    assert_int_equal(cs_plan_decision(w->plan, cs_plan_count(w->plan) - 2)->action,
                     CS_ACTION_AGGREGATE);
    s_world_free(&w);
    /* the same connections in another order: the same members and fingerprint */
    w = s_world(SYN("m_a") AGG("agg_2", "\"synthetic\"", "[\"m_a\"]") SYN("other")
                    SYN("m_b") "connection \"m_x\" {\n  plugin = \"missing\"\n}\n" SYN("legacy")
                        AGG("all", "\"synthetic\"", "[\"m_*\", \"legacy\", \"agg_*\"]"));
    s_ready_member(w, "m_a", "aaaaaaaaaaaaaaaa");
    s_ready_member(w, "m_b", "bbbbbbbbbbbbbbbb");
    s_ready_member(w, "legacy", "cccccccccccccccc");
    s_make(w);
    assert_string_equal(s_decision(w, "all")->members, lines);
    assert_string_equal(s_decision(w, "all")->fingerprint, fp);
    s_world_free(&w);
}

/* An aggregator of a plugin instance reads the connections of that instance only; one of the
 * plugin reads every connection of the plugin, instances too. */
static void test_aggregator_members_of_an_instance(void **state)
{
    (void)state;
    s_world_t *w = s_world("plugin \"inst\" {\n  source = \"synthetic@^1\"\n}\n"
                           "connection \"i_1\" {\n  plugin = plugin.inst\n}\n" SYN("p_1")
                               AGG("by_inst", "plugin.inst", "[\"*\"]")
                                   AGG("by_plugin", "\"synthetic\"", "[\"*\"]"));
    assert_int_equal(w->config->error_count, 0);
    s_ready_member(w, "i_1", "1111111111111111");
    s_ready_member(w, "p_1", "2222222222222222");
    s_make(w);
    assert_string_equal(s_decision(w, "by_inst")->members, "i_1=1111111111111111\n");
    assert_string_equal(s_decision(w, "by_plugin")->members,
                        "i_1=1111111111111111\np_1=2222222222222222\n");
    s_world_free(&w);
    w = s_world("plugin \"inst\" {\n  source = \"synthetic@^1\"\n}\n" SYN("p_1")
                    AGG("by_inst", "plugin.inst", "[\"*\"]"));
    s_ready_member(w, "p_1", "2222222222222222");
    s_make(w);
    s_expect(w, "by_inst", CS_ACTION_ERROR, "no member");
    assert_string_equal(s_decision(w, "by_inst")->error,
                        "matches no connection of plugin instance plugin.inst");
    s_world_free(&w);
}

/* While a member is to be built, is being built (or deleted), or a matching connection that
 * left the config is being deleted, the aggregator waits; it names them in order. */
static void test_aggregator_deferred_while_a_member_is_pending(void **state)
{
    (void)state;
    s_world_t *w =
        s_world(SYN("m_2") SYN("m_1") SYN("m_3") AGG("all", "\"synthetic\"", "[\"m_*\"]"));
    s_ready_member(w, "m_1", "1111111111111111");
    s_ready_member(w, "m_3", "3333333333333333");
    s_make(w); /* m_2 is new */
    s_expect(w, "all", CS_ACTION_DEFER, "waits for its members' updates");
    const cs_decision_t *d = s_decision(w, "all");
    assert_int_equal(d->awaiting_count, 1);
    assert_string_equal(d->awaiting[0], "m_2");
    s_ready_member(w, "m_2", "2222222222222222");
    w->in_flight = "m_3"; /* an update of it is under way */
    s_make(w);
    s_expect(w, "all", CS_ACTION_DEFER, "waits for its members' updates");
    assert_string_equal(s_decision(w, "all")->awaiting[0], "m_3");
    w->in_flight = NULL;
    /* m_9 left the config; its schema is being deleted: the views may read it */
    cs_row_values_t v = {.name = "m_9", .status = CS_STATUS_READY, .plugin = "synthetic"};
    assert_int_equal(cs_store_load(w->store, &v), 0);
    s_schema(w, "m_9", "0123456789abcdef", "1.0.0");
    s_make(w);
    s_expect(w, "m_9", CS_ACTION_DELETE, "left the config");
    s_expect(w, "all", CS_ACTION_DEFER, "waits for its members' updates");
    assert_string_equal(s_decision(w, "all")->awaiting[0], "m_9");
    cs_schemas_drop(w->schemas, "m_9");
    s_make(w); /* m_9 gone: its row is forgotten, the aggregator is built */
    s_expect(w, "m_9", CS_ACTION_FORGET, "left the config");
    s_expect(w, "all", CS_ACTION_AGGREGATE, "new");
    assert_string_equal(s_decision(w, "all")->members,
                        "m_1=1111111111111111\nm_2=2222222222222222\nm_3=3333333333333333\n");
    s_world_free(&w);
}

/* The fingerprint is over the members and their schema hashes: the marker that says it makes
 * the aggregator ready without DDL (no comments task: its build wrote them); a member's new
 * hash, a member more or fewer, or another schema's marker make it build again. */
static void test_aggregator_fingerprint_over_members(void **state)
{
    (void)state;
    s_world_t *w = s_world(SYN("m_1") SYN("m_2") AGG("all", "\"synthetic\"", "[\"m_*\"]"));
    s_ready_member(w, "m_1", "1111111111111111");
    s_ready_member(w, "m_2", "2222222222222222");
    s_make(w);
    char fp[CS_DIGEST_HEX_SIZE];
    snprintf(fp, sizeof fp, "%s", s_decision(w, "all")->fingerprint);
    s_schema(w, "all", fp, "1.0.0");
    s_schema_hash(w, "all", "9999999999999999", true);
    s_row(w, "all", "/cfg/a.spc", true);
    s_make(w);
    s_expect(w, "all", CS_ACTION_READY, "unchanged");
    const cs_decision_t *d = s_decision(w, "all");
    assert_false(d->comments);
    /* a leftover: dropped while no aggregator is to be built, not while one is */
    s_schema(w, "cs$old$0123456789abcdef", "0123456789abcdef", "1.0.0");
    s_make(w);
    s_expect(w, "cs$old$0123456789abcdef", CS_ACTION_DROP_TEMP, "left by an interrupted update");
    d = s_decision(w, "all");
    assert_string_equal(d->fingerprint, fp);
    assert_string_equal(d->marker->schema_hash, "9999999999999999");
    s_schema_hash(w, "m_2", "2222222222222223", false); /* m_2 rebuilt with another schema */
    s_make(w);
    s_expect(w, "all", CS_ACTION_AGGREGATE, "its config or members changed");
    for (size_t i = 0; i < cs_plan_count(w->plan); i++) /* the aggregate's to drop, first */
        assert_int_not_equal(cs_plan_decision(w->plan, i)->action, CS_ACTION_DROP_TEMP);
    assert_string_not_equal(s_decision(w, "all")->fingerprint, fp);
    assert_false(s_decision(w, "all")->fresh);
    s_schema_hash(w, "m_2", "2222222222222222", false);
    s_schema_hash(w, "all", "9999999999999999", false); /* a plugin's schema of that name */
    s_make(w);
    s_expect(w, "all", CS_ACTION_AGGREGATE, "its schema is not an aggregator's");
    s_schema_hash(w, "all", "9999999999999999", true);
    w->in_flight = "all";
    s_make(w);
    s_expect(w, "all", CS_ACTION_AGGREGATE, "an update of it is in flight: checked again after it");
    w->in_flight = NULL;
    /* its aggregate failed in this refresh: with another fingerprint it is tried again; with
     * this one it is kept in error (not tried again by this refresh's plans) */
    cs_schemas_drop(w->schemas, "all");
    w->failed = "all";
    w->failed_as = "0000000000000000";
    s_make(w);
    s_expect(w, "all", CS_ACTION_AGGREGATE, "schema missing");
    w->failed_as = fp;
    s_make(w);
    s_expect(w, "all", CS_ACTION_ERROR, "its update failed in this refresh");
    s_world_free(&w);
}

/* A plugin connection whose schema is an aggregator's (it was one): that schema is deleted
 * first (the delete drops the views), then it is built. */
static void test_an_aggregator_that_becomes_a_plugin_connection(void **state)
{
    (void)state;
    s_world_t *w = s_world(SYN("was_agg"));
    s_schema(w, "was_agg", "0123456789abcdef", "1.0.0");
    s_schema_hash(w, "was_agg", "0123456789abcdef", true);
    s_make(w);
    s_expect(w, "was_agg", CS_ACTION_DELETE, "its schema is an aggregator's: dropped, then built");
    assert_non_null(s_decision(w, "was_agg")->config);
    w->in_flight = "was_agg";
    s_make(w);
    s_expect(w, "was_agg", CS_ACTION_BUILD, "an update of it is in flight: checked again after it");
    s_world_free(&w);
}

/* A plugin connection that becomes an aggregator while another aggregator's views read its
 * tables waits for that one to be built again (without it): its own aggregate drops them. */
static void test_a_former_member_that_becomes_an_aggregator(void **state)
{
    (void)state;
    s_world_t *w = s_world(SYN("m_1") AGG("m_old", "\"synthetic\"", "[\"m_1\"]")
                               AGG("all", "\"synthetic\"", "[\"m_*\"]"));
    s_ready_member(w, "m_1", "1111111111111111");
    s_schema(w, "m_old", "0123456789abcdef", "1.0.0"); /* a plugin's schema: it was one */
    s_schema(w, "all", "ffffffffffffffff", "1.0.0");   /* built with m_old among its members */
    s_schema_hash(w, "all", "9999999999999999", true);
    s_make(w);
    s_expect(w, "all", CS_ACTION_AGGREGATE, "its config or members changed");
    assert_string_equal(s_decision(w, "all")->members, "m_1=1111111111111111\n");
    s_expect(w, "m_old", CS_ACTION_DEFER,
             "its schema's tables may still be read by aggregators being built again");
    assert_int_equal(s_decision(w, "m_old")->awaiting_count, 1);
    assert_string_equal(s_decision(w, "m_old")->awaiting[0], "all");
    char fp[CS_DIGEST_HEX_SIZE];
    snprintf(fp, sizeof fp, "%s", s_decision(w, "all")->fingerprint);
    cs_schemas_drop(w->schemas, "all"); /* built again, without m_old */
    s_schema(w, "all", fp, "1.0.0");
    s_schema_hash(w, "all", "9999999999999999", true);
    s_make(w);
    s_expect(w, "all", CS_ACTION_READY, "unchanged");
    s_expect(w, "m_old", CS_ACTION_AGGREGATE, "its schema is not an aggregator's");
    s_world_free(&w);
}

/* A member that a file that failed to load keeps (its schema kept as it is) stays included
 * with its schema's hash: a broken file changes nothing of the aggregator either; one
 * without a schema is left out with its file's error. */
static void test_aggregator_keeps_a_member_of_a_failed_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/connstate-test-plan-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    const char *files[][2] = {
        {"a.spc", SYN("m_ok") AGG("all", "\"synthetic\"", "[\"m_*\"]")},
        {"b.spc", SYN("m_kept") "connection \"m_gone\" {\n  plugin = \"synth"}};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i][0]);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(files[i][1], f);
        fclose(f);
    }
    s_world_t *w = s_world("");
    cs_config_destroy(&w->config);
    w->config = cs_config_load_dir(dir);
    assert_int_equal(w->config->failed_count, 1);
    s_ready_member(w, "m_ok", "1111111111111111");
    snprintf(path, sizeof path, "%s/b.spc", dir);
    cs_row_values_t v = {.name = "m_kept", .status = CS_STATUS_READY, .plugin = "synthetic"};
    v.file_name = path;
    assert_int_equal(cs_store_load(w->store, &v), 0);
    v.name = "m_gone";
    assert_int_equal(cs_store_load(w->store, &v), 0);
    s_schema(w, "m_kept", "0123456789abcdef", "1.0.0");
    s_schema_hash(w, "m_kept", "2222222222222222", false);
    s_make(w);
    s_expect(w, "m_kept", CS_ACTION_ERROR, "its file failed to load");
    s_expect(w, "all", CS_ACTION_AGGREGATE, "new");
    const cs_decision_t *d = s_decision(w, "all");
    assert_string_equal(d->members, "m_kept=2222222222222222\nm_ok=1111111111111111\n");
    assert_non_null(d->left_out);
    assert_true(strncmp(d->left_out, "left out: m_gone (error: ", 25) == 0);
    s_world_free(&w);
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i][0]);
        unlink(path);
    }
    rmdir(dir);
}

/* Members in error or disabled are left out, named in the ready row's detail, at most 8, an
 * error quoted up to 200 bytes; all left out: the aggregator is in error. */
static void test_aggregator_left_out_members(void **state)
{
    (void)state;
    s_world_t *w = s_world(SYN("m_ok") "connection \"m_off\" {\n  plugin = \"synthetic\"\n"
                                       "  import_schema = \"disabled\"\n}\n" SYN("m_theirs")
                                           AGG("all", "\"synthetic\"", "[\"m_*\"]"));
    s_ready_member(w, "m_ok", "1111111111111111");
    s_schema(w, "m_theirs", NULL, NULL); /* a user's schema: that member is in error */
    s_make(w);
    s_expect(w, "all", CS_ACTION_AGGREGATE, "new");
    const cs_decision_t *d = s_decision(w, "all");
    assert_string_equal(d->members, "m_ok=1111111111111111\n");
    assert_string_equal(d->left_out,
                        "left out: m_off (disabled), m_theirs (error: schema \"m_theirs\" exists "
                        "and is not managed by connstate (it has no connstate marker); it was "
                        "left untouched)");
    cs_schemas_drop(w->schemas, "m_ok");
    s_schema(w, "m_ok", NULL, NULL);
    s_make(w);
    s_expect(w, "all", CS_ACTION_ERROR, "no member ready");
    assert_non_null(strstr(s_decision(w, "all")->error,
                           "none of its 3 members is ready: m_off (disabled), m_ok (error: "));
    s_world_free(&w);
    /* twelve members in error: all in error, eight named */
    cs_buf_t spc = {0};
    for (int i = 0; i < 12; i++)
        cs_buf_printf(&spc, "connection \"m_%02d\" {\n  plugin = \"synthetic@^0.5\"\n}\n", i);
    cs_buf_puts(&spc, AGG("all", "\"synthetic\"", "[\"m_*\"]"));
    w = s_world(cs_buf_str(&spc));
    cs_buf_free(&spc);
    s_make(w);
    s_expect(w, "all", CS_ACTION_ERROR, "no member ready");
    const char *error = s_decision(w, "all")->error;
    assert_true(strncmp(error,
                        "all 12 members are in error: m_00 (error: plugin synthetic 1.0.0 does "
                        "not satisfy @^0.5 (synthetic@^0.5)), m_01 (error: ",
                        120) == 0);
    assert_non_null(strstr(error, "m_07 (error: "));
    assert_null(strstr(error, "m_08"));
    assert_non_null(strstr(error, "), and 4 more"));
    s_world_free(&w);
}

/* A member's long error is quoted up to 200 bytes, cut at a character. */
static void test_aggregator_left_out_error_is_cut(void **state)
{
    (void)state;
    s_world_t *w = s_world(SYN("m_ok") SYN("m_bad") AGG("all", "\"synthetic\"", "[\"m_*\"]"));
    s_ready_member(w, "m_ok", "1111111111111111");
    cs_row_values_t v = {.name = "m_bad", .status = CS_STATUS_ERROR, .plugin = "synthetic"};
    char error[400];
    memset(error, 'x', 150);
    for (int i = 0; i < 40; i++)
        memcpy(error + 150 + 3 * i, "\xe2\x82\xac", 3); /* a 3-byte character across byte 200 */
    error[270] = '\0';
    v.error = error;
    assert_int_equal(cs_store_load(w->store, &v), 0);
    w->failed = "m_bad"; /* its build failed in this refresh: its error stays */
    w->failed_as = s_fingerprint(w, "m_bad");
    s_make(w);
    s_expect(w, "m_bad", CS_ACTION_ERROR, "its update failed in this refresh");
    assert_string_equal(s_decision(w, "m_bad")->error, error);
    const char *left = s_decision(w, "all")->left_out;
    assert_non_null(left);
    const char *quoted = strstr(left, "(error: ") + 8;
    const char *dots = strstr(quoted, "...)");
    assert_non_null(dots);
    assert_int_equal(dots - quoted, 198); /* 150 + 16 whole characters of 3 bytes */
    assert_true(cs_utf8_valid(left, strlen(left)));
    s_world_free(&w);
}

/* A plan given names decides those and no other: the others' rows and schemas are not looked
 * at (their decisions are the last plan's). */
static void test_a_plan_of_names_decides_only_those(void **state)
{
    (void)state;
    s_world_t *w = s_world(SYN("a") SYN("b") SYN("c"));
    const char *names[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        s_row(w, names[i], "/cfg/a.spc", true);
        s_schema(w, names[i], s_fingerprint(w, names[i]), "1.0.0");
    }
    s_row(w, "left", "/cfg/b.spc", true); /* left the config, its file gone */
    s_schema(w, "orphan", "0123456789abcdef", "1.0.0");
    s_make(w);
    for (size_t i = 0; i < cs_plan_count(w->plan); i++)
        print_message("%s %s\n", cs_plan_decision(w->plan, i)->name,
                      cs_action_name(cs_plan_decision(w->plan, i)->action));
    assert_int_equal(cs_plan_count(w->plan), 5);
    cs_plan_input_t in = {
        w->config,
        "/cfg",
        w->store,
        w->schemas,
        {s_plugin, s_in_flight, s_settled_at, s_gone_since, s_failed, w, NULL, NULL},
        100000,
        zhashx_new()};
    cs_plan_t *none = cs_plan_make(&in); /* nothing changed: nothing to decide */
    assert_int_equal(cs_plan_count(none), 0);
    cs_plan_destroy(&none);
    zhashx_update(in.names, "b", (void *)"");
    zhashx_update(in.names, "left", (void *)"");
    cs_plan_t *part = cs_plan_make(&in);
    assert_int_equal(cs_plan_count(part), 2);
    assert_non_null(s_find_decision(part, "b"));
    assert_int_equal(s_find_decision(part, "left")->action, CS_ACTION_WAIT);
    cs_plan_destroy(&part);
    zhashx_destroy(&in.names);
    s_world_free(&w);
}

static void s_count_name(void *arg, const char *name)
{
    (void)name;
    (*(int *)arg)++;
}

/* The store's counts by status, kept as rows change, are those of a walk of every row; its
 * unsettled rows are those a plan must look at again: not ready nor disabled, comments owed,
 * deletion queued. */
static void test_the_store_keeps_counts_and_unsettled_rows(void **state)
{
    (void)state;
    cs_store_t *store = cs_store_new();
    uint32_t walked[CS_STATUS_COUNT], kept[CS_STATUS_COUNT];
    cs_row_values_t v = {0};
    v.name = (char *)"ready";
    v.status = CS_STATUS_READY;
    v.comments_set = true;
    assert_int_equal(cs_store_load(store, &v), 0);
    v.name = (char *)"owed"; /* ready, its comments owed */
    v.comments_set = false;
    assert_int_equal(cs_store_load(store, &v), 0);
    v.name = (char *)"off";
    v.status = CS_STATUS_DISABLED;
    assert_int_equal(cs_store_load(store, &v), 0);
    assert_int_equal(cs_store_status_counts(store, kept), 3);
    assert_int_equal(kept[CS_STATUS_READY], 2);
    assert_int_equal(kept[CS_STATUS_DISABLED], 1);
    assert_int_equal(cs_store_unsettled(store, NULL, NULL), 1); /* owed */
    cs_record_t *row = cs_store_add(store, "new");              /* pending, not in the table yet */
    bool full;
    cs_store_set(store, cs_store_get(store, "ready"), CS_STATUS_UPDATING, NULL);
    int listed = 0;
    assert_int_equal(cs_store_unsettled(store, s_count_name, &listed), 3);
    assert_int_equal(listed, 3);
    /* a batch commits every queued row */
    for (cs_record_t *r; (r = cs_store_take_dirty(store, 7, &full)) != NULL;) {
        cs_visible_t written = {0};
        cs_visible_of(&written, cs_record_values(r));
        cs_store_written(store, cs_record_name(r), &written, cs_record_gone(r));
        cs_visible_clear(&written);
    }
    assert_int_equal(cs_store_status_counts(store, kept), cs_store_counts(store, walked));
    assert_memory_equal(kept, walked, sizeof kept);
    assert_int_equal(kept[CS_STATUS_PENDING], 1);
    assert_int_equal(kept[CS_STATUS_UPDATING], 1);
    cs_store_set(store, row, CS_STATUS_READY, NULL);
    cs_store_set_comments(store, row, true);
    cs_store_remove(store, cs_store_get(store, "off"));
    assert_int_equal(cs_store_unsettled(store, NULL, NULL), 3); /* ready, owed, off (deleted) */
    for (cs_record_t *r; (r = cs_store_take_dirty(store, 8, &full)) != NULL;) {
        cs_visible_t written = {0};
        cs_visible_of(&written, cs_record_values(r));
        cs_store_written(store, cs_record_name(r), &written, cs_record_gone(r));
        cs_visible_clear(&written);
    }
    assert_null(cs_store_get(store, "off"));
    assert_int_equal(cs_store_unsettled(store, NULL, NULL), 2); /* ready (updating), owed */
    assert_int_equal(cs_store_status_counts(store, kept), 3);
    assert_int_equal(cs_store_counts(store, walked), 3);
    assert_memory_equal(kept, walked, sizeof kept);
    cs_store_clear(store);
    assert_int_equal(cs_store_status_counts(store, kept), 0);
    assert_int_equal(cs_store_unsettled(store, NULL, NULL), 0);
    cs_store_destroy(&store);
}

static void test_the_plan_writes_nothing(void **state)
{
    (void)state;
    s_world_t *w = s_world(SYN("fresh"));
    s_row(w, "old", NULL, true);
    s_make(w);
    assert_int_equal(cs_store_dirty(w->store), 0); /* no row queued, none added */
    assert_int_equal(cs_store_size(w->store), 1);
    assert_null(cs_store_get(w->store, "fresh"));
    s_world_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builds_and_their_reasons),
        cmocka_unit_test(test_ready_owes_its_comments_until_set),
        cmocka_unit_test(test_dynamic_schemas_are_fetched_again),
        cmocka_unit_test(test_dynamic_schemas_are_fetched_again_only_when_the_oracle_says_why),
        cmocka_unit_test(test_a_refetch_under_way_is_left_to_finish),
        cmocka_unit_test(test_static_schemas_ignore_the_refetch_rule),
        cmocka_unit_test(test_an_update_in_flight_is_checked_after_it),
        cmocka_unit_test(test_held_while_its_file_is_rewritten),
        cmocka_unit_test(test_errors_and_disabled),
        cmocka_unit_test(test_version_constraints),
        cmocka_unit_test(test_left_the_config),
        cmocka_unit_test(test_a_gone_file_has_a_grace),
        cmocka_unit_test(test_a_failed_file_keeps_its_connections),
        cmocka_unit_test(test_aggregator_members_by_name_and_plugin),
        cmocka_unit_test(test_aggregator_members_of_an_instance),
        cmocka_unit_test(test_aggregator_deferred_while_a_member_is_pending),
        cmocka_unit_test(test_aggregator_fingerprint_over_members),
        cmocka_unit_test(test_an_aggregator_that_becomes_a_plugin_connection),
        cmocka_unit_test(test_a_former_member_that_becomes_an_aggregator),
        cmocka_unit_test(test_aggregator_keeps_a_member_of_a_failed_file),
        cmocka_unit_test(test_aggregator_left_out_members),
        cmocka_unit_test(test_aggregator_left_out_error_is_cut),
        cmocka_unit_test(test_a_plan_of_names_decides_only_those),
        cmocka_unit_test(test_the_store_keeps_counts_and_unsettled_rows),
        cmocka_unit_test(test_the_plan_writes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
