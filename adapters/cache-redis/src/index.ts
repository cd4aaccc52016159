import { PlatformError, REFS, defineAdapter } from '@platform-host/contracts';
import type { AdapterConfig } from '@platform-host/contracts';
import { RedisCache } from './redis-cache.js';

export { RedisCache } from './redis-cache.js';
export type { RedisCacheOptions } from './redis-cache.js';

/** An integer config value of at least `minimum`, else `PH_ERR_CONFIG_INVALID` naming the key. */
function integerAtLeast(config: AdapterConfig, key: string, fallback: number, minimum: number): number {
  const value = config.integer(key, fallback);
  if (value < minimum) {
    throw new PlatformError('PH_ERR_CONFIG_INVALID', `${key} must be an integer of at least ${minimum}, got ${value}`, {
      hint: `Set ${key} to an integer of at least ${minimum}, or unset it for the default of ${fallback}.`,
    });
  }
  return value;
}

/** The `--cache redis` adapter. */
export default defineAdapter({
  interface: 'cache',
  dependencies: { logger: REFS.logging },
  create: ({ config, logger }) =>
    new RedisCache({
      url: config.require('CACHE_REDIS_URL'),
      keyPrefix: config.get('CACHE_REDIS_KEY_PREFIX') ?? 'platform:cache:',
      lockTtlMs: integerAtLeast(config, 'CACHE_REDIS_LOCK_TTL_MS', 10_000, 100),
      connectTimeoutMs: integerAtLeast(config, 'CACHE_REDIS_CONNECT_TIMEOUT_MS', 10_000, 1),
      commandTimeoutMs: integerAtLeast(config, 'CACHE_REDIS_COMMAND_TIMEOUT_MS', 0, 0),
      logger,
    }),
});
