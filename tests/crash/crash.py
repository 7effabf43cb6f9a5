#!/usr/bin/env python3
"""Crash test: no acknowledged write is ever lost, no batch is ever torn.

Several client threads write under load through the real stack (nginx ->
spawn-fcgi -> kvstore-fcgi -> Berkeley DB) while this script kills the
service with SIGKILL at random moments (scripts/stack restarts it, and it
recovers its data), and, separately, kills the whole stack (nginx, the
service and scripts/stack at once) and starts it again on the same data.
Right after every kill the clients pause and every key is checked, before
a new write could hide a loss. At the end it stops the stack cleanly, runs
db5.3_verify on the stopped store, starts it again and checks every key.

Each client owns its keys, so it knows exactly what it wrote to them:

  c<T>/s<J>      single sets; the value carries the client's sequence number
  c<T>/b<G>/<I>  atomic batches writing one generation number to all N keys
  c<T>/cas       a counter incremented by test-and-set
  c<T>/n         a counter incremented by incr

A write answered 200 must be there afterwards, with its value or that of a
later write to the same key.

Versions: every write answered 200 shows the key's new version. Versions
come from one sequence for the whole store, so no two acknowledged writes,
of any keys, may ever show the same version, before or after a crash, and
a key's versions must only grow. Reads after each crash check that the
version a key shows is one a write was answered with, or a later one. A write that got no answer (the service died
under it) may or may not be there, but a batch is all or nothing: the N
keys of a group always hold the same generation. A 503 means nothing was
written.

Reader threads meanwhile GET and list the clients' keys and record every
value a reply showed. A value a client has seen must survive too: after
each kill every key holds the value a reader saw or a later one (values
only grow: sequence numbers, generations, counters). This is what catches
a reply that showed a committed value before the log was on disk.

Run:  make check-crash   (or KV_BINARY=... python3 tests/crash/crash.py)
Environment: KV_TOP_SRCDIR, KV_BINARY, NGINX, SPAWN_FCGI (as for the
integration tests), DB_VERIFY (default db5.3_verify), CRASH_CYCLES (service
kills, default 12), CRASH_SEED. Python 3 standard library only; only
127.0.0.1 is contacted and every wait is bounded.
"""

import http.client
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402

CLIENTS = 6
READERS = 3
SINGLE_KEYS = 6         # c<T>/s<J> per client
GROUPS = 3              # batch groups per client
GROUP_KEYS = 8          # keys written by one atomic batch
REQUEST_TIMEOUT = 30.0  # longer than any restart: no reply is still in flight
RESTART_TIMEOUT = 30.0
DEADLINE_S = 240        # no new service kill after half of this

# Uncertain outcomes: the service died or was not there.
NO_REPLY = (502, 504)


class Versions:
    """Every version an acknowledged write showed, for the whole run: a
    repeat means the store handed a number out twice (a crash reused it)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = {}          # version -> (key, when)
        self.errors = []

    def note(self, key, v, last):
        """Records v for key; last is the key's greatest version before."""
        with self.lock:
            if not isinstance(v, int) or isinstance(v, bool) or not 0 < v < 2 ** 53:
                self.errors.append("%s: bad version %r" % (key, v))
                return
            if v in self.seen:
                self.errors.append("version %d shown twice: %s and %s"
                                   % (v, self.seen[v], key))
            self.seen[v] = key
            if last is not None and v <= last:
                self.errors.append("%s: version went from %d to %d" % (key, last, v))


VERSIONS = Versions()


def log(msg):
    print("crash: %s" % msg, flush=True)


class Target:
    """The port the clients talk to; changes when the whole stack restarts."""

    def __init__(self, port):
        self.lock = threading.Lock()
        self.port = port

    def get(self):
        with self.lock:
            return self.port

    def set(self, port):
        with self.lock:
            self.port = port


