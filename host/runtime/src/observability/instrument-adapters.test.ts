import { expect } from 'chai';
import type { Logger } from '@platform-host/contracts';
import { memoryMetrics } from '../test-support/memory-metrics.js';
import { CACHE_REQUESTS } from './cache-metrics.js';
import { instrumentAdapter } from './instrument-adapters.js';

describe('instrumentAdapter', function () {
  it('wraps a cache in its instrumenting proxy and hands other interfaces back untouched', async function () {
    const metrics = await memoryMetrics();
    const scope = { metrics, module: 'api', env: 'test' };
    const entries = new Map<string, string>([['k', 'v']]);
    const cache = instrumentAdapter(
      'cache',
      {
        keyPrefix: '',
        get: async (key: string) => entries.get(key) ?? null,
        getMany: async (keys: readonly string[]) => keys.map((key) => entries.get(key) ?? null),
        set: async () => {},
        setMany: async () => {},
        getOrSet: async (_key: string, loader: () => Promise<string>) => ({
          value: await loader(),
          status: 'miss' as const,
        }),
        delete: async () => false,
        exists: async () => false,
        flush: async () => {},
        healthCheck: async () => ({ ok: true }),
      },
      scope,
    );
    expect(await cache.get('k')).to.equal('v');
    expect(metrics.value(CACHE_REQUESTS, { module: 'api', env: 'test', result: 'hit' })).to.equal(1);
    const logger = { child: () => logger } as unknown as Logger;
    expect(instrumentAdapter('logging', logger, scope)).to.equal(logger);
  });
});
