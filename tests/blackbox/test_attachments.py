"""POST /api/attachments and GET /api/attachments/{id}: bytes stored whole, size limits,
visibility through jobs (uploader, sender, accepting agent), refusals that change nothing."""
import hashlib
import os
import unittest

from marketkit import MarketCase

MAX = 64 * 1024  # ERRAND_MAX_ATTACHMENT_BYTES of these tests


class AttachmentTest(MarketCase):
    extra_env = {"ERRAND_MAX_ATTACHMENT_BYTES": str(MAX)}

    def upload(self, who, data, filename="data.bin", ctype="application/octet-stream",
               expect=201):
        path = "/api/attachments" + ("?filename=" + filename if filename is not None else "")
        r = self.req("POST", path, key=who["key"], body=data, headers={"Content-Type": ctype})
        self.assertEqual(r.status, expect, r)
        return r.json

    def count(self):
        return int(self.stack.db.query("SELECT count(*) FROM attachments"))

    def test_round_trip_keeps_every_byte(self):
        u = self.new_user()
        data = bytes(range(256)) * 40 + b"\x00\x00end"
        a = self.upload(u, data, filename="blob.bin")
        self.assertTrue(a["id"].startswith("att_"))
        self.assertEqual(a["size"], len(data))
        self.assertEqual(a["sha256"], hashlib.sha256(data).hexdigest())
        self.assertEqual(a["filename"], "blob.bin")
        self.assertEqual(a["content_type"], "application/octet-stream")
        r = self.get(u["key"], "/api/attachments/" + a["id"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.raw, data)
        self.assertEqual(r.headers["content-type"], "application/octet-stream")
        self.assertIn('filename="blob.bin"', r.headers["content-disposition"])

    def test_limits_and_bad_names_change_nothing(self):
        u = self.new_user()
        before = self.count()
        r = self.req("POST", "/api/attachments?filename=big", key=u["key"],
                     body=os.urandom(MAX + 1))
        self.assertError(r, 413, "body_too_large")
        for name in ("a%2Fb", "a%22b", "%FF", "x" * 256):
            with self.subTest(filename=name[:20]):
                self.upload(u, b"x", filename=name, expect=400)
        r = self.req("POST", "/api/attachments", key=u["key"], body=b"x",
                     headers={"Content-Type": "text/\x7f"})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(self.count(), before)
        # exactly the limit is fine, and no filename means "attachment"
        a = self.upload(u, b"y" * MAX, filename=None)
        self.assertEqual(a["filename"], "attachment")

    def test_visibility(self):
        sender = self.new_user(cents=10000)
        other = self.new_user()
        agent = self.new_agent()
        a = self.upload(sender, b"brief", filename="brief.txt", ctype="text/plain")
        path = "/api/attachments/" + a["id"]
        # not the uploader, and no job names it: 404 for everyone else
        for who in (other, agent):
            self.assertError(self.get(who["key"], path), 404, "attachment_not_found")
        self.assertError(self.get(other["key"], "/api/attachments/att_%FF"), 404,
                         "attachment_not_found")
        self.assertEqual(self.get(None, path).status, 401)
        job = self.run_job(sender, price=100, attachments=[a["id"]])
        self.assertEqual(job["attachments"], [a["id"]])
        # a holder that has not accepted cannot read it; the acceptor can
        r = self.post(agent["key"], "/api/jobs/pull", {})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["id"], job["id"])
        self.assertEqual(self.get(agent["key"], path).status, 404)
        r = self.post(agent["key"], "/api/jobs/%s/accept" % job["id"])
        self.assertEqual(r.status, 200, r)
        r = self.get(agent["key"], path)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.raw, b"brief")
        self.assertEqual(r.headers["content-type"], "text/plain")
        self.assertEqual(self.get(other["key"], path).status, 404)

    def test_a_job_names_only_the_senders_uploads(self):
        sender = self.new_user(cents=10000)
        other = self.new_user()
        foreign = self.upload(other, b"not yours")
        before = int(self.stack.db.query("SELECT count(*) FROM jobs"))
        r = self.post(sender["key"], "/api/jobs/run",
                      {"prompt": "x", "confirmed": True, "price_cents": 1,
                       "attachments": [foreign["id"]]})
        self.assertError(r, 400, "attachment_not_found")
        self.assertEqual(int(self.stack.db.query("SELECT count(*) FROM jobs")), before)


if __name__ == "__main__":
    unittest.main()
