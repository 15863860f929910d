"""Start and stop: graceful SIGTERM/SIGINT, requests in flight, configuration errors,
an old schema, and migrations applied twice and concurrently."""

import json
import signal
import socket
import subprocess
import threading
import time
import unittest

import harness
from harness import SERVICES, BlackboxTestCase, Database, Stack, bearer


def stderr_records(text):
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            v = json.loads(line)
        except ValueError:
            v = None
        out.append(v if isinstance(v, dict) else {"_raw": line})
    return out


class LifecycleBase(BlackboxTestCase):
    stack = None

    @classmethod
    def setUpClass(cls):
        # A migrated database and one user; each test starts its own processes.
        cls.stack = Stack("lifecycle", services=())
        cls.addClassCleanup(cls.stack.close)
        cls.stack.start()
        cls.user = cls.stack.principal("user", "lifecycle user")

    def start(self, kind, extra_env=None):
        p = self.stack.start_extra(kind, extra_env)
        self.addCleanup(p.stop)
        harness.wait_ready(p)
        return p

    def run_until_exit(self, kind, env, timeout=20):
        """Runs errand-<kind> with exactly `env` (ERRAND_*); returns (status, stderr).

        A process that does not exit within `timeout` s is killed and the test fails.
        """
        e = dict(env)
        if kind != "gateway":
            e.setdefault(harness.ADDR_VARS[kind], "127.0.0.1:%d" % harness.free_port())
        e.setdefault("ERRAND_HTTP_ADDR", "127.0.0.1:%d" % harness.free_port())
        try:
            r = subprocess.run([harness.binary("errand-" + kind)], env=harness.clean_env(e),
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired as t:
            err = t.stderr.decode("utf-8", "replace") if isinstance(t.stderr, bytes) \
                else (t.stderr or "")
            self.fail("errand-%s did not exit within %d s (it was killed); stderr:\n%s"
                      % (kind, timeout, err[-3000:]))
        return r.returncode, r.stderr


class GracefulStopTest(LifecycleBase):

    def test_sigterm_exits_zero(self):
        for kind in SERVICES:
            with self.subTest(process=kind):
                p = self.start(kind)
                rc, killed = p.stop(signal.SIGTERM, timeout=15)
                self.assertFalse(killed, "%s did not exit within 15 s of SIGTERM" % kind)
                self.assertEqual(rc, 0, "%s exited %s after SIGTERM" % (kind, rc))
                errors = [r for r in p.log_records() if r.get("level") == "error"]
                self.assertEqual(errors, [], "errors logged during a graceful stop")

    def test_sigint_exits_zero(self):
        for kind in SERVICES:
            with self.subTest(process=kind):
                p = self.start(kind)
                rc, killed = p.stop(signal.SIGINT, timeout=15)
                self.assertFalse(killed, "%s did not exit within 15 s of SIGINT" % kind)
                self.assertEqual(rc, 0)

    def test_logs_are_json_lines(self):
        p = self.start("gateway")
        p.http("GET", "/v1/me", headers={"X-Request-Id": "log-check"})
        rc, _ = p.stop()
        self.assertEqual(rc, 0)
        records = p.log_records()
        self.assertTrue(records)
        for rec in records:
            self.assertNotIn("_raw", rec, "a log line is not a JSON object: %r" % rec)
            for field in ("time", "level", "process", "msg"):
                self.assertIn(field, rec, rec)
            self.assertEqual(rec["process"], "errand-gateway")
            self.assertIn(rec["level"], ("debug", "info", "warn", "error"))

    def test_sigterm_answers_requests_in_flight(self):
        """Requests in hand at SIGTERM are answered before the process exits.

        The requests are held in the gateway by a lock on api_keys (its /v1/me
        query waits for it), so they are certainly in flight when SIGTERM comes.
        """
        g = self.start("gateway", {"ERRAND_SHUTDOWN_GRACE_SECONDS": "60",
                                   "ERRAND_DB_TIMEOUT_MS": "60000"})
        key = self.user["key"]
        self.assertEqual(g.http("GET", "/v1/me", headers=bearer(key)).status, 200)

        locker = subprocess.Popen(
            [harness.pg_tool("psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
             "-d", self.stack.database_url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=harness.clean_env())

        def release():
            if locker.poll() is None:
                try:
                    locker.stdin.write("ROLLBACK;\n\\q\n")
                    locker.stdin.flush()
                    locker.stdin.close()
                except OSError:
                    pass
                try:
                    locker.wait(15)
                except subprocess.TimeoutExpired:
                    locker.kill()
                    locker.wait()
            for f in (locker.stdout, locker.stderr):
                f.close()
        self.addCleanup(release)
        locker.stdin.write("BEGIN;\nLOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE;\n"
                           "SELECT 'locked';\n")
        locker.stdin.flush()
        self.assertEqual(locker.stdout.readline().strip(), "locked")

        n = 8
        results = [None] * n

        def call(i):
            try:
                results[i] = g.http("GET", "/v1/me", headers=bearer(key), timeout=60)
            except Exception as e:  # noqa: BLE001 - recorded, asserted below
                results[i] = e

        threads = [threading.Thread(target=call, args=(i,), daemon=True) for i in range(n)]
        for t in threads:
            t.start()

        def inflight():
            if not g.alive():
                raise harness.Abort("the gateway exited: %s" % g.returncode())
            r = g.http("GET", "/metrics")
            # The metrics request itself is in hand too.
            return harness.metric_sum(r.text, "errand_http_inflight") >= n + 1
        harness.wait_until(inflight, 15, "%d /v1/me requests in flight" % n)
        # And they are held at the database, behind the lock.
        waiting = self.stack.db.query("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                      "current_database() AND wait_event_type = 'Lock'")
        self.assertGreaterEqual(int(waiting), 1)

        g.send_signal(signal.SIGTERM)
        # The gateway must wait for them: it stays up while they are held.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            self.assertTrue(g.alive(), "the gateway exited with requests in flight (status %s)"
                            % g.returncode())
            time.sleep(0.05)
        self.assertTrue(all(r is None for r in results), "answered while the lock was held")

        release()
        for t in threads:
            t.join(30)
        for i, r in enumerate(results):
            self.assertIsInstance(r, harness.Response, "request %d: %r" % (i, r))
            self.assertEqual(r.status, 200, "request %d: %r" % (i, r))
            self.assertEqual(r.json["id"], self.user["id"])
        rc = g.wait(30)
        self.assertEqual(rc, 0, "the gateway did not exit 0 after its requests were answered")

    def test_sigterm_under_load(self):
        """Many clients, then SIGTERM: every response that starts is complete.

        A request is either answered in full (200), refused, or dropped before any
        byte of a response (it never reached the gateway: the kernel's backlog);
        never a response cut short.
        """
        g = self.start("gateway", {"ERRAND_SHUTDOWN_GRACE_SECONDS": "30"})
        request = ("GET /v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                   "Connection: close\r\n\r\n" % self.user["key"]).encode()
        stop = threading.Event()
        lock = threading.Lock()
        outcome = {"ok": 0, "refused": 0, "dropped": 0}
        bad = []

        def client():
            while not stop.is_set():
                try:
                    data, err = harness.raw_http(g.port, request, timeout=30)
                except ConnectionRefusedError:
                    with lock:
                        outcome["refused"] += 1
                    return
                except OSError as e:
                    with lock:
                        if isinstance(e, socket.timeout):
                            bad.append(("timeout", repr(e)))
                        else:
                            outcome["dropped"] += 1
                    continue
                if not data:
                    with lock:
                        outcome["dropped"] += 1
                    continue
                parsed = harness.parse_raw_response(data)
                with lock:
                    if parsed is None:
                        bad.append(("partial", data[:200], repr(err)))
                    elif parsed[0] != 200:
                        bad.append(("status", data[:300]))
                    else:
                        outcome["ok"] += 1

        threads = [threading.Thread(target=client, daemon=True) for _ in range(16)]
        for t in threads:
            t.start()
        try:
            harness.wait_until(lambda: outcome["ok"] >= 200, 30, "200 answered requests")
            g.send_signal(signal.SIGTERM)
            rc = g.wait(30)
        finally:
            stop.set()
            for t in threads:
                t.join(40)
        self.assertEqual(rc, 0, "the gateway did not exit 0 under load")
        self.assertEqual(bad, [], "responses cut short or wrong (outcomes %r)" % outcome)
        self.assertGreaterEqual(outcome["ok"], 200)


class ConfigErrorTest(LifecycleBase):

    def base_env(self):
        return {"ERRAND_DATABASE_URL": self.stack.database_url,
                "ERRAND_REDIS_URL": self.stack.redis_url,
                "ERRAND_STREAM_PREFIX": self.stack.stream_prefix}

    def assert_config_error(self, kind, env, variable):
        rc, err = self.run_until_exit(kind, env)
        self.assertEqual(rc, 2, "errand-%s: exit status %s, stderr:\n%s" % (kind, rc, err))
        records = stderr_records(err)
        named = [r for r in records if variable in str(r.get("msg", ""))]
        self.assertTrue(named, "no JSON log line whose msg names %s; stderr:\n%s"
                        % (variable, err))
        for r in named:
            self.assertEqual(r.get("level"), "error", r)
            self.assertEqual(r.get("process"), "errand-" + kind, r)
            self.assertIn("time", r)

    def test_missing_database_url(self):
        for kind in SERVICES:
            with self.subTest(process=kind):
                env = self.base_env()
                del env["ERRAND_DATABASE_URL"]
                self.assert_config_error(kind, env, "ERRAND_DATABASE_URL")

    def test_missing_redis_url(self):
        for kind in SERVICES:
            with self.subTest(process=kind):
                env = self.base_env()
                del env["ERRAND_REDIS_URL"]
                self.assert_config_error(kind, env, "ERRAND_REDIS_URL")

    def test_bad_integer(self):
        for kind in SERVICES:
            for value in ("abc", "-1", "12x", "99999999999999999999"):
                with self.subTest(process=kind, value=value):
                    env = self.base_env()
                    env["ERRAND_HOLD_SECONDS"] = value
                    self.assert_config_error(kind, env, "ERRAND_HOLD_SECONDS")

    def test_bad_address(self):
        for kind in SERVICES:
            for value in ("nonsense", "127.0.0.1:99999", "127.0.0.1:", ":80x"):
                with self.subTest(process=kind, value=value):
                    env = self.base_env()
                    var = harness.ADDR_VARS[kind]
                    env[var] = value
                    self.assert_config_error(kind, env, var)

    def test_bad_urls_and_levels(self):
        cases = [("ERRAND_REDIS_URL", "http://127.0.0.1:6379"),
                 ("ERRAND_DATABASE_URL", "mysql://x"),
                 ("ERRAND_LOG_LEVEL", "loud"),
                 ("ERRAND_MAX_BODY_BYTES", "lots"),
                 ("ERRAND_SHUTDOWN_GRACE_SECONDS", "soon")]
        for var, value in cases:
            with self.subTest(variable=var):
                env = self.base_env()
                env[var] = value
                self.assert_config_error("gateway", env, var)

    def test_password_not_echoed(self):
        env = self.base_env()
        env["ERRAND_REDIS_URL"] = "rediss://:sekr1t-pass@127.0.0.1:6379"
        rc, err = self.run_until_exit("gateway", env)
        self.assertEqual(rc, 2, err)
        self.assertIn("ERRAND_REDIS_URL", err)
        self.assertNotIn("sekr1t-pass", err, "a password was written to the log")

    def test_errandctl_config_error(self):
        r = harness.errandctl(self.stack.database_url, self.stack.redis_url, "schema-version",
                              env={"ERRAND_DATABASE_URL": None})
        self.assertEqual(r.returncode, 2, r)
        self.assertIn("ERRAND_DATABASE_URL", r.stderr)
        r = harness.errandctl(self.stack.database_url, self.stack.redis_url, "nonsense")
        self.assertEqual(r.returncode, 2, r)


class SchemaTest(LifecycleBase):

    def test_old_schema_refused(self):
        db = Database(self.stack.pg_admin_url, "unmigrated")
        self.addCleanup(db.drop)
        env = {"ERRAND_DATABASE_URL": db.url, "ERRAND_REDIS_URL": self.stack.redis_url,
               "ERRAND_STREAM_PREFIX": self.stack.stream_prefix,
               "ERRAND_SECRETS_KEY": harness.STACK_SECRETS_KEY}
        for kind in SERVICES:
            with self.subTest(process=kind):
                rc, err = self.run_until_exit(kind, env, timeout=30)
                self.assertEqual(rc, 2, "errand-%s: status %s, stderr:\n%s" % (kind, rc, err))
                self.assertIn("errandctl migrate", err)
                said = [r for r in stderr_records(err)
                        if "errandctl migrate" in str(r.get("msg", ""))]
                self.assertTrue(said, "no JSON log line says to run errandctl migrate")
        # errandctl refuses to create principals there too, and says why.
        r = harness.errandctl(db.url, self.stack.redis_url, "principal", "create",
                              "--role", "user", "--name", "x")
        self.assertNotEqual(r.returncode, 0, r)
        self.assertIn("errandctl migrate", r.stderr)

    def test_migrate_twice(self):
        db = Database(self.stack.pg_admin_url, "migrate_twice")
        self.addCleanup(db.drop)
        rd = self.stack.redis_url
        v0 = harness.ctl_json(db.url, rd, "schema-version")
        self.assertEqual(v0["database"], 0, v0)
        self.assertGreaterEqual(v0["build"], 1, v0)
        build = v0["build"]

        first = harness.ctl_json(db.url, rd, "migrate")
        self.assertGreaterEqual(first["applied"], 1, first)
        self.assertEqual(first["version"], build, first)
        self.assertEqual(harness.ctl_json(db.url, rd, "schema-version"),
                         {"database": build, "build": build})

        second = harness.ctl_json(db.url, rd, "migrate")
        self.assertEqual(second, {"applied": 0, "version": build})
        self.assertEqual(harness.ctl_json(db.url, rd, "schema-version"),
                         {"database": build, "build": build})
        rows = db.query("SELECT count(*), max(version) FROM errand_schema_migrations")
        self.assertEqual(rows, "%d|%d" % (first["applied"], build))

        # A process starts on it.
        p = harness.start_service("gateway", {"ERRAND_DATABASE_URL": db.url,
                                              "ERRAND_REDIS_URL": rd,
                                              "ERRAND_STREAM_PREFIX": self.stack.stream_prefix})
        self.addCleanup(p.stop)
        harness.wait_ready(p)

    def test_concurrent_migrations(self):
        rd = self.stack.redis_url
        build = harness.ctl_json(self.stack.database_url, rd, "schema-version")["build"]
        for round_ in range(3):
            with self.subTest(round=round_):
                db = Database(self.stack.pg_admin_url, "migrate_race")
                self.addCleanup(db.drop)
                env = harness.clean_env({"ERRAND_DATABASE_URL": db.url,
                                         "ERRAND_REDIS_URL": rd})
                procs = [subprocess.Popen([harness.binary("errandctl"), "migrate"], env=env,
                                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True)
                         for _ in range(3)]
                outs = []
                for p in procs:
                    try:
                        out, err = p.communicate(timeout=60)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        out, err = p.communicate()
                    outs.append((p.returncode, out, err))
                for rc, out, err in outs:
                    self.assertEqual(rc, 0, "errandctl migrate failed: %s %s" % (out, err))
                results = [json.loads(out.strip().splitlines()[-1]) for _, out, _ in outs]
                applied = sorted(r["applied"] for r in results)
                self.assertEqual(applied[:-1], [0] * (len(results) - 1), results)
                self.assertGreaterEqual(applied[-1], 1, results)
                self.assertTrue(all(r["version"] == build for r in results), results)
                self.assertEqual(harness.ctl_json(db.url, rd, "schema-version"),
                                 {"database": build, "build": build})
                rows = db.query("SELECT count(*), count(DISTINCT version) "
                                "FROM errand_schema_migrations")
                self.assertEqual(rows, "%d|%d" % (applied[-1], applied[-1]))


if __name__ == "__main__":
    unittest.main()
