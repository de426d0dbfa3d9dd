"""The Debian package, as an operator receives it: cpack runs in the build dir under test
(CASHIER_BUILD_DIR), then the .deb is inspected with dpkg-deb and unpacked with dpkg -x into a
temp root, and its metadata, file layout, maintainer scripts, default config and systemd unit
are checked; the packaged binaries are run from that root. Nothing is installed on the machine.

Environment: CASHIER_BUILD_DIR, CASHIER_SOURCE_DIR, CASHIER_CPACK (cpack), CASHIER_VERSION,
CASHIER_SANITIZE (1 in the asan preset).
"""
import glob
import gzip
import os
import re
import shutil
import subprocess
import tempfile
import unittest

SOURCE = os.environ["CASHIER_SOURCE_DIR"]
BUILD = os.environ["CASHIER_BUILD_DIR"]
CPACK = os.environ.get("CASHIER_CPACK", "cpack")
VERSION = os.environ["CASHIER_VERSION"]
SANITIZE = os.environ.get("CASHIER_SANITIZE") == "1"
CRASH_POINTS = os.environ.get("CASHIER_CRASH_POINTS") == "1"
CONFIG = "/etc/cashierd/cashierd.json"
KEYS = "/etc/cashierd/keys/"
UNIT = "/lib/systemd/system/cashierd.service"
BINARIES = ["cashierd", "cashierctl", "aplus-sim"]
# Worst-case drain after SIGTERM (orchestrator/daemon/app.cpp): listener 10 s, in-flight
# Alipay+ calls requestTimeoutMs + 1 s, webhooks 10 s.
DRAIN_FIXED_SECONDS = 10 + 1 + 10


def run(*args, **kw):
    """Runs a command, returning the CompletedProcess with text output; never raises on status."""
    return subprocess.run(list(args), capture_output=True, text=True, **kw)


def must(*args, **kw):
    r = run(*args, **kw)
    if r.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r.stdout


def strip_json_comments(text):
    """The config allows // comments (cashierd parses with allow_comments); drop them."""
    return re.sub(r"^\s*//.*$", "", text, flags=re.M)


