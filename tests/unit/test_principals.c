/* Unit tests of principals.c: creation requests, keys and authentication on a real database. */
#include <stdint.h>

#include "auth.h"
#include "clock.h"
#include "ids.h"
#include "principals.h"
#include "testdb.h"

/* ===== The event loop and the pool ===== */

static struct event_base *base;
static db_pool *pool;

/* A started pool on `url` with the module's statements; `wait` for it to be ready. */
static void pool_open(const char *url, int timeout_ms, int wait)
{
	base = event_base_new();
	db_options opt = { .size = 2, .queue_max = 100, .timeout_ms = timeout_ms };
	pool = tdb_pool_new(base, url, &opt, PRINCIPALS_STMTS, PRINCIPALS_STMTS_N);
	tdb_pool_start(base, pool, wait ? 10000 : 0);
}

static void pool_close(void)
{
	db_pool_free(pool);
	pool = NULL;
	event_base_free(base);
	base = NULL;
}

/* ===== Calls and their answers ===== */

typedef struct created {
	int calls;
	json_t *json; /* owned */
	char code[64];
	char message[256];
} created;

static void on_created(void *arg, json_t *json, const char *error_code, const char *message)
{
	created *c = arg;
	c->calls++;
	c->json = json;
	snprintf(c->code, sizeof c->code, "%s", error_code ? error_code : "");
	snprintf(c->message, sizeof c->message, "%s", message ? message : "");
}

static int created_done(const void *arg)
{
	return ((const created *)arg)->calls > 0;
}

typedef struct authed {
	int calls;
	int found;
	principal p;
	char error[256];
	int error_null;
} authed;

static void on_auth(void *arg, const principal *p, const char *error)
{
	authed *a = arg;
	a->calls++;
	a->found = p != NULL;
	if (p)
		a->p = *p;
	a->error_null = error == NULL;
	snprintf(a->error, sizeof a->error, "%s", error ? error : "");
}

static int authed_done(const void *arg)
{
	return ((const authed *)arg)->calls > 0;
}

/* Creates a principal from the JSON text of a request; returns the answer (caller decrefs). */
static json_t *create(const char *request)
{
	json_t *body = json_loads(request, 0, NULL);
	CHECK(body != NULL);
	principal_spec spec;
	json_error err;
	CHECK_INT(principals_spec_parse(body, &spec, &err), 0);
	created c = { 0 };
	principals_create(pool, &spec, on_created, &c);
	CHECK(tdb_loop_until(base, created_done, &c, 10000));
	CHECK_INT(c.calls, 1);
	if (!c.json) {
		fprintf(stderr, "principals_create: %s: %s\n", c.code, c.message);
		exit(1);
	}
	json_decref(body);
	return c.json;
}

static authed authenticate(const char *key)
{
	authed a = { 0 };
	principals_authenticate(pool, key, on_auth, &a);
	CHECK(tdb_loop_until(base, authed_done, &a, 10000));
	CHECK_INT(a.calls, 1);
	return a;
}

