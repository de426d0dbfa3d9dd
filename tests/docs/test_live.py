"""The docs checked against a running daemon: one cluster (aplus-sim + cashierd + webhook sink,
tests/e2e/harness.py) for the whole module. setUpClass drives three payments to SUCCESS, FAIL and
CANCELLED and records every answer on the way; the tests then check:

- real answers (201, 200, 202, 400, 401, 404, 405, 409, 415, admin 202/400/404/409) against
  the response schemas and headers of proto-docs/merchant-api.yaml;
- the standard-library verifier of proto-docs/merchant-webhooks.md, extracted from the
  Markdown, accepts every captured webhook (one of each type) and rejects tampered copies;
- the metrics reference of proto-docs/operations.md against a real /metrics scrape;
- the online backup of operations.md (`sqlite3 DB ".backup DEST"`) on the live database, the
  copy read with cashierctl;
- admin paths percent-decode ids: cashierctl (which percent-encodes) acts on an id with ':',
  and ids with '/' or control characters are a 400.
"""
import http.client
import json
import os
import re
import subprocess
import sys
import unittest

from docs_support import (CASHIERCTL, SOURCE, backticked, code_blocks, doc_text, load_openapi,
                          response_spec, schema_errors, table_under)

sys.path.insert(0, os.path.join(SOURCE, "tests", "e2e"))
import harness  # noqa: E402

OK_ID, FAIL_ID, CANCEL_ID = "docs-ok-1", "docs-fail-1", "docs:cancel.1"


def verifier_namespace():
    """Runs the stdlib verifier block of merchant-webhooks.md; its globals."""
    blocks = [b for b in code_blocks(doc_text("merchant-webhooks.md"), "python")
              if "def verify_webhook(" in b]
    assert len(blocks) == 1, "exactly one stdlib verifier block"
    namespace = {}
    exec(compile(blocks[0], "merchant-webhooks.md", "exec"), namespace)
    return namespace


