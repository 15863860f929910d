/* Unit tests of outbox.c: publishing a job's events to Redis streams, and the relay. */
#include <hiredis/hiredis.h>
#include <jansson.h>

#include "clock.h"
#include "jobs.h"
#include "outbox.h"
#include "redis.h"
#include "testdb.h"

/* ===== The database, Redis and the outbox ===== */

static struct event_base *base;
static db_pool *pool;
static char *url;
static redis_client *redis;
static outbox ob;
static char redis_host[256];
static int redis_port;
static char prefix[96];

/* A started client of Redis at `port`; waits until it is ready when `wait`. */
static redis_client *client_open(int port, int wait)
{
	return tdb_redis_open(base, redis_host, port, wait ? 5000 : 0);
}

static void open_all(void)
{
	tdb_redis_env(redis_host, sizeof redis_host, &redis_port);
	tdb_redis_name(prefix, sizeof prefix, "");
	/* This test's streams, deleted at exit (also after a failed CHECK). */
	static const char *const streams[] = { "events", "verify", "dispatch" };
	for (size_t i = 0; i < sizeof streams / sizeof streams[0]; i++) {
		char key[128];
		snprintf(key, sizeof key, "%s%s", prefix, streams[i]);
		tdb_redis_delete_at_exit(key);
	}
	url = tdb_scratch_create("outbox");
	base = event_base_new();
	pool = tdb_pool_open_with_jobs(base, url, OUTBOX_STMTS, OUTBOX_STMTS_N);
	redis = client_open(redis_port, 1);
	ob.db = pool;
	ob.redis = redis;
	ob.prefix = prefix;
	ob.maxlen = 10000;
}

static void close_all(void)
{
	redis_client_free(redis);
	db_pool_free(pool);
	event_base_free(base);
	free(url);
}

/* ===== Jobs and their events ===== */

static char user[IDS_MAX_LEN], agent[IDS_MAX_LEN];

static void principals(void)
{
	tdb_principal(url, "user", NULL, user);
	tdb_principal(url, "agent", NULL, agent);
}

/* A free market job, queued (two events: pending_payment, queued). */
static char *job_new(char id[IDS_MAX_LEN])
{
	CHECK_INT(ids_new("job", id), 0);
	const char *p[] = { id, user };
	char v[32];
	tdb_value(url,
		  "SELECT outcome FROM market_create($1, $2, 'prj_00000000000000000000000000',"
		  " 'T', 'D', '- R', 'P', 0, 600, '[]', NULL, NULL, NULL, NULL)",
		  2, p, v, sizeof v);
	CHECK_STR(v, "ok");
	return id;
}

/* Pulls (the oldest queued job), accepts and submits `id`: three events, and one for verify. */
static void job_submit(const char *id)
{
	const char *p[] = { id, agent };
	char v[64];
	tdb_value(url, "SELECT job->>'id' FROM market_pull($1, 'w', '{}', 60)", 1, p + 1, v,
		  sizeof v);
	CHECK_STR(v, id);
	tdb_value(url, "SELECT outcome FROM market_accept($1, $2)", 2, p, v, sizeof v);
	CHECK_STR(v, "ok");
	tdb_value(url, "SELECT outcome FROM market_submit($1, $2, '{\"x\":1}', NULL)", 2, p, v,
		  sizeof v);
	CHECK_STR(v, "ok");
}

static long long unpublished(const char *job)
{
	const char *p[] = { job };
	return tdb_int(url,
		       "SELECT count(*) FROM outbox WHERE job_id = $1 AND published_at IS NULL", 1,
		       p);
}

static long long events_of(const char *job)
{
	const char *p[] = { job };
	return tdb_int(url, "SELECT count(*) FROM outbox WHERE job_id = $1", 1, p);
}

/* Makes the job's events look written `age` ago ("1 minute"). */
static void age(const char *job, const char *how_long)
{
	const char *p[] = { job, how_long };
	tdb_ok(url, "UPDATE outbox SET created_at = now() - $2::interval WHERE job_id = $1", 2, p);
}

/* Runs the loop until the job's events are all published, or `timeout_ms` pass. */
static int wait_published(const char *job, int timeout_ms)
{
	int64_t deadline = clock_mono_ms() + timeout_ms;
	while (clock_mono_ms() < deadline) {
		tdb_loop_for(base, 20);
		if (unpublished(job) == 0)
			return 1;
	}
	return unpublished(job) == 0;
}

/* ===== Reading the streams ===== */

/* One stream entry's fields. */
typedef struct entry {
	char event_id[64], type[64], job_id[64], created_at[64];
	char payload[2048];
	int nfields;
} entry;

