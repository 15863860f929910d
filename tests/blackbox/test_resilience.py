"""Redis and PostgreSQL going away and coming back: the processes stay up, /readyz
says what is down, and everything recovers by itself.

This module runs a PostgreSQL and a Redis of its own (deploy/datastores in a
temporary directory, free ports), since it stops and starts them.
"""

import os
import signal
import time
import unittest

import harness
from harness import SERVICES, BlackboxTestCase, PrivateDatastores, Stack, bearer

OUTAGE_TIMEOUT = 20  # seconds for /readyz to notice an outage
RECOVERY_TIMEOUT = 30  # seconds to recover once the server is back


class ResilienceTest(BlackboxTestCase):
    stack = None

    @classmethod
    def setUpClass(cls):
        cls.ds = PrivateDatastores("resilience")
        cls.addClassCleanup(cls.ds.close)
        pg_url = cls.ds.start_pg()
        redis_url = cls.ds.start_redis()
        cls.stack = Stack("resilience", database_url=pg_url, redis_url=redis_url)
        cls.addClassCleanup(cls.stack.close)
        cls.stack.start()
        cls.user = cls.stack.principal("user", "resilient user")

    def setUp(self):
        # Every test starts from a healthy stack; a test that failed half-way
        # leaves the servers running again (see restore()).
        self.addCleanup(self.restore)
        self.assert_all_alive()
        for kind in SERVICES:
            harness.wait_ready(self.stack[kind], timeout=RECOVERY_TIMEOUT)

    def restore(self):
        self.ds.start_pg()
        self.ds.start_redis()

    # ------------------------------------------------------------ helpers

    def assert_all_alive(self):
        for kind in SERVICES:
            p = self.stack[kind]
            if not p.alive():
                raise harness.Abort("errand-%s exited with status %s"
                                    % (kind, p.returncode()))

    def readyz(self, kind):
        return self.stack[kind].http("GET", "/readyz", timeout=5)

    def wait_down(self, what):
        """Waits until every process's /readyz is 503 naming `what`; checks the body."""
        other = "postgres" if what == "redis" else "redis"
        for kind in SERVICES:
            with self.subTest(process=kind, down=what):
                def down():
                    self.assert_all_alive()
                    r = self.readyz(kind)
                    return r if r.status == 503 else None
                r = harness.wait_until(down, OUTAGE_TIMEOUT,
                                       "errand-%s /readyz 503 with %s down" % (kind, what))
                self.assertIn("application/json", r.headers.get("content-type", ""))
                body = r.json
                self.assertEqual(body.get("status"), "unavailable", body)
                self.assertIn(what, body.get("down", []), body)
                self.assertNotIn(other, body.get("down", []), body)
                self.assertEqual(body.get("checks"), {what: "down", other: "up"}, body)
                self.assertEqual(body.get("error", {}).get("code"), "not_ready", body)
                self.assertIn(what, body["error"].get("message", ""), body)
                # Alive all the same.
                self.assertEqual(self.stack[kind].http("GET", "/healthz").status, 200)

    def wait_up(self):
        for kind in SERVICES:
            with self.subTest(process=kind):
                def up():
                    self.assert_all_alive()
                    r = self.readyz(kind)
                    return r if r.status == 200 else None
                r = harness.wait_until(up, RECOVERY_TIMEOUT, "errand-%s /readyz 200" % kind)
                self.assertEqual(r.json, {"status": "ready",
                                          "checks": {"postgres": "up", "redis": "up"}})

    def me(self, timeout=15):
        return self.stack.gateway.http("GET", "/v1/me", headers=bearer(self.user["key"]),
                                       timeout=timeout)

    def assert_me_works(self, times=20):
        for i in range(times):
            r = self.me()
            self.assertEqual(r.status, 200, "request %d after recovery: %r" % (i, r))
            self.assertEqual(r.json["id"], self.user["id"])

    # ------------------------------------------------------------ Redis

    def test_1_redis_stopped_and_started(self):
        self.ds.stop_redis()
        self.wait_down("redis")
        self.assert_all_alive()
        self.ds.start_redis()
        self.wait_up()
        self.assert_all_alive()
        self.assert_me_works()

    def test_2_redis_killed_and_restarted(self):
        pid = self.ds.redis_pid()
        self.assertIsNotNone(pid, "no pid file of our Redis")
        os.kill(pid, signal.SIGKILL)
        self.wait_down("redis")
        self.assert_all_alive()
        self.ds.start_redis()
        self.wait_up()
        self.assert_all_alive()

    # ------------------------------------------------------------ PostgreSQL

    def test_3_postgres_stopped_and_started(self):
        self.assert_me_works(3)
        self.ds.stop_pg()
        self.wait_down("postgres")
        self.assert_all_alive()
        # /v1/me needs the database: a prompt 503, not a hang.
        for _ in range(2):
            started = time.monotonic()
            try:
                r = self.me(timeout=15)
            except OSError as e:
                self.fail("/v1/me with PostgreSQL down did not answer within 15 s: %r" % e)
            self.assertEqual(r.status, 503, r)
            self.assertIsInstance(r.json, dict, r)
            self.assertIsInstance(r.json.get("error", {}).get("code"), str, r)
            self.assertLess(time.monotonic() - started, 15)
        # Requests that need no database still work.
        self.assertEqual(self.stack.gateway.http("GET", "/healthz").status, 200)
        self.assert_all_alive()
        self.ds.start_pg()
        self.wait_up()
        self.assert_all_alive()
        self.assert_me_works()

    def test_4_both_down_then_up(self):
        self.ds.stop_redis()
        self.ds.stop_pg()
        for kind in SERVICES:
            with self.subTest(process=kind):
                def both_down():
                    self.assert_all_alive()
                    r = self.readyz(kind)
                    return r if r.status == 503 and sorted(r.json.get("down", [])) == [
                        "postgres", "redis"] else None
                r = harness.wait_until(both_down, OUTAGE_TIMEOUT,
                                       "errand-%s /readyz naming both" % kind)
                self.assertEqual(r.json["checks"], {"postgres": "down", "redis": "down"})
        self.ds.start_pg()
        self.ds.start_redis()
        self.wait_up()
        self.assert_all_alive()
        self.assert_me_works()

    def test_5_still_running_and_stop_cleanly(self):
        self.assert_all_alive()
        self.assert_me_works(5)
        for kind in SERVICES:
            with self.subTest(process=kind):
                p = self.stack[kind]
                rc, killed = p.stop(signal.SIGTERM, timeout=15)
                self.assertFalse(killed, "errand-%s did not stop within 15 s" % kind)
                self.assertEqual(rc, 0, "errand-%s exited %s" % (kind, rc))


