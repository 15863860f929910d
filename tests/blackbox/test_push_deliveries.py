"""Webhook delivery (issue 4): receivers that fail, hang, answer 410, answer 429 with
Retry-After, or redirect; every attempt recorded and readable at
GET /v1/jobs/{id}/deliveries with the same webhook-id on every retry; a 410
disables the endpoint until a PATCH re-enables it; redirects are not followed;
when the last attempt fails the run fails and the job follows its retry rule;
private targets are refused by a dispatcher that does not allow them."""

import unittest

import harness
from pushkit import (ACK, FAIL, GONE, HANG, PushCase, fail_then_ack, redirect, too_many)

SCHEDULE = "0,1,1"  # three attempts: at once, then 1 s and 1 s later (plus jitter)
ATTEMPTS = 3
TIMEOUT_MS = 1000


class DeliveryTest(PushCase):
    label = "pdeliver"
    RETRY_SCHEDULE = SCHEDULE
    TIMEOUT_MS = TIMEOUT_MS

    def check_records(self, user, job_id, hooks):
        """The delivery records agree with what the receiver saw; returns them."""
        ds = self.wait_deliveries(user["key"], job_id, len(hooks))
        for d in ds:
            self.assertEqual(set(d), {"id", "webhook_id", "target", "event", "attempt",
                                      "status_code", "error", "latency_ms", "created_at"}, d)
            self.assertRegex(d["id"], r"^dlv_")
            self.assertIsInstance(d["latency_ms"], int, d)
            self.assertGreaterEqual(d["latency_ms"], 0, d)
        return ds

    def test_failing_receiver_retried_with_the_same_webhook_id(self):
        user = self.new_user()
        agent = self.new_agent(steps=fail_then_ack(2))
        job = self.dispatch(user["key"], agent["id"])
        hooks = self.wait_webhooks(agent["endpoint"], 3, job_id=job["id"])
        self.assertEqual(len({h["webhook_id"] for h in hooks}), 1, "one webhook-id on every retry")
        self.assertEqual(len({h["json"]["id"] for h in hooks}), 1, "one event id on every retry")
        self.assertEqual(len({h["json"]["reply"]["token"] for h in hooks}), 1)
        self.assertEqual([h["answered"] for h in hooks], [500, 500, 200])
        for a, b in zip(hooks, hooks[1:]):
            gap = (b["received_at_ms"] - a["received_at_ms"]) / 1000.0
            self.assertGreaterEqual(gap, 0.9, "the schedule's 1 s between attempts")
        ds = self.check_records(user, job["id"], hooks)
        self.assertEqual([(d["attempt"], d["status_code"]) for d in ds],
                         [(1, 500), (2, 500), (3, 200)], ds)
        self.assertEqual({d["webhook_id"] for d in ds}, {hooks[0]["webhook_id"]})
        self.assertTrue(ds[0]["error"], ds)
        self.assertIsNone(ds[2]["error"], ds)
        self.assertEqual({d["target"] for d in ds}, {self.receiver.url(agent["endpoint"])})
        self.assertEqual({d["event"] for d in ds}, {"agent.run.created"})
        self.wait_job(user["key"], job["id"], "running")
        # deliveries are the creator's (and the admin's) to read
        self.expect(self.get(agent["key"], "/v1/jobs/%s/deliveries" % job["id"]), 404)
        self.expect(self.get(self.admin["key"], "/v1/jobs/%s/deliveries" % job["id"]), 200)
        self.expect(self.get(None, "/v1/jobs/%s/deliveries" % job["id"]), 401)

    def test_hanging_receiver_times_out_and_is_retried(self):
        user = self.new_user()
        agent = self.new_agent(steps=[HANG, ACK])
        job = self.dispatch(user["key"], agent["id"])
        hooks = self.wait_webhooks(agent["endpoint"], 2, job_id=job["id"])
        self.assertEqual(hooks[0]["webhook_id"], hooks[1]["webhook_id"])
        gap = (hooks[1]["received_at_ms"] - hooks[0]["received_at_ms"]) / 1000.0
        self.assertGreaterEqual(gap, TIMEOUT_MS / 1000.0 * 0.9, "the timeout came first")
        ds = self.check_records(user, job["id"], hooks)
        self.assertIsNone(ds[0]["status_code"], ds)
        self.assertTrue(ds[0]["error"], ds)
        self.assertGreaterEqual(ds[0]["latency_ms"], TIMEOUT_MS * 0.9, ds)
        self.assertLess(ds[0]["latency_ms"], TIMEOUT_MS * 5, ds)
        self.assertEqual(ds[1]["status_code"], 200, ds)
        self.wait_job(user["key"], job["id"], "running")

    def test_refused_connection_is_a_failed_attempt(self):
        user = self.new_user()
        port = harness.free_port()  # nothing listens there
        r = self.post(self.admin["key"], "/v1/admin/principals",
                      {"role": "agent", "name": "nowhere",
                       "webhook_url": "http://127.0.0.1:%d/hook" % port})
        agent = self.expect(r, 201)
        job = self.dispatch(user["key"], agent["id"],
                            brief={"objective": "x", "constraints": {"max_attempts": 1}})
        ds = self.wait_deliveries(user["key"], job["id"], ATTEMPTS)
        self.assertEqual([d["attempt"] for d in ds], list(range(1, ATTEMPTS + 1)))
        for d in ds:
            self.assertIsNone(d["status_code"], d)
            self.assertTrue(d["error"], d)
        j = self.wait_job(user["key"], job["id"], "failed")
        self.assertIsNotNone(j["completed_at"])

    def test_429_retry_after_is_honoured(self):
        user = self.new_user()
        agent = self.new_agent(steps=[too_many(3), ACK])
        job = self.dispatch(user["key"], agent["id"])
        hooks = self.wait_webhooks(agent["endpoint"], 2, job_id=job["id"], timeout=20)
        gap = (hooks[1]["received_at_ms"] - hooks[0]["received_at_ms"]) / 1000.0
        self.assertGreaterEqual(gap, 2.9, "Retry-After: 3 must hold the next attempt 3 s")
        self.assertLess(gap, 10, "and not much longer")
        self.assertEqual(hooks[0]["webhook_id"], hooks[1]["webhook_id"])
        ds = self.check_records(user, job["id"], hooks)
        self.assertEqual([d["status_code"] for d in ds], [429, 200], ds)

    def test_redirect_is_not_followed_and_the_last_failure_retries_the_job(self):
        user = self.new_user()
        target = self.receiver.endpoint(steps=ACK, secrets=[])
        agent = self.new_agent(steps=[redirect(self.receiver.url(target))] * ATTEMPTS + [ACK])
        job = self.dispatch(user["key"], agent["id"],
                            brief={"objective": "x", "constraints": {"max_attempts": 2}})
        ev1 = self.run_created(agent["endpoint"], job["id"], 1)
        # the first run: three redirects, none followed, all failures
        run1 = self.wait_run(user["key"], ev1["run"]["id"], "failed", timeout=20)
        self.assertTrue(run1.get("error"), run1)
        self.assertEqual(self.receiver.requests(target), [], "a redirect was followed")
        hooks1 = [h for h in self.webhooks(agent["endpoint"], job_id=job["id"])
                  if h["json"]["run"]["id"] == ev1["run"]["id"]]
        self.assertEqual(len(hooks1), ATTEMPTS, hooks1)
        self.assertEqual([h["answered"] for h in hooks1], [302] * ATTEMPTS)
        # the job's retry rule: a second run, its own webhook (its own webhook-id), acknowledged
        ev2 = self.run_created(agent["endpoint"], job["id"], 2)
        self.assertNotEqual(ev2["run"]["id"], ev1["run"]["id"])
        self.wait_run(user["key"], ev2["run"]["id"], "running")
        self.assertEqual(self.job(user["key"], job["id"])["status"], "running")
        hooks2 = [h for h in self.webhooks(agent["endpoint"], job_id=job["id"])
                  if h["json"]["run"]["id"] == ev2["run"]["id"]]
        self.assertNotEqual(hooks2[0]["webhook_id"], hooks1[0]["webhook_id"])
        ds = self.wait_deliveries(user["key"], job["id"], ATTEMPTS + 1)
        self.assertEqual([d["status_code"] for d in ds], [302] * ATTEMPTS + [200], ds)
        self.assertEqual(len({d["webhook_id"] for d in ds[:ATTEMPTS]}), 1)
        self.assertEqual(self.receiver.requests(target), [])

    def test_all_attempts_failing_on_the_last_job_attempt_fails_the_job(self):
        user = self.new_user()
        agent = self.new_agent(steps=FAIL)
        job = self.dispatch(user["key"], agent["id"],
                            brief={"objective": "x", "constraints": {"max_attempts": 2}})
        j = self.wait_job(user["key"], job["id"], "failed", timeout=30)
        self.assertIsNotNone(j["completed_at"])
        runs = self.runs_of(user["key"], job["id"])
        self.assertEqual([r["status"] for r in runs], ["failed", "failed"], runs)
        hooks = self.webhooks(agent["endpoint"], job_id=job["id"])
        self.assertEqual(len(hooks), 2 * ATTEMPTS, [h["webhook_id"] for h in hooks])
        self.assertEqual(len({h["webhook_id"] for h in hooks}), 2)
        ds = self.deliveries(user["key"], job["id"])
        self.assertEqual(len(ds), 2 * ATTEMPTS)
        self.assertEqual({d["status_code"] for d in ds}, {500})

    def test_410_disables_the_endpoint_until_a_patch(self):
        user = self.new_user()
        agent = self.new_agent(steps=GONE)
        job = self.dispatch(user["key"], agent["id"],
                            brief={"objective": "x", "constraints": {"max_attempts": 2}})
        j = self.wait_job(user["key"], job["id"], "failed", timeout=30)
        self.assertIsNotNone(j["completed_at"])
        # one request only: after the 410 nothing more is sent there, not even the
        # job's second run
        hooks = self.webhooks(agent["endpoint"], job_id=job["id"])
        self.assertEqual([h["answered"] for h in hooks], [410], hooks)
        ds = self.deliveries(user["key"], job["id"])
        self.assertEqual(ds[0]["status_code"], 410, ds)
        for d in ds[1:]:
            self.assertIsNone(d["status_code"], ds)
        # another job to the disabled endpoint: nothing is sent either
        self.receiver.endpoint(agent["endpoint"], steps=ACK)
        job2 = self.dispatch(user["key"], agent["id"],
                             brief={"objective": "y", "constraints": {"max_attempts": 1}})
        self.wait_job(user["key"], job2["id"], "failed", timeout=30)
        self.assertEqual(self.webhooks(agent["endpoint"], job_id=job2["id"]), [])
        # PATCH re-enables it (same URL)
        r = self.req("PATCH", "/v1/admin/principals/" + agent["id"], key=self.admin["key"],
                     body={"webhook_url": self.receiver.url(agent["endpoint"])})
        self.expect(r, 200)
        job3 = self.dispatch(user["key"], agent["id"])
        ev = self.run_created(agent["endpoint"], job3["id"])
        self.wait_run(user["key"], ev["run"]["id"], "running")
        self.reply_ok(ev["reply"]["token"], "completed", message="back")

    def test_410_from_an_observer_disables_that_observer_only(self):
        user = self.new_user()
        agent = self.new_agent()
        gone = self.receiver.endpoint(steps=GONE, secrets=[])
        fine = self.receiver.endpoint(steps=ACK, secrets=[])
        job = self.dispatch(user["key"], agent["id"], observers=[
            {"type": "webhook", "url": self.receiver.url(gone)},
            {"type": "webhook", "url": self.receiver.url(fine)}])
        self.receiver.endpoint(gone, secrets=[job["observers"][0]["secret"]])
        self.receiver.endpoint(fine, secrets=[job["observers"][1]["secret"]])
        ev = self.run_created(agent["endpoint"], job["id"])
        self.wait_webhooks(fine, 1, event="job.running")
        self.wait_webhooks(gone, 1, event="job.running")
        self.reply_ok(ev["reply"]["token"], "completed", message="done")
        self.wait_webhooks(fine, 1, event="job.completed")
        harness.wait_until(lambda: self.db_scalar(
            "SELECT count(*) FROM webhook_messages WHERE job_id = '%s' AND status = 'pending'"
            % job["id"]) == "0", 15, "no pending observer message")
        self.assertEqual(len(self.receiver.requests(gone)), 1, "nothing after the 410")

    def test_reply_while_the_webhook_hangs_stops_the_retries(self):
        user = self.new_user()
        agent = self.new_agent(steps=HANG)
        job = self.dispatch(user["key"], agent["id"])
        ev = self.wait_webhooks(agent["endpoint"], 1, job_id=job["id"])[0]["json"]
        # the agent got the webhook and answers before acknowledging it
        a = self.reply_ok(ev["reply"]["token"], "completed", message="quick")
        self.assertEqual(a["status"], "completed")
        self.assertEqual(self.job(user["key"], job["id"])["status"], "completed")
        harness.wait_until(lambda: self.db_scalar(
            "SELECT count(*) FROM webhook_messages WHERE job_id = '%s' AND status = 'pending'"
            % job["id"]) == "0", 15, "no pending webhook")
        self.wait_deliveries(user["key"], job["id"], 1)
        self.assertEqual(len(self.webhooks(agent["endpoint"], job_id=job["id"])), 1)


class PrivateTargetTest(PushCase):
    """A dispatcher without ERRAND_WEBHOOK_ALLOW_PRIVATE sends nothing to loopback (the
    agent's URL was taken by a gateway that allows private targets: a gateway that does
    not refuses it at registration, see test_push_jobs)."""

    label = "pprivate"
    SCHEDULER = False
    RETRY_SCHEDULE = "0,1"

    @classmethod
    def start_dispatcher(cls, extra=None):
        return super().start_dispatcher(dict(extra or {}, ERRAND_WEBHOOK_ALLOW_PRIVATE="false"))

    def test_loopback_target_is_refused_by_the_dispatcher(self):
        user = self.new_user()
        agent = self.new_agent()
        job = self.dispatch(user["key"], agent["id"],
                            brief={"objective": "x", "constraints": {"max_attempts": 1}})
        ds = self.wait_deliveries(user["key"], job["id"], 2)
        for d in ds:
            self.assertIsNone(d["status_code"], d)
            self.assertTrue(d["error"], d)
        self.wait_job(user["key"], job["id"], "failed")
        self.assertEqual(self.receiver.requests(agent["endpoint"]), [],
                         "a webhook reached a loopback address")


if __name__ == "__main__":
    unittest.main()
