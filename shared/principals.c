/* Principals and API keys: creation, key issue and authentication, shared by errandctl and the gateway. */
#include "principals.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "clock.h"
#include "log.h"
#include "seal.h"
#include "webhook.h"

const db_stmt PRINCIPALS_STMTS[] = {
	{ "principal_create",
	  "WITH p AS ("
	  " INSERT INTO principals (id, role, name, project_id, capabilities, webhook_url)"
	  " VALUES ($1, $2, $3, $4, ARRAY(SELECT jsonb_array_elements_text($5::jsonb)), $6)"
	  " RETURNING id, created_at),"
	  " k AS (INSERT INTO api_keys (id, principal_id, key_hash)"
	  " SELECT $7, p.id, $8 FROM p RETURNING id),"
	  " s AS (INSERT INTO agent_webhook_secrets (agent_id, secret)"
	  " SELECT p.id, $9::text FROM p WHERE $9::text IS NOT NULL)"
	  " SELECT " DB_SQL_MS("p.created_at") " FROM p, k",
	  9 },
	{ "principal_secret_rotate",
	  "WITH a AS (SELECT id FROM principals WHERE id = $1 AND role = 'agent'),"
	  " old AS (UPDATE agent_webhook_secrets SET expires_at = now() + make_interval(hours => $3)"
	  " WHERE agent_id IN (SELECT id FROM a) AND expires_at IS NULL),"
	  " s AS (INSERT INTO agent_webhook_secrets (agent_id, secret) SELECT id, $2::text FROM a"
	  " RETURNING id)"
	  " SELECT " DB_SQL_MS("now()") " FROM s",
	  3 },
	{ "principal_patch",
	  "WITH u AS (UPDATE principals SET"
	  " webhook_url = CASE WHEN $2::boolean THEN $3::text ELSE webhook_url END,"
	  " capabilities = CASE WHEN $4::jsonb IS NULL THEN capabilities"
	  "  ELSE ARRAY(SELECT jsonb_array_elements_text($4::jsonb)) END,"
	  " webhook_disabled_at = NULL"
	  " WHERE id = $1 AND role = 'agent' RETURNING *),"
	  " s AS (INSERT INTO agent_webhook_secrets (agent_id, secret)"
	  " SELECT u.id, $5::text FROM u WHERE u.webhook_url IS NOT NULL AND NOT EXISTS"
	  " (SELECT 1 FROM agent_webhook_secrets w WHERE w.agent_id = u.id"
	  "  AND (w.expires_at IS NULL OR w.expires_at > now())) RETURNING id)"
	  " SELECT u.id, u.role, u.name, u.project_id, array_to_json(u.capabilities),"
	  " u.webhook_url, (SELECT count(*) FROM s) FROM u",
	  5 },
	{ "principal_by_run_token",
	  "SELECT p.id, p.role, p.name, p.project_id, r.id, coalesce(r.job_id, '')"
	  " FROM runs r JOIN principals p ON p.id = r.agent_id"
	  " WHERE r.mcp_token_hash = $1 AND r.status IN ('pending', 'running')",
	  1 },
	{ "principal_key_issue",
	  "INSERT INTO api_keys (id, principal_id, key_hash)"
	  " SELECT $1, id, $3 FROM principals WHERE id = $2"
	  " RETURNING " DB_SQL_MS("created_at"),
	  3 },
	{ "principal_by_key",
	  "SELECT k.key_hash, p.id, p.role, p.name, p.project_id"
	  " FROM api_keys k JOIN principals p ON p.id = k.principal_id"
	  " WHERE k.id = $1 AND k.revoked_at IS NULL",
	  1 },
};
const size_t PRINCIPALS_STMTS_N = sizeof PRINCIPALS_STMTS / sizeof PRINCIPALS_STMTS[0];

/* State of a creation or key issue while its statement runs. */
typedef struct issue_ctx {
	principals_created_cb cb;
	void *arg;
	json_t *answer; /* the reply being built; created_at is added from the row */
} issue_ctx;

/* State of an authentication while its lookup runs. */
typedef struct auth_ctx {
	principals_auth_cb cb;
	void *arg;
	char hash[AUTH_HASH_HEX_LEN + 1];
} auth_ctx;

static void set_error(json_error *err, const char *field, const char *message)
{
	snprintf(err->field, sizeof err->field, "%s", field);
	snprintf(err->message, sizeof err->message, "%s", message);
}

