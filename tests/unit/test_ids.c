/* Unit tests of ids.c: ULID ids, their order, uniqueness and validation. */
#include <stdint.h>
#include <time.h>

#include "clock.h"
#include "ids.h"
#include "testlib.h"

#define DRAWS 100000

static const char alphabet[] = "0123456789abcdefghjkmnpqrstvwxyz";

/* The value of `n` base-32 characters at `s`. */
static uint64_t decode(const char *s, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++) {
		const char *p = strchr(alphabet, s[i]);
		CHECK(p != NULL && s[i] != '\0');
		v = v * 32 + (uint64_t)(p - alphabet);
	}
	return v;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_format(void)
{
	char id[IDS_MAX_LEN];
	int64_t before = clock_now_ms();
	CHECK_INT(ids_new("job", id), 0);
	int64_t after = clock_now_ms();

	CHECK_INT(strlen(id), 4 + IDS_BODY_LEN);
	CHECK(strncmp(id, "job_", 4) == 0);
	for (int i = 4; id[i]; i++)
		CHECK(strchr(alphabet, id[i]) != NULL);
	CHECK(id[4] <= '7');
	/* The first 10 characters are the 48-bit millisecond time. */
	int64_t ms = (int64_t)decode(id + 4, 10);
	CHECK(ms >= before && ms <= after);
	CHECK(ids_valid(id, "job"));
	CHECK(ids_valid(id, NULL));

	CHECK_INT(ids_new("abcdefgh", id), 0);
	CHECK_INT(strlen(id), 9 + IDS_BODY_LEN);
	CHECK(strlen(id) < IDS_MAX_LEN);
	CHECK(ids_valid(id, "abcdefgh"));
}

static void test_bad_prefix(void)
{
	char id[IDS_MAX_LEN] = "untouched";
	CHECK_INT(ids_new("", id), -1);
	CHECK_INT(ids_new(NULL, id), -1);
	CHECK_INT(ids_new("abcdefghi", id), -1);
	CHECK_STR(id, "untouched");
}

/* Ids increase strictly in the order they are made, so sorting keeps that order. */
static void test_unique_and_sorted(void)
{
	char *ids = malloc((size_t)DRAWS * IDS_MAX_LEN);
	char **sorted = malloc(DRAWS * sizeof *sorted);
	CHECK(ids && sorted);
	for (int i = 0; i < DRAWS; i++) {
		char *id = ids + (size_t)i * IDS_MAX_LEN;
		CHECK_INT(ids_new("run", id), 0);
		sorted[i] = id;
		if (i > 0)
			CHECK(strcmp(ids + (size_t)(i - 1) * IDS_MAX_LEN, id) < 0);
	}
	qsort(sorted, DRAWS, sizeof *sorted, cmp_str);
	for (int i = 0; i < DRAWS; i++) {
		CHECK(sorted[i] == ids + (size_t)i * IDS_MAX_LEN);
		if (i > 0)
			CHECK(strcmp(sorted[i - 1], sorted[i]) != 0);
	}
	free(sorted);
	free(ids);
}

/* Two ids of the same millisecond: the random part of the second is one more. */
static void test_monotonic_same_ms(void)
{
	char a[IDS_MAX_LEN], b[IDS_MAX_LEN];
	int same = 0;
	for (int tries = 0; tries < 1000000 && !same; tries++) {
		CHECK_INT(ids_new("x", a), 0);
		CHECK_INT(ids_new("x", b), 0);
		same = strncmp(a, b, 2 + 10) == 0;
	}
	CHECK(same);
	/* 80 random bits as 16 characters: two halves of 40 bits. */
	uint64_t ahi = decode(a + 12, 8), alo = decode(a + 20, 8);
	uint64_t bhi = decode(b + 12, 8), blo = decode(b + 20, 8);
	const uint64_t mask40 = (1ull << 40) - 1;
	if (alo == mask40) {
		CHECK_INT(blo, 0);
		CHECK(bhi == ahi + 1);
	} else {
		CHECK(blo == alo + 1);
		CHECK(bhi == ahi);
	}
}

