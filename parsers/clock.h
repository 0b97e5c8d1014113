/* clock.h - the monotonic clock, for timeouts, backoff and wall-time figures (never for
 * packet time, which comes from the capture). One definition for every directory. */
#ifndef IW_CLOCK_H
#define IW_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Seconds since an arbitrary start, with nanosecond resolution. */
static inline double iw_mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Milliseconds since an arbitrary start. */
static inline uint64_t iw_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
