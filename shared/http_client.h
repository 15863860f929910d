/* Outgoing HTTP: libcurl's multi-socket API on the libevent loop, many requests in flight. */
#ifndef ERRAND_HTTP_CLIENT_H
#define ERRAND_HTTP_CLIENT_H

#include <event2/event.h>
#include <stddef.h>

typedef struct http_client http_client;

/* A Retry-After is read up to this many seconds (a year); more counts as this. */
#define HTTP_CLIENT_RETRY_AFTER_MAX (365L * 86400)
/* The first bytes of a response body that are kept. */
#define HTTP_CLIENT_MAX_BODY (1024 * 1024)

typedef struct http_response {
	long status;	  /* 0 when no response arrived */
	const char *body; /* NUL-terminated, at most HTTP_CLIENT_MAX_BODY bytes */
	size_t len;
	const char *error; /* NULL on a response (any status), else why none came */
	double latency_ms;
	long retry_after_s; /* a Retry-After header (seconds, or an HTTP date), in seconds; -1 */
} http_response;

/* Called exactly once per request, never from inside http_client_post(). */
typedef void (*http_client_cb)(void *arg, const http_response *resp);

/* A client on `base`; connections are reused per host. NULL on failure. */
http_client *http_client_new(struct event_base *base);

/*
 * POSTs `len` bytes of `body` (copied) to `url` with extra `headers`
 * ("Name: value" strings, NULL-terminated array, copied; may be NULL).
 * Redirects are not followed. `timeout_ms` bounds the whole request.
 * Returns 0, or -1 if the request could not be started (`cb` not called).
 */
int http_client_post(http_client *c, const char *url, const char *const *headers, const char *body,
		     size_t len, long timeout_ms, http_client_cb cb, void *arg)
	__attribute__((warn_unused_result));

/*
 * Connections kept to one host at most (default 64); requests beyond wait
 * for one. A dispatcher sets it to the number of requests it keeps in flight.
 */
void http_client_set_max_host_connections(http_client *c, long n);

/*
 * A filter on the addresses a host name resolves to, checked at every
 * connection: `allow` returns nonzero to connect. A refused address ends
 * the request with an error naming it. NULL removes the filter.
 */
struct sockaddr;
void http_client_set_address_filter(http_client *c, int (*allow)(const struct sockaddr *addr));

/* Requests in flight. */
int http_client_inflight(const http_client *c);

/* Aborts what is in flight (their callbacks get an error) and frees. NULL-safe. */
void http_client_free(http_client *c);

#endif
