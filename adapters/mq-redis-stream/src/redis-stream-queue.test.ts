import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { isPlatformError } from '@platform-host/contracts';
import type { AdapterConfig, LogFields, Logger, QueueMessage, Subscription } from '@platform-host/contracts';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import { describeMessageQueueConformance, useRealService, waitFor } from '@platform-host/test-kit';
import adapter, { RedisStreamQueue, describeServer } from './index.js';
import type { RedisStreamQueueOptions } from './index.js';

/** The claim idle time the conformance subject runs with (the suite's visibility timeout). */
const CONFORMANCE_CLAIM_IDLE_MS = 1000;

/**
 * A `describe` whose tests need the real Redis server (the test kit's `useRealService`: the
 * MQ_REDIS_STREAM_URL / CACHE_REDIS_URL server, else a container, else skip — or fail under
 * PLATFORM_TEST_REQUIRE_INFRA=1). Every suite uses its own key prefix and deletes its keys after.
 */
function describeWithRedis(
  title: string,
  body: (settings: () => { url: string; prefix: string; raw: () => Redis }) => void,
): void {
  describe(title, function () {
    const service = useRealService('redis');
    const prefix = `test:${randomUUID().slice(0, 8)}:`;
    let raw: Redis | undefined;
    const url = (): string => {
      const env = service();
      return env.MQ_REDIS_STREAM_URL ?? env.CACHE_REDIS_URL ?? '';
    };
    after(async function () {
      if (raw === undefined) return;
      const keys = await raw.keys(`${prefix}*`);
      if (keys.length > 0) await raw.del(...keys);
      raw.disconnect();
    });
    body(() => ({
      url: url(),
      prefix,
      raw: () => (raw ??= new Redis(url())),
    }));
  });
}

