/* An open-loop HTTP/1.1 load generator: a fixed rate, latency from each scheduled send time. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>

/*
 * How it works. Request i (0 ≤ i < rate × duration) is due at t0 + i / rate,
 * whatever happened before: the schedule never waits for the server. Due
 * requests queue until a connection is free (one request in flight per
 * connection, keep-alive, no pipelining); a request's latency runs from its
 * due time to the last byte of its response, so time spent queued behind a
 * slow response counts (coordinated omission corrected, as in wrk2). After
 * the schedule ends, requests still unanswered get DRAIN_SECONDS more, then
 * count as errors.
 *
 * The schedule's timer fires at each due time (timerfd, µs precision). With
 * -t TICK_US it fires at most every TICK_US and sends what came due in a
 * burst, as wrk2's millisecond timers do; the wait until the burst counts
 * in the latency all the same.
 *
 * The sockets are plain non-blocking sockets under one persistent read event
 * each, not bufferevents: a request then costs one send() and one recv(),
 * where a bufferevent adds two epoll_ctl() and an ioctl(). On a small
 * machine the generator shares the CPUs with the server it measures, and
 * every cycle it spends is taken from that server.
 */

#define USAGE                                                                                \
	"usage: %s -r RATE -d SECONDS [-c CONNECTIONS] [-t TICK_US] [-H 'Name: value']...\n" \
	"       [-m METHOD] [-b BODY] http://HOST:PORT/PATH\n"
#define DEFAULT_CONNECTIONS 64
#define MAX_CONNECTIONS 10000
#define MAX_HEADERS 32
#define MAX_REQUESTS 100000000ULL /* latencies are kept: 800 MB at most */
#define MAX_REQUEST_BYTES 8192	  /* always fits an idle socket's send buffer */
#define READ_BUF_BYTES 16384	  /* also the longest response head accepted */
#define CONNECT_TIMEOUT_SECONDS 5 /* every connection must be up by then */
#define DRAIN_SECONDS 5		  /* grace for unanswered requests after the schedule */
#define RECONNECT_DELAY_MS 100	  /* a broken connection is reopened after this */
#define NS_PER_S 1000000000ULL

typedef struct run run;

/* One keep-alive connection with at most one request in flight. */
typedef struct conn {
	run *r;
	evutil_socket_t fd; /* -1 while closed */
	struct event io;    /* the connect's completion, then readable data */
	struct event retry; /* reopens the connection after an error */
	int connected;	    /* the connect has completed */
	int idle_pos;	    /* index in r->idle, -1 when not idle */
	int busy;	    /* a request is in flight */
	uint64_t due_ns;    /* due time of the request in flight */
	int64_t body_left;  /* bytes of body still to read; -1 while reading the head */
	int status;	    /* status of the response being read */
	size_t len;	    /* bytes in buf */
	char buf[READ_BUF_BYTES];
} conn;

struct run {
	struct event_base *base;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char *request; /* the request's bytes, sent as they are each time */
	size_t request_len;
	double rate;
	double duration;
	uint64_t tick_ns; /* the schedule wakes at most this often (0: at each due time) */
	int nconns;
	conn *conns;
	conn **idle; /* stack of connected connections with nothing in flight */
	int nidle;
	int nconnected;
	int started;	     /* the schedule has begun */
	uint64_t t0_ns;	     /* due time of request 0 */
	uint64_t total;	     /* requests in the schedule */
	uint64_t due;	     /* requests whose due time has come */
	uint64_t sent;	     /* requests handed to a connection */
	uint64_t finished;   /* requests answered or failed */
	uint64_t errors;     /* connection errors, protocol errors, no answer in time */
	uint64_t non2xx;     /* answered with a status outside 200-299 */
	uint64_t *latencies; /* ns, one per answered request */
	uint64_t nlatencies;
	uint64_t last_ns;     /* when the last answer arrived */
	struct event tick;    /* fires at the next due time */
	struct event timeout; /* the connect timeout, then the end of the drain */
	int failed;	      /* a fatal error: exit 1 */
};

/* ===== Helpers ===== */

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static struct timeval ns_to_tv(uint64_t ns)
{
	struct timeval tv;
	tv.tv_sec = (time_t)(ns / NS_PER_S);
	tv.tv_usec = (suseconds_t)(ns % NS_PER_S / 1000);
	return tv;
}

/* The due time of request `i`. */
static uint64_t due_time(const run *r, uint64_t i)
{
	return r->t0_ns + (uint64_t)((double)i * 1e9 / r->rate);
}

