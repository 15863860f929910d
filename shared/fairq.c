/* A fair queue: a ring of keys with items, each key's items in a circular buffer. */
#include "fairq.h"

#include <stdlib.h>
#include <string.h>

#include "strmap.h"

/* Items a new key's buffer holds before it doubles. */
#define LANE_FIRST_CAP 8

typedef struct lane {
	char *key;
	void **items; /* circular: `n` items from `head` */
	size_t head, n, cap;
	struct lane *next; /* in the ring of keys with items */
} lane;

struct fairq {
	strmap *lanes; /* key → lane, for the keys with items */
	lane *last;    /* the ring's last lane: last->next has the turn; NULL when empty */
	size_t count;
};

fairq *fairq_new(void)
{
	fairq *q = calloc(1, sizeof *q);
	if (q && !(q->lanes = strmap_new())) {
		free(q);
		q = NULL;
	}
	return q;
}

static void lane_free(lane *l)
{
	free(l->key);
	free(l->items);
	free(l);
}

void fairq_free(fairq *q)
{
	if (!q)
		return;
	if (q->last) {
		lane *l = q->last->next;
		q->last->next = NULL;
		while (l) {
			lane *next = l->next;
			lane_free(l);
			l = next;
		}
	}
	strmap_free(q->lanes);
	free(q);
}

/* Room for one more item in `l`. Returns 0, or -1 when out of memory. */
static int lane_reserve(lane *l)
{
	if (l->n < l->cap)
		return 0;
	size_t cap = l->cap ? l->cap * 2 : LANE_FIRST_CAP;
	void **items = malloc(cap * sizeof *items);
	if (!items)
		return -1;
	for (size_t i = 0; i < l->n; i++)
		items[i] = l->items[(l->head + i) % l->cap];
	free(l->items);
	l->items = items;
	l->head = 0;
	l->cap = cap;
	return 0;
}

int fairq_push(fairq *q, const char *key, void *item)
{
	lane *l = strmap_get(q->lanes, key);
	int fresh = !l;
	if (fresh) {
		l = calloc(1, sizeof *l);
		if (!l || !(l->key = strdup(key)) || strmap_put(q->lanes, key, l) != 0) {
			if (l)
				lane_free(l);
			return -1;
		}
	}
	if (lane_reserve(l) != 0) {
		if (fresh) {
			strmap_remove(q->lanes, key);
			lane_free(l);
		}
		return -1;
	}
	l->items[(l->head + l->n) % l->cap] = item;
	l->n++;
	q->count++;
	if (fresh) {
		/* last in the ring */
		l->next = q->last ? q->last->next : l;
		if (q->last)
			q->last->next = l;
		q->last = l;
	}
	return 0;
}

/* Takes the oldest item of lane `l`, which follows `prev` in the ring; the turn passes to the next. */
static void *take(fairq *q, lane *prev, lane *l)
{
	void *item = l->items[l->head];
	l->head = (l->head + 1) % l->cap;
	l->n--;
	q->count--;
	if (l->n > 0) {
		q->last = l; /* the turn passes to the next key */
	} else {
		/* out of the ring, and forgotten until it has items again */
		if (l == prev) {
			q->last = NULL;
		} else {
			prev->next = l->next;
			q->last = prev;
		}
		strmap_remove(q->lanes, l->key);
		lane_free(l);
	}
	return item;
}

void *fairq_pop(fairq *q)
{
	return q->last ? take(q, q->last, q->last->next) : NULL;
}

void *fairq_pop_if(fairq *q, int (*ok)(void *arg, const char *key), void *arg)
{
	if (!q->last)
		return NULL;
	lane *prev = q->last;
	do {
		lane *l = prev->next;
		if (ok(arg, l->key))
			return take(q, prev, l);
		prev = l;
	} while (prev != q->last);
	return NULL;
}

size_t fairq_count(const fairq *q)
{
	return q->count;
}