async function connected(options: RedisStreamQueueOptions): Promise<RedisStreamQueue> {
  const queue = new RedisStreamQueue(options);
  await queue.connect();
  return queue;
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

const silentLogger: Logger = {
  debug: (_message: string, _fields?: LogFields) => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
  flush: async () => undefined,
};

describeWithRedis('RedisStreamQueue on a real Redis', (settings) => {
  describeMessageQueueConformance(
    'redis-stream',
    {
      create: () =>
        connected({ url: settings().url, keyPrefix: settings().prefix, claimIdleMs: CONFORMANCE_CLAIM_IDLE_MS }),
      destroy: (queue) => queue.disconnect(),
    },
    {
      deliveryTimeoutMs: 5000,
      redeliveryTimeoutMs: 5000,
      visibilityTimeoutMs: CONFORMANCE_CLAIM_IDLE_MS,
    },
  );

  describe('a consumer process killed with kill -9', function () {
    this.timeout(30_000);

    it('leaves its unacknowledged messages to another consumer of the group, claimed with deliveryCount 2', async function () {
      const { url, prefix, raw } = settings();
      const queue = await connected({ url, keyPrefix: prefix, claimIdleMs: 500 });
      const topic = `kill-${randomUUID().slice(0, 8)}`;
      const group = 'workers';
      let survivor: Subscription | undefined;
      try {
        await queue.createTopic(topic);
        const published = await queue.publishBatch(
          topic,
          Array.from({ length: 5 }, (_, index) => ({ value: `job-${index}` })),
        );

        const child = spawn(
          process.execPath,
          [fileURLToPath(new URL('./crash-consumer.fixture.js', import.meta.url))],
          {
            env: {
              ...process.env,
              MQ_REDIS_STREAM_URL: url,
              CRASH_PREFIX: prefix,
              CRASH_TOPIC: topic,
              CRASH_GROUP: group,
              CRASH_EXPECT: String(published.length),
            },
            stdio: ['ignore', 'pipe', 'inherit'],
          },
        );
        const exited = new Promise<NodeJS.Signals | null>((resolve) =>
          child.once('exit', (_code, signal) => resolve(signal)),
        );
        const lines = createInterface({ input: child.stdout });
        const held = await new Promise<string[]>((resolve, reject) => {
          lines.once('line', (line) => resolve((JSON.parse(line) as { held: string[] }).held));
          child.once('exit', () => reject(new Error('the consumer process exited before it held the messages')));
        });
        expect([...held].sort()).to.deep.equal([...published].sort());
        const [pendingBefore, , , consumers] = (await raw().xpending(queue.streamKey(topic), group)) as [
          number,
          string,
          string,
          Array<[string, string]>,
        ];
        expect(pendingBefore, 'pending before the kill').to.equal(5);
        expect(consumers, 'holders before the kill').to.deep.equal([['doomed', '5']]);

        child.kill('SIGKILL');
        expect(await exited, 'how the consumer process ended').to.equal('SIGKILL');

        const received: QueueMessage[] = [];
        survivor = await queue.subscribe(
          topic,
          async (messages) => {
            received.push(...messages);
            await queue.ack(messages);
          },
          { group, consumer: 'survivor' },
        );
        await waitFor(() => received.length >= 5, 10_000, 'the survivor to claim the five messages');
        expect(received.map((message) => message.id).sort()).to.deep.equal([...published].sort());
        expect(received.map((message) => message.deliveryCount)).to.deep.equal([2, 2, 2, 2, 2]);
        const [pendingAfter] = (await raw().xpending(queue.streamKey(topic), group)) as [number];
        expect(pendingAfter, 'pending after the survivor acknowledged').to.equal(0);
        console.log(
          `      kill -9: the killed consumer held ${held.length} unacknowledged (XPENDING ${pendingBefore}); ` +
            `the survivor claimed ${received.length} via XAUTOCLAIM with deliveryCount ${received.map((message) => message.deliveryCount).join(',')}; pending after ack ${pendingAfter}`,
        );
      } finally {
        await survivor?.close();
        await queue.disconnect();
      }
    });

    it('delivers an entry whose read reply came while the event loop was blocked past the read timeout', async function () {
      const { url, prefix, raw } = settings();
      // No claim during the test: the entry must come from the read itself, not 10 minutes later.
      const queue = await connected({ url, keyPrefix: prefix, claimIdleMs: 600_000 });
      const topic = `stalled-${randomUUID().slice(0, 8)}`;
      const key = queue.streamKey(topic);
      let subscription: Subscription | undefined;
      try {
        await queue.createTopic(topic);
        const received: QueueMessage[] = [];
        subscription = await queue.subscribe(
          topic,
          async (messages) => {
            received.push(...messages);
            await queue.ack(messages);
          },
          { group: 'workers', consumer: 'stalled' },
        );
        const blockedInRead = async (): Promise<boolean> =>
          String(await raw().client('LIST'))
            .split('\n')
            .some(
              (line) =>
                line.includes('name=platform-mq:stalled') &&
                line.includes('cmd=xreadgroup') &&
                / flags=\S*b/.test(line),
            );
        await waitFor(blockedInRead, 10_000, 'the subscription blocked in XREADGROUP');
        // Another process publishes while this one's event loop is blocked for longer than the
        // read's BLOCK (at most 1 s) plus the client-side grace: the server hands the entry to the
        // blocked read (it is now pending for this consumer) and the reply waits in the socket
        // until the client-side timeout of the read has fired.
        const blockedAt = Date.now();
        const published = spawnSync('redis-cli', ['-u', url, 'XADD', key, '*', 'value', 'stalled'], {
          encoding: 'utf8',
        });
        expect(published.status, published.stderr).to.equal(0);
        while (Date.now() - blockedAt < 2_000) {
          // a starved worker: nothing else runs
        }
        await waitFor(() => received.length === 1, 10_000, 'the entry read while the event loop was blocked');
        expect(received.map((message) => [message.id, message.deliveryCount])).to.deep.equal([
          [published.stdout.trim(), 1],
        ]);
      } finally {
        await subscription?.close();
        await queue.disconnect();
      }
    });

    it('takes back an entry the server handed to its read when the reply was lost, although the read returned empty within BLOCK + grace', async function () {
      const { url, prefix, raw } = settings();
      // No claim during the test: the entry must come from the read path, not 10 minutes later.
      const queue = await connected({ url, keyPrefix: prefix, claimIdleMs: 600_000 });
      const topic = `lost-reply-${randomUUID().slice(0, 8)}`;
      const key = queue.streamKey(topic);
      let subscription: Subscription | undefined;
      try {
        await queue.createTopic(topic);
        const received: QueueMessage[] = [];
        subscription = await queue.subscribe(
          topic,
          async (messages) => {
            received.push(...messages);
            await queue.ack(messages);
          },
          { group: 'workers', consumer: 'lossy' },
        );
        await waitFor(
          async () =>
            String(await raw().client('LIST'))
              .split('\n')
              .some((line) => line.includes('name=platform-mq:lossy') && line.includes('cmd=xreadgroup')),
          10_000,
          'the subscription reading',
        );
        // What a reply lost to ioredis's client-side bound leaves behind: the entry is pending for
        // this consumer (delivered once), and its own read returns empty. ioredis starts that bound
        // from the event loop's cached time, so after a long synchronous stretch it fires before
        // BLOCK + grace have passed by the wall clock: an elapsed-time test cannot see the loss.
        // MULTI runs the XADD and the read as this consumer before the blocked read is served.
        const [[, id], [, reply]] = ((await raw()
          .multi()
          .xadd(key, '*', 'value', 'lost')
          .xreadgroup('GROUP', 'workers', 'lossy', 'COUNT', 10, 'STREAMS', key, '>')
          .exec()) ?? []) as [[unknown, string], [unknown, unknown]];
        expect(JSON.stringify(reply), 'the entry handed to the consumer').to.include(id);
        await waitFor(() => received.length === 1, 10_000, 'the lost entry delivered by the subscription');
        expect(received.map((message) => [message.id, message.deliveryCount])).to.deep.equal([[id, 1]]);
      } finally {
        await subscription?.close();
        await queue.disconnect();
      }
    });

    it('reports deliveryCount 2 for every claimed entry, also when its own pending entries lie between their ids', async function () {
      const { url, prefix, raw } = settings();
      const queue = await connected({ url, keyPrefix: prefix, claimIdleMs: 60_000 });
      const topic = `interleaved-${randomUUID().slice(0, 8)}`;
      const group = 'workers';
      const key = queue.streamKey(topic);
      let survivor: Subscription | undefined;
      try {
        await queue.createTopic(topic);
        const [first, middle, last] = await queue.publishBatch(topic, [{ value: 'a' }, { value: 'b' }, { value: 'c' }]);
        await raw().xgroup('CREATE', key, group, '0');
        // A consumer that is gone read the first and the last entry (long idle: claimable); the
        // survivor itself holds the middle one (just delivered: not claimable).
        await raw().xreadgroup('GROUP', group, 'gone', 'COUNT', 3, 'STREAMS', key, '>');
        await raw().xclaim(key, group, 'gone', 0, String(first), String(last), 'IDLE', 600_000, 'JUSTID');
        await raw().xclaim(key, group, 'survivor', 0, String(middle), 'IDLE', 0, 'JUSTID');
        const received: QueueMessage[] = [];
        survivor = await queue.subscribe(
          topic,
          async (messages) => {
            received.push(...messages);
            await queue.ack(messages);
          },
          { group, consumer: 'survivor' },
        );
        await waitFor(() => received.length >= 2, 10_000, 'the survivor to claim the two idle entries');
        expect(received.map((message) => [message.id, message.deliveryCount])).to.deep.equal([
          [first, 2],
          [last, 2],
        ]);
      } finally {
        await survivor?.close();
        await queue.disconnect();
      }
    });
  });

  describe('dead letters of its own', function () {
    this.timeout(30_000);

    it('reports each max_deliveries dead letter to onDeadLetter, a failed one (the dead-letter key is no stream) with its error, and keeps the message', async function () {
      const { url, prefix, raw } = settings();
      const queue = await connected({ url, keyPrefix: prefix, claimIdleMs: 200 });
      const topic = `own-dead-${randomUUID().slice(0, 8)}`;
      const outcomes: string[] = [];
      const deliveries: number[] = [];
      let subscription: Subscription | undefined;
      try {
        await queue.createTopic(topic);
        // A string where the dead-letter stream should be: XADD to it fails (WRONGTYPE).
        await raw().set(`${prefix}${topic}.dead-letter`, 'not a stream');
        subscription = await queue.subscribe(
          topic,
          async (messages) => {
            deliveries.push(...messages.map((message) => message.deliveryCount));
            throw new Error('poison');
          },
          {
            group: 'workers',
            maxDeliveries: 2,
            onDeadLetter: (_message, reason, outcome) =>
              void outcomes.push(
                `${reason}:${outcome.published ? 'published' : String((outcome.error as Error).message).split(' ')[0]}`,
              ),
          },
        );
        await queue.publish(topic, { value: 'poison' });
        await waitFor(() => outcomes.length >= 1, 10_000, 'a failed dead letter reported');
        expect(outcomes[0]).to.equal('max_deliveries:WRONGTYPE');
        // Once the dead-letter stream can be written, the next attempt is published and reported.
        await raw().del(`${prefix}${topic}.dead-letter`);
        await waitFor(
          () => outcomes.includes('max_deliveries:published'),
          10_000,
          'the published dead letter reported',
        ).catch((error: unknown) => {
          throw new Error(`${String(error)} ${JSON.stringify({ outcomes, deliveries })}`);
        });
        expect(deliveries.slice(0, 2)).to.deep.equal([1, 2]);
        expect(await raw().xlen(`${prefix}${topic}.dead-letter`)).to.equal(1);
      } finally {
        await subscription?.close();
        await queue.disconnect();
      }
    });
  });

  describe('exclusiveUntil', function () {
    this.timeout(30_000);

    it('no other consumer of the group is handed a held entry before the exclusiveUntil of the holder’s copy', async function () {
      const { url, prefix } = settings();
      const claimIdleMs = 400;
      const queue = await connected({ url, keyPrefix: prefix, claimIdleMs });
      const topic = `exclusive-${randomUUID().slice(0, 8)}`;
      const group = 'workers';
      const held: Array<{ message: QueueMessage; receivedAt: number; before: number }> = [];
      const claimed: Array<{ message: QueueMessage; receivedAt: number }> = [];
      let holder: Subscription | undefined;
      let other: Subscription | undefined;
      let release = (): void => undefined;
      const released = new Promise<void>((resolve) => (release = resolve));
      try {
        await queue.createTopic(topic);
        const published = await queue.publishBatch(
          topic,
          Array.from({ length: 3 }, (_, index) => ({ value: `job-${index}` })),
        );
        const subscribedAt = performance.now();
        // The holder never acknowledges: its entries become claimable once idle for claimIdleMs.
        holder = await queue.subscribe(
          topic,
          async (messages) => {
            for (const message of messages) held.push({ message, receivedAt: performance.now(), before: subscribedAt });
            await released;
          },
          { group, consumer: 'holder', maxInFlight: 3 },
        );
        await waitFor(() => held.length >= 3, 10_000, 'the holder to receive the three entries');
        const otherSubscribedAt = performance.now();
        other = await queue.subscribe(
          topic,
          async (messages) => {
            for (const message of messages) claimed.push({ message, receivedAt: performance.now() });
            await queue.ack(messages);
          },
          { group, consumer: 'other' },
        );
        await waitFor(() => claimed.length >= 3, 10_000, 'the other consumer to claim the three entries');
        for (const { message, receivedAt, before } of held) {
          expect(message.deliveryCount).to.equal(1);
          // Set from the moment the read was sent: not before the subscription, not after receipt.
          expect(message.exclusiveUntil).to.be.within(before + claimIdleMs, receivedAt + claimIdleMs);
          const copy = claimed.find((entry) => entry.message.id === message.id);
          expect(copy, `the claimed copy of ${message.id}`).to.not.equal(undefined);
          expect(copy?.message.deliveryCount).to.equal(2);
          expect(copy?.receivedAt, 'the claim came after the holder’s exclusivity').to.be.at.least(
            message.exclusiveUntil ?? Number.POSITIVE_INFINITY,
          );
          expect(copy?.message.exclusiveUntil).to.be.within(
            otherSubscribedAt + claimIdleMs,
            (copy?.receivedAt ?? 0) + claimIdleMs,
          );
        }
        expect(held.map((entry) => entry.message.id).sort()).to.deep.equal([...published].sort());
      } finally {
        release();
        await other?.close();
        await holder?.close();
        await queue.disconnect();
      }
    });
  });

  describe('trimming', function () {
    this.timeout(30_000);

    it('trims to about the max length only what every group acknowledged, never a lagging group pending or unread entry', async function () {
      const { url, prefix, raw } = settings();
      const queue = await connected({ url, keyPrefix: prefix, claimIdleMs: 60_000, maxLength: 10 });
      const topic = `trim-${randomUUID().slice(0, 8)}`;
      const key = queue.streamKey(topic);
      const subscriptions: Subscription[] = [];
      try {
        await queue.createTopic(topic);
        let lagAcks = false;
        const lagging: QueueMessage[] = [];
        const lag = await queue.subscribe(
          topic,
          async (messages) => {
            lagging.push(...messages);
            if (lagAcks) await queue.ack(messages);
          },
          { group: 'lagging', maxInFlight: 20, maxBatchSize: 20 },
        );
        subscriptions.push(lag);
        const fast = new Set<string>();
        subscriptions.push(
          await queue.subscribe(topic, async (messages) => void messages.forEach((message) => fast.add(message.id)), {
            group: 'fast',
            autoAck: true,
          }),
        );
        const values = (count: number, from: number): Array<{ value: string }> =>
          Array.from({ length: count }, (_, index) => ({ value: `m-${from + index}` }));

        await queue.publishBatch(topic, values(20, 0));
        await waitFor(() => lagging.length === 20, 5000, 'the lagging group to hold 20');
        for (let batch = 0; batch < 6; batch++) await queue.publishBatch(topic, values(50, 20 + batch * 50));
        await waitFor(() => fast.size === 320, 5000, 'the fast group to acknowledge 320');
        await queue.publishBatch(topic, values(1, 320));
        const lengthWhileLagging = await raw().xlen(key);
        expect(lengthWhileLagging, 'entries kept while the lagging group holds the oldest ones').to.equal(321);

        // The lagging group acknowledges what it held; it is now behind by 301 unread entries.
        lag.pause();
        await queue.ack(lagging);
        await queue.publishBatch(topic, values(1, 321));
        const unread = await raw().xrange(key, `(${lagging[lagging.length - 1]?.id ?? '0-0'}`, '+');
        expect(unread.length, 'entries after the lagging group position').to.equal(302);

        lagAcks = true;
        lag.resume();
        await waitFor(
          () => new Set(lagging.map((message) => message.id)).size === 322,
          5000,
          'the lagging group to catch up',
        );
        await waitFor(() => fast.size === 322, 5000, 'the fast group to catch up');
        await queue.publishBatch(topic, values(300, 322));
        const lengthAfterCatchUp = await raw().xlen(key);
        expect(lengthAfterCatchUp, 'entries kept once every group acknowledged the first 322').to.be.lessThan(422);
        expect(lengthAfterCatchUp).to.be.at.least(10);
        console.log(
          `      trimming (max length 10): ${lengthWhileLagging} entries kept while a group held the oldest 20, ` +
            `${unread.length} unread by it kept after it acknowledged them, ${lengthAfterCatchUp} of 622 left once every group had acknowledged`,
        );
      } finally {
        await Promise.allSettled(subscriptions.map((subscription) => subscription.close()));
        await queue.disconnect();
      }
    });
  });

  describe('connection handling', function () {
    it('goes on delivering after the server drops the subscription connection in the middle of a blocking read', async function () {
      this.timeout(20_000);
      const { url, prefix, raw } = settings();
      const queue = await connected({ url, keyPrefix: prefix, claimIdleMs: 60_000 });
      const topic = `reconnect-${randomUUID().slice(0, 8)}`;
      const consumer = `reconnect-${randomUUID().slice(0, 8)}`;
      const received: string[] = [];
      const subscription = await queue.subscribe(
        topic,
        async (messages) => {
          received.push(...messages.map((message) => new TextDecoder().decode(message.value)));
          await queue.ack(messages);
        },
        { group: 'reconnecting', consumer },
      );
      try {
        await queue.publish(topic, { value: 'before' });
        await waitFor(() => received.includes('before'), 5000, 'the first message');
        const clients = String(await raw().client('LIST')).split('\n');
        const line = clients.find((client) => client.includes(`name=platform-mq:${consumer} `));
        const id = /(?:^|\s)id=(\d+)/.exec(line ?? '')?.[1];
        if (id === undefined) throw new Error('the subscription connection is not in CLIENT LIST');
        expect(await raw().client('KILL', 'ID', id), 'clients killed').to.equal(1);
        await queue.publish(topic, { value: 'after' });
        await waitFor(
          () => received.includes('after'),
          10_000,
          'the message published after the connection was dropped',
        );
        expect(received).to.deep.equal(['before', 'after']);
      } finally {
        await subscription.close();
        await queue.disconnect();
      }
    });

    it('reports a server that does not answer as PH_ERR_CONNECT naming host and port, never the password', async function () {
      const queue = new RedisStreamQueue({ url: 'redis://:s3cret-pass@127.0.0.1:1/0', connectTimeoutMs: 1000 });
      const error = await queue.connect().then(
        () => undefined,
        (rejection: unknown) => rejection,
      );
      expect(isPlatformError(error) ? error.code : error).to.equal('PH_ERR_CONNECT');
      expect((error as Error).message)
        .to.contain('127.0.0.1:1/0')
        .and.not.contain('s3cret-pass');
      const health = await queue.healthCheck();
      expect(health.ok).to.equal(false);
      await queue.disconnect();
    });
  });
});

describe('mq-redis-stream adapter package', function () {
  it('has a valid manifest that declares every config key the adapter reads', async function () {
    const text = await readFile(new URL('../platform-adapter.json', import.meta.url), 'utf8');
    const manifest = adapterManifestSchema.parse(JSON.parse(text));
    expect(manifest.interface).to.equal('message_queue');
    expect(manifest.flags).to.deep.equal(['redis-stream']);
    expect(manifest.config.map((entry) => entry.env)).to.deep.equal([
      'MQ_REDIS_STREAM_URL',
      'MQ_REDIS_STREAM_KEY_PREFIX',
      'MQ_REDIS_STREAM_CLAIM_IDLE_MS',
      'MQ_REDIS_STREAM_MAX_LENGTH',
      'MQ_REDIS_STREAM_CONNECT_TIMEOUT_MS',
    ]);
    const url = manifest.config.find((entry) => entry.env === 'MQ_REDIS_STREAM_URL');
    expect(url).to.include({ required: true, secret: true, format: 'url' });
    expect(manifest.config.find((entry) => entry.env === 'MQ_REDIS_STREAM_CLAIM_IDLE_MS')).to.include({
      default: '30000',
      format: 'integer',
    });
  });

  it('creates the queue from its config and refuses a claim idle time below 1', async function () {
    const created = await adapter.create({
      flag: 'redis-stream',
      config: adapterConfig({ MQ_REDIS_STREAM_URL: 'redis://127.0.0.1:6379/1' }),
      environment: {},
      logger: silentLogger,
    });
    expect(created).to.be.instanceOf(RedisStreamQueue);
    expect(created.capabilities).to.deep.equal({ orderedByKey: false, partitioned: false, delayedRedelivery: true });
    let caught: unknown;
    try {
      await adapter.create({
        flag: 'redis-stream',
        config: adapterConfig({ MQ_REDIS_STREAM_URL: 'redis://127.0.0.1:6379/1', MQ_REDIS_STREAM_CLAIM_IDLE_MS: '0' }),
        environment: {},
        logger: silentLogger,
      });
    } catch (error) {
      caught = error;
    }
    expect(isPlatformError(caught) && caught.code).to.equal('PH_ERR_CONFIG_INVALID');
    expect((caught as Error).message).to.contain('MQ_REDIS_STREAM_CLAIM_IDLE_MS');
  });

  it('describes a server without its credentials', function () {
    expect(describeServer('redis://user:hunter2@cache.internal:6380/3')).to.equal('cache.internal:6380/3');
    expect(describeServer('redis://localhost')).to.equal('localhost:6379/0');
  });
});
