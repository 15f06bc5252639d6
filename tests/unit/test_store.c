/* Unit tests of the rows in memory (supervisor/store.c): what is loaded and changed reads
 * back the same, the strings rows share are one copy, and a row let go of takes nothing of
 * the others with it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../supervisor/supervisor.h"

static cs_row_values_t s_values(const char *name, const char *plugin, const char *version,
                                const char *file)
{
    cs_row_values_t v = {0};
    v.name = (char *)name;
    v.status = CS_STATUS_READY;
    v.plugin = (char *)plugin;
    v.plugin_version = (char *)version;
    v.config_hash = "0123456789abcdef";
    v.schema_hash = "fedcba9876543210";
    v.type = "plugin";
    v.file_name = (char *)file;
    v.worker = "wrk-1";
    v.seq = 7;
    return v;
}

static void test_loaded_rows_read_back_and_share_their_strings(void **state)
{
    (void)state;
    cs_store_t *store = cs_store_new();
    assert_non_null(store);
    char plugin[] = "synthetic", file[] = "/cfg/a.spc";
    cs_row_values_t a = s_values("a", plugin, "1.0.0", file),
                    b = s_values("b", plugin, "1.0.0", file);
    assert_int_equal(cs_store_load(store, &a), 0);
    strcpy(plugin, "xxxxxxxxx"); /* the store keeps copies, not the caller's strings */
    strcpy(file, "/xxx/x.xxx");
    assert_int_equal(cs_store_load(store, &b), 0);
    cs_record_t *ra = cs_store_get(store, "a"), *rb = cs_store_get(store, "b");
    assert_non_null(ra);
    assert_non_null(rb);
    assert_string_equal(cs_record_values(ra)->plugin, "synthetic");
    assert_string_equal(cs_record_values(rb)->plugin, "xxxxxxxxx");
    assert_string_equal(cs_record_values(ra)->file_name, "/cfg/a.spc");
    assert_string_equal(cs_record_values(ra)->config_hash, "0123456789abcdef");
    assert_ptr_equal(cs_record_values(ra)->type, cs_record_values(rb)->type); /* one copy */
    assert_ptr_equal(cs_record_values(ra)->worker, cs_record_values(rb)->worker);
    assert_string_equal(cs_record_committed(ra)->plugin, "synthetic");
    assert_int_equal(cs_record_committed(ra)->seq, 7);
    assert_true(cs_record_settled(ra));
    assert_int_equal(cs_store_size(store), 2);
    cs_store_destroy(&store);
    assert_null(store);
}

static void test_a_change_of_one_row_leaves_the_others(void **state)
{
    (void)state;
    cs_store_t *store = cs_store_new();
    cs_row_values_t a = s_values("a", "synthetic", "1.0.0", "/cfg/a.spc");
    cs_row_values_t b = s_values("b", "synthetic", "1.0.0", "/cfg/a.spc");
    assert_int_equal(cs_store_load(store, &a), 0);
    assert_int_equal(cs_store_load(store, &b), 0);
    cs_record_t *ra = cs_store_get(store, "a"), *rb = cs_store_get(store, "b");
    cs_store_set_built(store, ra, "2.0.0", "1111111111111111");
    assert_string_equal(cs_record_values(ra)->plugin_version, "2.0.0");
    assert_string_equal(cs_record_values(rb)->plugin_version, "1.0.0");
    assert_int_equal(cs_store_dirty(store), 1);
    cs_store_set_built(store, rb, "2.0.0", "1111111111111111"); /* "1.0.0" no longer used */
    assert_ptr_equal(cs_record_values(ra)->plugin_version, cs_record_values(rb)->plugin_version);
    cs_store_set_worker(store, ra, "wrk-2", 1);
    assert_string_equal(cs_record_values(ra)->worker, "wrk-2");
    assert_string_equal(cs_record_values(rb)->worker, "wrk-1");
    /* a write committed: what the table holds follows, the plugin as written */
    cs_visible_t written = {
        .status = CS_STATUS_ERROR, .error = "boom", .time_us = 5, .seq = 9, .plugin = "other"};
    cs_store_set(store, ra, CS_STATUS_ERROR, "boom");
    bool full;
    assert_non_null(cs_store_take_dirty(store, 8, &full));
    cs_store_written(store, "a", &written, false);
    assert_string_equal(cs_record_committed(ra)->plugin, "other");
    assert_string_equal(cs_record_committed(ra)->error, "boom");
    assert_string_equal(cs_record_committed(rb)->plugin, "synthetic");
    /* a deletion written: the row goes, the other keeps its strings */
    cs_store_remove(store, ra);
    while (cs_store_take_dirty(store, 10, &full))
        ;
    cs_visible_t deleted = {
        .status = CS_STATUS_DELETED, .time_us = 6, .seq = 10, .plugin = "other"};
    cs_store_written(store, "a", &deleted, true);
    assert_null(cs_store_get(store, "a"));
    assert_string_equal(cs_record_values(rb)->plugin, "synthetic");
    assert_string_equal(cs_record_values(rb)->plugin_version, "2.0.0");
    assert_string_equal(cs_record_values(rb)->type, "plugin");
    assert_int_equal(cs_store_size(store), 1);
    cs_store_clear(store);
    assert_int_equal(cs_store_size(store), 0);
    assert_int_equal(cs_store_load(store, &a), 0); /* usable after a clear */
    assert_string_equal(cs_record_values(cs_store_get(store, "a"))->plugin, "synthetic");
    cs_store_destroy(&store);
}

