/* Read-only JSON documents in one arena: a fast parser for instances given as text. */
#include "jsondoc.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ===== The arena =====
 * Blocks are never freed one by one: the document is freed as a whole. The
 * first chunk shares the document's allocation, so that a small document
 * costs one malloc.
 */

typedef struct chunk {
	struct chunk *next;
} chunk;

struct jsondoc {
	jsonval root;
	chunk *chunks; /* chunks allocated after the first, newest first */
	char *cur, *end;
	size_t last_cap;
};

#define ALIGN 8
#define ARENA_MIN 512
#define round_up(n) (((n) + (ALIGN - 1)) & ~(size_t)(ALIGN - 1))

static jsondoc *doc_new(size_t first)
{
	first = round_up(first < ARENA_MIN ? ARENA_MIN : first);
	jsondoc *doc = malloc(round_up(sizeof *doc) + first);
	if (!doc)
		return NULL;
	doc->root.type = JSONVAL_NULL;
	doc->root.len = 0;
	doc->chunks = NULL;
	doc->cur = (char *)doc + round_up(sizeof *doc);
	doc->end = doc->cur + first;
	doc->last_cap = first;
	return doc;
}

/* `size` bytes aligned for any value of the tree; NULL when out of memory. */
static void *arena_alloc(jsondoc *doc, size_t size)
{
	size = round_up(size);
	if ((size_t)(doc->end - doc->cur) < size) {
		size_t cap = doc->last_cap * 2;
		if (cap < size)
			cap = size;
		if (cap > SIZE_MAX - round_up(sizeof(chunk)))
			return NULL;
		chunk *c = malloc(round_up(sizeof(chunk)) + cap);
		if (!c)
			return NULL;
		c->next = doc->chunks;
		doc->chunks = c;
		doc->cur = (char *)c + round_up(sizeof(chunk));
		doc->end = doc->cur + cap;
		doc->last_cap = cap;
	}
	void *p = doc->cur;
	doc->cur += size;
	return p;
}

/* ===== Objects: duplicate names and the hash index ===== */

uint32_t jsondoc_hash(const char *key, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 0x100000001b3ULL;
	}
	return (uint32_t)(h ^ (h >> 32));
}

/* Slots of the index of an object of `n` members: a power of two, at least 2n. */
static uint32_t index_cap(uint32_t n)
{
	uint32_t cap = 32;
	while (cap < 2 * n)
		cap *= 2;
	return cap;
}

/* Bytes of an object of `n` members: the members, then the index when it has one. */
static size_t object_size(uint32_t n)
{
	size_t size = (size_t)n * sizeof(jsonmember);
	if (n > JSONDOC_INDEX_MIN)
		size += (size_t)index_cap(n) * sizeof(uint32_t);
	return size;
}

static int same_name(const jsonmember *a, const jsonmember *b)
{
	return a->keylen == b->keylen && memcmp(a->key, b->key, a->keylen) == 0;
}

/*
 * Fills the index that follows `m[0 .. n)` (index_cap(n) slots) and merges
 * duplicate names as jansson does: the last value, at the first name's
 * place. Returns the number of members left; when it is below `n` the
 * members are compacted and the index is stale (the caller rebuilds it).
 */
static uint32_t index_build(jsonmember *m, uint32_t n)
{
	uint32_t cap = index_cap(n), mask = cap - 1, kept = 0;
	uint32_t *table = (uint32_t *)(m + n);
	memset(table, 0, (size_t)cap * sizeof *table);
	for (uint32_t j = 0; j < n; j++) {
		uint32_t h = jsondoc_hash(m[j].key, m[j].keylen), s = h & mask;
		m[j].hash = h;
		for (; table[s]; s = (s + 1) & mask) {
			jsonmember *x = &m[table[s] - 1];
			if (x->hash == h && same_name(x, &m[j]))
				break;
		}
		if (table[s]) {
			m[table[s] - 1].value = m[j].value;
			continue;
		}
		m[kept] = m[j];
		table[s] = ++kept;
	}
	return kept;
}

