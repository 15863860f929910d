/* A fair queue: items queued under keys, taken one key at a time in turn (round robin). */
#ifndef ERRAND_FAIRQ_H
#define ERRAND_FAIRQ_H

#include <stddef.h>

typedef struct fairq fairq;

/* An empty queue, or NULL when out of memory. */
fairq *fairq_new(void) __attribute__((warn_unused_result));

/* Frees the queue, not the items still in it. NULL-safe. */
void fairq_free(fairq *q);

/*
 * Queues `item` (not NULL; the caller keeps ownership) under `key`
 * (copied): after the items already queued under the same key. A key
 * without items joins the turn last. Returns 0, or -1 when out of memory
 * (the queue is unchanged).
 */
int fairq_push(fairq *q, const char *key, void *item) __attribute__((warn_unused_result));

/*
 * Takes the oldest item of the key whose turn it is, then passes the turn
 * to the next key: keys with items take turns, one item each, so a key
 * with many items delays another's by at most one item a key. NULL when
 * the queue is empty.
 */
void *fairq_pop(fairq *q);

/*
 * fairq_pop() among the keys `ok` accepts (called with `arg` and a key,
 * nonzero to accept): the keys it refuses keep their items and wait for a
 * later call. NULL when no accepted key has items.
 */
void *fairq_pop_if(fairq *q, int (*ok)(void *arg, const char *key), void *arg);

/* Items queued. */
size_t fairq_count(const fairq *q);

#endif
