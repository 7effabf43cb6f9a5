#!/usr/bin/env python3
"""Disk-full test: the store on a small tmpfs that this test fills up.

While the disk is full, writes are refused with 503 and Retry-After
(never a 500, never a crash) and write nothing, reads, lists and the health
check keep working, and nothing committed before is damaged. Once space is
freed, writes succeed again without a restart. A service killed while the
disk is full cannot start again until there is room (recovery needs to
write), and then comes back by itself with every acknowledged write. After
a clean stop, db5.3_verify accepts the databases, and a restart finds
everything again. All of it in both durability modes.

Needs root (it mounts a tmpfs); exits 77 (skip) when it is not root or may
not mount. The mount is always removed.

Run:  KV_TOP_SRCDIR=. KV_BINARY=build/kvstore-fcgi python3 tests/integration/diskfull.py
Python 3 standard library only; only 127.0.0.1 is contacted.
"""

import errno
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

# Room for the Berkeley DB log file (10 MiB, written in full when the
# service starts) and the data, not much more: filling it is quick.
FS_SIZE = "32m"
RESTART_TIMEOUT = 30.0


class Failure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def q(key):
    return urllib.parse.quote(key, safe="")


def fill(path):
    """Writes `path` until the filesystem has no free block left."""
    chunk = b"\0" * (1 << 20)
    with open(path, "wb", buffering=0) as f:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 9):
            while True:
                try:
                    f.write(chunk[:size])
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    st = os.statvfs(os.path.dirname(path))
    check(st.f_bavail == 0, "the filesystem still has %d free blocks" % st.f_bavail)


class Book:
    """What the store must hold: acknowledged values, and keys whose writes
    were refused (503) and must therefore be absent."""

    def __init__(self, stack):
        self.s = stack
        self.acked = {}
        self.refused = set()
        self.statuses = {}

    def note(self, st, h, raw):
        self.statuses[st] = self.statuses.get(st, 0) + 1
        check(st in (200, 503), "write answered %d %r" % (st, raw[:300]))
        if st == 503:
            check(h.get("retry-after", "").strip().isdigit(),
                  "503 without Retry-After: %r" % h)

    def set(self, key, value, ttl=None):
        body = {"key": key, "value": value}
        if ttl:
            body["ttl"] = ttl
        st, h, _, raw = self.s.request("POST", "/set", body)
        self.note(st, h, raw)
        if st == 200:
            self.acked[key] = value
        else:
            self.refused.add(key)
        return st

    def batch(self, pairs):
        st, h, _, raw = self.s.request("POST", "/batch", {"atomic": True, "operations": [
            {"op": "set", "key": k, "value": v} for k, v in pairs]})
        self.note(st, h, raw)
        for k, v in pairs:
            if st == 200:
                self.acked[k] = v
            else:
                self.refused.add(k)
        return st

    def tas(self, key, new):
        st, h, js, raw = self.s.request("POST", "/test-and-set",
                                        {"key": key, "oldValue": None, "newValue": new})
        self.note(st, h, raw)
        if st == 200:
            check(js.get("conditionMet") is True, "test-and-set on a new key: %r" % js)
            self.acked[key] = new
        else:
            self.refused.add(key)
        return st

    def check_all(self, when):
        """Every acknowledged value is there; no refused write is."""
        for key, v in sorted(self.acked.items()):
            st, _, js, raw = self.s.request("GET", "/get/" + q(key))
            check(st == 200 and js.get("value") == v,
                  "%s: %s should hold %.80r: %d %r" % (when, key, v, st, raw[:200]))
        for key in sorted(self.refused - set(self.acked)):
            st, _, _, raw = self.s.request("GET", "/get/" + q(key))
            check(st == 404, "%s: refused write of %s is there: %d %r"
                  % (when, key, st, raw[:200]))


def write_mix(book, prefix, n):
    """n rounds of small and large sets, an atomic batch and a test-and-set
    on fresh keys. Returns how many writes were refused."""
    refused = 0
    for i in range(n):
        k = "%s/%03d" % (prefix, i)
        refused += book.set(k + "/small", {"i": i}) == 503
        refused += book.set(k + "/large", "L%d" % i + "x" * 200000) == 503
        refused += book.batch([("%s/batch/%d" % (k, j), {"i": i, "j": j, "pad": "p" * 3000})
                               for j in range(8)]) == 503
        refused += book.tas(k + "/tas", i) == 503
    return refused


