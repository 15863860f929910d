/* JSON Schema (draft 2020-12) validation over jansson: compile once, validate many times. */
#include "jsonschema.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsondoc.h"

/* Instance kinds, one bit each; TY_INTEGER only appears in the masks of `type`. */
#define T_NULL 0x01
#define T_BOOL 0x02
#define T_NUMBER 0x04
#define T_STRING 0x08
#define T_ARRAY 0x10
#define T_OBJECT 0x20
#define T_ALL 0x3f
#define TY_INTEGER 0x40

#define NODE_NONE UINT32_MAX

/* A jansson instance may nest as deeply as jansson's parser allows (JSON_PARSER_MAX_DEPTH). */
#define INSTANCE_MAX_DEPTH 2048

/* Below this size uniqueItems compares every pair; above, it sorts hashes first. */
#define UNIQUE_PAIRWISE_MAX 16
/* All the patterns of one schema together: instructions plus class ranges. */
#define PATTERNS_MAX_COST 200000
/* Steps spent building the DFAs of one schema's patterns; beyond, patterns keep the NFA. */
#define DFA_MAX_WORK 2000000UL
/* The longest value that a message quotes (const, enum), and the longest message. */
#define MESSAGE_VALUE_MAX 80
#define MESSAGE_MAX 320

#define MSG_NO_MEMORY "out of memory"
#define MSG_NOT_SCHEMA "expected a schema (an object or a boolean)"
#define MSG_COUNT "expected a non-negative integer"
#define MSG_NUMBER "expected a number"
#define MSG_FALSE "not allowed (the schema is false)"

/* ===== Bounded messages ===== */

/* A string builder over a caller's buffer that never overflows it. */
typedef struct sbuf {
	char *p;
	size_t cap; /* bytes available, the NUL included; 0 when there is no buffer */
	size_t len;
	int cut;
} sbuf;

static void sb_init(sbuf *b, char *p, size_t cap)
{
	b->p = p;
	b->cap = p ? cap : 0;
	b->len = 0;
	b->cut = 0;
	if (b->cap)
		b->p[0] = '\0';
}

static void sb_putn(sbuf *b, const char *s, size_t n)
{
	if (!b->cap)
		return;
	size_t room = b->cap - 1 - b->len;
	if (n > room) {
		n = room;
		b->cut = 1;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

static void __attribute__((format(printf, 2, 0))) sb_vprintf(sbuf *b, const char *fmt, va_list ap)
{
	if (!b->cap)
		return;
	size_t room = b->cap - b->len;
	int n = vsnprintf(b->p + b->len, room, fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= room) {
		b->len = b->cap - 1;
		b->cut = 1;
	} else {
		b->len += (size_t)n;
	}
}

static void __attribute__((format(printf, 2, 3))) sb_printf(sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sb_vprintf(b, fmt, ap);
	va_end(ap);
}

/* Appends `n` bytes of a key as a JSON Pointer token (~ as ~0, / as ~1). */
static void sb_pointer_token(sbuf *b, const char *key, size_t n)
{
	size_t from = 0;
	for (size_t i = 0; i < n; i++) {
		if (key[i] != '~' && key[i] != '/')
			continue;
		sb_putn(b, key + from, i - from);
		sb_puts(b, key[i] == '~' ? "~0" : "~1");
		from = i + 1;
	}
	sb_putn(b, key + from, n - from);
}

/* Drops a UTF-8 sequence that truncation left incomplete at the end. */
static void sb_finish(sbuf *b)
{
	if (!b->cap || !b->cut)
		return;
	size_t i = b->len, tail = 0;
	while (i > 0 && tail < 3 && ((unsigned char)b->p[i - 1] & 0xc0) == 0x80) {
		i--;
		tail++;
	}
	if (i == 0)
		return;
	unsigned char lead = (unsigned char)b->p[i - 1];
	size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
	if (need > tail + 1) {
		b->len = i - 1;
		b->p[b->len] = '\0';
	}
}

/* Writes a formatted message to `err` (which may be NULL). */
static void __attribute__((format(printf, 3, 4)))
err_set(char *err, size_t errlen, const char *fmt, ...)
{
	sbuf b;
	sb_init(&b, err, errlen);
	va_list ap;
	va_start(ap, fmt);
	sb_vprintf(&b, fmt, ap);
	va_end(ap);
	sb_finish(&b);
}

/* ===== UTF-8 ===== */

/*
 * Decodes the code point at `s` (`len` > 0 bytes available) into `*cp`;
 * returns its length in bytes. A byte that does not start a valid sequence
 * reads as U+FFFD and advances by one.
 */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	uint32_t c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c < 0xe0 && len >= 2 && (s[1] & 0xc0) == 0x80) {
		*cp = ((c & 0x1f) << 6) | (s[1] & 0x3fu);
		return 2;
	}
	if (c >= 0xe0 && c < 0xf0 && len >= 3 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80) {
		uint32_t v = ((c & 0x0f) << 12) | ((s[1] & 0x3fu) << 6) | (s[2] & 0x3fu);
		if (v >= 0x800) {
			*cp = v;
			return 3;
		}
	}
	if (c >= 0xf0 && c < 0xf5 && len >= 4 && (s[1] & 0xc0) == 0x80 && (s[2] & 0xc0) == 0x80 &&
	    (s[3] & 0xc0) == 0x80) {
		uint32_t v = ((c & 0x07) << 18) | ((s[1] & 0x3fu) << 12) | ((s[2] & 0x3fu) << 6) |
			     (s[3] & 0x3fu);
		if (v >= 0x10000 && v <= 0x10ffff) {
			*cp = v;
			return 4;
		}
	}
	*cp = 0xfffd;
	return 1;
}

/* The number of code points in `len` bytes of UTF-8. */
static size_t utf8_length(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

/* ===== Numbers ===== */

/* A JSON number as jansson holds it: an integer or a double. */
typedef struct js_num {
	int is_int;
	json_int_t i;
	double d;
} js_num;

/* |value| = mant × 10^exp: the shortest decimal form of a number. */
typedef struct decimal {
	uint64_t mant;
	int exp;
} decimal;

__extension__ typedef unsigned __int128 u128;

/* A number of the schema. */
static js_num num_of(const json_t *v)
{
	js_num n;
	n.is_int = json_is_integer(v);
	n.i = n.is_int ? json_integer_value(v) : 0;
	n.d = n.is_int ? (double)n.i : json_real_value(v);
	return n;
}

/* A number of an instance. */
static js_num num_of_val(const jsonval *v)
{
	js_num n;
	n.is_int = v->type == JSONVAL_INTEGER;
	n.i = n.is_int ? (json_int_t)v->u.i : 0;
	n.d = n.is_int ? (double)n.i : v->u.d;
	return n;
}

/* Compares an integer with a double exactly: <0, 0 or >0. */
static int cmp_int_real(json_int_t i, double d)
{
	if (d >= 9223372036854775808.0)
		return -1;
	if (d < -9223372036854775808.0)
		return 1;
	double f = floor(d);
	json_int_t fi = (json_int_t)f;
	if (i != fi)
		return i < fi ? -1 : 1;
	return d > f ? -1 : 0;
}

/* Compares two numbers by value (1 == 1.0): <0, 0 or >0. */
static int num_cmp(const js_num *a, const js_num *b)
{
	if (a->is_int && b->is_int)
		return (a->i > b->i) - (a->i < b->i);
	if (a->is_int)
		return cmp_int_real(a->i, b->d);
	if (b->is_int)
		return -cmp_int_real(b->i, a->d);
	return (a->d > b->d) - (a->d < b->d);
}

/* Nonzero when a number has no fractional part. */
static int num_integral(const jsonval *v)
{
	if (v->type == JSONVAL_INTEGER)
		return 1;
	double d = v->u.d;
	return isfinite(d) && d == floor(d);
}

/* The shortest text that reads back as `n`, into `buf`. */
static void num_format(const js_num *n, char *buf, size_t len)
{
	if (n->is_int) {
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, n->i);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, n->d);
		if (strtod(buf, NULL) == n->d)
			return;
	}
}

static void decimal_trim(decimal *d)
{
	if (d->mant == 0) {
		d->exp = 0;
		return;
	}
	while (d->mant % 10 == 0) {
		d->mant /= 10;
		d->exp++;
	}
}

/* The shortest decimal form of |n| (for a double: the fewest digits that read back as it). */
static decimal decimal_of(const js_num *n)
{
	decimal d = { 0, 0 };
	if (n->is_int) {
		d.mant = n->i < 0 ? (uint64_t)0 - (uint64_t)n->i : (uint64_t)n->i;
		decimal_trim(&d);
		return d;
	}
	double x = fabs(n->d);
	if (!isfinite(x))
		return d;
	char buf[48];
	int prec;
	for (prec = 1; prec < 17; prec++) {
		snprintf(buf, sizeof buf, "%.*e", prec - 1, x);
		if (strtod(buf, NULL) == x)
			break;
	}
	if (prec == 17)
		snprintf(buf, sizeof buf, "%.16e", x);
	const char *p = buf;
	for (; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9')
			d.mant = d.mant * 10 + (uint64_t)(*p - '0');
	d.exp = (*p == 'e' ? atoi(p + 1) : 0) - (prec - 1);
	decimal_trim(&d);
	return d;
}

/* Nonzero when the decimal `x` is an integer multiple of the decimal `m` (m > 0). */
static int decimal_multiple(decimal x, decimal m)
{
	if (x.mant == 0)
		return 1;
	if (m.mant == 0)
		return 0;
	if (x.exp >= m.exp) {
		uint64_t r = x.mant % m.mant;
		for (int k = x.exp - m.exp; k > 0 && r; k--)
			r = (uint64_t)((u128)r * 10 % m.mant);
		return r == 0;
	}
	uint64_t d = m.mant;
	for (int k = m.exp - x.exp; k > 0; k--) {
		if (d > x.mant / 10)
			return 0;
		d *= 10;
	}
	return x.mant % d == 0;
}

/*
 * Nonzero when `x` is a multiple of `m` (> 0, `mdec` its decimal form):
 * exactly for integers, and for other numbers when the double x is an
 * exact multiple of the double m or when their shortest decimal forms are
 * (so 0.0075 is a multiple of 0.0001 although 0.0075 / 0.0001 is
 * 74.99999999999999 in binary).
 */
static int num_multiple(const js_num *x, const js_num *m, const decimal *mdec)
{
	if (x->is_int && m->is_int)
		return x->i % m->i == 0;
	double q = x->d / m->d;
	if (isfinite(q)) {
		double r = nearbyint(q);
		if (q == r && fma(r, m->d, -x->d) == 0)
			return 1;
		if (fabs(q - r) > 1e-9 * fmax(1.0, fabs(q)))
			return 0;
	}
	/*
	 * Near an integer: decide in decimal. When m = b × 10^-k and x × 10^k
	 * stays below 2^53, x is a multiple exactly when x × 10^k rounds to an
	 * integer that reads back as x and that b divides; no text needed.
	 */
	static const double pow10[] = { 1e0,  1e1,  1e2,  1e3,	1e4,  1e5,  1e6,  1e7,
					1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
					1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };
	if (mdec->exp <= 0 && mdec->exp > -(int)(sizeof pow10 / sizeof pow10[0]) &&
	    mdec->mant < (1ULL << 53)) {
		double scale = pow10[-mdec->exp], ax = fabs(x->d), y = ax * scale;
		if (y < 9007199254740992.0) {
			double r = nearbyint(y);
			return r / scale == ax && (uint64_t)r % mdec->mant == 0;
		}
	}
	return decimal_multiple(decimal_of(x), *mdec);
}

/* ===== JSON equality and hashing ===== */

/*
 * JSON equality: numbers by value (1 == 1.0), object members in any order.
 * Returns 1 or 0, or -1 when the values nest deeper than the evaluation
 * limit.
 */
static int json_same(const jsonval *a, const jsonval *b, int depth)
{
	if (depth > JSONSCHEMA_MAX_EVAL_DEPTH)
		return -1;
	if (jsonval_is_number(a) && jsonval_is_number(b)) {
		js_num x = num_of_val(a), y = num_of_val(b);
		return num_cmp(&x, &y) == 0;
	}
	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case JSONVAL_STRING:
		return a->len == b->len && memcmp(a->u.s, b->u.s, a->len) == 0;
	case JSONVAL_ARRAY:
		if (a->len != b->len)
			return 0;
		for (uint32_t i = 0; i < a->len; i++) {
			int r = json_same(&a->u.items[i], &b->u.items[i], depth + 1);
			if (r != 1)
				return r;
		}
		return 1;
	case JSONVAL_OBJECT:
		if (a->len != b->len)
			return 0;
		for (uint32_t i = 0; i < a->len; i++) {
			const jsonmember *m = &a->u.members[i];
			const jsonval *bv = jsonval_get(b, m->key, m->keylen);
			if (!bv)
				return 0;
			int r = json_same(&m->value, bv, depth + 1);
			if (r != 1)
				return r;
		}
		return 1;
	default:
		return 1; /* null, true, false: the type says it all */
	}
}

static uint64_t hash_mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return hash_mix(h ^ n);
}

/*
 * A hash that agrees with json_same(): equal values hash alike. Returns 0,
 * or -1 when the value nests deeper than the evaluation limit.
 */
static int json_hash(const jsonval *v, int depth, uint64_t *out)
{
	if (depth > JSONSCHEMA_MAX_EVAL_DEPTH)
		return -1;
	uint64_t h = (uint64_t)v->type * 0x9e3779b97f4a7c15ULL;
	switch (v->type) {
	case JSONVAL_INTEGER:
		h = hash_mix((uint64_t)v->u.i ^ 0x51);
		break;
	case JSONVAL_REAL: {
		double d = v->u.d;
		if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
			h = hash_mix((uint64_t)(json_int_t)d ^ 0x51);
		} else {
			uint64_t bits;
			memcpy(&bits, &d, sizeof bits);
			h = hash_mix(bits);
		}
		break;
	}
	case JSONVAL_STRING:
		h ^= hash_bytes(v->u.s, v->len);
		break;
	case JSONVAL_ARRAY:
		for (uint32_t i = 0; i < v->len; i++) {
			uint64_t c;
			if (json_hash(&v->u.items[i], depth + 1, &c) < 0)
				return -1;
			h = hash_mix(h * 31 + c);
		}
		break;
	case JSONVAL_OBJECT: {
		uint64_t sum = 0;
		for (uint32_t i = 0; i < v->len; i++) {
			const jsonmember *m = &v->u.members[i];
			uint64_t c;
			if (json_hash(&m->value, depth + 1, &c) < 0)
				return -1;
			sum += hash_mix(hash_bytes(m->key, m->keylen) ^
					(c * 0x9e3779b97f4a7c15ULL));
		}
		h ^= hash_mix(sum);
		break;
	}
	default:
		break;
	}
	*out = h;
	return 0;
}

/* The nesting of containers in `v` (a scalar is 0), stopping once beyond the limit. */
static int json_depth(const json_t *v, int depth)
{
	int level = depth + (json_is_array(v) || json_is_object(v));
	int max = level;
	if (level > JSONSCHEMA_MAX_JSON_DEPTH)
		return level;
	if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v) && max <= JSONSCHEMA_MAX_JSON_DEPTH;
		     i++) {
			int d = json_depth(json_array_get(v, i), level);
			if (d > max)
				max = d;
		}
	} else if (json_is_object(v)) {
		for (void *it = json_object_iter((json_t *)v);
		     it && max <= JSONSCHEMA_MAX_JSON_DEPTH;
		     it = json_object_iter_next((json_t *)v, it)) {
			int d = json_depth(json_object_iter_value(it), level);
			if (d > max)
				max = d;
		}
	}
	return max;
}

/* ===== Unicode properties for \p{...} =====
 * General categories from the Unicode Character Database 14.0, as pairs of
 * inclusive code point bounds, sorted. Generated with Python's unicodedata:
 * the code points whose category starts with L (letter), is Lu, is Ll,
 * starts with N (number), is Nd.
 */
