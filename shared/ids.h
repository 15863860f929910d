/* Prefixed, sortable, unique ids: "job_01hxyz…" (a ULID in lower case). */
#ifndef ERRAND_IDS_H
#define ERRAND_IDS_H

#include <stddef.h>

/* The 26 characters of the ULID part. */
#define IDS_BODY_LEN 26
/* A prefix of at most 8 characters, "_", the body and a NUL. */
#define IDS_MAX_LEN 40

/*
 * Writes "<prefix>_<ulid>" into `out` (at least IDS_MAX_LEN bytes): 48 bits
 * of milliseconds then 80 random bits from the kernel, Crockford base 32 in
 * lower case. Within one process, ids made in the same millisecond increase
 * (the random part is incremented), so ids sort by creation time. Returns 0,
 * or -1 if `prefix` is empty or longer than 8 characters.
 */
int ids_new(const char *prefix, char *out) __attribute__((warn_unused_result));

/*
 * Nonzero when `id` is "<prefix>_" followed by a well-formed body. A NULL
 * `prefix` accepts any prefix of 1-8 lower-case letters.
 */
int ids_valid(const char *id, const char *prefix);

/* Fills `buf` with `n` bytes from the kernel's CSPRNG. Returns 0 or -1. */
int ids_random_bytes(void *buf, size_t n) __attribute__((warn_unused_result));

#endif
