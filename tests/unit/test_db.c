/* Unit tests of db.c: the pipelined libpq pool against a real PostgreSQL. */
#include <stdint.h>

#include "clock.h"
#include "db.h"
#include "metrics.h"
#include "testdb.h"

static const db_stmt STMTS[] = {
	{ "add_one", "SELECT $1::int + 1, pg_backend_pid()", 1 },
	{ "divide", "SELECT 100 / $1::int", 1 },
	{ "is_null", "SELECT $1::text IS NULL", 1 },
	{ "sleep", "SELECT pg_sleep($1::float8), 1", 1 },
	{ "backend", "SELECT pg_backend_pid()", 0 },
};
#define STMTS_N (sizeof STMTS / sizeof STMTS[0])

/* ===== Recording results ===== */

/* What one query's callback saw. */
typedef struct result {
	int calls;
	int inside; /* called from inside db_query() */
	int had_res;
	ExecStatusType status;
	char sqlstate[8];
	char error[256];
	char value[64];	 /* first cell; "" when none */
	char value2[64]; /* second cell */
	int is_null;	 /* the first cell is SQL NULL */
	int seq;	 /* order of arrival among all callbacks */
	int64_t at_ms;	 /* monotonic time of the call */
} result;

static int in_db_query;	 /* set around db_query() calls */
static int results_seen; /* callbacks run, all queries together */

static void on_result(void *arg, PGresult *res, const char *error)
{
	result *r = arg;
	r->calls++;
	r->inside |= in_db_query;
	r->at_ms = clock_mono_ms();
	r->seq = results_seen++;
	r->had_res = res != NULL;
	if (error)
		snprintf(r->error, sizeof r->error, "%s", error);
	if (!res)
		return;
	r->status = PQresultStatus(res);
	snprintf(r->sqlstate, sizeof r->sqlstate, "%s", db_result_sqlstate(res));
	if (r->status == PGRES_TUPLES_OK && PQntuples(res) >= 1) {
		r->is_null = PQgetisnull(res, 0, 0);
		snprintf(r->value, sizeof r->value, "%s", PQgetvalue(res, 0, 0));
		if (PQnfields(res) >= 2)
			snprintf(r->value2, sizeof r->value2, "%s", PQgetvalue(res, 0, 1));
	}
}

/* Queues `name` with one parameter (or none when `value` is NULL and nparams 0). */
static int query(db_pool *pool, const char *name, int nparams, const char *value, result *r)
{
	const char *values[] = { value };
	in_db_query = 1;
	int rc = db_query(pool, name, nparams, nparams ? values : NULL, on_result, r);
	in_db_query = 0;
	return rc;
}

/* Runs the loop until `n` more callbacks have run. Returns 1 when they did. */
static int wait_results(struct event_base *base, int n, int timeout_ms)
{
	return tdb_loop_until_more(base, &results_seen, n, timeout_ms);
}

static int result_ok(const result *r)
{
	return r->calls == 1 && r->had_res &&
	       (r->status == PGRES_TUPLES_OK || r->status == PGRES_COMMAND_OK);
}

/* A started pool on `url` with STMTS registered (not waited for). */
static db_pool *pool_open(struct event_base *base, const char *url, const db_options *opt)
{
	return tdb_pool_start(base, tdb_pool_new(base, url, opt, STMTS, STMTS_N), 0);
}

static int gauge_target;

static int all_connections_ready(const void *arg)
{
	(void)arg;
	metric *m = metrics_gauge("errand_db_connections_ready", "PostgreSQL connections ready.");
	return metrics_value(m) >= gauge_target;
}

/* ===== Tests ===== */

#define MANY 2000

