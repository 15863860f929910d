"""The shared harness of the black-box tests: real processes, real PostgreSQL and Redis.

Standard library only. What it gives a test module:

- binary(name): the path of a built program (ERRAND_BIN_DIR, or build/bin);
- datastores(): the (superuser PostgreSQL URL, Redis URL) the suite shares:
  ERRAND_TEST_PG_URL / ERRAND_TEST_REDIS_URL when tests/run exported them,
  else a private PostgreSQL and Redis started once for this Python process
  through deploy/datastores (so a developer can run one file by hand);
- Database: a database of its own (CREATE DATABASE, DROP DATABASE at the end);
- errandctl(): runs errandctl with a clean environment;
- Proc / start_service(): a process on free ports with its stderr in a log
  file, /healthz waited for, stopped by its PID;
- Stack: a database (migrated) and any of the four processes, with a unique
  ERRAND_STREAM_PREFIX whose Redis keys are deleted at the end;
- PrivateDatastores: a PostgreSQL and a Redis of the test's own, which it may
  stop and start again on the same ports (resilience tests);
- http(): one HTTP request, returns a Response (status, headers, body) where
  body is parsed JSON when the reply is JSON, else text;
- BlackboxTestCase: prints the logs of the processes involved when a test fails.

Everything started is stopped on the way out: by the tests' cleanups, and as
a safety net at interpreter exit (also after SIGTERM).
"""

import atexit
import http.client as httpclient
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

SERVICES = ("gateway", "scheduler", "dispatcher", "verifier")
ADDR_VARS = {
    "gateway": "ERRAND_HTTP_ADDR",
    "scheduler": "ERRAND_SCHEDULER_ADDR",
    "dispatcher": "ERRAND_DISPATCHER_ADDR",
    "verifier": "ERRAND_VERIFIER_ADDR",
}

# The encryption-at-rest key every Stack runs with unless a test sets its own.
STACK_SECRETS_KEY = "7e57" * 16

START_TIMEOUT = float(os.environ.get("ERRAND_TEST_START_TIMEOUT", "30"))
STOP_TIMEOUT = 20.0

_rng = random.SystemRandom()
_lock = threading.RLock()
_procs = []  # every Proc started, for the exit safety net and failure logs
_databases = []  # (admin_url, name) still to drop at exit
_private = []  # PrivateDatastores still to stop at exit
_tmpdirs = []  # directories to remove at exit
_shared = None  # (pg_admin_url, redis_url) once known


# ---------------------------------------------------------------- paths


def bin_dir():
    """The directory of the built programs.

    ERRAND_BIN_DIR may name the build directory or its bin/; without it,
    build/bin of the checkout.
    """
    candidates = []
    env = os.environ.get("ERRAND_BIN_DIR")
    if env:
        candidates += [env, os.path.join(env, "bin")]
    candidates.append(os.path.join(REPO, "build", "bin"))
    for d in candidates:
        if os.access(os.path.join(d, "errand-gateway"), os.X_OK):
            return d
    raise RuntimeError(
        "errand-gateway not found in %s: build first (cmake -S . -B build && "
        "cmake --build build) or set ERRAND_BIN_DIR" % ", ".join(candidates))


def binary(name):
    path = os.path.join(bin_dir(), name)
    if not os.access(path, os.X_OK):
        raise RuntimeError("%s is not built (looked in %s)" % (name, bin_dir()))
    return path


def datastores_script():
    path = os.environ.get("ERRAND_TEST_DATASTORES") or os.path.join(
        REPO, "deploy", "datastores")
    if not os.access(path, os.X_OK):
        raise RuntimeError("deploy/datastores not found at %s" % path)
    return path


def pg_tool(name):
    """A PostgreSQL client program (psql, pg_dump): PATH, then Debian's directories."""
    found = shutil.which(name)
    if found:
        return found
    dirs = sorted(
        (d for d in os.listdir("/usr/lib/postgresql") if d.isdigit()),
        key=int, reverse=True) if os.path.isdir("/usr/lib/postgresql") else []
    for d in dirs:
        p = os.path.join("/usr/lib/postgresql", d, "bin", name)
        if os.access(p, os.X_OK):
            return p
    raise RuntimeError("%s not found" % name)


