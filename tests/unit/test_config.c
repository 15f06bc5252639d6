/* Unit tests of connection semantics, fingerprints and the directory loader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cs_config.h"

static cs_config_t *s_load(const char *text)
{
    cs_config_t *cfg = cs_config_load_text("t.spc", text, strlen(text));
    assert_non_null(cfg);
    return cfg;
}

/* Loads text that must produce exactly one connection, and returns the config. */
static cs_config_t *s_load_one(const char *text)
{
    cs_config_t *cfg = s_load(text);
    if (cfg->error_count)
        fail_msg("unexpected error %d:%d: %s", cfg->errors[0].line, cfg->errors[0].col,
                 cfg->errors[0].message);
    assert_int_equal(cfg->count, 1);
    return cfg;
}

/* Loads text that must fail with an error at line:col mentioning expect. */
static void s_expect_error(const char *text, int line, int col, const char *expect)
{
    cs_config_t *cfg = s_load(text);
    assert_int_equal(cfg->count, 0); /* a file with an error loads nothing */
    assert_int_equal(cfg->failed_count, 1);
    bool found = false;
    for (size_t i = 0; i < cfg->error_count; i++)
        if (strstr(cfg->errors[i].message, expect) && cfg->errors[i].line == line &&
            cfg->errors[i].col == col)
            found = true;
    if (!found)
        fail_msg("no error '%s' at %d:%d (first: %d:%d: %s)", expect, line, col,
                 cfg->error_count ? cfg->errors[0].line : 0,
                 cfg->error_count ? cfg->errors[0].col : 0,
                 cfg->error_count ? cfg->errors[0].message : "none");
    cs_config_destroy(&cfg);
}

static void test_minimal_connection(void **state)
{
    (void)state;
    cs_config_t *cfg = s_load_one("\nconnection \"aws_prod\" {\n  plugin = \"aws\"\n}\n");
    const cs_connection_t *c = &cfg->connections[0];
    assert_string_equal(c->name, "aws_prod");
    assert_string_equal(c->plugin, "aws");
    assert_false(c->aggregator);
    assert_false(c->import_disabled);
    assert_string_equal(c->file, "t.spc");
    assert_int_equal(c->start_line, 2);
    assert_int_equal(c->end_line, 4);
    assert_int_equal(strlen(c->fingerprint), 16);
    assert_string_equal(c->config_json, "{}");
    assert_int_equal(cfg->file_count, 1);
    assert_ptr_equal(cs_config_find(cfg, "aws_prod"), c);
    assert_null(cs_config_find(cfg, "aws"));
    cs_config_destroy(&cfg);
    assert_null(cfg);
    cs_config_destroy(&cfg);
}

static void test_the_issue_example(void **state)
{
    (void)state;
    cs_config_t *cfg = s_load("connection \"aws_prod\" {\n"
                              "  plugin  = \"aws\"\n"
                              "  regions = [\"us-east-1\", \"eu-west-1\"]\n"
                              "  profile = \"prod\"   # a comment\n"
                              "  // another comment\n"
                              "  /* and\n"
                              "     another */\n"
                              "  options \"rate\" { max_rps = 10 }\n"
                              "}\n"
                              "\n"
                              "connection \"all_aws\" {\n"
                              "  plugin      = \"aws\"\n"
                              "  type        = \"aggregator\"\n"
                              "  connections = [\"aws_*\"]\n"
                              "}\n"
                              "\n"
                              "connection \"archive\" {\n"
                              "  plugin        = \"csv\"\n"
                              "  paths         = [\"/data/archive/*.csv\"]\n"
                              "  import_schema = \"disabled\"\n"
                              "  header        = <<EOT\n"
                              "id,name\n"
                              "EOT\n"
                              "}\n");
    assert_int_equal(cfg->error_count, 0);
    assert_int_equal(cfg->count, 3);
    const cs_connection_t *aws = cs_config_find(cfg, "aws_prod");
    assert_string_equal(aws->config_json, "{\"regions\":[\"us-east-1\",\"eu-west-1\"],"
                                          "\"profile\":\"prod\","
                                          "\"options\":[{\"_labels\":[\"rate\"],\"max_rps\":10}]}");
    assert_int_equal(aws->start_line, 1);
    assert_int_equal(aws->end_line, 9);
    const cs_connection_t *agg = cs_config_find(cfg, "all_aws");
    assert_true(agg->aggregator);
    assert_int_equal(agg->member_count, 1);
    assert_string_equal(agg->members[0], "aws_*");
    assert_string_equal(agg->config_json, "{}");
    const cs_connection_t *archive = cs_config_find(cfg, "archive");
    assert_true(archive->import_disabled);
    assert_string_equal(archive->config_json,
                        "{\"paths\":[\"/data/archive/*.csv\"],\"header\":\"id,name\\n\"}");
    assert_int_equal(archive->start_line, 17);
    assert_int_equal(archive->end_line, 24);
    cs_config_destroy(&cfg);
}

