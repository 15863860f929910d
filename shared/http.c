/* HTTP serving over evhttp: routes, request ids, bounded bodies, JSON replies and metrics. */
#include "http.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "clock.h"
#include "ids.h"
#include "json.h"
#include "log.h"
#include "metrics.h"

#define HTTP_MAX_ROUTES 128
#define HTTP_MAX_SEGMENTS 8
#define HTTP_MAX_LISTENERS 4

typedef struct route {
	const char *method;
	const char *pattern;
	char *buf;			   /* owns the segments' text */
	char *segments[HTTP_MAX_SEGMENTS]; /* ":name" for a parameter */
	int nsegments;
	http_handler handler;
	void *arg;
	/* metric children of this route, looked up once (a request's hot path) */
	metric *latency;
	struct {
		int status;
		metric *m;
	} counts[8];
	int ncounts;
} route;

struct http_server {
	struct event_base *base;
	struct evhttp *http;
	http_limits limits;
	struct evhttp_bound_socket *bound[HTTP_MAX_LISTENERS];
	int nbound;
	route routes[HTTP_MAX_ROUTES];
	int nroutes;
	int inflight;
	int unsent; /* replies handed to libevent and not yet written out */
	int stopping;
	struct http_req *streams; /* streamed replies in progress */
	int nstreams;
	metric *m_requests;
	metric *m_latency;
};

struct http_req {
	http_server *server;
	struct evhttp_request *ev;
	route *route;
	const char *route_label;
	const char *method; /* a static string */
	char *path;	    /* decoded path, owned */
	struct {
		const char *name;
		char *value;
	} params[HTTP_MAX_PARAMS];
	int nparams;
	struct evkeyvalq query;
	int query_parsed;
	char request_id[HTTP_REQUEST_ID_MAX + 1];
	uint64_t start_ns;
	json_t *body;
	void *data;
	void (*data_free)(void *);
	http_reply_hook hook;
	void *hook_arg;
	int status; /* of the reply being sent */
	int held;   /* the reply hook holds the reply back */
	/* a streamed reply: its place in the server's list, and who to tell of a close */
	struct http_req *stream_prev, *stream_next;
	void (*stream_closed)(void *arg);
	void *stream_arg;
	int streaming;
};

/* ===== Routing ===== */

/*
 * Splits `path` ("/a/b/c") into at most `max` segments pointing into `buf`
 * (a copy the caller provides). Returns the count, or -1 when there are
 * too many.
 */
static int split_path(char *buf, char **segs, int max)
{
	int n = 0;
	char *p = buf;
	while (*p == '/')
		p++;
	while (*p) {
		if (n == max)
			return -1;
		segs[n++] = p;
		char *slash = strchr(p, '/');
		if (!slash)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	return n;
}

static const char *method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	default:
		return "OTHER";
	}
}

/* A request id from the client is kept when it is short and plain; else a new one. */
static void set_request_id(http_req *req)
{
	const char *given =
		evhttp_find_header(evhttp_request_get_input_headers(req->ev), "X-Request-Id");
	if (given) {
		size_t n = strlen(given);
		int ok = n > 0 && n <= HTTP_REQUEST_ID_MAX;
		for (size_t i = 0; ok && i < n; i++) {
			char ch = given[i];
			ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ||
			     ch == ':';
		}
		if (ok) {
			memcpy(req->request_id, given, n + 1);
			return;
		}
	}
	if (ids_new("req", req->request_id) != 0)
		snprintf(req->request_id, sizeof req->request_id, "req_unknown");
}

static void req_free(http_req *req)
{
	if (req->query_parsed)
		evhttp_clear_headers(&req->query);
	for (int i = 0; i < req->nparams; i++)
		free(req->params[i].value);
	json_decref(req->body);
	if (req->data_free)
		req->data_free(req->data);
	free(req->path);
	free(req);
}

/*
 * Matches the request against the routes; fills the parameters. Returns
 * the route, or NULL with `*path_matched` set when some route had the path
 * but not the method (405).
 */
