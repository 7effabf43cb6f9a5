#!/usr/bin/env python3
"""Hostile HTTP clients against the real stack (nginx with the shipped site
file -> spawn-fcgi -> kvstore-fcgi -> Berkeley DB): lying Content-Length,
aborted uploads, slow clients, huge URIs and headers, and a flood of
thousands of malformed requests.

After each test the service must still answer at once (no worker wedged),
must not have died (scripts/stack logs every death), and must hold only
what requests it acknowledged with 200 wrote. The flood also checks that
the service's resident memory does not grow with the number of requests.

Run:  KV_TOP_SRCDIR=. KV_BINARY=build/kvstore-fcgi python3 tests/integration/hostile.py [name-substring...]

Prints one PASS/FAIL line per test and ends with "N passed, N failed".
Every loop is bounded in time; only 127.0.0.1 is contacted. Python 3
standard library only.
"""

import http.client
import json
import os
import random
import socket
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

S = None            # the shared stack, started in main()
TESTS = []

FLOOD_REQUESTS = 20000
FLOOD_WARMUP = 1000
FLOOD_TIME_LIMIT = 90.0     # seconds; the flood stops there, finished or not
RSS_GROWTH_LIMIT_KB = 20 * 1024


Failure = harness.Failure
check = harness.check


def test(fn):
    TESTS.append((fn.__name__, fn))
    return fn


# ---------------------------------------------------------------------------
# helpers


def raw_exchange(chunks, pause=0.0, finish="shutdown", read_timeout=5.0):
    """Sends the byte strings `chunks` on one new connection (sleeping
    `pause` between them), then: "shutdown" half-closes and reads until EOF
    or `read_timeout`; "read" just reads; "close" closes at once; "reset"
    closes with an RST. Returns what the server sent (b"" when nothing)."""
    s = socket.create_connection((harness.HOST, S.port), timeout=read_timeout)
    out = b""
    try:
        for i, c in enumerate(chunks):
            if i and pause:
                time.sleep(pause)
            try:
                s.sendall(c)
            except (BrokenPipeError, ConnectionResetError):
                break
        if finish == "reset":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         b"\x01\x00\x00\x00\x00\x00\x00\x00")
            return b""
        if finish == "close":
            return b""
        if finish == "shutdown":
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        deadline = time.monotonic() + read_timeout
        while time.monotonic() < deadline:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not b:
                break
            out += b
    finally:
        s.close()
    return out


def statuses(raw):
    """The status codes of every HTTP response found in raw bytes."""
    out = []
    for line in raw.split(b"\r\n"):
        if line.startswith(b"HTTP/1.") and len(line) >= 12:
            try:
                out.append(int(line[9:12]))
            except ValueError:
                pass
    return out


def post_head(path, length, extra=b""):
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\n" + extra +
            b"Content-Length: " + str(length).encode() + b"\r\n\r\n")


def get(path, **kw):
    return S.request("GET", path, **kw)


def stored(key):
    st, _, body, _ = get("/get?key=" + urllib.parse.quote(key, safe=""))
    check(st in (200, 404), "GET %r -> %d" % (key, st))
    return st == 200


def all_keys():
    """Every live key, through list paging."""
    keys, cursor = [], None
    for _ in range(10000):
        q = "/list?limit=1000" + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
        st, _, body, raw = get(q)
        check(st == 200, "list -> %d %r" % (st, raw[:200]))
        keys.extend(it["key"] for it in body["items"])
        cursor = body["cursor"]
        if cursor is None:
            return keys
    raise Failure("list paging did not end")


def delete_all():
    for k in all_keys():
        st, _, _, _ = S.request("DELETE", "/delete?key=" + urllib.parse.quote(k, safe=""))
        check(st == 200, "delete %r -> %d" % (k, st))


def still_serving():
    """The service answers a normal request (bounded wait), and a write
    and a read of it go through."""
    st, _, body, raw = get("/health", timeout=10)
    check(st == 200, "GET /health -> %d %r" % (st, raw[:200]))
    st, _, _, raw = S.request("POST", "/set", {"key": "hostile-alive", "value": 1}, timeout=10)
    check(st == 200, "set after hostile input -> %d %r" % (st, raw[:200]))
    st, _, _, _ = S.request("DELETE", "/delete?key=hostile-alive", timeout=10)
    check(st == 200, "delete after hostile input -> %d" % st)


