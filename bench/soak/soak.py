#!/usr/bin/env python3
"""Soak: drive many mixed requests through the real stack (nginx ->
kvstore-fcgi -> Berkeley DB, started exactly as the integration tests do)
and sample the service's memory as it goes, to see whether it stays flat.

    python3 bench/soak/soak.py                      # 100000 requests, at most 600 s
    python3 bench/soak/soak.py --requests 300000 --time-limit 1800
    KV_BINARY=build-asan/kvstore-fcgi python3 bench/soak/soak.py

The mix: set (values of 10 B to 4 kB, some with a ttl of 1-3 s so the
sweeper works too), get, delete, list with paging, test-and-set, batches
of 2-20 operations, and about 10 % malformed requests (bad JSON, bad
keys, bad methods), over a pool of 5000 keys, from --clients kept-alive
connections. Every --sample-every requests it reads VmRSS and RssAnon of
the kvstore-fcgi process from /proc/PID/status.

Prints the series, then a verdict on VmRSS: "flat" when, after the first
fifth of the run (warm-up), it grew by less than --tolerance-kb. The
Berkeley DB cache lives in the process's memory and fills up as pages are
touched, which is growth but not a leak; so the service runs with a 1 MiB
cache (--cache-size) unless told otherwise. Exits 0 when flat, 1 when it
grew, 2 when the run itself failed (errors, 5xx, the service died).

Not a test: nothing here runs in `make check`. Loopback only; the run
stops at --time-limit whether or not all requests were sent.
"""

import argparse
import http.client
import json
import os
import random
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
os.environ.setdefault("KV_TOP_SRCDIR", TOP)
import harness  # noqa: E402

KEYS = 5000


