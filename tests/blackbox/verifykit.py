"""Shared helpers of the verification black-box tests (issue 5): the verifier, the
external verifier URL, the model judge, and the live log over Server-Sent Events.

Not a test module itself (its name does not start with test_). What it gives:

- FakeServer: an HTTP server on 127.0.0.1 in this process that plays an external
  verifier or an OpenAI-compatible model. Each path answers as its steps say
  (request i gets steps[i], the last step answers every request after the list):
      {"status": 200, "body": dict | list | str, "headers": {...}}
      {"gate": threading.Event, ...}   answers only once the test sets the event
      {"sleep": seconds, ...}          answers after that long (a timeout for the sender)
  and records every request (headers, raw body, parsed JSON, time of arrival);
- verdict(), chat(): the bodies an external verifier and a model answer with;
- check_signature(): the Standard Webhooks signature of a request, checked here
  with hmac and hashlib against the whsec_ secret, not with errand's code;
- SSE: parse_sse() for a whole text/event-stream body; SSEReader, a client over
  http.client that reads a stream as it comes (in a thread), with Last-Event-ID;
  Curl, `curl -N` reading a stream in a subprocess; NodeEventSource, the
  EventSource client of tests/sse (the `eventsource` npm package), driven
  through its standard input and reporting on its standard output;
- VerifyCase: a MarketCase (one stack per class: a gateway and a verifier, the
  per-test ledger, job and sanitizer checks) with a FakeServer per class and
  helpers for submitted jobs, verifications, transfers and logs.
"""

import base64
import hashlib
import hmac
import http.client as httpclient
import http.server
import json
import os
import shutil
import signal
import subprocess
import threading
import time

import harness
from marketkit import MarketCase, parse_time, rand_hex, stream_entries
from pushkit import PushCase

SSE_DIR = os.path.join(harness.REPO, "tests", "sse")
SSE_CLIENT = os.path.join(SSE_DIR, "client.mjs")

# A verifier or judge that fails is asked again after 1, 5 and 25 s (CONTRACT.md).
RETRY_DELAYS = (1, 5, 25)
# The verifier waits this long for an external verifier's answer (verifier/main.c).
EXTERNAL_TIMEOUT_S = 10
KEEPALIVE_S = 15
UNAVAILABLE = "verifier_unavailable"


# ---------------------------------------------------------------- a fake HTTP peer


def verdict(passed, reason="ok"):
    """What an external verifier answers."""
    return {"pass": passed, "reason": reason}


def chat(content):
    """A chat-completions answer whose first choice's message holds `content`."""
    if not isinstance(content, str):
        content = json.dumps(content)
    return {"id": "chatcmpl-test", "object": "chat.completion", "model": "test-model",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}]}


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        srv = self.server
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        with srv.lock:
            rec = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                   "raw": raw, "json": parsed, "at": time.time(), "answered": None}
            srv.requests.append(rec)
            steps = srv.steps.get(self.path) or [{"status": 404, "body": "no such path"}]
            count = srv.counts.get(self.path, 0)
            srv.counts[self.path] = count + 1
            step = steps[min(count, len(steps) - 1)]
        gate = step.get("gate")
        if gate is not None:
            # the test opens the gate; a closing server opens every gate
            while not gate.wait(0.1):
                if srv.stopping.is_set():
                    return
        if step.get("sleep"):
            if srv.stopping.wait(step["sleep"]):
                return
        body = step.get("body", "")
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        status = step.get("status", 200)
        try:
            self.send_response(status)
            self.send_header("Content-Type", step.get("content_type", "application/json"))
            self.send_header("Content-Length", str(len(body)))
            for k, v in (step.get("headers") or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
            rec["answered"] = status
        except OSError:
            pass  # the sender gave up (its timeout)

    def log_message(self, *args):
        pass


class FakeServer(http.server.ThreadingHTTPServer):
    """An HTTP server whose answers the test sets per path (see the module doc)."""

    daemon_threads = True
    block_on_close = False

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.steps = {}
        self.counts = {}
        self.requests = []
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self):
        return self.server_address[1]

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def endpoint(self, steps, name=None):
        """A new path (or `name`) answering `steps`; returns the path."""
        path = "/%s" % (name or "v-" + rand_hex(10))
        if isinstance(steps, dict):
            steps = [steps]
        with self.lock:
            self.steps[path] = list(steps)
            self.counts[path] = 0
        return path

    def requests_to(self, path):
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def wait_requests(self, path, n, timeout=15):
        def enough():
            rs = self.requests_to(path)
            return rs if len(rs) >= n else None
        return harness.wait_until(enough, timeout, "%d request(s) to %s" % (n, path),
                                  interval=0.05)

    def close(self):
        self.stopping.set()
        self.shutdown()
        self.server_close()