/* clang-format off */
static const uint32_t uc_letter[] = {
	0x41, 0x5a, 0x61, 0x7a, 0xaa, 0xaa, 0xb5, 0xb5, 0xba, 0xba, 0xc0, 0xd6, 0xd8, 0xf6,
	0xf8, 0x2c1, 0x2c6, 0x2d1, 0x2e0, 0x2e4, 0x2ec, 0x2ec, 0x2ee, 0x2ee, 0x370, 0x374,
	0x376, 0x377, 0x37a, 0x37d, 0x37f, 0x37f, 0x386, 0x386, 0x388, 0x38a, 0x38c, 0x38c,
	0x38e, 0x3a1, 0x3a3, 0x3f5, 0x3f7, 0x481, 0x48a, 0x52f, 0x531, 0x556, 0x559, 0x559,
	0x560, 0x588, 0x5d0, 0x5ea, 0x5ef, 0x5f2, 0x620, 0x64a, 0x66e, 0x66f, 0x671, 0x6d3,
	0x6d5, 0x6d5, 0x6e5, 0x6e6, 0x6ee, 0x6ef, 0x6fa, 0x6fc, 0x6ff, 0x6ff, 0x710, 0x710,
	0x712, 0x72f, 0x74d, 0x7a5, 0x7b1, 0x7b1, 0x7ca, 0x7ea, 0x7f4, 0x7f5, 0x7fa, 0x7fa,
	0x800, 0x815, 0x81a, 0x81a, 0x824, 0x824, 0x828, 0x828, 0x840, 0x858, 0x860, 0x86a,
	0x870, 0x887, 0x889, 0x88e, 0x8a0, 0x8c9, 0x904, 0x939, 0x93d, 0x93d, 0x950, 0x950,
	0x958, 0x961, 0x971, 0x980, 0x985, 0x98c, 0x98f, 0x990, 0x993, 0x9a8, 0x9aa, 0x9b0,
	0x9b2, 0x9b2, 0x9b6, 0x9b9, 0x9bd, 0x9bd, 0x9ce, 0x9ce, 0x9dc, 0x9dd, 0x9df, 0x9e1,
	0x9f0, 0x9f1, 0x9fc, 0x9fc, 0xa05, 0xa0a, 0xa0f, 0xa10, 0xa13, 0xa28, 0xa2a, 0xa30,
	0xa32, 0xa33, 0xa35, 0xa36, 0xa38, 0xa39, 0xa59, 0xa5c, 0xa5e, 0xa5e, 0xa72, 0xa74,
	0xa85, 0xa8d, 0xa8f, 0xa91, 0xa93, 0xaa8, 0xaaa, 0xab0, 0xab2, 0xab3, 0xab5, 0xab9,
	0xabd, 0xabd, 0xad0, 0xad0, 0xae0, 0xae1, 0xaf9, 0xaf9, 0xb05, 0xb0c, 0xb0f, 0xb10,
	0xb13, 0xb28, 0xb2a, 0xb30, 0xb32, 0xb33, 0xb35, 0xb39, 0xb3d, 0xb3d, 0xb5c, 0xb5d,
	0xb5f, 0xb61, 0xb71, 0xb71, 0xb83, 0xb83, 0xb85, 0xb8a, 0xb8e, 0xb90, 0xb92, 0xb95,
	0xb99, 0xb9a, 0xb9c, 0xb9c, 0xb9e, 0xb9f, 0xba3, 0xba4, 0xba8, 0xbaa, 0xbae, 0xbb9,
	0xbd0, 0xbd0, 0xc05, 0xc0c, 0xc0e, 0xc10, 0xc12, 0xc28, 0xc2a, 0xc39, 0xc3d, 0xc3d,
	0xc58, 0xc5a, 0xc5d, 0xc5d, 0xc60, 0xc61, 0xc80, 0xc80, 0xc85, 0xc8c, 0xc8e, 0xc90,
	0xc92, 0xca8, 0xcaa, 0xcb3, 0xcb5, 0xcb9, 0xcbd, 0xcbd, 0xcdd, 0xcde, 0xce0, 0xce1,
	0xcf1, 0xcf2, 0xd04, 0xd0c, 0xd0e, 0xd10, 0xd12, 0xd3a, 0xd3d, 0xd3d, 0xd4e, 0xd4e,
	0xd54, 0xd56, 0xd5f, 0xd61, 0xd7a, 0xd7f, 0xd85, 0xd96, 0xd9a, 0xdb1, 0xdb3, 0xdbb,
	0xdbd, 0xdbd, 0xdc0, 0xdc6, 0xe01, 0xe30, 0xe32, 0xe33, 0xe40, 0xe46, 0xe81, 0xe82,
	0xe84, 0xe84, 0xe86, 0xe8a, 0xe8c, 0xea3, 0xea5, 0xea5, 0xea7, 0xeb0, 0xeb2, 0xeb3,
	0xebd, 0xebd, 0xec0, 0xec4, 0xec6, 0xec6, 0xedc, 0xedf, 0xf00, 0xf00, 0xf40, 0xf47,
	0xf49, 0xf6c, 0xf88, 0xf8c, 0x1000, 0x102a, 0x103f, 0x103f, 0x1050, 0x1055, 0x105a, 0x105d,
	0x1061, 0x1061, 0x1065, 0x1066, 0x106e, 0x1070, 0x1075, 0x1081, 0x108e, 0x108e,
	0x10a0, 0x10c5, 0x10c7, 0x10c7, 0x10cd, 0x10cd, 0x10d0, 0x10fa, 0x10fc, 0x1248,
	0x124a, 0x124d, 0x1250, 0x1256, 0x1258, 0x1258, 0x125a, 0x125d, 0x1260, 0x1288,
	0x128a, 0x128d, 0x1290, 0x12b0, 0x12b2, 0x12b5, 0x12b8, 0x12be, 0x12c0, 0x12c0,
	0x12c2, 0x12c5, 0x12c8, 0x12d6, 0x12d8, 0x1310, 0x1312, 0x1315, 0x1318, 0x135a,
	0x1380, 0x138f, 0x13a0, 0x13f5, 0x13f8, 0x13fd, 0x1401, 0x166c, 0x166f, 0x167f,
	0x1681, 0x169a, 0x16a0, 0x16ea, 0x16f1, 0x16f8, 0x1700, 0x1711, 0x171f, 0x1731,
	0x1740, 0x1751, 0x1760, 0x176c, 0x176e, 0x1770, 0x1780, 0x17b3, 0x17d7, 0x17d7,
	0x17dc, 0x17dc, 0x1820, 0x1878, 0x1880, 0x1884, 0x1887, 0x18a8, 0x18aa, 0x18aa,
	0x18b0, 0x18f5, 0x1900, 0x191e, 0x1950, 0x196d, 0x1970, 0x1974, 0x1980, 0x19ab,
	0x19b0, 0x19c9, 0x1a00, 0x1a16, 0x1a20, 0x1a54, 0x1aa7, 0x1aa7, 0x1b05, 0x1b33,
	0x1b45, 0x1b4c, 0x1b83, 0x1ba0, 0x1bae, 0x1baf, 0x1bba, 0x1be5, 0x1c00, 0x1c23,
	0x1c4d, 0x1c4f, 0x1c5a, 0x1c7d, 0x1c80, 0x1c88, 0x1c90, 0x1cba, 0x1cbd, 0x1cbf,
	0x1ce9, 0x1cec, 0x1cee, 0x1cf3, 0x1cf5, 0x1cf6, 0x1cfa, 0x1cfa, 0x1d00, 0x1dbf,
	0x1e00, 0x1f15, 0x1f18, 0x1f1d, 0x1f20, 0x1f45, 0x1f48, 0x1f4d, 0x1f50, 0x1f57,
	0x1f59, 0x1f59, 0x1f5b, 0x1f5b, 0x1f5d, 0x1f5d, 0x1f5f, 0x1f7d, 0x1f80, 0x1fb4,
	0x1fb6, 0x1fbc, 0x1fbe, 0x1fbe, 0x1fc2, 0x1fc4, 0x1fc6, 0x1fcc, 0x1fd0, 0x1fd3,
	0x1fd6, 0x1fdb, 0x1fe0, 0x1fec, 0x1ff2, 0x1ff4, 0x1ff6, 0x1ffc, 0x2071, 0x2071,
	0x207f, 0x207f, 0x2090, 0x209c, 0x2102, 0x2102, 0x2107, 0x2107, 0x210a, 0x2113,
	0x2115, 0x2115, 0x2119, 0x211d, 0x2124, 0x2124, 0x2126, 0x2126, 0x2128, 0x2128,
	0x212a, 0x212d, 0x212f, 0x2139, 0x213c, 0x213f, 0x2145, 0x2149, 0x214e, 0x214e,
	0x2183, 0x2184, 0x2c00, 0x2ce4, 0x2ceb, 0x2cee, 0x2cf2, 0x2cf3, 0x2d00, 0x2d25,
	0x2d27, 0x2d27, 0x2d2d, 0x2d2d, 0x2d30, 0x2d67, 0x2d6f, 0x2d6f, 0x2d80, 0x2d96,
	0x2da0, 0x2da6, 0x2da8, 0x2dae, 0x2db0, 0x2db6, 0x2db8, 0x2dbe, 0x2dc0, 0x2dc6,
	0x2dc8, 0x2dce, 0x2dd0, 0x2dd6, 0x2dd8, 0x2dde, 0x2e2f, 0x2e2f, 0x3005, 0x3006,
	0x3031, 0x3035, 0x303b, 0x303c, 0x3041, 0x3096, 0x309d, 0x309f, 0x30a1, 0x30fa,
	0x30fc, 0x30ff, 0x3105, 0x312f, 0x3131, 0x318e, 0x31a0, 0x31bf, 0x31f0, 0x31ff,
	0x3400, 0x4dbf, 0x4e00, 0xa48c, 0xa4d0, 0xa4fd, 0xa500, 0xa60c, 0xa610, 0xa61f,
	0xa62a, 0xa62b, 0xa640, 0xa66e, 0xa67f, 0xa69d, 0xa6a0, 0xa6e5, 0xa717, 0xa71f,
	0xa722, 0xa788, 0xa78b, 0xa7ca, 0xa7d0, 0xa7d1, 0xa7d3, 0xa7d3, 0xa7d5, 0xa7d9,
	0xa7f2, 0xa801, 0xa803, 0xa805, 0xa807, 0xa80a, 0xa80c, 0xa822, 0xa840, 0xa873,
	0xa882, 0xa8b3, 0xa8f2, 0xa8f7, 0xa8fb, 0xa8fb, 0xa8fd, 0xa8fe, 0xa90a, 0xa925,
	0xa930, 0xa946, 0xa960, 0xa97c, 0xa984, 0xa9b2, 0xa9cf, 0xa9cf, 0xa9e0, 0xa9e4,
	0xa9e6, 0xa9ef, 0xa9fa, 0xa9fe, 0xaa00, 0xaa28, 0xaa40, 0xaa42, 0xaa44, 0xaa4b,
	0xaa60, 0xaa76, 0xaa7a, 0xaa7a, 0xaa7e, 0xaaaf, 0xaab1, 0xaab1, 0xaab5, 0xaab6,
	0xaab9, 0xaabd, 0xaac0, 0xaac0, 0xaac2, 0xaac2, 0xaadb, 0xaadd, 0xaae0, 0xaaea,
	0xaaf2, 0xaaf4, 0xab01, 0xab06, 0xab09, 0xab0e, 0xab11, 0xab16, 0xab20, 0xab26,
	0xab28, 0xab2e, 0xab30, 0xab5a, 0xab5c, 0xab69, 0xab70, 0xabe2, 0xac00, 0xd7a3,
	0xd7b0, 0xd7c6, 0xd7cb, 0xd7fb, 0xf900, 0xfa6d, 0xfa70, 0xfad9, 0xfb00, 0xfb06,
	0xfb13, 0xfb17, 0xfb1d, 0xfb1d, 0xfb1f, 0xfb28, 0xfb2a, 0xfb36, 0xfb38, 0xfb3c,
	0xfb3e, 0xfb3e, 0xfb40, 0xfb41, 0xfb43, 0xfb44, 0xfb46, 0xfbb1, 0xfbd3, 0xfd3d,
	0xfd50, 0xfd8f, 0xfd92, 0xfdc7, 0xfdf0, 0xfdfb, 0xfe70, 0xfe74, 0xfe76, 0xfefc,
	0xff21, 0xff3a, 0xff41, 0xff5a, 0xff66, 0xffbe, 0xffc2, 0xffc7, 0xffca, 0xffcf,
	0xffd2, 0xffd7, 0xffda, 0xffdc, 0x10000, 0x1000b, 0x1000d, 0x10026, 0x10028, 0x1003a,
	0x1003c, 0x1003d, 0x1003f, 0x1004d, 0x10050, 0x1005d, 0x10080, 0x100fa, 0x10280, 0x1029c,
	0x102a0, 0x102d0, 0x10300, 0x1031f, 0x1032d, 0x10340, 0x10342, 0x10349, 0x10350, 0x10375,
	0x10380, 0x1039d, 0x103a0, 0x103c3, 0x103c8, 0x103cf, 0x10400, 0x1049d, 0x104b0, 0x104d3,
	0x104d8, 0x104fb, 0x10500, 0x10527, 0x10530, 0x10563, 0x10570, 0x1057a, 0x1057c, 0x1058a,
	0x1058c, 0x10592, 0x10594, 0x10595, 0x10597, 0x105a1, 0x105a3, 0x105b1, 0x105b3, 0x105b9,
	0x105bb, 0x105bc, 0x10600, 0x10736, 0x10740, 0x10755, 0x10760, 0x10767, 0x10780, 0x10785,
	0x10787, 0x107b0, 0x107b2, 0x107ba, 0x10800, 0x10805, 0x10808, 0x10808, 0x1080a, 0x10835,
	0x10837, 0x10838, 0x1083c, 0x1083c, 0x1083f, 0x10855, 0x10860, 0x10876, 0x10880, 0x1089e,
	0x108e0, 0x108f2, 0x108f4, 0x108f5, 0x10900, 0x10915, 0x10920, 0x10939, 0x10980, 0x109b7,
	0x109be, 0x109bf, 0x10a00, 0x10a00, 0x10a10, 0x10a13, 0x10a15, 0x10a17, 0x10a19, 0x10a35,
	0x10a60, 0x10a7c, 0x10a80, 0x10a9c, 0x10ac0, 0x10ac7, 0x10ac9, 0x10ae4, 0x10b00, 0x10b35,
	0x10b40, 0x10b55, 0x10b60, 0x10b72, 0x10b80, 0x10b91, 0x10c00, 0x10c48, 0x10c80, 0x10cb2,
	0x10cc0, 0x10cf2, 0x10d00, 0x10d23, 0x10e80, 0x10ea9, 0x10eb0, 0x10eb1, 0x10f00, 0x10f1c,
	0x10f27, 0x10f27, 0x10f30, 0x10f45, 0x10f70, 0x10f81, 0x10fb0, 0x10fc4, 0x10fe0, 0x10ff6,
	0x11003, 0x11037, 0x11071, 0x11072, 0x11075, 0x11075, 0x11083, 0x110af, 0x110d0, 0x110e8,
	0x11103, 0x11126, 0x11144, 0x11144, 0x11147, 0x11147, 0x11150, 0x11172, 0x11176, 0x11176,
	0x11183, 0x111b2, 0x111c1, 0x111c4, 0x111da, 0x111da, 0x111dc, 0x111dc, 0x11200, 0x11211,
	0x11213, 0x1122b, 0x11280, 0x11286, 0x11288, 0x11288, 0x1128a, 0x1128d, 0x1128f, 0x1129d,
	0x1129f, 0x112a8, 0x112b0, 0x112de, 0x11305, 0x1130c, 0x1130f, 0x11310, 0x11313, 0x11328,
	0x1132a, 0x11330, 0x11332, 0x11333, 0x11335, 0x11339, 0x1133d, 0x1133d, 0x11350, 0x11350,
	0x1135d, 0x11361, 0x11400, 0x11434, 0x11447, 0x1144a, 0x1145f, 0x11461, 0x11480, 0x114af,
	0x114c4, 0x114c5, 0x114c7, 0x114c7, 0x11580, 0x115ae, 0x115d8, 0x115db, 0x11600, 0x1162f,
	0x11644, 0x11644, 0x11680, 0x116aa, 0x116b8, 0x116b8, 0x11700, 0x1171a, 0x11740, 0x11746,
	0x11800, 0x1182b, 0x118a0, 0x118df, 0x118ff, 0x11906, 0x11909, 0x11909, 0x1190c, 0x11913,
	0x11915, 0x11916, 0x11918, 0x1192f, 0x1193f, 0x1193f, 0x11941, 0x11941, 0x119a0, 0x119a7,
	0x119aa, 0x119d0, 0x119e1, 0x119e1, 0x119e3, 0x119e3, 0x11a00, 0x11a00, 0x11a0b, 0x11a32,
	0x11a3a, 0x11a3a, 0x11a50, 0x11a50, 0x11a5c, 0x11a89, 0x11a9d, 0x11a9d, 0x11ab0, 0x11af8,
	0x11c00, 0x11c08, 0x11c0a, 0x11c2e, 0x11c40, 0x11c40, 0x11c72, 0x11c8f, 0x11d00, 0x11d06,
	0x11d08, 0x11d09, 0x11d0b, 0x11d30, 0x11d46, 0x11d46, 0x11d60, 0x11d65, 0x11d67, 0x11d68,
	0x11d6a, 0x11d89, 0x11d98, 0x11d98, 0x11ee0, 0x11ef2, 0x11fb0, 0x11fb0, 0x12000, 0x12399,
	0x12480, 0x12543, 0x12f90, 0x12ff0, 0x13000, 0x1342e, 0x14400, 0x14646, 0x16800, 0x16a38,
	0x16a40, 0x16a5e, 0x16a70, 0x16abe, 0x16ad0, 0x16aed, 0x16b00, 0x16b2f, 0x16b40, 0x16b43,
	0x16b63, 0x16b77, 0x16b7d, 0x16b8f, 0x16e40, 0x16e7f, 0x16f00, 0x16f4a, 0x16f50, 0x16f50,
	0x16f93, 0x16f9f, 0x16fe0, 0x16fe1, 0x16fe3, 0x16fe3, 0x17000, 0x187f7, 0x18800, 0x18cd5,
	0x18d00, 0x18d08, 0x1aff0, 0x1aff3, 0x1aff5, 0x1affb, 0x1affd, 0x1affe, 0x1b000, 0x1b122,
	0x1b150, 0x1b152, 0x1b164, 0x1b167, 0x1b170, 0x1b2fb, 0x1bc00, 0x1bc6a, 0x1bc70, 0x1bc7c,
	0x1bc80, 0x1bc88, 0x1bc90, 0x1bc99, 0x1d400, 0x1d454, 0x1d456, 0x1d49c, 0x1d49e, 0x1d49f,
	0x1d4a2, 0x1d4a2, 0x1d4a5, 0x1d4a6, 0x1d4a9, 0x1d4ac, 0x1d4ae, 0x1d4b9, 0x1d4bb, 0x1d4bb,
	0x1d4bd, 0x1d4c3, 0x1d4c5, 0x1d505, 0x1d507, 0x1d50a, 0x1d50d, 0x1d514, 0x1d516, 0x1d51c,
	0x1d51e, 0x1d539, 0x1d53b, 0x1d53e, 0x1d540, 0x1d544, 0x1d546, 0x1d546, 0x1d54a, 0x1d550,
	0x1d552, 0x1d6a5, 0x1d6a8, 0x1d6c0, 0x1d6c2, 0x1d6da, 0x1d6dc, 0x1d6fa, 0x1d6fc, 0x1d714,
	0x1d716, 0x1d734, 0x1d736, 0x1d74e, 0x1d750, 0x1d76e, 0x1d770, 0x1d788, 0x1d78a, 0x1d7a8,
	0x1d7aa, 0x1d7c2, 0x1d7c4, 0x1d7cb, 0x1df00, 0x1df1e, 0x1e100, 0x1e12c, 0x1e137, 0x1e13d,
	0x1e14e, 0x1e14e, 0x1e290, 0x1e2ad, 0x1e2c0, 0x1e2eb, 0x1e7e0, 0x1e7e6, 0x1e7e8, 0x1e7eb,
	0x1e7ed, 0x1e7ee, 0x1e7f0, 0x1e7fe, 0x1e800, 0x1e8c4, 0x1e900, 0x1e943, 0x1e94b, 0x1e94b,
	0x1ee00, 0x1ee03, 0x1ee05, 0x1ee1f, 0x1ee21, 0x1ee22, 0x1ee24, 0x1ee24, 0x1ee27, 0x1ee27,
	0x1ee29, 0x1ee32, 0x1ee34, 0x1ee37, 0x1ee39, 0x1ee39, 0x1ee3b, 0x1ee3b, 0x1ee42, 0x1ee42,
	0x1ee47, 0x1ee47, 0x1ee49, 0x1ee49, 0x1ee4b, 0x1ee4b, 0x1ee4d, 0x1ee4f, 0x1ee51, 0x1ee52,
	0x1ee54, 0x1ee54, 0x1ee57, 0x1ee57, 0x1ee59, 0x1ee59, 0x1ee5b, 0x1ee5b, 0x1ee5d, 0x1ee5d,
	0x1ee5f, 0x1ee5f, 0x1ee61, 0x1ee62, 0x1ee64, 0x1ee64, 0x1ee67, 0x1ee6a, 0x1ee6c, 0x1ee72,
	0x1ee74, 0x1ee77, 0x1ee79, 0x1ee7c, 0x1ee7e, 0x1ee7e, 0x1ee80, 0x1ee89, 0x1ee8b, 0x1ee9b,
	0x1eea1, 0x1eea3, 0x1eea5, 0x1eea9, 0x1eeab, 0x1eebb, 0x20000, 0x2a6df, 0x2a700, 0x2b738,
	0x2b740, 0x2b81d, 0x2b820, 0x2cea1, 0x2ceb0, 0x2ebe0, 0x2f800, 0x2fa1d, 0x30000, 0x3134a,
};
static const uint32_t uc_uppercase[] = {
	0x41, 0x5a, 0xc0, 0xd6, 0xd8, 0xde, 0x100, 0x100, 0x102, 0x102, 0x104, 0x104, 0x106, 0x106,
	0x108, 0x108, 0x10a, 0x10a, 0x10c, 0x10c, 0x10e, 0x10e, 0x110, 0x110, 0x112, 0x112,
	0x114, 0x114, 0x116, 0x116, 0x118, 0x118, 0x11a, 0x11a, 0x11c, 0x11c, 0x11e, 0x11e,
	0x120, 0x120, 0x122, 0x122, 0x124, 0x124, 0x126, 0x126, 0x128, 0x128, 0x12a, 0x12a,
	0x12c, 0x12c, 0x12e, 0x12e, 0x130, 0x130, 0x132, 0x132, 0x134, 0x134, 0x136, 0x136,
	0x139, 0x139, 0x13b, 0x13b, 0x13d, 0x13d, 0x13f, 0x13f, 0x141, 0x141, 0x143, 0x143,
	0x145, 0x145, 0x147, 0x147, 0x14a, 0x14a, 0x14c, 0x14c, 0x14e, 0x14e, 0x150, 0x150,
	0x152, 0x152, 0x154, 0x154, 0x156, 0x156, 0x158, 0x158, 0x15a, 0x15a, 0x15c, 0x15c,
	0x15e, 0x15e, 0x160, 0x160, 0x162, 0x162, 0x164, 0x164, 0x166, 0x166, 0x168, 0x168,
	0x16a, 0x16a, 0x16c, 0x16c, 0x16e, 0x16e, 0x170, 0x170, 0x172, 0x172, 0x174, 0x174,
	0x176, 0x176, 0x178, 0x179, 0x17b, 0x17b, 0x17d, 0x17d, 0x181, 0x182, 0x184, 0x184,
	0x186, 0x187, 0x189, 0x18b, 0x18e, 0x191, 0x193, 0x194, 0x196, 0x198, 0x19c, 0x19d,
	0x19f, 0x1a0, 0x1a2, 0x1a2, 0x1a4, 0x1a4, 0x1a6, 0x1a7, 0x1a9, 0x1a9, 0x1ac, 0x1ac,
	0x1ae, 0x1af, 0x1b1, 0x1b3, 0x1b5, 0x1b5, 0x1b7, 0x1b8, 0x1bc, 0x1bc, 0x1c4, 0x1c4,
	0x1c7, 0x1c7, 0x1ca, 0x1ca, 0x1cd, 0x1cd, 0x1cf, 0x1cf, 0x1d1, 0x1d1, 0x1d3, 0x1d3,
	0x1d5, 0x1d5, 0x1d7, 0x1d7, 0x1d9, 0x1d9, 0x1db, 0x1db, 0x1de, 0x1de, 0x1e0, 0x1e0,
	0x1e2, 0x1e2, 0x1e4, 0x1e4, 0x1e6, 0x1e6, 0x1e8, 0x1e8, 0x1ea, 0x1ea, 0x1ec, 0x1ec,
	0x1ee, 0x1ee, 0x1f1, 0x1f1, 0x1f4, 0x1f4, 0x1f6, 0x1f8, 0x1fa, 0x1fa, 0x1fc, 0x1fc,
	0x1fe, 0x1fe, 0x200, 0x200, 0x202, 0x202, 0x204, 0x204, 0x206, 0x206, 0x208, 0x208,
	0x20a, 0x20a, 0x20c, 0x20c, 0x20e, 0x20e, 0x210, 0x210, 0x212, 0x212, 0x214, 0x214,
	0x216, 0x216, 0x218, 0x218, 0x21a, 0x21a, 0x21c, 0x21c, 0x21e, 0x21e, 0x220, 0x220,
	0x222, 0x222, 0x224, 0x224, 0x226, 0x226, 0x228, 0x228, 0x22a, 0x22a, 0x22c, 0x22c,
	0x22e, 0x22e, 0x230, 0x230, 0x232, 0x232, 0x23a, 0x23b, 0x23d, 0x23e, 0x241, 0x241,
	0x243, 0x246, 0x248, 0x248, 0x24a, 0x24a, 0x24c, 0x24c, 0x24e, 0x24e, 0x370, 0x370,
	0x372, 0x372, 0x376, 0x376, 0x37f, 0x37f, 0x386, 0x386, 0x388, 0x38a, 0x38c, 0x38c,
	0x38e, 0x38f, 0x391, 0x3a1, 0x3a3, 0x3ab, 0x3cf, 0x3cf, 0x3d2, 0x3d4, 0x3d8, 0x3d8,
	0x3da, 0x3da, 0x3dc, 0x3dc, 0x3de, 0x3de, 0x3e0, 0x3e0, 0x3e2, 0x3e2, 0x3e4, 0x3e4,
	0x3e6, 0x3e6, 0x3e8, 0x3e8, 0x3ea, 0x3ea, 0x3ec, 0x3ec, 0x3ee, 0x3ee, 0x3f4, 0x3f4,
	0x3f7, 0x3f7, 0x3f9, 0x3fa, 0x3fd, 0x42f, 0x460, 0x460, 0x462, 0x462, 0x464, 0x464,
	0x466, 0x466, 0x468, 0x468, 0x46a, 0x46a, 0x46c, 0x46c, 0x46e, 0x46e, 0x470, 0x470,
	0x472, 0x472, 0x474, 0x474, 0x476, 0x476, 0x478, 0x478, 0x47a, 0x47a, 0x47c, 0x47c,
	0x47e, 0x47e, 0x480, 0x480, 0x48a, 0x48a, 0x48c, 0x48c, 0x48e, 0x48e, 0x490, 0x490,
	0x492, 0x492, 0x494, 0x494, 0x496, 0x496, 0x498, 0x498, 0x49a, 0x49a, 0x49c, 0x49c,
	0x49e, 0x49e, 0x4a0, 0x4a0, 0x4a2, 0x4a2, 0x4a4, 0x4a4, 0x4a6, 0x4a6, 0x4a8, 0x4a8,
	0x4aa, 0x4aa, 0x4ac, 0x4ac, 0x4ae, 0x4ae, 0x4b0, 0x4b0, 0x4b2, 0x4b2, 0x4b4, 0x4b4,
	0x4b6, 0x4b6, 0x4b8, 0x4b8, 0x4ba, 0x4ba, 0x4bc, 0x4bc, 0x4be, 0x4be, 0x4c0, 0x4c1,
	0x4c3, 0x4c3, 0x4c5, 0x4c5, 0x4c7, 0x4c7, 0x4c9, 0x4c9, 0x4cb, 0x4cb, 0x4cd, 0x4cd,
	0x4d0, 0x4d0, 0x4d2, 0x4d2, 0x4d4, 0x4d4, 0x4d6, 0x4d6, 0x4d8, 0x4d8, 0x4da, 0x4da,
	0x4dc, 0x4dc, 0x4de, 0x4de, 0x4e0, 0x4e0, 0x4e2, 0x4e2, 0x4e4, 0x4e4, 0x4e6, 0x4e6,
	0x4e8, 0x4e8, 0x4ea, 0x4ea, 0x4ec, 0x4ec, 0x4ee, 0x4ee, 0x4f0, 0x4f0, 0x4f2, 0x4f2,
	0x4f4, 0x4f4, 0x4f6, 0x4f6, 0x4f8, 0x4f8, 0x4fa, 0x4fa, 0x4fc, 0x4fc, 0x4fe, 0x4fe,
	0x500, 0x500, 0x502, 0x502, 0x504, 0x504, 0x506, 0x506, 0x508, 0x508, 0x50a, 0x50a,
	0x50c, 0x50c, 0x50e, 0x50e, 0x510, 0x510, 0x512, 0x512, 0x514, 0x514, 0x516, 0x516,
	0x518, 0x518, 0x51a, 0x51a, 0x51c, 0x51c, 0x51e, 0x51e, 0x520, 0x520, 0x522, 0x522,
	0x524, 0x524, 0x526, 0x526, 0x528, 0x528, 0x52a, 0x52a, 0x52c, 0x52c, 0x52e, 0x52e,
	0x531, 0x556, 0x10a0, 0x10c5, 0x10c7, 0x10c7, 0x10cd, 0x10cd, 0x13a0, 0x13f5,
	0x1c90, 0x1cba, 0x1cbd, 0x1cbf, 0x1e00, 0x1e00, 0x1e02, 0x1e02, 0x1e04, 0x1e04,
	0x1e06, 0x1e06, 0x1e08, 0x1e08, 0x1e0a, 0x1e0a, 0x1e0c, 0x1e0c, 0x1e0e, 0x1e0e,
	0x1e10, 0x1e10, 0x1e12, 0x1e12, 0x1e14, 0x1e14, 0x1e16, 0x1e16, 0x1e18, 0x1e18,
	0x1e1a, 0x1e1a, 0x1e1c, 0x1e1c, 0x1e1e, 0x1e1e, 0x1e20, 0x1e20, 0x1e22, 0x1e22,
	0x1e24, 0x1e24, 0x1e26, 0x1e26, 0x1e28, 0x1e28, 0x1e2a, 0x1e2a, 0x1e2c, 0x1e2c,
	0x1e2e, 0x1e2e, 0x1e30, 0x1e30, 0x1e32, 0x1e32, 0x1e34, 0x1e34, 0x1e36, 0x1e36,
	0x1e38, 0x1e38, 0x1e3a, 0x1e3a, 0x1e3c, 0x1e3c, 0x1e3e, 0x1e3e, 0x1e40, 0x1e40,
	0x1e42, 0x1e42, 0x1e44, 0x1e44, 0x1e46, 0x1e46, 0x1e48, 0x1e48, 0x1e4a, 0x1e4a,
	0x1e4c, 0x1e4c, 0x1e4e, 0x1e4e, 0x1e50, 0x1e50, 0x1e52, 0x1e52, 0x1e54, 0x1e54,
	0x1e56, 0x1e56, 0x1e58, 0x1e58, 0x1e5a, 0x1e5a, 0x1e5c, 0x1e5c, 0x1e5e, 0x1e5e,
	0x1e60, 0x1e60, 0x1e62, 0x1e62, 0x1e64, 0x1e64, 0x1e66, 0x1e66, 0x1e68, 0x1e68,
	0x1e6a, 0x1e6a, 0x1e6c, 0x1e6c, 0x1e6e, 0x1e6e, 0x1e70, 0x1e70, 0x1e72, 0x1e72,
	0x1e74, 0x1e74, 0x1e76, 0x1e76, 0x1e78, 0x1e78, 0x1e7a, 0x1e7a, 0x1e7c, 0x1e7c,
	0x1e7e, 0x1e7e, 0x1e80, 0x1e80, 0x1e82, 0x1e82, 0x1e84, 0x1e84, 0x1e86, 0x1e86,
	0x1e88, 0x1e88, 0x1e8a, 0x1e8a, 0x1e8c, 0x1e8c, 0x1e8e, 0x1e8e, 0x1e90, 0x1e90,
	0x1e92, 0x1e92, 0x1e94, 0x1e94, 0x1e9e, 0x1e9e, 0x1ea0, 0x1ea0, 0x1ea2, 0x1ea2,
	0x1ea4, 0x1ea4, 0x1ea6, 0x1ea6, 0x1ea8, 0x1ea8, 0x1eaa, 0x1eaa, 0x1eac, 0x1eac,
	0x1eae, 0x1eae, 0x1eb0, 0x1eb0, 0x1eb2, 0x1eb2, 0x1eb4, 0x1eb4, 0x1eb6, 0x1eb6,
	0x1eb8, 0x1eb8, 0x1eba, 0x1eba, 0x1ebc, 0x1ebc, 0x1ebe, 0x1ebe, 0x1ec0, 0x1ec0,
	0x1ec2, 0x1ec2, 0x1ec4, 0x1ec4, 0x1ec6, 0x1ec6, 0x1ec8, 0x1ec8, 0x1eca, 0x1eca,
	0x1ecc, 0x1ecc, 0x1ece, 0x1ece, 0x1ed0, 0x1ed0, 0x1ed2, 0x1ed2, 0x1ed4, 0x1ed4,
	0x1ed6, 0x1ed6, 0x1ed8, 0x1ed8, 0x1eda, 0x1eda, 0x1edc, 0x1edc, 0x1ede, 0x1ede,
	0x1ee0, 0x1ee0, 0x1ee2, 0x1ee2, 0x1ee4, 0x1ee4, 0x1ee6, 0x1ee6, 0x1ee8, 0x1ee8,
	0x1eea, 0x1eea, 0x1eec, 0x1eec, 0x1eee, 0x1eee, 0x1ef0, 0x1ef0, 0x1ef2, 0x1ef2,
	0x1ef4, 0x1ef4, 0x1ef6, 0x1ef6, 0x1ef8, 0x1ef8, 0x1efa, 0x1efa, 0x1efc, 0x1efc,
	0x1efe, 0x1efe, 0x1f08, 0x1f0f, 0x1f18, 0x1f1d, 0x1f28, 0x1f2f, 0x1f38, 0x1f3f,
	0x1f48, 0x1f4d, 0x1f59, 0x1f59, 0x1f5b, 0x1f5b, 0x1f5d, 0x1f5d, 0x1f5f, 0x1f5f,
	0x1f68, 0x1f6f, 0x1fb8, 0x1fbb, 0x1fc8, 0x1fcb, 0x1fd8, 0x1fdb, 0x1fe8, 0x1fec,
	0x1ff8, 0x1ffb, 0x2102, 0x2102, 0x2107, 0x2107, 0x210b, 0x210d, 0x2110, 0x2112,
	0x2115, 0x2115, 0x2119, 0x211d, 0x2124, 0x2124, 0x2126, 0x2126, 0x2128, 0x2128,
	0x212a, 0x212d, 0x2130, 0x2133, 0x213e, 0x213f, 0x2145, 0x2145, 0x2183, 0x2183,
	0x2c00, 0x2c2f, 0x2c60, 0x2c60, 0x2c62, 0x2c64, 0x2c67, 0x2c67, 0x2c69, 0x2c69,
	0x2c6b, 0x2c6b, 0x2c6d, 0x2c70, 0x2c72, 0x2c72, 0x2c75, 0x2c75, 0x2c7e, 0x2c80,
	0x2c82, 0x2c82, 0x2c84, 0x2c84, 0x2c86, 0x2c86, 0x2c88, 0x2c88, 0x2c8a, 0x2c8a,
	0x2c8c, 0x2c8c, 0x2c8e, 0x2c8e, 0x2c90, 0x2c90, 0x2c92, 0x2c92, 0x2c94, 0x2c94,
	0x2c96, 0x2c96, 0x2c98, 0x2c98, 0x2c9a, 0x2c9a, 0x2c9c, 0x2c9c, 0x2c9e, 0x2c9e,
	0x2ca0, 0x2ca0, 0x2ca2, 0x2ca2, 0x2ca4, 0x2ca4, 0x2ca6, 0x2ca6, 0x2ca8, 0x2ca8,
	0x2caa, 0x2caa, 0x2cac, 0x2cac, 0x2cae, 0x2cae, 0x2cb0, 0x2cb0, 0x2cb2, 0x2cb2,
	0x2cb4, 0x2cb4, 0x2cb6, 0x2cb6, 0x2cb8, 0x2cb8, 0x2cba, 0x2cba, 0x2cbc, 0x2cbc,
	0x2cbe, 0x2cbe, 0x2cc0, 0x2cc0, 0x2cc2, 0x2cc2, 0x2cc4, 0x2cc4, 0x2cc6, 0x2cc6,
	0x2cc8, 0x2cc8, 0x2cca, 0x2cca, 0x2ccc, 0x2ccc, 0x2cce, 0x2cce, 0x2cd0, 0x2cd0,
	0x2cd2, 0x2cd2, 0x2cd4, 0x2cd4, 0x2cd6, 0x2cd6, 0x2cd8, 0x2cd8, 0x2cda, 0x2cda,
	0x2cdc, 0x2cdc, 0x2cde, 0x2cde, 0x2ce0, 0x2ce0, 0x2ce2, 0x2ce2, 0x2ceb, 0x2ceb,
	0x2ced, 0x2ced, 0x2cf2, 0x2cf2, 0xa640, 0xa640, 0xa642, 0xa642, 0xa644, 0xa644,
	0xa646, 0xa646, 0xa648, 0xa648, 0xa64a, 0xa64a, 0xa64c, 0xa64c, 0xa64e, 0xa64e,
	0xa650, 0xa650, 0xa652, 0xa652, 0xa654, 0xa654, 0xa656, 0xa656, 0xa658, 0xa658,
	0xa65a, 0xa65a, 0xa65c, 0xa65c, 0xa65e, 0xa65e, 0xa660, 0xa660, 0xa662, 0xa662,
	0xa664, 0xa664, 0xa666, 0xa666, 0xa668, 0xa668, 0xa66a, 0xa66a, 0xa66c, 0xa66c,
	0xa680, 0xa680, 0xa682, 0xa682, 0xa684, 0xa684, 0xa686, 0xa686, 0xa688, 0xa688,
	0xa68a, 0xa68a, 0xa68c, 0xa68c, 0xa68e, 0xa68e, 0xa690, 0xa690, 0xa692, 0xa692,
	0xa694, 0xa694, 0xa696, 0xa696, 0xa698, 0xa698, 0xa69a, 0xa69a, 0xa722, 0xa722,
	0xa724, 0xa724, 0xa726, 0xa726, 0xa728, 0xa728, 0xa72a, 0xa72a, 0xa72c, 0xa72c,
	0xa72e, 0xa72e, 0xa732, 0xa732, 0xa734, 0xa734, 0xa736, 0xa736, 0xa738, 0xa738,
	0xa73a, 0xa73a, 0xa73c, 0xa73c, 0xa73e, 0xa73e, 0xa740, 0xa740, 0xa742, 0xa742,
	0xa744, 0xa744, 0xa746, 0xa746, 0xa748, 0xa748, 0xa74a, 0xa74a, 0xa74c, 0xa74c,
	0xa74e, 0xa74e, 0xa750, 0xa750, 0xa752, 0xa752, 0xa754, 0xa754, 0xa756, 0xa756,
	0xa758, 0xa758, 0xa75a, 0xa75a, 0xa75c, 0xa75c, 0xa75e, 0xa75e, 0xa760, 0xa760,
	0xa762, 0xa762, 0xa764, 0xa764, 0xa766, 0xa766, 0xa768, 0xa768, 0xa76a, 0xa76a,
	0xa76c, 0xa76c, 0xa76e, 0xa76e, 0xa779, 0xa779, 0xa77b, 0xa77b, 0xa77d, 0xa77e,
	0xa780, 0xa780, 0xa782, 0xa782, 0xa784, 0xa784, 0xa786, 0xa786, 0xa78b, 0xa78b,
	0xa78d, 0xa78d, 0xa790, 0xa790, 0xa792, 0xa792, 0xa796, 0xa796, 0xa798, 0xa798,
	0xa79a, 0xa79a, 0xa79c, 0xa79c, 0xa79e, 0xa79e, 0xa7a0, 0xa7a0, 0xa7a2, 0xa7a2,
	0xa7a4, 0xa7a4, 0xa7a6, 0xa7a6, 0xa7a8, 0xa7a8, 0xa7aa, 0xa7ae, 0xa7b0, 0xa7b4,
	0xa7b6, 0xa7b6, 0xa7b8, 0xa7b8, 0xa7ba, 0xa7ba, 0xa7bc, 0xa7bc, 0xa7be, 0xa7be,
	0xa7c0, 0xa7c0, 0xa7c2, 0xa7c2, 0xa7c4, 0xa7c7, 0xa7c9, 0xa7c9, 0xa7d0, 0xa7d0,
	0xa7d6, 0xa7d6, 0xa7d8, 0xa7d8, 0xa7f5, 0xa7f5, 0xff21, 0xff3a, 0x10400, 0x10427,
	0x104b0, 0x104d3, 0x10570, 0x1057a, 0x1057c, 0x1058a, 0x1058c, 0x10592, 0x10594, 0x10595,
	0x10c80, 0x10cb2, 0x118a0, 0x118bf, 0x16e40, 0x16e5f, 0x1d400, 0x1d419, 0x1d434, 0x1d44d,
	0x1d468, 0x1d481, 0x1d49c, 0x1d49c, 0x1d49e, 0x1d49f, 0x1d4a2, 0x1d4a2, 0x1d4a5, 0x1d4a6,
	0x1d4a9, 0x1d4ac, 0x1d4ae, 0x1d4b5, 0x1d4d0, 0x1d4e9, 0x1d504, 0x1d505, 0x1d507, 0x1d50a,
	0x1d50d, 0x1d514, 0x1d516, 0x1d51c, 0x1d538, 0x1d539, 0x1d53b, 0x1d53e, 0x1d540, 0x1d544,
	0x1d546, 0x1d546, 0x1d54a, 0x1d550, 0x1d56c, 0x1d585, 0x1d5a0, 0x1d5b9, 0x1d5d4, 0x1d5ed,
	0x1d608, 0x1d621, 0x1d63c, 0x1d655, 0x1d670, 0x1d689, 0x1d6a8, 0x1d6c0, 0x1d6e2, 0x1d6fa,
	0x1d71c, 0x1d734, 0x1d756, 0x1d76e, 0x1d790, 0x1d7a8, 0x1d7ca, 0x1d7ca, 0x1e900, 0x1e921,
};
static const uint32_t uc_lowercase[] = {
	0x61, 0x7a, 0xb5, 0xb5, 0xdf, 0xf6, 0xf8, 0xff, 0x101, 0x101, 0x103, 0x103, 0x105, 0x105,
	0x107, 0x107, 0x109, 0x109, 0x10b, 0x10b, 0x10d, 0x10d, 0x10f, 0x10f, 0x111, 0x111,
	0x113, 0x113, 0x115, 0x115, 0x117, 0x117, 0x119, 0x119, 0x11b, 0x11b, 0x11d, 0x11d,
	0x11f, 0x11f, 0x121, 0x121, 0x123, 0x123, 0x125, 0x125, 0x127, 0x127, 0x129, 0x129,
	0x12b, 0x12b, 0x12d, 0x12d, 0x12f, 0x12f, 0x131, 0x131, 0x133, 0x133, 0x135, 0x135,
	0x137, 0x138, 0x13a, 0x13a, 0x13c, 0x13c, 0x13e, 0x13e, 0x140, 0x140, 0x142, 0x142,
	0x144, 0x144, 0x146, 0x146, 0x148, 0x149, 0x14b, 0x14b, 0x14d, 0x14d, 0x14f, 0x14f,
	0x151, 0x151, 0x153, 0x153, 0x155, 0x155, 0x157, 0x157, 0x159, 0x159, 0x15b, 0x15b,
	0x15d, 0x15d, 0x15f, 0x15f, 0x161, 0x161, 0x163, 0x163, 0x165, 0x165, 0x167, 0x167,
	0x169, 0x169, 0x16b, 0x16b, 0x16d, 0x16d, 0x16f, 0x16f, 0x171, 0x171, 0x173, 0x173,
	0x175, 0x175, 0x177, 0x177, 0x17a, 0x17a, 0x17c, 0x17c, 0x17e, 0x180, 0x183, 0x183,
	0x185, 0x185, 0x188, 0x188, 0x18c, 0x18d, 0x192, 0x192, 0x195, 0x195, 0x199, 0x19b,
	0x19e, 0x19e, 0x1a1, 0x1a1, 0x1a3, 0x1a3, 0x1a5, 0x1a5, 0x1a8, 0x1a8, 0x1aa, 0x1ab,
	0x1ad, 0x1ad, 0x1b0, 0x1b0, 0x1b4, 0x1b4, 0x1b6, 0x1b6, 0x1b9, 0x1ba, 0x1bd, 0x1bf,
	0x1c6, 0x1c6, 0x1c9, 0x1c9, 0x1cc, 0x1cc, 0x1ce, 0x1ce, 0x1d0, 0x1d0, 0x1d2, 0x1d2,
	0x1d4, 0x1d4, 0x1d6, 0x1d6, 0x1d8, 0x1d8, 0x1da, 0x1da, 0x1dc, 0x1dd, 0x1df, 0x1df,
	0x1e1, 0x1e1, 0x1e3, 0x1e3, 0x1e5, 0x1e5, 0x1e7, 0x1e7, 0x1e9, 0x1e9, 0x1eb, 0x1eb,
	0x1ed, 0x1ed, 0x1ef, 0x1f0, 0x1f3, 0x1f3, 0x1f5, 0x1f5, 0x1f9, 0x1f9, 0x1fb, 0x1fb,
	0x1fd, 0x1fd, 0x1ff, 0x1ff, 0x201, 0x201, 0x203, 0x203, 0x205, 0x205, 0x207, 0x207,
	0x209, 0x209, 0x20b, 0x20b, 0x20d, 0x20d, 0x20f, 0x20f, 0x211, 0x211, 0x213, 0x213,
	0x215, 0x215, 0x217, 0x217, 0x219, 0x219, 0x21b, 0x21b, 0x21d, 0x21d, 0x21f, 0x21f,
	0x221, 0x221, 0x223, 0x223, 0x225, 0x225, 0x227, 0x227, 0x229, 0x229, 0x22b, 0x22b,
	0x22d, 0x22d, 0x22f, 0x22f, 0x231, 0x231, 0x233, 0x239, 0x23c, 0x23c, 0x23f, 0x240,
	0x242, 0x242, 0x247, 0x247, 0x249, 0x249, 0x24b, 0x24b, 0x24d, 0x24d, 0x24f, 0x293,
	0x295, 0x2af, 0x371, 0x371, 0x373, 0x373, 0x377, 0x377, 0x37b, 0x37d, 0x390, 0x390,
	0x3ac, 0x3ce, 0x3d0, 0x3d1, 0x3d5, 0x3d7, 0x3d9, 0x3d9, 0x3db, 0x3db, 0x3dd, 0x3dd,
	0x3df, 0x3df, 0x3e1, 0x3e1, 0x3e3, 0x3e3, 0x3e5, 0x3e5, 0x3e7, 0x3e7, 0x3e9, 0x3e9,
	0x3eb, 0x3eb, 0x3ed, 0x3ed, 0x3ef, 0x3f3, 0x3f5, 0x3f5, 0x3f8, 0x3f8, 0x3fb, 0x3fc,
	0x430, 0x45f, 0x461, 0x461, 0x463, 0x463, 0x465, 0x465, 0x467, 0x467, 0x469, 0x469,
	0x46b, 0x46b, 0x46d, 0x46d, 0x46f, 0x46f, 0x471, 0x471, 0x473, 0x473, 0x475, 0x475,
	0x477, 0x477, 0x479, 0x479, 0x47b, 0x47b, 0x47d, 0x47d, 0x47f, 0x47f, 0x481, 0x481,
	0x48b, 0x48b, 0x48d, 0x48d, 0x48f, 0x48f, 0x491, 0x491, 0x493, 0x493, 0x495, 0x495,
	0x497, 0x497, 0x499, 0x499, 0x49b, 0x49b, 0x49d, 0x49d, 0x49f, 0x49f, 0x4a1, 0x4a1,
	0x4a3, 0x4a3, 0x4a5, 0x4a5, 0x4a7, 0x4a7, 0x4a9, 0x4a9, 0x4ab, 0x4ab, 0x4ad, 0x4ad,
	0x4af, 0x4af, 0x4b1, 0x4b1, 0x4b3, 0x4b3, 0x4b5, 0x4b5, 0x4b7, 0x4b7, 0x4b9, 0x4b9,
	0x4bb, 0x4bb, 0x4bd, 0x4bd, 0x4bf, 0x4bf, 0x4c2, 0x4c2, 0x4c4, 0x4c4, 0x4c6, 0x4c6,
	0x4c8, 0x4c8, 0x4ca, 0x4ca, 0x4cc, 0x4cc, 0x4ce, 0x4cf, 0x4d1, 0x4d1, 0x4d3, 0x4d3,
	0x4d5, 0x4d5, 0x4d7, 0x4d7, 0x4d9, 0x4d9, 0x4db, 0x4db, 0x4dd, 0x4dd, 0x4df, 0x4df,
	0x4e1, 0x4e1, 0x4e3, 0x4e3, 0x4e5, 0x4e5, 0x4e7, 0x4e7, 0x4e9, 0x4e9, 0x4eb, 0x4eb,
	0x4ed, 0x4ed, 0x4ef, 0x4ef, 0x4f1, 0x4f1, 0x4f3, 0x4f3, 0x4f5, 0x4f5, 0x4f7, 0x4f7,
	0x4f9, 0x4f9, 0x4fb, 0x4fb, 0x4fd, 0x4fd, 0x4ff, 0x4ff, 0x501, 0x501, 0x503, 0x503,
	0x505, 0x505, 0x507, 0x507, 0x509, 0x509, 0x50b, 0x50b, 0x50d, 0x50d, 0x50f, 0x50f,
	0x511, 0x511, 0x513, 0x513, 0x515, 0x515, 0x517, 0x517, 0x519, 0x519, 0x51b, 0x51b,
	0x51d, 0x51d, 0x51f, 0x51f, 0x521, 0x521, 0x523, 0x523, 0x525, 0x525, 0x527, 0x527,
	0x529, 0x529, 0x52b, 0x52b, 0x52d, 0x52d, 0x52f, 0x52f, 0x560, 0x588, 0x10d0, 0x10fa,
	0x10fd, 0x10ff, 0x13f8, 0x13fd, 0x1c80, 0x1c88, 0x1d00, 0x1d2b, 0x1d6b, 0x1d77,
	0x1d79, 0x1d9a, 0x1e01, 0x1e01, 0x1e03, 0x1e03, 0x1e05, 0x1e05, 0x1e07, 0x1e07,
	0x1e09, 0x1e09, 0x1e0b, 0x1e0b, 0x1e0d, 0x1e0d, 0x1e0f, 0x1e0f, 0x1e11, 0x1e11,
	0x1e13, 0x1e13, 0x1e15, 0x1e15, 0x1e17, 0x1e17, 0x1e19, 0x1e19, 0x1e1b, 0x1e1b,
	0x1e1d, 0x1e1d, 0x1e1f, 0x1e1f, 0x1e21, 0x1e21, 0x1e23, 0x1e23, 0x1e25, 0x1e25,
	0x1e27, 0x1e27, 0x1e29, 0x1e29, 0x1e2b, 0x1e2b, 0x1e2d, 0x1e2d, 0x1e2f, 0x1e2f,
	0x1e31, 0x1e31, 0x1e33, 0x1e33, 0x1e35, 0x1e35, 0x1e37, 0x1e37, 0x1e39, 0x1e39,
	0x1e3b, 0x1e3b, 0x1e3d, 0x1e3d, 0x1e3f, 0x1e3f, 0x1e41, 0x1e41, 0x1e43, 0x1e43,
	0x1e45, 0x1e45, 0x1e47, 0x1e47, 0x1e49, 0x1e49, 0x1e4b, 0x1e4b, 0x1e4d, 0x1e4d,
	0x1e4f, 0x1e4f, 0x1e51, 0x1e51, 0x1e53, 0x1e53, 0x1e55, 0x1e55, 0x1e57, 0x1e57,
	0x1e59, 0x1e59, 0x1e5b, 0x1e5b, 0x1e5d, 0x1e5d, 0x1e5f, 0x1e5f, 0x1e61, 0x1e61,
	0x1e63, 0x1e63, 0x1e65, 0x1e65, 0x1e67, 0x1e67, 0x1e69, 0x1e69, 0x1e6b, 0x1e6b,
	0x1e6d, 0x1e6d, 0x1e6f, 0x1e6f, 0x1e71, 0x1e71, 0x1e73, 0x1e73, 0x1e75, 0x1e75,
	0x1e77, 0x1e77, 0x1e79, 0x1e79, 0x1e7b, 0x1e7b, 0x1e7d, 0x1e7d, 0x1e7f, 0x1e7f,
	0x1e81, 0x1e81, 0x1e83, 0x1e83, 0x1e85, 0x1e85, 0x1e87, 0x1e87, 0x1e89, 0x1e89,
	0x1e8b, 0x1e8b, 0x1e8d, 0x1e8d, 0x1e8f, 0x1e8f, 0x1e91, 0x1e91, 0x1e93, 0x1e93,
	0x1e95, 0x1e9d, 0x1e9f, 0x1e9f, 0x1ea1, 0x1ea1, 0x1ea3, 0x1ea3, 0x1ea5, 0x1ea5,
	0x1ea7, 0x1ea7, 0x1ea9, 0x1ea9, 0x1eab, 0x1eab, 0x1ead, 0x1ead, 0x1eaf, 0x1eaf,
	0x1eb1, 0x1eb1, 0x1eb3, 0x1eb3, 0x1eb5, 0x1eb5, 0x1eb7, 0x1eb7, 0x1eb9, 0x1eb9,
	0x1ebb, 0x1ebb, 0x1ebd, 0x1ebd, 0x1ebf, 0x1ebf, 0x1ec1, 0x1ec1, 0x1ec3, 0x1ec3,
	0x1ec5, 0x1ec5, 0x1ec7, 0x1ec7, 0x1ec9, 0x1ec9, 0x1ecb, 0x1ecb, 0x1ecd, 0x1ecd,
	0x1ecf, 0x1ecf, 0x1ed1, 0x1ed1, 0x1ed3, 0x1ed3, 0x1ed5, 0x1ed5, 0x1ed7, 0x1ed7,
	0x1ed9, 0x1ed9, 0x1edb, 0x1edb, 0x1edd, 0x1edd, 0x1edf, 0x1edf, 0x1ee1, 0x1ee1,
	0x1ee3, 0x1ee3, 0x1ee5, 0x1ee5, 0x1ee7, 0x1ee7, 0x1ee9, 0x1ee9, 0x1eeb, 0x1eeb,
	0x1eed, 0x1eed, 0x1eef, 0x1eef, 0x1ef1, 0x1ef1, 0x1ef3, 0x1ef3, 0x1ef5, 0x1ef5,
	0x1ef7, 0x1ef7, 0x1ef9, 0x1ef9, 0x1efb, 0x1efb, 0x1efd, 0x1efd, 0x1eff, 0x1f07,
	0x1f10, 0x1f15, 0x1f20, 0x1f27, 0x1f30, 0x1f37, 0x1f40, 0x1f45, 0x1f50, 0x1f57,
	0x1f60, 0x1f67, 0x1f70, 0x1f7d, 0x1f80, 0x1f87, 0x1f90, 0x1f97, 0x1fa0, 0x1fa7,
	0x1fb0, 0x1fb4, 0x1fb6, 0x1fb7, 0x1fbe, 0x1fbe, 0x1fc2, 0x1fc4, 0x1fc6, 0x1fc7,
	0x1fd0, 0x1fd3, 0x1fd6, 0x1fd7, 0x1fe0, 0x1fe7, 0x1ff2, 0x1ff4, 0x1ff6, 0x1ff7,
	0x210a, 0x210a, 0x210e, 0x210f, 0x2113, 0x2113, 0x212f, 0x212f, 0x2134, 0x2134,
	0x2139, 0x2139, 0x213c, 0x213d, 0x2146, 0x2149, 0x214e, 0x214e, 0x2184, 0x2184,
	0x2c30, 0x2c5f, 0x2c61, 0x2c61, 0x2c65, 0x2c66, 0x2c68, 0x2c68, 0x2c6a, 0x2c6a,
	0x2c6c, 0x2c6c, 0x2c71, 0x2c71, 0x2c73, 0x2c74, 0x2c76, 0x2c7b, 0x2c81, 0x2c81,
	0x2c83, 0x2c83, 0x2c85, 0x2c85, 0x2c87, 0x2c87, 0x2c89, 0x2c89, 0x2c8b, 0x2c8b,
	0x2c8d, 0x2c8d, 0x2c8f, 0x2c8f, 0x2c91, 0x2c91, 0x2c93, 0x2c93, 0x2c95, 0x2c95,
	0x2c97, 0x2c97, 0x2c99, 0x2c99, 0x2c9b, 0x2c9b, 0x2c9d, 0x2c9d, 0x2c9f, 0x2c9f,
	0x2ca1, 0x2ca1, 0x2ca3, 0x2ca3, 0x2ca5, 0x2ca5, 0x2ca7, 0x2ca7, 0x2ca9, 0x2ca9,
	0x2cab, 0x2cab, 0x2cad, 0x2cad, 0x2caf, 0x2caf, 0x2cb1, 0x2cb1, 0x2cb3, 0x2cb3,
	0x2cb5, 0x2cb5, 0x2cb7, 0x2cb7, 0x2cb9, 0x2cb9, 0x2cbb, 0x2cbb, 0x2cbd, 0x2cbd,
	0x2cbf, 0x2cbf, 0x2cc1, 0x2cc1, 0x2cc3, 0x2cc3, 0x2cc5, 0x2cc5, 0x2cc7, 0x2cc7,
	0x2cc9, 0x2cc9, 0x2ccb, 0x2ccb, 0x2ccd, 0x2ccd, 0x2ccf, 0x2ccf, 0x2cd1, 0x2cd1,
	0x2cd3, 0x2cd3, 0x2cd5, 0x2cd5, 0x2cd7, 0x2cd7, 0x2cd9, 0x2cd9, 0x2cdb, 0x2cdb,
	0x2cdd, 0x2cdd, 0x2cdf, 0x2cdf, 0x2ce1, 0x2ce1, 0x2ce3, 0x2ce4, 0x2cec, 0x2cec,
	0x2cee, 0x2cee, 0x2cf3, 0x2cf3, 0x2d00, 0x2d25, 0x2d27, 0x2d27, 0x2d2d, 0x2d2d,
	0xa641, 0xa641, 0xa643, 0xa643, 0xa645, 0xa645, 0xa647, 0xa647, 0xa649, 0xa649,
	0xa64b, 0xa64b, 0xa64d, 0xa64d, 0xa64f, 0xa64f, 0xa651, 0xa651, 0xa653, 0xa653,
	0xa655, 0xa655, 0xa657, 0xa657, 0xa659, 0xa659, 0xa65b, 0xa65b, 0xa65d, 0xa65d,
	0xa65f, 0xa65f, 0xa661, 0xa661, 0xa663, 0xa663, 0xa665, 0xa665, 0xa667, 0xa667,
	0xa669, 0xa669, 0xa66b, 0xa66b, 0xa66d, 0xa66d, 0xa681, 0xa681, 0xa683, 0xa683,
	0xa685, 0xa685, 0xa687, 0xa687, 0xa689, 0xa689, 0xa68b, 0xa68b, 0xa68d, 0xa68d,
	0xa68f, 0xa68f, 0xa691, 0xa691, 0xa693, 0xa693, 0xa695, 0xa695, 0xa697, 0xa697,
	0xa699, 0xa699, 0xa69b, 0xa69b, 0xa723, 0xa723, 0xa725, 0xa725, 0xa727, 0xa727,
	0xa729, 0xa729, 0xa72b, 0xa72b, 0xa72d, 0xa72d, 0xa72f, 0xa731, 0xa733, 0xa733,
	0xa735, 0xa735, 0xa737, 0xa737, 0xa739, 0xa739, 0xa73b, 0xa73b, 0xa73d, 0xa73d,
	0xa73f, 0xa73f, 0xa741, 0xa741, 0xa743, 0xa743, 0xa745, 0xa745, 0xa747, 0xa747,
	0xa749, 0xa749, 0xa74b, 0xa74b, 0xa74d, 0xa74d, 0xa74f, 0xa74f, 0xa751, 0xa751,
	0xa753, 0xa753, 0xa755, 0xa755, 0xa757, 0xa757, 0xa759, 0xa759, 0xa75b, 0xa75b,
	0xa75d, 0xa75d, 0xa75f, 0xa75f, 0xa761, 0xa761, 0xa763, 0xa763, 0xa765, 0xa765,
	0xa767, 0xa767, 0xa769, 0xa769, 0xa76b, 0xa76b, 0xa76d, 0xa76d, 0xa76f, 0xa76f,
	0xa771, 0xa778, 0xa77a, 0xa77a, 0xa77c, 0xa77c, 0xa77f, 0xa77f, 0xa781, 0xa781,
	0xa783, 0xa783, 0xa785, 0xa785, 0xa787, 0xa787, 0xa78c, 0xa78c, 0xa78e, 0xa78e,
	0xa791, 0xa791, 0xa793, 0xa795, 0xa797, 0xa797, 0xa799, 0xa799, 0xa79b, 0xa79b,
	0xa79d, 0xa79d, 0xa79f, 0xa79f, 0xa7a1, 0xa7a1, 0xa7a3, 0xa7a3, 0xa7a5, 0xa7a5,
	0xa7a7, 0xa7a7, 0xa7a9, 0xa7a9, 0xa7af, 0xa7af, 0xa7b5, 0xa7b5, 0xa7b7, 0xa7b7,
	0xa7b9, 0xa7b9, 0xa7bb, 0xa7bb, 0xa7bd, 0xa7bd, 0xa7bf, 0xa7bf, 0xa7c1, 0xa7c1,
	0xa7c3, 0xa7c3, 0xa7c8, 0xa7c8, 0xa7ca, 0xa7ca, 0xa7d1, 0xa7d1, 0xa7d3, 0xa7d3,
	0xa7d5, 0xa7d5, 0xa7d7, 0xa7d7, 0xa7d9, 0xa7d9, 0xa7f6, 0xa7f6, 0xa7fa, 0xa7fa,
	0xab30, 0xab5a, 0xab60, 0xab68, 0xab70, 0xabbf, 0xfb00, 0xfb06, 0xfb13, 0xfb17,
	0xff41, 0xff5a, 0x10428, 0x1044f, 0x104d8, 0x104fb, 0x10597, 0x105a1, 0x105a3, 0x105b1,
	0x105b3, 0x105b9, 0x105bb, 0x105bc, 0x10cc0, 0x10cf2, 0x118c0, 0x118df, 0x16e60, 0x16e7f,
	0x1d41a, 0x1d433, 0x1d44e, 0x1d454, 0x1d456, 0x1d467, 0x1d482, 0x1d49b, 0x1d4b6, 0x1d4b9,
	0x1d4bb, 0x1d4bb, 0x1d4bd, 0x1d4c3, 0x1d4c5, 0x1d4cf, 0x1d4ea, 0x1d503, 0x1d51e, 0x1d537,
	0x1d552, 0x1d56b, 0x1d586, 0x1d59f, 0x1d5ba, 0x1d5d3, 0x1d5ee, 0x1d607, 0x1d622, 0x1d63b,
	0x1d656, 0x1d66f, 0x1d68a, 0x1d6a5, 0x1d6c2, 0x1d6da, 0x1d6dc, 0x1d6e1, 0x1d6fc, 0x1d714,
	0x1d716, 0x1d71b, 0x1d736, 0x1d74e, 0x1d750, 0x1d755, 0x1d770, 0x1d788, 0x1d78a, 0x1d78f,
	0x1d7aa, 0x1d7c2, 0x1d7c4, 0x1d7c9, 0x1d7cb, 0x1d7cb, 0x1df00, 0x1df09, 0x1df0b, 0x1df1e,
	0x1e922, 0x1e943,
};
static const uint32_t uc_number[] = {
	0x30, 0x39, 0xb2, 0xb3, 0xb9, 0xb9, 0xbc, 0xbe, 0x660, 0x669, 0x6f0, 0x6f9, 0x7c0, 0x7c9,
	0x966, 0x96f, 0x9e6, 0x9ef, 0x9f4, 0x9f9, 0xa66, 0xa6f, 0xae6, 0xaef, 0xb66, 0xb6f,
	0xb72, 0xb77, 0xbe6, 0xbf2, 0xc66, 0xc6f, 0xc78, 0xc7e, 0xce6, 0xcef, 0xd58, 0xd5e,
	0xd66, 0xd78, 0xde6, 0xdef, 0xe50, 0xe59, 0xed0, 0xed9, 0xf20, 0xf33, 0x1040, 0x1049,
	0x1090, 0x1099, 0x1369, 0x137c, 0x16ee, 0x16f0, 0x17e0, 0x17e9, 0x17f0, 0x17f9,
	0x1810, 0x1819, 0x1946, 0x194f, 0x19d0, 0x19da, 0x1a80, 0x1a89, 0x1a90, 0x1a99,
	0x1b50, 0x1b59, 0x1bb0, 0x1bb9, 0x1c40, 0x1c49, 0x1c50, 0x1c59, 0x2070, 0x2070,
	0x2074, 0x2079, 0x2080, 0x2089, 0x2150, 0x2182, 0x2185, 0x2189, 0x2460, 0x249b,
	0x24ea, 0x24ff, 0x2776, 0x2793, 0x2cfd, 0x2cfd, 0x3007, 0x3007, 0x3021, 0x3029,
	0x3038, 0x303a, 0x3192, 0x3195, 0x3220, 0x3229, 0x3248, 0x324f, 0x3251, 0x325f,
	0x3280, 0x3289, 0x32b1, 0x32bf, 0xa620, 0xa629, 0xa6e6, 0xa6ef, 0xa830, 0xa835,
	0xa8d0, 0xa8d9, 0xa900, 0xa909, 0xa9d0, 0xa9d9, 0xa9f0, 0xa9f9, 0xaa50, 0xaa59,
	0xabf0, 0xabf9, 0xff10, 0xff19, 0x10107, 0x10133, 0x10140, 0x10178, 0x1018a, 0x1018b,
	0x102e1, 0x102fb, 0x10320, 0x10323, 0x10341, 0x10341, 0x1034a, 0x1034a, 0x103d1, 0x103d5,
	0x104a0, 0x104a9, 0x10858, 0x1085f, 0x10879, 0x1087f, 0x108a7, 0x108af, 0x108fb, 0x108ff,
	0x10916, 0x1091b, 0x109bc, 0x109bd, 0x109c0, 0x109cf, 0x109d2, 0x109ff, 0x10a40, 0x10a48,
	0x10a7d, 0x10a7e, 0x10a9d, 0x10a9f, 0x10aeb, 0x10aef, 0x10b58, 0x10b5f, 0x10b78, 0x10b7f,
	0x10ba9, 0x10baf, 0x10cfa, 0x10cff, 0x10d30, 0x10d39, 0x10e60, 0x10e7e, 0x10f1d, 0x10f26,
	0x10f51, 0x10f54, 0x10fc5, 0x10fcb, 0x11052, 0x1106f, 0x110f0, 0x110f9, 0x11136, 0x1113f,
	0x111d0, 0x111d9, 0x111e1, 0x111f4, 0x112f0, 0x112f9, 0x11450, 0x11459, 0x114d0, 0x114d9,
	0x11650, 0x11659, 0x116c0, 0x116c9, 0x11730, 0x1173b, 0x118e0, 0x118f2, 0x11950, 0x11959,
	0x11c50, 0x11c6c, 0x11d50, 0x11d59, 0x11da0, 0x11da9, 0x11fc0, 0x11fd4, 0x12400, 0x1246e,
	0x16a60, 0x16a69, 0x16ac0, 0x16ac9, 0x16b50, 0x16b59, 0x16b5b, 0x16b61, 0x16e80, 0x16e96,
	0x1d2e0, 0x1d2f3, 0x1d360, 0x1d378, 0x1d7ce, 0x1d7ff, 0x1e140, 0x1e149, 0x1e2f0, 0x1e2f9,
	0x1e8c7, 0x1e8cf, 0x1e950, 0x1e959, 0x1ec71, 0x1ecab, 0x1ecad, 0x1ecaf, 0x1ecb1, 0x1ecb4,
	0x1ed01, 0x1ed2d, 0x1ed2f, 0x1ed3d, 0x1f100, 0x1f10c, 0x1fbf0, 0x1fbf9,
};
static const uint32_t uc_decimal[] = {
	0x30, 0x39, 0x660, 0x669, 0x6f0, 0x6f9, 0x7c0, 0x7c9, 0x966, 0x96f, 0x9e6, 0x9ef,
	0xa66, 0xa6f, 0xae6, 0xaef, 0xb66, 0xb6f, 0xbe6, 0xbef, 0xc66, 0xc6f, 0xce6, 0xcef,
	0xd66, 0xd6f, 0xde6, 0xdef, 0xe50, 0xe59, 0xed0, 0xed9, 0xf20, 0xf29, 0x1040, 0x1049,
	0x1090, 0x1099, 0x17e0, 0x17e9, 0x1810, 0x1819, 0x1946, 0x194f, 0x19d0, 0x19d9,
	0x1a80, 0x1a89, 0x1a90, 0x1a99, 0x1b50, 0x1b59, 0x1bb0, 0x1bb9, 0x1c40, 0x1c49,
	0x1c50, 0x1c59, 0xa620, 0xa629, 0xa8d0, 0xa8d9, 0xa900, 0xa909, 0xa9d0, 0xa9d9,
	0xa9f0, 0xa9f9, 0xaa50, 0xaa59, 0xabf0, 0xabf9, 0xff10, 0xff19, 0x104a0, 0x104a9,
	0x10d30, 0x10d39, 0x11066, 0x1106f, 0x110f0, 0x110f9, 0x11136, 0x1113f, 0x111d0, 0x111d9,
	0x112f0, 0x112f9, 0x11450, 0x11459, 0x114d0, 0x114d9, 0x11650, 0x11659, 0x116c0, 0x116c9,
	0x11730, 0x11739, 0x118e0, 0x118e9, 0x11950, 0x11959, 0x11c50, 0x11c59, 0x11d50, 0x11d59,
	0x11da0, 0x11da9, 0x16a60, 0x16a69, 0x16ac0, 0x16ac9, 0x16b50, 0x16b59, 0x1d7ce, 0x1d7ff,
	0x1e140, 0x1e149, 0x1e2f0, 0x1e2f9, 0x1e950, 0x1e959, 0x1fbf0, 0x1fbf9,
};

