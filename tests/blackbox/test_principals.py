"""GET /v1/me, the admin routes for principals and keys, and errandctl's counterparts."""

import hashlib
import json
import re
import socket
import subprocess
import unittest

import harness
from harness import BlackboxTestCase, Stack, bearer

ID_RE = {
    "user": re.compile(r"^usr_[0-9a-hjkmnp-tv-z]{26}$"),
    "agent": re.compile(r"^agt_[0-9a-hjkmnp-tv-z]{26}$"),
    "admin": re.compile(r"^adm_[0-9a-hjkmnp-tv-z]{26}$"),
}
KEY_ID_RE = re.compile(r"^key_[0-9a-hjkmnp-tv-z]{26}$")
KEY_RE = re.compile(r"^ek_[0-9a-hjkmnp-tv-z]{26}_[A-Za-z0-9_-]{43}$")
PROJECT_RE = re.compile(r"^prj_[0-9a-hjkmnp-tv-z]{26}$")
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

PRINCIPAL_FIELDS = {"id", "role", "name", "project_id", "key", "created_at"}
AGENT_FIELDS = PRINCIPAL_FIELDS | {"capabilities", "webhook_url"}
KEY_FIELDS = {"id", "principal_id", "key", "created_at"}
ME_FIELDS = {"id", "role", "name", "project_id"}


def alter_secret(key):
    """The same key id with another secret: well formed, wrong."""
    last = key[-1]
    return key[:-1] + ("A" if last != "A" else "B")


