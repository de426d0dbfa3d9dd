"""End-to-end on the PostgreSQL store (ctest label `postgres`, issue 18 item 1): one cashierd with
`store.engine = "postgres"` on the fixture's throwaway server (CASHIER_TEST_PG, a schema of its
own), aplus-sim and the webhook sink. The quickstart lifecycle (create -> pay -> SUCCESS ->
webhook), then a kill -9 with payments in flight: the restarted daemon re-arms the open payments
from PostgreSQL and every one settles with exactly one webhook event id. cashierctl --config
reads the same database. Nothing is written to a SQLite file. Each start claims every shard
with an epoch bump and fences its commits, as on SQLite (proto-docs/cluster.md).
"""
import json
import os
import signal
import subprocess
import time
import unittest
import uuid

from harness import BUILD, Cluster, wait_until

CASHIERCTL = os.path.join(BUILD, "tools", "cashierctl", "cashierctl")


def psql(conninfo, sql):
    """One statement through psql (the test has no libpq binding): its rows, '|'-separated."""
    out = subprocess.run(["psql", conninfo, "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         check=True, capture_output=True, text=True, timeout=30)
    return out.stdout.strip()


class PostgresLifecycle(unittest.TestCase):
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

    def test_lifecycle_and_kill_9_on_postgres(self):
        c = Cluster(auto_pay_after="2s", request_timeout_ms=1000,
                    config_extra={"database": None,
                                  "store": {"engine": "postgres", "postgres": {"conninfo": self.conninfo}}})
        try:
            # The quickstart lifecycle.
            code, body = c.create("pg-order-1")
            self.assertIn(code, (201, 202), body)
            c.wait_status("pg-order-1", "SUCCESS", timeout=30)
            wait_until(lambda: c.sink.for_payment("pg-order-1"), 30, "the webhook of pg-order-1")
            hook = c.sink.for_payment("pg-order-1")[0]
            self.assertEqual(hook["body"]["type"], "payment.succeeded")
            self.assertTrue(hook["sig_ok"])
            self.assertEqual(psql(self.conninfo, "SELECT status FROM payments WHERE payment_request_id = 'pg-order-1'"),
                             "SUCCESS")

            # kill -9 with payments in flight: the restart re-arms them from PostgreSQL.
            ids = ["pg-crash-%02d" % i for i in range(12)]
            for i in ids:
                code, body = c.create(i)
                self.assertIn(code, (201, 202), body)
            open_before = int(psql(self.conninfo, "SELECT count(*) FROM payments WHERE status IN ('INIT', 'IN_PROCESS')"))
            c.daemon.stop(signal.SIGKILL)
            time.sleep(0.3)
            c.start_daemon()
            for i in ids:
                c.wait_status(i, "SUCCESS", timeout=60)
            wait_until(lambda: all(c.sink.for_payment(i) for i in ids), 30, "one webhook per payment")
            time.sleep(1)
            for i in ids:
                events = c.sink.for_payment(i)
                self.assertEqual(len({e["id"] for e in events}), 1, (i, events))  # one stable event id
            self.assertEqual(psql(self.conninfo, "SELECT count(*) FROM payments WHERE status = 'SUCCESS'"), "13")
            # One instance owns every shard, as on SQLite: each start claimed all 64 with an
            # epoch bump (two starts: epoch 2), and every payment was stored with its shard.
            self.assertEqual(psql(self.conninfo, "SELECT count(*), min(epoch), max(epoch), count(DISTINCT owner), "
                                                 "count(*) FILTER (WHERE owner IS NULL) FROM cluster_shards"),
                             "64|2|2|1|0")
            self.assertEqual(open(c.daemon.log_path).read().count("claimed every shard"), 2)
            self.assertEqual(psql(self.conninfo, "SELECT count(*) FROM payments WHERE shard = cashier_shard("
                                                 "alipay_payment_request_id, 64)"), "13")
            print("open payments at the kill: %d of %d" % (open_before, len(ids)))

            # cashierctl --config reads the same database (read-only transactions).
            out = subprocess.run([CASHIERCTL, "--config", c.config_path, "stats", "--json"],
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn('"SUCCESS":13', out.stdout.replace(" ", ""))
            # cashierctl cluster reads the shard table: one instance holding all 64.
            out = subprocess.run([CASHIERCTL, "--config", c.config_path, "--json", "cluster"],
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            doc = json.loads(out.stdout)
            self.assertEqual((doc["shardCount"], doc["freeShards"], len(doc["instances"])), (64, 0, 1), doc["instances"])
            self.assertEqual(doc["instances"][0]["shards"], 64)
            self.assertEqual(doc["instances"][0]["minEpoch"], 2)
            self.assertFalse(os.path.exists(c.database), "no SQLite file with store.engine postgres")
            self.assertNotIn(self.server, open(c.daemon.log_path).read(), "the conninfo is never logged")
        finally:
            self.assertEqual(c.close(), 0)


if __name__ == "__main__":
    unittest.main()