static route *match_route(http_server *s, http_req *req, const char *raw_path, int *path_matched)
{
	char buf[2048];
	char *segs[HTTP_MAX_SEGMENTS];
	*path_matched = 0;
	if (strlen(raw_path) >= sizeof buf)
		return NULL;
	strcpy(buf, raw_path);
	/* Split first, then decode each segment: "%2F" stays inside its segment. */
	int n = split_path(buf, segs, HTTP_MAX_SEGMENTS);
	if (n < 0)
		return NULL;
	char *decoded[HTTP_MAX_SEGMENTS];
	for (int i = 0; i < n; i++)
		decoded[i] = evhttp_uridecode(segs[i], 0, NULL);
	route *found = NULL;
	for (int r = 0; r < s->nroutes && !found; r++) {
		route *rt = &s->routes[r];
		if (rt->nsegments != n)
			continue;
		int ok = 1;
		for (int i = 0; ok && i < n; i++)
			ok = decoded[i] &&
			     (rt->segments[i][0] == ':' ? decoded[i][0] != '\0'
							: strcmp(rt->segments[i], decoded[i]) == 0);
		if (!ok)
			continue;
		if (strcmp(rt->method, req->method) != 0) {
			*path_matched = 1;
			continue;
		}
		for (int i = 0; i < n && req->nparams < HTTP_MAX_PARAMS; i++) {
			if (rt->segments[i][0] != ':')
				continue;
			req->params[req->nparams].name = rt->segments[i] + 1;
			req->params[req->nparams].value = decoded[i];
			decoded[i] = NULL; /* the request owns it now */
			req->nparams++;
		}
		found = rt;
	}
	for (int i = 0; i < n; i++)
		free(decoded[i]);
	return found;
}

static void dispatch(struct evhttp_request *ev, void *arg)
{
	http_server *s = arg;
	http_req *req = calloc(1, sizeof *req);
	if (!req) {
		evhttp_send_error(ev, HTTP_SERVUNAVAIL, NULL);
		return;
	}
	req->server = s;
	req->ev = ev;
	req->start_ns = clock_mono_ns();
	req->route_label = "unmatched";
	req->method = method_name(evhttp_request_get_command(ev));
	s->inflight++;
	set_request_id(req);

	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(ev);
	const char *raw = uri ? evhttp_uri_get_path(uri) : NULL;
	req->path = evhttp_uridecode(raw && *raw ? raw : "/", 0, NULL);
	if (!req->path) {
		http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST, "the path cannot be decoded");
		return;
	}
	int path_matched = 0;
	route *rt = match_route(s, req, raw && *raw ? raw : "/", &path_matched);
	if (!rt) {
		if (path_matched)
			http_reply_error(req, 405, HTTP_ERR_METHOD_NOT_ALLOWED,
					 "%s is not allowed on %s", req->method, req->path);
		else
			http_reply_error(req, 404, HTTP_ERR_NOT_FOUND, "no route for %s %s",
					 req->method, req->path);
		return;
	}
	req->route = rt;
	req->route_label = rt->pattern;
	rt->handler(req, rt->arg);
}

/* ===== The server ===== */

http_server *http_server_new(struct event_base *base, const http_limits *limits)
{
	http_server *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->base = base;
	s->limits = *limits;
	s->http = evhttp_new(base);
	if (!s->http) {
		free(s);
		return NULL;
	}
	size_t hard = limits->hard_body_bytes > limits->max_body_bytes ? limits->hard_body_bytes
								       : limits->max_body_bytes;
	evhttp_set_max_body_size(s->http, (ev_ssize_t)hard);
	evhttp_set_max_headers_size(s->http, (ev_ssize_t)limits->max_header_bytes);
	evhttp_set_timeout(s->http, limits->timeout_s);
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
						    EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
						    EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS);
	evhttp_set_default_content_type(s->http, "application/json");
	evhttp_set_gencb(s->http, dispatch, s);
	s->m_requests = metrics_counter("errand_http_requests_total",
					"HTTP requests answered, by route, method and status.");
	s->m_latency = metrics_histogram("errand_http_request_seconds",
					 "Time from receiving a request to replying, by route.",
					 METRICS_LATENCY_BOUNDS, METRICS_LATENCY_BOUNDS_N);
	return s;
}

