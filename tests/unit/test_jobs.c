/* Unit tests of the job core: the market_* SQL (0003, 0004), jobs.c's calls and views. */
#include <jansson.h>

#include "clock.h"
#include "jobs.h"
#include "testdb.h"

/* ===== The pool and the calls ===== */

static struct event_base *base;
static db_pool *pool;
static char *url;

static void open_db(void)
{
	url = tdb_scratch_create("jobs");
	base = event_base_new();
	pool = tdb_pool_open(base, url, 2, JOBS_STMTS, JOBS_STMTS_N);
}

static void close_db(void)
{
	tdb_check_invariants(url, 1);
	db_pool_free(pool);
	event_base_free(base);
	free(url);
}

/* The answer of one operation. */
typedef struct result {
	int calls;
	int inside;
	char outcome[64]; /* "" when NULL */
	json_t *row;	  /* a copy, owned; NULL when none */
	char error[256];
} result;

static int in_call;

static void on_result(void *arg, const char *outcome, json_t *row, const char *error)
{
	result *r = arg;
	r->calls++;
	r->inside |= in_call;
	snprintf(r->outcome, sizeof r->outcome, "%s", outcome ? outcome : "");
	r->row = row ? json_deep_copy(row) : NULL;
	snprintf(r->error, sizeof r->error, "%s", error ? error : "");
}

static int answered(const void *arg)
{
	return ((const result *)arg)->calls > 0;
}

/* Runs statement `name` through jobs_call() and waits for its answer. */
static result call(const char *name, int n, const char *const *params)
{
	result r;
	memset(&r, 0, sizeof r);
	in_call = 1;
	int rc = jobs_call(pool, name, n, params, on_result, &r);
	in_call = 0;
	CHECK_INT(rc, 0);
	CHECK(tdb_loop_until(base, answered, &r, 10000));
	CHECK_INT(r.calls, 1);
	CHECK(!r.inside);
	if (r.error[0]) {
		fprintf(stderr, "%s: %s\n", name, r.error);
		exit(1);
	}
	return r;
}

static void result_free(result *r)
{
	json_decref(r->row);
	r->row = NULL;
}

static const char *str(const json_t *row, const char *key)
{
	return json_string_value(json_object_get(row, key));
}

static long long num(const json_t *row, const char *key)
{
	json_t *v = json_object_get(row, key);
	CHECK(json_is_integer(v));
	return json_integer_value(v);
}

/* Checks the outcome and, when `status` is given, the row's status. */
static void expect(const result *r, const char *outcome, const char *status)
{
	if (strcmp(r->outcome, outcome) != 0) {
		fprintf(stderr, "outcome %s, expected %s\n", r->outcome, outcome);
		exit(1);
	}
	if (status) {
		CHECK(r->row != NULL);
		if (strcmp(str(r->row, "status"), status) != 0) {
			fprintf(stderr, "status %s, expected %s\n", str(r->row, "status"), status);
			exit(1);
		}
	}
}

/* market_create with the usual texts; `caps` and `attachments` are JSON arrays or NULL. */
static result create(const char *sender, long long price, const char *caps, const char *sealed,
		     const char *attachments, char id[IDS_MAX_LEN])
{
	char price_text[24];
	snprintf(price_text, sizeof price_text, "%lld", price);
	CHECK_INT(ids_new("job", id), 0);
	const char *params[] = { id,
				 sender,
				 PROJECT_DEFAULT_ID,
				 "Translate The Contract",
				 "translate the contract",
				 "- translate the contract",
				 "translate the contract",
				 price_text,
				 "600",
				 caps ? caps : "[]",
				 NULL,
				 NULL,
				 sealed,
				 attachments };
	return call("market_create", 14, params);
}

/* Creates a queued job; returns nothing but its id. */
static char *queued_job(const char *sender, long long price, const char *caps, char id[IDS_MAX_LEN])
{
	result r = create(sender, price, caps, NULL, NULL, id);
	expect(&r, JOB_OK, "queued");
	result_free(&r);
	return id;
}

static result pull(const char *agent, int hold_seconds)
{
	char hold[16];
	snprintf(hold, sizeof hold, "%d", hold_seconds);
	const char *params[] = { agent, "worker-1", hold };
	return call("market_pull", 3, params);
}

/* An operation on (job, principal): market_pay, market_cancel, market_accept. */
static result op2(const char *name, const char *job, const char *who)
{
	const char *params[] = { job, who };
	return call(name, 2, params);
}

static result reject(const char *job, const char *agent)
{
	const char *params[] = { job, agent, "60" };
	return call("market_reject", 3, params);
}

static result submit(const char *job, const char *agent, const char *output)
{
	const char *params[] = { job, agent, output, NULL };
	return call("market_submit", 4, params);
}

static result fail(const char *job, const char *agent, const char *reason)
{
	const char *params[] = { job, agent, reason };
	return call("market_fail", 3, params);
}

/* Pulls (expecting `job`) and accepts it. */
static void pull_accept(const char *agent, const char *job)
{
	result r = pull(agent, 60);
	expect(&r, JOB_OK, "held");
	CHECK_STR(str(r.row, "id"), job);
	result_free(&r);
	r = op2("market_accept", job, agent);
	expect(&r, JOB_OK, "running");
	result_free(&r);
}

/* The job's column `col` as text, straight from the table. */
static char *column(const char *job, const char *col, char *out, size_t outlen)
{
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT %s FROM jobs WHERE id = $1", col);
	const char *p[] = { job };
	return tdb_value(url, sql, 1, p, out, outlen);
}

/* The status of the job's hold ("pending", "captured", "released"; "(none)"). */
static char *hold_status(const char *job, char out[16])
{
	const char *p[] = { job };
	return tdb_value(url,
			 "SELECT coalesce((SELECT status FROM ledger_holds WHERE job_id = $1),"
			 " '(none)')",
			 1, p, out, 16);
}

static long long wallet(const char *id)
{
	char account[64];
	snprintf(account, sizeof account, "wallet:%s", id);
	return tdb_balance(url, account);
}

/* Runs `sql` with the job's id as $1 (an UPDATE that must touch one row). */
static void on_job(const char *job, const char *sql)
{
	const char *p[] = { job };
	PGresult *res = tdb_exec(url, sql, 1, p);
	if (!db_result_ok(res) || strcmp(PQcmdTuples(res), "1") != 0) {
		fprintf(stderr, "%s: %s", sql, PQresultErrorMessage(res));
		exit(1);
	}
	PQclear(res);
}

