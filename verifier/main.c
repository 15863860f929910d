/* errand-verifier: checks what agents deliver, streams its progress as log lines, and settles. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "consumer.h"
#include "http_client.h"
#include "ids.h"
#include "jobs.h"
#include "jsonschema.h"
#include "log.h"
#include "metrics.h"
#include "model.h"
#include "outbox.h"
#include "seal.h"
#include "service.h"
#include "strmap.h"
#include "verification.h"
#include "webhook.h"

#define GROUP "verifiers"
#define POLL_INTERVAL_MS 2000
#define POLL_BATCH 100
#define MAX_INFLIGHT 500
/* A verifier or judge that fails or answers garbage is tried again after these (CONTRACT.md). */
static const int RETRY_DELAYS_S[] = { 1, 5, 25 };
#define NRETRIES ((int)(sizeof RETRY_DELAYS_S / sizeof RETRY_DELAYS_S[0]))
#define EXTERNAL_TIMEOUT_MS 10000
#define LOG_MAXLEN 10000
/* A job's log stream is kept in Redis this long after a verdict (PostgreSQL keeps it all). */
#define LOG_TTL_SECONDS 86400

typedef struct verifier {
	service *svc;
	const config *cfg;
	db_pool *db;
	redis_client *redis;
	consumer *stream; /* errand:verify */
	http_client *hc;
	outbox outbox;
	int has_key;
	unsigned char key[SEAL_KEY_LEN];
	int inflight;
	/*
	 * "job_id/attempt" of the checks running here: an entry brought again
	 * (XAUTOCLAIM takes this process's own entries too once they are idle
	 * for a lease, as a long check's is) does not start a second check.
	 */
	strmap *running;
	int polling;
	struct event *ev_poll;
	void (*stopped)(void *);
	void *stopped_arg;
	metric *m_passed, *m_failed, *m_inflight;
} verifier;

/* The steps of one check, in order. */
typedef enum { STEP_OUTPUT, STEP_SCHEMA, STEP_EXTERNAL, STEP_JUDGE, STEP_DONE } step;

/* One attempt being verified. */
typedef struct check {
	verifier *v;
	char *stream_id; /* the entry to acknowledge, or NULL (found by the poll) */
	char job_id[IDS_MAX_LEN];
	int attempt;
	char *kind, *output, *output_schema, *objective, *constraints, *secret, *external_url;
	int judge;
	step at;
	int tries;	      /* of the current step's verifier or judge */
	struct event *ev_retry;
	struct event *ev_renew;	  /* renews the lease while the check runs */
	char msg_id[IDS_MAX_LEN]; /* webhook-id of the external verifier's request */
	char key[IDS_MAX_LEN + 16]; /* in `running` as this */
	char *request;		  /* its body, the same on every try */
	json_t *log;	      /* the entries sent: [{id, event, data}] */
	int xadds;	      /* XADDs not yet answered */
	int settling;	      /* settle once the XADDs are answered */
	int pass;
	char reason[VERIFY_REASON_MAX + 64];
	char status[32];
} check;

static void run_step(check *c);

static void maybe_stopped(verifier *v)
{
	if (v->stopped && v->inflight == 0 && !v->polling && !consumer_busy(v->stream)) {
		void (*done)(void *) = v->stopped;
		v->stopped = NULL;
		done(v->stopped_arg);
	}
}

static void check_free(check *c, int ack)
{
	verifier *v = c->v;
	if (ack && c->stream_id)
		consumer_ack(v->stream, c->stream_id);
	if (strmap_get(v->running, c->key) == c)
		strmap_remove(v->running, c->key);
	if (c->ev_retry)
		event_free(c->ev_retry);
	if (c->ev_renew)
		event_free(c->ev_renew);
	free(c->stream_id);
	free(c->kind);
	free(c->output);
	free(c->output_schema);
	free(c->objective);
	free(c->constraints);
	free(c->secret);
	free(c->external_url);
	free(c->request);
	json_decref(c->log);
	free(c);
	v->inflight--;
	metrics_set(v->m_inflight, v->inflight);
	maybe_stopped(v);
	consumer_poke(v->stream);
}

