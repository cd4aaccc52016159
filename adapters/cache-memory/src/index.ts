import { PlatformError, REFS, defineAdapter } from '@platform-host/contracts';
import type { AdapterConfig } from '@platform-host/contracts';
import { MemoryCache } from './memory-cache.js';

export { MemoryCache, MemoryCacheStore } from './memory-cache.js';
export type { MemoryCacheOptions, MemoryCacheStoreOptions } from './memory-cache.js';

/** An integer config value of at least `minimum`, else `PH_ERR_CONFIG_INVALID` naming the key. */
function integerAtLeast(config: AdapterConfig, key: string, fallback: number, minimum: number): number {
  const value = config.integer(key, fallback);
  if (value < minimum) {
    throw new PlatformError('PH_ERR_CONFIG_INVALID', `${key} must be at least ${minimum}, got ${value}`, {
      hint: `Set ${key} to an integer of at least ${minimum}, or unset it for the default of ${fallback}.`,
    });
  }
  return value;
}

/** The `--cache memory` adapter. */
export default defineAdapter({
  interface: 'cache',
  dependencies: { logger: REFS.logging },
  create: ({ config, logger }) =>
    new MemoryCache({
      maxEntries: integerAtLeast(config, 'CACHE_MEMORY_MAX_ENTRIES', 10_000, 1),
      maxBytes: integerAtLeast(config, 'CACHE_MEMORY_MAX_BYTES', 268_435_456, 0),
      keyPrefix: config.get('CACHE_MEMORY_KEY_PREFIX') ?? '',
      logger,
    }),
});