/* ===== Tests: creating and paying ===== */

static void test_create_holds_or_waits_for_payment(void)
{
	open_db();
	char u[IDS_MAX_LEN], v[IDS_MAX_LEN], j1[IDS_MAX_LEN], j2[IDS_MAX_LEN], j3[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "user", NULL, v);
	tdb_fund(url, u, 1000);
	char s[16];

	result r = create(u, 400, "[\"translate\"]", "v1.sealed", NULL, j1);
	expect(&r, JOB_OK, "queued");
	CHECK_STR(str(r.row, "id"), j1);
	CHECK_STR(str(r.row, "kind"), "market");
	CHECK_STR(str(r.row, "sender_id"), u);
	CHECK_INT(num(r.row, "price_cents"), 400);
	CHECK_INT(num(r.row, "time_limit_seconds"), 600);
	CHECK_INT(num(r.row, "attempt_count"), 0);
	CHECK_INT(num(r.row, "max_attempts"), 3);
	CHECK_STR(json_string_value(
			  json_array_get(json_object_get(r.row, "required_capabilities"), 0)),
		  "translate");
	CHECK_STR(str(r.row, "env_vars_sealed"), "v1.sealed");
	result_free(&r);
	CHECK_STR(hold_status(j1, s), "pending");
	CHECK_INT(wallet(u), 600);

	/* Short of money: the job waits for payment, nothing is held. */
	r = create(u, 700, NULL, NULL, NULL, j2);
	expect(&r, JOB_INSUFFICIENT_BALANCE, "pending_payment");
	result_free(&r);
	CHECK_STR(hold_status(j2, s), "(none)");
	CHECK_INT(wallet(u), 600);
	r = op2("market_pay", j2, u);
	expect(&r, JOB_INSUFFICIENT_BALANCE, "pending_payment");
	result_free(&r);
	tdb_fund(url, u, 500);
	r = op2("market_pay", j2, v); /* not the sender's */
	expect(&r, JOB_NOT_FOUND, NULL);
	CHECK(r.row == NULL);
	r = op2("market_pay", j2, u);
	expect(&r, JOB_OK, "queued");
	result_free(&r);
	CHECK_STR(hold_status(j2, s), "pending");
	CHECK_INT(wallet(u), 400);
	r = op2("market_pay", j2, u);
	expect(&r, JOB_NOT_PENDING_PAYMENT, "queued");
	result_free(&r);
	CHECK_INT(wallet(u), 400);

	/* Free jobs are queued without a hold. */
	r = create(v, 0, NULL, NULL, NULL, j3);
	expect(&r, JOB_OK, "queued");
	result_free(&r);
	CHECK_STR(hold_status(j3, s), "(none)");

	/* An attachment that is not the sender's: refused, nothing made. */
	char att[IDS_MAX_LEN], j4[IDS_MAX_LEN], list[64];
	CHECK_INT(ids_new("att", att), 0);
	snprintf(list, sizeof list, "[\"%s\"]", att);
	r = create(u, 10, NULL, NULL, list, j4);
	expect(&r, JOB_ATTACHMENT_NOT_FOUND, NULL);
	CHECK(r.row == NULL);
	const char *p4[] = { j4 };
	CHECK_INT(tdb_int(url, "SELECT count(*) FROM jobs WHERE id = $1", 1, p4), 0);
	CHECK_INT(wallet(u), 400);
	close_db();
}

static void test_cancel_table(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], jp[IDS_MAX_LEN], jq[IDS_MAX_LEN], jh[IDS_MAX_LEN],
		jr[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_fund(url, u, 300);
	char s[16];
	result r = create(u, 1000, NULL, NULL, NULL, jp);
	expect(&r, JOB_INSUFFICIENT_BALANCE, "pending_payment");
	result_free(&r);
	queued_job(u, 100, NULL, jq);
	queued_job(u, 100, NULL, jh);
	queued_job(u, 100, NULL, jr);
	CHECK_INT(wallet(u), 0);
	/* jq is pulled first (oldest), then jh; jr is accepted. */
	r = pull(g, 60);
	result_free(&r);
	r = pull(g, 60);
	expect(&r, JOB_OK, "held");
	CHECK_STR(str(r.row, "id"), jh);
	result_free(&r);
	r = reject(jq, g);
	expect(&r, JOB_OK, "queued");
	result_free(&r);
	pull_accept(g, jr);

	r = op2("market_cancel", jp, u);
	expect(&r, JOB_OK, "cancelled");
	result_free(&r);
	r = op2("market_cancel", jq, u);
	expect(&r, JOB_OK, "cancelled");
	result_free(&r);
	CHECK_STR(hold_status(jq, s), "released");
	r = op2("market_cancel", jh, u);
	expect(&r, JOB_OK, "cancelled");
	CHECK(json_is_null(json_object_get(r.row, "agent_id")));
	CHECK(json_is_null(json_object_get(r.row, "hold_expires_at")));
	result_free(&r);
	CHECK_STR(hold_status(jh, s), "released");
	CHECK_INT(wallet(u), 200);
	/* Accepted: only a request; the money stays held. */
	r = op2("market_cancel", jr, u);
	expect(&r, JOB_OK, "running");
	CHECK(json_is_true(json_object_get(r.row, "cancellation_requested")));
	result_free(&r);
	CHECK_STR(hold_status(jr, s), "pending");
	/* Terminal: nothing. */
	r = op2("market_cancel", jq, u);
	expect(&r, JOB_OK, "cancelled");
	result_free(&r);
	CHECK_INT(wallet(u), 200);
	close_db();
}

/* ===== Tests: pulling, holding, accepting ===== */