static void test_many_queries_one_turn(void)
{
	struct event_base *base = event_base_new();
	db_options opt = { .size = 4, .queue_max = 4 * MANY, .timeout_ms = 20000 };
	db_pool *pool = pool_open(base, tdb_pg_url(), &opt);
	gauge_target = 4;
	CHECK(tdb_loop_until(base, all_connections_ready, NULL, 10000));
	CHECK(db_pool_ready(pool));

	result *rs = calloc(MANY, sizeof *rs);
	CHECK(rs != NULL);
	for (int i = 0; i < MANY; i++) {
		char v[16];
		snprintf(v, sizeof v, "%d", i);
		CHECK_INT(query(pool, "add_one", 1, v, &rs[i]), 0);
	}
	/* Nothing ran inside the calls; all of them are pending. */
	CHECK_INT(results_seen, 0);
	CHECK_INT(db_pool_pending(pool), MANY);

	CHECK(wait_results(base, MANY, 60000));
	tdb_loop_for(base, 50); /* a duplicate answer would show up here */
	CHECK_INT(results_seen, MANY);
	CHECK_INT(db_pool_pending(pool), 0);

	/* Each answered once, with its own value; per backend, in order of submission. */
	struct {
		char pid[64];
		int last;
	} backends[4];
	int nbackends = 0;
	for (int i = 0; i < MANY; i++) {
		result *r = &rs[i];
		CHECK_INT(r->calls, 1);
		CHECK(!r->inside);
		CHECK(result_ok(r));
		CHECK_INT(atoi(r->value), i + 1);
		int b = 0;
		while (b < nbackends && strcmp(backends[b].pid, r->value2) != 0)
			b++;
		if (b == nbackends) {
			CHECK(nbackends < 4);
			snprintf(backends[b].pid, sizeof backends[b].pid, "%s", r->value2);
			backends[b].last = -1;
			nbackends++;
		}
		/* Query i came after every lower one on the same connection. */
		if (backends[b].last >= 0)
			CHECK(rs[backends[b].last].seq < r->seq);
		backends[b].last = i;
	}
	/* 2000 queries are more than one connection's pipeline: several served them. */
	CHECK(nbackends >= 2);
	free(rs);
	db_pool_free(pool);
	event_base_free(base);
}

/* Arrival order per backend: a callback records its index in a shared sequence. */
static int order_seq[64];
static int order_n;

static void on_ordered(void *arg, PGresult *res, const char *error)
{
	(void)error;
	CHECK(db_result_ok(res));
	CHECK(order_n < 64);
	order_seq[order_n++] = (int)(intptr_t)arg;
}

static int order_done(const void *arg)
{
	return order_n >= *(const int *)arg;
}

static void test_one_connection_keeps_order(void)
{
	struct event_base *base = event_base_new();
	db_options opt = { .size = 1, .queue_max = 100, .timeout_ms = 10000 };
	db_pool *pool = pool_open(base, tdb_pg_url(), &opt);
	CHECK(tdb_loop_until(base, tdb_pool_ready, pool, 10000));
	int n = 64;
	for (int i = 0; i < n; i++) {
		char v[16];
		snprintf(v, sizeof v, "%d", i);
		const char *values[] = { v };
		CHECK_INT(db_query(pool, "add_one", 1, values, on_ordered, (void *)(intptr_t)i), 0);
	}
	CHECK(tdb_loop_until(base, order_done, &n, 10000));
	for (int i = 0; i < n; i++)
		CHECK_INT(order_seq[i], i);
	db_pool_free(pool);
	event_base_free(base);
}