def base_tmp():
    d = os.environ.get("ERRAND_TEST_TMP")
    if d and os.path.isdir(d):
        return d
    return tempfile.gettempdir()


def make_tmpdir(label):
    d = tempfile.mkdtemp(prefix="bb-%s-" % label, dir=base_tmp())
    with _lock:
        _tmpdirs.append(d)
    return d


_log_dir = None


def log_dir():
    global _log_dir
    with _lock:
        if _log_dir is None:
            _log_dir = make_tmpdir("logs")
        return _log_dir


def clean_env(extra=None):
    """The environment of a child: ours without any ERRAND_* variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERRAND_")}
    for k, v in (extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


# ---------------------------------------------------------------- waiting


class Abort(AssertionError):
    """Raised inside a wait_until() condition to fail at once (a process died)."""


def wait_until(fn, timeout, what, interval=0.1):
    """Calls fn() until it returns something true; returns it, or fails after `timeout` s.

    An exception from fn() counts as "not yet", except Abort, which fails at once.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
        except Abort:
            raise
        except Exception as e:  # noqa: BLE001 - a failed try is a "not yet"
            last = e
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.0f s waiting for %s (last: %r)"
                                 % (timeout, what, last))
        time.sleep(interval)


# ---------------------------------------------------------------- ports

_ports_given = set()


def free_port():
    """A TCP port on 127.0.0.1 that nothing uses, outside the ephemeral range when possible."""
    lo, hi = 0, 0
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        pass
    for tries in range(2000):
        p = _rng.randint(20000, 60000)
        if tries < 1000 and lo <= p <= hi:
            continue
        with _lock:
            if p in _ports_given:
                continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            s.close()
        with _lock:
            _ports_given.add(p)
        return p
    raise RuntimeError("found no free port")


# ---------------------------------------------------------------- HTTP


class Response:
    """status, headers (lower-case names), body (JSON value, or text), raw bytes."""

    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        self.text = raw.decode("utf-8", "replace")
        self.body = self.text
        self.json = None
        if "json" in headers.get("content-type", ""):
            try:
                self.json = json.loads(self.text)
                self.body = self.json
            except ValueError:
                pass

    def __iter__(self):
        return iter((self.status, self.headers, self.body))

    def __repr__(self):
        return "<%d %s>" % (self.status, self.text[:300])


def http(port, method, path, body=None, headers=None, timeout=10.0, host="127.0.0.1"):
    """One request on a new connection. body: dict/list (sent as JSON), str or bytes."""
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            data = body.encode()
            hdrs.setdefault("Content-Type", "application/json")
        else:
            data = body
            hdrs.setdefault("Content-Type", "application/json")
    conn = httpclient.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        headers_out = {}
        for k, v in resp.getheaders():
            headers_out[k.lower()] = v
        return Response(resp.status, headers_out, raw)
    finally:
        conn.close()


def bearer(key):
    return {"Authorization": "Bearer " + key}


def raw_http(port, request_bytes, timeout=30.0, host="127.0.0.1"):
    """Sends raw bytes, reads until the server closes. Returns (bytes, error or None)."""
    s = socket.create_connection((host, port), timeout=timeout)
    data = b""
    err = None
    try:
        s.sendall(request_bytes)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        err = e
    finally:
        s.close()
    return data, err


def parse_raw_response(data):
    """(status, headers, body) of one complete HTTP/1.x response with Content-Length, else None."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        return None
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" not in headers:
        return None
    if len(body) != int(headers["content-length"]):
        return None
    return int(m.group(1)), headers, body


# ---------------------------------------------------------------- Prometheus

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( \d+)?$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """[(name, {label: value}, float)] of a Prometheus text exposition; raises on a bad line."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError("not a Prometheus sample line: %r" % line)
        labels = dict(_LABEL.findall(m.group(3) or ""))
        out.append((m.group(1), labels, float(m.group(4))))
    return out


