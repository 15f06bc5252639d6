/* Unit tests of cs_buf, cs_grow and the UTF-8 helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cs_buf.h"

static void test_append_and_take(void **state)
{
    (void)state;
    cs_buf_t buf = {0};
    assert_string_equal(cs_buf_str(&buf), "");
    cs_buf_puts(&buf, "abc");
    cs_buf_putc(&buf, '-');
    cs_buf_printf(&buf, "%d/%s", 42, "x");
    assert_string_equal(cs_buf_str(&buf), "abc-42/x");
    assert_int_equal(buf.len, 8);
    for (int i = 0; i < 1000; i++) /* growth */
        cs_buf_append(&buf, "0123456789", 10);
    assert_int_equal(buf.len, 10008);
    char *text = cs_buf_take(&buf);
    assert_int_equal(strlen(text), 10008);
    assert_null(buf.data);
    free(text);
    text = cs_buf_take(&buf); /* an empty buffer hands out "" */
    assert_string_equal(text, "");
    free(text);
    cs_buf_puts(&buf, "zz");
    cs_buf_reset(&buf);
    assert_string_equal(cs_buf_str(&buf), "");
    cs_buf_free(&buf);
    cs_buf_free(&buf);
}

static void test_json_string(void **state)
{
    (void)state;
    cs_buf_t buf = {0};
    const char text[] = "a\"b\\c\nd\te\r\x01\x7f \xc3\xa9 \xff";
    cs_buf_json_string(&buf, text, sizeof text - 1);
    assert_string_equal(cs_buf_str(&buf),
                        "\"a\\\"b\\\\c\\nd\\te\\r\\u0001\\u007f \xc3\xa9 \\u00ff\"");
    cs_buf_reset(&buf);
    cs_buf_json_text(&buf, "x\"y"); /* a C string: escaped alike */
    cs_buf_putc(&buf, ',');
    cs_buf_json_text(&buf, NULL); /* none: the literal null */
    assert_string_equal(cs_buf_str(&buf), "\"x\\\"y\",null");
    cs_buf_free(&buf);
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(cs_utf8_valid("plain", 5));
    assert_true(cs_utf8_valid("\xf0\x9f\x98\x80", 4));
    assert_false(cs_utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(cs_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(cs_utf8_valid("\xf4\x90\x80\x80", 4)); /* beyond U+10FFFF */
    assert_false(cs_utf8_valid("\xe2\x82", 2));         /* truncated */
    char text[] = "ok\x01\xff\xc3\xa9\n";
    cs_utf8_sanitize(text);
    assert_string_equal(text, "ok??\xc3\xa9\n");
}

static void test_grow(void **state)
{
    (void)state;
    int *items = NULL;
    size_t count = 0, cap = 0;
    for (int i = 0; i < 10; i++) {
        int *grown = cs_grow(items, count, &cap, 4, sizeof *items);
        assert_non_null(grown);
        items = grown;
        items[count++] = i;
    }
    assert_int_equal(cap, 16); /* 4, 8, 16 */
    assert_int_equal(items[9], 9);
    assert_ptr_equal(cs_grow(items, 3, &cap, 4, sizeof *items), items); /* room left */
    /* a size past what can be allocated: NULL, and the vector as it was */
    size_t huge = SIZE_MAX / 4;
    assert_null(cs_grow(items, huge, &huge, 4, sizeof *items));
    assert_int_equal(huge, SIZE_MAX / 4);
    assert_int_equal(items[0], 0);
    free(items);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_take),
        cmocka_unit_test(test_json_string),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_grow),
    };
    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
