/* Verification of a submitted attempt: taking it, the checks' pure parts, settling it (migration 0006). */
#include "verification.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "json.h"
#include "log.h"
#include "seal.h"

/* The bookkeeping of a lease and of the verdict's stream id needs no flushed commit. */
#define NO_FLUSH "WITH nf AS (SELECT set_config('synchronous_commit', 'off', true))"

const db_stmt VERIFICATION_STMTS[] = {
	{ "verify_take",
	  NO_FLUSH " SELECT t.kind, t.output, t.output_schema, t.verification,"
		   " t.objective, t.constraints"
		   " FROM nf, verify_take($1, $2::integer, $3, $4::integer) t",
	  4 },
	{ "verify_settle",
	  "SELECT outcome, status FROM verify_settle($1, $2::integer, $3::boolean, $4, $5::jsonb,"
	  " $6::integer)",
	  6 },
	{ "verify_record_verdict",
	  NO_FLUSH " UPDATE verifications SET log = log || jsonb_build_array($3::jsonb) FROM nf"
		   " WHERE job_id = $1 AND attempt = $2::integer",
	  3 },
	{ "verify_due", "SELECT job_id, attempt FROM verify_due($1::integer)", 1 },
	/* the lease of a check still running, by the verifier that holds it */
	{ "verify_renew",
	  NO_FLUSH " UPDATE verifications SET lease_until = now() + make_interval(secs => $4::integer)"
		   " FROM nf WHERE job_id = $1 AND attempt = $2::integer AND verifier = $3"
		   " AND status = 'running' RETURNING 1",
	  4 },
	/* finished, and no verdict on its way: one settled in the last
	 * VERIFY_VERDICT_GRACE_SECONDS but not recorded yet is being written to
	 * the stream (after that, its verifier died: PostgreSQL has it) */
	{ "verify_finished",
	  "SELECT j.id, j.attempt_count FROM jobs j"
	  " JOIN job_statuses s ON s.status = j.status AND s.terminal"
	  " WHERE j.id = ANY ($1::text[])"
	  " AND NOT EXISTS (SELECT 1 FROM verifications v WHERE v.job_id = j.id"
	  " AND v.status <> 'running'"
	  " AND v.finished_at > now() - make_interval(secs => " VERIFY_VERDICT_GRACE_SECONDS ")"
	  " AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(v.log) y"
	  " WHERE y ->> 'event' = 'verdict'))",
	  1 },
	{ "verify_job_log",
	  "SELECT j.status, j.kind, verify_log(j.id)::text FROM jobs j"
	  " WHERE j.id = $1 AND (j.sender_id = $2 OR j.agent_id = $2 OR EXISTS (SELECT 1"
	  " FROM job_holders h WHERE h.job_id = j.id AND h.agent_id = $2))",
	  2 },
};
const size_t VERIFICATION_STMTS_N = sizeof VERIFICATION_STMTS / sizeof VERIFICATION_STMTS[0];

const char VERIFY_JUDGE_SYSTEM[] =
	"You check whether work delivered by an agent meets its objective and constraints. "
	"Answer with one JSON object and nothing else: {\"pass\": true or false, \"reason\": "
	"\"one short sentence\"}. Pass only when the output fully meets the objective and "
	"every constraint.";

/* ===== Taking an attempt ===== */

typedef struct take_call {
	verification_take_cb cb;
	void *arg;
	char job_id[IDS_MAX_LEN];
	int attempt;
	int has_key;
	unsigned char key[SEAL_KEY_LEN];
} take_call;

static const char *cell(const PGresult *res, int col)
{
	return PQgetisnull(res, 0, col) ? NULL : PQgetvalue(res, 0, col);
}

static void on_taken(void *arg, PGresult *res, const char *error)
{
	take_call *c = arg;
	if (!db_result_ok(res)) {
		log_error("taking a verification failed: %s", error ? error : "no result");
		c->cb(c->arg, NULL, error ? error : "no result");
		free(c);
		return;
	}
	if (PQntuples(res) == 0) {
		c->cb(c->arg, NULL, NULL);
		free(c);
		return;
	}
	const char *verification = cell(res, 3);
	json_t *v = json_load_db(verification);
	/* the external verifier's secret is kept sealed inside `verification` */
	const char *sealed = json_string_value(json_object_get(v, VERIFY_SECRET_MEMBER));
	char *opened = NULL;
	if (sealed && strncmp(sealed, "v1.", 3) == 0 && c->has_key) {
		size_t len = 0;
		opened = seal_decrypt(c->key, sealed, &len);
	}
	verification_job j = {
		.job_id = c->job_id,
		.attempt = c->attempt,
		.kind = PQgetvalue(res, 0, 0),
		.output = cell(res, 1),
		.output_schema = cell(res, 2),
		.verification = v,
		.secret = opened ? opened : (sealed && strncmp(sealed, "v1.", 3) != 0 ? sealed : NULL),
		.objective = cell(res, 4) ? cell(res, 4) : "",
		.constraints = cell(res, 5) ? cell(res, 5) : "{}",
	};
	c->cb(c->arg, &j, NULL);
	free(opened);
	json_decref(v);
	free(c);
}

