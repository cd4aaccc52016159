import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import {
  DEAD_LETTER_HEADERS,
  MAX_DELIVERIES_REASON,
  MESSAGE_HEADERS,
  currentCorrelationId,
  deadLetterTopic,
  eachMessage,
  isPlatformError,
  withCorrelationId,
} from '@platform-host/contracts';
import type {
  BatchHandler,
  MessageHandler,
  MessageQueue,
  QueueCapabilities,
  QueueMessage,
  SubscribeOptions,
  Subscription,
  TopicPartition,
} from '@platform-host/contracts';
import { waitFor } from '../wait-for.js';
import type { ConformanceSubject } from './subject.js';

export type { ConformanceSubject } from './subject.js';

/** Tunes {@link describeMessageQueueConformance} to a broker's timing. All durations in milliseconds. */
export interface MessageQueueConformanceOptions {
  /** Longest wait for a published message to reach a subscriber. Default 5000. */
  readonly deliveryTimeoutMs?: number;
  /**
   * Longest wait for the redelivery of an unacknowledged message after its handler threw or its
   * subscription closed. A broker that redelivers only after an idle time (Redis Streams
   * `XAUTOCLAIM` min-idle-time, a Kafka session timeout) must be created by the subject with a short
   * one, and this set above it. Default: `deliveryTimeoutMs`.
   */
  readonly redeliveryTimeoutMs?: number;
  /**
   * The visibility timeout the subject configured its queue with. When set, the suite also checks
   * that a message handled without an acknowledgement is redelivered to the still-open subscription
   * after it. Leave unset for a broker that only redelivers after a failure or a closed consumer.
   * Keep it well above 200 ms: some tests hold messages unacknowledged that long.
   */
  readonly visibilityTimeoutMs?: number;
  /** Longest wait for a group's partitions to be assigned after a consumer joins or leaves. Default: `deliveryTimeoutMs`. */
  readonly rebalanceTimeoutMs?: number;
  /**
   * How long the revocation test holds the first consumer's handler after a second consumer starts
   * to join, so that the group's rebalance reaches the first consumer while its handler runs.
   * Brokers whose group protocol takes longer to start a rebalance (Kafka's classic protocol: the
   * client joins on its next group timer tick, up to a second) need more. Default 200.
   */
  readonly joinSettleMs?: number;
  /** Partitions of the topics the partition and two-consumer tests create. Default 4. */
  readonly partitions?: number;
  /** The `delayMs` of the nack-delay test. Default 600. */
  readonly nackDelayMs?: number;
  /** Messages of the `publishBatch` bulk test. Default 10000. */
  readonly bulkMessageCount?: number;
  /** Longest wait for the bulk test's messages to arrive. Default 60000. */
  readonly bulkTimeoutMs?: number;
}

const decoder = new TextDecoder();
const text = (message: QueueMessage): string => decoder.decode(message.value);
const ids = (messages: readonly QueueMessage[]): Set<string> => new Set(messages.map((message) => message.id));
const sorted = (values: Iterable<string>): string[] => [...values].sort();

/** How long tests wait for a delivery that must not happen (backpressure, pause, close). */
const SETTLE_MS = 200;