class PrincipalsTest(BlackboxTestCase):
    stack = None

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack("principals", services=("gateway",))
        cls.addClassCleanup(cls.stack.close)
        cls.stack.start()
        cls.gw = cls.stack.gateway
        cls.admin = cls.stack.principal("admin", "root admin")
        cls.user = cls.stack.principal("user", "plain user")
        cls.agent = cls.stack.principal("agent", "an agent", capabilities=["code", "web"],
                                        webhook_url="http://127.0.0.1:9/hook")
        cls.all = {"admin": cls.admin, "user": cls.user, "agent": cls.agent}
        # Every key this module sees, to check none is stored in clear.
        cls.keys_seen = [p["key"] for p in cls.all.values()]

    # ------------------------------------------------------------ helpers

    def counts(self):
        out = self.stack.db.query(
            "SELECT (SELECT count(*) FROM principals), (SELECT count(*) FROM api_keys)")
        a, b = out.split("|")
        return int(a), int(b)

    def post_admin(self, path, body, key=None, **kw):
        return self.gw.http("POST", path, body=body,
                            headers=bearer(key or self.admin["key"]), **kw)

    def me(self, key):
        return self.gw.http("GET", "/v1/me", headers=bearer(key))

    def check_principal_shape(self, p, role, name):
        fields = AGENT_FIELDS if role == "agent" else PRINCIPAL_FIELDS
        if role == "agent" and p.get("webhook_url"):
            # an agent with a webhook gets the secret its webhooks are signed with
            fields = fields | {"webhook_secret"}
            self.assertRegex(p["webhook_secret"], r"^whsec_[A-Za-z0-9+/]{32}$")
        self.assertEqual(set(p), fields, p)
        self.assertRegex(p["id"], ID_RE[role])
        self.assertEqual(p["role"], role)
        self.assertEqual(p["name"], name)
        self.assertRegex(p["project_id"], PROJECT_RE)
        self.assertRegex(p["key"], KEY_RE)
        self.assertRegex(p["created_at"], TIME_RE)

    def check_key_shape(self, k, principal_id):
        self.assertEqual(set(k), KEY_FIELDS, k)
        self.assertRegex(k["id"], KEY_ID_RE)
        self.assertEqual(k["principal_id"], principal_id)
        self.assertRegex(k["key"], KEY_RE)
        self.assertRegex(k["created_at"], TIME_RE)

    # ------------------------------------------------------------ /v1/me

    def test_me_with_good_key(self):
        for role, p in self.all.items():
            with self.subTest(role=role):
                r = self.me(p["key"])
                self.assertEqual(r.status, 200, r)
                self.assertIn("application/json", r.headers.get("content-type", ""))
                self.assertEqual(set(r.json), ME_FIELDS, r.json)
                self.assertEqual(r.json["id"], p["id"])
                self.assertEqual(r.json["role"], role)
                self.assertEqual(r.json["name"], p["name"])
                self.assertEqual(r.json["project_id"], p["project_id"])

    def test_me_with_wrong_key(self):
        for role, p in self.all.items():
            with self.subTest(role=role):
                # Same key id, other secret: the row is found, the hash must not match.
                r = self.me(alter_secret(p["key"]))
                self.assertError(r, 401, "unauthorized")
                # Well formed, unknown key id.
                other = "ek_" + "0" * 26 + p["key"][29:]
                self.assertError(self.me(other), 401, "unauthorized")
                # Another principal's key id with this one's secret.
                mixed = self.user["key"][:30] + p["key"][30:]
                if mixed != p["key"] and mixed != self.user["key"]:
                    self.assertError(self.me(mixed), 401, "unauthorized")

    def test_me_with_missing_key(self):
        r = self.gw.http("GET", "/v1/me")
        self.assertError(r, 401, "unauthorized")

    def test_me_with_malformed_key(self):
        key = self.user["key"]
        for value in ["Bearer", "Bearer ", "Bearer abc", "Bearer ek_", "Basic dXNlcjpwYXNz",
                      "Token " + key, key, "Bearer " + key + " extra",
                      "Bearer " + key + "x", "Bearer " + key[:-1], "Bearer " + key.upper(),
                      "Bearer " + key[:-1] + "!", "Bearer " + "ek_" + "x" * 70,
                      "Bearer " + "a" * 4000]:
            with self.subTest(value=value[:40]):
                r = self.gw.http("GET", "/v1/me", headers={"Authorization": value})
                self.assertError(r, 401, "unauthorized")

    # ------------------------------------------------------------ admin: who may

    def test_admin_routes_forbidden_to_users_and_agents(self):
        before = self.counts()
        body = {"role": "user", "name": "should not exist"}
        for role in ("user", "agent"):
            with self.subTest(role=role):
                key = self.all[role]["key"]
                r = self.post_admin("/v1/admin/principals", body, key=key)
                self.assertError(r, 403, "forbidden")
                r = self.post_admin("/v1/admin/principals/%s/keys" % self.user["id"], {},
                                    key=key)
                self.assertError(r, 403, "forbidden")
                # 403 comes before the body is looked at.
                r = self.post_admin("/v1/admin/principals", "{not json", key=key)
                self.assertError(r, 403, "forbidden")
        self.assertEqual(self.counts(), before)

    def test_admin_routes_need_a_key(self):
        before = self.counts()
        for headers in [{}, bearer(alter_secret(self.admin["key"])),
                        {"Authorization": "Bearer nope"}]:
            r = self.gw.http("POST", "/v1/admin/principals",
                             body={"role": "user", "name": "x"}, headers=headers)
            self.assertError(r, 401, "unauthorized")
            r = self.gw.http("POST", "/v1/admin/principals/%s/keys" % self.user["id"],
                             body={}, headers=headers)
            self.assertError(r, 401, "unauthorized")
            # 401 before the body is looked at.
            r = self.gw.http("POST", "/v1/admin/principals", body="[[[", headers=headers)
            self.assertError(r, 401, "unauthorized")
        self.assertEqual(self.counts(), before)

    # ------------------------------------------------------------ admin: create

    def test_create_each_role(self):
        for role in ("user", "admin", "agent"):
            with self.subTest(role=role):
                before = self.counts()
                body = {"role": role, "name": "made by route %s" % role}
                if role == "agent":
                    body["capabilities"] = ["python", "search"]
                    body["webhook_url"] = "https://agent.example/hook"
                r = self.post_admin("/v1/admin/principals", body)
                self.assertEqual(r.status, 201, r)
                p = r.json
                self.keys_seen.append(p["key"])
                self.check_principal_shape(p, role, body["name"])
                if role == "agent":
                    self.assertEqual(p["capabilities"], ["python", "search"])
                    self.assertEqual(p["webhook_url"], "https://agent.example/hook")
                self.assertEqual(self.counts(), (before[0] + 1, before[1] + 1))
                # The new key works at once.
                me = self.me(p["key"])
                self.assertEqual(me.status, 200, me)
                self.assertEqual(me.json, {"id": p["id"], "role": role, "name": body["name"],
                                           "project_id": p["project_id"]})
                row = self.stack.db.query(
                    "SELECT role, name FROM principals WHERE id = %s" % harness.sql_quote(p["id"]))
                self.assertEqual(row, "%s|%s" % (role, body["name"]))

    def test_create_agent_without_extras(self):
        r = self.post_admin("/v1/admin/principals", {"role": "agent", "name": "bare agent"})
        self.assertEqual(r.status, 201, r)
        self.keys_seen.append(r.json["key"])
        self.check_principal_shape(r.json, "agent", "bare agent")
        self.assertEqual(r.json["capabilities"], [])
        self.assertIsNone(r.json["webhook_url"])

    def test_unknown_fields_are_ignored(self):
        r = self.post_admin("/v1/admin/principals",
                            {"role": "user", "name": "extra fields", "color": "blue",
                             "nested": {"a": [1, 2]}})
        self.assertEqual(r.status, 201, r)
        self.keys_seen.append(r.json["key"])
        self.check_principal_shape(r.json, "user", "extra fields")

    def test_unicode_name_round_trips(self):
        name = "Zo\u00eb \u6f22\u5b57 \U0001f916"
        r = self.post_admin("/v1/admin/principals", {"role": "user", "name": name})
        self.assertEqual(r.status, 201, r)
        self.keys_seen.append(r.json["key"])
        self.assertEqual(r.json["name"], name)
        me = self.me(r.json["key"])
        self.assertEqual(me.json["name"], name)

    def test_validation_errors_name_the_field(self):
        cases = [
            ({}, "role"),
            ({"name": "x"}, "role"),
            ({"role": None, "name": "x"}, "role"),
            ({"role": "superuser", "name": "x"}, "role"),
            ({"role": "", "name": "x"}, "role"),
            ({"role": 5, "name": "x"}, "role"),
            ({"role": ["user"], "name": "x"}, "role"),
            ({"role": "user"}, "name"),
            ({"role": "user", "name": 5}, "name"),
            ({"role": "user", "name": ""}, "name"),
            ({"role": "user", "name": {"first": "x"}}, "name"),
            ({"role": "user", "name": "x" * 201}, "name"),
            ({"role": "user", "name": "x", "capabilities": ["a"]}, "capabilities"),
            ({"role": "admin", "name": "x", "capabilities": ["a"]}, "capabilities"),
            ({"role": "user", "name": "x", "webhook_url": "http://a.example/"}, "webhook_url"),
            ({"role": "admin", "name": "x", "webhook_url": "https://a.example/"},
             "webhook_url"),
            ({"role": "agent", "name": "x", "webhook_url": "ftp://a.example/"}, "webhook_url"),
            ({"role": "agent", "name": "x", "webhook_url": "a.example/hook"}, "webhook_url"),
            ({"role": "agent", "name": "x", "webhook_url": 5}, "webhook_url"),
            ({"role": "agent", "name": "x", "webhook_url": ["http://a"]}, "webhook_url"),
            ({"role": "agent", "name": "x", "capabilities": "code"}, "capabilities"),
            ({"role": "agent", "name": "x", "capabilities": [1]}, "capabilities"),
            ({"role": "agent", "name": "x", "capabilities": [""]}, "capabilities"),
            ({"role": "agent", "name": "x", "capabilities": {"a": 1}}, "capabilities"),
        ]
        before = self.counts()
        for body, field in cases:
            with self.subTest(body=json.dumps(body)[:80]):
                r = self.post_admin("/v1/admin/principals", body)
                err = self.assertError(r, 400, "invalid_request")
                # "field: …", or "field[i]: …" for an element of an array.
                self.assertRegex(err["message"], r"^%s(\[\d+\])?: " % re.escape(field),
                                 "the message does not name %s" % field)
        self.assertEqual(self.counts(), before, "bad input must not add rows")

    def test_invalid_json(self):
        before = self.counts()
        for body in ['{"role": "user",', "not json", '{"role": "user", "name": "a"} x',
                     "[1, 2]", "null", '"user"', "42", "{'role': 'user'}",
                     '{"role": "user", "name": "a",}', b'{"name": "\xff\xfe"}']:
            with self.subTest(body=body):
                r = self.post_admin("/v1/admin/principals", body)
                self.assertError(r, 400, "invalid_json")
        self.assertEqual(self.counts(), before)

    def test_body_too_large(self):
        before = self.counts()
        pad = "a" * (1024 * 1024 + 16)
        body = json.dumps({"role": "user", "name": "big", "pad": pad})
        r = self.post_admin("/v1/admin/principals", body, timeout=30)
        self.assertError(r, 413, "body_too_large")
        self.assertEqual(self.counts(), before)

    def test_body_far_too_large_is_refused_unread(self):
        # Larger than the HTTP layer's hard limit (ERRAND_MAX_ATTACHMENT_BYTES,
        # 10 MiB by default): refused with 413 as soon as the headers announce
        # it, before the body is read. libevent 2.1 writes that reply itself,
        # with its own HTML body (docs/api.md says so); nothing changes.
        before = self.counts()
        n = 11 * 1024 * 1024
        head = ("POST /v1/admin/principals HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\nConnection: close\r\n\r\n" % (self.admin["key"], n))
        s = socket.create_connection(("127.0.0.1", self.gw.port), timeout=15)
        data = b""
        try:
            s.sendall(head.encode() + b'{"role":"user","name":"x","pad":"' + b"a" * 4096)
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
        finally:
            s.close()
        parsed = harness.parse_raw_response(data)
        self.assertIsNotNone(parsed, "no complete HTTP response: %r" % data[:500])
        status, headers, body = parsed
        self.assertEqual(status, 413, data[:500])
        self.assertLess(len(data), 4096, "the body was not read, so the reply is short")
        self.assertEqual(self.counts(), before)

    def test_json_too_deep(self):
        before = self.counts()
        for depth in (40, 100, 100000):
            with self.subTest(depth=depth):
                nested = "[" * depth + "]" * depth
                body = '{"role": "user", "name": "deep", "x": %s}' % nested
                r = self.post_admin("/v1/admin/principals", body, timeout=30)
                self.assertError(r, 400, "invalid_json")
                nested = '{"a":' * depth + "1" + "}" * depth
                body = '{"role": "user", "name": "deep", "x": %s}' % nested
                r = self.post_admin("/v1/admin/principals", body, timeout=30)
                self.assertError(r, 400, "invalid_json")
        self.assertEqual(self.counts(), before)
        self.assertTrue(self.gw.alive())
        # Moderate nesting in an ignored field is fine.
        body = '{"role": "user", "name": "shallow", "x": %s}' % ("[" * 10 + "]" * 10)
        r = self.post_admin("/v1/admin/principals", body)
        self.assertEqual(r.status, 201, r)
        self.keys_seen.append(r.json["key"])

    def test_limits_follow_the_settings(self):
        g = self.stack.start_extra("gateway", {"ERRAND_MAX_BODY_BYTES": "2048",
                                               "ERRAND_MAX_JSON_DEPTH": "4"})
        self.addCleanup(g.stop)
        harness.wait_ready(g)
        before = self.counts()
        h = bearer(self.admin["key"])
        body = json.dumps({"role": "user", "name": "x", "pad": "a" * 2100})
        self.assertError(g.http("POST", "/v1/admin/principals", body=body, headers=h),
                         413, "body_too_large")
        body = '{"role": "user", "name": "x", "x": [[[[[[1]]]]]]}'
        self.assertError(g.http("POST", "/v1/admin/principals", body=body, headers=h),
                         400, "invalid_json")
        self.assertEqual(self.counts(), before)
        body = json.dumps({"role": "user", "name": "small enough", "pad": "a" * 1500,
                           "x": [1]})
        r = g.http("POST", "/v1/admin/principals", body=body, headers=h)
        self.assertEqual(r.status, 201, r)
        self.keys_seen.append(r.json["key"])

    # ------------------------------------------------------------ admin: keys

    def test_issue_key(self):
        for role in ("user", "agent", "admin"):
            with self.subTest(role=role):
                p = self.all[role]
                before = self.counts()
                r = self.post_admin("/v1/admin/principals/%s/keys" % p["id"], None)
                self.assertEqual(r.status, 201, r)
                k = r.json
                self.keys_seen.append(k["key"])
                self.check_key_shape(k, p["id"])
                self.assertNotEqual(k["key"], p["key"])
                self.assertEqual(self.counts(), (before[0], before[1] + 1))
                me = self.me(k["key"])
                self.assertEqual(me.status, 200, me)
                self.assertEqual(me.json["id"], p["id"])
                self.assertEqual(me.json["role"], role)
                # The first key still works.
                self.assertEqual(self.me(p["key"]).status, 200)
                row = self.stack.db.query(
                    "SELECT principal_id FROM api_keys WHERE id = %s" % harness.sql_quote(k["id"]))
                self.assertEqual(row, p["id"])

    def test_issue_key_for_unknown_principal(self):
        before = self.counts()
        for pid in ["usr_" + "0" * 26, "agt_01hzzzzzzzzzzzzzzzzzzzzzzz", "nope",
                    "usr_short", "key_" + "0" * 26, "x" * 300]:
            with self.subTest(pid=pid[:40]):
                r = self.post_admin("/v1/admin/principals/%s/keys" % pid, {})
                self.assertError(r, 404, "principal_not_found")
        self.assertEqual(self.counts(), before)

    # ------------------------------------------------------------ storage

    def test_keys_not_stored_in_clear(self):
        # Make sure this test has keys of both routes and of errandctl to look for.
        r = self.post_admin("/v1/admin/principals", {"role": "user", "name": "clear check"})
        self.assertEqual(r.status, 201, r)
        self.keys_seen.append(r.json["key"])
        k = self.stack.ctl_json("key", "create", self.user["id"])
        self.keys_seen.append(k["key"])
        dump = self.dump_database()
        for key in self.keys_seen:
            with self.subTest(key=key[:12]):
                self.assertNotIn(key, dump)
                secret = key.split("_", 2)[2]
                self.assertNotIn(secret, dump, "the secret part of a key is stored")
                digest = hashlib.sha256(key.encode()).hexdigest()
                n = self.stack.db.query("SELECT count(*) FROM api_keys WHERE key_hash = %s"
                                        % harness.sql_quote(digest))
                self.assertEqual(n, "1", "SHA-256 hex of the key is not in api_keys.key_hash")
        # Every stored hash is lower-case hex SHA-256.
        bad = self.stack.db.query("SELECT count(*) FROM api_keys WHERE key_hash !~ '^[0-9a-f]{64}$'")
        self.assertEqual(bad, "0")

    def dump_database(self):
        try:
            r = subprocess.run([harness.pg_tool("pg_dump"), "--data-only", "-d",
                                self.stack.database_url], capture_output=True, text=True,
                               timeout=60, stdin=subprocess.DEVNULL, env=harness.clean_env())
            if r.returncode == 0:
                return r.stdout
        except (RuntimeError, OSError, subprocess.SubprocessError):
            pass
        # No usable pg_dump: every row of every table as text.
        tables = self.stack.db.query(
            "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) "
            "FROM information_schema.tables WHERE table_schema = 'public'").split()
        return "\n".join(self.stack.db.query("SELECT t::text FROM %s t" % t) for t in tables)

    # ------------------------------------------------------------ errandctl

    def test_errandctl_and_route_give_the_same_shapes(self):
        for role in ("user", "agent", "admin"):
            with self.subTest(role=role):
                args = []
                body = {"role": role, "name": "same %s" % role}
                if role == "agent":
                    args = ["--capability", "a", "--capability", "b",
                            "--webhook-url", "https://agent.example/x"]
                    body.update(capabilities=["a", "b"], webhook_url="https://agent.example/x")
                via_ctl = self.stack.ctl_json("principal", "create", "--role", role,
                                              "--name", body["name"], *args)
                r = self.post_admin("/v1/admin/principals", body)
                self.assertEqual(r.status, 201, r)
                via_route = r.json
                self.keys_seen += [via_ctl["key"], via_route["key"]]
                self.check_principal_shape(via_ctl, role, body["name"])
                self.check_principal_shape(via_route, role, body["name"])
                for field in ("role", "name", "project_id", "capabilities", "webhook_url"):
                    self.assertEqual(via_ctl.get(field), via_route.get(field), field)
                self.assertNotEqual(via_ctl["id"], via_route["id"])
                # Both keys work on /v1/me.
                for p in (via_ctl, via_route):
                    me = self.me(p["key"])
                    self.assertEqual(me.status, 200, me)
                    self.assertEqual(me.json["id"], p["id"])
                # And so do the keys each way issues.
                k1 = self.stack.ctl_json("key", "create", via_route["id"])
                r = self.post_admin("/v1/admin/principals/%s/keys" % via_ctl["id"], {})
                self.assertEqual(r.status, 201, r)
                k2 = r.json
                self.keys_seen += [k1["key"], k2["key"]]
                self.check_key_shape(k1, via_route["id"])
                self.check_key_shape(k2, via_ctl["id"])
                self.assertEqual(self.me(k1["key"]).json["id"], via_route["id"])
                self.assertEqual(self.me(k2["key"]).json["id"], via_ctl["id"])

    def test_errandctl_refuses_bad_input(self):
        before = self.counts()
        cases = [
            (["principal", "create", "--role", "superuser", "--name", "x"], "role"),
            (["principal", "create", "--name", "x"], "role"),
            (["principal", "create", "--role", "user"], "name"),
            (["principal", "create", "--role", "user", "--name", "x", "--capability", "c"],
             "capabilit"),
            (["principal", "create", "--role", "agent", "--name", "x",
              "--webhook-url", "ftp://x"], "webhook"),
        ]
        for args, word in cases:
            with self.subTest(args=" ".join(args)):
                r = self.stack.ctl(*args)
                self.assertNotEqual(r.returncode, 0, r)
                self.assertIn(word, r.stderr, r.stderr)
                self.assertEqual(r.stdout.strip(), "")
        r = self.stack.ctl("key", "create", "usr_" + "0" * 26)
        self.assertNotEqual(r.returncode, 0, r)
        self.assertIn("principal_not_found", r.stderr)
        self.assertEqual(self.counts(), before)

    def test_gateway_still_alive(self):
        self.assertTrue(self.gw.alive())
        self.assertEqual(self.gw.http("GET", "/readyz").status, 200)


if __name__ == "__main__":
    unittest.main()
