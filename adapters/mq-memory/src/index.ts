import { PlatformError, REFS, defineAdapter } from '@platform-host/contracts';
import type { AdapterConfig } from '@platform-host/contracts';
import { DEFAULT_PARTITIONS, MemoryMessageQueue } from './memory-message-queue.js';

export { DEFAULT_PARTITIONS, MAX_RETRY_BACKOFF_MS, MemoryMessageQueue } from './memory-message-queue.js';
export type { MemoryMessageQueueOptions } from './memory-message-queue.js';

function positiveIntegerConfig(config: AdapterConfig, key: string, fallback: number): number {
  const value = config.integer(key, fallback);
  if (value < 1) {
    throw new PlatformError('PH_ERR_CONFIG_INVALID', `${key} must be at least 1, got ${value}`, {
      hint: `Set ${key} to a positive integer, or unset it for the default of ${fallback}.`,
    });
  }
  return value;
}

/** The `--mq memory` adapter. */
export default defineAdapter({
  interface: 'message_queue',
  dependencies: { logger: REFS.logging },
  create: ({ config, logger }) =>
    new MemoryMessageQueue({
      visibilityTimeoutMs: positiveIntegerConfig(config, 'MQ_MEMORY_VISIBILITY_TIMEOUT_MS', 30_000),
      maxMessagesPerTopic: positiveIntegerConfig(config, 'MQ_MEMORY_MAX_MESSAGES_PER_TOPIC', 100_000),
      defaultPartitions: positiveIntegerConfig(config, 'MQ_MEMORY_DEFAULT_PARTITIONS', DEFAULT_PARTITIONS),
      logger,
    }),
});