/* Merges duplicate names of a small object (no index) in place; returns the members left. */
static uint32_t merge_duplicates(jsonmember *m, uint32_t n)
{
	uint32_t kept = 0;
	for (uint32_t j = 0; j < n; j++) {
		uint32_t i;
		for (i = 0; i < kept && !same_name(&m[i], &m[j]); i++)
			;
		if (i < kept)
			m[i].value = m[j].value;
		else
			m[kept++] = m[j];
	}
	return kept;
}

const jsonval *jsonval_get(const jsonval *obj, const char *key, size_t len)
{
	const jsonmember *m = obj->u.members;
	uint32_t n = obj->len;
	if (n <= JSONDOC_INDEX_MIN) {
		/* names of one length usually differ in their first byte: no call then */
		for (uint32_t i = 0; i < n; i++)
			if (m[i].keylen == len && (len == 0 || m[i].key[0] == key[0]) &&
			    memcmp(m[i].key, key, len) == 0)
				return &m[i].value;
		return NULL;
	}
	const uint32_t *table = (const uint32_t *)(m + n);
	uint32_t h = jsondoc_hash(key, len), mask = index_cap(n) - 1;
	for (uint32_t s = h & mask; table[s]; s = (s + 1) & mask) {
		const jsonmember *x = &m[table[s] - 1];
		if (x->hash == h && x->keylen == len && memcmp(x->key, key, len) == 0)
			return &x->value;
	}
	return NULL;
}

/*
 * Stores the `n` members at `src` as the object `out`, in the arena, with
 * duplicates merged and the index built. -1 when out of memory.
 */
static int object_store(jsondoc *doc, const jsonmember *src, uint32_t n, jsonval *out)
{
	jsonmember *m = arena_alloc(doc, object_size(n));
	if (n && !m)
		return -1;
	if (n)
		memcpy(m, src, (size_t)n * sizeof *m);
	uint32_t kept = n > JSONDOC_INDEX_MIN ? index_build(m, n) : merge_duplicates(m, n);
	if (kept < n && kept > JSONDOC_INDEX_MIN) {
		/* duplicates in a large object: rare, so the first copy is simply left */
		jsonmember *again = arena_alloc(doc, object_size(kept));
		if (!again)
			return -1;
		memcpy(again, m, (size_t)kept * sizeof *m);
		(void)index_build(again, kept);
		m = again;
	}
	out->type = JSONVAL_OBJECT;
	out->len = kept;
	out->u.members = m;
	return 0;
}

/* ===== The parser ===== */

#define STACK_INLINE_VALUES 64
#define STACK_INLINE_MEMBERS 32

typedef struct parser {
	const char *text, *p, *end;
	jsondoc *doc;
	int depth, max_depth;
	const char *why; /* the first error, or NULL */
	const char *at;	 /* where it was found */
	/* items and members of the open containers, moved to the arena when one closes */
	jsonval *vals;
	jsonmember *mems;
	size_t nvals, vals_cap, nmems, mems_cap;
	jsonval vals_inline[STACK_INLINE_VALUES];
	jsonmember mems_inline[STACK_INLINE_MEMBERS];
} parser;

/* reasons told apart by address */
static const char why_no_memory[] = "out of memory";
static const char why_too_deep[] = "too deep";

static int fail_at(parser *P, const char *at, const char *why)
{
	if (!P->why) {
		P->why = why;
		P->at = at;
	}
	return -1;
}

/* Makes room for one more element in a stack that starts in the parser itself. */
static int stack_grow(void **stack, size_t *cap, size_t n, size_t size, void *inline_buf)
{
	if (n < *cap)
		return 0;
	size_t want = *cap * 2;
	void *p = *stack == inline_buf ? malloc(want * size) : realloc(*stack, want * size);
	if (!p)
		return -1;
	if (*stack == inline_buf)
		memcpy(p, inline_buf, n * size);
	*stack = p;
	*cap = want;
	return 0;
}

