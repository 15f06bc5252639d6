/* Unit tests of cs_secrets: which config values are secrets (nested blocks, lists, objects,
 * numbers), and masking: overlapping secrets, JSON-escaped echoes, cuts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cs_config.h"
#include "cs_secrets.h"

/* Masks text with the secrets and returns the result (static storage). */
static const char *s_masked(const cs_secrets_t *secrets, const char *text, unsigned flags)
{
    static char out[4096];
    size_t len = 0;
    char *masked = cs_secrets_mask(secrets, text, strlen(text), flags, &len);
    assert_non_null(masked);
    assert_int_equal(strlen(masked), len);
    snprintf(out, sizeof out, "%s", masked);
    free(masked);
    return out;
}

/* Fails when any 4-byte piece of secret occurs in text. */
static void s_assert_no_piece(const char *text, const char *secret)
{
    for (size_t i = 0; i + 4 <= strlen(secret); i++) {
        char piece[5];
        memcpy(piece, secret + i, 4);
        piece[4] = '\0';
        if (strstr(text, piece))
            fail_msg("'%s' (of the secret %s) occurs in '%s'", piece, secret, text);
    }
}

static void test_names(void **state)
{
    (void)state;
    const char *secret[] = {"password",      "db_password", "API_KEY",         "Token",
                            "client_secret", "credentials", "private_key_pem", "monkey"};
    const char *plain[] = {"user", "host", "regions", "_labels", "pass", "auth", ""};
    for (size_t i = 0; i < sizeof secret / sizeof *secret; i++)
        assert_true(cs_secrets_name_is_secret(secret[i]));
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
        assert_false(cs_secrets_name_is_secret(plain[i]));
    assert_false(cs_secrets_name_is_secret(NULL));
}

/* The config JSON as the loader makes it: nested blocks, labels, lists, objects, numbers. */
static void test_from_config_at_any_depth(void **state)
{
    (void)state;
    const char *spc = "connection \"c\" {\n"
                      "  plugin   = \"p\"\n"
                      "  user     = \"admin\"\n"
                      "  regions  = [\"us-east-1\"]\n"
                      "  api_keys = [\"list-key-one\", \"list-key-two\"]\n"
                      "  options \"auth\" {\n"
                      "    token = \"nested-token\"\n"
                      "    retries = 3\n"
                      "  }\n"
                      "  credentials \"prod-label\" {\n"
                      "    user  = \"cred-user\"\n"
                      "    pin   = 424242\n"
                      "    ratio = 0.1\n"
                      "    deep  = { list = [{ x = \"deep-value\" }] }\n"
                      "    on    = true\n"
                      "  }\n"
                      "  headers = { Authorization = \"plain-header\", x_token = \"obj-token\" }\n"
                      "  private_key = <<EOT\n"
                      "pem-line\n"
                      "EOT\n"
                      "}\n";
    cs_config_t *cfg = cs_config_load_text("t.spc", spc, strlen(spc));
    assert_non_null(cfg);
    assert_int_equal(cfg->count, 1);
    cs_secrets_t *secrets = cs_secrets_from_config(cfg->connections[0].config_json);
    assert_non_null(secrets);
    const char *text = "list-key-one list-key-two nested-token cred-user 424242 0.1 "
                       "0.10000000000000001 deep-value prod-label obj-token pem-line\n"
                       "| admin us-east-1 auth 3 true plain-header pem-line";
    /* the heredoc's value ends with its newline */
    assert_string_equal(s_masked(secrets, text, 0),
                        "*** *** *** *** *** *** *** *** *** *** ***"
                        "| admin us-east-1 auth 3 true plain-header pem-line");
    cs_secrets_destroy(&secrets);
    assert_null(secrets);
    cs_secrets_destroy(&secrets); /* idempotent */
    cs_config_destroy(&cfg);
}

