import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { DEAD_LETTER_HEADERS, MAX_DELIVERIES_REASON, deadLetterTopic, isPlatformError } from '@platform-host/contracts';
import type { QueueMessage, Subscription } from '@platform-host/contracts';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import {
  RecordingLogger,
  adapterContextForTest,
  describeMessageQueueConformance,
  useRealService,
  waitFor,
} from '@platform-host/test-kit';
import { MAX_SLAB_COPY } from './byte-slabs.js';
import adapter, { KafkaQueue } from './index.js';
import { TEST_SESSION_TIMEOUT_MS, connectedQueue, deleteTopics, uniqueTopic } from './kafka-test-support.js';
import type { TrackingKafkaQueue } from './kafka-test-support.js';

const text = (message: QueueMessage): string => new TextDecoder().decode(message.value);

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected the call to be rejected, but it resolved'),
    (rejection: unknown) => rejection,
  );
}

describe('KafkaQueue on a real Kafka', function () {
  const service = useRealService('kafka');
  const brokers = (): string => service().MQ_KAFKA_BOOTSTRAP_SERVERS ?? '';
  const queues: TrackingKafkaQueue[] = [];
  async function queue(): Promise<TrackingKafkaQueue> {
    const created = await connectedQueue(brokers());
    queues.push(created);
    return created;
  }
  after(async function () {
    this.timeout(30_000);
    const topics = queues.flatMap((created) => [...created.createdTopics]);
    await Promise.allSettled(queues.map((created) => created.disconnect()));
    if (topics.length > 0) await deleteTopics(brokers(), topics);
  });

  describeMessageQueueConformance(
    'kafka',
    { create: () => queue(), destroy: (created) => created.disconnect() },
    {
      deliveryTimeoutMs: 10_000,
      // A closed consumer leaves the group at once; redelivery waits for the rebalance only.
      redeliveryTimeoutMs: 10_000,
      rebalanceTimeoutMs: 15_000,
      // librdkafka joins a rebalance on its next group timer tick (up to 1 s after the heartbeat).
      joinSettleMs: 1500,
    },
  );

  describe('a consumer process killed with kill -9', function () {
    this.timeout(60_000);

    it('leaves its unacknowledged messages to another consumer of the group, through a rebalance', async function () {
      const mq = await queue();
      const topic = uniqueTopic('kill');
      const group = `${topic}-workers`;
      let survivor: Subscription | undefined;
      try {
        // One partition: the survivor gets it only when the doomed consumer's session ends.
        await mq.createTopic(topic, { partitions: 1 });
        const published = await mq.publishBatch(
          topic,
          Array.from({ length: 6 }, (_, index) => ({ key: `job-${index}`, value: `job-${index}` })),
        );
        const child = spawn(
          process.execPath,
          [fileURLToPath(new URL('./crash-consumer.fixture.js', import.meta.url))],
          {
            env: {
              ...process.env,
              MQ_KAFKA_BOOTSTRAP_SERVERS: brokers(),
              CRASH_TOPIC: topic,
              CRASH_GROUP: group,
              CRASH_EXPECT: String(published.length),
              CRASH_SESSION_TIMEOUT_MS: String(TEST_SESSION_TIMEOUT_MS),
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
        expect([...held].sort(), 'held by the doomed consumer').to.deep.equal([...published].sort());

        // The survivor joins while the doomed consumer owns the partition: it gets nothing until the
        // kill ends that consumer's session.
        const received: QueueMessage[] = [];
        const assigned: number[] = [];
        survivor = await mq.subscribe(
          topic,
          async (messages) => {
            received.push(...messages);
            await mq.ack(messages);
          },
          {
            group,
            consumer: 'survivor',
            onAssigned: (partitions) => void assigned.push(...partitions.map((p) => p.partition)),
          },
        );
        expect(received, 'delivered to the survivor while the doomed consumer lives').to.deep.equal([]);
        const killedAt = Date.now();
        child.kill('SIGKILL');
        expect(await exited, 'how the consumer process ended').to.equal('SIGKILL');

        await waitFor(() => received.length >= 6, 30_000, 'the survivor to receive the six messages');
        const afterMs = Date.now() - killedAt;
        expect(received.map((message) => message.id).sort()).to.deep.equal([...published].sort());
        expect([...assigned].sort(), 'partitions the survivor was assigned').to.deep.equal([0]);
        // Another process delivered them first; Kafka keeps no delivery count (see the README).
        expect(received.map((message) => message.deliveryCount)).to.deep.equal([1, 1, 1, 1, 1, 1]);
        console.log(
          `      kill -9: the killed consumer held ${held.length} unacknowledged; the survivor was assigned partitions ` +
            `${[...assigned].sort().join(',')} by the rebalance after the session timeout (${TEST_SESSION_TIMEOUT_MS} ms) ` +
            `and received ${received.length} of them ${afterMs} ms after the kill`,
        );
      } finally {
        await survivor?.close();
      }
    });
  });

  describe('consumers of one group', function () {
    this.timeout(60_000);

    it('splits a topic between two consumers, then hands partitions over, with no message lost or handled twice', async function () {
      const mq = await queue();
      const topic = uniqueTopic('split');
      const group = `${topic}-group`;
      await mq.createTopic(topic, { partitions: 4 });
      const handled = new Map<string, number>();
      const byConsumer = { a: new Set<number>(), b: new Set<number>() };
      const assignedTo = { a: 0, b: 0 };
      const subscribe = (name: 'a' | 'b'): Promise<Subscription> =>
        mq.subscribe(
          topic,
          async (messages) => {
            for (const message of messages) {
              handled.set(message.id, (handled.get(message.id) ?? 0) + 1);
              if (message.partition !== undefined) byConsumer[name].add(message.partition);
            }
            await mq.ack(messages);
          },
          {
            group,
            consumer: name,
            maxBatchSize: 20,
            onAssigned: (partitions) => void (assignedTo[name] += partitions.length),
          },
        );
      const a = await subscribe('a');
      const b = await subscribe('b');
      try {
        // subscribe() resolves after the first rebalance, which with cooperative-sticky gives b
        // nothing yet (a revokes first): published now, a could take all of it before b is assigned.
        await waitFor(() => assignedTo.b > 0, 20_000, 'b to be assigned partitions');
        const first = await mq.publishBatch(
          topic,
          Array.from({ length: 400 }, (_, index) => ({ key: `key-${index}`, value: `first-${index}` })),
        );
        await waitFor(() => first.every((id) => handled.has(id)), 20_000, 'the group to handle the first 400');
        expect(byConsumer.a.size, 'partitions a received').to.be.greaterThan(0);
        expect(byConsumer.b.size, 'partitions b received').to.be.greaterThan(0);
        expect(
          [...byConsumer.a].filter((partition) => byConsumer.b.has(partition)),
          'shared partitions',
        ).to.deep.equal([]);

        // b leaves: its partitions move to a, from b's committed positions.
        await b.close();
        const second = await mq.publishBatch(
          topic,
          Array.from({ length: 200 }, (_, index) => ({ key: `key-${index}`, value: `second-${index}` })),
        );
        await waitFor(() => second.every((id) => handled.has(id)), 20_000, 'a to handle the next 200');
        const twice = [...handled].filter(([, count]) => count > 1);
        expect(twice, 'messages handled more than once').to.deep.equal([]);
        expect(handled.size).to.equal(600);
        expect(byConsumer.a.size, 'partitions a received after b left').to.equal(4);
        console.log(
          `      two consumers: a took partitions ${[...byConsumer.a].sort().join(',')}, b ${[...byConsumer.b].sort().join(',')}; ` +
            `${handled.size} of 600 handled, ${twice.length} twice`,
        );
      } finally {
        await Promise.allSettled([a.close(), b.close()]);
      }
    });

    it('runs the revocation hook before the partition moves: the new owner sees nothing the hook acknowledged', async function () {
      const mq = await queue();
      const topic = uniqueTopic('revoke');
      const group = `${topic}-group`;
      await mq.createTopic(topic, { partitions: 4 });
      const events: string[] = [];
      const heldByA: QueueMessage[] = [];
      const receivedByB: QueueMessage[] = [];
      const a = await mq.subscribe(topic, async (messages) => void heldByA.push(...messages), {
        group,
        consumer: 'a',
        onRevoked: async (partitions) => {
          const moving = new Set(partitions.map(({ partition }) => partition));
          events.push(`a revoking ${[...moving].sort().join(',')}`);
          // A slow hook: the partitions must not move before it is done.
          await new Promise((resolve) => setTimeout(resolve, 1000));
          await mq.ack(heldByA.filter((message) => moving.has(message.partition ?? -1)));
          events.push('a hook done');
        },
      });
      let b: Subscription | undefined;
      try {
        const published = await mq.publishBatch(
          topic,
          Array.from({ length: 40 }, (_, index) => ({ key: `key-${index}`, value: `m-${index}` })),
        );
        await waitFor(() => heldByA.length === 40, 10_000, 'a to hold all 40, unacknowledged');
        b = await mq.subscribe(
          topic,
          async (messages) => {
            if (!events.includes('b received')) events.push('b received');
            receivedByB.push(...messages);
            await mq.ack(messages);
          },
          {
            group,
            consumer: 'b',
            onAssigned: (partitions) => {
              if (partitions.length > 0) events.push(`b assigned ${partitions.map((p) => p.partition).join(',')}`);
            },
          },
        );
        await waitFor(
          () => events.some((event) => event.startsWith('b assigned')),
          20_000,
          'b to be assigned partitions',
        );
        const marker = await mq.publishBatch(
          topic,
          Array.from({ length: 40 }, (_, index) => ({ key: `key-${index}`, value: `after-${index}` })),
        );
        const moved = new Set(
          events
            .filter((event) => event.startsWith('b assigned'))
            .flatMap((event) => event.replace('b assigned ', '').split(',').map(Number)),
        );
        const expectedForB = marker.filter((id) => moved.has(Number(id.split(':')[0])));
        await waitFor(
          () => expectedForB.every((id) => receivedByB.some((message) => message.id === id)),
          10_000,
          'b to receive what was published to its partitions after the move',
        );
        expect(events.indexOf('a hook done'), 'the hook finished').to.be.greaterThan(-1);
        expect(events.indexOf('a hook done'), 'hook done before b was assigned').to.be.lessThan(
          events.findIndex((event) => event.startsWith('b assigned')),
        );
        const redelivered = receivedByB.filter((message) => published.includes(message.id));
        expect(redelivered.map(text), 'messages the hook acknowledged, delivered again to b').to.deep.equal([]);
        console.log(
          `      revocation: ${events.join(' -> ')}; b got ${receivedByB.length} new, 0 of the 40 a acknowledged in its hook`,
        );
      } finally {
        await Promise.allSettled([a.close(), b?.close()]);
      }
    });
  });

  describe('revocation while batches of other partitions keep arriving', function () {
    this.timeout(60_000);

    it('waits only for the batch running when it began, so the partitions move while the kept ones still have a backlog', async function () {
      const mq = await queue();
      const topic = uniqueTopic('starve');
      const group = `${topic}-group`;
      await mq.createTopic(topic, { partitions: 4 });
      const published = await mq.publishBatch(
        topic,
        Array.from({ length: 8000 }, (_, index) => ({ key: `key-${index}`, value: `m-${index}` })),
      );
      const publishedTo = new Map<number, number>();
      for (const id of published) {
        const partition = Number(id.split(':')[0]);
        publishedTo.set(partition, (publishedTo.get(partition) ?? 0) + 1);
      }
      const handledByA = new Map<number, number>();
      const handledTimes = new Map<string, number>();
      const count = (messages: readonly QueueMessage[]): void => {
        for (const message of messages) handledTimes.set(message.id, (handledTimes.get(message.id) ?? 0) + 1);
      };
      let revokedFromA: number[] = [];
      let handledOfKeptAtMove: number | undefined;
      let publishedToKept = 0;
      // A slow consumer (20 ms per batch of 50) that fetches faster than it handles: a batch of the
      // partitions it keeps is always ready, so a wait that takes the next batch for still running
      // lasts until their backlog of seconds is drained.
      const a = await mq.subscribe(
        topic,
        async (messages) => {
          await new Promise((resolve) => setTimeout(resolve, 20));
          count(messages);
          for (const message of messages)
            handledByA.set(message.partition ?? -1, (handledByA.get(message.partition ?? -1) ?? 0) + 1);
          await mq.ack(messages);
        },
        {
          group,
          consumer: 'a',
          maxBatchSize: 50,
          // Room to fetch the whole topic: every partition has a backlog waiting in the process.
          maxInFlight: 10_000,
          onRevoked: (partitions) => {
            revokedFromA = partitions.map(({ partition }) => partition);
            const kept = [...publishedTo.keys()].filter((partition) => !revokedFromA.includes(partition));
            handledOfKeptAtMove = kept.reduce((sum, partition) => sum + (handledByA.get(partition) ?? 0), 0);
            publishedToKept = kept.reduce((sum, partition) => sum + (publishedTo.get(partition) ?? 0), 0);
          },
        },
      );
      let b: Subscription | undefined;
      try {
        await waitFor(() => handledByA.size === 4, 20_000, 'a to handle messages of every partition');
        const assignedToB: number[] = [];
        b = await mq.subscribe(
          topic,
          async (messages) => {
            count(messages);
            await mq.ack(messages);
          },
          {
            group,
            consumer: 'b',
            onAssigned: (partitions) => void assignedToB.push(...partitions.map(({ partition }) => partition)),
          },
        );
        await waitFor(() => assignedToB.length > 0, 30_000, 'b to be assigned the partitions a gave up');
        expect(revokedFromA.length, 'partitions revoked from a').to.be.greaterThan(0);
        expect(handledOfKeptAtMove, 'messages of the kept partitions a had handled when its hook ran').to.be.below(
          publishedToKept,
        );
        // b leaves: a gets back the partitions it had fetched ahead before they moved, and must start
        // them at what b committed, not hand out what it had fetched then.
        await b.close();
        b = undefined;
        await waitFor(() => published.every((id) => handledTimes.has(id)), 60_000, 'the group to handle all 8000');
        const twice = [...handledTimes].filter(([, times]) => times > 1);
        expect(twice.length, 'messages handled twice').to.equal(0);
        console.log(
          `      revocation under load: a gave up ${revokedFromA.join(',')} after handling ${handledOfKeptAtMove} of the ` +
            `${publishedToKept} messages of the partitions it kept; ${handledTimes.size} of 8000 handled, none twice`,
        );
      } finally {
        await Promise.allSettled([a.close(), b?.close()]);
      }
    });
  });

  describe('held messages', function () {
    this.timeout(30_000);

    it('hands out small values and keys as views of shared slabs, bytes intact, and a large value as it came', async function () {
      const mq = await queue();
      const topic = uniqueTopic('slabs');
      await mq.createTopic(topic, { partitions: 1 });
      const large = 'x'.repeat(MAX_SLAB_COPY + 1);
      const sent = Array.from({ length: 50 }, (_, index) => ({ key: `key-${index}`, value: `value-${index}` }));
      const held: QueueMessage[] = [];
      const subscription = await mq.subscribe(
        topic,
        async (messages) => {
          held.push(...messages);
          await mq.ack(messages);
        },
        { group: `${topic}-group` },
      );
      try {
        await mq.publishBatch(topic, [...sent, { key: 'large', value: large }]);
        await waitFor(() => held.length === sent.length + 1, 15_000, 'every message');
        expect(held.map((message) => `${String(message.key)}=${text(message)}`)).to.deep.equal([
          ...sent.map(({ key, value }) => `${key}=${value}`),
          `large=${large}`,
        ]);
        // node-rdkafka makes an ArrayBuffer per value and per key; held, they are views of a few slabs.
        const small = held.slice(0, sent.length);
        expect(new Set(small.map((message) => message.value.buffer)).size).to.be.at.most(2);
        expect(held.at(-1)?.value.byteLength).to.equal(large.length);
        expect(held.at(-1)?.value.byteOffset).to.equal(0);
      } finally {
        await subscription.close();
      }
    });
  });

  describe('dead letters', function () {
    this.timeout(30_000);

    it('dead-letters to <topic>.dead-letter (created on demand) with the Kafka partition and offset in the headers', async function () {
      const mq = await queue();
      const topic = uniqueTopic('dead');
      const group = `${topic}-group`;
      await mq.createTopic(topic, { partitions: 2 });
      const deliveries: QueueMessage[] = [];
      const reported: string[] = [];
      const failing = await mq.subscribe(
        topic,
        async (messages) => {
          deliveries.push(...messages);
          throw new Error('poison\nmessage');
        },
        {
          group,
          maxDeliveries: 2,
          onDeadLetter: (message, reason, outcome) =>
            void reported.push(`${message.id}:${reason}:${outcome.published}`),
        },
      );
      let reader: Subscription | undefined;
      try {
        const id = await mq.publish(topic, { key: 'poison-key', value: 'poison', headers: { 'x-origin': 'test' } });
        await waitFor(() => deliveries.length >= 2, 10_000, 'two deliveries');
        const deadLetters: QueueMessage[] = [];
        reader = await mq.subscribe(
          deadLetterTopic(topic),
          async (messages) => {
            deadLetters.push(...messages);
            await mq.ack(messages);
          },
          { group: `${topic}-reader` },
        );
        await waitFor(() => deadLetters.length === 1, 15_000, 'the dead letter');
        const [original] = deliveries;
        const [deadLetter] = deadLetters;
        expect(deliveries.map((message) => `${message.id}#${message.deliveryCount}`)).to.deep.equal([
          `${id}#1`,
          `${id}#2`,
        ]);
        expect(deadLetter?.key).to.equal('poison-key');
        expect(deadLetter === undefined ? '' : text(deadLetter)).to.equal('poison');
        expect(deadLetter?.headers).to.include({
          'x-origin': 'test',
          [DEAD_LETTER_HEADERS.reason]: MAX_DELIVERIES_REASON,
          [DEAD_LETTER_HEADERS.error]: 'poison message',
          [DEAD_LETTER_HEADERS.originalTopic]: topic,
          [DEAD_LETTER_HEADERS.originalPartition]: String(original?.partition),
          [DEAD_LETTER_HEADERS.originalOffset]: original?.offset,
          [DEAD_LETTER_HEADERS.originalId]: id,
          [DEAD_LETTER_HEADERS.group]: group,
          [DEAD_LETTER_HEADERS.deliveryCount]: '2',
        });
        expect(reported, 'the dead letter reported to onDeadLetter').to.deep.equal([
          `${id}:${MAX_DELIVERIES_REASON}:true`,
        ]);
        await mq.createTopic(deadLetterTopic(topic));
      } finally {
        await Promise.allSettled([failing.close(), reader?.close()]);
      }
    });

    it('reports a dead letter of its own that could not be published to onDeadLetter, and keeps the message', async function () {
      const mq = await queue();
      const topic = uniqueTopic('dead-fail');
      await mq.createTopic(topic, { partitions: 1 });
      const deliveries: number[] = [];
      const failures: unknown[] = [];
      let published = 0;
      let giveUp = true;
      const subscription = await mq.subscribe(
        topic,
        async (messages) => {
          deliveries.push(...messages.map((message) => message.deliveryCount));
          if (giveUp) throw new Error('poison');
          await mq.ack(messages);
        },
        {
          group: `${topic}-group`,
          maxDeliveries: 2,
          // Not a legal Kafka topic name: creating it (and so publishing the dead letter) fails.
          deadLetter: { topic: `${topic} dead letters!` },
          onDeadLetter: (_message, reason, outcome) => {
            expect(reason).to.equal(MAX_DELIVERIES_REASON);
            if (outcome.published) published += 1;
            else failures.push(outcome.error);
          },
        },
      );
      try {
        await mq.publish(topic, { value: 'poison' });
        await waitFor(() => failures.length >= 2, 20_000, 'two failed dead letters reported');
        expect(published).to.equal(0);
        expect(String((failures[0] as Error).message)).to.contain('could not create topic');
        // Kept, not dropped: it comes again, and a handler that copes acknowledges it.
        giveUp = false;
        const before = deliveries.length;
        await waitFor(() => deliveries.length > before, 20_000, 'a redelivery after the failed dead letter');
        expect(deliveries.slice(0, 2)).to.deep.equal([1, 2]);
        expect(published).to.equal(0);
      } finally {
        await subscription.close();
      }
    });
  });

  describe('connection handling', function () {
    it('reports brokers that do not answer as PH_ERR_CONNECT naming the broker list, never the password', async function () {
      this.timeout(20_000);
      const mq = new KafkaQueue({
        bootstrapServers: '127.0.0.1:1',
        connectTimeoutMs: 1500,
        properties: {
          'security.protocol': 'sasl_plaintext',
          'sasl.mechanisms': 'PLAIN',
          'sasl.username': 'u',
          'sasl.password': 's3cret-pass',
        },
      });
      const error = await rejectionOf(mq.connect());
      expect(isPlatformError(error) ? error.code : error).to.equal('PH_ERR_CONNECT');
      expect((error as Error).message)
        .to.contain('127.0.0.1:1')
        .and.not.contain('s3cret-pass');
      expect((await mq.healthCheck()).ok).to.equal(false);
      await mq.disconnect();
    });

    it('refuses an unknown librdkafka property by name, and a bad value without showing it', async function () {
      const unknown = new KafkaQueue({ bootstrapServers: brokers(), properties: { 'no.such.property': 'x' } });
      const unknownError = await rejectionOf(unknown.connect());
      expect(isPlatformError(unknownError) ? unknownError.code : unknownError).to.equal('PH_ERR_CONFIG_INVALID');
      expect((unknownError as Error).message).to.contain('"no.such.property"');
      const badValue = new KafkaQueue({
        bootstrapServers: brokers(),
        properties: { 'socket.timeout.ms': 'hidden-value' },
      });
      const badValueError = await rejectionOf(badValue.connect());
      expect(isPlatformError(badValueError) ? badValueError.code : badValueError).to.equal('PH_ERR_CONFIG_INVALID');
      expect((badValueError as Error).message)
        .to.contain('"socket.timeout.ms"')
        .and.not.contain('hidden-value');
    });
  });
});

describe('mq-kafka adapter package', function () {
  it('has a valid manifest that declares every config key the adapter reads, the password and extra properties secret', async function () {
    const manifest = adapterManifestSchema.parse(
      JSON.parse(await readFile(new URL('../platform-adapter.json', import.meta.url), 'utf8')),
    );
    expect(manifest).to.include({ name: 'mq-kafka', interface: 'message_queue', host_api: '^2.0.0' });
    expect(manifest.flags).to.deep.equal(['kafka']);
    expect(manifest.config.map((entry) => entry.env)).to.deep.equal([
      'MQ_KAFKA_BOOTSTRAP_SERVERS',
      'MQ_KAFKA_CLIENT_ID',
      'MQ_KAFKA_SECURITY_PROTOCOL',
      'MQ_KAFKA_SASL_MECHANISM',
      'MQ_KAFKA_SASL_USERNAME',
      'MQ_KAFKA_SASL_PASSWORD',
      'MQ_KAFKA_LIBRDKAFKA_PROPERTIES',
      'MQ_KAFKA_SESSION_TIMEOUT_MS',
      'MQ_KAFKA_COMMIT_INTERVAL_MS',
      'MQ_KAFKA_LINGER_MS',
      'MQ_KAFKA_CONNECT_TIMEOUT_MS',
    ]);
    expect(manifest.config.find((entry) => entry.env === 'MQ_KAFKA_BOOTSTRAP_SERVERS')).to.include({ required: true });
    expect(
      manifest.config.filter((entry) => entry.secret).map((entry) => entry.env),
      'secret keys',
    ).to.deep.equal(['MQ_KAFKA_SASL_PASSWORD', 'MQ_KAFKA_LIBRDKAFKA_PROPERTIES']);
  });

  it('creates the queue from its config, with honest capabilities', async function () {
    const created = await adapter.create(
      adapterContextForTest('kafka', {
        MQ_KAFKA_BOOTSTRAP_SERVERS: '127.0.0.1:9092, 127.0.0.2:9093',
        MQ_KAFKA_SECURITY_PROTOCOL: 'SASL_SSL',
        MQ_KAFKA_SASL_MECHANISM: 'scram-sha-512',
        MQ_KAFKA_SASL_USERNAME: 'svc',
        MQ_KAFKA_SASL_PASSWORD: 'pw',
        MQ_KAFKA_LIBRDKAFKA_PROPERTIES: 'fetch.wait.max.ms=100,socket.keepalive.enable=true',
      }),
    );
    expect(created).to.be.instanceOf(KafkaQueue);
    expect((created as KafkaQueue).brokers).to.equal('127.0.0.1:9092,127.0.0.2:9093');
    expect(created.capabilities).to.deep.equal({ orderedByKey: true, partitioned: true, delayedRedelivery: true });
  });

  const refusals: Array<[string, Record<string, string>, string]> = [
    ['a broker without a port', { MQ_KAFKA_BOOTSTRAP_SERVERS: 'kafka.internal' }, 'MQ_KAFKA_BOOTSTRAP_SERVERS'],
    [
      'credentials in the broker list',
      { MQ_KAFKA_BOOTSTRAP_SERVERS: 'user:pw@kafka:9092' },
      'MQ_KAFKA_BOOTSTRAP_SERVERS has an entry that is not host:port ("(an entry with credentials)")',
    ],
    [
      'an unknown security protocol',
      { MQ_KAFKA_SECURITY_PROTOCOL: 'tls' },
      'MQ_KAFKA_SECURITY_PROTOCOL must be one of',
    ],
    ['an unknown SASL mechanism', { MQ_KAFKA_SASL_MECHANISM: 'GSSAPI' }, 'MQ_KAFKA_SASL_MECHANISM must be one of'],
    [
      'a property the adapter sets',
      { MQ_KAFKA_LIBRDKAFKA_PROPERTIES: 'enable.auto.commit=false' },
      'may not set "enable.auto.commit"',
    ],
    [
      'a property with its own key',
      { MQ_KAFKA_LIBRDKAFKA_PROPERTIES: '{"sasl.password":"x"}' },
      'may not set "sasl.password": it is set by MQ_KAFKA_SASL_PASSWORD',
    ],
    ['an entry without "="', { MQ_KAFKA_LIBRDKAFKA_PROPERTIES: 'linger' }, 'entry 1 is not key=value'],
    ['broken JSON', { MQ_KAFKA_LIBRDKAFKA_PROPERTIES: '{"a":' }, 'is not valid JSON'],
    [
      'a JSON value that is an object',
      { MQ_KAFKA_LIBRDKAFKA_PROPERTIES: '{"fetch.wait.max.ms":{}}' },
      'the value of "fetch.wait.max.ms"',
    ],
    ['a session timeout below 1000', { MQ_KAFKA_SESSION_TIMEOUT_MS: '10' }, 'MQ_KAFKA_SESSION_TIMEOUT_MS'],
  ];
  for (const [what, values, message] of refusals) {
    it(`refuses ${what} with PH_ERR_CONFIG_INVALID naming the key`, async function () {
      const error = await rejectionOf(
        Promise.resolve().then(() =>
          adapter.create(
            adapterContextForTest(
              'kafka',
              { MQ_KAFKA_BOOTSTRAP_SERVERS: '127.0.0.1:9092', ...values },
              new RecordingLogger(),
            ),
          ),
        ),
      );
      expect(isPlatformError(error) ? error.code : error).to.equal('PH_ERR_CONFIG_INVALID');
      expect((error as Error).message).to.contain(message);
      expect((error as Error).message).to.not.contain('"x"');
    });
  }
});
