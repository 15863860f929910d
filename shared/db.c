/* PostgreSQL pool: non-blocking libpq in pipeline mode on libevent, with reconnection. */
#include "db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"

/* Queries sent on one connection before the next waits for a free slot. */
#define DB_PIPELINE_DEPTH 64
/* Reconnection back-off: doubles from the first to the last, with jitter. */
#define DB_BACKOFF_FIRST_MS 100
#define DB_BACKOFF_MAX_MS 5000
/* How often waiting and in-flight queries are checked against their timeout. */
#define DB_TICK_MS 100

typedef enum {
	OP_PREPARE,  /* internal: prepares one statement on a new connection */
	OP_SETTINGS, /* internal: the session's timeouts on a new connection */
	OP_CHECK,    /* internal: the schema check of a new connection */
	OP_QUERY,    /* a caller's query */
} op_kind;

typedef struct db_op {
	TAILQ_ENTRY(db_op) link;
	op_kind kind;
	const db_stmt *stmt;
	int nparams;
	const char **values; /* points into the same allocation */
	int *lengths;	     /* of binary parameters, or NULL when all are text */
	int *formats;	     /* 1 for a binary parameter, 0 for text; NULL with `lengths` */
	int binary_result;
	db_result_cb cb;
	void *arg;
	int64_t since_ms; /* monotonic: when queued, then when sent */
	PGresult *res;	  /* the first result received */
	const char *error;
} db_op;

TAILQ_HEAD(op_list, db_op);

typedef enum {
	CONN_DOWN,	 /* not connected; a reconnect timer may be pending */
	CONN_CONNECTING, /* PQconnectPoll in progress */
	CONN_SETUP,	 /* connected, preparing statements and checking */
	CONN_READY,	 /* serving queries */
} conn_state;

typedef struct db_conn {
	db_pool *pool;
	int index;
	PGconn *pg;
	conn_state state;
	int fd;
	struct event *ev_io;	/* read (persistent) and, when output is pending, write */
	struct event *ev_retry; /* reconnect timer */
	int want_write;
	int backoff_ms;
	int64_t state_since_ms;	 /* monotonic: when the current attempt or set-up began */
	struct op_list inflight; /* sent, results pending, in order */
	int ninflight;
	int setup_left; /* set-up ops (settings, check, prepares) still in flight */
} db_conn;

struct db_pool {
	struct event_base *base;
	char *conninfo;
	db_options opt;
	const db_stmt **stmts;
	size_t nstmts;
	db_conn *conns;
	struct op_list waiting; /* queued for a connection */
	int nwaiting;
	struct op_list done; /* failed before being sent; callbacks deferred */
	struct event *ev_done;
	struct event *ev_tick;
	int started;
	int draining;
	void (*drain_cb)(void *);
	void *drain_arg;
	metric *m_queries;
	metric *m_errors;
	metric *m_latency;
	metric *m_up;
};

static void conn_connect(db_conn *c);
static void conn_io_cb(evutil_socket_t fd, short what, void *arg);
static void pool_pump(db_pool *pool);

/* ===== Operations ===== */

/*
 * A new op with copies of `nparams` values in one allocation: text values
 * up to their NUL, or, where `lengths` (may be NULL) has a length >= 0,
 * that many bytes sent as a binary parameter. Returns NULL on allocation
 * failure.
 */
static db_op *op_new(op_kind kind, const db_stmt *stmt, int nparams, const char *const *values,
		     const int *lengths, db_result_cb cb, void *arg)
{
	size_t bytes = sizeof(db_op) + (size_t)nparams * sizeof(char *);
	if (lengths)
		bytes += 2 * (size_t)nparams * sizeof(int);
	for (int i = 0; i < nparams; i++)
		if (values[i])
			bytes += (lengths && lengths[i] >= 0 ? (size_t)lengths[i]
							     : strlen(values[i])) +
				 1;
	db_op *op = calloc(1, bytes);
	if (!op)
		return NULL;
	op->kind = kind;
	op->stmt = stmt;
	op->nparams = nparams;
	op->values = (const char **)(op + 1);
	char *p = (char *)(op->values + nparams);
	if (lengths) {
		op->lengths = (int *)p;
		op->formats = op->lengths + nparams;
		p = (char *)(op->formats + nparams);
	}
	for (int i = 0; i < nparams; i++) {
		int binary = lengths && lengths[i] >= 0;
		if (lengths) {
			op->lengths[i] = binary ? lengths[i] : 0;
			op->formats[i] = binary;
		}
		if (!values[i]) {
			op->values[i] = NULL;
			continue;
		}
		size_t n = binary ? (size_t)lengths[i] : strlen(values[i]);
		memcpy(p, values[i], n);
		p[n] = '\0';
		op->values[i] = p;
		p += n + 1;
	}
	op->cb = cb;
	op->arg = arg;
	op->since_ms = clock_mono_ms();
	return op;
}

