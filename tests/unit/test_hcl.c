/* Unit tests of the .spc parser: every syntax element, positions, and every syntax error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_config.h"

static cs_arena_t *s_arena;

static int s_setup(void **state)
{
    (void)state;
    s_arena = cs_arena_new();
    return s_arena ? 0 : -1;
}

static int s_teardown(void **state)
{
    (void)state;
    cs_arena_destroy(&s_arena);
    return 0;
}

static cs_hcl_file_t *s_parse(const char *text)
{
    cs_config_error_t error = {0};
    cs_hcl_file_t *tree = cs_hcl_parse(s_arena, "t.spc", text, strlen(text), &error);
    if (!tree)
        fail_msg("unexpected error %d:%d: %s", error.line, error.col, error.message);
    return tree;
}

/* The value of the first top-level attribute of text. */
static const cs_value_t *s_value(const char *text)
{
    cs_hcl_file_t *tree = s_parse(text);
    assert_true(tree->count >= 1);
    assert_non_null(tree->items[0].attr);
    return tree->items[0].attr->value;
}

static const char *s_string(const char *text)
{
    const cs_value_t *v = s_value(text);
    assert_int_equal(v->type, CS_VAL_STRING);
    assert_int_equal(strlen(v->via.str.ptr), v->via.str.len);
    return v->via.str.ptr;
}

/* Parses text that must fail with "LINE:COL: ...expect...". */
static void s_error(const char *text, int line, int col, const char *expect)
{
    cs_config_error_t error = {0};
    cs_hcl_file_t *tree = cs_hcl_parse(s_arena, "t.spc", text, strlen(text), &error);
    if (tree)
        fail_msg("accepted %s", text);
    if (!strstr(error.message, expect))
        fail_msg("error '%s' does not mention '%s'", error.message, expect);
    if (error.line != line || error.col != col)
        fail_msg("error '%s' at %d:%d, expected at %d:%d", error.message, error.line, error.col,
                 line, col);
    assert_string_equal(error.file, "t.spc");
}

/* Parses text that must fail mentioning expect, and quoting no part of the secret. */
static void s_error_hides(const char *text, const char *secret, const char *expect)
{
    cs_config_error_t error = {0};
    cs_hcl_file_t *tree = cs_hcl_parse(s_arena, "t.spc", text, strlen(text), &error);
    if (tree)
        fail_msg("accepted %s", text);
    if (!strstr(error.message, expect))
        fail_msg("error '%s' does not mention '%s'", error.message, expect);
    if (strstr(error.message, secret))
        fail_msg("error '%s' quotes the secret '%s'", error.message, secret);
}

static void test_strings_and_escapes(void **state)
{
    (void)state;
    assert_string_equal(s_string("a = \"plain\""), "plain");
    assert_string_equal(s_string("a = \"\""), "");
    assert_string_equal(s_string("a = \"q\\\"b\\\\s\\nn\\tt\\rr\""), "q\"b\\s\nn\tt\rr");
    assert_string_equal(s_string("a = \"\\u00e9\\u20AC\""), "\xc3\xa9\xe2\x82\xac");
    assert_string_equal(s_string("a = \"\\ud83d\\ude00\""), "\xf0\x9f\x98\x80");
    assert_string_equal(s_string("a = \"caf\xc3\xa9 \t tab\""), "caf\xc3\xa9 \t tab");
    assert_string_equal(s_string("a = \"cost $${x} %%{y} $5 100%\""), "cost ${x} %{y} $5 100%");
}

static void test_string_errors(void **state)
{
    (void)state;
    s_error("a = \"open\n", 1, 5, "unterminated string");
    s_error("a = \"open", 1, 5, "unterminated string");
    s_error("a = \"bad \\q\"", 1, 10, "invalid escape '\\q'");
    s_error("a = \"\\u12\"", 1, 6, "4 hex digits");
    s_error("a = \"\\ud83d\"", 1, 6, "surrogate pair");
    s_error("a = \"\\ude00\"", 1, 6, "lone surrogate");
    s_error("a = \"\\ud83d\\u0041\"", 1, 6, "not a surrogate pair");
    s_error("a = \"\\u0000\"", 1, 6, "NUL");
    s_error("a = \"x\x01\"", 1, 7, "control character 0x01");
    s_error("a = \"${var.x}\"", 1, 6, "template sequence \"${\" is not supported");
    s_error("a = \"%{ if }\"", 1, 6, "template sequence \"%{\"");
}

