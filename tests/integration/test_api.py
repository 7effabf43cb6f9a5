#!/usr/bin/env python3
"""HTTP integration tests of kvstore-fcgi against the contract in API.md
(and every example of the seed KV Store README), over the real stack:
nginx (the shipped site file) -> spawn-fcgi -> kvstore-fcgi -> Berkeley DB.

Run:  KV_TOP_SRCDIR=. KV_BINARY=./kvstore-fcgi python3 tests/integration/test_api.py [name-substring...]

Prints one PASS/FAIL line per test and ends with "N passed, N failed".
Python 3 standard library only.
"""

import json
import os
import sys
import tempfile
import shutil
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

S = None            # the shared stack, started in main()
TESTS = []          # (name, function)
CURRENT = {"name": ""}

ALLOW_ALL = "GET, POST, DELETE, OPTIONS"
MIB = 1024 * 1024


# ---------------------------------------------------------------------------
# tiny runner and assertions


Failure = harness.Failure


def test(fn):
    TESTS.append((fn.__name__, fn))
    return fn


def add_test(name, fn):
    TESTS.append((name, fn))


def fail(msg):
    raise Failure(msg)


def check(cond, msg):
    if not cond:
        fail(msg)


class Approx:
    """Matches a number within [lo, hi]."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def matches(self, v):
        return isinstance(v, int) and not isinstance(v, bool) and self.lo <= v <= self.hi

    def __repr__(self):
        return "<int in [%d, %d]>" % (self.lo, self.hi)


class AnyString:
    def matches(self, v):
        return isinstance(v, str) and len(v) > 0

    def __repr__(self):
        return "<non-empty string>"


ANY_STR = AnyString()


def jeq(a, b):
    """JSON equality, type-strict (true is not 1, "1" is not 1) except that
    numbers compare by exact numeric value. `b` may hold matchers."""
    if isinstance(b, (Approx, AnyString, Version)):
        return b.matches(a)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) or isinstance(b, (int, float)):
        return (isinstance(a, (int, float)) and isinstance(b, (int, float)) and a == b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, list) or isinstance(b, list):
        return (isinstance(a, list) and isinstance(b, list) and len(a) == len(b)
                and all(jeq(x, y) for x, y in zip(a, b)))
    if isinstance(a, dict) or isinstance(b, dict):
        if not (isinstance(a, dict) and isinstance(b, dict)):
            return False
        b = with_version(b)
        return set(a) == set(b) and all(jeq(a[k], b[k]) for k in a)
    return False


class Version:
    """Matches a key's version: a positive integer below 2^53."""

    def matches(self, v):
        return (isinstance(v, int) and not isinstance(v, bool)
                and 0 < v < 2 ** 53)

    def __repr__(self):
        return "<version>"


ANY_VERSION = Version()


def with_version(b):
    """API.md: every object that shows a key with "expires" shows "version"
    next to it, null when the key is absent. Expectations written before
    versions existed get that member added here."""
    if "expires" not in b or "version" in b:
        return b
    b = dict(b)
    live = not ("value" in b and b["value"] is None)
    b["version"] = ANY_VERSION if live else None
    return b


def short(x, n=600):
    s = x if isinstance(x, str) else repr(x)
    return s if len(s) <= n else s[:n] + "...(%d chars)" % len(s)


class R:
    def __init__(self, method, path, status, headers, body, raw):
        self.method, self.path = method, path
        self.status, self.headers, self.json, self.raw = status, headers, body, raw

    def __repr__(self):
        return "%s %s -> %d %s" % (self.method, short(self.path, 120), self.status,
                                   short(self.raw.decode("utf-8", "replace")))


def call(method, path, body=None, headers=None, stack=None, timeout=15.0):
    """A request to the stack. Every non-204 reply must be JSON with
    Content-Type application/json and carry Access-Control-Allow-Origin."""
    st, h, js, raw = (stack or S).request(method, path, body, headers, timeout=timeout)
    r = R(method, path, st, h, js, raw)
    if st != 204:
        ctype = h.get("content-type", "")
        check(ctype.split(";")[0].strip().lower() == "application/json",
              "Content-Type is %r, want application/json: %r" % (ctype, r))
        check(js is not None or raw.strip() == b"null",
              "body is not JSON: %r" % (r,))
    check("access-control-allow-origin" in h,
          "no Access-Control-Allow-Origin header: %r" % (r,))
    return r


def expect(r, status, body=None):
    check(r.status == status, "want status %d, got %r" % (status, r))
    if body is not None:
        check(jeq(r.json, body), "want body %s\n   got %r" % (short(body), r))
    return r


def req(method, path, body=None, status=None, want=None, headers=None):
    r = call(method, path, body, headers)
    if status is not None:
        expect(r, status, want)
    return r


def expect_error(r, status, message=None):
    """status and {"success":false,"error":...}; message exact if given."""
    check(r.status == status, "want status %d, got %r" % (status, r))
    check(isinstance(r.json, dict) and r.json.get("success") is False
          and isinstance(r.json.get("error"), str) and r.json["error"],
          "want {success:false,error:...}, got %r" % (r,))
    if message is not None:
        check(r.json == {"success": False, "error": message},
              "want error %r, got %r" % (message, r))
    return r


def q(s):
    """Percent-encode everything but unreserved characters (path or query)."""
    return urllib.parse.quote(s, safe="")


def key(suffix=""):
    """A key private to the running test."""
    return "t." + CURRENT["name"] + ("." + suffix if suffix else "")


def now_ms():
    return int(time.time() * 1000)


def get_value(k):
    """(status, value) of GET /get?key=k."""
    r = call("GET", "/get?key=" + q(k))
    if r.status == 200:
        expect(r, 200, {"success": True, "key": k, "value": r.json.get("value"),
                        "expires": r.json.get("expires")})
        return 200, r.json["value"]
    expect(r, 404, {"success": False, "error": "Key not found"})
    return 404, None


def assert_absent(k, why=""):
    st, v = get_value(k)
    check(st == 404, "key %r should not exist%s, but holds %s" % (k, why, short(v)))


def assert_value(k, v):
    st, got = get_value(k)
    check(st == 200, "key %r should exist with %s, got 404" % (k, short(v)))
    check(jeq(got, v), "key %r: want %s, got %s" % (k, short(v), short(got)))


def put(k, v, **extra):
    body = {"key": k, "value": v}
    body.update(extra)
    r = call("POST", "/set", body)
    check(r.status == 200, "set %r failed: %r" % (k, r))
    return r.json


def batch_set(items, **extra):
    """Writes many keys at once (in chunks of 100)."""
    items = list(items)
    for i in range(0, len(items), 100):
        ops = [{"op": "set", "key": k, "value": v} for k, v in items[i:i + 100]]
        r = call("POST", "/batch", {"operations": ops})
        check(r.status == 200 and r.json.get("success") is True,
              "batch set failed: %r" % (r,))


def list_all(prefix, limit=None, max_pages=200):
    """Pages through /list; returns (items, pages)."""
    items, pages, cursor = [], [], None
    for _ in range(max_pages):
        path = "/list?prefix=" + q(prefix)
        if limit is not None:
            path += "&limit=%d" % limit
        if cursor is not None:
            path += "&cursor=" + q(cursor)
        r = expect(call("GET", path), 200)
        check_list_shape(r)
        pages.append(r.json)
        items.extend(r.json["items"])
        cursor = r.json["cursor"]
        if cursor is None:
            return items, pages
    fail("paging did not end after %d pages" % max_pages)


def check_list_shape(r):
    js = r.json
    check(isinstance(js, dict) and set(js) == {"success", "count", "items", "cursor"},
          "list reply must have exactly success,count,items,cursor: %r" % (r,))
    check(js["success"] is True, "list success must be true: %r" % (r,))
    check(isinstance(js["items"], list), "items must be an array: %r" % (r,))
    check(jeq(js["count"], len(js["items"])), "count != len(items): %r" % (r,))
    check(js["cursor"] is None or (isinstance(js["cursor"], str) and js["cursor"]),
          "cursor must be null or a non-empty string: %r" % (r,))
    for it in js["items"]:
        check(isinstance(it, dict) and set(it) == {"key", "value", "expires", "version"},
              "item must have exactly key,value,expires,version: %r" % (it,))
        check(ANY_VERSION.matches(it["version"]), "bad version: %r" % (it,))


# ---------------------------------------------------------------------------
# seed README examples


@test
def seed_get_root_query_returns_success_key_value_expires():
    k = key()
    put(k, "your-value")
    req("GET", "/?key=" + q(k), status=200,
        want={"success": True, "key": k, "value": "your-value", "expires": None})


@test
def seed_get_get_query_returns_success_key_value_expires():
    k = key()
    put(k, "your-value")
    req("GET", "/get?key=" + q(k), status=200,
        want={"success": True, "key": k, "value": "your-value", "expires": None})


@test
def seed_readme_literal_your_key_requests_work():
    # The literal request of the README, on the shared store.
    req("POST", "/set", {"key": "your-key", "value": "your-value", "ttl": 3600}, status=200)
    req("GET", "/?key=your-key", status=200,
        want={"success": True, "key": "your-key", "value": "your-value",
              "expires": Approx(now_ms() + 3590000, now_ms() + 3601000)})
    req("DELETE", "/?key=your-key", status=200,
        want={"success": True, "key": "your-key", "deleted": True})


@test
def seed_list_returns_success_count_items_cursor():
    p = key() + "/"
    put(p + "key1", "value1")
    put(p + "key2", "value2", ttl=3600)
    before = now_ms()
    r = expect(call("GET", "/list?prefix=" + q(p)), 200)
    check_list_shape(r)
    expect(r, 200, {"success": True, "count": 2, "cursor": None, "items": [
        {"key": p + "key1", "value": "value1", "expires": None},
        {"key": p + "key2", "value": "value2",
         "expires": Approx(before + 3590000, before + 3601000)}]})


@test
def seed_list_without_parameters_lists_the_store():
    put(key(), "v")
    r = expect(call("GET", "/list"), 200)
    check_list_shape(r)
    check(1 <= r.json["count"] <= 100, "default page of 1..100 items: %r" % (r,))
    r = expect(call("GET", "/list?limit=10"), 200)
    check_list_shape(r)
    check(1 <= r.json["count"] <= 10, "?limit=10: at most 10 items: %r" % (r,))


