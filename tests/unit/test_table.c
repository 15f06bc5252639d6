/* Unit tests of the state table's declaration (supervisor/table.c): every SQL text and the
 * batch's arrays come from one column list and agree with each other. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../supervisor/supervisor.h"

/* The unnest's column list of the upsert: "AS x(n, s, ...)" split into keys. */
static json_t *s_recordset_keys(void)
{
    const char *sql = cs_table_upsert_sql();
    const char *from = strstr(sql, "AS x(");
    assert_non_null(from);
    from += 5;
    const char *to = strchr(from, ')');
    assert_non_null(to);
    json_t *keys = json_array();
    while (from < to) {
        const char *comma = memchr(from, ',', (size_t)(to - from));
        const char *end = comma ? comma : to;
        json_array_append_new(keys, json_stringn(from, (size_t)(end - from)));
        from = comma ? comma + 2 : to;
    }
    return keys;
}

/* The batch's parameters: one array literal per column, the flags, what the caller gives. */
static void test_the_batch_is_one_array_per_column(void **state)
{
    (void)state;
    cs_row_values_t v = {0};
    v.name = "syn_1";
    v.status = CS_STATUS_ERROR;
    v.error = "a \"quoted\" error\\n";
    v.comments_set = true;
    v.time_us = 1700000000123456;
    v.seq = 42;
    v.start_line = 3;
    v.attempts = 2;
    cs_table_batch_t batch = {0};
    cs_table_batch_add(&batch, &v, false, true, false);
    v.name = "syn_2";
    v.error = "bad \xff byte";
    v.status = CS_STATUS_READY;
    v.plugin = "p";
    cs_table_batch_add(&batch, &v, true, false, false);
    const char *params[CS_TABLE_BATCH_PARAMS] = {NULL, "9", "{\"seq\":9", "m", "s", NULL};
    assert_int_equal(cs_table_batch_params(&batch, params, false), CS_TABLE_BATCH_PARAMS);
    assert_int_equal(batch.rows, 2);
    assert_string_equal(params[0], "{f,t}");                 /* $1: to delete */
    assert_string_equal(params[6], "{t,f}");                 /* $7: a worker's word */
    assert_string_equal(params[7], "{\"syn_1\",\"syn_2\"}"); /* $8: connection_name */
    assert_string_equal(params[8], "{error,ready}");         /* status */
    assert_string_equal(params[9], "{\"a \\\"quoted\\\" error\\\\n\",\"bad ? byte\"}");
    assert_string_equal(params[10], "{t,t}");                               /* comments_set */
    assert_string_equal(params[11], "{1700000000123456,1700000000123456}"); /* time_changed */
    assert_string_equal(params[12], "{NULL,\"p\"}");                        /* plugin */
    assert_string_equal(params[1], "9"); /* the caller's are left as they are */
    assert_null(params[5]);
    for (size_t i = 7; i < CS_TABLE_BATCH_PARAMS; i++)
        assert_int_equal(params[i][0], '{');
    cs_table_batch_free(&batch);

    cs_table_batch_t empty = {0}; /* a batch that carries only the search path */
    assert_int_equal(cs_table_batch_params(&empty, params, false), CS_TABLE_BATCH_PARAMS);
    assert_string_equal(params[0], "{}");
    assert_string_equal(params[CS_TABLE_BATCH_PARAMS - 1], "{}");
    cs_table_batch_free(&empty);
}

/* The upsert's parameters: $8 onwards typed by the columns' kinds. */
static void test_the_upsert_types_its_arrays(void **state)
{
    (void)state;
    const char *sql = cs_table_upsert_sql();
    assert_non_null(strstr(sql, "unnest($8::text[], $9::text[], $10::text[], $11::boolean[], "
                                "$12::bigint[]"));
    assert_non_null(strstr(sql, "$24::text[], $25::text[], $26::int[], $1::boolean[], "
                                "$7::boolean[]) AS x("));
    assert_null(strstr(sql, "jsonb_to_recordset"));
    /* the plain one: the same parameters and answer, no marker, no deletion */
    const char *plain = cs_table_upsert_plain_sql();
    assert_non_null(strstr(plain, "$26::int[], $1::boolean[], $7::boolean[]) AS x("));
    assert_non_null(strstr(plain, "UPDATE connstate_internal.connection_state AS cs SET status = "
                                  "v.s, error = v.e,"));
    assert_non_null(strstr(plain, "WHERE NOT EXISTS (SELECT FROM "
                                  "connstate_internal.connection_state t WHERE "
                                  "t.connection_name = v.n)"));
    assert_non_null(strstr(plain, "pg_notify('connstate_state', $3"));
    assert_non_null(strstr(plain, "SET value = $2::bigint WHERE key = 'last_seq'"));
    assert_non_null(strstr(plain, "$4::text || $5::text"));
    assert_non_null(strstr(plain, "$6::jsonb IS NOT NULL"));
    assert_null(strstr(plain, "pg_description"));
    assert_null(strstr(plain, "DELETE"));
    assert_null(strstr(plain, "connection_name = v.n, ")); /* the key is not updated */
}