def metric_sum(text, name, **labels):
    total = 0.0
    for n, lab, v in parse_metrics(text):
        if n == name and all(lab.get(k) == val for k, val in labels.items()):
            total += v
    return total


# ---------------------------------------------------------------- PostgreSQL


def db_url(admin_url, dbname):
    u = urllib.parse.urlsplit(admin_url)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + dbname, u.query, u.fragment))


def psql(url, sql, check=True, timeout=60):
    """Runs `sql`; returns stdout (unaligned, tuples only) stripped."""
    r = subprocess.run(
        [pg_tool("psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
        env=clean_env({"PGCONNECT_TIMEOUT": "10"}))
    if check and r.returncode != 0:
        raise RuntimeError("psql failed (%d) on %r: %s" % (r.returncode, sql, r.stderr))
    return r.stdout.strip()


def sql_quote(s):
    return "'" + s.replace("'", "''") + "'"


class PsqlSession:
    """A psql session kept open (to hold a lock across steps). close() ends it."""

    def __init__(self, url):
        self.popen = subprocess.Popen(
            [pg_tool("psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", url],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=clean_env())
        self._n = 0

    def run(self, sql, timeout=30):
        """Sends `sql` (statements ending in ';') and waits until they are done.

        Returns the output lines they printed.
        """
        self._n += 1
        marker = "bb-done-%d" % self._n
        self.popen.stdin.write(sql.rstrip() + "\nSELECT '%s';\n" % marker)
        self.popen.stdin.flush()
        lines = []
        result = {}

        def read():
            for line in self.popen.stdout:
                line = line.rstrip("\n")
                if line == marker:
                    result["ok"] = True
                    return
                lines.append(line)
        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(timeout)
        if not result.get("ok"):
            raise AssertionError("psql did not finish %r within %d s (output %r)"
                                 % (sql, timeout, lines))
        return lines

    def close(self):
        p = self.popen
        if p.poll() is None:
            try:
                p.stdin.write("ROLLBACK;\n\\q\n")
                p.stdin.flush()
            except OSError:
                pass
        for f in (p.stdin,):
            try:
                f.close()
            except OSError:
                pass
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        for f in (p.stdout, p.stderr):
            try:
                f.close()
            except OSError:
                pass


class Database:
    """A database of its own in the cluster of `admin_url` (a superuser URL)."""

    def __init__(self, admin_url, label):
        self.admin_url = admin_url
        safe = re.sub(r"[^a-z0-9_]", "_", label.lower())
        self.name = "bb_%s_%d_%06x" % (safe, os.getpid(), _rng.getrandbits(24))
        psql(admin_url, 'CREATE DATABASE "%s"' % self.name)
        with _lock:
            _databases.append((admin_url, self.name))
        self.url = db_url(admin_url, self.name)

    def query(self, sql):
        return psql(self.url, sql)

    def scalar(self, sql):
        out = self.query(sql)
        return out.splitlines()[0] if out else ""

    def drop(self):
        _drop_database(self.admin_url, self.name)


def _drop_database(admin_url, name):
    with _lock:
        if (admin_url, name) not in _databases:
            return
        _databases.remove((admin_url, name))
    try:
        psql(admin_url, 'DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name, timeout=30)
    except Exception as e:  # noqa: BLE001 - cleanup goes on
        sys.stderr.write("harness: could not drop database %s: %s\n" % (name, e))


# ---------------------------------------------------------------- Redis


def redis_addr(url):
    u = urllib.parse.urlsplit(url)
    db = 0
    if u.path and u.path.strip("/"):
        db = int(u.path.strip("/"))
    return u.hostname or "127.0.0.1", u.port or 6379, db


def redis_command(url, *args, timeout=5.0):
    """Runs one command (after SELECT of the URL's db); returns the decoded reply."""
    host, port, db = redis_addr(url)
    with socket.create_connection((host, port), timeout=timeout) as s:
        f = s.makefile("rb")

        def send(*a):
            out = b"*%d\r\n" % len(a)
            for x in a:
                x = x if isinstance(x, bytes) else str(x).encode()
                out += b"$%d\r\n%s\r\n" % (len(x), x)
            s.sendall(out)
            return read()

        def read():
            line = f.readline()
            if not line:
                raise ConnectionError("redis closed the connection")
            kind, rest = line[:1], line[1:-2]
            if kind == b"+":
                return rest.decode()
            if kind == b"-":
                raise RuntimeError("redis: " + rest.decode())
            if kind == b":":
                return int(rest)
            if kind == b"$":
                n = int(rest)
                if n < 0:
                    return None
                data = f.read(n + 2)[:-2]
                return data.decode("utf-8", "replace")
            if kind == b"*":
                n = int(rest)
                return None if n < 0 else [read() for _ in range(n)]
            raise RuntimeError("redis: unexpected reply %r" % line)

        try:
            if db:
                send("SELECT", db)
            return send(*args)
        finally:
            f.close()


def redis_delete_prefix(url, prefix):
    """Deletes every key that starts with `prefix`; errors are reported, not raised."""
    try:
        cursor = "0"
        while True:
            cursor, keys = redis_command(url, "SCAN", cursor, "MATCH",
                                         _glob_escape(prefix) + "*", "COUNT", 1000)
            if keys:
                redis_command(url, "DEL", *keys)
            if cursor == "0":
                break
    except Exception as e:  # noqa: BLE001 - cleanup goes on
        sys.stderr.write("harness: could not clean Redis keys %s*: %s\n" % (prefix, e))


def _glob_escape(s):
    return re.sub(r"([*?\[\]\\])", r"\\\1", s)


# ---------------------------------------------------------------- datastores


class PrivateDatastores:
    """A PostgreSQL and a Redis of our own, via deploy/datastores, in a temporary directory.

    start_pg()/start_redis() pick free ports the first time and keep them, so a
    stop then a start brings the server back on the same port.
    """

    def __init__(self, label):
        self.dir = make_tmpdir(label)
        os.chmod(self.dir, 0o755)  # the postgres user must reach it when we are root
        self.pg_port = None
        self.redis_port = None
        self.pg_url = None  # superuser URL of database errand
        self.redis_url = None
        with _lock:
            _private.append(self)

    def _run(self, *args, timeout=120):
        r = subprocess.run([datastores_script()] + [str(a) for a in args],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout, env=clean_env())
        return r

    def start_pg(self):
        tries = 1 if self.pg_port else 3
        for i in range(tries):
            port = self.pg_port or free_port()
            r = self._run("start-pg", self.dir, port)
            if r.returncode == 0:
                self.pg_port = port
                self.pg_url = r.stdout.strip().splitlines()[-1]
                return self.pg_url
        raise RuntimeError("start-pg failed: %s" % r.stderr)

    def stop_pg(self):
        r = self._run("stop-pg", self.dir)
        if r.returncode != 0:
            raise RuntimeError("stop-pg failed: %s" % r.stderr)

    def start_redis(self):
        tries = 1 if self.redis_port else 3
        for i in range(tries):
            port = self.redis_port or free_port()
            r = self._run("start-redis", self.dir, port)
            if r.returncode == 0:
                self.redis_port = port
                self.redis_url = r.stdout.strip().splitlines()[-1]
                return self.redis_url
        raise RuntimeError("start-redis failed: %s" % r.stderr)

    def stop_redis(self):
        r = self._run("stop-redis", self.dir)
        if r.returncode != 0:
            raise RuntimeError("stop-redis failed: %s" % r.stderr)

    def redis_pid(self):
        """The PID of the Redis server we started (from its pid file), or None."""
        try:
            with open(os.path.join(self.dir, "redis.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def close(self):
        with _lock:
            if self not in _private:
                return
            _private.remove(self)
        for what in ("stop-redis", "stop-pg"):
            try:
                r = self._run(what, self.dir)
                if r.returncode != 0:
                    sys.stderr.write("harness: %s failed: %s\n" % (what, r.stderr))
            except Exception as e:  # noqa: BLE001 - cleanup goes on
                sys.stderr.write("harness: %s failed: %s\n" % (what, e))


def datastores():
    """(superuser PostgreSQL URL, Redis URL) shared by the suite (started here if needed)."""
    global _shared
    with _lock:
        if _shared:
            return _shared
        pg = os.environ.get("ERRAND_TEST_PG_URL")
        rd = os.environ.get("ERRAND_TEST_REDIS_URL")
        if pg and rd:
            _shared = (pg, rd)
            return _shared
        ds = PrivateDatastores("datastores")
        pg_url = ds.start_pg()
        rd_url = ds.start_redis()
        _shared = (db_url(pg_url, "postgres"), rd_url)
        return _shared


# ---------------------------------------------------------------- errandctl


def errandctl(database_url, redis_url, *args, env=None, timeout=60):
    """Runs errandctl ARGS; returns the CompletedProcess (text)."""
    e = {"ERRAND_DATABASE_URL": database_url, "ERRAND_REDIS_URL": redis_url}
    e.update(env or {})
    return subprocess.run([binary("errandctl")] + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout, env=clean_env(e))


def ctl_json(database_url, redis_url, *args, env=None, timeout=60):
    """Runs errandctl ARGS, checks exit status 0 and returns its JSON output."""
    r = errandctl(database_url, redis_url, *args, env=env, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("errandctl %s exited %d\nstdout: %s\nstderr: %s"
                             % (" ".join(args), r.returncode, r.stdout, r.stderr))
    lines = [x for x in r.stdout.splitlines() if x.strip()]
    if not lines:
        raise AssertionError("errandctl %s printed nothing; stderr: %s"
                             % (" ".join(args), r.stderr))
    try:
        return json.loads(lines[-1])
    except ValueError:
        raise AssertionError("errandctl %s printed no JSON: %r" % (" ".join(args), r.stdout))


# ---------------------------------------------------------------- processes


class Proc:
    """One running program: stderr into a log file, stdout into another."""

    def __init__(self, name, argv, env, port=None):
        self.name = name
        self.port = port
        self.argv = argv
        d = log_dir()
        n = 0
        while True:
            base = os.path.join(d, "%s-%d" % (name, n))
            if not os.path.exists(base + ".log"):
                break
            n += 1
        self.log_path = base + ".log"
        self.out_path = base + ".out"
        self._err = open(self.log_path, "wb")
        self._out = open(self.out_path, "wb")
        self.popen = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                      stdout=self._out, stderr=self._err)
        self.pid = self.popen.pid
        self.started = time.monotonic()
        self.stopped_logs = False
        with _lock:
            _procs.append(self)

    def alive(self):
        return self.popen.poll() is None

    def returncode(self):
        return self.popen.poll()

    def send_signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout):
        """The exit status, or None if still running after `timeout` s."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Sends `sig`, waits; SIGKILL after `timeout` s. Returns the exit status
        (negative: killed by a signal) and whether it had to be killed."""
        if not self.alive():
            self._close_files()
            return self.popen.returncode, False
        self.send_signal(sig)
        rc = self.wait(timeout)
        killed = False
        if rc is None:
            killed = True
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            rc = self.popen.wait()
        self._close_files()
        return rc, killed

    def _close_files(self):
        for f in (self._err, self._out):
            try:
                f.close()
            except OSError:
                pass

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_records(self):
        """The JSON objects of the log; a line that is not JSON becomes {"_raw": line}."""
        out = []
        for line in self.log().splitlines():
            if not line.strip():
                continue
            try:
                v = json.loads(line)
                out.append(v if isinstance(v, dict) else {"_raw": line})
            except ValueError:
                out.append({"_raw": line})
        return out

    def tail(self, n=60):
        lines = self.log().splitlines()
        return "\n".join(lines[-n:])

    def http(self, method, path, **kw):
        return http(self.port, method, path, **kw)

    def __repr__(self):
        return "<%s pid %d port %s>" % (self.name, self.pid, self.port)


def describe(proc, n=60):
    state = "running" if proc.alive() else "exited %s" % proc.returncode()
    return "---- %s (pid %d, %s), %s:\n%s\n---- end of %s" % (
        proc.name, proc.pid, state, proc.log_path, proc.tail(n), proc.name)


def start_service(kind, env, port=None, wait=True, extra_env=None):
    """Starts errand-<kind> with `env` (the ERRAND_* settings) on a free port.

    Waits for /healthz 200 when `wait`; the caller stops it (addCleanup).
    """
    port = port or free_port()
    e = dict(env)
    e[ADDR_VARS[kind]] = "127.0.0.1:%d" % port
    if kind != "gateway" and "ERRAND_HTTP_ADDR" not in e:
        # Every process reads the gateway's address (for its public URL); keep
        # the default 127.0.0.1:7800 out of the way of a stack a developer runs.
        e["ERRAND_HTTP_ADDR"] = "127.0.0.1:%d" % free_port()
    e.update(extra_env or {})
    p = Proc("errand-" + kind, [binary("errand-" + kind)], clean_env(e), port=port)
    if wait:
        try:
            wait_healthy(p)
        except BaseException:
            p.stop(signal.SIGKILL, timeout=5)
            raise
    return p


def wait_healthy(proc, timeout=START_TIMEOUT):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not proc.alive():
            raise AssertionError("%s exited with status %s before answering /healthz\n%s"
                                 % (proc.name, proc.returncode(), describe(proc)))
        try:
            r = http(proc.port, "GET", "/healthz", timeout=2)
            if r.status == 200:
                return r
            last = r
        except OSError as e:
            last = e
        time.sleep(0.05)
    raise AssertionError("%s did not answer /healthz 200 within %.0f s (last: %r)\n%s"
                         % (proc.name, timeout, last, describe(proc)))


def wait_ready(proc, timeout=START_TIMEOUT):
    def ready():
        if not proc.alive():
            raise Abort("%s exited with status %s\n%s"
                                 % (proc.name, proc.returncode(), describe(proc)))
        r = http(proc.port, "GET", "/readyz", timeout=3)
        return r if r.status == 200 else None
    try:
        return wait_until(ready, timeout, "%s /readyz 200" % proc.name)
    except Abort:
        raise
    except AssertionError as e:
        raise AssertionError("%s\n%s" % (e, describe(proc)))


# ---------------------------------------------------------------- a stack


class Stack:
    """A migrated database of its own plus errand processes on free ports.

    pg_admin_url/redis_url default to the shared datastores. Use:
        stack = Stack("health"); cls.addClassCleanup(stack.close); stack.start()
    """

    def __init__(self, label, services=SERVICES, pg_admin_url=None, redis_url=None,
                 database_url=None, extra_env=None, migrate=True):
        if pg_admin_url is None and database_url is None:
            pg_admin_url, shared_redis = datastores()
            redis_url = redis_url or shared_redis
        self.label = label
        self.services = tuple(services)
        self.pg_admin_url = pg_admin_url
        self.redis_url = redis_url
        self.db = None
        self.database_url = database_url
        self.migrate = migrate
        self.stream_prefix = "bbt:%s:%d:%06x:" % (label, os.getpid(), _rng.getrandbits(24))
        self.extra_env = dict(extra_env or {})
        self.procs = {}
        self.extra_procs = []
        self.migration = None

    @property
    def env(self):
        e = {
            "ERRAND_DATABASE_URL": self.database_url,
            "ERRAND_REDIS_URL": self.redis_url,
            "ERRAND_STREAM_PREFIX": self.stream_prefix,
            "ERRAND_LOG_LEVEL": "info",
            # runs' reply tokens are derived from it; the dispatcher needs it
            "ERRAND_SECRETS_KEY": STACK_SECRETS_KEY,
        }
        e.update(self.extra_env)
        return e

    def start(self):
        try:
            if self.database_url is None:
                self.db = Database(self.pg_admin_url, self.label)
                self.database_url = self.db.url
            if self.migrate:
                self.migration = ctl_json(self.database_url, self.redis_url, "migrate")
            for kind in self.services:
                self.procs[kind] = start_service(kind, self.env)
            for kind in self.services:
                wait_ready(self.procs[kind])
        except BaseException:
            for p in self.all_procs():
                sys.stderr.write(describe(p) + "\n")
            self.close()
            raise
        return self

    def start_extra(self, kind, extra_env=None, wait=True):
        """Another process on this stack's database (stopped by close())."""
        e = dict(self.env)
        e.update(extra_env or {})
        p = start_service(kind, e, wait=wait)
        self.extra_procs.append(p)
        return p

    def all_procs(self):
        return list(self.procs.values()) + list(self.extra_procs)

    def __getitem__(self, kind):
        return self.procs[kind]

    @property
    def gateway(self):
        return self.procs["gateway"]

    def ctl(self, *args):
        return errandctl(self.database_url, self.redis_url, *args)

    def ctl_json(self, *args):
        return ctl_json(self.database_url, self.redis_url, *args)

    def principal(self, role, name=None, capabilities=(), webhook_url=None):
        args = ["principal", "create", "--role", role, "--name",
                name or "%s-%06x" % (role, _rng.getrandbits(24))]
        for c in capabilities:
            args += ["--capability", c]
        if webhook_url:
            args += ["--webhook-url", webhook_url]
        return self.ctl_json(*args)

    def close(self):
        for p in self.all_procs():
            try:
                p.stop()
            except Exception as e:  # noqa: BLE001 - cleanup goes on
                sys.stderr.write("harness: stopping %r: %s\n" % (p, e))
        if self.db is not None:
            self.db.drop()
        if self.redis_url:
            redis_delete_prefix(self.redis_url, self.stream_prefix)


# ---------------------------------------------------------------- test case


class BlackboxTestCase(unittest.TestCase):
    """Prints the logs of the processes involved when a test fails or errs."""

    maxDiff = None

    def run(self, result=None):
        if result is None:
            result = self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        with _lock:
            mark = len(_procs)
        try:
            return super().run(result)
        finally:
            if len(result.failures) + len(result.errors) > before:
                with _lock:
                    mine = list(_procs[mark:])
                stack = getattr(type(self), "stack", None)
                if isinstance(stack, Stack):
                    mine = [p for p in stack.all_procs() if p not in mine] + mine
                if mine:
                    sys.stderr.write("\n==== logs of the processes of %s ====\n" % self.id())
                    for p in mine:
                        sys.stderr.write(describe(p) + "\n")

    def assertError(self, resp, status, code, msg=None):
        """resp is `status` with the envelope {"error": {"code": code, "message": str}}."""
        self.assertEqual(resp.status, status, msg or resp)
        self.assertIn("json", resp.headers.get("content-type", ""), resp)
        self.assertIsInstance(resp.json, dict, resp)
        err = resp.json.get("error")
        self.assertIsInstance(err, dict, resp)
        self.assertEqual(err.get("code"), code, resp)
        self.assertIsInstance(err.get("message"), str, resp)
        self.assertTrue(err["message"], resp)
        return err


# ---------------------------------------------------------------- at exit


def _cleanup_all():
    with _lock:
        procs = [p for p in _procs if p.alive()]
    for p in procs:
        try:
            p.stop(signal.SIGTERM, timeout=5)
        except Exception:  # noqa: BLE001
            pass
    for admin_url, name in list(_databases):
        _drop_database(admin_url, name)
    for ds in list(_private):
        ds.close()
    if os.environ.get("ERRAND_TEST_KEEP_LOGS"):
        sys.stderr.write("harness: logs kept in %s\n" % _log_dir)
    for d in list(_tmpdirs):
        if os.environ.get("ERRAND_TEST_KEEP_LOGS") and d == _log_dir:
            continue
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup_all)


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


if threading.current_thread() is threading.main_thread():
    try:
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):
        pass
