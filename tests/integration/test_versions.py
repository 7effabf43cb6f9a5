#!/usr/bin/env python3
"""HTTP integration tests of the API.md sections "Versions and conditional
writes", "Increment", "Expiry control", "List options" and "Delete by
prefix", over the real stack (nginx -> spawn-fcgi -> kvstore-fcgi), plus
their concurrency rules: N clients x M increments of one key add exactly
N x M, and of N conditional writes with the same ifVersion exactly one wins.

Run:  KV_TOP_SRCDIR=. KV_BINARY=./kvstore-fcgi python3 tests/integration/test_versions.py [name-substring...]
"""

import os
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_api as A  # noqa: E402
from test_api import (call, check, expect, expect_error, fail, key,  # noqa: E402
                      now_ms, q, ANY_VERSION)

TESTS = []
TEN_YEARS_MS = 315360000 * 1000


def test(fn):
    TESTS.append((fn.__name__, fn))
    return fn


def setv(k, v, **extra):
    """Sets k = v; returns the reply's version."""
    body = {"key": k, "value": v}
    body.update(extra)
    r = expect(call("POST", "/set", body), 200)
    check(ANY_VERSION.matches(r.json["version"]), "no version: %r" % (r,))
    return r.json["version"]


def version_of(k):
    r = expect(call("GET", "/get?key=" + q(k)), 200)
    return r.json["version"]


def raw_text(r):
    return r.raw.decode("utf-8")


# ---------------------------------------------------------------------------
# versions, ETag and 304


@test
def set_and_get_show_the_version_next_to_expires():
    k = key()
    v = setv(k, "a")
    r = expect(call("GET", "/get?key=" + q(k)), 200,
               {"success": True, "key": k, "value": "a", "expires": None,
                "version": v})
    check('"expires":null,"version":%d}' % v in raw_text(r),
          "version must follow expires: %r" % (r,))


@test
def every_write_gives_a_greater_version_even_after_delete():
    k = key()
    v1 = setv(k, 1)
    v2 = setv(k, 2)
    check(v2 > v1, "%d then %d" % (v1, v2))
    expect(call("DELETE", "/delete?key=" + q(k)), 200,
           {"success": True, "key": k, "deleted": True})
    v3 = setv(k, 1)
    check(v3 > v2, "after delete: %d then %d" % (v2, v3))


@test
def set_null_shows_version_null():
    k = key()
    setv(k, 1)
    expect(call("POST", "/set", {"key": k, "value": None}), 200,
           {"success": True, "key": k, "value": None, "expires": None,
            "version": None})


@test
def get_sends_the_version_as_etag_on_all_three_forms():
    k = key()
    v = setv(k, {"x": 1})
    for path in ("/get?key=" + q(k), "/get/" + q(k), "/?key=" + q(k)):
        r = expect(call("GET", path), 200)
        check(r.headers.get("etag") == '"%d"' % v, "ETag on %s: %r" % (path, r.headers))
        check("ETag" in r.headers.get("access-control-expose-headers", ""),
              "Expose-Headers: %r" % (r.headers,))


@test
def if_none_match_with_the_current_version_is_304_with_no_body():
    k = key()
    v = setv(k, "a")
    for tag in ('"%d"' % v, 'W/"%d"' % v, '"1", "%d"' % v, "*"):
        st, h, js, raw = A.S.request("GET", "/get?key=" + q(k),
                                     headers={"If-None-Match": tag})
        check(st == 304 and raw == b"", "If-None-Match %s: %d %r" % (tag, st, raw))
        check(h.get("etag") == '"%d"' % v, "ETag on 304: %r" % (h,))
    r = call("GET", "/get/" + q(k), headers={"If-None-Match": '"%d"' % (v + 1)})
    expect(r, 200)
    setv(k, "b")
    r = call("GET", "/get?key=" + q(k), headers={"If-None-Match": '"%d"' % v})
    expect(r, 200, {"success": True, "key": k, "value": "b", "expires": None,
                    "version": ANY_VERSION})


@test
def if_none_match_on_absent_key_is_still_404():
    r = call("GET", "/get?key=" + q(key()), headers={"If-None-Match": "*"})
    expect_error(r, 404, "Key not found")


