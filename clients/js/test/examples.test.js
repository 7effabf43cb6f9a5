// The examples users copy must run as written:
//  - the seed README's three use cases (seed-use-cases.md, its "Common Use
//    Cases" section verbatim), each handed this client as `kvStore`;
//  - every ```js block of clients/js/README.md, run as a module the way a
//    new user would paste it into a file.
// Needs KV_BASE_URL (see client.test.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdtemp, mkdir, rm, symlink } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { KvClient } from '../src/index.js';
import { probe } from './scenario.js';

const here = dirname(fileURLToPath(import.meta.url));
const BASE = process.env.KV_BASE_URL;
if (!BASE) throw new Error('KV_BASE_URL is not set: run `make check TESTS=tests/integration/js-client.test`');

function blocks(markdown, lang) {
  const re = new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g');
  return [...markdown.matchAll(re)].map((m) => m[1]);
}

const AsyncFunction = (async () => {}).constructor;

test('the fixture is the seed README\'s section, unchanged', async (t) => {
  // The seed lives beside the repository in the development setup
  // (../shared/seed); where it is not, the committed copy stands alone.
  const seedPath = process.env.KV_SEED_README ||
    join(here, '..', '..', '..', '..', 'shared', 'seed', 'kv-store-function-README.md');
  let seed;
  try {
    seed = await readFile(seedPath, 'utf8');
  } catch {
    return t.skip(`no seed README at ${seedPath} to compare with`);
  }
  const fixture = await readFile(join(here, 'seed-use-cases.md'), 'utf8');
  assert.ok(seed.includes(fixture), 'seed-use-cases.md differs from the seed README');
});

const seedSnippets = blocks(await readFile(join(here, 'seed-use-cases.md'), 'utf8'), 'javascript');

test('the seed README has the three use-case snippets', () => {
  assert.equal(seedSnippets.length, 3);
});

test('seed snippet: session storage', async () => {
  const kvStore = new KvClient({ baseUrl: BASE });
  const run = new AsyncFunction('kvStore', 'sessionId', seedSnippets[0] + '\nreturn session;');
  const session = await run(kvStore, 'seed42');
  assert.equal(session.key, 'session_seed42');
  assert.equal(session.value.userId, 123);
  assert.ok(session.expires > Date.now() + 3500 * 1000);
});

test('seed snippet: caching computes once, then serves the cache', async () => {
  const kvStore = new KvClient({ baseUrl: BASE });
  await kvStore.delete('cache_seedreport');
  let computed = 0;
  const expensiveOperation = async () => { computed++; return { total: 42 }; };
  const run = new AsyncFunction('kvStore', 'key', 'expensiveOperation', seedSnippets[1]);
  assert.deepEqual(await run(kvStore, 'seedreport', expensiveOperation), { total: 42 });
  assert.deepEqual(await run(kvStore, 'seedreport', expensiveOperation), { total: 42 });
  assert.equal(computed, 1);
  const cached = await kvStore.get('cache_seedreport');
  assert.ok(cached.expires <= Date.now() + 300 * 1000);
});

test('seed snippet: rate limiting counts and then refuses', async () => {
  const kvStore = new KvClient({ baseUrl: BASE });
  await kvStore.delete('ratelimit_seed7');
  const run = new AsyncFunction('kvStore', 'userId', 'MAX_REQUESTS_PER_MINUTE', seedSnippets[2]);
  for (let i = 0; i < 3; i++) await run(kvStore, 'seed7', 3);
  await assert.rejects(run(kvStore, 'seed7', 3), /Rate limit exceeded/);
  assert.deepEqual((await kvStore.get('ratelimit_seed7')).value, { count: 3 });
});

test('every example of clients/js/README.md runs as written', async (t) => {
  const readme = await readFile(join(here, '..', 'README.md'), 'utf8');
  const examples = blocks(readme, 'js');
  assert.ok(examples.length >= 4, `only ${examples.length} js blocks in README.md`);
  // A project directory where the package is installed as npm would
  // (node_modules/kvstore-fcgi-client), so the examples import it by name
  // through its package.json, exactly as written.
  const dir = await mkdtemp(join(tmpdir(), 'kvjs-'));
  await mkdir(join(dir, 'node_modules'));
  await symlink(join(here, '..'), join(dir, 'node_modules', 'kvstore-fcgi-client'), 'dir');
  try {
    const features = await probe(new KvClient({ baseUrl: BASE }), 'probe_readme_');
    // What each optional feature looks like in an example.
    const needs = { incr: '.incr(', touch: '.touch(', deletePrefix: '.deletePrefix(', conditional: 'ifVersion' };
    for (const [i, code] of examples.entries()) {
      const missing = Object.entries(needs).filter(([f, s]) => code.includes(s) && !features[f]).map(([f]) => f);
      const skip = missing.length ? `the server lacks ${missing.join(', ')}` : false;
      await t.test(`README example ${i}: ${code.split('\n').find((l) => l.startsWith('//')) || ''}`, { skip }, async (st) => {
        // Only the server address is put in: the README shows the dev
        // stack's, the tests run their own on a free port.
        const src = code.replaceAll('http://127.0.0.1:8787', BASE);
        const file = join(dir, `example${i}.mjs`);
        await writeFile(file, src);
        try {
          const { stdout } = await promisify(execFile)(process.execPath, [file],
            { timeout: 20000, env: { ...process.env, KV_TOKEN: '' } });
          st.diagnostic(stdout.trim().split('\n').join(' | '));
        } catch (err) {
          assert.fail(`README example ${i} failed:\n${src}\n${err.stderr || err.message}`);
        }
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
