"""proto-docs/merchant-api.yaml is valid OpenAPI 3.1 and documents exactly the routes cashierd
serves.

Debian 12 ships no OpenAPI validator (no python3-openapi-spec-validator), so validity is checked
here: the object structure of OpenAPI 3.1 (allowed and required fields of each object, response
codes, parameters, path templates, security schemes, tags, unique operationIds), every local
$ref resolving, and every Schema Object valid against the JSON Schema 2020-12 meta-schema
(python3-jsonschema). A self-test shows the checker rejects broken documents. The route table
comes from the daemon itself (`cashierd --print-routes`).
"""
import copy
import json
import re
import unittest

import jsonschema


from docs_support import (CASHIERD, HTTP_METHODS, code_blocks, doc_text, load_openapi, resolve,
                          run, schema_errors)

EXT = re.compile(r"^x-")
META = jsonschema.Draft202012Validator(jsonschema.Draft202012Validator.META_SCHEMA)
SCHEMA_VERDICTS = {}  # schema text -> the meta-schema's first complaint, or None
ALLOWED = {
    "root": {"openapi", "info", "jsonSchemaDialect", "servers", "paths", "webhooks", "components",
             "security", "tags", "externalDocs"},
    "info": {"title", "summary", "description", "termsOfService", "contact", "license", "version"},
    "path": {"$ref", "summary", "description", "servers", "parameters"} | set(HTTP_METHODS),
    "operation": {"tags", "summary", "description", "externalDocs", "operationId", "parameters",
                  "requestBody", "responses", "callbacks", "deprecated", "security", "servers"},
    "parameter": {"name", "in", "description", "required", "deprecated", "allowEmptyValue", "style",
                  "explode", "allowReserved", "schema", "example", "examples", "content"},
    "header": {"description", "required", "deprecated", "style", "explode", "schema", "example",
               "examples", "content"},
    "requestBody": {"description", "content", "required"},
    "response": {"description", "headers", "content", "links"},
    "media": {"schema", "example", "examples", "encoding"},
    "components": {"schemas", "responses", "parameters", "examples", "requestBodies", "headers",
                   "securitySchemes", "links", "callbacks", "pathItems"},
    "securityScheme": {"type", "description", "name", "in", "scheme", "bearerFormat", "flows",
                       "openIdConnectUrl"},
    "tag": {"name", "description", "externalDocs"},
}
REQUIRED = {"root": {"openapi", "info"}, "info": {"title", "version"}, "parameter": {"name", "in"},
            "requestBody": {"content"}, "response": {"description"}, "securityScheme": {"type"},
            "tag": {"name"}}


