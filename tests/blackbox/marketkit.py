"""Shared helpers of the marketplace and wallet black-box tests (issue 3, seed 003).

Not a test module itself (its name does not start with test_). What it gives:

- MarketCase: a BlackboxTestCase with a Stack of its own per class (a
  migrated database, the services the class names, the settings issue 3
  needs), and after every test:
    * the ledger invariants (SELECT * FROM ledger_violations) and the job
      invariants (SELECT * FROM job_violations) must be empty;
    * no process log may hold an AddressSanitizer, LeakSanitizer or
      UndefinedBehaviorSanitizer report;
  and at the end of the class, after the processes stopped (LeakSanitizer
  reports at exit), the same sanitizer check over every process the class
  started;
- helpers for principals, wallets, jobs and the Redis streams;
- parse_time(): an RFC 3339 time of the API as seconds since the epoch.
"""

import datetime
import json
import random
import threading
import time

import harness
from harness import BlackboxTestCase, Stack, bearer

SECRETS_KEY = "5e" * 8 + "c0ffee00" * 4 + "0123456789abcdef"
assert len(SECRETS_KEY) == 64
CRON_SECRET = "bb-cron-secret-0123456789abcdef"

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "LeakSanitizer",
    "UndefinedBehaviorSanitizer",
    ": runtime error: ",
)

JOB_FIELDS = {
    "id", "status", "title", "description", "requirements", "required_capabilities",
    "prompt", "price_cents", "time_limit_seconds", "sender_id", "agent_id", "agent_name",
    "attempt_count", "max_attempts", "cancellation_requested", "output_schema",
    "verification", "created_at", "hold_expires_at", "accepted_at", "deadline_at",
    "submitted_at", "verified_at", "attachments",
}
# Shown only to the sender and to the agent that accepted the job.
PARTY_FIELDS = {"output", "envVars"}
# Fields an implementation may add beside the contract's.
OPTIONAL_FIELDS = {"output_attachments", "failure_reason"}

STATUSES = ("pending_payment", "queued", "held", "accepted", "submitted", "verified",
            "cancelled", "failed")

_rng = random.SystemRandom()


def rand_hex(n=8):
    return "%0*x" % (n, _rng.getrandbits(4 * n))


def parse_time(s):
    """An RFC 3339 time (…Z or …+hh:mm) as float seconds since the epoch."""
    if not isinstance(s, str):
        raise AssertionError("not a time: %r" % (s,))
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def sanitizer_findings(procs):
    """[(proc, line)] of every sanitizer report line in the logs of `procs`."""
    out = []
    for p in procs:
        for line in p.log().splitlines():
            if any(m in line for m in SANITIZER_MARKERS):
                out.append((p, line))
    return out


def describe_findings(found):
    seen = []
    for p, line in found:
        seen.append("%s (pid %d, %s): %s" % (p.name, p.pid, p.log_path, line))
    return "sanitizer reports in the process logs:\n" + "\n".join(seen[:40])


def stream_entries(redis_url, key):
    """[(entry id, {field: value})] of a Redis stream, oldest first."""
    out = []
    reply = harness.redis_command(redis_url, "XRANGE", key, "-", "+")
    for entry_id, fields in reply or []:
        out.append((entry_id, dict(zip(fields[0::2], fields[1::2]))))
    return out