static void skip_space(parser *P)
{
	const char *p = P->p;
	while (p < P->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	P->p = p;
}

/*
 * The length of the UTF-8 sequence at `s` (a byte >= 0x80), or 0 when it
 * is not valid UTF-8: overlong forms, surrogates and code points beyond
 * U+10FFFF are refused, as jansson does.
 */
static size_t utf8_sequence(const unsigned char *s, const unsigned char *end)
{
	unsigned c = s[0], lo = 0x80, hi = 0xBF;
	size_t n;
	if (c < 0xC2 || c > 0xF4)
		return 0;
	if (c < 0xE0) {
		n = 2;
	} else if (c < 0xF0) {
		n = 3;
		lo = c == 0xE0 ? 0xA0 : 0x80;
		hi = c == 0xED ? 0x9F : 0xBF;
	} else {
		n = 4;
		lo = c == 0xF0 ? 0x90 : 0x80;
		hi = c == 0xF4 ? 0x8F : 0xBF;
	}
	if ((size_t)(end - s) < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return n;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/*
 * Nonzero when none of the 8 bytes at `p` needs a look inside a string:
 * no '"', no '\\', no control character, nothing beyond ASCII. (The
 * classic "has a zero byte" test on the word xored with each byte sought.)
 */
static int plain_word(const char *p)
{
	uint64_t w;
	memcpy(&w, p, sizeof w);
	uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');
	uint64_t special = ((q - ONES) & ~q) | ((b - ONES) & ~b) | ((w - ONES * 0x20) & ~w) | w;
	return (special & HIGHS) == 0;
}

/*
 * Finds the end of the string whose contents start at P->p, checking its
 * UTF-8 and control characters on the way; escapes are only skipped.
 * Leaves P->p on the closing quote; sets `*escaped` when there is a '\\'.
 */
static int string_scan(parser *P, int *escaped)
{
	const char *p = P->p, *end = P->end;
	for (;;) {
		while (end - p >= 8 && plain_word(p))
			p += 8;
		if (p >= end)
			return fail_at(P, end, "unterminated string");
		unsigned char c = (unsigned char)*p;
		if (c == '"')
			break;
		if (c == '\\') {
			if (end - p < 2)
				return fail_at(P, end, "unterminated string");
			*escaped = 1;
			p += 2;
		} else if (c < 0x20) {
			return fail_at(P, p, "control character in a string");
		} else if (c < 0x80) {
			p++;
		} else {
			size_t n =
				utf8_sequence((const unsigned char *)p, (const unsigned char *)end);
			if (!n)
				return fail_at(P, p, "invalid UTF-8");
			p += n;
		}
	}
	P->p = p;
	return 0;
}

static int hex4(const char *p, const char *end, uint32_t *out)
{
	uint32_t v = 0;
	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9'   ? c - '0'
			: c >= 'a' && c <= 'f' ? c - 'a' + 10
			: c >= 'A' && c <= 'F' ? c - 'A' + 10
					       : -1;
		if (d < 0)
			return -1;
		v = v * 16 + (uint32_t)d;
	}
	*out = v;
	return 0;
}

size_t jsondoc_utf8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * The \u escape at `p` (on the backslash), a surrogate pair taken whole:
 * writes the code point's UTF-8 to `out` and returns the bytes of text
 * read, or 0 for what jansson refuses (bad hex, lone surrogates, U+0000).
 */
static size_t unicode_escape(parser *P, const char *p, char *out, size_t *written)
{
	uint32_t cp, low;
	size_t used = 6;
	if (hex4(p + 2, P->end, &cp) < 0) {
		fail_at(P, p, "invalid \\u escape");
		return 0;
	}
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		if (P->end - p < 12 || p[6] != '\\' || p[7] != 'u' ||
		    hex4(p + 8, P->end, &low) < 0 || low < 0xDC00 || low > 0xDFFF) {
			fail_at(P, p, "invalid Unicode (a lone surrogate)");
			return 0;
		}
		cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
		used = 12;
	} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
		fail_at(P, p, "invalid Unicode (a lone surrogate)");
		return 0;
	} else if (cp == 0) {
		fail_at(P, p, "\\u0000 is not allowed");
		return 0;
	}
	*written = jsondoc_utf8_encode(cp, out);
	return used;
}

