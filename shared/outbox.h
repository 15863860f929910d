/* The outbox: events written with each transition, published to Redis streams after commit. */
#ifndef ERRAND_OUTBOX_H
#define ERRAND_OUTBOX_H

#include "db.h"
#include "redis.h"

/* How long a publisher may take before another may publish the same rows. */
#define OUTBOX_CLAIM_SECONDS 30
/* The relay leaves rows younger than this to the process that wrote them. */
#define OUTBOX_RELAY_AGE_SECONDS 2

extern const db_stmt OUTBOX_STMTS[];
extern const size_t OUTBOX_STMTS_N;

/* Jobs whose events one publication takes at most. */
#define OUTBOX_BATCH_JOBS 256

typedef struct outbox_queue outbox_queue;

typedef struct outbox {
	db_pool *db;
	redis_client *redis;
	const char *prefix; /* ERRAND_STREAM_PREFIX, borrowed */
	long maxlen;	    /* ERRAND_STREAM_MAXLEN */
	/* The loop: the publications asked for in one turn of it go out together.
	 * NULL: each at once. */
	struct event_base *base;
	outbox_queue *queue; /* internal; outbox_free() releases it */
} outbox;

/*
 * Publishes the unpublished events of `job_id` (after the transition that
 * wrote them committed): each is XADDed to <prefix><stream> with the
 * fields event_id, type, job_id, payload, created_at, then marked
 * published. The jobs asked for in one turn of the loop are claimed,
 * published and marked together (two statements for all of them; with a
 * loop, the marks of every publication finished in one turn are one
 * statement). Fire and forget: what fails here the relay publishes later.
 */
void outbox_publish_job(outbox *ob, const char *job_id);

/*
 * Publishes events a statement claimed itself (with outbox_claim_job() of
 * migration 0007, in the transaction that wrote them): the rows of `res`
 * whose column `col` is not NULL, that column and the six after it being
 * outbox_claim_job()'s. XADDs them and marks them published as
 * outbox_publish_job() does; `res` is read before this returns. Fire and
 * forget: what fails here the relay publishes once the claim lapses.
 */
void outbox_publish_claimed(outbox *ob, const PGresult *res, int col);

/*
 * Drops what is queued (the relay publishes it; events published but not
 * yet marked, whose mark waits for the end of the loop's turn, may reach
 * their stream twice) and frees the queue.
 */
void outbox_free(outbox *ob);

/*
 * The relay: publishes up to `limit` events that are older than
 * OUTBOX_RELAY_AGE_SECONDS and still unpublished (their writer crashed, or
 * Redis was down), then calls `done` with how many were published (-1 when
 * the database could not answer). Several relays at once publish each
 * event once (claims with SKIP LOCKED); an event may still reach Redis
 * twice if a relay dies between XADD and marking, so consumers dedupe by
 * event_id.
 */
void outbox_relay(outbox *ob, int limit, void (*done)(void *arg, int published), void *arg);

#endif
