/* Webhook deliveries: taking a due message, recording each attempt, the retry schedule, the records' view. */
#ifndef ERRAND_DELIVERIES_H
#define ERRAND_DELIVERIES_H

#include <jansson.h>

#include "db.h"
#include "ids.h"
#include "outbox.h"
#include "pagination.h"

/* The event of a run's webhook (CONTRACT.md). */
#define DELIVERY_RUN_CREATED "agent.run.created"
/* How many secrets sign one message at most (a rotation's overlap). */
#define DELIVERY_SECRETS_MAX 8
/* A Retry-After longer than this (a day) counts as this long. */
#define DELIVERY_RETRY_AFTER_MAX 86400L
/* The first bytes of a response body kept with an attempt. */
#define DELIVERY_HEAD_MAX 512

extern const db_stmt DELIVERIES_STMTS[];
extern const size_t DELIVERIES_STMTS_N;

/* A message taken for one attempt. Owned by the callback's caller: valid during the callback only. */
typedef struct delivery {
	const char *id;	   /* the msg_… id: the webhook-id */
	const char *event; /* agent.run.created, job.completed, … */
	const char *url;   /* NULL when the endpoint has none */
	const char *secrets[DELIVERY_SECRETS_MAX]; /* opened whsec_ secrets, newest first */
	int nsecrets;
	const char *payload; /* the stored body */
	const char *run_id;  /* NULL when not a run's webhook */
	int attempt;	     /* 1 for the first */
	int disabled;	     /* the endpoint answered 410 before, or has no URL */
} delivery;

/* `d` is NULL when the message was not taken (not due, taken by another, no longer needed). */
typedef void (*deliveries_claim_cb)(void *arg, const delivery *d, const char *error);

/*
 * Takes message `message_id` for one attempt, locked for `lock_s` seconds.
 * For a run's message (`run_id` not NULL) whose run has no token hashes yet,
 * first stores them (derived under `key`, ERRAND_SECRETS_KEY). Sealed
 * secrets are opened with `key`. `cb` is called once.
 */
void deliveries_claim(db_pool *db, const char *message_id, const char *run_id,
		      const unsigned char key[32], int lock_s, deliveries_claim_cb cb, void *arg);

/* One message to take, and whom to tell. */
typedef struct delivery_want {
	const char *message_id;
	const char *run_id; /* NULL or "" when none */
	deliveries_claim_cb cb;
	void *arg;
} delivery_want;

/*
 * deliveries_claim() of `n` (>= 1) messages in one statement: each want's
 * callback is called once, in their order, when the statement is answered
 * (at once on a failure to queue it). A message asked twice is taken once
 * at most. `wants` and its strings are copied: the caller keeps them.
 */
void deliveries_claim_many(db_pool *db, const delivery_want *wants, int n,
			   const unsigned char key[32], int lock_s);

/* The outcome of one attempt. */
typedef struct delivery_result {
	const char *message_id;
	int attempt;
	const char *target;
	long status_code; /* 0: no response */
	const char *error; /* NULL on a response */
	long latency_ms;
	const char *head; /* the first bytes of the body, or NULL */
	long next_delay_ms; /* when to try again; -1: no attempt left */
	int gone;	    /* 410: disable the endpoint */
} delivery_result;

/* `job_id`: the job whose events the record may have made, or NULL. */
typedef void (*deliveries_record_cb)(void *arg, const char *job_id, const char *error);

/*
 * Records an attempt; `expiry_s` is ERRAND_RUN_EXPIRY_SECONDS (a 2xx starts
 * the run's clock). The same statement claims the events of the job it may
 * have changed; they are published through `ob` before `cb` is called
 * (`ob` NULL: left to the relay).
 */
void deliveries_record(db_pool *db, outbox *ob, const delivery_result *r, int expiry_s,
		       deliveries_record_cb cb, void *arg);

/*
 * Due messages the stream did not bring: retries, and (when `fresh`) first
 * attempts older than a couple of seconds, whose entry Redis may have
 * lost. `ids`, `run_ids` ("" when none) and `tos` (the agent's or
 * observer's id each goes to) of up to `limit` rows, valid during the
 * callback.
 */
typedef void (*deliveries_due_cb)(void *arg, int n, const char *const *ids,
				  const char *const *run_ids, const char *const *tos,
				  const char *error);
void deliveries_due(db_pool *db, int limit, int fresh, deliveries_due_cb cb, void *arg);

/*
 * The delay before the attempt after failed attempt `attempt` (1-based)
 * under `schedule` (ERRAND_WEBHOOK_RETRY_SCHEDULE: the delay before each
 * attempt, the first usually 0), in milliseconds: the step, stretched by
 * up to 20% of jitter (`jitter01` in [0, 1)), and at least `retry_after_s`
 * (a Retry-After, -1 when none; at most DELIVERY_RETRY_AFTER_MAX counts).
 * -1 when no attempt is left.
 */
long deliveries_next_delay_ms(const int *schedule, int n, int attempt, long retry_after_s,
			      double jitter01);

/* The attempts of job `job_id`, newest first. Returns -1 on a malformed cursor. */
int deliveries_list_for_job(db_pool *db, const char *job_id, int limit, const char *cursor,
			    pagination_cb cb, void *arg) __attribute__((warn_unused_result));

#endif