/* ===== The log: the stream errand:logs:<job id>, kept for PostgreSQL ===== */

/* The answer of one XADD: the entry's stream id, in the order they were sent. */
typedef struct xadd_ctx {
	check *c;
	size_t index;
} xadd_ctx;

static void settle_now(check *c);

static void on_xadd(void *arg, redisReply *reply, const char *error)
{
	xadd_ctx *x = arg;
	check *c = x->c;
	json_t *entry = json_array_get(c->log, x->index);
	if (!error && reply && reply->type == REDIS_REPLY_STRING) {
		json_object_set_new(entry, "id", json_string(reply->str));
	} else {
		/* Redis is away: a stream id of the same shape, after the ones before it */
		char id[48];
		snprintf(id, sizeof id, "%lld-%zu", (long long)clock_now_ms(), x->index);
		json_object_set_new(entry, "id", json_string(id));
	}
	free(x);
	if (--c->xadds == 0 && c->settling)
		settle_now(c);
}

/*
 * XADDs an entry {event, data} to the job's log stream and keeps it; then,
 * on the same connection and so after it, {job_id} to the index stream
 * that tells the gateways which log has news.
 */
static void emit(check *c, const char *event, json_t *data)
{
	verifier *v = c->v;
	char stream[256], index[256];
	snprintf(stream, sizeof stream, "%s" VERIFY_LOG_STREAM "%s", v->cfg->stream_prefix,
		 c->job_id);
	snprintf(index, sizeof index, "%s" VERIFY_LOG_INDEX, v->cfg->stream_prefix);
	char *text = json_dumps(data, JSON_COMPACT);
	json_t *entry = json_pack("{s:n,s:s,s:o}", "id", "event", event, "data", data);
	xadd_ctx *x = malloc(sizeof *x);
	if (!text || !entry || !x) {
		free(text);
		json_decref(entry);
		free(x);
		return;
	}
	json_array_append_new(c->log, entry);
	x->c = c;
	x->index = json_array_size(c->log) - 1;
	c->xadds++;
	const char *fields[] = { "event", event, "data", text };
	redis_xadd(v->redis, stream, LOG_MAXLEN, 2, fields, on_xadd, x);
	const char *note[] = { VERIFY_LOG_INDEX_FIELD, c->job_id };
	redis_xadd(v->redis, index, VERIFY_LOG_INDEX_MAXLEN, 1, note, NULL, NULL);
	free(text);
}

