// The peers of bench/push: the same work as errand's push path through BullMQ, pg-boss and
// graphile-worker. Each job is enqueued by its own call, picked up by a worker in another
// process, processed by an empty handler and marked done.
//
//   node peer.mjs PEER PHASE... [--jobs N] [--concurrency C] [--rate R] [--duration S]
//
// PEER: bullmq | pgboss | graphile. PHASE, run in the order given, one JSON line each:
//   closed  N jobs, C callers each awaiting its enqueue call before making the next
//           (as an application's request handlers submit work); jobs/s = N ÷ (time from
//           the first call to the last job done); per job, the time from its call to done
//   open    R jobs a second for S seconds, each called at its due time whatever happened
//           before (nothing waits for earlier calls); the time from the due time to done
//   bulk    N jobs in batches of 1000 by one caller (addBulk, insert, addJobs): the rate of
//           the enqueue calls and of the jobs done
//
// Settings from the environment: BENCH_REDIS_URL (bullmq), BENCH_PG_URL (pgboss, graphile:
// a database of their own), BENCH_PEER_WORKER_CONCURRENCY (bullmq's and graphile-worker's
// concurrent jobs per worker process), BENCH_PGBOSS_WORKERS and BENCH_PGBOSS_BATCH
// (pg-boss: work() loops and jobs fetched per poll).
//
// When a job is done: BullMQ, the worker's 'completed' event (after the job is moved to
// completed in Redis); pg-boss, the job's completed_on in its table (written by the
// completing UPDATE; the run ends when all N are completed); graphile-worker, its
// 'job:complete' event (the DELETE of the job is sent then, not yet committed; the run ends
// when the jobs table is empty, polled every 5 ms). Times are wall-clock milliseconds
// (performance.timeOrigin + performance.now()), comparable across the two processes.
import { fork } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';

const now = () => performance.timeOrigin + performance.now();
const QUEUE = 'bench';
const BULK_BATCH = 1000;
const env = process.env;
const WORKER_CONCURRENCY = Number(env.BENCH_PEER_WORKER_CONCURRENCY || 64);
const PGBOSS_WORKERS = Number(env.BENCH_PGBOSS_WORKERS || 4);
const PGBOSS_BATCH = Number(env.BENCH_PGBOSS_BATCH || 500);
const PGBOSS_POLL_S = 0.5; // pg-boss 10's shortest polling interval
const GRAPHILE_POOL = Math.max(10, WORKER_CONCURRENCY + 2); // graphile-worker's advice

function args(argv) {
  const o = { phases: [], jobs: 20000, concurrency: 64, rate: 1000, duration: 10 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) o[a.slice(2)] = Number(argv[++i]);
    else if (!o.peer) o.peer = a;
    else o.phases.push(a);
  }
  return o;
}

function percentiles(ms) {
  if (!ms.length) return { n: 0 };
  const v = Float64Array.from(ms).sort();
  const at = (q) => v[Math.max(1, Math.ceil(q * v.length)) - 1];
  const r = (x) => Math.round(x * 1000) / 1000;
  return { n: v.length, p50_ms: r(at(0.5)), p90_ms: r(at(0.9)), p99_ms: r(at(0.99)), max_ms: r(v[v.length - 1]) };
}

// ===== The peers: set-up, one enqueue, a batch enqueue, the worker =====

