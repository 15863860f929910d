/*
 * Unit tests of jsonschema.c: refused schemas and their messages, limits,
 * reference loops, the pattern engine, code point lengths, multipleOf on
 * floats, messages naming the instance path, and a rough throughput figure.
 * The official test suite runs in test_jsonschema_suite.c.
 */
#include <time.h>

#include "json.h"
#include "jsonschema.h"
#include "testlib.h"

#define ERRLEN 512

/* Parses a test literal (NUL characters allowed); fails the test when it does not parse. */
static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (!v) {
		fprintf(stderr, "did not parse (%s): %s\n", jerr.text, text);
		exit(1);
	}
	return v;
}

/* Compiles a schema text that must compile. */
static jsonschema *compile(const char *text)
{
	char err[ERRLEN];
	json_t *schema = parse(text);
	jsonschema *s = jsonschema_compile(schema, err, sizeof err);
	json_decref(schema);
	if (!s) {
		fprintf(stderr, "refused: %s\n  schema: %s\n", err, text);
		exit(1);
	}
	return s;
}

/* Compiles a schema text that must be refused with a message containing `want`. */
static void refuse(const char *text, const char *want)
{
	char err[ERRLEN];
	json_t *schema = parse(text);
	jsonschema *s = jsonschema_compile(schema, err, sizeof err);
	json_decref(schema);
	if (s || !strstr(err, want)) {
		fprintf(stderr, "schema %s\n  %s, message \"%s\", wanted \"%s\"\n", text,
			s ? "compiled" : "refused", err, want);
		exit(1);
	}
}

/*
 * Validates the jansson tree `v` and, when `text` is not NULL, the same
 * instance as text: the results and messages must be the same (text with
 * \u0000 is not JSON to the text path). Returns the result, the message in
 * `err`.
 */
static int check_both(const jsonschema *s, const json_t *v, const char *text, char *err)
{
	char terr[ERRLEN];
	int r = jsonschema_validate(s, v, err, ERRLEN);
	if (!text)
		return r;
	int rt = jsonschema_validate_text(s, text, strlen(text), terr, sizeof terr);
	if (strstr(text, "\\u0000") ? rt != JSONSCHEMA_NOT_JSON : rt != r || strcmp(err, terr)) {
		fprintf(stderr, "instance %s\n  tree: %d \"%s\"\n  text: %d \"%s\"\n", text, r, err,
			rt, terr);
		exit(1);
	}
	return r;
}

/* Validates an instance text both ways; returns the result and leaves the message in `err`. */
static int check(const jsonschema *s, const char *instance, char *err)
{
	json_t *v = parse(instance);
	int r = check_both(s, v, instance, err);
	json_decref(v);
	return r;
}

/* The result of validating `instance` against `schema`, both texts; message in `err`. */
static int run(const char *schema, const char *instance, char *err)
{
	jsonschema *s = compile(schema);
	int r = check(s, instance, err);
	jsonschema_free(s);
	return r;
}

/* Expects `instance` to fail `schema` with exactly the message `want`. */
static void expect_message(const char *schema, const char *instance, const char *want)
{
	char err[ERRLEN];
	int r = run(schema, instance, err);
	if (r != 1 || strcmp(err, want) != 0) {
		fprintf(stderr, "schema %s, instance %s\n  got %d \"%s\", wanted \"%s\"\n", schema,
			instance, r, err, want);
		exit(1);
	}
}

#define VALID(schema, instance) CHECK_INT(run(schema, instance, err), 0)
#define INVALID(schema, instance) CHECK_INT(run(schema, instance, err), 1)

/* Whether `pattern` finds a match in `text` (a C string) on one path: 1, 0 or -1. */
static int matches_once(const char *pattern, const char *text)
{
	char err[ERRLEN];
	json_t *schema = json_pack("{s:s}", "pattern", pattern);
	jsonschema *s = jsonschema_compile(schema, err, sizeof err);
	json_decref(schema);
	if (!s) {
		fprintf(stderr, "pattern \"%s\" refused: %s\n", pattern, err);
		exit(1);
	}
	json_t *v = json_string(text);
	CHECK(v != NULL);
	char *dumped = json_dumps(v, JSON_ENCODE_ANY);
	CHECK(dumped != NULL);
	int r = check_both(s, v, dumped, err);
	free(dumped);
	json_decref(v);
	jsonschema_free(s);
	return r == 0 ? 1 : r == 1 ? 0 : -1;
}

/*
 * Whether `pattern` finds a match in `text`, checked to be the same on
 * every matching path: "(?:\b|\B)" in front changes nothing but keeps the
 * pattern off the literal search and the DFA, so the NFA answers.
 */
static int matches(const char *pattern, const char *text)
{
	char forced[1024];
	snprintf(forced, sizeof forced, "(?:\\b|\\B)(?:%s)", pattern);
	int r = matches_once(pattern, text);
	if (matches_once(forced, text) != r) {
		fprintf(stderr, "\"%s\" on \"%s\": the NFA disagrees\n", pattern, text);
		exit(1);
	}
	return r;
}