static void test_sql_error_then_next_query(void)
{
	struct event_base *base = event_base_new();
	db_options opt = { .size = 1, .queue_max = 100, .timeout_ms = 10000 };
	db_pool *pool = pool_open(base, tdb_pg_url(), &opt);
	CHECK(tdb_loop_until(base, tdb_pool_ready, pool, 10000));

	/* Errors and good queries interleaved in one pipeline. */
	result r[6];
	memset(r, 0, sizeof r);
	CHECK_INT(query(pool, "divide", 1, "0", &r[0]), 0);
	CHECK_INT(query(pool, "add_one", 1, "1", &r[1]), 0);
	CHECK_INT(query(pool, "add_one", 1, "not a number", &r[2]), 0);
	CHECK_INT(query(pool, "divide", 1, "4", &r[3]), 0);
	CHECK_INT(query(pool, "divide", 1, "0", &r[4]), 0);
	CHECK(wait_results(base, 5, 10000));

	CHECK_INT(r[0].calls, 1);
	CHECK(r[0].had_res);
	CHECK_INT(r[0].status, PGRES_FATAL_ERROR);
	CHECK_STR(r[0].sqlstate, "22012");
	CHECK(strstr(r[0].error, "division by zero") != NULL);
	CHECK(result_ok(&r[1]));
	CHECK_STR(r[1].value, "2");
	CHECK_STR(r[1].sqlstate, "");
	CHECK_INT(r[2].status, PGRES_FATAL_ERROR);
	CHECK_STR(r[2].sqlstate, "22P02");
	CHECK(result_ok(&r[3]));
	CHECK_STR(r[3].value, "25");
	CHECK_INT(r[4].status, PGRES_FATAL_ERROR);
	CHECK_STR(r[4].sqlstate, "22012");

	/* The next query, in a later turn, still works. */
	CHECK_INT(query(pool, "add_one", 1, "41", &r[5]), 0);
	CHECK(wait_results(base, 1, 10000));
	CHECK(result_ok(&r[5]));
	CHECK_STR(r[5].value, "42");
	CHECK(r[5].error[0] == '\0');
	CHECK(db_pool_ready(pool));
	for (int i = 0; i < 6; i++)
		CHECK(!r[i].inside);
	db_pool_free(pool);
	event_base_free(base);
}

static void test_result_helpers(void)
{
	CHECK(!db_result_ok(NULL));
	CHECK_STR(db_result_sqlstate(NULL), "");
	PGresult *res = tdb_exec(tdb_pg_url(), "SELECT 1", 0, NULL);
	CHECK(db_result_ok(res));
	CHECK_STR(db_result_sqlstate(res), "");
	PQclear(res);
	res = tdb_exec(tdb_pg_url(), "SET application_name = 'errand_test'", 0, NULL);
	CHECK(db_result_ok(res));
	PQclear(res);
	res = tdb_exec(tdb_pg_url(), "SELECT * FROM errand_no_such_table", 0, NULL);
	CHECK(!db_result_ok(res));
	CHECK_STR(db_result_sqlstate(res), "42P01");
	PQclear(res);
}

/* What PostgreSQL reads array literal `text` as: its elements joined by '|', NULL as "<null>". */
static void pg_reads(const char *text, char *out, size_t outlen)
{
	const char *p[] = { text };
	PGresult *res = tdb_exec(tdb_pg_url(),
				 "SELECT coalesce(string_agg(coalesce(x, '<null>'), '|' ORDER BY n), '')"
				 " FROM unnest($1::text[]) WITH ORDINALITY u (x, n)",
				 1, p);
	CHECK(db_result_ok(res));
	snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
}