def is_json_error(raw):
    try:
        body = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(body, dict) and body.get("success") is False and \
        isinstance(body.get("error"), str)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise Failure("no VmRSS for pid %d" % pid)


def under_asan(pid):
    try:
        with open("/proc/%d/maps" % pid) as f:
            return "libasan" in f.read()
    except OSError:
        return False


# ---------------------------------------------------------------------------
# lying Content-Length and aborted uploads


@test
def content_length_longer_than_body__nothing_stored():
    body = b'{"key":"hostile-lie-long","value":1}'
    for finish in ("shutdown", "close", "reset"):
        raw = raw_exchange([post_head("/set", len(body) + 100), body], finish=finish)
        check(200 not in statuses(raw), "%s: a truncated body was answered 200: %r"
              % (finish, raw[:300]))
    check(not stored("hostile-lie-long"), "a truncated body was stored")
    # Control: the same request with its true length is stored.
    raw = raw_exchange([post_head("/set", len(body), b"Connection: close\r\n"), body],
                       finish="read")
    check(statuses(raw) == [200] and stored("hostile-lie-long"),
          "the control request failed: %r" % raw[:300])
    delete_all()
    still_serving()


@test
def content_length_shorter_than_body__prefix_refused_rest_not_a_request():
    body = b'{"key":"hostile-lie-short","value":1}'
    # No half-close: nginx takes an early EOF for a client that gave up.
    # The leftover bytes start with a lowercase letter, not a method, so
    # nginx refuses them at once and closes.
    raw = raw_exchange([post_head("/set", 10) + body], finish="read")
    st = statuses(raw)
    check(st and st[0] == 400, "first reply should be 400, got %r: %r" % (st, raw[:300]))
    check(200 not in st, "some reply was 200: %r" % raw[:500])
    check(not stored("hostile-lie-short"), "the body beyond Content-Length was stored")
    still_serving()


@test
def contradictory_or_invalid_length_headers__400_and_nothing_stored():
    body = b'{"key":"hostile-cl","value":1}'
    heads = [
        # both framings at once (request smuggling shape)
        post_head("/set", len(body), b"Transfer-Encoding: chunked\r\n"),
        # two lengths
        post_head("/set", len(body), b"Content-Length: 3\r\n"),
    ]
    for h in heads:
        raw = raw_exchange([h + body], finish="read")
        st = statuses(raw)
        check(200 not in st, "accepted %r: %r" % (h, raw[:300]))
    for cl in (b"-1", b"abc", b"1e3", b"99999999999999999999999"):
        h = (b"POST /set HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + cl +
             b"\r\n\r\n")
        raw = raw_exchange([h + body], finish="read")
        st = statuses(raw)
        check(st and st[0] in (400, 413), "Content-Length %r -> %r" % (cl, raw[:300]))
        check(is_json_error(raw.split(b"\r\n\r\n", 1)[-1]),
              "Content-Length %r: reply is not a JSON error: %r" % (cl, raw[:300]))
    check(not stored("hostile-cl"), "a request with bad framing was stored")
    still_serving()