/* The character of a one-letter escape (\n...), or -1. */
static int simple_escape(char c)
{
	switch (c) {
	case '"':
	case '\\':
	case '/':
		return c;
	case 'b':
		return '\b';
	case 'f':
		return '\f';
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	default:
		return -1;
	}
}

/*
 * Decodes the escapes of the string [s, e) into the arena. The scan has
 * checked that every backslash is followed by a byte before `e`.
 */
static int string_decode(parser *P, const char *s, const char *e, const char **out, uint32_t *len)
{
	char *buf = arena_alloc(P->doc, (size_t)(e - s) + 1), *w = buf;
	if (!buf)
		return fail_at(P, s, why_no_memory);
	while (s < e) {
		const char *bs = memchr(s, '\\', (size_t)(e - s));
		size_t run = bs ? (size_t)(bs - s) : (size_t)(e - s);
		memcpy(w, s, run);
		w += run;
		s += run;
		if (!bs)
			break;
		int c = simple_escape(s[1]);
		if (c >= 0) {
			*w++ = (char)c;
			s += 2;
		} else if (s[1] == 'u') {
			size_t written = 0, used = unicode_escape(P, s, w, &written);
			if (!used)
				return -1;
			w += written;
			s += used;
		} else {
			return fail_at(P, s, "invalid escape");
		}
	}
	*w = '\0';
	*out = buf;
	*len = (uint32_t)(w - buf);
	return 0;
}

/* A string at P->p (on its opening quote): borrowed from the text unless it has escapes. */
static int parse_string(parser *P, const char **out, uint32_t *len)
{
	const char *start = ++P->p;
	int escaped = 0;
	if (string_scan(P, &escaped) < 0)
		return -1;
	const char *e = P->p++;
	if (escaped)
		return string_decode(P, start, e, out, len);
	*out = start;
	*len = (uint32_t)(e - start);
	return 0;
}

static int is_digit(const char *p, const char *end)
{
	return p < end && *p >= '0' && *p <= '9';
}

/* strtod on the number [s, e), which is not NUL-terminated in the text. */
static int number_strtod(parser *P, const char *s, const char *e, double *out)
{
	char small[64], *buf = small;
	size_t n = (size_t)(e - s);
	if (n >= sizeof small && !(buf = malloc(n + 1)))
		return fail_at(P, s, why_no_memory);
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	double d = strtod(buf, NULL);
	int overflow = errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL);
	if (buf != small)
		free(buf);
	if (overflow)
		return fail_at(P, s, "real number overflow");
	*out = d;
	return 0;
}

/*
 * The double of a decimal mantissa × 10^exp when both fit the exact fast
 * path (the mantissa below 2^53, 10^|exp| exact): one correctly rounded
 * operation, the value strtod would give. Returns 0 when it does not fit.
 */
static int number_fast(uint64_t mant, int exp, double *out)
{
	static const double pow10[] = { 1e0,  1e1,  1e2,  1e3,	1e4,  1e5,  1e6,  1e7,
					1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
					1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };
	if (mant > (1ULL << 53) || exp < -22 || exp > 22)
		return 0;
	*out = exp < 0 ? (double)mant / pow10[-exp] : (double)mant * pow10[exp];
	return 1;
}

