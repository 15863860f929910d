/* The marketplace routes of seed 003: /api/jobs… and /api/cron/enforce-deadlines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "gateway.h"
#include "jobs.h"
#include "log.h"
#include "pagination.h"
#include "structurer.h"

#define ERR_PROMPT_REQUIRED "prompt_required"
#define ENV_VARS_MAX 100
#define ENV_VALUE_MAX 4096
#define AGENT_NAME_MAX 200

/* How each outcome of an operation is answered. */
static const struct {
	const char *outcome;
	int status;
	const char *message;
} OUTCOMES[] = {
	{ JOB_NOT_FOUND, 404, "no such job" },
	{ JOB_INSUFFICIENT_BALANCE, 402, "the wallet does not cover the price" },
	{ JOB_NOT_PENDING_PAYMENT, 400, "the job is not pending payment" },
	{ JOB_NOT_HELD, 409, "the job is not held by this agent" },
	{ JOB_HOLD_EXPIRED, 410, "the hold has expired; the job is back in the queue" },
	{ JOB_NOT_ACCEPTED, 409, "the job is not accepted by this agent" },
	{ JOB_DEADLINE_PASSED, 400, "the deadline has passed; the attempt failed" },
	{ JOB_ATTACHMENT_NOT_FOUND, 400, "an attachment is not one of the caller's uploads" },
};

/* A marketplace request in progress. */
typedef struct market_req {
	gateway *gw;
	http_req *req;
	const principal *caller; /* owned by `req` */
	int created_status;	 /* 201 for a creation, else 200 */
	/* a creation's external verifier secret, shown once with the job ("" when none) */
	char verifier_secret[WEBHOOK_SECRET_LEN + 1];
} market_req;

/* ===== Replies ===== */

/* The envVars of `row` opened for a party of the job, or NULL. New reference. */
static json_t *open_env_vars(gateway *gw, const json_t *row, const principal *viewer)
{
	const char *sealed = json_string_value(json_object_get(row, "env_vars_sealed"));
	if (!sealed || !gw->has_secrets_key || !jobs_market_is_party(row, viewer))
		return NULL;
	size_t len = 0;
	char *plain = seal_decrypt(gw->secrets_key, sealed, &len);
	if (!plain) {
		log_error("cannot open the envVars of a job: wrong ERRAND_SECRETS_KEY?");
		return NULL;
	}
	json_error_t jerr;
	json_t *v = json_loadb(plain, len, 0, &jerr);
	free(plain);
	return v;
}

static json_t *view(gateway *gw, const json_t *row, const principal *viewer)
{
	json_t *env = open_env_vars(gw, row, viewer);
	json_t *v = jobs_market_view(row, viewer, env);
	json_decref(env);
	return v;
}

/* The job as the request's caller sees it; a creation adds its verifier secret, once. */
static json_t *answer_view(market_req *m, const json_t *row)
{
	json_t *v = view(m->gw, row, m->caller);
	json_t *verification = json_object_get(v, "verification");
	if (m->verifier_secret[0] && json_is_object(verification))
		json_object_set_new(verification, "secret", json_string(m->verifier_secret));
	return v;
}

/* Answers an operation's outcome (its events were published before: jobs_call_publishing). */
static void on_job(void *arg, const char *outcome, json_t *row, const char *error)
{
	market_req *m = arg;
	http_req *req = m->req;
	if (!outcome) {
		(void)error;
		gw_reply_unavailable(req);
	} else if (strcmp(outcome, JOB_OK) == 0 && row) {
		http_reply_json(req, m->created_status, answer_view(m, row));
	} else if (strcmp(outcome, JOB_NONE) == 0) {
		http_reply_raw(req, 204, "application/json", "", 0);
	} else {
		size_t i;
		for (i = 0; i < sizeof OUTCOMES / sizeof OUTCOMES[0]; i++)
			if (strcmp(OUTCOMES[i].outcome, outcome) == 0)
				break;
		int status = i < sizeof OUTCOMES / sizeof OUTCOMES[0] ? OUTCOMES[i].status : 409;
		const char *message =
			i < sizeof OUTCOMES / sizeof OUTCOMES[0] ? OUTCOMES[i].message : outcome;
		const char *code =
			strcmp(outcome, JOB_NOT_FOUND) == 0 ? ERR_JOB_NOT_FOUND : outcome;
		json_t *extra = NULL;
		if (row) /* a refusal may still have changed the job (its events are out) */
			extra = json_pack("{s:o}", "job", answer_view(m, row));
		http_reply_error_with(req, status, code, extra, message);
	}
	free(m);
}

