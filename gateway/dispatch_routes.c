/* The dispatch routes of seed 002 (/v1/jobs…, /v1/runs/{id}) and the reply API of seed 004. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "deliveries.h"
#include "gateway.h"
#include "jobs.h"
#include "log.h"
#include "pagination.h"
#include "runs.h"
#include "webhook.h"

#define ERR_AGENT_NOT_FOUND "agent_not_found"
#define ERR_AGENT_HAS_NO_WEBHOOK "agent_has_no_webhook"
#define ERR_PARENT_NOT_FOUND "parent_not_found"
#define ERR_RUN_NOT_FOUND "run_not_found"
#define ERR_INVALID_REPLY_TOKEN "invalid_reply_token"

#define BRIEF_CONTEXT_MAX 100000
#define METADATA_MAX_BYTES 16384
#define OBSERVERS_MAX 10
#define TOOLS_MAX 64
#define TOOL_NAME_MAX 200
#define DISPATCH_MAX_ATTEMPTS 10
#define DISPATCH_DEFAULT_ATTEMPTS 3

/* The events an observer may ask for (seed 002). */
static const char *const OBSERVER_EVENTS[] = { "running", "completed", "failed", "cancelled" };
#define NEVENTS (sizeof OBSERVER_EVENTS / sizeof OBSERVER_EVENTS[0])

static int is_admin(const principal *p)
{
	return strcmp(p->role, ROLE_ADMIN) == 0;
}

/* The job id of the path, or NULL after answering 404. */
static const char *job_param(http_req *req)
{
	const char *id = http_req_param(req, "id");
	if (!id || !ids_valid(id, "job")) {
		http_reply_error(req, 404, ERR_JOB_NOT_FOUND, "no such job");
		return NULL;
	}
	return id;
}

/* ===== POST /v1/jobs ===== */

/* A dispatch in progress: the observers' secrets are shown once, in the answer. */
typedef struct create_req {
	gateway *gw;
	http_req *req;
	json_t *observers; /* [{url, events, secret}] for the answer */
	char verifier_secret[WEBHOOK_SECRET_LEN + 1]; /* "" when none */
} create_req;

static void on_created(void *arg, const char *outcome, json_t *row, const char *error)
{
	create_req *c = arg;
	http_req *req = c->req;
	(void)error;
	if (!outcome) {
		gw_reply_unavailable(req);
	} else if (strcmp(outcome, JOB_OK) == 0 && row) {
		json_t *v = jobs_dispatch_view(row);
		json_t *answer =
			json_pack("{s:O,s:O,s:s,s:O,s:O}", "id", json_object_get(v, "id"),
				  "agent_id", json_object_get(v, "agent_id"), "status", "queued",
				  "created_at", json_object_get(v, "created_at"), "observers",
				  c->observers);
		if (answer && c->verifier_secret[0])
			json_object_set_new(answer, "verification",
					    json_pack("{s:s}", "secret", c->verifier_secret));
		http_reply_json(req, 202, answer);
		json_decref(v);
	} else if (strcmp(outcome, JOB_AGENT_NOT_FOUND) == 0) {
		http_reply_error(req, 404, ERR_AGENT_NOT_FOUND, "no such agent");
	} else if (strcmp(outcome, JOB_AGENT_HAS_NO_WEBHOOK) == 0) {
		http_reply_error(req, 422, ERR_AGENT_HAS_NO_WEBHOOK,
				 "the agent has no webhook URL to receive the job");
	} else {
		http_reply_error(req, 404, ERR_PARENT_NOT_FOUND,
				 "no open parent job assigned to the caller");
	}
	json_decref(c->observers);
	free(c);
}

/*
 * Reads brief.constraints: time_limit_seconds, max_attempts, tools (an
 * allow-list); verification is read last, by create_job().
 */
static int read_constraints(http_req *req, const json_t *brief, int64_t *time_limit,
			    int64_t *max_attempts)
{
	json_error err;
	const json_t *tools = NULL;
	int present = 0;
	json_t *c = json_object_get(brief, "constraints");
	if (!c || json_is_null(c))
		return 0;
	if (!json_is_object(c)) {
		http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST,
				 "brief.constraints: expected an object");
		return -1;
	}
	if (json_opt_int(c, "time_limit_seconds", 1, JOB_TIME_LIMIT_MAX, time_limit, NULL, &err) !=
		    0 ||
	    json_opt_int(c, "max_attempts", 1, DISPATCH_MAX_ATTEMPTS, max_attempts, NULL, &err) !=
		    0 ||
	    json_opt_string_array(c, "tools", TOOLS_MAX, TOOL_NAME_MAX, &tools, &present, &err) !=
		    0) {
		http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST, "brief.constraints.%s: %s",
				 err.field, err.message);
		return -1;
	}
	return 0;
}

