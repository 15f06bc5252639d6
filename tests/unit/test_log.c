/* Unit tests of cs_log: line format, levels, and that filtered lines are not formatted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cs_log.h"

/* Runs fn with stderr redirected to a pipe; returns what it wrote (caller frees). */
static char *s_capture(void (*fn)(void))
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    int saved = dup(STDERR_FILENO);
    dup2(fds[1], STDERR_FILENO);
    fn();
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(fds[1]);
    char *out = calloc(1, 65536);
    ssize_t total = 0, n;
    while ((n = read(fds[0], out + total, 65535 - (size_t)total)) > 0)
        total += n;
    close(fds[0]);
    return out;
}

static int s_formatted;
static const char *s_count_formatting(void)
{
    s_formatted++;
    return "x";
}

static void s_write_lines(void)
{
    cs_log_info("hello %d", 7);
    cs_log_conn_warn("aws_prod", "slow");
    cs_log_debug("hidden %s", s_count_formatting());
}

static void test_format_and_levels(void **state)
{
    (void)state;
    unsetenv("CONNSTATE_LOG_LEVEL");
    cs_log_init("sup");
    char *out = s_capture(s_write_lines);
    char expect[128];
    snprintf(expect, sizeof expect, "sup[%ld] info: hello 7\nsup[%ld] warn: [aws_prod] slow\n",
             (long)getpid(), (long)getpid());
    assert_string_equal(out, expect);
    assert_int_equal(s_formatted, 0); /* debug is off: its arguments were never evaluated */
    free(out);
}

static void s_write_long(void)
{
    char big[10000];
    memset(big, 'y', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cs_log_error("%s", big);
}

static void test_long_line_truncated(void **state)
{
    (void)state;
    char *out = s_capture(s_write_long);
    size_t len = strlen(out);
    assert_true(len <= 4096);
    assert_int_equal(out[len - 1], '\n');
    free(out);
}

static void test_set_level(void **state)
{
    (void)state;
    assert_int_equal(cs_log_set_level("debug"), 0);
    assert_int_equal(cs_log_level, CS_LOG_DEBUG);
    assert_int_equal(cs_log_set_level("loud"), -1);
    assert_int_equal(cs_log_level, CS_LOG_DEBUG);
    setenv("CONNSTATE_LOG_LEVEL", "error", 1);
    cs_log_init("wrk-1");
    assert_int_equal(cs_log_level, CS_LOG_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_and_levels),
        cmocka_unit_test(test_long_line_truncated),
        cmocka_unit_test(test_set_level),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
