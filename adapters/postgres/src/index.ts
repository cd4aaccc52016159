import { PlatformError, REFS, defineAdapter } from '@platform-host/contracts';
import type { AdapterConfig } from '@platform-host/contracts';
import { PostgresDatabase } from './postgres-database.js';

export { PostgresDatabase } from './postgres-database.js';
export type { PostgresDatabaseOptions } from './postgres-database.js';

function integerAtLeast(config: AdapterConfig, key: string, fallback: number, minimum: number): number {
  const value = config.integer(key, fallback);
  if (value < minimum) {
    throw new PlatformError('PH_ERR_CONFIG_INVALID', `${key} must be an integer of at least ${minimum}, got ${value}`, {
      hint: `Set ${key} to an integer of at least ${minimum}, or unset it for the default of ${fallback}.`,
    });
  }
  return value;
}

/** The `--db postgres` adapter. */
export default defineAdapter({
  interface: 'database',
  dependencies: { logger: REFS.logging },
  create: ({ config, logger }) => {
    const poolMax = integerAtLeast(config, 'DB_POSTGRES_POOL_MAX', 10, 1);
    const poolMin = integerAtLeast(config, 'DB_POSTGRES_POOL_MIN', 2, 0);
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
      statementTimeoutMs: integerAtLeast(config, 'DB_POSTGRES_STATEMENT_TIMEOUT', 30_000, 0),
      connectTimeoutSeconds: integerAtLeast(config, 'DB_POSTGRES_CONNECT_TIMEOUT', 10, 1),
      applicationName: config.get('DB_POSTGRES_APPLICATION_NAME') ?? 'platform-host',
      logger,
    });
  },
});
