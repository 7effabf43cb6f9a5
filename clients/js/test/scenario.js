// The scenario both the Node tests and the browser test run against a
// real kvstore-fcgi: every method of the client, each result checked.
// Plain ES module with no Node APIs, so a browser page can import it.
//
// probe(kv) finds out which optional parts of the API the server has (a
// server without them answers 404 "Not found" for their routes, or
// leaves out the `version` field); run(kv, prefix, features) exercises
// what is there and names what it skipped.

import { KvError } from '../src/index.js';

function fail(msg) {
  throw new Error(msg);
}

function eq(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) fail(`${what}: got ${a}, expected ${e}`);
}

async function rejects(promise, check, what) {
  try {
    await promise;
  } catch (err) {
    if (!(err instanceof KvError)) fail(`${what}: threw ${err && err.name}, not KvError: ${err}`);
    check(err);
    return err;
  }
  fail(`${what}: resolved, expected a KvError`);
}

async function routeExists(kv, path, body) {
  try {
    await kv._call('POST', path, { body });
    return true;
  } catch (err) {
    if (err instanceof KvError && err.status === 404 && err.message === 'Not found') return false;
    return true; // a 400 or 404 "Key not found" means the route is there
  }
}

/** Which optional API features this server has. */
export async function probe(kv, prefix) {
  const k = `${prefix}probe`;
  const written = await kv.set({ key: k, value: 1 });
  const versions = typeof written.version === 'number';
  let conditional = false;
  if (versions) {
    try {
      await kv.set({ key: k, value: 2, ifVersion: written.version + 1000 });
    } catch (err) {
      conditional = err instanceof KvError && err.status === 412;
    }
  }
  const incr = await routeExists(kv, '/incr', { key: `${prefix}probe_n` });
  const touch = await routeExists(kv, '/touch', { key: `${prefix}probe_absent` });
  const deletePrefix = await routeExists(kv, '/delete-prefix', { prefix: `${prefix}probe_none_` });
  const page = await kv.list({ prefix: k, keysOnly: true }).catch(() => null);
  // (The incr probe above may have added `${k}_n`: look at every item.)
  const keysOnly = !!(page && page.items.some((it) => it.key === k) &&
    page.items.every((it) => !('value' in it)));
  await kv.delete(k);
  await kv.delete(`${prefix}probe_n`);
  return { versions, conditional, incr, touch, deletePrefix, keysOnly };
}

