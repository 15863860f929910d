/* Unit tests of fairq.c: order within a key, turns between keys, and a model check. */
#include "fairq.h"
#include "testlib.h"

static void test_empty(void)
{
	fairq *q = fairq_new();
	CHECK(q);
	CHECK_INT(fairq_count(q), 0);
	CHECK(fairq_pop(q) == NULL);
	fairq_free(q);
	fairq_free(NULL);
}

/* One key: first in, first out, through the buffer's growth and wrap-around. */
static void test_one_key_in_order(void)
{
	static int v[100];
	fairq *q = fairq_new();
	int next_in = 0, next_out = 0;
	for (int round = 0; round < 10; round++) {
		for (int i = 0; i < 7; i++) {
			v[next_in] = next_in;
			CHECK_INT(fairq_push(q, "host-a:80", &v[next_in]), 0);
			next_in++;
		}
		for (int i = 0; i < 3; i++) {
			int *got = fairq_pop(q);
			CHECK(got && *got == next_out);
			next_out++;
		}
	}
	CHECK_INT(fairq_count(q), next_in - next_out);
	while (next_out < next_in) {
		int *got = fairq_pop(q);
		CHECK(got && *got == next_out);
		next_out++;
	}
	CHECK(fairq_pop(q) == NULL);
	fairq_free(q);
}

/* A key with a thousand items delays another key's items by one item each. */
static void test_keys_take_turns(void)
{
	static int slow[1000], fast[3];
	fairq *q = fairq_new();
	for (int i = 0; i < 1000; i++)
		CHECK_INT(fairq_push(q, "slow", &slow[i]), 0);
	for (int i = 0; i < 3; i++)
		CHECK_INT(fairq_push(q, "fast", &fast[i]), 0);
	/* slow has the turn first (it came first), then they alternate */
	CHECK(fairq_pop(q) == &slow[0]);
	CHECK(fairq_pop(q) == &fast[0]);
	CHECK(fairq_pop(q) == &slow[1]);
	CHECK(fairq_pop(q) == &fast[1]);
	CHECK(fairq_pop(q) == &slow[2]);
	CHECK(fairq_pop(q) == &fast[2]);
	/* fast is out of items: slow's turn every time */
	for (int i = 3; i < 1000; i++)
		CHECK(fairq_pop(q) == &slow[i]);
	CHECK_INT(fairq_count(q), 0);
	/* a key that emptied comes back as a new one, last in the turn */
	CHECK_INT(fairq_push(q, "fast", &fast[0]), 0);
	CHECK_INT(fairq_push(q, "slow", &slow[0]), 0);
	CHECK_INT(fairq_push(q, "fast", &fast[1]), 0);
	CHECK(fairq_pop(q) == &fast[0]);
	CHECK(fairq_pop(q) == &slow[0]);
	CHECK(fairq_pop(q) == &fast[1]);
	CHECK(fairq_pop(q) == NULL);
	fairq_free(q);
}

/*
 * Random pushes and pops over 13 keys, checked against a model: every
 * item comes out once, each key's in order, and between two items of one
 * key no other key that had items waiting the whole time is passed over.
 */
