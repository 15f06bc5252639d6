/* The monotonic and wall clocks, in the units connstate counts in. */
#include "common.h"

#include <time.h>

static int64_t s_read_us(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts); /* cannot fail for these clocks and a valid pointer */
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t cs_clock_mono_ms(void)
{
    return s_read_us(CLOCK_MONOTONIC) / 1000;
}

int64_t cs_clock_mono_us(void)
{
    return s_read_us(CLOCK_MONOTONIC);
}

int64_t cs_clock_wall_us(void)
{
    return s_read_us(CLOCK_REALTIME);
}
