"""Crashes and lost Redis data (issue 4): kill -9 of the dispatcher in the middle of
deliveries, then another dispatcher delivers them with the same webhook-id; the
Redis keys of the stack deleted in the middle of a run (the shared Redis is not
flushed: only this stack's keys go), and every webhook is still delivered at
least once, signed."""

import signal
import time
import unittest

import harness
from pushkit import ACK, HANG, PushCase, fail_then_ack

TIMEOUT_MS = 4000
# a message taken by a dispatcher stays locked for its timeout + 10 s (dispatcher/main.c)
LOCK_S = TIMEOUT_MS // 1000 + 10


class DispatcherCrashTest(PushCase):
    label = "pcrash"
    DISPATCHER = False
    SCHEDULER = False
    TIMEOUT_MS = TIMEOUT_MS
    RETRY_SCHEDULE = "0,1,1"

    def setUp(self):
        super().setUp()
        self.disp = self.start_dispatcher()

    def kill_dispatcher(self):
        self.disp.send_signal(signal.SIGKILL)
        rc = self.disp.wait(10)
        self.assertEqual(rc, -signal.SIGKILL, "the dispatcher did not die of SIGKILL")
        self.disp.stop()

    def test_kill_9_mid_delivery_then_another_dispatcher_delivers(self):
        user = self.new_user()
        agents = [self.new_agent(steps=[HANG, ACK]) for _ in range(4)]
        jobs = [self.dispatch(user["key"], a["id"]) for a in agents]
        firsts = [self.wait_webhooks(a["endpoint"], 1, job_id=j["id"])[0]
                  for a, j in zip(agents, jobs)]
        # every delivery hangs in the receiver: the dispatcher dies with all in flight
        self.kill_dispatcher()
        killed_at = time.monotonic()
        for h in firsts:
            self.assertIsNone(h["answered"])
        self.disp = self.start_dispatcher()
        for a, j, first in zip(agents, jobs, firsts):
            hooks = self.wait_webhooks(a["endpoint"], 2, job_id=j["id"], timeout=LOCK_S + 30)
            self.assertEqual(hooks[1]["webhook_id"], first["webhook_id"],
                             "the delivery after the crash must keep the webhook-id")
            self.assertEqual(hooks[1]["json"]["id"], first["json"]["id"])
            self.assertEqual(hooks[1]["json"]["reply"]["token"], first["json"]["reply"]["token"])
            self.assertEqual(hooks[1]["answered"], 200)
            self.wait_job(user["key"], j["id"], "running", timeout=10)
            ds = self.deliveries(user["key"], j["id"])
            self.assertEqual(ds[-1]["status_code"], 200, ds)
            self.assertEqual({d["webhook_id"] for d in ds}, {first["webhook_id"]}, ds)
        self.assertLess(time.monotonic() - killed_at, LOCK_S + 30)
        for a, j in zip(agents, jobs):
            ev = self.webhooks(a["endpoint"], job_id=j["id"])[0]["json"]
            self.reply_ok(ev["reply"]["token"], "completed", message="after the crash")
            self.assertEqual(self.job(user["key"], j["id"])["status"], "completed")

    def test_jobs_dispatched_while_no_dispatcher_runs_are_delivered_later(self):
        user = self.new_user()
        agent = self.new_agent()
        self.kill_dispatcher()
        jobs = [self.dispatch(user["key"], agent["id"]) for _ in range(3)]
        time.sleep(0.5)
        self.assertEqual(self.webhooks(agent["endpoint"]), [])
        self.disp = self.start_dispatcher()
        for j in jobs:
            self.wait_webhooks(agent["endpoint"], 1, job_id=j["id"], timeout=20)
            self.wait_job(user["key"], j["id"], "running")


class RedisKeysLostTest(PushCase):
    label = "pflush"
    TIMEOUT_MS = 2000
    RETRY_SCHEDULE = "0,1,1,1"

    def forget_redis(self):
        """Deletes every Redis key of this stack (its streams and consumer groups)."""
        # (a running dispatcher may make its stream and group again at once)
        harness.redis_delete_prefix(self.stack.redis_url, self.stack.stream_prefix)

    def test_every_webhook_delivered_after_the_keys_are_deleted_mid_run(self):
        user = self.new_user()
        agents = [self.new_agent(steps=fail_then_ack(1)) for _ in range(4)]
        stream = self.stack.stream_prefix + "dispatch"
        jobs = []
        observers = {}
        for wave in range(3):
            for a in agents:
                name = self.receiver.endpoint(steps=ACK, secrets=[])
                j = self.dispatch(user["key"], a["id"], observers=[
                    {"type": "webhook", "url": self.receiver.url(name),
                     "events": ["running", "completed"]}])
                self.receiver.endpoint(name, secrets=[j["observers"][0]["secret"]])
                observers[j["id"]] = name
                jobs.append((a, j))
            if wave == 0:
                # the first wave went through the stream: it exists now
                harness.wait_until(lambda: harness.redis_command(
                    self.stack.redis_url, "EXISTS", stream) == 1, 10, "the dispatch stream")
            self.forget_redis()
            time.sleep(0.3)
        # every run's webhook arrives, signed, and is acknowledged in the end
        for a, j in jobs:
            hooks = self.wait_webhooks(a["endpoint"], 1, job_id=j["id"], timeout=30)
            self.assertEqual(len({h["webhook_id"] for h in hooks}), 1)
            harness.wait_until(
                lambda: any(h["answered"] == 200
                            for h in self.webhooks(a["endpoint"], job_id=j["id"])),
                30, "an acknowledged webhook for %s" % j["id"])
            self.wait_job(user["key"], j["id"], "running", timeout=20)
        # the agents reply; the keys go again; every observer still hears of both transitions
        for a, j in jobs:
            ev = self.webhooks(a["endpoint"], job_id=j["id"])[0]["json"]
            self.reply_ok(ev["reply"]["token"], "completed", message="done")
        self.forget_redis()
        for a, j in jobs:
            name = observers[j["id"]]
            for event in ("job.running", "job.completed"):
                self.wait_webhooks(name, 1, event=event, timeout=30)
            self.assertEqual(self.job(user["key"], j["id"])["status"], "completed")
        # and the stream works again for new work
        late = self.dispatch(user["key"], agents[0]["id"])
        self.wait_webhooks(agents[0]["endpoint"], 1, job_id=late["id"], timeout=30)


if __name__ == "__main__":
    unittest.main()
