"""End-to-end tests (issue 4): real cashierd and aplus-sim processes over HTTPS on loopback."""
import base64
import concurrent.futures
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest
import http.client
from datetime import datetime, timedelta, timezone

from harness import BUILD, MERCHANT, Cluster, ClusterTest, SECRET, CLIENT_ID, wait_until


def sign_openssl(key_path, content):
    with tempfile.NamedTemporaryFile() as f:
        f.write(content.encode())
        f.flush()
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key_path, f.name], check=True,
                             capture_output=True).stdout
    return base64.b64encode(sig).decode()


def pct(b64):
    return b64.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")


class HappyPath(ClusterTest):
    cluster_args = {"auto_pay_after": "1s"}

    def test_payment_reaches_success_and_merchant_is_told_once(self):
        code, body = self.c.create("e2e-happy-1")
        self.assertEqual(code, 201, body)
        self.assertEqual(body["status"], "IN_PROCESS")
        self.assertTrue(body["normalUrl"].startswith("https://127.0.0.1:%d/checkout/" % self.c.sim_port))
        self.c.wait_status("e2e-happy-1", "SUCCESS", timeout=20)
        events = wait_until(lambda: self.c.sink.for_payment("e2e-happy-1"), 10, "the merchant webhook")
        time.sleep(0.5)  # a doubled event would arrive right after the first one
        events = self.c.sink.for_payment("e2e-happy-1")
        self.assertEqual(len(events), 1, events)
        e = events[0]
        self.assertEqual(e["body"]["type"], "payment.succeeded")
        self.assertEqual(e["body"]["data"]["payment"]["status"], "SUCCESS")
        self.assertTrue(e["sig_ok"], e)  # Standard Webhooks HMAC over the raw body
        code, full = self.c.get("e2e-happy-1", events=True)
        self.assertEqual(code, 200)
        self.assertGreaterEqual(len(full["events"]), 3)  # created, pay answer, notify/inquiry
        # Idempotent repeat: same body → 200 and the same payment.
        code, again = self.c.create("e2e-happy-1")
        self.assertEqual(code, 200, again)
        self.assertEqual(again["status"], "SUCCESS")
        code, conflict = self.c.create("e2e-happy-1", value="999")
        self.assertEqual(code, 409, conflict)
        self.assertEqual(conflict["error"]["code"], "REPEAT_REQ_INCONSISTENT")


OTHER_TOKEN = "e2e_other_merchant_token_987654"
OTHER = {"referenceMerchantId": "M2", "merchantName": "Other Shop", "merchantMCC": "5411",
         "merchantAddress": {"region": "SG", "city": "Singapore"}}


