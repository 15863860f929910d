/* Webhook deliveries: taking a due message, recording each attempt, the retry schedule, the records' view. */
#include "deliveries.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "log.h"
#include "seal.h"

/*
 * Claims and records commit without waiting for the disk: a crash that
 * loses one only means the message is sent again with the same
 * webhook-id, which at-least-once delivery allows.
 */
#define NO_FLUSH "WITH nf AS (SELECT set_config('synchronous_commit', 'off', true))"

const db_stmt DELIVERIES_STMTS[] = {
	{ "delivery_due",
	  "SELECT id, coalesce(run_id, ''), coalesce(agent_id, observer_id) FROM webhook_messages"
	  " WHERE status = 'pending' AND next_attempt_at <= now()"
	  " AND (locked_until IS NULL OR locked_until < now())"
	  " AND (attempts > 0 OR ($2::boolean AND created_at < now() - interval '2 seconds'))"
	  " ORDER BY next_attempt_at LIMIT $1",
	  2 },
	/* several messages in one statement, answered in the order asked */
	{ "delivery_claim",
	  NO_FLUSH " SELECT c.id, c.event, c.url, c.secrets, c.payload, c.attempt, c.run_id,"
		   " c.disabled FROM nf,"
		   " delivery_claim_many($1::text[], $2::text[], $3::text[], $4::integer) c"
		   " ORDER BY c.n",
	  4 },
	/* with the events of the job it changed, claimed */
	{ "delivery_record",
	  NO_FLUSH " SELECT r.job_id, o.* FROM nf, delivery_record($1, $2::integer, $3, $4::integer,"
		   " $5, $6::integer, $7, $8::bigint, $9::boolean, $10::integer) r"
		   " LEFT JOIN LATERAL outbox_claim_job(r.job_id) o ON true ORDER BY o.id",
	  10 },
	{ "delivery_list_job",
	  "SELECT json_build_object('id', a.id, 'webhook_id', a.message_id, 'target', a.target,"
	  " 'event', a.event, 'attempt', a.attempt, 'status_code', a.status_code,"
	  " 'error', a.error, 'latency_ms', a.latency_ms,"
	  " 'created_at', errand_time(a.created_at)), a.created_at, a.id"
	  " FROM delivery_attempts a WHERE a.job_id = $1"
	  " AND ($2::timestamptz IS NULL OR (a.created_at, a.id) < ($2, $3))"
	  " ORDER BY a.created_at DESC, a.id DESC LIMIT $4",
	  4 },
};
const size_t DELIVERIES_STMTS_N = sizeof DELIVERIES_STMTS / sizeof DELIVERIES_STMTS[0];

/* ===== Claims ===== */

/* A statement taking `n` messages; `wants` is a copy whose strings it owns. */
typedef struct claim_call {
	int n;
	delivery_want *wants;
	unsigned char key[32];
} claim_call;

static void claim_call_free(claim_call *c)
{
	for (int i = 0; c && i < c->n; i++) {
		free((char *)c->wants[i].message_id);
		free((char *)c->wants[i].run_id);
	}
	if (c)
		free(c->wants);
	free(c);
}

/*
 * Splits a PostgreSQL text[] of secrets ({a,b}: base64, "v1." and "whsec_"
 * need no quoting) in place into `out`. Returns how many.
 */
static int split_array(char *text, char **out, int max)
{
	size_t len = strlen(text);
	if (len < 2 || text[0] != '{' || text[len - 1] != '}')
		return 0;
	text[len - 1] = '\0';
	int n = 0;
	for (char *save = NULL, *tok = strtok_r(text + 1, ",", &save); tok && n < max;
	     tok = strtok_r(NULL, ",", &save))
		out[n++] = tok;
	return n;
}

/* Hands row `row` of a claim's result to `w`'s callback, its sealed secrets opened under `key`. */
static void hand_row(const PGresult *res, int row, const unsigned char key[32],
		     const delivery_want *w)
{
	delivery d = {
		.id = PQgetvalue(res, row, 0),
		.event = PQgetvalue(res, row, 1),
		.url = PQgetisnull(res, row, 2) ? NULL : PQgetvalue(res, row, 2),
		.payload = PQgetvalue(res, row, 4),
		.attempt = atoi(PQgetvalue(res, row, 5)),
		.run_id = PQgetisnull(res, row, 6) ? NULL : PQgetvalue(res, row, 6),
		.disabled = strcmp(PQgetvalue(res, row, 7), "t") == 0,
	};
	char *array = strdup(PQgetvalue(res, row, 3));
	char *stored[DELIVERY_SECRETS_MAX];
	char *opened[DELIVERY_SECRETS_MAX] = { 0 };
	int n = array ? split_array(array, stored, DELIVERY_SECRETS_MAX) : 0;
	for (int i = 0; i < n; i++) {
		if (strncmp(stored[i], "v1.", 3) == 0) {
			size_t len = 0;
			opened[i] = seal_decrypt(key, stored[i], &len);
			if (!opened[i]) {
				log_error("cannot open a webhook secret: wrong ERRAND_SECRETS_KEY?");
				continue;
			}
			d.secrets[d.nsecrets++] = opened[i];
		} else {
			d.secrets[d.nsecrets++] = stored[i];
		}
	}
	w->cb(w->arg, &d, NULL);
	for (int i = 0; i < n; i++)
		free(opened[i]);
	free(array);
}

