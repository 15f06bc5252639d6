/* Unit tests of cs_log: line format, timestamps, multi-line messages, levels, that filtered
 * lines are not formatted, and rate limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

/* Lines without timestamps, role sup, for the tests that compare whole lines. */
static int s_plain(void **state)
{
    (void)state;
    unsetenv("CONNSTATE_LOG_LEVEL");
    setenv("CONNSTATE_LOG_TIME", "0", 1);
    cs_log_init("sup");
    return 0;
}

static void test_format_and_levels(void **state)
{
    (void)state;
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

/* ---- timestamps ------------------------------------------------------------------------ */

/* Checks that line starts with a UTC ISO 8601 time with milliseconds within a minute of now,
 * then "sup[PID] info: stamped"; returns false when it has no time at all. */
static bool s_stamped(const char *line)
{
    int y, mo, d, h, mi, sec, ms;
    char z;
    if (sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &sec, &ms, &z) != 8)
        return false;
    assert_int_equal(z, 'Z');
    assert_int_equal(line[24], ' ');
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    long long age = (long long)time(NULL) - (long long)timegm(&tm);
    assert_true(age >= -1 && age < 60);
    char expect[64];
    snprintf(expect, sizeof expect, "sup[%ld] info: stamped\n", (long)getpid());
    assert_string_equal(line + 25, expect);
    return true;
}

