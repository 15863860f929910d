/* errand-dispatcher: everything that leaves errand: signed webhooks, retries, delivery records. */
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "auth.h"
#include "clock.h"
#include "consumer.h"
#include "deliveries.h"
#include "fairq.h"
#include "http_client.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "principals.h"
#include "seal.h"
#include "service.h"
#include "strmap.h"
#include "webhook.h"

#define GROUP "dispatchers"
#define POLL_INTERVAL_MS 1000
#define POLL_BATCH 200
/*
 * Claims at the database at most: the messages read beyond wait in the
 * dispatcher, the receivers taking turns, rather than in the pool's queue
 * (where they would time out and could not be reordered).
 */
#define CLAIM_WINDOW 256
/*
 * Records at the database at most (enough to keep every connection busy):
 * the others wait in the dispatcher, each target host taking its turn, so
 * that a claim waits behind a few records only and a host whose thousands
 * of answers came at once does not delay another host's records.
 */
#define RECORD_WINDOW 16
#define STOP_CHECK_MS 100
/* A taken message is locked this much longer than one attempt may take. */
#define LOCK_SLACK_SECONDS 10
/* Messages taken by one statement at most (those of one turn of the loop). */
#define CLAIM_BATCH 64

typedef struct item item;

typedef struct dispatcher {
	service *svc;
	const config *cfg;
	db_pool *db;
	redis_client *redis; /* the outbox, and the consumer's XACK and XAUTOCLAIM */
	consumer *stream;    /* errand:dispatch */
	http_client *hc;
	outbox outbox;
	unsigned char key[SEAL_KEY_LEN];
	int lock_s;
	int inflight;  /* messages between taking and recording */
	int claiming;  /* of those, the ones whose claim is at the database */
	int recording; /* and the ones answered, whose record waits or is at the database */
	int records_at_db;
	fairq *records; /* the records waiting for their turn, by target host */
	/*
	 * Messages read (from the stream or the poll), not taken yet: by
	 * receiver (agent or observer id), taking turns; as many at most as
	 * ERRAND_DISPATCH_MAX_INFLIGHT, beyond which the stream is not read,
	 * and as many a receiver as it may have in flight, beyond which its
	 * entries are left pending (XAUTOCLAIM or the poll brings them again).
	 */
	fairq *waiting;
	int nwaiting;
	strmap *receivers; /* receiver → what it has waiting and in flight */
	strmap *known;	   /* message id → its item, waiting or in flight: read once */
	int polling;
	struct event *ev_poll;
	item *to_claim[CLAIM_BATCH]; /* messages to take once this turn of the loop is over */
	int nto_claim;
	struct event *ev_claim;
	void (*stopped)(void *);
	void *stopped_arg;
	metric *m_delivered, *m_failed, *m_inflight, *m_waiting;
} dispatcher;

/* One receiver's messages here. */
typedef struct receiver {
	int sending; /* being taken or sent: its share of the requests */
	int waiting; /* read, waiting for their turn */
} receiver;

/* One message on its way: taken, sent, recorded. */
struct item {
	dispatcher *d;
	char *stream_id; /* the stream entry to acknowledge, or NULL (found by the poll) */
	char message_id[IDS_MAX_LEN];
	char run_id[IDS_MAX_LEN];
	char target[(PRINCIPAL_URL_MAX + 1)];
	char to[IDS_MAX_LEN]; /* the receiver: agent or observer id, "" when unknown */
	int in_share;	      /* counted in its receiver's `sending` */
	int attempt;
	/* the attempt's outcome, kept while its record waits for its turn */
	long status;
	char *error;
	long latency_ms;
	char *head;
	long retry_after_s;
};

static void maybe_stopped(dispatcher *d)
{
	if (d->stopped && d->inflight == 0 && !d->polling && !consumer_busy(d->stream)) {
		void (*done)(void *) = d->stopped;
		d->stopped = NULL;
		done(d->stopped_arg);
	}
}

static void pump_claims(dispatcher *d);

