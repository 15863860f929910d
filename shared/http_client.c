/* Outgoing HTTP with libcurl's multi-socket API driven by libevent (curl's multi-event.c pattern). */
#include "http_client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "log.h"

struct http_client {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	int inflight;
	struct transfer *head; /* every transfer in flight */
	int (*allow)(const struct sockaddr *addr);
};

/* One request in flight. */
typedef struct transfer {
	struct transfer *prev, *next;
	http_client *client;
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	char *response;
	size_t response_len;
	long retry_after_s;
	uint64_t started_ns;
	http_client_cb cb;
	void *arg;
	char error[CURL_ERROR_SIZE];
	int refused; /* the address filter refused the connection */
} transfer;

/* The libevent event of one socket curl watches. */
typedef struct sock_ctx {
	struct event *ev;
} sock_ctx;

static void check_done(http_client *c);

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	transfer *t = arg;
	size_t bytes = size * n;
	size_t room = HTTP_CLIENT_MAX_BODY - t->response_len;
	size_t keep = bytes < room ? bytes : room;
	if (keep > 0) {
		char *grown = realloc(t->response, t->response_len + keep + 1);
		if (!grown)
			return 0; /* aborts the transfer */
		t->response = grown;
		memcpy(t->response + t->response_len, data, keep);
		t->response_len += keep;
		t->response[t->response_len] = '\0';
	}
	return bytes; /* what is beyond the limit is read and dropped */
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	transfer *t = arg;
	size_t bytes = size * n;
	static const char name[] = "retry-after:";
	if (bytes > sizeof name && strncasecmp(data, name, sizeof name - 1) == 0) {
		char value[32];
		size_t len = bytes - (sizeof name - 1);
		if (len >= sizeof value)
			len = sizeof value - 1;
		memcpy(value, data + sizeof name - 1, len);
		value[len] = '\0';
		char *end = NULL;
		long v = strtol(value, &end, 10);
		if (end != value && v >= 0) {
			t->retry_after_s = v < HTTP_CLIENT_RETRY_AFTER_MAX ? v : HTTP_CLIENT_RETRY_AFTER_MAX;
		} else {
			/* the other form: an HTTP date */
			time_t when = curl_getdate(value, NULL);
			time_t now = time(NULL);
			if (when > 0)
				t->retry_after_s = when <= now ? 0
						   : when - now < HTTP_CLIENT_RETRY_AFTER_MAX
							   ? (long)(when - now)
							   : HTTP_CLIENT_RETRY_AFTER_MAX;
		}
	}
	return bytes;
}

/* CURLOPT_OPENSOCKETFUNCTION: the address filter, before any connection is made. */
static curl_socket_t on_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
	transfer *t = arg;
	if (purpose == CURLSOCKTYPE_IPCXN && t->client->allow &&
	    !t->client->allow(&addr->addr)) {
		t->refused = 1;
		return CURL_SOCKET_BAD;
	}
	return socket(addr->family, addr->socktype, addr->protocol);
}

static void transfer_free(transfer *t)
{
	if (t->easy)
		curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->headers);
	free(t->body);
	free(t->response);
	free(t);
}

/* Reports a finished transfer to its caller and frees it. */
static void transfer_finish(transfer *t, CURLcode code)
{
	http_client *c = t->client;
	http_response r = { 0 };
	r.latency_ms = (double)(clock_mono_ns() - t->started_ns) / 1e6;
	r.retry_after_s = t->retry_after_s;
	r.body = t->response ? t->response : "";
	r.len = t->response_len;
	if (code == CURLE_OK) {
		curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &r.status);
	} else if (t->refused) {
		r.error = "the address is private, loopback or link-local: refused";
	} else {
		r.error = t->error[0] ? t->error : curl_easy_strerror(code);
	}
	curl_multi_remove_handle(c->multi, t->easy);
	c->inflight--;
	if (t->prev)
		t->prev->next = t->next;
	else
		c->head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->cb(t->arg, &r);
	transfer_free(t);
}

