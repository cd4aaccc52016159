import { readFile } from 'node:fs/promises';
import { expect } from 'chai';
import { DEAD_LETTER_HEADERS, MAX_DELIVERIES_REASON, isPlatformError } from '@platform-host/contracts';
import type { AdapterConfig, LogFields, Logger, QueueMessage, TopicPartition } from '@platform-host/contracts';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import { RecordingLogger, describeMessageQueueConformance, waitFor } from '@platform-host/test-kit';
import adapter, { DEFAULT_PARTITIONS, MemoryMessageQueue } from './index.js';
import type { MemoryMessageQueueOptions } from './index.js';

const CONFORMANCE_VISIBILITY_TIMEOUT_MS = 1500;

describeMessageQueueConformance(
  'memory',
  {
    create: async () => {
      const mq = new MemoryMessageQueue({ visibilityTimeoutMs: CONFORMANCE_VISIBILITY_TIMEOUT_MS });
      await mq.connect();
      return mq;
    },
    destroy: (mq) => mq.disconnect(),
  },
  { deliveryTimeoutMs: 3000, visibilityTimeoutMs: CONFORMANCE_VISIBILITY_TIMEOUT_MS },
);

const decoder = new TextDecoder();
const text = (message: QueueMessage): string => decoder.decode(message.value);

