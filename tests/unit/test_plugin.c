/* Unit tests of cs_plugin's runs under a plugin instance's settings: the environment, the
 * memory limit, the bounds of the settings and the secrets of env. */
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

#include <signal.h>

#include "cs_clock.h"
#include "cs_plugin.h"
#include "cs_proto.h"

static char s_dir[64];
static char s_path[128];

/* A plugin that prints its argv, its environment's variables of the test and its limit; and
 * with "hold N", holds N MiB. */
static int s_setup(void **state)
{
    (void)state;
    snprintf(s_dir, sizeof s_dir, "/tmp/connstate-unit-plugin.XXXXXX");
    assert_non_null(mkdtemp(s_dir));
    snprintf(s_path, sizeof s_path, "%s/show", s_dir);
    FILE *f = fopen(s_path, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\n"
          "if [ \"$1\" = hold ]; then x=$(head -c \"$2\"M /dev/zero | tr '\\0' x); exit 0; fi\n"
          "echo \"argv=$0 $*\"\n"
          "echo \"T_A=${T_A-unset} T_B=${T_B-unset} GOMEMLIMIT=${GOMEMLIMIT-unset}\"\n"
          "echo \"limit=$(ulimit -v)\"\n",
          f);
    fclose(f);
    chmod(s_path, 0755);
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    unlink(s_path);
    rmdir(s_dir);
    return 0;
}

/* Runs the plugin with args and settings; returns its rc, its output in out. */
static int s_run(const char *arg1, const char *arg2, const cs_plugin_settings_t *settings,
                 cs_buf_t *out, char *why, size_t why_size)
{
    char *const argv[] = {s_path, (char *)arg1, (char *)arg2, NULL};
    cs_buf_reset(out);
    return cs_plugin_run(argv, NULL, 0, NULL, settings, 10000, out, why, why_size, NULL, NULL);
}

static void test_run_environment(void **state)
{
    (void)state;
    cs_buf_t out = {0};
    char why[512] = "";
    setenv("T_A", "inherited", 1);
    setenv("T_B", "kept", 1);
    assert_int_equal(s_run("x", NULL, NULL, &out, why, sizeof why), 0);
    assert_non_null(strstr(cs_buf_str(&out), "T_A=inherited T_B=kept GOMEMLIMIT=unset"));
    assert_non_null(strstr(cs_buf_str(&out), "limit=unlimited"));

    /* env on top of the inherited environment, replacing a variable of its name; never argv */
    const char *env[] = {"T_A=from instance=1"};
    cs_plugin_settings_t settings = {0, env, 1};
    assert_int_equal(s_run("x", NULL, &settings, &out, why, sizeof why), 0);
    const char *text = cs_buf_str(&out);
    assert_non_null(strstr(text, "T_A=from instance=1 T_B=kept GOMEMLIMIT=unset"));
    assert_true(strncmp(text, "argv=/tmp/connstate-unit-plugin", 31) == 0);
    const char *argv_end = strchr(text, '\n');
    assert_non_null(argv_end);
    assert_true(strncmp(argv_end - 7, "/show x", 7) == 0); /* its argv is its own */

    /* a limit: the address space and GOMEMLIMIT, unless env sets GOMEMLIMIT */
    settings.memory_max_mb = 512;
    assert_int_equal(s_run("x", NULL, &settings, &out, why, sizeof why), 0);
    text = cs_buf_str(&out);
    assert_non_null(strstr(text, "GOMEMLIMIT=512MiB"));
    assert_non_null(strstr(text, "limit=524288\n"));
    assert_non_null(strstr(text, "/show x\n"));
    const char *own[] = {"GOMEMLIMIT=100MiB"};
    settings.env = own;
    assert_int_equal(s_run("x", NULL, &settings, &out, why, sizeof why), 0);
    assert_non_null(strstr(cs_buf_str(&out), "GOMEMLIMIT=100MiB"));
    unsetenv("T_A");
    unsetenv("T_B");
    cs_buf_free(&out);
}

static void test_run_over_the_limit(void **state)
{
    (void)state;
    cs_buf_t out = {0};
    char why[512] = "";
    cs_plugin_settings_t settings = {48, NULL, 0};
    assert_int_equal(s_run("hold", "100", &settings, &out, why, sizeof why), -1);
    assert_non_null(strstr(why, "plugin show hold "));
    assert_non_null(strstr(why, "under its memory limit (memory_max_mb = 48 MiB)"));
    /* the same without the limit */
    assert_int_equal(s_run("hold", "100", NULL, &out, why, sizeof why), 0);
    cs_buf_free(&out);
}

