"""Storage faults (issue 6): the disk under a running cashierd fills up, and its file system
turns read-only. Real processes on loopback (tests/e2e/harness.py); the database sits on a file
system of its own:

- disk full: a small tmpfs, filled with a filler file until ENOSPC and given back by deleting it.
  Where mounting is impossible (not root, no CAP_SYS_ADMIN) the file-size limit of the daemon
  process stands in (`prlimit --fsize`, writes past the current size fail with EFBIG); set
  CASHIER_DISK_FULL=rlimit to force that method.
- read-only: ext4 on a loop device mounted errors=remount-ro; the kernel's own error path
  (/sys/fs/ext4/<dev>/trigger_fs_error) turns it read-only under the daemon, as a failing disk
  does. Skipped when loop mounts are impossible.

While it cannot commit, cashierd must answer creates 503 with a JSON error, leave notifies
unacknowledged (Alipay+ retries them), report not ready, lose nothing it acknowledged, and
recover by itself once space returns (no restart). Writes a summary to
$CASHIER_RELIABILITY_DIR/storage.json (default <build dir>/reliability/) when every test passed.
"""
import glob
import json
import os
import shutil
import subprocess
import tempfile
import unittest
import urllib.parse

from harness import BUILD, Cluster, wait_until

SUMMARY = os.path.join(os.environ.get("CASHIER_RELIABILITY_DIR") or os.path.join(BUILD, "reliability"), "storage.json")
TOTALS = {"scenarios": 0, "faults_injected": 0, "payments_checked": 0, "passed": 0}


def setUpModule():
    if os.path.exists(SUMMARY):
        os.remove(SUMMARY)  # a stale summary must not stand for this run


def tearDownModule():
    if TOTALS["passed"] != TOTALS["scenarios"]:
        return  # a failed test: no summary, so the reliability report sees the suite missing
    os.makedirs(os.path.dirname(SUMMARY), exist_ok=True)
    with open(SUMMARY, "w") as f:
        json.dump({"suite": "storage", "scenarios": TOTALS["scenarios"], "faults_injected": TOTALS["faults_injected"],
                   "crashes": 0, "payments_checked": TOTALS["payments_checked"], "lost": 0, "duplicated": 0,
                   "stuck": 0, "hostile_tried": 0, "hostile_rejected": 0}, f, indent=1)


def run(*args):
    return subprocess.run(args, capture_output=True, text=True)


class StorageCluster(Cluster):
    """A cluster whose database lives in `db_dir` (a mount point)."""

    def __init__(self, db_dir, **kw):
        self.db_dir = db_dir
        super().__init__(**kw)

    def start_daemon(self):
        with open(self.config_path) as f:
            cfg = json.load(f)
        self.database = cfg["database"] = os.path.join(self.db_dir, "cashierd.db")
        with open(self.config_path, "w") as f:
            json.dump(cfg, f, indent=2)
        super().start_daemon()


