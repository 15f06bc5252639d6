/* Unit tests of metrics.c: histograms count each observation in one bucket and render them
 * cumulatively with +Inf; task events are counted by kind and outcome; a render without any
 * module still gives every metric, each with its HELP and TYPE. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../supervisor/supervisor.h"

/* The value of the sample named exactly key in text, or -1 when there is none. */
static double s_sample(const char *text, const char *key)
{
    size_t len = strlen(key);
    for (const char *line = text; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, key, len) == 0 && line[len] == ' ')
            return strtod(line + len + 1, NULL);
    }
    return -1;
}

static void test_histogram(void **state)
{
    (void)state;
    static const double bounds[CS_HISTOGRAM_BUCKETS] = {0.1, 1, 10};
    cs_histogram_t h = {.bounds = bounds, .count = 3};
    cs_histogram_observe(&h, 0.05);
    cs_histogram_observe(&h, 0.1); /* on the bound: in it (le) */
    cs_histogram_observe(&h, 5);
    cs_histogram_observe(&h, 50); /* above every bound: only in +Inf */
    cs_buf_t out = {0};
    cs_histogram_render(&h, "t_seconds", "A test.", &out);
    const char *text = cs_buf_str(&out);
    assert_non_null(strstr(text, "# HELP t_seconds A test.\n# TYPE t_seconds histogram\n"));
    assert_true(s_sample(text, "t_seconds_bucket{le=\"0.1\"}") == 2);
    assert_true(s_sample(text, "t_seconds_bucket{le=\"1\"}") == 2);
    assert_true(s_sample(text, "t_seconds_bucket{le=\"10\"}") == 3);
    assert_true(s_sample(text, "t_seconds_bucket{le=\"+Inf\"}") == 4);
    assert_true(s_sample(text, "t_seconds_count") == 4);
    double sum = s_sample(text, "t_seconds_sum");
    assert_true(sum > 55.149 && sum < 55.151);
    cs_buf_free(&out);
}

static cs_event_t *s_event(cs_event_kind_t kind, cs_task_kind_t task, bool ok, bool retry)
{
    cs_event_t *e = calloc(1, sizeof *e);
    e->kind = kind;
    e->task_kind = task;
    if (kind == CS_EVENT_RESULT) {
        e->result = cs_msg_new(CS_MSG_RESULT);
        e->result->ok = ok;
        e->result->retry = retry;
        e->result->ddl_count = 3;
    }
    return e;
}