static void test_heredocs(void **state)
{
    (void)state;
    assert_string_equal(s_string("h = <<EOT\nid,name\nEOT\n"), "id,name\n");
    assert_string_equal(s_string("h = <<EOT\n  a\n    b\nEOT"), "  a\n    b\n");
    assert_string_equal(s_string("h = <<-EOT\n    a\n      b\n\n    c\n    EOT\n"),
                        "a\n  b\n\nc\n");
    assert_string_equal(s_string("h = <<EOT\nEOT\n"), "");
    assert_string_equal(s_string("h = <<END_1\nx \"quoted\" \\n kept\nEOT\nEND_1\n"),
                        "x \"quoted\" \\n kept\nEOT\n");
    assert_string_equal(s_string("h = <<EOT\r\nwin\r\nEOT\r\n"), "win\n");
    assert_string_equal(s_string("h = <<EOT\n$${literal}\nEOT\n"), "${literal}\n");
    /* the attribute after a heredoc is parsed normally */
    cs_hcl_file_t *tree = s_parse("h = <<EOT\nx\nEOT\nk = 1\n");
    assert_int_equal(tree->count, 2);
    assert_string_equal(tree->items[1].attr->key, "k");
    assert_int_equal(tree->items[1].attr->pos.line, 4);
}

static void test_heredoc_errors(void **state)
{
    (void)state;
    s_error("h = <<EOT\nno end\n", 1, 5, "unterminated heredoc: expected a line holding only EOT");
    s_error("h = <<EOT x\nEOT\n", 1, 11, "expected a newline after the heredoc marker EOT");
    s_error("h = << EOT\nEOT\n", 1, 7, "expected a heredoc marker");
    s_error("h = <<EOT\n${x}\nEOT\n", 2, 1, "template sequence");
}

static void test_numbers(void **state)
{
    (void)state;
    const cs_value_t *v = s_value("n = 42");
    assert_int_equal(v->type, CS_VAL_INT);
    assert_int_equal(v->via.i, 42);
    v = s_value("n = -7");
    assert_int_equal(v->via.i, -7);
    v = s_value("n = 9223372036854775807");
    assert_int_equal(v->via.i, INT64_MAX);
    v = s_value("n = 1.5");
    assert_int_equal(v->type, CS_VAL_FLOAT);
    assert_true(v->via.f == 1.5);
    v = s_value("n = -2.5e3");
    assert_true(v->via.f == -2500.0);
    v = s_value("n = 1E-2");
    assert_int_equal(v->type, CS_VAL_FLOAT);
    s_error("n = 9223372036854775808", 1, 5, "out of range");
    s_error("n = 1e999", 1, 5, "out of range");
    s_error("n = 1.", 1, 7, "digit after the decimal point");
    s_error("n = -", 1, 5, "digit after '-'");
    s_error("n = 10abc", 1, 7, "unexpected character after the number");
    s_error("n = 1e+", 1, 8, "digit in the exponent");
}

static void test_literals(void **state)
{
    (void)state;
    const cs_value_t *v = s_value("b = true");
    assert_int_equal(v->type, CS_VAL_BOOL);
    assert_true(v->via.b);
    v = s_value("b = false");
    assert_false(v->via.b);
    v = s_value("b = null");
    assert_int_equal(v->type, CS_VAL_NULL);
    s_error("b = yes", 1, 5, "strings must be quoted");
    s_error("b = \n", 1, 5, "expected a value after \"b =\"");
    s_error("b = =", 1, 5, "expected a value");
}

static void test_lists(void **state)
{
    (void)state;
    const cs_value_t *v = s_value("l = []");
    assert_int_equal(v->type, CS_VAL_LIST);
    assert_int_equal(v->via.list.count, 0);
    v = s_value("l = [\"a\", 2, [true],]");
    assert_int_equal(v->via.list.count, 3);
    assert_string_equal(v->via.list.items[0]->via.str.ptr, "a");
    assert_int_equal(v->via.list.items[1]->via.i, 2);
    assert_int_equal(v->via.list.items[2]->type, CS_VAL_LIST);
    v = s_value("l = [\n  \"a\",\n  \"b\"\n]\n");
    assert_int_equal(v->via.list.count, 2);
    assert_int_equal(v->via.list.items[1]->pos.line, 3);
    assert_int_equal(v->via.list.items[1]->pos.col, 3);
    s_error("l = [\"a\" \"b\"]", 1, 10, "expected ',' or ']' in the list that starts at line 1");
    s_error("l = [1,", 1, 8, "expected a value");
    s_error("l = [,]", 1, 6, "expected a value");
}

