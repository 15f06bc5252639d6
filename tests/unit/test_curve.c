/* Unit tests of the CURVE settings: which endpoints stay on this host (the only ones bound in
 * clear without --insecure), a client's two certificates (both or neither), and the keys a
 * supervisor hands its local workers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cs_curve.h"
#include "../../supervisor/supervisor.h"

static void test_loopback_endpoints(void **state)
{
    (void)state;
    const char *local[] = {"tcp://127.0.0.1:7600",
                           "tcp://127.8.9.10:1",
                           "tcp://localhost:7600",
                           "tcp://[::1]:7600",
                           "tcp://lo:7600",
                           "ipc:///tmp/x.sock",
                           "inproc://x"};
    const char *remote[] = {"tcp://0.0.0.0:7600", "tcp://*:7600",       "tcp://10.0.0.1:7600",
                            "tcp://eth0:7600",    "tcp://128.0.0.1:1",  "tcp://127.0.0:1",
                            "tcp://127.0.0.1",    "tcp://[::]:7600",    "tcp://host.example:1",
                            "udp://127.0.0.1:1",  "tcp://1270.0.0.1:1", ""};
    for (size_t i = 0; i < sizeof local / sizeof *local; i++)
        assert_true(cs_auth_loopback(local[i]));
    for (size_t i = 0; i < sizeof remote / sizeof *remote; i++)
        assert_false(cs_auth_loopback(remote[i]));
}

static char s_dir[64];

static void s_keygen(const char *name, char *public_path, size_t size)
{
    snprintf(public_path, size, "%s/%s", s_dir, name);
    char secret_path[128];
    snprintf(secret_path, sizeof secret_path, "%s_secret", public_path);
    zcert_t *cert = zcert_new();
    assert_non_null(cert);
    assert_int_equal(zcert_save_public(cert, public_path), 0);
    assert_int_equal(zcert_save_secret(cert, secret_path), 0);
    zcert_destroy(&cert);
}

static void test_client_settings(void **state)
{
    (void)state;
    snprintf(s_dir, sizeof s_dir, "/tmp/cs-test-curve.XXXXXX");
    assert_non_null(mkdtemp(s_dir));
    char own[128], server[128], why[600];
    s_keygen("own", own, sizeof own);
    s_keygen("server", server, sizeof server);
    cs_curve_client_t curve;
    assert_int_equal(cs_curve_client_load(NULL, NULL, &curve, why, sizeof why), 0);
    assert_false(curve.on); /* neither: plain text */
    assert_int_equal(cs_curve_client_load(own, NULL, &curve, why, sizeof why), -1);
    assert_non_null(strstr(why, "needs both"));
    assert_int_equal(cs_curve_client_load(NULL, server, &curve, why, sizeof why), -1);
    assert_int_equal(cs_curve_client_load(own, server, &curve, why, sizeof why), 0);
    assert_true(curve.on);
    /* the public file alone has no secret key: not a certificate of one's own */
    char public_only[160];
    snprintf(public_only, sizeof public_only, "%s/public_only", s_dir);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", server, public_only);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(cs_curve_client_load(public_only, server, &curve, why, sizeof why), -1);
    assert_non_null(strstr(why, "holds no secret key"));
    /* a file that is not a certificate, a directory, a missing file */
    char junk[160];
    snprintf(junk, sizeof junk, "%s/junk", s_dir);
    FILE *f = fopen(junk, "w");
    assert_non_null(f);
    fputs("curve\n    public-key = \"short\"\n", f);
    fclose(f);
    assert_int_equal(cs_curve_client_load(own, junk, &curve, why, sizeof why), -1);
    assert_non_null(strstr(why, junk));
    assert_int_equal(cs_curve_client_load(own, s_dir, &curve, why, sizeof why), -1);
    assert_non_null(strstr(why, "not a regular file"));
    assert_int_equal(cs_curve_client_load(own, "/nonexistent/x", &curve, why, sizeof why), -1);
    assert_non_null(strstr(why, "/nonexistent/x"));
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    assert_int_equal(system(cmd), 0);
}

static void test_local_keys(void **state)
{
    (void)state;
    char why[600];
    cs_curve_client_t curve;
    unsetenv(CS_CURVE_LOCAL_ENV);
    assert_int_equal(cs_curve_local_load(&curve, why, sizeof why), 0);
    assert_false(curve.on);
    cs_curve_pair_t own, server;
    assert_int_equal(cs_curve_pair_new(&own), 0);
    assert_int_equal(cs_curve_pair_new(&server), 0);
    char secret[CS_CURVE_TEXT_SIZE], server_public[CS_CURVE_TEXT_SIZE], text[100];
    cs_curve_text(own.secret_key, secret);
    cs_curve_text(server.public_key, server_public);
    snprintf(text, sizeof text, "%s %s", secret, server_public);
    setenv(CS_CURVE_LOCAL_ENV, text, 1);
    assert_int_equal(cs_curve_local_load(&curve, why, sizeof why), 0);
    assert_true(curve.on);
    assert_memory_equal(curve.own.public_key, own.public_key, CS_CURVE_KEY_SIZE);
    assert_memory_equal(curve.own.secret_key, own.secret_key, CS_CURVE_KEY_SIZE);
    assert_memory_equal(curve.server, server.public_key, CS_CURVE_KEY_SIZE);
    const char *bad[] = {"x", "", secret, "0123456789012345678901234567890123456789 short"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        setenv(CS_CURVE_LOCAL_ENV, bad[i], 1);
        assert_int_equal(cs_curve_local_load(&curve, why, sizeof why), bad[i][0] ? -1 : 0);
    }
    unsetenv(CS_CURVE_LOCAL_ENV);
}

int main(void)
{
    zsys_handler_set(NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loopback_endpoints),
        cmocka_unit_test(test_client_settings),
        cmocka_unit_test(test_local_keys),
    };
    int rc = cmocka_run_group_tests_name("curve", tests, NULL, NULL);
    zsys_shutdown();
    return rc;
}
