import type { Connectable, HealthCheckable } from '../health.js';

/** One entry of {@link Cache.setMany}. */
export interface CacheEntry {
  readonly key: string;
  readonly value: string;
  /** Seconds to live (> 0, fractions allowed); without it the entry does not expire. */
  readonly ttlSeconds?: number;
}

/** Options of {@link Cache.getOrSet}. */
export interface GetOrSetOptions {
  /** How long a loaded value is fresh, in seconds (> 0). */
  readonly ttlSeconds: number;
  /**
   * How long after it stops being fresh a value may still be served, in seconds (default 0). A stale
   * read answers at once with the old value and refreshes it in the background (one refresh at a
   * time per key); a failing refresh keeps the old value until it is too old.
   */
  readonly staleSeconds?: number;
}

/** What {@link Cache.getOrSet} answers. */
export interface CachedValue {
  readonly value: string;
  /** `hit`: fresh from the cache; `stale`: served past its TTL while refreshing; `miss`: loaded now. */
  readonly status: 'hit' | 'stale' | 'miss';
}

/**
 * Key-value cache with per-key time to live (seed 5.2.3). Values are strings; callers serialize
 * structured values themselves (see `cacheGetJson` / `cacheSetJson`). A cache may evict entries
 * before their TTL (bounded memory, server eviction policy): never use it as the source of truth.
 *
 * Every key is stored under the cache's {@link Cache.keyPrefix}, so several caches (or
 * applications) can share one server and {@link Cache.flush} removes only this cache's keys.
 * A TTL that is not a positive finite number is refused with a `RangeError`.
 */
export interface Cache extends HealthCheckable, Partial<Connectable> {
  /** The prefix put before every key in the backend (may be empty for a private store). */
  readonly keyPrefix: string;
  /**
   * The value, or `null` when absent or expired. A value past its TTL but inside the stale window
   * of {@link Cache.getOrSet} counts as expired here: only `getOrSet` serves stale values.
   */
  get(key: string): Promise<string | null>;
  /** The values of `keys` in the same order, `null` for each absent one; one round trip. */
  getMany(keys: readonly string[]): Promise<Array<string | null>>;
  /** Stores a value; with `ttlSeconds` (> 0, fractions allowed) it expires after that long. */
  set(key: string, value: string, ttlSeconds?: number): Promise<void>;
  /** Stores several values in one round trip. */
  setMany(entries: readonly CacheEntry[]): Promise<void>;
  /**
   * Cache-aside with single-flight: the cached value when fresh (or stale within `staleSeconds`),
   * else the result of `loader`, stored for `ttlSeconds`. Concurrent calls for one key while it is
   * loading share one `loader` call (within the process; adapters on a shared server also across
   * processes, see their docs). A loader that rejects stores nothing and rejects every waiter.
   */
  getOrSet(key: string, loader: () => Promise<string>, options: GetOrSetOptions): Promise<CachedValue>;
  /** Removes a key; true when it was present. */
  delete(key: string): Promise<boolean>;
  /** True when the key is present and not expired. */
  exists(key: string): Promise<boolean>;
  /** Removes every key of this cache (those under its prefix), and nothing else. */
  flush(): Promise<void>;
}

/**
 * Reads a JSON value stored with {@link cacheSetJson}; `null` when absent. The value is `unknown`
 * until the caller validates it.
 */
export async function cacheGetJson(cache: Cache, key: string): Promise<unknown> {
  const text = await cache.get(key);
  return text === null ? null : (JSON.parse(text) as unknown);
}

/** Stores a JSON-serializable value. */
export async function cacheSetJson(cache: Cache, key: string, value: unknown, ttlSeconds?: number): Promise<void> {
  await cache.set(key, JSON.stringify(value), ttlSeconds);
}

/**
 * The argument rules every {@link Cache} adapter enforces the same way: a TTL is a finite number of
 * seconds greater than 0 (or absent), a stale window a finite number of at least 0 (`RangeError`),
 * and a value is a string (`TypeError`).
 */
export const cacheArguments = Object.freeze({
  checkTtl(key: string, ttlSeconds: number | undefined): void {
    if (ttlSeconds === undefined) return;
    if (typeof ttlSeconds !== 'number' || !Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
      throw new RangeError(
        `Cache TTL for key "${key}" must be a finite number of seconds greater than 0, got ${String(ttlSeconds)}; omit it for no expiry`,
      );
    }
  },
  checkStale(key: string, staleSeconds: number): void {
    if (typeof staleSeconds !== 'number' || !Number.isFinite(staleSeconds) || staleSeconds < 0) {
      throw new RangeError(
        `Cache staleSeconds for key "${key}" must be a finite number of seconds of at least 0, got ${String(staleSeconds)}`,
      );
    }
  },
  checkValue(key: string, value: unknown): void {
    if (typeof value !== 'string') {
      throw new TypeError(`Cache value for key "${key}" must be a string, got ${typeof value}`);
    }
  },
});
