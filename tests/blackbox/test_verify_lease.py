"""The verifier's lease (issue 5): a check that outlasts ERRAND_VERIFY_LEASE_SECONDS (an
external verifier that takes its time) keeps its lease by renewing it, so a second
verifier does not check the same attempt again meanwhile."""

import unittest

from verifykit import VerifyCase, verdict

LEASE_S = 2
SLOW_S = 8  # the external verifier's answer: four leases, under its 10 s timeout


class LeaseRenewalTest(VerifyCase):
    label = "vlease"
    VERIFIER_ENV = {"ERRAND_VERIFY_LEASE_SECONDS": str(LEASE_S)}

    def test_a_long_check_is_not_taken_over(self):
        other = self.start_verifier()  # a second verifier, polling for attempts without a lease
        user, agent = self.parties(cents=5000)
        path = self.fake.endpoint([{"sleep": SLOW_S, "body": verdict(True, "slow but sure")}])
        job = self.run_job(user, price=500, verification={"webhook_url": self.fake.url(path)})
        self.assertEqual(self.pull(agent)["id"], job["id"])
        self.job_op(agent, job["id"], "accept")
        self.job_op(agent, job["id"], "submit", {"output": {"answer": 42}})
        self.wait_status(user, job["id"], "verified", timeout=SLOW_S + 15)
        reqs = self.fake.requests_to(path)
        self.assertEqual(len(reqs), 1, "the attempt was checked again while its check ran: %s"
                         % [r["headers"].get("webhook-id") for r in reqs])
        vs = self.verifications(job["id"])
        self.assertEqual(len(vs), 1, vs)
        other.stop()


if __name__ == "__main__":
    unittest.main()