@test
def aborted_uploads__nothing_stored():
    prefix = b'{"key":"hostile-aborted","value":"'
    declared = 1000000
    for i in range(20):
        sent = prefix + b"x" * (200000 + 37 * i)
        finish = ("reset", "close", "shutdown")[i % 3]
        raw = raw_exchange([post_head("/set", declared), sent], finish=finish, read_timeout=3)
        check(200 not in statuses(raw), "an aborted upload was answered 200")
    # Chunked uploads cut off mid-chunk and before the last chunk.
    chunked = (b"POST /set HTTP/1.1\r\nHost: localhost\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n")
    body = b'{"key":"hostile-aborted","value":1}'
    for cut in (chunked + b"%x\r\n" % len(body) + body[:10],
                chunked + b"%x\r\n" % len(body) + body + b"\r\n"):
        raw = raw_exchange([cut], finish="shutdown", read_timeout=3)
        check(200 not in statuses(raw), "a cut chunked upload was answered 200")
    check(not stored("hostile-aborted"), "an aborted upload was stored")
    # Control: the whole chunked upload is stored.
    raw = raw_exchange([chunked.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n") +
                        b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"], finish="read")
    check(statuses(raw) == [200] and stored("hostile-aborted"),
          "the control request failed: %r" % raw[:300])
    delete_all()
    still_serving()


# ---------------------------------------------------------------------------
# slow clients


@test
def slow_clients__byte_by_byte__served_and_others_not_blocked():
    n = 8   # more slow clients than the service has worker threads
    results = [None] * n

    def slow(i):
        body = json.dumps({"key": "hostile-slow-%d" % i, "value": [i, "slow"]},
                          separators=(",", ":")).encode()
        req = post_head("/set", len(body), b"Connection: close\r\n") + body
        try:
            raw = raw_exchange([req[j:j + 1] for j in range(len(req))],
                               pause=0.005, finish="read", read_timeout=20)
            results[i] = statuses(raw)
        except Exception as e:   # noqa: BLE001
            results[i] = repr(e)

    threads = [threading.Thread(target=slow, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    # While every slow client is mid-request, normal requests still answer.
    served = 0
    while any(t.is_alive() for t in threads) and served < 200:
        st, _, _, _ = get("/health", timeout=10)
        check(st == 200, "GET /health during slow uploads -> %d" % st)
        served += 1
    for t in threads:
        t.join(60)
    check(served > 0, "no normal request was made during the slow uploads")
    for i in range(n):
        check(results[i] == [200], "slow client %d: %r" % (i, results[i]))
        st, _, body, _ = get("/get?key=hostile-slow-%d" % i)
        check(st == 200 and body["value"] == [i, "slow"],
              "slow client %d's value not stored: %d %r" % (i, st, body))
    delete_all()
    still_serving()


# ---------------------------------------------------------------------------
# huge URIs, query strings and headers


@test
def huge_uri_query_and_headers__json_errors():
    # A key over 512 bytes reaches the service: its own 400.
    st, _, body, raw = get("/get?key=" + "k" * 600)
    check(st == 400 and "longer than 512" in (body or {}).get("error", ""),
          "600-byte key -> %d %r" % (st, raw[:200]))
    st, _, body, raw = get("/get/" + "%41" * 2000)
    check(st == 400 and is_json_error(raw), "2000-byte path key -> %d %r" % (st, raw[:200]))
    # Many parameters in one query string.
    st, _, body, raw = get("/list?limit=1&" + "a=%25&" * 1000)
    check(st == 200, "1000 query parameters -> %d %r" % (st, raw[:200]))
    # Beyond nginx's header buffers: nginx answers, in JSON.
    st, _, body, raw = get("/list?prefix=" + "p" * 100000)
    check(st == 414 and is_json_error(raw), "100 kB URI -> %d %r" % (st, raw[:200]))
    st, _, body, raw = get("/health", headers={"X-Big": "a" * 20000})
    check(st in (400, 431) and is_json_error(raw), "20 kB header -> %d %r" % (st, raw[:200]))
    many = {"X-H%d" % i: "v" * 200 for i in range(300)}
    st, _, body, raw = get("/health", headers=many)
    check(st in (400, 431) and is_json_error(raw), "60 kB of headers -> %d %r" % (st, raw[:200]))
    still_serving()


@test
def garbage_on_the_wire__connection_refused_politely():
    rng = random.Random(7)
    for i in range(60):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600)))
        if i % 3 == 0:
            blob += b"\r\n\r\n"
        raw = raw_exchange([blob], read_timeout=2)
        check(200 not in statuses(raw), "garbage bytes got a 200: %r" % blob[:80])
    for line in (b"GET /health\r\n\r\n", b"get /health HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n",
                 b"GET /he\x00alth HTTP/1.1\r\nHost: x\r\n\r\n"):
        raw_exchange([line], read_timeout=2)
    still_serving()


# ---------------------------------------------------------------------------
# the flood


VALID_BODIES = [
    ("/set", {"key": "hostile-flood", "value": {"a": [1, 2.5, "x"], "b": None}, "ttl": 60}),
    ("/", {"key": "hostile-flood-root", "value": "v"}),
    ("/test-and-set", {"key": "hostile-flood-tas", "oldValue": None, "newValue": 1}),
    ("/batch", {"operations": [
        {"op": "set", "key": "hostile-flood-b1", "value": 1},
        {"op": "get", "key": "hostile-flood-b1"},
        {"op": "test-and-set", "key": "hostile-flood-b2", "oldValue": None, "newValue": [1]},
        {"op": "delete", "key": "hostile-flood-b3"}], "atomic": True}),
]

WRONG_SHAPES = [
    b'{"key":1,"value":2}', b'{"key":"","value":1}', b'{"operations":"x"}',
    b'{"operations":[1,2]}', b'[]', b'"str"', b'null', b'{"key":"k"}',
    b'{"key":"k","value":1,"ttl":-5}', b'{"key":"k","value":1,"ttl":1.5}',
    b'{"key":"\\u0000","value":1}', b'{"key":"k","value":NaN}',
    b'{"key":"k","value":"\\ud800"}', b'{"a\\u0000b":1}', b'{"key":"k","value":1e400}',
    b'{"key":"k","value":1} trailing', b"{'key':'k','value':1}",
    b'{"key":"\xc0\xaf","value":1}', b'[' * 100 + b']' * 100,
    b'{"operations":[' + b'{"op":"get","key":"k"},' * 128 + b'{"op":"get","key":"k"}]}',
    b'{"operations":[{"op":"set","key":"k","value":1},{"op":"nope","key":"k"}]}',
]

BAD_URIS = [
    "/get/%zz", "/get?key=%", "/get?key=%e9", "/get?key=%ed%a0%80", "/delete/%ff%fe",
    "/get?key=a%00b", "/list?prefix=%00", "/list?cursor=!!!", "/list?limit=-1",
    "/list?limit=99999999999999999999", "/list?limit=0", "/list?cursor=%zz",
    "/get/", "/get?key=", "/nope", "/get/%2e%2e/%2e%2e/etc/passwd", "/list?prefix=a&cursor=Yg",
    "/get?key=" + "%C3%A9" * 200,
]

BAD_METHODS = ["PUT", "PATCH", "FOO", "PROPFIND", "CONNECTX"]


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        kind = rng.randrange(3)
        pos = rng.randrange(len(data) + 1)
        if kind == 0 and pos < len(data):
            data[pos] = rng.randrange(256)
        elif kind == 1:
            data[pos:pos] = bytes([rng.choice(b'{}[]",:\\u0 \x00\xff1e-')])
        elif pos < len(data):
            del data[pos]
    return bytes(data)


def flood_request(rng, i):
    """One malformed (or occasionally accidentally valid) request:
    (method, path, body bytes or None)."""
    kind = i % 6
    if kind == 0:
        path = rng.choice(["/set", "/batch", "/test-and-set", "/"])
        return "POST", path, bytes(rng.randrange(256) for _ in range(rng.randrange(0, 400)))
    if kind in (1, 2):
        path, body = rng.choice(VALID_BODIES)
        return "POST", path, mutate(rng, json.dumps(body, separators=(",", ":")).encode())
    if kind == 3:
        return "POST", rng.choice(["/set", "/batch", "/test-and-set"]), rng.choice(WRONG_SHAPES)
    if kind == 4:
        return rng.choice(["GET", "DELETE"]), rng.choice(BAD_URIS), None
    return rng.choice(BAD_METHODS), rng.choice(["/", "/set", "/get?key=a", "/batch"]), b"{}"


def keys_written(path, body):
    """The keys a request the service answered 200 may have written."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise Failure("the service accepted a body Python's JSON parser refuses: %r"
                      % body[:200])
    if path == "/batch":
        return {op["key"] for op in doc["operations"]
                if op["op"].lower() in ("set", "test-and-set", "testandset")}
    return {doc["key"]}


class Flood:
    """Sends requests over a few kept-alive connections, in parallel."""

    def __init__(self, workers=4):
        self.workers = workers
        self.lock = threading.Lock()
        self.allowed = set()
        self.problems = []
        self.count = 0
        self.by_status = {}

    def run(self, start, n, deadline):
        def work(w):
            rng = random.Random(1000 * start + w)
            conn = None
            i = start + w
            while i < start + n and time.monotonic() < deadline:
                method, path, body = flood_request(rng, i)
                hdrs = {"Content-Type": "application/json"} if body is not None else {}
                err = None
                # nginx may close a kept-alive connection between requests:
                # a failure there is retried once on a fresh connection.
                for attempt in range(2):
                    fresh = conn is None
                    try:
                        if conn is None:
                            conn = http.client.HTTPConnection(harness.HOST, S.port,
                                                              timeout=10)
                        conn.request(method, path, body=body, headers=hdrs)
                        resp = conn.getresponse()
                        raw = resp.read()
                        st = resp.status
                        if resp.getheader("Connection", "").lower() == "close":
                            conn.close()
                            conn = None
                        err = None
                        break
                    except (OSError, http.client.HTTPException) as e:
                        if conn is not None:
                            conn.close()
                        conn = None
                        err = e
                        if fresh:
                            break
                if err is not None:
                    with self.lock:
                        self.problems.append("%s %s: %r" % (method, path, err))
                    i += self.workers
                    continue
                with self.lock:
                    self.count += 1
                    self.by_status[st] = self.by_status.get(st, 0) + 1
                    if st >= 500:
                        self.problems.append("%s %s -> %d %r (body %r)"
                                             % (method, path, st, raw[:200], (body or b"")[:200]))
                    elif st >= 400 and not is_json_error(raw):
                        self.problems.append("%s %s -> %d, not a JSON error: %r"
                                             % (method, path, st, raw[:200]))
                    elif st == 200 and method == "POST" and path != "/health":
                        try:
                            self.allowed |= keys_written(path, body)
                        except Failure as e:
                            self.problems.append(str(e))
                i += self.workers
            if conn is not None:
                conn.close()

        threads = [threading.Thread(target=work, args=(w,)) for w in range(self.workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


@test
def malformed_flood__no_crash_no_wedge_no_partial_write_no_leak():
    delete_all()
    crashes = S.crash_count()
    pid = S.service_pid()
    check(pid is not None, "kvstore-fcgi process not found")
    deadline = time.monotonic() + FLOOD_TIME_LIMIT
    f = Flood()
    f.run(0, FLOOD_WARMUP, deadline)
    rss0 = rss_kb(pid)
    f.run(FLOOD_WARMUP, FLOOD_REQUESTS, deadline)
    rss1 = rss_kb(pid)
    print("    flood: %d requests, statuses %s; service RSS %d kB after warm-up, %d kB after"
          % (f.count, dict(sorted(f.by_status.items())), rss0, rss1))
    check(not f.problems, "%d bad replies, first ones:\n      %s"
          % (len(f.problems), "\n      ".join(f.problems[:10])))
    check(f.count >= 3000, "only %d requests within %.0f s" % (f.count, FLOOD_TIME_LIMIT))
    check(S.crash_count() == crashes, "the service died:\n" + S.crash_lines(crashes))
    check(S.service_pid() == pid, "the service was restarted")
    still_serving()
    extra = set(all_keys()) - f.allowed - {"hostile-alive"}
    check(not extra, "keys stored by requests that were refused: %r" % sorted(extra)[:20])
    if under_asan(pid):
        print("    (AddressSanitizer build: RSS not compared, LeakSanitizer checks leaks)")
    else:
        check(rss1 - rss0 < RSS_GROWTH_LIMIT_KB,
              "RSS grew by %d kB over %d requests" % (rss1 - rss0, f.count - FLOOD_WARMUP))
    delete_all()


# ---------------------------------------------------------------------------



def main(argv):
    global S
    S = harness.Stack()
    return harness.run_suite(TESTS, argv, S, settle_always=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
