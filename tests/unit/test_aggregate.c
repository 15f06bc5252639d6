/* Unit tests of workers/aggregate.c: an aggregator's views as SQL text and their hash, and
 * the members' lines of an aggregate task. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../workers/worker.h"

/* The SQL and hash of aggregator `name` over the members; the statement count in *statements
 * and the views in *views. The caller frees the text. */
static char *s_sql(const char *name, const cs_agg_member_t *members, size_t count, int *statements,
                   size_t *views, char hash[CS_DIGEST_HEX_SIZE])
{
    cs_buf_t sql = {0};
    char why[256] = "";
    *statements = cs_aggregate_sql(name, members, count, &sql, views, hash, why, sizeof why);
    assert_true(*statements >= 0);
    assert_string_equal(why, "");
    return cs_buf_take(&sql);
}

/* aws_a: t (id bigint, name text, size bigint), only_a (x int)
 * aws_b: t (id bigint, region text, size text, _connection text) */
static const char *const s_a_t_cols[] = {"id", "name", "size"};
static const char *const s_a_t_types[] = {"bigint", "text", "bigint"};
static const char *const s_a_only_cols[] = {"x"};
static const char *const s_a_only_types[] = {"integer"};
static const char *const s_b_t_cols[] = {"id", "region", "size", "_connection"};
static const char *const s_b_t_types[] = {"bigint", "text", "text", "text"};
static const cs_agg_table_t s_a_tables[] = {{"t", s_a_t_cols, s_a_t_types, 3},
                                            {"only_a", s_a_only_cols, s_a_only_types, 1}};
static const cs_agg_table_t s_b_tables[] = {{"t", s_b_t_cols, s_b_t_types, 4}};

static void test_union_null_conflict(void **state)
{
    (void)state;
    const cs_agg_member_t members[] = {{"aws_a", s_a_tables, 2}, {"aws_b", s_b_tables, 1}};
    int statements;
    size_t views;
    char hash[CS_DIGEST_HEX_SIZE];
    char *sql = s_sql("all_aws", members, 2, &statements, &views, hash);
    /* views in byte order of their names; members in the order given; the union of the
     * columns by name in order of first appearance; NULL::TYPE where a member lacks one;
     * a conflict (size: bigint and text) cast to text in every branch and commented; the
     * member's own _connection column left out and said so */
    assert_string_equal(
        sql,
        "CREATE VIEW \"all_aws\".\"only_a\" AS\n"
        "SELECT 'aws_a'::text AS _connection, \"x\" AS \"x\" FROM \"aws_a\".\"only_a\";\n"
        "COMMENT ON VIEW \"all_aws\".\"only_a\" IS 'aggregator all_aws: 1 member';\n"
        "CREATE VIEW \"all_aws\".\"t\" AS\n"
        "SELECT 'aws_a'::text AS _connection, \"id\" AS \"id\", \"name\" AS \"name\", "
        "\"size\"::text AS \"size\", NULL::text AS \"region\" FROM \"aws_a\".\"t\"\n"
        "UNION ALL SELECT 'aws_b'::text AS _connection, \"id\" AS \"id\", NULL::text AS "
        "\"name\", \"size\"::text AS \"size\", \"region\" AS \"region\" FROM \"aws_b\".\"t\";\n"
        "COMMENT ON VIEW \"all_aws\".\"t\" IS 'aggregator all_aws: 2 members; the column "
        "_connection of aws_b is left out (it names the member)';\n"
        "COMMENT ON COLUMN \"all_aws\".\"t\".\"size\" IS 'type conflict: aws_a bigint, aws_b "
        "text; shown as text';\n");
    assert_int_equal(statements, 5);
    assert_int_equal(views, 2);
    assert_int_equal(strlen(hash), 16);
    /* the hash is the digest of exactly that text */
    char expected[CS_DIGEST_HEX_SIZE];
    assert_int_equal(cs_digest_hex16(sql, strlen(sql), expected), 0);
    assert_string_equal(hash, expected);
    free(sql);
}

