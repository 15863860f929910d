"""The external verifier URL (issue 5): `verification.webhook_url` gets a signed POST
(Standard Webhooks, with the whsec_ secret shown once in the creation answer, checked
here with hmac) and its verdict decides the attempt; one that times out, answers 500 or
answers garbage is asked again after 1, 5 and 25 s with the same webhook-id, never taken
for a pass, and then the attempt fails with `verifier_unavailable`."""

import time
import unittest

import harness
from verifykit import (EXTERNAL_TIMEOUT_S, RETRY_DELAYS, UNAVAILABLE, VerifyCase,
                       check_signature, verdict)

SCHEMA = {"type": "object", "required": ["haiku"], "properties": {"haiku": {"type": "string"}}}


class ExternalVerifierTest(VerifyCase):
    label = "vext"

    def external_job(self, steps, output=None, price=500, **kw):
        """A job whose verification.webhook_url answers `steps`, accepted and submitted.

        Returns (user, agent, creation answer, path)."""
        user, agent = self.parties(cents=5000)
        path = self.fake.endpoint(steps)
        job = self.run_job(user, price=price, output_schema=SCHEMA,
                           verification={"webhook_url": self.fake.url(path)}, **kw)
        held = self.pull(agent)
        self.assertEqual(held["id"], job["id"])
        self.job_op(agent, job["id"], "accept")
        sub = self.job_op(agent, job["id"], "submit",
                          {"output": output or {"haiku": "rain on the ledger"}})
        self.assertEqual(sub["status"], "submitted", sub)
        return user, agent, job, path

    def assertSigned(self, secret, req):
        why = check_signature(secret, req["headers"], req["raw"])
        self.assertIsNone(why, "the external verifier's request is not signed with the "
                          "job's secret: %s" % why)
        self.assertTrue(req["headers"]["webhook-id"].startswith("msg_"), req["headers"])
        self.assertIn("application/json", req["headers"].get("content-type", ""))

    def test_passing_verifier_gets_a_signed_request_and_the_job_is_paid(self):
        user, agent, job, path = self.external_job([{"body": verdict(True, "three lines")}])
        secret = job["verification"]["secret"]
        self.assertRegex(secret, r"^whsec_[A-Za-z0-9+/]{32}$")
        self.assertEqual(job["verification"]["webhook_url"], self.fake.url(path))
        done = self.wait_status(user, job["id"], "verified")
        self.assertWallet(agent, 0, 0, earnings=500 - 500 * self.FEE_BPS // 10000)

        reqs = self.fake.requests_to(path)
        self.assertEqual(len(reqs), 1, reqs)
        req = reqs[0]
        self.assertSigned(secret, req)
        # the checker itself refuses another secret and a changed body
        self.assertIsNotNone(check_signature("whsec_" + "A" * 32, req["headers"], req["raw"]))
        self.assertIsNotNone(check_signature(secret, req["headers"], req["raw"] + b" "))
        body = req["json"]
        self.assertEqual(body["type"], "verification.requested", body)
        self.assertRegex(body["id"], r"^evt_[0-9a-z]{26}$")
        self.assertEqual(body["data"], {
            "job_id": job["id"], "attempt": 1, "objective": job["prompt"],
            "output": {"haiku": "rain on the ledger"}, "output_schema": SCHEMA}, body)

        # the secret is shown once: neither the job nor the database shows it again
        for who in (user, agent):
            self.assertEqual(self.get_job(who, job["id"])["verification"],
                             {"webhook_url": self.fake.url(path)})
        self.assertEqual(done["verification"], {"webhook_url": self.fake.url(path)})
        stored = self.stack.db.scalar("SELECT verification::text FROM jobs WHERE id = %s"
                                      % harness.sql_quote(job["id"]))
        self.assertNotIn(secret[len("whsec_"):], stored)

        log = self.wait_verdicts(job["id"], 1)[0]["log"]
        ext = [e["data"]["message"] for e in log
               if e["event"] == "log" and e["data"]["step"] == "external"]
        self.assertEqual(len(ext), 2, log)
        self.assertIn("three lines", ext[-1])

    def test_failing_verifier_fails_the_attempt_with_its_reason(self):
        user, agent, job, path = self.external_job(
            [{"body": verdict(False, "the second line has 9 syllables")}])
        j = self.wait_status(user, job["id"], "queued")
        self.assertEqual(j["failure_reason"],
                         "the external verifier: the second line has 9 syllables", j)
        self.assertEqual(j["attempt_count"], 1)
        self.assertWallet(user, 4500, 500)
        self.assertWallet(agent, 0, 0, earnings=0)
        v = self.wait_verdicts(job["id"], 1)[0]
        self.assertEqual((v["status"], v["reason"]), ("failed", j["failure_reason"]), v)
        self.assertEqual(v["log"][-1]["event"], "verdict")
        self.assertEqual(v["log"][-1]["data"], {"attempt": 1, "pass": False,
                                                "reason": j["failure_reason"],
                                                "status": "queued"})
        self.assertEqual(len(self.fake.requests_to(path)), 1)
        self.assertSigned(job["verification"]["secret"], self.fake.requests_to(path)[0])

    def test_verifier_that_recovers_after_a_500_passes(self):
        user, agent, job, path = self.external_job(
            [{"status": 500, "body": "oops"}, {"body": verdict(True, "fine now")}])
        self.wait_status(user, job["id"], "verified", timeout=20)
        reqs = self.fake.requests_to(path)
        self.assertEqual(len(reqs), 2, reqs)
        self.assertEqual(reqs[0]["headers"]["webhook-id"], reqs[1]["headers"]["webhook-id"])
        self.assertGreaterEqual(reqs[1]["at"] - reqs[0]["at"], RETRY_DELAYS[0] - 0.05)
        for r in reqs:
            self.assertSigned(job["verification"]["secret"], r)

    def test_timeout_500_and_garbage_are_retried_then_verifier_unavailable(self):
        # one attempt, four tries: a timeout, a 500, two answers that are no verdict;
        # none of them may pass it (the last step would pass if it were ever reached)
        steps = [
            {"sleep": EXTERNAL_TIMEOUT_S + 5, "body": verdict(True, "too late")},
            {"status": 500, "body": verdict(True, "a 500 is no verdict")},
            {"body": {"pass": "yes", "reason": "pass is not a boolean"}},
            {"body": "pass: true", "content_type": "text/plain"},
            {"body": verdict(True, "never asked")},
        ]
        started = time.monotonic()
        user, agent, job, path = self.external_job(steps, price=600)
        secret = job["verification"]["secret"]
        self.fake.wait_requests(path, 3, timeout=EXTERNAL_TIMEOUT_S + 15)
        self.assertEqual(self.get_job(user, job["id"])["status"], "submitted",
                         "the job must wait in submitted while its verifier is retried")
        j = self.wait_status(user, job["id"], ("queued", "verified", "failed"),
                             timeout=sum(RETRY_DELAYS) + EXTERNAL_TIMEOUT_S + 30)
        elapsed = time.monotonic() - started
        self.assertEqual(j["status"], "queued", j)
        self.assertEqual(j["failure_reason"], UNAVAILABLE, j)
        self.assertEqual(j["attempt_count"], 1, j)
        self.assertWallet(user, 4400, 600)
        self.assertWallet(agent, 0, 0, earnings=0)
        self.assertEqual(self.transfers(job["id"]), [("hold", 600)])

        reqs = self.fake.requests_to(path)
        self.assertEqual(len(reqs), 4, "1 try and 3 retries: %r" % [r["at"] for r in reqs])
        ids = {r["headers"]["webhook-id"] for r in reqs}
        self.assertEqual(len(ids), 1, "every try of one attempt keeps its webhook-id: %r" % ids)
        for r in reqs:
            self.assertSigned(secret, r)
            self.assertEqual(r["json"]["data"]["attempt"], 1)
            self.assertEqual(r["json"]["data"]["job_id"], job["id"])
        # each retry after its delay (the first try ended by the verifier's timeout)
        gaps = [b["at"] - a["at"] for a, b in zip(reqs, reqs[1:])]
        self.assertGreaterEqual(gaps[0], EXTERNAL_TIMEOUT_S + RETRY_DELAYS[0] - 0.5, gaps)
        self.assertGreaterEqual(gaps[1], RETRY_DELAYS[1] - 0.1, gaps)
        self.assertGreaterEqual(gaps[2], RETRY_DELAYS[2] - 0.1, gaps)
        self.assertLess(elapsed, EXTERNAL_TIMEOUT_S + sum(RETRY_DELAYS) + 25, gaps)

        v = self.wait_verdicts(job["id"], 1)[0]
        self.assertEqual((v["status"], v["reason"], v["settled_status"]),
                         ("failed", UNAVAILABLE, "queued"), v)
        warns = [e["data"]["message"] for e in v["log"]
                 if e["event"] == "log" and e["data"]["step"] == "external"
                 and e["data"]["level"] == "warn"]
        self.assertEqual(len(warns), 3, v["log"])
        for delay, w in zip(RETRY_DELAYS, warns):
            self.assertIn("%d s" % delay, w)
        self.assertEqual(v["log"][-1]["data"]["pass"], False)


if __name__ == "__main__":
    unittest.main()
