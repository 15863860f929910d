"""The marketplace routes of seed 003 (issue 3): create in two phases, pay, cancel
(every row of the seed's table), pull, reject, accept, submit, fail (every branch
of the fail logic), list, get, the cron sweep, envVars and the events.

The wallet is checked after every step; the ledger and job invariants after
every test (marketkit.MarketCase)."""

import json
import time
import unittest

import harness
from marketkit import (CRON_SECRET, JOB_FIELDS, OPTIONAL_FIELDS, PARTY_FIELDS, MarketCase,
                       parse_time, rand_hex)

PROMPT = "Research the history of the Unix operating system"


def words(n, word="word"):
    return " ".join("%s%d" % (word, i) for i in range(n))


class MarketBase(MarketCase):
    label = "market"
    HOLD = 60
    extra_env = {"ERRAND_MAX_OUTPUT_BYTES": "4096"}

    def assertJobShape(self, job, party):
        keys = set(job)
        self.assertTrue(JOB_FIELDS <= keys, "missing fields %s in %r" % (JOB_FIELDS - keys, job))
        extra = keys - JOB_FIELDS - OPTIONAL_FIELDS
        if party:
            self.assertEqual(extra, PARTY_FIELDS, job)
        else:
            self.assertEqual(extra, set(), "a non-party sees %s" % extra)


