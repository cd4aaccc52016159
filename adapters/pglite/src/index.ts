import { PlatformError, REFS, defineAdapter } from '@platform-host/contracts';
import { PgliteDatabase } from './pglite-database.js';

export { PgliteDatabase } from './pglite-database.js';
export type { PgliteDatabaseOptions } from './pglite-database.js';

/** Data directory of `--db pglite` when `DB_PGLITE_DIR` is not set. */
export const DEFAULT_PGLITE_DIR = './.data/pglite';

/** The `--db memory` (in-memory) and `--db pglite` (file-backed) adapter. */
export default defineAdapter({
  interface: 'database',
  dependencies: { logger: REFS.logging },
  create: ({ flag, config, logger }) => {
    switch (flag) {
      case 'memory':
        return new PgliteDatabase({ logger });
      case 'pglite':
        return new PgliteDatabase({ dataDir: config.get('DB_PGLITE_DIR') ?? DEFAULT_PGLITE_DIR, logger });
      default:
        throw new PlatformError(
          'PH_ERR_FLAG_UNKNOWN_ADAPTER',
          `The PGlite database adapter serves --db memory and --db pglite, not --db ${flag}`,
        );
    }
  },
});
