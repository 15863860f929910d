/* The skeleton every process shares: config, logging, event loop, signals, PostgreSQL, Redis, health. */
#ifndef ERRAND_SERVICE_H
#define ERRAND_SERVICE_H

#include <event2/event.h>

#include "config.h"
#include "db.h"
#include "http.h"
#include "redis.h"

/* Exit status of a process stopped by a configuration error. */
#define SERVICE_EXIT_CONFIG 2

typedef struct service service;

/* A hook run at graceful stop; calls `done` when its work is handed back or finished. */
typedef void (*service_stop_hook)(void *arg, void (*done)(void *service), void *service);

/*
 * Reads the configuration for `kind` (a bad value: message naming the
 * variable on stderr, exit status 2), sets up logging, the event loop,
 * SIGTERM/SIGINT/SIGHUP handling, the database pool (with the schema check:
 * a database older than this build stops the process with status 2 and
 * names `errandctl migrate`), the Redis client, and an HTTP server on the
 * process's address with /healthz, /readyz and /metrics. `stmts` are the
 * process's prepared statements. Never returns NULL: failures exit.
 */
service *service_new(proc_kind kind, const db_stmt *const *stmt_tables, const size_t *stmt_counts,
		     size_t ntables);

struct event_base *service_base(service *s);
const config *service_config(const service *s);
db_pool *service_db(service *s);
redis_client *service_redis(service *s);
http_server *service_http(service *s);

/* Registers a hook to run, in order, when the process is asked to stop. */
void service_on_stop(service *s, service_stop_hook hook, void *arg);

/*
 * Nonzero once a stop was asked for: loops that pick up new work check it.
 */
int service_stopping(const service *s);

/*
 * Runs the loop until stopped. At SIGTERM/SIGINT: stop accepting HTTP
 * connections, run the stop hooks, wait for requests in hand and queries
 * in flight (at most ERRAND_SHUTDOWN_GRACE_SECONDS), and return 0.
 * Returns 2 after a fatal schema check. The process frees the events it
 * made on the loop, then calls service_free().
 */
int service_run(service *s);

/* Closes the connections and frees everything service_new() made. NULL-safe. */
void service_free(service *s);

#endif
