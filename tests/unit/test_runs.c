/*
 * Unit tests of runs.c: the reply API (run_reply), the run's views and the
 * run sweep (runs_sweep), with the dispatch operations of migration 0005
 * (dispatch_create, dispatch_cancel, the observers' events) against a real
 * database. Runs are delivered through deliveries.c as the dispatcher does.
 */
#include <jansson.h>

#include "auth.h"
#include "deliveries.h"
#include "jobs.h"
#include "principals.h"
#include "runs.h"
#include "testdb.h"

#define EXPIRY_S 600
#define DELIVERY_DEADLINE_S 3600
#define HOOK_URL "https://agent.example/hook"
#define OBSERVER_URL "https://observer.example/jobs"
#define AGENT_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define OBSERVER_SECRET "whsec_2IM6a7Y/J9+UbHYn6Ju68+QjjUrhDIRC"

static struct event_base *base;
static db_pool *pool;
static char *url;
static unsigned char key[32];

static void open_db(void)
{
	memset(key, 0xa7, sizeof key);
	url = tdb_scratch_create("runs");
	base = event_base_new();
	db_options opt = { .size = 2, .queue_max = 1000, .timeout_ms = 20000 };
	pool = tdb_pool_new(base, url, &opt, RUNS_STMTS, RUNS_STMTS_N);
	CHECK_INT(db_pool_register(pool, DELIVERIES_STMTS, DELIVERIES_STMTS_N), 0);
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

/* ===== SQL helpers ===== */

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

static void exec1(const char *sql, const char *p1)
{
	const char *p[] = { p1 };
	tdb_ok(url, sql, 1, p);
}

/* The column `column` of the row `id` of `table`, as text ("(null)" for NULL). */
static char *col(const char *table, const char *column, const char *id, char *out, size_t outlen)
{
	char sql[192];
	snprintf(sql, sizeof sql, "SELECT %s::text FROM %s WHERE id = $1", column, table);
	return value1(sql, id, out, outlen);
}

/* Checks the column `column` of row `id` of `table`. */
static void expect_col(const char *table, const char *column, const char *id, const char *want)
{
	char v[4096];
	col(table, column, id, v, sizeof v);
	if (strcmp(v, want) != 0) {
		fprintf(stderr, "%s.%s of %s: \"%s\", expected \"%s\"\n", table, column, id, v,
			want);
		exit(1);
	}
}

static int is_null(const char *table, const char *column, const char *id)
{
	char v[256];
	return strcmp(col(table, column, id, v, sizeof v), "(null)") == 0;
}

/* An agent with a webhook URL and a signing secret. */
static char *agent_with_hook(char id[IDS_MAX_LEN])
{
	tdb_principal(url, "agent", NULL, id);
	const char *p[] = { id, HOOK_URL };
	tdb_ok(url, "UPDATE principals SET webhook_url = $2 WHERE id = $1", 2, p);
	p[1] = AGENT_SECRET;
	tdb_ok(url, "INSERT INTO agent_webhook_secrets (agent_id, secret) VALUES ($1, $2)", 2, p);
	return id;
}

/* ===== jobs_call ===== */

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

/* dispatch_create; `observers` a JSON array or NULL. Returns the outcome's result. */
static result dispatch_try(const char *sender, const char *agent, const char *parent,
			   int max_attempts, const char *observers, char id[IDS_MAX_LEN])
{
	char attempts[16];
	snprintf(attempts, sizeof attempts, "%d", max_attempts);
	CHECK_INT(ids_new("job", id), 0);
	const char *params[] = { id,	sender,	  PROJECT_DEFAULT_ID,
				 agent, parent,	  "{\"objective\": \"Compare the vendors\"}",
				 NULL,	attempts, "3600",
				 NULL,	NULL,	  observers ? observers : "[]",
				 NULL,	NULL,	  NULL };
	return call("dispatch_create", 15, params);
}

static char *dispatch(const char *sender, const char *agent, const char *parent, int max_attempts,
		      const char *observers, char id[IDS_MAX_LEN])
{
	result r = dispatch_try(sender, agent, parent, max_attempts, observers, id);
	CHECK_STR(r.outcome, JOB_OK);
	CHECK_STR(json_string_value(json_object_get(r.row, "status")), "queued");
	json_decref(r.row);
	return id;
}

/* The job's newest run of `status` and its webhook message. */
static void run_of(const char *job, const char *status, char run[IDS_MAX_LEN],
		   char msg[IDS_MAX_LEN])
{
	const char *p[] = { job, status };
	tdb_value(url,
		  "SELECT id FROM runs WHERE job_id = $1 AND status = $2"
		  " ORDER BY created_at DESC, id DESC LIMIT 1",
		  2, p, run, IDS_MAX_LEN);
	value1("SELECT id FROM webhook_messages WHERE run_id = $1", run, msg, IDS_MAX_LEN);
}

/* ===== The dispatcher's side ===== */

typedef struct claimed {
	int calls;
	int got;
	int attempt;
	char error[256];
} claimed;

static void on_claimed(void *arg, const delivery *d, const char *error)
{
	claimed *c = arg;
	c->calls++;
	c->got = d != NULL;
	c->attempt = d ? d->attempt : 0;
	snprintf(c->error, sizeof c->error, "%s", error ? error : "");
}

static int claim_done(const void *arg)
{
	return ((const claimed *)arg)->calls > 0;
}

/* Takes `msg` for an attempt under `key`: returns the attempt, 0 when not taken. */
static int claim(const char *msg, const char *run)
{
	claimed c;
	memset(&c, 0, sizeof c);
	deliveries_claim(pool, msg, run, key, 30, on_claimed, &c);
	CHECK(tdb_loop_until(base, claim_done, &c, 10000));
	CHECK_STR(c.error, "");
	return c.attempt;
}

typedef struct recorded {
	int calls;
	char error[256];
} recorded;

static void on_recorded(void *arg, const char *job_id, const char *error)
{
	(void)job_id;
	recorded *r = arg;
	r->calls++;
	snprintf(r->error, sizeof r->error, "%s", error ? error : "");
}

static int record_done(const void *arg)
{
	return ((const recorded *)arg)->calls > 0;
}

static void record(const char *msg, int attempt, long status, long delay)
{
	recorded r;
	memset(&r, 0, sizeof r);
	delivery_result res = { .message_id = msg,
				.attempt = attempt,
				.target = HOOK_URL,
				.status_code = status,
				.error = status >= 200 && status <= 299 ? NULL : "HTTP error",
				.latency_ms = 3,
				.next_delay_ms = delay };
	deliveries_record(pool, NULL, &res, EXPIRY_S, on_recorded, &r);
	CHECK(tdb_loop_until(base, record_done, &r, 10000));
	CHECK_STR(r.error, "");
}

/* Delivers the pending run of `job` (claim, 2xx): writes the run; the run is running. */
static char *deliver(const char *job, char run[IDS_MAX_LEN])
{
	char msg[IDS_MAX_LEN];
	run_of(job, "pending", run, msg);
	int attempt = claim(msg, run);
	CHECK(attempt > 0);
	record(msg, attempt, 200, -1);
	expect_col("runs", "status", run, "running");
	return run;
}

/* The reply token of `run`, as the dispatcher sends it. */
static char *reply_token(const char *run, char out[AUTH_RUN_TOKEN_LEN + 1])
{
	CHECK_INT(auth_run_token(key, AUTH_REPLY_TOKEN_PREFIX, run, out), 0);
	return out;
}

/* ===== Replies ===== */

typedef struct answer {
	int calls;
	int inside;
	int has;
	char outcome[64];
	char run_id[IDS_MAX_LEN]; /* "(null)" when NULL */
	char run_status[16];	  /* "(null)" when NULL */
	char job_id[IDS_MAX_LEN]; /* "(null)" when NULL */
	int idempotent;
	int expires_in;
	char error[256];
} answer;

static int in_apply;

static void on_answer(void *arg, const runs_reply_answer *a, const char *error)
{
	answer *r = arg;
	r->calls++;
	r->inside |= in_apply;
	snprintf(r->error, sizeof r->error, "%s", error ? error : "");
	if (!a)
		return;
	r->has = 1;
	snprintf(r->outcome, sizeof r->outcome, "%s", a->outcome);
	snprintf(r->run_id, sizeof r->run_id, "%s", a->run_id ? a->run_id : "(null)");
	snprintf(r->run_status, sizeof r->run_status, "%s",
		 a->run_status ? a->run_status : "(null)");
	snprintf(r->job_id, sizeof r->job_id, "%s", a->job_id ? a->job_id : "(null)");
	r->idempotent = a->idempotent;
	r->expires_in = a->expires_in_seconds;
}

static int answer_done(const void *arg)
{
	return ((const answer *)arg)->calls > 0;
}

static answer apply(const runs_reply *reply)
{
	answer a;
	memset(&a, 0, sizeof a);
	in_apply = 1;
	runs_reply_apply(pool, NULL, reply, EXPIRY_S, on_answer, &a);
	in_apply = 0;
	CHECK(tdb_loop_until(base, answer_done, &a, 10000));
	CHECK_INT(a.calls, 1);
	if (a.error[0]) {
		fprintf(stderr, "reply: %s\n", a.error);
		exit(1);
	}
	CHECK(a.has);
	return a;
}

static answer partial(const char *token, const char *message, const char *idempotency_key)
{
	runs_reply r = { .token = token,
			 .status = RUN_REPLY_PARTIAL,
			 .message = message,
			 .idempotency_key = idempotency_key };
	return apply(&r);
}

static answer completed(const char *token, const char *message, const json_t *res,
			int cancel_subjobs)
{
	runs_reply r = { .token = token,
			 .status = RUN_REPLY_COMPLETED,
			 .message = message,
			 .result = res,
			 .cancel_open_subjobs = cancel_subjobs };
	return apply(&r);
}

static answer failed(const char *token, const char *error)
{
	runs_reply r = { .token = token,
			 .status = RUN_REPLY_FAILED,
			 .error = error,
			 .has_tokens = 1,
			 .tokens_used = 7 };
	return apply(&r);
}

/* Checks an answer's outcome, run status and idempotent flag. */
static void expect(const answer *a, const char *outcome, const char *run_status, int idempotent)
{
	if (strcmp(a->outcome, outcome) != 0 || strcmp(a->run_status, run_status) != 0 ||
	    a->idempotent != idempotent) {
		fprintf(stderr, "answer %s/%s/idempotent %d, expected %s/%s/idempotent %d\n",
			a->outcome, a->run_status, a->idempotent, outcome, run_status, idempotent);
		exit(1);
	}
}

/* ===== Tests: replies ===== */

static void test_partial_then_completed(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN];
	char token[AUTH_RUN_TOKEN_LEN + 1];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	dispatch(u, a, NULL, 3, NULL, job);
	deliver(job, run);
	reply_token(run, token);

	/* A partial restarts the stall clock: shorten it first to see it restart. */
	exec1("UPDATE runs SET expires_at = now() + interval '10 seconds' WHERE id = $1", run);
	answer r = partial(token, "Read 1 of 3 vendors", NULL);
	expect(&r, RUN_OK, "running", 0);
	CHECK(!r.inside);
	CHECK_STR(r.run_id, run);
	CHECK_STR(r.job_id, job);
	CHECK(r.expires_in > EXPIRY_S - 5 && r.expires_in <= EXPIRY_S);
	CHECK_INT(int1("SELECT count(*) FROM run_messages WHERE run_id = $1", run), 2);
	expect_col("runs", "message_count", run, "2");

	/* A partial with a key is applied once. */
	r = partial(token, "Read 2 of 3 vendors", "k-2");
	expect(&r, RUN_OK, "running", 0);
	r = partial(token, "Read 2 of 3 vendors", "k-2");
	expect(&r, RUN_OK, "running", 1);
	CHECK(r.expires_in > 0);
	CHECK_INT(int1("SELECT count(*) FROM run_messages WHERE run_id = $1", run), 3);
	/* Without a key, a retry is another message. */
	r = partial(token, "still reading", NULL);
	expect(&r, RUN_OK, "running", 0);
	CHECK_INT(int1("SELECT count(*) FROM run_messages WHERE run_id = $1", run), 4);
	expect_col("jobs", "status", job, "running");

	json_t *res = json_pack("{s:s}", "recommendation", "B");
	runs_reply done = { .token = token,
			    .status = RUN_REPLY_COMPLETED,
			    .message = "Done",
			    .result = res,
			    .has_tokens = 1,
			    .tokens_used = 5420 };
	r = apply(&done);
	json_decref(res);
	expect(&r, RUN_OK, "completed", 0);
	CHECK_INT(r.expires_in, 0);
	expect_col("runs", "status", run, "completed");
	CHECK(!is_null("runs", "ended_at", run));
	expect_col("runs", "message_count", run, "5");
	expect_col("jobs", "status", job, "completed");
	expect_col("jobs", "result", job, "{\"recommendation\": \"B\"}");
	expect_col("jobs", "tokens_used", job, "5420");
	CHECK(!is_null("jobs", "completed_at", job));
	const char *p[] = { run };
	CHECK_INT(tdb_int(url,
			  "SELECT count(*) FROM run_messages WHERE run_id = $1 AND seq = 5"
			  " AND role = 'agent' AND status = 'completed' AND text = 'Done'",
			  1, p),
		  1);
	CHECK_INT(int2("SELECT count(*) FROM outbox WHERE stream = 'events' AND job_id = $1"
		       " AND type = $2",
		       job, "job.completed"),
		  1);

	/* Any reply to the ended run: ok, idempotent, nothing changes. */
	r = partial(token, "one more thing", NULL);
	expect(&r, RUN_OK, "completed", 1);
	CHECK_INT(r.expires_in, 0);
	r = failed(token, "too late");
	expect(&r, RUN_OK, "completed", 1);
	r = completed(token, "Done again", NULL, 0);
	expect(&r, RUN_OK, "completed", 1);
	CHECK_INT(int1("SELECT count(*) FROM run_messages WHERE run_id = $1", run), 5);
	expect_col("jobs", "status", job, "completed");
	expect_col("jobs", "tokens_used", job, "5420");
	close_db();
}

