"""kill -9 of the gateway in the middle of a stream of confirmations (and of a mix of
marketplace operations): afterwards no hold exists without its job and no job is
queued, held, accepted or submitted without its hold (job_violations), the ledger
balances (ledger_violations), every wallet adds up, and a restarted gateway works;
a scheduler started afterwards publishes whatever the crash left in the outbox."""

import http.client
import signal
import threading
import time
import unittest

import harness
from marketkit import MarketCase, run_threads

PRICE = 13
THREADS = 8


class CrashTest(MarketCase):
    label = "mcrash"
    HOLD = 600
    stack = None

    def setUp(self):
        super().setUp()
        # every test starts with a gateway of its own (the previous one was killed)
        self.gwp = self.stack.start_extra("gateway")
        harness.wait_ready(self.gwp)

    def storm(self, op, until_ok, limit=60):
        """Runs op(i, n) in THREADS threads until `until_ok` successes, then kills -9
        the gateway while they go on; returns the number of successes seen."""
        ok = [0]
        lock = threading.Lock()
        killed = threading.Event()
        stop = time.monotonic() + limit

        def worker(i):
            n = 0
            errors = 0
            while time.monotonic() < stop:
                n += 1
                try:
                    r = op(i, n)
                except (OSError, http.client.HTTPException):
                    errors += 1
                    if killed.is_set():
                        return
                    continue
                if r:
                    with lock:
                        ok[0] += 1
            raise AssertionError("worker %d: the gateway was never killed" % i)

        def killer():
            harness.wait_until(lambda: ok[0] >= until_ok, limit, "%d successes" % until_ok,
                               interval=0.005)
            self.gwp.send_signal(signal.SIGKILL)
            killed.set()

        kt = threading.Thread(target=killer, daemon=True)
        kt.start()
        run_threads(THREADS, worker)
        kt.join(5)
        self.assertTrue(killed.is_set())
        self.assertEqual(self.gwp.wait(10), -signal.SIGKILL)
        return ok[0]

    def post_to(self, port, key, path, body=None):
        return harness.http(port, "POST", path, body=body, headers=harness.bearer(key),
                            timeout=10)

    def check_after_crash(self, users, topups):
        # the invariants hold at once (the aborted transactions left nothing)
        lv = self.stack.db.query("SELECT violation || ': ' || coalesce(detail, '') "
                                 "FROM ledger_violations")
        jv = self.stack.db.query("SELECT violation || ': ' || job_id FROM job_violations")
        self.assertEqual((lv, jv), ("", ""))
        # every hold has its job, in an active state, at its price
        orphans = self.stack.db.scalar(
            "SELECT count(*) FROM ledger_holds h LEFT JOIN jobs j ON j.id = h.job_id "
            "WHERE j.id IS NULL OR (h.status = 'pending' AND (j.price_cents <> h.amount "
            "OR j.status NOT IN ('queued', 'held', 'running', 'submitted')))")
        self.assertEqual(orphans, "0")
        # a restarted gateway answers with wallets that add up
        g = self.stack.start_extra("gateway")
        harness.wait_ready(g)
        for u, top in zip(users, topups):
            w = harness.http(g.port, "GET", "/api/wallet", headers=harness.bearer(u["key"])).json
            held = int(self.stack.db.scalar(
                "SELECT coalesce(sum(price_cents), 0) FROM jobs WHERE sender_id = %s AND "
                "status IN ('queued', 'held', 'running', 'submitted')"
                % harness.sql_quote(u["id"])))
            self.assertEqual((w["available_cents"] + w["held_cents"], w["held_cents"]),
                             (top, held), w)
        return g

    def lifecycle_works(self, g, user):
        """A whole job on the restarted gateway: create, pull, accept, submit."""
        key = user["key"]
        r = self.post_to(g.port, key, "/api/jobs/run",
                         {"prompt": "after the crash", "confirmed": True, "price_cents": 1,
                          "required_capabilities": ["after-" + self.cap]})
        self.assertEqual(r.status, 201, r)
        job = r.json["id"]
        a = self.stack.principal("agent", "after", capabilities=["after-" + self.cap])
        r = self.post_to(g.port, a["key"], "/api/jobs/pull")
        self.assertEqual((r.status, r.json["id"]), (200, job), r)
        r = self.post_to(g.port, a["key"], "/api/jobs/%s/accept" % job)
        self.assertEqual(r.status, 200, r)
        r = self.post_to(g.port, a["key"], "/api/jobs/%s/submit" % job, {"output": "ok"})
        self.assertEqual((r.status, r.json["status"]), (200, "submitted"), r)

    def test_kill_during_confirmations(self):
        users = [self.new_user(cents=1000000) for _ in range(4)]
        port = self.gwp.port

        def confirm(i, n):
            u = users[i % len(users)]
            # a mix of paid and unpaid creates
            price = PRICE if n % 5 else 2000000
            r = self.post_to(port, u["key"], "/api/jobs/run",
                             {"prompt": "storm %d/%d" % (i, n), "confirmed": True,
                              "price_cents": price, "required_capabilities": [self.cap]})
            if r.status not in (201, 402):
                raise AssertionError("create: %r" % r)
            return r.status == 201
        ok = self.storm(confirm, until_ok=150)
        self.assertGreaterEqual(ok, 150)
        g = self.check_after_crash(users, [1000000] * 4)
        self.lifecycle_works(g, users[0])
        # the outbox: a relay publishes whatever the crash left unpublished
        sched = self.stack.start_extra("scheduler", {"ERRAND_SWEEP_SECONDS": "1"})
        harness.wait_ready(sched)
        harness.wait_until(
            lambda: self.stack.db.scalar(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL") == "0",
            45, "the outbox drained after the crash (a dead publisher's claims last 30 s)")
        n_events = self.stack.db.scalar("SELECT count(*) FROM outbox WHERE stream = 'events'")
        in_redis = harness.redis_command(self.stack.redis_url, "XLEN", self.stream_key("events"))
        self.assertGreaterEqual(in_redis, int(n_events))
        sched.stop()
        g.stop()

    def test_kill_during_mixed_operations(self):
        users = [self.new_user(cents=1000000) for _ in range(4)]
        agents = [self.new_agent() for _ in range(4)]
        port = self.gwp.port
        for u in users:  # some work for the agents from the start
            for k in range(10):
                r = self.post_to(port, u["key"], "/api/jobs/run",
                                 {"prompt": "seed %d" % k, "confirmed": True,
                                  "price_cents": PRICE, "required_capabilities": [self.cap]})
                self.assertEqual(r.status, 201, r)

        def mixed(i, n):
            if i % 2 == 0:
                u = users[i // 2 % len(users)]
                r = self.post_to(port, u["key"], "/api/jobs/run",
                                 {"prompt": "mix %d/%d" % (i, n), "confirmed": True,
                                  "price_cents": PRICE, "required_capabilities": [self.cap]})
                if r.status != 201:
                    raise AssertionError("create: %r" % r)
                if n % 3 == 0:
                    r = self.post_to(port, u["key"], "/api/jobs/%s/cancel" % r.json["id"])
                    if r.status != 200:
                        raise AssertionError("cancel: %r" % r)
                return True
            a = agents[i // 2 % len(agents)]
            r = self.post_to(port, a["key"], "/api/jobs/pull")
            if r.status == 204:
                return False
            if r.status != 200:
                raise AssertionError("pull: %r" % r)
            job = r.json["id"]
            step = n % 4
            if step == 0:
                r = self.post_to(port, a["key"], "/api/jobs/%s/reject" % job)
                return r.status == 200
            r = self.post_to(port, a["key"], "/api/jobs/%s/accept" % job)
            if r.status != 200:
                raise AssertionError("accept: %r" % r)
            if step == 1:
                r = self.post_to(port, a["key"], "/api/jobs/%s/fail" % job)
            else:
                r = self.post_to(port, a["key"], "/api/jobs/%s/submit" % job,
                                 {"output": {"n": n}})
            if r.status != 200:
                raise AssertionError("after accept: %r" % r)
            return True
        self.storm(mixed, until_ok=200)
        g = self.check_after_crash(users, [1000000] * 4)
        for a in agents:
            w = harness.http(g.port, "GET", "/api/wallet", headers=harness.bearer(a["key"])).json
            self.assertEqual(w["earnings_cents"], 0, w)
        self.lifecycle_works(g, users[1])
        g.stop()


if __name__ == "__main__":
    unittest.main()
