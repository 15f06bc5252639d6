/* Unit tests of the cache of the database's schemas (supervisor/schemas.c): what reads record,
 * which names a plan is told changed, the compact markers, the index by oid (drops and renames
 * that the schema journal reports), the names in doubt and when a full read is wanted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../supervisor/supervisor.h"

#define S_MARKER                                                                                   \
    "connstate marker v1; fingerprint=0123456789abcdef; plugin=synthetic; plugin_version=1.0.0;"   \
    " schema_hash=fedcba9876543210"

static void s_collect(void *arg, const char *name)
{
    char *names = arg;
    strcat(names, name);
    strcat(names, " ");
}

/* The changed names, sorted, space-separated ("ALL" when every name is to be looked at). */
static const char *s_changed(cs_schemas_t *schemas)
{
    static char names[1024];
    names[0] = '\0';
    if (cs_schemas_take_changed(schemas, s_collect, names))
        return "ALL";
    /* at most a few names in these tests: a bubble sort of the words */
    char *words[32];
    size_t n = 0;
    for (char *w = strtok(names, " "); w && n < 32; w = strtok(NULL, " "))
        words[n++] = w;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(words[j], words[i]) < 0) {
                char *t = words[i];
                words[i] = words[j];
                words[j] = t;
            }
    static char out[1024];
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strcat(out, i ? " " : "");
        strcat(out, words[i]);
    }
    return out;
}

static void s_full(cs_schemas_t *schemas, const char *const *names, const char *const *comments,
                   size_t n)
{
    cs_schemas_full_begin(schemas);
    for (size_t i = 0; i < n; i++)
        cs_schemas_set(schemas, names[i], (uint32_t)(100 + i), comments[i]);
    cs_schemas_full_end(schemas);
}

static void test_a_first_full_read_fills_the_cache_and_says_all(void **state)
{
    (void)state;
    cs_schemas_t *schemas = cs_schemas_new();
    assert_true(cs_schemas_stale(schemas));
    const char *names[] = {"a", "b", "public"};
    const char *comments[] = {S_MARKER, NULL, "standard public schema"};
    s_full(schemas, names, comments, 3);
    assert_false(cs_schemas_stale(schemas));
    assert_string_equal(s_changed(schemas), "ALL");
    assert_int_equal(cs_schemas_count(schemas), 3);
    const cs_schema_info_t *a = cs_schemas_get(schemas, "a");
    assert_non_null(a);
    assert_true(a->managed);
    assert_int_equal(a->oid, 100);
    assert_string_equal(a->marker.fingerprint, "0123456789abcdef");
    assert_string_equal(a->marker.schema_hash, "fedcba9876543210");
    assert_string_equal(a->marker.plugin, "synthetic");
    assert_string_equal(a->marker.plugin_version, "1.0.0");
    assert_false(cs_schemas_get(schemas, "b")->managed);
    assert_false(cs_schemas_get(schemas, "public")->managed);
    assert_null(cs_schemas_get(schemas, "c"));
    assert_string_equal(s_changed(schemas), ""); /* taken */
    cs_schemas_destroy(&schemas);
}

static void test_a_later_full_read_names_only_what_changed(void **state)
{
    (void)state;
    cs_schemas_t *schemas = cs_schemas_new();
    const char *names[] = {"a", "b", "c", "d"};
    const char *comments[] = {S_MARKER, S_MARKER, S_MARKER, NULL};
    s_full(schemas, names, comments, 4);
    s_changed(schemas);
    /* b's marker changed, c is gone, d got a marker, e is new, a is as it was */
    const char *names2[] = {"a", "b", "d", "e"};
    const char *comments2[] = {
        S_MARKER,
        "connstate marker v1; fingerprint=1111111111111111; plugin=synthetic; "
        "plugin_version=1.0.0; schema_hash=fedcba9876543210",
        S_MARKER, NULL};
    s_full(schemas, names2, comments2, 4);
    assert_string_equal(s_changed(schemas), "b c d e");
    assert_null(cs_schemas_get(schemas, "c"));
    assert_string_equal(cs_schemas_get(schemas, "b")->marker.fingerprint, "1111111111111111");
    /* the same again: nothing changed */
    s_full(schemas, names2, comments2, 4);
    assert_string_equal(s_changed(schemas), "");
    cs_schemas_destroy(&schemas);
}

