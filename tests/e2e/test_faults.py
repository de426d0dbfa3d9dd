"""Fault matrix (issue 6, item 1): real cashierd and aplus-sim processes on loopback, one cluster per
class, many payments per cluster, each with its own faults (aplus-sim tags, crafted notifies, a TCP
proxy that refuses). Every payment must end in the final state aplus-sim's truth implies, with
exactly one merchant event (one stable webhook-id), byte-identical pay bodies, and every injected
fault consumed. Each class writes its summary to $CASHIER_RELIABILITY_DIR/<suite>.json.
"""
import concurrent.futures
import unittest
from datetime import datetime, timedelta, timezone

from harness import ClusterTest, wait_until, write_reliability_summary

FINAL = ("SUCCESS", "FAIL", "CANCELLED")
TRUTH_STATUS = {"SUCCESS": "paid", "FAIL": "failed", "CANCELLED": "cancelled"}
EVENT_TYPE = {"SUCCESS": "payment.succeeded", "FAIL": "payment.failed", "CANCELLED": "payment.cancelled"}
# cashierd's requestTimeoutMs in these clusters, and answers held just under and just over it: the
# margin covers the round trip of a loaded machine under ASan (up to ~0.7 s measured in a burst;
# with 1 s of margin, a machine loaded 8-fold still timed the "under" answers out, hence 2.5 s).
TIMEOUT_MS = 5000
UNDER_MS = TIMEOUT_MS - 2500
OVER_MS = TIMEOUT_MS + 1500
S_RESULT = {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"}
F_RESULT = {"resultCode": "USER_PAYMENT_FAILED", "resultStatus": "F", "resultMessage": "payment failed"}


class Case:
    """One payment of a matrix: its sim faults, the final state it must reach and what its call log
    must show (`outcome`: a call of `api` whose outcome starts with it; `no_timeout`: no call of
    `api` timed out)."""

    def __init__(self, pid, final, faults=(), injected=None, cancel=False, api=None, outcome=None,
                 no_timeout=False, pay_bodies=None, truth=None, check=None):
        self.id, self.final, self.faults, self.cancel = pid, final, list(faults), cancel
        self.injected = len(self.faults) if injected is None else injected
        self.api, self.outcome, self.no_timeout, self.pay_bodies = api, outcome, no_timeout, pay_bodies
        self.truth = truth or {}  # truth fields that must have these values
        self.check = check        # check(row, truth): more assertions

    @property
    def description(self):
        return "fault matrix [sim:%s]" % ",".join(self.faults) if self.faults else "fault matrix"


class MatrixTest(ClusterTest):
    """Creates the cases' payments, drives them, and checks every one against aplus-sim's truth."""
    suite = None

    def create_all(self, cases):
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda k: self.c.create(k.id, description=k.description), cases))
        for k, (code, body) in zip(cases, answers):
            self.assertIn(code, (201, 202), (k.id, body))

    def cancel_when_in_process(self, cases):
        for k in cases:
            if k.cancel:
                self.c.wait_status(k.id, "IN_PROCESS", timeout=30)
                code, body = self.c.cancel(k.id)
                self.assertEqual(code, 202, (k.id, body))

    def payments(self):
        return {r["payment_request_id"]: r for r in self.c.query("SELECT * FROM payments")}

    def settle(self, ids, timeout=90):
        """Waits until every payment is final with nothing pending and every merchant event is
        delivered; a payment that does not get there is counted as stuck by verify()."""
        def settled():
            rows = self.payments()
            done = all(i in rows and rows[i]["status"] in FINAL and rows[i]["pending"] == "" for i in ids)
            pending = self.c.query("SELECT COUNT(*) AS n FROM merchant_outbox WHERE state <> 'delivered'")[0]["n"]
            return done and pending == 0
        try:
            wait_until(settled, timeout, "every payment final and every webhook delivered", interval=0.2)
        except AssertionError:
            pass

    def verify(self, cases, extra_injected=0):
        """Checks every case; writes the suite summary first so a failure is still reported. Lost:
        not in the database, or final without a merchant event; stuck: not final; duplicated: more
        than one merchant event (outbox row or webhook-id)."""
        rows = self.payments()
        lost = duplicated = stuck = 0
        for k in cases:
            row = rows.get(k.id)
            # payment.pending (a create answered 202) is not a status event.
            events = {e["id"] for e in self.c.sink.for_payment(k.id) if e["body"]["type"] != "payment.pending"}
            outbox = self.c.query("SELECT event_id FROM merchant_outbox WHERE payment_id = ? "
                                  "AND type <> 'payment.pending'", row["id"]) if row else []
            if row is None:
                lost += 1
            elif row["status"] not in FINAL or row["pending"] != "":
                stuck += 1
            elif not events:
                lost += 1
            if len(events) > 1 or len(outbox) > 1:
                duplicated += 1
        summary = write_reliability_summary(
            self.suite, scenarios=len(cases), payments_checked=len(cases), lost=lost, duplicated=duplicated,
            stuck=stuck, faults_injected=sum(k.injected for k in cases) + extra_injected)
        for k in cases:
            with self.subTest(payment=k.id):
                self.check_case(k, rows.get(k.id))
        self.assertEqual((summary["lost"], summary["duplicated"], summary["stuck"]), (0, 0, 0), summary)
        # Guarantee 7: nothing cashierd itself left behind, whatever the faults.
        self.assertEqual(self.c.metric("cashierd_payments_overdue"), 0)

    def check_case(self, k, row):
        self.assertIsNotNone(row, "lost: not in the database")
        self.assertEqual((row["status"], row["pending"]), (k.final, ""))
        truth = self.c.sim_truth(k.id)
        self.assertEqual(truth["status"], TRUTH_STATUS[k.final], truth)  # paid ⇔ SUCCESS etc.
        self.assertTrue(truth["payBodies"]["identical"], truth["payBodies"])
        self.assertEqual(truth["scenario"]["pendingAnswerFaults"], [], "every injected answer fault was used")
        if k.pay_bodies is not None:
            self.assertTrue(k.pay_bodies(truth["payBodies"]["count"]), truth["payBodies"]["count"])
        outbox = self.c.query("SELECT event_id, type FROM merchant_outbox WHERE payment_id = ? "
                              "AND type <> 'payment.pending'", row["id"])
        self.assertEqual(len(outbox), 1, outbox)
        events = [e for e in self.c.sink.for_payment(k.id) if e["body"]["type"] != "payment.pending"]
        self.assertEqual({e["id"] for e in events}, {outbox[0]["event_id"]}, "one stable webhook-id")
        self.assertTrue(all(e["sig_ok"] for e in events))
        self.assertEqual({e["body"]["type"] for e in events}, {EVENT_TYPE[k.final]})
        self.assertEqual({e["body"]["data"]["payment"]["status"] for e in events}, {k.final})
        if k.api:
            outcomes = [r["outcome"] for r in self.c.query(
                "SELECT outcome FROM aplus_calls WHERE payment_id = ? AND api = ?", row["id"], k.api)]
            if k.outcome:
                self.assertTrue(any(o.startswith(k.outcome) for o in outcomes), (k.outcome, outcomes))
            if k.no_timeout:
                self.assertNotIn("timeout", outcomes)
        for key, value in k.truth.items():
            self.assertEqual(truth[key], value, key)
        if k.check:
            k.check(row, truth)

    def transitions_to(self, row, status):
        return self.c.query("SELECT cause FROM payment_events WHERE payment_id = ? AND to_status = ? "
                            "AND (from_status IS NULL OR from_status <> to_status)", row["id"], status)

    def notifies_of(self, row, verification=None):
        rows = self.c.query("SELECT verification FROM inbound_notifies WHERE payment_id = ?", row["id"])
        return [r for r in rows if verification is None or r["verification"] == verification]


