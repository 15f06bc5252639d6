/* Unit tests of the database's default search path as a pure function
 * (supervisor/searchpath.c): Steampipe's order, the explicit list, the bound, the JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../supervisor/supervisor.h"

/* The path's names joined by ", ", connections marked with '*'. */
static const char *s_text(const cs_search_path_t *path)
{
    static char out[1024];
    out[0] = '\0';
    for (size_t i = 0; i < path->count; i++) {
        strcat(out, i ? ", " : "");
        strcat(out, path->items[i].name);
        if (path->items[i].connection)
            strcat(out, "*");
    }
    return out;
}

static cs_config_list_t s_list(const char **items, size_t count)
{
    return (cs_config_list_t){items, count, true, "default.spc", 1};
}

static void test_default_rule(void **state)
{
    (void)state;
    cs_config_database_t db = {.declared = true};
    const char *ready[] = {"zeta", "aws_a", "AwsProd", "_under", "aws_B"};
    cs_search_path_t path;
    assert_int_equal(cs_search_path_compute(&db, ready, 5, 100, &path), 0);
    /* public first, then byte order: upper case before '_' before lower case */
    assert_string_equal(s_text(&path), "public, AwsProd*, _under*, aws_B*, aws_a*, zeta*");
    assert_false(path.bounded);
    cs_search_path_clear(&path);
    assert_null(path.items);

    /* no connection ready: public alone */
    assert_int_equal(cs_search_path_compute(&db, NULL, 0, 100, &path), 0);
    assert_string_equal(s_text(&path), "public");
    cs_search_path_clear(&path);
}

static void test_prefix_and_explicit_list(void **state)
{
    (void)state;
    const char *prefix[] = {"aws_a", "Extra"};
    cs_config_database_t db = {.search_path_prefix = s_list(prefix, 2), .declared = true};
    const char *ready[] = {"beta", "aws_a"};
    cs_search_path_t path;
    assert_int_equal(cs_search_path_compute(&db, ready, 2, 100, &path), 0);
    /* each schema once, at its first place: aws_a stays where the prefix put it */
    assert_string_equal(s_text(&path), "aws_a, Extra, public, beta*");
    cs_search_path_clear(&path);

    /* search_path: the prefix, then the list as written; no connection, no public added */
    const char *explicit[] = {"beta", "AwsProd", "gone", "beta"};
    db.search_path = s_list(explicit, 4);
    assert_int_equal(cs_search_path_compute(&db, ready, 2, 100, &path), 0);
    assert_string_equal(s_text(&path), "aws_a, Extra, beta, AwsProd, gone");
    cs_search_path_clear(&path);

    /* an empty search_path is an empty path */
    cs_config_database_t empty = {.search_path = s_list(NULL, 0), .declared = true};
    assert_int_equal(cs_search_path_compute(&empty, ready, 2, 100, &path), 0);
    assert_int_equal(path.count, 0);
    cs_search_path_clear(&path);
}

static void test_bound(void **state)
{
    (void)state;
    const char *prefix[] = {"mine"};
    cs_config_database_t db = {.search_path_prefix = s_list(prefix, 1), .declared = true};
    const char *ready[] = {"c_3", "c_1", "c_2"};
    cs_search_path_t path;
    /* mine, public and 3 connections: 5 schemas, at the bound */
    assert_int_equal(cs_search_path_compute(&db, ready, 3, 5, &path), 0);
    assert_string_equal(s_text(&path), "mine, public, c_1*, c_2*, c_3*");
    assert_false(path.bounded);
    cs_search_path_clear(&path);
    /* one past it: the explicit part only, and how many it would have held */
    assert_int_equal(cs_search_path_compute(&db, ready, 3, 4, &path), 0);
    assert_string_equal(s_text(&path), "mine, public");
    assert_true(path.bounded);
    assert_int_equal(path.wanted, 5);
    cs_search_path_clear(&path);
    /* 0: never the connections */
    assert_int_equal(cs_search_path_compute(&db, ready, 3, 0, &path), 0);
    assert_string_equal(s_text(&path), "mine, public");
    assert_true(path.bounded);
    cs_search_path_clear(&path);
    /* an explicit search_path is never bounded: it holds no connection */
    const char *explicit[] = {"a", "b", "c", "d", "e", "f"};
    db.search_path = s_list(explicit, 6);
    assert_int_equal(cs_search_path_compute(&db, ready, 3, 2, &path), 0);
    assert_int_equal(path.count, 7);
    assert_false(path.bounded);
    cs_search_path_clear(&path);
}

static void test_json(void **state)
{
    (void)state;
    const char *prefix[] = {"we\"ird"};
    cs_config_database_t db = {.search_path_prefix = s_list(prefix, 1), .declared = true};
    const char *ready[] = {"AwsProd"};
    cs_search_path_t path;
    assert_int_equal(cs_search_path_compute(&db, ready, 1, 100, &path), 0);
    cs_buf_t json = {0};
    cs_search_path_json(&path, &json);
    assert_string_equal(cs_buf_str(&json), "[{\"n\":\"we\\\"ird\",\"c\":false},"
                                           "{\"n\":\"public\",\"c\":false},"
                                           "{\"n\":\"AwsProd\",\"c\":true}]");
    cs_buf_free(&json);
    cs_search_path_clear(&path);
    cs_search_path_clear(&path); /* idempotent */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_rule),
        cmocka_unit_test(test_prefix_and_explicit_list),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
