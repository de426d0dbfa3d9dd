#!/usr/bin/env python3
"""A doctest case whose name holds a ';' never runs under ctest: doctest_discover_tests splits the
listing on ';', so the name becomes two ctest entries that each select no case and pass. This check
fails on any such name (TEST_CASE, TEST_CASE_FIXTURE, SUBCASE) under tests/, and tests itself first."""
import pathlib
import re
import sys

NAME = re.compile(r'\b(?:TEST_CASE|TEST_CASE_FIXTURE|TEST_CASE_TEMPLATE|SUBCASE)\s*\((?:[^"()]*,\s*)?"((?:[^"\\]|\\.)*)"')


def offending(text):
    return [m.group(1) for m in NAME.finditer(text) if ";" in m.group(1)]


def self_test():
    assert offending('TEST_CASE("a; b") {') == ["a; b"]
    assert offending('TEST_CASE_FIXTURE(fx, "x; y") {') == ["x; y"]
    assert offending('SUBCASE("p;q") {') == ["p;q"]
    assert offending('TEST_CASE("a, b") { f(); }') == []


def main(root):
    self_test()
    bad = []
    for path in sorted(pathlib.Path(root, "tests").rglob("*.cpp")):
        for name in offending(path.read_text(encoding="utf-8", errors="replace")):
            bad.append("%s: %r" % (path.relative_to(root), name))
    for b in bad:
        print("test name with ';' (ctest would never run it): " + b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