class MerchantIdentity(ClusterTest):
    """Issue 14, item 5: order.merchant is bound to the config, paymentRequestId is scoped per
    merchant (cashierd sends its own id to Alipay+), and operators name a shared id's merchant."""
    cluster_args = {"auto_pay_after": "1s", "extra_merchants": [dict({"id": "other", "token": OTHER_TOKEN}, **OTHER)]}

    def ctl(self, *args):
        return subprocess.run([os.path.join(BUILD, "tools", "cashierctl", "cashierctl"), "--config", self.c.config_path,
                               "--ca", self.c.k("ca.pem")] + list(args), capture_output=True, text=True, timeout=60)

    def test_two_merchants_one_id_and_no_cross_merchant_access(self):
        # Regression: merchant A (shop) creating under B's identity was accepted.
        code, body = self.c.create("e2e-spoof", merchant=OTHER)
        self.assertEqual(code, 400, body)
        self.assertEqual(body["error"]["code"], "MERCHANT_MISMATCH")
        self.assertEqual(body["error"]["field"], "order.merchant.referenceMerchantId")
        # Regression: the second merchant to use an id got 409 (an existence oracle).
        code, a = self.c.create("e2e-shared")
        self.assertEqual(code, 201, a)
        code, b = self.c.create("e2e-shared", token=OTHER_TOKEN, merchant=OTHER, value="2000")
        self.assertEqual(code, 201, b)
        self.assertNotEqual(a["alipayPaymentRequestId"], b["alipayPaymentRequestId"])
        self.assertNotEqual(b["alipayPaymentRequestId"], "e2e-shared")
        self.c.wait_status("e2e-shared", "SUCCESS", timeout=20)
        wait_until(lambda: self.c.get("e2e-shared", token=OTHER_TOKEN)[1]["status"] == "SUCCESS", 20, "B's SUCCESS")
        self.assertEqual(self.c.get("e2e-shared")[1]["paymentAmount"]["value"], "1000")
        self.assertEqual(self.c.get("e2e-shared", token=OTHER_TOKEN)[1]["paymentAmount"]["value"], "2000")
        # Alipay+ saw two payments, by cashierd's ids.
        self.assertIsNotNone(self.c.sim_truth(a["alipayPaymentRequestId"]))
        self.assertIsNotNone(self.c.sim_truth(b["alipayPaymentRequestId"]))
        # A's GET and cancel of B's own id: 404, exactly as an unknown id; B stays SUCCESS.
        code, _ = self.c.create("e2e-b-only", token=OTHER_TOKEN, merchant=OTHER)
        self.assertEqual(code, 201)
        wait_until(lambda: self.c.get("e2e-b-only", token=OTHER_TOKEN)[1]["status"] == "SUCCESS", 20, "B's SUCCESS")
        theirs, unknown = self.c.get("e2e-b-only"), self.c.get("e2e-nobody")
        self.assertEqual(theirs, unknown)
        self.assertEqual(theirs[0], 404)
        self.assertEqual(self.c.cancel("e2e-b-only"), self.c.cancel("e2e-nobody"))
        self.assertEqual(self.c.cancel("e2e-b-only")[0], 404)
        time.sleep(1)
        self.assertEqual(self.c.get("e2e-b-only", token=OTHER_TOKEN)[1]["status"], "SUCCESS")
        # Operators: a shared id needs its merchant.
        r = self.ctl("--json", "show", "e2e-shared")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(json.loads(r.stdout)["error"]["code"], "AMBIGUOUS_PAYMENT_ID")
        r = self.ctl("--json", "show", "e2e-shared", "--merchant", "other")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["payment"]["paymentAmount"]["value"], "2000")
        r = self.ctl("--json", "show", b["alipayPaymentRequestId"])
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.ctl("--json", "inquire", "e2e-shared")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(json.loads(r.stdout)["error"]["code"], "AMBIGUOUS_PAYMENT_ID")
        # Named with its merchant, the payment is found (final, so the inquiry is refused as such).
        r = self.ctl("--json", "inquire", "e2e-shared", "--merchant", "other")
        self.assertEqual(json.loads(r.stdout)["error"]["code"], "PAYMENT_FINAL", r.stdout + r.stderr)
        r = self.ctl("--json", "inquire", "e2e-shared", "--merchant", "nobody")
        self.assertEqual(json.loads(r.stdout)["error"]["code"], "NOT_FOUND", r.stdout + r.stderr)


class Faults(ClusterTest):
    cluster_args = {"auto_pay_after": "1s", "request_timeout_ms": 1000}

    def test_polling_reaches_success_without_any_notify(self):
        code, body = self.c.create("e2e-poll-1", description="poll [sim:notify-none]")
        self.assertEqual(code, 201, body)
        self.c.wait_status("e2e-poll-1", "SUCCESS", timeout=30)
        self.assertEqual(self.c.sim_truth("e2e-poll-1")["notify"]["sent"], 0)

    def test_duplicate_notifies_give_one_merchant_event(self):
        code, body = self.c.create("e2e-dup-1", description="dup [sim:notify-duplicate]")
        self.assertEqual(code, 201, body)
        self.c.wait_status("e2e-dup-1", "SUCCESS", timeout=20)
        wait_until(lambda: self.c.sim_truth("e2e-dup-1")["notify"]["sent"] >= 3, 10, "duplicate notifies")
        wait_until(lambda: self.c.sink.for_payment("e2e-dup-1"), 10, "the merchant webhook")
        time.sleep(1)
        self.assertEqual(len(self.c.sink.for_payment("e2e-dup-1")), 1)


class PayRetries(ClusterTest):
    # The payer pays 8 s after the first pay arrives; the faults make cashierd resend before.
    cluster_args = {"auto_pay_after": "8s", "request_timeout_ms": 1000}

    def test_pay_u_and_timeouts_then_success_with_byte_identical_retries(self):
        code, body = self.c.create("e2e-retry-1", description="retry [sim:pay-timeout] [sim:pay-u:2]")
        self.assertIn(code, (201, 202), body)
        self.c.wait_status("e2e-retry-1", "SUCCESS", timeout=40)
        truth = self.c.sim_truth("e2e-retry-1")
        self.assertGreaterEqual(truth["payBodies"]["count"], 3, truth)
        self.assertTrue(truth["payBodies"]["identical"], truth)