# ---------------------------------------------------------------- Standard Webhooks


def check_signature(secret, headers, raw, tolerance=300):
    """None when the request's webhook-signature holds a valid v1 signature of
    "<webhook-id>.<webhook-timestamp>.<body>" under `secret` (whsec_…, Standard
    Webhooks), with a timestamp within `tolerance` s of now; else why not."""
    if not isinstance(secret, str) or not secret.startswith("whsec_"):
        return "not a whsec_ secret: %r" % (secret,)
    msg_id = headers.get("webhook-id")
    ts = headers.get("webhook-timestamp")
    sig_header = headers.get("webhook-signature")
    if not msg_id or not ts or not sig_header:
        return "missing webhook-id, webhook-timestamp or webhook-signature: %r" % (headers,)
    try:
        ts_int = int(ts)
    except ValueError:
        return "webhook-timestamp is not an integer: %r" % ts
    if abs(time.time() - ts_int) > tolerance:
        return "webhook-timestamp %d is %.0f s away from now" % (ts_int, time.time() - ts_int)
    key = base64.b64decode(secret[len("whsec_"):])
    signed = msg_id.encode() + b"." + ts.encode() + b"." + raw
    want = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for part in sig_header.split(" "):
        version, _, sig = part.partition(",")
        if version == "v1" and hmac.compare_digest(sig, want):
            return None
    return "no v1 signature in %r matches" % sig_header


# ---------------------------------------------------------------- Server-Sent Events


def parse_sse(text):
    """(events, retry values, comments) of a text/event-stream body.

    events: [{"id", "event", "data" (parsed JSON, else the text)}] in order."""
    events, retries, comments = [], [], []
    cur = {"data": []}
    for line in text.replace("\r\n", "\n").split("\n"):
        if line == "":
            if cur["data"] or "event" in cur or "id" in cur:
                data = "\n".join(cur["data"])
                try:
                    value = json.loads(data)
                except ValueError:
                    value = data
                if cur["data"]:
                    events.append({"id": cur.get("id"), "event": cur.get("event", "message"),
                                   "data": value})
            cur = {"data": []}
            continue
        if line.startswith(":"):
            comments.append(line[1:].strip())
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            cur["data"].append(value)
        elif field in ("id", "event"):
            cur[field] = value
        elif field == "retry":
            retries.append(value)
    return events, retries, comments


def id_key(stream_id):
    """A Redis stream id as a tuple that orders like it."""
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq)


class SSEReader:
    """GET /api/jobs/{id}/logs over http.client, read in a thread as the lines come.

    status/headers once answered; lines (text), events (parsed), ended (the
    server closed the stream), error."""

    def __init__(self, port, key, job_id, last_event_id=None, query="", timeout=120):
        self.port = port
        self.status = None
        self.headers = {}
        self.lines = []
        self.ended = False
        self.error = None
        self.body = ""
        self._lock = threading.Lock()
        self._answered = threading.Event()
        hdrs = {"Accept": "text/event-stream", "Authorization": "Bearer " + key}
        if last_event_id is not None:
            hdrs["Last-Event-ID"] = last_event_id
        self.conn = httpclient.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.conn.request("GET", "/api/jobs/%s/logs%s" % (job_id, query), headers=hdrs)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        try:
            resp = self.conn.getresponse()
            self.status = resp.status
            self.headers = {k.lower(): v for k, v in resp.getheaders()}
            self._answered.set()
            while True:
                line = resp.readline()
                if not line:
                    break
                with self._lock:
                    self.lines.append(line.decode("utf-8", "replace"))
        except Exception as e:  # noqa: BLE001 - reported to the test
            self.error = e
        finally:
            self._answered.set()
            self.ended = True

    def wait_answered(self, timeout=15):
        if not self._answered.wait(timeout):
            raise AssertionError("GET logs: no answer within %d s" % timeout)
        return self.status

    def text(self):
        with self._lock:
            return "".join(self.lines)

    def parsed(self):
        return parse_sse(self.text())

    def events(self):
        return self.parsed()[0]

    def wait_for(self, pred, timeout=20, what="an event"):
        """Waits until pred(events) is true; returns the events."""
        def ok():
            evs = self.events()
            if pred(evs):
                return evs or True
            if self.ended:
                raise harness.Abort("the stream ended before %s: %r" % (what, self.text()))
            return None
        r = harness.wait_until(ok, timeout, what, interval=0.05)
        return self.events() if r is True else r

    def wait_end(self, timeout=30):
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("the SSE stream did not end within %d s; got %r"
                                 % (timeout, self.text()))
        return self.events()

    def close(self):
        try:
            if self.conn.sock is not None:
                self.conn.sock.shutdown(2)
        except OSError:
            pass
        self.conn.close()
        self._thread.join(5)


