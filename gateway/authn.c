/* Authentication of gateway callers by API key. */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "gateway.h"

/* What an authentication in progress needs, then the caller's identity for the handler. */
typedef struct authn {
	gateway *gw;
	http_req *req;
	unsigned allowed;
	gw_authed next;
	principal p;
} authn;

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
	/* The request owns the record from now on, so `p` lives until the reply. */
	http_req_set_data(req, a, free);
	principals_authenticate(gw->db, key, on_principal, a);
}