class CreateTest(MarketBase):
    """POST /api/jobs/run, both phases, and the built-in structurer."""

    def test_phase1_estimates_store_nothing(self):
        u = self.new_user(cents=10000)
        before = self.counts()
        for body in ({"prompt": PROMPT}, {"prompt": PROMPT, "confirmed": False},
                     {"prompt": PROMPT, "confirmed": None}):
            with self.subTest(body=body):
                r = self.post(u["key"], "/api/jobs/run", body)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(set(r.json), {"needs_confirmation", "title", "description",
                                               "requirements", "estimated_price_cents",
                                               "estimated_time_limit_seconds"}, r.json)
                self.assertIs(r.json["needs_confirmation"], True)
                self.assertEqual(r.json["title"], "Research The History Of The Unix Operating System")
                self.assertEqual(r.json["description"], PROMPT)
                self.assertIsInstance(r.json["requirements"], str)
                self.assertIn("Unix", r.json["requirements"])
                self.assertEqual(r.json["estimated_price_cents"], 500)
                self.assertEqual(r.json["estimated_time_limit_seconds"], 3600)
        self.assertEqual(self.counts(), before, "phase 1 stored something")
        self.assertWallet(u, 10000, 0)

    def test_structurer_rule(self):
        u = self.new_user()
        cases = [
            # (prompt, title, price, time)
            ("fix the   login bug. then deploy it to production!",
             "Fix The Login Bug", 500, 3600),
            (words(20), " ".join("Word%d" % i for i in range(8)), 500, 3600),
            (words(21), None, 525, 3660),
            (words(30), None, 750, 4200),
            (words(1400), None, 35000, 86400),
            (words(2100), None, 50000, 86400),
        ]
        for prompt, title, price, tl in cases:
            with self.subTest(words=len(prompt.split())):
                r1 = self.post(u["key"], "/api/jobs/run", {"prompt": prompt})
                r2 = self.post(u["key"], "/api/jobs/run", {"prompt": prompt})
                self.assertEqual(r1.status, 200, r1)
                self.assertEqual(r1.json, r2.json, "the structurer is not deterministic")
                if title is not None:
                    self.assertEqual(r1.json["title"], title)
                self.assertEqual(r1.json["estimated_price_cents"], price)
                self.assertEqual(r1.json["estimated_time_limit_seconds"], tl)
                self.assertLessEqual(len(r1.json["title"].split()), 8)

    def test_structurer_non_ascii(self):
        """Prompts whose title (8 words) or description run long in UTF-8: the
        estimates and the job are valid JSON/UTF-8, with the documented rule."""
        u = self.new_user(cents=100000)
        cases = [
            "\u00dcn\u00efc\u00f6d\u00e9" * 20 + " x",            # one long first word
            ("\u00e9" * 17 + " ") * 10,                              # 8 title words of 34 bytes
            "a" * 3999 + "\u00e9 and more words here",               # a character at byte 4000
            "\u65e5\u672c\u8a9e " * 1500,                           # 1500 words, 3 bytes each
        ]
        for prompt in cases:
            n = len(prompt.split())
            extra = max(0, n - 20)
            with self.subTest(prompt=prompt[:20], words=n):
                r = self.post(u["key"], "/api/jobs/run", {"prompt": prompt})
                self.assertEqual(r.status, 200, r)
                self.assertIs(r.json.get("needs_confirmation"), True, r)
                self.assertTrue(r.json.get("title"), r)
                # the title's first word is the prompt's, capitalised
                self.assertTrue(prompt.split()[0].lower().startswith(
                    r.json["title"].split()[0][:1].lower()))
                self.assertEqual(r.json["estimated_price_cents"], min(50000, 500 + 25 * extra))
                self.assertEqual(r.json["estimated_time_limit_seconds"],
                                 min(86400, 3600 + 60 * extra))
                r = self.post(u["key"], "/api/jobs/run",
                              {"prompt": prompt, "confirmed": True, "price_cents": 1,
                               "required_capabilities": [self.cap]})
                self.assertEqual(r.status, 201, r)
                self.assertEqual(r.json["prompt"], prompt)

    def test_prompt_required(self):
        u = self.new_user(cents=1000)
        before = self.counts()
        for body in ({}, {"prompt": ""}, {"prompt": None}, {"confirmed": True},
                     {"prompt": "", "confirmed": True}, {"prompt": None, "confirmed": True,
                                                          "price_cents": 5}):
            with self.subTest(body=body):
                self.assertError(self.post(u["key"], "/api/jobs/run", body), 400,
                                 "prompt_required")
        self.assertEqual(self.counts(), before)
        self.assertWallet(u, 1000, 0)

    def test_confirm_holds_the_price(self):
        u = self.new_user(cents=1000)
        r = self.post(u["key"], "/api/jobs/run",
                      self.run_body(prompt=PROMPT, price=300, time_limit_seconds=120,
                                    output_schema={"type": "object"},
                                    verification={"judge": True,
                                                  "webhook_url": "https://example.com/v"}))
        self.assertEqual(r.status, 201, r)
        job = r.json
        self.assertJobShape(job, party=True)
        self.assertRegex(job["id"], r"^job_[0-9a-hjkmnp-tv-z]{26}$")
        self.assertEqual(job["status"], "queued")
        self.assertEqual(job["price_cents"], 300)
        self.assertEqual(job["time_limit_seconds"], 120)
        self.assertEqual(job["sender_id"], u["id"])
        self.assertEqual(job["prompt"], PROMPT)
        self.assertEqual(job["title"], "Research The History Of The Unix Operating System")
        self.assertEqual(job["required_capabilities"], [self.cap])
        self.assertEqual(job["output_schema"], {"type": "object"})
        # the external verifier's secret is shown in the creation answer only
        secret = job["verification"].pop("secret")
        self.assertRegex(secret, r"^whsec_[A-Za-z0-9+/]{32}$")
        self.assertEqual(job["verification"], {"judge": True,
                                               "webhook_url": "https://example.com/v"})
        self.assertEqual(job["attempt_count"], 0)
        self.assertEqual(job["max_attempts"], 3)
        self.assertIs(job["cancellation_requested"], False)
        for k in ("agent_id", "agent_name", "hold_expires_at", "accepted_at", "deadline_at",
                  "submitted_at", "verified_at", "output"):
            self.assertIsNone(job[k], k)
        self.assertEqual(job["attachments"], [])
        self.assertLess(abs(parse_time(job["created_at"]) - time.time()), 30)
        self.assertWallet(u, 700, 300)
        self.assertEqual(self.get_job(u, job["id"]), job)  # no secret there
        self.assertEqual(self.db_status(job["id"]), "queued")

    def test_confirm_uses_the_estimates(self):
        u = self.new_user(cents=5000)
        job = self.run_job(u, prompt=words(30), price=None)
        self.assertEqual((job["price_cents"], job["time_limit_seconds"]), (750, 4200))
        self.assertWallet(u, 4250, 750)
        job2 = self.run_job(u, prompt=words(30), price=100)
        self.assertEqual((job2["price_cents"], job2["time_limit_seconds"]), (100, 4200))
        self.assertWallet(u, 4150, 850)

    def test_price_zero_needs_no_money(self):
        u = self.new_user()
        job = self.run_job(u, price=0)
        self.assertEqual(job["status"], "queued")
        self.assertWallet(u, 0, 0)

    def test_insufficient_balance_then_pay(self):
        u = self.new_user(cents=100)
        r = self.post(u["key"], "/api/jobs/run", self.run_body(price=300))
        self.assertError(r, 402, "insufficient_balance")
        job = r.json["job"]
        self.assertJobShape(job, party=True)
        self.assertEqual(job["status"], "pending_payment")
        self.assertEqual(job["price_cents"], 300)
        self.assertWallet(u, 100, 0)
        self.assertEqual(self.get_job(u, job["id"])["status"], "pending_payment")
        # an agent cannot pull it while unpaid
        a = self.new_agent()
        self.pull(a, expect=204)
        # still short
        r = self.post(u["key"], "/api/jobs/%s/pay" % job["id"])
        self.assertError(r, 402, "insufficient_balance")
        self.assertWallet(u, 100, 0)
        self.assertEqual(self.db_status(job["id"]), "pending_payment")
        self.topup(u["id"], 250)
        paid = self.job_op(u, job["id"], "pay")
        self.assertEqual(paid["status"], "queued")
        self.assertEqual(paid["id"], job["id"])
        self.assertWallet(u, 50, 300)
        # paying twice
        self.job_op(u, job["id"], "pay", expect=400, code="not_pending_payment")
        self.assertWallet(u, 50, 300)
        self.assertEqual(self.pull(a)["id"], job["id"])

    def test_exact_balance(self):
        u = self.new_user(cents=300)
        self.run_job(u, price=300)
        self.assertWallet(u, 0, 300)
        self.run_job(u, price=1, expect=402)
        self.assertWallet(u, 0, 300)

    def test_pay_errors(self):
        u = self.new_user(cents=1000)
        other = self.new_user(cents=1000)
        queued = self.run_job(u, price=100)
        self.job_op(u, queued["id"], "pay", expect=400, code="not_pending_payment")
        pending = self.run_job(u, price=5000, expect=402)
        self.job_op(other, pending["id"], "pay", expect=404, code="job_not_found")
        self.job_op(u, "job_00000000000000000000000000", "pay", expect=404,
                    code="job_not_found")
        self.job_op(u, "nonsense", "pay", expect=404, code="job_not_found")
        cancelled = self.run_job(u, price=5000, expect=402)
        self.job_op(u, cancelled["id"], "cancel")
        self.job_op(u, cancelled["id"], "pay", expect=400, code="not_pending_payment")
        self.assertWallet(u, 900, 100)
        self.assertWallet(other, 1000, 0)

    def test_phase2_validation(self):
        u = self.new_user(cents=1000)
        before = self.counts()
        bad = [
            ({"price_cents": -1}, "invalid_request", "price_cents"),
            ({"price_cents": 100000001}, "invalid_request", "price_cents"),
            ({"price_cents": "300"}, "invalid_request", "price_cents"),
            ({"price_cents": 1.5}, "invalid_request", "price_cents"),
            ({"price_cents": True}, "invalid_request", "price_cents"),
            ({"time_limit_seconds": 0}, "invalid_request", "time_limit_seconds"),
            ({"time_limit_seconds": -5}, "invalid_request", "time_limit_seconds"),
            ({"time_limit_seconds": 2592001}, "invalid_request", "time_limit_seconds"),
            ({"time_limit_seconds": "60"}, "invalid_request", "time_limit_seconds"),
            ({"prompt": 42}, "invalid_request", "prompt"),
            ({"prompt": ["a"]}, "invalid_request", "prompt"),
            ({"prompt": "x" * 20001}, "invalid_request", "prompt"),
            ({"confirmed": "yes"}, "invalid_request", "confirmed"),
            ({"confirmed": 1}, "invalid_request", "confirmed"),
            ({"required_capabilities": "code"}, "invalid_request", "required_capabilities"),
            ({"required_capabilities": [1]}, "invalid_request", "required_capabilities"),
            ({"required_capabilities": {"a": "b"}}, "invalid_request", "required_capabilities"),
            ({"output_schema": "object"}, "invalid_output_schema", None),
            ({"output_schema": 5}, "invalid_output_schema", None),
            ({"output_schema": [1]}, "invalid_output_schema", None),
            ({"verification": "judge"}, "invalid_request", "verification"),
            ({"verification": {"judge": "yes"}}, "invalid_request", "verification"),
            ({"verification": {"webhook_url": "ftp://x"}}, "invalid_request", "verification"),
            ({"verification": {"webhook_url": 5}}, "invalid_request", "verification"),
            ({"envVars": "A=1"}, "invalid_request", "envVars"),
            ({"envVars": ["A"]}, "invalid_request", "envVars"),
            ({"envVars": {"A": 1}}, "invalid_request", "envVars"),
            ({"envVars": {"A": None}}, "invalid_request", "envVars"),
            ({"envVars": {"A": {"b": "c"}}}, "invalid_request", "envVars"),
            ({"attachments": "att_x"}, "invalid_request", "attachments"),
            ({"attachments": [5]}, "invalid_request", "attachments"),
            ({"attachments": ["att_00000000000000000000000000"]}, "attachment_not_found", None),
        ]
        for fields, code, field in bad:
            with self.subTest(fields=fields):
                body = self.run_body(price=100)
                body.update(fields)
                r = self.post(u["key"], "/api/jobs/run", body)
                self.assertError(r, 400, code)
                if field:
                    self.assertIn(field, r.json["error"]["message"], r)
                self.assertNotIn("job", r.json)
        self.assertEqual(self.counts(), before, "a refused create changed something")
        self.assertWallet(u, 1000, 0)

    def test_phase2_bounds_accepted(self):
        u = self.new_user(cents=1000)
        j = self.run_job(u, price=100000000, expect=402)
        self.assertEqual(j["price_cents"], 100000000)
        j = self.run_job(u, price=10, time_limit_seconds=2592000)
        self.assertEqual(j["time_limit_seconds"], 2592000)
        j = self.run_job(u, price=10, time_limit_seconds=1)
        self.assertEqual(j["time_limit_seconds"], 1)
        for schema in (True, False, {"type": "string"}):
            with self.subTest(schema=schema):
                j = self.run_job(u, price=10, output_schema=schema)
                self.assertEqual(j["output_schema"], schema)
        j = self.run_job(u, price=10, output_schema=None, verification=None, envVars=None,
                         attachments=[])
        self.assertIsNone(j["output_schema"])
        self.assertIsNone(j["verification"])
        self.assertWallet(u, 940, 60)

    def test_unknown_fields_ignored(self):
        u = self.new_user(cents=1000)
        r = self.post(u["key"], "/api/jobs/run",
                      self.run_body(price=100, foo=1, nested={"a": [1, {"b": None}]},
                                    priority="high", agent_id="agt_x"))
        self.assertEqual(r.status, 201, r)
        self.assertNotIn("foo", r.json)
        self.assertNotIn("priority", r.json)
        self.assertIsNone(r.json["agent_id"])
        r = self.post(u["key"], "/api/jobs/run", {"prompt": PROMPT, "extra": True})
        self.assertEqual(r.status, 200, r)
        self.assertWallet(u, 900, 100)

    def test_env_vars_sealed_and_shown_to_parties_only(self):
        u = self.new_user(cents=1000)
        secret = "plaintext-secret-" + rand_hex(12)
        env = {"API_TOKEN": secret, "REGION": "eu-west-" + rand_hex(4)}
        job = self.run_job(u, price=100, envVars=env)
        self.assertEqual(job["envVars"], env)
        sealed = self.stack.db.scalar("SELECT env_vars_sealed FROM jobs WHERE id = %s"
                                      % harness.sql_quote(job["id"]))
        self.assertTrue(sealed, "envVars not stored")
        self.assertNotIn(secret, sealed)
        self.assertNotIn(env["REGION"], sealed)
        self.assertNotIn("API_TOKEN", sealed)
        row = json.dumps(self.db_job(job["id"]))
        self.assertNotIn(secret, row, "the plaintext is somewhere in the jobs row")
        self.assertEqual(self.get_job(u, job["id"])["envVars"], env)
        a = self.new_agent()
        held = self.pull(a)
        self.assertEqual(held["id"], job["id"])
        self.assertJobShape(held, party=False)
        self.assertNotIn(secret, json.dumps(held))
        self.assertNotIn("envVars", self.get_job(a, job["id"]))
        acc = self.job_op(a, job["id"], "accept")
        self.assertEqual(acc["envVars"], env)
        self.assertEqual(self.get_job(a, job["id"])["envVars"], env)
        # no one else
        self.get_job(self.new_agent(), job["id"], expect=404)
        self.get_job(self.new_user(), job["id"], expect=404)
        # after a failed attempt the agent is no party any more
        self.job_op(a, job["id"], "fail")
        view = self.get_job(a, job["id"])
        self.assertNotIn("envVars", view)
        self.assertNotIn(secret, json.dumps(view))
        lst = self.get(u["key"], "/api/jobs")
        self.assertEqual(lst.status, 200)
        mine = [j for j in lst.json["data"] if j["id"] == job["id"]]
        self.assertEqual(mine[0]["envVars"], env)
        # the events carry no envVars
        for e in self.job_events(job["id"]):
            self.assertNotIn(secret, json.dumps(e))

    def test_empty_env_vars(self):
        u = self.new_user(cents=100)
        job = self.run_job(u, price=100, envVars={})
        self.assertIn(job["envVars"], (None, {}))


