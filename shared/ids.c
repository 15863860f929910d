/* Prefixed, sortable, unique ids: ULIDs in lower-case Crockford base 32. */
#include "ids.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include "clock.h"

#define IDS_MAX_PREFIX 8
#define IDS_RAND_BYTES 10

static const char crockford[32] = "0123456789abcdefghjkmnpqrstvwxyz";

/* The last id made in this process: its millisecond and random part. */
static pthread_mutex_t ids_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t ids_last_ms = -1;
static unsigned char ids_last_rand[IDS_RAND_BYTES];

/*
 * Adds one to the big-endian number in `b`. Returns nonzero when it
 * wrapped around to zero (all 80 bits were set).
 */
static int increment_be(unsigned char *b, size_t n)
{
	for (size_t i = n; i-- > 0;) {
		if (++b[i] != 0)
			return 0;
	}
	return 1;
}

/*
 * Writes the 26-character body of the ULID made of `ms` (48 bits) and
 * `rand` (80 bits) to `out`, without a NUL. The 128 bits are taken five
 * at a time from the top; the first character carries only 3 bits.
 */
static void encode_body(uint64_t ms, const unsigned char rand[IDS_RAND_BYTES], char *out)
{
	unsigned __int128 v = ms & 0xffffffffffffull;
	for (int i = 0; i < IDS_RAND_BYTES; i++)
		v = (v << 8) | rand[i];
	/* The last character holds the lowest five bits. */
	for (int c = IDS_BODY_LEN - 1; c >= 0; c--) {
		out[c] = crockford[(unsigned)(v & 31)];
		v >>= 5;
	}
}

/* Nonzero when `s` starts with a well-formed 26-character body. */
static int body_valid(const char *s)
{
	for (int i = 0; i < IDS_BODY_LEN; i++) {
		if (s[i] == '\0' || !memchr(crockford, s[i], sizeof crockford))
			return 0;
	}
	/* 26 characters hold 130 bits: the first may carry only 3. */
	return s[0] <= '7';
}

int ids_random_bytes(void *buf, size_t n)
{
	unsigned char *p = buf;
	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += got;
		n -= (size_t)got;
	}
	return 0;
}

int ids_new(const char *prefix, char *out)
{
	size_t plen = prefix ? strlen(prefix) : 0;
	unsigned char rand[IDS_RAND_BYTES];
	int64_t ms;

	if (plen == 0 || plen > IDS_MAX_PREFIX)
		return -1;

	pthread_mutex_lock(&ids_lock);
	ms = clock_now_ms();
	if (ms <= ids_last_ms) {
		/*
		 * Same millisecond (or the clock stepped back): keep the last
		 * time and count up, so ids keep increasing. Should 2^80 ids be
		 * drawn in one millisecond, borrow the next one.
		 */
		ms = ids_last_ms;
		memcpy(rand, ids_last_rand, sizeof rand);
		if (increment_be(rand, sizeof rand))
			ms++;
	} else if (ids_random_bytes(rand, sizeof rand) < 0) {
		pthread_mutex_unlock(&ids_lock);
		return -1;
	}
	ids_last_ms = ms;
	memcpy(ids_last_rand, rand, sizeof rand);
	pthread_mutex_unlock(&ids_lock);

	memcpy(out, prefix, plen);
	out[plen] = '_';
	encode_body((uint64_t)ms & 0xffffffffffffull, rand, out + plen + 1);
	out[plen + 1 + IDS_BODY_LEN] = '\0';
	return 0;
}

int ids_valid(const char *id, const char *prefix)
{
	size_t plen;

	if (!id)
		return 0;
	if (prefix) {
		plen = strlen(prefix);
		if (plen == 0 || strncmp(id, prefix, plen) != 0)
			return 0;
	} else {
		plen = 0;
		while (id[plen] >= 'a' && id[plen] <= 'z')
			plen++;
		if (plen == 0 || plen > IDS_MAX_PREFIX)
			return 0;
	}
	if (id[plen] != '_' || !body_valid(id + plen + 1))
		return 0;
	return id[plen + 1 + IDS_BODY_LEN] == '\0';
}
