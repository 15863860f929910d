/* errand-scheduler: time-driven work: expiry sweeps (holds, deadlines, runs) and the outbox relay. */
#include <stdio.h>
#include <stdlib.h>

#include "idempotency.h"
#include "jobs.h"
#include "log.h"
#include "metrics.h"
#include "outbox.h"
#include "runs.h"
#include "service.h"

#define RELAY_INTERVAL_MS 1000
#define RELAY_BATCH 500

typedef struct scheduler {
	service *svc;
	const config *cfg;
	db_pool *db;
	outbox outbox;
	struct event *ev_sweep;
	struct event *ev_relay;
	int sweeping; /* sweep queries in flight */
	int relaying; /* a relay batch is in flight */
	void (*stopped)(void *);
	void *stopped_arg;
	metric *m_released;
	metric *m_failed;
	metric *m_relayed;
	metric *m_expired_runs;
	metric *m_failed_runs;
} scheduler;

/* Once stopping and nothing is in flight, tells the service this hook is done. */
static void maybe_stopped(scheduler *s)
{
	if (s->stopped && !s->sweeping && !s->relaying) {
		void (*done)(void *) = s->stopped;
		s->stopped = NULL;
		done(s->stopped_arg);
	}
}

static void on_runs_swept(void *arg, int expired, int failed, int deadlines, const char *error)
{
	scheduler *s = arg;
	s->sweeping--;
	if (error) {
		log_warn("run sweep failed: %s", error);
	} else {
		metrics_add(s->m_expired_runs, expired);
		metrics_add(s->m_failed_runs, failed);
		metrics_add(s->m_failed, deadlines);
		if (expired || failed || deadlines)
			log_info("run sweep: %d runs expired, %d undelivered runs failed, %d "
				 "dispatched jobs past their deadline failed",
				 expired, failed, deadlines);
	}
	maybe_stopped(s);
}

static void on_swept(void *arg, int released, int failed, const char *error)
{
	scheduler *s = arg;
	s->sweeping--;
	if (error) {
		log_warn("sweep failed: %s", error);
	} else {
		metrics_add(s->m_released, released);
		metrics_add(s->m_failed, failed);
		if (released || failed)
			log_info("sweep: %d expired holds released, %d jobs past their deadline "
				 "failed",
				 released, failed);
	}
	maybe_stopped(s);
}

static void on_expired(void *arg, PGresult *res, const char *error)
{
	(void)arg;
	if (!db_result_ok(res))
		log_warn("expiring idempotency keys failed: %s", error ? error : "no result");
}

static void sweep_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	scheduler *s = arg;
	if (s->sweeping || service_stopping(s->svc) || !db_pool_ready(s->db))
		return;
	s->sweeping = 2;
	if (jobs_sweep(s->db, on_swept, s) != 0)
		s->sweeping--;
	if (runs_sweep(s->db, s->cfg->run_delivery_deadline_seconds, on_runs_swept, s) != 0)
		s->sweeping--;
	/* Idempotency-Key records are kept 24 h. */
	if (db_query(s->db, "idem_expire", 0, NULL, on_expired, s) != 0)
		log_warn("cannot queue the expiry of idempotency keys");
}

static void on_relayed(void *arg, int published)
{
	scheduler *s = arg;
	s->relaying = 0;
	if (published > 0) {
		metrics_add(s->m_relayed, published);
		log_info("outbox relay: %d events published", published);
	}
	maybe_stopped(s);
}

static void relay_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	scheduler *s = arg;
	if (s->relaying || service_stopping(s->svc) || !db_pool_ready(s->db) ||
	    !redis_ready(service_redis(s->svc)))
		return;
	s->relaying = 1;
	outbox_relay(&s->outbox, RELAY_BATCH, on_relayed, s);
}

/* Stop hook: no new sweeps; the one in flight finishes first. */
static void on_stop(void *arg, void (*done)(void *service), void *svc)
{
	scheduler *s = arg;
	event_del(s->ev_sweep);
	event_del(s->ev_relay);
	s->stopped = done;
	s->stopped_arg = svc;
	maybe_stopped(s);
}

int main(void)
{
	const db_stmt *const tables[] = { JOBS_STMTS, OUTBOX_STMTS, IDEMPOTENCY_STMTS, RUNS_STMTS };
	const size_t counts[] = { JOBS_STMTS_N, OUTBOX_STMTS_N, IDEMPOTENCY_STMTS_N, RUNS_STMTS_N };
	scheduler s = { 0 };
	s.svc = service_new(PROC_SCHEDULER, tables, counts, 4);
	const config *cfg = service_config(s.svc);
	s.cfg = cfg;
	s.db = service_db(s.svc);
	s.outbox = (outbox){ .db = s.db,
			     .redis = service_redis(s.svc),
			     .prefix = cfg->stream_prefix,
			     .maxlen = cfg->stream_maxlen,
			      .base = service_base(s.svc) };
	s.m_released = metrics_counter("errand_sweep_released_holds_total",
				       "Expired holds the sweep put back in the queue.");
	s.m_failed = metrics_counter("errand_sweep_failed_deadlines_total",
				     "Accepted jobs past their deadline the sweep failed.");
	s.m_expired_runs = metrics_counter("errand_sweep_expired_runs_total",
					   "Runs the sweep expired (no reply before expires_at).");
	s.m_failed_runs = metrics_counter("errand_sweep_failed_runs_total",
					  "Pending runs the sweep failed (webhook undelivered in time).");
	s.m_relayed = metrics_counter("errand_outbox_relayed_total",
				      "Events the relay published for a writer that did not.");
	struct event_base *base = service_base(s.svc);
	s.ev_sweep = event_new(base, -1, EV_PERSIST, sweep_tick, &s);
	s.ev_relay = event_new(base, -1, EV_PERSIST, relay_tick, &s);
	struct timeval sweep = { cfg->sweep_seconds, 0 };
	struct timeval relay = { 0, RELAY_INTERVAL_MS * 1000 };
	event_add(s.ev_sweep, &sweep);
	event_add(s.ev_relay, &relay);
	service_on_stop(s.svc, on_stop, &s);
	int code = service_run(s.svc);
	event_free(s.ev_sweep);
	event_free(s.ev_relay);
	outbox_free(&s.outbox);
	service_free(s.svc);
	return code;
}
