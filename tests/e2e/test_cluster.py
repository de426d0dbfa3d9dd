"""Cluster mode end to end (ctest label `postgres`, issue 18): three cashierd instances with
`store.cluster` on one PostgreSQL database (the fixture's CASHIER_TEST_PG, a schema of its own),
one aplus-sim and the webhook sink, with a short lease (leaseSeconds 2: renew every 0.5 s, claim
tick and margin 0.2 s). The shards spread across the three (cashierctl cluster --json); payments
created through every instance reach SUCCESS with one merchant webhook event each; then one
instance is killed with kill -9 while its payments are open: the others claim its shards within
the lease and two round trips, well within lease + renewal + claim tick (measured and printed), take them over, and its open payments finish
there. The call budget (64/s across the cluster) is shared by shards: the rates in force add up
to it, before and after the kill.

In the first test each instance's `alipayplus.notifyUrl` is its own listener, so Alipay+'s
notify of a payment reaches the instance that sent its pay (the owner), and the notifies of the
killed instance's payments are lost (its port is closed): inquiry polling by the new owner
settles them. The second sends every notify to one instance, so those of the payments the others
own, and a merchant cancel sent to it, go through the inbox.
"""
import copy
import json
import os
import signal
import subprocess
import time
import unittest
import uuid

from harness import BUILD, CASHIERD, Cluster, Process, free_port, wait_until, write_private

CASHIERCTL = os.path.join(BUILD, "tools", "cashierctl", "cashierctl")
LEASE_SECONDS = 2.0
BUDGET = 64.0  # alipayplus.maxRequestsPerSecond across the cluster
CLAIM_TICK = LEASE_SECONDS / 10  # lease_timing(): the claim tick of a 10 s lease is 1 s
RENEW_EVERY = LEASE_SECONDS / 4
# A dead instance's leases lapse at most L after it died; the survivors learn that it is gone
# (live instances, hence their target) from their next renewal's answer, and claim at the next
# claim tick after that.
FAILOVER_BOUND = LEASE_SECONDS + RENEW_EVERY + CLAIM_TICK