class ReconnectRaceTest(BlackboxTestCase):
    """PostgreSQL stopping while the processes' connections are being set up again.

    A connection re-made after an outage runs the schema check (and the
    gateway prepares its statements) before it is used. Here those set-up
    queries are held by a lock, then PostgreSQL stops under them: their
    failure is an outage like any other, not a reason to exit (nor a schema
    "at version 0").
    """

    stack = None
    POOL = 2

    @classmethod
    def setUpClass(cls):
        cls.ds = PrivateDatastores("reconnect")
        cls.addClassCleanup(cls.ds.close)
        pg_url = cls.ds.start_pg()
        redis_url = cls.ds.start_redis()
        # The database only; each test starts processes of its own.
        cls.stack = Stack("reconnect", services=(), database_url=pg_url, redis_url=redis_url,
                          extra_env={"ERRAND_DB_POOL_SIZE": str(cls.POOL)})
        cls.addClassCleanup(cls.stack.close)
        cls.stack.start()

    def setUp(self):
        self.addCleanup(self.ds.start_pg)
        self.procs = {}
        for kind in SERVICES:
            p = self.stack.start_extra(kind)
            self.addCleanup(p.stop)
            self.procs[kind] = p
        for p in self.procs.values():
            harness.wait_ready(p)

    def waiting_on_locks(self):
        out = harness.psql(self.stack.database_url,
                           "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                           "current_database() AND wait_event_type = 'Lock'")
        return int(out)

    def outage_during_setup(self, table, kinds):
        """Locks `table`, drops the processes' connections, waits until the
        re-made connections of `kinds` wait on the lock, then stops PostgreSQL."""
        locker = harness.PsqlSession(self.stack.database_url)
        self.addCleanup(locker.close)
        locker.run("BEGIN; LOCK TABLE %s IN ACCESS EXCLUSIVE MODE;" % table)
        locker.run("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                   "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                   "AND backend_type = 'client backend';")
        want = self.POOL * len(kinds)

        def held():
            for kind, p in self.procs.items():
                if not p.alive():
                    raise harness.Abort("errand-%s exited with status %s"
                                        % (kind, p.returncode()))
            return self.waiting_on_locks() >= want
        harness.wait_until(held, 30,
                           "%d connections set up again and waiting on %s" % (want, table))
        # Connections still being set up are not ready.
        for kind in kinds:
            r = self.procs[kind].http("GET", "/readyz", timeout=5)
            self.assertEqual(r.status, 503, "errand-%s: %r" % (kind, r))
            self.assertIn("postgres", r.json.get("down", []), r)
        self.ds.stop_pg()
        locker.close()
        # The set-up queries have failed now; watch the processes for a while.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            for kind in SERVICES:
                p = self.procs[kind]
                self.assertTrue(p.alive(), "errand-%s exited with status %s when PostgreSQL "
                                "stopped during its connection set-up" % (kind, p.returncode()))
            time.sleep(0.1)
        for kind in SERVICES:
            r = self.procs[kind].http("GET", "/readyz", timeout=5)
            self.assertEqual(r.status, 503, r)
            self.assertIn("postgres", r.json.get("down", []), r)
        self.ds.start_pg()
        for kind in SERVICES:
            harness.wait_ready(self.procs[kind], timeout=RECOVERY_TIMEOUT)
            self.assertTrue(self.procs[kind].alive())

    def test_1_schema_check_interrupted(self):
        # Every process checks the schema version on each new connection.
        self.outage_during_setup("errand_schema_migrations", SERVICES)

    def test_2_prepare_interrupted(self):
        # The gateway prepares statements on api_keys on each new connection.
        self.outage_during_setup("api_keys", ("gateway",))


if __name__ == "__main__":
    unittest.main()
