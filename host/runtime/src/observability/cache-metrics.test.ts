import { expect } from 'chai';
import { PlatformError, isPlatformError } from '@platform-host/contracts';
import type { Cache, CachedValue, CacheEntry, GetOrSetOptions, HealthCheckResult } from '@platform-host/contracts';
import { memoryMetrics, type ReadableMetrics } from '../test-support/memory-metrics.js';
import { CACHE_HIT_RATIO, CACHE_REQUESTS, instrumentCache } from './cache-metrics.js';

/**
 * A minimal cache written for this test (the real memory cache is being migrated concurrently):
 * a Map without expiry, where a key set with `stale:` before its value answers getOrSet as stale.
 */
class MapCache implements Cache {
  readonly keyPrefix = 'test:';
  readonly #entries = new Map<string, string>();

  async healthCheck(): Promise<HealthCheckResult> {
    return { ok: true };
  }
  async get(key: string): Promise<string | null> {
    if (key === 'broken') throw new PlatformError('PH_ERR_NOT_CONNECTED', 'cache down');
    return this.#entries.get(key) ?? null;
  }
  async getMany(keys: readonly string[]): Promise<Array<string | null>> {
    return Promise.all(keys.map((key) => this.get(key)));
  }
  async set(key: string, value: string): Promise<void> {
    this.#entries.set(key, value);
  }
  async setMany(entries: readonly CacheEntry[]): Promise<void> {
    for (const entry of entries) this.#entries.set(entry.key, entry.value);
  }
  async getOrSet(key: string, loader: () => Promise<string>, _options: GetOrSetOptions): Promise<CachedValue> {
    const cached = this.#entries.get(key);
    if (cached?.startsWith('stale:') === true) return { value: cached.slice('stale:'.length), status: 'stale' };
    if (cached !== undefined) return { value: cached, status: 'hit' };
    const value = await loader();
    this.#entries.set(key, value);
    return { value, status: 'miss' };
  }
  async delete(key: string): Promise<boolean> {
    return this.#entries.delete(key);
  }
  async exists(key: string): Promise<boolean> {
    return this.#entries.has(key);
  }
  async flush(): Promise<void> {
    this.#entries.clear();
  }
}

describe('instrumentCache', function () {
  let metrics: ReadableMetrics;
  let cache: MapCache;
  const scope = { module: 'api', env: 'test' };
  const requests = (result: string) => metrics.value(CACHE_REQUESTS, { ...scope, result });

  beforeEach(async function () {
    metrics = await memoryMetrics();
    cache = instrumentCache(new MapCache(), { metrics, ...scope });
  });

  it('counts get, getMany and getOrSet reads by result and returns what the cache answered', async function () {
    await cache.set('a', '1');
    await cache.set('s', 'stale:old');
    expect(await cache.get('a')).to.equal('1');
    expect(await cache.get('absent')).to.equal(null);
    expect(await cache.getMany(['a', 'absent', 'other'])).to.deep.equal(['1', null, null]);
    expect(await cache.getOrSet('a', async () => 'unused', { ttlSeconds: 1 })).to.deep.equal({
      value: '1',
      status: 'hit',
    });
    expect(await cache.getOrSet('new', async () => 'loaded', { ttlSeconds: 1 })).to.deep.equal({
      value: 'loaded',
      status: 'miss',
    });
    expect(await cache.getOrSet('s', async () => 'unused', { ttlSeconds: 1 })).to.deep.equal({
      value: 'old',
      status: 'stale',
    });
    expect(requests('hit')).to.equal(3);
    expect(requests('miss')).to.equal(4);
    expect(requests('stale')).to.equal(1);
  });

  it('keeps the hit ratio as the fraction of reads answered from the cache (hit or stale)', async function () {
    await cache.set('a', '1');
    await cache.get('a');
    expect(metrics.value(CACHE_HIT_RATIO, scope)).to.equal(1);
    await cache.get('absent');
    await cache.get('absent');
    await cache.get('a');
    expect(metrics.value(CACHE_HIT_RATIO, scope)).to.equal(0.5);
  });

  it('passes a failing read through unchanged and does not count it', async function () {
    const error = await cache.get('broken').catch((caught: unknown) => caught);
    expect(isPlatformError(error) && error.code).to.equal('PH_ERR_NOT_CONNECTED');
    const loaderError = new Error('loader failed');
    const failed = await cache
      .getOrSet('k', () => Promise.reject(loaderError), { ttlSeconds: 1 })
      .catch((caught: unknown) => caught);
    expect(failed).to.equal(loaderError);
    expect(metrics.total(CACHE_REQUESTS)).to.equal(0);
  });

  it('keeps keyPrefix, instanceof and the methods it does not measure', async function () {
    expect(cache.keyPrefix).to.equal('test:');
    expect(cache).to.be.instanceOf(MapCache);
    await cache.set('k', 'v');
    expect(await cache.exists('k')).to.equal(true);
    expect(await cache.delete('k')).to.equal(true);
  });
});