static void test_completed_without_result(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN];
	char token[AUTH_RUN_TOKEN_LEN + 1];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	dispatch(u, a, NULL, 3, NULL, job);
	deliver(job, run);
	answer r = completed(reply_token(run, token), "B is best", NULL, 0);
	expect(&r, RUN_OK, "completed", 0);
	/* The job's result is the message, as a JSON string; no token count. */
	expect_col("jobs", "result", job, "\"B is best\"");
	expect_col("jobs", "tokens_used", job, "(null)");
	close_db();
}

static void test_invalid_tokens(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN];
	char token[AUTH_RUN_TOKEN_LEN + 1];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	dispatch(u, a, NULL, 3, NULL, job);
	deliver(job, run);
	reply_token(run, token);

	/* Not shaped like a reply token: refused without the database, at once. */
	char mcp[AUTH_RUN_TOKEN_LEN + 1];
	CHECK_INT(auth_run_token(key, AUTH_MCP_TOKEN_PREFIX, run, mcp), 0);
	const char *shapeless[] = { mcp, "", "rpl_", "rpl_short", run, NULL };
	for (size_t i = 0; i < sizeof shapeless / sizeof shapeless[0]; i++) {
		answer r;
		memset(&r, 0, sizeof r);
		runs_reply reply = { .token = shapeless[i],
				     .status = RUN_REPLY_PARTIAL,
				     .message = "x" };
		runs_reply_apply(NULL, NULL, &reply, EXPIRY_S, on_answer, &r);
		CHECK_INT(r.calls, 1);
		CHECK(r.has);
		CHECK_STR(r.outcome, RUN_INVALID_TOKEN);
		CHECK_STR(r.run_id, "(null)");
	}

	/* Well shaped but unknown: the token of another key, of another run, a changed one. */
	unsigned char other[32];
	memset(other, 0x01, sizeof other);
	char wrong[AUTH_RUN_TOKEN_LEN + 1], other_run[IDS_MAX_LEN];
	CHECK_INT(auth_run_token(other, AUTH_REPLY_TOKEN_PREFIX, run, wrong), 0);
	answer r = partial(wrong, "x", NULL);
	CHECK_STR(r.outcome, RUN_INVALID_TOKEN);
	CHECK_STR(r.run_id, "(null)");
	CHECK_INT(ids_new("run", other_run), 0);
	r = partial(reply_token(other_run, wrong), "x", NULL);
	CHECK_STR(r.outcome, RUN_INVALID_TOKEN);
	reply_token(run, wrong);
	wrong[10] = wrong[10] == 'A' ? 'B' : 'A';
	r = partial(wrong, "x", NULL);
	CHECK_STR(r.outcome, RUN_INVALID_TOKEN);
	CHECK_INT(int1("SELECT count(*) FROM run_messages WHERE run_id = $1", run), 1);

	/* The right one still works. */
	r = partial(token, "x", NULL);
	expect(&r, RUN_OK, "running", 0);
	close_db();
}