/* Reads stream `<prefix><name>` whole into `out` (at most `max`); returns the count. */
static int stream_read(const char *name, entry *out, int max)
{
	redisContext *rc = redisConnect(redis_host, redis_port);
	CHECK(rc != NULL && !rc->err);
	redisReply *r = redisCommand(rc, "XRANGE %s%s - +", prefix, name);
	CHECK(r != NULL && r->type == REDIS_REPLY_ARRAY);
	int n = 0;
	for (size_t i = 0; i < r->elements; i++) {
		CHECK(n < max);
		entry *e = &out[n++];
		memset(e, 0, sizeof *e);
		redisReply *kv = r->element[i]->element[1];
		e->nfields = (int)kv->elements / 2;
		for (size_t f = 0; f + 1 < kv->elements; f += 2) {
			const char *k = kv->element[f]->str, *v = kv->element[f + 1]->str;
			char *dst = strcmp(k, "event_id") == 0	   ? e->event_id
				    : strcmp(k, "type") == 0	   ? e->type
				    : strcmp(k, "job_id") == 0	   ? e->job_id
				    : strcmp(k, "created_at") == 0 ? e->created_at
				    : strcmp(k, "payload") == 0	   ? e->payload
								   : NULL;
			CHECK(dst != NULL);
			snprintf(dst, strcmp(k, "payload") == 0 ? sizeof e->payload : 64, "%s", v);
		}
	}
	freeReplyObject(r);
	redisFree(rc);
	return n;
}

/*
 * Checks that `entries` are the outbox rows of `job` in stream `stream`,
 * in order, with every field as the row holds it, and that the rows are
 * marked published.
 */
static void check_entries(const entry *entries, int n, const char *job, const char *stream)
{
	const char *p[] = { job, stream };
	PGresult *res = tdb_exec(url,
				 "SELECT event_id, type, payload::text,"
				 " (extract(epoch FROM created_at) * 1000)::bigint,"
				 " published_at IS NOT NULL"
				 " FROM outbox WHERE job_id = $1 AND stream = $2 ORDER BY id",
				 2, p);
	CHECK_INT(PQresultStatus(res), PGRES_TUPLES_OK);
	CHECK_INT(PQntuples(res), n);
	for (int i = 0; i < n; i++) {
		const entry *e = &entries[i];
		CHECK_INT(e->nfields, 5);
		CHECK_STR(e->event_id, PQgetvalue(res, i, 0));
		CHECK_STR(e->type, PQgetvalue(res, i, 1));
		CHECK_STR(e->job_id, job);
		CHECK_STR(e->payload, PQgetvalue(res, i, 2));
		json_error_t jerr;
		json_t *payload = json_loads(e->payload, 0, &jerr);
		CHECK(payload != NULL);
		CHECK_STR(json_string_value(json_object_get(payload, "job_id")), job);
		json_decref(payload);
		int64_t ms = 0;
		CHECK_INT(clock_parse_rfc3339(e->created_at, &ms), 0);
		CHECK_INT(ms, strtoll(PQgetvalue(res, i, 3), NULL, 10));
		CHECK_STR(PQgetvalue(res, i, 4), "t");
	}
	PQclear(res);
}

/* Entries of `all` (n of them) that belong to `job`, copied to the front of `out`. */
static int entries_of(const entry *all, int n, const char *job, entry *out)
{
	int k = 0;
	for (int i = 0; i < n; i++)
		if (strcmp(all[i].job_id, job) == 0)
			out[k++] = all[i];
	return k;
}

/* ===== The relay's answer ===== */

typedef struct relayed {
	int calls;
	int published;
} relayed;

static void on_relayed(void *arg, int published)
{
	relayed *r = arg;
	r->calls++;
	r->published = published;
}

static int relay_done(const void *arg)
{
	return ((const relayed *)arg)->calls > 0;
}

static int relay(outbox *o, int limit)
{
	relayed r = { 0 };
	outbox_relay(o, limit, on_relayed, &r);
	CHECK(tdb_loop_until(base, relay_done, &r, 10000));
	tdb_loop_for(base, 20);
	CHECK_INT(r.calls, 1);
	return r.published;
}

/* ===== Tests ===== */

#define MAXE 64

/*
 * Waits until `job`'s events are published, then reads stream `stream`:
 * `expect` entries, `job`'s rows (check_entries). Caller frees.
 */
static entry *read_published(const char *job, const char *stream, int expect)
{
	CHECK(wait_published(job, 5000));
	entry *es = calloc(MAXE, sizeof *es);
	CHECK(es != NULL);
	CHECK_INT(stream_read(stream, es, MAXE), expect);
	check_entries(es, expect, job, stream);
	return es;
}

