// kvstore-fcgi-client: the seed's kvStore interface over kvstore-fcgi's
// HTTP API (openapi.yaml in the kvstore-fcgi source tree). Plain ES module,
// no dependencies: it needs only fetch, AbortController and setTimeout, so
// the same file runs in Node 18+ and in browsers.

const DEFAULT_TIMEOUT_MS = 10000;
const DEFAULT_RETRIES = 2;
const DEFAULT_MAX_RETRY_DELAY_MS = 5000;

// The error code of each HTTP status, so callers can branch on a stable
// name instead of numbers (status stays available too).
const STATUS_CODES = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  412: 'precondition_failed',
  413: 'too_large',
  414: 'too_large',
  429: 'rate_limited',
  500: 'server_error',
  502: 'unavailable',
  503: 'unavailable',
  504: 'unavailable',
};

/** Every failure of a KvClient call: an HTTP error reply, a timeout, a
 * network error or a reply that is not the JSON the API promises. */
export class KvError extends Error {
  constructor(message, { status = 0, code = 'http_error', current, retryAfter, body, cause } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'KvError';
    /** HTTP status, or 0 when no reply arrived (timeout, network). */
    this.status = status;
    /** A stable name: bad_request, unauthorized, forbidden, not_found,
     * conflict, precondition_failed, too_large, rate_limited, unavailable,
     * server_error, timeout, network, invalid_response, http_error. */
    this.code = code;
    /** For 409 and 412: the key as it is now ({value, expires, version})
     * or null when it does not exist. */
    if (current !== undefined) this.current = current;
    if (retryAfter !== undefined) this.retryAfter = retryAfter;
    if (body !== undefined) this.body = body;
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// A JSON object body with the undefined members left out, as
// JSON.stringify does; kept explicit so the rule is visible.
function compact(obj) {
  const out = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = v;
  return out;
}

// The expiry fields of set, testAndSet, incr and touch, passed on under
// the names the API knows. The server validates them (one of ttl /
// expirationTtl / expiresAt, keepTtl alone), so a mistake is a 400
// KvError naming the field, never silently ignored here.
function expiryFields(o) {
  return compact({
    ttl: o.ttl,
    expirationTtl: o.expirationTtl,
    expiresAt: o.expiresAt instanceof Date ? o.expiresAt.getTime() : o.expiresAt,
    keepTtl: o.keepTtl,
  });
}

function requireObject(name, o) {
  if (o === null || typeof o !== 'object' || Array.isArray(o)) {
    throw new TypeError(`${name} takes one options object`);
  }
}

function requireKey(key) {
  if (typeof key !== 'string' || key === '') {
    throw new TypeError('key must be a non-empty string');
  }
}

// ifVersion on a request without a body (delete) travels as a header:
// If-Match: "N" for version N, If-None-Match: * for 0 ("must not exist").
function versionHeaders(ifVersion) {
  if (ifVersion === undefined || ifVersion === null) return {};
  if (!Number.isSafeInteger(ifVersion) || ifVersion < 0) {
    throw new TypeError('ifVersion must be a non-negative integer');
  }
  return ifVersion === 0 ? { 'If-None-Match': '*' } : { 'If-Match': `"${ifVersion}"` };
}

function keyView(body) {
  return {
    key: body.key,
    value: body.value === undefined ? null : body.value,
    expires: body.expires === undefined ? null : body.expires,
    version: body.version === undefined ? null : body.version,
  };
}

export class KvClient {
  /**
   * @param {object} [options]
   * @param {string} [options.baseUrl] where the API is mounted, e.g.
   *   "http://127.0.0.1:8787"; "" means the page's own origin.
   * @param {string} [options.token] bearer token (kvstore-admin token add).
   * @param {number} [options.timeoutMs] per attempt, default 10000.
   * @param {number} [options.retries] extra attempts where safe, default 2.
   * @param {number} [options.maxRetryDelayMs] cap of one wait, default 5000.
   * @param {typeof fetch} [options.fetch] the fetch to use (default: global).
   */
  constructor(options = {}) {
    requireObject('KvClient', options);
    const {
      baseUrl = '',
      token,
      timeoutMs = DEFAULT_TIMEOUT_MS,
      retries = DEFAULT_RETRIES,
      maxRetryDelayMs = DEFAULT_MAX_RETRY_DELAY_MS,
      fetch: fetchImpl,
    } = options;
    if (fetchImpl !== undefined && typeof fetchImpl !== 'function') {
      throw new TypeError('options.fetch must be a function');
    }
    if (fetchImpl === undefined && typeof globalThis.fetch !== 'function') {
      throw new TypeError('no fetch available: pass options.fetch');
    }
    this.baseUrl = String(baseUrl).replace(/\/+$/, '');
    this.token = token;
    this.timeoutMs = timeoutMs;
    this.retries = retries;
    this.maxRetryDelayMs = maxRetryDelayMs;
    // Browsers refuse window.fetch called as a method of another object
    // ("Illegal invocation"): call the global one as a plain function.
    this._fetch = fetchImpl || ((url, init) => globalThis.fetch(url, init));
  }

  // One API call: returns {status, body, headers} for the statuses in
  // `accept`, throws KvError for anything else.
  //
  // Retries, with backoff, only where repeating cannot do harm:
  //  - a 503 carrying Retry-After is the service saying "nothing was
  //    written, come back later", so any request may be repeated;
  //  - a timeout, a network error or a 502/503/504 from the proxy may
  //    come after the service applied the request, so only requests that
  //    give the same result when repeated (`safe`: reads, set, delete,
  //    touch) or that are conditional (test-and-set, ifVersion) are repeated.
  async _call(method, path, { query, body, headers = {}, accept = [200], safe = false } = {}) {
    let url = this.baseUrl + path;
    if (query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) q.set(k, String(v));
      const s = q.toString();
      if (s) url += '?' + s;
    }
    const h = { ...headers };
    if (this.token) h.Authorization = `Bearer ${this.token}`;
    let payload;
    if (body !== undefined) {
      h['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }

    for (let attempt = 0; ; attempt++) {
      const canRetry = attempt < this.retries;
      const ctl = new AbortController();
      const timer = setTimeout(() => ctl.abort(), this.timeoutMs);
      let res;
      let text;
      try {
        res = await this._fetch(url, { method, headers: h, body: payload, signal: ctl.signal });
        text = await res.text();
      } catch (err) {
        clearTimeout(timer);
        const timedOut = ctl.signal.aborted;
        if (canRetry && safe) {
          await sleep(this._backoff(attempt));
          continue;
        }
        throw new KvError(
          timedOut
            ? `${method} ${path}: no reply within ${this.timeoutMs} ms`
            : `${method} ${path}: ${err && err.message ? err.message : err}`,
          { code: timedOut ? 'timeout' : 'network', cause: err },
        );
      }
      clearTimeout(timer);

      const retryAfterText = res.headers.get('Retry-After');
      const retryAfter = retryAfterText !== null && /^[0-9]+$/.test(retryAfterText.trim())
        ? Number(retryAfterText.trim()) : undefined;
      if (canRetry && ((res.status === 503 && retryAfter !== undefined) ||
                       (safe && (res.status === 502 || res.status === 503 || res.status === 504)))) {
        const wait = retryAfter !== undefined
          ? Math.min(retryAfter * 1000, this.maxRetryDelayMs) : this._backoff(attempt);
        await sleep(wait);
        continue;
      }

      let parsed = null;
      if (text !== '') {
        try {
          parsed = JSON.parse(text);
        } catch (err) {
          throw new KvError(`${method} ${path}: reply ${res.status} is not JSON`,
            { status: res.status, code: 'invalid_response', body: text, cause: err });
        }
      }
      if (accept.includes(res.status)) {
        if (parsed === null && res.status !== 304) {
          throw new KvError(`${method} ${path}: empty reply ${res.status}`,
            { status: res.status, code: 'invalid_response' });
        }
        return { status: res.status, body: parsed, headers: res.headers };
      }
      const message = parsed && typeof parsed.error === 'string'
        ? parsed.error : `${method} ${path}: HTTP ${res.status}`;
      throw new KvError(message, {
        status: res.status,
        code: STATUS_CODES[res.status] || 'http_error',
        current: parsed && 'current' in parsed ? parsed.current : undefined,
        retryAfter,
        body: parsed === null ? undefined : parsed,
      });
    }
  }

  _backoff(attempt) {
    // 100 ms, 200 ms, 400 ms, ... with up to 50 % jitter, capped.
    const base = 100 * 2 ** attempt;
    return Math.min(base + Math.random() * base * 0.5, this.maxRetryDelayMs);
  }

  /** The key, or null when it does not exist (or has expired). */
  async get(key) {
    requireKey(key);
    const r = await this._call('GET', '/get', { query: { key }, accept: [200, 404], safe: true });
    if (r.status === 404) {
      if (r.body && r.body.error === 'Key not found') return null;
      throw new KvError(r.body && r.body.error ? r.body.error : 'not found',
        { status: 404, code: 'not_found', body: r.body });
    }
    return keyView(r.body);
  }

  /** Writes a value (null deletes the key); resolves to the stored key. */
  async set(options) {
    requireObject('set', options);
    const { key, value, ifVersion } = options;
    requireKey(key);
    if (value === undefined) throw new TypeError('set: value is required (null deletes the key)');
    const body = compact({ key, value, ...expiryFields(options), ifVersion });
    const r = await this._call('POST', '/set', { body, safe: true });
    return keyView(r.body);
  }

  /** Deletes a key (also when it does not exist). delete(key) or
   * delete({key, ifVersion}). */
  async delete(arg) {
    const { key, ifVersion } = typeof arg === 'string' ? { key: arg } : (requireObject('delete', arg), arg);
    requireKey(key);
    const r = await this._call('DELETE', '/delete', {
      query: { key }, headers: versionHeaders(ifVersion), safe: true,
    });
    return { key: r.body.key, deleted: r.body.deleted === true };
  }

  /** Compare-and-swap. Resolves to {conditionMet, key, value, expires,
   * version, current}: when met, value is the new value; when not,
   * value is what the key holds now (null if absent) and current is
   * {value, expires, version} or null. */
  async testAndSet(options) {
    requireObject('testAndSet', options);
    const { key, oldValue, newValue, ifVersion } = options;
    requireKey(key);
    if (oldValue === undefined) throw new TypeError('testAndSet: oldValue is required (null: key must not exist)');
    if (newValue === undefined) throw new TypeError('testAndSet: newValue is required (null deletes the key)');
    const body = compact({ key, oldValue, newValue, ...expiryFields(options), ifVersion });
    const r = await this._call('POST', '/test-and-set', { body, safe: true });
    const b = r.body;
    if (b.conditionMet === true) {
      const view = keyView(b);
      const current = view.value === null ? null
        : { value: view.value, expires: view.expires, version: view.version };
      return { conditionMet: true, ...view, current };
    }
    const current = b.current === undefined ? null : b.current;
    return {
      conditionMet: false,
      key: b.key === undefined ? key : b.key,
      value: current ? current.value : null,
      expires: current ? current.expires : null,
      version: current && current.version !== undefined ? current.version : null,
      current,
      message: b.message,
    };
  }

  /** Runs operations in one transaction. Resolves to {success, results}
   * or, when {atomic: true} and a condition failed, to {success: false,
   * conditionMet: false, failedOperation, message, results: null}. */
  async batch(operations, { atomic } = {}) {
    if (!Array.isArray(operations)) throw new TypeError('batch: operations must be an array');
    // Repeating a batch is harmless when each of its operations is.
    const safe = operations.every((op) => op && typeof op.op === 'string' &&
      (['get', 'set', 'delete', 'touch', 'test-and-set', 'testandset'].includes(op.op.toLowerCase()) ||
       op.ifVersion !== undefined));
    const body = compact({ operations, atomic });
    const r = await this._call('POST', '/batch', { body, safe });
    const b = r.body;
    if (b.success === false) {
      return { success: false, conditionMet: false, failedOperation: b.failedOperation,
        message: b.message, results: null };
    }
    return { success: true, results: b.results };
  }

  /** One page of keys: {items, count, cursor}; cursor null at the end. */
  async list(options = {}) {
    requireObject('list', options);
    const { prefix, limit, cursor, keysOnly } = options;
    const r = await this._call('GET', '/list', {
      query: { prefix, limit, cursor, keysOnly: keysOnly ? 'true' : undefined }, safe: true,
    });
    return { items: r.body.items, count: r.body.count, cursor: r.body.cursor };
  }

  /** Every item with the prefix, page after page, until the cursor is null:
   * for await (const item of kv.items({ prefix: 'user_' })) ... */
  async *items(options = {}) {
    requireObject('items', options);
    const { prefix, keysOnly, limit } = options;
    let cursor;
    do {
      const page = await this.list({ prefix, keysOnly, limit, cursor });
      yield* page.items;
      cursor = page.cursor;
    } while (cursor !== null && cursor !== undefined);
  }

  /** Adds `by` (default 1) to a numeric value, creating it from `initial`
   * (default 0); ttl/expiresAt apply only when the key is created.
   * Resolves to {key, value, expires, version}. */
  async incr(options) {
    requireObject('incr', options);
    const { key, by, initial } = options;
    requireKey(key);
    const body = compact({ key, by, initial, ...expiryFields(options) });
    // Not repeated after a timeout: the first attempt may have counted.
    const r = await this._call('POST', '/incr', { body, safe: false });
    return keyView(r.body);
  }

  /** Changes only the expiry of a live key (ttl 0/null or none: no
   * expiry). Resolves to {key, expires, version}, or null if absent. */
  async touch(options) {
    requireObject('touch', options);
    const { key } = options;
    requireKey(key);
    const body = compact({ key, ...expiryFields(options) });
    const r = await this._call('POST', '/touch', { body, accept: [200, 404], safe: true });
    if (r.status === 404) {
      if (r.body && r.body.error === 'Key not found') return null;
      throw new KvError(r.body && r.body.error ? r.body.error : 'not found',
        { status: 404, code: 'not_found', body: r.body });
    }
    return { key: r.body.key, expires: r.body.expires, version: r.body.version };
  }

  /** Deletes every key with the prefix, `limit` per transaction, calling
   * again while the service says more remain; resolves to the total. */
  async deletePrefix(options) {
    requireObject('deletePrefix', options);
    const { prefix, limit } = options;
    if (typeof prefix !== 'string' || prefix === '') {
      throw new TypeError('deletePrefix: prefix must be a non-empty string');
    }
    let total = 0;
    for (;;) {
      const r = await this._call('POST', '/delete-prefix', { body: compact({ prefix, limit }), safe: true });
      total += r.body.deleted;
      if (r.body.more !== true) return total;
    }
  }

  /** {status, kvStoreCheck} of GET /health; throws KvError when unhealthy. */
  async health() {
    const r = await this._call('GET', '/health', { safe: true });
    return r.body;
  }
}

export default KvClient;
