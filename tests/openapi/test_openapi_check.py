"""Checks that openapi.yaml lists every route of src/route.c with its
methods, and self-tests tests/integration/openapi_check.py, the checker every
integration test runs on every reply, and of openapi.yaml's own examples.
No stack needed: it feeds the checker replies whose verdict is known, so a
checker that accepted everything (and so could never fail a test) fails
here. Prints PASS/FAIL per case and 'N passed, N failed'."""

import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
import openapi_check  # noqa: E402

J = {"content-type": "application/json", "access-control-allow-origin": "*"}

# (name, method, path, status, headers, body, should pass)
CASES = [
    ("get found", "GET", "/get?key=a", 200, dict(J, etag='"3"'),
     b'{"success":true,"key":"a","value":{"x":[1,2]},"expires":null,"version":3}', True),
    ("get without a version", "GET", "/get/a%2Fb", 200, dict(J, etag='"3"'),
     b'{"success":true,"key":"a/b","value":1,"expires":1795000000000}', False),
    ("get without ETag", "GET", "/get/a%2Fb", 200, J,
     b'{"success":true,"key":"a/b","value":1,"expires":1795000000000,"version":3}', False),
    ("list item without a version", "GET", "/list", 200, J,
     b'{"success":true,"count":1,"items":[{"key":"u1","value":2,"expires":null}],"cursor":null}', False),
    ("set without a version", "POST", "/set", 200, J,
     b'{"success":true,"key":"k","value":1,"expires":null}', False),
    ("tas current without a version", "POST", "/test-and-set", 200, J,
     b'{"success":false,"conditionMet":false,"key":"k","message":"Condition not met, value was not updated","current":{"value":1,"expires":null}}', False),
    ("get with an undocumented member", "GET", "/get?key=a", 200, dict(J, etag='"3"'),
     b'{"success":true,"key":"a","value":1,"expires":null,"version":3,"extra":1}', False),
    ("get with expires as a string", "GET", "/get?key=a", 200, dict(J, etag='"3"'),
     b'{"success":true,"key":"a","value":1,"expires":"soon","version":3}', False),
    ("get missing", "GET", "/?key=a", 404, J,
     b'{"success":false,"error":"Key not found"}', True),
    ("error without success", "GET", "/get?key=a", 404, J,
     b'{"error":"Key not found"}', False),
    ("error as HTML", "GET", "/get?key=a", 404,
     {"content-type": "text/html", "access-control-allow-origin": "*"},
     b'<html>404</html>', False),
    ("reply without CORS origin", "GET", "/get?key=a", 404,
     {"content-type": "application/json"},
     b'{"success":false,"error":"Key not found"}', False),
    ("list page", "GET", "/list?prefix=u", 200, J,
     b'{"success":true,"count":1,"items":[{"key":"u1","value":2,"expires":null,"version":1}],"cursor":null}', True),
    ("keys-only list page", "GET", "/?keysOnly=true", 200, J,
     b'{"success":true,"count":1,"items":[{"key":"u1","expires":null,"version":1}],"cursor":"abc"}', True),
    ("list without cursor", "GET", "/list", 200, J,
     b'{"success":true,"count":0,"items":[]}', False),
    ("set", "POST", "/set", 200, J,
     b'{"success":true,"key":"k","value":null,"expires":null}', True),
    ("version zero", "POST", "/set", 200, J,
     b'{"success":true,"key":"k","value":1,"expires":null,"version":0}', False),
    ("tas not met", "POST", "/test-and-set", 200, J,
     b'{"success":false,"conditionMet":false,"key":"k","message":"Condition not met, value was not updated","current":{"value":1,"expires":null,"version":2}}', True),
    ("tas not met, current missing", "POST", "/test-and-set", 200, J,
     b'{"success":false,"conditionMet":false,"key":"k","message":"Condition not met, value was not updated"}', False),
    ("tas success but conditionMet false", "POST", "/test-and-set", 200, J,
     b'{"success":true,"conditionMet":false,"key":"k","value":1,"expires":null}', False),
    ("batch results", "POST", "/batch", 200, J,
     b'{"success":true,"results":[{"key":"a","value":1,"expires":null,"version":1},{"key":"b","deleted":true},'
     b'{"key":"c","value":null,"expires":null,"conditionMet":false},{"key":"d","conditionMet":false,"current":null},'
     b'{"key":"e","expires":null,"version":4}]}', True),
    ("batch result with deleted false", "POST", "/batch", 200, J,
     b'{"success":true,"results":[{"key":"b","deleted":false}]}', False),
    ("batch rolled back", "POST", "/batch", 200, J,
     b'{"success":false,"conditionMet":false,"failedOperation":1,"message":"Condition not met at operations[1], batch rolled back"}', True),
    ("412", "POST", "/set", 412, J,
     b'{"success":false,"error":"Precondition failed","key":"k","current":null}', True),
    ("412 without current", "DELETE", "/delete?key=k", 412, J,
     b'{"success":false,"error":"Precondition failed","key":"k"}', False),
    ("incr", "POST", "/incr", 200, J,
     b'{"success":true,"key":"n","value":3,"expires":null,"version":9}', True),
    ("incr of a string", "POST", "/incr", 200, J,
     b'{"success":true,"key":"n","value":"3","expires":null,"version":9}', False),
    ("409", "POST", "/incr", 409, J,
     b'{"success":false,"error":"Value is not a number","key":"n","current":{"value":"x","expires":null,"version":2}}', True),
    ("touch", "POST", "/touch", 200, J,
     b'{"success":true,"key":"n","expires":1795000000000,"version":10}', True),
    ("delete-prefix", "POST", "/delete-prefix", 200, J,
     b'{"success":true,"prefix":"s_","deleted":3,"more":false}', True),
    ("delete-prefix without more", "POST", "/delete-prefix", 200, J,
     b'{"success":true,"prefix":"s_","deleted":3}', False),
    ("401 with WWW-Authenticate", "GET", "/list", 401, dict(J, **{"www-authenticate": "Bearer"}),
     b'{"success":false,"error":"Unauthorized"}', True),
    ("401 without WWW-Authenticate", "GET", "/list", 401, J,
     b'{"success":false,"error":"Unauthorized"}', False),
    ("304 with ETag", "GET", "/get?key=a", 304, {"etag": '"3"'}, b'', True),
    ("304 without ETag", "GET", "/get?key=a", 304, {}, b'', False),
    ("304 with a body", "GET", "/get?key=a", 304, {"etag": '"3"'}, b'{}', False),
    ("ETag not a version", "GET", "/get?key=a", 200, dict(J, etag='W/"x"'),
     b'{"success":true,"key":"a","value":1,"expires":null,"version":3}', False),
    ("503 with Retry-After", "POST", "/set", 503, dict(J, **{"retry-after": "1"}),
     b'{"success":false,"error":"Service unavailable"}', True),
    ("Retry-After not a number", "POST", "/set", 503, dict(J, **{"retry-after": "soon"}),
     b'{"success":false,"error":"Service unavailable"}', False),
    ("preflight anywhere", "OPTIONS", "/no/such", 204,
     {"access-control-allow-origin": "*", "access-control-allow-methods": "GET, POST, DELETE, OPTIONS",
      "access-control-allow-headers": "Content-Type, Authorization"}, b'', True),
    ("unknown path", "GET", "/nope", 404, J, b'{"success":false,"error":"Not found"}', True),
    ("405 on a known path", "GET", "/set", 405, dict(J, allow="POST, OPTIONS"),
     b'{"success":false,"error":"Method not allowed"}', True),
    ("health", "GET", "/health", 200, J, b'{"status":"healthy","kvStoreCheck":"ok"}', True),
    ("unhealthy", "GET", "/health", 503, J, b'{"status":"unhealthy","error":"disk"}', True),
    ("health says maybe", "GET", "/health", 200, J, b'{"status":"maybe","kvStoreCheck":"ok"}', False),
    ("metrics", "GET", "/metrics", 200, {"content-type": "text/plain; version=0.0.4"}, b'x 1\n', True),
    ("metrics as JSON", "GET", "/metrics", 200, J, b'{}', False),
]


