#!/usr/bin/env python3
"""Operations tests over the real stack and kvstore-admin: GET /metrics
against a strict exposition parser (and promtool when installed), hot
backup under write load, restore, verify, dump | load, and the admin
tool's refusals and exit codes.

Run:  KV_TOP_SRCDIR=. KV_BINARY=build/kvstore-fcgi KV_ADMIN=build/kvstore-admin \\
          python3 tests/integration/test_ops.py [name-substring...]

Prints one PASS/FAIL line per test and ends with "N passed, N failed".
Python 3 standard library only; every load loop is bounded in time.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import promtext  # noqa: E402

ADMIN = os.environ.get("KV_ADMIN") or os.path.join(
    os.path.dirname(harness.default_binary()), "kvstore-admin")
TESTS = []
TMP = None          # scratch directory, removed at the end


class Failure(AssertionError):
    pass


def test(fn):
    TESTS.append((fn.__name__, fn))
    return fn


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def scratch(name):
    """A fresh path (not created) under the scratch directory: numbered
    past every name there, so that removed entries free no number."""
    n = len(os.listdir(TMP))
    while any(e.startswith("%s.%d" % (name, n)) for e in os.listdir(TMP)):
        n += 1
    return os.path.join(TMP, "%s.%d" % (name, n))


def admin_env(extra=None):
    env = dict(os.environ)
    env.pop("KV_DATA_DIR", None)
    env.pop("STATE_DIRECTORY", None)
    env["TMPDIR"] = TMP
    env.update(extra or {})
    return env


def admin(*args, data_dir=None, stdin=None, timeout=120, env=None):
    """Runs kvstore-admin; returns (exit status, stdout, stderr). env adds
    to its environment (the test-only settings)."""
    cmd = [ADMIN] + (["-d", data_dir] if data_dir else []) + list(args)
    p = subprocess.run(cmd, input=stdin, capture_output=True,
                       env=admin_env(env), timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), \
        p.stderr.decode("utf-8", "replace")


def expect_admin(want, *args, **kw):
    rc, out, err = admin(*args, **kw)
    check(rc == want, "kvstore-admin %s: exit %d, want %d\nstdout: %s\nstderr: %s"
          % (" ".join(args), rc, want, out[-2000:], err[-2000:]))
    return out, err


def set_key(s, key, value, ttl=None):
    body = {"key": key, "value": value}
    if ttl:
        body["ttl"] = ttl
    st, _, js, raw = s.request("POST", "/set", body)
    check(st == 200, "set %r: %d %r" % (key, st, raw))
    return js


def scrape(s):
    st, h, _, raw = s.request("GET", "/metrics")
    check(st == 200, "GET /metrics: %d %r" % (st, raw[:300]))
    ctype = h.get("content-type", "")
    check(ctype.startswith("text/plain; version=0.0.4"),
          "Content-Type %r, want text/plain; version=0.0.4" % ctype)
    text = raw.decode("utf-8")
    try:
        return promtext.parse(text), text
    except promtext.ParseError as e:
        raise Failure("GET /metrics does not parse: %s\n%s" % (e, text[:3000]))


def dump_lines(data_dir):
    out, _ = expect_admin(0, "dump", data_dir=data_dir)
    lines = out.splitlines()
    return lines, {json.loads(l)["key"]: json.loads(l) for l in lines}


# ---------------------------------------------------------------------------
# GET /metrics


@test
def metrics__parses_strictly_with_every_family():
    with harness.Stack() as s:
        set_key(s, "a", 1)
        fams, text = scrape(s)
        for name in ("kvstore_http_requests_total",
                     "kvstore_http_request_duration_seconds",
                     "kvstore_txn_commits_total", "kvstore_txn_aborts_total",
                     "kvstore_txn_deadlocks_total",
                     "kvstore_store_unavailable_total",
                     "kvstore_expired_swept_total", "kvstore_disk_bytes",
                     "kvstore_log_files", "kvstore_cache_hits_total",
                     "kvstore_cache_misses_total", "kvstore_uptime_seconds",
                     "kvstore_build_info"):
            check(name in fams, "no family %s in\n%s" % (name, text[:2000]))
        check(promtext.value(fams, "kvstore_disk_bytes", kind="data") > 0,
              "no data bytes")
        check(promtext.value(fams, "kvstore_log_files") >= 1, "no log file")
        build = [l for _, l, _ in fams["kvstore_build_info"].samples]
        check(len(build) == 1 and build[0].get("version"), "build info %r" % build)


@test
def metrics__promtool_accepts_it_when_installed():
    promtool = shutil.which("promtool")
    if promtool is None:
        print("  (promtool not installed: the strict parser above stands in)")
        return
    with harness.Stack() as s:
        set_key(s, "a", 1)
        _, text = scrape(s)
        p = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=60)
        check(p.returncode == 0, "promtool check metrics: %s%s"
              % (p.stdout.decode(), p.stderr.decode()))


@test
def metrics__counters_move_exactly_with_requests():
    with harness.Stack() as s:
        before, _ = scrape(s)

        def v(fams, name, **labels):
            try:
                return promtext.value(fams, name, **labels)
            except KeyError:
                return 0

        for _ in range(3):
            st, _, _, _ = s.request("GET", "/get?key=absent")
            check(st == 404, "get absent: %d" % st)
        set_key(s, "m1", {"x": 1})
        set_key(s, "m2", [1, 2])
        st, _, _, _ = s.request("GET", "/no/such/path")
        check(st == 404, "unknown path: %d" % st)
        after, text = scrape(s)
        want = {
            ("kvstore_http_requests_total", (("code", "404"), ("route", "/get"))): 3,
            ("kvstore_http_requests_total", (("code", "200"), ("route", "/set"))): 2,
            ("kvstore_http_requests_total", (("code", "404"), ("route", "other"))): 1,
            ("kvstore_http_requests_total", (("code", "200"), ("route", "/metrics"))): 1,
            ("kvstore_http_request_duration_seconds_count", (("route", "/get"),)): 3,
            ("kvstore_http_request_duration_seconds_count", (("route", "/set"),)): 2,
        }
        for (name, labels), delta in want.items():
            got = v(after, name, **dict(labels)) - v(before, name, **dict(labels))
            check(got == delta, "%s%s moved by %s, want %s\n%s"
                  % (name, dict(labels), got, delta, text[:3000]))
        # Two sets and three reads are five transactions at least.
        commits = v(after, "kvstore_txn_commits_total") - \
            v(before, "kvstore_txn_commits_total")
        check(commits >= 5, "commits moved by %s" % commits)
        check(v(after, "kvstore_uptime_seconds") >= v(before, "kvstore_uptime_seconds"),
              "uptime went back")


# ---------------------------------------------------------------------------
# backup, restore, verify


class Writers:
    """Threads writing unique keys over HTTP until stopped (or for at most
    `limit` seconds). acked[i] = key i of a thread once its 200 came back."""

    def __init__(self, stack, threads=3, limit=60.0):
        self.stack = stack
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked = []
        self.errors = []
        self.deadline = time.monotonic() + limit
        self.threads = [threading.Thread(target=self.run, args=(t,), daemon=True)
                        for t in range(threads)]

    def run(self, t):
        i = 0
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            key = "w%d-%06d" % (t, i)
            try:
                st, _, _, raw = self.stack.request(
                    "POST", "/set", {"key": key, "value": {"t": t, "i": i}})
            except Exception as e:   # noqa: BLE001
                self.errors.append(repr(e))
                return
            if st != 200:
                self.errors.append("%s: %d %r" % (key, st, raw[:200]))
                return
            with self.lock:
                self.acked.append((key, {"t": t, "i": i}))
            i += 1

    def __enter__(self):
        for th in self.threads:
            th.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for th in self.threads:
            th.join(timeout=30)
        return False

    def snapshot(self):
        with self.lock:
            return list(self.acked)

    def wait_for(self, n, timeout=30.0):
        end = time.monotonic() + timeout
        while len(self.acked) < n and time.monotonic() < end and not self.errors:
            time.sleep(0.05)
        check(len(self.acked) >= n and not self.errors,
              "writers stalled: %d acked, errors %s" % (len(self.acked), self.errors[:3]))


def backup_under_load(durability):
    data = scratch("data")
    os.makedirs(data)
    bk = scratch("backup")
    restored = scratch("restored")
    with harness.Stack(env={"KV_DURABILITY": durability}, data_dir=data) as s:
        set_key(s, "ttl-key", "soon", ttl=3600)
        with Writers(s) as w:
            w.wait_for(200)
            before = w.snapshot()
            out, _ = expect_admin(0, "backup", bk, data_dir=data)
            check("(running)" in out and "verified" in out, "backup said %r" % out)
            during = len(w.acked) - len(before)
        check(not w.errors, "writers failed: %s" % w.errors[:3])
        check(during > 0, "no write went on during the backup")
    check(os.path.exists(os.path.join(bk, "kvstore-backup.info")), "no backup info")
    expect_admin(0, "verify", bk)
    # "Another machine": a fresh directory, restored, verified, served.
    out, _ = expect_admin(0, "restore", bk, data_dir=restored)
    check("verified" in out, "restore said %r" % out)
    expect_admin(0, "verify", data_dir=restored)
    _, items = dump_lines(restored)
    missing = [k for k, v in before if k not in items or items[k]["value"] != v]
    check(not missing, "%d writes acknowledged before the backup are missing "
          "or wrong, e.g. %s" % (len(missing), missing[:5]))
    check(items.get("ttl-key", {}).get("expires") is not None, "ttl lost")
    with harness.Stack(data_dir=restored) as s:
        key, val = before[len(before) // 2]
        st, _, js, raw = s.request("GET", "/get?key=" + urllib.parse.quote(key))
        check(st == 200 and js["value"] == val, "restored service: %d %r" % (st, raw))


@test
def backup__under_write_load__restores_every_acknowledged_write():
    backup_under_load("sync")


@test
def backup__under_write_load_in_write_mode__restores_every_acknowledged_write():
    backup_under_load("write")


@test
def backup__stopped_store__verified_and_replaces_an_earlier_backup():
    data = scratch("data")
    os.makedirs(data)
    bk = scratch("backup")
    with harness.Stack(data_dir=data) as s:
        set_key(s, "one", 1)
    expect_admin(0, "backup", bk, data_dir=data)
    with harness.Stack(data_dir=data) as s:
        set_key(s, "two", 2)
    out, _ = expect_admin(0, "backup", bk, data_dir=data)
    check("(stopped)" in out, "backup said %r" % out)
    check(not os.path.exists(bk + ".new"), "staging directory left behind")
    restored = scratch("restored")
    expect_admin(0, "restore", bk, data_dir=restored)
    _, items = dump_lines(restored)
    check(set(items) == {"one", "two"}, "restored keys %r" % sorted(items))


def staging_dirs(data_dir):
    """The staging directories of hot backups inside a data directory."""
    return sorted(n for n in os.listdir(data_dir)
                  if n.startswith(".kvstore-backup."))


def log_numbers(data_dir):
    return sorted(int(n[4:]) for n in os.listdir(data_dir)
                  if n.startswith("log.") and n[4:].isdigit())


def backup_keys(bk):
    """The keys of the backup in bk when it is a good one: it verifies,
    restores into a fresh directory and that verifies too. Else None."""
    if not os.path.exists(os.path.join(bk, "kvstore-backup.info")):
        return None
    if admin("verify", bk)[0] != 0:
        return None
    restored = scratch("restored")
    if admin("restore", bk, data_dir=restored)[0] != 0:
        return None
    rc, out, _ = admin("dump", data_dir=restored)
    if rc != 0:
        return None
    return {json.loads(l)["key"]: json.loads(l)["value"] for l in out.splitlines()}


def start_slow_backup(bk, data_dir, delay_ms):
    """Starts a hot backup whose database copy sleeps delay_ms per chunk and
    waits until its staging directory holds log links. Returns the process."""
    p = subprocess.Popen([ADMIN, "-d", data_dir, "backup", bk],
                         env=admin_env({"KV_TEST_BACKUP_DELAY_MS": str(delay_ms)}),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    end = time.monotonic() + 20
    while time.monotonic() < end and p.poll() is None:
        dirs = staging_dirs(data_dir)
        if dirs and any(os.listdir(os.path.join(data_dir, d)) for d in dirs):
            return p
        time.sleep(0.02)
    p.kill()
    out, err = p.communicate()
    raise Failure("slow backup never staged: exit %s %r %r" % (p.returncode, out, err))


def fill(s, n, size, prefix="fill"):
    """Writes n keys of size bytes each, 10 a batch."""
    for j in range(0, n, 10):
        st, _, _, raw = s.request("POST", "/batch", {"operations": [
            {"op": "set", "key": "%s-%05d" % (prefix, i), "value": "x" * size}
            for i in range(j, min(n, j + 10))]})
        check(st == 200, "fill: %d %r" % (st, raw[:200]))


@test
def backup__into_a_backup_holding_other_files__refused_and_nothing_deleted():
    # The reproduction of issue 9 fault 1: the second backup used to delete
    # the first one file by file, then remove the new one on failure.
    data = scratch("data")
    os.makedirs(data)
    bk = scratch("backup")
    with harness.Stack(data_dir=data) as s:
        set_key(s, "first", 1)
        expect_admin(0, "backup", bk, data_dir=data)
        with open(os.path.join(bk, "NOTES"), "w") as f:
            f.write("the user's own notes")
        files = sorted(os.listdir(bk))
        set_key(s, "second", 2)
        _, err = expect_admin(1, "backup", bk, data_dir=data)
    check("NOTES" in err and "refusing" in err, "backup said %r" % err)
    check(sorted(os.listdir(bk)) == files, "backup changed: %r, was %r"
          % (sorted(os.listdir(bk)), files))
    check(not os.path.exists(bk + ".new") and not os.path.exists(bk + ".old"),
          "left %r" % [p for p in (bk + ".new", bk + ".old") if os.path.exists(p)])
    os.unlink(os.path.join(bk, "NOTES"))
    check(set(backup_keys(bk) or {}) == {"first"}, "the earlier backup is damaged")


# Where kvstore-admin backup stops itself with SIGKILL when
# KV_TEST_BACKUP_KILL_AT names the step (src/admin_backup.c).
BACKUP_STEPS = ("copied", "verified", "moved-aside", "moved-in")


@test
def backup__killed_at_each_step__never_leaves_fewer_good_backups():
    data = scratch("data")
    os.makedirs(data)
    bk = scratch("backup")
    with harness.Stack(data_dir=data) as s:
        set_key(s, "gen", 0)
        expect_admin(0, "backup", bk, data_dir=data)
        for gen, step in enumerate(("copying",) + BACKUP_STEPS, start=1):
            set_key(s, "gen", gen)
            old = backup_keys(bk)
            check(old is not None, "%s: no good backup to start from" % step)
            if step == "copying":
                p = start_slow_backup(bk, data, 200)
                p.kill()
                p.wait()
                rc = p.returncode
            else:
                rc, out, err = admin("backup", bk, data_dir=data,
                                     env={"KV_TEST_BACKUP_KILL_AT": step})
            check(rc == -9, "%s: backup not killed there: exit %s" % (step, rc))
            # Whatever the step, a good backup at least as new as the one
            # before is still there: in place, or beside it.
            found = [d for d in (bk, bk + ".new", bk + ".old")
                     if os.path.isdir(d) and (backup_keys(d) or {}).get("gen", -1)
                     >= (old or {}).get("gen", 0)]
            check(found, "%s: no good backup left among %r" % (
                step, [d for d in (bk, bk + ".new", bk + ".old") if os.path.exists(d)]))
            if os.path.exists(bk):
                check(backup_keys(bk) is not None, "%s: %s is not a good backup" % (step, bk))
            # The next backup puts things right.
            out, _ = expect_admin(0, "backup", bk, data_dir=data)
            got = backup_keys(bk)
            check(got is not None and got.get("gen") == gen,
                  "%s: next backup holds %r, want gen %d" % (step, got, gen))
            left = [d for d in (bk + ".new", bk + ".old") if os.path.exists(d)]
            check(not left, "%s: next backup left %r" % (step, left))


@test
def backup__long_hot_backup_over_many_checkpoints__keeps_every_log_file():
    # Log files of 64 KiB (DB_CONFIG) and a checkpoint a second, so that
    # while the slowed copy of the database runs, log files are created and
    # would be removed again many times over.
    data = scratch("data")
    os.makedirs(data)
    with open(os.path.join(data, "DB_CONFIG"), "w") as f:
        f.write("set_lg_max 65536\n")
    bk = scratch("backup")
    with harness.Stack(env={"KV_TEST_CHECKPOINT_S": "1"}, data_dir=data) as s:
        fill(s, 150, 10000)
        with Writers(s) as w:
            w.wait_for(200)
            before = w.snapshot()
            first = log_numbers(data)
            t0 = time.monotonic()
            out, err = expect_admin(0, "backup", bk, data_dir=data,
                                    env={"KV_TEST_BACKUP_DELAY_MS": "250"})
            took = time.monotonic() - t0
            last = log_numbers(data)
        check(not w.errors, "writers failed: %s" % w.errors[:3])
    print("  (backup took %.1f s over log files %d..%d)" % (took, first[-1], last[-1]))
    # The test means something only if the log moved on a lot meanwhile.
    check(took > 2 and last[-1] - first[-1] >= 5,
          "backup took %.1f s over log files %s..%s: too little to show anything"
          % (took, first[-1], last[-1]))
    items = backup_keys(bk)
    check(items is not None, "backup is not good:\n%s" % err[-2000:])
    missing = [k for k, v in before if items.get(k) != v]
    check(not missing, "%d writes acknowledged before the backup are missing, "
          "e.g. %s" % (len(missing), missing[:5]))
    check(len([k for k in items if k.startswith("fill-")]) == 150, "fill keys lost")


@test
def backup__interrupted__staging_cleaned_by_next_backup_and_at_start():
    data = scratch("data")
    os.makedirs(data)
    with harness.Stack(data_dir=data) as s:
        fill(s, 30, 10000)
        p = start_slow_backup(scratch("backup"), data, 300)
        p.kill()
        p.wait()
        check(len(staging_dirs(data)) == 1, "no staging left to clean: %r"
              % os.listdir(data))
        expect_admin(0, "backup", scratch("backup"), data_dir=data)
        check(staging_dirs(data) == [], "next backup left %r" % staging_dirs(data))
        p = start_slow_backup(scratch("backup"), data, 300)
        p.kill()
        p.wait()
        check(len(staging_dirs(data)) == 1, "no staging left to clean")
    with harness.Stack(data_dir=data) as s:
        check(staging_dirs(data) == [], "service start left %r" % staging_dirs(data))


@test
def backup__concurrent_backups__neither_removes_the_other_ones_staging():
    data = scratch("data")
    os.makedirs(data)
    slow_bk = scratch("backup")
    with harness.Stack(env={"KV_TEST_CHECKPOINT_S": "1"}, data_dir=data) as s:
        fill(s, 30, 10000)
        with Writers(s, threads=1) as w:
            w.wait_for(50)
            before = w.snapshot()
            p = start_slow_backup(slow_bk, data, 150)
            held = staging_dirs(data)
            expect_admin(0, "backup", scratch("backup"), data_dir=data)
            time.sleep(1.5)     # a checkpoint or two of the service
            check(set(held) <= set(staging_dirs(data)) or p.poll() is not None,
                  "the running backup's staging %r was removed" % held)
            out, err = p.communicate(timeout=120)
        check(p.returncode == 0, "slow backup: exit %d %r" % (p.returncode, err))
    items = backup_keys(slow_bk)
    check(items is not None and all(items.get(k) == v for k, v in before),
          "slow backup misses writes")


# ---------------------------------------------------------------------------
# dump and load


# (key, value as raw JSON text): the service keeps number spellings.
ODD_ITEMS = [
    ("plain", '"hello"'),
    ("numbers keep their text", '{"a":1.50,"b":-7,"c":1e2}'),
    ("\u00fcn\u00efc\u00f8d\u00e9/\u043a\u043b\u044e\u0447 \U0001f5dd",
     '["x",null,true,{"nested":[1,[2,[3]]]}]'),
    ("quote\"back\\slash", '"va\\"l\\\\ue\\n"'),
    ("big", '"' + "x" * 100000 + '"'),
]


@test
def dump_load__into_an_empty_store__gives_an_identical_dump():
    data = scratch("data")
    os.makedirs(data)
    with harness.Stack(data_dir=data) as s:
        for k, v in ODD_ITEMS:
            body = '{"key":%s,"value":%s}' % (json.dumps(k), v)
            st, _, _, raw = s.request("POST", "/set", body)
            check(st == 200, "set %r: %r" % (k, raw))
        set_key(s, "expiring", 42, ttl=3600)
        # More than one dump page and one load chunk.
        for j in range(25):
            st, _, _, raw = s.request("POST", "/batch", {"operations": [
                {"op": "set", "key": "bulk%02d-%03d" % (j, i), "value": i}
                for i in range(100)]})
            check(st == 200, "batch: %r" % raw[:200])
        # Dumped from the running service.
        live_out, _ = expect_admin(0, "dump", data_dir=data)
    lines = live_out.splitlines()
    check(len(lines) == len(ODD_ITEMS) + 1 + 2500, "dump has %d lines" % len(lines))
    check('"value":{"a":1.50,"b":-7,"c":1e2}' in live_out, "number text not kept")
    for line in lines:
        json.loads(line)
    empty = scratch("empty")
    out, _ = expect_admin(0, "load", data_dir=empty, stdin=live_out.encode())
    check(("loaded %d keys" % len(lines)) in out, "load said %r" % out)
    again, _ = expect_admin(0, "dump", data_dir=empty)
    check(again == live_out, "dump after load differs")
    expect_admin(0, "verify", data_dir=empty)


@test
def load__bad_lines__reported_by_number_and_the_rest_loaded():
    data = scratch("data")
    text = "\n".join([
        '{"key":"good1","value":1}',
        'not json',
        '{"key":"","value":1}',
        '{"key":"novalue"}',
        '{"key":"bad\\u0001key","value":1}',
        '{"key":"nan","value":NaN}',
        '{"key":"old","value":1,"expires":1000}',
        '{"key":"badexp","value":1,"expires":"soon"}',
        '{"key":"good2","value":{"x":[1,2]},"expires":null}',
    ]) + "\n"
    out, err = expect_admin(1, "load", data_dir=data, stdin=text.encode())
    for n in (2, 3, 4, 5, 6, 8):
        check(("line %d:" % n) in err, "line %d not reported:\n%s" % (n, err))
    for n in (1, 7, 9):
        check(("line %d:" % n) not in err, "line %d reported:\n%s" % (n, err))
    check("loaded 2 keys" in out and "1 already expired" in out and "6 bad" in out,
          "load said %r" % out)
    _, items = dump_lines(data)
    check(sorted(items) == ["good1", "good2"], "loaded %r" % sorted(items))


# ---------------------------------------------------------------------------
# stats, refusals, exit codes


@test
def stats__running_and_stopped__count_the_keys():
    data = scratch("data")
    os.makedirs(data)
    with harness.Stack(data_dir=data) as s:
        for i in range(7):
            set_key(s, "k%d" % i, i, ttl=3600 if i < 2 else None)
        out, _ = expect_admin(0, "stats", data_dir=data)
        check("service running" in out and "\nkeys 7\n" in out and
              "\nkeys_expiring 2\n" in out, "stats said %r" % out)
    out, _ = expect_admin(0, "stats", data_dir=data)
    check("service stopped" in out and "\nkeys 7\n" in out, "stats said %r" % out)


@test
def admin__misuse__clear_errors_and_exit_codes():
    data = scratch("data")
    os.makedirs(data)
    notes = scratch("notes")
    os.makedirs(notes)
    with open(os.path.join(notes, "keep.txt"), "w") as f:
        f.write("mine")
    expect_admin(2)                                      # no command
    expect_admin(2, "frobnicate", data_dir=data)         # unknown command
    expect_admin(2, "backup", data_dir=data)             # missing operand
    expect_admin(2, "dump", "extra", data_dir=data)      # extra operand
    expect_admin(2, "stats")                             # no data directory
    _, err = expect_admin(1, "dump", data_dir=scratch("nowhere"))
    check("No such file" in err, "wrong dir said %r" % err)
    _, err = expect_admin(1, "stats", data_dir=notes)
    check("not a kvstore-fcgi data directory" in err, "said %r" % err)
    _, err = expect_admin(1, "restore", notes, data_dir=scratch("r"))
    check("not a kvstore-fcgi data directory" in err or "not a backup" in err,
          "said %r" % err)
    with harness.Stack(data_dir=data) as s:
        set_key(s, "k", 1)
        _, err = expect_admin(1, "load", data_dir=data, stdin=b'{"key":"x","value":1}\n')
        check("running" in err, "load on a live store said %r" % err)
        _, err = expect_admin(1, "verify", data_dir=data)
        check("running" in err, "verify on a live store said %r" % err)
        # A directory that is neither empty nor a backup is left alone.
        _, err = expect_admin(1, "backup", notes, data_dir=data)
        check("refusing" in err, "backup into notes said %r" % err)
        check(os.listdir(notes) == ["keep.txt"], "notes touched: %r" % os.listdir(notes))
        bk = scratch("backup")
        expect_admin(0, "backup", bk, data_dir=data)
        _, err = expect_admin(1, "restore", bk, data_dir=data)
        check("running" in err, "restore over a live store said %r" % err)
    # Stopped but not empty: still refused.
    _, err = expect_admin(1, "restore", bk, data_dir=data)
    check("not empty" in err, "restore over a store said %r" % err)
    out, _ = expect_admin(0, "--help")
    for word in ("backup", "restore", "dump", "load", "verify", "stats",
                 "exit status"):
        check(word in out, "--help lacks %s" % word)


def main(argv):
    global TMP
    selected = [(n, f) for n, f in TESTS if not argv[1:] or any(a in n for a in argv[1:])]
    if not os.access(ADMIN, os.X_OK):
        print("FAIL kvstore-admin not built: %s" % ADMIN)
        return 1
    TMP = tempfile.mkdtemp(prefix="kvops.", dir="/tmp")
    passed = failed = 0
    try:
        for name, fn in selected:
            t = time.monotonic()
            try:
                fn()
                passed += 1
                print("PASS %s (%.2fs)" % (name, time.monotonic() - t))
            except Failure as e:
                failed += 1
                print("FAIL %s: %s" % (name, e))
            except Exception:   # noqa: BLE001
                failed += 1
                print("FAIL %s: error:\n%s" % (name, traceback.format_exc().rstrip()))
            sys.stdout.flush()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
