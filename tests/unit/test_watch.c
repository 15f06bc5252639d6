/* Unit tests of schema watches (supervisor/watch.c): how an entry is split and matched, and
 * a real inotify watch of a temporary directory (debounced, a missing directory watched
 * through its parent, lists replaced and forgotten). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../supervisor/supervisor.h"

static void test_split(void **state)
{
    (void)state;
    char dir[64];
    const char *base, *why;
    assert_int_equal(cs_watch_split("/data/sales/*.csv", dir, sizeof dir, &base, &why), 0);
    assert_string_equal(dir, "/data/sales");
    assert_string_equal(base, "*.csv");
    assert_int_equal(cs_watch_split("/extra.csv", dir, sizeof dir, &base, &why), 0);
    assert_string_equal(dir, "/");
    assert_string_equal(base, "extra.csv");
    assert_int_equal(cs_watch_split("relative/x.csv", dir, sizeof dir, &base, &why), -1);
    assert_string_equal(why, "not an absolute path");
    assert_int_equal(cs_watch_split("/data/", dir, sizeof dir, &base, &why), -1);
    assert_non_null(strstr(why, "ends in '/'"));
    assert_int_equal(cs_watch_split("/data/*/x.csv", dir, sizeof dir, &base, &why), -1);
    assert_non_null(strstr(why, "a glob before its last component"));
    assert_int_equal(cs_watch_split("/d[ab]/x.csv", dir, sizeof dir, &base, &why), -1);
    char small[4];
    assert_int_equal(cs_watch_split("/data/x.csv", small, sizeof small, &base, &why), -1);
    assert_string_equal(why, "its directory is too long");
}

static void test_match(void **state)
{
    (void)state;
    assert_true(cs_watch_match("*.csv", "sales.csv"));
    assert_false(cs_watch_match("*.csv", "sales.csv.tmp"));
    assert_false(cs_watch_match("*.csv", ".hidden.csv")); /* as the shell: a dot is a dot */
    assert_true(cs_watch_match("s?les.csv", "sales.csv"));
    assert_true(cs_watch_match("[ab].csv", "a.csv"));
    assert_false(cs_watch_match("[ab].csv", "c.csv"));
    assert_true(cs_watch_match("extra.csv", "extra.csv")); /* no glob: the same name */
    assert_false(cs_watch_match("extra.csv", "extra.csvx"));
}

typedef struct {
    char names[8][64];
    int count;
} s_fired_t;

static void s_on_due(void *arg, const char *connection)
{
    s_fired_t *fired = arg;
    if (fired->count < 8)
        snprintf(fired->names[fired->count++], sizeof fired->names[0], "%s", connection);
}

/* Reads the events (inotify queued them within the system calls that made them; up to a
 * second for them to show) and takes what is due after every debounce. */
static s_fired_t s_settle(cs_watch_t *watch)
{
    s_fired_t fired = {0};
    for (int i = 0; i < 100; i++) {
        cs_watch_on_readable(watch);
        if (cs_watch_next_ms(watch) >= 0)
            break;
        usleep(10000);
    }
    cs_watch_on_readable(watch); /* the rest of a burst */
    cs_watch_take_due(watch, cs_clock_mono_ms() + CS_WATCH_MAX_MS + 1, s_on_due, &fired);
    return fired;
}

static void s_write(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("a,b\n", f);
    fclose(f);
}

static void test_watch_a_directory(void **state)
{
    (void)state;
    char root[] = "/tmp/connstate-test-watch.XXXXXX";
    assert_non_null(mkdtemp(root));
    char glob[600], other[600], missing[600];
    snprintf(glob, sizeof glob, "%s/*.csv", root);
    snprintf(other, sizeof other, "%s/extra.csv", root);
    snprintf(missing, sizeof missing, "%s/later/sub/*.csv", root);
    cs_watch_t *watch = cs_watch_new();
    assert_non_null(watch);
    assert_true(cs_watch_fd(watch) >= 0);
    assert_false(cs_watch_known(watch, "sales"));
    char *sales[] = {glob};
    char *extra[] = {other, "/bad/*/glob.csv"};
    char *later[] = {missing};
    cs_watch_set(watch, "sales", sales, 1);
    cs_watch_set(watch, "extra", extra, 2); /* the bad entry is left out (logged) */
    cs_watch_set(watch, "later", later, 1);
    cs_watch_set(watch, "none", NULL, 0);
    assert_true(cs_watch_known(watch, "sales"));
    assert_true(cs_watch_known(watch, "none"));
    assert_int_equal(cs_watch_dirs(watch), 1); /* root: "later" waits there for its folder */
    assert_int_equal(cs_watch_next_ms(watch), -1);

    /* a matching file: its connection, once however many events */
    s_write(root, "a.csv");
    s_write(root, "a.csv");
    s_fired_t fired = s_settle(watch);
    assert_int_equal(fired.count, 1);
    assert_string_equal(fired.names[0], "sales");
    /* the same list again (each build sends it) keeps the watch as it is */
    cs_watch_set(watch, "sales", sales, 1);
    assert_int_equal(cs_watch_dirs(watch), 1);
    s_write(root, "a.csv");
    fired = s_settle(watch);
    assert_int_equal(fired.count, 1);
    /* a file no entry matches: nothing */
    s_write(root, "notes.txt"); /* inotify queues its events within the write's system calls */
    cs_watch_on_readable(watch);
    assert_int_equal(cs_watch_next_ms(watch), -1);
    /* the literal entry */
    s_write(root, "extra.csv");
    fired = s_settle(watch);
    assert_int_equal(fired.count, 2); /* extra.csv matches *.csv too */
    /* debounced: not due before the quiet time */
    s_write(root, "b.csv");
    for (int i = 0; i < 100 && cs_watch_next_ms(watch) < 0; i++) {
        usleep(10000);
        cs_watch_on_readable(watch);
    }
    s_fired_t early = {0};
    cs_watch_take_due(watch, cs_clock_mono_ms(), s_on_due, &early);
    assert_int_equal(early.count, 0);
    assert_true(cs_watch_next_ms(watch) > 0);
    fired = s_settle(watch);
    assert_int_equal(fired.count, 1);

    /* a missing folder, made later: watched once it appears, its connection due */
    char sub[600];
    snprintf(sub, sizeof sub, "%s/later", root);
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(sub, sizeof sub, "%s/later/sub", root);
    assert_int_equal(mkdir(sub, 0755), 0);
    fired = s_settle(watch);
    assert_int_equal(fired.count, 1);
    assert_string_equal(fired.names[0], "later");
    assert_int_equal(cs_watch_dirs(watch), 3);
    s_write(sub, "late.csv");
    fired = s_settle(watch);
    assert_int_equal(fired.count, 1);
    assert_string_equal(fired.names[0], "later");

    /* a list replaced, then forgotten: no more events, no more directories */
    cs_watch_set(watch, "later", NULL, 0);
    assert_int_equal(cs_watch_dirs(watch), 1);
    cs_watch_forget(watch, "sales");
    cs_watch_forget(watch, "extra");
    assert_false(cs_watch_known(watch, "sales"));
    assert_int_equal(cs_watch_dirs(watch), 0);
    s_write(root, "c.csv");
    cs_watch_on_readable(watch);
    assert_int_equal(cs_watch_next_ms(watch), -1);
    cs_watch_destroy(&watch);
    cs_watch_destroy(&watch); /* idempotent */
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_watch_a_directory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
