/* Idempotency-Key records: reserve a key, replay its first response, refuse a reuse. */
#ifndef ERRAND_IDEMPOTENCY_H
#define ERRAND_IDEMPOTENCY_H

#include <stddef.h>

#include "db.h"

#define IDEMPOTENCY_KEY_MAX 255
#define IDEMPOTENCY_ERR_REUSED "idempotency_key_reused"
#define IDEMPOTENCY_ERR_IN_PROGRESS "idempotency_in_progress"

extern const db_stmt IDEMPOTENCY_STMTS[];
extern const size_t IDEMPOTENCY_STMTS_N;

typedef enum {
	IDEM_PROCEED,	  /* the key is new: run the request, then store its answer */
	IDEM_REPLAY,	  /* the same request finished before: replay its answer */
	IDEM_REUSED,	  /* the key was used with another request: 422 */
	IDEM_IN_PROGRESS, /* the first request with this key still runs: 409 */
	IDEM_ERROR,	  /* the database could not answer: 503 */
} idem_verdict;

/*
 * The verdict for a request. For IDEM_REPLAY, `status`, `content_type` and
 * `body` (valid during the call) are the first answer.
 */
typedef void (*idem_cb)(void *arg, idem_verdict verdict, int status, const char *content_type,
			const char *body);

/*
 * Reserves (`principal_id`, `scope`, `key`) for a request whose content
 * hashes to `request_hash` (hex SHA-256 of method, path and body), or finds
 * the earlier record. Records are kept 24 h.
 */
void idempotency_begin(db_pool *db, const char *principal_id, const char *scope, const char *key,
		       const char *request_hash, idem_cb cb, void *arg);

/*
 * Stores the answer of a reserved request, to be replayed; a 5xx answer is
 * not stored but frees the key, so that a retry runs again. `done` (may be
 * NULL) is called once the record is written (or writing failed, logged).
 */
void idempotency_finish(db_pool *db, const char *principal_id, const char *scope, const char *key,
			int status, const char *content_type, const char *body, size_t len,
			void (*done)(void *arg), void *arg);

#endif