static const char *str_at(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* Checks `when` is an RFC 3339 time within a minute of now. */
static void check_recent(const char *when)
{
	CHECK(when != NULL);
	int64_t ms = 0;
	CHECK_INT(clock_parse_rfc3339(when, &ms), 0);
	CHECK(when[strlen(when) - 1] == 'Z');
	int64_t now = clock_now_ms();
	CHECK(ms > now - 60000 && ms < now + 60000);
}

/* Checks the form of a key and that the database holds only its hash, under its key id. */
static void check_key_stored(const char *url, const char *key, const char *principal_id)
{
	CHECK(key != NULL);
	CHECK_INT(strlen(key), AUTH_KEY_LEN);
	CHECK(strncmp(key, AUTH_KEY_PREFIX, 3) == 0);
	char key_id[IDS_MAX_LEN];
	CHECK_INT(auth_key_parse(key, key_id, sizeof key_id), 0);
	char hash[AUTH_HASH_HEX_LEN + 1];
	auth_hash_hex(key, strlen(key), hash);
	const char *params[] = { key_id };
	PGresult *res = tdb_exec(url,
				 "SELECT key_hash, principal_id, revoked_at IS NULL"
				 " FROM api_keys WHERE id = $1",
				 1, params);
	CHECK_INT(PQresultStatus(res), PGRES_TUPLES_OK);
	CHECK_INT(PQntuples(res), 1);
	CHECK_STR(PQgetvalue(res, 0, 0), hash);
	CHECK_STR(PQgetvalue(res, 0, 1), principal_id);
	CHECK_STR(PQgetvalue(res, 0, 2), "t");
	PQclear(res);
	/* The secret is nowhere in the table. */
	const char *secret[] = { key + 30 };
	res = tdb_exec(url, "SELECT count(*) FROM api_keys k WHERE strpos(k::text, $1) > 0", 1,
		       secret);
	CHECK_STR(PQgetvalue(res, 0, 0), "0");
	PQclear(res);
}

/* A key of `key` with one character of its secret changed. */
static void key_tampered(const char *key, char out[AUTH_KEY_LEN + 1])
{
	memcpy(out, key, AUTH_KEY_LEN + 1);
	out[30] = out[30] == 'A' ? 'B' : 'A';
}

/* ===== Tests: creation requests ===== */

/* Bodies parsed by parse(): the specs borrow from them until parsed_free(). */
static json_t *parsed[64];
static int nparsed;

static void parsed_free(void)
{
	for (int i = 0; i < nparsed; i++)
		json_decref(parsed[i]);
	nparsed = 0;
}

/* Parses `text`; returns the result, with the field named on failure in `field`. */
static int parse(const char *text, principal_spec *spec, char *field, size_t fieldlen)
{
	json_t *body = json_loads(text, JSON_ALLOW_NUL, NULL);
	if (!body) {
		fprintf(stderr, "bad test JSON: %s\n", text);
		exit(1);
	}
	CHECK(nparsed < 64);
	parsed[nparsed++] = body;
	json_error err;
	memset(&err, 0, sizeof err);
	int r = principals_spec_parse(body, spec, &err);
	snprintf(field, fieldlen, "%s", r == 0 ? "" : err.field);
	if (r != 0)
		CHECK(err.message[0] != '\0');
	return r;
}

static void test_spec_accepts(void)
{
	principal_spec s;
	char field[64];
	CHECK_INT(parse("{\"role\":\"user\",\"name\":\"Ada\"}", &s, field, sizeof field), 0);
	CHECK_STR(s.role, "user");
	CHECK_STR(s.name, "Ada");
	CHECK(s.capabilities == NULL);
	CHECK(s.webhook_url == NULL);

	CHECK_INT(parse("{\"role\":\"agent\",\"name\":\"bot\",\"capabilities\":[\"summarise\","
			"\"translate\"],\"webhook_url\":\"https://agent.example/hook\"}",
			&s, field, sizeof field),
		  0);
	CHECK_STR(s.role, "agent");
	CHECK(json_is_array(s.capabilities));
	CHECK_INT(json_array_size(s.capabilities), 2);
	CHECK_STR(json_string_value(json_array_get(s.capabilities, 1)), "translate");
	CHECK_STR(s.webhook_url, "https://agent.example/hook");

	CHECK_INT(
		parse("{\"role\":\"agent\",\"name\":\"b\",\"webhook_url\":\"http://10.0.0.1:8080/\"}",
		      &s, field, sizeof field),
		0);
	CHECK_STR(s.webhook_url, "http://10.0.0.1:8080/");
	CHECK(s.capabilities == NULL);

	CHECK_INT(parse("{\"role\":\"admin\",\"name\":\"root\"}", &s, field, sizeof field), 0);
	CHECK_STR(s.role, "admin");

	/* Null optional members are absent; an empty list is no capabilities. */
	CHECK_INT(parse("{\"role\":\"user\",\"name\":\"n\",\"capabilities\":null,"
			"\"webhook_url\":null}",
			&s, field, sizeof field),
		  0);
	CHECK(s.capabilities == NULL);
	CHECK(s.webhook_url == NULL);
	CHECK_INT(parse("{\"role\":\"user\",\"name\":\"n\",\"capabilities\":[]}", &s, field,
			sizeof field),
		  0);
	CHECK(s.capabilities == NULL);

	/* The longest name. */
	char text[512];
	char name[PRINCIPAL_NAME_MAX + 1];
	memset(name, 'n', PRINCIPAL_NAME_MAX);
	name[PRINCIPAL_NAME_MAX] = '\0';
	snprintf(text, sizeof text, "{\"role\":\"user\",\"name\":\"%s\"}", name);
	CHECK_INT(parse(text, &s, field, sizeof field), 0);
	CHECK_INT(strlen(s.name), PRINCIPAL_NAME_MAX);
	parsed_free();
}

/* `field` names `want`, or an item of it ("capabilities[0]"). */
static int field_is(const char *field, const char *want)
{
	size_t n = strlen(want);
	return strncmp(field, want, n) == 0 && (field[n] == '\0' || field[n] == '[');
}

static void test_spec_rejects(void)
{
	static const struct {
		const char *body;
		const char *field;
	} cases[] = {
		{ "{\"name\":\"x\"}", "role" },
		{ "{\"role\":\"root\",\"name\":\"x\"}", "role" },
		{ "{\"role\":\"Agent\",\"name\":\"x\"}", "role" },
		{ "{\"role\":5,\"name\":\"x\"}", "role" },
		{ "{\"role\":null,\"name\":\"x\"}", "role" },
		{ "{\"role\":\"user\"}", "name" },
		{ "{\"role\":\"user\",\"name\":\"\"}", "name" },
		{ "{\"role\":\"user\",\"name\":42}", "name" },
		{ "{\"role\":\"user\",\"name\":[\"x\"]}", "name" },
		{ "{\"role\":\"user\",\"name\":\"a\\u0000b\"}", "name" },
		{ "{\"role\":\"user\",\"name\":\"x\",\"capabilities\":[\"a\"]}", "capabilities" },
		{ "{\"role\":\"admin\",\"name\":\"x\",\"capabilities\":[\"a\"]}", "capabilities" },
		{ "{\"role\":\"agent\",\"name\":\"x\",\"capabilities\":\"a\"}", "capabilities" },
		{ "{\"role\":\"agent\",\"name\":\"x\",\"capabilities\":[1]}", "capabilities" },
		{ "{\"role\":\"agent\",\"name\":\"x\",\"capabilities\":[\"\"]}", "capabilities" },
		{ "{\"role\":\"agent\",\"name\":\"x\",\"capabilities\":{\"a\":1}}",
		  "capabilities" },
		{ "{\"role\":\"agent\",\"name\":\"x\",\"webhook_url\":\"ftp://h/x\"}",
		  "webhook_url" },
		{ "{\"role\":\"agent\",\"name\":\"x\",\"webhook_url\":\"agent.example\"}",
		  "webhook_url" },
		{ "{\"role\":\"agent\",\"name\":\"x\",\"webhook_url\":7}", "webhook_url" },
		{ "{\"role\":\"user\",\"name\":\"x\",\"webhook_url\":\"https://h/\"}",
		  "webhook_url" },
		{ "{\"role\":\"admin\",\"name\":\"x\",\"webhook_url\":\"https://h/\"}",
		  "webhook_url" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		principal_spec s;
		char field[64];
		if (parse(cases[i].body, &s, field, sizeof field) != -1 ||
		    !field_is(field, cases[i].field)) {
			fprintf(stderr, "%s: expected an error on %s, got '%s'\n", cases[i].body,
				cases[i].field, field);
			exit(1);
		}
	}

	/* Limits: a name one byte too long, too many capabilities, one too long. */
	principal_spec s;
	char field[64];
	char text[8192];
	char name[PRINCIPAL_NAME_MAX + 2];
	memset(name, 'n', PRINCIPAL_NAME_MAX + 1);
	name[PRINCIPAL_NAME_MAX + 1] = '\0';
	snprintf(text, sizeof text, "{\"role\":\"user\",\"name\":\"%s\"}", name);
	CHECK_INT(parse(text, &s, field, sizeof field), -1);
	CHECK_STR(field, "name");

	size_t n = (size_t)snprintf(text, sizeof text,
				    "{\"role\":\"agent\",\"name\":\"x\",\"capabilities\":[");
	for (int i = 0; i <= PRINCIPAL_CAPABILITIES_MAX; i++)
		n += (size_t)snprintf(text + n, sizeof text - n, "%s\"c%d\"", i ? "," : "", i);
	snprintf(text + n, sizeof text - n, "]}");
	CHECK_INT(parse(text, &s, field, sizeof field), -1);
	CHECK_STR(field, "capabilities");

	char cap[PRINCIPAL_CAPABILITY_LEN_MAX + 2];
	memset(cap, 'c', PRINCIPAL_CAPABILITY_LEN_MAX + 1);
	cap[PRINCIPAL_CAPABILITY_LEN_MAX + 1] = '\0';
	snprintf(text, sizeof text, "{\"role\":\"agent\",\"name\":\"x\",\"capabilities\":[\"%s\"]}",
		 cap);
	CHECK_INT(parse(text, &s, field, sizeof field), -1);
	CHECK(field_is(field, "capabilities"));
	cap[PRINCIPAL_CAPABILITY_LEN_MAX] = '\0';
	snprintf(text, sizeof text, "{\"role\":\"agent\",\"name\":\"x\",\"capabilities\":[\"%s\"]}",
		 cap);
	CHECK_INT(parse(text, &s, field, sizeof field), 0);

	/* Not an object at all. */
	CHECK_INT(parse("[]", &s, field, sizeof field), -1);
	CHECK_STR(field, "role");
	parsed_free();
}

/* ===== Tests: against the database ===== */

static void test_create_answers_and_stores_hash(void)
{
	char *url = tdb_scratch_create("principals");
	pool_open(url, 10000, 1);

	json_t *u =
		create("{\"role\":\"user\",\"name\":\"O'Brien \\\"x\\\"; DROP TABLE principals\"}");
	const char *id = str_at(u, "id");
	CHECK(ids_valid(id, "usr"));
	CHECK_STR(str_at(u, "role"), "user");
	CHECK_STR(str_at(u, "name"), "O'Brien \"x\"; DROP TABLE principals");
	CHECK_STR(str_at(u, "project_id"), PROJECT_DEFAULT_ID);
	CHECK(json_object_get(u, "capabilities") == NULL);
	CHECK(json_object_get(u, "webhook_url") == NULL);
	check_recent(str_at(u, "created_at"));
	CHECK_INT(json_object_size(u), 6);
	check_key_stored(url, str_at(u, "key"), id);

	const char *params[] = { id };
	PGresult *res = tdb_exec(url,
				 "SELECT role, name, project_id, capabilities::text,"
				 " webhook_url IS NULL FROM principals WHERE id = $1",
				 1, params);
	CHECK_INT(PQntuples(res), 1);
	CHECK_STR(PQgetvalue(res, 0, 0), "user");
	CHECK_STR(PQgetvalue(res, 0, 1), "O'Brien \"x\"; DROP TABLE principals");
	CHECK_STR(PQgetvalue(res, 0, 2), PROJECT_DEFAULT_ID);
	CHECK_STR(PQgetvalue(res, 0, 3), "{}");
	CHECK_STR(PQgetvalue(res, 0, 4), "t");
	PQclear(res);

	json_t *a = create("{\"role\":\"agent\",\"name\":\"bot\",\"capabilities\":[\"summarise\","
			   "\"translate\"],\"webhook_url\":\"https://agent.example/hook\"}");
	const char *aid = str_at(a, "id");
	CHECK(ids_valid(aid, "agt"));
	CHECK_STR(str_at(a, "role"), "agent");
	json_t *caps = json_object_get(a, "capabilities");
	CHECK_INT(json_array_size(caps), 2);
	CHECK_STR(json_string_value(json_array_get(caps, 0)), "summarise");
	CHECK_STR(json_string_value(json_array_get(caps, 1)), "translate");
	CHECK_STR(str_at(a, "webhook_url"), "https://agent.example/hook");
	check_recent(str_at(a, "created_at"));
	check_key_stored(url, str_at(a, "key"), aid);
	const char *aparams[] = { aid };
	res = tdb_exec(url, "SELECT capabilities::text, webhook_url FROM principals WHERE id = $1",
		       1, aparams);
	CHECK_STR(PQgetvalue(res, 0, 0), "{summarise,translate}");
	CHECK_STR(PQgetvalue(res, 0, 1), "https://agent.example/hook");
	PQclear(res);

	/* An agent without them: an empty list and a null webhook. */
	json_t *bare = create("{\"role\":\"agent\",\"name\":\"bare\"}");
	CHECK(json_is_array(json_object_get(bare, "capabilities")));
	CHECK_INT(json_array_size(json_object_get(bare, "capabilities")), 0);
	CHECK(json_is_null(json_object_get(bare, "webhook_url")));

	json_t *adm = create("{\"role\":\"admin\",\"name\":\"root\"}");
	CHECK(ids_valid(str_at(adm, "id"), "adm"));
	CHECK(strcmp(str_at(adm, "key"), str_at(u, "key")) != 0);

	json_decref(u);
	json_decref(a);
	json_decref(bare);
	json_decref(adm);
	pool_close();
	free(url);
}

static void test_authenticate(void)
{
	char *url = tdb_scratch_create("principals");
	pool_open(url, 10000, 1);
	json_t *u = create("{\"role\":\"agent\",\"name\":\"Grace\"}");
	const char *key = str_at(u, "key");

	authed a = authenticate(key);
	CHECK(a.found);
	CHECK(a.error_null);
	CHECK_STR(a.p.id, str_at(u, "id"));
	CHECK_STR(a.p.role, "agent");
	CHECK_STR(a.p.name, "Grace");
	CHECK_STR(a.p.project_id, PROJECT_DEFAULT_ID);
	json_t *pj = principal_json(&a.p);
	CHECK_STR(str_at(pj, "id"), a.p.id);
	CHECK_STR(str_at(pj, "role"), "agent");
	CHECK_STR(str_at(pj, "name"), "Grace");
	CHECK_STR(str_at(pj, "project_id"), PROJECT_DEFAULT_ID);
	CHECK_INT(json_object_size(pj), 4);
	json_decref(pj);

	/* The right key id with another secret. */
	char wrong[AUTH_KEY_LEN + 1];
	key_tampered(key, wrong);
	char wrong_id[IDS_MAX_LEN];
	CHECK_INT(auth_key_parse(wrong, wrong_id, sizeof wrong_id), 0);
	a = authenticate(wrong);
	CHECK(!a.found);
	CHECK(a.error_null);

	/* Malformed keys, and a well-formed one that was never issued. */
	const char *malformed[] = { "", "nope", "ek_", "ek_short_secret", "Bearer x", NULL };
	for (int i = 0; i < 6; i++) {
		a = authenticate(malformed[i]);
		CHECK(!a.found);
		CHECK(a.error_null);
	}
	char truncated[AUTH_KEY_LEN + 1];
	memcpy(truncated, key, AUTH_KEY_LEN + 1);
	truncated[AUTH_KEY_LEN - 1] = '\0';
	a = authenticate(truncated);
	CHECK(!a.found);
	char stranger[AUTH_KEY_LEN + 1], stranger_id[IDS_MAX_LEN];
	CHECK_INT(auth_key_new(stranger, sizeof stranger, stranger_id, sizeof stranger_id), 0);
	a = authenticate(stranger);
	CHECK(!a.found);
	CHECK(a.error_null);

	/* Still the right one afterwards. */
	a = authenticate(key);
	CHECK(a.found);
	json_decref(u);
	pool_close();
	free(url);
}

static void test_issue_key_and_revoke(void)
{
	char *url = tdb_scratch_create("principals");
	pool_open(url, 10000, 1);
	json_t *u = create("{\"role\":\"user\",\"name\":\"Lin\"}");
	const char *id = str_at(u, "id");
	const char *first = str_at(u, "key");

	/* Unknown principals: a well-formed id, and something that is no id at all. */
	char unknown[IDS_MAX_LEN];
	CHECK_INT(ids_new("usr", unknown), 0);
	const char *nobody[] = { unknown, "usr_nope", "" };
	for (int i = 0; i < 3; i++) {
		created c = { 0 };
		principals_issue_key(pool, nobody[i], on_created, &c);
		CHECK(tdb_loop_until(base, created_done, &c, 10000));
		CHECK_INT(c.calls, 1);
		CHECK(c.json == NULL);
		CHECK_STR(c.code, PRINCIPALS_ERR_NOT_FOUND);
		CHECK(c.message[0] != '\0');
	}

	created c = { 0 };
	principals_issue_key(pool, id, on_created, &c);
	CHECK(tdb_loop_until(base, created_done, &c, 10000));
	CHECK_INT(c.calls, 1);
	CHECK(c.json != NULL);
	CHECK_STR(c.code, "");
	const char *second = str_at(c.json, "key");
	CHECK(ids_valid(str_at(c.json, "id"), "key"));
	CHECK_STR(str_at(c.json, "principal_id"), id);
	check_recent(str_at(c.json, "created_at"));
	CHECK_INT(json_object_size(c.json), 4);
	CHECK(strcmp(first, second) != 0);
	char second_id[IDS_MAX_LEN];
	CHECK_INT(auth_key_parse(second, second_id, sizeof second_id), 0);
	CHECK_STR(str_at(c.json, "id"), second_id);
	check_key_stored(url, second, id);

	authed a = authenticate(second);
	CHECK(a.found);
	CHECK_STR(a.p.id, id);
	a = authenticate(first);
	CHECK(a.found);
	CHECK_STR(a.p.id, id);

	/* Revoking one key leaves the other working. */
	char first_id[IDS_MAX_LEN];
	CHECK_INT(auth_key_parse(first, first_id, sizeof first_id), 0);
	const char *params[] = { first_id };
	PGresult *res =
		tdb_exec(url, "UPDATE api_keys SET revoked_at = now() WHERE id = $1", 1, params);
	CHECK_STR(PQcmdTuples(res), "1");
	PQclear(res);
	a = authenticate(first);
	CHECK(!a.found);
	CHECK(a.error_null);
	a = authenticate(second);
	CHECK(a.found);

	json_decref(c.json);
	json_decref(u);
	pool_close();
	free(url);
}

static void test_database_unavailable(void)
{
	char url[128];
	pool_open(tdb_closed_url(url, sizeof url, "errand"), 300, 0);

	char key[AUTH_KEY_LEN + 1], key_id[IDS_MAX_LEN];
	CHECK_INT(auth_key_new(key, sizeof key, key_id, sizeof key_id), 0);
	authed a = { 0 };
	principals_authenticate(pool, key, on_auth, &a);
	CHECK_INT(a.calls, 0);
	CHECK(tdb_loop_until(base, authed_done, &a, 3000));
	CHECK(!a.found);
	CHECK(!a.error_null);
	CHECK(a.error[0] != '\0');

	json_t *body = json_loads("{\"role\":\"user\",\"name\":\"x\"}", 0, NULL);
	principal_spec spec;
	json_error err;
	CHECK_INT(principals_spec_parse(body, &spec, &err), 0);
	created c = { 0 };
	principals_create(pool, &spec, on_created, &c);
	CHECK(tdb_loop_until(base, created_done, &c, 3000));
	CHECK(c.json == NULL);
	CHECK_STR(c.code, "database_unavailable");

	char someone[IDS_MAX_LEN];
	CHECK_INT(ids_new("usr", someone), 0);
	created k = { 0 };
	principals_issue_key(pool, someone, on_created, &k);
	CHECK(tdb_loop_until(base, created_done, &k, 3000));
	CHECK(k.json == NULL);
	CHECK_STR(k.code, "database_unavailable");
	json_decref(body);
	pool_close();
}

TEST_MAIN(TEST(test_spec_accepts), TEST(test_spec_rejects),
	  TEST(test_create_answers_and_stores_hash), TEST(test_authenticate),
	  TEST(test_issue_key_and_revoke), TEST(test_database_unavailable))