static void test_null_keeps_type(void **state)
{
    (void)state;
    /* a column only one member has keeps its type in the other's NULL */
    static const char *const a_cols[] = {"n"}, *const a_types[] = {"numeric(10,2)"};
    static const char *const b_cols[] = {"m"}, *const b_types[] = {"timestamp with time zone"};
    const cs_agg_table_t a[] = {{"t", a_cols, a_types, 1}}, b[] = {{"t", b_cols, b_types, 1}};
    const cs_agg_member_t members[] = {{"a", a, 1}, {"b", b, 1}};
    int statements;
    size_t views;
    char hash[CS_DIGEST_HEX_SIZE];
    char *sql = s_sql("agg", members, 2, &statements, &views, hash);
    assert_non_null(strstr(sql, "SELECT 'a'::text AS _connection, \"n\" AS \"n\", "
                                "NULL::timestamp with time zone AS \"m\" FROM \"a\".\"t\"\n"));
    assert_non_null(strstr(sql, "UNION ALL SELECT 'b'::text AS _connection, NULL::numeric(10,2) "
                                "AS \"n\", \"m\" AS \"m\" FROM \"b\".\"t\";\n"));
    assert_null(strstr(sql, "type conflict"));
    assert_int_equal(statements, 2);
    free(sql);
}

static void test_quoting(void **state)
{
    (void)state;
    /* mixed case, double quotes, single quotes and a backslash in identifiers: each doubled
     * where SQL needs it, and the comments' literals E'...' when they hold a backslash */
    static const char *const cols[] = {"MixedCase", "say \"hi\"", "it's", "back\\slash"};
    static const char *const types_a[] = {"text", "text", "text", "text"};
    static const char *const types_b[] = {"text", "text", "text", "integer"};
    const cs_agg_table_t a[] = {{"My \"Table\"", cols, types_a, 4}};
    const cs_agg_table_t b[] = {{"My \"Table\"", cols, types_b, 4}};
    const cs_agg_member_t members[] = {{"Odd_A", a, 1}, {"odd_b", b, 1}};
    int statements;
    size_t views;
    char hash[CS_DIGEST_HEX_SIZE];
    char *sql = s_sql("All_Odd", members, 2, &statements, &views, hash);
    assert_non_null(strstr(sql, "CREATE VIEW \"All_Odd\".\"My \"\"Table\"\"\" AS\n"));
    assert_non_null(strstr(sql, "SELECT 'Odd_A'::text AS _connection, \"MixedCase\" AS "
                                "\"MixedCase\", \"say \"\"hi\"\"\" AS \"say \"\"hi\"\"\", "
                                "\"it's\" AS \"it's\", \"back\\slash\"::text AS "
                                "\"back\\slash\" FROM \"Odd_A\".\"My \"\"Table\"\"\"\n"));
    assert_non_null(strstr(sql,
                           "COMMENT ON COLUMN \"All_Odd\".\"My \"\"Table\"\"\".\"back\\slash\" "
                           "IS 'type conflict: Odd_A text, odd_b integer; shown as text';"));
    free(sql);
    /* a literal with a quote and a backslash: the member's name is not a connection name
     * here, but the quoting must hold for any text */
    const cs_agg_member_t strange[] = {{"o'k\\", a, 1}};
    sql = s_sql("agg", strange, 1, &statements, &views, hash);
    assert_non_null(strstr(sql, "SELECT E'o''k\\\\'::text AS _connection"));
    assert_non_null(strstr(sql, "FROM \"o'k\\\".\"My \"\"Table\"\"\";\n"));
    free(sql);
}

