/* Unit tests of connection semantics, fingerprints and the directory loader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
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
    s_expect_error("connection \"c\" {\n  plugin = \"\"\n}\n", 2, 12, "1 to 512 bytes");
    s_expect_error("connection \"c\" {\n  plugin = \"turbot/aWS\"\n}\n", 2, 12, "only lowercase");
    s_expect_error("connection \"c\" {\n  plugin = \"a//b\"\n}\n", 2, 12,
                   "no empty, '.' or '..' part");
    s_expect_error("connection \"c\" {\n  plugin = \"/b\"\n}\n", 2, 12,
                   "no empty, '.' or '..' part");
    s_expect_error("connection \"c\" {\n  plugin = \"b/\"\n}\n", 2, 12,
                   "no empty, '.' or '..' part");
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
    /* members as connection names are written: either case */
    cs_config_t *cfg = s_load_one("connection \"c\" {\n  plugin = \"p\"\n  type = \"aggregator\"\n"
                                  "  connections = [\"AwsProd\", \"Aws_*\"]\n}\n");
    assert_int_equal(cfg->connections[0].member_count, 2);
    assert_string_equal(cfg->connections[0].members[0], "AwsProd");
    cs_config_destroy(&cfg);
    cfg = s_load_one("connection \"c\" {\n  plugin = \"p\"\n  type = \"plugin\"\n}\n");
    assert_false(cfg->connections[0].aggregator);
    cs_config_destroy(&cfg);
}

/* An aggregator's members as configured: matched by name and glob, of its plugin or its
 * plugin instance, never an aggregator. */