static void test_a_schema_renamed_keeps_its_oid_and_both_names_change(void **state)
{
    (void)state;
    cs_schemas_t *schemas = cs_schemas_new();
    const char *names[] = {"a"};
    const char *comments[] = {S_MARKER};
    s_full(schemas, names, comments, 1);
    s_changed(schemas);
    cs_schemas_drop(schemas, "a");
    cs_schemas_set(schemas, "a2", 100, S_MARKER);
    assert_string_equal(s_changed(schemas), "a a2");
    cs_schemas_drop(schemas, "nothing"); /* not there: no change */
    assert_string_equal(s_changed(schemas), "");
    /* the same oid under another name after a rename back counts as a change too */
    cs_schemas_set(schemas, "a2", 101, S_MARKER);
    assert_string_equal(s_changed(schemas), "a2");
    cs_schemas_destroy(&schemas);
}

static void test_markers_are_interned_and_parsed_as_the_worker_writes_them(void **state)
{
    (void)state;
    cs_schemas_t *schemas = cs_schemas_new();
    cs_schemas_full_begin(schemas);
    cs_schemas_set(schemas, "a", 1, S_MARKER);
    cs_schemas_set(schemas, "b", 2, S_MARKER "; kind=aggregator");
    cs_schemas_set(schemas, "c", 3, "connstate marker v1;"); /* managed, fields empty */
    cs_schemas_set(schemas, "d", 4, "connstate marker v2; fingerprint=x"); /* not ours */
    cs_schemas_full_end(schemas);
    const cs_schema_info_t *a = cs_schemas_get(schemas, "a"), *b = cs_schemas_get(schemas, "b");
    assert_ptr_equal(a->marker.plugin, b->marker.plugin);
    assert_ptr_equal(a->marker.plugin_version, b->marker.plugin_version);
    assert_false(a->marker.aggregator);
    assert_true(b->marker.aggregator);
    assert_true(cs_schemas_get(schemas, "c")->managed);
    assert_string_equal(cs_schemas_get(schemas, "c")->marker.plugin_version, "");
    assert_false(cs_schemas_get(schemas, "d")->managed);
    /* iteration sees each one once */
    size_t seen = 0;
    const char *name;
    uint32_t oids = 0;
    for (const cs_schema_info_t *s = cs_schemas_first(schemas, &name); s;
         s = cs_schemas_next(schemas, &name)) {
        assert_non_null(name);
        oids |= 1u << s->oid;
        seen++;
    }
    assert_int_equal(seen, 4);
    assert_int_equal(oids, 0x1e);
    cs_schemas_invalidate(schemas);
    assert_true(cs_schemas_stale(schemas));
    cs_schemas_destroy(&schemas);
}

/* The doubted names, sorted, space-separated. */
static const char *s_doubts(const cs_schemas_t *schemas)
{
    static char names[4096];
    names[0] = '\0';
    for (const char *n = cs_schemas_doubt_first(schemas); n; n = cs_schemas_doubt_next(schemas)) {
        strcat(names, n);
        strcat(names, " ");
    }
    char *words[64];
    size_t count = 0;
    for (char *w = strtok(names, " "); w && count < 64; w = strtok(NULL, " "))
        words[count++] = w;
    for (size_t i = 0; i < count; i++)
        for (size_t j = i + 1; j < count; j++)
            if (strcmp(words[j], words[i]) < 0) {
                char *t = words[i];
                words[i] = words[j];
                words[j] = t;
            }
    static char out[4096];
    out[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        strcat(out, i ? " " : "");
        strcat(out, words[i]);
    }
    return out;
}