void verification_take(db_pool *db, const char *job_id, int attempt, const char *instance,
		       int lease_s, const unsigned char *key, verification_take_cb cb, void *arg)
{
	take_call *c = calloc(1, sizeof *c);
	if (!c || !ids_valid(job_id, "job")) {
		free(c);
		cb(arg, NULL, c ? NULL : "out of memory");
		return;
	}
	c->cb = cb;
	c->arg = arg;
	snprintf(c->job_id, sizeof c->job_id, "%s", job_id);
	c->attempt = attempt;
	if (key) {
		c->has_key = 1;
		memcpy(c->key, key, SEAL_KEY_LEN);
	}
	char attempt_text[16], lease[16];
	snprintf(attempt_text, sizeof attempt_text, "%d", attempt);
	snprintf(lease, sizeof lease, "%d", lease_s);
	const char *params[] = { job_id, attempt_text, instance, lease };
	if (db_query(db, "verify_take", 4, params, on_taken, c) != 0) {
		free(c);
		cb(arg, NULL, "cannot queue the query");
	}
}

/* ===== Settling ===== */

typedef struct settle_call {
	verification_settle_cb cb;
	void *arg;
} settle_call;

static void on_settled(void *arg, PGresult *res, const char *error)
{
	settle_call *c = arg;
	if (!db_result_ok(res) || PQntuples(res) != 1) {
		log_error("settling a verification failed: %s", error ? error : "no result");
		c->cb(c->arg, NULL, NULL, error ? error : "no result");
	} else {
		c->cb(c->arg, PQgetvalue(res, 0, 0), cell(res, 1), NULL);
	}
	free(c);
}

void verification_settle(db_pool *db, const char *job_id, int attempt, int pass,
			 const char *reason, const json_t *log, int fee_bps,
			 verification_settle_cb cb, void *arg)
{
	settle_call *c = calloc(1, sizeof *c);
	char *log_text = log ? json_dumps(log, JSON_COMPACT) : strdup("[]");
	if (!c || !log_text) {
		free(c);
		free(log_text);
		cb(arg, NULL, NULL, "out of memory");
		return;
	}
	c->cb = cb;
	c->arg = arg;
	char attempt_text[16], fee[16];
	snprintf(attempt_text, sizeof attempt_text, "%d", attempt);
	snprintf(fee, sizeof fee, "%d", fee_bps);
	const char *params[] = { job_id, attempt_text, pass ? "true" : "false", reason, log_text,
				 fee };
	int r = db_query(db, "verify_settle", 6, params, on_settled, c);
	free(log_text);
	if (r != 0) {
		free(c);
		cb(arg, NULL, NULL, "cannot queue the query");
	}
}

static void on_verdict_recorded(void *arg, PGresult *res, const char *error)
{
	(void)arg;
	if (!db_result_ok(res))
		log_warn("recording a verdict's stream id failed: %s", error ? error : "no result");
}

void verification_record_verdict(db_pool *db, const char *job_id, int attempt,
				 const json_t *entry)
{
	char attempt_text[16];
	snprintf(attempt_text, sizeof attempt_text, "%d", attempt);
	char *text = json_dumps(entry, JSON_COMPACT);
	const char *params[] = { job_id, attempt_text, text };
	if (!text || db_query(db, "verify_record_verdict", 3, params, on_verdict_recorded, NULL) != 0)
		log_warn("cannot record a verdict's stream id");
	free(text);
}

/* ===== Renewing a lease ===== */

typedef struct renew_call {
	char job_id[IDS_MAX_LEN];
	int attempt;
} renew_call;

static void on_renewed(void *arg, PGresult *res, const char *error)
{
	renew_call *c = arg;
	if (!db_result_ok(res))
		log_warn("renewing the lease of %s attempt %d failed: %s", c->job_id, c->attempt,
			 error ? error : "no result");
	else if (PQntuples(res) == 0)
		log_warn("the lease of %s attempt %d is no longer this verifier's (settled, or "
			 "taken over: the first settlement counts)",
			 c->job_id, c->attempt);
	free(c);
}

void verification_renew(db_pool *db, const char *job_id, int attempt, const char *instance,
			int lease_s)
{
	renew_call *c = calloc(1, sizeof *c);
	if (!c)
		return;
	snprintf(c->job_id, sizeof c->job_id, "%s", job_id);
	c->attempt = attempt;
	char attempt_text[16], lease[16];
	snprintf(attempt_text, sizeof attempt_text, "%d", attempt);
	snprintf(lease, sizeof lease, "%d", lease_s);
	const char *params[] = { job_id, attempt_text, instance, lease };
	if (db_query(db, "verify_renew", 4, params, on_renewed, c) != 0) {
		log_warn("cannot renew a lease");
		free(c);
	}
}

/* ===== Due attempts ===== */

typedef struct due_call {
	verification_due_cb cb;
	void *arg;
} due_call;

