/*
 * runtime/clock.h - the programs' one millisecond clock.
 *
 * Wall time (CLOCK_REALTIME) is what goes into records and messages: fix
 * receive times, alert times, log lines. Monotonic time (CLOCK_MONOTONIC)
 * measures intervals that must not jump with the wall clock: timeouts,
 * rate limits, "silent for". Both in int64_t milliseconds; the core never
 * reads a clock (time comes in as an argument), the programs read it here.
 */
#ifndef LWRT_CLOCK_H
#define LWRT_CLOCK_H

#include <stdint.h>

/* Milliseconds since the Unix epoch, UTC (CLOCK_REALTIME). */
int64_t lwrt_wall_ms(void);

/* Milliseconds of CLOCK_MONOTONIC (an arbitrary origin; never goes back). */
int64_t lwrt_mono_ms(void);

#endif