static void test_events(void **state)
{
    (void)state;
    cs_metrics_t *m = cs_metrics_new();
    assert_non_null(m);
    cs_event_t *events[] = {
        s_event(CS_EVENT_RESULT, CS_TASK_BUILD, true, false),
        s_event(CS_EVENT_RESULT, CS_TASK_BUILD, true, false),
        s_event(CS_EVENT_RESULT, CS_TASK_BUILD, false, false),
        s_event(CS_EVENT_RESULT, CS_TASK_COMMENTS, false, true),
        s_event(CS_EVENT_LOST, CS_TASK_DELETE, false, false),
        s_event(CS_EVENT_WAITING, CS_TASK_BUILD, false, false), /* not an end: not counted */
    };
    events[1]->superseded = true;
    for (size_t i = 0; i < sizeof events / sizeof *events; i++) {
        cs_metrics_event(m, events[i]);
        cs_event_destroy(&events[i]);
    }
    cs_metrics_refresh_done(m, 7, 250000);
    cs_metrics_db_back(m); /* no loss before it: no reconnect */
    cs_metrics_db_lost(m);
    cs_metrics_db_back(m);
    cs_metrics_deps_t deps = {0};
    cs_buf_t out = {0};
    cs_metrics_render(m, &deps, &out);
    const char *text = cs_buf_str(&out);
    assert_true(s_sample(text, "connstate_updates_total{kind=\"build\",outcome=\"ok\"}") == 1);
    assert_true(s_sample(text, "connstate_updates_total{kind=\"build\",outcome=\"superseded\"}") ==
                1);
    assert_true(s_sample(text, "connstate_updates_total{kind=\"build\",outcome=\"error\"}") == 1);
    assert_true(s_sample(text, "connstate_updates_total{kind=\"comments\",outcome=\"retried\"}") ==
                1);
    assert_true(s_sample(text, "connstate_updates_total{kind=\"delete\",outcome=\"lost\"}") == 1);
    assert_true(s_sample(text, "connstate_ddl_statements_total{kind=\"build\"}") == 9);
    assert_true(s_sample(text, "connstate_comment_statements_total") == 3);
    assert_true(s_sample(text, "connstate_refresh_last_generation") == 7);
    assert_true(s_sample(text, "connstate_refresh_last_duration_seconds") == 0.25);
    assert_true(s_sample(text, "connstate_refreshes_total") == 1);
    assert_true(s_sample(text, "connstate_database_losses_total") == 1);
    assert_true(s_sample(text, "connstate_database_reconnects_total") == 1);
    assert_true(s_sample(text, "connstate_database_up") == 0);
    assert_true(s_sample(text, "connstate_connections{status=\"ready\"}") == 0);
    assert_null(strstr(text, "status=\"deleted\"")); /* never a row's status */
    /* every sample's metric has its TYPE before it */
    for (const char *line = text; *line; line = strchr(line, '\n') + 1) {
        if (*line != '#') {
            char name[128];
            size_t n = strcspn(line, "{ ");
            assert_true(n < sizeof name);
            memcpy(name, line, n);
            name[n] = '\0';
            char *suffix = strstr(name, "_bucket");
            if (!suffix)
                suffix = strstr(name, "_sum");
            if (!suffix && strstr(name, "_count") && strstr(name, "seconds"))
                suffix = strstr(name, "_count");
            if (suffix)
                *suffix = '\0';
            char type[160];
            snprintf(type, sizeof type, "# TYPE %s ", name);
            assert_non_null(strstr(text, type));
        }
        assert_non_null(strchr(line, '\n'));
    }
    cs_buf_free(&out);
    cs_metrics_destroy(&m);
    assert_null(m);
    cs_metrics_destroy(&m); /* idempotent */
}

/* A row the table holds as updating since long ago is stuck; one updating since now is not;
 * a ready one never is. */
static void test_stuck(void **state)
{
    (void)state;
    cs_store_t *store = cs_store_new();
    cs_metrics_t *m = cs_metrics_new();
    assert_non_null(store);
    assert_non_null(m);
    const char *names[] = {"old", "new", "done"};
    cs_status_t statuses[] = {CS_STATUS_UPDATING, CS_STATUS_UPDATING, CS_STATUS_READY};
    int64_t now = cs_clock_wall_us();
    int64_t times[] = {now - 3600 * 1000000LL, now, now - 3600 * 1000000LL};
    for (int i = 0; i < 3; i++)
        cs_store_set(store, cs_store_add(store, names[i]), statuses[i], NULL);
    bool full;
    cs_record_t *row;
    for (uint64_t seq = 1; (row = cs_store_take_dirty(store, seq, &full)) != NULL; seq++) {
        int i = strcmp(cs_record_name(row), "old") == 0   ? 0
                : strcmp(cs_record_name(row), "new") == 0 ? 1
                                                          : 2;
        cs_visible_t written = {.status = statuses[i], .time_us = times[i], .seq = seq};
        cs_store_written(store, names[i], &written, false);
    }
    cs_metrics_deps_t deps = {.store = store, .stuck_after_us = 300 * 1000000LL};
    cs_buf_t out = {0};
    cs_metrics_render(m, &deps, &out);
    assert_true(s_sample(cs_buf_str(&out), "connstate_connections_stuck") == 1);
    assert_true(s_sample(cs_buf_str(&out), "connstate_connections{status=\"updating\"}") == 2);
    cs_buf_free(&out);
    cs_metrics_destroy(&m);
    cs_store_destroy(&store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_stuck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