static void test_reply_before_acknowledgement(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN], msg[IDS_MAX_LEN];
	char token[AUTH_RUN_TOKEN_LEN + 1];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	dispatch(u, a, NULL, 3, NULL, job);
	run_of(job, "pending", run, msg);
	reply_token(run, token);

	/* Before any claim the run has no token hash: nothing finds it. */
	answer r = partial(token, "hello", NULL);
	CHECK_STR(r.outcome, RUN_INVALID_TOKEN);

	/* The first attempt times out on errand's side but reached the agent... */
	CHECK_INT(claim(msg, run), 1);
	record(msg, 1, 0, 5000);
	expect_col("runs", "status", run, "pending");
	/* ...which replies first: that acknowledges the run and its job. */
	r = partial(token, "on it", NULL);
	expect(&r, RUN_OK, "running", 0);
	CHECK(r.expires_in > EXPIRY_S - 5 && r.expires_in <= EXPIRY_S);
	expect_col("runs", "status", run, "running");
	CHECK(!is_null("runs", "acknowledged_at", run));
	expect_col("jobs", "status", job, "running");
	expect_col("runs", "message_count", run, "2");

	/* The retry is not sent: the message is closed as delivered. */
	exec1("UPDATE webhook_messages SET next_attempt_at = now() - interval '1 second'"
	      " WHERE id = $1",
	      msg);
	CHECK_INT(claim(msg, run), 0);
	expect_col("webhook_messages", "status", msg, "delivered");
	expect_col("webhook_messages", "attempts", msg, "1");
	close_db();
}