static void test_pull_capabilities_order_and_rejections(void)
{
	open_db();
	char u[IDS_MAX_LEN], all[IDS_MAX_LEN], none[IDS_MAX_LEN], sum[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", "{summarise,translate,extra}", all);
	tdb_principal(url, "agent", NULL, none);
	tdb_principal(url, "agent", "{summarise}", sum);
	tdb_fund(url, u, 10000);
	char j1[IDS_MAX_LEN], j2[IDS_MAX_LEN], j3[IDS_MAX_LEN], j4[IDS_MAX_LEN];
	queued_job(u, 100, "[\"translate\"]", j1);
	queued_job(u, 100, NULL, j2);
	queued_job(u, 100, "[\"summarise\"]", j3);
	queued_job(u, 100, "[\"summarise\",\"translate\"]", j4);

	/* No capabilities: only the job that needs none. */
	int64_t before = clock_now_ms();
	result r = pull(none, 60);
	expect(&r, JOB_OK, "held");
	CHECK_STR(str(r.row, "id"), j2);
	CHECK_STR(str(r.row, "agent_id"), none);
	CHECK_STR(str(r.row, "agent_name"), "worker-1");
	int64_t expires = 0;
	CHECK_INT(clock_parse_rfc3339(str(r.row, "hold_expires_at"), &expires), 0);
	CHECK(expires >= before + 59000 && expires <= clock_now_ms() + 61000);
	result_free(&r);
	r = pull(none, 60);
	expect(&r, JOB_NONE, NULL);
	CHECK(r.row == NULL);

	/* A subset is not enough: j4 needs both. */
	r = pull(sum, 60);
	expect(&r, JOB_OK, "held");
	CHECK_STR(str(r.row, "id"), j3);
	result_free(&r);
	r = pull(sum, 60);
	expect(&r, JOB_NONE, NULL);

	/* Oldest first among the eligible. */
	r = pull(all, 60);
	expect(&r, JOB_OK, "held");
	CHECK_STR(str(r.row, "id"), j1);
	result_free(&r);

	/* A rejected job is not offered again to that agent for a while. */
	r = reject(j1, all);
	expect(&r, JOB_OK, "queued");
	CHECK(json_is_null(json_object_get(r.row, "agent_id")));
	result_free(&r);
	r = pull(all, 60);
	expect(&r, JOB_OK, "held");
	CHECK_STR(str(r.row, "id"), j4);
	result_free(&r);
	r = pull(all, 60);
	expect(&r, JOB_NONE, NULL);
	/* Rejecting what it does not hold. */
	r = reject(j1, all);
	expect(&r, JOB_NOT_HELD, "queued");
	result_free(&r);
	r = reject(j2, all);
	expect(&r, JOB_NOT_FOUND, NULL);

	/* Once the rejection runs out, it is offered again. */
	const char *pr[] = { j1 };
	tdb_ok(url,
	       "UPDATE job_rejections SET until = now() - interval '1 second' WHERE job_id = $1", 1,
	       pr);
	r = pull(all, 60);
	expect(&r, JOB_OK, "held");
	CHECK_STR(str(r.row, "id"), j1);
	result_free(&r);

	/* An unknown agent. */
	char nobody[IDS_MAX_LEN];
	CHECK_INT(ids_new("agt", nobody), 0);
	r = pull(nobody, 60);
	expect(&r, JOB_NOT_FOUND, NULL);
	/* Every agent that held a job is remembered. */
	CHECK_INT(tdb_int(url, "SELECT count(*) FROM job_holders", 0, NULL), 4);
	close_db();
}

static void test_concurrent_pulls_hold_distinct_jobs(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], j[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	for (int i = 0; i < 5; i++)
		queued_job(u, 0, NULL, j);
	enum {
		PULLERS = 12
	};
	char sqls[PULLERS][256];
	const char *list[PULLERS];
	for (int i = 0; i < PULLERS; i++) {
		snprintf(sqls[i], sizeof sqls[i],
			 "SELECT outcome, job->>'id' FROM market_pull('%s', 'w', '{}', 60)", g);
		list[i] = sqls[i];
	}
	PGresult **res = tdb_parallel(url, PULLERS, list);
	int held = 0;
	for (int i = 0; i < PULLERS; i++) {
		CHECK_INT(PQresultStatus(res[i]), PGRES_TUPLES_OK);
		held += strcmp(PQgetvalue(res[i], 0, 0), "ok") == 0;
		PQclear(res[i]);
	}
	free(res);
	CHECK_INT(held, 5);
	CHECK_INT(tdb_int(url, "SELECT count(*) FROM jobs WHERE status = 'held'", 0, NULL), 5);
	CHECK_INT(tdb_int(url, "SELECT count(*) FROM outbox WHERE type = 'job.held'", 0, NULL), 5);
	close_db();
}

/* The claim queue (migration 0004): exactly the queued market jobs, whatever moves them. */
static long long claimable(void)
{
	return tdb_int(url, "SELECT count(*) FROM claimable_jobs", 0, NULL);
}

static void test_pull_skips_locked_jobs_and_follows_the_queue(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], j1[IDS_MAX_LEN], j2[IDS_MAX_LEN], j3[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_fund(url, u, 1000);
	queued_job(u, 100, NULL, j1);
	queued_job(u, 100, NULL, j2);
	queued_job(u, 100, NULL, j3);
	char unpaid[IDS_MAX_LEN];
	result r = create(u, 100000, NULL, NULL, NULL, unpaid);
	expect(&r, JOB_INSUFFICIENT_BALANCE, "pending_payment");
	result_free(&r);
	CHECK_INT(claimable(), 3);

	/* Another transaction has the oldest job's row (a cancel in progress):
	 * pull takes the next one at once rather than waiting. */
	PGconn *other = tdb_connect(url);
	PQclear(PQexec(other, "BEGIN"));
	const char *p1[] = { j1, u };
	PGresult *res = PQexecParams(other, "SELECT outcome FROM market_cancel($1, $2)", 2, NULL,
				     p1, NULL, NULL, 0);
	CHECK_INT(PQresultStatus(res), PGRES_TUPLES_OK);
	PQclear(res);
	r = pull(g, 60);
	expect(&r, JOB_OK, "held");
	CHECK_STR(str(r.row, "id"), j2);
	result_free(&r);
	res = PQexec(other, "COMMIT");
	CHECK_INT(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	PQfinish(other);
	/* The cancelled job left the queue with its cancel. */
	r = pull(g, 60);
	expect(&r, JOB_OK, "held");
	CHECK_STR(str(r.row, "id"), j3);
	result_free(&r);
	CHECK_INT(claimable(), 0);
	r = pull(g, 60);
	expect(&r, JOB_NONE, NULL);

	/* Back to the queue: a rejection, an expired hold, a failed attempt. */
	r = reject(j3, g);
	expect(&r, JOB_OK, "queued");
	result_free(&r);
	on_job(j2, "UPDATE jobs SET hold_expires_at = now() - interval '1 second' WHERE id = $1");
	r = op2("market_accept", j2, g);
	expect(&r, JOB_HOLD_EXPIRED, "queued");
	result_free(&r);
	CHECK_INT(claimable(), 2);
	r = pull(g, 60);
	expect(&r, JOB_OK, "held");
	CHECK_STR(str(r.row, "id"), j2);
	result_free(&r);
	r = op2("market_accept", j2, g);
	expect(&r, JOB_OK, "running");
	result_free(&r);
	r = fail(j2, g, "could not");
	expect(&r, JOB_OK, "queued");
	result_free(&r);
	CHECK_INT(claimable(), 2);
	/* Paying puts the unpaid job in the queue, after the older ones. */
	tdb_fund(url, u, 100000);
	r = op2("market_pay", unpaid, u);
	expect(&r, JOB_OK, "queued");
	result_free(&r);
	CHECK_INT(claimable(), 3);
	const char *order[] = { j2, unpaid };
	for (int i = 0; i < 2; i++) {
		r = pull(g, 60);
		expect(&r, JOB_OK, "held");
		CHECK_STR(str(r.row, "id"), order[i]);
		result_free(&r);
	}
	r = op2("market_cancel", j3, u);
	expect(&r, JOB_OK, "cancelled");
	result_free(&r);
	CHECK_INT(claimable(), 0);
	close_db();
}

static void test_accept_and_hold_expiry(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], h[IDS_MAX_LEN], j[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_principal(url, "agent", NULL, h);
	tdb_fund(url, u, 1000);
	queued_job(u, 250, NULL, j);

	result r = pull(g, 60);
	expect(&r, JOB_OK, "held");
	result_free(&r);
	on_job(j, "UPDATE jobs SET hold_expires_at = now() - interval '1 second' WHERE id = $1");
	r = op2("market_accept", j, g);
	expect(&r, JOB_HOLD_EXPIRED, "queued");
	CHECK(json_is_null(json_object_get(r.row, "agent_id")));
	CHECK(json_is_null(json_object_get(r.row, "hold_expires_at")));
	CHECK_INT(num(r.row, "attempt_count"), 0);
	result_free(&r);
	char v[64], s[16];
	CHECK_STR(column(j, "status", v, sizeof v), "queued");
	CHECK_STR(hold_status(j, s), "pending");

	/* Rejecting an expired hold also puts it back, as not held. */
	r = pull(g, 60);
	result_free(&r);
	on_job(j, "UPDATE jobs SET hold_expires_at = now() - interval '1 second' WHERE id = $1");
	r = reject(j, g);
	expect(&r, JOB_NOT_HELD, "queued");
	result_free(&r);

	/* In time: running, with an attempt counted and a deadline. */
	r = pull(g, 60);
	expect(&r, JOB_OK, "held");
	result_free(&r);
	r = op2("market_accept", j, h); /* never held it */
	expect(&r, JOB_NOT_FOUND, NULL);
	r = op2("market_accept", j, g);
	expect(&r, JOB_OK, "running");
	CHECK_INT(num(r.row, "attempt_count"), 1);
	CHECK(json_is_null(json_object_get(r.row, "hold_expires_at")));
	int64_t accepted = 0, deadline = 0;
	CHECK_INT(clock_parse_rfc3339(str(r.row, "accepted_at"), &accepted), 0);
	CHECK_INT(clock_parse_rfc3339(str(r.row, "deadline_at"), &deadline), 0);
	CHECK_INT(deadline - accepted, 600 * 1000);
	result_free(&r);
	r = op2("market_accept", j, g);
	expect(&r, JOB_NOT_HELD, "running");
	result_free(&r);
	close_db();
}

/* ===== Tests: failing, submitting ===== */

static void test_fail_logic(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], h[IDS_MAX_LEN], j[IDS_MAX_LEN], k[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_principal(url, "agent", NULL, h);
	tdb_fund(url, u, 1000);
	queued_job(u, 300, NULL, j);
	char s[16], v[64];

	/* Attempts one and two go back to the queue, the money still held. */
	for (int attempt = 1; attempt <= 2; attempt++) {
		pull_accept(g, j);
		result r = fail(j, g, "could not finish");
		expect(&r, JOB_OK, "queued");
		CHECK_INT(num(r.row, "attempt_count"), attempt);
		CHECK_STR(str(r.row, "failure_reason"), "could not finish");
		CHECK(json_is_null(json_object_get(r.row, "agent_id")));
		CHECK(json_is_null(json_object_get(r.row, "accepted_at")));
		CHECK(json_is_null(json_object_get(r.row, "deadline_at")));
		result_free(&r);
		CHECK_STR(hold_status(j, s), "pending");
		CHECK_INT(wallet(u), 700);
	}
	/* Not accepted by it, or not its job. */
	result r = pull(g, 60);
	result_free(&r);
	r = fail(j, g, "x");
	expect(&r, JOB_NOT_ACCEPTED, "held");
	result_free(&r);
	r = fail(j, h, "x");
	expect(&r, JOB_NOT_FOUND, NULL);
	r = op2("market_accept", j, g);
	expect(&r, JOB_OK, "running");
	result_free(&r);
	/* The third attempt fails the job and refunds the sender. */
	r = fail(j, g, NULL);
	expect(&r, JOB_OK, "failed");
	CHECK_INT(num(r.row, "attempt_count"), 3);
	CHECK_STR(str(r.row, "failure_reason"), "failed by the agent");
	CHECK(json_is_string(json_object_get(r.row, "completed_at")));
	result_free(&r);
	CHECK_STR(hold_status(j, s), "released");
	CHECK_INT(wallet(u), 1000);
	r = fail(j, g, "again");
	expect(&r, JOB_NOT_ACCEPTED, "failed");
	result_free(&r);

	/* Cancellation requested: the next failure cancels with a refund. */
	queued_job(u, 400, NULL, k);
	CHECK_INT(wallet(u), 600);
	pull_accept(h, k);
	r = op2("market_cancel", k, u);
	expect(&r, JOB_OK, "running");
	result_free(&r);
	r = fail(k, h, "stopping");
	expect(&r, JOB_OK, "cancelled");
	CHECK_INT(num(r.row, "attempt_count"), 1);
	result_free(&r);
	CHECK_STR(hold_status(k, s), "released");
	CHECK_INT(wallet(u), 1000);
	CHECK_STR(column(k, "failure_reason", v, sizeof v), "stopping");
	close_db();
}

static void test_submit_and_deadline(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], j[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_fund(url, u, 1000);
	queued_job(u, 300, NULL, j);
	char s[16];

	/* Past the deadline: refused, and the attempt fails (back to the queue). */
	pull_accept(g, j);
	on_job(j, "UPDATE jobs SET deadline_at = now() - interval '1 second' WHERE id = $1");
	result r = submit(j, g, "{\"answer\":1}");
	expect(&r, JOB_DEADLINE_PASSED, "queued");
	CHECK_STR(str(r.row, "failure_reason"), "deadline_passed");
	CHECK_INT(num(r.row, "attempt_count"), 1);
	CHECK(json_is_null(json_object_get(r.row, "output")));
	result_free(&r);
	CHECK_STR(hold_status(j, s), "pending");

	/* In time: submitted with its output. */
	pull_accept(g, j);
	r = submit(j, g, "{\"answer\":42}");
	expect(&r, JOB_OK, "submitted");
	CHECK_INT(json_integer_value(json_object_get(json_object_get(r.row, "output"), "answer")),
		  42);
	CHECK(json_is_string(json_object_get(r.row, "submitted_at")));
	result_free(&r);
	r = submit(j, g, "{\"answer\":43}");
	expect(&r, JOB_NOT_ACCEPTED, "submitted");
	result_free(&r);

	/* The last attempt past its deadline fails the job with a refund. */
	char k[IDS_MAX_LEN];
	queued_job(u, 200, NULL, k);
	pull_accept(g, k);
	on_job(k, "UPDATE jobs SET attempt_count = 3,"
		  " deadline_at = now() - interval '1 second' WHERE id = $1");
	r = submit(k, g, "{}");
	expect(&r, JOB_DEADLINE_PASSED, "failed");
	result_free(&r);
	CHECK_STR(hold_status(k, s), "released");
	CHECK_INT(wallet(u), 700);
	close_db();
}

/* ===== Tests: the state machine and the outbox ===== */

static void test_transitions_guarded(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], j[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_fund(url, u, 1000);
	queued_job(u, 100, NULL, j);
	char state[6], v[64];
	const char *p[] = { j };
	/* (queued → failed is allowed: a dispatched job whose webhook never got through) */
	static const char *const refused[] = { "completed", "submitted", "pending_payment",
					       "proposed", "archived" };
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		char sql[128];
		snprintf(sql, sizeof sql, "UPDATE jobs SET status = '%s' WHERE id = $1",
			 refused[i]);
		tdb_fails(url, sql, 1, p, state);
		if (strcmp(state, "23514") != 0) {
			fprintf(stderr, "queued -> %s: SQLSTATE %s\n", refused[i], state);
			exit(1);
		}
	}
	CHECK_STR(column(j, "status", v, sizeof v), "queued");
	/* A word that is no status at all. */
	tdb_fails(url, "UPDATE jobs SET status = 'verified' WHERE id = $1", 1, p, state);
	CHECK(strcmp(state, "23514") == 0 || strcmp(state, "23503") == 0);
	/* From a terminal status, only to archived. */
	result r = op2("market_cancel", j, u);
	expect(&r, JOB_OK, "cancelled");
	result_free(&r);
	tdb_fails(url, "UPDATE jobs SET status = 'queued' WHERE id = $1", 1, p, state);
	CHECK_STR(state, "23514");
	on_job(j, "UPDATE jobs SET status = 'archived' WHERE id = $1");
	/* Other columns change freely. */
	on_job(j, "UPDATE jobs SET title = 'renamed' WHERE id = $1");
	close_db();
}

static void test_outbox_rows_per_transition(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], j[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_fund(url, u, 100);
	result r = create(u, 500, NULL, NULL, NULL, j);
	expect(&r, JOB_INSUFFICIENT_BALANCE, "pending_payment");
	result_free(&r);
	tdb_fund(url, u, 400);
	r = op2("market_pay", j, u);
	expect(&r, JOB_OK, "queued");
	result_free(&r);
	pull_accept(g, j);
	r = op2("market_cancel", j, u); /* no status change: no event */
	result_free(&r);
	r = submit(j, g, "{\"ok\":true}");
	expect(&r, JOB_OK, "submitted");
	result_free(&r);

	const char *p[] = { j };
	PGresult *res = tdb_exec(url,
				 "SELECT stream, type, payload->>'from', payload->>'status',"
				 " payload->>'job_id', payload->>'sender_id', event_id,"
				 " published_at IS NULL"
				 " FROM outbox WHERE job_id = $1 ORDER BY id",
				 1, p);
	CHECK_INT(PQresultStatus(res), PGRES_TUPLES_OK);
	static const struct {
		const char *stream, *type, *from, *status;
	} want[] = {
		{ "events", "job.pending_payment", "", "pending_payment" },
		{ "events", "job.queued", "pending_payment", "queued" },
		{ "events", "job.held", "queued", "held" },
		{ "events", "job.running", "held", "running" },
		{ "events", "job.submitted", "running", "submitted" },
		{ "verify", "job.submitted", "running", "submitted" },
	};
	int n = (int)(sizeof want / sizeof want[0]);
	CHECK_INT(PQntuples(res), n);
	for (int i = 0; i < n; i++) {
		CHECK_STR(PQgetvalue(res, i, 0), want[i].stream);
		CHECK_STR(PQgetvalue(res, i, 1), want[i].type);
		CHECK_STR(PQgetvalue(res, i, 2), want[i].from);
		CHECK_INT(PQgetisnull(res, i, 2), want[i].from[0] == '\0');
		CHECK_STR(PQgetvalue(res, i, 3), want[i].status);
		CHECK_STR(PQgetvalue(res, i, 4), j);
		CHECK_STR(PQgetvalue(res, i, 5), u);
		CHECK(ids_valid(PQgetvalue(res, i, 6), "evt"));
		CHECK_STR(PQgetvalue(res, i, 7), "t");
	}
	PQclear(res);
	close_db();
}

/* ===== Tests: the sweep ===== */

/* SELECT * FROM market_sweep(limit): the two counts. */
static void sweep(int limit, long long *released, long long *failed)
{
	char l[16];
	snprintf(l, sizeof l, "%d", limit);
	const char *p[] = { l };
	PGresult *res = tdb_exec(
		url, "SELECT released_holds, failed_deadlines FROM market_sweep($1)", 1, p);
	CHECK_INT(PQresultStatus(res), PGRES_TUPLES_OK);
	*released = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	*failed = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
}

static void test_sweep(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_fund(url, u, 10000);
	char a[IDS_MAX_LEN], b[IDS_MAX_LEN], c[IDS_MAX_LEN], d[IDS_MAX_LEN], e[IDS_MAX_LEN];
	queued_job(u, 100, NULL, a);
	queued_job(u, 200, NULL, b);
	queued_job(u, 300, NULL, c);
	queued_job(u, 400, NULL, d);
	queued_job(u, 500, NULL, e);
	result r = pull(g, 60);
	result_free(&r);
	pull_accept(g, b);
	pull_accept(g, c);
	r = pull(g, 60); /* d stays held */
	result_free(&r);
	pull_accept(g, e); /* e stays running */
	on_job(a, "UPDATE jobs SET hold_expires_at = now() - interval '1 second' WHERE id = $1");
	on_job(b, "UPDATE jobs SET deadline_at = now() - interval '1 second' WHERE id = $1");
	on_job(c, "UPDATE jobs SET attempt_count = 3, deadline_at = now() - interval '1 second'"
		  " WHERE id = $1");
	long long released = -1, failed = -1;
	sweep(100, &released, &failed);
	char v[64], s[16];
	CHECK_STR(column(a, "status", v, sizeof v), "queued");
	CHECK_STR(column(a, "agent_id", v, sizeof v), "(null)");
	CHECK_STR(column(a, "attempt_count", v, sizeof v), "0");
	CHECK_STR(column(b, "status", v, sizeof v), "queued");
	CHECK_STR(column(b, "failure_reason", v, sizeof v), "deadline_passed");
	CHECK_STR(hold_status(b, s), "pending");
	CHECK_STR(column(c, "status", v, sizeof v), "failed");
	CHECK_STR(hold_status(c, s), "released");
	CHECK_STR(column(d, "status", v, sizeof v), "held");
	CHECK_STR(column(e, "status", v, sizeof v), "running");
	CHECK_INT(wallet(u), 10000 - 100 - 200 - 400 - 500);
	/* What the sweep reports: one hold released, two deadlines failed. */
	if (released != 1 || failed != 2) {
		fprintf(stderr,
			"market_sweep reported %lld released holds and %lld failed deadlines,"
			" expected 1 and 2\n",
			released, failed);
		exit(1);
	}
	/* Nothing left to do. */
	sweep(100, &released, &failed);
	CHECK_INT(released, 0);
	CHECK_INT(failed, 0);
	close_db();
}

/* Makes `nheld` held jobs with expired holds and `nrunning` running jobs past their deadline. */
static void make_overdue(const char *u, const char *g, int nheld, int nrunning)
{
	char j[IDS_MAX_LEN];
	for (int i = 0; i < nheld + nrunning; i++)
		queued_job(u, 10, NULL, j);
	char sql[512];
	snprintf(sql, sizeof sql,
		 "DO $$ DECLARE v_id text; BEGIN"
		 " FOR i IN 1..%d LOOP PERFORM market_pull('%s', 'w', '{}', 60); END LOOP;"
		 " FOR v_id IN SELECT id FROM jobs WHERE status = 'held' ORDER BY id LIMIT %d LOOP"
		 "  PERFORM market_accept(v_id, '%s'); END LOOP; END $$",
		 nheld + nrunning, g, nrunning, g);
	tdb_ok(url, sql, 0, NULL);
	CHECK_INT(tdb_int(url, "SELECT count(*) FROM jobs WHERE status = 'held'", 0, NULL), nheld);
	CHECK_INT(tdb_int(url, "SELECT count(*) FROM jobs WHERE status = 'running'", 0, NULL),
		  nrunning);
	tdb_ok(url,
	       "UPDATE jobs SET hold_expires_at = now() - interval '1 second' WHERE status = 'held'",
	       0, NULL);
	tdb_ok(url,
	       "UPDATE jobs SET deadline_at = now() - interval '1 second' WHERE status = 'running'",
	       0, NULL);
}

/*
 * Runs `n` sweeps with `limit` at once, each in a transaction that keeps
 * its row locks for `hold_ms` after the sweep; adds up what they report.
 */
static void sweep_parallel(int n, int limit, int hold_ms, long long *released, long long *failed)
{
	char sqls[8][256];
	const char *list[8];
	CHECK(n <= 8);
	for (int i = 0; i < n; i++) {
		snprintf(sqls[i], sizeof sqls[i],
			 "BEGIN; SELECT released_holds, failed_deadlines FROM market_sweep(%d);"
			 " SELECT pg_sleep(%d / 1000.0); COMMIT",
			 limit, hold_ms);
		list[i] = sqls[i];
	}
	PGresult **res = tdb_parallel(url, n, list);
	*released = *failed = 0;
	for (int i = 0; i < n; i++) {
		if (PQresultStatus(res[i]) != PGRES_TUPLES_OK) {
			fprintf(stderr, "sweep %d: %s", i, PQresultErrorMessage(res[i]));
			exit(1);
		}
		*released += strtoll(PQgetvalue(res[i], 0, 0), NULL, 10);
		*failed += strtoll(PQgetvalue(res[i], 0, 1), NULL, 10);
		PQclear(res[i]);
	}
	free(res);
}

/* Jobs that went back to the queue from `from` ("held", "running"), by their events. */
static long long requeued_from(const char *from)
{
	const char *p[] = { from };
	return tdb_int(url,
		       "SELECT count(*) FROM outbox WHERE type = 'job.queued'"
		       " AND payload->>'from' = $1",
		       1, p);
}

/*
 * Sweepers at once never do the same work twice: each overdue job is
 * handled (and counted) once. The exact released_holds count is
 * test_sweep's; here it must at least never exceed the holds released.
 */
static void test_concurrent_sweeps_count_once(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_fund(url, u, 100000);

	/* Whole batches at once. */
	make_overdue(u, g, 40, 20);
	long long released = 0, failed = 0;
	sweep_parallel(4, 1000, 300, &released, &failed);
	CHECK_INT(failed, 20);
	CHECK(released <= 40);
	CHECK_INT(tdb_int(url, "SELECT count(*) FROM jobs WHERE status <> 'queued'", 0, NULL), 0);
	CHECK_INT(requeued_from("held"), 40);
	CHECK_INT(requeued_from("running"), 20);
	CHECK_INT(tdb_int(url,
			  "SELECT count(*) FROM jobs WHERE attempt_count <>"
			  " (CASE WHEN failure_reason IS NULL THEN 0 ELSE 1 END)",
			  0, NULL),
		  0);

	/* Small batches, several sweepers, rounds until nothing is overdue. */
	make_overdue(u, g, 30, 30);
	long long total_released = 0, total_failed = 0;
	for (int round = 0; round < 50; round++) {
		sweep_parallel(6, 4, 20, &released, &failed);
		total_released += released;
		total_failed += failed;
		if (tdb_int(url, "SELECT count(*) FROM jobs WHERE status <> 'queued'", 0, NULL) ==
		    0)
			break;
	}
	CHECK_INT(total_failed, 30);
	CHECK(total_released <= 30);
	CHECK_INT(tdb_int(url, "SELECT count(*) FROM jobs WHERE status <> 'queued'", 0, NULL), 0);
	CHECK_INT(requeued_from("held"), 40 + 30);
	CHECK_INT(requeued_from("running"), 20 + 30);
	close_db();
}

/* ===== Tests: views ===== */

static principal viewer(const char *id, const char *role)
{
	principal p;
	memset(&p, 0, sizeof p);
	snprintf(p.id, sizeof p.id, "%s", id);
	snprintf(p.role, sizeof p.role, "%s", role);
	snprintf(p.project_id, sizeof p.project_id, "%s", PROJECT_DEFAULT_ID);
	snprintf(p.name, sizeof p.name, "viewer");
	return p;
}

/* The row of market_get for `who`; NULL when it may not see it. */
static json_t *get(const char *job, const char *who)
{
	result r = op2("market_get", job, who);
	if (strcmp(r.outcome, JOB_NOT_FOUND) == 0)
		return NULL;
	expect(&r, JOB_OK, NULL);
	return r.row;
}

static void test_market_view(void)
{
	open_db();
	char u[IDS_MAX_LEN], v[IDS_MAX_LEN], g[IDS_MAX_LEN], h[IDS_MAX_LEN], j[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "user", NULL, v);
	tdb_principal(url, "agent", NULL, g);
	tdb_principal(url, "agent", NULL, h);
	tdb_fund(url, u, 1000);
	result r = create(u, 300, NULL, "v1.sealed", NULL, j);
	result_free(&r);
	/* h holds it and lets it go; g takes it. */
	r = pull(h, 60);
	result_free(&r);
	r = reject(j, h);
	result_free(&r);
	pull_accept(g, j);
	r = submit(j, g, "{\"answer\":42}");
	result_free(&r);

	principal pu = viewer(u, "user"), pv = viewer(v, "user"), pg = viewer(g, "agent"),
		  ph = viewer(h, "agent");
	/* Who may read it at all: the sender and every agent that held it. */
	CHECK(get(j, v) == NULL);
	json_t *row = get(j, u);
	CHECK(row != NULL);
	json_t *rh = get(j, h);
	CHECK(rh != NULL);
	json_decref(rh);

	json_t *env = json_pack("{s:s}", "TOKEN", "abc");
	const principal *parties[] = { &pu, &pg };
	for (int i = 0; i < 2; i++) {
		CHECK(jobs_market_is_party(row, parties[i]));
		json_t *view = jobs_market_view(row, parties[i], env);
		CHECK_STR(str(view, "id"), j);
		CHECK_STR(str(view, "status"), "submitted");
		CHECK_INT(json_integer_value(
				  json_object_get(json_object_get(view, "output"), "answer")),
			  42);
		CHECK(json_equal(json_object_get(view, "envVars"), env));
		CHECK(json_is_array(json_object_get(view, "output_attachments")));
		CHECK_INT(num(view, "price_cents"), 300);
		CHECK_STR(str(view, "agent_id"), g);
		const char *created = str(view, "created_at");
		CHECK(created && created[strlen(created) - 1] == 'Z');
		CHECK(json_is_null(json_object_get(view, "verified_at")));
		CHECK(json_object_get(view, "env_vars_sealed") == NULL);
		json_decref(view);
	}
	/* Without the opened envVars, the party sees null. */
	json_t *view = jobs_market_view(row, &pu, NULL);
	CHECK(json_is_null(json_object_get(view, "envVars")));
	json_decref(view);
	/* Not a party: neither output nor envVars, whatever is passed. */
	const principal *others[] = { &pv, &ph };
	for (int i = 0; i < 2; i++) {
		CHECK(!jobs_market_is_party(row, others[i]));
		view = jobs_market_view(row, others[i], env);
		CHECK_STR(str(view, "status"), "submitted");
		CHECK(json_object_get(view, "output") == NULL);
		CHECK(json_object_get(view, "envVars") == NULL);
		CHECK(json_object_get(view, "output_attachments") == NULL);
		CHECK(json_object_get(view, "env_vars_sealed") == NULL);
		CHECK_STR(str(view, "title"), "Translate The Contract");
		json_decref(view);
	}
	json_decref(row);

	/* running -> accepted, completed -> verified (with its time). */
	char k[IDS_MAX_LEN];
	queued_job(u, 100, NULL, k);
	pull_accept(h, k);
	row = get(k, u);
	view = jobs_market_view(row, &pu, NULL);
	CHECK_STR(str(view, "status"), "accepted");
	json_decref(view);
	json_decref(row);
	on_job(j, "UPDATE jobs SET status = 'completed', completed_at = now() WHERE id = $1");
	const char *pj[] = { j, g };
	tdb_ok(url, "SELECT ledger_capture($1, $2, 1000)", 2, pj);
	row = get(j, u);
	view = jobs_market_view(row, &pu, NULL);
	CHECK_STR(str(view, "status"), "verified");
	const char *verified = str(view, "verified_at");
	int64_t ms = 0;
	CHECK(verified != NULL);
	CHECK_INT(clock_parse_rfc3339(verified, &ms), 0);
	CHECK(ms > clock_now_ms() - 60000);
	json_decref(view);
	json_decref(row);
	/* A failure reason shows once there is one. */
	row = get(k, u);
	view = jobs_market_view(row, &pu, NULL);
	CHECK(json_object_get(view, "failure_reason") == NULL);
	json_decref(view);
	json_decref(row);
	r = fail(k, h, "no luck");
	result_free(&r);
	row = get(k, u);
	view = jobs_market_view(row, &pu, NULL);
	CHECK_STR(str(view, "status"), "queued");
	CHECK_STR(str(view, "failure_reason"), "no luck");
	json_decref(view);
	json_decref(row);
	json_decref(env);
	close_db();
}

static void test_market_words(void)
{
	static const struct {
		const char *word, *canonical;
	} words[] = {
		{ "pending_payment", "pending_payment" },
		{ "queued", "queued" },
		{ "held", "held" },
		{ "accepted", "running" },
		{ "submitted", "submitted" },
		{ "verified", "completed" },
		{ "cancelled", "cancelled" },
		{ "failed", "failed" },
	};
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		CHECK_STR(jobs_market_canonical(words[i].word), words[i].canonical);
		CHECK_STR(jobs_market_status(words[i].canonical), words[i].word);
	}
	static const char *const unknown[] = { "running",  "completed", "proposed", "pending",
					       "archived", "",		"Queued",   "queued ",
					       "verify",   "accept" };
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
		if (jobs_market_canonical(unknown[i]) != NULL) {
			fprintf(stderr, "'%s' taken as a status word\n", unknown[i]);
			exit(1);
		}
	}
}

