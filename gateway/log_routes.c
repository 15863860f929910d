/* GET /api/jobs/{id}/logs: a job's verification log as Server-Sent Events, from PostgreSQL and live from Redis. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "clock.h"
#include "gateway.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "strmap.h"
#include "verification.h"

/*
 * A comment line keeps idle connections (and proxies) open: sent to a
 * client to which nothing was written for this long, so that the clients'
 * keep-alives are spread over time instead of written all in one loop turn.
 */
#define KEEPALIVE_SECONDS 15
/* What a client waits before reconnecting, sent once (`retry:`). */
#define RETRY_MS 3000
/* Entries of one stream a read returns at most (the rest is read next). */
#define READ_COUNT 200
/* The safety net: every followed stream is read this often, this many per XREAD. */
#define SWEEP_MS 1000
#define SWEEP_BATCH 500
/* The hub's timer: a lost wait on the index is made again this soon. */
#define TICK_MS 100
/* The wait on the index stream; an answer at the latest this often keeps health PINGs going. */
#define NOTIFY_BLOCK_MS 1000
#define NOTIFY_COUNT 1000
#define STREAM_ID_MAX 48
#define STREAM_KEY_MAX 256

/* One client reading one job's log. */
typedef struct sub {
	struct sub *next;
	struct topic *topic;
	http_req *req;
	char last[STREAM_ID_MAX]; /* the last entry sent */
	char kind[16];		  /* market, dispatch: the words of its statuses */
	int64_t written_ms;	  /* monotonic: when something was last written to it */
	int joined;		  /* in its topic's list (else still reading the past) */
	/* attempts whose verdict the client has: their entries are not sent again
	 * (a verdict made from the stored row and the real one have two ids) */
	json_int_t settled;
} sub;

/*
 * A job's log stream with its readers. Every entry up to `last` has been
 * handed to each joined reader (which skips what it has); at most one read
 * of the stream is in flight.
 */
typedef struct topic {
	char key[STREAM_KEY_MAX];
	size_t keylen;
	char last[STREAM_ID_MAX]; /* the hub's position; set when the first reader joins */
	sub *subs;
	int catching_up; /* subscriptions still reading the past */
	int reading;	 /* a read is in flight (alone or in a sweep): the topic stays */
	int again;	 /* news came, or more is there, while reading: read once more */
	int rewound;	 /* `last` went back while reading: that read's entries are dropped */
	int closing;	 /* the job is finished: after this read, its readers' streams end */
} topic;

/*
 * The hub: for the whole gateway, one Redis connection reads the followed
 * streams (XREAD without BLOCK, each from the hub's position in it) and
 * one waits on the index stream <prefix>logs, whose entries name the jobs
 * whose log has news; every followed stream is also read once a second, so
 * that an index entry lost or never written delays an entry but loses none.
 * Once a second the hub also asks PostgreSQL which followed jobs are
 * finished: a job cancelled or failed while (or before) it was verified
 * gets no verdict, and its readers' streams end after what its log holds
 * (a client that reconnects then gets the rest from PostgreSQL, or 204).
 */
typedef struct hub {
	gateway *gw;
	redis_client *reader, *notifier;
	strmap *topics; /* stream key → topic */
	char index_key[STREAM_KEY_MAX];
	char index_last[STREAM_ID_MAX]; /* position in the index; "" to find (then sweep) */
	int notifying;			/* a command of the notifier in flight */
	int checking;			/* the query for finished jobs in flight */
	int ticks;			/* since the last sweep */
	struct event *ev_tick;
	metric *m_clients;
	int clients;
} hub;

static hub the_hub;

/* ===== Stream ids ===== */

/* Parses "<ms>-<seq>". Returns 0 or -1. */
static int id_parse(const char *id, unsigned long long *ms, unsigned long long *seq)
{
	char *end = NULL;
	if (!id || !*id || *id == '-' || *id == '+')
		return -1;
	*ms = strtoull(id, &end, 10);
	if (end == id || *end != '-' || end[1] == '\0' || end[1] == '-' || end[1] == '+')
		return -1;
	const char *s = end + 1;
	*seq = strtoull(s, &end, 10);
	return *end == '\0' && end != s ? 0 : -1;
}

