/* JSON helpers over jansson: bounded parsing and typed field access. */
#ifndef ERRAND_JSON_H
#define ERRAND_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* What went wrong with a field, for a 400 `invalid_request`. */
typedef struct json_error {
	char field[64];
	char message[192];
} json_error;

/*
 * Parses `len` bytes as one JSON value, refusing nesting deeper than
 * `max_depth` before jansson sees the text (so a hostile body cannot cost
 * stack or time). Returns a new reference, or NULL with a short static
 * message in `*err`. Duplicate keys are refused.
 */
json_t *json_parse_bounded(const char *buf, size_t len, int max_depth, const char **err);

/* Nesting depth of the JSON text (brackets outside strings); -1 if unbalanced. */
int json_text_depth(const char *buf, size_t len);

/* Compact serialisation; caller frees with free(). NULL on failure. */
char *json_dump_compact(const json_t *value);

/*
 * Field readers for request bodies. Each returns 0 on success and -1 with
 * `err` filled (naming the field) on a wrong type or a value out of range.
 * A missing or null optional field leaves `*out` untouched and sets
 * `*present` to 0 (when `present` is not NULL). Strings are borrowed from
 * `obj`.
 */
int json_req_string(const json_t *obj, const char *key, size_t max_len, const char **out,
		    json_error *err) __attribute__((warn_unused_result));
int json_opt_string(const json_t *obj, const char *key, size_t max_len, const char **out,
		    int *present, json_error *err) __attribute__((warn_unused_result));
int json_opt_int(const json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out,
		 int *present, json_error *err) __attribute__((warn_unused_result));
int json_opt_bool(const json_t *obj, const char *key, int *out, int *present, json_error *err)
	__attribute__((warn_unused_result));
/* An array of at most `max_items` strings, each at most `max_len` bytes; borrowed. */
int json_opt_string_array(const json_t *obj, const char *key, size_t max_items, size_t max_len,
			  const json_t **out, int *present, json_error *err)
	__attribute__((warn_unused_result));

/* Nonzero when `len` bytes at `s` are valid UTF-8 without NUL (overlong forms refused). */
int json_utf8_valid(const char *s, size_t len);

/*
 * A JSON string of `len` bytes at `s` with every byte that is not valid
 * UTF-8 replaced by '?'. New reference; NULL on allocation failure.
 */
json_t *json_string_lossy(const char *s, size_t len);

/*
 * The timestamp `key` of a row from PostgreSQL's row_to_json, as RFC 3339
 * UTC with milliseconds; JSON null when absent or not a time. New reference.
 */
json_t *json_row_time(const json_t *row, const char *key);

/*
 * Parses JSON that PostgreSQL wrote (any value, not only an object). jsonb
 * writes numbers without an exponent, so a real such as 1e20 comes back as
 * an integer too large for jansson: such a text is parsed again with every
 * integer as a real rather than refused. New reference, or NULL when the
 * text is not JSON.
 */
json_t *json_load_db(const char *text);

#endif