# (fault suffix, outcome the call log shows: None when a reused connection may hide it, since the
# client resends once on a connection closed before any answer byte)
API_FAULTS = [("timeout", "timeout"), ("drop", None), ("reset", "transport_error"), ("500", "server_error"),
              ("5xx", "server_error"), ("garbled", "garbled"), ("unsigned", "unsigned_answer"),
              ("badsig", "bad_signature"), ("u", "U/UNKNOWN_EXCEPTION"), ("delay:%d" % UNDER_MS, None),
              ("delay:%d" % OVER_MS, "timeout")]
API_NAMES = {"pay": "pay", "inquiry": "inquiryPayment", "cancel": "cancelPayment"}


def api_cases():
    cases = []
    for api in ("pay", "inquiry", "cancel"):
        for fault, outcome in API_FAULTS:
            under = fault == "delay:%d" % UNDER_MS
            name = "under" if under else "over" if fault.startswith("delay") else fault
            pid = "fx-%s-%s" % (api, name)
            if api == "pay":  # notify-none: only a pay retry can move the payment on
                cases.append(Case(pid, "SUCCESS", ["pay-" + fault, "notify-none"], injected=1, api="pay",
                                  outcome=outcome, no_timeout=under,
                                  pay_bodies=(lambda n: n == 1) if under else (lambda n: n >= 2)))
            elif api == "inquiry":  # two lost inquiry answers (the payer has paid by the second); one held just under
                faults = ["inquiry-" + fault] * (1 if under else 2) if fault.startswith("delay") else ["inquiry-%s:2" % fault]
                cases.append(Case(pid, "SUCCESS", faults + ["notify-none"], injected=1 if under else 2,
                                  api="inquiryPayment", outcome=outcome, no_timeout=under))
            else:  # the payer abandons; the merchant cancels
                cases.append(Case(pid, "CANCELLED", ["cancel-" + fault, "payer-abandon", "notify-none"],
                                  injected=1, cancel=True, api="cancelPayment", outcome=outcome, no_timeout=under,
                                  truth={"cancels": 1} if under else None))
    return cases


