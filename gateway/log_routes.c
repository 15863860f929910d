/* GET /api/jobs/{id}/logs: a job's verification log as Server-Sent Events, from PostgreSQL and live from Redis. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "gateway.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "verification.h"

/* A comment line this often keeps idle connections (and proxies) open. */
#define KEEPALIVE_SECONDS 15
/* What a client waits before reconnecting, sent once (`retry:`). */
#define RETRY_MS 3000
/* The live read blocks this long, so that new jobs join it soon. */
#define READ_BLOCK_MS 200
#define READ_COUNT 200
#define STREAM_ID_MAX 48

/* One client reading one job's log. */
typedef struct sub {
	struct sub *next;
	struct topic *topic;
	http_req *req;
	char last[STREAM_ID_MAX]; /* the last entry sent */
	char kind[16];		  /* market, dispatch: the words of its statuses */
	int joined;		  /* in its topic's list (else still reading the past) */
	/* attempts whose verdict the client has: their entries are not sent again
	 * (a verdict made from the stored row and the real one have two ids) */
	json_int_t settled;
} sub;

/* A job's log stream with its readers. */
typedef struct topic {
	struct topic *next;
	char key[256];
	char last[STREAM_ID_MAX]; /* the live read's position */
	sub *subs;
	int catching_up; /* subscriptions still reading the past */
} topic;

/* The hub: one Redis connection reads every followed stream for every client. */
typedef struct hub {
	gateway *gw;
	redis_client *reader;
	topic *topics;
	int reading;
	struct event *ev_tick, *ev_keepalive;
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

/* ===== Sending ===== */

static void hub_read(hub *h);

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

/* Drops topics nobody reads any more. */
static void hub_prune(hub *h)
{
	for (topic **p = &h->topics; *p;) {
		topic *t = *p;
		if (!t->subs && !t->catching_up) {
			*p = t->next;
			free(t);
		} else {
			p = &t->next;
		}
	}
}

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
	sub_free(s);
	hub_prune(&the_hub);
}

/* Ends the client's stream after a verdict. */
static void sub_end(sub *s)
{
	http_req *req = s->req;
	s->req = NULL;
	sub_free(s);
	if (req)
		http_stream_end(req);
}

/*
 * Sends one entry {id, event, data} if it is after what the client has.
 * Returns 1 when it was a verdict (the stream is over), else 0.
 */
