import { PlatformError } from '@platform-host/contracts';

/** A librdkafka property value as node-rdkafka takes it. */
export type PropertyValue = string | number | boolean;

/** librdkafka properties, by name (`bootstrap.servers`, `linger.ms`, ...). */
export type LibrdkafkaProperties = Readonly<Record<string, PropertyValue>>;

/** The security protocols librdkafka knows (`security.protocol`). */
export const SECURITY_PROTOCOLS = ['plaintext', 'ssl', 'sasl_plaintext', 'sasl_ssl'] as const;
export type SecurityProtocol = (typeof SECURITY_PROTOCOLS)[number];

/** The SASL mechanisms librdkafka's bundled build supports (`sasl.mechanisms`). */
export const SASL_MECHANISMS = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

/**
 * Properties the adapter sets itself because its guarantees rest on them (at-least-once commits,
 * cooperative rebalancing, idempotent production, delivery reports) or because a dedicated config key
 * sets them. MQ_KAFKA_LIBRDKAFKA_PROPERTIES may not name them.
 */
export const ADAPTER_OWNED_PROPERTIES: Readonly<Record<string, string>> = {
  'bootstrap.servers': 'MQ_KAFKA_BOOTSTRAP_SERVERS',
  'metadata.broker.list': 'MQ_KAFKA_BOOTSTRAP_SERVERS',
  'client.id': 'MQ_KAFKA_CLIENT_ID',
  'security.protocol': 'MQ_KAFKA_SECURITY_PROTOCOL',
  'sasl.mechanisms': 'MQ_KAFKA_SASL_MECHANISM',
  'sasl.mechanism': 'MQ_KAFKA_SASL_MECHANISM',
  'sasl.username': 'MQ_KAFKA_SASL_USERNAME',
  'sasl.password': 'MQ_KAFKA_SASL_PASSWORD',
  'session.timeout.ms': 'MQ_KAFKA_SESSION_TIMEOUT_MS',
  'auto.commit.interval.ms': 'MQ_KAFKA_COMMIT_INTERVAL_MS',
  'linger.ms': 'MQ_KAFKA_LINGER_MS',
  'queue.buffering.max.ms': 'MQ_KAFKA_LINGER_MS',
  'group.id': 'the subscription (SubscribeOptions.group)',
  'auto.offset.reset':
    'the adapter (earliest, so that a reset never skips records; SubscribeOptions.startFrom sets where a new group starts)',
  'enable.auto.commit': 'the adapter (stored offsets are committed on an interval and on revocation)',
  'enable.auto.offset.store': 'the adapter (only the acknowledged prefix is stored)',
  'partition.assignment.strategy': 'the adapter (cooperative-sticky)',
  'group.protocol': 'the adapter (the classic protocol with cooperative-sticky)',
  'enable.partition.eof': 'the adapter (it bounds the wait of a batch)',
  'enable.idempotence': 'the adapter (idempotent production)',
  acks: 'the adapter (acks=all)',
  'request.required.acks': 'the adapter (acks=all)',
  dr_cb: 'the adapter (delivery reports)',
  dr_msg_cb: 'the adapter (delivery reports)',
  rebalance_cb: 'the adapter (rebalance hooks)',
  offset_commit_cb: 'the adapter',
};

const PROPERTY_NAME = /^[a-z][a-z0-9_.-]*$/;

function invalid(message: string, hint: string): PlatformError {
  return new PlatformError('PH_ERR_CONFIG_INVALID', message, { hint });
}

const PROPERTIES_HINT =
  'Set MQ_KAFKA_LIBRDKAFKA_PROPERTIES to key=value pairs separated by commas (socket.keepalive.enable=true,fetch.wait.max.ms=100) or to a JSON object of strings, numbers and booleans.';

/**
 * Parses MQ_KAFKA_LIBRDKAFKA_PROPERTIES: `key=value,key=value` or a JSON object whose values are
 * strings, numbers or booleans. Refuses a malformed entry, a name that is not a librdkafka-style
 * property name and a property the adapter sets itself, naming the key and never the value (a
 * property such as `ssl.key.password` can be secret). Unknown names are left to librdkafka, which
 * refuses them when the first client is created (see {@link describeLibrdkafkaConfigError}).
 */