static void test_failed_reruns_then_fails(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN];
	char run2[IDS_MAX_LEN], msg2[IDS_MAX_LEN], token[AUTH_RUN_TOKEN_LEN + 1];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	dispatch(u, a, NULL, 2, NULL, job);
	deliver(job, run);

	answer r = failed(reply_token(run, token), "the vendor site is down");
	expect(&r, RUN_OK, "failed", 0);
	CHECK_INT(r.expires_in, 0);
	CHECK_STR(r.job_id, job);
	expect_col("runs", "status", run, "failed");
	expect_col("runs", "error", run, "the vendor site is down");
	/* An attempt is left: the job is queued again with a new run and its webhook. */
	expect_col("jobs", "status", job, "queued");
	expect_col("jobs", "attempt_count", job, "2");
	expect_col("jobs", "failure_reason", job, "the vendor site is down");
	expect_col("jobs", "tokens_used", job, "7");
	run_of(job, "pending", run2, msg2);
	CHECK(strcmp(run, run2) != 0);
	expect_col("webhook_messages", "status", msg2, "pending");
	CHECK_INT(int2("SELECT count(*) FROM outbox WHERE stream = 'dispatch'"
		       " AND payload ->> 'message_id' = $1 AND payload ->> 'run_id' = $2",
		       msg2, run2),
		  1);
	/* The old token is spent. */
	r = partial(token, "late", NULL);
	expect(&r, RUN_OK, "failed", 1);

	/* The second run is running again, then fails: no attempt left. */
	const char *p[] = { run2 };
	CHECK_INT(claim(msg2, run2), 1);
	record(msg2, 1, 202, -1);
	expect_col("jobs", "status", job, "running");
	CHECK_INT(int2("SELECT count(*) FROM outbox WHERE stream = 'events' AND job_id = $1"
		       " AND type = $2",
		       job, "job.running"),
		  2);
	r = failed(reply_token(run2, token), "still down");
	expect(&r, RUN_OK, "failed", 0);
	expect_col("jobs", "status", job, "failed");
	expect_col("jobs", "failure_reason", job, "still down");
	CHECK_INT(int1("SELECT count(*) FROM runs WHERE job_id = $1", job), 2);
	CHECK_INT(
		tdb_int(url, "SELECT count(*) FROM runs WHERE id = $1 AND status = 'failed'", 1, p),
		1);
	close_db();
}

static void test_run_expired(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN];
	char token[AUTH_RUN_TOKEN_LEN + 1];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	dispatch(u, a, NULL, 3, NULL, job);
	deliver(job, run);
	reply_token(run, token);
	exec1("UPDATE runs SET expires_at = now() - interval '1 second' WHERE id = $1", run);

	/* The stall clock ran out: refused, whether or not the sweep marked it. */
	answer r = partial(token, "late", NULL);
	CHECK_STR(r.outcome, RUN_EXPIRED);
	CHECK_STR(r.run_id, run);
	CHECK_INT(r.expires_in, 0);
	r = completed(token, "late", NULL, 0);
	CHECK_STR(r.outcome, RUN_EXPIRED);
	r = failed(token, "late");
	CHECK_STR(r.outcome, RUN_EXPIRED);
	CHECK_INT(int1("SELECT count(*) FROM run_messages WHERE run_id = $1", run), 1);
	expect_col("runs", "status", run, "running");
	expect_col("jobs", "status", job, "running");
	expect_col("jobs", "tokens_used", job, "(null)");
	close_db();
}

/* ===== Subjobs ===== */

static void test_open_subjobs(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], b[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN];
	char sub[IDS_MAX_LEN], subrun[IDS_MAX_LEN], submsg[IDS_MAX_LEN];
	char done_sub[IDS_MAX_LEN], done_run[IDS_MAX_LEN], token[AUTH_RUN_TOKEN_LEN + 1];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	agent_with_hook(b);
	dispatch(u, a, NULL, 3, NULL, job);

	/* Only the job's agent may hang subjobs on it, and only on an open job. */
	char id[IDS_MAX_LEN];
	result x = dispatch_try(b, a, job, 3, NULL, id);
	CHECK_STR(x.outcome, JOB_PARENT_NOT_FOUND);
	x = dispatch_try(u, b, job, 3, NULL, id);
	CHECK_STR(x.outcome, JOB_PARENT_NOT_FOUND);

	deliver(job, run);
	reply_token(run, token);
	/* One finished subjob and one open one. */
	dispatch(a, b, job, 3, NULL, done_sub);
	deliver(done_sub, done_run);
	char subtoken[AUTH_RUN_TOKEN_LEN + 1];
	answer r = completed(reply_token(done_run, subtoken), "sub done", NULL, 0);
	expect(&r, RUN_OK, "completed", 0);
	dispatch(a, b, job, 3, NULL, sub);
	expect_col("jobs", "parent_job_id", sub, job);
	run_of(sub, "pending", subrun, submsg);

	/* completed while a subjob is open: refused, nothing changes. */
	r = completed(token, "all done", NULL, 0);
	expect(&r, RUN_OPEN_SUBJOBS, "running", 0);
	CHECK_INT(r.expires_in > 0, 1);
	expect_col("runs", "status", run, "running");
	expect_col("jobs", "status", job, "running");
	CHECK_INT(int1("SELECT count(*) FROM run_messages WHERE run_id = $1", run), 1);
	/* A partial is fine. */
	r = partial(token, "waiting for the subjob", NULL);
	expect(&r, RUN_OK, "running", 0);

	/* With cancelOpenSubjobs: the open subjob, its run and its webhook are cancelled. */
	r = completed(token, "all done", NULL, 1);
	expect(&r, RUN_OK, "completed", 0);
	expect_col("jobs", "status", job, "completed");
	expect_col("jobs", "status", sub, "cancelled");
	expect_col("runs", "status", subrun, "cancelled");
	expect_col("webhook_messages", "status", submsg, "cancelled");
	expect_col("jobs", "status", done_sub, "completed");
	close_db();
}