static void test_config_json_values(void **state)
{
    (void)state;
    cs_config_t *cfg = s_load_one("connection \"c\" {\n plugin = \"p\"\n i = -3\n f = 2.0\n"
                                  " g = 0.25\n b = false\n n = null\n o = { z = 1, a = [] }\n"
                                  " s = \"q\\\"\\u00e9\\n\"\n"
                                  " tag {}\n tag \"x\" \"y\" { k = 1 }\n}\n");
    assert_string_equal(cfg->connections[0].config_json,
                        "{\"i\":-3,\"f\":2.0,\"g\":0.25,\"b\":false,\"n\":null,"
                        "\"o\":{\"z\":1,\"a\":[]},\"s\":\"q\\\"\xc3\xa9\\n\","
                        "\"tag\":[{},{\"_labels\":[\"x\",\"y\"],\"k\":1}]}");
    cs_config_destroy(&cfg);
}

static void test_plugin_rules(void **state)
{
    (void)state;
    s_expect_error("connection \"c\" {\n  x = 1\n}\n", 1, 1,
                   "connection \"c\" has no plugin: add plugin = \"NAME\"");
    s_expect_error("connection \"c\" {\n  plugin = 3\n}\n", 2, 12, "plugin must be a string");
    s_expect_error("connection \"c\" {\n  plugin = \"../bin/sh\"\n}\n", 2, 12,
                   "invalid plugin \"../bin/sh\"");
    s_expect_error("connection \"c\" {\n  plugin = \"\"\n}\n", 2, 12, "1 to 255 characters");
    s_expect_error("connection \"c\" {\n  plugin = \"a/b\"\n}\n", 2, 12, "only lowercase");
    s_expect_error("connection \"c\" {\n  plugin {}\n}\n", 2, 3, "\"plugin\" is an attribute");
    cs_config_t *cfg = s_load_one("connection \"c\" {\n  plugin = \"my-plugin.v2_x\"\n}\n");
    cs_config_destroy(&cfg);
}

static void test_type_and_members(void **state)
{
    (void)state;
    s_expect_error("connection \"c\" {\n  plugin = \"p\"\n  type = \"other\"\n}\n", 3, 10,
                   "type must be \"plugin\" or \"aggregator\", not \"other\"");
    s_expect_error("connection \"c\" {\n  plugin = \"p\"\n  type = true\n}\n", 3, 10,
                   "type must be a string");
    s_expect_error("connection \"c\" {\n  plugin = \"p\"\n  type = \"aggregator\"\n}\n", 1, 1,
                   "aggregator \"c\" needs connections");
    s_expect_error("connection \"c\" {\n  plugin = \"p\"\n  connections = [\"a\"]\n}\n", 3, 3,
                   "connections is only valid in an aggregator");
    s_expect_error("connection \"c\" {\n  plugin = \"p\"\n  type = \"aggregator\"\n"
                   "  connections = \"a\"\n}\n",
                   4, 17, "connections must be a list");
    s_expect_error("connection \"c\" {\n  plugin = \"p\"\n  type = \"aggregator\"\n"
                   "  connections = [\"a\", 1]\n}\n",
                   4, 23, "connections must hold strings");
    s_expect_error("connection \"c\" {\n  plugin = \"p\"\n  type = \"aggregator\"\n"
                   "  connections = [\"A B\"]\n}\n",
                   4, 18, "invalid member \"A B\"");
    cs_config_t *cfg = s_load_one("connection \"c\" {\n  plugin = \"p\"\n  type = \"plugin\"\n}\n");
    assert_false(cfg->connections[0].aggregator);
    cs_config_destroy(&cfg);
}