class Gate:
    """Lets the clients run, or parks them between two requests so that
    the store can be checked against exactly what they know."""

    def __init__(self, n):
        self.cond = threading.Condition()
        self.n = n
        self.is_open = True
        self.parked = 0

    def enter(self, stop):
        with self.cond:
            while not self.is_open and not stop.is_set():
                self.parked += 1
                self.cond.notify_all()
                self.cond.wait(0.5)
                self.parked -= 1

    def close(self):
        with self.cond:
            self.is_open = False

    def wait_parked(self, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.parked < self.n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError("clients did not pause within %.0f s" % timeout)
                self.cond.wait(left)

    def open(self):
        with self.cond:
            self.is_open = True
            self.cond.notify_all()


def call(target, method, path, body=None):
    """One request. Returns (status, parsed JSON) or (None, None) when there
    was no HTTP answer at all (connection refused or reset)."""
    try:
        st, _, js, _ = harness.request(target.get(), method, path, body,
                                       timeout=REQUEST_TIMEOUT)
        return st, js
    except (OSError, http.client.HTTPException, AttributeError):
        # AttributeError: http.client trips over its own closed socket
        # ('NoneType' has no 'makefile') when the peer dies mid-request.
        return None, None


class Key:
    """What one client knows about one key it owns."""

    def __init__(self):
        self.acked = None       # last value answered 200
        self.acked_n = 0        # how many writes to it were answered 200
        self.maybe = []         # values sent after `acked` with no answer

    def ack(self, v):
        self.acked = v
        self.acked_n += 1
        self.maybe = []

    def unsure(self, v):
        self.maybe.append(v)

    def seen(self, v):
        """v was read back: committed, so it must survive like an
        acknowledged value, but the service never answered its write."""
        self.acked = v
        self.maybe = []

    def allowed(self):
        return ([self.acked] if self.acked is not None else []) + self.maybe


class Client(threading.Thread):
    """One writer: random writes, one at a time, to the keys it owns,
    noting what each reply proves about them."""

    def __init__(self, cid, target, gate, stop, seed):
        super().__init__(name="client-%d" % cid, daemon=True)
        self.cid = cid
        self.target = target
        self.gate = gate
        self.stop_ev = stop
        self.rnd = random.Random(seed)
        self.seq = 0
        self.singles = {"c%d/s%d" % (cid, j): Key() for j in range(SINGLE_KEYS)}
        # A group is one Key whose value is the generation of all its keys.
        self.groups = {"c%d/b%d" % (cid, g): Key() for g in range(GROUPS)}
        self.cas_key = "c%d/cas" % cid
        self.cas = Key()
        self.cas_known = None   # counter value known to be stored (None: absent)
        self.incr_key = "c%d/n" % cid
        self.incr = Key()
        self.vmax = {}          # key -> greatest version a reply showed
        self.counts = {"set": 0, "batch": 0, "tas": 0, "incr": 0, "noreply": 0,
                       "busy": 0, "other": 0}
        self.errors = []

    # The outcome of one write: 200 acknowledged, a definite refusal, or
    # no answer (the service died with the request).
    def outcome(self, st, js):
        if st == 200:
            return "ok"
        if st is None or st in NO_REPLY:
            self.counts["noreply"] += 1
            time.sleep(0.02)
            return "unsure"
        if st == 503:
            self.counts["busy"] += 1
            time.sleep(0.05)
            return "refused"
        self.counts["other"] += 1
        if len(self.errors) < 5:
            self.errors.append("status %s: %r" % (st, js))
        return "refused"

    def version(self, key, js):
        """Checks and records the version an acknowledged write showed."""
        v = (js or {}).get("version")
        VERSIONS.note(key, v, self.vmax.get(key))
        if isinstance(v, int):
            self.vmax[key] = max(v, self.vmax.get(key, 0))

    def do_set(self):
        key = self.rnd.choice(sorted(self.singles))
        self.seq += 1
        v = {"c": self.cid, "seq": self.seq}
        st, js = call(self.target, "POST", "/set", {"key": key, "value": v})
        o = self.outcome(st, js)
        if o == "ok":
            self.version(key, js)
            self.singles[key].ack(v)
            self.counts["set"] += 1
        elif o == "unsure":
            self.singles[key].unsure(v)

    def do_batch(self):
        group = self.rnd.choice(sorted(self.groups))
        self.seq += 1
        gen = self.seq
        ops = [{"op": "set", "key": "%s/%d" % (group, i),
                "value": {"gen": gen, "i": i, "pad": "x" * self.rnd.choice((1, 200, 3000))}}
               for i in range(GROUP_KEYS)]
        self.rnd.shuffle(ops)
        st, js = call(self.target, "POST", "/batch",
                      {"atomic": True, "operations": ops})
        o = self.outcome(st, js)
        if o == "ok":
            if not (js and js.get("success") is True):
                self.errors.append("batch 200 without success: %r" % js)
            self.groups[group].ack(gen)
            self.counts["batch"] += 1
        elif o == "unsure":
            self.groups[group].unsure(gen)

    def resync_cas(self):
        """After an unanswered test-and-set, learn what the counter holds."""
        while not self.stop_ev.is_set():
            st, js = call(self.target, "GET",
                          "/get/" + urllib.parse.quote(self.cas_key, safe=""))
            if st == 200:
                self.cas_known = js["value"]
                return True
            if st == 404:
                self.cas_known = None
                return True
            time.sleep(0.05)
        return False

    def do_tas(self):
        old = self.cas_known
        new = (old or 0) + 1
        st, js = call(self.target, "POST", "/test-and-set",
                      {"key": self.cas_key, "oldValue": old, "newValue": new})
        o = self.outcome(st, js)
        if o == "ok":
            if js.get("conditionMet") is True:
                self.version(self.cas_key, js)
                self.cas.ack(new)
                self.cas_known = new
                self.counts["tas"] += 1
            else:
                # Only this client writes the key: a failed condition means
                # an unanswered increment did commit. It must be `new`.
                cur = (js.get("current") or {}).get("value")
                if cur not in self.cas.allowed():
                    self.errors.append("tas: counter holds %r, expected one of %r"
                                       % (cur, self.cas.allowed()))
                self.cas_known = cur
                if cur is not None:
                    self.cas.seen(cur)
        elif o == "unsure":
            self.cas.unsure(new)
            self.resync_cas()
            if self.cas_known == new:
                self.cas.seen(new)

    def do_incr(self):
        st, js = call(self.target, "POST", "/incr", {"key": self.incr_key})
        o = self.outcome(st, js)
        if o == "ok":
            self.version(self.incr_key, js)
            # Only this client increments it: the count never goes back.
            if self.incr.acked is not None and js["value"] <= self.incr.acked:
                self.errors.append("incr: %r after %r" % (js["value"], self.incr.acked))
            self.incr.ack(js["value"])
            self.counts["incr"] += 1

    def run(self):
        ops = ([self.do_set] * 4 + [self.do_batch] * 3 + [self.do_tas] * 2 +
               [self.do_incr] * 2)
        while not self.stop_ev.is_set():
            self.gate.enter(self.stop_ev)
            if self.stop_ev.is_set():
                break
            try:
                self.rnd.choice(ops)()
            except Exception as e:   # noqa: BLE001
                # A malformed reply: note it and go on, so that the client
                # still parks at the gate and the run ends in a report.
                self.counts["other"] += 1
                if len(self.errors) < 5:
                    self.errors.append("exception: %r" % e)
                time.sleep(0.1)

    def acked_writes(self):
        return (sum(k.acked_n for k in self.singles.values()) +
                sum(k.acked_n for k in self.groups.values()) * GROUP_KEYS +
                self.cas.acked_n + self.incr.acked_n)


def order_of(key, v):
    """Where a stored value stands among the values written to key: every
    write to a key carries a larger number than the one before."""
    if v is None:
        return -1
    if key.endswith("/cas") or key.endswith("/n"):
        return v    # counters: test-and-set and incr only ever raise them
    if "/b" in key:
        return v["gen"]
    return v["seq"]


class Reader(threading.Thread):
    """Reads the writers' keys (GET and list) and remembers, per key, the
    latest value a reply showed."""

    def __init__(self, rid, target, gate, stop, seed):
        super().__init__(name="reader-%d" % rid, daemon=True)
        self.target = target
        self.gate = gate
        self.stop_ev = stop
        self.rnd = random.Random(seed)
        self.seen = {}          # key -> (order, value) of the latest seen
        self.replies = 0
        self.errors = []

    def note(self, key, v):
        o = order_of(key, v)
        if key not in self.seen or o > self.seen[key][0]:
            self.seen[key] = (o, v)

    def read_one(self):
        c = self.rnd.randrange(CLIENTS)
        kind = self.rnd.randrange(4)
        if kind == 0:
            key = "c%d/s%d" % (c, self.rnd.randrange(SINGLE_KEYS))
        elif kind == 1:
            key = "c%d/b%d/%d" % (c, self.rnd.randrange(GROUPS),
                                  self.rnd.randrange(GROUP_KEYS))
        elif kind == 2:
            key = "c%d/cas" % c
        else:
            st, js = call(self.target, "GET", "/list?limit=100&prefix=" +
                          urllib.parse.quote("c%d/" % c, safe=""))
            if st == 200:
                self.replies += 1
                for it in js["items"]:
                    self.note(it["key"], it["value"])
            return
        st, js = call(self.target, "GET", "/get/" + urllib.parse.quote(key, safe=""))
        if st == 200:
            self.replies += 1
            self.note(key, js["value"])

    def run(self):
        while not self.stop_ev.is_set():
            self.gate.enter(self.stop_ev)
            if self.stop_ev.is_set():
                break
            try:
                self.read_one()
            except Exception as e:   # noqa: BLE001
                if len(self.errors) < 5:
                    self.errors.append("exception: %r" % e)
                time.sleep(0.1)


def verify_seen(port, readers, when):
    """Checks that every value a reader saw survived, or a later one.
    Returns (values checked, values lost, messages)."""
    seen = {}
    for r in readers:
        for key, (o, v) in r.seen.items():
            if key not in seen or o > seen[key][0]:
                seen[key] = (o, v)
    lost = 0
    msgs = []
    for key, (o, v) in sorted(seen.items()):
        cur = CHECKED.get((port, key), MISSING)
        if cur is MISSING:
            cur = get_value(port, key)
        if order_of(key, cur) < o:
            lost += 1
            msgs.append("%s: %s holds %.80r, but a reply showed %.80r"
                        % (when, key, cur, v))
    return len(seen), lost, msgs


# Values read by verify() in the current check (the clients are parked, so
# they cannot change): verify_seen() reuses them instead of reading every
# key twice, which on a loaded machine ate the test's time budget.
CHECKED = {}
MISSING = object()


def get_value(port, key):
    """The stored value of key (None if absent), retried while the service
    restarts. Raises when it never answers."""
    v = _get_value(port, key)
    CHECKED[(port, key)] = v
    return v


def _get_value(port, key):
    deadline = time.monotonic() + RESTART_TIMEOUT
    path = "/get/" + urllib.parse.quote(key, safe="")
    while True:
        try:
            st, _, js, raw = harness.request(port, "GET", path, timeout=10)
            if st == 200:
                return js["value"]
            if st == 404:
                return None
            last = "status %d %r" % (st, raw[:200])
        except (OSError, http.client.HTTPException) as e:
            last = repr(e)
        if time.monotonic() > deadline:
            raise RuntimeError("GET %s never answered: %s" % (key, last))
        time.sleep(0.1)


def verify(port, clients, when):
    """Checks every key the clients own against what they know. Returns
    (keys or groups lost, groups torn, messages)."""
    lost = torn = 0
    msgs = []
    for c in clients:
        for key, k in sorted(c.singles.items()):
            v = get_value(port, key)
            if k.acked is None and v is None:
                continue
            if v not in k.allowed():
                lost += 1
                msgs.append("%s: %s holds %r, acknowledged %r (unanswered after it: %r)"
                            % (when, key, v, k.acked, k.maybe))
        for group, k in sorted(c.groups.items()):
            vals = [get_value(port, "%s/%d" % (group, i)) for i in range(GROUP_KEYS)]
            gens = [x["gen"] if isinstance(x, dict) else x for x in vals]
            if len(set(gens)) != 1:
                torn += 1
                msgs.append("%s: batch group %s is torn: generations %r"
                            % (when, group, gens))
                continue
            if gens[0] is None and k.acked is None:
                continue
            if gens[0] not in k.allowed():
                lost += 1
                msgs.append("%s: group %s holds generation %r, acknowledged %r (unanswered: %r)"
                            % (when, group, gens[0], k.acked, k.maybe))
        v = get_value(port, c.cas_key)
        if not (v is None and c.cas.acked is None) and v not in c.cas.allowed():
            lost += 1
            msgs.append("%s: %s holds %r, acknowledged %r (unanswered: %r)"
                        % (when, c.cas_key, v, c.cas.acked, c.cas.maybe))
        # Unanswered increments may have counted too: never fewer.
        v = get_value(port, c.incr_key)
        if c.incr.acked is not None and (not isinstance(v, int) or v < c.incr.acked):
            lost += 1
            msgs.append("%s: %s holds %r, an increment was answered %r"
                        % (when, c.incr_key, v, c.incr.acked))
    return lost, torn, msgs


def kill_service(stack, gate, rnd):
    """SIGKILLs the service at a random moment under load and parks the
    clients at once (any request they start now meets a dead service), then
    waits for scripts/stack to restart it and for it to answer again."""
    time.sleep(rnd.uniform(0.3, 1.5))
    pid = stack.service_pid()
    if pid is None:
        raise RuntimeError("no kvstore-fcgi process to kill")
    before = stack.crash_count()
    os.kill(pid, 9)
    gate.close()
    deadline = time.monotonic() + RESTART_TIMEOUT
    while stack.crash_count() == before:
        if time.monotonic() > deadline:
            raise RuntimeError("scripts/stack did not notice the kill")
        time.sleep(0.05)
    stack.wait_healthy(RESTART_TIMEOUT)


def db_verify(data_dir):
    """Runs db5.3_verify on the databases of a stopped store."""
    prog = os.environ.get("DB_VERIFY") or shutil.which("db5.3_verify") or "db5.3_verify"
    out = []
    for db in ("kv.db", "expiry.db", "meta.db"):
        r = subprocess.run([prog, "-h", data_dir, db], cwd=data_dir,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120)
        text = r.stdout.decode("utf-8", "replace").strip()
        if r.returncode != 0:
            out.append("%s %s: exit %d: %s" % (prog, db, r.returncode, text[-2000:]))
    return out


class Tally:
    """Sums what the checks found."""

    def __init__(self):
        self.checks = self.lost = self.torn = 0
        self.failures = []

    def add(self, result):
        lost, torn, msgs = result
        self.checks += 1
        self.lost += lost
        self.torn += torn
        self.failures.extend(msgs)


def main():
    nginx, spawn = harness.tools_present()
    if not nginx or not spawn:
        print("SKIP: nginx or spawn-fcgi not installed")
        return 77
    cycles = int(os.environ.get("CRASH_CYCLES", "12"))
    seed = int(os.environ.get("CRASH_SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    t0 = time.monotonic()
    log("seed %d, %d clients, %d service kills, then whole-stack kills"
        % (seed, CLIENTS, cycles))
    data_dir = tempfile.mkdtemp(prefix="kvcrash.", dir="/tmp")
    stack = None
    stop = threading.Event()
    gate = Gate(CLIENTS + READERS)
    clients = []
    readers = []
    observed = {"checked": 0, "lost": 0}
    failures = []
    tally = Tally()
    kills = stack_kills = 0
    verify_errors = []

    def check(when):
        # Every client is parked: what they know is exactly what must be
        # stored, before any new write can hide a loss.
        gate.wait_parked(REQUEST_TIMEOUT * 2)
        CHECKED.clear()
        tally.add(verify(stack.port, clients, when))
        n, lost, msgs = verify_seen(stack.port, readers, when)
        observed["checked"] += n
        observed["lost"] += lost
        tally.failures.extend(msgs)
        gate.open()

    try:
        stack = harness.Stack(data_dir=data_dir)
        stack.start()
        target = Target(stack.port)
        clients = [Client(i, target, gate, stop, seed * 100 + i)
                   for i in range(CLIENTS)]
        readers = [Reader(i, target, gate, stop, seed * 100 + 50 + i)
                   for i in range(READERS)]
        for c in clients + readers:
            c.start()

        # 1. The service alone, killed under load; scripts/stack restarts it.
        for i in range(cycles):
            if time.monotonic() - t0 > DEADLINE_S / 2:
                failures.append("time budget spent after %d kills" % kills)
                break
            kill_service(stack, gate, rnd)
            kills += 1
            check("after service kill %d" % kills)
        log("service killed %d times, restarted and checked every time" % kills)

        # 2. The whole stack at once, started again on the same data, once
        # in each durability mode (WRITE_NOSYNC too must lose nothing when
        # only processes die), with one more service kill in that mode.
        for mode in ("sync", "write"):
            time.sleep(rnd.uniform(0.5, 1.5))
            stack.kill()
            gate.close()
            stack.stop()
            stack_kills += 1
            stack = harness.Stack(data_dir=data_dir, env={"KV_DURABILITY": mode})
            stack.start()
            target.set(stack.port)
            check("after whole-stack kill %d" % stack_kills)
            kill_service(stack, gate, rnd)
            kills += 1
            check("after service kill %d (durability %s)" % (kills, mode))
        log("whole stack killed %d times and started again" % stack_kills)

        # 3. A clean stop, db5.3_verify on the stopped store, a restart.
        time.sleep(1.0)
        stop.set()
        gate.open()
        for c in clients + readers:
            c.join(REQUEST_TIMEOUT * 2)
            if c.is_alive():
                failures.append("%s did not stop" % c.name)
        rc = stack.stop()
        stack = None
        if rc != 0:
            failures.append("clean stop of the stack: exit status %r" % rc)
        verify_errors = db_verify(data_dir)
        failures.extend(verify_errors)
        stack = harness.Stack(data_dir=data_dir)
        stack.start()
        CHECKED.clear()
        tally.add(verify(stack.port, clients, "after a clean restart"))
        n, lost, msgs = verify_seen(stack.port, readers, "after a clean restart")
        observed["checked"] += n
        observed["lost"] += lost
        tally.failures.extend(msgs)

        for c in clients + readers:
            failures.extend("%s: %s" % (c.name, e) for e in c.errors)
        failures.extend(VERSIONS.errors[:20])
        # After the last restart, one more write of every key must still
        # get a version above all it showed before.
        for c in clients:
            for key in sorted(c.vmax):
                st, js = call(Target(stack.port), "POST", "/touch", {"key": key})
                if st == 200:
                    c.version(key, js)
        failures.extend(VERSIONS.errors[:20])
        totals = {}
        for c in clients:
            for k, v in c.counts.items():
                totals[k] = totals.get(k, 0) + v
        acked = sum(c.acked_writes() for c in clients)
        log("answered 200: %d sets, %d atomic batches of %d keys, %d test-and-sets, "
            "%d increments (%d distinct versions, none repeated or going back); "
            "%d requests without a reply, %d busy (503), %d other"
            % (totals["set"], totals["batch"], GROUP_KEYS, totals["tas"],
               totals["incr"], len(VERSIONS.seen),
               totals["noreply"], totals["busy"], totals["other"]))
        if totals["other"]:
            failures.append("%d writes got an unexpected status" % totals["other"])
        if acked == 0:
            failures.append("no write was acknowledged at all")
        if sum(r.replies for r in readers) == 0:
            failures.append("no read was answered at all")
        log("readers: %d replies; observed values checked %d, lost %d"
            % (sum(r.replies for r in readers), observed["checked"],
               observed["lost"]))
        log("RESULT: cycles %d (service kills %d, whole-stack kills %d), "
            "acknowledged writes checked %d (every key checked %d times), "
            "lost %d, torn %d, db5.3_verify %s (%.0f s)"
            % (kills + stack_kills, kills, stack_kills, acked, tally.checks,
               tally.lost, tally.torn, "failed" if verify_errors else "ok",
               time.monotonic() - t0))
    except Exception as e:   # noqa: BLE001
        failures.append("error: %r" % e)
        if stack is not None:
            failures.append("stack log tail:\n" + "\n".join(
                l for l in stack.read_log(200000).splitlines()
                if "connect() to unix:" not in l)[-4000:])
    finally:
        stop.set()
        gate.open()
        if stack is not None:
            stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    failures = tally.failures + failures
    if tally.lost or tally.torn or observed["lost"]:
        failures.append("lost %d, torn %d, observed values lost %d"
                        % (tally.lost, tally.torn, observed["lost"]))
    if failures:
        for f in failures[:50]:
            print("FAIL " + f.replace("\n", "\n    "))
        return 1
    print("PASS crash test")
    return 0


if __name__ == "__main__":
    sys.exit(main())