int http_server_listen(http_server *s, const char *host, int port)
{
	if (s->nbound == HTTP_MAX_LISTENERS)
		return -1;
	struct sockaddr_storage ss;
	int sslen = sizeof ss;
	char spec[300];
	/* The host alone (libevent refuses ":0"); the port is set below. */
	snprintf(spec, sizeof spec, strchr(host, ':') && host[0] != '[' ? "[%s]" : "%s", host);
	memset(&ss, 0, sizeof ss);
	if (evutil_parse_sockaddr_port(spec, (struct sockaddr *)&ss, &sslen) != 0 || port < 0 ||
	    port > 65535) {
		log_error("cannot parse the address %s:%d", host, port);
		return -1;
	}
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
	struct evconnlistener *l =
		evconnlistener_new_bind(s->base, NULL, NULL,
					LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT |
						LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
					1024, (struct sockaddr *)&ss, sslen);
	if (!l) {
		log_error("cannot listen on %s:%d: %s", host, port,
			  evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return -1;
	}
	struct evhttp_bound_socket *b = evhttp_bind_listener(s->http, l);
	if (!b) {
		evconnlistener_free(l);
		return -1;
	}
	s->bound[s->nbound++] = b;
	return 0;
}

int http_server_port(const http_server *s)
{
	if (s->nbound == 0)
		return -1;
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	evutil_socket_t fd = evhttp_bound_socket_get_fd(s->bound[0]);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

int http_route(http_server *s, const char *method, const char *pattern, http_handler h, void *arg)
{
	if (s->nroutes == HTTP_MAX_ROUTES || pattern[0] != '/')
		return -1;
	route *rt = &s->routes[s->nroutes];
	char *copy = strdup(pattern);
	if (!copy)
		return -1;
	int n = split_path(copy, rt->segments, HTTP_MAX_SEGMENTS);
	if (n < 0) {
		free(copy);
		return -1;
	}
	rt->buf = copy;
	rt->method = method;
	rt->pattern = pattern;
	rt->nsegments = n;
	rt->handler = h;
	rt->arg = arg;
	s->nroutes++;
	return 0;
}

void http_server_stop_accepting(http_server *s)
{
	s->stopping = 1;
	for (int i = 0; i < s->nbound; i++)
		evconnlistener_disable(evhttp_bound_socket_get_listener(s->bound[i]));
	/* Streams never end by themselves: end them, their clients reconnect elsewhere. */
	while (s->streams) {
		http_req *req = s->streams;
		void (*closed)(void *) = req->stream_closed;
		void *arg = req->stream_arg;
		req->stream_closed = NULL;
		if (closed)
			closed(arg);
		http_stream_end(req);
	}
}

int http_server_inflight(const http_server *s)
{
	return s->inflight;
}

int http_server_unsent(const http_server *s)
{
	return s->unsent;
}

void http_server_free(http_server *s)
{
	if (!s)
		return;
	evhttp_free(s->http);
	for (int i = 0; i < s->nroutes; i++)
		free(s->routes[i].buf);
	free(s);
}

/* ===== Reading ===== */

const char *http_req_method(const http_req *req)
{
	return req->method;
}

const char *http_req_path(const http_req *req)
{
	return req->path;
}

const char *http_req_id(const http_req *req)
{
	return req->request_id;
}

const char *http_req_param(const http_req *req, const char *name)
{
	for (int i = 0; i < req->nparams; i++)
		if (strcmp(req->params[i].name, name) == 0)
			return req->params[i].value;
	return NULL;
}

const char *http_req_query(http_req *req, const char *name)
{
	if (!req->query_parsed) {
		TAILQ_INIT(&req->query);
		req->query_parsed = 1;
		const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req->ev);
		const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
		if (q && evhttp_parse_query_str(q, &req->query) != 0)
			return NULL;
	}
	return evhttp_find_header(&req->query, name);
}

const char *http_req_header(const http_req *req, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(req->ev), name);
}

const unsigned char *http_req_body(const http_req *req, size_t *len)
{
	struct evbuffer *buf = evhttp_request_get_input_buffer(req->ev);
	*len = evbuffer_get_length(buf);
	if (*len == 0)
		return (const unsigned char *)"";
	return evbuffer_pullup(buf, -1);
}

json_t *http_req_json(http_req *req)
{
	if (req->body)
		return req->body;
	size_t len = 0;
	const unsigned char *body = http_req_body(req, &len);
	if (len > req->server->limits.max_body_bytes) {
		http_reply_error(req, 413, HTTP_ERR_BODY_TOO_LARGE,
				 "the body is larger than %zu bytes",
				 req->server->limits.max_body_bytes);
		return NULL;
	}
	if (len == 0) {
		req->body = json_object();
		return req->body;
	}
	const char *err = NULL;
	json_t *v = json_parse_bounded((const char *)body, len, req->server->limits.max_json_depth,
				       &err);
	if (!v) {
		http_reply_error(req, 400, HTTP_ERR_INVALID_JSON, "%s",
				 err ? err : "malformed JSON");
		return NULL;
	}
	if (!json_is_object(v)) {
		json_decref(v);
		http_reply_error(req, 400, HTTP_ERR_INVALID_JSON, "the body must be a JSON object");
		return NULL;
	}
	req->body = v;
	return v;
}

