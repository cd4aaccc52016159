import { REFS, defineAdapter } from '@platform-host/contracts';
import {
  SASL_MECHANISMS,
  SECURITY_PROTOCOLS,
  oneOf,
  parseBootstrapServers,
  parseLibrdkafkaProperties,
  securityProperties,
} from './kafka-config.js';
import { KafkaQueue } from './kafka-queue.js';

export { KafkaQueue } from './kafka-queue.js';
export type { KafkaQueueOptions } from './kafka-queue.js';
export { KafkaSubscription, KafkaQueueMessage, MAX_RETRY_BACKOFF_MS, messageId } from './kafka-subscription.js';
export { DeliveryCounts, PartitionLedger } from './partition-ledger.js';
export {
  ADAPTER_OWNED_PROPERTIES,
  SASL_MECHANISMS,
  SECURITY_PROTOCOLS,
  describeLibrdkafkaConfigError,
  parseBootstrapServers,
  parseLibrdkafkaProperties,
} from './kafka-config.js';
export type { LibrdkafkaProperties, PropertyValue, SaslMechanism, SecurityProtocol } from './kafka-config.js';

/** The `--mq kafka` adapter. */
export default defineAdapter({
  interface: 'message_queue',
  dependencies: { logger: REFS.logging },
  create: ({ config, logger }) => {
    const protocol = oneOf('MQ_KAFKA_SECURITY_PROTOCOL', config.get('MQ_KAFKA_SECURITY_PROTOCOL'), SECURITY_PROTOCOLS);
    const mechanism = oneOf('MQ_KAFKA_SASL_MECHANISM', config.get('MQ_KAFKA_SASL_MECHANISM'), SASL_MECHANISMS);
    const username = config.get('MQ_KAFKA_SASL_USERNAME');
    const password = config.get('MQ_KAFKA_SASL_PASSWORD');
    return new KafkaQueue({
      bootstrapServers: parseBootstrapServers(config.require('MQ_KAFKA_BOOTSTRAP_SERVERS')),
      clientId: config.get('MQ_KAFKA_CLIENT_ID') ?? 'platform-host',
      properties: {
        ...parseLibrdkafkaProperties(config.get('MQ_KAFKA_LIBRDKAFKA_PROPERTIES')),
        ...securityProperties({
          ...(protocol === undefined ? {} : { protocol }),
          ...(mechanism === undefined ? {} : { mechanism }),
          ...(username === undefined || username === '' ? {} : { username }),
          ...(password === undefined || password === '' ? {} : { password }),
        }),
      },
      sessionTimeoutMs: config.integer('MQ_KAFKA_SESSION_TIMEOUT_MS', 30_000, { min: 1000 }),
      commitIntervalMs: config.integer('MQ_KAFKA_COMMIT_INTERVAL_MS', 1000, { min: 1 }),
      lingerMs: config.integer('MQ_KAFKA_LINGER_MS', 5, { min: 0 }),
      connectTimeoutMs: config.integer('MQ_KAFKA_CONNECT_TIMEOUT_MS', 10_000, { min: 1 }),
      logger,
    });
  },
});
