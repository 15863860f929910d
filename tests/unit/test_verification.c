/*
 * Unit tests of verification.c: the checks' pure parts (the output check,
 * verdicts, the judge's message, the external verifier's request body) and,
 * against a real database, taking a submitted attempt (verify_take), the
 * due attempts (verify_due), settling it (verify_settle, with the market's
 * fail logic, the ledger's capture and dispatch_fail_attempt) and the stored
 * log (verify_log) of migration 0006.
 */
#include <jansson.h>

#include "jobs.h"
#include "seal.h"
#include "testdb.h"
#include "verification.h"

#define FEE_BPS 1000
#define HOOK_URL "https://agent.example/hook"
#define VERIFIER_URL "https://verifier.example/check"
#define VERIFIER_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define OUTPUT "{\"answer\": 42, \"words\": [\"a\", \"b\"]}"
#define SCHEMA "{\"type\": \"object\", \"required\": [\"answer\"]}"

/* ===== The checks' pure parts ===== */

static void test_check_output(void)
{
	char msg[256];
	CHECK_INT(verification_check_output(NULL, 100, msg, sizeof msg), 0);
	CHECK_STR(msg, "no output was submitted");
	CHECK_INT(verification_check_output("null", 100, msg, sizeof msg), 0);
	CHECK_STR(msg, "no output was submitted");

	CHECK_INT(verification_check_output("{\"a\":1}", 100, msg, sizeof msg), 1);
	CHECK_STR(msg, "output present, 7 bytes");
	/* "null" inside a string or a longer text is an output */
	CHECK_INT(verification_check_output("\"null\"", 100, msg, sizeof msg), 1);
	CHECK_STR(msg, "output present, 6 bytes");
	CHECK_INT(verification_check_output("[null]", 100, msg, sizeof msg), 1);

	/* exactly the limit passes, one byte over fails */
	CHECK_INT(verification_check_output("\"12345678\"", 10, msg, sizeof msg), 1);
	CHECK_STR(msg, "output present, 10 bytes");
	CHECK_INT(verification_check_output("\"123456789\"", 10, msg, sizeof msg), 0);
	CHECK_STR(msg, "the output is 11 bytes, over the limit of 10");

	/* a big output, a big limit */
	size_t n = 1 << 20;
	char *big = malloc(n + 1);
	CHECK(big != NULL);
	memset(big, '1', n);
	big[n] = '\0';
	CHECK_INT(verification_check_output(big, n, msg, sizeof msg), 1);
	CHECK_STR(msg, "output present, 1048576 bytes");
	CHECK_INT(verification_check_output(big, n - 1, msg, sizeof msg), 0);
	CHECK_STR(msg, "the output is 1048576 bytes, over the limit of 1048575");
	free(big);

	/* a short message buffer is cut, never overrun */
	char small[8];
	memset(small, 'x', sizeof small);
	CHECK_INT(verification_check_output(NULL, 100, small, sizeof small), 0);
	CHECK_STR(small, "no outp");
}

/* Parses `text` and reads it as a verdict. */
static int parse_text(const char *text, int *pass, char *reason, size_t reasonlen)
{
	json_error_t jerr;
	json_t *answer = json_loads(text, JSON_DECODE_ANY, &jerr);
	if (!answer) {
		fprintf(stderr, "bad test JSON %s: %s\n", text, jerr.text);
		exit(1);
	}
	int r = verification_parse_verdict(answer, pass, reason, reasonlen);
	json_decref(answer);
	return r;
}

/* A verdict {"pass": true, "reason": <reason>} with `reason` made as it is (any bytes). */
static int parse_with_reason(json_t *reason_value, int *pass, char *reason, size_t reasonlen)
{
	json_t *answer = json_object();
	CHECK(answer != NULL && reason_value != NULL);
	json_object_set_new(answer, "pass", json_true());
	json_object_set_new(answer, "reason", reason_value);
	int r = verification_parse_verdict(answer, pass, reason, reasonlen);
	json_decref(answer);
	return r;
}

static void test_parse_verdict(void)
{
	int pass = -1;
	char reason[VERIFY_REASON_MAX + 1];

	CHECK_INT(parse_text("{\"pass\": true, \"reason\": \"three lines, 5-7-5\"}", &pass, reason,
			     sizeof reason),
		  0);
	CHECK_INT(pass, 1);
	CHECK_STR(reason, "three lines, 5-7-5");
	CHECK_INT(parse_text("{\"pass\": false, \"reason\": \"too long\"}", &pass, reason,
			     sizeof reason),
		  0);
	CHECK_INT(pass, 0);
	CHECK_STR(reason, "too long");
	/* an empty reason is a string */
	CHECK_INT(parse_text("{\"pass\": true, \"reason\": \"\"}", &pass, reason, sizeof reason),
		  0);
	CHECK_INT(pass, 1);
	CHECK_STR(reason, "");
	/* other members are ignored, whatever they hold */
	CHECK_INT(parse_text("{\"score\": 0.2, \"pass\": false, \"reason\": \"r\", \"extra\": "
			     "{\"pass\": true}, \"details\": [1, 2]}",
			     &pass, reason, sizeof reason),
		  0);
	CHECK_INT(pass, 0);
	CHECK_STR(reason, "r");
	/* UTF-8 is kept as it is */
	CHECK_INT(parse_text("{\"pass\": true, \"reason\": \"d\\u00e9j\\u00e0 vu \\ud83d\\ude00\"}",
			     &pass, reason, sizeof reason),
		  0);
	CHECK_STR(reason, "d\xc3\xa9j\xc3\xa0 vu \xf0\x9f\x98\x80");

	/* "pass" must be a boolean: garbage is never a pass */
	const char *bad[] = {
		"{\"pass\": \"true\", \"reason\": \"r\"}",
		"{\"pass\": \"false\", \"reason\": \"r\"}",
		"{\"pass\": 1, \"reason\": \"r\"}",
		"{\"pass\": 0, \"reason\": \"r\"}",
		"{\"pass\": 1.0, \"reason\": \"r\"}",
		"{\"pass\": null, \"reason\": \"r\"}",
		"{\"pass\": [true], \"reason\": \"r\"}",
		"{\"pass\": {}, \"reason\": \"r\"}",
		"{\"reason\": \"r\"}",
		"{\"Pass\": true, \"reason\": \"r\"}",
		/* "reason" must be a string */
		"{\"pass\": true}",
		"{\"pass\": false}",
		"{\"pass\": true, \"reason\": null}",
		"{\"pass\": true, \"reason\": 5}",
		"{\"pass\": true, \"reason\": true}",
		"{\"pass\": true, \"reason\": [\"r\"]}",
		"{\"pass\": true, \"reason\": {\"text\": \"r\"}}",
		"{\"pass\": true, \"Reason\": \"r\"}",
		/* not an object */
		"[true, \"r\"]",
		"[{\"pass\": true, \"reason\": \"r\"}]",
		"\"{\\\"pass\\\": true, \\\"reason\\\": \\\"r\\\"}\"",
		"\"pass\"",
		"true",
		"1",
		"null",
		"{}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		pass = -1;
		if (parse_text(bad[i], &pass, reason, sizeof reason) != -1) {
			fprintf(stderr, "read as a verdict: %s\n", bad[i]);
			exit(1);
		}
		CHECK(pass != 1);
	}
	pass = -1;
	CHECK_INT(verification_parse_verdict(NULL, &pass, reason, sizeof reason), -1);
	CHECK(pass != 1);

	/* the reason's length: VERIFY_REASON_MAX bytes at most (bytes, not characters) */
	char text[VERIFY_REASON_MAX + 2];
	memset(text, 'r', VERIFY_REASON_MAX);
	text[VERIFY_REASON_MAX] = '\0';
	CHECK_INT(parse_with_reason(json_string(text), &pass, reason, sizeof reason), 0);
	CHECK_INT(pass, 1);
	CHECK_INT(strlen(reason), VERIFY_REASON_MAX);
	CHECK(memcmp(reason, text, VERIFY_REASON_MAX) == 0);
	text[VERIFY_REASON_MAX] = 'r';
	text[VERIFY_REASON_MAX + 1] = '\0';
	pass = -1;
	CHECK_INT(parse_with_reason(json_string(text), &pass, reason, sizeof reason), -1);
	CHECK(pass != 1);
	/* 250 two-byte characters are 500 bytes; 251 are too many */
	char accents[2 * 251 + 1];
	for (int i = 0; i < 251; i++)
		memcpy(accents + 2 * i, "\xc3\xa9", 2);
	accents[2 * 250] = '\0';
	CHECK_INT(parse_with_reason(json_string(accents), &pass, reason, sizeof reason), 0);
	CHECK_STR(reason, accents);
	accents[2 * 250] = '\xc3';
	accents[2 * 251] = '\0';
	CHECK_INT(parse_with_reason(json_string(accents), &pass, reason, sizeof reason), -1);

	/* bytes jansson would refuse, put there without its check: refused here too */
	CHECK_INT(parse_with_reason(json_string_nocheck("bad \xff byte"), &pass, reason,
				    sizeof reason),
		  -1);
	CHECK_INT(parse_with_reason(json_string_nocheck("cut \xc3"), &pass, reason, sizeof reason),
		  -1);
	CHECK_INT(parse_with_reason(json_string_nocheck("overlong \xc0\xaf"), &pass, reason,
				    sizeof reason),
		  -1);
	/* a NUL inside the reason would cut it: refused */
	CHECK_INT(parse_with_reason(json_stringn("a\0b", 3), &pass, reason, sizeof reason), -1);

	/* a short buffer gets the reason cut, never overrun */
	char shortbuf[5];
	memset(shortbuf, 'x', sizeof shortbuf);
	CHECK_INT(parse_text("{\"pass\": true, \"reason\": \"abcdefgh\"}", &pass, shortbuf,
			     sizeof shortbuf),
		  0);
	CHECK_STR(shortbuf, "abcd");
}

