/* Routes for principals: GET /v1/me and the admin routes that create principals and keys. */
#include <string.h>

#include "gateway.h"

static void me(gateway *gw, http_req *req, const principal *p)
{
	(void)gw;
	http_reply_json(req, 200, principal_json(p));
}

static void me_route(http_req *req, void *arg)
{
	gw_authenticate(arg, req, ALLOW_ANY, me);
}

/* Turns the shared module's answer into the HTTP reply. */
static void on_created(void *arg, json_t *created, const char *code, const char *message)
{
	http_req *req = arg;
	if (created) {
		http_reply_json(req, 201, created);
		return;
	}
	if (strcmp(code, PRINCIPALS_ERR_NOT_FOUND) == 0)
		http_reply_error(req, 404, code, "%s", message);
	else
		http_reply_error(req, 503, code, "%s", message);
}

static void create_principal(gateway *gw, http_req *req, const principal *p)
{
	(void)p;
	json_t *body = http_req_json(req);
	if (!body)
		return;
	principal_spec spec;
	json_error err;
	if (principals_spec_parse(body, &spec, &err) != 0) {
		http_reply_error(req, 400, HTTP_ERR_INVALID_REQUEST, "%s: %s", err.field,
				 err.message);
		return;
	}
	if (spec.webhook_url && gw_check_webhook_url(gw, req, spec.webhook_url, "webhook_url") != 0)
		return;
	spec.secrets_key = gw->has_secrets_key ? gw->secrets_key : NULL;
	principals_create(gw->db, &spec, on_created, req);
}

static void create_principal_route(http_req *req, void *arg)
{
	gw_authenticate(arg, req, ALLOW_ADMIN, create_principal);
}

static void issue_key(gateway *gw, http_req *req, const principal *p)
{
	(void)p;
	principals_issue_key(gw->db, http_req_param(req, "id"), on_created, req);
}

static void issue_key_route(http_req *req, void *arg)
{
	gw_authenticate(arg, req, ALLOW_ADMIN, issue_key);
}

/* Answers a change (200): the shared module's answer, or its error. */
static void on_changed(void *arg, json_t *answer, const char *code, const char *message)
{
	http_req *req = arg;
	if (answer)
		http_reply_json(req, 200, answer);
	else
		on_created(arg, NULL, code, message);
}

static void rotate_secret(gateway *gw, http_req *req, const principal *p)
{
	(void)p;
	principals_rotate_secret(gw->db, http_req_param(req, "id"),
				 gw->has_secrets_key ? gw->secrets_key : NULL, on_changed, req);
}

static void rotate_secret_route(http_req *req, void *arg)
{
	gw_authenticate(arg, req, ALLOW_ADMIN, rotate_secret);
}

static void patch_principal(gateway *gw, http_req *req, const principal *p)
{
	(void)p;
	json_t *body = http_req_json(req);
	if (!body)
		return;
	principal_patch patch;
	json_error err;
	if (principals_patch_parse(body, &patch, &err) != 0) {
		gw_reply_invalid(req, &err);
		return;
	}
	if (patch.webhook_url && gw_check_webhook_url(gw, req, patch.webhook_url, "webhook_url") != 0)
		return;
	patch.secrets_key = gw->has_secrets_key ? gw->secrets_key : NULL;
	principals_patch(gw->db, http_req_param(req, "id"), &patch, on_changed, req);
}

static void patch_principal_route(http_req *req, void *arg)
{
	gw_authenticate(arg, req, ALLOW_ADMIN, patch_principal);
}

int gw_principals_routes(gateway *gw, http_server *http)
{
	if (http_route(http, "GET", "/v1/me", me_route, gw) != 0 ||
	    http_route(http, "POST", "/v1/admin/principals", create_principal_route, gw) != 0 ||
	    http_route(http, "POST", "/v1/admin/principals/:id/keys", issue_key_route, gw) != 0 ||
	    http_route(http, "POST", "/v1/admin/principals/:id/webhook-secret",
		       rotate_secret_route, gw) != 0 ||
	    http_route(http, "PATCH", "/v1/admin/principals/:id", patch_principal_route, gw) != 0)
		return -1;
	return 0;
}
