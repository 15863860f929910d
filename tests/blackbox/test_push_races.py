"""Concurrent operations on the same run and job (issue 4): replies racing each other,
a retried partial racing itself, and a cancel racing the agent's final reply. Each
answer must be one of the contract's (never a 5xx), and exactly one of the racing
operations wins."""

import threading
import unittest

import harness
from pushkit import PushCase

N_JOBS = 24


def race(fns):
    """Runs the callables at the same moment in threads; returns their results (or exceptions)."""
    barrier = threading.Barrier(len(fns))
    out = [None] * len(fns)

    def go(i, fn):
        try:
            barrier.wait(10)
            out[i] = fn()
        except Exception as e:  # noqa: BLE001 - reported by the caller
            out[i] = e
    threads = [threading.Thread(target=go, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


class RaceTest(PushCase):
    label = "praces"

    def running_jobs(self, user, agent, n):
        jobs = [self.dispatch(user["key"], agent["id"]) for _ in range(n)]
        evs = [self.run_created(agent["endpoint"], j["id"]) for j in jobs]
        for j in jobs:
            self.wait_job(user["key"], j["id"], "running")
        return jobs, evs

    def test_concurrent_completed_replies_one_wins(self):
        user = self.new_user()
        agent = self.new_agent()
        job, ev = self.started_job(user, agent)
        token = ev["reply"]["token"]
        out = race([lambda i=i: self.reply(token, "completed", message="answer %d" % i,
                                           result={"i": i}) for i in range(8)])
        for r in out:
            self.assertFalse(isinstance(r, Exception), r)
            self.assertEqual(r.status, 200, r)
        winners = [r for r in out if r.json["idempotent"] is False]
        self.assertEqual(len(winners), 1, out)
        j = self.job(user["key"], job["id"])
        i = out.index(winners[0])
        self.assertEqual(j["result"], {"i": i})
        self.assertEqual(len(self.get_run(user["key"], ev["run"]["id"])["messages"]), 2)

    def test_concurrent_retries_of_one_partial_append_it_once(self):
        user = self.new_user()
        agent = self.new_agent()
        job, ev = self.started_job(user, agent)
        token = ev["reply"]["token"]
        out = race([lambda: self.reply(token, "partial", message="once", idempotencyKey="same")
                    for _ in range(8)])
        for r in out:
            self.assertFalse(isinstance(r, Exception), r)
            self.assertEqual(r.status, 200, r)
        self.assertEqual(sum(1 for r in out if r.json["idempotent"] is False), 1, out)
        msgs = self.get_run(user["key"], ev["run"]["id"])["messages"]
        self.assertEqual([m["text"] for m in msgs[1:]], ["once"], msgs)
        self.reply_ok(token, "completed", message="done")

    def test_cancel_racing_the_final_reply(self):
        user = self.new_user()
        agent = self.new_agent()
        jobs, evs = self.running_jobs(user, agent, N_JOBS)
        problems = []
        for j, ev in zip(jobs, evs):
            cancel, reply = race([
                lambda j=j: self.post(user["key"], "/v1/jobs/%s/cancel" % j["id"], {}),
                lambda ev=ev: self.reply(ev["reply"]["token"], "completed", message="done"),
            ])
            for what, r in (("cancel", cancel), ("reply", reply)):
                if isinstance(r, Exception) or r.status != 200:
                    problems.append("%s %s: %r" % (what, j["id"], r))
            if problems:
                continue
            final = self.job(user["key"], j["id"])
            if reply.json["idempotent"]:
                # the cancel won: the reply found the run cancelled
                self.assertEqual(final["status"], "cancelled", final)
                self.assertEqual(reply.json["status"], "cancelled", reply)
            else:
                # the reply won; the cancel answered the job as it was
                self.assertEqual(final["status"], "completed", final)
                self.assertEqual(cancel.json["status"], "completed", cancel)
        self.assertEqual(problems, [], "a cancel racing a reply must not fail")

    def lock_then_race_cancel(self, user, cancel_job_id, first_sql, next_sql):
        """A psql session takes `first_sql`'s locks as a reply (or the sweep, or a
        webhook's 2xx) does first; the cancel of `cancel_job_id` comes in and waits;
        the session then takes `next_sql`'s locks as that transaction does next.
        Every transaction locks a job, then its run, then the run's webhook message
        (a parent before its subjobs): the cancel must neither deadlock nor fail."""
        session = harness.PsqlSession(self.stack.database_url)
        self.addCleanup(session.close)
        session.run("BEGIN; " + first_sql)
        out = {}
        t = threading.Thread(target=lambda: out.setdefault("cancel", self.post(
            user["key"], "/v1/jobs/%s/cancel" % cancel_job_id, {}, timeout=30)))
        t.start()
        harness.wait_until(lambda: self.db_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock'") != "0", 10, "the cancel to wait for a lock")
        try:
            session.run(next_sql + " COMMIT;", timeout=15)
            second_lock = "taken"
        except AssertionError as e:
            second_lock = "failed: %s" % e
        t.join(30)
        cancel = out.get("cancel")
        self.assertEqual(second_lock, "taken", "the lock order deadlocked with the cancel")
        self.assertIsNotNone(cancel, "the cancel never answered")
        self.assertEqual(cancel.status, 200,
                         "a cancel racing a reply must not fail with a deadlock: %r" % cancel)
        self.assertEqual(cancel.json["status"], "cancelled", cancel)

    def test_cancel_and_a_reply_take_their_locks_in_one_order(self):
        user = self.new_user()
        agent = self.new_agent()
        job, ev = self.started_job(user, agent)
        self.lock_then_race_cancel(
            user, job["id"],
            "SELECT 1 FROM jobs WHERE id = '%s' FOR UPDATE;" % job["id"],
            "SELECT 1 FROM runs WHERE id = '%s' FOR UPDATE;"
            " SELECT 1 FROM webhook_messages WHERE run_id = '%s' FOR UPDATE;"
            % (ev["run"]["id"], ev["run"]["id"]))

    def test_cancelling_a_parent_and_a_reply_on_its_subjob_take_one_order(self):
        """The cancel of a parent locks each subjob before the subjob's runs, as a
        reply on the subjob's run does: the subjob's job row, then its run."""
        user = self.new_user()
        agent = self.new_agent()
        parent, ev = self.started_job(user, agent)
        r = self.post(agent["key"], "/v1/jobs", {"agent_id": agent["id"],
                      "parent_job_id": parent["id"], "brief": {"objective": "part one"}})
        self.assertEqual(r.status, 202, r)
        sub = r.json
        sub_ev = self.run_created(agent["endpoint"], sub["id"])
        self.lock_then_race_cancel(
            user, parent["id"],
            "SELECT 1 FROM jobs WHERE id = '%s' FOR UPDATE;" % sub["id"],
            "SELECT 1 FROM runs WHERE id = '%s' FOR UPDATE;" % sub_ev["run"]["id"])
        self.assertEqual(self.job(user["key"], parent["id"])["status"], "cancelled")


if __name__ == "__main__":
    unittest.main()