# ---------------------------------------------------------------------------
# conditional writes


@test
def if_match_with_the_current_version_writes():
    k = key()
    v = setv(k, 1)
    r = expect(call("POST", "/set", {"key": k, "value": 2},
                    headers={"If-Match": '"%d"' % v}), 200)
    check(r.json["version"] > v, "%r" % (r,))


@test
def stale_if_match_is_412_with_current_and_writes_nothing():
    k = key()
    v1 = setv(k, 1)
    v2 = setv(k, 2)
    r = call("POST", "/set", {"key": k, "value": 3}, headers={"If-Match": '"%d"' % v1})
    expect(r, 412, {"success": False, "error": "Precondition failed", "key": k,
                    "current": {"value": 2, "expires": None, "version": v2}})
    A.assert_value(k, 2)


@test
def if_version_field_works_like_if_match():
    k = key()
    v = setv(k, 1)
    expect(call("POST", "/set", {"key": k, "value": 3, "ifVersion": v + 1000}), 412)
    expect(call("POST", "/set", {"key": k, "value": 3, "ifVersion": v}), 200)
    A.assert_value(k, 3)


@test
def if_none_match_star_and_if_version_0_create_only():
    k = key()
    expect(call("POST", "/set", {"key": k, "value": 1},
                headers={"If-None-Match": "*"}), 200)
    r = call("POST", "/set", {"key": k, "value": 2}, headers={"If-None-Match": "*"})
    expect(r, 412, {"success": False, "error": "Precondition failed", "key": k,
                    "current": {"value": 1, "expires": None, "version": ANY_VERSION}})
    r = call("POST", "/set", {"key": k, "value": 2, "ifVersion": 0})
    expect(r, 412)
    k2 = key("new")
    expect(call("POST", "/set", {"key": k2, "value": 1, "ifVersion": 0}), 200)


@test
def if_match_on_absent_key_is_412_with_current_null():
    k = key()
    r = call("POST", "/set", {"key": k, "value": 1}, headers={"If-Match": '"5"'})
    expect(r, 412, {"success": False, "error": "Precondition failed", "key": k,
                    "current": None})
    A.assert_absent(k)


@test
def conditional_delete_and_test_and_set():
    k = key()
    v = setv(k, 1)
    r = call("DELETE", "/delete?key=" + q(k), headers={"If-Match": '"%d"' % (v + 7)})
    expect(r, 412)
    A.assert_value(k, 1)
    r = call("POST", "/test-and-set", {"key": k, "oldValue": 1, "newValue": 2,
                                       "ifVersion": v + 7})
    expect(r, 412)
    r = call("POST", "/test-and-set", {"key": k, "oldValue": 1, "newValue": 2},
             headers={"If-Match": '"%d"' % v})
    expect(r, 200, {"success": True, "conditionMet": True, "key": k, "value": 2,
                    "expires": None, "version": ANY_VERSION})
    v2 = r.json["version"]
    expect(call("DELETE", "/delete/" + q(k), headers={"If-Match": '"%d"' % v2}), 200)
    A.assert_absent(k)


@test
def test_and_set_not_met_shows_version_in_current():
    k = key()
    v = setv(k, 1)
    r = call("POST", "/test-and-set", {"key": k, "oldValue": 5, "newValue": 2})
    expect(r, 200, {"success": False, "conditionMet": False, "key": k,
                    "message": "Condition not met, value was not updated",
                    "current": {"value": 1, "expires": None, "version": v}})


@test
def header_and_field_together_or_malformed_are_400():
    k = key()
    v = setv(k, 1)
    bad = [
        ({"key": k, "value": 2, "ifVersion": v}, {"If-Match": '"%d"' % v}),
        ({"key": k, "value": 2}, {"If-Match": "%d" % v}),
        ({"key": k, "value": 2}, {"If-Match": '"abc"'}),
        ({"key": k, "value": 2}, {"If-Match": '"0"'}),
        ({"key": k, "value": 2}, {"If-None-Match": '"%d"' % v}),
        ({"key": k, "value": 2}, {"If-Match": '"%d"' % v, "If-None-Match": "*"}),
        ({"key": k, "value": 2, "ifVersion": -1}, None),
        ({"key": k, "value": 2, "ifVersion": 1.5}, None),
        ({"key": k, "value": 2, "ifVersion": "1"}, None),
        ({"key": k, "value": 2, "ifVersion": 9007199254740992}, None),
    ]
    for body, headers in bad:
        expect_error(call("POST", "/set", body, headers=headers), 400)
    expect_error(call("DELETE", "/delete?key=" + q(k), headers={"If-Match": "x"}), 400)
    A.assert_value(k, 1)
    check(version_of(k) == v, "a refused write changed the version")


