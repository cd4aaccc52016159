import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { ChainableCommander, Result } from 'ioredis';
import { cacheArguments, PlatformError } from '@platform-host/contracts';
import type {
  Cache,
  CacheEntry,
  CachedValue,
  GetOrSetOptions,
  HealthCheckResult,
  Logger,
} from '@platform-host/contracts';

const { checkTtl, checkStale, checkValue } = cacheArguments;

/** Lua: deletes the lock only while it still holds our token (never another holder's lock). */
const UNLOCK_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
/** Lua: extends the lock to ARGV[2] ms only while it still holds our token. */
const EXTEND_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    cacheUnlock(lockKey: string, token: string): Result<number, Context>;
    cacheExtendLock(lockKey: string, token: string, ttlMs: number): Result<number, Context>;
  }
}

/**
 * Internal keys of a cache begin with its prefix and this character, so `flush()` finds them and
 * no application key can collide with them: keys beginning with U+0000 are refused.
 */
const RESERVED = '\u0000';

/** Options of {@link RedisCache}. */
export interface RedisCacheOptions {
  /** `redis://[user:password@]host:port/db` (or `rediss://` for TLS). Never logged. */
  readonly url: string;
  /** Put before every key. Default `platform:cache:`. */
  readonly keyPrefix?: string;
  /**
   * Life of the cross-process load lock of `getOrSet`, in milliseconds; the holder renews it every
   * third of this while its loader runs, so it only runs out when the holder is gone. Default 10000.
   */
  readonly lockTtlMs?: number;
  /** Deadline of `connect()` as a whole, in milliseconds. Default 10000. */
  readonly connectTimeoutMs?: number;
  /**
   * A command without a reply after this long is rejected, in milliseconds. Default 0 (none): ioredis
   * arms a timer per command, which costs about 15% of GET throughput. Without it, a connection that
   * stalls is dropped by a `healthCheck()` that misses its deadline, and its commands are retried on
   * the new connection once, then fail.
   */
  readonly commandTimeoutMs?: number;
  /**
   * ioredis auto-pipelining (default false): the commands issued while the event loop handles one
   * batch of I/O (for instance the GETs of HTTP requests that arrived together) go to Redis in one
   * write, and their replies come back in one read, instead of one socket write per command. It
   * delays each command by up to one turn of the event loop and costs CPU per command when there is
   * little to batch; measured on a shared 2-core machine it showed no clear gain, so it is off unless asked for.
   */
  readonly autoPipelining?: boolean;
  /** How long `healthCheck()` waits for PING, in milliseconds. Default 2000. */
  readonly healthCheckTimeoutMs?: number;
  /** Told about lost connections and failed background refreshes. */
  readonly logger?: Logger;
}

/** Why `key` cannot be used, or `undefined` when it can. */
function keyProblem(key: unknown): Error | undefined {
  if (typeof key !== 'string') return new TypeError(`Cache key must be a string, got ${typeof key}`);
  if (key.startsWith(RESERVED))
    return new RangeError('Cache keys beginning with U+0000 are reserved for the cache itself');
  return undefined;
}

function checkKey(key: string): void {
  const problem = keyProblem(key);
  if (problem !== undefined) throw problem;
}

/** Seconds as whole milliseconds for PX, at least 1 (PX 0 is an error in Redis). */
function milliseconds(seconds: number): number {
  return Math.max(1, Math.ceil(seconds * 1000));
}

