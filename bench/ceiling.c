/* The machine's HTTP ceiling: the smallest libevent server answering like /healthz. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#define BODY "{\"status\":\"ok\"}"
#define CONTENT_TYPE "application/json"

/* Reused for every reply, empty between replies: the body goes in by reference, uncopied. */
static struct evbuffer *reply_body;

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s HOST PORT\n", prog);
	exit(2);
}

/* Every request, whatever its method and path, gets 200 and BODY. */
static void on_request(struct evhttp_request *req, void *arg)
{
	(void)arg;
	struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
	if (evhttp_add_header(headers, "Content-Type", CONTENT_TYPE) != 0 ||
	    evbuffer_add_reference(reply_body, BODY, sizeof BODY - 1, NULL, NULL) != 0) {
		evhttp_send_error(req, 500, "Internal Server Error");
		return;
	}
	/* evhttp_send_reply moves the bytes out of reply_body, leaving it empty. */
	evhttp_send_reply(req, 200, "OK", reply_body);
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopexit(arg, NULL);
}

static int parse_port(const char *s, ev_uint16_t *port)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > 65535)
		return -1;
	*port = (ev_uint16_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	struct event_base *base = NULL;
	struct evhttp *http = NULL;
	struct event *sigint = NULL, *sigterm = NULL;
	ev_uint16_t port;
	int status = 1;

	if (argc != 3 || parse_port(argv[2], &port) != 0)
		usage(argv[0]);
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		perror("signal");
		return 1;
	}

	base = event_base_new();
	reply_body = evbuffer_new();
	if (!base || !reply_body) {
		fprintf(stderr, "ceiling: out of memory\n");
		goto done;
	}
	http = evhttp_new(base);
	if (!http) {
		fprintf(stderr, "ceiling: evhttp_new failed\n");
		goto done;
	}
	evhttp_set_gencb(http, on_request, NULL);
	if (evhttp_bind_socket(http, argv[1], port) != 0) {
		fprintf(stderr, "ceiling: cannot listen on %s:%u\n", argv[1], (unsigned)port);
		goto done;
	}

	sigint = evsignal_new(base, SIGINT, on_signal, base);
	sigterm = evsignal_new(base, SIGTERM, on_signal, base);
	if (!sigint || !sigterm || evsignal_add(sigint, NULL) != 0 ||
	    evsignal_add(sigterm, NULL) != 0) {
		fprintf(stderr, "ceiling: cannot watch signals\n");
		goto done;
	}

	fprintf(stderr, "ceiling: listening on %s:%u\n", argv[1], (unsigned)port);
	if (event_base_dispatch(base) != 0) {
		fprintf(stderr, "ceiling: event loop failed\n");
		goto done;
	}
	status = 0;

done:
	if (sigint)
		event_free(sigint);
	if (sigterm)
		event_free(sigterm);
	if (http)
		evhttp_free(http);
	if (reply_body)
		evbuffer_free(reply_body);
	if (base)
		event_base_free(base);
	return status;
}
