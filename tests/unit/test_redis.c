/* Unit tests of redis.c: the async client, readiness and stream helpers, against a real Redis. */
#include <hiredis/hiredis.h>
#include <stdint.h>

#include "clock.h"
#include "redis.h"
#include "testdb.h"

/* ===== The test server ===== */

static char redis_host[256];
static int redis_port;

/* A started client of the test server, ready. */
static redis_client *client_open(struct event_base *base)
{
	tdb_redis_env(redis_host, sizeof redis_host, &redis_port);
	return tdb_redis_open(base, redis_host, redis_port, 3000);
}

/* ===== Recording replies ===== */

/* What one command's callback saw: the reply flattened to what the tests need. */
typedef struct reply {
	int calls;
	int inside; /* called from inside the sending call */
	int had_reply;
	int type;
	long long integer;
	char str[256];	 /* string, status or error text */
	size_t len;	 /* its length */
	char error[256]; /* the callback's `error`, "" when NULL */
	int error_null;
	size_t elements;
} reply;

static int in_call; /* set around the client's sending calls */
static int replies_seen;

static void on_reply(void *arg, redisReply *r, const char *error)
{
	reply *out = arg;
	out->calls++;
	out->inside |= in_call;
	replies_seen++;
	out->had_reply = r != NULL;
	out->error_null = error == NULL;
	snprintf(out->error, sizeof out->error, "%s", error ? error : "");
	if (!r)
		return;
	out->type = r->type;
	out->integer = r->integer;
	out->elements = r->elements;
	if (r->str) {
		out->len = r->len;
		memcpy(out->str, r->str, r->len < sizeof out->str ? r->len : sizeof out->str - 1);
		out->str[r->len < sizeof out->str ? r->len : sizeof out->str - 1] = '\0';
	}
}

/* Runs the loop until `n` more replies arrived. Returns 1 when they did. */
static int wait_replies(struct event_base *base, int n, int timeout_ms)
{
	return tdb_loop_until_more(base, &replies_seen, n, timeout_ms);
}

/* Sends the command `argv` (NUL-terminated strings) and waits for its reply. */
static void run_argv(struct event_base *base, redis_client *c, reply *out, int argc,
		     const char *const *argv)
{
	memset(out, 0, sizeof *out);
	in_call = 1;
	CHECK_INT(redis_command_argv(c, on_reply, out, argc, argv, NULL), 0);
	in_call = 0;
	CHECK(wait_replies(base, 1, 3000));
	CHECK_INT(out->calls, 1);
	CHECK(!out->inside);
}

#define RUN(base, c, out, ...)                                                                    \
	do {                                                                                      \
		const char *run_args_[] = { __VA_ARGS__ };                                        \
		run_argv(base, c, out, (int)(sizeof run_args_ / sizeof run_args_[0]), run_args_); \
	} while (0)

/*
 * A reply kept whole for the stream tests, which look inside arrays.
 * The callback copies what it needs through this visitor.
 */
typedef struct stream_reply {
	int calls;
	int type;
	char ids[8][64];       /* entry ids found, in order */
	char fields[8][2][64]; /* first field and value of each entry */
	int nids;
	char next_start[64]; /* XAUTOCLAIM: the cursor */
	char error[256];
} stream_reply;

/* Copies the entries of an [[id, [field, value, …]], …] array. */
static void copy_entries(stream_reply *out, const redisReply *entries)
{
	if (!entries || entries->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < entries->elements && out->nids < 8; i++) {
		const redisReply *e = entries->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
			continue;
		snprintf(out->ids[out->nids], sizeof out->ids[0], "%s", e->element[0]->str);
		const redisReply *kv = e->element[1];
		if (kv->type == REDIS_REPLY_ARRAY && kv->elements >= 2) {
			snprintf(out->fields[out->nids][0], 64, "%s", kv->element[0]->str);
			snprintf(out->fields[out->nids][1], 64, "%s", kv->element[1]->str);
		}
		out->nids++;
	}
}

