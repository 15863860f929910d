/* Schema validations per second in-process: errand's validator (shared/jsonschema.c). */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "jsondoc.h"
#include "jsonschema.h"

/*
 * The schema is compiled once (jsonschema_compile). Each validation parses
 * the instance from its JSON text and validates it, then frees it: the
 * same work as bench/schema/ajv.mjs, where each validation is JSON.parse of
 * the text and the compiled ajv function. Two ways:
 *   - the text path (jsonschema_validate_text: jsondoc's parser, then the
 *     validator), what errand-verifier does with a job's output;
 *   - the jansson path (json_load_db, then jsonschema_validate, which
 *     copies jansson's tree into the validator's form), for comparison.
 *
 * Loops of SECONDS each after WARMUP seconds of the first: parse and
 * validate (the figure of the goal), parse only, validate only (the
 * instance parsed once), for the text path and then for the jansson path.
 * Each loop runs batches of 1,000 and stops at the first batch that ends
 * after SECONDS. A last loop, not compared with ajv, does what the
 * verifier's schema step does for each job: parse the schema's text,
 * compile it, validate the output's text, free it all. Prints one JSON
 * line with, per loop, the count, the wall time and this process's CPU
 * time, and rates per wall second and per CPU second (the latter moves
 * less when other work shares the machine).
 */

#define USAGE "usage: %s [-d SECONDS] [-w WARMUP_SECONDS] [-x INVALID_INSTANCE] SCHEMA INSTANCE\n"
#define BATCH 1000

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(1);
	}
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	size_t got;
	while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += got;
		if (n + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	if (!buf) {
		perror("malloc");
		exit(1);
	}
	buf[n] = '\0';
	/* the instance is the file's JSON text without its trailing newline */
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	*len = n;
	return buf;
}

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef enum {
	BOTH,
	PARSE,
	VALIDATE,
	BOTH_JANSSON,
	PARSE_JANSSON,
	VALIDATE_JANSSON,
	CHECK
} loop_kind;

static const char *g_schema_text;

typedef struct result {
	long n;
	double wall, cpu;
} result;

static volatile long g_sink;

typedef struct instance {
	const char *text;
	size_t len;
	const json_t *tree;   /* parsed by jansson */
	const jsonval *value; /* parsed by jsondoc */
} instance;

/* One validation of the loop `k`: its result, or exits when the text does not parse. */
static int once(loop_kind k, const jsonschema *s, const instance *in, char *err, size_t errlen)
{
	int rc = 0;
	switch (k) {
	case BOTH:
		return jsonschema_validate_text(s, in->text, in->len, err, errlen);
	case PARSE: {
		jsondoc *d =
			jsondoc_parse(in->text, in->len, JSONSCHEMA_MAX_JSON_DEPTH, err, errlen);
		rc = d ? 0 : -2;
		jsondoc_free(d);
		return rc;
	}
	case VALIDATE:
		return jsonschema_validate_value(s, in->value, JSONSCHEMA_MAX_STEPS, err, errlen);
	case VALIDATE_JANSSON:
		return jsonschema_validate(s, in->tree, err, errlen);
	case CHECK: {
		/* what errand-verifier's schema step does for each job */
		json_t *sj = json_load_db(g_schema_text);
		jsonschema *c = sj ? jsonschema_compile(sj, err, errlen) : NULL;
		rc = c ? jsonschema_validate_text(c, in->text, in->len, err, errlen) : -1;
		jsonschema_free(c);
		json_decref(sj);
		return rc;
	}
	default: {
		json_t *v = json_load_db(in->text);
		if (!v) {
			fprintf(stderr, "schema: the instance does not parse\n");
			exit(1);
		}
		if (k == BOTH_JANSSON)
			rc = jsonschema_validate(s, v, err, errlen);
		json_decref(v);
		return rc;
	}
	}
}

static result run(loop_kind k, const jsonschema *s, const instance *in, double seconds)
{
	result r = { 0, 0, 0 };
	char err[256];
	double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), w = w0;
	while (w - w0 < seconds) {
		for (int i = 0; i < BATCH; i++) {
			int rc = once(k, s, in, err, sizeof err);
			if (rc != 0) {
				fprintf(stderr, "schema: the instance is not valid: %s\n", err);
				exit(1);
			}
			g_sink += rc;
		}
		r.n += BATCH;
		w = clock_s(CLOCK_MONOTONIC);
	}
	r.wall = w - w0;
	r.cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	return r;
}