/* Orders two stream ids; an empty or malformed id is before every other. */
static int id_cmp(const char *a, const char *b)
{
	unsigned long long am = 0, as = 0, bm = 0, bs = 0;
	int ha = id_parse(a, &am, &as) == 0, hb = id_parse(b, &bm, &bs) == 0;
	if (!ha || !hb)
		return ha - hb;
	if (am != bm)
		return am < bm ? -1 : 1;
	return as < bs ? -1 : as > bs;
}

/* ===== Topics and subscriptions ===== */

static void sub_unlink(sub *s)
{
	topic *t = s->topic;
	if (!t)
		return;
	for (sub **p = &t->subs; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	s->topic = NULL;
}

/* Frees `t` when nobody reads it any more and no read holds it. NULL-safe. */
static void topic_release(hub *h, topic *t)
{
	if (!t || t->subs || t->catching_up || t->reading)
		return;
	strmap_remove(h->topics, t->key);
	free(t);
}

/* The topic of stream `key`, made when new. NULL when out of memory. */
static topic *topic_for(hub *h, const char *key)
{
	topic *t = strmap_get(h->topics, key);
	if (t)
		return t;
	t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	snprintf(t->key, sizeof t->key, "%s", key);
	t->keylen = strlen(t->key);
	if (strmap_put(h->topics, t->key, t) != 0) {
		free(t);
		return NULL;
	}
	return t;
}

/* Forgets a subscription (not its topic: the caller releases that). */
static void sub_free(sub *s)
{
	if (s->joined)
		sub_unlink(s);
	the_hub.clients--;
	metrics_set(the_hub.m_clients, the_hub.clients);
	free(s);
}

/*
 * The client went away, or the server stops: forget it (the module frees
 * the request). A client still reading the past is freed by on_range().
 */
static void on_closed(void *arg)
{
	sub *s = arg;
	s->req = NULL;
	if (!s->joined)
		return;
	topic *t = s->topic;
	sub_free(s);
	topic_release(&the_hub, t);
}

/* Ends the client's stream after a verdict (not its topic: the caller releases that). */
static void sub_end(sub *s)
{
	http_req *req = s->req;
	s->req = NULL;
	sub_free(s);
	if (req)
		http_stream_end(req);
}

/* ===== Sending ===== */

/*
 * Sends one entry {id, event, data} if it is after what the client has;
 * `text` is data as compact JSON when the caller has it (not for a
 * verdict, whose status is put in the job's words), else NULL. Returns 1
 * when it was a verdict (the stream is over), else 0.
 */
static int send_entry(sub *s, const char *id, const char *event, const json_t *data,
		      const char *text)
{
	if (!s->req || id_cmp(id, s->last) <= 0)
		return 0;
	json_t *attempt = json_object_get(data, "attempt");
	if (json_is_integer(attempt) && json_integer_value(attempt) <= s->settled)
		return 0;
	int verdict = strcmp(event, "verdict") == 0;
	if (verdict && json_is_integer(attempt))
		s->settled = json_integer_value(attempt);
	char *own = NULL;
	if (!text || verdict) {
		json_t *copy = json_deep_copy(data);
		if (verdict && json_is_object(copy)) {
			/* statuses in the words of the job's own API */
			const char *st = json_string_value(json_object_get(copy, "status"));
			if (st)
				json_object_set_new(
					copy, "status",
					json_string(strcmp(s->kind, "market") == 0
							    ? jobs_market_status(st)
							    : jobs_dispatch_status(st)));
		}
		own = json_dumps(copy, JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(copy);
		if (!own)
			return 0;
		text = own;
	}
	size_t n = strlen(id) + strlen(event) + strlen(text) + 32;
	char *frame = malloc(n);
	if (frame) {
		int len = snprintf(frame, n, "id: %s\nevent: %s\ndata: %s\n\n", id, event, text);
		http_stream_write(s->req, frame, (size_t)len);
		s->written_ms = clock_mono_ms();
		free(frame);
	}
	free(own);
	snprintf(s->last, sizeof s->last, "%s", id);
	return verdict;
}

/*
 * Reads a Redis stream entry ([id, [field, value, …]]) with fields `event`
 * and `data`: `*id` and `*event` point into the reply, `*data` is new.
 * Returns 0, or -1 when it is not such an entry.
 */
static int entry_parse(const redisReply *e, const char **id, const char **event, json_t **data)
{
	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
		return -1;
	const redisReply *f = e->element[1];
	const char *text = NULL;
	*event = NULL;
	for (size_t i = 0; i + 1 < f->elements; i += 2) {
		if (f->element[i]->type != REDIS_REPLY_STRING ||
		    f->element[i + 1]->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(f->element[i]->str, "event") == 0)
			*event = f->element[i + 1]->str;
		else if (strcmp(f->element[i]->str, "data") == 0)
			text = f->element[i + 1]->str;
	}
	if (!*event || !text)
		return -1;
	json_error_t jerr;
	*data = json_loads(text, JSON_DECODE_ANY, &jerr);
	*id = e->element[0]->str;
	return *data ? 0 : -1;
}

/* ===== The live read ===== */

static void topic_read(hub *h, topic *t);

/*
 * Hands the entries one read of `t` returned (a reply's [id, fields]
 * array, or NULL for none) to its readers, each entry parsed and, but for
 * a verdict, dumped once.
 */
static void topic_deliver(topic *t, const redisReply *entries)
{
	if (t->rewound) {
		/* a reader joined behind this read's start: read again from its position */
		t->again = 1;
		return;
	}
	size_t n = entries && entries->type == REDIS_REPLY_ARRAY ? entries->elements : 0;
	for (size_t k = 0; k < n; k++) {
		const redisReply *e = entries->element[k];
		const char *id, *event;
		json_t *data = NULL;
		if (entry_parse(e, &id, &event, &data) != 0) {
			json_decref(data);
			if (e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
			    e->element[0]->type == REDIS_REPLY_STRING)
				snprintf(t->last, sizeof t->last, "%s", e->element[0]->str);
			continue;
		}
		snprintf(t->last, sizeof t->last, "%s", id);
		char *text = strcmp(event, "verdict") == 0
				     ? NULL
				     : json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
		for (sub *s = t->subs, *next; s; s = next) {
			next = s->next;
			if (send_entry(s, id, event, data, text))
				sub_end(s);
		}
		free(text);
		json_decref(data);
	}
	if (n >= READ_COUNT)
		t->again = 1; /* there may be more */
}

/* Ends the streams of a finished job's readers: no verdict will come. */
static void topic_close(topic *t)
{
	t->closing = 0;
	while (t->subs)
		sub_end(t->subs);
}

/*
 * A read of `t` is over: read again if asked, else end its readers'
 * streams if its job is finished, and let it go if unused.
 */
static void topic_read_done(hub *h, topic *t, const char *error)
{
	t->reading = 0;
	if (error)
		t->again = 0; /* the next sweep reads it */
	if (t->again) {
		topic_read(h, t);
		return;
	}
	if (t->closing && !error)
		topic_close(t);
	topic_release(h, t);
}

static void on_topic_read(void *arg, redisReply *reply, const char *error)
{
	topic *t = arg;
	if (!error && reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 1) {
		const redisReply *st = reply->element[0];
		if (st->type == REDIS_REPLY_ARRAY && st->elements == 2)
			topic_deliver(t, st->element[1]);
	} else if (!error) {
		topic_deliver(t, NULL); /* nil: nothing new */
	}
	topic_read_done(&the_hub, t, error);
}

/* Reads `t` from the hub's position in it, now or once the read in flight is over. */
static void topic_read(hub *h, topic *t)
{
	if (t->reading) {
		t->again = 1;
		return;
	}
	if (!t->subs)
		return;
	char count[16];
	snprintf(count, sizeof count, "%d", READ_COUNT);
	const char *argv[] = { "XREAD", "COUNT", count, "STREAMS", t->key, t->last };
	t->reading = 1;
	t->again = 0;
	t->rewound = 0;
	redis_command_argv(h->reader, on_topic_read, t, 6, argv, NULL);
}

/* ===== The safety net: every followed stream, in batches ===== */

typedef struct sweep {
	int n;
	topic *topics[SWEEP_BATCH];
} sweep;

static void on_sweep(void *arg, redisReply *reply, const char *error)
{
	sweep *b = arg;
	hub *h = &the_hub;
	if (!error && reply && reply->type == REDIS_REPLY_ARRAY) {
		for (size_t i = 0; i < reply->elements; i++) {
			const redisReply *st = reply->element[i];
			if (st->type != REDIS_REPLY_ARRAY || st->elements != 2 ||
			    st->element[0]->type != REDIS_REPLY_STRING)
				continue;
			topic *t = strmap_get(h->topics, st->element[0]->str);
			if (t && t->reading)
				topic_deliver(t, st->element[1]);
		}
	}
	for (int i = 0; i < b->n; i++)
		topic_read_done(h, b->topics[i], error);
	free(b);
}

/* One XREAD of the batch's streams, each from the hub's position in it. */
static void sweep_send(hub *h, sweep *b)
{
	const char *argv[4 + 2 * SWEEP_BATCH];
	size_t lens[4 + 2 * SWEEP_BATCH];
	char count[16];
	snprintf(count, sizeof count, "%d", READ_COUNT);
	int a = 0;
	argv[a++] = "XREAD";
	argv[a++] = "COUNT";
	argv[a++] = count;
	argv[a++] = "STREAMS";
	for (int i = 0; i < a; i++)
		lens[i] = strlen(argv[i]);
	for (int i = 0; i < b->n; i++, a++) {
		argv[a] = b->topics[i]->key;
		lens[a] = b->topics[i]->keylen;
	}
	for (int i = 0; i < b->n; i++, a++) {
		argv[a] = b->topics[i]->last;
		lens[a] = strlen(b->topics[i]->last);
	}
	redis_command_argv(h->reader, on_sweep, b, a, argv, lens);
}

/* Reads every followed stream that no read holds, SWEEP_BATCH a command. */
static void hub_sweep(hub *h)
{
	if (!redis_ready(h->reader))
		return;
	sweep *b = NULL;
	size_t cursor = 0;
	void *v;
	while (strmap_next(h->topics, &cursor, NULL, &v)) {
		topic *t = v;
		if (t->reading || !t->subs)
			continue;
		if (!b && !(b = calloc(1, sizeof *b)))
			return;
		t->reading = 1;
		t->again = 0;
		t->rewound = 0;
		b->topics[b->n++] = t;
		if (b->n == SWEEP_BATCH) {
			sweep_send(h, b);
			b = NULL;
		}
	}
	if (b)
		sweep_send(h, b);
}

/* ===== Finished jobs ===== */

static void on_finished(void *arg, int n, const char *const *ids, const int *attempts,
			const char *error)
{
	(void)attempts;
	hub *h = arg;
	h->checking = 0;
	if (error)
		return; /* asked again at the next sweep */
	for (int i = 0; i < n; i++) {
		char key[STREAM_KEY_MAX];
		snprintf(key, sizeof key, "%s" VERIFY_LOG_STREAM "%s", h->gw->cfg->stream_prefix,
			 ids[i]);
		topic *t = strmap_get(h->topics, key);
		if (t && t->subs) {
			/* what the log holds first, then the end */
			t->closing = 1;
			topic_read(h, t);
		}
	}
}

/* Asks which followed jobs are finished (one query for all of them). */
static void hub_check_finished(hub *h)
{
	if (h->checking)
		return;
	size_t skip = strlen(h->gw->cfg->stream_prefix) + strlen(VERIFY_LOG_STREAM);
	size_t cursor = 0;
	void *v;
	db_array jobs;
	db_array_init(&jobs);
	while (strmap_next(h->topics, &cursor, NULL, &v)) {
		topic *t = v;
		if (t->subs && t->keylen > skip)
			db_array_addn(&jobs, t->key + skip, t->keylen - skip);
	}
	const char *list = db_array_text(&jobs);
	if (list && jobs.n > 0) {
		h->checking = 1;
		verification_finished(h->gw->db, list, on_finished, h);
	}
	db_array_free(&jobs);
}

/* ===== The index: which logs have news ===== */

static void hub_notify(hub *h);

static void on_notified(void *arg, redisReply *reply, const char *error)
{
	hub *h = arg;
	h->notifying = 0;
	if (error) {
		/* connection lost (or the key is no stream): find the position again and sweep */
		h->index_last[0] = '\0';
		return; /* the next tick starts again */
	}
	if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
	    reply->element[0]->type == REDIS_REPLY_ARRAY && reply->element[0]->elements == 2) {
		const redisReply *entries = reply->element[0]->element[1];
		const char *prefix = h->gw->cfg->stream_prefix;
		for (size_t k = 0; entries->type == REDIS_REPLY_ARRAY && k < entries->elements;
		     k++) {
			const redisReply *e = entries->element[k];
			if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
			    e->element[0]->type != REDIS_REPLY_STRING ||
			    e->element[1]->type != REDIS_REPLY_ARRAY)
				continue;
			snprintf(h->index_last, sizeof h->index_last, "%s", e->element[0]->str);
			const redisReply *f = e->element[1];
			for (size_t i = 0; i + 1 < f->elements; i += 2) {
				if (f->element[i]->type != REDIS_REPLY_STRING ||
				    f->element[i + 1]->type != REDIS_REPLY_STRING ||
				    strcmp(f->element[i]->str, VERIFY_LOG_INDEX_FIELD) != 0)
					continue;
				char key[STREAM_KEY_MAX];
				snprintf(key, sizeof key, "%s" VERIFY_LOG_STREAM "%s", prefix,
					 f->element[i + 1]->str);
				topic *t = strmap_get(h->topics, key);
				if (t)
					topic_read(h, t);
			}
		}
	}
	hub_notify(h);
}

