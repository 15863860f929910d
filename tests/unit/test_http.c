/* Unit tests of http.c: a server on loopback driven by libevent's HTTP client on the same loop. */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "http.h"
#include "ids.h"
#include "metrics.h"
#include "testdb.h"

#define MAX_BODY 1024
#define HARD_BODY 16384
#define MAX_DEPTH 8

static struct event_base *base;
static http_server *server;
static int port;

/* ===== Handlers ===== */

/* GET /v1/items/:id/parts/:part: echoes what the request reads. */
static void h_items(http_req *req, void *arg)
{
	(void)arg;
	const char *q = http_req_query(req, "q");
	const char *none = http_req_query(req, "none");
	json_t *body = json_pack(
		"{s:s?,s:s?,s:o,s:o,s:s,s:s,s:b}", "id", http_req_param(req, "id"), "part",
		http_req_param(req, "part"), "q", q ? json_string(q) : json_null(), "none",
		none ? json_string(none) : json_null(), "method", http_req_method(req), "path",
		http_req_path(req), "no_param", http_req_param(req, "nope") == NULL);
	http_reply_json(req, 200, body);
}

/* GET /v1/things/static, added before /v1/things/:name. */
static void h_static(http_req *req, void *arg)
{
	(void)arg;
	http_reply_json(req, 200, json_pack("{s:s}", "which", "static"));
}

static void h_thing(http_req *req, void *arg)
{
	(void)arg;
	http_reply_json(
		req, 200,
		json_pack("{s:s,s:s}", "which", "param", "name", http_req_param(req, "name")));
}

/* POST /v1/echo: the body parsed as an object, sent back. */
static void h_echo(http_req *req, void *arg)
{
	(void)arg;
	json_t *body = http_req_json(req);
	if (!body)
		return;
	CHECK(http_req_json(req) == body); /* parsed once, owned by the request */
	http_reply_json(req, 200, json_incref(body));
}

/* GET /v1/rid: the request id as the handler sees it. */
static void h_rid(http_req *req, void *arg)
{
	(void)arg;
	const char *given = http_req_header(req, "X-Request-Id");
	http_reply_json(req, 200,
			json_pack("{s:s,s:o}", "id", http_req_id(req), "given",
				  given ? json_string(given) : json_null()));
}

/* GET /v1/extra: an error envelope with a member beside "error". */
static void h_extra(http_req *req, void *arg)
{
	(void)arg;
	http_reply_error_with(req, 402, "insufficient_funds",
			      json_pack("{s:{s:s,s:i}}", "job", "id", "job_1", "price", 250),
			      "top up first");
}

/* GET /v1/raw: a plain-text reply with an extra header. */
static void h_raw(http_req *req, void *arg)
{
	(void)arg;
	http_req_add_header(req, "X-Extra", "yes");
	http_reply_raw(req, 200, "text/plain", "hello", 5);
}

static int data_freed;

static void count_free(void *p)
{
	data_freed++;
	free(p);
}

/* GET /v1/data: per-request data, freed after the reply; a NULL body is {}. */
static void h_data(http_req *req, void *arg)
{
	(void)arg;
	char *d = strdup("state");
	CHECK(d != NULL);
	http_req_set_data(req, d, count_free);
	CHECK(http_req_data(req) == d);
	CHECK_INT(data_freed, 0);
	http_reply_json(req, 201, NULL);
}

/* GET /v1/later: held until `later_want` requests are in hand, then answered from a timer. */
#define LATER_MAX 4
static http_req *later_reqs[LATER_MAX];
static int later_n;
static int later_want = 1;
static int later_inflight_seen[LATER_MAX]; /* http_server_inflight() in each handler */
static int later_inflight_before = -1;	   /* in the timer, before replying */
static int later_inflight_after = -1;	   /* in the timer, after replying */
static struct event *later_timer;

static void later_fire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	later_inflight_before = http_server_inflight(server);
	for (int i = 0; i < later_n; i++)
		http_reply_json(later_reqs[i], 200, json_pack("{s:b,s:i}", "late", 1, "n", i));
	later_inflight_after = http_server_inflight(server);
}