static void on_claimed(void *arg, PGresult *res, const char *error)
{
	claim_call *c = arg;
	if (!db_result_ok(res)) {
		log_error("taking %d webhook messages failed: %s", c->n, error ? error : "no result");
		for (int i = 0; i < c->n; i++)
			c->wants[i].cb(c->wants[i].arg, NULL, error ? error : "no result");
		claim_call_free(c);
		return;
	}
	/* the rows come in the order asked; a message not taken has none */
	int rows = PQntuples(res), row = 0;
	for (int i = 0; i < c->n; i++) {
		const delivery_want *w = &c->wants[i];
		if (row < rows && strcmp(PQgetvalue(res, row, 0), w->message_id) == 0)
			hand_row(res, row++, c->key, w);
		else
			w->cb(w->arg, NULL, NULL);
	}
	claim_call_free(c);
}

void deliveries_claim_many(db_pool *db, const delivery_want *wants, int n,
			   const unsigned char key[32], int lock_s)
{
	claim_call *c = calloc(1, sizeof *c);
	db_array msgs, replies, mcps;
	db_array_init(&msgs);
	db_array_init(&replies);
	db_array_init(&mcps);
	if (c)
		c->wants = calloc((size_t)n, sizeof *c->wants);
	if (!c || !c->wants) {
		for (int i = 0; i < n; i++)
			wants[i].cb(wants[i].arg, NULL, "out of memory");
		goto done;
	}
	memcpy(c->key, key, sizeof c->key);
	for (int i = 0; i < n; i++) {
		const delivery_want *w = &wants[i];
		char reply_hash[AUTH_HASH_HEX_LEN + 1], mcp_hash[AUTH_HASH_HEX_LEN + 1];
		int has_run = w->run_id && w->run_id[0];
		if (!ids_valid(w->message_id, "msg") || (has_run && !ids_valid(w->run_id, "run")) ||
		    (has_run && auth_run_token_hashes(key, w->run_id, reply_hash, mcp_hash) != 0)) {
			w->cb(w->arg, NULL, "malformed message or run id");
			continue;
		}
		delivery_want *copy = &c->wants[c->n];
		*copy = *w;
		copy->message_id = strdup(w->message_id);
		copy->run_id = has_run ? strdup(w->run_id) : NULL;
		if (!copy->message_id || (has_run && !copy->run_id)) {
			free((char *)copy->message_id);
			free((char *)copy->run_id);
			w->cb(w->arg, NULL, "out of memory");
			continue;
		}
		c->n++;
		db_array_add(&msgs, w->message_id);
		db_array_add(&replies, has_run ? reply_hash : NULL);
		db_array_add(&mcps, has_run ? mcp_hash : NULL);
	}
	if (c->n == 0)
		goto done;
	char lock[16];
	snprintf(lock, sizeof lock, "%d", lock_s);
	const char *params[] = { db_array_text(&msgs), db_array_text(&replies),
				 db_array_text(&mcps), lock };
	const char *why = !params[0] || !params[1] || !params[2] ? "out of memory"
			  : db_query(db, "delivery_claim", 4, params, on_claimed, c) != 0
			  ? "cannot queue the query"
			  : NULL;
	if (why) {
		for (int i = 0; i < c->n; i++)
			c->wants[i].cb(c->wants[i].arg, NULL, why);
		goto done;
	}
	c = NULL; /* on_claimed frees it */
done:
	db_array_free(&msgs);
	db_array_free(&replies);
	db_array_free(&mcps);
	claim_call_free(c);
}

void deliveries_claim(db_pool *db, const char *message_id, const char *run_id,
		      const unsigned char key[32], int lock_s, deliveries_claim_cb cb, void *arg)
{
	delivery_want w = { .message_id = message_id, .run_id = run_id, .cb = cb, .arg = arg };
	deliveries_claim_many(db, &w, 1, key, lock_s);
}

/* ===== Records ===== */

typedef struct record_call {
	deliveries_record_cb cb;
	void *arg;
	outbox *ob;
} record_call;