/* Parses `text` (which must be JSON); fails the test otherwise. */
static json_t *parse(const char *text)
{
	CHECK(text != NULL);
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
	if (!v) {
		fprintf(stderr, "not JSON (%s): %s\n", jerr.text, text);
		exit(1);
	}
	return v;
}

/* Checks that `v` equals the JSON text `want`. */
static void expect_json(const json_t *v, const char *want)
{
	json_t *w = parse(want);
	if (!json_equal(v, w)) {
		char *got = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
		fprintf(stderr, "JSON %s, expected %s\n", got ? got : "(null)", want);
		free(got);
		exit(1);
	}
	json_decref(w);
}

static const char *member(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void test_judge_message(void)
{
	CHECK(strstr(VERIFY_JUDGE_SYSTEM, "\"pass\"") != NULL);
	CHECK(strstr(VERIFY_JUDGE_SYSTEM, "\"reason\"") != NULL);
	CHECK(strstr(VERIFY_JUDGE_SYSTEM, "JSON") != NULL);

	char *text = verification_judge_message("Write a haiku about rain",
						"{\"lines\": 3, \"language\": \"en\"}",
						"{\"haiku\": \"r\\u00e9ain\"}");
	json_t *m = parse(text);
	CHECK(json_is_object(m));
	CHECK_INT(json_object_size(m), 3);
	/* every member is a string: the judge gets the texts as they are */
	CHECK_STR(member(m, "objective"), "Write a haiku about rain");
	CHECK_STR(member(m, "constraints"), "{\"lines\": 3, \"language\": \"en\"}");
	CHECK_STR(member(m, "output"), "{\"haiku\": \"r\\u00e9ain\"}");
	json_decref(m);
	free(text);

	/* quotes, newlines and non-ASCII survive the round trip */
	const char *objective = "Say \"hi\"\nthen \xc3\xa9 and \\ and </script>";
	text = verification_judge_message(objective, "{}", "\"hi\"");
	m = parse(text);
	CHECK_STR(member(m, "objective"), objective);
	CHECK_STR(member(m, "output"), "\"hi\"");
	json_decref(m);
	free(text);

	/* what is missing has its defaults */
	text = verification_judge_message(NULL, NULL, NULL);
	m = parse(text);
	CHECK_STR(member(m, "objective"), "");
	CHECK_STR(member(m, "constraints"), "{}");
	CHECK_STR(member(m, "output"), "null");
	json_decref(m);
	free(text);
}

/* The external verifier's request body for `j`, parsed and checked for its fixed parts. */
static json_t *request_body(const verification_job *j)
{
	char *text = verification_request_body(j);
	json_t *b = parse(text);
	free(text);
	CHECK(json_is_object(b));
	CHECK_INT(json_object_size(b), 3);
	CHECK_STR(member(b, "type"), "verification.requested");
	CHECK(ids_valid(member(b, "id"), "evt"));
	json_t *d = json_object_get(b, "data");
	CHECK(json_is_object(d));
	CHECK_INT(json_object_size(d), 5);
	CHECK_STR(member(d, "job_id"), j->job_id);
	CHECK(json_is_integer(json_object_get(d, "attempt")));
	CHECK_INT(json_integer_value(json_object_get(d, "attempt")), j->attempt);
	CHECK_STR(member(d, "objective"), j->objective);
	return b;
}

static void test_request_body(void)
{
	char job[IDS_MAX_LEN];
	CHECK_INT(ids_new("job", job), 0);
	verification_job j = {
		.job_id = job,
		.attempt = 2,
		.kind = "market",
		.output = OUTPUT,
		.output_schema = SCHEMA,
		.objective = "Write a haiku about rain",
		.constraints = "{}",
		.secret = VERIFIER_SECRET,
	};
	json_t *b = request_body(&j);
	json_t *d = json_object_get(b, "data");
	/* the output and the schema are JSON, not texts */
	expect_json(json_object_get(d, "output"), OUTPUT);
	expect_json(json_object_get(d, "output_schema"), SCHEMA);
	/* the secret never travels in the body */
	char *text = json_dumps(b, JSON_COMPACT);
	CHECK(strstr(text, "whsec_") == NULL);
	free(text);
	/* each request has an id of its own */
	json_t *again = request_body(&j);
	CHECK(strcmp(member(b, "id"), member(again, "id")) != 0);
	json_decref(again);
	json_decref(b);

	/* a string output, no schema */
	j.output = "\"a haiku\"";
	j.output_schema = NULL;
	j.attempt = 1;
	b = request_body(&j);
	d = json_object_get(b, "data");
	CHECK_STR(member(d, "output"), "a haiku");
	CHECK(json_is_null(json_object_get(d, "output_schema")));
	json_decref(b);

	/* a number, an array, a boolean */
	j.output = "42";
	b = request_body(&j);
	d = json_object_get(b, "data");
	CHECK(json_is_integer(json_object_get(d, "output")));
	CHECK_INT(json_integer_value(json_object_get(d, "output")), 42);
	json_decref(b);
	j.output = "2.5";
	b = request_body(&j);
	expect_json(json_object_get(json_object_get(b, "data"), "output"), "2.5");
	json_decref(b);
	j.output = "[1, \"two\", null]";
	b = request_body(&j);
	expect_json(json_object_get(json_object_get(b, "data"), "output"), "[1, \"two\", null]");
	json_decref(b);
	j.output = "false";
	b = request_body(&j);
	CHECK(json_is_false(json_object_get(json_object_get(b, "data"), "output")));
	json_decref(b);

	/* no output at all: null (the member is there) */
	j.output = NULL;
	b = request_body(&j);
	d = json_object_get(b, "data");
	CHECK(json_object_get(d, "output") != NULL);
	CHECK(json_is_null(json_object_get(d, "output")));
	json_decref(b);
	j.output = "null";
	b = request_body(&j);
	CHECK(json_is_null(json_object_get(json_object_get(b, "data"), "output")));
	json_decref(b);

	/* a schema that is not an object is passed on as it is */
	j.output = "1";
	j.output_schema = "true";
	b = request_body(&j);
	CHECK(json_is_true(json_object_get(json_object_get(b, "data"), "output_schema")));
	json_decref(b);
}

/*
 * A number as PostgreSQL's jsonb gives it back: a submitted {"n": 1e20}
 * (how jansson writes that real) is stored as numeric and read back as
 * {"n": 100000000000000000000}, an integer beyond int64; an output_schema's
 * {"maximum": 1e20} likewise. The external verifier must still get the
 * output and the schema, not null.
 */
static void test_request_body_large_number(void)
{
	char job[IDS_MAX_LEN];
	CHECK_INT(ids_new("job", job), 0);
	verification_job j = {
		.job_id = job,
		.attempt = 1,
		.kind = "market",
		.output = "{\"n\": 100000000000000000000}",
		.output_schema = "{\"type\": \"object\", \"properties\": {\"n\":"
				 " {\"maximum\": 100000000000000000000}}}",
		.objective = "Count the grains",
		.constraints = "{}",
	};
	json_t *b = request_body(&j);
	json_t *d = json_object_get(b, "data");
	json_t *out = json_object_get(d, "output"), *schema = json_object_get(d, "output_schema");
	int bad = 0;
	if (!json_is_object(out)) {
		fprintf(stderr, "data.output is %s for the output %s\n",
			json_is_null(out) ? "null" : "not an object", j.output);
		bad = 1;
	}
	if (!json_is_object(schema)) {
		fprintf(stderr, "data.output_schema is %s for the schema %s\n",
			json_is_null(schema) ? "null" : "not an object", j.output_schema);
		bad = 1;
	}
	CHECK(!bad);
	json_t *n = json_object_get(out, "n");
	CHECK(json_is_number(n));
	CHECK(json_number_value(n) > 9.9e19 && json_number_value(n) < 1.01e20);
	json_decref(b);
}

/* ===== The database ===== */

static struct event_base *base;
static db_pool *pool;
static char *url;
static unsigned char key[SEAL_KEY_LEN], wrong_key[SEAL_KEY_LEN];

static void open_db(void)
{
	memset(key, 0x5c, sizeof key);
	memset(wrong_key, 0x3a, sizeof wrong_key);
	url = tdb_scratch_create("verify");
	base = event_base_new();
	CHECK(base != NULL);
	pool = tdb_pool_open_with_jobs(base, url, VERIFICATION_STMTS, VERIFICATION_STMTS_N);
}

static void close_db(void)
{
	CHECK(tdb_loop_until(base, tdb_pool_idle, pool, 10000));
	tdb_check_invariants(url, 1);
	db_pool_free(pool);
	event_base_free(base);
	free(url);
}

/* ----- SQL helpers ----- */

static long long int1(const char *sql, const char *p1)
{
	const char *p[] = { p1 };
	return tdb_int(url, sql, 1, p);
}

static char *value1(const char *sql, const char *p1, char *out, size_t outlen)
{
	const char *p[] = { p1 };
	return tdb_value(url, sql, 1, p, out, outlen);
}

/* Runs `sql` with $1 = `p1` (and $2 = `p2` when given); it must touch `rows` rows. */
static void exec2(const char *sql, const char *p1, const char *p2, int rows)
{
	const char *p[] = { p1, p2 };
	PGresult *res = tdb_exec(url, sql, p2 ? 2 : 1, p);
	if (!db_result_ok(res) || atoi(PQcmdTuples(res)) != rows) {
		fprintf(stderr, "%s: %s rows: %s", sql, PQcmdTuples(res),
			PQresultErrorMessage(res));
		exit(1);
	}
	PQclear(res);
}

/* The job's column `col` as text ("(null)" for NULL). */
static char *job_col(const char *job, const char *col, char *out, size_t outlen)
{
	char sql[160];
	snprintf(sql, sizeof sql, "SELECT %s::text FROM jobs WHERE id = $1", col);
	return value1(sql, job, out, outlen);
}

static void expect_job(const char *job, const char *col, const char *want)
{
	char v[4096];
	job_col(job, col, v, sizeof v);
	if (strcmp(v, want) != 0) {
		fprintf(stderr, "jobs.%s of %s: \"%s\", expected \"%s\"\n", col, job, v, want);
		exit(1);
	}
}

/* The column `col` of the verification (job, attempt) as text ("(null)" for NULL). */
static char *ver_col(const char *job, int attempt, const char *col, char *out, size_t outlen)
{
	char sql[192], a[16];
	snprintf(sql, sizeof sql,
		 "SELECT %s::text FROM verifications WHERE job_id = $1 AND attempt = $2::integer",
		 col);
	snprintf(a, sizeof a, "%d", attempt);
	const char *p[] = { job, a };
	return tdb_value(url, sql, 2, p, out, outlen);
}

static void expect_ver(const char *job, int attempt, const char *col, const char *want)
{
	char v[4096];
	ver_col(job, attempt, col, v, sizeof v);
	if (strcmp(v, want) != 0) {
		fprintf(stderr, "verifications.%s of %s/%d: \"%s\", expected \"%s\"\n", col, job,
			attempt, v, want);
		exit(1);
	}
}

static long long account(const char *prefix, const char *id)
{
	char name[64];
	snprintf(name, sizeof name, "%s%s", prefix, id);
	return tdb_balance(url, name);
}

static char *hold_status(const char *job, char out[16])
{
	return value1("SELECT coalesce((SELECT status FROM ledger_holds WHERE job_id = $1),"
		      " '(none)')",
		      job, out, 16);
}

static void expect_hold(const char *job, const char *want)
{
	char s[16];
	CHECK_STR(hold_status(job, s), want);
}

/* Transfers of `kind` for the job. */
static long long transfers(const char *job, const char *kind)
{
	const char *p[] = { job, kind };
	return tdb_int(url, "SELECT count(*) FROM ledger_transfers WHERE job_id = $1 AND kind = $2",
		       2, p);
}

/* Events of type `type` in the outbox for the job. */
static long long events(const char *job, const char *type)
{
	const char *p[] = { job, type };
	return tdb_int(url, "SELECT count(*) FROM outbox WHERE job_id = $1 AND type = $2", 2, p);
}

/* ----- jobs_call ----- */

typedef struct result {
	int calls;
	char outcome[64];
	json_t *row;
	char error[256];
} result;

static void on_result(void *arg, const char *outcome, json_t *row, const char *error)
{
	result *r = arg;
	r->calls++;
	snprintf(r->outcome, sizeof r->outcome, "%s", outcome ? outcome : "");
	r->row = row ? json_deep_copy(row) : NULL;
	snprintf(r->error, sizeof r->error, "%s", error ? error : "");
}

static int result_done(const void *arg)
{
	return ((const result *)arg)->calls > 0;
}

/* Runs `name` through jobs_call; its outcome must be `want` (and the row's status `status`). */
static void call(const char *name, int n, const char *const *params, const char *want,
		 const char *status)
{
	result r;
	memset(&r, 0, sizeof r);
	CHECK_INT(jobs_call(pool, name, n, params, on_result, &r), 0);
	CHECK(tdb_loop_until(base, result_done, &r, 10000));
	if (r.error[0] || strcmp(r.outcome, want) != 0) {
		fprintf(stderr, "%s: outcome \"%s\" (expected %s): %s\n", name, r.outcome, want,
			r.error);
		exit(1);
	}
	if (status) {
		CHECK(r.row != NULL);
		CHECK_STR(member(r.row, "status"), status);
	}
	json_decref(r.row);
}

/* A queued market job (market_create), its price held. */
static char *market_job(const char *sender, long long price, const char *schema,
			const char *verification, char id[IDS_MAX_LEN])
{
	char price_text[24];
	snprintf(price_text, sizeof price_text, "%lld", price);
	CHECK_INT(ids_new("job", id), 0);
	const char *params[] = { id,
				 sender,
				 PROJECT_DEFAULT_ID,
				 "Haiku",
				 "write a haiku",
				 "- three lines",
				 "Write a haiku about rain",
				 price_text,
				 "600",
				 "[]",
				 schema,
				 verification,
				 NULL,
				 NULL };
	call("market_create", 14, params, JOB_OK, "queued");
	return id;
}

/* `agent` pulls (the job must be `job`), accepts and submits `output`. */
static void work(const char *job, const char *agent, const char *output)
{
	result r;
	memset(&r, 0, sizeof r);
	const char *pull[] = { agent, "worker-1", "60" };
	CHECK_INT(jobs_call(pool, "market_pull", 3, pull, on_result, &r), 0);
	CHECK(tdb_loop_until(base, result_done, &r, 10000));
	CHECK_STR(r.outcome, JOB_OK);
	CHECK_STR(member(r.row, "id"), job);
	json_decref(r.row);
	const char *accept[] = { job, agent };
	call("market_accept", 2, accept, JOB_OK, "running");
	const char *submit[] = { job, agent, output, NULL };
	call("market_submit", 4, submit, JOB_OK, "submitted");
}

/* A submitted market job: created by `sender`, worked by `agent`. */
static char *submitted_job(const char *sender, const char *agent, long long price,
			   const char *schema, const char *verification, const char *output,
			   char id[IDS_MAX_LEN])
{
	market_job(sender, price, schema, verification, id);
	work(id, agent, output);
	return id;
}

/* An agent with a webhook URL (a /v1/jobs agent). */
static char *agent_with_hook(char id[IDS_MAX_LEN])
{
	tdb_principal(url, "agent", NULL, id);
	exec2("UPDATE principals SET webhook_url = $2 WHERE id = $1", id, HOOK_URL, 1);
	return id;
}

/* A /v1/jobs job (dispatch_create), moved to submitted with `result` as the run's reply would. */
static char *dispatch_submitted(const char *sender, const char *agent, int max_attempts,
				const char *result_json, char id[IDS_MAX_LEN])
{
	char attempts[16];
	snprintf(attempts, sizeof attempts, "%d", max_attempts);
	CHECK_INT(ids_new("job", id), 0);
	const char *params[] = { id,
				 sender,
				 PROJECT_DEFAULT_ID,
				 agent,
				 NULL,
				 "{\"objective\": \"Compare the vendors\","
				 " \"constraints\": {\"max_words\": 200}}",
				 NULL,
				 attempts,
				 "3600",
				 SCHEMA,
				 NULL,
				 "[]",
				 NULL,
				 NULL,
				 NULL };
	call("dispatch_create", 15, params, JOB_OK, "queued");
	/* the run completed: the job ran, then its result waits for the verifier */
	exec2("SELECT run_end(id, 'completed', NULL) FROM runs WHERE job_id = $1", id, NULL, 1);
	exec2("UPDATE jobs SET status = 'running', accepted_at = now() WHERE id = $1", id, NULL, 1);
	exec2("UPDATE jobs SET status = 'submitted', submitted_at = now(), result = $2::jsonb"
	      " WHERE id = $1",
	      id, result_json, 1);
	return id;
}

/* ----- verification_take ----- */

typedef struct taken {
	int calls;
	int found;
	char error[256];
	char job_id[IDS_MAX_LEN];
	int attempt;
	char *kind, *output, *output_schema, *secret, *objective, *constraints;
	json_t *verification;
	char *body; /* verification_request_body() of what was taken */
} taken;

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void on_taken(void *arg, const verification_job *j, const char *error)
{
	taken *t = arg;
	t->calls++;
	snprintf(t->error, sizeof t->error, "%s", error ? error : "");
	if (!j)
		return;
	t->found = 1;
	snprintf(t->job_id, sizeof t->job_id, "%s", j->job_id);
	t->attempt = j->attempt;
	t->kind = dup_or_null(j->kind);
	t->output = dup_or_null(j->output);
	t->output_schema = dup_or_null(j->output_schema);
	t->secret = dup_or_null(j->secret);
	t->objective = dup_or_null(j->objective);
	t->constraints = dup_or_null(j->constraints);
	t->verification = j->verification ? json_deep_copy(j->verification) : NULL;
	t->body = verification_request_body(j);
}

static int taken_done(const void *arg)
{
	return ((const taken *)arg)->calls > 0;
}

static void taken_free(taken *t)
{
	free(t->kind);
	free(t->output);
	free(t->output_schema);
	free(t->secret);
	free(t->objective);
	free(t->constraints);
	free(t->body);
	json_decref(t->verification);
	memset(t, 0, sizeof *t);
}

/* verification_take; the answer (the test fails on an error). */
static taken take(const char *job, int attempt, const char *instance, int lease_s,
		  const unsigned char *k)
{
	taken t;
	memset(&t, 0, sizeof t);
	verification_take(pool, job, attempt, instance, lease_s, k, on_taken, &t);
	CHECK(tdb_loop_until(base, taken_done, &t, 10000));
	CHECK_INT(t.calls, 1);
	if (t.error[0]) {
		fprintf(stderr, "verification_take: %s\n", t.error);
		exit(1);
	}
	return t;
}

/* Whether `instance` can take the attempt now (what it took is dropped). */
static int takes(const char *job, int attempt, const char *instance, int lease_s)
{
	taken t = take(job, attempt, instance, lease_s, key);
	int found = t.found;
	taken_free(&t);
	return found;
}

/* ----- verification_settle ----- */

typedef struct settled {
	int calls;
	char outcome[32]; /* "" for NULL */
	char status[32];  /* "" for NULL */
	int has_status;
	char error[256];
} settled;

static void on_settled(void *arg, const char *outcome, const char *status, const char *error)
{
	settled *s = arg;
	s->calls++;
	snprintf(s->outcome, sizeof s->outcome, "%s", outcome ? outcome : "");
	snprintf(s->status, sizeof s->status, "%s", status ? status : "");
	s->has_status = status != NULL;
	snprintf(s->error, sizeof s->error, "%s", error ? error : "");
}

static int settled_done(const void *arg)
{
	return ((const settled *)arg)->calls > 0;
}

/* verification_settle with the log `log_text` (JSON or NULL); outcome and status as given. */
static void settle(const char *job, int attempt, int pass, const char *reason, const char *log_text,
		   const char *want_outcome, const char *want_status)
{
	settled s;
	memset(&s, 0, sizeof s);
	json_t *log = log_text ? parse(log_text) : NULL;
	verification_settle(pool, job, attempt, pass, reason, log, FEE_BPS, on_settled, &s);
	json_decref(log);
	CHECK(tdb_loop_until(base, settled_done, &s, 10000));
	CHECK_INT(s.calls, 1);
	if (s.error[0]) {
		fprintf(stderr, "verification_settle: %s\n", s.error);
		exit(1);
	}
	if (strcmp(s.outcome, want_outcome) != 0 || strcmp(s.status, want_status) != 0) {
		fprintf(stderr, "settling %s/%d: %s, %s; expected %s, %s\n", job, attempt,
			s.outcome, s.has_status ? s.status : "(null)", want_outcome, want_status);
		exit(1);
	}
}

/* A stream's log of one attempt, as the verifier stores it (no verdict entry). */
static char *log_of(int attempt, long long ms, char *out, size_t outlen)
{
	snprintf(
		out, outlen,
		"[{\"id\": \"%lld-0\", \"event\": \"log\", \"data\": {\"attempt\": %d,"
		" \"step\": \"start\", \"level\": \"info\", \"message\": \"verifying attempt %d\"}},"
		" {\"id\": \"%lld-1\", \"event\": \"log\", \"data\": {\"attempt\": %d,"
		" \"step\": \"output\", \"level\": \"info\", \"message\": \"output present\"}}]",
		ms, attempt, attempt, ms, attempt);
	return out;
}

/* ----- verification_due ----- */

typedef struct due_list {
	int calls;
	int n;
	char ids[16][IDS_MAX_LEN];
	int attempts[16];
	char error[256];
} due_list;

static void on_due(void *arg, int n, const char *const *ids, const int *attempts, const char *error)
{
	due_list *d = arg;
	d->calls++;
	d->n = n;
	snprintf(d->error, sizeof d->error, "%s", error ? error : "");
	for (int i = 0; i < n && i < 16; i++) {
		snprintf(d->ids[i], sizeof d->ids[i], "%s", ids[i]);
		d->attempts[i] = attempts[i];
	}
}

static int due_done(const void *arg)
{
	return ((const due_list *)arg)->calls > 0;
}

static due_list due(int limit)
{
	due_list d;
	memset(&d, 0, sizeof d);
	verification_due(pool, limit, on_due, &d);
	CHECK(tdb_loop_until(base, due_done, &d, 10000));
	CHECK_INT(d.calls, 1);
	if (d.error[0]) {
		fprintf(stderr, "verification_due: %s\n", d.error);
		exit(1);
	}
	return d;
}

/* The attempt of `job` in the list, or 0 when the job is not in it. */
static int due_attempt(const due_list *d, const char *job)
{
	for (int i = 0; i < d->n && i < 16; i++)
		if (strcmp(d->ids[i], job) == 0)
			return d->attempts[i];
	return 0;
}

static void make_old(const char *job)
{
	exec2("UPDATE jobs SET submitted_at = now() - interval '10 seconds' WHERE id = $1", job,
	      NULL, 1);
}

/* ----- verification_job_log ----- */

typedef struct job_log {
	int calls;
	int found;
	char status[32], kind[32];
	json_t *entries; /* a copy */
	char error[256];
} job_log;

static void on_log(void *arg, const char *status, const char *kind, json_t *entries,
		   const char *error)
{
	job_log *l = arg;
	l->calls++;
	snprintf(l->error, sizeof l->error, "%s", error ? error : "");
	if (!status) {
		CHECK(kind == NULL && entries == NULL);
		return;
	}
	l->found = 1;
	snprintf(l->status, sizeof l->status, "%s", status);
	snprintf(l->kind, sizeof l->kind, "%s", kind ? kind : "");
	CHECK(json_is_array(entries));
	l->entries = json_deep_copy(entries);
}

static int log_done(const void *arg)
{
	return ((const job_log *)arg)->calls > 0;
}

static job_log read_log(const char *job, const char *viewer)
{
	job_log l;
	memset(&l, 0, sizeof l);
	verification_job_log(pool, job, viewer, on_log, &l);
	CHECK(tdb_loop_until(base, log_done, &l, 10000));
	CHECK_INT(l.calls, 1);
	if (l.error[0]) {
		fprintf(stderr, "verification_job_log: %s\n", l.error);
		exit(1);
	}
	return l;
}

/* ===== Tests: taking an attempt ===== */

static void test_take_market(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], j1[IDS_MAX_LEN], j2[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_fund(url, u, 10000);

	/* the external verifier's secret, sealed under the deployment's key */
	char *sealed = seal_encrypt(key, VERIFIER_SECRET, strlen(VERIFIER_SECRET));
	CHECK(sealed != NULL);
	json_t *v =
		json_pack("{s:s,s:s}", "webhook_url", VERIFIER_URL, VERIFY_SECRET_MEMBER, sealed);
	char *vtext = json_dumps(v, JSON_COMPACT);
	json_decref(v);
	submitted_job(u, g, 500, SCHEMA, vtext, OUTPUT, j1);
	free(vtext);

	taken t = take(j1, 1, "verifier-a", 300, key);
	CHECK(t.found);
	CHECK_STR(t.job_id, j1);
	CHECK_INT(t.attempt, 1);
	CHECK_STR(t.kind, "market");
	json_t *o = parse(t.output);
	expect_json(o, OUTPUT);
	json_decref(o);
	o = parse(t.output_schema);
	expect_json(o, SCHEMA);
	json_decref(o);
	CHECK(json_is_object(t.verification));
	CHECK_STR(member(t.verification, "webhook_url"), VERIFIER_URL);
	CHECK_STR(member(t.verification, VERIFY_SECRET_MEMBER), sealed);
	CHECK_STR(t.secret, VERIFIER_SECRET);
	CHECK_STR(t.objective, "Write a haiku about rain");
	CHECK_STR(t.constraints, "{}");
	/* the request body made from what was taken */
	json_t *b = parse(t.body);
	CHECK_STR(member(b, "type"), "verification.requested");
	json_t *d = json_object_get(b, "data");
	CHECK_STR(member(d, "job_id"), j1);
	CHECK_INT(json_integer_value(json_object_get(d, "attempt")), 1);
	CHECK_STR(member(d, "objective"), "Write a haiku about rain");
	expect_json(json_object_get(d, "output"), OUTPUT);
	expect_json(json_object_get(d, "output_schema"), SCHEMA);
	CHECK(strstr(t.body, "whsec_") == NULL);
	json_decref(b);
	taken_free(&t);

	/* the lease row */
	expect_ver(j1, 1, "status", "running");
	expect_ver(j1, 1, "verifier", "verifier-a");
	CHECK_INT(int1("SELECT count(*) FROM verifications WHERE job_id = $1 AND lease_until"
		       " BETWEEN now() + interval '290 seconds' AND now() + interval '310 seconds'",
		       j1),
		  1);

	/* the same verifier again, with a wrong key: no secret (nor the sealed text) */
	t = take(j1, 1, "verifier-a", 300, wrong_key);
	CHECK(t.found);
	CHECK(t.secret == NULL);
	CHECK_STR(member(t.verification, "webhook_url"), VERIFIER_URL);
	taken_free(&t);
	/* without a key: no secret either */
	t = take(j1, 1, "verifier-a", 300, NULL);
	CHECK(t.found);
	CHECK(t.secret == NULL);
	taken_free(&t);

	/* a secret stored in clear (a deployment without a key) is given as it is */
	json_t *clear = json_pack("{s:b,s:s}", "judge", 1, VERIFY_SECRET_MEMBER, VERIFIER_SECRET);
	char *ctext = json_dumps(clear, JSON_COMPACT);
	json_decref(clear);
	submitted_job(u, g, 0, NULL, ctext, "\"a haiku\"", j2);
	free(ctext);
	t = take(j2, 1, "verifier-a", 300, key);
	CHECK(t.found);
	CHECK_STR(t.secret, VERIFIER_SECRET);
	CHECK_STR(t.output, "\"a haiku\"");
	CHECK(t.output_schema == NULL);
	CHECK(json_is_true(json_object_get(t.verification, "judge")));
	b = parse(t.body);
	d = json_object_get(b, "data");
	CHECK_STR(member(d, "output"), "a haiku");
	CHECK(json_is_null(json_object_get(d, "output_schema")));
	json_decref(b);
	taken_free(&t);
	t = take(j2, 1, "verifier-a", 300, NULL);
	CHECK_STR(t.secret, VERIFIER_SECRET);
	taken_free(&t);
	free(sealed);
	close_db();
}

static void test_take_nothing(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], j[IDS_MAX_LEN], q[IDS_MAX_LEN], missing[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_fund(url, u, 1000);

	submitted_job(u, g, 100, NULL, NULL, OUTPUT, j);
	/* a job that is not submitted: nothing, and no lease is made */
	market_job(u, 100, NULL, NULL, q);
	CHECK(!takes(q, 0, "verifier-a", 300));
	CHECK(!takes(q, 1, "verifier-a", 300));
	CHECK_INT(int1("SELECT count(*) FROM verifications WHERE job_id = $1", q), 0);

	/* another attempt than the job's */
	CHECK(!takes(j, 0, "verifier-a", 300));
	CHECK(!takes(j, 2, "verifier-a", 300));
	CHECK_INT(int1("SELECT count(*) FROM verifications WHERE job_id = $1", j), 0);
	/* no such job; not a job id at all (answered at once, no error) */
	CHECK_INT(ids_new("job", missing), 0);
	CHECK(!takes(missing, 1, "verifier-a", 300));
	taken t = take("job_nope", 1, "verifier-a", 300, key);
	CHECK(!t.found);
	t = take("run_01hzzzzzzzzzzzzzzzzzzzzzzz", 1, "verifier-a", 300, key);
	CHECK(!t.found);

	/* a job with no verification and no output schema is taken with NULLs */
	t = take(j, 1, "verifier-a", 300, key);
	CHECK(t.found);
	CHECK(t.verification == NULL);
	CHECK(t.output_schema == NULL);
	CHECK(t.secret == NULL);
	taken_free(&t);

	/* settled: nobody takes it again, not even its verifier */
	settle(j, 1, 1, "fine", NULL, VERIFY_OK, "completed");
	CHECK(!takes(j, 1, "verifier-a", 300));
	CHECK(!takes(j, 1, "verifier-b", 300));
	close_db();
}

static void test_take_lease(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], j[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_fund(url, u, 1000);
	submitted_job(u, g, 300, NULL, NULL, OUTPUT, j);

	/* the job's row locked by someone else (a settlement under way): nothing, at once */
	PGconn *locker = tdb_connect(url);
	PQclear(PQexec(locker, "BEGIN"));
	const char *lp[] = { j };
	PGresult *lr = PQexecParams(locker, "SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE", 1, NULL,
				    lp, NULL, NULL, 0);
	CHECK_INT(PQntuples(lr), 1);
	PQclear(lr);
	CHECK(!takes(j, 1, "verifier-a", 300));
	CHECK_INT(int1("SELECT count(*) FROM verifications WHERE job_id = $1", j), 0);
	PQclear(PQexec(locker, "COMMIT"));
	PQfinish(locker);

	CHECK(takes(j, 1, "verifier-a", 300));
	/* another verifier gets nothing while the lease runs, and the lease stays a's */
	CHECK(!takes(j, 1, "verifier-b", 300));
	CHECK(!takes(j, 1, "verifier-c", 1));
	expect_ver(j, 1, "verifier", "verifier-a");
	/* a may take it again (its entry delivered again): the lease is renewed */
	exec2("UPDATE verifications SET lease_until = now() + interval '5 seconds'"
	      " WHERE job_id = $1",
	      j, NULL, 1);
	CHECK(takes(j, 1, "verifier-a", 300));
	CHECK_INT(int1("SELECT count(*) FROM verifications WHERE job_id = $1"
		       " AND lease_until > now() + interval '200 seconds'",
		       j),
		  1);
	CHECK_INT(int1("SELECT count(*) FROM verifications WHERE job_id = $1", j), 1);

	/* the lease ran out: another verifier takes it over */
	exec2("UPDATE verifications SET lease_until = now() - interval '1 second' WHERE job_id = $1",
	      j, NULL, 1);
	CHECK(takes(j, 1, "verifier-b", 1));
	expect_ver(j, 1, "verifier", "verifier-b");
	CHECK(!takes(j, 1, "verifier-a", 300));
	/* a lease of 1 s runs out by itself */
	usleep(1300 * 1000);
	CHECK(takes(j, 1, "verifier-c", 300));
	expect_ver(j, 1, "verifier", "verifier-c");
	CHECK(!takes(j, 1, "verifier-b", 300));
	expect_ver(j, 1, "status", "running");
	CHECK_INT(int1("SELECT count(*) FROM verifications WHERE job_id = $1", j), 1);

	/* the job is still submitted and its hold pending: taking moves no money */
	expect_job(j, "status", "submitted");
	expect_hold(j, "pending");
	close_db();
}

static int pool_idle(const void *arg)
{
	return db_pool_pending(arg) == 0;
}

/* Renews `instance`'s lease on attempt 1 of `job` and waits for the statement. */
static void renew(const char *job, const char *instance, int lease_s)
{
	verification_renew(pool, job, 1, instance, lease_s);
	CHECK(tdb_loop_until(base, pool_idle, pool, 10000));
}

/* A check that outlasts its lease renews it; only its holder can, and not once settled. */
static void test_renew_lease(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], j[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_fund(url, u, 1000);
	submitted_job(u, g, 300, NULL, NULL, OUTPUT, j);
	CHECK(takes(j, 1, "verifier-a", 2));
	/* renewed before it ran out: it holds on past its first 2 s */
	for (int i = 0; i < 3; i++) {
		usleep(900 * 1000);
		renew(j, "verifier-a", 2);
	}
	CHECK_INT(int1("SELECT count(*) FROM verifications WHERE job_id = $1"
		       " AND lease_until > now() + interval '1 second'",
		       j),
		  1);
	CHECK(!takes(j, 1, "verifier-b", 300));
	expect_ver(j, 1, "verifier", "verifier-a");
	/* another verifier's renewal changes nothing */
	exec2("UPDATE verifications SET lease_until = now() + interval '1 second' WHERE job_id = $1",
	      j, NULL, 1);
	renew(j, "verifier-b", 300);
	CHECK_INT(int1("SELECT count(*) FROM verifications WHERE job_id = $1"
		       " AND lease_until < now() + interval '5 seconds'",
		       j),
		  1);
	expect_ver(j, 1, "verifier", "verifier-a");
	/* not renewed: it runs out, and another takes it over */
	usleep(1300 * 1000);
	CHECK(takes(j, 1, "verifier-b", 300));
	/* the former holder's renewal no longer extends anything */
	renew(j, "verifier-a", 3000);
	CHECK_INT(int1("SELECT count(*) FROM verifications WHERE job_id = $1"
		       " AND lease_until > now() + interval '400 seconds'",
		       j),
		  0);
	expect_ver(j, 1, "verifier", "verifier-b");
	/* settled: the lease is gone and a renewal does not bring it back */
	settle(j, 1, 1, "fine", "[]", VERIFY_OK, "completed");
	renew(j, "verifier-b", 300);
	expect_ver(j, 1, "lease_until", "(null)");
	close_db();
}

#define TAKERS 8

/* Verifiers taking one attempt at the same time: exactly one gets it. */
static void test_take_concurrent(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], j[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_fund(url, u, 1000);
	submitted_job(u, g, 300, NULL, NULL, OUTPUT, j);

	char sql[TAKERS][256];
	const char *list[TAKERS];
	for (int i = 0; i < TAKERS; i++) {
		snprintf(sql[i], sizeof sql[i],
			 "SELECT count(*) FROM verify_take('%s', 1, 'verifier-%d', 300)", j, i);
		list[i] = sql[i];
	}
	PGresult **res = tdb_parallel(url, TAKERS, list);
	int got = 0;
	for (int i = 0; i < TAKERS; i++) {
		if (PQresultStatus(res[i]) != PGRES_TUPLES_OK) {
			fprintf(stderr, "take %d: %s", i, PQresultErrorMessage(res[i]));
			exit(1);
		}
		got += atoi(PQgetvalue(res[i], 0, 0));
		PQclear(res[i]);
	}
	free(res);
	CHECK_INT(got, 1);
	CHECK_INT(int1("SELECT count(*) FROM verifications WHERE job_id = $1", j), 1);
	close_db();
}

/* ===== Tests: the due attempts ===== */

static void test_due(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], j1[IDS_MAX_LEN], j2[IDS_MAX_LEN], q[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_fund(url, u, 1000);
	submitted_job(u, g, 100, NULL, NULL, OUTPUT, j1);

	/* just submitted: its stream entry is on its way, not due yet */
	due_list d = due(10);
	CHECK_INT(d.n, 0);
	make_old(j1);
	d = due(10);
	CHECK_INT(d.n, 1);
	CHECK_STR(d.ids[0], j1);
	CHECK_INT(d.attempts[0], 1);

	/* a verifier holds it */
	CHECK(takes(j1, 1, "verifier-a", 300));
	d = due(10);
	CHECK_INT(due_attempt(&d, j1), 0);
	/* its verifier died: once the lease ran out, it is due again */
	exec2("UPDATE verifications SET lease_until = now() - interval '1 second' WHERE job_id = $1",
	      j1, NULL, 1);
	d = due(10);
	CHECK_INT(due_attempt(&d, j1), 1);
	/* a lease right at its end still holds it */
	exec2("UPDATE verifications SET lease_until = now() + interval '2 seconds' WHERE job_id = $1",
	      j1, NULL, 1);
	d = due(10);
	CHECK_INT(due_attempt(&d, j1), 0);
	exec2("UPDATE verifications SET lease_until = now() - interval '1 second' WHERE job_id = $1",
	      j1, NULL, 1);

	/* a second one, submitted earlier: oldest first, and the limit holds */
	submitted_job(u, g, 100, NULL, NULL, OUTPUT, j2);
	exec2("UPDATE jobs SET submitted_at = now() - interval '60 seconds' WHERE id = $1", j2,
	      NULL, 1);
	market_job(u, 100, NULL, NULL, q); /* queued: never due */
	exec2("UPDATE jobs SET created_at = now() - interval '1 hour' WHERE id = $1", q, NULL, 1);
	d = due(10);
	CHECK_INT(d.n, 2);
	CHECK_STR(d.ids[0], j2);
	CHECK_STR(d.ids[1], j1);
	d = due(1);
	CHECK_INT(d.n, 1);
	CHECK_STR(d.ids[0], j2);

	/* settled (failed back to the queue): not due; resubmitted: due with its new attempt */
	settle(j1, 1, 0, "no", NULL, VERIFY_OK, "queued");
	d = due(10);
	CHECK_INT(d.n, 1);
	CHECK_INT(due_attempt(&d, j1), 0);
	/* q is the oldest queued job: pulled first; give it its own agent */
	char h[IDS_MAX_LEN];
	tdb_principal(url, "agent", NULL, h);
	exec2("UPDATE jobs SET created_at = now() - interval '2 hours' WHERE id = $1", j1, NULL, 1);
	work(j1, h, OUTPUT);
	make_old(j1);
	d = due(10);
	CHECK_INT(d.n, 2);
	CHECK_INT(due_attempt(&d, j1), 2);
	settle(j2, 1, 1, "yes", NULL, VERIFY_OK, "completed");
	d = due(10);
	CHECK_INT(d.n, 1);
	CHECK_STR(d.ids[0], j1);
	CHECK_INT(d.attempts[0], 2);
	close_db();
}

/* ===== Tests: settling ===== */

static void test_settle_pass(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], j[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_fund(url, u, 10000);
	submitted_job(u, g, 1999, SCHEMA, NULL, OUTPUT, j);
	CHECK_INT(account("wallet:", u), 10000 - 1999);
	CHECK(takes(j, 1, "verifier-a", 300));

	char log[1024];
	log_of(1, 1795452173385LL, log, sizeof log);
	settle(j, 1, 1, "the output matches its schema", log, VERIFY_OK, "completed");

	/* the job completed, the hold captured to the agent less floor(1999 × 10%) = 199 */
	expect_job(j, "status", "completed");
	CHECK_INT(int1("SELECT count(*) FROM jobs WHERE id = $1 AND completed_at IS NOT NULL", j),
		  1);
	expect_hold(j, "captured");
	CHECK_INT(account("earnings:", g), 1999 - 199);
	CHECK_INT(tdb_balance(url, "fees"), 199);
	CHECK_INT(tdb_balance(url, "escrow"), 0);
	CHECK_INT(account("wallet:", u), 10000 - 1999);
	CHECK_INT(transfers(j, "capture"), 1);
	CHECK_INT(transfers(j, "fee"), 1);
	CHECK_INT(transfers(j, "release"), 0);
	CHECK_INT(events(j, "job.completed"), 1);

	/* the verification: passed, its log and reason, the job's status after */
	expect_ver(j, 1, "status", "passed");
	expect_ver(j, 1, "settled_status", "completed");
	expect_ver(j, 1, "reason", "the output matches its schema");
	expect_ver(j, 1, "lease_until", "(null)");
	CHECK_INT(int1("SELECT count(*) FROM verifications WHERE job_id = $1"
		       " AND finished_at IS NOT NULL",
		       j),
		  1);
	char stored[2048];
	ver_col(j, 1, "log", stored, sizeof stored);
	json_t *s = parse(stored);
	expect_json(s, log);
	json_decref(s);

	/* settling again, pass or fail: stale, nothing changes */
	settle(j, 1, 1, "again", "[]", VERIFY_STALE, "completed");
	settle(j, 1, 0, "changed my mind", "[]", VERIFY_STALE, "completed");
	/* another attempt of it: stale too */
	settle(j, 2, 0, "no", NULL, VERIFY_STALE, "completed");
	expect_job(j, "status", "completed");
	expect_ver(j, 1, "status", "passed");
	expect_ver(j, 1, "reason", "the output matches its schema");
	ver_col(j, 1, "log", stored, sizeof stored);
	s = parse(stored);
	expect_json(s, log);
	json_decref(s);
	CHECK_INT(int1("SELECT count(*) FROM verifications WHERE job_id = $1", j), 1);
	CHECK_INT(account("earnings:", g), 1800);
	CHECK_INT(tdb_balance(url, "fees"), 199);
	CHECK_INT(transfers(j, "capture"), 1);
	CHECK_INT(transfers(j, "fee"), 1);
	CHECK_INT(events(j, "job.completed"), 1);
	expect_job(j, "failure_reason", "(null)");

	/* no such job: stale, no status */
	char missing[IDS_MAX_LEN];
	CHECK_INT(ids_new("job", missing), 0);
	settled r;
	memset(&r, 0, sizeof r);
	verification_settle(pool, missing, 1, 1, "x", NULL, FEE_BPS, on_settled, &r);
	CHECK(tdb_loop_until(base, settled_done, &r, 10000));
	CHECK_STR(r.outcome, VERIFY_STALE);
	CHECK(!r.has_status);
	CHECK_STR(r.error, "");
	close_db();
}

/* A pass without a lease taken first, a free job, a fee of its own. */
static void test_settle_pass_free_and_untaken(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], j[IDS_MAX_LEN], k[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_fund(url, u, 1000);

	/* free: completed, no money moves */
	submitted_job(u, g, 0, NULL, NULL, OUTPUT, j);
	settle(j, 1, 1, "ok", NULL, VERIFY_OK, "completed");
	expect_hold(j, "(none)");
	CHECK_INT(int1("SELECT count(*) FROM ledger_transfers WHERE job_id = $1", j), 0);
	CHECK_INT(account("earnings:", g), 0);
	/* a NULL log is stored as [] */
	expect_ver(j, 1, "log", "[]");
	expect_ver(j, 1, "verifier", "(null)");
	expect_ver(j, 1, "status", "passed");

	/* a price the fee rounds down on: 9 × 10% = 0.9, no fee at all */
	submitted_job(u, g, 9, NULL, NULL, OUTPUT, k);
	settle(k, 1, 1, "ok", NULL, VERIFY_OK, "completed");
	CHECK_INT(account("earnings:", g), 9);
	CHECK_INT(transfers(k, "fee"), 0);
	CHECK_INT(tdb_balance(url, "fees"), 0);
	CHECK_INT(account("wallet:", u), 1000 - 9);
	close_db();
}

#define SETTLERS 8

/* Settles of one attempt at the same time (`mixed`: half of them fail it): one applies. */
static void concurrent_settles(int mixed)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], j[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_fund(url, u, 5000);
	submitted_job(u, g, 1234, NULL, NULL, OUTPUT, j);
	CHECK(takes(j, 1, "verifier-a", 300));

	char sql[SETTLERS][320];
	const char *list[SETTLERS];
	for (int i = 0; i < SETTLERS; i++) {
		int pass = !mixed || i % 2 == 0;
		snprintf(sql[i], sizeof sql[i],
			 "SELECT outcome, status FROM verify_settle('%s', 1, %s, 'settler %d',"
			 " '[{\"id\": \"1-%d\", \"event\": \"log\", \"data\": {}}]', %d)",
			 j, pass ? "true" : "false", i, i, FEE_BPS);
		list[i] = sql[i];
	}
	PGresult **res = tdb_parallel(url, SETTLERS, list);
	int ok = 0, stale = 0, winner = -1;
	for (int i = 0; i < SETTLERS; i++) {
		if (PQresultStatus(res[i]) != PGRES_TUPLES_OK || PQntuples(res[i]) != 1) {
			fprintf(stderr, "settle %d: %s", i, PQresultErrorMessage(res[i]));
			exit(1);
		}
		if (strcmp(PQgetvalue(res[i], 0, 0), VERIFY_OK) == 0) {
			ok++;
			winner = i;
		} else if (strcmp(PQgetvalue(res[i], 0, 0), VERIFY_STALE) == 0) {
			stale++;
		}
		PQclear(res[i]);
	}
	free(res);
	CHECK_INT(ok, 1);
	CHECK_INT(stale, SETTLERS - 1);

	/* the winner's verdict, log and reason are the ones stored */
	int passed = !mixed || winner % 2 == 0;
	char reason[32], log_id[16];
	snprintf(reason, sizeof reason, "settler %d", winner);
	snprintf(log_id, sizeof log_id, "1-%d", winner);
	expect_ver(j, 1, "reason", reason);
	expect_ver(j, 1, "status", passed ? "passed" : "failed");
	expect_ver(j, 1, "settled_status", passed ? "completed" : "queued");
	expect_ver(j, 1, "log->0->>'id'", log_id);
	expect_job(j, "status", passed ? "completed" : "queued");
	CHECK_INT(transfers(j, "capture"), passed ? 1 : 0);
	CHECK_INT(transfers(j, "fee"), passed ? 1 : 0);
	CHECK_INT(transfers(j, "release"), 0);
	CHECK_INT(account("earnings:", g), passed ? 1234 - 123 : 0);
	CHECK_INT(tdb_balance(url, "fees"), passed ? 123 : 0);
	expect_hold(j, passed ? "captured" : "pending");
	CHECK_INT(events(j, "job.completed"), passed ? 1 : 0);
	CHECK_INT(events(j, "job.queued"), passed ? 1 : 2); /* created; failed back */
	close_db();
}

