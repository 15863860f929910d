/*
 * Unit tests of jsondoc.c: the parser accepts and refuses what jansson does
 * and builds the same values (checked against json_loadb on fixed cases and
 * on random mutations of them), numbers, escapes, UTF-8, duplicate names,
 * depth, lookups, and copies of jansson trees.
 */
#include <math.h>
#include <stdint.h>

#include "jsondoc.h"
#include "testlib.h"

#define ERRLEN 256
#define DEPTH 256

/* Nonzero when the tree `a` holds the same values as jansson's `b`, in the same order. */
static int same_tree(const jsonval *a, const json_t *b, int int_as_real)
{
	switch (a->type) {
	case JSONVAL_NULL:
		return json_is_null(b);
	case JSONVAL_TRUE:
		return json_is_true(b);
	case JSONVAL_FALSE:
		return json_is_false(b);
	case JSONVAL_INTEGER:
		if (int_as_real && json_is_real(b))
			return json_real_value(b) == (double)a->u.i;
		return json_is_integer(b) && json_integer_value(b) == a->u.i;
	case JSONVAL_REAL: {
		double d = json_real_value(b);
		/* bit for bit, so that -0.0 differs from 0.0 */
		return json_is_real(b) && memcmp(&d, &a->u.d, sizeof d) == 0;
	}
	case JSONVAL_STRING:
		return json_is_string(b) && json_string_length(b) == a->len &&
		       memcmp(json_string_value(b), a->u.s, a->len) == 0;
	case JSONVAL_ARRAY:
		if (!json_is_array(b) || json_array_size(b) != a->len)
			return 0;
		for (uint32_t i = 0; i < a->len; i++)
			if (!same_tree(jsonval_item(a, i), json_array_get(b, i), int_as_real))
				return 0;
		return 1;
	case JSONVAL_OBJECT: {
		if (!json_is_object(b) || json_object_size(b) != a->len)
			return 0;
		uint32_t i = 0;
		for (void *it = json_object_iter((json_t *)b); it;
		     it = json_object_iter_next((json_t *)b, it), i++) {
			const jsonmember *m = &a->u.members[i];
			if (json_object_iter_key_len(it) != m->keylen ||
			    memcmp(json_object_iter_key(it), m->key, m->keylen) != 0 ||
			    !same_tree(&m->value, json_object_iter_value(it), int_as_real) ||
			    jsonval_get(a, m->key, m->keylen) != &m->value)
				return 0;
		}
		return 1;
	}
	default:
		return 0;
	}
}

/*
 * Parses `len` bytes both ways: jsondoc must accept exactly what jansson
 * accepts (retrying with every integer as a real, as json_load_db does),
 * with the same values. Returns 1 when accepted. A NUL byte is refused
 * wherever it is: json_loadb() drops one that follows a number or a
 * literal ("[1\0,2]" is [1,2] to it), which no JSON text holds.
 */
static int agree(const char *text, size_t len)
{
	json_error_t jerr;
	char err[ERRLEN];
	int int_as_real = 0;
	json_t *j = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
	if (!j) {
		j = json_loadb(text, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &jerr);
		int_as_real = 1;
	}
	jsondoc *d = jsondoc_parse(text, len, DEPTH, err, sizeof err);
	if (memchr(text, '\0', len)) {
		json_decref(j);
		j = NULL;
	}
	int ok = (j != NULL) == (d != NULL);
	if (ok && d)
		ok = same_tree(jsondoc_root(d), j, int_as_real);
	if (!ok) {
		fprintf(stderr, "disagree on %zu bytes: '", len);
		fwrite(text, 1, len, stderr);
		fprintf(stderr, "'\n  jansson: %s\n  jsondoc: %s\n", j ? "accepted" : jerr.text,
			d ? "accepted" : err);
		exit(1);
	}
	json_decref(j);
	jsondoc_free(d);
	return ok && j;
}