static void test_settings_check(void **state)
{
    (void)state;
    char why[256] = "";
    const char *ok[] = {"AWS_PROFILE=prod", "EMPTY=", "_X=a=b"};
    assert_int_equal(cs_plugin_settings_check(2048, ok, 3, why, sizeof why), 0);
    assert_int_equal(cs_plugin_settings_check(0, NULL, 0, why, sizeof why), 0);
    assert_int_equal(cs_plugin_settings_check(CS_PROTO_MAX_MEMORY_MB, NULL, 0, why, sizeof why), 0);
    assert_int_equal(cs_plugin_settings_check(CS_PROTO_MAX_MEMORY_MB + 1, NULL, 0, why, sizeof why),
                     -1);
    assert_non_null(strstr(why, "memory_max_mb must be 0 (no limit) to 1048576"));
    assert_int_equal(cs_plugin_settings_check(-1, NULL, 0, why, sizeof why), -1);
    const char *many[CS_PROTO_MAX_ENV + 1];
    for (int i = 0; i <= CS_PROTO_MAX_ENV; i++)
        many[i] = "A=1";
    assert_int_equal(cs_plugin_settings_check(0, many, CS_PROTO_MAX_ENV, why, sizeof why), 0);
    assert_int_equal(cs_plugin_settings_check(0, many, CS_PROTO_MAX_ENV + 1, why, sizeof why), -1);
    assert_non_null(strstr(why, "at most 64"));
    const char *bad_name[] = {"A=1", "1X=secret-value"};
    assert_int_equal(cs_plugin_settings_check(0, bad_name, 2, why, sizeof why), -1);
    assert_non_null(strstr(why, "env entry 2: its name"));
    assert_null(strstr(why, "secret-value")); /* never the value */
    const char *bad_utf8[] = {"TOKEN=\xff\xfe"};
    assert_int_equal(cs_plugin_settings_check(0, bad_utf8, 1, why, sizeof why), -1);
    assert_non_null(strstr(why, "env TOKEN: its value must be UTF-8"));
    char *long_entry = malloc(CS_PROTO_MAX_ENV_ENTRY + 2);
    memset(long_entry, 'v', CS_PROTO_MAX_ENV_ENTRY + 1);
    memcpy(long_entry, "L=", 2);
    long_entry[CS_PROTO_MAX_ENV_ENTRY + 1] = '\0';
    const char *too_long[] = {long_entry};
    assert_int_equal(cs_plugin_settings_check(0, too_long, 1, why, sizeof why), -1);
    assert_non_null(strstr(why, "at most 4096 bytes"));
    long_entry[CS_PROTO_MAX_ENV_ENTRY] = '\0';
    assert_int_equal(cs_plugin_settings_check(0, too_long, 1, why, sizeof why), 0);
    free(long_entry);
}

static void test_env_secrets(void **state)
{
    (void)state;
    cs_secrets_t *secrets = cs_secrets_new();
    assert_non_null(secrets);
    const char *env[] = {"AWS_SECRET_ACCESS_KEY=ab", "REGION=us-east-1", "DEBUG=1", "EMPTY="};
    assert_int_equal(cs_plugin_env_secrets(secrets, env, 4), 0);
    /* a short value of a secret name, and every value of 4 bytes or more; not "1" */
    assert_int_equal(cs_secrets_count(secrets), 2);
    char text[128] = "key ab in us-east-1, debug 1";
    assert_int_equal(cs_secrets_mask_str(secrets, text, sizeof text), 0);
    assert_string_equal(text, "key *** in ***, debug 1");
    cs_secrets_destroy(&secrets);
}

static void test_limit_prefix(void **state)
{
    (void)state;
    cs_buf_t out = {0};
    cs_plugin_limit_prefix(&out, 64);
    assert_string_equal(cs_buf_str(&out),
                        "ulimit -v 65536 || { echo 'cannot limit the plugin to memory_max_mb = 64' "
                        ">&2; exit 126; }; ");
    cs_buf_free(&out);
}

