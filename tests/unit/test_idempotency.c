/* Unit tests of idempotency.c: reserving a key, replaying its answer, refusing a reuse. */
#include "idempotency.h"
#include "testdb.h"

static struct event_base *base;
static db_pool *pool;
static char *url;

static void open_db(void)
{
	url = tdb_scratch_create("idem");
	base = event_base_new();
	pool = tdb_pool_open(base, url, 2, IDEMPOTENCY_STMTS, IDEMPOTENCY_STMTS_N);
}

static void close_db(void)
{
	db_pool_free(pool);
	event_base_free(base);
	free(url);
}

/* What the verdict callback saw. */
typedef struct verdict {
	int calls;
	int inside;
	idem_verdict v;
	int status;
	char type[128];
	char *body; /* a copy; NULL when none was given */
} verdict;

static int in_call;

static void on_verdict(void *arg, idem_verdict v, int status, const char *content_type,
		       const char *body)
{
	verdict *out = arg;
	out->calls++;
	out->inside |= in_call;
	out->v = v;
	out->status = status;
	snprintf(out->type, sizeof out->type, "%s", content_type ? content_type : "");
	out->body = body ? strdup(body) : NULL;
}

static int answered(const void *arg)
{
	return ((const verdict *)arg)->calls > 0;
}

#define HASH_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HASH_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define USER "usr_01hzzzzzzzzzzzzzzzzzzzzz"
#define OTHER "usr_01hyyyyyyyyyyyyyyyyyyyyy"
#define ROUTE "/api/jobs/run"

static verdict begin(const char *who, const char *route, const char *key, const char *hash)
{
	verdict v;
	memset(&v, 0, sizeof v);
	in_call = 1;
	idempotency_begin(pool, who, route, key, hash, on_verdict, &v);
	in_call = 0;
	CHECK(tdb_loop_until(base, answered, &v, 10000));
	tdb_loop_for(base, 10);
	CHECK_INT(v.calls, 1);
	CHECK(!v.inside);
	return v;
}

static void on_stored(void *arg)
{
	int *calls = arg;
	(*calls)++;
}

/* Stores an answer and waits until `done` says it is written (once, not from inside). */
static void finish(const char *key, int status, const char *type, const char *body)
{
	int calls = 0;
	idempotency_finish(pool, USER, ROUTE, key, status, type, body, strlen(body), on_stored,
			   &calls);
	CHECK_INT(calls, 0);
	CHECK(tdb_loop_until(base, tdb_flag_set, &calls, 10000));
	tdb_loop_for(base, 10);
	CHECK_INT(calls, 1);
}

static void expect(const char *who, const char *route, const char *key, const char *hash,
		   idem_verdict want)
{
	verdict v = begin(who, route, key, hash);
	if (v.v != want) {
		fprintf(stderr, "%s %s %s: verdict %d, expected %d\n", who, route, key, (int)v.v,
			(int)want);
		exit(1);
	}
	if (want != IDEM_REPLAY)
		CHECK_INT(v.status, 0);
	free(v.body);
}

static void test_proceed_then_replay(void)
{
	open_db();
	expect(USER, ROUTE, "k1", HASH_A, IDEM_PROCEED);
	static const char body[] =
		"{\"id\":\"job_1\",\"status\":\"queued\",\"note\":\"\\u00e9 \xc3\xa9\"}";
	finish("k1", 201, "application/json", body);
	for (int i = 0; i < 3; i++) {
		verdict v = begin(USER, ROUTE, "k1", HASH_A);
		CHECK_INT(v.v, IDEM_REPLAY);
		CHECK_INT(v.status, 201);
		CHECK_STR(v.type, "application/json");
		CHECK_STR(v.body, body);
		free(v.body);
	}
	/* The same key with another request. */
	expect(USER, ROUTE, "k1", HASH_B, IDEM_REUSED);
	/* Keys are per principal and per route. */
	expect(OTHER, ROUTE, "k1", HASH_B, IDEM_PROCEED);
	expect(USER, "/api/jobs/other/pay", "k1", HASH_B, IDEM_PROCEED);
	expect(USER, ROUTE, "k2", HASH_A, IDEM_PROCEED);
	close_db();
}

