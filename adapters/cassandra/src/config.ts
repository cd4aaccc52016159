import { PlatformError } from '@platform-host/contracts';
import cassandra from 'cassandra-driver';

/** Consistency levels by their CQL names (`local_quorum`), as `DB_CASSANDRA_CONSISTENCY` takes them. */
export const CONSISTENCY_LEVELS: Readonly<Record<string, number>> = {
  any: cassandra.types.consistencies.any,
  one: cassandra.types.consistencies.one,
  two: cassandra.types.consistencies.two,
  three: cassandra.types.consistencies.three,
  quorum: cassandra.types.consistencies.quorum,
  all: cassandra.types.consistencies.all,
  local_quorum: cassandra.types.consistencies.localQuorum,
  each_quorum: cassandra.types.consistencies.eachQuorum,
  local_one: cassandra.types.consistencies.localOne,
};

/** Serial consistency levels of lightweight transactions. */
export const SERIAL_CONSISTENCY_LEVELS: Readonly<Record<string, number>> = {
  serial: cassandra.types.consistencies.serial,
  local_serial: cassandra.types.consistencies.localSerial,
};

/** The consistency level named `text` (case-insensitive); `PH_ERR_CONFIG_INVALID` naming `key` otherwise. */
export function parseConsistency(
  text: string,
  key: string,
  levels: Readonly<Record<string, number>> = CONSISTENCY_LEVELS,
): number {
  const level = levels[text.trim().toLowerCase()];
  if (level === undefined) {
    throw new PlatformError('PH_ERR_CONFIG_INVALID', `${key} is not a consistency level`, {
      hint: `Use one of ${Object.keys(levels).join(', ')}.`,
    });
  }
  return level;
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000 } as const;

/** A duration such as `500ms`, `12s` or `1m` in milliseconds; `PH_ERR_CONFIG_INVALID` naming `key` otherwise. */
export function parseDurationConfig(text: string, key: string): number {
  const match = DURATION.exec(text.trim());
  const ms = match ? Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS] : Number.NaN;
  if (!(ms > 0) || !Number.isFinite(ms)) {
    throw new PlatformError('PH_ERR_CONFIG_INVALID', `${key} must be a duration greater than zero`, {
      hint: `Give a number with a unit ms, s or m (for example 500ms, 12s, 1m).`,
    });
  }
  return Math.round(ms);
}

/**
 * The contact points of `DB_CASSANDRA_HOSTS` (`host:port,host:port`, port optional, default 9042),
 * as the driver takes them. An empty list or a port that is not a number is `PH_ERR_CONFIG_INVALID`.
 */
export function parseContactPoints(text: string, key: string): string[] {
  const points = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  if (points.length === 0) {
    throw new PlatformError('PH_ERR_CONFIG_INVALID', `${key} names no host`, {
      hint: 'Give host:port pairs separated by commas, for example 10.0.0.1:9042,10.0.0.2:9042.',
    });
  }
  return points.map((point) => {
    // [v6]:port, host:port or a bare host.
    const match = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d+))?$/.exec(point);
    const port = match?.[2] === undefined ? 9042 : Number(match[2]);
    if (!match || !(port >= 1 && port <= 65_535)) {
      throw new PlatformError('PH_ERR_CONFIG_INVALID', `${key} has an entry that is not host or host:port`, {
        hint: 'Give host:port pairs separated by commas, for example 10.0.0.1:9042,10.0.0.2:9042.',
      });
    }
    return `${match[1]}:${port}`;
  });
}

/** A keyspace name Cassandra accepts unquoted, so that it means the same everywhere. */
const KEYSPACE = /^[a-z][a-z0-9_]{0,47}$/;

/** `text` as a keyspace name; `PH_ERR_CONFIG_INVALID` naming `key` otherwise. */
export function parseKeyspace(text: string, key: string): string {
  const name = text.trim();
  if (!KEYSPACE.test(name)) {
    throw new PlatformError('PH_ERR_CONFIG_INVALID', `${key} is not a valid keyspace name`, {
      hint: 'Use lower-case letters, digits and "_", starting with a letter, at most 48 characters.',
    });
  }
  return name;
}

/**
 * The replication map of `DB_CASSANDRA_REPLICATION`, checked to be one CQL map literal (`{'class':
 * 'SimpleStrategy', 'replication_factor': 1}`) and nothing after it, since it is written into a
 * `CREATE KEYSPACE` statement.
 */
export function parseReplication(text: string, key: string): string {
  const value = text.trim();
  const entry = String.raw`\s*'[A-Za-z0-9_.]+'\s*:\s*(?:'[A-Za-z0-9_.]+'|\d+)\s*`;
  if (!new RegExp(`^\\{${entry}(?:,${entry})*\\}$`).test(value) || !/'class'/.test(value)) {
    throw new PlatformError('PH_ERR_CONFIG_INVALID', `${key} is not a CQL replication map`, {
      hint: "Use for example {'class': 'SimpleStrategy', 'replication_factor': 1} or {'class': 'NetworkTopologyStrategy', 'dc1': 3}.",
    });
  }
  return value;
}