export function parseLibrdkafkaProperties(text: string | undefined): Record<string, PropertyValue> {
  const source = (text ?? '').trim();
  if (source === '') return {};
  const properties: Record<string, PropertyValue> = {};
  if (source.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(source);
    } catch {
      throw invalid('MQ_KAFKA_LIBRDKAFKA_PROPERTIES starts with "{" but is not valid JSON', PROPERTIES_HINT);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw invalid('MQ_KAFKA_LIBRDKAFKA_PROPERTIES is JSON but not an object', PROPERTIES_HINT);
    for (const [key, value] of Object.entries(parsed)) {
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')
        throw invalid(
          `MQ_KAFKA_LIBRDKAFKA_PROPERTIES: the value of "${key}" must be a string, number or boolean`,
          PROPERTIES_HINT,
        );
      properties[key] = value;
    }
  } else {
    for (const [index, entry] of source.split(',').entries()) {
      const pair = entry.trim();
      if (pair === '') continue;
      const equals = pair.indexOf('=');
      if (equals <= 0)
        throw invalid(
          `MQ_KAFKA_LIBRDKAFKA_PROPERTIES: entry ${index + 1} is not key=value` +
            (equals === 0 ? ' (it has no key)' : ` ("${pair.slice(0, 60)}" has no "=")`),
          PROPERTIES_HINT,
        );
      properties[pair.slice(0, equals).trim()] = pair.slice(equals + 1).trim();
    }
  }
  for (const key of Object.keys(properties)) {
    if (!PROPERTY_NAME.test(key))
      throw invalid(
        `MQ_KAFKA_LIBRDKAFKA_PROPERTIES: "${key.slice(0, 80)}" is not a librdkafka property name`,
        PROPERTIES_HINT,
      );
    const owner = ADAPTER_OWNED_PROPERTIES[key];
    if (owner !== undefined)
      throw invalid(
        `MQ_KAFKA_LIBRDKAFKA_PROPERTIES may not set "${key}": it is set by ${owner}`,
        `Remove "${key}" from MQ_KAFKA_LIBRDKAFKA_PROPERTIES${owner.startsWith('MQ_KAFKA_') ? ` and set ${owner} instead` : ''}.`,
      );
  }
  return properties;
}

/** The comma-separated broker list, checked to be `host:port` entries. */
export function parseBootstrapServers(text: string): string {
  const brokers = text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (brokers.length === 0) throw invalid('MQ_KAFKA_BOOTSTRAP_SERVERS is empty', 'Set it to host:port[,host:port...].');
  for (const broker of brokers)
    if (!/^[^\s:/@]+:\d{1,5}$/.test(broker) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(broker))
      throw invalid(
        `MQ_KAFKA_BOOTSTRAP_SERVERS has an entry that is not host:port ("${broker.includes('@') ? '(an entry with credentials)' : broker.slice(0, 80)}")`,
        'Set it to host:port[,host:port...] without a scheme or credentials; credentials go in MQ_KAFKA_SASL_USERNAME / MQ_KAFKA_SASL_PASSWORD.',
      );
  return brokers.join(',');
}

/** `value` if it is one of `allowed` (case-insensitively), else PH_ERR_CONFIG_INVALID naming `key`. */
export function oneOf<T extends string>(key: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const match = allowed.find((candidate) => candidate.toLowerCase() === value.trim().toLowerCase());
  if (match === undefined)
    throw invalid(`${key} must be one of ${allowed.join(', ')}`, `Set ${key} to one of ${allowed.join(', ')}.`);
  return match;
}

/** The SASL settings of a connection; `password` is secret. */
export interface KafkaSecurity {
  readonly protocol?: SecurityProtocol;
  readonly mechanism?: SaslMechanism;
  readonly username?: string;
  readonly password?: string;
}

/** librdkafka properties for `security` (nothing for a plaintext connection without SASL). */
export function securityProperties(security: KafkaSecurity): Record<string, PropertyValue> {
  const properties: Record<string, PropertyValue> = {};
  if (security.protocol !== undefined) properties['security.protocol'] = security.protocol;
  if (security.mechanism !== undefined) properties['sasl.mechanisms'] = security.mechanism;
  if (security.username !== undefined) properties['sasl.username'] = security.username;
  if (security.password !== undefined) properties['sasl.password'] = security.password;
  return properties;
}

/**
 * A librdkafka configuration error without the value it quotes (librdkafka writes `Invalid value
 * "<value>" for configuration property "<name>"`, and a value can be a secret).
 */
export function describeLibrdkafkaConfigError(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const property = /property "([^"]+)"/.exec(text)?.[1] ?? /property: "?([a-zA-Z0-9_.-]+)"?/.exec(text)?.[1];
  if (/No such configuration property/i.test(text))
    return `librdkafka has no configuration property "${property ?? '(unknown)'}"`;
  if (property !== undefined) return `librdkafka refused the value of configuration property "${property}"`;
  return 'librdkafka refused the configuration';
}
