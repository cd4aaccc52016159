import { readFile } from 'node:fs/promises';
import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import type { AdapterConfig, AdapterDeps, LogFields, Logger, QueueMessage } from '@platform-host/contracts';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import { describeMessageQueueConformance, waitFor } from '@platform-host/test-kit';
import adapter, { MemoryMessageQueue } from './index.js';
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

function recordingLogger(entries: Array<{ level: string; message: string; fields: LogFields | undefined }>): Logger {
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

function adapterDeps(values: Record<string, string>): AdapterDeps {
  const config: AdapterConfig = {
    get: (key) => values[key],
    require: (key) => values[key] ?? '',
    integer: (key, fallback) => {
      const value = values[key];
      return value === undefined ? fallback : Number.parseInt(value, 10);
    },
  };
  return { flag: 'memory', config, secrets: undefined, logger: undefined, environment: {} };
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

  describe('groups and retention', function () {
    it('starts a group created after publishing at the earliest retained message', async function () {
      await connected();
      await mq.publish('orders', { value: 'early-1' });
      await mq.publish('orders', { value: 'early-2' });
      const received: string[] = [];
      await mq.subscribe('orders', async (message) => void received.push(text(message)), {
        group: 'late',
        autoAck: true,
      });
      await waitFor(() => received.length === 2, 2000, 'the earlier messages');
      expect(received).to.deep.equal(['early-1', 'early-2']);
    });

    it('drops the oldest messages beyond maxMessagesPerTopic', async function () {
      await connected({ maxMessagesPerTopic: 3 });
      for (let index = 0; index < 5; index++) await mq.publish('t', { value: `m-${index}` });
      const received: string[] = [];
      await mq.subscribe('t', async (message) => void received.push(text(message)), { group: 'g', autoAck: true });
      await waitFor(() => received.length === 3, 2000, 'the retained messages');
      expect(received).to.deep.equal(['m-2', 'm-3', 'm-4']);
    });

    it('does not redeliver a pending message that retention dropped', async function () {
      await connected({ maxMessagesPerTopic: 2 });
      const first: string[] = [];
      const subscription = await mq.subscribe('t', async (message) => void first.push(text(message)), { group: 'g' });
      await mq.publish('t', { value: 'm-0' });
      await waitFor(() => first.length === 1, 2000, 'the first delivery');
      await subscription.close();
      await mq.publish('t', { value: 'm-1' });
      await mq.publish('t', { value: 'm-2' });

      const second: string[] = [];
      await mq.subscribe('t', async (message) => void second.push(text(message)), { group: 'g', autoAck: true });
      await waitFor(() => second.includes('m-2'), 2000, 'the newest message');
      expect(second).to.deep.equal(['m-1', 'm-2']);
    });

    it('hands the messages of a group to its subscriptions in turn', async function () {
      await connected();
      const byConsumer: Record<string, string[]> = { a: [], b: [] };
      for (const consumer of ['a', 'b']) {
        await mq.subscribe('t', async (message) => void byConsumer[consumer]?.push(text(message)), {
          group: 'g',
          consumer,
          autoAck: true,
        });
      }
      for (let index = 0; index < 10; index++) await mq.publish('t', { value: `m-${index}` });
      await waitFor(() => (byConsumer.a?.length ?? 0) + (byConsumer.b?.length ?? 0) === 10, 2000, 'ten deliveries');
      expect(byConsumer.a).to.have.length(5);
      expect(byConsumer.b).to.have.length(5);
    });

    it('redelivers a failed message before newer ones', async function () {
      await connected({ retryBackoffMs: 0 });
      const received: string[] = [];
      await mq.subscribe(
        't',
        async (message) => {
          received.push(`${text(message)}#${message.deliveryCount}`);
          if (text(message) === 'm-0' && message.deliveryCount === 1) throw new Error('fail once');
        },
        { group: 'g', autoAck: true },
      );
      await mq.publish('t', { value: 'm-0' });
      await waitFor(() => received.length === 2, 2000, 'the redelivery');
      await mq.publish('t', { value: 'm-1' });
      await waitFor(() => received.length === 3, 2000, 'the next message');
      expect(received).to.deep.equal(['m-0#1', 'm-0#2', 'm-1#1']);
    });
  });

  describe('delivery', function () {
    it("never runs a handler inside publish()'s call stack", async function () {
      await connected();
      let publishing = false;
      const seenWhilePublishing: boolean[] = [];
      await mq.subscribe('t', async () => void seenWhilePublishing.push(publishing), { group: 'g', autoAck: true });
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
      await mq.subscribe('t', async (message) => void received.push(message), { group: 'g', autoAck: true });
      const buffer = Uint8Array.from([1, 2, 3]);
      await mq.publish('t', { value: buffer });
      buffer[0] = 99;
      await waitFor(() => received.length === 1, 2000, 'the delivery');
      expect(Array.from(received[0]?.value ?? [])).to.deep.equal([1, 2, 3]);
    });

    it('logs a warning naming topic, group and message when a handler throws', async function () {
      const entries: Array<{ level: string; message: string; fields: LogFields | undefined }> = [];
      await connected({ logger: recordingLogger(entries), retryBackoffMs: 0 });
      const received: QueueMessage[] = [];
      await mq.subscribe(
        'audit',
        async (message) => {
          received.push(message);
          if (message.deliveryCount === 1) throw new Error('database is down');
        },
        { group: 'auditors', autoAck: true },
      );
      const id = await mq.publish('audit', { value: 'x' });
      await waitFor(() => received.length === 2, 2000, 'the redelivery');
      expect(entries).to.have.length(1);
      expect(entries[0]?.level).to.equal('warn');
      expect(entries[0]?.fields).to.include({
        topic: 'audit',
        group: 'auditors',
        messageId: id,
        deliveryCount: 1,
        error: 'database is down',
      });
    });
  });

  describe('lifecycle', function () {
    it('refuses every operation before connect() with PH_ERR_NOT_CONNECTED', async function () {
      mq = new MemoryMessageQueue();
      const message: QueueMessage = {
        id: '0',
        topic: 't',
        group: 'g',
        key: undefined,
        value: new Uint8Array(),
        headers: {},
        deliveryCount: 1,
        publishedAt: new Date(),
      };
      const errors = [
        await rejection(mq.publish('t', { value: 'x' })),
        await rejection(mq.subscribe('t', async () => {}, { group: 'g' })),
        await rejection(mq.ack(message)),
        await rejection(mq.createTopic('t')),
      ];
      for (const error of errors) expect(isPlatformError(error) ? error.code : error).to.equal('PH_ERR_NOT_CONNECTED');
      expect((errors[0] as Error).message).to.contain('"t"');
      expect(await mq.healthCheck()).to.deep.include({ ok: false });
    });

    it('waits in subscription.close() for the running handler, which may still acknowledge', async function () {
      await connected();
      const events: string[] = [];
      const held = gate();
      let started = false;
      const subscription = await mq.subscribe(
        't',
        async (message) => {
          started = true;
          await held.promise;
          await mq.ack(message);
          events.push('handler finished');
        },
        { group: 'g' },
      );
      await mq.publish('t', { value: 'x' });
      await waitFor(() => started, 2000, 'the handler to start');
      const closing = subscription.close().then(() => events.push('closed'));
      held.open();
      await closing;
      expect(events).to.deep.equal(['handler finished', 'closed']);

      const next: string[] = [];
      await mq.subscribe('t', async (message) => void next.push(text(message)), { group: 'g', autoAck: true });
      await mq.publish('t', { value: 'marker' });
      await waitFor(() => next.includes('marker'), 2000, 'the marker');
      expect(next).to.deep.equal(['marker']);
    });

    it('waits in disconnect() for running handlers, lets them acknowledge, then refuses publish', async function () {
      await connected();
      const events: string[] = [];
      const held = gate();
      let started = false;
      await mq.subscribe(
        't',
        async (message) => {
          started = true;
          await held.promise;
          await mq.ack(message);
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
      await mq.subscribe('t', async (message) => void next.push(message), { group: 'g', autoAck: true });
      await waitFor(() => next.length === 1, 2000, 'the redelivery');
      expect(next[0]?.id).to.equal(id);
      expect(next[0]?.deliveryCount).to.equal(2);
    });

    it('keeps topics and pending messages across disconnect() and connect()', async function () {
      await connected();
      const first: string[] = [];
      await mq.subscribe('t', async (message) => void first.push(text(message)), { group: 'g' });
      await mq.publish('t', { value: 'unacked' });
      await waitFor(() => first.length === 1, 2000, 'the first delivery');
      await mq.disconnect();
      await mq.connect();

      const again: QueueMessage[] = [];
      await mq.subscribe('t', async (message) => void again.push(message), { group: 'g', autoAck: true });
      await waitFor(() => again.length === 1, 2000, 'the redelivery');
      expect(again[0]?.deliveryCount).to.equal(2);
    });
  });

  describe('adapter entry', function () {
    it('reads the visibility timeout and retention from its config keys', async function () {
      const created = await adapter.create(
        adapterDeps({ MQ_MEMORY_VISIBILITY_TIMEOUT_MS: '100', MQ_MEMORY_MAX_MESSAGES_PER_TOPIC: '1' }),
      );
      if (!(created instanceof MemoryMessageQueue)) throw new Error('the entry did not create a MemoryMessageQueue');
      mq = created;
      await mq.connect();
      await mq.publish('t', { value: 'dropped' });
      await mq.publish('t', { value: 'kept' });
      const received: QueueMessage[] = [];
      await mq.subscribe('t', async (message) => void received.push(message), { group: 'g' });
      await waitFor(
        () => received.some((message) => message.deliveryCount >= 2),
        2000,
        'a redelivery after the visibility timeout',
      );
      expect(new Set(received.map(text))).to.deep.equal(new Set(['kept']));
    });

    it('refuses a config value below 1 with PH_ERR_CONFIG_INVALID naming the key', function () {
      let caught: unknown;
      try {
        void adapter.create(adapterDeps({ MQ_MEMORY_MAX_MESSAGES_PER_TOPIC: '0' }));
      } catch (error) {
        caught = error;
      }
      expect(isPlatformError(caught) && caught.code).to.equal('PH_ERR_CONFIG_INVALID');
      expect((caught as Error).message).to.contain('MQ_MEMORY_MAX_MESSAGES_PER_TOPIC');
    });

    it('has a valid manifest that declares every config key the adapter reads', async function () {
      const manifestText = await readFile(new URL('../platform-adapter.json', import.meta.url), 'utf8');
      const manifest = adapterManifestSchema.parse(JSON.parse(manifestText));
      expect(manifest.interface).to.equal('message_queue');
      expect(manifest.flags).to.deep.equal(['memory']);
      expect(Object.fromEntries(manifest.config.map((key) => [key.env, key.default]))).to.deep.equal({
        MQ_MEMORY_VISIBILITY_TIMEOUT_MS: '30000',
        MQ_MEMORY_MAX_MESSAGES_PER_TOPIC: '100000',
      });
    });
  });
});