class StorageTest(unittest.TestCase):
    """The shared checks; subclasses break and repair the file system."""
    # The payer pays when the test clicks; 1 payment minute = 0.1 s. The notify retries come
    # 0.2 s, 1.2 s, 2.2 s and 8.2 s after the payer, the expiry after 30 s.
    cluster_args = {"time_scale": 600, "auto_pay_after": "off", "payment_cfg": {"defaultExpiryMinutes": 300}}

    def setUp(self):
        TOTALS["scenarios"] += 1
        self.mnt = tempfile.mkdtemp(prefix="cashier-storage-")
        self.c = None

    def tearDown(self):
        if self.c:
            result = self._outcome.result
            failed = any(test is self for test, _ in result.failures + result.errors)
            self.c.close()
            if failed:
                with open(self.c.daemon.log_path, errors="replace") as f:
                    print("\n--- cashierd log (%s) ---\n%s" % (self.c.dir, f.read()[-5000:]))

    def passed(self, payments):
        TOTALS["payments_checked"] += payments
        TOTALS["faults_injected"] += 1
        TOTALS["passed"] += 1

    def ready(self):
        return self.c.ops("GET", "/readyz")

    def create_until_refused(self, prefix):
        """Creates payments until one is refused; returns the acknowledged ones. A full disk may
        still hold a few commits in the slack of the write-ahead log's last pages."""
        acked = []
        for i in range(200):
            code, body = self.c.create("%s-%d" % (prefix, i))
            if code == 503:
                self.assertEqual(body["error"]["code"], "STORE_UNAVAILABLE", body)
                self.assertIn("retry later", body["error"]["message"])
                return acked
            self.assertIn(code, (201, 202), body)
            acked.append("%s-%d" % (prefix, i))
        self.fail("200 creates were all accepted on a broken store")

    def pay(self, payment_request_id):
        """Clicks Pay on the checkout (once the pay answer, with the checkout URL, is recorded)."""
        normal_url = wait_until(lambda: self.c.get(payment_request_id)[1].get("normalUrl"), 30,
                                "the checkout URL of " + payment_request_id)
        url = urllib.parse.urlparse(normal_url)
        self.assertEqual(self.c.sim_control(url.path + "/pay", {})[0], 200)

    def assert_refusing(self, open_id):
        """Not ready; creates refused; a notify for `open_id` stays unacknowledged and is retried."""
        code, body = self.ready()
        self.assertEqual(code, 503, body)
        self.assertEqual(body["error"]["code"], "STORE_UNAVAILABLE")
        code, body = self.c.create(open_id + "-refused")
        self.assertEqual(code, 503, body)
        self.pay(open_id)
        truth = wait_until(lambda: (lambda t: t["notify"]["attempts"] >= 2 and t)(self.c.sim_truth(open_id)),
                           30, "a retried notify")
        self.assertEqual(truth["notify"]["acks"], 0, truth)
        self.assertEqual(self.c.status(open_id), "IN_PROCESS")  # reads still work
        self.assertTrue(self.c.daemon.alive())
        # Whatever the ops listener answers meanwhile, no SQL text or file path reaches the caller.
        for status, answer in (self.c.admin("/admin/payments/%s/inquire" % open_id), self.c.ops("GET", "/readyz"),
                               self.c.ops("GET", "/metrics")):
            text = answer if isinstance(answer, str) else json.dumps(answer)
            for leak in (self.c.dir, "INSERT", "UPDATE ", "SELECT ", "sqlite"):
                self.assertNotIn(leak, text, (status, text[:300]))

    def assert_settles(self, ids):
        """Every acknowledged payment exists and settles, and its merchant is told once."""
        for i in ids:
            self.c.wait_status(i, "SUCCESS", timeout=60)
            wait_until(lambda: self.c.sink.for_payment(i), 30, "the webhook of " + i)
            self.assertEqual(len({e["id"] for e in self.c.sink.for_payment(i)}), 1)


