#!/usr/bin/env python3
"""`make check-deploy`: the README's Deployment section, done for real
under a real systemd.

A Debian 12 root (debootstrap: systemd, dbus, nginx, curl and the
libraries the service links) boots its own systemd in a systemd-nspawn
container. The test builds the source tree as the README's step 1 says
(its ./configure line), runs `make install` into the container's root,
boots it, and then runs the README's steps 2 to 5 inside, command for
command as they are written there, comparing the outputs the README
shows, so that the manual cannot drift from what works. Around them: a
fresh install refuses every request but /health with 401, and the token
step 5 revokes is refused after `systemctl reload kvstore-fcgi`. Then,
with a token of its own, through the container's nginx:

  - writes are served and the service runs as a dynamic user, with its
    socket and data directory as the README says;
  - kill -9 of the service: systemd restarts it, a request sent while it
    was down is answered, and every write is still there;
  - a forced Berkeley DB panic: the service exits and systemd restarts it
    (skipped, with a message, when the build has no way to force one);
  - a crash loop (the service fails at every start until the cause
    goes away, as on a full disk) is retried at the unit's calm pace and
    never given up: more failures than StartLimitBurst= leave neither unit
    failed, and the service comes back by itself once the cause is gone;
  - a usage error (status 2) is not restarted; the start limit ends the
    starts waiting connections trigger, and the documented commands
    recover;
  - `systemctl stop` of the service: the next request starts it again
    through the socket;
  - `systemd-analyze security` of the loaded unit rates it "SAFE".

The debootstrapped root is cached in $KV_DEPLOY_CACHE (default
/var/cache/kvstore-fcgi-test/), one directory per package list; the
first run builds it (about a minute or three, needs deb.debian.org or
$KV_DEPLOY_MIRROR). Every run works on an overlay of it that is thrown
away, so the cache never changes. The container has a private network
(its own loopback: nginx listens on 127.0.0.1:8787 as shipped, without
touching the host's ports), every wait is bounded, and the container is
always powered off (then killed) and its overlay removed, also when the
test fails or is interrupted. On a failure the container's journal is
printed.

Needs root, debootstrap and systemd-nspawn (systemd-container); exits 77
(skip) without them. Run from a build directory:

    make check-deploy
    KV_TOP_SRCDIR=. python3 tests/integration/check_deploy.py [step-substring...]

Python 3 standard library only.
"""

import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import traceback

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_deploy import Failure, Workdir, check, tool, wait_for  # noqa: E402

TOP_SRCDIR = harness.TOP_SRCDIR
README = os.path.join(TOP_SRCDIR, "README.md")

SUITE = "bookworm"
MIRROR = os.environ.get("KV_DEPLOY_MIRROR") or "http://deb.debian.org/debian"
CACHE = os.environ.get("KV_DEPLOY_CACHE") or "/var/cache/kvstore-fcgi-test"
# What the container needs besides the service's own libraries (found
# with ldd in the build, see runtime_packages). minbase keeps the root
# small; systemd-sysv makes systemd its init.
BASE_PACKAGES = ["systemd", "systemd-sysv", "dbus", "nginx", "curl"]
# Bump when the way the root is built changes: the cache key includes it.
ROOT_FORMAT = 1
# A cached root not used for this long is removed by the next run.
CACHE_KEEP_DAYS = 7

# The site as shipped listens here; inside the container's own network.
SITE = "http://127.0.0.1:8787"
UNIT = "kvstore-fcgi.service"
SOCKET_UNIT = "kvstore-fcgi.socket"
ENV_FILE = "/etc/kvstore-fcgi/kvstore-fcgi.env"
PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def log(msg):
    print(msg)
    sys.stdout.flush()


def clean_env():
    """The host environment for the build, without the calling make's
    jobserver and without test settings."""
    return {k: v for k, v in os.environ.items()
            if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")
            and not k.startswith(("KV_", "LISTEN_"))}