class Checker:
    """Collects every structural problem of an OpenAPI 3.1 document."""

    def __init__(self, doc):
        self.doc = doc
        self.problems = []
        self.operation_ids = {}

    def fail(self, where, message):
        self.problems.append("%s: %s" % (where, message))

    def fields(self, kind, node, where):
        if not isinstance(node, dict):
            return self.fail(where, "must be an object")
        for key in node:
            if key not in ALLOWED[kind] and not EXT.match(key):
                self.fail(where, "unknown field %r in a %s object" % (key, kind))
        for key in REQUIRED.get(kind, ()):
            if key not in node:
                self.fail(where, "%s object without %r" % (kind, key))

    def deref(self, node, where):
        try:
            return resolve(self.doc, node)
        except (KeyError, TypeError, AssertionError) as e:
            self.fail(where, "unresolvable $ref %r (%s)" % (node.get("$ref"), e))
            return None

    def refs(self, node, where):
        """Every $ref anywhere resolves."""
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                self.deref({"$ref": node["$ref"]}, where)
            for k, v in node.items():
                self.refs(v, where + "/" + str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                self.refs(v, "%s/%d" % (where, i))

    def schema(self, node, where):
        key = json.dumps(node, sort_keys=True)
        if key not in SCHEMA_VERDICTS:  # the self-test checks near-copies: check each schema once
            error = jsonschema.exceptions.best_match(META.iter_errors(node))
            SCHEMA_VERDICTS[key] = error.message if error is not None else None
        if SCHEMA_VERDICTS[key] is not None:
            self.fail(where, "invalid JSON Schema: %s" % SCHEMA_VERDICTS[key])

    def media(self, content, where):
        if not isinstance(content, dict) or not content:
            return self.fail(where, "content must map media types to Media Type objects")
        for media_type, m in content.items():
            self.fields("media", m, where + "/" + media_type)
            if "schema" in m:
                self.schema(m["schema"], where + "/" + media_type + "/schema")

    def parameter(self, p, where):
        p = self.deref(p, where)
        if p is None:
            return None
        self.fields("parameter", p, where)
        if p.get("in") not in ("query", "header", "path", "cookie"):
            self.fail(where, "parameter 'in' must be query, header, path or cookie")
        if p.get("in") == "path" and p.get("required") is not True:
            self.fail(where, "a path parameter must be required: true")
        if ("schema" in p) == ("content" in p):
            self.fail(where, "a parameter has exactly one of schema and content")
        if "schema" in p:
            self.schema(p["schema"], where + "/schema")
        return p

    def response(self, r, where):
        r = self.deref(r, where)
        if r is None:
            return
        self.fields("response", r, where)
        for name, h in r.get("headers", {}).items():
            h = self.deref(h, where + "/headers/" + name)
            if h is not None:
                self.fields("header", h, where + "/headers/" + name)
                if "schema" in h:
                    self.schema(h["schema"], where + "/headers/" + name + "/schema")
        if "content" in r:
            self.media(r["content"], where + "/content")

    def operation(self, op, where, inherited, template_names):
        self.fields("operation", op, where)
        oid = op.get("operationId")
        if oid in self.operation_ids:
            self.fail(where, "operationId %r also used at %s" % (oid, self.operation_ids[oid]))
        self.operation_ids[oid] = where
        params = [self.parameter(p, where + "/parameters") for p in inherited + op.get("parameters", [])]
        path_names = {p["name"] for p in params if p and p.get("in") == "path"}
        if template_names is not None and path_names != template_names:
            self.fail(where, "path parameters %s do not match the template's %s"
                      % (sorted(path_names), sorted(template_names)))
        if "requestBody" in op:
            body = self.deref(op["requestBody"], where + "/requestBody")
            if body is not None:
                self.fields("requestBody", body, where + "/requestBody")
                self.media(body.get("content"), where + "/requestBody/content")
        responses = op.get("responses")
        if not isinstance(responses, dict) or not responses:
            return self.fail(where, "no responses")
        for code, r in responses.items():
            if not re.fullmatch(r"default|[1-5](?:[0-9]{2}|XX)", str(code)):
                self.fail(where, "response key %r is not an HTTP status" % code)
            self.response(r, "%s/responses/%s" % (where, code))
        self.security(op.get("security", []), where)
        for tag in op.get("tags", []):
            if tag not in {t["name"] for t in self.doc.get("tags", [])}:
                self.fail(where, "tag %r is not declared" % tag)

    def path_item(self, item, where, template):
        self.fields("path", item, where)
        names = set(re.findall(r"\{([^}]+)\}", template)) if template is not None else None
        inherited = item.get("parameters", [])
        for method in HTTP_METHODS:
            if method in item:
                self.operation(item[method], where + "/" + method, inherited, names)

    def security(self, requirements, where):
        schemes = self.doc.get("components", {}).get("securitySchemes", {})
        for req in requirements:
            for name in req:
                if name not in schemes:
                    self.fail(where, "security scheme %r is not declared" % name)

    def check(self):
        d = self.doc
        self.fields("root", d, "(root)")
        if not re.fullmatch(r"3\.1\.\d+", str(d.get("openapi", ""))):
            self.fail("openapi", "must be 3.1.x")
        self.fields("info", d.get("info"), "info")
        if "paths" not in d and "webhooks" not in d and "components" not in d:
            self.fail("(root)", "needs paths, webhooks or components")
        for path, item in d.get("paths", {}).items():
            if not path.startswith("/"):
                self.fail("paths/" + path, "a path must start with /")
            self.path_item(item, "paths/" + path, path)
        for name, item in d.get("webhooks", {}).items():
            self.path_item(item, "webhooks/" + name, None)
        comps = d.get("components", {})
        self.fields("components", comps, "components")
        for name, s in comps.get("schemas", {}).items():
            self.schema(s, "components/schemas/" + name)
        for name, s in comps.get("securitySchemes", {}).items():
            self.fields("securityScheme", s, "components/securitySchemes/" + name)
            if s.get("type") not in ("apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"):
                self.fail("components/securitySchemes/" + name, "unknown type")
            if s.get("type") == "http" and "scheme" not in s:
                self.fail("components/securitySchemes/" + name, "http without scheme")
        for tag in d.get("tags", []):
            self.fields("tag", tag, "tags/" + str(tag.get("name")))
        self.security(d.get("security", []), "security")
        self.refs(d, "#")
        return self.problems


class OpenApi(unittest.TestCase):
    def test_the_document_is_valid_openapi_3_1(self):
        problems = Checker(load_openapi()).check()
        self.assertEqual(problems, [], "\n".join(problems))

    def test_the_checker_rejects_broken_documents(self):
        doc = load_openapi()
        breakages = {
            "response without description": lambda d: d["paths"]["/healthz"]["get"]["responses"]["200"].pop("description"),
            "dangling $ref": lambda d: d["paths"]["/v1/events"]["get"]["responses"].update(
                {"200": {"$ref": "#/components/responses/Nope"}}),
            "bad schema": lambda d: d["components"]["schemas"]["Amount"].update({"type": "money"}),
            "undeclared path parameter": lambda d: d["paths"]["/v1/payments/{paymentRequestId}"]["get"].pop("parameters"),
            "duplicate operationId": lambda d: d["paths"]["/readyz"]["get"].update({"operationId": "healthz"}),
            "unknown field": lambda d: d["paths"]["/metrics"]["get"].update({"respones": {}}),
            "OpenAPI 3.0": lambda d: d.update({"openapi": "3.0.3"}),
        }
        for name, breakage in breakages.items():
            broken = copy.deepcopy(doc)
            breakage(broken)
            self.assertNotEqual(Checker(broken).check(), [], name)


class Routes(unittest.TestCase):
    def test_documented_paths_are_exactly_the_served_routes(self):
        served = set()
        for line in run([CASHIERD, "--print-routes"]).splitlines():
            method, pattern = line.split(" ", 1)
            served.add((method, pattern))
        self.assertGreaterEqual(len(served), 12)
        documented = set()
        for path, item in load_openapi()["paths"].items():
            pattern = item.get("x-cashierd-pattern", path)
            for method in HTTP_METHODS:
                if method in item:
                    documented.add((method.upper(), pattern))
        self.assertEqual(sorted(served - documented), [], "served but not in merchant-api.yaml")
        self.assertEqual(sorted(documented - served), [], "in merchant-api.yaml but not served")


class WebhookExamples(unittest.TestCase):
    def test_every_event_type_has_an_example_matching_the_schema(self):
        doc = load_openapi()
        types = doc["components"]["schemas"]["WebhookEvent"]["properties"]["type"]["enum"]
        examples = [json.loads(b) for b in code_blocks(doc_text("merchant-webhooks.md"), "json")]
        self.assertEqual(sorted(e["type"] for e in examples), sorted(types))
        for e in examples:
            errors = schema_errors(doc, {"$ref": "#/components/schemas/WebhookEvent"}, e)
            self.assertEqual(errors, [], e["type"])


if __name__ == "__main__":
    unittest.main()