/* Array literals: built element by element, read back the same by PostgreSQL. */
static void test_array_literal(void)
{
	char read[4096];
	db_array a;
	db_array_init(&a);
	CHECK_STR(db_array_text(&a), "{}");
	pg_reads(db_array_text(&a), read, sizeof read);
	CHECK_STR(read, "");
	db_array_add(&a, "job_01m9950cyqfjd7xq85pe1tqrzn");
	db_array_add(&a, NULL);
	db_array_addn(&a, "errand:logs:job_abc", 11);
	db_array_add_int(&a, -42);
	db_array_add_int(&a, 9007199254740993LL);
	CHECK_INT(a.n, 5);
	CHECK_STR(db_array_text(&a),
		  "{job_01m9950cyqfjd7xq85pe1tqrzn,NULL,errand:logs,-42,9007199254740993}");
	pg_reads(db_array_text(&a), read, sizeof read);
	CHECK_STR(read, "job_01m9950cyqfjd7xq85pe1tqrzn|<null>|errand:logs|-42|9007199254740993");
	/* more after reading the text: it is closed anew */
	db_array_add(&a, "queued");
	CHECK_STR(db_array_text(&a),
		  "{job_01m9950cyqfjd7xq85pe1tqrzn,NULL,errand:logs,-42,9007199254740993,queued}");
	/* cleared: empty again, memory kept */
	char *kept = a.text;
	db_array_clear(&a);
	CHECK_STR(db_array_text(&a), "{}");
	db_array_add(&a, "x");
	CHECK_STR(db_array_text(&a), "{x}");
	CHECK(a.text == kept);
	db_array_free(&a);
	CHECK(a.text == NULL);

	/* growth over many elements */
	db_array_init(&a);
	for (int i = 0; i < 1000; i++)
		db_array_add_int(&a, i);
	const char *text = db_array_text(&a);
	CHECK(text && strncmp(text, "{0,1,2,", 7) == 0);
	CHECK(strcmp(text + strlen(text) - 5, ",999}") == 0);
	db_array_free(&a);

	/* an element that would need quoting fails the whole array */
	const char *bad[] = { "", "a b", "a,b", "{a}", "a\"b", "a\\b", "NULL", "null", "a\tb" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		db_array_init(&a);
		db_array_add(&a, "ok");
		db_array_add(&a, bad[i]);
		db_array_add(&a, "ok");
		if (db_array_text(&a) != NULL) {
			fprintf(stderr, "element %zu (\"%s\") was taken\n", i, bad[i]);
			CHECK(0);
		}
		db_array_free(&a);
	}
	db_array_init(&a);
	db_array_addn(&a, "ab\0c", 4); /* a NUL inside */
	CHECK(db_array_text(&a) == NULL);
	db_array_free(&a);
}

static void test_unknown_statement_or_wrong_count(void)
{
	struct event_base *base = event_base_new();
	db_options opt = { .size = 1, .queue_max = 100, .timeout_ms = 10000 };
	db_pool *pool = pool_open(base, tdb_pg_url(), &opt);
	result r;
	memset(&r, 0, sizeof r);
	CHECK_INT(query(pool, "no_such_statement", 1, "1", &r), -1);
	CHECK_INT(query(pool, "add_one", 0, NULL, &r), -1);
	const char *two[] = { "1", "2" };
	CHECK_INT(db_query(pool, "add_one", 2, two, on_result, &r), -1);
	CHECK_INT(query(pool, "backend", 1, "1", &r), -1);
	CHECK_INT(db_pool_pending(pool), 0);
	/* A refused query never calls back. */
	CHECK(tdb_loop_until(base, tdb_pool_ready, pool, 10000));
	tdb_loop_for(base, 200);
	CHECK_INT(r.calls, 0);

	/* A name registered twice is refused. */
	static const db_stmt dup[] = { { "add_one", "SELECT 1", 0 } };
	db_pool *other = db_pool_new(base, tdb_pg_url(), &opt);
	CHECK(other != NULL);
	CHECK_INT(db_pool_register(other, STMTS, 2), 0);
	CHECK_INT(db_pool_register(other, dup, 1), -1);
	db_pool_free(other);
	db_pool_free(pool);
	event_base_free(base);
}

static void test_closed_port_times_out(void)
{
	struct event_base *base = event_base_new();
	char url[128];
	tdb_closed_url(url, sizeof url, "postgres");
	db_options opt = { .size = 2, .queue_max = 100, .timeout_ms = 300 };
	db_pool *pool = pool_open(base, url, &opt);
	result r[2];
	memset(r, 0, sizeof r);
	int64_t start = clock_mono_ms();
	CHECK_INT(query(pool, "add_one", 1, "1", &r[0]), 0);
	CHECK_INT(query(pool, "add_one", 1, "2", &r[1]), 0);
	CHECK_INT(r[0].calls + r[1].calls, 0);
	CHECK(wait_results(base, 2, 3000));
	for (int i = 0; i < 2; i++) {
		CHECK_INT(r[i].calls, 1);
		CHECK(!r[i].inside);
		CHECK(!r[i].had_res);
		CHECK(r[i].error[0] != '\0');
		/* Within about the timeout: 300 ms plus the 100 ms tick, with slack. */
		CHECK(r[i].at_ms - start < 1000);
	}
	CHECK(!db_pool_ready(pool));
	tdb_loop_for(base, 300);
	CHECK(!db_pool_ready(pool));
	CHECK_INT(r[0].calls + r[1].calls, 2);
	db_pool_free(pool);
	event_base_free(base);
}