#define ACCEPT(text) CHECK(agree(text, sizeof(text) - 1) == 1)
#define REFUSE(text) CHECK(agree(text, sizeof(text) - 1) == 0)

/* Parses a text that must parse; caller frees the document. */
static jsondoc *parse(const char *text)
{
	char err[ERRLEN];
	jsondoc *d = jsondoc_parse(text, strlen(text), DEPTH, err, sizeof err);
	if (!d) {
		fprintf(stderr, "did not parse (%s): %s\n", err, text);
		exit(1);
	}
	return d;
}

/* The parser's message for a text it must refuse. */
static void refuse_with(const char *text, size_t len, const char *want)
{
	char err[ERRLEN];
	jsondoc *d = jsondoc_parse(text, len, DEPTH, err, sizeof err);
	if (d || strcmp(err, want) != 0) {
		fprintf(stderr, "%s: got \"%s\", wanted \"%s\"\n", text, d ? "accepted" : err,
			want);
		exit(1);
	}
}

static void test_documents(void)
{
	ACCEPT("{}");
	ACCEPT("[]");
	ACCEPT(" \t\r\n{ \"a\" : [ 1 , 2.5 , \"x\" , true , false , null , { } , [ ] ] }\n");
	ACCEPT("{\"a\":{\"b\":{\"c\":[[[]]]}},\"d\":\"\"}");
	ACCEPT("\"a string at the top\"");
	ACCEPT("0");
	ACCEPT("true");
	ACCEPT("null");
	ACCEPT("[\"\",\"\",{\"\":\"\"}]");

	REFUSE("");
	REFUSE("   ");
	REFUSE("1 2");
	REFUSE("{} x");
	REFUSE("[1,]");
	REFUSE("[,1]");
	REFUSE("{,}");
	REFUSE("{\"a\"}");
	REFUSE("{\"a\":}");
	REFUSE("{\"a\" 1}");
	REFUSE("{a:1}");
	REFUSE("{\"a\":1,}");
	REFUSE("[1 2]");
	REFUSE("[1");
	REFUSE("{\"a\":1");
	REFUSE("[");
	REFUSE("]");
	REFUSE("tru");
	REFUSE("truee");
	REFUSE("nul");
	REFUSE("True");
	REFUSE("'a'");
	REFUSE("\xef\xbb\xbf{}"); /* a byte order mark */
	REFUSE("[1]\x00");
	REFUSE("\x00");
	REFUSE("/* comment */ 1");

	char err[ERRLEN];
	refuse_with("", 0, "invalid JSON at byte 0: unexpected end of text");
	refuse_with("[1,]", 4, "invalid JSON at byte 3: invalid token");
	refuse_with("{\"a\":1 \"b\"", 10, "invalid JSON at byte 7: expected ',' or '}'");
	refuse_with("[1 2]", 5, "invalid JSON at byte 3: expected ',' or ']'");
	refuse_with("{} x", 4, "invalid JSON at byte 3: text after the value");
	CHECK(jsondoc_parse(NULL, 0, DEPTH, err, sizeof err) == NULL);
	CHECK_STR(err, "no JSON text");
	/* a short buffer, or none */
	CHECK(jsondoc_parse("[", 1, DEPTH, err, 8) == NULL);
	CHECK_STR(err, "invalid");
	CHECK(jsondoc_parse("[", 1, DEPTH, NULL, 0) == NULL);
}

