#!/usr/bin/env python3
"""The benchmark proper; bench/run installs what it needs and calls this.

Starts, on 127.0.0.1 only and each in its own temporary directory:
  hello   bench/hello.c behind the shipped nginx site (scripts/stack): the
          ceiling for any FastCGI application on this machine;
  kv      kvstore-fcgi, default durability (sync), same nginx site;
  kvw     kvstore-fcgi with KV_DURABILITY=write;
  webdis  Redis (unix socket, AOF with fsync every second) behind webdis;
  etcd    etcd's HTTP/JSON gateway (every write fsync'd, grouped by raft).
The scenarios include the hot-key workloads (every connection writing one
key; a compare-and-set counter on one key) next to random keys. The
results header records the machine's fdatasync latency.
Then drives every scenario with wrk (bench/load.lua) at each connection
count, repetition by repetition, interleaved so that a slow minute on the
shared machine hurts every system alike; reports medians.

Writes to --out: runs.csv (every run), results.csv (medians and ratios),
results.md (tables and the targets of the performance issue), rss.csv
(kvstore-fcgi's resident memory along the run) and throughput.png.
Every wait is bounded; every process started here is stopped at exit.
"""

import argparse
import csv
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HOST = "127.0.0.1"
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
NKEYS = 10000
VALUE = "0123456789abcdef0123456789abcdef"

# Every scenario: name, service it runs against, load.lua target and op,
# and the operation it belongs to in the tables.
SCENARIOS = [
    ("hello-get", "hello", "kv", "get"),
    ("hello-set", "hello", "kv", "set"),
    ("hellol-get", "hellol", "kv", "get"),
    ("kv-get", "kv", "kv", "get"),
    ("kv-set", "kv", "kv", "set"),
    ("kvw-set", "kvw", "kv", "set"),
    ("kv-tas", "kv", "kv", "tas"),
    ("kvw-tas", "kvw", "kv", "tas"),
    ("kv-batch", "kv", "kv", "batch"),
    ("kvw-batch", "kvw", "kv", "batch"),
    ("kv-list", "kv", "kv", "list"),
    ("kv-hotset", "kv", "kv", "hotset"),
    ("kv-hottas", "kv", "kv", "hottas"),
    ("kv-incr", "kv", "kv", "incr"),
    ("kvw-incr", "kvw", "kv", "incr"),
    ("webdis-get", "webdis", "webdis", "get"),
    ("webdis-set", "webdis", "webdis", "set"),
    ("webdis-batch", "webdis", "webdis", "batch"),
    ("webdis-hotset", "webdis", "webdis", "hotset"),
    ("webdis-hottas", "webdis", "webdis", "hottas"),
    ("webdis-incr", "webdis", "webdis", "incr"),
    ("etcd-get", "etcd", "etcd", "get"),
    ("etcd-set", "etcd", "etcd", "set"),
    ("etcd-tas", "etcd", "etcd", "tas"),
    ("etcd-batch", "etcd", "etcd", "batch"),
    ("etcd-list", "etcd", "etcd", "list"),
    ("etcd-hotset", "etcd", "etcd", "hotset"),
    ("etcd-hottas", "etcd", "etcd", "hottas"),
    ("etcd-incr", "etcd", "etcd", "incr"),
]

# One colour per system in every panel of the plot.
COLOURS = {
    "hello": "#7b3294",
    "hellol": "#999999",
    "kv": "#1b9e77",
    "kvw": "#2c7fb8",
    "webdis": "#d95f02",
    "etcd": "#b8a000",
}

LABELS = {
    "hello": "hello-world FastCGI (ceiling)",
    "hellol": "hello-world, libfcgi's lingering close",
    "kv": "kvstore-fcgi, sync",
    "kvw": "kvstore-fcgi, write",
    "webdis": "Redis + webdis",
    "etcd": "etcd 3.4 gateway",
}

WRITES = ("set", "tas", "batch", "hotset", "hottas", "incr")

OPS = {
    "get": "GET one key",
    "set": "SET one key",
    "tas": "test-and-set",
    "incr": "incr of one hot key",
    "batch": "batch of 10 sets",
    "list": "list 100 items",
    "hotset": "SET of one hot key",
    "hottas": "counter on one hot key (increments/s)",
}