static void on_due(void *arg, PGresult *res, const char *error)
{
	due_call *c = arg;
	if (!db_result_ok(res)) {
		c->cb(c->arg, 0, NULL, NULL, error ? error : "no result");
		free(c);
		return;
	}
	int n = PQntuples(res);
	const char **ids = calloc((size_t)n + 1, sizeof *ids);
	int *attempts = calloc((size_t)n + 1, sizeof *attempts);
	if (!ids || !attempts) {
		c->cb(c->arg, 0, NULL, NULL, "out of memory");
	} else {
		for (int i = 0; i < n; i++) {
			ids[i] = PQgetvalue(res, i, 0);
			attempts[i] = atoi(PQgetvalue(res, i, 1));
		}
		c->cb(c->arg, n, ids, attempts, NULL);
	}
	free(ids);
	free(attempts);
	free(c);
}

/* Runs `stmt`, whose rows are (job id, attempt), and hands them to `cb`. */
static void query_attempts(db_pool *db, const char *stmt, const char *param,
			   verification_due_cb cb, void *arg)
{
	due_call *c = calloc(1, sizeof *c);
	if (!c) {
		cb(arg, 0, NULL, NULL, "out of memory");
		return;
	}
	c->cb = cb;
	c->arg = arg;
	const char *params[] = { param };
	if (db_query(db, stmt, 1, params, on_due, c) != 0) {
		free(c);
		cb(arg, 0, NULL, NULL, "cannot queue the query");
	}
}

void verification_due(db_pool *db, int limit, verification_due_cb cb, void *arg)
{
	char text[16];
	snprintf(text, sizeof text, "%d", limit);
	query_attempts(db, "verify_due", text, cb, arg);
}

void verification_finished(db_pool *db, const char *ids, verification_due_cb cb, void *arg)
{
	query_attempts(db, "verify_finished", ids, cb, arg);
}

/* ===== The checks' pure parts ===== */

int verification_check_output(const char *output, size_t max_bytes, char *msg, size_t msglen)
{
	if (!output || strcmp(output, "null") == 0) {
		snprintf(msg, msglen, "no output was submitted");
		return 0;
	}
	size_t len = strlen(output);
	if (len > max_bytes) {
		snprintf(msg, msglen, "the output is %zu bytes, over the limit of %zu", len,
			 max_bytes);
		return 0;
	}
	snprintf(msg, msglen, "output present, %zu bytes", len);
	return 1;
}

int verification_parse_verdict(const json_t *answer, int *pass, char *reason, size_t reasonlen)
{
	json_t *p = json_object_get(answer, "pass");
	json_t *r = json_object_get(answer, "reason");
	if (!json_is_object(answer) || !json_is_boolean(p) || !json_is_string(r) ||
	    json_string_length(r) > VERIFY_REASON_MAX ||
	    !json_utf8_valid(json_string_value(r), json_string_length(r)))
		return -1;
	*pass = json_is_true(p);
	snprintf(reason, reasonlen, "%s", json_string_value(r));
	return 0;
}

char *verification_judge_message(const char *objective, const char *constraints,
				 const char *output)
{
	json_t *m = json_pack("{s:s,s:s,s:s}", "objective", objective ? objective : "",
			      "constraints", constraints ? constraints : "{}", "output",
			      output ? output : "null");
	char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
	json_decref(m);
	return text;
}

char *verification_request_body(const verification_job *j)
{
	char evt[IDS_MAX_LEN];
	if (ids_new("evt", evt) != 0)
		return NULL;
	json_t *output = json_load_db(j->output);
	json_t *schema = json_load_db(j->output_schema);
	json_t *body = json_pack("{s:s,s:s,s:{s:s,s:i,s:s,s:o,s:o}}", "type",
				 "verification.requested", "id", evt, "data", "job_id", j->job_id,
				 "attempt", j->attempt, "objective", j->objective, "output",
				 output ? output : json_null(), "output_schema",
				 schema ? schema : json_null());
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	return text;
}

/* ===== The stored log ===== */

typedef struct log_call {
	verification_log_cb cb;
	void *arg;
} log_call;

static void on_log(void *arg, PGresult *res, const char *error)
{
	log_call *c = arg;
	if (!db_result_ok(res)) {
		c->cb(c->arg, NULL, NULL, NULL, error ? error : "no result");
	} else if (PQntuples(res) == 0) {
		c->cb(c->arg, NULL, NULL, NULL, NULL);
	} else {
		json_t *entries = json_load_db(PQgetvalue(res, 0, 2));
		if (!entries)
			entries = json_array();
		c->cb(c->arg, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), entries, NULL);
		json_decref(entries);
	}
	free(c);
}

void verification_job_log(db_pool *db, const char *job_id, const char *viewer_id,
			  verification_log_cb cb, void *arg)
{
	log_call *c = calloc(1, sizeof *c);
	if (!c) {
		cb(arg, NULL, NULL, NULL, "out of memory");
		return;
	}
	c->cb = cb;
	c->arg = arg;
	const char *params[] = { job_id, viewer_id };
	if (db_query(db, "verify_job_log", 2, params, on_log, c) != 0) {
		free(c);
		cb(arg, NULL, NULL, NULL, "cannot queue the query");
	}
}