static void fatal(run *r, const char *what)
{
	fprintf(stderr, "loadgen: %s\n", what);
	r->failed = 1;
	event_base_loopbreak(r->base);
}

static int parse_double(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v <= 0)
		return -1;
	*out = v;
	return 0;
}

static void idle_push(conn *c)
{
	run *r = c->r;
	if (c->idle_pos >= 0)
		return;
	c->idle_pos = r->nidle;
	r->idle[r->nidle++] = c;
}

static void idle_remove(conn *c)
{
	run *r = c->r;
	if (c->idle_pos < 0)
		return;
	conn *last = r->idle[--r->nidle];
	r->idle[c->idle_pos] = last;
	last->idle_pos = c->idle_pos;
	c->idle_pos = -1;
}

/* Ends the run once every scheduled request is answered or failed. */
static void check_finished(run *r)
{
	if (r->started && r->finished == r->total)
		event_base_loopexit(r->base, NULL);
}

/* ===== Connections ===== */

/* Closes the socket, if open; the connection is neither idle nor connected after. */
static void conn_close(conn *c)
{
	idle_remove(c);
	if (c->fd < 0)
		return;
	event_del(&c->io);
	evutil_closesocket(c->fd);
	c->fd = -1;
	if (c->connected)
		c->r->nconnected--;
	c->connected = 0;
}

/* Closes a broken connection, fails its request in flight and reopens it later. */
static void conn_fail(conn *c, const char *why)
{
	run *r = c->r;
	conn_close(c);
	if (!r->started) {
		fprintf(stderr, "loadgen: a connection failed before the start: %s\n", why);
		fatal(r, "could not open every connection");
		return;
	}
	if (c->busy) {
		c->busy = 0;
		r->errors++;
		r->finished++;
	}
	struct timeval delay = { 0, RECONNECT_DELAY_MS * 1000 };
	if (evtimer_add(&c->retry, &delay) != 0)
		fatal(r, "cannot schedule a reconnection");
	check_finished(r);
}

/* Hands due requests to idle connections, oldest first. */
static void dispatch(run *r)
{
	while (r->sent < r->due && r->nidle > 0) {
		conn *c = r->idle[r->nidle - 1];
		idle_remove(c);
		c->busy = 1;
		c->due_ns = due_time(r, r->sent++);
		c->body_left = -1;
		/* Nothing is in flight, so the socket's send buffer is empty: one send() is enough. */
		ssize_t n = send(c->fd, r->request, r->request_len, MSG_NOSIGNAL);
		if (n != (ssize_t)r->request_len)
			conn_fail(c, n < 0 ? strerror(errno) : "short send");
	}
}

/* Records a complete response and makes the connection available again. */
static void conn_answered(conn *c)
{
	run *r = c->r;
	uint64_t t = now_ns();
	c->busy = 0;
	r->finished++;
	r->last_ns = t;
	r->latencies[r->nlatencies++] = t > c->due_ns ? t - c->due_ns : 0;
	if (c->status < 200 || c->status > 299)
		r->non2xx++;
	idle_push(c);
	dispatch(r);
	check_finished(r);
}

static void conn_consume(conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/*
 * Parses a response head of `len` bytes (status line and headers, up to and
 * including the blank line). Returns 0 and sets *status and *content_length,
 * or -1 if it is not an HTTP/1.x head with a Content-Length.
 */
static int parse_head(const char *head, size_t len, int *status, int64_t *content_length)
{
	static const char cl_name[] = "content-length:";
	const char *end = head + len;
	const char *eol = memchr(head, '\n', len);
	if (!eol || len < 12 || memcmp(head, "HTTP/1.", 7) != 0 || head[8] != ' ')
		return -1;
	int code = 0;
	for (int i = 9; i < 12; i++) {
		if (head[i] < '0' || head[i] > '9')
			return -1;
		code = code * 10 + (head[i] - '0');
	}
	*status = code;
	*content_length = -1;
	for (const char *line = eol + 1; line < end; line = eol + 1) {
		eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol)
			break;
		size_t n = (size_t)(eol - line);
		if (n < sizeof cl_name - 1 || strncasecmp(line, cl_name, sizeof cl_name - 1) != 0)
			continue;
		int64_t v = 0;
		int digits = 0;
		for (const char *p = line + sizeof cl_name - 1; p < eol; p++) {
			if (*p >= '0' && *p <= '9') {
				if (++digits > 15)
					return -1;
				v = v * 10 + (*p - '0');
			} else if (*p != ' ' && *p != '\t' && *p != '\r') {
				return -1;
			}
		}
		if (!digits)
			return -1;
		*content_length = v;
	}
	return *content_length < 0 ? -1 : 0;
}