static void on_recorded(void *arg, PGresult *res, const char *error)
{
	record_call *c = arg;
	if (!db_result_ok(res)) {
		log_error("recording a webhook attempt failed: %s", error ? error : "no result");
		if (c->cb)
			c->cb(c->arg, NULL, error ? error : "no result");
	} else {
		int has = PQntuples(res) >= 1 && !PQgetisnull(res, 0, 0);
		if (has && c->ob)
			outbox_publish_claimed(c->ob, res, 1);
		if (c->cb)
			c->cb(c->arg, has ? PQgetvalue(res, 0, 0) : NULL, NULL);
	}
	free(c);
}

void deliveries_record(db_pool *db, outbox *ob, const delivery_result *r, int expiry_s,
		       deliveries_record_cb cb, void *arg)
{
	record_call *c = calloc(1, sizeof *c);
	if (!c) {
		if (cb)
			cb(arg, NULL, "out of memory");
		return;
	}
	c->cb = cb;
	c->arg = arg;
	c->ob = ob;
	char attempt[16], status[16], latency[24], delay[24], expiry[16];
	snprintf(attempt, sizeof attempt, "%d", r->attempt);
	snprintf(status, sizeof status, "%ld", r->status_code);
	snprintf(latency, sizeof latency, "%ld", r->latency_ms);
	snprintf(delay, sizeof delay, "%ld", r->next_delay_ms);
	snprintf(expiry, sizeof expiry, "%d", expiry_s);
	const char *params[] = { r->message_id,
				 attempt,
				 r->target,
				 r->status_code > 0 ? status : NULL,
				 r->error,
				 latency,
				 r->head,
				 r->next_delay_ms >= 0 ? delay : NULL,
				 r->gone ? "true" : "false",
				 expiry };
	if (db_query(db, "delivery_record", 10, params, on_recorded, c) != 0) {
		free(c);
		if (cb)
			cb(arg, NULL, "cannot queue the query");
	}
}

/* ===== Due messages ===== */

typedef struct due_call {
	deliveries_due_cb cb;
	void *arg;
} due_call;

static void on_due(void *arg, PGresult *res, const char *error)
{
	due_call *c = arg;
	if (!db_result_ok(res)) {
		c->cb(c->arg, 0, NULL, NULL, NULL, error ? error : "no result");
		free(c);
		return;
	}
	int n = PQntuples(res);
	const char **ids = calloc((size_t)n + 1, sizeof *ids);
	const char **runs = calloc((size_t)n + 1, sizeof *runs);
	const char **tos = calloc((size_t)n + 1, sizeof *tos);
	if (!ids || !runs || !tos) {
		c->cb(c->arg, 0, NULL, NULL, NULL, "out of memory");
	} else {
		for (int i = 0; i < n; i++) {
			ids[i] = PQgetvalue(res, i, 0);
			runs[i] = PQgetvalue(res, i, 1);
			tos[i] = PQgetvalue(res, i, 2);
		}
		c->cb(c->arg, n, ids, runs, tos, NULL);
	}
	free(ids);
	free(runs);
	free(tos);
	free(c);
}

void deliveries_due(db_pool *db, int limit, int fresh, deliveries_due_cb cb, void *arg)
{
	due_call *c = calloc(1, sizeof *c);
	if (!c) {
		cb(arg, 0, NULL, NULL, NULL, "out of memory");
		return;
	}
	c->cb = cb;
	c->arg = arg;
	char text[16];
	snprintf(text, sizeof text, "%d", limit);
	const char *params[] = { text, fresh ? "true" : "false" };
	if (db_query(db, "delivery_due", 2, params, on_due, c) != 0) {
		free(c);
		cb(arg, 0, NULL, NULL, NULL, "cannot queue the query");
	}
}

/* ===== The schedule ===== */

long deliveries_next_delay_ms(const int *schedule, int n, int attempt, long retry_after_s,
			      double jitter01)
{
	if (attempt < 1 || attempt >= n)
		return -1;
	double ms = (double)schedule[attempt] * 1000.0;
	if (jitter01 > 0 && jitter01 < 1)
		ms += ms * 0.2 * jitter01;
	if (retry_after_s > DELIVERY_RETRY_AFTER_MAX)
		retry_after_s = DELIVERY_RETRY_AFTER_MAX;
	if (retry_after_s >= 0 && ms < (double)retry_after_s * 1000.0)
		ms = (double)retry_after_s * 1000.0;
	return (long)ms;
}

/* ===== Records' view ===== */

int deliveries_list_for_job(db_pool *db, const char *job_id, int limit, const char *cursor,
			    pagination_cb cb, void *arg)
{
	pagination_pos pos;
	if (pagination_parse(cursor, &pos) != 0)
		return -1;
	char limit_text[16];
	snprintf(limit_text, sizeof limit_text, "%d", limit + 1);
	const char *params[] = { job_id, cursor ? pos.time : NULL, cursor ? pos.id : NULL,
				 limit_text };
	return pagination_query(db, "delivery_list_job", 4, params, limit, cb, arg);
}