static void test_objects(void **state)
{
    (void)state;
    const cs_value_t *v = s_value("o = { a = 1, b = \"x\" }");
    assert_int_equal(v->type, CS_VAL_OBJECT);
    assert_int_equal(v->via.object.count, 2);
    assert_string_equal(v->via.object.items[0].key, "a");
    assert_string_equal(v->via.object.items[1].value->via.str.ptr, "x");
    v = s_value("o = {\n  a = 1\n  \"b c\" = 2,\n  d: 3\n}\n");
    assert_int_equal(v->via.object.count, 3);
    assert_string_equal(v->via.object.items[1].key, "b c");
    assert_string_equal(v->via.object.items[2].key, "d");
    v = s_value("o = {}");
    assert_int_equal(v->via.object.count, 0);
    s_error("o = { a = 1 b = 2 }", 1, 13,
            "expected ',', a newline or '}' after the value of \"a\"");
    s_error("o = { a 1 }", 1, 9, "expected '=' after the key \"a\"");
    s_error("o = { a = 1, a = 2 }", 1, 14, "key \"a\" is already defined at t.spc:1:7");
    s_error("o = { [1] = 2 }", 1, 7, "expected a key or '}'");
}

static void test_comments(void **state)
{
    (void)state;
    cs_hcl_file_t *tree = s_parse("# hash\n// slashes\n/* block\n spanning */ a = 1 # trailing\n"
                                  "b = /* inline */ 2 // end\n");
    assert_int_equal(tree->count, 2);
    assert_int_equal(tree->items[0].attr->pos.line, 4);
    assert_int_equal(tree->items[0].attr->pos.col, 14);
    assert_int_equal(tree->items[1].attr->value->via.i, 2);
    s_error("a = 1\n/* never closed\n", 2, 1, "unterminated comment");
}

static void test_blocks(void **state)
{
    (void)state;
    cs_hcl_file_t *tree =
        s_parse("connection \"aws\" {\n  plugin = \"aws\"\n  options \"rate\" { max_rps = 10 }\n"
                "  nested one \"two\" {\n    deep {}\n  }\n}\n");
    assert_int_equal(tree->count, 1);
    const cs_block_t *b = tree->items[0].block;
    assert_non_null(b);
    assert_string_equal(b->type, "connection");
    assert_int_equal(b->label_count, 1);
    assert_string_equal(b->labels[0], "aws");
    assert_int_equal(b->label_pos[0].col, 12);
    assert_int_equal(b->pos.line, 1);
    assert_int_equal(b->end.line, 7);
    assert_int_equal(b->count, 3);
    const cs_block_t *opts = b->items[1].block;
    assert_string_equal(opts->type, "options");
    assert_string_equal(opts->labels[0], "rate");
    assert_int_equal(opts->items[0].attr->value->via.i, 10);
    const cs_block_t *nested = b->items[2].block;
    assert_int_equal(nested->label_count, 2);
    assert_string_equal(nested->labels[0], "one"); /* a bare label */
    assert_string_equal(nested->items[0].block->type, "deep");
    tree = s_parse("empty {}\n");
    assert_int_equal(tree->items[0].block->label_count, 0);
}

static void test_block_errors(void **state)
{
    (void)state;
    s_error("connection \"a\" {\n  plugin = \"x\"\n", 1, 16, "this block has no closing '}'");
    s_error("a = 1\n}\n", 2, 1, "unexpected '}' outside any block");
    s_error("connection \"a\" \"b\" = 3\n", 1, 20, "expected '{' to open the \"connection\" block");
    s_error("connection \"a\" { plugin = \"x\" } extra\n", 1, 33, "expected a newline after");
    s_error("a = 1 b = 2\n", 1, 7, "expected a newline after the value of \"a\"");
    s_error("\"quoted\" = 1\n", 1, 1, "expected an attribute name or a block type");
    s_error("name\n", 1, 5, "expected '=' (attribute) or '{' (block) after \"name\"");
    s_error("a = 1\na = 2\n", 2, 1, "attribute \"a\" is already defined at t.spc:1:1");
    s_error("c \"x\" {\n  p = 1\n  q = 2\n  p = 3\n}\n", 4, 3,
            "attribute \"p\" is already defined");
    s_error("a = 1 @\n", 1, 7, "unexpected character '@'");
}

