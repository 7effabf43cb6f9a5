#!/usr/bin/env python3
"""Access control through the real stack (nginx, the shipped site file ->
spawn-fcgi -> kvstore-fcgi): every rule of API.md "Access control", the
CORS preflight for the Authorization header, reloading the tokens file
while the service runs, the refusal to start on a malformed file, the log
of failed attempts, kvstore_auth_denied_total, and the nginx rate-limit
block.

Run:  KV_TOP_SRCDIR=. KV_BINARY=build/kvstore-fcgi KV_ADMIN=build/kvstore-admin \\
          python3 tests/integration/test_auth.py [name-substring...]

Prints one PASS/FAIL line per test and ends with "N passed, N failed".
Python 3 standard library only; every wait is bounded in time.
"""

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import promtext  # noqa: E402

check = harness.check
Failure = harness.Failure
TESTS = []
TMP = tempfile.mkdtemp(prefix="kvauth.", dir="/tmp")
TOKENS = os.path.join(TMP, "tokens")
S = None
ADMIN = os.environ.get("KV_ADMIN") or os.path.join(
    os.path.dirname(harness.default_binary()), "kvstore-admin")

HEADER = "# tokens for the access control tests\n"


def test(fn):
    TESTS.append((fn.__name__, fn))
    return fn


def new_secret():
    return "kvs_" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


# name -> (rights, prefixes in file syntax, secret)
TOK = {
    "all": ("read,write,metrics", "*", new_secret()),
    "reader": ("read", "user_", new_secret()),
    "writer": ("write", "user_", new_secret()),
    "rw": ("read,write", "user_,team%2Cx", new_secret()),
    "metrics": ("metrics", "*", new_secret()),
    "doomed": ("read,write", "*", new_secret()),
}


def line(name, rights, prefixes, secret):
    return "%s %s %s 2026-01-01T00:00:00Z sha256:%s\n" % (
        name, rights, prefixes, hashlib.sha256(secret.encode()).hexdigest())


def write_tokens(names, path=TOKENS, extra=""):
    """Replaces the tokens file atomically, as the admin tool does."""
    text = HEADER + "".join(line(n, *TOK[n]) for n in names) + extra
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def bearer(name):
    return {"Authorization": "Bearer " + TOK[name][2]}


def call(method, path, body=None, token=None, headers=None, stack=None):
    h = dict(headers or {})
    if token is not None:
        h.update(bearer(token))
    st, hd, js, raw = (stack or S).request(method, path, body, h)
    if st != 204:
        check(hd.get("content-type", "").startswith("application/json"),
              "%s %s: %d not JSON: %r %r" % (method, path, st, hd, raw))
    check("access-control-allow-origin" in hd,
          "%s %s: no Access-Control-Allow-Origin: %r" % (method, path, hd))
    return st, hd, js, raw


UNAUTHORIZED = {"success": False, "error": "Unauthorized"}
FORBIDDEN = {"success": False, "error": "Forbidden"}


def expect(r, status, body=None, what=""):
    st, hd, js, raw = r
    check(st == status, "%s: want %d, got %d %r" % (what, status, st, raw))
    if body is not None:
        check(js == body, "%s: want %r, got %r" % (what, body, raw))
    if status == 401:
        check(hd.get("www-authenticate") == "Bearer",
              "%s: 401 without WWW-Authenticate: Bearer: %r" % (what, hd))
    else:
        check("www-authenticate" not in hd,
              "%s: WWW-Authenticate on %d: %r" % (what, status, hd))
    return r


def q(s):
    return urllib.parse.quote(s, safe="")


def store(key, value):
    expect(call("POST", "/set", {"key": key, "value": value}, "all"), 200,
           what="set " + key)


def stored(key):
    st, _, js, raw = call("GET", "/get?key=" + q(key), token="all")
    check(st in (200, 404), "get %s: %d %r" % (key, st, raw))
    return js["value"] if st == 200 else None


def service_log():
    return S.read_log(max_bytes=None)


