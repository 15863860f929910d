/* The outbox publisher and relay: PostgreSQL rows to Redis streams, at least once. */
#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"

/*
 * The bookkeeping of publishing (claims, marks) commits without waiting for
 * the disk: losing it in a crash only means an event is published again,
 * which at-least-once delivery allows; the transitions themselves commit
 * durably. This keeps a request to one flushed commit.
 */
#define NO_FLUSH "WITH nf AS (SELECT set_config('synchronous_commit', 'off', true))"
#define CLAIM_RETURNING                                                               \
	" RETURNING id, event_id, stream, type, coalesce(job_id, ''), payload::text," \
	" (extract(epoch FROM created_at) * 1000)::bigint)"                           \
	" SELECT c.* FROM c, nf ORDER BY id"

const db_stmt OUTBOX_STMTS[] = {
	{ "outbox_claim_jobs",
	  NO_FLUSH " SELECT c.* FROM nf, unnest($1::text[]) j, LATERAL outbox_claim_job(j) c"
		   " ORDER BY c.id",
	  1 },
	{ "outbox_claim_old",
	  NO_FLUSH ", c AS (UPDATE outbox SET claimed_until = now() + interval '30 seconds'"
		   " WHERE id IN (SELECT id FROM outbox WHERE published_at IS NULL"
		   "  AND created_at < now() - interval '2 seconds'"
		   "  AND (claimed_until IS NULL OR claimed_until < now())"
		   "  ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)" CLAIM_RETURNING,
	  1 },
	{ "outbox_mark",
	  NO_FLUSH " UPDATE outbox SET published_at = now() FROM nf WHERE id = ANY ($1::bigint[])",
	  1 },
	{ "outbox_unclaim",
	  NO_FLUSH " UPDATE outbox SET claimed_until = NULL FROM nf"
		   " WHERE id = ANY ($1::bigint[]) AND published_at IS NULL",
	  1 },
};
const size_t OUTBOX_STMTS_N = sizeof OUTBOX_STMTS / sizeof OUTBOX_STMTS[0];

/* One batch of claimed rows being published. */
typedef struct batch {
	outbox *ob;
	struct batch *next; /* the next batch whose rows one mark statement marks */
	int waiting; /* XADDs not yet answered */
	int nrows;
	long long *ids;
	char *ok; /* per row: the XADD succeeded */
	void (*done)(void *arg, int published);
	void *arg;
} batch;

/* The work one turn of the loop gathers. */
struct outbox_queue {
	struct event *ev; /* fires once the turn is over */
	db_array jobs;	  /* the jobs whose events to claim */
	batch *marks;	       /* published batches whose rows are to be marked (`next`) */
	struct event *ev_mark; /* fires once the turn is over */
};

static void batch_free(batch *b)
{
	free(b->ids);
	free(b->ok);
	free(b);
}

/* The answer of a mark statement: for `arg`, a list of batches (`next`). */
static void on_marked(void *arg, PGresult *res, const char *error)
{
	int failed = !db_result_ok(res);
	for (batch *b = arg, *next; b; b = next) {
		next = b->next;
		int published = 0;
		for (int i = 0; i < b->nrows; i++)
			published += b->ok[i];
		if (failed) {
			log_warn("outbox: marking %d events published failed: %s (they will be sent again)",
				 published, error ? error : "no result");
			published = -1;
		}
		if (b->done)
			b->done(b->arg, published);
		batch_free(b);
	}
}

/*
 * The ids of the rows whose XADD went through (`ok` 1) or failed (`ok` 0),
 * of batch `first` and those after it (`next`), into `list` (empty when
 * there are none).
 */
static void id_list(const batch *first, int ok, db_array *list)
{
	db_array_init(list);
	for (const batch *b = first; b; b = b->next)
		for (int i = 0; i < b->nrows; i++)
			if (b->ok[i] == ok)
				db_array_add_int(list, b->ids[i]);
}

static void on_unclaimed(void *arg, PGresult *res, const char *error)
{
	(void)arg;
	if (!db_result_ok(res))
		log_warn("outbox: releasing claims failed: %s (they expire by themselves)",
			 error ? error : "no result");
}

