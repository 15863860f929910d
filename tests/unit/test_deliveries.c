/*
 * Unit tests of deliveries.c: the retry schedule, and the delivery SQL of
 * migration 0005 (delivery_claim, delivery_record, delivery_due) through
 * the C API against a real database.
 */
#include <jansson.h>
#include <limits.h>

#include "auth.h"
#include "deliveries.h"
#include "jobs.h"
#include "principals.h"
#include "runs.h"
#include "seal.h"
#include "testdb.h"

/* ===== The retry schedule ===== */

/* The default ERRAND_WEBHOOK_RETRY_SCHEDULE. */
static const int SCHEDULE[] = { 0, 5, 300, 1800, 7200, 18000, 36000, 36000 };
#define SCHEDULE_N ((int)(sizeof SCHEDULE / sizeof SCHEDULE[0]))

static void test_delay_steps(void)
{
	/* After failed attempt k comes the delay before attempt k + 1: schedule[k]. */
	for (int k = 1; k < SCHEDULE_N; k++)
		CHECK_INT(deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, k, -1, 0.0),
			  (long)SCHEDULE[k] * 1000);
	/* Eight attempts in all: none after the eighth. */
	CHECK_INT(deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, SCHEDULE_N, -1, 0.0), -1);
	CHECK_INT(deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, SCHEDULE_N + 1, -1, 0.0), -1);
	/* Attempts count from 1. */
	CHECK_INT(deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, 0, -1, 0.0), -1);
	CHECK_INT(deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, -3, -1, 0.0), -1);

	/* A schedule of one entry allows one attempt only. */
	static const int once[] = { 0 };
	CHECK_INT(deliveries_next_delay_ms(once, 1, 1, -1, 0.0), -1);
	/* Zero steps stay zero, jitter or not. */
	static const int quick[] = { 0, 0, 2 };
	CHECK_INT(deliveries_next_delay_ms(quick, 3, 1, -1, 0.0), 0);
	CHECK_INT(deliveries_next_delay_ms(quick, 3, 1, -1, 0.9), 0);
	CHECK_INT(deliveries_next_delay_ms(quick, 3, 2, -1, 0.0), 2000);
	CHECK_INT(deliveries_next_delay_ms(quick, 3, 3, -1, 0.0), -1);
}

static void test_delay_jitter(void)
{
	/* Up to 20% more, in proportion to jitter01. */
	CHECK_INT(deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, 1, -1, 0.5), 5500);
	CHECK_INT(deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, 1, -1, 0.25), 5250);
	CHECK_INT(deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, 2, -1, 0.5), 330000);
	/* Within [step, 1.2 × step) for every jitter in [0, 1). */
	for (int k = 1; k < SCHEDULE_N; k++) {
		long step = (long)SCHEDULE[k] * 1000;
		for (double j = 0.0; j < 1.0; j += 0.0625) {
			long d = deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, k, -1, j);
			CHECK(d >= step);
			CHECK(d <= step + step / 5);
		}
		long top = deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, k, -1, 0.999999);
		CHECK(top < step + step / 5 || step == 0);
		CHECK(top >= step);
	}
	/* Out of [0, 1): no jitter at all, never less than the step. */
	CHECK_INT(deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, 1, -1, 1.0), 5000);
	CHECK_INT(deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, 1, -1, 7.5), 5000);
	CHECK_INT(deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, 1, -1, -0.5), 5000);
}

static void test_delay_retry_after(void)
{
	/* Retry-After raises the delay... */
	CHECK_INT(deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, 1, 60, 0.0), 60000);
	CHECK_INT(deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, 1, 60, 0.9), 60000);
	CHECK_INT(deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, 2, 3600, 0.0), 3600000);
	/* ...never lowers it... */
	CHECK_INT(deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, 1, 0, 0.0), 5000);
	CHECK_INT(deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, 1, 2, 0.0), 5000);
	CHECK_INT(deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, 2, 10, 0.0), 300000);
	CHECK_INT(deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, 1, 5, 0.5), 5500);
	/* ...exactly the step when equal, and -1 means none. */
	CHECK_INT(deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, 1, 5, 0.0), 5000);
	CHECK_INT(deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, 1, -1, 0.0), 5000);
	/* It gives no attempt where none is left. */
	CHECK_INT(deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, SCHEDULE_N, 60, 0.0), -1);
	/* A zero step waits for a Retry-After too. */
	static const int quick[] = { 0, 0 };
	CHECK_INT(deliveries_next_delay_ms(quick, 2, 1, 7, 0.0), 7000);
}

/*
 * Retry-After is whatever the endpoint sends: a huge value must still give
 * a delay (not "no attempt left"), one the database can store.
 */
static void test_delay_retry_after_huge(void)
{
	static const long huge[] = { LONG_MAX, 9223372036854776L, 10000000000000L };
	for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
		long d = deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, 1, huge[i], 0.0);
		if (d < 5000) {
			fprintf(stderr, "Retry-After %ld s: delay %ld ms\n", huge[i], d);
			exit(1);
		}
	}
}

/* ===== The database ===== */

#define EXPIRY_S 600
#define LOCK_S 30
#define HOOK_URL "https://agent.example/hook"
#define OBSERVER_URL "https://observer.example/jobs"
#define PLAIN_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SEALED_SECRET "whsec_2IM6a7Y/J9+UbHYn6Ju68+QjjUrhDIRC"
#define OBSERVER_SECRET "whsec_c2VjcmV0LW9mLXRoZS1vYnNlcnZlcnMhIQ=="

static struct event_base *base;
static db_pool *pool;
static char *url;
static unsigned char key[32];

static void open_db(void)
{
	memset(key, 0x5a, sizeof key);
	url = tdb_scratch_create("dlv");
	base = event_base_new();
	db_options opt = { .size = 2, .queue_max = 1000, .timeout_ms = 20000 };
	pool = tdb_pool_new(base, url, &opt, DELIVERIES_STMTS, DELIVERIES_STMTS_N);
	CHECK_INT(db_pool_register(pool, RUNS_STMTS, RUNS_STMTS_N), 0);
	CHECK_INT(db_pool_register(pool, JOBS_STMTS, JOBS_STMTS_N), 0);
	tdb_pool_start(base, pool, 10000);
}

static void close_db(void)
{
	tdb_check_invariants(url, 1);
	db_pool_free(pool);
	event_base_free(base);
	free(url);
}

