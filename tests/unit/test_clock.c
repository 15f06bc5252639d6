/* Unit tests of cs_clock: the monotonic clock never goes back, units agree, the wall clock
 * is the time of day. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <time.h>

#include "cs_clock.h"

static void test_monotonic(void **state)
{
    (void)state;
    int64_t last_us = cs_clock_mono_us(), last_ms = cs_clock_mono_ms();
    for (int i = 0; i < 100000; i++) {
        int64_t us = cs_clock_mono_us(), ms = cs_clock_mono_ms();
        assert_true(us >= last_us);
        assert_true(ms >= last_ms);
        last_us = us;
        last_ms = ms;
    }
    /* the same clock in two units: ms read after us is at least us/1000 */
    int64_t us = cs_clock_mono_us();
    int64_t ms = cs_clock_mono_ms();
    assert_true(ms >= us / 1000);
    assert_true(ms - us / 1000 < 1000);
}

static void test_wall(void **state)
{
    (void)state;
    time_t before = time(NULL);
    int64_t wall = cs_clock_wall_us();
    time_t after = time(NULL);
    /* time() may read a coarser clock: allow a second either side */
    assert_true(wall / 1000000 >= (int64_t)before - 1);
    assert_true(wall / 1000000 <= (int64_t)after + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_monotonic),
        cmocka_unit_test(test_wall),
    };
    return cmocka_run_group_tests_name("clock", tests, NULL, NULL);
}