/* Marks the rows of batch `first` and those after it in one statement. */
static void mark(outbox *ob, batch *first)
{
	db_array list;
	id_list(first, 1, &list);
	const char *params[] = { db_array_text(&list) };
	if (!params[0]) {
		db_array_free(&list);
		on_marked(first, NULL, "out of memory");
		return;
	}
	int r = db_query(ob->db, "outbox_mark", 1, params, on_marked, first);
	db_array_free(&list);
	if (r != 0)
		on_marked(first, NULL, "cannot queue the query");
}

static outbox_queue *queue_of(outbox *ob);

/*
 * Every XADD answered: the rows that failed are released at once (another
 * publisher may take them), the ones that went through are marked, with
 * those of the other batches finished in the same turn of the loop.
 */
static void batch_finish(batch *b)
{
	db_array failed;
	id_list(b, 0, &failed);
	const char *params[] = { db_array_text(&failed) };
	if (failed.n > 0 && params[0] &&
	    db_query(b->ob->db, "outbox_unclaim", 1, params, on_unclaimed, NULL) != 0)
		log_warn("outbox: cannot queue the release of claims");
	db_array_free(&failed);
	int any = 0;
	for (int i = 0; i < b->nrows; i++)
		any |= b->ok[i];
	if (!any) {
		if (b->done)
			b->done(b->arg, 0);
		batch_free(b);
		return;
	}
	outbox_queue *q = b->ob->base ? queue_of(b->ob) : NULL;
	if (!q) {
		mark(b->ob, b);
		return;
	}
	b->next = q->marks;
	q->marks = b;
	if (!b->next)
		event_active(q->ev_mark, EV_TIMEOUT, 0);
}

/* The answer of one XADD; `arg` points at the row's slot in `ok`. */
typedef struct xadd_slot {
	batch *b;
	int index;
} xadd_slot;

static void on_xadd(void *arg, redisReply *reply, const char *error)
{
	xadd_slot *slot = arg;
	batch *b = slot->b;
	if (reply && !error)
		b->ok[slot->index] = 1;
	free(slot);
	if (--b->waiting == 0)
		batch_finish(b);
}

/*
 * Publishes the rows of `res` whose column `col` (the first of the claim's
 * seven) is not NULL, then marks them; the batch is freed when done.
 */
static void batch_publish(batch *b, const PGresult *res, int col)
{
	int rows = PQntuples(res);
	b->ids = calloc((size_t)rows + 1, sizeof *b->ids);
	b->ok = calloc((size_t)rows + 1, 1);
	if (!b->ids || !b->ok) {
		if (b->done)
			b->done(b->arg, -1);
		batch_free(b);
		return;
	}
	/* One more than the rows: the batch cannot finish while this loop runs. */
	b->waiting = 1;
	for (int r = 0; r < rows; r++) {
		if (PQgetisnull(res, r, col))
			continue;
		int i = b->nrows++;
		b->ids[i] = strtoll(PQgetvalue(res, r, col), NULL, 10);
		char stream[128], when[CLOCK_RFC3339_LEN];
		snprintf(stream, sizeof stream, "%s%s", b->ob->prefix, PQgetvalue(res, r, col + 2));
		clock_format_rfc3339(strtoll(PQgetvalue(res, r, col + 6), NULL, 10), when);
		const char *fields[] = { "event_id",   PQgetvalue(res, r, col + 1),
					 "type",       PQgetvalue(res, r, col + 3),
					 "job_id",     PQgetvalue(res, r, col + 4),
					 "payload",    PQgetvalue(res, r, col + 5),
					 "created_at", when };
		xadd_slot *slot = malloc(sizeof *slot);
		if (!slot)
			continue;
		slot->b = b;
		slot->index = i;
		b->waiting++;
		redis_xadd(b->ob->redis, stream, b->ob->maxlen, 5, fields, on_xadd, slot);
	}
	if (--b->waiting == 0)
		batch_finish(b);
}

static void on_claimed(void *arg, PGresult *res, const char *error)
{
	batch *b = arg;
	if (!db_result_ok(res)) {
		log_warn("outbox: claiming events failed: %s", error ? error : "no result");
		if (b->done)
			b->done(b->arg, -1);
		batch_free(b);
		return;
	}
	batch_publish(b, res, 0);
}

