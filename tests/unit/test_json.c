/* Unit tests of json.c: bounded parsing and the typed field readers. */
#include "json.h"
#include "testlib.h"

/* Parses a test literal; fails the test when it does not parse. */
static json_t *obj_of(const char *text)
{
	const char *err = NULL;
	json_t *v = json_parse_bounded(text, strlen(text), 32, &err);
	if (!v) {
		fprintf(stderr, "did not parse (%s): %s\n", err, text);
		exit(1);
	}
	return v;
}

/* A text of `depth` nested arrays, closed when `closed`; caller frees. */
static char *nested(int depth, int closed)
{
	char *s = malloc((size_t)depth * 2 + 1);
	CHECK(s);
	memset(s, '[', (size_t)depth);
	memset(s + depth, closed ? ']' : '[', (size_t)depth);
	s[depth * 2] = '\0';
	return s;
}

static void test_depth(void)
{
#define DEPTH(text) json_text_depth(text, strlen(text))
	CHECK_INT(DEPTH("1"), 0);
	CHECK_INT(DEPTH("\"x\""), 0);
	CHECK_INT(DEPTH(""), 0);
	CHECK_INT(DEPTH("{}"), 1);
	CHECK_INT(DEPTH("[[[]]]"), 3);
	CHECK_INT(DEPTH("{\"a\":[1,{\"b\":[]}],\"c\":{}}"), 4);
	CHECK_INT(DEPTH("[\"[[[{{\"]"), 1);
	CHECK_INT(DEPTH("[\"\\\"[[\"]"), 1);  /* an escaped quote does not end the string */
	CHECK_INT(DEPTH("[\"\\\\\",[]]"), 2); /* an escaped backslash does not escape the quote */
	CHECK_INT(DEPTH("[[]"), -1);
	CHECK_INT(DEPTH("]"), -1);
	CHECK_INT(DEPTH("[]]["), -1);
	CHECK_INT(DEPTH("[\"]"), -1);
	CHECK_INT(DEPTH("\"\\"), -1);
	CHECK_INT(json_text_depth(NULL, 0), -1);
	/* Only `len` bytes count. */
	CHECK_INT(json_text_depth("[[]]]]]", 4), 2);
#undef DEPTH
}

static void test_parse_depth_limit(void)
{
	const char *err = NULL;
	char *at = nested(32, 1), *over = nested(33, 1), *open = nested(100000, 0);

	json_t *v = json_parse_bounded(at, strlen(at), 32, &err);
	CHECK(v != NULL);
	json_decref(v);

	CHECK(json_parse_bounded(over, strlen(over), 32, &err) == NULL);
	CHECK_STR(err, "JSON nested too deeply");
	CHECK(json_parse_bounded("{\"a\":{\"b\":1}}", 13, 1, &err) == NULL);
	CHECK_STR(err, "JSON nested too deeply");

	err = NULL;
	CHECK(json_parse_bounded(open, strlen(open), 32, &err) == NULL);
	CHECK_STR(err, "malformed JSON");

	/* Deep but balanced: refused before jansson parses it. */
	char *deep = nested(100000, 1);
	CHECK(json_parse_bounded(deep, strlen(deep), 512, &err) == NULL);
	CHECK_STR(err, "JSON nested too deeply");
	free(deep);
	free(at);
	free(over);
	free(open);
}

static void test_parse_values(void)
{
	const char *err = NULL;
	json_t *v = json_parse_bounded("42", 2, 0, &err);
	CHECK(json_is_integer(v) && json_integer_value(v) == 42);
	json_decref(v);
	v = json_parse_bounded(" \"x\" ", 5, 0, &err);
	CHECK_STR(json_string_value(v), "x");
	json_decref(v);
	v = json_parse_bounded("{\"a\":\"\\u00e9\"}trailing", 14, 1, &err);
	CHECK_STR(json_string_value(json_object_get(v, "a")), "\xc3\xa9");
	json_decref(v);

	static const char *const malformed[] = {
		"",    "   ", "{",	    "{\"a\":}", "[1,]", "{\"a\":1} x",
		"nul", "'a'", "[\"\xff\"]", "{a:1}",
	};
	for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
		err = NULL;
		if (json_parse_bounded(malformed[i], strlen(malformed[i]), 32, &err)) {
			fprintf(stderr, "accepted: %s\n", malformed[i]);
			exit(1);
		}
		CHECK_STR(err, "malformed JSON");
	}
	/* A NULL `err` is allowed. */
	CHECK(json_parse_bounded("{", 1, 32, NULL) == NULL);
}

static void test_parse_duplicates_and_nul(void)
{
	const char *err = NULL;
	const char *dup = "{\"a\":1,\"b\":{\"c\":1,\"c\":2}}";
	CHECK(json_parse_bounded(dup, strlen(dup), 32, &err) == NULL);
	CHECK_STR(err, "duplicate key in JSON object");

	const char *nul = "{\"a\":\"x\\u0000y\"}";
	CHECK(json_parse_bounded(nul, strlen(nul), 32, &err) == NULL);
	CHECK_STR(err, "NUL character in JSON string");

	const char raw[] = "{\"a\":\"x\0y\"}";
	err = NULL;
	CHECK(json_parse_bounded(raw, sizeof raw - 1, 32, &err) == NULL);
	CHECK(err != NULL);
	const char raw2[] = "{\"a\":1}\0";
	CHECK(json_parse_bounded(raw2, sizeof raw2 - 1, 32, &err) == NULL);
}

