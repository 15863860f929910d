/* Unit tests of the ledger: ledger.c's calls and the SQL of migration 0002 on a real database. */
#include <jansson.h>

#include "clock.h"
#include "ledger.h"
#include "pagination.h"
#include "testdb.h"

/* ===== The pool and the calls ===== */

static struct event_base *base;
static db_pool *pool;
static char *url;

static void open_db(void)
{
	url = tdb_scratch_create("ledger");
	base = event_base_new();
	pool = tdb_pool_open(base, url, 2, LEDGER_STMTS, LEDGER_STMTS_N);
}

static void close_db(void)
{
	tdb_check_invariants(url, 0);
	db_pool_free(pool);
	event_base_free(base);
	free(url);
}

/* What a ledger callback saw. */
typedef struct answer {
	int calls;
	int inside;
	json_t *result; /* owned */
	char code[64];
	char message[256];
} answer;

static int in_call;

static void on_answer(void *arg, json_t *result, const char *error_code, const char *message)
{
	answer *a = arg;
	a->calls++;
	a->inside |= in_call;
	a->result = result;
	snprintf(a->code, sizeof a->code, "%s", error_code ? error_code : "");
	snprintf(a->message, sizeof a->message, "%s", message ? message : "");
}

static int answered(const void *arg)
{
	return ((const answer *)arg)->calls > 0;
}

/* Waits for `a`; fails unless it came exactly once, outside the call. */
static void await(answer *a)
{
	CHECK(tdb_loop_until(base, answered, a, 10000));
	CHECK_INT(a->calls, 1);
	CHECK(!a->inside);
}

static answer wallet(const char *id)
{
	answer a = { 0 };
	in_call = 1;
	ledger_wallet(pool, id, on_answer, &a);
	in_call = 0;
	await(&a);
	return a;
}

static answer topup(const char *id, long long cents, const char *key)
{
	answer a = { 0 };
	in_call = 1;
	ledger_topup(pool, id, cents, key, on_answer, &a);
	in_call = 0;
	await(&a);
	return a;
}

static answer transactions(const char *id, int limit, const char *cursor)
{
	answer a = { 0 };
	ledger_transactions(pool, id, limit, cursor, on_answer, &a);
	CHECK(tdb_loop_until(base, answered, &a, 10000));
	CHECK_INT(a.calls, 1);
	return a;
}

static long long int_at(const json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_integer(v)) {
		fprintf(stderr, "member %s is not an integer\n", key);
		exit(1);
	}
	return json_integer_value(v);
}

/* Checks a wallet answer: currency, available, held and (agents only) earnings (-1: absent). */
static void check_wallet(const answer *a, long long available, long long held, long long earnings)
{
	CHECK(a->result != NULL);
	CHECK_STR(a->code, "");
	CHECK_STR(json_string_value(json_object_get(a->result, "currency")), "USD");
	CHECK_INT(int_at(a->result, "available_cents"), available);
	CHECK_INT(int_at(a->result, "held_cents"), held);
	if (earnings < 0) {
		CHECK(json_object_get(a->result, "earnings_cents") == NULL);
		CHECK_INT(json_object_size(a->result), 3);
	} else {
		CHECK_INT(int_at(a->result, "earnings_cents"), earnings);
		CHECK_INT(json_object_size(a->result), 4);
	}
}

/* SELECT fn(args) for a boolean ledger function: 1 for true, 0 for false. */
static int sql_bool(const char *sql, int n, const char *const *params)
{
	char v[8];
	tdb_value(url, sql, n, params, v, sizeof v);
	CHECK(strcmp(v, "t") == 0 || strcmp(v, "f") == 0);
	return v[0] == 't';
}

static int hold(const char *job, const char *payer, const char *amount)
{
	const char *p[] = { job, payer, amount };
	return sql_bool("SELECT ledger_hold($1, $2, $3::bigint)", 3, p);
}

static int capture(const char *job, const char *payee, const char *bps)
{
	const char *p[] = { job, payee, bps };
	return sql_bool("SELECT ledger_capture($1, $2, $3::int)", 3, p);
}

static int release(const char *job)
{
	const char *p[] = { job };
	return sql_bool("SELECT ledger_release($1)", 1, p);
}

/* A fresh job id. */
static char *job_id(char id[IDS_MAX_LEN])
{
	CHECK_INT(ids_new("job", id), 0);
	return id;
}