/* The status form: only the state columns' arrays travel ($8 to $14, in the columns' order),
 * each row updated by its key, the same answer; a row missing from the table fails it. */
static void test_the_status_form_carries_only_the_state_columns(void **state)
{
    (void)state;
    cs_row_values_t v = {0};
    v.name = "syn_1";
    v.status = CS_STATUS_READY;
    v.comments_set = true;
    v.time_us = 1700000000123456;
    v.seq = 42;
    v.plugin = "p";
    v.detail = "d";
    v.reason = cs_reason_intern("config changed");
    v.build_ms = 0; /* none yet: NULL */
    cs_table_batch_t batch = {0};
    cs_table_batch_add(&batch, &v, false, false, true);
    const char *params[CS_TABLE_BATCH_PARAMS] = {NULL, "42", "{\"seq\":42", "m", "s", NULL};
    assert_int_equal(cs_table_batch_params(&batch, params, true), 14);
    assert_string_equal(params[0], "{f}");
    assert_string_equal(params[6], "{f}");
    assert_string_equal(params[7], "{\"syn_1\"}");         /* connection_name */
    assert_string_equal(params[8], "{ready}");             /* status */
    assert_string_equal(params[9], "{NULL}");              /* error */
    assert_string_equal(params[10], "{t}");                /* comments_set */
    assert_string_equal(params[11], "{1700000000123456}"); /* time_changed */
    assert_string_equal(params[12], "{42}");               /* seq */
    assert_string_equal(params[13], "{\"d\"}");            /* detail */
    for (size_t i = 14; i < CS_TABLE_BATCH_PARAMS; i++)    /* not reason nor build_ms */
        assert_null(params[i]);
    for (size_t i = 0; i < CS_TABLE_COLUMNS; i++) /* the others are not even made */
        assert_true(batch.columns[i].len == 0 || batch.columns[i].data[0] == '{');
    assert_int_equal(batch.columns[5].len, 0); /* plugin */
    cs_table_batch_free(&batch);

    const char *sql = cs_table_upsert_status_sql();
    assert_non_null(strstr(sql, "unnest($8::text[], $9::text[], $10::text[], $11::boolean[], "
                                "$12::bigint[], $13::bigint[], $14::text[], $1::boolean[], "
                                "$7::boolean[]) AS x(n, s, e, c, t, q, d, g, k)"));
    assert_null(strstr(sql, "$15"));
    assert_non_null(strstr(sql, "UPDATE connstate_internal.connection_state AS cs SET status = "
                                "v.s, error = v.e, comments_set = v.c, time_changed = "));
    assert_non_null(strstr(sql, "seq = v.q, detail = v.d,\n        last_attempt_at = "));
    /* the history: derived from the change, the row as it was being cs */
    assert_non_null(strstr(sql, "last_ready_at = CASE WHEN v.s = 'ready' AND cs.status IS "
                                "DISTINCT FROM 'ready' THEN 'epoch'::timestamptz + v.t"));
    assert_non_null(strstr(sql, "last_error = CASE WHEN v.s = 'error' THEN v.e ELSE "
                                "cs.last_error END\n    FROM v WHERE cs.connection_name = v.n"));
    /* ... the attempts, which the status form does not carry, as they were */
    assert_non_null(strstr(sql, "cs.attempts IS DISTINCT FROM cs.attempts"));
    assert_null(strstr(sql, "plugin"));
    assert_null(strstr(sql, "INSERT"));
    assert_non_null(strstr(sql, "connstate_internal.rows_written((SELECT count(*) FROM upd),"));
    assert_non_null(strstr(sql, "pg_notify('connstate_state', $3"));
    assert_non_null(strstr(sql, "SET value = $2::bigint WHERE key = 'last_seq'"));
    assert_non_null(strstr(sql, "$4::text || $5::text"));
    assert_non_null(strstr(sql, "$6::jsonb IS NOT NULL"));
}