const peers = {
  bullmq: {
    async open() {
      const { Queue } = await import('bullmq');
      const connection = { url: env.BENCH_REDIS_URL };
      const q = new Queue(QUEUE, { connection });
      await q.waitUntilReady();
      return {
        add: (data) => q.add('job', data),
        addBulk: (list) => q.addBulk(list.map((data) => ({ name: 'job', data }))),
        close: () => q.close(),
      };
    },
    async work(done) {
      const { Worker } = await import('bullmq');
      const w = new Worker(QUEUE, async () => {}, {
        connection: { url: env.BENCH_REDIS_URL },
        concurrency: WORKER_CONCURRENCY,
      });
      w.on('completed', (job) => done(job.data, now()));
      w.on('error', (e) => console.error('bullmq worker:', e.message));
      await w.waitUntilReady();
      return () => w.close();
    },
  },

  pgboss: {
    async open() {
      const { default: PgBoss } = await import('pg-boss');
      const boss = new PgBoss({ connectionString: env.BENCH_PG_URL, supervise: false, schedule: false });
      boss.on('error', (e) => console.error('pg-boss:', e.message));
      await boss.start();
      await boss.createQueue(QUEUE);
      return {
        add: (data) => boss.send(QUEUE, data),
        addBulk: (list) => boss.insert(list.map((data) => ({ name: QUEUE, data }))),
        close: () => boss.stop({ graceful: false, wait: true }),
        boss,
      };
    },
    async work() {
      const { default: PgBoss } = await import('pg-boss');
      const boss = new PgBoss({ connectionString: env.BENCH_PG_URL });
      boss.on('error', (e) => console.error('pg-boss worker:', e.message));
      await boss.start();
      await boss.createQueue(QUEUE);
      for (let i = 0; i < PGBOSS_WORKERS; i++)
        await boss.work(QUEUE, { batchSize: PGBOSS_BATCH, pollingIntervalSeconds: PGBOSS_POLL_S }, async () => {});
      return () => boss.stop({ graceful: false, wait: true });
    },
  },

  graphile: {
    async open() {
      const { makeWorkerUtils } = await import('graphile-worker');
      const u = await makeWorkerUtils({ connectionString: env.BENCH_PG_URL });
      await u.migrate();
      return {
        add: (data) => u.addJob('bench', data),
        addBulk: (list) => u.addJobs(list.map((payload) => ({ identifier: 'bench', payload }))),
        close: () => u.release(),
        withPgClient: u.withPgClient,
      };
    },
    async work(done) {
      const { run } = await import('graphile-worker');
      const { EventEmitter } = await import('node:events');
      const events = new EventEmitter();
      events.on('job:complete', ({ job, error }) => {
        if (!error) done(job.payload, now());
      });
      const runner = await run({
        connectionString: env.BENCH_PG_URL,
        concurrency: WORKER_CONCURRENCY,
        maxPoolSize: GRAPHILE_POOL,
        noHandleSignals: true,
        taskList: { bench: async () => {} },
        events,
        logger: new (await import('graphile-worker')).Logger(() => (level, message) => {
          if (level === 'error' || level === 'warning') console.error('graphile-worker:', message);
        }),
      });
      return () => runner.stop();
    },
  },
};

// ===== The worker process =====

async function workerMain(o) {
  let phase = null;
  let times = [];
  let count = 0;
  let expected = 0;
  const done = (data, t) => {
    if (!data || data.p !== phase) return;
    times.push(data.i, t);
    if (++count === expected) process.send({ type: 'times', times });
  };
  const stop = await peers[o.peer].work(done);
  process.on('message', async (m) => {
    if (m.type === 'phase') {
      phase = m.phase;
      expected = m.jobs;
      count = 0;
      times = [];
      process.send({ type: 'phase-ok' });
    } else if (m.type === 'stop') {
      await stop();
      process.exit(0);
    }
  });
  process.send({ type: 'ready' });
}

// ===== The producer process =====

function message(child, type) {
  return new Promise((resolve, reject) => {
    const exited = (code) => reject(new Error(`the worker exited (${code})`));
    const on = (m) => {
      if (m.type === type) {
        child.off('message', on);
        child.off('exit', exited);
        resolve(m);
      }
    };
    child.on('message', on);
    child.once('exit', exited);
  });
}

// Waits until the phase's jobs are all done; answers { last, doneAt } (doneAt: job i → ms).
async function finish(o, q, child, phase, n, timeoutMs) {
  const doneAt = new Float64Array(n);
  const deadline = now() + timeoutMs;
  if (o.peer === 'pgboss') {
    const sql = `SELECT count(*) FILTER (WHERE state = 'completed')::int AS c,
                        max(extract(epoch FROM completed_on) * 1000)::float8 AS last
                 FROM pgboss.job WHERE name = $1 AND data->>'p' = $2`;
    for (;;) {
      const { rows } = await q.boss.getDb().executeSql(sql, [QUEUE, phase]);
      if (rows[0].c >= n) break;
      if (now() > deadline) throw new Error(`pg-boss: ${rows[0].c} of ${n} done in time`);
      await sleep(20);
    }
    const { rows } = await q.boss.getDb().executeSql(
      `SELECT (data->>'i')::int AS i, extract(epoch FROM completed_on) * 1000 AS t
       FROM pgboss.job WHERE name = $1 AND data->>'p' = $2`, [QUEUE, phase]);
    let last = 0;
    for (const r of rows) {
      doneAt[r.i] = Number(r.t);
      if (doneAt[r.i] > last) last = doneAt[r.i];
    }
    return { last, doneAt };
  }
  const times = await Promise.race([
    message(child, 'times'),
    sleep(timeoutMs).then(() => { throw new Error('the worker did not see every job done in time'); }),
  ]);
  let last = 0;
  for (let k = 0; k < times.times.length; k += 2) {
    doneAt[times.times[k]] = times.times[k + 1];
    if (times.times[k + 1] > last) last = times.times[k + 1];
  }
  if (o.peer === 'graphile') {
    // done means deleted: wait for the table to be empty
    for (;;) {
      const left = await q.withPgClient((c) => c.query('SELECT count(*)::int AS n FROM graphile_worker._private_jobs'));
      if (left.rows[0].n === 0) break;
      if (now() > deadline) throw new Error('graphile-worker: jobs left in the table');
      await sleep(5);
    }
    last = Math.max(last, now());
  }
  return { last, doneAt };
}

