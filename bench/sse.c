/* Many SSE clients on GET /api/jobs/:id/logs while log entries are XADDed: the delay from XADD to receipt. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * Opens CLIENTS connections to the gateway, each a GET /api/jobs/:id/logs
 * of one of the first JOBS ids of JOBS_FILE (client i follows job i mod
 * JOBS), at most -C connections being set up at a time. Once every client
 * has its 200 and SETTLE seconds have passed, a writer thread XADDs RATE
 * entries a second for SECONDS to the jobs' log streams <PREFIX>logs:<id>
 * in turn, with the fields the verifier writes (event "log", data {attempt,
 * step, level, message, at}), the message holding the writer's
 * CLOCK_MONOTONIC time in ns just before the XADD was sent, each followed
 * in the same round trip by the XADD of {job_id} to the index stream
 * <PREFIX>logs that the verifier also writes. Each client
 * parses its event stream (chunked or not) and takes, for each data line,
 * the delay from that time to its receipt. One thread reads every client
 * (libevent, plain non-blocking sockets).
 *
 * With -B (the reference, no gateway): one reader thread follows the same
 * streams straight from Redis the way the gateway does, one blocking XREAD
 * over all of them from the last ids seen, and each entry counts once.
 *
 * With -P PID, the VmRSS of that process (the gateway) is read from
 * /proc/PID/status before the clients connect, once they are connected and
 * settled, and every 100 ms while writing (the largest is reported). The
 * CPU time of that process and of -Q PID (Redis) from the writer's first
 * XADD to its last is reported per entry written.
 *
 * Prints one JSON line: clients connected, failed and closed early,
 * entries written, receipts expected (each entry times the clients of its
 * job) and received, the delay's percentiles, the writer's lag behind its
 * schedule and the XADD round trip, the RSS figures, this process's CPU.
 */

#define USAGE                                                                            \
	"usage: %s -j JOBS_FILE -R REDIS_HOST:PORT [-p PREFIX] [-r RATE] [-d SECONDS]\n" \
	"          [-s SETTLE_SECONDS] [-J JOBS] (-B | -g HOST:PORT -k KEY -c CLIENTS\n" \
	"          [-C CONNECTING] [-P GATEWAY_PID]) [-Q REDIS_PID]\n"
#define MAX_LINE 8192
#define HEAD_MAX 8192

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ===== Settings and shared state ===== */

static char **g_jobs;
static int g_njobs;
static long g_clients;
static int g_connecting_max = 100;
static const char *g_key;
static char g_gw_host[256], g_gw_port[16], g_redis_host[256];
static int g_redis_port;
static const char *g_prefix = "errand:";
static double g_rate = 200, g_seconds = 10, g_settle = 2;
static int g_baseline;
static long g_gw_pid, g_redis_pid;
/* CPU ticks of the gateway and of Redis from the writer's start to its end */
static long long g_gw_cpu0 = -1, g_gw_cpu1 = -1, g_redis_cpu0 = -1, g_redis_cpu1 = -1;
static struct addrinfo *g_addr;

static long *g_clients_of_job; /* clients following each job */
static atomic_long g_written, g_expected, g_xadd_errors;
static atomic_int g_writing_done;
static uint64_t g_lag_max_ns;
static uint64_t *g_xadd_rtt;
static long g_xadd_rtt_n;

typedef struct lat {
	uint64_t *v;
	size_t n, cap;
} lat;

static lat g_lat; /* the reading thread's */
static long g_receipts_unparsed, g_replayed;
static _Atomic uint64_t g_write_t0; /* entries written before (earlier runs) are not counted */

static void lat_add(lat *l, uint64_t ns)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 65536;
		l->v = realloc(l->v, l->cap * sizeof *l->v);
		if (!l->v) {
			perror("realloc");
			exit(1);
		}
	}
	l->v[l->n++] = ns;
}

/* Takes the writer's time from a data line (or an entry's data field): "t=<ns>". */
static void receipt(const char *data, uint64_t now)
{
	const char *p = strstr(data, "t=");
	if (!p) {
		g_receipts_unparsed++;
		return;
	}
	uint64_t t = strtoull(p + 2, NULL, 10), t0 = atomic_load(&g_write_t0);
	if (!t0 || t < t0) {
		g_replayed++; /* the stream's past, sent when the client connected */
		return;
	}
	lat_add(&g_lat, now > t ? now - t : 0);
}

