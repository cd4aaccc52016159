import { LRUCache } from 'lru-cache';
import { cacheArguments } from '@platform-host/contracts';
import type {
  Cache,
  CacheEntry,
  CachedValue,
  GetOrSetOptions,
  HealthCheckResult,
  Logger,
} from '@platform-host/contracts';

const { checkTtl, checkStale, checkValue } = cacheArguments;

/** Options of {@link MemoryCacheStore}. */
export interface MemoryCacheStoreOptions {
  /** Entries kept before the least recently used is evicted. Default 10000. */
  readonly maxEntries?: number;
  /**
   * Bound on the approximate memory of keys and values (2 bytes per UTF-16 code unit), evicting
   * the least recently used beyond it. A single entry larger than the bound is not stored. 0: no
   * bound. Default 0.
   */
  readonly maxBytes?: number;
  /** Monotonic clock in milliseconds; tests inject a fake one. Default `performance.now`. */
  readonly now?: () => number;
}

/** What the store keeps per key. */
interface StoredValue {
  readonly value: string;
  /** Clock time after which the value is no longer fresh; `undefined` when it never expires. */
  readonly freshUntil: number | undefined;
}

/**
 * The in-process backend of one or more {@link MemoryCache}s: a bounded least-recently-used map
 * (the `lru-cache` package) shared by every cache created on it, each under its own key prefix.
 * It also holds the loads in flight, so caches on one store share single-flight loads of a key.
 */
export class MemoryCacheStore {
  /** Keyed by the full (prefixed) key. */
  readonly entries: LRUCache<string, StoredValue>;
  /** Loads in flight by full key: a miss and a background refresh of one key share one loader call. */
  readonly loads = new Map<string, Promise<string>>();
  readonly now: () => number;

  constructor(options: MemoryCacheStoreOptions = {}) {
    const maxEntries = options.maxEntries ?? 10_000;
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`MemoryCache maxEntries must be an integer of at least 1, got ${maxEntries}`);
    }
    const maxBytes = options.maxBytes ?? 0;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
      throw new RangeError(`MemoryCache maxBytes must be an integer of at least 0, got ${maxBytes}`);
    }
    this.now = options.now ?? (() => performance.now());
    this.entries = new LRUCache<string, StoredValue>({
      max: maxEntries,
      ...(maxBytes > 0
        ? { maxSize: maxBytes, sizeCalculation: (entry, key) => Math.max(1, 2 * (key.length + entry.value.length)) }
        : {}),
      // Per-entry TTLs are given on set (an entry lives while its age is at most its TTL, the same
      // boundary the cache uses for freshness); reading the clock on every check keeps it exact.
      ttlResolution: 0,
      perf: { now: this.now },
    });
  }

  /** Number of stored entries, including those past their TTL that the sweep has not removed yet. */
  get size(): number {
    return this.entries.size;
  }
}

/** Options of {@link MemoryCache}. */
export interface MemoryCacheOptions extends MemoryCacheStoreOptions {
  /**
   * The store to keep entries in, shared with other caches (each under its own prefix). Default: a
   * new private store built from the other options (which are ignored when a store is given).
   */
  readonly store?: MemoryCacheStore;
  /** Put before every key in the store. Default `''` (the whole store belongs to this cache). */
  readonly keyPrefix?: string;
  /** How often the background sweep removes expired entries, in milliseconds. Default 1000. */
  readonly sweepIntervalMs?: number;
  /** Told about background refreshes that failed (the stale value is kept). */
  readonly logger?: Logger;
}

/**
 * In-process {@link Cache} (`--cache memory`) for tests and local runs, on a bounded
 * least-recently-used store (`lru-cache`) with per-key TTL.
 *
 * - At most `maxEntries` keys (and `maxBytes`, when set) per store; beyond that the least recently
 *   used entry is evicted (`get`, `getMany`, `set` and `getOrSet` count as a use; `exists` does not).
 * - Every key is stored as `keyPrefix + key`; `flush()` removes only the keys under this cache's
 *   prefix, so caches sharing a {@link MemoryCacheStore} do not clear each other.
 * - Expired entries are never returned. They are removed when next touched, and by a periodic sweep
 *   that runs between `connect()` and `disconnect()` (an `unref()`ed timer, so it never keeps the
 *   process alive). Nothing starts at construction.
 * - `getOrSet` is single-flight per store and full key: concurrent callers share one loader call; a
 *   rejected loader stores nothing and rejects them all. A value stored by `getOrSet` is kept for
 *   `staleSeconds` past its TTL; within that window `getOrSet` answers `stale` at once and refreshes
 *   it in the background, one refresh at a time. A failing refresh is logged and keeps the stale
 *   value. `get` and `exists` treat a value past its TTL as absent, stale window or not.
 * - `ttlSeconds` must be a finite number greater than 0 (fractions allowed), `staleSeconds` one of at
 *   least 0; anything else throws a `RangeError` and stores nothing: it is a bug in the caller
 *   rather than a configuration problem.
 */
export class MemoryCache implements Cache {
  readonly keyPrefix: string;
  readonly #store: MemoryCacheStore;
  readonly #sweepIntervalMs: number;
  readonly #logger: Logger | undefined;
  #sweepTimer: NodeJS.Timeout | undefined;

