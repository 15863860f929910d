/* The push path under load: POST /v1/jobs, the agent's webhook receiver, its completed replies. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/http.h>

/*
 * One process, one libevent loop, playing both sides of errand's push path:
 *
 * - the client: POST /v1/jobs {"agent_id", "brief": {"objective": "push N"}}
 *   with a user's key, over keep-alive connections, either closed loop (-n:
 *   JOBS jobs, -c POSTs in flight at a time, each connection posting the
 *   next job when its last one is answered) or open loop (-r/-d: job N is
 *   due at t0 + N / RATE whatever happened before; due jobs queue until a
 *   connection is free, and the latency runs from the due time, so a stall
 *   counts in full, as in bench/loadgen.c);
 * - the agent: an evhttp server that takes each agent.run.created webhook,
 *   verifies nothing, answers 200 at once (or after -w ms), then POSTs
 *   {"replyToken", "status": "completed", "message": "ok"} to the reply URL
 *   over its own pool of keep-alive connections.
 *
 * A job is done when its completed reply is answered 200: the run and the
 * job are completed in that reply's transaction. The webhook says which job
 * it is by input.message (the brief's objective, "push N"), so the client
 * needs no lookup. Times are CLOCK_MONOTONIC in this one process: POST
 * (due or sent) → 202, → webhook, → completed.
 *
 * -o only posts (the jobs wait in the stream for a dispatcher that is not
 * running yet). -I is the in-flight test: a slow receiver (-s PORT, -w MS)
 * holds each webhook MS before answering, until -e of them are completed;
 * meanwhile a fast agent (-a, receiver -l) gets -q jobs a second, and
 * GET /healthz goes to the gateway and to the dispatcher's admin server
 * (-D) as often; the dispatcher's errand_webhook_inflight and
 * errand_db_pending (from its /metrics) and VmRSS (its pid from -m FILE)
 * are sampled every 100 ms.
 *
 * Client sockets are plain non-blocking sockets under one read event each
 * (one send() and one recv() per request, as in bench/loadgen.c); the
 * receiver is evhttp. Prints one JSON line on stdout.
 */

#define USAGE                                                                                          \
	"usage: %s -g HOST:PORT -k USER_KEY -a AGENT_ID [-l PORT] [-c CONNS] [-C CONNS]\n"             \
	"         (-n JOBS | -r RATE -d SECONDS | -o -n JOBS\n"                                        \
	"          | -I -s SLOW_PORT -w DELAY_MS -e EXPECTED -q PROBE_RATE -D HOST:PORT -m PIDFILE)\n" \
	"       [-T STALL_SECONDS]\n"
#define NS_PER_S 1000000000ULL
#define NS_PER_MS 1000000ULL
#define REQ_MAX 2048
#define BUF_START 16384
#define BUF_MAX (4 << 20)
#define TOKEN_MAX 128
#define TICK_US 1000
#define SAMPLE_MS 100
#define RECONNECT_MS 100
#define CONNECT_TIMEOUT_S 5
#define MAX_CONNS 5000
#define FAST_GRACE_S 10
#define REPLY_RETRIES 5
#define REPLY_RETRY_MS 20

/* What a request or a job is. */
enum {
	K_JOB,
	K_SLOW,
	K_FAST,
	K_NKINDS
};
static const char *const KIND_WORD[K_NKINDS] = { "push", "slow", "fast" };
enum {
	R_POST,
	R_REPLY,
	R_HEALTHZ_GW,
	R_HEALTHZ_DISP,
	R_METRICS
};

typedef struct tool tool;
typedef struct pool pool;

/* One keep-alive client connection with at most one request in flight. */
typedef struct hconn {
	pool *p;
	evutil_socket_t fd;
	struct event io, retry;
	int connected, busy, idle_pos;
	int what;	       /* R_* of the request in flight */
	int attempt;	       /* sends of a reply before this one */
	char token[TOKEN_MAX]; /* a reply's token, to send it again */
	int kind;	       /* K_* of its job */
	long seq;	       /* its job's number */
	uint64_t due_ns;
	int status;
	int64_t body_len; /* -1 while reading the head */
	size_t head_len, len, cap;
	char *buf;
} hconn;

/* Work waiting for a connection: a reply to send, or a probe. */
typedef struct work {
	int what, kind, attempt;
	long seq;
	uint64_t due_ns;
	char token[TOKEN_MAX];
} work;

struct pool {
	tool *t;
	const char *name;
	char hostport[300];
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int n, nidle, nconnected;
	hconn *conns;
	hconn **idle;
	work *q; /* ring */
	size_t qcap, qhead, qlen;
	void (*feed)(pool *p);
};

/* The jobs of one kind: per job, its times (0: not yet). */
typedef struct jobset {
	long n;
	uint64_t *start, *posted, *hooked, *done;
	long accepted, completed, post_errors, hooks, dup_hooks;
} jobset;

typedef struct lat {
	uint64_t *v;
	size_t n, cap;
	long errors;
} lat;

/* A slow webhook held before its answer. */
typedef struct held {
	tool *t;
	struct evhttp_request *req;
	struct event ev;
	int kind;
	long seq;
	char token[TOKEN_MAX];
} held;

struct tool {
	struct event_base *base;
	const char *key, *agent;
	char reply_url[400];
	int mode; /* 'n' closed, 'r' open, 'o' post only, 'I' in flight */
	long njobs;
	double rate, duration;
	int conns, reply_conns;
	int delay_ms;
	long expected;
	double probe_rate;
	const char *pidfile;
	int stall_s;
	pool jobs, replies, fast_replies, hz_gw, fast, hz_disp, metrics;
	jobset js[K_NKINDS];
	long next_seq, due, fast_next;
	uint64_t t0;
	int started, ended, failed;
	struct event tick, sampler, watchdog, probe_tick;
	long last_progress_count;
	uint64_t last_progress_ns;
	/* the receiver */
	long bad_hooks, reply_errors, reply_retries, idempotent_replies, url_mismatch;
	long held_now, held_max;
	uint64_t first_slow_hook, last_slow_hook, slow_done_ns;
	/* probes and samples */
	lat l_gw, l_disp, l_fast_post, l_fast_done;
	int probing;
	long inflight_max, dbpending_max;
	double rss_start_mb, rss_max_mb, rss_end_mb, rss_at_inflight_max_mb;
	double cpu_start_s, cpu_end_s; /* the dispatcher's user + system CPU, first and last sample */
	pid_t disp_pid;
	int metrics_busy;
	long samples;
};