static void test_import_schema(void **state)
{
    (void)state;
    s_expect_error("connection \"c\" {\n  plugin = \"p\"\n  import_schema = \"off\"\n}\n", 3, 19,
                   "import_schema must be \"enabled\" or \"disabled\", not \"off\"");
    cs_config_t *cfg =
        s_load_one("connection \"c\" {\n  plugin = \"p\"\n  import_schema = \"enabled\"\n}\n");
    assert_false(cfg->connections[0].import_disabled);
    cs_config_destroy(&cfg);
}

/* The loader and the supervisor's directory watch agree on what a config file is. */
static void test_file_names(void **state)
{
    (void)state;
    assert_true(cs_config_file_name("aws.spc"));
    assert_true(cs_config_file_name("a.spc"));
    assert_true(cs_config_file_name("part_0007.spc"));
    assert_false(cs_config_file_name(".spc"));
    assert_false(cs_config_file_name(".aws.spc"));          /* hidden */
    assert_false(cs_config_file_name(".aws.spc.swp"));      /* an editor's swap file */
    assert_false(cs_config_file_name("sedAb12Cd"));         /* sed -i's temporary file */
    assert_false(cs_config_file_name("aws.spc~"));          /* a backup */
    assert_false(cs_config_file_name("aws.spc.dpkg-dist")); /* a package's copy */
    assert_false(cs_config_file_name("notes.txt"));
    assert_false(cs_config_file_name("spc"));
    assert_false(cs_config_file_name(""));
}

static void test_names(void **state)
{
    (void)state;
    assert_null(cs_config_name_problem("aws_prod_2"));
    assert_null(cs_config_name_problem("_x"));
    char longest[64];
    memset(longest, 'a', 63);
    longest[63] = '\0';
    assert_null(cs_config_name_problem(longest));
    char too_long[65];
    memset(too_long, 'a', 64);
    too_long[64] = '\0';
    assert_non_null(strstr(cs_config_name_problem(too_long), "63 bytes"));
    assert_non_null(cs_config_name_problem(""));
    /* letters of either case, as Steampipe allows (the schema name is quoted) */
    assert_null(cs_config_name_problem("Aws"));
    assert_null(cs_config_name_problem("AwsProd"));
    assert_null(cs_config_name_problem("aws_Dev"));
    assert_null(cs_config_name_problem("_Z9"));
    assert_non_null(strstr(cs_config_name_problem("9lives"), "starts with a letter or '_'"));
    assert_non_null(strstr(cs_config_name_problem("a b"), "only letters, digits and '_'"));
    /* reserved in any case: an unquoted Public.t means public.t */
    assert_non_null(strstr(cs_config_name_problem("Public"), "reserved"));
    assert_non_null(cs_config_name_problem("PUBLIC"));
    assert_non_null(cs_config_name_problem("Information_Schema"));
    assert_non_null(cs_config_name_problem("Connstate_Internal"));
    assert_non_null(cs_config_name_problem("PG_x"));
    assert_non_null(cs_config_name_problem("Pg_x"));
    assert_non_null(cs_config_name_problem("9lives"));
    assert_non_null(cs_config_name_problem("a-b"));
    assert_non_null(cs_config_name_problem("caf\xc3\xa9"));
    assert_non_null(strstr(cs_config_name_problem("public"), "reserved"));
    assert_non_null(cs_config_name_problem("information_schema"));
    assert_non_null(cs_config_name_problem("connstate_internal"));
    assert_non_null(cs_config_name_problem("pg_catalog"));
    assert_non_null(cs_config_name_problem("pg_anything"));
    assert_null(cs_config_name_problem("pgx"));

    /* two names that differ only in case are two connections, each found by its own */
    cs_config_t *cfg = s_load("connection \"AwsProd\" {\n  plugin = \"p\"\n}\n"
                              "connection \"awsprod\" {\n  plugin = \"p\"\n}\n"
                              "connection \"aws_Dev\" {\n  plugin = \"p\"\n}\n");
    assert_int_equal(cfg->error_count, 0);
    assert_int_equal(cfg->count, 3);
    assert_string_equal(cs_config_find(cfg, "AwsProd")->name, "AwsProd");
    assert_string_equal(cs_config_find(cfg, "awsprod")->name, "awsprod");
    assert_string_equal(cs_config_find(cfg, "aws_Dev")->name, "aws_Dev");
    assert_null(cs_config_find(cfg, "AWSPROD"));
    cs_config_destroy(&cfg);

    s_expect_error("connection \"Bad-1\" {\n  plugin = \"p\"\n}\n", 1, 12,
                   "invalid connection name \"Bad-1\"");
    s_expect_error("connection \"pg_x\" {\n  plugin = \"p\"\n}\n", 1, 12, "reserved");
    s_expect_error("connection {\n  plugin = \"p\"\n}\n", 1, 1, "exactly one label");
    s_expect_error("connection \"a\" \"b\" {\n  plugin = \"p\"\n}\n", 1, 1, "exactly one label");
}