/*
 * Reads observers: [{type: "webhook", url, events?}], and gives each its id
 * and secret: `*stored` for the database (secrets sealed), `*shown` for the
 * answer.
 */
static int read_observers(gateway *gw, http_req *req, const json_t *body, json_t **stored,
			  json_t **shown)
{
	*stored = json_array();
	*shown = json_array();
	json_t *obs = json_object_get(body, "observers");
	if (!obs || json_is_null(obs))
		return 0;
	if (!json_is_array(obs) || json_array_size(obs) > OBSERVERS_MAX) {
		http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST,
				 "observers: expected an array of at most %d observers",
				 OBSERVERS_MAX);
		return -1;
	}
	size_t i;
	json_t *o;
	json_array_foreach(obs, i, o)
	{
		json_error err;
		const char *type = NULL, *url = NULL;
		const json_t *events = NULL;
		int has_events = 0;
		if (!json_is_object(o) ||
		    json_req_string(o, "url", PRINCIPAL_URL_MAX, &url, &err) != 0 ||
		    json_opt_string(o, "type", 32, &type, NULL, &err) != 0 ||
		    json_opt_string_array(o, "events", NEVENTS, 16, &events, &has_events, &err) !=
			    0) {
			http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST,
					 "observers[%zu]: %s", i,
					 json_is_object(o) ? err.message : "expected an object");
			return -1;
		}
		if (type && strcmp(type, "webhook") != 0) {
			http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST,
					 "observers[%zu].type: expected \"webhook\"", i);
			return -1;
		}
		if (gw_check_webhook_url(gw, req, url, "observers[%zu].url", i) != 0)
			return -1;
		json_t *words = json_array();
		for (size_t k = 0; k < NEVENTS; k++) {
			int wanted = !has_events;
			size_t e;
			json_t *ev;
			json_array_foreach(events, e, ev)
			{
				if (strcmp(json_string_value(ev), OBSERVER_EVENTS[k]) == 0)
					wanted = 1;
			}
			if (wanted)
				json_array_append_new(words, json_string(OBSERVER_EVENTS[k]));
		}
		size_t e;
		json_t *ev;
		json_array_foreach(events, e, ev)
		{
			int known = 0;
			for (size_t k = 0; k < NEVENTS; k++)
				known |= strcmp(json_string_value(ev), OBSERVER_EVENTS[k]) == 0;
			if (!known) {
				json_decref(words);
				http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST,
						 "observers[%zu].events: expected running, "
						 "completed, failed or cancelled",
						 i);
				return -1;
			}
		}
		char id[IDS_MAX_LEN], secret[WEBHOOK_SECRET_LEN + 1], *sealed = NULL;
		if (ids_new("obs", id) != 0 ||
		    principals_secret_new(gw->secrets_key, secret, sizeof secret, &sealed) != 0) {
			json_decref(words);
			gw_reply_unavailable(req);
			return -1;
		}
		json_array_append_new(*stored, json_pack("{s:s,s:s,s:O,s:s}", "id", id, "url", url,
							 "events", words, "secret", sealed));
		json_array_append_new(*shown, json_pack("{s:s,s:o,s:s}", "url", url, "events",
							words, "secret", secret));
		free(sealed);
	}
	return 0;
}

