"""Checks a reply of the service against openapi.yaml, the machine-readable
contract in the top of the source tree, so that the document and the
service cannot drift apart unnoticed: harness.request() calls check_reply()
for every reply an integration test receives, and a reply the document does
not describe fails that test.

    problem = check_reply("GET", "/get?key=a", 200, headers, body_bytes)
    # None when the reply matches, else a sentence saying how it does not

What is checked, by the rules of OpenAPI 3.1:
  - the request's path and method select an operation (a path template
    segment `{key}` matches any non-empty rest of the path, since a key in
    the path may hold encoded slashes); an unknown path or method is held
    to the shared `Error` response (and OPTIONS to `Preflight`), which is
    what the document's description promises there;
  - the status selects a response (its exact code, else `default`); a
    status that the operation does not list and that has no default fails;
  - the headers the response marks `required` are present, and every
    declared header that is present matches its schema;
  - a response without content has an empty body; one with content has a
    declared media type, and a JSON body that validates against its schema
    (JSON Schema 2020-12, the dialect of OpenAPI 3.1).

Uses Debian's python3-yaml and python3-jsonschema (scripts/dev installs
them). The document is loaded once per process.
"""

import json
import os
import re
import urllib.parse
import warnings

import jsonschema
import yaml

_TOP = os.environ.get("KV_TOP_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DOCUMENT = os.path.join(_TOP, "openapi.yaml")

# RefResolver is what Debian 12's jsonschema (4.10) has; newer releases
# still honour it but warn on every use.
warnings.filterwarnings("ignore", category=DeprecationWarning,
                        message=r"(?s).*(RefResolver|resolver)")


class _Spec:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        self.resolver = jsonschema.RefResolver.from_schema(self.doc)
        self._validators = {}
        # (regex, path template) in the document's order; a template
        # without parameters wins over one with them (OpenAPI's rule).
        routes = []
        for tpl in self.doc["paths"]:
            rx = "^" + re.sub(r"\\\{[^}]*\\\}", "(.+)", re.escape(tpl)) + "$"
            routes.append(("{" in tpl, re.compile(rx), tpl))
        routes.sort(key=lambda r: r[0])
        self.routes = [(rx, tpl) for _, rx, tpl in routes]

    def deref(self, node):
        while isinstance(node, dict) and "$ref" in node:
            _, node = self.resolver.resolve(node["$ref"])
        return node

    def validator(self, schema):
        key = json.dumps(schema, sort_keys=True)
        v = self._validators.get(key)
        if v is None:
            v = jsonschema.Draft202012Validator(schema, resolver=self.resolver)
            self._validators[key] = v
        return v

    def operation(self, method, path):
        for rx, tpl in self.routes:
            if rx.match(path):
                item = self.deref(self.doc["paths"][tpl])
                op = item.get(method.lower())
                if op is not None:
                    return "%s %s" % (method.upper(), tpl), op
                return "%s %s (method not served)" % (method.upper(), tpl), None
        return "%s (unknown path)" % path, None


_spec = None


def _load():
    global _spec
    if _spec is None:
        _spec = _Spec(DOCUMENT)
    return _spec


def _header_value(schema, text):
    """A header's text as the JSON value its schema describes."""
    types = schema.get("type")
    if types in ("integer", "number"):
        try:
            return int(text) if types == "integer" else float(text)
        except ValueError:
            return text
    return text


def _first_error(validator, instance):
    """The most telling validation error (jsonschema's best_match, which
    looks into the branches of oneOf/anyOf), or None."""
    e = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if e is None:
        return None
    where = "/".join(str(p) for p in e.absolute_path) or "(body)"
    return "%s: %s" % (where, e.message)


def check_reply(method, path, status, headers, raw):
    """None if the reply matches openapi.yaml, else what does not.
    `headers` has lower-case names; `raw` is the body as bytes."""
    spec = _load()
    route = urllib.parse.urlsplit(path).path or "/"
    where, op = spec.operation(method, route)
    if op is None:
        # What info.description promises for paths and methods the
        # document does not list: the CORS preflight answers everywhere,
        # everything else is an Error (404 "Not found", 405).
        responses = {"default": {"$ref": "#/components/responses/Error"}}
        if method.upper() == "OPTIONS":
            responses["204"] = {"$ref": "#/components/responses/Preflight"}
    else:
        responses = op["responses"]
    resp = responses.get(str(status)) or responses.get("%dXX" % (status // 100)) \
        or responses.get("default")
    if resp is None:
        return "%s: status %d is not in openapi.yaml (%s)" % (
            where, status, ", ".join(sorted(responses)))
    resp = spec.deref(resp)
    name = "%s -> %d" % (where, status)

    for hname, hdef in (resp.get("headers") or {}).items():
        hdef = spec.deref(hdef)
        value = headers.get(hname.lower())
        if value is None:
            if hdef.get("required"):
                return "%s: required header %s missing" % (name, hname)
            continue
        schema = hdef.get("schema") or {}
        err = _first_error(spec.validator(schema), _header_value(schema, value))
        if err:
            return "%s: header %s %r: %s" % (name, hname, value, err)

    content = resp.get("content")
    if method.upper() == "HEAD":
        return None         # a HEAD reply has no body, whatever GET would send
    if not content:
        if raw:
            return "%s: body %r where openapi.yaml has none" % (name, raw[:200])
        return None
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    media = content.get(ctype)
    if media is None:
        return "%s: Content-Type %r, openapi.yaml has %s" % (
            name, ctype, ", ".join(sorted(content)))
    if ctype != "application/json":
        return None
    try:
        body = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        return "%s: body is not JSON (%s): %r" % (name, e, raw[:200])
    schema = media.get("schema")
    if schema is not None:
        err = _first_error(spec.validator(schema), body)
        if err:
            return "%s: body does not match openapi.yaml: %s\n    body: %s" % (
                name, err, raw[:500].decode("utf-8", "replace"))
    return None