/* The state of receiver `to`, made when `make` (NULL when out of memory or unknown). */
static receiver *receiver_of(dispatcher *d, const char *to, int make)
{
	receiver *r = strmap_get(d->receivers, to);
	if (!r && make) {
		r = calloc(1, sizeof *r);
		if (r && strmap_put(d->receivers, to, r) != 0) {
			free(r);
			r = NULL;
		}
	}
	return r;
}

/* Forgets receiver `to` once it has nothing here. */
static void receiver_tidy(dispatcher *d, const char *to, receiver *r)
{
	if (r && r->sending == 0 && r->waiting == 0) {
		strmap_remove(d->receivers, to);
		free(r);
	}
}

/* Counts `it` out of its receiver's share of the requests: the receiver may have room again. */
static void share_release(item *it)
{
	if (!it->in_share)
		return;
	dispatcher *d = it->d;
	receiver *r = receiver_of(d, it->to, 0);
	it->in_share = 0;
	if (r) {
		r->sending--;
		receiver_tidy(d, it->to, r);
	}
	pump_claims(d);
}

/* Frees item `it` (not counted anywhere any more), acknowledging its entry when `ack`. */
static void item_free(item *it, int ack)
{
	dispatcher *d = it->d;
	if (strmap_get(d->known, it->message_id) == it)
		strmap_remove(d->known, it->message_id);
	if (ack && it->stream_id)
		consumer_ack(d->stream, it->stream_id);
	free(it->stream_id);
	free(it->error);
	free(it->head);
	free(it);
}

static void item_done(item *it)
{
	dispatcher *d = it->d;
	share_release(it);
	item_free(it, 1);
	d->inflight--;
	metrics_set(d->m_inflight, d->inflight);
	maybe_stopped(d);
	consumer_poke(d->stream);
}

/* ===== Recording an attempt ===== */

static void pump_records(dispatcher *d);

static void on_recorded(void *arg, const char *job_id, const char *error)
{
	item *it = arg;
	dispatcher *d = it->d;
	(void)job_id;
	(void)error;
	d->records_at_db--;
	d->recording--;
	item_done(it);
	pump_records(d);
}

/* Sends the record of `it`'s attempt to the database. */
static void send_record(item *it)
{
	dispatcher *d = it->d;
	int ok = it->status >= 200 && it->status <= 299;
	int gone = it->status == 410;
	delivery_result r = {
		.message_id = it->message_id,
		.attempt = it->attempt,
		.target = it->target,
		.status_code = it->status,
		.error = it->error,
		.latency_ms = it->latency_ms,
		.head = it->head,
		.next_delay_ms = ok || gone ? -1
				 : deliveries_next_delay_ms(d->cfg->webhook_retry,
							    d->cfg->webhook_retry_n, it->attempt,
							    it->retry_after_s,
							    (double)random() / ((double)RAND_MAX + 1)),
		.gone = gone,
	};
	d->records_at_db++;
	deliveries_record(d->db, &d->outbox, &r, d->cfg->run_expiry_seconds, on_recorded, it);
}

/* Sends waiting records while the window has room, the hosts taking turns. */
static void pump_records(dispatcher *d)
{
	item *it;
	while (d->records_at_db < RECORD_WINDOW && (it = fairq_pop(d->records)))
		send_record(it);
}

/*
 * The host (and port) of `url`, the key by which records take turns: what
 * lies between "://" and the path.
 */
static void target_host(const char *url, char *out, size_t size)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	size_t n = strcspn(p, "/?#");
	if (n >= size)
		n = size - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

/* Records an attempt of `it` (its copies of `error` and `head` are its own). */
static void record(item *it, long status, const char *error, long latency_ms, const char *head,
		   long retry_after_s)
{
	dispatcher *d = it->d;
	it->status = status;
	it->error = error ? strdup(error) : NULL;
	it->latency_ms = latency_ms;
	it->head = head ? strdup(head) : NULL;
	it->retry_after_s = retry_after_s;
	metrics_add(status >= 200 && status <= 299 ? d->m_delivered : d->m_failed, 1);
	d->recording++;
	share_release(it);
	char host[sizeof it->target];
	target_host(it->target, host, sizeof host);
	if (fairq_push(d->records, host, it) != 0) {
		send_record(it); /* out of memory: no turn, at once */
		return;
	}
	pump_records(d);
}

