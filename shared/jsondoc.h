/* Read-only JSON documents in one arena: a fast parser for instances given as text. */
#ifndef ERRAND_JSONDOC_H
#define ERRAND_JSONDOC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A jsondoc holds a tree of jsonval, allocated together in an arena and
 * freed together by jsondoc_free(). Nothing in it can be changed; it exists
 * so that a JSON text can be read and walked (validated) without the cost
 * of jansson's parser: strings are scanned eight bytes at a time, the tree
 * takes one allocation for a small document, and strings without escapes
 * are not copied (the tree points into the text).
 *
 * The parser accepts what jansson's json_loadb() accepts with
 * JSON_DECODE_ANY (RFC 8259, any value at the top), and refuses what it
 * refuses:
 *   - invalid UTF-8 anywhere (overlong forms, surrogates, beyond U+10FFFF);
 *   - control characters (below U+0020) inside strings, unknown escapes;
 *   - \u escapes of lone surrogates, or of U+0000 (jansson refuses NUL
 *     unless JSON_ALLOW_NUL is given, and no caller gives it);
 *   - numbers that RFC 8259 does not allow (01, 1., .5, -, 1e) and reals
 *     that overflow a double (1e400; 1e-400 is 0.0 as in jansson);
 *   - anything but white space after the value, an empty text;
 *   - NUL bytes anywhere (json_loadb() drops one that follows a number or
 *     a literal, so "[1\0,2]" is [1,2] to it; json_loads() stops at it).
 * It also refuses nesting deeper than the caller's `max_depth`.
 *
 * Numbers: a number without fraction or exponent that fits in int64_t is
 * an INTEGER (so -0 is the integer 0); any other is a REAL (the nearest
 * double, as strtod gives), so 1.0 is a REAL and 99999999999999999999 is
 * the REAL 1e20. (json_load_db() turns every integer of a document into a
 * real once one of them is beyond int64_t; here only that one is.)
 *
 * Duplicate member names: the last value wins, at the place of the first
 * name, as in jansson without JSON_REJECT_DUPLICATES.
 */

typedef enum jsonval_type {
	JSONVAL_NULL,
	JSONVAL_FALSE,
	JSONVAL_TRUE,
	JSONVAL_INTEGER,
	JSONVAL_REAL,
	JSONVAL_STRING,
	JSONVAL_ARRAY,
	JSONVAL_OBJECT
} jsonval_type;

typedef struct jsonmember jsonmember;

/* One value; `len` counts string bytes, array items or object members. */
typedef struct jsonval {
	uint8_t type;
	uint32_t len;
	union {
		int64_t i;
		double d;
		const char *s; /* not NUL-terminated when it points into the text */
		const struct jsonval *items;
		const jsonmember *members;
	} u;
} jsonval;

/* An object member: the name (any bytes, `keylen` of them) and its value. */
struct jsonmember {
	const char *key;
	uint32_t keylen;
	uint32_t hash; /* of the name; set in objects with an index (see jsonval_get) */
	jsonval value;
};

typedef struct jsondoc jsondoc;

/*
 * Parses `len` bytes of JSON text. Returns a new document for
 * jsondoc_free(), or NULL with a message in `err` (when `err` is not NULL
 * and `errlen` > 0; NUL-terminated, ASCII), e.g. "invalid JSON at byte 12:
 * expected ',' or ']'", "JSON nested more than 256 levels deep" or "out
 * of memory". The document borrows from `text`, which must stay unchanged
 * until jsondoc_free(). Texts of 4 GiB or more are refused.
 */
jsondoc *jsondoc_parse(const char *text, size_t len, int max_depth, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* An empty document, to hold values made by jsondoc_import(). NULL when out of memory. */
jsondoc *jsondoc_new(void) __attribute__((warn_unused_result));

/*
 * Copies the tree of `v` into `doc` and returns it; NULL when it nests
 * deeper than `max_depth`, holds a string of 4 GiB or more, or memory runs
 * out. Strings and member names are borrowed from `v`, which must outlive
 * `doc`.
 */
const jsonval *jsondoc_import(jsondoc *doc, const json_t *v, int max_depth)
	__attribute__((warn_unused_result));

/* The value jsondoc_parse() read. */
const jsonval *jsondoc_root(const jsondoc *doc);

/* Frees a document and every value in it; NULL is ignored. */
void jsondoc_free(jsondoc *doc);

/*
 * The value of the member `key` (`len` bytes) of the object `obj`, or
 * NULL. Objects of more than JSONDOC_INDEX_MIN members carry a hash index,
 * so that a lookup costs the same whatever their size.
 */
const jsonval *jsonval_get(const jsonval *obj, const char *key, size_t len);

#define JSONDOC_INDEX_MIN 16

/* The hash of a member name that jsonval_get() uses. */
uint32_t jsondoc_hash(const char *key, size_t len);

/* Writes the code point `cp` (at most U+10FFFF) as UTF-8 to `out` (4 bytes of room); returns the length. */
size_t jsondoc_utf8_encode(uint32_t cp, char *out);

static inline int jsonval_is_number(const jsonval *v)
{
	return v->type == JSONVAL_INTEGER || v->type == JSONVAL_REAL;
}

static inline const jsonval *jsonval_item(const jsonval *arr, size_t i)
{
	return &arr->u.items[i];
}

#endif
