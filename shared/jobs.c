/* The job core for the APIs: marketplace operations over the SQL functions of migration 0003, and views. */
#include "jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "pagination.h"
#include "verification.h"

#define OUTCOME_JOB " outcome, job "
/*
 * A marketplace operation `call` (a FROM item named m) with the events it
 * wrote, claimed in its transaction (outbox_claim_job): the caller
 * publishes them (jobs_call_publishing) without a claim of its own.
 */
#define WITH_EVENTS(call)                                  \
	"SELECT m.outcome, m.job, o.* FROM " call " LEFT JOIN LATERAL" \
	" outbox_claim_job(m.job ->> 'id') o ON true ORDER BY o.id"
#define MARKET_VISIBLE                                             \
	"(j.sender_id = $2 OR EXISTS (SELECT 1 FROM job_holders h" \
	" WHERE h.job_id = j.id AND h.agent_id = $2))"
#define LIST_COLUMNS "SELECT row_to_json(j), j.created_at, j.id FROM jobs j"
#define LIST_PAGE                                                           \
	" AND ($2::text[] IS NULL OR j.status = ANY ($2))"                  \
	" AND ($3::timestamptz IS NULL OR (j.created_at, j.id) < ($3, $4))" \
	" ORDER BY j.created_at DESC, j.id DESC LIMIT $5"

const db_stmt JOBS_STMTS[] = {
	{ "market_create",
	  WITH_EVENTS("market_create($1, $2, $3, $4, $5, $6, $7, $8::bigint, $9::integer,"
		      " $10::jsonb, $11::jsonb, $12::jsonb, $13, $14::jsonb) m"),
	  14 },
	{ "market_pay", WITH_EVENTS("market_pay($1, $2) m"), 2 },
	{ "market_cancel", WITH_EVENTS("market_cancel($1, $2) m"), 2 },
	{ "market_pull",
	  WITH_EVENTS("(SELECT x.* FROM principals p,"
		      " market_pull(p.id, $2, p.capabilities, $3::integer) x WHERE p.id = $1) m"),
	  3 },
	{ "market_reject", WITH_EVENTS("market_reject($1, $2, $3::integer) m"), 3 },
	{ "market_accept", WITH_EVENTS("market_accept($1, $2) m"), 2 },
	{ "market_submit", WITH_EVENTS("market_submit($1, $2, $3::jsonb, $4::jsonb) m"), 4 },
	{ "market_fail", WITH_EVENTS("market_fail($1, $2, $3) m"), 3 },
	{ "market_get",
	  "SELECT 'ok', row_to_json(j) FROM jobs j WHERE j.id = $1 AND j.kind = 'market'"
	  " AND " MARKET_VISIBLE,
	  2 },
	{ "market_sweep", "SELECT released_holds, failed_deadlines FROM market_sweep($1::integer)",
	  1 },
	{ "market_list_sender",
	  LIST_COLUMNS " WHERE j.sender_id = $1 AND j.kind = 'market'" LIST_PAGE, 5 },
	{ "market_list_agent",
	  LIST_COLUMNS " WHERE j.agent_id = $1 AND j.kind = 'market'" LIST_PAGE, 5 },
	/* with the new job's events, claimed (jobs_call_publishing) */
	{ "dispatch_create",
	  "SELECT d.outcome, d.job, o.* FROM dispatch_create($1, $2, $3, $4, $5, $6::jsonb,"
	  " $7::jsonb, $8::integer, $9::integer, $10::jsonb, $11::jsonb, $12::jsonb, $13, $14, $15) d"
	  " LEFT JOIN LATERAL outbox_claim_job(d.job ->> 'id') o ON true ORDER BY o.id",
	  15 },
	{ "dispatch_cancel", "SELECT" OUTCOME_JOB "FROM dispatch_cancel($1, $2)", 2 },
	{ "dispatch_get",
	  "SELECT 'ok', dispatch_row(j.id) FROM jobs j WHERE j.id = $1 AND j.kind = 'dispatch'"
	  " AND ($3::boolean OR j.sender_id = $2 OR j.agent_id = $2)",
	  3 },
};
const size_t JOBS_STMTS_N = sizeof JOBS_STMTS / sizeof JOBS_STMTS[0];

/* A call in progress. */
typedef struct jobs_op {
	jobs_cb cb;
	void *arg;
	outbox *ob; /* publishes the events the statement claimed, or NULL */
} jobs_op;

static void on_call(void *arg, PGresult *res, const char *error)
{
	jobs_op *op = arg;
	if (!db_result_ok(res)) {
		log_error("job operation failed: %s", error ? error : "no result");
		op->cb(op->arg, NULL, NULL, error ? error : "no result");
	} else if (PQntuples(res) == 0) {
		op->cb(op->arg, JOB_NOT_FOUND, NULL, NULL);
	} else {
		json_t *row = NULL;
		if (!PQgetisnull(res, 0, 1)) {
			row = json_load_db(PQgetvalue(res, 0, 1));
		}
		if (op->ob)
			outbox_publish_claimed(op->ob, res, 2);
		op->cb(op->arg, PQgetvalue(res, 0, 0), row, NULL);
		json_decref(row);
	}
	free(op);
}