static void print_result(const char *name, result r, int last)
{
	printf("\"%s\":{\"n\":%ld,\"wall_s\":%.3f,\"cpu_s\":%.3f,\"per_s\":%.0f,"
	       "\"per_cpu_s\":%.0f,\"us_each\":%.3f}%s",
	       name, r.n, r.wall, r.cpu, (double)r.n / r.wall, (double)r.n / r.cpu,
	       1e6 * r.cpu / (double)r.n, last ? "" : ",");
}

int main(int argc, char **argv)
{
	double seconds = 3, warmup = 1;
	const char *invalid_path = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "d:w:x:")) != -1) {
		switch (opt) {
		case 'd':
			seconds = strtod(optarg, NULL);
			break;
		case 'w':
			warmup = strtod(optarg, NULL);
			break;
		case 'x':
			invalid_path = optarg;
			break;
		default:
			fprintf(stderr, USAGE, argv[0]);
			return 2;
		}
	}
	if (seconds <= 0 || warmup < 0 || optind != argc - 2) {
		fprintf(stderr, USAGE, argv[0]);
		return 2;
	}
	size_t slen, ilen;
	char *schema_text = slurp(argv[optind], &slen);
	char *text = slurp(argv[optind + 1], &ilen);
	json_error_t jerr;
	json_t *schema = json_loads(schema_text, 0, &jerr);
	if (!schema) {
		fprintf(stderr, "schema: %s: %s\n", argv[optind], jerr.text);
		return 1;
	}
	char err[256];
	jsonschema *s = jsonschema_compile(schema, err, sizeof err);
	json_decref(schema);
	if (!s) {
		fprintf(stderr, "schema: cannot compile %s: %s\n", argv[optind], err);
		return 1;
	}
	json_t *parsed = json_load_db(text);
	jsondoc *doc = jsondoc_parse(text, ilen, JSONSCHEMA_MAX_JSON_DEPTH, err, sizeof err);
	if (!parsed || !doc || jsonschema_validate(s, parsed, err, sizeof err) != 0 ||
	    jsonschema_validate_text(s, text, ilen, err, sizeof err) != 0) {
		fprintf(stderr, "schema: %s is not a valid instance: %s\n", argv[optind + 1],
			parsed ? err : "not JSON");
		return 1;
	}
	instance in = { text, ilen, parsed, jsondoc_root(doc) };
	/* the validator must also say no: an instance that breaks the schema */
	char invalid_err[256] = "";
	if (invalid_path) {
		size_t xlen;
		char *xtext = slurp(invalid_path, &xlen);
		json_t *x = json_load_db(xtext);
		char jansson_err[256];
		if (!x || jsonschema_validate(s, x, jansson_err, sizeof jansson_err) != 1 ||
		    jsonschema_validate_text(s, xtext, xlen, invalid_err, sizeof invalid_err) !=
			    1 ||
		    strcmp(jansson_err, invalid_err) != 0) {
			fprintf(stderr, "schema: %s was not found invalid the same way twice\n",
				invalid_path);
			return 1;
		}
		json_decref(x);
		free(xtext);
	}
	if (warmup > 0)
		(void)run(BOTH, s, &in, warmup);
	result both = run(BOTH, s, &in, seconds);
	result parse = run(PARSE, s, &in, seconds);
	result validate = run(VALIDATE, s, &in, seconds);
	result both_jansson = run(BOTH_JANSSON, s, &in, seconds);
	result parse_jansson = run(PARSE_JANSSON, s, &in, seconds);
	result validate_jansson = run(VALIDATE_JANSSON, s, &in, seconds);
	g_schema_text = schema_text;
	result check = run(CHECK, s, &in, seconds);
	printf("{\"validator\":\"errand\",\"instance_bytes\":%zu,", ilen);
	if (invalid_path) {
		json_t *e = json_string(invalid_err);
		char *q = json_dumps(e, JSON_ENCODE_ANY);
		printf("\"invalid_error\":%s,", q ? q : "null");
		free(q);
		json_decref(e);
	}
	print_result("parse_and_validate", both, 0);
	print_result("parse_only", parse, 0);
	print_result("validate_only", validate, 0);
	print_result("jansson_parse_and_validate", both_jansson, 0);
	print_result("jansson_parse_only", parse_jansson, 0);
	print_result("jansson_validate_only", validate_jansson, 0);
	print_result("verifier_check", check, 1);
	printf("}\n");
	jsondoc_free(doc);
	json_decref(parsed);
	jsonschema_free(s);
	free(schema_text);
	free(text);
	return 0;
}
