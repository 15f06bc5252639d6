/* Unit tests of the plan (supervisor/plan.c): every decision and its reason, from configs,
 * rows and schemas built by hand; no database, no process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../supervisor/supervisor.h"

/* The world a plan sees: one of each input, built by the test. */
typedef struct {
    cs_config_t *config;
    cs_store_t *store;
    zhashx_t *schemas;
    const char *in_flight;   /* a connection with an update in flight, or NULL */
    int64_t settled_at;      /* what every file's hold is */
    int64_t gone_since;      /* since when every gone file is gone (0: not seen) */
    const char *plugin_mode; /* of the synthetic plugin */
    bool oracle_refetch;     /* the oracle has a refetch rule (else: every plan fetches) */
    const char *refetch;     /* a connection whose dynamic schema is to be fetched again */
    const char *refetching;  /* a connection with a refetch queued or in flight */
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

static void s_free(void **item)
{
    free(*item);
    *item = NULL;
}

static s_world_t *s_world(const char *spc)
{
    s_world_t *w = calloc(1, sizeof *w);
    w->config = cs_config_load_text("/cfg/a.spc", spc, strlen(spc));
    w->store = cs_store_new();
    w->schemas = zhashx_new();
    zhashx_set_destructor(w->schemas, s_free);
    assert_non_null(w->config);
    return w;
}

static void s_world_free(s_world_t **w_p)
{
    s_world_t *w = *w_p;
    cs_plan_destroy(&w->plan);
    cs_config_destroy(&w->config);
    cs_store_destroy(&w->store);
    zhashx_destroy(&w->schemas);
    free(w);
    *w_p = NULL;
}

/* A managed schema built from the connection's current config (or another fingerprint),
 * or an unmanaged one (fingerprint NULL). */
static void s_schema(s_world_t *w, const char *name, const char *fingerprint, const char *version)
{
    cs_schema_info_t *info = calloc(1, sizeof *info);
    info->managed = fingerprint != NULL;
    if (fingerprint) {
        snprintf(info->marker.fingerprint, sizeof info->marker.fingerprint, "%s", fingerprint);
        snprintf(info->marker.plugin, sizeof info->marker.plugin, "synthetic");
        snprintf(info->marker.plugin_version, sizeof info->marker.plugin_version, "%s", version);
        snprintf(info->marker.schema_hash, sizeof info->marker.schema_hash, "0123456789abcdef");
    }
    zhashx_insert(w->schemas, name, info);
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

static void s_make(s_world_t *w)
{
    cs_plan_input_t in = {w->config,
                          "/cfg",
                          w->store,
                          w->schemas,
                          {s_plugin, s_in_flight, s_settled_at, s_gone_since, w,
                           w->oracle_refetch ? s_refetch : NULL,
                           w->oracle_refetch ? s_refetching : NULL},
                          100000};
    cs_plan_destroy(&w->plan);
    w->plan = cs_plan_make(&in);
    assert_non_null(w->plan);
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
    s_expect(w, "agg", CS_ACTION_ERROR, "aggregator");
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
        cmocka_unit_test(test_the_plan_writes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