class Curl:
    """`curl -N -i` reading a job's log stream in a subprocess (stopped by its PID)."""

    def __init__(self, port, key, job_id, extra=(), max_time=120):
        curl = shutil.which("curl")
        if not curl:
            raise RuntimeError("curl is not installed")
        self.argv = [curl, "-N", "-s", "-S", "-i", "--max-time", str(max_time),
                     "-H", "Authorization: Bearer " + key] + list(extra) + [
            "http://127.0.0.1:%d/api/jobs/%s/logs" % (port, job_id)]
        self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      env=harness.clean_env())
        self.pid = self.popen.pid
        self._chunks = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        while True:
            b = self.popen.stdout.read1(65536)
            if not b:
                break
            with self._lock:
                self._chunks.append(b)

    def output(self):
        with self._lock:
            return b"".join(self._chunks).decode("utf-8", "replace")

    def split(self):
        """(status line, {header: value}, body text) of what arrived so far."""
        out = self.output().replace("\r\n", "\n")
        head, sep, body = out.partition("\n\n")
        if not sep:
            return None, {}, ""
        lines = head.split("\n")
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        return lines[0], headers, body

    def events(self):
        return parse_sse(self.split()[2])[0]

    def wait_for(self, pred, timeout=20, what="an event"):
        def ok():
            evs = self.events()
            if pred(evs):
                return evs or True
            if self.popen.poll() is not None and not self._thread.is_alive():
                raise harness.Abort("curl exited (%s) before %s: %r"
                                    % (self.popen.returncode, what, self.output()))
            return None
        r = harness.wait_until(ok, timeout, what, interval=0.05)
        return self.events() if r is True else r

    def wait_exit(self, timeout=30):
        try:
            rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("curl still reads after %d s (the stream did not end): %r"
                                 % (timeout, self.output()))
        self._thread.join(5)
        return rc

    def stderr(self):
        try:
            return self.popen.stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def stop(self):
        if self.popen.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait()
        self._thread.join(5)
        for f in (self.popen.stdout, self.popen.stderr):
            try:
                f.close()
            except OSError:
                pass


def sse_client_ready():
    if not os.path.isdir(os.path.join(SSE_DIR, "node_modules", "eventsource")):
        raise RuntimeError("the SSE client's packages are not installed: run `npm ci` in "
                           "tests/sse (tests/run does it)")


class NodeEventSource:
    """tests/sse/client.mjs: the `eventsource` package reading a job's log.

    Reports (one JSON object per line on its stdout, kept in .reports()):
      {"type": "request", "n", "last_event_id"}   connection n starts
      {"type": "response", "n", "status", "headers"}
      {"type": "open", "n"}
      {"type": "event", "n", "event", "id", "data"}
      {"type": "error", "n", "code", "message", "ready_state"}
      {"type": "dropped", "n"}                     after a "drop" command
      {"type": "closed", "reason"}                 the EventSource is CLOSED; the client exits
    Commands (lines on its stdin): "drop" (the current connection fails, as a
    network error would: the EventSource reconnects by itself, with
    Last-Event-ID), "close"."""

    def __init__(self, port, key, job_id, timeout_s=90):
        sse_client_ready()
        from pushkit import node_binary
        url = "http://127.0.0.1:%d/api/jobs/%s/logs" % (port, job_id)
        self.stderr_path = os.path.join(harness.log_dir(), "sse-client-%s.log" % rand_hex(8))
        self._err = open(self.stderr_path, "wb")
        self.popen = subprocess.Popen([node_binary(), SSE_CLIENT, url, str(timeout_s)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._err, env=harness.clean_env({"SSE_BEARER": key}))
        self.pid = self.popen.pid
        self._lines = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        for line in self.popen.stdout:
            with self._lock:
                self._lines.append(line.decode("utf-8", "replace"))

    def reports(self):
        with self._lock:
            lines = list(self._lines)
        out = []
        for line in lines:
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"type": "garbage", "line": line})
        return out

    def events(self):
        return [r for r in self.reports() if r["type"] == "event"]

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_for(self, pred, timeout=20, what="a report"):
        def ok():
            rs = self.reports()
            if pred(rs):
                return rs
            if self.popen.poll() is not None:
                raise harness.Abort("the SSE client exited (%s) before %s: %r\n%s"
                                    % (self.popen.returncode, what, rs, self.stderr()))
            return None
        return harness.wait_until(ok, timeout, what, interval=0.05)

    def command(self, cmd):
        self.popen.stdin.write((cmd + "\n").encode())
        self.popen.stdin.flush()

    def wait_exit(self, timeout=30):
        try:
            rc = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("the SSE client still runs after %d s: %r"
                                 % (timeout, self.reports()))
        self._thread.join(5)
        return rc

    def stop(self):
        if self.popen.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait()
        self._thread.join(5)
        for f in (self.popen.stdin, self.popen.stdout, self._err):
            try:
                f.close()
            except OSError:
                pass


