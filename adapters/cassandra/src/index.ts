import { PlatformError, REFS, defineAdapter } from '@platform-host/contracts';
import type { AdapterConfig } from '@platform-host/contracts';
import { CassandraDatabase } from './cassandra-database.js';
import {
  parseConsistency,
  parseContactPoints,
  parseDurationConfig,
  parseKeyspace,
  parseReplication,
  SERIAL_CONSISTENCY_LEVELS,
} from './config.js';

export { CassandraDatabase } from './cassandra-database.js';
export type { CassandraDatabaseOptions } from './cassandra-database.js';
export { CassandraQueryError, isOutcomeUnknownDriverError } from './query-error.js';
export { jsValue, driverParam } from './values.js';
export {
  parseConsistency,
  parseContactPoints,
  parseDurationConfig,
  parseKeyspace,
  parseReplication,
} from './config.js';

/** The configuration of the `--db cassandra` adapter, read from its declared keys. */
export function cassandraOptionsFrom(config: AdapterConfig): ConstructorParameters<typeof CassandraDatabase>[0] {
  const username = config.get('DB_CASSANDRA_USERNAME');
  const password = config.get('DB_CASSANDRA_PASSWORD');
  if ((username === undefined) !== (password === undefined)) {
    throw new PlatformError(
      'PH_ERR_CONFIG_MISSING',
      `${username === undefined ? 'DB_CASSANDRA_USERNAME' : 'DB_CASSANDRA_PASSWORD'} is not set, but ${username === undefined ? 'DB_CASSANDRA_PASSWORD' : 'DB_CASSANDRA_USERNAME'} is`,
      { hint: 'Set both for password authentication, or neither.' },
    );
  }
  const bulkConcurrency = config.integer('DB_CASSANDRA_BULK_CONCURRENCY', 32, { min: 1 });
  return {
    contactPoints: parseContactPoints(config.require('DB_CASSANDRA_HOSTS'), 'DB_CASSANDRA_HOSTS'),
    keyspace: parseKeyspace(config.get('DB_CASSANDRA_KEYSPACE') ?? 'platform', 'DB_CASSANDRA_KEYSPACE'),
    localDataCenter: config.get('DB_CASSANDRA_LOCAL_DC') ?? 'datacenter1',
    ...(username === undefined || password === undefined ? {} : { username, password }),
    consistency: parseConsistency(config.get('DB_CASSANDRA_CONSISTENCY') ?? 'local_quorum', 'DB_CASSANDRA_CONSISTENCY'),
    serialConsistency: parseConsistency(
      config.get('DB_CASSANDRA_SERIAL_CONSISTENCY') ?? 'serial',
      'DB_CASSANDRA_SERIAL_CONSISTENCY',
      SERIAL_CONSISTENCY_LEVELS,
    ),
    requestTimeoutMs: parseDurationConfig(
      config.get('DB_CASSANDRA_REQUEST_TIMEOUT') ?? '12s',
      'DB_CASSANDRA_REQUEST_TIMEOUT',
    ),
    connectTimeoutMs: parseDurationConfig(
      config.get('DB_CASSANDRA_CONNECT_TIMEOUT') ?? '5s',
      'DB_CASSANDRA_CONNECT_TIMEOUT',
    ),
    schemaAgreementTimeoutMs: parseDurationConfig(
      config.get('DB_CASSANDRA_SCHEMA_AGREEMENT_TIMEOUT') ?? '10s',
      'DB_CASSANDRA_SCHEMA_AGREEMENT_TIMEOUT',
    ),
    replication: parseReplication(
      config.get('DB_CASSANDRA_REPLICATION') ?? "{'class': 'SimpleStrategy', 'replication_factor': 1}",
      'DB_CASSANDRA_REPLICATION',
    ),
    bulkConcurrency,
  };
}

/** The `--db cassandra` adapter. */
export default defineAdapter({
  interface: 'database',
  dependencies: { logger: REFS.logging },
  create: ({ config, logger }) => new CassandraDatabase({ ...cassandraOptionsFrom(config), logger }),
});