static void test_against_a_model(void)
{
	enum { KEYS = 13, ITEMS = 20000 };
	static int items[ITEMS], key_of[ITEMS];
	int pushed[KEYS] = { 0 }, popped[KEYS] = { 0 }, waiting[KEYS] = { 0 };
	int skipped[KEYS] = { 0 }; /* pops of other keys since this key last had the turn */
	fairq *q = fairq_new();
	srandom(7);
	int n = 0, out = 0;
	while (out < ITEMS) {
		if (n < ITEMS && random() % 3 != 0) {
			int k = (int)(random() % KEYS);
			char key[16];
			snprintf(key, sizeof key, "k%d", k);
			items[n] = pushed[k]++;
			key_of[n] = k;
			if (waiting[k]++ == 0)
				skipped[k] = 0;
			CHECK_INT(fairq_push(q, key, &items[n]), 0);
			n++;
			continue;
		}
		int *got = fairq_pop(q);
		if (!got) {
			CHECK_INT(out, n);
			continue;
		}
		int i = (int)(got - items), k = key_of[i];
		CHECK_INT(*got, popped[k]);
		popped[k]++;
		waiting[k]--;
		skipped[k] = 0;
		for (int other = 0; other < KEYS; other++) {
			if (other != k && waiting[other] > 0) {
				skipped[other]++;
				/* a waiting key has the turn within one pop of every other key */
				CHECK(skipped[other] < KEYS);
			}
		}
		out++;
		CHECK_INT(fairq_count(q), n - out);
	}
	CHECK(fairq_pop(q) == NULL);
	fairq_free(q);
}

/* Accepts the keys not named in the array of refused keys `arg` (NULL-terminated). */
static int not_refused(void *arg, const char *key)
{
	for (const char *const *r = arg; *r; r++)
		if (strcmp(*r, key) == 0)
			return 0;
	return 1;
}

/* A refused key keeps its items, in order, for a later call; the others take turns as before. */
static void test_pop_if(void)
{
	static int a[3], b[3], c[3];
	fairq *q = fairq_new();
	for (int i = 0; i < 3; i++) {
		CHECK_INT(fairq_push(q, "a", &a[i]), 0);
		CHECK_INT(fairq_push(q, "b", &b[i]), 0);
		CHECK_INT(fairq_push(q, "c", &c[i]), 0);
	}
	const char *none[] = { NULL }, *no_a[] = { "a", NULL }, *no_ac[] = { "a", "c", NULL };
	const char *all[] = { "a", "b", "c", NULL };
	CHECK(fairq_pop_if(q, not_refused, none) == &a[0]);
	CHECK(fairq_pop_if(q, not_refused, no_a) == &b[0]);
	CHECK(fairq_pop_if(q, not_refused, no_a) == &c[0]);
	/* b's turn again: a was passed over */
	CHECK(fairq_pop_if(q, not_refused, no_a) == &b[1]);
	CHECK(fairq_pop_if(q, not_refused, all) == NULL);
	CHECK_INT(fairq_count(q), 5);
	/* b empties, c is refused: a's items come out in order */
	CHECK(fairq_pop_if(q, not_refused, no_ac) == &b[2]);
	CHECK(fairq_pop_if(q, not_refused, no_ac) == NULL);
	CHECK(fairq_pop(q) != NULL);
	CHECK(fairq_pop(q) != NULL);
	CHECK(fairq_pop(q) != NULL);
	CHECK(fairq_pop(q) != NULL);
	CHECK(fairq_pop(q) == NULL);
	CHECK_INT(fairq_count(q), 0);
	/* one key left, refused then accepted */
	CHECK_INT(fairq_push(q, "a", &a[0]), 0);
	CHECK(fairq_pop_if(q, not_refused, no_a) == NULL);
	CHECK(fairq_pop_if(q, not_refused, none) == &a[0]);
	CHECK(fairq_pop_if(q, not_refused, none) == NULL);
	fairq_free(q);
}

/* Freed with items in it: the queue's own memory only (ASan checks leaks). */
static void test_free_with_items(void)
{
	static int v[50];
	fairq *q = fairq_new();
	for (int i = 0; i < 50; i++) {
		char key[8];
		snprintf(key, sizeof key, "k%d", i % 5);
		CHECK_INT(fairq_push(q, key, &v[i]), 0);
	}
	CHECK_INT(fairq_count(q), 50);
	fairq_free(q);
}

TEST_MAIN(TEST(test_empty), TEST(test_one_key_in_order), TEST(test_keys_take_turns),
	  TEST(test_against_a_model), TEST(test_pop_if), TEST(test_free_with_items))