def run_host(args, timeout, what, cwd=None, env=None):
    """Runs a host command to completion; fails with its output."""
    try:
        r = subprocess.run(args, cwd=cwd, env=env if env is not None else clean_env(),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise Failure("%s: still running after %d s\n%s"
                      % (what, timeout, (e.output or "")[-3000:] if isinstance(e.output, str)
                         else ""))
    check(r.returncode == 0, "%s: exit status %d\n%s" % (what, r.returncode, r.stdout[-4000:]))
    return r.stdout


# ---------------------------------------------------------------------------
# The README's Deployment section


def readme_deployment():
    """{step number: [(command, expected output lines)]} from the ```sh
    blocks of the README's "### N. ..." subsections of ## Deployment.
    In a block without "$ " prompts every line is a command; with prompts,
    the lines after a command are its expected output. A trailing
    backslash continues a command on the next line."""
    with open(README) as f:
        text = f.read()
    m = re.search(r"^## Deployment\n(.*?)^## ", text, re.M | re.S)
    check(m, "README.md has no ## Deployment section")
    steps = {}
    for sm in re.finditer(r"^### (\d+)\. [^\n]*\n(.*?)(?=^### |\Z)", m.group(1), re.M | re.S):
        cmds = []
        for block in re.findall(r"^```sh\n(.*?)^```", sm.group(2), re.M | re.S):
            lines = block.rstrip("\n").split("\n")
            prompts = any(l.startswith("$ ") for l in lines)
            cur = None
            for line in lines:
                if cur is not None and cur[0].endswith("\\") and not cur[1]:
                    cur[0] = cur[0][:-1].rstrip() + " " + line.strip()
                elif prompts:
                    if line.startswith("$ "):
                        cur = [line[2:], []]
                        cmds.append(cur)
                    elif cur is not None:
                        cur[1].append(line)
                elif line.strip() and not line.lstrip().startswith("#"):
                    cur = [line.strip(), []]
                    cmds.append(cur)
        steps[int(sm.group(1))] = [(c, out) for c, out in cmds]
    for n in (1, 2, 3, 4):
        check(steps.get(n), "README.md: Deployment step %d has no commands" % n)
    return steps


def configure_args(step1):
    """The arguments of step 1's ./configure line, checking that the step
    is the build the test does: configure, make, make install."""
    cmds = [c for c, _ in step1]
    conf = [c for c in cmds if c.startswith("./configure")]
    check(len(conf) == 1, "README step 1: want one ./configure line, got %r" % cmds)
    check("make" in cmds and "make install" in cmds,
          "README step 1: want `make` and `make install` lines, got %r" % cmds)
    return shlex.split(conf[0])[1:]


# ---------------------------------------------------------------------------
# Building and installing


def build_for_install(wd, args):
    """Configures the source tree as README step 1 does, in its own build
    directory, and builds it. Returns the build directory."""
    configure = os.path.join(TOP_SRCDIR, "configure")
    check(os.access(configure, os.X_OK),
          "%s missing: run autoreconf -fi (scripts/dev build does)" % configure)
    bdir = wd.mkdir("build")
    run_host([configure, "-q"] + args, 300, "configure " + " ".join(args), cwd=bdir)
    run_host(["make", "-j%d" % (os.cpu_count() or 1)], 900, "make", cwd=bdir)
    return bdir


def package_of(path):
    """The Debian package that ships a library path (as ldd prints it)."""
    cands = [path, os.path.realpath(path)]
    for p in list(cands):
        if p.startswith("/usr/"):
            cands.append(p[4:])
        else:
            cands.append("/usr" + p)
    for p in cands:
        r = subprocess.run(["dpkg-query", "-S", p], capture_output=True, text=True, timeout=30)
        if r.returncode == 0:
            return r.stdout.split(":")[0].strip()
    raise Failure("no Debian package ships %s (needed by the service)" % path)


def runtime_packages(bdir):
    """The packages of the shared libraries the installed programs load."""
    pkgs = set()
    for prog in ("kvstore-fcgi", "kvstore-admin"):
        out = run_host(["ldd", os.path.join(bdir, prog)], 30, "ldd " + prog)
        for m in re.finditer(r"=> (/\S+) \(", out):
            pkgs.add(package_of(m.group(1)))
        check("not found" not in out, "ldd %s: a library is missing:\n%s" % (prog, out))
    return sorted(pkgs)


# ---------------------------------------------------------------------------
# The cached root


def mounts_under(path):
    """Mount points at or below path, deepest first."""
    path = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path + "/"):
                found.append(mp)
    return sorted(found, key=len, reverse=True)


def remove_tree(path):
    """Unmounts whatever is mounted below path (an interrupted debootstrap
    leaves /proc and /sys mounted in its target), then removes it."""
    if not os.path.lexists(path):
        return
    for mp in mounts_under(path):
        subprocess.run(["umount", "-l", mp], capture_output=True, timeout=60)
    left = mounts_under(path)
    if left:
        raise Failure("cannot remove %s: still mounted: %s" % (path, ", ".join(left)))
    shutil.rmtree(path, ignore_errors=True)


class CacheLock:
    """An exclusive lock on the cache while a root is built or pruned, so
    that parallel runs build it once. Waits at most `timeout` seconds."""

    def __init__(self, timeout=1200):
        self.timeout = timeout
        self.f = None

    def __enter__(self):
        os.makedirs(CACHE, exist_ok=True)
        self.f = open(os.path.join(CACHE, "lock"), "w")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise Failure("the cache %s is still locked after %d s (another "
                                  "run building its root?)" % (CACHE, self.timeout))
                time.sleep(1)

    def __exit__(self, *exc):
        self.f.close()
        return False


