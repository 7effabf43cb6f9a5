#!/usr/bin/env python3
"""Deployment tests: the files `make install` ships (systemd units, nginx
site, man page) and the service's life as a server runs it: started by
spawn-fcgi (socket on fd 0) or socket activation (fd 3) behind the rendered
nginx site, stopped by signals, refusing to start with a clear message.

Run one group (as the tests/integration/deploy-*.test wrappers do):

    KV_TOP_SRCDIR=. KV_TOP_BUILDDIR=build KV_BINARY=build/kvstore-fcgi \\
        python3 tests/integration/test_deploy.py GROUP [name-substring...]

Groups: nginx, systemd, lifecycle, syscalls, man. Each needs some programs
(see GROUPS); when one is not installed the group exits 77 (skip). Prints
one PASS/FAIL line per test; exits 1 if any failed.

Only 127.0.0.1 and private unix sockets are used; every wait is bounded.
Python 3 standard library only.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

TOP_SRCDIR = harness.TOP_SRCDIR
BINARY = os.path.abspath(harness.default_binary())
TOP_BUILDDIR = os.environ.get("KV_TOP_BUILDDIR") or os.path.dirname(BINARY)
SBIN_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin"

# Where the shipped files live in the source tree.
SITE_FILE = os.path.join(TOP_SRCDIR, "nginx", "kvstore-fcgi.conf")
SOCKET_UNIT = os.path.join(TOP_SRCDIR, "systemd", "kvstore-fcgi.socket")
SERVICE_UNIT = os.path.join(TOP_BUILDDIR, "systemd", "kvstore-fcgi.service")
MAN_PAGE = os.path.join(TOP_SRCDIR, "man", "kvstore-fcgi.8")
RENDER = os.path.join(TOP_SRCDIR, "scripts", "render-nginx")
PRODUCTION_SOCKET = "/run/kvstore-fcgi/fcgi.sock"


class Failure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def tool(name, env_var=None):
    """The path of a program: $env_var if set, else found in PATH or sbin."""
    if env_var and os.environ.get(env_var):
        return os.environ[env_var]
    return shutil.which(name, path=SBIN_PATH)


def wait_for(pred, timeout, what):
    """Polls pred() until it returns a true value; fails after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failure("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(0.05)


class Workdir:
    """A temporary directory under /tmp (short: unix socket paths)."""

    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="kvdep.", dir="/tmp")
        os.chmod(self.path, 0o755)

    def sub(self, *names):
        return os.path.join(self.path, *names)

    def mkdir(self, *names):
        p = self.sub(*names)
        os.makedirs(p, exist_ok=True)
        return p

    def cleanup(self):
        shutil.rmtree(self.path, ignore_errors=True)


# ---------------------------------------------------------------------------
# FastCGI client (the few records a responder needs)

FCGI_BEGIN_REQUEST, FCGI_END_REQUEST, FCGI_PARAMS, FCGI_STDIN, FCGI_STDOUT, \
    FCGI_STDERR = 1, 3, 4, 5, 6, 7


def fcgi_record(rtype, content, req_id=1):
    out = b""
    # Records carry at most 65535 bytes.
    for i in range(0, max(len(content), 1), 65535):
        chunk = content[i:i + 65535]
        out += struct.pack(">BBHHBB", 1, rtype, req_id, len(chunk), 0, 0) + chunk
    return out


def fcgi_pair(name, value):
    def length(n):
        return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
    name, value = name.encode(), value.encode()
    return length(len(name)) + length(len(value)) + name + value