/* One value of `sql` with one parameter, as text ("(null)" for NULL). */
static char *value1(const char *sql, const char *p1, char *out, size_t outlen)
{
	const char *p[] = { p1 };
	return tdb_value(url, sql, 1, p, out, outlen);
}

static long long int1(const char *sql, const char *p1)
{
	const char *p[] = { p1 };
	return tdb_int(url, sql, 1, p);
}

static long long int2(const char *sql, const char *p1, const char *p2)
{
	const char *p[] = { p1, p2 };
	return tdb_int(url, sql, 2, p);
}

/* An agent with a webhook URL and a plain signing secret. */
static char *agent_with_hook(char id[IDS_MAX_LEN])
{
	tdb_principal(url, "agent", NULL, id);
	const char *p[] = { id, HOOK_URL, PLAIN_SECRET };
	tdb_ok(url, "UPDATE principals SET webhook_url = $2 WHERE id = $1", 2, p);
	const char *q[] = { id, PLAIN_SECRET };
	tdb_ok(url, "INSERT INTO agent_webhook_secrets (agent_id, secret) VALUES ($1, $2)", 2, q);
	return id;
}

/* ----- jobs_call ----- */

typedef struct result {
	int calls;
	char outcome[64];
	json_t *row;
	char error[256];
} result;

static void on_result(void *arg, const char *outcome, json_t *row, const char *error)
{
	result *r = arg;
	r->calls++;
	snprintf(r->outcome, sizeof r->outcome, "%s", outcome ? outcome : "");
	r->row = row ? json_deep_copy(row) : NULL;
	snprintf(r->error, sizeof r->error, "%s", error ? error : "");
}

static int result_done(const void *arg)
{
	return ((const result *)arg)->calls > 0;
}

static result call(const char *name, int n, const char *const *params)
{
	result r;
	memset(&r, 0, sizeof r);
	CHECK_INT(jobs_call(pool, name, n, params, on_result, &r), 0);
	CHECK(tdb_loop_until(base, result_done, &r, 10000));
	if (r.error[0]) {
		fprintf(stderr, "%s: %s\n", name, r.error);
		exit(1);
	}
	return r;
}

/*
 * dispatch_create of a job for `agent` by `sender` (a subjob of `parent`
 * when not NULL), `observers` a JSON array or NULL, its run named `run`
 * with its tokens' hashes under `key` as the gateway does (NULL: the run is
 * named by the database, its hashes stored by the claim). Checks the
 * outcome ok.
 */
static char *dispatch_run(const char *sender, const char *agent, const char *parent,
			  int max_attempts, const char *observers, const char *run,
			  char id[IDS_MAX_LEN])
{
	char attempts[16], reply_hash[AUTH_HASH_HEX_LEN + 1], mcp_hash[AUTH_HASH_HEX_LEN + 1];
	snprintf(attempts, sizeof attempts, "%d", max_attempts);
	CHECK_INT(ids_new("job", id), 0);
	if (run)
		CHECK_INT(auth_run_token_hashes(key, run, reply_hash, mcp_hash), 0);
	const char *params[] = {
		id,
		sender,
		PROJECT_DEFAULT_ID,
		agent,
		parent,
		"{\"objective\": \"Summarise the tickets\", \"context\": \"all of them\"}",
		"{\"ticket\": \"T-12\"}",
		attempts,
		"3600",
		NULL,
		NULL,
		observers ? observers : "[]",
		run,
		run ? reply_hash : NULL,
		run ? mcp_hash : NULL
	};
	result r = call("dispatch_create", 15, params);
	CHECK_STR(r.outcome, JOB_OK);
	CHECK(r.row != NULL);
	CHECK_STR(json_string_value(json_object_get(r.row, "status")), "queued");
	CHECK_STR(json_string_value(json_object_get(r.row, "id")), id);
	json_decref(r.row);
	return id;
}

static char *dispatch(const char *sender, const char *agent, const char *parent, int max_attempts,
		      const char *observers, char id[IDS_MAX_LEN])
{
	return dispatch_run(sender, agent, parent, max_attempts, observers, NULL, id);
}

/* The job's only run of `status`, and its webhook message. */
static void run_of(const char *job, const char *status, char run[IDS_MAX_LEN],
		   char msg[IDS_MAX_LEN])
{
	const char *p[] = { job, status };
	tdb_value(url, "SELECT id FROM runs WHERE job_id = $1 AND status = $2", 2, p, run,
		  IDS_MAX_LEN);
	value1("SELECT id FROM webhook_messages WHERE run_id = $1", run, msg, IDS_MAX_LEN);
}

/* Makes the message old enough for the poll (the stream brings new ones). */
static void age_message(const char *msg)
{
	const char *p[] = { msg };
	tdb_ok(url,
	       "UPDATE webhook_messages SET created_at = now() - interval '1 minute'"
	       " WHERE id = $1",
	       1, p);
}

/* Makes a message retried later due now. */
static void make_due(const char *msg)
{
	const char *p[] = { msg };
	tdb_ok(url,
	       "UPDATE webhook_messages SET next_attempt_at = now() - interval '1 second'"
	       " WHERE id = $1",
	       1, p);
}

/* ----- deliveries_claim ----- */

typedef struct claimed {
	int calls;
	int got;
	char id[IDS_MAX_LEN];
	char event[64];
	char url[256]; /* "(null)" when NULL */
	char secrets[DELIVERY_SECRETS_MAX][128];
	int nsecrets;
	char payload[8192];
	char run_id[IDS_MAX_LEN]; /* "(null)" when NULL */
	int attempt;
	int disabled;
	char error[256];
} claimed;

static void on_claimed(void *arg, const delivery *d, const char *error)
{
	claimed *c = arg;
	c->calls++;
	snprintf(c->error, sizeof c->error, "%s", error ? error : "");
	if (!d)
		return;
	c->got = 1;
	snprintf(c->id, sizeof c->id, "%s", d->id);
	snprintf(c->event, sizeof c->event, "%s", d->event);
	snprintf(c->url, sizeof c->url, "%s", d->url ? d->url : "(null)");
	c->nsecrets = d->nsecrets;
	for (int i = 0; i < d->nsecrets; i++)
		snprintf(c->secrets[i], sizeof c->secrets[i], "%s", d->secrets[i]);
	snprintf(c->payload, sizeof c->payload, "%s", d->payload);
	snprintf(c->run_id, sizeof c->run_id, "%s", d->run_id ? d->run_id : "(null)");
	c->attempt = d->attempt;
	c->disabled = d->disabled;
}

