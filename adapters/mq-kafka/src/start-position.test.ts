import { expect } from 'chai';
import type { QueueMessage, Subscription } from '@platform-host/contracts';
import { RecordingLogger, useRealService, waitFor } from '@platform-host/test-kit';
import type { KafkaConsumer, LibrdKafkaError } from 'node-rdkafka';
import type { KafkaQueueOptions } from './kafka-queue.js';
import {
  TEST_SESSION_TIMEOUT_MS,
  TrackingKafkaQueue,
  committedOffset,
  connectedQueue,
  deleteTopics,
  uniqueTopic,
} from './kafka-test-support.js';

/** What {@link FaultyStartQueue} makes its consumers do wrong. */
interface StartFaults {
  /** Every assigned partition starts here instead of where the adapter assigned it (librdkafka's fetch position off the committed one). */
  readonly startAt?: number;
  /** The committed-offset lookup of an assignment fails (a coordinator not available). */
  readonly failCommittedLookup?: boolean;
}

/**
 * A queue whose consumers reproduce, deterministically, what was seen under load: a partition
 * assigned at the group's committed position whose fetching starts elsewhere (leftovers of an
 * earlier assignment, from offset 0), and a committed-offset lookup that fails.
 */
class FaultyStartQueue extends TrackingKafkaQueue {
  constructor(
    options: KafkaQueueOptions,
    readonly faults: StartFaults,
  ) {
    super(options);
  }

  protected override consumerCreated(consumer: KafkaConsumer): KafkaConsumer {
    const { startAt, failCommittedLookup } = this.faults;
    if (startAt !== undefined) {
      const assign = consumer.incrementalAssign.bind(consumer);
      consumer.incrementalAssign = (assignments) =>
        assign(assignments.map(({ topic, partition }) => ({ topic, partition, offset: startAt })));
    }
    if (failCommittedLookup === true) {
      const failing = (...args: unknown[]): KafkaConsumer => {
        const callback = args.at(-1) as (error: LibrdKafkaError, offsets: []) => void;
        const error = Object.assign(new Error('injected: the group coordinator is not available'), {
          code: -185,
          errno: -185,
          origin: 'kafka',
        });
        setImmediate(() => callback(error, []));
        return consumer;
      };
      consumer.committed = failing;
    }
    return consumer;
  }
}

const RECORDS = 10;
const COMMITTED = 6;

describe('KafkaQueue start position of an assigned partition, on a real Kafka', function () {
  this.timeout(60_000);
  const service = useRealService('kafka');
  const brokers = (): string => service().MQ_KAFKA_BOOTSTRAP_SERVERS ?? '';
  const queues: TrackingKafkaQueue[] = [];
  const subscriptions: Subscription[] = [];
  afterEach(async function () {
    await Promise.allSettled(subscriptions.splice(0).map((subscription) => subscription.close()));
  });
  after(async function () {
    this.timeout(30_000);
    const topics = queues.flatMap((queue) => [...queue.createdTopics]);
    await Promise.allSettled(queues.map((queue) => queue.disconnect()));
    if (topics.length > 0) await deleteTopics(brokers(), topics);
  });

  async function faultyQueue(faults: StartFaults, logger?: RecordingLogger): Promise<FaultyStartQueue> {
    const queue = new FaultyStartQueue(
      {
        bootstrapServers: brokers(),
        sessionTimeoutMs: TEST_SESSION_TIMEOUT_MS,
        commitIntervalMs: 200,
        heartbeatIntervalMs: 100,
        ...(logger === undefined ? {} : { logger }),
      },
      faults,
    );
    await queue.connect();
    queues.push(queue);
    return queue;
  }

  /** A one-partition topic of {@link RECORDS} records whose group has committed {@link COMMITTED}. */
  async function committedTopic(): Promise<{ topic: string; group: string }> {
    const mq = await connectedQueue(brokers());
    queues.push(mq);
    const topic = uniqueTopic('start');
    const group = `${topic}-group`;
    await mq.createTopic(topic, { partitions: 1 });
    await mq.publishBatch(
      topic,
      Array.from({ length: RECORDS }, (_, index) => ({ value: `record-${index}` })),
    );
    const first = await mq.subscribe(
      topic,
      async (messages) => {
        await mq.ack(messages.filter((message) => Number(message.offset) < COMMITTED));
      },
      { group },
    );
    await waitFor(
      async () => (await committedOffset(brokers(), group, topic)) === COMMITTED,
      20_000,
      `the group to commit offset ${COMMITTED}`,
    );
    await first.close();
    return { topic, group };
  }

  async function deliveredOffsets(mq: FaultyStartQueue, topic: string, group: string): Promise<number[]> {
    const delivered: QueueMessage[] = [];
    subscriptions.push(
      await mq.subscribe(
        topic,
        async (messages) => {
          delivered.push(...messages);
          await mq.ack(messages);
        },
        { group },
      ),
    );
    await waitFor(() => delivered.some((message) => Number(message.offset) === RECORDS - 1), 20_000, 'the last record');
    return delivered.map((message) => Number(message.offset)).sort((a, b) => a - b);
  }

  const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, index) => from + index);

  it('delivers nothing below the committed position when fetching starts behind it (from offset 0)', async function () {
    const { topic, group } = await committedTopic();
    const mq = await faultyQueue({ startAt: 0 });
    expect(await deliveredOffsets(mq, topic, group)).to.deep.equal(range(COMMITTED, RECORDS));
  });

  it('logs a failed committed-offset lookup and leaves the start to librdkafka, which starts at the committed position', async function () {
    const { topic, group } = await committedTopic();
    const logger = new RecordingLogger();
    const mq = await faultyQueue({ failCommittedLookup: true }, logger);
    expect(await deliveredOffsets(mq, topic, group)).to.deep.equal(range(COMMITTED, RECORDS));
    const warning = logger.warnings.find((entry) => entry.message.startsWith('Kafka committed-offset lookup failed'));
    expect(warning?.fields).to.deep.include({ topic, group, partitions: [0] });
    expect(String(warning?.fields.error)).to.contain('coordinator is not available');
  });

  it('with a failed lookup, delivers again what lies below the committed position when fetching starts behind it (the caveat in the README)', async function () {
    const { topic, group } = await committedTopic();
    const mq = await faultyQueue({ failCommittedLookup: true, startAt: 0 });
    expect(await deliveredOffsets(mq, topic, group)).to.deep.equal(range(0, RECORDS));
  });
});