/* XREADGROUP: [[stream, [[id, fields], …]]] or nil. */
static void on_read(void *arg, redisReply *r, const char *error)
{
	stream_reply *out = arg;
	out->calls++;
	replies_seen++;
	snprintf(out->error, sizeof out->error, "%s", error ? error : "");
	if (!r)
		return;
	out->type = r->type;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
	    r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2)
		copy_entries(out, r->element[0]->element[1]);
}

/* XAUTOCLAIM: [next-start, [[id, fields], …], (deleted ids)]. */
static void on_claim(void *arg, redisReply *r, const char *error)
{
	stream_reply *out = arg;
	out->calls++;
	replies_seen++;
	snprintf(out->error, sizeof out->error, "%s", error ? error : "");
	if (!r)
		return;
	out->type = r->type;
	if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
		snprintf(out->next_start, sizeof out->next_start, "%s", r->element[0]->str);
		copy_entries(out, r->element[1]);
	}
}

/* Adds one entry {field: value} to `stream`; returns its id in `id`. */
static void add_entry(struct event_base *base, redis_client *c, const char *stream,
		      const char *field, const char *value, char id[64])
{
	reply r;
	memset(&r, 0, sizeof r);
	const char *fields[] = { field, value };
	in_call = 1;
	CHECK_INT(redis_xadd(c, stream, 1000, 1, fields, on_reply, &r), 0);
	in_call = 0;
	CHECK(wait_replies(base, 1, 3000));
	CHECK_INT(r.calls, 1);
	CHECK(!r.inside);
	CHECK(r.had_reply);
	CHECK_INT(r.type, REDIS_REPLY_STRING);
	CHECK(r.error_null);
	snprintf(id, 64, "%.63s", r.str);
}

static void create_group(struct event_base *base, redis_client *c, const char *stream,
			 const char *group)
{
	reply r;
	memset(&r, 0, sizeof r);
	CHECK_INT(redis_xgroup_create(c, stream, group, "0", on_reply, &r), 0);
	CHECK(wait_replies(base, 1, 3000));
	CHECK_INT(r.calls, 1);
	CHECK(r.error_null);
}

/* ===== Tests ===== */

static void test_ready_soon(void)
{
	tdb_redis_env(redis_host, sizeof redis_host, &redis_port);
	struct event_base *base = event_base_new();
	redis_client *c = redis_client_new(base, redis_host, redis_port, 0, NULL, "test");
	CHECK(c != NULL);
	CHECK(!redis_ready(c));
	int64_t start = clock_mono_ms();
	redis_client_start(c);
	CHECK(tdb_loop_until(base, tdb_redis_ready, c, 3000));
	CHECK(clock_mono_ms() - start <= 1500);
	/* Still ready a few health ticks later. */
	tdb_loop_for(base, 2500);
	CHECK(redis_ready(c));
	redis_client_free(c);
	event_base_free(base);
	CHECK(!redis_ready(NULL));
	redis_client_free(NULL);
}