static int claim_done(const void *arg)
{
	return ((const claimed *)arg)->calls > 0;
}

static claimed claim_with(const char *msg, const char *run, const unsigned char k[32])
{
	claimed c;
	memset(&c, 0, sizeof c);
	deliveries_claim(pool, msg, run, k, LOCK_S, on_claimed, &c);
	CHECK(tdb_loop_until(base, claim_done, &c, 10000));
	CHECK_INT(c.calls, 1);
	if (c.error[0]) {
		fprintf(stderr, "claim: %s\n", c.error);
		exit(1);
	}
	return c;
}

static claimed claim(const char *msg, const char *run)
{
	return claim_with(msg, run, key);
}

/* ----- deliveries_record ----- */

typedef struct recorded {
	int calls;
	char job_id[IDS_MAX_LEN]; /* "" when NULL */
	char error[256];
} recorded;

static void on_recorded(void *arg, const char *job_id, const char *error)
{
	recorded *r = arg;
	r->calls++;
	snprintf(r->job_id, sizeof r->job_id, "%s", job_id ? job_id : "");
	snprintf(r->error, sizeof r->error, "%s", error ? error : "");
}

static int record_done(const void *arg)
{
	return ((const recorded *)arg)->calls > 0;
}

/* The error of an attempt as the dispatcher words it: NULL for a 2xx. */
static const char *attempt_error(long status, char *buf, size_t len)
{
	if (status >= 200 && status <= 299)
		return NULL;
	if (status == 0)
		return "timed out";
	snprintf(buf, len, "HTTP %ld", status);
	return buf;
}

/* Records attempt `attempt` of `msg`: `status` 0 for no answer, `delay` -1 for the last. */
static recorded record(const char *msg, int attempt, long status, long delay, int gone)
{
	recorded r;
	memset(&r, 0, sizeof r);
	char why[64];
	delivery_result res = {
		.message_id = msg,
		.attempt = attempt,
		.target = HOOK_URL,
		.status_code = status,
		.error = attempt_error(status, why, sizeof why),
		.latency_ms = 12,
		.head = status ? "{\"ok\": true}" : NULL,
		.next_delay_ms = delay,
		.gone = gone,
	};
	deliveries_record(pool, NULL, &res, EXPIRY_S, on_recorded, &r);
	CHECK(tdb_loop_until(base, record_done, &r, 10000));
	CHECK_INT(r.calls, 1);
	if (r.error[0]) {
		fprintf(stderr, "record: %s\n", r.error);
		exit(1);
	}
	return r;
}

/* ----- deliveries_due ----- */

typedef struct due {
	int calls;
	int n;
	char ids[16][IDS_MAX_LEN];
	char runs[16][IDS_MAX_LEN];
	char tos[16][IDS_MAX_LEN];
	char error[256];
} due;

static void on_due(void *arg, int n, const char *const *ids, const char *const *run_ids,
		   const char *const *tos, const char *error)
{
	due *d = arg;
	d->calls++;
	d->n = n;
	for (int i = 0; i < n && i < 16; i++) {
		snprintf(d->ids[i], sizeof d->ids[i], "%s", ids[i]);
		snprintf(d->runs[i], sizeof d->runs[i], "%s", run_ids[i]);
		snprintf(d->tos[i], sizeof d->tos[i], "%s", tos[i]);
	}
	snprintf(d->error, sizeof d->error, "%s", error ? error : "");
}

static int due_done(const void *arg)
{
	return ((const due *)arg)->calls > 0;
}

/* Due messages: retries, and first attempts whose entry may be lost when `fresh`. */
static due due_with(int limit, int fresh)
{
	due d;
	memset(&d, 0, sizeof d);
	deliveries_due(pool, limit, fresh, on_due, &d);
	CHECK(tdb_loop_until(base, due_done, &d, 10000));
	CHECK_INT(d.calls, 1);
	CHECK_STR(d.error, "");
	return d;
}

static due due_now(int limit)
{
	return due_with(limit, 1);
}

/* The index of `msg` among the due ones, -1 when absent. */
static int due_has(const due *d, const char *msg)
{
	for (int i = 0; i < d->n && i < 16; i++)
		if (strcmp(d->ids[i], msg) == 0)
			return i;
	return -1;
}

/* The hex SHA-256 of run `run`'s token of `prefix` under `k`. */
static char *token_hash(const unsigned char k[32], const char *prefix, const char *run,
			char out[AUTH_HASH_HEX_LEN + 1])
{
	char token[AUTH_RUN_TOKEN_LEN + 1];
	CHECK_INT(auth_run_token(k, prefix, run, token), 0);
	auth_hash_hex(token, strlen(token), out);
	return out;
}

/* The number of outbox rows for the new webhook message `msg` (run `run` or NULL). */
static long long dispatch_entries(const char *msg, const char *job)
{
	return int2("SELECT count(*) FROM outbox WHERE stream = 'dispatch'"
		    " AND type = 'webhook.message' AND payload ->> 'message_id' = $1"
		    " AND job_id = $2",
		    msg, job);
}

/* Seconds from now to the column `col` (a timestamptz) of the row `id` of `table`. */
static double seconds_to(const char *table, const char *col, const char *id)
{
	char sql[192], v[64];
	snprintf(sql, sizeof sql, "SELECT extract(epoch FROM %s - now()) FROM %s WHERE id = $1",
		 col, table);
	value1(sql, id, v, sizeof v);
	CHECK(strcmp(v, "(null)") != 0);
	return atof(v);
}

/* The column `col` of the row `id` of `table`, as text. */
static char *col(const char *table, const char *column, const char *id, char *out, size_t outlen)
{
	char sql[192];
	snprintf(sql, sizeof sql, "SELECT %s::text FROM %s WHERE id = $1", column, table);
	return value1(sql, id, out, outlen);
}

/* ===== Claims ===== */

