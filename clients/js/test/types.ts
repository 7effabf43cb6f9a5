// Compiled (never run) by tests/clients/types.test with `tsc --noEmit`:
// the uses a TypeScript user writes must type-check against index.d.ts,
// and the mistakes marked @ts-expect-error must be refused (tsc fails
// if one of them is accepted), so the declarations cannot silently
// degrade to `any`.
import { KvClient, KvError } from '../index.js';
import type { KvEntry, KvListItem, KvBatchReply } from '../index.js';

async function uses(): Promise<void> {
  const kv = new KvClient({ baseUrl: 'http://127.0.0.1:8787', token: 't', timeoutMs: 5000, retries: 2 });

  const e: KvEntry<{ userId: number }> | null = await kv.get<{ userId: number }>('session_1');
  if (e !== null) {
    const id: number | undefined = e.value?.userId;
    const v: number | null = e.version;
    const x: number | null = e.expires;
    void id; void v; void x;
  }
  await kv.set({ key: 'k', value: { a: 1 }, expirationTtl: 60 });
  await kv.set({ key: 'k', value: 'v', expiresAt: new Date(), ifVersion: 3 });
  await kv.set({ key: 'k', value: null, keepTtl: true });
  const d: { key: string; deleted: boolean } = await kv.delete('k');
  await kv.delete({ key: 'k', ifVersion: 7 });
  const t = await kv.testAndSet({ key: 'k', oldValue: null, newValue: 1, ttl: 10 });
  const met: boolean = t.conditionMet;
  const cur = t.current === null ? null : t.current.value;
  const b: KvBatchReply = await kv.batch([
    { op: 'set', key: 'a', value: 1 },
    { op: 'get', key: 'a' },
    { op: 'test-and-set', key: 'a', oldValue: 1, newValue: 2 },
    { op: 'delete', key: 'a' },
  ], { atomic: true });
  if (b.success) void b.results.length;
  else void b.failedOperation;
  const page = await kv.list({ prefix: 'user_', limit: 10, cursor: null, keysOnly: true });
  const next: string | null = page.cursor;
  for await (const item of kv.items({ prefix: 'user_' })) {
    const i: KvListItem = item;
    void i.key;
  }
  const n: number | null = (await kv.incr({ key: 'n', by: 2, initial: 0, ttl: 60 })).value;
  const touched = await kv.touch({ key: 'k', ttl: 60 });
  if (touched) void touched.version;
  const total: number = await kv.deletePrefix({ prefix: 'tmp_', limit: 100 });
  try {
    await kv.get('k');
  } catch (err) {
    if (err instanceof KvError) {
      const s: number = err.status;
      const c: string = err.code;
      void s; void c; void err.current;
    }
  }
  void d; void met; void cur; void next; void n; void total;

  // @ts-expect-error set takes one options object, not (key, value)
  await kv.set('k', 1);
  // @ts-expect-error value is required
  await kv.set({ key: 'k' });
  // @ts-expect-error testAndSet needs newValue
  await kv.testAndSet({ key: 'k', oldValue: 1 });
  // @ts-expect-error deletePrefix needs a prefix
  await kv.deletePrefix({});
  // @ts-expect-error the timeout is a number of milliseconds
  new KvClient({ timeoutMs: '5s' });
  // @ts-expect-error the KvError code is one of the documented names
  const bad: KvError['code'] = 'oops';
  void bad;
}
void uses;
