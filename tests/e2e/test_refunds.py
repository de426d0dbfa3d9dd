"""End-to-end refunds (issue 16): real cashierd and aplus-sim over HTTPS. A merchant refunds part
of a paid payment twice and the rest once more, with faults on the refund calls and a kill -9 in
the middle; every figure must agree between cashierd, aplus-sim's truth and the merchant's
webhooks."""
import json
import os
import signal
import subprocess
import time
import unittest
import urllib.parse

from harness import BUILD, Cluster, ClusterTest, wait_until, write_reliability_summary


def refunds_path(pid, rid=None):
    path = "/v1/payments/%s/refunds" % urllib.parse.quote(pid, safe="")
    return path + ("/" + urllib.parse.quote(rid, safe="") if rid else "")


class Refunds(unittest.TestCase):
    def test_partial_twice_then_the_rest_across_a_kill_minus_9(self):
        c = Cluster(auto_pay_after="1s", request_timeout_ms=1000)
        try:
            pid = "e2e-refund-1"
            code, _ = c.create(pid, value="1000")
            self.assertIn(code, (201, 202))
            c.wait_status(pid, "SUCCESS", timeout=30)
            alipay_id = c.alipay_id(pid)

            # 1. A first partial refund, answered S at once: 201 SUCCESS.
            first = {"refundRequestId": "r1", "refundAmount": {"currency": "USD", "value": "300"}, "reason": "size"}
            code, body = c.request("POST", refunds_path(pid), first)
            self.assertEqual(code, 201, body)
            self.assertEqual(body["status"], "SUCCESS")
            self.assertTrue(body["refundId"])
            # The same order again (keys in another order) is an idempotent repeat; another body is 409.
            code, again = c.request("POST", refunds_path(pid), {"reason": "size", "refundAmount": {"value": "300", "currency": "USD"}, "refundRequestId": "r1"})
            self.assertEqual((code, again["refundId"]), (200, body["refundId"]))
            code, body = c.request("POST", refunds_path(pid), dict(first, refundAmount={"currency": "USD", "value": "301"}))
            self.assertEqual((code, body["error"]["code"]), (409, "REPEAT_REQ_INCONSISTENT"))

            # 2. A second partial refund whose first two answers are U: resent byte-identical until S.
            code, data = c.sim_control("/sim/scenario", {"paymentRequestId": alipay_id, "faults": ["refund-u:2"]})
            self.assertEqual(code, 200, data)
            code, body = c.request("POST", refunds_path(pid), {"refundRequestId": "r2", "refundAmount": {"currency": "USD", "value": "200"}})
            self.assertIn(code, (201, 202), body)
            wait_until(lambda: c.request("GET", refunds_path(pid, "r2"))[1]["status"] == "SUCCESS", 30, "r2 to succeed")

            # Past the amount: refused before anything is sent.
            code, body = c.request("POST", refunds_path(pid), {"refundRequestId": "r9", "refundAmount": {"currency": "USD", "value": "501"}})
            self.assertEqual((code, body["error"]["code"], body["error"]["field"]), (400, "REFUND_AMOUNT_EXCEED", "refundAmount.value"))

            # 3. The rest, whose first answers are lost (processed by Alipay+, connection dropped):
            # still PROCESSING when createWaitMs ends (202), and cashierd is killed -9 then.
            code, data = c.sim_control("/sim/scenario", {"paymentRequestId": alipay_id, "faults": ["refund-drop:3"]})
            self.assertEqual(code, 200, data)
            code, body = c.request("POST", refunds_path(pid), {"refundRequestId": "r3", "refundAmount": {"currency": "USD", "value": "500"}})
            self.assertEqual((code, body["status"]), (202, "PROCESSING"), body)
            c.daemon.stop(signal.SIGKILL)
            time.sleep(0.5)
            c.start_daemon()
            wait_until(lambda: c.request("GET", refunds_path(pid, "r3"))[1]["status"] == "SUCCESS", 60, "r3 to succeed after the restart")

            # Every figure agrees.
            code, payment = c.get(pid)
            self.assertEqual(code, 200)
            self.assertEqual(payment["refundedAmount"], {"currency": "USD", "value": "1000"})
            self.assertEqual(sorted((r["refundRequestId"], r["status"], r["refundAmount"]["value"]) for r in payment["refunds"]),
                             [("r1", "SUCCESS", "300"), ("r2", "SUCCESS", "200"), ("r3", "SUCCESS", "500")])
            truth = c.sim_truth(pid)
            self.assertEqual(truth["refundedAmount"]["value"], "1000")
            self.assertEqual(sorted(r["value"] for r in truth["refunds"] if r["status"] == "SUCCESS"), ["200", "300", "500"])
            self.assertEqual(truth["inconsistentRefunds"], 0)  # never two bodies under one refundRequestId
            calls = sorted(r["calls"] for r in truth["refunds"])
            self.assertEqual(calls[0], 1)   # r1: answered at once (its repeat never left cashierd)
            self.assertGreaterEqual(calls[1], 3)  # r2: two U, then S; r3: three drops, then S
            refund_ids = {r["refundRequestId"]: r["refundId"] for r in truth["refunds"]}
            wait_until(lambda: len({e["body"]["data"]["refund"]["refundRequestId"] for e in c.sink.for_payment(pid)
                                    if e["body"]["type"] == "refund.succeeded"}) == 3, 30, "three refund.succeeded webhooks")
            hooks = [e["body"] for e in c.sink.for_payment(pid)]
            succeeded = {h["data"]["refund"]["refundRequestId"]: h for h in hooks if h["type"] == "refund.succeeded"}
            self.assertEqual(sum(int(h["data"]["refund"]["refundAmount"]["value"]) for h in succeeded.values()), 1000)
            self.assertFalse([h for h in hooks if h["type"] == "refund.failed"])
            # One event per outcome; payment and refund events share the payment's sequence.
            self.assertEqual(sorted({h["data"]["sequence"] for h in hooks}), [1, 2, 3, 4])
            # The events feed carries the same events, in the same sequence.
            code, feed = c.request("GET", "/v1/events?limit=100")
            self.assertEqual(code, 200, feed)
            mine = [e for e in feed["events"] if e["paymentRequestId"] == pid]
            self.assertEqual([e["type"] for e in mine], ["payment.succeeded"] + ["refund.succeeded"] * 3)
            self.assertEqual([e["sequence"] for e in mine], [1, 2, 3, 4])
            self.assertEqual(sorted(e["data"]["refund"]["refundRequestId"] for e in mine[1:]), ["r1", "r2", "r3"])
            # cashierd's refundRequestIds towards Alipay+ are its own, one per refund, as Alipay+ saw them.
            stored = c.query("SELECT refund_request_id, alipay_refund_request_id, refund_id FROM refunds")
            self.assertEqual(len(stored), 3)
            for row in stored:
                self.assertEqual(refund_ids[row["alipay_refund_request_id"]], row["refund_id"])
            print("\nfigures: cashierd refundedAmount %s, aplus-sim refundedAmount %s, webhooks %s; refund calls per refund %s"
                  % (payment["refundedAmount"]["value"], truth["refundedAmount"]["value"],
                     sum(int(h["data"]["refund"]["refundAmount"]["value"]) for h in succeeded.values()),
                     {r["refundRequestId"]: r["calls"] for r in truth["refunds"]}))
        finally:
            self.assertEqual(c.close(), 0)

    def test_a_cancel_refused_for_the_window_becomes_a_full_refund(self):
        c = Cluster(auto_pay_after="1s", request_timeout_ms=1000)
        try:
            pid = "e2e-refund-cancel"
            code, _ = c.create(pid, value="800")
            self.assertIn(code, (201, 202))
            c.wait_status(pid, "SUCCESS", timeout=30)
            code, data = c.sim_control("/sim/scenario", {"paymentRequestId": c.alipay_id(pid), "faults": ["cancel-window-exceeded"]})
            self.assertEqual(code, 200, data)
            # A partial refund first: the cancel refunds what is left.
            code, body = c.request("POST", refunds_path(pid), {"refundRequestId": "r1", "refundAmount": {"currency": "USD", "value": "300"}})
            self.assertEqual(code, 201, body)
            code, body = c.cancel(pid, reason="customer changed mind")
            self.assertEqual(code, 202, body)

            def refunded():
                _, p = c.get(pid)
                return p["refundedAmount"]["value"] == "800" and p
            payment = wait_until(refunded, 30, "the cancel's refund to succeed")
            self.assertEqual(payment["status"], "SUCCESS")
            by_origin = {r["origin"]: r for r in payment["refunds"]}
            self.assertEqual(by_origin["cancel"]["refundAmount"]["value"], "500")
            self.assertEqual(by_origin["cancel"]["status"], "SUCCESS")
            truth = c.sim_truth(pid)
            self.assertEqual(truth["refundedAmount"]["value"], "800")
            wait_until(lambda: len([e for e in c.sink.for_payment(pid) if e["body"]["type"] == "refund.succeeded"]) == 2,
                       30, "two refund.succeeded webhooks")
            types = sorted(e["body"]["type"] for e in c.sink.for_payment(pid))
            self.assertNotIn("payment.cancel_failed", types)
        finally:
            self.assertEqual(c.close(), 0)

    def test_an_operator_refund_through_cashierctl(self):
        c = Cluster(auto_pay_after="1s", request_timeout_ms=1000)
        try:
            pid = "e2e-refund-ctl"
            code, _ = c.create(pid, value="1000")
            self.assertIn(code, (201, 202))
            c.wait_status(pid, "SUCCESS", timeout=30)
            ctl = [os.path.join(BUILD, "tools", "cashierctl", "cashierctl"), "--config", c.config_path,
                   "--ca", c.k("ca.pem")]
            r = subprocess.run(ctl + ["--json", "refund", pid, "--amount", "250", "--refund-request-id", "ops-1"],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(json.loads(r.stdout)["refundRequestId"], "ops-1")
            r = subprocess.run(ctl + ["refund", pid, "--amount", "751"], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertIn("would exceed its amount", r.stderr)
            wait_until(lambda: c.request("GET", refunds_path(pid, "ops-1"))[1]["status"] == "SUCCESS", 30, "ops-1")
            r = subprocess.run(ctl + ["--json", "refunds", pid], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            listed = json.loads(r.stdout)
            self.assertEqual(listed["refundedAmount"]["value"], "250")
            self.assertEqual([(x["refundRequestId"], x["origin"]) for x in listed["refunds"]], [("ops-1", "operator")])
            self.assertEqual(c.sim_truth(pid)["refundedAmount"]["value"], "250")
        finally:
            self.assertEqual(c.close(), 0)

    def test_refund_of_an_open_payment_is_refused_with_the_field(self):
        c = Cluster(auto_pay_after="off")
        try:
            code, _ = c.create("e2e-refund-open", value="1000")
            self.assertIn(code, (201, 202))
            code, body = c.request("POST", refunds_path("e2e-refund-open"), {"refundRequestId": "r1", "refundAmount": {"currency": "USD", "value": "1"}})
            self.assertEqual((code, body["error"]["code"], body["error"]["field"]), (400, "PAYMENT_NOT_REFUNDABLE", "paymentRequestId"))
            code, body = c.request("POST", refunds_path("e2e-refund-open"), {"refundRequestId": "", "refundAmount": {"currency": "USD", "value": "1"}})
            self.assertEqual((code, body["error"]["field"]), (400, "refundRequestId"))
            code, body = c.request("GET", refunds_path("e2e-refund-open", "nope"))
            self.assertEqual((code, body["error"]["code"]), (404, "REFUND_NOT_FOUND"))
        finally:
            self.assertEqual(c.close(), 0)



class RefundFaults(ClusterTest):
    """The fault matrix for refunds: one paid payment per aplus-sim refund fault, a partial refund
    of each; every refund must end SUCCESS (Alipay+ processed it before the answer was lost), with
    aplus-sim's refunded sum equal to cashierd's, never two bodies under one refundRequestId, and
    one refund.succeeded webhook per refund. `refund-u:6` outlasts the resends: the confirming
    inquiry's transactions[] settles it."""
    TIMEOUT_MS = 2000
    cluster_args = {"auto_pay_after": "1s", "request_timeout_ms": TIMEOUT_MS,
                    "sim_args": ("--timeout-hold", "%dms" % (TIMEOUT_MS + 1500))}
    FAULTS = ["refund-timeout", "refund-drop", "refund-u", "refund-5xx", "refund-500", "refund-reset",
              "refund-garbled", "refund-unsigned", "refund-badsig", "refund-delay:%d" % (TIMEOUT_MS + 1000),
              "refund-u:6", "refund-drop:2,refund-garbled"]

    def test_every_refund_fault_ends_refunded_once(self):
        c = self.c
        ids = ["e2e-rf-%02d" % i for i in range(len(self.FAULTS))]
        for pid in ids:
            code, _ = c.create(pid, value="900")
            self.assertIn(code, (201, 202))
        for pid in ids:
            c.wait_status(pid, "SUCCESS", timeout=60)
        for pid, faults in zip(ids, self.FAULTS):
            code, data = c.sim_control("/sim/scenario", {"paymentRequestId": c.alipay_id(pid), "faults": faults.split(",")})
            self.assertEqual(code, 200, data)
            code, body = c.request("POST", refunds_path(pid), {"refundRequestId": "r1", "refundAmount": {"currency": "USD", "value": "400"}})
            self.assertIn(code, (201, 202), (pid, body))

        def all_final():
            return all(c.request("GET", refunds_path(pid, "r1"))[1]["status"] != "PROCESSING" for pid in ids)
        try:
            wait_until(all_final, 150, "every refund final", interval=0.5)
        except AssertionError:
            pass
        lost = stuck = duplicated = 0
        calls = {}
        for pid, faults in zip(ids, self.FAULTS):
            refund = c.request("GET", refunds_path(pid, "r1"))[1]
            truth = c.sim_truth(pid)
            stuck += refund["status"] == "PROCESSING"
            lost += refund["status"] == "FAIL" or truth["refundedAmount"]["value"] != "400"
            hooks = {e["id"] for e in c.sink.for_payment(pid) if e["body"]["type"] == "refund.succeeded"}
            calls[faults] = truth["refunds"][0]["calls"] if truth["refunds"] else 0
            self.assertEqual(truth["inconsistentRefunds"], 0, faults)
            wait_until(lambda: c.sink.for_payment(pid) and any(e["body"]["type"] == "refund.succeeded" for e in c.sink.for_payment(pid)),
                       30, "refund.succeeded for " + faults)
            hooks = {e["id"] for e in c.sink.for_payment(pid) if e["body"]["type"] == "refund.succeeded"}
            duplicated += len(hooks) != 1
            self.assertEqual(refund["status"], "SUCCESS", (faults, refund))
            self.assertGreaterEqual(calls[faults], 2, faults)  # the fault cost at least one resend
        write_reliability_summary("refund-faults", scenarios=len(self.FAULTS), faults_injected=len(self.FAULTS),
                                  payments_checked=len(ids), lost=lost, duplicated=duplicated, stuck=stuck)
        print("\nrefund fault matrix: %d faults, lost %d, duplicated %d, stuck %d; Alipay+ refund calls per fault %s"
              % (len(self.FAULTS), lost, duplicated, stuck, calls))
        self.assertEqual((lost, duplicated, stuck), (0, 0, 0))

    def test_a_refused_refund_ends_fail_once_even_after_a_lost_answer(self):
        """Alipay+'s F (REFUND_WINDOW_EXCEED), first behind a dropped answer: FAIL, one
        refund.failed webhook, nothing refunded at aplus-sim, the amount refundable again."""
        c = self.c
        pid = "e2e-rf-refused"
        code, _ = c.create(pid, value="900")
        self.assertIn(code, (201, 202))
        c.wait_status(pid, "SUCCESS", timeout=60)
        code, data = c.sim_control("/sim/scenario", {"paymentRequestId": c.alipay_id(pid),
                                                     "faults": ["refund-drop", "refund-window-exceeded"]})
        self.assertEqual(code, 200, data)
        code, body = c.request("POST", refunds_path(pid), {"refundRequestId": "r1", "refundAmount": {"currency": "USD", "value": "900"}})
        self.assertIn(code, (201, 202), body)
        wait_until(lambda: c.request("GET", refunds_path(pid, "r1"))[1]["status"] != "PROCESSING", 60, "r1 final")
        refund = c.request("GET", refunds_path(pid, "r1"))[1]
        self.assertEqual((refund["status"], refund["result"]["resultCode"]), ("FAIL", "REFUND_WINDOW_EXCEED"), refund)
        truth = c.sim_truth(pid)
        self.assertEqual(truth["refundedAmount"]["value"], "0")
        self.assertEqual(truth["inconsistentRefunds"], 0)
        self.assertGreaterEqual(truth["refunds"][0]["calls"], 2)  # the dropped answer cost a resend
        wait_until(lambda: any(e["body"]["type"] == "refund.failed" for e in c.sink.for_payment(pid)), 30, "refund.failed")
        self.assertEqual(len({e["id"] for e in c.sink.for_payment(pid) if e["body"]["type"].startswith("refund.")}), 1)
        code, payment = c.get(pid)
        self.assertEqual(payment["refundedAmount"]["value"], "0")
        # A FAIL gives its amount back: the full amount may be asked again (refused again here).
        code, body = c.request("POST", refunds_path(pid), {"refundRequestId": "r2", "refundAmount": {"currency": "USD", "value": "900"}})
        self.assertIn(code, (201, 202), body)


if __name__ == "__main__":
    unittest.main()