/* A number at P->p, with RFC 8259's grammar; an INTEGER when it can be one. */
static int parse_number(parser *P, jsonval *out)
{
	const char *s = P->p, *p = s, *end = P->end;
	int neg = p < end && *p == '-', real = 0, exact = 1, exp = 0;
	uint64_t mant = 0;
	p += neg;
	if (!is_digit(p, end))
		return fail_at(P, s, "invalid number");
	if (*p == '0' && is_digit(p + 1, end))
		return fail_at(P, s, "invalid number (a leading zero)");
	for (; is_digit(p, end); p++) {
		if (mant > (UINT64_MAX - 9) / 10) {
			exact = 0;
			exp++;
		} else {
			mant = mant * 10 + (uint64_t)(*p - '0');
		}
	}
	if (p < end && *p == '.') {
		real = 1;
		if (!is_digit(++p, end))
			return fail_at(P, s, "invalid number");
		for (; is_digit(p, end); p++) {
			if (mant > (UINT64_MAX - 9) / 10) {
				exact = 0;
			} else {
				mant = mant * 10 + (uint64_t)(*p - '0');
				exp--;
			}
		}
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		real = 1;
		p++;
		int eneg = p < end && (*p == '-' || *p == '+') ? *p++ == '-' : 0;
		if (!is_digit(p, end))
			return fail_at(P, s, "invalid number");
		long e = 0;
		for (; is_digit(p, end); p++)
			if (e < 100000)
				e = e * 10 + (*p - '0');
		exp += (int)(eneg ? -e : e);
	}
	P->p = p;
	if (!real && exact && (mant <= INT64_MAX || (neg && mant == (uint64_t)INT64_MAX + 1))) {
		out->type = JSONVAL_INTEGER;
		out->u.i = neg ? (int64_t)(0 - mant) : (int64_t)mant;
		return 0;
	}
	out->type = JSONVAL_REAL;
	if (exact && number_fast(mant, exp, &out->u.d)) {
		if (neg)
			out->u.d = -out->u.d;
		return 0;
	}
	return number_strtod(P, s, p, &out->u.d);
}

static int parse_value(parser *P, jsonval *out);

static int expect_more(parser *P, char close)
{
	skip_space(P);
	if (P->p < P->end && *P->p == ',') {
		P->p++;
		return 1;
	}
	if (P->p < P->end && *P->p == close) {
		P->p++;
		return 0;
	}
	return fail_at(P, P->p, close == ']' ? "expected ',' or ']'" : "expected ',' or '}'");
}

static int parse_member(parser *P, jsonmember *m)
{
	skip_space(P);
	if (P->p >= P->end || *P->p != '"')
		return fail_at(P, P->p, "expected a member name");
	if (parse_string(P, &m->key, &m->keylen) < 0)
		return -1;
	m->hash = 0;
	skip_space(P);
	if (P->p >= P->end || *P->p != ':')
		return fail_at(P, P->p, "expected ':'");
	P->p++;
	return parse_value(P, &m->value);
}

/* Parses one member (of an object) or item (of an array) onto its stack. */
static int parse_element(parser *P, int object)
{
	if (object) {
		jsonmember m;
		if (parse_member(P, &m) < 0)
			return -1;
		if (stack_grow((void **)&P->mems, &P->mems_cap, P->nmems, sizeof m,
			       P->mems_inline) < 0)
			return fail_at(P, P->p, why_no_memory);
		P->mems[P->nmems++] = m;
		return 0;
	}
	jsonval v;
	if (parse_value(P, &v) < 0)
		return -1;
	if (stack_grow((void **)&P->vals, &P->vals_cap, P->nvals, sizeof v, P->vals_inline) < 0)
		return fail_at(P, P->p, why_no_memory);
	P->vals[P->nvals++] = v;
	return 0;
}

/* Moves the items pushed since `base` into the arena as the array `out`. */
static int array_store(parser *P, size_t base, jsonval *out)
{
	size_t n = P->nvals - base;
	jsonval *items = arena_alloc(P->doc, n * sizeof *items);
	if (!items)
		return -1;
	memcpy(items, P->vals + base, n * sizeof *items);
	out->len = (uint32_t)n;
	out->u.items = items;
	return 0;
}

