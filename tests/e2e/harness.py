"""End-to-end harness: real cashierd and aplus-sim processes on loopback, real TLS with
certificates made by tools/dev-keys, a merchant webhook sink, and helpers to drive the merchant
API. Standard library only. Each test gets its own temp dir, ports and database.

Environment: CASHIER_BUILD_DIR (the CMake build dir with the binaries), CASHIER_SOURCE_DIR,
CASHIER_RELIABILITY_DIR (where the fault and hostile suites write their JSON summaries; default
<build dir>/reliability).
"""
import base64
import contextlib
import hashlib
import hmac
import json
import os
import select
import signal
import socket
import sqlite3
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import http.client
import http.server
import unittest
import urllib.parse

SOURCE = os.environ.get("CASHIER_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("CASHIER_BUILD_DIR", os.path.join(SOURCE, "build", "dev"))
CASHIERD = os.path.join(BUILD, "orchestrator", "daemon", "cashierd")
APLUS_SIM = os.path.join(BUILD, "tools", "aplus-sim", "aplus-sim")
TOKEN = "e2e_merchant_token_0123456789"
ADMIN_TOKEN = "e2e_admin_token_0123456789abcdef"
SECRET = "whsec_ZTJlLXdlYmhvb2stc2VjcmV0LWtleS0wMTIz"
CLIENT_ID = "E2E_CLIENT"
# The merchant's identity towards Alipay+, configured and sent as order.merchant (issue 14).
MERCHANT = {"referenceMerchantId": "M1", "merchantName": "E2E Shop", "merchantMCC": "5812",
            "merchantAddress": {"region": "US", "city": "Springfield"}}

_keys_lock = threading.Lock()
_keys_dir = None


def dev_keys():
    """One set of dev keys and certificates for every test process of a build, in the build dir
    (tools/dev-keys is idempotent and locks its directory, so parallel ctest entries share it)."""
    global _keys_dir
    with _keys_lock:
        if _keys_dir is None:
            keys = os.path.join(BUILD, "e2e-keys")
            subprocess.run([os.path.join(SOURCE, "tools", "dev-keys"), keys], check=True, stdout=subprocess.DEVNULL)
            _keys_dir = keys
        return _keys_dir


def write_private(path, text):
    """Writes a file only its owner can read: cashierd refuses a config holding tokens (or a key)
    that every user can read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what, interval=0.05):
    """Polls predicate() until it returns a truthy value; fails the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %.1f s waiting for %s (last: %r)" % (timeout, what, last))


class WebhookSink:
    """A merchant endpoint that records every webhook; can be switched to answer 500."""

    def __init__(self):
        self.events = []
        self.failing = False
        self.lock = threading.Lock()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                wid, wts = self.headers.get("webhook-id"), self.headers.get("webhook-timestamp")
                key = base64.b64decode(SECRET[len("whsec_"):])
                mac = hmac.new(key, ("%s.%s." % (wid, wts)).encode() + body, hashlib.sha256).digest()
                expected = "v1," + base64.b64encode(mac).decode()
                sig_ok = expected in (self.headers.get("webhook-signature") or "").split(" ")
                with sink.lock:
                    failing = sink.failing
                    if not failing:
                        sink.events.append({"id": wid, "sig_ok": sig_ok,
                                            "timestamp": self.headers.get("webhook-timestamp"),
                                            "signature": self.headers.get("webhook-signature"),
                                            "body": json.loads(body), "raw": body,
                                            "headers": dict(self.headers.items())})
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/webhooks" % self.port

    def for_payment(self, payment_request_id):
        with self.lock:
            return [e for e in self.events if e["body"]["data"]["payment"]["paymentRequestId"] == payment_request_id]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Process:
    """A child process with its stderr in a log file."""

    def __init__(self, args, log_path):
        self.args = args
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.alive():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def tail(self, n=40):
        with open(self.log_path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")


class TcpProxy:
    """A loopback TCP proxy to `target_port` (TLS passes through untouched) that can refuse:
    refuse() resets every proxied connection and closes the listener, so new connections get
    ECONNREFUSED; accept() listens again on the same port."""

    def __init__(self, target_port):
        self.target_port = target_port
        self.lock = threading.Lock()
        self.conns = []
        self.port = 0
        self.listener = None
        self.accept()

    def accept(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(128)
        self.port = s.getsockname()[1]
        self.listener = s
        threading.Thread(target=self._accept_loop, args=(s,), daemon=True).start()

    def refuse(self):
        with self.lock:
            s, self.listener = self.listener, None
            conns, self.conns = self.conns, []
        if s:
            s.shutdown(socket.SHUT_RDWR)  # wakes the accept loop
            s.close()
        for c in conns:
            _reset(c)

    def close(self):
        self.refuse()

    def _accept_loop(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                _reset(client)
                continue
            with self.lock:
                live = self.listener is listener  # refuse() may have run meanwhile
                if live:
                    self.conns += [client, upstream]
            if not live:
                _reset(client)
                _reset(upstream)
                return
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a, b):
        socks = [a, b]
        try:
            while True:
                readable, _, _ = select.select(socks, [], [], 0.2)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        raise OSError("closed")
                    (b if s is a else a).sendall(data)
        except (OSError, ValueError):
            with self.lock:
                self.conns = [c for c in self.conns if c not in socks]
            for s in socks:
                _reset(s)


def _reset(sock):
    """Closes `sock` with a TCP RST (SO_LINGER 0)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class Cluster:
    """aplus-sim + cashierd + a webhook sink, over HTTPS on loopback."""

    def __init__(self, time_scale=1, auto_pay_after="2s", payment_cfg=None, request_timeout_ms=2000,
                 sim_args=(), sim_time_scale=None, gateway_proxy=False, extra_merchants=(), config_extra=None):
        self.dir = tempfile.mkdtemp(prefix="cashier-e2e-")
        self.keys = dev_keys()
        self.time_scale = time_scale
        self.sink = WebhookSink()
        self.sim_port = free_port()
        self.port = free_port()
        self.ops_port = free_port()  # opsListen: /healthz, /readyz, /metrics, /admin/ (plain HTTP)
        # With gateway_proxy, cashierd reaches aplus-sim through a TCP proxy that can refuse.
        self.proxy = TcpProxy(self.sim_port) if gateway_proxy else None
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.keys, "ca.pem"))
        self.sim = Process([APLUS_SIM, "--listen", "127.0.0.1:%d" % self.sim_port,
                            "--cert", self.k("server.pem"), "--key", self.k("server.key"),
                            "--private-key", self.k("aplus_private.pem"),
                            "--acqp-public-key", self.k("acqp_public.pem"),
                            "--client-id", CLIENT_ID, "--notify-ca", self.k("ca.pem"),
                            "--auto-pay-after", auto_pay_after,
                            "--time-scale", str(time_scale if sim_time_scale is None else sim_time_scale)]
                           + list(sim_args), os.path.join(self.dir, "aplus-sim.log"))
        self.config_path = os.path.join(self.dir, "cashierd.json")
        self.database = os.path.join(self.dir, "cashierd.db")
        cfg = {
            "listen": "127.0.0.1:%d" % self.port,
            "tls": {"cert": self.k("server.pem"), "key": self.k("server.key")},
            "database": self.database,
            "alipayplus": {
                "gateway": "https://127.0.0.1:%d" % (self.proxy.port if self.proxy else self.sim_port),
                "clientId": CLIENT_ID,
                "privateKey": self.k("acqp_private.pem"),
                "alipayplusPublicKey": self.k("aplus_public.pem"),
                "keyVersion": 1,
                "notifyUrl": "https://127.0.0.1:%d/alipayplus/notify" % self.port,
                "caFile": self.k("ca.pem"),
                "requestTimeoutMs": request_timeout_ms,
            },
            "payment": dict({"createWaitMs": 3000}, **(payment_cfg or {})),
            # The sink is on loopback: only a test config may allow private webhook addresses.
            "merchants": [dict({"id": "shop", "token": TOKEN, "notifySecret": SECRET, "notifyUrl": self.sink.url,
                                "allowPrivateNotifyAddresses": True}, **MERCHANT)]
            + [dict(m) for m in extra_merchants],
            "opsListen": "127.0.0.1:%d" % self.ops_port,
            "adminToken": ADMIN_TOKEN,
            "timeScale": time_scale,
        }
        cfg.update(config_extra or {})
        cfg = {k: v for k, v in cfg.items() if v is not None}  # config_extra may remove a key (None)
        write_private(self.config_path, json.dumps(cfg, indent=2))
        self.daemon = None
        wait_until(lambda: self._sim_up(), 10, "aplus-sim to listen")
        self.start_daemon()

    def k(self, name):
        return os.path.join(self.keys, name)

    def _sim_up(self):
        if not self.sim.alive():
            raise AssertionError("aplus-sim exited:\n" + self.sim.tail())
        try:
            socket.create_connection(("127.0.0.1", self.sim_port), timeout=0.2).close()
            return True
        except OSError:
            return False

    def start_daemon(self):
        self.daemon = Process([CASHIERD, "--config", self.config_path], os.path.join(self.dir, "cashierd.log"))

        def ready():
            if not self.daemon.alive():
                raise AssertionError("cashierd exited:\n" + self.daemon.tail())
            try:
                return self.ops("GET", "/readyz")[0] == 200
            except OSError:
                return False
        wait_until(ready, 15, "cashierd /readyz")

    def ops(self, method, path, body=None, token=None):
        """One request to the ops listener (plain HTTP): (status, parsed JSON or text). `token` is
        sent as the Bearer token when given."""
        conn = http.client.HTTPConnection("127.0.0.1", self.ops_port, timeout=30)
        h = {"Content-Type": "application/json"}
        if token:
            h["Authorization"] = "Bearer " + token
        data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
        conn.close()
        try:
            parsed = json.loads(raw) if raw and r.getheader("content-type", "").startswith("application/json") else raw.decode(errors="replace")
        except ValueError:
            parsed = raw.decode(errors="replace")
        return r.status, parsed

    def admin(self, path, body=None):
        """An admin action (POST /admin/...) with the admin token: (status, parsed answer)."""
        return self.ops("POST", path, {} if body is None else body, token=ADMIN_TOKEN)

    def metrics(self):
        """cashierd's /metrics page (text), from the ops listener."""
        status, text = self.ops("GET", "/metrics")
        if status != 200:
            raise AssertionError("/metrics answered %d: %s" % (status, text))
        return text

    def exchange(self, method, path, body=None, token=TOKEN, headers=None):
        """One merchant API call: (status, answer headers as a lowercase dict, raw body). A dict
        body is sent as JSON; no token, no Authorization field."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
        h = {"Content-Type": "application/json"}
        if token:
            h["Authorization"] = "Bearer " + token
        h.update(headers or {})
        data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
        conn.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, raw

    def metric(self, name):
        """The value of label-less metric `name` from one /metrics scrape (None when absent). The
        one place that knows where /metrics is served."""
        for line in self.metrics().splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == name:
                return float(parts[1])
        return None

    def request(self, method, path, body=None, auth=True, headers=None, token=TOKEN):
        status, _, raw = self.exchange(method, path, body, token if auth else None, headers)
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return status, parsed

    def create(self, payment_request_id, value="1000", currency="USD", description="e2e order", token=TOKEN,
               merchant=MERCHANT, **extra):
        body = {
            "paymentRequestId": payment_request_id,
            "order": {"referenceOrderId": "ord-" + payment_request_id, "orderDescription": description,
                      "orderAmount": {"currency": currency, "value": value},
                      "merchant": merchant,
                      "env": {"terminalType": "WEB"}},
            "paymentAmount": {"currency": currency, "value": value},
            "paymentRedirectUrl": "https://shop.example.com/done",
        }
        body.update(extra)
        return self.as_merchant(token, "POST", "/v1/payments", body)

    def as_merchant(self, token, method, path, body=None):
        """request() as the merchant of `token`; the default merchant's calls go through request()
        unchanged, so a caller that replaces request() (tools/crash-campaign) keeps working."""
        if token == TOKEN:
            return self.request(method, path, body)
        return self.request(method, path, body, token=token)

    def get(self, payment_request_id, events=False, token=TOKEN):
        return self.as_merchant(token, "GET", "/v1/payments/" + urllib.parse.quote(payment_request_id, safe="")
                                + ("?events=true" if events else ""))

    def alipay_id(self, payment_request_id, token=TOKEN):
        """cashierd's own Alipay+ paymentRequestId for the merchant's `payment_request_id` (what
        aplus-sim knows the payment by, issue 14): from the merchant API, else (cashierd down)
        from the database; the id itself when neither knows the payment."""
        try:
            code, body = self.as_merchant(token, "GET", "/v1/payments/" + urllib.parse.quote(payment_request_id, safe=""))
            if code == 200:
                return body["alipayPaymentRequestId"]
        except (OSError, http.client.HTTPException):
            pass
        try:
            rows = self.query("SELECT alipay_payment_request_id FROM payments WHERE payment_request_id = ?",
                              payment_request_id)
        except sqlite3.Error:
            rows = []
        return rows[0]["alipay_payment_request_id"] if len(rows) == 1 else payment_request_id

    def status(self, payment_request_id, token=TOKEN):
        code, body = self.get(payment_request_id, token=token)
        return body["status"] if code == 200 else None

    def wait_status(self, payment_request_id, wanted, timeout=30, token=TOKEN):
        wanted = {wanted} if isinstance(wanted, str) else set(wanted)
        return wait_until(lambda: (self.status(payment_request_id, token) in wanted) and self.status(payment_request_id, token),
                          timeout, "%s to reach %s" % (payment_request_id, wanted), interval=0.1)

    def sim_truth(self, payment_request_id):
        conn = http.client.HTTPSConnection("127.0.0.1", self.sim_port, context=self.ctx, timeout=10)
        conn.request("GET", "/sim/payments/" + urllib.parse.quote(self.alipay_id(payment_request_id), safe=""))
        r = conn.getresponse()
        body = r.read()
        conn.close()
        return json.loads(body) if r.status == 200 else None

    def sim_notify(self, payment_request_id, **crafted):
        """POST /sim/notify: aplus-sim sends a notify for the payment now, signed with its real key,
        with the deviations in `crafted` (set, clientId, requestTime, badSignature, copies).
        Returns the list of deliveries ({httpStatus, acked, detail, answer})."""
        code, data = self.sim_control("/sim/notify", dict(crafted, paymentRequestId=self.alipay_id(payment_request_id)))
        if code != 200:
            raise AssertionError("/sim/notify answered %d: %s" % (code, data))
        return json.loads(data)["deliveries"]

    def cancel(self, payment_request_id, reason="e2e", token=TOKEN):
        return self.as_merchant(token, "POST", "/v1/payments/%s/cancel" % urllib.parse.quote(payment_request_id, safe=""),
                                {"reason": reason})

    def db(self):
        """A read-only connection to cashierd's database (WAL: reads committed snapshots)."""
        conn = sqlite3.connect("file:%s?mode=ro" % self.database, uri=True, timeout=10)
        conn.row_factory = sqlite3.Row
        return conn

    def query(self, sql, *args):
        with contextlib.closing(self.db()) as conn:
            return [dict(r) for r in conn.execute(sql, args)]

    def sim_control(self, path, body):
        conn = http.client.HTTPSConnection("127.0.0.1", self.sim_port, context=self.ctx, timeout=10)
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, data

    def close(self):
        rc = self.daemon.stop() if self.daemon else None
        self.sim.stop()
        self.sink.close()
        if self.proxy:
            self.proxy.close()
        return rc


class ClusterTest(unittest.TestCase):
    """A test case with one cluster; logs are printed when a test fails."""
    cluster_args = {}

    def setUp(self):
        self.c = Cluster(**self.cluster_args)

    def tearDown(self):
        failed = any(err for _, err in (self._outcome.errors if hasattr(self._outcome, "errors") else []))
        rc = self.c.close()
        if failed or (hasattr(self._outcome, "result") and not self._outcome.result.wasSuccessful()):
            print("\n--- cashierd log (%s) ---\n%s" % (self.c.dir, open(self.c.daemon.log_path, errors="replace").read()[-6000:]))
            print("--- aplus-sim log ---\n%s" % open(self.c.sim.log_path, errors="replace").read()[-4000:])
        self.assertEqual(rc, 0, "cashierd should exit 0 after SIGTERM")


def reliability_dir():
    return os.environ.get("CASHIER_RELIABILITY_DIR") or os.path.join(BUILD, "reliability")


def write_reliability_summary(suite, **counts):
    """Writes $CASHIER_RELIABILITY_DIR/<suite>.json, the summary tools/reliability-report reads."""
    summary = {"suite": suite, "scenarios": 0, "faults_injected": 0, "payments_checked": 0, "lost": 0,
               "duplicated": 0, "stuck": 0, "hostile_tried": 0, "hostile_rejected": 0}
    summary.update(counts)
    os.makedirs(reliability_dir(), exist_ok=True)
    path = os.path.join(reliability_dir(), suite + ".json")
    with open(path + ".tmp", "w") as f:
        json.dump(summary, f, indent=2)
    os.replace(path + ".tmp", path)
    return summary