class CancelTest(MarketBase):
    """Every row of seed 003's cancel table, with the wallet after each."""

    def test_cancel_pending_payment(self):
        u = self.new_user(cents=50)
        job = self.run_job(u, price=300, expect=402)
        c = self.job_op(u, job["id"], "cancel")
        self.assertEqual(c["status"], "cancelled")
        self.assertWallet(u, 50, 0)
        self.assertEqual([t["kind"] for t in self.transactions(u)], ["topup"])

    def test_cancel_queued_refunds(self):
        u = self.new_user(cents=1000)
        job = self.run_job(u, price=300)
        self.assertWallet(u, 700, 300)
        c = self.job_op(u, job["id"], "cancel")
        self.assertEqual(c["status"], "cancelled")
        self.assertWallet(u, 1000, 0)
        a = self.new_agent()
        self.pull(a, expect=204)

    def test_cancel_held_refunds(self):
        u = self.new_user(cents=1000)
        a = self.new_agent()
        held = self.held_job(u, a, price=300)
        c = self.job_op(u, held["id"], "cancel")
        self.assertEqual(c["status"], "cancelled")
        self.assertIsNone(c["agent_id"])
        self.assertWallet(u, 1000, 0)
        self.assertWallet(a, 0, 0, earnings=0)
        # the agent can no longer act on it, but may read it
        self.job_op(a, held["id"], "accept", expect=409, code="not_held")
        self.job_op(a, held["id"], "reject", expect=409, code="not_held")
        self.assertEqual(self.get_job(a, held["id"])["status"], "cancelled")
        self.assertWallet(u, 1000, 0)

    def test_cancel_accepted_requests_then_fail_cancels(self):
        u = self.new_user(cents=1000)
        a = self.new_agent()
        acc = self.accepted_job(u, a, price=300)
        c = self.job_op(u, acc["id"], "cancel")
        self.assertEqual(c["status"], "accepted")
        self.assertIs(c["cancellation_requested"], True)
        self.assertWallet(u, 700, 300)
        # asking twice changes nothing
        c = self.job_op(u, acc["id"], "cancel")
        self.assertEqual((c["status"], c["cancellation_requested"]), ("accepted", True))
        self.assertWallet(u, 700, 300)
        self.assertIs(self.get_job(a, acc["id"])["cancellation_requested"], True)
        f = self.job_op(a, acc["id"], "fail", {"reason": "cannot finish"})
        self.assertEqual(f["status"], "cancelled")
        self.assertEqual(f["attempt_count"], 1)
        self.assertWallet(u, 1000, 0)
        self.assertWallet(a, 0, 0, earnings=0)
        self.assertEqual(self.db_status(acc["id"]), "cancelled")

    def test_cancel_accepted_with_attempts_left_still_cancels(self):
        """Cancellation requested wins over 'attempts left' in the fail logic."""
        u = self.new_user(cents=1000)
        a = self.new_agent()
        acc = self.accepted_job(u, a, price=300)
        self.assertEqual(acc["attempt_count"], 1)
        self.job_op(u, acc["id"], "cancel")
        f = self.job_op(a, acc["id"], "fail")
        self.assertEqual(f["status"], "cancelled")
        self.pull(self.new_agent(), expect=204)
        self.assertWallet(u, 1000, 0)

    def test_cancel_submitted_requests(self):
        u = self.new_user(cents=1000)
        a = self.new_agent()
        acc = self.accepted_job(u, a, price=300)
        s = self.job_op(a, acc["id"], "submit", {"output": {"answer": 42}})
        self.assertEqual(s["status"], "submitted")
        c = self.job_op(u, acc["id"], "cancel")
        self.assertEqual(c["status"], "submitted")
        self.assertIs(c["cancellation_requested"], True)
        self.assertWallet(u, 700, 300)
        self.assertWallet(a, 0, 0, earnings=0)
        # a submitted job is no longer the agent's to fail
        self.job_op(a, acc["id"], "fail", expect=409, code="not_accepted")
        self.assertEqual(self.db_status(acc["id"]), "submitted")
        self.assertWallet(u, 700, 300)

    def test_cancel_terminal_is_noop(self):
        u = self.new_user(cents=1000)
        # cancelled
        job = self.run_job(u, price=100)
        self.job_op(u, job["id"], "cancel")
        before = self.counts()
        snap = self.job_snapshot(job["id"])
        c = self.job_op(u, job["id"], "cancel")
        self.assertEqual(c["status"], "cancelled")
        self.assertEqual(self.counts(), before)
        self.assertEqual(self.job_snapshot(job["id"]), snap)
        self.assertWallet(u, 1000, 0)
        # failed (three attempts)
        job = self.run_job(u, price=200)
        for i in range(3):
            a = self.new_agent()
            self.assertEqual(self.pull(a)["id"], job["id"])
            self.job_op(a, job["id"], "accept")
            self.job_op(a, job["id"], "fail")
        self.assertEqual(self.db_status(job["id"]), "failed")
        self.assertWallet(u, 1000, 0)
        before = self.counts()
        snap = self.job_snapshot(job["id"])
        c = self.job_op(u, job["id"], "cancel")
        self.assertEqual(c["status"], "failed")
        self.assertIs(c["cancellation_requested"], False)
        self.assertEqual(self.counts(), before)
        self.assertEqual(self.job_snapshot(job["id"]), snap)
        self.assertWallet(u, 1000, 0)

    def test_cancel_errors(self):
        u = self.new_user(cents=1000)
        other = self.new_user(cents=1000)
        a = self.new_agent()
        job = self.run_job(u, price=100)
        self.job_op(other, job["id"], "cancel", expect=404, code="job_not_found")
        self.job_op(u, "job_00000000000000000000000000", "cancel", expect=404,
                    code="job_not_found")
        self.job_op(a, job["id"], "cancel", expect=403, code="forbidden")
        self.job_op(self.admin, job["id"], "cancel", expect=403, code="forbidden")
        self.assertEqual(self.db_status(job["id"]), "queued")
        self.assertWallet(u, 900, 100)
        self.assertWallet(other, 1000, 0)


