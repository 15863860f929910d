"""Verifiers that die or lose their work (issue 5): kill -9 of a verifier in the middle
of a check, and another verifier finishes it once its lease ran out (a lease of a few
seconds, ERRAND_VERIFY_LEASE_SECONDS, so the takeover is quick) with the ledger
settled once; a submitted attempt whose stream entry Redis lost is found by the
verifiers' poll of PostgreSQL; SIGTERM stops an idle verifier at once."""

import signal
import threading
import time
import unittest

import harness
from marketkit import stream_entries
from verifykit import VerifyCase, check_signature, verdict

LEASE_S = 3


class VerifierCrashTest(VerifyCase):
    label = "vcrash"
    VERIFIER = False  # each test starts its own
    VERIFIER_ENV = {"ERRAND_VERIFY_LEASE_SECONDS": str(LEASE_S)}

    def run_verifier(self, name):
        v = self.start_verifier({"ERRAND_INSTANCE": name})
        self.addCleanup(v.stop)
        return v

    def pending(self):
        """Entries of errand:verify delivered to a verifier and not acknowledged."""
        try:
            reply = harness.redis_command(self.stack.redis_url, "XPENDING",
                                          self.stream_key("verify"), "verifiers")
        except RuntimeError:
            return 0
        return int(reply[0]) if reply else 0

    def test_kill_9_mid_check_then_another_verifier_finishes_it_once(self):
        price = 640
        fee = price * self.FEE_BPS // 10000
        hang = threading.Event()  # never set: the first try waits until the class ends
        path = self.fake.endpoint([{"gate": hang, "body": verdict(True, "too late")},
                                   {"body": verdict(True, "checked again")}])
        v1 = self.run_verifier("verifier-one")
        user, agent = self.parties(cents=3000)
        sub = self.submitted_job(user, agent, {"a": 1}, price=price,
                                 verification={"webhook_url": self.fake.url(path)})
        job_id = sub["id"]
        self.fake.wait_requests(path, 1)  # v1 is in the middle of the check
        rows = self.verifications(job_id)
        self.assertEqual([(r["attempt"], r["status"], r["verifier"]) for r in rows],
                         [(1, "running", "verifier-one")], rows)
        self.assertEqual(self.pending(), 1)

        v1.send_signal(signal.SIGKILL)
        self.assertEqual(v1.wait(10), -signal.SIGKILL)
        killed = time.monotonic()
        self.assertEqual(self.get_job(user, job_id)["status"], "submitted")

        self.run_verifier("verifier-two")
        job = self.wait_status(user, job_id, ("verified", "queued", "failed"),
                               timeout=LEASE_S + 30)
        self.assertEqual(job["status"], "verified", job)
        self.assertLess(time.monotonic() - killed, LEASE_S + 25)
        vs = self.wait_verdicts(job_id, 1)
        self.assertEqual([(r["attempt"], r["status"], r["verifier"]) for r in vs],
                         [(1, "passed", "verifier-two")], vs)
        # the money moved once
        self.assertEqual(self.transfers(job_id), [("hold", price), ("capture", price),
                                                  ("fee", fee)])
        self.assertWallet(user, 3000 - price, 0)
        self.assertWallet(agent, 0, 0, earnings=price - fee)
        reqs = self.fake.requests_to(path)
        self.assertGreaterEqual(len(reqs), 2, reqs)
        secret = sub["created"]["verification"]["secret"]
        for r in reqs:
            self.assertIsNone(check_signature(secret, r["headers"], r["raw"]))
        # the dead verifier's stream entry was taken over and acknowledged
        harness.wait_until(lambda: self.pending() == 0, 15,
                           "the verify entry acknowledged after the takeover")
        time.sleep(LEASE_S)  # nothing more happens to a settled attempt
        self.assertEqual(self.transfers(job_id), [("hold", price), ("capture", price),
                                                  ("fee", fee)])
        self.assertEqual(len(self.verifications(job_id)), 1)

    def test_stream_entry_lost_then_the_poll_finds_the_attempt(self):
        user, agent = self.parties(cents=1000)
        sub = self.submitted_job(user, agent, {"a": 1}, price=250)
        job_id = sub["id"]
        # no verifier runs; the entry is in errand:verify, then Redis loses it
        key = self.stream_key("verify")
        harness.wait_until(lambda: any(job_id in f.get("payload", "") for _, f in
                                       stream_entries(self.stack.redis_url, key)),
                           10, "the job.submitted entry of %s" % job_id)
        harness.redis_command(self.stack.redis_url, "DEL", key)
        self.run_verifier("verifier-poll")
        job = self.wait_status(user, job_id, ("verified", "queued"), timeout=20)
        self.assertEqual(job["status"], "verified", job)
        self.assertEqual([(r["attempt"], r["status"]) for r in self.wait_verdicts(job_id, 1)],
                         [(1, "passed")])
        self.assertEqual([k for k, _ in self.transfers(job_id)], ["hold", "capture", "fee"])

    def test_sigterm_stops_an_idle_verifier_at_once(self):
        v = self.start_verifier({"ERRAND_INSTANCE": "verifier-idle"})
        self.addCleanup(v.stop)
        time.sleep(1.5)  # its blocking read of errand:verify is in flight, as always
        started = time.monotonic()
        rc, killed = v.stop(signal.SIGTERM, timeout=20)
        took = time.monotonic() - started
        self.assertEqual((rc, killed), (0, False), v.tail())
        self.assertNotIn("work still in hand", v.log())
        self.assertLess(took, 5, "an idle verifier took %.1f s to stop on SIGTERM:\n%s"
                        % (took, v.tail(5)))


if __name__ == "__main__":
    unittest.main()