/* Calls the op's callback (if any) and frees it with its result. */
static void op_finish(db_pool *pool, db_op *op)
{
	if (op->kind == OP_QUERY) {
		metrics_add(pool->m_queries, 1);
		if (!op->res || PQresultStatus(op->res) == PGRES_FATAL_ERROR)
			metrics_add(pool->m_errors, 1);
		metrics_observe(pool->m_latency, (double)(clock_mono_ms() - op->since_ms) / 1000.0);
		if (op->cb)
			op->cb(op->arg, op->res, op->error);
	}
	PQclear(op->res);
	free(op);
}

/* Queues `op` to fail with `error` from the event loop, not from the caller's frame. */
static void op_fail_later(db_pool *pool, db_op *op, const char *error)
{
	op->error = error;
	TAILQ_INSERT_TAIL(&pool->done, op, link);
	event_active(pool->ev_done, 0, 0);
}

static void pool_done_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	db_pool *pool = arg;
	struct op_list list = TAILQ_HEAD_INITIALIZER(list);
	TAILQ_CONCAT(&list, &pool->done, link);
	db_op *op;
	while ((op = TAILQ_FIRST(&list))) {
		TAILQ_REMOVE(&list, op, link);
		op_finish(pool, op);
	}
	pool_pump(pool);
}

static const db_stmt *pool_stmt(const db_pool *pool, const char *name)
{
	for (size_t i = 0; i < pool->nstmts; i++)
		if (strcmp(pool->stmts[i]->name, name) == 0)
			return pool->stmts[i];
	return NULL;
}

/* ===== Connections ===== */

static int pool_ready_count(const db_pool *pool)
{
	int n = 0;
	for (int i = 0; i < pool->opt.size; i++)
		n += pool->conns[i].state == CONN_READY;
	return n;
}

static void pool_update_gauge(db_pool *pool)
{
	metrics_set(pool->m_up, pool_ready_count(pool));
}

/* (Re)arms the connection's I/O event for reading, and writing when output is pending. */
static void conn_arm(db_conn *c, int want_write)
{
	if (c->ev_io && c->want_write == want_write && c->fd == PQsocket(c->pg))
		return;
	if (c->ev_io)
		event_free(c->ev_io);
	c->fd = PQsocket(c->pg);
	c->want_write = want_write;
	c->ev_io = event_new(c->pool->base, c->fd,
			     EV_READ | EV_PERSIST | (want_write ? EV_WRITE : 0), conn_io_cb, c);
	event_add(c->ev_io, NULL);
}

/*
 * Drops the connection: every op in flight fails with `why`, internal ops
 * are discarded, and a reconnect is scheduled with back-off (unless the
 * pool is draining).
 */
static void conn_lost(db_conn *c, const char *why)
{
	db_pool *pool = c->pool;
	int was_ready = c->state == CONN_READY;
	char reason[256]; /* `why` may be libpq's message, freed with the connection */
	snprintf(reason, sizeof reason, "%s", why);
	size_t n = strlen(reason);
	while (n > 0 && (reason[n - 1] == '\n' || reason[n - 1] == ' '))
		reason[--n] = '\0';
	if (c->ev_io) {
		event_free(c->ev_io);
		c->ev_io = NULL;
	}
	if (c->pg) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	c->fd = -1;
	c->state = CONN_DOWN;
	c->setup_left = 0;
	db_op *op;
	while ((op = TAILQ_FIRST(&c->inflight))) {
		TAILQ_REMOVE(&c->inflight, op, link);
		if (op->kind == OP_QUERY) {
			PQclear(op->res);
			op->res = NULL;
			op_fail_later(pool, op, "database connection lost");
		} else {
			PQclear(op->res);
			free(op);
		}
	}
	c->ninflight = 0;
	pool_update_gauge(pool);
	if (pool->draining)
		return;
	if (was_ready || c->backoff_ms == DB_BACKOFF_FIRST_MS)
		log_warn("postgres connection %d down: %s", c->index, reason);
	int jitter = c->backoff_ms / 4 > 0 ? rand() % (c->backoff_ms / 4 + 1) : 0;
	struct timeval tv = { .tv_sec = (c->backoff_ms + jitter) / 1000,
			      .tv_usec = ((c->backoff_ms + jitter) % 1000) * 1000 };
	evtimer_add(c->ev_retry, &tv);
	c->backoff_ms =
		c->backoff_ms * 2 > DB_BACKOFF_MAX_MS ? DB_BACKOFF_MAX_MS : c->backoff_ms * 2;
}