/* clang-format on */

static const uint32_t uc_any[] = { 0, 0x10ffff };
static const uint32_t uc_ascii[] = { 0, 0x7f };

#define PAIRS(table) (sizeof(table) / sizeof(table)[0] / 2)

typedef struct uc_property {
	const char *name;
	const uint32_t *ranges;
	size_t n;
} uc_property;

static const uc_property uc_properties[] = {
	{ "L", uc_letter, PAIRS(uc_letter) },
	{ "Letter", uc_letter, PAIRS(uc_letter) },
	{ "Lu", uc_uppercase, PAIRS(uc_uppercase) },
	{ "Uppercase_Letter", uc_uppercase, PAIRS(uc_uppercase) },
	{ "Ll", uc_lowercase, PAIRS(uc_lowercase) },
	{ "Lowercase_Letter", uc_lowercase, PAIRS(uc_lowercase) },
	{ "N", uc_number, PAIRS(uc_number) },
	{ "Number", uc_number, PAIRS(uc_number) },
	{ "Nd", uc_decimal, PAIRS(uc_decimal) },
	{ "Decimal_Number", uc_decimal, PAIRS(uc_decimal) },
	{ "digit", uc_decimal, PAIRS(uc_decimal) },
	{ "Any", uc_any, PAIRS(uc_any) },
	{ "ASCII", uc_ascii, PAIRS(uc_ascii) },
};