static void test_the_journal_names_oids_drops_and_renames_are_found_by_them(void **state)
{
    (void)state;
    cs_schemas_t *schemas = cs_schemas_new();
    const char *names[] = {"a", "b", "c"};
    const char *comments[] = {S_MARKER, S_MARKER, NULL};
    s_full(schemas, names, comments, 3); /* oids 100, 101, 102 */
    s_changed(schemas);
    cs_schemas_drop_oid(schemas, 101); /* b dropped: the journal knows its oid only */
    assert_null(cs_schemas_get(schemas, "b"));
    assert_string_equal(s_changed(schemas), "b");
    cs_schemas_drop_oid(schemas, 101); /* again, or an oid never seen: nothing */
    cs_schemas_drop_oid(schemas, 999);
    cs_schemas_drop_oid(schemas, 0);
    assert_string_equal(s_changed(schemas), "");
    cs_schemas_set_oid(schemas, 100, "a_renamed", S_MARKER); /* a renamed: its oid, a new name */
    assert_null(cs_schemas_get(schemas, "a"));
    assert_int_equal(cs_schemas_get(schemas, "a_renamed")->oid, 100);
    assert_string_equal(s_changed(schemas), "a a_renamed");
    assert_int_equal(cs_schemas_count(schemas), 2);
    cs_schemas_set_oid(schemas, 100, "a_renamed", S_MARKER); /* the same again: no change */
    assert_string_equal(s_changed(schemas), "");
    /* a name whose oid changed (dropped and made again): the old oid no longer finds it */
    cs_schemas_set(schemas, "c", 200, NULL);
    cs_schemas_drop_oid(schemas, 102);
    assert_non_null(cs_schemas_get(schemas, "c"));
    cs_schemas_drop_oid(schemas, 200);
    assert_null(cs_schemas_get(schemas, "c"));
    /* read by name (the names a worker's update touched): a rename away and a new schema
     * under the old name, in either order */
    cs_schemas_set(schemas, "x", 300, S_MARKER);
    cs_schemas_set(schemas, "x", 301, S_MARKER);     /* the new x first ... */
    cs_schemas_set(schemas, "x_old", 300, S_MARKER); /* ... then the old one, renamed */
    assert_int_equal(cs_schemas_get(schemas, "x")->oid, 301);
    assert_int_equal(cs_schemas_get(schemas, "x_old")->oid, 300);
    cs_schemas_set(schemas, "y", 400, S_MARKER);
    cs_schemas_set(schemas, "y_old", 400, S_MARKER); /* the old one renamed first ... */
    cs_schemas_set(schemas, "y", 401, S_MARKER);     /* ... then the new one */
    assert_int_equal(cs_schemas_get(schemas, "y_old")->oid, 400);
    assert_int_equal(cs_schemas_get(schemas, "y")->oid, 401);
    cs_schemas_drop_oid(schemas, 400);
    assert_null(cs_schemas_get(schemas, "y_old"));
    assert_non_null(cs_schemas_get(schemas, "y"));
    cs_schemas_drop(schemas, "x_old"); /* ... or x_old gone and x new: the index stays right */
    cs_schemas_drop_oid(schemas, 300);
    assert_int_equal(cs_schemas_get(schemas, "x")->oid, 301);
    /* a full read that finds a rename keeps the index right */
    const char *names2[] = {"a_renamed", "x", "x_old", "y"};
    const char *comments2[] = {S_MARKER, S_MARKER, S_MARKER, S_MARKER};
    s_full(schemas, names2, comments2, 4); /* oids 100..103 given anew */
    assert_int_equal(cs_schemas_count(schemas), 4);
    cs_schemas_drop_oid(schemas, 103);
    assert_null(cs_schemas_get(schemas, "y"));
    assert_int_equal(cs_schemas_count(schemas), 3);
    cs_schemas_destroy(&schemas);
}