void http_req_on_reply(http_req *req, http_reply_hook hook, void *arg)
{
	req->hook = hook;
	req->hook_arg = arg;
}

void http_req_set_data(http_req *req, void *data, void (*free_fn)(void *))
{
	req->data = data;
	req->data_free = free_fn;
}

void *http_req_data(const http_req *req)
{
	return req->data;
}

/* ===== Replying ===== */

void http_req_add_header(http_req *req, const char *name, const char *value)
{
	evhttp_add_header(evhttp_request_get_output_headers(req->ev), name, value);
}

/* The requests counter child for this request's route, method and status (cached per route). */
static metric *request_counter(http_req *req, int status)
{
	route *rt = req->route;
	if (rt)
		for (int i = 0; i < rt->ncounts; i++)
			if (rt->counts[i].status == status)
				return rt->counts[i].m;
	char code[16];
	snprintf(code, sizeof code, "%d", status);
	metric *m = metrics_with(req->server->m_requests, "route", req->route_label, "method",
				 req->method, "status", code, NULL);
	if (rt && rt->ncounts < (int)(sizeof rt->counts / sizeof rt->counts[0])) {
		rt->counts[rt->ncounts].status = status;
		rt->counts[rt->ncounts].m = m;
		rt->ncounts++;
	}
	return m;
}

/* Frees a serialised body once the output buffer is done with it. */
static void free_text(const void *data, size_t len, void *extra)
{
	(void)len;
	(void)extra;
	free((void *)data);
}

/* Sends what the output buffer holds, records metrics and frees `req`. */
/* Sends the reply prepared by finish(), records metrics and frees `req`. */
/* libevent wrote a reply out completely. */
static void on_sent(struct evhttp_request *ev, void *arg)
{
	(void)ev;
	http_server *s = arg;
	s->unsent--;
}

static void send_now(http_req *req)
{
	http_server *s = req->server;
	int status = req->status;
	/* A client already gone gets nothing written (libevent frees the request). */
	if (evhttp_request_get_connection(req->ev)) {
		s->unsent++;
		evhttp_request_set_on_complete_cb(req->ev, on_sent, s);
	}
	evhttp_send_reply(req->ev, status, NULL, NULL);

	double secs = (double)(clock_mono_ns() - req->start_ns) / 1e9;
	metrics_add(request_counter(req, status), 1);
	route *rt = req->route;
	if (rt && !rt->latency)
		rt->latency = metrics_with(s->m_latency, "route", rt->pattern, NULL);
	metrics_observe(rt ? rt->latency
			   : metrics_with(s->m_latency, "route", req->route_label, NULL),
			secs);
	if (status >= 500)
		log_write(LOG_LEVEL_WARN, req->request_id, NULL, "%s %s -> %d", req->method,
			  req->path ? req->path : "?", status);
	else if (log_enabled(LOG_LEVEL_DEBUG))
		log_write(LOG_LEVEL_DEBUG, req->request_id, NULL, "%s %s -> %d (%.3f ms)",
			  req->method, req->path ? req->path : "?", status, secs * 1000);
	s->inflight--;
	req_free(req);
}

/* Sets the reply's headers, lets the reply hook see it (and maybe hold it), then sends it. */
static void finish(http_req *req, int status, const char *content_type)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req->ev);
	evhttp_add_header(h, "Content-Type", content_type);
	evhttp_add_header(h, "X-Request-Id", req->request_id);
	if (req->server->stopping)
		evhttp_add_header(h, "Connection", "close");
	req->status = status;
	if (req->hook) {
		struct evbuffer *out = evhttp_request_get_output_buffer(req->ev);
		size_t len = evbuffer_get_length(out);
		const char *body = len ? (const char *)evbuffer_pullup(out, -1) : "";
		http_reply_hook hook = req->hook;
		req->hook = NULL;
		hook(req->hook_arg, req, status, content_type, body, len);
		if (req->held)
			return; /* http_req_release() sends it */
	}
	send_now(req);
}

void http_req_hold(http_req *req)
{
	req->held = 1;
}

void http_req_release(http_req *req)
{
	req->held = 0;
	send_now(req);
}