/* The sets of \d, \w and \s (ECMA-262 WhiteSpace and LineTerminator). */
static const uint32_t re_digit[] = { '0', '9' };
static const uint32_t re_word[] = { '0', '9', 'A', 'Z', '_', '_', 'a', 'z' };
/* clang-format off */
static const uint32_t re_space[] = {
	0x09, 0x0d,			/* \t \n \v \f \r */
	0x20, 0x20, 0xa0, 0xa0,		/* space, no-break space */
	0x1680, 0x1680, 0x2000, 0x200a, /* other space separators */
	0x2028, 0x2029,			/* line and paragraph separators */
	0x202f, 0x202f, 0x205f, 0x205f, 0x3000, 0x3000,
	0xfeff, 0xfeff,			/* byte order mark */
};
/* clang-format on */

/* ===== Patterns: an ECMA-262 subset, matched without backtracking =====
 * A pattern compiles to a program of instructions whose jumps are
 * relative, so that a fragment can be copied (counted repetition) or
 * shifted (alternation, loops) without fixing it up. A program that is
 * only a string is searched for as one; a small one also becomes a DFA;
 * otherwise matching simulates all threads of the NFA at once, position
 * by position.
 */

#define RE_MAX_INSNS 2048
#define RE_MAX_REPEAT 1000
#define RE_MAX_NESTING 32
#define RE_MAX_RANGES 16384
#define RE_NO_CHAR (-1)

enum re_op {
	RE_CHAR,   /* x: the code point */
	RE_ANY,	   /* any code point but a line terminator */
	RE_CLASS,  /* x: first range in the pattern's ranges, y: number of ranges */
	RE_SPLIT,  /* continue at pc + x and at pc + y */
	RE_JMP,	   /* continue at pc + x */
	RE_BOL,	   /* ^ */
	RE_EOL,	   /* $ */
	RE_WORDB,  /* \b */
	RE_NWORDB, /* \B */
	RE_MATCH,
};

typedef struct re_insn {
	uint8_t op;
	int32_t x, y;
} re_insn;

/* How a pattern that is only a string (with ^ or $) is matched without the NFA. */
enum re_literal {
	LIT_NONE,
	LIT_ANYWHERE,
	LIT_PREFIX,
	LIT_SUFFIX,
	LIT_EXACT
};

typedef struct regex {
	re_insn *prog;
	uint32_t n;
	uint32_t *ranges; /* pairs of inclusive bounds, each class's ranges sorted */
	uint32_t nranges;
	int anchored; /* the program starts with ^: threads start at position 0 only */
	int literal;
	char *lit;
	size_t litlen;
	/* The DFA, when regex_build_dfa() made one (trans != NULL). */
	uint16_t *trans;     /* nstates × nclasses; state 0 is dead, state 1 has matched */
	uint8_t *accept_end; /* per state: matches when the text ends there */
	uint32_t *bounds;    /* the code point class of c: how many bounds are <= c */
	uint32_t nbounds, nclasses, nstates;
	uint16_t start;
	uint8_t empty_match; /* the empty text matches */
	uint8_t ascii[128];  /* the class of each ASCII code point */
} regex;

/* A growing set of code point ranges (pairs). */
typedef struct rset {
	uint32_t *v;
	size_t n, cap;
} rset;

typedef struct re_parser {
	const unsigned char *p, *end;
	re_insn *prog;
	uint32_t n, cap;
	rset ranges;
	int depth;
	const char *error;
} re_parser;

static int re_error(re_parser *P, const char *msg)
{
	if (!P->error)
		P->error = msg;
	return -1;
}

static int rset_add(re_parser *P, rset *s, uint32_t lo, uint32_t hi)
{
	if (s->n >= RE_MAX_RANGES)
		return re_error(P, "pattern too complex");
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		uint32_t *v = realloc(s->v, cap * 2 * sizeof *v);
		if (!v)
			return re_error(P, MSG_NO_MEMORY);
		s->v = v;
		s->cap = cap;
	}
	s->v[2 * s->n] = lo;
	s->v[2 * s->n + 1] = hi;
	s->n++;
	return 0;
}

static int rset_add_table(re_parser *P, rset *s, const uint32_t *table, size_t pairs)
{
	for (size_t i = 0; i < pairs; i++)
		if (rset_add(P, s, table[2 * i], table[2 * i + 1]) < 0)
			return -1;
	return 0;
}

static int cmp_range(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* Sorts the ranges and merges those that overlap or touch. */
static void rset_normalize(rset *s)
{
	if (s->n == 0)
		return;
	qsort(s->v, s->n, 2 * sizeof *s->v, cmp_range);
	size_t out = 0;
	for (size_t i = 0; i < s->n; i++) {
		uint32_t lo = s->v[2 * i], hi = s->v[2 * i + 1];
		if (out && lo <= s->v[2 * out - 1] + 1) {
			if (hi > s->v[2 * out - 1])
				s->v[2 * out - 1] = hi;
		} else {
			s->v[2 * out] = lo;
			s->v[2 * out + 1] = hi;
			out++;
		}
	}
	s->n = out;
}

/* Replaces a normalized set by its complement within U+0000..U+10FFFF. */
static int rset_complement(re_parser *P, rset *s)
{
	rset c = { NULL, 0, 0 };
	uint32_t next = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (s->v[2 * i] > next && rset_add(P, &c, next, s->v[2 * i] - 1) < 0)
			goto fail;
		next = s->v[2 * i + 1] + 1;
	}
	if (next <= 0x10ffff && rset_add(P, &c, next, 0x10ffff) < 0)
		goto fail;
	free(s->v);
	*s = c;
	return 0;
fail:
	free(c.v);
	return -1;
}

static int re_emit(re_parser *P, int op, int32_t x, int32_t y)
{
	if (P->n >= RE_MAX_INSNS)
		return re_error(P, "pattern too complex");
	if (P->n == P->cap) {
		uint32_t cap = P->cap ? P->cap * 2 : 32;
		re_insn *prog = realloc(P->prog, cap * sizeof *prog);
		if (!prog)
			return re_error(P, MSG_NO_MEMORY);
		P->prog = prog;
		P->cap = cap;
	}
	P->prog[P->n].op = (uint8_t)op;
	P->prog[P->n].x = x;
	P->prog[P->n].y = y;
	return (int)P->n++;
}

/* Inserts an instruction at `at`, moving the code after it (relative jumps stay right). */
static int re_insert(re_parser *P, uint32_t at, int op, int32_t x, int32_t y)
{
	if (re_emit(P, RE_MATCH, 0, 0) < 0)
		return -1;
	memmove(&P->prog[at + 1], &P->prog[at], (P->n - 1 - at) * sizeof *P->prog);
	P->prog[at].op = (uint8_t)op;
	P->prog[at].x = x;
	P->prog[at].y = y;
	return 0;
}

static int re_append(re_parser *P, const re_insn *frag, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		if (re_emit(P, frag[i].op, frag[i].x, frag[i].y) < 0)
			return -1;
	return 0;
}

/* Emits a class instruction for a normalized set (a single code point as RE_CHAR). */
static int re_emit_class(re_parser *P, const rset *s)
{
	if (s->n == 1 && s->v[0] == s->v[1])
		return re_emit(P, RE_CHAR, (int32_t)s->v[0], 0);
	uint32_t first = (uint32_t)P->ranges.n;
	if (rset_add_table(P, &P->ranges, s->v, s->n) < 0)
		return -1;
	return re_emit(P, RE_CLASS, (int32_t)first, (int32_t)s->n);
}

static int re_at(const re_parser *P, char c)
{
	return P->p < P->end && *P->p == (unsigned char)c;
}

static int re_eat(re_parser *P, char c)
{
	if (!re_at(P, c))
		return 0;
	P->p++;
	return 1;
}

/* The next code point of the pattern, or RE_NO_CHAR at its end. */
static int32_t re_next(re_parser *P)
{
	if (P->p >= P->end)
		return RE_NO_CHAR;
	uint32_t cp;
	P->p += utf8_decode(P->p, (size_t)(P->end - P->p), &cp);
	return (int32_t)cp;
}

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads exactly `n` hex digits; -1 when they are not there. */
static int32_t re_hex(re_parser *P, int n)
{
	int32_t v = 0;
	for (int i = 0; i < n; i++) {
		int h = P->p < P->end ? hex_value(*P->p) : -1;
		if (h < 0)
			return -1;
		v = v * 16 + h;
		P->p++;
	}
	return v;
}

/* After "\u": HHHH (a surrogate pair "\uHHHH\uHHHH" joined) or {H...}. */
static int32_t re_unicode_escape(re_parser *P)
{
	if (re_eat(P, '{')) {
		int32_t v = 0;
		int digits = 0;
		while (P->p < P->end && hex_value(*P->p) >= 0) {
			v = v * 16 + hex_value(*P->p++);
			if (v > 0x10ffff)
				return re_error(P, "\\u{...} beyond U+10FFFF");
			digits++;
		}
		if (!digits || !re_eat(P, '}'))
			return re_error(P, "malformed \\u{...} escape");
		return v;
	}
	int32_t v = re_hex(P, 4);
	if (v < 0)
		return re_error(P, "malformed \\u escape");
	if (v >= 0xd800 && v <= 0xdbff && P->end - P->p >= 6 && P->p[0] == '\\' && P->p[1] == 'u') {
		const unsigned char *save = P->p;
		P->p += 2;
		int32_t lo = re_hex(P, 4);
		if (lo >= 0xdc00 && lo <= 0xdfff)
			return 0x10000 + ((v - 0xd800) << 10) + (lo - 0xdc00);
		P->p = save;
	}
	return v;
}

/*
 * A character escape, the backslash consumed: returns its code point, or
 * -1 with P->error. `in_class` also allows \- (and the caller handles \b).
 */
static int32_t re_char_escape(re_parser *P, int in_class)
{
	int32_t c = re_next(P);
	switch (c) {
	case RE_NO_CHAR:
		return re_error(P, "pattern ends with a backslash");
	case 't':
		return '\t';
	case 'n':
		return '\n';
	case 'v':
		return '\v';
	case 'f':
		return '\f';
	case 'r':
		return '\r';
	case 'c':
		if (P->p < P->end &&
		    ((*P->p >= 'a' && *P->p <= 'z') || (*P->p >= 'A' && *P->p <= 'Z')))
			return *P->p++ % 32;
		return re_error(P, "\\c must be followed by a letter");
	case '0':
		if (P->p < P->end && *P->p >= '0' && *P->p <= '9')
			return re_error(P, "octal escapes are not supported");
		return 0;
	case 'x': {
		int32_t v = re_hex(P, 2);
		return v < 0 ? re_error(P, "malformed \\x escape") : v;
	}
	case 'u':
		return re_unicode_escape(P);
	case 'k':
		return re_error(P, "backreferences are not supported");
	default:
		if (c > 0 && c < 128 && strchr("^$\\.*+?()[]{}|/", (int)c))
			return c;
		if (in_class && c == '-')
			return c;
		if (c >= '1' && c <= '9')
			return re_error(P, "backreferences are not supported");
		return re_error(P, "invalid escape");
	}
}

/* Nonzero for the letters of the class escapes \d \D \w \W \s \S \p \P. */
static int re_is_set_escape(int c)
{
	return c && strchr("dDwWsSpP", c) != NULL;
}

/* After "\p" or "\P": {Name} or {General_Category=Name}; the property's table. */
static const uc_property *re_property(re_parser *P)
{
	if (!re_eat(P, '{')) {
		re_error(P, "\\p must be followed by {property}");
		return NULL;
	}
	const unsigned char *name = P->p;
	while (P->p < P->end && *P->p != '}')
		P->p++;
	size_t len = (size_t)(P->p - name);
	if (!re_eat(P, '}')) {
		re_error(P, "unterminated \\p{...}");
		return NULL;
	}
	static const char *const prefixes[] = { "General_Category=", "gc=" };
	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
		size_t plen = strlen(prefixes[i]);
		if (len > plen && memcmp(name, prefixes[i], plen) == 0) {
			name += plen;
			len -= plen;
			break;
		}
	}
	for (size_t i = 0; i < sizeof uc_properties / sizeof uc_properties[0]; i++)
		if (strlen(uc_properties[i].name) == len &&
		    memcmp(uc_properties[i].name, name, len) == 0)
			return &uc_properties[i];
	re_error(P, "unsupported Unicode property");
	return NULL;
}

/* Adds the set of the class escape `c` (d D w W s S p P, consumed) to `dst`. */
static int re_escape_set(re_parser *P, int c, rset *dst)
{
	const uint32_t *table = NULL;
	size_t pairs = 0;
	switch (c) {
	case 'd':
	case 'D':
		table = re_digit;
		pairs = PAIRS(re_digit);
		break;
	case 'w':
	case 'W':
		table = re_word;
		pairs = PAIRS(re_word);
		break;
	case 's':
	case 'S':
		table = re_space;
		pairs = PAIRS(re_space);
		break;
	default: {
		const uc_property *prop = re_property(P);
		if (!prop)
			return -1;
		table = prop->ranges;
		pairs = prop->n;
		break;
	}
	}
	if (c >= 'a')
		return rset_add_table(P, dst, table, pairs);
	rset tmp = { NULL, 0, 0 };
	int rc = -1;
	if (rset_add_table(P, &tmp, table, pairs) < 0 || rset_complement(P, &tmp) < 0 ||
	    rset_add_table(P, dst, tmp.v, tmp.n) < 0)
		goto done;
	rc = 0;
done:
	free(tmp.v);
	return rc;
}