/* ===== Helpers ===== */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static struct timeval ns_tv(uint64_t ns)
{
	struct timeval tv = { (time_t)(ns / NS_PER_S), (suseconds_t)(ns % NS_PER_S / 1000) };
	return tv;
}

static void fatal(tool *t, const char *what)
{
	fprintf(stderr, "push: %s\n", what);
	t->failed = 1;
	event_base_loopbreak(t->base);
}

static void lat_add(lat *l, uint64_t ns)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 1024;
		uint64_t *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile q of sorted v (n > 0), in ms. */
static double pct_ms(const uint64_t *v, size_t n, double q)
{
	size_t rank = (size_t)ceil(q * (double)n);
	if (rank < 1)
		rank = 1;
	return (double)v[rank - 1] / 1e6;
}

/* Prints "name":{"n":…,"p50_ms":…,…} of l (sorted here). */
static void print_lat(const char *name, lat *l, int comma)
{
	printf("%s\"%s\":{\"n\":%zu,\"errors\":%ld", comma ? "," : "", name, l->n, l->errors);
	if (l->n) {
		qsort(l->v, l->n, sizeof *l->v, cmp_u64);
		printf(",\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f",
		       pct_ms(l->v, l->n, 0.5), pct_ms(l->v, l->n, 0.9), pct_ms(l->v, l->n, 0.99),
		       (double)l->v[l->n - 1] / 1e6);
	}
	printf("}");
}

/* Resolves HOST:PORT into p->addr. */
static int resolve(pool *p, const char *hostport)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints = { 0 }, *ai = NULL;
	if (!colon || colon == hostport || (size_t)(colon - hostport) >= sizeof host) {
		fprintf(stderr, "push: expected HOST:PORT: %s\n", hostport);
		return -1;
	}
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int rc = getaddrinfo(host, colon + 1, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "push: %s: %s\n", hostport, gai_strerror(rc));
		return -1;
	}
	memcpy(&p->addr, ai->ai_addr, ai->ai_addrlen);
	p->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);
	snprintf(p->hostport, sizeof p->hostport, "%s", hostport);
	return 0;
}

/* ===== Work queues ===== */

static work *q_push(pool *p)
{
	if (p->qlen == p->qcap) {
		size_t cap = p->qcap ? p->qcap * 2 : 1024;
		work *q = malloc(cap * sizeof *q);
		if (!q)
			return NULL;
		for (size_t i = 0; i < p->qlen; i++)
			q[i] = p->q[(p->qhead + i) % p->qcap];
		free(p->q);
		p->q = q;
		p->qcap = cap;
		p->qhead = 0;
	}
	work *w = &p->q[(p->qhead + p->qlen++) % p->qcap];
	memset(w, 0, offsetof(work, token) + 1);
	return w;
}

static work *q_pop(pool *p)
{
	if (p->qlen == 0)
		return NULL;
	work *w = &p->q[p->qhead];
	p->qhead = (p->qhead + 1) % p->qcap;
	p->qlen--;
	return w;
}

/* ===== Client connections ===== */

static void conn_open(hconn *c);
static void conn_answered(hconn *c);
static void check_end(tool *t);

static void idle_push(hconn *c)
{
	pool *p = c->p;
	if (c->idle_pos >= 0)
		return;
	c->idle_pos = p->nidle;
	p->idle[p->nidle++] = c;
}

static void idle_remove(hconn *c)
{
	pool *p = c->p;
	if (c->idle_pos < 0)
		return;
	hconn *last = p->idle[--p->nidle];
	p->idle[c->idle_pos] = last;
	last->idle_pos = c->idle_pos;
	c->idle_pos = -1;
}

static void conn_close(hconn *c)
{
	idle_remove(c);
	if (c->fd < 0)
		return;
	event_del(&c->io);
	evutil_closesocket(c->fd);
	c->fd = -1;
	if (c->connected)
		c->p->nconnected--;
	c->connected = 0;
}

static void request_failed(hconn *c);

/* A broken connection: its request in flight fails; it is reopened soon. */
static void conn_fail(hconn *c, const char *why)
{
	tool *t = c->p->t;
	int was_busy = c->busy;
	conn_close(c);
	c->busy = 0;
	if (was_busy) {
		fprintf(stderr, "push: %s connection: %s\n", c->p->name, why);
		request_failed(c);
	}
	struct timeval delay = { 0, RECONNECT_MS * 1000 };
	evtimer_add(&c->retry, &delay);
	check_end(t);
}

/* Sends one request on an idle connection. */
static void conn_send(hconn *c, int what, int kind, long seq, uint64_t due_ns, const char *req,
		      size_t len)
{
	idle_remove(c);
	c->busy = 1;
	c->what = what;
	c->kind = kind;
	c->seq = seq;
	c->due_ns = due_ns;
	c->body_len = -1;
	ssize_t n = send(c->fd, req, len, MSG_NOSIGNAL);
	if (n != (ssize_t)len)
		conn_fail(c, n < 0 ? strerror(errno) : "short send");
}

