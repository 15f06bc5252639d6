/* Unit tests of cs_paths: option fallbacks, the home directory, the executable's directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cs_paths.h"

static void test_opt(void **state)
{
    (void)state;
    unsetenv("CS_TEST_OPT");
    assert_string_equal(cs_opt("flag", "CS_TEST_OPT", "fallback"), "flag");
    assert_string_equal(cs_opt(NULL, "CS_TEST_OPT", "fallback"), "fallback");
    assert_null(cs_opt(NULL, "CS_TEST_OPT", NULL));
    setenv("CS_TEST_OPT", "", 1); /* empty: as if unset */
    assert_string_equal(cs_opt(NULL, "CS_TEST_OPT", "fallback"), "fallback");
    setenv("CS_TEST_OPT", "env", 1);
    assert_string_equal(cs_opt(NULL, "CS_TEST_OPT", "fallback"), "env");
    assert_string_equal(cs_opt("flag", "CS_TEST_OPT", "fallback"), "flag");
    unsetenv("CS_TEST_OPT");
}

static void test_home_path(void **state)
{
    (void)state;
    char *saved_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("HOME", "/tmp/cs-home", 1);
    unsetenv("CS_TEST_DIR");
    char *path = cs_home_path("CS_TEST_DIR", "leaf");
    assert_string_equal(path, "/tmp/cs-home/.connstate/leaf");
    free(path);
    path = cs_home_path(NULL, "db");
    assert_string_equal(path, "/tmp/cs-home/.connstate/db");
    free(path);
    setenv("CS_TEST_DIR", "/elsewhere", 1);
    path = cs_home_path("CS_TEST_DIR", "leaf");
    assert_string_equal(path, "/elsewhere");
    free(path);
    unsetenv("CS_TEST_DIR");

    unsetenv("CONNSTATE_CONFIG_DIR");
    path = cs_config_default_dir();
    assert_string_equal(path, "/tmp/cs-home/.connstate/config");
    free(path);
    setenv("CONNSTATE_CONFIG_DIR", "/etc/cs", 1);
    path = cs_config_default_dir();
    assert_string_equal(path, "/etc/cs");
    free(path);
    unsetenv("CONNSTATE_CONFIG_DIR");

    /* no $HOME: the password database's home, or none */
    unsetenv("HOME");
    path = cs_home_path(NULL, "db");
    struct passwd *pw = getpwuid(getuid());
    if (pw) {
        char expected[4200];
        snprintf(expected, sizeof expected, "%s/.connstate/db", pw->pw_dir);
        assert_string_equal(path, expected);
    } else {
        assert_null(path);
    }
    free(path);
    if (saved_home)
        setenv("HOME", saved_home, 1);
    free(saved_home);
}

static void test_exe_path(void **state)
{
    (void)state;
    char *path = cs_exe_path("sibling");
    assert_non_null(path);
    /* this test binary lives in build/tests (or build/asan/tests) */
    const char *tail = "/tests/sibling";
    size_t len = strlen(path);
    assert_true(len > strlen(tail));
    assert_string_equal(path + len - strlen(tail), tail);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opt),
        cmocka_unit_test(test_home_path),
        cmocka_unit_test(test_exe_path),
    };
    return cmocka_run_group_tests_name("paths", tests, NULL, NULL);
}