/*
 * The reason a connection went down is logged as libpq gave it. (db.c
 * passes PQerrorMessage() to conn_lost(), which calls PQfinish() before
 * logging it: the message is read after it was freed.)
 */
static void test_lost_connection_logs_reason(void)
{
	struct event_base *base = event_base_new();
	char url[128];
	tdb_closed_url(url, sizeof url, "postgres");
	db_options opt = { .size = 1, .queue_max = 100, .timeout_ms = 300 };
	FILE *log = tmpfile();
	CHECK(log != NULL);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	CHECK(saved >= 0);
	CHECK(dup2(fileno(log), STDERR_FILENO) >= 0);
	db_pool *pool = pool_open(base, url, &opt);
	tdb_loop_for(base, 300);
	db_pool_free(pool);
	fflush(stderr);
	CHECK(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);

	char text[8192];
	rewind(log);
	size_t n = fread(text, 1, sizeof text - 1, log);
	text[n] = '\0';
	fclose(log);
	const char *down = strstr(text, "down: ");
	if (!down || !strstr(down, "refused")) {
		fprintf(stderr, "the log does not say why the connection failed:\n%s\n", text);
		exit(1);
	}
	event_base_free(base);
}

static void test_reconnects_after_backends_killed(void)
{
	char *url = tdb_scratch_create_empty("db");
	struct event_base *base = event_base_new();
	db_options opt = { .size = 2, .queue_max = 1000, .timeout_ms = 10000 };
	db_pool *pool = pool_open(base, url, &opt);
	gauge_target = 2;
	CHECK(tdb_loop_until(base, all_connections_ready, NULL, 10000));

	result before;
	memset(&before, 0, sizeof before);
	CHECK_INT(query(pool, "add_one", 1, "1", &before), 0);
	CHECK(wait_results(base, 1, 10000));
	CHECK(result_ok(&before));

	/* Queries in flight when the backends die: slow ones, already sent. */
	enum {
		NFLIGHT = 6
	};
	result flight[NFLIGHT];
	memset(flight, 0, sizeof flight);
	for (int i = 0; i < NFLIGHT; i++)
		CHECK_INT(query(pool, "sleep", 1, "2", &flight[i]), 0);
	tdb_loop_for(base, 100);
	CHECK_INT(db_pool_pending(pool), NFLIGHT);

	char sql[256];
	snprintf(sql, sizeof sql,
		 "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
		 " WHERE datname = '%s' AND pid <> pg_backend_pid()",
		 tdb_scratch);
	PGresult *res = tdb_exec(tdb_pg_url(), sql, 0, NULL);
	CHECK_INT(PQresultStatus(res), PGRES_TUPLES_OK);
	CHECK_STR(PQgetvalue(res, 0, 0), "2");
	PQclear(res);

	/* In-flight queries fail (or succeed), each exactly once. */
	CHECK(wait_results(base, NFLIGHT, 10000));
	for (int i = 0; i < NFLIGHT; i++) {
		CHECK_INT(flight[i].calls, 1);
		CHECK(result_ok(&flight[i]) || flight[i].error[0] != '\0');
	}

	/* Later queries succeed again once the pool has reconnected. */
	int64_t deadline = clock_mono_ms() + 10000;
	int ok = 0;
	while (!ok && clock_mono_ms() < deadline) {
		result r;
		memset(&r, 0, sizeof r);
		CHECK_INT(query(pool, "add_one", 1, "99", &r), 0);
		CHECK(wait_results(base, 1, 15000));
		CHECK_INT(r.calls, 1);
		ok = result_ok(&r) && strcmp(r.value, "100") == 0;
		if (!ok)
			tdb_loop_for(base, 100);
	}
	CHECK(ok);
	CHECK(db_pool_ready(pool));
	tdb_loop_for(base, 100);
	for (int i = 0; i < NFLIGHT; i++)
		CHECK_INT(flight[i].calls, 1);
	db_pool_free(pool);
	event_base_free(base);
	free(url);
}

