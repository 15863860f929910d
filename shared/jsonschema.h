/* JSON Schema (draft 2020-12) validation: compile once (from jansson), validate many times. */
#ifndef ERRAND_JSONSCHEMA_H
#define ERRAND_JSONSCHEMA_H

#include <jansson.h>
#include <stddef.h>

#include "jsondoc.h"

/*
 * What is supported
 * -----------------
 * Keywords: type (integer = a number without a fractional part, so 1.0 is
 * an integer), enum, const (JSON equality: 1 == 1.0, object members in any
 * order), properties, required, additionalProperties, patternProperties,
 * propertyNames, items, prefixItems, contains, minContains, maxContains,
 * minItems, maxItems, uniqueItems, minLength and maxLength (in Unicode code
 * points), pattern, minimum, maximum, exclusiveMinimum, exclusiveMaximum,
 * multipleOf (decimal exactness: 0.0075 is a multiple of 0.0001),
 * minProperties, maxProperties, dependentRequired, dependentSchemas, allOf,
 * anyOf, oneOf, not, if/then/else, $defs, $anchor (and $dynamicAnchor as a
 * plain anchor), $ref, and the boolean schemas true and false.
 *
 * $ref resolves within the document only: "#", "#/json/pointer" (with ~0,
 * ~1 and percent-decoding) and "#anchor"; a root "$id" may prefix them.
 * Annotations and unknown keywords are ignored, as the specification says
 * (format, content*, title, default, examples, $comment, $vocabulary...).
 *
 * Refused at compile time (NULL and a message naming the schema location):
 * a schema that is not an object or a boolean; a keyword of the wrong type
 * or range; nesting deeper than JSONSCHEMA_MAX_DEPTH subschemas (or JSON
 * deeper than JSONSCHEMA_MAX_JSON_DEPTH); more than JSONSCHEMA_MAX_SUBSCHEMAS
 * subschemas; a $ref that does not resolve or leaves the document; a cycle
 * of $ref and in-place applicators (allOf, anyOf, oneOf, not, if, then,
 * else, dependentSchemas) that would recurse without descending into the
 * instance; a schema whose in-place applicators expand to more than
 * JSONSCHEMA_MAX_EXPANSION evaluations of one value; $id below the root,
 * $dynamicRef, unevaluatedProperties and unevaluatedItems (not implemented:
 * refusing them is safer than ignoring them); a pattern outside the subset
 * below.
 *
 * Patterns (ECMA-262 with the "u" flag, the subset JSON Schema needs)
 * -------------------------------------------------------------------
 * Matched by searching (unanchored, as JSON Schema requires) over Unicode
 * code points of the UTF-8 text, without backtracking: a plain string
 * search when the pattern is a string (with ^ or $), else a DFA built at
 * compile time when the pattern allows a small one, else a Thompson NFA
 * simulation. The time is at most proportional to length × pattern size,
 * never exponential, and counts against the validation's step budget.
 *   - literal characters, any code point including non-BMP ones;
 *   - . (any code point except \n \r U+2028 U+2029);
 *   - classes [abc] [a-z] [^...] (and [] [^]), with escapes inside;
 *   - \d \D \w \W \s \S (ASCII digits and word characters; \s is
 *     ECMA-262 white space and line terminators);
 *   - \p{...} and \P{...} for L (Letter), Lu (Uppercase_Letter), Ll
 *     (Lowercase_Letter), N (Number), Nd (Decimal_Number, digit), Any,
 *     ASCII, optionally prefixed by "General_Category=" or "gc=";
 *   - escapes \t \n \v \f \r \0 \cX \xHH \uHHHH (surrogate pairs joined)
 *     \u{H...}, \b inside a class (backspace), and a backslash before any
 *     of ^ $ \ . * + ? ( ) [ ] { } | / (and - inside a class);
 *   - anchors ^ and $ (start and end of the string: no multiline mode),
 *     word boundaries \b and \B;
 *   - groups ( ), (?: ) and (?<name> ) (nothing is captured);
 *   - alternation |;
 *   - quantifiers * + ? {n} {n,} {n,m} and their lazy forms (*? etc.; a
 *     yes/no match does not depend on laziness). n and m are at most
 *     1000, and a pattern expands to at most 2048 instructions (x{2,5}
 *     counts x five times).
 * Refused: backreferences (\1, \k<name>), lookahead and lookbehind,
 * flags, other escapes, lone { } ], a quantifier with nothing to repeat.
 *
 * Limits at validation time: a value is evaluated at most
 * JSONSCHEMA_MAX_EVAL_DEPTH nested evaluations deep, and one validation
 * takes at most JSONSCHEMA_MAX_STEPS steps (a step: a subschema
 * evaluated, an enum value compared, a name looked up, a member or item
 * visited, a pattern's step); beyond either, validation returns -1 with a
 * message.
 *
 * Instances
 * ---------
 * The validator walks instances in the read-only form of jsondoc.h. An
 * instance given as JSON text (jsonschema_validate_text) is parsed by
 * jsondoc's parser, which scans strings in bulk into one arena: the way to
 * validate a text, several times faster than jansson's json_loads() and
 * jsonschema_validate(). It accepts and refuses what jansson does (see
 * jsondoc.h), nesting up to JSONSCHEMA_MAX_INSTANCE_DEPTH (the most
 * ERRAND_MAX_JSON_DEPTH lets a stored output have); its numbers are
 * those of jansson (an integer when it fits int64_t, else a double), so
 * both entry points give the same verdict and message for the same text.
 * (json_load_db() makes every integer of a text a double once one of them
 * is beyond int64_t; the text path keeps the others exact.)
 * An instance given as a jansson tree (jsonschema_validate) is copied into
 * that form first (up to 2048 levels deep, jansson's own parsing limit).
 *
 * Validation allocates only the instance's arena, and for uniqueItems on
 * arrays of more than 16 items (one hash per item). A compiled schema is
 * never modified by validation: several threads may validate with it at
 * once.
 */