def db_verify(data_dir):
    prog = os.environ.get("DB_VERIFY") or shutil.which("db5.3_verify") or "db5.3_verify"
    for db in ("kv.db", "expiry.db"):
        r = subprocess.run([prog, "-h", data_dir, db], cwd=data_dir,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        check(r.returncode == 0, "%s %s: exit %d: %s" % (
            prog, db, r.returncode, r.stdout.decode("utf-8", "replace")[-2000:]))


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise Failure("%s within %.0f s" % (what, timeout))
        time.sleep(0.1)


def scenario(mnt, mode):
    data = os.path.join(mnt, "data-" + mode)
    filler = os.path.join(mnt, "filler")
    os.mkdir(data, 0o700)
    env = {"KV_DURABILITY": mode}
    s = harness.Stack(data_dir=data, env=env)
    s.start()
    try:
        book = Book(s)
        # Committed before the disk fills: plain keys, a batch, keys that
        # expire later and keys that expire while the disk is full (the
        # sweeper then fails to delete them, and must fail quietly).
        for i in range(50):
            check(book.set("base/%03d" % i, {"i": i, "pad": "b" * 500}) == 200, "baseline set")
        check(book.batch([("base/batch/%d" % j, j) for j in range(8)]) == 200, "baseline batch")
        for i in range(5):
            check(book.set("base/ttl/%d" % i, i, ttl=3600) == 200, "baseline ttl")
        st, _, _, _ = s.request("POST", "/set", {"key": "gone/soon", "value": 1, "ttl": 1})
        check(st == 200, "short ttl set")
        crashes = s.crash_count()
        book.statuses = {}

        # 1. Full disk, the service running.
        fill(filler)
        refused = write_mix(book, "full", 6)
        check(refused > 0, "no write was refused on a full disk: %r" % book.statuses)
        time.sleep(2.5)     # the sweeper and the deadlock detector run
        refused += write_mix(book, "full2", 2)
        st, _, js, raw = s.request("GET", "/health")
        check(st == 200, "health on a full disk: %d %r" % (st, raw))
        book.check_all("disk full")
        st, _, js, raw = s.request("GET", "/list?prefix=base%2F&limit=1000")
        check(st == 200 and js["count"] == 50 + 8 + 5,
              "list on a full disk: %d %r" % (st, raw[:300]))
        st, _, _, _ = s.request("GET", "/get/gone%2Fsoon")
        check(st == 404, "an expired key is still readable: %d" % st)
        check(s.crash_count() == crashes, "the service died on a full disk:\n" +
              s.crash_lines(crashes))
        full_statuses = dict(book.statuses)

        # 2. Space freed: writes succeed again, without a restart.
        os.unlink(filler)
        check(write_mix(book, "freed", 3) == 0,
              "writes still refused after space was freed: %r" % book.statuses)
        book.check_all("space freed")
        check(s.crash_count() == crashes, "the service restarted:\n" + s.crash_lines(crashes))

        # 3. Killed while the disk is full: it cannot start again (recovery
        # writes), and comes back by itself once there is room.
        fill(filler)
        pid = s.service_pid()
        check(pid is not None, "no service process")
        os.kill(pid, 9)
        wait_for(lambda: s.crash_count() >= crashes + 2, RESTART_TIMEOUT,
                 "no failed restart seen on a full disk")
        st, _, _, _ = s.request("GET", "/health")
        check(st in (502, 503), "health with the service down: %d" % st)
        os.unlink(filler)
        s.wait_healthy(RESTART_TIMEOUT)
        book.check_all("restarted after the disk was full")
        check(write_mix(book, "after", 1) == 0, "writes refused after the restart")

        # 4. A clean stop, db5.3_verify, a restart.
        rc = s.stop()
        check(rc == 0, "clean stop: exit status %r" % rc)
        db_verify(data)
        s = harness.Stack(data_dir=data, env=env)
        s.start()
        book.s = s
        book.check_all("after a clean restart")
        check(s.crash_count() == 0, "the service died:\n" + s.crash_lines(0))
        print("    durability %s: full disk: %d writes answered 200, %d answered 503; freed: all 200; "
              "%d acknowledged values intact, %d refused writes absent"
              % (mode, full_statuses.get(200, 0), full_statuses.get(503, 0),
                 len(book.acked), len(book.refused - set(book.acked))))
    except Failure as e:
        raise Failure("%s\n---- stack log (tail) ----\n%s" % (e, "\n".join(
            l for l in s.read_log(200000).splitlines()
            if "connect() to unix:" not in l)[-3000:]))
    finally:
        s.stop()
        shutil.rmtree(data, ignore_errors=True)


def main():
    nginx, spawn = harness.tools_present()
    if not nginx or not spawn:
        print("SKIP: nginx or spawn-fcgi not installed")
        return 77
    if os.geteuid() != 0:
        print("SKIP: not root: cannot mount a small tmpfs")
        return 77
    mnt = tempfile.mkdtemp(prefix="kvfull.", dir="/tmp")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % FS_SIZE,
                        "tmpfs", mnt], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        os.rmdir(mnt)
        print("SKIP: cannot mount a tmpfs: %s" % r.stdout.decode("utf-8", "replace").strip())
        return 77
    t0 = time.monotonic()
    msg = None
    try:
        # Both durability modes: WRITE_NOSYNC also writes the log at commit.
        for mode in ("sync", "write"):
            scenario(mnt, mode)
    except Failure as e:
        msg = str(e)
    except Exception:   # noqa: BLE001
        msg = "error:\n" + traceback.format_exc().rstrip()
    finally:
        if subprocess.run(["umount", mnt]).returncode != 0:
            subprocess.run(["umount", "-l", mnt])
        try:
            os.rmdir(mnt)
        except OSError:
            pass
    name = "disk_full_refuses_writes_keeps_reads_and_recovers"
    if msg is not None:
        print("FAIL %s (%.1fs)\n    %s" % (name, time.monotonic() - t0,
                                         msg.replace("\n", "\n    ")))
        print("0 passed, 1 failed")
        return 1
    print("PASS %s (%.1fs)" % (name, time.monotonic() - t0))
    print("1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