static void test_strings(void)
{
	ACCEPT("\"plain ASCII, longer than a word of eight bytes\"");
	ACCEPT("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"");
	ACCEPT("\"\\u0041\\u00e9\\u20AC\\uffff\"");
	ACCEPT("\"\\ud83d\\ude00 and \\uD83D\\uDE00\"");
	ACCEPT("\"\\udbff\\udfff\"");
	ACCEPT("\"\x7f DEL is not a control character\"");
	REFUSE("\"\\u0000\"");
	REFUSE("{\"\\u0000\":1}");
	REFUSE("\"\\ud800\"");
	REFUSE("\"\\ud800 \"");
	REFUSE("\"\\ud800\\u0041\"");
	REFUSE("\"\\ud800\\ud800\"");
	REFUSE("\"\\udc00\"");
	REFUSE("\"\\udc00\\ud800\"");
	REFUSE("\"\\u12\"");
	REFUSE("\"\\u12g4\"");
	REFUSE("\"\\x41\"");
	REFUSE("\"\\U0041\"");
	REFUSE("\"\\\"");
	REFUSE("\"\\");
	REFUSE("\"abc");
	REFUSE("\"tab\tinside\"");
	REFUSE("\"new\nline\"");
	REFUSE("\"nul\x00inside\"");

	/* the decoded bytes */
	jsondoc *d = parse("[\"\\u00e9\\ud83d\\ude00\\n\", \"borrowed\"]");
	const jsonval *v = jsonval_item(jsondoc_root(d), 0);
	CHECK_INT(v->len, 2 + 4 + 1);
	CHECK(memcmp(v->u.s, "\xc3\xa9\xf0\x9f\x98\x80\n", 7) == 0);
	CHECK_INT(jsonval_item(jsondoc_root(d), 1)->len, 8);
	jsondoc_free(d);

	/* each special byte at every place around the 8-byte scan */
	for (size_t at = 0; at < 24; at++) {
		static const char *const inserts[] = { "\\\"",
						       "\\\\",
						       "\\n",
						       "\\u00e9",
						       "\xc3\xa9",
						       "\xe2\x82\xac",
						       "\xf0\x9f\x98\x80",
						       "\t",
						       "\x80",
						       "\xc3",
						       "\\" };
		for (size_t k = 0; k < sizeof inserts / sizeof inserts[0]; k++) {
			char text[80];
			memset(text, 'a', sizeof text);
			text[0] = '"';
			size_t n = strlen(inserts[k]);
			memcpy(text + 1 + at, inserts[k], n);
			size_t len = 1 + at + n + 9;
			text[len - 1] = '"';
			(void)agree(text, len);
			(void)agree(text, 1 + at + n); /* cut after the insert */
		}
	}
}

static void test_utf8(void)
{
	ACCEPT("\"\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbf\"");
	ACCEPT("\"\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf\"");
	REFUSE("\"\xc0\x80\"");		/* overlong NUL */
	REFUSE("\"\xc1\xbf\"");		/* overlong */
	REFUSE("\"\xe0\x80\x80\"");	/* overlong */
	REFUSE("\"\xe0\x9f\xbf\"");	/* overlong */
	REFUSE("\"\xed\xa0\x80\"");	/* a surrogate */
	REFUSE("\"\xed\xbf\xbf\"");	/* a surrogate */
	REFUSE("\"\xf0\x80\x80\x80\""); /* overlong */
	REFUSE("\"\xf4\x90\x80\x80\""); /* beyond U+10FFFF */
	REFUSE("\"\xf5\x80\x80\x80\"");
	REFUSE("\"\xff\"");
	REFUSE("\"\x80\"");	     /* a lone continuation byte */
	REFUSE("\"\xc3\"");	     /* cut short */
	REFUSE("\"\xe2\x82\"");	     /* cut short */
	REFUSE("\"\xf0\x9f\x98\"");  /* cut short */
	REFUSE("\"\xc3\x28\"");	     /* a bad continuation byte */
	REFUSE("\"\xc3");	     /* cut at the end of the text */
	REFUSE("{\"\xe9t\xe9\":1}"); /* Latin-1 in a name */
	REFUSE("[\xc3\xa9]");	     /* valid UTF-8 outside a string */
}

static void test_numbers(void)
{
	ACCEPT("[0, -0, 1, -1, 10, 1.0, -1.0, 0.0, -0.0, 1e0, 1E+2, 1e-2, 0.5e1, 123.456e-7]");
	ACCEPT("[9223372036854775807, -9223372036854775808, 9223372036854775808]");
	ACCEPT("[-9223372036854775809, 18446744073709551615, 18446744073709551616]");
	ACCEPT("[99999999999999999999, 123456789012345678901234567890]");
	ACCEPT("[0.1, 0.2, 0.3, 1.7976931348623157e308, 2.2250738585072014e-308, 5e-324]");
	ACCEPT("[4.9406564584124654e-324, 2.4703282292062328e-324, 1e-400, -1e-400]");
	ACCEPT("[9007199254740993, 9007199254740993.0, 9007199254740992.5, 1e22, 1e23]");
	ACCEPT("[0.000000000000000000000000000000000000000000000001, 1e-22, 1e-23]");
	ACCEPT("[3.141592653589793238462643383279502884197169399375105820974944592307]");
	ACCEPT("[100000000000000000000000000000000000000000000000000000000000000000e-50]");
	ACCEPT("[0e0, -0e-0, 0E+99999, 1e-99999, 0.0000e5]");
	REFUSE("1e400");
	REFUSE("-1e400");
	REFUSE("[1e99999999999999]");
	REFUSE("01");
	REFUSE("-01");
	REFUSE("00");
	REFUSE("1.");
	REFUSE("1.e5");
	REFUSE(".5");
	REFUSE("-");
	REFUSE("-a");
	REFUSE("+1");
	REFUSE("1e");
	REFUSE("1e+");
	REFUSE("1ee5");
	REFUSE("0x10");
	REFUSE("NaN");
	REFUSE("Infinity");
	REFUSE("-Infinity");
	REFUSE("1_000");

	/* the types the validator relies on: 1.0 is a real, -0 the integer 0, -0.0 a negative real */
	jsondoc *d = parse("[1.0, 1, -0, -0.0, 9223372036854775808]");
	const jsonval *a = jsondoc_root(d);
	CHECK_INT(jsonval_item(a, 0)->type, JSONVAL_REAL);
	CHECK_INT(jsonval_item(a, 1)->type, JSONVAL_INTEGER);
	CHECK_INT(jsonval_item(a, 2)->type, JSONVAL_INTEGER);
	CHECK_INT(jsonval_item(a, 2)->u.i, 0);
	CHECK_INT(jsonval_item(a, 3)->type, JSONVAL_REAL);
	CHECK(signbit(jsonval_item(a, 3)->u.d));
	CHECK_INT(jsonval_item(a, 4)->type, JSONVAL_REAL);
	CHECK(jsonval_item(a, 4)->u.d == 9223372036854775808.0);
	jsondoc_free(d);

	/* random decimals, each read as strtod reads it */
	uint64_t x = 88172645463325252ULL;
	for (int i = 0; i < 20000; i++) {
		char text[64];
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int digits = 1 + (int)(x % 19), point = (int)((x >> 8) % (unsigned)(digits + 1));
		int exp = (int)((x >> 16) % 700) - 350;
		size_t n = 0;
		uint64_t y = x;
		if ((x >> 40) & 1)
			text[n++] = '-';
		for (int k = 0; k < digits; k++, y /= 10) {
			if (k == point && k > 0)
				text[n++] = '.';
			text[n++] = (char)('0' + (k == 0 ? 1 + y % 9 : y % 10));
		}
		if ((x >> 41) & 1)
			n += (size_t)snprintf(text + n, sizeof text - n, "e%d", exp);
		(void)agree(text, n);
	}
}

static void test_depth(void)
{
	char text[2 * (DEPTH + 1) + 1], err[ERRLEN];
	memset(text, '[', DEPTH);
	memset(text + DEPTH, ']', DEPTH);
	jsondoc *d = jsondoc_parse(text, 2 * DEPTH, DEPTH, err, sizeof err);
	CHECK(d != NULL);
	jsondoc_free(d);
	memset(text, '[', DEPTH + 1);
	memset(text + DEPTH + 1, ']', DEPTH + 1);
	refuse_with(text, 2 * (DEPTH + 1), "JSON nested more than 256 levels deep");
	/* objects count too */
	d = jsondoc_parse("{\"a\":{\"b\":[1]}}", 15, 3, err, sizeof err);
	CHECK(d != NULL);
	jsondoc_free(d);
	CHECK(jsondoc_parse("{\"a\":{\"b\":[1]}}", 15, 2, err, sizeof err) == NULL);
	CHECK_STR(err, "JSON nested more than 2 levels deep");
	/* scalars are no level */
	d = jsondoc_parse("1", 1, 0, err, sizeof err);
	CHECK(d != NULL);
	jsondoc_free(d);
}

/* A text of an object of `n` members "k0".."k<n-1>" (value i), then `extra`. */
static char *members_text(int n, const char *extra)
{
	size_t cap = (size_t)n * 24 + strlen(extra) + 4, len = 0;
	char *s = malloc(cap);
	CHECK(s != NULL);
	s[len++] = '{';
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len, "%s\"k%d\":%d", i ? "," : "", i, i);
	len += (size_t)snprintf(s + len, cap - len, "%s}", extra);
	return s;
}

