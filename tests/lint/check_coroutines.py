#!/usr/bin/env python3
"""Fails when C++ code breaks the GCC 12 coroutine rules of proto-docs/coding-rules.md.

GCC 12 miscompiles some co_await placements (the awaitable temporaries are destroyed twice or
too early: the daemon segfaulted in ~awaitable). The rules, checked per statement after
comments and string literals are blanked out:
  1. no co_await inside a condition: if (...), while (...), switch (...);
  2. no co_await in an expression with ?:, && or ||;
  3. no lambda created inside a co_await expression.
Usage: check_coroutines.py SOURCE_DIR [--self-test]. Exit 1 with file:line for each breach.
"""
import pathlib
import re
import sys

ROOTS = ["orchestrator", "state", "tools", "tests"]


def blank(text):
    """Comments and string/char literals replaced by spaces (newlines kept, so lines match)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = ")" + m.group(1) + '"'
            j = text.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            if c == "'" and i > 0 and text[i - 1].isalnum():  # digit separator: 1'000
                out.append(c)
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (min(j + 1, n) - i))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def condition_spans(code):
    """(start, end) of the parenthesized condition of every if/while/switch."""
    for m in re.finditer(r"\b(if|while|switch)\s*(constexpr\s*)?\(", code):
        depth, j = 1, m.end()
        while j < len(code) and depth:
            depth += {"(": 1, ")": -1}.get(code[j], 0)
            j += 1
        yield m.start(), j


LAMBDA = re.compile(r"\[[^\[\]]*\]\s*(\([^()]*\)\s*)?(mutable\s*)?(->|\{|\()")
OPEN, CLOSE = "([{", ")]}"


def enclosing(code, p):
    """The span of the innermost bracket group (or statement) around position p."""
    depth, i = 0, p
    while i > 0:
        c = code[i - 1]
        if c in CLOSE:
            depth += 1
        elif c in OPEN:
            if depth == 0:
                break
            depth -= 1
        elif c == ";" and depth == 0:
            break
        i -= 1
    depth, j = 0, p
    while j < len(code):
        c = code[j]
        if c in OPEN:
            depth += 1
        elif c in CLOSE:
            if depth == 0:
                break
            depth -= 1
        elif c == ";" and depth == 0:
            break
        j += 1
    return i, j


def top_level(code, a, b):
    """code[a:b] with every nested bracket group blanked."""
    out, depth = [], 0
    for c in code[a:b]:
        if c in OPEN:
            depth += 1
            out.append(" ")
        elif c in CLOSE:
            depth -= 1
            out.append(" ")
        else:
            out.append(c if depth == 0 else " ")
    return "".join(out)


def breaches(text):
    code = blank(text)
    found = []

    def line(pos):
        return code.count("\n", 0, pos) + 1

    spans = list(condition_spans(code))
    for a, b in spans:
        if re.search(r"\bco_await\b", code[a:b]):
            found.append((line(a), "co_await inside a condition"))
    for m in re.finditer(r"\bco_await\b", code):
        p = m.start()
        if any(a <= p < b for a, b in spans):
            continue
        a, b = enclosing(code, p)
        level = top_level(code, a, b).replace("::", "  ")
        if "&&" in level or "||" in level:
            found.append((line(p), "co_await as an operand of && or ||"))
        if re.search(r"\?[^:]*:", level):
            found.append((line(p), "co_await as an operand of ?:"))
        if LAMBDA.search(code[m.end():b]):
            found.append((line(p), "a lambda created inside a co_await expression"))
    return found


def self_test():
    bad = {
        "if (co_await f()) {}": "condition",
        "while (x && co_await f()) {}": "condition",
        "auto r = ok ? co_await f() : co_await g();": "?:",
        "bool b = a && co_await f();": "&&",
        "co_await asio::co_spawn(ex, [self]() -> asio::awaitable<void> { co_return; }, use_awaitable);": "lambda",
    }
    good = [
        "auto r = co_await f();",
        "if (ok) x = 1;",
        'co_await f("a ? b : c && d");',
        "co_await g(v[i]);",
        "co_await asio::post(ex, asio::use_awaitable);",
        "co_return co_await h(std::move(x));",
        "if (a && b) co_return co_await f();",
        "co_return co_await f(x, a && b);",
        "co_await (one() && two());",
        "auto [ec] = co_await s.async_connect(ep, asio::as_tuple(use_awaitable));",
        "// if (co_await f())",
    ]
    failures = 0
    for code, what in bad.items():
        if not breaches(code):
            print(f"self-test: not caught ({what}): {code}")
            failures += 1
    for code in good:
        if breaches(code):
            print(f"self-test: false alarm: {code} -> {breaches(code)}")
            failures += 1
    return failures


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    if self_test():
        return 1
    root = pathlib.Path(sys.argv[1])
    failures = 0
    for sub in ROOTS:
        for path in sorted((root / sub).rglob("*")):
            if path.suffix not in (".cpp", ".hpp") or "build" in path.parts:
                continue
            for ln, what in breaches(path.read_text(encoding="utf-8", errors="replace")):
                print(f"{path.relative_to(root)}:{ln}: {what} (proto-docs/coding-rules.md)")
                failures += 1
    print(f"coroutine rules: {failures} breach(es)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
