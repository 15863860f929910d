/* The wallet ledger: balances, history and top-ups over the SQL functions of migration 0002. */
#include "ledger.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ids.h"
#include "log.h"
#include "pagination.h"

const db_stmt LEDGER_STMTS[] = {
	{ "ledger_wallet",
	  "SELECT w.balance,"
	  " (SELECT coalesce(sum(amount), 0) FROM ledger_holds"
	  "  WHERE payer_id = p.id AND status = 'pending'),"
	  " e.balance, p.role"
	  " FROM principals p"
	  " JOIN ledger_accounts w ON w.id = 'wallet:' || p.id"
	  " JOIN ledger_accounts e ON e.id = 'earnings:' || p.id"
	  " WHERE p.id = $1",
	  1 },
	{ "ledger_transactions",
	  "SELECT t.id, t.kind, e.amount, t.job_id, " DB_SQL_MS(
		  "e.created_at") ", e.created_at"
				  " FROM ledger_entries e JOIN ledger_transfers t ON t.id = e.transfer_id"
				  " WHERE e.account_id IN ('wallet:' || $1, 'earnings:' || $1)"
				  "   AND ($2::timestamptz IS NULL OR (e.created_at, e.transfer_id) < ($2, $3))"
				  " ORDER BY e.created_at DESC, e.transfer_id DESC LIMIT $4",
	  4 },
	{ "ledger_topup",
	  "SELECT ledger_transfer('topup:' || $2, 'topup', NULL, $3::bigint, 'funding', 'wallet:' || $1)"
	  " FROM principals WHERE id = $1",
	  3 },
};
const size_t LEDGER_STMTS_N = sizeof LEDGER_STMTS / sizeof LEDGER_STMTS[0];

/* A ledger call in progress. */
typedef struct ledger_call {
	db_pool *db;
	ledger_cb cb;
	void *arg;
	char principal_id[IDS_MAX_LEN];
	int limit;
} ledger_call;

static ledger_call *call_new(db_pool *db, const char *principal_id, ledger_cb cb, void *arg)
{
	ledger_call *c = calloc(1, sizeof *c);
	if (!c) {
		cb(arg, NULL, "internal_error", "out of memory");
		return NULL;
	}
	c->db = db;
	c->cb = cb;
	c->arg = arg;
	snprintf(c->principal_id, sizeof c->principal_id, "%s", principal_id);
	return c;
}

/* Answers a failed query: 503 material for the caller. */
static void call_db_failed(ledger_call *c, const char *what, const char *error)
{
	log_error("ledger %s: %s", what, error ? error : "no result");
	c->cb(c->arg, NULL, "database_unavailable", "the database could not answer");
	free(c);
}

static void on_wallet(void *arg, PGresult *res, const char *error)
{
	ledger_call *c = arg;
	if (!db_result_ok(res)) {
		call_db_failed(c, "wallet", error);
		return;
	}
	if (PQntuples(res) == 0) {
		c->cb(c->arg, NULL, LEDGER_ERR_NOT_FOUND, "no such principal");
		free(c);
		return;
	}
	json_t *w = json_pack("{s:s,s:I,s:I}", "currency", LEDGER_CURRENCY, "available_cents",
			      (json_int_t)strtoll(PQgetvalue(res, 0, 0), NULL, 10), "held_cents",
			      (json_int_t)strtoll(PQgetvalue(res, 0, 1), NULL, 10));
	if (strcmp(PQgetvalue(res, 0, 3), "agent") == 0)
		json_object_set_new(w, "earnings_cents",
				    json_integer(strtoll(PQgetvalue(res, 0, 2), NULL, 10)));
	c->cb(c->arg, w, NULL, NULL);
	free(c);
}

/* Queries the wallet for a call that already exists. */
static void wallet_query(ledger_call *c)
{
	const char *params[] = { c->principal_id };
	if (db_query(c->db, "ledger_wallet", 1, params, on_wallet, c) != 0)
		call_db_failed(c, "wallet", "cannot queue the query");
}

void ledger_wallet(db_pool *db, const char *principal_id, ledger_cb cb, void *arg)
{
	ledger_call *c = call_new(db, principal_id, cb, arg);
	if (c)
		wallet_query(c);
}

static void on_transactions(void *arg, PGresult *res, const char *error)
{
	ledger_call *c = arg;
	if (!db_result_ok(res)) {
		call_db_failed(c, "transactions", error);
		return;
	}
	int n = PQntuples(res);
	int shown = n > c->limit ? c->limit : n;
	json_t *data = json_array();
	for (int i = 0; i < shown; i++) {
		char when[CLOCK_RFC3339_LEN];
		clock_format_rfc3339(strtoll(PQgetvalue(res, i, 4), NULL, 10), when);
		json_array_append_new(
			data,
			json_pack("{s:s,s:s,s:I,s:o,s:s}", "id", PQgetvalue(res, i, 0), "kind",
				  PQgetvalue(res, i, 1), "amount_cents",
				  (json_int_t)strtoll(PQgetvalue(res, i, 2), NULL, 10), "job_id",
				  PQgetisnull(res, i, 3) ? json_null()
							 : json_string(PQgetvalue(res, i, 3)),
				  "created_at", when));
	}
	json_t *next = json_null();
	if (n > c->limit) {
		char *cursor = pagination_cursor(PQgetvalue(res, shown - 1, 5),
						 PQgetvalue(res, shown - 1, 0));
		if (cursor)
			next = json_string(cursor);
		free(cursor);
	}
	c->cb(c->arg, json_pack("{s:o,s:o}", "data", data, "next_cursor", next), NULL, NULL);
	free(c);
}

void ledger_transactions(db_pool *db, const char *principal_id, int limit, const char *cursor,
			 ledger_cb cb, void *arg)
{
	pagination_pos pos;
	if (pagination_parse(cursor, &pos) != 0) {
		cb(arg, NULL, "invalid_cursor", "the cursor is not one this API gave out");
		return;
	}
	ledger_call *c = call_new(db, principal_id, cb, arg);
	if (!c)
		return;
	c->limit = limit;
	char limit_text[16];
	snprintf(limit_text, sizeof limit_text, "%d", limit + 1);
	const char *params[] = { principal_id, cursor ? pos.time : NULL, cursor ? pos.id : NULL,
				 limit_text };
	if (db_query(db, "ledger_transactions", 4, params, on_transactions, c) != 0)
		call_db_failed(c, "transactions", "cannot queue the query");
}

static void on_topup(void *arg, PGresult *res, const char *error)
{
	ledger_call *c = arg;
	if (!db_result_ok(res)) {
		call_db_failed(c, "topup", error);
		return;
	}
	if (PQntuples(res) == 0) {
		c->cb(c->arg, NULL, LEDGER_ERR_NOT_FOUND, "no such principal");
		free(c);
		return;
	}
	wallet_query(c);
}

void ledger_topup(db_pool *db, const char *principal_id, int64_t amount_cents, const char *key,
		  ledger_cb cb, void *arg)
{
	ledger_call *c = call_new(db, principal_id, cb, arg);
	if (!c)
		return;
	char fresh[IDS_MAX_LEN], amount[24];
	if (!key) {
		if (ids_new("top", fresh) != 0) {
			call_db_failed(c, "topup", "cannot make an id");
			return;
		}
		key = fresh;
	}
	snprintf(amount, sizeof amount, "%" PRId64, amount_cents);
	const char *params[] = { principal_id, key, amount };
	if (db_query(db, "ledger_topup", 3, params, on_topup, c) != 0)
		call_db_failed(c, "topup", "cannot queue the query");
}