static market_req *market_req_new(gateway *gw, http_req *req, const principal *p)
{
	market_req *m = calloc(1, sizeof *m);
	if (!m) {
		http_reply_error(req, 503, HTTP_ERR_UNAVAILABLE, "out of memory");
		return NULL;
	}
	m->gw = gw;
	m->req = req;
	m->caller = p;
	m->created_status = 200;
	return m;
}

/*
 * The job id of the path, or NULL after answering 404: what is not a job
 * id (bytes that are not UTF-8 included) names no job.
 */
static const char *job_id_param(http_req *req)
{
	const char *id = http_req_param(req, "id");
	if (!id || !ids_valid(id, "job")) {
		http_reply_error(req, 404, ERR_JOB_NOT_FOUND, "no such job");
		return NULL;
	}
	return id;
}

/* Runs operation `stmt` and answers its outcome. */
static void run_op(gateway *gw, http_req *req, const principal *p, const char *stmt, int nparams,
		   const char *const *params, int created_status, const char *verifier_secret)
{
	market_req *m = market_req_new(gw, req, p);
	if (!m)
		return;
	m->created_status = created_status;
	if (verifier_secret)
		snprintf(m->verifier_secret, sizeof m->verifier_secret, "%s", verifier_secret);
	/* the operation claims the events it wrote; they are published before on_job */
	if (jobs_call_publishing(gw->db, &gw->outbox, stmt, nparams, params, on_job, m) != 0) {
		free(m);
		gw_reply_unavailable(req);
	}
}

/* ===== POST /api/jobs/run ===== */

/* Reads envVars: an object of at most 100 string values. Seals it into `*sealed`. */
static int read_env_vars(gateway *gw, http_req *req, const json_t *body, char **sealed)
{
	*sealed = NULL;
	json_t *env = json_object_get(body, "envVars");
	if (!env || json_is_null(env))
		return 0;
	if (!json_is_object(env) || json_object_size(env) > ENV_VARS_MAX) {
		http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST,
				 "envVars: expected an object of at most %d string values",
				 ENV_VARS_MAX);
		return -1;
	}
	const char *k;
	json_t *v;
	json_object_foreach(env, k, v)
	{
		if (!json_is_string(v) || json_string_length(v) > ENV_VALUE_MAX) {
			http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST,
					 "envVars.%s: expected a string of at most %d bytes", k,
					 ENV_VALUE_MAX);
			return -1;
		}
	}
	if (json_object_size(env) == 0)
		return 0;
	if (!gw->has_secrets_key) {
		http_reply_error(req, 503, ERR_SECRETS_UNAVAILABLE,
				 "envVars cannot be stored: ERRAND_SECRETS_KEY is not configured");
		return -1;
	}
	char *plain = json_dumps(env, JSON_COMPACT);
	*sealed = plain ? seal_encrypt(gw->secrets_key, plain, strlen(plain)) : NULL;
	free(plain);
	if (!*sealed) {
		http_reply_error(req, 503, ERR_SECRETS_UNAVAILABLE, "cannot encrypt envVars");
		return -1;
	}
	return 0;
}

/* A POST /api/jobs/run between reading the body and structuring the prompt. */
typedef struct run_req {
	gateway *gw;
	http_req *req;
	const principal *caller;
	const char *prompt; /* the body's, owned by `req` */
	int confirmed, has_price, has_time, has_caps, has_att;
	int64_t price, time_limit;
	const json_t *caps, *attachments, *schema;
	json_t *verification; /* as stored: the verifier's secret sealed inside */
	char verifier_secret[WEBHOOK_SECRET_LEN + 1]; /* shown once in the answer */
	char *sealed;
} run_req;