/* utime + stime of a process, in clock ticks; -1 when it cannot be read. */
static long long cpu_ticks(long pid)
{
	if (pid <= 0)
		return -1;
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* the command's name may hold spaces */
	unsigned long long ut = 0, st = 0;
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (long long)(ut + st);
}

static long vmrss_kb(long pid, const char *field)
{
	if (pid <= 0)
		return -1;
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%ld/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	long kb = -1;
	size_t flen = strlen(field);
	while (fgets(line, sizeof line, f))
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			kb = strtol(line + flen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kb;
}

/* ===== The writer ===== */

static redisContext *redis_open(void)
{
	struct timeval tv = { 5, 0 };
	redisContext *c = redisConnectWithTimeout(g_redis_host, g_redis_port, tv);
	if (!c || c->err) {
		fprintf(stderr, "sse: cannot connect to Redis %s:%d: %s\n", g_redis_host,
			g_redis_port, c ? c->errstr : "out of memory");
		exit(1);
	}
	return c;
}

static void *writer_main(void *arg)
{
	(void)arg;
	redisContext *c = redis_open();
	long total = (long)(g_rate * g_seconds + 0.5);
	g_xadd_rtt = calloc((size_t)(total ? total : 1), sizeof *g_xadd_rtt);
	g_gw_cpu0 = cpu_ticks(g_gw_pid);
	g_redis_cpu0 = cpu_ticks(g_redis_pid);
	uint64_t t0 = now_ns(), step = (uint64_t)(1e9 / g_rate);
	atomic_store(&g_write_t0, t0);
	char key[512], index[512], data[512], at[40];
	snprintf(index, sizeof index, "%slogs", g_prefix);
	for (long k = 0; k < total; k++) {
		uint64_t due = t0 + (uint64_t)k * step;
		struct timespec ts = { (time_t)(due / 1000000000ULL), (long)(due % 1000000000ULL) };
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		int j = (int)(k % g_njobs);
		snprintf(key, sizeof key, "%slogs:%s", g_prefix, g_jobs[j]);
		struct timespec rt;
		clock_gettime(CLOCK_REALTIME, &rt);
		struct tm tm;
		gmtime_r(&rt.tv_sec, &tm);
		size_t n = strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(at + n, sizeof at - n, ".%03ldZ", rt.tv_nsec / 1000000);
		uint64_t t = now_ns();
		if (t > due && t - due > g_lag_max_ns)
			g_lag_max_ns = t - due;
		snprintf(
			data, sizeof data,
			"{\"attempt\":1,\"step\":\"schema\",\"level\":\"info\",\"message\":\"t=%llu "
			"n=%ld\",\"at\":\"%s\"}",
			(unsigned long long)t, k, at);
		/* counted before the entry can arrive */
		atomic_fetch_add(&g_expected, g_baseline ? 1 : g_clients_of_job[j]);
		/* as the verifier: the entry, then in the same round trip its job's id to the index */
		redisAppendCommand(c, "XADD %s MAXLEN ~ 10000 * event log data %s", key, data);
		redisAppendCommand(c, "XADD %s MAXLEN ~ 10000 * job_id %s", index, g_jobs[j]);
		redisReply *r = NULL, *note = NULL;
		if (redisGetReply(c, (void **)&r) == REDIS_OK)
			redisGetReply(c, (void **)&note);
		g_xadd_rtt[g_xadd_rtt_n++] = now_ns() - t;
		if (!r || r->type != REDIS_REPLY_STRING || !note || note->type != REDIS_REPLY_STRING) {
			atomic_fetch_add(&g_xadd_errors, 1);
			if (!r || !note) {
				redisFree(c);
				c = redis_open();
			}
		}
		freeReplyObject(r);
		freeReplyObject(note);
		atomic_fetch_add(&g_written, 1);
	}
	redisFree(c);
	g_gw_cpu1 = cpu_ticks(g_gw_pid);
	g_redis_cpu1 = cpu_ticks(g_redis_pid);
	atomic_store(&g_writing_done, 1);
	return NULL;
}

/* ===== The reference: XREAD straight from Redis ===== */

static void *direct_reader_main(void *arg)
{
	(void)arg;
	redisContext *c = redis_open();
	int n = g_njobs;
	char **keys = calloc((size_t)n, sizeof *keys);
	char **ids = calloc((size_t)n, sizeof *ids);
	const char **argv = calloc((size_t)(6 + 2 * n), sizeof *argv);
	/* from Redis's clock now: only what is written after this (the writer starts later) */
	redisReply *tr = redisCommand(c, "TIME");
	if (!tr || tr->type != REDIS_REPLY_ARRAY || tr->elements != 2) {
		fprintf(stderr, "sse: TIME failed\n");
		exit(1);
	}
	char from[64];
	snprintf(from, sizeof from, "%lld-0",
		 strtoll(tr->element[0]->str, NULL, 10) * 1000 +
			 strtoll(tr->element[1]->str, NULL, 10) / 1000);
	freeReplyObject(tr);
	for (int i = 0; i < n; i++) {
		keys[i] = malloc(512);
		snprintf(keys[i], 512, "%slogs:%s", g_prefix, g_jobs[i]);
		ids[i] = strdup(from);
	}
	uint64_t quiet_since = 0;
	for (;;) {
		int a = 0;
		argv[a++] = "XREAD";
		argv[a++] = "COUNT";
		argv[a++] = "200";
		argv[a++] = "BLOCK";
		argv[a++] = "200";
		argv[a++] = "STREAMS";
		for (int i = 0; i < n; i++)
			argv[a++] = keys[i];
		for (int i = 0; i < n; i++)
			argv[a++] = ids[i];
		redisReply *r = redisCommandArgv(c, a, argv, NULL);
		uint64_t now = now_ns();
		if (!r) {
			fprintf(stderr, "sse: XREAD failed: %s\n", c->errstr);
			exit(1);
		}
		if (r->type == REDIS_REPLY_ARRAY) {
			for (size_t s = 0; s < r->elements; s++) {
				redisReply *st = r->element[s];
				if (st->type != REDIS_REPLY_ARRAY || st->elements != 2)
					continue;
				int which = -1;
				for (int i = 0; i < n && which < 0; i++)
					if (strcmp(keys[i], st->element[0]->str) == 0)
						which = i;
				redisReply *es = st->element[1];
				for (size_t e = 0; which >= 0 && e < es->elements; e++) {
					redisReply *ent = es->element[e];
					if (ent->type != REDIS_REPLY_ARRAY || ent->elements != 2)
						continue;
					free(ids[which]);
					ids[which] = strdup(ent->element[0]->str);
					redisReply *f = ent->element[1];
					for (size_t k = 0; k + 1 < f->elements; k += 2)
						if (strcmp(f->element[k]->str, "data") == 0)
							receipt(f->element[k + 1]->str, now);
				}
			}
			quiet_since = 0;
		} else if (atomic_load(&g_writing_done)) {
			if (!quiet_since)
				quiet_since = now;
			if (now - quiet_since > 1000000000ULL)
				break; /* a second with nothing after the writer ended */
		}
		freeReplyObject(r);
		if (atomic_load(&g_writing_done) && (long)g_lat.n >= atomic_load(&g_expected))
			break;
	}
	redisFree(c);
	return NULL;
}

/* ===== The SSE clients ===== */

enum {
	C_IDLE,
	C_CONNECTING,
	C_HEAD,
	C_BODY,
	C_DONE
};
enum {
	K_SIZE,
	K_DATA,
	K_CRLF
};

typedef struct client {
	int fd, state, job;
	struct event *ev;
	int chunked, kstate;
	size_t chunk_left;
	char sizeline[32];
	size_t sizelen;
	char *head;
	size_t headlen;
	char line[MAX_LINE];
	size_t linelen;
	long events;
} client;

static client *g_c;
static struct event_base *g_base;
static long g_next_client, g_connecting, g_connected, g_failed, g_closed;
static int g_status_seen[600];
static uint64_t g_t_connect0, g_t_connected;
static int g_write_started;
static long g_rss_before = -1, g_rss_connected = -1, g_rss_max = -1, g_rss_end = -1;
static pthread_t g_writer;

static void start_more(void);
static void all_connected(void);

static void client_fail(client *c, int connected)
{
	if (c->ev)
		event_free(c->ev);
	c->ev = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->head);
	c->head = NULL;
	if (connected) {
		g_closed++;
	} else {
		g_failed++;
		g_connecting--;
		c->state = C_DONE;
		start_more();
		if (g_connected + g_failed == g_clients && !g_t_connected)
			all_connected();
		return;
	}
	c->state = C_DONE;
}

