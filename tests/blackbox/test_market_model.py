"""POST /api/jobs/run with ERRAND_LLM_URL: a fake chat-completions server structures the
prompt; a model that fails, answers garbage or is down falls back to the built-in rule."""
import http.server
import json
import socket
import threading
import unittest

from marketkit import MarketCase


class FakeModel(http.server.ThreadingHTTPServer):
    """A chat-completions endpoint whose answer the test sets (`mode`)."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ModelHandler)
        self.mode = "good"
        self.requests = []


class ModelHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((dict(self.headers), body))
        mode = self.server.mode
        if mode == "error":
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        content = {
            "good": json.dumps({"title": "Model Title", "description": "model description",
                                "requirements": "- one\n- two", "estimated_price_cents": 1234,
                                "estimated_time_limit_seconds": 777}),
            "garbage": "I would rather not.",
            "out_of_range": json.dumps({"title": "T", "description": "d", "requirements": "r",
                                        "estimated_price_cents": -5,
                                        "estimated_time_limit_seconds": 10}),
        }[mode]
        out = json.dumps({"choices": [{"message": {"role": "assistant",
                                                   "content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_model = FakeModel()
threading.Thread(target=_model.serve_forever, daemon=True).start()

PROMPT = "Research the history of the Unix operating system"
BUILTIN = {"title": "Research The History Of The Unix Operating System",
           "estimated_price_cents": 500, "estimated_time_limit_seconds": 3600}


class ModelStructurerTest(MarketCase):
    extra_env = {
        "ERRAND_LLM_URL": "http://127.0.0.1:%d/v1/chat/completions" % _model.server_address[1],
        "ERRAND_LLM_MODEL": "test-model",
        "ERRAND_LLM_API_KEY": "sk-test-key",
        "ERRAND_LLM_TIMEOUT_MS": "2000",
    }

    def estimate(self, user):
        r = self.post(user["key"], "/api/jobs/run", {"prompt": PROMPT})
        self.assertEqual(r.status, 200, r)
        return r.json

    def test_model_answer_is_used(self):
        _model.mode = "good"
        before = len(_model.requests)
        u = self.new_user(cents=10000)
        e = self.estimate(u)
        self.assertEqual(e["title"], "Model Title")
        self.assertEqual(e["requirements"], "- one\n- two")
        self.assertEqual(e["estimated_price_cents"], 1234)
        self.assertEqual(e["estimated_time_limit_seconds"], 777)
        headers, body = _model.requests[before]
        self.assertEqual(body["model"], "test-model")
        self.assertEqual(body["messages"][-1]["content"], PROMPT)
        self.assertEqual(headers.get("Authorization"), "Bearer sk-test-key")
        # phase 2 structures it the same way and holds the model's price
        r = self.post(u["key"], "/api/jobs/run", {"prompt": PROMPT, "confirmed": True})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["title"], "Model Title")
        self.assertEqual(r.json["price_cents"], 1234)
        self.assertEqual(self.wallet(u)["held_cents"], 1234)

    def test_failures_fall_back_to_the_builtin_rule(self):
        u = self.new_user()
        for mode in ("garbage", "error", "out_of_range"):
            with self.subTest(mode=mode):
                _model.mode = mode
                e = self.estimate(u)
                for k, v in BUILTIN.items():
                    self.assertEqual(e[k], v, e)
        _model.mode = "good"


class ModelDownTest(MarketCase):
    extra_env = {
        "ERRAND_LLM_URL": "http://127.0.0.1:%d/v1/chat/completions" % _free_port(),
        "ERRAND_LLM_TIMEOUT_MS": "1000",
    }

    def test_unreachable_model_falls_back(self):
        u = self.new_user()
        r = self.post(u["key"], "/api/jobs/run", {"prompt": PROMPT})
        self.assertEqual(r.status, 200, r)
        for k, v in BUILTIN.items():
            self.assertEqual(r.json[k], v, r.json)


if __name__ == "__main__":
    unittest.main()