int jobs_call(db_pool *db, const char *name, int nparams, const char *const *params, jobs_cb cb,
	      void *arg)
{
	return jobs_call_publishing(db, NULL, name, nparams, params, cb, arg);
}

int jobs_call_publishing(db_pool *db, outbox *ob, const char *name, int nparams,
			 const char *const *params, jobs_cb cb, void *arg)
{
	jobs_op *op = calloc(1, sizeof *op);
	if (!op)
		return -1;
	op->cb = cb;
	op->arg = arg;
	op->ob = ob;
	if (db_query(db, name, nparams, params, on_call, op) != 0) {
		free(op);
		return -1;
	}
	return 0;
}

/* A PostgreSQL text[] literal of plain words (status names): {a,b}. */
int jobs_market_list(db_pool *db, const principal *viewer, const char *const *statuses,
		     int nstatuses, int limit, const char *cursor, pagination_cb cb, void *arg)
{
	pagination_pos pos;
	if (pagination_parse(cursor, &pos) != 0)
		return -1;
	char limit_text[16];
	db_array words;
	db_array_init(&words);
	for (int i = 0; statuses && i < nstatuses; i++)
		db_array_add(&words, statuses[i]);
	snprintf(limit_text, sizeof limit_text, "%d", limit + 1);
	const char *params[] = { viewer->id, statuses ? db_array_text(&words) : NULL,
				 cursor ? pos.time : NULL, cursor ? pos.id : NULL, limit_text };
	const char *stmt =
		strcmp(viewer->role, "agent") == 0 ? "market_list_agent" : "market_list_sender";
	int r = 0;
	if (statuses && !params[1])
		cb(arg, NULL, NULL, "out of memory");
	else
		r = pagination_query(db, stmt, 5, params, limit, cb, arg);
	db_array_free(&words);
	return r;
}

/* ===== Views ===== */

static const struct {
	const char *canonical;
	const char *word;
} MARKET_WORDS[] = {
	{ "pending_payment", "pending_payment" },
	{ "queued", "queued" },
	{ "held", "held" },
	{ "running", "accepted" },
	{ "submitted", "submitted" },
	{ "completed", "verified" },
	{ "cancelled", "cancelled" },
	{ "failed", "failed" },
};
#define NWORDS (sizeof MARKET_WORDS / sizeof MARKET_WORDS[0])

const char *jobs_market_status(const char *canonical)
{
	for (size_t i = 0; i < NWORDS; i++)
		if (strcmp(MARKET_WORDS[i].canonical, canonical) == 0)
			return MARKET_WORDS[i].word;
	return canonical;
}

const char *jobs_market_canonical(const char *word)
{
	for (size_t i = 0; i < NWORDS; i++)
		if (strcmp(MARKET_WORDS[i].word, word) == 0)
			return MARKET_WORDS[i].canonical;
	return NULL;
}

static json_t *copy_or_null(const json_t *row, const char *key)
{
	json_t *v = json_object_get(row, key);
	return v ? json_deep_copy(v) : json_null();
}

int jobs_market_is_party(const json_t *row, const principal *viewer)
{
	const char *sender = json_string_value(json_object_get(row, "sender_id"));
	const char *agent = json_string_value(json_object_get(row, "agent_id"));
	int accepted = json_is_string(json_object_get(row, "accepted_at"));
	return (sender && strcmp(sender, viewer->id) == 0) ||
	       (accepted && agent && strcmp(agent, viewer->id) == 0);
}

json_t *jobs_market_view(const json_t *row, const principal *viewer, json_t *env_vars)
{
	const char *status = json_string_value(json_object_get(row, "status"));
	json_t *v = json_object();
	json_object_set_new(v, "id", copy_or_null(row, "id"));
	json_object_set_new(v, "status", json_string(jobs_market_status(status ? status : "")));
	static const char *const plain[] = { "title",
					     "description",
					     "requirements",
					     "required_capabilities",
					     "prompt",
					     "price_cents",
					     "time_limit_seconds",
					     "sender_id",
					     "agent_id",
					     "agent_name",
					     "attempt_count",
					     "max_attempts",
					     "cancellation_requested",
					     "output_schema",
					     "verification" };
	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
		json_object_set_new(v, plain[i], copy_or_null(row, plain[i]));
	/* the external verifier's secret stays inside */
	json_object_del(json_object_get(v, "verification"), VERIFY_SECRET_MEMBER);
	static const char *const times[] = { "created_at", "hold_expires_at", "accepted_at",
					     "deadline_at", "submitted_at" };
	for (size_t i = 0; i < sizeof times / sizeof times[0]; i++)
		json_object_set_new(v, times[i], json_row_time(row, times[i]));
	json_object_set_new(v, "verified_at",
			    status && strcmp(status, "completed") == 0
				    ? json_row_time(row, "completed_at")
				    : json_null());
	json_object_set_new(v, "attachments", copy_or_null(row, "attachments"));
	if (jobs_market_is_party(row, viewer)) {
		json_object_set_new(v, "output", copy_or_null(row, "output"));
		json_object_set_new(v, "output_attachments",
				    copy_or_null(row, "output_attachments"));
		json_object_set(v, "envVars", env_vars ? env_vars : json_null());
	}
	if (json_is_string(json_object_get(row, "failure_reason")))
		json_object_set_new(v, "failure_reason", copy_or_null(row, "failure_reason"));
	return v;
}

