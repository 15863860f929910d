"""The verifier settles marketplace submissions (issue 5): a pass captures the hold once
(the agent earns the price less floor(price × ERRAND_PLATFORM_FEE_BPS / 10000), the rest
goes to the fees account); a failed check goes through seed 003's fail logic (again to
the queue with the output cleared, failed and refunded after the third attempt,
cancelled and refunded when the sender asked to cancel); an output_schema the validator
cannot use is refused at creation with nothing stored."""

import json
import threading
import time
import unittest

import harness
from marketkit import parse_time, stream_entries
from verifykit import VerifyCase, verdict

SCHEMA = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}},
          "additionalProperties": False}
MAX_OUTPUT = 1024


def fee_of(price, bps):
    return price * bps // 10000


class VerifyMarketTest(VerifyCase):
    label = "vmarket"
    extra_env = {"ERRAND_MAX_OUTPUT_BYTES": str(MAX_OUTPUT)}

    def job_types(self, job_id):
        return [e.get("type") for e in self.job_events(job_id)]

    def wait_event(self, job_id, etype, timeout=15):
        harness.wait_until(lambda: etype in self.job_types(job_id), timeout,
                           "event %s of %s" % (etype, job_id))

    # ------------------------------------------------------------ a pass

    def test_pass_is_verified_and_captured_once(self):
        price = 999
        fee = fee_of(price, self.FEE_BPS)
        self.assertEqual(fee, 124)  # floor, not rounding: 999 × 0.125 = 124.875
        user, agent = self.parties(cents=5000)
        fees_before = self.account("fees")
        sub = self.submitted_job(user, agent, {"a": 7}, price=price, output_schema=SCHEMA)
        job_id = sub["id"]
        self.assertIsNone(sub["verified_at"], sub)
        job = self.wait_status(user, job_id, "verified")
        self.assertEqual(job["attempt_count"], 1, job)
        self.assertEqual(job["output"], {"a": 7}, job)
        self.assertNotIn("failure_reason", job)
        self.assertIsNotNone(job["verified_at"], job)
        self.assertGreaterEqual(parse_time(job["verified_at"]), parse_time(job["submitted_at"]))
        self.assertEqual(self.get_job(agent, job_id)["status"], "verified")

        # the money: captured once, the fee to the platform, nothing held
        self.assertWallet(user, 5000 - price, 0)
        self.assertWallet(agent, 0, 0, earnings=price - fee)
        self.assertEqual(self.account("fees") - fees_before, fee)
        self.assertEqual(self.transfers(job_id), [("hold", price), ("capture", price),
                                                  ("fee", fee)])
        self.assertEqual(self.stack.db.scalar(
            "SELECT status FROM ledger_holds WHERE job_id = %s" % harness.sql_quote(job_id)),
            "captured")
        self.assertEqual(self.account("escrow:" + job_id), 0)
        self.assertEqual(self.stack.db.scalar("SELECT count(*) FROM ledger_violations"), "0")
        self.assertEqual(self.stack.db.scalar("SELECT count(*) FROM job_violations"), "0")
        txs = [(t["kind"], t["amount_cents"]) for t in self.transactions(agent)
               if t["job_id"] == job_id]
        self.assertEqual(sorted(txs), sorted([("capture", price), ("fee", -fee)]), txs)
        txs = [(t["kind"], t["amount_cents"]) for t in self.transactions(user)
               if t["job_id"] == job_id]
        self.assertEqual(txs, [("hold", -price)], txs)

        # one verification, passed, its log and verdict stored
        vs = self.wait_verdicts(job_id, 1)
        self.assertEqual(len(vs), 1, vs)
        v = vs[0]
        self.assertEqual((v["attempt"], v["status"], v["settled_status"]),
                         (1, "passed", "completed"), v)
        steps = [e["data"].get("step") for e in v["log"] if e["event"] == "log"]
        self.assertEqual(steps[:3], ["start", "output", "schema"], v["log"])
        self.assertEqual(v["log"][-1]["event"], "verdict", v["log"])
        self.assertEqual(v["log"][-1]["data"], {"attempt": 1, "pass": True,
                                                "reason": v["reason"], "status": "verified"})
        self.wait_event(job_id, "job.completed")
        self.assertEqual(self.job_types(job_id).count("job.completed"), 1)
        self.assertEqual(self.job_types(job_id).count("job.submitted"), 1)

        # the same attempt delivered again (a duplicate stream entry) changes nothing
        before = (self.transfers(job_id), self.verifications(job_id), self.db_job(job_id))
        key = self.stream_key("verify")
        entries = [(i, f) for i, f in stream_entries(self.stack.redis_url, key)
                   if json.loads(f.get("payload", "{}")).get("job_id") == job_id]
        self.assertEqual(len(entries), 1, entries)
        harness.redis_command(self.stack.redis_url, "XADD", key, "*",
                              *[x for kv in entries[0][1].items() for x in kv])
        time.sleep(3)  # the verifier reads it at once; its poll runs every 2 s
        after = (self.transfers(job_id), self.verifications(job_id), self.db_job(job_id))
        self.assertEqual(after, before)
        self.assertWallet(agent, 0, 0, earnings=price - fee)
        self.assertEqual(self.stack.db.scalar(
            "SELECT count(*) FROM ledger_transfers WHERE kind = 'capture' AND job_id = %s"
            % harness.sql_quote(job_id)), "1")

    def test_zero_price_job_is_verified_without_money(self):
        user, agent = self.parties(cents=0)
        sub = self.submitted_job(user, agent, "plain text output", price=0)
        job = self.wait_status(user, sub["id"], "verified")
        self.assertEqual(job["output"], "plain text output")
        self.assertEqual(self.transfers(sub["id"]), [])
        self.assertWallet(agent, 0, 0, earnings=0)

    # ------------------------------------------------------------ failures

    def test_schema_failures_requeue_then_fail_and_refund(self):
        price = 700
        user, agent = self.parties(cents=5000)
        sub = self.submitted_job(user, agent, {"a": "seven"}, price=price, output_schema=SCHEMA)
        job_id = sub["id"]

        # attempt 1 fails its check: back to the queue, the output cleared
        job = self.wait_status(user, job_id, "queued")
        self.assertEqual(job["attempt_count"], 1, job)
        self.assertIsNone(job["output"], job)
        self.assertIsNone(job["agent_id"], job)
        self.assertIsNone(job["submitted_at"], job)
        self.assertIsNone(job["verified_at"], job)
        self.assertTrue(job["failure_reason"].startswith("output_schema: "), job)
        self.assertIn("/a", job["failure_reason"])
        self.assertIn("integer", job["failure_reason"])
        self.assertWallet(user, 5000 - price, price)
        row = self.db_job(job_id)
        self.assertIsNone(row["output"], row)

        # attempt 2: another shape, another failure
        self.resubmit(user, agent, job_id, {"b": 1})
        job = self.wait_status(user, job_id, "queued")
        self.assertEqual(job["attempt_count"], 2, job)
        self.assertTrue(job["failure_reason"].startswith("output_schema: "), job)
        self.assertWallet(user, 5000 - price, price)
        self.assertWallet(agent, 0, 0, earnings=0)

        # attempt 3, the last: failed, and the hold back in the wallet
        self.resubmit(user, agent, job_id, [1, 2])
        job = self.wait_status(user, job_id, "failed")
        self.assertEqual(job["attempt_count"], 3, job)
        self.assertTrue(job["failure_reason"].startswith("output_schema: "), job)
        self.assertIsNone(job["verified_at"], job)
        self.assertWallet(user, 5000, 0)
        self.assertWallet(agent, 0, 0, earnings=0)
        self.assertEqual(self.transfers(job_id), [("hold", price), ("release", price)])

        vs = self.wait_verdicts(job_id, 3)
        self.assertEqual([(v["attempt"], v["status"], v["settled_status"]) for v in vs],
                         [(1, "failed", "queued"), (2, "failed", "queued"),
                          (3, "failed", "failed")], vs)
        for v in vs:
            self.assertTrue(v["reason"].startswith("output_schema: "), v)
            self.assertEqual(v["log"][-1]["event"], "verdict")
            self.assertIs(v["log"][-1]["data"]["pass"], False)
        self.assertEqual([v["log"][-1]["data"]["status"] for v in vs],
                         ["queued", "queued", "failed"])
        self.wait_event(job_id, "job.failed")
        types = self.job_types(job_id)
        self.assertEqual(types.count("job.submitted"), 3, types)
        self.assertEqual(types.count("job.failed"), 1, types)
        self.assertNotIn("job.completed", types)

    def test_output_the_gateway_accepted_is_within_the_verifiers_limit(self):
        # 511 numbers are 1023 bytes of compact JSON ([1,1,…]), within the limit
        # of 1024 that the gateway checks at submit; the verifier must not count
        # the same output as longer (PostgreSQL's jsonb text adds a space after
        # every comma: 1533 bytes)
        output = [1] * 511
        compact = json.dumps(output, separators=(",", ":"))
        self.assertLessEqual(len(compact), MAX_OUTPUT)
        user, agent = self.parties()
        sub = self.submitted_job(user, agent, output, price=100)
        job = self.wait_status(user, sub["id"], ("verified", "queued"))
        self.assertEqual(job["status"], "verified",
                         "an output of %d bytes (compact JSON; the limit is %d) that the "
                         "gateway accepted failed the verifier's size check: %r"
                         % (len(compact), MAX_OUTPUT, job.get("failure_reason")))

    def test_output_over_the_limit_is_refused_at_submit(self):
        user, agent = self.parties()
        acc = self.accepted_job(user, agent, price=100)
        r = self.post(agent["key"], "/api/jobs/%s/submit" % acc["id"],
                      {"output": "x" * (MAX_OUTPUT + 10)})
        self.assertEqual(r.status, 413, r)
        self.assertEqual(self.get_job(user, acc["id"])["status"], "accepted")

    # ------------------------------------------------------------ cancellation

    def cancel_during_check(self, answer):
        """A job whose external verifier holds the check until the sender asked to cancel,
        then answers `answer`. Returns (user, agent, job id, price)."""
        price = 450
        user, agent = self.parties(cents=2000)
        gate = threading.Event()
        path = self.fake.endpoint([{"gate": gate, "body": answer}])
        sub = self.submitted_job(user, agent, {"a": 1}, price=price,
                                 verification={"webhook_url": self.fake.url(path)})
        job_id = sub["id"]
        self.fake.wait_requests(path, 1)  # the check is in progress
        c = self.job_op(user, job_id, "cancel")
        self.assertEqual((c["status"], c["cancellation_requested"]), ("submitted", True), c)
        self.assertWallet(user, 2000 - price, price)
        gate.set()
        return user, agent, job_id, price

    def test_cancel_requested_during_a_failing_check_cancels_and_refunds(self):
        user, agent, job_id, price = self.cancel_during_check(verdict(False, "not good"))
        job = self.wait_status(user, job_id, "cancelled")
        self.assertEqual(job["failure_reason"], "the external verifier: not good", job)
        self.assertEqual(job["attempt_count"], 1, job)
        self.assertWallet(user, 2000, 0)
        self.assertWallet(agent, 0, 0, earnings=0)
        self.assertEqual(self.transfers(job_id), [("hold", price), ("release", price)])
        vs = self.wait_verdicts(job_id, 1)
        self.assertEqual((vs[0]["status"], vs[0]["settled_status"]), ("failed", "cancelled"))
        self.assertEqual(vs[0]["log"][-1]["data"]["status"], "cancelled")

    def test_cancel_requested_during_a_passing_check_still_pays(self):
        # seed 003: a cancel of a submitted job only asks; the next failure cancels it
        user, agent, job_id, price = self.cancel_during_check(verdict(True, "fine"))
        job = self.wait_status(user, job_id, "verified")
        self.assertIs(job["cancellation_requested"], True)
        fee = fee_of(price, self.FEE_BPS)
        self.assertWallet(user, 2000 - price, 0)
        self.assertWallet(agent, 0, 0, earnings=price - fee)
        self.assertEqual(self.transfers(job_id), [("hold", price), ("capture", price),
                                                  ("fee", fee)])

    # ------------------------------------------------------------ unusable schemas

    def test_unusable_output_schema_is_refused_and_nothing_stored(self):
        user = self.new_user(cents=5000)
        bad = [
            {"$ref": "#/$defs/missing"},
            {"type": 5},
            {"pattern": "("},
            {"properties": {"a": {"pattern": "[a-"}}},
            {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}},
             "$ref": "#/$defs/a"},
            {"minLength": -1},
            {"required": "a"},
            {"items": 3},
            {"enum": "abc"},
            "a string",
            5,
            [],
        ]
        before = self.counts()
        for schema in bad:
            with self.subTest(schema=schema):
                r = self.post(user["key"], "/api/jobs/run", self.run_body(output_schema=schema))
                err = self.assertError(r, 400, "invalid_output_schema")
                self.assertIn("output_schema", err["message"])
        self.assertEqual(self.counts(), before)
        self.assertWallet(user, 5000, 0)
        # usable ones are taken (and kept as given)
        for schema in (True, {"$defs": {"n": {"type": "integer", "minimum": 0}},
                              "type": "object", "properties": {"n": {"$ref": "#/$defs/n"}},
                              "patternProperties": {"^x-[a-z]+$": {"type": "string"}}}):
            with self.subTest(schema=schema):
                job = self.run_job(user, price=10, output_schema=schema)
                self.assertEqual(job["output_schema"], schema)


if __name__ == "__main__":
    unittest.main()