static void test_new_job_queues_a_message(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN], msg[IDS_MAX_LEN];
	char v[4096];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	dispatch(u, a, NULL, 3, NULL, job);

	/* One pending run, attempt 1 of the job, with the objective as its first message. */
	CHECK_INT(int1("SELECT count(*) FROM runs WHERE job_id = $1", job), 1);
	run_of(job, "pending", run, msg);
	CHECK_STR(col("jobs", "attempt_count", job, v, sizeof v), "1");
	CHECK_STR(col("runs", "reply_token_hash", run, v, sizeof v), "(null)");
	CHECK_STR(value1("SELECT text FROM run_messages WHERE run_id = $1 AND seq = 1", run, v,
			 sizeof v),
		  "Summarise the tickets");

	/* The message, pending for the agent, and its entry for the stream errand:dispatch. */
	CHECK_STR(col("webhook_messages", "status", msg, v, sizeof v), "pending");
	CHECK_STR(col("webhook_messages", "event", msg, v, sizeof v), DELIVERY_RUN_CREATED);
	CHECK_STR(col("webhook_messages", "agent_id", msg, v, sizeof v), a);
	CHECK_STR(col("webhook_messages", "job_id", msg, v, sizeof v), job);
	CHECK_STR(col("webhook_messages", "attempts", msg, v, sizeof v), "0");
	CHECK_INT(dispatch_entries(msg, job), 1);
	/* the entry names whom the message goes to: the dispatcher's turns are by receiver */
	const char *p[] = { msg, run, a };
	CHECK_INT(
		tdb_int(url,
			"SELECT count(*) FROM outbox WHERE stream = 'dispatch'"
			" AND payload = jsonb_build_object('message_id', $1::text, 'run_id', $2::text,"
			" 'to', $3::text)",
			3, p),
		1);

	/* The stored body: the run, the input and the job (the tokens come at send time). */
	json_error_t jerr;
	json_t *body = json_loads(col("webhook_messages", "payload", msg, v, sizeof v), 0, &jerr);
	CHECK(body != NULL);
	CHECK_STR(json_string_value(json_object_get(body, "type")), DELIVERY_RUN_CREATED);
	CHECK(ids_valid(json_string_value(json_object_get(body, "id")), "evt"));
	CHECK_STR(json_string_value(json_object_get(json_object_get(body, "run"), "id")), run);
	json_t *input = json_object_get(body, "input");
	CHECK_STR(json_string_value(json_object_get(input, "message")), "Summarise the tickets");
	CHECK_STR(json_string_value(json_object_get(input, "jobId")), job);
	json_t *j = json_object_get(body, "job");
	CHECK_STR(json_string_value(json_object_get(j, "id")), job);
	CHECK_INT(json_integer_value(json_object_get(j, "attempt")), 1);
	CHECK(json_is_null(json_object_get(j, "parentJobId")));
	CHECK_STR(json_string_value(json_object_get(json_object_get(j, "metadata"), "ticket")),
		  "T-12");
	CHECK(json_is_object(json_object_get(j, "constraints")));
	CHECK(json_object_get(body, "reply") == NULL);
	CHECK(json_object_get(body, "mcp") == NULL);
	json_decref(body);

	/* An agent without a webhook URL gets no job. */
	char bare[IDS_MAX_LEN], id[IDS_MAX_LEN];
	tdb_principal(url, "agent", NULL, bare);
	CHECK_INT(ids_new("job", id), 0);
	/* (id, sender, project, agent, parent, brief, metadata, attempts, time limit,
	 * output schema, verification, observers, run, reply hash, MCP hash) */
	const char *params[15] = { id, u, PROJECT_DEFAULT_ID, bare };
	params[5] = "{\"objective\": \"x\"}";
	params[7] = "3";
	params[11] = "[]";
	result r = call("dispatch_create", 15, params);
	CHECK_STR(r.outcome, JOB_AGENT_HAS_NO_WEBHOOK);
	CHECK(r.row == NULL);
	params[3] = u;
	r = call("dispatch_create", 15, params);
	CHECK_STR(r.outcome, JOB_AGENT_NOT_FOUND);
	CHECK_INT(int1("SELECT count(*) FROM jobs WHERE id = $1", id), 0);
	close_db();
}

static void test_claim_locks_and_stores_hashes(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN], msg[IDS_MAX_LEN];
	char v[256], h[AUTH_HASH_HEX_LEN + 1];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	/* A newer sealed secret (a rotation) and an expired one that signs no more. */
	char *sealed = seal_encrypt(key, SEALED_SECRET, strlen(SEALED_SECRET));
	CHECK(sealed != NULL);
	CHECK(strncmp(sealed, "v1.", 3) == 0);
	const char *p[] = { a, "whsec_ZXhwaXJlZC1zZWNyZXQtb2xkLW9sZC1vbGQh" };
	tdb_ok(url,
	       "INSERT INTO agent_webhook_secrets (agent_id, secret, expires_at)"
	       " VALUES ($1, $2, now() - interval '1 hour')",
	       2, p);
	p[1] = sealed;
	tdb_ok(url, "INSERT INTO agent_webhook_secrets (agent_id, secret) VALUES ($1, $2)", 2, p);
	free(sealed);
	dispatch(u, a, NULL, 3, NULL, job);
	run_of(job, "pending", run, msg);

	/* Fresh messages come by the stream: the poll leaves them for two seconds. */
	due d = due_now(100);
	CHECK_INT(due_has(&d, msg), -1);
	age_message(msg);
	/* the poll that looks for retries only leaves a first attempt alone */
	d = due_with(100, 0);
	CHECK_INT(due_has(&d, msg), -1);
	d = due_now(100);
	int i = due_has(&d, msg);
	CHECK(i >= 0);
	CHECK_STR(d.runs[i], run);
	CHECK_STR(d.tos[i], a);

	claimed c = claim(msg, run);
	CHECK(c.got);
	CHECK_STR(c.id, msg);
	CHECK_STR(c.event, DELIVERY_RUN_CREATED);
	CHECK_STR(c.url, HOOK_URL);
	CHECK_STR(c.run_id, run);
	CHECK_INT(c.attempt, 1);
	CHECK_INT(c.disabled, 0);
	/* Newest first, the sealed one opened, the expired one left out. */
	CHECK_INT(c.nsecrets, 2);
	CHECK_STR(c.secrets[0], SEALED_SECRET);
	CHECK_STR(c.secrets[1], PLAIN_SECRET);
	json_error_t jerr;
	json_t *body = json_loads(c.payload, 0, &jerr);
	CHECK(body != NULL);
	CHECK_STR(json_string_value(json_object_get(json_object_get(body, "run"), "id")), run);
	json_decref(body);

	/* The run's tokens: only their hashes, derived under the key. */
	CHECK_STR(col("runs", "reply_token_hash", run, v, sizeof v),
		  token_hash(key, AUTH_REPLY_TOKEN_PREFIX, run, h));
	CHECK_STR(col("runs", "mcp_token_hash", run, v, sizeof v),
		  token_hash(key, AUTH_MCP_TOKEN_PREFIX, run, h));
	CHECK_STR(col("runs", "status", run, v, sizeof v), "pending");

	/* Locked: a second claim gets nothing, and the poll skips it. */
	CHECK_STR(col("webhook_messages", "attempts", msg, v, sizeof v), "1");
	double left = seconds_to("webhook_messages", "locked_until", msg);
	CHECK(left > LOCK_S - 5 && left <= LOCK_S);
	claimed again = claim(msg, run);
	CHECK(!again.got);
	CHECK_STR(col("webhook_messages", "attempts", msg, v, sizeof v), "1");
	d = due_now(100);
	CHECK_INT(due_has(&d, msg), -1);

	/* Once the lock ran out (a dispatcher died), another takes it over: attempt 2. */
	const char *pm[] = { msg };
	tdb_ok(url,
	       "UPDATE webhook_messages SET locked_until = now() - interval '1 second'"
	       " WHERE id = $1",
	       1, pm);
	d = due_now(100);
	CHECK(due_has(&d, msg) >= 0);
	/* Under another key: the first hashes stay (every retry sends the same tokens). */
	unsigned char other[32];
	memset(other, 0x33, sizeof other);
	claimed taken = claim_with(msg, run, other);
	CHECK(taken.got);
	CHECK_INT(taken.attempt, 2);
	/* The sealed secret cannot be opened under that key: only the plain one signs. */
	CHECK_INT(taken.nsecrets, 1);
	CHECK_STR(taken.secrets[0], PLAIN_SECRET);
	CHECK_STR(col("runs", "reply_token_hash", run, v, sizeof v),
		  token_hash(key, AUTH_REPLY_TOKEN_PREFIX, run, h));

	/* An unknown message: nothing. */
	char none[IDS_MAX_LEN];
	CHECK_INT(ids_new("msg", none), 0);
	CHECK(!claim(none, NULL).got);
	close_db();
}

