"""The dispatcher's turns (issue 4): a receiver that holds its webhooks has at most
ERRAND_DISPATCH_MAX_INFLIGHT_PER_RECEIVER of them in flight at once, and another
agent's webhook goes out while they hang, not after them."""

import time
import unittest

import harness
from pushkit import ACK, PushCase, hang_for

SHARE = 3
HOLD_MS = 4000


def most_at_once(hooks, hold_ms):
    """The most webhooks held at once by a receiver that answers each after hold_ms."""
    starts = sorted(h["received_at_ms"] for h in hooks)
    # each is held [start, start + hold_ms); a little slack for the answer's way back
    return max(sum(1 for s in starts if t <= s < t + hold_ms - 200) for t in starts)


class TurnsTest(PushCase):
    label = "pturns"
    TIMEOUT_MS = 15000
    extra_env = {"ERRAND_DISPATCH_MAX_INFLIGHT_PER_RECEIVER": str(SHARE)}

    def test_a_slow_receiver_keeps_to_its_share(self):
        user = self.new_user()
        slow = self.new_agent(steps=[hang_for(HOLD_MS)])
        fast = self.new_agent(steps=ACK)
        n_slow = 2 * SHARE + 1
        for _ in range(n_slow):
            self.dispatch(user["key"], slow["id"])
        # the slow receiver gets its share at once, and no more while they hang
        self.wait_webhooks(slow["endpoint"], SHARE, timeout=10)
        t_share = time.time()
        fast_job = self.dispatch(user["key"], fast["id"])
        self.wait_webhooks(fast["endpoint"], 1, job_id=fast_job["id"], timeout=10)
        waited = time.time() - t_share
        self.assertLess(waited, HOLD_MS / 1000.0 / 2,
                        "the fast agent's webhook waited for the slow agent's")
        self.assertEqual(len(self.webhooks(slow["endpoint"])), SHARE,
                         "the slow receiver got more than its share while they hung")
        # and no more than its share waits in the dispatcher: the rest stays pending in
        # the stream's consumer group (brought back by the poll once it is its turn)
        m = self.dispatcher.http("GET", "/metrics")
        self.assertEqual(m.status, 200, m)
        self.assertLessEqual(harness.metric_sum(m.text, "errand_webhook_waiting"), SHARE, m.text)
        self.wait_job(user["key"], fast_job["id"], "running")
        # then the rest in turn, never more than the share at once
        hooks = self.wait_webhooks(slow["endpoint"], n_slow, timeout=4 * HOLD_MS / 1000.0 + 10)
        self.assertEqual(len(hooks), n_slow)
        self.assertEqual(most_at_once(hooks, HOLD_MS), SHARE, [h["received_at_ms"] for h in hooks])
        self.assertEqual(len({h["webhook_id"] for h in hooks}), n_slow, "each sent once")


if __name__ == "__main__":
    unittest.main()