static void test_settle_concurrent(void)
{
	concurrent_settles(0);
}

static void test_settle_concurrent_mixed(void)
{
	concurrent_settles(1);
}

static void test_settle_fail_requeues(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], h[IDS_MAX_LEN], j[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_principal(url, "agent", NULL, h);
	tdb_fund(url, u, 1000);
	submitted_job(u, g, 400, SCHEMA, NULL, "{\"answer\": \"x\"}", j);
	CHECK(takes(j, 1, "verifier-a", 300));

	settle(j, 1, 0, "output_schema: /answer: expected integer", "[]", VERIFY_OK, "queued");
	/* back to the queue for another agent, clean; the price still held */
	expect_job(j, "status", "queued");
	expect_job(j, "agent_id", "(null)");
	expect_job(j, "output", "(null)");
	expect_job(j, "submitted_at", "(null)");
	expect_job(j, "attempt_count", "1");
	expect_job(j, "failure_reason", "output_schema: /answer: expected integer");
	expect_hold(j, "pending");
	CHECK_INT(tdb_balance(url, "escrow"), 400);
	CHECK_INT(account("earnings:", g), 0);
	expect_ver(j, 1, "status", "failed");
	expect_ver(j, 1, "settled_status", "queued");
	expect_ver(j, 1, "reason", "output_schema: /answer: expected integer");
	expect_ver(j, 1, "lease_until", "(null)");
	CHECK_INT(events(j, "job.queued"), 2); /* created, then failed back */

	/* settling attempt 1 again: stale, whatever the verdict */
	settle(j, 1, 1, "late pass", NULL, VERIFY_STALE, "queued");
	settle(j, 1, 0, "late fail", NULL, VERIFY_STALE, "queued");
	expect_hold(j, "pending");

	/* attempt 2 by another agent; a late verdict on attempt 1 still changes nothing */
	work(j, h, OUTPUT);
	expect_job(j, "attempt_count", "2");
	settle(j, 1, 1, "late pass", NULL, VERIFY_STALE, "submitted");
	expect_job(j, "status", "submitted");
	CHECK(!takes(j, 1, "verifier-b", 300));
	CHECK(takes(j, 2, "verifier-b", 300));
	settle(j, 2, 1, "fine", NULL, VERIFY_OK, "completed");
	CHECK_INT(account("earnings:", h), 400 - 40);
	CHECK_INT(account("earnings:", g), 0);
	expect_ver(j, 1, "status", "failed");
	expect_ver(j, 2, "status", "passed");
	expect_ver(j, 2, "settled_status", "completed");
	close_db();
}