/* ===== Tests: lists ===== */

typedef struct listed {
	int calls;
	json_t *rows; /* a copy, owned */
	char cursor[256];
	int has_cursor;
	char error[256];
} listed;

static void on_listed(void *arg, json_t *rows, const char *next_cursor, const char *error)
{
	listed *l = arg;
	l->calls++;
	l->rows = rows ? json_deep_copy(rows) : NULL;
	l->has_cursor = next_cursor != NULL;
	snprintf(l->cursor, sizeof l->cursor, "%s", next_cursor ? next_cursor : "");
	snprintf(l->error, sizeof l->error, "%s", error ? error : "");
}

static int listed_done(const void *arg)
{
	return ((const listed *)arg)->calls > 0;
}

/* Every page of `who`'s list, `limit` at a time: the job ids, newest first. */
static json_t *list_all(const principal *who, const char *const *statuses, int nstatuses, int limit)
{
	json_t *ids = json_array();
	char cursor[256] = "";
	for (int page = 0; page < 50; page++) {
		listed l;
		memset(&l, 0, sizeof l);
		CHECK_INT(jobs_market_list(pool, who, statuses, nstatuses, limit,
					   cursor[0] ? cursor : NULL, on_listed, &l),
			  0);
		CHECK(tdb_loop_until(base, listed_done, &l, 10000));
		CHECK_STR(l.error, "");
		CHECK(json_array_size(l.rows) <= (size_t)limit);
		size_t i;
		json_t *row;
		json_array_foreach(l.rows, i, row)
			json_array_append(ids, json_object_get(row, "id"));
		json_decref(l.rows);
		if (!l.has_cursor)
			return ids;
		snprintf(cursor, sizeof cursor, "%s", l.cursor);
	}
	fprintf(stderr, "the list does not end\n");
	exit(1);
}