static void create_job(gateway *gw, http_req *req, const principal *p)
{
	json_t *body = http_req_json(req);
	if (!body)
		return;
	json_error err;
	const char *agent_id = NULL, *parent = NULL, *objective = NULL, *context = NULL;
	int64_t time_limit = 0, max_attempts = DISPATCH_DEFAULT_ATTEMPTS;
	const json_t *schema = NULL;
	json_t *verification = NULL;
	char verifier_secret[WEBHOOK_SECRET_LEN + 1] = "";
	if (json_req_string(body, "agent_id", IDS_MAX_LEN, &agent_id, &err) != 0 ||
	    json_opt_string(body, "parent_job_id", IDS_MAX_LEN, &parent, NULL, &err) != 0) {
		gw_reply_invalid(req, &err);
		return;
	}
	json_t *brief = json_object_get(body, "brief");
	if (!json_is_object(brief)) {
		http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST, "brief: expected an object");
		return;
	}
	if (json_req_string(brief, "objective", JOB_PROMPT_MAX, &objective, &err) != 0 ||
	    json_opt_string(brief, "context", BRIEF_CONTEXT_MAX, &context, NULL, &err) != 0) {
		http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST, "brief.%s: %s", err.field,
				 err.message);
		return;
	}
	if (objective[0] == '\0') {
		http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST,
				 "brief.objective: must not be empty");
		return;
	}
	if (gw_read_output_schema(req, brief, &schema) != 0 ||
	    read_constraints(req, brief, &time_limit, &max_attempts) != 0)
		return;
	json_t *metadata = json_object_get(body, "metadata");
	if (metadata && json_is_null(metadata))
		metadata = NULL;
	char *metadata_text = metadata ? json_dumps(metadata, JSON_COMPACT) : NULL;
	if (metadata && (!json_is_object(metadata) || !metadata_text ||
			 strlen(metadata_text) > METADATA_MAX_BYTES)) {
		free(metadata_text);
		http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST,
				 "metadata: expected an object of at most %d bytes",
				 METADATA_MAX_BYTES);
		return;
	}
	/* An agent dispatches subjobs only; a run's MCP token is bound to its job. */
	if (p->run_id[0] && !parent)
		parent = p->run_job_id[0] ? p->run_job_id : NULL;
	if (strcmp(p->role, ROLE_AGENT) == 0 && !parent) {
		free(metadata_text);
		http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST,
				 "parent_job_id: an agent dispatches subjobs of a job it runs");
		return;
	}
	if (parent && (!ids_valid(parent, "job") ||
		       (p->run_id[0] && strcmp(parent, p->run_job_id) != 0))) {
		free(metadata_text);
		http_reply_error(req, 404, ERR_PARENT_NOT_FOUND,
				 "no open parent job assigned to the caller");
		return;
	}
	if (!ids_valid(agent_id, "agt")) {
		free(metadata_text);
		http_reply_error(req, 404, ERR_AGENT_NOT_FOUND, "no such agent");
		return;
	}
	if (!gw->has_secrets_key) {
		free(metadata_text);
		http_reply_error(req, 503, ERR_SECRETS_UNAVAILABLE,
				 "runs need ERRAND_SECRETS_KEY for their reply tokens");
		return;
	}
	json_t *constraints = json_object_get(brief, "constraints");
	if (json_is_object(constraints) &&
	    gw_read_verification(gw, req, constraints, "brief.constraints.verification",
				 &verification, verifier_secret) != 0) {
		free(metadata_text);
		return;
	}
	create_req *c = calloc(1, sizeof *c);
	json_t *stored = NULL;
	if (!c) {
		free(metadata_text);
		json_decref(verification);
		gw_reply_unavailable(req);
		return;
	}
	c->gw = gw;
	c->req = req;
	snprintf(c->verifier_secret, sizeof c->verifier_secret, "%s", verifier_secret);
	if (read_observers(gw, req, body, &stored, &c->observers) != 0) {
		free(metadata_text);
		json_decref(verification);
		json_decref(stored);
		json_decref(c->observers);
		free(c);
		return;
	}
	char id[IDS_MAX_LEN], attempts_text[16], time_text[16];
	snprintf(attempts_text, sizeof attempts_text, "%lld", (long long)max_attempts);
	snprintf(time_text, sizeof time_text, "%lld", (long long)time_limit);
	char *brief_text = json_dumps(brief, JSON_COMPACT);
	char *schema_text = schema ? json_dumps(schema, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	char *verif_text = verification ? json_dumps(verification, JSON_COMPACT) : NULL;
	json_decref(verification);
	char *observers_text = json_dumps(stored, JSON_COMPACT);
	json_decref(stored);
	int queued = -1;
	/* the run is named here, so that its tokens' hashes are stored with it */
	char run_id[IDS_MAX_LEN], reply_hash[AUTH_HASH_HEX_LEN + 1], mcp_hash[AUTH_HASH_HEX_LEN + 1];
	if (ids_new("job", id) == 0 && ids_new("run", run_id) == 0 &&
	    auth_run_token_hashes(gw->secrets_key, run_id, reply_hash, mcp_hash) == 0 && brief_text &&
	    observers_text) {
		const char *params[] = { id,
					 p->id,
					 p->project_id,
					 agent_id,
					 parent,
					 brief_text,
					 metadata_text,
					 attempts_text,
					 time_limit > 0 ? time_text : NULL,
					 schema_text,
					 verif_text,
					 observers_text,
					 run_id,
					 reply_hash,
					 mcp_hash };
		queued = jobs_call_publishing(gw->db, &gw->outbox, "dispatch_create", 15, params,
					      on_created, c);
	}
	free(brief_text);
	free(schema_text);
	free(verif_text);
	free(observers_text);
	free(metadata_text);
	if (queued != 0) {
		json_decref(c->observers);
		free(c);
		gw_reply_unavailable(req);
	}
}

