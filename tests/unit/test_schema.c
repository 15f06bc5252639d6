/* Unit tests of cs_schema_parse: a plugin's schema output, its tables' "file" object (file_fdw
 * reads the file directly) and the hash, and top-level keys it does not know. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_plugin.h"

/* A schema of one table t (column c text) with `extra` inside the table object. */
static cs_schema_t *s_parse(const char *extra, char *why, size_t why_size)
{
    char json[8192];
    snprintf(json, sizeof json,
             "{\"tables\": [{\"name\": \"t\", \"columns\": [{\"name\": \"c\", \"type\": "
             "\"text\"}]%s%s}]}",
             *extra ? ", " : "", extra);
    why[0] = '\0';
    return cs_schema_parse(json, strlen(json), NULL, why, why_size);
}

static void test_file_entry(void **state)
{
    (void)state;
    char why[512];
    cs_schema_t *plain = s_parse("", why, sizeof why);
    assert_non_null(plain);
    assert_null(plain->tables[0].file);
    cs_schema_t *s =
        s_parse("\"file\": {\"path\": \"/data/a.csv\", \"format\": \"csv\", \"header\": "
                "true, \"delimiter\": \";\", \"quote\": \"'\", \"escape\": \"\\\\\", "
                "\"null\": \"NA\", \"encoding\": \"LATIN1\", \"force_not_null\": true}",
                why, sizeof why);
    assert_non_null(s);
    const cs_table_file_t *f = s->tables[0].file;
    assert_non_null(f);
    assert_string_equal(f->path, "/data/a.csv");
    assert_string_equal(f->format, "csv");
    assert_true(f->header);
    assert_int_equal(f->delimiter, ';');
    assert_int_equal(f->quote, '\'');
    assert_int_equal(f->escape, '\\');
    assert_string_equal(f->null, "NA");
    assert_string_equal(f->encoding, "LATIN1");
    assert_true(f->force_not_null);
    assert_string_not_equal(s->hash, plain->hash); /* "file" is part of the hash */
    cs_schema_destroy(&s);
    assert_null(s);
    cs_schema_destroy(&s); /* idempotent */
    s = s_parse("\"file\": {\"path\": \"/d/t.tsv\"}", why, sizeof why);
    assert_non_null(s);
    f = s->tables[0].file;
    assert_string_equal(f->format, "csv"); /* the default */
    assert_false(f->header);
    assert_int_equal(f->delimiter, '\0');
    assert_null(f->null);
    cs_schema_destroy(&s);
    s = s_parse("\"file\": {\"path\": \"/d/t.txt\", \"format\": \"text\", \"delimiter\": \"|\"}",
                why, sizeof why);
    assert_non_null(s);
    cs_schema_destroy(&s);
    s = s_parse("\"file\": null", why, sizeof why);
    assert_non_null(s);
    assert_null(s->tables[0].file);
    cs_schema_destroy(&s);
    cs_schema_destroy(&plain);
}