static void test_settle_fail_exhausted(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], j[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_fund(url, u, 1000);
	market_job(u, 700, NULL, NULL, j);
	CHECK_INT(account("wallet:", u), 300);
	for (int attempt = 1; attempt <= 3; attempt++) {
		work(j, g, OUTPUT);
		char reason[32];
		snprintf(reason, sizeof reason, "judge: fail %d", attempt);
		settle(j, attempt, 0, reason, NULL, VERIFY_OK, attempt < 3 ? "queued" : "failed");
		expect_ver(j, attempt, "settled_status", attempt < 3 ? "queued" : "failed");
		expect_hold(j, attempt < 3 ? "pending" : "released");
	}
	/* the third attempt failed: the job failed and its price went back to the sender */
	expect_job(j, "status", "failed");
	expect_job(j, "attempt_count", "3");
	expect_job(j, "failure_reason", "judge: fail 3");
	CHECK_INT(int1("SELECT count(*) FROM jobs WHERE id = $1 AND completed_at IS NOT NULL", j),
		  1);
	CHECK_INT(account("wallet:", u), 1000);
	CHECK_INT(account("earnings:", g), 0);
	CHECK_INT(tdb_balance(url, "escrow"), 0);
	CHECK_INT(transfers(j, "release"), 1);
	CHECK_INT(transfers(j, "capture"), 0);
	CHECK_INT(events(j, "job.failed"), 1);
	CHECK_INT(int1("SELECT count(*) FROM verifications WHERE job_id = $1 AND status = 'failed'",
		       j),
		  3);
	settle(j, 3, 1, "too late", NULL, VERIFY_STALE, "failed");
	CHECK_INT(account("wallet:", u), 1000);
	close_db();
}