/* ===== Reading and cancelling ===== */

/* What to do once the job of the path is found visible to the caller. */
typedef enum { AFTER_VIEW, AFTER_CHANGE, AFTER_DELIVERIES, AFTER_RUNS } job_next;

typedef struct job_req {
	gateway *gw;
	http_req *req;
	const principal *caller;
	job_next next;
	int limit;
} job_req;

static void on_page(void *arg, json_t *rows, const char *next_cursor, const char *error)
{
	job_req *j = arg;
	if (error) {
		gw_reply_unavailable(j->req);
	} else {
		json_t *data = json_array();
		size_t i;
		json_t *row;
		json_array_foreach(rows, i, row)
		{
			json_array_append_new(data, j->next == AFTER_RUNS ? runs_view_row(row)
									   : json_incref(row));
		}
		http_reply_json(j->req, 200,
				json_pack("{s:o,s:o}", "data", data, "next_cursor",
					  next_cursor ? json_string(next_cursor) : json_null()));
	}
	free(j);
}

static void on_job(void *arg, const char *outcome, json_t *row, const char *error)
{
	job_req *j = arg;
	http_req *req = j->req;
	(void)error;
	if (!outcome) {
		gw_reply_unavailable(req);
	} else if (strcmp(outcome, JOB_OK) != 0 || !row) {
		http_reply_error(req, 404, ERR_JOB_NOT_FOUND, "no such job");
	} else if (j->next == AFTER_VIEW || j->next == AFTER_CHANGE) {
		if (j->next == AFTER_CHANGE)
			outbox_publish_job(&j->gw->outbox,
					   json_string_value(json_object_get(row, "id")));
		http_reply_json(req, 200, jobs_dispatch_view(row));
	} else {
		const char *id = json_string_value(json_object_get(row, "id"));
		const char *sender = json_string_value(json_object_get(row, "sender_id"));
		const char *cursor = http_req_query(req, "cursor");
		int r;
		if (j->next == AFTER_DELIVERIES && !is_admin(j->caller) &&
		    strcmp(sender ? sender : "", j->caller->id) != 0) {
			http_reply_error(req, 404, ERR_JOB_NOT_FOUND, "no such job");
			goto done;
		}
		if (j->next == AFTER_DELIVERIES)
			r = deliveries_list_for_job(j->gw->db, id, j->limit, cursor, on_page, j);
		else
			r = runs_list_for_job(j->gw->db, id, j->limit, cursor, on_page, j);
		if (r != 0)
			http_reply_error(req, 400, "invalid_cursor",
					 "the cursor is not one this API gave out");
		else
			return;
	}
done:
	free(j);
}

/* Finds the job of the path as the caller may see it, then does `next`. */
static void with_job(gateway *gw, http_req *req, const principal *p, job_next next)
{
	const char *id = job_param(req);
	if (!id)
		return;
	job_req *j = calloc(1, sizeof *j);
	if (!j) {
		gw_reply_unavailable(req);
		return;
	}
	j->gw = gw;
	j->req = req;
	j->caller = p;
	j->next = next;
	if ((next == AFTER_DELIVERIES || next == AFTER_RUNS) &&
	    pagination_limit(http_req_query(req, "limit"), &j->limit) != 0) {
		free(j);
		http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST,
				 "limit: expected an integer from 1 to %d", PAGINATION_MAX_LIMIT);
		return;
	}
	const char *params[] = { id, p->id, is_admin(p) ? "true" : "false" };
	int r = next == AFTER_CHANGE ? jobs_call(gw->db, "dispatch_cancel", 2, params, on_job, j)
				     : jobs_call(gw->db, "dispatch_get", 3, params, on_job, j);
	if (r != 0) {
		free(j);
		gw_reply_unavailable(req);
	}
}

