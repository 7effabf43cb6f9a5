#!/usr/bin/env python3
"""Concurrency tests over the real stack (nginx -> kvstore-fcgi -> Berkeley
DB): many clients racing on the same keys must see serializable results.

- A counter raced by 16 clients through test-and-set ends exactly at the
  number of increments that succeeded, and no two clients ever won the
  same step.
- Transfers between two keys (test-and-set of both in one atomic batch)
  keep their sum, and readers fetching both in one batch never see a pair
  from two different moments.
- A deadlock storm (batches reading then writing keys that share btree
  pages, half of the clients in the opposite order) ends with every request
  answered 200, or 503 with Retry-After and 200 on retry: never a 500, never
  a hang, and every batch applied whole.

Run:  KV_TOP_SRCDIR=. KV_BINARY=build/kvstore-fcgi python3 tests/integration/concurrency.py [name...]
Prints one PASS/FAIL line per test and "N passed, N failed". Python 3
standard library only; only 127.0.0.1 is contacted; every request and every
wait has a timeout.
"""

import os
import random
import sys
import threading
import time
import traceback
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

S = None
TESTS = []
REQUEST_TIMEOUT = 60.0      # far above any lock timeout inside the service
JOIN_TIMEOUT = 300.0        # a client thread still running after this hung
MAX_RETRIES = 200           # 503s in a row before a client gives up


Failure = harness.Failure
check = harness.check


def test(fn):
    TESTS.append((fn.__name__, fn))
    return fn


def q(key):
    return urllib.parse.quote(key, safe="")


class Busy:
    """Counts 503 replies; each must carry Retry-After."""

    def __init__(self):
        self.lock = threading.Lock()
        self.count = 0
        self.bad = []

    def note(self, headers, raw):
        with self.lock:
            self.count += 1
            if not headers.get("retry-after", "").strip().isdigit():
                self.bad.append("503 without Retry-After: %r %r" % (headers, raw[:200]))


def post(path, body, busy):
    """POSTs until the answer is not 503. Returns (status, json, raw)."""
    for _ in range(MAX_RETRIES):
        st, h, js, raw = S.request("POST", path, body, timeout=REQUEST_TIMEOUT)
        if st != 503:
            return st, js, raw
        busy.note(h, raw)
        time.sleep(0.01 * random.random())
    raise Failure("%s: still 503 after %d attempts" % (path, MAX_RETRIES))


def run_threads(targets):
    """Runs the callables in threads; returns the exceptions they raised."""
    errors = []
    lock = threading.Lock()

    def wrap(fn):
        try:
            fn()
        except Exception:   # noqa: BLE001
            with lock:
                errors.append(traceback.format_exc().rstrip())

    ts = [threading.Thread(target=wrap, args=(fn,), daemon=True) for fn in targets]
    for t in ts:
        t.start()
    deadline = time.monotonic() + JOIN_TIMEOUT
    for t in ts:
        t.join(max(0.0, deadline - time.monotonic()))
    hung = sum(t.is_alive() for t in ts)
    if hung:
        errors.append("%d client threads still running after %.0f s: the "
                      "service hangs" % (hung, JOIN_TIMEOUT))
    return errors


def get_value(key):
    st, _, js, raw = S.request("GET", "/get/" + q(key), timeout=REQUEST_TIMEOUT)
    check(st == 200, "GET %s: %d %r" % (key, st, raw[:200]))
    return js["value"]


# ---------------------------------------------------------------------------


@test
def cas_counter_raced_by_16_clients_ends_at_the_successes():
    key = "conc/counter"
    clients, per_client = 16, 25
    busy = Busy()
    st, _, _, raw = S.request("POST", "/set", {"key": key, "value": 0})
    check(st == 200, "initial set: %d %r" % (st, raw))
    won = [[] for _ in range(clients)]   # the values each client installed
    conflicts = [0] * clients

    def client(i):
        def run():
            cur = get_value(key)
            while len(won[i]) < per_client:
                st, js, raw = post("/test-and-set",
                                   {"key": key, "oldValue": cur, "newValue": cur + 1}, busy)
                check(st == 200, "test-and-set: %d %r" % (st, raw[:300]))
                if js.get("conditionMet") is True:
                    check(js.get("value") == cur + 1, "reply value %r" % js)
                    won[i].append(cur + 1)
                    cur += 1
                else:
                    check(js.get("conditionMet") is False and "current" in js,
                          "conditionMet:false reply %r" % js)
                    conflicts[i] += 1
                    cur = js["current"]["value"]
        return run

    errors = run_threads([client(i) for i in range(clients)])
    check(not errors, "\n".join(errors))
    check(not busy.bad, "\n".join(busy.bad[:5]))
    total = clients * per_client
    final = get_value(key)
    all_won = sorted(v for w in won for v in w)
    check(final == total, "counter is %r after %d successful increments" % (final, total))
    check(all_won == list(range(1, total + 1)),
          "some step was won twice or never: %r" % all_won[:50])
    print("    %d increments by %d clients, %d lost races retried, %d busy replies"
          % (total, clients, sum(conflicts), busy.count))