static void test_set_get_round_trip(void)
{
	struct event_base *base = event_base_new();
	redis_client *c = client_open(base);
	const char *key = tdb_redis_key("kv");
	reply r;
	memset(&r, 0, sizeof r);
	in_call = 1;
	CHECK_INT(redis_command(c, on_reply, &r, "SET %s %s", key, "hello world"), 0);
	in_call = 0;
	CHECK(wait_replies(base, 1, 3000));
	CHECK_INT(r.calls, 1);
	CHECK(!r.inside);
	CHECK(r.had_reply);
	CHECK_INT(r.type, REDIS_REPLY_STATUS);
	CHECK_STR(r.str, "OK");
	CHECK(r.error_null);
	RUN(base, c, &r, "GET", key);
	CHECK_INT(r.type, REDIS_REPLY_STRING);
	CHECK_STR(r.str, "hello world");

	/* Binary safe: a value with a NUL inside, given as an argument vector. */
	const char value[] = { 'a', '\0', 'b' };
	const char *argv[] = { "SET", key, value };
	const size_t lens[] = { 3, strlen(key), sizeof value };
	memset(&r, 0, sizeof r);
	in_call = 1;
	CHECK_INT(redis_command_argv(c, on_reply, &r, 3, argv, lens), 0);
	in_call = 0;
	CHECK(wait_replies(base, 1, 3000));
	CHECK(!r.inside);
	CHECK_STR(r.str, "OK");
	RUN(base, c, &r, "STRLEN", key);
	CHECK_INT(r.type, REDIS_REPLY_INTEGER);
	CHECK_INT(r.integer, 3);

	/* A Redis error arrives as an error reply with its text. */
	RUN(base, c, &r, "INCR", key);
	CHECK(r.had_reply);
	CHECK_INT(r.type, REDIS_REPLY_ERROR);
	CHECK(!r.error_null);
	CHECK(strstr(r.error, "not an integer") != NULL);

	/* A NULL callback is allowed. */
	CHECK_INT(redis_command(c, NULL, NULL, "DEL %s", key), 0);
	RUN(base, c, &r, "EXISTS", key);
	CHECK_INT(r.integer, 0);
	redis_client_free(c);
	event_base_free(base);
}

static void test_xadd_trims_and_counts(void)
{
	struct event_base *base = event_base_new();
	redis_client *c = client_open(base);
	const char *stream = tdb_redis_key("stream");
	char id[64];
	add_entry(base, c, stream, "job", "job_1", id);
	CHECK(strchr(id, '-') != NULL);
	reply r;
	RUN(base, c, &r, "XLEN", stream);
	CHECK_INT(r.type, REDIS_REPLY_INTEGER);
	CHECK_INT(r.integer, 1);

	/* Two fields, and MAXLEN ~ 10: Redis trims whole nodes (of 100 entries). */
	const char *fields[] = { "a", "1", "b", "2" };
	for (int i = 0; i < 249; i++) {
		memset(&r, 0, sizeof r);
		CHECK_INT(redis_xadd(c, stream, 10, 2, fields, on_reply, &r), 0);
		CHECK(wait_replies(base, 1, 3000));
		CHECK_INT(r.type, REDIS_REPLY_STRING);
	}
	RUN(base, c, &r, "XLEN", stream);
	CHECK(r.integer >= 10);
	CHECK(r.integer < 250);
	RUN(base, c, &r, "XREVRANGE", stream, "+", "-", "COUNT", "1");
	CHECK_INT(r.type, REDIS_REPLY_ARRAY);
	CHECK_INT(r.elements, 1);
	redis_client_free(c);
	event_base_free(base);
}

static void test_xgroup_create_twice(void)
{
	struct event_base *base = event_base_new();
	redis_client *c = client_open(base);
	const char *stream = tdb_redis_key("groups");
	reply r;
	memset(&r, 0, sizeof r);
	in_call = 1;
	CHECK_INT(redis_xgroup_create(c, stream, "workers", "$", on_reply, &r), 0);
	in_call = 0;
	CHECK(wait_replies(base, 1, 3000));
	CHECK_INT(r.calls, 1);
	CHECK(!r.inside);
	CHECK(r.had_reply);
	CHECK_INT(r.type, REDIS_REPLY_STATUS);
	CHECK_STR(r.str, "OK");
	CHECK(r.error_null);

	/* BUSYGROUP: success, with no reply and no error. */
	memset(&r, 0, sizeof r);
	CHECK_INT(redis_xgroup_create(c, stream, "workers", "$", on_reply, &r), 0);
	CHECK(wait_replies(base, 1, 3000));
	CHECK_INT(r.calls, 1);
	CHECK(!r.had_reply);
	CHECK(r.error_null);

	/* Another error is still an error: a group on a key that is not a stream. */
	const char *plain = tdb_redis_key("plain");
	reply set;
	RUN(base, c, &set, "SET", plain, "x");
	memset(&r, 0, sizeof r);
	CHECK_INT(redis_xgroup_create(c, plain, "workers", "$", on_reply, &r), 0);
	CHECK(wait_replies(base, 1, 3000));
	CHECK(r.had_reply);
	CHECK_INT(r.type, REDIS_REPLY_ERROR);
	CHECK(!r.error_null);
	CHECK(strstr(r.error, "WRONGTYPE") != NULL);
	redis_client_free(c);
	event_base_free(base);
}