def examples(doc):
    """Every (where, example value, schema) in the document's responses
    and request bodies."""
    spec = openapi_check._load()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            bodies = []
            if "requestBody" in op:
                bodies.append(("request", spec.deref(op["requestBody"])))
            for code, r in op["responses"].items():
                bodies.append((code, spec.deref(r)))
            for what, r in bodies:
                for ctype, media in (r.get("content") or {}).items():
                    for name, ex in (media.get("examples") or {}).items():
                        ex = spec.deref(ex)
                        yield ("%s %s %s %s" % (method.upper(), path, what, name),
                               ex["value"], media["schema"])


def route_table():
    """(path template, {methods}) of each row of the service's route table
    (src/route.c: path, prefix flag, GET, POST and DELETE handlers)."""
    src = os.path.join(os.environ.get("KV_TOP_SRCDIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", ".."), "src", "route.c")
    with open(src, encoding="utf-8") as f:
        text = f.read()
    rows = re.findall(r'\{\s*"(/[^"]*)",\s*([01]),\s*(\w+),\s*(\w+),\s*(\w+),', text)
    out = []
    for path, prefix, get, post, delete in rows:
        methods = {m for m, h in (("get", get), ("post", post), ("delete", delete))
                   if h != "NULL"}
        out.append((path + "{key}" if prefix == "1" else path, methods | {"options"}))
    return out


def main():
    passed = failed = 0
    # Every route the service serves is in the document, with exactly its
    # methods: a new route cannot ship undocumented.
    spec = openapi_check._load()
    rows = route_table()
    if len(rows) < 10:
        failed += 1
        print("FAIL route table: only %d rows found in src/route.c" % len(rows))
    for path, methods in rows:
        item = spec.doc["paths"].get(path)
        documented = set(item or {}) - {"parameters", "summary", "description"}
        if documented == methods:
            passed += 1
            print("PASS route %s %s is documented" % (path, sorted(methods)))
        else:
            failed += 1
            print("FAIL route %s: serves %s, openapi.yaml has %s" % (
                path, sorted(methods), sorted(documented) if item else "no such path"))
    for name, method, path, status, headers, body, ok in CASES:
        problem = openapi_check.check_reply(method, path, status, headers, body)
        if (problem is None) == ok:
            passed += 1
            print("PASS %s%s" % (name, "" if ok else " (refused: %s)" % problem.splitlines()[0]))
        else:
            failed += 1
            print("FAIL %s: expected %s, got %s" % (
                name, "a match" if ok else "a refusal", problem or "a match"))
    spec = openapi_check._load()
    for where, value, schema in examples(spec.doc):
        err = openapi_check._first_error(spec.validator(schema), value)
        if err is None:
            passed += 1
            print("PASS example %s" % where)
        else:
            failed += 1
            print("FAIL example %s: %s" % (where, err))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