/* One member of a class: a code point in `*cp`, or a set added to `set` (`*is_set`). */
static int re_class_atom(re_parser *P, rset *set, int32_t *cp, int *is_set)
{
	*is_set = 0;
	int32_t c = re_next(P);
	if (c != '\\') {
		*cp = c;
		return 0;
	}
	if (P->p >= P->end)
		return re_error(P, "pattern ends with a backslash");
	int e = *P->p;
	if (re_is_set_escape(e)) {
		P->p++;
		*is_set = 1;
		return re_escape_set(P, e, set);
	}
	if (e == 'b') {
		P->p++;
		*cp = '\b';
		return 0;
	}
	*cp = re_char_escape(P, 1);
	return *cp < 0 ? -1 : 0;
}

/* A class after its '[': [abc], [a-z], [^...], with escapes; emits it. */
static int re_class(re_parser *P)
{
	rset set = { NULL, 0, 0 };
	int rc = -1;
	int negate = re_eat(P, '^');
	for (;;) {
		if (P->p >= P->end) {
			re_error(P, "unterminated character class");
			goto done;
		}
		if (re_eat(P, ']'))
			break;
		int32_t lo, hi;
		int lo_set, hi_set;
		if (re_class_atom(P, &set, &lo, &lo_set) < 0)
			goto done;
		if (re_at(P, '-') && P->p + 1 < P->end && P->p[1] != ']') {
			P->p++;
			if (re_class_atom(P, &set, &hi, &hi_set) < 0)
				goto done;
			if (lo_set || hi_set) {
				re_error(P, "a class escape cannot bound a range");
				goto done;
			}
			if (lo > hi) {
				re_error(P, "range out of order in character class");
				goto done;
			}
			if (rset_add(P, &set, (uint32_t)lo, (uint32_t)hi) < 0)
				goto done;
		} else if (!lo_set && rset_add(P, &set, (uint32_t)lo, (uint32_t)lo) < 0) {
			goto done;
		}
	}
	rset_normalize(&set);
	if (negate && rset_complement(P, &set) < 0)
		goto done;
	if (re_emit_class(P, &set) < 0)
		goto done;
	rc = 0;
done:
	free(set.v);
	return rc;
}

static int re_alternation(re_parser *P);

/* A group after its '(': ( ), (?: ) or (?<name> ). */
static int re_group(re_parser *P)
{
	if (re_eat(P, '?')) {
		if (re_eat(P, ':')) {
			/* non-capturing: nothing is captured anyway */
		} else if (re_at(P, '=') || re_at(P, '!')) {
			return re_error(P, "lookahead is not supported");
		} else if (re_eat(P, '<')) {
			if (re_at(P, '=') || re_at(P, '!'))
				return re_error(P, "lookbehind is not supported");
			const unsigned char *name = P->p;
			while (P->p < P->end &&
			       ((*P->p >= 'a' && *P->p <= 'z') || (*P->p >= 'A' && *P->p <= 'Z') ||
				(*P->p >= '0' && *P->p <= '9') || *P->p == '_' || *P->p == '$'))
				P->p++;
			if (P->p == name || (*name >= '0' && *name <= '9') || !re_eat(P, '>'))
				return re_error(P, "invalid group name");
		} else {
			return re_error(P, "invalid group (flags are not supported)");
		}
	}
	if (++P->depth > RE_MAX_NESTING)
		return re_error(P, "groups nested too deeply");
	if (re_alternation(P) < 0)
		return -1;
	P->depth--;
	if (!re_eat(P, ')'))
		return re_error(P, "unterminated group");
	return 0;
}

/* One atom, emitted. Returns 1 when it may be quantified, 0 for an assertion, -1 on error. */
static int re_atom(re_parser *P)
{
	int32_t c = re_next(P);
	switch (c) {
	case '^':
		return re_emit(P, RE_BOL, 0, 0) < 0 ? -1 : 0;
	case '$':
		return re_emit(P, RE_EOL, 0, 0) < 0 ? -1 : 0;
	case '.':
		return re_emit(P, RE_ANY, 0, 0) < 0 ? -1 : 1;
	case '[':
		return re_class(P) < 0 ? -1 : 1;
	case '(':
		return re_group(P) < 0 ? -1 : 1;
	case '*':
	case '+':
	case '?':
		return re_error(P, "nothing to repeat");
	case '{':
		return re_error(P, "lone { (write \\{ for the character)");
	case '}':
		return re_error(P, "lone } (write \\} for the character)");
	case ']':
		return re_error(P, "lone ] (write \\] for the character)");
	case '\\': {
		if (P->p >= P->end)
			return re_error(P, "pattern ends with a backslash");
		int e = *P->p;
		if (e == 'b' || e == 'B') {
			P->p++;
			return re_emit(P, e == 'b' ? RE_WORDB : RE_NWORDB, 0, 0) < 0 ? -1 : 0;
		}
		if (re_is_set_escape(e)) {
			P->p++;
			rset set = { NULL, 0, 0 };
			int rc = re_escape_set(P, e, &set);
			if (rc == 0) {
				rset_normalize(&set);
				rc = re_emit_class(P, &set) < 0 ? -1 : 1;
			}
			free(set.v);
			return rc;
		}
		int32_t v = re_char_escape(P, 0);
		if (v < 0)
			return -1;
		return re_emit(P, RE_CHAR, v, 0) < 0 ? -1 : 1;
	}
	default:
		return re_emit(P, RE_CHAR, c, 0) < 0 ? -1 : 1;
	}
}

/* Reads a decimal count of a {n,m} quantifier (saturating above RE_MAX_REPEAT). */
static int re_count(re_parser *P, long *out)
{
	long v = 0;
	int digits = 0;
	while (P->p < P->end && *P->p >= '0' && *P->p <= '9') {
		if (v <= RE_MAX_REPEAT)
			v = v * 10 + (*P->p - '0');
		P->p++;
		digits++;
	}
	*out = v;
	return digits ? 0 : -1;
}

/*
 * Repeats the fragment [start, n) from `min` to `max` (-1: unbounded)
 * times: copies of it, then a loop or optional copies that all jump to
 * the end.
 */
static int re_repeat(re_parser *P, uint32_t start, long min, long max)
{
	uint32_t len = P->n - start;
	long copies = max < 0 ? (min > 0 ? min : 1) : max;
	if ((uint64_t)copies * (len + 1) + start + 2 > RE_MAX_INSNS)
		return re_error(P, "pattern too complex");
	if (max == 0) {
		P->n = start;
		return 0;
	}
	if (len == 0)
		return 0;
	re_insn *frag = malloc(len * sizeof *frag);
	if (!frag)
		return re_error(P, MSG_NO_MEMORY);
	memcpy(frag, P->prog + start, len * sizeof *frag);
	P->n = start;
	int rc = -1;
	long i;
	for (i = 0; i < min; i++)
		if (re_append(P, frag, len) < 0)
			goto done;
	if (max < 0) {
		if (min == 0) {
			/* L: SPLIT body, out; body; JMP L; out: */
			if (re_emit(P, RE_SPLIT, 1, (int32_t)len + 2) < 0 ||
			    re_append(P, frag, len) < 0 ||
			    re_emit(P, RE_JMP, -(int32_t)len - 1, 0) < 0)
				goto done;
		} else if (re_emit(P, RE_SPLIT, -(int32_t)len, 1) < 0) {
			goto done; /* the last copy loops */
		}
	} else {
		int32_t pending = -1; /* SPLITs to the end, chained through y */
		for (; i < max; i++) {
			int sp = re_emit(P, RE_SPLIT, 1, pending);
			if (sp < 0 || re_append(P, frag, len) < 0)
				goto done;
			pending = sp;
		}
		while (pending >= 0) {
			int32_t prev = P->prog[pending].y;
			P->prog[pending].y = (int32_t)P->n - pending;
			pending = prev;
		}
	}
	rc = 0;
done:
	free(frag);
	return rc;
}

/* A quantifier after the atom at `start`, if there is one. */
static int re_quantifier(re_parser *P, uint32_t start, int quantifiable)
{
	long min, max;
	if (re_eat(P, '*')) {
		min = 0;
		max = -1;
	} else if (re_eat(P, '+')) {
		min = 1;
		max = -1;
	} else if (re_eat(P, '?')) {
		min = 0;
		max = 1;
	} else if (re_eat(P, '{')) {
		if (re_count(P, &min) < 0)
			return re_error(P, "malformed {n,m} quantifier");
		max = min;
		if (re_eat(P, ',')) {
			if (re_at(P, '}'))
				max = -1;
			else if (re_count(P, &max) < 0)
				return re_error(P, "malformed {n,m} quantifier");
		}
		if (!re_eat(P, '}'))
			return re_error(P, "malformed {n,m} quantifier");
		if (min > RE_MAX_REPEAT || max > RE_MAX_REPEAT)
			return re_error(P, "repetition count above 1000");
		if (max >= 0 && max < min)
			return re_error(P, "numbers out of order in {n,m} quantifier");
	} else {
		return 0;
	}
	re_eat(P, '?'); /* lazy: the same yes/no answer */
	if (!quantifiable)
		return re_error(P, "nothing to repeat");
	return re_repeat(P, start, min, max);
}

static int re_sequence(re_parser *P)
{
	while (P->p < P->end && !re_at(P, '|') && !re_at(P, ')')) {
		uint32_t start = P->n;
		int q = re_atom(P);
		if (q < 0 || re_quantifier(P, start, q) < 0)
			return -1;
	}
	return 0;
}

/* a|b|c: SPLIT a, next; a; JMP end; next: SPLIT b, c; b; JMP end; c; end: */
static int re_alternation(re_parser *P)
{
	uint32_t start = P->n;
	int32_t pending = -1; /* JMPs to the end, chained through x */
	if (re_sequence(P) < 0)
		return -1;
	while (re_eat(P, '|')) {
		if (re_insert(P, start, RE_SPLIT, 1, 0) < 0)
			return -1;
		int j = re_emit(P, RE_JMP, pending, 0);
		if (j < 0)
			return -1;
		pending = j;
		P->prog[start].y = (int32_t)(P->n - start);
		start = P->n;
		if (re_sequence(P) < 0)
			return -1;
	}
	while (pending >= 0) {
		int32_t prev = P->prog[pending].x;
		P->prog[pending].x = (int32_t)P->n - pending;
		pending = prev;
	}
	return 0;
}

/* Recognises a program that is only a string, with ^ or $ or both, for a plain search. */
static int regex_find_literal(regex *re)
{
	uint32_t k = 0;
	int bol = 0, eol = 0;
	if (re->prog[0].op == RE_BOL) {
		bol = 1;
		k++;
	}
	uint32_t first = k;
	while (re->prog[k].op == RE_CHAR)
		k++;
	uint32_t chars = k - first;
	if (re->prog[k].op == RE_EOL) {
		eol = 1;
		k++;
	}
	if (re->prog[k].op != RE_MATCH)
		return 0;
	re->lit = malloc((size_t)chars * 4 + 1);
	if (!re->lit)
		return -1;
	for (uint32_t i = first; i < first + chars; i++)
		re->litlen += jsondoc_utf8_encode((uint32_t)re->prog[i].x, re->lit + re->litlen);
	re->literal = bol && eol ? LIT_EXACT : bol ? LIT_PREFIX : eol ? LIT_SUFFIX : LIT_ANYWHERE;
	return 0;
}

/*
 * Compiles `len` bytes of pattern into `re`. Returns 0, or -1 with a
 * static reason in `*why`.
 */
static int regex_compile(regex *re, const char *pattern, size_t len, const char **why)
{
	re_parser P;
	memset(&P, 0, sizeof P);
	memset(re, 0, sizeof *re);
	P.p = (const unsigned char *)pattern;
	P.end = P.p + len;
	if (re_alternation(&P) < 0)
		goto fail;
	if (P.p < P.end) {
		re_error(&P, "unmatched )");
		goto fail;
	}
	if (re_emit(&P, RE_MATCH, 0, 0) < 0)
		goto fail;
	re->prog = P.prog;
	re->n = P.n;
	re->ranges = P.ranges.v;
	re->nranges = (uint32_t)P.ranges.n;
	re->anchored = P.prog[0].op == RE_BOL;
	if (regex_find_literal(re) < 0) {
		*why = MSG_NO_MEMORY;
		return -1; /* the caller frees `re` */
	}
	return 0;
fail:
	*why = P.error ? P.error : "invalid pattern";
	free(P.prog);
	free(P.ranges.v);
	return -1;
}

static void regex_clear(regex *re)
{
	free(re->prog);
	free(re->ranges);
	free(re->lit);
	free(re->trans);
	free(re->accept_end);
	free(re->bounds);
	memset(re, 0, sizeof *re);
}

