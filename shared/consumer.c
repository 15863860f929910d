/* A consumer of one Redis stream in a consumer group: blocking reads, the group re-made after a flush, XAUTOCLAIM. */
#include "consumer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define READ_BLOCK_MS 1000
#define READ_COUNT_MAX 200
#define READ_TICK_MS 200
#define CLAIM_INTERVAL_MS 5000

struct consumer {
	const config *cfg;
	redis_client *redis;  /* the owner's: XACK, XAUTOCLAIM, XGROUP */
	redis_client *reader; /* ours: the blocking XREADGROUP */
	char stream[256];
	char group[64];
	long claim_idle_ms;
	consumer_entry_cb on_entry;
	consumer_room_cb room;
	void *arg;
	int reading, claiming, group_ready, stopped;
	struct event *ev_read, *ev_claim;
};

static void read_more(consumer *c);

static int room_now(consumer *c)
{
	int n = c->room(c->arg);
	return n < READ_COUNT_MAX ? n : READ_COUNT_MAX;
}

/* Hands every entry of an XREADGROUP / XAUTOCLAIM entry list to the owner. */
static void deliver(consumer *c, const redisReply *entries)
{
	if (!entries || entries->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < entries->elements; i++) {
		const redisReply *e = entries->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
		    e->element[0]->type != REDIS_REPLY_STRING)
			continue;
		const char *id = e->element[0]->str;
		const redisReply *fields = e->element[1];
		const char *payload = NULL;
		for (size_t f = 0; fields && fields->type == REDIS_REPLY_ARRAY &&
				   f + 1 < fields->elements;
		     f += 2)
			if (fields->element[f]->type == REDIS_REPLY_STRING &&
			    strcmp(fields->element[f]->str, "payload") == 0)
				payload = fields->element[f + 1]->str;
		json_error_t jerr;
		json_t *p = payload ? json_loads(payload, 0, &jerr) : NULL;
		if (json_is_object(p))
			c->on_entry(c->arg, id, p);
		else
			consumer_ack(c, id);
		json_decref(p);
	}
}

static void on_group(void *arg, redisReply *reply, const char *error)
{
	consumer *c = arg;
	(void)reply;
	c->group_ready = error == NULL;
	if (error)
		log_warn("cannot create the consumer group %s of %s: %s", c->group, c->stream,
			 error);
}

static void on_read(void *arg, redisReply *reply, const char *error)
{
	consumer *c = arg;
	c->reading = 0;
	if (error) {
		if (strstr(error, "NOGROUP")) {
			/* Redis was flushed or restarted empty: make the group again */
			c->group_ready = 0;
			redis_xgroup_create(c->redis, c->stream, c->group, "0", on_group, c);
		}
		return; /* the next tick reads again rather than spin */
	}
	if (reply && reply->type == REDIS_REPLY_ARRAY)
		for (size_t s = 0; s < reply->elements; s++)
			if (reply->element[s]->type == REDIS_REPLY_ARRAY &&
			    reply->element[s]->elements == 2)
				deliver(c, reply->element[s]->element[1]);
	read_more(c);
}

static void read_more(consumer *c)
{
	if (c->reading || c->stopped || !redis_ready(c->reader))
		return;
	int room = room_now(c);
	if (room <= 0)
		return;
	if (!c->group_ready) {
		redis_xgroup_create(c->redis, c->stream, c->group, "0", on_group, c);
		return;
	}
	c->reading = 1;
	redis_xreadgroup(c->reader, c->group, c->cfg->instance, c->stream, ">", room,
			 READ_BLOCK_MS, on_read, c);
}

static void read_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	read_more(arg);
}

static void on_claimed(void *arg, redisReply *reply, const char *error)
{
	consumer *c = arg;
	c->claiming = 0;
	if (!error && reply && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2)
		deliver(c, reply->element[1]);
}

static void claim_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	consumer *c = arg;
	if (c->claiming || c->stopped || !c->group_ready || !redis_ready(c->redis))
		return;
	int room = room_now(c);
	if (room <= 0)
		return;
	c->claiming = 1;
	redis_xautoclaim(c->redis, c->stream, c->group, c->cfg->instance, c->claim_idle_ms, "0-0",
			 room, on_claimed, c);
}

static struct event *every(struct event_base *base, int ms, event_callback_fn fn, void *arg)
{
	struct event *ev = event_new(base, -1, EV_PERSIST, fn, arg);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	if (ev)
		event_add(ev, &tv);
	return ev;
}

consumer *consumer_new(struct event_base *base, const config *cfg, redis_client *redis,
		       const char *name, const char *group, long claim_idle_ms,
		       consumer_entry_cb on_entry, consumer_room_cb room, void *arg)
{
	consumer *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->cfg = cfg;
	c->redis = redis;
	snprintf(c->stream, sizeof c->stream, "%s%s", cfg->stream_prefix, name);
	snprintf(c->group, sizeof c->group, "%s", group);
	c->claim_idle_ms = claim_idle_ms;
	c->on_entry = on_entry;
	c->room = room;
	c->arg = arg;
	char label[80];
	snprintf(label, sizeof label, "%s-reader", name);
	c->reader = redis_client_new(base, cfg->redis_host, cfg->redis_port, cfg->redis_db,
				     cfg->redis_password, label);
	c->ev_read = every(base, READ_TICK_MS, read_tick, c);
	c->ev_claim = every(base, CLAIM_INTERVAL_MS, claim_tick, c);
	if (!c->reader || !c->ev_read || !c->ev_claim) {
		consumer_free(c);
		return NULL;
	}
	redis_client_start(c->reader);
	return c;
}

void consumer_ack(consumer *c, const char *stream_id)
{
	redis_xack(c->redis, c->stream, c->group, stream_id, NULL, NULL);
}

void consumer_poke(consumer *c)
{
	read_more(c);
}

void consumer_stop(consumer *c)
{
	c->stopped = 1;
	event_del(c->ev_read);
	event_del(c->ev_claim);
}

int consumer_busy(const consumer *c)
{
	return c->reading || c->claiming;
}

void consumer_free(consumer *c)
{
	if (!c)
		return;
	if (c->ev_read)
		event_free(c->ev_read);
	if (c->ev_claim)
		event_free(c->ev_claim);
	redis_client_free(c->reader);
	free(c);
}
