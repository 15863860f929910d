/* The job core as the APIs use it: the marketplace operations (seed 003) and the job's views. */
#ifndef ERRAND_JOBS_H
#define ERRAND_JOBS_H

#include <jansson.h>

#include "db.h"
#include "outbox.h"
#include "pagination.h"
#include "principals.h"

/* Outcomes of the operations (the SQL functions of migration 0003). */
#define JOB_OK "ok"
#define JOB_NONE "none"
#define JOB_NOT_FOUND "not_found"
#define JOB_INSUFFICIENT_BALANCE "insufficient_balance"
#define JOB_NOT_PENDING_PAYMENT "not_pending_payment"
#define JOB_NOT_HELD "not_held"
#define JOB_HOLD_EXPIRED "hold_expired"
#define JOB_NOT_ACCEPTED "not_accepted"
#define JOB_DEADLINE_PASSED "deadline_passed"
#define JOB_ATTACHMENT_NOT_FOUND "attachment_not_found"

/* Limits of the marketplace's fields. */
#define JOB_PROMPT_MAX 20000
#define JOB_PRICE_MAX 100000000
#define JOB_TIME_LIMIT_MAX (30 * 24 * 3600)
#define JOB_ATTACHMENTS_MAX 20
#define JOB_REASON_MAX 1000

extern const db_stmt JOBS_STMTS[];
extern const size_t JOBS_STMTS_N;

/*
 * The answer of an operation: `outcome` (JOB_OK or a refusal above, NULL
 * when the database could not answer, with `error` set) and `row`, the
 * canonical job row as JSON (borrowed; NULL when there is none).
 */
typedef void (*jobs_cb)(void *arg, const char *outcome, json_t *row, const char *error);

/*
 * Runs one operation: the statement `name` of JOBS_STMTS whose result is
 * (outcome, job). Returns 0, or -1 if the query could not be queued (`cb`
 * is then not called).
 */
int jobs_call(db_pool *db, const char *name, int nparams, const char *const *params, jobs_cb cb,
	      void *arg) __attribute__((warn_unused_result));

/*
 * jobs_call() of a statement whose result rows also carry, from column 2
 * on, the events it claimed (outbox_claim_job()): they are published
 * through `ob` (NULL: left claimed, for the relay) before `cb` is called.
 */
int jobs_call_publishing(db_pool *db, outbox *ob, const char *name, int nparams,
			 const char *const *params, jobs_cb cb, void *arg)
	__attribute__((warn_unused_result));

/*
 * The marketplace jobs `viewer` may list, newest first: a user's own, an
 * agent's held or accepted ones; `statuses` (canonical words, NULL for
 * all) filters. Returns -1 on a malformed cursor.
 */
int jobs_market_list(db_pool *db, const principal *viewer, const char *const *statuses,
		     int nstatuses, int limit, const char *cursor, pagination_cb cb, void *arg)
	__attribute__((warn_unused_result));

/* Rows a sweep handles at most per kind (expired holds, past deadlines). */
#define JOBS_SWEEP_LIMIT 1000

/* The counts of a sweep, or `error` when the database could not answer. */
typedef void (*jobs_sweep_cb)(void *arg, int released_holds, int failed_deadlines,
			      const char *error);

/*
 * Releases expired holds and fails accepted jobs past their deadline
 * (market_sweep; several sweepers at once never do the same row twice).
 * Returns -1 if the query could not be queued (`cb` not called).
 */
int jobs_sweep(db_pool *db, jobs_sweep_cb cb, void *arg) __attribute__((warn_unused_result));

/* The seed 003 word for a canonical status: running → accepted, completed → verified. */
const char *jobs_market_status(const char *canonical);

/*
 * Canonical statuses for a seed 003 status word; NULL when the word is not
 * one of `pending_payment queued held accepted submitted verified
 * cancelled failed`.
 */
const char *jobs_market_canonical(const char *word);

/*
 * The job object of /api/jobs (CONTRACT.md) from a canonical row, as
 * `viewer` may see it: envVars (`env_vars`, already opened, may be NULL)
 * and output only for the sender and the agent that accepted the job.
 * Returns a new reference.
 */
json_t *jobs_market_view(const json_t *row, const principal *viewer, json_t *env_vars);

/* Nonzero when `viewer` is the job's sender or the agent that accepted it. */
int jobs_market_is_party(const json_t *row, const principal *viewer);

/* Outcomes of the dispatch operations (migration 0005). */
#define JOB_AGENT_NOT_FOUND "agent_not_found"
#define JOB_AGENT_HAS_NO_WEBHOOK "agent_has_no_webhook"
#define JOB_PARENT_NOT_FOUND "parent_not_found"

/* The seed 002 word for a canonical status: queued, running, completed, failed, cancelled. */
const char *jobs_dispatch_status(const char *canonical);

/*
 * The job object of /v1/jobs (CONTRACT.md) from the row of dispatch_row()
 * (the canonical row with `subjobs` and `tokens_total`). New reference.
 */
json_t *jobs_dispatch_view(const json_t *row);

#endif