class FcgiConn:
    """One FastCGI request over a unix socket, sent in steps so that a test
    can hold it open half-way through its body."""

    def __init__(self, sock_path, timeout=60.0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(sock_path)

    def begin(self, method, uri, content_length):
        params = {
            "REQUEST_METHOD": method, "REQUEST_URI": uri, "SCRIPT_NAME": "",
            "QUERY_STRING": uri.partition("?")[2],
            "PATH_INFO": uri.partition("?")[0],
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(content_length) if content_length else "",
            "SERVER_PROTOCOL": "HTTP/1.1", "GATEWAY_INTERFACE": "CGI/1.1",
        }
        body = b"".join(fcgi_pair(k, v) for k, v in params.items())
        self.s.sendall(fcgi_record(FCGI_BEGIN_REQUEST, struct.pack(">HB5x", 1, 0))
                       + fcgi_record(FCGI_PARAMS, body)
                       + fcgi_record(FCGI_PARAMS, b""))

    def send_body(self, data):
        self.s.sendall(fcgi_record(FCGI_STDIN, data))

    def end_body(self):
        self.s.sendall(fcgi_record(FCGI_STDIN, b""))

    def response(self):
        """(status, headers dict, body bytes); fails on a broken reply."""
        data, out, ended = b"", b"", False
        while not ended:
            chunk = self.s.recv(65536)
            if not chunk:
                break
            data += chunk
            while len(data) >= 8:
                _, rtype, _, clen, plen, _ = struct.unpack(">BBHHBB", data[:8])
                if len(data) < 8 + clen + plen:
                    break
                content = data[8:8 + clen]
                data = data[8 + clen + plen:]
                if rtype == FCGI_STDOUT:
                    out += content
                elif rtype == FCGI_END_REQUEST:
                    ended = True
        self.s.close()
        check(ended, "FastCGI reply ended without END_REQUEST (got %r)" % out[:200])
        head, _, body = out.partition(b"\r\n\r\n")
        headers = {}
        for line in head.decode("latin-1").split("\r\n"):
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        status = int(headers.get("status", "200").split()[0])
        if "content-length" in headers:
            check(len(body) == int(headers["content-length"]),
                  "truncated body: %d of %s bytes" % (len(body), headers["content-length"]))
        return status, headers, body


def fcgi_get(sock_path, uri):
    c = FcgiConn(sock_path, timeout=20.0)
    c.begin("GET", uri, 0)
    c.end_body()
    return c.response()


# ---------------------------------------------------------------------------
# The service and nginx as processes


class Service:
    """kvstore-fcgi on a private unix socket. launcher "spawn-fcgi" passes
    the socket on fd 0 (spawn-fcgi -n), "socket-activate" on fd 3
    (systemd-socket-activate, LISTEN_FDS). `wrap` is put before the binary
    (strace)."""

    def __init__(self, wd, data_dir, launcher="spawn-fcgi", args=(), env=None,
                 wrap=(), name="svc"):
        self.wd, self.data_dir, self.launcher = wd, data_dir, launcher
        self.args, self.env_extra, self.wrap = list(args), dict(env or {}), list(wrap)
        self.sock = wd.sub(name + ".sock")
        self.log_path = wd.sub(name + ".log")
        self.proc = None

    def start(self):
        cmd = self.wrap + [BINARY, "--data-dir=" + self.data_dir] + self.args
        if self.launcher == "spawn-fcgi":
            cmd = [tool("spawn-fcgi", "SPAWN_FCGI"), "-n", "-s", self.sock,
                   "-M", "0600", "--"] + cmd
        else:
            cmd = [tool("systemd-socket-activate"), "-l", self.sock, "--"] + cmd
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("KV_", "LISTEN_", "JOURNAL_")) and k != "STATE_DIRECTORY"}
        env.update(self.env_extra)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        wait_for(lambda: os.path.exists(self.sock) or self.proc.poll() is not None,
                 10, "the socket " + self.sock)
        check(self.proc.poll() is None,
              "service exited at start (%s):\n%s" % (self.proc.returncode, self.log()))
        return self

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def send(self, sig):
        os.kill(self.proc.pid, sig)

    def wait(self, timeout=60):
        """The exit status; fails if the service is still running after timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Failure("service still running %d s after the signal:\n%s"
                          % (timeout, self.log()))

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return None
        rc = None
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, sig)
                rc = self.proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        else:
            rc = self.proc.returncode
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()
        return rc


class Nginx:
    """An unprivileged nginx serving the shipped site, rendered by
    scripts/render-nginx exactly as scripts/stack does."""

    def __init__(self, wd, sock, env=None, edit=None):
        self.dir = wd.sub("nginx")
        self.sock = sock
        self.env = dict(env or {})
        self.edit = edit        # function(site text, nginx) -> site text
        self.port = None
        self.proc = None
        self.log_path = wd.sub("nginx.log")
        self.bin = tool("nginx", "NGINX")

    def render(self, port):
        env = {k: v for k, v in os.environ.items() if not k.startswith("KV_")}
        env.update(self.env)
        r = subprocess.run([RENDER, self.dir, self.sock, str(port)], env=env,
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, "render-nginx failed: %s" % r.stderr)
        site = os.path.join(self.dir, "site.conf")
        if self.edit is not None:
            with open(site) as f:
                text = f.read()
            with open(site, "w") as f:
                f.write(self.edit(text, self))
        return site

    def config_test(self):
        """(exit status, output) of `nginx -t` on the rendered files."""
        r = subprocess.run([self.bin, "-t", "-p", self.dir, "-c",
                            os.path.join(self.dir, "nginx.conf"), "-g", "daemon off;"],
                           capture_output=True, text=True, timeout=30,
                           env={k: v for k, v in os.environ.items() if k != "NGINX"})
        return r.returncode, r.stdout + r.stderr

    def start(self):
        self.port = harness.free_port()
        self.render(self.port)
        env = {k: v for k, v in os.environ.items() if k != "NGINX"}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [self.bin, "-p", self.dir, "-c", os.path.join(self.dir, "nginx.conf"),
                 "-g", "daemon off;"], env=env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

        def listening():
            check(self.proc.poll() is None, "nginx exited:\n" + self.log())
            try:
                socket.create_connection((harness.HOST, self.port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_for(listening, 10, "nginx on port %d" % self.port)
        return self

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def request(self, method, path, body=None, timeout=30.0):
        return harness.request(self.port, method, path, body, timeout=timeout)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self.proc.wait()


class Running:
    """Context: a work directory, the service and nginx in front of it;
    everything stopped and removed on exit."""

    def __init__(self, launcher="spawn-fcgi", args=(), env=None, data_dir=None,
                 wrap=(), nginx_env=None, edit=None):
        self.wd = Workdir()
        self.data_dir = data_dir or self.wd.mkdir("data")
        self.svc = Service(self.wd, self.data_dir, launcher, args, env, wrap)
        self.nginx = Nginx(self.wd, self.svc.sock, nginx_env, edit)

    def __enter__(self):
        try:
            self.svc.start()
            self.nginx.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        self.nginx.stop()
        self.svc.stop()
        self.wd.cleanup()
        return False

    def request(self, method, path, body=None, timeout=30.0):
        return self.nginx.request(method, path, body, timeout)

    def context(self):
        return "\n--- service log ---\n%s\n--- nginx log ---\n%s" % (
            self.svc.log()[-4000:], self.nginx.log()[-4000:])


def healthy(run):
    st, _, body, raw = run.request("GET", "/health")
    check(st == 200 and body == {"status": "healthy", "kvStoreCheck": "ok"},
          "GET /health through nginx: %d %r%s" % (st, raw[:200], run.context()))


def run_binary(args, stdin=subprocess.DEVNULL, env=None, pass_fds=(), prefix=(),
               binary=None):
    """Runs kvstore-fcgi to completion (bounded); returns (status, stderr)."""
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("KV_", "LISTEN_", "JOURNAL_")) and k != "STATE_DIRECTORY"}
    e.update(env or {})
    r = subprocess.run(list(prefix) + [binary or BINARY] + list(args), stdin=stdin, env=e,
                       capture_output=True, text=True, timeout=60, pass_fds=pass_fds)
    return r.returncode, r.stderr


def listening_unix_socket(wd, name="listen.sock"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(wd.sub(name))
    s.listen(16)
    return s


def service_help_defaults():
    """{option: default} as printed by kvstore-fcgi --help."""
    out = subprocess.run([BINARY, "--help"], capture_output=True, text=True,
                         timeout=30).stdout
    return dict(re.findall(r"--([a-z-]+)=VALUE\n.*\(env KV_[A-Z_]+, default ([^)]*)\)", out))


# ---------------------------------------------------------------------------
# nginx: the shipped site file

def t_site_file_passes_nginx_t_as_shipped():
    # The file exactly as installed, included in a main file like Debian's.
    wd = Workdir()
    try:
        wd.mkdir("tmp")
        conf = wd.sub("nginx.conf")
        with open(conf, "w") as f:
            f.write("pid %s;\nerror_log stderr;\nevents {}\nhttp {\n"
                    "\tclient_body_temp_path %s/tmp;\n\tinclude %s;\n}\n"
                    % (wd.sub("nginx.pid"), wd.path, SITE_FILE))
        r = subprocess.run([tool("nginx", "NGINX"), "-t", "-p", wd.path, "-c", conf],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, "nginx -t on the shipped site:\n" + r.stderr)
    finally:
        wd.cleanup()


def t_rendered_site_passes_nginx_t():
    wd = Workdir()
    try:
        ng = Nginx(wd, wd.sub("x.sock"), env={"KV_MAX_BODY": "4096",
                                               "KV_CORS_ORIGIN": "https://a.example"})
        site = ng.render(harness.free_port())
        rc, out = ng.config_test()
        check(rc == 0 and "test is successful" in out, "nginx -t: %d\n%s" % (rc, out))
        with open(site) as f:
            text = f.read()
        check("client_max_body_size 4096;" in text, "body limit not rendered")
        check("unix:%s;" % wd.sub("x.sock") in text, "socket not rendered")
        check('"https://a.example"' in text, "CORS origin not rendered")
    finally:
        wd.cleanup()


def t_site_matches_the_service_defaults_and_the_socket_unit():
    with open(SITE_FILE) as f:
        site = f.read()
    want = service_help_defaults().get("max-body")
    check(want and re.search(r"^\s*client_max_body_size %s;" % want, site, re.M),
          "client_max_body_size must equal the service's --max-body default %s" % want)
    check(re.search(r"^\s*server unix:%s;" % re.escape(PRODUCTION_SOCKET), site, re.M),
          "the site must pass to %s" % PRODUCTION_SOCKET)
    with open(SOCKET_UNIT) as f:
        check("ListenStream=%s\n" % PRODUCTION_SOCKET in f.read(),
              "kvstore-fcgi.socket must listen on %s" % PRODUCTION_SOCKET)
    check(re.search(r"^\s*listen 127\.0\.0\.1:\d+;", site, re.M) and
          not re.search(r"^\s*listen (?!127\.0\.0\.1:)", site, re.M),
          "by default the site must listen on loopback only")
    m = re.search(r"^\s*error_page ([\d ]+) ", site, re.M)
    codes = set(m.group(1).split()) if m else set()
    for code in "400 404 405 413 414 500 502 503 504".split():
        check(code in codes, "nginx's own %s must get the JSON error page" % code)
    for p in ("REQUEST_URI $request_uri", "PATH_INFO $uri"):
        check("fastcgi_param %s;" % p in site, "missing fastcgi_param %s" % p)


def t_nginx_errors_are_json_with_their_status():
    # nginx's 413 for a body over the limit, and its 502 once the service
    # is gone, are JSON with their status.
    with Running(args=["--max-body=4096"], nginx_env={"KV_MAX_BODY": "4096"}) as run:
        healthy(run)
        st, h, body, raw = run.request("POST", "/set", b'{"key":"k","value":"' +
                                       b"x" * 5000 + b'"}')
        check(st == 413 and body == {"success": False, "error": "Request body too large"}
              and h.get("content-type") == "application/json",
              "413 from nginx: %d %r %r" % (st, h, raw[:200]))
        run.svc.stop()
        st, h, body, raw = run.request("GET", "/health")
        check(st == 502 and body == {"success": False, "error": "Service unavailable"},
              "service down: want JSON 502, got %d %r" % (st, raw[:200]))


def make_cert(wd):
    key, crt = wd.sub("test.key"), wd.sub("test.pem")
    r = subprocess.run([tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=127.0.0.1"],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "openssl: " + r.stderr)
    return crt, key


def tls_example(allow_loopback, tls_port, crt, key):
    """An edit of the rendered site that turns on the commented TLS and
    access-control example, as its comment tells an administrator to."""
    def edit(text, ng):
        lines, seen = [], set()
        for line in text.split("\n"):
            s = line.strip()
            for d in ("#listen 443 ssl;", "#ssl_certificate ", "#ssl_certificate_key ",
                      "#allow 127.0.0.1;", "#allow 192.0.2.0/24;", "#deny all;"):
                if s.startswith(d):
                    seen.add(d)
                    line = line.replace("#", "", 1)
                    line = line.replace("443", str(tls_port))
                    line = re.sub(r"(ssl_certificate\s+)\S+;", r"\g<1>%s;" % crt, line)
                    line = re.sub(r"(ssl_certificate_key\s+)\S+;", r"\g<1>%s;" % key, line)
                    if d == "#allow 127.0.0.1;" and not allow_loopback:
                        line = "# " + line
            lines.append(line)
        check(len(seen) == 6, "the site lost part of its TLS example: %r" % seen)
        return "\n".join(lines)
    return edit


def t_tls_and_access_control_example_works():
    wd = Workdir()
    try:
        crt, key = make_cert(wd)
        tls_port = harness.free_port()
        with Running(edit=tls_example(True, tls_port, crt, key)) as run:
            rc, out = run.nginx.config_test()
            check(rc == 0, "nginx -t with the example on:\n" + out)
            healthy(run)
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            c = http.client.HTTPSConnection(harness.HOST, tls_port, timeout=20, context=ctx)
            c.request("GET", "/health")
            r = c.getresponse()
            check(r.status == 200 and json.loads(r.read())["status"] == "healthy",
                  "GET /health over TLS: %d" % r.status)
            c.close()
        # The same example without the loopback allow: a client outside the
        # allowed range gets a JSON 403.
        with Running(edit=tls_example(False, harness.free_port(), crt, key)) as run:
            st, h, body, raw = run.request("GET", "/health")
            check(st == 403 and body == {"success": False, "error": "Forbidden"},
                  "denied client: want JSON 403, got %d %r" % (st, raw[:200]))
    finally:
        wd.cleanup()


# ---------------------------------------------------------------------------
# systemd: the units

def unit_lines(path):
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]


def t_generated_service_names_the_configured_paths():
    check(os.path.exists(SERVICE_UNIT), "%s not generated by make" % SERVICE_UNIT)
    lines = unit_lines(SERVICE_UNIT)
    check(not any(re.search(r"@[a-z_]+@", l) for l in lines),
          "unexpanded template variable in the unit")
    sbindir = os.environ.get("KV_SBINDIR")
    sysconfdir = os.environ.get("KV_SYSCONFDIR")
    if sbindir:
        check("ExecStart=%s/kvstore-fcgi" % sbindir in lines,
              "ExecStart must run %s/kvstore-fcgi: %r" % (sbindir, lines))
    if sysconfdir:
        check("EnvironmentFile=-%s/kvstore-fcgi/kvstore-fcgi.env" % sysconfdir in lines,
              "EnvironmentFile must be optional, under %s" % sysconfdir)
    for want in ("Restart=on-failure", "StateDirectory=kvstore-fcgi", "DynamicUser=yes",
                 "Requires=kvstore-fcgi.socket"):
        check(want in lines, "the service unit lacks %s" % want)
    sock = unit_lines(SOCKET_UNIT)
    for want in ("SocketMode=0660", "SocketGroup=www-data", "Accept=no",
                 "WantedBy=sockets.target"):
        check(want in sock, "the socket unit lacks %s" % want)


def unit_seconds(value):
    """A systemd time span as seconds ("3s", "1min 30s", "500ms", "10")."""
    units = {"ms": 0.001, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "": 1}
    total = 0.0
    for num, unit in re.findall(r"([\d.]+)\s*([a-z]*)", value):
        check(unit in units, "unknown time unit in %r" % value)
        total += float(num) * units[unit]
    return total


def t_automatic_restarts_never_reach_the_start_limit():
    # A crash loop (a full disk) must be retried until it heals: automatic
    # restarts, RestartSec= apart, must not fill StartLimitBurst= starts
    # within StartLimitIntervalSec=, even with one manual or socket start
    # in the same window. check-deploy shows it under a real systemd.
    settings = dict(l.split("=", 1) for l in unit_lines(SERVICE_UNIT) if "=" in l)
    for key in ("RestartSec", "StartLimitIntervalSec", "StartLimitBurst"):
        check(key in settings, "the service unit should set %s= explicitly" % key)
    restart = unit_seconds(settings["RestartSec"])
    interval = unit_seconds(settings["StartLimitIntervalSec"])
    burst = int(settings["StartLimitBurst"])
    check(interval > 0 and burst >= 3,
          "keep a start limit: it ends the loop of starts that waiting connections "
          "trigger after an exit with status 2")
    check((burst - 1) * restart >= interval,
          "RestartSec=%s x (StartLimitBurst=%d - 1) < StartLimitIntervalSec=%s: a crash "
          "loop would hit the start limit and stay failed" % (
              settings["RestartSec"], burst, settings["StartLimitIntervalSec"]))
    check(restart <= 10, "RestartSec=%s: a crash should not keep the store down for long"
          % settings["RestartSec"])


def units_for_test(wd):
    """Copies of the units whose ExecStart runs the binary just built (the
    installed path does not exist here). Returns (socket, service) paths."""
    d = wd.mkdir("units")
    with open(SERVICE_UNIT) as f:
        text = re.sub(r"^ExecStart=\S+", "ExecStart=" + BINARY, f.read(), flags=re.M)
    svc = os.path.join(d, "kvstore-fcgi.service")
    with open(svc, "w") as f:
        f.write(text)
    sock = os.path.join(d, "kvstore-fcgi.socket")
    shutil.copy(SOCKET_UNIT, sock)
    return sock, svc


def t_units_pass_systemd_analyze_verify():
    wd = Workdir()
    try:
        sock, svc = units_for_test(wd)
        env = dict(os.environ)
        args = [tool("systemd-analyze"), "verify"]
        if tool("man"):
            # Documentation=man:kvstore-fcgi(8) must resolve: point man at
            # the page that make install ships.
            mandir = wd.mkdir("man", "man8")
            shutil.copy(MAN_PAGE, mandir)
            env["MANPATH"] = wd.sub("man")
        else:
            args.append("--man=no")
        r = subprocess.run(args + [sock, svc], capture_output=True, text=True,
                           timeout=60, env=env, cwd=wd.path)
        check(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
              "systemd-analyze verify: %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
    finally:
        wd.cleanup()


def t_service_hardening_rates_ok():
    wd = Workdir()
    try:
        _, svc = units_for_test(wd)
        r = subprocess.run([tool("systemd-analyze"), "security", "--offline=true", svc],
                           capture_output=True, text=True, timeout=60, cwd=wd.path)
        m = re.search(r"Overall exposure level for kvstore-fcgi\.service: ([\d.]+) (\w+)",
                      r.stdout)
        check(m, "no exposure level in systemd-analyze security output:\n%s%s"
              % (r.stdout[-2000:], r.stderr))
        check(float(m.group(1)) <= 2.0, "exposure %s %s, want <= 2.0 (OK)\n%s"
              % (m.group(1), m.group(2), r.stdout))
    finally:
        wd.cleanup()


def t_socket_activation_fd3_serves_through_nginx():
    with Running(launcher="socket-activate") as run:
        healthy(run)
        st, _, body, raw = run.request("POST", "/set", {"key": "a/b c", "value": [1, "x"]})
        check(st == 200, "set: %d %r" % (st, raw))
        st, _, body, raw = run.request("GET", "/get/a%2Fb%20c")
        check(st == 200 and body["value"] == [1, "x"], "get by path key: %d %r" % (st, raw))
        check("as 3" in run.svc.log(), "socket not passed on fd 3:\n" + run.svc.log())
        rc = run.svc.stop()
        check(rc == 0 and "stopped cleanly" in run.svc.log(),
              "SIGTERM under socket activation: status %r\n%s" % (rc, run.svc.log()))


# ---------------------------------------------------------------------------
# lifecycle: launchers, signals, restarts, fatal starts

def t_spawn_fcgi_fd0_serves_through_nginx():
    with Running(launcher="spawn-fcgi") as run:
        healthy(run)
        st, _, body, raw = run.request("POST", "/set", {"key": "k", "value": {"n": 1}})
        check(st == 200, "set: %d %r" % (st, raw))
        st, _, body, raw = run.request("GET", "/get?key=k")
        check(st == 200 and body["value"] == {"n": 1}, "get: %d %r" % (st, raw))


def t_each_stop_signal_exits_0_cleanly():
    for sig in (signal.SIGTERM, signal.SIGINT):
        with Running() as run:
            healthy(run)
            run.svc.send(sig)
            rc = run.svc.wait()
            log = run.svc.log()
            check(rc == 0 and "stopped cleanly" in log,
                  "%s: status %r\n%s" % (sig.name, rc, log))
            check(re.search(r"kvstore-fcgi: info: received signal %d" % sig.value, log),
                  "%s: no info line about the signal:\n%s" % (sig.name, log))


def batch_body(prefix, n_ops, value_size):
    ops = [{"op": "set", "key": "%s-%03d" % (prefix, i),
            "value": "%s-%03d:" % (prefix, i) + "v" * value_size} for i in range(n_ops)]
    return json.dumps({"operations": ops}, separators=(",", ":")).encode()


# read(2)'s number, to see in /proc which threads wait for a body.
READ_SYSCALL = {"x86_64": 0, "aarch64": 63, "riscv64": 63, "i686": 3, "armv7l": 3}


def threads_reading_connections(pid, listen_fd=0):
    """How many of pid's threads are blocked in read(2) on a descriptor
    other than the listening socket: workers waiting for a request body
    (the parameters were sent whole, so reading them never blocks)."""
    nr = READ_SYSCALL.get(os.uname().machine)
    n = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/syscall" % (pid, tid)) as f:
                fields = f.read().split()
        except OSError:
            continue
        if (len(fields) > 1 and fields[0] == str(nr) and
                int(fields[1], 16) != listen_fd):
            n += 1
    return n


def t_sigterm_lets_in_flight_requests_finish_and_restart_keeps_data():
    # Requests are held in flight honestly: each connection has sent its
    # FastCGI parameters and half of a large batch body, so a worker has
    # accepted it and is reading the body when SIGTERM arrives. The rest of
    # each body is sent only after the service has logged the signal.
    n = 4
    wd = Workdir()
    data = wd.mkdir("data")
    svc = Service(wd, data, args=["--threads=%d" % n, "--durability=sync"])
    try:
        svc.start()
        st, _, _ = fcgi_get(svc.sock, "/health")
        check(st == 200, "health before the test: %d" % st)
        check(os.uname().machine in READ_SYSCALL,
              "add read(2)'s number on %s to READ_SYSCALL" % os.uname().machine)
        bodies = [batch_body("inflight%d" % i, 100, 8000) for i in range(n)]
        conns = []
        for b in bodies:
            c = FcgiConn(svc.sock)
            c.begin("POST", "/batch", len(b))
            c.send_body(b[:len(b) // 2])
            conns.append(c)
        wait_for(lambda: threads_reading_connections(svc.pid) == n, 10,
                 "%d workers to wait for the rest of a body" % n)
        svc.send(signal.SIGTERM)
        wait_for(lambda: "finishing in-flight requests" in svc.log(), 10,
                 "the service to log the signal")
        check(svc.proc.poll() is None, "service exited with requests in flight:\n" + svc.log())
        for c, b in zip(conns, bodies):
            c.send_body(b[len(b) // 2:])
            c.end_body()
        for i, c in enumerate(conns):
            st, h, body = c.response()
            check(st == 200, "in-flight request %d: status %d %r" % (i, st, body[:200]))
            res = json.loads(body)
            check(res.get("success") is True and len(res.get("results", [])) == 100,
                  "in-flight request %d: %r" % (i, body[:200]))
        rc = svc.wait()
        check(rc == 0, "exit status %r after SIGTERM:\n%s" % (rc, svc.log()))
        check("stopped cleanly" in svc.log(), "no 'stopped cleanly':\n" + svc.log())

        # A restart on the same directory serves everything acknowledged.
        with Running(data_dir=data) as run:
            for i in range(n):
                for j in (0, 57, 99):
                    key = "inflight%d-%03d" % (i, j)
                    st, _, body, raw = run.request("GET", "/get?key=" + key)
                    check(st == 200 and body["value"].startswith(key + ":"),
                          "after restart %s: %d %r" % (key, st, raw[:100]))
            st, _, body, _ = run.request("GET", "/list?prefix=inflight&limit=1000")
            check(st == 200 and body["count"] == n * 100,
                  "after restart: %r keys of %d" % (body.get("count"), n * 100))
    finally:
        svc.stop()
        wd.cleanup()


def t_logs_are_stderr_lines_with_a_level():
    with Running(args=["--log-level=debug"]) as run:
        healthy(run)
        run.svc.stop()
        lines = [l for l in run.svc.log().splitlines() if l.startswith("kvstore-fcgi:")]
        check(lines, "no log lines:\n" + run.svc.log())
        for l in lines:
            check(re.match(r"kvstore-fcgi: (error|warn|info|debug): ", l),
                  "log line without a level: %r" % l)
        check(any(l.startswith("kvstore-fcgi: debug: GET /health -> 200") for l in lines),
              "debug level logs requests:\n" + "\n".join(lines))


def t_journal_stream_gets_priority_prefixes():
    wd = Workdir()
    lsock = listening_unix_socket(wd)
    p = None
    try:
        errpath = wd.sub("stderr")
        with open(errpath, "wb") as err:
            st = os.fstat(err.fileno())
            env = {"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino),
                   "KV_DATA_DIR": wd.mkdir("data")}
            p = subprocess.Popen([BINARY], stdin=lsock.fileno(), stderr=err,
                                 stdout=subprocess.DEVNULL, env=env)
        wait_for(lambda: "serving" in read_text(errpath), 20, "the service to start")
        p.send_signal(signal.SIGTERM)
        check(p.wait(timeout=30) == 0, "exit status")
        text = read_text(errpath)
        check(re.search(r"^<6>kvstore-fcgi: info: serving", text, re.M) and
              re.search(r"^<6>kvstore-fcgi: info: stopped cleanly", text, re.M),
              "journal lines need <6> for info:\n" + text)
        # A stderr that is not the named stream gets plain lines.
        rc, err = run_binary(["--data-dir=/nonexistent"], stdin=lsock.fileno(),
                             env={"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)})
        check(rc == 1 and err.startswith("kvstore-fcgi: fatal: "),
              "plain lines on a terminal or pipe: %r" % err)
        with open(errpath, "wb") as err:
            st = os.fstat(err.fileno())
            r = subprocess.run([BINARY, "--data-dir=/nonexistent"], stdin=lsock.fileno(),
                               stderr=err, timeout=30,
                               env={"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)})
        text = read_text(errpath)
        check(r.returncode == 1 and text.startswith("<2>kvstore-fcgi: fatal: "),
              "fatal is priority 2 in the journal: %r" % text)
    finally:
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()
        lsock.close()
        wd.cleanup()


def expect_fatal(what, rc_err, *needles):
    rc, err = rc_err
    check(rc == 1, "%s: want exit status 1, got %d (%r)" % (what, rc, err))
    check(err.startswith("kvstore-fcgi: fatal: "), "%s: unclear message %r" % (what, err))
    for n in needles:
        check(n in err, "%s: message %r lacks %r" % (what, err, n))


def t_fatal_without_a_listening_socket():
    wd = Workdir()
    try:
        data = wd.mkdir("data")
        expect_fatal("fd 0 is /dev/null", run_binary(["--data-dir=" + data]),
                     "fd 0 is not a listening socket", "spawn-fcgi")
        a, b = socket.socketpair()
        try:
            expect_fatal("fd 0 a connected socket",
                         run_binary(["--data-dir=" + data], stdin=a.fileno()),
                         "fd 0 is not a listening socket")
        finally:
            a.close()
            b.close()
        # Socket activation announced, but no socket on fd 3.
        sh = "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" \"$@\""
        expect_fatal("LISTEN_FDS=1 without fd 3",
                     run_binary(["--data-dir=" + data], prefix=["sh", "-c", sh]),
                     "fd 3 is not a listening socket")
        lsock = listening_unix_socket(wd)
        try:
            sh = "LISTEN_PID=$$ LISTEN_FDS=2 exec \"$0\" \"$@\" 3<&0 4<&0"
            expect_fatal("LISTEN_FDS=2",
                         run_binary(["--data-dir=" + data], stdin=lsock.fileno(),
                                    prefix=["sh", "-c", sh]),
                         "LISTEN_FDS=2", "exactly one socket")
        finally:
            lsock.close()
    finally:
        wd.cleanup()


def t_fatal_when_the_data_directory_is_unusable():
    wd = Workdir()
    lsock = listening_unix_socket(wd)
    try:
        missing = wd.sub("missing")
        expect_fatal("missing data dir",
                     run_binary(["--data-dir=" + missing], stdin=lsock.fileno()),
                     missing, "No such file or directory")
        f = wd.sub("afile")
        open(f, "w").close()
        expect_fatal("data dir is a file",
                     run_binary(["--data-dir=" + f], stdin=lsock.fileno()),
                     f, "not a directory")
        ro = wd.mkdir("readonly")
        prefix, binary = [], BINARY
        if os.geteuid() == 0:
            # root may write anywhere: run as nobody, from a copy of the
            # binary that nobody can surely execute.
            binary = shutil.copy(BINARY, wd.mkdir("bin"))
            prefix = [tool("setpriv"), "--reuid=65534", "--regid=65534", "--clear-groups"]
        else:
            os.chmod(ro, 0o555)
        try:
            expect_fatal("data dir not writable",
                         run_binary(["--data-dir=" + ro], stdin=lsock.fileno(),
                                    prefix=prefix, binary=binary),
                         ro, "Permission denied")
        finally:
            os.chmod(ro, 0o755)
    finally:
        lsock.close()
        wd.cleanup()


def t_fatal_when_another_instance_holds_the_data_directory():
    with Running() as run:
        healthy(run)
        st, _, _, _ = run.request("POST", "/set", {"key": "mine", "value": 1})
        check(st == 200, "set")
        lsock = listening_unix_socket(run.wd, "second.sock")
        try:
            expect_fatal("second instance",
                         run_binary(["--data-dir=" + run.data_dir], stdin=lsock.fileno()),
                         run.data_dir, "in use by another kvstore-fcgi process")
        finally:
            lsock.close()
        # The first instance was not disturbed.
        healthy(run)
        st, _, body, _ = run.request("GET", "/get?key=mine")
        check(st == 200 and body["value"] == 1, "first instance after the attempt")


def t_usage_errors_exit_2():
    for args, env, needle in (
            (["--bogus"], {}, "unrecognized option"),
            (["--threads=0", "--data-dir=/tmp"], {}, "--threads"),
            (["--durability=nosync", "--data-dir=/tmp"], {}, "--durability"),
            (["--data-dir=/tmp"], {"KV_MAX_BODY": "12x"}, "KV_MAX_BODY"),
            ([], {}, "no data directory"),
            (["--data-dir=/tmp", "extra"], {}, "unexpected argument")):
        rc, err = run_binary(args, env=env)
        check(rc == 2 and needle in err, "%r %r: want status 2 and %r, got %d %r"
              % (args, env, needle, rc, err))
    rc, err = run_binary(["--help"])
    check(rc == 0, "--help exits 0")


# ---------------------------------------------------------------------------
# syscalls: the service's system calls against the unit's SystemCallFilter

def child_pids(pid):
    """The processes whose parent is pid."""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may contain spaces: fields follow its ")".
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            kids.append(int(d))
    return kids


def read_text(path):
    with open(path, errors="replace") as f:
        return f.read()


def syscall_sets():
    """{"@set": set of names (nested sets expanded)} from systemd-analyze."""
    out = subprocess.run([tool("systemd-analyze"), "syscall-filter"], capture_output=True,
                         text=True, timeout=60).stdout
    raw, cur = {}, None
    for line in out.splitlines():
        if line.startswith("@"):
            cur = line.split()[0]
            raw[cur] = []
        elif cur and line.strip() and not line.strip().startswith("#"):
            raw[cur].append(line.strip())

    def expand(name, seen=()):
        names = set()
        for item in raw.get(name, []):
            if item.startswith("@"):
                if item not in seen:
                    names |= expand(item, seen + (name,))
            else:
                names.add(item)
        return names
    return {k: expand(k) for k in raw}


def unit_syscall_filter(sets):
    """The set of system calls the service unit's SystemCallFilter= allows."""
    allowed = None
    for line in unit_lines(SERVICE_UNIT):
        if not line.startswith("SystemCallFilter="):
            continue
        spec = line.split("=", 1)[1]
        deny = spec.startswith("~")
        names = set()
        for item in spec.lstrip("~").split():
            check(not item.startswith("@") or item in sets, "unknown set %s" % item)
            names |= sets[item] if item.startswith("@") else {item}
        if allowed is None:
            check(not deny, "the first SystemCallFilter= should be an allow list")
            allowed = names
        elif deny:
            allowed -= names
        else:
            allowed |= names
    check(allowed, "the service unit has no SystemCallFilter=")
    return allowed