static int parse_head(const char *head, size_t len, int *status, int64_t *clen)
{
	static const char cl[] = "content-length:";
	const char *end = head + len, *eol = memchr(head, '\n', len);
	if (!eol || len < 12 || memcmp(head, "HTTP/1.", 7) != 0)
		return -1;
	*status = atoi(head + 9);
	*clen = -1;
	for (const char *line = eol + 1; line < end; line = eol + 1) {
		eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol)
			break;
		if ((size_t)(eol - line) > sizeof cl - 1 &&
		    strncasecmp(line, cl, sizeof cl - 1) == 0)
			*clen = strtoll(line + sizeof cl - 1, NULL, 10);
	}
	return *clen < 0 ? -1 : 0;
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	hconn *c = arg;
	if (c->len == c->cap) {
		if (c->cap >= BUF_MAX) {
			conn_fail(c, "response too large");
			return;
		}
		char *b = realloc(c->buf, c->cap * 2);
		if (!b) {
			conn_fail(c, "out of memory");
			return;
		}
		c->buf = b;
		c->cap *= 2;
	}
	ssize_t n = recv(fd, c->buf + c->len, c->cap - c->len, 0);
	if (n == 0) {
		conn_fail(c, "closed by the server");
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			conn_fail(c, strerror(errno));
		return;
	}
	c->len += (size_t)n;
	while (c->len > 0) {
		if (!c->busy) {
			conn_fail(c, "bytes that answer no request");
			return;
		}
		if (c->body_len < 0) {
			const char *blank = memmem(c->buf, c->len, "\r\n\r\n", 4);
			if (!blank)
				return;
			c->head_len = (size_t)(blank - c->buf) + 4;
			if (parse_head(c->buf, c->head_len, &c->status, &c->body_len) != 0) {
				conn_fail(c, "not an HTTP/1.x response with a Content-Length");
				return;
			}
		}
		size_t whole = c->head_len + (size_t)c->body_len;
		if (c->len < whole)
			return;
		c->buf[c->head_len - 1] = '\0'; /* the body is read in place */
		conn_answered(c);
		memmove(c->buf, c->buf + whole, c->len - whole);
		c->len -= whole;
		if (c->fd < 0)
			return;
		c->p->feed(c->p);
	}
}

static void on_connect(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	hconn *c = arg;
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err) {
		conn_fail(c, strerror(err));
		return;
	}
	event_del(&c->io);
	event_assign(&c->io, c->p->t->base, c->fd, EV_READ | EV_PERSIST, on_readable, c);
	event_add(&c->io, NULL);
	c->connected = 1;
	c->len = 0;
	c->p->nconnected++;
	idle_push(c);
	c->p->feed(c->p);
}

static void conn_open(hconn *c)
{
	pool *p = c->p;
	int one = 1;
	c->busy = 0;
	c->len = 0;
	c->fd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		conn_fail(c, strerror(errno));
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	event_assign(&c->io, p->t->base, c->fd, EV_WRITE, on_connect, c);
	if (connect(c->fd, (struct sockaddr *)&p->addr, p->addrlen) != 0 && errno != EINPROGRESS) {
		conn_fail(c, strerror(errno));
		return;
	}
	event_add(&c->io, NULL);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_open(arg);
}

static int pool_init(tool *t, pool *p, const char *name, const char *hostport, int n,
		     void (*feed)(pool *))
{
	p->t = t;
	p->name = name;
	p->n = n;
	p->feed = feed;
	p->conns = calloc((size_t)n, sizeof *p->conns);
	p->idle = calloc((size_t)n, sizeof *p->idle);
	if (!p->conns || !p->idle || resolve(p, hostport) != 0)
		return -1;
	for (int i = 0; i < n; i++) {
		hconn *c = &p->conns[i];
		c->p = p;
		c->fd = -1;
		c->idle_pos = -1;
		c->cap = BUF_START;
		c->buf = malloc(c->cap);
		if (!c->buf)
			return -1;
		evtimer_assign(&c->retry, t->base, on_retry, c);
	}
	return 0;
}

static void pool_open(pool *p)
{
	for (int i = 0; i < p->n; i++)
		conn_open(&p->conns[i]);
}

static void pool_free(pool *p)
{
	for (int i = 0; i < p->n && p->conns; i++) {
		conn_close(&p->conns[i]);
		event_del(&p->conns[i].retry);
		free(p->conns[i].buf);
	}
	free(p->conns);
	free(p->idle);
	free(p->q);
}

/* ===== Requests ===== */

static size_t build(char *out, const pool *p, const char *method, const char *path,
		    const char *auth, const char *body)
{
	int n;
	if (body)
		n = snprintf(
			out, REQ_MAX,
			"%s %s HTTP/1.1\r\nHost: %s\r\n%s%s%sContent-Type: application/json\r\n"
			"Content-Length: %zu\r\n\r\n%s",
			method, path, p->hostport, auth ? "Authorization: Bearer " : "",
			auth ? auth : "", auth ? "\r\n" : "", strlen(body), body);
	else
		n = snprintf(out, REQ_MAX, "%s %s HTTP/1.1\r\nHost: %s\r\n\r\n", method, path,
			     p->hostport);
	return n > 0 && n < REQ_MAX ? (size_t)n : 0;
}

/* POSTs job `seq` of `kind` on idle connection c. */
static void post_job(hconn *c, int kind, long seq, uint64_t due_ns)
{
	tool *t = c->p->t;
	char body[512], req[REQ_MAX];
	snprintf(body, sizeof body, "{\"agent_id\":\"%s\",\"brief\":{\"objective\":\"%s %ld\"}}",
		 t->agent, KIND_WORD[kind], seq);
	size_t len = build(req, c->p, "POST", "/v1/jobs", t->key, body);
	t->js[kind].start[seq] = due_ns;
	conn_send(c, R_POST, kind, seq, due_ns, req, len);
}

/* The jobs pool: the next jobs, as the mode says. */
static void feed_jobs(pool *p)
{
	tool *t = p->t;
	if (!t->started || t->ended)
		return;
	while (p->nidle > 0) {
		if (t->mode == 'r') {
			if (t->next_seq >= t->due)
				return;
			long s = t->next_seq++;
			post_job(p->idle[p->nidle - 1], K_JOB, s,
				 t->t0 + (uint64_t)((double)s * 1e9 / t->rate));
		} else if (t->mode == 'n' || t->mode == 'o') {
			if (t->next_seq >= t->njobs)
				return;
			post_job(p->idle[p->nidle - 1], t->mode == 'o' ? K_SLOW : K_JOB,
				 t->next_seq++, now_ns());
		} else {
			return;
		}
	}
}