static void test_concurrent_claims_take_once(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN], msg[IDS_MAX_LEN];
	char v[64];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	dispatch(u, a, NULL, 3, NULL, job);
	run_of(job, "pending", run, msg);
	/* Eight claims in flight at once on two connections: one gets it. */
	claimed c[8];
	memset(c, 0, sizeof c);
	for (int i = 0; i < 8; i++)
		deliveries_claim(pool, msg, run, key, LOCK_S, on_claimed, &c[i]);
	int got = 0;
	for (int i = 0; i < 8; i++) {
		CHECK(tdb_loop_until(base, claim_done, &c[i], 10000));
		CHECK_STR(c[i].error, "");
		got += c[i].got;
	}
	CHECK_INT(got, 1);
	CHECK_STR(col("webhook_messages", "attempts", msg, v, sizeof v), "1");
	close_db();
}

/* The gateway names the run and stores its tokens' hashes: the claim leaves them. */
static void test_named_run_keeps_its_hashes(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN], msg[IDS_MAX_LEN];
	char named[IDS_MAX_LEN], v[256], h[AUTH_HASH_HEX_LEN + 1];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	CHECK_INT(ids_new("run", named), 0);
	dispatch_run(u, a, NULL, 3, NULL, named, job);
	run_of(job, "pending", run, msg);
	CHECK_STR(run, named);
	CHECK_STR(col("runs", "message_count", run, v, sizeof v), "1");
	CHECK_STR(col("jobs", "attempt_count", job, v, sizeof v), "1");
	CHECK_STR(col("runs", "reply_token_hash", run, v, sizeof v),
		  token_hash(key, AUTH_REPLY_TOKEN_PREFIX, run, h));
	CHECK_STR(col("runs", "mcp_token_hash", run, v, sizeof v),
		  token_hash(key, AUTH_MCP_TOKEN_PREFIX, run, h));
	/* Taken under another key, as a misconfigured dispatcher would: the hashes stay. */
	unsigned char other[32];
	memset(other, 0x44, sizeof other);
	claimed c = claim_with(msg, run, other);
	CHECK(c.got);
	CHECK_INT(c.attempt, 1);
	CHECK_STR(col("runs", "reply_token_hash", run, v, sizeof v),
		  token_hash(key, AUTH_REPLY_TOKEN_PREFIX, run, h));
	close_db();
}

static int all_claimed(const void *arg)
{
	const claimed *c = arg;
	for (int i = 0; i < 5; i++)
		if (c[i].calls == 0)
			return 0;
	return 1;
}

/* Several messages in one statement: each answered once, in order; only the free ones taken. */
static void test_claim_many(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], v[64];
	char job[3][IDS_MAX_LEN], run[3][IDS_MAX_LEN], msg[3][IDS_MAX_LEN], none[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	for (int i = 0; i < 3; i++) {
		dispatch(u, a, NULL, 3, NULL, job[i]);
		run_of(job[i], "pending", run[i], msg[i]);
	}
	CHECK_INT(ids_new("msg", none), 0);
	/* the second is taken already */
	CHECK(claim(msg[1], run[1]).got);

	claimed c[5];
	memset(c, 0, sizeof c);
	delivery_want w[5] = {
		{ .message_id = msg[0], .run_id = run[0], .cb = on_claimed, .arg = &c[0] },
		{ .message_id = msg[1], .run_id = run[1], .cb = on_claimed, .arg = &c[1] },
		{ .message_id = none, .run_id = NULL, .cb = on_claimed, .arg = &c[2] },
		{ .message_id = msg[2], .run_id = "", .cb = on_claimed, .arg = &c[3] },
		{ .message_id = msg[0], .run_id = run[0], .cb = on_claimed, .arg = &c[4] },
	};
	deliveries_claim_many(pool, w, 5, key, LOCK_S);
	CHECK(tdb_loop_until(base, all_claimed, c, 10000));
	for (int i = 0; i < 5; i++) {
		CHECK_INT(c[i].calls, 1);
		CHECK_STR(c[i].error, "");
	}
	CHECK(c[0].got);
	CHECK_STR(c[0].id, msg[0]);
	CHECK_STR(c[0].run_id, run[0]);
	CHECK_INT(c[0].attempt, 1);
	CHECK(!c[1].got);
	CHECK(!c[2].got);
	CHECK(c[3].got);
	CHECK_STR(c[3].id, msg[2]);
	CHECK_STR(c[3].event, DELIVERY_RUN_CREATED);
	/* asked twice in one statement: taken once */
	CHECK(!c[4].got);
	CHECK_STR(col("webhook_messages", "attempts", msg[0], v, sizeof v), "1");
	CHECK_STR(col("webhook_messages", "attempts", msg[1], v, sizeof v), "1");
	CHECK_STR(col("webhook_messages", "attempts", msg[2], v, sizeof v), "1");

	/* A malformed id is answered with an error, the others still taken. */
	memset(c, 0, sizeof c);
	make_due(msg[1]);
	tdb_ok(url, "UPDATE webhook_messages SET locked_until = NULL", 0, NULL);
	delivery_want bad[2] = {
		{ .message_id = "msg_nope", .run_id = NULL, .cb = on_claimed, .arg = &c[0] },
		{ .message_id = msg[1], .run_id = run[1], .cb = on_claimed, .arg = &c[1] },
	};
	deliveries_claim_many(pool, bad, 2, key, LOCK_S);
	c[2].calls = c[3].calls = c[4].calls = 1;
	CHECK(tdb_loop_until(base, all_claimed, c, 10000));
	CHECK(!c[0].got);
	CHECK(c[0].error[0] != '\0');
	CHECK(c[1].got);
	CHECK_INT(c[1].attempt, 2);
	close_db();
}