#define JSONSCHEMA_MAX_DEPTH 64
#define JSONSCHEMA_MAX_JSON_DEPTH 256
#define JSONSCHEMA_MAX_SUBSCHEMAS 10000
#define JSONSCHEMA_MAX_EXPANSION 100000
#define JSONSCHEMA_MAX_EVAL_DEPTH 512
#define JSONSCHEMA_MAX_INSTANCE_DEPTH 512
#define JSONSCHEMA_MAX_STEPS 20000000UL

typedef struct jsonschema jsonschema;

/*
 * Compiles `schema` (draft 2020-12; `$schema` is not consulted). The
 * result does not borrow from `schema`, which the caller keeps and may
 * free at once. Returns a new compiled schema for jsonschema_free(), or
 * NULL with a message in `err` (when `err` is not NULL and `errlen` > 0;
 * always NUL-terminated and valid UTF-8) for a schema the validator cannot
 * use, e.g. "/properties/a/minLength: expected a non-negative integer".
 */
jsonschema *jsonschema_compile(const json_t *schema, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Validates `instance` against `s`. Returns 0 when it is valid; 1 when it
 * is not, with the first failure in `err`, prefixed by the failing value's
 * JSON Pointer unless it is the root ("/items/2/price: expected integer");
 * -1 when validation could not finish (NULL arguments, too deep, step
 * budget spent, out of memory), with the reason in `err`. `err` may be
 * NULL; a message longer than `errlen` is cut at a character boundary.
 */
int jsonschema_validate(const jsonschema *s, const json_t *instance, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* jsonschema_validate() with a budget of `max_steps` instead of JSONSCHEMA_MAX_STEPS. */
int jsonschema_validate_limited(const jsonschema *s, const json_t *instance,
				unsigned long max_steps, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Validates a value of a jsondoc (jsondoc_parse, jsondoc_import), with a
 * budget of `max_steps`: what the two entry points above and below do once
 * they hold the instance in that form.
 */
int jsonschema_validate_value(const jsonschema *s, const jsonval *instance, unsigned long max_steps,
			      char *err, size_t errlen) __attribute__((warn_unused_result));

/* What jsonschema_validate_text() returns for a text that is not JSON. */
#define JSONSCHEMA_NOT_JSON (-2)

/*
 * Validates the instance that the `len` bytes at `text` (UTF-8 JSON, any
 * value; no NUL needed at the end) hold, as jsonschema_validate() does
 * with the tree json_loadb() would make of it: 0, 1 or -1 as there, with
 * the same messages; JSONSCHEMA_NOT_JSON when the text cannot be parsed
 * (not JSON, nested more than JSONSCHEMA_MAX_JSON_DEPTH levels, or no
 * memory), with the parser's reason in `err`, e.g. "invalid JSON at byte
 * 7: expected ',' or '}'".
 */
int jsonschema_validate_text(const jsonschema *s, const char *text, size_t len, char *err,
			     size_t errlen) __attribute__((warn_unused_result));

/* jsonschema_validate_text() with a budget of `max_steps` instead of JSONSCHEMA_MAX_STEPS. */
int jsonschema_validate_text_limited(const jsonschema *s, const char *text, size_t len,
				     unsigned long max_steps, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Frees a compiled schema; NULL is ignored. */
void jsonschema_free(jsonschema *s);

#endif