/*
 * A query slower than the timeout ends in time with an error: the server
 * cancels it (statement_timeout, set by the pool below its own timeout, so
 * the outcome is known: rolled back), or the pool drops the connection.
 */
static void test_query_past_timeout_drops_connection(void)
{
	struct event_base *base = event_base_new();
	db_options opt = { .size = 1, .queue_max = 100, .timeout_ms = 300 };
	db_pool *pool = pool_open(base, tdb_pg_url(), &opt);
	CHECK(tdb_loop_until(base, tdb_pool_ready, pool, 10000));
	result slow;
	memset(&slow, 0, sizeof slow);
	int64_t start = clock_mono_ms();
	CHECK_INT(query(pool, "sleep", 1, "3", &slow), 0);
	CHECK(wait_results(base, 1, 5000));
	CHECK_INT(slow.calls, 1);
	CHECK(slow.error[0] != '\0');
	CHECK(!slow.had_res || strcmp(slow.sqlstate, "57014") == 0);
	CHECK(slow.at_ms - start < 2000);

	/* The pool comes back for the next query. */
	int64_t deadline = clock_mono_ms() + 5000;
	int ok = 0;
	while (!ok && clock_mono_ms() < deadline) {
		result r;
		memset(&r, 0, sizeof r);
		CHECK_INT(query(pool, "add_one", 1, "5", &r), 0);
		CHECK(wait_results(base, 1, 5000));
		ok = result_ok(&r) && strcmp(r.value, "6") == 0;
	}
	CHECK(ok);
	db_pool_free(pool);
	event_base_free(base);
}

/* The schema check: what it was given, and what it answers. */
typedef struct check_state {
	int calls;
	char value[64];
	int answer;
	int fatal;
	char why[128];
} check_state;

static int check_verify(void *arg, const char *value)
{
	check_state *s = arg;
	s->calls++;
	snprintf(s->value, sizeof s->value, "%s", value ? value : "(null)");
	return s->answer;
}

static void check_fatal(void *arg, const char *why)
{
	check_state *s = arg;
	s->fatal++;
	snprintf(s->why, sizeof s->why, "%s", why ? why : "");
}

static int fatal_called(const void *arg)
{
	return ((const check_state *)arg)->fatal > 0;
}

static void test_check_rejects(void)
{
	struct event_base *base = event_base_new();
	check_state st = { .answer = -1 };
	db_check check = { .sql = "SELECT 'schema-7'", .verify = check_verify, .arg = &st };
	db_options opt = { .size = 1,
			   .queue_max = 100,
			   .timeout_ms = 2000,
			   .check = &check,
			   .on_fatal = check_fatal,
			   .fatal_arg = &st };
	db_pool *pool = pool_open(base, tdb_pg_url(), &opt);
	CHECK(tdb_loop_until(base, fatal_called, &st, 10000));
	CHECK(st.calls >= 1);
	CHECK_STR(st.value, "schema-7");
	CHECK(st.why[0] != '\0');
	CHECK(!db_pool_ready(pool));
	tdb_loop_for(base, 200);
	CHECK(!db_pool_ready(pool));
	db_pool_free(pool);
	event_base_free(base);
}

