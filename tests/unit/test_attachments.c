/* Unit tests of attachments.c: storing uploads and who may read them through jobs. */
#include <jansson.h>
#include <openssl/evp.h>

#include "attachments.h"
#include "jobs.h"
#include "testdb.h"

static struct event_base *base;
static db_pool *pool;
static char *url;

static void open_db(void)
{
	url = tdb_scratch_create("att");
	base = event_base_new();
	pool = tdb_pool_open_with_jobs(base, url, ATTACHMENTS_STMTS, ATTACHMENTS_STMTS_N);
}

static void close_db(void)
{
	db_pool_free(pool);
	event_base_free(base);
	free(url);
}

/* ===== Saving and reading ===== */

typedef struct saved {
	int calls;
	json_t *json; /* owned */
	char error[256];
} saved;

static void on_saved(void *arg, json_t *json, const char *error)
{
	saved *s = arg;
	s->calls++;
	s->json = json;
	snprintf(s->error, sizeof s->error, "%s", error ? error : "");
}

static int saved_done(const void *arg)
{
	return ((const saved *)arg)->calls > 0;
}

typedef struct read_result {
	int calls;
	int found;
	char filename[300];
	char type[300];
	unsigned char *data; /* a copy */
	size_t len;
	char error[256];
} read_result;

static void on_read(void *arg, int found, const char *filename, const char *content_type,
		    const unsigned char *data, size_t len, const char *error)
{
	read_result *r = arg;
	r->calls++;
	r->found = found;
	snprintf(r->filename, sizeof r->filename, "%s", filename ? filename : "");
	snprintf(r->type, sizeof r->type, "%s", content_type ? content_type : "");
	r->data = NULL;
	if (found) {
		r->data = malloc(len + 1);
		CHECK(r->data != NULL);
		memcpy(r->data, data, len);
	}
	r->len = len;
	snprintf(r->error, sizeof r->error, "%s", error ? error : "");
}

static int read_done(const void *arg)
{
	return ((const read_result *)arg)->calls > 0;
}

/* Saves `len` bytes as `uploader`; returns the answer (caller decrefs). */
static json_t *save(const char *uploader, const char *filename, const char *type,
		    const unsigned char *data, size_t len)
{
	saved s = { 0 };
	attachments_save(pool, uploader, filename, type, data, len, on_saved, &s);
	CHECK(tdb_loop_until(base, saved_done, &s, 10000));
	CHECK_INT(s.calls, 1);
	if (!s.json) {
		fprintf(stderr, "attachments_save: %s\n", s.error);
		exit(1);
	}
	return s.json;
}

static read_result read_as(const char *id, const char *reader)
{
	read_result r;
	memset(&r, 0, sizeof r);
	attachments_read(pool, id, reader, on_read, &r);
	CHECK(tdb_loop_until(base, read_done, &r, 10000));
	CHECK_INT(r.calls, 1);
	CHECK_STR(r.error, "");
	return r;
}

/* Whether `reader` may read `id`; when it may, the bytes must be `data`. */
static int can_read(const char *id, const char *reader, const unsigned char *data, size_t len)
{
	read_result r = read_as(id, reader);
	if (r.found) {
		CHECK_INT(r.len, len);
		CHECK(len == 0 || memcmp(r.data, data, len) == 0);
	} else {
		CHECK(r.data == NULL);
		CHECK_INT(r.len, 0);
	}
	free(r.data);
	return r.found;
}

/* Lower-case hex SHA-256 of `len` bytes, computed here independently. */
static void sha256_hex(const unsigned char *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	CHECK_INT(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL), 1);
	CHECK_INT(n, 32);
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static const char *str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* ===== Tests ===== */

