"""Push jobs of seed 002 verified before they complete (issue 5): a `completed` reply on a
/v1/jobs job with a brief.output_schema (or brief.constraints.verification) makes it
`submitted`; the verifier completes it when the result matches, and when it does not
the job gets a new run (attempt 2, …) and fails after max_attempts. POST /v1/jobs
refuses an output_schema the validator cannot use, storing nothing."""

import json
import unittest

import harness
from pushkit import rand_hex
from verifykit import PushVerifyCase, SSEReader, check_signature, verdict

SCHEMA = {"type": "object", "required": ["themes"],
          "properties": {"themes": {"type": "integer", "minimum": 1}},
          "additionalProperties": False}


class PushVerifyTest(PushVerifyCase):
    label = "vpush"

    def verifications(self, job_id):
        out = self.stack.db.scalar(
            "SELECT coalesce(json_agg(json_build_array(attempt, status, reason, settled_status)"
            " ORDER BY attempt), '[]') FROM verifications WHERE job_id = %s"
            % harness.sql_quote(job_id))
        return json.loads(out)

    def logs(self, who, job_id):
        """The job's whole log over SSE: (status, events)."""
        r = SSEReader(self.gw.port, who["key"], job_id)
        try:
            events = r.wait_end(20)
        finally:
            r.close()
        return r.status, events

    def test_matching_result_completes_the_job(self):
        user, agent = self.new_user(), self.new_agent()
        job, ev = self.started_job(user, agent, brief={"objective": "count the themes",
                                                      "output_schema": SCHEMA})
        a = self.reply_ok(ev["reply"]["token"], "completed", message="five themes",
                          result={"themes": 5})
        self.assertEqual(a["status"], "completed", a)  # the run is over
        j = self.wait_job(user["key"], job["id"], ("completed", "failed"))
        self.assertEqual((j["status"], j["result"], j["attempt_count"]),
                         ("completed", {"themes": 5}, 1), j)
        self.assertEqual(self.verifications(job["id"]), [[1, "passed", "every check passed",
                                                          "completed"]])
        self.assertEqual(len(self.runs_of(user["key"], job["id"])), 1)
        # the verdict is in the words of /v1/jobs
        st, events = self.logs(user, job["id"])
        self.assertEqual(st, 200)
        self.assertEqual(events[-1]["event"], "verdict", events)
        self.assertEqual(events[-1]["data"], {"attempt": 1, "pass": True,
                                              "reason": "every check passed",
                                              "status": "completed"})

    def test_non_matching_result_makes_new_runs_then_fails(self):
        user, agent = self.new_user(), self.new_agent()
        job, ev = self.started_job(user, agent, brief={
            "objective": "count the themes", "output_schema": SCHEMA,
            "constraints": {"max_attempts": 3}})
        runs = [ev["run"]["id"]]
        self.reply_ok(ev["reply"]["token"], "completed", message="no idea",
                      result={"themes": "many"})
        for n in (2, 3):
            ev = self.run_created(agent["endpoint"], job["id"], n=n, timeout=20)
            self.assertNotIn(ev["run"]["id"], runs)
            runs.append(ev["run"]["id"])
            self.wait_run(user["key"], ev["run"]["id"], "running")
            j = self.job(user["key"], job["id"])
            self.assertEqual(j["attempt_count"], n, j)
            self.assertEqual(j["status"], "running", j)
            self.assertIsNone(j["result"], j)
            bad = {"themes": 0} if n == 2 else {"themes": 2, "extra": True}
            self.reply_ok(ev["reply"]["token"], "completed", message="try %d" % n, result=bad)
        j = self.wait_job(user["key"], job["id"], ("completed", "failed"), timeout=20)
        self.assertEqual(j["status"], "failed", j)
        self.assertEqual(j["attempt_count"], 3, j)
        self.assertIsNone(j["result"], j)
        vs = self.verifications(job["id"])
        self.assertEqual([(v[0], v[1], v[3]) for v in vs],
                         [(1, "failed", "queued"), (2, "failed", "queued"),
                          (3, "failed", "failed")], vs)
        for v in vs:
            self.assertTrue(v[2].startswith("output_schema: "), v)
        got = [r["id"] for r in self.runs_of(user["key"], job["id"])]
        self.assertEqual(sorted(got), sorted(runs))
        # no fourth run
        self.assertEqual(len({r["json"]["run"]["id"] for r in
                              self.webhooks(agent["endpoint"], job_id=job["id"])}), 3)

    def test_external_verifier_on_a_push_job(self):
        user, agent = self.new_user(), self.new_agent()
        path = self.fake.endpoint([{"body": verdict(True, "looks right")}])
        body = {"agent_id": agent["id"], "brief": {
            "objective": "write the summary",
            "constraints": {"verification": {"webhook_url": self.fake.url(path)}}}}
        r = self.post(user["key"], "/v1/jobs", body)
        job = self.expect(r, 202)
        secret = job["verification"]["secret"]
        self.assertTrue(secret.startswith("whsec_"), job)
        ev = self.run_created(agent["endpoint"], job["id"])
        self.reply_ok(ev["reply"]["token"], "completed", message="the summary")
        j = self.wait_job(user["key"], job["id"], ("completed", "failed"))
        self.assertEqual((j["status"], j["result"]), ("completed", "the summary"), j)
        reqs = self.fake.requests_to(path)
        self.assertEqual(len(reqs), 1)
        self.assertIsNone(check_signature(secret, reqs[0]["headers"], reqs[0]["raw"]))
        self.assertEqual(reqs[0]["json"]["data"]["output"], "the summary")
        self.assertEqual(reqs[0]["json"]["data"]["objective"], "write the summary")
        self.assertNotIn(secret[6:], str(self.job(user["key"], job["id"])))

    def test_push_job_without_checks_completes_without_the_verifier(self):
        user, agent = self.new_user(), self.new_agent()
        job, ev = self.started_job(user, agent)
        self.reply_ok(ev["reply"]["token"], "completed", message="done", result={"any": 1})
        self.assertEqual(self.job(user["key"], job["id"])["status"], "completed")
        self.assertEqual(self.verifications(job["id"]), [])

    def test_unusable_output_schema_is_refused_and_nothing_stored(self):
        user, agent = self.new_user(), self.new_agent()
        counts = ("SELECT (SELECT count(*) FROM jobs) || '/' || (SELECT count(*) FROM runs)"
                  " || '/' || (SELECT count(*) FROM outbox)")
        before = self.db_scalar(counts)
        for schema in ({"$ref": "#/$defs/missing"}, {"type": 5}, {"pattern": "("},
                       {"$ref": "#"}, {"allOf": {}}, "string"):
            with self.subTest(schema=schema):
                r = self.post(user["key"], "/v1/jobs", {
                    "agent_id": agent["id"],
                    "brief": {"objective": "o " + rand_hex(4), "output_schema": schema}})
                err = self.assertError(r, 400, "invalid_output_schema")
                self.assertIn("output_schema", err["message"])
        self.assertEqual(self.db_scalar(counts), before)
        self.assertEqual(self.webhooks(agent["endpoint"]), [])


if __name__ == "__main__":
    unittest.main()