/* Reads what arrived and completes the response in flight when it is whole. */
static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	conn *c = arg;
	ssize_t n = recv(fd, c->buf + c->len, sizeof c->buf - c->len, 0);
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
		if (c->body_left < 0) {
			const char *blank = memmem(c->buf, c->len, "\r\n\r\n", 4);
			if (!blank) {
				if (c->len == sizeof c->buf)
					conn_fail(c, "response head too long");
				return;
			}
			size_t head_len = (size_t)(blank - c->buf) + 4;
			if (parse_head(c->buf, head_len, &c->status, &c->body_left) != 0) {
				conn_fail(c, "not an HTTP/1.x response with a Content-Length");
				return;
			}
			conn_consume(c, head_len);
		}
		size_t take = (uint64_t)c->body_left < c->len ? (size_t)c->body_left : c->len;
		conn_consume(c, take);
		c->body_left -= (int64_t)take;
		if (c->body_left > 0)
			return;
		conn_answered(c);
		if (c->fd < 0)
			return;
	}
}

/* The connect has completed: from now on the socket is watched for responses. */
static void conn_connected(conn *c)
{
	run *r = c->r;
	event_assign(&c->io, r->base, c->fd, EV_READ | EV_PERSIST, on_readable, c);
	if (event_add(&c->io, NULL) != 0) {
		fatal(r, "cannot watch a socket");
		return;
	}
	c->connected = 1;
	c->len = 0;
	r->nconnected++;
	idle_push(c);
	if (!r->started && r->nconnected == r->nconns)
		event_active(&r->tick, EV_TIMEOUT, 0); /* every connection is up: start */
	dispatch(r);
}

static void on_connect(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	conn *c = arg;
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err)
		conn_fail(c, strerror(err));
	else
		conn_connected(c);
}

static void conn_open(conn *c)
{
	run *r = c->r;
	int one = 1;
	c->busy = 0;
	c->body_left = -1;
	c->len = 0;
	c->fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		conn_fail(c, strerror(errno));
		return;
	}
	event_assign(&c->io, r->base, c->fd, EV_WRITE, on_connect, c);
	if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
		conn_fail(c, strerror(errno));
		return;
	}
	if (connect(c->fd, (struct sockaddr *)&r->addr, r->addrlen) == 0) {
		conn_connected(c);
		return;
	}
	if (errno != EINPROGRESS) {
		conn_fail(c, strerror(errno));
		return;
	}
	if (event_add(&c->io, NULL) != 0)
		fatal(r, "cannot watch a socket");
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_open(arg);
}

/* ===== The schedule ===== */

/* Marks the requests whose time has come as due, then waits for the next one. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run *r = arg;
	uint64_t now = now_ns();
	if (!r->started) {
		r->started = 1;
		r->t0_ns = now;
		struct timeval end =
			ns_to_tv((uint64_t)((r->duration + DRAIN_SECONDS) * (double)NS_PER_S));
		event_del(&r->timeout);
		if (evtimer_add(&r->timeout, &end) != 0) {
			fatal(r, "cannot set the end of the run");
			return;
		}
	}
	uint64_t due = (uint64_t)((double)(now - r->t0_ns) * r->rate / 1e9) + 1;
	r->due = due < r->total ? due : r->total;
	dispatch(r);
	if (r->due < r->total) {
		uint64_t next = due_time(r, r->due);
		if (next < now + r->tick_ns)
			next = now + r->tick_ns;
		struct timeval tv = ns_to_tv(next > now ? next - now : 0);
		if (evtimer_add(&r->tick, &tv) != 0)
			fatal(r, "cannot schedule the next request");
	}
}

/* Before the start: not every connection came up. After: the drain is over. */
static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run *r = arg;
	if (!r->started) {
		fatal(r, "could not open every connection in time");
		return;
	}
	r->errors += r->total - r->finished; /* never answered */
	r->finished = r->total;
	event_base_loopexit(r->base, NULL);
}

/* ===== Set-up and report ===== */

/* Appends `s` to the request of `*used` bytes; -1 if it would not fit. */
static int append(char *request, size_t *used, const char *s)
{
	size_t n = strlen(s);
	if (n >= MAX_REQUEST_BYTES - *used)
		return -1;
	memcpy(request + *used, s, n);
	*used += n;
	return 0;
}

