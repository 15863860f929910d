"""Concurrency in the marketplace: 20 agents pulling 1,000 jobs at once (each job held
by exactly one agent, none twice), concurrent spending of one wallet (never below
zero), concurrent pays of one job, and accept racing cancel.

ERRAND_TEST_PULL_JOBS changes the number of jobs (default 1000)."""

import os
import threading
import time
import unittest

import harness
from marketkit import MarketCase, run_threads

N_JOBS = int(os.environ.get("ERRAND_TEST_PULL_JOBS", "1000"))
N_AGENTS = 20
N_CREATORS = 16
PRICE = 7


class ConcurrentPullTest(MarketCase):
    label = "mconc"
    HOLD = 900  # no hold may expire during the test
    extra_env = {"ERRAND_DB_POOL_SIZE": "8"}

    def create_jobs(self, users, n, price=PRICE):
        """n confirmed runs from N_CREATORS threads; returns the job ids, all 201."""
        per = [n // N_CREATORS + (1 if i < n % N_CREATORS else 0) for i in range(N_CREATORS)]

        def creator(i):
            u = users[i % len(users)]
            ids = []
            for k in range(per[i]):
                r = self.post(u["key"], "/api/jobs/run",
                              {"prompt": "job %d of creator %d" % (k, i), "confirmed": True,
                               "price_cents": price, "required_capabilities": [self.cap]},
                              timeout=60)
                if r.status != 201:
                    raise AssertionError("create %d/%d: %r" % (i, k, r))
                ids.append(r.json["id"])
            return ids
        return [j for ids in run_threads(N_CREATORS, creator) for j in ids]

    def test_concurrent_pulls(self):
        users = [self.new_user(cents=N_JOBS * PRICE) for _ in range(4)]
        agents = [self.new_agent(name="puller-%02d" % i) for i in range(N_AGENTS)]
        t0 = time.monotonic()
        created = self.create_jobs(users, N_JOBS)
        t_create = time.monotonic() - t0
        self.assertEqual(len(set(created)), N_JOBS)
        self.assertEqual(self.stack.db.scalar(
            "SELECT count(*) FROM jobs WHERE status = 'queued' AND %s = ANY (required_capabilities)"
            % harness.sql_quote(self.cap)), str(N_JOBS))

        lock = threading.Lock()
        total = [0]
        deadline = time.monotonic() + 240
        start = threading.Barrier(N_AGENTS)

        def puller(i):
            a = agents[i]
            got = []
            start.wait(30)
            while time.monotonic() < deadline:
                r = self.post(a["key"], "/api/jobs/pull", {"agent_name": "w%d" % i},
                              timeout=60)
                if r.status == 200:
                    j = r.json
                    if j["status"] != "held" or j["agent_id"] != a["id"]:
                        raise AssertionError("pull answered %r" % (j,))
                    got.append(j["id"])
                    with lock:
                        total[0] += 1
                elif r.status == 204:
                    with lock:
                        if total[0] >= N_JOBS:
                            return got
                    time.sleep(0.02)  # rows locked by other pullers: try again
                else:
                    raise AssertionError("pull: %r" % r)
            raise AssertionError("agent %d: time is up with %d of %d jobs pulled"
                                 % (i, total[0], N_JOBS))

        t1 = time.monotonic()
        results = run_threads(N_AGENTS, puller)
        t_pull = time.monotonic() - t1
        sys_note = "created %d jobs in %.1f s, pulled them in %.1f s" % (N_JOBS, t_create, t_pull)
        print("\n" + sys_note)
        flat = [j for got in results for j in got]
        self.assertEqual(len(flat), N_JOBS, "pulls answered %d jobs for %d" % (len(flat), N_JOBS))
        self.assertEqual(len(set(flat)), N_JOBS, "a job was held twice")
        self.assertEqual(set(flat), set(created))
        # the database agrees: each job held by the agent that was told so
        out = self.stack.db.query(
            "SELECT id, status, agent_id FROM jobs WHERE %s = ANY (required_capabilities)"
            % harness.sql_quote(self.cap))
        rows = {line.split("|")[0]: line.split("|")[1:] for line in out.splitlines()}
        expect = {j: ["held", agents[i]["id"]] for i, got in enumerate(results) for j in got}
        self.assertEqual(rows, expect)
        holders = self.stack.db.query(
            "SELECT count(*), count(DISTINCT job_id) FROM job_holders h JOIN jobs j "
            "ON j.id = h.job_id WHERE %s = ANY (j.required_capabilities)"
            % harness.sql_quote(self.cap))
        self.assertEqual(holders, "%d|%d" % (N_JOBS, N_JOBS))
        events = self.stack.db.query(
            "SELECT count(*), count(DISTINCT o.job_id) FROM outbox o JOIN jobs j ON j.id = o.job_id"
            " WHERE o.type = 'job.held' AND o.stream = 'events' AND %s = ANY (j.required_capabilities)"
            % harness.sql_quote(self.cap))
        self.assertEqual(events, "%d|%d" % (N_JOBS, N_JOBS))
        for u in users:
            w = self.wallet(u)
            self.assertEqual(w["available_cents"] + w["held_cents"], N_JOBS * PRICE)
        self.assertEqual(sum(self.wallet(u)["held_cents"] for u in users), N_JOBS * PRICE)
        for a in agents[:3]:
            self.assertWallet(a, 0, 0, earnings=0)
        # nothing left to pull
        self.pull(agents[0], expect=204)

    def test_concurrent_spending(self):
        u = self.new_user(cents=1000)
        n = 30

        def spend(i):
            r = self.post(u["key"], "/api/jobs/run",
                          {"prompt": "spend %d" % i, "confirmed": True, "price_cents": 100,
                           "required_capabilities": [self.cap]}, timeout=60)
            if r.status == 201:
                return r.status, r.json["status"]
            if r.status == 402:
                return r.status, r.json["job"]["status"]
            return r.status, r.text
        results = run_threads(n, spend)
        queued = [r for r in results if r == (201, "queued")]
        pending = [r for r in results if r == (402, "pending_payment")]
        self.assertEqual((len(queued), len(pending)), (10, 20), results)
        self.assertWallet(u, 0, 1000)
        self.assertEqual(self.stack.db.scalar(
            "SELECT min(balance) >= 0 FROM ledger_accounts WHERE kind <> 'funding'"), "t")

    def test_concurrent_pays_of_one_job(self):
        u = self.new_user(cents=100)
        job = self.run_job(u, price=500, expect=402)
        self.topup(u["id"], 900)

        def pay(i):
            r = self.post(u["key"], "/api/jobs/%s/pay" % job["id"], timeout=60)
            return r.status, (r.json.get("error") or {}).get("code")
        results = run_threads(10, pay)
        self.assertEqual(sorted(results),
                         [(200, None)] + [(400, "not_pending_payment")] * 9, results)
        self.assertWallet(u, 500, 500)

    def test_concurrent_pays_of_many_jobs(self):
        """Ten jobs pending, money for four: exactly four get paid."""
        u = self.new_user(cents=0)
        jobs = [self.run_job(u, price=250, expect=402)["id"] for _ in range(10)]
        self.topup(u["id"], 1000)

        def pay(i):
            return self.post(u["key"], "/api/jobs/%s/pay" % jobs[i], timeout=60).status
        results = run_threads(10, pay)
        self.assertEqual(sorted(results), [200] * 4 + [402] * 6, results)
        self.assertWallet(u, 0, 1000)

    def test_accept_races_cancel(self):
        n = 30
        u = self.new_user(cents=n * 100)
        a = self.new_agent()
        jobs = []
        for _ in range(n):
            jobs.append(self.held_job(u, a, price=100)["id"])

        def race(i):
            job = jobs[i // 2]
            if i % 2 == 0:
                r = self.post(a["key"], "/api/jobs/%s/accept" % job, timeout=60)
            else:
                r = self.post(u["key"], "/api/jobs/%s/cancel" % job, timeout=60)
            return r.status, r.json
        results = run_threads(2 * n, race)
        cancelled = 0
        for k, job in enumerate(jobs):
            (sa, ja), (sc, jc) = results[2 * k], results[2 * k + 1]
            final = self.db_job(job)
            with self.subTest(job=job):
                self.assertEqual(sc, 200, jc)
                if sa == 200:
                    # accepted first: the cancel only asked
                    self.assertEqual(ja["status"], "accepted")
                    self.assertEqual(jc["status"], "accepted")
                    self.assertIs(jc["cancellation_requested"], True)
                    self.assertEqual((final["status"], final["cancellation_requested"]),
                                     ("running", True))
                else:
                    self.assertEqual(sa, 409, ja)
                    self.assertEqual(ja["error"]["code"], "not_held")
                    self.assertEqual(jc["status"], "cancelled")
                    self.assertEqual(final["status"], "cancelled")
                    cancelled += 1
        self.assertWallet(u, cancelled * 100, (n - cancelled) * 100)
        print("\naccept vs cancel: %d cancelled first, %d accepted first"
              % (cancelled, n - cancelled))


if __name__ == "__main__":
    unittest.main()
