import { expect } from 'chai';
import type { QueueMessage, Subscription } from '@platform-host/contracts';
import { RecordingLogger, useRealService, waitFor } from '@platform-host/test-kit';
import type { KafkaConsumer, LibrdKafkaError, TopicPartitionOffset, WatermarkOffsets } from 'node-rdkafka';
import type { KafkaQueueOptions } from './kafka-queue.js';
import {
  TEST_SESSION_TIMEOUT_MS,
  TrackingKafkaQueue,
  commitOffset,
  committedOffset,
  connectedQueue,
  deleteTopics,
  publishTransactions,
  uniqueTopic,
} from './kafka-test-support.js';

/** What {@link FaultyStartQueue} makes its consumers do wrong. */
interface StartFaults {
  /** Every assigned partition starts here instead of where the adapter assigned it (librdkafka's fetch position off the committed one). */
  readonly startAt?: number;
  /** The committed-offset lookup of an assignment fails (a coordinator not available). */
  readonly failCommittedLookup?: boolean;
  /** The watermark lookup reports this oldest retained offset (retention deleted the records below it). */
  readonly oldestOffset?: number;
  /** The watermark lookup of an assignment fails. */
  readonly failWatermarks?: boolean;
  /** This many seeks fail first (as for a partition librdkafka does not know). */
  readonly failSeeks?: number;
}

/** The seek calls {@link FaultyStartQueue}'s consumers made. */
type Seeks = TopicPartitionOffset[];

/**
 * A queue whose consumers reproduce, deterministically, what was seen under load: a partition
 * assigned at the group's committed position whose fetching starts elsewhere (leftovers of an
 * earlier assignment, from offset 0), and a committed-offset lookup that fails.
 */
class FaultyStartQueue extends TrackingKafkaQueue {
  readonly seeks: Seeks = [];
  /** The offsets at which its consumers reached the end of a partition (`partition.eof`), by topic. */
  readonly ends: Array<{ readonly topic: string; readonly offset: number }> = [];

  constructor(
    options: KafkaQueueOptions,
    readonly faults: StartFaults,
  ) {
    super(options);
  }

