/* Unit tests of http_client.c: libcurl multi-socket on the libevent loop, against a fake server. */
#include "clock.h"
#include "http_client.h"
#include "testdb.h"

#define BIG_BODY (HTTP_CLIENT_MAX_BODY + HTTP_CLIENT_MAX_BODY / 2)

static void server_handler(int fd, const fake_request *req)
{
	const char *p = req->path;
	if (strcmp(p, "/echo") == 0) {
		fake_reply(fd, 200, "Content-Type: application/octet-stream\r\n", req->body,
			   req->len);
	} else if (strcmp(p, "/retry") == 0) {
		fake_reply(fd, 503, "Retry-After: 7\r\n", "busy", 4);
	} else if (strcmp(p, "/retry-date") == 0) {
		fake_reply(fd, 503, "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n", "busy", 4);
	} else if (strcmp(p, "/retry-date-ahead") == 0) {
		char header[96], when[64];
		time_t t = time(NULL) + 3600;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(when, sizeof when, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		snprintf(header, sizeof header, "Retry-After: %s\r\n", when);
		fake_reply(fd, 503, header, "busy", 4);
	} else if (strcmp(p, "/retry-garbage") == 0) {
		fake_reply(fd, 503, "Retry-After: soon\r\n", "busy", 4);
	} else if (strcmp(p, "/redirect") == 0) {
		fake_reply(fd, 302, "Location: /followed\r\n", "moved", 5);
	} else if (strcmp(p, "/followed") == 0) {
		fake_reply(fd, 200, NULL, "followed", 8);
	} else if (strcmp(p, "/slow") == 0) {
		sleep(5);
		fake_reply(fd, 200, NULL, "late", 4);
	} else if (strcmp(p, "/close") == 0) {
		/* no answer at all */
	} else if (strcmp(p, "/big") == 0) {
		char *big = malloc(BIG_BODY);
		if (!big)
			return;
		for (size_t i = 0; i < BIG_BODY; i++)
			big[i] = (char)('a' + i % 26);
		fake_reply(fd, 200, NULL, big, BIG_BODY);
		free(big);
	} else {
		fake_reply(fd, 404, NULL, "not found", 9);
	}
}

/* ===== Requests and their answers ===== */

/* What one request's callback saw. */
typedef struct answer {
	int calls;
	int inside; /* called from inside http_client_post() */
	long status;
	char *body; /* a copy */
	size_t len;
	char error[256];
	int has_error;
	double latency_ms;
	long retry_after_s;
	int64_t at_ms;
} answer;

static int in_post;
static int answers_seen;

static void on_answer(void *arg, const http_response *resp)
{
	answer *a = arg;
	a->calls++;
	answers_seen++;
	a->inside |= in_post;
	a->status = resp->status;
	free(a->body);
	a->body = malloc(resp->len + 1);
	CHECK(a->body != NULL);
	CHECK(resp->body != NULL);
	memcpy(a->body, resp->body, resp->len);
	a->body[resp->len] = '\0';
	CHECK_INT(resp->body[resp->len], '\0');
	a->len = resp->len;
	a->has_error = resp->error != NULL;
	snprintf(a->error, sizeof a->error, "%s", resp->error ? resp->error : "");
	a->latency_ms = resp->latency_ms;
	a->retry_after_s = resp->retry_after_s;
	a->at_ms = clock_mono_ms();
}

static int answered(const void *arg)
{
	return ((const answer *)arg)->calls > 0;
}

static char url_buf[256];

static const char *url(int port, const char *path)
{
	snprintf(url_buf, sizeof url_buf, "http://127.0.0.1:%d%s", port, path);
	return url_buf;
}

/* POSTs and checks the callback did not run inside the call. */
static void post(http_client *c, const char *to, const char *const *headers, const char *body,
		 size_t len, long timeout_ms, answer *a)
{
	in_post = 1;
	int r = http_client_post(c, to, headers, body, len, timeout_ms, on_answer, a);
	in_post = 0;
	CHECK_INT(r, 0);
	CHECK_INT(a->calls, 0);
}

/* POSTs `body` to `to` and runs the loop until the answer and a little after. */
static answer request(struct event_base *base, http_client *c, const char *to, const char *body,
		      long timeout_ms)
{
	answer a;
	memset(&a, 0, sizeof a);
	post(c, to, NULL, body, strlen(body), timeout_ms, &a);
	CHECK(tdb_loop_until(base, answered, &a, 15000));
	tdb_loop_for(base, 30);
	CHECK_INT(a.calls, 1);
	CHECK(!a.inside);
	return a;
}

/* ===== Tests ===== */

static void test_post_answers(void)
{
	int port = fake_start(server_handler, 2);
	struct event_base *base = event_base_new();
	http_client *c = http_client_new(base);
	CHECK(c != NULL);
	CHECK_INT(http_client_inflight(c), 0);

	/* A binary body with NUL bytes goes and comes back whole. */
	char body[300];
	for (size_t i = 0; i < sizeof body; i++)
		body[i] = (char)(i * 13);
	body[0] = '\0';
	static const char *const headers[] = { "Content-Type: application/json", "X-Test: yes",
					       NULL };
	answer a;
	memset(&a, 0, sizeof a);
	int64_t start = clock_mono_ms();
	post(c, url(port, "/echo"), headers, body, sizeof body, 5000, &a);
	CHECK_INT(http_client_inflight(c), 1);
	CHECK(tdb_loop_until(base, answered, &a, 10000));
	CHECK_INT(a.calls, 1);
	CHECK(!a.inside);
	CHECK(!a.has_error);
	CHECK_INT(a.status, 200);
	CHECK_INT(a.len, sizeof body);
	CHECK(memcmp(a.body, body, sizeof body) == 0);
	CHECK_INT(a.retry_after_s, -1);
	CHECK(a.latency_ms > 0);
	CHECK(a.latency_ms <= (double)(a.at_ms - start) + 1);
	CHECK_INT(http_client_inflight(c), 0);

	/* The request as the server read it. */
	char *log = fake_log();
	CHECK(strstr(log, "POST /echo HTTP/1.1") != NULL);
	CHECK(strstr(log, "Content-Type: application/json") != NULL);
	CHECK(strstr(log, "X-Test: yes") != NULL);
	CHECK(strstr(log, "Content-Length: 300") != NULL);
	CHECK(strstr(log, "Expect:") == NULL);
	free(log);

	/* Without extra headers; an empty body; other statuses are answers too. */
	answer e = request(base, c, url(port, "/echo"), "", 5000);
	CHECK_INT(e.status, 200);
	CHECK_INT(e.len, 0);
	CHECK_STR(e.body, "");
	CHECK(!e.has_error);
	answer nf = request(base, c, url(port, "/nothing"), "x", 5000);
	CHECK_INT(nf.status, 404);
	CHECK(!nf.has_error);
	CHECK_STR(nf.body, "not found");
	free(a.body);
	free(e.body);
	free(nf.body);
	http_client_free(c);
	event_base_free(base);
}

static void test_retry_after(void)
{
	int port = fake_start(server_handler, 1);
	struct event_base *base = event_base_new();
	http_client *c = http_client_new(base);
	CHECK(c != NULL);
	answer a = request(base, c, url(port, "/retry"), "{}", 5000);
	CHECK(!a.has_error);
	CHECK_INT(a.status, 503);
	CHECK_INT(a.retry_after_s, 7);
	CHECK_STR(a.body, "busy");
	/* An HTTP date in the past: retry at once. */
	answer d = request(base, c, url(port, "/retry-date"), "{}", 5000);
	CHECK_INT(d.status, 503);
	CHECK_INT(d.retry_after_s, 0);
	/* An HTTP date ahead: the seconds until then. */
	answer f = request(base, c, url(port, "/retry-date-ahead"), "{}", 5000);
	CHECK_INT(f.status, 503);
	CHECK(f.retry_after_s >= 3590 && f.retry_after_s <= 3600);
	/* Neither a number nor a date: none. */
	answer g = request(base, c, url(port, "/retry-garbage"), "{}", 5000);
	CHECK_INT(g.status, 503);
	CHECK_INT(g.retry_after_s, -1);
	/* A later answer without the header does not inherit it. */
	answer e = request(base, c, url(port, "/echo"), "ok", 5000);
	CHECK_INT(e.status, 200);
	CHECK_INT(e.retry_after_s, -1);
	free(a.body);
	free(d.body);
	free(f.body);
	free(g.body);
	free(e.body);
	http_client_free(c);
	event_base_free(base);
}

static void test_no_redirect_followed(void)
{
	int port = fake_start(server_handler, 1);
	struct event_base *base = event_base_new();
	http_client *c = http_client_new(base);
	CHECK(c != NULL);
	answer a = request(base, c, url(port, "/redirect"), "{}", 5000);
	CHECK(!a.has_error);
	CHECK_INT(a.status, 302);
	CHECK_STR(a.body, "moved");
	tdb_loop_for(base, 200);
	char *log = fake_log();
	CHECK_INT(tdb_count(log, "POST /redirect "), 1);
	CHECK_INT(tdb_count(log, "/followed"), 0);
	free(log);
	free(a.body);
	http_client_free(c);
	event_base_free(base);
}

static void test_connection_refused(void)
{
	struct event_base *base = event_base_new();
	http_client *c = http_client_new(base);
	CHECK(c != NULL);
	int64_t start = clock_mono_ms();
	answer a = request(base, c, url(tdb_closed_port(), "/x"), "{}", 5000);
	CHECK(a.has_error);
	CHECK(a.error[0] != '\0');
	CHECK_INT(a.status, 0);
	CHECK_INT(a.retry_after_s, -1);
	CHECK(a.at_ms - start < 3000);
	CHECK_INT(http_client_inflight(c), 0);
	/* A scheme other than http(s) is refused the same way, later. */
	answer f = request(base, c, "ftp://127.0.0.1:1/x", "{}", 5000);
	CHECK(f.has_error);
	CHECK_INT(f.status, 0);
	free(a.body);
	free(f.body);
	http_client_free(c);
	event_base_free(base);
}

static void test_server_closes_without_answer(void)
{
	int port = fake_start(server_handler, 1);
	struct event_base *base = event_base_new();
	http_client *c = http_client_new(base);
	CHECK(c != NULL);
	answer a = request(base, c, url(port, "/close"), "{}", 5000);
	CHECK(a.has_error);
	CHECK_INT(a.status, 0);
	free(a.body);
	http_client_free(c);
	event_base_free(base);
}

static void test_timeout(void)
{
	int port = fake_start(server_handler, 1);
	struct event_base *base = event_base_new();
	http_client *c = http_client_new(base);
	CHECK(c != NULL);
	int64_t start = clock_mono_ms();
	answer a = request(base, c, url(port, "/slow"), "{}", 300);
	int64_t took = a.at_ms - start;
	CHECK(a.has_error);
	CHECK_INT(a.status, 0);
	if (took < 250 || took > 1500) {
		fprintf(stderr, "the timeout came after %lld ms (timeout 300 ms)\n",
			(long long)took);
		exit(1);
	}
	CHECK(a.latency_ms >= 250 && a.latency_ms < 1500);
	CHECK_INT(http_client_inflight(c), 0);
	free(a.body);
	http_client_free(c);
	event_base_free(base);
}

static void test_big_body_is_capped(void)
{
	int port = fake_start(server_handler, 1);
	struct event_base *base = event_base_new();
	http_client *c = http_client_new(base);
	CHECK(c != NULL);
	answer a = request(base, c, url(port, "/big"), "{}", 10000);
	CHECK(!a.has_error);
	CHECK_INT(a.status, 200);
	CHECK_INT(a.len, HTTP_CLIENT_MAX_BODY);
	for (size_t i = 0; i < a.len; i += 4099)
		CHECK_INT(a.body[i], 'a' + (int)(i % 26));
	free(a.body);
	http_client_free(c);
	event_base_free(base);
}

#define MANY 200

static void test_many_concurrent(void)
{
	int port = fake_start(server_handler, 8);
	struct event_base *base = event_base_new();
	http_client *c = http_client_new(base);
	CHECK(c != NULL);
	answer *as = calloc(MANY, sizeof *as);
	char(*bodies)[32] = calloc(MANY, sizeof *bodies);
	CHECK(as != NULL && bodies != NULL);
	for (int i = 0; i < MANY; i++) {
		snprintf(bodies[i], sizeof bodies[i], "request number %d", i);
		post(c, url(port, "/echo"), NULL, bodies[i], strlen(bodies[i]), 20000, &as[i]);
	}
	/* Nothing was answered inside the calls; all are in flight. */
	CHECK_INT(answers_seen, 0);
	CHECK_INT(http_client_inflight(c), MANY);
	CHECK(tdb_loop_until_more(base, &answers_seen, MANY, 60000));
	tdb_loop_for(base, 100); /* a second answer would show up here */
	CHECK_INT(answers_seen, MANY);
	for (int i = 0; i < MANY; i++) {
		CHECK_INT(as[i].calls, 1);
		CHECK(!as[i].inside);
		if (as[i].has_error) {
			fprintf(stderr, "request %d: %s\n", i, as[i].error);
			exit(1);
		}
		CHECK_INT(as[i].status, 200);
		CHECK_STR(as[i].body, bodies[i]);
		free(as[i].body);
	}
	CHECK_INT(http_client_inflight(c), 0);
	char *log = fake_log();
	CHECK_INT(tdb_count(log, "POST /echo "), MANY);
	free(log);
	free(as);
	free(bodies);
	http_client_free(c);
	event_base_free(base);
}

/* A callback that starts another request: allowed, and not answered inside either. */
typedef struct chain {
	http_client *c;
	int port;
	answer first, second;
} chain;

static void on_first(void *arg, const http_response *resp)
{
	chain *ch = arg;
	on_answer(&ch->first, resp);
	in_post = 1;
	int r = http_client_post(ch->c, url(ch->port, "/echo"), NULL, "second", 6, 5000, on_answer,
				 &ch->second);
	in_post = 0;
	CHECK_INT(r, 0);
}

static void test_post_from_callback(void)
{
	int port = fake_start(server_handler, 2);
	struct event_base *base = event_base_new();
	http_client *c = http_client_new(base);
	CHECK(c != NULL);
	chain ch;
	memset(&ch, 0, sizeof ch);
	ch.c = c;
	ch.port = port;
	CHECK_INT(http_client_post(c, url(port, "/echo"), NULL, "first", 5, 5000, on_first, &ch),
		  0);
	CHECK(tdb_loop_until(base, answered, &ch.second, 10000));
	CHECK_INT(ch.first.calls, 1);
	CHECK_INT(ch.second.calls, 1);
	CHECK(!ch.second.inside);
	CHECK_STR(ch.first.body, "first");
	CHECK_STR(ch.second.body, "second");
	free(ch.first.body);
	free(ch.second.body);
	http_client_free(c);
	event_base_free(base);
}

static void test_free_fails_in_flight(void)
{
	int port = fake_start(server_handler, 4);
	struct event_base *base = event_base_new();
	http_client *c = http_client_new(base);
	CHECK(c != NULL);
	enum {
		N = 5
	};
	answer as[N];
	memset(as, 0, sizeof as);
	for (int i = 0; i < N; i++)
		post(c, url(port, "/slow"), NULL, "{}", 2, 20000, &as[i]);
	tdb_loop_for(base, 200); /* connected and sent */
	CHECK_INT(answers_seen, 0);
	CHECK_INT(http_client_inflight(c), N);
	http_client_free(c);
	/* Every callback ran, with an error, before http_client_free returned. */
	CHECK_INT(answers_seen, N);
	for (int i = 0; i < N; i++) {
		CHECK_INT(as[i].calls, 1);
		CHECK(as[i].has_error);
		CHECK(as[i].error[0] != '\0');
		CHECK_INT(as[i].status, 0);
		free(as[i].body);
	}
	/* Nothing fires afterwards. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	CHECK_INT(answers_seen, N);
	event_base_free(base);
	http_client_free(NULL);
}

TEST_MAIN(TEST(test_post_answers), TEST(test_retry_after), TEST(test_no_redirect_followed),
	  TEST(test_connection_refused), TEST(test_server_closes_without_answer),
	  TEST(test_timeout), TEST(test_big_body_is_capped), TEST(test_many_concurrent),
	  TEST(test_post_from_callback), TEST(test_free_fails_in_flight))