static void test_objects(void)
{
	/* duplicate names: the last value at the first place, as in jansson */
	ACCEPT("{\"b\":1,\"a\":2,\"b\":3,\"c\":4}");
	ACCEPT("{\"a\":1,\"a\":2,\"a\":3}");
	ACCEPT("{\"a\":{\"x\":1},\"a\":[2]}");
	jsondoc *d = parse("{\"b\":1,\"a\":2,\"b\":3}");
	const jsonval *o = jsondoc_root(d);
	CHECK_INT(o->len, 2);
	CHECK_INT(o->u.members[0].keylen, 1);
	CHECK(o->u.members[0].key[0] == 'b');
	CHECK_INT(jsonval_get(o, "b", 1)->u.i, 3);
	CHECK_INT(jsonval_get(o, "a", 1)->u.i, 2);
	CHECK(jsonval_get(o, "c", 1) == NULL);
	CHECK(jsonval_get(o, "", 0) == NULL);
	jsondoc_free(d);

	/* names with escapes and empty names are looked up by their decoded bytes */
	d = parse("{\"\":0,\"\\u00e9\":1,\"a\\\"b\":2}");
	CHECK_INT(jsonval_get(jsondoc_root(d), "", 0)->u.i, 0);
	CHECK_INT(jsonval_get(jsondoc_root(d), "\xc3\xa9", 2)->u.i, 1);
	CHECK_INT(jsonval_get(jsondoc_root(d), "a\"b", 3)->u.i, 2);
	jsondoc_free(d);

	/* objects large enough for the index, with and without duplicates */
	static const char *const extras[] = { "", ",\"k5\":500",
					      ",\"k0\":-1,\"k1\":-99,\"k0\":-2" };
	for (int n = JSONDOC_INDEX_MIN - 1; n <= 200; n += n < 40 ? 1 : 37) {
		for (size_t e = 0; e < sizeof extras / sizeof extras[0]; e++) {
			char *text = members_text(n, extras[e]);
			CHECK(agree(text, strlen(text)));
			d = parse(text);
			o = jsondoc_root(d);
			CHECK_INT(o->len, n);
			for (int i = 0; i < n; i++) {
				char key[16];
				int len = snprintf(key, sizeof key, "k%d", i);
				const jsonval *v = jsonval_get(o, key, (size_t)len);
				CHECK(v != NULL);
				if (!(e == 1 && i == 5) && !(e == 2 && (i == 0 || i == 1)))
					CHECK_INT(v->u.i, i);
			}
			CHECK(jsonval_get(o, "k", 1) == NULL);
			CHECK(jsonval_get(o, "nope", 4) == NULL);
			jsondoc_free(d);
			free(text);
		}
	}
}