  protected override consumerCreated(consumer: KafkaConsumer): KafkaConsumer {
    const { startAt, failCommittedLookup, oldestOffset, failWatermarks } = this.faults;
    consumer.on('partition.eof', ({ topic, offset }) => this.ends.push({ topic, offset }));
    const seek = consumer.seek.bind(consumer);
    consumer.seek = (toppar, timeout, callback) => {
      this.seeks.push(toppar);
      if (this.seeks.length > (this.faults.failSeeks ?? 0)) return seek(toppar, timeout, callback);
      const error = Object.assign(new Error('injected: Local: Unknown partition'), {
        code: -190,
        errno: -190,
        origin: 'kafka',
      });
      setImmediate(() => callback(error));
      return consumer;
    };
    if (oldestOffset !== undefined) {
      type WatermarkCallback = (error: LibrdKafkaError, offsets: WatermarkOffsets) => void;
      const query = consumer.queryWatermarkOffsets.bind(consumer);
      consumer.queryWatermarkOffsets = (
        topic: string,
        partition: number,
        timeoutOrCallback?: number | WatermarkCallback,
        maybeCallback?: WatermarkCallback,
      ): KafkaConsumer => {
        const callback = typeof timeoutOrCallback === 'function' ? timeoutOrCallback : maybeCallback;
        const timeout = typeof timeoutOrCallback === 'number' ? timeoutOrCallback : 5000;
        query(topic, partition, timeout, (error, offsets) =>
          callback?.(error, error ? offsets : { ...offsets, lowOffset: oldestOffset }),
        );
        return consumer;
      };
    }
    if (failWatermarks === true) {
      consumer.queryWatermarkOffsets = (...args: unknown[]): KafkaConsumer => {
        const callback = args.at(-1) as (error: LibrdKafkaError, offsets: WatermarkOffsets) => void;
        const error = Object.assign(new Error('injected: the partition leader is not available'), {
          code: 5,
          errno: 5,
          origin: 'kafka',
        });
        setImmediate(() => callback(error, { lowOffset: -1, highOffset: -1 }));
        return consumer;
      };
    }
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

  async function deliveredOffsets(
    mq: FaultyStartQueue,
    topic: string,
    group: string,
    { startFrom = 'earliest', last = RECORDS - 1 }: { startFrom?: 'earliest' | 'latest'; last?: number } = {},
  ): Promise<number[]> {
    const delivered: QueueMessage[] = [];
    subscriptions.push(
      await mq.subscribe(
        topic,
        async (messages) => {
          delivered.push(...messages);
          await mq.ack(messages);
        },
        { group, startFrom },
      ),
    );
    await waitFor(() => delivered.some((message) => Number(message.offset) === last), 20_000, 'the last record');
    return delivered.map((message) => Number(message.offset)).sort((a, b) => a - b);
  }

  const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, index) => from + index);

  it('delivers nothing below the committed position when fetching starts behind it (from offset 0)', async function () {
    const { topic, group } = await committedTopic();
    const mq = await faultyQueue({ startAt: 0 });
    expect(await deliveredOffsets(mq, topic, group)).to.deep.equal(range(COMMITTED, RECORDS));
  });

  it('seeks back to the committed position, once, when fetching starts ahead of it (no record in between is skipped)', async function () {
    const { topic, group } = await committedTopic();
    const logger = new RecordingLogger();
    const mq = await faultyQueue({ startAt: COMMITTED + 2 }, logger);
    expect(await deliveredOffsets(mq, topic, group)).to.deep.equal(range(COMMITTED, RECORDS));
    expect(mq.seeks).to.deep.equal([{ topic, partition: 0, offset: COMMITTED }]);
    const warning = logger.warnings.find((entry) => entry.message.startsWith('Kafka fetching started after'));
    expect(warning?.fields).to.deep.include({
      topic,
      group,
      partition: 0,
      startOffset: COMMITTED,
      firstOffset: COMMITTED + 2,
    });
  });

  it('tries a failed seek back again with the next record fetched, and keeps nothing of the partition meanwhile', async function () {
    const { topic, group } = await committedTopic();
    const logger = new RecordingLogger();
    const mq = await faultyQueue({ startAt: COMMITTED + 2, failSeeks: 1 }, logger);
    const delivered: number[] = [];
    subscriptions.push(
      await mq.subscribe(
        topic,
        async (messages) => {
          delivered.push(...messages.map((message) => Number(message.offset)));
          await mq.ack(messages);
        },
        { group },
      ),
    );
    await waitFor(
      () => logger.warnings.some((entry) => entry.message.startsWith('Kafka seek back to the start position failed')),
      20_000,
      'the failed seek',
    );
    expect(delivered).to.deep.equal([]);
    // A new record is fetched from where fetching went on (after 9): it seeks back again.
    await mq.publishBatch(topic, [{ value: `record-${RECORDS}` }]);
    await waitFor(() => delivered.includes(RECORDS), 20_000, 'the new record');
    expect(delivered.sort((a, b) => a - b)).to.deep.equal(range(COMMITTED, RECORDS + 1));
    expect(mq.seeks).to.have.length(2);
  });

  it('starts at the oldest retained record, with a warning naming it and the committed position, when retention deleted records the group had not consumed', async function () {
    const { topic, group } = await committedTopic();
    const logger = new RecordingLogger();
    const mq = await faultyQueue({ oldestOffset: COMMITTED + 2 }, logger);
    expect(await deliveredOffsets(mq, topic, group)).to.deep.equal(range(COMMITTED + 2, RECORDS));
    expect(mq.seeks).to.deep.equal([]);
    const warning = logger.warnings.find((entry) => entry.message.startsWith('Kafka committed position is below'));
    expect(warning?.fields).to.deep.include({
      topic,
      group,
      partition: 0,
      committedOffset: COMMITTED,
      oldestOffset: COMMITTED + 2,
    });
  });

  it("with startFrom: 'latest', a fetch position out of range is reset to the oldest record, never to the end (which would skip what the group has not consumed)", async function () {
    const { topic, group } = await committedTopic();
    // Past the end: the broker answers OFFSET_OUT_OF_RANGE, as for a committed record deleted by
    // retention or a log truncated under the position, and librdkafka applies auto.offset.reset.
    const mq = await faultyQueue({ startAt: 1000 });
    expect(await deliveredOffsets(mq, topic, group, { startFrom: 'latest' })).to.deep.equal(range(COMMITTED, RECORDS));
  });

  it('accepts a first record after the committed position once the seek back brought it again (a gap of transaction markers, not a skip)', async function () {
    const mq = await faultyQueue({});
    const topic = uniqueTopic('start-gap');
    const group = `${topic}-group`;
    await mq.createTopic(topic, { partitions: 1 });
    // Two transactions of 5 and 4 records: offsets 0-4, a commit marker at 5, 6-9, a marker at 10.
    await publishTransactions(brokers(), topic, [5, 4]);
    await commitOffset(brokers(), group, topic, 0, 5);
    const logger = new RecordingLogger();
    const gapped = await faultyQueue({}, logger);
    expect(await deliveredOffsets(gapped, topic, group, { last: 9 })).to.deep.equal(range(6, 10));
    expect(gapped.seeks).to.deep.equal([{ topic, partition: 0, offset: 5 }]);
  });

  it("with startFrom: 'latest' and a failed end lookup, starts a new group at the end all the same (librdkafka's logical end, not its reset to the oldest record)", async function () {
    const mq = await faultyQueue({ failWatermarks: true });
    const topic = uniqueTopic('start-latest');
    await mq.createTopic(topic, { partitions: 1 });
    await mq.publishBatch(
      topic,
      Array.from({ length: RECORDS }, (_, index) => ({ value: `old-${index}` })),
    );
    const delivered: string[] = [];
    subscriptions.push(
      await mq.subscribe(
        topic,
        async (messages) => {
          delivered.push(...messages.map((message) => Buffer.from(message.value).toString()));
          await mq.ack(messages);
        },
        { group: `${topic}-group`, startFrom: 'latest' },
      ),
    );
    // librdkafka resolves the end when fetching starts: publish once the consumer reached it.
    await waitFor(
      () => mq.ends.some((end) => end.topic === topic && end.offset === RECORDS),
      20_000,
      'the consumer to reach the end',
    );
    await mq.publishBatch(topic, [{ value: 'new' }]);
    await waitFor(() => delivered.includes('new'), 20_000, 'the new record');
    expect(delivered).to.deep.equal(['new']);
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
