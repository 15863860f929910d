/* Idempotency-Key records in PostgreSQL. */
#include "idempotency.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "log.h"

#define KEY_COLUMNS "principal_id = $1 AND route = $2 AND key = $3"

const db_stmt IDEMPOTENCY_STMTS[] = {
	{ "idem_begin",
	  "WITH ins AS (INSERT INTO idempotency_keys (principal_id, route, key, request_hash)"
	  " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1)"
	  " SELECT 'new', NULL, NULL, NULL, NULL FROM ins"
	  " UNION ALL"
	  " SELECT 'old', request_hash, status, response, response_type FROM idempotency_keys"
	  " WHERE " KEY_COLUMNS " AND NOT EXISTS (SELECT 1 FROM ins)",
	  4 },
	{ "idem_store",
	  "UPDATE idempotency_keys SET status = $4, response = $5, response_type = $6"
	  " WHERE " KEY_COLUMNS " AND status IS NULL",
	  6 },
	{ "idem_release", "DELETE FROM idempotency_keys WHERE " KEY_COLUMNS " AND status IS NULL",
	  3 },
	{ "idem_expire",
	  "DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'", 0 },
};
const size_t IDEMPOTENCY_STMTS_N = sizeof IDEMPOTENCY_STMTS / sizeof IDEMPOTENCY_STMTS[0];

typedef struct idem_call {
	idem_cb cb;
	void *arg;
	char hash[65];
} idem_call;

static void on_begin(void *arg, PGresult *res, const char *error)
{
	idem_call *c = arg;
	if (!db_result_ok(res)) {
		log_warn("idempotency: %s", error ? error : "no result");
		c->cb(c->arg, IDEM_ERROR, 0, NULL, NULL);
	} else if (PQntuples(res) == 0) {
		/* inserted by a transaction not yet visible: the first one runs */
		c->cb(c->arg, IDEM_IN_PROGRESS, 0, NULL, NULL);
	} else if (strcmp(PQgetvalue(res, 0, 0), "new") == 0) {
		c->cb(c->arg, IDEM_PROCEED, 0, NULL, NULL);
	} else if (strcmp(PQgetvalue(res, 0, 1), c->hash) != 0) {
		c->cb(c->arg, IDEM_REUSED, 0, NULL, NULL);
	} else if (PQgetisnull(res, 0, 2)) {
		c->cb(c->arg, IDEM_IN_PROGRESS, 0, NULL, NULL);
	} else {
		c->cb(c->arg, IDEM_REPLAY, atoi(PQgetvalue(res, 0, 2)), PQgetvalue(res, 0, 4),
		      PQgetvalue(res, 0, 3));
	}
	free(c);
}

void idempotency_begin(db_pool *db, const char *principal_id, const char *scope, const char *key,
		       const char *request_hash, idem_cb cb, void *arg)
{
	idem_call *c = calloc(1, sizeof *c);
	if (!c) {
		cb(arg, IDEM_ERROR, 0, NULL, NULL);
		return;
	}
	c->cb = cb;
	c->arg = arg;
	snprintf(c->hash, sizeof c->hash, "%s", request_hash);
	const char *params[] = { principal_id, scope, key, request_hash };
	if (db_query(db, "idem_begin", 4, params, on_begin, c) != 0) {
		free(c);
		cb(arg, IDEM_ERROR, 0, NULL, NULL);
	}
}

/* Who waits for a record to be written. */
typedef struct store_call {
	void (*done)(void *arg);
	void *arg;
} store_call;

static void on_stored(void *arg, PGresult *res, const char *error)
{
	store_call *c = arg;
	if (!db_result_ok(res))
		log_warn("idempotency: storing an answer failed: %s", error ? error : "no result");
	if (c->done)
		c->done(c->arg);
	free(c);
}

void idempotency_finish(db_pool *db, const char *principal_id, const char *scope, const char *key,
			int status, const char *content_type, const char *body, size_t len,
			void (*done)(void *arg), void *arg)
{
	store_call *c = calloc(1, sizeof *c);
	if (!c) {
		if (done)
			done(arg);
		return;
	}
	c->done = done;
	c->arg = arg;
	if (status >= 500) {
		const char *params[] = { principal_id, scope, key };
		if (db_query(db, "idem_release", 3, params, on_stored, c) != 0)
			on_stored(c, NULL, "cannot queue the query");
		return;
	}
	char status_text[16];
	snprintf(status_text, sizeof status_text, "%d", status);
	char *text = malloc(len + 1);
	if (!text) {
		on_stored(c, NULL, "out of memory");
		return;
	}
	memcpy(text, body, len);
	text[len] = '\0';
	const char *params[] = { principal_id, scope, key, status_text, text, content_type };
	if (db_query(db, "idem_store", 6, params, on_stored, c) != 0)
		on_stored(c, NULL, "cannot queue the query");
	free(text);
}