static int re_word_char(int32_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

static int re_in_ranges(const uint32_t *r, uint32_t n, uint32_t c)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (c < r[2 * mid])
			hi = mid;
		else if (c > r[2 * mid + 1])
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

/* Nonzero when the consuming instruction `in` accepts the code point `c`. */
static int re_accepts(const regex *re, const re_insn *in, int32_t c)
{
	switch (in->op) {
	case RE_CHAR:
		return c == in->x;
	case RE_ANY:
		return c != '\n' && c != '\r' && c != 0x2028 && c != 0x2029;
	case RE_CLASS:
		return in->y > 0 &&
		       re_in_ranges(re->ranges + 2 * in->x, (uint32_t)in->y, (uint32_t)c);
	default:
		return 0;
	}
}

/* The state of one match: the subject, the marks of visited instructions. */
typedef struct re_run {
	const regex *re;
	size_t len;
	uint32_t gen;	 /* the current position's mark */
	uint32_t *mark;	 /* per instruction: the last generation it was added in */
	uint16_t *stack; /* epsilon closure work list */
} re_run;

/*
 * Adds to `list` the consuming instructions reachable from `pc` without
 * consuming, at byte position `pos` between the code points `prev` and
 * `cur` (RE_NO_CHAR at the ends). Returns 1 as soon as MATCH is reachable.
 */
static int re_add(re_run *R, uint16_t *list, uint32_t *n, uint32_t pc, size_t pos, int32_t prev,
		  int32_t cur)
{
	uint32_t sp = 0;
	if (R->mark[pc] == R->gen)
		return 0;
	R->mark[pc] = R->gen;
	if (R->re->prog[pc].op <= RE_CLASS) {
		list[(*n)++] = (uint16_t)pc; /* consuming: nothing to follow */
		return 0;
	}
	R->stack[sp++] = (uint16_t)pc;
	while (sp) {
		pc = R->stack[--sp];
		const re_insn *in = &R->re->prog[pc];
		uint32_t next[2];
		int nn = 0;
		switch (in->op) {
		case RE_MATCH:
			return 1;
		case RE_JMP:
			next[nn++] = pc + (uint32_t)in->x;
			break;
		case RE_SPLIT:
			next[nn++] = pc + (uint32_t)in->x;
			next[nn++] = pc + (uint32_t)in->y;
			break;
		case RE_BOL:
			if (pos == 0)
				next[nn++] = pc + 1;
			break;
		case RE_EOL:
			if (pos == R->len)
				next[nn++] = pc + 1;
			break;
		case RE_WORDB:
		case RE_NWORDB:
			if ((re_word_char(prev) != re_word_char(cur)) == (in->op == RE_WORDB))
				next[nn++] = pc + 1;
			break;
		default:
			list[(*n)++] = (uint16_t)pc;
			break;
		}
		for (int k = 0; k < nn; k++) {
			if (R->mark[next[k]] != R->gen) {
				R->mark[next[k]] = R->gen;
				R->stack[sp++] = (uint16_t)next[k];
			}
		}
	}
	return 0;
}

/* ----- A DFA for the patterns that allow a small one -----
 * Built at compile time by subset construction over classes of code
 * points (the intervals between the bounds of the pattern's characters
 * and classes). Patterns with \b or \B, with many classes (\p{L}) or with
 * too many states keep the NFA. ^ holds in the start state only; $ is
 * kept in the states as a pending assertion, checked when the text ends.
 */

#define DFA_MAX_INSNS 256
#define DFA_MAX_BOUNDS 63
#define DFA_MAX_STATES 256
#define DFA_WORDS (DFA_MAX_INSNS / 64)
#define DFA_DEAD 0
#define DFA_MATCHED 1

typedef struct dfa_builder {
	const regex *re;
	uint64_t (*sets)[DFA_WORDS]; /* per state: its consuming and $ instructions */
	uint32_t nstates;
	uint64_t visited[DFA_WORDS];
	uint16_t stack[DFA_MAX_INSNS];
	unsigned long *work; /* steps left for building DFAs */
} dfa_builder;

/*
 * Adds to `set` what `pc` reaches without consuming: consuming
 * instructions, and $ unless `at_end` (then it is followed). ^ is followed
 * only `at_start`. Returns 1 when MATCH is reached, -1 when out of work.
 */
static int dfa_closure(dfa_builder *B, uint32_t pc, int at_start, int at_end, uint64_t *set)
{
	uint32_t sp = 0;
	int matched = 0;
	if (B->visited[pc / 64] & (1ULL << (pc % 64)))
		return 0;
	B->visited[pc / 64] |= 1ULL << (pc % 64);
	B->stack[sp++] = (uint16_t)pc;
	while (sp) {
		if (*B->work == 0)
			return -1;
		(*B->work)--;
		pc = B->stack[--sp];
		const re_insn *in = &B->re->prog[pc];
		uint32_t next[2];
		int nn = 0;
		switch (in->op) {
		case RE_MATCH:
			matched = 1;
			break;
		case RE_JMP:
			next[nn++] = pc + (uint32_t)in->x;
			break;
		case RE_SPLIT:
			next[nn++] = pc + (uint32_t)in->x;
			next[nn++] = pc + (uint32_t)in->y;
			break;
		case RE_BOL:
			if (at_start)
				next[nn++] = pc + 1;
			break;
		case RE_EOL:
			if (at_end)
				next[nn++] = pc + 1;
			else
				set[pc / 64] |= 1ULL << (pc % 64);
			break;
		default:
			set[pc / 64] |= 1ULL << (pc % 64);
			break;
		}
		for (int k = 0; k < nn; k++) {
			if (!(B->visited[next[k] / 64] & (1ULL << (next[k] % 64)))) {
				B->visited[next[k] / 64] |= 1ULL << (next[k] % 64);
				B->stack[sp++] = (uint16_t)next[k];
			}
		}
	}
	return matched;
}

/* The state holding `set`, added when new; -1 beyond DFA_MAX_STATES or out of memory. */
static int dfa_state(dfa_builder *B, const uint64_t *set, uint32_t *cap)
{
	for (uint32_t i = 0; i < B->nstates; i++)
		if (memcmp(B->sets[i], set, sizeof B->sets[i]) == 0)
			return (int)i;
	if (B->nstates >= DFA_MAX_STATES)
		return -1;
	if (B->nstates == *cap) {
		uint32_t ncap = *cap * 2;
		void *p = realloc(B->sets, ncap * sizeof *B->sets);
		if (!p)
			return -1;
		B->sets = p;
		*cap = ncap;
	}
	memcpy(B->sets[B->nstates], set, sizeof B->sets[0]);
	return (int)B->nstates++;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* The class of code point `c`. */
static uint32_t dfa_class(const regex *re, uint32_t c)
{
	if (c < 128)
		return re->ascii[c];
	uint32_t lo = 0, hi = re->nbounds;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (re->bounds[mid] <= c)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Collects the class bounds of the program; -1 when there are too many for a DFA. */
static int dfa_bounds(regex *re)
{
	uint32_t cap = DFA_MAX_BOUNDS * 2 + 8, n = 0;
	uint32_t *b = malloc(cap * sizeof *b);
	if (!b)
		return -1;
#define BOUND(v)                       \
	do {                           \
		if (n == cap)          \
			goto too_many; \
		if ((v) <= 0x10ffff)   \
			b[n++] = (v);  \
	} while (0)
	for (uint32_t pc = 0; pc < re->n; pc++) {
		const re_insn *in = &re->prog[pc];
		if (in->op == RE_CHAR) {
			BOUND((uint32_t)in->x);
			BOUND((uint32_t)in->x + 1);
		} else if (in->op == RE_ANY) {
			BOUND('\n');
			BOUND('\n' + 1);
			BOUND('\r');
			BOUND('\r' + 1);
			BOUND(0x2028);
			BOUND(0x202a);
		} else if (in->op == RE_CLASS) {
			for (int32_t i = 0; i < in->y; i++) {
				BOUND(re->ranges[2 * (in->x + i)]);
				BOUND(re->ranges[2 * (in->x + i) + 1] + 1);
			}
		}
		if (n > DFA_MAX_BOUNDS * 2) {
			qsort(b, n, sizeof *b, cmp_u32);
			uint32_t u = 0;
			for (uint32_t i = 0; i < n; i++)
				if (u == 0 || b[i] != b[u - 1])
					b[u++] = b[i];
			n = u;
			if (n > DFA_MAX_BOUNDS)
				goto too_many;
		}
	}
#undef BOUND
	qsort(b, n, sizeof *b, cmp_u32);
	uint32_t u = 0;
	for (uint32_t i = 0; i < n; i++)
		if (u == 0 || b[i] != b[u - 1])
			b[u++] = b[i];
	if (u > DFA_MAX_BOUNDS)
		goto too_many;
	re->bounds = b;
	re->nbounds = u;
	re->nclasses = u + 1;
	for (uint32_t c = 0; c < 128; c++)
		re->ascii[c] = 0;
	for (uint32_t c = 0; c < 128; c++) {
		uint32_t k = 0;
		while (k < u && b[k] <= c)
			k++;
		re->ascii[c] = (uint8_t)k;
	}
	return 0;
too_many:
	free(b);
	return -1;
}

/*
 * Builds the DFA of `re` when it allows a small one, spending at most
 * `*work` steps (shared by the patterns of a schema). Without one, `re`
 * keeps matching with the NFA. Returns -1 only when out of memory.
 */
static int regex_build_dfa(regex *re, unsigned long *work)
{
	dfa_builder B;
	uint32_t cap = 16;
	uint64_t set[DFA_WORDS];
	int rc = 0;

	if (re->literal != LIT_NONE || re->n > DFA_MAX_INSNS)
		return 0;
	for (uint32_t pc = 0; pc < re->n; pc++)
		if (re->prog[pc].op == RE_WORDB || re->prog[pc].op == RE_NWORDB)
			return 0;
	if (dfa_bounds(re) < 0)
		return 0;
	memset(&B, 0, sizeof B);
	B.re = re;
	B.work = work;
	B.sets = calloc(cap, sizeof *B.sets);
	uint32_t *rep = malloc(re->nclasses * sizeof *rep);
	uint16_t *trans = malloc((size_t)DFA_MAX_STATES * re->nclasses * sizeof *trans);
	if (!B.sets || !rep || !trans) {
		rc = -1;
		goto fail;
	}
	for (uint32_t k = 0; k < re->nclasses; k++)
		rep[k] = k == 0 ? 0 : re->bounds[k - 1];

	/* 0: dead, 1: matched; then the start state. */
	memset(set, 0, sizeof set);
	B.nstates = 2;
	memset(B.sets, 0, 2 * sizeof *B.sets);
	memset(B.visited, 0, sizeof B.visited);
	int m = dfa_closure(&B, 0, 1, 0, set);
	if (m < 0)
		goto fail;
	memset(B.visited, 0, sizeof B.visited);
	uint64_t scratch[DFA_WORDS] = { 0 };
	int empty = dfa_closure(&B, 0, 1, 1, scratch);
	if (empty < 0)
		goto fail;
	re->empty_match = (uint8_t)empty;
	int start = m ? DFA_MATCHED : dfa_state(&B, set, &cap);
	if (start < 0)
		goto fail;
	re->start = (uint16_t)start;
	memset(trans, 0, 2 * re->nclasses * sizeof *trans);
	for (uint32_t k = 0; k < re->nclasses; k++)
		trans[DFA_MATCHED * re->nclasses + k] = DFA_MATCHED;

	for (uint32_t st = 2; st < B.nstates; st++) {
		for (uint32_t k = 0; k < re->nclasses; k++) {
			/* the state lookup below compares with every state */
			if (*work < DFA_WORDS + B.nstates)
				goto fail;
			*work -= DFA_WORDS + B.nstates;
			memset(set, 0, sizeof set);
			memset(B.visited, 0, sizeof B.visited);
			m = 0;
			for (uint32_t w = 0; w < DFA_WORDS && m == 0; w++) {
				for (uint64_t bits = B.sets[st][w]; bits && m == 0;
				     bits &= bits - 1) {
					uint32_t pc = w * 64 + (uint32_t)__builtin_ctzll(bits);
					if (re->prog[pc].op <= RE_CLASS &&
					    re_accepts(re, &re->prog[pc], (int32_t)rep[k]))
						m = dfa_closure(&B, pc + 1, 0, 0, set);
				}
			}
			if (m == 0 && !re->anchored)
				m = dfa_closure(&B, 0, 0, 0, set);
			if (m < 0)
				goto fail;
			int to = m ? DFA_MATCHED : dfa_state(&B, set, &cap);
			if (to < 0)
				goto fail;
			trans[st * re->nclasses + k] = (uint16_t)to;
		}
	}
	re->accept_end = calloc(B.nstates, 1);
	if (!re->accept_end) {
		rc = -1;
		goto fail;
	}
	re->accept_end[DFA_MATCHED] = 1;
	for (uint32_t st = 2; st < B.nstates; st++) {
		memset(B.visited, 0, sizeof B.visited);
		for (uint32_t pc = 0; pc < re->n && !re->accept_end[st]; pc++) {
			if (!(B.sets[st][pc / 64] & (1ULL << (pc % 64))) ||
			    re->prog[pc].op != RE_EOL)
				continue;
			memset(scratch, 0, sizeof scratch);
			m = dfa_closure(&B, pc + 1, 0, 1, scratch);
			if (m < 0)
				goto fail;
			re->accept_end[st] = (uint8_t)m;
		}
	}
	re->nstates = B.nstates;
	uint16_t *shrunk = realloc(trans, (size_t)B.nstates * re->nclasses * sizeof *trans);
	re->trans = shrunk ? shrunk : trans;
	free(rep);
	free(B.sets);
	return 0;
fail:
	free(rep);
	free(trans);
	free(B.sets);
	free(re->accept_end);
	free(re->bounds);
	re->accept_end = NULL;
	re->bounds = NULL;
	re->trans = NULL;
	return rc;
}

/* Runs the DFA over `len` bytes of UTF-8: 1 or 0. */
static int dfa_match(const regex *re, const unsigned char *s, size_t len)
{
	if (len == 0)
		return re->empty_match;
	uint32_t st = re->start;
	for (size_t pos = 0; pos < len;) {
		uint32_t c;
		if (s[pos] < 0x80)
			c = s[pos++];
		else
			pos += utf8_decode(s + pos, len - pos, &c);
		st = re->trans[st * re->nclasses + dfa_class(re, c)];
		if (st <= DFA_MATCHED)
			return (int)st;
	}
	return re->accept_end[st];
}

/*
 * Searches `len` bytes of UTF-8 for a match of `re` anywhere. Returns 1 or
 * 0, or -1 when the steps in `*left` run out (each position costs its
 * live threads).
 */
static int regex_match(const regex *re, const char *text, size_t len, unsigned long *left)
{
	if (re->literal != LIT_NONE || re->trans) {
		unsigned long cost = len / 16 + 1; /* a linear scan */
		if (*left <= cost)
			return -1;
		*left -= cost;
	}
	switch (re->literal) {
	case LIT_EXACT:
		return len == re->litlen && memcmp(text, re->lit, len) == 0;
	case LIT_PREFIX:
		return len >= re->litlen && memcmp(text, re->lit, re->litlen) == 0;
	case LIT_SUFFIX:
		return len >= re->litlen &&
		       memcmp(text + len - re->litlen, re->lit, re->litlen) == 0;
	case LIT_ANYWHERE:
		return re->litlen == 0 || memmem(text, len, re->lit, re->litlen) != NULL;
	default:
		break;
	}
	if (re->trans)
		return dfa_match(re, (const unsigned char *)text, len);

	uint16_t lists[2][RE_MAX_INSNS];
	uint16_t stack[RE_MAX_INSNS];
	uint32_t mark[RE_MAX_INSNS];
	const unsigned char *s = (const unsigned char *)text;
	re_run R = { re, len, 1, mark, stack };
	uint16_t *cl = lists[0], *nl = lists[1];
	uint32_t nc = 0, cp;
	size_t pos = 0, clen = 0;
	int32_t prev = RE_NO_CHAR, cur = RE_NO_CHAR;

	memset(mark, 0, re->n * sizeof mark[0]);
	if (len) {
		clen = utf8_decode(s, len, &cp);
		cur = (int32_t)cp;
	}
	if (re_add(&R, cl, &nc, 0, 0, prev, cur))
		return 1;
	while (pos < len) {
		size_t npos = pos + clen, nlen = 0;
		int32_t next = RE_NO_CHAR;
		if (npos < len) {
			nlen = utf8_decode(s + npos, len - npos, &cp);
			next = (int32_t)cp;
		}
		if (*left <= nc)
			return -1;
		*left -= nc + 1;
		R.gen++;
		uint32_t nn = 0;
		for (uint32_t k = 0; k < nc; k++) {
			if (re_accepts(re, &re->prog[cl[k]], cur) &&
			    re_add(&R, nl, &nn, cl[k] + 1u, npos, cur, next))
				return 1;
		}
		if (!re->anchored && re_add(&R, nl, &nn, 0, npos, cur, next))
			return 1;
		uint16_t *t = cl;
		cl = nl;
		nl = t;
		nc = nn;
		if (nc == 0 && re->anchored)
			return 0;
		prev = cur;
		cur = next;
		clen = nlen;
		pos = npos;
	}
	return 0;
}

/* ===== The compiled schema ===== */

enum node_kind {
	NODE_TRUE,
	NODE_FALSE,
	NODE_KEYWORDS
};

/* One subschema: its keywords, in evaluation order. */
typedef struct js_node {
	uint32_t kw, nkw; /* kws[kw .. kw + nkw) */
	uint8_t kind;
	uint8_t applies; /* T_* kinds of instance that some keyword looks at */
} js_node;

/*
 * The keywords, in the order a subschema evaluates them. The operands of
 * each, in js_kw: a, n, b, c, d index the pools of the schema.
 */
enum kw_op {
	OP_TYPE,	 /* a: T_* | TY_INTEGER mask */
	OP_CONST,	 /* json: the value */
	OP_ENUM,	 /* json: the array */
	OP_MINIMUM,	 /* num */
	OP_EXCL_MINIMUM, /* num */
	OP_MAXIMUM,	 /* num */
	OP_EXCL_MAXIMUM, /* num */
	OP_MULTIPLE_OF,	 /* num, dec */
	OP_MIN_LENGTH,	 /* count */
	OP_MAX_LENGTH,	 /* count */
	OP_PATTERN,	 /* a: regex; json: the pattern */
	OP_MIN_ITEMS,	 /* count */
	OP_MAX_ITEMS,	 /* count */
	OP_UNIQUE_ITEMS,
	OP_PREFIX_ITEMS,       /* subs[a .. a + n) */
	OP_ITEMS,	       /* a: node, n: the first index it applies to */
	OP_CONTAINS,	       /* a: node, count: minContains, count2: maxContains */
	OP_MIN_PROPERTIES,     /* count */
	OP_MAX_PROPERTIES,     /* count */
	OP_REQUIRED,	       /* props[a .. a + n) (names only) */
	OP_DEPENDENT_REQUIRED, /* deps[a .. a + n) */
	OP_PROPERTIES,	       /* props[a .. a + n) */
	OP_OTHER_PROPERTIES,   /* props[a .. a + n) sorted, pats[b .. b + c), d: additional */
	OP_PROPERTY_NAMES,     /* a: node */
	OP_DEPENDENT_SCHEMAS,  /* props[a .. a + n) */
	OP_REF,		       /* a: node */
	OP_ALL_OF,	       /* subs[a .. a + n) */
	OP_ANY_OF,	       /* subs[a .. a + n) */
	OP_ONE_OF,	       /* subs[a .. a + n) */
	OP_NOT,		       /* a: node */
	OP_IF,		       /* a: if, b: then, c: else (NODE_NONE when absent) */
};

typedef struct js_kw {
	uint8_t op;
	uint8_t applies;
	uint32_t cost; /* steps charged before the keyword runs: the work it does itself */
	uint32_t a, n, b, c, d;
	uint64_t count, count2;
	js_num num;
	decimal dec;
	const json_t *json; /* borrowed from the schema's private copy */
	const jsonval *val; /* const and enum: `json` in the form instances take */
} js_kw;

/* A property name (borrowed from the copy) and its subschema. */
typedef struct js_prop {
	const char *name;
	size_t len;
	uint32_t node;
} js_prop;

/* dependentRequired: when `name` is present, props[first .. first + count) must be. */
typedef struct js_dep {
	const char *name;
	size_t len;
	uint32_t first, count;
} js_dep;

/* patternProperties: a pattern and the subschema of the names it matches. */
typedef struct js_pat {
	uint32_t regex;
	uint32_t node;
} js_pat;

struct jsonschema {
	json_t *doc;	 /* a private copy of the schema: every string above borrows from it */
	jsondoc *values; /* the values of const and enum, borrowing from `doc` */
	js_node *nodes;
	js_kw *kws;
	uint32_t *subs;
	js_prop *props;
	js_dep *deps;
	js_pat *pats;
	regex *regexes;
	uint32_t nnodes, nkws, nsubs, nprops, ndeps, npats, nregexes;
};

/* ===== Compiling =====
 * Subschemas are numbered as they are found and compiled one after the
 * other (no recursion): compiling one appends its keywords and queues the
 * subschemas it names. $ref targets are resolved once everything reachable
 * is compiled; a target that was not compiled yet (a location no keyword
 * names) is compiled then. Finally the graph of in-place applicators is
 * checked for loops and its expansion bounded.
 */

typedef struct map_entry {
	const json_t *key;
	uint32_t node;
} map_entry;

typedef struct anchor {
	const char *name;
	size_t len;
	uint32_t node;
} anchor;

typedef struct pending_ref {
	uint32_t kw;
	uint32_t node; /* the subschema holding the $ref */
} pending_ref;

typedef struct compiler {
	jsonschema *s;
	char *err;
	size_t errlen;
	/* per node while compiling */
	const json_t **src;
	char **path; /* the node's location, a JSON Pointer into the schema */
	int *depth;
	uint32_t info_cap;
	uint32_t next; /* the next node to compile */
	uint32_t nodes_cap, kws_cap, subs_cap, props_cap, deps_cap, pats_cap, regexes_cap;
	map_entry *map; /* subschema JSON → node, open addressing */
	size_t map_cap, map_n;
	anchor *anchors; /* $anchor names → nodes, open addressing */
	size_t nanchors, anchors_cap;
	pending_ref *refs;
	uint32_t nrefs, refs_cap;
	const char *base; /* the root $id without fragment */
	size_t baselen;
	uint64_t pattern_cost;
	unsigned long dfa_work; /* steps left for building DFAs */
} compiler;

/* Makes room for element `n` of an array of `*cap` elements of `size` bytes. */
static int grow(void **arr, uint32_t *cap, uint32_t n, size_t size)
{
	if (n < *cap)
		return 0;
	uint32_t ncap = *cap ? *cap * 2 : 16;
	void *p = realloc(*arr, (size_t)ncap * size);
	if (!p)
		return -1;
	*arr = p;
	*cap = ncap;
	return 0;
}

#define GROW(arr, cap, n) grow((void **)&(arr), &(cap), (n), sizeof *(arr))

static int __attribute__((format(printf, 2, 3))) c_fail(compiler *C, const char *fmt, ...)
{
	sbuf b;
	sb_init(&b, C->err, C->errlen);
	va_list ap;
	va_start(ap, fmt);
	sb_vprintf(&b, fmt, ap);
	va_end(ap);
	sb_finish(&b);
	return -1;
}

static int c_nomem(compiler *C)
{
	return c_fail(C, MSG_NO_MEMORY);
}

/* A failure of keyword `kw` of node `idx`: "/properties/a/minLength: message". */
static int __attribute__((format(printf, 4, 5)))
c_kwfail(compiler *C, uint32_t idx, const char *kw, const char *fmt, ...)
{
	sbuf b;
	sb_init(&b, C->err, C->errlen);
	sb_printf(&b, "%s/%s: ", C->path[idx], kw);
	va_list ap;
	va_start(ap, fmt);
	sb_vprintf(&b, fmt, ap);
	va_end(ap);
	sb_finish(&b);
	return -1;
}

/* "<base>/<kw>" and, when `key` is not NULL, "/<key>" escaped, or "/<index>" for index >= 0. */
static char *path_join(const char *base, const char *kw, const char *key, size_t keylen, long index)
{
	size_t cap = strlen(base) + strlen(kw) + 2 * keylen + 32;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	sbuf b;
	sb_init(&b, out, cap);
	sb_printf(&b, "%s/%s", base, kw);
	if (key) {
		sb_puts(&b, "/");
		sb_pointer_token(&b, key, keylen);
	} else if (index >= 0) {
		sb_printf(&b, "/%ld", index);
	}
	return out;
}

static size_t map_slot(const compiler *C, const json_t *key)
{
	uint64_t h = hash_mix((uint64_t)(uintptr_t)key);
	size_t i = (size_t)h & (C->map_cap - 1);
	while (C->map[i].key && C->map[i].key != key)
		i = (i + 1) & (C->map_cap - 1);
	return i;
}

static int map_get(const compiler *C, const json_t *key, uint32_t *node)
{
	if (!C->map_cap)
		return 0;
	size_t i = map_slot(C, key);
	if (!C->map[i].key)
		return 0;
	*node = C->map[i].node;
	return 1;
}

static int map_put(compiler *C, const json_t *key, uint32_t node)
{
	if ((C->map_n + 1) * 2 > C->map_cap) {
		size_t ncap = C->map_cap ? C->map_cap * 2 : 64;
		map_entry *old = C->map;
		size_t oldcap = C->map_cap;
		C->map = calloc(ncap, sizeof *C->map);
		if (!C->map) {
			C->map = old;
			return -1;
		}
		C->map_cap = ncap;
		for (size_t i = 0; i < oldcap; i++)
			if (old[i].key)
				C->map[map_slot(C, old[i].key)] = old[i];
		free(old);
	}
	size_t i = map_slot(C, key);
	C->map[i].key = key;
	C->map[i].node = node;
	C->map_n++;
	return 0;
}

/*
 * The node of the subschema `v` at `path` (taken: freed on every path), made
 * and queued for compiling when first seen.
 */
static int c_node(compiler *C, const json_t *v, char *path, int depth, uint32_t *out)
{
	jsonschema *s = C->s;
	if (map_get(C, v, out)) {
		free(path);
		return 0;
	}
	if (s->nnodes >= JSONSCHEMA_MAX_SUBSCHEMAS) {
		free(path);
		return c_fail(C, "schema too large: more than %d subschemas",
			      JSONSCHEMA_MAX_SUBSCHEMAS);
	}
	if (depth > JSONSCHEMA_MAX_DEPTH) {
		c_fail(C, "%s: schema nested too deeply (more than %d levels)", path,
		       JSONSCHEMA_MAX_DEPTH);
		free(path);
		return -1;
	}
	if (s->nnodes >= C->info_cap) {
		uint32_t cap = C->info_cap ? C->info_cap * 2 : 16;
		const json_t **src = realloc(C->src, cap * sizeof *src);
		if (src)
			C->src = src;
		char **paths = src ? realloc(C->path, cap * sizeof *paths) : NULL;
		if (paths)
			C->path = paths;
		int *depths = paths ? realloc(C->depth, cap * sizeof *depths) : NULL;
		if (depths)
			C->depth = depths;
		if (!depths) {
			free(path);
			return c_nomem(C);
		}
		C->info_cap = cap;
	}
	if (GROW(s->nodes, C->nodes_cap, s->nnodes) < 0 || map_put(C, v, s->nnodes) < 0) {
		free(path);
		return c_nomem(C);
	}
	uint32_t idx = s->nnodes++;
	memset(&s->nodes[idx], 0, sizeof s->nodes[idx]);
	C->src[idx] = v;
	C->path[idx] = path;
	C->depth[idx] = depth;
	*out = idx;
	return 0;
}

/* The node of the subschema `v` found under keyword `kw` (and `key` or `index`) of `parent`. */
static int c_sub(compiler *C, uint32_t parent, const char *kw, const char *key, size_t keylen,
		 long index, const json_t *v, uint32_t *out)
{
	char *path = path_join(C->path[parent], kw, key, keylen, index);
	if (!path)
		return c_nomem(C);
	if (!json_is_object(v) && !json_is_boolean(v)) {
		c_fail(C, "%s: " MSG_NOT_SCHEMA, path);
		free(path);
		return -1;
	}
	return c_node(C, v, path, C->depth[parent] + 1, out);
}

/* A new keyword of the node being compiled; NULL when out of memory. */
static js_kw *c_kw(compiler *C, int op, uint8_t applies)
{
	jsonschema *s = C->s;
	if (GROW(s->kws, C->kws_cap, s->nkws) < 0) {
		c_nomem(C);
		return NULL;
	}
	js_kw *k = &s->kws[s->nkws++];
	memset(k, 0, sizeof *k);
	k->op = (uint8_t)op;
	k->applies = applies;
	return k;
}

static int c_push_sub(compiler *C, uint32_t node)
{
	jsonschema *s = C->s;
	if (GROW(s->subs, C->subs_cap, s->nsubs) < 0)
		return c_nomem(C);
	s->subs[s->nsubs++] = node;
	return 0;
}

static int c_push_prop(compiler *C, const char *name, size_t len, uint32_t node)
{
	jsonschema *s = C->s;
	if (GROW(s->props, C->props_cap, s->nprops) < 0)
		return c_nomem(C);
	s->props[s->nprops].name = name;
	s->props[s->nprops].len = len;
	s->props[s->nprops].node = node;
	s->nprops++;
	return 0;
}

/* A non-negative integer (1.0 counts), saturating at UINT64_MAX. */
static int c_count(compiler *C, uint32_t idx, const json_t *v, const char *kw, uint64_t *out)
{
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d >= 0 && d == floor(d)) {
			*out = d >= 18446744073709551616.0 ? UINT64_MAX : (uint64_t)d;
			return 0;
		}
	}
	return c_kwfail(C, idx, kw, MSG_COUNT);
}

/* A keyword holding a count: emitted as `op` when present. */
static int c_count_kw(compiler *C, uint32_t idx, const json_t *obj, const char *kw, int op,
		      uint8_t applies)
{
	const json_t *v = json_object_get(obj, kw);
	uint64_t count;
	if (!v)
		return 0;
	if (c_count(C, idx, v, kw, &count) < 0)
		return -1;
	js_kw *k = c_kw(C, op, applies);
	if (!k)
		return -1;
	k->count = count;
	return 0;
}

/* A keyword holding a number: emitted as `op` when present. */
static int c_number_kw(compiler *C, uint32_t idx, const json_t *obj, const char *kw, int op)
{
	const json_t *v = json_object_get(obj, kw);
	if (!v)
		return 0;
	if (!json_is_number(v))
		return c_kwfail(C, idx, kw, MSG_NUMBER);
	js_num num = num_of(v);
	if (op == OP_MULTIPLE_OF && num_cmp(&num, &(js_num){ 1, 0, 0.0 }) <= 0)
		return c_kwfail(C, idx, kw, "expected a number greater than 0");
	js_kw *k = c_kw(C, op, T_NUMBER);
	if (!k)
		return -1;
	k->num = num;
	if (op == OP_MULTIPLE_OF)
		k->dec = decimal_of(&num);
	return 0;
}

/* A single subschema under `kw`; *out is NODE_NONE when absent. */
static int c_schema_kw(compiler *C, uint32_t idx, const json_t *obj, const char *kw, uint32_t *out)
{
	const json_t *v = json_object_get(obj, kw);
	*out = NODE_NONE;
	if (!v)
		return 0;
	return c_sub(C, idx, kw, NULL, 0, -1, v, out);
}

/* A non-empty array of subschemas under `kw`, pushed to subs; *first and *n say where. */
static int c_schema_array(compiler *C, uint32_t idx, const json_t *obj, const char *kw,
			  uint32_t *first, uint32_t *n)
{
	const json_t *v = json_object_get(obj, kw);
	*n = 0;
	if (!v)
		return 0;
	if (!json_is_array(v) || json_array_size(v) == 0)
		return c_kwfail(C, idx, kw, "expected a non-empty array of schemas");
	*first = C->s->nsubs;
	for (size_t i = 0; i < json_array_size(v); i++) {
		uint32_t node;
		if (c_sub(C, idx, kw, NULL, 0, (long)i, json_array_get(v, i), &node) < 0 ||
		    c_push_sub(C, node) < 0)
			return -1;
	}
	*n = (uint32_t)json_array_size(v);
	return 0;
}

/* An object of subschemas under `kw`, pushed to props; *first and *n say where. */
static int c_schema_object(compiler *C, uint32_t idx, const json_t *obj, const char *kw,
			   uint32_t *first, uint32_t *n)
{
	const json_t *v = json_object_get(obj, kw);
	*n = 0;
	if (!v)
		return 0;
	if (!json_is_object(v))
		return c_kwfail(C, idx, kw, "expected an object of schemas");
	*first = C->s->nprops;
	for (void *it = json_object_iter((json_t *)v); it;
	     it = json_object_iter_next((json_t *)v, it)) {
		const char *key = json_object_iter_key(it);
		size_t len = json_object_iter_key_len(it);
		uint32_t node;
		if (c_sub(C, idx, kw, key, len, -1, json_object_iter_value(it), &node) < 0 ||
		    c_push_prop(C, key, len, node) < 0)
			return -1;
	}
	*n = C->s->nprops - *first;
	return 0;
}

/* An array of strings under `kw` (required, dependentRequired), pushed to props as names. */
static int c_names(compiler *C, uint32_t idx, const json_t *v, const char *kw, uint32_t *first,
		   uint32_t *n)
{
	if (!json_is_array(v))
		return c_kwfail(C, idx, kw, "expected an array of strings");
	*first = C->s->nprops;
	for (size_t i = 0; i < json_array_size(v); i++) {
		const json_t *name = json_array_get(v, i);
		if (!json_is_string(name))
			return c_kwfail(C, idx, kw, "expected an array of strings");
		if (c_push_prop(C, json_string_value(name), json_string_length(name), NODE_NONE) <
		    0)
			return -1;
	}
	*n = (uint32_t)json_array_size(v);
	return 0;
}

/* Compiles a pattern of the schema; the message names `where` (a keyword path). */
static int c_regex(compiler *C, const char *where, const char *pattern, size_t len, uint32_t *out)
{
	jsonschema *s = C->s;
	const char *why = NULL;
	if (GROW(s->regexes, C->regexes_cap, s->nregexes) < 0)
		return c_nomem(C);
	regex *re = &s->regexes[s->nregexes];
	if (regex_compile(re, pattern, len, &why) < 0) {
		regex_clear(re);
		return c_fail(C, "%s: unsupported pattern \"%.*s\": %s", where,
			      len > 200 ? 200 : (int)len, pattern, why);
	}
	s->nregexes++;
	if (regex_build_dfa(re, &C->dfa_work) < 0)
		return c_nomem(C);
	C->pattern_cost += re->n + re->nranges + re->nstates * re->nclasses / 8;
	if (C->pattern_cost > PATTERNS_MAX_COST)
		return c_fail(C, "%s: the schema's patterns are too large together", where);
	*out = s->nregexes - 1;
	return 0;
}

static int cmp_prop(const void *a, const void *b)
{
	const js_prop *x = a, *y = b;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->name, y->name, x->len);
}

