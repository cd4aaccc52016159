import { expect } from 'chai';
import { MAX_DELIVERIES_REASON, PlatformError, eachMessage, isPlatformError } from '@platform-host/contracts';
import type {
  BatchHandler,
  HealthCheckResult,
  MessageQueue,
  OutgoingMessage,
  QueueDeadLetterOutcome,
  QueueMessage,
  SubscribeOptions,
  Subscription,
} from '@platform-host/contracts';
import { memoryMetrics, type ReadableMetrics } from '../test-support/memory-metrics.js';
import {
  DEAD_LETTERS_UNPUBLISHED,
  DEAD_LETTER_FAILURES,
  MESSAGES_PROCESSED,
  MESSAGES_PUBLISHED,
  MESSAGE_PROCESSING_DURATION,
  instrumentMessageQueue,
} from './queue-metrics.js';

/**
 * A minimal queue written for this test (the real memory queue is being migrated concurrently):
 * published messages are kept per topic, `deliver(topic)` hands everything published so far to the
 * topic's subscribers as one batch, acknowledging it after the handler with `autoAck`, and nacking
 * what is still unacknowledged when the handler throws (as the contract says).
 */
class ListQueue implements MessageQueue {
  readonly capabilities = { orderedByKey: true, partitioned: false, delayedRedelivery: false };
  readonly published = new Map<string, QueueMessage[]>();
  readonly acked = new Set<string>();
  readonly nacked: string[] = [];
  readonly #subscribers = new Map<string, Array<{ handler: BatchHandler; options: SubscribeOptions }>>();
  #sequence = 0;