static void get_job(gateway *gw, http_req *req, const principal *p)
{
	with_job(gw, req, p, AFTER_VIEW);
}

static void cancel_job(gateway *gw, http_req *req, const principal *p)
{
	if (!http_req_json(req))
		return;
	with_job(gw, req, p, AFTER_CHANGE);
}

static void list_deliveries(gateway *gw, http_req *req, const principal *p)
{
	with_job(gw, req, p, AFTER_DELIVERIES);
}

static void list_runs(gateway *gw, http_req *req, const principal *p)
{
	with_job(gw, req, p, AFTER_RUNS);
}

static void on_run(void *arg, json_t *view, const char *error)
{
	http_req *req = arg;
	if (error)
		gw_reply_unavailable(req);
	else if (!view)
		http_reply_error(req, 404, ERR_RUN_NOT_FOUND, "no such run");
	else
		http_reply_json(req, 200, view);
}

static void get_run(gateway *gw, http_req *req, const principal *p)
{
	runs_get(gw->db, http_req_param(req, "id"), p, on_run, req);
}

/* ===== POST /api/agents/reply (seed 004) ===== */

typedef struct reply_req {
	gateway *gw;
	http_req *req;
} reply_req;

static void on_replied(void *arg, const runs_reply_answer *a, const char *error)
{
	reply_req *r = arg;
	http_req *req = r->req;
	(void)error;
	if (!a) {
		gw_reply_unavailable(req);
	} else if (strcmp(a->outcome, RUN_INVALID_TOKEN) == 0) {
		http_reply_error(req, 401, ERR_INVALID_REPLY_TOKEN,
				 "the reply token is missing, unknown or malformed");
	} else if (strcmp(a->outcome, RUN_EXPIRED) == 0) {
		http_reply_error(req, 409, RUN_EXPIRED,
				 "the run expired before this reply; it is no longer open");
	} else if (strcmp(a->outcome, RUN_OPEN_SUBJOBS) == 0) {
		http_reply_error(req, 409, RUN_OPEN_SUBJOBS,
				 "the job has subjobs that are not finished; send "
				 "cancelOpenSubjobs: true to cancel them");
	} else {
		http_reply_json(req, 200,
				json_pack("{s:b,s:s,s:s,s:b,s:i}", "ok", 1, "runId", a->run_id,
					  "status", a->run_status, "idempotent", a->idempotent,
					  "expiresInSeconds", a->expires_in_seconds));
	}
	free(r);
}

/* What is wrong with a reply's body: status 0 when nothing, else 400 or 413 and why. */
typedef struct reply_error {
	int status;
	char message[256];
} reply_error;