int principals_spec_parse(const json_t *body, principal_spec *out, json_error *err)
{
	memset(out, 0, sizeof *out);
	if (json_req_string(body, "role", 16, &out->role, err) != 0)
		return -1;
	if (!auth_role_valid(out->role)) {
		set_error(err, "role", "expected one of user, agent, admin");
		return -1;
	}
	if (json_req_string(body, "name", PRINCIPAL_NAME_MAX, &out->name, err) != 0)
		return -1;
	if (out->name[0] == '\0') {
		set_error(err, "name", "must not be empty");
		return -1;
	}
	int present = 0;
	if (json_opt_string_array(body, "capabilities", PRINCIPAL_CAPABILITIES_MAX,
				  PRINCIPAL_CAPABILITY_LEN_MAX, &out->capabilities, &present,
				  err) != 0)
		return -1;
	if (present) {
		size_t i;
		json_t *v;
		json_array_foreach(out->capabilities, i, v)
		{
			if (json_string_length(v) == 0) {
				set_error(err, "capabilities", "a capability must not be empty");
				return -1;
			}
		}
	}
	if (json_opt_string(body, "webhook_url", PRINCIPAL_URL_MAX, &out->webhook_url, NULL, err) !=
	    0)
		return -1;
	if (out->webhook_url && webhook_url_check(out->webhook_url) == WEBHOOK_URL_BAD) {
		set_error(err, "webhook_url", "expected an http:// or https:// URL");
		return -1;
	}
	if (strcmp(out->role, ROLE_AGENT) != 0) {
		if (out->capabilities && json_array_size(out->capabilities) > 0) {
			set_error(err, "capabilities", "only agents have capabilities");
			return -1;
		}
		if (out->webhook_url) {
			set_error(err, "webhook_url", "only agents have a webhook URL");
			return -1;
		}
		out->capabilities = NULL;
	}
	return 0;
}

/* Adds "created_at" from the single bigint (ms) cell of `res`. */
static void add_created_at(json_t *answer, const PGresult *res)
{
	char when[CLOCK_RFC3339_LEN];
	clock_format_rfc3339(strtoll(PQgetvalue(res, 0, 0), NULL, 10), when);
	json_object_set_new(answer, "created_at", json_string(when));
}

static void on_issued(void *arg, PGresult *res, const char *error)
{
	issue_ctx *ctx = arg;
	if (!res || !db_result_ok(res)) {
		log_error("issuing a key failed: %s", error ? error : "unknown error");
		ctx->cb(ctx->arg, NULL, "database_unavailable", "the database could not answer");
	} else if (PQntuples(res) == 0) {
		ctx->cb(ctx->arg, NULL, PRINCIPALS_ERR_NOT_FOUND, "no such principal");
	} else {
		add_created_at(ctx->answer, res);
		ctx->cb(ctx->arg, ctx->answer, NULL, NULL);
		ctx->answer = NULL;
	}
	json_decref(ctx->answer);
	free(ctx);
}

/* Makes a key for `principal_id` into `answer` ({id, principal_id, key}); writes its hash. */
static int make_key(json_t *answer, char key_id[IDS_MAX_LEN], char hash[AUTH_HASH_HEX_LEN + 1])
{
	char key[AUTH_KEY_LEN + 1];
	if (auth_key_new(key, sizeof key, key_id, IDS_MAX_LEN) != 0)
		return -1;
	auth_hash_hex(key, strlen(key), hash);
	json_object_set_new(answer, "key", json_string(key));
	return 0;
}

/* Reports a failure that happened before any query, from the caller's frame. */
static void fail_now(issue_ctx *ctx, const char *message)
{
	ctx->cb(ctx->arg, NULL, "internal_error", message);
	json_decref(ctx->answer);
	free(ctx);
}

