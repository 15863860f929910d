/* Prometheus metrics: counters, gauges and histograms in one registry per process. */
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Not thread-safe: every process updates its metrics from its one event
 * loop thread.
 */

typedef enum {
	KIND_COUNTER,
	KIND_GAUGE,
	KIND_HISTOGRAM
} metric_kind;

static const char *const kind_names[] = {
	[KIND_COUNTER] = "counter",
	[KIND_GAUGE] = "gauge",
	[KIND_HISTOGRAM] = "histogram",
};

#define CHILD_BUCKETS_MIN 16

/*
 * A family and each of its labelled children are both `metric`. A family
 * owns its name, help, bounds and children; a child owns its label string
 * (`route="/v1/me",status="200"`, values already escaped), which is also
 * its key in the family's hash table.
 */
struct metric {
	metric_kind kind;
	metric *family; /* NULL for a family */

	/* Family only. */
	char *name;
	char *help;
	double *bounds;
	size_t nbounds;
	int used;	   /* the unlabelled series was touched */
	metric **table;	   /* children by label hash, chained by `hash_next` */
	size_t table_size; /* a power of two, or 0 */
	size_t nchildren;
	metric *first, *last; /* children in creation order, by `next` */
	metric *next_family;

	/* Child only. */
	char *labels;
	uint64_t hash;
	metric *hash_next;
	metric *next;

	/* Values. */
	double value;
	double sum;
	uint64_t count;
	uint64_t *buckets; /* per bound, not cumulative; the +Inf one is `count` */
};

static metric *families_first, *families_last;

const double METRICS_LATENCY_BOUNDS[] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
const size_t METRICS_LATENCY_BOUNDS_N =
	sizeof METRICS_LATENCY_BOUNDS / sizeof METRICS_LATENCY_BOUNDS[0];

/* ===== A growing string ===== */

/* A byte buffer that starts on the stack; `failed` once an allocation failed. */
typedef struct strbuf {
	char *p;
	size_t len, cap;
	int heap, failed;
	char small[256];
} strbuf;

static void sb_init(strbuf *sb)
{
	sb->p = sb->small;
	sb->len = 0;
	sb->cap = sizeof sb->small;
	sb->heap = 0;
	sb->failed = 0;
	sb->small[0] = '\0';
}

static void sb_release(strbuf *sb)
{
	if (sb->heap)
		free(sb->p);
	sb_init(sb);
}

/* Makes room for `n` more bytes and a NUL. Returns 0, or -1 (and sets `failed`). */
static int sb_reserve(strbuf *sb, size_t n)
{
	if (sb->failed)
		return -1;
	if (sb->len + n + 1 <= sb->cap)
		return 0;
	size_t cap = sb->cap * 2;
	while (cap < sb->len + n + 1)
		cap *= 2;
	char *p = sb->heap ? realloc(sb->p, cap) : malloc(cap);
	if (!p) {
		sb->failed = 1;
		return -1;
	}
	if (!sb->heap)
		memcpy(p, sb->p, sb->len + 1);
	sb->p = p;
	sb->cap = cap;
	sb->heap = 1;
	return 0;
}

static void sb_putn(strbuf *sb, const char *s, size_t n)
{
	if (sb_reserve(sb, n) < 0)
		return;
	memcpy(sb->p + sb->len, s, n);
	sb->len += n;
	sb->p[sb->len] = '\0';
}

static void sb_puts(strbuf *sb, const char *s)
{
	sb_putn(sb, s, strlen(s));
}

/*
 * Appends `s` escaped for the text format: backslash and newline always,
 * the double quote too when `quote` is set (label values; HELP keeps it).
 */
static void sb_put_escaped(strbuf *sb, const char *s, int quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			sb_puts(sb, "\\\\");
		else if (*s == '\n')
			sb_puts(sb, "\\n");
		else if (*s == '"' && quote)
			sb_puts(sb, "\\\"");
		else
			sb_putn(sb, s, 1);
	}
}

/*
 * Appends `v` as Prometheus reads floats: "+Inf", "-Inf", "NaN", else the
 * shortest of %.15g and %.17g that reads back as the same double.
 */