static void test_top_level_errors(void **state)
{
    (void)state;
    s_expect_error("plugin = \"aws\"\n", 1, 1, "unexpected attribute \"plugin\" at the top level");
    s_expect_error(
        "conection \"a\" {\n  plugin = \"p\"\n}\n", 1, 1,
        "unknown block type \"conection\": expected connection, plugin, options or workspace");
    s_expect_error("connection \"a\" {\n  plugin = \"p\"\n  x = 1\n  x {}\n}\n", 4, 3,
                   "\"x\" is both an attribute (at line 3) and a block");
    s_expect_error("connection \"a\" {\n  plugin = \"p\"\n  o \"l\" {\n    _labels = 1\n  }\n}\n",
                   4, 5, "\"_labels\" is reserved");
    /* inside a secret-named block, names are part of the secret: not quoted */
    s_expect_error("connection \"a\" {\n  plugin = \"p\"\n  credentials {\n    hunter2 = 1\n"
                   "    hunter2 {}\n  }\n}\n",
                   5, 5, "a name (not shown: secret) is both an attribute (at line 4) and a block");
}

/* A file as Steampipe users write it: a plugin instance, options and a workspace beside the
 * connections. None of them costs the file its connections. */
static void test_steampipe_blocks_keep_connections(void **state)
{
    (void)state;
    cs_config_t *cfg =
        s_load("plugin \"aws_high\" {\n  source = \"aws\"\n  memory_max_mb = 2048\n}\n"
               "options \"connection\" {\n  cache = true\n  cache_ttl = 300\n}\n"
               "options \"database\" {\n  port = 9193\n"
               "  search_path_prefix = [\"aws_prod\"]\n}\n"
               "workspace \"dev\" {\n  install_dir = \"~/x\"\n}\n"
               "connection \"aws_prod\" {\n  plugin = \"aws\"\n}\n"
               "connection \"aws_dev\" {\n  plugin = \"aws\"\n}\n");
    assert_int_equal(cfg->error_count, 0);
    assert_int_equal(cfg->count, 2);
    assert_true(cfg->database.search_path_prefix.set);
    assert_int_equal(cfg->database.search_path_prefix.count, 1);
    assert_string_equal(cfg->database.search_path_prefix.items[0], "aws_prod");
    assert_int_equal(cfg->database.search_path_prefix.line, 11);
    assert_false(cfg->database.search_path.set);
    assert_false(cfg->database.uncertain);
    /* what is not honoured is reported with its line */
    bool port = false, workspace = false, cache = false;
    for (size_t i = 0; i < cfg->ignored_count; i++) {
        const cs_config_ignored_t *g = &cfg->ignored[i];
        port |= g->line == 10 && strstr(g->what, "port") != NULL;
        workspace |= g->line == 13 && strstr(g->what, "workspace \"dev\"") != NULL;
        cache |= g->line == 5 && strstr(g->what, "options \"connection\"") != NULL;
    }
    assert_true(port && workspace && cache);
    cs_config_destroy(&cfg);

    s_expect_error("options \"database\" {\n  search_path = 9193\n}\n", 2, 17,
                   "search_path must be a list of schema names");
    s_expect_error("options \"database\" {\n  search_path = \"aws,,gcp\"\n}\n", 2, 17,
                   "search_path holds schema names of 1 to 63 bytes");
    /* Steampipe's default.spc writes these as one comma-separated string */
    cfg = s_load("options \"database\" {\n  search_path        = \"aws,azure, gcp\"  # exact\n"
                 "  search_path_prefix = \"aws\"\n  cache = true\n}\n");
    assert_int_equal(cfg->error_count, 0);
    assert_int_equal(cfg->database.search_path.count, 3);
    assert_string_equal(cfg->database.search_path.items[0], "aws");
    assert_string_equal(cfg->database.search_path.items[2], "gcp");
    assert_int_equal(cfg->database.search_path_prefix.count, 1);
    cs_config_destroy(&cfg);
    s_expect_error("options {\n}\n", 1, 1, "an options block has one label");
    /* a broken file that declares database options makes them uncertain, not unset */
    cfg = s_load("options \"database\" {\n  search_path = [\"a\"\n}\n");
    assert_true(cfg->database.uncertain);
    assert_false(cfg->database.search_path.set);
    cs_config_destroy(&cfg);
}

