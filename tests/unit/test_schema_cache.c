/* Unit tests of the cache of the database's schemas (supervisor/schemas.c): what reads record,
 * which names a plan is told changed, and the compact markers. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_first_full_read_fills_the_cache_and_says_all),
        cmocka_unit_test(test_a_later_full_read_names_only_what_changed),
        cmocka_unit_test(test_a_schema_renamed_keeps_its_oid_and_both_names_change),
        cmocka_unit_test(test_markers_are_interned_and_parsed_as_the_worker_writes_them),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
