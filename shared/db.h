/* PostgreSQL: a pool of non-blocking libpq connections driven by libevent. */
#ifndef ERRAND_DB_H
#define ERRAND_DB_H

#include <event2/event.h>
#include <libpq-fe.h>
#include <stddef.h>

typedef struct db_pool db_pool;

/* SQL for a timestamptz column as epoch milliseconds (format with clock.h). */
#define DB_SQL_MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"

/* A prepared statement: registered once, prepared on every connection. */
typedef struct db_stmt {
	const char *name;
	const char *sql;
	int nparams;
} db_stmt;

/*
 * The result of a query. `res` is owned by the pool and valid only during
 * the callback. When the query could not run at all (no connection before
 * the timeout, the connection lost while it was in flight, the pool
 * stopping, the queue full) `res` is NULL and `error` says why; a query
 * lost in flight may or may not have committed, so callers rely on
 * statements that are safe to repeat. An SQL error arrives as `res` with
 * PQresultStatus() PGRES_FATAL_ERROR and `error` set to its message.
 */
typedef void (*db_result_cb)(void *arg, PGresult *res, const char *error);

/*
 * Called once per new connection before it serves queries, with the
 * connection in blocking-free state; used for the schema check. Returns 0
 * to accept the connection or -1 to stop the whole process (the hook has
 * logged why). The hook runs `sql` itself via the callback argument.
 */
typedef struct db_check {
	const char *sql;			     /* one row, one column */
	int (*verify)(void *arg, const char *value); /* 0 ok, -1 fatal */
	void *arg;
} db_check;

typedef struct db_options {
	int size;	       /* connections, >= 1 */
	int queue_max;	       /* queries waiting for a connection before refusing */
	int timeout_ms;	       /* how long a query may wait for a connection */
	const db_check *check; /* may be NULL */
	void (*on_fatal)(void *arg, const char *why); /* check failed: stop the process */
	void *fatal_arg;
} db_options;

/*
 * Creates a pool on `base` for `conninfo` (a postgresql:// URL or key=value
 * string, copied). No connection is made until db_pool_start(). Returns
 * NULL on allocation failure.
 */
db_pool *db_pool_new(struct event_base *base, const char *conninfo, const db_options *opt);

/*
 * Adds prepared statements (the array and its strings must outlive the
 * pool: use static tables). Call before db_pool_start(). Returns -1 on a
 * duplicate name.
 */
int db_pool_register(db_pool *pool, const db_stmt *stmts, size_t n)
	__attribute__((warn_unused_result));

/* Starts connecting every connection; lost connections are re-made with back-off. */
void db_pool_start(db_pool *pool);

/*
 * Queues the prepared statement `name` with text parameters `values`
 * (`nparams` of them, NULL for SQL NULL; copied). Queries run in order of
 * submission per connection, each in its own implicit transaction;
 * connections are used in pipeline mode, so many queries are in flight on
 * one connection. `cb` is always called exactly once, never from inside
 * db_query() itself. Returns 0, or -1 if `name` is unknown (a programming
 * error, also logged).
 */
int db_query(db_pool *pool, const char *name, int nparams, const char *const *values,
	     db_result_cb cb, void *arg) __attribute__((warn_unused_result));

/*
 * db_query() with binary data: where `lengths` (may be NULL) holds a length
 * >= 0, that parameter is `lengths[i]` raw bytes sent in binary format
 * (a bytea without hex encoding); the others are text. With
 * `binary_result`, every column of the result comes in binary format
 * (text columns are the same bytes; read lengths with PQgetlength()).
 */
int db_query_binary(db_pool *pool, const char *name, int nparams, const char *const *values,
		    const int *lengths, int binary_result, db_result_cb cb, void *arg)
	__attribute__((warn_unused_result));

/* Nonzero while at least one connection is up and has passed its check. */
int db_pool_ready(const db_pool *pool);

/* Queries waiting or in flight. */
int db_pool_pending(const db_pool *pool);

/*
 * Stops taking queries (new ones fail at once), lets those in flight or
 * queued finish, then closes every connection and calls `done`. Bounded by
 * the queries' own timeouts.
 */
void db_pool_drain(db_pool *pool, void (*done)(void *arg), void *arg);

/* Closes everything; pending callbacks are called with an error first. NULL-safe. */
void db_pool_free(db_pool *pool);

/* 1 when `res` is a successful command or tuples result. */
int db_result_ok(const PGresult *res);

/* The SQLSTATE of an error result ("23505"), or "" for none. */
const char *db_result_sqlstate(const PGresult *res);

/*
 * A PostgreSQL array literal ({a,b,NULL}) for a text parameter, built
 * element by element. Elements are ids, hashes, words and numbers, which
 * need no quoting: one that would (empty, or with a space, comma, brace,
 * quote or backslash, or the word NULL) makes the whole array fail rather
 * than be misread.
 */
typedef struct db_array {
	char *text; /* "{…}" once db_array_text() closed it */
	size_t len, cap;
	int n;
	int failed; /* out of memory, or an element that needs quoting */
} db_array;

/* An empty array. */
void db_array_init(db_array *a);

/* Appends `value` (NULL: an SQL NULL), or its first `len` bytes. */
void db_array_add(db_array *a, const char *value);
void db_array_addn(db_array *a, const char *value, size_t len);
void db_array_add_int(db_array *a, long long value);

/* The literal, valid until db_array_free(); NULL when the array failed. */
const char *db_array_text(db_array *a);

/* Empties the array, keeping its memory for the next one. */
void db_array_clear(db_array *a);

/* Frees the text. */
void db_array_free(db_array *a);

#endif