static void test_read_and_ack(void)
{
	struct event_base *base = event_base_new();
	redis_client *c = client_open(base);
	const char *stream = tdb_redis_key("work");
	create_group(base, c, stream, "g");
	char id[64];
	add_entry(base, c, stream, "job_id", "job_42", id);

	stream_reply sr;
	memset(&sr, 0, sizeof sr);
	CHECK_INT(redis_xreadgroup(c, "g", "c1", stream, ">", 10, -1, on_read, &sr), 0);
	CHECK(wait_replies(base, 1, 3000));
	CHECK_INT(sr.calls, 1);
	CHECK_INT(sr.type, REDIS_REPLY_ARRAY);
	CHECK_INT(sr.nids, 1);
	CHECK_STR(sr.ids[0], id);
	CHECK_STR(sr.fields[0][0], "job_id");
	CHECK_STR(sr.fields[0][1], "job_42");

	/* Nothing new for ">" now; a short BLOCK answers nil. */
	memset(&sr, 0, sizeof sr);
	int64_t start = clock_mono_ms();
	CHECK_INT(redis_xreadgroup(c, "g", "c1", stream, ">", 10, 100, on_read, &sr), 0);
	CHECK(wait_replies(base, 1, 3000));
	CHECK_INT(sr.calls, 1);
	CHECK_INT(sr.type, REDIS_REPLY_NIL);
	CHECK(clock_mono_ms() - start >= 90);

	/* The entry is pending for c1 until acknowledged. */
	memset(&sr, 0, sizeof sr);
	CHECK_INT(redis_xreadgroup(c, "g", "c1", stream, "0", 10, -1, on_read, &sr), 0);
	CHECK(wait_replies(base, 1, 3000));
	CHECK_INT(sr.nids, 1);
	CHECK_STR(sr.ids[0], id);

	reply r;
	memset(&r, 0, sizeof r);
	in_call = 1;
	CHECK_INT(redis_xack(c, stream, "g", id, on_reply, &r), 0);
	in_call = 0;
	CHECK(wait_replies(base, 1, 3000));
	CHECK(!r.inside);
	CHECK_INT(r.type, REDIS_REPLY_INTEGER);
	CHECK_INT(r.integer, 1);
	memset(&r, 0, sizeof r);
	CHECK_INT(redis_xack(c, stream, "g", id, on_reply, &r), 0);
	CHECK(wait_replies(base, 1, 3000));
	CHECK_INT(r.integer, 0);

	memset(&sr, 0, sizeof sr);
	CHECK_INT(redis_xreadgroup(c, "g", "c1", stream, "0", 10, -1, on_read, &sr), 0);
	CHECK(wait_replies(base, 1, 3000));
	CHECK_INT(sr.nids, 0);
	redis_client_free(c);
	event_base_free(base);
}

