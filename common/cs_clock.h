/* cs_clock: the monotonic clock and the wall clock, in ms and us.
 * Monotonic for deadlines and intervals, wall for times shown or stored. None of these
 * functions fails or blocks. */
#ifndef CS_CLOCK_H
#define CS_CLOCK_H

#include <stdint.h>

/* Milliseconds / microseconds of CLOCK_MONOTONIC: never goes back, not the time of day. */
int64_t cs_clock_mono_ms(void);
int64_t cs_clock_mono_us(void);

/* Microseconds since the Unix epoch (CLOCK_REALTIME): can jump when the clock is set. */
int64_t cs_clock_wall_us(void);

#endif
