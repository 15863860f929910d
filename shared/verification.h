/* Verification of a submitted attempt: taking it, the checks' pure parts, settling it (migration 0006). */
#ifndef ERRAND_VERIFICATION_H
#define ERRAND_VERIFICATION_H

#include <jansson.h>
#include <stddef.h>

#include "db.h"

/* The steps of a check, as the log names them. */
#define VERIFY_STEP_START "start"
#define VERIFY_STEP_OUTPUT "output"
#define VERIFY_STEP_SCHEMA "schema"
#define VERIFY_STEP_EXTERNAL "external"
#define VERIFY_STEP_JUDGE "judge"
#define VERIFY_STEP_VERDICT "verdict"

/* Why an attempt failed when no verifier or judge could answer. */
#define VERIFY_UNAVAILABLE "verifier_unavailable"

/* A verifier's or judge's reason, at most. */
#define VERIFY_REASON_MAX 500

/*
 * The member of a job's stored `verification` that holds the external
 * verifier's secret, sealed; views of the job never show it.
 */
#define VERIFY_SECRET_MEMBER "secret_sealed"

/*
 * The log streams (docs/streams.md): <prefix>logs:<job id> holds a job's
 * log; with each entry the writer XADDs {job_id} to the index <prefix>logs,
 * from which the gateway learns which logs have news.
 */
#define VERIFY_LOG_STREAM "logs:"
#define VERIFY_LOG_INDEX "logs"
#define VERIFY_LOG_INDEX_FIELD "job_id"
#define VERIFY_LOG_INDEX_MAXLEN 10000

/* Outcomes of a settlement. */
#define VERIFY_OK "ok"
#define VERIFY_STALE "stale"

extern const db_stmt VERIFICATION_STMTS[];
extern const size_t VERIFICATION_STMTS_N;

/* A submitted attempt taken for verification; strings valid during the callback. */
typedef struct verification_job {
	const char *job_id;
	int attempt;
	const char *kind;	   /* market, dispatch */
	const char *output;	   /* the output's JSON text, or NULL when there is none */
	const char *output_schema; /* JSON text, or NULL */
	const json_t *verification; /* {webhook_url?, judge?} or NULL */
	const char *secret;	    /* the external verifier's whsec_ secret (opened), or NULL */
	const char *objective;
	const char *constraints; /* JSON text */
} verification_job;

/* `j` is NULL when there is nothing to verify (settled, moved on, held by another verifier). */
typedef void (*verification_take_cb)(void *arg, const verification_job *j, const char *error);

/*
 * Takes attempt `attempt` of `job_id` for verifier `instance` for
 * `lease_s` seconds (verify_take). Sealed secrets are opened with `key`
 * (32 bytes, or NULL).
 */
void verification_take(db_pool *db, const char *job_id, int attempt, const char *instance,
		       int lease_s, const unsigned char *key, verification_take_cb cb, void *arg);

/* `outcome` VERIFY_OK or VERIFY_STALE with the job's status after, or NULL and `error`. */
typedef void (*verification_settle_cb)(void *arg, const char *outcome, const char *status,
				       const char *error);

/*
 * Settles the attempt (verify_settle): stores `log` (the entries sent on the
 * stream: [{id, event, data}]) and the verdict, and moves the job in the
 * same transaction (a pass completes it and captures its hold less
 * `fee_bps`; a fail runs its fail logic).
 */
void verification_settle(db_pool *db, const char *job_id, int attempt, int pass,
			 const char *reason, const json_t *log, int fee_bps,
			 verification_settle_cb cb, void *arg);

/*
 * Extends the lease `instance` holds on attempt `attempt` of `job_id` to
 * `lease_s` seconds from now, while its check runs (a check may outlast one
 * lease: a slow external verifier or judge, retries). Fire and forget: a
 * lease that is no longer the instance's is logged (another verifier may
 * be checking the attempt too; the first settlement counts).
 */
void verification_renew(db_pool *db, const char *job_id, int attempt, const char *instance,
			int lease_s);

/* Appends the verdict's stream entry to the stored log (after it was sent). Fire and forget. */
void verification_record_verdict(db_pool *db, const char *job_id, int attempt,
				 const json_t *entry);

/* Submitted attempts no verifier holds: `ids` and `attempts` valid during the callback. */
typedef void (*verification_due_cb)(void *arg, int n, const char *const *ids,
				    const int *attempts, const char *error);
void verification_due(db_pool *db, int limit, verification_due_cb cb, void *arg);

/*
 * Which of the jobs `ids` (a PostgreSQL text[] literal of job ids,
 * {job_a,job_b}) are finished (completed, failed, cancelled, archived)
 * with no verdict on its way to their log streams: none was settled in
 * the last VERIFY_VERDICT_GRACE_SECONDS without being recorded yet (its
 * verifier writes it to the stream, then records it). `attempts` are their
 * attempt counts.
 */
#define VERIFY_VERDICT_GRACE_SECONDS "10"
void verification_finished(db_pool *db, const char *ids, verification_due_cb cb, void *arg);

/*
 * A job's stored verification log, for its sender or its agent (the one
 * working on it, or one that held it before, whose attempt it may be): the job's
 * canonical `status` and `kind`, and `entries` ([{id, event, data}] of its
 * finished verifications, in order; borrowed). All NULL with `error` NULL
 * when the job does not exist or `viewer` may not read it.
 */
typedef void (*verification_log_cb)(void *arg, const char *status, const char *kind,
				    json_t *entries, const char *error);
void verification_job_log(db_pool *db, const char *job_id, const char *viewer_id,
			  verification_log_cb cb, void *arg);

/*
 * The first check: the output is there and at most `max_bytes` long.
 * Returns 1 (pass) or 0 (fail), with what to log in `msg`.
 */
int verification_check_output(const char *output, size_t max_bytes, char *msg, size_t msglen);

/*
 * A verdict answered by an external verifier or the judge, read strictly:
 * an object whose "pass" is a boolean and whose "reason" a string of at
 * most VERIFY_REASON_MAX bytes (other members are ignored). Returns 0 with
 * `*pass` and `reason` set, or -1 for anything else (garbage is never a pass).
 */
int verification_parse_verdict(const json_t *answer, int *pass, char *reason, size_t reasonlen)
	__attribute__((warn_unused_result));

/* The judge's system prompt: what it is asked and the exact answer shape. */
extern const char VERIFY_JUDGE_SYSTEM[];

/* The judge's user message for an objective, its constraints and the output. Caller frees. */
char *verification_judge_message(const char *objective, const char *constraints,
				 const char *output);

/*
 * The external verifier's request body (CONTRACT.md): {"type":
 * "verification.requested", "id": "evt_…", "data": {job_id, attempt,
 * objective, output, output_schema}}. Caller frees; NULL on failure.
 */
char *verification_request_body(const verification_job *j);

#endif