@test
def seed_readme_literal_list_prefix_user_():
    batch_set([("user_1", {"name": "a"}), ("user_2", {"name": "b"}), ("userX", 0)])
    try:
        r = expect(call("GET", "/list?prefix=user_"), 200)
        expect(r, 200, {"success": True, "count": 2, "cursor": None, "items": [
            {"key": "user_1", "value": {"name": "a"}, "expires": None},
            {"key": "user_2", "value": {"name": "b"}, "expires": None}]})
    finally:
        call("POST", "/batch", {"operations": [{"op": "delete", "key": k}
                                               for k in ("user_1", "user_2", "userX")]})


@test
def seed_list_prefix_filters_keys():
    p = key()
    batch_set([(p + "user_1", 1), (p + "user_2", 2), (p + "other", 3), (p + "user", 4)])
    r = expect(call("GET", "/list?prefix=" + q(p + "user_")), 200)
    check_list_shape(r)
    expect(r, 200, {"success": True, "count": 2, "cursor": None, "items": [
        {"key": p + "user_1", "value": 1, "expires": None},
        {"key": p + "user_2", "value": 2, "expires": None}]})


@test
def seed_list_limit_caps_page_and_returns_cursor():
    p = key() + "/"
    batch_set([(p + "%02d" % i, i) for i in range(15)])
    r = expect(call("GET", "/list?prefix=%s&limit=10" % q(p)), 200)
    check_list_shape(r)
    check(r.json["count"] == 10, "want 10 items: %r" % (r,))
    check([it["key"] for it in r.json["items"]] == [p + "%02d" % i for i in range(10)],
          "want the first 10 keys in order: %r" % (r,))
    check(isinstance(r.json["cursor"], str), "want a cursor (5 keys left): %r" % (r,))


@test
def seed_set_with_ttl_returns_expires():
    k = key()
    before = now_ms()
    r = req("POST", "/set", {"key": k, "value": "your-value", "ttl": 3600})
    after = now_ms()
    expect(r, 200, {"success": True, "key": k, "value": "your-value",
                    "expires": Approx(before + 3600000 - 1000, after + 3600000 + 1000)})
    req("GET", "/get?key=" + q(k), status=200,
        want={"success": True, "key": k, "value": "your-value", "expires": r.json["expires"]})


@test
def seed_set_without_ttl_returns_expires_null():
    k = key()
    req("POST", "/set", {"key": k, "value": "your-value"}, status=200,
        want={"success": True, "key": k, "value": "your-value", "expires": None})


@test
def post_root_sets_value():
    k = key()
    req("POST", "/", {"key": k, "value": {"a": 1}}, status=200,
        want={"success": True, "key": k, "value": {"a": 1}, "expires": None})
    assert_value(k, {"a": 1})


@test
def seed_test_and_set_condition_met_reply():
    k = key()
    put(k, "current-value")
    before = now_ms()
    req("POST", "/test-and-set",
        {"key": k, "oldValue": "current-value", "newValue": "new-value", "ttl": 3600},
        status=200,
        want={"success": True, "conditionMet": True, "key": k, "value": "new-value",
              "expires": Approx(before + 3599000, now_ms() + 3601000)})
    assert_value(k, "new-value")


@test
def seed_test_and_set_condition_not_met_reply():
    k = key()
    put(k, "something-else")
    req("POST", "/test-and-set",
        {"key": k, "oldValue": "current-value", "newValue": "new-value", "ttl": 3600},
        status=200,
        want={"success": False, "conditionMet": False, "key": k,
              "message": "Condition not met, value was not updated",
              "current": {"value": "something-else", "expires": None}})
    assert_value(k, "something-else")


@test
def seed_batch_with_the_four_op_kinds():
    p = key() + "/"
    put(p + "key2", "value2")
    put(p + "key3", "old")
    put(p + "key4", "gone soon")
    req("POST", "/batch", {"operations": [
        {"op": "set", "key": p + "key1", "value": "value1"},
        {"op": "get", "key": p + "key2"},
        {"op": "test-and-set", "key": p + "key3", "oldValue": "old", "newValue": "new"},
        {"op": "delete", "key": p + "key4"},
    ]}, status=200, want={"success": True, "results": [
        {"key": p + "key1", "value": "value1", "expires": None},
        {"key": p + "key2", "value": "value2", "expires": None},
        {"key": p + "key3", "value": "new", "expires": None, "conditionMet": True},
        {"key": p + "key4", "deleted": True},
    ]})
    assert_value(p + "key1", "value1")
    assert_value(p + "key3", "new")
    assert_absent(p + "key4")


@test
def seed_delete_root_query():
    k = key()
    put(k, 1)
    req("DELETE", "/?key=" + q(k), status=200, want={"success": True, "key": k, "deleted": True})
    assert_absent(k)


@test
def seed_delete_delete_query():
    k = key()
    put(k, 1)
    req("DELETE", "/delete?key=" + q(k), status=200,
        want={"success": True, "key": k, "deleted": True})
    assert_absent(k)


@test
def delete_with_percent_encoded_path_key():
    k = key("a/b c/é")
    put(k, 1)
    req("DELETE", "/delete/" + q(k), status=200,
        want={"success": True, "key": k, "deleted": True})
    assert_absent(k)


@test
def delete_of_missing_key_is_idempotent():
    k = key("never")
    for path in ("/?key=", "/delete?key="):
        req("DELETE", path + q(k), status=200, want={"success": True, "key": k, "deleted": True})
    req("DELETE", "/delete/" + q(k), status=200, want={"success": True, "key": k, "deleted": True})


@test
def delete_without_key_is_400():
    expect_error(call("DELETE", "/delete"), 400)
    expect_error(call("DELETE", "/delete?key="), 400)


# ---------------------------------------------------------------------------
# get, keys in the path and in the query


@test
def get_missing_key_is_404_key_not_found():
    k = key("nope")
    for path in ("/?key=" + q(k), "/get?key=" + q(k), "/get/" + q(k)):
        expect_error(call("GET", path), 404, "Key not found")


@test
def get_without_key_is_400_missing_key_parameter():
    expect_error(call("GET", "/get"), 400, "Missing key parameter")


@test
def get_with_empty_key_is_400_missing_key_parameter():
    expect_error(call("GET", "/get?key="), 400, "Missing key parameter")


def path_key_test(name, k, path_forms):
    def fn():
        full = key() + k
        put(full, {"k": full})
        prefix_path = "/get/" + q(key())
        for form in path_forms:
            r = call("GET", prefix_path + form)
            expect(r, 200, {"success": True, "key": full, "value": {"k": full}, "expires": None})
    add_test(name, fn)


path_key_test("get_path_key_with_encoded_slash", "/x%y",
              [q("/x%y"), "%2Fx%25y", "%2fx%25y"])
path_key_test("get_path_key_with_encoded_space", " sp ace", ["%20sp%20ace"])
path_key_test("get_path_key_with_unicode", "-é-日本-😀",
              ["-%C3%A9-%E6%97%A5%E6%9C%AC-%F0%9F%98%80", "-%c3%a9-" + q("日本-😀")])
path_key_test("get_path_key_with_raw_double_slash", "/a//b", ["/a//b", "%2Fa%2F%2Fb"])
path_key_test("get_path_key_with_raw_dot_dot_segment", "/a/../b", ["/a/../b", "%2Fa%2F..%2Fb"])
path_key_test("get_path_key_with_dot_segments_kept", "/./c/.", ["/./c/.", "%2F.%2Fc%2F."])
path_key_test("get_path_key_plus_is_literal", "+a+b", ["+a+b", "%2Ba%2Bb"])
path_key_test("get_path_key_with_encoded_question_hash_percent", "?x=1#y%",
              ["%3Fx%3D1%23y%25"])


@test
def get_path_key_that_is_only_dot_dot():
    put("..", "dots")
    try:
        req("GET", "/get/..", status=200,
            want={"success": True, "key": "..", "value": "dots", "expires": None})
        req("GET", "/get/%2E%2E", status=200,
            want={"success": True, "key": "..", "value": "dots", "expires": None})
    finally:
        call("DELETE", "/?key=..")


@test
def get_path_key_ignores_query_string():
    k = key()
    put(k, 5)
    req("GET", "/get/" + q(k) + "?key=other&x=1", status=200,
        want={"success": True, "key": k, "value": 5, "expires": None})


@test
def query_plus_decodes_to_space():
    k = key() + " a b"
    put(k, "spaced")
    req("GET", "/get?key=" + k.replace(" ", "+"), status=200,
        want={"success": True, "key": k, "value": "spaced", "expires": None})
    req("GET", "/?key=" + k.replace(" ", "+"), status=200,
        want={"success": True, "key": k, "value": "spaced", "expires": None})


@test
def query_percent_escapes_decode():
    k = key() + "+&=é/%"
    put(k, "escaped")
    enc = q(k)
    check("%2B" in enc and "%26" in enc and "%C3%A9" in enc, enc)
    req("GET", "/get?key=" + enc, status=200,
        want={"success": True, "key": k, "value": "escaped", "expires": None})
    req("GET", "/get?key=" + enc.replace("%C3%A9", "%c3%a9"), status=200,
        want={"success": True, "key": k, "value": "escaped", "expires": None})
    req("GET", "/get?x=1&key=" + enc + "&y=2", status=200,
        want={"success": True, "key": k, "value": "escaped", "expires": None})


@test
def list_prefix_query_decodes_plus_and_escapes():
    p = key() + " é+"
    put(p + "1", 1)
    put(key() + " é 1", 2)   # '+' must not match ' '
    r = expect(call("GET", "/list?prefix=" + q(p)), 200)
    check([it["key"] for it in r.json["items"]] == [p + "1"], "%r" % (r,))
    r = expect(call("GET", "/list?prefix=" + q(key()).replace("%20", "+") + "+%C3%A9+"), 200)
    check([it["key"] for it in r.json["items"]] == [key() + " é 1"], "%r" % (r,))


@test
def key_of_512_bytes_is_accepted():
    k = key()
    k = k + "k" * (512 - len(k.encode()))
    assert len(k.encode()) == 512
    req("POST", "/set", {"key": k, "value": 1}, status=200,
        want={"success": True, "key": k, "value": 1, "expires": None})
    req("GET", "/get?key=" + q(k), status=200,
        want={"success": True, "key": k, "value": 1, "expires": None})
    req("GET", "/get/" + q(k), status=200,
        want={"success": True, "key": k, "value": 1, "expires": None})