static void test_cancel_tree(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], b[IDS_MAX_LEN], c[IDS_MAX_LEN];
	char job[IDS_MAX_LEN], run[IDS_MAX_LEN], sub[IDS_MAX_LEN], subrun[IDS_MAX_LEN];
	char leaf[IDS_MAX_LEN], leafrun[IDS_MAX_LEN], leafmsg[IDS_MAX_LEN];
	char token[AUTH_RUN_TOKEN_LEN + 1], other[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "user", NULL, other);
	agent_with_hook(a);
	agent_with_hook(b);
	agent_with_hook(c);
	dispatch(u, a, NULL, 3, NULL, job);
	deliver(job, run);
	dispatch(a, b, job, 3, NULL, sub);
	deliver(sub, subrun);
	dispatch(b, c, sub, 3, NULL, leaf);
	run_of(leaf, "pending", leafrun, leafmsg);

	/* Only its creator cancels it. */
	const char *p[] = { job, other };
	result r = call("dispatch_cancel", 2, p);
	CHECK_STR(r.outcome, JOB_NOT_FOUND);
	CHECK(r.row == NULL);
	expect_col("jobs", "status", job, "running");

	p[1] = u;
	r = call("dispatch_cancel", 2, p);
	CHECK_STR(r.outcome, JOB_OK);
	CHECK_STR(json_string_value(json_object_get(r.row, "status")), "cancelled");
	json_t *subjobs = json_object_get(r.row, "subjobs");
	CHECK_INT(json_array_size(subjobs), 1);
	CHECK_STR(json_string_value(json_object_get(json_array_get(subjobs, 0), "status")),
		  "cancelled");
	json_decref(r.row);
	/* The whole tree, its runs and the undelivered webhook. */
	expect_col("jobs", "status", sub, "cancelled");
	expect_col("jobs", "status", leaf, "cancelled");
	expect_col("runs", "status", run, "cancelled");
	expect_col("runs", "status", subrun, "cancelled");
	expect_col("runs", "status", leafrun, "cancelled");
	expect_col("webhook_messages", "status", leafmsg, "cancelled");
	CHECK(!is_null("jobs", "completed_at", job));

	/* A later reply on the cancelled run: ok, idempotent, nothing changes. */
	answer x = completed(reply_token(run, token), "done anyway", NULL, 0);
	expect(&x, RUN_OK, "cancelled", 1);
	expect_col("jobs", "status", job, "cancelled");
	expect_col("jobs", "result", job, "(null)");

	/* Cancelling again answers the job as it is. */
	r = call("dispatch_cancel", 2, p);
	CHECK_STR(r.outcome, JOB_OK);
	CHECK_STR(json_string_value(json_object_get(r.row, "status")), "cancelled");
	json_decref(r.row);
	CHECK_INT(int2("SELECT count(*) FROM outbox WHERE stream = 'events' AND job_id = $1"
		       " AND type = $2",
		       job, "job.cancelled"),
		  1);
	close_db();
}

/* ===== Observers ===== */

/* The observer messages of `obs` with event `event` about `subjob` ("" for the job itself). */
static long long observer_events(const char *obs, const char *event, const char *subjob)
{
	const char *p[] = { obs, event, subjob };
	return tdb_int(url,
		       "SELECT count(*) FROM webhook_messages m JOIN outbox o"
		       " ON o.stream = 'dispatch' AND o.payload ->> 'message_id' = m.id"
		       " WHERE m.observer_id = $1 AND m.event = $2"
		       " AND (m.payload::jsonb -> 'data' ->> 'status') = substr($2, 5)"
		       " AND coalesce(m.payload::jsonb -> 'data' ->> 'subjob_id', '') = $3",
		       3, p);
}