void principals_create(db_pool *db, const principal_spec *spec, principals_created_cb cb, void *arg)
{
	issue_ctx *ctx = calloc(1, sizeof *ctx);
	if (!ctx) {
		cb(arg, NULL, "internal_error", "out of memory");
		return;
	}
	ctx->cb = cb;
	ctx->arg = arg;
	const char *prefix = strcmp(spec->role, ROLE_USER) == 0	   ? "usr"
			     : strcmp(spec->role, ROLE_AGENT) == 0 ? "agt"
								   : "adm";
	char id[IDS_MAX_LEN], key_id[IDS_MAX_LEN], hash[AUTH_HASH_HEX_LEN + 1];
	int agent = strcmp(spec->role, ROLE_AGENT) == 0;
	json_t *caps =
		agent ? (spec->capabilities ? json_deep_copy(spec->capabilities) : json_array())
		      : json_array();
	ctx->answer = json_object();
	if (ids_new(prefix, id) != 0) {
		json_decref(caps);
		fail_now(ctx, "cannot make an id");
		return;
	}
	char *caps_text = json_dumps(caps, JSON_COMPACT);
	json_object_set_new(ctx->answer, "id", json_string(id));
	json_object_set_new(ctx->answer, "role", json_string(spec->role));
	json_object_set_new(ctx->answer, "name", json_string(spec->name));
	json_object_set_new(ctx->answer, "project_id", json_string(PROJECT_DEFAULT_ID));
	if (agent) {
		json_object_set(ctx->answer, "capabilities", caps);
		json_object_set_new(ctx->answer, "webhook_url",
				    spec->webhook_url ? json_string(spec->webhook_url)
						      : json_null());
	}
	json_decref(caps);
	char *stored = NULL;
	if (!caps_text || make_key(ctx->answer, key_id, hash) != 0) {
		free(caps_text);
		fail_now(ctx, "cannot make a key");
		return;
	}
	if (agent && spec->webhook_url) {
		char shown[WEBHOOK_SECRET_LEN + 1];
		if (principals_secret_new(spec->secrets_key, shown, sizeof shown, &stored) != 0) {
			free(caps_text);
			fail_now(ctx, "cannot make a webhook secret");
			return;
		}
		json_object_set_new(ctx->answer, "webhook_secret", json_string(shown));
	}
	const char *params[] = { id,	    spec->role,	       spec->name, PROJECT_DEFAULT_ID,
				 caps_text, spec->webhook_url, key_id,	   hash,
				 stored };
	int r = db_query(db, "principal_create", 9, params, on_issued, ctx);
	free(caps_text);
	free(stored);
	if (r != 0)
		fail_now(ctx, "cannot queue the query");
}

void principals_issue_key(db_pool *db, const char *principal_id, principals_created_cb cb,
			  void *arg)
{
	issue_ctx *ctx = calloc(1, sizeof *ctx);
	if (!ctx) {
		cb(arg, NULL, "internal_error", "out of memory");
		return;
	}
	ctx->cb = cb;
	ctx->arg = arg;
	char key_id[IDS_MAX_LEN], hash[AUTH_HASH_HEX_LEN + 1];
	if (!ids_valid(principal_id, NULL)) {
		/* Not an id at all: no such principal, without asking the database. */
		free(ctx);
		cb(arg, NULL, PRINCIPALS_ERR_NOT_FOUND, "no such principal");
		return;
	}
	ctx->answer = json_object();
	json_object_set_new(ctx->answer, "id", json_null()); /* keeps "id" first */
	json_object_set_new(ctx->answer, "principal_id", json_string(principal_id));
	if (make_key(ctx->answer, key_id, hash) != 0) {
		fail_now(ctx, "cannot make a key");
		return;
	}
	json_object_set_new(ctx->answer, "id", json_string(key_id));
	const char *params[] = { key_id, principal_id, hash };
	if (db_query(db, "principal_key_issue", 3, params, on_issued, ctx) != 0)
		fail_now(ctx, "cannot queue the query");
}

static void on_key_row(void *arg, PGresult *res, const char *error)
{
	auth_ctx *ctx = arg;
	if (!res || !db_result_ok(res)) {
		ctx->cb(ctx->arg, NULL, error ? error : "database error");
	} else if (PQntuples(res) != 1 || !auth_hash_equal(PQgetvalue(res, 0, 0), ctx->hash)) {
		ctx->cb(ctx->arg, NULL, NULL);
	} else {
		principal p = { 0 };
		snprintf(p.id, sizeof p.id, "%s", PQgetvalue(res, 0, 1));
		snprintf(p.role, sizeof p.role, "%s", PQgetvalue(res, 0, 2));
		snprintf(p.name, sizeof p.name, "%s", PQgetvalue(res, 0, 3));
		snprintf(p.project_id, sizeof p.project_id, "%s", PQgetvalue(res, 0, 4));
		ctx->cb(ctx->arg, &p, NULL);
	}
	free(ctx);
}

