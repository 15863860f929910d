"""Run expiry (seed 004, CONTRACT.md): a reply after expiresInSeconds gets 409
run_expired whether or not the scheduler's sweep has run; a partial resets the
stall clock; the sweep expires a silent run and the job follows its retry rule
(a new run, a new webhook); a run whose webhook is still undelivered after
ERRAND_RUN_DELIVERY_DEADLINE_SECONDS fails; a job past its time limit fails."""

import time
import unittest

import harness
from pushkit import FAIL, PushCase, parse_time

EXPIRY = 4


class ExpiryBeforeSweepTest(PushCase):
    """The sweep never runs while these tests do: the gateway alone refuses late replies."""

    label = "pexpnosweep"
    RUN_EXPIRY = EXPIRY
    SWEEP = 3600

    def test_reply_after_expiry_is_409_before_the_sweep(self):
        user = self.new_user()
        agent = self.new_agent()
        job, ev = self.started_job(user, agent)
        run = self.get_run(user["key"], ev["run"]["id"])
        expires_at = parse_time(run["expires_at"])
        # wait (with a deadline) until the stored expiry has passed
        harness.wait_until(lambda: time.time() > expires_at + 0.5, EXPIRY + 5,
                           "the run's expires_at to pass", interval=0.1)
        for status, extra in (("partial", {"message": "late"}),
                              ("completed", {"message": "late", "result": {"x": 1}}),
                              ("failed", {"error": "late"})):
            r = self.reply(ev["reply"]["token"], status, **extra)
            self.assertError(r, 409, "run_expired", status)
        # nothing moved: no message appended, the job has no result
        run = self.get_run(user["key"], ev["run"]["id"])
        self.assertEqual(len(run["messages"]), 1, run)
        self.assertIn(run["status"], ("running", "expired"), run)
        j = self.job(user["key"], job["id"])
        self.assertIsNone(j["result"], j)
        self.assertNotEqual(j["status"], "completed", j)

    def test_partial_resets_the_stall_clock(self):
        user = self.new_user()
        agent = self.new_agent()
        job, ev = self.started_job(user, agent)
        token, run_id = ev["reply"]["token"], ev["run"]["id"]
        acked = time.time()
        first = parse_time(self.get_run(user["key"], run_id)["expires_at"])
        # keep sending partials, each well within the budget, past the first expiry
        last = first
        n = 0
        while time.time() < first + EXPIRY:
            time.sleep(EXPIRY / 2.0)
            n += 1
            a = self.reply_ok(token, "partial", message="progress %d" % n)
            self.assertEqual(a["status"], "running", a)
            self.assertFalse(a["idempotent"])
            self.assertTrue(EXPIRY - 1 <= a["expiresInSeconds"] <= EXPIRY, a)
            exp = parse_time(self.get_run(user["key"], run_id)["expires_at"])
            self.assertGreater(exp, last, "a partial must move expires_at later")
            self.assertAlmostEqual(exp, time.time() + EXPIRY, delta=2)
            last = exp
        self.assertGreater(time.time(), first, "the test must outlive the first expiry")
        self.assertGreater(time.time() - acked, EXPIRY)
        a = self.reply_ok(token, "completed", message="finished after %d partials" % n)
        self.assertEqual(a["status"], "completed")
        self.assertEqual(self.job(user["key"], job["id"])["status"], "completed")