static void sse_line(client *c, uint64_t now)
{
	c->line[c->linelen] = '\0';
	if (c->linelen && c->line[c->linelen - 1] == '\r')
		c->line[c->linelen - 1] = '\0';
	if (strncmp(c->line, "data:", 5) == 0) {
		c->events++;
		receipt(c->line + 5, now);
	}
	c->linelen = 0;
}

static void sse_bytes(client *c, const char *p, size_t n, uint64_t now)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			sse_line(c, now);
		} else if (c->linelen < MAX_LINE - 1) {
			c->line[c->linelen++] = p[i];
		}
	}
}

/* The body: chunked transfer coding undone, then the event stream. Returns -1 on garbage. */
static int body_bytes(client *c, const char *p, size_t n, uint64_t now)
{
	if (!c->chunked) {
		sse_bytes(c, p, n, now);
		return 0;
	}
	size_t i = 0;
	while (i < n) {
		switch (c->kstate) {
		case K_SIZE:
			if (p[i] == '\n') {
				c->sizeline[c->sizelen] = '\0';
				char *end;
				c->chunk_left = strtoul(c->sizeline, &end, 16);
				c->sizelen = 0;
				if (end == c->sizeline)
					return -1;
				if (c->chunk_left == 0)
					return -1; /* the last chunk: the stream ended */
				c->kstate = K_DATA;
			} else if (c->sizelen < sizeof c->sizeline - 1) {
				c->sizeline[c->sizelen++] = p[i];
			}
			i++;
			break;
		case K_DATA: {
			size_t take = n - i < c->chunk_left ? n - i : c->chunk_left;
			sse_bytes(c, p + i, take, now);
			i += take;
			c->chunk_left -= take;
			if (c->chunk_left == 0)
				c->kstate = K_CRLF;
			break;
		}
		case K_CRLF:
			if (p[i] == '\n')
				c->kstate = K_SIZE;
			i++;
			break;
		}
	}
	return 0;
}