/* A schema's "watch": parsed, bounded, and not part of the hash. */
static void test_schema_watch(void **state)
{
    (void)state;
    char why[512];
    const char *tables = "\"tables\":[{\"name\":\"t\",\"columns\":[{\"name\":\"a\","
                         "\"type\":\"text\"}]}]";
    char json[1024];
    snprintf(json, sizeof json, "{%s}", tables);
    cs_schema_t *plain = cs_schema_parse(json, strlen(json), NULL, why, sizeof why);
    assert_non_null(plain);
    assert_int_equal(plain->watch_count, 0);
    snprintf(json, sizeof json, "{\"watch\":[\"/data/*.csv\",\"/data/x.csv\"],%s}", tables);
    cs_schema_t *watched = cs_schema_parse(json, strlen(json), NULL, why, sizeof why);
    assert_non_null(watched);
    assert_int_equal(watched->watch_count, 2);
    assert_string_equal(watched->watch[0], "/data/*.csv");
    assert_string_equal(watched->hash, plain->hash); /* what is watched is not the schema */
    cs_schema_destroy(&plain);
    cs_schema_destroy(&watched);
    const char *bad[] = {"[\"data/*.csv\"]", "[\"/data/\"]", "[\"\"]", "[1]",
                         "[\"/a\\nb\"]",     "\"/data\""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(json, sizeof json, "{\"watch\":%s,%s}", bad[i], tables);
        why[0] = '\0';
        assert_null(cs_schema_parse(json, strlen(json), NULL, why, sizeof why));
        assert_non_null(strstr(why, "\"watch\""));
    }
    /* too many entries */
    cs_buf_t many = {0};
    cs_buf_puts(&many, "{\"watch\":[");
    for (int i = 0; i <= CS_PROTO_MAX_WATCH; i++)
        cs_buf_printf(&many, "%s\"/d/%d\"", i ? "," : "", i);
    cs_buf_printf(&many, "],%s}", tables);
    assert_null(cs_schema_parse(many.data, many.len, NULL, why, sizeof why));
    assert_non_null(strstr(why, "at most 1024 paths"));
    cs_buf_free(&many);
}

/* Whether the process runs: it exists and is not a zombie (its parent was killed with it, and
 * whoever adopts it may not have reaped it yet). */
static bool s_running(int pid)
{
    char path[64], stat[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = '\0';
    const char *end = strrchr(stat, ')'); /* the state follows the command's name */
    return end && end[1] == ' ' && end[2] != 'Z';
}

static int s_ticks;
static bool s_stop_after_three(void *arg)
{
    (void)arg;
    return ++s_ticks < 3;
}

/* A caller that stops (its tick says so) ends a plugin that would run for a minute, and what
 * the plugin started, at once, failing the run with the reason. */
static void test_run_stopped_by_tick(void **state)
{
    (void)state;
    char script[160], pidfile[160];
    snprintf(script, sizeof script, "%s/lingers", s_dir);
    snprintf(pidfile, sizeof pidfile, "%s/child.pid", s_dir);
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\nsleep 60 &\necho $! >%s\nwait\n", pidfile);
    fclose(f);
    chmod(script, 0755);
    char *const argv[] = {script, (char *)"schema", NULL};
    cs_buf_t out = {0};
    char why[512] = "";
    s_ticks = 0;
    int64_t t0 = cs_clock_mono_ms();
    assert_int_equal(cs_plugin_run(argv, NULL, 0, NULL, NULL, 60000, &out, why, sizeof why,
                                   s_stop_after_three, NULL),
                     -1);
    assert_true(cs_clock_mono_ms() - t0 < 5000);
    assert_non_null(strstr(why, "was killed: this process is stopping"));
    f = fopen(pidfile, "r");
    assert_non_null(f);
    int child = 0;
    assert_int_equal(fscanf(f, "%d", &child), 1);
    fclose(f);
    /* the plugin's own child (in its process group) is gone too, within a second */
    bool alive = true;
    for (int i = 0; i < 100 && alive; i++) {
        alive = s_running(child);
        if (alive)
            usleep(10000);
    }
    assert_false(alive);
    cs_buf_free(&out);
    unlink(pidfile);
    unlink(script);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_environment),     cmocka_unit_test(test_run_over_the_limit),
        cmocka_unit_test(test_run_stopped_by_tick), cmocka_unit_test(test_settings_check),
        cmocka_unit_test(test_env_secrets),         cmocka_unit_test(test_limit_prefix),
        cmocka_unit_test(test_schema_watch),
    };
    return cmocka_run_group_tests_name("plugin", tests, s_setup, s_teardown);
}