static void test_check_accepts(void)
{
	struct event_base *base = event_base_new();
	check_state st = { .answer = 0 };
	db_check check = { .sql = "SELECT 'schema-7'", .verify = check_verify, .arg = &st };
	db_options opt = { .size = 2,
			   .queue_max = 100,
			   .timeout_ms = 5000,
			   .check = &check,
			   .on_fatal = check_fatal,
			   .fatal_arg = &st };
	db_pool *pool = pool_open(base, tdb_pg_url(), &opt);
	CHECK(tdb_loop_until(base, tdb_pool_ready, pool, 10000));
	CHECK(st.calls >= 1);
	CHECK_STR(st.value, "schema-7");
	CHECK_INT(st.fatal, 0);
	/* Statements are prepared after the check: queries run. */
	result r;
	memset(&r, 0, sizeof r);
	CHECK_INT(query(pool, "add_one", 1, "6", &r), 0);
	CHECK(wait_results(base, 1, 10000));
	CHECK(result_ok(&r));
	CHECK_STR(r.value, "7");
	db_pool_free(pool);
	event_base_free(base);
}

static void test_null_parameters(void)
{
	struct event_base *base = event_base_new();
	db_options opt = { .size = 1, .queue_max = 100, .timeout_ms = 10000 };
	db_pool *pool = pool_open(base, tdb_pg_url(), &opt);
	result r[3];
	memset(r, 0, sizeof r);
	const char *null_value[] = { NULL };
	in_db_query = 1;
	CHECK_INT(db_query(pool, "is_null", 1, null_value, on_result, &r[0]), 0);
	in_db_query = 0;
	CHECK_INT(query(pool, "is_null", 1, "", &r[1]), 0);
	CHECK_INT(query(pool, "is_null", 1, "x", &r[2]), 0);
	CHECK(wait_results(base, 3, 10000));
	CHECK(result_ok(&r[0]));
	CHECK_STR(r[0].value, "t");
	CHECK(result_ok(&r[1]));
	CHECK_STR(r[1].value, "f");
	CHECK(result_ok(&r[2]));
	CHECK_STR(r[2].value, "f");
	db_pool_free(pool);
	event_base_free(base);
}

static int drained;

static void on_drained(void *arg)
{
	int *order = arg;
	drained++;
	*order = results_seen;
}

static int drain_finished(const void *arg)
{
	(void)arg;
	return drained > 0;
}

static void test_drain_finishes_queued_queries(void)
{
	struct event_base *base = event_base_new();
	db_options opt = { .size = 2, .queue_max = 1000, .timeout_ms = 10000 };
	db_pool *pool = pool_open(base, tdb_pg_url(), &opt);
	CHECK(tdb_loop_until(base, tdb_pool_ready, pool, 10000));
	enum {
		N = 200
	};
	result r[N];
	memset(r, 0, sizeof r);
	for (int i = 0; i < N; i++) {
		char v[16];
		snprintf(v, sizeof v, "%d", i);
		CHECK_INT(query(pool, "add_one", 1, v, &r[i]), 0);
	}
	int seen_at_done = -1;
	db_pool_drain(pool, on_drained, &seen_at_done);
	CHECK_INT(drained, 0);

	/* New queries fail, not from inside the call. */
	result late;
	memset(&late, 0, sizeof late);
	CHECK_INT(query(pool, "add_one", 1, "1", &late), 0);
	CHECK_INT(late.calls, 0);

	CHECK(tdb_loop_until(base, drain_finished, NULL, 20000));
	CHECK_INT(drained, 1);
	CHECK(seen_at_done >= N); /* every queued query answered before done */
	for (int i = 0; i < N; i++) {
		CHECK_INT(r[i].calls, 1);
		CHECK(result_ok(&r[i]));
		CHECK_INT(atoi(r[i].value), i + 1);
	}
	CHECK_INT(late.calls, 1);
	CHECK(!late.inside);
	CHECK(!late.had_res);
	CHECK(late.error[0] != '\0');
	CHECK_INT(db_pool_pending(pool), 0);
	CHECK(!db_pool_ready(pool));
	tdb_loop_for(base, 300);
	CHECK_INT(drained, 1);
	CHECK(!db_pool_ready(pool));
	db_pool_free(pool);
	event_base_free(base);
}