/* ===== Sending ===== */

static void on_response(void *arg, const http_response *resp)
{
	item *it = arg;
	if (service_stopping(it->d->svc) && resp->status == 0) {
		/* aborted by the stop: the lock runs out and the message is sent again */
		item_done(it);
		return;
	}
	char head[DELIVERY_HEAD_MAX + 1];
	size_t n = resp->len < DELIVERY_HEAD_MAX ? resp->len : DELIVERY_HEAD_MAX;
	memcpy(head, resp->body, n);
	head[n] = '\0';
	json_t *clean = json_string_lossy(head, n);
	const char *error = resp->error;
	char why[64];
	if (!error && (resp->status < 200 || resp->status > 299)) {
		snprintf(why, sizeof why, "HTTP %ld", resp->status);
		error = why;
	}
	record(it, resp->status, error, (long)resp->latency_ms,
	       clean ? json_string_value(clean) : NULL, resp->retry_after_s);
	json_decref(clean);
}

/*
 * The body to send: the stored payload, compact, with a run's reply and MCP
 * tokens added to its agent.run.created. Caller frees.
 */
static char *body_of(dispatcher *d, const delivery *m)
{
	json_t *p = json_load_db(m->payload);
	if (p && (!m->run_id || strcmp(m->event, DELIVERY_RUN_CREATED) != 0)) {
		char *text = json_dumps(p, JSON_COMPACT);
		json_decref(p);
		return text;
	}
	char reply[AUTH_RUN_TOKEN_LEN + 1], mcp[AUTH_RUN_TOKEN_LEN + 1];
	if (!p || auth_run_token(d->key, AUTH_REPLY_TOKEN_PREFIX, m->run_id, reply) != 0 ||
	    auth_run_token(d->key, AUTH_MCP_TOKEN_PREFIX, m->run_id, mcp) != 0) {
		json_decref(p);
		return NULL;
	}
	char url[(PRINCIPAL_URL_MAX + 1) + 64];
	snprintf(url, sizeof url, "%s/api/agents/reply", d->cfg->public_url);
	json_object_set_new(p, "reply",
			    json_pack("{s:s,s:s,s:i}", "url", url, "token", reply,
				      "expiresInSeconds", d->cfg->run_expiry_seconds));
	snprintf(url, sizeof url, "%s/mcp", d->cfg->public_url);
	json_object_set_new(p, "mcp", json_pack("{s:s,s:s}", "url", url, "token", mcp));
	char *text = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	return text;
}

static void on_claimed(void *arg, const delivery *m, const char *error)
{
	item *it = arg;
	dispatcher *d = it->d;
	d->claiming--;
	pump_claims(d);
	consumer_poke(d->stream);
	if (error || !m) {
		/* not due, taken by another, or no longer needed: acknowledge and move on;
		 * a database error leaves the message to the poll */
		item_done(it);
		return;
	}
	it->attempt = m->attempt;
	snprintf(it->target, sizeof it->target, "%s", m->url ? m->url : "");
	if (m->disabled) {
		record(it, 0,
		       m->url ? "the endpoint is disabled: it answered 410 Gone"
			      : "the endpoint has no webhook URL",
		       0, NULL, -1);
		return;
	}
	char *body = body_of(d, m);
	char msg_header[64 + IDS_MAX_LEN], ts_header[64];
	char *sig_header = malloc((size_t)m->nsecrets * (WEBHOOK_SIGNATURE_LEN + 1) + 32);
	int64_t ts = clock_now_ms() / 1000;
	size_t len = body ? strlen(body) : 0;
	if (!body || !sig_header || m->nsecrets == 0) {
		free(body);
		free(sig_header);
		record(it, 0, m->nsecrets == 0 ? "the endpoint has no signing secret"
					       : "cannot build the webhook",
		       0, NULL, -1);
		return;
	}
	memcpy(sig_header, "webhook-signature: ", 19);
	if (webhook_sign_all(m->secrets, m->nsecrets, m->id, ts, body, len, sig_header + 19,
			     (size_t)m->nsecrets * (WEBHOOK_SIGNATURE_LEN + 1)) != 0) {
		free(body);
		free(sig_header);
		record(it, 0, "a signing secret is malformed", 0, NULL, -1);
		return;
	}
	snprintf(msg_header, sizeof msg_header, "webhook-id: %s", m->id);
	snprintf(ts_header, sizeof ts_header, "webhook-timestamp: %lld", (long long)ts);
	const char *headers[] = { msg_header, ts_header, sig_header,
				  "Content-Type: application/json", NULL };
	int r = http_client_post(d->hc, m->url, headers, body, len, d->cfg->webhook_timeout_ms,
				 on_response, it);
	free(body);
	free(sig_header);
	if (r != 0)
		record(it, 0, "cannot start the request", 0, NULL, -1);
}

