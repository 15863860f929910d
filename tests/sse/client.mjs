// The Server-Sent Events client of errand's black-box tests: a real
// EventSource (the `eventsource` package, a WHATWG implementation) reading
// a job's verification log.
//
//   SSE_BEARER=KEY node client.mjs URL [TIMEOUT_SECONDS]
//
// The EventSource does everything by itself: it honours `retry:`, follows
// `id:` and sends Last-Event-ID when it reconnects, reconnects when a stream
// ends, and stops for good on 204 (or any other non-200). The only help it
// gets is the Authorization header (a custom fetch) and the test's "drop"
// command below.
//
// Reports, one JSON object per line on stdout:
//   {"type": "request", "n", "last_event_id"}       connection n starts
//   {"type": "response", "n", "status", "headers"}
//   {"type": "open", "n"}
//   {"type": "event", "n", "event", "id", "data"}   data parsed as JSON when it is JSON
//   {"type": "error", "n", "code", "message", "ready_state"}
//   {"type": "dropped", "n"}
//   {"type": "closed", "reason"}                    the EventSource is CLOSED; exit 0
// Commands, one a line on stdin:
//   drop    the current connection fails as a network error would: its
//           socket is closed and the EventSource reconnects by itself
//   close   closes the EventSource and exits
// After TIMEOUT_SECONDS (default 90) it reports {"type": "closed", "reason":
// "timeout"} and exits 3. SIGTERM: exits at once.

import readline from "node:readline";
import { EventSource } from "eventsource";

const url = process.argv[2];
const timeoutS = Number.parseFloat(process.argv[3] ?? "90");
const bearer = process.env.SSE_BEARER ?? "";
if (!url) {
  process.stderr.write("usage: SSE_BEARER=KEY node client.mjs URL [TIMEOUT_SECONDS]\n");
  process.exit(2);
}

function report(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

let n = 0; // connections made
let current = null; // {n, drop()} of the open connection

// fetch with the bearer, whose body the test can make fail ("drop").
async function authFetch(input, init) {
  n += 1;
  const conn = n;
  const headers = { ...(init?.headers ?? {}), Authorization: `Bearer ${bearer}` };
  report({ type: "request", n: conn, last_event_id: headers["Last-Event-ID"] ?? null });
  const abort = new AbortController();
  init?.signal?.addEventListener("abort", () => abort.abort());
  const res = await fetch(input, { ...init, headers, signal: abort.signal });
  report({
    type: "response",
    n: conn,
    status: res.status,
    headers: Object.fromEntries(res.headers.entries()),
  });
  if (!res.body || res.status !== 200) {
    return res;
  }
  const reader = res.body.getReader();
  let controller;
  const body = new ReadableStream({
    start(c) {
      controller = c;
    },
    async pull(c) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          c.close();
        } else {
          c.enqueue(value);
        }
      } catch (err) {
        c.error(err);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  current = {
    n: conn,
    drop() {
      // an error that is no AbortError: the EventSource takes it for a lost
      // connection and reconnects after its retry interval
      const err = new Error("connection dropped by the test");
      err.name = "NetworkError";
      controller.error(err);
      abort.abort();
      report({ type: "dropped", n: conn });
    },
  };
  return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
}

const es = new EventSource(url, { fetch: authFetch });

function finish(reason, code) {
  report({ type: "closed", reason });
  es.close();
  process.exit(code);
}

function onEvent(e) {
  let data = e.data;
  try {
    data = JSON.parse(e.data);
  } catch {
    // not JSON: kept as text
  }
  report({ type: "event", n, event: e.type, id: e.lastEventId, data });
}

es.addEventListener("log", onEvent);
es.addEventListener("verdict", onEvent);
es.addEventListener("message", onEvent);
es.addEventListener("open", () => report({ type: "open", n }));
es.addEventListener("error", (e) => {
  report({
    type: "error",
    n,
    code: e.code ?? null,
    message: e.message ?? null,
    ready_state: es.readyState,
  });
  if (es.readyState === EventSource.CLOSED) {
    finish(e.code === 204 ? "204" : "failed", 0);
  }
});

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const cmd = line.trim();
  if (cmd === "drop") {
    if (current) {
      const c = current;
      current = null;
      c.drop();
    } else {
      report({ type: "error", n, code: null, message: "drop: no open connection", ready_state: es.readyState });
    }
  } else if (cmd === "close") {
    finish("close", 0);
  }
});

setTimeout(() => finish("timeout", 3), timeoutS * 1000).unref();
// keep running while the EventSource waits to reconnect
const keep = setInterval(() => {}, 1000);
process.on("SIGTERM", () => {
  clearInterval(keep);
  es.close();
  process.exit(143);
});