void principals_authenticate(db_pool *db, const char *key, principals_auth_cb cb, void *arg)
{
	char key_id[IDS_MAX_LEN];
	if (!key || auth_key_parse(key, key_id, sizeof key_id) != 0) {
		cb(arg, NULL, NULL);
		return;
	}
	auth_ctx *ctx = calloc(1, sizeof *ctx);
	if (!ctx) {
		cb(arg, NULL, "out of memory");
		return;
	}
	ctx->cb = cb;
	ctx->arg = arg;
	auth_hash_hex(key, strlen(key), ctx->hash);
	const char *params[] = { key_id };
	if (db_query(db, "principal_by_key", 1, params, on_key_row, ctx) != 0) {
		free(ctx);
		cb(arg, NULL, "cannot queue the query");
	}
}

static void on_run_row(void *arg, PGresult *res, const char *error)
{
	auth_ctx *ctx = arg;
	if (!res || !db_result_ok(res)) {
		ctx->cb(ctx->arg, NULL, error ? error : "database error");
	} else if (PQntuples(res) != 1) {
		ctx->cb(ctx->arg, NULL, NULL);
	} else {
		principal p = { 0 };
		snprintf(p.id, sizeof p.id, "%s", PQgetvalue(res, 0, 0));
		snprintf(p.role, sizeof p.role, "%s", PQgetvalue(res, 0, 1));
		snprintf(p.name, sizeof p.name, "%s", PQgetvalue(res, 0, 2));
		snprintf(p.project_id, sizeof p.project_id, "%s", PQgetvalue(res, 0, 3));
		snprintf(p.run_id, sizeof p.run_id, "%s", PQgetvalue(res, 0, 4));
		snprintf(p.run_job_id, sizeof p.run_job_id, "%s", PQgetvalue(res, 0, 5));
		ctx->cb(ctx->arg, &p, NULL);
	}
	free(ctx);
}

void principals_authenticate_run(db_pool *db, const char *token, principals_auth_cb cb, void *arg)
{
	if (!auth_run_token_shaped(token, AUTH_MCP_TOKEN_PREFIX)) {
		cb(arg, NULL, NULL);
		return;
	}
	auth_ctx *ctx = calloc(1, sizeof *ctx);
	if (!ctx) {
		cb(arg, NULL, "out of memory");
		return;
	}
	ctx->cb = cb;
	ctx->arg = arg;
	auth_hash_hex(token, strlen(token), ctx->hash);
	const char *params[] = { ctx->hash };
	if (db_query(db, "principal_by_run_token", 1, params, on_run_row, ctx) != 0) {
		free(ctx);
		cb(arg, NULL, "cannot queue the query");
	}
}

/* ===== Webhook secrets and changes of agents ===== */

int principals_secret_new(const unsigned char *secrets_key, char *shown, size_t shownlen,
			  char **stored)
{
	*stored = NULL;
	if (webhook_secret_new(shown, shownlen) != 0)
		return -1;
	*stored = secrets_key ? seal_encrypt(secrets_key, shown, strlen(shown)) : strdup(shown);
	return *stored ? 0 : -1;
}

static void on_rotated(void *arg, PGresult *res, const char *error)
{
	issue_ctx *ctx = arg;
	if (!res || !db_result_ok(res)) {
		log_error("rotating a webhook secret failed: %s", error ? error : "unknown error");
		ctx->cb(ctx->arg, NULL, "database_unavailable", "the database could not answer");
	} else if (PQntuples(res) == 0) {
		ctx->cb(ctx->arg, NULL, PRINCIPALS_ERR_NOT_FOUND, "no such agent");
	} else {
		ctx->cb(ctx->arg, ctx->answer, NULL, NULL);
		ctx->answer = NULL;
	}
	json_decref(ctx->answer);
	free(ctx);
}

void principals_rotate_secret(db_pool *db, const char *id, const unsigned char *secrets_key,
			      principals_created_cb cb, void *arg)
{
	if (!ids_valid(id, "agt")) {
		cb(arg, NULL, PRINCIPALS_ERR_NOT_FOUND, "no such agent");
		return;
	}
	issue_ctx *ctx = calloc(1, sizeof *ctx);
	if (!ctx) {
		cb(arg, NULL, "internal_error", "out of memory");
		return;
	}
	ctx->cb = cb;
	ctx->arg = arg;
	char shown[WEBHOOK_SECRET_LEN + 1], hours[8], *stored = NULL;
	if (principals_secret_new(secrets_key, shown, sizeof shown, &stored) != 0) {
		fail_now(ctx, "cannot make a webhook secret");
		return;
	}
	ctx->answer = json_pack("{s:s}", "webhook_secret", shown);
	snprintf(hours, sizeof hours, "%d", PRINCIPAL_SECRET_OVERLAP_HOURS);
	const char *params[] = { id, stored, hours };
	int r = db_query(db, "principal_secret_rotate", 3, params, on_rotated, ctx);
	free(stored);
	if (r != 0)
		fail_now(ctx, "cannot queue the query");
}