static void h_later(http_req *req, void *arg)
{
	(void)arg;
	CHECK(later_n < LATER_MAX);
	later_inflight_seen[later_n] = http_server_inflight(server);
	later_reqs[later_n++] = req;
	if (later_n < later_want)
		return;
	later_timer = evtimer_new(base, later_fire, NULL);
	struct timeval tv = { 0, 50 * 1000 };
	evtimer_add(later_timer, &tv);
}

/* A server on 127.0.0.1, a free port, with every route above. */
static void server_open(void)
{
	base = event_base_new();
	CHECK(base != NULL);
	http_limits limits = { .max_body_bytes = MAX_BODY,
			       .hard_body_bytes = HARD_BODY,
			       .max_header_bytes = 8192,
			       .max_json_depth = MAX_DEPTH,
			       .timeout_s = 5 };
	server = http_server_new(base, &limits);
	CHECK(server != NULL);
	CHECK_INT(http_server_port(server), -1);
	CHECK_INT(http_route(server, "GET", "/v1/items/:id/parts/:part", h_items, NULL), 0);
	CHECK_INT(http_route(server, "GET", "/v1/things/static", h_static, NULL), 0);
	CHECK_INT(http_route(server, "GET", "/v1/things/:name", h_thing, NULL), 0);
	CHECK_INT(http_route(server, "POST", "/v1/echo", h_echo, NULL), 0);
	CHECK_INT(http_route(server, "GET", "/v1/rid", h_rid, NULL), 0);
	CHECK_INT(http_route(server, "GET", "/v1/extra", h_extra, NULL), 0);
	CHECK_INT(http_route(server, "GET", "/v1/raw", h_raw, NULL), 0);
	CHECK_INT(http_route(server, "GET", "/v1/data", h_data, NULL), 0);
	CHECK_INT(http_route(server, "GET", "/v1/later", h_later, NULL), 0);
	/*
	 * Port 0 is what the tests want; should it be refused (see
	 * test_listen_port_zero), a port found free keeps the other tests useful.
	 */
	if (http_server_listen(server, "127.0.0.1", 0) != 0) {
		int free_port = tdb_closed_port();
		CHECK_INT(http_server_listen(server, "127.0.0.1", free_port), 0);
		CHECK_INT(http_server_port(server), free_port);
	}
	port = http_server_port(server);
	CHECK(port > 0);
}

static void server_close(void)
{
	http_server_free(server);
	server = NULL;
	if (later_timer)
		event_free(later_timer);
	later_timer = NULL;
	event_base_free(base);
	base = NULL;
}

/* ===== The client ===== */

typedef struct response {
	int done;
	int status; /* 0 when the request failed */
	char body[32768];
	size_t len;
	char request_id[256];
	char content_type[128];
	char extra[64];
	json_t *json; /* the body parsed, or NULL */
} response;

static void on_response(struct evhttp_request *r, void *arg)
{
	response *out = arg;
	out->done = 1;
	if (!r)
		return;
	out->status = evhttp_request_get_response_code(r);
	struct evbuffer *in = evhttp_request_get_input_buffer(r);
	int n = evbuffer_remove(in, out->body, sizeof out->body - 1);
	out->len = n > 0 ? (size_t)n : 0;
	out->body[out->len] = '\0';
	struct evkeyvalq *h = evhttp_request_get_input_headers(r);
	const char *v = evhttp_find_header(h, "X-Request-Id");
	snprintf(out->request_id, sizeof out->request_id, "%s", v ? v : "");
	v = evhttp_find_header(h, "Content-Type");
	snprintf(out->content_type, sizeof out->content_type, "%s", v ? v : "");
	v = evhttp_find_header(h, "X-Extra");
	snprintf(out->extra, sizeof out->extra, "%s", v ? v : "");
}

static int response_done(const void *arg)
{
	return ((const response *)arg)->done;
}