/* The prompt is structured: answer the estimates (phase 1) or create the job (phase 2). */
static void on_structured(void *arg, const job_estimate *est, int from_model)
{
	run_req *r = arg;
	(void)from_model;
	http_req *req = r->req;
	if (!r->confirmed) {
		/* Phase 1: the estimates; nothing is stored. */
		http_reply_json(req, 200,
				json_pack("{s:b,s:s,s:s,s:s,s:I,s:i}", "needs_confirmation", 1,
					  "title", est->title, "description", est->description,
					  "requirements", est->requirements,
					  "estimated_price_cents", (json_int_t)est->price_cents,
					  "estimated_time_limit_seconds", est->time_limit_seconds));
		goto done;
	}
	char id[IDS_MAX_LEN], price_text[24], time_text[16];
	if (ids_new("job", id) != 0) {
		gw_reply_unavailable(req);
		goto done;
	}
	snprintf(price_text, sizeof price_text, "%lld",
		 (long long)(r->has_price ? r->price : est->price_cents));
	snprintf(time_text, sizeof time_text, "%lld",
		 (long long)(r->has_time ? r->time_limit : est->time_limit_seconds));
	char *caps_text = r->has_caps ? json_dumps(r->caps, JSON_COMPACT) : strdup("[]");
	char *schema_text =
		r->schema ? json_dumps(r->schema, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	char *verif_text = r->verification ? json_dumps(r->verification, JSON_COMPACT) : NULL;
	char *att_text = r->has_att ? json_dumps(r->attachments, JSON_COMPACT) : NULL;
	const char *params[] = { id,	     r->caller->id,    r->caller->project_id,
				 est->title, est->description, est->requirements,
				 r->prompt,  price_text,       time_text,
				 caps_text,  schema_text,      verif_text,
				 r->sealed,  att_text };
	run_op(r->gw, req, r->caller, "market_create", 14, params, 201, r->verifier_secret);
	free(caps_text);
	free(schema_text);
	free(verif_text);
	free(att_text);
done:
	free(r->sealed);
	json_decref(r->verification);
	free(r);
}

static void run_job(gateway *gw, http_req *req, const principal *p)
{
	json_t *body = http_req_json(req);
	if (!body)
		return;
	run_req *r = calloc(1, sizeof *r);
	if (!r) {
		gw_reply_unavailable(req);
		return;
	}
	r->gw = gw;
	r->req = req;
	r->caller = p;
	json_error err;
	json_t *pv = json_object_get(body, "prompt");
	if (!pv || json_is_null(pv) || (json_is_string(pv) && json_string_length(pv) == 0)) {
		http_reply_error(req, 400, ERR_PROMPT_REQUIRED, "prompt: required");
		goto fail;
	}
	if (json_req_string(body, "prompt", JOB_PROMPT_MAX, &r->prompt, &err) != 0 ||
	    json_opt_bool(body, "confirmed", &r->confirmed, NULL, &err) != 0 ||
	    json_opt_int(body, "price_cents", 0, JOB_PRICE_MAX, &r->price, &r->has_price, &err) !=
		    0 ||
	    json_opt_int(body, "time_limit_seconds", 1, JOB_TIME_LIMIT_MAX, &r->time_limit,
			 &r->has_time, &err) != 0 ||
	    json_opt_string_array(body, "required_capabilities", PRINCIPAL_CAPABILITIES_MAX,
				  PRINCIPAL_CAPABILITY_LEN_MAX, &r->caps, &r->has_caps,
				  &err) != 0 ||
	    json_opt_string_array(body, "attachments", JOB_ATTACHMENTS_MAX, IDS_MAX_LEN,
				  &r->attachments, &r->has_att, &err) != 0) {
		gw_reply_invalid(req, &err);
		goto fail;
	}
	if (gw_read_output_schema(req, body, &r->schema) != 0 ||
	    gw_read_verification(gw, req, body, "verification", &r->verification,
				 r->verifier_secret) != 0)
		goto fail;
	if (r->confirmed && read_env_vars(gw, req, body, &r->sealed) != 0)
		goto fail;
	structurer_structure(gw->hc, gw->cfg, r->prompt, on_structured, r);
	return;
fail:
	json_decref(r->verification);
	free(r);
}

/* ===== The other routes ===== */

/*
 * A transition on the job of the path whose request has no fields (pay,
 * cancel, reject, accept): `stmt` runs with (job id, caller id) and, when
 * `with_hold`, ERRAND_HOLD_SECONDS. A body that is not JSON is still refused.
 */
static void job_transition(gateway *gw, http_req *req, const principal *p, const char *stmt,
			   int with_hold)
{
	const char *id = job_id_param(req);
	if (!id || !http_req_json(req))
		return;
	char hold[16];
	snprintf(hold, sizeof hold, "%d", gw->cfg->hold_seconds);
	const char *params[] = { id, p->id, hold };
	run_op(gw, req, p, stmt, with_hold ? 3 : 2, params, 200, NULL);
}

static void pay(gateway *gw, http_req *req, const principal *p)
{
	job_transition(gw, req, p, "market_pay", 0);
}

static void cancel(gateway *gw, http_req *req, const principal *p)
{
	job_transition(gw, req, p, "market_cancel", 0);
}

static void reject_job(gateway *gw, http_req *req, const principal *p)
{
	job_transition(gw, req, p, "market_reject", 1);
}

static void accept_job(gateway *gw, http_req *req, const principal *p)
{
	job_transition(gw, req, p, "market_accept", 0);
}

static void pull(gateway *gw, http_req *req, const principal *p)
{
	json_t *body = http_req_json(req);
	if (!body)
		return;
	json_error err;
	const char *agent_id = NULL, *agent_name = NULL;
	if (json_opt_string(body, "agent_id", IDS_MAX_LEN, &agent_id, NULL, &err) != 0 ||
	    json_opt_string(body, "agent_name", AGENT_NAME_MAX, &agent_name, NULL, &err) != 0) {
		gw_reply_invalid(req, &err);
		return;
	}
	if (agent_id && strcmp(agent_id, p->id) != 0) {
		http_reply_error(req, 403, ERR_FORBIDDEN, "agent_id is not the caller's own id");
		return;
	}
	char hold[16];
	snprintf(hold, sizeof hold, "%d", gw->cfg->hold_seconds);
	const char *params[] = { p->id, agent_name ? agent_name : p->name, hold };
	run_op(gw, req, p, "market_pull", 3, params, 200, NULL);
}

static void submit(gateway *gw, http_req *req, const principal *p)
{
	const char *id = job_id_param(req);
	if (!id)
		return;
	json_t *body = http_req_json(req);
	if (!body)
		return;
	json_error err;
	const json_t *attachments = NULL;
	int has_att = 0;
	json_t *output = json_object_get(body, "output");
	if (!output || json_is_null(output)) {
		http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST, "output: required");
		return;
	}
	if (json_opt_string_array(body, "attachments", JOB_ATTACHMENTS_MAX, IDS_MAX_LEN,
				  &attachments, &has_att, &err) != 0) {
		gw_reply_invalid(req, &err);
		return;
	}
	char *output_text = json_dumps(output, JSON_COMPACT | JSON_ENCODE_ANY);
	char *att_text = has_att ? json_dumps(attachments, JSON_COMPACT) : NULL;
	if (!output_text || strlen(output_text) > gw->cfg->max_output_bytes) {
		free(output_text);
		free(att_text);
		http_reply_error(req, 413, HTTP_ERR_BODY_TOO_LARGE, "output: larger than %zu bytes",
				 gw->cfg->max_output_bytes);
		return;
	}
	const char *params[] = { id, p->id, output_text, att_text };
	run_op(gw, req, p, "market_submit", 4, params, 200, NULL);
	free(output_text);
	free(att_text);
}

