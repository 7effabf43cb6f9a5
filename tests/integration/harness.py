"""Start and stop the real kvstore-fcgi stack (scripts/stack: spawn-fcgi +
the service + an unprivileged nginx rendered from nginx/kvstore-fcgi.conf)
and talk HTTP to it. Python 3 standard library only.

Shared by the integration suites (API tests, crash tests, ...):

    from harness import Stack
    with Stack(env={"KV_MAX_BATCH_OPS": "4"}) as s:
        status, headers, body, raw = s.request("POST", "/set", {"key": "k", "value": 1})

Environment read here:
    KV_TOP_SRCDIR   source tree (default: two levels above this file)
    KV_BINARY       the built kvstore-fcgi (default: $KV_TOP_SRCDIR/kvstore-fcgi)
    NGINX, SPAWN_FCGI  passed on to scripts/stack when set and non-empty

Only 127.0.0.1 is ever contacted. Every wait is bounded in time, and a
stack is always stopped (SIGTERM, then SIGKILL of its whole process group).
"""

import atexit
import errno
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HOST = "127.0.0.1"

# What AddressSanitizer, LeakSanitizer and UBSan print when a sanitizer
# build of the service finds something. Stack.stop() looks for them in the
# service's log; any finding fails the whole run (exit status 1) at exit,
# whatever the suite itself reported, since leaks show only at shutdown.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:")
_sanitizer_findings = []


def _exit_on_sanitizer_findings():
    if _sanitizer_findings:
        sys.stdout.flush()
        sys.stderr.write("FAIL: the service reported sanitizer errors:\n%s\n"
                         % "\n".join(_sanitizer_findings))
        sys.stderr.flush()
        os._exit(1)


atexit.register(_exit_on_sanitizer_findings)