class AgentFlowTest(MarketBase):
    """Pull, reject, accept, submit and fail."""

    def test_pull_holds_oldest_eligible(self):
        u = self.new_user(cents=1000)
        a = self.new_agent(name="puller")
        jobs = [self.run_job(u, price=10) for _ in range(3)]
        t0 = time.time()
        got = [self.pull(a) for _ in range(3)]
        self.assertEqual([g["id"] for g in got], [j["id"] for j in jobs])
        for g in got:
            self.assertEqual(g["status"], "held")
            self.assertEqual(g["agent_id"], a["id"])
            self.assertEqual(g["agent_name"], "puller")
            self.assertEqual(g["price_cents"], 10)
            self.assertIsInstance(g["time_limit_seconds"], int)
            exp = parse_time(g["hold_expires_at"])
            self.assertGreater(exp, t0 + self.HOLD - 5)
            self.assertLess(exp, time.time() + self.HOLD + 5)
            self.assertIsNone(g["accepted_at"])
            self.assertEqual(g["attempt_count"], 0)
        r = self.pull(a, expect=204)
        self.assertEqual(r.raw, b"", r)
        self.assertWallet(u, 970, 30)

    def test_pull_body_variants(self):
        u = self.new_user(cents=1000)
        a = self.new_agent(name="agent-default-name")
        self.run_job(u, price=10)
        self.run_job(u, price=10)
        self.run_job(u, price=10)
        g = self.pull(a, body={"agent_id": a["id"], "agent_name": "worker-7"})
        self.assertEqual((g["agent_id"], g["agent_name"]), (a["id"], "worker-7"))
        g = self.pull(a, body=None)
        self.assertEqual(g["agent_name"], "agent-default-name")
        g = self.pull(a, body={"unknown": [1, 2], "agent_name": "w"})
        self.assertEqual(g["agent_name"], "w")

    def test_pull_agent_id_of_another(self):
        u = self.new_user(cents=1000)
        a, b = self.new_agent(), self.new_agent()
        job = self.run_job(u, price=10)
        before = self.counts()
        r = self.post(a["key"], "/api/jobs/pull", {"agent_id": b["id"]})
        self.assertError(r, 403, "forbidden")
        r = self.post(a["key"], "/api/jobs/pull", {"agent_id": "agt_00000000000000000000000000"})
        self.assertError(r, 403, "forbidden")
        self.assertEqual(self.counts(), before)
        self.assertEqual(self.db_status(job["id"]), "queued")

    def test_pull_capabilities(self):
        u = self.new_user(cents=1000)
        c2 = "t2-" + rand_hex(8)
        job = self.run_job(u, price=10, caps=[self.cap, c2])
        self.pull(self.new_agent(caps=[self.cap]), expect=204)
        self.pull(self.new_agent(caps=[c2]), expect=204)
        self.pull(self.new_agent(caps=[]), expect=204)
        g = self.pull(self.new_agent(caps=[c2, "other", self.cap]))
        self.assertEqual(g["id"], job["id"])

    def test_pull_job_without_capabilities(self):
        """A job requiring nothing goes to any agent (cancelled at the end so no
        other test of the class sees it)."""
        u = self.new_user(cents=1000)
        job = self.run_job(u, price=10, caps=[])
        try:
            g = self.pull(self.new_agent(caps=[self.cap]))
            self.assertEqual(g["id"], job["id"])
            self.job_op(u, job["id"], "cancel")
            self.assertWallet(u, 1000, 0)
        finally:
            self.post(u["key"], "/api/jobs/%s/cancel" % job["id"])

    def test_two_agents_do_not_share(self):
        u = self.new_user(cents=1000)
        a, b = self.new_agent(), self.new_agent()
        j1 = self.run_job(u, price=10)
        j2 = self.run_job(u, price=10)
        self.assertEqual(self.pull(a)["id"], j1["id"])
        self.assertEqual(self.pull(b)["id"], j2["id"])
        self.pull(a, expect=204)
        self.pull(b, expect=204)

    def test_reject(self):
        u = self.new_user(cents=1000)
        a, b = self.new_agent(), self.new_agent()
        held = self.held_job(u, a, price=100)
        r = self.job_op(a, held["id"], "reject")
        self.assertEqual(r["status"], "queued")
        self.assertIsNone(r["agent_id"])
        self.assertIsNone(r["hold_expires_at"])
        self.assertEqual(r["attempt_count"], 0, "a reject is no attempt")
        self.assertWallet(u, 900, 100)
        # not offered again to the agent that rejected it (ERRAND_HOLD_SECONDS is 60)
        self.pull(a, expect=204)
        g = self.pull(b)
        self.assertEqual(g["id"], held["id"])
        # the first agent may still read it, not act on it
        self.assertEqual(self.get_job(a, held["id"])["status"], "held")
        self.job_op(a, held["id"], "reject", expect=409, code="not_held")
        self.job_op(a, held["id"], "accept", expect=409, code="not_held")
        # an agent that never held it: 404
        self.job_op(self.new_agent(), held["id"], "reject", expect=404, code="job_not_found")
        # the acceptor cannot reject an accepted job
        self.job_op(b, held["id"], "accept")
        self.job_op(b, held["id"], "reject", expect=409, code="not_held")
        self.assertEqual(self.db_status(held["id"]), "running")
        self.assertWallet(u, 900, 100)

    def test_accept(self):
        u = self.new_user(cents=1000)
        a = self.new_agent()
        held = self.held_job(u, a, price=100, time_limit_seconds=777)
        acc = self.job_op(a, held["id"], "accept")
        self.assertEqual(acc["status"], "accepted")
        self.assertEqual(acc["attempt_count"], 1)
        self.assertEqual(acc["agent_id"], a["id"])
        at = parse_time(acc["accepted_at"])
        self.assertLess(abs(at - time.time()), 30)
        self.assertAlmostEqual(parse_time(acc["deadline_at"]) - at, 777, delta=0.01)
        self.assertIsNone(acc["submitted_at"])
        self.assertJobShape(acc, party=True)
        # twice
        self.job_op(a, held["id"], "accept", expect=409, code="not_held")
        # an agent that never held it
        self.job_op(self.new_agent(), held["id"], "accept", expect=404, code="job_not_found")
        self.job_op(a, "job_00000000000000000000000000", "accept", expect=404,
                    code="job_not_found")
        self.assertEqual(self.get_job(u, held["id"])["status"], "accepted")
        self.assertEqual(self.db_status(held["id"]), "running")
        self.assertWallet(u, 900, 100)
        self.assertWallet(a, 0, 0, earnings=0)

    def test_accept_queued_job_not_held(self):
        u = self.new_user(cents=1000)
        a = self.new_agent()
        held = self.held_job(u, a, price=100)
        self.job_op(a, held["id"], "reject")
        self.job_op(a, held["id"], "accept", expect=409, code="not_held")
        self.assertEqual(self.db_status(held["id"]), "queued")

    def test_submit(self):
        u = self.new_user(cents=1000)
        a = self.new_agent()
        acc = self.accepted_job(u, a, price=100)
        # not the acceptor
        self.job_op(self.new_agent(), acc["id"], "submit", {"output": "x"}, expect=404,
                    code="job_not_found")
        s = self.job_op(a, acc["id"], "submit", {"output": {"answer": [1, 2, 3]}})
        self.assertEqual(s["status"], "submitted")
        self.assertEqual(s["output"], {"answer": [1, 2, 3]})
        self.assertLess(abs(parse_time(s["submitted_at"]) - time.time()), 30)
        self.assertEqual(self.get_job(u, acc["id"])["output"], {"answer": [1, 2, 3]})
        # submitted stays submitted (no verifier yet), money stays held, nothing earned
        self.assertEqual(self.db_status(acc["id"]), "submitted")
        self.assertWallet(u, 900, 100)
        self.assertWallet(a, 0, 0, earnings=0)
        # twice
        self.job_op(a, acc["id"], "submit", {"output": "again"}, expect=409,
                    code="not_accepted")
        self.assertEqual(self.get_job(u, acc["id"])["output"], {"answer": [1, 2, 3]})
        # the agent keeps seeing it in its list
        lst = self.get(a["key"], "/api/jobs?status=submitted")
        self.assertEqual([j["id"] for j in lst.json["data"]], [acc["id"]])

    def test_submit_outputs_of_any_json(self):
        u = self.new_user(cents=1000)
        for output in ("plain text", 42, [1, "a"], True, {"k": {"n": None}}):
            with self.subTest(output=output):
                a = self.new_agent()
                acc = self.accepted_job(u, a, price=10)
                s = self.job_op(a, acc["id"], "submit", {"output": output})
                self.assertEqual(s["output"], output)

    def test_submit_errors(self):
        u = self.new_user(cents=1000)
        a = self.new_agent()
        held = self.held_job(u, a, price=100)
        # held, not accepted
        self.job_op(a, held["id"], "submit", {"output": "x"}, expect=409, code="not_accepted")
        self.job_op(a, held["id"], "accept")
        before = self.counts()
        snap = self.job_snapshot(held["id"])
        for body, status, code in (
                ({}, 400, "invalid_request"),
                ({"output": None}, 400, "invalid_request"),
                (None, 400, "invalid_request"),
                ({"output": "x", "attachments": "att_1"}, 400, "invalid_request"),
                ({"output": "x", "attachments": [1]}, 400, "invalid_request"),
                ({"output": "x" * 5000}, 413, None),
                ({"output": {"big": ["y" * 100] * 50}}, 413, None),
                ({"output": "x", "attachments": ["att_00000000000000000000000000"]}, 400,
                 "attachment_not_found")):
            with self.subTest(body=str(body)[:60]):
                r = self.post(a["key"], "/api/jobs/%s/submit" % held["id"], body)
                self.expect(r, status, code)
                if status == 413:
                    self.assertEqual(r.status, 413, r)
        self.assertEqual(self.counts(), before)
        self.assertEqual(self.job_snapshot(held["id"]), snap)
        # just under the limit passes
        s = self.job_op(a, held["id"], "submit", {"output": "z" * 4000})
        self.assertEqual(s["status"], "submitted")

    def test_fail_requeues_then_fails_after_three_attempts(self):
        u = self.new_user(cents=1000)
        agents = [self.new_agent() for _ in range(3)]
        job = self.run_job(u, price=300)
        for i, a in enumerate(agents):
            self.assertEqual(self.pull(a)["id"], job["id"])
            acc = self.job_op(a, job["id"], "accept")
            self.assertEqual(acc["attempt_count"], i + 1)
            f = self.job_op(a, job["id"], "fail", {"reason": "attempt %d failed" % (i + 1)})
            self.assertEqual(f["attempt_count"], i + 1, "fail must not count again")
            if i < 2:
                self.assertEqual(f["status"], "queued")
                self.assertIsNone(f["agent_id"])
                self.assertIsNone(f["accepted_at"])
                self.assertIsNone(f["deadline_at"])
                self.assertWallet(u, 700, 300)
                # the failing agent can no longer act on it
                self.job_op(a, job["id"], "fail", expect=409, code="not_accepted")
                self.job_op(a, job["id"], "submit", {"output": 1}, expect=409,
                            code="not_accepted")
            else:
                self.assertEqual(f["status"], "failed")
                self.assertWallet(u, 1000, 0)
            self.assertWallet(a, 0, 0, earnings=0)
        self.pull(self.new_agent(), expect=204)
        self.assertEqual(self.get_job(u, job["id"])["status"], "failed")
        kinds = [(t["kind"], t["amount_cents"]) for t in self.transactions(u)]
        self.assertEqual(kinds, [("release", 300), ("hold", -300), ("topup", 1000)])

    def test_same_agent_may_retry(self):
        u = self.new_user(cents=1000)
        a = self.new_agent()
        acc = self.accepted_job(u, a, price=100)
        self.job_op(a, acc["id"], "fail")
        again = self.pull(a)
        self.assertEqual(again["id"], acc["id"])
        acc2 = self.job_op(a, acc["id"], "accept")
        self.assertEqual(acc2["attempt_count"], 2)
        self.assertWallet(u, 900, 100)

    def test_fail_errors(self):
        u = self.new_user(cents=1000)
        a = self.new_agent()
        held = self.held_job(u, a, price=100)
        self.job_op(a, held["id"], "fail", expect=409, code="not_accepted")
        self.job_op(self.new_agent(), held["id"], "fail", expect=404, code="job_not_found")
        self.job_op(a, held["id"], "accept")
        before = self.counts()
        for body in ({"reason": 5}, {"reason": ["x"]}, {"reason": "r" * 1001}):
            with self.subTest(body=str(body)[:40]):
                r = self.post(a["key"], "/api/jobs/%s/fail" % held["id"], body)
                self.assertError(r, 400, "invalid_request")
        self.assertEqual(self.counts(), before)
        self.assertEqual(self.db_status(held["id"]), "running")
        f = self.job_op(a, held["id"], "fail", {"reason": "r" * 1000, "unknown": 1})
        self.assertEqual(f["status"], "queued")
        self.assertWallet(u, 900, 100)


