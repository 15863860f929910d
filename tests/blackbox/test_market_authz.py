"""The authorisation matrix of the marketplace routes (roles x routes, another's job
is a 404, the check order 401 -> 403 -> 404 -> state), and bad requests on every
POST route: malformed JSON, a body that is not an object, wrong types, huge bodies
(4xx, nothing changed), unknown fields ignored."""

import unittest

from marketkit import MarketCase, rand_hex

NO_JOB = "job_00000000000000000000000000"
BAD_KEY = "ek_00000000000000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
HUGE = 1024 * 1024 + 100  # over the default ERRAND_MAX_BODY_BYTES


class AuthzTest(MarketCase):
    label = "mauthz"
    HOLD = 300

    def setUp(self):
        super().setUp()
        self.owner = self.new_user(cents=10000)
        self.other_user = self.new_user(cents=10000)
        self.holder = self.new_agent()
        self.other_agent = self.new_agent()
        self.job = self.held_job(self.owner, self.holder, price=100)
        self.keys = {
            "anonymous": None,
            "bad key": BAD_KEY,
            "admin": self.admin["key"],
            "owner": self.owner["key"],
            "other user": self.other_user["key"],
            "holder": self.holder["key"],
            "other agent": self.other_agent["key"],
        }

    def check_matrix(self, method, path, expected, body=None):
        """expected: {role: (status, code)} for every role of self.keys but the
        ones allowed to succeed (left out)."""
        before = self.counts()
        snap = self.job_snapshot(self.job["id"])
        for role, (status, code) in expected.items():
            with self.subTest(route="%s %s" % (method, path), role=role):
                r = self.req(method, path, key=self.keys[role], body=body)
                self.assertError(r, status, code)
        self.assertEqual(self.counts(), before, "a refused request changed something")
        self.assertEqual(self.job_snapshot(self.job["id"]), snap)

    def test_sender_routes(self):
        for op in ("pay", "cancel"):
            path = "/api/jobs/%s/%s" % (self.job["id"], op)
            self.check_matrix("POST", path, {
                "anonymous": (401, "unauthorized"),
                "bad key": (401, "unauthorized"),
                "admin": (403, "forbidden"),
                "holder": (403, "forbidden"),
                "other agent": (403, "forbidden"),
                "other user": (404, "job_not_found"),
            })

    def test_agent_routes(self):
        for op, body in (("reject", None), ("accept", None), ("submit", {"output": "x"}),
                         ("fail", {"reason": "r"})):
            path = "/api/jobs/%s/%s" % (self.job["id"], op)
            self.check_matrix("POST", path, {
                "anonymous": (401, "unauthorized"),
                "bad key": (401, "unauthorized"),
                "admin": (403, "forbidden"),
                "owner": (403, "forbidden"),
                "other user": (403, "forbidden"),
                "other agent": (404, "job_not_found"),
            }, body=body)

    def test_run_and_pull(self):
        self.check_matrix("POST", "/api/jobs/run", {
            "anonymous": (401, "unauthorized"),
            "bad key": (401, "unauthorized"),
            "admin": (403, "forbidden"),
            "holder": (403, "forbidden"),
            "other agent": (403, "forbidden"),
        }, body={"prompt": "do it", "confirmed": True, "price_cents": 1})
        # an agent has money too: still 403, nothing held
        self.topup(self.other_agent["id"], 500)
        r = self.post(self.other_agent["key"], "/api/jobs/run",
                      {"prompt": "do it", "confirmed": True, "price_cents": 1})
        self.assertError(r, 403, "forbidden")
        self.assertWallet(self.other_agent, 500, 0, earnings=0)
        self.check_matrix("POST", "/api/jobs/pull", {
            "anonymous": (401, "unauthorized"),
            "bad key": (401, "unauthorized"),
            "admin": (403, "forbidden"),
            "owner": (403, "forbidden"),
            "other user": (403, "forbidden"),
        })

    def test_reads(self):
        self.check_matrix("GET", "/api/jobs/" + self.job["id"], {
            "anonymous": (401, "unauthorized"),
            "bad key": (401, "unauthorized"),
            "admin": (403, "forbidden"),
            "other user": (404, "job_not_found"),
            "other agent": (404, "job_not_found"),
        })
        self.check_matrix("GET", "/api/jobs", {
            "anonymous": (401, "unauthorized"),
            "bad key": (401, "unauthorized"),
            "admin": (403, "forbidden"),
        })
        # the others see nothing of it in their lists
        for role in ("other user", "other agent"):
            r = self.get(self.keys[role], "/api/jobs")
            self.assertEqual(r.status, 200, r)
            self.assertNotIn(self.job["id"], [j["id"] for j in r.json["data"]])
        for role in ("owner", "holder"):
            r = self.get(self.keys[role], "/api/jobs")
            self.assertIn(self.job["id"], [j["id"] for j in r.json["data"]], role)

    def test_check_order(self):
        # a wrong role is 403 even for a job that does not exist
        for op in ("reject", "accept", "submit", "fail"):
            r = self.post(self.owner["key"], "/api/jobs/%s/%s" % (NO_JOB, op))
            self.assertError(r, 403, "forbidden")
            self.assertError(self.post(None, "/api/jobs/%s/%s" % (NO_JOB, op)), 401,
                             "unauthorized")
        for op in ("pay", "cancel"):
            self.assertError(self.post(self.holder["key"], "/api/jobs/%s/%s" % (NO_JOB, op)),
                             403, "forbidden")
            self.assertError(self.post(self.owner["key"], "/api/jobs/%s/%s" % (NO_JOB, op)),
                             404, "job_not_found")
        # 403 before the body is read
        self.assertError(self.post(self.holder["key"], "/api/jobs/run", "{not json"), 403,
                         "forbidden")
        self.assertError(self.post(self.owner["key"], "/api/jobs/pull", "{not json"), 403,
                         "forbidden")
        self.assertError(self.post(None, "/api/jobs/run", "{not json"), 401, "unauthorized")
        # 404 before the state: another user's queued job is not "not pending payment"
        self.assertError(self.post(self.other_user["key"],
                                   "/api/jobs/%s/pay" % self.job["id"]), 404, "job_not_found")
        # another agent on a held job: 404, not 409
        self.assertError(self.post(self.other_agent["key"],
                                   "/api/jobs/%s/accept" % self.job["id"]), 404,
                         "job_not_found")
        self.assertEqual(self.db_status(self.job["id"]), "held")