@test
def transfers_keep_the_sum_and_readers_never_see_a_torn_pair():
    a, b = "conc/acct/a", "conc/acct/b"
    start = 1000
    writers, transfers_each, readers = 8, 30, 4
    busy = Busy()
    st, _, _, raw = S.request("POST", "/batch", {"operations": [
        {"op": "set", "key": a, "value": start},
        {"op": "set", "key": b, "value": start}]})
    check(st == 200, "initial batch: %d %r" % (st, raw))
    done = threading.Event()
    moved = [0] * writers
    reads = [0] * readers
    torn = []

    def read_pair(body=None):
        st, js, raw = post("/batch", {"operations": [
            {"op": "get", "key": a}, {"op": "get", "key": b}]}, busy)
        check(st == 200, "batch get: %d %r" % (st, raw[:300]))
        r = js["results"]
        return r[0]["value"], r[1]["value"]

    def writer(i):
        def run():
            rnd = random.Random(i)
            n = 0
            while n < transfers_each:
                va, vb = read_pair()
                x = rnd.randint(-20, 20)
                st, js, raw = post("/batch", {"atomic": True, "operations": [
                    {"op": "test-and-set", "key": a, "oldValue": va, "newValue": va - x},
                    {"op": "test-and-set", "key": b, "oldValue": vb, "newValue": vb + x}]},
                    busy)
                check(st == 200, "transfer: %d %r" % (st, raw[:300]))
                if js.get("success") is True:
                    check(all(r.get("conditionMet") is True for r in js["results"]),
                          "transfer reply %r" % js)
                    moved[i] += x
                    n += 1
                else:
                    check(js.get("conditionMet") is False, "rolled back reply %r" % js)
        return run

    def reader(i):
        def run():
            while not done.is_set():
                va, vb = read_pair()
                reads[i] += 1
                if va + vb != 2 * start:
                    torn.append((va, vb))
        return run

    rs = [threading.Thread(target=reader(i), daemon=True) for i in range(readers)]
    for t in rs:
        t.start()
    try:
        errors = run_threads([writer(i) for i in range(writers)])
    finally:
        done.set()
        for t in rs:
            t.join(REQUEST_TIMEOUT)
    check(not errors, "\n".join(errors))
    check(not busy.bad, "\n".join(busy.bad[:5]))
    check(not torn, "readers saw %d torn pairs, e.g. %r" % (len(torn), torn[:5]))
    check(sum(reads) > 0, "the readers read nothing")
    va, vb = get_value(a), get_value(b)
    check(va + vb == 2 * start, "sum is %d + %d" % (va, vb))
    check(va == start - sum(moved), "a is %d, expected %d" % (va, start - sum(moved)))
    print("    %d transfers, %d paired reads all summing to %d, %d busy replies"
          % (writers * transfers_each, sum(reads), 2 * start, busy.count))


@test
def deadlock_storm_ends_with_every_batch_applied_whole():
    # Short keys with a common prefix sit on the same btree pages, so every
    # batch locks the same few pages; reading them all first and writing
    # them next makes concurrent batches upgrade read locks into deadlocks,
    # and half of the clients go in the opposite order.
    keys = ["conc/storm/%03d" % i for i in range(32)]
    clients, batches_each = 12, 20
    busy = Busy()
    statuses = {}
    lock = threading.Lock()
    acked = []

    def client(i):
        def run():
            order = keys if i % 2 == 0 else list(reversed(keys))
            for n in range(batches_each):
                tag = "%d/%d" % (i, n)
                ops = ([{"op": "get", "key": k} for k in order] +
                       [{"op": "set", "key": k, "value": tag} for k in order])
                st, js, raw = post("/batch", {"operations": ops}, busy)
                with lock:
                    statuses[st] = statuses.get(st, 0) + 1
                check(st == 200, "batch: %d %r" % (st, raw[:300]))
                gets = [r.get("value") for r in js["results"][:len(keys)]]
                check(len(set(map(repr, gets))) == 1,
                      "a batch read a torn state: %r" % gets)
                with lock:
                    acked.append(tag)
        return run

    errors = run_threads([client(i) for i in range(clients)])
    check(not errors, "\n".join(errors[:3]))
    check(not busy.bad, "\n".join(busy.bad[:5]))
    check(set(statuses) == {200}, "statuses after retries: %r" % statuses)
    check(len(acked) == clients * batches_each, "%d batches acknowledged" % len(acked))
    final = {get_value(k) for k in keys}
    check(len(final) == 1 and final <= set(acked),
          "the keys hold %r: not one whole batch" % sorted(final)[:10])
    print("    %d batches of %d ops by %d clients, %d busy replies retried"
          % (len(acked), 2 * len(keys), clients, busy.count))


# ---------------------------------------------------------------------------



def main(argv):
    global S
    # Twice the default worker threads: more transactions overlap.
    S = harness.Stack(env={"KV_THREADS": "8"})
    return harness.run_suite(TESTS, argv, S, settle_always=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