async function runPhase(o, q, child, kind) {
  const phase = `${kind}-${Date.now()}`;
  const n = kind === 'open' ? Math.round(o.rate * o.duration) : o.jobs;
  child.send({ type: 'phase', phase, jobs: n });
  await message(child, 'phase-ok');
  const start = new Float64Array(n);
  let errors = 0;
  let enqueued = 0;
  const t0 = now();
  const cpu0 = process.cpuUsage();
  if (kind === 'closed') {
    let next = 0;
    const caller = async () => {
      for (let i = next++; i < n; i = next++) {
        start[i] = now();
        try {
          await q.add({ p: phase, i });
        } catch (e) {
          if (errors++ < 3) console.error(`${o.peer}: enqueue failed: ${e.message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: o.concurrency }, caller));
  } else if (kind === 'open') {
    let next = 0;
    const pending = [];
    await new Promise((resolve) => {
      const tick = () => {
        const due = Math.min(n, Math.floor(((now() - t0) * o.rate) / 1000) + 1);
        for (; next < due; next++) {
          start[next] = t0 + (next * 1000) / o.rate;
          pending.push(q.add({ p: phase, i: next }).catch((e) => {
            if (errors++ < 3) console.error(`${o.peer}: enqueue failed: ${e.message}`);
          }));
        }
        if (next < n) setTimeout(tick, 1);
        else resolve();
      };
      tick();
    });
    await Promise.all(pending);
  } else {
    for (let i = 0; i < n; i += BULK_BATCH) {
      const list = [];
      for (let k = i; k < Math.min(n, i + BULK_BATCH); k++) {
        start[k] = now();
        list.push({ p: phase, i: k });
      }
      await q.addBulk(list);
    }
  }
  enqueued = now();
  const { last, doneAt } = await finish(o, q, child, phase, n, 300000);
  const cpu = process.cpuUsage(cpu0);
  const lat = [];
  for (let i = 0; i < n; i++) if (doneAt[i]) lat.push(Math.max(0, doneAt[i] - start[i]));
  const r3 = (x) => Math.round(x * 10) / 10;
  const out = {
    peer: o.peer,
    phase: kind,
    jobs: n,
    enqueue_errors: errors,
    done: lat.length,
    enqueue_s: Math.round(enqueued - t0) / 1000,
    enqueued_per_s: r3((n * 1000) / (enqueued - t0)),
    seconds: Math.round(last - t0) / 1000,
    jobs_per_s: r3((lat.length * 1000) / (last - t0)),
    enqueue_to_done: percentiles(lat),
    producer_cpu_percent_of_one_core: r3((100 * (cpu.user + cpu.system)) / 1000 / (enqueued - t0)),
  };
  if (kind === 'closed') out.concurrency = o.concurrency;
  if (kind === 'open') Object.assign(out, { rate_target: o.rate, duration_s: o.duration });
  if (kind === 'bulk') out.batch = BULK_BATCH;
  return out;
}

async function main() {
  const o = args(process.argv.slice(2));
  if (!peers[o.peer]) {
    console.error('usage: node peer.mjs bullmq|pgboss|graphile PHASE... [--jobs N] [--concurrency C] [--rate R] [--duration S]');
    process.exit(2);
  }
  if (env.BENCH_PEER_ROLE === 'worker') return workerMain(o);
  const q = await peers[o.peer].open();
  const child = fork(new URL(import.meta.url).pathname, process.argv.slice(2), {
    env: { ...env, BENCH_PEER_ROLE: 'worker' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let status = 0;
  try {
    await message(child, 'ready');
    for (const kind of o.phases) {
      if (!['closed', 'open', 'bulk'].includes(kind)) throw new Error(`unknown phase ${kind}`);
      console.log(JSON.stringify(await runPhase(o, q, child, kind)));
    }
  } catch (e) {
    console.error(`${o.peer}: ${e.message}`);
    status = 1;
  }
  child.send({ type: 'stop' });
  await Promise.race([new Promise((r) => child.once('exit', r)), sleep(10000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
  await q.close();
  process.exit(status);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