class MarketCase(BlackboxTestCase):
    """One stack per class; per-test invariant and sanitizer checks."""

    label = "market"
    services = ("gateway",)
    HOLD = 30  # ERRAND_HOLD_SECONDS of the class
    extra_env = {}
    stack = None

    @classmethod
    def market_env(cls):
        env = {
            "ERRAND_SECRETS_KEY": SECRETS_KEY,
            "ERRAND_CRON_SECRET": CRON_SECRET,
            "ERRAND_HOLD_SECONDS": str(cls.HOLD),
            "ERRAND_SWEEP_SECONDS": "3600",
        }
        env.update(cls.extra_env)
        return env

    @classmethod
    def setUpClass(cls):
        with harness._lock:
            cls._proc_mark = len(harness._procs)
        cls.stack = Stack(cls.label, services=cls.services, extra_env=cls.market_env())
        cls.addClassCleanup(cls._finish_class)
        cls.stack.start()
        cls.gw = cls.stack.gateway
        cls.admin = cls.stack.principal("admin", "market admin")

    @classmethod
    def _finish_class(cls):
        cls.stack.close()
        with harness._lock:
            procs = list(harness._procs[cls._proc_mark:])
        for p in procs:  # anything a test started and left running
            if p.alive():
                p.stop()
        found = sanitizer_findings(procs)
        if found:
            raise AssertionError(describe_findings(found))

    def setUp(self):
        super().setUp()
        # A capability of this test's own: its jobs require it and its agents
        # have it, so no other test of the class can pull them, nor it theirs.
        self.cap = "t-" + rand_hex(10)
        with harness._lock:
            self._test_proc_mark = len(harness._procs)
        self.addCleanup(self.check_invariants)

    # ------------------------------------------------------------ after each test

    def check_invariants(self):
        with harness._lock:
            procs = set(self.stack.all_procs()) | set(harness._procs[self._test_proc_mark:])
        found = sanitizer_findings(sorted(procs, key=lambda p: p.pid))
        if found:
            self.fail(describe_findings(found))
        if self.stack.db is None:
            return
        lv = self.stack.db.query("SELECT violation || ': ' || coalesce(detail, '') "
                                 "FROM ledger_violations")
        jv = self.stack.db.query("SELECT violation || ': ' || coalesce(job_id, '') "
                                 "FROM job_violations")
        self.assertEqual(lv, "", "ledger_violations is not empty")
        self.assertEqual(jv, "", "job_violations is not empty")

    # ------------------------------------------------------------ HTTP

    def req(self, method, path, key=None, body=None, headers=None, port=None, **kw):
        h = dict(headers or {})
        if key:
            h.update(bearer(key))
        return harness.http(port or self.gw.port, method, path, body=body, headers=h, **kw)

    def post(self, key, path, body=None, **kw):
        return self.req("POST", path, key=key, body=body, **kw)

    def get(self, key, path, **kw):
        return self.req("GET", path, key=key, **kw)

    def expect(self, resp, status, code=None):
        """Asserts the status (and the error code when given); returns the JSON body."""
        if code:
            self.assertError(resp, status, code)
        else:
            self.assertEqual(resp.status, status, resp)
        return resp.json

    # ------------------------------------------------------------ principals and money

    def new_user(self, cents=0, name=None):
        u = self.stack.principal("user", name or "user-" + rand_hex(6))
        if cents:
            self.topup(u["id"], cents)
        return u

    def new_agent(self, caps=None, name=None):
        return self.stack.principal("agent", name or "agent-" + rand_hex(6),
                                    capabilities=[self.cap] if caps is None else caps)

    def topup(self, principal_id, cents):
        r = self.post(self.admin["key"], "/v1/admin/wallets/%s/topup" % principal_id,
                      {"amount_cents": cents})
        self.assertEqual(r.status, 200, r)
        return r.json

    def wallet(self, who):
        r = self.get(who["key"], "/api/wallet")
        self.assertEqual(r.status, 200, r)
        return r.json

    def assertWallet(self, who, available, held, earnings=None, msg=None):
        w = self.wallet(who)
        got = {"available_cents": w.get("available_cents"), "held_cents": w.get("held_cents")}
        want = {"available_cents": available, "held_cents": held}
        if earnings is not None:
            got["earnings_cents"] = w.get("earnings_cents")
            want["earnings_cents"] = earnings
        self.assertEqual(got, want, msg or w)
        self.assertEqual(w.get("currency"), "USD", w)
        return w

    def transactions(self, who, limit=500):
        r = self.get(who["key"], "/api/wallet/transactions?limit=%d" % limit)
        self.assertEqual(r.status, 200, r)
        return r.json["data"]

    # ------------------------------------------------------------ jobs

    def run_body(self, prompt=None, price=300, caps=None, confirmed=True, **fields):
        body = {"prompt": prompt or "Write a haiku about ledgers %s." % rand_hex(4)}
        if confirmed is not None:
            body["confirmed"] = confirmed
        if price is not None:
            body["price_cents"] = price
        body["required_capabilities"] = [self.cap] if caps is None else caps
        body.update(fields)
        return body

    def run_job(self, user, expect=201, **kw):
        """POST /api/jobs/run confirmed; returns the job (the 402's job too)."""
        r = self.post(user["key"], "/api/jobs/run", self.run_body(**kw))
        self.assertEqual(r.status, expect, r)
        if expect == 402:
            self.assertError(r, 402, "insufficient_balance")
            return r.json["job"]
        return r.json

    def job_op(self, who, job_id, op, body=None, expect=200, code=None):
        r = self.post(who["key"], "/api/jobs/%s/%s" % (job_id, op), body)
        self.expect(r, expect, code)
        return r.json

    def get_job(self, who, job_id, expect=200):
        r = self.get(who["key"], "/api/jobs/%s" % job_id)
        self.assertEqual(r.status, expect, r)
        return r.json

    def pull(self, agent, body=None, expect=200):
        r = self.post(agent["key"], "/api/jobs/pull", body)
        self.assertEqual(r.status, expect, r)
        return r.json if expect == 200 else r

    def held_job(self, user, agent, **kw):
        """A job of `user` created and pulled (held) by `agent`."""
        job = self.run_job(user, **kw)
        held = self.pull(agent)
        self.assertEqual(held["id"], job["id"], "the pull held another job")
        self.assertEqual(held["status"], "held")
        return held

    def accepted_job(self, user, agent, **kw):
        held = self.held_job(user, agent, **kw)
        acc = self.job_op(agent, held["id"], "accept")
        self.assertEqual(acc["status"], "accepted", acc)
        return acc

    # ------------------------------------------------------------ database

    def db_job(self, job_id):
        out = self.stack.db.scalar("SELECT row_to_json(j) FROM jobs j WHERE id = %s"
                                   % harness.sql_quote(job_id))
        return json.loads(out) if out else None

    def db_status(self, job_id):
        return self.stack.db.scalar("SELECT status FROM jobs WHERE id = %s"
                                    % harness.sql_quote(job_id))

    def counts(self):
        """Rows of the tables a refused request must not touch."""
        out = self.stack.db.query(
            "SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM ledger_transfers),"
            " (SELECT count(*) FROM ledger_holds), (SELECT count(*) FROM outbox),"
            " (SELECT count(*) FROM job_holders), (SELECT count(*) FROM job_rejections),"
            " (SELECT coalesce(sum(balance), 0) FROM ledger_accounts WHERE kind = 'escrow')")
        return dict(zip(("jobs", "transfers", "holds", "outbox", "holders", "rejections",
                         "escrow"), (int(x) for x in out.split("|"))))

    def job_snapshot(self, job_id):
        """The stored row without updated_at: equal before and after a refused request."""
        j = self.db_job(job_id)
        if j:
            j.pop("updated_at", None)
        return j

    # ------------------------------------------------------------ streams

    def stream_key(self, name):
        return self.stack.stream_prefix + name

    def job_events(self, job_id, stream="events"):
        return [f for _, f in stream_entries(self.stack.redis_url, self.stream_key(stream))
                if f.get("job_id") == job_id]

    def wait_events(self, job_id, types, stream="events", timeout=15):
        """Waits until the stream holds exactly `types` (in order) for the job."""
        def done():
            got = [e.get("type") for e in self.job_events(job_id, stream)]
            return got if got == list(types) else None
        try:
            return harness.wait_until(done, timeout, "events %r of %s" % (types, job_id))
        except AssertionError:
            got = [e.get("type") for e in self.job_events(job_id, stream)]
            self.fail("stream %s: events of job %s are %r, expected %r"
                      % (stream, job_id, got, list(types)))


def run_threads(n, fn):
    """Runs fn(i) in n threads; returns the results; re-raises the first exception."""
    results = [None] * n
    errors = []

    def body(i):
        try:
            results[i] = fn(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    if errors:
        raise errors[0]
    return results


def sleep_until(epoch, slack=0.15):
    """Sleeps until wall-clock time `epoch` + slack (for times that must pass)."""
    d = epoch + slack - time.time()
    if d > 0:
        time.sleep(d)