/* The startup's pending: one statement, as cs_store_set (PENDING, NULL) would do it. */
static void test_the_pending_statement(void **state)
{
    (void)state;
    const char *sql = cs_table_pending_sql();
    assert_non_null(strstr(sql, "UPDATE connstate_internal.connection_state AS t SET status = "
                                "'pending', error = NULL, detail = NULL"));
    assert_non_null(strstr(sql, "WHEN t.status <> 'pending' OR t.error IS NOT NULL"));
    assert_non_null(strstr(sql, "greatest($1::bigint, coalesce(max(seq), 0))"));
    assert_non_null(strstr(sql, "UNION ALL SELECT"));
    assert_non_null(strstr(sql, "(status = 'pending' AND error IS NULL AND detail IS NULL)"));
    const char *end = cs_table_pending_end_sql();
    assert_non_null(strstr(end, "pg_notify('connstate_state', $2"));
    assert_non_null(strstr(end, "SET value = $1::bigint WHERE key = 'last_seq'"));
}

/* Every column the CREATE declares is written by the upsert and read by the startup. */
static void test_create_upsert_and_select_name_the_same_columns(void **state)
{
    (void)state;
    const char *create = cs_table_create_sql(), *upsert = cs_table_upsert_sql(),
               *select = cs_table_select_sql();
    const char *columns[] = {"connection_name", "status", "error",          "comments_set",
                             "time_changed",    "plugin", "plugin_version", "config_hash",
                             "schema_hash",     "type",   "file_name",      "start_line",
                             "end_line",        "seq",    "worker",         "attempts",
                             "detail",          "reason", "build_ms"};
    for (size_t i = 0; i < sizeof columns / sizeof *columns; i++) {
        assert_non_null(strstr(create, columns[i]));
        assert_non_null(strstr(upsert, columns[i]));
        assert_non_null(strstr(select, columns[i]));
    }
    json_t *keys = s_recordset_keys(); /* the columns, "g" (deletion) and "k" (to check) */
    assert_string_equal(json_string_value(json_array_get(keys, 0)), "n");
    assert_int_equal(json_array_size(keys), sizeof columns / sizeof *columns + 2);
    json_decref(keys);
    /* a table of an earlier version grows the columns it lacks */
    assert_non_null(strstr(create, "AND attname = 'detail' AND NOT attisdropped) THEN\n"
                                   "        ALTER TABLE connstate_internal.connection_state "
                                   "ADD COLUMN IF NOT EXISTS detail text;"));
    assert_non_null(strstr(create, "CHECK (status IN ("));
    const char *history[] = {"last_attempt_at", "last_ready_at", "last_error_at", "last_error"};
    for (size_t i = 0; i < sizeof history / sizeof *history; i++) {
        char grow[160];
        snprintf(grow, sizeof grow, "ADD COLUMN IF NOT EXISTS %s %s;", history[i],
                 i < 3 ? "timestamptz" : "text");
        assert_non_null(strstr(create, grow));
        assert_non_null(strstr(upsert, history[i])); /* set on insert and on conflict */
        assert_non_null(strstr(cs_table_upsert_plain_sql(), history[i]));
        assert_null(strstr(select, history[i])); /* never read back: the table's alone */
    }
    assert_non_null(strstr(upsert, "pg_notify('connstate_state'"));
    assert_null(strstr(upsert, "connection_name = EXCLUDED")); /* the key is not updated */
    /* a worker's word is checked against the schema's marker in the same statement */
    assert_non_null(strstr(upsert, "description LIKE '" CS_MARKER_PREFIX "%'"));
    assert_non_null(strstr(upsert, "ARRAY['fingerprint=' || ch, 'plugin_version=' || pv, "
                                   "'schema_hash=' || sh]"));
    assert_non_null(strstr(upsert, "WHEN g OR s = 'disabled' THEN marker IS NULL"));
    assert_non_null(strstr(upsert, "CASE WHEN NOT k THEN true")); /* only a worker's word */
}

static void test_values_copy_and_clear(void **state)
{
    (void)state;
    cs_row_values_t a = {0}, b = {0};
    a.name = strdup("x");
    a.error = strdup("e");
    a.attempts = 3;
    cs_row_values_copy(&b, &a);
    assert_string_equal(b.name, "x");
    assert_string_equal(b.error, "e");
    assert_ptr_not_equal(b.error, a.error);
    assert_int_equal(b.attempts, 3);
    cs_row_values_clear(&a);
    cs_row_values_clear(&b);
    assert_null(b.name);
    assert_null(b.error);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_batch_is_one_array_per_column),
        cmocka_unit_test(test_the_upsert_types_its_arrays),
        cmocka_unit_test(test_the_status_form_carries_only_the_state_columns),
        cmocka_unit_test(test_the_pending_statement),
        cmocka_unit_test(test_create_upsert_and_select_name_the_same_columns),
        cmocka_unit_test(test_values_copy_and_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