void http_reply_raw(http_req *req, int status, const char *content_type, const void *body,
		    size_t len)
{
	evbuffer_add(evhttp_request_get_output_buffer(req->ev), body, len);
	finish(req, status, content_type);
}

void http_reply_json(http_req *req, int status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text) {
		static const char empty[] = "{}";
		http_reply_raw(req, status, "application/json", empty, 2);
		return;
	}
	struct evbuffer *out = evhttp_request_get_output_buffer(req->ev);
	size_t len = strlen(text);
	/* The buffer takes the text without copying and frees it when sent. */
	if (evbuffer_add_reference(out, text, len, free_text, NULL) != 0) {
		evbuffer_add(out, text, len);
		free(text);
	}
	finish(req, status, "application/json");
}

void http_reply_error_with(http_req *req, int status, const char *code, json_t *extra,
			   const char *message)
{
	json_t *body = extra && json_is_object(extra) ? extra : json_object();
	if (extra && body != extra)
		json_decref(extra);
	/* The message may quote what the client sent: keep it valid UTF-8. */
	const char *text = message ? message : "";
	json_object_set_new(body, "error",
			    json_pack("{s:s,s:o}", "code", code, "message",
				      json_string_lossy(text, strlen(text))));
	http_reply_json(req, status, body);
}

void http_reply_error(http_req *req, int status, const char *code, const char *fmt, ...)
{
	char message[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof message, fmt, ap);
	va_end(ap);
	http_reply_error_with(req, status, code, NULL, message);
}

/* ===== Streamed replies ===== */

static void stream_unlink(http_req *req)
{
	http_server *s = req->server;
	if (req->stream_prev)
		req->stream_prev->stream_next = req->stream_next;
	else
		s->streams = req->stream_next;
	if (req->stream_next)
		req->stream_next->stream_prev = req->stream_prev;
	req->stream_prev = req->stream_next = NULL;
	s->nstreams--;
}

/*
 * The client of a stream went away. libevent 2.1 has detached the
 * unfinished reply's request from the dying connection (it frees only the
 * requests still attached): a detached one is ours to free.
 */
static void on_stream_close(struct evhttp_connection *conn, void *arg)
{
	http_req *req = arg;
	(void)conn;
	struct evhttp_request *ev = req->ev;
	stream_unlink(req);
	req->ev = NULL;
	void (*closed)(void *) = req->stream_closed;
	req->stream_closed = NULL;
	if (closed)
		closed(req->stream_arg);
	if (ev && !evhttp_request_get_connection(ev))
		evhttp_request_free(ev);
	req_free(req);
}

int http_stream_start(http_req *req, const char *content_type, void (*closed)(void *arg),
		      void *arg)
{
	http_server *s = req->server;
	struct evhttp_connection *conn = evhttp_request_get_connection(req->ev);
	if (!conn || s->stopping) {
		http_reply_error(req, 503, HTTP_ERR_SHUTTING_DOWN, "the server is stopping");
		return -1;
	}
	struct evkeyvalq *h = evhttp_request_get_output_headers(req->ev);
	evhttp_add_header(h, "Content-Type", content_type);
	evhttp_add_header(h, "X-Request-Id", req->request_id);
	req->streaming = 1;
	req->stream_closed = closed;
	req->stream_arg = arg;
	req->stream_next = s->streams;
	if (s->streams)
		s->streams->stream_prev = req;
	s->streams = req;
	s->nstreams++;
	/* A stream is not a request in hand: stopping does not wait for it. */
	s->inflight--;
	metrics_add(request_counter(req, 200), 1);
	evhttp_connection_set_closecb(conn, on_stream_close, req);
	evhttp_send_reply_start(req->ev, 200, "OK");
	return 0;
}

int http_stream_write(http_req *req, const void *data, size_t len)
{
	if (!req->ev)
		return -1;
	struct evbuffer *buf = evbuffer_new();
	if (!buf || evbuffer_add(buf, data, len) != 0) {
		evbuffer_free(buf);
		return -1;
	}
	evhttp_send_reply_chunk(req->ev, buf);
	evbuffer_free(buf);
	return 0;
}

void http_stream_end(http_req *req)
{
	stream_unlink(req);
	struct evhttp_connection *conn = evhttp_request_get_connection(req->ev);
	if (conn)
		evhttp_connection_set_closecb(conn, NULL, NULL);
	evhttp_send_reply_end(req->ev);
	req_free(req);
}

int http_server_streams(const http_server *s)
{
	return s->nstreams;
}