/* An array or an object at P->p (on its bracket), one level deeper than its container. */
static int parse_container(parser *P, jsonval *out, int object)
{
	char close = object ? '}' : ']';
	size_t base = object ? P->nmems : P->nvals;
	int more;
	out->type = object ? JSONVAL_OBJECT : JSONVAL_ARRAY;
	out->u.items = NULL;
	if (++P->depth > P->max_depth)
		return fail_at(P, P->p, why_too_deep);
	P->p++;
	skip_space(P);
	if (P->p < P->end && *P->p == close) {
		P->p++;
		P->depth--;
		return 0;
	}
	do {
		if (parse_element(P, object) < 0)
			return -1;
	} while ((more = expect_more(P, close)) > 0);
	if (more < 0)
		return -1;
	int rc = object ? object_store(P->doc, P->mems + base, (uint32_t)(P->nmems - base), out)
			: array_store(P, base, out);
	if (rc < 0)
		return fail_at(P, P->p, why_no_memory);
	if (object)
		P->nmems = base;
	else
		P->nvals = base;
	P->depth--;
	return 0;
}

/* `word` (true, false, null) at P->p. */
static int parse_word(parser *P, const char *word, size_t n, uint8_t type, jsonval *out)
{
	if ((size_t)(P->end - P->p) < n || memcmp(P->p, word, n) != 0)
		return fail_at(P, P->p, "invalid token");
	P->p += n;
	out->type = type;
	out->len = 0;
	return 0;
}

static int parse_value(parser *P, jsonval *out)
{
	skip_space(P);
	if (P->p >= P->end)
		return fail_at(P, P->p, "unexpected end of text");
	out->len = 0;
	switch (*P->p) {
	case '{':
		return parse_container(P, out, 1);
	case '[':
		return parse_container(P, out, 0);
	case '"':
		out->type = JSONVAL_STRING;
		return parse_string(P, &out->u.s, &out->len);
	case 't':
		return parse_word(P, "true", 4, JSONVAL_TRUE, out);
	case 'f':
		return parse_word(P, "false", 5, JSONVAL_FALSE, out);
	case 'n':
		return parse_word(P, "null", 4, JSONVAL_NULL, out);
	default:
		if (*P->p == '-' || (*P->p >= '0' && *P->p <= '9'))
			return parse_number(P, out);
		return fail_at(P, P->p, "invalid token");
	}
}

static void __attribute__((format(printf, 3, 4)))
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void parser_report(const parser *P, char *err, size_t errlen)
{
	if (P->why == why_no_memory)
		set_err(err, errlen, "%s", why_no_memory);
	else if (P->why == why_too_deep)
		set_err(err, errlen, "JSON nested more than %d levels deep", P->max_depth);
	else
		set_err(err, errlen, "invalid JSON at byte %zu: %s", (size_t)(P->at - P->text),
			P->why);
}

jsondoc *jsondoc_parse(const char *text, size_t len, int max_depth, char *err, size_t errlen)
{
	set_err(err, errlen, "%s", "");
	if (!text || len >= UINT32_MAX) {
		set_err(err, errlen, "%s", text ? "JSON text of 4 GiB or more" : "no JSON text");
		return NULL;
	}
	parser P;
	P.text = P.p = text;
	P.end = text + len;
	P.depth = 0;
	P.max_depth = max_depth;
	P.why = NULL;
	P.at = text;
	P.vals = P.vals_inline;
	P.mems = P.mems_inline;
	P.nvals = P.nmems = 0;
	P.vals_cap = STACK_INLINE_VALUES;
	P.mems_cap = STACK_INLINE_MEMBERS;
	/* a 1 KB object of short members takes about its size again in values */
	P.doc = doc_new(len + len / 2);
	if (!P.doc) {
		set_err(err, errlen, "%s", why_no_memory);
		return NULL;
	}
	if (parse_value(&P, &P.doc->root) == 0) {
		skip_space(&P);
		if (P.p < P.end)
			fail_at(&P, P.p, "text after the value");
	}
	if (P.vals != P.vals_inline)
		free(P.vals);
	if (P.mems != P.mems_inline)
		free(P.mems);
	if (P.why) {
		parser_report(&P, err, errlen);
		jsondoc_free(P.doc);
		return NULL;
	}
	return P.doc;
}

