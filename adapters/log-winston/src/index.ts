import { PlatformError, defineAdapter } from '@platform-host/contracts';
import { WinstonLogger, parseLogLevel } from './winston-logger.js';

export { WinstonLogger, DEFAULT_MODULE, parseLogLevel } from './winston-logger.js';
export type { WinstonLoggerOptions } from './winston-logger.js';
export type { LineFormat } from './line-format.js';

/** `--log json` and `--log pretty`: one adapter, the flag picks the line format. */
export default defineAdapter({
  interface: 'logging',
  create: ({ flag, config }) => {
    if (flag !== 'json' && flag !== 'pretty') {
      throw new PlatformError(
        'PH_ERR_FLAG_UNKNOWN_ADAPTER',
        `The log-winston adapter serves --log json and --log pretty, not "${flag}"`,
      );
    }
    return new WinstonLogger({ format: flag, level: parseLogLevel(config.get('LOG_LEVEL')) });
  },
});