class DiskFull(StorageTest):
    def setUp(self):
        super().setUp()
        self.method = os.environ.get("CASHIER_DISK_FULL") or "tmpfs"
        if self.method == "tmpfs" and run("mount", "-t", "tmpfs", "-o", "size=8m", "cashier-test", self.mnt).returncode != 0:
            self.method = "rlimit"
        self.c = StorageCluster(self.mnt, **self.cluster_args)

    def tearDown(self):
        super().tearDown()
        if self.method == "tmpfs":
            run("umount", self.mnt)
        shutil.rmtree(self.mnt, ignore_errors=True)

    def fill(self):
        if self.method == "rlimit":
            size = max(os.path.getsize(f) for f in glob.glob(self.c.database + "*"))
            # The soft limit only: raising a lowered hard limit again needs CAP_SYS_RESOURCE.
            self.assertEqual(run("prlimit", "--pid", str(self.c.daemon.proc.pid), "--fsize=%d:unlimited" % size).returncode, 0)
            return
        # Unbuffered: a buffered file would keep the bytes that did not fit and raise ENOSPC
        # again when closed (whether it does depends on how the free space divides by 64 KiB).
        with open(os.path.join(self.mnt, "filler"), "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
            except OSError:
                pass

    def free(self):
        if self.method == "rlimit":
            self.assertEqual(run("prlimit", "--pid", str(self.c.daemon.proc.pid), "--fsize=unlimited").returncode, 0)
        else:
            os.remove(os.path.join(self.mnt, "filler"))

    def test_full_disk_refuses_then_recovers_without_restart(self):
        print("disk full by", self.method)
        code, body = self.c.create("disk-open")
        self.assertEqual(code, 201, body)
        pid = self.c.daemon.proc.pid
        self.fill()
        acked = ["disk-open"] + self.create_until_refused("disk-during")
        self.assert_refusing("disk-open")
        self.free()
        wait_until(lambda: self.ready()[0] == 200, 30, "/readyz 200 once space is back")
        self.assertEqual(self.c.daemon.proc.pid, pid)
        code, body = self.c.create("disk-after")
        self.assertEqual(code, 201, body)
        for i in acked[1:] + ["disk-after"]:
            self.pay(i)
        self.assert_settles(acked + ["disk-after"])
        # Alipay+'s notify retries go on (2 m, 10 m, 10 m, 1 h apart): one is acknowledged now.
        wait_until(lambda: self.c.sim_truth("disk-open")["notify"]["acked"], 30, "an acknowledged notify retry")
        self.assertEqual(self.c.get("disk-open-refused")[0], 404)  # refused, so never created
        self.passed(len(acked) + 2)


class ReadOnly(StorageTest):
    def setUp(self):
        super().setUp()
        self.image = os.path.join(self.mnt + ".img")
        with open(self.image, "wb") as f:
            f.truncate(32 << 20)
        ok = run("mkfs.ext4", "-q", "-F", self.image).returncode == 0 and \
            run("mount", "-o", "loop,errors=remount-ro", self.image, self.mnt).returncode == 0
        if not ok:
            os.remove(self.image)
            self.skipTest("cannot mount an ext4 loop device here (needs root and loop devices)")
        self.c = StorageCluster(self.mnt, **self.cluster_args)

    def tearDown(self):
        super().tearDown()
        run("umount", self.mnt)
        os.remove(self.image)
        shutil.rmtree(self.mnt, ignore_errors=True)

    def break_file_system(self):
        device = os.path.basename(run("findmnt", "-n", "-o", "SOURCE", self.mnt).stdout.strip())
        with open("/sys/fs/ext4/%s/trigger_fs_error" % device, "w") as f:
            f.write("cashierd storage test\n")
        with self.assertRaises(OSError):  # EROFS
            open(os.path.join(self.mnt, "probe"), "w").close()

    def test_read_only_file_system_refuses_and_loses_nothing(self):
        code, body = self.c.create("ro-open")
        self.assertEqual(code, 201, body)
        self.break_file_system()
        acked = ["ro-open"] + self.create_until_refused("ro-during")
        self.assert_refusing("ro-open")
        # An errored ext4 cannot be remounted read-write while files on it are open: the
        # operator stops cashierd, repairs the file system and starts it again.
        self.assertEqual(self.c.daemon.stop(), 0)
        self.assertEqual(run("umount", self.mnt).returncode, 0)
        self.assertIn(run("e2fsck", "-fy", self.image).returncode, (0, 1))
        self.assertEqual(run("mount", "-o", "loop,errors=remount-ro", self.image, self.mnt).returncode, 0)
        self.c.start_daemon()
        for i in acked[1:]:
            self.pay(i)
        self.assert_settles(acked)
        self.passed(len(acked) + 1)


if __name__ == "__main__":
    unittest.main()