class BadRequestTest(MarketCase):
    label = "mbadreq"
    HOLD = 300

    def setUp(self):
        super().setUp()
        self.user = self.new_user(cents=100000)
        self.agent = self.new_agent()

    def states(self):
        """A job of each state a POST route acts on; returns {route: (who, path, job)}.

        Each call uses a capability and an agent of its own (a test may call it
        more than once)."""
        self.cap = "t-" + rand_hex(10)
        self.agent = self.new_agent()
        # (the agent cannot pull the pending job once paid: another capability)
        # more than the wallet holds now (an earlier call's top-up may remain)
        price = self.wallet(self.user)["available_cents"] + 1
        pending = self.run_job(self.user, price=price, expect=402, caps=["x-" + self.cap])
        self.topup(self.user["id"], price)  # now a pay would succeed
        held = self.held_job(self.user, self.agent, price=100)
        held2 = self.held_job(self.user, self.agent, price=100)
        accepted = self.accepted_job(self.user, self.agent, price=100)
        accepted2 = self.accepted_job(self.user, self.agent, price=100)
        queued = self.run_job(self.user, price=100)
        self.run_job(self.user, price=100)  # something a pull would take
        u, a = self.user, self.agent
        return {
            "run": (u, "/api/jobs/run", None),
            "pay": (u, "/api/jobs/%s/pay" % pending["id"], pending),
            "cancel": (u, "/api/jobs/%s/cancel" % queued["id"], queued),
            "pull": (a, "/api/jobs/pull", None),
            "reject": (a, "/api/jobs/%s/reject" % held["id"], held),
            "accept": (a, "/api/jobs/%s/accept" % held2["id"], held2),
            "submit": (a, "/api/jobs/%s/submit" % accepted["id"], accepted),
            "fail": (a, "/api/jobs/%s/fail" % accepted2["id"], accepted2),
        }

    def check_refused(self, body, status, code=None, timeout=10):
        routes = self.states()
        for name, (who, path, job) in routes.items():
            with self.subTest(route=name, body=str(body)[:30]):
                counts = self.counts()
                snap = self.job_snapshot(job["id"]) if job else None
                wallet = self.wallet(self.user)
                r = self.post(who["key"], path, body, timeout=timeout)
                self.expect(r, status, code)
                after = self.job_snapshot(job["id"]) if job else None
                changed = {k: (snap[k], after[k]) for k in snap if snap[k] != after[k]} \
                    if job else {}
                self.assertEqual(changed, {}, "the refused request changed the job")
                self.assertEqual(self.counts(), counts, "the refused request changed rows")
                self.assertEqual(self.wallet(self.user), wallet)

    def test_malformed_json(self):
        self.check_refused('{"prompt": "x", ', 400, "invalid_json")

    def test_garbage(self):
        self.check_refused(b"\x00\xff\xfe garbage", 400, "invalid_json")

    def test_body_not_an_object(self):
        for body in ("[1, 2]", '"text"', "42", "null", "true"):
            self.check_refused(body, 400, "invalid_json")

    def test_huge_body(self):
        body = '{"prompt": "x", "confirmed": true, "output": "o", "pad": "%s"}' % ("p" * HUGE)
        self.check_refused(body, 413, "body_too_large", timeout=30)

    def test_too_deep(self):
        body = '{"prompt": "x", "output": %s1%s}' % ("[" * 100, "]" * 100)
        self.check_refused(body, 400)

    def test_wrong_types_on_pull(self):
        self.run_job(self.user, price=100)
        before = self.counts()
        for body in ({"agent_id": 5}, {"agent_id": ["x"]}, {"agent_name": 5},
                     {"agent_name": {"a": 1}}, {"agent_name": "n" * 201}):
            with self.subTest(body=str(body)[:40]):
                r = self.post(self.agent["key"], "/api/jobs/pull", body)
                self.assertError(r, 400, "invalid_request")
        self.assertEqual(self.counts(), before)

    def test_unknown_fields_ignored_everywhere(self):
        routes = self.states()
        extra = {"unknown": 1, "nested": {"x": [1, None]}, "status": "verified",
                 "price_cents": -5, "agent_id": None}
        want = {"run": 201, "pay": 200, "cancel": 200, "pull": 200, "reject": 200,
                "accept": 200, "submit": 200, "fail": 200}
        for name, (who, path, job) in routes.items():
            with self.subTest(route=name):
                body = dict(extra)
                if name == "run":
                    body = {"prompt": "p", "confirmed": True, "price_cents": 10,
                            "required_capabilities": [self.cap], "unknown": 1, "x": [None]}
                if name == "submit":
                    body["output"] = "done"
                if name == "pull":
                    body.pop("agent_id")
                r = self.post(who["key"], path, body)
                self.assertEqual(r.status, want[name], r)
        self.assertEqual(self.db_status(routes["pay"][2]["id"]), "queued")
        self.assertEqual(self.db_status(routes["cancel"][2]["id"]), "cancelled")
        self.assertEqual(self.db_status(routes["reject"][2]["id"]), "queued")
        self.assertEqual(self.db_status(routes["accept"][2]["id"]), "running")
        self.assertEqual(self.db_status(routes["submit"][2]["id"]), "submitted")
        self.assertEqual(self.db_status(routes["fail"][2]["id"]), "queued")

    def test_negative_money(self):
        before = self.counts()
        for body in ({"prompt": "p", "confirmed": True, "price_cents": -1},
                     {"prompt": "p", "price_cents": -1},
                     {"prompt": "p", "confirmed": True, "price_cents": -100000000},
                     {"prompt": "p", "confirmed": True, "price_cents": -0.5}):
            with self.subTest(body=body):
                r = self.post(self.user["key"], "/api/jobs/run", body)
                self.assertError(r, 400, "invalid_request")
                self.assertIn("price_cents", r.json["error"]["message"])
        r = self.post(self.admin["key"], "/v1/admin/wallets/%s/topup" % self.user["id"],
                      {"amount_cents": -1})
        self.assertError(r, 400, "invalid_request")
        self.assertEqual(self.counts(), before)
        self.assertWallet(self.user, 100000, 0)


if __name__ == "__main__":
    unittest.main()
