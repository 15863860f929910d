"""Health, readiness, metrics, request ids and the JSON 404/405 of all four processes."""

import re
import unittest

import harness
from harness import SERVICES, BlackboxTestCase, Stack

GENERATED_ID = re.compile(r"^req_[0-9a-hjkmnp-tv-z]{26}$")


class HealthTest(BlackboxTestCase):
    stack = None

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack("health")
        cls.addClassCleanup(cls.stack.close)
        cls.stack.start()

    def each(self):
        for kind in SERVICES:
            with self.subTest(process=kind):
                proc = self.stack[kind]
                self.assertTrue(proc.alive(), "%s exited" % kind)
                yield kind, proc

    # ------------------------------------------------------------ healthz, readyz

    def test_healthz(self):
        for kind, p in self.each():
            r = p.http("GET", "/healthz")
            self.assertEqual(r.status, 200, r)
            self.assertIn("application/json", r.headers.get("content-type", ""))
            self.assertEqual(r.json, {"status": "ok"})
            self.assertTrue(r.headers.get("x-request-id"), r.headers)

    def test_readyz(self):
        for kind, p in self.each():
            r = p.http("GET", "/readyz")
            self.assertEqual(r.status, 200, r)
            self.assertIn("application/json", r.headers.get("content-type", ""))
            self.assertEqual(r.json, {"status": "ready",
                                      "checks": {"postgres": "up", "redis": "up"}})

    # ------------------------------------------------------------ metrics

    def test_metrics(self):
        for kind, p in self.each():
            for _ in range(3):
                self.assertEqual(p.http("GET", "/healthz").status, 200)
            self.assertEqual(p.http("GET", "/nope-for-metrics").status, 404)
            r = p.http("GET", "/metrics")
            self.assertEqual(r.status, 200, r)
            ctype = r.headers.get("content-type", "")
            self.assertTrue(ctype.startswith("text/plain"), ctype)
            self.assertIn("version=0.0.4", ctype)
            self.assertIn("# TYPE errand_http_requests_total counter", r.text)
            # Every sample line parses (raises otherwise).
            samples = harness.parse_metrics(r.text)
            self.assertTrue(samples)
            healthz = harness.metric_sum(r.text, "errand_http_requests_total",
                                         route="/healthz", method="GET", status="200")
            self.assertGreaterEqual(healthz, 3, r.text)
            not_found = harness.metric_sum(r.text, "errand_http_requests_total",
                                           status="404")
            self.assertGreaterEqual(not_found, 1, r.text)
            # The counter counts: two more requests, at least two more.
            for _ in range(2):
                self.assertEqual(p.http("GET", "/healthz").status, 200)
            r2 = p.http("GET", "/metrics")
            after = harness.metric_sum(r2.text, "errand_http_requests_total",
                                       route="/healthz", method="GET", status="200")
            self.assertGreaterEqual(after, healthz + 2, r2.text)
            # A latency histogram goes with it.
            self.assertIn("errand_http_request_seconds", r2.text)

    # ------------------------------------------------------------ request ids

    def test_request_id_echoed(self):
        given = ["test-id_1.2:3", "a", "A" * 64, "0123456789abcdef"]
        for kind, p in self.each():
            for rid in given:
                for path in ("/healthz", "/no-such-route"):
                    r = p.http("GET", path, headers={"X-Request-Id": rid})
                    self.assertEqual(r.headers.get("x-request-id"), rid, (path, r.headers))

    def test_request_id_generated(self):
        refused = ["B" * 65, "bad id", "<script>", "a/b", "caf\u00e9".encode().decode("latin-1")]
        for kind, p in self.each():
            seen = set()
            for headers in [{}] + [{"X-Request-Id": rid} for rid in refused]:
                for path in ("/healthz", "/metrics", "/no-such-route"):
                    r = p.http("GET", path, headers=headers)
                    rid = r.headers.get("x-request-id", "")
                    self.assertRegex(rid, GENERATED_ID, (headers, path))
                    self.assertNotIn(rid, seen, "request ids must be unique")
                    seen.add(rid)

    def test_request_id_on_post_and_errors(self):
        for kind, p in self.each():
            r = p.http("POST", "/healthz", body={}, headers={"X-Request-Id": "post-1"})
            self.assertEqual(r.status, 405, r)
            self.assertEqual(r.headers.get("x-request-id"), "post-1")
        g = self.stack.gateway
        r = g.http("GET", "/v1/me", headers={"X-Request-Id": "me-401"})
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.headers.get("x-request-id"), "me-401")

    # ------------------------------------------------------------ 404 / 405

    def test_unknown_route_is_json_404(self):
        for kind, p in self.each():
            for method, path in [("GET", "/nope"), ("GET", "/v1/nope"),
                                 ("GET", "/healthz/extra"), ("POST", "/nope"),
                                 ("DELETE", "/a/b/c/d/e/f/g/h/i/j/k"), ("GET", "/")]:
                r = p.http(method, path)
                self.assertError(r, 404, "not_found", (method, path, r))

    def test_wrong_method_is_json_405(self):
        for kind, p in self.each():
            for method, path in [("POST", "/healthz"), ("DELETE", "/readyz"),
                                 ("PUT", "/metrics"), ("PATCH", "/healthz")]:
                r = p.http(method, path, body=None if method == "DELETE" else {})
                self.assertError(r, 405, "method_not_allowed", (method, path, r))
        g = self.stack.gateway
        for method, path in [("GET", "/v1/admin/principals"), ("DELETE", "/v1/me"),
                             ("POST", "/v1/me"),
                             ("GET", "/v1/admin/principals/usr_x/keys")]:
            r = g.http(method, path)
            self.assertError(r, 405, "method_not_allowed", (method, path, r))

    def test_processes_still_alive(self):
        for kind, p in self.each():
            self.assertTrue(p.alive())
            self.assertEqual(p.http("GET", "/healthz").status, 200)


if __name__ == "__main__":
    unittest.main()