static void on_index_position(void *arg, redisReply *reply, const char *error)
{
	hub *h = arg;
	h->notifying = 0;
	if (error || !reply || reply->type != REDIS_REPLY_ARRAY)
		return; /* the next tick tries again */
	const redisReply *e = reply->elements ? reply->element[0] : NULL;
	snprintf(h->index_last, sizeof h->index_last, "%s",
		 e && e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
				 e->element[0]->type == REDIS_REPLY_STRING
			 ? e->element[0]->str
			 : "0-0");
	/* what came before that position without news reaching the hub */
	hub_sweep(h);
	hub_notify(h);
}

/*
 * Waits for the index's next entries (XREAD BLOCK from the hub's position
 * in it). With no position yet — at start, after the connection was lost —
 * takes the index's last entry as the position first, then reads every
 * followed stream once.
 */
static void hub_notify(hub *h)
{
	if (h->notifying || !redis_ready(h->notifier))
		return;
	h->notifying = 1;
	if (!h->index_last[0]) {
		const char *argv[] = { "XREVRANGE", h->index_key, "+", "-", "COUNT", "1" };
		redis_command_argv(h->notifier, on_index_position, h, 6, argv, NULL);
		return;
	}
	char block[16], count[16];
	snprintf(block, sizeof block, "%d", NOTIFY_BLOCK_MS);
	snprintf(count, sizeof count, "%d", NOTIFY_COUNT);
	const char *argv[] = { "XREAD", "COUNT",   count,	 "BLOCK",
			       block,	"STREAMS", h->index_key, h->index_last };
	redis_command_argv(h->notifier, on_notified, h, 8, argv, NULL);
}

