import type { InterfaceName } from '@platform-host/contracts';

/** A global flag of `run`, `doctor` and `migrate` (seed 4.2), settable by an env var too. */
export interface GlobalFlagSpec {
  readonly name: string;
  readonly env: string;
  readonly type: 'string' | 'boolean' | 'integer';
  readonly description: string;
  /** Default when neither the command line nor the environment sets it. */
  readonly default?: string | boolean | number;
  /** The interface whose adapter this flag selects. */
  readonly selects?: InterfaceName;
  /** Documented values (adapter flags found at run time may add to these). */
  readonly values?: readonly string[];
  /** Smallest and largest value of an integer flag (default 0 and `Number.MAX_SAFE_INTEGER`). */
  readonly min?: number;
  readonly max?: number;
}

export const GLOBAL_FLAGS: readonly GlobalFlagSpec[] = [
  {
    name: 'db',
    env: 'PLATFORM_DB',
    type: 'string',
    selects: 'database',
    default: 'postgres',
    values: ['postgres', 'cassandra', 'memory', 'pglite'],
    description: 'Database implementation.',
  },
  {
    name: 'fs',
    env: 'PLATFORM_FS',
    type: 'string',
    selects: 'filesystem',
    default: 'local',
    values: ['local', 's3', 'minio', 'memory'],
    description: 'File system implementation.',
  },
  {
    name: 'cache',
    env: 'PLATFORM_CACHE',
    type: 'string',
    selects: 'cache',
    default: 'memory',
    values: ['redis', 'memory'],
    description: 'Cache implementation.',
  },
  {
    name: 'mq',
    env: 'PLATFORM_MQ',
    type: 'string',
    selects: 'message_queue',
    default: 'memory',
    values: ['kafka', 'redis-stream', 'memory'],
    description: 'Message queue implementation.',
  },
  {
    name: 'log',
    env: 'PLATFORM_LOG',
    type: 'string',
    selects: 'logging',
    default: 'pretty',
    values: ['json', 'pretty'],
    description: 'Logging format.',
  },
  {
    name: 'metrics',
    env: 'PLATFORM_METRICS',
    type: 'string',
    selects: 'metrics',
    default: 'noop',
    values: ['prometheus', 'memory', 'noop'],
    description: 'Metrics backend.',
  },
  {
    name: 'secrets',
    env: 'PLATFORM_SECRETS',
    type: 'string',
    selects: 'secrets',
    default: 'env',
    values: ['env', 'file', 'vault'],
    description: 'Secrets provider.',
  },
  {
    name: 'env',
    env: 'PLATFORM_ENV',
    type: 'string',
    default: 'local',
    values: ['local', 'test', 'staging', 'production'],
    description: 'Environment: loads env/<env>.env over env/local.env; production reads no file.',
  },
  {
    name: 'auto-migrate',
    env: 'PLATFORM_AUTO_MIGRATE',
    type: 'boolean',
    description: 'Apply pending migrations before the module starts (default: on for local/test, off otherwise).',
  },
  {
    name: 'health-port',
    env: 'PLATFORM_HEALTH_PORT',
    type: 'integer',
    default: 8080,
    max: 65535,
    description: 'Port of the health server of services and workers (0 picks a free port).',
  },
  {
    name: 'drain-timeout',
    env: 'PLATFORM_DRAIN_TIMEOUT',
    type: 'integer',
    default: 30,
    description: 'Seconds to wait for in-flight work on shutdown before giving up (exit 1).',
  },
  {
    name: 'hook-timeout',
    env: 'PLATFORM_HOOK_TIMEOUT',
    type: 'integer',
    default: 10,
    min: 1,
    description:
      'Seconds each shutdown hook, disconnect and flush may take; one that misses it is reported by name (exit 1) and the others still run.',
  },
  {
    name: 'connect-timeout',
    env: 'PLATFORM_CONNECT_TIMEOUT',
    type: 'integer',
    default: 30,
    min: 1,
    description:
      "Seconds each adapter's connect() may take before the run fails naming the adapter (exit 1); adapters may have shorter deadlines of their own.",
  },
  {
    name: 'verbose',
    env: 'PLATFORM_VERBOSE',
    type: 'boolean',
    default: false,
    description: 'Show stack traces and debug output of the host.',
  },
];

const BY_NAME = new Map(GLOBAL_FLAGS.map((flag) => [flag.name, flag]));

/** The spec of a global flag by name. */
export function globalFlag(name: string): GlobalFlagSpec | undefined {
  return BY_NAME.get(name);
}

/** Names a module argument may not take, because the host owns them. */
export const RESERVED_ARG_NAMES: ReadonlySet<string> = new Set([
  ...BY_NAME.keys(),
  'help',
  'version',
  'no-auto-migrate',
]);