class Expiry(ClusterTest):
    # 1 payment minute = 0.1 s of wall time: expiry (1 min) + grace (10 min) ≈ 1.1 s.
    cluster_args = {"time_scale": 600, "auto_pay_after": "off", "payment_cfg": {"defaultExpiryMinutes": 1}}

    def test_abandoned_payment_is_cancelled_after_expiry_and_grace(self):
        code, body = self.c.create("e2e-expire-1", description="abandon [sim:payer-abandon]")
        self.assertEqual(code, 201, body)
        self.c.wait_status("e2e-expire-1", "CANCELLED", timeout=30)
        self.assertTrue(self.c.sim_truth("e2e-expire-1")["cancelled"])
        events = wait_until(lambda: self.c.sink.for_payment("e2e-expire-1"), 10, "the cancelled webhook")
        self.assertEqual(events[0]["body"]["type"], "payment.cancelled")


class ForgedNotifies(ClusterTest):
    cluster_args = {"auto_pay_after": "off"}

    def notify(self, body, key, request_time=None, client_id=CLIENT_ID):
        raw = json.dumps(body)
        rt = request_time or datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        sig = sign_openssl(key, "POST /alipayplus/notify\n%s.%s.%s" % (client_id, rt, raw))
        conn = http.client.HTTPSConnection("127.0.0.1", self.c.port, context=self.c.ctx, timeout=10)
        conn.request("POST", "/alipayplus/notify", body=raw, headers={
            "Content-Type": "application/json; charset=UTF-8", "Client-Id": client_id, "Request-Time": rt,
            "Signature": "algorithm=RSA256,keyVersion=1,signature=" + pct(sig)})
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, data

    def test_forged_and_foreign_notifies_are_rejected_a_stale_authentic_one_is_acked(self):
        code, body = self.c.create("e2e-forged-1")
        self.assertEqual(code, 201, body)
        notify = {"paymentResult": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"},
                  "paymentRequestId": body["alipayPaymentRequestId"], "paymentId": body["paymentId"],
                  "paymentAmount": {"currency": "USD", "value": "1000"}}
        # Signed with our own key instead of Alipay+'s: forged.
        code, data = self.notify(notify, self.c.k("acqp_private.pem"))
        self.assertEqual(code, 401, data)
        self.assertEqual(json.loads(data)["result"]["resultStatus"], "F")
        # Valid signature but another client id.
        self.assertEqual(self.notify(notify, self.c.k("aplus_private.pem"), client_id="OTHER")[0], 401)
        self.assertEqual(self.c.status("e2e-forged-1"), "IN_PROCESS")
        # Alipay+'s key and a Request-Time 20 minutes old: Alipay+'s own content, late (or replayed).
        # It is acked with a signed S and applied; the skew is recorded as an anomaly.
        stale = (datetime.now(timezone.utc) - timedelta(minutes=20)).isoformat(timespec="milliseconds")
        code, data = self.notify(notify, self.c.k("aplus_private.pem"), request_time=stale)
        self.assertEqual(code, 200, data)
        self.assertEqual(json.loads(data)["result"]["resultStatus"], "S")
        self.assertEqual(self.c.status("e2e-forged-1"), "SUCCESS")
        self.assertEqual([a["kind"] for a in self.c.query("SELECT kind FROM anomalies")], ["clock_skew"])
        # A fresh copy is acked too and changes nothing.
        code, data = self.notify(notify, self.c.k("aplus_private.pem"))
        self.assertEqual(code, 200, data)
        self.assertEqual(self.c.status("e2e-forged-1"), "SUCCESS")


class CrashRecovery(unittest.TestCase):
    def test_sigkill_with_50_payments_in_flight_loses_nothing(self):
        c = Cluster(auto_pay_after="2s", request_timeout_ms=1000)
        try:
            ids = ["e2e-crash-%02d" % i for i in range(50)]
            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                codes = list(pool.map(lambda i: c.create(i)[0], ids))
            self.assertTrue(all(code in (201, 202) for code in codes), codes)
            c.daemon.stop(signal.SIGKILL)
            time.sleep(0.5)
            c.start_daemon()
            for i in ids:
                c.wait_status(i, "SUCCESS", timeout=60)
            wait_until(lambda: all(c.sink.for_payment(i) for i in ids), 30, "one webhook per payment")
            time.sleep(1)
            for i in ids:
                events = c.sink.for_payment(i)
                ids_seen = {e["id"] for e in events}
                self.assertEqual(len(ids_seen), 1, (i, events))  # at-least-once, one stable event id
        finally:
            self.assertEqual(c.close(), 0)


if __name__ == "__main__":
    unittest.main()
