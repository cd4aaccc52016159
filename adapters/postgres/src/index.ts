import { PlatformError, REFS, defineAdapter } from '@platform-host/contracts';
import { PostgresDatabase } from './postgres-database.js';

export { PostgresDatabase } from './postgres-database.js';
export type { PostgresDatabaseOptions } from './postgres-database.js';

/** The `--db postgres` adapter. */
export default defineAdapter({
  interface: 'database',
  dependencies: { logger: REFS.logging },
  create: ({ config, logger }) => {
    const poolMax = config.integer('DB_POSTGRES_POOL_MAX', 10, { min: 1 });
    const poolMin = config.integer('DB_POSTGRES_POOL_MIN', 2, { min: 0 });
    if (poolMin > poolMax) {
      throw new PlatformError(
        'PH_ERR_CONFIG_INVALID',
        `DB_POSTGRES_POOL_MIN (${poolMin}) is greater than DB_POSTGRES_POOL_MAX (${poolMax})`,
        { hint: 'Lower DB_POSTGRES_POOL_MIN or raise DB_POSTGRES_POOL_MAX.' },
      );
    }
    return new PostgresDatabase({
      url: config.require('DB_POSTGRES_URL'),
      poolMin,
      poolMax,
      statementTimeoutMs: config.integer('DB_POSTGRES_STATEMENT_TIMEOUT', 30_000, { min: 0 }),
      connectTimeoutSeconds: config.integer('DB_POSTGRES_CONNECT_TIMEOUT', 10, { min: 1 }),
      applicationName: config.get('DB_POSTGRES_APPLICATION_NAME') ?? 'platform-host',
      logger,
    });
  },
});
