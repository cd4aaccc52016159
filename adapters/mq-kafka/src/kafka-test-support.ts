/**
 * Helpers of this adapter's tests (not exported by the package): a queue that remembers the topics
 * it created so that the test deletes them from the shared broker afterwards.
 */
import { randomUUID } from 'node:crypto';
import Kafka from 'node-rdkafka';
import type { LibrdKafkaError } from 'node-rdkafka';
import { KafkaQueue } from './kafka-queue.js';
import type { KafkaQueueOptions } from './kafka-queue.js';

/** Session timeout of test consumers: the broker's minimum (group.min.session.timeout.ms). */
export const TEST_SESSION_TIMEOUT_MS = 6000;

/** A {@link KafkaQueue} that records the topics it created, for {@link deleteTopics}. */
export class TrackingKafkaQueue extends KafkaQueue {
  readonly createdTopics = new Set<string>();

  override async createTopic(name: string, options?: { readonly partitions?: number }): Promise<void> {
    this.createdTopics.add(name);
    await super.createTopic(name, options);
  }
}

/** A connected tracking queue with test timings (short session timeout and commit interval). */
export async function connectedQueue(
  bootstrapServers: string,
  options: Partial<KafkaQueueOptions> = {},
): Promise<TrackingKafkaQueue> {
  const queue = new TrackingKafkaQueue({
    bootstrapServers,
    sessionTimeoutMs: TEST_SESSION_TIMEOUT_MS,
    commitIntervalMs: 200,
    // Consumers notice a rebalance at their next heartbeat: short, so tests see one soon.
    heartbeatIntervalMs: 100,
    ...options,
  });
  await queue.connect();
  return queue;
}

/** Deletes `topics` (and their dead-letter topics, which publishing may have created). */
export async function deleteTopics(bootstrapServers: string, topics: Iterable<string>): Promise<void> {
  const names = [...topics].flatMap((topic) => [topic, `${topic}.dead-letter`]);
  if (names.length === 0) return;
  const admin = Kafka.AdminClient.create({ 'bootstrap.servers': bootstrapServers });
  try {
    await Promise.all(
      names.map((name) => new Promise<void>((resolve) => admin.deleteTopic(name, 5000, () => resolve()))),
    );
  } finally {
    admin.disconnect();
  }
}

/**
 * The offset `group` has committed on `topic` partition `partition` (-1001 before any), read with a
 * consumer of the group that does not join it (no subscribe, so no rebalance).
 */
export async function committedOffset(
  bootstrapServers: string,
  group: string,
  topic: string,
  partition = 0,
): Promise<number> {
  const consumer = new Kafka.KafkaConsumer({ 'bootstrap.servers': bootstrapServers, 'group.id': group }, {});
  await new Promise<void>((resolve, reject) =>
    consumer.connect({ timeout: 10_000 }, (error) => (error ? reject(new Error(error.message)) : resolve())),
  );
  try {
    return await new Promise<number>((resolve, reject) =>
      consumer.committed([{ topic, partition }], 5000, (error, offsets) =>
        error ? reject(new Error(error.message)) : resolve(offsets[0]?.offset ?? -1001),
      ),
    );
  } finally {
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  }
}

/**
 * Commits `offset` for `group` on `topic` partition `partition`, with a consumer of the group that
 * does not join it (the group must have no members: the broker takes such a commit only then).
 */
export async function commitOffset(
  bootstrapServers: string,
  group: string,
  topic: string,
  partition: number,
  offset: number,
): Promise<void> {
  const consumer = new Kafka.KafkaConsumer(
    { 'bootstrap.servers': bootstrapServers, 'group.id': group, 'enable.auto.commit': false },
    {},
  );
  await new Promise<void>((resolve, reject) =>
    consumer.connect({ timeout: 10_000 }, (error) => (error ? reject(new Error(error.message)) : resolve())),
  );
  try {
    consumer.commitSync([{ topic, partition, offset }]);
  } finally {
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  }
}

/**
 * Publishes to partition 0 of `topic` one committed transaction per entry of `sizes`, of that many
 * records: each transaction ends with a commit marker, which takes an offset and is never delivered
 * (sizes 5 and 4 give records 0-4, a marker at 5, records 6-9, a marker at 10).
 */
export async function publishTransactions(
  bootstrapServers: string,
  topic: string,
  sizes: readonly number[],
): Promise<void> {
  const producer = new Kafka.Producer({
    'bootstrap.servers': bootstrapServers,
    'transactional.id': `${topic}-transactions`,
  });
  const call = (operation: (done: (error: LibrdKafkaError | null | undefined) => void) => void): Promise<void> =>
    new Promise((resolve, reject) => operation((error) => (error ? reject(new Error(error.message)) : resolve())));
  await call((done) => producer.connect({ timeout: 10_000 }, (error) => done(error)));
  try {
    await call((done) => producer.initTransactions(10_000, done));
    let record = 0;
    for (const size of sizes) {
      await call((done) => producer.beginTransaction(done));
      for (let index = 0; index < size; index++, record++)
        producer.produce(topic, 0, Buffer.from(`record-${record}`), null, Date.now());
      await call((done) => producer.commitTransaction(10_000, done));
    }
  } finally {
    await new Promise<void>((resolve) => producer.disconnect(() => resolve()));
  }
}

/** A topic name unique to this test run. */
export function uniqueTopic(kind: string): string {
  return `mq-kafka-test-${kind}-${randomUUID().slice(0, 8)}`;
}