static void test_deterministic(void **state)
{
    (void)state;
    const cs_agg_member_t members[] = {{"aws_a", s_a_tables, 2}, {"aws_b", s_b_tables, 1}};
    int statements;
    size_t views;
    char first[CS_DIGEST_HEX_SIZE], again[CS_DIGEST_HEX_SIZE], other[CS_DIGEST_HEX_SIZE];
    char *sql1 = s_sql("all_aws", members, 2, &statements, &views, first);
    char *sql2 = s_sql("all_aws", members, 2, &statements, &views, again);
    assert_string_equal(sql1, sql2);
    assert_string_equal(first, again);
    /* a member's tables in another order: the same views */
    const cs_agg_table_t reversed[] = {s_a_tables[1], s_a_tables[0]};
    const cs_agg_member_t shuffled[] = {{"aws_a", reversed, 2}, {"aws_b", s_b_tables, 1}};
    char *sql3 = s_sql("all_aws", shuffled, 2, &statements, &views, again);
    assert_string_equal(sql1, sql3);
    assert_string_equal(first, again);
    /* the members in another order: their rows and columns come in that order (another
     * hash); another aggregator's name: another hash */
    const cs_agg_member_t swapped[] = {{"aws_b", s_b_tables, 1}, {"aws_a", s_a_tables, 2}};
    char *sql4 = s_sql("all_aws", swapped, 2, &statements, &views, other);
    assert_string_not_equal(first, other);
    assert_non_null(strstr(sql4, "SELECT 'aws_b'::text AS _connection, \"id\" AS \"id\", "
                                 "\"region\" AS \"region\", \"size\"::text AS \"size\", "
                                 "NULL::text AS \"name\" FROM \"aws_b\".\"t\"\n"));
    char *sql5 = s_sql("all_aws2", members, 2, &statements, &views, other);
    assert_string_not_equal(first, other);
    free(sql1);
    free(sql2);
    free(sql3);
    free(sql4);
    free(sql5);
}

static void test_edges(void **state)
{
    (void)state;
    /* members without tables: no views, the hash of the empty text */
    const cs_agg_member_t empty[] = {{"a", NULL, 0}};
    int statements;
    size_t views;
    char hash[CS_DIGEST_HEX_SIZE], expected[CS_DIGEST_HEX_SIZE];
    char *sql = s_sql("agg", empty, 1, &statements, &views, hash);
    assert_int_equal(statements, 0);
    assert_int_equal(views, 0);
    assert_int_equal(cs_digest_hex16("", 0, expected), 0);
    assert_string_equal(hash, expected);
    free(sql);
    /* a table without columns still has _connection */
    const cs_agg_table_t bare[] = {{"t", NULL, NULL, 0}};
    const cs_agg_member_t one[] = {{"a", bare, 1}};
    sql = s_sql("agg", one, 1, &statements, &views, hash);
    assert_non_null(strstr(sql, "SELECT 'a'::text AS _connection FROM \"a\".\"t\";\n"));
    free(sql);
    /* the text is appended after what the buffer holds; the hash covers only the views */
    cs_buf_t buf = {0};
    cs_buf_puts(&buf, "CREATE SCHEMA \"agg\";\n");
    char why[256] = "", appended[CS_DIGEST_HEX_SIZE];
    assert_int_equal(cs_aggregate_sql("agg", one, 1, &buf, &views, appended, why, sizeof why), 2);
    assert_string_equal(appended, hash);
    cs_buf_free(&buf);
    /* a view of more columns than PostgreSQL allows is refused, naming the table */
    const char **names = calloc(CS_AGGREGATE_COLUMNS_MAX + 1, sizeof *names);
    const char **types = calloc(CS_AGGREGATE_COLUMNS_MAX + 1, sizeof *types);
    char(*text)[8] = calloc(CS_AGGREGATE_COLUMNS_MAX + 1, sizeof *text);
    for (int c = 0; c <= CS_AGGREGATE_COLUMNS_MAX; c++) {
        snprintf(text[c], sizeof text[c], "c%d", c);
        names[c] = text[c];
        types[c] = "text";
    }
    const cs_agg_table_t wide[] = {{"wide", names, types, CS_AGGREGATE_COLUMNS_MAX + 1}};
    const cs_agg_member_t over[] = {{"a", wide, 1}};
    cs_buf_t sql2 = {0};
    assert_int_equal(cs_aggregate_sql("agg", over, 1, &sql2, &views, hash, why, sizeof why), -1);
    assert_string_equal(why, "table \"wide\": its members' columns add up to 1664, more than a "
                             "view can hold besides _connection (1663)");
    cs_buf_free(&sql2);
    free(names);
    free(types);
    free(text);
}