/* A log line of the current attempt. */
static void logf_(check *c, const char *stepname, const char *level, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void logf_(check *c, const char *stepname, const char *level, const char *fmt, ...)
{
	char message[1024], at[CLOCK_RFC3339_LEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	json_t *msg = json_string_lossy(message, strlen(message));
	emit(c, "log",
	     json_pack("{s:i,s:s,s:s,s:o,s:s}", "attempt", c->attempt, "step", stepname, "level",
		       level, "message", msg ? msg : json_string(""), "at",
		       clock_format_rfc3339(clock_now_ms(), at)));
}

/* ===== Settling ===== */

static void on_settled(void *arg, const char *outcome, const char *status, const char *error)
{
	check *c = arg;
	verifier *v = c->v;
	if (!outcome) {
		/* unknown: leave the entry unacknowledged; the lease runs out and it is done again */
		log_warn("settling %s attempt %d failed: %s", c->job_id, c->attempt, error);
		check_free(c, 0);
		return;
	}
	if (strcmp(outcome, VERIFY_STALE) == 0) {
		log_info("%s attempt %d was settled already", c->job_id, c->attempt);
		check_free(c, 1);
		return;
	}
	metrics_add(c->pass ? v->m_passed : v->m_failed, 1);
	const char *word = strcmp(c->kind, "market") == 0 ? jobs_market_status(status)
							  : jobs_dispatch_status(status);
	snprintf(c->status, sizeof c->status, "%s", word);
	outbox_publish_job(&v->outbox, c->job_id);
	/* the verdict goes out last, once the job has moved */
	emit(c, "verdict",
	     json_pack("{s:i,s:b,s:s,s:s}", "attempt", c->attempt, "pass", c->pass, "reason",
		       c->reason, "status", c->status));
	c->settling = 2; /* after the verdict's XADD: record it and finish */
	if (c->xadds == 0)
		settle_now(c);
}

static void settle_now(check *c)
{
	verifier *v = c->v;
	if (c->ev_renew)
		event_del(c->ev_renew); /* the checks are over: settling ends the lease */
	if (c->settling == 2) {
		char key[256];
		snprintf(key, sizeof key, "%s" VERIFY_LOG_STREAM "%s", v->cfg->stream_prefix,
			 c->job_id);
		redis_command(v->redis, NULL, NULL, "EXPIRE %s %d", key, LOG_TTL_SECONDS);
		verification_record_verdict(v->db, c->job_id, c->attempt,
					    json_array_get(c->log, json_array_size(c->log) - 1));
		check_free(c, 1);
		return;
	}
	verification_settle(v->db, c->job_id, c->attempt, c->pass, c->reason, c->log,
			    v->cfg->platform_fee_bps, on_settled, c);
}

/* The checks are over: store and settle once every log line has its stream id. */
static void finish(check *c, int pass, const char *reason)
{
	c->at = STEP_DONE;
	c->pass = pass;
	snprintf(c->reason, sizeof c->reason, "%.*s", (int)sizeof c->reason - 1, reason);
	logf_(c, VERIFY_STEP_VERDICT, pass ? "info" : "warn", "%s: %s", pass ? "passed" : "failed",
	      reason);
	c->settling = 1;
	if (c->xadds == 0)
		settle_now(c);
}

/* ===== Asking a verifier or the judge, with retries ===== */

static void retry_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_step(arg);
}

/* The current step's verifier or judge failed or answered garbage: again later, or give up. */
static void unavailable(check *c, const char *stepname, const char *why)
{
	if (c->tries > NRETRIES) {
		logf_(c, stepname, "error", "no usable answer after %d tries (%s)", c->tries, why);
		finish(c, 0, VERIFY_UNAVAILABLE);
		return;
	}
	int delay = RETRY_DELAYS_S[c->tries - 1];
	logf_(c, stepname, "warn", "no usable answer (%s); trying again in %d s", why, delay);
	struct timeval tv = { delay, 0 };
	if (!c->ev_retry)
		c->ev_retry = evtimer_new(service_base(c->v->svc), retry_tick, c);
	evtimer_add(c->ev_retry, &tv);
}

/* A verdict arrived from the step's verifier or judge. */
static void verdict_of(check *c, const char *stepname, const json_t *answer, const char *who)
{
	int pass = 0;
	char reason[VERIFY_REASON_MAX + 1];
	if (verification_parse_verdict(answer, &pass, reason, sizeof reason) != 0) {
		unavailable(c, stepname, "the answer is not {\"pass\": bool, \"reason\": string}");
		return;
	}
	logf_(c, stepname, pass ? "info" : "warn", "%s: %s (%s)", who, pass ? "pass" : "fail",
	      reason);
	if (!pass) {
		char why[VERIFY_REASON_MAX + 64];
		snprintf(why, sizeof why, "%s: %s", who, reason);
		finish(c, 0, why);
		return;
	}
	c->at++;
	c->tries = 0;
	run_step(c);
}

static void on_external(void *arg, const http_response *resp)
{
	check *c = arg;
	if (resp->error || resp->status != 200) {
		char why[160];
		snprintf(why, sizeof why, "%s", resp->error ? resp->error : "");
		if (!resp->error)
			snprintf(why, sizeof why, "HTTP %ld", resp->status);
		unavailable(c, VERIFY_STEP_EXTERNAL, why);
		return;
	}
	json_error_t jerr;
	json_t *answer = json_loadb(resp->body, resp->len, JSON_REJECT_DUPLICATES, &jerr);
	verdict_of(c, VERIFY_STEP_EXTERNAL, answer, "the external verifier");
	json_decref(answer);
}

static void ask_external(check *c)
{
	verifier *v = c->v;
	c->tries++;
	if (!c->request)
		c->request = verification_request_body(&(verification_job){
			.job_id = c->job_id,
			.attempt = c->attempt,
			.kind = c->kind,
			.output = c->output,
			.output_schema = c->output_schema,
			.objective = c->objective,
			.constraints = c->constraints,
		});
	const char *body = c->request;
	char sig[WEBHOOK_SIGNATURE_LEN + 1 + 32], idh[80], tsh[64], sigh[sizeof sig + 32];
	int64_t ts = clock_now_ms() / 1000;
	const char *secrets[] = { c->secret };
	if (!body || !c->secret ||
	    webhook_sign_all(secrets, 1, c->msg_id, ts, body, strlen(body), sig, sizeof sig) != 0) {
		logf_(c, VERIFY_STEP_EXTERNAL, "error", "the job has no usable verifier secret");
		finish(c, 0, VERIFY_UNAVAILABLE);
		return;
	}
	snprintf(idh, sizeof idh, "webhook-id: %s", c->msg_id);
	snprintf(tsh, sizeof tsh, "webhook-timestamp: %lld", (long long)ts);
	snprintf(sigh, sizeof sigh, "webhook-signature: %s", sig);
	const char *headers[] = { idh, tsh, sigh, "Content-Type: application/json", NULL };
	logf_(c, VERIFY_STEP_EXTERNAL, "info", "asking the external verifier (try %d)", c->tries);
	if (http_client_post(v->hc, c->external_url, headers, body, strlen(body),
			     EXTERNAL_TIMEOUT_MS, on_external, c) != 0)
		unavailable(c, VERIFY_STEP_EXTERNAL, "the request could not start");
}

static void on_judge(void *arg, const json_t *answer, const char *error)
{
	check *c = arg;
	if (!answer) {
		unavailable(c, VERIFY_STEP_JUDGE, error);
		return;
	}
	verdict_of(c, VERIFY_STEP_JUDGE, answer, "the judge");
}

static void ask_judge(check *c)
{
	verifier *v = c->v;
	c->tries++;
	if (!v->cfg->llm_url) {
		logf_(c, VERIFY_STEP_JUDGE, "error", "no model is configured (ERRAND_LLM_URL)");
		finish(c, 0, VERIFY_UNAVAILABLE);
		return;
	}
	char *user = verification_judge_message(c->objective, c->constraints, c->output);
	logf_(c, VERIFY_STEP_JUDGE, "info", "asking the judge (try %d)", c->tries);
	if (!user || model_ask(v->hc, v->cfg, VERIFY_JUDGE_SYSTEM, user, 1, on_judge, c) != 0)
		unavailable(c, VERIFY_STEP_JUDGE, "the request could not start");
	free(user);
}

/* ===== The checks ===== */

/*
 * Checks the output against the job's output_schema; 1 pass, 0 fail with
 * `why`. The output is validated from its text (jsondoc's parser), not
 * through jansson: most of the step's time was jansson parsing it.
 */
static int schema_check(check *c, char *why, size_t whylen)
{
	json_t *schema = json_load_db(c->output_schema);
	char err[512] = "";
	int pass = 0, r = 0;
	jsonschema *s = schema ? jsonschema_compile(schema, err, sizeof err) : NULL;
	if (s && c->output)
		r = jsonschema_validate_text(s, c->output, strlen(c->output), err, sizeof err);
	if (!s)
		snprintf(why, whylen, "the output_schema cannot be used: %s", err);
	else if (!c->output)
		snprintf(why, whylen, "the output is not JSON");
	else if (r == JSONSCHEMA_NOT_JSON)
		snprintf(why, whylen, "the output is not JSON (%s)", err);
	else if (r == 0)
		pass = 1;
	else
		snprintf(why, whylen, "%s", err);
	jsonschema_free(s);
	json_decref(schema);
	return pass;
}

static void run_step(check *c)
{
	char msg[600];
	switch (c->at) {
	case STEP_OUTPUT:
		if (!verification_check_output(c->output, c->v->cfg->max_output_bytes, msg,
					       sizeof msg)) {
			logf_(c, VERIFY_STEP_OUTPUT, "error", "%s", msg);
			finish(c, 0, msg);
			return;
		}
		logf_(c, VERIFY_STEP_OUTPUT, "info", "%s", msg);
		c->at = STEP_SCHEMA;
		/* fall through */
	case STEP_SCHEMA:
		if (c->output_schema) {
			if (!schema_check(c, msg, sizeof msg)) {
				logf_(c, VERIFY_STEP_SCHEMA, "error", "%s", msg);
				char why[640];
				snprintf(why, sizeof why, "output_schema: %s", msg);
				finish(c, 0, why);
				return;
			}
			logf_(c, VERIFY_STEP_SCHEMA, "info", "the output matches the output_schema");
		}
		c->at = STEP_EXTERNAL;
		/* fall through */
	case STEP_EXTERNAL:
		if (c->external_url) {
			ask_external(c);
			return;
		}
		c->at = STEP_JUDGE;
		/* fall through */
	case STEP_JUDGE:
		if (c->judge) {
			ask_judge(c);
			return;
		}
		c->at = STEP_DONE;
		/* fall through */
	case STEP_DONE:
		finish(c, 1, "every check passed");
		return;
	}
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Renews the lease of a check still running (every third of a lease). */
static void renew_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	check *c = arg;
	verification_renew(c->v->db, c->job_id, c->attempt, c->v->cfg->instance,
			   c->v->cfg->verify_lease_seconds);
}

static void on_taken(void *arg, const verification_job *j, const char *error)
{
	check *c = arg;
	if (!j) {
		/* settled, moved on, or another verifier holds it; a database error leaves
		 * the entry for later */
		check_free(c, error == NULL);
		return;
	}
	int every_ms = c->v->cfg->verify_lease_seconds * 1000 / 3;
	struct timeval tv = { every_ms / 1000, (every_ms % 1000) * 1000 };
	c->ev_renew = event_new(service_base(c->v->svc), -1, EV_PERSIST, renew_tick, c);
	if (c->ev_renew)
		event_add(c->ev_renew, &tv);
	c->kind = strdup(j->kind);
	/* compact, as the gateway measured it (jsonb's text has spaces after , and :) */
	json_t *output = json_load_db(j->output);
	c->output = output ? json_dumps(output, JSON_COMPACT | JSON_ENCODE_ANY)
			   : dup_or_null(j->output);
	json_decref(output);
	c->output_schema = dup_or_null(j->output_schema);
	c->objective = strdup(j->objective);
	c->constraints = strdup(j->constraints);
	c->secret = dup_or_null(j->secret);
	c->external_url =
		dup_or_null(json_string_value(json_object_get(j->verification, "webhook_url")));
	c->judge = json_is_true(json_object_get(j->verification, "judge"));
	char key[256];
	snprintf(key, sizeof key, "%s" VERIFY_LOG_STREAM "%s", c->v->cfg->stream_prefix,
		 c->job_id);
	redis_command(c->v->redis, NULL, NULL, "PERSIST %s", key);
	logf_(c, VERIFY_STEP_START, "info", "verifying attempt %d", c->attempt);
	run_step(c);
}

/* Verifies attempt `attempt` of `job_id` (from the stream entry `stream_id`, or the poll). */
static void start(verifier *v, const char *stream_id, const char *job_id, int attempt)
{
	check *c = calloc(1, sizeof *c);
	if (!c || !ids_valid(job_id, "job") || ids_new("msg", c->msg_id) != 0 ||
	    !(c->log = json_array())) {
		if (stream_id)
			consumer_ack(v->stream, stream_id);
		if (c)
			json_decref(c->log);
		free(c);
		return;
	}
	snprintf(c->key, sizeof c->key, "%s/%d", job_id, attempt);
	if (strmap_get(v->running, c->key) || strmap_put(v->running, c->key, c) != 0) {
		/* checked here already (or out of memory): the entry stays pending; the
		 * running check acknowledges its own, a later claim finds it settled */
		json_decref(c->log);
		free(c);
		return;
	}
	c->v = v;
	c->stream_id = stream_id ? strdup(stream_id) : NULL;
	snprintf(c->job_id, sizeof c->job_id, "%s", job_id);
	c->attempt = attempt;
	v->inflight++;
	metrics_set(v->m_inflight, v->inflight);
	verification_take(v->db, job_id, attempt, v->cfg->instance, v->cfg->verify_lease_seconds,
			  v->has_key ? v->key : NULL, on_taken, c);
}

/* ===== Where the work comes from ===== */

/* An entry of errand:verify: the job.submitted event, {job_id, attempt, …}. */
static void on_entry(void *arg, const char *stream_id, const json_t *payload)
{
	verifier *v = arg;
	const char *job = json_string_value(json_object_get(payload, "job_id"));
	json_t *attempt = json_object_get(payload, "attempt");
	if (job && json_is_integer(attempt))
		start(v, stream_id, job, (int)json_integer_value(attempt));
	else
		consumer_ack(v->stream, stream_id);
}

static int room(void *arg)
{
	verifier *v = arg;
	return service_stopping(v->svc) ? 0 : MAX_INFLIGHT - v->inflight;
}

static void on_due(void *arg, int n, const char *const *ids, const int *attempts,
		   const char *error)
{
	verifier *v = arg;
	v->polling = 0;
	if (error)
		log_warn("looking for submitted jobs failed: %s", error);
	for (int i = 0; i < n && !service_stopping(v->svc); i++)
		start(v, NULL, ids[i], attempts[i]);
	maybe_stopped(v);
}

static void poll_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	verifier *v = arg;
	int n = room(v);
	if (v->polling || n <= 0 || !db_pool_ready(v->db))
		return;
	v->polling = 1;
	verification_due(v->db, n < POLL_BATCH ? n : POLL_BATCH, on_due, v);
}