def mem_kb(pid):
    """(VmRSS, RssAnon) of pid in kB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "RssAnon"):
                out[name] = int(rest.split()[0])
    return out["VmRSS"], out["RssAnon"]


def one_request(rng):
    """(method, path, body or None) of one request of the mix."""
    key = "soak/%d" % rng.randrange(KEYS)
    r = rng.random()
    if r < 0.25:
        body = {"key": key, "value": {"n": rng.randrange(10 ** 9),
                                      "s": "v" * rng.randrange(10, 4000)}}
        if rng.random() < 0.1:
            body["ttl"] = rng.randrange(1, 4)
        return "POST", "/set", body
    if r < 0.50:
        return "GET", "/get?key=" + key.replace("/", "%2F"), None
    if r < 0.58:
        return "DELETE", "/delete/" + key.replace("/", "%2F"), None
    if r < 0.65:
        return "GET", "/list?prefix=soak/%d&limit=%d" % (rng.randrange(10), rng.randrange(1, 200)), None
    if r < 0.75:
        return "POST", "/test-and-set", {"key": key, "oldValue": None,
                                         "newValue": [rng.randrange(100)]}
    if r < 0.90:
        ops = []
        for _ in range(rng.randrange(2, 21)):
            k = "soak/%d" % rng.randrange(KEYS)
            ops.append(rng.choice([
                {"op": "set", "key": k, "value": rng.randrange(1000)},
                {"op": "get", "key": k},
                {"op": "delete", "key": k},
                {"op": "test-and-set", "key": k, "oldValue": None, "newValue": 1},
            ]))
        return "POST", "/batch", {"operations": ops, "atomic": rng.random() < 0.3}
    # Malformed.
    return rng.choice([
        ("POST", "/set", b'{"key":"soak/x","value":'),
        ("POST", "/set", b'{"key":"","value":1}'),
        ("POST", "/batch", b'{"operations":[{"op":"nope"}]}'),
        ("POST", "/set", bytes(rng.randrange(256) for _ in range(64))),
        ("GET", "/get?key=%zz", None),
        ("PUT", "/set", b"{}"),
    ])


class Run:
    def __init__(self, port, total, clients, sample_every, deadline, pid):
        self.port = port
        self.total = total
        self.clients = clients
        self.sample_every = sample_every
        self.deadline = deadline
        self.pid = pid
        self.lock = threading.Lock()
        self.sent = 0
        self.errors = []
        self.statuses = {}
        self.samples = []
        self.t0 = time.monotonic()

    def take(self):
        """Claims the next request number, or None when done."""
        with self.lock:
            if self.sent >= self.total or time.monotonic() >= self.deadline:
                return None
            self.sent += 1
            n = self.sent
        if n % self.sample_every == 0:
            rss, anon = mem_kb(self.pid)
            with self.lock:
                self.samples.append((n, rss, anon, time.monotonic() - self.t0))
        return n

    def client(self, seed):
        rng = random.Random(seed)
        conn = None
        while self.take() is not None:
            method, path, body = one_request(rng)
            if body is not None and not isinstance(body, bytes):
                body = json.dumps(body, separators=(",", ":")).encode()
            for attempt in range(2):
                fresh = conn is None
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(harness.HOST, self.port, timeout=30)
                    conn.request(method, path, body=body,
                                 headers={"Content-Type": "application/json"} if body else {})
                    resp = conn.getresponse()
                    resp.read()
                    st = resp.status
                    if resp.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = None
                    break
                except (OSError, http.client.HTTPException) as e:
                    if conn is not None:
                        conn.close()
                    conn = None
                    if fresh:
                        with self.lock:
                            self.errors.append("%s %s: %r" % (method, path, e))
                        st = None
                        break
            with self.lock:
                if st is not None:
                    self.statuses[st] = self.statuses.get(st, 0) + 1
                    if st >= 500:
                        self.errors.append("%s %s -> %d" % (method, path, st))
        if conn is not None:
            conn.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--time-limit", type=float, default=600.0, help="seconds")
    ap.add_argument("--sample-every", type=int, default=5000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--tolerance-kb", type=int, default=4096,
                    help="VmRSS growth after warm-up still called flat")
    ap.add_argument("--durability", default="sync", choices=("sync", "write"))
    ap.add_argument("--cache-size", type=int, default=1 << 20,
                    help="KV_CACHE_SIZE of the service, bytes")
    args = ap.parse_args()

    binary = os.environ.get("KV_BINARY") or os.path.join(TOP, "build", "kvstore-fcgi")
    stack = harness.Stack(env={"KV_DURABILITY": args.durability,
                               "KV_CACHE_SIZE": args.cache_size}, binary=binary)
    stack.start()
    try:
        pid = stack.service_pid()
        if pid is None:
            print("soak: kvstore-fcgi process not found")
            return 2
        rss, anon = mem_kb(pid)
        run = Run(stack.port, args.requests, args.clients, args.sample_every,
                  time.monotonic() + args.time_limit, pid)
        run.samples.append((0, rss, anon, 0.0))
        threads = [threading.Thread(target=run.client, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - run.t0
        rss, anon = mem_kb(pid)
        run.samples.append((run.sent, rss, anon, elapsed))
        crashes = stack.crash_count()
    finally:
        stack.stop()

    print("soak: %d requests in %.1f s (%.0f/s), %d clients, durability %s, cache %d B, binary %s"
          % (run.sent, elapsed, run.sent / elapsed if elapsed else 0, args.clients,
             args.durability, args.cache_size, binary))
    print("statuses: %s" % dict(sorted(run.statuses.items())))
    print("%10s %10s %12s %8s" % ("requests", "VmRSS kB", "RssAnon kB", "time s"))
    for n, r, a, t in run.samples:
        print("%10d %10d %12d %8.1f" % (n, r, a, t))

    if crashes or run.errors:
        print("RUN FAILED: %d service deaths, %d errors; first: %s"
              % (crashes, len(run.errors), run.errors[:5]))
        return 2
    after = [s for s in run.samples if s[0] >= run.sent // 5]
    base = after[0]
    top = max(after[-3:], key=lambda s: s[1])
    growth = top[1] - base[1]
    per_10k = growth * 10000.0 / max(1, top[0] - base[0])
    flat = growth < args.tolerance_kb
    print("VmRSS after warm-up: %d kB at %d requests -> %d kB at %d (%+d kB, %+.1f kB per 10k requests)"
          % (base[1], base[0], top[1], top[0], growth, per_10k))
    print("VERDICT: %s" % ("flat" if flat else "GROWING"))
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
