"""The JavaScript client (clients/js) against the real stack.

    test_js.py node      node --test suites of clients/js/test/
    test_js.py browser   headless Chromium loads a page from another origin
                         that imports the client and runs the same scenario
                         through CORS, with a bearer token

Both start the stack with harness.Stack (an open one, and one with access
control when the service has it) and put a proxy in front of each that
checks every reply against openapi.yaml (openapi_check, as harness.request
does for the Python suites): the run fails if any reply the client got did
not match the document.

Environment: what harness.py reads, plus NODE and CHROMIUM (programs; by
default `node` and `chromium` in PATH), KV_ADMIN (kvstore-admin, to make
tokens) and KV_REQUIRE_NODE=1 to fail rather than skip (exit 77) when node
or chromium is missing.
"""

import base64
import hashlib
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import harness
import openapi_check

TOP = harness.TOP_SRCDIR
JS = os.path.join(TOP, "clients", "js")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length",
              "host", "upgrade", "proxy-connection", "te", "trailer"}


class CheckingProxy:
    """Forwards every request to the stack on `port` and checks each reply
    against openapi.yaml; `problems` collects the mismatches, `origins`
    the Origin headers seen (the browser test's proof of a cross-origin
    call), `preflights` how many OPTIONS requests came."""

    def __init__(self, port):
        self.upstream = port
        self.problems = []
        self.origins = set()
        self.preflights = 0
        self.requests = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in HOP_BY_HOP}
                conn = http.client.HTTPConnection(harness.HOST, proxy.upstream, timeout=30)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    raw = resp.read()
                    status, rh = resp.status, resp.getheaders()
                finally:
                    conn.close()
                low = {}
                for k, v in rh:
                    k = k.lower()
                    low[k] = v if k not in low else low[k] + ", " + v
                problem = openapi_check.check_reply(self.command, self.path, status, low, raw)
                with proxy._lock:
                    proxy.requests += 1
                    if self.headers.get("Origin"):
                        proxy.origins.add(self.headers["Origin"])
                    if self.command == "OPTIONS":
                        proxy.preflights += 1
                    if problem:
                        proxy.problems.append("%s %s: %s" % (self.command, self.path, problem))
                self.send_response(status)
                for k, v in rh:
                    if k.lower() not in HOP_BY_HOP:
                        self.send_header(k, v)
                if status not in (204, 304) and self.command != "HEAD":
                    self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                if status not in (204, 304) and self.command != "HEAD":
                    self.wfile.write(raw)

            do_GET = do_POST = do_DELETE = do_OPTIONS = do_PUT = do_PATCH = do_HEAD = _any

        self.server = http.server.ThreadingHTTPServer((harness.HOST, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return "http://%s:%d" % (harness.HOST, self.port)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def find_program(var, name):
    p = os.environ.get(var)
    if p and os.access(p, os.X_OK):
        return p
    return shutil.which(name)


def skip_or_fail(reason):
    if os.environ.get("KV_REQUIRE_NODE") == "1":
        print("FAIL: %s" % reason)
        print("0 passed, 1 failed")
        return 1
    print("SKIP: %s" % reason)
    return 77


# -- access control: a stack with a tokens file --------------------------

def make_tokens(var_dir):
    """(tokens file, read+write token for every key, read-only token for
    "ro_"), or (None, reason) when the service or kvstore-admin has no
    access control yet."""
    binary = harness.default_binary()
    try:
        helptext = subprocess.run([binary, "--help"], capture_output=True, text=True,
                                  timeout=10).stdout + ""
    except OSError as e:
        return None, "cannot run %s: %s" % (binary, e)
    if "tokens-file" not in helptext:
        return None, "kvstore-fcgi has no --tokens-file (access control not built yet)"
    admin = os.environ.get("KV_ADMIN") or os.path.join(os.path.dirname(binary), "kvstore-admin")
    path = os.path.join(var_dir, "tokens")
    tokens = []
    specs = (("js-rw", ["--read", "--write"], "read,write", "*"),
             ("js-ro", ["--read", "--prefix", "ro_"], "read", "ro_"))
    r = subprocess.run([admin, "--help"], capture_output=True, text=True, timeout=10)
    cli_error = None
    if re.search(r"^\s*token\b", r.stdout + r.stderr, re.M):
        for name, args, _, _ in specs:
            cmd = [admin, "token", "add", name, "--tokens-file", path] + args
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
            m = re.search(r"kvs_[A-Za-z0-9_-]{43}", r.stdout + r.stderr)
            if r.returncode != 0 or not m:
                cli_error = "`kvstore-admin %s` failed (exit %d): %s" % (
                    " ".join(cmd[1:]), r.returncode, (r.stderr or r.stdout).strip()[:300])
                break
            tokens.append(m.group(0))
        if cli_error:
            print("note: %s" % cli_error)
            tokens = []
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
    if not tokens:
        # The service reads tokens but kvstore-admin could not make them:
        # write the file in the format its header documents (NAME RIGHTS
        # PREFIXES CREATED sha256:HEX, the token "kvs_" + 43 base64url).
        print("note: no tokens from kvstore-admin: writing the tokens file directly")
        lines = []
        for name, _, rights, prefixes in specs:
            tok = "kvs_" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
            lines.append("%s %s %s %s sha256:%s\n" % (
                name, rights, prefixes, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                hashlib.sha256(tok.encode()).hexdigest()))
            tokens.append(tok)
        with open(path, "w") as f:
            f.writelines(lines)
    return (path, tokens[0], tokens[1]), None


def start_stacks():
    """The open stack and, when possible, one with access control; each
    behind a CheckingProxy. Returns (stacks, proxies, env for the tests)."""
    stacks, proxies, env = [], [], {}
    open_stack = harness.Stack().start()
    stacks.append(open_stack)
    p = CheckingProxy(open_stack.port)
    proxies.append(p)
    env["KV_BASE_URL"] = p.url
    tok_dir = tempfile.mkdtemp(prefix="kvjs.", dir="/tmp")
    made, reason = make_tokens(tok_dir)
    if made is None:
        env["KV_AUTH_SKIP"] = reason
        print("note: access-control tests skip: %s" % reason)
    else:
        path, rw, ro = made
        auth = harness.Stack(env={"KV_TOKENS_FILE": path}).start()
        stacks.append(auth)
        ap = CheckingProxy(auth.port)
        proxies.append(ap)
        env.update({"KV_AUTH_BASE_URL": ap.url, "KV_TOKEN_RW": rw, "KV_TOKEN_RO": ro})
    return stacks, proxies, env, tok_dir


def report_problems(proxies):
    problems = [x for p in proxies for x in p.problems]
    for x in problems:
        print("FAIL reply does not match openapi.yaml: %s" % x)
    return problems


# -- node ----------------------------------------------------------------

def run_node():
    node = find_program("NODE", "node")
    if not node:
        return skip_or_fail("node not found (apt-get install nodejs)")
    stacks, proxies, env, tok_dir = start_stacks()
    try:
        files = [os.path.join(JS, "test", f) for f in ("client.test.js", "examples.test.js")]
        e = dict(os.environ)
        e.update(env)
        e.pop("KV_TOKEN", None)
        # The seed README, to check the committed copy of its examples
        # against: beside the source tree when there is one.
        seed = os.path.join(TOP, "..", "shared", "seed", "kv-store-function-README.md")
        if "KV_SEED_README" not in e and os.path.exists(seed):
            e["KV_SEED_README"] = seed
        r = subprocess.run([node, "--test", "--test-reporter=spec"] + files, env=e,
                           cwd=JS, timeout=300)
        problems = report_problems(proxies)
        print("%d replies checked against openapi.yaml, %d did not match"
              % (sum(p.requests for p in proxies), len(problems)))
        if r.returncode != 0:
            print("FAIL: node --test exited with status %d" % r.returncode)
        return 0 if r.returncode == 0 and not problems else 1
    finally:
        for p in proxies:
            p.close()
        for s in stacks:
            s.stop()
        shutil.rmtree(tok_dir, ignore_errors=True)


# -- browser -------------------------------------------------------------

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>kvstore-fcgi-client in a browser</title>
<pre id="out">running</pre>
<script type="module">
import { KvClient, KvError } from '/js/src/index.js';
import { probe, run } from '/js/test/scenario.js';
const q = new URLSearchParams(location.search);
const out = document.getElementById('out');
async function main() {
  const kv = new KvClient({ baseUrl: q.get('api'), token: q.get('token') || undefined, timeoutMs: 10000 });
  const result = { origin: location.origin, userAgent: navigator.userAgent };
  const features = await probe(kv, 'probe_browser_');
  Object.assign(result, await run(kv, 'browser_', features), { features });
  if (q.get('token')) {
    // The same call without the token must be refused (401), with a
    // readable JSON body and WWW-Authenticate exposed through CORS.
    const anon = new KvClient({ baseUrl: q.get('api'), retries: 0 });
    try {
      await anon.get('browser_a');
      result.anonymous = 'allowed';
    } catch (e) {
      result.anonymous = e instanceof KvError ? e.status + ' ' + e.message : String(e);
    }
  }
  return result;
}
main().then((r) => ({ ok: true, ...r }),
  (e) => ({ ok: false, origin: location.origin, error: String(e && e.stack || e) }))
  .then((r) => {
    out.textContent = JSON.stringify(r);
    return fetch('/result', { method: 'POST', body: JSON.stringify(r) });
  });
</script>
"""


class PageServer:
    """The page's origin: serves the page and clients/js, and takes the
    page's result at POST /result."""

    def __init__(self):
        self.result = None
        self.done = threading.Event()
        srv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, status, ctype, data):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                path = urllib.parse.urlsplit(self.path).path
                if path == "/page.html":
                    return self._send(200, "text/html; charset=utf-8", PAGE.encode())
                if path.startswith("/js/") and path.endswith(".js") and ".." not in path:
                    f = os.path.join(JS, path[len("/js/"):])
                    if os.path.isfile(f):
                        with open(f, "rb") as fh:
                            return self._send(200, "text/javascript; charset=utf-8", fh.read())
                self._send(404, "text/plain", b"not found")

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(n)
                if self.path == "/result":
                    try:
                        srv.result = json.loads(data)
                    except ValueError:
                        srv.result = {"ok": False, "error": "bad result %r" % data[:200]}
                    srv.done.set()
                self._send(204, "text/plain", b"")

        self.server = http.server.ThreadingHTTPServer((harness.HOST, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def preflight_allows_authorization(port):
    st, h, _, _ = harness.request(port, "OPTIONS", "/get", headers={
        "Origin": "http://127.0.0.1:1", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    return st == 204 and "authorization" in h.get("access-control-allow-headers", "").lower()


def run_browser():
    chromium = find_program("CHROMIUM", "chromium")
    if not chromium:
        return skip_or_fail("chromium not found (apt-get install chromium)")
    stacks, proxies, env, tok_dir = start_stacks()
    page = PageServer()
    profile = tempfile.mkdtemp(prefix="kvchrome.", dir="/tmp")
    proc = None
    checks = []
    try:
        if "KV_AUTH_BASE_URL" in env:
            api, token, with_token = env["KV_AUTH_BASE_URL"], env["KV_TOKEN_RW"], True
        else:
            api, token, with_token = env["KV_BASE_URL"], "", False
            print("SKIP the bearer-token part (a token the service checks, 401 without "
                  "it): %s" % env.get("KV_AUTH_SKIP"))
            if preflight_allows_authorization(stacks[0].port):
                token = "kvs_ignored_by_an_open_service"
            else:
                print("SKIP sending a token at all: the CORS preflight does not allow "
                      "Authorization yet (Access-Control-Allow-Headers)")
        page_origin = "http://%s:%d" % (harness.HOST, page.port)
        url = "%s/page.html?%s" % (page_origin, urllib.parse.urlencode({"api": api, "token": token}))
        print("page %s, API %s (another origin)" % (page_origin, api))
        args = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking",
                "--user-data-dir=" + profile, url]
        log = open(os.path.join(profile, "chromium.log"), "wb")
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        if not page.done.wait(90):
            checks.append(("page reported a result within 90 s", False, "no result"))
        else:
            r = page.result
            print("page result: %s" % json.dumps(r)[:2000])
            checks.append(("scenario ran in the browser", r.get("ok") is True, r.get("error")))
            checks.append(("page ran on its own origin", r.get("origin") == page_origin, r.get("origin")))
            if r.get("ok"):
                for s in r.get("skipped", []):
                    print("SKIP browser step %s: the server does not have it yet" % s)
            proxy = proxies[-1] if with_token else proxies[0]
            checks.append(("the API saw the page's Origin (a CORS request)",
                           page_origin in proxy.origins, sorted(proxy.origins)))
            # A JSON body (and a bearer token) make every write a
            # non-simple request: the browser must have asked first.
            checks.append(("the browser sent CORS preflights and the API allowed them",
                           proxy.preflights > 0, proxy.preflights))
            if with_token:
                checks.append(("without the token the browser gets 401 Unauthorized",
                               r.get("anonymous") == "401 Unauthorized", r.get("anonymous")))
    finally:
        if proc is not None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        page.close()
        problems = report_problems(proxies)
        checks.append(("every reply matched openapi.yaml (%d checked)"
                       % sum(p.requests for p in proxies), not problems, problems[:3]))
        for p in proxies:
            p.close()
        for s in stacks:
            s.stop()
        shutil.rmtree(tok_dir, ignore_errors=True)
    failed = 0
    for name, ok, detail in checks:
        print("%s %s%s" % ("PASS" if ok else "FAIL", name, "" if ok else ": %s" % (detail,)))
        failed += not ok
    if failed and os.path.exists(os.path.join(profile, "chromium.log")):
        with open(os.path.join(profile, "chromium.log"), "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
            print("---- chromium log (tail, D-Bus noise removed) ----\n%s"
                  % "\n".join(l for l in lines if "dbus" not in l)[-4000:])
    shutil.rmtree(profile, ignore_errors=True)
    print("%d passed, %d failed" % (len(checks) - failed, failed))
    return 1 if failed else 0


def main(argv):
    what = argv[1] if len(argv) > 1 else ""
    if what == "node":
        return run_node()
    if what == "browser":
        return run_browser()
    print("usage: test_js.py node|browser")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