static void test_publish_job(void)
{
	open_all();
	principals();
	char a[IDS_MAX_LEN], b[IDS_MAX_LEN];
	job_new(a);
	job_new(b);
	CHECK_INT(events_of(a), 2);
	CHECK_INT(unpublished(a), 2);

	outbox_publish_job(&ob, a);
	entry *es = read_published(a, "events", 2);
	int n;
	CHECK_STR(es[0].type, "job.pending_payment");
	CHECK_STR(es[1].type, "job.queued");
	/* Only that job's. */
	CHECK_INT(unpublished(b), 2);

	/* Publishing again adds nothing. */
	outbox_publish_job(&ob, a);
	tdb_loop_for(base, 300);
	CHECK_INT(stream_read("events", es, MAXE), 2);

	/* Later transitions: their events, and the submission for the verifier. */
	job_submit(a);
	CHECK_INT(unpublished(a), 4);
	outbox_publish_job(&ob, a);
	CHECK(wait_published(a, 5000));
	n = stream_read("events", es, MAXE);
	CHECK_INT(n, 5);
	check_entries(es, n, a, "events");
	CHECK_STR(es[2].type, "job.held");
	CHECK_STR(es[3].type, "job.running");
	CHECK_STR(es[4].type, "job.submitted");
	n = stream_read("verify", es, MAXE);
	CHECK_INT(n, 1);
	check_entries(es, n, a, "verify");
	CHECK_STR(es[0].type, "job.submitted");
	CHECK_INT(unpublished(b), 2);
	free(es);
	close_all();
}

static void test_relay_publishes_old_unclaimed(void)
{
	open_all();
	principals();
	char old[IDS_MAX_LEN], fresh[IDS_MAX_LEN], claimed[IDS_MAX_LEN];
	job_new(old);
	job_new(fresh);
	job_new(claimed);
	age(old, "1 minute");
	age(claimed, "1 minute");
	const char *pc[] = { claimed };
	tdb_ok(url,
	       "UPDATE outbox SET claimed_until = now() + interval '1 minute' WHERE job_id = $1", 1,
	       pc);

	CHECK_INT(relay(&ob, 100), 2);
	CHECK_INT(unpublished(old), 0);
	CHECK_INT(unpublished(fresh), 2);
	CHECK_INT(unpublished(claimed), 2);
	entry *es = calloc(MAXE, sizeof *es), *mine = calloc(MAXE, sizeof *mine);
	CHECK(es != NULL && mine != NULL);
	int n = stream_read("events", es, MAXE);
	CHECK_INT(n, 2);
	check_entries(es, n, old, "events");

	/* Nothing more to do: rows younger than 2 s stay with their writer. */
	CHECK_INT(relay(&ob, 100), 0);
	CHECK_INT(stream_read("events", es, MAXE), 2);

	/* A lapsed claim is taken over; `limit` bounds a batch. */
	tdb_ok(url,
	       "UPDATE outbox SET claimed_until = now() - interval '1 second' WHERE job_id = $1", 1,
	       pc);
	age(fresh, "3 seconds");
	CHECK_INT(relay(&ob, 3), 3);
	CHECK_INT(relay(&ob, 3), 1);
	CHECK_INT(relay(&ob, 3), 0);
	CHECK_INT(unpublished(fresh) + unpublished(claimed), 0);
	n = stream_read("events", es, MAXE);
	CHECK_INT(n, 6);
	const char *jobs[] = { old, fresh, claimed };
	for (int j = 0; j < 3; j++) {
		int k = entries_of(es, n, jobs[j], mine);
		CHECK_INT(k, 2);
		check_entries(mine, k, jobs[j], "events");
	}
	/* Every event once. */
	for (int i = 0; i < n; i++)
		for (int k = i + 1; k < n; k++)
			CHECK(strcmp(es[i].event_id, es[k].event_id) != 0);
	free(es);
	free(mine);
	close_all();
}

/* Redis down: nothing is marked published (so the relay sends it later). */
static void test_redis_down_marks_nothing(void)
{
	open_all();
	principals();
	char a[IDS_MAX_LEN], b[IDS_MAX_LEN];
	job_new(a);
	job_new(b);
	age(a, "1 minute");
	redis_client *down = client_open(tdb_closed_port(), 0);
	outbox bad = ob;
	bad.redis = down;

	CHECK_INT(relay(&bad, 100), 0);
	CHECK_INT(unpublished(a), 2);
	outbox_publish_job(&bad, b);
	tdb_loop_for(base, 300);
	CHECK_INT(unpublished(b), 2);
	entry *es = calloc(MAXE, sizeof *es);
	CHECK(es != NULL);
	CHECK_INT(stream_read("events", es, MAXE), 0);

	/* Once the claims of the failed attempt lapse, a relay that reaches Redis sends all. */
	tdb_ok(url, "UPDATE outbox SET claimed_until = now() - interval '1 second'", 0, NULL);
	age(b, "1 minute");
	CHECK_INT(relay(&ob, 100), 4);
	CHECK_INT(unpublished(a) + unpublished(b), 0);
	CHECK_INT(stream_read("events", es, MAXE), 4);
	free(es);
	redis_client_free(down);
	close_all();
}

