/* Prometheus metrics: counters, gauges and histograms in one registry per process. */
#ifndef ERRAND_METRICS_H
#define ERRAND_METRICS_H

#include <stddef.h>

typedef struct metric metric;

/*
 * A family is created once by name; calling again with the same name
 * returns the same family (the type must match, or NULL is returned).
 * `name` and `help` are copied. Families live until metrics_reset().
 */
metric *metrics_counter(const char *name, const char *help);
metric *metrics_gauge(const char *name, const char *help);
/* `bounds`: `n` strictly increasing upper bounds (seconds, bytes, …); +Inf is implied. */
metric *metrics_histogram(const char *name, const char *help, const double *bounds, size_t n);

/*
 * The child of `family` with the given label values, e.g.
 * metrics_with(requests, "route", "/v1/me", "status", "200", NULL): pairs of
 * name and value, ending with NULL. Values are escaped when rendered. The
 * same labels give the same child. Returns `family` itself when no label is
 * given, NULL when `family` is NULL or allocation fails.
 */
metric *metrics_with(metric *family, ...) __attribute__((sentinel));

/* Counter: add a non-negative amount. Gauge: add any amount. NULL is ignored. */
void metrics_add(metric *m, double v);
/* Gauge only. */
void metrics_set(metric *m, double v);
/* Histogram only. */
void metrics_observe(metric *m, double v);

/* The value of a counter or gauge child (tests, health). 0 for NULL. */
double metrics_value(const metric *m);

/*
 * The whole registry in the Prometheus text exposition format 0.0.4,
 * families in creation order. Caller frees. NULL on allocation failure.
 */
char *metrics_render(void);

/* Frees every family (tests, shutdown). Pointers handed out before are invalid after. */
void metrics_reset(void);

/* The histogram bounds used for request latencies, in seconds. */
extern const double METRICS_LATENCY_BOUNDS[];
extern const size_t METRICS_LATENCY_BOUNDS_N;

#endif
