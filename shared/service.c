/* The process skeleton: configuration, event loop, signals, PostgreSQL, Redis, health and graceful stop. */
#include "service.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"

#define SERVICE_MAX_HOOKS 16
#define SERVICE_STOP_POLL_MS 20

typedef struct stop_hook {
	service_stop_hook fn;
	void *arg;
} stop_hook;

struct service {
	config cfg;
	struct event_base *base;
	db_pool *db;
	redis_client *redis;
	http_server *http;
	struct event *ev_sigterm;
	struct event *ev_sigint;
	struct event *ev_poll;	/* during stop: waits for requests in hand */
	struct event *ev_grace; /* during stop: the limit */
	stop_hook hooks[SERVICE_MAX_HOOKS];
	int nhooks;
	int next_hook;
	int stopping;
	int draining_db;
	int exit_code;
	int64_t started_ms;
	db_check check;
};

/* ===== Health ===== */

static void healthz(http_req *req, void *arg)
{
	(void)arg;
	static const char ok[] = "{\"status\":\"ok\"}";
	http_reply_raw(req, 200, "application/json", ok, sizeof ok - 1);
}

static void readyz(http_req *req, void *arg)
{
	service *s = arg;
	int pg = db_pool_ready(s->db);
	int rd = redis_ready(s->redis);
	json_t *checks =
		json_pack("{s:s,s:s}", "postgres", pg ? "up" : "down", "redis", rd ? "up" : "down");
	if (pg && rd && !s->stopping) {
		http_reply_json(req, 200,
				json_pack("{s:s,s:o}", "status", "ready", "checks", checks));
		return;
	}
	char message[96];
	if (s->stopping)
		snprintf(message, sizeof message, "the process is stopping");
	else
		snprintf(message, sizeof message, "%s%s%s %s down", pg ? "" : "postgres",
			 !pg && !rd ? " and " : "", rd ? "" : "redis", !pg && !rd ? "are" : "is");
	json_t *down = json_array();
	if (!pg)
		json_array_append_new(down, json_string("postgres"));
	if (!rd)
		json_array_append_new(down, json_string("redis"));
	http_reply_error_with(
		req, 503, s->stopping ? HTTP_ERR_SHUTTING_DOWN : "not_ready",
		json_pack("{s:s,s:o,s:o}", "status", "unavailable", "checks", checks, "down", down),
		message);
}

/* Resident memory in bytes, from /proc/self/statm; 0 when unknown. */
static double resident_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, rss = 0;
	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return (double)rss * (double)sysconf(_SC_PAGESIZE);
}

static void metrics_route(http_req *req, void *arg)
{
	service *s = arg;
	metrics_set(
		metrics_gauge("process_resident_memory_bytes", "Resident memory size in bytes."),
		resident_bytes());
	metrics_set(metrics_gauge("process_start_time_seconds",
				  "Start time of the process since the Unix epoch in seconds."),
		    (double)s->started_ms / 1000.0);
	metrics_set(metrics_gauge("errand_db_pending", "Queries waiting or in flight."),
		    db_pool_pending(s->db));
	metrics_set(metrics_gauge("errand_http_inflight", "HTTP requests in hand."),
		    http_server_inflight(s->http));
	char *text = metrics_render();
	if (!text) {
		http_reply_error(req, 500, HTTP_ERR_INTERNAL, "cannot render metrics");
		return;
	}
	http_reply_raw(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
	free(text);
}

/* ===== The schema check ===== */

/* Accepts a connection whose database has at least this build's schema. */
static int verify_schema(void *arg, const char *value)
{
	(void)arg;
	int have = value ? atoi(value) : 0;
	int need = migrate_latest_version();
	if (have >= need)
		return 0;
	log_error("the database schema is at version %d and this build needs %d: run "
		  "`errandctl migrate` (with the same ERRAND_DATABASE_URL) and start again",
		  have, need);
	return -1;
}

static void on_fatal(void *arg, const char *why)
{
	service *s = arg;
	log_error("stopping: %s", why);
	s->exit_code = SERVICE_EXIT_CONFIG;
	event_base_loopbreak(s->base);
}

/* ===== Stopping ===== */

static void stop_poll_cb(evutil_socket_t fd, short what, void *arg);

static void db_drained(void *arg)
{
	service *s = arg;
	event_base_loopbreak(s->base);
}

/* Runs the next stop hook, or starts waiting for requests in hand once all are done. */
static void run_next_hook(void *arg)
{
	service *s = arg;
	if (s->next_hook < s->nhooks) {
		stop_hook *h = &s->hooks[s->next_hook++];
		h->fn(h->arg, run_next_hook, s);
		return;
	}
	struct timeval tv = { 0, SERVICE_STOP_POLL_MS * 1000 };
	event_add(s->ev_poll, &tv);
}

static void stop_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	service *s = arg;
	if (http_server_inflight(s->http) > 0 || http_server_unsent(s->http) > 0 || s->draining_db)
		return;
	event_del(s->ev_poll);
	s->draining_db = 1;
	db_pool_drain(s->db, db_drained, s);
}

static void grace_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	service *s = arg;
	log_warn("stop: work still in hand after %d s; exiting anyway", s->cfg.shutdown_grace_s);
	event_base_loopbreak(s->base);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	service *s = arg;
	if (s->stopping) {
		log_warn("second signal %d: exiting now", (int)sig);
		event_base_loopbreak(s->base);
		return;
	}
	s->stopping = 1;
	log_info("signal %d: stopping gracefully", (int)sig);
	http_server_stop_accepting(s->http);
	struct timeval grace = { s->cfg.shutdown_grace_s, 0 };
	event_add(s->ev_grace, &grace);
	run_next_hook(s);
}