/* Writes the keep-alive comment to the clients to which nothing was written for a while. */
static void hub_keepalive(hub *h)
{
	static const char comment[] = ": keep-alive\n\n";
	int64_t now = clock_mono_ms();
	size_t cursor = 0;
	void *v;
	while (strmap_next(h->topics, &cursor, NULL, &v))
		for (sub *s = ((topic *)v)->subs; s; s = s->next)
			if (s->req && now - s->written_ms >= KEEPALIVE_SECONDS * 1000) {
				http_stream_write(s->req, comment, sizeof comment - 1);
				s->written_ms = now;
			}
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	hub *h = arg;
	if (++h->ticks >= SWEEP_MS / TICK_MS) {
		h->ticks = 0;
		hub_sweep(h);
		hub_check_finished(h);
	}
	hub_notify(h);
	hub_keepalive(h);
}

/* ===== A new client ===== */

static void on_range(void *arg, redisReply *reply, const char *error)
{
	sub *s = arg;
	topic *t = s->topic;
	hub *h = &the_hub;
	t->catching_up--;
	if (!s->req) { /* the client left while the past was read */
		sub_free(s);
		topic_release(h, t);
		return;
	}
	int ended = 0;
	if (!error && reply && reply->type == REDIS_REPLY_ARRAY)
		for (size_t i = 0; i < reply->elements && !ended; i++) {
			const char *id, *event;
			json_t *data = NULL;
			if (entry_parse(reply->element[i], &id, &event, &data) == 0)
				ended = send_entry(s, id, event, data, NULL);
			json_decref(data);
		}
	if (ended) {
		sub_end(s);
		topic_release(h, t);
		return;
	}
	/*
	 * Live from here. The hub's position must not be after the client's:
	 * what lies between would never reach it. If it is, it goes back (the
	 * other readers skip what they have) and a read in flight from the
	 * later position is dropped.
	 */
	const char *from = s->last[0] ? s->last : "0-0";
	if (!t->last[0] || id_cmp(from, t->last) < 0) {
		if (t->last[0] && t->reading)
			t->rewound = 1;
		snprintf(t->last, sizeof t->last, "%s", from);
	}
	s->next = t->subs;
	t->subs = s;
	s->joined = 1;
	/* what was written since the past was read */
	topic_read(h, t);
}