/* Takes the messages gathered in this turn of the loop, in one statement. */
static void claim_now(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	dispatcher *d = arg;
	delivery_want wants[CLAIM_BATCH];
	int n = d->nto_claim;
	for (int i = 0; i < n; i++) {
		item *it = d->to_claim[i];
		wants[i] = (delivery_want){ .message_id = it->message_id,
					    .run_id = it->run_id,
					    .cb = on_claimed,
					    .arg = it };
	}
	d->nto_claim = 0;
	if (n > 0)
		deliveries_claim_many(d->db, wants, n, d->key, d->lock_s);
}

/* 1 when the receiver `to` may have one more message in flight. */
static int receiver_has_room(void *arg, const char *to)
{
	dispatcher *d = arg;
	const receiver *r = strmap_get(d->receivers, to);
	return !r || r->sending < d->cfg->dispatch_max_inflight_per_receiver;
}

/*
 * Takes waiting messages while the claims' window and the requests' limit
 * have room, the receivers taking turns (those at their share skipped),
 * gathered into statements of up to CLAIM_BATCH sent at the end of the
 * loop's turn.
 */
static void pump_claims(dispatcher *d)
{
	if (service_stopping(d->svc))
		return;
	item *it;
	while (d->claiming < CLAIM_WINDOW &&
	       d->inflight - d->recording < d->cfg->dispatch_max_inflight &&
	       (it = fairq_pop_if(d->waiting, receiver_has_room, d))) {
		d->nwaiting--;
		receiver *r = receiver_of(d, it->to, 1);
		if (r) {
			r->waiting--;
			r->sending++;
			it->in_share = 1;
		}
		d->inflight++;
		d->claiming++;
		d->to_claim[d->nto_claim++] = it;
		if (d->nto_claim == 1)
			event_active(d->ev_claim, EV_TIMEOUT, 0);
		if (d->nto_claim == CLAIM_BATCH)
			claim_now(-1, 0, d); /* may come back here (a claim that fails at once) */
	}
	metrics_set(d->m_inflight, d->inflight);
	metrics_set(d->m_waiting, d->nwaiting);
}

/*
 * Queues message `message_id` for receiver `to` (from the stream entry
 * `stream_id`, or the poll) to be taken and sent in its turn.
 */