class FaultsApi(MatrixTest):
    """pay, inquiryPayment and cancelPayment × timeout, dropped and reset connections, HTTP 500 and
    502, garbled JSON, unsigned and badly signed answers, U, and answers held just under and just
    over the client timeout: 33 payments in one cluster."""
    suite = "faults-api"
    cluster_args = {"auto_pay_after": "1s", "request_timeout_ms": TIMEOUT_MS,
                    "payment_cfg": {"pollIntervalsSeconds": [1], "createWaitMs": 500},
                    "sim_args": ("--timeout-hold", "%dms" % (TIMEOUT_MS + 2000))}

    def test_api_fault_matrix(self):
        cases = api_cases()
        self.create_all(cases)
        self.cancel_when_in_process(cases)
        self.settle([k.id for k in cases])
        self.verify(cases)


class FaultsNotify(MatrixTest):
    """notifyPayment × duplicate ×5, arriving after an inquiry settled it, forged, stale
    Request-Time, another client id, wrong amount and unknown paymentRequestId; the crafted ones
    are signed by aplus-sim's real key (POST /sim/notify)."""
    suite = "faults-notify"
    cluster_args = {"auto_pay_after": "1s", "request_timeout_ms": TIMEOUT_MS,
                    "payment_cfg": {"pollIntervalsSeconds": [1], "createWaitMs": 500}}

    def check_duplicates(self, row, truth):
        self.assertEqual(truth["notify"]["sent"], 5, truth["notify"])
        # Copies with identical bytes (same Request-Time and signature) share one row and its counter.
        copies = self.c.query("SELECT COALESCE(SUM(times_received), 0) AS n FROM inbound_notifies "
                              "WHERE payment_id = ? AND verification = 'ok'", row["id"])[0]["n"]
        self.assertEqual(copies, 5)
        self.assertEqual(len(self.transitions_to(row, "SUCCESS")), 1)

    def check_after_inquiry(self, row, truth):
        self.assertEqual([t["cause"].split(":")[0] for t in self.transitions_to(row, "SUCCESS")], ["inquiry"])
        self.assertEqual(truth["notify"]["state"], "acked", truth["notify"])
        self.assertEqual(len(self.notifies_of(row, "ok")), 1)

    def rejected_as(self, verification):
        return lambda row, truth: self.assertEqual(len(self.notifies_of(row, verification)), 1, self.notifies_of(row))

    def check_foreign(self, row, truth):
        """A notify addressed to another Client-Id is refused before anything is written."""
        self.assertEqual(self.notifies_of(row, "wrong_client_id"), [])
        self.assertEqual(self.c.query("SELECT COUNT(*) AS n FROM inbound_notifies WHERE verification = "
                                      "'wrong_client_id'")[0]["n"], 0)

    def check_skew(self, row, truth):
        """An authentic notify 20 minutes old is acked and applied; the skew is an anomaly."""
        self.assertEqual(len(self.notifies_of(row, "ok")), 1, self.notifies_of(row))
        kinds = [a["kind"] for a in self.c.query("SELECT kind FROM anomalies WHERE payment_id = ?", row["id"])]
        self.assertIn("clock_skew", kinds)

    def check_amount(self, row, truth):
        kinds = [a["kind"] for a in self.c.query("SELECT kind FROM anomalies WHERE payment_id = ?", row["id"])]
        self.assertIn("amount_mismatch", kinds)
        self.assertEqual(row["cancel_reason"], "amount mismatch")
        # The cancel was held until the ack was written, and released by it (not by the 5 s limit).
        log = open(self.c.daemon.log_path, errors="replace").read()
        self.assertNotIn("calls held for an ack started without its release", log)

    def check_orphan(self, row, truth):
        self.assertNotIn("nt-ghost", self.payments())
        orphans = self.c.query("SELECT payment_id FROM inbound_notifies WHERE payment_request_id = 'nt-ghost'")
        self.assertEqual(orphans, [{"payment_id": None}])
        self.assertEqual(len(self.c.query("SELECT id FROM anomalies WHERE kind = 'orphan_notify'")), 1)

    def test_notify_fault_matrix(self):
        stale = (datetime.now(timezone(timedelta(hours=8))) - timedelta(minutes=20)).isoformat(timespec="milliseconds")
        # (case, crafted notify sent once the payment is IN_PROCESS, expected HTTP status of its answer)
        plan = [
            (Case("nt-dup5", "SUCCESS", ["notify-duplicate:5"], injected=4, check=self.check_duplicates), None, None),
            (Case("nt-after-inquiry", "SUCCESS", ["notify-after:6s"], check=self.check_after_inquiry), None, None),
            (Case("nt-forged", "FAIL", ["payer-fail"], injected=1, check=self.rejected_as("bad_signature")),
             {"set": {"paymentResult": S_RESULT}, "badSignature": True}, 401),
            (Case("nt-stale", "FAIL", ["payer-fail", "notify-none"], injected=1, check=self.check_skew),
             {"set": {"paymentResult": F_RESULT}, "requestTime": stale}, 200),
            (Case("nt-other-client", "FAIL", ["payer-fail"], injected=1, check=self.check_foreign),
             {"set": {"paymentResult": S_RESULT}, "clientId": "OTHER_CLIENT"}, 401),
            (Case("nt-amount", "CANCELLED", ["payer-abandon", "notify-none"], injected=1, check=self.check_amount),
             {"set": {"paymentResult": S_RESULT, "paymentAmount": {"currency": "USD", "value": "1"}}}, 200),
            (Case("nt-unknown", "SUCCESS", [], injected=1, check=self.check_orphan),
             {"set": {"paymentRequestId": "nt-ghost", "paymentResult": S_RESULT}}, 200),
        ]
        cases = [k for k, _, _ in plan]
        self.create_all(cases)
        for k, crafted, status in plan:
            if crafted:
                self.c.wait_status(k.id, ("IN_PROCESS", "SUCCESS", "FAIL"), timeout=30)
                deliveries = self.c.sim_notify(k.id, **crafted)
                self.assertEqual([d["httpStatus"] for d in deliveries], [status], deliveries)
        # The late notify and the five copies go out on aplus-sim's schedule; wait for their acks.
        for pid in ("nt-dup5", "nt-after-inquiry"):
            wait_until(lambda: self.c.sim_truth(pid)["notify"]["state"] == "acked", 60, pid + " notify acked")
        self.settle([k.id for k in cases])
        self.verify(cases)


