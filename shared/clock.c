/* Time: wall clock, monotonic clock and RFC 3339 formatting. */
#include "clock.h"

#include <stdio.h>
#include <time.h>

#define MS_PER_DAY 86400000LL

/*
 * Days since 1970-01-01 of the proleptic Gregorian date y-m-d (m 1-12,
 * d 1-31), valid for any year an int64 of milliseconds can hold.
 * (Howard Hinnant's days_from_civil.)
 */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The inverse of days_from_civil(): the date of day `z` since 1970-01-01. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

static int is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int64_t y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/*
 * Reads exactly `n` decimal digits at `*p` into `*out` and advances `*p`.
 * Returns 0, or -1 (with `*p` unchanged) when a digit is missing.
 */
static int read_digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int64_t clock_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t clock_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t clock_mono_ms(void)
{
	return (int64_t)(clock_mono_ns() / 1000000u);
}

char *clock_format_rfc3339(int64_t ms, char buf[CLOCK_RFC3339_LEN])
{
	/* Floor division, so times before 1970 format correctly too. */
	int64_t days = ms / MS_PER_DAY;
	int64_t rem = ms % MS_PER_DAY;
	if (rem < 0) {
		rem += MS_PER_DAY;
		days--;
	}
	int64_t year;
	int month, day;
	civil_from_days(days, &year, &month, &day);
	int msec = (int)(rem % 1000);
	int sec = (int)(rem / 1000 % 60);
	int min = (int)(rem / 60000 % 60);
	int hour = (int)(rem / 3600000);

	if (msec)
		snprintf(buf, CLOCK_RFC3339_LEN, "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
			 (long long)year, month, day, hour, min, sec, msec);
	else
		snprintf(buf, CLOCK_RFC3339_LEN, "%04lld-%02d-%02dT%02d:%02d:%02dZ",
			 (long long)year, month, day, hour, min, sec);
	return buf;
}

int clock_parse_rfc3339(const char *s, int64_t *ms)
{
	int year, month, day, hour, min, sec, frac_ms = 0, off_min = 0;
	const char *p = s;

	if (!s)
		return -1;
	if (read_digits(&p, 4, &year) || *p++ != '-' || read_digits(&p, 2, &month) || *p++ != '-' ||
	    read_digits(&p, 2, &day))
		return -1;
	if (*p != 'T' && *p != 't')
		return -1;
	p++;
	if (read_digits(&p, 2, &hour) || *p++ != ':' || read_digits(&p, 2, &min) || *p++ != ':' ||
	    read_digits(&p, 2, &sec))
		return -1;
	if (*p == '.') {
		/* At least one digit; digits past the millisecond are dropped. */
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		for (int i = 0; *p >= '0' && *p <= '9'; i++, p++)
			if (i < 3)
				frac_ms += (*p - '0') * (i == 0 ? 100 : i == 1 ? 10 : 1);
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (read_digits(&p, 2, &oh) || *p++ != ':' || read_digits(&p, 2, &om))
			return -1;
		if (oh > 23 || om > 59)
			return -1;
		off_min = sign * (oh * 60 + om);
	} else {
		return -1;
	}
	if (*p != '\0')
		return -1;

	/* A leap second (:60) is accepted and counts as the next second. */
	if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
	    min > 59 || sec > 60)
		return -1;

	int64_t days = days_from_civil(year, month, day);
	int64_t secs = days * 86400 + hour * 3600 + min * 60 + sec - (int64_t)off_min * 60;
	/* The instant in UTC must have a four-digit year, so that it formats back. */
	if (secs < days_from_civil(0, 1, 1) * 86400 || secs >= days_from_civil(10000, 1, 1) * 86400)
		return -1;
	*ms = secs * 1000 + frac_ms;
	return 0;
}
