/* Time: wall clock, monotonic clock and RFC 3339 formatting. */
#ifndef ERRAND_CLOCK_H
#define ERRAND_CLOCK_H

#include <stdint.h>

/* Room for "2026-03-19T12:00:00.123Z" and its NUL, with margin. */
#define CLOCK_RFC3339_LEN 32

/* Wall-clock milliseconds since the Unix epoch. */
int64_t clock_now_ms(void);

/* Monotonic nanoseconds (CLOCK_MONOTONIC); only differences mean anything. */
uint64_t clock_mono_ns(void);

/* Monotonic milliseconds. */
int64_t clock_mono_ms(void);

/*
 * Writes `ms` (epoch milliseconds) as RFC 3339 UTC into `buf`:
 * "2026-03-19T12:00:00Z" when the milliseconds are zero, else
 * "2026-03-19T12:00:00.123Z". Returns `buf`.
 */
char *clock_format_rfc3339(int64_t ms, char buf[CLOCK_RFC3339_LEN]);

/*
 * Parses an RFC 3339 time ("…Z" or "…+02:00", optional fraction) into epoch
 * milliseconds. Returns 0, or -1 when `s` is not such a time.
 */
int clock_parse_rfc3339(const char *s, int64_t *ms) __attribute__((warn_unused_result));

#endif