/** Runs every method; returns the names of the steps done and skipped. */
export async function run(kv, prefix, features) {
  const done = [];
  const skipped = [];
  const p = (s) => `${prefix}${s}`;

  // get / set / delete, the seed's shapes.
  eq(await kv.get(p('absent')), null, 'get of an absent key');
  const s = await kv.set({ key: p('a'), value: { n: 1, list: [1, 'two'] } });
  eq([s.key, s.value, s.expires], [p('a'), { n: 1, list: [1, 'two'] }, null], 'set reply');
  const g = await kv.get(p('a'));
  eq([g.key, g.value, g.expires], [p('a'), { n: 1, list: [1, 'two'] }, null], 'get reply');
  if (!('version' in g)) fail('get reply has no version member');
  const before = Date.now();
  const t = await kv.set({ key: p('ttl'), value: 'x', expirationTtl: 60 });
  if (!(t.expires >= before + 59000 && t.expires <= Date.now() + 61000)) fail(`expires ${t.expires} not ~60 s ahead`);
  const t2 = await kv.set({ key: p('ttl2'), value: 'y', ttl: 120 });
  if (!(t2.expires >= before + 119000)) fail(`ttl: expires ${t2.expires} not ~120 s ahead`);
  eq(await kv.delete(p('ttl2')), { key: p('ttl2'), deleted: true }, 'delete reply');
  eq(await kv.get(p('ttl2')), null, 'get after delete');
  eq(await kv.delete(p('never')), { key: p('never'), deleted: true }, 'delete of an absent key');
  const del = await kv.set({ key: p('ttl'), value: null });
  eq([del.value, del.expires], [null, null], 'set null deletes');
  eq(await kv.get(p('ttl')), null, 'get after set null');
  // Keys with characters that need encoding in a URL reach the same key.
  const odd = p('odd key/ü+&=?#%20');
  await kv.set({ key: odd, value: 'odd' });
  eq((await kv.get(odd)).value, 'odd', 'get of a key that needs URL encoding');
  eq((await kv.list({ prefix: odd })).items.map((it) => it.key), [odd], 'list of that key');
  await kv.delete(odd);
  eq(await kv.get(odd), null, 'delete of a key that needs URL encoding');
  done.push('get', 'set', 'delete');

  // Errors are KvErrors with status and code, never undefined.
  await rejects(kv.set({ key: p('bad'), value: 1, ttl: -1 }),
    (e) => eq([e.status, e.code], [400, 'bad_request'], 'bad ttl'), 'set with ttl -1');
  await rejects(kv.set({ key: 'x'.repeat(600), value: 1 }),
    (e) => eq(e.status, 400, 'long key status'), 'set with a 600-byte key');
  done.push('errors');

  // testAndSet: met, not met (with current), create-if-absent, delete.
  const c1 = await kv.testAndSet({ key: p('cas'), oldValue: null, newValue: 1 });
  eq([c1.conditionMet, c1.value], [true, 1], 'tas create');
  const c2 = await kv.testAndSet({ key: p('cas'), oldValue: 5, newValue: 6 });
  eq([c2.conditionMet, c2.value, c2.current && c2.current.value], [false, 1, 1], 'tas not met');
  const c3 = await kv.testAndSet({ key: p('cas'), oldValue: 1, newValue: 2, ttl: 30 });
  eq([c3.conditionMet, c3.value, typeof c3.expires], [true, 2, 'number'], 'tas met with ttl');
  const c4 = await kv.testAndSet({ key: p('cas'), oldValue: 2, newValue: null });
  eq([c4.conditionMet, c4.value, c4.current], [true, null, null], 'tas delete');
  const c5 = await kv.testAndSet({ key: p('cas'), oldValue: 2, newValue: 3 });
  eq([c5.conditionMet, c5.current], [false, null], 'tas on absent key');
  done.push('testAndSet');

  // batch, plain and atomic.
  const b = await kv.batch([
    { op: 'set', key: p('b1'), value: 'v1' },
    { op: 'get', key: p('b1') },
    { op: 'test-and-set', key: p('b3'), oldValue: null, newValue: 'new' },
    { op: 'delete', key: p('b4') },
  ]);
  eq(b.success, true, 'batch success');
  eq(b.results.map((r) => [r.key, r.value, r.deleted]),
    [[p('b1'), 'v1', undefined], [p('b1'), 'v1', undefined], [p('b3'), 'new', undefined], [p('b4'), undefined, true]],
    'batch results');
  const ab = await kv.batch([
    { op: 'set', key: p('b5'), value: 1 },
    { op: 'testAndSet', key: p('b3'), oldValue: 'other', newValue: 'x' },
  ], { atomic: true });
  eq([ab.success, ab.conditionMet, ab.failedOperation], [false, false, 1], 'atomic batch rolled back');
  eq(await kv.get(p('b5')), null, 'nothing of the rolled-back batch applied');
  await rejects(kv.batch([{ op: 'set', value: 1 }]),
    (e) => eq([e.status, e.message], [400, 'operations[0]: Missing key parameter'], 'batch 400'),
    'batch with a bad op');
  done.push('batch');

  // list with paging, and the async iterator over all pages.
  for (let i = 0; i < 7; i++) await kv.set({ key: p(`l_${i}`), value: i });
  const page1 = await kv.list({ prefix: p('l_'), limit: 3 });
  eq([page1.count, page1.items.map((it) => it.value)], [3, [0, 1, 2]], 'list page 1');
  if (typeof page1.cursor !== 'string') fail('list page 1 has no cursor');
  const page2 = await kv.list({ prefix: p('l_'), limit: 3, cursor: page1.cursor });
  eq(page2.items.map((it) => it.key), [p('l_3'), p('l_4'), p('l_5')], 'list page 2');
  const all = [];
  for await (const item of kv.items({ prefix: p('l_'), limit: 2 })) all.push(item.value);
  eq(all, [0, 1, 2, 3, 4, 5, 6], 'items() over every page');
  done.push('list', 'items');

  if (features.keysOnly) {
    const keys = [];
    for await (const item of kv.items({ prefix: p('l_'), keysOnly: true })) keys.push(item);
    eq(keys.length, 7, 'keysOnly count');
    if (keys.some((it) => 'value' in it)) fail('keysOnly item has a value');
    done.push('keysOnly');
  } else skipped.push('keysOnly');

  if (features.incr) {
    const i1 = await kv.incr({ key: p('n'), ttl: 60 });
    eq(i1.value, 1, 'incr creates from 0');
    if (typeof i1.expires !== 'number') fail('incr ttl not applied on create');
    const i2 = await kv.incr({ key: p('n'), by: 5, ttl: 3600 });
    eq([i2.value, i2.expires], [6, i1.expires], 'incr keeps the expiry of an existing key');
    const i3 = await kv.incr({ key: p('m'), by: -2, initial: 10 });
    eq(i3.value, 8, 'incr with initial and negative by');
    await kv.set({ key: p('s'), value: 'text' });
    await rejects(kv.incr({ key: p('s') }), (e) => {
      eq([e.status, e.code], [409, 'conflict'], 'incr of a string');
      eq(e.current && e.current.value, 'text', 'incr 409 current');
    }, 'incr of a string');
    done.push('incr');
  } else skipped.push('incr');

  if (features.touch) {
    await kv.set({ key: p('tt'), value: 1 });
    const at = Date.now() + 3600 * 1000;
    const tc = await kv.touch({ key: p('tt'), expiresAt: at });
    eq(tc.expires, at, 'touch expiresAt');
    const tc2 = await kv.touch({ key: p('tt') });
    eq(tc2.expires, null, 'touch without ttl removes the expiry');
    if (!(tc2.version > tc.version)) fail('touch did not raise the version');
    eq(await kv.touch({ key: p('tt_absent'), ttl: 5 }), null, 'touch of an absent key');
    done.push('touch');
  } else skipped.push('touch');

  if (features.conditional) {
    const v1 = await kv.set({ key: p('cv'), value: 'one', ifVersion: 0 });
    await rejects(kv.set({ key: p('cv'), value: 'two', ifVersion: 0 }), (e) => {
      eq([e.status, e.code], [412, 'precondition_failed'], 'create over existing');
      eq(e.current && e.current.value, 'one', '412 current');
    }, 'set ifVersion 0 of an existing key');
    const v2 = await kv.set({ key: p('cv'), value: 'two', ifVersion: v1.version });
    if (!(v2.version > v1.version)) fail('version did not grow');
    await rejects(kv.delete({ key: p('cv'), ifVersion: v1.version }),
      (e) => eq(e.status, 412, 'delete with a stale version'), 'stale delete');
    const tv = await kv.testAndSet({ key: p('cv'), oldValue: 'two', newValue: 'three', ifVersion: v2.version });
    eq(tv.conditionMet, true, 'testAndSet with ifVersion');
    await kv.delete({ key: p('cv'), ifVersion: tv.version });
    eq(await kv.get(p('cv')), null, 'conditional delete');
    done.push('ifVersion');
  } else skipped.push('ifVersion');

  if (features.deletePrefix) {
    for (let i = 0; i < 25; i++) await kv.set({ key: p(`dp_${String(i).padStart(2, '0')}`), value: i });
    const total = await kv.deletePrefix({ prefix: p('dp_'), limit: 10 });
    eq(total, 25, 'deletePrefix total over several calls');
    eq((await kv.list({ prefix: p('dp_') })).count, 0, 'nothing left after deletePrefix');
    done.push('deletePrefix');
  } else skipped.push('deletePrefix');

  return { done, skipped };
}