static void test_file_refused(void **state)
{
    (void)state;
    static const struct {
        const char *file, *why;
    } bad[] = {
        {"[]", "table \"t\": \"file\" must be an object"},
        {"{}", "table \"t\": \"file\": \"path\" is missing"},
        {"{\"path\": \"data/a.csv\"}", "table \"t\": \"file\": \"path\" must be absolute"},
        {"{\"path\": \"\"}", "table \"t\": \"file\": \"path\" must be a string of 1 to 4096"},
        {"{\"path\": \"/a\\u0000b\"}", "schema is not valid JSON (\\u0000 is not allowed"},
        {"{\"path\": \"/a\", \"format\": \"binary\"}",
         "table \"t\": \"file\": \"format\" must be \"csv\" or \"text\""},
        {"{\"path\": \"/a\", \"header\": \"yes\"}",
         "table \"t\": \"file\": \"header\" must be true or false"},
        {"{\"path\": \"/a\", \"delimiter\": \";;\"}",
         "table \"t\": \"file\": \"delimiter\" must be one ASCII character"},
        {"{\"path\": \"/a\", \"delimiter\": \"\\n\"}", "table \"t\": \"file\": \"delimiter\" must"},
        {"{\"path\": \"/a\", \"delimiter\": \"\\u00e9\"}", "table \"t\": \"file\": \"delimiter\""},
        {"{\"path\": \"/a\", \"delimiter\": \"\\\"\"}",
         "table \"t\": \"file\": \"delimiter\" and \"quote\" must differ"},
        {"{\"path\": \"/a\", \"format\": \"text\", \"quote\": \"'\"}",
         "table \"t\": \"file\": \"quote\", \"escape\" and \"force_not_null\" are for \"csv\""},
        {"{\"path\": \"/a\", \"format\": \"text\", \"force_not_null\": true}",
         "table \"t\": \"file\": \"quote\", \"escape\""},
        {"{\"path\": \"/a\", \"format\": \"text\", \"delimiter\": \"a\"}",
         "table \"t\": \"file\": \"delimiter\" cannot be 'a' in \"text\""},
        {"{\"path\": \"/a\", \"null\": \"a,b\"}", "table \"t\": \"file\": \"null\" cannot hold"},
        {"{\"path\": \"/a\", \"null\": \"\\\"\"}", "table \"t\": \"file\": \"null\" cannot hold"},
        {"{\"path\": \"/a\", \"encoding\": \"UTF8; DROP\"}",
         "table \"t\": \"file\": \"encoding\" must be an encoding's name"},
        {"{\"path\": \"/a\", \"program\": \"rm -rf /\"}",
         "table \"t\": \"file\": unknown key \"program\""},
    };
    char why[512];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char extra[512];
        snprintf(extra, sizeof extra, "\"file\": %s", bad[i].file);
        cs_schema_t *s = s_parse(extra, why, sizeof why);
        if (s || strncmp(why, bad[i].why, strlen(bad[i].why)) != 0)
            fail_msg("%s: %s", bad[i].file, s ? "accepted" : why);
    }
    /* the path's bound: 4096 bytes */
    char *extra = malloc(4200);
    assert_non_null(extra);
    strcpy(extra, "\"file\": {\"path\": \"/");
    memset(extra + strlen(extra), 'p', 4095);
    strcpy(extra + 19 + 4095, "\"}");
    cs_schema_t *s = s_parse(extra, why, sizeof why);
    assert_non_null(s);
    cs_schema_destroy(&s);
    strcpy(extra + 19 + 4095, "p\"}");
    assert_null(s_parse(extra, why, sizeof why));
    free(extra);
}

/* Keys of the schema's object other than "tables" (such as "watch") are not refused: they are
 * another part's to read, and part of the hash. */
static void test_top_level_keys(void **state)
{
    (void)state;
    const char *a = "{\"tables\": [], \"watch\": [\"/data/*.csv\"], \"future\": {\"x\": 1}}";
    const char *b = "{\"tables\": [], \"watch\": [\"/other/*.csv\"]}";
    char why[256];
    cs_schema_t *sa = cs_schema_parse(a, strlen(a), NULL, why, sizeof why);
    cs_schema_t *sb = cs_schema_parse(b, strlen(b), NULL, why, sizeof why);
    assert_non_null(sa);
    assert_non_null(sb);
    assert_int_equal(sa->count, 0);
    assert_string_not_equal(sa->hash, sb->hash);
    cs_schema_destroy(&sa);
    cs_schema_destroy(&sb);
}

/* An arg may be as long as a path (4096 bytes), no longer. */
static void test_args_bound(void **state)
{
    (void)state;
    char *extra = malloc(4200);
    assert_non_null(extra);
    strcpy(extra, "\"args\": [\"");
    memset(extra + 10, 'a', 4096);
    strcpy(extra + 10 + 4096, "\"]");
    char why[256];
    cs_schema_t *s = s_parse(extra, why, sizeof why);
    assert_non_null(s);
    assert_int_equal(strlen(s->tables[0].args[0]), 4096);
    cs_schema_destroy(&s);
    strcpy(extra + 10 + 4096, "a\"]");
    assert_null(s_parse(extra, why, sizeof why));
    assert_string_equal(
        why, "table \"t\": \"args\" must hold strings of at most 4096 bytes without NUL");
    free(extra);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_entry),
        cmocka_unit_test(test_file_refused),
        cmocka_unit_test(test_top_level_keys),
        cmocka_unit_test(test_args_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
