"""The agent.run.created webhook (seed 004, CONTRACT.md "Runs, webhooks and the reply
API"): the agent's webhook_secret, the payload's shape, the Standard Webhooks
headers checked by the reference implementation (npm standardwebhooks, in
tests/webhooks), and the rotation of a secret with both secrets signing."""

import re
import time
import unittest

from pushkit import ACK, PushCase, parse_time, rand_hex

RUN_EXPIRY = 321


class WebhookTest(PushCase):
    label = "pwebhook"
    RUN_EXPIRY = RUN_EXPIRY

    def test_agent_created_with_webhook_url_gets_a_secret_shown_once(self):
        name = self.receiver.endpoint(steps=ACK)
        r = self.post(self.admin["key"], "/v1/admin/principals",
                      {"role": "agent", "name": "hooked-" + rand_hex(4),
                       "webhook_url": self.receiver.url(name)})
        a = self.expect(r, 201)
        self.assertTrue(a["id"].startswith("agt_"), a)
        self.assertEqual(a.get("webhook_url"), self.receiver.url(name), a)
        self.assertRegex(a.get("webhook_secret") or "", r"^whsec_[A-Za-z0-9+/=]{20,}$", a)
        self.assertTrue(a.get("key"), a)
        # an agent without a webhook_url gets no secret
        plain = self.expect(self.post(self.admin["key"], "/v1/admin/principals",
                                      {"role": "agent", "name": "plain-" + rand_hex(4)}), 201)
        self.assertIsNone(plain.get("webhook_secret"), plain)
        # two agents never share a secret
        other = self.new_agent()
        self.assertNotEqual(other["webhook_secret"], a["webhook_secret"])

    def test_run_created_payload_and_signed_headers(self):
        user = self.new_user()
        agent = self.new_agent()
        # a wrong secret registered beside the right one must not verify: the check is real
        wrong = self.new_agent()["webhook_secret"]
        self.receiver.endpoint(agent["endpoint"], secrets=[agent["webhook_secret"], wrong])
        constraints = {"time_limit_seconds": 600, "max_attempts": 2, "tools": ["search", "fetch"]}
        brief = {"objective": "Summarise the tickets " + rand_hex(4),
                 "context": "forty-two tickets", "constraints": constraints,
                 "output_schema": {"type": "object"}}
        metadata = {"customer": "acme", "n": 7}
        before = time.time()
        job = self.dispatch(user["key"], agent["id"], brief=brief, metadata=metadata)
        self.assertTrue(job["id"].startswith("job_"), job)

        hooks = self.wait_webhooks(agent["endpoint"], 1, job_id=job["id"])
        h = hooks[0]
        self.assertEqual(h["verified_by"], [True, False], h["verify_errors"])
        self.assertEqual(h["method"], "POST")
        self.assertEqual(h["path"], "/hook/" + agent["endpoint"])
        hdr = h["headers"]
        self.assertIn("application/json", hdr.get("content-type", ""), hdr)
        self.assertTrue(hdr.get("webhook-id"), hdr)
        self.assertRegex(hdr.get("webhook-timestamp", ""), r"^\d{10}$", hdr)
        ts = int(hdr["webhook-timestamp"])
        self.assertLessEqual(abs(ts - h["received_at_ms"] / 1000.0), 5, hdr)
        self.assertEqual(len(h["signatures"]), 1, hdr)
        self.assertRegex(h["signatures"][0], r"^v1,[A-Za-z0-9+/]{43}=$", hdr)

        p = h["json"]
        self.assertEqual(p["type"], "agent.run.created", p)
        self.assertRegex(p["id"], r"^evt_", p)
        created = parse_time(p["createdAt"])
        self.assertLess(abs(created - before), 30, p)
        self.assertRegex(p["run"]["id"], r"^run_", p)
        self.assertIn("conversation", p)
        self.assertIsNone(p["conversation"], p)
        self.assertEqual(p["input"], {"message": brief["objective"], "jobId": job["id"]}, p)
        pj = p["job"]
        self.assertEqual(pj["id"], job["id"], p)
        self.assertEqual(pj["brief"], brief, p)
        self.assertEqual(pj["constraints"], constraints, p)
        self.assertEqual(pj["metadata"], metadata, p)
        self.assertEqual(p["reply"]["url"], self.gw_url + "/api/agents/reply", p)
        self.assertTrue(p["reply"]["url"].endswith("/api/agents/reply"), p)
        self.assertIsInstance(p["reply"]["token"], str, p)
        self.assertGreaterEqual(len(p["reply"]["token"]), 32, p)
        self.assertEqual(p["reply"]["expiresInSeconds"], RUN_EXPIRY, p)
        self.assertEqual(p["mcp"]["url"], self.gw_url + "/mcp", p)
        self.assertIsInstance(p["mcp"]["token"], str, p)
        self.assertNotEqual(p["mcp"]["token"], p["reply"]["token"], p)

        # the run: acknowledged by the 2xx, visible to the job's creator and the agent
        run = self.wait_run(user["key"], p["run"]["id"], "running")
        self.assertEqual(run["job_id"], job["id"], run)
        self.assertEqual(run["agent_id"], agent["id"], run)
        self.assertIsNotNone(run["expires_at"], run)
        self.assertAlmostEqual(parse_time(run["expires_at"]) - time.time(), RUN_EXPIRY, delta=30)
        self.assertEqual([(m["seq"], m["role"], m["text"]) for m in run["messages"]],
                         [(1, "user", brief["objective"])], run)
        self.assertEqual(self.get_run(agent["key"], p["run"]["id"])["id"], p["run"]["id"])
        self.assertEqual(self.get_run(self.admin["key"], p["run"]["id"])["id"], p["run"]["id"])
        stranger = self.new_user()
        self.expect(self.get(stranger["key"], "/v1/runs/" + p["run"]["id"]), 404)
        runs = self.runs_of(user["key"], job["id"])
        self.assertEqual([r["id"] for r in runs], [p["run"]["id"]], runs)
        self.assertEqual(self.job(user["key"], job["id"])["status"], "running")
        # the reply URL in the payload is the one that works
        r = self.reply(p["reply"]["token"], "completed", message="done")
        self.assertEqual(r.status, 200, r)

    def test_the_reply_and_mcp_tokens_are_the_runs_own(self):
        user = self.new_user()
        agent = self.new_agent()
        j1 = self.dispatch(user["key"], agent["id"])
        j2 = self.dispatch(user["key"], agent["id"])
        p1 = self.run_created(agent["endpoint"], j1["id"])
        p2 = self.run_created(agent["endpoint"], j2["id"])
        self.assertNotEqual(p1["run"]["id"], p2["run"]["id"])
        self.assertNotEqual(p1["reply"]["token"], p2["reply"]["token"])
        self.assertNotEqual(p1["mcp"]["token"], p2["mcp"]["token"])
        self.assertNotEqual(p1["id"], p2["id"])
        h1 = self.webhooks(agent["endpoint"], job_id=j1["id"])[0]
        h2 = self.webhooks(agent["endpoint"], job_id=j2["id"])[0]
        self.assertNotEqual(h1["webhook_id"], h2["webhook_id"])
        for p in (p1, p2):
            self.reply_ok(p["reply"]["token"], "completed", message="ok")

    def test_rotation_both_secrets_sign_the_next_webhook(self):
        user = self.new_user()
        agent = self.new_agent()
        old = agent["webhook_secret"]
        j1 = self.dispatch(user["key"], agent["id"])
        h1 = self.wait_webhooks(agent["endpoint"], 1, job_id=j1["id"])[0]
        self.assertEqual(len(h1["signatures"]), 1, h1["headers"])

        r = self.post(self.admin["key"], "/v1/admin/principals/%s/webhook-secret" % agent["id"])
        body = self.expect(r, 200)
        new = body.get("webhook_secret")
        self.assertRegex(new or "", r"^whsec_", body)
        self.assertNotEqual(new, old)
        self.receiver.endpoint(agent["endpoint"], secrets=[old, new])

        j2 = self.dispatch(user["key"], agent["id"])
        h2 = self.wait_webhooks(agent["endpoint"], 1, job_id=j2["id"])[0]
        self.assertEqual(len(h2["signatures"]), 2, h2["headers"])
        self.assertEqual(h2["verified_by"], [True, True],
                         "after a rotation both the old and the new secret must verify: %s"
                         % h2["verify_errors"])
        # each secret on its own verifies the webhook (the reference implementation
        # accepts a header with several signatures when one of them matches)
        self.receiver.endpoint(agent["endpoint"], secrets=[new])
        self.assertTrue(self.webhooks(agent["endpoint"], job_id=j2["id"])[0]["verified"])
        self.receiver.endpoint(agent["endpoint"], secrets=[old])
        self.assertTrue(self.webhooks(agent["endpoint"], job_id=j2["id"])[0]["verified"])
        # the webhook sent before the rotation verifies with the old secret only
        self.receiver.endpoint(agent["endpoint"], secrets=[old, new])
        self.assertEqual(self.webhooks(agent["endpoint"], job_id=j1["id"])[0]["verified_by"],
                         [True, False])

    def test_payload_defaults_without_constraints_or_metadata(self):
        user = self.new_user()
        agent = self.new_agent()
        job = self.dispatch(user["key"], agent["id"], objective="bare")
        p = self.run_created(agent["endpoint"], job["id"])
        self.assertEqual(p["job"]["brief"], {"objective": "bare"}, p)
        self.assertEqual(p["job"]["constraints"], {}, p)
        self.assertEqual(p["job"]["metadata"], {}, p)
        self.reply_ok(p["reply"]["token"], "completed", message="ok")

    def test_webhook_url_added_by_patch_gets_a_secret_that_signs(self):
        plain = self.expect(self.post(self.admin["key"], "/v1/admin/principals",
                                      {"role": "agent", "name": "late-" + rand_hex(4)}), 201)
        name = self.receiver.endpoint(steps=ACK, secrets=[])
        r = self.req("PATCH", "/v1/admin/principals/" + plain["id"], key=self.admin["key"],
                     body={"webhook_url": self.receiver.url(name)})
        changed = self.expect(r, 200)
        self.assertEqual(changed.get("webhook_url"), self.receiver.url(name), changed)
        secret = changed.get("webhook_secret")
        self.assertRegex(secret or "", r"^whsec_",
                         "an agent given its first webhook_url must be shown the secret that "
                         "signs its webhooks: %r" % changed)
        self.receiver.endpoint(name, secrets=[secret])
        user = self.new_user()
        job = self.dispatch(user["key"], plain["id"])
        self.wait_webhooks(name, 1, job_id=job["id"])
        # a later PATCH makes no new secret: the one shown keeps signing
        again = self.expect(self.req("PATCH", "/v1/admin/principals/" + plain["id"],
                                     key=self.admin["key"], body={"capabilities": ["x"]}), 200)
        self.assertIsNone(again.get("webhook_secret"), again)
        job2 = self.dispatch(user["key"], plain["id"])
        h = self.wait_webhooks(name, 1, job_id=job2["id"])[0]
        self.assertEqual(len(h["signatures"]), 1, h["headers"])

    def test_rotation_needs_an_admin_and_an_agent(self):
        agent = self.new_agent()
        user = self.new_user()
        path = "/v1/admin/principals/%s/webhook-secret" % agent["id"]
        self.expect(self.post(None, path), 401)
        self.expect(self.post(user["key"], path), 403)
        self.expect(self.post(agent["key"], path), 403)
        self.expect(self.post(self.admin["key"],
                              "/v1/admin/principals/agt_%s/webhook-secret"
                              % ("0" * 26)), 404)
        self.expect(self.post(self.admin["key"],
                              "/v1/admin/principals/%s/webhook-secret" % user["id"]), 404)

    def test_webhook_id_and_signature_shape(self):
        user = self.new_user()
        agent = self.new_agent()
        job = self.dispatch(user["key"], agent["id"])
        h = self.wait_webhooks(agent["endpoint"], 1, job_id=job["id"])[0]
        # one webhook message per run: the webhook-id names it in the deliveries
        ds = self.wait_deliveries(user["key"], job["id"], 1)
        self.assertEqual(ds[0]["webhook_id"], h["webhook_id"], ds)
        self.assertEqual(ds[0]["status_code"], 200, ds)
        self.assertEqual(ds[0]["attempt"], 1, ds)
        self.assertEqual(ds[0]["event"], "agent.run.created", ds)
        self.assertEqual(ds[0]["target"], self.receiver.url(agent["endpoint"]), ds)
        self.assertIsNone(ds[0]["error"], ds)
        self.assertIsInstance(ds[0]["latency_ms"], int, ds)
        self.assertTrue(re.match(r"^[A-Za-z0-9_]+$", h["webhook_id"]), h["webhook_id"])


if __name__ == "__main__":
    unittest.main()
