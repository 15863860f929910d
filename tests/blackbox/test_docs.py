"""The documentation stays true to the build: every setting is documented with its default."""
import json
import os
import re
import subprocess
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("ERRAND_BIN_DIR", os.path.join(ROOT, "build", "bin"))


class SettingsDocumented(unittest.TestCase):
    def test_every_setting_is_in_configuration_md(self):
        out = subprocess.run([os.path.join(BIN, "errandctl"), "settings"],
                             check=True, capture_output=True, text=True).stdout
        table = json.loads(out)
        self.assertGreater(len(table), 20)
        with open(os.path.join(ROOT, "docs", "configuration.md")) as f:
            rows = {line.split("|")[1].strip().strip("`"): line
                    for line in f if line.startswith("| `ERRAND_")}
        for var in table:
            self.assertIn(var["name"], rows, f"{var['name']} missing from docs/configuration.md")
            row = rows[var["name"]]
            if var["required"]:
                self.assertIn("required", row)
            elif var["default"] is not None:
                self.assertIn(f"`{var['default']}`", row, f"{var['name']}: default not documented")

    def test_every_route_is_in_the_api_reference(self):
        with open(os.path.join(ROOT, "docs", "api.md")) as f:
            api = f.read()
        with open(os.path.join(ROOT, "docs", "openapi.yaml")) as f:
            openapi = f.read()
        routes = []
        sources = [os.path.join("gateway", n) for n in os.listdir(os.path.join(ROOT, "gateway"))
                   if n.endswith(".c")] + ["shared/service.c"]
        # http_route(http, "GET", "/path", …) calls and {"GET", "/path", handler} tables
        pattern = re.compile(r'"(GET|POST|PUT|PATCH|DELETE)",\s*"(/[^"]*)"')
        for src in sources:
            with open(os.path.join(ROOT, src)) as f:
                routes.extend(pattern.findall(f.read()))
        self.assertGreaterEqual(len(routes), 6)
        for method, path in routes:
            doc_path = "/".join("{%s}" % seg[1:] if seg.startswith(":") else seg
                                for seg in path.split("/"))
            self.assertTrue(f"`{method} {doc_path}`" in api, f"{method} {path} not in docs/api.md")
            self.assertTrue(f"{doc_path}:" in openapi, f"{path} not in docs/openapi.yaml")


if __name__ == "__main__":
    unittest.main()