/* Flushes libpq's output buffer; arms for writing while some remains. Returns -1 if lost. */
static int conn_flush(db_conn *c)
{
	int r = PQflush(c->pg);
	if (r < 0) {
		conn_lost(c, PQerrorMessage(c->pg));
		return -1;
	}
	conn_arm(c, r == 1);
	return 0;
}

/* Sends `op` on `c` followed by a sync point, so that it is its own transaction. */
static int conn_send(db_conn *c, db_op *op)
{
	int ok;
	switch (op->kind) {
	case OP_PREPARE:
		ok = PQsendPrepare(c->pg, op->stmt->name, op->stmt->sql, op->stmt->nparams, NULL);
		break;
	case OP_CHECK:
		ok = PQsendQueryParams(c->pg, c->pool->opt.check->sql, 0, NULL, NULL, NULL, NULL,
				       0);
		break;
	case OP_SETTINGS: {
		/*
		 * The server gives up on a statement (and rolls it back) before the
		 * pool gives up waiting for it, so a query that times out has a
		 * known outcome: it did not happen.
		 */
		char ms[24];
		int budget = c->pool->opt.timeout_ms * 8 / 10;
		snprintf(ms, sizeof ms, "%d", budget > 50 ? budget : 50);
		const char *values[] = { ms };
		ok = PQsendQueryParams(c->pg,
				       "SELECT set_config('statement_timeout', $1, false),"
				       " set_config('lock_timeout', $1, false)",
				       1, NULL, values, NULL, NULL, 0);
		break;
	}
	default:
		ok = PQsendQueryPrepared(c->pg, op->stmt->name, op->nparams, op->values,
					 op->lengths, op->formats, op->binary_result);
		break;
	}
	if (!ok || !PQpipelineSync(c->pg))
		return -1;
	op->since_ms = clock_mono_ms();
	TAILQ_INSERT_TAIL(&c->inflight, op, link);
	c->ninflight++;
	return 0;
}

/*
 * Sends the set-up ops of a new connection: the check first (so that an
 * old schema is reported as such, not as a failed statement), then, once
 * it passed, every prepared statement. Returns -1 if the connection was
 * dropped.
 */
static int conn_send_setup(db_conn *c, op_kind kind)
{
	db_pool *pool = c->pool;
	size_t n = kind == OP_PREPARE ? pool->nstmts : 1;
	for (size_t i = 0; i < n; i++) {
		db_op *op = op_new(kind, kind == OP_PREPARE ? pool->stmts[i] : NULL, 0, NULL, NULL,
				   NULL, NULL);
		if (!op || conn_send(c, op) != 0) {
			free(op);
			conn_lost(c, "cannot send the connection set-up");
			return -1;
		}
		c->setup_left++;
	}
	return 0;
}

/* The set-up is over: the connection serves queries. */
static void conn_set_ready(db_conn *c)
{
	c->state = CONN_READY;
	c->backoff_ms = DB_BACKOFF_FIRST_MS;
	log_info("postgres connection %d ready", c->index);
	pool_update_gauge(c->pool);
}

/* Routes the server's notices (warnings, messages of a terminating backend) to the log. */
static void notice_to_log(void *arg, const char *message)
{
	db_conn *c = arg;
	char text[512];
	snprintf(text, sizeof text, "%s", message);
	size_t n = strlen(text);
	while (n > 0 && text[n - 1] == '\n')
		text[--n] = '\0';
	log_warn("postgres connection %d: %s", c->index, text);
}