/* Checks entry `i` of a transactions page: kind, signed amount and job. */
static void check_entry(const json_t *data, size_t i, const char *kind, long long amount,
			const char *job)
{
	json_t *e = json_array_get(data, i);
	CHECK(e != NULL);
	CHECK_STR(json_string_value(json_object_get(e, "kind")), kind);
	CHECK_INT(int_at(e, "amount_cents"), amount);
	CHECK(ids_valid(json_string_value(json_object_get(e, "id")), "trf"));
	if (job)
		CHECK_STR(json_string_value(json_object_get(e, "job_id")), job);
	else
		CHECK(json_is_null(json_object_get(e, "job_id")));
	int64_t ms;
	const char *when = json_string_value(json_object_get(e, "created_at"));
	CHECK(when != NULL);
	CHECK_INT(clock_parse_rfc3339(when, &ms), 0);
	CHECK(when[strlen(when) - 1] == 'Z');
	CHECK(ms > clock_now_ms() - 600000 && ms < clock_now_ms() + 60000);
	CHECK_INT(json_object_size(e), 5);
}

/* ===== Tests ===== */

static void test_topup_and_wallet(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", "{x}", g);

	answer w = wallet(u);
	check_wallet(&w, 0, 0, -1);
	json_decref(w.result);
	w = wallet(g);
	check_wallet(&w, 0, 0, 0);
	json_decref(w.result);

	answer t = topup(u, 1000, NULL);
	check_wallet(&t, 1000, 0, -1);
	json_decref(t.result);
	t = topup(u, 250, "key-1");
	check_wallet(&t, 1250, 0, -1);
	json_decref(t.result);
	/* The same key again moves nothing. */
	t = topup(u, 250, "key-1");
	check_wallet(&t, 1250, 0, -1);
	json_decref(t.result);
	CHECK_INT(tdb_balance(url, "funding"), -1250);
	w = wallet(u);
	check_wallet(&w, 1250, 0, -1);
	json_decref(w.result);

	/* The agent's wallet too; its earnings are apart. */
	t = topup(g, 77, NULL);
	check_wallet(&t, 77, 0, 0);
	json_decref(t.result);

	/* Unknown principals. */
	char nobody[IDS_MAX_LEN];
	CHECK_INT(ids_new("usr", nobody), 0);
	w = wallet(nobody);
	CHECK(w.result == NULL);
	CHECK_STR(w.code, LEDGER_ERR_NOT_FOUND);
	CHECK(w.message[0] != '\0');
	t = topup(nobody, 100, NULL);
	CHECK(t.result == NULL);
	CHECK_STR(t.code, LEDGER_ERR_NOT_FOUND);
	CHECK_INT(tdb_balance(url, "funding"), -1327);
	close_db();
}

static void test_transactions_newest_first(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], j1[IDS_MAX_LEN], j2[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	job_id(j1);
	job_id(j2);
	answer t = topup(u, 10000, NULL);
	json_decref(t.result);
	CHECK(hold(j1, u, "3000"));
	CHECK(hold(j2, u, "500"));
	CHECK(release(j2));
	CHECK(capture(j1, g, "1000"));

	answer a = transactions(u, 50, NULL);
	CHECK(a.result != NULL);
	json_t *data = json_object_get(a.result, "data");
	CHECK_INT(json_array_size(data), 4);
	check_entry(data, 0, "release", 500, j2);
	check_entry(data, 1, "hold", -500, j2);
	check_entry(data, 2, "hold", -3000, j1);
	check_entry(data, 3, "topup", 10000, NULL);
	CHECK(json_is_null(json_object_get(a.result, "next_cursor")));
	CHECK_INT(json_object_size(a.result), 2);
	json_decref(a.result);

	/* The agent sees its earnings' entries: the price in, the fee out. */
	a = transactions(g, 50, NULL);
	data = json_object_get(a.result, "data");
	CHECK_INT(json_array_size(data), 2);
	int capture_at = strcmp(json_string_value(json_object_get(json_array_get(data, 0), "kind")),
				"capture") == 0
				 ? 0
				 : 1;
	check_entry(data, (size_t)capture_at, "capture", 3000, j1);
	check_entry(data, (size_t)(1 - capture_at), "fee", -300, j1);
	json_decref(a.result);

	/* Someone with no history; someone unknown. */
	char v[IDS_MAX_LEN], nobody[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, v);
	CHECK_INT(ids_new("usr", nobody), 0);
	const char *ids[] = { v, nobody };
	for (int i = 0; i < 2; i++) {
		a = transactions(ids[i], 50, NULL);
		CHECK(a.result != NULL);
		CHECK_INT(json_array_size(json_object_get(a.result, "data")), 0);
		CHECK(json_is_null(json_object_get(a.result, "next_cursor")));
		json_decref(a.result);
	}
	close_db();
}