/* cs_log_init runs while stderr is the capture's pipe: JOURNAL_STREAM may name it. */
static bool s_journal_is_stderr;
static void s_init_and_write(void)
{
    if (s_journal_is_stderr) {
        struct stat st;
        assert_int_equal(fstat(STDERR_FILENO, &st), 0);
        char stream[64];
        snprintf(stream, sizeof stream, "%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
        setenv("JOURNAL_STREAM", stream, 1);
    }
    cs_log_init("sup");
    cs_log_info("stamped");
}

static bool s_stamped_with(const char *time_env, const char *journal_env, bool journal_is_stderr)
{
    if (time_env)
        setenv("CONNSTATE_LOG_TIME", time_env, 1);
    else
        unsetenv("CONNSTATE_LOG_TIME");
    if (journal_env)
        setenv("JOURNAL_STREAM", journal_env, 1);
    else
        unsetenv("JOURNAL_STREAM");
    s_journal_is_stderr = journal_is_stderr;
    char *out = s_capture(s_init_and_write);
    bool stamped = s_stamped(out);
    if (!stamped) {
        char expect[64];
        snprintf(expect, sizeof expect, "sup[%ld] info: stamped\n", (long)getpid());
        assert_string_equal(out, expect);
    }
    free(out);
    unsetenv("JOURNAL_STREAM");
    return stamped;
}

static void test_timestamps(void **state)
{
    (void)state;
    assert_true(s_stamped_with(NULL, NULL, false));      /* default: not the journal */
    assert_false(s_stamped_with(NULL, NULL, true));      /* stderr is the journal's stream */
    assert_true(s_stamped_with(NULL, "1:1", false));     /* the journal's, but another stream */
    assert_true(s_stamped_with(NULL, "garbage", false)); /* not a DEV:INODE */
    assert_true(s_stamped_with("1", NULL, true));        /* forced on */
    assert_false(s_stamped_with("0", NULL, false));      /* forced off */
    assert_true(s_stamped_with("", NULL, false));        /* empty: the default */
}

/* ---- multi-line messages ----------------------------------------------------------------- */

static void s_write_multiline(void)
{
    cs_log_conn_error("aws_prod", "database: ERROR:  relation \"x\" does not exist\n"
                                  "DETAIL:  it was dropped\n\nHINT:  create it\n");
    cs_log_warn("one line\n");
    cs_log_warn("%s", "");
}

static void test_multiline_prefixed(void **state)
{
    (void)state;
    char *out = s_capture(s_write_multiline);
    char expect[512];
    long pid = (long)getpid();
    snprintf(expect, sizeof expect,
             "sup[%ld] error: [aws_prod] database: ERROR:  relation \"x\" does not exist\n"
             "sup[%ld] error: [aws_prod] DETAIL:  it was dropped\n"
             "sup[%ld] error: [aws_prod] \n"
             "sup[%ld] error: [aws_prod] HINT:  create it\n"
             "sup[%ld] warn: one line\n"
             "sup[%ld] warn: \n",
             pid, pid, pid, pid, pid, pid);
    assert_string_equal(out, expect);
    free(out);
}

/* ---- rate limits ------------------------------------------------------------------------- */

static int64_t s_fake_now;
static int64_t s_fake_clock(void)
{
    return s_fake_now;
}

static int s_count(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void s_flood(void)
{
    for (int i = 0; i < 10; i++)
        cs_log_warn("malformed frame %d", i);
    for (int i = 0; i < 5; i++)
        cs_log_conn_warn("conn_a", "build failed %d", i);
    for (int i = 0; i < 5; i++)
        cs_log_conn_warn("conn_b", "build failed %d", i);
    for (int i = 0; i < 10; i++)
        cs_log_debug("debug is never limited %d", i);
    for (int i = 0; i < 10; i++)
        cs_log_info("progress is never limited %d", i);
}

static void s_flush(void)
{
    cs_log_flush();
}

static void s_after_window(void)
{
    cs_log_warn("malformed frame %d", 99);
}

static void test_rate_limit(void **state)
{
    (void)state;
    assert_int_equal(cs_log_set_level("debug"), 0);
    cs_log_set_rate_limit(3, 1000, s_fake_clock);
    s_fake_now = 5000;
    char *out = s_capture(s_flood);
    assert_int_equal(s_count(out, "malformed frame"), 3);
    assert_non_null(strstr(out, "malformed frame 2\n"));
    assert_null(strstr(out, "malformed frame 3\n"));
    assert_int_equal(s_count(out, "[conn_a] build failed"), 3); /* per connection */
    assert_int_equal(s_count(out, "[conn_b] build failed"), 3);
    assert_int_equal(s_count(out, "debug is never limited"), 10);
    assert_int_equal(s_count(out, "progress is never limited"), 10);
    assert_null(strstr(out, "suppressed"));
    free(out);

    /* within the window, a flush prints nothing; once it is over, the summaries */
    s_fake_now = 5999;
    out = s_capture(s_flush);
    assert_string_equal(out, "");
    free(out);
    s_fake_now = 6000;
    out = s_capture(s_flush);
    char expect[512];
    long pid = (long)getpid();
    snprintf(
        expect, sizeof expect,
        "sup[%ld] warn: suppressed 7 more messages like \"malformed frame %%d\" in 1 s\n"
        "sup[%ld] warn: [conn_a] suppressed 2 more messages like \"build failed %%d\" in 1 s\n"
        "sup[%ld] warn: [conn_b] suppressed 2 more messages like \"build failed %%d\" in 1 s\n",
        pid, pid, pid);
    assert_string_equal(out, expect);
    free(out);
    out = s_capture(s_flush); /* printed once */
    assert_string_equal(out, "");
    free(out);

    /* without a flush, the summary comes before the next allowed line */
    out = s_capture(s_flood);
    free(out);
    s_fake_now = 7000;
    out = s_capture(s_after_window);
    snprintf(expect, sizeof expect,
             "sup[%ld] warn: suppressed 7 more messages like \"malformed frame %%d\" in 1 s\n"
             "sup[%ld] warn: malformed frame 99\n",
             pid, pid);
    assert_string_equal(out, expect);
    free(out);
    cs_log_set_rate_limit(20, 10000, NULL);
    assert_int_equal(cs_log_set_level("info"), 0);
}

/* Many connections from one call site: each has its limit, in a table of fixed size; a
 * connection pushed out of it says what it suppressed first. */
static void s_many_connections(void)
{
    for (int i = 0; i < 5; i++)
        cs_log_conn_warn("first", "lost %d", i);
    for (int i = 0; i < 500; i++) {
        char name[32];
        snprintf(name, sizeof name, "conn_%d", i);
        s_fake_now++;
        cs_log_conn_warn(name, "lost %d", i);
    }
}

static void test_rate_limit_table_is_bounded(void **state)
{
    (void)state;
    cs_log_set_rate_limit(2, 1000000, s_fake_clock);
    s_fake_now = 1;
    char *out = s_capture(s_many_connections);
    assert_int_equal(s_count(out, "[first] lost"), 2);
    assert_int_equal(s_count(out, "[first] suppressed 3 more messages like \"lost %d\""), 1);
    assert_int_equal(s_count(out, "] lost"), 2 + 500);
    free(out);
    cs_log_set_rate_limit(0, 1000, s_fake_clock); /* 0: no limit */
    out = s_capture(s_flood);
    assert_int_equal(s_count(out, "malformed frame"), 10);
    free(out);
    cs_log_set_rate_limit(20, 10000, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_format_and_levels, s_plain),
        cmocka_unit_test(test_long_line_truncated),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test_setup(test_multiline_prefixed, s_plain),
        cmocka_unit_test_setup(test_rate_limit, s_plain),
        cmocka_unit_test_setup(test_rate_limit_table_is_bounded, s_plain),
        cmocka_unit_test(test_set_level),
    };
    return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