static void test_xautoclaim_takes_unacked(void)
{
	struct event_base *base = event_base_new();
	redis_client *c = client_open(base);
	const char *stream = tdb_redis_key("claims");
	create_group(base, c, stream, "g");
	char acked[64], left[64];
	add_entry(base, c, stream, "n", "1", acked);
	add_entry(base, c, stream, "n", "2", left);

	stream_reply sr;
	memset(&sr, 0, sizeof sr);
	CHECK_INT(redis_xreadgroup(c, "g", "first", stream, ">", 10, -1, on_read, &sr), 0);
	CHECK(wait_replies(base, 1, 3000));
	CHECK_INT(sr.nids, 2);
	reply r;
	memset(&r, 0, sizeof r);
	CHECK_INT(redis_xack(c, stream, "g", acked, on_reply, &r), 0);
	CHECK(wait_replies(base, 1, 3000));
	CHECK_INT(r.integer, 1);

	memset(&sr, 0, sizeof sr);
	CHECK_INT(redis_xautoclaim(c, stream, "g", "second", 0, "0-0", 10, on_claim, &sr), 0);
	CHECK(wait_replies(base, 1, 3000));
	CHECK_INT(sr.calls, 1);
	CHECK_STR(sr.error, "");
	CHECK_INT(sr.type, REDIS_REPLY_ARRAY);
	CHECK_STR(sr.next_start, "0-0");
	CHECK_INT(sr.nids, 1);
	CHECK_STR(sr.ids[0], left);
	CHECK_STR(sr.fields[0][1], "2");

	/* The entry now belongs to the second consumer. */
	memset(&sr, 0, sizeof sr);
	CHECK_INT(redis_xreadgroup(c, "g", "second", stream, "0", 10, -1, on_read, &sr), 0);
	CHECK(wait_replies(base, 1, 3000));
	CHECK_INT(sr.nids, 1);
	CHECK_STR(sr.ids[0], left);
	memset(&sr, 0, sizeof sr);
	CHECK_INT(redis_xreadgroup(c, "g", "first", stream, "0", 10, -1, on_read, &sr), 0);
	CHECK(wait_replies(base, 1, 3000));
	CHECK_INT(sr.nids, 0);

	/* A high min-idle claims nothing. */
	memset(&sr, 0, sizeof sr);
	CHECK_INT(redis_xautoclaim(c, stream, "g", "third", 60000, "0-0", 10, on_claim, &sr), 0);
	CHECK(wait_replies(base, 1, 3000));
	CHECK_INT(sr.type, REDIS_REPLY_ARRAY);
	CHECK_INT(sr.nids, 0);
	redis_client_free(c);
	event_base_free(base);
}

static void test_closed_port_fails_later(void)
{
	struct event_base *base = event_base_new();
	redis_client *c = redis_client_new(base, "127.0.0.1", tdb_closed_port(), 0, NULL, "closed");
	CHECK(c != NULL);
	redis_client_start(c);
	reply r[4];
	memset(r, 0, sizeof r);
	const char *fields[] = { "f", "v" };
	const char *argv[] = { "PING" };
	in_call = 1;
	CHECK_INT(redis_command(c, on_reply, &r[0], "GET %s", "x"), 0);
	CHECK_INT(redis_command_argv(c, on_reply, &r[1], 1, argv, NULL), 0);
	CHECK_INT(redis_xadd(c, "s", 10, 1, fields, on_reply, &r[2]), 0);
	CHECK_INT(redis_xgroup_create(c, "s", "g", "$", on_reply, &r[3]), 0);
	in_call = 0;
	for (int i = 0; i < 4; i++)
		CHECK_INT(r[i].calls, 0);
	CHECK(wait_replies(base, 4, 3000));
	for (int i = 0; i < 4; i++) {
		CHECK_INT(r[i].calls, 1);
		CHECK(!r[i].inside);
		CHECK(!r[i].had_reply);
		CHECK(!r[i].error_null);
		CHECK(r[i].error[0] != '\0');
	}
	tdb_loop_for(base, 1000);
	CHECK(!redis_ready(c));

	/* Still failing later, after reconnection attempts. */
	memset(r, 0, sizeof r);
	in_call = 1;
	CHECK_INT(redis_command(c, on_reply, &r[0], "GET %s", "x"), 0);
	in_call = 0;
	CHECK_INT(r[0].calls, 0);
	CHECK(wait_replies(base, 1, 3000));
	CHECK(!r[0].had_reply);
	CHECK(r[0].error[0] != '\0');
	redis_client_free(c);
	event_base_free(base);
}