static void test_members_of_an_aggregator(void **state)
{
    (void)state;
    cs_config_t *cfg =
        s_load("plugin \"hi\" {\n  source = \"aws@^1\"\n}\n"
               "connection \"aws_a\" {\n  plugin = \"aws\"\n}\n"
               "connection \"aws_i\" {\n  plugin = plugin.hi\n}\n"
               "connection \"aws_g\" {\n  plugin = \"gcp\"\n}\n"
               "connection \"Legacy\" {\n  plugin = \"aws\"\n}\n"
               "connection \"all\" {\n  plugin = \"aws\"\n  type = \"aggregator\"\n"
               "  connections = [\"aws_*\", \"Legacy\", \"a*\"]\n}\n"
               "connection \"inst\" {\n  plugin = plugin.hi\n  type = \"aggregator\"\n"
               "  connections = [\"*\"]\n}\n");
    assert_int_equal(cfg->error_count, 0);
    const cs_connection_t *all = cs_config_find(cfg, "all"), *inst = cs_config_find(cfg, "inst");
    assert_true(cs_config_member_of(all, cs_config_find(cfg, "aws_a")));
    assert_true(cs_config_member_of(all, cs_config_find(cfg, "aws_i")));  /* an instance of aws */
    assert_false(cs_config_member_of(all, cs_config_find(cfg, "aws_g"))); /* another plugin */
    assert_true(cs_config_member_of(all, cs_config_find(cfg, "Legacy"))); /* an exact name */
    assert_false(cs_config_member_of(all, all));                          /* not itself */
    assert_false(cs_config_member_of(all, inst));                         /* no aggregator */
    assert_true(cs_config_member_of(inst, cs_config_find(cfg, "aws_i")));
    assert_false(cs_config_member_of(inst, cs_config_find(cfg, "aws_a"))); /* not that instance */
    assert_true(cs_config_entry_match(all, "aws_gone"));
    assert_false(cs_config_entry_match(all, "legacy")); /* names are case-sensitive */
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

/* ---- plugin references and instances --------------------------------------------------- */

static bool s_ignored(const cs_config_t *cfg, int line, const char *what)
{
    for (size_t i = 0; i < cfg->ignored_count; i++)
        if (cfg->ignored[i].line == line && strstr(cfg->ignored[i].what, what))
            return true;
    return false;
}

/* plugin = "..." as Steampipe users write it: each resolves to the short name of an
 * executable, with the version after '@' as its constraint (none for latest). */
static void test_plugin_references(void **state)
{
    (void)state;
    static const struct {
        const char *written, *plugin, *constraint;
    } refs[] = {
        {"aws", "aws", NULL},
        {"turbot/aws", "aws", NULL},
        {"theapsgroup/gitlab", "gitlab", NULL},
        {"csv@0.5.0", "csv", "0.5.0"},
        {"csv@v0.5.0", "csv", "0.5.0"},
        {"turbot/csv@^0.5", "csv", "^0.5"},
        {"hub.steampipe.io/plugins/turbot/aws@latest", "aws", NULL},
        {"ghcr.io/turbot/steampipe/plugins/turbot/aws@~0.118.1", "aws", "~0.118.1"},
        {"local/oci", "oci", NULL},
        {"aws@>=0.5, <1.0", "aws", ">=0.5, <1.0"},
    };
    for (size_t i = 0; i < sizeof refs / sizeof *refs; i++) {
        char text[256];
        snprintf(text, sizeof text, "connection \"c\" {\n  plugin = \"%s\"\n}\n", refs[i].written);
        cs_config_t *cfg = s_load_one(text);
        const cs_connection_t *c = &cfg->connections[0];
        assert_string_equal(c->plugin, refs[i].plugin);
        assert_string_equal(c->plugin_written, refs[i].written);
        if (refs[i].constraint)
            assert_string_equal(c->plugin_constraint, refs[i].constraint);
        else
            assert_null(c->plugin_constraint);
        assert_null(c->instance);
        cs_config_destroy(&cfg);
    }
    s_expect_error("connection \"c\" {\n  plugin = \"csv@^y\"\n}\n", 2, 12,
                   "invalid plugin \"csv@^y\": a version is MAJOR");
    s_expect_error("connection \"c\" {\n  plugin = \"csv@\"\n}\n", 2, 12,
                   "an empty version constraint");
    s_expect_error("connection \"c\" {\n  plugin = \"csv 1\"\n}\n", 2, 12,
                   "a plugin reference holds letters");
    s_expect_error("connection \"c\" {\n  plugin = var.x\n}\n", 2, 12,
                   "a reference names a plugin instance, plugin.LABEL");
    s_expect_error("connection \"c\" {\n  plugin = plugin.a.b\n}\n", 2, 12,
                   "a reference names a plugin instance");

    /* the same plugin written two ways is one identity; a constraint is part of it */
    cs_config_t *a = s_load_one("connection \"c\" {\n  plugin = \"aws\"\n}\n");
    cs_config_t *b = s_load_one("connection \"c\" {\n  plugin = \"turbot/aws@latest\"\n}\n");
    cs_config_t *v = s_load_one("connection \"c\" {\n  plugin = \"aws@0.5.0\"\n}\n");
    assert_string_equal(a->connections[0].fingerprint, b->connections[0].fingerprint);
    assert_string_not_equal(a->connections[0].fingerprint, v->connections[0].fingerprint);
    cs_config_destroy(&a);
    cs_config_destroy(&b);
    cs_config_destroy(&v);
}

/* Steampipe's aws.spc with a plugin block, and an instance referenced by name. */
static void test_plugin_instances(void **state)
{
    (void)state;
    cs_config_t *cfg = s_load("plugin \"aws\" {\n"               /* 1 */
                              "  memory_max_mb = 2048\n"         /* 2 */
                              "  source        = \"aws\"\n"      /* 3 */
                              "  limiter \"aws_global\" {\n"     /* 4 */
                              "    max_concurrency = 200\n"      /* 5 */
                              "  }\n"                            /* 6 */
                              "  start_timeout = 30\n"           /* 7 */
                              "}\n"                              /* 8 */
                              "plugin \"aws_high\" {\n"          /* 9 */
                              "  source = \"turbot/aws@^0.5\"\n" /* 10 */
                              "  env = { AWS_PROFILE = \"prod\", AWS_MAX_ATTEMPTS = \"9\" }\n"
                              "}\n" /* 12 */
                              "connection \"aws\" {\n  plugin = \"aws\"\n  regions = [\"*\"]\n}\n"
                              "connection \"aws_prod\" {\n  plugin = plugin.aws_high\n}\n"
                              "connection \"aws_bar\" {\n  plugin = \"aws_bar\"\n}\n");
    if (cfg->error_count)
        fail_msg("%d: %s", cfg->errors[0].line, cfg->errors[0].message);
    assert_int_equal(cfg->count, 3);
    assert_int_equal(cfg->plugin_count, 2);
    const cs_config_plugin_t *aws = &cfg->plugins[0], *high = &cfg->plugins[1];
    assert_string_equal(aws->label, "aws");
    assert_string_equal(aws->plugin, "aws");
    assert_int_equal(aws->memory_max_mb, 2048);
    assert_int_equal(aws->env_count, 0);
    assert_int_equal(aws->line, 1);
    assert_string_equal(aws->image, "hub.steampipe.io/plugins/turbot/aws@latest");
    assert_string_equal(high->source, "turbot/aws@^0.5");
    assert_string_equal(high->constraint, "^0.5");
    assert_int_equal(high->memory_max_mb, 0);
    assert_int_equal(high->env_count, 2);
    assert_string_equal(high->env[0], "AWS_PROFILE=prod");
    assert_string_equal(high->env[1], "AWS_MAX_ATTEMPTS=9");
    assert_true(s_ignored(cfg, 4, "plugin \"aws\": limiter \"aws_global\""));
    assert_true(s_ignored(cfg, 7, "plugin \"aws\": start_timeout"));

    /* a string whose source is exactly one instance's is that instance (as Steampipe) */
    const cs_connection_t *c = cs_config_find(cfg, "aws");
    assert_ptr_equal(c->instance, aws);
    assert_string_equal(c->plugin, "aws");
    /* plugin.LABEL is the instance, its plugin and constraint */
    c = cs_config_find(cfg, "aws_prod");
    assert_ptr_equal(c->instance, high);
    assert_string_equal(c->plugin, "aws");
    assert_string_equal(c->plugin_written, "plugin.aws_high");
    assert_string_equal(c->plugin_constraint, "^0.5");
    assert_int_equal(strlen(c->fingerprint), 16);
    /* a string equal to an instance's label is a plugin name, as in Steampipe */
    c = cs_config_find(cfg, "aws_bar");
    assert_null(c->instance);
    assert_string_equal(c->plugin, "aws_bar");
    cs_config_destroy(&cfg);

    /* two instances of one source: a string cannot choose */
    s_expect_error("plugin \"a1\" {\n  source = \"aws\"\n}\nplugin \"a2\" {\n  source = "
                   "\"turbot/aws\"\n}\nconnection \"c\" {\n  plugin = \"aws\"\n}\n",
                   8, 12,
                   "plugin \"aws\" matches 2 plugin instances (a1 at t.spc:1, a2 at t.spc:4)");
    s_expect_error("connection \"c\" {\n  plugin = plugin.nope\n}\n", 2, 12,
                   "connection \"c\": plugin.nope is not defined");
}

static void test_plugin_instance_errors(void **state)
{
    (void)state;
    s_expect_error("plugin \"x\" {\n  memory_max_mb = 1\n}\n", 1, 1,
                   "plugin \"x\" has no source: add source = \"aws\"");
    s_expect_error("plugin \"x\" {\n  source = 3\n}\n", 2, 12, "source must be a string");
    s_expect_error("plugin \"x\" {\n  source = \"../x\"\n}\n", 2, 12, "invalid source \"../x\"");
    s_expect_error("plugin \"x\" {\n  source = \"aws\"\n  memory_max_mb = 0\n}\n", 3, 19,
                   "memory_max_mb must be a whole number of MiB from 1 to 1048576");
    s_expect_error("plugin \"x\" {\n  source = \"aws\"\n  memory_max_mb = \"2048\"\n}\n", 3, 19,
                   "memory_max_mb must be a whole number");
    s_expect_error("plugin \"x\" {\n  source = \"aws\"\n  memory_max_mb = 1.5\n}\n", 3, 19,
                   "memory_max_mb must be a whole number");
    s_expect_error("plugin \"x\" {\n  source = \"aws\"\n  env = [\"A=b\"]\n}\n", 3, 9,
                   "env must be an object of strings");
    s_expect_error("plugin \"x\" {\n  source = \"aws\"\n  env = { A = 1 }\n}\n", 3, 15,
                   "env: A must be a string");
    s_expect_error("plugin \"x\" {\n  source = \"aws\"\n  env = { \"A-B\" = \"1\" }\n}\n", 3, 11,
                   "env: \"A-B\" is not an environment variable name");
    s_expect_error("plugin \"x\" {\n  source = \"aws\"\n}\nplugin \"x\" {\n  source = \"csv\"\n}\n",
                   4, 1, "plugin \"x\" is already defined at t.spc:1");
    s_expect_error("plugin {\n  source = \"aws\"\n}\n", 1, 1, "a plugin block has one label");
    s_expect_error("plugin \"a b\" {\n  source = \"aws\"\n}\n", 1, 1,
                   "a plugin block has one label");
    /* options "plugin": a default memory limit for every plugin run */
    cs_config_t *opts =
        s_load("options \"plugin\" {\n  memory_max_mb = 1024\n  start_timeout = 30\n}\n");
    assert_int_equal(opts->error_count, 0);
    assert_int_equal(opts->plugin_memory_max_mb, 1024);
    assert_int_equal(opts->plugin_options_line, 2);
    assert_true(s_ignored(opts, 3, "options \"plugin\": start_timeout"));
    cs_config_destroy(&opts);
    s_expect_error("options \"plugin\" {\n  memory_max_mb = -1\n}\n", 2, 19,
                   "memory_max_mb must be a whole number of MiB");
    s_expect_error("options \"plugin\" {\n  memory_max_mb = 1\n}\noptions \"plugin\" {\n  "
                   "memory_max_mb = 2\n}\n",
                   5, 3, "memory_max_mb is already set at line 2");
    /* a file with a bad instance loads none of its instances either */
    cs_config_t *cfg = s_load("plugin \"good\" {\n  source = \"aws\"\n}\n"
                              "plugin \"bad\" {\n  memory_max_mb = 1\n}\n");
    assert_int_equal(cfg->plugin_count, 0);
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

/* Blocks of one type join one array in written order, under the place of the first, also
 * when other items come between them. */
static void test_blocks_grouped_by_type(void **state)
{
    (void)state;
    cs_config_t *cfg = s_load_one("connection \"c\" {\n  plugin = \"p\"\n"
                                  "  b { x = 1 }\n  a = 2\n  c \"l\" { y = 3 }\n  b { x = 4 }\n"
                                  "  c { }\n  b { x = 5 }\n}\n");
    assert_string_equal(cfg->connections[0].config_json,
                        "{\"b\":[{\"x\":1},{\"x\":4},{\"x\":5}],\"a\":2,"
                        "\"c\":[{\"_labels\":[\"l\"],\"y\":3},{}]}");
    cs_config_destroy(&cfg);
    /* an attribute named like blocks: the error is at the first of them */
    s_expect_error("connection \"c\" {\n  plugin = \"p\"\n  z { }\n  y { }\n  y { }\n  y = 1\n}\n",
                   4, 3, "\"y\" is both an attribute (at line 6) and a block");
}

/* CPU seconds this process has used. */
static double s_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Loads one connection of count body items, each written by item; fails when the load
 * takes more than 5 CPU seconds (quadratic checks took 15 s and over 60 s; linear ones
 * take about 0.2 s, under sanitizers about 1 s). */
static void s_load_big_body(int count, const char *item)
{
    size_t cap = (size_t)count * 32 + 64, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    len += (size_t)snprintf(text, cap, "connection \"big\" {\n  plugin = \"p\"\n");
    for (int i = 0; i < count; i++)
        len += (size_t)snprintf(text + len, cap - len, item, i);
    len += (size_t)snprintf(text + len, cap - len, "}\n");
    double start = s_cpu_seconds();
    cs_config_t *cfg = cs_config_load_text("t.spc", text, len);
    double took = s_cpu_seconds() - start;
    assert_non_null(cfg);
    assert_int_equal(cfg->error_count, 0);
    assert_int_equal(cfg->count, 1);
    if (took > 5.0)
        fail_msg("%d items \"%s\" took %.1f CPU seconds", count, item, took);
    cs_config_destroy(&cfg);
    free(text);
}

static void test_big_bodies_load_in_linear_time(void **state)
{
    (void)state;
    s_load_big_body(100000, "  a%d = 1\n");
    s_load_big_body(100000, "  b%d { x = 1 }\n");
}

/* Steampipe's other blocks in bulk: 10,000 plugin blocks (the most a file may hold; they took
 * 15 CPU seconds for 57,000 when each looked for its label among the ones before), one more
 * fails the file; 200,000 ignored settings in options "database" are listed up to 100 and
 * counted after (every one was kept: 12 bytes per byte of file). */
static void test_settings_in_bulk(void **state)
{
    (void)state;
    size_t cap = 12000 * 48 + 64, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (int i = 0; i < CS_CONFIG_MAX_PLUGINS; i++)
        len +=
            (size_t)snprintf(text + len, cap - len, "plugin \"p%d\" {\n  source = \"aws\"\n}\n", i);
    double start = s_cpu_seconds();
    cs_config_t *cfg = cs_config_load_text("t.spc", text, len);
    double took = s_cpu_seconds() - start;
    assert_non_null(cfg);
    assert_int_equal(cfg->error_count, 0);
    assert_int_equal(cfg->plugin_count, CS_CONFIG_MAX_PLUGINS);
    if (took > 5.0)
        fail_msg("%d plugin blocks took %.1f CPU seconds", CS_CONFIG_MAX_PLUGINS, took);
    cs_config_destroy(&cfg);
    len +=
        (size_t)snprintf(text + len, cap - len, "plugin \"one_more\" {\n  source = \"aws\"\n}\n");
    cfg = cs_config_load_text("t.spc", text, len);
    assert_non_null(cfg);
    assert_int_equal(cfg->error_count, 1);
    assert_non_null(strstr(cfg->errors[0].message, "more than 10000 plugin blocks"));
    cs_config_destroy(&cfg);
    free(text);

    cap = 200000 * 16 + 64;
    text = malloc(cap);
    assert_non_null(text);
    len = (size_t)snprintf(text, cap, "options \"database\" {\n");
    for (int i = 0; i < 200000; i++)
        len += (size_t)snprintf(text + len, cap - len, "  a%d = 1\n", i);
    len += (size_t)snprintf(text + len, cap - len, "}\nconnection \"c\" {\n  plugin = \"p\"\n}\n");
    cfg = cs_config_load_text("t.spc", text, len);
    assert_non_null(cfg);
    assert_int_equal(cfg->error_count, 0);
    assert_int_equal(cfg->count, 1);
    assert_int_equal(cfg->ignored_count, CS_CONFIG_MAX_IGNORED + 1);
    assert_non_null(
        strstr(cfg->ignored[CS_CONFIG_MAX_IGNORED].what, "and 199900 more ignored settings"));
    assert_int_equal(cfg->ignored[CS_CONFIG_MAX_IGNORED].line, 200001);
    cs_config_destroy(&cfg);
    free(text);
}

/* Loads one connection of about size bytes of body items, each written by item from its
 * index, and returns the bytes of its arena (everything the load keeps) per byte of text:
 * the same on every machine. */
static double s_arena_per_byte(size_t size, const char *item)
{
    char *text = malloc(size + 256);
    assert_non_null(text);
    size_t len = (size_t)snprintf(text, size, "connection \"big\" {\n  plugin = \"p\"\n");
    for (int i = 0; len < size; i++)
        len += (size_t)snprintf(text + len, size + 256 - len, item, i, i % 10);
    len += (size_t)snprintf(text + len, size + 256 - len, "}\n");
    cs_config_t *cfg = cs_config_load_text("t.spc", text, len);
    assert_non_null(cfg);
    assert_int_equal(cfg->error_count, 0);
    assert_int_equal(cfg->count, 1);
    double ratio = (double)cs_arena_bytes(cfg->arena) / (double)len;
    cs_config_destroy(&cfg);
    free(text);
    return ratio;
}

/* The densest shapes of a file in memory (2 MiB of each): what the load keeps is under 10
 * bytes per byte of text, the bound of a load's peak (a file of distinct block types took
 * 12.3 bytes per byte in its arena alone before nodes were cut to what they use). */
static void test_dense_bodies_stay_small(void **state)
{
    (void)state;
    static const struct {
        const char *name, *item;
    } shapes[] = {{"attributes", "  a%d = %d\n"}, {"block types", "  b%d { x = %d }\n"}};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        double ratio = s_arena_per_byte(2u << 20, shapes[i].item);
        print_message("%s: %.2f bytes of arena per byte of file\n", shapes[i].name, ratio);
        if (ratio >= 10.0)
            fail_msg("%s: %.2f bytes of arena per byte of file (under 10)", shapes[i].name, ratio);
    }
}

/* A file that starts with a byte-order mark loads; broken, it still names its connections. */
static void test_byte_order_mark_file(void **state)
{
    (void)state;
    cs_config_t *cfg = s_load_one("\xEF\xBB\xBF"
                                  "connection \"a\" {\n  plugin = \"p\"\n}\n");
    assert_string_equal(cfg->connections[0].name, "a");
    assert_int_equal(cfg->connections[0].start_line, 1);
    cs_config_destroy(&cfg);
    cfg = s_load("\xEF\xBB\xBF"
                 "connection \"b\" {\n  plugin =\n}\n");
    assert_int_equal(cfg->count, 0);
    assert_true(cs_config_name_failed(cfg, "b"));
    cs_config_destroy(&cfg);
}

/* A file of many errors keeps the first CS_CONFIG_MAX_ERRORS and says how many followed. */
static void test_errors_per_file_are_capped(void **state)
{
    (void)state;
    char text[4096] = "";
    for (int i = 0; i < 150; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "a%d = 1\n", i);
    cs_config_t *cfg = s_load(text);
    assert_int_equal(cfg->error_count, CS_CONFIG_MAX_ERRORS + 1);
    assert_non_null(strstr(cfg->errors[0].message, "unexpected attribute \"a0\""));
    const cs_config_error_t *last = &cfg->errors[CS_CONFIG_MAX_ERRORS];
    assert_string_equal(last->message,
                        "and 50 more errors (only the first 100 of a file are shown)");
    assert_int_equal(last->line, 150);
    cs_config_destroy(&cfg);
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

/* The bytes a config holds in its arenas: its own and its units'. */
static size_t s_config_bytes(const cs_config_t *cfg)
{
    size_t bytes = cs_arena_bytes(cfg->arena);
    for (size_t i = 0; i < cfg->unit_count; i++) {
        bytes += cs_arena_bytes(cfg->units[i]->arena);
        if (cfg->units[i]->connections_owned)
            bytes += cfg->units[i]->count * sizeof(cs_connection_t);
    }
    return bytes;
}

/* What a directory of one file holds beyond that file's text loaded alone, per byte of file
 * (its units' connections are its own: held once). */
static double s_directory_adds(const char *text, size_t len, const cs_config_t *dir)
{
    cs_config_t *alone = cs_config_load_text("t.spc", text, len);
    assert_non_null(alone);
    assert_int_equal(alone->count, dir->count);
    double adds =
        ((double)s_config_bytes(dir) - (double)cs_arena_bytes(alone->arena)) / (double)len;
    cs_config_destroy(&alone);
    return adds;
}

/* One file of plugin instances and 2 MiB of connections using them: the directory resolves
 * them in its own array, which its unit then reads (together under 1 byte per byte of file
 * more than the file loaded alone; a copy of the connections was 2.7), and a reload that
 * reuses the unit resolves them again to the same fingerprints. */
static void test_instances_resolved_in_place(void **state)
{
    (void)state;
    size_t size = 2u << 20;
    char *text = malloc(size + 256);
    assert_non_null(text);
    size_t len = 0, count = 0;
    for (int i = 0; i < 100; i++)
        len += (size_t)snprintf(text + len, size + 256 - len,
                                "plugin \"p%d\" {\n  source = \"aws\"\n  memory_max_mb = %d\n}\n",
                                i, 1000 + i);
    while (len < size)
        len += (size_t)snprintf(text + len, size + 256 - len,
                                "connection \"c%07zu\" {\n  plugin = plugin.p%zu\n}\n", count + 1,
                                count % 100),
            count++;
    char path[4096];
    snprintf(path, sizeof path, "%s/t.spc", s_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    cs_config_t *cfg = cs_config_load_dir(s_dir);
    assert_non_null(cfg);
    assert_int_equal(cfg->error_count, 0);
    assert_int_equal(cfg->count, count);
    double ratio = s_directory_adds(text, len, cfg);
    free(text);
    print_message("instances: a directory adds %.2f bytes per byte\n", ratio);
    if (ratio >= 1.0)
        fail_msg("instances: a directory adds %.2f bytes per byte of file (under 1)", ratio);
    const cs_connection_t *c = cs_config_find(cfg, "c0000007");
    assert_non_null(c);
    assert_int_equal(c->memory_max_mb, 1006);
    char before[17];
    strcpy(before, c->fingerprint);
    s_write("other.spc", "connection \"z\" {\n  plugin = \"gcp\"\n}\n");
    cs_config_t *next = cs_config_reload_dir(s_dir, cfg);
    assert_non_null(next);
    assert_false(cs_config_file_changed(next, 1)); /* t.spc (after other.spc): reused */
    assert_int_equal(next->count, count + 1);
    assert_string_equal(cs_config_find(next, "c0000007")->fingerprint, before);
    assert_string_equal(cs_config_find(cfg, "c0000007")->fingerprint, before);
    cs_config_destroy(&cfg);
    cs_config_destroy(&next);
    unlink(path);
}

/* The smallest connections, as many as fit (2 MiB of connection "cN" { plugin = "aws" }):
 * what the load keeps is under 4 bytes per byte of text (8.5 when it kept the parse tree,
 * 8.9 when each file kept a list of its names for a failure that did not come), and a
 * directory of that one file, with its unit, adds under 1 to that (it copied the unit's
 * connections and sorted them again: 3.4 more). */
static void test_tiny_connections_stay_small(void **state)
{
    (void)state;
    size_t size = 2u << 20;
    char *text = malloc(size + 256);
    assert_non_null(text);
    size_t len = 0, count = 0;
    while (len < size)
        len += (size_t)snprintf(text + len, size + 256 - len,
                                "connection \"c%07zu\" {\n  plugin = \"aws\"\n}\n", ++count);
    cs_config_t *cfg = cs_config_load_text("t.spc", text, len);
    assert_non_null(cfg);
    assert_int_equal(cfg->error_count, 0);
    assert_int_equal(cfg->count, count);
    double ratio = (double)cs_arena_bytes(cfg->arena) / (double)len;
    cs_config_destroy(&cfg);
    print_message("tiny connections: %.2f bytes of arena per byte of file\n", ratio);
    if (ratio >= 4.0)
        fail_msg("tiny connections: %.2f bytes of arena per byte of file (under 4)", ratio);
    /* the same file in a directory: its view of the unit's connections costs nothing */
    char path[4096];
    snprintf(path, sizeof path, "%s/t.spc", s_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    cfg = cs_config_load_dir(s_dir);
    assert_non_null(cfg);
    assert_int_equal(cfg->count, count);
    assert_int_equal(cfg->unit_count, 1);
    double adds = s_directory_adds(text, len, cfg);
    free(text);
    cs_config_destroy(&cfg);
    print_message("tiny connections: a directory adds %.2f bytes per byte\n", adds);
    if (adds >= 1.0)
        fail_msg("tiny connections: a directory adds %.2f bytes per byte of file (under 1)", adds);
    unlink(path);
}

/* Bytes the process holds from malloc now. */
static size_t s_heap_bytes(void)
{
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

/* A directory of 1,000 files of 10 small connections (one attribute a line, as people write
 * them) holds under 500 bytes of heap per connection once loaded, and as much after a reload
 * of one file (908 when each file kept its parse tree and each connection was held twice). */
static void test_directory_memory_per_connection(void **state)
{
    (void)state;
    enum { files = 1000, per_file = 10 };
    char name[32], text[1024];
    for (int f = 0; f < files; f++) {
        size_t len = 0;
        for (int c = 0; c < per_file; c++)
            len += (size_t)snprintf(text + len, sizeof text - len,
                                    "connection \"c_%06d\" {\n  plugin = \"synthetic\"\n  "
                                    "tables = 1\n  columns = 2\n}\n",
                                    f * per_file + c);
        snprintf(name, sizeof name, "f%05d.spc", f);
        s_write(name, text);
    }
    size_t before = s_heap_bytes();
    cs_config_t *cfg = cs_config_load_dir(s_dir);
    assert_non_null(cfg);
    assert_int_equal(cfg->count, files * per_file);
    if (s_heap_bytes() <= before) { /* a sanitizer's allocator: malloc's counts stay still */
        cs_config_destroy(&cfg);
        print_message("mallinfo2 does not count this allocator: not measured\n");
        skip();
    }
    double loaded = (double)(s_heap_bytes() - before) / (double)cfg->count;
    s_write("f00007.spc", "connection \"c_000070\" {\n  plugin = \"synthetic\"\n  tables = 2\n}\n");
    const char *touched = "f00007.spc";
    cs_config_t *next = cs_config_reload_files(s_dir, cfg, &touched, 1);
    assert_non_null(next);
    cs_config_destroy(&cfg);
    assert_int_equal(next->count, files * per_file - per_file + 1);
    double reloaded = (double)(s_heap_bytes() - before) / (double)next->count;
    cs_config_destroy(&next);
    print_message("a directory of small connections: %.0f bytes of heap per connection, %.0f after "
                  "a reload\n",
                  loaded, reloaded);
    if (loaded >= 500 || reloaded >= 500)
        fail_msg("%.0f and %.0f bytes of heap per connection after a load and a reload (under 500)",
                 loaded, reloaded);
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
    assert_string_equal(cfg->errors[2].message, "not a regular file (a directory)");
    cs_config_destroy(&cfg);

    cfg = cs_config_load_dir("/nonexistent/connstate");
    assert_non_null(cfg);
    assert_int_equal(cfg->count, 0);
    assert_int_equal(cfg->error_count, 1);
    assert_non_null(strstr(cfg->errors[0].message, "cannot open the config directory"));
    cs_config_destroy(&cfg);
}

/* An instance defined in one file and used in another; a reference to none fails only the
 * referencing file, which keeps its names; an instance defined again fails the later file. */
/* The memory limit of a connection's plugin runs: its instance's, else the default of
 * options "plugin" (in any file); it is part of the fingerprint, also when the default is
 * in another file than the connection, and changes with it on a reload. */
static void test_plugin_memory_default(void **state)
{
    (void)state;
    s_write("a.spc", "plugin \"aws_big\" {\n  source = \"aws\"\n  memory_max_mb = 4096\n}\n"
                     "connection \"big\" {\n  plugin = plugin.aws_big\n}\n"
                     "connection \"small\" {\n  plugin = \"gcp\"\n}\n"
                     "connection \"all\" {\n  plugin = \"gcp\"\n  type = \"aggregator\"\n"
                     "  connections = [\"*\"]\n}\n");
    s_write("default.spc", "options \"plugin\" {\n  memory_max_mb = 1024\n}\n");
    cs_config_t *cfg = cs_config_load_dir(s_dir);
    assert_non_null(cfg);
    assert_int_equal(cfg->error_count, 0);
    assert_int_equal(cs_config_find(cfg, "big")->memory_max_mb, 4096);
    assert_int_equal(cs_config_find(cfg, "small")->memory_max_mb, 1024);
    assert_int_equal(cs_config_find(cfg, "all")->memory_max_mb, 0); /* runs no plugin */
    char before[17];
    strcpy(before, cs_config_find(cfg, "small")->fingerprint);

    /* the default changes in its own file: a.spc is reused, its fingerprint is not */
    s_write("default.spc", "options \"plugin\" {\n  memory_max_mb = 2048    \n}\n");
    cs_config_t *next = cs_config_reload_dir(s_dir, cfg);
    assert_non_null(next);
    assert_int_equal(cs_config_find(next, "small")->memory_max_mb, 2048);
    assert_string_not_equal(cs_config_find(next, "small")->fingerprint, before);
    /* the previous load still reads what it loaded: the reused unit's connections, which
     * the new directory reads too, are copied before they change, not changed */
    assert_int_equal(cs_config_find(cfg, "small")->memory_max_mb, 1024);
    assert_string_equal(cs_config_find(cfg, "small")->fingerprint, before);
    cs_config_destroy(&cfg);

    /* without a default: no limit, and the fingerprint of a plain connection */
    char path[300];
    snprintf(path, sizeof path, "%s/default.spc", s_dir);
    assert_int_equal(unlink(path), 0);
    cs_config_t *last = cs_config_reload_dir(s_dir, next);
    assert_int_equal(cs_config_find(last, "small")->memory_max_mb, 0);
    cs_config_t *plain = s_load("connection \"small\" {\n  plugin = \"gcp\"\n}\n");
    assert_string_equal(cs_config_find(last, "small")->fingerprint,
                        cs_config_find(plain, "small")->fingerprint);
    cs_config_destroy(&plain);
    cs_config_destroy(&next);
    cs_config_destroy(&last);

    /* an instance's env past what a task carries fails its file, values unquoted */
    static char text[8192];
    char value[5000];
    memset(value, '7', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    snprintf(text, sizeof text,
             "plugin \"x\" {\n  source = \"aws\"\n  env = { A = \"%s\" }\n}\n"
             "connection \"c\" {\n  plugin = plugin.x\n}\n",
             value);
    cs_config_t *bad = s_load(text);
    assert_int_equal(bad->count, 0);
    assert_true(bad->error_count >= 1);
    assert_non_null(strstr(bad->errors[0].message, "plugin \"x\""));
    assert_null(strstr(bad->errors[0].message, "7777"));
    cs_config_destroy(&bad);
}

static void test_instances_across_files(void **state)
{
    (void)state;
    s_write("a.spc", "plugin \"csv_big\" {\n  source = \"csv@^0.5\"\n  memory_max_mb = 512\n}\n");
    s_write("b.spc", "connection \"sales\" {\n  plugin = plugin.csv_big\n  paths = [\"/x\"]\n}\n");
    s_write("c.spc", "connection \"lost\" {\n  plugin = plugin.csv_huge\n}\n"
                     "connection \"lost_too\" {\n  plugin = \"csv\"\n}\n");
    s_write("d.spc", "plugin \"csv_big\" {\n  source = \"csv\"\n}\n"
                     "connection \"from_d\" {\n  plugin = \"p\"\n}\n");
    cs_config_t *cfg = cs_config_load_dir(s_dir);
    assert_non_null(cfg);
    const cs_connection_t *c = cs_config_find(cfg, "sales");
    assert_non_null(c);
    assert_non_null(c->instance);
    assert_string_equal(c->instance->label, "csv_big");
    assert_int_equal(c->instance->memory_max_mb, 512);
    assert_string_equal(c->plugin, "csv");
    assert_string_equal(c->plugin_constraint, "^0.5");
    assert_int_equal(strlen(c->fingerprint), 16);
    assert_null(cs_config_find(cfg, "lost"));
    assert_null(cs_config_find(cfg, "lost_too"));
    assert_true(cs_config_name_failed(cfg, "lost"));
    assert_true(cs_config_name_failed(cfg, "lost_too"));
    assert_null(cs_config_find(cfg, "from_d"));
    assert_true(cs_config_name_failed(cfg, "from_d"));
    assert_int_equal(cfg->plugin_count, 1); /* d.spc's failed with its file */
    char path[300];
    snprintf(path, sizeof path, "%s/c.spc", s_dir);
    const cs_config_error_t *e = cs_config_file_error(cfg, path);
    assert_non_null(e);
    assert_int_equal(e->line, 2);
    assert_non_null(strstr(e->message, "plugin.csv_huge is not defined"));
    snprintf(path, sizeof path, "%s/d.spc", s_dir);
    e = cs_config_file_error(cfg, path);
    assert_non_null(e);
    assert_non_null(strstr(e->message, "plugin \"csv_big\" is already defined at"));

    /* a reload that reuses b.spc resolves it again against the instances of now */
    cs_config_t *again = cs_config_reload_dir(s_dir, cfg);
    c = cs_config_find(again, "sales");
    assert_non_null(c);
    assert_non_null(c->instance);
    assert_string_equal(c->instance->label, "csv_big");
    cs_config_destroy(&cfg);
    cs_config_destroy(&again);
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

/* A reload told which files changed reads those only: a file it was not told of is taken
 * as it was read, even when it changed since (only the directory's watch would know); one
 * it was told of is read again, added, or dropped when it is gone. */
static void test_reload_of_named_files_reads_only_those(void **state)
{
    (void)state;
    s_write("f1.spc", "connection \"one\" {\n  plugin = \"p\"\n}\n");
    s_write("f2.spc", "connection \"two\" {\n  plugin = \"p\"\n}\n");
    s_write("f3.spc", "connection \"three\" {\n  plugin = \"p\"\n}\n");
    cs_config_t *first = cs_config_load_dir(s_dir);
    assert_int_equal(first->unit_count, 3);
    cs_config_t *unit1 = first->units[0];

    /* f1 changed untold, f2 changed and told, f3 removed and told, f4 added and told (twice),
     * f5 added untold */
    s_write("f1.spc", "connection \"one\" {\n  plugin = \"changed\"\n}\n");
    s_write("f2.spc", "connection \"two\" {\n  plugin = \"q\"\n}\n");
    char path[256];
    snprintf(path, sizeof path, "%s/f3.spc", s_dir);
    assert_int_equal(unlink(path), 0);
    s_write("f4.spc", "connection \"four\" {\n  plugin = \"p\"\n}\n");
    s_write("f5.spc", "connection \"five\" {\n  plugin = \"p\"\n}\n");
    const char *told[] = {"f4.spc", "f3.spc", "f2.spc", "f4.spc"};
    cs_config_t *second = cs_config_reload_files(s_dir, first, told, 4);
    assert_non_null(second);
    assert_int_equal(second->error_count, 0);
    assert_int_equal(second->unit_count, 3);
    assert_ptr_equal(second->units[0], unit1); /* untold: reused as it was */
    assert_string_equal(cs_config_find(second, "one")->plugin, "p");
    assert_string_equal(cs_config_find(second, "two")->plugin, "q");
    assert_non_null(cs_config_find(second, "four"));
    assert_null(cs_config_find(second, "three"));
    assert_null(cs_config_find(second, "five"));
    assert_false(cs_config_changes(second, NULL, NULL)); /* the names changed are listed */

    /* the same directory read in full finds what the watch did not say */
    cs_config_t *third = cs_config_reload_dir(s_dir, second);
    assert_string_equal(cs_config_find(third, "one")->plugin, "changed");
    assert_non_null(cs_config_find(third, "five"));
    /* without a previous load: the directory in full */
    cs_config_t *fourth = cs_config_reload_files(s_dir, NULL, told, 0);
    assert_int_equal(fourth->unit_count, 4);
    cs_config_destroy(&first);
    cs_config_destroy(&second);
    cs_config_destroy(&third);
    cs_config_destroy(&fourth);
}

#define SYN(name) "connection \"" name "\" {\n  plugin = \"synthetic\"\n}\n"

typedef struct {
    const char *names[64];
    size_t count;
} s_names_t;

static void s_collect(void *arg, const char *name)
{
    s_names_t *set = arg;
    for (size_t i = 0; i < set->count; i++)
        if (strcmp(set->names[i], name) == 0)
            return;
    assert_true(set->count < 64);
    set->names[set->count++] = name;
}

static int s_compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The names cfg reports as changed since the load it was reloaded from, sorted and joined
 * with commas ("*" when every one is), into out. */
static const char *s_changes(const cs_config_t *cfg, char *out, size_t size)
{
    s_names_t set = {{0}, 0};
    bool all = cs_config_changes(cfg, s_collect, &set);
    qsort(set.names, set.count, sizeof *set.names, s_compare_names);
    out[0] = '\0';
    for (size_t i = 0; i < set.count; i++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? "," : "", set.names[i]);
    return all ? "*" : out;
}

/* Replaces *cfg_p by a reload of the directory from it, and returns what changed. */
static const char *s_reload(cs_config_t **cfg_p, char *out, size_t size)
{
    cs_config_t *next = cs_config_reload_dir(s_dir, *cfg_p);
    assert_non_null(next);
    cs_config_destroy(cfg_p);
    *cfg_p = next;
    return s_changes(next, out, size);
}

static void s_remove(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    assert_int_equal(unlink(path), 0);
}

/* What a reload reports as changed: nothing when no file changed (and the result takes over
 * the previous one's connections as they are), the names of the old and the new version of a
 * file edited, added, removed or renamed, of a file that fails or no longer does (also for
 * another file's sake), and every name when a plugin block or options "plugin" changed. */
static void test_reload_reports_changed_names(void **state)
{
    (void)state;
    char buf[512];
    s_write("a.spc", SYN("a1") SYN("a2"));
    s_write("b.spc", SYN("b1"));
    s_write("c.spc", SYN("c1"));
    cs_config_t *cfg = cs_config_load_dir(s_dir);
    assert_string_equal(s_changes(cfg, buf, sizeof buf), "*"); /* a first load */

    /* nothing changed: the same connections, the previous result readable until destroyed */
    const cs_connection_t *connections = cfg->connections;
    cs_config_t *next = cs_config_reload_dir(s_dir, cfg);
    assert_string_equal(s_changes(next, buf, sizeof buf), "");
    assert_ptr_equal(next->connections, connections);
    assert_int_equal(next->count, 4);
    assert_string_equal(cs_config_find(cfg, "b1")->name, "b1");
    assert_false(cs_config_file_changed(next, 0));
    cs_config_destroy(&cfg);
    assert_string_equal(cs_config_find(next, "c1")->file + strlen(s_dir), "/c.spc");
    cfg = next;
    assert_string_equal(s_reload(&cfg, buf, sizeof buf), ""); /* again */

    s_write("b.spc", SYN("b1") SYN("b2")); /* edited */
    assert_string_equal(s_reload(&cfg, buf, sizeof buf), "b1,b2");
    s_write("d.spc", SYN("d1")); /* added */
    assert_string_equal(s_reload(&cfg, buf, sizeof buf), "d1");
    s_remove("c.spc"); /* removed */
    assert_string_equal(s_reload(&cfg, buf, sizeof buf), "c1");
    assert_null(cs_config_find(cfg, "c1"));
    char from[256], to[256];
    snprintf(from, sizeof from, "%s/a.spc", s_dir);
    snprintf(to, sizeof to, "%s/e.spc", s_dir);
    assert_int_equal(rename(from, to), 0); /* renamed: the same names, in another file */
    assert_string_equal(s_reload(&cfg, buf, sizeof buf), "a1,a2");
    s_write("b.spc", SYN("b1") "connection \"b2\" {\n"); /* fails: keeps its names */
    assert_string_equal(s_reload(&cfg, buf, sizeof buf), "b1,b2");
    assert_string_equal(s_reload(&cfg, buf, sizeof buf), ""); /* still failed: no change */
    s_write("b.spc", SYN("b1") SYN("b2") "\n");
    assert_string_equal(s_reload(&cfg, buf, sizeof buf), "b1,b2");
    s_write("f.spc", SYN("d1")); /* d1 again: f.spc fails for d.spc's sake */
    assert_string_equal(s_reload(&cfg, buf, sizeof buf), "d1");
    s_remove("d.spc"); /* f.spc loads now */
    assert_string_equal(s_reload(&cfg, buf, sizeof buf), "d1");
    assert_false(cs_config_name_failed(cfg, "d1"));

    /* a plugin block or options "plugin" reaches the connections of every file */
    s_write("p.spc", "plugin \"big\" {\n  source = \"synthetic\"\n}\n");
    assert_string_equal(s_reload(&cfg, buf, sizeof buf), "*");
    assert_non_null(cs_config_find(cfg, "b1")->instance); /* "synthetic": that instance */
    s_write("p.spc", "plugin \"big\" {\n  source = \"synthetic\"\n  memory_max_mb = 64\n}\n");
    assert_string_equal(s_reload(&cfg, buf, sizeof buf), "*");
    assert_int_equal(cs_config_find(cfg, "e1") ? 1 : cs_config_find(cfg, "a1")->memory_max_mb, 64);
    assert_string_equal(s_reload(&cfg, buf, sizeof buf), ""); /* and nothing after */
    s_remove("p.spc");
    assert_string_equal(s_reload(&cfg, buf, sizeof buf), "*");
    s_write("o.spc", "options \"plugin\" {\n  memory_max_mb = 32\n}\n");
    assert_string_equal(s_reload(&cfg, buf, sizeof buf), "*");
    assert_int_equal(cs_config_find(cfg, "a1")->memory_max_mb, 32);
    char away[96]; /* the directory gone, and back: nothing was known in between */
    snprintf(away, sizeof away, "%s.away", s_dir);
    assert_int_equal(rename(s_dir, away), 0);
    assert_string_equal(s_reload(&cfg, buf, sizeof buf), "*");
    assert_int_equal(rename(away, s_dir), 0);
    assert_string_equal(s_reload(&cfg, buf, sizeof buf), "*");
    assert_string_equal(s_reload(&cfg, buf, sizeof buf), "");
    cs_config_destroy(&cfg);
}

/* Fails the test unless two loads of a directory hold the same connections: the same index
 * (names in order), each entry the same (file, lines, fingerprint, plugin), and each in the
 * array in the same order of files. */
static void s_expect_same_config(const cs_config_t *a, const cs_config_t *b)
{
    assert_int_equal(a->count, b->count);
    assert_int_equal(a->file_count, b->file_count);
    for (size_t i = 0; i < a->count; i++) {
        const cs_connection_t *x = a->by_name[i], *y = b->by_name[i];
        assert_string_equal(x->name, y->name);
        assert_string_equal(x->file, y->file);
        assert_string_equal(x->fingerprint, y->fingerprint);
        assert_string_equal(x->plugin, y->plugin);
        assert_int_equal(x->start_line, y->start_line);
        assert_ptr_equal(cs_config_find(a, x->name), x);
        assert_string_equal(a->connections[i].name, b->connections[i].name);
        assert_string_equal(x->config_json, y->config_json);
        assert_int_equal(x->memory_max_mb, y->memory_max_mb);
        assert_int_equal(x->instance != NULL, y->instance != NULL);
        if (x->instance)
            assert_string_equal(x->instance->label, y->instance->label);
    }
    assert_int_equal(a->failed_count, b->failed_count);
    for (size_t i = 0; i < a->failed_count; i++)
        assert_int_equal(a->failed[i].name_count, b->failed[i].name_count);
}

/* Files edited, none added or removed: the reload puts the edited files' connections in the
 * previous index at their places (no sort of all of them); it holds what a full load of the
 * directory holds, whatever the edits do to the names' order. */
static void test_reload_of_edited_files_is_a_full_load(void **state)
{
    (void)state;
    char name[32], text[4096];
    for (int f = 0; f < 30; f++) { /* names interleaved across the files: f, f + 30, ... */
        text[0] = '\0';
        for (int i = f; i < 150; i += 30)
            snprintf(text + strlen(text), sizeof text - strlen(text), SYN("c_%03d"), i);
        snprintf(name, sizeof name, "f%02d.spc", f);
        s_write(name, text);
    }
    cs_config_t *cfg = cs_config_load_dir(s_dir);
    const char *edits[][2] = {
        {"f07.spc",
         SYN("c_007") SYN("c_037") "  # a comment\n" SYN("c_067") SYN("c_097") SYN("c_127")},
        {"f00.spc", SYN("c_000") SYN("a_first") SYN("z_last") SYN("c_9999")}, /* added, removed */
        {"f29.spc", ""},                                                      /* emptied */
        {"f13.spc", SYN("c_013") SYN("c_043") SYN("c_073") SYN("c_103") SYN("c_133") SYN("m_13")},
        {"f29.spc", SYN("c_029") SYN("b_29")}, /* filled again */
    };
    char buf[256];
    for (size_t k = 0; k < sizeof edits / sizeof *edits; k++) {
        s_write(edits[k][0], edits[k][1]);
        s_reload(&cfg, buf, sizeof buf);
        assert_string_not_equal(buf, "*");
        cs_config_t *full = cs_config_load_dir(s_dir);
        s_expect_same_config(cfg, full);
        cs_config_destroy(&full);
    }
    assert_string_equal(s_reload(&cfg, buf, sizeof buf), ""); /* and nothing after */
    /* a new name in two edited files at once: one of them fails, as a full load says */
    s_write("f05.spc", SYN("c_005") SYN("c_035") SYN("c_065") SYN("c_095") SYN("c_125") SYN("x"));
    s_write("f06.spc", SYN("c_006") SYN("c_036") SYN("c_066") SYN("c_096") SYN("c_126") SYN("x"));
    s_reload(&cfg, buf, sizeof buf);
    assert_true(cs_config_name_failed(cfg, "x"));
    cs_config_t *both = cs_config_load_dir(s_dir);
    s_expect_same_config(cfg, both);
    cs_config_destroy(&both);
    s_write("f03.spc", SYN("c_003") SYN("c_013")); /* c_013 twice: f13.spc fails */
    s_write("f04.spc", SYN("c_004") SYN("c_034") "\n");
    s_reload(&cfg, buf, sizeof buf);
    assert_true(cs_config_name_failed(cfg, "c_013"));
    cs_config_t *full = cs_config_load_dir(s_dir);
    s_expect_same_config(cfg, full);
    cs_config_destroy(&full);
    cs_config_destroy(&cfg);
}

/* A FIFO named like a config file: the load neither opens it for reading (which waits for
 * a writer) nor reads it; it fails that file and loads the others. SIGALRM ends the test
 * if the load waits. */
/* Connections that a directory resolved (an instance, a memory limit) or left out (their file
 * failed there) are what a full load makes of their files in every later reload that reuses
 * them, through every path a reload takes: the previous load is destroyed each time. */
static void test_reload_of_resolved_and_failed_files(void **state)
{
    (void)state;
    static const char instance[] =
        "plugin \"big\" {\n  source = \"aws\"\n  memory_max_mb = 100\n}\n";
    s_write("a.spc", instance);
    s_write("b.spc", "connection \"x\" {\n  plugin = \"aws\"\n  k = 1\n}\n" SYN("b1"));
    s_write("c.spc", "connection \"y\" {\n  plugin = plugin.big\n}\n");
    s_write("d.spc", SYN("d1") SYN("b1")); /* b1 again: d.spc fails */
    cs_config_t *cfg = cs_config_load_dir(s_dir);
    assert_non_null(cfg);
    assert_int_equal(cs_config_find(cfg, "x")->memory_max_mb, 100); /* the instance of its image */
    assert_true(cs_config_name_failed(cfg, "d1"));
    const char *steps[][2] = {
        {"a.spc", NULL}, /* no instance: x as written, y's file fails */
        {NULL, NULL},    /* nothing changed */
        {"b.spc", "connection \"x\" {\n  plugin = \"aws\"\n  k = 1\n}\n"}, /* d.spc loads */
        {"a.spc", "options \"plugin\" {\n  memory_max_mb = 50\n}\n"},      /* every one */
        {"a.spc", NULL},                                                   /* none again */
        {"d.spc", SYN("d1") SYN("d2")},                                    /* plain edits */
        {"b.spc", "connection \"x\" {\n  plugin = \"aws\"\n  k = 2\n}\n"},
        {"a.spc", instance}, /* c.spc loads again, x has the instance again */
        {"d.spc", SYN("d1") SYN("x")},
        {"d.spc", SYN("d1")},
    };
    char buf[256];
    for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
        if (steps[k][0] && steps[k][1])
            s_write(steps[k][0], steps[k][1]);
        else if (steps[k][0])
            s_remove(steps[k][0]);
        s_reload(&cfg, buf, sizeof buf);
        cs_config_t *full = cs_config_load_dir(s_dir);
        s_expect_same_config(cfg, full);
        cs_config_destroy(&full);
        /* and a reload told of the file, from a copy of the directory's state */
        cs_config_t *told = cs_config_reload_dir(s_dir, NULL);
        const char *name = steps[k][0] ? steps[k][0] : "b.spc";
        if (steps[k][0] && steps[k][1])
            s_write(steps[k][0], steps[k][1]); /* the same text, a new file time */
        cs_config_t *next = cs_config_reload_files(s_dir, told, &name, 1);
        assert_non_null(next);
        cs_config_destroy(&told);
        s_expect_same_config(next, cfg);
        cs_config_destroy(&next);
    }
    assert_int_equal(cs_config_find(cfg, "x")->memory_max_mb, 100);
    assert_string_equal(cs_config_find(cfg, "y")->instance->label, "big");
    cs_config_destroy(&cfg);
}

static void test_fifo_does_not_block(void **state)
{
    (void)state;
    s_write("a.spc", "connection \"a\" {\n  plugin = \"p\"\n}\n");
    char path[256];
    snprintf(path, sizeof path, "%s/x.spc", s_dir);
    assert_int_equal(mkfifo(path, 0644), 0);
    alarm(10);
    cs_config_t *cfg = cs_config_load_dir(s_dir);
    alarm(0);
    assert_non_null(cfg);
    assert_int_equal(cfg->count, 1);
    assert_string_equal(cfg->connections[0].name, "a");
    assert_int_equal(cfg->error_count, 1);
    assert_string_equal(cfg->errors[0].file, path);
    assert_string_equal(cfg->errors[0].message, "not a regular file (a FIFO)");
    cs_config_destroy(&cfg);
}

/* A symlink to a file whose size says 0 (in /proc) is read to its end: its text is parsed
 * (a host name is not a valid file: an error at line 1), not taken as an empty file. */
static void test_file_of_size_zero_is_read_to_its_end(void **state)
{
    (void)state;
    struct stat st;
    if (stat("/proc/sys/kernel/hostname", &st) != 0 || st.st_size != 0)
        skip();
    char path[256];
    snprintf(path, sizeof path, "%s/proc.spc", s_dir);
    assert_int_equal(symlink("/proc/sys/kernel/hostname", path), 0);
    cs_config_t *cfg = cs_config_load_dir(s_dir);
    assert_non_null(cfg);
    assert_int_equal(cfg->file_count, 1);
    assert_int_equal(cfg->error_count, 1);
    assert_int_equal(cfg->errors[0].line, 1);
    assert_int_equal(cfg->failed_count, 1);
    /* its size says nothing: a reload reads it again */
    cs_config_t *again = cs_config_reload_dir(s_dir, cfg);
    assert_true(cs_config_file_changed(again, 0));
    cs_config_destroy(&cfg);
    cs_config_destroy(&again);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_connection),
        cmocka_unit_test(test_the_issue_example),
        cmocka_unit_test(test_config_json_values),
        cmocka_unit_test(test_plugin_rules),
        cmocka_unit_test(test_type_and_members),
        cmocka_unit_test(test_members_of_an_aggregator),
        cmocka_unit_test(test_import_schema),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_file_names),
        cmocka_unit_test(test_top_level_errors),
        cmocka_unit_test(test_file_with_error_loads_nothing),
        cmocka_unit_test(test_duplicate_in_one_file),
        cmocka_unit_test(test_fingerprints),
        cmocka_unit_test(test_errors_per_file_are_capped),
        cmocka_unit_test(test_byte_order_mark_file),
        cmocka_unit_test(test_blocks_grouped_by_type),
        cmocka_unit_test(test_big_bodies_load_in_linear_time),
        cmocka_unit_test(test_dense_bodies_stay_small),
        cmocka_unit_test_setup_teardown(test_tiny_connections_stay_small, s_dir_setup,
                                        s_dir_teardown),
        cmocka_unit_test_setup_teardown(test_instances_resolved_in_place, s_dir_setup,
                                        s_dir_teardown),
        cmocka_unit_test(test_steampipe_blocks_keep_connections),
        cmocka_unit_test(test_settings_in_bulk),
        cmocka_unit_test(test_plugin_references),
        cmocka_unit_test(test_plugin_instances),
        cmocka_unit_test(test_plugin_instance_errors),
        cmocka_unit_test_setup_teardown(test_instances_across_files, s_dir_setup, s_dir_teardown),
        cmocka_unit_test_setup_teardown(test_plugin_memory_default, s_dir_setup, s_dir_teardown),
        cmocka_unit_test_setup_teardown(test_directory_memory_per_connection, s_dir_setup,
                                        s_dir_teardown),
        cmocka_unit_test_setup_teardown(test_directory, s_dir_setup, s_dir_teardown),
        cmocka_unit_test_setup_teardown(test_moving_a_block_keeps_the_fingerprint, s_dir_setup,
                                        s_dir_teardown),
        cmocka_unit_test_setup_teardown(test_reload_parses_only_changed_files, s_dir_setup,
                                        s_dir_teardown),
        cmocka_unit_test_setup_teardown(test_reload_of_named_files_reads_only_those, s_dir_setup,
                                        s_dir_teardown),
        cmocka_unit_test_setup_teardown(test_reload_reports_changed_names, s_dir_setup,
                                        s_dir_teardown),
        cmocka_unit_test_setup_teardown(test_reload_of_edited_files_is_a_full_load, s_dir_setup,
                                        s_dir_teardown),
        cmocka_unit_test_setup_teardown(test_reload_of_resolved_and_failed_files, s_dir_setup,
                                        s_dir_teardown),
        cmocka_unit_test_setup_teardown(test_fifo_does_not_block, s_dir_setup, s_dir_teardown),
        cmocka_unit_test_setup_teardown(test_file_of_size_zero_is_read_to_its_end, s_dir_setup,
                                        s_dir_teardown),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
