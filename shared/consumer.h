/* A consumer of one Redis stream in a consumer group: blocking reads, the group re-made after a flush, XAUTOCLAIM. */
#ifndef ERRAND_CONSUMER_H
#define ERRAND_CONSUMER_H

#include <event2/event.h>
#include <jansson.h>

#include "config.h"
#include "redis.h"

typedef struct consumer consumer;

/*
 * One entry: its stream id and the JSON of its `payload` field (the
 * outbox's entries carry one). The callee acknowledges it with
 * consumer_ack() once its work is done (or never, to have it delivered
 * again after `claim_idle_ms`). Both are valid during the call only.
 */
typedef void (*consumer_entry_cb)(void *arg, const char *stream_id, const json_t *payload);

/* How many more entries the owner takes now (0: none until consumer_poke()). */
typedef int (*consumer_room_cb)(void *arg);

/*
 * A consumer of <ERRAND_STREAM_PREFIX><name> in group `group` as consumer
 * ERRAND_INSTANCE: it reads new entries with a blocking XREADGROUP on a
 * Redis connection of its own while the owner has room, makes the group
 * again (from the start of the stream) when Redis lost it, and every few
 * seconds takes over with XAUTOCLAIM the entries another consumer left
 * unacknowledged for `claim_idle_ms`. Entries without a JSON payload are
 * acknowledged and dropped. `redis` is the owner's client for XACK and
 * XAUTOCLAIM (borrowed). NULL on failure.
 */
consumer *consumer_new(struct event_base *base, const config *cfg, redis_client *redis,
		       const char *name, const char *group, long claim_idle_ms,
		       consumer_entry_cb on_entry, consumer_room_cb room, void *arg);

/* Acknowledges an entry (XACK). */
void consumer_ack(consumer *c, const char *stream_id);

/* Reads more now if there is room (after the owner finished some work). */
void consumer_poke(consumer *c);

/* Stops reading and claiming; what is in flight still arrives. */
void consumer_stop(consumer *c);

/* Nonzero while a read or a claim is in flight. */
int consumer_busy(const consumer *c);

/* Frees the consumer and its connection. NULL-safe. */
void consumer_free(consumer *c);

#endif