/* ===== Documents from jansson ===== */

jsondoc *jsondoc_new(void)
{
	return doc_new(0);
}

static int import_value(jsondoc *doc, const json_t *v, int depth, jsonval *out);

static int import_object(jsondoc *doc, const json_t *v, int depth, jsonval *out)
{
	size_t n = json_object_size(v);
	if (n >= UINT32_MAX / 2)
		return -1;
	jsonmember *m = arena_alloc(doc, object_size((uint32_t)n));
	if (n && !m)
		return -1;
	size_t i = 0;
	for (void *it = json_object_iter((json_t *)v); it && i < n;
	     it = json_object_iter_next((json_t *)v, it), i++) {
		m[i].key = json_object_iter_key(it);
		m[i].keylen = (uint32_t)json_object_iter_key_len(it);
		m[i].hash = 0;
		if (import_value(doc, json_object_iter_value(it), depth - 1, &m[i].value) < 0)
			return -1;
	}
	if (n > JSONDOC_INDEX_MIN)
		(void)index_build(m, (uint32_t)n); /* jansson's names are unique */
	out->type = JSONVAL_OBJECT;
	out->len = (uint32_t)n;
	out->u.members = m;
	return 0;
}

/* Copies `v` into `out`; `depth` is the nesting still allowed. */
static int import_value(jsondoc *doc, const json_t *v, int depth, jsonval *out)
{
	out->len = 0;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		if (depth < 1)
			return -1;
		return import_object(doc, v, depth, out);
	case JSON_ARRAY: {
		size_t n = json_array_size(v);
		if (depth < 1 || n >= UINT32_MAX / sizeof(jsonval))
			return -1;
		jsonval *items = arena_alloc(doc, n * sizeof *items);
		if (n && !items)
			return -1;
		for (size_t i = 0; i < n; i++)
			if (import_value(doc, json_array_get(v, i), depth - 1, &items[i]) < 0)
				return -1;
		out->type = JSONVAL_ARRAY;
		out->len = (uint32_t)n;
		out->u.items = items;
		return 0;
	}
	case JSON_STRING:
		if (json_string_length(v) >= UINT32_MAX)
			return -1;
		out->type = JSONVAL_STRING;
		out->len = (uint32_t)json_string_length(v);
		out->u.s = json_string_value(v);
		return 0;
	case JSON_INTEGER:
		out->type = JSONVAL_INTEGER;
		out->u.i = json_integer_value(v);
		return 0;
	case JSON_REAL:
		out->type = JSONVAL_REAL;
		out->u.d = json_real_value(v);
		return 0;
	case JSON_TRUE:
		out->type = JSONVAL_TRUE;
		return 0;
	case JSON_FALSE:
		out->type = JSONVAL_FALSE;
		return 0;
	default:
		out->type = JSONVAL_NULL;
		return 0;
	}
}

const jsonval *jsondoc_import(jsondoc *doc, const json_t *v, int max_depth)
{
	jsonval *out = doc && v ? arena_alloc(doc, sizeof *out) : NULL;
	if (!out || import_value(doc, v, max_depth, out) < 0)
		return NULL;
	return out;
}

const jsonval *jsondoc_root(const jsondoc *doc)
{
	return &doc->root;
}

void jsondoc_free(jsondoc *doc)
{
	if (!doc)
		return;
	for (chunk *c = doc->chunks, *next; c; c = next) {
		next = c->next;
		free(c);
	}
	free(doc);
}
