"""GET /api/jobs/{id}/logs of a job that finishes without a verdict: a job cancelled
while queued, or while its submitted output waits for a verifier that never
answers, gets no `event: verdict`. Its readers' streams must end all the same
(the gateway asks PostgreSQL once a second which followed jobs are finished),
and a reconnect then gets 204, which tells an EventSource to stop."""

import threading
import time
import unittest

from verifykit import NodeEventSource, PushVerifyCase, VerifyCase, verdict

SCHEMA = {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}
# the hub asks once a second; the rest is slack for a busy machine
END_WITHIN_S = 10


class SSEEndTest(VerifyCase):
    label = "vsseend"

    def test_curl_stream_ends_when_a_queued_job_is_cancelled(self):
        user = self.new_user(cents=10000)
        job = self.run_job(user)
        self.assertEqual(job["status"], "queued", job)
        curl = self.curl(user, job["id"])
        time.sleep(2.5)  # two of the hub's checks while the job is queued
        self.assertIsNone(curl.popen.poll(), "the stream of a queued job must stay open")
        self.job_op(user, job["id"], "cancel")
        rc = curl.wait_exit(END_WITHIN_S)
        self.assertEqual(rc, 0, "curl: %s" % curl.stderr())
        status, _, body = curl.split()
        self.assertRegex(status, r"^HTTP/1\.1 200")
        self.assertRegex(body, r"^retry: \d+\n")
        self.assertEqual(curl.events(), [])
        # reconnecting: nothing more will come
        again = self.curl(user, job["id"])
        self.assertEqual(again.wait_exit(END_WITHIN_S), 0, again.stderr())
        self.assertRegex(again.split()[0], r"^HTTP/1\.1 204")


class PushSSEEndTest(PushVerifyCase):
    """A /v1/jobs job cancelled while its result waits for the external verifier: the
    verifier's verdict comes too late to count (the settlement finds the job moved on)
    and is never written, so the reader's stream must end without one."""

    label = "vsseendp"

    def test_eventsource_stops_after_the_job_is_cancelled_mid_verification(self):
        gate = threading.Event()
        self.addCleanup(gate.set)
        user, agent = self.new_user(), self.new_agent()
        path = self.fake.endpoint([{"gate": gate, "body": verdict(True, "too late")}])
        job, ev = self.started_job(user, agent, brief={
            "objective": "write the summary", "output_schema": SCHEMA,
            "constraints": {"verification": {"webhook_url": self.fake.url(path)}}})
        self.reply_ok(ev["reply"]["token"], "completed", message="the summary",
                      result={"a": 1})
        self.fake.wait_requests(path, 1)  # the check waits for its external verifier
        es = NodeEventSource(self.gw.port, user["key"], job["id"], 90)
        self.addCleanup(es.stop)
        es.wait_for(lambda rs: any(r["type"] == "event" and r["event"] == "log" for r in rs),
                    what="the log lines so far")
        r = self.post(user["key"], "/v1/jobs/%s/cancel" % job["id"], {})
        self.assertEqual(self.expect(r, 200)["status"], "cancelled", r)
        es.wait_for(lambda rs: any(x["type"] == "closed" for x in rs),
                    timeout=END_WITHIN_S + 5, what="the EventSource closed")
        reports = es.reports()
        self.assertNotIn("verdict", [x["event"] for x in reports if x["type"] == "event"],
                         reports)
        # the stream ended, the EventSource reconnected and was told there is no more
        responses = [x for x in reports if x["type"] == "response"]
        self.assertEqual([x["status"] for x in responses], [200, 204], reports)
        gate.set()  # the late verdict changes nothing
        self.assertEqual(self.job(user["key"], job["id"])["status"], "cancelled")


if __name__ == "__main__":
    unittest.main()
