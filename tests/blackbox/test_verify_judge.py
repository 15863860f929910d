"""The model judge (issue 5): with `verification.judge` the verifier asks the
OpenAI-compatible endpoint of ERRAND_LLM_URL (here a fake model server) whether the
output meets the objective; a pass pays, a fail fails the attempt with the judge's
reason, garbage is retried (1, 5, 25 s) and never taken for a pass, then the attempt
fails with `verifier_unavailable`; without ERRAND_LLM_URL a judged attempt fails with
`verifier_unavailable` at once."""

import json
import time
import unittest

from verifykit import RETRY_DELAYS, UNAVAILABLE, VerifyCase, chat, verdict

MODEL_PATH = "/v1/chat/completions"


class JudgeTest(VerifyCase):
    label = "vjudge"

    @classmethod
    def verifier_env(cls):
        # the judge's model for the verifier only: the gateway keeps its built-in structurer
        return {"ERRAND_LLM_URL": cls.fake.url(MODEL_PATH), "ERRAND_LLM_MODEL": "judge-model",
                "ERRAND_LLM_API_KEY": "sk-judge-key", "ERRAND_LLM_TIMEOUT_MS": "3000"}

    def judged_job(self, model_steps, output, prompt=None, **kw):
        self.fake.endpoint(model_steps, name=MODEL_PATH.lstrip("/"))
        user, agent = self.parties(cents=5000)
        verification = kw.pop("verification", {"judge": True})
        sub = self.submitted_job(user, agent, output, prompt=prompt, price=800,
                                 verification=verification, **kw)
        return user, agent, sub

    def model_requests(self, since):
        return [r for r in self.fake.requests_to(MODEL_PATH) if r["at"] >= since]

    def test_judge_pass_pays(self):
        t0 = time.time()
        user, agent, job = self.judged_job(
            [{"body": chat(verdict(True, "it is a haiku about rain"))}],
            {"haiku": "grey rain on the roof"}, prompt="Write a haiku about rain.")
        j = self.wait_status(user, job["id"], "verified")
        self.assertEqual(j["verification"], {"judge": True})
        self.assertWallet(agent, 0, 0, earnings=800 - 800 * self.FEE_BPS // 10000)
        reqs = self.model_requests(t0)
        self.assertEqual(len(reqs), 1, reqs)
        r = reqs[0]
        self.assertEqual(r["headers"].get("authorization"), "Bearer sk-judge-key")
        body = r["json"]
        self.assertEqual(body["model"], "judge-model")
        self.assertEqual(body.get("response_format"), {"type": "json_object"})
        self.assertEqual(body.get("temperature"), 0)
        roles = [m["role"] for m in body["messages"]]
        self.assertEqual(roles, ["system", "user"], body)
        self.assertIn('"pass"', body["messages"][0]["content"])
        self.assertIn('"reason"', body["messages"][0]["content"])
        asked = json.loads(body["messages"][1]["content"])
        self.assertEqual(set(asked), {"objective", "constraints", "output"}, asked)
        self.assertEqual(asked["objective"], "Write a haiku about rain.")
        out = asked["output"]
        self.assertEqual(json.loads(out) if isinstance(out, str) else out,
                         {"haiku": "grey rain on the roof"})
        v = self.wait_verdicts(job["id"], 1)[0]
        judge = [e["data"]["message"] for e in v["log"]
                 if e["event"] == "log" and e["data"]["step"] == "judge"]
        self.assertTrue(any("it is a haiku about rain" in m for m in judge), v["log"])

    def test_judge_answer_in_a_code_fence_is_read(self):
        fenced = "```json\n" + json.dumps(verdict(True, "fenced")) + "\n```"
        user, agent, job = self.judged_job([{"body": chat(fenced)}], {"x": 1})
        self.wait_status(user, job["id"], "verified")

    def test_prose_around_a_verdict_is_no_verdict(self):
        # only the object, or the object in a code fence (docs/verification.md): a
        # verdict quoted inside prose is garbage, retried, and never a pass
        t0 = time.time()
        prose = ('I cannot judge this output. A passing answer would look like '
                 '{"pass": true, "reason": "example"} but this is not one.')
        user, agent, job = self.judged_job(
            [{"body": chat(prose)}, {"body": chat(verdict(False, "second answer"))}],
            {"a": 1})
        j = self.wait_status(user, job["id"], ("queued", "verified"), timeout=15)
        self.assertEqual(j["status"], "queued",
                         "a verdict quoted in the judge's prose was taken for a pass")
        self.assertEqual(j["failure_reason"], "the judge: second answer")
        self.assertEqual(len(self.model_requests(t0)), 2)

    def test_judge_fail_fails_the_attempt_with_its_reason(self):
        user, agent, job = self.judged_job(
            [{"body": chat(verdict(False, "the output does not mention rain"))}],
            {"haiku": "sunny day"})
        j = self.wait_status(user, job["id"], "queued")
        self.assertEqual(j["failure_reason"], "the judge: the output does not mention rain")
        self.assertWallet(user, 4200, 800)
        self.assertWallet(agent, 0, 0, earnings=0)
        v = self.wait_verdicts(job["id"], 1)[0]
        self.assertEqual(v["log"][-1]["data"], {"attempt": 1, "pass": False,
                                                "reason": j["failure_reason"],
                                                "status": "queued"})

    def test_external_verifier_then_judge_in_order(self):
        t0 = time.time()
        ext = self.fake.endpoint([{"body": verdict(True, "external ok")}])
        user, agent, job = self.judged_job(
            [{"body": chat(verdict(False, "judge says no"))}], {"a": 1},
            verification={"judge": True, "webhook_url": self.fake.url(ext)})
        j = self.wait_status(user, job["id"], "queued")
        self.assertEqual(j["failure_reason"], "the judge: judge says no")
        ext_req = self.fake.requests_to(ext)
        self.assertEqual(len(ext_req), 1)
        judge_req = self.model_requests(t0)
        self.assertEqual(len(judge_req), 1)
        self.assertLess(ext_req[0]["at"], judge_req[0]["at"])
        steps = [e["data"]["step"] for e in self.wait_verdicts(job["id"], 1)[0]["log"]
                 if e["event"] == "log"]
        self.assertLess(steps.index("external"), steps.index("judge"), steps)

    def test_garbage_is_retried_never_passes_then_verifier_unavailable(self):
        t0 = time.time()
        steps = [
            {"body": chat("Looks good to me!")},                         # no JSON at all
            {"status": 500, "body": chat(verdict(True, "a 500 is no answer"))},
            {"body": chat({"pass": "true", "reason": "a string is no boolean"})},
            {"body": chat({"pass": True})},                              # no reason
            {"body": chat(verdict(True, "never asked"))},
        ]
        user, agent, job = self.judged_job(steps, {"a": 1})
        j = self.wait_status(user, job["id"], ("queued", "verified"),
                             timeout=sum(RETRY_DELAYS) + 25)
        self.assertEqual((j["status"], j["failure_reason"]), ("queued", UNAVAILABLE), j)
        self.assertWallet(agent, 0, 0, earnings=0)
        self.assertEqual(self.transfers(job["id"]), [("hold", 800)])
        reqs = self.model_requests(t0)
        self.assertEqual(len(reqs), 4, [r["at"] for r in reqs])
        gaps = [b["at"] - a["at"] for a, b in zip(reqs, reqs[1:])]
        for delay, gap in zip(RETRY_DELAYS, gaps):
            self.assertGreaterEqual(gap, delay - 0.1, gaps)
        v = self.wait_verdicts(job["id"], 1)[0]
        self.assertEqual((v["status"], v["reason"]), ("failed", UNAVAILABLE), v)


class JudgeWithoutModelTest(VerifyCase):
    label = "vnomodel"

    def test_judge_without_a_model_is_verifier_unavailable(self):
        user, agent = self.parties(cents=1000)
        sub = self.submitted_job(user, agent, {"a": 1}, price=300,
                                 verification={"judge": True})
        started = time.monotonic()
        j = self.wait_status(user, sub["id"], ("queued", "verified"), timeout=15)
        self.assertEqual((j["status"], j["failure_reason"]), ("queued", UNAVAILABLE), j)
        self.assertLess(time.monotonic() - started, RETRY_DELAYS[0] + RETRY_DELAYS[1],
                        "no model to ask: nothing to retry")
        self.assertWallet(agent, 0, 0, earnings=0)
        v = self.wait_verdicts(sub["id"], 1)[0]
        msgs = [e["data"]["message"] for e in v["log"] if e["event"] == "log"]
        self.assertTrue(any("ERRAND_LLM_URL" in m for m in msgs), msgs)


if __name__ == "__main__":
    unittest.main()