/* Takes every finished transfer off the multi handle. */
static void check_done(http_client *c)
{
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(c->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		transfer *t = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		transfer_finish(t, msg->data.result);
	}
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	http_client *c = arg;
	int flags =
		(what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
	int running = 0;
	curl_multi_socket_action(c->multi, fd, flags, &running);
	check_done(c);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	http_client *c = arg;
	int running = 0;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(c);
}

/* CURLMOPT_TIMERFUNCTION: curl asks to be woken after `ms` (-1: never). */
static int on_timer(CURLM *multi, long ms, void *arg)
{
	(void)multi;
	http_client *c = arg;
	if (ms < 0) {
		evtimer_del(c->timer);
		return 0;
	}
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(c->timer, &tv);
	return 0;
}

/* CURLMOPT_SOCKETFUNCTION: curl says which events it wants on a socket. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *arg, void *socketp)
{
	(void)easy;
	http_client *c = arg;
	sock_ctx *ctx = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (ctx) {
			event_free(ctx->ev);
			free(ctx);
			curl_multi_assign(c->multi, s, NULL);
		}
		return 0;
	}
	short kind = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) |
		     (what & CURL_POLL_OUT ? EV_WRITE : 0);
	if (!ctx) {
		ctx = calloc(1, sizeof *ctx);
		if (!ctx)
			return -1;
		curl_multi_assign(c->multi, s, ctx);
	} else {
		event_free(ctx->ev);
	}
	ctx->ev = event_new(c->base, s, kind, on_socket_event, c);
	event_add(ctx->ev, NULL);
	return 0;
}

http_client *http_client_new(struct event_base *base)
{
	static int global_done;
	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return NULL;
		global_done = 1;
	}
	http_client *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->base = base;
	c->multi = curl_multi_init();
	c->timer = evtimer_new(base, on_timeout, c);
	if (!c->multi || !c->timer) {
		http_client_free(c);
		return NULL;
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 64L);
	return c;
}

int http_client_post(http_client *c, const char *url, const char *const *headers, const char *body,
		     size_t len, long timeout_ms, http_client_cb cb, void *arg)
{
	transfer *t = calloc(1, sizeof *t);
	if (!t)
		return -1;
	t->client = c;
	t->cb = cb;
	t->arg = arg;
	t->retry_after_s = -1;
	t->easy = curl_easy_init();
	t->body = malloc(len + 1);
	if (!t->easy || !t->body)
		goto fail;
	memcpy(t->body, body, len);
	t->body[len] = '\0';
	for (size_t i = 0; headers && headers[i]; i++) {
		struct curl_slist *grown = curl_slist_append(t->headers, headers[i]);
		if (!grown)
			goto fail;
		t->headers = grown;
	}
	/* No "Expect: 100-continue" round trip before the body. */
	struct curl_slist *grown = curl_slist_append(t->headers, "Expect:");
	if (!grown)
		goto fail;
	t->headers = grown;
	CURL *e = t->easy;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "errand/" ERRAND_VERSION);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 4096L);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
	t->started_ns = clock_mono_ns();
	if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
		goto fail;
	c->inflight++;
	t->next = c->head;
	if (c->head)
		c->head->prev = t;
	c->head = t;
	return 0;
fail:
	transfer_free(t);
	return -1;
}

void http_client_set_max_host_connections(http_client *c, long n)
{
	curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, n);
}

void http_client_set_address_filter(http_client *c, int (*allow)(const struct sockaddr *addr))
{
	c->allow = allow;
}

int http_client_inflight(const http_client *c)
{
	return c->inflight;
}

void http_client_free(http_client *c)
{
	if (!c)
		return;
	if (c->multi) {
		while (c->head) {
			transfer *t = c->head;
			snprintf(t->error, sizeof t->error, "the client is shutting down");
			transfer_finish(t, CURLE_ABORTED_BY_CALLBACK);
		}
		curl_multi_cleanup(c->multi);
	}
	if (c->timer)
		event_free(c->timer);
	free(c);
}
