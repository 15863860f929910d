/* Runs (seed 004): the reply API, the run's views and the run sweep, over the SQL of migration 0005. */
#include "runs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "log.h"

#define RUN_VISIBLE "($3::boolean OR r.agent_id = $2 OR r.user_id = $2)"

const db_stmt RUNS_STMTS[] = {
	/* with the job's events, claimed when the reply changed something */
	{ "run_reply",
	  "SELECT r.outcome, r.run_id, r.run_status, r.idempotent, r.expires_in, r.job_id, o.*"
	  " FROM run_reply($1, $2, $3, $4, $5::jsonb, $6::bigint, $7, $8::boolean, $9::integer) r"
	  " LEFT JOIN LATERAL outbox_claim_job(CASE WHEN r.outcome = 'ok' AND NOT r.idempotent"
	  " THEN r.job_id END) o ON true ORDER BY o.id",
	  9 },
	{ "run_get",
	  "SELECT row_to_json(r), coalesce((SELECT json_agg(json_build_object('seq', m.seq,"
	  " 'role', m.role, 'text', m.text, 'status', m.status,"
	  " 'created_at', errand_time(m.created_at)) ORDER BY m.seq)"
	  " FROM run_messages m WHERE m.run_id = r.id), '[]')"
	  " FROM runs r WHERE r.id = $1 AND " RUN_VISIBLE,
	  3 },
	{ "run_list_job",
	  "SELECT row_to_json(r), r.created_at, r.id FROM runs r WHERE r.job_id = $1"
	  " AND ($2::timestamptz IS NULL OR (r.created_at, r.id) < ($2, $3))"
	  " ORDER BY r.created_at DESC, r.id DESC LIMIT $4",
	  4 },
	{ "run_token_known", "SELECT 1 FROM runs WHERE reply_token_hash = $1", 1 },
	{ "runs_sweep",
	  "SELECT expired_runs, failed_runs, failed_deadlines FROM runs_sweep($1::integer, $2::integer)",
	  2 },
};
const size_t RUNS_STMTS_N = sizeof RUNS_STMTS / sizeof RUNS_STMTS[0];

/* ===== The reply API ===== */

typedef struct reply_call {
	runs_reply_cb cb;
	void *arg;
	outbox *ob;
} reply_call;

static void on_reply(void *arg, PGresult *res, const char *error)
{
	reply_call *c = arg;
	if (!db_result_ok(res) || PQntuples(res) < 1) {
		log_error("reply failed: %s", error ? error : "no result");
		c->cb(c->arg, NULL, error ? error : "no result");
	} else {
		runs_reply_answer a = {
			.outcome = PQgetvalue(res, 0, 0),
			.run_id = PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1),
			.run_status = PQgetisnull(res, 0, 2) ? NULL : PQgetvalue(res, 0, 2),
			.idempotent = strcmp(PQgetvalue(res, 0, 3), "t") == 0,
			.expires_in_seconds = atoi(PQgetvalue(res, 0, 4)),
			.job_id = PQgetisnull(res, 0, 5) ? NULL : PQgetvalue(res, 0, 5),
		};
		if (c->ob)
			outbox_publish_claimed(c->ob, res, 6);
		c->cb(c->arg, &a, NULL);
	}
	free(c);
}

void runs_reply_apply(db_pool *db, outbox *ob, const runs_reply *reply, int expiry_s,
		      runs_reply_cb cb, void *arg)
{
	if (!auth_run_token_shaped(reply->token, AUTH_REPLY_TOKEN_PREFIX)) {
		runs_reply_answer a = { .outcome = RUN_INVALID_TOKEN };
		cb(arg, &a, NULL);
		return;
	}
	reply_call *c = calloc(1, sizeof *c);
	char *result = reply->result ? json_dumps(reply->result, JSON_COMPACT | JSON_ENCODE_ANY)
				     : NULL;
	if (!c || (reply->result && !result)) {
		free(c);
		free(result);
		cb(arg, NULL, "out of memory");
		return;
	}
	c->cb = cb;
	c->arg = arg;
	c->ob = ob;
	char hash[AUTH_HASH_HEX_LEN + 1], tokens[24], expiry[16];
	auth_hash_hex(reply->token, strlen(reply->token), hash);
	snprintf(tokens, sizeof tokens, "%lld", (long long)reply->tokens_used);
	snprintf(expiry, sizeof expiry, "%d", expiry_s);
	const char *params[] = { hash,
				 reply->status,
				 reply->message,
				 reply->error,
				 result,
				 reply->has_tokens ? tokens : NULL,
				 reply->idempotency_key,
				 reply->cancel_open_subjobs ? "true" : "false",
				 expiry };
	int r = db_query(db, "run_reply", 9, params, on_reply, c);
	free(result);
	if (r != 0) {
		free(c);
		cb(arg, NULL, "cannot queue the query");
	}
}