/* The new connection is up: check it, then prepare every statement. */
static void conn_setup(db_conn *c)
{
	db_pool *pool = c->pool;
	if (!PQenterPipelineMode(c->pg) || PQsetnonblocking(c->pg, 1) != 0) {
		conn_lost(c, PQerrorMessage(c->pg));
		return;
	}
	c->state = CONN_SETUP;
	c->setup_left = 0;
	if (conn_send_setup(c, OP_SETTINGS) != 0 ||
	    (pool->opt.check && conn_send_setup(c, OP_CHECK) != 0))
		return;
	conn_flush(c);
}

/*
 * Nonzero when an error result says the statement itself is wrong for this
 * database (SQLSTATE class 42: syntax error or a missing table, column,
 * function …), as opposed to a connection or server state that a retry
 * may cure.
 */
static int sql_error_is_definite(const PGresult *res)
{
	return res && strncmp(db_result_sqlstate(res), "42", 2) == 0;
}

/* An internal op completed during set-up. Returns -1 if the connection was dropped. */
static int conn_setup_result(db_conn *c, db_op *op)
{
	db_pool *pool = c->pool;
	if (!db_result_ok(op->res) && !sql_error_is_definite(op->res)) {
		/* The server went away or is shutting down: try again later. */
		conn_lost(c, op->res ? PQresultErrorMessage(op->res) : "set-up interrupted");
		return -1;
	}
	if (op->kind == OP_PREPARE) {
		if (!db_result_ok(op->res)) {
			log_error("cannot prepare statement %s: %s", op->stmt->name,
				  PQresultErrorMessage(op->res));
			if (pool->opt.on_fatal)
				pool->opt.on_fatal(pool->opt.fatal_arg,
						   "a prepared statement failed");
			conn_lost(c, "prepare failed");
			return -1;
		}
	} else if (op->kind == OP_CHECK) {
		/* A missing table means a database never migrated: version 0. */
		const char *value = NULL;
		if (PQresultStatus(op->res) == PGRES_TUPLES_OK && PQntuples(op->res) == 1)
			value = PQgetvalue(op->res, 0, 0);
		if (pool->opt.check->verify(pool->opt.check->arg, value) != 0) {
			if (pool->opt.on_fatal)
				pool->opt.on_fatal(pool->opt.fatal_arg,
						   "the database check failed");
			conn_lost(c, "check failed");
			return -1;
		}
	}
	if (--c->setup_left > 0)
		return 0;
	if (op->kind != OP_PREPARE && pool->nstmts > 0) {
		if (conn_send_setup(c, OP_PREPARE) != 0)
			return -1;
		return conn_flush(c);
	}
	conn_set_ready(c);
	return 0;
}

/*
 * Reads every result that is complete. Each op's results end with a NULL,
 * then its sync point's PGRES_PIPELINE_SYNC. Returns -1 if the connection
 * was dropped.
 */
static int conn_read_results(db_conn *c)
{
	for (;;) {
		if (PQisBusy(c->pg))
			return 0;
		db_op *head = TAILQ_FIRST(&c->inflight);
		PGresult *res = PQgetResult(c->pg);
		if (!res) {
			if (!head || !head->res)
				return 0;
			TAILQ_REMOVE(&c->inflight, head, link);
			c->ninflight--;
			if (head->kind == OP_QUERY) {
				if (PQresultStatus(head->res) == PGRES_FATAL_ERROR)
					head->error = PQresultErrorMessage(head->res);
				op_finish(c->pool, head);
			} else {
				int r = conn_setup_result(c, head);
				PQclear(head->res);
				free(head);
				if (r != 0)
					return -1;
			}
			continue;
		}
		ExecStatusType st = PQresultStatus(res);
		if (st == PGRES_PIPELINE_SYNC) {
			PQclear(res);
			continue;
		}
		if (!head) {
			PQclear(res);
			conn_lost(c, "a result arrived for no query");
			return -1;
		}
		if (head->res)
			PQclear(res); /* one statement per op: later results are not kept */
		else
			head->res = res;
	}
}