/* Nonzero when `s` is a valid $anchor name: [A-Za-z_][-A-Za-z0-9._]*. */
static int anchor_valid(const char *s, size_t len)
{
	if (len == 0 ||
	    !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < len; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

static size_t anchor_slot(const compiler *C, const char *name, size_t len)
{
	size_t i = (size_t)hash_bytes(name, len) & (C->anchors_cap - 1);
	while (C->anchors[i].name &&
	       (C->anchors[i].len != len || memcmp(C->anchors[i].name, name, len) != 0))
		i = (i + 1) & (C->anchors_cap - 1);
	return i;
}

/* The anchor named `name`, or NULL. */
static const anchor *anchor_find(const compiler *C, const char *name, size_t len)
{
	if (!C->anchors_cap)
		return NULL;
	const anchor *a = &C->anchors[anchor_slot(C, name, len)];
	return a->name ? a : NULL;
}

static int anchor_put(compiler *C, const char *name, size_t len, uint32_t node)
{
	if ((C->nanchors + 1) * 2 > C->anchors_cap) {
		size_t ncap = C->anchors_cap ? C->anchors_cap * 2 : 16, oldcap = C->anchors_cap;
		anchor *old = C->anchors;
		C->anchors = calloc(ncap, sizeof *C->anchors);
		if (!C->anchors) {
			C->anchors = old;
			return -1;
		}
		C->anchors_cap = ncap;
		for (size_t i = 0; i < oldcap; i++)
			if (old[i].name)
				C->anchors[anchor_slot(C, old[i].name, old[i].len)] = old[i];
		free(old);
	}
	anchor *a = &C->anchors[anchor_slot(C, name, len)];
	a->name = name;
	a->len = len;
	a->node = node;
	C->nanchors++;
	return 0;
}

/* $anchor or $dynamicAnchor (`kw`) of node `idx`: a name for $ref "#name". */
static int c_anchor(compiler *C, uint32_t idx, const json_t *obj, const char *kw)
{
	const json_t *v = json_object_get(obj, kw);
	if (!v)
		return 0;
	if (!json_is_string(v) || !anchor_valid(json_string_value(v), json_string_length(v)))
		return c_kwfail(C, idx, kw,
				"expected a name: a letter or _, then letters, digits, - _ .");
	const char *name = json_string_value(v);
	size_t len = json_string_length(v);
	const anchor *a = anchor_find(C, name, len);
	if (a && a->node == idx)
		return 0; /* $anchor and $dynamicAnchor alike */
	if (a)
		return c_kwfail(C, idx, kw, "duplicate anchor \"%s\"", name);
	if (anchor_put(C, name, len, idx) < 0)
		return c_nomem(C);
	return 0;
}

/* The keywords this validator knows but does not implement: refused, not ignored. */
static const char *const unsupported_keywords[] = {
	"$dynamicRef",
	"unevaluatedProperties",
	"unevaluatedItems",
};

/* Identifiers and definitions: $id, $schema, $anchor, $dynamicAnchor, $defs. */
static int c_identifiers(compiler *C, uint32_t idx, const json_t *obj)
{
	for (size_t i = 0; i < sizeof unsupported_keywords / sizeof unsupported_keywords[0]; i++)
		if (json_object_get(obj, unsupported_keywords[i]))
			return c_kwfail(C, idx, unsupported_keywords[i], "keyword not supported");
	const json_t *v = json_object_get(obj, "$schema");
	if (v && !json_is_string(v))
		return c_kwfail(C, idx, "$schema", "expected a string");
	v = json_object_get(obj, "$id");
	if (v) {
		if (!json_is_string(v))
			return c_kwfail(C, idx, "$id", "expected a string");
		if (idx != 0)
			return c_kwfail(C, idx, "$id",
					"not supported below the root (references resolve "
					"within the document only)");
	}
	if (c_anchor(C, idx, obj, "$anchor") < 0 || c_anchor(C, idx, obj, "$dynamicAnchor") < 0)
		return -1;
	uint32_t first, n;
	return c_schema_object(C, idx, obj, "$defs", &first, &n);
}

/* type, const, enum. */
static int c_generic(compiler *C, uint32_t idx, const json_t *obj)
{
	static const struct {
		const char *name;
		uint8_t bits;
	} types[] = {
		{ "null", T_NULL },	   { "boolean", T_BOOL },  { "object", T_OBJECT },
		{ "array", T_ARRAY },	   { "number", T_NUMBER }, { "string", T_STRING },
		{ "integer", TY_INTEGER },
	};
	const json_t *v = json_object_get(obj, "type");
	if (v) {
		uint8_t mask = 0;
		size_t n = json_is_array(v) ? json_array_size(v) : 1;
		if (json_is_array(v) && n == 0)
			return c_kwfail(C, idx, "type", "expected a type name or an array of them");
		for (size_t i = 0; i < n; i++) {
			const json_t *t = json_is_array(v) ? json_array_get(v, i) : v;
			size_t k;
			if (!json_is_string(t))
				return c_kwfail(C, idx, "type",
						"expected a type name or an array of them");
			for (k = 0; k < sizeof types / sizeof types[0]; k++)
				if (strcmp(json_string_value(t), types[k].name) == 0)
					break;
			if (k == sizeof types / sizeof types[0])
				return c_kwfail(C, idx, "type", "unknown type \"%s\"",
						json_string_value(t));
			mask |= types[k].bits;
		}
		js_kw *k = c_kw(C, OP_TYPE, T_ALL);
		if (!k)
			return -1;
		k->a = mask;
	}
	v = json_object_get(obj, "const");
	if (v) {
		js_kw *k = c_kw(C, OP_CONST, T_ALL);
		if (!k)
			return -1;
		k->json = v;
		if (!(k->val = jsondoc_import(C->s->values, v, JSONSCHEMA_MAX_JSON_DEPTH)))
			return c_nomem(C);
	}
	v = json_object_get(obj, "enum");
	if (v) {
		if (!json_is_array(v))
			return c_kwfail(C, idx, "enum", "expected an array");
		js_kw *k = c_kw(C, OP_ENUM, T_ALL);
		if (!k)
			return -1;
		k->json = v;
		k->cost = (uint32_t)json_array_size(v);
		if (!(k->val = jsondoc_import(C->s->values, v, JSONSCHEMA_MAX_JSON_DEPTH)))
			return c_nomem(C);
	}
	return 0;
}

/* minimum ... multipleOf, minLength, maxLength, pattern. */
static int c_scalars(compiler *C, uint32_t idx, const json_t *obj)
{
	if (c_number_kw(C, idx, obj, "minimum", OP_MINIMUM) < 0 ||
	    c_number_kw(C, idx, obj, "exclusiveMinimum", OP_EXCL_MINIMUM) < 0 ||
	    c_number_kw(C, idx, obj, "maximum", OP_MAXIMUM) < 0 ||
	    c_number_kw(C, idx, obj, "exclusiveMaximum", OP_EXCL_MAXIMUM) < 0 ||
	    c_number_kw(C, idx, obj, "multipleOf", OP_MULTIPLE_OF) < 0 ||
	    c_count_kw(C, idx, obj, "minLength", OP_MIN_LENGTH, T_STRING) < 0 ||
	    c_count_kw(C, idx, obj, "maxLength", OP_MAX_LENGTH, T_STRING) < 0)
		return -1;
	const json_t *v = json_object_get(obj, "pattern");
	if (v) {
		uint32_t re;
		if (!json_is_string(v))
			return c_kwfail(C, idx, "pattern", "expected a string");
		char *where = path_join(C->path[idx], "pattern", NULL, 0, -1);
		if (!where)
			return c_nomem(C);
		int rc = c_regex(C, where, json_string_value(v), json_string_length(v), &re);
		free(where);
		if (rc < 0)
			return -1;
		js_kw *k = c_kw(C, OP_PATTERN, T_STRING);
		if (!k)
			return -1;
		k->a = re;
		k->json = v;
	}
	return 0;
}

/* minItems, maxItems, uniqueItems, prefixItems, items, contains, minContains, maxContains. */
static int c_arrays(compiler *C, uint32_t idx, const json_t *obj)
{
	if (c_count_kw(C, idx, obj, "minItems", OP_MIN_ITEMS, T_ARRAY) < 0 ||
	    c_count_kw(C, idx, obj, "maxItems", OP_MAX_ITEMS, T_ARRAY) < 0)
		return -1;
	const json_t *v = json_object_get(obj, "uniqueItems");
	if (v) {
		if (!json_is_boolean(v))
			return c_kwfail(C, idx, "uniqueItems", "expected true or false");
		if (json_is_true(v) && !c_kw(C, OP_UNIQUE_ITEMS, T_ARRAY))
			return -1;
	}
	uint32_t first, n, node;
	if (c_schema_array(C, idx, obj, "prefixItems", &first, &n) < 0)
		return -1;
	if (n) {
		js_kw *k = c_kw(C, OP_PREFIX_ITEMS, T_ARRAY);
		if (!k)
			return -1;
		k->a = first;
		k->n = n;
	}
	uint32_t nprefix = n;
	v = json_object_get(obj, "items");
	if (v && json_is_array(v))
		return c_kwfail(C, idx, "items",
				"expected a schema (an array of schemas is prefixItems in draft "
				"2020-12)");
	if (c_schema_kw(C, idx, obj, "items", &node) < 0)
		return -1;
	if (node != NODE_NONE && !json_is_true(v)) {
		js_kw *k = c_kw(C, OP_ITEMS, T_ARRAY);
		if (!k)
			return -1;
		k->a = node;
		k->n = nprefix;
	}
	uint64_t min = 1, max = UINT64_MAX;
	v = json_object_get(obj, "minContains");
	if (v && c_count(C, idx, v, "minContains", &min) < 0)
		return -1;
	v = json_object_get(obj, "maxContains");
	if (v && c_count(C, idx, v, "maxContains", &max) < 0)
		return -1;
	if (c_schema_kw(C, idx, obj, "contains", &node) < 0)
		return -1;
	if (node != NODE_NONE && (min > 0 || max != UINT64_MAX)) {
		js_kw *k = c_kw(C, OP_CONTAINS, T_ARRAY);
		if (!k)
			return -1;
		k->a = node;
		k->count = min;
		k->count2 = max;
	}
	return 0;
}

/* dependentRequired: an object of arrays of names. */
static int c_dependent_required(compiler *C, uint32_t idx, const json_t *obj)
{
	jsonschema *s = C->s;
	const json_t *v = json_object_get(obj, "dependentRequired");
	if (!v)
		return 0;
	if (!json_is_object(v))
		return c_kwfail(C, idx, "dependentRequired",
				"expected an object of arrays of strings");
	uint32_t first = s->ndeps;
	for (void *it = json_object_iter((json_t *)v); it;
	     it = json_object_iter_next((json_t *)v, it)) {
		uint32_t nfirst, n;
		if (c_names(C, idx, json_object_iter_value(it), "dependentRequired", &nfirst, &n) <
		    0)
			return -1;
		if (GROW(s->deps, C->deps_cap, s->ndeps) < 0)
			return c_nomem(C);
		js_dep *d = &s->deps[s->ndeps++];
		d->name = json_object_iter_key(it);
		d->len = json_object_iter_key_len(it);
		d->first = nfirst;
		d->count = n;
	}
	if (s->ndeps > first) {
		js_kw *k = c_kw(C, OP_DEPENDENT_REQUIRED, T_OBJECT);
		if (!k)
			return -1;
		k->a = first;
		k->n = s->ndeps - first;
		for (uint32_t i = first; i < s->ndeps; i++)
			k->cost += 1 + s->deps[i].count;
	}
	return 0;
}

/*
 * patternProperties and additionalProperties, checked in one pass over the
 * instance's members: a sorted copy of the names of `properties`
 * (props[pfirst .. pfirst + np)) says which members are not additional.
 */
static int c_other_properties(compiler *C, uint32_t idx, const json_t *obj, uint32_t pfirst,
			      uint32_t np)
{
	jsonschema *s = C->s;
	const json_t *pp = json_object_get(obj, "patternProperties");
	uint32_t additional = NODE_NONE;
	if (pp && !json_is_object(pp))
		return c_kwfail(C, idx, "patternProperties", "expected an object of schemas");
	uint32_t patfirst = s->npats;
	for (void *it = pp ? json_object_iter((json_t *)pp) : NULL; it;
	     it = json_object_iter_next((json_t *)pp, it)) {
		const char *key = json_object_iter_key(it);
		size_t len = json_object_iter_key_len(it);
		uint32_t re, node;
		char *where = path_join(C->path[idx], "patternProperties", key, len, -1);
		if (!where)
			return c_nomem(C);
		int rc = c_regex(C, where, key, len, &re);
		free(where);
		if (rc < 0 || c_sub(C, idx, "patternProperties", key, len, -1,
				    json_object_iter_value(it), &node) < 0)
			return -1;
		if (GROW(s->pats, C->pats_cap, s->npats) < 0)
			return c_nomem(C);
		s->pats[s->npats].regex = re;
		s->pats[s->npats].node = node;
		s->npats++;
	}
	const json_t *ap = json_object_get(obj, "additionalProperties");
	if (c_schema_kw(C, idx, obj, "additionalProperties", &additional) < 0)
		return -1;
	if (ap && (json_is_true(ap) || (json_is_object(ap) && json_object_size(ap) == 0)))
		additional = NODE_NONE;
	if (s->npats == patfirst && additional == NODE_NONE)
		return 0;
	uint32_t sorted = s->nprops;
	for (uint32_t i = 0; i < np; i++)
		if (c_push_prop(C, s->props[pfirst + i].name, s->props[pfirst + i].len, NODE_NONE) <
		    0)
			return -1;
	if (np)
		qsort(s->props + sorted, np, sizeof *s->props, cmp_prop);
	js_kw *k = c_kw(C, OP_OTHER_PROPERTIES, T_OBJECT);
	if (!k)
		return -1;
	k->a = sorted;
	k->n = np;
	k->b = patfirst;
	k->c = s->npats - patfirst;
	k->d = additional;
	return 0;
}

/* minProperties ... dependentSchemas. */
static int c_objects(compiler *C, uint32_t idx, const json_t *obj)
{
	if (c_count_kw(C, idx, obj, "minProperties", OP_MIN_PROPERTIES, T_OBJECT) < 0 ||
	    c_count_kw(C, idx, obj, "maxProperties", OP_MAX_PROPERTIES, T_OBJECT) < 0)
		return -1;
	uint32_t first = 0, n = 0, node;
	const json_t *v = json_object_get(obj, "required");
	if (v) {
		if (c_names(C, idx, v, "required", &first, &n) < 0)
			return -1;
		if (n) {
			js_kw *k = c_kw(C, OP_REQUIRED, T_OBJECT);
			if (!k)
				return -1;
			k->a = first;
			k->n = n;
			k->cost = n;
		}
	}
	if (c_dependent_required(C, idx, obj) < 0)
		return -1;
	if (c_schema_object(C, idx, obj, "properties", &first, &n) < 0)
		return -1;
	if (n) {
		js_kw *k = c_kw(C, OP_PROPERTIES, T_OBJECT);
		if (!k)
			return -1;
		k->a = first;
		k->n = n;
		k->cost = n;
	}
	if (c_other_properties(C, idx, obj, first, n) < 0)
		return -1;
	v = json_object_get(obj, "propertyNames");
	if (c_schema_kw(C, idx, obj, "propertyNames", &node) < 0)
		return -1;
	if (node != NODE_NONE && !json_is_true(v)) {
		js_kw *k = c_kw(C, OP_PROPERTY_NAMES, T_OBJECT);
		if (!k)
			return -1;
		k->a = node;
	}
	if (c_schema_object(C, idx, obj, "dependentSchemas", &first, &n) < 0)
		return -1;
	if (n) {
		js_kw *k = c_kw(C, OP_DEPENDENT_SCHEMAS, T_OBJECT);
		if (!k)
			return -1;
		k->a = first;
		k->n = n;
	}
	return 0;
}

/* $ref, allOf, anyOf, oneOf, not, if/then/else. */
static int c_applicators(compiler *C, uint32_t idx, const json_t *obj)
{
	static const struct {
		const char *name;
		int op;
	} lists[] = { { "allOf", OP_ALL_OF }, { "anyOf", OP_ANY_OF }, { "oneOf", OP_ONE_OF } };
	const json_t *v = json_object_get(obj, "$ref");
	if (v) {
		if (!json_is_string(v))
			return c_kwfail(C, idx, "$ref", "expected a string");
		if (GROW(C->refs, C->refs_cap, C->nrefs) < 0)
			return c_nomem(C);
		js_kw *k = c_kw(C, OP_REF, T_ALL);
		if (!k)
			return -1;
		k->a = NODE_NONE;
		k->json = v;
		C->refs[C->nrefs].kw = C->s->nkws - 1;
		C->refs[C->nrefs].node = idx;
		C->nrefs++;
	}
	for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
		uint32_t first, n;
		if (c_schema_array(C, idx, obj, lists[i].name, &first, &n) < 0)
			return -1;
		if (n) {
			js_kw *k = c_kw(C, lists[i].op, T_ALL);
			if (!k)
				return -1;
			k->a = first;
			k->n = n;
		}
	}
	uint32_t node, then_node, else_node;
	if (c_schema_kw(C, idx, obj, "not", &node) < 0)
		return -1;
	if (node != NODE_NONE) {
		js_kw *k = c_kw(C, OP_NOT, T_ALL);
		if (!k)
			return -1;
		k->a = node;
	}
	if (c_schema_kw(C, idx, obj, "if", &node) < 0 ||
	    c_schema_kw(C, idx, obj, "then", &then_node) < 0 ||
	    c_schema_kw(C, idx, obj, "else", &else_node) < 0)
		return -1;
	if (node != NODE_NONE && (then_node != NODE_NONE || else_node != NODE_NONE)) {
		js_kw *k = c_kw(C, OP_IF, T_ALL);
		if (!k)
			return -1;
		k->a = node;
		k->b = then_node;
		k->c = else_node;
	}
	return 0;
}

/* Compiles node `idx`: its keywords, appended together in evaluation order. */
static int c_compile_node(compiler *C, uint32_t idx)
{
	jsonschema *s = C->s;
	const json_t *obj = C->src[idx];
	if (!json_is_object(obj)) {
		s->nodes[idx].kind = json_is_true(obj) ? NODE_TRUE : NODE_FALSE;
		return 0;
	}
	uint32_t first = s->nkws;
	if (c_identifiers(C, idx, obj) < 0 || c_generic(C, idx, obj) < 0 ||
	    c_scalars(C, idx, obj) < 0 || c_arrays(C, idx, obj) < 0 || c_objects(C, idx, obj) < 0 ||
	    c_applicators(C, idx, obj) < 0)
		return -1;
	js_node *n = &s->nodes[idx];
	n->kw = first;
	n->nkw = s->nkws - first;
	n->kind = n->nkw ? NODE_KEYWORDS : NODE_TRUE;
	n->applies = 0;
	for (uint32_t i = first; i < s->nkws; i++)
		n->applies |= s->kws[i].applies;
	return 0;
}

/* Compiles the queued nodes. */
static int c_drain(compiler *C)
{
	while (C->next < C->s->nnodes)
		if (c_compile_node(C, C->next++) < 0)
			return -1;
	return 0;
}

/* Percent-decodes `len` bytes into `out` (room for `len`); returns the decoded length. */
static size_t percent_decode(const char *in, size_t len, char *out)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		int hi, lo;
		if (in[i] == '%' && i + 2 < len && (hi = hex_value(in[i + 1])) >= 0 &&
		    (lo = hex_value(in[i + 2])) >= 0) {
			out[n++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[n++] = in[i];
		}
	}
	return n;
}

/* Follows the JSON Pointer `p` (`len` bytes, starting with '/') from `root`; NULL if absent. */
static const json_t *pointer_get(const json_t *root, const char *p, size_t len, char *tok)
{
	const json_t *cur = root;
	size_t i = 0;
	while (cur && i < len) {
		size_t j = ++i, n = 0;
		for (; j < len && p[j] != '/'; j++) {
			if (p[j] != '~') {
				tok[n++] = p[j];
			} else if (j + 1 < len && (p[j + 1] == '0' || p[j + 1] == '1')) {
				tok[n++] = p[j + 1] == '0' ? '~' : '/';
				j++;
			} else {
				return NULL;
			}
		}
		if (json_is_object(cur)) {
			cur = json_object_getn(cur, tok, n);
		} else if (json_is_array(cur)) {
			size_t index = 0;
			if (n == 0 || n > 18 || (n > 1 && tok[0] == '0'))
				return NULL;
			for (size_t k = 0; k < n; k++) {
				if (tok[k] < '0' || tok[k] > '9')
					return NULL;
				index = index * 10 + (size_t)(tok[k] - '0');
			}
			cur = json_array_get(cur, index);
		} else {
			cur = NULL;
		}
		i = j;
	}
	return cur;
}

/* Resolves the $ref of pending reference `r` to a node, compiling its target if needed. */
static int c_resolve(compiler *C, const pending_ref *r)
{
	jsonschema *s = C->s;
	const json_t *refv = s->kws[r->kw].json;
	const char *ref = json_string_value(refv);
	size_t len = json_string_length(refv);
	const json_t *target = NULL;
	char *buf = NULL, *tok = NULL;
	int rc = -1;

	if (C->baselen && len >= C->baselen && memcmp(ref, C->base, C->baselen) == 0 &&
	    (len == C->baselen || ref[C->baselen] == '#')) {
		ref += C->baselen;
		len -= C->baselen;
	}
	if (len > 0 && ref[0] != '#') {
		c_kwfail(C, r->node, "$ref",
			 "unsupported reference \"%s\": only references within the document "
			 "(#, #/pointer, #anchor) are supported",
			 json_string_value(refv));
		goto done;
	}
	buf = malloc(len + 1);
	tok = malloc(len + 1);
	if (!buf || !tok) {
		c_nomem(C);
		goto done;
	}
	size_t n = len ? percent_decode(ref + 1, len - 1, buf) : 0;
	if (n == 0) {
		target = s->doc;
	} else if (buf[0] == '/') {
		target = pointer_get(s->doc, buf, n, tok);
	} else {
		const anchor *a = anchor_find(C, buf, n);
		if (a)
			target = C->src[a->node];
	}
	if (!target) {
		c_kwfail(C, r->node, "$ref", "reference \"%s\" does not resolve",
			 json_string_value(refv));
		goto done;
	}
	if (!json_is_object(target) && !json_is_boolean(target)) {
		c_kwfail(C, r->node, "$ref", "reference \"%s\" is not a schema",
			 json_string_value(refv));
		goto done;
	}
	uint32_t node;
	if (!map_get(C, target, &node)) {
		/* a location no keyword names: compiled now, as deep as its pointer */
		char *path = malloc(n + 1);
		int depth = 0;
		if (!path) {
			c_nomem(C);
			goto done;
		}
		memcpy(path, buf, n);
		path[n] = '\0';
		for (size_t i = 0; i < n; i++)
			depth += buf[i] == '/';
		if (c_node(C, target, path, depth, &node) < 0)
			goto done;
	}
	s->kws[r->kw].a = node;
	rc = 0;
done:
	free(buf);
	free(tok);
	return rc;
}

/* The nodes a node evaluates at the same instance location (in-place applicators). */
static uint32_t c_in_place(const jsonschema *s, uint32_t idx, uint32_t *out)
{
	uint32_t n = 0;
	const js_node *node = &s->nodes[idx];
	if (node->kind != NODE_KEYWORDS)
		return 0;
	for (uint32_t i = node->kw; i < node->kw + node->nkw; i++) {
		const js_kw *k = &s->kws[i];
		switch (k->op) {
		case OP_REF:
		case OP_NOT:
			if (out)
				out[n] = k->a;
			n++;
			break;
		case OP_IF:
			for (uint32_t j = 0; j < 3; j++) {
				uint32_t t = j == 0 ? k->a : j == 1 ? k->b : k->c;
				if (t == NODE_NONE)
					continue;
				if (out)
					out[n] = t;
				n++;
			}
			break;
		case OP_ALL_OF:
		case OP_ANY_OF:
		case OP_ONE_OF:
			for (uint32_t j = 0; j < k->n; j++) {
				if (out)
					out[n] = s->subs[k->a + j];
				n++;
			}
			break;
		case OP_DEPENDENT_SCHEMAS:
			for (uint32_t j = 0; j < k->n; j++) {
				if (out)
					out[n] = s->props[k->a + j].node;
				n++;
			}
			break;
		default:
			break;
		}
	}
	return n;
}

/* "#/a/b" for a node's location. */
static void c_put_location(const compiler *C, sbuf *b, uint32_t node)
{
	sb_puts(b, "#");
	sb_puts(b, C->path[node]);
}

/*
 * Refuses a cycle of in-place applicators ($ref, allOf, anyOf, oneOf, not,
 * if, then, else, dependentSchemas): evaluating it would never descend into
 * the instance. Also bounds how many evaluations of one value a node can
 * expand to. An iterative depth-first search over the in-place edges.
 */
static int c_check_loops(compiler *C)
{
	const jsonschema *s = C->s;
	uint32_t N = s->nnodes, nedges = 0;
	uint32_t *start = calloc((size_t)N + 1, sizeof *start);
	uint32_t *edges = NULL, *stack = NULL, *cursor = NULL;
	uint64_t *cost = NULL;
	uint8_t *color = NULL; /* 0 unvisited, 1 on the stack, 2 done */
	int rc = -1;

	if (!start)
		return c_nomem(C);
	for (uint32_t i = 0; i < N; i++) {
		start[i] = nedges;
		nedges += c_in_place(s, i, NULL);
	}
	start[N] = nedges;
	edges = malloc(((size_t)nedges + 1) * sizeof *edges);
	stack = malloc((size_t)N * sizeof *stack);
	cursor = malloc((size_t)N * sizeof *cursor);
	cost = calloc(N, sizeof *cost);
	color = calloc(N, 1);
	if (!edges || !stack || !cursor || !cost || !color) {
		c_nomem(C);
		goto done;
	}
	for (uint32_t i = 0; i < N; i++)
		c_in_place(s, i, edges + start[i]);

	for (uint32_t root = 0; root < N; root++) {
		if (color[root])
			continue;
		uint32_t sp = 0;
		stack[sp] = root;
		cursor[sp++] = start[root];
		color[root] = 1;
		while (sp) {
			uint32_t u = stack[sp - 1];
			if (cursor[sp - 1] < start[u + 1]) {
				uint32_t v = edges[cursor[sp - 1]++];
				if (color[v] == 1) {
					sbuf b;
					sb_init(&b, C->err, C->errlen);
					sb_puts(&b,
						"$ref loop that never descends into the instance: ");
					uint32_t from = sp - 1;
					while (stack[from] != v)
						from--;
					for (uint32_t k = from; k < sp; k++) {
						c_put_location(C, &b, stack[k]);
						sb_puts(&b, " -> ");
					}
					c_put_location(C, &b, v);
					sb_finish(&b);
					goto done;
				}
				if (color[v] == 0) {
					color[v] = 1;
					stack[sp] = v;
					cursor[sp++] = start[v];
				}
				continue;
			}
			uint64_t c = 1;
			for (uint32_t e = start[u]; e < start[u + 1]; e++)
				c += cost[edges[e]];
			if (c > JSONSCHEMA_MAX_EXPANSION) {
				c_fail(C,
				       "%s: subschemas expand to more than %d evaluations of one "
				       "value",
				       *C->path[u] ? C->path[u] : "the root schema",
				       JSONSCHEMA_MAX_EXPANSION);
				goto done;
			}
			cost[u] = c;
			color[u] = 2;
			sp--;
		}
	}
	rc = 0;
done:
	free(start);
	free(edges);
	free(stack);
	free(cursor);
	free(cost);
	free(color);
	return rc;
}

static void compiler_clear(compiler *C)
{
	if (C->path && C->s)
		for (uint32_t i = 0; i < C->s->nnodes; i++)
			free(C->path[i]);
	free(C->src);
	free(C->path);
	free(C->depth);
	free(C->map);
	free(C->anchors);
	free(C->refs);
}

/* ===== Validating ===== */

/* One step of the instance path: a member name, or an index when `key` is NULL. */
typedef struct vseg {
	const char *key;
	size_t len;
	size_t index;
} vseg;

typedef struct vctx {
	const jsonschema *s;
	char *err;
	size_t errlen;
	unsigned long left; /* steps left */
	unsigned long budget;
	int depth;
	int quiet; /* > 0 inside anyOf, oneOf, not, if, contains: failures are expected */
	int npath;
	vseg path[JSONSCHEMA_MAX_EVAL_DEPTH + 1];
} vctx;

/*
 * Writes "<instance path>: <message>" (the message alone at the root). A
 * path too long for the buffer is cut and marked with "..." so that the
 * message still shows.
 */
