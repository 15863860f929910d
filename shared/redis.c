/* Redis client: hiredis async on libevent, health pings, reconnection with back-off, stream helpers. */
#include "redis.h"

#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"

#define REDIS_BACKOFF_FIRST_MS 100
#define REDIS_BACKOFF_MAX_MS 5000
/* A health PING every interval; an answer older than the limit means not ready. */
#define REDIS_PING_INTERVAL_MS 1000
#define REDIS_PING_STALE_MS 3000
/* A connection whose PING has gone unanswered this long is dropped and re-made. */
#define REDIS_HUNG_MS 5000

struct redis_client {
	struct event_base *base;
	char *host;
	int port;
	int db;
	char *password;
	char *name;
	redisAsyncContext *ac;
	int connected;
	int stopping;
	int backoff_ms;
	int64_t last_pong_ms; /* monotonic */
	int64_t ping_sent_ms; /* 0 when no PING is outstanding */
	struct event *ev_retry;
	struct event *ev_ping;
	metric *m_up;
};

/* One command in flight: who to tell. */
typedef struct pending {
	redis_client *client;
	redis_reply_cb cb;
	void *arg;
	int busygroup_ok; /* XGROUP CREATE: BUSYGROUP is success */
} pending;

static void on_ping(void *arg, redisReply *reply, const char *error);

/* A failure reported from the loop rather than from the caller's frame. */
typedef struct deferred {
	redis_reply_cb cb;
	void *arg;
	const char *error;
} deferred;

static void client_connect(redis_client *c);

static void deferred_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	deferred *d = arg;
	d->cb(d->arg, NULL, d->error);
	free(d);
}

/* Calls `cb` with `error` on the next loop turn. */
static void fail_later(redis_client *c, redis_reply_cb cb, void *arg, const char *error)
{
	if (!cb)
		return;
	deferred *d = malloc(sizeof *d);
	if (!d)
		return;
	d->cb = cb;
	d->arg = arg;
	d->error = error;
	struct timeval zero = { 0, 0 };
	if (event_base_once(c->base, -1, EV_TIMEOUT, deferred_cb, d, &zero) != 0)
		free(d);
}

static void schedule_reconnect(redis_client *c)
{
	if (c->stopping)
		return;
	int jitter = rand() % (c->backoff_ms / 4 + 1);
	int ms = c->backoff_ms + jitter;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(c->ev_retry, &tv);
	c->backoff_ms =
		c->backoff_ms * 2 > REDIS_BACKOFF_MAX_MS ? REDIS_BACKOFF_MAX_MS : c->backoff_ms * 2;
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	pending *p = privdata;
	redisReply *reply = r;
	/* The health PING's argument is the client: gone once the client is freed. */
	int client_gone = ac->data == NULL;
	if (p->cb && !(client_gone && p->cb == on_ping)) {
		if (!reply)
			p->cb(p->arg, NULL, "redis connection lost");
		else if (reply->type == REDIS_REPLY_ERROR && p->busygroup_ok &&
			 strncmp(reply->str, "BUSYGROUP", 9) == 0)
			p->cb(p->arg, NULL, NULL);
		else
			p->cb(p->arg, reply, reply->type == REDIS_REPLY_ERROR ? reply->str : NULL);
	}
	free(p);
}

static void on_ping(void *arg, redisReply *reply, const char *error)
{
	redis_client *c = arg;
	c->ping_sent_ms = 0;
	if (reply && !error) {
		c->last_pong_ms = clock_mono_ms();
		metrics_set(c->m_up, 1);
	}
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	redis_client *c = ac->data;
	if (!c)
		return; /* the client was freed */
	if (status != REDIS_OK) {
		log_warn("redis %s: cannot connect to %s:%d: %s", c->name, c->host, c->port,
			 ac->errstr);
		c->ac = NULL; /* hiredis frees the context after this callback */
		schedule_reconnect(c);
		return;
	}
	c->connected = 1;
	c->backoff_ms = REDIS_BACKOFF_FIRST_MS;
	log_info("redis %s connected to %s:%d", c->name, c->host, c->port);
	/* Ready as soon as the server answers, not at the next health tick. */
	c->ping_sent_ms = clock_mono_ms();
	redis_command(c, on_ping, c, "PING");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	redis_client *c = ac->data;
	if (!c)
		return; /* the client was freed */
	int was = c->connected;
	c->ac = NULL;
	c->connected = 0;
	c->ping_sent_ms = 0;
	c->last_pong_ms = 0; /* ready again only once the new connection answers */
	metrics_set(c->m_up, 0);
	if (c->stopping)
		return;
	if (was || status != REDIS_OK)
		log_warn("redis %s: connection lost: %s", c->name,
			 status == REDIS_OK ? "closed" : ac->errstr);
	schedule_reconnect(c);
}

