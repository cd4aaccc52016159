export { instrumentAdapter, instrumentAdapters } from './instrument-adapters.js';
export { instrumentDatabase, DB_QUERY_DURATION, type DatabaseOperation } from './database-metrics.js';
export {
  instrumentMessageQueue,
  MESSAGES_PROCESSED,
  MESSAGE_PROCESSING_DURATION,
  MESSAGES_PUBLISHED,
  DEAD_LETTER_FAILURES,
  DEAD_LETTERS_UNPUBLISHED,
  type MessageOutcome,
} from './queue-metrics.js';
export { instrumentCache, CACHE_REQUESTS, CACHE_HIT_RATIO, type CacheResult } from './cache-metrics.js';
export {
  recordModuleStartup,
  startModuleUptime,
  MODULE_STARTUP_DURATION,
  MODULE_UPTIME,
  type UptimeGauge,
} from './module-metrics.js';
export type { PlatformMetricsScope } from './scope.js';
