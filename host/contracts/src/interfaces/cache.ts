import type { Connectable, HealthCheckable } from '../health.js';

/**
 * Key-value cache with per-key time to live (seed 5.2.3). Values are strings; callers serialize
 * structured values themselves (see `cacheGetJson` / `cacheSetJson`). A cache may evict entries
 * before their TTL (bounded memory, server eviction policy): never use it as the source of truth.
 */
export interface Cache extends HealthCheckable, Partial<Connectable> {
  /** The value, or `null` when absent or expired. */
  get(key: string): Promise<string | null>;
  /** Stores a value; with `ttlSeconds` (> 0, fractions allowed) it expires after that long. */
  set(key: string, value: string, ttlSeconds?: number): Promise<void>;
  /** Removes a key; true when it was present. */
  delete(key: string): Promise<boolean>;
  /** True when the key is present and not expired. */
  exists(key: string): Promise<boolean>;
  /** Removes every key of this cache (for Redis: of the selected database only). */
  flush(): Promise<void>;
}

/** Reads a JSON value stored with {@link cacheSetJson}; `null` when absent. */
export async function cacheGetJson<T>(cache: Cache, key: string): Promise<T | null> {
  const text = await cache.get(key);
  return text === null ? null : (JSON.parse(text) as T);
}

/** Stores a JSON-serializable value. */
export async function cacheSetJson(cache: Cache, key: string, value: unknown, ttlSeconds?: number): Promise<void> {
  await cache.set(key, JSON.stringify(value), ttlSeconds);
}