/* ===== Records ===== */

static void test_success_acknowledges_the_run(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN], msg[IDS_MAX_LEN];
	char v[256];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	dispatch(u, a, NULL, 3, NULL, job);
	run_of(job, "pending", run, msg);
	CHECK(claim(msg, run).got);

	recorded r = record(msg, 1, 200, -1, 0);
	CHECK_STR(r.job_id, job);
	CHECK_STR(col("webhook_messages", "status", msg, v, sizeof v), "delivered");
	CHECK_STR(col("webhook_messages", "locked_until", msg, v, sizeof v), "(null)");
	CHECK(strcmp(col("webhook_messages", "finished_at", msg, v, sizeof v), "(null)") != 0);
	/* The run runs, its stall clock started; the job runs. */
	CHECK_STR(col("runs", "status", run, v, sizeof v), "running");
	CHECK(strcmp(col("runs", "acknowledged_at", run, v, sizeof v), "(null)") != 0);
	double left = seconds_to("runs", "expires_at", run);
	CHECK(left > EXPIRY_S - 5 && left <= EXPIRY_S);
	CHECK_STR(col("jobs", "status", job, v, sizeof v), "running");
	CHECK(strcmp(col("jobs", "accepted_at", job, v, sizeof v), "(null)") != 0);
	CHECK_INT(int2("SELECT count(*) FROM outbox WHERE stream = 'events' AND job_id = $1"
		       " AND type = $2",
		       job, "job.running"),
		  1);

	/* The attempt, as the job's creator reads it. */
	const char *p[] = { msg };
	CHECK_INT(
		tdb_int(url,
			"SELECT count(*) FROM delivery_attempts WHERE message_id = $1 AND attempt = 1"
			" AND status_code = 200 AND error IS NULL AND latency_ms = 12"
			" AND target = '" HOOK_URL "' AND event = 'agent.run.created'"
			" AND response_head = '{\"ok\": true}'",
			1, p),
		1);
	CHECK_STR(value1("SELECT job_id FROM delivery_attempts WHERE message_id = $1", msg, v,
			 sizeof v),
		  job);

	/* A delivered message is not taken again, nor polled. */
	make_due(msg);
	CHECK(!claim(msg, run).got);
	due d = due_now(100);
	CHECK_INT(due_has(&d, msg), -1);
	/* A late record of a stale attempt changes nothing. */
	r = record(msg, 7, 500, 1000, 0);
	CHECK_STR(r.job_id, "");
	CHECK_STR(col("webhook_messages", "status", msg, v, sizeof v), "delivered");
	CHECK_INT(int1("SELECT count(*) FROM delivery_attempts WHERE message_id = $1", msg), 1);
	close_db();
}

static void test_failure_reschedules(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN], msg[IDS_MAX_LEN];
	char v[256];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	dispatch(u, a, NULL, 3, NULL, job);
	run_of(job, "pending", run, msg);
	CHECK(claim(msg, run).got);

	recorded r = record(msg, 1, 503, 5000, 0);
	CHECK_STR(r.job_id, job);
	CHECK_STR(col("webhook_messages", "status", msg, v, sizeof v), "pending");
	CHECK_STR(col("webhook_messages", "locked_until", msg, v, sizeof v), "(null)");
	double next = seconds_to("webhook_messages", "next_attempt_at", msg);
	CHECK(next > 3 && next <= 5);
	/* Nothing else moved. */
	CHECK_STR(col("runs", "status", run, v, sizeof v), "pending");
	CHECK_STR(col("jobs", "status", job, v, sizeof v), "queued");
	CHECK_STR(value1("SELECT error FROM delivery_attempts WHERE message_id = $1", msg, v,
			 sizeof v),
		  "HTTP 503");

	/* Not before its time, neither claimed nor polled... */
	CHECK(!claim(msg, run).got);
	due d = due_now(100);
	CHECK_INT(due_has(&d, msg), -1);
	/* ...then both: a retried message is polled at once (attempts > 0). */
	make_due(msg);
	d = due_now(100);
	CHECK(due_has(&d, msg) >= 0);
	claimed c = claim(msg, run);
	CHECK(c.got);
	CHECK_INT(c.attempt, 2);

	/* A failure without an answer (a timeout), with a longer delay. */
	r = record(msg, 2, 0, 300000, 0);
	CHECK_STR(r.job_id, job);
	next = seconds_to("webhook_messages", "next_attempt_at", msg);
	CHECK(next > 295 && next <= 300);
	const char *p[] = { msg };
	CHECK_INT(
		tdb_int(url,
			"SELECT count(*) FROM delivery_attempts WHERE message_id = $1 AND attempt = 2"
			" AND status_code IS NULL AND error = 'timed out'",
			1, p),
		1);
	CHECK_STR(col("webhook_messages", "attempts", msg, v, sizeof v), "2");
	close_db();
}