static void test_file_with_error_loads_nothing(void **state)
{
    (void)state;
    cs_config_t *cfg = s_load("connection \"good\" {\n  plugin = \"p\"\n}\n"
                              "connection \"bad\" {\n  type = \"x\"\n}\n");
    assert_int_equal(cfg->count, 0);
    assert_int_equal(cfg->failed_count, 1);
    assert_string_equal(cfg->failed[0].path, "t.spc");
    assert_int_equal(cfg->failed[0].name_count, 2); /* both names are kept, not deleted */
    assert_true(cs_config_name_failed(cfg, "good"));
    assert_true(cs_config_name_failed(cfg, "bad"));
    assert_false(cs_config_name_failed(cfg, "other"));
    assert_non_null(cs_config_file_error(cfg, "t.spc"));
    assert_null(cs_config_file_error(cfg, "u.spc"));
    cs_config_destroy(&cfg);

    /* a syntax error: the names are still read from the text */
    cfg = s_load("connection \"one\" {\n  plugin = \"p\"\n}\n  connection  \"two\" {\n"
                 "  plugin = \"p\n}\nconnection \"Not-Valid\" {}\nconnection \"AwsProd\" {}\n");
    assert_int_equal(cfg->count, 0);
    assert_int_equal(cfg->failed[0].name_count, 3); /* a mixed-case name is kept too */
    assert_true(cs_config_name_failed(cfg, "one"));
    assert_true(cs_config_name_failed(cfg, "two"));
    assert_true(cs_config_name_failed(cfg, "AwsProd"));
    assert_int_equal(cfg->errors[0].line, 5);
    cs_config_destroy(&cfg);
}

static void test_duplicate_in_one_file(void **state)
{
    (void)state;
    s_expect_error("connection \"a\" {\n  plugin = \"p\"\n}\nconnection \"a\" {\n"
                   "  plugin = \"q\"\n}\n",
                   4, 12, "connection \"a\" is already defined at t.spc:1:12");
}