static void test_large(void)
{
	/* more items and members than the parser keeps on its own stack, and a long string */
	size_t cap = 400000, len = 0;
	char *text = malloc(cap);
	CHECK(text != NULL);
	len += (size_t)snprintf(text + len, cap - len, "{\"s\":\"");
	for (int i = 0; i < 100000; i++)
		text[len++] = (char)('a' + i % 26);
	len += (size_t)snprintf(text + len, cap - len, "\",\"a\":[");
	for (int i = 0; i < 5000; i++)
		len += (size_t)snprintf(text + len, cap - len, "%s[%d,{\"x\":%d}]", i ? "," : "", i,
					i);
	len += (size_t)snprintf(text + len, cap - len, "]}");
	CHECK(agree(text, len));
	free(text);
}

/* Seeds mutated at random: jsondoc and jansson must still agree on every text. */
static void test_mutations(void)
{
	static const char *const seeds[] = {
		"{\"name\":\"Ada\",\"tags\":[\"x\",\"\\u00e9\\n\"],\"n\":-12.5e3,\"ok\":true}",
		"[0,1.5,-0,\"\\ud83d\\ude00\",null,{\"a\":{\"b\":[false]}},\"caf\xc3\xa9\"]",
		"{\"a\":1,\"a\":2,\"\":\"\",\"\\\"\":\"\\\\\"}",
		"[12345678901234567890,1e308,1e-308,\"\xe2\x82\xac\xf0\x9f\x98\x80\"]",
	};
	static const char bytes[] = "\"\\u0123456789abcdefABCDEF-+.eE[]{},: \t\n\x00\x1f\x7f"
				    "\x80\xbf\xc2\xc3\xe0\xed\xef\xf0\xf4\xff";
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	int accepted = 0;
	for (int i = 0; i < 60000; i++) {
		char text[160];
		const char *seed = seeds[i % (sizeof seeds / sizeof seeds[0])];
		size_t len = strlen(seed);
		memcpy(text, seed, len);
		for (int m = 0; m < 1 + i % 3; m++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			size_t at = (size_t)(x % (len + 1));
			char c = bytes[(x >> 32) % (sizeof bytes - 1)];
			switch ((x >> 24) % 3) {
			case 0: /* replace */
				if (at < len)
					text[at] = c;
				break;
			case 1: /* insert */
				if (len + 1 < sizeof text) {
					memmove(text + at + 1, text + at, len - at);
					text[at] = c;
					len++;
				}
				break;
			default: /* cut */
				if (at < len) {
					memmove(text + at, text + at + 1, len - at - 1);
					len--;
				}
			}
		}
		accepted += agree(text, len);
	}
	/* some of each, or the test proves little */
	CHECK(accepted > 1000 && accepted < 59000);
}

