import type { Cache, HealthCheckResult } from '@platform-host/contracts';

/** Options of {@link MemoryCache}. */
export interface MemoryCacheOptions {
  /** Entries kept before the least recently used is evicted. Default 10000. */
  readonly maxEntries?: number;
  /** How often the background sweep removes expired entries, in milliseconds. Default 1000. */
  readonly sweepIntervalMs?: number;
  /** Monotonic clock in milliseconds; tests inject a fake one. Default `performance.now`. */
  readonly now?: () => number;
}

interface Entry {
  readonly value: string;
  /** Clock time after which the entry is expired; `undefined` for no TTL. */
  readonly expiresAt: number | undefined;
}

/** Rejects what the contract excludes: a TTL must be a finite number of seconds greater than 0. */
function checkTtl(key: string, ttlSeconds: number | undefined): void {
  if (ttlSeconds === undefined) return;
  if (typeof ttlSeconds !== 'number' || !Number.isFinite(ttlSeconds) || ttlSeconds <= 0) {
    throw new RangeError(
      `Cache TTL for key "${key}" must be a finite number of seconds greater than 0, got ${String(ttlSeconds)}; omit it for no expiry`,
    );
  }
}

/**
 * In-process {@link Cache} (`--cache memory`) for tests and local runs: a bounded map with
 * least-recently-used eviction and per-key TTL.
 *
 * - At most `maxEntries` keys; setting a new key beyond that evicts the least recently used one
 *   (`get` and `set` count as a use; `exists` does not).
 * - Expired entries are never returned. They are removed when next touched, and by a periodic sweep
 *   that runs between `connect()` and `disconnect()` (an `unref()`ed timer, so it never keeps the
 *   process alive). Nothing starts at construction.
 * - Usable without `connect()` (expiry is then only lazy); `disconnect()` stops the sweep and keeps
 *   the entries.
 * - `ttlSeconds` must be a finite number greater than 0 (fractions allowed); anything else throws a
 *   `RangeError`, as it is a bug in the caller rather than a configuration problem.
 */
export class MemoryCache implements Cache {
  readonly #entries = new Map<string, Entry>();
  readonly #maxEntries: number;
  readonly #sweepIntervalMs: number;
  readonly #now: () => number;
  #sweepTimer: NodeJS.Timeout | undefined;

  constructor(options: MemoryCacheOptions = {}) {
    const maxEntries = options.maxEntries ?? 10_000;
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`MemoryCache maxEntries must be an integer of at least 1, got ${maxEntries}`);
    }
    const sweepIntervalMs = options.sweepIntervalMs ?? 1000;
    if (!Number.isFinite(sweepIntervalMs) || sweepIntervalMs <= 0) {
      throw new RangeError(`MemoryCache sweepIntervalMs must be a number greater than 0, got ${sweepIntervalMs}`);
    }
    this.#maxEntries = maxEntries;
    this.#sweepIntervalMs = sweepIntervalMs;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Number of stored entries, including expired ones the sweep has not removed yet. */
  get size(): number {
    return this.#entries.size;
  }

  /** Starts the periodic sweep of expired entries. Calling it again is harmless. */
  async connect(): Promise<void> {
    if (this.#sweepTimer !== undefined) return;
    this.#sweepTimer = setInterval(() => this.#sweepExpired(), this.#sweepIntervalMs);
    this.#sweepTimer.unref();
  }

  /** Stops the sweep; the entries stay. Idempotent. */
  async disconnect(): Promise<void> {
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
  }

  async get(key: string): Promise<string | null> {
    const entry = this.#liveEntry(key);
    if (entry === undefined) return null;
    // Re-inserting moves the key to the most recently used end of the map's insertion order.
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.value;
  }

  async set(key: string, value: string, ttlSeconds?: number): Promise<void> {
    checkTtl(key, ttlSeconds);
    const expiresAt = ttlSeconds === undefined ? undefined : this.#now() + ttlSeconds * 1000;
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt });
    this.#evictBeyondCapacity();
  }

  async delete(key: string): Promise<boolean> {
    const present = this.#liveEntry(key) !== undefined;
    this.#entries.delete(key);
    return present;
  }

  async exists(key: string): Promise<boolean> {
    return this.#liveEntry(key) !== undefined;
  }

  async flush(): Promise<void> {
    this.#entries.clear();
  }

  async healthCheck(): Promise<HealthCheckResult> {
    return { ok: true };
  }

  /** The entry of `key` unless it is absent or expired; an expired one is removed on the way. */
  #liveEntry(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== undefined && entry.expiresAt <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #evictBeyondCapacity(): void {
    // The map's first keys are the least recently used.
    for (const key of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxEntries) break;
      this.#entries.delete(key);
    }
  }

  #sweepExpired(): void {
    const now = this.#now();
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt !== undefined && entry.expiresAt <= now) this.#entries.delete(key);
    }
  }
}