static void test_settle_fail_cancel_requested(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], j[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_fund(url, u, 1000);
	submitted_job(u, g, 250, NULL, NULL, OUTPUT, j);
	/* the sender cancels while the attempt is checked: only requested */
	const char *cancel[] = { j, u };
	call("market_cancel", 2, cancel, JOB_OK, "submitted");
	expect_job(j, "cancellation_requested", "true");
	CHECK(takes(j, 1, "verifier-a", 300));

	/* attempt 1 of 3 fails: cancelled and refunded rather than queued again */
	settle(j, 1, 0, "the external verifier: wrong", NULL, VERIFY_OK, "cancelled");
	expect_job(j, "status", "cancelled");
	expect_job(j, "failure_reason", "the external verifier: wrong");
	expect_hold(j, "released");
	CHECK_INT(account("wallet:", u), 1000);
	CHECK_INT(account("earnings:", g), 0);
	expect_ver(j, 1, "status", "failed");
	expect_ver(j, 1, "settled_status", "cancelled");
	CHECK_INT(events(j, "job.cancelled"), 1);
	settle(j, 1, 1, "pass after all", NULL, VERIFY_STALE, "cancelled");
	CHECK_INT(account("earnings:", g), 0);
	close_db();
}

static void test_settle_dispatch(void)
{
	open_db();
	char u[IDS_MAX_LEN], a[IDS_MAX_LEN], j[IDS_MAX_LEN], k[IDS_MAX_LEN], m[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	agent_with_hook(a);
	dispatch_submitted(u, a, 3, "{\"vendors\": [\"a\", \"b\"]}", j);
	expect_job(j, "attempt_count", "1");

	/* taken: the run's result, the brief's objective and constraints */
	taken t = take(j, 1, "verifier-a", 300, key);
	CHECK(t.found);
	CHECK_STR(t.kind, "dispatch");
	json_t *o = parse(t.output);
	expect_json(o, "{\"vendors\": [\"a\", \"b\"]}");
	json_decref(o);
	CHECK_STR(t.objective, "Compare the vendors");
	o = parse(t.constraints);
	expect_json(o, "{\"max_words\": 200}");
	json_decref(o);
	o = parse(t.output_schema);
	expect_json(o, SCHEMA);
	json_decref(o);
	taken_free(&t);

	/* a fail: dispatch_fail_attempt makes the next run */
	settle(j, 1, 0, "output_schema: /answer: required", NULL, VERIFY_OK, "queued");
	expect_job(j, "status", "queued");
	expect_job(j, "attempt_count", "2");
	expect_job(j, "result", "(null)");
	expect_job(j, "failure_reason", "output_schema: /answer: required");
	expect_job(j, "agent_id", a);
	CHECK_INT(int1("SELECT count(*) FROM runs WHERE job_id = $1", j), 2);
	CHECK_INT(int1("SELECT count(*) FROM runs WHERE job_id = $1 AND status = 'pending'", j), 1);
	CHECK_INT(int1("SELECT count(*) FROM webhook_messages WHERE job_id = $1"
		       " AND event = 'agent.run.created' AND status = 'pending'",
		       j),
		  1);
	expect_ver(j, 1, "status", "failed");
	expect_ver(j, 1, "settled_status", "queued");
	settle(j, 1, 0, "again", NULL, VERIFY_STALE, "queued");
	CHECK_INT(int1("SELECT count(*) FROM runs WHERE job_id = $1", j), 2);

	/* the last attempt fails: the job fails, no run more */
	dispatch_submitted(u, a, 1, "\"plain text\"", k);
	settle(k, 1, 0, "judge: off topic", NULL, VERIFY_OK, "failed");
	expect_job(k, "status", "failed");
	expect_job(k, "failure_reason", "judge: off topic");
	CHECK_INT(int1("SELECT count(*) FROM runs WHERE job_id = $1", k), 1);
	expect_ver(k, 1, "settled_status", "failed");

	/* a pass completes it (no money: a /v1/jobs job has no hold) */
	dispatch_submitted(u, a, 3, "{\"answer\": 1}", m);
	settle(m, 1, 1, "fine", NULL, VERIFY_OK, "completed");
	expect_job(m, "status", "completed");
	expect_hold(m, "(none)");
	CHECK_INT(int1("SELECT count(*) FROM ledger_transfers WHERE job_id = $1", m), 0);
	CHECK_INT(int1("SELECT count(*) FROM runs WHERE job_id = $1", m), 1);
	expect_ver(m, 1, "settled_status", "completed");
	close_db();
}

/* ===== Tests: the stored log ===== */

static void test_job_log(void)
{
	open_db();
	char u[IDS_MAX_LEN], v[IDS_MAX_LEN], g[IDS_MAX_LEN], h[IDS_MAX_LEN], j[IDS_MAX_LEN],
		missing[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "user", NULL, v);
	tdb_principal(url, "agent", NULL, g);
	tdb_principal(url, "agent", NULL, h);
	tdb_fund(url, u, 1000);
	submitted_job(u, g, 100, NULL, NULL, OUTPUT, j);

	/* before any verification ended: the job, no entries, for the sender and the agent */
	job_log l = read_log(j, u);
	CHECK(l.found);
	CHECK_STR(l.status, "submitted");
	CHECK_STR(l.kind, "market");
	CHECK_INT(json_array_size(l.entries), 0);
	json_decref(l.entries);
	l = read_log(j, g);
	CHECK(l.found);
	json_decref(l.entries);
	/* a verification under way shows nothing yet */
	CHECK(takes(j, 1, "verifier-a", 300));
	l = read_log(j, u);
	CHECK_INT(json_array_size(l.entries), 0);
	json_decref(l.entries);

	/* attempt 1 fails; its log holds the verdict the stream sent */
	const char *log1 =
		"[{\"id\": \"1795452173385-0\", \"event\": \"log\", \"data\": {\"attempt\": 1,"
		" \"step\": \"start\", \"level\": \"info\", \"message\": \"verifying attempt 1\"}},"
		" {\"id\": \"1795452173385-1\", \"event\": \"log\", \"data\": {\"attempt\": 1,"
		" \"step\": \"judge\", \"level\": \"warn\", \"message\": \"fail\"}},"
		" {\"id\": \"1795452173401-0\", \"event\": \"verdict\", \"data\": {\"attempt\": 1,"
		" \"pass\": false, \"reason\": \"judge: no\", \"status\": \"queued\"}}]";
	settle(j, 1, 0, "judge: no", log1, VERIFY_OK, "queued");
	/* attempt 2 passes; its verifier died before recording the verdict's entry */
	work(j, g, OUTPUT);
	char log2[1024];
	log_of(2, 1795452180000LL, log2, sizeof log2);
	settle(j, 2, 1, "judge: yes", log2, VERIFY_OK, "completed");
	/* finished_at in whole milliseconds; attempt 2 "earlier" than attempt 1: order is by attempt */
	char a1[] = "1", a2[] = "2";
	exec2("UPDATE verifications SET finished_at = '2030-01-02 03:04:05.678+00'"
	      " WHERE job_id = $1 AND attempt = $2::integer",
	      j, a2, 1);
	exec2("UPDATE verifications SET finished_at = '2031-01-01 00:00:00+00'"
	      " WHERE job_id = $1 AND attempt = $2::integer",
	      j, a1, 1);

	l = read_log(j, u);
	CHECK(l.found);
	CHECK_STR(l.status, "completed");
	CHECK_STR(l.kind, "market");
	CHECK_INT(json_array_size(l.entries), 6);
	const char *ids[] = { "1795452173385-0", "1795452173385-1", "1795452173401-0",
			      "1795452180000-0", "1795452180000-1", "1893553445678-0" };
	const char *evs[] = { "log", "log", "verdict", "log", "log", "verdict" };
	for (size_t i = 0; i < 6; i++) {
		json_t *e = json_array_get(l.entries, i);
		CHECK_STR(member(e, "id"), ids[i]);
		CHECK_STR(member(e, "event"), evs[i]);
		CHECK(json_is_object(json_object_get(e, "data")));
	}
	/* the stored entries come back as they were stored */
	json_t *stored1 = parse(log1);
	for (size_t i = 0; i < 3; i++)
		CHECK(json_equal(json_array_get(l.entries, i), json_array_get(stored1, i)));
	json_decref(stored1);
	/* the synthesized verdict: the row's verdict, reason and status after */
	json_t *made = json_object_get(json_array_get(l.entries, 5), "data");
	expect_json(made, "{\"attempt\": 2, \"pass\": true, \"reason\": \"judge: yes\","
			  " \"status\": \"completed\"}");
	json_decref(l.entries);

	/* the agent reads the same */
	l = read_log(j, g);
	CHECK(l.found);
	CHECK_INT(json_array_size(l.entries), 6);
	json_decref(l.entries);
	/* anyone else, or no such job: nothing, and no error */
	l = read_log(j, v);
	CHECK(!l.found);
	l = read_log(j, h);
	CHECK(!l.found);
	CHECK_INT(ids_new("job", missing), 0);
	l = read_log(missing, u);
	CHECK(!l.found);

	/* the verdict's entry recorded after all: it replaces the synthesized one */
	json_t *entry = json_pack("{s:s,s:s,s:{s:i,s:b,s:s,s:s}}", "id", "1795452180007-0", "event",
				  "verdict", "data", "attempt", 2, "pass", 1, "reason",
				  "judge: yes", "status", "verified");
	verification_record_verdict(pool, j, 2, entry);
	json_decref(entry);
	CHECK(tdb_loop_until(base, tdb_pool_idle, pool, 10000));
	expect_ver(j, 2, "jsonb_array_length(log)", "3");
	l = read_log(j, u);
	CHECK_INT(json_array_size(l.entries), 6);
	json_t *last = json_array_get(l.entries, 5);
	CHECK_STR(member(last, "id"), "1795452180007-0");
	CHECK_STR(member(last, "event"), "verdict");
	CHECK_STR(member(json_object_get(last, "data"), "status"), "verified");
	CHECK_STR(member(json_array_get(l.entries, 4), "id"), "1795452180000-1");
	json_decref(l.entries);

	/* recording on an attempt that has no row changes nothing */
	entry = json_pack("{s:s,s:s,s:{}}", "id", "1-0", "event", "verdict", "data");
	verification_record_verdict(pool, j, 7, entry);
	json_decref(entry);
	CHECK(tdb_loop_until(base, tdb_pool_idle, pool, 10000));
	CHECK_INT(int1("SELECT count(*) FROM verifications WHERE job_id = $1", j), 2);
	close_db();
}

/* A failed verification without any stored log gets its verdict made from the row. */
static void test_job_log_synthesized_fail(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], j[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_fund(url, u, 1000);
	market_job(u, 100, NULL, NULL, j);
	const char *max[] = { j };
	tdb_ok(url, "UPDATE jobs SET max_attempts = 1 WHERE id = $1", 1, max);
	work(j, g, OUTPUT);
	settle(j, 1, 0, VERIFY_UNAVAILABLE, NULL, VERIFY_OK, "failed");
	exec2("UPDATE verifications SET finished_at = '2030-01-02 03:04:05+00' WHERE job_id = $1",
	      j, NULL, 1);
	job_log l = read_log(j, g);
	CHECK(l.found);
	CHECK_STR(l.status, "failed");
	CHECK_INT(json_array_size(l.entries), 1);
	json_t *e = json_array_get(l.entries, 0);
	CHECK_STR(member(e, "id"), "1893553445000-0");
	CHECK_STR(member(e, "event"), "verdict");
	expect_json(json_object_get(e, "data"),
		    "{\"attempt\": 1, \"pass\": false, \"reason\": \"" VERIFY_UNAVAILABLE
		    "\", \"status\": \"failed\"}");
	json_decref(l.entries);
	close_db();
}

/*
 * End to end through the database: an agent's output with a large number
 * (1e20, as jansson writes that real) goes into jsonb, comes back from
 * verify_take as an integer text jansson cannot hold, and the external
 * verifier's request body must still carry it.
 */
static void test_take_large_number_output(void)
{
	open_db();
	char u[IDS_MAX_LEN], g[IDS_MAX_LEN], j[IDS_MAX_LEN];
	tdb_principal(url, "user", NULL, u);
	tdb_principal(url, "agent", NULL, g);
	tdb_fund(url, u, 1000);
	json_t *out = json_pack("{s:f}", "grains", 1e20);
	char *text = json_dumps(out, JSON_COMPACT);
	json_decref(out);
	CHECK_STR(text, "{\"grains\":1e20}");
	market_job(u, 100, NULL, "{\"webhook_url\": \"" VERIFIER_URL "\"}", j);
	/* submitted in SQL: jobs_call's own answer is a row jansson cannot read either */
	result r;
	memset(&r, 0, sizeof r);
	const char *pull[] = { g, "worker-1", "60" };
	CHECK_INT(jobs_call(pool, "market_pull", 3, pull, on_result, &r), 0);
	CHECK(tdb_loop_until(base, result_done, &r, 10000));
	CHECK_STR(r.outcome, JOB_OK);
	json_decref(r.row);
	const char *accept[] = { j, g };
	call("market_accept", 2, accept, JOB_OK, "running");
	const char *submit[] = { j, g, text };
	char outcome[32];
	tdb_value(url, "SELECT outcome FROM market_submit($1, $2, $3::jsonb, NULL)", 3, submit,
		  outcome, sizeof outcome);
	CHECK_STR(outcome, JOB_OK);
	free(text);
	taken t = take(j, 1, "verifier-a", 300, key);
	CHECK(t.found);
	CHECK(t.body != NULL);
	json_t *b = parse(t.body);
	json_t *o = json_object_get(json_object_get(b, "data"), "output");
	if (!json_is_object(o)) {
		fprintf(stderr, "output %s taken; data.output of the request is %s\n", t.output,
			json_is_null(o) ? "null" : "not an object");
		exit(1);
	}
	json_decref(b);
	taken_free(&t);
	/* settle it, so the invariants hold at the end */
	settle(j, 1, 1, "ok", NULL, VERIFY_OK, "completed");
	close_db();
}

TEST_MAIN(TEST(test_check_output), TEST(test_parse_verdict), TEST(test_judge_message),
	  TEST(test_request_body), TEST(test_request_body_large_number), TEST(test_take_market),
	  TEST(test_take_nothing), TEST(test_take_lease),
	  TEST(test_renew_lease), TEST(test_take_concurrent),
	  TEST(test_due), TEST(test_settle_pass), TEST(test_settle_pass_free_and_untaken),
	  TEST(test_settle_concurrent), TEST(test_settle_concurrent_mixed),
	  TEST(test_settle_fail_requeues), TEST(test_settle_fail_exhausted),
	  TEST(test_settle_fail_cancel_requested), TEST(test_settle_dispatch), TEST(test_job_log),
	  TEST(test_job_log_synthesized_fail), TEST(test_take_large_number_output))
