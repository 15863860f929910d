"""Time in the marketplace: holds expiring between pull and accept (410, enforced at
request time without any sweep), submits after the deadline (400, the attempt fails
through the fail logic), the cron route and the scheduler's sweep, rejected jobs
offered again after ERRAND_HOLD_SECONDS, and the outbox relay republishing what
Redis lost."""

import json
import time
import unittest

import harness
from marketkit import CRON_SECRET, MarketCase, parse_time, sleep_until


class TimingBase(MarketCase):
    HOLD = 2

    def cron(self):
        r = self.req("GET", "/api/cron/enforce-deadlines",
                     headers={"Authorization": "Bearer " + CRON_SECRET})
        self.assertEqual(r.status, 200, r)
        return r.json

    def start_scheduler(self, extra_env=None):
        env = {"ERRAND_SWEEP_SECONDS": "1"}
        env.update(extra_env or {})
        p = self.stack.start_extra("scheduler", env)
        self.addCleanup(p.stop)
        harness.wait_ready(p)
        return p


class HoldExpiryTest(TimingBase):
    """Gateway only: no scheduler sweeps, so what happens is the request's doing."""

    label = "mhold"

    def test_accept_after_hold_expired_is_410(self):
        u = self.new_user(cents=1000)
        a, b = self.new_agent(), self.new_agent()
        held = self.held_job(u, a, price=100)
        exp = parse_time(held["hold_expires_at"])
        self.assertLessEqual(exp - time.time(), self.HOLD + 1)
        sleep_until(exp, slack=0.3)  # time must pass
        before_tx = self.counts()["transfers"]
        r = self.post(a["key"], "/api/jobs/%s/accept" % held["id"])
        self.assertError(r, 410, "hold_expired")
        if "job" in r.json:
            self.assertEqual(r.json["job"]["status"], "queued", r)
        self.assertEqual(self.db_status(held["id"]), "queued")
        j = self.db_job(held["id"])
        self.assertIsNone(j["agent_id"])
        self.assertEqual(j["attempt_count"], 0, "an expired hold is no attempt")
        self.assertEqual(self.counts()["transfers"], before_tx, "money moved on expiry")
        self.assertWallet(u, 900, 100)
        # acting again: not held any more
        self.job_op(a, held["id"], "accept", expect=409, code="not_held")
        # the job is back in the queue for anyone
        g = self.pull(b)
        self.assertEqual(g["id"], held["id"])
        acc = self.job_op(b, held["id"], "accept")
        self.assertEqual(acc["attempt_count"], 1)
        self.assertWallet(u, 900, 100)

    def test_reject_after_hold_expired(self):
        u = self.new_user(cents=1000)
        a = self.new_agent()
        held = self.held_job(u, a, price=100)
        sleep_until(parse_time(held["hold_expires_at"]), slack=0.3)
        self.job_op(a, held["id"], "reject", expect=409, code="not_held")
        self.assertEqual(self.db_status(held["id"]), "queued")
        # not a reject: the agent may pull it again at once
        self.assertEqual(self.pull(a)["id"], held["id"])
        self.assertWallet(u, 900, 100)

    def test_cancel_after_hold_expired_refunds(self):
        u = self.new_user(cents=1000)
        a = self.new_agent()
        held = self.held_job(u, a, price=100)
        sleep_until(parse_time(held["hold_expires_at"]), slack=0.3)
        c = self.job_op(u, held["id"], "cancel")
        self.assertEqual(c["status"], "cancelled")
        self.assertWallet(u, 1000, 0)

    def test_cron_releases_expired_holds(self):
        u = self.new_user(cents=1000)
        a = self.new_agent()
        h1 = self.held_job(u, a, price=100)
        h2 = self.held_job(u, a, price=100)
        sleep_until(max(parse_time(h1["hold_expires_at"]), parse_time(h2["hold_expires_at"])),
                    slack=0.3)
        self.assertEqual(self.db_status(h1["id"]), "held", "something swept without a sweeper")
        r = self.cron()
        for h in (h1, h2):
            j = self.db_job(h["id"])
            self.assertEqual((j["status"], j["agent_id"], j["attempt_count"]),
                             ("queued", None, 0))
        # the holds were released: the count must say so
        self.assertGreaterEqual(r["released_holds"], 2, r)
        self.assertEqual(self.cron(), {"released_holds": 0, "failed_deadlines": 0})
        self.assertWallet(u, 800, 200)

    def test_rejected_job_offered_again_after_hold_seconds(self):
        u = self.new_user(cents=1000)
        a = self.new_agent()
        held = self.held_job(u, a, price=100)
        t0 = time.monotonic()
        self.job_op(a, held["id"], "reject")
        self.pull(a, expect=204)

        def again():
            r = self.post(a["key"], "/api/jobs/pull")
            return r.json if r.status == 200 else None
        g = harness.wait_until(again, self.HOLD + 10, "the rejected job offered again",
                               interval=0.2)
        elapsed = time.monotonic() - t0
        self.assertEqual(g["id"], held["id"])
        self.assertGreaterEqual(elapsed, self.HOLD - 0.5,
                                "offered again %.2f s after the reject" % elapsed)

    def test_pending_payment_does_not_expire(self):
        u = self.new_user(cents=10)
        j = self.run_job(u, price=100, expect=402)
        time.sleep(self.HOLD + 0.5)  # time must pass
        self.cron()
        self.assertEqual(self.db_status(j["id"]), "pending_payment")