  constructor(options: MemoryCacheOptions = {}) {
    const sweepIntervalMs = options.sweepIntervalMs ?? 1000;
    if (!Number.isFinite(sweepIntervalMs) || sweepIntervalMs <= 0) {
      throw new RangeError(`MemoryCache sweepIntervalMs must be a number greater than 0, got ${sweepIntervalMs}`);
    }
    const keyPrefix = options.keyPrefix ?? '';
    if (typeof keyPrefix !== 'string') throw new RangeError('MemoryCache keyPrefix must be a string');
    this.#store = options.store ?? new MemoryCacheStore(options);
    this.keyPrefix = keyPrefix;
    this.#sweepIntervalMs = sweepIntervalMs;
    this.#logger = options.logger;
  }

  /** Number of entries in the store (of every cache on it), including expired ones not yet swept. */
  get size(): number {
    return this.#store.size;
  }

  /** Starts the periodic sweep of expired entries. Calling it again is harmless. */
  async connect(): Promise<void> {
    if (this.#sweepTimer !== undefined) return;
    this.#sweepTimer = setInterval(() => this.#store.entries.purgeStale(), this.#sweepIntervalMs);
    this.#sweepTimer.unref();
  }

  /** Stops the sweep; the entries stay. Idempotent. */
  async disconnect(): Promise<void> {
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
  }

  async get(key: string): Promise<string | null> {
    return this.#fresh(this.#store.entries.get(this.keyPrefix + key))?.value ?? null;
  }

  async getMany(keys: readonly string[]): Promise<Array<string | null>> {
    return keys.map((key) => this.#fresh(this.#store.entries.get(this.keyPrefix + key))?.value ?? null);
  }

  async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    checkTtl(key, ttlSeconds);
    this.#put(key, value, ttlSeconds, 0);
  }

  async setMany(entries: readonly CacheEntry[]): Promise<void> {
    // Every entry is checked before anything is stored, so a bad one stores none of them.
    for (const entry of entries) {
      checkTtl(entry.key, entry.ttlSeconds);
      checkValue(entry.key, entry.value);
    }
    for (const entry of entries) this.#put(entry.key, entry.value, entry.ttlSeconds, 0);
  }

  async getOrSet(key: string, loader: () => Promise<string>, options: GetOrSetOptions): Promise<CachedValue> {
    if (options.ttlSeconds === undefined) {
      throw new RangeError(`Cache getOrSet for key "${key}" needs a ttlSeconds greater than 0`);
    }
    checkTtl(key, options.ttlSeconds);
    const staleSeconds = options.staleSeconds ?? 0;
    checkStale(key, staleSeconds);

    const stored = this.#store.entries.get(this.keyPrefix + key);
    if (stored !== undefined) {
      const now = this.#store.now();
      if (stored.freshUntil === undefined || now <= stored.freshUntil) return { value: stored.value, status: 'hit' };
      if (now <= stored.freshUntil + staleSeconds * 1000) {
        this.#load(key, loader, options.ttlSeconds, staleSeconds).catch((error: unknown) => {
          this.#logger?.warn('Background refresh of a stale cache entry failed; the stale value is kept', {
            key,
            error: error instanceof Error ? error.message : String(error),
          });
        });
        return { value: stored.value, status: 'stale' };
      }
    }
    return { value: await this.#load(key, loader, options.ttlSeconds, staleSeconds), status: 'miss' };
  }

  async delete(key: string): Promise<boolean> {
    const present = this.#fresh(this.#store.entries.peek(this.keyPrefix + key)) !== undefined;
    this.#store.entries.delete(this.keyPrefix + key);
    return present;
  }

  async exists(key: string): Promise<boolean> {
    return this.#fresh(this.#store.entries.peek(this.keyPrefix + key)) !== undefined;
  }

  async flush(): Promise<void> {
    if (this.keyPrefix === '') {
      this.#store.entries.clear();
      return;
    }
    // Collected first: deleting while iterating the store would skip keys.
    const mine = [...this.#store.entries.keys()].filter((full) => full.startsWith(this.keyPrefix));
    for (const full of mine) this.#store.entries.delete(full);
  }

  async healthCheck(): Promise<HealthCheckResult> {
    return { ok: true };
  }

  /** The stored value when it is fresh, else `undefined`. */
  #fresh(stored: StoredValue | undefined): StoredValue | undefined {
    if (stored === undefined) return undefined;
    return stored.freshUntil === undefined || this.#store.now() <= stored.freshUntil ? stored : undefined;
  }

  /** Stores a value fresh for `ttlSeconds` and kept `staleSeconds` longer (TTLs already checked). */
  #put(key: string, value: string, ttlSeconds: number | undefined, staleSeconds: number): void {
    checkValue(key, value);
    if (ttlSeconds === undefined) {
      this.#store.entries.set(this.keyPrefix + key, { value, freshUntil: undefined }, { ttl: 0 });
      return;
    }
    const freshUntil = this.#store.now() + ttlSeconds * 1000;
    this.#store.entries.set(this.keyPrefix + key, { value, freshUntil }, { ttl: (ttlSeconds + staleSeconds) * 1000 });
  }

  /** The value `loader` gives for `key`, stored; one loader call at a time per store and full key. */
  #load(key: string, loader: () => Promise<string>, ttlSeconds: number, staleSeconds: number): Promise<string> {
    const full = this.keyPrefix + key;
    const running = this.#store.loads.get(full);
    if (running !== undefined) return running;
    const load = (async () => {
      const value = await loader();
      this.#put(key, value, ttlSeconds, staleSeconds);
      return value;
    })();
    this.#store.loads.set(full, load);
    // Settled either way, the next caller loads afresh. The rejection itself reaches the waiters.
    load
      .finally(() => {
        if (this.#store.loads.get(full) === load) this.#store.loads.delete(full);
      })
      .catch(() => undefined);
    return load;
  }
}