static void test_import(void)
{
	json_error_t jerr;
	char *text = members_text(40, ",\"nested\":[1.5,\"s\",[[null]],{\"t\":true}]");
	json_t *j = json_loads(text, 0, &jerr);
	CHECK(j != NULL);
	jsondoc *d = jsondoc_new();
	CHECK(d != NULL);
	const jsonval *v = jsondoc_import(d, j, 8);
	CHECK(v != NULL);
	CHECK(same_tree(v, j, 0));
	/* several values in one document, and a depth limit */
	const jsonval *s = jsondoc_import(d, json_object_get(j, "nested"), 3);
	CHECK(s != NULL && s->type == JSONVAL_ARRAY && s->len == 4);
	CHECK(jsondoc_import(d, json_object_get(j, "nested"), 2) == NULL);
	CHECK(jsondoc_import(d, json_object_get(j, "k1"), 0) != NULL);
	CHECK(jsondoc_import(d, NULL, 8) == NULL);
	CHECK(same_tree(v, j, 0));
	jsondoc_free(d);
	jsondoc_free(NULL);
	json_decref(j);
	free(text);
}

TEST_MAIN(TEST(test_documents), TEST(test_strings), TEST(test_utf8), TEST(test_numbers),
	  TEST(test_depth), TEST(test_objects), TEST(test_large), TEST(test_mutations),
	  TEST(test_import))
