/* The wallet ledger as callers see it: balances, history and top-ups (the SQL lives in migration 0002). */
#ifndef ERRAND_LEDGER_H
#define ERRAND_LEDGER_H

#include <jansson.h>
#include <stdint.h>

#include "db.h"

#define LEDGER_CURRENCY "USD"
/* The largest single top-up, in cents (one million dollars). */
#define LEDGER_TOPUP_MAX 100000000

#define LEDGER_ERR_NOT_FOUND "principal_not_found"

extern const db_stmt LEDGER_STMTS[];
extern const size_t LEDGER_STMTS_N;

/*
 * The answer of a ledger call: `result` (a new reference the callback
 * owns) or NULL with `error_code` and `message`.
 */
typedef void (*ledger_cb)(void *arg, json_t *result, const char *error_code, const char *message);

/*
 * The wallet of `principal_id`: {currency, available_cents, held_cents}
 * and, for an agent, earnings_cents. Unknown principal:
 * LEDGER_ERR_NOT_FOUND.
 */
void ledger_wallet(db_pool *db, const char *principal_id, ledger_cb cb, void *arg);

/*
 * The caller's history, newest first: {data: [{id, kind, amount_cents,
 * job_id, created_at}], next_cursor}. `amount_cents` is signed from the
 * caller's view. `cursor` (may be NULL) is a next_cursor from an earlier
 * page; a malformed one is error "invalid_cursor".
 */
void ledger_transactions(db_pool *db, const char *principal_id, int limit, const char *cursor,
			 ledger_cb cb, void *arg);

/*
 * Moves `amount_cents` from outside (the funding account) into the
 * principal's wallet, at most once per `key` (a fresh id when NULL), and
 * answers with the wallet as ledger_wallet() does.
 */
void ledger_topup(db_pool *db, const char *principal_id, int64_t amount_cents, const char *key,
		  ledger_cb cb, void *arg);

#endif