static void send_work(hconn *c, work *w)
{
	tool *t = c->p->t;
	char req[REQ_MAX], body[512];
	size_t len = 0;
	switch (w->what) {
	case R_REPLY:
		c->attempt = w->attempt;
		snprintf(c->token, sizeof c->token, "%s", w->token);
		snprintf(body, sizeof body,
			 "{\"replyToken\":\"%s\",\"status\":\"completed\",\"message\":\"ok\"}",
			 w->token);
		len = build(req, c->p, "POST", "/api/agents/reply", NULL, body);
		break;
	case R_POST:
		post_job(c, w->kind, w->seq, w->due_ns);
		return;
	case R_HEALTHZ_GW:
	case R_HEALTHZ_DISP:
		len = build(req, c->p, "GET", "/healthz", NULL, NULL);
		break;
	case R_METRICS:
		len = build(req, c->p, "GET", "/metrics", NULL, NULL);
		break;
	}
	(void)t;
	conn_send(c, w->what, w->kind, w->seq, w->due_ns, req, len);
}

/* The reply, probe and admin pools: their queue, oldest first. */
static void feed_queue(pool *p)
{
	while (p->nidle > 0 && p->qlen > 0)
		send_work(p->idle[p->nidle - 1], q_pop(p));
}

/* ===== Answers ===== */

static void progress(tool *t)
{
	t->last_progress_ns = now_ns();
}

static long parse_gauge(const char *text, const char *name)
{
	size_t n = strlen(name);
	for (const char *s = text; (s = strstr(s, name)); s += n)
		if ((s == text || s[-1] == '\n') && s[n] == ' ')
			return atol(s + n + 1);
	return -1;
}