static void test_observers_see_subjobs(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], b[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN];
	char sub[IDS_MAX_LEN], subrun[IDS_MAX_LEN], obs[IDS_MAX_LEN], token[AUTH_RUN_TOKEN_LEN + 1];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	agent_with_hook(b);
	CHECK_INT(ids_new("obs", obs), 0);
	char observers[512];
	snprintf(observers, sizeof observers,
		 "[{\"id\": \"%s\", \"url\": \"" OBSERVER_URL "\","
		 " \"events\": [\"running\", \"completed\", \"failed\", \"cancelled\"],"
		 " \"secret\": \"" OBSERVER_SECRET "\"}]",
		 obs);
	dispatch(u, a, NULL, 3, observers, job);
	deliver(job, run);
	CHECK_INT(observer_events(obs, "job.running", ""), 1);

	/* The subjob's transitions reach the parent's observer, with data.subjob_id. */
	dispatch(a, b, job, 3, NULL, sub);
	deliver(sub, subrun);
	CHECK_INT(observer_events(obs, "job.running", sub), 1);
	char data[512];
	const char *p[] = { obs, sub };
	tdb_value(url,
		  "SELECT (payload::jsonb -> 'data')::text FROM webhook_messages"
		  " WHERE observer_id = $1 AND payload::jsonb -> 'data' ->> 'subjob_id' = $2",
		  2, p, data, sizeof data);
	json_error_t jerr;
	json_t *d = json_loads(data, 0, &jerr);
	CHECK(d != NULL);
	CHECK_STR(json_string_value(json_object_get(d, "job_id")), job);
	CHECK_STR(json_string_value(json_object_get(d, "subjob_id")), sub);
	CHECK_STR(json_string_value(json_object_get(d, "status")), "running");
	CHECK(json_is_null(json_object_get(d, "parent_job_id")));
	json_decref(d);
	/* The observer message's stream entry is published with the subjob's events. */
	CHECK_INT(int2("SELECT count(*) FROM outbox o JOIN webhook_messages m"
		       " ON o.payload ->> 'message_id' = m.id WHERE m.observer_id = $1"
		       " AND o.job_id = $2",
		       obs, sub),
		  1);

	char subtoken[AUTH_RUN_TOKEN_LEN + 1];
	answer r = completed(reply_token(subrun, subtoken), "sub done", NULL, 0);
	expect(&r, RUN_OK, "completed", 0);
	CHECK_INT(observer_events(obs, "job.completed", sub), 1);
	CHECK_INT(observer_events(obs, "job.completed", ""), 0);

	r = completed(reply_token(run, token), "all done", NULL, 0);
	expect(&r, RUN_OK, "completed", 0);
	CHECK_INT(observer_events(obs, "job.completed", ""), 1);
	CHECK_INT(int1("SELECT count(*) FROM webhook_messages WHERE observer_id = $1", obs), 4);
	close_db();
}

/* ===== Views ===== */

typedef struct viewed {
	int calls;
	json_t *view;
	char error[256];
} viewed;

static void on_view(void *arg, json_t *view, const char *error)
{
	viewed *v = arg;
	v->calls++;
	v->view = view;
	snprintf(v->error, sizeof v->error, "%s", error ? error : "");
}

static int view_done(const void *arg)
{
	return ((const viewed *)arg)->calls > 0;
}

static json_t *get(const char *run, const char *who, const char *role)
{
	principal p;
	memset(&p, 0, sizeof p);
	snprintf(p.id, sizeof p.id, "%s", who);
	snprintf(p.role, sizeof p.role, "%s", role);
	snprintf(p.project_id, sizeof p.project_id, "%s", PROJECT_DEFAULT_ID);
	viewed v;
	memset(&v, 0, sizeof v);
	runs_get(pool, run, &p, on_view, &v);
	CHECK(tdb_loop_until(base, view_done, &v, 10000));
	CHECK_INT(v.calls, 1);
	CHECK_STR(v.error, "");
	return v.view;
}

static void test_run_view(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN];
	char stranger[IDS_MAX_LEN], admin[IDS_MAX_LEN], token[AUTH_RUN_TOKEN_LEN + 1];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "user", NULL, stranger);
	tdb_principal(url, "admin", NULL, admin);
	agent_with_hook(a);
	dispatch(u, a, NULL, 3, NULL, job);
	deliver(job, run);
	reply_token(run, token);
	answer r = partial(token, "working", NULL);
	expect(&r, RUN_OK, "running", 0);
	r = completed(token, "hi", NULL, 0);
	expect(&r, RUN_OK, "completed", 0);

	json_t *v = get(run, u, ROLE_USER);
	CHECK(v != NULL);
	CHECK_STR(json_string_value(json_object_get(v, "id")), run);
	CHECK_STR(json_string_value(json_object_get(v, "status")), "completed");
	CHECK_STR(json_string_value(json_object_get(v, "job_id")), job);
	CHECK_STR(json_string_value(json_object_get(v, "agent_id")), a);
	CHECK(json_is_null(json_object_get(v, "error")));
	static const char *const times[] = { "created_at", "acknowledged_at", "expires_at",
					     "ended_at" };
	for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
		const char *t = json_string_value(json_object_get(v, times[i]));
		CHECK(t != NULL);
		CHECK_INT(strlen(t), 24); /* 2026-11-23T16:19:10.198Z */
		CHECK(t[23] == 'Z');
	}
	json_t *m = json_object_get(v, "messages");
	CHECK_INT(json_array_size(m), 3);
	static const char *const roles[] = { "user", "agent", "agent" };
	static const char *const texts[] = { "Compare the vendors", "working", "hi" };
	for (size_t i = 0; i < 3; i++) {
		json_t *e = json_array_get(m, i);
		CHECK_INT(json_integer_value(json_object_get(e, "seq")), (long long)i + 1);
		CHECK_STR(json_string_value(json_object_get(e, "role")), roles[i]);
		CHECK_STR(json_string_value(json_object_get(e, "text")), texts[i]);
	}
	CHECK(json_is_null(json_object_get(json_array_get(m, 0), "status")));
	CHECK_STR(json_string_value(json_object_get(json_array_get(m, 1), "status")), "partial");
	CHECK_STR(json_string_value(json_object_get(json_array_get(m, 2), "status")), "completed");
	json_decref(v);

	/* Its agent and an admin see it; anyone else does not. */
	v = get(run, a, ROLE_AGENT);
	CHECK(v != NULL);
	json_decref(v);
	v = get(run, admin, ROLE_ADMIN);
	CHECK(v != NULL);
	json_decref(v);
	CHECK(get(run, stranger, ROLE_USER) == NULL);
	/* Unknown and malformed ids: not found. */
	char none[IDS_MAX_LEN];
	CHECK_INT(ids_new("run", none), 0);
	CHECK(get(none, admin, ROLE_ADMIN) == NULL);
	CHECK(get(job, admin, ROLE_ADMIN) == NULL);
	CHECK(get("run_", admin, ROLE_ADMIN) == NULL);
	close_db();
}

