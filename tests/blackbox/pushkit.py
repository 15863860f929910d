"""Shared helpers of the push black-box tests: runs, signed webhooks, the reply API
and the dispatch API (seeds 004 and 002, issue 4).

Not a test module itself (its name does not start with test_). What it gives:

- Receiver: the Node.js test receiver of tests/webhooks (receiver.mjs), started
  on a free port and stopped by its PID. It checks every webhook's signature
  with the `standardwebhooks` npm package (the reference implementation of the
  Standard Webhooks specification), not with errand's code. Each endpoint
  (/hook/NAME) has its own secrets and steps (how to answer each request):
  ACK, FAIL, GONE, HANG, too_many(n), redirect(url), hang_for(ms),
  fail_then_ack(n);
- PushCase: a BlackboxTestCase with one stack per class: a gateway, a
  dispatcher and (when SCHEDULER) a scheduler whose public URL is the
  gateway's, so that reply.url and mcp.url point at it; settings from the
  class (short retry schedule and timeout by default). After every test: no
  sanitizer report in a log, ledger_violations, job_violations and the push
  invariants below are empty;
- helpers for agents with webhook endpoints, dispatching jobs, reading the
  webhooks that arrived, replying, and polling with deadlines.
"""

import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import time

import harness
from harness import BlackboxTestCase, Stack, bearer
from marketkit import describe_findings, parse_time, rand_hex, sanitizer_findings

RECEIVER_DIR = os.path.join(harness.REPO, "tests", "webhooks")
RECEIVER_SCRIPT = os.path.join(RECEIVER_DIR, "receiver.mjs")

# Steps of a receiver endpoint (see tests/webhooks/receiver.mjs).
ACK = {"status": 200}
FAIL = {"status": 500}
GONE = {"status": 410}
HANG = {"hang": True}


def too_many(seconds):
    return {"status": 429, "headers": {"Retry-After": str(seconds)}}


def redirect(url, status=302):
    return {"status": status, "headers": {"Location": url}}


def hang_for(ms, status=200):
    return {"hang_ms": ms, "status": status}


def fail_then_ack(n, step=FAIL):
    return [step] * n + [ACK]


# Checks that hold for the push tables at any time, whatever the tests did.
PUSH_VIOLATIONS = """
SELECT 'job with two open runs: ' || job_id FROM runs
 WHERE status IN ('pending', 'running') AND job_id IS NOT NULL
 GROUP BY job_id HAVING count(*) > 1
UNION ALL
SELECT 'finished job with an open run: ' || j.id FROM jobs j JOIN runs r ON r.job_id = j.id
 WHERE j.kind = 'dispatch' AND j.status IN ('completed', 'failed', 'cancelled')
   AND r.status IN ('pending', 'running')
UNION ALL
SELECT 'running run without expires_at: ' || id FROM runs
 WHERE status = 'running' AND expires_at IS NULL
UNION ALL
SELECT 'run messages out of step: ' || r.id FROM runs r
 WHERE r.message_count <> (SELECT count(*) FROM run_messages m WHERE m.run_id = r.id)
UNION ALL
SELECT 'pending webhook of an ended run: ' || w.id FROM webhook_messages w
 JOIN runs r ON r.id = w.run_id
 WHERE w.status = 'pending' AND r.status IN ('completed', 'failed', 'expired', 'cancelled')
"""


