/* JSON helpers over jansson: bounded parsing and typed field access. */
#include "json.h"

#include "clock.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define ERR_TOO_DEEP "JSON nested too deeply"
#define ERR_MALFORMED "malformed JSON"
#define ERR_DUPLICATE "duplicate key in JSON object"
#define ERR_NUL "NUL character in JSON string"
#define ERR_NO_MEMORY "out of memory"

#define MSG_REQUIRED "required"
#define MSG_STRING "expected a string"
#define MSG_BOOL "expected true or false"

/* Fills `err` (which may be NULL) with the field name and a formatted message. */
static void __attribute__((format(printf, 3, 4)))
set_error(json_error *err, const char *field, const char *fmt, ...)
{
	if (!err)
		return;
	snprintf(err->field, sizeof err->field, "%s", field);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
}

/*
 * The member `key` of `obj`, or NULL when `obj` is not an object or the
 * member is absent or JSON null.
 */
static json_t *member(const json_t *obj, const char *key)
{
	if (!json_is_object(obj))
		return NULL;
	json_t *v = json_object_get(obj, key);
	return json_is_null(v) ? NULL : v;
}

/*
 * Checks that `v` is a string of at most `max_len` bytes without NUL
 * characters. Returns 0, or -1 with `err` naming `field`.
 */
static int check_string(const json_t *v, const char *field, size_t max_len, json_error *err)
{
	if (!json_is_string(v)) {
		set_error(err, field, MSG_STRING);
		return -1;
	}
	size_t len = json_string_length(v);
	if (len > max_len) {
		set_error(err, field, "expected a string of at most %zu bytes", max_len);
		return -1;
	}
	if (memchr(json_string_value(v), '\0', len)) {
		set_error(err, field, "expected a string without NUL characters");
		return -1;
	}
	return 0;
}

int json_text_depth(const char *buf, size_t len)
{
	int depth = 0, max = 0, in_string = 0;

	if (!buf)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = buf[i];
		if (in_string) {
			if (c == '\\')
				i++; /* the escaped character cannot end the string */
			else if (c == '"')
				in_string = 0;
			continue;
		}
		switch (c) {
		case '"':
			in_string = 1;
			break;
		case '{':
		case '[':
			if (++depth > max)
				max = depth;
			break;
		case '}':
		case ']':
			if (--depth < 0)
				return -1;
			break;
		default:
			break;
		}
	}
	if (depth != 0 || in_string)
		return -1;
	return max;
}

json_t *json_parse_bounded(const char *buf, size_t len, int max_depth, const char **err)
{
	static const char *unused;
	json_error_t jerr;

	if (!err)
		err = &unused;
	int depth = json_text_depth(buf, len);
	if (depth < 0) {
		*err = ERR_MALFORMED;
		return NULL;
	}
	if (depth > max_depth) {
		*err = ERR_TOO_DEEP;
		return NULL;
	}
	json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!v) {
		switch (json_error_code(&jerr)) {
		case json_error_duplicate_key:
			*err = ERR_DUPLICATE;
			break;
		case json_error_null_character:
		case json_error_null_byte_in_key:
			*err = ERR_NUL;
			break;
		case json_error_out_of_memory:
			*err = ERR_NO_MEMORY;
			break;
		default:
			*err = ERR_MALFORMED;
			break;
		}
	}
	return v;
}

char *json_dump_compact(const json_t *value)
{
	if (!value)
		return NULL;
	return json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
}

int json_req_string(const json_t *obj, const char *key, size_t max_len, const char **out,
		    json_error *err)
{
	json_t *v = member(obj, key);
	if (!v) {
		set_error(err, key, MSG_REQUIRED);
		return -1;
	}
	if (check_string(v, key, max_len, err) < 0)
		return -1;
	*out = json_string_value(v);
	return 0;
}

int json_opt_string(const json_t *obj, const char *key, size_t max_len, const char **out,
		    int *present, json_error *err)
{
	json_t *v = member(obj, key);
	if (present)
		*present = v != NULL;
	if (!v)
		return 0;
	if (check_string(v, key, max_len, err) < 0)
		return -1;
	*out = json_string_value(v);
	return 0;
}

int json_opt_int(const json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out,
		 int *present, json_error *err)
{
	json_t *v = member(obj, key);
	if (present)
		*present = v != NULL;
	if (!v)
		return 0;
	json_int_t n = json_is_integer(v) ? json_integer_value(v) : 0;
	if (!json_is_integer(v) || n < min || n > max) {
		set_error(err, key, "expected an integer from %" PRId64 " to %" PRId64, min, max);
		return -1;
	}
	*out = n;
	return 0;
}

int json_opt_bool(const json_t *obj, const char *key, int *out, int *present, json_error *err)
{
	json_t *v = member(obj, key);
	if (present)
		*present = v != NULL;
	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		set_error(err, key, MSG_BOOL);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

int json_opt_string_array(const json_t *obj, const char *key, size_t max_items, size_t max_len,
			  const json_t **out, int *present, json_error *err)
{
	json_t *v = member(obj, key);
	if (present)
		*present = v != NULL;
	if (!v)
		return 0;
	if (!json_is_array(v) || json_array_size(v) > max_items) {
		set_error(err, key, "expected an array of at most %zu strings", max_items);
		return -1;
	}
	for (size_t i = 0; i < json_array_size(v); i++) {
		char field[sizeof err->field];
		snprintf(field, sizeof field, "%s[%zu]", key, i);
		if (check_string(json_array_get(v, i), field, max_len, err) < 0)
			return -1;
	}
	*out = v;
	return 0;
}

/* ===== UTF-8 ===== */

/*
 * Length of the valid UTF-8 sequence at `s` (at most `n` bytes long), or 0
 * when the bytes there are not one (overlong forms and surrogates included).
 */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned min;
	unsigned cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2, cp = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3, cp = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, cp = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/*
 * A JSON string of `s` (`len` bytes), with every byte that is not part of
 * valid UTF-8 replaced by '?', so that any message can be logged. Returns a
 * new reference, or NULL on allocation failure.
 */
json_t *json_string_lossy(const char *s, size_t len)
{
	json_t *str = json_stringn(s, len);
	if (str)
		return str;

	char *copy = malloc(len + 1);
	if (!copy)
		return NULL;
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		size_t n = u[i] ? utf8_seq_len(u + i, len - i) : 0;
		if (n == 0) {
			copy[i++] = '?';
			continue;
		}
		memcpy(copy + i, s + i, n);
		i += n;
	}
	str = json_stringn(copy, len);
	free(copy);
	return str;
}

int json_utf8_valid(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		size_t n = u[i] ? utf8_seq_len(u + i, len - i) : 0;
		if (n == 0)
			return 0;
		i += n;
	}
	return 1;
}

json_t *json_row_time(const json_t *row, const char *key)
{
	const char *s = json_string_value(json_object_get(row, key));
	int64_t ms;
	if (!s || clock_parse_rfc3339(s, &ms) != 0)
		return json_null();
	char buf[CLOCK_RFC3339_LEN];
	return json_string(clock_format_rfc3339(ms, buf));
}

json_t *json_load_db(const char *text)
{
	json_error_t jerr;
	if (!text)
		return NULL;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &jerr);
	if (!v)
		v = json_loads(text, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &jerr);
	return v;
}