static void test_a_row_loaded_again_replaces_its_values(void **state)
{
    (void)state;
    cs_store_t *store = cs_store_new();
    cs_row_values_t a = s_values("a", "synthetic", "1.0.0", "/cfg/a.spc");
    assert_int_equal(cs_store_load(store, &a), 0);
    a.plugin = "csv";
    a.error = "e";
    a.status = CS_STATUS_ERROR;
    assert_int_equal(cs_store_load(store, &a), 0);
    cs_record_t *ra = cs_store_get(store, "a");
    assert_string_equal(cs_record_values(ra)->plugin, "csv");
    assert_string_equal(cs_record_values(ra)->error, "e");
    assert_string_equal(cs_record_committed(ra)->plugin, "csv");
    assert_int_equal(cs_store_size(store), 1);
    cs_store_destroy(&store);
}

/* Takes the only queued row; returns whether it is to be written in full. */
static bool s_take_full(cs_store_t *store, uint64_t seq)
{
    bool full = false;
    assert_int_equal(cs_store_dirty(store), 1);
    assert_non_null(cs_store_take_dirty(store, seq, &full));
    return full;
}

/* A row the table holds, changed in its state only, needs only its state columns written;
 * a new row, a change of its description, and a row of a failed write need every column. */
static void test_a_write_is_full_only_when_the_description_may_differ(void **state)
{
    (void)state;
    cs_store_t *store = cs_store_new();
    cs_row_values_t a = s_values("a", "synthetic", "1.0.0", "/cfg/a.spc");
    assert_int_equal(cs_store_load(store, &a), 0);
    cs_record_t *ra = cs_store_get(store, "a");
    cs_store_set(store, ra, CS_STATUS_PENDING, NULL); /* the status, the time */
    assert_false(s_take_full(store, 2));
    cs_store_set_comments(store, ra, true);
    assert_false(s_take_full(store, 3));
    cs_store_set_noted(store, ra, CS_STATUS_READY, NULL, "left out: x");
    assert_false(s_take_full(store, 4));
    /* the same description again changes nothing; another one is written in full */
    cs_store_set_built(store, ra, "1.0.0", cs_record_values(ra)->schema_hash);
    assert_int_equal(cs_store_dirty(store), 0);
    cs_store_set_built(store, ra, "2.0.0", "2222222222222222");
    assert_true(s_take_full(store, 5));
    cs_store_set_worker(store, ra, "wrk-9", 3);
    assert_true(s_take_full(store, 6));
    cs_store_set_fingerprint(store, ra, "3333333333333333");
    assert_true(s_take_full(store, 7));
    /* a description changed while its write is in flight: the next write is full too */
    cs_store_set_worker(store, ra, "wrk-8", 1);
    assert_true(s_take_full(store, 8));
    cs_store_set_fingerprint(store, ra, "4444444444444444");
    cs_store_set(store, ra, CS_STATUS_UPDATING, NULL);
    assert_true(s_take_full(store, 9));
    /* a failed write, put back: in full, even when the row changed its state meanwhile */
    cs_store_set(store, ra, CS_STATUS_READY, NULL);
    assert_false(s_take_full(store, 10));
    cs_store_requeue(store, "a");
    assert_true(s_take_full(store, 11));
    cs_store_set(store, ra, CS_STATUS_ERROR, "e");
    assert_false(s_take_full(store, 12));
    cs_store_set(store, ra, CS_STATUS_READY, NULL);
    cs_store_requeue(store, "a"); /* the failed write's row was queued again meanwhile */
    assert_true(s_take_full(store, 13));
    /* a new row is not in the table: in full, until a write of it committed */
    cs_record_t *rb = cs_store_add(store, "b");
    assert_true(s_take_full(store, 14));
    cs_visible_t written = {0};
    cs_visible_of(&written, cs_record_values(rb));
    cs_store_written(store, "b", &written, false);
    cs_store_set(store, rb, CS_STATUS_READY, NULL);
    assert_false(s_take_full(store, 15));
    cs_visible_clear(&written);
    /* a row whose deletion committed and that came back before it went: in full */
    cs_store_remove(store, ra);
    assert_false(s_take_full(store, 16));
    cs_store_add(store, "a");
    cs_store_set(store, ra, CS_STATUS_PENDING, NULL);
    cs_visible_t deleted = {.status = CS_STATUS_DELETED, .time_us = 6, .seq = 16};
    cs_store_written(store, "a", &deleted, true);
    assert_non_null(cs_store_get(store, "a"));
    assert_true(s_take_full(store, 17));
    cs_store_destroy(&store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loaded_rows_read_back_and_share_their_strings),
        cmocka_unit_test(test_a_change_of_one_row_leaves_the_others),
        cmocka_unit_test(test_a_row_loaded_again_replaces_its_values),
        cmocka_unit_test(test_a_write_is_full_only_when_the_description_may_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
