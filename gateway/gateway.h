/* The gateway's own modules: authentication of callers and the route groups. */
#ifndef ERRAND_GATEWAY_H
#define ERRAND_GATEWAY_H

#include "http.h"
#include "http_client.h"
#include "outbox.h"
#include "principals.h"
#include "seal.h"
#include "service.h"
#include "webhook.h"

/* Which roles may call a route. */
#define ALLOW_USER 1u
#define ALLOW_AGENT 2u
#define ALLOW_ADMIN 4u
#define ALLOW_ANY (ALLOW_USER | ALLOW_AGENT | ALLOW_ADMIN)
/* A run's MCP token also authenticates (as the run's agent, bound to the run). */
#define ALLOW_RUN_TOKEN 8u

/* Error codes of authentication. */
#define ERR_UNAUTHORIZED "unauthorized"
#define ERR_FORBIDDEN "forbidden"
#define ERR_DB_UNAVAILABLE "database_unavailable"
#define ERR_SECRETS_UNAVAILABLE "secrets_unavailable"
#define ERR_JOB_NOT_FOUND "job_not_found"
#define ERR_INVALID_OUTPUT_SCHEMA "invalid_output_schema"
#define ERR_URL_NOT_ALLOWED "webhook_url_not_allowed"

typedef struct gateway {
	service *svc;
	db_pool *db;
	const config *cfg;
	outbox outbox;
	http_client *hc; /* outgoing calls (the model of ERRAND_LLM_URL); NULL when none */
	int has_secrets_key;
	unsigned char secrets_key[SEAL_KEY_LEN];
} gateway;

/*
 * Called once the caller is known and allowed. `p` belongs to `req`: it
 * stays valid until the reply.
 */
typedef void (*gw_authed)(gateway *gw, http_req *req, const principal *p);

/*
 * Authenticates "Authorization: Bearer <key>": 401 unauthorized when the
 * key is missing or wrong, 403 forbidden when the role is not in `allowed`,
 * 503 when the database cannot answer; otherwise calls `next`.
 */
void gw_authenticate(gateway *gw, http_req *req, unsigned allowed, gw_authed next);

/* Adds /v1/me and the admin routes for principals and keys. Returns 0 or -1. */
int gw_principals_routes(gateway *gw, http_server *http) __attribute__((warn_unused_result));

/* Adds /api/wallet, /api/wallet/transactions and the admin top-up. Returns 0 or -1. */
int gw_wallet_routes(gateway *gw, http_server *http) __attribute__((warn_unused_result));

/* Adds POST /api/attachments and GET /api/attachments/{id}. Returns 0 or -1. */
int gw_attachment_routes(gateway *gw, http_server *http) __attribute__((warn_unused_result));

/* Adds the marketplace routes of seed 003 (/api/jobs…, /api/cron/…). Returns 0 or -1. */
int gw_market_routes(gateway *gw, http_server *http) __attribute__((warn_unused_result));

/* Adds /v1/jobs…, /v1/runs/{id} and the reply API POST /api/agents/reply. Returns 0 or -1. */
int gw_dispatch_routes(gateway *gw, http_server *http) __attribute__((warn_unused_result));

/*
 * Adds GET /api/jobs/{id}/logs (Server-Sent Events) and starts its hub: one
 * Redis connection that follows every job log a client reads. Returns 0 or -1.
 */
int gw_log_routes(gateway *gw, http_server *http) __attribute__((warn_unused_result));

/* Stops the hub and frees it (after the server stopped). */
void gw_log_routes_free(void);

/*
 * Replies the error envelope for a field error of a request body
 * (400 invalid_request, "field: message").
 */
void gw_reply_invalid(http_req *req, const json_error *err);

/*
 * Checks webhook URL `url` (of the field the printf-style `field` names)
 * before it is stored: not http(s) is answered 400 invalid_request; a
 * literal private, loopback or link-local host 400 webhook_url_not_allowed
 * unless ERRAND_WEBHOOK_ALLOW_PRIVATE. Returns 0, or -1 when it answered.
 */
int gw_check_webhook_url(gateway *gw, http_req *req, const char *url, const char *field, ...)
	__attribute__((format(printf, 4, 5), warn_unused_result));

/*
 * Reads `output_schema` of `body`: absent or null gives NULL; a JSON object
 * or boolean is kept (borrowed); anything else is answered 400
 * invalid_output_schema and gives -1.
 */
int gw_read_output_schema(http_req *req, const json_t *body, const json_t **out)
	__attribute__((warn_unused_result));

/*
 * Reads `verification` of `body` ({webhook_url?, judge?}; `where` names it
 * in errors): `*stored` is NULL when absent, else the object to store (new
 * reference). With a webhook_url the external verifier gets its own
 * whsec_ secret: sealed inside `*stored`, and in `secret` to show once.
 * Answers 400 (invalid_request, webhook_url_not_allowed) or 503 and
 * returns -1 on failure.
 */
int gw_read_verification(gateway *gw, http_req *req, const json_t *body, const char *where,
			 json_t **stored, char secret[WEBHOOK_SECRET_LEN + 1])
	__attribute__((warn_unused_result));

/* Replies 503 database_unavailable. */
void gw_reply_unavailable(http_req *req);

#endif
