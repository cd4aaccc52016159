import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { eachMessage, isPlatformError } from '@platform-host/contracts';
import type {
  MessageHandler,
  MessageQueue,
  QueueMessage,
  SubscribeOptions,
  Subscription,
} from '@platform-host/contracts';
import { waitFor } from '../wait-for.js';
import type { ConformanceSubject } from './subject.js';

export type { ConformanceSubject } from './subject.js';

/** Tunes {@link describeMessageQueueConformance} to a broker's timing. All values in milliseconds. */
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
   * Keep it well above 200 ms: the `maxInFlight` test holds two messages unacknowledged that long.
   */
  readonly visibilityTimeoutMs?: number;
}

const decoder = new TextDecoder();
const text = (message: QueueMessage): string => decoder.decode(message.value);
const ids = (messages: readonly QueueMessage[]): Set<string> => new Set(messages.map((message) => message.id));

/** How long the `maxInFlight` test waits for a delivery that must not happen. */
const BACKPRESSURE_SETTLE_MS = 200;

/**
 * Declares the conformance suite every {@link MessageQueue} adapter runs against itself. Every test
 * uses its own topic and consumer groups, so the suite can share a real broker with other runs.
 * Subscriptions are made before publishing; a new group starts at the earliest retained message,
 * so nothing depends on how fast a subscription becomes active.
 *
 * @param adapterName Shown in the suite title (`MessageQueue conformance: memory`).
 * @param subject Creates a connected queue, and optionally destroys it. The suite calls `create()`
 *   once for most tests and once more for the disconnect test.
 * @param options Waits and redelivery timing of the broker under test.
 */