class Live(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.doc = load_openapi()
        cls.answers = []  # (path template, method, status, headers, body)
        cls.c = harness.Cluster(time_scale=10, auto_pay_after="2s")
        try:
            cls.drive()
        except BaseException:
            cls.c.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.c.close()

    @classmethod
    def call(cls, template, method, path, body=None, token=harness.TOKEN, headers=None):
        status, answer_headers, raw = cls.c.exchange(method, path, body, token, headers)
        is_json = answer_headers.get("content-type", "").startswith("application/json")
        parsed = json.loads(raw) if raw and is_json else raw
        cls.answers.append((template, method, status, answer_headers, parsed))
        return status, parsed

    @classmethod
    def ops_call(cls, template, method, path, body=None, token=harness.ADMIN_TOKEN):
        """A request to the ops listener (/healthz, /readyz, /metrics, /admin/), recorded like call."""
        conn = http.client.HTTPConnection("127.0.0.1", cls.c.ops_port, timeout=30)
        h = {"Content-Type": "application/json"}
        if token:
            h["Authorization"] = "Bearer " + token
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        raw = r.read()
        answer_headers = {k.lower(): v for k, v in r.getheaders()}
        conn.close()
        is_json = answer_headers.get("content-type", "").startswith("application/json")
        parsed = json.loads(raw) if raw and is_json else raw
        cls.answers.append((template, method, r.status, answer_headers, parsed))
        return r.status, parsed

    @classmethod
    def create(cls, payment_request_id, description):
        body = {"paymentRequestId": payment_request_id,
                "order": {"referenceOrderId": "ord-" + payment_request_id, "orderDescription": description,
                          "orderAmount": {"currency": "USD", "value": "1000"},
                          "merchant": harness.MERCHANT,  # the configured record (issue 14)
                          "env": {"terminalType": "WEB"}},
                "paymentAmount": {"currency": "USD", "value": "1000"},
                "paymentRedirectUrl": "https://shop.example.com/done"}
        return body, cls.call("/v1/payments", "POST", "/v1/payments", body)

    @classmethod
    def ctl(cls, *args):
        return subprocess.run([CASHIERCTL, "--config", cls.c.config_path]
                              + list(args), capture_output=True, text=True, timeout=60)

    @classmethod
    def drive(cls):
        c, one = cls.c, "/v1/payments/{paymentRequestId}"
        ok_body, (status, _) = cls.create(OK_ID, "docs order")
        assert status == 201, status
        cls.create(FAIL_ID, "docs order [sim:payer-fail]")
        cls.create(CANCEL_ID, "docs order [sim:payer-abandon]")
        cls.call("/v1/payments", "POST", "/v1/payments", ok_body)  # idempotent repeat: 200
        cls.call("/v1/payments", "POST", "/v1/payments", dict(ok_body, paymentRedirectUrl="https://x.example/"))
        cls.call("/v1/payments", "POST", "/v1/payments",
                 {"paymentRequestId": "a/b", "paymentAmount": {"currency": "usd", "value": "1"}, "x": 1})
        cls.call("/v1/payments", "POST", "/v1/payments", "{}", headers={"Content-Type": "text/plain"})
        cls.call("/v1/payments", "POST", "/v1/payments", {}, token=None)
        cls.call("/v1/payments", "POST", "/v1/payments", {}, token="not-a-known-token-at-all")
        cls.call("/v1/payments", "PUT", "/v1/payments", "{}")
        cls.call(one, "GET", "/v1/payments/nobody-has-this")
        cls.call(one, "GET", "/v1/payments/%s?events=maybe" % OK_ID)
        cls.call(one, "GET", "/v1/payments/a%2Fb")
        c.wait_status(OK_ID, "SUCCESS")
        c.wait_status(FAIL_ID, "FAIL")
        cls.call(one, "GET", "/v1/payments/" + OK_ID)
        cls.call(one, "GET", "/v1/payments/%s?events=true" % OK_ID)
        cls.call(one + "/cancel", "POST", "/v1/payments/%s/cancel" % FAIL_ID, {})
        cls.call("/v1/events", "GET", "/v1/events?limit=2")
        cls.call("/v1/events", "GET", "/v1/events?limit=0")
        # The id with ':' travels percent-encoded (cashierctl encodes everything but unreserved).
        admin = "/admin/payments/{paymentRequestId}"
        cls.ops_call(admin + "/inquire", "POST", "/admin/payments/docs%3Acancel.1/inquire", "{}")
        cls.inquire = cls.ctl("inquire", CANCEL_ID)
        cls.call(one + "/cancel", "POST", "/v1/payments/docs%3Acancel.1/cancel", {"reason": "docs test"})
        c.wait_status(CANCEL_ID, "CANCELLED")
        harness.wait_until(lambda: len(c.sink.events) >= 3, 30, "three webhooks")
        harness.wait_until(lambda: (c.sim_truth(OK_ID) or {}).get("notify", {}).get("state") == "acked",
                           30, "the notify of %s acked" % OK_ID)
        cls.ops_call(admin + "/inquire", "POST", "/admin/payments/docs%3acancel.1/inquire", "{}")
        cls.ops_call(admin + "/cancel", "POST", "/admin/payments/%s/cancel" % FAIL_ID, "{}")
        for bad in ("a%2Fb", "a%00b", "a%0D%0Ab", "a%zz"):
            cls.ops_call(admin + "/cancel", "POST", "/admin/payments/%s/cancel" % bad, "{}")
        cls.ops_call(admin + "/inquire", "POST", "/admin/payments/nobody-has-this/inquire", "{}")
        cls.ops_call("/admin/events/{eventId}/redeliver", "POST", "/admin/events/evt_999_9/redeliver", "{}")
        cls.ops_call(admin + "/cancel", "POST", "/admin/payments/%s/cancel" % OK_ID, "{}", token=None)
        cls.ops_call(admin + "/cancel", "POST", "/admin/payments/%s/cancel" % OK_ID, "{}", token="wrong-token-0123456789")
        cls.ops_call("/healthz", "GET", "/healthz", token=None)
        cls.ops_call("/readyz", "GET", "/readyz", token=None)
        cls.ops_call("/healthz", "POST", "/healthz", "{}", token=None)

    def test_answers_match_the_documented_schemas(self):
        seen = set()
        for template, method, status, headers, body in self.answers:
            with self.subTest(method=method, path=template, status=status):
                documented = [m for m in self.doc["paths"][template] if m in ("get", "post")]
                if status == 405:  # the method is not documented for the path, by definition
                    self.assertNotIn(method.lower(), documented)
                    method = documented[0]
                spec = response_spec(self.doc, template, method, status)
                for name in spec.get("headers", {}):
                    self.assertIn(name.lower(), headers)
                media = headers.get("content-type", "").split(";")[0]
                self.assertIn(media, spec.get("content", {}))
                schema = spec["content"][media]["schema"]
                self.assertEqual(schema_errors(self.doc, schema, body), [], json.dumps(body)[:400])
                seen.add(status)
        self.assertTrue({200, 201, 202, 400, 401, 404, 405, 409, 415} <= seen, seen)

    def test_the_schema_checker_is_not_blind(self):
        payment = next(b for t, m, s, h, b in self.answers if s == 201)
        schema = response_spec(self.doc, "/v1/payments", "POST", 201)["content"]["application/json"]["schema"]
        self.assertNotEqual(schema_errors(self.doc, schema, dict(payment, extra=1)), [])
        self.assertNotEqual(schema_errors(self.doc, schema, dict(payment, status="PAID")), [])
        broken = {k: v for k, v in payment.items() if k != "createdAt"}
        self.assertNotEqual(schema_errors(self.doc, schema, broken), [])

    def test_webhooks_verify_with_the_documented_stdlib_verifier(self):
        ns = verifier_namespace()
        verify, error = ns["verify_webhook"], ns["WebhookVerificationError"]
        events = list(self.c.sink.events)
        self.assertEqual({e["body"]["type"] for e in events},
                         {"payment.succeeded", "payment.failed", "payment.cancelled"})
        schema = {"$ref": "#/components/schemas/WebhookEvent"}
        for e in events:
            headers, raw, ts = e["headers"], e["raw"], int(e["timestamp"])
            self.assertEqual(schema_errors(self.doc, schema, e["body"]), [])
            self.assertEqual(verify(harness.SECRET, headers, raw, now=ts + 10), e["body"])
            rotated = dict(headers, **{"webhook-signature": "v1,AAAA " + headers["webhook-signature"]})
            self.assertEqual(verify(harness.SECRET, rotated, raw, now=ts), e["body"])
            tampered = [
                (harness.SECRET, headers, raw.replace(b'"value":"1000"', b'"value":"9000"'), ts),
                (harness.SECRET, dict(headers, **{"webhook-id": "evt_0_1"}), raw, ts),
                (harness.SECRET, dict(headers, **{"webhook-timestamp": str(ts + 1)}), raw, ts),
                ("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=", headers, raw, ts),
                (harness.SECRET, headers, raw, ts + 3600),
                (harness.SECRET, {k: v for k, v in headers.items() if k.lower() != "webhook-signature"}, raw, ts),
            ]
            self.assertNotEqual(tampered[0][2], raw)
            for secret, h, body, now in tampered:
                with self.assertRaises(error):
                    verify(secret, h, body, now=now)

    def test_cashierctl_actions_reach_ids_that_need_percent_encoding(self):
        self.assertEqual(self.inquire.returncode, 0, self.inquire.stderr)
        self.assertIn("inquire of %s accepted" % CANCEL_ID, self.inquire.stdout)
        codes = [(t, s, b["error"]["code"] if s >= 400 else b["paymentRequestId"])
                 for t, m, s, h, b in self.answers if t.startswith("/admin/")]
        inquire, cancel = "/admin/payments/{paymentRequestId}/inquire", "/admin/payments/{paymentRequestId}/cancel"
        self.assertIn((inquire, 202, CANCEL_ID), codes)
        self.assertIn((inquire, 409, "PAYMENT_FINAL"), codes)
        self.assertIn((cancel, 409, "PAYMENT_FINAL"), codes)
        self.assertEqual(sum(1 for t, s, code in codes if s == 400 and code == "INVALID_REQUEST"), 4)
        event = next(e for e in self.c.sink.events if e["body"]["type"] == "payment.succeeded")
        before = len(self.c.sink.for_payment(OK_ID))
        r = self.ctl("redeliver", event["id"])
        self.assertEqual(r.returncode, 0, r.stderr)
        harness.wait_until(lambda: len(self.c.sink.for_payment(OK_ID)) > before, 30, "the redelivery")
        again = self.c.sink.for_payment(OK_ID)[-1]
        self.assertEqual((again["id"], again["raw"]), (event["id"], event["raw"]))

    def scrape(self):
        """The metric families of a /metrics scrape: {name: (type, label names seen)}."""
        text = self.c.metrics()
        kinds = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, flags=re.M))
        labels = {name: set() for name in kinds}
        for name, label_text in re.findall(r"^([a-z_:]+)(?:\{([^}]*)\})? \S+$", text, flags=re.M):
            family = name if name in kinds else re.sub(r"_(bucket|sum|count)$", "", name)
            self.assertIn(family, kinds, name)
            labels[family] |= set(re.findall(r'(\w+)="', label_text or "")) - {"le"}
        return {name: (kind, labels[name]) for name, kind in kinds.items()}

    def test_metrics_reference_matches_a_scrape(self):
        rows = table_under(doc_text("operations.md"), "Metrics")
        self.assertEqual(rows[0], ["metric", "type", "labels", "meaning"])
        documented = {backticked(r[0])[0]: (r[1], set(backticked(r[2]))) for r in rows[1:]}
        # Labelled series appear with their first observation (e.g. a webhook attempt's commit).
        def complete():
            s = self.scrape()
            return s if all(s.get(n, ("", set()))[1] for n, (_, ls) in documented.items() if ls) else None
        scraped = harness.wait_until(complete, 30, "a labelled series of every documented metric")
        kinds = {name: kind for name, (kind, _) in scraped.items()}
        self.assertEqual(sorted(set(kinds) - set(documented)), [], "scraped but not documented")
        self.assertEqual(sorted(set(documented) - set(kinds)), [], "documented but not scraped")
        for name, (kind, names) in documented.items():
            self.assertEqual((kind, names), scraped[name], name)

    def test_online_backup_opens_with_cashierctl(self):
        dest = os.path.join(self.c.dir, "backup.db")
        subprocess.run(["sqlite3", self.c.database, ".backup " + dest], check=True, timeout=60)
        integrity = subprocess.run(["sqlite3", dest, "PRAGMA integrity_check"], capture_output=True,
                                   text=True, check=True, timeout=60)
        self.assertEqual(integrity.stdout.strip(), "ok")
        r = subprocess.run([CASHIERCTL, "--db", dest, "--json", "show", OK_ID], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        shown = json.loads(r.stdout)
        self.assertEqual(shown["payment"]["status"], "SUCCESS")
        self.assertEqual(shown["payment"], self.c.get(OK_ID)[1])
        stats = json.loads(subprocess.run([CASHIERCTL, "--db", dest, "--json", "stats"], capture_output=True,
                                          text=True, check=True, timeout=60).stdout)
        self.assertEqual(stats["payments"]["total"], 3)


if __name__ == "__main__":
    unittest.main()