static void stop_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	maybe_stopped(arg);
}

static void on_stop(void *arg, void (*done)(void *service), void *svc)
{
	verifier *v = arg;
	consumer_stop(v->stream);
	v->stopped = done;
	v->stopped_arg = svc;
	/* the poll's timer now checks whether the work in hand is done (a blocking
	 * read in flight ends within a second) */
	event_del(v->ev_poll);
	event_assign(v->ev_poll, service_base(v->svc), -1, EV_PERSIST, stop_tick, v);
	struct timeval tv = { 0, 100 * 1000 };
	event_add(v->ev_poll, &tv);
	maybe_stopped(v);
}

int main(void)
{
	const db_stmt *const tables[] = { VERIFICATION_STMTS, OUTBOX_STMTS };
	const size_t counts[] = { VERIFICATION_STMTS_N, OUTBOX_STMTS_N };
	verifier v = { 0 };
	v.svc = service_new(PROC_VERIFIER, tables, counts, 2);
	v.cfg = service_config(v.svc);
	v.has_key = seal_key_parse(v.cfg->secrets_key, v.key) == 0;
	struct event_base *base = service_base(v.svc);
	v.db = service_db(v.svc);
	v.redis = service_redis(v.svc);
	v.outbox = (outbox){ .db = v.db,
			     .redis = v.redis,
			     .prefix = v.cfg->stream_prefix,
			     .maxlen = v.cfg->stream_maxlen,
			     .base = base };
	v.hc = http_client_new(base);
	v.running = strmap_new();
	v.stream = consumer_new(base, v.cfg, v.redis, "verify", GROUP,
				(long)v.cfg->verify_lease_seconds * 1000,
				on_entry, room, &v);
	if (!v.hc || !v.stream || !v.running) {
		log_error("cannot create the HTTP client or the stream consumer");
		return 1;
	}
	v.m_passed = metrics_counter("errand_verifications_passed_total",
				     "Attempts the verifier passed (and settled).");
	v.m_failed = metrics_counter("errand_verifications_failed_total",
				     "Attempts the verifier failed (and settled).");
	v.m_inflight = metrics_gauge("errand_verifications_inflight",
				     "Attempts being verified by this process.");
	v.ev_poll = event_new(base, -1, EV_PERSIST, poll_tick, &v);
	struct timeval poll = { POLL_INTERVAL_MS / 1000, (POLL_INTERVAL_MS % 1000) * 1000 };
	event_add(v.ev_poll, &poll);
	service_on_stop(v.svc, on_stop, &v);
	int code = service_run(v.svc);
	event_free(v.ev_poll);
	http_client_free(v.hc);
	consumer_free(v.stream);
	strmap_free(v.running);
	outbox_free(&v.outbox);
	service_free(v.svc);
	return code;
}