static void test_names_in_doubt_are_what_an_update_may_have_touched(void **state)
{
    (void)state;
    cs_schemas_t *schemas = cs_schemas_new();
    char new_a[CS_MARKER_TEMP_NAME_SIZE], old_a[CS_MARKER_TEMP_NAME_SIZE];
    char old_m[CS_MARKER_TEMP_NAME_SIZE];
    assert_int_equal(cs_marker_temp_name("a", CS_MARKER_TEMP_NEW, new_a, sizeof new_a), 0);
    assert_int_equal(cs_marker_temp_name("a", CS_MARKER_TEMP_OLD, old_a, sizeof old_a), 0);
    assert_int_equal(cs_marker_temp_name("m", CS_MARKER_TEMP_OLD, old_m, sizeof old_m), 0);
    cs_schemas_full_begin(schemas);
    cs_schemas_set(schemas, "a", 1, S_MARKER);
    cs_schemas_set(schemas, "m", 2, S_MARKER);
    cs_schemas_set(schemas, old_m, 3, S_MARKER);                     /* a member's previous one */
    cs_schemas_set(schemas, "agg", 4, S_MARKER "; kind=aggregator"); /* views over m */
    cs_schemas_full_end(schemas);
    assert_null(cs_schemas_full_wanted(schemas));
    assert_string_equal(s_doubts(schemas), "");
    /* a build of a: its names, and the aggregators (it may have marked them stale) */
    cs_schemas_doubt_update(schemas, "a", false);
    char want[256];
    snprintf(want, sizeof want, "a agg %s %s", new_a, old_a); /* sorted: new < old */
    assert_string_equal(s_doubts(schemas), want);
    assert_int_equal(cs_schemas_doubt_count(schemas), 4);
    cs_schemas_doubts_read(schemas);
    assert_string_equal(s_doubts(schemas), "");
    /* an aggregate: its names, and every temporary schema (it drops members' previous ones) */
    cs_schemas_doubt_update(schemas, "agg", true);
    cs_schemas_doubt(schemas, "agg"); /* once only */
    char new_agg[CS_MARKER_TEMP_NAME_SIZE], old_agg[CS_MARKER_TEMP_NAME_SIZE];
    assert_int_equal(cs_marker_temp_name("agg", CS_MARKER_TEMP_NEW, new_agg, sizeof new_agg), 0);
    assert_int_equal(cs_marker_temp_name("agg", CS_MARKER_TEMP_OLD, old_agg, sizeof old_agg), 0);
    const char *sorted[] = {"agg", new_agg, old_agg, old_m};
    for (size_t i = 0; i < 4; i++) /* "agg" < "cs$..." */
        for (size_t j = i + 1; j < 4; j++)
            if (strcmp(sorted[j], sorted[i]) < 0) {
                const char *t = sorted[i];
                sorted[i] = sorted[j];
                sorted[j] = t;
            }
    snprintf(want, sizeof want, "%s %s %s %s", sorted[0], sorted[1], sorted[2], sorted[3]);
    assert_string_equal(s_doubts(schemas), want);
    /* a temporary schema's own delete: that name (no temporary names of a temporary name) */
    cs_schemas_doubts_read(schemas);
    cs_schemas_drop(schemas, "agg"); /* no aggregator left */
    cs_schemas_doubt_update(schemas, old_m, false);
    assert_string_equal(s_doubts(schemas), old_m);
    /* a full read reads every name: the doubts are forgotten */
    cs_schemas_full_begin(schemas);
    cs_schemas_full_end(schemas);
    assert_int_equal(cs_schemas_doubt_count(schemas), 0);
    /* too many names in doubt: the next read is a full one */
    char name[32];
    for (int i = 0; i <= CS_SCHEMAS_DOUBT_MAX; i++) {
        snprintf(name, sizeof name, "n%d", i);
        cs_schemas_doubt(schemas, name);
    }
    assert_int_equal(cs_schemas_doubt_count(schemas), CS_SCHEMAS_DOUBT_MAX);
    assert_string_equal(cs_schemas_full_wanted(schemas), "too many names in doubt");
    cs_schemas_destroy(&schemas);
}

static void test_a_full_read_is_wanted_when_asked_for_or_stale(void **state)
{
    (void)state;
    cs_schemas_t *schemas = cs_schemas_new();
    assert_string_equal(cs_schemas_full_wanted(schemas), "the first read");
    cs_schemas_full_begin(schemas);
    cs_schemas_set(schemas, "a", 1, NULL);
    cs_schemas_full_end(schemas);
    assert_null(cs_schemas_full_wanted(schemas));
    uint64_t changes = cs_schemas_changes(schemas);
    cs_schemas_set(schemas, "a", 1, S_MARKER);
    cs_schemas_set(schemas, "a", 1, S_MARKER); /* the same: no change */
    assert_int_equal(cs_schemas_changes(schemas), changes + 1);
    cs_schemas_ask_full(schemas, "SIGHUP");
    cs_schemas_ask_full(schemas, "the periodic check"); /* the first reason is kept */
    assert_string_equal(cs_schemas_full_wanted(schemas), "SIGHUP");
    cs_schemas_full_begin(schemas);
    cs_schemas_full_end(schemas);
    assert_null(cs_schemas_full_wanted(schemas));
    cs_schemas_invalidate(schemas);
    assert_string_equal(cs_schemas_full_wanted(schemas), "the cache is not known to be right");
    cs_schemas_destroy(&schemas);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_first_full_read_fills_the_cache_and_says_all),
        cmocka_unit_test(test_a_later_full_read_names_only_what_changed),
        cmocka_unit_test(test_a_schema_renamed_keeps_its_oid_and_both_names_change),
        cmocka_unit_test(test_markers_are_interned_and_parsed_as_the_worker_writes_them),
        cmocka_unit_test(test_the_journal_names_oids_drops_and_renames_are_found_by_them),
        cmocka_unit_test(test_names_in_doubt_are_what_an_update_may_have_touched),
        cmocka_unit_test(test_a_full_read_is_wanted_when_asked_for_or_stale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