/* Ids made in different milliseconds have independent random parts. */
static void test_random_part_varies(void)
{
	char a[IDS_MAX_LEN], b[IDS_MAX_LEN];
	CHECK_INT(ids_new("x", a), 0);
	struct timespec ts = { 0, 3 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	CHECK_INT(ids_new("x", b), 0);
	CHECK(strncmp(a + 2, b + 2, 10) < 0);
	CHECK(strcmp(a + 12, b + 12) != 0);
}

static void test_valid(void)
{
	const char *good = "job_01hq3k5v7xw8y9z0abcdefghjk";
	CHECK(ids_valid(good, "job"));
	CHECK(ids_valid(good, NULL));
	CHECK(ids_valid("abcdefgh_01hq3k5v7xw8y9z0abcdefghjk", NULL));
	CHECK(ids_valid("job_7zzzzzzzzzzzzzzzzzzzzzzzzz", "job"));

	CHECK(!ids_valid(good, "jo"));
	CHECK(!ids_valid(good, "run"));
	CHECK(!ids_valid(good, "jobs"));
	CHECK(!ids_valid(NULL, NULL));
	CHECK(!ids_valid("", NULL));
	CHECK(!ids_valid("job_", "job"));
	CHECK(!ids_valid("job_01hq3k5v7xw8y9z0abcdefghj", "job"));   /* 25 */
	CHECK(!ids_valid("job_01hq3k5v7xw8y9z0abcdefghjkm", "job")); /* 27 */
	CHECK(!ids_valid("job_01HQ3K5V7XW8Y9Z0ABCDEFGHJK", "job"));  /* upper case */
	CHECK(!ids_valid("job_01hq3k5v7xw8y9z0abcdefghji", "job"));  /* i */
	CHECK(!ids_valid("job_01hq3k5v7xw8y9z0abcdefghjl", "job"));  /* l */
	CHECK(!ids_valid("job_01hq3k5v7xw8y9z0abcdefghjo", "job"));  /* o */
	CHECK(!ids_valid("job_01hq3k5v7xw8y9z0abcdefghju", "job"));  /* u */
	CHECK(!ids_valid("job_81hq3k5v7xw8y9z0abcdefghjk", "job"));  /* over 128 bits */
	CHECK(!ids_valid("job-01hq3k5v7xw8y9z0abcdefghjk", "job"));
	CHECK(!ids_valid("job01hq3k5v7xw8y9z0abcdefghjk", NULL));
	CHECK(!ids_valid("Job_01hq3k5v7xw8y9z0abcdefghjk", NULL));
	CHECK(!ids_valid("jo1_01hq3k5v7xw8y9z0abcdefghjk", NULL));
	CHECK(!ids_valid("_01hq3k5v7xw8y9z0abcdefghjk", NULL));
	CHECK(!ids_valid("abcdefghi_01hq3k5v7xw8y9z0abcdefghjk", NULL));
}

static void test_random_bytes(void)
{
	unsigned char a[64] = { 0 }, b[64] = { 0 }, zero[64] = { 0 };
	CHECK_INT(ids_random_bytes(a, sizeof a), 0);
	CHECK_INT(ids_random_bytes(b, sizeof b), 0);
	CHECK(memcmp(a, zero, sizeof a) != 0);
	CHECK(memcmp(a, b, sizeof a) != 0);
	CHECK_INT(ids_random_bytes(a, 0), 0);

	/* More than one getrandom() call returns at once. */
	size_t big = 1 << 20;
	unsigned char *buf = calloc(1, big);
	CHECK(buf);
	CHECK_INT(ids_random_bytes(buf, big), 0);
	size_t zeros = 0;
	for (size_t i = big - 4096; i < big; i++)
		zeros += buf[i] == 0;
	CHECK(zeros < 64); /* about 16 expected */
	free(buf);
}

TEST_MAIN(TEST(test_format), TEST(test_bad_prefix), TEST(test_unique_and_sorted),
	  TEST(test_monotonic_same_ms), TEST(test_random_part_varies), TEST(test_valid),
	  TEST(test_random_bytes))
