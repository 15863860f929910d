/* Makes marketplace jobs for bench/verify: submitted with an output and an output_schema, or just created. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blockhttp.h"

/*
 * The same client as bench/market.c (bench/blockhttp.c: one thread and one keep-alive
 * connection per key, blocking sockets, one request in flight), with a
 * job's output_schema and output from files:
 *
 *   users: POST /api/jobs/run {"prompt", "confirmed": true, "price_cents":
 *          100, "time_limit_seconds": 3600, "output_schema": SCHEMA}
 *   agents: POST /api/jobs/pull, POST /api/jobs/:id/accept, POST
 *          /api/jobs/:id/submit {"output": OUTPUT}
 *
 * until JOBS jobs are submitted; with -c the users only create JOBS jobs
 * (they stay queued) and no agent key is needed. -i FILE writes the ids of
 * the jobs created. Prints one JSON line: jobs created and submitted, the
 * time, errors. Exits 1 if any request failed.
 */

#define USAGE                                                                         \
	"usage: %s -n JOBS -u USER_KEYS_FILE [-a AGENT_KEYS_FILE] [-s SCHEMA_FILE]\n" \
	"          [-o OUTPUT_FILE] [-c] [-i IDS_FILE] HOST PORT\n"
#define MAX_KEYS 1024
#define EMPTY_PULL_WAIT_US 1000

static bh_target g_target;
static long g_jobs;
static int g_create_only;
static const char *g_create_rest; /* the create body after the job's number */
static char *g_submit_body;
static atomic_long g_next_create, g_created, g_submitted, g_claimed, g_errors, g_empty_pulls;
static atomic_int g_stop;
static FILE *g_ids;
static pthread_mutex_t g_ids_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct worker {
	pthread_t th;
	const char *key;
	int agent;
	bh_conn conn;
} worker;

static void error_seen(const char *what, int status, const char *body)
{
	long e = atomic_fetch_add(&g_errors, 1);
	if (e < 5)
		fprintf(stderr, "verify: %s answered %d: %.300s\n", what, status, body);
	if (e >= 100)
		atomic_store(&g_stop, 1); /* something is broken: do not spin */
}


static void *user_main(void *arg)
{
	worker *w = arg;
	size_t cap = strlen(g_create_rest) + 128;
	char *body = malloc(cap), id[64];
	while (body && !atomic_load(&g_stop)) {
		long i = atomic_fetch_add(&g_next_create, 1);
		if (i >= g_jobs)
			break;
		snprintf(body, cap, "{\"prompt\":\"Benchmark job %ld: %s", i, g_create_rest);
		int st = bh_post(&w->conn, &g_target, w->key, "/api/jobs/run", body);
		if (st != 201 || bh_job_id(w->conn.buf, id, sizeof id) != 0) {
			error_seen("POST /api/jobs/run", st, w->conn.buf);
			continue;
		}
		atomic_fetch_add(&g_created, 1);
		if (g_ids) {
			pthread_mutex_lock(&g_ids_lock);
			fprintf(g_ids, "%s\n", id);
			pthread_mutex_unlock(&g_ids_lock);
		}
	}
	free(body);
	return NULL;
}

static void *agent_main(void *arg)
{
	worker *w = arg;
	char id[64], path[128];
	while (!atomic_load(&g_stop) && atomic_load(&g_claimed) < g_jobs) {
		int st = bh_post(&w->conn, &g_target, w->key, "/api/jobs/pull", "{}");
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
		snprintf(path, sizeof path, "/api/jobs/%s/accept", id);
		st = bh_post(&w->conn, &g_target, w->key, path, "{}");
		if (st != 200) {
			error_seen("POST /api/jobs/:id/accept", st, w->conn.buf);
			continue;
		}
		snprintf(path, sizeof path, "/api/jobs/%s/submit", id);
		st = bh_post(&w->conn, &g_target, w->key, path, g_submit_body);
		if (st != 200) {
			error_seen("POST /api/jobs/:id/submit", st, w->conn.buf);
			continue;
		}
		atomic_fetch_add(&g_submitted, 1);
	}
	return NULL;
}