class FaultsLate(MatrixTest):
    """A notify 24 h late (payment clocks of both processes scaled 14400×: 24 h in 6 s) for a
    payment that inquiry settled long before: acked, recorded, nothing changes."""
    suite = "faults-late"
    cluster_args = {"time_scale": 14400, "auto_pay_after": "2s", "request_timeout_ms": TIMEOUT_MS,
                    "payment_cfg": {"defaultExpiryMinutes": 600, "createWaitMs": 500}}

    def check_late(self, row, truth):
        self.assertEqual(truth["notify"]["state"], "acked", truth["notify"])
        paid_at = datetime.fromisoformat(truth["paymentTime"])
        sent_at = datetime.fromisoformat(truth["notify"]["deliveries"][0]["at"])
        self.assertGreaterEqual(sent_at - paid_at, timedelta(hours=24))
        settled = self.c.query("SELECT at, cause FROM payment_events WHERE payment_id = ? AND to_status = ? "
                               "AND from_status <> to_status", row["id"], row["status"])
        self.assertEqual(len(settled), 1, settled)
        self.assertTrue(settled[0]["cause"].startswith("inquiry:"), settled)
        received = self.c.query("SELECT received_at, verification FROM inbound_notifies WHERE payment_id = ?", row["id"])
        self.assertEqual([r["verification"] for r in received], ["ok"])
        # At least 24 h after the payment was created on cashierd's payment clock too (the clocks
        # have different origins; the daemon created the payment before aplus-sim saw the pay).
        self.assertGreaterEqual(received[0]["received_at"] - row["created_at"], 24 * 3600 * 1000)

    def test_notify_24h_late(self):
        cases = [Case("lt-success", "SUCCESS", ["notify-after:24h"], check=self.check_late),
                 Case("lt-fail", "FAIL", ["payer-fail", "notify-after:24h"], injected=1, check=self.check_late)]
        self.create_all(cases)
        for k in cases:
            wait_until(lambda: self.c.sim_truth(k.id)["notify"]["state"] == "acked", 60, k.id + " late notify acked")
        self.settle([k.id for k in cases])
        self.verify(cases)