static const char *s_fingerprint(cs_config_t **cfg_p, const char *file, const char *text)
{
    cs_config_destroy(cfg_p);
    *cfg_p = cs_config_load_text(file, text, strlen(text));
    assert_non_null(*cfg_p);
    assert_int_equal((*cfg_p)->error_count, 0);
    return cs_config_find(*cfg_p, "c")->fingerprint;
}

static void test_fingerprints(void **state)
{
    (void)state;
    cs_config_t *cfg = NULL;
    char base[17];
    strcpy(base, s_fingerprint(&cfg, "a.spc",
                               "connection \"c\" {\n  plugin = \"p\"\n  a = 1\n  b = [\"x\"]\n"
                               "  o {\n k = 1\n j = 2\n }\n}\n"));
    /* unchanged: whitespace, comments, attribute and key order, another file, defaults */
    assert_string_equal(s_fingerprint(&cfg, "a.spc",
                                      "# comment\nconnection   \"c\"{\n b=[ \"x\", ]\n"
                                      "      a  =  1 // one\n plugin=\"p\"\n"
                                      " o {\n j = 2\n k = 1\n }\n}\n"),
                        base);
    assert_string_equal(s_fingerprint(&cfg, "elsewhere.spc",
                                      "connection \"other\" {\n plugin = \"z\"\n}\n"
                                      "connection \"c\" {\n  plugin = \"p\"\n  a = 1\n"
                                      "  b = [\"x\"]\n  o {\n k = 1\n j = 2\n }\n"
                                      "  type = \"plugin\"\n  import_schema = \"enabled\"\n}\n"),
                        base);
    /* changed: a value, a list element, a nested value, the plugin, the type, the import */
    const char *changed[] = {
        "connection \"c\" {\n plugin = \"p\"\n a = 2\n b = [\"x\"]\n o {\n k = 1\n j = 2\n }\n}\n",
        "connection \"c\" {\n plugin = \"p\"\n a = 1\n b = [\"y\"]\n o {\n k = 1\n j = 2\n }\n}\n",
        "connection \"c\" {\n plugin = \"p\"\n a = 1\n b = [\"x\"]\n o {\n k = 1\n j = 3\n }\n}\n",
        "connection \"c\" {\n plugin = \"q\"\n a = 1\n b = [\"x\"]\n o {\n k = 1\n j = 2\n }\n}\n",
        "connection \"c\" {\n plugin = \"p\"\n a = 1.0\n b = [\"x\"]\n o {\n k = 1\n j = 2\n "
        "}\n}\n",
        "connection \"c\" {\n plugin = \"p\"\n a = \"1\"\n b = [\"x\"]\n o {\n k = 1\n j = 2\n "
        "}\n}\n",
        "connection \"c\" {\n plugin = \"p\"\n a = 1\n b = [\"x\"]\n o \"l\" {\n k = 1\n j = 2\n "
        "}\n}\n",
        "connection \"c\" {\n plugin = \"p\"\n a = 1\n b = [\"x\"]\n o {\n k = 1\n j = 2\n }\n"
        " import_schema = \"disabled\"\n}\n",
        "connection \"c\" {\n plugin = \"p\"\n a = 1\n b = [\"x\"]\n o {\n k = 1\n j = 2\n }\n"
        " type = \"aggregator\"\n connections = [\"z\"]\n}\n",
    };
    for (size_t i = 0; i < sizeof changed / sizeof *changed; i++) {
        const char *fp = s_fingerprint(&cfg, "a.spc", changed[i]);
        if (strcmp(fp, base) == 0)
            fail_msg("fingerprint unchanged for variant %zu", i);
    }
    cs_config_destroy(&cfg);
}

/* ---- directories ----------------------------------------------------------------------- */

static char s_dir[64];

