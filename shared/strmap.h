/* A hash table from strings to pointers: keys copied, values borrowed. */
#ifndef ERRAND_STRMAP_H
#define ERRAND_STRMAP_H

#include <stddef.h>

typedef struct strmap strmap;

/* An empty map, or NULL when out of memory. */
strmap *strmap_new(void) __attribute__((warn_unused_result));

/* Frees the map and its copies of the keys, not the values. NULL-safe. */
void strmap_free(strmap *m);

/* The value of `key`, or NULL when it has none. */
void *strmap_get(const strmap *m, const char *key);

/*
 * Sets `key` (copied) to `value` (not NULL; the caller keeps ownership),
 * replacing any value it had. Returns 0, or -1 when out of memory (the map
 * is unchanged).
 */
int strmap_put(strmap *m, const char *key, void *value) __attribute__((warn_unused_result));

/* Removes `key`. Returns the value it had, or NULL when it had none. */
void *strmap_remove(strmap *m, const char *key);

/* How many keys the map holds. */
size_t strmap_count(const strmap *m);

/*
 * Steps through the map: start with *cursor = 0 and call until it returns
 * 0; each other call gives one entry (`key` and `value` may be NULL when
 * not wanted). The map must not change in between (strmap_put and
 * strmap_remove move entries); the order is unspecified.
 */
int strmap_next(const strmap *m, size_t *cursor, const char **key, void **value);

#endif
