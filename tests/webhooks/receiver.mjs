// The webhook receiver of errand's black-box tests.
//
//   node receiver.mjs PORT
//
// Listens on 127.0.0.1:PORT. Every POST to /hook/NAME is recorded as it
// arrived (headers, raw body, time) and answered as endpoint NAME's steps
// say. Signatures are checked with the `standardwebhooks` package, the
// reference implementation of the Standard Webhooks specification, against
// every secret registered for the endpoint, never with errand's own code.
//
// Control API (JSON), used by tests/blackbox/pushkit.py:
//   GET  /_control/health                    -> {ok: true, pid}
//   PUT  /_control/endpoints/NAME            {steps?, secrets?} -> {name, steps, secrets}
//        steps: a list; request i of the endpoint is answered by steps[i], the
//        last step answering every request after the list. A step:
//          {status: 200, headers?: {...}, body?: "...", delay_ms?: n}
//          {hang: true}         never answers (the sender's timeout ends it)
//          {hang_ms: n, status} answers after n ms (a sender may die meanwhile)
//        secrets: the whsec_ secrets to check signatures with (replaces the list).
//   POST /_control/endpoints/NAME/secrets    {secret} -> adds one secret
//   GET  /_control/endpoints/NAME/requests   -> {data: [request...]}
//   GET  /_control/requests                  -> every endpoint's requests
//
// A request as read back:
//   {seq, endpoint, method, path, received_at_ms, headers, body, json,
//    webhook_id, webhook_timestamp, signatures: ["v1,…"],
//    verified: bool (some secret verified it), verified_by: [bool per secret],
//    verify_errors: [message or null per secret], answered: status or null}
// Verification runs when the requests are read, with the secrets registered
// then (an observer's secret is known only once its job is created), and
// compares the timestamp with the time of arrival, not of reading.
//
// SIGTERM or SIGINT: closes every connection (also the hanging ones) and exits 0.

import http from "node:http";
import { Webhook } from "standardwebhooks";

const port = Number.parseInt(process.argv[2] ?? process.env.RECEIVER_PORT ?? "", 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write("usage: node receiver.mjs PORT\n");
  process.exit(2);
}

const MAX_BODY = 8 * 1024 * 1024;
const endpoints = new Map(); // name -> {steps, secrets, count}
const requests = []; // every request to /hook/*, in order of arrival
const sockets = new Set();
const timers = new Set();