export function describeMessageQueueConformance(
  adapterName: string,
  subject: ConformanceSubject<MessageQueue>,
  options: MessageQueueConformanceOptions = {},
): void {
  const deliveryTimeoutMs = options.deliveryTimeoutMs ?? 5000;
  const redeliveryTimeoutMs = options.redeliveryTimeoutMs ?? deliveryTimeoutMs;
  const { visibilityTimeoutMs } = options;

  describe(`MessageQueue conformance: ${adapterName}`, function () {
    this.timeout(Math.max(20_000, 4 * (deliveryTimeoutMs + redeliveryTimeoutMs + (visibilityTimeoutMs ?? 0))));

    let mq: MessageQueue;
    let openSubscriptions: Subscription[] = [];
    const run = randomUUID().slice(0, 8);
    let serial = 0;
    const uniqueName = (kind: string): string => `conformance-${run}-${kind}-${++serial}`;

    async function newTopic(partitions?: number): Promise<string> {
      const topic = uniqueName('topic');
      await mq.createTopic(topic, partitions === undefined ? undefined : { partitions });
      return topic;
    }

    async function subscribe(
      topic: string,
      handler: MessageHandler,
      subscribeOptions: SubscribeOptions,
    ): Promise<Subscription> {
      const subscription = await mq.subscribe(topic, eachMessage(mq, handler), subscribeOptions);
      openSubscriptions.push(subscription);
      return subscription;
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

    it('delivers string and binary values with their key, headers, id and publish time', async function () {
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

    it('splits the messages of one group between two consumers without losing any', async function () {
      const topic = await newTopic(2);
      const group = uniqueName('group');
      const first = recorder();
      const second = recorder();
      await subscribe(topic, first.handler, { group, consumer: 'consumer-a', autoAck: true });
      await subscribe(topic, second.handler, { group, consumer: 'consumer-b', autoAck: true });

      const count = 20;
      const published = new Set<string>();
      for (let index = 0; index < count; index++)
        published.add(await mq.publish(topic, { key: `key-${index}`, value: `m-${index}` }));

      const union = (): Set<string> => new Set([...ids(first.received), ...ids(second.received)]);
      await waitFor(() => union().size === count, deliveryTimeoutMs, `the group to get all ${count} messages`);
      expect(union()).to.deep.equal(published);
      const both = [...ids(first.received)].filter((id) => ids(second.received).has(id));
      expect(both.length, 'messages delivered to both consumers of one group').to.be.lessThan(count);
    });

    for (const autoAck of [false, true]) {
      const how = autoAck ? 'by autoAck' : 'by the handler';
      it(`does not redeliver a message acknowledged ${how}, while it redelivers an unacknowledged sibling`, async function () {
        const topic = await newTopic();
        const group = uniqueName('group');
        const first = recorder(async (message) => {
          if (text(message) === 'unacked') throw new Error('conformance: handler failure on purpose');
          if (!autoAck) await mq.ack(message);
        });
        const firstSubscription = await subscribe(topic, first.handler, { group, autoAck });
        const ackedId = await mq.publish(topic, { value: 'acked' });
        const unackedId = await mq.publish(topic, { value: 'unacked' });
        await waitFor(
          () => ids(first.received).has(ackedId) && ids(first.received).has(unackedId),
          deliveryTimeoutMs,
          'both messages',
        );
        await close(firstSubscription);

        const second = recorder((message) => mq.ack(message));
        await subscribe(topic, second.handler, { group });
        await waitFor(() => ids(second.received).has(unackedId), redeliveryTimeoutMs, 'the unacknowledged message');
        const markerId = await mq.publish(topic, { value: 'marker' });
        await waitFor(() => ids(second.received).has(markerId), deliveryTimeoutMs, 'the marker message');
        expect(ids(second.received).has(ackedId), 'the acknowledged message was redelivered').to.equal(false);
      });
    }

    it('redelivers a message whose handler threw, with the same id and a higher deliveryCount', async function () {
      const topic = await newTopic();
      const { received, handler } = recorder(async (message) => {
        if (message.deliveryCount === 1) throw new Error('conformance: handler failure on purpose');
        await mq.ack(message);
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
      expect(redelivery?.id).to.equal(id);
      expect(redelivery?.key).to.equal('retry');
      expect(redelivery === undefined ? undefined : text(redelivery)).to.equal('payload');
      expect({ ...redelivery?.headers }).to.deep.equal({ attempt: 'any' });
    });

    it('delivers a message left unacknowledged by a closed subscription to the next subscriber of the group', async function () {
      const topic = await newTopic();
      const group = uniqueName('group');
      const first = recorder();
      const firstSubscription = await subscribe(topic, first.handler, { group });
      const id = await mq.publish(topic, { value: 'left-unacked' });
      await waitFor(() => ids(first.received).has(id), deliveryTimeoutMs, 'the first delivery');
      await close(firstSubscription);

      const second = recorder((message) => mq.ack(message));
      await subscribe(topic, second.handler, { group });
      await waitFor(() => ids(second.received).has(id), redeliveryTimeoutMs, 'the redelivery to the next subscriber');
      expect(second.received.map(text)).to.include('left-unacked');
    });

    if (visibilityTimeoutMs !== undefined) {
      it('redelivers a message handled without acknowledgement after the visibility timeout', async function () {
        const topic = await newTopic();
        const { received, handler } = recorder(async (message) => {
          if (message.deliveryCount >= 2) await mq.ack(message);
        });
        await subscribe(topic, handler, { group: uniqueName('group') });
        const id = await mq.publish(topic, { value: 'forgotten' });
        await waitFor(
          () => received.some((message) => message.deliveryCount >= 2),
          deliveryTimeoutMs + visibilityTimeoutMs + redeliveryTimeoutMs,
          'a redelivery after the visibility timeout',
        );
        expect(received.every((message) => message.id === id)).to.equal(true);
      });
    }

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

    it('stops handing messages to the handler at maxInFlight until one is acknowledged', async function () {
      const topic = await newTopic();
      const { received, handler } = recorder();
      await subscribe(topic, handler, { group: uniqueName('group'), maxInFlight: 2 });
      for (let index = 0; index < 5; index++) await mq.publish(topic, { value: `m-${index}` });

      await waitFor(() => ids(received).size >= 2, deliveryTimeoutMs, 'two deliveries');
      await sleep(BACKPRESSURE_SETTLE_MS);
      expect(ids(received).size, 'distinct messages handed out with none acknowledged').to.equal(2);

      const firstMessage = received[0];
      if (firstMessage === undefined) throw new Error('no message was recorded');
      await mq.ack(firstMessage);
      await waitFor(() => ids(received).size === 3, deliveryTimeoutMs, 'a third delivery after one acknowledgement');
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
    });

    it('treats acknowledging a message twice as harmless', async function () {
      const topic = await newTopic();
      const errors: unknown[] = [];
      const { received, handler } = recorder(async (message) => {
        try {
          await mq.ack(message);
          await mq.ack(message);
        } catch (error) {
          errors.push(error);
        }
      });
      const subscription = await subscribe(topic, handler, { group: uniqueName('group') });
      const id = await mq.publish(topic, { value: 'ack-twice' });
      await waitFor(() => ids(received).has(id), deliveryTimeoutMs, 'the delivery');
      await close(subscription);
      const [message] = received;
      if (message !== undefined) await mq.ack(message);
      expect(errors).to.deep.equal([]);
    });

    it('reports healthy while connected', async function () {
      const result = await mq.healthCheck();
      expect(result.ok, result.detail).to.equal(true);
    });

    it('rejects publish after disconnect with PH_ERR_NOT_CONNECTED, and disconnects idempotently', async function () {
      const other = await subject.create();
      try {
        await other.disconnect();
        await other.disconnect();
        const error = await other.publish(uniqueName('topic'), { value: 'late' }).then(
          () => undefined,
          (rejection: unknown) => rejection,
        );
        expect(isPlatformError(error) ? error.code : error).to.equal('PH_ERR_NOT_CONNECTED');
        const health = await other.healthCheck();
        expect(health.ok).to.be.a('boolean');
      } finally {
        await subject.destroy?.(other);
      }
    });
  });
}