def psql(conninfo, sql):
    """One statement through psql (the test has no libpq binding): its rows, '|'-separated."""
    out = subprocess.run(["psql", conninfo, "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         check=True, capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


class Member:
    """One more cashierd of the cluster: the first one's config with its own listeners,
    notifyUrl and instanceId. Its merchant API is reached through a copy of the harness's
    Cluster pointed at its ports."""

    def __init__(self, first, name, cfg, notify_port=None):
        self.name = name
        self.view = copy.copy(first)
        self.view.port = free_port()
        self.view.ops_port = free_port()
        self.view.config_path = os.path.join(first.dir, "cashierd-%s.json" % name)
        cfg = copy.deepcopy(cfg)
        cfg["listen"] = "127.0.0.1:%d" % self.view.port
        cfg["opsListen"] = "127.0.0.1:%d" % self.view.ops_port
        cfg["alipayplus"]["notifyUrl"] = "https://127.0.0.1:%d/alipayplus/notify" % (notify_port or self.view.port)
        cfg["store"]["cluster"]["instanceId"] = name
        write_private(self.view.config_path, json.dumps(cfg, indent=2))
        self.log_path = os.path.join(first.dir, "cashierd-%s.log" % name)
        self.start()

    def start(self):
        self.view.daemon = Process([CASHIERD, "--config", self.view.config_path], self.log_path)

        def ready():
            if not self.view.daemon.alive():
                raise AssertionError("cashierd %s exited:\n%s" % (self.name, self.view.daemon.tail()))
            try:
                return self.view.ops("GET", "/readyz")[0] == 200
            except OSError:
                return False
        wait_until(ready, 15, "cashierd %s /readyz" % self.name)

    def log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()


class ClusterMode(unittest.TestCase):
    def setUp(self):
        server = os.environ.get("CASHIER_TEST_PG")
        if not server:
            self.fail("CASHIER_TEST_PG is not set: run through ctest (label postgres, fixture postgres)")
        self.server = server
        self.schema = "e2e_" + uuid.uuid4().hex[:12]
        psql(server, "CREATE SCHEMA " + self.schema)
        self.conninfo = "%s options='-csearch_path=%s'" % (server, self.schema)

    def tearDown(self):
        psql(self.server, "DROP SCHEMA %s CASCADE" % self.schema)

    def owners(self):
        """{owner: shards held with a live lease} by the database's clock."""
        rows = psql(self.conninfo, "SELECT convert_from(owner, 'UTF8'), count(*) FROM cluster_shards WHERE owner IS NOT NULL "
                                   "AND lease_until > (extract(epoch FROM clock_timestamp()) * 1000)::bigint "
                                   "GROUP BY owner")
        return {r.split("|")[0]: int(r.split("|")[1]) for r in rows.splitlines() if r}

    def cashierctl_cluster(self, config_path):
        out = subprocess.run([CASHIERCTL, "--config", config_path, "--json", "cluster"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)

    def test_three_instances_share_the_shards_and_take_over_a_killed_one(self):
        # The payments stay open long enough to be caught by the kill: paid after 6 s.
        store = {"engine": "postgres", "postgres": {"conninfo": self.conninfo},
                 "cluster": {"instanceId": "m0", "leaseSeconds": LEASE_SECONDS}}
        c = Cluster(auto_pay_after="6s", request_timeout_ms=1000,
                    config_extra={"database": None, "store": store})
        members = []
        try:
            # A cluster-wide call budget of 64 calls/s: each instance runs at 64 x its shards / 64.
            c.daemon.stop()
            with open(c.config_path) as f:
                cfg = json.load(f)
            cfg["alipayplus"]["maxRequestsPerSecond"] = BUDGET
            write_private(c.config_path, json.dumps(cfg, indent=2))
            c.start_daemon()
            members = [Member(c, "m1", cfg), Member(c, "m2", cfg)]
            views = {"m0": c, "m1": members[0].view, "m2": members[1].view}

            # The shards spread: ceil(64 / 3) = 22 at most each, every one held.
            wait_until(lambda: sorted(self.owners()) == ["m0", "m1", "m2"] and sum(self.owners().values()) == 64
                       and max(self.owners().values()) <= 22, 20, "the shards to spread over three instances")
            doc = self.cashierctl_cluster(c.config_path)
            self.assertEqual(doc["shardCount"], 64)
            self.assertEqual(sorted(i["instance"] for i in doc["instances"]), ["m0", "m1", "m2"], doc["instances"])
            self.assertEqual(sum(i["shards"] for i in doc["instances"]), 64)
            print("shards per instance: %s" % {i["instance"]: i["shards"] for i in doc["instances"]})
            # The budget is shared by shards: the rates in force add up to the budget, not 3 x it.
            def shares():
                return {n: v.metric("cashierd_alipayplus_budget_rate") for n, v in views.items()}
            wait_until(lambda: all(abs(r - self.owners().get(n, 0) * BUDGET / 64) < 1e-6 for n, r in shares().items()),
                       10, "each instance's budget share to follow its shards")
            self.assertAlmostEqual(sum(shares().values()), BUDGET)
            self.assertEqual(sum(v.metric("cashierd_cluster_shards_held") for v in views.values()), 64)

            # Payments created through every instance: each is stored in a shard of the instance
            # that took it (its Alipay+ id is drawn so), settles and sends one webhook event.
            first = {}
            for name, v in views.items():
                for k in range(3):
                    pid = "cl-%s-%d" % (name, k)
                    code, body = v.create(pid)
                    self.assertIn(code, (201, 202), body)
                    first[pid] = name
            for pid, name in first.items():
                owner = psql(self.conninfo, "SELECT convert_from(s.owner, 'UTF8') FROM payments p JOIN cluster_shards s ON s.shard = p.shard "
                                            "WHERE p.payment_request_id = '%s'" % pid)
                self.assertEqual(owner, name, pid)
            for pid in first:
                c.wait_status(pid, "SUCCESS", timeout=40)
            wait_until(lambda: all(c.sink.for_payment(p) for p in first), 30, "a webhook per payment")

            # kill -9 one instance with payments open (created through it, so in its shards).
            victim = members[1]
            held_before = self.owners().get("m2", 0)
            taken_before = sum(views[n].metric("cashierd_cluster_takeovers_total") for n in ("m0", "m1"))
            open_ids = ["cl-kill-%d" % k for k in range(6)]
            for pid in open_ids:
                code, body = victim.view.create(pid)
                self.assertIn(code, (201, 202), body)
            open_at_kill = int(psql(self.conninfo, "SELECT count(*) FROM payments WHERE status IN ('INIT', 'IN_PROCESS') "
                                                   "AND payment_request_id LIKE 'cl-kill-%'"))
            self.assertGreater(open_at_kill, 0, "payments open at the kill")
            victim.view.daemon.stop(signal.SIGKILL)
            killed = time.monotonic()
            wait_until(lambda: "m2" not in self.owners() and sum(self.owners().values()) == 64, 5 * LEASE_SECONDS,
                       "the killed instance's shards to be claimed by the others", interval=0.02)
            failover = time.monotonic() - killed
            print("failover: %d shards of the killed instance claimed by the others %.2f s after kill -9 "
                  "(bound: lease %.1f s + renewal %.1f s + claim tick %.1f s = %.1f s)"
                  % (held_before, failover, LEASE_SECONDS, RENEW_EVERY, CLAIM_TICK, FAILOVER_BOUND))
            # Within the bound, plus what polling the table through psql and a loaded machine add.
            self.assertLess(failover, FAILOVER_BOUND + 1.5)
            self.assertEqual(sorted(self.owners()), ["m0", "m1"])
            wait_until(lambda: abs(sum(views[n].metric("cashierd_alipayplus_budget_rate") for n in ("m0", "m1"))
                                   - BUDGET) < 1e-6, 10, "the survivors' shares to add up to the budget")

            # Its open payments finish on the new owners (inquiry polling: their notifies went to
            # the dead instance's port), each with one webhook event id.
            for pid in open_ids:
                c.wait_status(pid, "SUCCESS", timeout=60)
            everyone = list(first) + open_ids
            wait_until(lambda: all(c.sink.for_payment(p) for p in everyone), 30, "a webhook per payment")
            time.sleep(1)
            for pid in everyone:
                # One event id per event (a create answered 202 also has its payment.pending),
                # whoever delivered it: no instance sends another's events.
                by_type = {}
                for e in c.sink.for_payment(pid):
                    by_type.setdefault(e["body"]["type"], set()).add(e["id"])
                self.assertEqual(len(by_type.get("payment.succeeded", ())), 1, (pid, by_type))
                self.assertTrue(all(len(ids) == 1 for ids in by_type.values()), (pid, by_type))
                self.assertLessEqual(set(by_type), {"payment.pending", "payment.succeeded"}, pid)
            taken = sum(views[n].metric("cashierd_cluster_takeovers_total") for n in ("m0", "m1")) - taken_before
            self.assertGreaterEqual(taken, held_before, "the survivors took the killed instance's shards over")
            with open(c.daemon.log_path, encoding="utf-8", errors="replace") as f:
                first_log = f.read()
            self.assertIn("took shards over", first_log)
            self.assertNotIn(self.server, first_log, "the conninfo is never logged")

            # A drain releases the shards: the last survivor claims them at its next tick.
            self.assertEqual(members[0].view.daemon.stop(signal.SIGTERM), 0, "a clean drain")
            released = time.monotonic()
            wait_until(lambda: self.owners() == {"m0": 64}, 5 * LEASE_SECONDS, "m0 to hold every shard",
                       interval=0.02)
            print("after a drain: the released shards claimed %.2f s later" % (time.monotonic() - released))
            self.assertIn("released shards", members[0].log())
        finally:
            for m in members:
                if m.view.daemon and m.view.daemon.alive():
                    m.view.daemon.stop()
            self.assertEqual(c.close(), 0)

    def test_inputs_for_another_instances_payment_go_through_the_inbox(self):
        """Every instance's notifyUrl is m0's listener, so Alipay+ notifies the payments m1 and m2
        own at m0: m0 posts each to the inbox and acks once the row is durable; the owner applies
        it (its notify record is stored with the payment). A merchant cancel sent to m0 for a
        payment m2 owns is answered 202 and the owner cancels it; a merchant's and an operator's
        refund and an operator's redeliver sent to a non-owner are carried out by the owner."""
        store = {"engine": "postgres", "postgres": {"conninfo": self.conninfo},
                 "cluster": {"instanceId": "m0", "leaseSeconds": LEASE_SECONDS}}
        c = Cluster(auto_pay_after="4s", request_timeout_ms=1000, config_extra={"database": None, "store": store})
        members = []
        try:
            with open(c.config_path) as f:
                cfg = json.load(f)
            members = [Member(c, "m1", cfg, notify_port=c.port), Member(c, "m2", cfg, notify_port=c.port)]
            wait_until(lambda: sorted(self.owners()) == ["m0", "m1", "m2"] and sum(self.owners().values()) == 64
                       and max(self.owners().values()) <= 22, 20, "the shards to spread over three instances")
            paid = []
            for m in members:
                for k in range(2):
                    pid = "ib-%s-%d" % (m.name, k)
                    code, body = m.view.create(pid)
                    self.assertIn(code, (201, 202), body)
                    paid.append(pid)
            code, body = members[1].view.create("ib-cancel")
            self.assertIn(code, (201, 202), body)
            code, body = c.cancel("ib-cancel")  # m0 does not own it: through the inbox
            self.assertEqual(code, 202, body)
            for pid in paid:
                c.wait_status(pid, "SUCCESS", timeout=40)
            c.wait_status("ib-cancel", "CANCELLED", timeout=40)
            for pid in paid:
                # The notify reached m0 (its notifyUrl), and its record was committed with the
                # payment by the owner, through the inbox.
                ok = int(psql(self.conninfo, "SELECT count(*) FROM inbound_notifies n JOIN payments p ON p.id = n.payment_id "
                                             "WHERE p.payment_request_id = '%s' AND convert_from(n.verification, 'UTF8') = 'ok'"
                                             % pid))
                self.assertGreaterEqual(ok, 1, pid)
            wait_until(lambda: psql(self.conninfo, "SELECT count(*) FROM inbox") == "0", 10, "the inbox to drain")
            # A refund created on an instance that does not own the payment goes through the
            # inbox: the owner creates it, and the non-owner answers with it (201/202). Exactly
            # one refund exists, and the merchant's repeat on the owner is a repeat (200, the same
            # refund).
            path = "/v1/payments/ib-m1-0/refunds"
            order = {"refundRequestId": "rf-1", "refundAmount": {"value": "100", "currency": "USD"}}
            code, headers, raw = c.exchange("POST", path, order)
            created = json.loads(raw)
            self.assertIn(code, (201, 202), created)
            self.assertEqual(created["refundRequestId"], "rf-1", created)
            self.assertEqual(created["refundAmount"], {"currency": "USD", "value": "100"}, created)
            self.assertEqual(psql(self.conninfo, "SELECT count(*) FROM refunds"), "1")
            code, again = members[0].view.request("POST", path, order)
            self.assertEqual(code, 200, again)
            for key in ("refundRequestId", "refundAmount", "createdAt"):
                self.assertEqual(again[key], created[key], (again, created))
            self.assertEqual(psql(self.conninfo, "SELECT count(*) FROM refunds"), "1")
            wait_until(lambda: psql(self.conninfo, "SELECT count(*) FROM inbox") == "0", 10, "the refund row to go")
            wait_until(lambda: all(c.sink.for_payment(p) for p in paid), 30, "a webhook per payment")
            # The operator's refund and redeliver (cashierctl refund / redeliver) sent to m0 for
            # payments m2 owns go to m2's inbox too: the refund is created once, by m2, and the
            # event is delivered again under the same webhook id.
            code, op = c.admin("/admin/payments/ib-m2-0/refund", {"value": "50", "refundRequestId": "op-1"})
            self.assertIn(code, (201, 202), op)
            self.assertEqual(op["refundRequestId"], "op-1", op)
            self.assertEqual(psql(self.conninfo, "SELECT count(*) FROM refunds"), "2")
            event = psql(self.conninfo, "SELECT convert_from(o.event_id, 'UTF8') FROM merchant_outbox o JOIN payments p "
                                        "ON p.id = o.payment_id WHERE p.payment_request_id = 'ib-m2-1' ORDER BY o.seq LIMIT 1")
            before = len(c.sink.for_payment("ib-m2-1"))
            code, body = c.admin("/admin/events/%s/redeliver" % event)
            self.assertEqual(code, 202, body)
            wait_until(lambda: len(c.sink.for_payment("ib-m2-1")) > before, 30, "the redelivered webhook")
            again = c.sink.for_payment("ib-m2-1")[before:]
            self.assertIn(event, [{k.lower(): v for k, v in e["headers"].items()}.get("webhook-id") for e in again])
            wait_until(lambda: psql(self.conninfo, "SELECT count(*) FROM inbox") == "0", 10, "the operator's rows to go")
        finally:
            for m in members:
                if m.view.daemon and m.view.daemon.alive():
                    m.view.daemon.stop()
            self.assertEqual(c.close(), 0)


if __name__ == "__main__":
    unittest.main()
