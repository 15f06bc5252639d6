/* Unit tests of cs_semver: every constraint form Steampipe accepts after '@' (the semantics of
 * Masterminds/semver v3), prereleases, and the malformed ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cs_semver.h"

/* Each version of the list, separated by spaces, satisfies (yes) or not (no) constraint. */
static void s_expect(const char *constraint, const char *yes, const char *no)
{
    assert_null(cs_semver_constraint_problem(constraint));
    for (int pass = 0; pass < 2; pass++) {
        char list[512];
        snprintf(list, sizeof list, "%s", pass == 0 ? yes : no);
        for (char *v = strtok(list, " "); v; v = strtok(NULL, " ")) {
            int got = cs_semver_satisfies(v, constraint);
            if (got != (pass == 0 ? 1 : 0))
                fail_msg("%s against \"%s\": %d, expected %d", v, constraint, got, pass == 0);
        }
    }
}

static void test_exact(void **state)
{
    (void)state;
    s_expect("0.5.0", "0.5.0 v0.5.0 0.5.0+build.7", "0.5.1 0.4.9 0.5.0-rc.1 1.5.0");
    s_expect("=0.5.0", "0.5.0", "0.5.1");
}

static void test_wildcards_and_partial_versions(void **state)
{
    (void)state;
    s_expect("0.5.x", "0.5.0 0.5.17", "0.6.0 0.4.9 1.5.0");
    s_expect("0.5.*", "0.5.3", "0.6.0");
    s_expect("0.5", "0.5.0 0.5.9", "0.6.0"); /* a left-out patch is a wildcard */
    s_expect("1.x", "1.0.0 1.9.3", "2.0.0 0.9.0");
    s_expect("*", "0.0.1 3.2.1", "");
}

static void test_comparisons(void **state)
{
    (void)state;
    s_expect(">=0.5", "0.5.0 0.6.1 2.0.0", "0.4.9");
    s_expect(">= 0.5.1", "0.5.1", "0.5.0");
    s_expect("=>0.5.1", "0.5.1", "0.5.0");
    s_expect(">0.5.1", "0.5.2 1.0.0", "0.5.1");
    s_expect(">0.5", "0.6.0", "0.5.9"); /* above every 0.5 */
    s_expect(">1", "2.0.0", "1.9.9");
    s_expect("<0.5", "0.4.9", "0.5.0");
    s_expect("<=0.5", "0.5.9 0.4.0", "0.6.0"); /* up to every 0.5 */
    s_expect("=<0.5.1", "0.5.1", "0.5.2");
    s_expect("!=0.5.3", "0.5.2 0.5.4", "0.5.3");
    s_expect("!=0.5.x", "0.6.0 1.5.0", "0.5.7");
}

static void test_tilde(void **state)
{
    (void)state;
    s_expect("~0.5.1", "0.5.1 0.5.9", "0.5.0 0.6.0");
    s_expect("~>0.5.1", "0.5.1", "0.6.0");
    s_expect("~1", "1.0.0 1.7.2", "2.0.0");
    s_expect("~1.2", "1.2.0 1.2.9", "1.3.0");
}

static void test_caret(void **state)
{
    (void)state;
    s_expect("^0.5", "0.5.0 0.5.12", "0.4.2 0.6.0 1.0.0");
    s_expect("^0.5.2", "0.5.2 0.5.3", "0.5.1 0.6.0");
    s_expect("^1.2.3", "1.2.3 1.9.0", "1.2.2 2.0.0");
    s_expect("^1", "1.0.0 1.99.0", "2.0.0");
    s_expect("^0.0.3", "0.0.3", "0.0.4");
    s_expect("^0", "0.9.9", "1.0.0");
}

static void test_ranges_and_alternatives(void **state)
{
    (void)state;
    s_expect(">=0.5, <0.7", "0.5.0 0.6.9", "0.7.0 0.4.0");
    s_expect(">=0.5 <0.7", "0.6.0", "0.7.0");
    s_expect("0.5 - 0.7.2", "0.5.0 0.7.2", "0.7.3 0.4.9");
    s_expect("^0.5 || ^1.2", "0.5.1 1.3.0", "0.6.0 2.0.0");
}

static void test_prereleases(void **state)
{
    (void)state;
    /* a prerelease satisfies only an alternative that names one */
    s_expect(">=0.5", "0.5.0", "0.6.0-beta");
    s_expect(">=0.6.0-alpha", "0.6.0-beta 0.6.0-alpha.2 0.6.0", "0.6.0-a 0.5.0");
    s_expect("1.0.0-beta.11", "1.0.0-beta.11", "1.0.0-beta.2 1.0.0-beta");
    s_expect(">1.0.0-beta.2", "1.0.0-beta.11 1.0.0-rc.1", "1.0.0-beta 1.0.0-alpha.9");
}

static void test_malformed(void **state)
{
    (void)state;
    const char *bad[] = {"",
                         "   ",
                         "latest",
                         "^",
                         ">=",
                         "0.5.",
                         "0..5",
                         "0.5.0-",
                         "0.5.0-bad!",
                         ">=0.5,",
                         ">=0.5;<1",
                         "a.b",
                         "99999999999999999999",
                         "0.5 || "};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (!cs_semver_constraint_problem(bad[i]))
            fail_msg("\"%s\" is accepted", bad[i]);
        assert_int_equal(cs_semver_satisfies("0.5.0", bad[i]), -1);
    }
    char long_text[300];
    memset(long_text, '1', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    assert_string_equal(cs_semver_constraint_problem(long_text),
                        "a version constraint has at most 255 bytes");
    /* installed versions: numbers only */
    assert_null(cs_semver_version_problem("1.0.0"));
    assert_null(cs_semver_version_problem("v2.1"));
    assert_non_null(cs_semver_version_problem("local"));
    assert_non_null(cs_semver_version_problem("1.x"));
    assert_non_null(cs_semver_version_problem("1.0.0 "));
    assert_int_equal(cs_semver_satisfies("local", "^0.5"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact),       cmocka_unit_test(test_wildcards_and_partial_versions),
        cmocka_unit_test(test_comparisons), cmocka_unit_test(test_tilde),
        cmocka_unit_test(test_caret),       cmocka_unit_test(test_ranges_and_alternatives),
        cmocka_unit_test(test_prereleases), cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