int principals_patch_parse(const json_t *body, principal_patch *out, json_error *err)
{
	memset(out, 0, sizeof *out);
	json_t *url = json_object_get(body, "webhook_url");
	if (url) {
		out->has_webhook_url = 1;
		if (!json_is_null(url) &&
		    json_opt_string(body, "webhook_url", PRINCIPAL_URL_MAX, &out->webhook_url, NULL,
				    err) != 0)
			return -1;
		if (out->webhook_url && webhook_url_check(out->webhook_url) == WEBHOOK_URL_BAD) {
			set_error(err, "webhook_url", "expected an http:// or https:// URL");
			return -1;
		}
	}
	int present = 0;
	if (json_opt_string_array(body, "capabilities", PRINCIPAL_CAPABILITIES_MAX,
				  PRINCIPAL_CAPABILITY_LEN_MAX, &out->capabilities, &present,
				  err) != 0)
		return -1;
	if (!present)
		out->capabilities = NULL;
	return 0;
}

typedef struct patch_ctx {
	principals_created_cb cb;
	void *arg;
	char shown[WEBHOOK_SECRET_LEN + 1];
} patch_ctx;

static void on_patched(void *arg, PGresult *res, const char *error)
{
	patch_ctx *ctx = arg;
	if (!res || !db_result_ok(res)) {
		log_error("changing an agent failed: %s", error ? error : "unknown error");
		ctx->cb(ctx->arg, NULL, "database_unavailable", "the database could not answer");
	} else if (PQntuples(res) == 0) {
		ctx->cb(ctx->arg, NULL, PRINCIPALS_ERR_NOT_FOUND, "no such agent");
	} else {
		json_error_t jerr;
		json_t *answer = json_pack(
			"{s:s,s:s,s:s,s:s,s:o,s:o}", "id", PQgetvalue(res, 0, 0), "role",
			PQgetvalue(res, 0, 1), "name", PQgetvalue(res, 0, 2), "project_id",
			PQgetvalue(res, 0, 3), "capabilities",
			json_loads(PQgetvalue(res, 0, 4), 0, &jerr), "webhook_url",
			PQgetisnull(res, 0, 5) ? json_null() : json_string(PQgetvalue(res, 0, 5)));
		if (answer && strcmp(PQgetvalue(res, 0, 6), "0") != 0)
			json_object_set_new(answer, "webhook_secret", json_string(ctx->shown));
		ctx->cb(ctx->arg, answer, NULL, NULL);
	}
	free(ctx);
}

void principals_patch(db_pool *db, const char *id, const principal_patch *patch,
		      principals_created_cb cb, void *arg)
{
	if (!ids_valid(id, "agt")) {
		cb(arg, NULL, PRINCIPALS_ERR_NOT_FOUND, "no such agent");
		return;
	}
	patch_ctx *ctx = calloc(1, sizeof *ctx);
	char *stored = NULL;
	if (!ctx || principals_secret_new(patch->secrets_key, ctx->shown, sizeof ctx->shown,
					  &stored) != 0) {
		free(ctx);
		cb(arg, NULL, "internal_error", "cannot make a webhook secret");
		return;
	}
	ctx->cb = cb;
	ctx->arg = arg;
	char *caps = patch->capabilities ? json_dumps(patch->capabilities, JSON_COMPACT) : NULL;
	const char *params[] = { id, patch->has_webhook_url ? "true" : "false", patch->webhook_url,
				 caps, stored };
	int r = db_query(db, "principal_patch", 5, params, on_patched, ctx);
	free(caps);
	free(stored);
	if (r != 0) {
		free(ctx);
		cb(arg, NULL, "database_unavailable", "cannot queue the query");
	}
}

json_t *principal_json(const principal *p)
{
	return json_pack("{s:s,s:s,s:s,s:s}", "id", p->id, "role", p->role, "name", p->name,
			 "project_id", p->project_id);
}