static void test_from_config_edge_cases(void **state)
{
    (void)state;
    const char *configs[] = {NULL,
                             "",
                             "not json",
                             "[1,2]",
                             "{\"user\":\"x\"}",
                             "{\"token\":\"\"}",
                             "{\"token\":null,\"key\":false}"};
    for (size_t i = 0; i < sizeof configs / sizeof *configs; i++) {
        cs_secrets_t *secrets = cs_secrets_from_config(configs[i]);
        assert_non_null(secrets);
        assert_int_equal(cs_secrets_count(secrets), 0);
        assert_string_equal(s_masked(secrets, "nothing to hide: x", 0), "nothing to hide: x");
        cs_secrets_destroy(&secrets);
    }
    /* a top-level array of secret objects (any JSON the worker may be given) */
    cs_secrets_t *secrets = cs_secrets_from_config("[{\"secret\":[[\"inner\"]]}]");
    assert_string_equal(s_masked(secrets, "an inner value", 0), "an *** value");
    cs_secrets_destroy(&secrets);
    assert_int_equal(cs_secrets_count(NULL), 0);
    assert_int_equal(cs_secrets_max_len(NULL), 0);
    assert_string_equal(s_masked(NULL, "copied as is", 0), "copied as is");
}

/* A plugin that echoes its config JSON shows escaped secrets: those are masked too. */
static void test_escaped_forms(void **state)
{
    (void)state;
    cs_secrets_t *secrets = cs_secrets_from_config("{\"password\":\"pa\\\"ss\\\\w\\u00e9\\nrd\"}");
    assert_non_null(secrets);
    /* raw, connstate's JSON (UTF-8 kept), ASCII-only JSON (either case of hex digits) */
    assert_string_equal(s_masked(secrets, "raw pa\"ss\\w\xc3\xa9\nrd end", 0), "raw *** end");
    assert_string_equal(s_masked(secrets, "{\"password\":\"pa\\\"ss\\\\w\xc3\xa9\\nrd\"}", 0),
                        "{\"password\":\"***\"}");
    assert_string_equal(s_masked(secrets, "{\"password\":\"pa\\\"ss\\\\w\\u00e9\\nrd\"}", 0),
                        "{\"password\":\"***\"}");
    assert_string_equal(s_masked(secrets, "{\"password\":\"pa\\\"ss\\\\w\\u00E9\\nrd\"}", 0),
                        "{\"password\":\"***\"}");
    cs_secrets_destroy(&secrets);
}

static void test_add_count_and_lengths(void **state)
{
    (void)state;
    cs_secrets_t *secrets = cs_secrets_new();
    assert_non_null(secrets);
    assert_int_equal(cs_secrets_add(secrets, "", 0), 0);
    assert_int_equal(cs_secrets_count(secrets), 0);
    assert_int_equal(cs_secrets_add(secrets, "abc", 3), 0);
    assert_int_equal(cs_secrets_add(secrets, "abc", 3), 0);
    assert_int_equal(cs_secrets_add(secrets, "abcdefgh", 8), 0);
    assert_int_equal(cs_secrets_add(secrets, "xyz and more", 3), 0); /* len bytes only */
    assert_int_equal(cs_secrets_count(secrets), 3);
    assert_int_equal(cs_secrets_max_len(secrets), 8);
    assert_string_equal(s_masked(secrets, "xyz and more", 0), "*** and more");
    cs_secrets_destroy(&secrets);
}

/* A secret that contains another is masked whole; overlapping ones merge into one mask. */
static void test_overlapping_secrets(void **state)
{
    (void)state;
    cs_secrets_t *secrets = cs_secrets_new();
    assert_int_equal(cs_secrets_add(secrets, "cde", 3), 0);
    assert_int_equal(cs_secrets_add(secrets, "abcdefg", 7), 0);
    assert_int_equal(cs_secrets_add(secrets, "fgxyz", 5), 0);
    assert_int_equal(cs_secrets_add(secrets, "aa", 2), 0);
    assert_string_equal(s_masked(secrets, "1abcdefg2", 0), "1***2");
    assert_string_equal(s_masked(secrets, "1cde2cde3", 0), "1***2***3");
    assert_string_equal(s_masked(secrets, "1abcdefgxyz2", 0), "1***2");
    assert_string_equal(s_masked(secrets, "aaa aaaa", 0), "*** ***");
    assert_string_equal(s_masked(secrets, "abcdeXfgxy", 0), "ab***Xfgxy");
    cs_secrets_destroy(&secrets);
}