static void fail(gateway *gw, http_req *req, const principal *p)
{
	const char *id = job_id_param(req);
	if (!id)
		return;
	json_t *body = http_req_json(req);
	if (!body)
		return;
	json_error err;
	const char *reason = NULL;
	if (json_opt_string(body, "reason", JOB_REASON_MAX, &reason, NULL, &err) != 0) {
		gw_reply_invalid(req, &err);
		return;
	}
	const char *params[] = { id, p->id, reason };
	run_op(gw, req, p, "market_fail", 3, params, 200, NULL);
}

static void get_job(gateway *gw, http_req *req, const principal *p)
{
	const char *id = job_id_param(req);
	if (!id)
		return;
	market_req *m = market_req_new(gw, req, p);
	if (!m)
		return;
	const char *params[] = { id, p->id };
	if (jobs_call(gw->db, "market_get", 2, params, on_job, m) != 0) {
		free(m);
		gw_reply_unavailable(req);
	}
}

/* A list request in progress. */
typedef struct list_req {
	gateway *gw;
	http_req *req;
	const principal *caller;
} list_req;

static void on_list(void *arg, json_t *rows, const char *next_cursor, const char *error)
{
	list_req *l = arg;
	if (error) {
		gw_reply_unavailable(l->req);
	} else {
		json_t *data = json_array();
		size_t i;
		json_t *row;
		json_array_foreach(rows, i, row)
		{
			json_array_append_new(data, view(l->gw, row, l->caller));
		}
		http_reply_json(l->req, 200,
				json_pack("{s:o,s:o}", "data", data, "next_cursor",
					  next_cursor ? json_string(next_cursor) : json_null()));
	}
	free(l);
}