TOP_SRCDIR = os.environ.get("KV_TOP_SRCDIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def default_binary():
    return os.environ.get("KV_BINARY") or os.path.join(TOP_SRCDIR, "kvstore-fcgi")


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def encode_body(body):
    """None -> None; bytes as is; str -> UTF-8; anything else -> compact JSON."""
    if body is None or isinstance(body, (bytes, bytearray)):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class StackError(Exception):
    pass


class Stack:
    """One running stack. `env` overrides/extends the environment given to
    scripts/stack (KV_MAX_VALUE, KV_THREADS, ...). `data_dir` puts the store
    outside the temporary var dir so that it survives stop() (persistence and
    crash tests); by default the store lives in the var dir and is removed
    with it."""

    def __init__(self, env=None, data_dir=None, binary=None, start_timeout=20.0):
        self.env_overrides = dict(env or {})
        self.data_dir = data_dir
        self.binary = binary or default_binary()
        self.start_timeout = start_timeout
        self.port = None
        self.var_dir = None
        self.proc = None
        self.log_path = None
        self._log_file = None

    # -- lifecycle -------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        if self.proc is not None:
            raise StackError("stack already started")
        stack_script = os.path.join(TOP_SRCDIR, "scripts", "stack")
        if not os.path.exists(stack_script):
            raise StackError("missing %s" % stack_script)
        if not os.access(self.binary, os.X_OK):
            raise StackError("service binary %s not built" % self.binary)
        if self.var_dir is None:
            # Short path: the unix socket lives in here (108-byte limit).
            self.var_dir = tempfile.mkdtemp(prefix="kvit.", dir="/tmp")
        self.port = free_port()
        env = dict(os.environ)
        # A caller's environment must not redirect this instance elsewhere.
        for k in ("KV_DATA_DIR", "KV_VAR_DIR", "KV_PORT"):
            env.pop(k, None)
        for k in ("NGINX", "SPAWN_FCGI"):
            if not env.get(k):
                env.pop(k, None)
        env.update({
            "KV_PORT": str(self.port),
            "KV_VAR_DIR": self.var_dir,
            "KV_BINARY": self.binary,
        })
        if self.data_dir is not None:
            env["KV_DATA_DIR"] = self.data_dir
        env.update({k: str(v) for k, v in self.env_overrides.items()})
        self.log_path = os.path.join(self.var_dir, "stack.log")
        self._log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["bash", stack_script], env=env, cwd=self.var_dir,
            stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT,
            start_new_session=True)
        try:
            self.wait_healthy(self.start_timeout)
        except Exception:
            log = self.read_log()
            self.stop()
            raise StackError("stack did not become healthy on port %d:\n%s"
                             % (self.port, log))
        return self

    def wait_healthy(self, timeout):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StackError("stack exited with status %s" % self.proc.returncode)
            try:
                st, _, body, _ = self.request("GET", "/health", timeout=2.0)
                if st == 200:
                    return body
                last = "status %d" % st
            except (OSError, http.client.HTTPException) as e:
                last = repr(e)
            time.sleep(0.1)
        raise StackError("GET /health not 200 within %.0f s (last: %s)" % (timeout, last))

    def stop(self, timeout=10.0, remove=True):
        """SIGTERM the stack, wait up to `timeout`, then SIGKILL its process
        group. Returns the stack's exit status (None if it had to be killed).
        Removes the var dir unless remove=False."""
        rc = None
        if self.proc is not None:
            rc = self.terminate(timeout)
            self.proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        report = self.sanitizer_report()
        if report:
            _sanitizer_findings.append(report)
        if remove and self.var_dir is not None:
            shutil.rmtree(self.var_dir, ignore_errors=True)
            self.var_dir = None
        return rc

    def terminate(self, timeout=10.0):
        p = self.proc
        rc = None
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                rc = p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                rc = None
        else:
            rc = p.returncode
        # Last resort, and cleanup of anything left behind in the group
        # (the stack is the leader of its own session/process group).
        self._kill_group()
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        return rc

    def kill(self):
        """SIGKILL the whole stack at once (crash tests). The var dir stays."""
        if self.proc is not None:
            self._kill_group()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None

    def _kill_group(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        except OSError as e:
            if e.errno != errno.ESRCH:
                raise

    def read_log(self, max_bytes=20000):
        if not self.log_path:
            return ""
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
        except OSError:
            return ""
        if max_bytes is not None:
            data = data[-max_bytes:]
        return data.decode("utf-8", "replace")

    CRASH_MARK = "kvstore-fcgi exited"

    def crash_count(self):
        """How often scripts/stack has seen the service die (and restarted it)."""
        return self.read_log(max_bytes=None).count(self.CRASH_MARK)

    def crash_lines(self, since=0):
        """The log lines around service deaths after the first `since`."""
        lines = self.read_log(max_bytes=None).splitlines()
        out, seen = [], 0
        for i, line in enumerate(lines):
            if self.CRASH_MARK in line:
                seen += 1
                if seen > since:
                    out.extend(l for l in lines[max(0, i - 3):i + 1]
                               if "connect() to unix:" not in l)
        return "\n".join(out)

    def service_pid(self):
        """The pid of the running kvstore-fcgi of this stack (its session's
        process of that name), or None."""
        if self.proc is None:
            return None
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    stat = f.read()
            except OSError:
                continue
            # "pid (comm) state ppid pgrp session ..."; comm may hold spaces.
            comm = stat[stat.find("(") + 1:stat.rfind(")")]
            fields = stat[stat.rfind(")") + 2:].split()
            if comm == "kvstore-fcgi" and int(fields[3]) == self.proc.pid:
                return int(entry)
        return None

    def sanitizer_report(self, context=40):
        """The service log from its first sanitizer finding on (at most
        `context` lines), or "" when there is none.

        A leak report right after a "fatal:" line does not count: the
        process was giving up at startup, and Berkeley DB leaks a little
        when opening a panicked environment fails (the full-disk test
        does that on purpose)."""
        lines = self.read_log(max_bytes=None).splitlines()
        last = ""
        for i, line in enumerate(lines):
            if line.startswith("kvstore-fcgi: "):
                last = line
            if any(m in line for m in SANITIZER_MARKS):
                if "LeakSanitizer" in line and last.startswith("kvstore-fcgi: fatal:"):
                    continue
                return "\n".join(lines[i:i + context])
        return ""

    # -- HTTP ------------------------------------------------------------

    @property
    def base_url(self):
        return "http://%s:%d" % (HOST, self.port)

    def request(self, method, path, body=None, headers=None, timeout=10.0):
        """One HTTP request on a fresh connection. `path` goes on the wire
        as given (percent-encode it yourself). Returns (status, headers with
        lowercased names, parsed JSON or None, raw body bytes)."""
        return request(self.port, method, path, body, headers, timeout)


def request(port, method, path, body=None, headers=None, timeout=10.0):
    data = encode_body(body)
    hdrs = {}
    if data is not None:
        hdrs["Content-Type"] = "application/json"
    for k, v in (headers or {}).items():
        hdrs[k] = v
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        try:
            conn.request(method, path, body=data, headers=hdrs)
        except (BrokenPipeError, ConnectionResetError):
            # The server may answer (413) and close before the whole body is
            # sent; its reply is still readable.
            pass
        resp = conn.getresponse()
        raw = resp.read()
        h = {}
        for k, v in resp.getheaders():
            k = k.lower()
            h[k] = v if k not in h else h[k] + ", " + v
        parsed = None
        if raw:
            try:
                parsed = json.loads(raw.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                parsed = None
        check_openapi(method, path, resp.status, h, raw)
        return resp.status, h, parsed, raw
    finally:
        conn.close()


def check_openapi(method, path, status, headers, raw):
    """Every reply a test receives must be one openapi.yaml describes
    (tests/integration/openapi_check.py): raises Failure if it is not."""
    import openapi_check
    problem = openapi_check.check_reply(method, path, status, headers, raw)
    if problem:
        raise Failure("reply does not match openapi.yaml: " + problem)


def tools_present():
    """(nginx, spawn-fcgi) paths as scripts/stack would find them, or None."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    nginx = os.environ.get("NGINX") or shutil.which("nginx", path=path)
    spawn = os.environ.get("SPAWN_FCGI") or shutil.which("spawn-fcgi")
    return nginx, spawn


# ---------------------------------------------------------------------------
# The test runner shared by the suites that drive one stack.


class Failure(AssertionError):
    """A test's check failed; the message says how."""


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def run_suite(tests, argv, stack, on_test=None, settle_always=False):
    """Starts `stack`, runs every (name, fn) of `tests` whose name contains
    one of argv[1:] (all when none is given), then stops the stack.

    A test fails when it raises, when the service died during it (the
    stack restarts it), or when the service's log shows a sanitizer report.
    Prints a PASS/FAIL line per test, the stack's log tail after failures
    and a closing "N passed, N failed" line. Returns the exit status.
    settle_always waits a moment after passing tests too, so that a crash
    a test caused is charged to it rather than to the next one."""
    selected = [(n, f) for n, f in tests
                if not argv[1:] or any(a in n for a in argv[1:])]
    names = [n for n, _ in tests]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        print("duplicate test names: %s" % dup)
        return 2
    t0 = time.monotonic()
    try:
        stack.start()
    except Exception as e:   # noqa: BLE001
        print("FAIL stack_starts: %s" % e)
        print("0 passed, 1 failed")
        stack.stop()
        return 1
    passed = failed = 0
    failures = []
    try:
        for name, fn in selected:
            if on_test is not None:
                on_test(name)
            t = time.monotonic()
            crashes = stack.crash_count()
            msg = None
            try:
                fn()
            except Failure as e:
                msg = str(e)
            except Exception:   # noqa: BLE001
                msg = "error:\n" + traceback.format_exc().rstrip()
            if msg is not None or settle_always:
                time.sleep(0.2)     # let the stack notice and log a dead service
            if stack.crash_count() != crashes:
                msg = ((msg + "\n") if msg else "") + \
                    "the service CRASHED during this test:\n" + \
                    stack.crash_lines(crashes)
            report = stack.sanitizer_report()
            if report:
                msg = ((msg + "\n") if msg else "") + "sanitizer report:\n" + report
            dt = time.monotonic() - t
            if msg is None:
                passed += 1
                print("PASS %s (%.2fs)" % (name, dt))
            else:
                failed += 1
                failures.append(name)
                print("FAIL %s (%.2fs)\n    %s" % (name, dt, msg.replace("\n", "\n    ")))
                # The stack restarts a dead service; later tests need it back.
                try:
                    stack.wait_healthy(15)
                except Exception as e:   # noqa: BLE001
                    print("    stack did not recover: %s" % e)
            sys.stdout.flush()
        if failed:
            print("---- stack log (tail, nginx upstream-connect noise removed) ----")
            print("\n".join(l for l in stack.read_log(200000).splitlines()
                            if "connect() to unix:" not in l)[-8000:])
            print("---- end of stack log ----")
    finally:
        stack.stop()
    print("failed tests: %s" % ", ".join(failures) if failures else "all tests passed",
          "(%.1fs)" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1
