/* Unit tests of pagination.c: the limit parameter and opaque cursors over (time, id). */
#include <openssl/evp.h>

#include "ids.h"
#include "pagination.h"
#include "testlib.h"

/* `len` bytes of `plain` as unpadded base64url, the form of a cursor. Caller frees. */
static char *b64url(const void *plain, size_t len)
{
	char *out = malloc(4 * (len / 3 + 1) + 1);
	CHECK(out != NULL);
	int n = EVP_EncodeBlock((unsigned char *)out, plain, (int)len);
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (int i = 0; i < n; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
	return out;
}

/* The cursor `plain` would be if it were encoded like pagination_cursor() does. */
static int parse_plain(const char *plain, pagination_pos *pos)
{
	char *c = b64url(plain, strlen(plain));
	int r = pagination_parse(c, pos);
	free(c);
	return r;
}

static void test_limit(void)
{
	int v = -7;
	CHECK_INT(pagination_limit(NULL, &v), 0);
	CHECK_INT(v, PAGINATION_DEFAULT_LIMIT);
	CHECK_INT(PAGINATION_DEFAULT_LIMIT, 50);

	static const struct {
		const char *text;
		int value;
	} good[] = { { "1", 1 }, { "2", 2 }, { "50", 50 }, { "499", 499 }, { "500", 500 } };
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		v = -7;
		CHECK_INT(pagination_limit(good[i].text, &v), 0);
		CHECK_INT(v, good[i].value);
	}

	static const char *const bad[] = { "",
					   "0",
					   "-1",
					   "501",
					   "1000",
					   "abc",
					   "10x",
					   "x10",
					   "+5",
					   " 5",
					   "5 ",
					   "1e2",
					   "0x10",
					   "2.5",
					   "99999999999999999999",
					   "-99999999999999999999",
					   "5\n" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		v = -7;
		if (pagination_limit(bad[i], &v) != -1) {
			fprintf(stderr, "limit '%s' accepted as %d\n", bad[i], v);
			exit(1);
		}
	}
}

/* Encodes (time, id), checks the cursor's alphabet, decodes it and compares. */
static void round_trip(const char *time, const char *id)
{
	char *c = pagination_cursor(time, id);
	CHECK(c != NULL);
	CHECK(strlen(c) > 0);
	for (const char *p = c; *p; p++) {
		int ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			 (*p >= '0' && *p <= '9') || *p == '-' || *p == '_';
		if (!ok) {
			fprintf(stderr, "cursor %s has '%c'\n", c, *p);
			exit(1);
		}
	}
	/* Opaque: neither part shows through. */
	CHECK(strstr(c, id) == NULL);
	pagination_pos pos;
	memset(&pos, 'x', sizeof pos);
	CHECK_INT(pagination_parse(c, &pos), 0);
	CHECK_STR(pos.time, time);
	CHECK_STR(pos.id, id);
	free(c);
}

static void test_cursor_round_trip(void)
{
	char id[IDS_MAX_LEN];
	CHECK_INT(ids_new("trf", id), 0);
	/* PostgreSQL's text forms of timestamptz (DateStyle ISO): offsets, fractions or none. */
	round_trip("2026-03-19 12:00:00.123456+00", id);
	round_trip("2026-03-19 12:00:00+00", id);
	round_trip("2026-03-19 12:00:00.5+05:30", id);
	round_trip("1999-12-31 23:59:59.999999-08", id);
	round_trip("2026-03-19T12:00:00.1+00", id);
	/* Every padding length: times of consecutive lengths. */
	const char *times[] = { "2026-03-19 12:00:00+00", "2026-03-19 12:00:00.1+00",
				"2026-03-19 12:00:00.12+00", "2026-03-19 12:00:00.123+00" };
	char job[IDS_MAX_LEN];
	CHECK_INT(ids_new("job", job), 0);
	for (int i = 0; i < 4; i++) {
		round_trip(times[i], id);
		round_trip(times[i], job);
	}
	/* Two positions give two cursors. */
	char *a = pagination_cursor("2026-03-19 12:00:00+00", id);
	char *b = pagination_cursor("2026-03-19 12:00:01+00", id);
	CHECK(a && b && strcmp(a, b) != 0);
	free(a);
	free(b);
}

static void test_cursor_too_long_to_make(void)
{
	char id[IDS_MAX_LEN];
	CHECK_INT(ids_new("trf", id), 0);
	char time[400];
	memset(time, '1', sizeof time - 1);
	time[sizeof time - 1] = '\0';
	CHECK(pagination_cursor(time, id) == NULL);
}

static void test_null_cursor_is_start(void)
{
	pagination_pos pos;
	memset(&pos, 'x', sizeof pos);
	CHECK_INT(pagination_parse(NULL, &pos), 0);
	CHECK_STR(pos.time, "");
	CHECK_STR(pos.id, "");
	for (size_t i = 0; i < sizeof pos.time; i++)
		CHECK_INT(pos.time[i], 0);
	for (size_t i = 0; i < sizeof pos.id; i++)
		CHECK_INT(pos.id[i], 0);
}

