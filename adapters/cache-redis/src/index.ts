import { PlatformError, REFS, defineAdapter, type AdapterConfig } from '@platform-host/contracts';
import { RedisCache } from './redis-cache.js';

export { RedisCache } from './redis-cache.js';
export type { RedisCacheOptions } from './redis-cache.js';

/** `CACHE_REDIS_AUTO_PIPELINING`: true or false (default). */
function autoPipelining(config: AdapterConfig): boolean {
  const value = (config.get('CACHE_REDIS_AUTO_PIPELINING') ?? 'false').trim().toLowerCase();
  if (value === 'true' || value === 'false') return value === 'true';
  throw new PlatformError('PH_ERR_CONFIG_INVALID', 'CACHE_REDIS_AUTO_PIPELINING must be true or false', {
    hint: 'Set CACHE_REDIS_AUTO_PIPELINING to true or false, or unset it for false.',
  });
}

/** The `--cache redis` adapter. */
export default defineAdapter({
  interface: 'cache',
  dependencies: { logger: REFS.logging },
  create: ({ config, logger }) =>
    new RedisCache({
      url: config.require('CACHE_REDIS_URL'),
      keyPrefix: config.get('CACHE_REDIS_KEY_PREFIX') ?? 'platform:cache:',
      lockTtlMs: config.integer('CACHE_REDIS_LOCK_TTL_MS', 10_000, { min: 100 }),
      connectTimeoutMs: config.integer('CACHE_REDIS_CONNECT_TIMEOUT_MS', 10_000, { min: 1 }),
      commandTimeoutMs: config.integer('CACHE_REDIS_COMMAND_TIMEOUT_MS', 0, { min: 0 }),
      autoPipelining: autoPipelining(config),
      logger,
    }),
});
