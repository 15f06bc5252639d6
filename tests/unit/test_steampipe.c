/* A Steampipe user's config directory, as it is (tests/fixtures/steampipe: the shapes of the
 * plugins' default configs, Steampipe's options and workspace files, and users' own): every
 * file loads, every plugin reference resolves, and what connstate does not act on is
 * reported as ignored, never as an error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cs_config.h"

#define S_FIXTURES "tests/fixtures/steampipe"

static const cs_connection_t *s_find(const cs_config_t *cfg, const char *name)
{
    const cs_connection_t *c = cs_config_find(cfg, name);
    if (!c)
        fail_msg("connection %s was not loaded", name);
    return c;
}

static bool s_ignored(const cs_config_t *cfg, const char *file_end, int line, const char *what)
{
    for (size_t i = 0; i < cfg->ignored_count; i++) {
        const cs_config_ignored_t *g = &cfg->ignored[i];
        size_t n = strlen(g->file), m = strlen(file_end);
        if (g->line == line && n >= m && strcmp(g->file + n - m, file_end) == 0 &&
            strstr(g->what, what))
            return true;
    }
    return false;
}

static void test_every_file_loads(void **state)
{
    (void)state;
    cs_config_t *cfg = cs_config_load_dir(S_FIXTURES);
    assert_non_null(cfg);
    for (size_t i = 0; i < cfg->error_count; i++)
        print_error("%s:%d:%d: %s\n", cfg->errors[i].file, cfg->errors[i].line, cfg->errors[i].col,
                    cfg->errors[i].message);
    assert_int_equal(cfg->error_count, 0);
    assert_int_equal(cfg->failed_count, 0);
    assert_int_equal(cfg->file_count, 8);
    assert_int_equal(cfg->count, 10);
    cs_config_destroy(&cfg);
}

/* Each reference resolves to the short name of a plugin executable; a version after '@' is
 * a constraint, except latest. */
static void test_plugin_references_resolve(void **state)
{
    (void)state;
    cs_config_t *cfg = cs_config_load_dir(S_FIXTURES);
    assert_non_null(cfg);
    static const struct {
        const char *name, *plugin, *written, *constraint;
    } expect[] = {
        {"gitlab", "gitlab", "theapsgroup/gitlab", NULL},
        {"kubernetes", "kubernetes", "kubernetes", NULL},
        {"csv", "csv", "csv@0.12.0", "0.12.0"},
        {"gcp_prod", "gcp", "hub.steampipe.io/plugins/turbot/gcp@latest", NULL},
        {"oci_tenant", "oci", "local/oci", NULL},
        {"github", "github", "turbot/github@^0.40", "^0.40"},
        {"Azure_Prod", "azure", "azure", NULL},
    };
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) {
        const cs_connection_t *c = s_find(cfg, expect[i].name);
        assert_string_equal(c->plugin, expect[i].plugin);
        assert_string_equal(c->plugin_written, expect[i].written);
        if (expect[i].constraint)
            assert_string_equal(c->plugin_constraint, expect[i].constraint);
        else
            assert_null(c->plugin_constraint);
        assert_null(c->instance);
    }
    /* the unquoted reference to an instance: its source names the plugin */
    const cs_connection_t *prod = s_find(cfg, "aws_prod");
    assert_non_null(prod->instance);
    assert_string_equal(prod->instance->label, "aws_high");
    assert_string_equal(prod->plugin, "aws");
    assert_int_equal(prod->instance->memory_max_mb, 4096);
    assert_null(prod->plugin_constraint); /* @latest */
    /* as Steampipe does: a plain "aws" is the one instance whose source is that plugin */
    const cs_connection_t *dev = s_find(cfg, "aws_dev");
    assert_string_equal(dev->plugin, "aws");
    assert_string_equal(dev->plugin_written, "aws");
    assert_ptr_equal(dev->instance, prod->instance);
    const cs_connection_t *all = s_find(cfg, "aws_all");
    assert_true(all->aggregator);
    assert_int_equal(cfg->plugin_count, 1);
    cs_config_destroy(&cfg);
}

/* What connstate does not act on is reported with its place. */
static void test_the_rest_is_ignored_with_its_place(void **state)
{
    (void)state;
    cs_config_t *cfg = cs_config_load_dir(S_FIXTURES);
    assert_non_null(cfg);
    assert_true(s_ignored(cfg, "default.spc", 3, "port"));
    assert_true(s_ignored(cfg, "default.spc", 24, "options \"terminal\""));
    assert_true(s_ignored(cfg, "workspaces.spc", 1, "workspace \"default\""));
    assert_true(s_ignored(cfg, "workspaces.spc", 5, "workspace \"all_options\""));
    assert_true(s_ignored(cfg, "aws.spc", 8, "limiter"));
    /* the database's search path prefix is honoured; the terminal's search_path is not the
     * database's */
    assert_true(cfg->database.search_path_prefix.set);
    assert_int_equal(cfg->database.search_path_prefix.count, 1);
    assert_string_equal(cfg->database.search_path_prefix.items[0], "aws_prod");
    assert_false(cfg->database.search_path.set);
    cs_config_destroy(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_file_loads),
        cmocka_unit_test(test_plugin_references_resolve),
        cmocka_unit_test(test_the_rest_is_ignored_with_its_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