@test
def batch_if_version_unmet_is_like_an_unmet_test_and_set():
    k, k2 = key("a"), key("b")
    v = setv(k, 1)
    r = call("POST", "/batch", {"operations": [
        {"op": "set", "key": k, "value": 2, "ifVersion": v + 50},
        {"op": "set", "key": k2, "value": 1},
    ]})
    expect(r, 200, {"success": True, "results": [
        {"key": k, "conditionMet": False,
         "current": {"value": 1, "expires": None, "version": v}},
        {"key": k2, "value": 1, "expires": None, "version": ANY_VERSION},
    ]})
    r = call("POST", "/batch", {"atomic": True, "operations": [
        {"op": "set", "key": k2, "value": 9},
        {"op": "delete", "key": k, "ifVersion": v + 50},
    ]})
    expect(r, 200, {"success": False, "conditionMet": False, "failedOperation": 1,
                    "message": "Condition not met at operations[1], batch rolled back"})
    A.assert_value(k2, 1)
    A.assert_value(k, 1)


# ---------------------------------------------------------------------------
# increment


@test
def incr_creates_from_initial_and_adds_exactly():
    k = key()
    expect(call("POST", "/incr", {"key": k}), 200,
           {"success": True, "key": k, "value": 1, "expires": None,
            "version": ANY_VERSION})
    expect(call("POST", "/incr", {"key": k, "by": -5}), 200,
           {"success": True, "key": k, "value": -4, "expires": None,
            "version": ANY_VERSION})
    k2 = key("init")
    r = expect(call("POST", "/incr", {"key": k2, "by": 2, "initial": 40}), 200)
    check(r.json["value"] == 42, "%r" % (r,))
    A.assert_value(k2, 42)


@test
def incr_keeps_big_integers_exact_and_refuses_overflow():
    k = key()
    setv(k, 9007199254740992)
    r = expect(call("POST", "/incr", {"key": k}), 200)
    check(b'"value":9007199254740993,' in r.raw, "%r" % (r,))
    setv(k, 9223372036854775807)
    r = call("POST", "/incr", {"key": k})
    expect(r, 409, {"success": False, "error": "Increment would overflow", "key": k,
                    "current": {"value": 9223372036854775807, "expires": None,
                                "version": ANY_VERSION}})


@test
def incr_with_fractions_writes_the_shortest_double():
    k = key()
    setv(k, 0.1)
    r = expect(call("POST", "/incr", {"key": k, "by": 0.2}), 200)
    check(b'"value":0.30000000000000004,' in r.raw, "%r" % (r,))
    k2 = key("inf")
    setv(k2, 1e308)
    expect(call("POST", "/incr", {"key": k2, "by": 1e308}), 409)


@test
def incr_of_a_non_number_is_409_with_current():
    k = key()
    v = setv(k, "ten")
    expect(call("POST", "/incr", {"key": k}), 409,
           {"success": False, "error": "Value is not a number", "key": k,
            "current": {"value": "ten", "expires": None, "version": v}})
    A.assert_value(k, "ten")


@test
def incr_bad_fields_are_400():
    k = key()
    for body in ({"key": k, "by": "1"}, {"key": k, "by": True},
                 {"key": k, "initial": "0"}, {"key": k, "ttl": -1},
                 {"by": 1}):
        expect_error(call("POST", "/incr", body), 400)
    A.assert_absent(k)