static void s_write(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int s_dir_setup(void **state)
{
    (void)state;
    strcpy(s_dir, "/tmp/connstate-cfgtest.XXXXXX");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int s_dir_teardown(void **state)
{
    (void)state;
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", s_dir);
    return system(command) == 0 ? 0 : -1;
}

static void test_directory(void **state)
{
    (void)state;
    s_write("b.spc", "connection \"from_b\" {\n  plugin = \"p\"\n}\n");
    s_write("a.spc", "connection \"from_a\" {\n  plugin = \"p\"\n}\n"
                     "connection \"also_a\" {\n  plugin = \"p\"\n}\n");
    s_write("c.spc", "connection \"from_c\" {\n  plugin = \n}\n"); /* broken */
    s_write("d.spc", "connection \"from_a\" {\n  plugin = \"q\"\n}\n"
                     "connection \"from_d\" {\n  plugin = \"p\"\n}\n"); /* duplicate */
    s_write("notes.txt", "connection \"ignored\" {}\n");
    s_write(".hidden.spc", "connection \"hidden\" {\n  plugin = \"p\"\n}\n");
    char sub[128];
    snprintf(sub, sizeof sub, "%s/sub", s_dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(sub, sizeof sub, "%s/sub/deep.spc", s_dir);
    FILE *f = fopen(sub, "w");
    fputs("connection \"deep\" {\n  plugin = \"p\"\n}\n", f);
    fclose(f);
    snprintf(sub, sizeof sub, "%s/dir.spc", s_dir);
    assert_int_equal(mkdir(sub, 0755), 0);

    cs_config_t *cfg = cs_config_load_dir(s_dir);
    assert_non_null(cfg);
    assert_int_equal(cfg->file_count, 4);
    /* files in name order, blocks in file order; c.spc and d.spc failed */
    assert_int_equal(cfg->count, 3);
    assert_string_equal(cfg->connections[0].name, "from_a");
    assert_string_equal(cfg->connections[1].name, "also_a");
    assert_string_equal(cfg->connections[2].name, "from_b");
    assert_null(cs_config_find(cfg, "deep"));
    assert_null(cs_config_find(cfg, "hidden"));
    assert_null(cs_config_find(cfg, "from_d"));
    assert_true(cs_config_name_failed(cfg, "from_c"));
    assert_true(cs_config_name_failed(cfg, "from_d"));
    assert_int_equal(cfg->failed_count, 3); /* c.spc, d.spc, dir.spc */
    assert_int_equal(cfg->error_count, 3);
    char expect[256];
    snprintf(expect, sizeof expect, "%s/c.spc", s_dir);
    assert_string_equal(cfg->errors[0].file, expect);
    assert_int_equal(cfg->errors[0].line, 2);
    snprintf(expect, sizeof expect, "%s/d.spc", s_dir);
    assert_string_equal(cfg->errors[1].file, expect);
    snprintf(expect, sizeof expect, "connection \"from_a\" is already defined at %s/a.spc:1:12",
             s_dir);
    assert_string_equal(cfg->errors[1].message, expect);
    assert_string_equal(cfg->errors[2].message, "not a regular file");
    cs_config_destroy(&cfg);

    cfg = cs_config_load_dir("/nonexistent/connstate");
    assert_non_null(cfg);
    assert_int_equal(cfg->count, 0);
    assert_int_equal(cfg->error_count, 1);
    assert_non_null(strstr(cfg->errors[0].message, "cannot open the config directory"));
    cs_config_destroy(&cfg);
}

static void test_moving_a_block_keeps_the_fingerprint(void **state)
{
    (void)state;
    s_write("m1.spc", "connection \"mover\" {\n  plugin = \"p\"\n  x = [1, 2]\n}\n");
    char scratch[128];
    snprintf(scratch, sizeof scratch, "%s", s_dir);
    cs_config_t *before = cs_config_load_dir(scratch);
    char fp[17];
    strcpy(fp, cs_config_find(before, "mover")->fingerprint);
    cs_config_destroy(&before);
    char path[256];
    snprintf(path, sizeof path, "%s/m1.spc", s_dir);
    unlink(path);
    s_write("zz.spc",
            "\n\n# moved here\nconnection \"mover\" {\n  x = [1,2]\n  plugin = \"p\"\n}\n");
    cs_config_t *after = cs_config_load_dir(scratch);
    const cs_connection_t *moved = cs_config_find(after, "mover");
    assert_non_null(moved);
    assert_string_equal(moved->fingerprint, fp);
    assert_int_equal(moved->start_line, 4);
    cs_config_destroy(&after);
}

static void test_reload_parses_only_changed_files(void **state)
{
    (void)state;
    s_write("r1.spc", "connection \"one\" {\n  plugin = \"p\"\n}\n");
    s_write("r2.spc", "connection \"two\" {\n  plugin = \"p\"\n  x = 1\n}\n");
    s_write("r3.spc", "connection \"three\" {\n  plugin = \"p\"\n}\n");
    cs_config_t *first = cs_config_load_dir(s_dir);
    assert_int_equal(first->unit_count, 3);
    cs_config_t *unit1 = first->units[0], *unit2 = first->units[1];
    char fp2[17];
    strcpy(fp2, cs_config_find(first, "two")->fingerprint);

    /* change r2 (a different size, so that coarse timestamps cannot hide it), drop r3, add r4 */
    s_write("r2.spc", "connection \"two\" {\n  plugin = \"p\"\n  x = 22\n}\n");
    char path[256];
    snprintf(path, sizeof path, "%s/r3.spc", s_dir);
    unlink(path);
    s_write("r4.spc", "connection \"four\" {\n  plugin = \"p\"\n}\n");
    cs_config_t *second = cs_config_reload_dir(s_dir, first);
    assert_int_equal(second->unit_count, 3);
    assert_ptr_equal(second->units[0], unit1); /* unchanged: reused, not parsed */
    assert_null(first->units[0]);              /* ... and moved out of the old result */
    assert_ptr_not_equal(second->units[1], unit2);
    assert_string_not_equal(cs_config_find(second, "two")->fingerprint, fp2);
    assert_non_null(cs_config_find(second, "one"));
    assert_non_null(cs_config_find(second, "four"));
    assert_null(cs_config_find(second, "three"));
    cs_config_destroy(&first); /* frees what was not reused; the second stays valid */
    assert_string_equal(cs_config_find(second, "one")->plugin, "p");

    /* a duplicate across a reused file and a new one still fails the later file */
    s_write("r5.spc", "connection \"one\" {\n  plugin = \"q\"\n}\n");
    cs_config_t *third = cs_config_reload_dir(s_dir, second);
    assert_int_equal(third->error_count, 1);
    assert_non_null(strstr(third->errors[0].message, "already defined"));
    assert_true(cs_config_name_failed(third, "one"));
    assert_string_equal(cs_config_find(third, "one")->plugin, "p");
    cs_config_destroy(&second);
    cs_config_destroy(&third);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_connection),
        cmocka_unit_test(test_the_issue_example),
        cmocka_unit_test(test_config_json_values),
        cmocka_unit_test(test_plugin_rules),
        cmocka_unit_test(test_type_and_members),
        cmocka_unit_test(test_import_schema),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_file_names),
        cmocka_unit_test(test_top_level_errors),
        cmocka_unit_test(test_file_with_error_loads_nothing),
        cmocka_unit_test(test_duplicate_in_one_file),
        cmocka_unit_test(test_fingerprints),
        cmocka_unit_test(test_steampipe_blocks_keep_connections),
        cmocka_unit_test_setup_teardown(test_directory, s_dir_setup, s_dir_teardown),
        cmocka_unit_test_setup_teardown(test_moving_a_block_keeps_the_fingerprint, s_dir_setup,
                                        s_dir_teardown),
        cmocka_unit_test_setup_teardown(test_reload_parses_only_changed_files, s_dir_setup,
                                        s_dir_teardown),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
