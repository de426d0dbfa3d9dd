"""The reference parts of the docs match the code, both ways:

- every configuration key config.cpp accepts (`cashierd --print-config-keys`, the parser's own key
  table) has a row in proto-docs/operations.md's configuration reference, and every row names an
  accepted key;
- every flag and subcommand of `cashierd --help`, `cashierctl --help` and `cashierctl <command>
  --help` is documented (operations.md's command-line table, cashierctl.md's global options and
  command headings), every documented one exists, and every `cashierd ...` / `cashierctl ...`
  command line quoted in operations.md and cashierctl.md uses only flags that exist.
"""
import re
import unittest

from docs_support import (CASHIERCTL, CASHIERD, backticked, code_blocks, doc_text, run,
                          table_under)

FLAG = re.compile(r"^--?[A-Za-z][\w-]*$")
# cashierd's hidden flags: the hooks these tests read; prose may name them, --help does not.
HIDDEN = {"--print-routes", "--print-config-keys"}


def help_options(text):
    """The option names of a CLI11 help text (`-h`, `--help`, `--db`, ...)."""
    names, section = set(), None
    for line in text.splitlines():
        if re.match(r"^\S.*:\s*$", line):
            section = line.strip().rstrip(":").upper()
            continue
        m = re.match(r"^\s+(-[^\s]+)", line)
        if section == "OPTIONS" and m:
            names.update(n for n in m.group(1).split(",") if n)
    return names


def help_subcommands(text):
    """The subcommand names listed by a CLI11 help text."""
    names, inside = set(), False
    for line in text.splitlines():
        if re.match(r"^\S.*:\s*$", line):
            inside = line.strip().upper().startswith("SUBCOMMANDS")
            continue
        m = re.match(r"^\s+([a-z][\w-]*)\s", line)
        if inside and m:
            names.add(m.group(1))
    return names


def flags_in(text):
    return {t for t in re.split(r"[\s\[\]|=]+", text) if FLAG.match(t)}


def command_lines(text, program):
    """The arguments of every `program ...` command quoted in a Markdown text: code spans and
    code-block lines that start with it (after an optional `$ `, `sudo -u USER `, /usr/bin/)."""
    quoted = re.findall(r"`([^`\n]+)`", text)
    for block in code_blocks(text):
        quoted.extend(block.splitlines())
    out = []
    for q in quoted:
        start = r"^\s*(?:\$\s+)?(?:sudo\s+-u\s+\S+\s+)?(?:/usr/bin/)?"
        for m in re.finditer(start + r"%s((?:\s+[^\s#;|&)]+)*)" % re.escape(program), q):
            out.append(m.group(1).split())
    return out


class ConfigKeys(unittest.TestCase):
    def test_the_configuration_reference_lists_exactly_the_accepted_keys(self):
        accepted = run([CASHIERD, "--print-config-keys"]).split()
        self.assertIn("merchants[].notifySecret", accepted)
        rows = table_under(doc_text("operations.md"), "Configuration reference")
        self.assertEqual(rows[0][:4], ["key", "type", "default", "meaning"])
        documented = []
        for row in rows[1:]:
            self.assertEqual(len(row), 4, row)
            self.assertTrue(all(row), "a configuration row with an empty cell: %s" % row)
            documented.append(backticked(row[0])[0])
        self.assertEqual(len(documented), len(set(documented)), "a key documented twice")
        self.assertEqual(sorted(set(accepted) - set(documented)), [], "accepted but not documented")
        self.assertEqual(sorted(set(documented) - set(accepted)), [], "documented but not accepted")


class Help(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ctl_help = run([CASHIERCTL, "--help"])
        cls.commands = help_subcommands(cls.ctl_help)
        cls.ctl_global = help_options(cls.ctl_help)
        cls.ctl_sub = {c: help_options(run([CASHIERCTL, c, "--help"])) for c in cls.commands}
        cls.cashierd = help_options(run([CASHIERD, "--help"]))

    def test_help_parsing_finds_what_is_there(self):
        self.assertTrue({"list", "show", "stats", "stuck", "check", "cancel", "inquire",
                         "redeliver"} <= self.commands, self.ctl_help)
        self.assertTrue({"--db", "--config", "--json", "-h", "--help"} <= self.ctl_global)
        self.assertIn("--status", self.ctl_sub["list"])
        self.assertTrue({"--config", "--check-config", "--version"} <= self.cashierd)
        for flag in HIDDEN:
            self.assertNotIn(flag, self.cashierd, "the test hooks stay hidden")
            self.assertTrue(run([CASHIERD, flag]).strip(), flag)

    def test_cashierd_flags_match_the_command_line_table(self):
        rows = table_under(doc_text("operations.md"), "Command line")
        documented = set()
        for row in rows[1:]:
            for span in backticked(row[0]):
                documented |= flags_in(span)
        self.assertEqual(documented, self.cashierd)

    def test_cashierctl_global_options_match_the_table(self):
        rows = table_under(doc_text("cashierctl.md"), "Global options")
        documented = set()
        for row in rows[1:]:
            for span in backticked(row[0]):
                documented |= flags_in(span)
        self.assertEqual(documented, self.ctl_global)

    def test_cashierctl_commands_and_their_options_match_the_headings(self):
        text = doc_text("cashierctl.md")
        commands_part = text[text.index("\n## Commands"):]
        commands_part = commands_part[:commands_part.index("\n## ", 1)]
        documented = {}
        for heading in re.findall(r"^### (.*)$", commands_part, flags=re.M):
            for span in backticked(heading):
                words = span.split()
                documented[words[0]] = flags_in(span)
        self.assertEqual(set(documented), self.commands)
        for command, flags in documented.items():
            own = self.ctl_sub[command] - self.ctl_global - {"-h", "--help"}
            self.assertEqual(flags, own, "options of cashierctl %s" % command)

    def test_quoted_command_lines_use_existing_flags(self):
        checked = 0
        for name in ("operations.md", "cashierctl.md", "merchant-webhooks.md"):
            text = doc_text(name)
            for args in command_lines(text, "cashierctl"):
                words = [a for a in args if re.fullmatch(r"[a-z]+", a)]
                command = words[0] if words else None
                if command:
                    self.assertIn(command, self.commands, "%s: cashierctl %s" % (name, " ".join(args)))
                allowed = self.ctl_global | (self.ctl_sub[command] if command else set())
                for a in args:
                    if a.startswith("-"):
                        flag = a.split("=", 1)[0]
                        self.assertIn(flag, allowed, "%s: cashierctl %s" % (name, " ".join(args)))
                        checked += 1
            for args in command_lines(text, "cashierd"):
                for a in args:
                    if a.startswith("-"):
                        self.assertIn(a.split("=", 1)[0], self.cashierd | HIDDEN,
                                      "%s: cashierd %s" % (name, " ".join(args)))
                        checked += 1
        self.assertGreater(checked, 10)


if __name__ == "__main__":
    unittest.main()