/* Starts a request on a new connection (returned: free it after the response). */
static struct evhttp_connection *request_start(enum evhttp_cmd_type method, const char *uri,
					       const char *request_id, const char *body, size_t len,
					       response *out)
{
	memset(out, 0, sizeof *out);
	struct evhttp_connection *conn =
		evhttp_connection_base_new(base, NULL, "127.0.0.1", (unsigned short)port);
	CHECK(conn != NULL);
	struct evhttp_request *r = evhttp_request_new(on_response, out);
	CHECK(r != NULL);
	struct evkeyvalq *h = evhttp_request_get_output_headers(r);
	evhttp_add_header(h, "Host", "127.0.0.1");
	if (request_id)
		evhttp_add_header(h, "X-Request-Id", request_id);
	if (body) {
		evbuffer_add(evhttp_request_get_output_buffer(r), body, len);
		char n[32];
		snprintf(n, sizeof n, "%zu", len);
		evhttp_add_header(h, "Content-Type", "application/json");
		evhttp_add_header(h, "Content-Length", n);
	}
	CHECK_INT(evhttp_make_request(conn, r, method, uri), 0);
	return conn;
}

/* Makes one request and waits for its response; parses a JSON body. */
static void request(enum evhttp_cmd_type method, const char *uri, const char *request_id,
		    const char *body, size_t len, response *out)
{
	struct evhttp_connection *conn = request_start(method, uri, request_id, body, len, out);
	CHECK(tdb_loop_until(base, response_done, out, 5000));
	evhttp_connection_free(conn);
	CHECK(out->status != 0);
	out->json = json_loadb(out->body, out->len, 0, NULL);
}

static void get(const char *uri, response *out)
{
	request(EVHTTP_REQ_GET, uri, NULL, NULL, 0, out);
}

static void post(const char *uri, const char *body, response *out)
{
	request(EVHTTP_REQ_POST, uri, NULL, body, strlen(body), out);
}