# ---------------------------------------------------------------- the test case


class VerifyCase(MarketCase):
    """A MarketCase whose stack also runs a verifier (started with VERIFIER_ENV on top of
    the stack's settings), with a FakeServer per class for external verifiers and models."""

    label = "verify"
    services = ("gateway",)
    FEE_BPS = 1250
    VERIFIER = True
    VERIFIER_ENV = {}
    HOLD = 600

    @classmethod
    def market_env(cls):
        env = super().market_env()
        env.update({
            "ERRAND_WEBHOOK_ALLOW_PRIVATE": "true",
            "ERRAND_PLATFORM_FEE_BPS": str(cls.FEE_BPS),
        })
        return env

    @classmethod
    def setUpClass(cls):
        cls.fake = FakeServer()
        cls.addClassCleanup(cls.fake.close)
        super().setUpClass()
        cls.verifier = None
        if cls.VERIFIER:
            cls.verifier = cls.start_verifier()

    @classmethod
    def verifier_env(cls):
        """The settings of the class's verifier beside the stack's (VERIFIER_ENV)."""
        return dict(cls.VERIFIER_ENV)

    @classmethod
    def start_verifier(cls, extra=None):
        env = cls.verifier_env()
        env.update(extra or {})
        v = cls.stack.start_extra("verifier", env)
        harness.wait_ready(v)
        return v

    # ------------------------------------------------------------ jobs

    def parties(self, cents=10000):
        return self.new_user(cents=cents), self.new_agent()

    def submitted_job(self, user, agent, output, **kw):
        """A job of `user` accepted by `agent` and submitted with `output`: the submit
        answer, plus "created": the creation answer (the only one that shows
        verification.secret)."""
        created = self.run_job(user, **kw)
        held = self.pull(agent)
        self.assertEqual(held["id"], created["id"], "the pull held another job")
        self.job_op(agent, created["id"], "accept")
        sub = self.job_op(agent, created["id"], "submit", {"output": output})
        self.assertEqual(sub["status"], "submitted", sub)
        sub["created"] = created
        return sub

    def resubmit(self, user, agent, job_id, output):
        """The next attempt of a requeued job: pulled, accepted, submitted by `agent`."""
        held = self.pull(agent)
        self.assertEqual(held["id"], job_id, "the pull held another job")
        self.job_op(agent, job_id, "accept")
        sub = self.job_op(agent, job_id, "submit", {"output": output})
        self.assertEqual(sub["status"], "submitted", sub)
        return sub

    def wait_status(self, who, job_id, statuses, timeout=20):
        if isinstance(statuses, str):
            statuses = (statuses,)

        def check():
            j = self.get_job(who, job_id)
            return j if j["status"] in statuses else None
        try:
            return harness.wait_until(check, timeout, "job %s in %s" % (job_id, statuses))
        except AssertionError:
            self.fail("job %s is %r after %d s, expected one of %r; verifications: %r" % (
                job_id, self.get_job(who, job_id)["status"], timeout, statuses,
                self.verifications(job_id)))

    def wait_verdicts(self, job_id, n, timeout=20):
        """Waits until `n` attempts of the job are settled and their verdicts recorded."""
        def done():
            vs = self.verifications(job_id)
            settled = [v for v in vs if v["status"] != "running" and any(
                e.get("event") == "verdict" for e in v["log"])]
            return vs if len(settled) >= n else None
        return harness.wait_until(done, timeout, "%d recorded verdict(s) of %s" % (n, job_id))

    def verifications(self, job_id):
        out = self.stack.db.scalar(
            "SELECT coalesce(json_agg(row_to_json(v) ORDER BY v.attempt), '[]') FROM ("
            "SELECT attempt, status, reason, settled_status, log, verifier, lease_until,"
            " finished_at FROM verifications WHERE job_id = %s) v"
            % harness.sql_quote(job_id))
        return json.loads(out)

    def transfers(self, job_id):
        """[(kind, amount)] of the job's ledger transfers, oldest first (a capture and
        its fee share one transaction, so one time: the capture comes first)."""
        out = self.stack.db.query(
            "SELECT kind || '|' || amount FROM ledger_transfers WHERE job_id = %s"
            " ORDER BY created_at, array_position(ARRAY['topup', 'hold', 'capture', 'fee',"
            " 'release'], kind), id" % harness.sql_quote(job_id))
        return [(k, int(a)) for k, a in (x.split("|") for x in out.splitlines() if x)]

    def account(self, account_id):
        v = self.stack.db.scalar("SELECT balance FROM ledger_accounts WHERE id = %s"
                                 % harness.sql_quote(account_id))
        return int(v) if v else 0

    def redis_log(self, job_id):
        """[(id, event, data)] of the job's log stream in Redis."""
        out = []
        for eid, f in stream_entries(self.stack.redis_url, self.stream_key("logs:" + job_id)):
            out.append((eid, f.get("event"), json.loads(f.get("data") or "null")))
        return out

    def stored_log(self, job_id):
        """[(id, event, data)] of the verifications' logs in PostgreSQL, in order."""
        out = []
        for v in self.verifications(job_id):
            for e in v["log"]:
                out.append((e["id"], e["event"], e["data"]))
        return out

    # ------------------------------------------------------------ SSE

    def sse(self, who, job_id, last_event_id=None, query=""):
        r = SSEReader(self.gw.port, who["key"], job_id, last_event_id, query)
        self.addCleanup(r.close)
        return r

    def sse_all(self, who, job_id, last_event_id=None, timeout=20):
        """A whole stream that must end: (status, headers, events, retries, comments)."""
        r = self.sse(who, job_id, last_event_id)
        r.wait_end(timeout)
        if r.error:
            raise AssertionError("reading the stream failed: %r" % r.error)
        events, retries, comments = r.parsed()
        return r.status, r.headers, events, retries, comments

    def curl(self, who, job_id, extra=()):
        c = Curl(self.gw.port, who["key"], job_id, extra)
        self.addCleanup(c.stop)
        return c

    def eventsource(self, who, job_id, timeout_s=90):
        es = NodeEventSource(self.gw.port, who["key"], job_id, timeout_s)
        self.addCleanup(es.stop)
        return es

    def assertLogShape(self, events, attempt=None):
        """Every event is a log line or a verdict with the contract's data."""
        for e in events:
            self.assertIn(e["event"], ("log", "verdict"), e)
            self.assertRegex(e["id"] or "", r"^\d+-\d+$", e)
            d = e["data"]
            self.assertIsInstance(d, dict, e)
            if attempt is not None:
                self.assertEqual(d.get("attempt"), attempt, e)
            if e["event"] == "log":
                self.assertEqual(set(d), {"attempt", "step", "level", "message", "at"}, e)
                self.assertIn(d["level"], ("info", "warn", "error"), e)
                self.assertIsInstance(d["message"], str, e)
                parse_time(d["at"])
            else:
                self.assertEqual(set(d), {"attempt", "pass", "reason", "status"}, e)
                self.assertIsInstance(d["pass"], bool, e)
                self.assertIsInstance(d["reason"], str, e)

    def assertIncreasing(self, ids):
        keys = [id_key(i) for i in ids]
        for a, b in zip(keys, keys[1:]):
            self.assertLess(a, b, "stream ids not strictly increasing: %r" % (ids,))


__all__ = [
    "FakeServer", "verdict", "chat", "check_signature", "parse_sse", "id_key", "SSEReader",
    "Curl", "NodeEventSource", "VerifyCase", "RETRY_DELAYS", "EXTERNAL_TIMEOUT_S",
    "KEEPALIVE_S", "UNAVAILABLE", "harness", "rand_hex", "parse_time",
]


class PushVerifyCase(PushCase):
    """A PushCase whose stack also runs a verifier, with a FakeServer per class for
    external verifiers."""

    SCHEDULER = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake = FakeServer()
        cls.addClassCleanup(cls.fake.close)
        cls.verifier = cls.stack.start_extra("verifier")
        harness.wait_ready(cls.verifier)
