import { PlatformError, defineAdapter } from '@platform-host/contracts';
import { MemoryCache } from './memory-cache.js';

export { MemoryCache } from './memory-cache.js';
export type { MemoryCacheOptions } from './memory-cache.js';

/** The `--cache memory` adapter. */
export default defineAdapter({
  interface: 'cache',
  create: ({ config }) => {
    const maxEntries = config.integer('CACHE_MEMORY_MAX_ENTRIES', 10_000);
    if (maxEntries < 1) {
      throw new PlatformError(
        'PH_ERR_CONFIG_INVALID',
        `CACHE_MEMORY_MAX_ENTRIES must be at least 1, got ${maxEntries}`,
        {
          hint: 'Set CACHE_MEMORY_MAX_ENTRIES to a positive integer, or unset it for the default of 10000.',
        },
      );
    }
    return new MemoryCache({ maxEntries });
  },
});