class DeadlineTest(TimingBase):
    label = "mdeadline"
    HOLD = 10  # the holds here must outlive a slow pull -> accept

    def accepted_with_limit(self, user, agent, seconds=1, **kw):
        acc = self.accepted_job(user, agent, time_limit_seconds=seconds, **kw)
        self.assertAlmostEqual(parse_time(acc["deadline_at"]) - parse_time(acc["accepted_at"]),
                               seconds, delta=0.01)
        return acc

    def test_submit_after_deadline_fails_the_attempt(self):
        u = self.new_user(cents=1000)
        agents = [self.new_agent() for _ in range(3)]
        job = self.run_job(u, price=300, time_limit_seconds=1)
        for i, a in enumerate(agents):
            self.assertEqual(self.pull(a)["id"], job["id"])
            acc = self.job_op(a, job["id"], "accept")
            self.assertEqual(acc["attempt_count"], i + 1)
            sleep_until(parse_time(acc["deadline_at"]), slack=0.2)  # time must pass
            r = self.post(a["key"], "/api/jobs/%s/submit" % job["id"], {"output": "late"})
            self.assertError(r, 400, "deadline_passed")
            want = "queued" if i < 2 else "failed"
            if "job" in r.json:
                self.assertEqual(r.json["job"]["status"], want, r)
                self.assertNotEqual(r.json["job"].get("output"), "late")
            j = self.db_job(job["id"])
            self.assertEqual(j["status"], want)
            self.assertIsNone(j["output"])
            self.assertEqual(j["attempt_count"], i + 1)
            if i < 2:
                self.assertIsNone(j["agent_id"])
                self.assertWallet(u, 700, 300)
                # the late agent can no longer act on it
                self.job_op(a, job["id"], "submit", {"output": "later"}, expect=409,
                            code="not_accepted")
                self.job_op(a, job["id"], "fail", expect=409, code="not_accepted")
            else:
                self.assertWallet(u, 1000, 0)
            self.assertWallet(a, 0, 0, earnings=0)

    def test_submit_before_deadline(self):
        u = self.new_user(cents=1000)
        a = self.new_agent()
        acc = self.accepted_with_limit(u, a, seconds=5, price=100)
        s = self.job_op(a, acc["id"], "submit", {"output": "in time"})
        self.assertEqual(s["status"], "submitted")
        # past the deadline a submitted job stays submitted
        sleep_until(parse_time(acc["deadline_at"]), slack=0.2)
        self.cron()
        self.assertEqual(self.db_status(acc["id"]), "submitted")
        self.assertWallet(u, 900, 100)

    def test_fail_after_deadline(self):
        """An explicit fail after the deadline: one attempt failed, not two."""
        u = self.new_user(cents=1000)
        a = self.new_agent()
        acc = self.accepted_with_limit(u, a, price=100)
        sleep_until(parse_time(acc["deadline_at"]), slack=0.2)
        r = self.post(a["key"], "/api/jobs/%s/fail" % acc["id"], {"reason": "too slow"})
        self.assertIn(r.status, (200, 409), r)
        j = self.db_job(acc["id"])
        self.assertEqual((j["status"], j["attempt_count"]), ("queued", 1))
        self.assertWallet(u, 900, 100)

    def test_cron_fails_past_deadline(self):
        u = self.new_user(cents=1000)
        a = self.new_agent()
        acc = self.accepted_with_limit(u, a, price=100)
        sleep_until(parse_time(acc["deadline_at"]), slack=0.2)
        self.assertEqual(self.db_status(acc["id"]), "running")
        r = self.cron()
        self.assertGreaterEqual(r["failed_deadlines"], 1, r)
        j = self.db_job(acc["id"])
        self.assertEqual((j["status"], j["agent_id"], j["attempt_count"]), ("queued", None, 1))
        self.assertWallet(u, 900, 100)
        self.job_op(a, acc["id"], "submit", {"output": "x"}, expect=409, code="not_accepted")

    def test_cron_after_third_attempt_refunds(self):
        u = self.new_user(cents=1000)
        job = self.run_job(u, price=100, time_limit_seconds=1)
        for i in range(3):
            a = self.new_agent()
            self.assertEqual(self.pull(a)["id"], job["id"])
            acc = self.job_op(a, job["id"], "accept")
            sleep_until(parse_time(acc["deadline_at"]), slack=0.2)
            self.cron()
        self.assertEqual(self.db_status(job["id"]), "failed")
        self.assertWallet(u, 1000, 0)

    def test_cancel_requested_then_deadline_cancels(self):
        u = self.new_user(cents=1000)
        a = self.new_agent()
        acc = self.accepted_with_limit(u, a, price=100)
        c = self.job_op(u, acc["id"], "cancel")
        self.assertIs(c["cancellation_requested"], True)
        sleep_until(parse_time(acc["deadline_at"]), slack=0.2)
        self.cron()
        self.assertEqual(self.db_status(acc["id"]), "cancelled")
        self.assertWallet(u, 1000, 0)