@test
def key_of_512_bytes_of_multibyte_utf8_is_accepted():
    k = "é" * 256
    req("POST", "/set", {"key": k, "value": 2}, status=200,
        want={"success": True, "key": k, "value": 2, "expires": None})
    req("DELETE", "/delete/" + q(k), status=200)


@test
def key_of_513_bytes_is_400_and_not_written():
    k = key()
    k = k + "k" * (513 - len(k.encode()))
    expect_error(call("POST", "/set", {"key": k, "value": 1}), 400)
    expect_error(call("GET", "/get?key=" + q(k)), 400)
    expect_error(call("GET", "/get/" + q(k)), 400)
    expect_error(call("DELETE", "/delete?key=" + q(k)), 400)
    expect_error(call("POST", "/test-and-set", {"key": k, "oldValue": None, "newValue": 1}), 400)
    k2 = "é" * 256 + "x"
    expect_error(call("POST", "/set", {"key": k2, "value": 1}), 400)
    r = expect(call("GET", "/list?prefix=" + q(k[:500])), 200)
    check(r.json["items"] == [], "nothing may be written: %r" % (r,))


@test
def key_empty_string_is_400():
    expect_error(call("POST", "/set", {"key": "", "value": 1}), 400)


@test
def key_with_control_characters_is_400():
    for c in ["\u0000", "\u0001", "\n", "\t", "\u001f", "\u007f"]:
        k = key() + c + "x"
        expect_error(call("POST", "/set", {"key": k, "value": 1}), 400)
        expect_error(call("GET", "/get?key=" + q(k)), 400)
        if c != "\u0000":   # %00 in the path: see nginx_refused_request_line_gets_json_error_with_its_status
            expect_error(call("GET", "/get/" + q(k)), 400)
        expect_error(call("POST", "/batch", {"operations": [{"op": "set", "key": k, "value": 1}]}),
                     400)
    r = expect(call("GET", "/list?prefix=" + q(key())), 200)
    check(r.json["items"] == [], "nothing may be written: %r" % (r,))


@test
def key_allows_characters_outside_the_control_ranges():
    # U+0080..U+009F are not in the refused set (U+0000-U+001F, U+007F).
    k = key() + "\u0080~ \u00a0"
    put(k, 1)
    assert_value(k, 1)


@test
def key_with_invalid_utf8_in_query_is_400():
    expect_error(call("GET", "/get?key=" + q(key()) + "%FF"), 400)
    expect_error(call("GET", "/get?key=%C0%AF"), 400)      # overlong '/'
    expect_error(call("GET", "/get?key=%ED%A0%80"), 400)   # UTF-8 encoded surrogate
    expect_error(call("DELETE", "/?key=%FF"), 400)


@test
def key_with_invalid_utf8_in_path_is_400():
    expect_error(call("GET", "/get/" + q(key()) + "%FF"), 400)
    expect_error(call("GET", "/get/%C3"), 400)
    expect_error(call("DELETE", "/delete/%FE%FF"), 400)


@test
def key_with_invalid_utf8_in_body_is_400_and_not_written():
    body = b'{"key":"' + key().encode() + b'\xff","value":1}'
    expect_error(call("POST", "/set", body), 400)
    r = expect(call("GET", "/list?prefix=" + q(key())), 200)
    check(r.json["items"] == [], "nothing may be written: %r" % (r,))


@test
def key_with_malformed_percent_escape_is_400():
    expect_error(call("GET", "/get?key=abc%G1"), 400)
    expect_error(call("GET", "/get?key=abc%2"), 400)
    expect_error(call("GET", "/list?prefix=%"), 400)


@test
def key_wrong_json_type_is_400_naming_key():
    for bad in [1, 1.5, True, ["k"], {"k": 1}]:
        r = expect_error(call("POST", "/set", {"key": bad, "value": 1}), 400)
        check("key" in r.json["error"].lower(), "error should name the key: %r" % (r,))
    r = expect_error(call("POST", "/set", {"value": 1}), 400, "Missing key parameter")


# ---------------------------------------------------------------------------
# values


VALUES = [
    ("string", "hello"),
    ("empty_string", ""),
    ("unicode_string", "héllo wörld 日本語 😀 \u2028\u2029"),
    ("string_with_slashes_and_escapes", "a/b\\c\"d\n\r\t\b\f</script>\u0000\u001f\u007f end"),
    ("true", True),
    ("false", False),
    ("zero", 0),
    ("negative_int", -42),
    ("float", 3.25),
    ("empty_object", {}),
    ("empty_array", []),
    ("object", {"a": 1, "b": "two", "c": None, "d": [True, False]}),
    ("array", [1, "2", None, 3.5, {"x": []}]),
    ("nested", {"l1": {"l2": {"l3": [[[{"deep": ["x", {"y": None}]}]]]}}, "z": ""}),
    ("object_with_odd_member_names", {"": 1, "a/b": 2, "é": 3, "k\"q": 5, "\n\t": 6}),
]


def nul_in_member_name_is_refused_not_altered():
    # json-c would cut the name at the NUL and merge it into "a": the
    # service refuses it instead of storing an altered value.
    k = key()
    r = expect(call("POST", "/set", {"key": k, "value": {"a\u0000b": 1, "a": 2}}), 400)
    check("member name" in r.json["error"], "error names the member name: %r" % r.json)
    expect(call("GET", "/get?key=" + q(k)), 404)


add_test("value_with_nul_in_member_name_is_400_and_not_written",
         nul_in_member_name_is_refused_not_altered)


def value_round_trip_test(name, v):
    def fn():
        k = key()
        req("POST", "/set", {"key": k, "value": v}, status=200,
            want={"success": True, "key": k, "value": v, "expires": None})
        assert_value(k, v)
        r = expect(call("GET", "/list?prefix=" + q(k)), 200)
        expect(r, 200, {"success": True, "count": 1, "cursor": None,
                        "items": [{"key": k, "value": v, "expires": None}]})
        req("POST", "/batch", {"operations": [{"op": "get", "key": k}]}, status=200,
            want={"success": True, "results": [{"key": k, "value": v, "expires": None}]})
    add_test("value_round_trips_" + name, fn)


for _n, _v in VALUES:
    value_round_trip_test(_n, _v)

NUMBER_TEXTS = ["1.50", "1e2", "1E+2", "-0", "-0.0", "0.1", "5e-324", "1.7976931348623157e308",
                "9223372036854775807", "-9223372036854775808", "9223372036854775808",
                "18446744073709551616", "123456789012345678901234567890",
                "-123456789012345678901234567890", "2.5e-3", "12345678901234567890.5"]


@test
def value_numbers_round_trip_equal():
    k = key()
    for t in NUMBER_TEXTS:
        body = ('{"key":%s,"value":%s}' % (json.dumps(k), t)).encode()
        r = call("POST", "/set", body)
        expect(r, 200, {"success": True, "key": k, "value": json.loads(t), "expires": None})
        st, v = get_value(k)
        check(st == 200 and jeq(v, json.loads(t)),
              "number %s read back as %s (raw %r)" % (t, short(v), r.raw))


@test
def value_numbers_keep_their_json_text():
    k = key()
    for t in ["1.50", "1e2", "2.5e-3", "123456789012345678901234567890",
              "18446744073709551616", "0.10"]:
        body = ('{"key":%s,"value":[%s]}' % (json.dumps(k), t)).encode()
        expect(call("POST", "/set", body), 200)
        r = expect(call("GET", "/get?key=" + q(k)), 200)
        check(b'"value":[' + t.encode() + b']' in r.raw,
              "number text %s not kept: %r" % (t, r.raw))


@test
def value_in_nested_containers_round_trips_with_number_texts():
    k = key()
    text = '{"a":[1.50,{"b":1e2,"c":-0}],"d":{"e":{"f":[123456789012345678901234567890]}}}'
    body = ('{"key":%s,"value":%s}' % (json.dumps(k), text)).encode()
    expect(call("POST", "/set", body), 200)
    assert_value(k, json.loads(text))


@test
def value_null_deletes_with_exact_reply():
    k = key()
    put(k, "x")
    req("POST", "/set", {"key": k, "value": None}, status=200,
        want={"success": True, "key": k, "value": None, "expires": None})
    assert_absent(k)
    req("POST", "/set", {"key": k, "value": None}, status=200,
        want={"success": True, "key": k, "value": None, "expires": None})


@test
def value_missing_is_400_missing_value_parameter():
    k = key()
    expect_error(call("POST", "/set", {"key": k}), 400, "Missing value parameter")
    expect_error(call("POST", "/set", {"key": k, "ttl": 10}), 400, "Missing value parameter")
    assert_absent(k)


def big_string_value(total_compact_bytes):
    """A string value whose compact JSON is exactly total_compact_bytes."""
    return "v" * (total_compact_bytes - 2)


@test
def value_of_exactly_max_value_bytes_is_accepted():
    k = key()
    v = big_string_value(MIB)
    r = call("POST", "/set", {"key": k, "value": v})
    check(r.status == 200 and r.json.get("value") == v and r.json.get("key") == k,
          "want 200 with the value: %r" % (r,))
    st, got = get_value(k)
    check(st == 200 and got == v, "1 MiB value did not read back")


@test
def value_over_max_value_bytes_is_413_and_not_written():
    k = key()
    expect_error(call("POST", "/set", {"key": k, "value": big_string_value(MIB + 1)}), 413)
    expect_error(call("POST", "/set", {"key": k, "value": [big_string_value(MIB)]}), 413)
    assert_absent(k)
    expect_error(call("POST", "/test-and-set",
                      {"key": k, "oldValue": None, "newValue": big_string_value(MIB + 1)}), 413)
    assert_absent(k)


@test
def value_size_is_measured_compact_not_as_sent():
    # 400000 ints: compact "[1,1,...]" is 800001 bytes, as sent with ", " 1.2 MB.
    k = key()
    n = 400000
    body = ('{"key":%s,"value":[%s]}' % (json.dumps(k), ", ".join(["1"] * n))).encode()
    check(len(body) > MIB, "test body should be over 1 MiB")
    r = call("POST", "/set", body)
    check(r.status == 200, "want 200, got %r" % (r,))
    st, v = get_value(k)
    check(st == 200 and isinstance(v, list) and len(v) == n, "value did not read back")


# ---------------------------------------------------------------------------
# TTL