def cached_root(packages):
    """The path of a debootstrapped root with `packages`, built when the
    cache has none for this exact list. Roots of other lists that no run
    used for CACHE_KEEP_DAYS are removed."""
    key_text = json.dumps({"suite": SUITE, "variant": "minbase", "mirror": MIRROR,
                           "packages": sorted(packages), "format": ROOT_FORMAT},
                          sort_keys=True)
    key = hashlib.sha256(key_text.encode()).hexdigest()[:16]
    root = os.path.join(CACHE, "root-" + key)
    with CacheLock():
        # Only a holder of the lock builds, so any build directory left
        # here is from an interrupted run.
        for name in os.listdir(CACHE):
            if name.startswith("tmp-"):
                remove_tree(os.path.join(CACHE, name))
        for name in os.listdir(CACHE):
            p = os.path.join(CACHE, name)
            if name.startswith("root-") and os.path.isdir(p) and p != root:
                try:
                    age = time.time() - os.stat(p + ".used").st_mtime
                except OSError:
                    age = float("inf")
                if age > CACHE_KEEP_DAYS * 86400:
                    log("cache: removing %s (unused for %d days)" % (p, CACHE_KEEP_DAYS))
                    remove_tree(p)
                    if os.path.exists(p + ".used"):
                        os.unlink(p + ".used")
        if not os.path.isdir(root):
            tmp = os.path.join(CACHE, "tmp-%s-%d" % (key, os.getpid()))
            log("cache: building %s with debootstrap (%s, once per package list)"
                % (root, ", ".join(sorted(packages))))
            t = time.monotonic()
            try:
                run_host([tool("debootstrap"), "--variant=minbase",
                          "--include=" + ",".join(sorted(packages)), SUITE, tmp, MIRROR],
                         1800, "debootstrap %s into %s from %s" % (SUITE, tmp, MIRROR))
                with open(os.path.join(tmp, ".kvstore-fcgi-test"), "w") as f:
                    f.write(key_text + "\n")
                os.rename(tmp, root)
            finally:
                remove_tree(tmp)
            log("cache: built in %.0f s" % (time.monotonic() - t))
        else:
            log("cache: using %s" % root)
        with open(root + ".used", "w") as f:
            f.write(key_text + "\n")
    return root


# ---------------------------------------------------------------------------
# The container