/** A promise with its resolve function, to hold a handler until the test lets it go. */
function gate(): { readonly promise: Promise<void>; readonly open: () => void } {
  let open = (): void => {};
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** The partitions a consumer holds, as its rebalance hooks report them. */
interface AssignmentTracker {
  readonly held: Set<number>;
  /** Calls of `onAssigned`, so a backend without partitions (one call with partition 0) is seen too. */
  assignedCalls: number;
  readonly hooks: Pick<SubscribeOptions, 'onAssigned' | 'onRevoked'>;
}

function assignmentTracker(events?: string[], name?: string): AssignmentTracker {
  const tracker: AssignmentTracker = {
    held: new Set(),
    assignedCalls: 0,
    hooks: {
      onAssigned: (partitions: readonly TopicPartition[]) => {
        tracker.assignedCalls += 1;
        for (const { partition } of partitions) {
          tracker.held.add(partition);
          events?.push(`${name} assigned ${partition}`);
        }
      },
      onRevoked: (partitions: readonly TopicPartition[]) => {
        for (const { partition } of partitions) {
          tracker.held.delete(partition);
          events?.push(`${name} revoked ${partition}`);
        }
      },
    },
  };
  return tracker;
}

/**
 * Declares the conformance suite every {@link MessageQueue} adapter runs against itself, embedded or
 * real, first-party or third-party. Every test uses its own topics and consumer groups, so the suite
 * can share a real broker with other runs. Cases that need a capability the adapter declares it
 * lacks (`capabilities.orderedByKey`, `partitioned`, `delayedRedelivery`) are skipped, and only those.
 *
 * What the subject must provide: a connected queue whose new groups start at the earliest retained
 * message (unless `startFrom: 'latest'`), whose `createTopic` honours `partitions`, and that calls
 * `onAssigned` before it delivers a partition's messages.
 *
 * @param adapterName Shown in the suite title (`MessageQueue conformance: memory`).
 * @param subject Creates a connected queue, and optionally destroys it. The suite calls `create()`
 *   once for most tests and once more for the disconnect test.
 * @param options Waits, redelivery timing and sizes for the broker under test.
 */
export function describeMessageQueueConformance(
  adapterName: string,
  subject: ConformanceSubject<MessageQueue>,
  options: MessageQueueConformanceOptions = {},
): void {
  const deliveryTimeoutMs = options.deliveryTimeoutMs ?? 5000;
  const redeliveryTimeoutMs = options.redeliveryTimeoutMs ?? deliveryTimeoutMs;
  const rebalanceTimeoutMs = options.rebalanceTimeoutMs ?? deliveryTimeoutMs;
  const partitionCount = options.partitions ?? 4;
  const joinSettleMs = options.joinSettleMs ?? SETTLE_MS;
  const nackDelayMs = options.nackDelayMs ?? 600;
  const bulkMessageCount = options.bulkMessageCount ?? 10_000;
  const bulkTimeoutMs = options.bulkTimeoutMs ?? 60_000;
  const { visibilityTimeoutMs } = options;

  describe(`MessageQueue conformance: ${adapterName}`, function () {
    this.timeout(
      Math.max(
        20_000,
        4 *
          (deliveryTimeoutMs +
            redeliveryTimeoutMs +
            rebalanceTimeoutMs +
            nackDelayMs +
            (visibilityTimeoutMs ?? 0) +
            (options.joinSettleMs ?? 0)),
      ),
    );

    let mq: MessageQueue;
    let openSubscriptions: Subscription[] = [];
    const run = randomUUID().slice(0, 8);
    let serial = 0;
    const uniqueName = (kind: string): string => `conformance-${run}-${kind}-${++serial}`;

    /** Skips the running test unless the adapter declares `capability`. */
    function requires(context: Mocha.Context, capability: keyof QueueCapabilities): void {
      if (!mq.capabilities[capability]) context.skip();
    }

    async function newTopic(partitions?: number): Promise<string> {
      const topic = uniqueName('topic');
      await mq.createTopic(topic, partitions === undefined ? undefined : { partitions });
      return topic;
    }

    async function subscribeBatches(
      topic: string,
      handler: BatchHandler,
      subscribeOptions: SubscribeOptions,
    ): Promise<Subscription> {
      const subscription = await mq.subscribe(topic, handler, subscribeOptions);
      openSubscriptions.push(subscription);
      return subscription;
    }

    /** Subscribes a per-message handler through {@link eachMessage}. */
    function subscribe(
      topic: string,
      handler: MessageHandler,
      subscribeOptions: SubscribeOptions,
    ): Promise<Subscription> {
      return subscribeBatches(topic, eachMessage(mq, handler), subscribeOptions);
    }

    async function close(subscription: Subscription): Promise<void> {
      openSubscriptions = openSubscriptions.filter((open) => open !== subscription);
      await subscription.close();
    }

    /** A handler that records every delivery and then runs `then` (acknowledging is up to it). */
    function recorder(then: (message: QueueMessage) => Promise<void> = async () => {}): {
      received: QueueMessage[];
      handler: MessageHandler;
    } {
      const received: QueueMessage[] = [];
      return {
        received,
        handler: async (message) => {
          received.push(message);
          await then(message);
        },
      };
    }

    /**
     * Waits until two or more consumers of one group split the partitions between them: on a
     * partitioned backend every partition held by exactly one of them, each holding some; otherwise
     * until each was told it is assigned.
     */
    async function balanced(trackers: readonly AssignmentTracker[], partitions: number): Promise<void> {
      await waitFor(
        () => {
          if (!mq.capabilities.partitioned) return trackers.every((tracker) => tracker.assignedCalls > 0);
          const held = trackers.map((tracker) => tracker.held.size);
          const union = new Set(trackers.flatMap((tracker) => [...tracker.held]));
          const total = held.reduce((sum, size) => sum + size, 0);
          return union.size === partitions && total === partitions && held.every((size) => size > 0);
        },
        rebalanceTimeoutMs,
        'the group to spread its partitions over its consumers',
      );
    }

    before(async function () {
      mq = await subject.create();
    });

    afterEach(async function () {
      const closing = openSubscriptions.map((subscription) => subscription.close());
      openSubscriptions = [];
      await Promise.allSettled(closing);
    });

    after(async function () {
      if (mq !== undefined) await subject.destroy?.(mq);
    });

    describe('delivery', function () {
      it('delivers string and binary values with their key, headers, id, position and publish time', async function () {
        const topic = await newTopic();
        const group = uniqueName('group');
        const { received, handler } = recorder((message) => mq.ack(message));
        await subscribe(topic, handler, { group });

        const before = Date.now();
        const binary = Uint8Array.from({ length: 256 }, (_, index) => index);
        const stringId = await mq.publish(topic, {
          key: 'k-1',
          value: 'héllo ✓ 日本語 👋',
          headers: { 'x-trace': 'abc', 'x-ünï': 'çödé' },
        });
        const binaryId = await mq.publish(topic, { value: binary });
        const after = Date.now();
        expect(stringId).to.be.a('string').and.have.length.greaterThan(0);
        expect(binaryId).to.be.a('string').and.not.equal(stringId);

        await waitFor(() => ids(received).size === 2, deliveryTimeoutMs, 'two deliveries');
        const stringMessage = received.find((message) => message.id === stringId);
        const binaryMessage = received.find((message) => message.id === binaryId);
        if (stringMessage === undefined || binaryMessage === undefined)
          throw new Error('a delivered id does not match a published id');

        expect(stringMessage.topic).to.equal(topic);
        expect(stringMessage.group).to.equal(group);
        expect(stringMessage.key).to.equal('k-1');
        expect(stringMessage.value).to.be.instanceOf(Uint8Array);
        expect(text(stringMessage)).to.equal('héllo ✓ 日本語 👋');
        expect({ ...stringMessage.headers }).to.deep.equal({ 'x-trace': 'abc', 'x-ünï': 'çödé' });
        expect(stringMessage.deliveryCount).to.equal(1);
        expect(stringMessage.publishedAt).to.be.instanceOf(Date);
        // A generous window: brokers stamp messages with their own clock.
        expect(stringMessage.publishedAt.getTime()).to.be.within(before - 60_000, after + 60_000);
        if (mq.capabilities.partitioned) {
          expect(stringMessage.partition, 'the partition of a one-partition topic').to.equal(0);
          expect(binaryMessage.partition).to.equal(0);
          expect(stringMessage.offset).to.be.a('string').and.not.equal(binaryMessage.offset);
        }

        expect(binaryMessage.key).to.equal(undefined);
        expect(Array.from(binaryMessage.value)).to.deep.equal(Array.from(binary));
        expect({ ...binaryMessage.headers }).to.deep.equal({});
        expect(binaryMessage.deliveryCount).to.equal(1);
      });

      it('delivers every message to each of two consumer groups', async function () {
        const topic = await newTopic();
        const first = recorder();
        const second = recorder();
        await subscribe(topic, first.handler, { group: uniqueName('group'), autoAck: true });
        await subscribe(topic, second.handler, { group: uniqueName('group'), autoAck: true });

        const published = new Set<string>();
        for (let index = 0; index < 10; index++) published.add(await mq.publish(topic, { value: `m-${index}` }));

        await waitFor(
          () => ids(first.received).size === 10 && ids(second.received).size === 10,
          deliveryTimeoutMs,
          'both groups to get 10 messages',
        );
        expect(ids(first.received)).to.deep.equal(published);
        expect(ids(second.received)).to.deep.equal(published);
      });

      it('starts a new group at the earliest retained message by default', async function () {
        const topic = await newTopic();
        const early = await mq.publish(topic, { value: 'before-the-group' });
        const { received, handler } = recorder();
        await subscribe(topic, handler, { group: uniqueName('group'), autoAck: true });
        const late = await mq.publish(topic, { value: 'after-the-group' });
        await waitFor(() => ids(received).size === 2, deliveryTimeoutMs, 'both messages');
        expect(received.map((message) => message.id)).to.deep.equal([early, late]);
      });

      it("starts a new group with startFrom 'latest' after the messages published before it", async function () {
        const topic = await newTopic();
        const early = await mq.publish(topic, { value: 'before-the-group' });
        const tracker = assignmentTracker();
        const { received, handler } = recorder();
        await subscribe(topic, handler, {
          group: uniqueName('group'),
          autoAck: true,
          startFrom: 'latest',
          ...tracker.hooks,
        });
        await waitFor(() => tracker.assignedCalls > 0, rebalanceTimeoutMs, 'the assignment');
        const late = await mq.publish(topic, { value: 'after-the-group' });
        await waitFor(() => ids(received).has(late), deliveryTimeoutMs, 'the later message');
        expect(ids(received).has(early), 'a message published before the group was delivered').to.equal(false);
        expect(received.map(text)).to.deep.equal(['after-the-group']);
      });

      it('keeps the order of messages with the same key on first delivery', async function () {
        const topic = await newTopic();
        const { received, handler } = recorder();
        await subscribe(topic, handler, { group: uniqueName('group'), autoAck: true });

        const keys = ['alpha', 'beta', 'gamma'];
        const expected = new Map<string, string[]>(keys.map((key) => [key, []]));
        for (let index = 0; index < 10; index++) {
          for (const key of keys) {
            const value = `${key}-${index}`;
            await mq.publish(topic, { key, value });
            expected.get(key)?.push(value);
          }
        }

        await waitFor(() => ids(received).size === 30, deliveryTimeoutMs, '30 deliveries');
        const firstDeliveries = received.filter((message) => message.deliveryCount === 1);
        for (const key of keys) {
          const order = firstDeliveries.filter((message) => message.key === key).map(text);
          expect(order, `first-delivery order of key ${key}`).to.deep.equal(expected.get(key));
        }
      });

      it('creates a topic idempotently', async function () {
        const topic = uniqueName('topic');
        await mq.createTopic(topic);
        await mq.createTopic(topic);
        await mq.createTopic(topic, { partitions: 1 });

        const { received, handler } = recorder();
        await subscribe(topic, handler, { group: uniqueName('group'), autoAck: true });
        const id = await mq.publish(topic, { value: 'after-create' });
        await waitFor(() => ids(received).has(id), deliveryTimeoutMs, 'the delivery');
        expect(received.map(text)).to.deep.equal(['after-create']);
      });
    });

    describe('batches and backpressure', function () {
      it('delivers batches of at most maxBatchSize, each message once, and a partial batch after maxWaitMs', async function () {
        const topic = await newTopic();
        const count = 45;
        const maxBatchSize = 7;
        const published = await mq.publishBatch(
          topic,
          Array.from({ length: count }, (_, index) => ({ key: 'batch', value: `m-${index}` })),
        );
        const batches: QueueMessage[][] = [];
        await subscribeBatches(
          topic,
          async (messages) => {
            batches.push([...messages]);
            await mq.ack(messages);
          },
          { group: uniqueName('group'), maxBatchSize, maxWaitMs: 20 },
        );
        await waitFor(() => batches.flat().length >= count, deliveryTimeoutMs, `${count} deliveries`);
        expect(sorted(batches.flat().map((message) => message.id))).to.deep.equal(sorted(published));
        for (const batch of batches) expect(batch.length, 'a batch size').to.be.within(1, maxBatchSize);
        expect(Math.max(...batches.map((batch) => batch.length)), 'the largest batch').to.be.greaterThan(1);
        expect(batches.flat().map(text), 'the order of one key').to.deep.equal(
          Array.from({ length: count }, (_, index) => `m-${index}`),
        );

        const before = batches.length;
        const straggler = await mq.publish(topic, { key: 'batch', value: 'straggler' });
        await waitFor(() => batches.length > before, deliveryTimeoutMs, 'a batch that cannot fill');
        expect(batches.slice(before).map((batch) => batch.map((message) => message.id))).to.deep.equal([[straggler]]);
      });

      it('stops delivering at maxInFlight unacknowledged messages until one is acknowledged', async function () {
        const topic = await newTopic();
        const received: QueueMessage[] = [];
        await subscribeBatches(topic, async (messages) => void received.push(...messages), {
          group: uniqueName('group'),
          maxInFlight: 2,
          maxBatchSize: 2,
        });
        await mq.publishBatch(
          topic,
          Array.from({ length: 5 }, (_, index) => ({ value: `m-${index}` })),
        );

        await waitFor(() => ids(received).size >= 2, deliveryTimeoutMs, 'two deliveries');
        await sleep(SETTLE_MS);
        expect(ids(received).size, 'distinct messages handed out with none acknowledged').to.equal(2);

        const firstMessage = received[0];
        if (firstMessage === undefined) throw new Error('no message was recorded');
        await mq.ack(firstMessage);
        await waitFor(() => ids(received).size === 3, deliveryTimeoutMs, 'a third delivery after one acknowledgement');
        await sleep(SETTLE_MS);
        expect(ids(received).size, 'distinct messages after one acknowledgement').to.equal(3);
      });

      it('acknowledges many messages in one call', async function () {
        const topic = await newTopic();
        const group = uniqueName('group');
        const first: QueueMessage[] = [];
        const firstSubscription = await subscribeBatches(
          topic,
          async (messages) => {
            first.push(...messages);
            await mq.ack(messages);
          },
          { group },
        );
        const published = await mq.publishBatch(
          topic,
          Array.from({ length: 6 }, (_, index) => ({ value: `m-${index}` })),
        );
        await waitFor(() => ids(first).size === 6, deliveryTimeoutMs, 'six deliveries');
        await close(firstSubscription);

        const second = recorder((message) => mq.ack(message));
        await subscribe(topic, second.handler, { group });
        const marker = await mq.publish(topic, { value: 'marker' });
        await waitFor(() => ids(second.received).has(marker), deliveryTimeoutMs, 'the marker');
        expect(
          second.received.map((message) => message.id),
          'redelivered after a batch ack',
        ).to.deep.equal([marker]);
        expect(sorted(ids(first))).to.deep.equal(sorted(published));
      });

      it('redelivers what a throwing batch handler had not acknowledged, and nothing it had', async function () {
        const topic = await newTopic();
        await mq.publishBatch(
          topic,
          ['m-0', 'm-1', 'm-2'].map((value) => ({ key: 'same', value })),
        );
        const deliveries: QueueMessage[] = [];
        const acked = new Set<string>();
        const leftInFailedBatches = new Set<string>();
        const redeliveredAfterAck: string[] = [];
        await subscribeBatches(
          topic,
          async (messages) => {
            for (const message of messages) {
              deliveries.push(message);
              if (acked.has(message.id)) redeliveredAfterAck.push(message.id);
            }
            const [head, ...rest] = messages;
            if (head !== undefined) {
              await mq.ack(head);
              acked.add(head.id);
            }
            if (rest.some((message) => message.deliveryCount === 1)) {
              for (const message of rest) leftInFailedBatches.add(message.id);
              throw new Error('conformance: batch failure on purpose');
            }
            await mq.ack(rest);
            for (const message of rest) acked.add(message.id);
          },
          { group: uniqueName('group'), maxBatchSize: 3 },
        );
        await waitFor(() => acked.size === 3, deliveryTimeoutMs + redeliveryTimeoutMs, 'every message acknowledged');
        const marker = await mq.publish(topic, { key: 'same', value: 'marker' });
        await waitFor(() => acked.has(marker), deliveryTimeoutMs, 'the marker');

        expect(leftInFailedBatches.size, 'messages behind the head of a failed batch').to.be.greaterThan(0);
        expect(redeliveredAfterAck, 'acknowledged messages delivered again').to.deep.equal([]);
        const redelivered = deliveries.filter((message) => message.deliveryCount >= 2).map((message) => message.id);
        expect(sorted(redelivered), 'the redeliveries').to.deep.equal(sorted(leftInFailedBatches));
      });
    });

    describe('acknowledgement and redelivery', function () {
      for (const autoAck of [false, true]) {
        const how = autoAck ? 'by autoAck' : 'by the handler';
        it(`does not redeliver a message acknowledged ${how}, while it redelivers an unacknowledged sibling`, async function () {
          const topic = await newTopic();
          const group = uniqueName('group');
          const firstReceived: QueueMessage[] = [];
          const firstSubscription = await subscribeBatches(
            topic,
            async (messages) => {
              firstReceived.push(...messages);
              if (autoAck) {
                if (messages.some((message) => text(message) === 'unacked'))
                  throw new Error('conformance: handler failure on purpose');
                return;
              }
              for (const message of messages) if (text(message) === 'acked') await mq.ack(message);
            },
            { group, autoAck },
          );
          const ackedId = await mq.publish(topic, { value: 'acked' });
          await waitFor(() => ids(firstReceived).has(ackedId), deliveryTimeoutMs, 'the first message');
          const unackedId = await mq.publish(topic, { value: 'unacked' });
          await waitFor(() => ids(firstReceived).has(unackedId), deliveryTimeoutMs, 'the second message');
          await close(firstSubscription);

          const second = recorder((message) => mq.ack(message));
          await subscribe(topic, second.handler, { group });
          await waitFor(() => ids(second.received).has(unackedId), redeliveryTimeoutMs, 'the unacknowledged message');
          const markerId = await mq.publish(topic, { value: 'marker' });
          await waitFor(() => ids(second.received).has(markerId), deliveryTimeoutMs, 'the marker message');
          expect(ids(second.received).has(ackedId), 'the acknowledged message was redelivered').to.equal(false);
        });
      }

      it('redelivers a message whose handler threw, with the same id, key, value and headers and a higher deliveryCount', async function () {
        const topic = await newTopic();
        const { received, handler } = recorder(async (message) => {
          if (message.deliveryCount === 1) throw new Error('conformance: handler failure on purpose');
        });
        await subscribe(topic, handler, { group: uniqueName('group') });
        const id = await mq.publish(topic, { key: 'retry', value: 'payload', headers: { attempt: 'any' } });

        await waitFor(
          () => received.some((message) => message.deliveryCount >= 2),
          deliveryTimeoutMs + redeliveryTimeoutMs,
          'a redelivery',
        );
        const redelivery = received.find((message) => message.deliveryCount >= 2);
        expect(received[0]?.deliveryCount).to.equal(1);
        expect(redelivery?.deliveryCount).to.equal(2);
        expect(redelivery?.id).to.equal(id);
        expect(redelivery?.key).to.equal('retry');
        expect(redelivery === undefined ? undefined : text(redelivery)).to.equal('payload');
        expect({ ...redelivery?.headers }).to.deep.equal({ attempt: 'any' });
      });

      it('redelivers the unacknowledged messages of a closed consumer to the next one, with deliveryCount 2, never the acknowledged prefix', async function () {
        const topic = await newTopic();
        const group = uniqueName('group');
        const held: QueueMessage[] = [];
        const holder = await subscribeBatches(
          topic,
          async (messages) => {
            held.push(...messages);
            for (const message of messages) if (text(message) !== 'm-2') await mq.ack(message);
          },
          { group },
        );
        const published = await mq.publishBatch(
          topic,
          ['m-0', 'm-1', 'm-2', 'm-3'].map((value) => ({ key: 'same', value })),
        );
        await waitFor(() => ids(held).size === 4, deliveryTimeoutMs, 'four deliveries');
        await close(holder);

        const next = recorder((message) => mq.ack(message));
        await subscribe(topic, next.handler, { group });
        await waitFor(() => ids(next.received).has(published[2] ?? ''), redeliveryTimeoutMs, 'the redelivery of m-2');
        const marker = await mq.publish(topic, { key: 'same', value: 'marker' });
        await waitFor(() => ids(next.received).has(marker), deliveryTimeoutMs, 'the marker');
        const redelivery = next.received.find((message) => message.id === published[2]);
        expect(redelivery?.deliveryCount, 'deliveryCount of the redelivery').to.equal(2);
        expect(redelivery === undefined ? undefined : text(redelivery)).to.equal('m-2');
        const names = next.received.map(text);
        expect(names, 'the acknowledged prefix was redelivered').to.not.include('m-0');
        expect(names, 'the acknowledged prefix was redelivered').to.not.include('m-1');
      });

      it('commits only the contiguous acknowledged prefix of a partition: messages after a gap come again', async function () {
        requires(this, 'partitioned');
        const topic = await newTopic(1);
        const group = uniqueName('group');
        const values = ['m-0', 'm-1', 'm-2', 'm-3', 'm-4'];
        const published = await mq.publishBatch(
          topic,
          values.map((value) => ({ key: 'prefix', value })),
        );
        const first: QueueMessage[] = [];
        const firstSubscription = await subscribeBatches(
          topic,
          async (messages) => {
            first.push(...messages);
            // m-2 is neither acknowledged nor nacked: a gap.
            await mq.ack(messages.filter((message) => text(message) !== 'm-2'));
          },
          { group },
        );
        await waitFor(() => ids(first).size === values.length, deliveryTimeoutMs, 'five deliveries');
        expect(first.map(text)).to.deep.equal(values);
        await close(firstSubscription);

        const second = recorder((message) => mq.ack(message));
        await subscribe(topic, second.handler, { group });
        const marker = await mq.publish(topic, { key: 'prefix', value: 'marker' });
        await waitFor(() => ids(second.received).has(marker), redeliveryTimeoutMs + deliveryTimeoutMs, 'the marker');
        expect(second.received.map((message) => `${text(message)}#${message.deliveryCount}`)).to.deep.equal([
          'm-2#2',
          'm-3#2',
          'm-4#2',
          'marker#1',
        ]);
        expect(second.received.slice(0, 3).map((message) => message.id)).to.deep.equal(published.slice(2));
      });

      it('redelivers a nacked message no sooner than its delayMs', async function () {
        requires(this, 'delayedRedelivery');
        const topic = await newTopic();
        const events: string[] = [];
        const received: QueueMessage[] = [];
        await subscribeBatches(
          topic,
          async (messages) => {
            for (const message of messages) {
              received.push(message);
              if (message.deliveryCount === 1) {
                await mq.nack(message, { delayMs: nackDelayMs });
                // Fires at half the delay after the nack: a redelivery that honours the delay comes after it.
                void sleep(nackDelayMs / 2).then(() => events.push('half the delay elapsed'));
              } else {
                events.push(`redelivered #${message.deliveryCount}`);
                await mq.ack(message);
              }
            }
          },
          { group: uniqueName('group') },
        );
        const id = await mq.publish(topic, { value: 'later' });
        await waitFor(
          () => events.some((event) => event.startsWith('redelivered')),
          deliveryTimeoutMs + nackDelayMs + redeliveryTimeoutMs,
          'the redelivery',
        );
        expect(events).to.deep.equal(['half the delay elapsed', 'redelivered #2']);
        expect(received.map((message) => message.id)).to.deep.equal([id, id]);
      });

      if (visibilityTimeoutMs !== undefined) {
        it('redelivers a message handled without acknowledgement after the visibility timeout', async function () {
          const topic = await newTopic();
          const received: QueueMessage[] = [];
          await subscribeBatches(
            topic,
            async (messages) => {
              received.push(...messages);
              await mq.ack(messages.filter((message) => message.deliveryCount >= 2));
            },
            { group: uniqueName('group') },
          );
          const id = await mq.publish(topic, { value: 'forgotten' });
          await waitFor(
            () => received.some((message) => message.deliveryCount >= 2),
            deliveryTimeoutMs + visibilityTimeoutMs + redeliveryTimeoutMs,
            'a redelivery after the visibility timeout',
          );
          expect(received.map((message) => `${message.id}#${message.deliveryCount}`)).to.deep.equal([
            `${id}#1`,
            `${id}#2`,
          ]);
        });
      }

      it('treats acknowledging a message twice, or after its consumer closed, as harmless', async function () {
        const topic = await newTopic();
        const group = uniqueName('group');
        const errors: unknown[] = [];
        const { received, handler } = recorder(async (message) => {
          try {
            await mq.ack(message);
            await mq.ack(message);
          } catch (error) {
            errors.push(error);
          }
        });
        const subscription = await subscribe(topic, handler, { group });
        const id = await mq.publish(topic, { value: 'ack-twice' });
        await waitFor(() => ids(received).has(id), deliveryTimeoutMs, 'the delivery');
        await close(subscription);
        const [message] = received;
        if (message === undefined) throw new Error('no message was recorded');
        await mq.ack(message);
        await mq.ack([message, message]);
        expect(errors).to.deep.equal([]);

        const next = recorder((delivered) => mq.ack(delivered));
        await subscribe(topic, next.handler, { group });
        const marker = await mq.publish(topic, { value: 'marker' });
        await waitFor(() => ids(next.received).has(marker), deliveryTimeoutMs, 'the marker');
        expect(next.received.map(text)).to.deep.equal(['marker']);
      });
    });

    describe('dead letters', function () {
      it('dead-letters a message after maxDeliveries failed deliveries, with the dead-letter headers, and delivers it no more', async function () {
        const topic = await newTopic();
        const group = uniqueName('group');
        const maxDeliveries = 3;
        await mq.createTopic(deadLetterTopic(topic));
        const deadLetters = recorder((message) => mq.ack(message));
        await subscribe(deadLetterTopic(topic), deadLetters.handler, { group: uniqueName('dead-letters') });

        const received: QueueMessage[] = [];
        await subscribeBatches(
          topic,
          async (messages) => {
            received.push(...messages);
            await mq.ack(messages.filter((message) => text(message) !== 'poison'));
            if (messages.some((message) => text(message) === 'poison')) throw new Error('conformance: poison message');
          },
          { group, maxDeliveries },
        );
        const poisonId = await mq.publish(topic, {
          key: 'dl-key',
          value: 'poison',
          headers: { 'x-origin': 'conformance', [MESSAGE_HEADERS.correlationId]: 'conformance-dead-letter' },
        });
        await waitFor(
          () => deadLetters.received.length > 0,
          deliveryTimeoutMs + maxDeliveries * redeliveryTimeoutMs,
          'the dead letter',
        );
        const marker = await mq.publish(topic, { key: 'dl-key', value: 'marker' });
        await waitFor(() => ids(received).has(marker), deliveryTimeoutMs, 'the marker');

        const poison = received.filter((message) => message.id === poisonId);
        expect(poison.map((message) => message.deliveryCount)).to.deep.equal([1, 2, 3]);
        expect(deadLetters.received).to.have.length(1);
        const [deadLetter] = deadLetters.received;
        const last = poison[poison.length - 1];
        if (deadLetter === undefined || last === undefined) throw new Error('no dead letter was recorded');
        expect(text(deadLetter)).to.equal('poison');
        expect(deadLetter.key).to.equal('dl-key');
        const deadLetteredAt = deadLetter.headers[DEAD_LETTER_HEADERS.deadLetteredAt] ?? '';
        expect(Number.isNaN(Date.parse(deadLetteredAt)), `dead-lettered-at "${deadLetteredAt}"`).to.equal(false);
        const expected: Record<string, string> = {
          'x-origin': 'conformance',
          [MESSAGE_HEADERS.correlationId]: 'conformance-dead-letter',
          [DEAD_LETTER_HEADERS.reason]: MAX_DELIVERIES_REASON,
          [DEAD_LETTER_HEADERS.error]: 'conformance: poison message',
          [DEAD_LETTER_HEADERS.originalTopic]: topic,
          [DEAD_LETTER_HEADERS.originalId]: poisonId,
          [DEAD_LETTER_HEADERS.group]: group,
          [DEAD_LETTER_HEADERS.deliveryCount]: String(maxDeliveries),
          [DEAD_LETTER_HEADERS.deadLetteredAt]: deadLetteredAt,
        };
        if (last.partition !== undefined) expected[DEAD_LETTER_HEADERS.originalPartition] = String(last.partition);
        if (last.offset !== undefined) expected[DEAD_LETTER_HEADERS.originalOffset] = last.offset;
        expect({ ...deadLetter.headers }).to.deep.equal(expected);
      });

      it('dead-letters a message the handler gives up on to the configured topic, and acknowledges it', async function () {
        const topic = await newTopic();
        const group = uniqueName('group');
        const target = uniqueName('custom-dead-letters');
        await mq.createTopic(target);
        const deadLetters = recorder((message) => mq.ack(message));
        await subscribe(target, deadLetters.handler, { group: uniqueName('dead-letters') });
        const { received, handler } = recorder(async (message) => {
          if (text(message) === 'invalid')
            await mq.deadLetter(message, 'invalid_payload', new Error('bad\njson at 1:2'));
        });
        await subscribe(topic, handler, { group, deadLetter: { topic: target } });
        const invalidId = await mq.publish(topic, { value: 'invalid', headers: { 'x-origin': 'conformance' } });
        await waitFor(() => deadLetters.received.length > 0, deliveryTimeoutMs, 'the dead letter');
        const marker = await mq.publish(topic, { value: 'marker' });
        await waitFor(() => ids(received).has(marker), deliveryTimeoutMs, 'the marker');

        expect(received.map(text), 'deliveries').to.deep.equal(['invalid', 'marker']);
        const [deadLetter] = deadLetters.received;
        expect(deadLetters.received).to.have.length(1);
        expect(deadLetter === undefined ? undefined : text(deadLetter)).to.equal('invalid');
        expect(deadLetter?.headers).to.include({
          'x-origin': 'conformance',
          [DEAD_LETTER_HEADERS.reason]: 'invalid_payload',
          [DEAD_LETTER_HEADERS.error]: 'bad json at 1:2',
          [DEAD_LETTER_HEADERS.originalTopic]: topic,
          [DEAD_LETTER_HEADERS.originalId]: invalidId,
          [DEAD_LETTER_HEADERS.group]: group,
          [DEAD_LETTER_HEADERS.deliveryCount]: '1',
        });
        const deadLetterTopicMessages = await countOn(deadLetterTopic(topic));
        expect(deadLetterTopicMessages, `messages on ${deadLetterTopic(topic)}`).to.equal(0);
      });
    });

    /** Messages a fresh group receives from `topic` until a marker published after them. */
    async function countOn(topic: string): Promise<number> {
      const { received, handler } = recorder((message) => mq.ack(message));
      const subscription = await subscribe(topic, handler, { group: uniqueName('counter') });
      const marker = await mq.publish(topic, { value: 'count-marker' });
      await waitFor(() => ids(received).has(marker), deliveryTimeoutMs, `the marker on ${topic}`);
      await close(subscription);
      return received.filter((message) => message.id !== marker).length;
    }

    describe('consumers of one group', function () {
      it('splits the messages of one group between two consumers, handling each exactly once', async function () {
        const topic = await newTopic(partitionCount);
        const group = uniqueName('group');
        const first = recorder();
        const second = recorder();
        const firstTracker = assignmentTracker();
        const secondTracker = assignmentTracker();
        await subscribe(topic, first.handler, { group, consumer: 'consumer-a', ...firstTracker.hooks });
        await subscribe(topic, second.handler, { group, consumer: 'consumer-b', ...secondTracker.hooks });
        await balanced([firstTracker, secondTracker], partitionCount);

        const count = 40;
        const published = await mq.publishBatch(
          topic,
          Array.from({ length: count }, (_, index) => ({ key: `key-${index}`, value: `m-${index}` })),
        );
        const all = (): string[] => [...first.received, ...second.received].map((message) => message.id);
        await waitFor(() => new Set(all()).size === count, deliveryTimeoutMs, `the group to get all ${count} messages`);
        await sleep(SETTLE_MS);
        expect(sorted(all()), 'every message handled exactly once').to.deep.equal(sorted(published));
        if (mq.capabilities.partitioned) {
          expect(first.received.length, 'messages of consumer a').to.be.greaterThan(0);
          expect(second.received.length, 'messages of consumer b').to.be.greaterThan(0);
          const partitionsOf = (messages: readonly QueueMessage[]): Set<number | undefined> =>
            new Set(messages.map((message) => message.partition));
          const shared = [...partitionsOf(first.received)].filter((partition) =>
            partitionsOf(second.received).has(partition),
          );
          expect(shared, 'partitions both consumers received').to.deep.equal([]);
        }
      });

      it('keeps the order of each key with two consumers of one group', async function () {
        requires(this, 'orderedByKey');
        const topic = await newTopic(partitionCount);
        const group = uniqueName('group');
        const deliveries: Array<{ consumer: string; message: QueueMessage }> = [];
        const trackers = [assignmentTracker(), assignmentTracker()];
        for (const [index, consumer] of ['consumer-a', 'consumer-b'].entries()) {
          await subscribe(topic, async (message) => void deliveries.push({ consumer, message }), {
            group,
            consumer,
            ...trackers[index]?.hooks,
          });
        }
        await balanced(trackers, partitionCount);

        const keys = ['k-0', 'k-1', 'k-2', 'k-3', 'k-4', 'k-5'];
        const messages = Array.from({ length: 10 }, (_, index) =>
          keys.map((key) => ({ key, value: `${key}/${index}` })),
        );
        await mq.publishBatch(topic, messages.flat());
        await waitFor(
          () => new Set(deliveries.map(({ message }) => message.id)).size === 60,
          deliveryTimeoutMs,
          '60 deliveries',
        );
        for (const key of keys) {
          const ofKey = deliveries.filter(({ message }) => message.key === key);
          expect(
            ofKey.map(({ message }) => text(message)),
            `order of key ${key}`,
          ).to.deep.equal(Array.from({ length: 10 }, (_, index) => `${key}/${index}`));
          if (mq.capabilities.partitioned)
            expect(new Set(ofKey.map(({ consumer }) => consumer)).size, `consumers of key ${key}`).to.equal(1);
        }
        const consumers = new Set(deliveries.map(({ consumer }) => consumer));
        if (mq.capabilities.partitioned) expect(consumers.size, 'consumers that received messages').to.equal(2);
      });

      it('revokes a partition after its running handler settled, and calls onRevoked before another consumer receives it', async function () {
        requires(this, 'partitioned');
        const topic = await newTopic(partitionCount);
        const group = uniqueName('group');
        const events: string[] = [];
        const handled = new Set<string>();
        const held = gate();
        let firstBatchStarted = false;
        const firstTracker = assignmentTracker(events, 'a');
        await subscribeBatches(
          topic,
          async (messages) => {
            firstBatchStarted = true;
            for (const message of messages) events.push(`a received ${message.partition}`);
            await held.promise;
            await mq.ack(messages);
            for (const message of messages) handled.add(message.id);
            events.push('a settled');
          },
          // Small batches, so most messages are still undelivered when b joins.
          { group, consumer: 'consumer-a', maxBatchSize: 2, ...firstTracker.hooks },
        );
        await waitFor(() => firstTracker.held.size === partitionCount, rebalanceTimeoutMs, 'a to hold every partition');
        const published = await mq.publishBatch(
          topic,
          Array.from({ length: 24 }, (_, index) => ({ key: `key-${index}`, value: `m-${index}` })),
        );
        await waitFor(() => firstBatchStarted, deliveryTimeoutMs, 'the first batch of a');

        const secondTracker = assignmentTracker(events, 'b');
        const joining = subscribeBatches(
          topic,
          async (messages) => {
            for (const message of messages) events.push(`b received ${message.partition}`);
            await mq.ack(messages);
            for (const message of messages) handled.add(message.id);
          },
          { group, consumer: 'consumer-b', ...secondTracker.hooks },
        );
        // Gives an adapter that would move the partition under a running handler time to do so.
        await sleep(joinSettleMs);
        expect(
          events.filter((event) => event.startsWith('a revoked')),
          'revoked while a handler ran',
        ).to.deep.equal([]);
        held.open();
        await joining;
        await balanced([firstTracker, secondTracker], partitionCount);
        await waitFor(
          () => handled.size === published.length,
          deliveryTimeoutMs + rebalanceTimeoutMs,
          'every message to be handled',
        );

        const snapshot = [...events];
        const moved = [...secondTracker.held];
        expect(moved.length, 'partitions b took over').to.be.greaterThan(0);
        const firstSettled = snapshot.indexOf('a settled');
        for (const partition of moved) {
          const revokedAt = snapshot.indexOf(`a revoked ${partition}`);
          const assignedAt = snapshot.indexOf(`b assigned ${partition}`);
          const receivedAt = snapshot.indexOf(`b received ${partition}`);
          expect(revokedAt, `a revoked ${partition}`).to.be.greaterThan(-1);
          expect(firstSettled, `a's running handler settled before partition ${partition} was revoked`).to.be.lessThan(
            revokedAt,
          );
          expect(revokedAt, `partition ${partition} revoked from a before b was assigned it`).to.be.lessThan(
            assignedAt,
          );
          if (receivedAt !== -1)
            expect(assignedAt, `partition ${partition} assigned to b before b received it`).to.be.lessThan(receivedAt);
        }
        expect(
          moved.filter((partition) => snapshot.includes(`b received ${partition}`)).length,
          'partitions b took over and received messages of',
        ).to.be.greaterThan(0);
      });

      it('counts the acknowledgements a consumer makes in onRevoked when it closes', async function () {
        const topic = await newTopic();
        const group = uniqueName('group');
        const held: QueueMessage[] = [];
        let revokedCalls = 0;
        const first = await subscribeBatches(topic, async (messages) => void held.push(...messages), {
          group,
          onRevoked: async () => {
            revokedCalls += 1;
            await mq.ack(held);
          },
        });
        const published = await mq.publishBatch(
          topic,
          ['held-0', 'held-1', 'held-2'].map((value) => ({ value })),
        );
        await waitFor(() => ids(held).size === 3, deliveryTimeoutMs, 'three deliveries');
        await close(first);
        expect(revokedCalls, 'onRevoked calls on close').to.be.greaterThan(0);

        const next = recorder((message) => mq.ack(message));
        await subscribe(topic, next.handler, { group });
        const marker = await mq.publish(topic, { value: 'marker' });
        await waitFor(() => ids(next.received).has(marker), deliveryTimeoutMs + redeliveryTimeoutMs, 'the marker');
        expect(next.received.map(text), 'redelivered after acknowledgements in onRevoked').to.deep.equal(['marker']);
        expect(sorted(ids(held))).to.deep.equal(sorted(published));
      });

      it('pauses delivery to a subscription and resumes it', async function () {
        const topic = await newTopic();
        const group = uniqueName('group');
        const paused = recorder((message) => mq.ack(message));
        const witness = recorder((message) => mq.ack(message));
        const subscription = await subscribe(topic, paused.handler, { group });
        await subscribe(topic, witness.handler, { group: uniqueName('witness') });
        const before = await mq.publishBatch(
          topic,
          Array.from({ length: 3 }, (_, index) => ({ value: `before-${index}` })),
        );
        await waitFor(() => ids(paused.received).size === 3, deliveryTimeoutMs, 'three deliveries');

        subscription.pause();
        subscription.pause();
        expect(subscription.paused).to.equal(true);
        const during = await mq.publishBatch(
          topic,
          Array.from({ length: 5 }, (_, index) => ({ value: `during-${index}` })),
        );
        await waitFor(() => ids(witness.received).size === 8, deliveryTimeoutMs, 'the witness group to get all eight');
        await sleep(SETTLE_MS);
        expect(ids(paused.received).size, 'deliveries while paused').to.equal(3);

        subscription.resume();
        subscription.resume();
        expect(subscription.paused).to.equal(false);
        await waitFor(() => ids(paused.received).size === 8, deliveryTimeoutMs, 'the deliveries after resume');
        expect(paused.received.map((message) => message.id)).to.deep.equal([...before, ...during]);
      });

      it('drains a running handler on close, counting what it acknowledges meanwhile', async function () {
        const topic = await newTopic();
        const group = uniqueName('group');
        const events: string[] = [];
        const held = gate();
        let started = false;
        const subscription = await subscribe(
          topic,
          async (message) => {
            started = true;
            await held.promise;
            await mq.ack(message);
            events.push('handler finished');
          },
          { group },
        );
        await mq.publish(topic, { value: 'draining' });
        await waitFor(() => started, deliveryTimeoutMs, 'the handler to start');
        const closing = close(subscription).then(() => events.push('closed'));
        await sleep(SETTLE_MS);
        expect(events, 'events before the handler is let go').to.deep.equal([]);
        held.open();
        await closing;
        expect(events).to.deep.equal(['handler finished', 'closed']);

        const next = recorder((message) => mq.ack(message));
        await subscribe(topic, next.handler, { group });
        await mq.publish(topic, { value: 'marker' });
        await waitFor(() => next.received.map(text).includes('marker'), deliveryTimeoutMs, 'the marker');
        expect(next.received.map(text)).to.deep.equal(['marker']);
      });
    });

    describe('correlation', function () {
      it('stamps the current correlation id on published messages and binds it in the handler', async function () {
        const topic = await newTopic();
        const onward = await newTopic();
        const seen: Array<{ value: string; header: string | undefined; bound: string | undefined }> = [];
        await subscribe(
          topic,
          async (message) => {
            seen.push({
              value: text(message),
              header: message.headers[MESSAGE_HEADERS.correlationId],
              bound: currentCorrelationId(),
            });
            if (text(message) === 'in-context') await mq.publish(onward, { value: 'published by the handler' });
            await mq.ack(message);
          },
          { group: uniqueName('group') },
        );
        const forwarded = recorder((message) => mq.ack(message));
        await subscribe(onward, forwarded.handler, { group: uniqueName('group') });

        await withCorrelationId('conformance-corr-1', () => mq.publish(topic, { value: 'in-context' }));
        await withCorrelationId('conformance-corr-2', () =>
          mq.publish(topic, { value: 'own-header', headers: { [MESSAGE_HEADERS.correlationId]: 'explicit' } }),
        );
        await mq.publish(topic, { value: 'no-context' });
        await waitFor(() => seen.length === 3 && forwarded.received.length === 1, deliveryTimeoutMs, 'the deliveries');

        const byValue = new Map(seen.map((entry) => [entry.value, entry]));
        expect(byValue.get('in-context')).to.deep.equal({
          value: 'in-context',
          header: 'conformance-corr-1',
          bound: 'conformance-corr-1',
        });
        expect(byValue.get('own-header')).to.deep.equal({ value: 'own-header', header: 'explicit', bound: 'explicit' });
        const noContext = byValue.get('no-context');
        expect(noContext?.header, 'header of a message published outside any context').to.equal(undefined);
        expect(noContext?.bound, 'a fresh correlation id bound for it').to.be.a('string').and.not.equal('');
        expect(forwarded.received[0]?.headers[MESSAGE_HEADERS.correlationId], 'propagated by the handler').to.equal(
          'conformance-corr-1',
        );
      });

      it("binds a batch handler to its first message's correlation id", async function () {
        const topic = await newTopic();
        await mq.publishBatch(
          topic,
          ['c-1', 'c-2', 'c-3'].map((id) => ({ value: id, headers: { [MESSAGE_HEADERS.correlationId]: id } })),
        );
        const batches: Array<{ first: string | undefined; bound: string | undefined; size: number }> = [];
        await subscribeBatches(
          topic,
          async (messages) => {
            batches.push({
              first: messages[0]?.headers[MESSAGE_HEADERS.correlationId],
              bound: currentCorrelationId(),
              size: messages.length,
            });
            await mq.ack(messages);
          },
          { group: uniqueName('group') },
        );
        await waitFor(
          () => batches.reduce((sum, batch) => sum + batch.size, 0) === 3,
          deliveryTimeoutMs,
          'three deliveries',
        );
        for (const batch of batches) expect(batch.bound).to.equal(batch.first);
      });
    });

    describe('producer', function () {
      it(`publishes a batch of ${bulkMessageCount} messages, all received once, and flushes`, async function () {
        this.timeout(bulkTimeoutMs + 2 * deliveryTimeoutMs);
        const topic = await newTopic(partitionCount);
        let deliveries = 0;
        const received = new Set<string>();
        await subscribeBatches(
          topic,
          async (messages) => {
            deliveries += messages.length;
            for (const message of messages) received.add(message.id);
          },
          { group: uniqueName('group'), autoAck: true, maxBatchSize: 500 },
        );
        const published = await mq.publishBatch(
          topic,
          Array.from({ length: bulkMessageCount }, (_, index) => ({
            key: `key-${index % 32}`,
            value: `bulk-${index}`,
          })),
        );
        await mq.flush();
        expect(published).to.have.length(bulkMessageCount);
        expect(new Set(published).size, 'distinct ids').to.equal(bulkMessageCount);
        await waitFor(() => received.size === bulkMessageCount, bulkTimeoutMs, `${bulkMessageCount} deliveries`);
        expect(sorted(received)).to.deep.equal(sorted(published));
        expect(deliveries, 'deliveries, duplicates included').to.equal(bulkMessageCount);
      });
    });

    describe('health and lifecycle', function () {
      it('reports healthy while connected', async function () {
        const result = await mq.healthCheck();
        expect(result.ok, result.detail).to.equal(true);
      });

      it('reports unhealthy and rejects publish with PH_ERR_NOT_CONNECTED after disconnect, and disconnects idempotently', async function () {
        const other = await subject.create();
        try {
          expect((await other.healthCheck()).ok, 'healthy before disconnect').to.equal(true);
          await other.disconnect();
          await other.disconnect();
          const error = await other.publish(uniqueName('topic'), { value: 'late' }).then(
            () => undefined,
            (rejection: unknown) => rejection,
          );
          expect(isPlatformError(error) ? error.code : error).to.equal('PH_ERR_NOT_CONNECTED');
          const health = await other.healthCheck();
          expect(health.ok, 'healthy after disconnect').to.equal(false);
        } finally {
          await subject.destroy?.(other);
        }
      });
    });
  });
}