def wait_for(pred, what, timeout=6.0):
    """Polls pred() until true; the reload takes about a second."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return time.monotonic()
        time.sleep(0.1)
    raise Failure("not within %.0f s: %s" % (timeout, what))


# ---------------------------------------------------------------------------
# Open: GET /health and OPTIONS


@test
def health_needs_no_token():
    expect(call("GET", "/health"), 200, {"status": "healthy", "kvStoreCheck": "ok"})
    expect(call("GET", "/health", headers={"Authorization": "Bearer kvs_wrong"}), 200)


@test
def options_preflight_needs_no_token_and_allows_authorization():
    for path in ("/", "/get/user_1", "/set", "/batch", "/metrics", "/nowhere"):
        st, hd, _, raw = call("OPTIONS", path, headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type"})
        check(st == 204 and raw == b"", "OPTIONS %s: %d %r" % (path, st, raw))
        check(hd.get("access-control-allow-origin") == "*", "ACAO: %r" % hd)
        check(hd.get("access-control-allow-methods") == "GET, POST, DELETE, OPTIONS",
              "ACAM: %r" % hd)
        check(hd.get("access-control-allow-headers") ==
              "Content-Type, Authorization, If-Match, If-None-Match", "ACAH: %r" % hd)


@test
def replies_expose_www_authenticate_to_scripts():
    for tok, want in ((None, 401), ("reader", 403), ("all", 200)):
        st, hd, _, _ = call("GET", "/list?prefix=team", token=tok)
        check(st == want, "status %d" % st)
        check(hd.get("access-control-expose-headers") == "ETag, Retry-After, WWW-Authenticate",
              "%d: Access-Control-Expose-Headers: %r" % (st, hd))


@test
def curl_preflight_then_bearer_call_as_a_browser_sends_them():
    curl = shutil.which("curl")
    if not curl:
        raise Failure("curl not installed (scripts/dev installs it)")
    base = S.base_url
    p = subprocess.run([curl, "-sS", "-i", "-X", "OPTIONS",
                        "-H", "Origin: https://app.example",
                        "-H", "Access-Control-Request-Method: POST",
                        "-H", "Access-Control-Request-Headers: authorization, content-type",
                        base + "/set"], capture_output=True, timeout=20)
    head = p.stdout.decode("latin-1").replace("\r\n", "\n")
    check(head.startswith("HTTP/1.1 204"), "preflight: %r" % head)
    hdrs = {k.lower(): v.strip() for k, _, v in
            (l.partition(":") for l in head.split("\n\n")[0].split("\n")[1:])}
    allowed = [h.strip().lower() for h in hdrs.get("access-control-allow-headers", "").split(",")]
    check("authorization" in allowed and "content-type" in allowed, "ACAH: %r" % hdrs)
    check("POST" in hdrs.get("access-control-allow-methods", ""), "ACAM: %r" % hdrs)
    check(hdrs.get("access-control-allow-origin") == "*", "ACAO: %r" % hdrs)
    p = subprocess.run([curl, "-sS", "-i", "-X", "POST", "-H", "Origin: https://app.example",
                        "-H", "Content-Type: application/json",
                        "-H", "Authorization: Bearer " + TOK["rw"][2],
                        "--data", '{"key":"user_curl","value":1}', base + "/set"],
                       capture_output=True, timeout=20)
    out = p.stdout.decode("latin-1").replace("\r\n", "\n")
    body = json.loads(out.split("\n\n", 1)[1])
    check(out.startswith("HTTP/1.1 200") and body["success"] is True and
          body["key"] == "user_curl" and body["value"] == 1, "call: %r" % out)
    p = subprocess.run([curl, "-sS", "-i", base + "/get/user_curl"], capture_output=True,
                       timeout=20)
    out = p.stdout.decode("latin-1").replace("\r\n", "\n")
    check(out.startswith("HTTP/1.1 401") and "\nWWW-Authenticate: Bearer\n" in out
          and "Access-Control-Expose-Headers: ETag, Retry-After, WWW-Authenticate" in out,
          "no token: %r" % out)


# ---------------------------------------------------------------------------
# 401: missing, malformed, unknown


@test
def missing_token_is_401_everywhere_but_health_and_options():
    for method, path, body in (("GET", "/get?key=user_1", None), ("GET", "/get/user_1", None),
                               ("GET", "/?key=user_1", None), ("GET", "/", None),
                               ("GET", "/list", None), ("POST", "/set", {"key": "k", "value": 1}),
                               ("POST", "/", {"key": "k", "value": 1}),
                               ("POST", "/test-and-set", {"key": "k", "oldValue": None, "newValue": 1}),
                               ("POST", "/batch", {"operations": []}),
                               ("DELETE", "/delete?key=k", None), ("DELETE", "/?key=k", None),
                               ("GET", "/metrics", None), ("POST", "/health", None),
                               ("GET", "/no/such/path", None), ("PUT", "/set", None)):
        expect(call(method, path, body), 401, UNAUTHORIZED, "%s %s" % (method, path))


@test
def malformed_authorization_is_401():
    secret = TOK["all"][2]
    for value in ("", "Bearer", "Bearer ", "Basic " + base64.b64encode(b"u:p").decode(),
                  secret, "Token " + secret, "Bearer " + secret + " extra",
                  "Bearer\t" + secret, "Bearer " + secret + ",x", "Bearer =" + secret):
        expect(call("GET", "/get?key=user_1", headers={"Authorization": value}), 401,
               UNAUTHORIZED, "Authorization: %r" % value)


@test
def bearer_scheme_is_case_insensitive():
    expect(call("GET", "/get?key=user_none",
                headers={"Authorization": "bearer " + TOK["all"][2]}), 404)


@test
def unknown_token_is_401():
    for secret in (new_secret(), TOK["all"][2][:-1], TOK["all"][2] + "A",
                   TOK["all"][2].upper()):
        expect(call("GET", "/get?key=user_1", headers={"Authorization": "Bearer " + secret}),
               401, UNAUTHORIZED, secret)


@test
def authorization_reaches_the_service_through_nginx():
    # The service answers 200 only if nginx passed the header on as
    # HTTP_AUTHORIZATION; with it missing the same request is a 401.
    store("user_pass", {"v": 1})
    st, _, js, _ = expect(call("GET", "/get/user_pass", token="reader"), 200)
    check(js["value"] == {"v": 1}, "value: %r" % js)


# ---------------------------------------------------------------------------
# 403: rights


@test
def read_right_reads_but_does_not_write():
    store("user_r", 1)
    expect(call("GET", "/get?key=user_r", token="reader"), 200)
    expect(call("GET", "/?key=user_r", token="reader"), 200)
    expect(call("GET", "/list?prefix=user_", token="reader"), 200)
    for method, path, body in (("POST", "/set", {"key": "user_r", "value": 2}),
                               ("POST", "/", {"key": "user_r", "value": 2}),
                               ("POST", "/test-and-set", {"key": "user_r", "oldValue": 1, "newValue": 2}),
                               ("DELETE", "/delete?key=user_r", None),
                               ("DELETE", "/delete/user_r", None),
                               ("DELETE", "/?key=user_r", None),
                               ("GET", "/metrics", None)):
        expect(call(method, path, body, "reader"), 403, FORBIDDEN, "%s %s" % (method, path))
    check(stored("user_r") == 1, "a refused write changed the key")


@test
def write_right_writes_but_does_not_read():
    expect(call("POST", "/set", {"key": "user_w", "value": 1}, "writer"), 200)
    expect(call("POST", "/test-and-set", {"key": "user_w", "oldValue": 1, "newValue": 2},
                "writer"), 200)
    for method, path in (("GET", "/get?key=user_w"), ("GET", "/get/user_w"),
                         ("GET", "/list?prefix=user_"), ("GET", "/metrics")):
        expect(call(method, path, None, "writer"), 403, FORBIDDEN, "%s %s" % (method, path))
    expect(call("DELETE", "/delete/user_w", None, "writer"), 200)
    check(stored("user_w") is None, "delete did not happen")


@test
def metrics_needs_the_metrics_right():
    st, hd, js, raw = S.request("GET", "/metrics", headers=bearer("metrics"))
    check(st == 200 and hd.get("content-type", "").startswith("text/plain"),
          "metrics: %d %r" % (st, hd))
    st, _, _, _ = S.request("GET", "/metrics", headers=bearer("all"))
    check(st == 200, "all: %d" % st)
    expect(call("GET", "/metrics"), 401, UNAUTHORIZED)
    expect(call("GET", "/metrics", token="rw"), 403, FORBIDDEN)
    expect(call("GET", "/get?key=user_1", token="metrics"), 403, FORBIDDEN)


@test
def valid_token_gets_404_and_405_as_usual():
    expect(call("GET", "/no/such/path", token="metrics"), 404,
           {"success": False, "error": "Not found"})
    st, hd, js, _ = expect(call("GET", "/set", token="metrics"), 405)
    check(hd.get("allow") == "POST, OPTIONS", "Allow: %r" % hd)


# ---------------------------------------------------------------------------
# 403: key prefixes


@test
def prefix_user_underscore_does_not_reach_user_or_use():
    for key in ("user", "use", "u", "User_1", "xuser_1"):
        store(key, "theirs")
        for method, path, body in (("GET", "/get?key=" + q(key), None),
                                   ("GET", "/get/" + q(key), None),
                                   ("GET", "/?key=" + q(key), None),
                                   ("POST", "/set", {"key": key, "value": "mine"}),
                                   ("POST", "/test-and-set",
                                    {"key": key, "oldValue": "theirs", "newValue": "mine"}),
                                   ("DELETE", "/delete/" + q(key), None),
                                   ("DELETE", "/?key=" + q(key), None)):
            expect(call(method, path, body, "rw"), 403, FORBIDDEN,
                   "%s %s" % (method, path))
        check(stored(key) == "theirs", "%s was changed" % key)
    for key in ("user_", "user_1", "user_/x y", "team,x", "team,xyz"):
        expect(call("POST", "/set", {"key": key, "value": 1}, "rw"), 200, what=key)
        expect(call("GET", "/get/" + q(key), token="rw"), 200, what=key)
    expect(call("POST", "/set", {"key": "team,", "value": 1}, "rw"), 403, FORBIDDEN)
    expect(call("POST", "/set", {"key": "team", "value": 1}, "rw"), 403, FORBIDDEN)


@test
def forbidden_reply_does_not_say_whether_the_key_exists():
    store("secret_present", 1)
    a = call("GET", "/get?key=secret_present", token="reader")
    b = call("GET", "/get?key=secret_absent", token="reader")
    expect(a, 403, FORBIDDEN)
    expect(b, 403, FORBIDDEN)
    check(a[3] == b[3], "replies differ: %r %r" % (a[3], b[3]))


@test
def list_needs_a_prefix_within_the_token():
    for key in ("user_a", "user_b", "userz", "other"):
        store(key, key)
    st, _, js, _ = expect(call("GET", "/list?prefix=user_", token="reader"), 200)
    keys = [i["key"] for i in js["items"]]
    check(keys and all(k.startswith("user_") for k in keys), "keys: %r" % keys)
    expect(call("GET", "/list?prefix=user_a", token="reader"), 200)
    expect(call("GET", "/?prefix=user_b", token="reader"), 200)
    for path in ("/list", "/", "/list?prefix=", "/list?prefix=user", "/list?prefix=use",
                 "/list?prefix=other", "/?prefix=us"):
        expect(call("GET", path, token="reader"), 403, FORBIDDEN, path)
    expect(call("GET", "/list", token="all"), 200)
    # A cursor cannot widen the listing: it must belong to the prefix.
    st, _, js, _ = expect(call("GET", "/list?prefix=user_&limit=1", token="reader"), 200)
    check(js["cursor"], "no cursor: %r" % js)
    expect(call("GET", "/list?prefix=user_&limit=1&cursor=" + q(js["cursor"]),
                token="reader"), 200)


# ---------------------------------------------------------------------------
# Batch


@test
def batch_with_one_forbidden_op_is_403_and_applies_nothing():
    store("user_b0", "old")
    ops = [{"op": "set", "key": "user_b1", "value": 1},
           {"op": "delete", "key": "user_b0"},
           {"op": "set", "key": "user", "value": "x"},
           {"op": "set", "key": "user_b2", "value": 2}]
    expect(call("POST", "/batch", {"operations": ops}, "rw"), 403,
           {"success": False, "error": "operations[2]: Forbidden"})
    check(stored("user_b1") is None and stored("user_b2") is None, "ops were applied")
    check(stored("user_b0") == "old", "delete was applied")
    check(stored("user") != "x", "forbidden op applied")
    # The same batch without the forbidden op runs.
    del ops[2]
    st, _, js, _ = expect(call("POST", "/batch", {"operations": ops}, "rw"), 200)
    check(len(js["results"]) == 3, "results: %r" % js)


@test
def batch_checks_each_op_against_its_right():
    store("user_g", 1)
    expect(call("POST", "/batch", {"operations": [{"op": "get", "key": "user_g"}]}, "reader"),
           200)
    for i, op in ((1, {"op": "set", "key": "user_g", "value": 2}),
                  (1, {"op": "delete", "key": "user_g"}),
                  (1, {"op": "test-and-set", "key": "user_g", "oldValue": 1, "newValue": 2}),
                  (1, {"op": "testAndSet", "key": "user_g", "oldValue": 1, "newValue": 2})):
        expect(call("POST", "/batch", {"operations": [{"op": "get", "key": "user_g"}, op]},
                    "reader"), 403, {"success": False, "error": "operations[%d]: Forbidden" % i},
               op["op"])
    expect(call("POST", "/batch", {"operations": [{"op": "GET", "key": "user_g"}]}, "writer"),
           403, {"success": False, "error": "operations[0]: Forbidden"})
    check(stored("user_g") == 1, "changed")
    expect(call("POST", "/batch", {"operations": [{"op": "get", "key": "user_g"}]}), 401,
           UNAUTHORIZED)


@test
def incr_and_touch_need_write_and_a_key_within_the_prefixes():
    st, _, js, raw = expect(call("POST", "/incr", {"key": "user_n", "by": 2}, "rw"), 200)
    check(js["value"] == 2, "incr: %r" % raw)
    for body, tok in (({"key": "user_n"}, "reader"), ({"key": "user_n"}, "metrics"),
                      ({"key": "user"}, "rw"), ({"key": "use"}, "writer")):
        expect(call("POST", "/incr", body, tok), 403, FORBIDDEN, "incr %r %s" % (body, tok))
    expect(call("POST", "/incr", {"key": "user_n"}), 401, UNAUTHORIZED)
    expect(call("POST", "/touch", {"key": "user_n", "ttl": 600}, "writer"), 200)
    for body, tok in (({"key": "user_n", "ttl": 1}, "reader"), ({"key": "user", "ttl": 1}, "rw"),
                      ({"key": "u", "ttl": 1}, "writer")):
        expect(call("POST", "/touch", body, tok), 403, FORBIDDEN, "touch %r %s" % (body, tok))
    expect(call("POST", "/touch", {"key": "user_n"}), 401, UNAUTHORIZED)
    st, _, js, _ = call("GET", "/get/user_n", token="all")
    check(js["value"] == 2 and js["expires"] is not None, "user_n: %r" % js)


@test
def delete_prefix_needs_write_and_a_prefix_within_the_token():
    for k in ("user_dp1", "user_dp2", "userdp", "user"):
        store(k, k)
    for prefix, tok in (("user", "rw"), ("use", "rw"), ("u", "writer"),
                        ("user_dp", "reader"), ("user_dp", "metrics")):
        expect(call("POST", "/delete-prefix", {"prefix": prefix}, tok), 403, FORBIDDEN,
               "%s %s" % (prefix, tok))
    expect(call("POST", "/delete-prefix", {"prefix": "user_dp"}), 401, UNAUTHORIZED)
    check(stored("user_dp1") == "user_dp1" and stored("userdp") == "userdp",
          "a refused delete-prefix deleted keys")
    st, _, js, raw = expect(call("POST", "/delete-prefix", {"prefix": "user_dp"}, "writer"), 200)
    check(js["deleted"] == 2 and js["more"] is False, "delete-prefix: %r" % raw)
    check(stored("user_dp1") is None and stored("userdp") == "userdp" and stored("user") == "user",
          "deleted the wrong keys")


@test
def batch_incr_and_touch_need_write_and_apply_nothing_when_forbidden():
    store("user_c", 5)
    expect(call("POST", "/batch", {"operations": [{"op": "get", "key": "user_c"},
                                                  {"op": "incr", "key": "user_c"}]}, "reader"),
           403, {"success": False, "error": "operations[1]: Forbidden"})
    expect(call("POST", "/batch", {"operations": [{"op": "incr", "key": "user_c"},
                                                  {"op": "touch", "key": "user", "ttl": 5}]},
                "rw"), 403, {"success": False, "error": "operations[1]: Forbidden"})
    check(stored("user_c") == 5, "a forbidden batch incremented")
    st, _, js, raw = expect(call("POST", "/batch", {"operations": [
        {"op": "INCR", "key": "user_c", "by": 1}, {"op": "touch", "key": "user_c", "ttl": 60}]},
        "rw"), 200)
    check(stored("user_c") == 6, "batch incr: %r" % raw)


# ---------------------------------------------------------------------------
# Logging and metrics


@test
def failed_attempts_are_logged_with_address_and_name_never_the_token():
    secret = new_secret()
    call("GET", "/get?key=logged_1", headers={"Authorization": "Bearer " + secret})
    call("GET", "/get?key=logged_2", token="reader")
    call("GET", "/get?key=logged_3")
    log = service_log()
    check(re.search(r"access denied \(unknown\): GET /get from 127\.0\.0\.1", log),
          "no log line for the unknown token:\n" + log[-3000:])
    check(re.search(r"access denied \(forbidden\): GET /get from 127\.0\.0\.1, token reader",
                    log), "no log line naming the token:\n" + log[-3000:])
    check(re.search(r"access denied \(missing\): GET /get from 127\.0\.0\.1", log),
          "no log line for the missing token")
    for name, (_, _, s) in TOK.items():
        check(s not in log and s[4:] not in log, "token %s appears in the log" % name)
    check(secret not in log and secret[4:] not in log, "unknown token appears in the log")


def denied_counts():
    st, _, _, raw = S.request("GET", "/metrics", headers=bearer("metrics"))
    check(st == 200, "metrics: %d" % st)
    fams = promtext.parse(raw.decode())
    out = {}
    for fam in fams.values() if isinstance(fams, dict) else fams:
        for name, labels, v in fam.samples:
            if name == "kvstore_auth_denied_total":
                out[dict(labels)["reason"]] = v
    return out


@test
def denials_are_counted_by_reason():
    before = denied_counts()
    check(set(before) == {"missing", "unknown", "forbidden"}, "reasons: %r" % before)
    call("GET", "/get?key=x")
    call("GET", "/get?key=x", headers={"Authorization": "Basic eDp5"})
    call("GET", "/get?key=x", headers={"Authorization": "Bearer " + new_secret()})
    call("GET", "/get?key=x", token="reader")
    call("POST", "/batch", {"operations": [{"op": "set", "key": "x", "value": 1}]}, "rw")
    call("GET", "/metrics", token="reader")
    after = denied_counts()
    check(after["missing"] - before["missing"] == 2, "missing: %r -> %r" % (before, after))
    check(after["unknown"] - before["unknown"] == 1, "unknown: %r -> %r" % (before, after))
    check(after["forbidden"] - before["forbidden"] == 3,
          "forbidden: %r -> %r" % (before, after))


# ---------------------------------------------------------------------------
# Changes to the tokens file while the service runs


ALL_NAMES = ["all", "reader", "writer", "rw", "metrics", "doomed"]


@test
def revoked_token_is_refused_within_seconds_without_restart():
    pid = S.service_pid()
    expect(call("GET", "/get?key=user_x", token="doomed"), 404)
    t0 = time.monotonic()
    write_tokens([n for n in ALL_NAMES if n != "doomed"])
    t1 = wait_for(lambda: call("GET", "/get?key=user_x", token="doomed")[0] == 401,
                  "revoked token refused")
    check(t1 - t0 < 3.5, "took %.1f s" % (t1 - t0))
    expect(call("GET", "/get?key=user_x", token="doomed"), 401, UNAUTHORIZED)
    expect(call("GET", "/get?key=user_x", token="reader"), 404)
    check(S.service_pid() == pid, "the service was restarted")
    check("tokens reloaded from " in service_log(), "no reload log line")
    write_tokens(ALL_NAMES)
    wait_for(lambda: call("GET", "/get?key=user_x", token="doomed")[0] == 404,
             "restored token accepted")


@test
def added_token_is_accepted_within_seconds():
    TOK["late"] = ("read", "*", new_secret())
    try:
        expect(call("GET", "/get?key=k", token="late"), 401)
        write_tokens(ALL_NAMES + ["late"])
        wait_for(lambda: call("GET", "/get?key=k", token="late")[0] == 404,
                 "added token accepted")
    finally:
        write_tokens(ALL_NAMES)
        wait_for(lambda: call("GET", "/get?key=k", token="late")[0] == 401, "late removed")
        del TOK["late"]


@test
def sighup_reloads_at_once():
    pid = S.service_pid()
    check(pid, "no service pid")
    write_tokens([n for n in ALL_NAMES if n != "doomed"])
    os.kill(pid, signal.SIGHUP)
    # The poll would take up to a second; SIGHUP is handled at once.
    wait_for(lambda: call("GET", "/get?key=k", token="doomed")[0] == 401, "SIGHUP reload",
             timeout=3)
    check("received SIGHUP, reloading the tokens file" in service_log(), "no SIGHUP log line")
    check(S.service_pid() == pid, "SIGHUP stopped the service")
    write_tokens(ALL_NAMES)
    os.kill(pid, signal.SIGHUP)
    wait_for(lambda: call("GET", "/get?key=k", token="doomed")[0] == 404, "SIGHUP restore",
             timeout=3)


@test
def malformed_file_while_running_keeps_the_tokens_in_force():
    with open(TOKENS) as f:
        good = f.read()
    tmp = TOKENS + ".tmp"
    with open(tmp, "w") as f:
        f.write(good + "broken read * yesterday sha256:00\n")
    os.rename(tmp, TOKENS)
    wait_for(lambda: "tokens file not reloaded" in service_log(), "reload error logged")
    check(re.search(r"tokens file not reloaded.*line %d: invalid CREATED"
                    % (good.count("\n") + 1), service_log()), "no line number in the log")
    expect(call("GET", "/get?key=user_never", token="reader"), 404)
    expect(call("GET", "/get?key=user_never"), 401)
    write_tokens(ALL_NAMES)
    time.sleep(1.5)
    expect(call("GET", "/get?key=user_never", token="reader"), 404)


@test
def malformed_file_at_start_refuses_to_start_with_line_number():
    bad = os.path.join(TMP, "bad-tokens")
    data = os.path.join(TMP, "bad-data")
    os.makedirs(data, exist_ok=True)
    with open(bad, "w") as f:
        f.write(HEADER + line("ok", "read", "*", new_secret()) + "\nbad read,admin * "
                "2026-01-01T00:00:00Z sha256:" + "0" * 64 + "\n")
    for args, env in ((["--tokens-file", bad], {}), ([], {"KV_TOKENS_FILE": bad})):
        e = dict(os.environ, KV_DATA_DIR=data, **env)
        p = subprocess.run([harness.default_binary()] + args, env=e, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=20)
        err = p.stderr.decode()
        check(p.returncode == 2, "status %d: %s" % (p.returncode, err))
        check("%s: line 4: unknown right" % bad in err, "no line number: %r" % err)
    e = dict(os.environ, KV_DATA_DIR=data)
    p = subprocess.run([harness.default_binary(), "--tokens-file", bad + ".missing"], env=e,
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
    check(p.returncode == 2 and "No such file" in p.stderr.decode(),
          "missing file: %d %r" % (p.returncode, p.stderr))


@test
def first_log_line_says_access_control_is_on():
    first = [l for l in service_log().splitlines() if l.startswith("kvstore-fcgi:")][0]
    check("access control on: 6 tokens from " + TOKENS in first, "first line: %r" % first)


# ---------------------------------------------------------------------------
# kvstore-admin token add | list | revoke


def admin(*args, env=None, check_rc=None):
    e = dict(os.environ)
    e.pop("KV_TOKENS_FILE", None)
    e.update(env or {})
    p = subprocess.run([ADMIN, "token"] + list(args), env=e, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30)
    out, err = p.stdout.decode(), p.stderr.decode()
    if check_rc is not None:
        check(p.returncode == check_rc, "token %s: status %d, want %d\n%s%s"
              % (" ".join(args), p.returncode, check_rc, out, err))
    return p.returncode, out, err


@test
def admin_token_add_use_list_revoke_on_the_running_service():
    write_tokens(ALL_NAMES)
    rc, out, err = admin("add", "cli", "--read", "--write", "--prefix", "cli_",
                         "--prefix", "shared,x", "--tokens-file", TOKENS, check_rc=0)
    tok = out.strip()
    check(re.fullmatch(r"kvs_[A-Za-z0-9_-]{43}", tok), "token printed: %r" % out)
    check(out == tok + "\n", "stdout holds more than the token: %r" % out)
    check(tok not in err, "token repeated on stderr")
    with open(TOKENS) as f:
        text = f.read()
    check(tok not in text and tok[4:] not in text, "the token is in the file")
    check(hashlib.sha256(tok.encode()).hexdigest() in text, "the hash is not in the file")
    check(re.search(r"^cli read,write cli_,shared%2Cx \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ "
                    r"sha256:[0-9a-f]{64}$", text, re.M), "line: %r" % text)
    check(text.startswith("# kvstore-fcgi access tokens."), "header replaced: %r" % text[:200])
    check(oct(os.stat(TOKENS).st_mode & 0o777) == oct(0o644), "mode changed")
    check(not [n for n in os.listdir(TMP) if n.startswith("tokens.")], "temporary file left")
    hdr = {"Authorization": "Bearer " + tok}
    wait_for(lambda: call("POST", "/set", {"key": "cli_1", "value": 1},
                          headers=hdr)[0] == 200, "added token accepted")
    expect(call("POST", "/set", {"key": "shared,xy", "value": 1}, headers=hdr), 200)
    expect(call("GET", "/get/cli_1", headers=hdr), 200)
    expect(call("GET", "/get/clx", headers=hdr), 403, FORBIDDEN)
    expect(call("GET", "/metrics", headers=hdr), 403, FORBIDDEN)
    rc, out, err = admin("list", env={"KV_TOKENS_FILE": TOKENS}, check_rc=0)
    rows = {l.split()[0]: l for l in out.splitlines()[1:]}
    check(set(rows) == set(ALL_NAMES + ["cli"]), "list: %r" % out)
    check(re.search(r"^cli +read,write +cli_,shared%2Cx +\d{4}-.*Z +sha256:[0-9a-f]{8}\.\.\.$",
                    rows["cli"]), "row: %r" % rows["cli"])
    full = hashlib.sha256(tok.encode()).hexdigest()
    check(full not in out and full[:16] not in out, "list shows the hash in full")
    rc, out, err = admin("revoke", "cli", "--tokens-file", TOKENS, check_rc=0)
    wait_for(lambda: call("GET", "/get/cli_1", headers=hdr)[0] == 401, "revoked token refused")
    expect(call("GET", "/get/cli_1", token="reader"), 403)
    rc, out, err = admin("revoke", "cli", "--tokens-file", TOKENS, check_rc=1)
    check("no token named cli" in err, "second revoke: %r" % err)


@test
def admin_token_refusals():
    path = os.path.join(TMP, "admin-tokens")
    if os.path.exists(path):
        os.unlink(path)
    admin("list", "--tokens-file", path, check_rc=1)
    admin("add", "first", "--metrics", "--tokens-file", path, check_rc=0)
    with open(path) as f:
        before = f.read()
    for args, rc, why in ((["add", "first", "--read"], 1, "exists already"),
                          (["add", "bad/name", "--read"], 1, "invalid token name"),
                          (["add", "nothing"], 1, "at least one of"),
                          (["add", "p", "--read", "--prefix", "a\x01"], 1, "control"),
                          (["add", "p", "--read", "--prefix", "x" * 513], 1, "longer"),
                          (["add"], 2, "usage"), (["frobnicate"], 2, "usage"),
                          (["list", "extra"], 2, "usage"), (["add", "q", "--bogus"], 2, "--bogus"),
                          (["revoke", "nobody"], 1, "no token named nobody")):
        _, out, err = admin(*(args + ["--tokens-file", path]), check_rc=rc)
        check(why in err, "%r: %r" % (args, err))
        check(out == "", "%r printed %r" % (args, out))
    with open(path) as f:
        check(f.read() == before, "a refused command changed the file")
    # A malformed file is reported with its line number and left alone.
    with open(path, "a") as f:
        f.write("broken line\n")
    with open(path) as f:
        before = f.read()
    n = before.count("\n")
    for args in (["add", "second", "--read"], ["revoke", "first"], ["list"]):
        _, out, err = admin(*(args + ["--tokens-file", path]), check_rc=1)
        check("%s: line %d: fewer than five fields" % (path, n) in err, "%r: %r" % (args, err))
    with open(path) as f:
        check(f.read() == before, "a malformed file was rewritten")


@test
def admin_tokens_file_matches_what_the_service_reads():
    # An empty prefix and the every-key star both mean every key.
    path = os.path.join(TMP, "admin-tokens-2")
    _, out, _ = admin("add", "every", "--read", "--prefix", "", "--tokens-file", path,
                      check_rc=0)
    with open(path) as f:
        check(re.search(r"^every read \* ", f.read(), re.M), "no star")
    with harness.Stack(env={"KV_TOKENS_FILE": path}) as s:
        st, _, _, _ = s.request("GET", "/list", headers={"Authorization": "Bearer " + out.strip()})
        check(st == 200, "list with the every-key token: %d" % st)


# ---------------------------------------------------------------------------
# Stacks of their own: access control off, rate limiting


@test
def without_tokens_file_everything_is_open():
    with harness.Stack() as s:
        st, _, _, raw = call("POST", "/set", {"key": "k", "value": 1}, stack=s)
        check(st == 200, "set: %d %r" % (st, raw))
        st, _, _, _ = s.request("GET", "/metrics")
        check(st == 200, "metrics: %d" % st)
        st, hd, _, _ = call("GET", "/get?key=k", stack=s,
                            headers={"Authorization": "Bearer kvs_whatever"})
        check(st == 200 and "www-authenticate" not in hd, "get: %d" % st)
        first = [l for l in s.read_log().splitlines() if l.startswith("kvstore-fcgi:")][0]
        check("access control off" in first, "first line: %r" % first)
        # SIGHUP reloads; with nothing to reload it still does not stop.
        pid = s.service_pid()
        os.kill(pid, signal.SIGHUP)
        wait_for(lambda: "no tokens file to reload" in s.read_log(), "SIGHUP logged")
        st, _, _, _ = s.request("GET", "/health")
        check(st == 200 and s.service_pid() == pid, "SIGHUP stopped the service")


def burst(stack, n, headers, path="/health"):
    """n requests as fast as one client goes; the replies' statuses."""
    out = []
    for _ in range(n):
        st, hd, js, raw = stack.request("GET", path, headers=headers)
        out.append((st, hd, js))
    return out


