import { PlatformError, REFS, defineAdapter } from '@platform-host/contracts';
import type { AdapterConfig } from '@platform-host/contracts';
import { RedisStreamQueue } from './redis-stream-queue.js';

export { RedisStreamQueue, describeServer } from './redis-stream-queue.js';
export { MAX_RETRY_BACKOFF_MS } from './stream-subscription.js';
export type { RedisStreamQueueOptions } from './redis-stream-queue.js';
export { ENTRY_FIELDS } from './stream-entries.js';
export { TRIM_SCRIPT } from './trim-script.js';

function integerConfig(config: AdapterConfig, key: string, fallback: number, minimum: number): number {
  const value = config.integer(key, fallback);
  if (value < minimum) {
    throw new PlatformError('PH_ERR_CONFIG_INVALID', `${key} must be at least ${minimum}, got ${value}`, {
      hint: `Set ${key} to an integer of at least ${minimum}, or unset it for the default of ${fallback}.`,
    });
  }
  return value;
}

/** The `--mq redis-stream` adapter. */
export default defineAdapter({
  interface: 'message_queue',
  dependencies: { logger: REFS.logging },
  create: ({ config, logger }) =>
    new RedisStreamQueue({
      url: config.require('MQ_REDIS_STREAM_URL'),
      keyPrefix: config.get('MQ_REDIS_STREAM_KEY_PREFIX') ?? 'mq:',
      claimIdleMs: integerConfig(config, 'MQ_REDIS_STREAM_CLAIM_IDLE_MS', 30_000, 1),
      maxLength: integerConfig(config, 'MQ_REDIS_STREAM_MAX_LENGTH', 1_000_000, 0),
      connectTimeoutMs: integerConfig(config, 'MQ_REDIS_STREAM_CONNECT_TIMEOUT_MS', 10_000, 1),
      logger,
    }),
});
