import type { Cache, CachedValue, GetOrSetOptions } from '@platform-host/contracts';
import { interceptMethods } from './intercept.js';
import { safeRecorder, scopeLabels, type PlatformMetricsScope } from './scope.js';

/** The `result` label of `platform_cache_requests_total`. */
export type CacheResult = 'hit' | 'miss' | 'stale';

export const CACHE_REQUESTS = 'platform_cache_requests_total';
export const CACHE_HIT_RATIO = 'platform_cache_hit_ratio';

/**
 * Wraps a constructed cache so every answered read is counted in `platform_cache_requests_total`
 * (labels `module`, `env`, `result` = `hit` | `miss` | `stale`): `get` (a value is a hit, `null` a
 * miss), each key of `getMany`, and `getOrSet` by the status it answers. `platform_cache_hit_ratio`
 * (labels `module`, `env`) is the fraction of those reads answered from the cache (hit or stale)
 * since the proxy was made, updated on every read. A read that rejects is not counted.
 * Return values, errors, `keyPrefix` and every other method are the adapter's.
 */
export function instrumentCache<C extends Cache>(cache: C, scope: PlatformMetricsScope): C {
  const requests = scope.metrics.counter({
    name: CACHE_REQUESTS,
    help: 'Cache reads answered, by result: hit (fresh), stale (served past its TTL while refreshing) or miss.',
    labelNames: ['module', 'env', 'result'],
    unit: 'requests',
  });
  const ratio = scope.metrics.gauge({
    name: CACHE_HIT_RATIO,
    help: 'Fraction of cache reads answered from the cache (hit or stale) since the module started.',
    labelNames: ['module', 'env'],
    unit: 'ratio',
  });
  // Frozen label sets, made once: a cache read is a hot path (a cached HTTP answer is one read), and
  // the metrics adapters check a frozen label set once rather than on every observation.
  const base = Object.freeze(scopeLabels(scope));
  const record = safeRecorder(scope);
  const labelsOf: Readonly<
    Record<CacheResult, { readonly module: string; readonly env: string; readonly result: CacheResult }>
  > = {
    hit: Object.freeze({ ...base, result: 'hit' }),
    miss: Object.freeze({ ...base, result: 'miss' }),
    stale: Object.freeze({ ...base, result: 'stale' }),
  };
  let reads = 0;
  let served = 0;
  // One recording function per result, not a closure per read.
  const recordOne: Readonly<Record<CacheResult, () => void>> = {
    hit: () => {
      requests.inc(labelsOf.hit);
      ratio.set(base, served / reads);
    },
    miss: () => {
      requests.inc(labelsOf.miss);
      ratio.set(base, served / reads);
    },
    stale: () => {
      requests.inc(labelsOf.stale);
      ratio.set(base, served / reads);
    },
  };
  const countOne = (result: CacheResult): void => {
    reads += 1;
    if (result !== 'miss') served += 1;
    record(recordOne[result]);
  };
  const count = (results: readonly CacheResult[]): void => {
    if (results.length === 0) return;
    for (const result of results) {
      reads += 1;
      if (result !== 'miss') served += 1;
    }
    record(() => {
      for (const result of results) requests.inc(labelsOf[result]);
      ratio.set(base, served / reads);
    });
  };
  const resultOf = (value: string | null): CacheResult => (value === null ? 'miss' : 'hit');
  // The continuations of get and getOrSet, made once: no closure per read.
  const countValue = (value: string | null): string | null => {
    countOne(resultOf(value));
    return value;
  };
  const countAnswer = (answer: CachedValue): CachedValue => {
    countOne(answer.status);
    return answer;
  };

  return interceptMethods<C, Cache>(cache, {
    get: (key: string) => cache.get(key).then(countValue),
    getMany: (keys: readonly string[]) =>
      cache.getMany(keys).then((values) => {
        count(values.map(resultOf));
        return values;
      }),
    getOrSet: (key: string, loader: () => Promise<string>, options: GetOrSetOptions) =>
      cache.getOrSet(key, loader, options).then(countAnswer),
  });
}