static void reply_refuse(reply_error *e, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void reply_refuse(reply_error *e, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	e->status = status;
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
}

/* Reads a reply's fields (the token aside) into `reply`; sets `e` when they are wrong. */
static void reply_read(gateway *gw, const json_t *body, runs_reply *reply, reply_error *e)
{
	json_error err;
	if (json_req_string(body, "status", 16, &reply->status, &err) != 0 ||
	    json_opt_string(body, "message", RUN_MESSAGE_MAX, &reply->message, NULL, &err) != 0 ||
	    json_opt_string(body, "idempotencyKey", RUN_IDEMPOTENCY_KEY_MAX,
			    &reply->idempotency_key, NULL, &err) != 0 ||
	    json_opt_int(body, "tokensUsed", 0, INT64_MAX / 2, &reply->tokens_used,
			 &reply->has_tokens, &err) != 0 ||
	    json_opt_bool(body, "cancelOpenSubjobs", &reply->cancel_open_subjobs, NULL, &err) !=
		    0) {
		reply_refuse(e, 400, "%s: %s", err.field, err.message);
		return;
	}
	int failed = strcmp(reply->status, RUN_REPLY_FAILED) == 0;
	if (!failed && strcmp(reply->status, RUN_REPLY_PARTIAL) != 0 &&
	    strcmp(reply->status, RUN_REPLY_COMPLETED) != 0) {
		reply_refuse(e, 400, "status: expected partial, completed or failed");
		return;
	}
	if (failed) {
		reply->message = NULL; /* ignored, as seed 004 says */
		if (json_req_string(body, "error", RUN_ERROR_MAX, &reply->error, &err) != 0)
			reply_refuse(e, 400, "%s: %s", err.field, err.message);
		return;
	}
	if (!reply->message) {
		reply_refuse(e, 400, "message: required for a %s reply", reply->status);
		return;
	}
	json_t *result = json_object_get(body, "result");
	if (result && !json_is_null(result) && strcmp(reply->status, RUN_REPLY_COMPLETED) == 0) {
		char *text = json_dumps(result, JSON_COMPACT | JSON_ENCODE_ANY);
		size_t len = text ? strlen(text) : 0;
		free(text);
		if (len > gw->cfg->max_output_bytes) {
			reply_refuse(e, 413, "result: larger than %zu bytes",
				     gw->cfg->max_output_bytes);
			return;
		}
		reply->result = result;
	}
}

/* A refused body, answered once the token is known to be one (401 comes first). */
typedef struct refused_reply {
	http_req *req;
	reply_error e;
} refused_reply;

static void on_token_checked(void *arg, int known, const char *error)
{
	refused_reply *r = arg;
	if (error)
		gw_reply_unavailable(r->req);
	else if (!known)
		http_reply_error(r->req, 401, ERR_INVALID_REPLY_TOKEN,
				 "the reply token is missing, unknown or malformed");
	else
		http_reply_error(r->req, r->e.status,
				 r->e.status == 413 ? HTTP_ERR_BODY_TOO_LARGE
						    : HTTP_ERR_INVALID_REQUEST,
				 "%s", r->e.message);
	free(r);
}

static void reply_route(http_req *req, void *arg)
{
	gateway *gw = arg;
	json_t *body = http_req_json(req);
	if (!body)
		return;
	runs_reply reply = { 0 };
	json_t *token = json_object_get(body, "replyToken");
	reply.token = json_string_value(token);
	if (!reply.token || !auth_run_token_shaped(reply.token, AUTH_REPLY_TOKEN_PREFIX)) {
		http_reply_error(req, 401, ERR_INVALID_REPLY_TOKEN,
				 reply.token ? "the reply token is missing, unknown or malformed"
					     : "replyToken: the token of the agent.run.created "
					       "webhook is required");
		return;
	}
	reply_error e = { 0 };
	reply_read(gw, body, &reply, &e);
	if (e.status) {
		refused_reply *r = calloc(1, sizeof *r);
		if (!r) {
			gw_reply_unavailable(req);
			return;
		}
		r->req = req;
		r->e = e;
		runs_token_known(gw->db, reply.token, on_token_checked, r);
		return;
	}
	reply_req *r = calloc(1, sizeof *r);
	if (!r) {
		gw_reply_unavailable(req);
		return;
	}
	r->gw = gw;
	r->req = req;
	runs_reply_apply(gw->db, &gw->outbox, &reply, gw->cfg->run_expiry_seconds, on_replied, r);
}

/* ===== Wiring ===== */

#define ROUTE(name, roles)                                 \
	static void name##_route(http_req *req, void *arg) \
	{                                                  \
		gw_authenticate(arg, req, roles, name);    \
	}

ROUTE(create_job, ALLOW_USER | ALLOW_AGENT | ALLOW_RUN_TOKEN)
ROUTE(get_job, ALLOW_ANY)
ROUTE(cancel_job, ALLOW_USER | ALLOW_AGENT)
ROUTE(list_deliveries, ALLOW_ANY)
ROUTE(list_runs, ALLOW_ANY)
ROUTE(get_run, ALLOW_ANY)

int gw_dispatch_routes(gateway *gw, http_server *http)
{
	static const struct {
		const char *method;
		const char *pattern;
		http_handler handler;
	} routes[] = {
		{ "POST", "/v1/jobs", create_job_route },
		{ "GET", "/v1/jobs/:id", get_job_route },
		{ "POST", "/v1/jobs/:id/cancel", cancel_job_route },
		{ "GET", "/v1/jobs/:id/deliveries", list_deliveries_route },
		{ "GET", "/v1/jobs/:id/runs", list_runs_route },
		{ "GET", "/v1/runs/:id", get_run_route },
		{ "POST", "/api/agents/reply", reply_route },
	};
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
		if (http_route(http, routes[i].method, routes[i].pattern, routes[i].handler, gw) !=
		    0)
			return -1;
	return 0;
}