static void test_market_list(void)
{
	open_db();
	char u[IDS_MAX_LEN], v[IDS_MAX_LEN], g[IDS_MAX_LEN], jobs[5][IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "user", NULL, v);
	tdb_principal(url, "agent", NULL, g);
	for (int i = 0; i < 5; i++)
		queued_job(u, 0, NULL, jobs[i]);
	char other[IDS_MAX_LEN];
	queued_job(v, 0, NULL, other);
	principal pu = viewer(u, "user"), pg = viewer(g, "agent");
	for (int limit = 1; limit <= 6; limit++) {
		json_t *ids = list_all(&pu, NULL, 0, limit);
		CHECK_INT(json_array_size(ids), 5);
		for (int i = 0; i < 5; i++)
			CHECK_STR(json_string_value(json_array_get(ids, (size_t)i)), jobs[4 - i]);
		json_decref(ids);
	}
	/* The agent lists what it holds; statuses filter. */
	result r = pull(g, 60);
	result_free(&r);
	json_t *ids = list_all(&pg, NULL, 0, 10);
	CHECK_INT(json_array_size(ids), 1);
	CHECK_STR(json_string_value(json_array_get(ids, 0)), jobs[0]);
	json_decref(ids);
	const char *held[] = { "held" };
	ids = list_all(&pu, held, 1, 10);
	CHECK_INT(json_array_size(ids), 1);
	json_decref(ids);
	const char *both[] = { "held", "queued" };
	ids = list_all(&pu, both, 2, 2);
	CHECK_INT(json_array_size(ids), 5);
	json_decref(ids);
	/* A malformed cursor. */
	listed l;
	memset(&l, 0, sizeof l);
	CHECK_INT(jobs_market_list(pool, &pu, NULL, 0, 10, "nonsense!", on_listed, &l), -1);
	CHECK_INT(l.calls, 0);
	close_db();
}

TEST_MAIN(TEST(test_create_holds_or_waits_for_payment), TEST(test_cancel_table),
	  TEST(test_pull_capabilities_order_and_rejections),
	  TEST(test_concurrent_pulls_hold_distinct_jobs),
	  TEST(test_pull_skips_locked_jobs_and_follows_the_queue),
	  TEST(test_accept_and_hold_expiry), TEST(test_fail_logic), TEST(test_submit_and_deadline),
	  TEST(test_transitions_guarded), TEST(test_outbox_rows_per_transition), TEST(test_sweep),
	  TEST(test_concurrent_sweeps_count_once), TEST(test_market_view), TEST(test_market_words),
	  TEST(test_market_list))