static const char *str_at(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* Checks the error envelope {"error":{"code","message"}} of `r`. */
static void check_error(const response *r, int status, const char *code)
{
	if (r->status != status) {
		fprintf(stderr, "status %d (expected %d): %s\n", r->status, status, r->body);
		exit(1);
	}
	CHECK(r->json != NULL);
	json_t *err = json_object_get(r->json, "error");
	CHECK(json_is_object(err));
	CHECK_STR(str_at(err, "code"), code);
	CHECK(json_is_string(json_object_get(err, "message")));
	CHECK(strncmp(r->content_type, "application/json", 16) == 0);
}

static void response_clear(response *r)
{
	json_decref(r->json);
	r->json = NULL;
}

/* ===== Tests ===== */

static void test_route_params_and_query(void)
{
	server_open();
	response r;
	get("/v1/items/itm_1/parts/p2?q=hello%20world&x=1", &r);
	CHECK_INT(r.status, 200);
	CHECK(r.json != NULL);
	CHECK_STR(str_at(r.json, "id"), "itm_1");
	CHECK_STR(str_at(r.json, "part"), "p2");
	CHECK_STR(str_at(r.json, "q"), "hello world");
	CHECK(json_is_null(json_object_get(r.json, "none")));
	CHECK_STR(str_at(r.json, "method"), "GET");
	CHECK_STR(str_at(r.json, "path"), "/v1/items/itm_1/parts/p2");
	CHECK(json_is_true(json_object_get(r.json, "no_param")));
	CHECK(strncmp(r.content_type, "application/json", 16) == 0);
	response_clear(&r);

	/* Parameters are percent-decoded. */
	get("/v1/items/a%20b/parts/caf%C3%A9", &r);
	CHECK_INT(r.status, 200);
	CHECK_STR(str_at(r.json, "id"), "a b");
	CHECK_STR(str_at(r.json, "part"), "caf\xc3\xa9");
	CHECK(json_is_null(json_object_get(r.json, "q")));
	response_clear(&r);

	/* Routes are tried in the order added: the literal one comes first. */
	get("/v1/things/static", &r);
	CHECK_STR(str_at(r.json, "which"), "static");
	response_clear(&r);
	get("/v1/things/other", &r);
	CHECK_STR(str_at(r.json, "which"), "param");
	CHECK_STR(str_at(r.json, "name"), "other");
	response_clear(&r);
	server_close();
}

static void test_not_found_and_method_not_allowed(void)
{
	server_open();
	response r;
	get("/v1/nope", &r);
	check_error(&r, 404, HTTP_ERR_NOT_FOUND);
	response_clear(&r);
	/* One segment too few or too many, and an empty parameter. */
	get("/v1/items/x/parts", &r);
	check_error(&r, 404, HTTP_ERR_NOT_FOUND);
	response_clear(&r);
	get("/v1/items/x/parts/y/z", &r);
	check_error(&r, 404, HTTP_ERR_NOT_FOUND);
	response_clear(&r);
	get("/v1/items//parts/y", &r);
	check_error(&r, 404, HTTP_ERR_NOT_FOUND);
	response_clear(&r);
	get("/", &r);
	check_error(&r, 404, HTTP_ERR_NOT_FOUND);
	response_clear(&r);

	/* The path exists for another method. */
	post("/v1/items/x/parts/y", "{}", &r);
	check_error(&r, 405, HTTP_ERR_METHOD_NOT_ALLOWED);
	response_clear(&r);
	request(EVHTTP_REQ_DELETE, "/v1/rid", NULL, NULL, 0, &r);
	check_error(&r, 405, HTTP_ERR_METHOD_NOT_ALLOWED);
	response_clear(&r);
	get("/v1/echo", &r);
	check_error(&r, 405, HTTP_ERR_METHOD_NOT_ALLOWED);
	CHECK(strncmp(r.request_id, "req_", 4) == 0);
	response_clear(&r);
	server_close();
}

static void test_route_patterns_checked(void)
{
	server_open();
	CHECK_INT(http_route(server, "GET", "no/slash", h_raw, NULL), -1);
	CHECK_INT(http_route(server, "GET", "/1/2/3/4/5/6/7/8/9", h_raw, NULL), -1);
	CHECK_INT(http_route(server, "GET", "/1/2/3/4/5/6/7/8", h_raw, NULL), 0);
	response r;
	get("/1/2/3/4/5/6/7/8", &r);
	CHECK_INT(r.status, 200);
	CHECK_STR(r.body, "hello");
	CHECK_STR(r.content_type, "text/plain");
	CHECK_STR(r.extra, "yes");
	server_close();
}

static void test_request_ids(void)
{
	server_open();
	response r;
	/* A sane id is echoed, and is what the handler sees. */
	request(EVHTTP_REQ_GET, "/v1/rid", "client-42_a.b:c", NULL, 0, &r);
	CHECK_INT(r.status, 200);
	CHECK_STR(r.request_id, "client-42_a.b:c");
	CHECK_STR(str_at(r.json, "id"), "client-42_a.b:c");
	response_clear(&r);

	char longest[HTTP_REQUEST_ID_MAX + 1];
	memset(longest, 'x', HTTP_REQUEST_ID_MAX);
	longest[HTTP_REQUEST_ID_MAX] = '\0';
	request(EVHTTP_REQ_GET, "/v1/rid", longest, NULL, 0, &r);
	CHECK_STR(r.request_id, longest);
	response_clear(&r);

	/* Absent, or not sane: a new one. */
	const char *insane[] = { "has spaces in it", "semi;colon", "quote\"d", "slash/y", NULL };
	char too_long[101];
	memset(too_long, 'a', 100);
	too_long[100] = '\0';
	char seen[8][sizeof r.request_id];
	int nseen = 0;
	for (int i = -1; i < 5; i++) {
		const char *given = i < 0 ? NULL : i < 4 ? insane[i] : too_long;
		request(EVHTTP_REQ_GET, "/v1/rid", given, NULL, 0, &r);
		CHECK_INT(r.status, 200);
		if (!ids_valid(r.request_id, "req")) {
			fprintf(stderr, "for %s: request id %s\n", given ? given : "(none)",
				r.request_id);
			exit(1);
		}
		CHECK_STR(str_at(r.json, "id"), r.request_id);
		for (int j = 0; j < nseen; j++)
			CHECK(strcmp(seen[j], r.request_id) != 0);
		memcpy(seen[nseen++], r.request_id, sizeof r.request_id);
		response_clear(&r);
	}
	/* Errors produced by the module carry one too. */
	request(EVHTTP_REQ_GET, "/nowhere", "trace-1", NULL, 0, &r);
	CHECK_INT(r.status, 404);
	CHECK_STR(r.request_id, "trace-1");
	response_clear(&r);
	server_close();
}

static void test_json_bodies(void)
{
	server_open();
	response r;
	/* Empty: an empty object. */
	request(EVHTTP_REQ_POST, "/v1/echo", NULL, "", 0, &r);
	CHECK_INT(r.status, 200);
	CHECK(json_is_object(r.json));
	CHECK_INT(json_object_size(r.json), 0);
	response_clear(&r);

	post("/v1/echo", "{\"a\":[1,2],\"b\":\"x\"}", &r);
	CHECK_INT(r.status, 200);
	CHECK_INT(json_integer_value(json_array_get(json_object_get(r.json, "a"), 1)), 2);
	CHECK_STR(str_at(r.json, "b"), "x");
	response_clear(&r);

	const char *bad[] = { "{bad", "{\"a\":1",	   "[1,2]",	 "\"text\"", "42",
			      "null", "{\"a\":1,\"a\":2}", "{\"a\":1} x" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		post("/v1/echo", bad[i], &r);
		if (r.status != 400) {
			fprintf(stderr, "body %s: status %d\n", bad[i], r.status);
			exit(1);
		}
		check_error(&r, 400, HTTP_ERR_INVALID_JSON);
		response_clear(&r);
	}

	/* Depth: MAX_DEPTH levels pass, one more does not. */
	post("/v1/echo", "{\"a\":[[[[[[[1]]]]]]]}", &r);
	CHECK_INT(r.status, 200);
	response_clear(&r);
	post("/v1/echo", "{\"a\":[[[[[[[[1]]]]]]]]}", &r);
	check_error(&r, 400, HTTP_ERR_INVALID_JSON);
	response_clear(&r);
	char deep[4096];
	size_t n = 0;
	n += (size_t)snprintf(deep, sizeof deep, "{\"a\":");
	for (int i = 0; i < 400; i++)
		deep[n++] = '[';
	for (int i = 0; i < 400; i++)
		deep[n++] = ']';
	deep[n++] = '}';
	deep[n] = '\0';
	post("/v1/echo", deep, &r);
	check_error(&r, 400, HTTP_ERR_INVALID_JSON);
	response_clear(&r);

	/* Size: exactly the limit passes; above it (and under the hard limit) is 413. */
	static char big[MAX_BODY * 3];
	memset(big, 0, sizeof big);
	size_t len = MAX_BODY;
	snprintf(big, sizeof big, "{\"s\":\"");
	memset(big + 6, 'x', len - 8);
	memcpy(big + len - 2, "\"}", 2);
	request(EVHTTP_REQ_POST, "/v1/echo", NULL, big, len, &r);
	CHECK_INT(r.status, 200);
	CHECK_INT(strlen(str_at(r.json, "s")), len - 8);
	response_clear(&r);
	len = 2 * MAX_BODY;
	snprintf(big, sizeof big, "{\"s\":\"");
	memset(big + 6, 'x', len - 8);
	memcpy(big + len - 2, "\"}", 2);
	request(EVHTTP_REQ_POST, "/v1/echo", NULL, big, len, &r);
	check_error(&r, 413, HTTP_ERR_BODY_TOO_LARGE);
	response_clear(&r);
	server_close();
}

static void test_error_with_extra_members(void)
{
	server_open();
	response r;
	get("/v1/extra", &r);
	check_error(&r, 402, "insufficient_funds");
	CHECK_STR(str_at(json_object_get(r.json, "error"), "message"), "top up first");
	json_t *job = json_object_get(r.json, "job");
	CHECK(json_is_object(job));
	CHECK_STR(str_at(job, "id"), "job_1");
	CHECK_INT(json_integer_value(json_object_get(job, "price")), 250);
	CHECK_INT(json_object_size(r.json), 2);
	response_clear(&r);
	server_close();
}

static void test_data_and_empty_reply(void)
{
	server_open();
	response r;
	get("/v1/data", &r);
	CHECK_INT(r.status, 201);
	CHECK_STR(r.body, "{}");
	CHECK_INT(data_freed, 1);
	response_clear(&r);
	server_close();
}

static int later_all_done(const void *arg)
{
	const response *rs = arg;
	for (int i = 0; i < later_want; i++)
		if (!rs[i].done)
			return 0;
	return 1;
}

static void test_reply_later_and_inflight(void)
{
	server_open();
	CHECK_INT(http_server_inflight(server), 0);
	later_want = 3;
	response rs[3];
	struct evhttp_connection *conns[3];
	for (int i = 0; i < 3; i++)
		conns[i] = request_start(EVHTTP_REQ_GET, "/v1/later", NULL, NULL, 0, &rs[i]);
	CHECK(tdb_loop_until(base, later_all_done, rs, 5000));
	for (int i = 0; i < 3; i++) {
		CHECK_INT(rs[i].status, 200);
		json_t *j = json_loadb(rs[i].body, rs[i].len, 0, NULL);
		CHECK(json_is_true(json_object_get(j, "late")));
		json_decref(j);
		evhttp_connection_free(conns[i]);
	}
	/* Each handler saw itself and those before it in hand; all three until the timer replied. */
	CHECK_INT(later_inflight_seen[0], 1);
	CHECK_INT(later_inflight_seen[1], 2);
	CHECK_INT(later_inflight_seen[2], 3);
	CHECK_INT(later_inflight_before, 3);
	CHECK_INT(later_inflight_after, 0);
	CHECK_INT(http_server_inflight(server), 0);
	server_close();
}

static void test_metrics_count_requests(void)
{
	server_open();
	response r;
	for (int i = 0; i < 3; i++) {
		get("/v1/items/a/parts/b", &r);
		response_clear(&r);
	}
	get("/v1/unknown", &r);
	response_clear(&r);
	post("/v1/echo", "[]", &r);
	response_clear(&r);
	char *text = metrics_render();
	CHECK(text != NULL);
	const char *want[] = {
		"errand_http_requests_total{route=\"/v1/items/:id/parts/:part\",method=\"GET\","
		"status=\"200\"} 3\n",
		"errand_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 1\n",
		"errand_http_requests_total{route=\"/v1/echo\",method=\"POST\",status=\"400\"} 1\n",
		"errand_http_request_seconds_count{route=\"/v1/items/:id/parts/:part\"} 3\n",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		if (!strstr(text, want[i])) {
			fprintf(stderr, "missing %s in:\n%s\n", want[i], text);
			exit(1);
		}
	}
	free(text);
	server_close();
}

static void test_stop_accepting(void)
{
	server_open();
	response r;
	get("/v1/raw", &r);
	CHECK_INT(r.status, 200);
	http_server_stop_accepting(server);
	struct evhttp_connection *conn =
		request_start(EVHTTP_REQ_GET, "/v1/raw", NULL, NULL, 0, &r);
	evhttp_connection_set_timeout(conn, 1);
	evhttp_connection_set_retries(conn, 0);
	tdb_loop_until(base, response_done, &r, 300);
	/* Not answered: the listener no longer accepts. */
	CHECK(!r.done || r.status == 0);
	evhttp_connection_free(conn);
	server_close();
	http_server_free(NULL);
}

/* Listening on port 0 binds a free port, which http_server_port() reports. */
static void test_listen_port_zero(void)
{
	struct event_base *b = event_base_new();
	http_limits limits = { .max_body_bytes = MAX_BODY,
			       .hard_body_bytes = HARD_BODY,
			       .max_header_bytes = 8192,
			       .max_json_depth = MAX_DEPTH,
			       .timeout_s = 5 };
	http_server *s = http_server_new(b, &limits);
	CHECK(s != NULL);
	CHECK_INT(http_server_port(s), -1);
	CHECK_INT(http_server_listen(s, "127.0.0.1", 0), 0);
	CHECK(http_server_port(s) > 0);
	http_server_free(s);
	event_base_free(b);
}

TEST_MAIN(TEST(test_listen_port_zero), TEST(test_route_params_and_query),
	  TEST(test_not_found_and_method_not_allowed), TEST(test_route_patterns_checked),
	  TEST(test_request_ids), TEST(test_json_bodies), TEST(test_error_with_extra_members),
	  TEST(test_data_and_empty_reply), TEST(test_reply_later_and_inflight),
	  TEST(test_metrics_count_requests), TEST(test_stop_accepting))