@test
def ttl_sets_expires_to_now_plus_ttl_ms():
    k = key()
    before = now_ms()
    r = req("POST", "/set", {"key": k, "value": 1, "ttl": 100})
    after = now_ms()
    expect(r, 200, {"success": True, "key": k, "value": 1,
                    "expires": Approx(before + 100000 - 1000, after + 100000 + 1000)})
    r2 = expect(call("GET", "/get?key=" + q(k)), 200)
    check(r2.json["expires"] == r.json["expires"], "get shows another expires: %r" % (r2,))


@test
def expiration_ttl_is_accepted_as_ttl():
    k = key()
    before = now_ms()
    r = req("POST", "/set", {"key": k, "value": 1, "expirationTtl": 3600})
    after = now_ms()
    expect(r, 200, {"success": True, "key": k, "value": 1,
                    "expires": Approx(before + 3600000 - 1000, after + 3600000 + 1000)})


@test
def ttl_maximum_of_ten_years_is_accepted():
    k = key()
    before = now_ms()
    r = req("POST", "/set", {"key": k, "value": 1, "ttl": 315360000})
    after = now_ms()
    expect(r, 200, {"success": True, "key": k, "value": 1,
                    "expires": Approx(before + 315360000000 - 1000, after + 315360000000 + 1000)})


INVALID_TTLS = ["-1", "1.5", "1e3", "1.0", '"10"', "315360001", "true", "false", "[]",
                "{}", "-0.5", "99999999999999999999"]


@test
def ttl_invalid_values_are_400_and_nothing_written():
    k = key()
    for t in INVALID_TTLS:
        for field in ("ttl", "expirationTtl"):
            body = ('{"key":%s,"value":"v","%s":%s}' % (json.dumps(k), field, t)).encode()
            r = expect_error(call("POST", "/set", body), 400)
            check("ttl" in r.json["error"].lower(), "error should name the ttl: %r" % (r,))
            assert_absent(k, " after %s=%s" % (field, t))


@test
def ttl_invalid_in_test_and_set_is_400_and_nothing_written():
    k = key()
    for t in INVALID_TTLS:
        body = ('{"key":%s,"oldValue":null,"newValue":"v","ttl":%s}' % (json.dumps(k), t)).encode()
        expect_error(call("POST", "/test-and-set", body), 400)
        assert_absent(k, " after ttl=%s" % t)


@test
def ttl_invalid_in_batch_is_400_and_nothing_written():
    k = key()
    for t in INVALID_TTLS:
        body = ('{"operations":[{"op":"set","key":%s,"value":1},'
                '{"op":"set","key":%s,"value":2,"ttl":%s}]}'
                % (json.dumps(k + "a"), json.dumps(k + "b"), t)).encode()
        r = expect_error(call("POST", "/batch", body), 400)
        check(r.json["error"].startswith("operations[1]: "), "want operations[1]: ...: %r" % (r,))
        assert_absent(k + "a", " after batch ttl=%s" % t)
        assert_absent(k + "b", " after batch ttl=%s" % t)


@test
def ttl_zero_or_null_means_no_expiry():
    k = key()
    for t in ("0", "null"):
        body = ('{"key":%s,"value":"v","ttl":%s}' % (json.dumps(k), t)).encode()
        expect(call("POST", "/set", body), 200,
               {"success": True, "key": k, "value": "v", "expires": None})
        body = ('{"key":%s,"value":"v","expirationTtl":%s}' % (json.dumps(k), t)).encode()
        expect(call("POST", "/set", body), 200,
               {"success": True, "key": k, "value": "v", "expires": None})
        req("GET", "/get?key=" + q(k), status=200,
            want={"success": True, "key": k, "value": "v", "expires": None})


@test
def set_without_ttl_clears_earlier_expiry():
    k = key()
    put(k, 1, ttl=3600)
    req("POST", "/set", {"key": k, "value": 2}, status=200,
        want={"success": True, "key": k, "value": 2, "expires": None})
    req("GET", "/get?key=" + q(k), status=200,
        want={"success": True, "key": k, "value": 2, "expires": None})


@test
def test_and_set_without_ttl_clears_earlier_expiry():
    k = key()
    put(k, 1, ttl=3600)
    req("POST", "/test-and-set", {"key": k, "oldValue": 1, "newValue": 2}, status=200,
        want={"success": True, "conditionMet": True, "key": k, "value": 2, "expires": None})
    req("GET", "/get?key=" + q(k), status=200,
        want={"success": True, "key": k, "value": 2, "expires": None})


@test
def batch_set_without_ttl_clears_earlier_expiry():
    k = key()
    put(k, 1, ttl=3600)
    req("POST", "/batch", {"operations": [{"op": "set", "key": k, "value": 2}]}, status=200,
        want={"success": True, "results": [{"key": k, "value": 2, "expires": None}]})
    req("GET", "/get?key=" + q(k), status=200,
        want={"success": True, "key": k, "value": 2, "expires": None})


@test
def test_and_set_and_batch_accept_ttl():
    k = key()
    before = now_ms()
    r = req("POST", "/test-and-set",
            {"key": k + "1", "oldValue": None, "newValue": 1, "expirationTtl": 50}, status=200)
    check(Approx(before + 49000, now_ms() + 51000).matches(r.json.get("expires")), "%r" % (r,))
    r = req("POST", "/batch", {"operations": [
        {"op": "set", "key": k + "2", "value": 2, "ttl": 60},
        {"op": "testAndSet", "key": k + "3", "oldValue": None, "newValue": 3, "ttl": 70},
        {"op": "get", "key": k + "2"}]}, status=200)
    res = r.json["results"]
    check(Approx(before + 59000, now_ms() + 61000).matches(res[0].get("expires")), "%r" % (r,))
    check(Approx(before + 69000, now_ms() + 71000).matches(res[1].get("expires")), "%r" % (r,))
    check(res[2].get("expires") == res[0].get("expires"), "%r" % (r,))


@test
def expired_key_is_gone_for_get_list_test_and_set_and_batch():
    p = key() + "/"
    for s in ("get", "getpath", "list", "tas", "tas2", "batch"):
        put(p + s, "old-" + s, ttl=1)
    put(p + "zz-keep", "kept")
    r = expect(call("GET", "/list?prefix=" + q(p)), 200)
    check(r.json["count"] == 7, "all keys live before expiry: %r" % (r,))
    time.sleep(2.2)
    expect_error(call("GET", "/get?key=" + q(p + "get")), 404, "Key not found")
    expect_error(call("GET", "/get/" + q(p + "getpath")), 404, "Key not found")
    r = expect(call("GET", "/list?prefix=" + q(p)), 200)
    expect(r, 200, {"success": True, "count": 1, "cursor": None,
                    "items": [{"key": p + "zz-keep", "value": "kept", "expires": None}]})
    # test-and-set expecting the old value: not met, current null
    req("POST", "/test-and-set", {"key": p + "tas2", "oldValue": "old-tas2", "newValue": "x"},
        status=200, want={"success": False, "conditionMet": False, "key": p + "tas2",
                          "message": "Condition not met, value was not updated",
                          "current": None})
    # create-if-absent succeeds on an expired key
    req("POST", "/test-and-set", {"key": p + "tas", "oldValue": None, "newValue": "new"},
        status=200, want={"success": True, "conditionMet": True, "key": p + "tas",
                          "value": "new", "expires": None})
    req("POST", "/batch", {"operations": [{"op": "get", "key": p + "batch"},
                                          {"op": "test-and-set", "key": p + "list",
                                           "oldValue": None, "newValue": 1}]},
        status=200, want={"success": True, "results": [
            {"key": p + "batch", "value": None, "expires": None},
            {"key": p + "list", "value": 1, "expires": None, "conditionMet": True}]})


# ---------------------------------------------------------------------------
# list


def keys_of(items):
    return [it["key"] for it in items]


@test
def list_returns_keys_in_ascending_byte_order():
    p = key() + "/"
    names = ["b", "a", "B", "é", "aa", "a b", "~", "Z", "a\u0080", "日", "😀", "\uffff", "0", "-"]
    batch_set([(p + n, i) for i, n in enumerate(names)])
    items, _ = list_all(p)
    want = sorted([p + n for n in names], key=lambda s: s.encode("utf-8"))
    check(keys_of(items) == want, "want %s\n got %s" % (want, keys_of(items)))


@test
def list_root_without_key_lists_with_parameters():
    p = key() + "/"
    batch_set([(p + "a", 1), (p + "b", 2), (p + "c", 3)])
    r = expect(call("GET", "/?prefix=%s&limit=2" % q(p)), 200)
    check_list_shape(r)
    check(keys_of(r.json["items"]) == [p + "a", p + "b"], "%r" % (r,))
    check(isinstance(r.json["cursor"], str), "%r" % (r,))
    r = expect(call("GET", "/?prefix=%s&limit=2&cursor=%s" % (q(p), q(r.json["cursor"]))), 200)
    expect(r, 200, {"success": True, "count": 1, "cursor": None,
                    "items": [{"key": p + "c", "value": 3, "expires": None}]})


@test
def list_prefix_with_no_match_is_empty():
    r = expect(call("GET", "/list?prefix=" + q(key() + "/none/")), 200)
    expect(r, 200, {"success": True, "count": 0, "items": [], "cursor": None})


@test
def list_limit_out_of_range_or_not_integer_is_400():
    for bad in ["0", "1001", "abc", "-1", "1.5", "", "10x", "1e2", "99999999999999999999"]:
        if bad == "":
            continue
        expect_error(call("GET", "/list?limit=" + q(bad)), 400)
        expect_error(call("GET", "/?limit=" + q(bad)), 400)


@test
def list_limit_1_and_1000_are_accepted():
    p = key() + "/"
    batch_set([(p + "%d" % i, i) for i in range(3)])
    r = expect(call("GET", "/list?limit=1&prefix=" + q(p)), 200)
    check_list_shape(r)
    check(keys_of(r.json["items"]) == [p + "0"] and r.json["cursor"] is not None, "%r" % (r,))
    r = expect(call("GET", "/list?limit=1000&prefix=" + q(p)), 200)
    check_list_shape(r)
    check(keys_of(r.json["items"]) == [p + "0", p + "1", p + "2"] and r.json["cursor"] is None,
          "%r" % (r,))
    r = expect(call("GET", "/list?limit=1000"), 200)
    check_list_shape(r)
    check(1 <= r.json["count"] <= 1000, "%r" % (r,))


