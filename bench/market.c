/* The marketplace lifecycle under concurrency: users create jobs, agents pull, accept and submit them. */
#include <errno.h>
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
 * One thread per user key and one per agent key, each with one keep-alive
 * connection (blocking sockets, one request in flight). User threads take
 * job numbers from a shared counter until JOBS confirmed jobs are created
 * (POST /api/jobs/run). Agent threads loop: POST /api/jobs/pull; on 200
 * POST /api/jobs/:id/accept then POST /api/jobs/:id/submit; on 204 (nothing
 * queued yet) wait 1 ms and pull again. The run ends when JOBS jobs are
 * submitted. Prints one JSON line: the lifecycle rate (JOBS ÷ the time from
 * the start to the last submit), each step's p50/p90/p99/max (empty pulls
 * are counted apart, not in pull's percentiles), errors, and this process's
 * CPU time (to check the client is not the bottleneck).
 */

#define USAGE "usage: %s -n JOBS -u USER_KEYS_FILE -a AGENT_KEYS_FILE HOST PORT\n"
#define MAX_KEYS 1024
#define BUF_BYTES 65536
#define EMPTY_PULL_WAIT_US 1000

enum { S_CREATE, S_PULL, S_ACCEPT, S_SUBMIT, S_N };
static const char *const STEP_NAMES[S_N] = { "create", "pull", "accept", "submit" };

static struct addrinfo *g_addr;
static char g_hostport[300];
static long g_jobs;
static atomic_long g_next_create, g_submitted, g_empty_pulls, g_errors, g_claimed;
static atomic_int g_stop;
static uint64_t g_t0;
static _Atomic uint64_t g_t_last;

typedef struct lat {
	uint64_t *v;
	size_t n, cap;
} lat;

typedef struct worker {
	pthread_t th;
	const char *key;
	int agent;
	int fd;
	lat l[S_N];
	char buf[BUF_BYTES];
} worker;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void lat_add(lat *l, uint64_t ns)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->v = realloc(l->v, l->cap * sizeof *l->v);
		if (!l->v) {
			perror("realloc");
			exit(1);
		}
	}
	l->v[l->n++] = ns;
}

static int conn_open(worker *w)
{
	w->fd = socket(g_addr->ai_family, SOCK_STREAM, 0);
	if (w->fd < 0)
		return -1;
	int one = 1;
	setsockopt(w->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(w->fd, g_addr->ai_addr, g_addr->ai_addrlen) != 0) {
		close(w->fd);
		w->fd = -1;
		return -1;
	}
	return 0;
}

/* One request and its response; the body lands in w->buf (NUL-terminated). Returns the status or -1. */
static int http(worker *w, const char *path, const char *body)
{
	char req[2048];
	int n = snprintf(req, sizeof req,
			 "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			 path, g_hostport, w->key, strlen(body), body);
	if (n < 0 || (size_t)n >= sizeof req)
		return -1;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (w->fd < 0 && conn_open(w) != 0)
			return -1;
		if (send(w->fd, req, (size_t)n, MSG_NOSIGNAL) != n)
			goto broken;
		size_t len = 0;
		char *head_end = NULL;
		while (!head_end) {
			if (len == BUF_BYTES - 1)
				goto broken;
			ssize_t got = recv(w->fd, w->buf + len, BUF_BYTES - 1 - len, 0);
			if (got <= 0)
				goto broken;
			len += (size_t)got;
			w->buf[len] = '\0';
			head_end = strstr(w->buf, "\r\n\r\n");
		}
		int status = 0;
		if (sscanf(w->buf, "HTTP/1.%*d %d", &status) != 1)
			goto broken;
		long clen = 0;
		for (char *h = strstr(w->buf, "\r\n"); h && h < head_end; h = strstr(h + 2, "\r\n"))
			if (strncasecmp(h + 2, "Content-Length:", 15) == 0)
				clen = strtol(h + 17, NULL, 10);
		size_t head = (size_t)(head_end + 4 - w->buf);
		if (head + (size_t)clen >= BUF_BYTES)
			goto broken;
		while (len < head + (size_t)clen) {
			ssize_t got = recv(w->fd, w->buf + len, head + (size_t)clen - len, 0);
			if (got <= 0)
				goto broken;
			len += (size_t)got;
		}
		memmove(w->buf, w->buf + head, (size_t)clen);
		w->buf[clen] = '\0';
		return status;
broken:
		if (w->fd >= 0)
			close(w->fd);
		w->fd = -1;
		if (attempt == 0 && len == 0)
			continue; /* a keep-alive connection closed under us: once more */
		return -1;
	}
	return -1;
}