def ceiling(op):
    """The hello-world scenario answering the same kind of request."""
    return "hello-set" if op in WRITES else "hello-get"


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def http_request(port, method, path, body=None, ctype="application/json",
                 timeout=10):
    c = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        headers = {"Content-Type": ctype} if body is not None else {}
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def wait_http(port, path, proc, what, method="GET", seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited during startup" % what)
        try:
            status, _ = http_request(port, method, path, timeout=2)
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError("%s did not answer on port %d" % (what, port))


def proc_children(pid):
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        rest = st[st.rindex(")") + 2:].split()
        if int(rest[1]) == pid:
            kids.append(int(d))
    return kids


def proc_comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def proc_rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def proc_cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return None
    rest = st[st.rindex(")") + 2:].split()
    return int(rest[11]) + int(rest[12])


class FsyncCounter:
    """Counts the fsync and fdatasync calls of one process while a run
    lasts, with perf's syscall tracepoints (no cost to the process). The
    store's environment is private to its process, so db5.3_stat cannot
    read its log statistics from outside."""

    EVENTS = "syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync"

    def __init__(self, pid, tmp):
        self.out = os.path.join(tmp, "perf-stat.%d" % pid)
        self.p = None
        if pid and shutil.which("perf"):
            self.p = subprocess.Popen(
                ["perf", "stat", "-x", ",", "-e", self.EVENTS, "-p",
                 str(pid), "-o", self.out], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
            time.sleep(0.2)

    def stop(self):
        """Returns the number of calls, or None if it could not count."""
        if self.p is None:
            return None
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return None
        n = 0
        try:
            with open(self.out) as f:
                for line in f:
                    fields = line.split(",")
                    if len(fields) > 2 and fields[2].startswith("syscalls:"):
                        if not fields[0].isdigit():
                            return None
                        n += int(fields[0])
        except OSError:
            return None
        return n


class Service:
    """One process tree started here, stopped by SIGTERM then SIGKILL of
    its own process group."""

    def __init__(self, name, tmp):
        self.name = name
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.procs = []
        self.port = free_port()
        self.app_pid = None

    def spawn(self, argv, env=None, unprivileged=False):
        if unprivileged and os.getuid() == 0:
            # The peers run as nobody, in a directory of their own.
            subprocess.run(["chown", "-R", "nobody:nogroup", self.dir],
                           check=True)
            argv = ["setpriv", "--reuid=nobody", "--regid=nogroup",
                    "--clear-groups", "--"] + argv
        logf = open(os.path.join(self.dir, "%s.log" % len(self.procs)), "ab")
        p = subprocess.Popen(argv, env=env, stdout=logf, stderr=logf,
                             stdin=subprocess.DEVNULL, cwd=self.dir,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGTERM)
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    log("%s: pid %d did not stop, killing its group"
                        % (self.name, p.pid))
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait(timeout=5)
                except ProcessLookupError:
                    pass

    def logs(self):
        out = []
        for i in range(len(self.procs)):
            try:
                with open(os.path.join(self.dir, "%d.log" % i), "rb") as f:
                    out.append(f.read()[-2000:].decode("utf-8", "replace"))
            except OSError:
                pass
        return "\n".join(out)


class Stack(Service):
    """scripts/stack (spawn-fcgi -n + nginx with the shipped site) around
    kvstore-fcgi or bench/hello."""

    def __init__(self, name, tmp, top, binary, env, hello=False):
        super().__init__(name, tmp)
        e = dict(os.environ)
        e.update(env)
        e.update({"KV_PORT": str(self.port), "KV_BINARY": binary,
                  "KV_VAR_DIR": os.path.join(self.dir, "var"),
                  "KV_LOG_LEVEL": "warn"})
        e.pop("KV_DATA_DIR", None)
        self.data_dir = os.path.join(self.dir, "var", "data")
        self.stack = self.spawn([os.path.join(top, "scripts", "stack")], e)
        self.hello = hello
        wait_http(self.port, "/get?key=k:00000" if self.hello
                  else "/health", self.stack, name)
        comm = os.path.basename(binary)[:15]
        for _ in range(50):
            kids = [k for k in proc_children(self.stack.pid)
                    if proc_comm(k) == comm]
            if kids:
                self.app_pid = kids[0]
                break
            time.sleep(0.1)

    def prefill(self):
        if self.hello:
            return
        for base in range(0, NKEYS, 100):
            ops = [{"op": "set", "key": "k:%05d" % i, "value": VALUE}
                   for i in range(base, base + 100)]
            self._post("/batch", {"operations": ops})
        ops = [{"op": "set", "key": "l:%03d" % i, "value": {"n": i}}
               for i in range(100)]
        self._post("/batch", {"operations": ops})
        # The hot counter starts at 0 (load.lua's first guess).
        self._post("/set", {"key": "ctr", "value": 0})

    def fill_wide(self, n=200000, size=200, clients=8):
        """Writes n keys "b:000000".. of size-byte string values in
        batches of 100, from several connections at once."""
        value = "x" * size

        def work(lo, hi):
            for base in range(lo, hi, 100):
                ops = [{"op": "set", "key": "b:%06d" % i, "value": value}
                       for i in range(base, min(base + 100, hi))]
                self._post("/batch", {"operations": ops})

        ts = [threading.Thread(target=work, args=(k * n // clients,
                                                  (k + 1) * n // clients))
              for k in range(clients)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    def _post(self, path, obj):
        status, body = http_request(self.port, "POST", path,
                                    json.dumps(obj).encode())
        if status != 200:
            raise RuntimeError("%s prefill: %d %s" % (self.name, status, body))

class Webdis(Service):
    def __init__(self, tmp, threads):
        super().__init__("webdis", tmp)
        sock = os.path.join(self.dir, "redis.sock")
        with open(os.path.join(self.dir, "redis.conf"), "w") as f:
            f.write("port 0\nunixsocket %s\nunixsocketperm 700\n"
                    "dir %s\nsave \"\"\nappendonly yes\n"
                    "appendfsync everysec\ndaemonize no\n"
                    "logfile %s/redis.log\n" % (sock, self.dir, self.dir))
        with open(os.path.join(self.dir, "webdis.json"), "w") as f:
            json.dump({"redis_host": sock, "redis_port": 0,
                       "redis_auth": None, "http_host": HOST,
                       "http_port": self.port, "threads": threads,
                       "pool_size": 20, "daemonize": False,
                       "database": 0, "verbosity": 1,
                       "logfile": os.path.join(self.dir, "webdis.log")}, f)
        redis = self.spawn(["redis-server",
                            os.path.join(self.dir, "redis.conf")],
                           unprivileged=True)
        for _ in range(100):
            if os.path.exists(sock):
                break
            if redis.poll() is not None:
                raise RuntimeError("redis-server exited: " + self.logs())
            time.sleep(0.05)
        w = self.spawn(["webdis", os.path.join(self.dir, "webdis.json")],
                       unprivileged=True)
        wait_http(self.port, "/PING", w, "webdis")

    def prefill(self):
        for base in range(0, NKEYS, 100):
            args = "/".join("k:%05d/%s" % (i, VALUE)
                            for i in range(base, base + 100))
            status, body = http_request(self.port, "POST", "/",
                                        ("MSET/" + args).encode(),
                                        "text/plain")
            if status != 200:
                raise RuntimeError("webdis prefill: %d %s" % (status, body))


def b64(s):
    import base64
    return base64.b64encode(s.encode()).decode()


class Etcd(Service):
    def __init__(self, tmp):
        super().__init__("etcd", tmp)
        peer = free_port()
        url = "http://%s:%d" % (HOST, self.port)
        purl = "http://%s:%d" % (HOST, peer)
        p = self.spawn(["etcd", "--name", "bench",
                        "--data-dir", os.path.join(self.dir, "data"),
                        "--listen-client-urls", url,
                        "--advertise-client-urls", url,
                        "--listen-peer-urls", purl,
                        "--initial-advertise-peer-urls", purl,
                        "--initial-cluster", "bench=" + purl,
                        "--logger", "zap", "--log-level", "warn"],
                       unprivileged=True)
        wait_http(self.port, "/health", p, "etcd")

    def prefill(self):
        for base in range(0, NKEYS, 100):
            self._txn([("k:%05d" % i, VALUE) for i in range(base, base + 100)])
        self._txn([("l:%03d" % i, '{"n":%d}' % i) for i in range(100)])
        self._txn([("ctr", "0")])

    def _txn(self, kvs):
        body = {"success": [{"requestPut": {"key": b64(k), "value": b64(v)}}
                            for k, v in kvs]}
        status, out = http_request(self.port, "POST", "/v3/kv/txn",
                                   json.dumps(body).encode())
        if status != 200:
            raise RuntimeError("etcd prefill: %d %s" % (status, out))


def run_wrk(port, target, op, conns, seconds, check=False):
    threads = min(2, conns)
    argv = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds,
            "--timeout", "2s", "-s", os.path.join(HERE, "load.lua"),
            "http://%s:%d/" % (HOST, port), "--", target, op]
    if check:
        argv.append("check")
    r = subprocess.run(argv, capture_output=True, text=True,
                       timeout=seconds + 60)
    m = re.search(r"^BENCH (.*)$", r.stdout, re.M)
    if r.returncode != 0 or not m:
        raise RuntimeError("wrk failed (%d): %s %s" % (r.returncode,
                                                       r.stdout, r.stderr))
    res = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    # The counter counts what it achieved: successful increments.
    done = res["ok"] if op == "hottas" else res["requests"]
    res["rps"] = done * 1e6 / max(res["duration_us"], 1)
    res["stderr"] = r.stderr.strip()
    return res


def fdatasync_latency(directory, n=300):
    """Times n appends of 4 KiB, each followed by fdatasync, in directory
    (on the file system the stores write to). Returns (median, p90) in µs:
    the price of one durable commit on this machine, which bounds every
    durable write and differs a lot between machines."""
    path = os.path.join(directory, "fdatasync.probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    times = []
    try:
        buf = b"x" * 4096
        for _ in range(n):
            os.write(fd, buf)
            t0 = time.perf_counter()
            os.fdatasync(fd)
            times.append((time.perf_counter() - t0) * 1e6)
    finally:
        os.close(fd)
        os.unlink(path)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9)]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt_ratio(x):
    return "%.2f" % x if x is not None else ""


def service_threads(binary):
    """Worker threads of kvstore-fcgi with durability sync and write: both
    KV_THREADS if set, else the defaults printed by --help."""
    if os.environ.get("KV_THREADS"):
        return int(os.environ["KV_THREADS"]), int(os.environ["KV_THREADS"])
    out = subprocess.run([binary, "--help"], capture_output=True,
                         text=True).stdout
    m = re.search(r"env KV_THREADS, default (\d+) with sync, (\d+) with "
                  r"write", out)
    if m:
        return int(m.group(1)), int(m.group(2))
    m = re.search(r"env KV_THREADS, default (\d+)", out)
    return (int(m.group(1)),) * 2 if m else (4, 4)


def git_describe():
    try:
        rev = subprocess.run(["git", "-C", TOP, "rev-parse", "--short",
                              "HEAD"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", TOP, "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True,
                               timeout=10).stdout.strip()
        return rev + (" (with uncommitted changes)" if dirty else "")
    except OSError:
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kv-binary", required=True)
    ap.add_argument("--hello", required=True)
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--conns", default="1,4,32")
    ap.add_argument("--only", default="",
                    help="comma-separated scenario names (default: all)")
    ap.add_argument("--top", default=TOP,
                    help="tree whose scripts/stack and nginx site are used")
    ap.add_argument("--command", default="bench/run")
    a = ap.parse_args()
    # Before the run: the report rewrites tracked files in bench/results,
    # which would otherwise count as uncommitted changes.
    a.described = git_describe()

    conns = [int(c) for c in a.conns.split(",")]
    only = set(filter(None, a.only.split(",")))
    unknown = only - {s[0] for s in SCENARIOS}
    if unknown:
        ap.error("unknown scenarios: %s" % ", ".join(sorted(unknown)))
    scenarios = [s for s in SCENARIOS if not only or s[0] in only]
    threads, threads_write = service_threads(a.kv_binary)
    wanted = {s[1] for s in scenarios}

    tmp = tempfile.mkdtemp(prefix="kvbench.")
    os.chmod(tmp, 0o755)
    services = {}
    started = time.time()
    load_before = os.getloadavg()
    fsync_us = fdatasync_latency(tmp)
    log("fdatasync of a 4 KiB append: median %.0f µs, p90 %.0f µs"
        % fsync_us)
    try:
        log("starting %s (%d threads for the FastCGI apps)"
            % (", ".join(sorted(wanted)), threads))
        # kvstore-fcgi runs with its own defaults (the thread count
        # depends on the durability) unless KV_THREADS is set; the
        # hello-world responders with the default service's count.
        env = {"KV_THREADS": str(threads)}
        kv_env = {"KV_THREADS": os.environ["KV_THREADS"]} \
            if os.environ.get("KV_THREADS") else {}
        if "hello" in wanted:
            services["hello"] = Stack("hello", tmp, a.top, a.hello, env,
                                      hello=True)
        if "hellol" in wanted:
            services["hellol"] = Stack("hellol", tmp, a.top, a.hello,
                                       dict(env, HELLO_LINGER="1"),
                                       hello=True)
        if "kv" in wanted:
            services["kv"] = Stack("kv", tmp, a.top, a.kv_binary,
                                   dict(kv_env, KV_DURABILITY="sync"))
        if "kvw" in wanted:
            services["kvw"] = Stack("kvw", tmp, a.top, a.kv_binary,
                                    dict(kv_env, KV_DURABILITY="write"))
        if "webdis" in wanted:
            services["webdis"] = Webdis(tmp, os.cpu_count() or 2)
        if "etcd" in wanted:
            services["etcd"] = Etcd(tmp)
        for s in services.values():
            s.prefill()

        # A short checked round per scenario: a wrong reply from the
        # service under test fails the run; the peers' are reported.
        notes = []
        for name, svc, target, op in scenarios:
            r = run_wrk(services[svc].port, target, op, 4, 1, check=True)
            if not r["bad"] and not r["errors"] and r["checked"]:
                continue
            what = "%s: %d of %d replies wrong, %d errors: %s" % (
                name, r["bad"], r["checked"], r["errors"], r["stderr"])
            if svc in ("hello", "hellol", "kv", "kvw") or not r["checked"] or \
                    r["bad"] + r["errors"] > r["checked"] / 100:
                raise RuntimeError(what)
            log("warning: " + what)
            notes.append(what)
        log("replies checked; %d runs of %d s follow"
            % (a.reps * len(conns) * len(scenarios), a.duration))

        runs = []
        rss = []
        fsync = {}
        for rep in range(1, a.reps + 1):
            for c in conns:
                for name, svc, target, op in scenarios:
                    s = services[svc]
                    # Every write request is one commit.
                    counter = FsyncCounter(s.app_pid, tmp) \
                        if svc in ("kv", "kvw") and op in WRITES else None
                    cpu0 = proc_cpu_ticks(s.app_pid) if s.app_pid else None
                    r = run_wrk(s.port, target, op, c, a.duration)
                    cpu1 = proc_cpu_ticks(s.app_pid) if s.app_pid else None
                    if counter is not None:
                        n = counter.stop()
                        if n is not None:
                            f = fsync.setdefault((name, c), [0, 0])
                            f[0] += n
                            f[1] += r["requests"]
                    app_us = None
                    if cpu0 is not None and cpu1 is not None and r["requests"]:
                        app_us = (cpu1 - cpu0) * 1e6 / \
                            os.sysconf("SC_CLK_TCK") / r["requests"]
                    row = {"rep": rep, "scenario": name, "service": svc,
                           "op": op, "conns": c, "rps": round(r["rps"], 1),
                           "p50_us": r["p50_us"], "p99_us": r["p99_us"],
                           "max_us": r["max_us"], "errors": r["errors"],
                           "app_cpu_us": round(app_us, 1)
                           if app_us is not None else ""}
                    runs.append(row)
                    for k in ("kv", "kvw"):
                        if k in services and services[k].app_pid:
                            rss.append((round(time.time() - started, 1), k,
                                        proc_rss_kb(services[k].app_pid)))
                    log("rep %d c=%-3d %-13s %9.0f req/s  p50 %6.2f ms  "
                        "p99 %6.2f ms%s" % (rep, c, name, r["rps"],
                                            r["p50_us"] / 1000,
                                            r["p99_us"] / 1000,
                                            "  ERRORS %d" % r["errors"]
                                            if r["errors"] else ""))
        memory = memory_phase(services["kv"], max(10, 2 * a.duration),
                              rss, started) if "kv" in services else None
        report(a, scenarios, conns, runs, rss, fsync,
               (threads, threads_write), started, load_before, notes,
               memory, fsync_us)
    except Exception:
        for s in services.values():
            log("--- %s log tail ---\n%s" % (s.name, s.logs()))
        raise
    finally:
        for s in services.values():
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def memory_phase(kv, seconds, rss, started):
    """Fills kvstore-fcgi (sync) with 200,000 keys, about 90 MB on disk,
    far more than its default cache, then reads random ones for a while:
    its resident memory with the cache full. Returns (before, after fill,
    max while reading, at the end) in kB."""
    log("memory: filling kvstore-fcgi with 200,000 keys")
    before = proc_rss_kb(kv.app_pid)
    kv.fill_wide()
    filled = proc_rss_kb(kv.app_pid)
    samples = []
    done = threading.Event()

    def sample():
        while not done.wait(1.0):
            kb = proc_rss_kb(kv.app_pid)
            samples.append(kb)
            rss.append((round(time.time() - started, 1), "kv-full", kb))

    t = threading.Thread(target=sample)
    t.start()
    try:
        r = run_wrk(kv.port, "kv", "getwide", 32, seconds)
    finally:
        done.set()
        t.join()
    end = proc_rss_kb(kv.app_pid)
    log("memory: %.1f MB before, %.1f MB filled, %.1f MB max reading "
        "(%.0f req/s), %.1f MB at the end" % (
            before / 1024, filled / 1024, max(samples + [end]) / 1024,
            r["rps"], end / 1024))
    return before, filled, max(samples + [end]), end


def report(a, scenarios, conns, runs, rss, fsync, threads, started,
           load_before, notes, memory, fsync_us):
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "runs.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(runs[0].keys()))
        w.writeheader()
        w.writerows(runs)
    with open(os.path.join(a.out, "rss.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seconds", "service", "rss_kb"])
        w.writerows(rss)

    # Medians over the repetitions.
    m = {}
    for name, svc, target, op in scenarios:
        for c in conns:
            rs = [r for r in runs if r["scenario"] == name and r["conns"] == c]
            m[(name, c)] = {
                "rps": med([r["rps"] for r in rs]),
                "p50": med([r["p50_us"] for r in rs]),
                "p99": med([r["p99_us"] for r in rs]),
                "errors": sum(r["errors"] for r in rs),
                "app_cpu_us": med([r["app_cpu_us"] for r in rs
                                   if r["app_cpu_us"] != ""]),
            }

    def ratio(name, other, c, key="rps"):
        x, y = m.get((name, c)), m.get((other, c))
        if not x or not y or not x[key] or not y[key]:
            return None
        return x[key] / y[key]

    rows = []
    for name, svc, target, op in scenarios:
        for c in conns:
            x = m[(name, c)]
            fs = fsync.get((name, c))
            rows.append({
                "op": op, "system": svc, "scenario": name, "conns": c,
                "rps": round(x["rps"]), "p50_ms": round(x["p50"] / 1000, 3),
                "p99_ms": round(x["p99"] / 1000, 3),
                "x_hello": fmt_ratio(ratio(name, ceiling(op), c)),
                "x_webdis": fmt_ratio(ratio(name, "webdis-" + op, c))
                if svc != "webdis" else "",
                "x_etcd": fmt_ratio(ratio(name, "etcd-" + op, c))
                if svc != "etcd" else "",
                "fsyncs_per_commit": "%.2f" % (fs[0] / fs[1])
                if fs and fs[1] else "",
                "app_cpu_us_per_req": "%.0f" % x["app_cpu_us"]
                if x["app_cpu_us"] is not None else "",
                "errors": x["errors"],
            })
    with open(os.path.join(a.out, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)

    cmax = max(conns)
    md = []
    md.append("# kvstore-fcgi benchmark\n")
    md.append("Made by `%s` on %s, commit %s.\n" % (
        a.command, datetime.date.today().isoformat(), a.described))
    md.append("Machine: %d CPUs (%s), Linux %s; wrk, nginx and every server "
              "share these CPUs. Load average before the run: %.2f. "
              "%d repetition(s) of %d s per cell, medians.\n" % (
                  os.cpu_count(), platform.machine(), platform.release(),
                  load_before[0], a.reps, a.duration))
    md.append("fdatasync of a 4 KiB append on this machine (the price of "
              "one durable commit, measured at the start): median %.0f µs, "
              "p90 %.0f µs. Absolute figures differ a lot between "
              "machines: compare the ratios of one run, read against this "
              "latency.\n" % fsync_us)
    md.append("Worker threads: %d for the hello-world responders and "
              "kvstore-fcgi with sync, %d for kvstore-fcgi with write; all "
              "behind nginx/kvstore-fcgi.conf rendered by scripts/stack. "
              "Redis: AOF, fsync every second, unix socket, webdis with %d "
              "threads. etcd: single member, defaults (fsync per raft "
              "batch).\n" % (threads[0], threads[1], os.cpu_count() or 2))
    md.append("## Summary at %d connections\n" % cmax)
    md.append("| operation | system | req/s at 1 conn | req/s at %d | p50 ms "
              "| p99 ms | × hello | × webdis | × etcd | fsyncs/commit |"
              % cmax)
    md.append("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for name, svc, target, op in scenarios:
        r1 = next((r for r in rows if r["scenario"] == name
                   and r["conns"] == min(conns)), None)
        r = next(r for r in rows if r["scenario"] == name
                 and r["conns"] == cmax)
        md.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            OPS[op], LABELS[svc], r1["rps"] if r1 else "", r["rps"],
            r["p50_ms"], r["p99_ms"], r["x_hello"], r["x_webdis"],
            r["x_etcd"], r["fsyncs_per_commit"]))
    md.append("")
    md.append("## Targets\n")
    md.append("| target | measured | met |")
    md.append("|---|---|---|")

    def target(desc, val, limit, ge=True, unit="×"):
        if val is None:
            md.append("| %s | not measured | |" % desc)
            return
        ok = val >= limit if ge else val <= limit
        md.append("| %s | %.2f%s | %s |" % (desc, val, unit,
                                            "yes" if ok else "**no**"))

    target("GET ≥ 0.95× hello-world, %d conns" % cmax,
           ratio("kv-get", "hello-get", cmax), 0.95)
    target("GET ≥ 0.9× hello-world, 1 conn",
           ratio("kv-get", "hello-get", min(conns)), 0.9)
    target("SET, one hot key ≥ 1.5× etcd put of one key, %d conns" % cmax,
           ratio("kv-hotset", "etcd-hotset", cmax), 1.5)
    target("test-and-set counter on one hot key ≥ 1.5× etcd txn "
           "compare-and-put, %d conns" % cmax,
           ratio("kv-hottas", "etcd-hottas", cmax), 1.5)
    target("durable SET, random keys ≥ 1.8× etcd put, %d conns" % cmax,
           ratio("kv-set", "etcd-set", cmax), 1.8)
    target("batch of 10 sets ≥ 2× etcd txn of 10 puts, %d conns" % cmax,
           ratio("kv-batch", "etcd-batch", cmax), 2.0)
    target("list of 100 ≥ 0.6× hello-world, %d conns" % cmax,
           ratio("kv-list", "hello-get", cmax), 0.6)
    target("SET (write mode) ≥ 0.85× hello-world answering the same "
           "POST, %d conns" % cmax, ratio("kvw-set", "hello-set", cmax), 0.85)
    target("SET (write mode) ≥ 0.85× hello-world answering a GET, "
           "%d conns" % cmax, ratio("kvw-set", "hello-get", cmax), 0.85)
    target("test-and-set ≥ 0.8× SET (sync), %d conns" % cmax,
           ratio("kv-tas", "kv-set", cmax), 0.8)
    target("test-and-set ≥ 0.8× SET (write), %d conns" % cmax,
           ratio("kvw-tas", "kvw-set", cmax), 0.8)
    target("GET p99 ≤ 1.3× hello-world p99, %d conns" % cmax,
           ratio("kv-get", "hello-get", cmax, "p99"), 1.3, ge=False)
    kb = [x[2] for x in rss if x[2] is not None]
    target("resident memory under load ≤ 64 MB (max over the run, "
           "cache full included)",
           max(kb) / 1024 if kb else None, 64, ge=False, unit=" MB")
    md.append("")
    if memory:
        md.append("Resident memory of kvstore-fcgi (sync, default cache) "
                  "with the cache full: %.1f MB before, %.1f MB after "
                  "writing 200,000 keys of 200 bytes (about 90 MB on disk), "
                  "%.1f MB at most while reading random ones, %.1f MB at "
                  "the end.\n" % tuple(x / 1024 for x in memory))
    if kb:
        for svc in ("kv", "kvw"):
            s = [x[2] for x in rss if x[1] == svc and x[2] is not None]
            if len(s) >= 2:
                half = len(s) // 2
                md.append("Resident memory of %s: %.1f MB after the first "
                          "run, %.1f MB at the middle, %.1f MB at the end "
                          "(%d samples, rss.csv).\n" % (
                              LABELS[svc], s[0] / 1024, s[half] / 1024,
                              s[-1] / 1024, len(s)))
    md.append("## All cells\n")
    md.append("| scenario | conns | req/s | p50 ms | p99 ms | × hello | "
              "× webdis | × etcd | fsyncs/commit | app CPU µs/req | errors |")
    md.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        md.append("| %s | %d | %d | %s | %s | %s | %s | %s | %s | %s | %d |"
                  % (r["scenario"], r["conns"], r["rps"], r["p50_ms"],
                     r["p99_ms"], r["x_hello"], r["x_webdis"], r["x_etcd"],
                     r["fsyncs_per_commit"], r["app_cpu_us_per_req"],
                     r["errors"]))
    md.append("")
    for n in notes:
        md.append("Checked round (1 s, 4 connections, every reply "
                  "compared): %s\n" % n.replace("|", "\\|"))
    md.append("Load average after the run: %.2f; wall time %.0f s.\n" % (
        os.getloadavg()[0], time.time() - started))
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write("\n".join(md))
    plot(a.out, scenarios, conns, m)
    sys.stdout.write("\n".join(md) + "\n")
    log("results in %s" % a.out)


def plot(out, scenarios, conns, m):
    gp = shutil.which("gnuplot")
    if not gp:
        log("gnuplot not found: no plot")
        return
    ops = [op for op in OPS if any(s[3] == op for s in scenarios)]
    data = os.path.join(out, "throughput.dat")
    with open(data, "w") as f:
        for name, svc, target, op in scenarios:
            f.write("# %s\n" % name)
            for c in conns:
                f.write("%d %.1f\n" % (c, m[(name, c)]["rps"]))
            f.write("\n\n")
    idx = {s[0]: i for i, s in enumerate(scenarios)}
    cols = 3 if len(ops) > 2 else len(ops)
    rows = (len(ops) + cols - 1) // cols
    lines = ['set terminal pngcairo size %d,%d font ",9"' % (430 * cols,
                                                             330 * rows),
             'set output "%s"' % os.path.join(out, "throughput.png"),
             "set multiplot layout %d,%d title \"requests/s vs connections "
             "(wrk, 127.0.0.1)\"" % (rows, cols),
             "set logscale x 2", "set xtics (%s)" % ", ".join(
                 '"%d" %d' % (c, c) for c in conns),
             "set xrange [%g:%g]" % (min(conns) * 0.8, max(conns) * 1.25),
             "set yrange [0:*]", "set grid", "set key top left font \",8\"",
             "set xlabel \"connections\""]
    for op in ops:
        lines.append('set title "%s"' % OPS[op])
        parts = []
        for name, svc, target, o in scenarios:
            if o == op or name == ceiling(op):
                parts.append('"%s" index %d with linespoints lw 2 lc rgb '
                             '"%s" title "%s"' % (data, idx[name],
                                                  COLOURS[svc], LABELS[svc]))
        lines.append("plot " + ", ".join(parts))
    lines.append("unset multiplot")
    r = subprocess.run([gp], input="\n".join(lines), text=True,
                       capture_output=True, timeout=60)
    if r.returncode != 0:
        log("gnuplot failed: %s" % r.stderr)
    os.unlink(data)


if __name__ == "__main__":
    main()