def t_service_syscalls_are_within_the_units_filter():
    sets = syscall_sets()
    allowed = unit_syscall_filter(sets)
    wd = Workdir()
    try:
        trace = wd.sub("strace.out")
        strace = [tool("strace"), "-f", "-qq", "-c", "-o", trace]
        with Running(wrap=strace, args=["--threads=2"]) as run:
            healthy(run)
            for method, path, body in (
                    ("POST", "/set", {"key": "a", "value": {"x": [1, 2]}}),
                    ("POST", "/set", {"key": "t", "value": 1, "ttl": 1}),
                    ("GET", "/get?key=a", None), ("GET", "/get/a", None),
                    ("GET", "/list?prefix=&limit=10", None),
                    ("POST", "/test-and-set", {"key": "a", "oldValue": None, "newValue": 2}),
                    ("POST", "/batch", {"operations": [{"op": "set", "key": "b", "value": 1},
                                                       {"op": "delete", "key": "a"}]}),
                    ("DELETE", "/delete?key=b", None), ("OPTIONS", "/", None),
                    ("POST", "/set", b"{bad")):
                st, _, _, raw = run.request(method, path, body)
                check(st < 500, "%s %s: %d %r" % (method, path, st, raw[:200]))
            # The maintenance thread sweeps the expired key within seconds.
            time.sleep(2.5)
            # Stop the traced service itself: strace then writes its summary.
            kids = child_pids(run.svc.pid)
            check(len(kids) == 1, "want one traced process under strace: %r" % kids)
            os.kill(kids[0], signal.SIGTERM)
            rc = run.svc.wait()
            check(rc == 0 and "stopped cleanly" in run.svc.log(),
                  "traced service: status %r\n%s" % (rc, run.svc.log()))
            with open(trace) as f:
                text = f.read()
        used = set()
        for line in text.splitlines():
            f = line.split()
            if f and re.match(r"^\d", f[0]) and f[-1] != "total" and re.match(r"^[a-z_0-9]+$", f[-1]):
                used.add(f[-1])
        check(len(used) > 10 and "execve" in used,
              "strace found too few system calls: %r\n%s" % (used, text[-2000:]))
        print("system calls seen: " + " ".join(sorted(used)))
        missing = sorted(used - allowed)
        check(not missing, "system calls used by kvstore-fcgi but refused by the unit's "
              "SystemCallFilter=: %s" % ", ".join(missing))
    finally:
        wd.cleanup()