class Container:
    """A throw-away overlay of the cached root, booted by systemd-nspawn.
    stop() always ends it: poweroff, then SIGKILL, then the overlay is
    unmounted and removed."""

    def __init__(self, wd, lower):
        self.wd = wd
        self.lower = lower
        self.root = wd.mkdir("root")
        self.name = "kvdeploy-%d" % os.getpid()
        self.proc = None
        self.leader = None
        self.token = None
        self.boot_log = wd.sub("boot.log")
        upper, work = wd.mkdir("upper"), wd.mkdir("work")
        run_host(["mount", "-t", "overlay", "overlay", "-o",
                  "lowerdir=%s,upperdir=%s,workdir=%s" % (lower, upper, work), self.root],
                 60, "mount the overlay on " + self.root)

    def boot(self):
        with open(self.boot_log, "ab") as out:
            self.proc = subprocess.Popen(
                [tool("systemd-nspawn"), "--quiet", "-D", self.root, "-M", self.name,
                 "--register=no", "--keep-unit", "--private-network", "--settings=no",
                 "--boot"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, env=clean_env())
        self.leader = wait_for(self._find_leader, 30, "the container's systemd to start")

        # "offline" until systemd has set itself up, "starting" until the
        # boot is done; "degraded" (some unit failed) is reported below.
        def booted():
            _, out = self.sh("systemctl is-system-running", ok=None)
            state = out.strip()
            return state if state in ("running", "degraded", "maintenance",
                                      "stopping") else None
        state = wait_for(booted, 120, "the container to boot")
        check(state in ("running", "degraded"), "the container's boot ended %r" % state)
        if state == "degraded":
            _, failed = self.sh("systemctl --failed --no-legend --plain", ok=None)
            log("note: container boot degraded: " + failed.strip())

    def _find_leader(self):
        """The container's init: a descendant of systemd-nspawn that is
        process 1 of its own PID namespace."""
        check(self.proc.poll() is None,
              "systemd-nspawn exited with status %s:\n%s" % (self.proc.returncode,
                                                             self.boot_tail()))
        todo = [self.proc.pid]
        for _ in range(4):
            kids = []
            for pid in todo:
                try:
                    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                        kids += [int(k) for k in f.read().split()]
                except OSError:
                    pass
            for k in kids:
                try:
                    with open("/proc/%d/status" % k) as f:
                        ns = re.search(r"^NSpid:\s+(.*)$", f.read(), re.M)
                except OSError:
                    continue
                if ns and ns.group(1).split()[-1] == "1" and len(ns.group(1).split()) > 1:
                    # Before it executes systemd it is still nspawn setting
                    # up the container's namespaces and root.
                    with open("/proc/%d/comm" % k) as f:
                        return k if f.read().strip() == "systemd" else None
            todo = kids
        return None

    def sh(self, cmd, timeout=60, ok=True, stdin=None, stderr=subprocess.STDOUT):
        """Runs a shell command inside the container as root, in a clean
        environment. ok=True fails unless it exits 0; returns (status,
        stdout+stderr), or (status, stdout, stderr) when stderr=PIPE."""
        check(self.proc.poll() is None,
              "the container is gone (status %s):\n%s" % (self.proc.returncode,
                                                          self.boot_tail()))
        args = [tool("nsenter"), "-t", str(self.leader), "-m", "-u", "-i", "-n", "-p",
                "-r", "-w", "--", "/usr/bin/env", "-i", "PATH=" + PATH, "HOME=/root",
                "LANG=C.UTF-8", "SYSTEMD_PAGER=", "/bin/sh", "-c", cmd]
        try:
            r = subprocess.run(args, input=stdin, stdout=subprocess.PIPE,
                               stderr=stderr, timeout=timeout,
                               text=True, env=clean_env())
        except subprocess.TimeoutExpired:
            raise Failure("in the container, still running after %d s: %s" % (timeout, cmd))
        if ok:
            check(r.returncode == 0, "in the container: %s\nexit status %d\n%s%s"
                  % (cmd, r.returncode, r.stdout, r.stderr or ""))
        if stderr == subprocess.PIPE:
            return r.returncode, r.stdout, r.stderr
        return r.returncode, r.stdout

    def show(self, unit, *props):
        """{property: value} of a loaded unit (systemctl show)."""
        _, out = self.sh("systemctl show %s %s" % (unit, " ".join("-p " + p for p in props)))
        return dict(l.split("=", 1) for l in out.splitlines() if "=" in l)

    def http(self, method, path, body=None, timeout=30, token=""):
        """One request through the container's nginx with its curl:
        (status, parsed JSON or None, raw text). It carries the test's
        bearer token (self.token, once there is one) unless token says
        otherwise (None: no token)."""
        data = None if body is None else json.dumps(body, separators=(",", ":"))
        token = self.token if token == "" else token
        cmd = "curl -sS -m %d -X %s -o - -w '\\n%%{http_code}' %s" % (
            timeout, method, shlex.quote(SITE + path))
        if token:
            cmd += " -H %s" % shlex.quote("Authorization: Bearer " + token)
        if data is not None:
            cmd += " -H 'Content-Type: application/json' --data-binary @-"
        rc, out = self.sh(cmd, timeout=timeout + 15, ok=None, stdin=data)
        raw, _, code = out.rpartition("\n")
        check(rc == 0 and code.isdigit(), "curl %s %s: exit status %d\n%s"
              % (method, path, rc, out))
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        return int(code), parsed, raw

    def journal(self, lines=150):
        """The container's journal for the units under test, then all of it."""
        if self.proc is None or self.proc.poll() is not None or not self.leader:
            return "(the container is not running)\n--- boot log ---\n" + self.boot_tail()
        out = []
        for args in ("-u %s -u %s -u nginx.service" % (UNIT, SOCKET_UNIT), "-p warning", ""):
            _, text = self.sh("journalctl -b --no-pager -o short-precise -n %d %s"
                              % (lines, args), ok=None, timeout=30)
            out.append("--- journalctl %s ---\n%s" % (args or "(all)", text))
        return "\n".join(out)

    def boot_tail(self, n=4000):
        try:
            with open(self.boot_log, "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.sh("systemctl --no-block poweroff", timeout=20, ok=None)
            except Failure:
                pass
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                log("container: no poweroff within 60 s, killing it")
        if self.proc is not None:
            if self.proc.poll() is None:
                # The container's init first: that ends everything in its
                # PID namespace; then systemd-nspawn itself.
                for pid in (self.leader, self.proc.pid):
                    if pid:
                        try:
                            os.kill(pid, signal.SIGKILL)
                        except OSError:
                            pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                log("container: systemd-nspawn %d did not exit after SIGKILL" % self.proc.pid)
        remove_tree(self.root)


# ---------------------------------------------------------------------------
# The checks, in order; each gets the container and a dict of state.


def service_pid(c):
    return int(c.show(UNIT, "MainPID")["MainPID"])


def healthy(c):
    st, body, raw = c.http("GET", "/health")
    check(st == 200 and body == {"status": "healthy", "kvStoreCheck": "ok"},
          "GET /health through nginx: %d %s" % (st, raw[:300]))


def writes_intact(c, st_):
    for key, value in st_.get("written", {}).items():
        st, body, raw = c.http("GET", "/get?key=" + key)
        check(st == 200 and body.get("value") == value,
              "%s after the restart: %d %s" % (key, st, raw[:300]))


def restarted(c, old_pid, old_restarts, timeout, what):
    """Waits until systemd has restarted the service after `what`."""
    def up():
        p = c.show(UNIT, "MainPID", "NRestarts", "ActiveState", "SubState")
        if (p["ActiveState"] == "active" and p["SubState"] == "running" and
                int(p["MainPID"]) not in (0, old_pid) and
                int(p["NRestarts"]) > old_restarts):
            return p
        return None
    return wait_for(up, timeout, "systemd to restart the service after " + what)


ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(\S*)$")


def output_matches(out, want):
    """Whether a command's output is what the README shows. Two spaces and
    a "#" start a note to the reader, not output. A word ending in "..."
    stands for a value that differs on every run (a new token): it
    matches any word with the same text up to its last character that is
    not a letter or digit ("kvs_Xq3v..." matches any "kvs_" word)."""
    got = [l.rstrip() for l in out.strip().split("\n")]
    exp = [re.sub(r"\s{2,}#.*$", "", l).rstrip() for l in want]
    while exp and not exp[-1]:
        exp.pop()
    if len(got) != len(exp):
        return False
    for g, e in zip(got, exp):
        pattern = ""
        for word in re.split(r"(\s+)", e):
            if word.endswith("...") and len(word) > 3:
                stem = re.match(r"^(.*[^A-Za-z0-9])", word[:-3])
                pattern += re.escape(stem.group(1) if stem else "") + r"\S+"
            else:
                pattern += re.escape(word)
        if not re.fullmatch(pattern, g):
            return False
    return True


def run_readme_step(c, st_, n):
    """Runs README Deployment step n inside the container, each command as
    written, checking its exit status and the output the README shows.
    An assignment whose value ends in "..." (TOKEN=kvs_Xq3v...) sets the
    variable to the latest output of this step that the value stands for
    (the token printed by `token add`), as its reader would; the variables
    set so far are in every later command's environment."""
    env = st_.setdefault("readme_vars", {})
    outputs = []
    for cmd, want in st_["readme"][n]:
        m = ASSIGNMENT.match(cmd)
        if m and m.group(2).endswith("..."):
            found = [o for o in outputs if output_matches(o, [m.group(2)])]
            check(found, "README step %d: `%s`: no earlier output looks like %s"
                  % (n, cmd, m.group(2)))
            env[m.group(1)] = found[-1].strip()
            continue
        if m:
            env[m.group(1)] = m.group(2)
            continue
        prefix = "".join("%s=%s; export %s; " % (k, shlex.quote(v), k)
                         for k, v in sorted(env.items()))
        rc, out, err = c.sh(prefix + cmd, timeout=120, ok=None, stderr=subprocess.PIPE)
        check(rc == 0, "README step %d: `%s` exits %d:\n%s%s" % (n, cmd, rc, out, err))
        # The README shows what goes to standard output.
        if want:
            check(output_matches(out, want),
                  "README step %d: `%s` printed\n%s\nbut the README shows\n%s"
                  % (n, cmd, out.strip(), "\n".join(want)))
        outputs.append(out)


def step_readme_deployment_steps(c, st_):
    for n in sorted(k for k in st_["readme"] if k >= 2):
        run_readme_step(c, st_, n)
        if n == 4 and 5 in st_["readme"]:
            fresh_install_refuses(c)
    if 5 in st_["readme"]:
        token_steps_took_effect(c, st_)


def fresh_install_refuses(c):
    """Before any token exists every request but /health is refused."""
    st, body, raw = c.http("GET", "/get?key=greeting", token=None)
    check(st == 401 and body == {"success": False, "error": "Unauthorized"},
          "a fresh install must answer 401 to /get: %d %s" % (st, raw[:300]))
    st, body, raw = c.http("POST", "/set", {"key": "user_1", "value": 1}, token=None)
    check(st == 401, "a fresh install must answer 401 to /set: %d %s" % (st, raw[:300]))
    healthy(c)


def token_steps_took_effect(c, st_):
    """Step 5 added a token, used it and revoked it, then reloaded the
    service: the token is refused now, and what it wrote is still there."""
    token = st_["readme_vars"].get("TOKEN", "")
    check(token.startswith("kvs_"), "README step 5 did not yield a token: %r" % token)
    st, body, raw = c.http("GET", "/get?key=user_42", token=token)
    check(st == 401, "the revoked token after `systemctl reload kvstore-fcgi`: %d %s"
          % (st, raw[:300]))
    # The reload re-read the file in the running service; it did not
    # restart it.
    _, out = c.sh("journalctl -b --no-pager -u %s -n 40 -o cat" % UNIT)
    check("received SIGHUP, reloading the tokens file" in out and
          "Reloaded kvstore-fcgi.service" in out,
          "systemctl reload kvstore-fcgi did not reload the tokens:\n" + out)
    check(c.show(UNIT, "NRestarts")["NRestarts"] == "0" and
          "stopped cleanly" not in out, "the reload restarted the service:\n" + out)
    # A token for the rest of the test, created as step 5 shows.
    _, out, _ = c.sh("kvstore-admin token add check-deploy --read --write",
                     stderr=subprocess.PIPE)
    c.sh("systemctl reload %s" % UNIT)
    c.token = out.strip()
    check(re.fullmatch(r"kvs_[A-Za-z0-9_-]{40,}", c.token), "token add printed %r" % out)
    st, body, raw = c.http("GET", "/get?key=user_42")
    check(st == 200 and body.get("value") == {"plan": "pro"},
          "a new token reads what the revoked one wrote: %d %s" % (st, raw[:300]))


def step_deployed_as_documented(c, st_):
    _, out = c.sh("stat -c '%A %U %G' /run/kvstore-fcgi/fcgi.sock")
    check(out.split() == ["srw-rw----", "root", "www-data"],
          "the FastCGI socket: want srw-rw---- root www-data, got %s" % out.strip())
    pid = service_pid(c)
    check(pid > 0, "the service is not running")
    _, out = c.sh("grep '^Uid:' /proc/%d/status; stat -c '%%u %%a' "
                  "/var/lib/private/kvstore-fcgi; readlink /var/lib/kvstore-fcgi" % pid)
    uid = out.split()[1]
    check(uid != "0", "the service runs as root:\n" + out)
    lines = out.splitlines()
    check(lines[1].split() == [uid, "700"],
          "/var/lib/private/kvstore-fcgi: want owner %s mode 700, got %s" % (uid, lines[1]))
    check(lines[2].strip() == "private/kvstore-fcgi",
          "/var/lib/kvstore-fcgi should link to private/kvstore-fcgi: %r" % lines[2])
    _, out = c.sh("systemctl is-enabled %s" % SOCKET_UNIT)
    check(out.strip() == "enabled", "the socket unit is %s" % out.strip())


def step_writes(c, st_):
    st_["written"] = {}
    for i in range(5):
        key, value = "deploy/%d" % i, {"n": i, "s": "written before the crashes"}
        st, body, raw = c.http("POST", "/set", {"key": key, "value": value})
        check(st == 200 and body.get("success") is True, "set %s: %d %s" % (key, st, raw))
        st_["written"][key] = value
    st, body, raw = c.http("POST", "/batch", {"operations": [
        {"op": "set", "key": "deploy/b1", "value": [1]},
        {"op": "set", "key": "deploy/b2", "value": [2]}]})
    check(st == 200, "batch: %d %s" % (st, raw))
    st_["written"].update({"deploy/b1": [1], "deploy/b2": [2]})
    writes_intact(c, st_)


def step_kill_9_restarts_with_the_data(c, st_):
    p = c.show(UNIT, "MainPID", "NRestarts")
    old_pid, old_n = int(p["MainPID"]), int(p["NRestarts"])
    check(old_pid > 0, "the service is not running")
    c.sh("kill -9 %d" % old_pid)
    # Sent while the service is dead: systemd keeps the listening socket,
    # so the request waits in its queue and the restarted service answers.
    st, body, raw = c.http("GET", "/get?key=deploy/0", timeout=40)
    check(st == 200 and body.get("value") == st_["written"]["deploy/0"],
          "a request sent right after kill -9: %d %s" % (st, raw[:300]))
    restarted(c, old_pid, old_n, 30, "kill -9")
    healthy(c)
    writes_intact(c, st_)


# The service's test-only way to panic its Berkeley DB environment: with
# this variable set, creating the file it names makes the maintenance
# thread set DB_PANIC_ENVIRONMENT (a real panic) within about a second.
PANIC_VAR = "KV_TEST_PANIC_FILE"
PANIC_FILE = "/var/lib/kvstore-fcgi/panic-now"
DROPIN = "/etc/systemd/system/%s.d/test-panic.conf" % UNIT


def step_berkeley_db_panic_exits_and_restarts(c, st_):
    rc, _ = c.sh("grep -q %s /usr/sbin/kvstore-fcgi" % PANIC_VAR, ok=None)
    if rc != 0:
        return ("SKIP: this kvstore-fcgi has no way to force a Berkeley DB panic "
                "(no %s hook)" % PANIC_VAR)
    # A drop-in, as an administrator would add one, turns the hook on.
    c.sh("mkdir -p %s && printf '[Service]\\nEnvironment=%s=%s\\n' > %s && "
         "systemctl daemon-reload && systemctl restart %s"
         % (os.path.dirname(DROPIN), PANIC_VAR, PANIC_FILE, DROPIN, UNIT))
    healthy(c)
    p = c.show(UNIT, "MainPID", "NRestarts")
    old_pid, old_n = int(p["MainPID"]), int(p["NRestarts"])
    c.sh("touch %s" % PANIC_FILE)
    restarted(c, old_pid, old_n, 30, "a Berkeley DB panic")
    _, out = c.sh("journalctl -b --no-pager -u %s -n 40 -o cat" % UNIT)
    check(re.search(r"Berkeley DB panic, exiting with status \d+", out) and
          re.search(r"Main process exited, code=exited, status=[1-9]", out),
          "no panic and exit in the journal:\n" + out)
    check(c.sh("test ! -e %s" % PANIC_FILE, ok=None)[0] == 0,
          "the panic file is still there: the service did not consume it")
    healthy(c)
    writes_intact(c, st_)
    c.sh("rm -f %s && systemctl daemon-reload" % DROPIN)


def step_crash_loop_is_retried_not_given_up(c, st_):
    # The service fails at every start, as when the disk is full (recovery
    # cannot write), until the cause is removed: here the environment file
    # points it at a data directory that does not exist. The unit must
    # keep retrying at its pace, past StartLimitBurst= failures, and never
    # enter the failed state for good; the socket must stay listening.
    limits = c.show(UNIT, "StartLimitBurst", "StartLimitIntervalUSec", "RestartUSec")
    burst = int(limits["StartLimitBurst"])
    # The service dies (kill -9) and from then on cannot start. Only
    # automatic restarts follow: a manual start would reset NRestarts and
    # count against the start limit like any other start.
    p = c.show(UNIT, "MainPID", "NRestarts")
    old_n = int(p["NRestarts"])
    c.sh("test ! -e %s && echo KV_DATA_DIR=/var/lib/kvstore-fcgi/missing > %s"
         % (ENV_FILE, ENV_FILE))
    c.sh("kill -9 %s" % p["MainPID"])
    t = time.monotonic()
    seen = set()

    def looped():
        time.sleep(0.5)     # a start every RestartSec: no need to poll faster
        q = c.show(UNIT, "NRestarts", "ActiveState", "SubState", "Result")
        q2 = c.show(SOCKET_UNIT, "ActiveState")
        seen.add((q["ActiveState"], q["SubState"], q["Result"]))
        check(q["ActiveState"] != "failed" and q2["ActiveState"] != "failed",
              "after %d failed starts in %.0f s the unit gave up: service %s (%s), "
              "socket %s; limits %r" % (int(q["NRestarts"]) - old_n, time.monotonic() - t,
                                        q["ActiveState"], q["Result"], q2["ActiveState"],
                                        limits))
        return int(q["NRestarts"]) - old_n > burst
    wait_for(looped, 120, "more than %d failed starts in a row" % burst)
    n = int(c.show(UNIT, "NRestarts")["NRestarts"]) - old_n
    log("  %d failed starts in %.0f s (limits %s), states seen: %s"
        % (n, time.monotonic() - t, limits, sorted(seen)))
    _, out = c.sh("journalctl -b --no-pager -u %s -n 40 -o cat" % UNIT)
    check("fatal:" in out and "missing" in out,
          "the failing starts do not log why:\n" + out)
    # The cause goes away: the next restart succeeds without any command.
    c.sh("rm -f %s" % ENV_FILE)
    wait_for(lambda: c.show(UNIT, "SubState")["SubState"] == "running", 30,
             "the service to come back by itself")
    healthy(c)
    writes_intact(c, st_)


def step_usage_error_is_not_retried(c, st_):
    # A usage error (status 2) cannot heal: the unit does not restart it,
    # and the start limit ends the starts that each waiting connection
    # triggers. nginx then answers 502, and the commands kvstore-fcgi(8)
    # gives bring it back once the setting is fixed.
    c.sh("test ! -e %s && echo KV_THREADS=0 > %s" % (ENV_FILE, ENV_FILE))
    c.sh("systemctl stop %s" % UNIT)
    st, body, raw = c.http("GET", "/health")
    check(st == 502 and body == {"success": False, "error": "Service unavailable"},
          "GET /health with a service that cannot start: %d %s" % (st, raw[:300]))
    p = c.show(UNIT, "ActiveState", "Result", "NRestarts")
    q = c.show(SOCKET_UNIT, "ActiveState", "Result")
    check(p["ActiveState"] == "failed" and p["NRestarts"] == "0" and
          q["ActiveState"] == "failed",
          "after exit status 2: service %r, socket %r" % (p, q))
    _, out = c.sh("journalctl -b --no-pager -u %s -n 40 -o cat" % UNIT)
    check("KV_THREADS" in out, "the usage error is not in the journal:\n" + out)
    c.sh("rm -f %s" % ENV_FILE)
    c.sh("systemctl reset-failed %s %s" % (UNIT, SOCKET_UNIT))
    c.sh("systemctl start %s" % SOCKET_UNIT)
    healthy(c)
    writes_intact(c, st_)


def step_stop_then_socket_reactivation(c, st_):
    old_pid = service_pid(c)
    c.sh("systemctl stop %s" % UNIT)
    p = c.show(UNIT, "ActiveState", "MainPID")
    check(p["ActiveState"] == "inactive" and p["MainPID"] == "0",
          "after systemctl stop: %r" % p)
    check(c.show(SOCKET_UNIT, "ActiveState")["ActiveState"] == "active",
          "the socket is no longer listening after the service stopped")
    _, out = c.sh("journalctl -b --no-pager -u %s -n 20 -o cat" % UNIT)
    check("stopped cleanly" in out, "systemctl stop: no clean stop logged:\n" + out)
    healthy(c)
    pid = service_pid(c)
    check(pid not in (0, old_pid), "the request did not start the service anew (%d)" % pid)
    writes_intact(c, st_)


def step_loaded_unit_rates_safe(c, st_):
    _, out = c.sh("systemd-analyze security %s" % UNIT)
    m = re.search(r"Overall exposure level for %s: ([\d.]+) (\w+)" % re.escape(UNIT), out)
    check(m, "no exposure level in systemd-analyze security:\n" + out[-3000:])
    log("  exposure of the loaded unit: %s %s" % (m.group(1), m.group(2)))
    check(float(m.group(1)) < 1.0,
          "exposure %s %s, want below 1.0 (SAFE):\n%s" % (m.group(1), m.group(2), out))


STEPS = [
    step_readme_deployment_steps,
    step_deployed_as_documented,
    step_writes,
    step_kill_9_restarts_with_the_data,
    step_berkeley_db_panic_exits_and_restarts,
    step_crash_loop_is_retried_not_given_up,
    step_usage_error_is_not_retried,
    step_stop_then_socket_reactivation,
    step_loaded_unit_rates_safe,
]


# ---------------------------------------------------------------------------


def preflight():
    """None when the test can run here, else why not (a skip)."""
    if os.geteuid() != 0:
        return "check-deploy needs root (debootstrap, mount, systemd-nspawn)"
    for name, pkg in (("debootstrap", "debootstrap"), ("systemd-nspawn", "systemd-container"),
                      ("nsenter", "util-linux"), ("dpkg-query", "dpkg")):
        if not tool(name):
            return "%s not found (apt-get install %s; scripts/dev deps does)" % (name, pkg)
    return None


class Interrupted(Exception):
    pass


def on_signal(sig, frame):
    raise Interrupted("interrupted by signal %d" % sig)


def main(argv):
    only = argv[1:]
    why = preflight()
    if why:
        print("SKIP: " + why)
        return 77
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, on_signal)
    t0 = time.monotonic()
    wd = Workdir()
    c = None
    failed = False
    state = {}
    step = "build as README step 1"
    try:
        t = time.monotonic()
        state["readme"] = readme_deployment()
        args = configure_args(state["readme"][1])
        bdir = build_for_install(wd, args)
        packages = sorted(set(BASE_PACKAGES) | set(runtime_packages(bdir)))
        log("PASS %s (./configure %s; make) (%.1fs)"
            % (step, " ".join(args), time.monotonic() - t))
        step = "root"
        t = time.monotonic()
        lower = cached_root(packages)
        log("PASS %s (%.1fs)" % (step, time.monotonic() - t))
        step = "make install into the root and boot it"
        t = time.monotonic()
        c = Container(wd, lower)
        run_host(["make", "install", "DESTDIR=" + c.root], 300, "make install DESTDIR=",
                 cwd=bdir)
        c.boot()
        log("PASS %s (%.1fs)" % (step, time.monotonic() - t))
        for fn in STEPS:
            step = fn.__name__[5:]
            if only and not any(o in step for o in only) and fn is not STEPS[0]:
                continue
            t = time.monotonic()
            res = fn(c, state)
            if isinstance(res, str) and res.startswith("SKIP:"):
                log("SKIP %s (%.1fs)\n    %s" % (step, time.monotonic() - t, res[5:].strip()))
            else:
                log("PASS %s (%.1fs)" % (step, time.monotonic() - t))
    except Interrupted as e:
        failed = True
        log("FAIL %s: %s" % (step, e))
    except Exception as e:   # noqa: BLE001
        failed = True
        if isinstance(e, Failure):
            log("FAIL %s: %s" % (step, e))
        else:
            log("FAIL %s:\n%s" % (step, traceback.format_exc()))
        if c is not None:
            try:
                log(c.journal())
            except Exception as e2:   # noqa: BLE001
                log("(could not read the container's journal: %s)" % e2)
    finally:
        # The container must end whatever happened above; a second signal
        # while it powers off does not stop the cleanup.
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        try:
            if c is not None:
                c.stop()
        finally:
            # Unmounts first: never delete through a mounted overlay.
            remove_tree(wd.path)
    log("check-deploy: %s (%.1fs)" % ("FAILED" if failed else "all steps passed",
                                     time.monotonic() - t0))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