static void test_free_fails_pending(void)
{
	struct event_base *base = event_base_new();
	redis_client *c = client_open(base);
	const char *stream = tdb_redis_key("blocked");
	create_group(base, c, stream, "g");
	/* A blocking read holds the connection; a command queued behind it. */
	stream_reply sr;
	memset(&sr, 0, sizeof sr);
	CHECK_INT(redis_xreadgroup(c, "g", "c", stream, ">", 1, 5000, on_read, &sr), 0);
	reply r;
	memset(&r, 0, sizeof r);
	CHECK_INT(redis_command(c, on_reply, &r, "PING"), 0);
	tdb_loop_for(base, 100);
	CHECK_INT(sr.calls + r.calls, 0);
	redis_client_free(c);
	tdb_loop_for(base, 100);
	CHECK_INT(sr.calls, 1);
	CHECK(sr.error[0] != '\0');
	CHECK_INT(r.calls, 1);
	CHECK(!r.had_reply);
	CHECK(r.error[0] != '\0');
	event_base_free(base);
}

static void test_reconnects_after_kill(void)
{
	struct event_base *base = event_base_new();
	redis_client *c = client_open(base);
	reply r;
	RUN(base, c, &r, "CLIENT", "ID");
	CHECK_INT(r.type, REDIS_REPLY_INTEGER);
	char id[32];
	snprintf(id, sizeof id, "%lld", r.integer);

	/* A blocking read in flight when the server drops the connection. */
	const char *stream = tdb_redis_key("killed");
	create_group(base, c, stream, "g");
	stream_reply sr;
	memset(&sr, 0, sizeof sr);
	CHECK_INT(redis_xreadgroup(c, "g", "c", stream, ">", 1, 5000, on_read, &sr), 0);
	tdb_loop_for(base, 50);
	redisContext *rc = redisConnect(redis_host, redis_port);
	CHECK(rc && !rc->err);
	redisReply *kill = redisCommand(rc, "CLIENT KILL ID %s", id);
	CHECK(kill && kill->type == REDIS_REPLY_INTEGER && kill->integer == 1);
	freeReplyObject(kill);
	redisFree(rc);

	CHECK(wait_replies(base, 1, 3000));
	CHECK_INT(sr.calls, 1);
	CHECK(sr.error[0] != '\0');

	/* Re-made with back-off: ready again, and commands work on the new connection. */
	int64_t deadline = clock_mono_ms() + 5000;
	int ok = 0;
	while (!ok && clock_mono_ms() < deadline) {
		tdb_loop_for(base, 50);
		if (!redis_ready(c))
			continue;
		RUN(base, c, &r, "CLIENT", "ID");
		ok = r.had_reply && r.type == REDIS_REPLY_INTEGER;
	}
	CHECK(ok);
	char again[32];
	snprintf(again, sizeof again, "%lld", r.integer);
	CHECK(strcmp(id, again) != 0);
	redis_client_free(c);
	event_base_free(base);
}

static redis_client *freed_in_callback;

static void on_reply_free_client(void *arg, redisReply *r, const char *error)
{
	on_reply(arg, r, error);
	redis_client_free(freed_in_callback);
	freed_in_callback = NULL;
}

/* Freeing the client from inside one of its reply callbacks (a shutdown path). */
static void test_free_from_callback(void)
{
	struct event_base *base = event_base_new();
	redis_client *c = client_open(base);
	reply first, second;
	memset(&first, 0, sizeof first);
	memset(&second, 0, sizeof second);
	freed_in_callback = c;
	CHECK_INT(redis_command(c, on_reply_free_client, &first, "PING"), 0);
	CHECK_INT(redis_command(c, on_reply, &second, "PING"), 0);
	CHECK(wait_replies(base, 2, 3000));
	tdb_loop_for(base, 100);
	CHECK_INT(first.calls, 1);
	CHECK(first.had_reply);
	CHECK_INT(second.calls, 1);
	event_base_free(base);
}

TEST_MAIN(TEST(test_ready_soon), TEST(test_set_get_round_trip), TEST(test_xadd_trims_and_counts),
	  TEST(test_xgroup_create_twice), TEST(test_read_and_ack),
	  TEST(test_xautoclaim_takes_unacked), TEST(test_closed_port_fails_later),
	  TEST(test_free_fails_pending), TEST(test_reconnects_after_kill),
	  TEST(test_free_from_callback))
