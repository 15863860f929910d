/* Principals and API keys: creation, key issue and authentication, shared by errandctl and the gateway. */
#include "principals.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "clock.h"
#include "log.h"

const db_stmt PRINCIPALS_STMTS[] = {
	{ "principal_create",
	  "WITH p AS ("
	  " INSERT INTO principals (id, role, name, project_id, capabilities, webhook_url)"
	  " VALUES ($1, $2, $3, $4, ARRAY(SELECT jsonb_array_elements_text($5::jsonb)), $6)"
	  " RETURNING id, created_at),"
	  " k AS (INSERT INTO api_keys (id, principal_id, key_hash)"
	  " SELECT $7, p.id, $8 FROM p RETURNING id)"
	  " SELECT " DB_SQL_MS("p.created_at") " FROM p, k",
	  8 },
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

static int url_ok(const char *url)
{
	return strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0;
}

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
	if (out->webhook_url && !url_ok(out->webhook_url)) {
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
	if (!caps_text || make_key(ctx->answer, key_id, hash) != 0) {
		free(caps_text);
		fail_now(ctx, "cannot make a key");
		return;
	}
	const char *params[] = { id,	    spec->role,	       spec->name, PROJECT_DEFAULT_ID,
				 caps_text, spec->webhook_url, key_id,	   hash };
	int r = db_query(db, "principal_create", 8, params, on_issued, ctx);
	free(caps_text);
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
		principal p;
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

json_t *principal_json(const principal *p)
{
	return json_pack("{s:s,s:s,s:s,s:s}", "id", p->id, "role", p->role, "name", p->name,
			 "project_id", p->project_id);
}
