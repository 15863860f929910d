"""Idempotency-Key on the POST routes of issue 3 (CONTRACT.md, General): the first
answer replayed byte for byte with Idempotent-Replayed: true, scoped to the caller
and the route; another body is 422 idempotency_key_reused; a key whose first request
still runs is 409 idempotency_in_progress; nothing happens twice."""

import threading
import unittest

import harness
from marketkit import MarketCase, rand_hex


class IdempotencyTest(MarketCase):
    label = "midem"
    HOLD = 300

    def ipost(self, who, path, body, key, **kw):
        return self.req("POST", path, key=who["key"], body=body,
                        headers={"Idempotency-Key": key}, **kw)

    def assertReplay(self, first, again):
        self.assertEqual(again.status, first.status, again)
        self.assertEqual(again.raw, first.raw, "the replay is not byte for byte")
        self.assertEqual(again.headers.get("idempotent-replayed"), "true", again.headers)
        self.assertNotEqual(first.headers.get("idempotent-replayed"), "true", first.headers)

    def test_create_replayed(self):
        u = self.new_user(cents=1000)
        key = "create-" + rand_hex()
        body = self.run_body(price=300)
        first = self.ipost(u, "/api/jobs/run", body, key)
        self.assertEqual(first.status, 201, first)
        before = self.counts()
        again = self.ipost(u, "/api/jobs/run", body, key)
        self.assertReplay(first, again)
        self.assertEqual(self.counts()["jobs"], before["jobs"], "the replay created a job")
        self.assertEqual(self.counts()["transfers"], before["transfers"])
        self.assertWallet(u, 700, 300)
        # without the key: a new job
        r = self.post(u["key"], "/api/jobs/run", body)
        self.assertEqual(r.status, 201, r)
        self.assertNotEqual(r.json["id"], first.json["id"])
        self.assertWallet(u, 400, 600)

    def test_other_body_is_422(self):
        u = self.new_user(cents=1000)
        key = "k-" + rand_hex()
        first = self.ipost(u, "/api/jobs/run", self.run_body(price=100), key)
        self.assertEqual(first.status, 201, first)
        before = self.counts()
        r = self.ipost(u, "/api/jobs/run", self.run_body(price=200), key)
        self.assertError(r, 422, "idempotency_key_reused")
        self.assertEqual(self.counts(), before)
        self.assertWallet(u, 900, 100)

    def test_scoped_to_caller_and_route(self):
        u1 = self.new_user(cents=1000)
        u2 = self.new_user(cents=1000)
        key = "shared-" + rand_hex()
        body = self.run_body(prompt="the same prompt", price=100)
        r1 = self.ipost(u1, "/api/jobs/run", body, key)
        r2 = self.ipost(u2, "/api/jobs/run", body, key)
        self.assertEqual((r1.status, r2.status), (201, 201), (r1, r2))
        self.assertNotEqual(r1.json["id"], r2.json["id"])
        self.assertNotEqual(r2.headers.get("idempotent-replayed"), "true")
        # the same key on another route of the same caller is another key
        r3 = self.ipost(u1, "/api/jobs/%s/cancel" % r1.json["id"], None, key)
        self.assertEqual((r3.status, r3.json["status"]), (200, "cancelled"), r3)
        self.assertWallet(u1, 1000, 0)
        self.assertWallet(u2, 900, 100)

    def test_402_replayed_after_topup(self):
        u = self.new_user(cents=50)
        key = "poor-" + rand_hex()
        body = self.run_body(price=100)
        first = self.ipost(u, "/api/jobs/run", body, key)
        self.assertError(first, 402, "insufficient_balance")
        self.topup(u["id"], 1000)
        before = self.counts()
        again = self.ipost(u, "/api/jobs/run", body, key)
        self.assertReplay(first, again)
        self.assertEqual(self.counts(), before)
        self.assertWallet(u, 1050, 0)

    def test_pay_and_topup_not_twice(self):
        u = self.new_user(cents=0)
        job = self.run_job(u, price=100, expect=402)
        key = "topup-" + rand_hex()
        path = "/v1/admin/wallets/%s/topup" % u["id"]
        t1 = self.ipost(self.admin, path, {"amount_cents": 150}, key)
        self.assertEqual(t1.status, 200, t1)
        self.assertReplay(t1, self.ipost(self.admin, path, {"amount_cents": 150}, key))
        self.assertWallet(u, 150, 0)
        pkey = "pay-" + rand_hex()
        p1 = self.ipost(u, "/api/jobs/%s/pay" % job["id"], None, pkey)
        self.assertEqual(p1.status, 200, p1)
        self.assertReplay(p1, self.ipost(u, "/api/jobs/%s/pay" % job["id"], None, pkey))
        self.assertWallet(u, 50, 100)

    def test_pull_replayed_gives_the_same_job(self):
        u = self.new_user(cents=1000)
        a = self.new_agent()
        j1 = self.run_job(u, price=10)
        j2 = self.run_job(u, price=10)
        key = "pull-" + rand_hex()
        p1 = self.ipost(a, "/api/jobs/pull", {}, key)
        self.assertEqual((p1.status, p1.json["id"]), (200, j1["id"]), p1)
        p2 = self.ipost(a, "/api/jobs/pull", {}, key)
        self.assertReplay(p1, p2)
        self.assertEqual(self.db_status(j2["id"]), "queued")

    def test_transitions_replayed(self):
        u = self.new_user(cents=1000)
        a = self.new_agent()
        held = self.held_job(u, a, price=100)
        for op, body in (("accept", None), ("submit", {"output": "o"})):
            with self.subTest(op=op):
                key = op + "-" + rand_hex()
                path = "/api/jobs/%s/%s" % (held["id"], op)
                first = self.ipost(a, path, body, key)
                self.assertEqual(first.status, 200, first)
                self.assertReplay(first, self.ipost(a, path, body, key))
        self.assertEqual(self.db_job(held["id"])["attempt_count"], 1)
        self.assertEqual(self.db_status(held["id"]), "submitted")

    def test_bad_keys(self):
        u = self.new_user(cents=1000)
        before = self.counts()
        r = self.ipost(u, "/api/jobs/run", self.run_body(price=1), "k" * 256)
        self.assertEqual(r.status, 400, r)
        self.assertEqual(self.counts(), before)
        r = self.ipost(u, "/api/jobs/run", self.run_body(price=1), "k" * 255)
        self.assertEqual(r.status, 201, r)

    def test_in_progress_is_409(self):
        """The first request is held inside the database (its wallet row locked by
        a session of ours); the same key meanwhile is 409; afterwards a replay."""
        u = self.new_user(cents=1000)
        key = "slow-" + rand_hex()
        body = self.run_body(price=100)
        lock = harness.PsqlSession(self.stack.database_url)
        self.addCleanup(lock.close)
        lock.run("BEGIN; SELECT balance FROM ledger_accounts WHERE id = %s FOR UPDATE;"
                 % harness.sql_quote("wallet:" + u["id"]))
        out = {}

        def first():
            out["r"] = self.ipost(u, "/api/jobs/run", body, key, timeout=60)
        t = threading.Thread(target=first, daemon=True)
        t.start()
        try:
            # wait until the first request waits on our lock
            harness.wait_until(lambda: self.stack.db.scalar(
                "SELECT count(*) FROM pg_locks WHERE NOT granted") != "0", 15,
                "the first request waiting on the lock")
            r = self.ipost(u, "/api/jobs/run", body, key)
            self.assertError(r, 409, "idempotency_in_progress")
        finally:
            lock.run("COMMIT;")
            t.join(30)
        self.assertEqual(out["r"].status, 201, out.get("r"))
        again = self.ipost(u, "/api/jobs/run", body, key)
        self.assertReplay(out["r"], again)
        self.assertWallet(u, 900, 100)


if __name__ == "__main__":
    unittest.main()
