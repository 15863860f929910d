"""The reply API of seed 004 (POST /api/agents/reply): partial then completed, replays
after a terminal reply, a retried partial with the same idempotencyKey, a failed
reply and the job's fail logic (a new run, a new webhook, until max_attempts),
bad requests, and bad, foreign and malformed reply tokens; a token selects its
own run only, whatever ids the body names."""

import unittest

import harness
from harness import STACK_SECRETS_KEY
from pushkit import PushCase, parse_time, reply_token_for, shaped_token

RUN_EXPIRY = 120


class ReplyTest(PushCase):
    label = "preply"
    RUN_EXPIRY = RUN_EXPIRY

    def messages(self, key, run_id):
        return [(m["seq"], m["role"], m["text"]) for m in self.get_run(key, run_id)["messages"]]

    def test_partial_then_completed(self):
        user = self.new_user()
        agent = self.new_agent()
        job, ev = self.started_job(user, agent)
        token, run_id = ev["reply"]["token"], ev["run"]["id"]
        a = self.reply_ok(token, "partial", message="Working on it")
        self.assertEqual(a, {"ok": True, "runId": run_id, "status": "running",
                             "idempotent": False, "expiresInSeconds": a["expiresInSeconds"]})
        self.assertTrue(RUN_EXPIRY - 5 <= a["expiresInSeconds"] <= RUN_EXPIRY, a)
        self.reply_ok(token, "partial", message="Categorised into 5 themes")
        self.assertEqual(self.job(user["key"], job["id"])["status"], "running")
        a = self.reply_ok(token, "completed", message="Here is your summary",
                          result={"themes": 5}, tokensUsed=99)
        self.assertEqual(a["status"], "completed", a)
        self.assertIs(a["idempotent"], False, a)
        self.assertEqual(a["runId"], run_id)
        run = self.get_run(user["key"], run_id)
        self.assertEqual(run["status"], "completed", run)
        self.assertEqual([(m["seq"], m["role"], m["text"]) for m in run["messages"]], [
            (1, "user", ev["input"]["message"]),
            (2, "agent", "Working on it"),
            (3, "agent", "Categorised into 5 themes"),
            (4, "agent", "Here is your summary")], run)
        for m in run["messages"]:
            parse_time(m["created_at"])
        j = self.job(user["key"], job["id"])
        self.assertEqual((j["status"], j["result"], j["tokens_used"]),
                         ("completed", {"themes": 5}, 99), j)

    def test_replay_after_terminal_changes_nothing(self):
        user = self.new_user()
        agent = self.new_agent()
        job, ev = self.started_job(user, agent)
        token, run_id = ev["reply"]["token"], ev["run"]["id"]
        self.reply_ok(token, "completed", message="first", result={"v": 1}, tokensUsed=5)
        before_job = self.job(user["key"], job["id"])
        before_msgs = self.messages(user["key"], run_id)
        for status, extra in (("completed", {"message": "first", "result": {"v": 1},
                                             "tokensUsed": 5}),
                              ("completed", {"message": "second", "result": {"v": 2},
                                             "tokensUsed": 500}),
                              ("partial", {"message": "more"}),
                              ("failed", {"error": "late failure"})):
            a = self.reply_ok(token, status, **extra)
            self.assertIs(a["idempotent"], True, (status, a))
            self.assertEqual(a["status"], "completed", a)
            self.assertEqual(a["runId"], run_id)
        self.assertEqual(self.job(user["key"], job["id"]), before_job)
        self.assertEqual(self.messages(user["key"], run_id), before_msgs)
        self.assertEqual(len(self.runs_of(user["key"], job["id"])), 1)

    def test_retried_partial_with_the_same_idempotency_key(self):
        user = self.new_user()
        agent = self.new_agent()
        job, ev = self.started_job(user, agent)
        token, run_id = ev["reply"]["token"], ev["run"]["id"]
        a1 = self.reply_ok(token, "partial", message="step one", idempotencyKey="k-1")
        self.assertIs(a1["idempotent"], False)
        a2 = self.reply_ok(token, "partial", message="step one", idempotencyKey="k-1")
        self.assertIs(a2["idempotent"], True, a2)
        self.assertEqual(a2["status"], "running")
        a3 = self.reply_ok(token, "partial", message="step two", idempotencyKey="k-2")
        self.assertIs(a3["idempotent"], False)
        # without a key nothing is recognised as a retry
        self.reply_ok(token, "partial", message="no key")
        self.reply_ok(token, "partial", message="no key")
        self.assertEqual(self.messages(user["key"], run_id), [
            (1, "user", ev["input"]["message"]), (2, "agent", "step one"),
            (3, "agent", "step two"), (4, "agent", "no key"), (5, "agent", "no key")])
        # the same key on another run is that run's own
        job2, ev2 = self.started_job(user, agent)
        a = self.reply_ok(ev2["reply"]["token"], "partial", message="other run",
                          idempotencyKey="k-1")
        self.assertIs(a["idempotent"], False, a)
        self.assertEqual(len(self.get_run(user["key"], ev2["run"]["id"])["messages"]), 2)
        for e in (ev, ev2):
            self.reply_ok(e["reply"]["token"], "completed", message="done")

    def test_failed_reply_retries_the_job_with_a_new_run_until_max_attempts(self):
        user = self.new_user()
        agent = self.new_agent()
        job = self.dispatch(user["key"], agent["id"],
                            brief={"objective": "flaky work", "constraints": {"max_attempts": 2}})
        ev1 = self.run_created(agent["endpoint"], job["id"], 1)
        self.wait_run(user["key"], ev1["run"]["id"], "running")
        a = self.reply_ok(ev1["reply"]["token"], "failed", error="Upstream model timed out.",
                          message="ignored")
        self.assertEqual(a["status"], "failed", a)
        self.assertIs(a["idempotent"], False)
        run1 = self.get_run(user["key"], ev1["run"]["id"])
        self.assertEqual(run1["status"], "failed", run1)
        self.assertEqual(run1["error"], "Upstream model timed out.", run1)
        self.assertNotIn("ignored", [m["text"] for m in run1["messages"]])
        # the job is attempted again: a new run, a new webhook, a new token
        j = self.job(user["key"], job["id"])
        self.assertIn(j["status"], ("queued", "running"), j)
        ev2 = self.run_created(agent["endpoint"], job["id"], 2)
        self.assertNotEqual(ev2["run"]["id"], ev1["run"]["id"])
        self.assertNotEqual(ev2["reply"]["token"], ev1["reply"]["token"])
        self.assertEqual(ev2["input"]["jobId"], job["id"])
        hooks = self.webhooks(agent["endpoint"], job_id=job["id"])
        self.assertEqual(len({h["webhook_id"] for h in hooks}), 2, hooks)
        self.wait_run(user["key"], ev2["run"]["id"], "running")
        # the old token no longer moves anything
        a = self.reply_ok(ev1["reply"]["token"], "completed", message="too late")
        self.assertIs(a["idempotent"], True)
        self.assertEqual(self.job(user["key"], job["id"])["status"], "running")
        # the second (last) attempt fails: the job fails, no third run
        self.reply_ok(ev2["reply"]["token"], "failed", error="again")
        j = self.job(user["key"], job["id"])
        self.assertEqual(j["status"], "failed", j)
        self.assertIsNotNone(j["completed_at"], j)
        self.assertIsNone(j["result"], j)
        runs = self.runs_of(user["key"], job["id"])
        self.assertEqual(sorted(r["status"] for r in runs), ["failed", "failed"], runs)
        self.assertEqual(self.db_scalar(
            "SELECT count(*) FROM webhook_messages WHERE job_id = '%s'" % job["id"]), "2")

    def test_default_max_attempts_is_three(self):
        user = self.new_user()
        agent = self.new_agent()
        job = self.dispatch(user["key"], agent["id"])
        for n in (1, 2, 3):
            ev = self.run_created(agent["endpoint"], job["id"], n)
            self.wait_run(user["key"], ev["run"]["id"], "running")
            self.reply_ok(ev["reply"]["token"], "failed", error="attempt %d" % n)
        j = self.wait_job(user["key"], job["id"], "failed", timeout=5)
        self.assertEqual(len(self.runs_of(user["key"], job["id"])), 3)
        self.assertEqual(j.get("max_attempts", 3), 3)

    def test_bad_requests(self):
        user = self.new_user()
        agent = self.new_agent()
        job, ev = self.started_job(user, agent)
        token, run_id = ev["reply"]["token"], ev["run"]["id"]
        cases = [
            ({"status": "partial"}, "missing message for partial"),
            ({"status": "completed"}, "missing message for completed"),
            ({"status": "completed", "result": {"x": 1}}, "completed with a result, no message"),
            ({"status": "failed"}, "failed without error"),
            ({"status": "failed", "message": "no error field"}, "failed with a message only"),
            ({"status": "failed", "error": "e" * 201}, "error over 200 characters"),
            ({"status": "done", "message": "x"}, "unknown status"),
            ({"status": "PARTIAL", "message": "x"}, "status in capitals"),
            ({"message": "x"}, "no status"),
            ({"status": 1, "message": "x"}, "status not a string"),
            ({"status": "partial", "message": 12}, "message not a string"),
        ]
        for body, why in cases:
            r = self.reply(token, **body)
            self.assertError(r, 400, "invalid_request", why)
        r = harness.http(self.gw.port, "POST", "/api/agents/reply", body="{not json")
        self.assertEqual(r.status, 400, r)
        # none of them touched the run
        self.assertEqual(self.messages(user["key"], run_id), [(1, "user", ev["input"]["message"])])
        self.assertEqual(self.get_run(user["key"], run_id)["status"], "running")
        self.reply_ok(token, "completed", message="fine")

    def test_bad_foreign_and_malformed_tokens(self):
        user = self.new_user()
        agent = self.new_agent()
        job, ev = self.started_job(user, agent)
        token, run_id = ev["reply"]["token"], ev["run"]["id"]
        bad = [
            None,  # no replyToken at all
            "",
            "garbage",
            token + "x",
            token[:-1],
            token.upper(),
            " " + token,
            shaped_token(),                       # the right shape, no run has it
            ev["mcp"]["token"],                   # the run's MCP token is not a reply token
            reply_token_for("00" * 32, run_id),   # this run, another deployment's key
            reply_token_for(STACK_SECRETS_KEY, "run_" + "0" * 26),  # a run that does not exist
            12345,
            {"token": token},
        ]
        for t in bad:
            body = {"status": "partial", "message": "intruder"}
            if t is not None:
                body["replyToken"] = t
            r = harness.http(self.gw.port, "POST", "/api/agents/reply", body=body)
            self.assertError(r, 401, "invalid_reply_token", repr(t))
        # an API key is no reply token either, in the header or in the body
        r = harness.http(self.gw.port, "POST", "/api/agents/reply",
                         headers=harness.bearer(agent["key"]),
                         body={"status": "partial", "message": "intruder"})
        self.assertError(r, 401, "invalid_reply_token")
        r = self.reply(agent["key"], "partial", message="intruder")
        self.assertError(r, 401, "invalid_reply_token")
        self.assertEqual(self.messages(user["key"], run_id), [(1, "user", ev["input"]["message"])])
        self.reply_ok(token, "completed", message="the real one")

    def test_a_bad_token_is_401_before_any_check_of_the_body(self):
        # CONTRACT.md, General: "Check order: 401 (no or bad credentials) -> 403 -> 404
        # -> the state errors (400/402/409/410)"; the reply token is the credential
        for token in (shaped_token(), "garbage"):
            for body in ({"status": "partial"}, {"status": "failed"},
                         {"status": "done", "message": "x"}, {"message": "x"}):
                r = self.reply(token, **body)
                self.assertError(r, 401, "invalid_reply_token", "%r %r" % (token, body))

    def test_a_token_only_ever_touches_its_own_run(self):
        user = self.new_user()
        agent = self.new_agent()
        job1, ev1 = self.started_job(user, agent)
        job2, ev2 = self.started_job(user, agent)
        # run 2's token with every id of run 1 in the body: run 2 is the one changed
        a = self.reply_ok(ev2["reply"]["token"], "partial", message="for run two",
                          runId=ev1["run"]["id"], run={"id": ev1["run"]["id"]},
                          jobId=job1["id"], run_id=ev1["run"]["id"])
        self.assertEqual(a["runId"], ev2["run"]["id"], a)
        a = self.reply_ok(ev2["reply"]["token"], "completed", message="two done",
                          runId=ev1["run"]["id"], result={"run": 2})
        self.assertEqual(a["runId"], ev2["run"]["id"], a)
        self.assertEqual(self.messages(user["key"], ev1["run"]["id"]),
                         [(1, "user", ev1["input"]["message"])])
        self.assertEqual(self.get_run(user["key"], ev1["run"]["id"])["status"], "running")
        self.assertEqual(self.job(user["key"], job1["id"])["status"], "running")
        self.assertEqual(self.job(user["key"], job2["id"])["result"], {"run": 2})
        # run 1 is still open with its own token
        a = self.reply_ok(ev1["reply"]["token"], "completed", message="one done")
        self.assertIs(a["idempotent"], False)
        self.assertEqual(self.job(user["key"], job1["id"])["result"], "one done")


if __name__ == "__main__":
    unittest.main()