static void __attribute__((format(printf, 2, 0))) v_write(vctx *ctx, const char *fmt, va_list ap)
{
	char msg[MESSAGE_MAX];
	sbuf m, b, p;
	sb_init(&m, msg, sizeof msg);
	sb_vprintf(&m, fmt, ap);
	sb_finish(&m);
	sb_init(&b, ctx->err, ctx->errlen);
	if (ctx->npath) {
		size_t room = ctx->errlen > m.len + 6 ? ctx->errlen - m.len - 6 : 1;
		sb_init(&p, ctx->err, room + 1 < ctx->errlen ? room + 1 : ctx->errlen);
		for (int i = 0; i < ctx->npath && !p.cut; i++) {
			sb_puts(&p, "/");
			if (ctx->path[i].key)
				sb_pointer_token(&p, ctx->path[i].key, ctx->path[i].len);
			else
				sb_printf(&p, "%zu", ctx->path[i].index);
		}
		sb_finish(&p);
		b.len = p.len;
		if (p.cut)
			sb_puts(&b, "...");
		sb_puts(&b, ": ");
	}
	sb_puts(&b, msg);
	sb_finish(&b);
}

/* The instance is invalid: returns 1, with the message unless the failure is expected. */
static int __attribute__((format(printf, 2, 3))) v_fail(vctx *ctx, const char *fmt, ...)
{
	if (ctx->quiet || !ctx->err)
		return 1;
	va_list ap;
	va_start(ap, fmt);
	v_write(ctx, fmt, ap);
	va_end(ap);
	return 1;
}

/* Validation cannot finish: returns -1 with the message. */
static int __attribute__((format(printf, 2, 3))) v_error(vctx *ctx, const char *fmt, ...)
{
	if (!ctx->err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	v_write(ctx, fmt, ap);
	va_end(ap);
	return -1;
}

static void v_push_key(vctx *ctx, const char *key, size_t len)
{
	ctx->path[ctx->npath].key = key;
	ctx->path[ctx->npath].len = len;
	ctx->npath++;
}

static void v_push_index(vctx *ctx, size_t index)
{
	ctx->path[ctx->npath].key = NULL;
	ctx->path[ctx->npath].index = index;
	ctx->npath++;
}

static int v_budget_spent(vctx *ctx)
{
	return v_error(ctx, "validation stopped after %lu steps", ctx->budget);
}

static unsigned inst_kind(const jsonval *v)
{
	static const uint8_t kinds[] = {
		[JSONVAL_NULL] = T_NULL,   [JSONVAL_FALSE] = T_BOOL,
		[JSONVAL_TRUE] = T_BOOL,   [JSONVAL_INTEGER] = T_NUMBER,
		[JSONVAL_REAL] = T_NUMBER, [JSONVAL_STRING] = T_STRING,
		[JSONVAL_ARRAY] = T_ARRAY, [JSONVAL_OBJECT] = T_OBJECT,
	};
	return kinds[v->type];
}

static int v_node(vctx *ctx, uint32_t idx, const jsonval *inst);

/* Validates the member `key` of the current object against node `idx`. */
static int v_member(vctx *ctx, uint32_t idx, const jsonval *value, const char *key, size_t len)
{
	if (ctx->s->nodes[idx].kind == NODE_TRUE)
		return 0;
	v_push_key(ctx, key, len);
	int r = v_node(ctx, idx, value);
	ctx->npath--;
	return r;
}

/* Validates item `i` of the current array against node `idx`. */
static int v_item(vctx *ctx, uint32_t idx, const jsonval *value, size_t i)
{
	if (ctx->s->nodes[idx].kind == NODE_TRUE)
		return 0;
	v_push_index(ctx, i);
	int r = v_node(ctx, idx, value);
	ctx->npath--;
	return r;
}

/* Validates without reporting: 0 or 1 (the failure expected), or -1. */
static int v_quiet(vctx *ctx, uint32_t idx, const jsonval *inst)
{
	ctx->quiet++;
	int r = v_node(ctx, idx, inst);
	ctx->quiet--;
	return r;
}

/* "a compact JSON text of `v`" when short, for a message; `buf` holds it. */
static const char *v_show(const json_t *v, char *buf, size_t len)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!text || strlen(text) >= len) {
		free(text);
		return NULL;
	}
	snprintf(buf, len, "%s", text);
	free(text);
	return buf;
}

/* "integer", "string or null", "object, array or null". */
static void type_names(unsigned mask, char *buf, size_t len)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{ T_OBJECT, "object" }, { T_ARRAY, "array" },	   { T_STRING, "string" },
		{ T_NUMBER, "number" }, { TY_INTEGER, "integer" }, { T_BOOL, "boolean" },
		{ T_NULL, "null" },
	};
	size_t total = 0, done = 0;
	sbuf b;
	sb_init(&b, buf, len);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		total += (mask & names[i].bit) != 0;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (!(mask & names[i].bit))
			continue;
		if (done)
			sb_puts(&b, done + 1 == total ? " or " : ", ");
		sb_puts(&b, names[i].name);
		done++;
	}
}

static const char *plural(uint64_t n)
{
	return n == 1 ? "" : "s";
}

typedef struct hashed_item {
	uint64_t hash;
	size_t index;
} hashed_item;

static int cmp_hashed(const void *a, const void *b)
{
	const hashed_item *x = a, *y = b;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return (x->index > y->index) - (x->index < y->index);
}

/* uniqueItems: pairwise for short arrays, by sorted hashes for long ones. */
static int v_unique(vctx *ctx, const jsonval *arr)
{
	size_t n = arr->len, first = 0, second = 0;
	int found = 0;
	if (n <= UNIQUE_PAIRWISE_MAX) {
		for (size_t i = 0; i < n && !found; i++) {
			for (size_t j = i + 1; j < n && !found; j++) {
				int r = json_same(jsonval_item(arr, i), jsonval_item(arr, j), 0);
				if (r < 0)
					return v_error(ctx,
						       "array items nest too deeply to compare");
				if (r) {
					found = 1;
					first = i;
					second = j;
				}
			}
		}
	} else {
		hashed_item *items = malloc(n * sizeof *items);
		if (!items)
			return v_error(ctx, MSG_NO_MEMORY);
		if (ctx->left <= n) {
			free(items);
			return v_budget_spent(ctx);
		}
		ctx->left -= n;
		for (size_t i = 0; i < n; i++) {
			items[i].index = i;
			if (json_hash(jsonval_item(arr, i), 0, &items[i].hash) < 0) {
				free(items);
				return v_error(ctx, "array items nest too deeply to compare");
			}
		}
		qsort(items, n, sizeof *items, cmp_hashed);
		for (size_t i = 0; i + 1 < n; i++) {
			for (size_t j = i + 1; j < n && items[j].hash == items[i].hash; j++) {
				int r = json_same(jsonval_item(arr, items[i].index),
						  jsonval_item(arr, items[j].index), 0);
				if (r < 0) {
					free(items);
					return v_error(ctx,
						       "array items nest too deeply to compare");
				}
				if (r && (!found || items[i].index < first ||
					  (items[i].index == first && items[j].index < second))) {
					found = 1;
					first = items[i].index;
					second = items[j].index;
				}
			}
		}
		free(items);
	}
	if (found)
		return v_fail(ctx, "items %zu and %zu are equal (uniqueItems)", first, second);
	return 0;
}

/* contains, minContains, maxContains. */
static int v_contains(vctx *ctx, const js_kw *k, const jsonval *arr)
{
	uint64_t count = 0;
	for (size_t i = 0; i < arr->len; i++) {
		int r = v_quiet(ctx, k->a, jsonval_item(arr, i));
		if (r < 0)
			return r;
		if (r == 0 && ++count > k->count2)
			return v_fail(ctx, "expected at most %llu item%s matching contains",
				      (unsigned long long)k->count2, plural(k->count2));
		if (count >= k->count && k->count2 == UINT64_MAX)
			return 0;
	}
	if (count >= k->count)
		return 0;
	if (k->count == 1)
		return v_fail(ctx, "no item matches contains");
	return v_fail(ctx, "expected at least %llu items matching contains, found %llu",
		      (unsigned long long)k->count, (unsigned long long)count);
}

/* Binary search for a member name among sorted props[first .. first + n). */
static int props_has(const jsonschema *s, uint32_t first, uint32_t n, const char *key, size_t len)
{
	js_prop want = { key, len, 0 };
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = cmp_prop(&want, &s->props[first + mid]);
		if (c == 0)
			return 1;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

/* patternProperties and additionalProperties, over the members of `obj`. */
static int v_other_properties(vctx *ctx, const js_kw *k, const jsonval *obj)
{
	const jsonschema *s = ctx->s;
	for (const jsonmember *mb = obj->u.members, *end = mb + obj->len; mb < end; mb++) {
		const char *key = mb->key;
		size_t len = mb->keylen;
		const jsonval *value = &mb->value;
		if (ctx->left <= 1)
			return v_budget_spent(ctx);
		ctx->left--;
		int matched = k->n && props_has(s, k->a, k->n, key, len);
		for (uint32_t i = 0; i < k->c; i++) {
			const js_pat *p = &s->pats[k->b + i];
			int m = regex_match(&s->regexes[p->regex], key, len, &ctx->left);
			if (m < 0)
				return v_budget_spent(ctx);
			if (!m)
				continue;
			matched = 1;
			int r = v_member(ctx, p->node, value, key, len);
			if (r)
				return r;
		}
		if (matched || k->d == NODE_NONE)
			continue;
		if (s->nodes[k->d].kind == NODE_FALSE) {
			v_push_key(ctx, key, len);
			int r = v_fail(ctx, "additional property not allowed");
			ctx->npath--;
			return r;
		}
		int r = v_member(ctx, k->d, value, key, len);
		if (r)
			return r;
	}
	return 0;
}

/* propertyNames: each member name, as a string, against the subschema. */
static int v_property_names(vctx *ctx, const js_kw *k, const jsonval *obj)
{
	for (uint32_t m = 0; m < obj->len; m++) {
		const char *key = obj->u.members[m].key;
		size_t len = obj->u.members[m].keylen;
		jsonval name = { .type = JSONVAL_STRING, .len = (uint32_t)len, .u.s = key };
		int r = v_quiet(ctx, k->a, &name);
		if (r < 0)
			return r;
		if (r) {
			v_push_key(ctx, key, len);
			r = v_fail(ctx, "property name not allowed by propertyNames");
			ctx->npath--;
			return r;
		}
	}
	return 0;
}

/* The keywords about numbers. */
static int v_number(vctx *ctx, const js_kw *k, const jsonval *inst)
{
	static const char *const relation[] = { ">=", ">", "<=", "<" };
	js_num x = num_of_val(inst);
	int c = num_cmp(&x, &k->num), bad;
	char limit[40];
	switch (k->op) {
	case OP_MINIMUM:
		bad = c < 0;
		break;
	case OP_EXCL_MINIMUM:
		bad = c <= 0;
		break;
	case OP_MAXIMUM:
		bad = c > 0;
		break;
	case OP_EXCL_MAXIMUM:
		bad = c >= 0;
		break;
	default:
		if (num_multiple(&x, &k->num, &k->dec))
			return 0;
		num_format(&k->num, limit, sizeof limit);
		return v_fail(ctx, "expected a multiple of %s", limit);
	}
	if (!bad)
		return 0;
	num_format(&k->num, limit, sizeof limit);
	return v_fail(ctx, "expected a number %s %s", relation[k->op - OP_MINIMUM], limit);
}

/*
 * The failure of type, const or enum, saying what was expected. Apart
 * from v_keyword() so that its buffer is not on every recursive frame.
 */
static int __attribute__((noinline)) v_fail_value(vctx *ctx, const js_kw *k)
{
	char buf[MESSAGE_VALUE_MAX + 1];
	if (ctx->quiet)
		return 1;
	switch (k->op) {
	case OP_TYPE:
		type_names(k->a, buf, sizeof buf);
		return v_fail(ctx, "expected %s", buf);
	case OP_CONST:
		if (v_show(k->json, buf, sizeof buf))
			return v_fail(ctx, "expected %s (const)", buf);
		return v_fail(ctx, "not the value of const");
	default:
		if (v_show(k->json, buf, sizeof buf))
			return v_fail(ctx, "expected one of %s (enum)", buf);
		return v_fail(ctx, "not one of the values of enum");
	}
}

/* One keyword `k` on an instance of kind `kind` (one the keyword applies to). */
static int v_keyword(vctx *ctx, const js_kw *k, const jsonval *inst, unsigned kind)
{
	const jsonschema *s = ctx->s;
	int r;
	switch (k->op) {
	case OP_TYPE:
		if ((k->a & kind) ||
		    (kind == T_NUMBER && (k->a & TY_INTEGER) && num_integral(inst)))
			return 0;
		return v_fail_value(ctx, k);
	case OP_CONST:
		r = json_same(inst, k->val, 0);
		if (r < 0)
			return v_error(ctx, "value nests too deeply to compare");
		return r ? 0 : v_fail_value(ctx, k);
	case OP_ENUM:
		for (size_t i = 0; i < k->val->len; i++) {
			r = json_same(inst, jsonval_item(k->val, i), 0);
			if (r < 0)
				return v_error(ctx, "value nests too deeply to compare");
			if (r)
				return 0;
		}
		return v_fail_value(ctx, k);
	case OP_MINIMUM:
	case OP_EXCL_MINIMUM:
	case OP_MAXIMUM:
	case OP_EXCL_MAXIMUM:
	case OP_MULTIPLE_OF:
		return v_number(ctx, k, inst);
	case OP_MIN_LENGTH:
	case OP_MAX_LENGTH: {
		size_t len = inst->len;
		/* A code point takes 1 to 4 bytes: most strings need no counting. */
		if (k->op == OP_MIN_LENGTH ? len / 4 >= k->count : len <= k->count)
			return 0;
		len = utf8_length(inst->u.s, len);
		if (k->op == OP_MIN_LENGTH && len < k->count)
			return v_fail(ctx, "expected at least %llu character%s",
				      (unsigned long long)k->count, plural(k->count));
		if (k->op == OP_MAX_LENGTH && len > k->count)
			return v_fail(ctx, "expected at most %llu character%s",
				      (unsigned long long)k->count, plural(k->count));
		return 0;
	}
	case OP_PATTERN:
		r = regex_match(&s->regexes[k->a], inst->u.s, inst->len, &ctx->left);
		if (r < 0)
			return v_budget_spent(ctx);
		if (r)
			return 0;
		return v_fail(ctx, "does not match pattern \"%s\"", json_string_value(k->json));
	case OP_MIN_ITEMS:
		if (inst->len >= k->count)
			return 0;
		return v_fail(ctx, "expected at least %llu item%s", (unsigned long long)k->count,
			      plural(k->count));
	case OP_MAX_ITEMS:
		if (inst->len <= k->count)
			return 0;
		return v_fail(ctx, "expected at most %llu item%s", (unsigned long long)k->count,
			      plural(k->count));
	case OP_UNIQUE_ITEMS:
		return v_unique(ctx, inst);
	case OP_PREFIX_ITEMS:
		for (size_t i = 0; i < k->n && i < inst->len; i++)
			if ((r = v_item(ctx, s->subs[k->a + i], jsonval_item(inst, i), i)) != 0)
				return r;
		return 0;
	case OP_ITEMS:
		if (s->nodes[k->a].kind == NODE_FALSE && inst->len > k->n) {
			v_push_index(ctx, k->n);
			r = v_fail(ctx, "item not allowed (items is false)");
			ctx->npath--;
			return r;
		}
		for (size_t i = k->n; i < inst->len; i++)
			if ((r = v_item(ctx, k->a, jsonval_item(inst, i), i)) != 0)
				return r;
		return 0;
	case OP_CONTAINS:
		return v_contains(ctx, k, inst);
	case OP_MIN_PROPERTIES:
		if (inst->len >= k->count)
			return 0;
		return v_fail(ctx, "expected at least %llu propert%s", (unsigned long long)k->count,
			      k->count == 1 ? "y" : "ies");
	case OP_MAX_PROPERTIES:
		if (inst->len <= k->count)
			return 0;
		return v_fail(ctx, "expected at most %llu propert%s", (unsigned long long)k->count,
			      k->count == 1 ? "y" : "ies");
	case OP_REQUIRED:
		for (uint32_t i = k->a; i < k->a + k->n; i++)
			if (!jsonval_get(inst, s->props[i].name, s->props[i].len))
				return v_fail(ctx, "missing required property \"%s\"",
					      s->props[i].name);
		return 0;
	case OP_DEPENDENT_REQUIRED:
		for (uint32_t i = k->a; i < k->a + k->n; i++) {
			const js_dep *d = &s->deps[i];
			if (!jsonval_get(inst, d->name, d->len))
				continue;
			for (uint32_t j = d->first; j < d->first + d->count; j++)
				if (!jsonval_get(inst, s->props[j].name, s->props[j].len))
					return v_fail(ctx,
						      "missing property \"%s\" (required when "
						      "\"%s\" is present)",
						      s->props[j].name, d->name);
		}
		return 0;
	case OP_PROPERTIES:
		for (uint32_t i = k->a; i < k->a + k->n; i++) {
			const js_prop *p = &s->props[i];
			const jsonval *v = jsonval_get(inst, p->name, p->len);
			if (v && (r = v_member(ctx, p->node, v, p->name, p->len)) != 0)
				return r;
		}
		return 0;
	case OP_OTHER_PROPERTIES:
		return v_other_properties(ctx, k, inst);
	case OP_PROPERTY_NAMES:
		return v_property_names(ctx, k, inst);
	case OP_DEPENDENT_SCHEMAS:
		for (uint32_t i = k->a; i < k->a + k->n; i++) {
			const js_prop *p = &s->props[i];
			if (jsonval_get(inst, p->name, p->len) &&
			    (r = v_node(ctx, p->node, inst)) != 0)
				return r;
		}
		return 0;
	case OP_REF:
		return v_node(ctx, k->a, inst);
	case OP_ALL_OF:
		for (uint32_t i = k->a; i < k->a + k->n; i++)
			if ((r = v_node(ctx, s->subs[i], inst)) != 0)
				return r;
		return 0;
	case OP_ANY_OF:
		for (uint32_t i = k->a; i < k->a + k->n; i++)
			if ((r = v_quiet(ctx, s->subs[i], inst)) <= 0)
				return r;
		return v_fail(ctx, "does not match any schema of anyOf");
	case OP_ONE_OF: {
		uint32_t match = NODE_NONE;
		for (uint32_t i = k->a; i < k->a + k->n; i++) {
			if ((r = v_quiet(ctx, s->subs[i], inst)) < 0)
				return r;
			if (r)
				continue;
			if (match != NODE_NONE)
				return v_fail(ctx,
					      "matches schemas %u and %u of oneOf (expected one)",
					      match - k->a, i - k->a);
			match = i;
		}
		if (match == NODE_NONE)
			return v_fail(ctx, "does not match any schema of oneOf");
		return 0;
	}
	case OP_NOT:
		if ((r = v_quiet(ctx, k->a, inst)) < 0)
			return r;
		return r ? 0 : v_fail(ctx, "matches the schema of not");
	case OP_IF:
		if ((r = v_quiet(ctx, k->a, inst)) < 0)
			return r;
		if (r == 0)
			return k->b == NODE_NONE ? 0 : v_node(ctx, k->b, inst);
		return k->c == NODE_NONE ? 0 : v_node(ctx, k->c, inst);
	default:
		return v_error(ctx, "unknown keyword operation %d", k->op);
	}
}

/* Validates `inst` against node `idx`: 0 valid, 1 invalid, -1 cannot finish. */
static int v_node(vctx *ctx, uint32_t idx, const jsonval *inst)
{
	const jsonschema *s = ctx->s;
	const js_node *n = &s->nodes[idx];
	if (n->kind == NODE_TRUE)
		return 0;
	if (n->kind == NODE_FALSE)
		return v_fail(ctx, MSG_FALSE);
	unsigned kind = inst_kind(inst);
	if (!(n->applies & kind))
		return 0;
	if (ctx->left == 0)
		return v_budget_spent(ctx);
	ctx->left--;
	if (ctx->depth >= JSONSCHEMA_MAX_EVAL_DEPTH)
		return v_error(ctx, "validation nested more than %d levels deep",
			       JSONSCHEMA_MAX_EVAL_DEPTH);
	ctx->depth++;
	int r = 0;
	for (const js_kw *k = &s->kws[n->kw], *end = k + n->nkw; k < end && r == 0; k++) {
		if (!(k->applies & kind))
			continue;
		if (ctx->left <= k->cost) {
			r = v_budget_spent(ctx);
			break;
		}
		ctx->left -= k->cost;
		r = v_keyword(ctx, k, inst, kind);
	}
	ctx->depth--;
	return r;
}

/* ===== Public functions ===== */

jsonschema *jsonschema_compile(const json_t *schema, char *err, size_t errlen)
{
	compiler C;
	jsonschema *s = NULL;
	uint32_t root;

	memset(&C, 0, sizeof C);
	C.err = err;
	C.errlen = errlen;
	C.dfa_work = DFA_MAX_WORK;
	if (err && errlen)
		err[0] = '\0';
	if (!json_is_object(schema) && !json_is_boolean(schema)) {
		c_fail(&C, "a schema must be an object or a boolean");
		goto fail;
	}
	if (json_depth(schema, 0) > JSONSCHEMA_MAX_JSON_DEPTH) {
		c_fail(&C, "schema JSON nested too deeply (more than %d levels)",
		       JSONSCHEMA_MAX_JSON_DEPTH);
		goto fail;
	}
	s = calloc(1, sizeof *s);
	if (!s || !(s->doc = json_deep_copy(schema)) || !(s->values = jsondoc_new())) {
		c_nomem(&C);
		goto fail;
	}
	C.s = s;
	char *path = strdup("");
	if (!path) {
		c_nomem(&C);
		goto fail;
	}
	if (c_node(&C, s->doc, path, 0, &root) < 0)
		goto fail;
	const json_t *id = json_object_get(s->doc, "$id");
	if (json_is_string(id)) {
		const char *hash = memchr(json_string_value(id), '#', json_string_length(id));
		C.base = json_string_value(id);
		C.baselen = hash ? (size_t)(hash - C.base) : json_string_length(id);
	}
	if (c_drain(&C) < 0)
		goto fail;
	for (uint32_t i = 0; i < C.nrefs; i++)
		if (c_resolve(&C, &C.refs[i]) < 0 || c_drain(&C) < 0)
			goto fail;
	if (c_check_loops(&C) < 0)
		goto fail;
	compiler_clear(&C);
	return s;
fail:
	compiler_clear(&C);
	jsonschema_free(s);
	return NULL;
}

/* The start of every validation: 0, or -1 with a message when an argument is missing. */
static int v_begin(const jsonschema *s, const void *instance, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	if (s && instance)
		return 0;
	err_set(err, errlen, "no schema or no instance");
	return -1;
}

int jsonschema_validate_value(const jsonschema *s, const jsonval *instance, unsigned long max_steps,
			      char *err, size_t errlen)
{
	if (v_begin(s, instance, err, errlen) < 0)
		return -1;
	vctx ctx;
	ctx.s = s;
	ctx.err = errlen ? err : NULL;
	ctx.errlen = errlen;
	ctx.left = max_steps;
	ctx.budget = max_steps;
	ctx.depth = 0;
	ctx.quiet = 0;
	ctx.npath = 0;
	return v_node(&ctx, 0, instance);
}

int jsonschema_validate_limited(const jsonschema *s, const json_t *instance,
				unsigned long max_steps, char *err, size_t errlen)
{
	if (v_begin(s, instance, err, errlen) < 0)
		return -1;
	/* the validator reads one form of instance: jansson's tree is copied into it */
	jsondoc *doc = jsondoc_new();
	const jsonval *v = doc ? jsondoc_import(doc, instance, INSTANCE_MAX_DEPTH) : NULL;
	int r = -1;
	if (v)
		r = jsonschema_validate_value(s, v, max_steps, err, errlen);
	else
		err_set(err, errlen,
			"the instance cannot be read (nested more than %d levels deep, "
			"or out of memory)",
			INSTANCE_MAX_DEPTH);
	jsondoc_free(doc);
	return r;
}

int jsonschema_validate(const jsonschema *s, const json_t *instance, char *err, size_t errlen)
{
	return jsonschema_validate_limited(s, instance, JSONSCHEMA_MAX_STEPS, err, errlen);
}

int jsonschema_validate_text_limited(const jsonschema *s, const char *text, size_t len,
				     unsigned long max_steps, char *err, size_t errlen)
{
	if (v_begin(s, text, err, errlen) < 0)
		return -1;
	jsondoc *doc = jsondoc_parse(text, len, JSONSCHEMA_MAX_INSTANCE_DEPTH, err, errlen);
	if (!doc)
		return JSONSCHEMA_NOT_JSON;
	int r = jsonschema_validate_value(s, jsondoc_root(doc), max_steps, err, errlen);
	jsondoc_free(doc);
	return r;
}

int jsonschema_validate_text(const jsonschema *s, const char *text, size_t len, char *err,
			     size_t errlen)
{
	return jsonschema_validate_text_limited(s, text, len, JSONSCHEMA_MAX_STEPS, err, errlen);
}

void jsonschema_free(jsonschema *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->nregexes; i++)
		regex_clear(&s->regexes[i]);
	free(s->regexes);
	free(s->nodes);
	free(s->kws);
	free(s->subs);
	free(s->props);
	free(s->deps);
	free(s->pats);
	jsondoc_free(s->values);
	json_decref(s->doc);
	free(s);
}