static void test_last_failure_reruns_then_fails(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN], msg[IDS_MAX_LEN];
	char run2[IDS_MAX_LEN], msg2[IDS_MAX_LEN], v[4096];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	dispatch(u, a, NULL, 2, NULL, job);
	run_of(job, "pending", run, msg);
	CHECK(claim(msg, run).got);

	/* The last attempt of the first run's webhook fails: the run fails, a second run starts. */
	recorded r = record(msg, 1, 500, -1, 0);
	CHECK_STR(r.job_id, job);
	CHECK_STR(col("webhook_messages", "status", msg, v, sizeof v), "failed");
	CHECK_STR(col("runs", "status", run, v, sizeof v), "failed");
	CHECK_STR(col("runs", "error", run, v, sizeof v), "the webhook could not be delivered");
	CHECK(strcmp(col("runs", "ended_at", run, v, sizeof v), "(null)") != 0);
	CHECK_STR(col("jobs", "status", job, v, sizeof v), "queued");
	CHECK_STR(col("jobs", "attempt_count", job, v, sizeof v), "2");
	CHECK_STR(col("jobs", "failure_reason", job, v, sizeof v), "webhook_undeliverable");
	CHECK_INT(int1("SELECT count(*) FROM runs WHERE job_id = $1", job), 2);
	run_of(job, "pending", run2, msg2);
	CHECK(strcmp(run2, run) != 0);
	CHECK_STR(col("webhook_messages", "status", msg2, v, sizeof v), "pending");
	CHECK_INT(dispatch_entries(msg2, job), 1);
	/* The new webhook says attempt 2. */
	json_error_t jerr;
	json_t *body = json_loads(col("webhook_messages", "payload", msg2, v, sizeof v), 0, &jerr);
	CHECK(body != NULL);
	CHECK_INT(json_integer_value(json_object_get(json_object_get(body, "job"), "attempt")), 2);
	json_decref(body);
	/* No job.running, no job.failed yet. */
	CHECK_INT(int2("SELECT count(*) FROM outbox WHERE job_id = $1 AND type = $2", job,
		       "job.running"),
		  0);

	/* The second run's webhook fails for good: the job fails from queued. */
	claimed c = claim(msg2, run2);
	CHECK(c.got);
	CHECK_INT(c.attempt, 1);
	r = record(msg2, 1, 0, -1, 0);
	CHECK_STR(r.job_id, job);
	CHECK_STR(col("runs", "status", run2, v, sizeof v), "failed");
	CHECK_STR(col("jobs", "status", job, v, sizeof v), "failed");
	CHECK_STR(col("jobs", "failure_reason", job, v, sizeof v), "webhook_undeliverable");
	CHECK(strcmp(col("jobs", "completed_at", job, v, sizeof v), "(null)") != 0);
	CHECK_INT(int1("SELECT count(*) FROM runs WHERE job_id = $1", job), 2);
	CHECK_INT(int1("SELECT count(*) FROM webhook_messages WHERE job_id = $1", job), 2);
	const char *p[] = { job };
	CHECK_INT(tdb_int(url,
			  "SELECT count(*) FROM outbox WHERE stream = 'events' AND job_id = $1"
			  " AND type = 'job.failed' AND payload ->> 'from' = 'queued'",
			  1, p),
		  1);
	close_db();
}

static void test_gone_disables_the_endpoint(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN], msg[IDS_MAX_LEN];
	char run2[IDS_MAX_LEN], msg2[IDS_MAX_LEN], v[256];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	dispatch(u, a, NULL, 3, NULL, job);
	run_of(job, "pending", run, msg);
	CHECK(claim(msg, run).got);

	/* 410, even with a delay given: no retry of that message. */
	recorded r = record(msg, 1, 410, 5000, 1);
	CHECK_STR(r.job_id, job);
	CHECK(strcmp(col("principals", "webhook_disabled_at", a, v, sizeof v), "(null)") != 0);
	CHECK_STR(col("webhook_messages", "status", msg, v, sizeof v), "failed");
	CHECK_STR(col("runs", "status", run, v, sizeof v), "failed");
	CHECK_STR(col("jobs", "status", job, v, sizeof v), "queued");
	CHECK_STR(col("jobs", "attempt_count", job, v, sizeof v), "2");

	/* The next run's message is handed out as disabled: it fails without a request. */
	run_of(job, "pending", run2, msg2);
	claimed c = claim(msg2, run2);
	CHECK(c.got);
	CHECK_INT(c.disabled, 1);
	CHECK_STR(c.url, HOOK_URL);
	close_db();
}

static void test_huge_retry_after_recorded(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN], msg[IDS_MAX_LEN];
	char v[256];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	dispatch(u, a, NULL, 3, NULL, job);
	run_of(job, "pending", run, msg);
	CHECK(claim(msg, run).got);
	/* A 503 with "Retry-After: 10000000000000" (about 317,000 years). */
	long delay = deliveries_next_delay_ms(SCHEDULE, SCHEDULE_N, 1, 10000000000000L, 0.0);
	CHECK(delay > 0);
	recorded r;
	memset(&r, 0, sizeof r);
	delivery_result res = { .message_id = msg,
				.attempt = 1,
				.target = HOOK_URL,
				.status_code = 503,
				.error = "HTTP 503",
				.latency_ms = 1,
				.next_delay_ms = delay };
	deliveries_record(pool, NULL, &res, EXPIRY_S, on_recorded, &r);
	CHECK(tdb_loop_until(base, record_done, &r, 10000));
	if (r.error[0]) {
		fprintf(stderr, "record: %s\n", r.error);
		exit(1);
	}
	/* The attempt is kept and the message waits (long) for its next one. */
	CHECK_INT(int1("SELECT count(*) FROM delivery_attempts WHERE message_id = $1", msg), 1);
	CHECK_STR(col("webhook_messages", "status", msg, v, sizeof v), "pending");
	CHECK_STR(col("webhook_messages", "locked_until", msg, v, sizeof v), "(null)");
	close_db();
}

/* ===== Observers ===== */