  async connect(): Promise<void> {}
  async disconnect(): Promise<void> {}
  async healthCheck(): Promise<HealthCheckResult> {
    return { ok: true };
  }
  async publish(topic: string, message: OutgoingMessage): Promise<string> {
    if (topic === 'refused') throw new PlatformError('PH_ERR_NOT_CONNECTED', 'queue closed');
    const id = String((this.#sequence += 1));
    const value = typeof message.value === 'string' ? new TextEncoder().encode(message.value) : message.value;
    const list = this.published.get(topic) ?? [];
    list.push({
      id,
      topic,
      group: '',
      partition: undefined,
      offset: id,
      key: message.key,
      value,
      headers: message.headers ?? {},
      deliveryCount: 1,
      publishedAt: new Date(),
    });
    this.published.set(topic, list);
    return id;
  }
  async publishBatch(topic: string, messages: readonly OutgoingMessage[]): Promise<string[]> {
    const ids: string[] = [];
    for (const message of messages) ids.push(await this.publish(topic, message));
    return ids;
  }
  async flush(): Promise<void> {}
  async subscribe(topic: string, handler: BatchHandler, options: SubscribeOptions): Promise<Subscription> {
    const list = this.#subscribers.get(topic) ?? [];
    list.push({ handler, options });
    this.#subscribers.set(topic, list);
    return { pause: () => {}, resume: () => {}, paused: false, close: async () => {} };
  }
  /** Calls the `onRevoked` hook of each subscriber of `topic` with `partitions`. */
  async revoke(topic: string, partitions: readonly number[]): Promise<void> {
    for (const { options } of this.#subscribers.get(topic) ?? [])
      await options.onRevoked?.(partitions.map((partition) => ({ topic, partition })));
  }
  /** Reports a dead letter of the queue's own to each subscriber of `message.topic` (`onDeadLetter`). */
  reportOwnDeadLetter(message: QueueMessage, outcome: QueueDeadLetterOutcome): void {
    for (const { options } of this.#subscribers.get(message.topic) ?? [])
      options.onDeadLetter?.(message, MAX_DELIVERIES_REASON, outcome);
  }
  /** Delivers every message published to `topic` so far to each subscriber as one batch. */
  async deliver(topic: string): Promise<void> {
    for (const { handler, options } of this.#subscribers.get(topic) ?? []) {
      const batch = (this.published.get(topic) ?? []).map((message) => ({ ...message, group: options.group }));
      try {
        await handler(batch);
        if (options.autoAck === true) await this.ack(batch);
      } catch {
        for (const message of batch) if (!this.acked.has(message.id)) await this.nack(message);
      }
    }
  }
  async ack(messages: QueueMessage | readonly QueueMessage[]): Promise<void> {
    const list: readonly QueueMessage[] = Array.isArray(messages) ? messages : [messages as QueueMessage];
    for (const message of list) this.acked.add(message.id);
  }
  async nack(message: QueueMessage): Promise<void> {
    this.nacked.push(message.id);
  }
  /** While true, `deadLetter` fails as a broker refusing the message would. */
  refuseDeadLetters = false;
  async deadLetter(message: QueueMessage, reason: string): Promise<void> {
    if (this.refuseDeadLetters) throw new Error('MSG_SIZE_TOO_LARGE: the dead-letter topic refused the message');
    await this.publish(`${message.topic}.dead-letter`, { value: message.value, headers: { reason } });
    await this.ack(message);
  }
  async createTopic(): Promise<void> {}
}

describe('instrumentMessageQueue', function () {
  let metrics: ReadableMetrics;
  let inner: ListQueue;
  let queue: ListQueue;
  const processed = (outcome: string, group = 'g') => ({
    module: 'worker',
    env: 'test',
    topic: 'orders',
    group,
    outcome,
  });

  beforeEach(async function () {
    metrics = await memoryMetrics();
    inner = new ListQueue();
    queue = instrumentMessageQueue(inner, { metrics, module: 'worker', env: 'test' });
  });

  it('counts published messages per topic and returns the ids the adapter gave', async function () {
    expect(await queue.publish('orders', { value: 'a' })).to.equal('1');
    expect(await queue.publishBatch('orders', [{ value: 'b' }, { value: 'c' }])).to.deep.equal(['2', '3']);
    await queue.publish('payments', { value: 'd' });
    const refused = await queue.publish('refused', { value: 'x' }).catch((error: unknown) => error);
    expect(isPlatformError(refused) && refused.code).to.equal('PH_ERR_NOT_CONNECTED');
    expect(metrics.value(MESSAGES_PUBLISHED, { module: 'worker', env: 'test', topic: 'orders' })).to.equal(3);
    expect(metrics.value(MESSAGES_PUBLISHED, { module: 'worker', env: 'test', topic: 'payments' })).to.equal(1);
    expect(metrics.value(MESSAGES_PUBLISHED, { module: 'worker', env: 'test', topic: 'refused' })).to.equal(undefined);
  });

  it('counts each message of a batch by how the handler settled it: ack, nack, dead letter', async function () {
    await queue.publishBatch('orders', [{ value: 'ok' }, { value: 'retry' }, { value: 'poison' }, { value: 'ok' }]);
    await queue.subscribe(
      'orders',
      async (messages) => {
        for (const message of messages) {
          const text = new TextDecoder().decode(message.value);
          if (text === 'retry') await queue.nack(message);
          else if (text === 'poison') await queue.deadLetter(message, 'invalid');
        }
        await queue.ack(messages.filter((message) => new TextDecoder().decode(message.value) === 'ok'));
      },
      { group: 'g' },
    );
    await inner.deliver('orders');
    expect(metrics.value(MESSAGES_PROCESSED, processed('ack'))).to.equal(2);
    expect(metrics.value(MESSAGES_PROCESSED, processed('nack'))).to.equal(1);
    expect(metrics.value(MESSAGES_PROCESSED, processed('dead_letter'))).to.equal(1);
    expect(metrics.histogramData(MESSAGE_PROCESSING_DURATION, processed('ack'))?.count).to.equal(2);
    expect(metrics.total(MESSAGES_PROCESSED)).to.equal(4);
    expect(inner.acked.size).to.equal(3);
  });

  it('counts the unsettled messages of a batch whose handler threw as error, once, and passes the error on', async function () {
    await queue.publishBatch('orders', [{ value: 'first' }, { value: 'second' }]);
    const failure = new Error('handler failed');
    let seen: unknown;
    await queue.subscribe(
      'orders',
      async (messages) => {
        await queue.ack(messages[0]!);
        await queue.ack(messages[0]!);
        try {
          throw failure;
        } catch (error) {
          seen = error;
          throw error;
        }
      },
      { group: 'g' },
    );
    await inner.deliver('orders');
    expect(seen).to.equal(failure);
    expect(inner.nacked).to.deep.equal(['2']);
    expect(metrics.value(MESSAGES_PROCESSED, processed('ack'))).to.equal(1);
    expect(metrics.value(MESSAGES_PROCESSED, processed('error'))).to.equal(1);
    // The queue's own nack after the failure is not counted again.
    expect(metrics.value(MESSAGES_PROCESSED, processed('nack'))).to.equal(undefined);
  });

  it('counts failed dead letters and holds each such message in a gauge until it is dead-lettered or its partition revoked', async function () {
    await queue.publishBatch('orders', [{ value: 'a' }, { value: 'b' }, { value: 'c' }]);
    const held: QueueMessage[] = [];
    let revokedSeen: number[] = [];
    await queue.subscribe(
      'orders',
      async (messages) => void held.push(...messages.map((message, index) => ({ ...message, partition: index }))),
      { group: 'g', onRevoked: (partitions) => void (revokedSeen = partitions.map((p) => p.partition)) },
    );
    await inner.deliver('orders');
    const [first, second, third] = held as [QueueMessage, QueueMessage, QueueMessage];
    const series = { module: 'worker', env: 'test', topic: 'orders', group: 'g' };
    inner.refuseDeadLetters = true;
    for (const message of [first, second, third, first])
      expect(await queue.deadLetter(message, 'invalid').catch(() => 'refused')).to.equal('refused');
    expect(metrics.value(DEAD_LETTER_FAILURES, series), 'failed calls').to.equal(4);
    expect(metrics.value(DEAD_LETTERS_UNPUBLISHED, series), 'messages held').to.equal(3);
    inner.refuseDeadLetters = false;
    await queue.deadLetter(first, 'invalid');
    expect(metrics.value(DEAD_LETTERS_UNPUBLISHED, series), 'after a retry published one').to.equal(2);
    await queue.ack(second);
    expect(metrics.value(DEAD_LETTERS_UNPUBLISHED, series), 'after one was acknowledged').to.equal(1);
    await inner.revoke('orders', [2]);
    expect(revokedSeen, "the module's own onRevoked ran").to.deep.equal([2]);
    expect(metrics.value(DEAD_LETTERS_UNPUBLISHED, series), 'after its partition was revoked').to.equal(0);
    expect(metrics.value(DEAD_LETTER_FAILURES, series)).to.equal(4);
  });

  it("counts the queue's own dead letters (onDeadLetter) as deadLetter calls: failures counted and held, then released once one is published", async function () {
    await queue.publishBatch('orders', [{ value: 'a' }, { value: 'b' }]);
    const held: QueueMessage[] = [];
    const seenByModule: string[] = [];
    await queue.subscribe('orders', async (messages) => void held.push(...messages), {
      group: 'g',
      onDeadLetter: (message, reason, outcome) =>
        void seenByModule.push(`${message.id}:${reason}:${outcome.published}`),
    });
    await inner.deliver('orders');
    const [first, second] = held as [QueueMessage, QueueMessage];
    const series = { module: 'worker', env: 'test', topic: 'orders', group: 'g' };
    const refused = { published: false, error: new Error('the dead-letter topic refused it') } as const;
    inner.reportOwnDeadLetter(first, refused);
    inner.reportOwnDeadLetter(second, refused);
    inner.reportOwnDeadLetter(first, refused);
    expect(metrics.value(DEAD_LETTER_FAILURES, series), 'failed attempts of the queue').to.equal(3);
    expect(metrics.value(DEAD_LETTERS_UNPUBLISHED, series), 'messages held').to.equal(2);
    inner.reportOwnDeadLetter(first, { published: true });
    expect(metrics.value(DEAD_LETTERS_UNPUBLISHED, series), 'after the queue published one').to.equal(1);
    expect(metrics.value(DEAD_LETTER_FAILURES, series)).to.equal(3);
    expect(seenByModule, "the module's own onDeadLetter still runs").to.deep.equal([
      `${first.id}:max_deliveries:false`,
      `${second.id}:max_deliveries:false`,
      `${first.id}:max_deliveries:false`,
      `${first.id}:max_deliveries:true`,
    ]);
  });

  it('counts autoAck batches as acknowledged once the handler resolves, per group', async function () {
    await queue.publishBatch('orders', [{ value: 'a' }, { value: 'b' }]);
    await queue.subscribe('orders', async () => {}, { group: 'g', autoAck: true });
    await queue.subscribe('orders', async () => {}, { group: 'audit', autoAck: true });
    await inner.deliver('orders');
    expect(metrics.value(MESSAGES_PROCESSED, processed('ack'))).to.equal(2);
    expect(metrics.value(MESSAGES_PROCESSED, processed('ack', 'audit'))).to.equal(2);
  });

  it('leaves messages a handler neither settled nor failed uncounted until they are settled', async function () {
    await queue.publish('orders', { value: 'later' });
    const held: QueueMessage[] = [];
    await queue.subscribe('orders', async (messages) => void held.push(...messages), { group: 'g' });
    await inner.deliver('orders');
    expect(metrics.total(MESSAGES_PROCESSED)).to.equal(0);
    await queue.ack(held);
    expect(metrics.value(MESSAGES_PROCESSED, processed('ack'))).to.equal(1);
  });

  it('counts messages handled through eachMessage on the proxy', async function () {
    await queue.publishBatch('orders', [{ value: 'ok' }, { value: 'bad' }]);
    await queue.subscribe(
      'orders',
      eachMessage(queue, async (message) => {
        if (new TextDecoder().decode(message.value) === 'bad') throw new Error('bad message');
      }),
      { group: 'g' },
    );
    await inner.deliver('orders');
    expect(metrics.value(MESSAGES_PROCESSED, processed('ack'))).to.equal(1);
    expect(metrics.value(MESSAGES_PROCESSED, processed('nack'))).to.equal(1);
  });

  it('counts one ack of messages from several topics and groups per series, each message once', async function () {
    await queue.publishBatch('orders', [{ value: 'a' }, { value: 'b' }]);
    await queue.publish('payments', { value: 'c' });
    const held: QueueMessage[] = [];
    const hold = async (messages: readonly QueueMessage[]) => void held.push(...messages);
    await queue.subscribe('orders', hold, { group: 'g' });
    await queue.subscribe('orders', hold, { group: 'audit' });
    await queue.subscribe('payments', hold, { group: 'g' });
    await inner.deliver('orders');
    await inner.deliver('payments');
    // orders/g, orders/audit and payments/g interleaved, with a repeat that must not count twice.
    const [a, b, auditA, auditB, c] = held;
    await queue.ack([a!, auditA!, c!, b!, auditB!, a!]);
    expect(metrics.value(MESSAGES_PROCESSED, processed('ack'))).to.equal(2);
    expect(metrics.value(MESSAGES_PROCESSED, processed('ack', 'audit'))).to.equal(2);
    const payments = { ...processed('ack'), topic: 'payments' };
    expect(metrics.value(MESSAGES_PROCESSED, payments)).to.equal(1);
    expect(metrics.histogramData(MESSAGE_PROCESSING_DURATION, processed('ack'))?.count).to.equal(2);
    expect(metrics.histogramData(MESSAGE_PROCESSING_DURATION, processed('ack', 'audit'))?.count).to.equal(2);
    expect(metrics.histogramData(MESSAGE_PROCESSING_DURATION, payments)?.count).to.equal(1);
    expect(metrics.total(MESSAGES_PROCESSED)).to.equal(5);
  });

  it('keeps capabilities, instanceof and the methods it does not measure', async function () {
    expect(queue.capabilities).to.deep.equal({ orderedByKey: true, partitioned: false, delayedRedelivery: false });
    expect(queue).to.be.instanceOf(ListQueue);
    expect(await queue.healthCheck()).to.deep.equal({ ok: true });
    await queue.publish('orders', { value: 'x' });
    expect(queue.published.get('orders')).to.have.lengthOf(1);
  });
});