static void test_save_and_read_back(void)
{
	open_db();
	char u[IDS_MAX_LEN], v[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "user", NULL, v);

	/* Every byte value, NUL bytes included. */
	size_t len = 70000;
	unsigned char *data = malloc(len);
	CHECK(data != NULL);
	for (size_t i = 0; i < len; i++)
		data[i] = (unsigned char)((i * 31) ^ (i >> 8));
	data[0] = 0;
	data[1] = 0;
	data[len - 1] = 0;
	json_t *s = save(u, "report \"final\".pdf", "application/pdf", data, len);
	const char *id = str(s, "id");
	CHECK(ids_valid(id, "att"));
	CHECK_STR(str(s, "filename"), "report \"final\".pdf");
	CHECK_STR(str(s, "content_type"), "application/pdf");
	CHECK_INT(json_integer_value(json_object_get(s, "size")), len);
	char sha[65];
	sha256_hex(data, len, sha);
	CHECK_STR(str(s, "sha256"), sha);
	CHECK_INT(json_object_size(s), 5);

	read_result r = read_as(id, u);
	CHECK(r.found);
	CHECK_STR(r.filename, "report \"final\".pdf");
	CHECK_STR(r.type, "application/pdf");
	CHECK_INT(r.len, len);
	CHECK(memcmp(r.data, data, len) == 0);
	char back[65];
	sha256_hex(r.data, r.len, back);
	CHECK_STR(back, sha);
	free(r.data);

	/* What the database holds. */
	const char *p[] = { id };
	char val[128];
	CHECK_STR(tdb_value(url, "SELECT sha256 FROM attachments WHERE id = $1", 1, p, val,
			    sizeof val),
		  sha);
	CHECK_INT(tdb_int(url, "SELECT size FROM attachments WHERE id = $1", 1, p), len);
	CHECK_INT(tdb_int(url, "SELECT length(content) FROM attachments WHERE id = $1", 1, p), len);
	CHECK_STR(tdb_value(url, "SELECT uploader_id FROM attachments WHERE id = $1", 1, p, val,
			    sizeof val),
		  u);

	/* Another principal: not found, without an error. */
	CHECK(!can_read(id, v, data, len));
	/* An id that does not exist, and one that is no id. */
	char nothing[IDS_MAX_LEN];
	CHECK_INT(ids_new("att", nothing), 0);
	CHECK(!can_read(nothing, u, NULL, 0));
	CHECK(!can_read("not-an-id", u, NULL, 0));

	/* An empty file. */
	json_t *e = save(u, "empty.txt", "text/plain", (const unsigned char *)"", 0);
	CHECK_INT(json_integer_value(json_object_get(e, "size")), 0);
	sha256_hex((const unsigned char *)"", 0, sha);
	CHECK_STR(str(e, "sha256"), sha);
	r = read_as(str(e, "id"), u);
	CHECK(r.found);
	CHECK_INT(r.len, 0);
	CHECK_STR(r.filename, "empty.txt");
	free(r.data);

	/* Two uploads of the same bytes are two attachments. */
	json_t *again = save(u, "report.pdf", "application/pdf", data, len);
	CHECK(strcmp(str(again, "id"), id) != 0);
	CHECK_STR(str(again, "sha256"), str(s, "sha256"));
	json_decref(again);
	json_decref(e);
	json_decref(s);
	free(data);
	close_db();
}

/* market_create naming `attachment`, through jobs_call; returns the outcome. */
typedef struct op_result {
	int calls;
	char outcome[64];
} op_result;

static void on_op(void *arg, const char *outcome, json_t *row, const char *error)
{
	op_result *r = arg;
	(void)row;
	r->calls++;
	snprintf(r->outcome, sizeof r->outcome, "%s", outcome ? outcome : error);
}

static int op_done(const void *arg)
{
	return ((const op_result *)arg)->calls > 0;
}

static char *op(const char *name, int n, const char *const *params, char out[64])
{
	op_result r = { 0 };
	CHECK_INT(jobs_call(pool, name, n, params, on_op, &r), 0);
	CHECK(tdb_loop_until(base, op_done, &r, 10000));
	snprintf(out, 64, "%s", r.outcome);
	return out;
}