static void test_layout_and_schema(void **state)
{
    (void)state;
    /* the views in another schema (a big aggregate's temporary one), the aggregator still
     * named in the comments; each view's piece and how many members it reads */
    const cs_agg_member_t members[] = {{"aws_a", s_a_tables, 2}, {"aws_b", s_b_tables, 1}};
    cs_buf_t sql = {0};
    cs_agg_view_t *layout = NULL;
    size_t views;
    char hash[CS_DIGEST_HEX_SIZE], plain[CS_DIGEST_HEX_SIZE], why[256] = "";
    assert_int_equal(cs_aggregate_sql_in("all_aws", "cs$new$0123456789abcdef", members, 2, &sql,
                                         &layout, &views, hash, why, sizeof why),
                     5);
    assert_int_equal(views, 2);
    assert_non_null(layout);
    assert_int_equal(layout[0].branches, 1); /* only_a */
    assert_int_equal(layout[1].branches, 2); /* t */
    assert_int_equal(layout[1].end, sql.len);
    const char *text = cs_buf_str(&sql);
    const char *second = "CREATE VIEW \"cs$new$0123456789abcdef\".\"t\" AS";
    assert_true(strncmp(text + layout[0].end, second, strlen(second)) == 0);
    assert_non_null(strstr(text, "IS 'aggregator all_aws: 2 members; "));
    assert_null(strstr(text, "\"all_aws\""));
    int statements;
    char *named = s_sql("all_aws", members, 2, &statements, &views, plain);
    assert_string_not_equal(hash, plain); /* the text differs: so does its hash */
    free(named);
    free(layout);
    cs_buf_free(&sql);
}

static void test_parse_members(void **state)
{
    (void)state;
    cs_agg_line_t *lines;
    char why[256];
    assert_int_equal(
        cs_aggregate_parse_members("aws_a=0123456789abcdef\nLegacy_2=fedcba9876543210\n", &lines,
                                   why, sizeof why),
        2);
    assert_string_equal(lines[0].name, "aws_a");
    assert_string_equal(lines[0].schema_hash, "0123456789abcdef");
    assert_string_equal(lines[1].name, "Legacy_2");
    assert_string_equal(lines[1].schema_hash, "fedcba9876543210");
    free(lines);
    /* without the last newline too */
    assert_int_equal(cs_aggregate_parse_members("a=0123456789abcdef", &lines, why, sizeof why), 1);
    free(lines);
    static const char *const bad[] = {
        "a=0123456789abcde",                        /* 15 digits */
        "a=0123456789abcdef0",                      /* 17 */
        "a=0123456789ABCDEF",                       /* upper case */
        "=0123456789abcdef",                        /* no name */
        "1a=0123456789abcdef",                      /* not a connection name */
        "a-b=0123456789abcdef",                     /* nor this */
        "a 0123456789abcdef",                       /* no = */
        "a=0123456789abcdef\n\nb=0123456789abcdef", /* an empty line */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(cs_aggregate_parse_members(bad[i], &lines, why, sizeof why), -1);
        assert_null(lines);
        assert_non_null(strstr(why, "is not NAME=SCHEMA_HASH"));
    }
    assert_int_equal(cs_aggregate_parse_members("b=0123456789abcdef\na=0123456789abcdef\n"
                                                "b=fedcba9876543210",
                                                &lines, why, sizeof why),
                     -1);
    assert_string_equal(why, "aggregate task: member \"b\" is listed twice");
    assert_int_equal(cs_aggregate_parse_members("", &lines, why, sizeof why), -1);
    assert_string_equal(why, "aggregate task without members");
    assert_int_equal(cs_aggregate_parse_members(NULL, &lines, why, sizeof why), -1);
    /* at most CS_AGGREGATE_MEMBERS_MAX lines */
    cs_buf_t many = {0};
    for (int i = 0; i <= CS_AGGREGATE_MEMBERS_MAX; i++)
        cs_buf_printf(&many, "m%d=0123456789abcdef\n", i);
    assert_int_equal(cs_aggregate_parse_members(cs_buf_str(&many), &lines, why, sizeof why), -1);
    assert_string_equal(why, "aggregate task with more than 4096 members");
    many.data[many.len - strlen("m4096=0123456789abcdef\n")] = '\0';
    assert_int_equal(cs_aggregate_parse_members(cs_buf_str(&many), &lines, why, sizeof why),
                     CS_AGGREGATE_MEMBERS_MAX);
    free(lines);
    cs_buf_free(&many);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_union_null_conflict),
        cmocka_unit_test(test_null_keeps_type),
        cmocka_unit_test(test_quoting),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_layout_and_schema),
        cmocka_unit_test(test_parse_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