/*
 * The health tick: PING when nothing is outstanding; drop a connection whose
 * PING went unanswered too long (a hung server keeps the socket open).
 */
static void ping_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	redis_client *c = arg;
	if (!c->ac || !c->connected)
		return;
	int64_t now = clock_mono_ms();
	if (c->ping_sent_ms) {
		if (now - c->ping_sent_ms > REDIS_HUNG_MS) {
			log_warn("redis %s: no answer for %d ms, reconnecting", c->name,
				 REDIS_HUNG_MS);
			redisAsyncContext *ac = c->ac;
			redisAsyncFree(ac); /* calls on_disconnect and fails what is pending */
		}
		return;
	}
	c->ping_sent_ms = now;
	redis_command(c, on_ping, c, "PING");
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	client_connect(arg);
}

/* Starts a connection; AUTH, SELECT and CLIENT SETNAME are queued ahead of any other command. */
static void client_connect(redis_client *c)
{
	if (c->ac || c->stopping)
		return;
	redisAsyncContext *ac = redisAsyncConnect(c->host, c->port);
	if (!ac) {
		schedule_reconnect(c);
		return;
	}
	if (ac->err) {
		log_warn("redis %s: %s", c->name, ac->errstr);
		redisAsyncFree(ac);
		schedule_reconnect(c);
		return;
	}
	ac->data = c;
	c->ac = ac;
	redisLibeventAttach(ac, c->base);
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	if (c->password)
		redisAsyncCommand(ac, NULL, NULL, "AUTH %s", c->password);
	if (c->db)
		redisAsyncCommand(ac, NULL, NULL, "SELECT %d", c->db);
	/* so that CLIENT LIST tells the connections apart */
	redisAsyncCommand(ac, NULL, NULL, "CLIENT SETNAME errand-%s", c->name);
}

redis_client *redis_client_new(struct event_base *base, const char *host, int port, int db,
			       const char *password, const char *name)
{
	redis_client *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->base = base;
	c->host = strdup(host);
	c->port = port;
	c->db = db;
	c->password = password ? strdup(password) : NULL;
	c->name = strdup(name ? name : "main");
	c->backoff_ms = REDIS_BACKOFF_FIRST_MS;
	c->ev_retry = evtimer_new(base, retry_cb, c);
	c->ev_ping = event_new(base, -1, EV_PERSIST, ping_tick, c);
	c->m_up = metrics_with(
		metrics_gauge("errand_redis_up", "1 while the Redis connection answers."), "client",
		c->name, NULL);
	if (!c->host || !c->name || (password && !c->password) || !c->ev_retry || !c->ev_ping) {
		redis_client_free(c);
		return NULL;
	}
	return c;
}

void redis_client_start(redis_client *c)
{
	struct timeval tv = { 0, REDIS_PING_INTERVAL_MS * 1000 };
	event_add(c->ev_ping, &tv);
	client_connect(c);
}

int redis_ready(const redis_client *c)
{
	return c && c->connected && c->last_pong_ms &&
	       clock_mono_ms() - c->last_pong_ms <= REDIS_PING_STALE_MS;
}

/* Sends argv with `p` as the pending record; fails later when not connected. */
static int send_argv(redis_client *c, pending *p, int argc, const char *const *argv,
		     const size_t *argvlen)
{
	if (!c->ac || !c->connected) {
		fail_later(c, p->cb, p->arg, "redis unavailable");
		free(p);
		return 0;
	}
	if (redisAsyncCommandArgv(c->ac, on_reply, p, argc, (const char **)argv, argvlen) !=
	    REDIS_OK) {
		fail_later(c, p->cb, p->arg, "redis command refused");
		free(p);
	}
	return 0;
}

static pending *pending_new(redis_client *c, redis_reply_cb cb, void *arg)
{
	pending *p = calloc(1, sizeof *p);
	if (p) {
		p->client = c;
		p->cb = cb;
		p->arg = arg;
	}
	return p;
}

int redis_command_argv(redis_client *c, redis_reply_cb cb, void *arg, int argc,
		       const char *const *argv, const size_t *argvlen)
{
	pending *p = pending_new(c, cb, arg);
	if (!p) {
		fail_later(c, cb, arg, "out of memory");
		return 0;
	}
	return send_argv(c, p, argc, argv, argvlen);
}