static void conn_io_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	db_conn *c = arg;
	if (c->state == CONN_CONNECTING) {
		conn_connect(c);
		return;
	}
	if (what & EV_WRITE) {
		if (conn_flush(c) != 0)
			return;
	}
	if (what & EV_READ) {
		if (!PQconsumeInput(c->pg)) {
			conn_lost(c, PQerrorMessage(c->pg));
			return;
		}
		if (conn_read_results(c) != 0)
			return;
		if (PQstatus(c->pg) == CONNECTION_BAD) {
			conn_lost(c, PQerrorMessage(c->pg));
			return;
		}
	}
	pool_pump(c->pool);
}

/* Advances a connection attempt; starts one when the connection is down. */
static void conn_connect(db_conn *c)
{
	db_pool *pool = c->pool;
	if (c->state == CONN_DOWN) {
		c->pg = PQconnectStart(pool->conninfo);
		if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
			conn_lost(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
			return;
		}
		PQsetnonblocking(c->pg, 1);
		PQsetNoticeProcessor(c->pg, notice_to_log, c);
		c->state = CONN_CONNECTING;
		c->state_since_ms = clock_mono_ms();
		conn_arm(c, 1);
		return;
	}
	switch (PQconnectPoll(c->pg)) {
	case PGRES_POLLING_READING:
		conn_arm(c, 0);
		break;
	case PGRES_POLLING_WRITING:
		conn_arm(c, 1);
		break;
	case PGRES_POLLING_OK:
		conn_arm(c, 0);
		conn_setup(c);
		break;
	default:
		conn_lost(c, PQerrorMessage(c->pg));
		break;
	}
}

static void conn_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_connect(arg);
}

/* ===== The pool ===== */

/* The ready connection with the fewest queries in flight and room for more, or NULL. */
static db_conn *pool_pick(db_pool *pool)
{
	db_conn *best = NULL;
	for (int i = 0; i < pool->opt.size; i++) {
		db_conn *c = &pool->conns[i];
		if (c->state != CONN_READY || c->ninflight >= DB_PIPELINE_DEPTH)
			continue;
		if (!best || c->ninflight < best->ninflight)
			best = c;
	}
	return best;
}

/* Sends waiting queries to ready connections; finishes a drain when all is quiet. */
static void pool_pump(db_pool *pool)
{
	db_conn *touched[64];
	int ntouched = 0;
	db_op *op;
	while ((op = TAILQ_FIRST(&pool->waiting))) {
		db_conn *c = pool_pick(pool);
		if (!c)
			break;
		TAILQ_REMOVE(&pool->waiting, op, link);
		pool->nwaiting--;
		if (conn_send(c, op) != 0) {
			op_fail_later(pool, op, "cannot send the query");
			conn_lost(c, PQerrorMessage(c->pg));
			continue;
		}
		int seen = 0;
		for (int i = 0; i < ntouched; i++)
			seen |= touched[i] == c;
		if (!seen && ntouched < 64)
			touched[ntouched++] = c;
	}
	for (int i = 0; i < ntouched; i++)
		if (touched[i]->state == CONN_READY)
			conn_flush(touched[i]);

	if (pool->draining && pool->nwaiting == 0 && TAILQ_EMPTY(&pool->done)) {
		for (int i = 0; i < pool->opt.size; i++)
			if (pool->conns[i].ninflight > 0)
				return;
		for (int i = 0; i < pool->opt.size; i++) {
			db_conn *c = &pool->conns[i];
			evtimer_del(c->ev_retry);
			if (c->state != CONN_DOWN)
				conn_lost(c, "pool drained");
		}
		void (*cb)(void *) = pool->drain_cb;
		pool->drain_cb = NULL;
		if (cb)
			cb(pool->drain_arg);
	}
}

/* Fails queries that waited or ran too long; a connection stuck past the timeout is dropped. */
static void pool_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	db_pool *pool = arg;
	int64_t now = clock_mono_ms();
	db_op *op, *next;
	for (op = TAILQ_FIRST(&pool->waiting); op; op = next) {
		next = TAILQ_NEXT(op, link);
		if (now - op->since_ms < pool->opt.timeout_ms)
			break; /* FIFO: the rest waited less */
		TAILQ_REMOVE(&pool->waiting, op, link);
		pool->nwaiting--;
		op_fail_later(pool, op, "database unavailable");
	}
	for (int i = 0; i < pool->opt.size; i++) {
		db_conn *c = &pool->conns[i];
		db_op *head = TAILQ_FIRST(&c->inflight);
		if (head && now - head->since_ms >= pool->opt.timeout_ms)
			conn_lost(c, "query timed out");
		else if ((c->state == CONN_CONNECTING || c->state == CONN_SETUP) &&
			 now - c->state_since_ms >= pool->opt.timeout_ms)
			conn_lost(c, "connection attempt timed out");
	}
}

