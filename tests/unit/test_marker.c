/* Unit tests of cs_marker: the schema marker and the temporary schema names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cs_marker.h"

static void test_format_and_parse(void **state)
{
    (void)state;
    cs_marker_t marker = {.fingerprint = "0123456789abcdef",
                          .plugin = "synthetic",
                          .plugin_version = "1.0.0",
                          .schema_hash = "fedcba9876543210"};
    char text[512];
    assert_int_equal(cs_marker_format(&marker, text, sizeof text), 0);
    assert_string_equal(text, "connstate marker v1; fingerprint=0123456789abcdef; "
                              "plugin=synthetic; plugin_version=1.0.0; "
                              "schema_hash=fedcba9876543210");
    cs_marker_t parsed;
    assert_int_equal(cs_marker_parse(text, &parsed), 0);
    assert_memory_equal(&parsed, &marker, sizeof marker);
    assert_int_equal(cs_marker_format(&marker, text, 40), -1); /* does not fit */
    /* unknown fields are ignored; a comment that is not a marker is not ours */
    assert_int_equal(cs_marker_parse("connstate marker v1; later=x; plugin=csv", &parsed), 0);
    assert_string_equal(parsed.plugin, "csv");
    assert_string_equal(parsed.fingerprint, "");
    assert_int_equal(cs_marker_parse("my own schema", &parsed), -1);
    /* an aggregator's schema says so; a plugin's never does */
    assert_false(marker.aggregator);
    marker.aggregator = true;
    assert_int_equal(cs_marker_format(&marker, text, sizeof text), 0);
    assert_string_equal(text, "connstate marker v1; fingerprint=0123456789abcdef; "
                              "plugin=synthetic; plugin_version=1.0.0; "
                              "schema_hash=fedcba9876543210; kind=aggregator");
    assert_int_equal(cs_marker_parse(text, &parsed), 0);
    assert_memory_equal(&parsed, &marker, sizeof marker);
    assert_int_equal(cs_marker_parse("connstate marker v1; kind=aggregators", &parsed), 0);
    assert_false(parsed.aggregator);
    assert_int_equal(cs_marker_parse(NULL, &parsed), -1);
}

static void test_version_ok(void **state)
{
    (void)state;
    assert_int_equal(cs_marker_version_ok("1.2.3-rc1+b~2_x"), 1);
    assert_int_equal(cs_marker_version_ok(""), 0);
    assert_int_equal(cs_marker_version_ok("1.0; schema_hash=x"), 0);
    char long_version[66];
    memset(long_version, '1', 65);
    long_version[65] = '\0';
    assert_int_equal(cs_marker_version_ok(long_version), 0);
}

static void test_temp_name(void **state)
{
    (void)state;
    char fresh[CS_MARKER_TEMP_NAME_SIZE], old[CS_MARKER_TEMP_NAME_SIZE],
        again[CS_MARKER_TEMP_NAME_SIZE], other[CS_MARKER_TEMP_NAME_SIZE];
    assert_int_equal(cs_marker_temp_name("big", CS_MARKER_TEMP_NEW, fresh, sizeof fresh), 0);
    /* the first 16 hex digits of SHA-1("big") */
    assert_string_equal(fresh, "cs$new$95c4bea12e4edcf8");
    assert_int_equal(cs_marker_temp_name("big", CS_MARKER_TEMP_OLD, old, sizeof old), 0);
    assert_string_equal(old, "cs$old$95c4bea12e4edcf8");
    assert_int_equal(cs_marker_temp_name("big", CS_MARKER_TEMP_NEW, again, sizeof again), 0);
    assert_string_equal(again, fresh);
    assert_int_equal(cs_marker_temp_name("bigger", CS_MARKER_TEMP_NEW, other, sizeof other), 0);
    assert_string_not_equal(other, fresh);
    assert_int_equal(strlen(fresh), CS_MARKER_TEMP_NAME_SIZE - 1); /* within 63 bytes */
    /* a 63-byte connection name (the longest there is) still gives 23 bytes */
    char longest[64];
    memset(longest, 'z', 63);
    longest[63] = '\0';
    assert_int_equal(cs_marker_temp_name(longest, CS_MARKER_TEMP_OLD, other, sizeof other), 0);
    assert_int_equal(strlen(other), 23);
    assert_int_equal(cs_marker_temp_name("big", CS_MARKER_TEMP_NEW, other, 23), -1);
}

static void test_is_temp_name(void **state)
{
    (void)state;
    char name[CS_MARKER_TEMP_NAME_SIZE];
    assert_int_equal(cs_marker_temp_name("syn_1", CS_MARKER_TEMP_NEW, name, sizeof name), 0);
    assert_true(cs_marker_is_temp_name(name));
    assert_int_equal(cs_marker_temp_name("syn_1", CS_MARKER_TEMP_OLD, name, sizeof name), 0);
    assert_true(cs_marker_is_temp_name(name));
    assert_true(cs_marker_is_temp_name("cs$old$0123456789abcdef"));
    /* connection names and near misses are not */
    assert_false(cs_marker_is_temp_name("syn_1"));
    assert_false(cs_marker_is_temp_name("cs_new_0123456789abcdef"));
    assert_false(cs_marker_is_temp_name("cs$mid$0123456789abcdef"));
    assert_false(cs_marker_is_temp_name("cs$new$0123456789abcde"));   /* 15 digits */
    assert_false(cs_marker_is_temp_name("cs$new$0123456789abcdef0")); /* 17 digits */
    assert_false(cs_marker_is_temp_name("cs$new$0123456789ABCDEF"));  /* upper case */
    assert_false(cs_marker_is_temp_name("cs$new$0123456789abcdeg"));
    assert_false(cs_marker_is_temp_name("cs$new$"));
    assert_false(cs_marker_is_temp_name(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_and_parse),
        cmocka_unit_test(test_version_ok),
        cmocka_unit_test(test_temp_name),
        cmocka_unit_test(test_is_temp_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