typedef struct known_call {
	void (*cb)(void *arg, int known, const char *error);
	void *arg;
} known_call;

static void on_known(void *arg, PGresult *res, const char *error)
{
	known_call *c = arg;
	if (!db_result_ok(res))
		c->cb(c->arg, 0, error ? error : "no result");
	else
		c->cb(c->arg, PQntuples(res) > 0, NULL);
	free(c);
}

void runs_token_known(db_pool *db, const char *token, void (*cb)(void *arg, int known,
								  const char *error),
		      void *arg)
{
	known_call *c = calloc(1, sizeof *c);
	if (!c) {
		cb(arg, 0, "out of memory");
		return;
	}
	c->cb = cb;
	c->arg = arg;
	char hash[AUTH_HASH_HEX_LEN + 1];
	auth_hash_hex(token, strlen(token), hash);
	const char *params[] = { hash };
	if (db_query(db, "run_token_known", 1, params, on_known, c) != 0) {
		free(c);
		cb(arg, 0, "cannot queue the query");
	}
}

/* ===== Views ===== */

json_t *runs_view_row(const json_t *row)
{
	json_t *v = json_object();
	static const char *const plain[] = { "id", "status", "job_id", "agent_id", "error" };
	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
		json_t *x = json_object_get(row, plain[i]);
		json_object_set_new(v, plain[i], x ? json_deep_copy(x) : json_null());
	}
	static const char *const times[] = { "created_at", "acknowledged_at", "expires_at",
					     "ended_at" };
	for (size_t i = 0; i < sizeof times / sizeof times[0]; i++)
		json_object_set_new(v, times[i], json_row_time(row, times[i]));
	return v;
}

typedef struct view_call {
	runs_view_cb cb;
	void *arg;
} view_call;

static void on_run(void *arg, PGresult *res, const char *error)
{
	view_call *c = arg;
	if (!db_result_ok(res)) {
		c->cb(c->arg, NULL, error ? error : "no result");
	} else if (PQntuples(res) == 0) {
		c->cb(c->arg, NULL, NULL);
	} else {
		json_t *row = json_load_db(PQgetvalue(res, 0, 0));
		json_t *messages = json_load_db(PQgetvalue(res, 0, 1));
		json_t *v = runs_view_row(row);
		json_object_set_new(v, "messages", messages ? messages : json_array());
		json_decref(row);
		c->cb(c->arg, v, NULL);
	}
	free(c);
}

void runs_get(db_pool *db, const char *run_id, const principal *viewer, runs_view_cb cb, void *arg)
{
	if (!ids_valid(run_id, "run")) {
		cb(arg, NULL, NULL);
		return;
	}
	view_call *c = calloc(1, sizeof *c);
	if (!c) {
		cb(arg, NULL, "out of memory");
		return;
	}
	c->cb = cb;
	c->arg = arg;
	const char *params[] = { run_id, viewer->id,
				 strcmp(viewer->role, ROLE_ADMIN) == 0 ? "true" : "false" };
	if (db_query(db, "run_get", 3, params, on_run, c) != 0) {
		free(c);
		cb(arg, NULL, "cannot queue the query");
	}
}

int runs_list_for_job(db_pool *db, const char *job_id, int limit, const char *cursor,
		      pagination_cb cb, void *arg)
{
	pagination_pos pos;
	if (pagination_parse(cursor, &pos) != 0)
		return -1;
	char limit_text[16];
	snprintf(limit_text, sizeof limit_text, "%d", limit + 1);
	const char *params[] = { job_id, cursor ? pos.time : NULL, cursor ? pos.id : NULL,
				 limit_text };
	return pagination_query(db, "run_list_job", 4, params, limit, cb, arg);
}

/* ===== The sweep ===== */

typedef struct sweep_call {
	runs_sweep_cb cb;
	void *arg;
} sweep_call;

static void on_swept(void *arg, PGresult *res, const char *error)
{
	sweep_call *c = arg;
	if (!db_result_ok(res) || PQntuples(res) != 1)
		c->cb(c->arg, 0, 0, 0, error ? error : "no result");
	else
		c->cb(c->arg, atoi(PQgetvalue(res, 0, 0)), atoi(PQgetvalue(res, 0, 1)),
		      atoi(PQgetvalue(res, 0, 2)), NULL);
	free(c);
}

int runs_sweep(db_pool *db, int delivery_deadline_s, runs_sweep_cb cb, void *arg)
{
	sweep_call *c = calloc(1, sizeof *c);
	if (!c)
		return -1;
	c->cb = cb;
	c->arg = arg;
	char limit[16], deadline[16];
	snprintf(limit, sizeof limit, "%d", RUNS_SWEEP_LIMIT);
	snprintf(deadline, sizeof deadline, "%d", delivery_deadline_s);
	const char *params[] = { limit, deadline };
	if (db_query(db, "runs_sweep", 2, params, on_swept, c) != 0) {
		free(c);
		return -1;
	}
	return 0;
}
