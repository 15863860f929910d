/* Redis: one hiredis async connection on libevent, re-made with back-off; stream helpers. */
#ifndef ERRAND_REDIS_H
#define ERRAND_REDIS_H

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stddef.h>

typedef struct redis_client redis_client;

/*
 * A reply. `reply` is owned by hiredis and valid only during the callback;
 * NULL when the command could not run (not connected, connection lost,
 * client stopping) with `error` saying why. A Redis error reply arrives as
 * `reply` of type REDIS_REPLY_ERROR with `error` its text.
 */
typedef void (*redis_reply_cb)(void *arg, redisReply *reply, const char *error);

/*
 * A client for host:port (database `db`, `password` may be NULL); copies
 * its strings. `name` labels logs and metrics ("main", "dispatch-reader")
 * and names the connection in Redis (CLIENT SETNAME errand-<name>; no
 * spaces).
 */
redis_client *redis_client_new(struct event_base *base, const char *host, int port, int db,
			       const char *password, const char *name);

/* Connects; the connection is re-made with back-off whenever it is lost. */
void redis_client_start(redis_client *c);

/* Nonzero while connected and the last health PING was answered. */
int redis_ready(const redis_client *c);

/*
 * Sends one command given as an argument vector (binary safe; copied).
 * `cb` (may be NULL) is called exactly once, never from inside this call
 * when it fails early. Returns 0.
 */
int redis_command_argv(redis_client *c, redis_reply_cb cb, void *arg, int argc,
		       const char *const *argv, const size_t *argvlen);

/* printf-style form of the above, as redisAsyncCommand. */
int redis_command(redis_client *c, redis_reply_cb cb, void *arg, const char *fmt, ...);

/*
 * XADD `stream` MAXLEN ~ `maxlen` * field value …: `fields` holds
 * `nfields` pairs (2 × nfields strings, NUL-terminated). The reply is the
 * new entry's id (a string).
 */
int redis_xadd(redis_client *c, const char *stream, long maxlen, int nfields,
	       const char *const *fields, redis_reply_cb cb, void *arg);

/* XGROUP CREATE `stream` `group` `start` MKSTREAM; BUSYGROUP counts as success (reply NULL, error NULL). */
int redis_xgroup_create(redis_client *c, const char *stream, const char *group, const char *start,
			redis_reply_cb cb, void *arg);

/*
 * XREADGROUP GROUP `group` `consumer` COUNT `count` [BLOCK `block_ms`]
 * STREAMS `stream` `id` (">" for new entries). A blocking read holds the
 * connection: give blocking readers a client of their own.
 */
int redis_xreadgroup(redis_client *c, const char *group, const char *consumer, const char *stream,
		     const char *id, int count, int block_ms, redis_reply_cb cb, void *arg);

/* XACK `stream` `group` `id`. */
int redis_xack(redis_client *c, const char *stream, const char *group, const char *id,
	       redis_reply_cb cb, void *arg);

/* XAUTOCLAIM `stream` `group` `consumer` `min_idle_ms` `start` COUNT `count`. */
int redis_xautoclaim(redis_client *c, const char *stream, const char *group, const char *consumer,
		     long min_idle_ms, const char *start, int count, redis_reply_cb cb, void *arg);

/* Stops reconnecting, fails pending callbacks, disconnects and frees. NULL-safe. */
void redis_client_free(redis_client *c);

#endif