static void test_malformed_cursors(void)
{
	char id[IDS_MAX_LEN];
	CHECK_INT(ids_new("trf", id), 0);
	pagination_pos pos;

	/* Not base64url at all. */
	static const char *const raw[] = { "",	   "!!!!", "abc=",  "YWJj==", "a b",
					   "a+b/", "A",	   "AAAAA", "%41%42", "\xc3\xa9\xc3\xa9" };
	for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
		if (pagination_parse(raw[i], &pos) != -1) {
			fprintf(stderr, "cursor '%s' accepted\n", raw[i]);
			exit(1);
		}
	}

	/* Well-formed base64url of what no cursor holds. */
	char buf[256];
	const char *plains[16];
	int n = 0;
	plains[n++] = "2026-03-19 12:00:00+00";		   /* no '|' */
	plains[n++] = "2026-03-19 12:00:00+00|";	   /* no id */
	plains[n++] = "2026-03-19 12:00:00+00|not an id";  /* bad id */
	plains[n++] = "2026-03-19 12:00:00+00|trf_";	   /* bad id */
	plains[n++] = "2026-03-19 12:00:00+00|TRF_01HXYZ"; /* bad id */
	static char with_id[8][128];
	snprintf(with_id[0], sizeof with_id[0], "|%s", id); /* no time */
	plains[n++] = with_id[0];
	snprintf(with_id[1], sizeof with_id[1], "now|%s", id); /* letters */
	plains[n++] = with_id[1];
	snprintf(with_id[2], sizeof with_id[2], "2026-03-19'; DROP TABLE jobs; --|%s", id);
	plains[n++] = with_id[2];
	snprintf(with_id[3], sizeof with_id[3], "2026-03-19 12:00:00+00\t|%s", id);
	plains[n++] = with_id[3];
	snprintf(with_id[4], sizeof with_id[4], "2026-03-19 12:00:00+00|%s|x", id);
	plains[n++] = with_id[4];
	snprintf(with_id[5], sizeof with_id[5], "2026-03-19 12:00:00,5+00|%s", id);
	plains[n++] = with_id[5];
	snprintf(with_id[6], sizeof with_id[6], "infinity|%s", id);
	plains[n++] = with_id[6];
	/* a time of 48 characters or more does not fit the position */
	snprintf(with_id[7], sizeof with_id[7], "%s|%s",
		 "2026-03-19 12:00:00.000000000000000000000000000+00", id);
	plains[n++] = with_id[7];
	for (int i = 0; i < n; i++) {
		if (parse_plain(plains[i], &pos) != -1) {
			fprintf(stderr, "cursor of '%s' accepted\n", plains[i]);
			exit(1);
		}
	}

	/* A NUL byte inside. */
	int len = snprintf(buf, sizeof buf, "2026-03-19 12:00:00+00|%s", id);
	buf[4] = '\0';
	char *c = b64url(buf, (size_t)len);
	CHECK_INT(pagination_parse(c, &pos), -1);
	free(c);
	/* A NUL byte inside the id. */
	len = snprintf(buf, sizeof buf, "2026-03-19 12:00:00+00|%s", id);
	buf[len - 3] = '\0';
	c = b64url(buf, (size_t)len);
	CHECK_INT(pagination_parse(c, &pos), -1);
	free(c);

	/* Too long: more than a cursor can be, even if it decodes. */
	char longer[1024];
	memset(longer, 'A', sizeof longer - 1);
	longer[sizeof longer - 1] = '\0';
	CHECK_INT(pagination_parse(longer, &pos), -1);
	char *good = pagination_cursor("2026-03-19 12:00:00+00", id);
	CHECK(good != NULL);
	snprintf(longer, sizeof longer, "%s", good);
	size_t glen = strlen(longer);
	while (glen < 600)
		longer[glen++] = 'A';
	longer[glen] = '\0';
	CHECK_INT(pagination_parse(longer, &pos), -1);

	/* A changed cursor either fails or names another valid position: never garbage. */
	size_t clen = strlen(good);
	for (size_t i = 0; i < clen; i++) {
		snprintf(buf, sizeof buf, "%s", good);
		buf[i] = buf[i] == 'Q' ? 'R' : 'Q';
		pagination_pos p2;
		if (pagination_parse(buf, &p2) == 0) {
			CHECK(ids_valid(p2.id, NULL));
			for (const char *t = p2.time; *t; t++)
				CHECK(strchr("0123456789-:. +T", *t) != NULL);
		}
	}
	/* Truncated cursors. */
	for (size_t cut = 1; cut < clen; cut++) {
		snprintf(buf, sizeof buf, "%.*s", (int)cut, good);
		pagination_pos p2;
		if (pagination_parse(buf, &p2) == 0)
			CHECK(ids_valid(p2.id, NULL));
	}
	free(good);
}

TEST_MAIN(TEST(test_limit), TEST(test_cursor_round_trip), TEST(test_cursor_too_long_to_make),
	  TEST(test_null_cursor_is_start), TEST(test_malformed_cursors))