static void test_encoding_errors(void **state)
{
    (void)state;
    s_error("a = \"ok\"\nb = \"\xff\"\n", 2, 6, "invalid UTF-8");
    cs_config_error_t error = {0};
    const char with_nul[] = "a = 1\n\0b = 2\n";
    assert_null(cs_hcl_parse(s_arena, "t.spc", with_nul, sizeof with_nul - 1, &error));
    assert_non_null(strstr(error.message, "NUL byte"));
    assert_int_equal(error.line, 2);
    s_error("a = \"\xc3\xa9\" $\n", 1, 9,
            "unexpected character '$'"); /* columns count characters */
}

/* Bytes the process holds from malloc now: the arena's chunks, among others. */
static size_t s_heap_bytes(void)
{
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

/* 20,000 short strings on one line (a generated list): the lexer sized each string's buffer
 * by the rest of the line, 800 MB for this 160 KB line. Memory stays under 10x the text. */
static void test_many_strings_on_one_line(void **state)
{
    (void)state;
    enum { count = 20000 };
    size_t cap = count * 10 + 16, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    len += (size_t)snprintf(text, cap, "x = [");
    for (int i = 0; i < count; i++)
        len += (size_t)snprintf(text + len, cap - len, "%s\"a%d\"", i ? "," : "", i);
    len += (size_t)snprintf(text + len, cap - len, "]\n");
    size_t before = s_heap_bytes();
    cs_config_error_t error = {0};
    cs_hcl_file_t *tree = cs_hcl_parse(s_arena, "t.spc", text, len, &error);
    size_t used = s_heap_bytes() - before;
    assert_non_null(tree);
    const cs_value_t *list = tree->items[0].attr->value;
    assert_int_equal(list->via.list.count, count);
    assert_string_equal(list->via.list.items[count - 1]->via.str.ptr, "a19999");
    if (used >= 10 * len)
        fail_msg("parsing %zu bytes took %zu bytes of memory", len, used);
    free(text);
}

/* A UTF-8 byte-order mark starts many files written on Windows: it is not text, and the
 * first character after it is at column 1. */
static void test_byte_order_mark(void **state)
{
    (void)state;
    cs_hcl_file_t *tree = s_parse("\xEF\xBB\xBF"
                                  "connection \"a\" {\n  plugin = \"p\"\n}\n");
    assert_int_equal(tree->count, 1);
    assert_string_equal(tree->items[0].block->type, "connection");
    assert_int_equal(tree->items[0].block->pos.col, 1);
    s_error("\xEF\xBB\xBF$\n", 1, 1, "unexpected character '$'");
    s_error("a = 1\n\xEF\xBB\xBF"
            "b = 2\n",
            2, 1, "unexpected character"); /* only at the start */
}

/* Curly quotes (text pasted from web pages) and {{...}} templates: errors say what they are
 * and what to write instead. */
static void test_curly_quotes_and_templates(void **state)
{
    (void)state;
    s_error("a = \xE2\x80\x9Chello\xE2\x80\x9D\n", 1, 5,
            "curly quote \xE2\x80\x9C (U+201C): write a straight quote \" instead");
    s_error("a = \xE2\x80\x98hello\xE2\x80\x99\n", 1, 5, "curly quote \xE2\x80\x98 (U+2018)");
    s_error("connection \xE2\x80\x9D", 1, 12, "curly quote \xE2\x80\x9D (U+201D)");
    s_error("a = \"hello\xE2\x80\x99\n", 1, 5,
            "the string holds a curly quote \xE2\x80\x99 (U+2019): write a straight quote");
    s_error_hides("password = \xE2\x80\x9Chunter2\xE2\x80\x9D\n", "hunter2", "curly quote");
    s_error_hides("password = \"hunter2\xE2\x80\x9D\n", "hunter2", "unterminated string");
    /* inside straight quotes they are text */
    assert_string_equal(s_string("a = \"\xE2\x80\x9Cquoted\xE2\x80\x9D\"\n"),
                        "\xE2\x80\x9Cquoted\xE2\x80\x9D");
    s_error("a = {{VALUE}}\n", 1, 5, "templates are not HCL, fill them in first");
    s_error("{{#each connections}}\n", 1, 1, "template placeholder such as {{NAME}}");
    s_error("connection \"a\" {{\n", 1, 16, "templates are not HCL");
    assert_int_equal(s_value("a = [{b = {}}]\n")->via.list.count, 1); /* '{' '{' apart: HCL */
}

static void test_depth_limit(void **state)
{
    (void)state;
    char text[512] = "a = ";
    for (int i = 0; i < CS_CONFIG_MAX_DEPTH; i++)
        strcat(text, "[");
    for (int i = 0; i < CS_CONFIG_MAX_DEPTH; i++)
        strcat(text, "]");
    assert_non_null(s_value(text));
    char deeper[512] = "a = ";
    for (int i = 0; i <= CS_CONFIG_MAX_DEPTH; i++)
        strcat(deeper, "[");
    s_error(deeper, 1, 5 + CS_CONFIG_MAX_DEPTH, "nesting deeper than 32 levels");
}

static void test_empty_and_blank(void **state)
{
    (void)state;
    assert_int_equal(s_parse("")->count, 0);
    assert_int_equal(s_parse("\n\n  # only a comment\n")->count, 0);
    assert_int_equal(s_parse("a = 1")->count, 1); /* no final newline */
}

static void test_arena(void **state)
{
    (void)state;
    cs_arena_t *arena = cs_arena_new();
    char *big = cs_arena_alloc(arena, 1 << 20); /* larger than a chunk */
    assert_non_null(big);
    memset(big, 1, 1 << 20);
    for (int i = 0; i < 10000; i++)
        assert_non_null(cs_arena_strndup(arena, "abc", 3));
    size_t cap = 0, count = 0;
    int *items = NULL;
    for (int i = 0; i < 100; i++) {
        items = cs_arena_grow(arena, items, count, &cap, sizeof *items);
        items[count++] = i;
    }
    assert_int_equal(items[99], 99);
    assert_true(cap >= 100);
    cs_arena_destroy(&arena);
    assert_null(arena);
    cs_arena_destroy(&arena);
}

/* Errors in the value of a secret-named attribute, object key or block quote none of it;
 * the same errors elsewhere still quote what they found. */
static void test_secret_errors(void **state)
{
    (void)state;
    s_error("user = admin_unquoted\n", 1, 8, "found 'admin_unquoted'; strings must be quoted");
    s_error_hides("password = hunter2unquoted\n", "hunter2", "strings must be quoted");
    s_error("password = hunter2unquoted\n", 1, 12,
            "found an unquoted word (not shown: secret); strings must be quoted");
    s_error_hides("api_key = 123456789012345678901234567890\n", "12345", "out of range");
    s_error_hides("token = \"ok\" hunter2\n", "hunter2", "expected a newline after the value");
    s_error_hides("secret = [\"a\" hunter2]\n", "hunter2", "expected ',' or ']'");
    s_error_hides("auth = { token = hunter2 }\n", "hunter2", "strings must be quoted");
    s_error_hides("opts = { Credential: { user = \"x\" hunter2 } }\n", "hunter2",
                  "expected ',', a newline or '}'");
    s_error_hides("token = { hunter2 }\n", "hunter2", "expected '=' after the key");
    s_error_hides("password = \"ab\\qcd\"\n", "\\q", "invalid escape");
    s_error_hides("password = \"ab\\uD800cd\"\n", "D800", "surrogate");
    s_error_hides("password = $hunter\n", "$", "unexpected character (not shown: secret)");
    s_error("user = $admin\n", 1, 8, "unexpected character '$'");
    s_error_hides("password = \"a\x01b\"\n", "0x01", "control character");
    s_error_hides("credentials { user = hunter2 }\n", "hunter2", "strings must be quoted");
    s_error_hides("credentials \"prod\" {\n  hunter2\n}\n", "hunter2", "expected '='");
    s_error_hides("credentials {\n  hunter2 = 1\n  hunter2 = 2\n}\n", "hunter2",
                  "is already defined");
    s_error_hides("token = { hunter2 = 1, hunter2 = 2 }\n", "hunter2", "is already defined");
    /* after a secret's value, the next attribute is quoted again */
    s_error("token = \"x\"\nuser = admin_unquoted\n", 2, 8, "found 'admin_unquoted'");
    s_error("auth = { token = \"x\", user = admin_unquoted }\n", 1, 30, "found 'admin_unquoted'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings_and_escapes),
        cmocka_unit_test(test_string_errors),
        cmocka_unit_test(test_heredocs),
        cmocka_unit_test(test_heredoc_errors),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_objects),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_block_errors),
        cmocka_unit_test(test_encoding_errors),
        cmocka_unit_test(test_many_strings_on_one_line),
        cmocka_unit_test(test_byte_order_mark),
        cmocka_unit_test(test_curly_quotes_and_templates),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_empty_and_blank),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_secret_errors),
    };
    return cmocka_run_group_tests_name("hcl", tests, s_setup, s_teardown);
}