@test
def incr_ttl_applies_only_when_the_key_is_created():
    k = key()
    t0 = now_ms()
    r = expect(call("POST", "/incr", {"key": k, "ttl": 60}), 200)
    first = r.json["expires"]
    check(t0 + 59000 <= first <= now_ms() + 61000, "%r" % (r,))
    r = expect(call("POST", "/incr", {"key": k, "ttl": 3600}), 200)
    check(r.json["expires"] == first and r.json["value"] == 2, "%r" % (r,))
    k2 = key("at")
    at = now_ms() + 120000
    r = expect(call("POST", "/incr", {"key": k2, "expiresAt": at}), 200)
    check(r.json["expires"] == at, "%r" % (r,))


@test
def rate_limit_window_with_incr_is_race_free():
    """The seed README's rate-limit example done with one call per hit."""
    k = key()
    counts = [call("POST", "/incr", {"key": k, "ttl": 60}).json["value"]
              for _ in range(5)]
    check(counts == [1, 2, 3, 4, 5], "%r" % (counts,))


@test
def batch_incr_and_touch():
    k = key()
    setv(k, 10)
    at = now_ms() + 600000
    r = call("POST", "/batch", {"operations": [
        {"op": "INCR", "key": k, "by": 5},
        {"op": "touch", "key": k, "expiresAt": at},
        {"op": "touch", "key": key("absent")},
        {"op": "get", "key": k},
    ]})
    expect(r, 200, {"success": True, "results": [
        {"key": k, "value": 15, "expires": None, "version": ANY_VERSION},
        {"key": k, "expires": at, "version": ANY_VERSION},
        {"key": key("absent"), "expires": None, "version": None},
        {"key": k, "value": 15, "expires": at, "version": ANY_VERSION},
    ]})


@test
def batch_incr_that_fails_applies_nothing():
    k, s = key("n"), key("s")
    setv(s, "text")
    r = call("POST", "/batch", {"operations": [
        {"op": "set", "key": k, "value": 1},
        {"op": "incr", "key": s},
    ]})
    expect_error(r, 409, "operations[1]: Value is not a number")
    A.assert_absent(k)


# ---------------------------------------------------------------------------
# expiry control


@test
def expires_at_sets_an_absolute_expiry():
    k = key()
    at = now_ms() + 300000
    r = expect(call("POST", "/set", {"key": k, "value": 1, "expiresAt": at}), 200)
    check(r.json["expires"] == at, "%r" % (r,))


@test
def expires_at_in_the_past_too_far_or_with_ttl_is_400():
    k = key()
    for body in ({"key": k, "value": 1, "expiresAt": now_ms() - 1000},
                 {"key": k, "value": 1, "expiresAt": now_ms() + TEN_YEARS_MS + 60000},
                 {"key": k, "value": 1, "expiresAt": now_ms() + 60000, "ttl": 60},
                 {"key": k, "value": 1, "expiresAt": "soon"},
                 {"key": k, "value": 1, "keepTtl": True, "ttl": 5},
                 {"key": k, "value": 1, "keepTtl": "yes"}):
        expect_error(call("POST", "/set", body), 400)
    A.assert_absent(k)


@test
def keep_ttl_keeps_the_current_expiry():
    k = key()
    r = expect(call("POST", "/set", {"key": k, "value": 1, "ttl": 600}), 200)
    exp = r.json["expires"]
    r = expect(call("POST", "/set", {"key": k, "value": 2, "keepTtl": True}), 200)
    check(r.json["expires"] == exp, "%r" % (r,))
    r = expect(call("POST", "/test-and-set", {"key": k, "oldValue": 2,
                                               "newValue": 3, "keepTtl": True}), 200)
    check(r.json["expires"] == exp, "%r" % (r,))
    k2 = key("new")
    r = expect(call("POST", "/set", {"key": k2, "value": 1, "keepTtl": True}), 200)
    check(r.json["expires"] is None, "%r" % (r,))


@test
def touch_changes_only_expiry_and_version():
    k = key()
    v = setv(k, {"big": "value"})
    r = expect(call("POST", "/touch", {"key": k, "ttl": 600}), 200)
    check(set(r.json) == {"success", "key", "expires", "version"}, "%r" % (r,))
    check(r.json["version"] > v and r.json["expires"] > now_ms(), "%r" % (r,))
    A.assert_value(k, {"big": "value"})
    r = expect(call("POST", "/touch", {"key": k}), 200,
               {"success": True, "key": k, "expires": None, "version": ANY_VERSION})
    expect_error(call("POST", "/touch", {"key": key("absent")}), 404, "Key not found")
    expect_error(call("POST", "/touch", {"key": k, "ttl": 1.5}), 400)