static void list_jobs(gateway *gw, http_req *req, const principal *p)
{
	int limit;
	if (pagination_limit(http_req_query(req, "limit"), &limit) != 0) {
		http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST,
				 "limit: expected an integer from 1 to %d", PAGINATION_MAX_LIMIT);
		return;
	}
	const char *word = http_req_query(req, "status");
	const char *canonical = word ? jobs_market_canonical(word) : NULL;
	if (word && !canonical) {
		http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST,
				 "status: expected one of pending_payment, queued, held, accepted, "
				 "submitted, verified, cancelled, failed");
		return;
	}
	list_req *l = calloc(1, sizeof *l);
	if (!l) {
		gw_reply_unavailable(req);
		return;
	}
	l->gw = gw;
	l->req = req;
	l->caller = p;
	if (jobs_market_list(gw->db, p, canonical ? &canonical : NULL, canonical ? 1 : 0, limit,
			     http_req_query(req, "cursor"), on_list, l) != 0) {
		free(l);
		http_reply_error(req, 400, "invalid_cursor",
				 "the cursor is not one this API gave out");
	}
}

/* ===== Deadlines ===== */

static void on_swept(void *arg, int released, int failed, const char *error)
{
	http_req *req = arg;
	if (error) {
		gw_reply_unavailable(req);
		return;
	}
	http_reply_json(
		req, 200,
		json_pack("{s:i,s:i}", "released_holds", released, "failed_deadlines", failed));
}

static void enforce_deadlines_route(http_req *req, void *arg)
{
	gateway *gw = arg;
	const char *secret = auth_bearer(http_req_header(req, "Authorization"));
	const char *want = gw->cfg->cron_secret;
	char a[AUTH_HASH_HEX_LEN + 1], b[AUTH_HASH_HEX_LEN + 1];
	if (want && secret) {
		auth_hash_hex(secret, strlen(secret), a);
		auth_hash_hex(want, strlen(want), b);
	}
	if (!want || !secret || !auth_hash_equal(a, b)) {
		http_reply_error(req, 401, ERR_UNAUTHORIZED,
				 want ? "send the cron secret as Authorization: Bearer <secret>"
				      : "ERRAND_CRON_SECRET is not configured");
		return;
	}
	if (jobs_sweep(gw->db, on_swept, req) != 0)
		gw_reply_unavailable(req);
}

/* ===== Wiring ===== */

#define ROUTE(name, roles)                                 \
	static void name##_route(http_req *req, void *arg) \
	{                                                  \
		gw_authenticate(arg, req, roles, name);    \
	}

ROUTE(run_job, ALLOW_USER)
ROUTE(pay, ALLOW_USER)
ROUTE(cancel, ALLOW_USER)
ROUTE(pull, ALLOW_AGENT)
ROUTE(reject_job, ALLOW_AGENT)
ROUTE(accept_job, ALLOW_AGENT)
ROUTE(submit, ALLOW_AGENT)
ROUTE(fail, ALLOW_AGENT)
ROUTE(get_job, ALLOW_USER | ALLOW_AGENT)
ROUTE(list_jobs, ALLOW_USER | ALLOW_AGENT)

int gw_market_routes(gateway *gw, http_server *http)
{
	static const struct {
		const char *method;
		const char *pattern;
		http_handler handler;
	} routes[] = {
		{ "POST", "/api/jobs/run", run_job_route },
		{ "POST", "/api/jobs/pull", pull_route },
		{ "GET", "/api/jobs", list_jobs_route },
		{ "GET", "/api/jobs/:id", get_job_route },
		{ "POST", "/api/jobs/:id/pay", pay_route },
		{ "POST", "/api/jobs/:id/cancel", cancel_route },
		{ "POST", "/api/jobs/:id/reject", reject_job_route },
		{ "POST", "/api/jobs/:id/accept", accept_job_route },
		{ "POST", "/api/jobs/:id/submit", submit_route },
		{ "POST", "/api/jobs/:id/fail", fail_route },
		{ "GET", "/api/cron/enforce-deadlines", enforce_deadlines_route },
	};
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
		if (http_route(http, routes[i].method, routes[i].pattern, routes[i].handler, gw) !=
		    0)
			return -1;
	return 0;
}
