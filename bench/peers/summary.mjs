// bench/push's report: reads the JSON each measurement left in BENCH_WORK, prints the figures
// with the ratios and PASS/MISS against issue 4's goals, writes BENCH_RESULTS/push.json.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';

const env = process.env;
const work = env.BENCH_WORK;

// The goals of issue 4.
const GOAL_PG_RATIO = 1.5; // errand jobs/s ≥ 1.5 × the faster of pg-boss and graphile-worker
const GOAL_BULLMQ_RATIO = 0.4; // stretch: ≥ 0.4 × BullMQ
const GOAL_P99_MS = 50; // p99 POST → completed at half the peak rate
const GOAL_PROBE_P99_MS = 100; // "not stalled": each probe's p99 during the in-flight test

const read = (name) => {
  const f = path.join(work, `${name}.json`);
  return fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8').trim().split('\n').pop()) : null;
};
const fmt = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? '-' : Number(x).toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));
const verdict = (ok) => (ok ? 'PASS' : 'MISS');

const closed = read('errand-closed');
const open = read('errand-open');
const costsClosed = read('errand-closed-costs');
const costsOpen = read('errand-open-costs');
const db = read('errand-db');
const inflight = read('inflight');
const peerNames = (env.BENCH_PEERS_RUN || '').split(/\s+/).filter(Boolean);
const peers = {};
for (const p of peerNames) peers[p] = { closed: read(`${p}-closed`), bulk: read(`${p}-bulk`), open: read(`${p}-open`) };
const label = { bullmq: 'BullMQ', pgboss: 'pg-boss', graphile: 'graphile-worker' };

const cpus = os.cpus();
const lines = [];
const out = (s = '') => lines.push(s);
out(`errand push-path benchmark, ${new Date().toISOString()}, ${cpus.length} CPUs (${cpus[0].model}), build ${env.BENCH_BUILD_TYPE}, commit ${env.BENCH_COMMIT}`);
out(`everything on these ${cpus.length} CPUs: PostgreSQL (fsync on, synchronous_commit on), Redis, errand, the peers, the load generators and the receiver`);
out(`CPUs ${env.BENCH_IDLE_BEFORE}% idle before the run (${env.BENCH_IDLE_ERRAND}% just before errand's peak); load average ${env.BENCH_LOADAVG_BEFORE} before, ${env.BENCH_LOADAVG_AFTER} after`);
out();

const row = (name, rate, p50, p99, extra = '') => out(`${name.padEnd(46)} ${fmt(rate).padStart(10)} ${fmt(p50, 2).padStart(10)} ${fmt(p99, 2).padStart(10)}  ${extra}`);
out(`${'one job per call, ' + env.BENCH_CONCURRENCY + ' calls in flight'.padEnd(28)}`.padEnd(46) + ' ' + 'jobs/s'.padStart(10) + ' ' + 'p50 ms'.padStart(10) + ' ' + 'p99 ms'.padStart(10) + '  (enqueue call → done)');
row('errand: POST /v1/jobs → webhook → completed', closed.jobs_per_s, closed.post_to_completed.p50_ms, closed.post_to_completed.p99_ms,
  `POST→202 p50 ${fmt(closed.post_to_202.p50_ms, 2)} ms, POSTs ${fmt(closed.posts_per_s)}/s`);