/* A file's text without its trailing newlines; NULL when it cannot be read. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return NULL;
	}
	size_t cap = 4096, n = 0, got;
	char *buf = malloc(cap);
	while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += got;
		if (n + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	if (!buf)
		return NULL;
	buf[n] = '\0';
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return buf;
}

int main(int argc, char **argv)
{
	const char *ufile = NULL, *afile = NULL, *sfile = NULL, *ofile = NULL, *ifile = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "n:u:a:s:o:ci:")) != -1) {
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
		case 's':
			sfile = optarg;
			break;
		case 'o':
			ofile = optarg;
			break;
		case 'c':
			g_create_only = 1;
			break;
		case 'i':
			ifile = optarg;
			break;
		default:
			fprintf(stderr, USAGE, argv[0]);
			return 2;
		}
	}
	if (g_jobs < 1 || !ufile || (!afile && !g_create_only) || optind != argc - 2) {
		fprintf(stderr, USAGE, argv[0]);
		return 2;
	}
	char *schema = sfile ? slurp(sfile) : NULL, *output = ofile ? slurp(ofile) : NULL;
	if ((sfile && !schema) || (ofile && !output))
		return 1;
	/* the bodies: the schema and the output are JSON texts, put in as they are */
	size_t cap = (schema ? strlen(schema) : 0) + 512;
	char *rest = malloc(cap);
	snprintf(rest, cap,
		 "summarise the quarterly notes as a report.\","
		 "\"confirmed\":true,\"price_cents\":100,\"time_limit_seconds\":3600%s%s}",
		 schema ? ",\"output_schema\":" : "", schema ? schema : "");
	g_create_rest = rest;
	cap = (output ? strlen(output) : 16) + 32;
	g_submit_body = malloc(cap);
	snprintf(g_submit_body, cap, "{\"output\":%s}", output ? output : "{\"ok\":true}");
	if (strlen(g_create_rest) + 256 > BH_REQ_BYTES / 2 ||
	    strlen(g_submit_body) + 1024 > BH_REQ_BYTES) {
		fprintf(stderr, "verify: the schema or the output is too large for this tool\n");
		return 1;
	}

	const char *host = argv[optind], *port = argv[optind + 1];
	if (bh_target_resolve(&g_target, host, port) != 0)
		return 1;
	char *ukeys[MAX_KEYS], *akeys[MAX_KEYS];
	int nu = bh_read_keys(ufile, ukeys, MAX_KEYS);
	int na = g_create_only ? 0 : bh_read_keys(afile, akeys, MAX_KEYS);
	if (nu < 1 || (!g_create_only && na < 1)) {
		fprintf(stderr, "verify: no user or agent keys\n");
		return 1;
	}
	if (ifile && !(g_ids = fopen(ifile, "w"))) {
		perror(ifile);
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
			fprintf(stderr, "verify: cannot connect to %s: %s\n", g_target.hostport,
				strerror(errno));
			return 1;
		}
	}
	uint64_t t0 = bh_now_ns();
	for (int i = 0; i < nw; i++)
		if (pthread_create(&ws[i].th, NULL, ws[i].agent ? agent_main : user_main, &ws[i]) !=
		    0) {
			fprintf(stderr, "verify: pthread_create failed\n");
			return 1;
		}
	for (int i = 0; i < nu; i++)
		pthread_join(ws[i].th, NULL);
	if (atomic_load(&g_created) < g_jobs)
		g_jobs = atomic_load(
			&g_created); /* some creates failed: the agents stop at what exists */
	for (int i = nu; i < nw; i++)
		pthread_join(ws[i].th, NULL);
	double wall = (double)(bh_now_ns() - t0) / 1e9;
	if (g_ids)
		fclose(g_ids);
	long done = g_create_only ? atomic_load(&g_created) : atomic_load(&g_submitted);
	printf("{\"jobs\":%ld,\"created\":%ld,\"submitted\":%ld,\"users\":%d,\"agents\":%d,"
	       "\"seconds\":%.3f,\"jobs_per_s\":%.1f,\"empty_pulls\":%ld,\"errors\":%ld,"
	       "\"output_bytes\":%zu}\n",
	       g_jobs, atomic_load(&g_created), atomic_load(&g_submitted), nu, na, wall,
	       (double)done / wall, atomic_load(&g_empty_pulls), atomic_load(&g_errors),
	       output ? strlen(output) : 0);
	bh_target_free(&g_target);
	return atomic_load(&g_errors) ? 1 : 0;
}