/* Bytes after a NUL are masked too (plugin stderr is binary). */
static void test_binary_text(void **state)
{
    (void)state;
    cs_secrets_t *secrets = cs_secrets_new();
    assert_int_equal(cs_secrets_add(secrets, "s3cret", 6), 0);
    const char text[] = "a\0s3cret\0b";
    size_t len = 0;
    char *masked = cs_secrets_mask(secrets, text, sizeof text - 1, 0, &len);
    assert_non_null(masked);
    assert_int_equal(len, 7);
    assert_memory_equal(masked, "a\0***\0b", 7);
    free(masked);
    cs_secrets_destroy(&secrets);
}

/* Masking comes before the cut: a secret across the end of the buffer leaves nothing. */
static void test_secret_at_a_cut_boundary(void **state)
{
    (void)state;
    const char *secret = "Zq7Xw9Pv3Km5Rt8Ny2Lb6Hd4";
    cs_secrets_t *secrets = cs_secrets_new();
    assert_int_equal(cs_secrets_add(secrets, secret, strlen(secret)), 0);
    const char *text = "login: Zq7Xw9Pv3Km5Rt8Ny2Lb6Hd4 failed";
    for (size_t size = 1; size < 60; size++) {
        char out[64];
        assert_int_equal(cs_secrets_mask_into(secrets, text, strlen(text), out, size), 0);
        assert_true(strlen(out) < size);
        s_assert_no_piece(out, secret);
        assert_int_equal(strncmp(out, "login: *** failed", strlen(out)), 0);
    }
    /* in place: a mask longer than a short secret, cut after masking */
    cs_secrets_t *short_one = cs_secrets_new();
    assert_int_equal(cs_secrets_add(short_one, "pw", 2), 0);
    char in_place[6] = "a pw";
    assert_int_equal(cs_secrets_mask_str(short_one, in_place, sizeof in_place), 0);
    assert_string_equal(in_place, "a ***");
    char tight[5] = "a pw";
    assert_int_equal(cs_secrets_mask_str(short_one, tight, sizeof tight), 0);
    assert_string_equal(tight, "a **");
    cs_secrets_destroy(&short_one);
    /* a text already cut inside a secret: the part left at the edge is masked */
    assert_string_equal(s_masked(secrets, "8Ny2Lb6Hd4\"}....", CS_SECRETS_CUT_START), "***\"}....");
    assert_string_equal(s_masked(secrets, "....token=Zq7Xw9Pv3K", CS_SECRETS_CUT_END),
                        "....token=***");
    assert_string_equal(s_masked(secrets, "8Ny2Lb6Hd4 and Zq7X", 0), "8Ny2Lb6Hd4 and Zq7X");
    /* a whole secret at the edge of a cut text is masked once, as ever */
    assert_string_equal(
        s_masked(secrets, "Zq7Xw9Pv3Km5Rt8Ny2Lb6Hd4!", CS_SECRETS_CUT_START | CS_SECRETS_CUT_END),
        "***!");
    /* without secrets, the text is kept whole */
    char plain[32] = "nothing to mask";
    assert_int_equal(cs_secrets_mask_str(NULL, plain, sizeof plain), 0);
    assert_string_equal(plain, "nothing to mask");
    char out[8];
    assert_int_equal(cs_secrets_mask_into(NULL, plain, strlen(plain), out, sizeof out), 0);
    assert_string_equal(out, "nothing");
    cs_secrets_destroy(&secrets);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_from_config_at_any_depth),
        cmocka_unit_test(test_from_config_edge_cases),
        cmocka_unit_test(test_escaped_forms),
        cmocka_unit_test(test_add_count_and_lengths),
        cmocka_unit_test(test_overlapping_secrets),
        cmocka_unit_test(test_binary_text),
        cmocka_unit_test(test_secret_at_a_cut_boundary),
    };
    return cmocka_run_group_tests_name("secrets", tests, NULL, NULL);
}
