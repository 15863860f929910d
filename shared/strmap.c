/* A hash table from strings to pointers: open addressing, linear probing, deletion by backward shift. */
#include "strmap.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Slots of a new map; the table doubles when more than half of it is used. */
#define STRMAP_FIRST_CAP 16

typedef struct slot {
	char *key; /* NULL: free */
	uint64_t hash;
	void *value;
} slot;

struct strmap {
	slot *slots;
	size_t cap; /* a power of two */
	size_t count;
};

/* FNV-1a over the key's bytes. */
static uint64_t key_hash(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	return h ^ (h >> 29);
}

/* The slot holding `key`, or the free slot where it would go. */
static size_t find(const strmap *m, const char *key, uint64_t h)
{
	size_t mask = m->cap - 1, i = (size_t)h & mask;
	while (m->slots[i].key && (m->slots[i].hash != h || strcmp(m->slots[i].key, key) != 0))
		i = (i + 1) & mask;
	return i;
}

/* Moves every entry to a table of `cap` slots. Returns 0, or -1 with the map unchanged. */
static int resize(strmap *m, size_t cap)
{
	strmap bigger = { calloc(cap, sizeof(slot)), cap, m->count };
	if (!bigger.slots)
		return -1;
	for (size_t i = 0; i < m->cap; i++) {
		const slot *s = &m->slots[i];
		if (s->key)
			bigger.slots[find(&bigger, s->key, s->hash)] = *s;
	}
	free(m->slots);
	*m = bigger;
	return 0;
}

strmap *strmap_new(void)
{
	strmap *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->slots = calloc(STRMAP_FIRST_CAP, sizeof *m->slots);
	if (!m->slots) {
		free(m);
		return NULL;
	}
	m->cap = STRMAP_FIRST_CAP;
	return m;
}

void strmap_free(strmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++)
		free(m->slots[i].key);
	free(m->slots);
	free(m);
}

void *strmap_get(const strmap *m, const char *key)
{
	return m->slots[find(m, key, key_hash(key))].value;
}

int strmap_put(strmap *m, const char *key, void *value)
{
	assert(value);
	uint64_t h = key_hash(key);
	size_t i = find(m, key, h);
	if (m->slots[i].key) {
		m->slots[i].value = value;
		return 0;
	}
	if ((m->count + 1) * 2 > m->cap) {
		if (resize(m, m->cap * 2) != 0)
			return -1;
		i = find(m, key, h);
	}
	char *copy = strdup(key);
	if (!copy)
		return -1;
	m->slots[i] = (slot){ copy, h, value };
	m->count++;
	return 0;
}

void *strmap_remove(strmap *m, const char *key)
{
	size_t mask = m->cap - 1, i = find(m, key, key_hash(key));
	if (!m->slots[i].key)
		return NULL;
	void *value = m->slots[i].value;
	free(m->slots[i].key);
	m->count--;
	/* Shift back the entries after it that would no longer be found across the gap. */
	for (size_t j = (i + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
		size_t home = (size_t)m->slots[j].hash & mask;
		/* j's entry may move to i when its home is not within (i, j] (cyclically) */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	m->slots[i] = (slot){ NULL, 0, NULL };
	return value;
}

size_t strmap_count(const strmap *m)
{
	return m->count;
}

int strmap_next(const strmap *m, size_t *cursor, const char **key, void **value)
{
	while (*cursor < m->cap) {
		const slot *s = &m->slots[(*cursor)++];
		if (s->key) {
			if (key)
				*key = s->key;
			if (value)
				*value = s->value;
			return 1;
		}
	}
	return 0;
}