static void start(dispatcher *d, const char *stream_id, const char *message_id, const char *run_id,
		  const char *to)
{
	if (service_stopping(d->svc))
		return; /* the entry stays pending, for XAUTOCLAIM or the poll */
	if (!ids_valid(message_id, "msg")) {
		if (stream_id)
			consumer_ack(d->stream, stream_id);
		return;
	}
	item *known = strmap_get(d->known, message_id);
	if (known) {
		/* read again (XAUTOCLAIM of an idle entry, the poll, an event published
		 * twice): the item here acknowledges the entry it came by; another
		 * entry of the same message is done with */
		if (stream_id && !known->stream_id)
			known->stream_id = strdup(stream_id);
		else if (stream_id && strcmp(known->stream_id, stream_id) != 0)
			consumer_ack(d->stream, stream_id);
		return;
	}
	const char *key = to ? to : "";
	receiver *r = receiver_of(d, key, 1);
	if (r && r->waiting >= d->cfg->dispatch_max_inflight_per_receiver) {
		/* as many wait here as it may have in flight: the entry stays pending, so
		 * that one receiver's backlog does not fill the read-ahead of all */
		receiver_tidy(d, key, r);
		return;
	}
	item *it = calloc(1, sizeof *it);
	if (!it || !r) {
		free(it);
		receiver_tidy(d, key, r);
		return; /* out of memory: the entry stays pending */
	}
	it->d = d;
	it->stream_id = stream_id ? strdup(stream_id) : NULL;
	snprintf(it->message_id, sizeof it->message_id, "%s", message_id);
	snprintf(it->run_id, sizeof it->run_id, "%s", run_id ? run_id : "");
	snprintf(it->to, sizeof it->to, "%s", key);
	if (strmap_put(d->known, it->message_id, it) != 0 || fairq_push(d->waiting, it->to, it) != 0) {
		/* out of memory: the entry stays pending; XAUTOCLAIM or the poll brings it again */
		item_free(it, 0);
		receiver_tidy(d, key, r);
		return;
	}
	r->waiting++;
	d->nwaiting++;
	pump_claims(d);
}

/* ===== The stream errand:dispatch ===== */

/* An entry: {"message_id", "run_id"}. */
static void on_entry(void *arg, const char *stream_id, const json_t *payload)
{
	dispatcher *d = arg;
	const char *msg = json_string_value(json_object_get(payload, "message_id"));
	const char *run = json_string_value(json_object_get(payload, "run_id"));
	const char *to = json_string_value(json_object_get(payload, "to"));
	if (msg)
		start(d, stream_id, msg, run, to);
	else
		consumer_ack(d->stream, stream_id);
}

static int room(void *arg)
{
	dispatcher *d = arg;
	if (service_stopping(d->svc))
		return 0;
	/* read ahead up to as many messages as may be in flight; records waiting count apart, up to as many */
	int max = d->cfg->dispatch_max_inflight;
	int ahead = max - d->nwaiting;
	int records = max - d->recording;
	return ahead < records ? ahead : records;
}

/* ===== The poll: retries, and whatever the stream lost ===== */

static void on_due(void *arg, int n, const char *const *ids, const char *const *run_ids,
		   const char *const *tos, const char *error)
{
	dispatcher *d = arg;
	d->polling = 0;
	if (error)
		log_warn("looking for due webhooks failed: %s", error);
	for (int i = 0; i < n && !service_stopping(d->svc); i++)
		start(d, NULL, ids[i], run_ids[i], tos[i]);
	maybe_stopped(d);
}

static void poll_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	dispatcher *d = arg;
	int n = room(d);
	if (d->polling || n <= 0 || !db_pool_ready(d->db))
		return;
	d->polling = 1;
	/* first attempts waiting here are older than the poll's two seconds: while
	 * many wait, the poll looks for retries only (what it finds again of those
	 * here is dropped by `known`) */
	deliveries_due(d->db, n < POLL_BATCH ? n : POLL_BATCH, d->nwaiting < POLL_BATCH, on_due, d);
}

/* ===== Start and stop ===== */

static int allow_address(const struct sockaddr *addr)
{
	return !webhook_address_private(addr);
}

static void stop_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	maybe_stopped(arg);
}

static void on_stop(void *arg, void (*done)(void *service), void *svc)
{
	dispatcher *d = arg;
	consumer_stop(d->stream);
	/* messages not taken yet: their entries stay pending, for XAUTOCLAIM or the poll */
	item *it;
	while ((it = fairq_pop(d->waiting))) {
		receiver *r = receiver_of(d, it->to, 0);
		if (r) {
			r->waiting--;
			receiver_tidy(d, it->to, r);
		}
		item_free(it, 0);
	}
	d->nwaiting = 0;
	metrics_set(d->m_waiting, 0);
	d->stopped = done;
	d->stopped_arg = svc;
	/* the poll's timer now checks whether the work in hand is done (a blocking
	 * read in flight ends within a second) */
	event_del(d->ev_poll);
	event_assign(d->ev_poll, service_base(d->svc), -1, EV_PERSIST, stop_tick, d);
	struct timeval tv = { 0, STOP_CHECK_MS * 1000 };
	event_add(d->ev_poll, &tv);
	maybe_stopped(d);
}

