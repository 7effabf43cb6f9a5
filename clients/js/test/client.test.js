// node --test suite of kvstore-fcgi-client against a real kvstore-fcgi
// stack (nginx + the service), started by tests/integration/test_js.py
// (`make check TESTS=tests/integration/js-client.test`), which passes:
//   KV_BASE_URL        the open stack (through a proxy that checks every
//                      reply against openapi.yaml)
//   KV_AUTH_BASE_URL   a stack with access control, when the service has it
//   KV_TOKEN_RW        a read+write token for every key there
//   KV_TOKEN_RO        a read-only token limited to the prefix "ro_"
//   KV_AUTH_SKIP       why there is no such stack, when there is none
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import { KvClient, KvError } from '../src/index.js';
import * as scenario from './scenario.js';

const BASE = process.env.KV_BASE_URL;
if (!BASE) {
  throw new Error('KV_BASE_URL is not set: run `make check TESTS=tests/integration/js-client.test`');
}

let features;
const kv = new KvClient({ baseUrl: BASE, timeoutMs: 5000 });

before(async () => {
  features = await scenario.probe(kv, 'probe_node_');
  const missing = Object.entries(features).filter(([, v]) => !v).map(([k]) => k);
  if (missing.length) {
    console.log(`# the server lacks ${missing.join(', ')}: those steps are skipped`);
  }
});

test('every method of the client against the real service', async (t) => {
  const { done, skipped } = await scenario.run(kv, 'node_', features);
  assert.ok(done.includes('batch') && done.includes('items'));
  for (const s of skipped) t.diagnostic(`skipped ${s}: the server does not have it yet`);
});

// The optional features each get a test of their own, so a server without
// one reports a SKIP with the reason rather than a silent pass.
for (const f of ['versions', 'conditional', 'incr', 'touch', 'keysOnly', 'deletePrefix']) {
  test(`server feature ${f} is exercised`, (t) => {
    if (!features[f]) t.skip(`the server has no ${f} (404 "Not found" or no version field)`);
    else assert.ok(true);
  });
}

test('ETag and If-None-Match: 304 without a body', async (t) => {
  if (!features.versions) return t.skip('the server has no versions');
  const w = await kv.set({ key: 'node_etag', value: 1 });
  const url = `${BASE}/get?key=node_etag`;
  const r1 = await fetch(url);
  assert.equal(r1.headers.get('etag'), `"${w.version}"`);
  const r2 = await fetch(url, { headers: { 'If-None-Match': `"${w.version}"` } });
  assert.equal(r2.status, 304);
  assert.equal(await r2.text(), '');
});

test('misuse is a TypeError at once, not a request', async () => {
  await assert.rejects(kv.set('k', 1), TypeError);
  await assert.rejects(kv.set({ key: 'k' }), /value is required/);
  await assert.rejects(kv.get(''), TypeError);
  await assert.rejects(kv.testAndSet({ key: 'k', newValue: 1 }), /oldValue is required/);
  await assert.rejects(kv.deletePrefix({ prefix: '' }), TypeError);
  await assert.rejects(kv.delete({ key: 'k', ifVersion: -1 }), TypeError);
  await assert.rejects(kv.batch('nope'), TypeError);
});

test('a 400 is a KvError with status, code and the server\'s message', async () => {
  const err = await kv.set({ key: 'node_e', value: 1, ttl: 1.5 }).catch((e) => e);
  assert.ok(err instanceof KvError);
  assert.equal(err.name, 'KvError');
  assert.equal(err.status, 400);
  assert.equal(err.code, 'bad_request');
  assert.match(err.message, /ttl/);
});

// --- fault injection: a proxy in front of the real service ------------

// Answers the first `faults.count` requests itself (status, Retry-After,
// or no reply at all for `hang`), then forwards to the real stack.
// Counts what it saw so the tests can tell how often the client tried.
function faultProxy() {
  const state = { count: 0, status: 503, retryAfter: '0', hang: false, seen: 0 };
  const server = http.createServer(async (req, res) => {
    state.seen++;
    const chunks = [];
    for await (const c of req) chunks.push(c);
    if (state.count > 0) {
      state.count--;
      if (state.hang) return; // never answers; the client must time out
      const h = { 'Content-Type': 'application/json' };
      if (state.retryAfter !== null) h['Retry-After'] = state.retryAfter;
      res.writeHead(state.status, h);
      res.end(JSON.stringify({ success: false, error: 'Service unavailable' }));
      return;
    }
    const headers = { ...req.headers };
    delete headers.host;
    delete headers['content-length'];
    const up = await fetch(BASE + req.url, {
      method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined,
    });
    const out = {};
    up.headers.forEach((v, k) => { out[k] = v; });
    delete out['content-length'];
    delete out['transfer-encoding'];
    res.writeHead(up.status, out);
    res.end(Buffer.from(await up.arrayBuffer()));
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      state.url = `http://127.0.0.1:${server.address().port}`;
      state.close = () => { server.closeAllConnections(); server.close(); };
      resolve(state);
    });
  });
}

test('retries a 503 with Retry-After, then succeeds', async () => {
  const fp = await faultProxy();
  try {
    const c = new KvClient({ baseUrl: fp.url, retries: 3 });
    await c.set({ key: 'node_r', value: 'ok' });
    // Even a write that is not idempotent: a 503 with Retry-After is the
    // service saying nothing was written.
    Object.assign(fp, { count: 2, status: 503, retryAfter: '0', seen: 0 });
    const got = await c.get('node_r');
    assert.equal(got.value, 'ok');
    assert.equal(fp.seen, 3);
    if (features.incr) {
      Object.assign(fp, { count: 2, seen: 0 });
      const n = await c.incr({ key: 'node_r_n' });
      assert.equal(n.value, 1);
      assert.equal(fp.seen, 3);
    }
  } finally {
    fp.close();
  }
});