static void test_free_fails_pending(void)
{
	struct event_base *base = event_base_new();
	db_options opt = { .size = 1, .queue_max = 1000, .timeout_ms = 10000 };
	db_pool *pool = pool_open(base, tdb_pg_url(), &opt);
	CHECK(tdb_loop_until(base, tdb_pool_ready, pool, 10000));
	enum {
		NSLOW = 3,
		NQUEUED = 5
	};
	result slow[NSLOW], queued[NQUEUED];
	memset(slow, 0, sizeof slow);
	memset(queued, 0, sizeof queued);
	for (int i = 0; i < NSLOW; i++)
		CHECK_INT(query(pool, "sleep", 1, "2", &slow[i]), 0);
	tdb_loop_for(base, 100); /* now in flight */
	for (int i = 0; i < NQUEUED; i++)
		CHECK_INT(query(pool, "add_one", 1, "1", &queued[i]), 0);
	CHECK_INT(db_pool_pending(pool), NSLOW + NQUEUED);
	CHECK_INT(results_seen, 0);
	db_pool_free(pool);
	/* Every callback ran, with an error, before db_pool_free returned. */
	CHECK_INT(results_seen, NSLOW + NQUEUED);
	for (int i = 0; i < NSLOW; i++) {
		CHECK_INT(slow[i].calls, 1);
		CHECK(!slow[i].had_res);
		CHECK(slow[i].error[0] != '\0');
	}
	for (int i = 0; i < NQUEUED; i++) {
		CHECK_INT(queued[i].calls, 1);
		CHECK(!queued[i].had_res);
		CHECK(queued[i].error[0] != '\0');
	}
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_INT(results_seen, NSLOW + NQUEUED);
	event_base_free(base);
}

static void test_queue_full_fails_later(void)
{
	struct event_base *base = event_base_new();
	db_options opt = { .size = 1, .queue_max = 3, .timeout_ms = 10000 };
	db_pool *pool = tdb_pool_new(base, tdb_pg_url(), &opt, STMTS, STMTS_N);
	/* Not started: queries wait, and past queue_max are refused. */
	result r[5];
	memset(r, 0, sizeof r);
	for (int i = 0; i < 5; i++)
		CHECK_INT(query(pool, "add_one", 1, "1", &r[i]), 0);
	CHECK_INT(results_seen, 0);
	CHECK_INT(db_pool_pending(pool), 3);
	for (int i = 0; i < 3; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_INT(results_seen, 2);
	for (int i = 3; i < 5; i++) {
		CHECK_INT(r[i].calls, 1);
		CHECK(!r[i].inside);
		CHECK(!r[i].had_res);
		CHECK(r[i].error[0] != '\0');
	}
	db_pool_free(pool);
	CHECK_INT(results_seen, 5);
	for (int i = 0; i < 3; i++) {
		CHECK_INT(r[i].calls, 1);
		CHECK(!r[i].had_res);
	}
	event_base_free(base);
}

TEST_MAIN(TEST(test_many_queries_one_turn), TEST(test_one_connection_keeps_order),
	  TEST(test_sql_error_then_next_query), TEST(test_result_helpers), TEST(test_array_literal),
	  TEST(test_unknown_statement_or_wrong_count), TEST(test_closed_port_times_out),
	  TEST(test_lost_connection_logs_reason), TEST(test_reconnects_after_backends_killed),
	  TEST(test_query_past_timeout_drops_connection), TEST(test_check_rejects),
	  TEST(test_check_accepts), TEST(test_null_parameters),
	  TEST(test_drain_finishes_queued_queries), TEST(test_free_fails_pending),
	  TEST(test_queue_full_fails_later))