# ---------------------------------------------------------------------------
# man: kvstore-fcgi(8)

def t_man_page_renders_without_warnings():
    r = subprocess.run([tool("groff"), "-mandoc", "-ww", "-z", "-Tutf8", MAN_PAGE],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 and not r.stderr.strip(), "groff warnings:\n" + r.stderr)


def t_man_page_documents_every_option_variable_signal_and_status():
    with open(MAN_PAGE) as f:
        page = f.read()
    # mdoc escapes the hyphens of options: \-\-data\-dir.
    # and a macro line may continue after a backslash-newline.
    plain = page.replace("\\-", "-").replace("\\\n", "")
    out = subprocess.run([BINARY, "--help"], capture_output=True, text=True,
                         timeout=30).stdout
    opts = re.findall(r"^  (--[a-z-]+)", out, re.M)
    envs = re.findall(r"\(env (KV_[A-Z_]+),", out)
    check(len(opts) >= 10 and len(envs) >= 10, "could not parse --help:\n" + out)
    # mdoc's Fl supplies the first hyphen: "Fl -data-dir" is --data-dir.
    for o in opts:
        check(re.search(r"^\.It Fl (?:[a-zA-Z] , Fl )?%s\b" % re.escape(o[1:]), plain, re.M),
              "the man page has no entry for %s" % o)
    for e in envs + ["STATE_DIRECTORY", "LISTEN_FDS", "LISTEN_PID", "JOURNAL_STREAM"]:
        check(re.search(r"^\.It Ev .*\b%s\b" % e, plain, re.M), "no ENVIRONMENT entry for %s" % e)
    for name, default in service_help_defaults().items():
        sect = plain.split(".It Fl -%s" % name, 1)[1].split("\n.It ", 1)[0]
        check(default.replace("$", "") in sect.replace("\\(ga", ""),
              "man page: --%s default %s not stated" % (name, default))
    for sig in ("SIGTERM", "SIGINT", "SIGHUP"):
        check(re.search(r"^\.It Dv .*\b%s\b" % sig, plain, re.M), "no SIGNALS entry for " + sig)
    exit_sect = plain.split(".Sh EXIT STATUS", 1)[1].split(".Sh ", 1)[0]
    for code in ("0", "1", "2"):
        check(".It %s\n" % code in exit_sect, "EXIT STATUS lacks %s" % code)
    for sect in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "ENVIRONMENT", "SIGNALS",
                 "FILES", "EXIT STATUS", "SEE ALSO"):
        check(".Sh %s\n" % sect in page, "no %s section" % sect)