static void error_seen(const char *what, int status, const char *body)
{
	long e = atomic_fetch_add(&g_errors, 1);
	if (e < 5)
		fprintf(stderr, "market: %s answered %d: %.300s\n", what, status, body);
	if (e >= 1000)
		atomic_store(&g_stop, 1); /* something is broken: do not spin */
}

static void *user_main(void *arg)
{
	worker *w = arg;
	char body[256];
	while (!atomic_load(&g_stop)) {
		long i = atomic_fetch_add(&g_next_create, 1);
		if (i >= g_jobs)
			break;
		snprintf(body, sizeof body,
			 "{\"prompt\":\"Benchmark job %ld: summarise the attached notes in three "
			 "sentences.\",\"confirmed\":true,\"price_cents\":100,"
			 "\"time_limit_seconds\":3600}",
			 i);
		uint64_t t = now_ns();
		int st = http(w, "/api/jobs/run", body);
		if (st != 201) {
			error_seen("POST /api/jobs/run", st, w->buf);
			continue;
		}
		lat_add(&w->l[S_CREATE], now_ns() - t);
	}
	return NULL;
}

static int job_id_of(const char *body, char *id, size_t idlen)
{
	const char *p = strstr(body, "\"id\":");
	if (!p)
		return -1;
	p += 5;
	while (*p == ' ')
		p++;
	if (*p++ != '"')
		return -1;
	size_t n = strcspn(p, "\"");
	if (n == 0 || n >= idlen)
		return -1;
	memcpy(id, p, n);
	id[n] = '\0';
	return 0;
}

static void *agent_main(void *arg)
{
	worker *w = arg;
	char id[64], path[128];
	while (!atomic_load(&g_stop) && atomic_load(&g_claimed) < g_jobs) {
		uint64_t t = now_ns();
		int st = http(w, "/api/jobs/pull", "{}");
		uint64_t t1 = now_ns();
		if (st == 204) {
			atomic_fetch_add(&g_empty_pulls, 1);
			usleep(EMPTY_PULL_WAIT_US);
			continue;
		}
		if (st != 200 || job_id_of(w->buf, id, sizeof id) != 0) {
			error_seen("POST /api/jobs/pull", st, w->buf);
			continue;
		}
		atomic_fetch_add(&g_claimed, 1);
		lat_add(&w->l[S_PULL], t1 - t);
		snprintf(path, sizeof path, "/api/jobs/%s/accept", id);
		t = now_ns();
		st = http(w, path, "{}");
		if (st != 200) {
			error_seen("POST /api/jobs/:id/accept", st, w->buf);
			continue;
		}
		lat_add(&w->l[S_ACCEPT], now_ns() - t);
		snprintf(path, sizeof path, "/api/jobs/%s/submit", id);
		t = now_ns();
		st = http(w, path, "{\"output\":{\"ok\":true}}");
		uint64_t t2 = now_ns();
		if (st != 200) {
			error_seen("POST /api/jobs/:id/submit", st, w->buf);
			continue;
		}
		lat_add(&w->l[S_SUBMIT], t2 - t);
		atomic_fetch_add(&g_submitted, 1);
		uint64_t last = atomic_load(&g_t_last);
		while (t2 > last && !atomic_compare_exchange_weak(&g_t_last, &last, t2))
			;
	}
	return NULL;
}

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

static int read_keys(const char *file, char **keys, int max)
{
	FILE *f = fopen(file, "r");
	if (!f) {
		perror(file);
		return -1;
	}
	char line[512];
	int n = 0;
	while (n < max && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (*line)
			keys[n++] = strdup(line);
	}
	fclose(f);
	return n;
}