class SchedulerTest(TimingBase):
    """The scheduler's sweep and outbox relay (ERRAND_SWEEP_SECONDS=1)."""

    label = "msched"
    HOLD = 3

    def test_scheduler_releases_holds_and_fails_deadlines(self):
        sched = self.start_scheduler()
        u = self.new_user(cents=1000)
        a = self.new_agent()
        held = self.held_job(u, a, price=100)
        acc = self.accepted_job(u, a, price=100, time_limit_seconds=1)
        harness.wait_until(lambda: self.db_status(held["id"]) == "queued", self.HOLD + 10,
                           "the sweep releasing the hold")
        harness.wait_until(lambda: self.db_status(acc["id"]) == "queued", 12,
                           "the sweep failing the deadline")
        self.assertEqual(self.db_job(held["id"])["attempt_count"], 0)
        self.assertEqual(self.db_job(acc["id"])["attempt_count"], 1)
        self.assertWallet(u, 800, 200)

        # the scheduler counts what it did
        def counted():
            text = sched.http("GET", "/metrics").text
            return (harness.metric_sum(text, "errand_sweep_released_holds_total") >= 1
                    and harness.metric_sum(text, "errand_sweep_failed_deadlines_total") >= 1)
        try:
            harness.wait_until(counted, 5, "the sweep metrics")
        except AssertionError:
            text = sched.http("GET", "/metrics").text
            self.fail("the sweep metrics do not count the work done: %s" % [
                l for l in text.splitlines() if l.startswith("errand_sweep_")])

    def test_two_schedulers_do_nothing_twice(self):
        self.start_scheduler()
        self.start_scheduler()
        u = self.new_user(cents=100000)
        agents = [self.new_agent() for _ in range(4)]
        jobs = [self.run_job(u, price=10)["id"] for _ in range(20)]
        got = []
        for i in range(20):
            got.append(self.pull(agents[i % 4])["id"])
        self.assertEqual(sorted(got), sorted(jobs))
        harness.wait_until(
            lambda: all(self.db_status(j) == "queued" for j in jobs), self.HOLD + 15,
            "both sweeps releasing the holds")
        q = ",".join(harness.sql_quote(j) for j in jobs)
        out = self.stack.db.query(
            "SELECT job_id, count(*) FROM outbox WHERE stream = 'events' AND type = 'job.queued'"
            " AND job_id IN (%s) GROUP BY job_id" % q)
        counts = dict(line.split("|") for line in out.splitlines())
        # one job.queued at creation, one when the hold was released: never two releases
        self.assertEqual({k: int(v) for k, v in counts.items()}, {j: 2 for j in jobs})
        self.assertWallet(u, 100000 - 200, 200)

    def test_relay_republishes_lost_events(self):
        self.start_scheduler()
        u = self.new_user(cents=1000)
        a = self.new_agent()
        acc = self.accepted_job(u, a, price=100)
        self.job_op(a, acc["id"], "submit", {"output": "o"})
        types = ["job.held", "job.running", "job.submitted"]

        def published():
            got = [e["type"] for e in self.job_events(acc["id"])]
            n = self.stack.db.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            return got[-3:] == types and n == "0"
        harness.wait_until(published, 15, "the events published")
        before = [e["event_id"] for e in self.job_events(acc["id"])]
        # Redis loses everything of this stack; the outbox is told nothing was sent
        harness.redis_delete_prefix(self.stack.redis_url, self.stack.stream_prefix)
        self.assertEqual(self.job_events(acc["id"]), [])
        self.stack.db.query("UPDATE outbox SET published_at = NULL, claimed_until = NULL")
        harness.wait_until(lambda: [e["event_id"] for e in self.job_events(acc["id"])]
                           == before, 20, "the relay republishing the events")
        harness.wait_until(
            lambda: self.stack.db.scalar(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL") == "0",
            20, "the outbox marked published again")
        verify = [e for e in self.job_events(acc["id"], "verify")]
        self.assertEqual([e["type"] for e in verify], ["job.submitted"])
        p = json.loads(verify[0]["payload"])
        self.assertEqual(p["job_id"], acc["id"])
        # republished once, not in a loop
        time.sleep(3)  # time must pass: a relay that repeats would add entries
        self.assertEqual([e["event_id"] for e in self.job_events(acc["id"])], before)

    def test_relay_takes_over_expired_claims(self):
        """An event claimed by a publisher that never marked it (its claim has
        run out) is published again by the relay."""
        self.start_scheduler()
        u = self.new_user(cents=1000)
        j = self.run_job(u, price=100)
        harness.wait_until(lambda: self.job_events(j["id"]), 15, "the create's events")
        n = len(self.job_events(j["id"]))
        self.stack.db.query("UPDATE outbox SET published_at = NULL, claimed_until = now() - "
                            "interval '1 second' WHERE job_id = %s" % harness.sql_quote(j["id"]))
        harness.redis_command(self.stack.redis_url, "DEL", self.stream_key("events"))
        harness.wait_until(lambda: len(self.job_events(j["id"])) == n, 20,
                           "the relay republishing")


if __name__ == "__main__":
    unittest.main()
