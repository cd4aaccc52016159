import { PlatformError, REFS, defineAdapter } from '@platform-host/contracts';
import { PostgresDatabase } from './postgres-database.js';

export { PostgresDatabase } from './postgres-database.js';
export type { PostgresDatabaseOptions } from './postgres-database.js';

/** `DB_POSTGRES_PREPARE`: true (default) or false. */
function preparedStatements(value: string | undefined): boolean {
  const text = (value ?? 'true').trim().toLowerCase();
  if (text === 'true') return true;
  if (text === 'false') return false;
  throw new PlatformError('PH_ERR_CONFIG_INVALID', 'DB_POSTGRES_PREPARE must be true or false', {
    hint: 'Set DB_POSTGRES_PREPARE to true or false, or unset it for true.',
  });
}

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
      prepare: preparedStatements(config.get('DB_POSTGRES_PREPARE')),
      logger,
    });
  },
});