static void all_connected(void);

static void on_head_done(client *c, char *head_end)
{
	int status = 0;
	sscanf(c->head, "HTTP/1.%*d %d", &status);
	if (status > 0 && status < 600)
		g_status_seen[status]++;
	if (status != 200) {
		client_fail(c, 0);
		return;
	}
	for (char *h = strstr(c->head, "\r\n"); h && h < head_end; h = strstr(h + 2, "\r\n"))
		if (strncasecmp(h + 2, "Transfer-Encoding:", 18) == 0 && strstr(h, "chunked") &&
		    strstr(h, "chunked") < strstr(h + 2, "\r\n"))
			c->chunked = 1;
	c->state = C_BODY;
	g_connecting--;
	g_connected++;
	size_t head = (size_t)(head_end + 4 - c->head);
	char *rest = c->head + head;
	size_t restlen = c->headlen - head;
	(void)body_bytes(c, rest, restlen, now_ns());
	free(c->head);
	c->head = NULL;
	start_more();
	if (g_connected + g_failed == g_clients && !g_t_connected)
		all_connected();
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	client *c = arg;
	char buf[16384];
	for (;;) {
		ssize_t got = recv(fd, buf, sizeof buf, 0);
		if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (got <= 0) {
			client_fail(c, c->state == C_BODY);
			return;
		}
		uint64_t now = now_ns();
		if (c->state == C_HEAD) {
			if (c->headlen + (size_t)got >= HEAD_MAX) {
				client_fail(c, 0);
				return;
			}
			memcpy(c->head + c->headlen, buf, (size_t)got);
			c->headlen += (size_t)got;
			c->head[c->headlen] = '\0';
			char *end = strstr(c->head, "\r\n\r\n");
			if (end)
				on_head_done(c, end);
			if (c->state == C_DONE)
				return;
		} else if (body_bytes(c, buf, (size_t)got, now) != 0) {
			client_fail(c, 1);
			return;
		}
	}
}

