/*
 * Fuzz target: JSON Schema compiling and validation. The input is a schema
 * text, a newline, then an instance text (without a newline, the schema
 * validates itself). Nothing may crash or hang; every refusal and failure
 * carries a message in valid UTF-8; validation is deterministic; a
 * pattern gives the same answer on every matching path (literal, DFA,
 * NFA: "(?:\b|\B)" in front forces the NFA without changing the meaning);
 * and the instance validated as text (jsonschema_validate_text) gives what
 * its jansson tree gives, and is refused as text exactly when jansson
 * refuses it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "jsonschema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Deeper than the schema limit, so that the refusal is exercised. */
#define FUZZ_MAX_DEPTH 300
#define FUZZ_MAX_STEPS 200000UL
#define FUZZ_ERRLEN 256

/* A message that must be present and valid UTF-8. */
static void check_message(const char *err)
{
	if (err[0] == '\0' || !json_utf8_valid(err, strlen(err)))
		__builtin_trap();
}

/* The same verdict for a top-level "pattern" when the NFA is forced. */
static void check_pattern_paths(const json_t *schema, const json_t *instance, int verdict)
{
	const json_t *pattern = json_object_get(schema, "pattern");
	char err[FUZZ_ERRLEN];
	if (!json_is_string(pattern) || !json_is_string(instance) || verdict < 0 ||
	    json_object_size(schema) != 1)
		return;
	size_t len = json_string_length(pattern) + 16;
	char *forced = malloc(len);
	if (!forced)
		return;
	snprintf(forced, len, "(?:\\b|\\B)(?:%s)", json_string_value(pattern));
	json_t *other = json_pack("{s:s}", "pattern", forced);
	free(forced);
	jsonschema *s = other ? jsonschema_compile(other, err, sizeof err) : NULL;
	if (s) {
		int r = jsonschema_validate_limited(s, instance, FUZZ_MAX_STEPS, err, sizeof err);
		if (r >= 0 && r != verdict)
			__builtin_trap();
	}
	jsonschema_free(s);
	json_decref(other);
}

/*
 * The instance's text through the text path: the verdict and message of
 * its tree `instance` (r, err) when jansson took it; JSONSCHEMA_NOT_JSON
 * when jansson cannot parse it (nor with every integer as a real, as
 * json_load_db does), or when it nests beyond the text path's limit.
 */
static void check_text_path(const jsonschema *s, const char *text, size_t len,
			    const json_t *instance, int r, const char *err)
{
	char terr[FUZZ_ERRLEN];
	json_error_t jerr;
	int rt = jsonschema_validate_text_limited(s, text, len, FUZZ_MAX_STEPS, terr, sizeof terr);
	if (rt != 0)
		check_message(terr);
	if (json_text_depth(text, len) > JSONSCHEMA_MAX_JSON_DEPTH || memchr(text, '\0', len)) {
		/* json_loadb() drops a NUL byte after a number; the parser refuses it */
		if (rt != JSONSCHEMA_NOT_JSON)
			__builtin_trap();
		return;
	}
	if (instance) {
		if (rt != r || strcmp(terr, err) != 0)
			__builtin_trap();
		return;
	}
	/* json_parse_bounded() refused it: not JSON, or duplicate names, or a big integer */
	json_t *j = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
	if (!j)
		j = json_loadb(text, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &jerr);
	if ((j == NULL) != (rt == JSONSCHEMA_NOT_JSON))
		__builtin_trap();
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *perr = NULL;
	const char *newline = memchr(text, '\n', size);
	size_t schema_len = newline ? (size_t)(newline - text) : size;
	char err[FUZZ_ERRLEN], again[FUZZ_ERRLEN];

	json_t *schema = json_parse_bounded(text, schema_len, FUZZ_MAX_DEPTH, &perr);
	if (!schema)
		return 0;
	jsonschema *s = jsonschema_compile(schema, err, sizeof err);
	if (!s) {
		check_message(err);
		json_decref(schema);
		return 0;
	}
	json_t *instance = NULL;
	if (newline)
		instance = json_parse_bounded(newline + 1, size - schema_len - 1, FUZZ_MAX_DEPTH,
					      &perr);
	if (newline) {
		int ri = instance ? jsonschema_validate_limited(s, instance, FUZZ_MAX_STEPS, err,
								sizeof err)
				  : 0;
		check_text_path(s, newline + 1, size - schema_len - 1, instance, ri, err);
	}
	if (!instance)
		instance = json_incref(schema);

	int r = jsonschema_validate_limited(s, instance, FUZZ_MAX_STEPS, err, sizeof err);
	if (r < -1 || r > 1)
		__builtin_trap();
	if (r != 0)
		check_message(err);
	else if (err[0] != '\0')
		__builtin_trap();
	/* Deterministic, with or without a message buffer, whatever its size. */
	if (jsonschema_validate_limited(s, instance, FUZZ_MAX_STEPS, again, sizeof again) != r ||
	    strcmp(err, again) != 0 ||
	    jsonschema_validate_limited(s, instance, FUZZ_MAX_STEPS, NULL, 0) != r ||
	    jsonschema_validate_limited(s, instance, FUZZ_MAX_STEPS, again, 7) != r)
		__builtin_trap();
	if (r != 0 && !json_utf8_valid(again, strlen(again)))
		__builtin_trap();
	check_pattern_paths(schema, instance, r);

	jsonschema_free(s);
	json_decref(instance);
	json_decref(schema);
	return 0;
}