typedef struct logs_req {
	gateway *gw;
	http_req *req;
	char job_id[IDS_MAX_LEN];
	char last[STREAM_ID_MAX];
} logs_req;

static void on_job_log(void *arg, const char *status, const char *kind, json_t *entries,
		       const char *error)
{
	logs_req *l = arg;
	http_req *req = l->req;
	if (error) {
		gw_reply_unavailable(req);
		goto done;
	}
	if (!status) {
		http_reply_error(req, 404, ERR_JOB_NOT_FOUND, "no such job");
		goto done;
	}
	/* What is stored and after the client's position, up to the first verdict. */
	size_t i, first = json_array_size(entries), upto = first;
	json_t *e;
	json_array_foreach(entries, i, e)
	{
		const char *id = json_string_value(json_object_get(e, "id"));
		if (first == json_array_size(entries) && id_cmp(id, l->last) > 0)
			first = i;
		if (i >= first && strcmp(json_string_value(json_object_get(e, "event")) ?: "",
					 "verdict") == 0) {
			upto = i + 1;
			break;
		}
	}
	int has_verdict = upto < json_array_size(entries) ||
			  (upto == json_array_size(entries) && upto > first &&
			   strcmp(json_string_value(json_object_get(
					  json_array_get(entries, upto - 1), "event")) ?: "",
				  "verdict") == 0);
	int terminal = strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0 ||
		       strcmp(status, "cancelled") == 0 || strcmp(status, "archived") == 0;
	if (first >= json_array_size(entries) && terminal) {
		/* nothing more will come: 204 tells an EventSource not to reconnect */
		http_reply_raw(req, 204, "text/event-stream", "", 0);
		goto done;
	}
	sub *s = calloc(1, sizeof *s);
	if (!s) {
		gw_reply_unavailable(req);
		goto done;
	}
	for (i = 0; i < first; i++) {
		e = json_array_get(entries, i);
		json_t *attempt = json_object_get(json_object_get(e, "data"), "attempt");
		if (strcmp(json_string_value(json_object_get(e, "event")) ?: "", "verdict") == 0 &&
		    json_is_integer(attempt) && json_integer_value(attempt) > s->settled)
			s->settled = json_integer_value(attempt);
	}
	s->req = req;
	snprintf(s->last, sizeof s->last, "%s", l->last);
	snprintf(s->kind, sizeof s->kind, "%s", kind);
	http_req_add_header(req, "Cache-Control", "no-cache");
	http_req_add_header(req, "X-Accel-Buffering", "no");
	if (http_stream_start(req, "text/event-stream", on_closed, s) != 0) {
		free(s);
		goto done;
	}
	the_hub.clients++;
	metrics_set(the_hub.m_clients, the_hub.clients);
	char retry[32];
	int n = snprintf(retry, sizeof retry, "retry: %d\n\n", RETRY_MS);
	http_stream_write(req, retry, (size_t)n);
	s->written_ms = clock_mono_ms();
	for (i = first; i < upto && i < json_array_size(entries); i++) {
		e = json_array_get(entries, i);
		send_entry(s, json_string_value(json_object_get(e, "id")) ?: "",
			   json_string_value(json_object_get(e, "event")) ?: "log",
			   json_object_get(e, "data"), NULL);
	}
	if (has_verdict) {
		sub_end(s);
		goto done;
	}
	/* the rest is live: read the stream's past from the client's position, then follow it */
	char key[STREAM_KEY_MAX], from[STREAM_ID_MAX + 2];
	snprintf(key, sizeof key, "%s" VERIFY_LOG_STREAM "%s", l->gw->cfg->stream_prefix,
		 l->job_id);
	snprintf(from, sizeof from, "(%s", s->last[0] ? s->last : "0-0");
	topic *t = topic_for(&the_hub, key);
	if (!t) {
		sub_end(s);
		goto done;
	}
	s->topic = t;
	t->catching_up++;
	const char *argv[] = { "XRANGE", key, s->last[0] ? from : "-", "+" };
	redis_command_argv(l->gw->outbox.redis, on_range, s, 4, argv, NULL);
done:
	free(l);
}