void outbox_publish_claimed(outbox *ob, const PGresult *res, int col)
{
	batch *b = calloc(1, sizeof *b);
	if (!b) {
		log_warn("outbox: out of memory; the relay publishes the events");
		return;
	}
	b->ob = ob;
	batch_publish(b, res, col);
}

/* Starts a batch with the claim statement `stmt`. */
static void claim(outbox *ob, const char *stmt, const char *param,
		  void (*done)(void *arg, int published), void *arg)
{
	batch *b = calloc(1, sizeof *b);
	if (!b) {
		if (done)
			done(arg, -1);
		return;
	}
	b->ob = ob;
	b->done = done;
	b->arg = arg;
	const char *params[] = { param };
	if (db_query(ob->db, stmt, 1, params, on_claimed, b) != 0)
		on_claimed(b, NULL, "cannot queue the query");
}

/* Marks, in one statement, the rows of the publications finished in this turn of the loop. */
static void marks_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	outbox *ob = arg;
	batch *first = ob->queue ? ob->queue->marks : NULL;
	if (!first)
		return;
	ob->queue->marks = NULL;
	mark(ob, first);
}

static void queue_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	outbox *ob = arg;
	outbox_queue *q = ob->queue;
	if (!q || q->jobs.n == 0)
		return;
	const char *list = db_array_text(&q->jobs);
	if (list)
		claim(ob, "outbox_claim_jobs", list, NULL, NULL);
	else
		log_warn("outbox: out of memory; the relay publishes the events");
	db_array_clear(&q->jobs);
}

/* The queue of `ob` (which has a loop), made on first use; NULL when out of memory. */
static outbox_queue *queue_of(outbox *ob)
{
	outbox_queue *q = ob->queue;
	if (q)
		return q;
	q = calloc(1, sizeof *q);
	if (!q)
		return NULL;
	q->ev = event_new(ob->base, -1, 0, queue_flush, ob);
	q->ev_mark = event_new(ob->base, -1, 0, marks_flush, ob);
	if (!q->ev || !q->ev_mark) {
		if (q->ev)
			event_free(q->ev);
		if (q->ev_mark)
			event_free(q->ev_mark);
		free(q);
		return NULL;
	}
	return ob->queue = q;
}

void outbox_publish_job(outbox *ob, const char *job_id)
{
	if (!ids_valid(job_id, NULL))
		return;
	if (!ob->base) {
		char one[IDS_MAX_LEN + 2];
		snprintf(one, sizeof one, "{%s}", job_id);
		claim(ob, "outbox_claim_jobs", one, NULL, NULL);
		return;
	}
	outbox_queue *q = queue_of(ob);
	if (!q) {
		log_warn("outbox: out of memory; the relay publishes the events");
		return;
	}
	if (q->jobs.failed) {
		/* out of memory before: those jobs' events are left to the relay */
		log_warn("outbox: out of memory; the relay publishes the events");
		db_array_clear(&q->jobs);
	}
	db_array_add(&q->jobs, job_id); /* out of memory: the relay publishes it */
	if (q->jobs.n == 1)
		event_active(q->ev, EV_TIMEOUT, 0);
	else if (q->jobs.n >= OUTBOX_BATCH_JOBS)
		queue_flush(-1, 0, ob);
}

void outbox_free(outbox *ob)
{
	if (!ob || !ob->queue)
		return;
	if (ob->queue->ev)
		event_free(ob->queue->ev);
	event_free(ob->queue->ev_mark);
	/* rows published but not yet marked stay claimed: the relay sends them again */
	for (batch *b = ob->queue->marks, *next; b; b = next) {
		next = b->next;
		batch_free(b);
	}
	db_array_free(&ob->queue->jobs);
	free(ob->queue);
	ob->queue = NULL;
}

void outbox_relay(outbox *ob, int limit, void (*done)(void *arg, int published), void *arg)
{
	char text[16];
	snprintf(text, sizeof text, "%d", limit);
	claim(ob, "outbox_claim_old", text, done, arg);
}