class ListGetTest(MarketBase):

    def test_list_own_newest_first_with_filter(self):
        u = self.new_user(cents=1000)
        other = self.new_user(cents=1000)
        self.run_job(other, price=10)
        j1 = self.run_job(u, price=10)
        j2 = self.run_job(u, price=5000, expect=402)
        j3 = self.run_job(u, price=10)
        self.job_op(u, j3["id"], "cancel")
        r = self.get(u["key"], "/api/jobs")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(set(r.json), {"data", "next_cursor"})
        self.assertEqual([j["id"] for j in r.json["data"]], [j3["id"], j2["id"], j1["id"]])
        self.assertIsNone(r.json["next_cursor"])
        for j in r.json["data"]:
            self.assertJobShape(j, party=True)
        for status, want in (("queued", [j1]), ("pending_payment", [j2]),
                             ("cancelled", [j3]), ("held", []), ("accepted", []),
                             ("submitted", []), ("verified", []), ("failed", [])):
            with self.subTest(status=status):
                r = self.get(u["key"], "/api/jobs?status=" + status)
                self.assertEqual(r.status, 200, r)
                self.assertEqual([j["id"] for j in r.json["data"]], [j["id"] for j in want])

    def test_list_bad_queries(self):
        u = self.new_user()
        for q in ("status=running", "status=completed", "status=bogus", "status=",
                  "status=QUEUED", "limit=0", "limit=501", "limit=x", "cursor=nonsense"):
            with self.subTest(query=q):
                r = self.get(u["key"], "/api/jobs?" + q)
                self.assertEqual(r.status, 400, r)

    def test_list_pagination(self):
        u = self.new_user(cents=1000)
        ids = [self.run_job(u, price=1)["id"] for _ in range(5)]
        seen, cursor, pages = [], None, 0
        while True:
            path = "/api/jobs?limit=2" + ("&cursor=" + cursor if cursor else "")
            r = self.get(u["key"], path)
            self.assertEqual(r.status, 200, r)
            seen += [j["id"] for j in r.json["data"]]
            pages += 1
            cursor = r.json["next_cursor"]
            if not cursor:
                break
            self.assertLess(pages, 10)
        self.assertEqual(seen, list(reversed(ids)))
        self.assertEqual(pages, 3)
        r = self.get(u["key"], "/api/jobs?status=queued&limit=3")
        self.assertEqual(len(r.json["data"]), 3)
        r2 = self.get(u["key"], "/api/jobs?status=queued&limit=3&cursor=" + r.json["next_cursor"])
        self.assertEqual([j["id"] for j in r.json["data"] + r2.json["data"]],
                         list(reversed(ids)))

    def test_agent_list(self):
        u = self.new_user(cents=1000)
        a = self.new_agent()
        b = self.new_agent()
        h = self.held_job(u, a, price=10)
        acc = self.accepted_job(u, a, price=10)
        rej = self.held_job(u, b, price=10)
        self.job_op(b, rej["id"], "reject")
        r = self.get(a["key"], "/api/jobs")
        self.assertEqual(r.status, 200, r)
        self.assertEqual([j["id"] for j in r.json["data"]], [acc["id"], h["id"]])
        r = self.get(a["key"], "/api/jobs?status=held")
        self.assertEqual([j["id"] for j in r.json["data"]], [h["id"]])
        r = self.get(a["key"], "/api/jobs?status=accepted")
        self.assertEqual([j["id"] for j in r.json["data"]], [acc["id"]])
        self.assertEqual(r.json["data"][0]["envVars"], None)
        r = self.get(b["key"], "/api/jobs?status=held")
        self.assertEqual(r.json["data"], [])

    def test_get(self):
        u = self.new_user(cents=1000)
        a = self.new_agent()
        job = self.run_job(u, price=10)
        self.assertEqual(self.get_job(u, job["id"])["id"], job["id"])
        for who in (self.new_user(), a):
            with self.subTest(who=who["id"][:4]):
                r = self.get(who["key"], "/api/jobs/" + job["id"])
                self.assertError(r, 404, "job_not_found")
        self.assertError(self.get(u["key"], "/api/jobs/job_00000000000000000000000000"), 404,
                         "job_not_found")
        self.assertError(self.get(u["key"], "/api/jobs/%27%20OR%201=1--"), 404, "job_not_found")
        self.pull(a)
        g = self.get_job(a, job["id"])
        self.assertEqual(g["status"], "held")
        self.assertJobShape(g, party=False)