test('gives up after `retries` and throws the 503 as a KvError', async () => {
  const fp = await faultProxy();
  try {
    const c = new KvClient({ baseUrl: fp.url, retries: 2 });
    Object.assign(fp, { count: 10, status: 503, retryAfter: '0', seen: 0 });
    const err = await c.get('node_r').catch((e) => e);
    assert.ok(err instanceof KvError);
    assert.equal(err.status, 503);
    assert.equal(err.code, 'unavailable');
    assert.equal(err.retryAfter, 0);
    assert.equal(fp.seen, 3);
  } finally {
    fp.close();
  }
});

test('waits as long as Retry-After says (capped by maxRetryDelayMs)', async () => {
  const fp = await faultProxy();
  try {
    const c = new KvClient({ baseUrl: fp.url, retries: 1, maxRetryDelayMs: 400 });
    Object.assign(fp, { count: 1, status: 503, retryAfter: '30', seen: 0 });
    const t0 = Date.now();
    await c.get('node_r');
    const dt = Date.now() - t0;
    assert.ok(dt >= 380, `waited ${dt} ms`);
    assert.equal(fp.seen, 2);
  } finally {
    fp.close();
  }
});

test('a 502 without Retry-After is retried for reads, not for incr', async () => {
  const fp = await faultProxy();
  try {
    const c = new KvClient({ baseUrl: fp.url, retries: 2 });
    Object.assign(fp, { count: 1, status: 502, retryAfter: null, seen: 0 });
    assert.equal((await c.get('node_r')).value, 'ok');
    assert.equal(fp.seen, 2);
    // incr may have counted before the proxy failed: never repeated.
    Object.assign(fp, { count: 1, status: 502, retryAfter: null, seen: 0 });
    const err = await c.incr({ key: 'node_r_n2' }).catch((e) => e);
    assert.ok(err instanceof KvError);
    assert.equal(err.status, 502);
    assert.equal(fp.seen, 1);
  } finally {
    fp.close();
  }
});

test('a request with no reply times out with a KvError', async () => {
  const fp = await faultProxy();
  try {
    const c = new KvClient({ baseUrl: fp.url, timeoutMs: 200, retries: 1 });
    Object.assign(fp, { count: 10, hang: true, seen: 0 });
    const t0 = Date.now();
    const err = await c.get('node_r').catch((e) => e);
    assert.ok(err instanceof KvError, String(err));
    assert.equal(err.code, 'timeout');
    assert.equal(err.status, 0);
    assert.equal(fp.seen, 2, 'a read is retried once after a timeout');
    assert.ok(Date.now() - t0 < 3000);
    // A write that is not idempotent is not repeated after a timeout.
    Object.assign(fp, { count: 10, hang: true, seen: 0 });
    const err2 = await c.incr({ key: 'node_r_n3' }).catch((e) => e);
    assert.equal(err2.code, 'timeout');
    assert.equal(fp.seen, 1);
  } finally {
    fp.close();
  }
});

test('a network error is a KvError, not undefined', async () => {
  const fp = await faultProxy();
  const url = fp.url;
  fp.close();
  const c = new KvClient({ baseUrl: url, retries: 0 });
  const err = await c.get('x').catch((e) => e);
  assert.ok(err instanceof KvError);
  assert.equal(err.code, 'network');
});

// --- access control ----------------------------------------------------

const AUTH = process.env.KV_AUTH_BASE_URL;
const authSkip = AUTH ? false : (process.env.KV_AUTH_SKIP || 'no access-control stack');

test('with a token: the whole scenario', { skip: authSkip }, async () => {
  const c = new KvClient({ baseUrl: AUTH, token: process.env.KV_TOKEN_RW });
  const f = await scenario.probe(c, 'probe_tok_');
  await scenario.run(c, 'tok_', f);
});

test('no token, an unknown token: 401 KvError', { skip: authSkip }, async () => {
  for (const token of [undefined, 'kvs_not_a_real_token']) {
    const c = new KvClient({ baseUrl: AUTH, token });
    const err = await c.get('tok_a').catch((e) => e);
    assert.ok(err instanceof KvError, String(err));
    assert.equal(err.status, 401);
    assert.equal(err.code, 'unauthorized');
    assert.equal(err.message, 'Unauthorized');
  }
  // /health stays open.
  assert.equal((await new KvClient({ baseUrl: AUTH }).health()).status, 'healthy');
});

test('a token without the right or outside its prefix: 403 KvError', { skip: authSkip }, async () => {
  const rw = new KvClient({ baseUrl: AUTH, token: process.env.KV_TOKEN_RW });
  await rw.set({ key: 'ro_x', value: 1 });
  const ro = new KvClient({ baseUrl: AUTH, token: process.env.KV_TOKEN_RO });
  assert.equal((await ro.get('ro_x')).value, 1);
  for (const call of [() => ro.set({ key: 'ro_x', value: 2 }), () => ro.get('other'),
    () => ro.list({ prefix: '' })]) {
    const err = await call().catch((e) => e);
    assert.ok(err instanceof KvError, String(err));
    assert.equal(err.status, 403);
    assert.equal(err.code, 'forbidden');
  }
  assert.equal((await rw.get('ro_x')).value, 1, 'the refused write changed nothing');
});
