import { defineAdapter } from '@platform-host/contracts';
import { MemoryLogger, parseLogLevel } from './memory-logger.js';

export { MemoryLogger, parseLogLevel, type MemoryLogEntry } from './memory-logger.js';

export default defineAdapter({
  interface: 'logging',
  create: ({ config }) => new MemoryLogger(parseLogLevel(config.get('LOG_LEVEL') ?? 'debug')),
});