/* ===== The sweep ===== */

typedef struct swept {
	int calls;
	int expired, failed, deadlines;
	char error[256];
} swept;

static void on_swept(void *arg, int expired_runs, int failed_runs, int failed_deadlines,
		     const char *error)
{
	swept *s = arg;
	s->calls++;
	s->expired = expired_runs;
	s->failed = failed_runs;
	s->deadlines = failed_deadlines;
	snprintf(s->error, sizeof s->error, "%s", error ? error : "");
}

static int sweep_done(const void *arg)
{
	return ((const swept *)arg)->calls > 0;
}

static swept sweep(void)
{
	swept s;
	memset(&s, 0, sizeof s);
	CHECK_INT(runs_sweep(pool, DELIVERY_DEADLINE_S, on_swept, &s), 0);
	CHECK(tdb_loop_until(base, sweep_done, &s, 10000));
	CHECK_INT(s.calls, 1);
	CHECK_STR(s.error, "");
	return s;
}

static void expect_sweep(const swept *s, int expired, int failed_runs, int deadlines)
{
	if (s->expired != expired || s->failed != failed_runs || s->deadlines != deadlines) {
		fprintf(stderr, "sweep %d/%d/%d, expected %d/%d/%d\n", s->expired, s->failed,
			s->deadlines, expired, failed_runs, deadlines);
		exit(1);
	}
}

static void test_sweep_expires_runs(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN];
	char run2[IDS_MAX_LEN], msg2[IDS_MAX_LEN], token[AUTH_RUN_TOKEN_LEN + 1];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	dispatch(u, a, NULL, 2, NULL, job);
	deliver(job, run);

	/* A running run within its clock stays. */
	swept s = sweep();
	expect_sweep(&s, 0, 0, 0);
	expect_col("runs", "status", run, "running");

	exec1("UPDATE runs SET expires_at = now() - interval '1 second' WHERE id = $1", run);
	s = sweep();
	expect_sweep(&s, 1, 0, 0);
	expect_col("runs", "status", run, "expired");
	expect_col("runs", "error", run, "no reply before the run expired");
	CHECK(!is_null("runs", "ended_at", run));
	/* An attempt is left: the job runs again. */
	expect_col("jobs", "status", job, "queued");
	expect_col("jobs", "failure_reason", job, "run_expired");
	expect_col("jobs", "attempt_count", job, "2");
	run_of(job, "pending", run2, msg2);
	CHECK(strcmp(run, run2) != 0);
	/* Swept once only. */
	s = sweep();
	expect_sweep(&s, 0, 0, 0);
	/* A reply on the expired run changes nothing. */
	answer r = completed(reply_token(run, token), "late", NULL, 0);
	CHECK(strcmp(r.outcome, RUN_OK) == 0 || strcmp(r.outcome, RUN_EXPIRED) == 0);
	expect_col("runs", "status", run, "expired");
	expect_col("jobs", "status", job, "queued");

	/* The second run expires too: no attempt left, the job fails. */
	deliver(job, run2);
	exec1("UPDATE runs SET expires_at = now() - interval '1 second' WHERE id = $1", run2);
	s = sweep();
	expect_sweep(&s, 1, 0, 0);
	expect_col("runs", "status", run2, "expired");
	expect_col("jobs", "status", job, "failed");
	expect_col("jobs", "failure_reason", job, "run_expired");
	CHECK_INT(int1("SELECT count(*) FROM runs WHERE job_id = $1", job), 2);
	close_db();
}

static void test_sweep_fails_undelivered_runs(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN], msg[IDS_MAX_LEN];
	char run2[IDS_MAX_LEN], msg2[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	dispatch(u, a, NULL, 3, NULL, job);
	run_of(job, "pending", run, msg);
	/* A young pending run stays. */
	swept s = sweep();
	expect_sweep(&s, 0, 0, 0);
	exec1("UPDATE runs SET created_at = now() - interval '2 hours' WHERE id = $1", run);
	s = sweep();
	expect_sweep(&s, 0, 1, 0);
	expect_col("runs", "status", run, "failed");
	expect_col("runs", "error", run, "the webhook was not delivered in time");
	expect_col("webhook_messages", "status", msg, "cancelled");
	expect_col("jobs", "status", job, "queued");
	expect_col("jobs", "failure_reason", job, "webhook_undeliverable");
	run_of(job, "pending", run2, msg2);
	CHECK(strcmp(run, run2) != 0);
	expect_col("webhook_messages", "status", msg2, "pending");
	close_db();
}

static void test_sweep_fails_jobs_past_deadline(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN];
	char queued[IDS_MAX_LEN], qrun[IDS_MAX_LEN], qmsg[IDS_MAX_LEN];
	char running[IDS_MAX_LEN], rrun[IDS_MAX_LEN], fresh[IDS_MAX_LEN];
	char token[AUTH_RUN_TOKEN_LEN + 1];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	dispatch(u, a, NULL, 3, NULL, queued);
	run_of(queued, "pending", qrun, qmsg);
	dispatch(u, a, NULL, 3, NULL, running);
	deliver(running, rrun);
	dispatch(u, a, NULL, 3, NULL, fresh);
	exec1("UPDATE jobs SET deadline_at = now() - interval '1 second' WHERE id = $1", queued);
	exec1("UPDATE jobs SET deadline_at = now() - interval '1 second' WHERE id = $1", running);

	swept s = sweep();
	expect_sweep(&s, 0, 0, 2);
	/* Failed from queued and from running, their open runs and webhooks with them. */
	expect_col("jobs", "status", queued, "failed");
	expect_col("jobs", "failure_reason", queued, "deadline_passed");
	expect_col("runs", "status", qrun, "failed");
	expect_col("runs", "error", qrun, "the job passed its deadline");
	expect_col("webhook_messages", "status", qmsg, "cancelled");
	expect_col("jobs", "status", running, "failed");
	expect_col("jobs", "failure_reason", running, "deadline_passed");
	expect_col("runs", "status", rrun, "failed");
	CHECK(!is_null("jobs", "completed_at", running));
	expect_col("jobs", "status", fresh, "queued");
	/* No new run for a job past its deadline. */
	CHECK_INT(int1("SELECT count(*) FROM runs WHERE job_id = $1", queued), 1);
	CHECK_INT(int1("SELECT count(*) FROM runs WHERE job_id = $1", running), 1);
	/* A late reply changes nothing. */
	answer r = completed(reply_token(rrun, token), "late", NULL, 0);
	expect(&r, RUN_OK, "failed", 1);
	expect_col("jobs", "status", running, "failed");

	s = sweep();
	expect_sweep(&s, 0, 0, 0);
	close_db();
}