/*
 * After a relay could not reach Redis, the next relay that can publishes
 * the same events: a failed XADD leaves no claim that holds them back for
 * OUTBOX_CLAIM_SECONDS.
 */
static void test_redis_back_relay_publishes_at_once(void)
{
	open_all();
	principals();
	char a[IDS_MAX_LEN];
	job_new(a);
	age(a, "1 minute");
	redis_client *down = client_open(tdb_closed_port(), 0);
	outbox bad = ob;
	bad.redis = down;
	CHECK_INT(relay(&bad, 100), 0);
	CHECK_INT(unpublished(a), 2);

	int published = relay(&ob, 100);
	if (published != 2 || unpublished(a) != 0) {
		const char *p[] = { a };
		char v[64];
		tdb_value(url,
			  "SELECT extract(epoch FROM max(claimed_until) - now())::int FROM outbox"
			  " WHERE job_id = $1",
			  1, p, v, sizeof v);
		fprintf(stderr,
			"a relay with Redis back published %d of 2 events; the failed attempt's"
			" claims still hold them for %s s\n",
			published, v);
		exit(1);
	}
	redis_client_free(down);
	close_all();
}

static void test_database_unavailable(void)
{
	tdb_redis_env(redis_host, sizeof redis_host, &redis_port);
	base = event_base_new();
	pool = tdb_pool_unreachable(base, OUTBOX_STMTS, OUTBOX_STMTS_N);
	redis = client_open(redis_port, 1);
	snprintf(prefix, sizeof prefix, "errand:test:unused:");
	ob.db = pool;
	ob.redis = redis;
	ob.prefix = prefix;
	ob.maxlen = 100;
	CHECK_INT(relay(&ob, 10), -1);
	redis_client_free(redis);
	db_pool_free(pool);
	event_base_free(base);
}

/* ===== Events claimed by the statement that wrote them ===== */

static void on_created(void *arg, const char *outcome, json_t *row, const char *error)
{
	(void)row;
	CHECK(error == NULL);
	CHECK_STR(outcome, "ok");
	*(int *)arg = 1;
}

static int flag_set(const void *arg)
{
	return *(const int *)arg;
}

/* POST /v1/jobs's statement claims the new job's events: they are published and marked. */
static void test_publish_claimed(void)
{
	open_all();
	principals();
	const char *pa[] = { agent, "http://127.0.0.1:9/hook" };
	tdb_ok(url, "UPDATE principals SET webhook_url = $2 WHERE id = $1", 2, pa);
	char job[IDS_MAX_LEN];
	CHECK_INT(ids_new("job", job), 0);
	/* (id, sender, project, agent, parent, brief, metadata, attempts, time limit,
	 * output schema, verification, observers, run, reply hash, MCP hash) */
	const char *params[15] = { job, user, "prj_00000000000000000000000000", agent };
	params[5] = "{\"objective\": \"x\"}";
	params[7] = "3";
	params[8] = "3600";
	params[11] = "[]";
	int created = 0;
	CHECK_INT(jobs_call_publishing(pool, &ob, "dispatch_create", 15, params, on_created,
				       &created),
		  0);
	CHECK(tdb_loop_until(base, flag_set, &created, 10000));
	entry *es = read_published(job, "events", 1);
	CHECK_INT(events_of(job), 2);
	CHECK_STR(es[0].type, "job.queued");
	CHECK_INT(stream_read("dispatch", es, MAXE), 1);
	CHECK_STR(es[0].type, "webhook.message");
	CHECK_STR(es[0].job_id, job);
	/* Published once: nothing is left for a claim of the job or for the relay. */
	outbox_publish_job(&ob, job);
	tdb_loop_for(base, 200);
	CHECK_INT(stream_read("events", es, MAXE), 1);
	free(es);
	close_all();
}

TEST_MAIN(TEST(test_publish_job), TEST(test_relay_publishes_old_unclaimed),
	  TEST(test_redis_down_marks_nothing), TEST(test_redis_back_relay_publishes_at_once),
	  TEST(test_database_unavailable), TEST(test_publish_claimed))