db_pool *db_pool_new(struct event_base *base, const char *conninfo, const db_options *opt)
{
	db_pool *pool = calloc(1, sizeof *pool);
	if (!pool)
		return NULL;
	pool->base = base;
	pool->conninfo = strdup(conninfo);
	pool->opt = *opt;
	if (pool->opt.size < 1)
		pool->opt.size = 1;
	if (pool->opt.queue_max < 1)
		pool->opt.queue_max = 10000;
	if (pool->opt.timeout_ms < 1)
		pool->opt.timeout_ms = 5000;
	pool->conns = calloc((size_t)pool->opt.size, sizeof *pool->conns);
	if (!pool->conninfo || !pool->conns) {
		db_pool_free(pool);
		return NULL;
	}
	TAILQ_INIT(&pool->waiting);
	TAILQ_INIT(&pool->done);
	for (int i = 0; i < pool->opt.size; i++) {
		db_conn *c = &pool->conns[i];
		c->pool = pool;
		c->index = i;
		c->fd = -1;
		c->backoff_ms = DB_BACKOFF_FIRST_MS;
		TAILQ_INIT(&c->inflight);
		c->ev_retry = evtimer_new(base, conn_retry_cb, c);
	}
	pool->ev_done = event_new(base, -1, 0, pool_done_cb, pool);
	pool->ev_tick = event_new(base, -1, EV_PERSIST, pool_tick_cb, pool);
	pool->m_queries = metrics_counter("errand_db_queries_total", "Queries run on PostgreSQL.");
	pool->m_errors =
		metrics_counter("errand_db_errors_total", "Queries that failed or could not run.");
	pool->m_latency = metrics_histogram("errand_db_query_seconds",
					    "Time from queueing a query to its result.",
					    METRICS_LATENCY_BOUNDS, METRICS_LATENCY_BOUNDS_N);
	pool->m_up = metrics_gauge("errand_db_connections_ready", "PostgreSQL connections ready.");
	return pool;
}

int db_pool_register(db_pool *pool, const db_stmt *stmts, size_t n)
{
	const db_stmt **grown = realloc(pool->stmts, (pool->nstmts + n) * sizeof *grown);
	if (!grown)
		return -1;
	pool->stmts = grown;
	for (size_t i = 0; i < n; i++) {
		if (pool_stmt(pool, stmts[i].name)) {
			log_error("prepared statement %s registered twice", stmts[i].name);
			return -1;
		}
		pool->stmts[pool->nstmts++] = &stmts[i];
	}
	return 0;
}

void db_pool_start(db_pool *pool)
{
	if (pool->started)
		return;
	pool->started = 1;
	struct timeval tick = { 0, DB_TICK_MS * 1000 };
	event_add(pool->ev_tick, &tick);
	for (int i = 0; i < pool->opt.size; i++)
		conn_connect(&pool->conns[i]);
}

int db_query(db_pool *pool, const char *name, int nparams, const char *const *values,
	     db_result_cb cb, void *arg)
{
	return db_query_binary(pool, name, nparams, values, NULL, 0, cb, arg);
}

int db_query_binary(db_pool *pool, const char *name, int nparams, const char *const *values,
		    const int *lengths, int binary_result, db_result_cb cb, void *arg)
{
	const db_stmt *stmt = pool_stmt(pool, name);
	if (!stmt || nparams != stmt->nparams) {
		log_error("db_query: unknown statement %s or wrong parameter count %d", name,
			  nparams);
		return -1;
	}
	db_op *op = op_new(OP_QUERY, stmt, nparams, values, lengths, cb, arg);
	if (!op)
		return -1;
	op->binary_result = binary_result;
	if (pool->draining) {
		op_fail_later(pool, op, "shutting down");
		return 0;
	}
	if (pool->nwaiting >= pool->opt.queue_max) {
		op_fail_later(pool, op, "database queue full");
		return 0;
	}
	TAILQ_INSERT_TAIL(&pool->waiting, op, link);
	pool->nwaiting++;
	/* Send from the loop so that many queries of one turn share a flush. */
	event_active(pool->ev_done, 0, 0);
	return 0;
}

