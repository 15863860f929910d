/* Unit tests of metrics.c: the registry and its Prometheus text rendering. */
#include <math.h>

#include "metrics.h"
#include "testlib.h"

static void check_render(const char *expected)
{
	char *text = metrics_render();
	CHECK(text != NULL);
	if (strcmp(text, expected) != 0) {
		fprintf(stderr, "rendered:\n%s\nexpected:\n%s\n", text, expected);
		exit(1);
	}
	free(text);
}

static void test_render_exact(void)
{
	static const double bounds[] = { 0.25, 1 };
	metric *c = metrics_counter("errand_http_requests_total",
				    "Requests served.\nBy route \\ status, \"quoted\"");
	metric *g = metrics_gauge("errand_db_connections", "Open connections.");
	metric *h = metrics_histogram("errand_latency_seconds", "Latency.", bounds, 2);
	CHECK(c && g && h);

	metric *ok = metrics_with(c, "route", "/v1/\"x\"\\y\nz", "status", "200", NULL);
	metric *nf = metrics_with(c, "route", "/v1/me", "status", "404", NULL);
	CHECK(ok && nf && ok != nf && ok != c);
	metrics_add(ok, 1);
	metrics_add(ok, 2);
	metrics_add(ok, -1); /* counters only go up */
	metrics_add(nf, 1);
	metrics_set(g, 2.5);
	metrics_add(g, -1);
	metric *ha = metrics_with(h, "route", "/a", NULL);
	metrics_observe(ha, 0.25); /* a bound is inclusive */
	metrics_observe(ha, 0.5);
	metrics_observe(ha, 4);

	check_render(
		"# HELP errand_http_requests_total Requests served.\\nBy route \\\\ status, "
		"\"quoted\"\n"
		"# TYPE errand_http_requests_total counter\n"
		"errand_http_requests_total{route=\"/v1/\\\"x\\\"\\\\y\\nz\",status=\"200\"} 3\n"
		"errand_http_requests_total{route=\"/v1/me\",status=\"404\"} 1\n"
		"# HELP errand_db_connections Open connections.\n"
		"# TYPE errand_db_connections gauge\n"
		"errand_db_connections 1.5\n"
		"# HELP errand_latency_seconds Latency.\n"
		"# TYPE errand_latency_seconds histogram\n"
		"errand_latency_seconds_bucket{route=\"/a\",le=\"0.25\"} 1\n"
		"errand_latency_seconds_bucket{route=\"/a\",le=\"1\"} 2\n"
		"errand_latency_seconds_bucket{route=\"/a\",le=\"+Inf\"} 3\n"
		"errand_latency_seconds_sum{route=\"/a\"} 4.75\n"
		"errand_latency_seconds_count{route=\"/a\"} 3\n");
}

static void test_unlabelled(void)
{
	static const double bounds[] = { 0.005, 0.1 };
	metric *c = metrics_counter("jobs_total", "Jobs.");
	metric *h = metrics_histogram("size_bytes", "Sizes.", bounds, 2);
	CHECK(metrics_with(c, NULL) == c);
	metrics_observe(h, 0.001);
	metrics_observe(h, 7);
	check_render("# HELP jobs_total Jobs.\n"
		     "# TYPE jobs_total counter\n"
		     "jobs_total 0\n"
		     "# HELP size_bytes Sizes.\n"
		     "# TYPE size_bytes histogram\n"
		     "size_bytes_bucket{le=\"0.005\"} 1\n"
		     "size_bytes_bucket{le=\"0.1\"} 1\n"
		     "size_bytes_bucket{le=\"+Inf\"} 2\n"
		     "size_bytes_sum 7.001\n"
		     "size_bytes_count 2\n");
}

/* A family used only through children renders no unlabelled series, unless it is used too. */
static void test_children_only(void)
{
	metric *c = metrics_counter("x_total", "X.");
	metrics_add(metrics_with(c, "k", "v", NULL), 1);
	check_render("# HELP x_total X.\n# TYPE x_total counter\nx_total{k=\"v\"} 1\n");
	metrics_add(c, 2);
	check_render("# HELP x_total X.\n# TYPE x_total counter\nx_total 2\nx_total{k=\"v\"} 1\n");
}

static void test_families(void)
{
	metric *c = metrics_counter("a_total", "A.");
	CHECK(c != NULL);
	CHECK(metrics_counter("a_total", "other help") == c);
	CHECK(metrics_gauge("a_total", "A.") == NULL);
	CHECK(metrics_histogram("a_total", "A.", METRICS_LATENCY_BOUNDS,
				METRICS_LATENCY_BOUNDS_N) == NULL);
	metric *g = metrics_gauge("g", "G.");
	CHECK(metrics_counter("g", "G.") == NULL);
	CHECK(metrics_gauge("g", "G.") == g);

	static const double unsorted[] = { 1, 0.5 };
	static const double equal[] = { 1, 1 };
	CHECK(metrics_histogram("h1", "H.", unsorted, 2) == NULL);
	CHECK(metrics_histogram("h2", "H.", equal, 2) == NULL);
	CHECK(metrics_with(NULL, "a", "b", NULL) == NULL);

	/* Families render in creation order. */
	char *text = metrics_render();
	CHECK(text && strstr(text, "a_total") < strstr(text, "# HELP g "));
	CHECK(strstr(text, "h1") == NULL);
	free(text);
}