static void test_observer_messages(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN], msg[IDS_MAX_LEN];
	char obs[IDS_MAX_LEN], v[4096];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	CHECK_INT(ids_new("obs", obs), 0);
	char observers[512];
	snprintf(observers, sizeof observers,
		 "[{\"id\": \"%s\", \"url\": \"" OBSERVER_URL "\","
		 " \"events\": [\"running\", \"failed\"], \"secret\": \"" OBSERVER_SECRET "\"}]",
		 obs);
	dispatch(u, a, NULL, 3, observers, job);
	/* queued is no observer event */
	CHECK_INT(int1("SELECT count(*) FROM webhook_messages WHERE observer_id = $1", obs), 0);
	run_of(job, "pending", run, msg);
	CHECK(claim(msg, run).got);
	record(msg, 1, 200, -1, 0);

	/* job.running for the observer, with its own entry for the stream. */
	CHECK_INT(int1("SELECT count(*) FROM webhook_messages WHERE observer_id = $1", obs), 1);
	char om[IDS_MAX_LEN];
	value1("SELECT id FROM webhook_messages WHERE observer_id = $1", obs, om, sizeof om);
	CHECK_STR(col("webhook_messages", "event", om, v, sizeof v), "job.running");
	CHECK_STR(col("webhook_messages", "run_id", om, v, sizeof v), "(null)");
	CHECK_STR(col("webhook_messages", "agent_id", om, v, sizeof v), "(null)");
	CHECK_INT(dispatch_entries(om, job), 1);
	json_error_t jerr;
	json_t *body = json_loads(col("webhook_messages", "payload", om, v, sizeof v), 0, &jerr);
	CHECK(body != NULL);
	CHECK_STR(json_string_value(json_object_get(body, "type")), "job.running");
	json_t *data = json_object_get(body, "data");
	CHECK_STR(json_string_value(json_object_get(data, "job_id")), job);
	CHECK_STR(json_string_value(json_object_get(data, "status")), "running");
	CHECK(json_is_null(json_object_get(data, "subjob_id")));
	CHECK(json_is_null(json_object_get(data, "parent_job_id")));
	json_decref(body);

	/* Claimed as the observer's: its URL and its one secret, no run. */
	age_message(om);
	claimed c = claim(om, NULL);
	CHECK(c.got);
	CHECK_STR(c.event, "job.running");
	CHECK_STR(c.url, OBSERVER_URL);
	CHECK_INT(c.nsecrets, 1);
	CHECK_STR(c.secrets[0], OBSERVER_SECRET);
	CHECK_STR(c.run_id, "(null)");
	CHECK_INT(c.disabled, 0);

	/* A 410 from the observer disables it, not the agent. */
	recorded r = record(om, 1, 410, -1, 1);
	CHECK_STR(r.job_id, job);
	CHECK(strcmp(col("job_observers", "disabled_at", obs, v, sizeof v), "(null)") != 0);
	CHECK_STR(col("principals", "webhook_disabled_at", a, v, sizeof v), "(null)");
	CHECK_STR(col("webhook_messages", "status", om, v, sizeof v), "failed");
	CHECK_STR(col("jobs", "status", job, v, sizeof v), "running");

	/* The disabled observer's next message is taken as disabled (sent nowhere). */
	char next[IDS_MAX_LEN];
	value1("SELECT webhook_message_new('job.failed', NULL, o.id, o.job_id, NULL, '{}', o.job_id)"
	       " FROM job_observers o WHERE o.id = $1",
	       obs, next, sizeof next);
	age_message(next);
	claimed off = claim(next, NULL);
	CHECK(off.got);
	CHECK_STR(off.url, OBSERVER_URL);
	CHECK_INT(off.disabled, 1);
	close_db();
}

/* ===== Records' view ===== */

typedef struct page {
	int calls;
	json_t *rows;
	char next[256];
	char error[256];
} page;

static void on_page(void *arg, json_t *rows, const char *next_cursor, const char *error)
{
	page *p = arg;
	p->calls++;
	p->rows = rows ? json_deep_copy(rows) : NULL;
	snprintf(p->next, sizeof p->next, "%s", next_cursor ? next_cursor : "");
	snprintf(p->error, sizeof p->error, "%s", error ? error : "");
}

static int page_done(const void *arg)
{
	return ((const page *)arg)->calls > 0;
}

static void test_attempts_listed_newest_first(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN], msg[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	dispatch(u, a, NULL, 3, NULL, job);
	run_of(job, "pending", run, msg);
	CHECK(claim(msg, run).got);
	record(msg, 1, 500, 1000, 0);
	make_due(msg);
	CHECK(claim(msg, run).got);
	record(msg, 2, 204, -1, 0);

	page p;
	memset(&p, 0, sizeof p);
	CHECK_INT(deliveries_list_for_job(pool, job, 1, NULL, on_page, &p), 0);
	CHECK(tdb_loop_until(base, page_done, &p, 10000));
	CHECK_STR(p.error, "");
	CHECK_INT(json_array_size(p.rows), 1);
	json_t *first = json_array_get(p.rows, 0);
	CHECK_INT(json_integer_value(json_object_get(first, "attempt")), 2);
	CHECK_INT(json_integer_value(json_object_get(first, "status_code")), 204);
	CHECK_STR(json_string_value(json_object_get(first, "webhook_id")), msg);
	CHECK_STR(json_string_value(json_object_get(first, "event")), DELIVERY_RUN_CREATED);
	CHECK(ids_valid(json_string_value(json_object_get(first, "id")), "dlv"));
	CHECK(p.next[0] != '\0');

	page q;
	memset(&q, 0, sizeof q);
	CHECK_INT(deliveries_list_for_job(pool, job, 10, p.next, on_page, &q), 0);
	CHECK(tdb_loop_until(base, page_done, &q, 10000));
	CHECK_INT(json_array_size(q.rows), 1);
	json_t *second = json_array_get(q.rows, 0);
	CHECK_INT(json_integer_value(json_object_get(second, "attempt")), 1);
	CHECK_INT(json_integer_value(json_object_get(second, "status_code")), 500);
	CHECK_STR(json_string_value(json_object_get(second, "error")), "HTTP 500");
	CHECK_STR(q.next, "");
	json_decref(p.rows);
	json_decref(q.rows);

	page bad;
	memset(&bad, 0, sizeof bad);
	CHECK_INT(deliveries_list_for_job(pool, job, 10, "not a cursor", on_page, &bad), -1);
	CHECK_INT(bad.calls, 0);
	close_db();
}

TEST_MAIN(TEST(test_delay_steps), TEST(test_delay_jitter), TEST(test_delay_retry_after),
	  TEST(test_delay_retry_after_huge), TEST(test_huge_retry_after_recorded),
	  TEST(test_new_job_queues_a_message), TEST(test_claim_locks_and_stores_hashes),
	  TEST(test_concurrent_claims_take_once), TEST(test_named_run_keeps_its_hashes),
	  TEST(test_claim_many), TEST(test_success_acknowledges_the_run),
	  TEST(test_failure_reschedules), TEST(test_last_failure_reruns_then_fails),
	  TEST(test_gone_disables_the_endpoint), TEST(test_observer_messages),
	  TEST(test_attempts_listed_newest_first))