# ---------------------------------------------------------------------------
# list options


@test
def keys_only_lists_without_values():
    p = key() + "/"
    A.batch_set([(p + "a", "x" * 100), (p + "b", 2)])
    st, h, js, raw = A.S.request("GET", "/list?keysOnly=true&prefix=" + q(p))
    check(st == 200 and js["count"] == 2, "%r" % (raw,))
    for it in js["items"]:
        check(set(it) == {"key", "expires", "version"} and
              ANY_VERSION.matches(it["version"]), "%r" % (it,))
    st, h, js, raw = A.S.request("GET", "/?keysOnly=1&prefix=" + q(p))
    check(st == 200 and "value" not in js["items"][0], "%r" % (raw,))
    r = expect(call("GET", "/list?keysOnly=0&prefix=" + q(p)), 200)
    A.check_list_shape(r)
    expect_error(call("GET", "/list?keysOnly=yes"), 400)


# ---------------------------------------------------------------------------
# delete by prefix


@test
def delete_prefix_deletes_lowest_first_and_says_more():
    p = key() + "/"
    A.batch_set([(p + "%02d" % i, i) for i in range(5)] + [(key() + "x", 1)])
    r = call("POST", "/delete-prefix", {"prefix": p, "limit": 3})
    expect(r, 200, {"success": True, "prefix": p, "deleted": 3, "more": True})
    A.assert_absent(p + "02")
    A.assert_value(p + "03", 3)
    expect(call("POST", "/delete-prefix", {"prefix": p}), 200,
           {"success": True, "prefix": p, "deleted": 2, "more": False})
    A.assert_value(key() + "x", 1)


@test
def delete_prefix_bad_input_is_400():
    for body in ({}, {"prefix": ""}, {"prefix": None}, {"prefix": 5},
                 {"prefix": "a", "limit": 0}, {"prefix": "a", "limit": 10001},
                 {"prefix": "a", "limit": "5"}):
        expect_error(call("POST", "/delete-prefix", body), 400)


@test
def new_routes_answer_405_with_their_allow():
    for path in ("/incr", "/touch", "/delete-prefix"):
        r = call("GET", path)
        expect_error(r, 405, "Method not allowed")
        check(r.headers.get("allow") == "POST, OPTIONS", "%r" % (r.headers,))


# ---------------------------------------------------------------------------
# concurrency


def run_threads(n, fn):
    errors = []

    def wrap(i):
        try:
            fn(i)
        except Exception as e:   # noqa: BLE001
            errors.append(e)
    ts = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    if errors:
        fail("thread failed: %r" % (errors[0],))


@test
def n_clients_times_m_increments_add_exactly():
    k, n, m = key(), 8, 25
    seen = [[] for _ in range(n)]

    def client(i):
        for _ in range(m):
            r = call("POST", "/incr", {"key": k})
            check(r.status == 200, "%r" % (r,))
            seen[i].append((r.json["value"], r.json["version"]))
    run_threads(n, client)
    A.assert_value(k, n * m)
    values = sorted(v for s in seen for v, _ in s)
    check(values == list(range(1, n * m + 1)), "every count seen once")
    # Versions follow the values: a later increment has a greater version.
    pairs = sorted(p for s in seen for p in s)
    check(all(a[1] < b[1] for a, b in zip(pairs, pairs[1:])),
          "versions must grow with the count")


@test
def of_n_conditional_writes_with_one_version_exactly_one_wins():
    k, n = key(), 12
    v = setv(k, 0)
    statuses = [None] * n

    def client(i):
        r = call("POST", "/set", {"key": k, "value": i + 1, "ifVersion": v})
        statuses[i] = r.status
    run_threads(n, client)
    check(statuses.count(200) == 1 and statuses.count(412) == n - 1,
          "statuses: %r" % (statuses,))


def main(argv):
    A.S = harness.Stack()
    return harness.run_suite(TESTS, argv, A.S,
                             on_test=lambda name: A.CURRENT.__setitem__("name", name))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