/* Pages through `id`'s history `limit` at a time; returns the transfer ids in order. */
static json_t *all_pages(const char *id, int limit, int *pages)
{
	json_t *ids = json_array();
	char *cursor = NULL;
	*pages = 0;
	for (;;) {
		answer a = transactions(id, limit, cursor);
		CHECK(a.result != NULL);
		(*pages)++;
		CHECK(*pages < 100);
		json_t *data = json_object_get(a.result, "data");
		CHECK(json_array_size(data) <= (size_t)limit);
		size_t i;
		json_t *e;
		json_array_foreach(data, i, e) json_array_append(ids, json_object_get(e, "id"));
		json_t *next = json_object_get(a.result, "next_cursor");
		free(cursor);
		cursor = NULL;
		if (json_is_null(next)) {
			json_decref(a.result);
			break;
		}
		CHECK_INT(json_array_size(data), limit);
		cursor = strdup(json_string_value(next));
		json_decref(a.result);
	}
	return ids;
}

static void test_transactions_pages(void)
{
	open_db();
	char u[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	for (int i = 1; i <= 7; i++) {
		answer t = topup(u, i, NULL);
		json_decref(t.result);
	}
	answer all = transactions(u, 50, NULL);
	json_t *data = json_object_get(all.result, "data");
	CHECK_INT(json_array_size(data), 7);
	for (int i = 0; i < 7; i++)
		check_entry(data, (size_t)i, "topup", 7 - i, NULL);

	static const int limits[] = { 1, 2, 3, 6, 7, 8 };
	for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++) {
		int pages = 0;
		json_t *ids = all_pages(u, limits[l], &pages);
		CHECK_INT(json_array_size(ids), 7);
		for (size_t i = 0; i < 7; i++)
			CHECK_STR(
				json_string_value(json_array_get(ids, i)),
				json_string_value(json_object_get(json_array_get(data, i), "id")));
		CHECK_INT(pages, (7 + limits[l] - 1) / limits[l]);
		json_decref(ids);
	}
	json_decref(all.result);

	/* A malformed cursor is refused, at once and without a query. */
	answer bad = { 0 };
	ledger_transactions(pool, u, 2, "not a cursor!", on_answer, &bad);
	CHECK_INT(bad.calls, 1);
	CHECK(bad.result == NULL);
	CHECK_STR(bad.code, "invalid_cursor");
	close_db();
}

/*
 * A cursor the API never gave out is "invalid_cursor" even when its time
 * is made of the characters a time has: it must not reach the database as
 * a time PostgreSQL cannot read (that answers "database_unavailable").
 */
static void test_forged_cursor_is_invalid(void)
{
	open_db();
	char u[IDS_MAX_LEN], t[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	CHECK_INT(ids_new("trf", t), 0);
	static const char *const times[] = { "9999", "2026-13-45 99:99:99+00", "--::", " " };
	for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
		char *cursor = pagination_cursor(times[i], t);
		CHECK(cursor != NULL);
		answer a = transactions(u, 10, cursor);
		if (a.result || strcmp(a.code, "invalid_cursor") != 0) {
			fprintf(stderr,
				"a cursor with the time '%s': %s, expected invalid_cursor\n",
				times[i], a.result ? "a page" : a.code);
			exit(1);
		}
		free(cursor);
	}
	close_db();
}

/* A capture and its fee are written in one transaction: equal times, ordered by id. */
static void test_transactions_pages_across_equal_times(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], j[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_fund(url, u, 5000);
	for (int i = 0; i < 3; i++) {
		CHECK(hold(job_id(j), u, "1000"));
		CHECK(capture(j, g, "1000"));
	}
	answer all = transactions(g, 50, NULL);
	json_t *data = json_object_get(all.result, "data");
	CHECK_INT(json_array_size(data), 6);
	for (int limit = 1; limit <= 6; limit++) {
		int pages = 0;
		json_t *ids = all_pages(g, limit, &pages);
		CHECK_INT(json_array_size(ids), 6);
		for (size_t i = 0; i < 6; i++)
			CHECK_STR(
				json_string_value(json_array_get(ids, i)),
				json_string_value(json_object_get(json_array_get(data, i), "id")));
		json_decref(ids);
	}
	json_decref(all.result);
	close_db();
}