# ---------------------------------------------------------------------------

GROUPS = {
    "nginx": (("nginx", "NGINX"), ("spawn-fcgi", "SPAWN_FCGI"), ("openssl", None)),
    "systemd": (("systemd-analyze", None), ("systemd-socket-activate", None),
                ("nginx", "NGINX")),
    "lifecycle": (("spawn-fcgi", "SPAWN_FCGI"), ("nginx", "NGINX"), ("setpriv", None)),
    "syscalls": (("strace", None), ("systemd-analyze", None), ("spawn-fcgi", "SPAWN_FCGI"),
                 ("nginx", "NGINX")),
    "man": (("groff", None),),
}

TESTS = {
    "nginx": [t_site_file_passes_nginx_t_as_shipped, t_rendered_site_passes_nginx_t,
              t_site_matches_the_service_defaults_and_the_socket_unit,
              t_nginx_errors_are_json_with_their_status,
              t_tls_and_access_control_example_works],
    "systemd": [t_generated_service_names_the_configured_paths,
                t_automatic_restarts_never_reach_the_start_limit,
                t_units_pass_systemd_analyze_verify, t_service_hardening_rates_ok,
                t_socket_activation_fd3_serves_through_nginx],
    "lifecycle": [t_spawn_fcgi_fd0_serves_through_nginx, t_each_stop_signal_exits_0_cleanly,
                  t_sigterm_lets_in_flight_requests_finish_and_restart_keeps_data,
                  t_logs_are_stderr_lines_with_a_level, t_journal_stream_gets_priority_prefixes,
                  t_fatal_without_a_listening_socket,
                  t_fatal_when_the_data_directory_is_unusable,
                  t_fatal_when_another_instance_holds_the_data_directory,
                  t_usage_errors_exit_2],
    "syscalls": [t_service_syscalls_are_within_the_units_filter],
    "man": [t_man_page_renders_without_warnings,
            t_man_page_documents_every_option_variable_signal_and_status],
}


def sanitizer_build():
    with open(BINARY, "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"__ubsan_handle_" in data


def main(argv):
    if len(argv) < 2 or argv[1] not in TESTS:
        print("usage: test_deploy.py {%s} [name-substring...]" % ",".join(TESTS))
        return 2
    group, only = argv[1], argv[2:]
    for name, env_var in GROUPS[group]:
        if not tool(name, env_var):
            print("SKIP: %s not found (scripts/dev deps installs it)" % name)
            return 77
    if not os.access(BINARY, os.X_OK):
        print("FAIL: %s not built" % BINARY)
        return 1
    if group == "syscalls" and sanitizer_build():
        # The sanitizer runtimes make system calls of their own (and LSan
        # cannot work under strace): only a plain build says what ships.
        print("SKIP: %s is a sanitizer build" % BINARY)
        return 77
    passed = failed = 0
    for fn in TESTS[group]:
        name = fn.__name__[2:]
        if only and not any(o in name for o in only):
            continue
        try:
            fn()
            print("PASS: %s" % name)
            passed += 1
        except Exception:
            print("FAIL: %s\n%s" % (name, traceback.format_exc()))
            failed += 1
        sys.stdout.flush()
    print("%s: %d passed, %d failed" % (group, passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
