"""GET /api/jobs/{id}/logs (issue 5): the verification log as Server-Sent Events, read
by `curl -N` and by a real EventSource (the `eventsource` npm package, tests/sse):
headers, `retry:`, log events then one verdict then the end of the stream; a
reconnect with Last-Event-ID that gets no duplicate and no gap; one stream per job
across attempts; after the end the whole log from PostgreSQL with the ids sent live;
204 when a finished job has nothing after Last-Event-ID; 404 for strangers; a
keep-alive comment while no verification runs."""

import threading
import time
import unittest

import harness
from verifykit import KEEPALIVE_S, VerifyCase, verdict

SCHEMA = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}


def triples(events):
    return [(e["id"], e["event"], e["data"]) for e in events]


class SSETest(VerifyCase):
    label = "vsse"

    def gated_job(self, steps, user=None, agent=None, output=None):
        """A submitted job whose external verifier answers `steps` (with gates)."""
        if user is None:
            user, agent = self.parties()
        path = self.fake.endpoint(steps)
        sub = self.submitted_job(user, agent, output or {"a": 1}, price=200,
                                 output_schema=SCHEMA,
                                 verification={"webhook_url": self.fake.url(path)})
        return user, agent, sub["id"], path

    def assertStreamHeaders(self, headers):
        self.assertTrue(headers.get("content-type", "").startswith("text/event-stream"),
                        headers)
        self.assertEqual(headers.get("cache-control"), "no-cache", headers)
        self.assertEqual(headers.get("x-accel-buffering"), "no", headers)

    def assertWholeAttempt(self, events, attempt, status):
        """Log lines of one attempt, then its verdict, last and alone."""
        self.assertLogShape(events, attempt)
        self.assertEqual([e["event"] for e in events],
                         ["log"] * (len(events) - 1) + ["verdict"], events)
        self.assertEqual(events[0]["data"]["step"], "start", events)
        self.assertEqual(events[-1]["data"]["status"], status, events)
        self.assertIncreasing([e["id"] for e in events])

    # ------------------------------------------------------------ curl -N

    def test_curl_reads_a_verification_as_it_runs(self):
        gate = threading.Event()
        user, agent, job_id, path = self.gated_job([{"gate": gate,
                                                     "body": verdict(True, "fine")}])
        self.fake.wait_requests(path, 1)  # the check waits for its external verifier
        curl = self.curl(user, job_id)
        curl.wait_for(lambda evs: any("asking the external verifier" in
                                      (e["data"] or {}).get("message", "") for e in evs),
                      what="the log lines so far")
        self.assertIsNone(curl.popen.poll(), "the stream must stay open while the check runs")
        status, headers, body = curl.split()
        self.assertRegex(status, r"^HTTP/1\.1 200")
        self.assertStreamHeaders(headers)
        self.assertRegex(body, r"^retry: \d+\n")
        live = curl.events()
        self.assertNotIn("verdict", [e["event"] for e in live])
        gate.set()
        rc = curl.wait_exit(20)
        self.assertEqual(rc, 0, "curl: %s" % curl.stderr())
        events = curl.events()
        self.assertEqual(triples(events[:len(live)]), triples(live))
        self.assertWholeAttempt(events, 1, "verified")
        self.assertEqual(events[-1]["data"], {"attempt": 1, "pass": True,
                                              "reason": "every check passed",
                                              "status": "verified"})
        self.wait_status(user, job_id, "verified")
        # the ids are the entries of the Redis stream errand:logs:<job id>
        self.assertEqual([(i, ev, d) for i, ev, d in self.redis_log(job_id)], triples(events))

        # after the end: the same events, from PostgreSQL (Redis's copy is gone)
        self.wait_verdicts(job_id, 1)
        harness.redis_command(self.stack.redis_url, "DEL", self.stream_key("logs:" + job_id))
        for who in (user, agent):
            st, hdrs, again, retries, _ = self.sse_all(who, job_id)
            self.assertEqual(st, 200)
            self.assertStreamHeaders(hdrs)
            self.assertTrue(retries, "retry: is sent")
            self.assertEqual(triples(again), triples(events))

    # ------------------------------------------------------------ EventSource

    def test_eventsource_reconnects_with_last_event_id_without_duplicate_or_gap(self):
        gate_a, gate_b = threading.Event(), threading.Event()
        user, agent, job_id, path = self.gated_job([
            {"gate": gate_a, "status": 500, "body": "busy"},
            {"gate": gate_b, "body": verdict(True, "fine")}])
        self.fake.wait_requests(path, 1)
        es = self.eventsource(user, job_id)
        es.wait_for(lambda rs: any(r["type"] == "event" and "(try 1)" in
                                   r["data"].get("message", "") for r in rs),
                    what="the first connection's events")
        first = es.events()
        self.assertTrue(all(r["n"] == 1 for r in first), first)
        # the connection drops; while it is away the verifier goes on logging
        es.command("drop")
        es.wait_for(lambda rs: any(r["type"] == "dropped" for r in rs), what="the drop")
        gate_a.set()
        self.fake.wait_requests(path, 2)  # the retry: its log lines are written meanwhile
        # the EventSource reconnects by itself with Last-Event-ID and gets what it missed
        es.wait_for(lambda rs: any(r["type"] == "event" and r["n"] == 2 and "(try 2)" in
                                   r["data"].get("message", "") for r in rs),
                    timeout=15, what="the missed events after the reconnect")
        gate_b.set()
        # the verdict ends the stream; the EventSource comes back once more and gets 204
        rc = es.wait_exit(20)
        self.assertEqual(rc, 0, es.stderr())
        reports = es.reports()
        requests = [r for r in reports if r["type"] == "request"]
        responses = {r["n"]: r for r in reports if r["type"] == "response"}
        events = es.events()
        self.assertEqual(len(requests), 3, reports)
        self.assertIsNone(requests[0]["last_event_id"])
        last_of_first = [e for e in events if e["n"] == 1][-1]["id"]
        self.assertEqual(requests[1]["last_event_id"], last_of_first)
        self.assertEqual(requests[2]["last_event_id"], events[-1]["id"])
        self.assertEqual(responses[1]["status"], 200)
        self.assertEqual(responses[2]["status"], 200)
        self.assertStreamHeaders(responses[2]["headers"])
        self.assertEqual(responses[3]["status"], 204)
        self.assertEqual(reports[-1], {"type": "closed", "reason": "204"})
        self.assertEqual(sorted({e["n"] for e in events}), [1, 2])

        # the union of both connections is the whole log, each event once, in order
        self.wait_status(user, job_id, "verified")
        self.wait_verdicts(job_id, 1)
        whole = self.stored_log(job_id)
        got = [(e["id"], e["event"], e["data"]) for e in events]
        ids = [g[0] for g in got]
        self.assertEqual(len(ids), len(set(ids)), "duplicates: %r" % ids)
        self.assertIncreasing(ids)
        self.assertEqual(got, whole)
        msgs = [d.get("message", "") for _, ev, d in got if ev == "log"]
        self.assertTrue(any("HTTP 500" in m for m in msgs), msgs)
        self.assertEqual([ev for _, ev, _ in got].count("verdict"), 1)

    def test_eventsource_follows_the_job_across_attempts(self):
        user, agent = self.parties()
        acc = self.accepted_job(user, agent, price=300, output_schema=SCHEMA)
        job_id = acc["id"]
        es = self.eventsource(user, job_id)
        es.wait_for(lambda rs: any(r["type"] == "open" for r in rs), what="open")
        self.job_op(agent, job_id, "submit", {"output": {"a": "not an integer"}})
        # attempt 1 fails: its verdict ends the stream, the EventSource reconnects and
        # waits on the live stream, which the next attempt writes to
        self.wait_status(user, job_id, "queued")
        es.wait_for(lambda rs: sum(1 for r in rs if r["type"] == "request") >= 2,
                    timeout=15, what="the reconnect after attempt 1")
        self.resubmit(user, agent, job_id, {"a": 2})
        self.assertEqual(es.wait_exit(20), 0, es.stderr())
        events = es.events()
        verdicts = [e for e in events if e["event"] == "verdict"]
        self.assertEqual([(v["data"]["attempt"], v["data"]["pass"], v["data"]["status"])
                          for v in verdicts], [(1, False, "queued"), (2, True, "verified")])
        got = [(e["id"], e["event"], e["data"]) for e in events]
        self.wait_verdicts(job_id, 2)
        self.assertEqual(got, self.stored_log(job_id))
        self.assertIncreasing([g[0] for g in got])
        requests = [r for r in es.reports() if r["type"] == "request"]
        self.assertEqual([r["last_event_id"] for r in requests],
                         [None, verdicts[0]["id"], verdicts[1]["id"]])
        self.assertEqual(es.reports()[-1], {"type": "closed", "reason": "204"})

    # ------------------------------------------------------------ after the end

    def test_after_the_end_per_attempt_then_204(self):
        user, agent = self.parties()
        sub = self.submitted_job(user, agent, {"a": "x"}, price=300, output_schema=SCHEMA)
        job_id = sub["id"]
        self.wait_status(user, job_id, "queued")
        self.resubmit(user, agent, job_id, {"a": 5})
        self.wait_status(user, job_id, "verified")
        self.wait_verdicts(job_id, 2)
        whole = self.stored_log(job_id)
        self.assertEqual([(i, e, d) for i, e, d in self.redis_log(job_id)], whole)
        cut = next(n for n, (_, e, _) in enumerate(whole) if e == "verdict") + 1
        attempt1, attempt2 = whole[:cut], whole[cut:]

        # from the start: attempt 1 up to its verdict, then the stream ends
        st, hdrs, events, retries, _ = self.sse_all(user, job_id)
        self.assertEqual(st, 200)
        self.assertStreamHeaders(hdrs)
        self.assertEqual(triples(events), attempt1)
        self.assertWholeAttempt(events, 1, "queued")
        # after attempt 1's verdict: attempt 2
        st, _, events, _, _ = self.sse_all(user, job_id, last_event_id=attempt1[-1][0])
        self.assertEqual(triples(events), attempt2)
        self.assertWholeAttempt(events, 2, "verified")
        # from the middle of attempt 2: exactly what follows
        st, _, events, _, _ = self.sse_all(user, job_id, last_event_id=attempt2[2][0])
        self.assertEqual(triples(events), attempt2[3:])
        # after the last verdict of a finished job: 204, no stream
        for kw in ({"last_event_id": attempt2[-1][0]}, {"query": "?last_event_id=" +
                                                         attempt2[-1][0]}):
            r = self.sse(user, job_id, **kw)
            r.wait_end(10)
            self.assertEqual(r.status, 204, (kw, r.text()))
            self.assertEqual(r.text(), "")
        # a job that never had a verification and is finished: 204 at once
        job = self.run_job(user, price=10)
        self.job_op(user, job["id"], "cancel")
        r = self.sse(user, job["id"])
        r.wait_end(10)
        self.assertEqual(r.status, 204)

    def test_verdict_made_from_the_row_is_not_sent_twice(self):
        # A verifier that died after settling and after XADDing its verdict, but before
        # recording the verdict's stream id in PostgreSQL, leaves a verification whose
        # stored log has no verdict: GET logs makes one from the row (verify_log). A
        # client that got that verdict and reconnects with its id must not get attempt
        # 1's verdict a second time (the one in Redis, under another id).
        user, agent = self.parties()
        sub = self.submitted_job(user, agent, {"a": "x"}, price=300, output_schema=SCHEMA)
        job_id = sub["id"]
        self.wait_status(user, job_id, "queued")
        self.wait_verdicts(job_id, 1)
        self.stack.db.query(
            "UPDATE verifications SET log = log - (jsonb_array_length(log) - 1)"
            " WHERE job_id = %s AND attempt = 1" % harness.sql_quote(job_id))
        st, _, events, _, _ = self.sse_all(user, job_id)
        self.assertEqual(st, 200)
        self.assertEqual(events[-1]["event"], "verdict", events)
        self.assertEqual((events[-1]["data"]["attempt"], events[-1]["data"]["status"]),
                         (1, "queued"), events)
        self.assertIncreasing([e["id"] for e in events])
        # the EventSource's reconnect: nothing of attempt 1 may follow
        r = self.sse(user, job_id, last_event_id=events[-1]["id"])
        self.assertEqual(r.wait_answered(), 200)
        time.sleep(1.5)
        again = r.events()
        self.assertEqual([(e["event"], e["data"].get("attempt")) for e in again], [],
                         "attempt 1's verdict was sent twice (ids %s, then %s)"
                         % (events[-1]["id"], [e["id"] for e in again]))

    # ------------------------------------------------------------ who may read it

    def test_strangers_get_404(self):
        user, agent = self.parties()
        sub = self.submitted_job(user, agent, {"a": 1}, price=100)
        job_id = sub["id"]
        self.wait_status(user, job_id, "verified")
        other_user = self.new_user()
        other_agent = self.new_agent()
        for who in (other_user, other_agent):
            with self.subTest(who=who["id"]):
                r = self.get(who["key"], "/api/jobs/%s/logs" % job_id)
                self.assertError(r, 404, "job_not_found")
        for bad in ("job_01m84n5d4h9gmha6dfa4m9httg", "job_nope", "x"):
            r = self.get(user["key"], "/api/jobs/%s/logs" % bad)
            self.assertError(r, 404, "job_not_found")
        r = self.get(None, "/api/jobs/%s/logs" % job_id)
        self.assertEqual(r.status, 401, r)
        r = self.get("not-a-key", "/api/jobs/%s/logs" % job_id)
        self.assertEqual(r.status, 401, r)
        # an admin's role may never call the route (401 → 403 → 404)
        self.assertError(self.get(self.admin["key"], "/api/jobs/%s/logs" % job_id), 403,
                         "forbidden")
        # the parties may
        for who in (user, agent):
            st, _, events, _, _ = self.sse_all(who, job_id)
            self.assertEqual(st, 200)
            self.assertEqual(events[-1]["event"], "verdict")

    # ------------------------------------------------------------ keep-alive

    def test_open_before_any_verification_keeps_alive_then_streams(self):
        user, agent = self.parties()
        acc = self.accepted_job(user, agent, price=100)
        r = self.sse(user, acc["id"])
        self.assertEqual(r.wait_answered(), 200)
        self.assertStreamHeaders(r.headers)
        r.wait_for(lambda evs: "keep-alive" in r.parsed()[2], timeout=KEEPALIVE_S + 5,
                   what="a keep-alive comment")
        self.assertFalse(r.ended, "the stream must stay open")
        self.assertEqual(r.events(), [])
        self.assertTrue(r.parsed()[1], "retry: is sent")
        self.job_op(agent, acc["id"], "submit", {"output": {"done": True}})
        events = r.wait_end(20)
        self.assertWholeAttempt(events, 1, "verified")


if __name__ == "__main__":
    unittest.main()