static void test_visible_through_jobs(void)
{
	open_db();
	char u[IDS_MAX_LEN], v[IDS_MAX_LEN], g[IDS_MAX_LEN], h[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "user", NULL, v);
	tdb_principal(url, "agent", NULL, g);
	tdb_principal(url, "agent", NULL, h);
	static const unsigned char input[] = "input\0file";
	static const unsigned char output[] = "\0output\xff";
	json_t *in = save(u, "in.bin", "application/octet-stream", input, sizeof input);
	const char *in_id = str(in, "id");

	/* The sender names it in a job. */
	char job[IDS_MAX_LEN], list[128], outcome[64];
	CHECK_INT(ids_new("job", job), 0);
	snprintf(list, sizeof list, "[\"%s\"]", in_id);
	const char *create[] = {
		job,  u,   PROJECT_DEFAULT_ID, "T", "D", "- R", "P", "0", "600", "[]", NULL, NULL,
		NULL, list
	};
	CHECK_STR(op("market_create", 14, create, outcome), JOB_OK);
	CHECK(can_read(in_id, u, input, sizeof input));
	CHECK(!can_read(in_id, v, input, sizeof input));
	CHECK(!can_read(in_id, g, input, sizeof input));

	/* Held is not enough; accepted is. */
	const char *pull[] = { g, "w", "60" };
	CHECK_STR(op("market_pull", 3, pull, outcome), JOB_OK);
	CHECK(!can_read(in_id, g, input, sizeof input));
	const char *accept[] = { job, g };
	CHECK_STR(op("market_accept", 2, accept, outcome), JOB_OK);
	CHECK(can_read(in_id, g, input, sizeof input));
	CHECK(!can_read(in_id, h, input, sizeof input));
	CHECK(!can_read(in_id, v, input, sizeof input));

	/* The agent's output attachment: the sender may read it once the submission names it. */
	json_t *out = save(g, "out.bin", "application/octet-stream", output, sizeof output);
	const char *out_id = str(out, "id");
	CHECK(can_read(out_id, g, output, sizeof output));
	CHECK(!can_read(out_id, u, output, sizeof output));
	char out_list[128];
	snprintf(out_list, sizeof out_list, "[\"%s\"]", out_id);
	const char *submit[] = { job, g, "{\"done\":true}", out_list };
	CHECK_STR(op("market_submit", 4, submit, outcome), JOB_OK);
	CHECK(can_read(out_id, u, output, sizeof output));
	CHECK(!can_read(out_id, v, output, sizeof output));
	CHECK(!can_read(out_id, h, output, sizeof output));

	/* An agent whose attempt failed loses the sender's attachment with the job. */
	char job2[IDS_MAX_LEN];
	CHECK_INT(ids_new("job", job2), 0);
	const char *create2[] = {
		job2, u,   PROJECT_DEFAULT_ID, "T", "D", "- R", "P", "0", "600", "[]", NULL, NULL,
		NULL, list
	};
	CHECK_STR(op("market_create", 14, create2, outcome), JOB_OK);
	const char *pull_h[] = { h, "w", "60" };
	CHECK_STR(op("market_pull", 3, pull_h, outcome), JOB_OK);
	const char *accept_h[] = { job2, h };
	CHECK_STR(op("market_accept", 2, accept_h, outcome), JOB_OK);
	CHECK(can_read(in_id, h, input, sizeof input));
	const char *fail_h[] = { job2, h, "gave up" };
	CHECK_STR(op("market_fail", 3, fail_h, outcome), JOB_OK);
	CHECK(!can_read(in_id, h, input, sizeof input));

	/* A job may only name the sender's own uploads. */
	char job3[IDS_MAX_LEN];
	CHECK_INT(ids_new("job", job3), 0);
	const char *create3[] = {
		job3, v,   PROJECT_DEFAULT_ID, "T", "D", "- R", "P", "0", "600", "[]", NULL, NULL,
		NULL, list
	};
	CHECK_STR(op("market_create", 14, create3, outcome), JOB_ATTACHMENT_NOT_FOUND);
	CHECK(!can_read(in_id, v, input, sizeof input));
	json_decref(in);
	json_decref(out);
	close_db();
}

static void test_database_unavailable(void)
{
	base = event_base_new();
	pool = tdb_pool_unreachable(base, ATTACHMENTS_STMTS, ATTACHMENTS_STMTS_N);
	char u[IDS_MAX_LEN];
	CHECK_INT(ids_new("usr", u), 0);
	saved s = { 0 };
	attachments_save(pool, u, "f", "text/plain", (const unsigned char *)"x", 1, on_saved, &s);
	CHECK(tdb_loop_until(base, saved_done, &s, 5000));
	CHECK_INT(s.calls, 1);
	CHECK(s.json == NULL);
	CHECK(s.error[0] != '\0');
	read_result r;
	memset(&r, 0, sizeof r);
	attachments_read(pool, "att_01hzzzzzzzzzzzzzzzzzzzzz", u, on_read, &r);
	CHECK(tdb_loop_until(base, read_done, &r, 5000));
	CHECK(!r.found);
	CHECK(r.error[0] != '\0');
	db_pool_free(pool);
	event_base_free(base);
}

TEST_MAIN(TEST(test_save_and_read_back), TEST(test_visible_through_jobs),
	  TEST(test_database_unavailable))