function endpoint(name) {
  let e = endpoints.get(name);
  if (!e) {
    e = { steps: [{ status: 200 }], secrets: [], count: 0 };
    endpoints.set(name, e);
  }
  return e;
}

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error("body too large"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

// Checks one recorded request against every secret of its endpoint, as the
// reference implementation does, with the clock set to its arrival.
function verify(r) {
  const e = endpoint(r.endpoint);
  const verifiedBy = [];
  const errors = [];
  const realNow = Date.now;
  for (const secret of e.secrets) {
    try {
      Date.now = () => r.received_at_ms;
      new Webhook(secret).verify(r.body, r.headers);
      verifiedBy.push(true);
      errors.push(null);
    } catch (err) {
      verifiedBy.push(false);
      errors.push(String(err && err.message ? err.message : err));
    } finally {
      Date.now = realNow;
    }
  }
  let json = null;
  try {
    json = JSON.parse(r.body);
  } catch {
    json = null;
  }
  const sig = r.headers["webhook-signature"];
  return {
    seq: r.seq,
    endpoint: r.endpoint,
    method: r.method,
    path: r.path,
    received_at_ms: r.received_at_ms,
    headers: r.headers,
    body: r.body,
    json,
    webhook_id: r.headers["webhook-id"] ?? null,
    webhook_timestamp: r.headers["webhook-timestamp"] ?? null,
    signatures: typeof sig === "string" ? sig.split(" ").filter((s) => s.length > 0) : [],
    verified: verifiedBy.some((v) => v),
    verified_by: verifiedBy,
    verify_errors: errors,
    answered: r.answered,
  };
}

function later(ms, fn) {
  const t = setTimeout(() => {
    timers.delete(t);
    fn();
  }, ms);
  timers.add(t);
}

function answer(res, step, record) {
  if (step.hang) {
    record.answered = null; // never: the connection stays open until the sender gives up
    return;
  }
  const respond = () => {
    if (res.destroyed || res.writableEnded) return;
    const status = step.status ?? 200;
    const body = step.body ?? JSON.stringify({ ok: status >= 200 && status < 300 });
    const headers = { "content-type": "application/json", ...(step.headers ?? {}) };
    headers["content-length"] = Buffer.byteLength(body);
    record.answered = status;
    res.writeHead(status, headers);
    res.end(body);
  };
  const delay = step.hang_ms ?? step.delay_ms ?? 0;
  if (delay > 0) later(delay, respond);
  else respond();
}

async function onHook(req, res, name) {
  const receivedAt = Date.now();
  let body;
  try {
    body = await readBody(req);
  } catch {
    return;
  }
  const e = endpoint(name);
  const headers = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = v;
  const record = {
    seq: requests.length + 1,
    endpoint: name,
    method: req.method,
    path: req.url,
    received_at_ms: receivedAt,
    headers,
    body: body.toString("utf8"),
    answered: undefined,
  };
  requests.push(record);
  const i = e.count++;
  const step = e.steps.length ? e.steps[Math.min(i, e.steps.length - 1)] : { status: 200 };
  answer(res, step, record);
}

async function onControl(req, res, path) {
  if (req.method === "GET" && path === "/_control/health") {
    sendJson(res, 200, { ok: true, pid: process.pid });
    return;
  }
  if (req.method === "GET" && path === "/_control/requests") {
    sendJson(res, 200, { data: requests.map(verify) });
    return;
  }
  const m = /^\/_control\/endpoints\/([A-Za-z0-9_.-]+)(\/secrets|\/requests)?$/.exec(path);
  if (!m) {
    sendJson(res, 404, { error: "no such control route" });
    return;
  }
  const name = m[1];
  const sub = m[2] ?? "";
  if (req.method === "GET" && sub === "/requests") {
    sendJson(res, 200, { data: requests.filter((r) => r.endpoint === name).map(verify) });
    return;
  }
  let input;
  try {
    const raw = await readBody(req);
    input = raw.length ? JSON.parse(raw.toString("utf8")) : {};
  } catch (err) {
    sendJson(res, 400, { error: "bad JSON: " + err.message });
    return;
  }
  const e = endpoint(name);
  if (req.method === "PUT" && sub === "") {
    if (input.steps !== undefined) {
      if (!Array.isArray(input.steps) || input.steps.length === 0) {
        sendJson(res, 400, { error: "steps: expected a non-empty list" });
        return;
      }
      e.steps = input.steps;
      e.count = 0;
    }
    if (input.secrets !== undefined) {
      if (!Array.isArray(input.secrets)) {
        sendJson(res, 400, { error: "secrets: expected a list" });
        return;
      }
      e.secrets = input.secrets.slice();
    }
    sendJson(res, 200, { name, steps: e.steps, secrets: e.secrets });
    return;
  }
  if (req.method === "POST" && sub === "/secrets") {
    if (typeof input.secret !== "string") {
      sendJson(res, 400, { error: "secret: expected a string" });
      return;
    }
    e.secrets.push(input.secret);
    sendJson(res, 200, { name, steps: e.steps, secrets: e.secrets });
    return;
  }
  sendJson(res, 405, { error: "method not allowed" });
}

const server = http.createServer((req, res) => {
  const path = (req.url ?? "/").split("?")[0];
  const hook = /^\/hook\/([A-Za-z0-9_.-]+)$/.exec(path);
  const work = hook && req.method === "POST"
    ? onHook(req, res, hook[1])
    : path.startsWith("/_control/")
    ? onControl(req, res, path)
    : Promise.resolve(sendJson(res, 404, { error: "not found" }));
  work.catch((err) => {
    process.stderr.write(`receiver: ${err && err.stack ? err.stack : err}\n`);
    if (!res.headersSent) sendJson(res, 500, { error: String(err) });
  });
});
server.keepAliveTimeout = 60000;
server.requestTimeout = 0; // a hanging step must not be ended by the receiver itself
server.headersTimeout = 60000;
server.on("connection", (s) => {
  sockets.add(s);
  s.on("close", () => sockets.delete(s));
});

function shutdown() {
  for (const t of timers) clearTimeout(t);
  server.close(() => process.exit(0));
  for (const s of sockets) s.destroy();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);

server.listen(port, "127.0.0.1", () => {
  process.stdout.write(`listening on 127.0.0.1:${port} pid ${process.pid}\n`);
});