static void on_connected(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	client *c = arg;
	int err = 0;
	socklen_t len = sizeof err;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	event_free(c->ev);
	c->ev = NULL;
	if (err) {
		client_fail(c, 0);
		return;
	}
	char req[1024];
	int n = snprintf(
		req, sizeof req,
		"GET /api/jobs/%s/logs HTTP/1.1\r\nHost: %s:%s\r\nAuthorization: Bearer %s\r\n"
		"Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n",
		g_jobs[c->job], g_gw_host, g_gw_port, g_key);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		client_fail(c, 0);
		return;
	}
	c->state = C_HEAD;
	c->head = malloc(HEAD_MAX);
	c->headlen = 0;
	c->ev = event_new(g_base, fd, EV_READ | EV_PERSIST, on_readable, c);
	event_add(c->ev, NULL);
}

static void start_more(void)
{
	while (g_connecting < g_connecting_max && g_next_client < g_clients) {
		client *c = &g_c[g_next_client++];
		c->fd = socket(g_addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (c->fd < 0) {
			fprintf(stderr, "sse: socket: %s (raise ulimit -n)\n", strerror(errno));
			g_failed++;
			c->state = C_DONE;
			continue;
		}
		int one = 1;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		g_connecting++;
		c->state = C_CONNECTING;
		if (connect(c->fd, g_addr->ai_addr, g_addr->ai_addrlen) != 0 &&
		    errno != EINPROGRESS) {
			client_fail(c, 0);
			continue;
		}
		c->ev = event_new(g_base, c->fd, EV_WRITE, on_connected, c);
		event_add(c->ev, NULL);
	}
}

static struct event *g_tick;

static void tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	static uint64_t quiet_since;
	long rss = vmrss_kb(g_gw_pid, "VmRSS");
	if (g_write_started && rss > g_rss_max)
		g_rss_max = rss;
	if (g_write_started && atomic_load(&g_writing_done)) {
		if (g_rss_end < 0)
			g_rss_end = rss;
		uint64_t now = now_ns();
		if ((long)g_lat.n >= atomic_load(&g_expected)) {
			event_base_loopbreak(g_base);
			return;
		}
		if (!quiet_since)
			quiet_since = now;
		if (now - quiet_since > 5000000000ULL)
			event_base_loopbreak(g_base); /* 5 s for stragglers */
	}
}

static void start_writing(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	g_rss_connected = vmrss_kb(g_gw_pid, "VmRSS");
	g_rss_max = g_rss_connected;
	g_write_started = 1;
	if (pthread_create(&g_writer, NULL, writer_main, NULL) != 0) {
		fprintf(stderr, "sse: pthread_create failed\n");
		exit(1);
	}
}

static void all_connected(void)
{
	g_t_connected = now_ns();
	fprintf(stderr, "sse: %ld clients connected (%ld failed) in %.2f s; writing in %.1f s\n",
		g_connected, g_failed, (double)(g_t_connected - g_t_connect0) / 1e9, g_settle);
	struct timeval tv = { (time_t)g_settle,
			      (long)((g_settle - (double)(time_t)g_settle) * 1e6) };
	event_base_once(g_base, -1, EV_TIMEOUT, start_writing, NULL, &tv);
}

/* ===== Report ===== */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct_ms(const uint64_t *v, size_t n, double q)
{
	if (!n)
		return 0;
	size_t i = (size_t)(q * (double)n + 0.999999);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return (double)v[i - 1] / 1e6;
}

static int split_hostport(const char *s, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= hostlen || strlen(colon + 1) >= portlen)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	snprintf(port, portlen, "%s", colon + 1);
	return 0;
}

