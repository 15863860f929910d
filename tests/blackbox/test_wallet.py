"""The wallet routes of issue 3: GET /api/wallet, GET /api/wallet/transactions and
the admin top-up POST /v1/admin/wallets/{principal}/topup (CONTRACT.md, Money)."""

import re
import unittest

from harness import bearer
from marketkit import MarketCase, parse_time

TX_FIELDS = {"id", "kind", "amount_cents", "job_id", "created_at"}
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class WalletTest(MarketCase):
    label = "wallet"

    def topup_raw(self, principal_id, body, key=None, **kw):
        return self.post(key or self.admin["key"],
                         "/v1/admin/wallets/%s/topup" % principal_id, body, **kw)

    # ------------------------------------------------------------ GET /api/wallet

    def test_new_user_wallet(self):
        u = self.new_user()
        w = self.wallet(u)
        self.assertEqual(w, {"currency": "USD", "available_cents": 0, "held_cents": 0})

    def test_new_agent_wallet_has_earnings(self):
        a = self.new_agent()
        w = self.wallet(a)
        self.assertEqual(w, {"currency": "USD", "available_cents": 0, "held_cents": 0,
                             "earnings_cents": 0})

    def test_wallet_roles_and_credentials(self):
        for path in ("/api/wallet", "/api/wallet/transactions"):
            with self.subTest(path=path):
                self.assertError(self.get(None, path), 401, "unauthorized")
                self.assertError(self.get("ek_bogus_key", path), 401, "unauthorized")
                self.assertError(self.get(self.admin["key"], path), 403, "forbidden")

    # ------------------------------------------------------------ top-up

    def test_topup_adds_up(self):
        u = self.new_user()
        r = self.topup_raw(u["id"], {"amount_cents": 1234})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["available_cents"], 1234, r)
        self.assertEqual(r.json["held_cents"], 0, r)
        self.assertEqual(r.json["currency"], "USD", r)
        r = self.topup_raw(u["id"], {"amount_cents": 66})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["available_cents"], 1300, r)
        self.assertWallet(u, 1300, 0)
        # another user's wallet did not move
        other = self.new_user()
        self.assertWallet(other, 0, 0)

    def test_topup_an_agent(self):
        a = self.new_agent()
        r = self.topup_raw(a["id"], {"amount_cents": 50})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["available_cents"], 50, r)
        w = self.wallet(a)
        self.assertEqual((w["available_cents"], w["held_cents"], w["earnings_cents"]),
                         (50, 0, 0), w)

    def test_topup_bounds(self):
        u = self.new_user()
        self.assertEqual(self.topup_raw(u["id"], {"amount_cents": 1}).status, 200)
        r = self.topup_raw(u["id"], {"amount_cents": 100000000})
        self.assertEqual(r.status, 200, r)
        self.assertWallet(u, 100000001, 0)

    def test_topup_invalid_amounts(self):
        u = self.new_user(cents=10)
        before = self.counts()
        bad = [{"amount_cents": 0}, {"amount_cents": -1}, {"amount_cents": -500},
               {"amount_cents": 100000001}, {"amount_cents": "100"}, {"amount_cents": 1.5},
               {"amount_cents": True}, {"amount_cents": None}, {"amount_cents": [5]},
               {"amount_cents": {"v": 5}}, {}, {"amount": 100}]
        for body in bad:
            with self.subTest(body=body):
                r = self.topup_raw(u["id"], body)
                self.assertError(r, 400, "invalid_request")
                self.assertIn("amount_cents", r.json["error"]["message"], r)
        for raw in ('{"amount_cents": ', "not json", "[1,2]", '"x"', "5", "null"):
            with self.subTest(raw=raw):
                r = self.topup_raw(u["id"], raw)
                self.assertEqual(r.status, 400, r)
        self.assertEqual(self.counts(), before, "a refused top-up changed something")
        self.assertWallet(u, 10, 0)

    def test_topup_huge_body(self):
        u = self.new_user()
        before = self.counts()
        body = '{"amount_cents": 5, "pad": "%s"}' % ("x" * (1024 * 1024 + 10))
        r = self.topup_raw(u["id"], body, timeout=30)
        self.assertError(r, 413, "body_too_large")
        self.assertEqual(self.counts(), before)
        self.assertWallet(u, 0, 0)

    def test_topup_unknown_fields_ignored(self):
        u = self.new_user()
        r = self.topup_raw(u["id"], {"amount_cents": 7, "currency": "EUR", "note": {"a": 1}})
        self.assertEqual(r.status, 200, r)
        self.assertWallet(u, 7, 0)

    def test_topup_unknown_principal(self):
        before = self.counts()
        for pid in ("usr_00000000000000000000000000", "nobody", "agt_zzzzzzzzzzzzzzzzzzzzzzzzzz"):
            with self.subTest(principal=pid):
                self.assertError(self.topup_raw(pid, {"amount_cents": 5}), 404,
                                 "principal_not_found")
        self.assertEqual(self.counts(), before)

    def test_topup_roles(self):
        u = self.new_user()
        a = self.new_agent()
        before = self.counts()
        # 401 before 403 before 404
        r = self.post(None, "/v1/admin/wallets/%s/topup" % u["id"], {"amount_cents": 5})
        self.assertError(r, 401, "unauthorized")
        r = self.post("ek_not_a_key", "/v1/admin/wallets/%s/topup" % u["id"],
                      {"amount_cents": 5})
        self.assertError(r, 401, "unauthorized")
        for who in (u, a):
            with self.subTest(role=who["role"]):
                self.assertError(self.topup_raw(u["id"], {"amount_cents": 5}, key=who["key"]),
                                 403, "forbidden")
                # the role is refused before the principal is looked up
                self.assertError(self.topup_raw("usr_00000000000000000000000000",
                                                {"amount_cents": 5}, key=who["key"]),
                                 403, "forbidden")
                # and before the body is read
                self.assertError(self.topup_raw(u["id"], "{bad json", key=who["key"]),
                                 403, "forbidden")
        self.assertEqual(self.counts(), before)
        self.assertWallet(u, 0, 0)

    # ------------------------------------------------------------ transactions

    def test_transactions_empty(self):
        u = self.new_user()
        r = self.get(u["key"], "/api/wallet/transactions")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"data": [], "next_cursor": None})

    def test_transactions_shape_and_order(self):
        u = self.new_user()
        self.topup(u["id"], 1000)
        job = self.run_job(u, price=300)
        self.assertWallet(u, 700, 300)
        self.job_op(u, job["id"], "cancel")
        self.assertWallet(u, 1000, 0)
        txs = self.transactions(u)
        self.assertEqual([(t["kind"], t["amount_cents"], t["job_id"]) for t in txs],
                         [("release", 300, job["id"]), ("hold", -300, job["id"]),
                          ("topup", 1000, None)], txs)
        ids = set()
        last = None
        for t in txs:
            self.assertEqual(set(t), TX_FIELDS, t)
            self.assertIsInstance(t["id"], str)
            ids.add(t["id"])
            self.assertRegex(t["created_at"], TIME_RE)
            when = parse_time(t["created_at"])
            if last is not None:
                self.assertLessEqual(when, last, "not newest first: %r" % txs)
            last = when
        self.assertEqual(len(ids), 3, "transaction ids repeat: %r" % txs)
        # the agent side of nothing: an agent's history is its own
        a = self.new_agent()
        self.assertEqual(self.transactions(a), [])

    def test_transactions_pagination(self):
        u = self.new_user()
        amounts = [11, 12, 13, 14, 15, 16, 17]
        for a in amounts:
            self.topup(u["id"], a)
        seen = []
        cursor = None
        pages = 0
        while True:
            path = "/api/wallet/transactions?limit=3"
            if cursor:
                path += "&cursor=" + cursor
            r = self.get(u["key"], path)
            self.assertEqual(r.status, 200, r)
            self.assertLessEqual(len(r.json["data"]), 3)
            seen += [t["amount_cents"] for t in r.json["data"]]
            pages += 1
            cursor = r.json["next_cursor"]
            if cursor is None:
                break
            self.assertIsInstance(cursor, str)
            self.assertLess(pages, 10, "pagination does not end")
        self.assertEqual(seen, list(reversed(amounts)))
        self.assertEqual(pages, 3)
        # the default limit covers all seven
        r = self.get(u["key"], "/api/wallet/transactions")
        self.assertEqual([t["amount_cents"] for t in r.json["data"]], list(reversed(amounts)))
        self.assertIsNone(r.json["next_cursor"])

    def test_transactions_bad_queries(self):
        u = self.new_user(cents=5)
        for q in ("limit=0", "limit=501", "limit=-1", "limit=abc", "limit=", "cursor=garbage",
                  "cursor=%00%01"):
            with self.subTest(query=q):
                r = self.get(u["key"], "/api/wallet/transactions?" + q)
                self.assertEqual(r.status, 400, r)
        r = self.get(u["key"], "/api/wallet/transactions?limit=500")
        self.assertEqual(r.status, 200, r)

    def test_transactions_are_private(self):
        u1 = self.new_user(cents=100)
        u2 = self.new_user(cents=200)
        self.assertEqual([t["amount_cents"] for t in self.transactions(u1)], [100])
        self.assertEqual([t["amount_cents"] for t in self.transactions(u2)], [200])

    def test_wallet_bearer_is_case_sensitive_key(self):
        u = self.new_user(cents=3)
        r = self.req("GET", "/api/wallet", headers=bearer(u["key"] + "x"))
        self.assertError(r, 401, "unauthorized")


if __name__ == "__main__":
    unittest.main()
