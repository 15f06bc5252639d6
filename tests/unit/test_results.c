/* Unit tests of results.c for refetches (a current dynamic schema fetched again): a ready
 * row stays as it is when the schema is the same, is ready anew at a new time when it is
 * not, and is left alone while its refetch waits; rows in memory only, no database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../supervisor/supervisor.h"

static cs_store_t *s_store_with(const char *name, cs_status_t status, bool comments_set)
{
    cs_store_t *store = cs_store_new();
    cs_row_values_t v = {0};
    v.name = (char *)name;
    v.status = status;
    v.schema_hash = "aaaaaaaaaaaaaaaa";
    v.plugin_version = "1.0.0";
    v.comments_set = comments_set;
    v.time_us = 1000;
    v.seq = 7;
    assert_int_equal(cs_store_load(store, &v), 0);
    return store;
}

/* A refetch's RESULT: ok, with this schema hash. */
static cs_event_t *s_result(const char *name, const char *hash, bool refetch)
{
    cs_event_t *event = calloc(1, sizeof *event);
    event->kind = CS_EVENT_RESULT;
    event->task_kind = CS_TASK_BUILD;
    event->connection = strdup(name);
    event->attempt = 1;
    event->refetch = refetch;
    event->worker = strdup("wrk-1");
    event->result = cs_msg_new(CS_MSG_RESULT);
    event->result->ok = true;
    event->result->schema_hash = strdup(hash);
    event->result->plugin_version = strdup("1.0.0");
    return event;
}

static void test_the_same_schema_writes_nothing(void **state)
{
    (void)state;
    cs_store_t *store = s_store_with("dyn", CS_STATUS_READY, true);
    cs_results_stats_t stats = {0};
    cs_event_t *event = s_result("dyn", "aaaaaaaaaaaaaaaa", true);
    assert_null(cs_results_apply(store, event, NULL, NULL, &stats)); /* no comments owed */
    assert_int_equal(cs_store_dirty(store), 0);                      /* no write, so no STATE */
    const cs_record_t *row = cs_store_get(store, "dyn");
    assert_int_equal(cs_record_values(row)->time_us, 1000);
    assert_false(cs_record_claimed(row));
    cs_event_destroy(&event);
    /* the same without the refetch mark is an ordinary build: ready again, checked */
    event = s_result("dyn", "aaaaaaaaaaaaaaaa", false);
    cs_results_apply(store, event, NULL, NULL, &stats);
    assert_int_equal(cs_store_dirty(store), 1);
    assert_true(cs_record_claimed(row));
    cs_event_destroy(&event);
    cs_store_destroy(&store);
}

static void test_another_schema_is_ready_anew(void **state)
{
    (void)state;
    cs_store_t *store = s_store_with("dyn", CS_STATUS_READY, true);
    cs_results_stats_t stats = {0};
    cs_event_t *event = s_result("dyn", "bbbbbbbbbbbbbbbb", true);
    cs_results_apply(store, event, NULL, NULL, &stats);
    const cs_record_t *row = cs_store_get(store, "dyn");
    const cs_row_values_t *v = cs_record_values(row);
    assert_int_equal(v->status, CS_STATUS_READY);
    assert_string_equal(v->schema_hash, "bbbbbbbbbbbbbbbb");
    assert_true(v->time_us > 1000);      /* a new ready row */
    assert_false(v->comments_set);       /* its comments are written again */
    assert_true(cs_record_claimed(row)); /* the batch checks the new marker */
    assert_true(cs_store_urgent(store));
    cs_event_destroy(&event);
    cs_store_destroy(&store);
}

static void test_a_row_that_was_not_ready_becomes_ready(void **state)
{
    (void)state;
    cs_store_t *store = s_store_with("dyn", CS_STATUS_UPDATING, false);
    cs_results_stats_t stats = {0};
    cs_event_t *event = s_result("dyn", "aaaaaaaaaaaaaaaa", true);
    cs_results_apply(store, event, NULL, NULL, &stats); /* no config: no comments to name */
    const cs_record_t *row = cs_store_get(store, "dyn");
    assert_int_equal(cs_record_values(row)->status, CS_STATUS_READY);
    assert_true(cs_record_claimed(row));
    cs_event_destroy(&event);
    cs_store_destroy(&store);
}

static void test_a_ready_rows_refetch_waiting_changes_nothing(void **state)
{
    (void)state;
    cs_store_t *store = s_store_with("dyn", CS_STATUS_READY, true);
    cs_results_stats_t stats = {0};
    cs_event_kind_t kinds[] = {CS_EVENT_WAITING, CS_EVENT_RESUMED, CS_EVENT_RETRYING};
    for (size_t i = 0; i < 3; i++) {
        cs_event_t *event = calloc(1, sizeof *event);
        event->kind = kinds[i];
        event->task_kind = CS_TASK_BUILD;
        event->connection = strdup("dyn");
        event->refetch = true;
        event->why = strdup("no worker is connected");
        cs_results_apply(store, event, NULL, NULL, &stats);
        cs_event_destroy(&event);
    }
    assert_int_equal(cs_store_dirty(store), 0);
    assert_int_equal(cs_record_values(cs_store_get(store, "dyn"))->status, CS_STATUS_READY);
    /* a refetch lost too often is an error like any update */
    cs_event_t *lost = calloc(1, sizeof *lost);
    lost->kind = CS_EVENT_LOST;
    lost->task_kind = CS_TASK_BUILD;
    lost->connection = strdup("dyn");
    lost->refetch = true;
    lost->why = strdup("worker lost");
    cs_results_apply(store, lost, NULL, NULL, &stats);
    assert_int_equal(cs_record_values(cs_store_get(store, "dyn"))->status, CS_STATUS_ERROR);
    cs_event_destroy(&lost);
    cs_store_destroy(&store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_same_schema_writes_nothing),
        cmocka_unit_test(test_another_schema_is_ready_anew),
        cmocka_unit_test(test_a_row_that_was_not_ready_becomes_ready),
        cmocka_unit_test(test_a_ready_rows_refetch_waiting_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