@test
def list_default_limit_is_100():
    p = key() + "/"
    batch_set([(p + "%03d" % i, i) for i in range(105)])
    r = expect(call("GET", "/list?prefix=" + q(p)), 200)
    check_list_shape(r)
    check(r.json["count"] == 100, "want 100 items by default: count %s" % r.json["count"])
    check(isinstance(r.json["cursor"], str), "want a cursor: %r" % (r,))
    r = expect(call("GET", "/list?prefix=%s&cursor=%s" % (q(p), q(r.json["cursor"]))), 200)
    check(keys_of(r.json["items"]) == [p + "%03d" % i for i in range(100, 105)]
          and r.json["cursor"] is None, "%r" % (r,))


@test
def list_cursor_is_null_when_the_last_page_is_full():
    p = key() + "/"
    batch_set([(p + "%d" % i, i) for i in range(6)])
    r = expect(call("GET", "/list?limit=3&prefix=" + q(p)), 200)
    check(isinstance(r.json["cursor"], str), "%r" % (r,))
    r = expect(call("GET", "/list?limit=3&prefix=%s&cursor=%s" % (q(p), q(r.json["cursor"]))), 200)
    check(r.json["count"] == 3 and keys_of(r.json["items"]) == [p + "3", p + "4", p + "5"],
          "%r" % (r,))
    check(r.json["cursor"] is None, "nothing is left, cursor must be null: %r" % (r,))


@test
def list_paging_visits_each_key_once_in_order():
    p = key() + "/"
    want = [p + "%02d" % i for i in range(25)]
    batch_set([(k, i) for i, k in enumerate(want)])
    items, pages = list_all(p, limit=7)
    check([pg["count"] for pg in pages] == [7, 7, 7, 4], "page sizes %s"
          % [pg["count"] for pg in pages])
    check(keys_of(items) == want, "want %s\n got %s" % (want, keys_of(items)))
    check([it["value"] for it in items] == list(range(25)), "values wrong")


@test
def list_paging_sees_keys_inserted_ahead_and_not_behind_the_cursor():
    p = key() + "/"
    base = [p + "k%02d" % i for i in range(0, 20, 2)]    # k00 k02 .. k18
    batch_set([(k, 0) for k in base])
    r = expect(call("GET", "/list?limit=4&prefix=" + q(p)), 200)
    seen = keys_of(r.json["items"])
    check(seen == base[:4], "%r" % (r,))
    cursor = r.json["cursor"]
    # behind the cursor (before k06), ahead (after k06), and delete some ahead
    batch_set([(p + "k01", 1), (p + "k05", 1), (p + "k07", 1), (p + "k19", 1), (p + "k99", 1)])
    expect(call("POST", "/batch", {"operations": [
        {"op": "delete", "key": p + "k08"}, {"op": "delete", "key": p + "k06"}]}), 200)
    for _ in range(50):
        r = expect(call("GET", "/list?limit=4&prefix=%s&cursor=%s" % (q(p), q(cursor))), 200)
        check_list_shape(r)
        seen += keys_of(r.json["items"])
        cursor = r.json["cursor"]
        if cursor is None:
            break
    want = base[:4] + [p + "k07", p + "k10", p + "k12", p + "k14", p + "k16", p + "k18",
                       p + "k19", p + "k99"]
    check(seen == want, "want %s\n got %s" % (want, seen))


@test
def list_cursor_survives_deletion_of_its_last_key():
    p = key() + "/"
    batch_set([(p + "%d" % i, i) for i in range(6)])
    r = expect(call("GET", "/list?limit=3&prefix=" + q(p)), 200)
    expect(call("DELETE", "/delete?key=" + q(p + "2")), 200)
    expect(call("DELETE", "/delete?key=" + q(p + "3")), 200)
    r = expect(call("GET", "/list?limit=3&prefix=%s&cursor=%s" % (q(p), q(r.json["cursor"]))), 200)
    check(keys_of(r.json["items"]) == [p + "4", p + "5"] and r.json["cursor"] is None,
          "%r" % (r,))


@test
def list_bad_cursor_is_400():
    for bad in ["garbage!!", "%FF", "a b", "abc=", "A"]:
        expect_error(call("GET", "/list?cursor=" + (bad if bad.startswith("%") else q(bad))), 400)


@test
def list_items_show_expires():
    p = key() + "/"
    before = now_ms()
    put(p + "a", 1, ttl=1000)
    put(p + "b", 2)
    r = expect(call("GET", "/list?prefix=" + q(p)), 200)
    expect(r, 200, {"success": True, "count": 2, "cursor": None, "items": [
        {"key": p + "a", "value": 1, "expires": Approx(before + 999000, now_ms() + 1001000)},
        {"key": p + "b", "value": 2, "expires": None}]})


@test
def list_invalid_prefix_is_400():
    expect_error(call("GET", "/list?prefix=%FF"), 400)
    expect_error(call("GET", "/list?prefix=a%01"), 400)


# ---------------------------------------------------------------------------
# test-and-set


def tas(k, old, new, **extra):
    body = {"key": k, "oldValue": old, "newValue": new}
    body.update(extra)
    return call("POST", "/test-and-set", body)


def met(k, v, expires=None):
    return {"success": True, "conditionMet": True, "key": k, "value": v, "expires": expires}


def not_met(k, current):
    return {"success": False, "conditionMet": False, "key": k,
            "message": "Condition not met, value was not updated", "current": current}


@test
def test_and_set_condition_met_replaces_value():
    k = key()
    put(k, "a")
    expect(tas(k, "a", "b"), 200, met(k, "b"))
    assert_value(k, "b")


@test
def test_and_set_mismatch_reports_current_value_and_expires():
    k = key()
    before = now_ms()
    put(k, {"n": 1}, ttl=500)
    expect(tas(k, {"n": 2}, "x"), 200,
           not_met(k, {"value": {"n": 1}, "expires": Approx(before + 499000, now_ms() + 501000)}))
    assert_value(k, {"n": 1})


@test
def test_and_set_mismatch_on_absent_key_reports_current_null():
    k = key()
    expect(tas(k, "a", "b"), 200, not_met(k, None))
    assert_absent(k)


@test
def test_and_set_old_null_creates_if_absent():
    k = key()
    expect(tas(k, None, [1, 2]), 200, met(k, [1, 2]))
    assert_value(k, [1, 2])


@test
def test_and_set_old_null_fails_if_present():
    k = key()
    put(k, 0)
    expect(tas(k, None, 1), 200, not_met(k, {"value": 0, "expires": None}))
    assert_value(k, 0)


@test
def test_and_set_new_null_deletes_when_condition_holds():
    k = key()
    put(k, "bye")
    expect(tas(k, "bye", None), 200, met(k, None))
    assert_absent(k)


@test
def test_and_set_null_to_null_on_absent_key_is_met():
    k = key()
    expect(tas(k, None, None), 200, met(k, None))
    assert_absent(k)


@test
def test_and_set_objects_equal_regardless_of_member_order():
    k = key()
    expect(call("POST", "/set", b'{"key":"%s","value":{"a":1,"b":[1,{"x":null,"y":"z"}],"c":true}}'
                % k.encode()), 200)
    body = (b'{"key":"%s","oldValue":{"c":true,"b":[1,{"y":"z","x":null}],"a":1},"newValue":2}'
            % k.encode())
    expect(call("POST", "/test-and-set", body), 200, met(k, 2))


@test
def test_and_set_numbers_compare_by_numeric_value():
    k = key()
    for stored, old in [("1", "1.0"), ("1.0", "1"), ("100", "1e2"), ("0", "-0"), ("1.50", "1.5"),
                        ("[1,2.0]", "[1.0,2]"), ('{"n":25}', '{"n":2.5e1}')]:
        expect(call("POST", "/set", ('{"key":"%s","value":%s}' % (k, stored)).encode()), 200)
        r = call("POST", "/test-and-set",
                 ('{"key":"%s","oldValue":%s,"newValue":"ok"}' % (k, old)).encode())
        check(r.status == 200 and r.json.get("conditionMet") is True,
              "stored %s, oldValue %s should match: %r" % (stored, old, r))


@test
def test_and_set_distinguishes_json_types_and_shapes():
    k = key()
    for stored, old in [("true", "1"), ("1", "true"), ('"1"', "1"), ("false", "0"),
                        ('""', "null"), ("[1,2]", "[2,1]"), ('{"a":1}', '{"a":1,"b":2}'),
                        ('{"a":1,"b":2}', '{"a":1}'), ("[]", "{}"), ("[1]", "1"),
                        ('"a"', '"A"'), ('"é"', '"e\\u0301"'), ("1", "1.0000001"),
                        ('{"a":null}', "{}")]:
        expect(call("POST", "/set", ('{"key":"%s","value":%s}' % (k, stored)).encode()), 200)
        r = call("POST", "/test-and-set",
                 ('{"key":"%s","oldValue":%s,"newValue":"changed"}' % (k, old)).encode())
        check(r.status == 200 and r.json.get("conditionMet") is False,
              "stored %s, oldValue %s must not match: %r" % (stored, old, r))
        assert_value(k, json.loads(stored))


@test
def test_and_set_missing_parameters_are_400_with_exact_messages():
    k = key()
    expect_error(call("POST", "/test-and-set", {"oldValue": 1, "newValue": 2}), 400,
                 "Missing key parameter")
    expect_error(call("POST", "/test-and-set", {"key": k, "newValue": 2}), 400,
                 "Missing oldValue parameter")
    expect_error(call("POST", "/test-and-set", {"key": k, "oldValue": None}), 400,
                 "Missing newValue parameter")
    assert_absent(k)