static void test_dump(void)
{
	json_t *v = obj_of("{ \"b\" : [true, null, 1.5],\n \"a\": \"\\u00e9\" }");
	char *s = json_dump_compact(v);
	CHECK_STR(s, "{\"b\":[true,null,1.5],\"a\":\"\xc3\xa9\"}");
	free(s);
	json_decref(v);
	json_t *n = json_integer(7);
	s = json_dump_compact(n);
	CHECK_STR(s, "7");
	free(s);
	json_decref(n);
	CHECK(json_dump_compact(NULL) == NULL);
}

static void test_req_string(void)
{
	json_t *o =
		obj_of("{\"name\":\"abc\",\"n\":1,\"z\":null,\"e\":\"\xc3\xa9\",\"empty\":\"\"}");
	json_error err;
	const char *s = NULL;

	CHECK_INT(json_req_string(o, "name", 3, &s, &err), 0);
	CHECK_STR(s, "abc");
	CHECK(s == json_string_value(json_object_get(o, "name")));
	CHECK_INT(json_req_string(o, "empty", 3, &s, &err), 0);
	CHECK_STR(s, "");

	memset(&err, 0, sizeof err);
	CHECK_INT(json_req_string(o, "name", 2, &s, &err), -1);
	CHECK_STR(err.field, "name");
	CHECK_STR(err.message, "expected a string of at most 2 bytes");

	CHECK_INT(json_req_string(o, "e", 1, &s, &err), -1); /* 2 bytes, 1 character */
	CHECK_STR(err.field, "e");
	CHECK_INT(json_req_string(o, "e", 2, &s, &err), 0);

	CHECK_INT(json_req_string(o, "n", 10, &s, &err), -1);
	CHECK_STR(err.field, "n");
	CHECK_STR(err.message, "expected a string");

	CHECK_INT(json_req_string(o, "missing", 10, &s, &err), -1);
	CHECK_STR(err.field, "missing");
	CHECK_STR(err.message, "required");
	CHECK_INT(json_req_string(o, "z", 10, &s, &err), -1);
	CHECK_STR(err.field, "z");
	CHECK_STR(err.message, "required");

	json_t *arr = json_array();
	CHECK_INT(json_req_string(arr, "name", 10, &s, &err), -1);
	CHECK_STR(err.message, "required");
	json_decref(arr);

	/* A string built in code may hold a NUL; it is refused. */
	json_object_set_new(o, "nul", json_stringn("a\0b", 3));
	CHECK_INT(json_req_string(o, "nul", 10, &s, &err), -1);
	CHECK_STR(err.field, "nul");
	json_decref(o);
}

static void test_opt_string(void)
{
	json_t *o = obj_of("{\"a\":\"x\",\"z\":null,\"n\":false}");
	json_error err;
	const char *s = "untouched";
	int present = -1;

	CHECK_INT(json_opt_string(o, "missing", 5, &s, &present, &err), 0);
	CHECK_INT(present, 0);
	CHECK_STR(s, "untouched");
	present = -1;
	CHECK_INT(json_opt_string(o, "z", 5, &s, &present, &err), 0);
	CHECK_INT(present, 0);
	CHECK_STR(s, "untouched");
	CHECK_INT(json_opt_string(o, "a", 5, &s, &present, &err), 0);
	CHECK_INT(present, 1);
	CHECK_STR(s, "x");
	CHECK_INT(json_opt_string(o, "a", 5, &s, NULL, &err), 0);
	CHECK_INT(json_opt_string(o, "n", 5, &s, &present, &err), -1);
	CHECK_STR(err.field, "n");
	CHECK_STR(err.message, "expected a string");
	CHECK_INT(json_opt_string(o, "a", 0, &s, &present, &err), -1);
	CHECK_STR(err.message, "expected a string of at most 0 bytes");
	json_decref(o);
}