static void test_hold_capture_release(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], ja[IDS_MAX_LEN], jb[IDS_MAX_LEN], jc[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", "{x}", g);
	tdb_fund(url, u, 10000);
	job_id(ja);
	job_id(jb);
	job_id(jc);

	char wallet_u[64], earnings_g[64];
	snprintf(wallet_u, sizeof wallet_u, "wallet:%s", u);
	snprintf(earnings_g, sizeof earnings_g, "earnings:%s", g);

	/* Hold: the wallet goes down, escrow up; the wallet call shows it as held. */
	CHECK(hold(ja, u, "1009"));
	CHECK_INT(tdb_balance(url, wallet_u), 8991);
	CHECK_INT(tdb_balance(url, "escrow"), 1009);
	answer w = wallet(u);
	check_wallet(&w, 8991, 1009, -1);
	json_decref(w.result);
	/* Holding the same job again changes nothing. */
	CHECK(hold(ja, u, "1009"));
	CHECK_INT(tdb_balance(url, wallet_u), 8991);
	/* More than the wallet has: refused, nothing moves. */
	CHECK(!hold(jc, u, "8992"));
	CHECK_INT(tdb_balance(url, wallet_u), 8991);
	const char *pc[] = { jc };
	CHECK_INT(tdb_int(url, "SELECT count(*) FROM ledger_holds WHERE job_id = $1", 1, pc), 0);

	/* Capture with a 10 % fee: the agent earns 1009 - floor(100.9) = 909. */
	CHECK(capture(ja, g, "1000"));
	CHECK_INT(tdb_balance(url, earnings_g), 909);
	CHECK_INT(tdb_balance(url, "fees"), 100);
	CHECK_INT(tdb_balance(url, "escrow"), 0);
	CHECK_INT(tdb_balance(url, wallet_u), 8991);
	w = wallet(g);
	check_wallet(&w, 0, 0, 909);
	json_decref(w.result);
	w = wallet(u);
	check_wallet(&w, 8991, 0, -1);
	json_decref(w.result);
	const char *pa[] = { ja };
	char v[64];
	CHECK_STR(tdb_value(url, "SELECT status FROM ledger_holds WHERE job_id = $1", 1, pa, v,
			    sizeof v),
		  "captured");

	/* Settled once: a second capture and a release after capture do nothing. */
	CHECK(!capture(ja, g, "1000"));
	CHECK(!release(ja));
	CHECK_INT(tdb_balance(url, earnings_g), 909);
	CHECK_INT(tdb_balance(url, "fees"), 100);
	CHECK_INT(tdb_balance(url, wallet_u), 8991);

	/* Release: back to the wallet, once; no capture after it. */
	CHECK(hold(jb, u, "500"));
	CHECK_INT(tdb_balance(url, wallet_u), 8491);
	CHECK(release(jb));
	CHECK_INT(tdb_balance(url, wallet_u), 8991);
	CHECK(!release(jb));
	CHECK(!capture(jb, g, "1000"));
	CHECK_INT(tdb_balance(url, wallet_u), 8991);
	CHECK_INT(tdb_balance(url, earnings_g), 909);
	/* Nothing to settle for a job never held. */
	CHECK(!capture(jc, g, "1000"));
	CHECK(!release(jc));

	/* A fee of zero bps, and one that rounds down to nothing: no fee transfer. */
	char jd[IDS_MAX_LEN], je[IDS_MAX_LEN];
	CHECK(hold(job_id(jd), u, "9"));
	CHECK(capture(jd, g, "1000"));
	CHECK(hold(job_id(je), u, "400"));
	CHECK(capture(je, g, "0"));
	CHECK_INT(tdb_balance(url, earnings_g), 909 + 9 + 400);
	CHECK_INT(tdb_balance(url, "fees"), 100);
	const char *pd[] = { jd, je };
	CHECK_INT(tdb_int(url,
			  "SELECT count(*) FROM ledger_transfers WHERE kind = 'fee'"
			  " AND job_id IN ($1, $2)",
			  2, pd),
		  0);

	/* The agent's history: capture +price, fee -fee. */
	answer a = transactions(g, 50, NULL);
	json_t *data = json_object_get(a.result, "data");
	CHECK_INT(json_array_size(data), 4);
	check_entry(data, 0, "capture", 400, je);
	check_entry(data, 1, "capture", 9, jd);
	int cap = strcmp(json_string_value(json_object_get(json_array_get(data, 2), "kind")),
			 "capture") == 0
			  ? 2
			  : 3;
	check_entry(data, (size_t)cap, "capture", 1009, ja);
	check_entry(data, (size_t)(5 - cap), "fee", -100, ja);
	json_decref(a.result);
	close_db();
}