int redis_command(redis_client *c, redis_reply_cb cb, void *arg, const char *fmt, ...)
{
	pending *p = pending_new(c, cb, arg);
	if (!p) {
		fail_later(c, cb, arg, "out of memory");
		return 0;
	}
	if (!c->ac || !c->connected) {
		fail_later(c, cb, arg, "redis unavailable");
		free(p);
		return 0;
	}
	va_list ap;
	va_start(ap, fmt);
	int r = redisvAsyncCommand(c->ac, on_reply, p, fmt, ap);
	va_end(ap);
	if (r != REDIS_OK) {
		fail_later(c, cb, arg, "redis command refused");
		free(p);
	}
	return 0;
}

int redis_xadd(redis_client *c, const char *stream, long maxlen, int nfields,
	       const char *const *fields, redis_reply_cb cb, void *arg)
{
	char maxbuf[24];
	snprintf(maxbuf, sizeof maxbuf, "%ld", maxlen);
	int argc = 6 + 2 * nfields;
	const char **argv = calloc((size_t)argc, sizeof *argv);
	if (!argv) {
		fail_later(c, cb, arg, "out of memory");
		return 0;
	}
	argv[0] = "XADD";
	argv[1] = stream;
	argv[2] = "MAXLEN";
	argv[3] = "~";
	argv[4] = maxbuf;
	argv[5] = "*";
	for (int i = 0; i < 2 * nfields; i++)
		argv[6 + i] = fields[i];
	int r = redis_command_argv(c, cb, arg, argc, argv, NULL);
	free(argv);
	return r;
}

int redis_xgroup_create(redis_client *c, const char *stream, const char *group, const char *start,
			redis_reply_cb cb, void *arg)
{
	pending *p = pending_new(c, cb, arg);
	if (!p) {
		fail_later(c, cb, arg, "out of memory");
		return 0;
	}
	p->busygroup_ok = 1;
	const char *argv[] = { "XGROUP", "CREATE", stream, group, start, "MKSTREAM" };
	return send_argv(c, p, 6, argv, NULL);
}

int redis_xreadgroup(redis_client *c, const char *group, const char *consumer, const char *stream,
		     const char *id, int count, int block_ms, redis_reply_cb cb, void *arg)
{
	char countbuf[16], blockbuf[16];
	snprintf(countbuf, sizeof countbuf, "%d", count);
	snprintf(blockbuf, sizeof blockbuf, "%d", block_ms);
	const char *argv[11];
	int argc = 0;
	argv[argc++] = "XREADGROUP";
	argv[argc++] = "GROUP";
	argv[argc++] = group;
	argv[argc++] = consumer;
	argv[argc++] = "COUNT";
	argv[argc++] = countbuf;
	if (block_ms >= 0) {
		argv[argc++] = "BLOCK";
		argv[argc++] = blockbuf;
	}
	argv[argc++] = "STREAMS";
	argv[argc++] = stream;
	argv[argc++] = id;
	return redis_command_argv(c, cb, arg, argc, argv, NULL);
}

int redis_xack(redis_client *c, const char *stream, const char *group, const char *id,
	       redis_reply_cb cb, void *arg)
{
	const char *argv[] = { "XACK", stream, group, id };
	return redis_command_argv(c, cb, arg, 4, argv, NULL);
}

int redis_xautoclaim(redis_client *c, const char *stream, const char *group, const char *consumer,
		     long min_idle_ms, const char *start, int count, redis_reply_cb cb, void *arg)
{
	char idlebuf[24], countbuf[16];
	snprintf(idlebuf, sizeof idlebuf, "%ld", min_idle_ms);
	snprintf(countbuf, sizeof countbuf, "%d", count);
	const char *argv[] = { "XAUTOCLAIM", stream, group,   consumer,
			       idlebuf,	     start,  "COUNT", countbuf };
	return redis_command_argv(c, cb, arg, 8, argv, NULL);
}

void redis_client_free(redis_client *c)
{
	if (!c)
		return;
	c->stopping = 1;
	if (c->ac) {
		/* From inside a reply callback hiredis frees the context later: it
		 * must not find this client then. */
		redisAsyncContext *ac = c->ac;
		c->ac = NULL;
		ac->data = NULL;
		redisAsyncFree(ac);
	}
	if (c->ev_retry)
		event_free(c->ev_retry);
	if (c->ev_ping)
		event_free(c->ev_ping);
	free(c->host);
	free(c->password);
	free(c->name);
	free(c);
}
