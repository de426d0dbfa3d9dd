#!/usr/bin/env python3
"""Starts aplus-sim and cashierd exactly as the e2e tests do (tests/e2e/harness.py: real
processes, real TLS with the certificates of tools/dev-keys, loopback), then runs the browser
tests (checkout.test.mjs, Node's test runner driving Debian's Chromium through playwright-core)
against them, and stops both. Usage: run.py [test-name-pattern]. Environment as for the e2e
tests (CASHIER_BUILD_DIR, CASHIER_SOURCE_DIR); screenshots go to $CASHIER_BUILD_DIR/screenshots.
"""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import harness  # noqa: E402


def main():
    if not os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")):
        print("tests/browser: node_modules missing; run tools/setup (npm ci in tests/browser)", file=sys.stderr)
        return 1
    # The payer only acts when the test clicks; pay answers fast; inquiries poll every 2 s.
    # The shop's identity towards Alipay+ (config merchants[]): creates leave order.merchant out and
    # cashierd fills it, so the pages show this name.
    harness.MERCHANT = dict(harness.MERCHANT, merchantName="Harbour Coffee Roasters")
    cluster = harness.Cluster(auto_pay_after="off")
    rc = 1
    try:
        env = dict(os.environ,
                   CASHIERD_URL="https://127.0.0.1:%d" % cluster.port,
                   SIM_URL="https://127.0.0.1:%d" % cluster.sim_port,
                   CASHIER_CA=cluster.k("ca.pem"),
                   MERCHANT_TOKEN=harness.TOKEN,
                   SCREENSHOTS=os.path.join(harness.BUILD, "screenshots"))
        args = ["node", "--test", "--test-reporter=spec"]
        if len(sys.argv) > 1:
            args += ["--test-name-pattern", sys.argv[1]]
        rc = subprocess.run(args + [os.path.join(HERE, "checkout.test.mjs")], env=env, cwd=HERE).returncode
    finally:
        daemon_rc = cluster.close()
        if rc != 0:
            print("--- cashierd log (%s) ---" % cluster.dir)
            print(open(cluster.daemon.log_path, errors="replace").read()[-6000:])
            print("--- aplus-sim log ---")
            print(open(cluster.sim.log_path, errors="replace").read()[-3000:])
        if daemon_rc != 0:
            print("cashierd exited %s after SIGTERM" % daemon_rc, file=sys.stderr)
            rc = rc or 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