/* ===== Life cycle ===== */

/* Logs `what` and exits with status 2 (a configuration or start-up error). */
static void die(const char *what)
{
	log_error("%s", what);
	exit(SERVICE_EXIT_CONFIG);
}

service *service_new(proc_kind kind, const db_stmt *const *stmt_tables, const size_t *stmt_counts,
		     size_t ntables)
{
	service *s = calloc(1, sizeof *s);
	if (!s)
		abort();
	s->started_ms = clock_now_ms();
	log_init(config_process_name(kind), LOG_LEVEL_INFO);
	char err[512];
	if (config_load(&s->cfg, kind, err, sizeof err) != 0)
		die(err);
	log_init(config_process_name(kind), s->cfg.log_level);
	signal(SIGPIPE, SIG_IGN);
	srand((unsigned)(getpid() ^ clock_now_ms()));

	s->base = event_base_new();
	if (!s->base)
		die("cannot create the event loop");

	s->check.sql = MIGRATE_VERSION_SQL;
	s->check.verify = verify_schema;
	s->check.arg = s;
	db_options dbo = { .size = s->cfg.db_pool_size,
			   .queue_max = s->cfg.db_queue_max,
			   .timeout_ms = s->cfg.db_timeout_ms,
			   .check = &s->check,
			   .on_fatal = on_fatal,
			   .fatal_arg = s };
	s->db = db_pool_new(s->base, s->cfg.database_url, &dbo);
	if (!s->db)
		die("cannot create the database pool");
	for (size_t i = 0; i < ntables; i++)
		if (db_pool_register(s->db, stmt_tables[i], stmt_counts[i]) != 0)
			die("cannot register prepared statements");

	s->redis = redis_client_new(s->base, s->cfg.redis_host, s->cfg.redis_port, s->cfg.redis_db,
				    s->cfg.redis_password, "main");
	if (!s->redis)
		die("cannot create the Redis client");

	http_limits limits = { .max_body_bytes = s->cfg.max_body_bytes,
			       .hard_body_bytes =
				       s->cfg.max_attachment_bytes > s->cfg.max_body_bytes
					       ? s->cfg.max_attachment_bytes
					       : s->cfg.max_body_bytes,
			       .max_header_bytes = s->cfg.max_header_bytes,
			       .max_json_depth = s->cfg.max_json_depth,
			       .timeout_s = s->cfg.http_timeout_s };
	s->http = http_server_new(s->base, &limits);
	if (!s->http)
		die("cannot create the HTTP server");
	if (http_route(s->http, "GET", "/healthz", healthz, s) != 0 ||
	    http_route(s->http, "GET", "/readyz", readyz, s) != 0 ||
	    http_route(s->http, "GET", "/metrics", metrics_route, s) != 0)
		die("cannot add the health routes");
	if (http_server_listen(s->http, s->cfg.listen_host, s->cfg.listen_port) != 0) {
		snprintf(err, sizeof err, "cannot listen on %s:%d (check the address setting)",
			 s->cfg.listen_host, s->cfg.listen_port);
		die(err);
	}

	s->ev_sigterm = evsignal_new(s->base, SIGTERM, on_signal, s);
	s->ev_sigint = evsignal_new(s->base, SIGINT, on_signal, s);
	s->ev_poll = event_new(s->base, -1, EV_PERSIST, stop_poll_cb, s);
	s->ev_grace = evtimer_new(s->base, grace_cb, s);
	event_add(s->ev_sigterm, NULL);
	event_add(s->ev_sigint, NULL);

	metrics_set(metrics_with(metrics_gauge("errand_build_info", "The running build."),
				 "version", ERRAND_VERSION, NULL),
		    1);
	db_pool_start(s->db);
	redis_client_start(s->redis);
	return s;
}

struct event_base *service_base(service *s)
{
	return s->base;
}

const config *service_config(const service *s)
{
	return &s->cfg;
}

db_pool *service_db(service *s)
{
	return s->db;
}

redis_client *service_redis(service *s)
{
	return s->redis;
}

http_server *service_http(service *s)
{
	return s->http;
}

void service_on_stop(service *s, service_stop_hook hook, void *arg)
{
	if (s->nhooks < SERVICE_MAX_HOOKS)
		s->hooks[s->nhooks++] = (stop_hook){ hook, arg };
}

int service_stopping(const service *s)
{
	return s->stopping;
}

int service_run(service *s)
{
	log_info("listening on http://%s:%d (schema version %d)", s->cfg.listen_host,
		 http_server_port(s->http), migrate_latest_version());
	event_base_dispatch(s->base);
	if (s->exit_code == 0)
		log_info("stopped");
	return s->exit_code;
}

void service_free(service *s)
{
	if (!s)
		return;
	/*
	 * Queries still pending are failed first: their callbacks answer
	 * requests that are still alive and may still publish to Redis. The
	 * HTTP server goes last.
	 */
	db_pool_free(s->db);
	redis_client_free(s->redis);
	http_server_free(s->http);
	event_free(s->ev_sigterm);
	event_free(s->ev_sigint);
	event_free(s->ev_poll);
	event_free(s->ev_grace);
	event_base_free(s->base);
	config_free(&s->cfg);
	metrics_reset();
	free(s);
}
