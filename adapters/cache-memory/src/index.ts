import { REFS, defineAdapter } from '@platform-host/contracts';
import { MemoryCache } from './memory-cache.js';

export { MemoryCache, MemoryCacheStore } from './memory-cache.js';
export type { MemoryCacheOptions, MemoryCacheStoreOptions } from './memory-cache.js';

/** The `--cache memory` adapter. */
export default defineAdapter({
  interface: 'cache',
  dependencies: { logger: REFS.logging },
  create: ({ config, logger }) =>
    new MemoryCache({
      maxEntries: config.integer('CACHE_MEMORY_MAX_ENTRIES', 10_000, { min: 1 }),
      maxBytes: config.integer('CACHE_MEMORY_MAX_BYTES', 268_435_456, { min: 0 }),
      keyPrefix: config.get('CACHE_MEMORY_KEY_PREFIX') ?? '',
      logger,
    }),
});
