"""Subjobs and observers (seed 002, CONTRACT.md "The dispatch routes"): an agent in a
run dispatches subjobs with its API key or with the run's MCP token; a completed
reply on a parent with open subjobs gets 409 open_subjobs unless it says
cancelOpenSubjobs; observers receive the transitions they asked for, signed with
their own secret (checked by standardwebhooks), and a parent's observers receive
every subjob's transitions marked with the subjob's id."""

import unittest

import harness
from pushkit import PushCase, parse_time, rand_hex

ALL = {"running", "completed", "failed", "cancelled"}


class SubjobTest(PushCase):
    label = "psubjobs"

    def observer(self, events=None):
        name = self.receiver.endpoint(steps={"status": 200}, secrets=[])
        o = {"type": "webhook", "url": self.receiver.url(name)}
        if events is not None:
            o["events"] = events
        return name, o

    def subjob(self, key, agent_id, parent=None, observers=None, status=202, objective=None):
        body = {"agent_id": agent_id, "brief": {"objective": objective or "sub " + rand_hex(4)}}
        if parent:
            body["parent_job_id"] = parent
        if observers is not None:
            body["observers"] = observers
        return self.expect(self.post(key, "/v1/jobs", body), status)

    def events(self, endpoint, n, timeout=15):
        """The observer events at `endpoint` once at least `n` arrived: [(type, data)]."""
        rs = self.wait_webhooks(endpoint, n, event=None, timeout=timeout)
        out = []
        for r in rs:
            p = r["json"]
            self.assertEqual(set(p), {"type", "id", "created_at", "data"}, p)
            self.assertRegex(p["id"], r"^evt_")
            parse_time(p["created_at"])
            self.assertTrue(r["webhook_id"], r)
            out.append((p["type"], p["data"]))
        return out

    def test_subjobs_observers_and_open_subjobs(self):
        user = self.new_user()
        boss = self.new_agent()
        worker = self.new_agent()
        all_name, all_obs = self.observer()
        done_name, done_obs = self.observer(["completed"])
        parent = self.dispatch(user["key"], boss["id"], observers=[all_obs, done_obs])
        secret_all = parent["observers"][0]["secret"]
        secret_done = parent["observers"][1]["secret"]
        self.assertNotEqual(secret_all, secret_done)
        # each observer's endpoint checks with its own secret and, as a control, the other's
        self.receiver.endpoint(all_name, secrets=[secret_all, secret_done])
        self.receiver.endpoint(done_name, secrets=[secret_done, secret_all])
        ev = self.run_created(boss["endpoint"], parent["id"])
        self.wait_job(user["key"], parent["id"], "running")

        # a subjob with the agent's API key, one with the run's MCP token
        s1 = self.subjob(boss["key"], worker["id"], parent=parent["id"])
        self.assertEqual(s1["status"], "queued")
        s2 = self.subjob(ev["mcp"]["token"], worker["id"])
        s3 = self.subjob(ev["mcp"]["token"], worker["id"], parent=parent["id"])
        for s in (s1, s2, s3):
            j = self.job(boss["key"], s["id"])
            self.assertEqual(j["parent_job_id"], parent["id"], j)
        p = self.job(user["key"], parent["id"])
        self.assertEqual(sorted(x["id"] for x in p["subjobs"]), sorted([s1["id"], s2["id"], s3["id"]]))
        for x in p["subjobs"]:
            self.assertEqual(x["agent_id"], worker["id"])
            self.assertIn(x["status"], ("queued", "running"))
        # the worker gets its webhooks; it completes s1 and fails s3 (one attempt)
        w1 = self.run_created(worker["endpoint"], s1["id"])
        self.run_created(worker["endpoint"], s2["id"])
        self.reply_ok(w1["reply"]["token"], "completed", message="s1 done", tokensUsed=10)

        # the parent cannot complete while s2 and s3 are open
        r = self.reply(ev["reply"]["token"], "completed", message="too soon")
        self.assertError(r, 409, "open_subjobs")
        r = self.reply(ev["reply"]["token"], "completed", message="too soon",
                       cancelOpenSubjobs=False)
        self.assertError(r, 409, "open_subjobs")
        self.assertEqual(self.job(user["key"], parent["id"])["status"], "running")
        self.assertEqual(self.get_run(user["key"], ev["run"]["id"])["status"], "running")
        self.assertEqual(len(self.get_run(user["key"], ev["run"]["id"])["messages"]), 1)
        # a partial is fine meanwhile
        self.reply_ok(ev["reply"]["token"], "partial", message="waiting for helpers")

        a = self.reply_ok(ev["reply"]["token"], "completed", message="all done",
                          result={"ok": True}, tokensUsed=5, cancelOpenSubjobs=True)
        self.assertEqual(a["status"], "completed", a)
        p = self.job(user["key"], parent["id"])
        self.assertEqual(p["status"], "completed", p)
        self.assertEqual(p["tokens_used"], 15, "the parent's own tokens and its subjobs'")
        states = {x["id"]: x["status"] for x in p["subjobs"]}
        self.assertEqual(states, {s1["id"]: "completed", s2["id"]: "cancelled",
                                  s3["id"]: "cancelled"}, p)
        for s in (s2, s3):
            for run in self.runs_of(boss["key"], s["id"]):
                self.assertEqual(run["status"], "cancelled", run)

        # observer "all": the parent's and every subjob's transitions
        want_all = {("job.running", parent["id"], None), ("job.completed", parent["id"], None),
                    ("job.running", parent["id"], s1["id"]),
                    ("job.completed", parent["id"], s1["id"]),
                    ("job.cancelled", parent["id"], s2["id"]),
                    ("job.cancelled", parent["id"], s3["id"])}

        def seen(endpoint):
            return {(t, d["job_id"], d.get("subjob_id")) for t, d in self.events(endpoint, 1)}
        harness.wait_until(lambda: want_all <= seen(all_name), 20,
                           "the parent's observer to get %s" % sorted(want_all, key=str))
        for t, d in self.events(all_name, 1):
            self.assertEqual(set(d), {"job_id", "status", "parent_job_id", "subjob_id"}, d)
            self.assertEqual(t, "job." + d["status"], d)
            self.assertEqual(d["job_id"], parent["id"], d)
        for r in self.receiver.requests(all_name):
            self.assertEqual(r["verified_by"], [True, False], r["verify_errors"])
        # observer "completed only"
        want_done = {("job.completed", parent["id"], None),
                     ("job.completed", parent["id"], s1["id"])}
        harness.wait_until(lambda: want_done <= seen(done_name), 20, "the completed observer")
        self.assertEqual(seen(done_name), want_done)
        for r in self.receiver.requests(done_name):
            self.assertEqual(r["verified_by"], [True, False], r["verify_errors"])

    def test_subjob_with_its_own_observer_and_failure(self):
        user = self.new_user()
        boss = self.new_agent()
        worker = self.new_agent()
        pname, pobs = self.observer(["failed", "completed"])
        parent = self.dispatch(user["key"], boss["id"], observers=[pobs])
        self.receiver.endpoint(pname, secrets=[parent["observers"][0]["secret"]])
        ev = self.run_created(boss["endpoint"], parent["id"])
        sname, sobs = self.observer()
        sub = self.expect(self.post(ev["mcp"]["token"], "/v1/jobs", {
            "agent_id": worker["id"], "observers": [sobs],
            "brief": {"objective": "fragile", "constraints": {"max_attempts": 1}}}), 202)
        self.receiver.endpoint(sname, secrets=[sub["observers"][0]["secret"]])
        w = self.run_created(worker["endpoint"], sub["id"])
        self.reply_ok(w["reply"]["token"], "failed", error="could not")
        self.wait_job(boss["key"], sub["id"], "failed")
        # the subjob's own observer: its events with job_id the subjob
        harness.wait_until(lambda: {("job.running", sub["id"]), ("job.failed", sub["id"])} <= {
            (t, d["job_id"]) for t, d in self.events(sname, 1)}, 20, "the subjob's observer")
        for t, d in self.events(sname, 1):
            self.assertEqual(d["job_id"], sub["id"], d)
            self.assertIsNone(d["subjob_id"], d)
            self.assertEqual(d["parent_job_id"], parent["id"], d)
        # the parent's observer (failed/completed only): the subjob's failure, marked
        got = self.events(pname, 1)
        self.assertIn(("job.failed", parent["id"], sub["id"], "failed"),
                      [(t, d["job_id"], d["subjob_id"], d["status"]) for t, d in got])
        self.assertNotIn("job.running", [t for t, d in got])
        # a failed subjob is terminal: the parent completes without cancelOpenSubjobs
        self.reply_ok(ev["reply"]["token"], "completed", message="done anyway")
        self.wait_job(user["key"], parent["id"], "completed")

    def test_who_may_dispatch_a_subjob(self):
        user = self.new_user()
        boss = self.new_agent()
        worker = self.new_agent()
        parent = self.dispatch(user["key"], boss["id"])
        ev = self.run_created(boss["endpoint"], parent["id"])
        other = self.dispatch(user["key"], worker["id"])
        # an agent dispatches subjobs of a job it runs only
        r = self.post(boss["key"], "/v1/jobs", {"agent_id": worker["id"],
                                                "brief": {"objective": "x"}})
        self.assertError(r, 400, "invalid_request")
        r = self.post(boss["key"], "/v1/jobs", {"agent_id": worker["id"], "parent_job_id":
                                                other["id"], "brief": {"objective": "x"}})
        self.assertError(r, 404, "parent_not_found")
        r = self.post(worker["key"], "/v1/jobs", {"agent_id": worker["id"], "parent_job_id":
                                                  parent["id"], "brief": {"objective": "x"}})
        self.assertError(r, 404, "parent_not_found")
        # the MCP token is bound to its run's job
        r = self.post(ev["mcp"]["token"], "/v1/jobs", {"agent_id": worker["id"], "parent_job_id":
                                                       other["id"], "brief": {"objective": "x"}})
        self.assertError(r, 404, "parent_not_found")
        # the reply token is no API key
        r = self.post(ev["reply"]["token"], "/v1/jobs", {"agent_id": worker["id"],
                                                         "brief": {"objective": "x"}})
        self.assertEqual(r.status, 401, r)
        # a user cannot hang a job under someone's job
        r = self.post(user["key"], "/v1/jobs", {"agent_id": worker["id"], "parent_job_id":
                                                parent["id"], "brief": {"objective": "x"}})
        self.assertError(r, 404, "parent_not_found")
        self.assertEqual(self.job(user["key"], parent["id"])["subjobs"], [])
        # once the run is over, its MCP token is no credential
        self.reply_ok(ev["reply"]["token"], "completed", message="done")
        r = self.post(ev["mcp"]["token"], "/v1/jobs", {"agent_id": worker["id"],
                                                       "brief": {"objective": "x"}})
        self.assertEqual(r.status, 401, r)
        r = self.post(boss["key"], "/v1/jobs", {"agent_id": worker["id"], "parent_job_id":
                                                parent["id"], "brief": {"objective": "x"}})
        self.assertError(r, 404, "parent_not_found")

    def test_cancelling_a_parent_cancels_its_subjobs(self):
        user = self.new_user()
        boss = self.new_agent()
        worker = self.new_agent()
        oname, obs = self.observer(["cancelled"])
        parent = self.dispatch(user["key"], boss["id"], observers=[obs])
        self.receiver.endpoint(oname, secrets=[parent["observers"][0]["secret"]])
        ev = self.run_created(boss["endpoint"], parent["id"])
        sub = self.subjob(ev["mcp"]["token"], worker["id"])
        w = self.run_created(worker["endpoint"], sub["id"])
        c = self.expect(self.post(user["key"], "/v1/jobs/%s/cancel" % parent["id"], {}), 200)
        self.assertEqual(c["status"], "cancelled")
        self.assertEqual([(x["id"], x["status"]) for x in c["subjobs"]], [(sub["id"], "cancelled")])
        a = self.reply_ok(w["reply"]["token"], "completed", message="late")
        self.assertIs(a["idempotent"], True)
        harness.wait_until(lambda: {(t, d["subjob_id"]) for t, d in self.events(oname, 1)} >= {
            ("job.cancelled", None), ("job.cancelled", sub["id"])}, 20, "two cancelled events")


if __name__ == "__main__":
    unittest.main()