class CronAndEventsTest(MarketBase):

    def test_cron_auth(self):
        before = self.counts()
        u = self.new_user()
        for headers in ({}, {"Authorization": "Bearer wrong-secret-0123456789"},
                        {"Authorization": "Bearer " + CRON_SECRET + "x"},
                        {"Authorization": CRON_SECRET},
                        {"Authorization": "Basic " + CRON_SECRET},
                        {"Authorization": "Bearer " + u["key"]},
                        {"Authorization": "Bearer " + self.admin["key"]}):
            with self.subTest(headers=headers):
                r = self.req("GET", "/api/cron/enforce-deadlines", headers=headers)
                self.assertError(r, 401, "unauthorized")
        self.assertEqual(self.counts()["jobs"], before["jobs"])
        r = self.req("GET", "/api/cron/enforce-deadlines",
                     headers={"Authorization": "Bearer " + CRON_SECRET})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(set(r.json), {"released_holds", "failed_deadlines"})
        self.assertIsInstance(r.json["released_holds"], int)
        self.assertIsInstance(r.json["failed_deadlines"], int)

    def test_events_of_a_lifecycle(self):
        u = self.new_user(cents=1000)
        a = self.new_agent()
        acc = self.accepted_job(u, a, price=100)
        self.job_op(a, acc["id"], "submit", {"output": "done"})
        types = ["job.pending_payment", "job.queued", "job.held", "job.running",
                 "job.submitted"]
        # the create may or may not pass through pending_payment
        def done():
            got = [e.get("type") for e in self.job_events(acc["id"])]
            return got if got in (types, types[1:]) else None
        got = harness.wait_until(done, 15, "the lifecycle's events")
        evs = self.job_events(acc["id"])
        ids = set()
        for e in evs:
            self.assertTrue({"event_id", "type", "job_id", "payload", "created_at"} <= set(e), e)
            ids.add(e["event_id"])
            p = json.loads(e["payload"])
            self.assertEqual(p.get("job_id", acc["id"]), acc["id"])
            self.assertEqual("job." + p["status"], e["type"])
        self.assertEqual(len(ids), len(got), "event ids repeat")
        self.wait_events(acc["id"], ["job.submitted"], stream="verify")
        # the outbox is all published
        harness.wait_until(
            lambda: self.stack.db.scalar(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL AND job_id = %s"
                % harness.sql_quote(acc["id"])) == "0", 15, "the outbox published")

    def test_events_of_cancel_and_fail(self):
        u = self.new_user(cents=1000)
        a = self.new_agent()
        j = self.run_job(u, price=10)
        self.job_op(u, j["id"], "cancel")
        acc = self.accepted_job(u, a, price=10)
        self.job_op(a, acc["id"], "fail")
        harness.wait_until(lambda: [e["type"] for e in self.job_events(j["id"])][-1:]
                           == ["job.cancelled"], 15, "job.cancelled")
        harness.wait_until(lambda: [e["type"] for e in self.job_events(acc["id"])][-3:]
                           == ["job.held", "job.running", "job.queued"], 15,
                           "held, running, queued")

    def test_refused_requests_publish_nothing(self):
        u = self.new_user(cents=1000)
        j = self.run_job(u, price=10)
        harness.wait_until(lambda: self.job_events(j["id"]), 15, "the create's events")
        n = len(self.job_events(j["id"]))
        self.job_op(u, j["id"], "pay", expect=400, code="not_pending_payment")
        self.job_op(self.new_agent(), j["id"], "accept", expect=404, code="job_not_found")
        time.sleep(0.3)  # nothing must arrive: give a wrong publish a chance to show
        self.assertEqual(len(self.job_events(j["id"])), n)


if __name__ == "__main__":
    unittest.main()