static void sb_put_double(strbuf *sb, double v)
{
	char tmp[40];
	if (isnan(v)) {
		sb_puts(sb, "NaN");
		return;
	}
	if (isinf(v)) {
		sb_puts(sb, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	snprintf(tmp, sizeof tmp, "%.15g", v);
	if (strtod(tmp, NULL) != v)
		snprintf(tmp, sizeof tmp, "%.17g", v);
	sb_puts(sb, tmp);
}

/* ===== Families and children ===== */

/* FNV-1a, 64 bits. */
static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

/* Frees a child or a family with its children. NULL-safe. */
static void metric_free(metric *m)
{
	if (!m)
		return;
	for (metric *c = m->first, *next; c; c = next) {
		next = c->next;
		metric_free(c);
	}
	free(m->name);
	free(m->help);
	free(m->bounds);
	free(m->table);
	free(m->labels);
	free(m->buckets);
	free(m);
}

/*
 * Allocates the bucket counters of a histogram family or child (`nbounds`
 * of them). Returns 0 or -1.
 */
static int alloc_buckets(metric *m, size_t nbounds)
{
	if (m->kind != KIND_HISTOGRAM || nbounds == 0)
		return 0;
	m->buckets = calloc(nbounds, sizeof *m->buckets);
	return m->buckets ? 0 : -1;
}

/*
 * The family called `name`, created when new. Returns NULL when a family
 * of that name has another kind, the bounds are not strictly increasing,
 * or allocation fails.
 */
static metric *family_get(metric_kind kind, const char *name, const char *help,
			  const double *bounds, size_t n)
{
	if (!name)
		return NULL;
	for (metric *f = families_first; f; f = f->next_family) {
		if (strcmp(f->name, name) == 0)
			return f->kind == kind ? f : NULL;
	}
	for (size_t i = 1; i < n; i++) {
		if (!(bounds[i] > bounds[i - 1]))
			return NULL;
	}

	metric *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->kind = kind;
	f->name = strdup(name);
	f->help = strdup(help ? help : "");
	if (!f->name || !f->help)
		goto fail;
	if (kind == KIND_HISTOGRAM && n > 0) {
		f->bounds = malloc(n * sizeof *f->bounds);
		if (!f->bounds)
			goto fail;
		memcpy(f->bounds, bounds, n * sizeof *f->bounds);
		f->nbounds = n;
		if (alloc_buckets(f, n) < 0)
			goto fail;
	}
	if (families_last)
		families_last->next_family = f;
	else
		families_first = f;
	families_last = f;
	return f;
fail:
	metric_free(f);
	return NULL;
}

/* Doubles the family's child table (or creates it). Returns 0 or -1. */
static int table_grow(metric *f)
{
	size_t size = f->table_size ? f->table_size * 2 : CHILD_BUCKETS_MIN;
	metric **table = calloc(size, sizeof *table);
	if (!table)
		return -1;
	for (metric *c = f->first; c; c = c->next) {
		size_t i = c->hash & (size - 1);
		c->hash_next = table[i];
		table[i] = c;
	}
	free(f->table);
	f->table = table;
	f->table_size = size;
	return 0;
}

/*
 * The child of `f` whose label string is `labels`, created when new.
 * `labels` is copied. Returns NULL on allocation failure.
 */
static metric *child_get(metric *f, const char *labels)
{
	uint64_t h = hash_str(labels);
	if (f->table_size) {
		for (metric *c = f->table[h & (f->table_size - 1)]; c; c = c->hash_next) {
			if (c->hash == h && strcmp(c->labels, labels) == 0)
				return c;
		}
	}
	if (f->nchildren >= f->table_size && table_grow(f) < 0)
		return NULL;

	metric *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->kind = f->kind;
	c->family = f;
	c->hash = h;
	c->labels = strdup(labels);
	if (!c->labels || alloc_buckets(c, f->nbounds) < 0) {
		metric_free(c);
		return NULL;
	}
	size_t i = h & (f->table_size - 1);
	c->hash_next = f->table[i];
	f->table[i] = c;
	if (f->last)
		f->last->next = c;
	else
		f->first = c;
	f->last = c;
	f->nchildren++;
	return c;
}

/* The family of `m` (itself when it is one) marked as used when unlabelled. */
static void mark_used(metric *m)
{
	if (!m->family)
		m->used = 1;
}

/* ===== Rendering ===== */

/*
 * Appends one sample line: name, suffix, labels (the child's, then `extra`,
 * e.g. `le="0.5"`), value.
 */
static void render_sample(strbuf *sb, const metric *f, const char *suffix, const char *labels,
			  const char *extra, double value)
{
	sb_puts(sb, f->name);
	sb_puts(sb, suffix);
	int has = labels && *labels;
	if (has || extra) {
		sb_puts(sb, "{");
		if (has)
			sb_puts(sb, labels);
		if (has && extra)
			sb_puts(sb, ",");
		if (extra)
			sb_puts(sb, extra);
		sb_puts(sb, "}");
	}
	sb_puts(sb, " ");
	sb_put_double(sb, value);
	sb_puts(sb, "\n");
}

/* Appends the series of one family member: `m` is the family or one child. */
static void render_series(strbuf *sb, const metric *f, const metric *m)
{
	const char *labels = m->labels;

	if (f->kind != KIND_HISTOGRAM) {
		render_sample(sb, f, "", labels, NULL, m->value);
		return;
	}
	uint64_t cumulative = 0;
	strbuf le;
	sb_init(&le);
	for (size_t i = 0; i < f->nbounds; i++) {
		cumulative += m->buckets[i];
		le.len = 0;
		sb_puts(&le, "le=\"");
		sb_put_double(&le, f->bounds[i]);
		sb_puts(&le, "\"");
		render_sample(sb, f, "_bucket", labels, le.p, (double)cumulative);
	}
	sb_release(&le);
	render_sample(sb, f, "_bucket", labels, "le=\"+Inf\"", (double)m->count);
	render_sample(sb, f, "_sum", labels, NULL, m->sum);
	render_sample(sb, f, "_count", labels, NULL, (double)m->count);
}

/* ===== Public functions ===== */

metric *metrics_counter(const char *name, const char *help)
{
	return family_get(KIND_COUNTER, name, help, NULL, 0);
}

metric *metrics_gauge(const char *name, const char *help)
{
	return family_get(KIND_GAUGE, name, help, NULL, 0);
}

metric *metrics_histogram(const char *name, const char *help, const double *bounds, size_t n)
{
	if (n > 0 && !bounds)
		return NULL;
	return family_get(KIND_HISTOGRAM, name, help, bounds, n);
}

metric *metrics_with(metric *family, ...)
{
	strbuf key;
	va_list ap;
	int n = 0;

	if (!family)
		return NULL;
	if (family->family)
		family = family->family; /* a child given: label its family */

	sb_init(&key);
	va_start(ap, family);
	for (const char *name; (name = va_arg(ap, const char *)) != NULL; n++) {
		const char *value = va_arg(ap, const char *);
		if (n > 0)
			sb_puts(&key, ",");
		sb_puts(&key, name);
		sb_puts(&key, "=\"");
		sb_put_escaped(&key, value ? value : "", 1);
		sb_puts(&key, "\"");
	}
	va_end(ap);

	metric *m = NULL;
	if (n == 0)
		m = family;
	else if (!key.failed)
		m = child_get(family, key.p);
	sb_release(&key);
	return m;
}

void metrics_add(metric *m, double v)
{
	if (!m || m->kind == KIND_HISTOGRAM)
		return;
	if (m->kind == KIND_COUNTER && !(v >= 0))
		return;
	m->value += v;
	mark_used(m);
}

void metrics_set(metric *m, double v)
{
	if (!m || m->kind != KIND_GAUGE)
		return;
	m->value = v;
	mark_used(m);
}

void metrics_observe(metric *m, double v)
{
	if (!m || m->kind != KIND_HISTOGRAM)
		return;
	const metric *f = m->family ? m->family : m;
	for (size_t i = 0; i < f->nbounds; i++) {
		if (v <= f->bounds[i]) {
			m->buckets[i]++;
			break;
		}
	}
	m->count++;
	m->sum += v;
	mark_used(m);
}

double metrics_value(const metric *m)
{
	if (!m || m->kind == KIND_HISTOGRAM)
		return 0;
	return m->value;
}

char *metrics_render(void)
{
	strbuf sb;
	sb_init(&sb);

	for (const metric *f = families_first; f; f = f->next_family) {
		sb_puts(&sb, "# HELP ");
		sb_puts(&sb, f->name);
		sb_puts(&sb, " ");
		sb_put_escaped(&sb, f->help, 0);
		sb_puts(&sb, "\n# TYPE ");
		sb_puts(&sb, f->name);
		sb_puts(&sb, " ");
		sb_puts(&sb, kind_names[f->kind]);
		sb_puts(&sb, "\n");
		/* The unlabelled series, when used or when there is nothing else. */
		if (f->used || !f->first)
			render_series(&sb, f, f);
		for (const metric *c = f->first; c; c = c->next)
			render_series(&sb, f, c);
	}

	if (sb.failed) {
		sb_release(&sb);
		return NULL;
	}
	if (!sb.heap)
		return strdup(sb.p);
	return sb.p; /* ownership passes to the caller */
}

void metrics_reset(void)
{
	for (metric *f = families_first, *next; f; f = next) {
		next = f->next_family;
		metric_free(f);
	}
	families_first = families_last = NULL;
}
