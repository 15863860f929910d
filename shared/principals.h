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
	/* For a caller authenticated by a run's MCP token: the run, and its job
	 * ("" when none); both "" for an API key. */
	char run_id[IDS_MAX_LEN];
	char run_job_id[IDS_MAX_LEN];
} principal;

/* What a new principal is made of; strings borrowed from the request. */
typedef struct principal_spec {
	const char *role;
	const char *name;
	const json_t *capabilities; /* array of strings, or NULL */
	const char *webhook_url;    /* or NULL */
	/* ERRAND_SECRETS_KEY (32 bytes) to seal the webhook secret, or NULL */
	const unsigned char *secrets_key;
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
 * webhook_secret?, created_at} for a principal (an agent with a webhook URL
 * gets its first whsec_ secret, shown once), {id, principal_id, key, created_at} for a
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

/*
 * The principal a run's MCP token stands for: the run's agent, with
 * `run_id` and `run_job_id` set, while the run is open. Same contract as
 * principals_authenticate().
 */
void principals_authenticate_run(db_pool *db, const char *token, principals_auth_cb cb, void *arg);

/*
 * Rotates an agent's webhook secret: a new whsec_ secret (sealed with
 * `secrets_key` when not NULL) signs from now on, and the old ones keep
 * signing for PRINCIPAL_SECRET_OVERLAP_HOURS. `created` is {webhook_secret}.
 * PRINCIPALS_ERR_NOT_FOUND when `id` is not an agent.
 */
#define PRINCIPAL_SECRET_OVERLAP_HOURS 24
void principals_rotate_secret(db_pool *db, const char *id, const unsigned char *secrets_key,
			      principals_created_cb cb, void *arg);

/* A change of an agent (PATCH): fields absent are kept. */
typedef struct principal_patch {
	int has_webhook_url;
	const char *webhook_url; /* NULL removes it */
	const json_t *capabilities; /* NULL: kept */
	const unsigned char *secrets_key;
} principal_patch;

/* Reads {webhook_url?, capabilities?}. Returns 0, or -1 with `err` naming the field. */
int principals_patch_parse(const json_t *body, principal_patch *out, json_error *err)
	__attribute__((warn_unused_result));

/*
 * Applies `patch` to agent `id` and re-enables its webhook if a 410 had
 * disabled it. `created` is {id, role, name, project_id, capabilities,
 * webhook_url, webhook_secret?} (a secret is made when the agent gets a
 * webhook URL and has none).
 */
void principals_patch(db_pool *db, const char *id, const principal_patch *patch,
		      principals_created_cb cb, void *arg);

/*
 * A new webhook secret: `shown` (WEBHOOK_SECRET_LEN + 1 bytes) and `*stored`,
 * what the database keeps (sealed under `secrets_key` when not NULL; caller
 * frees). Returns 0 or -1.
 */
int principals_secret_new(const unsigned char *secrets_key, char *shown, size_t shownlen,
			  char **stored) __attribute__((warn_unused_result));

/* The JSON form {id, role, name, project_id} of `p` (new reference). */
json_t *principal_json(const principal *p);

#endif
