/* Unit tests of clock.c: clocks, RFC 3339 formatting and parsing. */
#include <time.h>

#include "clock.h"
#include "testlib.h"

/* Parses `s`, failing the test when it is refused. */
static int64_t parse_ok(const char *s)
{
	int64_t ms = -42;
	if (clock_parse_rfc3339(s, &ms) != 0) {
		fprintf(stderr, "refused: %s\n", s);
		exit(1);
	}
	return ms;
}

static void test_format(void)
{
	char buf[CLOCK_RFC3339_LEN];
	CHECK_STR(clock_format_rfc3339(0, buf), "1970-01-01T00:00:00Z");
	CHECK_STR(clock_format_rfc3339(1773921600123LL, buf), "2026-03-19T12:00:00.123Z");
	CHECK_STR(clock_format_rfc3339(1773921600000LL, buf), "2026-03-19T12:00:00Z");
	CHECK_STR(clock_format_rfc3339(1773921600005LL, buf), "2026-03-19T12:00:00.005Z");
	CHECK_STR(clock_format_rfc3339(1709251199000LL, buf), "2024-02-29T23:59:59Z");
	CHECK_STR(clock_format_rfc3339(-1, buf), "1969-12-31T23:59:59.999Z");
	CHECK_STR(clock_format_rfc3339(-2208988800000LL, buf), "1900-01-01T00:00:00Z");
	CHECK(clock_format_rfc3339(0, buf) == buf);
}

static void test_parse_utc(void)
{
	CHECK_INT(parse_ok("1970-01-01T00:00:00Z"), 0);
	CHECK_INT(parse_ok("2026-03-19T12:00:00.123Z"), 1773921600123LL);
	CHECK_INT(parse_ok("2026-03-19T12:00:00Z"), 1773921600000LL);
	CHECK_INT(parse_ok("2026-03-19t12:00:00z"), 1773921600000LL);
	CHECK_INT(parse_ok("2026-03-19T12:00:00.5Z"), 1773921600500LL);
	CHECK_INT(parse_ok("2026-03-19T12:00:00.12Z"), 1773921600120LL);
	/* Digits past the millisecond are dropped, not rounded. */
	CHECK_INT(parse_ok("2026-03-19T12:00:00.123999Z"), 1773921600123LL);
	CHECK_INT(parse_ok("2024-02-29T23:59:59Z"), 1709251199000LL);
	CHECK_INT(parse_ok("1900-01-01T00:00:00Z"), -2208988800000LL);
}

static void test_parse_offsets(void)
{
	int64_t utc = parse_ok("2026-03-19T12:00:00Z");
	CHECK_INT(parse_ok("2026-03-19T14:00:00+02:00"), utc);
	CHECK_INT(parse_ok("2026-03-19T06:30:00-05:30"), utc);
	CHECK_INT(parse_ok("2026-03-19T12:00:00+00:00"), utc);
	CHECK_INT(parse_ok("2026-03-19T12:00:00-00:00"), utc);
	/* Across a day and a year boundary. */
	CHECK_INT(parse_ok("2026-03-20T01:00:00+13:00"), utc);
	CHECK_INT(parse_ok("2025-12-31T23:00:00-01:00"), parse_ok("2026-01-01T00:00:00Z"));
	CHECK_INT(parse_ok("2026-03-19T14:00:00.250+02:00"), utc + 250);
}

static void test_parse_invalid(void)
{
	static const char *const bad[] = {
		"",
		/* the UTC instant would need a five-digit year (found by fuzz_clock) */
		"9999-12-31T23:59:59.999999-11:30",
		"0000-01-01T00:00:00+00:01",
		"2026-03-19",
		"2026-03-19T12:00Z",
		"2026-03-19T12:00:00",
		"2026-03-19 12:00:00Z",
		"2026-03-19T12:00:00Zjunk",
		"2026-03-19T12:00:00.Z",
		"2026-03-19T12:00:00.123",
		"2026-3-19T12:00:00Z",
		"26-03-19T12:00:00Z",
		"2026-13-01T00:00:00Z",
		"2026-00-01T00:00:00Z",
		"2026-02-29T00:00:00Z",
		"2026-04-31T00:00:00Z",
		"2026-03-00T00:00:00Z",
		"2026-03-19T24:00:00Z",
		"2026-03-19T12:60:00Z",
		"2026-03-19T12:00:61Z",
		"2026-03-19T12:00:00+24:00",
		"2026-03-19T12:00:00+02:60",
		"2026-03-19T12:00:00+0200",
		"2026-03-19T12:00:00+02",
		"2026-03-19T12:00:00 Z",
		" 2026-03-19T12:00:00Z",
		"2026-03-19T12:00:00.1a2Z",
		"x026-03-19T12:00:00Z",
		"2100-02-29T00:00:00Z",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int64_t ms = 7;
		if (clock_parse_rfc3339(bad[i], &ms) != -1) {
			fprintf(stderr, "accepted: \"%s\"\n", bad[i]);
			exit(1);
		}
		CHECK_INT(ms, 7);
	}
	int64_t ms;
	CHECK_INT(clock_parse_rfc3339(NULL, &ms), -1);
	CHECK_INT(clock_parse_rfc3339("2000-02-29T00:00:00Z", &ms), 0);
}

static void test_round_trip(void)
{
	char buf[CLOCK_RFC3339_LEN];
	/* Every day of four centuries at an odd time, and a spread of milliseconds. */
	for (int64_t ms = -2208988800000LL; ms < 10413792000000LL; ms += 86400000LL * 7 + 3601007) {
		int64_t back = 0;
		CHECK_INT(clock_parse_rfc3339(clock_format_rfc3339(ms, buf), &back), 0);
		CHECK_INT(back, ms);
	}
}

static void test_clocks(void)
{
	int64_t now = clock_now_ms();
	int64_t sys = (int64_t)time(NULL) * 1000;
	CHECK(now >= sys - 2000 && now <= sys + 2000);

	uint64_t a = clock_mono_ns();
	struct timespec ts = { 0, 5 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	uint64_t b = clock_mono_ns();
	CHECK(b > a);
	CHECK(b - a >= 5u * 1000 * 1000);
	int64_t ma = clock_mono_ms();
	CHECK(ma >= (int64_t)(b / 1000000u));
}

TEST_MAIN(TEST(test_format), TEST(test_parse_utc), TEST(test_parse_offsets),
	  TEST(test_parse_invalid), TEST(test_round_trip), TEST(test_clocks))