static void test_opt_int(void)
{
	json_t *o = obj_of("{\"price_cents\":250,\"neg\":-1,\"real\":1.5,\"whole\":2.0,"
			   "\"str\":\"5\",\"t\":true,\"big\":100000001,\"z\":null}");
	json_error err;
	int64_t v = -7;
	int present = -1;

	CHECK_INT(json_opt_int(o, "price_cents", 0, 100000000, &v, &present, &err), 0);
	CHECK_INT(v, 250);
	CHECK_INT(present, 1);

	static const char *const bad[] = { "neg", "real", "whole", "str", "t", "big" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&err, 0, sizeof err);
		v = -7;
		CHECK_INT(json_opt_int(o, bad[i], 0, 100000000, &v, &present, &err), -1);
		CHECK_STR(err.field, bad[i]);
		CHECK_STR(err.message, "expected an integer from 0 to 100000000");
		CHECK_INT(v, -7);
	}
	CHECK_INT(json_opt_int(o, "neg", -1, 1, &v, &present, &err), 0);
	CHECK_INT(v, -1);
	CHECK_INT(json_opt_int(o, "price_cents", 251, 300, &v, &present, &err), -1);
	CHECK_STR(err.message, "expected an integer from 251 to 300");
	CHECK_INT(json_opt_int(o, "price_cents", 0, 250, &v, &present, &err), 0);

	v = -7;
	CHECK_INT(json_opt_int(o, "missing", 0, 10, &v, &present, &err), 0);
	CHECK_INT(present, 0);
	CHECK_INT(v, -7);
	present = -1;
	CHECK_INT(json_opt_int(o, "z", 0, 10, &v, &present, &err), 0);
	CHECK_INT(present, 0);
	CHECK_INT(json_opt_int(o, "price_cents", INT64_MIN, INT64_MAX, &v, NULL, &err), 0);
	json_decref(o);
}

static void test_opt_bool(void)
{
	json_t *o = obj_of("{\"yes\":true,\"no\":false,\"s\":\"true\",\"n\":1,\"z\":null}");
	json_error err;
	int v = 7, present = -1;

	CHECK_INT(json_opt_bool(o, "yes", &v, &present, &err), 0);
	CHECK_INT(v, 1);
	CHECK_INT(present, 1);
	CHECK_INT(json_opt_bool(o, "no", &v, &present, &err), 0);
	CHECK_INT(v, 0);
	v = 7;
	CHECK_INT(json_opt_bool(o, "missing", &v, &present, &err), 0);
	CHECK_INT(present, 0);
	CHECK_INT(v, 7);
	CHECK_INT(json_opt_bool(o, "z", &v, &present, &err), 0);
	CHECK_INT(present, 0);
	CHECK_INT(json_opt_bool(o, "s", &v, &present, &err), -1);
	CHECK_STR(err.field, "s");
	CHECK_STR(err.message, "expected true or false");
	CHECK_INT(json_opt_bool(o, "n", &v, &present, &err), -1);
	CHECK_STR(err.field, "n");
	CHECK_INT(v, 7);
	json_decref(o);
}

static void test_opt_string_array(void)
{
	json_t *o = obj_of("{\"tags\":[\"a\",\"bb\"],\"mixed\":[\"a\",2],\"long\":[\"abcd\"],"
			   "\"s\":\"a\",\"empty\":[],\"z\":null}");
	json_error err;
	const json_t *out = NULL;
	int present = -1;

	CHECK_INT(json_opt_string_array(o, "tags", 2, 2, &out, &present, &err), 0);
	CHECK(out == json_object_get(o, "tags"));
	CHECK_INT(present, 1);
	CHECK_INT(json_opt_string_array(o, "empty", 0, 2, &out, &present, &err), 0);
	CHECK_INT(json_array_size(out), 0);

	CHECK_INT(json_opt_string_array(o, "tags", 1, 2, &out, &present, &err), -1);
	CHECK_STR(err.field, "tags");
	CHECK_STR(err.message, "expected an array of at most 1 strings");
	CHECK_INT(json_opt_string_array(o, "s", 5, 5, &out, &present, &err), -1);
	CHECK_STR(err.field, "s");
	CHECK_INT(json_opt_string_array(o, "mixed", 5, 5, &out, &present, &err), -1);
	CHECK_STR(err.field, "mixed[1]");
	CHECK_STR(err.message, "expected a string");
	CHECK_INT(json_opt_string_array(o, "long", 5, 3, &out, &present, &err), -1);
	CHECK_STR(err.field, "long[0]");
	CHECK_STR(err.message, "expected a string of at most 3 bytes");

	out = NULL;
	CHECK_INT(json_opt_string_array(o, "missing", 5, 5, &out, &present, &err), 0);
	CHECK_INT(present, 0);
	CHECK(out == NULL);
	CHECK_INT(json_opt_string_array(o, "z", 5, 5, &out, &present, &err), 0);
	CHECK_INT(present, 0);
	json_decref(o);
}

/* A key longer than the error's field is cut, not overflowed. */
static void test_long_field_name(void)
{
	char key[200];
	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = '\0';
	json_t *o = json_object();
	json_object_set_new(o, key, json_integer(1));
	json_error err;
	const char *s;
	CHECK_INT(json_req_string(o, key, 5, &s, &err), -1);
	CHECK_INT(strlen(err.field), sizeof err.field - 1);
	CHECK(strncmp(err.field, key, sizeof err.field - 1) == 0);
	json_decref(o);
}

TEST_MAIN(TEST(test_depth), TEST(test_parse_depth_limit), TEST(test_parse_values),
	  TEST(test_parse_duplicates_and_nul), TEST(test_dump), TEST(test_req_string),
	  TEST(test_opt_string), TEST(test_opt_int), TEST(test_opt_bool),
	  TEST(test_opt_string_array), TEST(test_long_field_name))