def node_binary():
    for name in ("node", "nodejs"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("node is not installed: run deploy/install-deps")


def receiver_ready():
    """Raises unless tests/webhooks has its npm packages installed."""
    if not os.path.isdir(os.path.join(RECEIVER_DIR, "node_modules", "standardwebhooks")):
        raise RuntimeError(
            "the test receiver's packages are not installed: run `npm ci` in tests/webhooks "
            "(tests/run does it)")


class Receiver:
    """The Node.js webhook receiver on a free port of 127.0.0.1 (a harness.Proc)."""

    def __init__(self, label="receiver"):
        receiver_ready()
        last = None
        for _ in range(3):
            self.port = harness.free_port()
            self.proc = harness.Proc("webhook-" + label,
                                     [node_binary(), RECEIVER_SCRIPT, str(self.port)],
                                     harness.clean_env(), port=self.port)
            try:
                harness.wait_until(self._healthy, harness.START_TIMEOUT,
                                   "the webhook receiver on port %d" % self.port)
                return
            except AssertionError as e:
                last = e
                self.proc.stop(signal.SIGKILL, timeout=5)
        raise AssertionError("the webhook receiver did not start: %s\n%s"
                             % (last, harness.describe(self.proc)))

    def _healthy(self):
        if not self.proc.alive():
            raise harness.Abort("the receiver exited with %s\n%s"
                                % (self.proc.returncode(), harness.describe(self.proc)))
        r = harness.http(self.port, "GET", "/_control/health", timeout=2)
        return r.status == 200 and r.json.get("pid") == self.proc.pid

    def stop(self):
        """Stops the receiver by its PID (SIGTERM, then SIGKILL)."""
        self.proc.stop(signal.SIGTERM, timeout=10)

    def url(self, name):
        return "http://127.0.0.1:%d/hook/%s" % (self.port, name)

    def _control(self, method, path, body=None):
        r = harness.http(self.port, method, "/_control" + path, body=body, timeout=10)
        if r.status != 200:
            raise AssertionError("receiver %s %s: %r" % (method, path, r))
        return r.json

    def endpoint(self, name=None, steps=None, secrets=None):
        """Sets (or creates) endpoint `name`: how it answers and the secrets to check with.

        Returns the name (a new unique one when none is given)."""
        name = name or "ep-" + rand_hex(10)
        body = {}
        if steps is not None:
            body["steps"] = list(steps) if isinstance(steps, (list, tuple)) else [steps]
        if secrets is not None:
            body["secrets"] = list(secrets)
        self._control("PUT", "/endpoints/" + name, body)
        return name

    def add_secret(self, name, secret):
        self._control("POST", "/endpoints/%s/secrets" % name, {"secret": secret})

    def requests(self, name=None):
        """What arrived (oldest first), each verified against the endpoint's secrets."""
        path = "/endpoints/%s/requests" % name if name else "/requests"
        return self._control("GET", path)["data"]

    def wait(self, name, n=1, timeout=15, where=None, what=None):
        """Waits until at least `n` requests (matching `where`) arrived at `name`; returns them."""
        def enough():
            rs = [r for r in self.requests(name) if where is None or where(r)]
            return rs if len(rs) >= n else None
        return harness.wait_until(enough, timeout,
                                  what or "%d webhook(s) at endpoint %s" % (n, name),
                                  interval=0.05)


def reply_token_for(secrets_key_hex, run_id, prefix="rpl"):
    """A run token as a deployment with `secrets_key_hex` would make it (for foreign tokens)."""
    mac = hmac.new(bytes.fromhex(secrets_key_hex), ("%s:%s" % (prefix, run_id)).encode(),
                   hashlib.sha256).digest()
    return prefix + "_" + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def shaped_token(prefix="rpl"):
    """A token of the right shape that no run has."""
    raw = os.urandom(32)
    return prefix + "_" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


class PushCase(BlackboxTestCase):
    """One stack and one receiver per class; per-test invariant and sanitizer checks."""

    label = "push"
    SCHEDULER = True
    DISPATCHER = True
    RETRY_SCHEDULE = "0,1,1"
    TIMEOUT_MS = 1000
    RUN_EXPIRY = 300
    SWEEP = 1
    DELIVERY_DEADLINE = 3600
    ALLOW_PRIVATE = True
    extra_env = {}
    stack = None

    @classmethod
    def push_env(cls):
        env = {
            "ERRAND_WEBHOOK_RETRY_SCHEDULE": cls.RETRY_SCHEDULE,
            "ERRAND_WEBHOOK_TIMEOUT_MS": str(cls.TIMEOUT_MS),
            "ERRAND_WEBHOOK_ALLOW_PRIVATE": "true" if cls.ALLOW_PRIVATE else "false",
            "ERRAND_RUN_EXPIRY_SECONDS": str(cls.RUN_EXPIRY),
            "ERRAND_SWEEP_SECONDS": str(cls.SWEEP),
            "ERRAND_RUN_DELIVERY_DEADLINE_SECONDS": str(cls.DELIVERY_DEADLINE),
            "ERRAND_HOLD_SECONDS": "3600",
            "ERRAND_CRON_SECRET": "bb-cron-secret-0123456789abcdef",
        }
        env.update(cls.extra_env)
        return env

    @classmethod
    def setUpClass(cls):
        with harness._lock:
            cls._proc_mark = len(harness._procs)
        cls.addClassCleanup(cls._finish_class)
        cls.receiver = Receiver(cls.label)
        cls.stack = Stack(cls.label, services=("gateway",), extra_env=cls.push_env())
        cls.stack.start()
        cls.gw = cls.stack.gateway
        cls.gw_url = "http://127.0.0.1:%d" % cls.gw.port
        cls.dispatcher = cls.start_dispatcher() if cls.DISPATCHER else None
        cls.scheduler = None
        if cls.SCHEDULER:
            cls.scheduler = cls.stack.start_extra("scheduler", cls.public_env())
            harness.wait_ready(cls.scheduler)
        cls.admin = cls.stack.principal("admin", "push admin")

    @classmethod
    def public_env(cls, extra=None):
        e = {"ERRAND_PUBLIC_URL": cls.gw_url}
        e.update(extra or {})
        return e

    @classmethod
    def start_dispatcher(cls, extra=None):
        d = cls.stack.start_extra("dispatcher", cls.public_env(extra))
        harness.wait_ready(d)
        return d

    @classmethod
    def _finish_class(cls):
        if cls.stack is not None:
            cls.stack.close()
        rcv = getattr(cls, "receiver", None)
        if rcv is not None:
            rcv.stop()
        with harness._lock:
            procs = list(harness._procs[cls._proc_mark:])
        for p in procs:  # anything a test started and left running
            if p.alive():
                p.stop()
        found = sanitizer_findings([p for p in procs if p.name.startswith("errand-")])
        if found:
            raise AssertionError(describe_findings(found))

    def setUp(self):
        super().setUp()
        with harness._lock:
            self._test_proc_mark = len(harness._procs)
        self.addCleanup(self.check_invariants)

    def check_invariants(self):
        with harness._lock:
            procs = set(self.stack.all_procs()) | set(harness._procs[self._test_proc_mark:])
        procs = [p for p in procs if p.name.startswith("errand-")]
        found = sanitizer_findings(sorted(procs, key=lambda p: p.pid))
        if found:
            self.fail(describe_findings(found))
        if self.stack.db is None:
            return
        lv = self.stack.db.query("SELECT violation || ': ' || coalesce(detail, '') "
                                 "FROM ledger_violations")
        jv = self.stack.db.query("SELECT violation || ': ' || coalesce(job_id, '') "
                                 "FROM job_violations")
        pv = self.stack.db.query(PUSH_VIOLATIONS)
        self.assertEqual(lv, "", "ledger_violations is not empty")
        self.assertEqual(jv, "", "job_violations is not empty")
        self.assertEqual(pv, "", "push invariants broken")

    # ------------------------------------------------------------ HTTP

    def req(self, method, path, key=None, body=None, headers=None, **kw):
        h = dict(headers or {})
        if key:
            h.update(bearer(key))
        return harness.http(self.gw.port, method, path, body=body, headers=h, **kw)

    def post(self, key, path, body=None, **kw):
        return self.req("POST", path, key=key, body=body, **kw)

    def get(self, key, path, **kw):
        return self.req("GET", path, key=key, **kw)

    def expect(self, resp, status, code=None):
        if code:
            self.assertError(resp, status, code)
        else:
            self.assertEqual(resp.status, status, resp)
        return resp.json

    # ------------------------------------------------------------ principals

    def new_user(self):
        return self.stack.principal("user", "user-" + rand_hex(6))

    def new_agent(self, steps=ACK, endpoint=None):
        """An agent (created through POST /v1/admin/principals) whose webhook_url is a
        new receiver endpoint answering `steps`; the endpoint checks signatures
        with the agent's webhook_secret. Adds "endpoint" to the creation answer."""
        name = self.receiver.endpoint(endpoint, steps=steps, secrets=[])
        r = self.post(self.admin["key"], "/v1/admin/principals",
                      {"role": "agent", "name": "agent-" + rand_hex(6),
                       "webhook_url": self.receiver.url(name)})
        a = self.expect(r, 201)
        secret = a.get("webhook_secret")
        self.assertIsInstance(secret, str, a)
        self.assertTrue(secret.startswith("whsec_"), a)
        self.receiver.endpoint(name, secrets=[secret])
        a["endpoint"] = name
        return a

    # ------------------------------------------------------------ jobs

    def dispatch(self, user_key, agent_id, objective=None, brief=None, observers=None,
                 metadata=None, status=202, **fields):
        brief = dict(brief or {})
        brief.setdefault("objective", objective or "objective " + rand_hex(6))
        body = {"agent_id": agent_id, "brief": brief}
        if observers is not None:
            body["observers"] = observers
        if metadata is not None:
            body["metadata"] = metadata
        body.update(fields)
        r = self.post(user_key, "/v1/jobs", body)
        return self.expect(r, status)

    def job(self, key, job_id):
        return self.expect(self.get(key, "/v1/jobs/" + job_id), 200)

    def wait_job(self, key, job_id, statuses, timeout=20):
        if isinstance(statuses, str):
            statuses = (statuses,)

        def check():
            j = self.job(key, job_id)
            return j if j["status"] in statuses else None
        return harness.wait_until(check, timeout, "job %s in %s" % (job_id, statuses))

    def runs_of(self, key, job_id):
        return self.expect(self.get(key, "/v1/jobs/%s/runs" % job_id), 200)["data"]

    def get_run(self, key, run_id):
        return self.expect(self.get(key, "/v1/runs/" + run_id), 200)

    def wait_run(self, key, run_id, statuses, timeout=20):
        if isinstance(statuses, str):
            statuses = (statuses,)

        def check():
            r = self.get_run(key, run_id)
            return r if r["status"] in statuses else None
        return harness.wait_until(check, timeout, "run %s in %s" % (run_id, statuses))

    def deliveries(self, key, job_id):
        """The attempts of a job's webhooks, oldest first."""
        d = self.expect(self.get(key, "/v1/jobs/%s/deliveries?limit=500" % job_id), 200)
        return list(reversed(d["data"]))

    def wait_deliveries(self, key, job_id, n, where=None, timeout=20):
        def check():
            ds = [x for x in self.deliveries(key, job_id) if where is None or where(x)]
            return ds if len(ds) >= n else None
        return harness.wait_until(check, timeout, "%d delivery records of %s" % (n, job_id))

    # ------------------------------------------------------------ webhooks

    def webhooks(self, endpoint, event="agent.run.created", job_id=None):
        out = []
        for r in self.receiver.requests(endpoint):
            j = r["json"] or {}
            if event and j.get("type") != event:
                continue
            if job_id and (j.get("input") or {}).get("jobId") != job_id and \
                    (j.get("data") or {}).get("job_id") != job_id:
                continue
            out.append(r)
        return out

    def wait_webhooks(self, endpoint, n=1, event="agent.run.created", job_id=None,
                      timeout=15, verified=True):
        """Waits for `n` webhooks of `event` (for `job_id`) at `endpoint`; checks each
        one's signature verified (when `verified`). Returns them, oldest first."""
        def enough():
            rs = self.webhooks(endpoint, event, job_id)
            return rs if len(rs) >= n else None
        rs = harness.wait_until(enough, timeout, "%d %s webhook(s) at %s%s" % (
            n, event, endpoint, " for " + job_id if job_id else ""), interval=0.05)
        if verified:
            for r in rs:
                self.assertTrue(r["verified"], "a webhook did not verify with standardwebhooks: "
                                "%s" % json.dumps(r, indent=1)[:3000])
        return rs

    def run_created(self, endpoint, job_id, n=1, timeout=15):
        """The payload of the n-th distinct run's agent.run.created for `job_id`."""
        def enough():
            seen = []
            for r in self.webhooks(endpoint, "agent.run.created", job_id):
                rid = r["json"]["run"]["id"]
                if rid not in [x["json"]["run"]["id"] for x in seen]:
                    seen.append(r)
            return seen if len(seen) >= n else None
        seen = harness.wait_until(enough, timeout, "run %d of job %s at %s" % (
            n, job_id, endpoint), interval=0.05)
        r = seen[n - 1]
        self.assertTrue(r["verified"], r)
        return r["json"]

    def reply(self, token, status=None, **fields):
        body = {"replyToken": token}
        if status is not None:
            body["status"] = status
        body.update(fields)
        return harness.http(self.gw.port, "POST", "/api/agents/reply", body=body)

    def reply_ok(self, token, status, **fields):
        r = self.reply(token, status, **fields)
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json.get("ok"), True, r)
        return r.json

    def started_job(self, user, agent, **kw):
        """Dispatches a job to `agent`, waits for its webhook and its run running.

        Returns (job answer, agent.run.created payload)."""
        job = self.dispatch(user["key"], agent["id"], **kw)
        ev = self.run_created(agent["endpoint"], job["id"])
        self.wait_run(user["key"], ev["run"]["id"], "running")
        return job, ev

    def db_scalar(self, sql):
        return self.stack.db.scalar(sql)


__all__ = [
    "ACK", "FAIL", "GONE", "HANG", "too_many", "redirect", "hang_for", "fail_then_ack",
    "Receiver", "PushCase", "reply_token_for", "shaped_token", "parse_time", "rand_hex",
    "harness", "time",
]