static void logs(gateway *gw, http_req *req, const principal *p)
{
	const char *id = http_req_param(req, "id");
	if (!id || !ids_valid(id, "job")) {
		http_reply_error(req, 404, ERR_JOB_NOT_FOUND, "no such job");
		return;
	}
	logs_req *l = calloc(1, sizeof *l);
	if (!l) {
		gw_reply_unavailable(req);
		return;
	}
	l->gw = gw;
	l->req = req;
	snprintf(l->job_id, sizeof l->job_id, "%s", id);
	/* EventSource sends Last-Event-ID when it reconnects; ?last_event_id= for other clients */
	const char *last = http_req_header(req, "Last-Event-ID");
	if (!last)
		last = http_req_query(req, "last_event_id");
	unsigned long long ms, seq;
	if (last && id_parse(last, &ms, &seq) == 0)
		snprintf(l->last, sizeof l->last, "%s", last);
	verification_job_log(gw->db, id, p->id, on_job_log, l);
}

static void logs_route(http_req *req, void *arg)
{
	gw_authenticate(arg, req, ALLOW_USER | ALLOW_AGENT, logs);
}

int gw_log_routes(gateway *gw, http_server *http)
{
	hub *h = &the_hub;
	const config *cfg = gw->cfg;
	struct event_base *base = service_base(gw->svc);
	h->gw = gw;
	snprintf(h->index_key, sizeof h->index_key, "%s" VERIFY_LOG_INDEX, cfg->stream_prefix);
	h->topics = strmap_new();
	h->reader = redis_client_new(base, cfg->redis_host, cfg->redis_port, cfg->redis_db,
				     cfg->redis_password, "logs-reader");
	h->notifier = redis_client_new(base, cfg->redis_host, cfg->redis_port, cfg->redis_db,
				       cfg->redis_password, "logs-notifier");
	h->ev_tick = event_new(base, -1, EV_PERSIST, tick, h);
	if (!h->topics || !h->reader || !h->notifier || !h->ev_tick)
		return -1;
	struct timeval t = { 0, TICK_MS * 1000 };
	event_add(h->ev_tick, &t);
	h->m_clients = metrics_gauge("errand_sse_clients",
				     "Clients reading a job's verification log (SSE).");
	redis_client_start(h->reader);
	redis_client_start(h->notifier);
	return http_route(http, "GET", "/api/jobs/:id/logs", logs_route, gw);
}

void gw_log_routes_free(void)
{
	hub *h = &the_hub;
	if (h->ev_tick)
		event_free(h->ev_tick);
	/* reads in flight fail now and let their topics go */
	redis_client_free(h->reader);
	redis_client_free(h->notifier);
	h->reader = h->notifier = NULL;
	if (h->topics) {
		size_t cursor = 0;
		void *v;
		while (strmap_next(h->topics, &cursor, NULL, &v))
			free(v);
		strmap_free(h->topics);
		h->topics = NULL;
	}
}
