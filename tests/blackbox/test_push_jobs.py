"""The dispatch API of seed 002 (CONTRACT.md "The dispatch routes"): POST /v1/jobs and
its errors, GET /v1/jobs/{id} in seed 002's status words, who may see a job, and
POST /v1/jobs/{id}/cancel (a later reply is a no-op)."""

import unittest

import harness
from pushkit import ACK, HANG, PushCase, parse_time, rand_hex


class DispatchApiTest(PushCase):
    label = "pjobs"

    def test_create_answers_202_with_the_contract_shape(self):
        user = self.new_user()
        agent = self.new_agent()
        obs = self.receiver.endpoint(steps=ACK)
        r = self.post(user["key"], "/v1/jobs", {
            "agent_id": agent["id"],
            "brief": {"objective": "find competitors", "context": "B2B"},
            "observers": [{"type": "webhook", "url": self.receiver.url(obs),
                           "events": ["completed", "failed"]}],
            "metadata": {"ticket": 12},
        })
        self.assertEqual(r.status, 202, r)
        j = r.json
        self.assertRegex(j["id"], r"^job_")
        self.assertEqual(j["agent_id"], agent["id"])
        self.assertEqual(j["status"], "queued")
        parse_time(j["created_at"])
        self.assertEqual(len(j["observers"]), 1, j)
        o = j["observers"][0]
        self.assertEqual(o["url"], self.receiver.url(obs))
        self.assertEqual(sorted(o["events"]), ["completed", "failed"])
        self.assertRegex(o["secret"], r"^whsec_")
        # an observer without events gets all four
        j2 = self.dispatch(user["key"], agent["id"],
                           observers=[{"type": "webhook", "url": self.receiver.url(obs)}])
        self.assertEqual(sorted(j2["observers"][0]["events"]),
                         ["cancelled", "completed", "failed", "running"])
        self.assertNotEqual(j2["observers"][0]["secret"], o["secret"])
        # without observers: an empty list
        j3 = self.dispatch(user["key"], agent["id"])
        self.assertEqual(j3.get("observers"), [], j3)

    def test_create_errors(self):
        user = self.new_user()
        agent = self.new_agent()
        key = user["key"]

        def bad(body, status, code):
            return self.expect(self.post(key, "/v1/jobs", body), status, code)

        bad({"brief": {"objective": "x"}}, 400, "invalid_request")
        bad({"agent_id": agent["id"]}, 400, "invalid_request")
        bad({"agent_id": agent["id"], "brief": {}}, 400, "invalid_request")
        bad({"agent_id": agent["id"], "brief": {"context": "no objective"}}, 400,
            "invalid_request")
        bad({"agent_id": agent["id"], "brief": {"objective": 7}}, 400, "invalid_request")
        bad({"agent_id": agent["id"], "brief": "do it"}, 400, "invalid_request")
        for schema in ("a string", 12, [1, 2], 1.5):
            bad({"agent_id": agent["id"], "brief": {"objective": "x", "output_schema": schema}},
                400, "invalid_output_schema")
        # an object and a boolean are schemas
        for schema in ({"type": "object"}, True, False):
            self.dispatch(key, agent["id"], brief={"objective": "x", "output_schema": schema})
        for observers in ("http://x", [{"type": "email", "url": self.receiver.url("x")}],
                          [{"url": "ftp://example.com/x"}], [{"type": "webhook"}],
                          [{"url": self.receiver.url("x"), "events": ["started"]}],
                          [{"url": self.receiver.url("x"), "events": "completed"}], [7]):
            bad({"agent_id": agent["id"], "brief": {"objective": "x"}, "observers": observers},
                400, "invalid_request")
        for constraints in ({"max_attempts": 0}, {"max_attempts": "3"},
                            {"time_limit_seconds": -1}, {"tools": "search"}, "fast"):
            bad({"agent_id": agent["id"],
                 "brief": {"objective": "x", "constraints": constraints}}, 400, "invalid_request")
        bad({"agent_id": agent["id"], "brief": {"objective": "x"}, "metadata": [1]}, 400,
            "invalid_request")
        bad({"agent_id": "agt_" + "0" * 26, "brief": {"objective": "x"}}, 404, "agent_not_found")
        bad({"agent_id": "nobody", "brief": {"objective": "x"}}, 404, "agent_not_found")
        bad({"agent_id": user["id"], "brief": {"objective": "x"}}, 404, "agent_not_found")
        plain = self.stack.principal("agent", "no-hook-" + rand_hex(4))
        bad({"agent_id": plain["id"], "brief": {"objective": "x"}}, 422, "agent_has_no_webhook")
        # credentials come first
        self.expect(self.post(None, "/v1/jobs", {"agent_id": agent["id"],
                                                 "brief": {"objective": "x"}}), 401)
        self.expect(self.post("not-a-key", "/v1/jobs", {"agent_id": agent["id"],
                                                        "brief": {"objective": "x"}}), 401)
        self.expect(self.post(None, "/v1/jobs", {}), 401)
        # nothing was created by the refusals
        self.assertEqual(self.db_scalar(
            "SELECT count(*) FROM jobs WHERE sender_id = '%s'" % user["id"]), "3")

    def test_idempotency_key_on_create(self):
        user = self.new_user()
        agent = self.new_agent()
        body = {"agent_id": agent["id"], "brief": {"objective": "once " + rand_hex(4)},
                "observers": [{"type": "webhook", "url": self.receiver.url("idem-obs")}]}
        h = {"Idempotency-Key": "create-" + rand_hex(8)}
        r1 = self.post(user["key"], "/v1/jobs", body, headers=h)
        self.assertEqual(r1.status, 202, r1)
        r2 = self.post(user["key"], "/v1/jobs", body, headers=h)
        self.assertEqual(r2.status, 202, r2)
        self.assertEqual(r2.raw, r1.raw, "the first answer replayed byte for byte")
        self.assertEqual(r2.headers.get("idempotent-replayed"), "true", r2.headers)
        other = dict(body, metadata={"x": 1})
        self.expect(self.post(user["key"], "/v1/jobs", other, headers=h), 422,
                    "idempotency_key_reused")
        self.assertEqual(self.db_scalar(
            "SELECT count(*) FROM jobs WHERE sender_id = '%s'" % user["id"]), "1")
        self.wait_webhooks(agent["endpoint"], 1, job_id=r1.json["id"])
        self.assertEqual(self.db_scalar(
            "SELECT count(*) FROM runs WHERE job_id = '%s'" % r1.json["id"]), "1")

    def test_private_observer_url_refused_when_not_allowed(self):
        gw = self.stack.start_extra("gateway", {"ERRAND_WEBHOOK_ALLOW_PRIVATE": "false"})
        harness.wait_ready(gw)
        user = self.new_user()
        agent = self.new_agent()
        for url in ("http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://192.168.1.1/hook",
                    "http://169.254.169.254/latest", "http://[::1]:8080/x", "http://localhost/x"):
            r = harness.http(gw.port, "POST", "/v1/jobs", headers=harness.bearer(user["key"]),
                             body={"agent_id": agent["id"], "brief": {"objective": "x"},
                                   "observers": [{"type": "webhook", "url": url}]})
            self.assertError(r, 400, "webhook_url_not_allowed", url)
        # the same request passes on the gateway that allows private targets
        self.dispatch(user["key"], agent["id"],
                      observers=[{"type": "webhook", "url": "http://127.0.0.1:9/x"}])
        gw.stop()

    def test_private_agent_webhook_url_refused_when_not_allowed(self):
        gw = self.stack.start_extra("gateway", {"ERRAND_WEBHOOK_ALLOW_PRIVATE": "false"})
        harness.wait_ready(gw)
        admin = harness.bearer(self.admin["key"])
        agents_before = self.db_scalar("SELECT count(*) FROM principals WHERE role = 'agent'")
        for url in ("http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://[::1]:8080/x",
                    "http://localhost/x", "http://169.254.169.254/latest"):
            r = harness.http(gw.port, "POST", "/v1/admin/principals", headers=admin,
                             body={"role": "agent", "name": "private", "webhook_url": url})
            self.assertError(r, 400, "webhook_url_not_allowed", url)
        r = harness.http(gw.port, "POST", "/v1/admin/principals", headers=admin,
                         body={"role": "agent", "name": "ftp", "webhook_url": "ftp://example.com/"})
        self.assertError(r, 400, "invalid_request")
        self.assertEqual(self.db_scalar("SELECT count(*) FROM principals WHERE role = 'agent'"),
                         agents_before, "a refused agent was created")
        # a change of an agent's URL is checked the same way, and changes nothing
        agent = self.new_agent()
        url_before = self.db_scalar("SELECT webhook_url FROM principals WHERE id = '%s'"
                                    % agent["id"])
        r = harness.http(gw.port, "PATCH", "/v1/admin/principals/" + agent["id"], headers=admin,
                         body={"webhook_url": "http://192.168.0.10/hook"})
        self.assertError(r, 400, "webhook_url_not_allowed")
        self.assertEqual(self.db_scalar("SELECT webhook_url FROM principals WHERE id = '%s'"
                                        % agent["id"]), url_before)
        # a public address passes
        r = harness.http(gw.port, "POST", "/v1/admin/principals", headers=admin,
                         body={"role": "agent", "name": "public",
                               "webhook_url": "https://agents.example.com/hook"})
        self.assertEqual(r.status, 201, r)
        gw.stop()

    def test_get_job_through_its_life(self):
        user = self.new_user()
        agent = self.new_agent(steps=[HANG, ACK])
        brief = {"objective": "count the tickets", "context": "all of them",
                 "constraints": {"max_attempts": 2}}
        created = self.dispatch(user["key"], agent["id"], brief=brief, metadata={"m": 1})
        j = self.job(user["key"], created["id"])
        for f in ("id", "agent_id", "parent_job_id", "status", "brief", "metadata", "result",
                  "subjobs", "tokens_used", "created_at", "completed_at"):
            self.assertIn(f, j)
        self.assertEqual(j["status"], "queued", j)
        self.assertEqual(j["brief"], brief)
        self.assertEqual(j["metadata"], {"m": 1})
        self.assertIsNone(j["parent_job_id"])
        self.assertIsNone(j["result"])
        self.assertIsNone(j["completed_at"])
        self.assertEqual(j["subjobs"], [])
        self.assertEqual(j["tokens_used"], 0)
        self.assertEqual(j["created_at"], created["created_at"])
        # the first delivery hangs (timeout), the second is acknowledged: running
        ev = self.run_created(agent["endpoint"], created["id"])
        running = self.wait_job(user["key"], created["id"], "running")
        self.assertIsNone(running["completed_at"])
        # the agent sees the job it runs, the admin too; another user does not
        self.assertEqual(self.job(agent["key"], created["id"])["id"], created["id"])
        self.assertEqual(self.job(self.admin["key"], created["id"])["id"], created["id"])
        stranger = self.new_user()
        self.expect(self.get(stranger["key"], "/v1/jobs/" + created["id"]), 404, "job_not_found")
        other_agent = self.new_agent()
        self.expect(self.get(other_agent["key"], "/v1/jobs/" + created["id"]), 404)
        self.expect(self.get(stranger["key"], "/v1/jobs/%s/runs" % created["id"]), 404)
        self.expect(self.get(stranger["key"], "/v1/jobs/%s/deliveries" % created["id"]), 404)
        self.expect(self.get(None, "/v1/jobs/" + created["id"]), 401)
        self.expect(self.get(user["key"], "/v1/jobs/job_" + "0" * 26), 404, "job_not_found")
        self.expect(self.get(user["key"], "/v1/jobs/nonsense"), 404)

        self.reply_ok(ev["reply"]["token"], "completed", message="there are 42",
                      result={"count": 42}, tokensUsed=1234)
        done = self.job(user["key"], created["id"])
        self.assertEqual(done["status"], "completed", done)
        self.assertEqual(done["result"], {"count": 42})
        self.assertEqual(done["tokens_used"], 1234)
        self.assertIsNotNone(done["completed_at"])
        self.assertGreaterEqual(parse_time(done["completed_at"]), parse_time(done["created_at"]))

    def test_completed_without_result_is_the_message(self):
        user = self.new_user()
        agent = self.new_agent()
        job, ev = self.started_job(user, agent)
        self.reply_ok(ev["reply"]["token"], "completed", message="plain answer")
        done = self.job(user["key"], job["id"])
        self.assertEqual(done["status"], "completed")
        self.assertEqual(done["result"], "plain answer")

    def test_cancel(self):
        user = self.new_user()
        agent = self.new_agent()
        job, ev = self.started_job(user, agent)
        stranger = self.new_user()
        self.expect(self.post(stranger["key"], "/v1/jobs/%s/cancel" % job["id"]), 404)
        self.expect(self.post(agent["key"], "/v1/jobs/%s/cancel" % job["id"]), 404)
        self.expect(self.post(None, "/v1/jobs/%s/cancel" % job["id"]), 401)
        # no body at all: seed 002 gives the route none
        r = self.post(user["key"], "/v1/jobs/%s/cancel" % job["id"])
        c = self.expect(r, 200)
        self.assertEqual(c["status"], "cancelled", c)
        self.assertEqual(c["id"], job["id"])
        self.assertIsNotNone(c["completed_at"])
        run = self.get_run(user["key"], ev["run"]["id"])
        self.assertEqual(run["status"], "cancelled", run)
        # a later reply is a no-op that says so
        for status, extra in (("partial", {"message": "still here"}),
                              ("completed", {"message": "done", "result": {"x": 1}}),
                              ("failed", {"error": "oops"})):
            a = self.reply_ok(ev["reply"]["token"], status, **extra)
            self.assertIs(a["idempotent"], True, a)
            self.assertEqual(a["runId"], ev["run"]["id"], a)
            self.assertEqual(a["status"], "cancelled", a)
        j = self.job(user["key"], job["id"])
        self.assertEqual(j["status"], "cancelled")
        self.assertIsNone(j["result"])
        self.assertEqual(len(self.get_run(user["key"], ev["run"]["id"])["messages"]), 1)
        # cancelling again changes nothing
        again = self.expect(self.post(user["key"], "/v1/jobs/%s/cancel" % job["id"], {}), 200)
        self.assertEqual(again["status"], "cancelled")
        self.assertEqual(again["completed_at"], c["completed_at"])

    def test_cancel_before_delivery_stops_the_webhook(self):
        user = self.new_user()
        agent = self.new_agent(steps=HANG)
        job = self.dispatch(user["key"], agent["id"])
        self.wait_webhooks(agent["endpoint"], 1, job_id=job["id"])
        c = self.expect(self.post(user["key"], "/v1/jobs/%s/cancel" % job["id"], {}), 200)
        self.assertEqual(c["status"], "cancelled")
        runs = self.runs_of(user["key"], job["id"])
        self.assertEqual([r["status"] for r in runs], ["cancelled"], runs)
        # the hanging attempt times out; no retry follows for a cancelled run
        self.wait_deliveries(user["key"], job["id"], 1)
        harness.wait_until(lambda: self.db_scalar(
            "SELECT count(*) FROM webhook_messages WHERE job_id = '%s' AND status = 'pending'"
            % job["id"]) == "0", 10, "no pending webhook left")
        n = len(self.webhooks(agent["endpoint"], job_id=job["id"]))
        self.assertEqual(n, 1)


if __name__ == "__main__":
    unittest.main()