/** A promise with its resolve function, to hold a handler until the test lets it go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => {};
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}

type LogEntry = { level: string; message: string; fields: LogFields | undefined };

function recordingLogger(entries: LogEntry[]): Logger {
  const log =
    (level: string) =>
    (message: string, fields?: LogFields): void => {
      entries.push({ level, message, fields });
    };
  const logger: Logger = {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: () => logger,
    flush: async () => {},
  };
  return logger;
}

function adapterConfig(values: Record<string, string>): AdapterConfig {
  return {
    get: (key) => values[key],
    require: (key) => values[key] ?? '',
    integer: (key, fallback) => {
      const value = values[key];
      return value === undefined ? fallback : Number.parseInt(value, 10);
    },
  };
}

describe('MemoryMessageQueue', function () {
  let mq: MemoryMessageQueue;

  async function connected(options: MemoryMessageQueueOptions = {}): Promise<MemoryMessageQueue> {
    mq = new MemoryMessageQueue(options);
    await mq.connect();
    return mq;
  }

  afterEach(async function () {
    await mq?.disconnect();
  });

  describe('partitions', function () {
    it(`gives a topic created by first use ${DEFAULT_PARTITIONS} partitions, and one made by createTopic the count it names`, async function () {
      await connected();
      await mq.createTopic('three', { partitions: 3 });
      const keys = Array.from({ length: 64 }, (_, index) => ({ key: `key-${index}`, value: 'x' }));
      await mq.publishBatch('auto', keys);
      await mq.publishBatch('three', keys);
      const partitions: Record<string, Set<number | undefined>> = { auto: new Set(), three: new Set() };
      for (const topic of ['auto', 'three']) {
        await mq.subscribe(
          topic,
          async (messages) => {
            for (const message of messages) partitions[topic]?.add(message.partition);
          },
          { group: 'g', autoAck: true },
        );
      }
      await waitFor(
        () => partitions.auto?.size === DEFAULT_PARTITIONS && partitions.three?.size === 3,
        2000,
        'messages from every partition',
      );
      expect([...(partitions.auto ?? [])].sort()).to.deep.equal(
        Array.from({ length: DEFAULT_PARTITIONS }, (_, i) => i),
      );
      expect([...(partitions.three ?? [])].sort()).to.deep.equal([0, 1, 2]);
    });

    it('puts every message of one key in one partition and spreads keyless messages round robin', async function () {
      await connected({ defaultPartitions: 4 });
      const received: QueueMessage[] = [];
      await mq.subscribe('t', async (messages) => void received.push(...messages), { group: 'g', autoAck: true });
      await mq.publishBatch('t', [
        ...Array.from({ length: 10 }, () => ({ key: 'same', value: 'keyed' })),
        ...Array.from({ length: 8 }, () => ({ value: 'keyless' })),
      ]);
      await waitFor(() => received.length === 18, 2000, '18 deliveries');
      const keyed = received.filter((message) => message.key === 'same');
      expect(new Set(keyed.map((message) => message.partition)).size).to.equal(1);
      const keyless = received.filter((message) => message.key === undefined).map((message) => message.partition);
      expect(keyless.sort()).to.deep.equal([0, 0, 1, 1, 2, 2, 3, 3]);
      expect(keyed.map((message) => message.id)).to.deep.equal(
        keyed.map((message) => `${message.partition}-${message.offset}`),
      );
    });

    it('leaves a consumer beyond the partition count idle until another closes', async function () {
      await connected();
      await mq.createTopic('t', { partitions: 2 });
      const assigned: Record<string, number[]> = { a: [], b: [], c: [] };
      const received: Record<string, string[]> = { a: [], b: [], c: [] };
      const subscriptions = [];
      for (const consumer of ['a', 'b', 'c']) {
        subscriptions.push(
          await mq.subscribe('t', async (messages) => void received[consumer]?.push(...messages.map(text)), {
            group: 'g',
            consumer,
            autoAck: true,
            onAssigned: (partitions: readonly TopicPartition[]) =>
              void assigned[consumer]?.push(...partitions.map((p) => p.partition)),
          }),
        );
      }
      expect(assigned).to.deep.equal({ a: [0, 1], b: [1], c: [] });
      await subscriptions[1]?.close();
      expect(assigned.c).to.deep.equal([1]);
      await mq.publishBatch(
        't',
        Array.from({ length: 20 }, (_, index) => ({ key: `k-${index}`, value: `m-${index}` })),
      );
      await waitFor(() => (received.a?.length ?? 0) + (received.c?.length ?? 0) === 20, 2000, '20 deliveries');
      expect(received.b).to.deep.equal([]);
      expect(received.c?.length).to.be.greaterThan(0);
    });
  });

  describe('retention', function () {
    it('drops the oldest messages beyond maxMessagesPerTopic when no group needs them', async function () {
      await connected({ maxMessagesPerTopic: 3 });
      await mq.createTopic('t');
      for (let index = 0; index < 5; index++) await mq.publish('t', { value: `m-${index}` });
      const received: string[] = [];
      await mq.subscribe('t', async (messages) => void received.push(...messages.map(text)), {
        group: 'g',
        autoAck: true,
      });
      await waitFor(() => received.length === 3, 2000, 'the retained messages');
      expect(received).to.deep.equal(['m-2', 'm-3', 'm-4']);
    });

    it('keeps messages a group has not committed beyond the limit, with a warning, and trims them once committed', async function () {
      const entries: LogEntry[] = [];
      await connected({ maxMessagesPerTopic: 2, logger: recordingLogger(entries) });
      await mq.createTopic('t');
      const first: QueueMessage[] = [];
      const subscription = await mq.subscribe('t', async (messages) => void first.push(...messages), {
        group: 'g',
        maxBatchSize: 1,
      });
      await mq.publish('t', { value: 'm-0' });
      await waitFor(() => first.length === 1, 2000, 'the first delivery');
      await subscription.close();
      await mq.publish('t', { value: 'm-1' });
      await mq.publish('t', { value: 'm-2' });
      expect(entries.map((entry) => entry.message)).to.deep.equal([
        'Topic retains more than its limit: a consumer group has not committed the oldest messages',
      ]);

      const second: string[] = [];
      await mq.subscribe('t', async (messages) => void second.push(...messages.map(text)), {
        group: 'g',
        autoAck: true,
      });
      await waitFor(() => second.includes('m-2'), 2000, 'the newest message');
      expect(second).to.deep.equal(['m-0', 'm-1', 'm-2']);

      const late: string[] = [];
      await mq.subscribe('t', async (messages) => void late.push(...messages.map(text)), {
        group: 'late',
        autoAck: true,
      });
      await mq.publish('t', { value: 'm-3' });
      await waitFor(() => late.includes('m-3'), 2000, 'the marker');
      expect(late, 'what a group created after the trim finds').to.deep.equal(['m-1', 'm-2', 'm-3']);
    });
  });

  describe('delivery', function () {
    it('redelivers a failed message ahead of the newer messages of its partition', async function () {
      await connected({ retryBackoffMs: 0 });
      await mq.createTopic('t');
      await mq.publishBatch(
        't',
        ['m-0', 'm-1', 'm-2'].map((value) => ({ value })),
      );
      const received: string[] = [];
      await mq.subscribe(
        't',
        async (messages) => {
          received.push(...messages.map((message) => `${text(message)}#${message.deliveryCount}`));
          if (messages.some((message) => text(message) === 'm-0' && message.deliveryCount === 1))
            throw new Error('fail once');
        },
        { group: 'g', autoAck: true, maxBatchSize: 1 },
      );
      await waitFor(() => received.length === 4, 2000, 'four deliveries');
      expect(received).to.deep.equal(['m-0#1', 'm-0#2', 'm-1#1', 'm-2#1']);
    });

    it("never runs a handler inside publish()'s call stack", async function () {
      await connected();
      let publishing = false;
      const seenWhilePublishing: boolean[] = [];
      await mq.subscribe('t', async () => void seenWhilePublishing.push(publishing), {
        group: 'g',
        autoAck: true,
        maxWaitMs: 0,
      });
      publishing = true;
      const published = mq.publish('t', { value: 'x' });
      publishing = false;
      await published;
      await waitFor(() => seenWhilePublishing.length === 1, 2000, 'the delivery');
      expect(seenWhilePublishing).to.deep.equal([false]);
    });

    it('delivers a copy of the published bytes, unaffected by later changes to the buffer', async function () {
      await connected();
      const received: QueueMessage[] = [];
      await mq.subscribe('t', async (messages) => void received.push(...messages), { group: 'g', autoAck: true });
      const buffer = Uint8Array.from([1, 2, 3]);
      await mq.publish('t', { value: buffer });
      buffer[0] = 99;
      await waitFor(() => received.length === 1, 2000, 'the delivery');
      expect(Array.from(received[0]?.value ?? [])).to.deep.equal([1, 2, 3]);
    });

    it('logs a warning naming topic, group and messages when a handler throws', async function () {
      const entries: LogEntry[] = [];
      await connected({ logger: recordingLogger(entries), retryBackoffMs: 0 });
      const received: QueueMessage[] = [];
      await mq.subscribe(
        'audit',
        async (messages) => {
          received.push(...messages);
          if (messages.some((message) => message.deliveryCount === 1)) throw new Error('database is down');
        },
        { group: 'auditors', autoAck: true },
      );
      const id = await mq.publish('audit', { value: 'x' });
      await waitFor(() => received.length === 2, 2000, 'the redelivery');
      expect(entries).to.have.length(1);
      expect(entries[0]?.level).to.equal('warn');
      expect(entries[0]?.fields).to.deep.include({
        topic: 'audit',
        group: 'auditors',
        messageIds: [id],
        deliveryCount: 1,
        error: 'database is down',
      });
    });
  });

  describe('rebalancing and dead letters', function () {
    it('counts the acknowledgements made in onRevoked, and ignores those made after it', async function () {
      await connected();
      await mq.createTopic('t');
      let held: QueueMessage[] = [];
      const late: QueueMessage[] = [];
      const first = await mq.subscribe('t', async (messages) => void held.push(...messages), {
        group: 'g',
        onRevoked: async () => {
          const [acked, ...rest] = held;
          if (acked !== undefined) await mq.ack(acked);
          late.push(...rest);
          held = [];
        },
      });
      await mq.publishBatch('t', [{ value: 'acked-in-onRevoked' }, { value: 'acked-too-late' }]);
      await waitFor(() => held.length === 2, 2000, 'two deliveries');
      await first.close();
      await mq.ack(late);

      const next: QueueMessage[] = [];
      await mq.subscribe('t', async (messages) => void next.push(...messages), { group: 'g', autoAck: true });
      await waitFor(() => next.length === 1, 2000, 'the redelivery');
      expect(next.map((message) => `${text(message)}#${message.deliveryCount}`)).to.deep.equal(['acked-too-late#2']);
    });

    it('dead-letters a message whose last allowed delivery ended with its consumer closing', async function () {
      await connected();
      await mq.createTopic('t');
      const deadLetters: QueueMessage[] = [];
      await mq.subscribe('t.dead-letter', async (messages) => void deadLetters.push(...messages), {
        group: 'dlq',
        autoAck: true,
      });
      await mq.publish('t', { value: 'abandoned' });
      for (let delivery = 1; delivery <= 2; delivery++) {
        const received: QueueMessage[] = [];
        const subscription = await mq.subscribe('t', async (messages) => void received.push(...messages), {
          group: 'g',
          maxDeliveries: 2,
        });
        await waitFor(() => received.length === 1, 2000, `delivery ${delivery}`);
        expect(received[0]?.deliveryCount).to.equal(delivery);
        await subscription.close();
      }
      const third: QueueMessage[] = [];
      await mq.subscribe('t', async (messages) => void third.push(...messages), { group: 'g', maxDeliveries: 2 });
      await waitFor(() => deadLetters.length === 1, 2000, 'the dead letter');
      expect(third).to.deep.equal([]);
      expect(deadLetters[0]?.headers).to.include({
        [DEAD_LETTER_HEADERS.reason]: MAX_DELIVERIES_REASON,
        [DEAD_LETTER_HEADERS.deliveryCount]: '2',
        [DEAD_LETTER_HEADERS.originalTopic]: 't',
      });
    });

    it('keeps a message at its last delivery with its open consumer past the visibility timeout: never dead-lettered while held, dead-lettered once let go', async function () {
      const logger = new RecordingLogger();
      await connected({ visibilityTimeoutMs: 100, logger });
      await mq.createTopic('t');
      const deadLetters: QueueMessage[] = [];
      await mq.subscribe('t.dead-letter', async (messages) => void deadLetters.push(...messages), {
        group: 'dlq',
        autoAck: true,
      });
      // The consumer keeps what it receives without acknowledging (a worker holding events
      // through a database outage); the first delivery times out and comes again.
      const received: QueueMessage[] = [];
      const holder = await mq.subscribe('t', async (messages) => void received.push(...messages), {
        group: 'g',
        maxDeliveries: 2,
      });
      await mq.publish('t', { value: 'held' });
      await mq.publish('t', { value: 'held-then-let-go' });
      await waitFor(() => received.filter((m) => m.deliveryCount === 2).length === 2, 2000, 'the second deliveries');
      const held = (): string[] =>
        logger.warnings
          .filter((entry) => entry.message.startsWith('A message at its last delivery is held'))
          .map((entry) => String(entry.fields.messageId));
      // The timeout of the last deliveries has passed: they stay with their consumer.
      await waitFor(() => held().length === 2, 2000, 'the last deliveries held past the visibility timeout');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(deadLetters, 'dead letters while the consumer holds the messages').to.deep.equal([]);
      expect(received.map((m) => `${text(m)}#${m.deliveryCount}`)).to.deep.equal([
        'held#1',
        'held-then-let-go#1',
        'held#2',
        'held-then-let-go#2',
      ]);
      // The consumer applies one and acknowledges it (the held delivery is still its own) ...
      const [kept, letGo] = received.slice(2);
      if (kept === undefined || letGo === undefined) throw new Error('the second deliveries are missing');
      await mq.ack(kept);
      // ... and gives the other back: that one is dead-lettered now.
      await mq.nack(letGo);
      await waitFor(() => deadLetters.length === 1, 2000, 'the dead letter of the message let go');
      expect(text(deadLetters[0] as QueueMessage)).to.equal('held-then-let-go');
      expect(deadLetters[0]?.headers[DEAD_LETTER_HEADERS.reason]).to.equal(MAX_DELIVERIES_REASON);
      await holder.close();
      const after: QueueMessage[] = [];
      await mq.subscribe('t', async (messages) => void after.push(...messages), { group: 'g', maxDeliveries: 2 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(after, 'redelivered after the acknowledgement and the dead letter').to.deep.equal([]);
      expect(deadLetters).to.have.length(1);
    });

    it('keeps redelivering past maxDeliveries when dead-lettering is disabled', async function () {
      await connected({ retryBackoffMs: 0 });
      const counts: number[] = [];
      await mq.subscribe(
        't',
        async (messages) => {
          counts.push(...messages.map((message) => message.deliveryCount));
          if (counts.length < 4) throw new Error('not yet');
        },
        { group: 'g', autoAck: true, maxDeliveries: 2, deadLetter: { enabled: false } },
      );
      await mq.publish('t', { value: 'stubborn' });
      await waitFor(() => counts.length === 4, 2000, 'four deliveries');
      expect(counts).to.deep.equal([1, 2, 3, 4]);
    });
  });

  describe('lifecycle', function () {
    it('refuses every operation before connect() with PH_ERR_NOT_CONNECTED, and flushes anyway', async function () {
      mq = new MemoryMessageQueue();
      const message: QueueMessage = {
        id: '0-0',
        topic: 't',
        group: 'g',
        partition: 0,
        offset: '0',
        key: undefined,
        value: new Uint8Array(),
        headers: {},
        deliveryCount: 1,
        publishedAt: new Date(),
      };
      const errors = [
        await rejection(mq.publish('t', { value: 'x' })),
        await rejection(mq.publishBatch('t', [{ value: 'x' }])),
        await rejection(mq.subscribe('t', async () => {}, { group: 'g' })),
        await rejection(mq.ack(message)),
        await rejection(mq.nack(message)),
        await rejection(mq.deadLetter(message, 'invalid')),
        await rejection(mq.createTopic('t')),
      ];
      for (const error of errors) expect(isPlatformError(error) ? error.code : error).to.equal('PH_ERR_NOT_CONNECTED');
      expect((errors[0] as Error).message).to.contain('"t"');
      expect(await mq.healthCheck()).to.deep.include({ ok: false });
      expect(await rejection(mq.flush())).to.equal(undefined);
    });

    it('waits in disconnect() for running handlers, lets them acknowledge, then refuses publish', async function () {
      await connected();
      const events: string[] = [];
      const held = gate();
      let started = false;
      await mq.subscribe(
        't',
        async (messages) => {
          started = true;
          await held.promise;
          await mq.ack(messages);
          events.push('handler finished');
        },
        { group: 'g' },
      );
      await mq.publish('t', { value: 'x' });
      await waitFor(() => started, 2000, 'the handler to start');
      const disconnecting = mq.disconnect().then(() => events.push('disconnected'));
      held.open();
      await disconnecting;
      expect(events).to.deep.equal(['handler finished', 'disconnected']);
      const error = await rejection(mq.publish('t', { value: 'late' }));
      expect(isPlatformError(error) ? error.code : error).to.equal('PH_ERR_NOT_CONNECTED');
      expect(await mq.healthCheck()).to.deep.include({ ok: false });
    });

    it('lets a handler close its own subscription without deadlock, and redelivers what it left unacknowledged', async function () {
      await connected();
      let closedFromInside = false;
      const subscription = await mq.subscribe(
        't',
        async () => {
          await subscription.close();
          closedFromInside = true;
        },
        { group: 'g' },
      );
      const id = await mq.publish('t', { value: 'x' });
      await waitFor(() => closedFromInside, 2000, 'the handler to close its subscription');

      const next: QueueMessage[] = [];
      await mq.subscribe('t', async (messages) => void next.push(...messages), { group: 'g', autoAck: true });
      await waitFor(() => next.length === 1, 2000, 'the redelivery');
      expect(next[0]?.id).to.equal(id);
      expect(next[0]?.deliveryCount).to.equal(2);
    });

    it('keeps topics and unacknowledged messages across disconnect() and connect()', async function () {
      await connected();
      const first: string[] = [];
      await mq.subscribe('t', async (messages) => void first.push(...messages.map(text)), { group: 'g' });
      await mq.publish('t', { value: 'unacked' });
      await waitFor(() => first.length === 1, 2000, 'the first delivery');
      await mq.disconnect();
      await mq.connect();

      const again: QueueMessage[] = [];
      await mq.subscribe('t', async (messages) => void again.push(...messages), { group: 'g', autoAck: true });
      await waitFor(() => again.length === 1, 2000, 'the redelivery');
      expect(again[0]?.deliveryCount).to.equal(2);
    });
  });

  describe('adapter entry', function () {
    it('reads the visibility timeout, retention and partition count from its config keys', async function () {
      const created = await adapter.create({
        flag: 'memory',
        config: adapterConfig({
          MQ_MEMORY_VISIBILITY_TIMEOUT_MS: '100',
          MQ_MEMORY_MAX_MESSAGES_PER_TOPIC: '1',
          MQ_MEMORY_DEFAULT_PARTITIONS: '1',
        }),
        environment: {},
        logger: recordingLogger([]),
      });
      if (!(created instanceof MemoryMessageQueue)) throw new Error('the entry did not create a MemoryMessageQueue');
      mq = created;
      await mq.connect();
      await mq.publish('t', { value: 'dropped' });
      await mq.publish('t', { value: 'kept' });
      const received: QueueMessage[] = [];
      await mq.subscribe('t', async (messages) => void received.push(...messages), { group: 'g' });
      await waitFor(
        () => received.some((message) => message.deliveryCount >= 2),
        2000,
        'a redelivery after the visibility timeout',
      );
      expect(new Set(received.map(text))).to.deep.equal(new Set(['kept']));
      expect(new Set(received.map((message) => message.partition))).to.deep.equal(new Set([0]));
    });

    it('refuses a config value below 1 with PH_ERR_CONFIG_INVALID naming the key', function () {
      let caught: unknown;
      try {
        void adapter.create({
          flag: 'memory',
          config: adapterConfig({ MQ_MEMORY_DEFAULT_PARTITIONS: '0' }),
          environment: {},
          logger: recordingLogger([]),
        });
      } catch (error) {
        caught = error;
      }
      expect(isPlatformError(caught) && caught.code).to.equal('PH_ERR_CONFIG_INVALID');
      expect((caught as Error).message).to.contain('MQ_MEMORY_DEFAULT_PARTITIONS');
    });

    it('has a valid manifest for host API 2 that declares every config key the adapter reads', async function () {
      const manifestText = await readFile(new URL('../platform-adapter.json', import.meta.url), 'utf8');
      const manifest = adapterManifestSchema.parse(JSON.parse(manifestText));
      expect(manifest.interface).to.equal('message_queue');
      expect(manifest.flags).to.deep.equal(['memory']);
      expect(manifest.host_api).to.equal('^2.0.0');
      expect(Object.fromEntries(manifest.config.map((key) => [key.env, key.default]))).to.deep.equal({
        MQ_MEMORY_VISIBILITY_TIMEOUT_MS: '30000',
        MQ_MEMORY_MAX_MESSAGES_PER_TOPIC: '100000',
        MQ_MEMORY_DEFAULT_PARTITIONS: String(DEFAULT_PARTITIONS),
      });
      expect(adapter.dependencies).to.have.keys(['logger']);
    });
  });
});