static void test_client_errors_are_replayed(void)
{
	open_db();
	expect(USER, ROUTE, "k", HASH_A, IDEM_PROCEED);
	finish("k", 422, "application/json", "{\"error\":\"invalid\"}");
	verdict v = begin(USER, ROUTE, "k", HASH_A);
	CHECK_INT(v.v, IDEM_REPLAY);
	CHECK_INT(v.status, 422);
	CHECK_STR(v.body, "{\"error\":\"invalid\"}");
	free(v.body);
	/* An empty body is a body. */
	expect(USER, ROUTE, "empty", HASH_A, IDEM_PROCEED);
	finish("empty", 204, "text/plain", "");
	v = begin(USER, ROUTE, "empty", HASH_A);
	CHECK_INT(v.v, IDEM_REPLAY);
	CHECK_INT(v.status, 204);
	CHECK_STR(v.type, "text/plain");
	CHECK_STR(v.body, "");
	free(v.body);
	close_db();
}

static void test_in_progress(void)
{
	open_db();
	expect(USER, ROUTE, "k", HASH_A, IDEM_PROCEED);
	expect(USER, ROUTE, "k", HASH_A, IDEM_IN_PROGRESS);
	expect(USER, ROUTE, "k", HASH_A, IDEM_IN_PROGRESS);
	/* Another request under the running key is a reuse, not a wait. */
	expect(USER, ROUTE, "k", HASH_B, IDEM_REUSED);
	finish("k", 200, "application/json", "{}");
	expect(USER, ROUTE, "k", HASH_A, IDEM_REPLAY);

	/* Many at once: exactly one proceeds. */
	enum {
		N = 20
	};
	verdict vs[N];
	memset(vs, 0, sizeof vs);
	for (int i = 0; i < N; i++)
		idempotency_begin(pool, USER, ROUTE, "race", HASH_A, on_verdict, &vs[i]);
	for (int i = 0; i < N; i++)
		CHECK(tdb_loop_until(base, answered, &vs[i], 10000));
	int proceed = 0;
	for (int i = 0; i < N; i++) {
		CHECK_INT(vs[i].calls, 1);
		CHECK(vs[i].v == IDEM_PROCEED || vs[i].v == IDEM_IN_PROGRESS);
		proceed += vs[i].v == IDEM_PROCEED;
	}
	CHECK_INT(proceed, 1);
	close_db();
}

static void test_server_error_frees_key(void)
{
	open_db();
	expect(USER, ROUTE, "k", HASH_A, IDEM_PROCEED);
	finish("k", 503, "application/json", "{\"error\":\"database_unavailable\"}");
	expect(USER, ROUTE, "k", HASH_A, IDEM_PROCEED);
	finish("k", 500, "application/json", "{\"error\":\"internal\"}");
	/* Freed: even another request may use it now. */
	expect(USER, ROUTE, "k", HASH_B, IDEM_PROCEED);
	finish("k", 200, "application/json", "{\"ok\":true}");
	verdict v = begin(USER, ROUTE, "k", HASH_B);
	CHECK_INT(v.v, IDEM_REPLAY);
	CHECK_INT(v.status, 200);
	CHECK_STR(v.body, "{\"ok\":true}");
	free(v.body);
	/* A finished key is not freed by a late 5xx, nor overwritten by another answer. */
	idempotency_finish(pool, USER, ROUTE, "k", 503, "text/plain", "x", 1, NULL, NULL);
	idempotency_finish(pool, USER, ROUTE, "k", 201, "text/plain", "y", 1, NULL, NULL);
	CHECK(tdb_loop_until(base, tdb_pool_idle, pool, 10000));
	v = begin(USER, ROUTE, "k", HASH_B);
	CHECK_INT(v.v, IDEM_REPLAY);
	CHECK_INT(v.status, 200);
	CHECK_STR(v.body, "{\"ok\":true}");
	free(v.body);
	close_db();
}

static void test_database_unavailable(void)
{
	base = event_base_new();
	pool = tdb_pool_unreachable(base, IDEMPOTENCY_STMTS, IDEMPOTENCY_STMTS_N);
	verdict v = begin(USER, ROUTE, "k", HASH_A);
	CHECK_INT(v.v, IDEM_ERROR);
	db_pool_free(pool);
	event_base_free(base);
}

TEST_MAIN(TEST(test_proceed_then_replay), TEST(test_client_errors_are_replayed),
	  TEST(test_in_progress), TEST(test_server_error_frees_key),
	  TEST(test_database_unavailable))
