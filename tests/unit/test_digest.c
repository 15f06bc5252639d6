/* Unit tests of cs_digest: the 16-hex digest against known SHA-1 vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cs_digest.h"

static void s_expect(const char *text, size_t len, const char *hex)
{
    char out[CS_DIGEST_HEX_SIZE];
    memset(out, 'x', sizeof out);
    assert_int_equal(cs_digest_hex16(text, len, out), 0);
    assert_string_equal(out, hex);
}

static void test_known_vectors(void **state)
{
    (void)state;
    /* The first 8 bytes of SHA-1 (FIPS 180 examples), in lowercase hex. */
    s_expect("", 0, "da39a3ee5e6b4b0d");
    s_expect("abc", 3, "a9993e364706816a");
    s_expect("The quick brown fox jumps over the lazy dog", 43, "2fd4e1c67a2d28fc");
}

static void test_length_not_nul(void **state)
{
    (void)state;
    /* len counts, not the NUL: a prefix digests as itself, and NUL bytes are data. */
    s_expect("abcdef", 3, "a9993e364706816a");
    char a[CS_DIGEST_HEX_SIZE], b[CS_DIGEST_HEX_SIZE];
    assert_int_equal(cs_digest_hex16("a\0b", 3, a), 0);
    assert_int_equal(cs_digest_hex16("a\0c", 3, b), 0);
    assert_string_not_equal(a, b);
    assert_int_equal(strlen(a), 16);
    assert_int_equal(strspn(a, "0123456789abcdef"), 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_vectors),
        cmocka_unit_test(test_length_not_nul),
    };
    return cmocka_run_group_tests_name("digest", tests, NULL, NULL);
}