/* ===== The dispatch API (seed 002) ===== */

/* Seed 002's words; what is not here (archived) keeps its canonical name. */
static const struct {
	const char *canonical;
	const char *word;
} DISPATCH_WORDS[] = {
	{ "proposed", "queued" },   { "pending_payment", "queued" }, { "pending", "queued" },
	{ "queued", "queued" },	    { "held", "queued" },	     { "blocked", "queued" },
	{ "paused", "queued" },	    { "running", "running" },	     { "submitted", "running" },
	{ "completed", "completed" }, { "failed", "failed" },	     { "cancelled", "cancelled" },
};

const char *jobs_dispatch_status(const char *canonical)
{
	for (size_t i = 0; i < sizeof DISPATCH_WORDS / sizeof DISPATCH_WORDS[0]; i++)
		if (strcmp(DISPATCH_WORDS[i].canonical, canonical) == 0)
			return DISPATCH_WORDS[i].word;
	return canonical;
}

json_t *jobs_dispatch_view(const json_t *row)
{
	const char *status = json_string_value(json_object_get(row, "status"));
	json_t *v = json_object();
	json_object_set_new(v, "id", copy_or_null(row, "id"));
	json_object_set_new(v, "agent_id", copy_or_null(row, "agent_id"));
	json_object_set_new(v, "parent_job_id", copy_or_null(row, "parent_job_id"));
	json_object_set_new(v, "status", json_string(jobs_dispatch_status(status ? status : "")));
	json_object_set_new(v, "brief", copy_or_null(row, "brief"));
	json_object_set_new(v, "metadata", copy_or_null(row, "metadata"));
	json_object_set_new(v, "result", status && strcmp(status, "completed") == 0
						 ? copy_or_null(row, "result")
						 : json_null());
	json_t *subjobs = json_array();
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(row, "subjobs"), i, s)
	{
		const char *st = json_string_value(json_object_get(s, "status"));
		json_array_append_new(subjobs,
				      json_pack("{s:O,s:O,s:s}", "id", json_object_get(s, "id"),
						"agent_id", json_object_get(s, "agent_id"), "status",
						jobs_dispatch_status(st ? st : "")));
	}
	json_object_set_new(v, "subjobs", subjobs);
	json_t *tokens = json_object_get(row, "tokens_total");
	json_object_set_new(v, "tokens_used",
			    json_integer(json_is_number(tokens) ? (json_int_t)json_number_value(tokens)
								: 0));
	json_object_set_new(v, "attempt_count", copy_or_null(row, "attempt_count"));
	json_object_set_new(v, "max_attempts", copy_or_null(row, "max_attempts"));
	json_object_set_new(v, "created_at", json_row_time(row, "created_at"));
	json_object_set_new(v, "deadline_at", json_row_time(row, "deadline_at"));
	json_object_set_new(v, "completed_at", json_row_time(row, "completed_at"));
	if (json_is_string(json_object_get(row, "failure_reason")) && status &&
	    strcmp(status, "completed") != 0)
		json_object_set_new(v, "failure_reason", copy_or_null(row, "failure_reason"));
	return v;
}

/* ===== The sweep ===== */

typedef struct sweep_call {
	jobs_sweep_cb cb;
	void *arg;
} sweep_call;

static void on_swept(void *arg, PGresult *res, const char *error)
{
	sweep_call *c = arg;
	if (!db_result_ok(res) || PQntuples(res) != 1)
		c->cb(c->arg, 0, 0, error ? error : "no result");
	else
		c->cb(c->arg, atoi(PQgetvalue(res, 0, 0)), atoi(PQgetvalue(res, 0, 1)), NULL);
	free(c);
}

int jobs_sweep(db_pool *db, jobs_sweep_cb cb, void *arg)
{
	sweep_call *c = calloc(1, sizeof *c);
	if (!c)
		return -1;
	c->cb = cb;
	c->arg = arg;
	char limit[16];
	snprintf(limit, sizeof limit, "%d", JOBS_SWEEP_LIMIT);
	const char *params[] = { limit };
	if (db_query(db, "market_sweep", 1, params, on_swept, c) != 0) {
		free(c);
		return -1;
	}
	return 0;
}
