"""Shared helpers of the documentation tests: where the sources and binaries are, the OpenAPI
document loaded with its JSON Schema validators (python3-yaml, python3-jsonschema: Debian
packages installed by tools/setup), and small readers of the Markdown docs (tables, code blocks).

Environment: CASHIER_BUILD_DIR (the CMake build dir with the binaries), CASHIER_SOURCE_DIR.
"""
import functools
import os
import re
import subprocess

import jsonschema
import yaml

SOURCE = os.environ.get("CASHIER_SOURCE_DIR",
                        os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("CASHIER_BUILD_DIR", os.path.join(SOURCE, "build", "dev"))
CASHIERD = os.path.join(BUILD, "orchestrator", "daemon", "cashierd")
CASHIERCTL = os.path.join(BUILD, "tools", "cashierctl", "cashierctl")
DOCS = os.path.join(SOURCE, "proto-docs")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def doc_text(name):
    with open(os.path.join(DOCS, name), encoding="utf-8") as f:
        return f.read()


@functools.lru_cache(maxsize=None)
def load_openapi():
    """merchant-api.yaml, parsed once per process (callers that change it work on a deep copy)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(doc_text("merchant-api.yaml"), Loader=loader)


def run(args, check=True):
    """Runs a binary; its stdout (stderr is attached to the failure message)."""
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise AssertionError("%s exited %d:\n%s%s" % (args, r.returncode, r.stdout, r.stderr))
    return r.stdout


def resolve(doc, node):
    """`node`, or the object its local `$ref` points at (followed until it is not a reference)."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and set(node) <= {"$ref", "summary", "description"}:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise AssertionError("only local references are used: %s" % ref)
        node = doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        seen += 1
        if seen > 20:
            raise AssertionError("reference loop at %s" % ref)
    return node


def validator(doc, schema):
    """A Draft 2020-12 validator for `schema`, resolving `#/components/...` in `doc`."""
    resolver = jsonschema.RefResolver(base_uri="", referrer=doc)
    return jsonschema.Draft202012Validator(schema, resolver=resolver)


def schema_errors(doc, schema, value):
    return ["%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(top)", e.message)
            for e in validator(doc, schema).iter_errors(value)]


def response_spec(doc, path, method, status):
    """The response object the document gives for (path, method, status)."""
    op = doc["paths"][path][method.lower()]
    responses = op["responses"]
    key = str(status)
    if key not in responses:
        raise AssertionError("%s %s documents no %s answer" % (method, path, key))
    return resolve(doc, responses[key])


def markdown_tables(text):
    """Every table of a Markdown text as (heading above it, [row cells...]); header row included."""
    tables, heading, rows = [], "", None
    for line in text.split("\n"):
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if rows is None:
                rows = []
                tables.append((heading, rows))
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                rows.append(cells)
        else:
            rows = None
    return tables


def table_under(text, heading):
    """The first table under a heading that starts with `heading`."""
    for h, rows in markdown_tables(text):
        if h.startswith(heading):
            return rows
    raise AssertionError("no table under a heading starting with %r" % heading)


def code_blocks(text, language=None):
    """The fenced code blocks of a Markdown text (only those of `language` when given)."""
    blocks = re.findall(r"^```([\w-]*)\n(.*?)^```", text, flags=re.S | re.M)
    return [body for lang, body in blocks if language is None or lang == language]


def backticked(cell):
    """The `code` spans of a Markdown table cell."""
    return re.findall(r"`([^`]+)`", cell)
