/* Runs (seed 004): the reply API, the run's views and the run sweep, over the SQL of migration 0005. */
#ifndef ERRAND_RUNS_H
#define ERRAND_RUNS_H

#include <jansson.h>
#include <stdint.h>

#include "db.h"
#include "outbox.h"
#include "pagination.h"
#include "principals.h"

/* Reply statuses (seed 004). */
#define RUN_REPLY_PARTIAL "partial"
#define RUN_REPLY_COMPLETED "completed"
#define RUN_REPLY_FAILED "failed"

/* Outcomes of a reply. */
#define RUN_OK "ok"
#define RUN_INVALID_TOKEN "invalid_reply_token"
#define RUN_EXPIRED "run_expired"
#define RUN_OPEN_SUBJOBS "open_subjobs"

/* Limits of a reply's fields. */
#define RUN_MESSAGE_MAX 100000
#define RUN_ERROR_MAX 200
#define RUN_IDEMPOTENCY_KEY_MAX 255

extern const db_stmt RUNS_STMTS[];
extern const size_t RUNS_STMTS_N;

/* A reply, as read from POST /api/agents/reply; strings borrowed. */
typedef struct runs_reply {
	const char *token; /* the replyToken */
	const char *status;
	const char *message;
	const char *error;
	const json_t *result; /* or NULL */
	int has_tokens;
	int64_t tokens_used;
	const char *idempotency_key;
	int cancel_open_subjobs;
} runs_reply;

/* What a reply did: outcome RUN_OK or a refusal above. */
typedef struct runs_reply_answer {
	const char *outcome;
	const char *run_id;
	const char *run_status;
	const char *job_id; /* NULL when the run has no job */
	int idempotent;
	int expires_in_seconds;
} runs_reply_answer;

/* `answer` is NULL when the database could not answer (`error` says why). */
typedef void (*runs_reply_cb)(void *arg, const runs_reply_answer *answer, const char *error);

/*
 * Applies a reply to the run its token's hash finds, in one statement;
 * `expiry_s` is ERRAND_RUN_EXPIRY_SECONDS. The same statement claims the
 * job's events when the reply changed something, and they are published
 * through `ob` before `cb` is called (`ob` NULL: left to the relay). A token
 * that is not shaped like a reply token is answered RUN_INVALID_TOKEN
 * without asking the database.
 */
void runs_reply_apply(db_pool *db, outbox *ob, const runs_reply *reply, int expiry_s,
		      runs_reply_cb cb, void *arg);

/* Whether a reply token (well shaped) belongs to a run. */
void runs_token_known(db_pool *db, const char *token,
		      void (*cb)(void *arg, int known, const char *error), void *arg);

/*
 * The run `run_id` as `viewer` may see it (the job's creator, the run's
 * agent, an admin): {id, status, job_id, agent_id, created_at,
 * acknowledged_at, expires_at, ended_at, error, messages: [{seq, role,
 * text, created_at}]}, or NULL (`error` NULL: not found or not visible).
 */
typedef void (*runs_view_cb)(void *arg, json_t *view, const char *error);
void runs_get(db_pool *db, const char *run_id, const principal *viewer, runs_view_cb cb, void *arg);

/*
 * The runs of job `job_id`, newest first, as rows for runs_view_row().
 * Returns -1 on a malformed cursor.
 */
int runs_list_for_job(db_pool *db, const char *job_id, int limit, const char *cursor,
		      pagination_cb cb, void *arg) __attribute__((warn_unused_result));

/* The view of a run row (without its messages). New reference. */
json_t *runs_view_row(const json_t *row);

/* The counts of a run sweep, or `error` when the database could not answer. */
typedef void (*runs_sweep_cb)(void *arg, int expired_runs, int failed_runs, int failed_deadlines,
			      const char *error);

/* Rows a run sweep handles at most per kind. */
#define RUNS_SWEEP_LIMIT 1000

/*
 * Expires stalled runs, fails runs undelivered after `delivery_deadline_s`
 * and /v1/jobs jobs past their deadline (runs_sweep). Returns -1 if the
 * query could not be queued (`cb` not called).
 */
int runs_sweep(db_pool *db, int delivery_deadline_s, runs_sweep_cb cb, void *arg)
	__attribute__((warn_unused_result));

#endif
