/* Unit tests of strmap.c: put, get, remove and the cursor, checked against a plain array. */
#include "strmap.h"
#include "testlib.h"

#define KEYS 3000

static void test_empty(void)
{
	strmap *m = strmap_new();
	CHECK(m);
	CHECK_INT(strmap_count(m), 0);
	CHECK(strmap_get(m, "a") == NULL);
	CHECK(strmap_remove(m, "a") == NULL);
	size_t cursor = 0;
	CHECK_INT(strmap_next(m, &cursor, NULL, NULL), 0);
	strmap_free(m);
	strmap_free(NULL);
}

static void test_put_get_replace(void)
{
	strmap *m = strmap_new();
	int a = 1, b = 2, c = 3;
	char key[8] = "key";
	CHECK_INT(strmap_put(m, key, &a), 0);
	key[0] = 'X'; /* the map holds its own copy */
	CHECK(strmap_get(m, "key") == &a);
	CHECK(strmap_get(m, "Xey") == NULL);
	CHECK_INT(strmap_put(m, "", &b), 0);
	CHECK(strmap_get(m, "") == &b);
	CHECK_INT(strmap_put(m, "key", &c), 0);
	CHECK(strmap_get(m, "key") == &c);
	CHECK_INT(strmap_count(m), 2);
	CHECK(strmap_remove(m, "key") == &c);
	CHECK(strmap_get(m, "key") == NULL);
	CHECK_INT(strmap_count(m), 1);
	strmap_free(m);
}

/* Many keys through several resizes, removed in another order, each found until it goes. */
static void test_many_against_an_array(void)
{
	static char keys[KEYS][64];
	static int values[KEYS], present[KEYS];
	strmap *m = strmap_new();
	for (int i = 0; i < KEYS; i++) {
		snprintf(keys[i], sizeof keys[i], "errand:logs:job_%08d", i * 7919);
		values[i] = i;
		CHECK_INT(strmap_put(m, keys[i], &values[i]), 0);
		present[i] = 1;
	}
	CHECK_INT(strmap_count(m), KEYS);
	unsigned seed = 12345;
	for (int round = 0; round < 4 * KEYS; round++) {
		seed = seed * 1103515245u + 12345u;
		int i = (int)((seed >> 8) % KEYS);
		if (present[i]) {
			CHECK(strmap_remove(m, keys[i]) == &values[i]);
			present[i] = 0;
		} else {
			CHECK_INT(strmap_put(m, keys[i], &values[i]), 0);
			present[i] = 1;
		}
		if (round % 997 == 0) {
			size_t n = 0;
			for (int k = 0; k < KEYS; k++) {
				CHECK(strmap_get(m, keys[k]) == (present[k] ? &values[k] : NULL));
				n += (size_t)present[k];
			}
			CHECK_INT(strmap_count(m), n);
		}
	}
	/* the cursor gives every entry once */
	static int seen[KEYS];
	size_t cursor = 0, n = 0;
	const char *key;
	void *value;
	while (strmap_next(m, &cursor, &key, &value)) {
		int i = *(int *)value;
		CHECK_STR(key, keys[i]);
		CHECK(present[i] && !seen[i]);
		seen[i] = 1;
		n++;
	}
	CHECK_INT(n, strmap_count(m));
	for (int i = 0; i < KEYS; i++)
		if (present[i])
			CHECK(strmap_remove(m, keys[i]) == &values[i]);
	CHECK_INT(strmap_count(m), 0);
	cursor = 0;
	CHECK_INT(strmap_next(m, &cursor, NULL, NULL), 0);
	strmap_free(m);
}

TEST_MAIN(TEST(test_empty), TEST(test_put_get_replace), TEST(test_many_against_an_array))
