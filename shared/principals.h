/* Principals (users, agents, admins) and their API keys: one code path for errandctl and the admin API. */
#ifndef ERRAND_PRINCIPALS_H
#define ERRAND_PRINCIPALS_H

#include <jansson.h>

#include "db.h"
#include "ids.h"
#include "json.h"

#define PRINCIPAL_NAME_MAX 200
#define PRINCIPAL_CAPABILITIES_MAX 64
#define PRINCIPAL_CAPABILITY_LEN_MAX 64
#define PRINCIPAL_URL_MAX 2048

/* The one project of wave 1. */
#define PROJECT_DEFAULT_ID "prj_00000000000000000000000000"

/* Error codes of this module's routes. */
#define PRINCIPALS_ERR_NOT_FOUND "principal_not_found"

/* An authenticated caller. */
typedef struct principal {
	char id[IDS_MAX_LEN];
	char role[8];
	char project_id[IDS_MAX_LEN];
	char name[PRINCIPAL_NAME_MAX + 1];
} principal;

/* What a new principal is made of; strings borrowed from the request. */
typedef struct principal_spec {
	const char *role;
	const char *name;
	const json_t *capabilities; /* array of strings, or NULL */
	const char *webhook_url;    /* or NULL */
} principal_spec;

/* The prepared statements of this module; register them with the pool. */
extern const db_stmt PRINCIPALS_STMTS[];
extern const size_t PRINCIPALS_STMTS_N;

/*
 * Reads and checks a creation request ({role, name, capabilities?,
 * webhook_url?}). `capabilities` and `webhook_url` are for agents only.
 * Returns 0, or -1 with `err` naming the field.
 */
int principals_spec_parse(const json_t *body, principal_spec *out, json_error *err)
	__attribute__((warn_unused_result));

/*
 * `created` is the answer of the route (new reference, the callback owns
 * it): {id, role, name, project_id, key, capabilities?, webhook_url?,
 * created_at} for a principal, {id, principal_id, key, created_at} for a
 * key. NULL with `error_code` (PRINCIPALS_ERR_NOT_FOUND, or
 * "database_unavailable") and `message` on failure.
 */
typedef void (*principals_created_cb)(void *arg, json_t *created, const char *error_code,
				      const char *message);

/* Creates a principal and its first key in one statement. */
void principals_create(db_pool *db, const principal_spec *spec, principals_created_cb cb,
		       void *arg);

/* Issues another key for principal `id`. */
void principals_issue_key(db_pool *db, const char *principal_id, principals_created_cb cb,
			  void *arg);

/*
 * The principal a presented API key belongs to. `p` is NULL when the key is
 * malformed, unknown, revoked or does not match (`error` NULL), or when the
 * database could not answer (`error` set: the caller answers 503).
 * `p` is valid only during the callback.
 */
typedef void (*principals_auth_cb)(void *arg, const principal *p, const char *error);
void principals_authenticate(db_pool *db, const char *key, principals_auth_cb cb, void *arg);

/* The JSON form {id, role, name, project_id} of `p` (new reference). */
json_t *principal_json(const principal *p);

#endif