int main(int argc, char **argv)
{
	const char *ufile = NULL, *afile = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "n:u:a:")) != -1) {
		switch (opt) {
		case 'n':
			g_jobs = strtol(optarg, NULL, 10);
			break;
		case 'u':
			ufile = optarg;
			break;
		case 'a':
			afile = optarg;
			break;
		default:
			fprintf(stderr, USAGE, argv[0]);
			return 2;
		}
	}
	if (g_jobs < 1 || !ufile || !afile || optind != argc - 2) {
		fprintf(stderr, USAGE, argv[0]);
		return 2;
	}
	const char *host = argv[optind], *port = argv[optind + 1];
	snprintf(g_hostport, sizeof g_hostport, "%s:%s", host, port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	int rc = getaddrinfo(host, port, &hints, &g_addr);
	if (rc != 0) {
		fprintf(stderr, "market: %s: %s\n", g_hostport, gai_strerror(rc));
		return 1;
	}
	char *ukeys[MAX_KEYS], *akeys[MAX_KEYS];
	int nu = read_keys(ufile, ukeys, MAX_KEYS), na = read_keys(afile, akeys, MAX_KEYS);
	if (nu < 1 || na < 1) {
		fprintf(stderr, "market: no user or agent keys\n");
		return 1;
	}
	int nw = nu + na;
	worker *ws = calloc((size_t)nw, sizeof *ws);
	if (!ws)
		return 1;
	for (int i = 0; i < nw; i++) {
		ws[i].agent = i >= nu;
		ws[i].key = ws[i].agent ? akeys[i - nu] : ukeys[i];
		ws[i].fd = -1;
		if (conn_open(&ws[i]) != 0) {
			fprintf(stderr, "market: cannot connect to %s: %s\n", g_hostport,
				strerror(errno));
			return 1;
		}
	}
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	g_t0 = now_ns();
	for (int i = 0; i < nw; i++)
		if (pthread_create(&ws[i].th, NULL, ws[i].agent ? agent_main : user_main, &ws[i]) !=
		    0) {
			fprintf(stderr, "market: pthread_create failed\n");
			return 1;
		}
	/* The users end by themselves; the agents once every created job is claimed. */
	for (int i = 0; i < nu; i++)
		pthread_join(ws[i].th, NULL);
	long created = 0;
	for (int i = 0; i < nu; i++)
		created += (long)ws[i].l[S_CREATE].n;
	if (created < g_jobs) {
		/* some creates failed: the agents stop at what exists */
		g_jobs = created;
	}
	for (int i = nu; i < nw; i++)
		pthread_join(ws[i].th, NULL);
	uint64_t t_end = atomic_load(&g_t_last);
	if (!t_end)
		t_end = now_ns();
	getrusage(RUSAGE_SELF, &ru1);
	double wall = (double)(t_end - g_t0) / 1e9;
	double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
		     (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
		     (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
		     (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
	long submitted = atomic_load(&g_submitted);
	printf("{\"jobs\":%ld,\"created\":%ld,\"submitted\":%ld,\"users\":%d,\"agents\":%d,"
	       "\"seconds\":%.3f,\"jobs_per_s\":%.1f,\"requests_per_s\":%.1f,"
	       "\"empty_pulls\":%ld,\"errors\":%ld,\"client_cpu_s\":%.3f,"
	       "\"client_cpu_percent_of_one_core\":%.1f",
	       g_jobs, created, submitted, nu, na, wall, (double)submitted / wall,
	       (double)(created + 3 * submitted + atomic_load(&g_empty_pulls)) / wall,
	       atomic_load(&g_empty_pulls), atomic_load(&g_errors), cpu, 100.0 * cpu / wall);
	for (int s = 0; s < S_N; s++) {
		size_t n = 0;
		for (int i = 0; i < nw; i++)
			n += ws[i].l[s].n;
		uint64_t *all = malloc((n ? n : 1) * sizeof *all);
		size_t k = 0;
		for (int i = 0; i < nw; i++) {
			if (ws[i].l[s].n)
				memcpy(all + k, ws[i].l[s].v, ws[i].l[s].n * sizeof *all);
			k += ws[i].l[s].n;
		}
		qsort(all, n, sizeof *all, cmp_u64);
		printf(",\"%s\":{\"n\":%zu,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
		       "\"max_ms\":%.3f}",
		       STEP_NAMES[s], n, pct_ms(all, n, 0.5), pct_ms(all, n, 0.9),
		       pct_ms(all, n, 0.99), n ? (double)all[n - 1] / 1e6 : 0.0);
		free(all);
	}
	printf("}\n");
	freeaddrinfo(g_addr);
	return atomic_load(&g_errors) ? 1 : 0;
}
