// Type declarations of kvstore-fcgi-client (src/index.js).

/** Any JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [member: string]: JsonValue };

export interface KvClientOptions {
  /** Where the API is mounted, e.g. "http://127.0.0.1:8787"; "" = this page's origin. */
  baseUrl?: string;
  /** Bearer token (made with `kvstore-admin token add`). */
  token?: string;
  /** Timeout of one attempt in milliseconds (default 10000). */
  timeoutMs?: number;
  /** Extra attempts where repeating is safe (default 2). */
  retries?: number;
  /** Longest wait between attempts in milliseconds (default 5000). */
  maxRetryDelayMs?: number;
  /** The fetch implementation (default: the global one). */
  fetch?: typeof fetch;
}

/** A key as the store holds it. */
export interface KvEntry<V = JsonValue> {
  key: string;
  /** null after a write of null (a delete). */
  value: V | null;
  /** Milliseconds since the Unix epoch when the key expires, or null. */
  expires: number | null;
  /** The key's version (null when absent, or from a server without versions). */
  version: number | null;
}

/** The key as it is now, in a 409/412 error or an unmet test-and-set. */
export interface KvCurrent<V = JsonValue> {
  value: V;
  expires: number | null;
  version?: number;
}

/** Expiry: one of ttl / expirationTtl (seconds) or expiresAt (ms or Date). */
export interface KvExpiry {
  ttl?: number | null;
  expirationTtl?: number | null;
  expiresAt?: number | Date;
}

export interface KvSetOptions<V = JsonValue> extends KvExpiry {
  key: string;
  /** null deletes the key. */
  value: V | null;
  /** Keep the expiry the key has now (not with a ttl or expiresAt). */
  keepTtl?: boolean;
  /** Only if the key is live with this version; 0: only if it does not exist. */
  ifVersion?: number;
}

export interface KvTestAndSetOptions<V = JsonValue> extends KvExpiry {
  key: string;
  /** The value expected now; null: the key must not exist. */
  oldValue: V | null;
  /** The value to write; null deletes the key. */
  newValue: V | null;
  keepTtl?: boolean;
  ifVersion?: number;
}

export interface KvTestAndSetResult<V = JsonValue> extends KvEntry<V> {
  conditionMet: boolean;
  /** The key as it is after the call, or null if it does not exist. */
  current: KvCurrent<V> | null;
  /** The server's message when the condition was not met. */
  message?: string;
}

export type KvBatchOperation =
  | ({ op: 'set' | 'SET'; key: string; value: JsonValue; keepTtl?: boolean; ifVersion?: number } & KvExpiry)
  | { op: 'get' | 'GET'; key: string }
  | { op: 'delete' | 'DELETE'; key: string; ifVersion?: number }
  | ({ op: 'test-and-set' | 'testAndSet'; key: string; oldValue: JsonValue; newValue: JsonValue; keepTtl?: boolean; ifVersion?: number } & KvExpiry)
  | ({ op: 'incr'; key: string; by?: number; initial?: number } & KvExpiry)
  | ({ op: 'touch'; key: string } & KvExpiry)
  | ({ op: string; key: string } & Record<string, unknown>);

export type KvBatchResult =
  | { key: string; value: JsonValue; expires: number | null; version?: number | null; conditionMet?: boolean }
  | { key: string; deleted: true }
  | { key: string; conditionMet: false; current: KvCurrent | null }
  | { key: string; expires: number | null; version: number };

export type KvBatchReply =
  | { success: true; results: KvBatchResult[] }
  | { success: false; conditionMet: false; failedOperation: number; message: string; results: null };

export interface KvListOptions {
  prefix?: string;
  /** 1-1000, default 100. */
  limit?: number;
  /** The cursor of the previous page. */
  cursor?: string | null;
  /** Items without values. */
  keysOnly?: boolean;
}

export interface KvListItem<V = JsonValue> {
  key: string;
  /** Absent with keysOnly. */
  value?: V;
  expires: number | null;
  version?: number;
}

export interface KvListPage<V = JsonValue> {
  items: KvListItem<V>[];
  count: number;
  /** null on the last page. */
  cursor: string | null;
}

export interface KvIncrOptions extends KvExpiry {
  key: string;
  /** Default 1; may be negative or fractional. */
  by?: number;
  /** The value taken when the key is absent; default 0. */
  initial?: number;
}

export interface KvTouchOptions extends KvExpiry {
  key: string;
}

export interface KvDeletePrefixOptions {
  /** Required and non-empty. */
  prefix: string;
  /** Keys deleted per transaction, 1-10000 (default 1000). */
  limit?: number;
}

export type KvErrorCode =
  | 'bad_request' | 'unauthorized' | 'forbidden' | 'not_found' | 'method_not_allowed'
  | 'conflict' | 'precondition_failed' | 'too_large' | 'rate_limited' | 'unavailable'
  | 'server_error' | 'timeout' | 'network' | 'invalid_response' | 'http_error';

/** Every failure of a KvClient call. */
export class KvError extends Error {
  name: 'KvError';
  /** HTTP status, or 0 when no reply arrived (timeout, network error). */
  status: number;
  code: KvErrorCode;
  /** On 409 and 412: the key as it is now, or null if it does not exist. */
  current?: KvCurrent | null;
  /** Seconds from a Retry-After header, when there was one. */
  retryAfter?: number;
  /** The reply body, when it was JSON. */
  body?: unknown;
}

export class KvClient {
  constructor(options?: KvClientOptions);
  readonly baseUrl: string;
  token?: string;
  timeoutMs: number;
  retries: number;
  maxRetryDelayMs: number;

  /** The key, or null when it does not exist. */
  get<V = JsonValue>(key: string): Promise<KvEntry<V> | null>;
  set<V = JsonValue>(options: KvSetOptions<V>): Promise<KvEntry<V>>;
  delete(key: string | { key: string; ifVersion?: number }): Promise<{ key: string; deleted: boolean }>;
  testAndSet<V = JsonValue>(options: KvTestAndSetOptions<V>): Promise<KvTestAndSetResult<V>>;
  batch(operations: KvBatchOperation[], options?: { atomic?: boolean }): Promise<KvBatchReply>;
  list<V = JsonValue>(options?: KvListOptions): Promise<KvListPage<V>>;
  /** Every item with the prefix, across all pages. */
  items<V = JsonValue>(options?: { prefix?: string; keysOnly?: boolean; limit?: number }): AsyncGenerator<KvListItem<V>, void, undefined>;
  incr(options: KvIncrOptions): Promise<KvEntry<number>>;
  /** The new expiry and version, or null when the key does not exist. */
  touch(options: KvTouchOptions): Promise<{ key: string; expires: number | null; version: number } | null>;
  /** Deletes every key with the prefix; resolves to how many were deleted. */
  deletePrefix(options: KvDeletePrefixOptions): Promise<number>;
  health(): Promise<{ status: string; kvStoreCheck: string }>;
}

export default KvClient;