static void test_values(void)
{
	metric *c = metrics_counter("c_total", "C.");
	metric *g = metrics_gauge("g", "G.");
	metric *h = metrics_histogram("h", "H.", METRICS_LATENCY_BOUNDS, METRICS_LATENCY_BOUNDS_N);

	metrics_add(c, 1.5);
	metrics_add(c, 0);
	metrics_add(c, -3);
	metrics_add(c, NAN);
	metrics_set(c, 100); /* gauges only */
	CHECK(metrics_value(c) == 1.5);

	metrics_set(g, 10);
	metrics_add(g, -12);
	CHECK(metrics_value(g) == -2);

	metrics_add(h, 5);
	metrics_observe(c, 5); /* histograms only */
	CHECK(metrics_value(c) == 1.5);
	CHECK(metrics_value(h) == 0);
	CHECK(metrics_value(NULL) == 0);
	metrics_add(NULL, 1);
	metrics_set(NULL, 1);
	metrics_observe(NULL, 1);

	metrics_set(g, INFINITY);
	char *text = metrics_render();
	CHECK(strstr(text, "\ng +Inf\n") != NULL);
	free(text);
	metrics_set(g, 0.1);
	text = metrics_render();
	CHECK(strstr(text, "\ng 0.1\n") != NULL);
	free(text);
}

static void test_same_labels_same_child(void)
{
	metric *c = metrics_counter("req_total", "R.");
	metric *children[1000];
	char route[32];
	for (int i = 0; i < 1000; i++) {
		snprintf(route, sizeof route, "/r/%d", i);
		children[i] = metrics_with(c, "route", route, "status", "200", NULL);
		CHECK(children[i] != NULL);
		metrics_add(children[i], i);
	}
	for (int i = 0; i < 1000; i++) {
		snprintf(route, sizeof route, "/r/%d", i);
		CHECK(metrics_with(c, "route", route, "status", "200", NULL) == children[i]);
		CHECK(metrics_value(children[i]) == i);
	}
	CHECK(metrics_with(c, "route", "/r/1", "status", "201", NULL) != children[1]);
	/* The label names are part of the key, and so is their order. */
	CHECK(metrics_with(c, "path", "/r/1", "status", "200", NULL) != children[1]);
	CHECK(metrics_with(c, "status", "200", "route", "/r/1", NULL) != children[1]);
	/* A child given in place of its family labels the family. */
	CHECK(metrics_with(children[0], "route", "/r/2", "status", "200", NULL) == children[2]);

	char *text = metrics_render();
	char *first = strstr(text, "req_total{route=\"/r/0\",status=\"200\"} 0\n");
	char *last = strstr(text, "req_total{route=\"/r/999\",status=\"200\"} 999\n");
	CHECK(first && last && first < last);
	free(text);
}

static void test_reset(void)
{
	metric *c = metrics_counter("c_total", "C.");
	metrics_add(metrics_with(c, "a", "b", NULL), 1);
	metrics_reset();
	check_render("");
	metric *again = metrics_counter("c_total", "C.");
	CHECK(again != NULL);
	check_render("# HELP c_total C.\n# TYPE c_total counter\nc_total 0\n");
	metrics_reset();
	metrics_reset();
}

static void test_latency_bounds(void)
{
	CHECK_INT(METRICS_LATENCY_BOUNDS_N, 14);
	CHECK(METRICS_LATENCY_BOUNDS[0] == 0.0005);
	CHECK(METRICS_LATENCY_BOUNDS[METRICS_LATENCY_BOUNDS_N - 1] == 10);
	for (size_t i = 1; i < METRICS_LATENCY_BOUNDS_N; i++)
		CHECK(METRICS_LATENCY_BOUNDS[i] > METRICS_LATENCY_BOUNDS[i - 1]);

	metric *h =
		metrics_histogram("lat", "L.", METRICS_LATENCY_BOUNDS, METRICS_LATENCY_BOUNDS_N);
	metrics_observe(h, 0.003);
	char *text = metrics_render();
	CHECK(strstr(text, "lat_bucket{le=\"0.0025\"} 0\nlat_bucket{le=\"0.005\"} 1\n") != NULL);
	CHECK(strstr(text, "lat_bucket{le=\"10\"} 1\nlat_bucket{le=\"+Inf\"} 1\n") != NULL);
	free(text);
}

TEST_MAIN(TEST(test_render_exact), TEST(test_unlabelled), TEST(test_children_only),
	  TEST(test_families), TEST(test_values), TEST(test_same_labels_same_child),
	  TEST(test_reset), TEST(test_latency_bounds))