@test
def test_and_set_concurrent_racers_exactly_one_wins():
    k = key()
    put(k, "v0")
    n = 16
    results = [None] * n
    barrier = threading.Barrier(n, timeout=10)

    def racer(i):
        try:
            barrier.wait()
            results[i] = S.request("POST", "/test-and-set",
                                   {"key": k, "oldValue": "v0", "newValue": "t%d" % i},
                                   timeout=20)
        except Exception as e:   # noqa: BLE001
            results[i] = e

    threads = [threading.Thread(target=racer, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    check(not any(t.is_alive() for t in threads), "racers did not finish in 30 s")
    winners = []
    for i, res in enumerate(results):
        check(isinstance(res, tuple) and res[0] == 200, "racer %d: %r" % (i, res))
        body = res[2]
        if body.get("conditionMet") is True:
            winners.append(i)
        else:
            check(jeq(body, not_met(k, {"value": ANY_STR, "expires": None})),
                  "racer %d: %r" % (i, body))
    check(len(winners) == 1, "want exactly one winner, got %d: %s" % (len(winners), winners))
    assert_value(k, "t%d" % winners[0])


# ---------------------------------------------------------------------------
# batch


@test
def batch_later_ops_see_earlier_writes():
    k = key()
    req("POST", "/batch", {"operations": [
        {"op": "get", "key": k},
        {"op": "set", "key": k, "value": 1},
        {"op": "get", "key": k},
        {"op": "test-and-set", "key": k, "oldValue": 1, "newValue": {"two": 2}},
        {"op": "get", "key": k},
        {"op": "delete", "key": k},
        {"op": "get", "key": k},
        {"op": "test-and-set", "key": k, "oldValue": None, "newValue": "last"},
    ]}, status=200, want={"success": True, "results": [
        {"key": k, "value": None, "expires": None},
        {"key": k, "value": 1, "expires": None},
        {"key": k, "value": 1, "expires": None},
        {"key": k, "value": {"two": 2}, "expires": None, "conditionMet": True},
        {"key": k, "value": {"two": 2}, "expires": None},
        {"key": k, "deleted": True},
        {"key": k, "value": None, "expires": None},
        {"key": k, "value": "last", "expires": None, "conditionMet": True},
    ]})
    assert_value(k, "last")


@test
def batch_op_names_are_case_insensitive_and_test_and_set_has_two_names():
    k = key()
    req("POST", "/batch", {"operations": [
        {"op": "SET", "key": k, "value": 1},
        {"op": "Get", "key": k},
        {"op": "testAndSet", "key": k, "oldValue": 1, "newValue": 2},
        {"op": "TESTANDSET", "key": k, "oldValue": 2, "newValue": 3},
        {"op": "testandset", "key": k, "oldValue": 3, "newValue": 4},
        {"op": "Test-And-Set", "key": k, "oldValue": 4, "newValue": 5},
        {"op": "GET", "key": k},
        {"op": "DeLeTe", "key": k},
    ]}, status=200, want={"success": True, "results": [
        {"key": k, "value": 1, "expires": None},
        {"key": k, "value": 1, "expires": None},
        {"key": k, "value": 2, "expires": None, "conditionMet": True},
        {"key": k, "value": 3, "expires": None, "conditionMet": True},
        {"key": k, "value": 4, "expires": None, "conditionMet": True},
        {"key": k, "value": 5, "expires": None, "conditionMet": True},
        {"key": k, "value": 5, "expires": None},
        {"key": k, "deleted": True},
    ]})


@test
def batch_is_validated_before_anything_runs():
    p = key() + "/"
    r = call("POST", "/batch", {"operations": [
        {"op": "set", "key": p + "a", "value": 1},
        {"op": "set", "key": p + "b", "value": 2},
        {"op": "delete", "key": p + "c"},
        {"op": "set", "value": 3},
    ]})
    expect_error(r, 400, "operations[3]: Missing key parameter")
    assert_absent(p + "a")
    assert_absent(p + "b")


@test
def batch_op_errors_name_index_and_reason():
    k = key()
    ok = {"op": "set", "key": k, "value": 1}
    cases = [
        ({"op": "set", "key": k}, "Missing value parameter"),
        ({"op": "test-and-set", "key": k, "newValue": 1}, "Missing oldValue parameter"),
        ({"op": "testAndSet", "key": k, "oldValue": 1}, "Missing newValue parameter"),
        ({"op": "get"}, "Missing key parameter"),
        ({"op": "delete"}, "Missing key parameter"),
    ]
    for bad, msg in cases:
        expect_error(call("POST", "/batch", {"operations": [ok, ok, bad]}), 400,
                     "operations[2]: " + msg)
    for bad in [{"op": "frobnicate", "key": k}, {"key": k, "value": 1}, "set", 5, None,
                {"op": 1, "key": k}, {"op": "set", "key": 5, "value": 1}]:
        r = expect_error(call("POST", "/batch", {"operations": [ok, bad]}), 400)
        check(r.json["error"].startswith("operations[1]: "), "want operations[1]: ...: %r" % (r,))
    assert_absent(k)


@test
def batch_missing_or_non_array_operations_is_400():
    for body in [{}, {"operations": None}, {"operations": {"0": {"op": "get", "key": "a"}}},
                 {"operations": "set"}, {"operations": 3}, {"ops": []}]:
        expect_error(call("POST", "/batch", body), 400, "Missing or invalid operations array")


@test
def batch_of_128_ops_is_accepted():
    p = key() + "/"
    ops = [{"op": "set", "key": p + "%03d" % i, "value": i} for i in range(128)]
    r = expect(call("POST", "/batch", {"operations": ops}), 200)
    check(len(r.json["results"]) == 128, "want 128 results")
    r = expect(call("GET", "/list?limit=1000&prefix=" + q(p)), 200)
    check(r.json["count"] == 128, "want 128 keys: count %s" % r.json["count"])


@test
def batch_of_129_ops_is_400_too_many():
    p = key() + "/"
    ops = [{"op": "set", "key": p + "%03d" % i, "value": i} for i in range(129)]
    expect_error(call("POST", "/batch", {"operations": ops}), 400,
                 "Too many operations. Maximum of 128 operations per request.")
    r = expect(call("GET", "/list?prefix=" + q(p)), 200)
    check(r.json["count"] == 0, "nothing may be written: %r" % (r,))


@test
def batch_value_too_large_is_413_naming_the_op():
    p = key() + "/"
    r = call("POST", "/batch", {"operations": [
        {"op": "set", "key": p + "a", "value": 1},
        {"op": "get", "key": p + "a"},
        {"op": "set", "key": p + "b", "value": big_string_value(MIB + 1)},
    ]})
    expect_error(r, 413, "operations[2]: value too large")
    r = call("POST", "/batch", {"operations": [
        {"op": "set", "key": p + "a", "value": 1},
        {"op": "test-and-set", "key": p + "b", "oldValue": None,
         "newValue": big_string_value(MIB + 1)},
    ]})
    expect_error(r, 413, "operations[1]: value too large")
    assert_absent(p + "a")
    assert_absent(p + "b")


@test
def batch_atomic_failed_test_and_set_rolls_back_everything():
    p = key() + "/"
    put(p + "x", "orig")
    put(p + "del", "keep")
    req("POST", "/batch", {"atomic": True, "operations": [
        {"op": "set", "key": p + "new", "value": 1},
        {"op": "delete", "key": p + "del"},
        {"op": "test-and-set", "key": p + "x", "oldValue": "orig", "newValue": "changed"},
        {"op": "test-and-set", "key": p + "x", "oldValue": "wrong", "newValue": "again"},
        {"op": "set", "key": p + "after", "value": 2},
    ]}, status=200, want={"success": False, "conditionMet": False, "failedOperation": 3,
                          "message": "Condition not met at operations[3], batch rolled back"})
    assert_absent(p + "new")
    assert_absent(p + "after")
    assert_value(p + "del", "keep")
    assert_value(p + "x", "orig")


@test
def batch_atomic_with_all_conditions_met_applies_everything():
    p = key() + "/"
    put(p + "x", 1)
    req("POST", "/batch", {"atomic": True, "operations": [
        {"op": "test-and-set", "key": p + "x", "oldValue": 1, "newValue": 2},
        {"op": "set", "key": p + "y", "value": 3},
    ]}, status=200, want={"success": True, "results": [
        {"key": p + "x", "value": 2, "expires": None, "conditionMet": True},
        {"key": p + "y", "value": 3, "expires": None}]})
    assert_value(p + "x", 2)
    assert_value(p + "y", 3)


@test
def batch_non_atomic_failed_test_and_set_keeps_going():
    p = key() + "/"
    put(p + "x", "orig")
    for atomic in (False, None):
        body = {"operations": [
            {"op": "set", "key": p + "before", "value": 1},
            {"op": "test-and-set", "key": p + "x", "oldValue": "wrong", "newValue": "no"},
            {"op": "set", "key": p + "after", "value": 2},
        ]}
        if atomic is not None:
            body["atomic"] = atomic
        req("POST", "/batch", body, status=200, want={"success": True, "results": [
            {"key": p + "before", "value": 1, "expires": None},
            {"key": p + "x", "value": None, "expires": None, "conditionMet": False},
            {"key": p + "after", "value": 2, "expires": None}]})
        assert_value(p + "before", 1)
        assert_value(p + "after", 2)
        assert_value(p + "x", "orig")
        call("POST", "/batch", {"operations": [{"op": "delete", "key": p + "before"},
                                               {"op": "delete", "key": p + "after"}]})


@test
def batch_set_null_value_deletes():
    k = key()
    put(k, 1)
    req("POST", "/batch", {"operations": [{"op": "set", "key": k, "value": None},
                                          {"op": "get", "key": k}]},
        status=200, want={"success": True, "results": [
            {"key": k, "value": None, "expires": None},
            {"key": k, "value": None, "expires": None}]})
    assert_absent(k)


# ---------------------------------------------------------------------------
# bad input


BAD_JSON = [
    ("unexpected_end", b'{"key":"%K","value":"x"'),
    ("empty_body", b''),
    ("nan", b'{"key":"%K","value":NaN}'),
    ("infinity", b'{"key":"%K","value":Infinity}'),
    ("single_quoted_string", b"{\"key\":\"%K\",\"value\":'x'}"),
    ("single_quoted_member_name", b"{'key':\"%K\",\"value\":1}"),
    ("trailing_garbage", b'{"key":"%K","value":1} x'),
    ("trailing_second_object", b'{"key":"%K","value":1}{}'),
    ("trailing_comma", b'{"key":"%K","value":1,}'),
    ("number_beyond_double_range", b'{"key":"%K","value":1e400}'),
    ("negative_number_beyond_double_range", b'{"key":"%K","value":[-1e400]}'),
    ("lone_high_surrogate_escape", b'{"key":"%K","value":"a\\ud800b"}'),
    ("lone_low_surrogate_escape", b'{"key":"%K","value":"\\udc00"}'),
    ("high_surrogate_then_non_low_escape", b'{"key":"%K","value":"\\ud800\\u0041"}'),
    ("lone_surrogate_in_key", b'{"key":"%K\\ud800","value":1}'),
    ("overlong_utf8_bytes", b'{"key":"%K","value":"\xc0\xaf"}'),
    ("utf8_encoded_surrogate_bytes", b'{"key":"%K","value":"\xed\xa0\x80"}'),
    ("invalid_utf8_byte", b'{"key":"%K","value":"\xff"}'),
    ("truncated_utf8_sequence", b'{"key":"%K","value":"\xe6\x97"}'),
    ("raw_tab_in_string", b'{"key":"%K","value":"a\tb"}'),
    ("raw_newline_in_string", b'{"key":"%K","value":"a\nb"}'),
    ("raw_control_char_in_string", b'{"key":"%K","value":"a\x01b"}'),
    ("bad_escape", b'{"key":"%K","value":"\\x41"}'),
    ("leading_zero_number", b'{"key":"%K","value":012}'),
    ("plus_sign_number", b'{"key":"%K","value":+1}'),
    ("bare_word", b'{"key":"%K","value":undefined}'),
    ("comment", b'{"key":"%K",/* c */"value":1}'),
    ("embedded_nul_after_object", b'{"key":"%K","value":1}\x00'),
    ("unquoted_member_name", b'{key:"%K","value":1}'),
]

NON_OBJECT_BODIES = [b'[]', b'[{"key":"%K","value":1}]', b'"%K"', b'1', b'null', b'true']


def bad_body_test(name, raw, paths=("/set", "/", "/test-and-set", "/batch")):
    def fn():
        k = key()
        body = raw.replace(b"%K", k.encode())
        for path in paths:
            b = body
            if path == "/test-and-set":
                b = b.replace(b'"value"', b'"oldValue":null,"newValue"')
            elif path == "/batch":
                b = (b'{"operations":[{"op":"set","key":"' + k.encode() + b'1","value":1},'
                     + (b if b else b'') + b']}') if b.startswith(b'{"key"') else b
            r = expect_error(call("POST", path, b), 400)
            assert_absent(k, " after POST %s %r" % (path, b[:80]))
            assert_absent(k + "1", " after POST %s %r" % (path, b[:80]))
    add_test(name, fn)


for _n, _b in BAD_JSON:
    bad_body_test("invalid_json_is_400_and_nothing_written_" + _n, _b)
for _i, _b in enumerate(NON_OBJECT_BODIES):
    bad_body_test("non_object_body_is_400_and_nothing_written_%d" % _i, _b,
                  paths=("/set", "/", "/test-and-set", "/batch"))


@test
def invalid_json_error_names_the_problem():
    r = expect_error(call("POST", "/set", b'{"key":"a","value":"x"'), 400)
    check("json" in r.json["error"].lower(), "error should say the body is not JSON: %r" % (r,))


def nested(depth_total):
    """A set body whose nesting, counted over the whole body, is depth_total."""
    inner = depth_total - 1
    return ('{"key":"%s","value":%s%s}' % (key(), "[" * inner, "]" * inner)).encode()


@test
def nesting_depth_64_is_accepted():
    r = call("POST", "/set", nested(64))
    check(r.status == 200, "depth 64 must be accepted: %r" % (r,))
    st, v = get_value(key())
    d = 0
    while isinstance(v, list):
        v, d = (v[0] if v else None), d + 1
    check(st == 200 and d == 63, "want 63 nested arrays back, got %d (status %d)" % (d, st))


@test
def nesting_depth_65_is_400_and_nothing_written():
    expect_error(call("POST", "/set", nested(65)), 400)
    expect_error(call("POST", "/set", nested(1000)), 400)
    expect_error(call("POST", "/set", b'{"key":"x","value":' + b'[' * 100000), 400)
    assert_absent(key())


@test
def nesting_depth_counts_batch_wrapper():
    # {"operations":[{... "value": X}]} : object, array, object = 3 levels
    k = key()
    ok = ('{"operations":[{"op":"set","key":"%s","value":%s%s}]}'
          % (k, "[" * 61, "]" * 61)).encode()
    bad = ('{"operations":[{"op":"set","key":"%s","value":%s%s}]}'
           % (k, "[" * 62, "]" * 62)).encode()
    expect_error(call("POST", "/batch", bad), 400)
    assert_absent(k)
    expect(call("POST", "/batch", ok), 200)


@test
def wrong_field_types_are_400_naming_the_field():
    k = key()
    r = expect_error(call("POST", "/set", {"key": 42, "value": 1}), 400)
    check("key" in r.json["error"], "%r" % (r,))
    r = expect_error(call("POST", "/set", {"key": k, "value": 1, "ttl": "10"}), 400)
    check("ttl" in r.json["error"].lower(), "%r" % (r,))
    expect_error(call("POST", "/batch", {"operations": {"op": "get", "key": k}}), 400,
                 "Missing or invalid operations array")
    r = expect_error(call("POST", "/batch", {"operations": [], "atomic": "yes"}), 400)
    check("atomic" in r.json["error"], "%r" % (r,))
    r = expect_error(call("POST", "/test-and-set", {"key": ["k"], "oldValue": 1, "newValue": 2}),
                     400)
    check("key" in r.json["error"], "%r" % (r,))
    assert_absent(k)


@test
def body_over_2_mib_is_413_json():
    k = key()
    body = {"key": k, "value": "x" * (2 * MIB)}
    r = call("POST", "/set", body)
    expect(r, 413, {"success": False, "error": "Request body too large"})
    assert_absent(k)


@test
def body_of_2_mib_with_big_value_is_413_value_too_large():
    k = key()
    head = '{"key":"%s","value":"' % k
    body = (head + "x" * (2 * MIB - len(head) - 2) + '"}').encode()
    check(len(body) == 2 * MIB, "body should be exactly 2 MiB")
    expect_error(call("POST", "/set", body), 413)
    assert_absent(k)


@test
def body_under_max_with_whitespace_is_accepted():
    # 1.9 MiB body, mostly whitespace, a small value
    k = key()
    body = ('{"key":"%s",%s"value":"small"}' % (k, " " * (19 * MIB // 10))).encode()
    expect(call("POST", "/set", body), 200,
           {"success": True, "key": k, "value": "small", "expires": None})


@test
def duplicate_members_in_request_objects_are_refused():
    k = key()
    expect_error(call("POST", "/set", ('{"key":"%s","value":1,"value":2}' % k).encode()),
                 400, "Duplicate member: value")
    assert_absent(k)
    # last-one-wins would have made this a create-if-absent
    expect_error(call("POST", "/test-and-set",
                      ('{"key":"%s","oldValue":1,"oldValue":null,"newValue":2}' % k).encode()),
                 400, "Duplicate member: oldValue")
    assert_absent(k)
    expect_error(call("POST", "/batch",
                      ('{"operations":[{"op":"set","key":"%s","value":1}],'
                       '"atomic":false,"atomic":true}' % k).encode()),
                 400, "Duplicate member: atomic")
    expect_error(call("POST", "/batch",
                      ('{"operations":[{"op":"set","key":"%s","value":1},'
                       '{"op":"set","key":"%s","key":"%s.b","value":2}]}' % (k, k, k)).encode()),
                 400, "Duplicate member: key")
    assert_absent(k)
    assert_absent(k + ".b")


@test
def duplicate_members_inside_a_value_keep_the_last():
    k = key()
    r = call("POST", "/set", ('{"key":"%s","value":{"a":1,"a":2}}' % k).encode())
    expect(r, 200, {"success": True, "key": k, "value": {"a": 2}, "expires": None})
    assert_value(k, {"a": 2})


@test
def integer_beyond_64_bits_is_stored_with_its_text():
    k = key()
    r = call("POST", "/set", ('{"key":"%s","value":100000000000000000000}' % k).encode())
    check(r.status == 200 and b'"value":100000000000000000000,' in r.raw, "%r" % (r,))
    r = call("GET", "/get?key=" + q(k))
    check(r.status == 200 and b'"value":100000000000000000000,' in r.raw, "%r" % (r,))


@test
def body_shorter_than_content_length_writes_nothing():
    import socket
    k = key()
    body = ('{"key":"%s","value":"partial"}' % k).encode()
    s = socket.create_connection((harness.HOST, S.port), timeout=5)
    try:
        s.sendall(b"POST /set HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % (len(body) + 100) + body)
        time.sleep(0.2)
        s.shutdown(socket.SHUT_WR)
        try:
            while s.recv(4096):    # nginx answers or closes; bounded by the timeout
                pass
        except OSError:
            pass
    finally:
        s.close()
    time.sleep(0.2)
    assert_absent(k)


# ---------------------------------------------------------------------------
# CORS, methods, routing


@test
def options_on_any_path_is_204_with_cors_headers():
    for path in ["/", "/get", "/get/abc", "/set", "/list", "/batch", "/test-and-set",
                 "/delete/x", "/health", "/no/such/path", "/?key=a"]:
        r = call("OPTIONS", path)
        check(r.status == 204, "want 204: %r" % (r,))
        check(r.raw == b"", "204 must have no body: %r" % (r,))
        h = r.headers
        check(h.get("access-control-allow-origin") == "*", "ACAO: %r" % (h,))
        check(h.get("access-control-allow-methods") == ALLOW_ALL, "ACAM: %r" % (h,))
        check(h.get("access-control-allow-headers") ==
              "Content-Type, Authorization, If-Match, If-None-Match", "ACAH: %r" % (h,))


@test
def cors_origin_header_on_every_reply():
    k = key()
    for method, path, body in [("GET", "/health", None), ("GET", "/get?key=" + q(k), None),
                               ("POST", "/set", {"key": k, "value": 1}),
                               ("GET", "/get/" + q(k), None), ("GET", "/list", None),
                               ("GET", "/nope", None), ("PUT", "/", None),
                               ("GET", "/set", None), ("POST", "/set", b"{"),
                               ("POST", "/set", {"key": k, "value": "x" * (2 * MIB)})]:
        r = call(method, path, body)
        check(r.headers.get("access-control-allow-origin") == "*",
              "want Access-Control-Allow-Origin: * on %r, headers %r" % (r, r.headers))


@test
def unknown_methods_are_405_with_allow_all():
    for method in ["PUT", "PATCH", "FOO"]:
        for path in ["/", "/set", "/get/x", "/nowhere"]:
            r = call(method, path, {"key": "a", "value": 1} if method != "FOO" else None)
            expect(r, 405, {"success": False, "error": "Method not allowed"})
            check(r.headers.get("allow") == ALLOW_ALL, "Allow: %r on %r" % (r.headers, r))


@test
def known_path_with_wrong_method_is_405_with_path_allow():
    cases = [("GET", "/set", "POST, OPTIONS"), ("DELETE", "/set", "POST, OPTIONS"),
             ("POST", "/get", "GET, OPTIONS"), ("DELETE", "/get", "GET, OPTIONS"),
             ("POST", "/get/abc", "GET, OPTIONS"), ("POST", "/list", "GET, OPTIONS"),
             ("GET", "/test-and-set", "POST, OPTIONS"), ("DELETE", "/batch", "POST, OPTIONS"),
             ("GET", "/batch", "POST, OPTIONS"), ("GET", "/delete", "DELETE, OPTIONS"),
             ("POST", "/delete/abc", "DELETE, OPTIONS"), ("POST", "/health", "GET, OPTIONS")]
    for method, path, allow in cases:
        r = call(method, path, {"key": "a", "value": 1} if method == "POST" else None)
        expect(r, 405, {"success": False, "error": "Method not allowed"})
        check(r.headers.get("allow") == allow, "want Allow %r: %r %r" % (allow, r, r.headers))


@test
def unknown_path_is_404_not_found():
    for method, path in [("GET", "/nope"), ("GET", "/gett"), ("GET", "/get2?key=a"),
                         ("GET", "/set/x"), ("POST", "/sett"), ("DELETE", "/list/x"),
                         ("GET", "/health/x"), ("GET", "/a/b/c?key=x")]:
        r = call(method, path)
        expect(r, 404, {"success": False, "error": "Not found"})


@test
def error_replies_are_json_with_json_content_type():
    # call() checks Content-Type and body of every reply; here the odd ones.
    for method, path, body in [("POST", "/set", b"\xff\xfe"), ("GET", "/nope", None),
                               ("PATCH", "/x", None), ("POST", "/batch", b"[]")]:
        r = call(method, path, body)
        check(r.status >= 400 and r.json.get("success") is False, "%r" % (r,))


@test
def nginx_refused_request_line_gets_json_error_with_its_status():
    # nginx itself refuses these request lines; its error page must still be
    # JSON with the original status (API.md: "including nginx's own error pages").
    problems = []
    for path, status in [("/get/%00", 400), ("/get/abc%00def", 400), ("/get/%zz", 400),
                         ("/get/abc%2", 400), ("/get/" + "a" * 10000, 414)]:
        try:
            expect_error(call("GET", path), status)
        except Failure as e:
            problems.append(str(e))
    check(not problems, "\n".join(problems))


@test
def head_request_is_handled():
    # nginx answers HEAD like GET without a body; it must not hang or crash.
    st, h, _, raw = S.request("HEAD", "/health")
    check(st in (200, 405) and raw == b"", "HEAD /health: %d %r" % (st, raw))


# ---------------------------------------------------------------------------
# health


@test
def health_reports_healthy():
    req("GET", "/health", status=200, want={"status": "healthy", "kvStoreCheck": "ok"})


@test
def service_still_healthy_after_the_bad_input():
    req("GET", "/health", status=200, want={"status": "healthy", "kvStoreCheck": "ok"})


# ---------------------------------------------------------------------------
# persistence (own stack instances)


@test
def data_survives_a_clean_restart():
    data_dir = tempfile.mkdtemp(prefix="kvitd.", dir="/tmp")
    st1 = st2 = None
    try:
        st1 = harness.Stack(data_dir=data_dir)
        st1.start()
        c = lambda *a, **kw: call(*a, stack=st1, **kw)  # noqa: E731
        before = now_ms()
        expect(c("POST", "/set", {"key": "p/a", "value": {"x": [1, 2.50, "é"]}}), 200)
        r = expect(c("POST", "/set", {"key": "p/ttl", "value": "t", "ttl": 3600}), 200)
        expires = r.json["expires"]
        check(Approx(before + 3599000, now_ms() + 3601000).matches(expires), "%r" % (r,))
        expect(c("POST", "/batch", {"operations": [
            {"op": "set", "key": "p/b%d" % i, "value": i} for i in range(20)]}), 200)
        expect(c("POST", "/set", {"key": "p/gone", "value": 1}), 200)
        expect(c("DELETE", "/delete?key=p%2Fgone"), 200)
        expect(c("POST", "/test-and-set", {"key": "p/tas", "oldValue": None, "newValue": 7}), 200)
        rc = st1.stop()
        st1 = None
        check(rc == 0, "stack exit status after SIGTERM: %r" % rc)

        st2 = harness.Stack(data_dir=data_dir)
        st2.start()
        c = lambda *a, **kw: call(*a, stack=st2, **kw)  # noqa: E731
        expect(c("GET", "/get?key=p%2Fa"), 200,
               {"success": True, "key": "p/a", "value": {"x": [1, 2.5, "é"]}, "expires": None})
        expect(c("GET", "/get?key=p%2Fttl"), 200,
               {"success": True, "key": "p/ttl", "value": "t", "expires": expires})
        expect(c("GET", "/get?key=p%2Ftas"), 200,
               {"success": True, "key": "p/tas", "value": 7, "expires": None})
        expect_error(c("GET", "/get?key=p%2Fgone"), 404, "Key not found")
        r = expect(c("GET", "/list?prefix=p%2Fb&limit=1000"), 200)
        check(sorted(keys_of(r.json["items"])) == sorted("p/b%d" % i for i in range(20)),
              "%r" % (r,))
        expect(c("GET", "/health"), 200, {"status": "healthy", "kvStoreCheck": "ok"})
    finally:
        for s in (st1, st2):
            if s is not None:
                s.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


# ---------------------------------------------------------------------------
# settings (own stack instance with non-default limits)

CUSTOM = {"KV_CORS_ORIGIN": "https://app.example.test", "KV_MAX_BATCH_OPS": "4",
          "KV_MAX_VALUE": "100", "KV_MAX_DEPTH": "8", "KV_LIST_MAX": "10",
          "KV_MAX_BODY": "4096", "KV_THREADS": "2", "KV_DURABILITY": "write"}


def with_custom_stack(fn):
    def run():
        st = harness.Stack(env=CUSTOM)
        st.start()
        try:
            fn(st, lambda *a, **kw: call(*a, stack=st, **kw))
        finally:
            st.stop()
    run.__name__ = fn.__name__
    return test(run)


@with_custom_stack
def settings_change_the_limits(st, c):
    origin = CUSTOM["KV_CORS_ORIGIN"]
    r = expect(c("POST", "/set", {"key": "k", "value": "v" * 98}), 200)
    check(r.headers.get("access-control-allow-origin") == origin, "ACAO: %r" % (r.headers,))
    expect_error(c("POST", "/set", {"key": "k2", "value": "v" * 99}), 413)
    expect_error(c("POST", "/batch", {"operations": [{"op": "get", "key": "k"}] * 5}), 400,
                 "Too many operations. Maximum of 4 operations per request.")
    expect(c("POST", "/batch", {"operations": [{"op": "get", "key": "k"}] * 4}), 200)
    expect(c("POST", "/set", nested_body("d", 8)), 200)
    expect_error(c("POST", "/set", nested_body("d", 9)), 400)
    expect(c("GET", "/list?limit=10"), 200)
    expect_error(c("GET", "/list?limit=11"), 400)
    expect(c("POST", "/set", {"key": "b", "value": 1, "pad": "x" * 3000}), 200)
    expect(c("POST", "/set", {"key": "b", "value": 1, "pad": "x" * 5000}), 413,
           {"success": False, "error": "Request body too large"})
    r = c("OPTIONS", "/set")
    check(r.status == 204 and r.headers.get("access-control-allow-origin") == origin,
          "OPTIONS: %r %r" % (r, r.headers))
    for path in ("/nope", "/get?key=missing"):
        r = c("GET", path)
        check(r.headers.get("access-control-allow-origin") == origin,
              "ACAO on %r: %r" % (r, r.headers))


@with_custom_stack
def configured_cors_origin_is_on_nginx_error_pages_too(st, c):
    origin = CUSTOM["KV_CORS_ORIGIN"]
    r = expect(c("POST", "/set", {"key": "b", "value": 1, "pad": "x" * 5000}), 413)
    check(r.headers.get("access-control-allow-origin") == origin,
          "want Access-Control-Allow-Origin %r on nginx's 413, got %r"
          % (origin, r.headers.get("access-control-allow-origin")))


@test
def list_page_ends_at_the_byte_budget_with_a_cursor():
    # KV_LIST_BYTES=1024: three values of 300 bytes fit in a page, a
    # fourth does not; a value larger than the budget still comes alone.
    st = harness.Stack(env={"KV_LIST_BYTES": "1024"})
    st.start()
    try:
        c = lambda *a, **kw: call(*a, stack=st, **kw)  # noqa: E731
        for i in range(10):
            expect(c("POST", "/set", {"key": "lb/%02d" % i, "value": "v" * 298}), 200)
        expect(c("POST", "/set", {"key": "lb/05x", "value": "B" * 1998}), 200)
        seen, sizes, cursor = [], [], None
        for _ in range(20):
            path = "/list?prefix=lb%2F&limit=100"
            if cursor is not None:
                path += "&cursor=" + q(cursor)
            r = expect(c("GET", path), 200)
            check_list_shape(r)
            seen.extend(it["key"] for it in r.json["items"])
            sizes.append([len(it["value"]) for it in r.json["items"]])
            cursor = r.json["cursor"]
            if cursor is None:
                break
        want = sorted(["lb/%02d" % i for i in range(10)] + ["lb/05x"])
        check(seen == want, "paging saw %r, want %r" % (seen, want))
        check([2000] in [[n + 2 for n in p] for p in sizes],
              "the 2000-byte value must come alone: %r" % (sizes,))
        check(all(sum(n + 2 for n in p) <= 1024 or len(p) == 1 for p in sizes),
              "a page passed the byte budget: %r" % (sizes,))
        check(len(sizes) >= 4, "pages: %r" % (sizes,))
    finally:
        st.stop()


def nested_body(k, depth_total):
    inner = depth_total - 1
    return ('{"key":"%s","value":%s%s}' % (k, "[" * inner, "]" * inner)).encode()


# ---------------------------------------------------------------------------
# main



def main(argv):
    global S
    S = harness.Stack()
    return harness.run_suite(TESTS, argv, S,
                             on_test=lambda name: CURRENT.__setitem__("name", name))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