/* Splits http://HOST:PORT/PATH, resolves HOST and builds the request bytes. */
static int setup_target(run *r, const char *url, char **headers, int nheaders,
			const char *method, const char *body)
{
	static const char scheme[] = "http://";
	char host[256], port[16] = "80";
	const char *path, *hp, *colon;
	size_t hostlen, portlen;
	struct addrinfo hints, *ai = NULL;
	int rc;

	if (strncmp(url, scheme, sizeof scheme - 1) != 0) {
		fprintf(stderr, "loadgen: only http:// URLs: %s\n", url);
		return -1;
	}
	hp = url + sizeof scheme - 1;
	path = strchr(hp, '/');
	if (!path)
		path = hp + strlen(hp);
	colon = memchr(hp, ':', (size_t)(path - hp));
	hostlen = (size_t)((colon ? colon : path) - hp);
	portlen = colon ? (size_t)(path - colon - 1) : 0;
	if (hostlen == 0 || hostlen >= sizeof host ||
	    (colon && (portlen == 0 || portlen >= sizeof port))) {
		fprintf(stderr, "loadgen: bad URL: %s\n", url);
		return -1;
	}
	memcpy(host, hp, hostlen);
	host[hostlen] = '\0';
	if (colon) {
		memcpy(port, colon + 1, portlen);
		port[portlen] = '\0';
	}

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "loadgen: %s:%s: %s\n", host, port, gai_strerror(rc));
		return -1;
	}
	memcpy(&r->addr, ai->ai_addr, ai->ai_addrlen);
	r->addrlen = ai->ai_addrlen;
	freeaddrinfo(ai);

	r->request = malloc(MAX_REQUEST_BYTES);
	if (!r->request) {
		fprintf(stderr, "loadgen: out of memory\n");
		return -1;
	}
	size_t used = 0;
	rc = append(r->request, &used, method) | append(r->request, &used, " ") | append(r->request, &used, *path ? path : "/") |
	     append(r->request, &used, " HTTP/1.1\r\nHost: ") | append(r->request, &used, host) |
	     append(r->request, &used, ":") | append(r->request, &used, port) |
	     append(r->request, &used, "\r\n");
	for (int i = 0; i < nheaders; i++)
		rc |= append(r->request, &used, headers[i]) | append(r->request, &used, "\r\n");
	if (body) {
		char cl[48];
		snprintf(cl, sizeof cl, "Content-Length: %zu\r\n", strlen(body));
		rc |= append(r->request, &used, "Content-Type: application/json\r\n") |
		      append(r->request, &used, cl);
	}
	rc |= append(r->request, &used, "\r\n");
	if (body)
		rc |= append(r->request, &used, body);
	if (rc != 0) {
		fprintf(stderr, "loadgen: the request is longer than %d bytes\n",
			MAX_REQUEST_BYTES);
		return -1;
	}
	r->request_len = used;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* The nearest-rank percentile `q` (0 < q ≤ 1) of sorted `v` (n > 0), in ms. */
static double percentile_ms(const uint64_t *v, uint64_t n, double q)
{
	uint64_t rank = (uint64_t)ceil(q * (double)n);
	if (rank < 1)
		rank = 1;
	return (double)v[rank - 1] / 1e6;
}

/* Prints the figures as one JSON line on stdout. */
static void report(run *r)
{
	uint64_t n = r->nlatencies;
	double elapsed = r->last_ns > r->t0_ns ? (double)(r->last_ns - r->t0_ns) / 1e9 : 0;
	/* Answers per second over the schedule, or until the last answer if that came later. */
	double span = elapsed + 1.0 / r->rate > r->duration ? elapsed + 1.0 / r->rate : r->duration;
	qsort(r->latencies, (size_t)n, sizeof *r->latencies, cmp_u64);
	printf("{\"rate_target\":%.1f,\"rate_achieved\":%.1f,\"requests\":%" PRIu64
	       ",\"errors\":%" PRIu64 ",\"non2xx\":%" PRIu64,
	       r->rate, n ? (double)n / span : 0.0, n, r->errors, r->non2xx);
	if (n)
		printf(",\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,"
		       "\"max_ms\":%.3f}\n",
		       percentile_ms(r->latencies, n, 0.50), percentile_ms(r->latencies, n, 0.90),
		       percentile_ms(r->latencies, n, 0.99), percentile_ms(r->latencies, n, 0.999),
		       (double)r->latencies[n - 1] / 1e6);
	else
		printf(",\"p50_ms\":null,\"p90_ms\":null,\"p99_ms\":null,\"p999_ms\":null,"
		       "\"max_ms\":null}\n");
}