/* Many deliveries in flight need as many sockets: raise the soft limit to the hard one. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_warn("cannot raise the open files limit");
	}
}

/*
 * A burst of thousands of deliveries allocates and frees tens of megabytes
 * (a request's curl handle and buffers are ~13 KB): grow the heap in large
 * steps and keep what a burst freed for the next one, rather than take
 * pages from the kernel a few at a time and hand them back after each.
 */
#define HEAP_TOP_PAD (64 << 20)
#define HEAP_TRIM_THRESHOLD (256 << 20)

int main(void)
{
	mallopt(M_TOP_PAD, HEAP_TOP_PAD);
	mallopt(M_TRIM_THRESHOLD, HEAP_TRIM_THRESHOLD);
	const db_stmt *const tables[] = { DELIVERIES_STMTS, OUTBOX_STMTS };
	const size_t counts[] = { DELIVERIES_STMTS_N, OUTBOX_STMTS_N };
	dispatcher d = { 0 };
	d.svc = service_new(PROC_DISPATCHER, tables, counts, 2);
	d.cfg = service_config(d.svc);
	if (seal_key_parse(d.cfg->secrets_key, d.key) != 0) {
		log_error("ERRAND_SECRETS_KEY is required: runs' reply tokens are derived from it");
		service_free(d.svc);
		return SERVICE_EXIT_CONFIG;
	}
	raise_fd_limit();
	srandom((unsigned)clock_mono_ns());
	struct event_base *base = service_base(d.svc);
	d.db = service_db(d.svc);
	d.redis = service_redis(d.svc);
	d.outbox = (outbox){ .db = d.db,
			     .redis = d.redis,
			     .prefix = d.cfg->stream_prefix,
			     .maxlen = d.cfg->stream_maxlen,
			      .base = base };
	d.lock_s = d.cfg->webhook_timeout_ms / 1000 + LOCK_SLACK_SECONDS;
	d.hc = http_client_new(base);
	d.records = fairq_new();
	d.waiting = fairq_new();
	d.receivers = strmap_new();
	d.known = strmap_new();
	d.stream = consumer_new(base, d.cfg, d.redis, "dispatch", GROUP, (long)d.lock_s * 1000,
				on_entry, room, &d);
	if (!d.hc || !d.stream || !d.records || !d.waiting || !d.receivers || !d.known) {
		log_error("cannot create the HTTP client, the stream reader or the record queue");
		return 1;
	}
	http_client_set_max_host_connections(d.hc, d.cfg->dispatch_max_inflight);
	if (!d.cfg->webhook_allow_private)
		http_client_set_address_filter(d.hc, allow_address);
	d.m_delivered = metrics_counter("errand_webhook_delivered_total",
					"Webhook attempts answered with a 2xx.");
	d.m_failed = metrics_counter("errand_webhook_failed_attempts_total",
				     "Webhook attempts that failed (status, timeout, refused).");
	d.m_inflight = metrics_gauge("errand_webhook_inflight",
				     "Webhook messages between being taken and recorded.");
	d.m_waiting = metrics_gauge("errand_webhook_waiting",
				    "Webhook messages read, waiting for their receiver's turn to be taken.");
	d.ev_poll = event_new(base, -1, EV_PERSIST, poll_tick, &d);
	d.ev_claim = event_new(base, -1, 0, claim_now, &d);
	struct timeval poll = { 0, POLL_INTERVAL_MS * 1000 };
	event_add(d.ev_poll, &poll);
	service_on_stop(d.svc, on_stop, &d);
	int code = service_run(d.svc);
	event_free(d.ev_poll);
	event_free(d.ev_claim);
	http_client_free(d.hc);
	consumer_free(d.stream);
	fairq_free(d.records);
	fairq_free(d.waiting);
	strmap_free(d.receivers);
	strmap_free(d.known);
	outbox_free(&d.outbox);
	service_free(d.svc);
	return code;
}