class FaultsRefused(MatrixTest):
    """Connection refused: cashierd reaches aplus-sim through a TCP proxy that resets every
    connection and stops listening while a pay, an inquiry and a cancel are due, then listens again."""
    suite = "faults-refused"
    cluster_args = {"auto_pay_after": "1s", "request_timeout_ms": TIMEOUT_MS, "gateway_proxy": True,
                    "payment_cfg": {"pollIntervalsSeconds": [1], "createWaitMs": 500}}

    def refused_calls(self, pid, api):
        return self.c.query("SELECT c.id FROM aplus_calls c JOIN payments p ON p.id = c.payment_id "
                            "WHERE p.payment_request_id = ? AND c.api = ? AND c.outcome = 'transport_error'", pid, api)

    def test_connection_refused(self):
        pay = Case("rf-pay", "SUCCESS", ["notify-none"], injected=0, api="pay", outcome="transport_error")
        inquiry = Case("rf-inquiry", "SUCCESS", ["notify-none"], injected=0, api="inquiryPayment",
                       outcome="transport_error")
        cancel = Case("rf-cancel", "CANCELLED", ["payer-abandon", "notify-none"], injected=0, api="cancelPayment",
                      outcome="transport_error")
        self.create_all([inquiry, cancel])
        for k in (inquiry, cancel):
            self.c.wait_status(k.id, "IN_PROCESS", timeout=30)
        self.c.proxy.refuse()
        self.create_all([pay])
        self.assertEqual(self.c.cancel(cancel.id)[0], 202)
        wait_until(lambda: all(self.refused_calls(k.id, k.api) for k in (pay, inquiry, cancel)), 30,
                   "a refused pay, inquiry and cancel")
        refused = sum(len(self.refused_calls(k.id, k.api)) for k in (pay, inquiry, cancel))
        self.c.proxy.accept()
        self.settle([k.id for k in (pay, inquiry, cancel)])
        self.verify([pay, inquiry, cancel], extra_injected=refused)


if __name__ == "__main__":
    unittest.main()
