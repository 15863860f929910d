/* HTTP serving over evhttp: routing, request ids, bounded JSON bodies, JSON replies. */
#ifndef ERRAND_HTTP_H
#define ERRAND_HTTP_H

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct http_server http_server;
typedef struct http_req http_req;

/* Error codes of the envelope {"error":{"code","message"}} used by this module. */
#define HTTP_ERR_INVALID_JSON "invalid_json"
#define HTTP_ERR_INVALID_REQUEST "invalid_request"
#define HTTP_ERR_BODY_TOO_LARGE "body_too_large"
#define HTTP_ERR_NOT_FOUND "not_found"
#define HTTP_ERR_METHOD_NOT_ALLOWED "method_not_allowed"
#define HTTP_ERR_UNAVAILABLE "service_unavailable"
#define HTTP_ERR_INTERNAL "internal_error"
#define HTTP_ERR_SHUTTING_DOWN "shutting_down"

#define HTTP_MAX_PARAMS 4
#define HTTP_REQUEST_ID_MAX 64

typedef struct http_limits {
	size_t max_body_bytes;	/* a larger JSON body is 413 body_too_large */
	size_t hard_body_bytes; /* evhttp refuses anything larger before reading it */
	size_t max_header_bytes;
	int max_json_depth;
	int timeout_s; /* read/write timeout against slow clients */
} http_limits;

/*
 * A handler owns `req` until it replies: exactly one http_reply_*() call,
 * now or later from a callback. After that call `req` is freed.
 */
typedef void (*http_handler)(http_req *req, void *arg);

/* A server on `base` (no socket yet). `process` labels metrics. */
http_server *http_server_new(struct event_base *base, const http_limits *limits);

/*
 * Listens on host:port with SO_REUSEADDR and SO_REUSEPORT, so several
 * instances of a process can share one port. Returns 0 or -1 (logged).
 */
int http_server_listen(http_server *s, const char *host, int port)
	__attribute__((warn_unused_result));

/* The port actually bound (useful with port 0), or -1. */
int http_server_port(const http_server *s);

/*
 * Adds a route. `method` is "GET", "POST", "PATCH", "DELETE" or "PUT";
 * `pattern` is a path whose segments may be ":name" parameters
 * ("/v1/admin/principals/:id/keys"). The pattern (a static string) is also
 * the route label of metrics. Routes are matched in the order added.
 * Returns -1 on a malformed pattern or too many routes.
 */
int http_route(http_server *s, const char *method, const char *pattern, http_handler h, void *arg)
	__attribute__((warn_unused_result));

/* Stops accepting connections; requests in hand continue. */
void http_server_stop_accepting(http_server *s);

/* Requests received and not yet replied to. */
int http_server_inflight(const http_server *s);

/*
 * Replies not yet written out to their clients. A reply to a client that
 * went away may stay counted: stopping waits for it only up to its grace.
 */
int http_server_unsent(const http_server *s);

/* Closes the listeners and frees the server. NULL-safe. */
void http_server_free(http_server *s);

/* ===== Reading a request ===== */

const char *http_req_method(const http_req *req);
const char *http_req_path(const http_req *req);
/* The request id: the client's X-Request-Id if sane, else a new one. */
const char *http_req_id(const http_req *req);
/* A path parameter by name, or NULL. */
const char *http_req_param(const http_req *req, const char *name);
/* A query-string parameter (decoded), or NULL. */
const char *http_req_query(http_req *req, const char *name);
/* A request header, or NULL. */
const char *http_req_header(const http_req *req, const char *name);
/* The raw body and its length (may be empty). */
const unsigned char *http_req_body(const http_req *req, size_t *len);

/*
 * Parses the body as a JSON object within the limits. On failure replies
 * (413 body_too_large, 400 invalid_json) and returns NULL: the handler must
 * return without replying again. An empty body gives an empty object.
 * The object is owned by `req`.
 */
json_t *http_req_json(http_req *req);

/*
 * Per-request state for handlers. `free_fn` (may be NULL) is called on
 * `data` when the request is freed, after the reply.
 */
void http_req_set_data(http_req *req, void *data, void (*free_fn)(void *));
void *http_req_data(const http_req *req);

/*
 * Called once when the request is answered, before it is freed, with the
 * reply's status, content type and body (valid during the call only).
 */
typedef void (*http_reply_hook)(void *arg, http_req *req, int status, const char *content_type,
				const char *body, size_t len);

/* Sets the reply hook of `req` (one per request; NULL removes it). */
void http_req_on_reply(http_req *req, http_reply_hook hook, void *arg);

/*
 * Called from inside the reply hook: the reply is not sent when the hook
 * returns but when http_req_release() is called (the request stays valid
 * until then). Used to store a reply durably before the client sees it.
 */
void http_req_hold(http_req *req);

/* Sends a reply held by http_req_hold() and frees the request. */
void http_req_release(http_req *req);

/* ===== Replying (each ends and frees the request) ===== */

/* Replies `status` with `body` serialised (reference stolen; NULL is "{}"). */
void http_reply_json(http_req *req, int status, json_t *body);

/* Replies the error envelope with `code` and a formatted message. */
void http_reply_error(http_req *req, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Replies the error envelope plus extra members of `extra` (stolen, may be
 * NULL) beside "error", as a 402 with the job.
 */
void http_reply_error_with(http_req *req, int status, const char *code, json_t *extra,
			   const char *message);

/* Replies a body of `content_type` (copied). */
void http_reply_raw(http_req *req, int status, const char *content_type, const void *body,
		    size_t len);

/* Adds a response header before replying (copied). */
void http_req_add_header(http_req *req, const char *name, const char *value);

/* ===== Streamed replies (Server-Sent Events) ===== */

/*
 * Starts a streamed reply: 200, chunked, with `content_type` and the
 * headers added so far. The handler then writes with http_stream_write()
 * and ends with http_stream_end(), which frees `req`. When the client goes
 * away first, or the server stops, `closed` is called once with `arg`:
 * the owner drops its reference to `req` and calls no http_stream_*() on
 * it, then or later (the module ends and frees it).
 * A stream does not count as a request in hand. Returns 0, or -1 after
 * replying 503 (the server is stopping or the client is gone).
 */
int http_stream_start(http_req *req, const char *content_type, void (*closed)(void *arg),
		      void *arg) __attribute__((warn_unused_result));

/* Sends `len` bytes of a stream now. Returns 0, or -1 when the client is gone. */
int http_stream_write(http_req *req, const void *data, size_t len);

/* Ends a stream and frees `req`. */
void http_stream_end(http_req *req);

/* Streams in progress. */
int http_server_streams(const http_server *s);

#endif