#define SPENDERS 20

static void test_concurrent_holds(void)
{
	open_db();
	char u[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_fund(url, u, 1000);
	char sqls[SPENDERS][256];
	const char *list[SPENDERS];
	for (int i = 0; i < SPENDERS; i++) {
		char j[IDS_MAX_LEN];
		snprintf(sqls[i], sizeof sqls[i],
			 "SELECT ledger_hold('%s', '%s', 100), pg_sleep(0.05)", job_id(j), u);
		list[i] = sqls[i];
	}
	PGresult **res = tdb_parallel(url, SPENDERS, list);
	int held = 0;
	for (int i = 0; i < SPENDERS; i++) {
		if (PQresultStatus(res[i]) != PGRES_TUPLES_OK) {
			fprintf(stderr, "hold %d: %s", i, PQresultErrorMessage(res[i]));
			exit(1);
		}
		held += strcmp(PQgetvalue(res[i], 0, 0), "t") == 0;
		PQclear(res[i]);
	}
	free(res);
	CHECK_INT(held, 10);
	char account[64];
	snprintf(account, sizeof account, "wallet:%s", u);
	CHECK_INT(tdb_balance(url, account), 0);
	CHECK_INT(tdb_balance(url, "escrow"), 1000);
	const char *p[] = { u };
	CHECK_INT(tdb_int(url, "SELECT count(*) FROM ledger_holds WHERE payer_id = $1", 1, p), 10);
	CHECK_INT(tdb_int(url,
			  "SELECT count(*) FROM ledger_accounts WHERE kind <> 'funding'"
			  " AND balance < 0",
			  0, NULL),
		  0);
	answer w = wallet(u);
	check_wallet(&w, 0, 1000, -1);
	json_decref(w.result);
	close_db();
}

/* Concurrent holds of one job: held once, whatever the race. */
static void test_concurrent_holds_same_job(void)
{
	open_db();
	char u[IDS_MAX_LEN], j[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_fund(url, u, 1000);
	job_id(j);
	char sql[256];
	snprintf(sql, sizeof sql, "SELECT ledger_hold('%s', '%s', 100)", j, u);
	const char *list[8];
	for (int i = 0; i < 8; i++)
		list[i] = sql;
	PGresult **res = tdb_parallel(url, 8, list);
	for (int i = 0; i < 8; i++) {
		if (PQresultStatus(res[i]) != PGRES_TUPLES_OK) {
			fprintf(stderr, "hold %d of the same job: %s", i,
				PQresultErrorMessage(res[i]));
			exit(1);
		}
		CHECK_STR(PQgetvalue(res[i], 0, 0), "t");
		PQclear(res[i]);
	}
	free(res);
	char account[64];
	snprintf(account, sizeof account, "wallet:%s", u);
	CHECK_INT(tdb_balance(url, account), 900);
	close_db();
}

static void test_entries_are_immutable(void)
{
	open_db();
	char u[IDS_MAX_LEN], j[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_fund(url, u, 1000);
	CHECK(hold(job_id(j), u, "100"));
	char state[6];
	static const char *const sqls[] = {
		"UPDATE ledger_entries SET amount = amount * 2",
		"UPDATE ledger_entries SET created_at = now() - interval '1 day'",
		"DELETE FROM ledger_entries",
		"UPDATE ledger_transfers SET amount = 1",
		"DELETE FROM ledger_transfers",
	};
	for (size_t i = 0; i < sizeof sqls / sizeof sqls[0]; i++) {
		tdb_fails(url, sqls[i], 0, NULL, state);
		if (strcmp(state, "42501") != 0) {
			fprintf(stderr, "%s: SQLSTATE %s\n", sqls[i], state);
			exit(1);
		}
	}
	CHECK_INT(tdb_int(url, "SELECT count(*) FROM ledger_entries", 0, NULL), 4);
	CHECK_INT(tdb_int(url, "SELECT count(*) FROM ledger_transfers", 0, NULL), 2);
	/* A balance below zero is refused by the account itself. */
	const char *p[] = { u };
	tdb_fails(url, "UPDATE ledger_accounts SET balance = -1 WHERE id = 'wallet:' || $1", 1, p,
		  state);
	CHECK_STR(state, "23514");
	close_db();
}

/* Runs `sql` on `pg`; returns 1 when it succeeded, else copies the SQLSTATE. */
static int run(PGconn *pg, const char *sql, char state[6])
{
	PGresult *res = PQexec(pg, sql);
	int ok = db_result_ok(res);
	snprintf(state, 6, "%s", db_result_sqlstate(res));
	PQclear(res);
	return ok;
}

static void test_unbalanced_transfer_fails_at_commit(void)
{
	open_db();
	char u[IDS_MAX_LEN], t[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_fund(url, u, 1000);
	CHECK_INT(ids_new("trf", t), 0);
	PGconn *pg = tdb_connect(url);
	char sql[512], state[6];
	CHECK(run(pg, "BEGIN", state));
	snprintf(sql, sizeof sql,
		 "INSERT INTO ledger_transfers (id, idempotency_key, kind, amount)"
		 " VALUES ('%s', 'by-hand', 'topup', 500)",
		 t);
	CHECK(run(pg, sql, state));
	snprintf(sql, sizeof sql,
		 "INSERT INTO ledger_entries (transfer_id, account_id, amount)"
		 " VALUES ('%s', 'wallet:%s', 500)",
		 t, u);
	CHECK(run(pg, sql, state)); /* accepted until the end of the transaction */
	CHECK(!run(pg, "COMMIT", state));
	CHECK_STR(state, "23514");

	/* Two legs that do not sum to zero fail the same way. */
	CHECK(run(pg, "BEGIN", state));
	snprintf(sql, sizeof sql,
		 "INSERT INTO ledger_transfers (id, idempotency_key, kind, amount)"
		 " VALUES ('%s', 'by-hand-2', 'topup', 500)",
		 t);
	CHECK(run(pg, sql, state));
	snprintf(sql, sizeof sql,
		 "INSERT INTO ledger_entries (transfer_id, account_id, amount)"
		 " VALUES ('%s', 'wallet:%s', 500), ('%s', 'funding', -499)",
		 t, u, t);
	CHECK(run(pg, sql, state));
	CHECK(!run(pg, "COMMIT", state));
	CHECK_STR(state, "23514");
	PQfinish(pg);

	char account[64];
	snprintf(account, sizeof account, "wallet:%s", u);
	CHECK_INT(tdb_balance(url, account), 1000);
	const char *p[] = { t };
	CHECK_INT(tdb_int(url, "SELECT count(*) FROM ledger_transfers WHERE id = $1", 1, p), 0);
	close_db();
}

static void test_database_unavailable(void)
{
	base = event_base_new();
	pool = tdb_pool_unreachable(base, LEDGER_STMTS, LEDGER_STMTS_N);
	char u[IDS_MAX_LEN];
	CHECK_INT(ids_new("usr", u), 0);
	answer w = wallet(u);
	CHECK(w.result == NULL);
	CHECK_STR(w.code, "database_unavailable");
	answer t = topup(u, 100, NULL);
	CHECK(t.result == NULL);
	CHECK_STR(t.code, "database_unavailable");
	answer l = transactions(u, 10, NULL);
	CHECK(l.result == NULL);
	CHECK_STR(l.code, "database_unavailable");
	db_pool_free(pool);
	event_base_free(base);
}

TEST_MAIN(TEST(test_topup_and_wallet), TEST(test_transactions_newest_first),
	  TEST(test_transactions_pages), TEST(test_forged_cursor_is_invalid),
	  TEST(test_transactions_pages_across_equal_times), TEST(test_hold_capture_release),
	  TEST(test_concurrent_holds), TEST(test_concurrent_holds_same_job),
	  TEST(test_entries_are_immutable), TEST(test_unbalanced_transfer_fails_at_commit),
	  TEST(test_database_unavailable))