#define MATCH(p, t)                                                                                \
	do {                                                                                       \
		if (matches(p, t) != 1) {                                                          \
			fprintf(stderr, "%s:%d: \"%s\" should match \"%s\"\n", __FILE__, __LINE__, \
				p, t);                                                             \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)
#define NO_MATCH(p, t)                                                                       \
	do {                                                                                 \
		if (matches(p, t) != 0) {                                                    \
			fprintf(stderr, "%s:%d: \"%s\" should not match \"%s\"\n", __FILE__, \
				__LINE__, p, t);                                             \
			exit(1);                                                             \
		}                                                                            \
	} while (0)

/* Expects `pattern` to be refused with a reason containing `want`. */
static void refuse_pattern(const char *pattern, const char *want)
{
	char err[ERRLEN];
	json_t *schema = json_pack("{s:s}", "pattern", pattern);
	jsonschema *s = jsonschema_compile(schema, err, sizeof err);
	json_decref(schema);
	if (s || !strstr(err, "/pattern: unsupported pattern") || !strstr(err, want)) {
		fprintf(stderr, "pattern \"%s\": %s \"%s\", wanted \"%s\"\n", pattern,
			s ? "compiled" : "refused", err, want);
		exit(1);
	}
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ===== Refused schemas ===== */

static void test_refused_keywords(void)
{
	refuse("3", "a schema must be an object or a boolean");
	refuse("\"x\"", "a schema must be an object or a boolean");
	refuse("null", "a schema must be an object or a boolean");
	refuse("{\"minLength\": -1}", "/minLength: expected a non-negative integer");
	refuse("{\"maxItems\": 1.5}", "/maxItems: expected a non-negative integer");
	refuse("{\"minProperties\": \"2\"}", "/minProperties: expected a non-negative integer");
	refuse("{\"type\": \"strin\"}", "/type: unknown type \"strin\"");
	refuse("{\"type\": 3}", "/type: expected a type name or an array of them");
	refuse("{\"type\": []}", "/type: expected a type name or an array of them");
	refuse("{\"required\": \"a\"}", "/required: expected an array of strings");
	refuse("{\"required\": [\"a\", 1]}", "/required: expected an array of strings");
	refuse("{\"properties\": []}", "/properties: expected an object of schemas");
	refuse("{\"properties\": {\"a\": 3}}", "/properties/a: expected a schema");
	refuse("{\"items\": [{}]}",
	       "/items: expected a schema (an array of schemas is prefixItems");
	refuse("{\"prefixItems\": {}}", "/prefixItems: expected a non-empty array of schemas");
	refuse("{\"allOf\": []}", "/allOf: expected a non-empty array of schemas");
	refuse("{\"anyOf\": [{}, 2]}", "/anyOf/1: expected a schema");
	refuse("{\"not\": null}", "/not: expected a schema");
	refuse("{\"pattern\": 5}", "/pattern: expected a string");
	refuse("{\"multipleOf\": 0}", "/multipleOf: expected a number greater than 0");
	refuse("{\"multipleOf\": -0.5}", "/multipleOf: expected a number greater than 0");
	refuse("{\"minimum\": \"1\"}", "/minimum: expected a number");
	refuse("{\"enum\": 1}", "/enum: expected an array");
	refuse("{\"uniqueItems\": 1}", "/uniqueItems: expected true or false");
	refuse("{\"dependentRequired\": {\"a\": [1]}}",
	       "/dependentRequired: expected an array of strings");
	refuse("{\"$anchor\": \"1x\"}", "/$anchor: expected a name");
	refuse("{\"$defs\": {\"a\": {\"$anchor\": \"x\"}, \"b\": {\"$anchor\": \"x\"}}}",
	       "duplicate anchor \"x\"");
	/* The location of a nested error, with ~0 and ~1. */
	refuse("{\"$defs\": {\"a/b\": {\"properties\": {\"c~d\": {\"maximum\": null}}}}}",
	       "/$defs/a~1b/properties/c~0d/maximum: expected a number");
	/* Known keywords that are not implemented are refused, not ignored. */
	refuse("{\"$dynamicRef\": \"#x\"}", "/$dynamicRef: keyword not supported");
	refuse("{\"properties\": {\"a\": {\"unevaluatedProperties\": false}}}",
	       "/properties/a/unevaluatedProperties: keyword not supported");
	refuse("{\"unevaluatedItems\": false}", "/unevaluatedItems: keyword not supported");
	refuse("{\"$defs\": {\"a\": {\"$id\": \"a.json\"}}}",
	       "/$defs/a/$id: not supported below the root");
	/* Unknown keywords and annotations are ignored. */
	char err[ERRLEN];
	VALID("{\"x-whatever\": {\"type\": 3}, \"format\": \"email\", \"title\": 1}", "\"x\"");
}

static void test_refused_references(void)
{
	refuse("{\"$ref\": \"#/$defs/missing\"}",
	       "/$ref: reference \"#/$defs/missing\" does not resolve");
	refuse("{\"$ref\": \"#nowhere\"}", "reference \"#nowhere\" does not resolve");
	refuse("{\"$ref\": \"other.json#/a\"}", "/$ref: unsupported reference \"other.json#/a\"");
	refuse("{\"$ref\": \"https://example.com/s\"}", "unsupported reference");
	refuse("{\"minimum\": 1, \"$ref\": \"#/minimum\"}",
	       "reference \"#/minimum\" is not a schema");
	refuse("{\"$ref\": 1}", "/$ref: expected a string");
	refuse("{\"properties\": {\"a\": {\"$ref\": \"#/$defs/x~2\"}}, \"$defs\": {}}",
	       "/properties/a/$ref: reference \"#/$defs/x~2\" does not resolve");
}

/* A schema of `levels` nested "items". */
static char *nested_items(int levels)
{
	size_t len = (size_t)levels * 12 + 8;
	char *text = malloc(len), *p = text;
	CHECK(text);
	for (int i = 0; i < levels; i++)
		p += sprintf(p, "{\"items\":");
	p += sprintf(p, "true");
	for (int i = 0; i < levels; i++)
		*p++ = '}';
	*p = '\0';
	return text;
}

static void test_limits(void)
{
	char *ok = nested_items(JSONSCHEMA_MAX_DEPTH);
	char *deep = nested_items(JSONSCHEMA_MAX_DEPTH + 1);
	jsonschema_free(compile(ok));
	refuse(deep, "schema nested too deeply (more than 64 levels)");
	free(ok);
	free(deep);

	/* JSON nesting beyond the limit, even in data (const). */
	json_t *v = json_true();
	for (int i = 0; i < JSONSCHEMA_MAX_JSON_DEPTH + 10; i++)
		v = json_pack("[o]", v);
	json_t *schema = json_pack("{s:o}", "const", v);
	char err[ERRLEN];
	CHECK(jsonschema_compile(schema, err, sizeof err) == NULL);
	CHECK(strstr(err, "schema JSON nested too deeply") != NULL);
	json_decref(schema);

	/* Size: 10,000 subschemas at most (the root counts). */
	json_t *list = json_array();
	for (int i = 0; i < JSONSCHEMA_MAX_SUBSCHEMAS - 1; i++)
		json_array_append_new(list, json_object());
	schema = json_pack("{s:O}", "anyOf", list);
	jsonschema *s = jsonschema_compile(schema, err, sizeof err);
	CHECK(s != NULL);
	jsonschema_free(s);
	json_decref(schema);
	json_array_append_new(list, json_object());
	schema = json_pack("{s:O}", "anyOf", list);
	CHECK(jsonschema_compile(schema, err, sizeof err) == NULL);
	CHECK_STR(err, "schema too large: more than 10000 subschemas");
	json_decref(schema);
	json_decref(list);

	/* In-place references that double at every level: 2^30 evaluations of one value. */
	json_t *defs = json_object();
	for (int i = 0; i < 30; i++) {
		char ref[32], name[16];
		snprintf(name, sizeof name, "d%d", i);
		snprintf(ref, sizeof ref, "#/$defs/d%d", i + 1);
		json_object_set_new(
			defs, name,
			json_pack("{s:[{s:s},{s:s}]}", "allOf", "$ref", ref, "$ref", ref));
	}
	json_object_set_new(defs, "d30", json_pack("{s:s}", "type", "integer"));
	schema = json_pack("{s:o,s:s}", "$defs", defs, "$ref", "#/$defs/d0");
	CHECK(jsonschema_compile(schema, err, sizeof err) == NULL);
	CHECK(strstr(err, "expand to more than 100000 evaluations of one value") != NULL);
	json_decref(schema);
}

static void test_reference_loops(void)
{
	refuse("{\"$ref\": \"#\"}", "$ref loop that never descends into the instance: # -> #");
	refuse("{\"$defs\": {\"a\": {\"$ref\": \"#/$defs/b\"}, \"b\": {\"$ref\": \"#/$defs/a\"}},"
	       " \"$ref\": \"#/$defs/a\"}",
	       "#/$defs/a -> #/$defs/b -> #/$defs/a");
	/* Unreferenced loops are refused too: they are in the schema. */
	refuse("{\"$defs\": {\"a\": {\"$ref\": \"#/$defs/b\"}, \"b\": {\"$ref\": \"#/$defs/a\"}}}",
	       "$ref loop");
	refuse("{\"allOf\": [{\"$ref\": \"#\"}]}", "# -> #/allOf/0 -> #");
	refuse("{\"anyOf\": [true, {\"not\": {\"$ref\": \"#\"}}]}", "$ref loop");
	refuse("{\"if\": {\"$ref\": \"#\"}, \"then\": true}", "$ref loop");
	refuse("{\"else\": {\"$ref\": \"#\"}, \"if\": false}", "$ref loop");
	refuse("{\"dependentSchemas\": {\"a\": {\"$ref\": \"#\"}}}", "$ref loop");
	refuse("{\"$defs\": {\"x\": {\"$anchor\": \"x\", \"oneOf\": [{\"$ref\": \"#x\"}]}}}",
	       "$ref loop");

	/* Recursion through a keyword that descends into the instance is fine. */
	char err[ERRLEN];
	const char *tree = "{\"type\": \"object\", \"required\": [\"v\"],"
			   " \"properties\": {\"v\": {\"type\": \"integer\"},"
			   " \"kids\": {\"type\": \"array\", \"items\": {\"$ref\": \"#\"}}}}";
	VALID(tree, "{\"v\": 1, \"kids\": [{\"v\": 2}, {\"v\": 3, \"kids\": [{\"v\": 4}]}]}");
	expect_message(tree,
		       "{\"v\": 1, \"kids\": [{\"v\": 2}, {\"v\": 3, \"kids\": [{\"v\": 4.5}]}]}",
		       "/kids/1/kids/0/v: expected integer");
	VALID("{\"additionalProperties\": {\"$ref\": \"#\"}}", "{\"a\": {\"b\": {}}}");
	VALID("{\"propertyNames\": {\"$ref\": \"#\"}, \"maxLength\": 3}", "{\"abc\": 1}");
	INVALID("{\"propertyNames\": {\"$ref\": \"#\"}, \"maxLength\": 3}", "{\"abcd\": 1}");
	/* The same location twice at one instance location is not a loop. */
	VALID("{\"$defs\": {\"i\": {\"type\": \"integer\"}},"
	      " \"allOf\": [{\"$ref\": \"#/$defs/i\"}, {\"$ref\": \"#/$defs/i\"}]}",
	      "1");
}

/* ===== Validation results and messages ===== */

static void test_messages(void)
{
	expect_message("{\"properties\": {\"items\": {\"items\": {\"properties\":"
		       " {\"price\": {\"type\": \"integer\"}}}}}}",
		       "{\"items\": [{\"price\": 1}, {\"price\": 2}, {\"price\": 2.5}]}",
		       "/items/2/price: expected integer");
	expect_message("{\"type\": \"string\"}", "1", "expected string");
	expect_message("{\"type\": [\"string\", \"null\"]}", "1", "expected string or null");
	expect_message("{\"type\": [\"object\", \"array\", \"null\"]}", "1",
		       "expected object, array or null");
	expect_message("{\"required\": [\"name\"]}", "{}", "missing required property \"name\"");
	expect_message("{\"properties\": {\"a\": {}}, \"additionalProperties\": false}",
		       "{\"a\": 1, \"extra\": 2}", "/extra: additional property not allowed");
	expect_message(
		"{\"properties\": {\"a/b\": {\"properties\": {\"m~n\": {\"type\": \"string\"}}}}}",
		"{\"a/b\": {\"m~n\": 1}}", "/a~1b/m~0n: expected string");
	expect_message("{\"minimum\": 5}", "4", "expected a number >= 5");
	expect_message("{\"exclusiveMinimum\": 5}", "5", "expected a number > 5");
	expect_message("{\"maximum\": 2.5}", "3", "expected a number <= 2.5");
	expect_message("{\"exclusiveMaximum\": 0.1}", "0.1", "expected a number < 0.1");
	expect_message("{\"multipleOf\": 0.01}", "0.001", "expected a multiple of 0.01");
	expect_message("{\"maxLength\": 3}", "\"abcd\"", "expected at most 3 characters");
	expect_message("{\"minLength\": 1}", "\"\"", "expected at least 1 character");
	expect_message("{\"pattern\": \"^[a-z]+$\"}", "\"ab1\"",
		       "does not match pattern \"^[a-z]+$\"");
	expect_message("{\"enum\": [\"a\", \"b\"]}", "\"c\"",
		       "expected one of [\"a\",\"b\"] (enum)");
	expect_message("{\"const\": {\"a\": 1}}", "{\"a\": 2}", "expected {\"a\":1} (const)");
	expect_message("{\"minItems\": 2}", "[1]", "expected at least 2 items");
	expect_message("{\"maxItems\": 1}", "[1, 2]", "expected at most 1 item");
	expect_message("{\"uniqueItems\": true}", "[1, 2, 1.0]",
		       "items 0 and 2 are equal (uniqueItems)");
	expect_message("{\"prefixItems\": [{}], \"items\": false}", "[1, 2, 3]",
		       "/1: item not allowed (items is false)");
	expect_message("{\"contains\": {\"type\": \"string\"}}", "[1, 2]",
		       "no item matches contains");
	expect_message("{\"contains\": {\"type\": \"string\"}, \"minContains\": 2}", "[\"a\", 2]",
		       "expected at least 2 items matching contains, found 1");
	expect_message("{\"contains\": {\"type\": \"string\"}, \"maxContains\": 1}",
		       "[\"a\", \"b\"]", "expected at most 1 item matching contains");
	expect_message("{\"minProperties\": 1}", "{}", "expected at least 1 property");
	expect_message("{\"maxProperties\": 1}", "{\"a\": 1, \"b\": 2}",
		       "expected at most 1 property");
	expect_message("{\"dependentRequired\": {\"card\": [\"billing\"]}}", "{\"card\": 1}",
		       "missing property \"billing\" (required when \"card\" is present)");
	expect_message("{\"propertyNames\": {\"maxLength\": 2}}", "{\"ab\": 1, \"abc\": 2}",
		       "/abc: property name not allowed by propertyNames");
	expect_message("{\"anyOf\": [{\"type\": \"string\"}, {\"type\": \"null\"}]}", "1",
		       "does not match any schema of anyOf");
	expect_message("{\"oneOf\": [{\"type\": \"integer\"}, {\"minimum\": 0}]}", "1",
		       "matches schemas 0 and 1 of oneOf (expected one)");
	expect_message("{\"oneOf\": [{\"type\": \"string\"}]}", "1",
		       "does not match any schema of oneOf");
	expect_message("{\"not\": {\"type\": \"integer\"}}", "1", "matches the schema of not");
	expect_message("{\"properties\": {\"a\": false}}", "{\"a\": 1}",
		       "/a: not allowed (the schema is false)");
	expect_message("false", "1", "not allowed (the schema is false)");
	expect_message("{\"if\": {\"type\": \"integer\"}, \"then\": {\"minimum\": 10},"
		       " \"else\": {\"type\": \"string\"}}",
		       "[3]", "expected string");
	expect_message("{\"patternProperties\": {\"^n_\": {\"type\": \"number\"}}}",
		       "{\"n_x\": \"1\"}", "/n_x: expected number");
	/* The first failure inside allOf and $ref is reported as it is. */
	expect_message("{\"$defs\": {\"p\": {\"properties\": {\"q\": {\"const\": 1}}}},"
		       " \"allOf\": [{\"$ref\": \"#/$defs/p\"}]}",
		       "{\"q\": 2}", "/q: expected 1 (const)");
}

static void test_error_buffers(void)
{
	jsonschema *s =
		compile("{\"properties\": {\"\xc3\xa9\xc3\xa9\xc3\xa9\": {\"type\": \"string\"}}}");
	json_t *v = parse("{\"\xc3\xa9\xc3\xa9\xc3\xa9\": 1}");
	char err[ERRLEN];

	/* NULL or empty buffers are allowed. */
	CHECK_INT(jsonschema_validate(s, v, NULL, 0), 1);
	CHECK_INT(jsonschema_validate(s, v, err, 0), 1);
	/* A short buffer cuts the path at a character boundary and keeps the message. */
	memset(err, 'x', sizeof err);
	CHECK_INT(jsonschema_validate(s, v, err, 24), 1);
	CHECK_STR(err, "/\xc3\xa9...: expected string");
	for (size_t len = 1; len < 40; len++) {
		CHECK_INT(jsonschema_validate(s, v, err, len), 1);
		CHECK(strlen(err) < len);
		CHECK(json_utf8_valid(err, strlen(err)));
	}
	CHECK_INT(jsonschema_validate(s, v, err, sizeof err), 1);
	CHECK_STR(err, "/\xc3\xa9\xc3\xa9\xc3\xa9: expected string");
	/* A valid instance leaves an empty message. */
	json_t *ok = parse("{\"\xc3\xa9\xc3\xa9\xc3\xa9\": \"x\"}");
	CHECK_INT(jsonschema_validate(s, ok, err, sizeof err), 0);
	CHECK_STR(err, "");

	/* NULL arguments. */
	CHECK_INT(jsonschema_validate(NULL, v, err, sizeof err), -1);
	CHECK_STR(err, "no schema or no instance");
	CHECK_INT(jsonschema_validate(s, NULL, err, sizeof err), -1);
	CHECK(jsonschema_compile(NULL, err, sizeof err) == NULL);
	CHECK(jsonschema_compile(NULL, NULL, 0) == NULL);
	jsonschema_free(NULL);

	/* The compiled schema does not borrow from the caller's JSON. */
	json_t *schema =
		parse("{\"properties\": {\"k\": {\"enum\": [\"x\"]}}, \"required\": [\"k\"]}");
	jsonschema *own = jsonschema_compile(schema, err, sizeof err);
	json_decref(schema);
	CHECK(own != NULL);
	CHECK_INT(check(own, "{\"k\": \"x\"}", err), 0);
	CHECK_INT(check(own, "{\"k\": \"y\"}", err), 1);
	CHECK_INT(check(own, "{}", err), 1);
	jsonschema_free(own);

	json_decref(ok);
	json_decref(v);
	jsonschema_free(s);
}

static void test_integers_and_equality(void)
{
	char err[ERRLEN];
	VALID("{\"type\": \"integer\"}", "1.0");
	VALID("{\"type\": \"integer\"}", "-0.0");
	VALID("{\"type\": \"integer\"}", "1e300");
	INVALID("{\"type\": \"integer\"}", "1.5");
	INVALID("{\"type\": \"integer\"}", "\"1\"");
	VALID("{\"type\": \"number\"}", "1");
	VALID("{\"const\": 1}", "1.0");
	VALID("{\"const\": 1.0}", "1");
	INVALID("{\"const\": 1}", "true");
	INVALID("{\"const\": 0}", "false");
	INVALID("{\"const\": null}", "0");
	VALID("{\"const\": 9007199254740993}", "9007199254740993");
	INVALID("{\"const\": 9007199254740993}", "9007199254740992.0");
	VALID("{\"enum\": [{\"a\": 1, \"b\": [1, 2]}]}", "{\"b\": [1.0, 2], \"a\": 1}");
	INVALID("{\"enum\": [{\"a\": 1, \"b\": [1, 2]}]}", "{\"b\": [2, 1], \"a\": 1}");
	INVALID("{\"enum\": [{\"a\": 1}]}", "{\"a\": 1, \"b\": 2}");
	VALID("{\"const\": \"a\\u0000b\"}", "\"a\\u0000b\"");
	INVALID("{\"const\": \"a\\u0000b\"}", "\"a\\u0000c\"");
	INVALID("{\"uniqueItems\": true}", "[1, 1.0]");
	VALID("{\"uniqueItems\": true}", "[0, false, null, \"0\", [0], {\"0\": 0}]");
	INVALID("{\"uniqueItems\": true}", "[{\"a\": 1, \"b\": 2}, {\"b\": 2, \"a\": 1.0}]");

	/* Long arrays go through hashing: same verdicts and the first pair. */
	char text[4096], *p = text;
	p += sprintf(p, "[");
	for (int i = 0; i < 200; i++)
		p += sprintf(p, "%s{\"k\": [%d, %d.5]}", i ? "," : "", i, i);
	sprintf(p, "]");
	VALID("{\"uniqueItems\": true}", text);
	sprintf(p, ",{\"k\": [17.0, 17.5]},{\"k\": [3, 3.5]}]");
	expect_message("{\"uniqueItems\": true}", text, "items 3 and 201 are equal (uniqueItems)");
}

/* Text the tree cannot stand for: big numbers, duplicate names, bad JSON, a length. */
static void test_text_entry(void)
{
	char err[ERRLEN];
	jsonschema *s = compile("{\"properties\": {\"n\": {\"type\": \"integer\","
				" \"minimum\": 1e19}, \"d\": {\"const\": 2}}}");
#define TEXT(t) jsonschema_validate_text(s, t, strlen(t), err, sizeof err)
	/* beyond int64_t: a double, integral, as json_load_db reads it */
	CHECK_INT(TEXT("{\"n\": 99999999999999999999}"), 0);
	CHECK_INT(TEXT("{\"n\": 9223372036854775807}"), 1);
	CHECK_STR(err, "/n: expected a number >= 1e+19");
	/* the last of duplicate names wins, as in jansson */
	CHECK_INT(TEXT("{\"d\": 1, \"d\": 2.0}"), 0);
	CHECK_INT(TEXT("{\"d\": 2, \"d\": 1}"), 1);
	CHECK_STR(err, "/d: expected 2 (const)");
	/* not JSON, or too deep: a code of its own and the parser's reason */
	CHECK_INT(TEXT("{\"d\": 2,}"), JSONSCHEMA_NOT_JSON);
	CHECK_STR(err, "invalid JSON at byte 8: expected a member name");
	CHECK_INT(TEXT(""), JSONSCHEMA_NOT_JSON);
	CHECK_INT(TEXT("{\"d\": \"\\ud800\"}"), JSONSCHEMA_NOT_JSON);
	char deep[2 * (JSONSCHEMA_MAX_INSTANCE_DEPTH + 1) + 1];
	memset(deep, '[', JSONSCHEMA_MAX_INSTANCE_DEPTH + 1);
	memset(deep + JSONSCHEMA_MAX_INSTANCE_DEPTH + 1, ']', JSONSCHEMA_MAX_INSTANCE_DEPTH + 1);
	deep[sizeof deep - 1] = '\0';
	CHECK_INT(TEXT(deep), JSONSCHEMA_NOT_JSON);
	CHECK_STR(err, "JSON nested more than 512 levels deep");
	CHECK_INT(jsonschema_validate_text(s, deep + 1, 2 * JSONSCHEMA_MAX_INSTANCE_DEPTH, err,
					   sizeof err),
		  0);
	/* only `len` bytes are read; the text needs no NUL */
	const char *two = "{\"d\": 1}{\"d\": 2}";
	CHECK_INT(jsonschema_validate_text(s, two + 8, 8, err, sizeof err), 0);
	CHECK_INT(jsonschema_validate_text(s, two, 8, err, sizeof err), 1);
	CHECK_INT(jsonschema_validate_text(s, two, 9, err, sizeof err), JSONSCHEMA_NOT_JSON);
	CHECK_INT(jsonschema_validate_text(s, NULL, 0, err, sizeof err), -1);
	CHECK_STR(err, "no schema or no instance");
	CHECK_INT(jsonschema_validate_text(NULL, "1", 1, err, sizeof err), -1);
	CHECK_INT(jsonschema_validate_text_limited(s, "{\"d\": 2}", 8, 1, err, sizeof err), -1);
	CHECK_STR(err, "validation stopped after 1 steps");
#undef TEXT
	jsonschema_free(s);
}

static void test_code_point_lengths(void)
{
	char err[ERRLEN];
	VALID("{\"maxLength\": 1}", "\"\xc3\xa9\"");	   /* é: 2 bytes */
	VALID("{\"maxLength\": 1}", "\"\\ud83d\\ude00\""); /* 😀: 4 bytes */
	INVALID("{\"minLength\": 2}", "\"\\ud83d\\ude00\"");
	VALID("{\"minLength\": 3, \"maxLength\": 3}", "\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\"");
	INVALID("{\"maxLength\": 2}", "\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\"");
	VALID("{\"minLength\": 2, \"maxLength\": 2}", "\"a\\u0000\"");
	VALID("{\"maxLength\": 0}", "\"\"");
	VALID("{\"minLength\": 1.0}", "\"a\"");
	INVALID("{\"minLength\": 1e30}", "\"a\"");
}

static void test_multiple_of(void)
{
	char err[ERRLEN];
	VALID("{\"multipleOf\": 0.0001}", "0.0075");
	INVALID("{\"multipleOf\": 0.0001}", "0.00751");
	VALID("{\"multipleOf\": 0.01}", "19.99");
	VALID("{\"multipleOf\": 0.01}", "-19.99");
	VALID("{\"multipleOf\": 0.1}", "0.3");
	INVALID("{\"multipleOf\": 0.1}", "0.30000000000000004");
	INVALID("{\"multipleOf\": 0.03}", "0.1");
	VALID("{\"multipleOf\": 1.5}", "4.5");
	INVALID("{\"multipleOf\": 1.5}", "35");
	VALID("{\"multipleOf\": 2.5}", "10");
	INVALID("{\"multipleOf\": 2.5}", "7");
	VALID("{\"multipleOf\": 1e-8}", "1e-7");
	VALID("{\"multipleOf\": 0.5}", "1e308");
	VALID("{\"multipleOf\": 3}", "9007199254740993");
	INVALID("{\"multipleOf\": 3}", "9007199254740994");
	INVALID("{\"multipleOf\": 2}", "9007199254740993");
	VALID("{\"multipleOf\": 7}", "-9223372036854775807");
	VALID("{\"multipleOf\": 1}", "-9223372036854775808");
	VALID("{\"multipleOf\": 2}", "4.0");
	INVALID("{\"multipleOf\": 2}", "4.5");
	VALID("{\"multipleOf\": 1e-300}", "3e-299");
	INVALID("{\"multipleOf\": 1e300}", "1e-300");
	VALID("{\"multipleOf\": 123456789}", "0");
	/* Comparisons of integers with doubles are exact. */
	VALID("{\"maximum\": 9007199254740992.0}", "9007199254740992");
	INVALID("{\"maximum\": 9007199254740992.0}", "9007199254740993");
	INVALID("{\"minimum\": 1.5}", "1");
	VALID("{\"exclusiveMaximum\": 9.3e18}", "9223372036854775807");
	VALID("{\"exclusiveMinimum\": -9.3e18}", "-9223372036854775808");
}

/* ===== Patterns ===== */

static void test_pattern_basics(void)
{
	MATCH("b", "abc"); /* unanchored search */
	NO_MATCH("^b", "abc");
	MATCH("c$", "abc");
	NO_MATCH("^abc$", "abc\n"); /* $ is the end of the string only */
	MATCH("", "anything");
	MATCH("^$", "");
	NO_MATCH("^$", "x");
	MATCH("^[a-c]+$", "abcabc");
	NO_MATCH("^[a-c]+$", "abd");
	MATCH("^[^a-c]$", "d");
	NO_MATCH("^[^a-c]$", "a");
	NO_MATCH("[]", "a");
	MATCH("^[^]$", "\n");
	MATCH("^[-a]+$", "-a-");
	MATCH("^[a-]+$", "-a-");
	MATCH("^[\\d-]+$", "1-2");
	MATCH("^[\\]\\[]+$", "][");
	MATCH("^[\\b]$", "\b");
	MATCH("^\\d{3}-\\d{4}$", "555-1234");
	NO_MATCH("^\\d{3}-\\d{4}$", "555-12345");
	MATCH("^\\w+$", "A_z0");
	NO_MATCH("^\\w+$", "a-b");
	MATCH("^\\s+$", " \t\n\r\v\f\xc2\xa0\xe2\x80\xa8\xef\xbb\xbf");
	NO_MATCH("\\s", "abc");
	MATCH("^\\D\\W\\S$", "a-b");
	NO_MATCH("^\\D$", "7");
	MATCH("^[\\D]$", "x");
	MATCH("^[^\\d\\s]+$", "ab");
	NO_MATCH("^[^\\d\\s]+$", "a b");
	MATCH("^.$", "\xc3\xa9");	  /* é is one code point */
	MATCH("^.$", "\xf0\x9f\x98\x80"); /* 😀 is one code point */
	NO_MATCH("^..$", "\xf0\x9f\x98\x80");
	NO_MATCH("^.$", "\n");
	NO_MATCH("^.$", "\xe2\x80\xa9"); /* U+2029 is a line terminator */
	MATCH("^a.c$", "a\tc");
	MATCH("^\\.\\*\\+\\?\\(\\)\\{\\}\\|\\/\\^\\$\\\\$", ".*+?(){}|/^$\\");
	MATCH("^\\t\\n\\r\\v\\f$", "\t\n\r\v\f");
	MATCH("^\\x41\\u0042\\u{43}$", "ABC");
	MATCH("^\\cJ$", "\n");
}

static void test_pattern_quantifiers(void)
{
	MATCH("^a{2}$", "aa");
	NO_MATCH("^a{2}$", "aaa");
	MATCH("^a{2,}$", "aaaaaaa");
	NO_MATCH("^a{2,}$", "a");
	MATCH("^a{2,3}$", "aaa");
	NO_MATCH("^a{2,3}$", "aaaa");
	MATCH("^a{0}b$", "b");
	MATCH("^x{0,2}$", "");
	MATCH("^(ab)+$", "ababab");
	NO_MATCH("^(ab)+$", "ababa");
	MATCH("^(?:a|bc)*d$", "abcad");
	NO_MATCH("^(?:a|bc)*d$", "abd");
	MATCH("^a+?$", "aaa");
	MATCH("^a*?b??c{1,2}?$", "aacc");
	MATCH("^(cat|dog)s?$", "dogs");
	NO_MATCH("^(cat|dog)s?$", "cow");
	MATCH("^(a|b|c|d)$", "c");
	MATCH("a|", "zzz"); /* an empty alternative matches everywhere */
	MATCH("^(|x)$", "");
	MATCH("^(?<year>\\d{4})-(?<month>\\d{2})$", "2024-06");
	MATCH("^((a)|(b(c)?))+$", "abcbab");
	MATCH("^(a*)*$", "aaaa");
	MATCH("^(a*)+b$", "aab");
	MATCH("^(){3}x$", "x");
	MATCH("^[a-z]{1,1000}$", "abc");
	MATCH("\\bfoo\\b", "a foo b");
	NO_MATCH("\\bfoo\\b", "afoo");
	MATCH("\\Bfoo", "afoo");
	NO_MATCH("\\Bfoo", "a foo");
	MATCH("^\\b", "a");
	NO_MATCH("^\\b", " a");
	MATCH("x$|^y", "y---");
}

static void test_pattern_unicode(void)
{
	MATCH("^\\p{L}+$", "h\xc3\xa9llo");
	NO_MATCH("^\\p{L}+$", "h3");
	MATCH("^\\p{Letter}+$", "\xcf\x80");
	MATCH("^\\P{L}+$", "123");
	MATCH("^\\p{Lu}", "\xc3\x89lan");
	NO_MATCH("^\\p{Lu}", "\xc3\xa9lan");
	MATCH("^\\p{Ll}+$", "\xc3\xa9t\xc3\xa9");
	MATCH("^\\p{N}+$", "4\xc2\xbd");
	MATCH("^\\p{Nd}+$", "\xd9\xa4\xd9\xa2"); /* Arabic-Indic digits */
	NO_MATCH("^\\d+$", "\xd9\xa4\xd9\xa2");
	MATCH("^\\p{gc=Lu}$", "A");
	MATCH("^\\p{General_Category=Letter}$", "a");
	MATCH("^[\\p{L}\\d_]+$", "\xc3\xa9t\xc3\xa9_2");
	NO_MATCH("^[\\P{L}]$", "a");
	MATCH("^\\p{ASCII}+$", "abc");
	NO_MATCH("^\\p{ASCII}+$", "\xc3\xa9");
	MATCH("^\\u00e9$", "\xc3\xa9");
	MATCH("^\\u{1F600}$", "\xf0\x9f\x98\x80");
	MATCH("^\\uD83D\\uDE00$", "\xf0\x9f\x98\x80");
	MATCH("^[\xf0\x9f\x98\x80-\xf0\x9f\x98\x82]$", "\xf0\x9f\x98\x81");
	NO_MATCH("^[\xf0\x9f\x98\x80-\xf0\x9f\x98\x82]$", "\xf0\x9f\x98\x83");
	MATCH("^\xf0\x9f\x90\xb2*$", "\xf0\x9f\x90\xb2\xf0\x9f\x90\xb2");
	NO_MATCH("^\xf0\x9f\x90\xb2*$", "\xf0\x9f\x90\x89");
	MATCH("caf\xc3\xa9", "un caf\xc3\xa9 noir");
	NO_MATCH("^[a-z]cole$", "\xc3\xa9"
				"cole");
}

static void test_pattern_refused(void)
{
	refuse_pattern("(a", "unterminated group");
	refuse_pattern("a)", "unmatched )");
	refuse_pattern("[a", "unterminated character class");
	refuse_pattern("(?=a)", "lookahead is not supported");
	refuse_pattern("(?!a)", "lookahead is not supported");
	refuse_pattern("(?<=a)b", "lookbehind is not supported");
	refuse_pattern("(?<!a)b", "lookbehind is not supported");
	refuse_pattern("(a)\\1", "backreferences are not supported");
	refuse_pattern("(?<n>a)\\k<n>", "backreferences are not supported");
	refuse_pattern("(?i)a", "flags are not supported");
	refuse_pattern("a{2,1}", "numbers out of order");
	refuse_pattern("a{1001}", "repetition count above 1000");
	refuse_pattern("a{1,x}", "malformed {n,m} quantifier");
	refuse_pattern("*a", "nothing to repeat");
	refuse_pattern("a**", "nothing to repeat");
	refuse_pattern("^*", "nothing to repeat");
	refuse_pattern("\\b+", "nothing to repeat");
	refuse_pattern("{", "lone {");
	refuse_pattern("a}", "lone }");
	refuse_pattern("]", "lone ]");
	refuse_pattern("\\q", "invalid escape");
	refuse_pattern("\\", "pattern ends with a backslash");
	refuse_pattern("[z-a]", "range out of order");
	refuse_pattern("[\\w-z]", "a class escape cannot bound a range");
	refuse_pattern("\\p{Greek}", "unsupported Unicode property");
	refuse_pattern("\\pL", "\\p must be followed by {property}");
	refuse_pattern("\\u12", "malformed \\u escape");
	refuse_pattern("\\u{110000}", "beyond U+10FFFF");
	refuse_pattern("\\07", "octal escapes are not supported");
	refuse_pattern("\\c1", "\\c must be followed by a letter");
	refuse_pattern("(a{1000}){3}", "pattern too complex");
	refuse_pattern("[a-z]{1000}[a-z]{1000}", "pattern too complex");
	char deep[80] = "";
	for (int i = 0; i < 33; i++)
		strcat(deep, "(");
	refuse_pattern(deep, "groups nested too deeply");
	/* patternProperties names the pattern's location. */
	refuse("{\"patternProperties\": {\"a(\": {}}}",
	       "/patternProperties/a(: unsupported pattern \"a(\": unterminated group");
}

static void test_pattern_pathological(void)
{
	/* Exponential for a backtracking engine; linear here. */
	char text[20002];
	memset(text, 'a', 20000);
	text[20000] = '!';
	text[20001] = '\0';
	double t0 = now_seconds();
	NO_MATCH("^(a+)+$", text);
	NO_MATCH("^(a|a)*$", text);
	NO_MATCH("^(a|aa)*b", text);
	NO_MATCH("(.*){20}x", text);
	MATCH("^(a*)*!$", text);
	double elapsed = now_seconds() - t0;
	printf("pathological patterns over 20,000 characters: %.3f s\n", elapsed);
	/* a guard against exponential time (which would take years), not a speed check */
	CHECK(elapsed < 120.0);

	/* A step budget stops long matches: -1 with a message. */
	char err[ERRLEN];
	jsonschema *s = compile("{\"pattern\": \"^(a|b)*c\"}");
	json_t *v = json_string(text);
	CHECK_INT(jsonschema_validate_limited(s, v, 1000, err, sizeof err), -1);
	CHECK_STR(err, "validation stopped after 1000 steps");
	CHECK_INT(jsonschema_validate(s, v, err, sizeof err), 1);
	json_decref(v);
	jsonschema_free(s);
}

/* ===== References ===== */

static void test_references(void)
{
	char err[ERRLEN];
	VALID("{\"$defs\": {\"a b\": {\"type\": \"integer\"}}, \"$ref\": \"#/$defs/a%20b\"}", "1");
	INVALID("{\"$defs\": {\"a b\": {\"type\": \"integer\"}}, \"$ref\": \"#/$defs/a%20b\"}",
		"\"x\"");
	INVALID("{\"$defs\": {\"t~f\": {\"type\": \"integer\"}, \"s/f\": {\"type\": \"string\"}},"
		" \"allOf\": [{\"$ref\": \"#/$defs/t~0f\"}, {\"$ref\": \"#/$defs/s~1f\"}]}",
		"1");
	VALID("{\"$ref\": \"#int\", \"$defs\": {\"x\": {\"$anchor\": \"int\", \"type\": \"integer\"}}}",
	      "1");
	INVALID("{\"$ref\": \"#int\", \"$defs\": {\"x\": {\"$anchor\": \"int\", \"type\": \"integer\"}}}",
		"1.5");
	/* A location that no keyword names is compiled when referenced. */
	VALID("{\"x-lib\": {\"int\": {\"type\": \"integer\"}}, \"$ref\": \"#/x-lib/int\"}", "1");
	INVALID("{\"x-lib\": {\"int\": {\"type\": \"integer\"}}, \"$ref\": \"#/x-lib/int\"}",
		"\"1\"");
	VALID("{\"prefixItems\": [{\"type\": \"integer\"}, {\"$ref\": \"#/prefixItems/0\"}]}",
	      "[1, 2]");
	INVALID("{\"prefixItems\": [{\"type\": \"integer\"}, {\"$ref\": \"#/prefixItems/0\"}]}",
		"[1, \"2\"]");
	/* A root $id may prefix references within the document. */
	const char *with_id =
		"{\"$id\": \"https://example.com/s.json\","
		" \"$defs\": {\"a\": {\"type\": \"string\"}},"
		" \"properties\": {\"p\": {\"$ref\": \"https://example.com/s.json#/$defs/a\"},"
		" \"q\": {\"$ref\": \"#/$defs/a\"}}}";
	VALID(with_id, "{\"p\": \"x\", \"q\": \"y\"}");
	expect_message(with_id, "{\"p\": 1}", "/p: expected string");
	/* $ref beside other keywords: both apply. */
	INVALID("{\"$defs\": {\"arr\": {\"type\": \"array\"}}, \"$ref\": \"#/$defs/arr\","
		" \"maxItems\": 1}",
		"[1, 2]");
}

/* ===== Limits at validation time ===== */

static void test_evaluation_limits(void)
{
	char err[ERRLEN];
	jsonschema *s = compile("{\"items\": {\"$ref\": \"#\"}, \"type\": \"array\"}");

	/* Nesting built directly (a parser would refuse it first). */
	json_t *deep = json_array();
	for (int i = 0; i < 600; i++)
		deep = json_pack("[o]", deep);
	CHECK_INT(jsonschema_validate(s, deep, err, sizeof err), -1);
	CHECK(strstr(err, "validation nested more than 512 levels deep") != NULL);
	json_decref(deep);

	json_t *ok = json_array();
	for (int i = 0; i < 100; i++)
		ok = json_pack("[o]", ok);
	CHECK_INT(jsonschema_validate(s, ok, err, sizeof err), 0);
	json_decref(ok);
	jsonschema_free(s);

	/* anyOf retried at every level of a failing instance: 2^depth without the budget. */
	s = compile("{\"anyOf\": [{\"items\": {\"$ref\": \"#\"}, \"type\": \"array\"},"
		    " {\"items\": {\"$ref\": \"#\"}, \"type\": \"array\"}]}");
	json_t *v = json_string("leaf");
	for (int i = 0; i < 60; i++)
		v = json_pack("[o]", v);
	double t0 = now_seconds();
	CHECK_INT(jsonschema_validate_limited(s, v, 100000, err, sizeof err), -1);
	CHECK(strstr(err, "validation stopped after 100000 steps") != NULL);
	CHECK_INT(jsonschema_validate(s, v, err, sizeof err), -1);
	/* a guard against 2^60 steps, not a speed check */
	CHECK(now_seconds() - t0 < 120.0);
	json_decref(v);
	jsonschema_free(s);

	/* Work inside one keyword counts too: a large enum checked for every item. */
	json_t *values = json_array();
	for (int i = 0; i < 5000; i++)
		json_array_append_new(values, json_integer(i));
	json_t *schema = json_pack("{s:{s:O}}", "items", "enum", values);
	s = jsonschema_compile(schema, err, sizeof err);
	CHECK(s != NULL);
	json_t *items = json_array();
	for (int i = 0; i < 1000; i++)
		json_array_append_new(items, json_integer(4999 - i % 7));
	CHECK_INT(jsonschema_validate(s, items, err, sizeof err), 0);
	CHECK_INT(jsonschema_validate_limited(s, items, 100000, err, sizeof err), -1);
	CHECK(strstr(err, "validation stopped after 100000 steps") != NULL);
	json_decref(items);
	json_decref(schema);
	json_decref(values);
	jsonschema_free(s);
}

TEST_MAIN(TEST(test_refused_keywords), TEST(test_refused_references), TEST(test_limits),
	  TEST(test_reference_loops), TEST(test_messages), TEST(test_error_buffers),
	  TEST(test_integers_and_equality), TEST(test_text_entry), TEST(test_code_point_lengths),
	  TEST(test_multiple_of), TEST(test_pattern_basics), TEST(test_pattern_quantifiers),
	  TEST(test_pattern_unicode), TEST(test_pattern_refused), TEST(test_pattern_pathological),
	  TEST(test_references), TEST(test_evaluation_limits))