int db_pool_ready(const db_pool *pool)
{
	return pool && pool_ready_count(pool) > 0;
}

int db_pool_pending(const db_pool *pool)
{
	int n = pool->nwaiting;
	for (int i = 0; i < pool->opt.size; i++)
		n += pool->conns[i].ninflight;
	return n;
}

void db_pool_drain(db_pool *pool, void (*done)(void *arg), void *arg)
{
	pool->draining = 1;
	pool->drain_cb = done;
	pool->drain_arg = arg;
	pool_pump(pool);
}

void db_pool_free(db_pool *pool)
{
	if (!pool)
		return;
	pool->draining = 1;
	db_op *op;
	while ((op = TAILQ_FIRST(&pool->waiting))) {
		TAILQ_REMOVE(&pool->waiting, op, link);
		op->error = "shutting down";
		op_finish(pool, op);
	}
	if (pool->conns) {
		for (int i = 0; i < pool->opt.size; i++) {
			db_conn *c = &pool->conns[i];
			if (c->state != CONN_DOWN || c->pg)
				conn_lost(c, "pool freed");
			if (c->ev_retry)
				event_free(c->ev_retry);
		}
	}
	while ((op = TAILQ_FIRST(&pool->done))) {
		TAILQ_REMOVE(&pool->done, op, link);
		op_finish(pool, op);
	}
	if (pool->ev_done)
		event_free(pool->ev_done);
	if (pool->ev_tick)
		event_free(pool->ev_tick);
	free(pool->conns);
	free(pool->stmts);
	free(pool->conninfo);
	free(pool);
}

int db_result_ok(const PGresult *res)
{
	if (!res)
		return 0;
	ExecStatusType st = PQresultStatus(res);
	return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

const char *db_result_sqlstate(const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	return s ? s : "";
}

/* ===== Array literals ===== */

void db_array_init(db_array *a)
{
	memset(a, 0, sizeof *a);
}

/* Room for `more` bytes, the closing brace and the terminator; the text starts with its brace. */
static int array_reserve(db_array *a, size_t more)
{
	if (a->failed)
		return -1;
	size_t need = (a->len ? a->len : 1) + more + 2;
	if (need <= a->cap)
		return 0;
	size_t cap = a->cap ? a->cap : 64;
	while (cap < need)
		cap *= 2;
	char *grown = realloc(a->text, cap);
	if (!grown) {
		a->failed = 1;
		return -1;
	}
	if (!a->text)
		grown[a->len++] = '{';
	a->text = grown;
	a->cap = cap;
	return 0;
}

void db_array_addn(db_array *a, const char *value, size_t len)
{
	if (value) {
		int bad = len == 0 || (len == 4 && strncasecmp(value, "null", 4) == 0);
		for (size_t i = 0; i < len && !bad; i++)
			bad = value[i] == '\0' || strchr(" \t\n\r\v\f,{}\"\\", value[i]) != NULL;
		if (bad) {
			a->failed = 1;
			return;
		}
	} else {
		len = 4;
	}
	if (array_reserve(a, len + 1) != 0)
		return;
	if (a->n++ > 0)
		a->text[a->len++] = ',';
	memcpy(a->text + a->len, value ? value : "NULL", len);
	a->len += len;
}

void db_array_add(db_array *a, const char *value)
{
	db_array_addn(a, value, value ? strlen(value) : 0);
}

void db_array_add_int(db_array *a, long long value)
{
	char text[24];
	int n = snprintf(text, sizeof text, "%lld", value);
	db_array_addn(a, text, (size_t)n);
}

const char *db_array_text(db_array *a)
{
	if (array_reserve(a, 0) != 0)
		return NULL;
	/* closed anew at each call (more elements may follow) */
	a->text[a->len] = '}';
	a->text[a->len + 1] = '\0';
	return a->text;
}

void db_array_clear(db_array *a)
{
	a->len = a->text ? 1 : 0; /* the opening brace stays */
	a->n = 0;
	a->failed = 0;
}

void db_array_free(db_array *a)
{
	free(a->text);
	db_array_init(a);
}