static int send_entry(sub *s, const char *id, const char *event, const json_t *data)
{
	if (!s->req || id_cmp(id, s->last) <= 0)
		return 0;
	json_t *attempt = json_object_get(data, "attempt");
	if (json_is_integer(attempt) && json_integer_value(attempt) <= s->settled)
		return 0;
	json_t *copy = json_deep_copy(data);
	int verdict = strcmp(event, "verdict") == 0;
	if (verdict && json_is_integer(attempt))
		s->settled = json_integer_value(attempt);
	if (verdict && json_is_object(copy)) {
		/* statuses in the words of the job's own API */
		const char *st = json_string_value(json_object_get(copy, "status"));
		if (st)
			json_object_set_new(copy, "status",
					    json_string(strcmp(s->kind, "market") == 0
								? jobs_market_status(st)
								: jobs_dispatch_status(st)));
	}
	char *text = json_dumps(copy, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(copy);
	if (!text)
		return 0;
	size_t n = strlen(id) + strlen(event) + strlen(text) + 32;
	char *frame = malloc(n);
	if (frame) {
		int len = snprintf(frame, n, "id: %s\nevent: %s\ndata: %s\n\n", id, event, text);
		http_stream_write(s->req, frame, (size_t)len);
		free(frame);
	}
	free(text);
	snprintf(s->last, sizeof s->last, "%s", id);
	return verdict;
}

/* Sends a Redis stream entry ([id, [field, value, …]]): fields `event` and `data`. */
static int send_redis_entry(sub *s, const redisReply *e)
{
	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
		return 0;
	const redisReply *f = e->element[1];
	const char *event = NULL, *data = NULL;
	for (size_t i = 0; i + 1 < f->elements; i += 2) {
		if (f->element[i]->type != REDIS_REPLY_STRING ||
		    f->element[i + 1]->type != REDIS_REPLY_STRING)
			continue;
		if (strcmp(f->element[i]->str, "event") == 0)
			event = f->element[i + 1]->str;
		else if (strcmp(f->element[i]->str, "data") == 0)
			data = f->element[i + 1]->str;
	}
	if (!event || !data)
		return 0;
	json_error_t jerr;
	json_t *d = json_loads(data, JSON_DECODE_ANY, &jerr);
	int verdict = d ? send_entry(s, e->element[0]->str, event, d) : 0;
	json_decref(d);
	return verdict;
}

/* ===== The live read ===== */

static void on_read(void *arg, redisReply *reply, const char *error)
{
	hub *h = arg;
	h->reading = 0;
	if (!error && reply && reply->type == REDIS_REPLY_ARRAY) {
		for (size_t i = 0; i < reply->elements; i++) {
			const redisReply *st = reply->element[i];
			if (st->type != REDIS_REPLY_ARRAY || st->elements != 2)
				continue;
			topic *t = h->topics;
			while (t && strcmp(t->key, st->element[0]->str) != 0)
				t = t->next;
			const redisReply *entries = st->element[1];
			for (size_t k = 0; t && k < entries->elements; k++) {
				const redisReply *e = entries->element[k];
				if (e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
				    e->element[0]->type == REDIS_REPLY_STRING)
					snprintf(t->last, sizeof t->last, "%s", e->element[0]->str);
				for (sub *s = t->subs, *next; s; s = next) {
					next = s->next;
					if (send_redis_entry(s, e))
						sub_end(s);
				}
			}
		}
		hub_prune(h);
	}
	if (!error)
		hub_read(h);
}

/* XREAD BLOCK on every followed stream, each from the hub's position in it. */
static void hub_read(hub *h)
{
	if (h->reading || !h->topics || !redis_ready(h->reader))
		return;
	int n = 0;
	for (topic *t = h->topics; t; t = t->next)
		n++;
	const char **argv = calloc((size_t)(6 + 2 * n), sizeof *argv);
	if (!argv)
		return;
	char block[16], count[16];
	snprintf(block, sizeof block, "%d", READ_BLOCK_MS);
	snprintf(count, sizeof count, "%d", READ_COUNT);
	int a = 0;
	argv[a++] = "XREAD";
	argv[a++] = "COUNT";
	argv[a++] = count;
	argv[a++] = "BLOCK";
	argv[a++] = block;
	argv[a++] = "STREAMS";
	for (topic *t = h->topics; t; t = t->next)
		argv[a++] = t->key;
	for (topic *t = h->topics; t; t = t->next)
		argv[a++] = t->last[0] ? t->last : "0-0";
	h->reading = 1;
	redis_command_argv(h->reader, on_read, h, a, argv, NULL);
	free(argv);
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	hub_read(arg);
}

static void keepalive(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	hub *h = arg;
	static const char comment[] = ": keep-alive\n\n";
	for (topic *t = h->topics; t; t = t->next)
		for (sub *s = t->subs; s; s = s->next)
			if (s->req)
				http_stream_write(s->req, comment, sizeof comment - 1);
}

/* ===== A new client ===== */

static topic *topic_for(hub *h, const char *key)
{
	for (topic *t = h->topics; t; t = t->next)
		if (strcmp(t->key, key) == 0)
			return t;
	topic *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	snprintf(t->key, sizeof t->key, "%s", key);
	t->next = h->topics;
	h->topics = t;
	return t;
}

static void on_range(void *arg, redisReply *reply, const char *error)
{
	sub *s = arg;
	topic *t = s->topic;
	t->catching_up--;
	if (!s->req) { /* the client left while the past was read */
		sub_free(s);
		hub_prune(&the_hub);
		return;
	}
	int ended = 0;
	if (!error && reply && reply->type == REDIS_REPLY_ARRAY)
		for (size_t i = 0; i < reply->elements && !ended; i++)
			ended = send_redis_entry(s, reply->element[i]);
	if (ended) {
		sub_end(s);
		hub_prune(&the_hub);
		return;
	}
	/* live from here: the hub reads on from the furthest of both positions */
	if (id_cmp(s->last, t->last) > 0 || !t->last[0])
		snprintf(t->last, sizeof t->last, "%s", s->last[0] ? s->last : "0-0");
	s->next = t->subs;
	t->subs = s;
	s->joined = 1;
	hub_read(&the_hub);
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
	for (i = first; i < upto && i < json_array_size(entries); i++) {
		e = json_array_get(entries, i);
		send_entry(s, json_string_value(json_object_get(e, "id")) ?: "",
			   json_string_value(json_object_get(e, "event")) ?: "log",
			   json_object_get(e, "data"));
	}
	if (has_verdict) {
		sub_end(s);
		goto done;
	}
	/* the rest is live: read the stream's past from the client's position, then follow it */
	char key[256], from[STREAM_ID_MAX + 2];
	snprintf(key, sizeof key, "%slogs:%s", l->gw->cfg->stream_prefix, l->job_id);
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
	h->reader = redis_client_new(base, cfg->redis_host, cfg->redis_port, cfg->redis_db,
				     cfg->redis_password, "logs-reader");
	h->ev_tick = event_new(base, -1, EV_PERSIST, tick, h);
	h->ev_keepalive = event_new(base, -1, EV_PERSIST, keepalive, h);
	if (!h->reader || !h->ev_tick || !h->ev_keepalive)
		return -1;
	struct timeval t = { 0, READ_BLOCK_MS * 1000 }, k = { KEEPALIVE_SECONDS, 0 };
	event_add(h->ev_tick, &t);
	event_add(h->ev_keepalive, &k);
	h->m_clients = metrics_gauge("errand_sse_clients",
				     "Clients reading a job's verification log (SSE).");
	redis_client_start(h->reader);
	return http_route(http, "GET", "/api/jobs/:id/logs", logs_route, gw);
}

void gw_log_routes_free(void)
{
	hub *h = &the_hub;
	if (h->ev_tick)
		event_free(h->ev_tick);
	if (h->ev_keepalive)
		event_free(h->ev_keepalive);
	redis_client_free(h->reader);
	while (h->topics) {
		topic *t = h->topics;
		h->topics = t->next;
		free(t);
	}
}
