/* The marketplace lifecycle under concurrency: users create jobs, agents pull, accept and submit them. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "blockhttp.h"

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
#define EMPTY_PULL_WAIT_US 1000

enum { S_CREATE, S_PULL, S_ACCEPT, S_SUBMIT, S_N };
static const char *const STEP_NAMES[S_N] = { "create", "pull", "accept", "submit" };

static bh_target g_target;
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
	bh_conn conn;
	lat l[S_N];
} worker;

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
		uint64_t t = bh_now_ns();
		int st = bh_post(&w->conn, &g_target, w->key, "/api/jobs/run", body);
		if (st != 201) {
			error_seen("POST /api/jobs/run", st, w->conn.buf);
			continue;
		}
		lat_add(&w->l[S_CREATE], bh_now_ns() - t);
	}
	return NULL;
}


static void *agent_main(void *arg)
{
	worker *w = arg;
	char id[64], path[128];
	while (!atomic_load(&g_stop) && atomic_load(&g_claimed) < g_jobs) {
		uint64_t t = bh_now_ns();
		int st = bh_post(&w->conn, &g_target, w->key, "/api/jobs/pull", "{}");
		uint64_t t1 = bh_now_ns();
		if (st == 204) {
			atomic_fetch_add(&g_empty_pulls, 1);
			usleep(EMPTY_PULL_WAIT_US);
			continue;
		}
		if (st != 200 || bh_job_id(w->conn.buf, id, sizeof id) != 0) {
			error_seen("POST /api/jobs/pull", st, w->conn.buf);
			continue;
		}
		atomic_fetch_add(&g_claimed, 1);
		lat_add(&w->l[S_PULL], t1 - t);
		snprintf(path, sizeof path, "/api/jobs/%s/accept", id);
		t = bh_now_ns();
		st = bh_post(&w->conn, &g_target, w->key, path, "{}");
		if (st != 200) {
			error_seen("POST /api/jobs/:id/accept", st, w->conn.buf);
			continue;
		}
		lat_add(&w->l[S_ACCEPT], bh_now_ns() - t);
		snprintf(path, sizeof path, "/api/jobs/%s/submit", id);
		t = bh_now_ns();
		st = bh_post(&w->conn, &g_target, w->key, path, "{\"output\":{\"ok\":true}}");
		uint64_t t2 = bh_now_ns();
		if (st != 200) {
			error_seen("POST /api/jobs/:id/submit", st, w->conn.buf);
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
	if (bh_target_resolve(&g_target, host, port) != 0)
		return 1;
	char *ukeys[MAX_KEYS], *akeys[MAX_KEYS];
	int nu = bh_read_keys(ufile, ukeys, MAX_KEYS), na = bh_read_keys(afile, akeys, MAX_KEYS);
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
		ws[i].conn.fd = -1;
		if (bh_conn_open(&ws[i].conn, &g_target) != 0) {
			fprintf(stderr, "market: cannot connect to %s: %s\n", g_target.hostport,
				strerror(errno));
			return 1;
		}
	}
	struct rusage ru0, ru1;
	getrusage(RUSAGE_SELF, &ru0);
	g_t0 = bh_now_ns();
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
		t_end = bh_now_ns();
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
	bh_target_free(&g_target);
	return atomic_load(&g_errors) ? 1 : 0;
}