/** A glob pattern matching exactly `text` (SCAN MATCH treats `*?[]\` as special). */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `host:port/db` of a Redis URL, for messages: never the user name or password. */
function describeServer(url: string): string {
  try {
    const parsed = new URL(url);
    const db = parsed.pathname.replace(/^\//, '') || '0';
    return `${parsed.hostname}:${parsed.port || '6379'}/${db}`;
  } catch {
    throw new PlatformError('PH_ERR_CONFIG_INVALID', 'CACHE_REDIS_URL is not a valid URL', {
      hint: 'Set CACHE_REDIS_URL to redis://[user:password@]host:port/db (percent-encode special characters).',
    });
  }
}

/**
 * Redis {@link Cache} (`--cache redis`) on ioredis, safe to share one server (and database) with
 * other caches and applications.
 *
 * Storage (readable by any Redis client):
 * - `<prefix><key>`: the value as a plain string, with `PX` = its TTL. This is the only key that
 *   `get`, `getMany`, `exists` read, so they are one plain `GET`/`MGET`/`EXISTS`; an entry past its
 *   TTL is gone, whatever the stale window.
 * - `<prefix>\0stale\0<key>`: a copy that `getOrSet` with `staleSeconds > 0` writes beside it, with
 *   `PX` = TTL + staleSeconds, in the same `MULTI`. `getOrSet` reads it only when the value is
 *   gone (a hit is one `GET`). Once the value has expired, `getOrSet` serves
 *   this copy as `stale` and refreshes in the background. `set`, `setMany` and `delete` remove it
 *   in the same `MULTI`, so a stale copy never outlives a newer value.
 * - `<prefix>\0lock\0<key>`: the load lock of `getOrSet` (`SET NX PX`, a random token).
 *
 * Freshness is therefore kept by the server's own expiry, never by comparing client clocks.
 *
 * `getOrSet` is single-flight in the process (one load per key, shared by concurrent callers) and
 * across processes: the loader runs only in the process that takes the key's lock; the others poll
 * for the value until it appears (answering `hit`) or the lock is gone without a value (the holder
 * failed or died), when they try to take the lock themselves. A holder renews its lock while the
 * loader runs and releases it with a compare-and-delete script. A background refresh of a stale
 * value takes the same lock and is skipped when another process holds it.
 *
 * `flush()` removes the keys matching `<prefix>*` with `SCAN` and `UNLINK` in batches, never
 * `FLUSHDB`. With an empty prefix that is every key of the database.
 */
export class RedisCache implements Cache {
  readonly keyPrefix: string;
  readonly #client: Redis;
  readonly #server: string;
  readonly #lockTtlMs: number;
  readonly #connectTimeoutMs: number;
  readonly #healthCheckTimeoutMs: number;
  readonly #logger: Logger | undefined;
  /** Loads in flight in this process by full key: concurrent misses share one. */
  readonly #loads = new Map<string, Promise<string>>();
  /** Background refreshes under way in this process, by full key. */
  readonly #refreshing = new Set<string>();
  #connected = false;
  /** The last connection error ioredis reported, to say why `connect()` failed. */
  #lastError: string | undefined;
  /** True once a lost connection has been logged, until it is ready again (one warning per outage). */
  #outageLogged = false;

  constructor(options: RedisCacheOptions) {
    this.#server = describeServer(options.url);
    const keyPrefix = options.keyPrefix ?? 'platform:cache:';
    if (typeof keyPrefix !== 'string') throw new RangeError('RedisCache keyPrefix must be a string');
    this.keyPrefix = keyPrefix;
    this.#lockTtlMs = options.lockTtlMs ?? 10_000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.#healthCheckTimeoutMs = options.healthCheckTimeoutMs ?? 2_000;
    const commandTimeoutMs = options.commandTimeoutMs ?? 0;
    for (const [name, value, minimum] of [
      ['lockTtlMs', this.#lockTtlMs, 3],
      ['connectTimeoutMs', this.#connectTimeoutMs, 1],
      ['healthCheckTimeoutMs', this.#healthCheckTimeoutMs, 1],
      ['commandTimeoutMs', commandTimeoutMs, 0],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < minimum) {
        throw new RangeError(`RedisCache ${name} must be an integer of at least ${minimum}, got ${value}`);
      }
    }
    this.#logger = options.logger;
    this.#client = new Redis(options.url, {
      lazyConnect: true,
      connectTimeout: Math.min(this.#connectTimeoutMs, 10_000),
      // A command issued while the server is away waits for one reconnection attempt, then
      // fails, rather than queueing for as long as the outage lasts. Reconnecting goes on.
      maxRetriesPerRequest: 1,
      enableAutoPipelining: options.autoPipelining ?? false,
      ...(commandTimeoutMs > 0 ? { commandTimeout: commandTimeoutMs } : {}),
      retryStrategy: (attempt) => Math.min(attempt * 100, 2_000),
    });
    this.#client.defineCommand('cacheUnlock', { numberOfKeys: 1, lua: UNLOCK_LUA });
    this.#client.defineCommand('cacheExtendLock', { numberOfKeys: 1, lua: EXTEND_LUA });
    this.#client.on('error', (error: unknown) => {
      this.#lastError = messageOf(error);
      if (!this.#connected || this.#outageLogged) return;
      this.#outageLogged = true;
      this.#logger?.warn('Lost the connection to the Redis cache; reconnecting', {
        server: this.#server,
        error: messageOf(error),
      });
    });
    this.#client.on('ready', () => {
      if (this.#outageLogged) this.#logger?.info('Reconnected to the Redis cache', { server: this.#server });
      this.#outageLogged = false;
    });
  }

  /**
   * Connects within `connectTimeoutMs`, else rejects with `PH_ERR_CONNECT` naming `host:port/db`
   * (never credentials) and stops trying. Afterwards ioredis reconnects on its own.
   */
  async connect(): Promise<void> {
    if (this.#connected) return;
    this.#lastError = undefined;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Error(`no answer within ${this.#connectTimeoutMs} ms`);
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timedOut), this.#connectTimeoutMs);
    });
    try {
      await Promise.race([this.#client.connect(), deadline]);
      this.#connected = true;
    } catch (error) {
      this.#client.disconnect();
      const last = this.#lastConnectionError();
      const reason =
        error === timedOut
          ? `${timedOut.message}${last === undefined ? '' : ` (last error: ${last})`}`
          : (last ?? messageOf(error));
      throw new PlatformError('PH_ERR_CONNECT', `Could not connect to Redis at ${this.#server}: ${reason}`, {
        hint: 'Check CACHE_REDIS_URL and that the server is running and reachable.',
      });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the connection (after the replies of commands already sent). Idempotent. */
  async disconnect(): Promise<void> {
    if (!this.#connected) {
      this.#client.disconnect();
      return;
    }
    this.#connected = false;
    try {
      await this.#client.quit();
    } catch {
      this.#client.disconnect();
    }
  }

  get(key: string): Promise<string | null> {
    // Not an async function: the hot path hands back the driver's promise without another hop.
    const problem = keyProblem(key);
    if (problem !== undefined) return Promise.reject(problem);
    return this.#client.get(this.keyPrefix + key);
  }

  async getMany(keys: readonly string[]): Promise<Array<string | null>> {
    if (keys.length === 0) return [];
    for (const key of keys) checkKey(key);
    return this.#client.mget(keys.map((key) => this.keyPrefix + key));
  }

  async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    checkKey(key);
    checkTtl(key, ttlSeconds);
    checkValue(key, value);
    const multi = this.#client.multi();
    this.#queueSet(multi, key, value, ttlSeconds);
    multi.unlink(this.#staleKey(key));
    await this.#exec(multi);
  }

  async setMany(entries: readonly CacheEntry[]): Promise<void> {
    // Every entry is checked before anything is sent, so a bad one stores none of them.
    for (const entry of entries) {
      checkKey(entry.key);
      checkTtl(entry.key, entry.ttlSeconds);
      checkValue(entry.key, entry.value);
    }
    if (entries.length === 0) return;
    const multi = this.#client.multi();
    for (const entry of entries) this.#queueSet(multi, entry.key, entry.value, entry.ttlSeconds);
    multi.unlink(...entries.map((entry) => this.#staleKey(entry.key)));
    await this.#exec(multi);
  }

  async getOrSet(key: string, loader: () => Promise<string>, options: GetOrSetOptions): Promise<CachedValue> {
    checkKey(key);
    if (options.ttlSeconds === undefined) {
      throw new RangeError(`Cache getOrSet for key "${key}" needs a ttlSeconds greater than 0`);
    }
    checkTtl(key, options.ttlSeconds);
    const staleSeconds = options.staleSeconds ?? 0;
    checkStale(key, staleSeconds);

    const full = this.keyPrefix + key;
    // A hit, the common case, is one GET of the fresh key, as a plain client would do; only when it
    // is gone is the stale copy read (a second round trip on the rarer stale and miss paths).
    const value = await this.#client.get(full);
    if (value !== null) return { value, status: 'hit' };
    if (staleSeconds > 0) {
      const stale = await this.#client.get(this.#staleKey(key));
      if (stale !== null) {
        this.#refreshInBackground(key, loader, options.ttlSeconds, staleSeconds);
        return { value: stale, status: 'stale' };
      }
    }
    const running = this.#loads.get(full);
    if (running !== undefined) return { value: await running, status: 'miss' };
    const load = this.#loadOnce(key, loader, options.ttlSeconds, staleSeconds);
    this.#loads.set(full, load);
    // Settled either way, the next caller loads afresh. The rejection itself reaches the waiters.
    load
      .finally(() => {
        if (this.#loads.get(full) === load) this.#loads.delete(full);
      })
      .catch(() => undefined);
    return { value: await load, status: 'miss' };
  }

  async delete(key: string): Promise<boolean> {
    checkKey(key);
    const multi = this.#client
      .multi()
      .del(this.keyPrefix + key)
      .unlink(this.#staleKey(key));
    const [removed] = await this.#exec(multi);
    return removed === 1;
  }

  async exists(key: string): Promise<boolean> {
    checkKey(key);
    return (await this.#client.exists(this.keyPrefix + key)) === 1;
  }

  async flush(): Promise<void> {
    const stream = this.#client.scanStream({ match: `${globEscape(this.keyPrefix)}*`, count: 1000 });
    for await (const batch of stream as AsyncIterable<string[]>) {
      if (batch.length > 0) await this.#client.unlink(...batch);
    }
  }

  /** PING within `healthCheckTimeoutMs`; never throws. The detail names `host:port/db` only. */
  async healthCheck(): Promise<HealthCheckResult> {
    if (!this.#connected) return { ok: false, detail: `Redis cache at ${this.#server} is not connected` };
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<HealthCheckResult>((resolve) => {
      timer = setTimeout(() => {
        const status = this.#client.status;
        if (status === 'ready') {
          // A connection that is up but silent: drop it, so ioredis reconnects and the commands
          // waiting on it are sent again (or fail) instead of hanging.
          this.#logger?.warn('Redis did not answer PING in time; dropping the connection to reconnect', {
            server: this.#server,
            timeoutMs: this.#healthCheckTimeoutMs,
          });
          this.#client.stream.destroy();
        }
        resolve({
          ok: false,
          detail: `Redis at ${this.#server} did not answer PING within ${this.#healthCheckTimeoutMs} ms (connection ${status})`,
        });
      }, this.#healthCheckTimeoutMs);
    });
    const ping = this.#client.ping().then(
      (): HealthCheckResult => ({ ok: true }),
      (error: unknown): HealthCheckResult => ({
        ok: false,
        detail: `Redis at ${this.#server} failed PING: ${messageOf(error)}`,
      }),
    );
    try {
      return await Promise.race([ping, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Read through a method: a property read right after the reset in `connect()` is narrowed to `undefined`. */
  #lastConnectionError(): string | undefined {
    return this.#lastError;
  }

  #staleKey(key: string): string {
    return `${this.keyPrefix}${RESERVED}stale${RESERVED}${key}`;
  }

  #lockKey(key: string): string {
    return `${this.keyPrefix}${RESERVED}lock${RESERVED}${key}`;
  }

  #queueSet(multi: ChainableCommander, key: string, value: string, ttlSeconds: number | undefined): void {
    if (ttlSeconds === undefined) multi.set(this.keyPrefix + key, value);
    else multi.set(this.keyPrefix + key, value, 'PX', milliseconds(ttlSeconds));
  }

  /** Runs a MULTI; the replies in order, or the first command error. */
  async #exec(multi: ChainableCommander): Promise<unknown[]> {
    const replies = await multi.exec();
    if (replies === null) throw new Error('Redis discarded the transaction');
    return replies.map(([error, reply]) => {
      if (error) throw error;
      return reply;
    });
  }

  /** Stores a loaded value fresh for `ttlSeconds`, with its stale copy when `staleSeconds > 0`. */
  async #store(key: string, value: string, ttlSeconds: number, staleSeconds: number): Promise<void> {
    checkValue(key, value);
    const multi = this.#client.multi();
    this.#queueSet(multi, key, value, ttlSeconds);
    if (staleSeconds > 0) multi.set(this.#staleKey(key), value, 'PX', milliseconds(ttlSeconds + staleSeconds));
    else multi.unlink(this.#staleKey(key));
    await this.#exec(multi);
  }

  /** Takes the key's load lock; the token to release it with, or `undefined` when another holds it. */
  async #lock(key: string): Promise<string | undefined> {
    const token = randomUUID();
    const taken = await this.#client.set(this.#lockKey(key), token, 'PX', this.#lockTtlMs, 'NX');
    return taken === 'OK' ? token : undefined;
  }

  /** Runs `work` while holding the lock `token`, renewing it, and releases it after. */
  async #whileLocked<T>(key: string, token: string, work: () => Promise<T>): Promise<T> {
    const lockKey = this.#lockKey(key);
    const renew = setInterval(
      () => {
        this.#client.cacheExtendLock(lockKey, token, this.#lockTtlMs).catch(() => undefined);
      },
      Math.floor(this.#lockTtlMs / 3),
    );
    try {
      return await work();
    } finally {
      clearInterval(renew);
      await this.#client.cacheUnlock(lockKey, token).catch(() => undefined);
    }
  }

  /**
   * The value of a missing key, loaded by exactly one process: this one when it takes the lock,
   * else the holder's, read once it is stored. A holder that fails releases the lock without a
   * value, and waiters then compete for the lock again.
   */
  async #loadOnce(
    key: string,
    loader: () => Promise<string>,
    ttlSeconds: number,
    staleSeconds: number,
  ): Promise<string> {
    const full = this.keyPrefix + key;
    let pollMs = 5;
    for (;;) {
      const token = await this.#lock(key);
      if (token !== undefined) {
        return this.#whileLocked(key, token, async () => {
          // Another process may have stored the value between our miss and our lock.
          const stored = await this.#client.get(full);
          if (stored !== null) return stored;
          const value = await loader();
          await this.#store(key, value, ttlSeconds, staleSeconds);
          return value;
        });
      }
      // Another process is loading: wait for its value, or for its lock to go away without one.
      for (;;) {
        await sleep(pollMs);
        pollMs = Math.min(pollMs * 2, 100);
        const [value, locked] = (await this.#exec(this.#client.multi().get(full).exists(this.#lockKey(key)))) as [
          string | null,
          number,
        ];
        if (value !== null) return value;
        if (locked === 0) break;
      }
    }
  }

  /** One refresh of a stale value at a time per key, in this process and across processes. */
  #refreshInBackground(key: string, loader: () => Promise<string>, ttlSeconds: number, staleSeconds: number): void {
    const full = this.keyPrefix + key;
    if (this.#refreshing.has(full) || this.#loads.has(full)) return;
    this.#refreshing.add(full);
    (async () => {
      const token = await this.#lock(key);
      if (token === undefined) return; // another process is refreshing it
      await this.#whileLocked(key, token, async () => {
        await this.#store(key, await loader(), ttlSeconds, staleSeconds);
      });
    })()
      .catch((error: unknown) => {
        this.#logger?.warn('Background refresh of a stale cache entry failed; the stale value is kept', {
          key,
          error: messageOf(error),
        });
      })
      .finally(() => this.#refreshing.delete(full));
  }
}
