/* Unit tests of the state table's declaration (supervisor/table.c): every SQL text and the
 * batch's JSON come from one column list and agree with each other. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../supervisor/supervisor.h"

/* The recordset's column list of the upsert: "n text, s text, ..." split into keys. */
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
        const char *space = memchr(from, ' ', (size_t)(to - from));
        assert_non_null(space);
        json_array_append_new(keys, json_stringn(from, (size_t)(space - from)));
        const char *comma = memchr(space, ',', (size_t)(to - space));
        from = comma ? comma + 2 : to;
    }
    return keys;
}

static void test_the_json_row_has_the_recordsets_keys(void **state)
{
    (void)state;
    cs_row_values_t v = {0};
    v.name = "syn_1";
    v.status = CS_STATUS_ERROR;
    v.error = "a \"quoted\" error\n";
    v.comments_set = true;
    v.time_us = 1700000000123456;
    v.seq = 42;
    v.start_line = 3;
    v.attempts = 2;
    cs_buf_t out = {0};
    cs_table_json_row(&out, &v, false, true);
    json_error_t err;
    json_t *row = json_loads(cs_buf_str(&out), 0, &err);
    assert_non_null(row);
    json_t *keys = s_recordset_keys();
    assert_int_equal(json_object_size(row), json_array_size(keys));
    size_t i;
    json_t *key;
    json_array_foreach(keys, i, key) assert_non_null(json_object_get(row, json_string_value(key)));
    assert_string_equal(json_string_value(json_object_get(row, "n")), "syn_1");
    assert_string_equal(json_string_value(json_object_get(row, "s")), "error");
    assert_string_equal(json_string_value(json_object_get(row, "e")), "a \"quoted\" error\n");
    assert_true(json_is_true(json_object_get(row, "c")));
    assert_int_equal(json_integer_value(json_object_get(row, "t")), 1700000000123456);
    assert_int_equal(json_integer_value(json_object_get(row, "q")), 42);
    assert_true(json_is_null(json_object_get(row, "p"))); /* NULL strings are null */
    assert_true(json_is_false(json_object_get(row, "g")));
    assert_true(json_is_true(json_object_get(row, "k")));
    json_decref(keys);
    json_decref(row);
    cs_buf_free(&out);
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
                             "detail"};
    for (size_t i = 0; i < sizeof columns / sizeof *columns; i++) {
        assert_non_null(strstr(create, columns[i]));
        assert_non_null(strstr(upsert, columns[i]));
        assert_non_null(strstr(select, columns[i]));
    }
    json_t *keys = s_recordset_keys(); /* the columns, "g" (deletion) and "k" (to check) */
    assert_int_equal(json_array_size(keys), sizeof columns / sizeof *columns + 2);
    json_decref(keys);
    /* a table of an earlier version grows the columns it lacks */
    assert_non_null(strstr(create, "ADD COLUMN IF NOT EXISTS detail text"));
    assert_non_null(strstr(create, "CHECK (status IN ("));
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
        cmocka_unit_test(test_the_json_row_has_the_recordsets_keys),
        cmocka_unit_test(test_create_upsert_and_select_name_the_same_columns),
        cmocka_unit_test(test_values_copy_and_clear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
