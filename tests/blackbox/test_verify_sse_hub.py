"""The gateway's hub behind GET /api/jobs/{id}/logs (issue 5): it reads a job's log
stream when the index stream <prefix>logs names the job, and every followed stream
once a second besides. Entries are written here straight to Redis as the verifier
writes them (the entry, then {job_id} to the index), no verifier running: many
clients on many jobs, some joining with Last-Event-ID while entries are written,
each get exactly their job's entries in order; an entry whose index entry is missing
still arrives, by the sweep; so do entries written while the hub's Redis connections
are killed."""

import json
import threading
import time

import harness
from verifykit import SSEReader, VerifyCase

# the hub reads every followed stream this often (gateway/log_routes.c SWEEP_MS)
SWEEP_S = 1.0


class HubTest(VerifyCase):
    label = "vhub"
    VERIFIER = False

    # ------------------------------------------------------------ helpers

    def jobs(self, n):
        """`n` accepted jobs of one user (each held by an agent of its own)."""
        user = self.new_user(cents=100 * n + 1000)
        return user, [self.accepted_job(user, self.new_agent(), price=100)["id"]
                      for _ in range(n)]

    def write(self, job_id, message, notify=True, verdict=False):
        """XADDs a log line (or a verdict) to the job's log as the verifier does; with
        `notify`, then {job_id} to the index. Returns (id, event, data)."""
        if verdict:
            event, data = "verdict", {"attempt": 1, "pass": True, "reason": message,
                                      "status": "completed"}
        else:
            event, data = "log", {"attempt": 1, "step": "schema", "level": "info",
                                  "message": message, "at": "2026-11-23T14:17:19.893Z"}
        eid = harness.redis_command(self.stack.redis_url, "XADD",
                                    self.stream_key("logs:" + job_id), "MAXLEN", "~",
                                    "10000", "*", "event", event, "data",
                                    json.dumps(data, separators=(",", ":")))
        if notify:
            harness.redis_command(self.stack.redis_url, "XADD", self.stream_key("logs"),
                                  "MAXLEN", "~", "10000", "*", "job_id", job_id)
        if verdict:
            data = dict(data, status="verified")  # in the marketplace's words
        return eid, event, data

    def client(self, user, job_id, last_event_id=None):
        r = SSEReader(self.gw.port, user["key"], job_id, last_event_id)
        self.addCleanup(r.close)
        return r

    def hub_connections(self):
        """{name: id} of the gateway's hub connections in Redis (CLIENT SETNAME)."""
        out = {}
        for line in harness.redis_command(self.stack.redis_url, "CLIENT", "LIST").splitlines():
            f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
            if f.get("name") in ("errand-logs-reader", "errand-logs-notifier"):
                out[f["name"]] = f["id"]
        return out

    def kill(self, *names):
        before = self.hub_connections()
        for name in names:
            self.assertIn(name, before)
            harness.redis_command(self.stack.redis_url, "CLIENT", "KILL", "ID", before[name])

        def back():
            now = self.hub_connections()
            return all(now.get(n) not in (None, before[n]) for n in names)
        return back

    def received(self, reader):
        return [(e["id"], e["event"], e["data"]) for e in reader.events()]

    def assertExactly(self, reader, expected, what):
        reader.wait_end(20)
        self.assertIsNone(reader.error, what)
        got = self.received(reader)
        self.assertEqual([g[0] for g in got], [x[0] for x in expected],
                         "%s: ids (duplicates, gaps or order)" % what)
        self.assertEqual(got, expected, what)

    # ------------------------------------------------------------ many clients

    def test_many_clients_on_many_jobs_get_exactly_their_entries_in_order(self):
        njobs, rounds = 12, 12
        user, jobs = self.jobs(njobs)
        early = {j: [self.client(user, j) for _ in range(3)] for j in jobs}
        for rs in early.values():
            for r in rs:
                self.assertEqual(r.wait_answered(), 200)
        written = {j: [] for j in jobs}
        half = threading.Event()
        errors = []

        def writer():
            try:
                for n in range(rounds):
                    for j in jobs:
                        written[j].append(self.write(j, "%s entry %d" % (j, n)))
                    if n == rounds // 2:
                        half.set()
            except Exception as e:  # noqa: BLE001 - reported by the test
                errors.append(e)
                half.set()

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        # clients that join while the writing goes on: from an entry of the past, and
        # from the start
        self.assertTrue(half.wait(60))
        late = {}
        for j in jobs:
            late[j] = (written[j][2][0], self.client(user, j, last_event_id=written[j][2][0]),
                       self.client(user, j))
        t.join(120)
        self.assertFalse(t.is_alive())
        self.assertEqual(errors, [])
        for j in jobs:
            written[j].append(self.write(j, "done", verdict=True))
        for j in jobs:
            whole = written[j]
            for i, r in enumerate(early[j]):
                self.assertExactly(r, whole, "%s client %d" % (j, i))
            after, from_id, from_start = late[j]
            self.assertExactly(from_id, whole[3:], "%s joined after %s" % (j, after))
            self.assertExactly(from_start, whole, "%s joined from the start" % j)

    def test_notified_entries_do_not_wait_for_the_sweep(self):
        user, (job_id,) = self.jobs(1)
        r = self.client(user, job_id)
        self.assertEqual(r.wait_answered(), 200)
        delays, expected = [], []
        for n in range(10):
            t0 = time.monotonic()
            expected.append(self.write(job_id, "entry %d" % n))
            r.wait_for(lambda evs, k=n + 1: len(evs) >= k, timeout=10, what="entry %d" % n)
            delays.append(time.monotonic() - t0)
        # by the sweep alone the median would be about half of SWEEP_S
        self.assertLess(sorted(delays)[len(delays) // 2], SWEEP_S / 4, delays)
        expected.append(self.write(job_id, "done", verdict=True))
        self.assertExactly(r, expected, "notified entries")

    # ------------------------------------------------------------ the safety net

    def test_an_entry_without_its_index_entry_arrives_by_the_sweep(self):
        user, (job_id,) = self.jobs(1)
        r = self.client(user, job_id)
        self.assertEqual(r.wait_answered(), 200)
        expected = [self.write(job_id, "notified")]
        r.wait_for(lambda evs: len(evs) >= 1, timeout=10, what="the notified entry")
        t0 = time.monotonic()
        expected.append(self.write(job_id, "never notified", notify=False))
        r.wait_for(lambda evs: len(evs) >= 2, timeout=SWEEP_S + 5, what="the sweep")
        self.assertLess(time.monotonic() - t0, SWEEP_S + 2)
        expected.append(self.write(job_id, "notified again"))
        expected.append(self.write(job_id, "done", verdict=True))
        self.assertExactly(r, expected, "with a lost index entry")

    def test_entries_arrive_while_the_hub_connections_are_killed(self):
        user, (job_id, other) = self.jobs(2)
        r = self.client(user, job_id)
        r2 = self.client(user, other)
        self.assertEqual(r.wait_answered(), 200)
        self.assertEqual(r2.wait_answered(), 200)
        harness.wait_until(lambda: len(self.hub_connections()) == 2, 10,
                           "the hub's two Redis connections")
        expected = [self.write(job_id, "before")]
        r.wait_for(lambda evs: len(evs) >= 1, timeout=10, what="the first entry")

        # the waiting connection dies: an entry written meanwhile is not lost
        back = self.kill("errand-logs-notifier")
        expected.append(self.write(job_id, "while the notifier is away"))
        r.wait_for(lambda evs: len(evs) >= 2, timeout=10, what="the entry after the kill")
        harness.wait_until(back, 10, "the notifier's new connection")
        expected.append(self.write(job_id, "after the notifier came back"))
        r.wait_for(lambda evs: len(evs) >= 3, timeout=10, what="a notified entry")

        # both die, with entries of both jobs written at once
        back = self.kill("errand-logs-notifier", "errand-logs-reader")
        expected.append(self.write(job_id, "while both are away"))
        other_expected = [self.write(other, "other, while both are away")]
        harness.wait_until(back, 10, "both new connections")
        expected.append(self.write(job_id, "after both came back"))
        other_expected.append(self.write(other, "other, after both came back"))
        expected.append(self.write(job_id, "done", verdict=True))
        other_expected.append(self.write(other, "done", verdict=True))
        self.assertExactly(r, expected, "across the kills")
        self.assertExactly(r2, other_expected, "the other job across the kills")


if __name__ == "__main__":
    import unittest
    unittest.main()