int main(int argc, char **argv)
{
	run r;
	char *headers[MAX_HEADERS];
	int nheaders = 0, opt, status = 1, events_ready = 0;
	const char *method = "GET", *body = NULL;
	struct event_config *cfg = NULL;

	memset(&r, 0, sizeof r);
	r.nconns = DEFAULT_CONNECTIONS;
	while ((opt = getopt(argc, argv, "r:d:c:H:t:m:b:")) != -1) {
		switch (opt) {
		case 'r':
			if (parse_double(optarg, &r.rate) != 0)
				goto usage;
			break;
		case 'd':
			if (parse_double(optarg, &r.duration) != 0)
				goto usage;
			break;
		case 'c': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (end == optarg || *end || v < 1 || v > MAX_CONNECTIONS)
				goto usage;
			r.nconns = (int)v;
			break;
		}
		case 't': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (end == optarg || *end || v < 0 || v > 1000000)
				goto usage;
			r.tick_ns = (uint64_t)v * 1000;
			break;
		}
		case 'm':
			if (!*optarg || strpbrk(optarg, " \r\n"))
				goto usage;
			method = optarg;
			break;
		case 'b':
			body = optarg;
			break;
		case 'H':
			if (nheaders == MAX_HEADERS || strpbrk(optarg, "\r\n") ||
			    !strchr(optarg, ':')) {
				fprintf(stderr, "loadgen: bad or too many headers: %s\n", optarg);
				goto usage;
			}
			headers[nheaders++] = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1 || r.rate == 0 || r.duration == 0)
		goto usage;
	if (r.rate * r.duration > (double)MAX_REQUESTS || r.rate * r.duration < 1) {
		fprintf(stderr, "loadgen: rate × duration must be between 1 and %llu requests\n",
			MAX_REQUESTS);
		return 2;
	}
	r.total = (uint64_t)llround(r.rate * r.duration);

	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		perror("signal");
		return 1;
	}
	if (setup_target(&r, argv[optind], headers, nheaders, method, body) != 0)
		goto done;

	/* Precise timers (timerfd on Linux): due times are µs apart at high rates. */
	cfg = event_config_new();
	if (!cfg || event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER) != 0) {
		fprintf(stderr, "loadgen: event_config failed\n");
		goto done;
	}
	r.base = event_base_new_with_config(cfg);
	r.latencies = calloc((size_t)r.total, sizeof *r.latencies);
	r.conns = calloc((size_t)r.nconns, sizeof *r.conns);
	r.idle = calloc((size_t)r.nconns, sizeof *r.idle);
	if (!r.base || !r.latencies || !r.conns || !r.idle) {
		fprintf(stderr, "loadgen: out of memory\n");
		goto done;
	}
	evtimer_assign(&r.tick, r.base, on_tick, &r);
	evtimer_assign(&r.timeout, r.base, on_timeout, &r);
	for (int i = 0; i < r.nconns; i++) {
		conn *c = &r.conns[i];
		c->r = &r;
		c->fd = -1;
		c->idle_pos = -1;
		evtimer_assign(&c->retry, r.base, on_retry, c);
	}
	events_ready = 1;

	struct timeval connect_timeout = { CONNECT_TIMEOUT_SECONDS, 0 };
	if (evtimer_add(&r.timeout, &connect_timeout) != 0) {
		fprintf(stderr, "loadgen: cannot set the connect timeout\n");
		goto done;
	}
	for (int i = 0; i < r.nconns && !r.failed; i++)
		conn_open(&r.conns[i]);
	if (!r.failed && event_base_dispatch(r.base) < 0)
		fprintf(stderr, "loadgen: event loop failed\n");
	else if (!r.failed) {
		report(&r);
		status = fflush(stdout) == 0 ? 0 : 1;
	}

done:
	if (events_ready) {
		for (int i = 0; i < r.nconns; i++) {
			conn_close(&r.conns[i]);
			event_del(&r.conns[i].retry);
		}
		event_del(&r.tick);
		event_del(&r.timeout);
	}
	if (r.base)
		event_base_free(r.base);
	if (cfg)
		event_config_free(cfg);
	free(r.conns);
	free(r.idle);
	free(r.latencies);
	free(r.request);
	return status;

usage:
	fprintf(stderr, USAGE, argv[0]);
	return 2;
}
