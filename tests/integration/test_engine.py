#!/usr/bin/env python3
"""Engine hardening tests over the real stack (nginx + spawn-fcgi +
kvstore-fcgi under scripts/stack): a Berkeley DB panic ends the process
and scripts/stack restarts it with the data intact; /metrics answers
only loopback through the shipped nginx site; in-flight reply memory is
bounded with 503s; a huge batch is refused, never a 500.

Run:  KV_TOP_SRCDIR=. KV_BINARY=build/kvstore-fcgi python3 tests/integration/test_engine.py [name-substring...]

Each test starts the stack it needs. Prints one PASS/FAIL line per test
and ends with "N passed, N failed". Python 3 standard library only; only
loopback addresses are contacted and every loop is bounded in time.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TESTS = []
TMP = None
PANIC_EXIT = 70     # STORE_EXIT_PANIC in src/store.h


class Failure(AssertionError):
    pass


def test(fn):
    TESTS.append((fn.__name__, fn))
    return fn


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise Failure("%s within %.0f s" % (what, timeout))
        time.sleep(0.05)


def log_tail(s, n=3000):
    return "\n".join(l for l in s.read_log(200000).splitlines()
                     if "connect() to unix:" not in l)[-n:]


def request_from(source, port, method, path, timeout=10.0):
    """One HTTP request to 127.0.0.1:port from the local address `source`."""
    c = http.client.HTTPConnection(harness.HOST, port, timeout=timeout,
                                   source_address=(source, 0))
    try:
        c.request(method, path, headers={"Connection": "close"})
        r = c.getresponse()
        raw = r.read()
        try:
            js = json.loads(raw) if raw else None
        except ValueError:
            js = None
        return r.status, {k.lower(): v for k, v in r.getheaders()}, js, raw
    finally:
        c.close()


# ---------------------------------------------------------------------------
# Berkeley DB panic


@test
def bdb_panic_exits_and_stack_restarts_with_data():
    data = tempfile.mkdtemp(prefix="data.", dir=TMP)
    trigger = os.path.join(TMP, "panic-now")
    s = harness.Stack(data_dir=data, env={"KV_TEST_PANIC_FILE": trigger})
    s.start()
    try:
        for i in range(50):
            st, _, _, raw = s.request("POST", "/set", {"key": "p/%02d" % i, "value": {"i": i}})
            check(st == 200, "set: %d %r" % (st, raw))
        st, _, _, raw = s.request("POST", "/batch", {"operations": [
            {"op": "set", "key": "p/batch/%d" % j, "value": j} for j in range(5)]})
        check(st == 200, "batch: %d %r" % (st, raw))
        pid = s.service_pid()
        check(pid is not None, "no service process")
        crashes = s.crash_count()
        # A real panic of the running environment (the test hook of
        # store_cfg.test_panic_file): the maintenance thread sees the file
        # within a second and sets Berkeley DB's panic state.
        open(trigger, "w").close()
        wait_for(lambda: s.crash_count() > crashes, 15,
                 "the service did not exit after a panic:\n" + log_tail(s))
        log = s.read_log(None)
        check("kvstore-fcgi exited (status %d), restarting" % PANIC_EXIT in log,
              "want exit status %d:\n%s" % (PANIC_EXIT, log_tail(s)))
        check(log.count("Berkeley DB panic, exiting") == 1,
              "the panic must be logged exactly once:\n" + log_tail(s))
        check(not os.path.exists(trigger), "the hook did not remove its file")
        s.wait_healthy(30)
        check(s.service_pid() not in (None, pid), "not a new process")
        for i in range(50):
            st, _, js, raw = s.request("GET", "/get/p%%2F%02d" % i)
            check(st == 200 and js["value"] == {"i": i}, "p/%02d after restart: %d %r" % (i, st, raw))
        for j in range(5):
            st, _, js, raw = s.request("GET", "/get/p%%2Fbatch%%2F%d" % j)
            check(st == 200 and js["value"] == j, "batch key after restart: %d %r" % (st, raw))
        st, _, _, raw = s.request("POST", "/set", {"key": "p/after", "value": 1})
        check(st == 200, "write after restart: %d %r" % (st, raw))
        # Restarted once, and it stays up (the trigger is gone).
        time.sleep(2.5)
        check(s.crash_count() == crashes + 1, "more restarts:\n" + log_tail(s))
    finally:
        s.stop()
        shutil.rmtree(data, ignore_errors=True)


@test
def panic_hook_is_inert_without_its_variable():
    data = tempfile.mkdtemp(prefix="data.", dir=TMP)
    s = harness.Stack(data_dir=data)
    s.start()
    try:
        # The hook's usual file name, created where a test would: nothing
        # may happen when KV_TEST_PANIC_FILE is not set.
        trigger = os.path.join(TMP, "panic-now")
        open(trigger, "w").close()
        time.sleep(2.5)
        check(s.crash_count() == 0, "the service died:\n" + log_tail(s))
        check(os.path.exists(trigger), "the file was touched")
        os.unlink(trigger)
        st, _, _, _ = s.request("POST", "/set", {"key": "k", "value": 1})
        check(st == 200, "set: %d" % st)
    finally:
        s.stop()
        shutil.rmtree(data, ignore_errors=True)


# ---------------------------------------------------------------------------
# GET /metrics through the shipped nginx site


@test
def metrics_answer_loopback_only():
    s = harness.Stack()
    s.start()
    try:
        st, h, _, raw = request_from("127.0.0.1", s.port, "GET", "/metrics")
        check(st == 200 and b"kvstore_" in raw, "from 127.0.0.1: %d %r" % (st, raw[:200]))
        # 127.0.0.2 is a loopback address too, but not the one allowed:
        # it stands for any other host.
        for path in ("/metrics", "/metrics?x=1", "//metrics", "/./metrics"):
            st, h, js, raw = request_from("127.0.0.2", s.port, "GET", path)
            check(st == 403 and js == {"success": False, "error": "Forbidden"},
                  "%s from 127.0.0.2: %d %r" % (path, st, raw[:200]))
            check(h.get("content-type", "").startswith("application/json"),
                  "403 not JSON: %r" % h)
        # The rest of the API is not restricted by it.
        st, _, _, raw = request_from("127.0.0.2", s.port, "GET", "/health")
        check(st == 200, "health from 127.0.0.2: %d %r" % (st, raw))
    finally:
        s.stop()


# ---------------------------------------------------------------------------
# Memory of concurrent replies; batch size against the lock table


@test
def concurrent_large_replies_get_503_never_a_crash():
    # 12 values of 900 KB: every list page of them is a ~10 MB reply,
    # and the service may hold 4 MiB of replies at once.
    s = harness.Stack(env={"KV_MAX_REPLY_MEMORY": str(4 << 20), "KV_THREADS": "8"})
    s.start()
    try:
        big = "v" * (900 * 1000)
        for i in range(12):
            st, _, _, raw = s.request("POST", "/set", {"key": "big/%02d" % i, "value": big})
            check(st == 200, "set: %d %r" % (st, raw[:200]))
        statuses, lock = [], threading.Lock()
        deadline = time.monotonic() + 15

        def reader(n):
            while time.monotonic() < deadline:
                if n % 2:
                    path = "/list?prefix=big%2F&limit=12"
                    st, h, js, raw = s.request("GET", path, timeout=30)
                else:
                    st, h, js, raw = s.request("POST", "/batch", {"operations": [
                        {"op": "get", "key": "big/%02d" % i} for i in range(12)]}, timeout=30)
                with lock:
                    statuses.append((st, h.get("retry-after"), js if st != 200 else None))
                    if len(statuses) >= 60:
                        return

        threads = [threading.Thread(target=reader, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ok = sum(1 for st, _, _ in statuses if st == 200)
        busy = [x for x in statuses if x[0] == 503]
        other = [x for x in statuses if x[0] not in (200, 503)]
        check(not other, "unexpected replies: %r" % other[:3])
        check(ok > 0, "nothing succeeded: %r" % statuses[:3])
        check(busy, "the limit never applied (%d replies, all 200)" % ok)
        for st, ra, js in busy:
            check(ra == "1" and js == {"success": False, "error":
                                       "Too much reply data in flight, please retry"},
                  "503 reply: %r %r" % (ra, js))
        check(s.crash_count() == 0, "the service died:\n" + log_tail(s))
        print("    %d replies of ~10 MB: %d answered 200, %d answered 503" % (
            len(statuses), ok, len(busy)))
    finally:
        s.stop()


@test
def largest_batch_allowed_commits_one_more_is_400():
    s = harness.Stack(env={"KV_MAX_BATCH_OPS": "10000", "KV_MAX_BODY": str(8 << 20)})
    s.start()
    try:
        # Spread over the tree, each with an expiry (a secondary index
        # entry too): as many locks as such a batch can take.
        ops = [{"op": "set", "key": "b/%05d" % ((i * 7919) % 10000), "value": "x" * 100,
                "ttl": 3600 + i} for i in range(10000)]
        st, _, js, raw = s.request("POST", "/batch", {"operations": ops}, timeout=60)
        check(st == 200 and len(js["results"]) == 10000, "10000 ops: %d %r" % (st, raw[:200]))
        ops.append({"op": "get", "key": "b/00000"})
        st, _, js, raw = s.request("POST", "/batch", {"operations": ops}, timeout=60)
        check(st == 400 and js == {"success": False, "error":
                                   "Too many operations. Maximum of 10000 operations per request."},
              "10001 ops: %d %r" % (st, raw[:200]))
    finally:
        s.stop()
    # The setting itself cannot pass what the lock table holds.
    r = subprocess.run([harness.default_binary()], env=dict(os.environ, KV_DATA_DIR=TMP,
                       KV_MAX_BATCH_OPS="10001"), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
    check(r.returncode == 2 and b"KV_MAX_BATCH_OPS" in r.stdout,
          "KV_MAX_BATCH_OPS=10001: exit %d %r" % (r.returncode, r.stdout))


# ---------------------------------------------------------------------------
# Shutdown while a request is being read


def fcgi_record(rtype, content, request_id=1):
    return struct.pack(">BBHHBB", 1, rtype, request_id, len(content), 0, 0) + content


def fcgi_params(pairs):
    out = b""
    for k, v in pairs:
        out += bytes([len(k)]) + (bytes([len(v)]) if len(v) < 128 else
                                  struct.pack(">I", len(v) | 0x80000000)) + k + v
    return out


def fcgi_read_all(sock, timeout):
    """Reads FastCGI records until END_REQUEST or EOF: (stdout bytes, ended)."""
    sock.settimeout(timeout)
    data, out = b"", b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    while len(data) >= 8:
        _, rtype, _, clen, plen, _ = struct.unpack(">BBHHBB", data[:8])
        if len(data) < 8 + clen + plen:
            break
        if rtype == 6:
            out += data[8:8 + clen]
        if rtype == 3:
            return out, True
        data = data[8 + clen + plen:]
    return out, False


@test
def stop_signal_while_params_are_read_does_not_drop_the_request():
    s = harness.Stack()
    s.start()
    try:
        sock_path = os.path.join(s.var_dir, "run", "fcgi.sock")
        check(os.path.exists(sock_path), "no FastCGI socket at %s" % sock_path)
        pid = s.service_pid()
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(sock_path)
        # The service accepts and starts reading the request: the begin
        # record, then it waits for the parameters.
        c.sendall(fcgi_record(1, struct.pack(">HB5x", 1, 0)))
        time.sleep(0.3)
        os.kill(pid, signal.SIGTERM)
        time.sleep(0.3)
        c.sendall(fcgi_record(4, fcgi_params([
            (b"REQUEST_METHOD", b"GET"), (b"REQUEST_URI", b"/health"),
            (b"SCRIPT_NAME", b""), (b"CONTENT_LENGTH", b"")])) +
            fcgi_record(4, b"") + fcgi_record(5, b""))
        out, ended = fcgi_read_all(c, 10)
        c.close()
        check(ended and out.startswith(b"Status: 200"),
              "the request read during the stop was dropped: %r" % out[:200])
        check(b'"kvStoreCheck":"ok"' in out, "reply: %r" % out[-200:])
        # It then stopped cleanly (scripts/stack restarts it).
        wait_for(lambda: "kvstore-fcgi exited (status 0)" in s.read_log(None), 15,
                 "no clean stop:\n" + log_tail(s))
    finally:
        s.stop()


def main():
    global TMP
    nginx, spawn = harness.tools_present()
    if not nginx or not spawn:
        print("SKIP: nginx or spawn-fcgi not installed")
        return 77
    TMP = tempfile.mkdtemp(prefix="kveng.", dir="/tmp")
    selected = [(n, f) for n, f in TESTS
                if not sys.argv[1:] or any(a in n for a in sys.argv[1:])]
    passed = failed = 0
    t0 = time.monotonic()
    try:
        for name, fn in selected:
            t = time.monotonic()
            try:
                fn()
                passed += 1
                print("PASS %s (%.2fs)" % (name, time.monotonic() - t))
            except Exception as e:   # noqa: BLE001
                failed += 1
                msg = str(e) if isinstance(e, Failure) else traceback.format_exc()
                print("FAIL %s (%.2fs)\n    %s" % (name, time.monotonic() - t,
                                                 msg.replace("\n", "\n    ")))
            sys.stdout.flush()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    print("(%.1fs)" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