static void test_sweep_expiry_past_deadline(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	dispatch(u, a, NULL, 3, NULL, job);
	deliver(job, run);
	/* Expired and past its deadline in the same sweep: the job fails, no run is left open. */
	exec1("UPDATE runs SET expires_at = now() - interval '1 second' WHERE id = $1", run);
	exec1("UPDATE jobs SET deadline_at = now() - interval '1 second' WHERE id = $1", job);
	swept s = sweep();
	expect_sweep(&s, 1, 0, 1);
	expect_col("jobs", "status", job, "failed");
	expect_col("jobs", "failure_reason", job, "deadline_passed");
	CHECK_INT(int1("SELECT count(*) FROM runs WHERE job_id = $1 AND status IN"
		       " ('pending', 'running')",
		       job),
		  0);
	CHECK_INT(int1("SELECT count(*) FROM webhook_messages WHERE job_id = $1"
		       " AND status = 'pending'",
		       job),
		  0);
	close_db();
}

static void test_concurrent_sweeps_count_once(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], jobs[4][IDS_MAX_LEN], runs[4][IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	for (int i = 0; i < 4; i++) {
		dispatch(u, a, NULL, 1, NULL, jobs[i]);
		deliver(jobs[i], runs[i]);
		exec1("UPDATE runs SET expires_at = now() - interval '1 second' WHERE id = $1",
		      runs[i]);
	}
	/* Several sweeps at once on both connections: each run is expired by one of them. */
	swept s[6];
	memset(s, 0, sizeof s);
	for (int i = 0; i < 6; i++)
		CHECK_INT(runs_sweep(pool, DELIVERY_DEADLINE_S, on_swept, &s[i]), 0);
	int expired = 0;
	for (int i = 0; i < 6; i++) {
		CHECK(tdb_loop_until(base, sweep_done, &s[i], 10000));
		CHECK_STR(s[i].error, "");
		expired += s[i].expired;
	}
	CHECK_INT(expired, 4);
	for (int i = 0; i < 4; i++) {
		expect_col("runs", "status", runs[i], "expired");
		expect_col("jobs", "status", jobs[i], "failed");
	}
	CHECK_INT(int2("SELECT count(*) FROM outbox WHERE type = $1 AND job_id IN ($2)",
		       "job.failed", jobs[0]),
		  1);
	close_db();
}

/* ===== The runs of a job ===== */

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

static void test_runs_of_a_job(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], job[IDS_MAX_LEN], run[IDS_MAX_LEN];
	char run2[IDS_MAX_LEN], msg2[IDS_MAX_LEN], token[AUTH_RUN_TOKEN_LEN + 1];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	dispatch(u, a, NULL, 3, NULL, job);
	deliver(job, run);
	answer r = failed(reply_token(run, token), "boom");
	expect(&r, RUN_OK, "failed", 0);
	run_of(job, "pending", run2, msg2);

	page p;
	memset(&p, 0, sizeof p);
	CHECK_INT(runs_list_for_job(pool, job, 1, NULL, on_page, &p), 0);
	CHECK(tdb_loop_until(base, page_done, &p, 10000));
	CHECK_STR(p.error, "");
	CHECK_INT(json_array_size(p.rows), 1);
	json_t *v = runs_view_row(json_array_get(p.rows, 0));
	CHECK_STR(json_string_value(json_object_get(v, "id")), run2);
	CHECK_STR(json_string_value(json_object_get(v, "status")), "pending");
	CHECK(json_is_null(json_object_get(v, "acknowledged_at")));
	CHECK(json_object_get(v, "reply_token_hash") == NULL);
	json_decref(v);
	CHECK(p.next[0] != '\0');

	page q;
	memset(&q, 0, sizeof q);
	CHECK_INT(runs_list_for_job(pool, job, 10, p.next, on_page, &q), 0);
	CHECK(tdb_loop_until(base, page_done, &q, 10000));
	CHECK_INT(json_array_size(q.rows), 1);
	v = runs_view_row(json_array_get(q.rows, 0));
	CHECK_STR(json_string_value(json_object_get(v, "id")), run);
	CHECK_STR(json_string_value(json_object_get(v, "status")), "failed");
	CHECK_STR(json_string_value(json_object_get(v, "error")), "boom");
	json_decref(v);
	CHECK_STR(q.next, "");
	json_decref(p.rows);
	json_decref(q.rows);
	CHECK_INT(runs_list_for_job(pool, job, 10, "%%%", on_page, &q), -1);
	close_db();
}

TEST_MAIN(TEST(test_partial_then_completed), TEST(test_completed_without_result),
	  TEST(test_invalid_tokens), TEST(test_reply_before_acknowledgement),
	  TEST(test_failed_reruns_then_fails), TEST(test_run_expired), TEST(test_open_subjobs),
	  TEST(test_cancel_tree), TEST(test_observers_see_subjobs), TEST(test_run_view),
	  TEST(test_sweep_expires_runs), TEST(test_sweep_fails_undelivered_runs),
	  TEST(test_sweep_fails_jobs_past_deadline), TEST(test_sweep_expiry_past_deadline),
	  TEST(test_concurrent_sweeps_count_once), TEST(test_runs_of_a_job))