/* User + system CPU seconds of process `pid`, or -1. */
static double proc_cpu_s(pid_t pid)
{
	char path[64], line[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char *got = fgets(line, sizeof line, f);
	fclose(f);
	/* after the command's closing parenthesis: state is field 3, utime 14, stime 15 */
	const char *p = got ? strrchr(line, ')') : NULL;
	unsigned long long ut, st;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			 &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double rss_mb(pid_t pid)
{
	char path[64], line[256];
	double mb = -1;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			mb = atof(line + 6) / 1024.0;
	fclose(f);
	return mb;
}

/*
 * The connections a reply goes by: the fast agent of the in-flight test is
 * another agent, with connections of its own (not queued behind the slow
 * agent's thousands of replies).
 */
static pool *reply_pool(tool *t, int kind)
{
	return kind == K_FAST ? &t->fast_replies : &t->replies;
}

/* A reply errand could not take: sent again after REPLY_RETRY_MS. */
typedef struct later {
	tool *t;
	struct event ev;
	work w;
} later;

static void queue_work(pool *p, const work *src)
{
	work *w = q_push(p);
	if (!w) {
		fatal(p->t, "out of memory");
		return;
	}
	*w = *src;
	feed_queue(p);
}

static void on_later(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	later *l = arg;
	queue_work(reply_pool(l->t, l->w.kind), &l->w);
	free(l);
}

static void retry_reply(tool *t, const hconn *c)
{
	later *l = calloc(1, sizeof *l);
	if (!l) {
		t->reply_errors++;
		return;
	}
	l->t = t;
	l->w.what = R_REPLY;
	l->w.kind = c->kind;
	l->w.seq = c->seq;
	l->w.due_ns = c->due_ns;
	l->w.attempt = c->attempt + 1;
	snprintf(l->w.token, sizeof l->w.token, "%s", c->token);
	evtimer_assign(&l->ev, t->base, on_later, l);
	struct timeval tv = { 0, REPLY_RETRY_MS * 1000 };
	evtimer_add(&l->ev, &tv);
}

static void conn_answered(hconn *c)
{
	tool *t = c->p->t;
	uint64_t now = now_ns();
	const char *body = c->buf + c->head_len;
	int ok = c->status >= 200 && c->status <= 299;
	c->busy = 0;
	idle_push(c);
	switch (c->what) {
	case R_POST: {
		jobset *js = &t->js[c->kind];
		if (c->status == 202) {
			js->posted[c->seq] = now;
			js->accepted++;
			if (c->kind == K_FAST)
				lat_add(&t->l_fast_post, now - c->due_ns);
		} else {
			js->post_errors++;
			if (js->post_errors <= 3)
				fprintf(stderr, "push: POST /v1/jobs answered %d: %.200s\n",
					c->status, body);
			if (c->kind == K_FAST)
				t->l_fast_post.errors++;
		}
		progress(t);
		break;
	}
	case R_REPLY: {
		jobset *js = &t->js[c->kind];
		if (c->status == 200) {
			if (strstr(body, "\"idempotent\":true"))
				t->idempotent_replies++;
			if (!js->done[c->seq]) {
				js->done[c->seq] = now;
				js->completed++;
				if (c->kind == K_FAST && js->start[c->seq])
					lat_add(&t->l_fast_done, now - js->start[c->seq]);
			}
		} else if (c->status == 503 && c->attempt < REPLY_RETRIES) {
			/* errand could not answer (the database): an agent sends it again */
			t->reply_retries++;
			if (t->reply_retries <= 3)
				fprintf(stderr,
					"push: the completed reply answered 503, sent again: "
					"%.200s\n",
					body);
			retry_reply(t, c);
		} else {
			t->reply_errors++;
			if (t->reply_errors <= 3)
				fprintf(stderr, "push: the completed reply answered %d: %.200s\n",
					c->status, body);
		}
		progress(t);
		break;
	}
	case R_HEALTHZ_GW:
		if (ok)
			lat_add(&t->l_gw, now - c->due_ns);
		else
			t->l_gw.errors++;
		break;
	case R_HEALTHZ_DISP:
		if (ok)
			lat_add(&t->l_disp, now - c->due_ns);
		else
			t->l_disp.errors++;
		break;
	case R_METRICS: {
		t->metrics_busy = 0;
		long inflight = parse_gauge(body, "errand_webhook_inflight");
		long pending = parse_gauge(body, "errand_db_pending");
		if (pending > t->dbpending_max)
			t->dbpending_max = pending;
		if (inflight > t->inflight_max) {
			t->inflight_max = inflight;
			t->rss_at_inflight_max_mb = t->disp_pid ? rss_mb(t->disp_pid) : -1;
		}
		break;
	}
	}
	check_end(t);
}

static void request_failed(hconn *c)
{
	tool *t = c->p->t;
	switch (c->what) {
	case R_POST:
		t->js[c->kind].post_errors++;
		if (c->kind == K_FAST)
			t->l_fast_post.errors++;
		break;
	case R_REPLY:
		t->reply_errors++;
		break;
	case R_HEALTHZ_GW:
		t->l_gw.errors++;
		break;
	case R_HEALTHZ_DISP:
		t->l_disp.errors++;
		break;
	case R_METRICS:
		t->metrics_busy = 0;
		break;
	}
}

/* ===== The receiver ===== */

/* The string value after `key` ("…":") in [s, end), copied into out. */
static int find_string(const char *s, const char *end, const char *key, char *out, size_t max)
{
	size_t klen = strlen(key);
	const char *p = s;
	while ((p = memmem(p, (size_t)(end - p), key, klen))) {
		p += klen;
		const char *q = memchr(p, '"', (size_t)(end - p));
		if (!q || (size_t)(q - p) >= max)
			return -1;
		memcpy(out, p, (size_t)(q - p));
		out[q - p] = '\0';
		return 0;
	}
	return -1;
}

/* Queues the completed reply of a webhook. */
static void queue_reply(tool *t, int kind, long seq, const char *token)
{
	pool *p = reply_pool(t, kind);
	work *w = q_push(p);
	if (!w) {
		fatal(t, "out of memory");
		return;
	}
	w->what = R_REPLY;
	w->kind = kind;
	w->seq = seq;
	w->due_ns = now_ns();
	snprintf(w->token, sizeof w->token, "%s", token);
	feed_queue(p);
}

static void on_held(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	held *h = arg;
	tool *t = h->t;
	evhttp_send_reply(h->req, 200, "OK", NULL);
	t->held_now--;
	queue_reply(t, h->kind, h->seq, h->token);
	free(h);
}

static tool *g_tool; /* the receiver's callbacks get the delay as their argument */

static void hook(struct evhttp_request *req, void *arg)
{
	tool *t = g_tool;
	int delay_ms = (int)(intptr_t)arg;
	uint64_t now = now_ns();
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
	const char *end = body + len;
	char msg[64], token[TOKEN_MAX], url[400];
	const char *reply = len ? memmem(body, len, "\"reply\":{", 9) : NULL;
	int kind = -1;
	long seq = -1;
	if (find_string(body, end, "\"message\":\"", msg, sizeof msg) == 0)
		for (int k = 0; k < K_NKINDS; k++) {
			size_t w = strlen(KIND_WORD[k]);
			if (strncmp(msg, KIND_WORD[k], w) == 0 && msg[w] == ' ') {
				kind = k;
				seq = atol(msg + w + 1);
			}
		}
	if (kind < 0 || seq < 0 || seq >= t->js[kind].n || !reply ||
	    find_string(reply, end, "\"token\":\"", token, sizeof token) != 0 ||
	    find_string(reply, end, "\"url\":\"", url, sizeof url) != 0) {
		if (t->bad_hooks++ < 3)
			fprintf(stderr, "push: a webhook without a known job or reply: %.300s\n",
				body);
		evhttp_send_reply(req, 200, "OK", NULL);
		return;
	}
	if (strcmp(url, t->reply_url) != 0 && t->url_mismatch++ == 0)
		fprintf(stderr, "push: reply.url %s, expected %s\n", url, t->reply_url);
	jobset *js = &t->js[kind];
	js->hooks++;
	if (js->hooked[seq])
		js->dup_hooks++;
	else
		js->hooked[seq] = now;
	if (kind == K_SLOW) {
		if (!t->first_slow_hook)
			t->first_slow_hook = now;
		t->last_slow_hook = now;
		t->probing = 1;
	}
	progress(t);
	if (delay_ms <= 0) {
		evhttp_send_reply(req, 200, "OK", NULL);
		queue_reply(t, kind, seq, token);
		return;
	}
	held *h = calloc(1, sizeof *h);
	if (!h) {
		evhttp_send_reply(req, 503, "Busy", NULL);
		return;
	}
	h->t = t;
	h->req = req;
	h->kind = kind;
	h->seq = seq;
	snprintf(h->token, sizeof h->token, "%s", token);
	evtimer_assign(&h->ev, t->base, on_held, h);
	struct timeval tv = { delay_ms / 1000, (delay_ms % 1000) * 1000 };
	evtimer_add(&h->ev, &tv);
	if (++t->held_now > t->held_max)
		t->held_max = t->held_now;
}

static struct evhttp *listen_on(tool *t, int port, int delay_ms)
{
	struct evhttp *http = evhttp_new(t->base);
	if (!http)
		return NULL;
	evhttp_set_gencb(http, hook, (void *)(intptr_t)delay_ms);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_POST);
	evhttp_set_timeout(http, 120);
	if (evhttp_bind_socket(http, "127.0.0.1", (ev_uint16_t)port) != 0) {
		fprintf(stderr, "push: cannot listen on 127.0.0.1:%d\n", port);
		evhttp_free(http);
		return NULL;
	}
	return http;
}

/* ===== Schedule, probes, samples, the end ===== */

static long total_done(const tool *t)
{
	return t->js[K_JOB].completed + t->js[K_JOB].post_errors + t->js[K_SLOW].completed +
	       (t->mode == 'o' ? 0 : t->js[K_SLOW].post_errors);
}

static void check_end(tool *t)
{
	if (!t->started || t->ended)
		return;
	int done = 0;
	switch (t->mode) {
	case 'n':
	case 'r':
		done = t->js[K_JOB].completed + t->js[K_JOB].post_errors >= t->js[K_JOB].n;
		break;
	case 'o':
		done = t->js[K_SLOW].accepted + t->js[K_SLOW].post_errors >= t->js[K_SLOW].n;
		break;
	case 'I':
		/* the slow jobs, then the fast ones already posted (10 s at most) */
		if (t->js[K_SLOW].completed < t->expected)
			break;
		if (!t->slow_done_ns) {
			t->slow_done_ns = now_ns();
			t->probing = 0;
		}
		done = t->js[K_FAST].completed + t->js[K_FAST].post_errors >= t->fast_next ||
		       now_ns() - t->slow_done_ns > FAST_GRACE_S * NS_PER_S;
		break;
	}
	if (done) {
		t->ended = 1;
		event_base_loopexit(t->base, NULL);
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tool *t = arg;
	uint64_t now = now_ns();
	long due = (long)((double)(now - t->t0) * t->rate / 1e9) + 1;
	t->due = due < t->js[K_JOB].n ? due : t->js[K_JOB].n;
	feed_jobs(&t->jobs);
	if (t->due < t->js[K_JOB].n) {
		struct timeval tv = { 0, TICK_US };
		evtimer_add(&t->tick, &tv);
	}
}

/* One probe of each: GET /healthz of the gateway and of the dispatcher, a fast job. */
static void probe_once(tool *t)
{
	uint64_t now = now_ns();
	work *w = q_push(&t->hz_gw);
	if (w) {
		w->what = R_HEALTHZ_GW;
		w->due_ns = now;
	}
	if (t->fast_next < t->js[K_FAST].n && (w = q_push(&t->fast))) {
		w->what = R_POST;
		w->kind = K_FAST;
		w->seq = t->fast_next++;
		w->due_ns = now;
	}
	if ((w = q_push(&t->hz_disp))) {
		w->what = R_HEALTHZ_DISP;
		w->due_ns = now;
	}
	feed_queue(&t->hz_gw);
	feed_queue(&t->fast);
	feed_queue(&t->hz_disp);
}

static void on_probe_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tool *t = arg;
	if (t->probing && !t->ended)
		probe_once(t);
}

static void on_sample(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tool *t = arg;
	if (!t->disp_pid && t->pidfile) {
		FILE *f = fopen(t->pidfile, "r");
		int pid = 0;
		if (f && fscanf(f, "%d", &pid) == 1 && pid > 0)
			t->disp_pid = (pid_t)pid;
		if (f)
			fclose(f);
	}
	if (t->disp_pid) {
		double mb = rss_mb(t->disp_pid);
		if (mb > 0) {
			if (t->rss_start_mb <= 0)
				t->rss_start_mb = mb;
			if (mb > t->rss_max_mb)
				t->rss_max_mb = mb;
			t->rss_end_mb = mb;
		}
		double cpu = proc_cpu_s(t->disp_pid);
		if (cpu >= 0) {
			if (t->samples == 0)
				t->cpu_start_s = cpu;
			t->cpu_end_s = cpu;
		}
		t->samples++;
	}
	if (t->disp_pid && !t->metrics_busy) {
		work *w = q_push(&t->metrics);
		if (w) {
			w->what = R_METRICS;
			w->due_ns = now_ns();
			t->metrics_busy = 1;
			feed_queue(&t->metrics);
		}
	}
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tool *t = arg;
	uint64_t now = now_ns();
	if (!t->started) {
		int up = t->jobs.nconnected == t->jobs.n;
		if (t->mode == 'I')
			up = t->fast.nconnected == t->fast.n && t->hz_gw.nconnected == t->hz_gw.n;
		if (up) {
			t->started = 1;
			t->t0 = now;
			progress(t);
			if (t->mode == 'r')
				event_active(&t->tick, EV_TIMEOUT, 0);
			feed_jobs(&t->jobs);
		} else if (now - t->t0 > CONNECT_TIMEOUT_S * NS_PER_S) {
			fatal(t, "could not open every connection in time");
		}
		return;
	}
	check_end(t);
	if (t->ended)
		return;
	long count = total_done(t) + t->js[K_JOB].hooks + t->js[K_SLOW].hooks;
	if (count != t->last_progress_count) {
		t->last_progress_count = count;
		return;
	}
	if (t->mode == 'I' && !t->first_slow_hook)
		return; /* waiting for the dispatcher to start */
	if (now - t->last_progress_ns > (uint64_t)t->stall_s * NS_PER_S) {
		fprintf(stderr, "push: no progress for %d s: giving up\n", t->stall_s);
		t->ended = 1;
		event_base_loopexit(t->base, NULL);
	}
}

/* ===== Report ===== */

/* Fills l with end[i] - start[i] over the jobs that have both. */
static void span(lat *l, const jobset *js, const uint64_t *from, const uint64_t *to)
{
	(void)js;
	for (long i = 0; i < js->n; i++)
		if (from[i] && to[i])
			lat_add(l, to[i] > from[i] ? to[i] - from[i] : 0);
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void report(tool *t, double cpu)
{
	uint64_t first = 0, last = 0, last_post = 0;
	int kind = t->mode == 'I' || t->mode == 'o' ? K_SLOW : K_JOB;
	jobset *js = &t->js[kind];
	for (long i = 0; i < js->n; i++) {
		if (js->start[i] && (!first || js->start[i] < first))
			first = js->start[i];
		if (js->done[i] > last)
			last = js->done[i];
		if (js->posted[i] > last_post)
			last_post = js->posted[i];
	}
	double wall = (double)(now_ns() - t->t0) / 1e9;
	printf("{\"mode\":\"%s\"", t->mode == 'n'   ? "closed"
				   : t->mode == 'r' ? "open"
				   : t->mode == 'o' ? "post"
						    : "inflight");
	if (t->mode == 'n' || t->mode == 'r' || t->mode == 'o') {
		double secs = last > first ? (double)(last - first) / 1e9 : 0;
		double psecs = last_post > first ? (double)(last_post - first) / 1e9 : 0;
		printf(",\"jobs\":%ld,\"connections\":%d,\"completed\":%ld,\"post_errors\":%ld",
		       js->n, t->conns, js->completed, js->post_errors);
		if (t->mode == 'r')
			printf(",\"rate_target\":%.1f,\"duration_s\":%.1f", t->rate, t->duration);
		printf(",\"seconds\":%.3f,\"jobs_per_s\":%.1f,\"posts_per_s\":%.1f", secs,
		       secs > 0 ? (double)js->completed / secs : 0.0,
		       psecs > 0 ? (double)(js->n - js->post_errors) / psecs : 0.0);
		lat a = { 0 }, b = { 0 }, c = { 0 }, d = { 0 };
		span(&a, js, js->start, js->done);
		span(&b, js, js->start, js->posted);
		span(&c, js, js->start, js->hooked);
		span(&d, js, js->hooked, js->done);
		print_lat("post_to_completed", &a, 1);
		print_lat("post_to_202", &b, 1);
		print_lat("post_to_webhook", &c, 1);
		print_lat("webhook_to_completed", &d, 1);
		free(a.v);
		free(b.v);
		free(c.v);
		free(d.v);
	} else {
		printf(",\"slow_expected\":%ld,\"slow_completed\":%ld,\"slow_delay_ms\":%d"
		       ",\"receiver_held_max\":%ld,\"slow_hooks_arrived_over_s\":%.3f"
		       ",\"first_hook_to_last_completed_s\":%.3f"
		       ",\"dispatcher_inflight_max\":%ld,\"dispatcher_db_pending_max\":%ld"
		       ",\"dispatcher_rss_mb\":{\"start\":%.1f,\"max\":%.1f,\"at_inflight_max\":%.1f,"
		       "\"end\":%.1f,\"samples\":%ld},\"dispatcher_cpu_s\":%.2f"
		       ",\"fast_jobs_completed\":%ld",
		       t->expected, js->completed, t->delay_ms, t->held_max,
		       t->last_slow_hook > t->first_slow_hook
			       ? (double)(t->last_slow_hook - t->first_slow_hook) / 1e9
			       : 0.0,
		       last > t->first_slow_hook && t->first_slow_hook
			       ? (double)(last - t->first_slow_hook) / 1e9
			       : 0.0,
		       t->inflight_max, t->dbpending_max, t->rss_start_mb, t->rss_max_mb,
		       t->rss_at_inflight_max_mb, t->rss_end_mb, t->samples,
		       t->cpu_end_s - t->cpu_start_s,
		       t->js[K_FAST].completed);
		printf(",\"probes_per_s\":%.1f", t->probe_rate);
		print_lat("gateway_healthz", &t->l_gw, 1);
		print_lat("dispatcher_healthz", &t->l_disp, 1);
		print_lat("fast_post_to_202", &t->l_fast_post, 1);
		print_lat("fast_post_to_completed", &t->l_fast_done, 1);
		/* where a fast job's time went: to its webhook, then to its completed reply */
		const jobset *fast = &t->js[K_FAST];
		lat h = { 0 }, r = { 0 };
		span(&h, fast, fast->start, fast->hooked);
		span(&r, fast, fast->hooked, fast->done);
		print_lat("fast_post_to_webhook", &h, 1);
		print_lat("fast_webhook_to_completed", &r, 1);
		free(h.v);
		free(r.v);
	}
	long hooks = 0, dups = 0;
	for (int k = 0; k < K_NKINDS; k++) {
		hooks += t->js[k].hooks;
		dups += t->js[k].dup_hooks;
	}
	printf(",\"webhooks\":%ld,\"duplicate_webhooks\":%ld,\"bad_webhooks\":%ld"
	       ",\"reply_errors\":%ld,\"reply_retries\":%ld,\"idempotent_replies\":%ld,\"reply_url_mismatches\":%ld"
	       ",\"client_cpu_s\":%.3f,\"client_cpu_percent_of_one_core\":%.1f,\"wall_s\":%.3f}\n",
	       hooks, dups, t->bad_hooks, t->reply_errors, t->reply_retries, t->idempotent_replies,
	       t->url_mismatch, cpu, wall > 0 ? 100.0 * cpu / wall : 0.0, wall);
}

/* ===== Main ===== */

static int jobset_init(jobset *js, long n)
{
	js->n = n;
	size_t m = n > 0 ? (size_t)n : 1;
	js->start = calloc(m, sizeof(uint64_t));
	js->posted = calloc(m, sizeof(uint64_t));
	js->hooked = calloc(m, sizeof(uint64_t));
	js->done = calloc(m, sizeof(uint64_t));
	return js->start && js->posted && js->hooked && js->done ? 0 : -1;
}

static void jobset_free(jobset *js)
{
	free(js->start);
	free(js->posted);
	free(js->hooked);
	free(js->done);
}

static long arg_long(const char *s, long min, long max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	return errno || end == s || *end || v < min || v > max ? LONG_MIN : v;
}

/* Many held webhooks need as many sockets: raise the soft limit to the hard one. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	static tool t;
	const char *gateway = NULL, *admin = NULL;
	long port = 0, slow_port = 0;
	int opt, status = 1;
	struct evhttp *fast_http = NULL, *slow_http = NULL;
	struct event_config *cfg = NULL;

	t.conns = 64;
	t.reply_conns = 64;
	t.stall_s = 30;
	t.probe_rate = 20;
	g_tool = &t;
	while ((opt = getopt(argc, argv, "g:k:a:l:c:C:n:r:d:oIs:w:e:q:D:m:T:")) != -1) {
		long v = 0;
		switch (opt) {
		case 'g':
			gateway = optarg;
			break;
		case 'k':
			t.key = optarg;
			break;
		case 'a':
			t.agent = optarg;
			break;
		case 'D':
			admin = optarg;
			break;
		case 'm':
			t.pidfile = optarg;
			break;
		case 'o':
		case 'I':
			t.mode = opt;
			break;
		case 'r':
		case 'd':
		case 'q': {
			char *end;
			double d = strtod(optarg, &end);
			if (end == optarg || *end || !(d > 0) || !isfinite(d))
				goto usage;
			*(opt == 'r' ? &t.rate : opt == 'd' ? &t.duration : &t.probe_rate) = d;
			if (opt == 'r' && !t.mode)
				t.mode = 'r';
			break;
		}
		default:
			v = arg_long(optarg ? optarg : "", 0, 100000000);
			if (v == LONG_MIN || !optarg)
				goto usage;
			switch (opt) {
			case 'l':
				port = v;
				break;
			case 's':
				slow_port = v;
				break;
			case 'c':
				t.conns = (int)v;
				break;
			case 'C':
				t.reply_conns = (int)v;
				break;
			case 'n':
				t.njobs = v;
				if (!t.mode)
					t.mode = 'n';
				break;
			case 'w':
				t.delay_ms = (int)v;
				break;
			case 'e':
				t.expected = v;
				break;
			case 'T':
				t.stall_s = (int)v;
				break;
			default:
				goto usage;
			}
		}
	}
	if (optind != argc || !gateway || !t.key || !t.agent || !t.mode || t.conns < 1 ||
	    t.conns > MAX_CONNS || t.reply_conns < 1 || t.reply_conns > MAX_CONNS)
		goto usage;
	if ((t.mode == 'n' || t.mode == 'o') && t.njobs < 1)
		goto usage;
	if (t.mode == 'r' && (t.rate <= 0 || t.duration <= 0))
		goto usage;
	if (t.mode != 'o' && (port < 1 || port > 65535))
		goto usage;
	if (t.mode == 'I' && (slow_port < 1 || slow_port > 65535 || t.delay_ms < 1 ||
			      t.expected < 1 || !admin || !t.pidfile))
		goto usage;

	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	cfg = event_config_new();
	if (!cfg || event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER) != 0)
		goto done;
	t.base = event_base_new_with_config(cfg);
	if (!t.base)
		goto done;
	snprintf(t.reply_url, sizeof t.reply_url, "http://%s/api/agents/reply", gateway);

	long njob = t.mode == 'r' ? llround(t.rate * t.duration) : t.mode == 'n' ? t.njobs : 0;
	long nslow = t.mode == 'o' ? t.njobs : t.mode == 'I' ? t.expected : 0;
	long nfast = t.mode == 'I' ? 100000 : 0;
	if (jobset_init(&t.js[K_JOB], njob) || jobset_init(&t.js[K_SLOW], nslow) ||
	    jobset_init(&t.js[K_FAST], nfast))
		goto done;
	int jobconns = t.mode == 'I' ? 1 : t.conns;
	int probing = t.mode == 'I';
	if (pool_init(&t, &t.jobs, "POST /v1/jobs", gateway, jobconns, feed_jobs) ||
	    pool_init(&t, &t.replies, "reply", gateway, t.reply_conns, feed_queue) ||
	    pool_init(&t, &t.fast_replies, "fast agent's reply", gateway, probing ? 8 : 1,
		      feed_queue) ||
	    pool_init(&t, &t.hz_gw, "gateway /healthz", gateway, probing ? 8 : 1, feed_queue) ||
	    pool_init(&t, &t.fast, "fast POST /v1/jobs", gateway, probing ? 16 : 1, feed_queue) ||
	    pool_init(&t, &t.hz_disp, "dispatcher /healthz", admin ? admin : gateway,
		      probing ? 8 : 1, feed_queue) ||
	    pool_init(&t, &t.metrics, "dispatcher /metrics", admin ? admin : gateway, 1,
		      feed_queue))
		goto done;
	if (t.mode != 'o' && !(fast_http = listen_on(&t, (int)port, 0)))
		goto done;
	if (t.mode == 'I' && !(slow_http = listen_on(&t, (int)slow_port, t.delay_ms)))
		goto done;

	evtimer_assign(&t.tick, t.base, on_tick, &t);
	event_assign(&t.watchdog, t.base, -1, EV_PERSIST, on_watchdog, &t);
	struct timeval wd = { 0, 100000 };
	event_add(&t.watchdog, &wd);
	if (t.mode == 'I') {
		event_assign(&t.sampler, t.base, -1, EV_PERSIST, on_sample, &t);
		struct timeval sv = { 0, SAMPLE_MS * 1000 };
		event_add(&t.sampler, &sv);
		event_assign(&t.probe_tick, t.base, -1, EV_PERSIST, on_probe_tick, &t);
		struct timeval pv = ns_tv((uint64_t)(1e9 / t.probe_rate));
		event_add(&t.probe_tick, &pv);
		pool_open(&t.hz_gw);
		pool_open(&t.fast);
		pool_open(&t.fast_replies);
		pool_open(&t.hz_disp);
		pool_open(&t.metrics);
	}
	t.t0 = now_ns();
	pool_open(&t.jobs);
	if (t.mode != 'o')
		pool_open(&t.replies);
	/* the receiver is listening: the script may start the dispatcher now */
	fprintf(stderr, "push: ready\n");
	double cpu0 = cpu_seconds();
	if (event_base_dispatch(t.base) < 0 || t.failed)
		goto done;
	report(&t, cpu_seconds() - cpu0);
	status = fflush(stdout) == 0 ? 0 : 1;

done:
	pool_free(&t.jobs);
	pool_free(&t.replies);
	pool_free(&t.fast_replies);
	pool_free(&t.hz_gw);
	pool_free(&t.fast);
	pool_free(&t.hz_disp);
	pool_free(&t.metrics);
	if (fast_http)
		evhttp_free(fast_http);
	if (slow_http)
		evhttp_free(slow_http);
	if (t.base) {
		event_del(&t.tick);
		event_del(&t.watchdog);
		if (t.mode == 'I') {
			event_del(&t.sampler);
			event_del(&t.probe_tick);
		}
		event_base_free(t.base);
	}
	if (cfg)
		event_config_free(cfg);
	for (int k = 0; k < K_NKINDS; k++)
		jobset_free(&t.js[k]);
	free(t.l_gw.v);
	free(t.l_disp.v);
	free(t.l_fast_post.v);
	free(t.l_fast_done.v);
	return status;

usage:
	fprintf(stderr, USAGE, argv[0]);
	return 2;
}
