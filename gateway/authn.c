/* Authentication of gateway callers by API key (or, where a route allows it, a run's MCP token). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "gateway.h"
#include "idempotency.h"

/* What an authentication in progress needs, then the caller's identity for the handler. */
typedef struct authn {
	gateway *gw;
	http_req *req;
	unsigned allowed;
	gw_authed next;
	principal p;
	const char *idem_key; /* the Idempotency-Key header, owned by the request */
} authn;

static void idem_start(struct authn *a);

static unsigned role_bit(const char *role)
{
	if (strcmp(role, ROLE_USER) == 0)
		return ALLOW_USER;
	if (strcmp(role, ROLE_AGENT) == 0)
		return ALLOW_AGENT;
	if (strcmp(role, ROLE_ADMIN) == 0)
		return ALLOW_ADMIN;
	return 0;
}

static void release_reply(void *req)
{
	http_req_release(req);
}

/* Stores the answer of a request that reserved its Idempotency-Key. */
static void idem_store(void *arg, http_req *req, int status, const char *content_type,
		       const char *body, size_t len)
{
	authn *a = arg;
	/* The client sees the answer only once a retry would replay it. */
	http_req_hold(req);
	idempotency_finish(a->gw->db, a->p.id, http_req_path(req), a->idem_key, status,
			   content_type, body, len, release_reply, req);
}

static void on_idem(void *arg, idem_verdict verdict, int status, const char *content_type,
		    const char *body)
{
	authn *a = arg;
	http_req *req = a->req;
	switch (verdict) {
	case IDEM_PROCEED:
		http_req_on_reply(req, idem_store, a);
		a->next(a->gw, req, &a->p);
		break;
	case IDEM_REPLAY:
		http_req_add_header(req, "Idempotent-Replayed", "true");
		http_reply_raw(req, status, content_type, body, strlen(body));
		break;
	case IDEM_REUSED:
		http_reply_error(req, 422, IDEMPOTENCY_ERR_REUSED,
				 "this Idempotency-Key was used with another request");
		break;
	case IDEM_IN_PROGRESS:
		http_reply_error(req, 409, IDEMPOTENCY_ERR_IN_PROGRESS,
				 "the first request with this Idempotency-Key is still running");
		break;
	default:
		gw_reply_unavailable(req);
		break;
	}
}

/*
 * A POST with an Idempotency-Key: reserve the key for this caller and path,
 * with a hash of the method, path and body, before the handler runs.
 */
static void idem_start(authn *a)
{
	http_req *req = a->req;
	size_t klen = strlen(a->idem_key);
	int printable = klen > 0 && klen <= IDEMPOTENCY_KEY_MAX;
	for (size_t i = 0; printable && i < klen; i++)
		printable = a->idem_key[i] > 0x20 && a->idem_key[i] < 0x7f;
	if (!printable) {
		http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST,
				 "Idempotency-Key: expected 1 to %d printable ASCII characters",
				 IDEMPOTENCY_KEY_MAX);
		return;
	}
	size_t blen = 0;
	const unsigned char *body = http_req_body(req, &blen);
	const char *path = http_req_path(req);
	size_t n = strlen(path) + blen + 8;
	char *text = malloc(n);
	if (!text) {
		gw_reply_unavailable(req);
		return;
	}
	int head = snprintf(text, n, "POST %s\n", path);
	memcpy(text + head, body, blen);
	char hash[AUTH_HASH_HEX_LEN + 1];
	auth_hash_hex(text, (size_t)head + blen, hash);
	free(text);
	idempotency_begin(a->gw->db, a->p.id, path, a->idem_key, hash, on_idem, a);
}

static void on_principal(void *arg, const principal *p, const char *error)
{
	authn *a = arg;
	http_req *req = a->req;
	if (error) {
		http_reply_error(req, 503, ERR_DB_UNAVAILABLE, "the database could not answer");
		return;
	}
	if (!p) {
		http_reply_error(req, 401, ERR_UNAUTHORIZED, "the API key is not valid");
		return;
	}
	if (!(role_bit(p->role) & a->allowed)) {
		http_reply_error(
			req, 403, ERR_FORBIDDEN, "a%s %s may not call this route",
			strcmp(p->role, ROLE_ADMIN) == 0 || strcmp(p->role, ROLE_AGENT) == 0 ? "n"
											     : "",
			p->role);
		return;
	}
	a->p = *p;
	if (a->idem_key) {
		idem_start(a);
		return;
	}
	a->next(a->gw, req, &a->p);
}

void gw_authenticate(gateway *gw, http_req *req, unsigned allowed, gw_authed next)
{
	const char *key = auth_bearer(http_req_header(req, "Authorization"));
	if (!key) {
		http_req_add_header(req, "WWW-Authenticate", "Bearer");
		http_reply_error(req, 401, ERR_UNAUTHORIZED,
				 "send an API key as Authorization: Bearer <key>");
		return;
	}
	authn *a = calloc(1, sizeof *a);
	if (!a) {
		http_reply_error(req, 503, HTTP_ERR_UNAVAILABLE, "out of memory");
		return;
	}
	a->gw = gw;
	a->req = req;
	a->allowed = allowed;
	a->next = next;
	if (strcmp(http_req_method(req), "POST") == 0)
		a->idem_key = http_req_header(req, "Idempotency-Key");
	/* The request owns the record from now on, so `p` lives until the reply. */
	http_req_set_data(req, a, free);
	if ((allowed & ALLOW_RUN_TOKEN) && auth_run_token_shaped(key, AUTH_MCP_TOKEN_PREFIX))
		principals_authenticate_run(gw->db, key, on_principal, a);
	else
		principals_authenticate(gw->db, key, on_principal, a);
}