class ExpiryWithSweepTest(PushCase):
    """The sweep runs every second."""

    label = "pexpsweep"
    RUN_EXPIRY = EXPIRY
    SWEEP = 1
    RETRY_SCHEDULE = "0,30"
    DELIVERY_DEADLINE = 4

    def test_sweep_expires_the_run_and_the_job_is_retried(self):
        user = self.new_user()
        agent = self.new_agent()
        job = self.dispatch(user["key"], agent["id"],
                            brief={"objective": "silent agent", "constraints": {"max_attempts": 2}})
        ev1 = self.run_created(agent["endpoint"], job["id"], 1)
        self.wait_run(user["key"], ev1["run"]["id"], "running")
        run1 = self.wait_run(user["key"], ev1["run"]["id"], "expired", timeout=EXPIRY + 15)
        self.assertIsNotNone(run1.get("ended_at"), run1)
        # the job's retry rule: a second run with its own webhook
        ev2 = self.run_created(agent["endpoint"], job["id"], 2, timeout=15)
        self.assertNotEqual(ev2["run"]["id"], ev1["run"]["id"])
        self.assertEqual(ev2["input"]["jobId"], job["id"])
        # a late reply to the expired run moves nothing (its answer: the next test)
        self.reply(ev1["reply"]["token"], "completed", message="late", result={"late": 1})
        self.assertEqual(len(self.get_run(user["key"], ev1["run"]["id"])["messages"]), 1)
        self.assertIsNone(self.job(user["key"], job["id"])["result"])
        # the second run expires too: attempts exhausted, the job fails
        self.wait_run(user["key"], ev2["run"]["id"], "expired", timeout=EXPIRY + 15)
        j = self.wait_job(user["key"], job["id"], "failed", timeout=10)
        self.assertIsNotNone(j["completed_at"], j)
        self.assertEqual(len(self.runs_of(user["key"], job["id"])), 2)

    def test_expired_run_answers_409_not_idempotent(self):
        user = self.new_user()
        agent = self.new_agent()
        job = self.dispatch(user["key"], agent["id"],
                            brief={"objective": "one try", "constraints": {"max_attempts": 1}})
        ev = self.run_created(agent["endpoint"], job["id"])
        self.wait_run(user["key"], ev["run"]["id"], "expired", timeout=EXPIRY + 15)
        self.wait_job(user["key"], job["id"], "failed", timeout=10)
        # seed 004: "if you reply after reply.expiresInSeconds, the run resolves to
        # expired and your reply is rejected with 409"; issue 4: "a reply gets 409,
        # whether or not the sweep has run" (not the 200 idempotent of a run that
        # ended by a reply or a cancel)
        for status, extra in (("completed", {"message": "late"}),
                              ("partial", {"message": "late"}),
                              ("failed", {"error": "late"})):
            r = self.reply(ev["reply"]["token"], status, **extra)
            self.assertError(r, 409, "run_expired", "%s after the sweep expired the run" % status)
        self.assertEqual(self.job(user["key"], job["id"])["status"], "failed")

    def test_pending_run_fails_after_the_delivery_deadline(self):
        user = self.new_user()
        agent = self.new_agent(steps=FAIL)
        job = self.dispatch(user["key"], agent["id"],
                            brief={"objective": "unreachable", "constraints": {"max_attempts": 1}})
        ev = self.run_created(agent["endpoint"], job["id"])
        run = self.wait_run(user["key"], ev["run"]["id"], "failed", timeout=15)
        self.assertTrue(run.get("error"), run)
        j = self.wait_job(user["key"], job["id"], "failed", timeout=10)
        self.assertIsNotNone(j["completed_at"])
        # the next attempt of the webhook (due 30 s later) is not sent for a failed run
        self.assertEqual(self.db_scalar(
            "SELECT count(*) FROM webhook_messages WHERE job_id = '%s' AND status = 'pending'"
            % job["id"]), "0")
        self.assertEqual(len(self.webhooks(agent["endpoint"], job_id=job["id"])), 1)

    def test_job_past_its_time_limit_fails(self):
        user = self.new_user()
        agent = self.new_agent()
        job = self.dispatch(user["key"], agent["id"],
                            brief={"objective": "slow", "constraints": {"time_limit_seconds": 2}})
        ev = self.run_created(agent["endpoint"], job["id"])
        self.reply_ok(ev["reply"]["token"], "partial", message="started")
        j = self.wait_job(user["key"], job["id"], "failed", timeout=15)
        self.assertIsNotNone(j["completed_at"])
        run = self.get_run(user["key"], ev["run"]["id"])
        self.assertNotIn(run["status"], ("pending", "running"), run)
        a = self.reply_ok(ev["reply"]["token"], "completed", message="too late")
        self.assertIs(a["idempotent"], True, a)
        self.assertEqual(self.job(user["key"], job["id"])["status"], "failed")


if __name__ == "__main__":
    unittest.main()