class Deb(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="cashier-deb-")
        out = os.path.join(cls.tmp, "out")
        must(CPACK, "-G", "DEB", "--config", os.path.join(BUILD, "CPackConfig.cmake"), "-B", out)
        arch = must("dpkg", "--print-architecture").strip()
        cls.deb = os.path.join(out, "cashierd_%s_%s.deb" % (VERSION, arch))
        cls.arch = arch
        if not os.path.exists(cls.deb):
            raise AssertionError("no %s; cpack made %s" % (cls.deb, os.listdir(out)))
        cls.root = os.path.join(cls.tmp, "root")
        cls.control = os.path.join(cls.tmp, "control")
        must("dpkg", "-x", cls.deb, cls.root)
        must("dpkg-deb", "-e", cls.deb, cls.control)
        cls.info = must("dpkg-deb", "--info", cls.deb)
        cls.contents = must("dpkg-deb", "--contents", cls.deb)
        print("\n" + cls.info)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def field(self, name):
        return must("dpkg-deb", "--field", self.deb, name).strip()

    def in_root(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def test_metadata(self):
        self.assertEqual(self.field("Package"), "cashierd")
        self.assertEqual(self.field("Version"), VERSION)
        self.assertEqual(self.field("Architecture"), self.arch)
        self.assertEqual(self.field("Section"), "net")
        self.assertRegex(self.field("Maintainer"), r"^.+ <[^@ ]+@[^@ ]+>$")
        self.assertIn("Alipay+", self.field("Description"))
        # Bump packaging/changelog with the project version.
        with gzip.open(self.in_root("/usr/share/doc/cashierd/changelog.gz"), "rt") as f:
            self.assertTrue(f.readline().startswith("cashierd (%s) " % VERSION))

    def test_depends_cover_every_linked_library(self):
        depends = {d.strip().split(" ")[0] for d in re.split(r"[,|]", self.field("Depends"))}
        self.assertIn("adduser", depends)
        if SANITIZE:
            self.skipTest("sanitizer build: no dpkg-shlibdeps (cmake/packaging.cmake); "
                          "the dev and release presets check the computed Depends")
        for lib in ["libssl3", "libsqlite3-0", "libpq5", "libboost-json1.81.0", "libboost-url1.81.0"]:
            self.assertIn(lib, depends)
        linked = {}  # library path -> the binaries linking it directly
        for name in BINARIES:
            binary = self.in_root("/usr/bin/" + name)
            libs = re.findall(r"^\s*(\S+) => (/\S+) \(", must("ldd", binary), re.M)
            self.assertTrue(libs, "ldd found no libraries in " + name)
            # Only the libraries the binary itself names (DT_NEEDED): the ones those pull in
            # (libpq5's Kerberos and LDAP libraries) come with their packages' own Depends.
            needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[(\S+)\]", must("readelf", "-d", binary)))
            self.assertTrue(needed, "readelf found no NEEDED entry in " + name)
            for soname, lib in libs:
                if soname in needed:
                    linked.setdefault(lib, []).append(name)
        owners = self.packages_of(linked)
        for lib, names in linked.items():
            self.assertIn(lib, owners, "no package owns %s" % lib)
            self.assertIn(owners[lib], depends, "%s link %s (package %s)" % (names, lib, owners[lib]))

    def packages_of(self, paths):
        """The Debian package owning each path, trying its /usr-merged spellings (one dpkg-query)."""
        spellings = {}
        for path in paths:
            for p in {path, os.path.realpath(path)}:
                for s in (p, p[len("/usr"):] if p.startswith("/usr/") else "/usr" + p):
                    spellings[s] = path
        r = run("dpkg-query", "-S", *spellings)  # exits 1 when some spelling is unknown
        owners = {}
        for package, spelling in re.findall(r"^([^:\s]+)(?::\S+)?: (\S+)$", r.stdout, flags=re.M):
            if spelling in spellings:
                owners[spellings[spelling]] = package
        return owners

    def test_layout(self):
        entries = {}
        for line in self.contents.splitlines():
            perm, owner, _size, _date, _time, path = line.split(None, 5)
            entries[path[1:]] = (perm, owner)
        files = {p for p, (perm, _) in entries.items() if not perm.startswith("d")}
        expected = {"/usr/bin/" + b: "-rwxr-xr-x" for b in BINARIES}
        expected[UNIT] = "-rw-r--r--"
        expected[CONFIG] = "-rw-r--r--"
        expected["/usr/share/bash-completion/completions/cashierctl"] = "-rw-r--r--"
        docs = [os.path.basename(p) for p in glob.glob(os.path.join(SOURCE, "proto-docs", "*.md"))]
        self.assertIn("state-machine.md", docs)
        for d in docs + ["README.md", "copyright", "changelog.gz"]:
            expected["/usr/share/doc/cashierd/" + d] = "-rw-r--r--"
        for path, perm in expected.items():
            self.assertIn(path, entries)
            self.assertEqual(entries[path], (perm, "root/root"), path)
        extra = files - set(expected) - {p for p in files if p.startswith("/usr/share/doc/cashierd/")}
        self.assertEqual(extra, set(), "files the package should not ship")
        for b in BINARIES:
            self.assertTrue(os.access(self.in_root("/usr/bin/" + b), os.X_OK), b)

    def test_maintainer_scripts(self):
        with open(os.path.join(self.control, "conffiles")) as f:
            self.assertEqual(f.read().split(), [CONFIG])
        for script in ["postinst", "prerm", "postrm"]:
            path = os.path.join(self.control, script)
            self.assertTrue(os.access(path, os.X_OK), script)
            must("sh", "-n", path)
        with open(os.path.join(self.control, "postinst")) as f:
            postinst = f.read()
        self.assertIn("adduser --quiet --system --group", postinst)
        self.assertIn("--check-config", postinst)
        with open(os.path.join(self.control, "postrm")) as f:
            branches = dict(re.findall(r"^  ([\w|-]+)\)(.*?);;", f.read(), flags=re.M | re.S))
        # The database goes on purge only; removing the package keeps it.
        self.assertIn("rm -rf /var/lib/cashierd", branches["purge"])
        self.assertNotIn("rm ", branches["remove"])

    def test_packaged_binaries_run(self):
        help_text = must(self.in_root("/usr/bin/cashierctl"), "--help")
        for command in ["list", "show", "stats", "stuck", "check", "cancel", "inquire", "redeliver"]:
            self.assertIn(command, help_text)
        self.assertIn(VERSION, must(self.in_root("/usr/bin/cashierd"), "--version"))
        self.assertIn("--listen", must(self.in_root("/usr/bin/aplus-sim"), "--help"))

    def check_config(self, text, path, mode=0o640):
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)  # postinst makes it root:cashierd 0640
        return run(self.in_root("/usr/bin/cashierd"), "--check-config", path)

    def test_default_config_is_valid_but_for_the_operators_secrets(self):
        with open(self.in_root(CONFIG)) as f:
            text = f.read()
        # Every file the config names is one the operator puts in /etc/cashierd/keys/.
        paths = re.findall(r'"(/[^"]+)"', strip_json_comments(text))
        self.assertEqual({os.path.dirname(p) + "/" for p in paths if not p.startswith("/var/lib/")}, {KEYS})
        keys = os.path.join(self.tmp, "keys") + "/"
        os.makedirs(keys)
        local = text.replace(KEYS, keys)
        config = os.path.join(self.tmp, "cashierd.json")

        r = self.check_config(local, config)  # as installed: no keys yet
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("tls.cert: cannot read file '%sserver.pem'" % keys, r.stderr)

        must(os.path.join(SOURCE, "tools", "dev-keys"), keys)
        r = self.check_config(local, config)  # keys in place, placeholder merchant token
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("merchants[0].token: must be at least 16 characters", r.stderr)

        real = local.replace('"CHANGE-ME"', '"a-real-merchant-token-0123456789"')
        r = self.check_config(real, config)  # no admin token yet: postinst makes it
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("adminTokenFile: cannot read file '%sadmin-token'" % keys, r.stderr)

        fd = os.open(keys + "admin-token", os.O_WRONLY | os.O_CREAT, 0o640)
        os.write(fd, b"a-random-admin-token-0123456789\n")
        os.close(fd)
        r = self.check_config(real, config)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("is valid", r.stdout)

        # Secrets readable by every user are refused, naming the file.
        r = self.check_config(real, config, mode=0o644)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("file '%s' is accessible by every user (mode 0644)" % config, r.stderr)
        os.chmod(keys + "admin-token", 0o604)
        r = self.check_config(real, config)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("adminTokenFile: file '%sadmin-token' is accessible by every user" % keys, r.stderr)

    def test_postinst_makes_a_private_admin_token(self):
        with open(os.path.join(self.control, "postinst")) as f:
            postinst = f.read()
        self.assertIn("/etc/cashierd/keys/admin-token", postinst)
        self.assertIn('owns "$token" root:cashierd 0640', postinst)
        with open(self.in_root(CONFIG)) as f:
            config = f.read()
        self.assertIn('"adminTokenFile": "/etc/cashierd/keys/admin-token"', config)
        self.assertIn('"opsListen": "127.0.0.1:9464"', config)
        # The token-making part of postinst, run for real into a temp dir.
        body = re.search(r"make_admin_token\(\) \{\n(.*?)\n\}", postinst, flags=re.S).group(1)
        target = os.path.join(self.tmp, "admin-token")
        script = ("owns() { chmod \"$3\" \"$1\"; }\n" + body.replace("/etc/cashierd/keys/admin-token", target))
        must("sh", "-c", script)
        with open(target) as f:
            token = f.read()
        self.assertRegex(token, r"^[A-Za-z0-9]{32,}$")
        self.assertEqual(os.stat(target).st_mode & 0o777, 0o640)
        must("sh", "-c", script)  # an existing token is kept
        with open(target) as f:
            self.assertEqual(f.read(), token)

    def test_packaged_cashierd_has_no_crash_points(self):
        if CRASH_POINTS:
            self.skipTest("this build dir compiles crash points in (CASHIER_CRASH_POINTS=ON, a test build); "
                          "the release preset, which makes the package, turns them off")
        with open(self.in_root("/usr/bin/cashierd"), "rb") as f:
            binary = f.read()
        # Without crash points the daemon never even reads the variable.
        self.assertNotIn(b"CASHIER_CRASH_POINT", binary)

    def unit(self):
        """The unit's [Service] settings as (key, value) pairs, in order."""
        with open(self.in_root(UNIT)) as f:
            return re.findall(r"^(\w+)=(.*)$", f.read(), flags=re.M)

    def test_unit(self):
        settings = self.unit()
        single = dict(settings)
        self.assertEqual(single["ExecStart"], "/usr/bin/cashierd --config " + CONFIG)
        self.assertEqual(single["ExecStartPre"], "/usr/bin/cashierd --check-config " + CONFIG)
        self.assertEqual(single["User"], "cashierd")
        self.assertEqual(single["Type"], "simple")
        self.assertEqual(single["Restart"], "on-failure")
        self.assertEqual(single["KillSignal"], "SIGTERM")
        self.assertEqual(single["StateDirectory"], "cashierd")
        self.assertEqual(single["ReadWritePaths"], "/var/lib/cashierd")
        self.assertEqual(single["CapabilityBoundingSet"], "")
        self.assertEqual(single["RestrictAddressFamilies"], "AF_INET AF_INET6 AF_UNIX")
        for key in ["ProtectHome", "PrivateTmp", "NoNewPrivileges", "PrivateDevices", "ProtectKernelTunables",
                    "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups", "RestrictNamespaces",
                    "LockPersonality", "MemoryDenyWriteExecute"]:
            self.assertEqual(single.get(key), "yes", key)
        self.assertEqual(single["ProtectSystem"], "strict")
        self.assertIn(("SystemCallFilter", "@system-service"), settings)
        self.assertGreater(int(single["LimitNOFILE"]), 1024)
        with open(self.in_root(CONFIG)) as f:
            timeout_ms = int(re.search(r'"requestTimeoutMs": (\d+)', f.read()).group(1))
        stop = int(re.fullmatch(r"(\d+)s", single["TimeoutStopSec"]).group(1))
        self.assertGreaterEqual(stop, DRAIN_FIXED_SECONDS + timeout_ms / 1000)

    def test_systemd_analyze(self):
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            self.skipTest("systemd-analyze is not installed (Debian package systemd)")
        # The unit as installed, but with the binaries of the temp root (verify checks them).
        with open(self.in_root(UNIT)) as f:
            text = f.read().replace("/usr/bin/cashierd", self.in_root("/usr/bin/cashierd"))
        unit = os.path.join(self.tmp, "cashierd.service")
        with open(unit, "w") as f:
            f.write(text)
        r = run(analyze, "verify", unit)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))
        r = run(analyze, "security", "--offline=yes", unit)
        exposure = re.search(r"Overall exposure level for cashierd.service: ([\d.]+)", r.stdout)
        self.assertIsNotNone(exposure, r.stdout + r.stderr)
        print("\nsystemd-analyze security: exposure %s" % exposure.group(1))
        self.assertLessEqual(float(exposure.group(1)), 2.0)


if __name__ == "__main__":
    unittest.main()