int main(int argc, char **argv)
{
	const char *jobs_file = NULL, *gw = NULL, *redis = NULL;
	int jobs_limit = 0, opt;
	while ((opt = getopt(argc, argv, "j:J:g:k:c:C:R:p:r:d:s:BP:Q:")) != -1) {
		switch (opt) {
		case 'j':
			jobs_file = optarg;
			break;
		case 'J':
			jobs_limit = atoi(optarg);
			break;
		case 'g':
			gw = optarg;
			break;
		case 'k':
			g_key = optarg;
			break;
		case 'c':
			g_clients = strtol(optarg, NULL, 10);
			break;
		case 'C':
			g_connecting_max = atoi(optarg);
			break;
		case 'R':
			redis = optarg;
			break;
		case 'p':
			g_prefix = optarg;
			break;
		case 'r':
			g_rate = strtod(optarg, NULL);
			break;
		case 'd':
			g_seconds = strtod(optarg, NULL);
			break;
		case 's':
			g_settle = strtod(optarg, NULL);
			break;
		case 'B':
			g_baseline = 1;
			break;
		case 'P':
			g_gw_pid = strtol(optarg, NULL, 10);
			break;
		case 'Q':
			g_redis_pid = strtol(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, USAGE, argv[0]);
			return 2;
		}
	}
	char rport[16];
	if (!jobs_file || !redis || g_rate <= 0 || g_seconds <= 0 || g_settle < 0 ||
	    g_connecting_max < 1 || optind != argc ||
	    (!g_baseline && (!gw || !g_key || g_clients < 1)) ||
	    split_hostport(redis, g_redis_host, sizeof g_redis_host, rport, sizeof rport) != 0 ||
	    (gw &&
	     split_hostport(gw, g_gw_host, sizeof g_gw_host, g_gw_port, sizeof g_gw_port) != 0)) {
		fprintf(stderr, USAGE, argv[0]);
		return 2;
	}
	g_redis_port = atoi(rport);

	FILE *f = fopen(jobs_file, "r");
	if (!f) {
		perror(jobs_file);
		return 1;
	}
	char line[256];
	int cap = 0;
	while (fgets(line, sizeof line, f) && (!jobs_limit || g_njobs < jobs_limit)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!*line)
			continue;
		if (g_njobs == cap)
			g_jobs = realloc(g_jobs,
					 (size_t)(cap = cap ? cap * 2 : 1024) * sizeof *g_jobs);
		g_jobs[g_njobs++] = strdup(line);
	}
	fclose(f);
	if (g_njobs < 1) {
		fprintf(stderr, "sse: no job ids in %s\n", jobs_file);
		return 1;
	}

	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	uint64_t t_start = now_ns();
	if (g_baseline) {
		pthread_t reader;
		pthread_create(&reader, NULL, direct_reader_main, NULL);
		usleep((useconds_t)(g_settle * 1e6)); /* the reader's first XREAD is in */
		pthread_create(&g_writer, NULL, writer_main, NULL);
		pthread_join(g_writer, NULL);
		pthread_join(reader, NULL);
	} else {
		struct rlimit rl;
		getrlimit(RLIMIT_NOFILE, &rl);
		if ((rlim_t)g_clients + 64 > rl.rlim_cur) {
			fprintf(stderr,
				"sse: %ld clients need more open files than ulimit -n (%lu)\n",
				g_clients, (unsigned long)rl.rlim_cur);
			return 1;
		}
		struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
		int rc = getaddrinfo(g_gw_host, g_gw_port, &hints, &g_addr);
		if (rc != 0) {
			fprintf(stderr, "sse: %s: %s\n", gw, gai_strerror(rc));
			return 1;
		}
		g_clients_of_job = calloc((size_t)g_njobs, sizeof *g_clients_of_job);
		g_c = calloc((size_t)g_clients, sizeof *g_c);
		if (!g_c || !g_clients_of_job)
			return 1;
		for (long i = 0; i < g_clients; i++) {
			g_c[i].fd = -1;
			g_c[i].job = (int)(i % g_njobs);
			g_clients_of_job[g_c[i].job]++;
		}
		g_base = event_base_new();
		g_rss_before = vmrss_kb(g_gw_pid, "VmRSS");
		g_tick = event_new(g_base, -1, EV_PERSIST, tick, NULL);
		struct timeval tv = { 0, 100000 };
		event_add(g_tick, &tv);
		g_t_connect0 = now_ns();
		start_more();
		event_base_dispatch(g_base);
		if (g_write_started)
			pthread_join(g_writer, NULL);
	}
	getrusage(RUSAGE_SELF, &ru1);
	double wall = (double)(now_ns() - t_start) / 1e9;
	double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
		     (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
		     (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
		     (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;

	qsort(g_lat.v, g_lat.n, sizeof *g_lat.v, cmp_u64);
	qsort(g_xadd_rtt, (size_t)g_xadd_rtt_n, sizeof *g_xadd_rtt, cmp_u64);
	long clients = g_baseline ? 1 : g_clients;
	printf("{\"mode\":\"%s\",\"clients\":%ld,\"jobs\":%d,\"connected\":%ld,\"failed\":%ld,"
	       "\"closed_early\":%ld,\"connect_s\":%.3f,\"rate\":%.1f,\"seconds\":%.1f,"
	       "\"written\":%ld,\"xadd_errors\":%ld,\"expected\":%ld,\"received\":%zu,"
	       "\"replayed\":%ld,\"unparsed\":%ld,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
	       "\"p999_ms\":%.3f,\"max_ms\":%.3f,\"writer_lag_max_ms\":%.3f,"
	       "\"xadd_rtt_p50_ms\":%.3f,\"xadd_rtt_p99_ms\":%.3f",
	       g_baseline ? "redis" : "gateway", clients, g_njobs, g_baseline ? 1 : g_connected,
	       g_failed, g_closed,
	       g_t_connected ? (double)(g_t_connected - g_t_connect0) / 1e9 : 0.0, g_rate,
	       g_seconds, atomic_load(&g_written), atomic_load(&g_xadd_errors),
	       atomic_load(&g_expected), g_lat.n, g_replayed, g_receipts_unparsed,
	       pct_ms(g_lat.v, g_lat.n, 0.5), pct_ms(g_lat.v, g_lat.n, 0.9),
	       pct_ms(g_lat.v, g_lat.n, 0.99), pct_ms(g_lat.v, g_lat.n, 0.999),
	       g_lat.n ? (double)g_lat.v[g_lat.n - 1] / 1e6 : 0.0, (double)g_lag_max_ns / 1e6,
	       pct_ms(g_xadd_rtt, (size_t)g_xadd_rtt_n, 0.5),
	       pct_ms(g_xadd_rtt, (size_t)g_xadd_rtt_n, 0.99));
	if (g_gw_pid > 0)
		printf(",\"gateway_rss_kb\":{\"before\":%ld,\"connected\":%ld,\"max_writing\":%ld,"
		       "\"end\":%ld,\"hwm\":%ld}",
		       g_rss_before, g_rss_connected, g_rss_max, g_rss_end,
		       vmrss_kb(g_gw_pid, "VmHWM"));
	/* CPU time while writing, per entry written */
	double tck = (double)sysconf(_SC_CLK_TCK), w = (double)atomic_load(&g_written);
	if (g_gw_cpu0 >= 0 && g_gw_cpu1 >= 0 && w > 0)
		printf(",\"gateway_cpu_writing_s\":%.2f,\"gateway_cpu_us_per_entry\":%.1f",
		       (double)(g_gw_cpu1 - g_gw_cpu0) / tck,
		       1e6 * (double)(g_gw_cpu1 - g_gw_cpu0) / tck / w);
	if (g_redis_cpu0 >= 0 && g_redis_cpu1 >= 0 && w > 0)
		printf(",\"redis_cpu_writing_s\":%.2f,\"redis_cpu_us_per_entry\":%.1f",
		       (double)(g_redis_cpu1 - g_redis_cpu0) / tck,
		       1e6 * (double)(g_redis_cpu1 - g_redis_cpu0) / tck / w);
	printf(",\"non200\":{");
	int first = 1;
	for (int s = 0; s < 600; s++)
		if (g_status_seen[s] && s != 200) {
			printf("%s\"%d\":%d", first ? "" : ",", s, g_status_seen[s]);
			first = 0;
		}
	printf("},\"client_cpu_s\":%.3f,\"wall_s\":%.3f}\n", cpu, wall);
	return 0;
}