@test
def rate_limit_block_per_token_and_per_address():
    write_tokens(ALL_NAMES)
    tokens = os.path.join(TMP, "tokens")
    with harness.Stack(env={"KV_TOKENS_FILE": tokens, "KV_RATE_LIMIT": "20,2"}) as s:
        time.sleep(2.5)     # the health checks of the start count too
        # Per token: 2 a second, bursts of 4 served at once.
        got = burst(s, 10, bearer("reader"), "/get?key=user_1")
        codes = [g[0] for g in got]
        check(codes[0] == 404 and 429 in codes, "token burst: %r" % codes)
        st, hd, js = [g for g in got if g[0] == 429][0]
        check(js == {"success": False, "error": "Too many requests"}, "429 body: %r" % js)
        check(hd.get("retry-after") == "1", "Retry-After: %r" % hd)
        check(hd.get("content-type", "").startswith("application/json"), "429 type: %r" % hd)
        check("access-control-allow-origin" in hd, "429 without ACAO: %r" % hd)
        # Another token from the same address still passes.
        st, _, _, _ = s.request("GET", "/get?key=user_1", headers=bearer("all"))
        check(st == 404, "other token: %d" % st)
        time.sleep(2.5)
        # Per address: 20 a second, bursts of 40, with or without a token.
        got = burst(s, 120, {})
        codes = [g[0] for g in got]
        check(codes[0] == 200 and 429 in codes, "address burst: %r" % codes)
        check(codes.index(429) >= 20, "limited too early: %r" % codes)
    with harness.Stack(env={"KV_TOKENS_FILE": tokens}) as s:
        codes = [g[0] for g in burst(s, 120, {})]
        check(set(codes) == {200}, "rate limit on by default: %r" % codes)


# ---------------------------------------------------------------------------


def main(argv):
    global S
    write_tokens(ALL_NAMES)
    S = harness.Stack(env={"KV_TOKENS_FILE": TOKENS})
    try:
        return harness.run_suite(TESTS, argv, S)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