for (const p of peerNames) {
  const c = peers[p].closed;
  if (c) row(`${label[p]}: enqueue → empty handler → done`, c.jobs_per_s, c.enqueue_to_done.p50_ms, c.enqueue_to_done.p99_ms, `enqueued ${fmt(c.enqueued_per_s)}/s`);
}
out();
out('bulk enqueue (batches of 1000, one caller), not compared:');
for (const p of peerNames) {
  const b = peers[p].bulk;
  if (b) out(`  ${label[p].padEnd(16)} enqueued ${fmt(b.enqueued_per_s).padStart(10)}/s, done ${fmt(b.jobs_per_s).padStart(10)}/s`);
}
out();
out('at half of each one\'s own peak, open loop (from each job\'s due time):');
row(`errand at ${fmt(open.rate_target, 0)}/s`, open.jobs_per_s, open.post_to_completed.p50_ms, open.post_to_completed.p99_ms, `max ${fmt(open.post_to_completed.max_ms, 1)} ms`);
for (const p of peerNames) {
  const o = peers[p].open;
  if (o) row(`${label[p]} at ${fmt(o.rate_target, 0)}/s`, o.jobs_per_s, o.enqueue_to_done.p50_ms, o.enqueue_to_done.p99_ms, `max ${fmt(o.enqueue_to_done.max_ms, 1)} ms`);
}
out();
const c = costsClosed;
out(`errand per job at its peak: CPU µs gateway ${fmt(c.cpu_us_per_job.gateway, 0)}, dispatcher ${fmt(c.cpu_us_per_job.dispatcher, 0)}, scheduler ${fmt(c.cpu_us_per_job.scheduler, 0)}, PostgreSQL ${fmt(c.cpu_us_per_job.postgres, 0)}, Redis ${fmt(c.cpu_us_per_job.redis, 0)}; client and receiver ${fmt(closed.client_cpu_percent_of_one_core)}% of a core`);
out(`  ${fmt(c.commits_per_job, 2)} PostgreSQL commits and ${fmt(c.wal_flushes_per_job, 2)} WAL flushes per job; steps p50/p99 ms: POST→202 ${fmt(closed.post_to_202.p50_ms, 1)}/${fmt(closed.post_to_202.p99_ms, 1)}, POST→webhook ${fmt(closed.post_to_webhook.p50_ms, 1)}/${fmt(closed.post_to_webhook.p99_ms, 1)}, webhook→completed ${fmt(closed.webhook_to_completed.p50_ms, 1)}/${fmt(closed.webhook_to_completed.p99_ms, 1)}`);
out(`  failed webhook attempts ${env.BENCH_FAILED_CLOSED} (peak) and ${env.BENCH_FAILED_OPEN} (half rate); completed replies sent again after a 503: ${closed.reply_retries + open.reply_retries}; jobs completed in the database ${db.completed} of ${db.jobs} before the in-flight test`);
out();
const inf = inflight;
out(`in flight: ${inf.slow_expected} jobs queued for a receiver that takes ${inf.slow_delay_ms} ms, then the dispatcher started (open files limit ${env.BENCH_NOFILE}; the one before took ${fmt(env.BENCH_DISP_STOP_S, 1)} s to stop on SIGTERM)`);
out(`  the receiver held at most ${inf.receiver_held_max} webhooks at once; errand_webhook_inflight at most ${inf.dispatcher_inflight_max}, errand_db_pending at most ${inf.dispatcher_db_pending_max}`);
out(`  the ${inf.slow_expected} webhooks arrived over ${fmt(inf.slow_hooks_arrived_over_s, 2)} s; all completed ${fmt(inf.first_hook_to_last_completed_s, 2)} s after the first`);
out(`  dispatcher VmRSS: ${fmt(inf.dispatcher_rss_mb.start)} MB at start, ${fmt(inf.dispatcher_rss_mb.max)} MB at most (${fmt(inf.dispatcher_rss_mb.at_inflight_max)} MB when errand_webhook_inflight peaked)`);
if (inf.dispatcher_cpu_s !== undefined) out(`  dispatcher CPU: ${fmt(inf.dispatcher_cpu_s, 2)} s over the test, ${fmt(inf.dispatcher_cpu_s * 1e6 / inf.webhooks, 0)} µs a webhook (taken, signed, sent, recorded)`);
const probes = ['gateway_healthz', 'dispatcher_healthz', 'fast_post_to_202', 'fast_post_to_completed'];
for (const k of [...probes, 'fast_post_to_webhook', 'fast_webhook_to_completed']) {
  const l = inf[k];
  if (!l) continue;
  out(`  ${k.replaceAll('_', ' ').padEnd(26)} n ${String(l.n).padStart(5)}, errors ${l.errors}, p50 ${fmt(l.p50_ms, 2)} ms, p99 ${fmt(l.p99_ms, 2)} ms, max ${fmt(l.max_ms, 2)} ms`);
}
out();

const pgPeers = ['pgboss', 'graphile'].filter((p) => peers[p] && peers[p].closed);
const bestPg = pgPeers.length ? Math.max(...pgPeers.map((p) => peers[p].closed.jobs_per_s)) : null;
const cleanClosed = closed.post_errors === 0 && closed.reply_errors === 0 && closed.completed === closed.jobs;
const cleanOpen = open.post_errors === 0 && open.reply_errors === 0 && open.completed === open.jobs;
const goals = {};
if (bestPg) {
  const r = closed.jobs_per_s / bestPg;
  goals.vs_postgres_peers = { ratio: r, goal: GOAL_PG_RATIO, best_peer_jobs_per_s: bestPg, verdict: verdict(r >= GOAL_PG_RATIO && cleanClosed) };
}
if (peers.bullmq && peers.bullmq.closed) {
  const r = closed.jobs_per_s / peers.bullmq.closed.jobs_per_s;
  goals.vs_bullmq_stretch = { ratio: r, goal: GOAL_BULLMQ_RATIO, verdict: verdict(r >= GOAL_BULLMQ_RATIO && cleanClosed) };
}
goals.p99_half_peak = { p99_ms: open.post_to_completed.p99_ms, goal_ms: GOAL_P99_MS, verdict: verdict(open.post_to_completed.p99_ms < GOAL_P99_MS && cleanOpen) };
goals.inflight = { held_at_once: inf.receiver_held_max, goal: Number(env.BENCH_INFLIGHT), verdict: verdict(inf.receiver_held_max >= Number(env.BENCH_INFLIGHT) && inf.slow_completed === inf.slow_expected) };
const worst = Math.max(...probes.map((k) => inf[k].p99_ms ?? Infinity));
goals.not_stalled = { worst_probe_p99_ms: worst, goal_ms: GOAL_PROBE_P99_MS, verdict: verdict(worst < GOAL_PROBE_P99_MS && probes.every((k) => inf[k].errors === 0)) };

out(`${'goal'.padEnd(58)} ${'measured'.padStart(10)}`);
if (goals.vs_postgres_peers) out(`${`errand ≥ ${GOAL_PG_RATIO} × the faster of pg-boss and graphile-worker`.padEnd(58)} ${fmt(goals.vs_postgres_peers.ratio, 3).padStart(10)} ${goals.vs_postgres_peers.verdict}`);
if (goals.vs_bullmq_stretch) out(`${`stretch: errand ≥ ${GOAL_BULLMQ_RATIO} × BullMQ`.padEnd(58)} ${fmt(goals.vs_bullmq_stretch.ratio, 3).padStart(10)} ${goals.vs_bullmq_stretch.verdict}`);
out(`${`p99 POST → completed < ${GOAL_P99_MS} ms at half the peak (ms)`.padEnd(58)} ${fmt(goals.p99_half_peak.p99_ms, 1).padStart(10)} ${goals.p99_half_peak.verdict}`);
out(`${`${env.BENCH_INFLIGHT} webhooks in flight at once (held by the receiver)`.padEnd(58)} ${String(inf.receiver_held_max).padStart(10)} ${goals.inflight.verdict}`);
out(`${`meanwhile every probe's p99 < ${GOAL_PROBE_P99_MS} ms (worst, ms)`.padEnd(58)} ${fmt(worst, 1).padStart(10)} ${goals.not_stalled.verdict}`);
console.log(lines.join('\n'));

const json = {
  date: new Date().toISOString(),
  commit: env.BENCH_COMMIT,
  build_type: env.BENCH_BUILD_TYPE,
  machine: { cpus: cpus.length, model: cpus[0].model, idle_percent_before: Number(env.BENCH_IDLE_BEFORE), idle_percent_before_errand: Number(env.BENCH_IDLE_ERRAND), loadavg_before: Number(env.BENCH_LOADAVG_BEFORE), loadavg_after: Number(env.BENCH_LOADAVG_AFTER) },
  command: 'bench/push',
  settings: { jobs: Number(env.BENCH_JOBS), concurrency: Number(env.BENCH_CONCURRENCY), duration_s: Number(env.BENCH_DURATION), inflight: Number(env.BENCH_INFLIGHT), slow_ms: Number(env.BENCH_SLOW_MS) },
  errand: { peak: closed, peak_costs: costsClosed, half_peak: open, half_peak_costs: costsOpen, failed_attempts_peak: Number(env.BENCH_FAILED_CLOSED), failed_attempts_half: Number(env.BENCH_FAILED_OPEN), database: db },
  peers,
  inflight: { ...inf, dispatcher_open_files_limit: env.BENCH_NOFILE, dispatcher_stop_s: Number(env.BENCH_DISP_STOP_S) },
  goals,
};
fs.writeFileSync(path.join(env.BENCH_RESULTS, 'push.json'), JSON.stringify(json, null, 2) + '\n');
