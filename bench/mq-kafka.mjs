#!/usr/bin/env node
// Kafka message queue benchmark (issue 10, item 7): the --mq kafka adapter against raw node-rdkafka
// on the same broker, same data, same run.
//   - consume-and-ack: a batch handler that acknowledges each batch (adapter.subscribe + ack) vs a
//     raw KafkaConsumer consume(100) loop with the same settings (cooperative-sticky,
//     enable.auto.offset.store=false + offsetsStore of each batch, auto commit every second), over a
//     topic filled beforehand; timed from the first message received to the last, so that the
//     group join (the same for both) is not part of it;
//   - publish: adapter.publishBatch vs raw produce() of the same batches with the same producer
//     settings (enable.idempotence, acks=all, linger.ms 5, delivery reports), each batch waited for.
// Message sizes 100 B and 1 kB; rounds alternate between the two sides; medians are printed with
// their ratio (adapter / raw, higher is better for the adapter).
//
//   npm run build && MQ_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 node bench/mq-kafka.mjs \
//     [--messages 100000] [--rounds 5] [--batch 1000]
import { Buffer } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import Kafka from 'node-rdkafka';
import { KafkaQueue } from '@platform-host/adapter-mq-kafka';

const option = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
};
const messages = option('messages', 100_000);
const rounds = option('rounds', 5);
const publishBatchSize = option('batch', 1000);
const readCount = 100; // the adapter's default maxBatchSize, and the raw loop's consume(n)
const partitions = 4;
const brokers = process.env.MQ_KAFKA_BOOTSTRAP_SERVERS;
if (!brokers) {
  console.error('Set MQ_KAFKA_BOOTSTRAP_SERVERS (deploy/native/infra.sh up kafka prints it).');
  process.exit(2);
}

const run = randomUUID().slice(0, 8);
const topics = [];
let serial = 0;
const queue = new KafkaQueue({ bootstrapServers: brokers, heartbeatIntervalMs: 100 });
await queue.connect();
const nextTopic = async () => {
  const topic = `bench-${run}-${++serial}`;
  topics.push(topic);
  await queue.createTopic(topic, { partitions });
  return topic;
};
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const rate = (ms) => messages / (ms / 1000);
const elapsed = (started) => Number(process.hrtime.bigint() - started) / 1e6;

// The adapter's producer settings, for the raw side.
const producer = new Kafka.Producer(
  { 'bootstrap.servers': brokers, 'enable.idempotence': true, 'linger.ms': 5, dr_cb: true },
  { acks: -1 },
);
await new Promise((resolve, reject) => producer.connect({}, (error) => (error ? reject(error) : resolve())));
producer.setPollInterval(2);
let reportsWaiting = 0;
let reportsDone;
producer.on('delivery-report', (error) => {
  if (error) throw error;
  reportsWaiting -= 1;
  if (reportsWaiting === 0) reportsDone?.();
});

async function rawPublish(topic, payload) {
  for (let sent = 0; sent < messages; sent += publishBatchSize) {
    const count = Math.min(publishBatchSize, messages - sent);
    const done = new Promise((resolve) => (reportsDone = resolve));
    reportsWaiting = count;
    for (let index = 0; index < count; index++) {
      for (;;) {
        try {
          producer.produce(topic, null, payload, null, null);
          break;
        } catch (error) {
          if (error.code !== Kafka.CODES.ERRORS.ERR__QUEUE_FULL) throw error;
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      }
    }
    await done;
  }
}

async function adapterPublish(topic, payload) {
  const batch = Array.from({ length: publishBatchSize }, () => ({ value: payload }));
  for (let sent = 0; sent < messages; sent += publishBatchSize)
    await queue.publishBatch(topic, sent + publishBatchSize <= messages ? batch : batch.slice(0, messages - sent));
}

/** Messages in `topic` (sum of the partitions' high watermarks). */
async function countOf(topic) {
  let total = 0;
  for (let partition = 0; partition < partitions; partition++)
    total += await new Promise((resolve, reject) =>
      producer.queryWatermarkOffsets(topic, partition, 5000, (error, offsets) =>
        error ? reject(error) : resolve(offsets.highOffset - offsets.lowOffset),
      ),
    );
  return total;
}

async function timePublish(side, payload) {
  const topic = await nextTopic();
  const started = process.hrtime.bigint();
  if (side === 'adapter') await adapterPublish(topic, payload);
  else await rawPublish(topic, payload);
  const ms = elapsed(started);
  const count = await countOf(topic);
  if (count !== messages) throw new Error(`${side} publish left ${count} of ${messages} messages`);
  return ms;
}

async function rawConsume(topic, group) {
  const consumer = new Kafka.KafkaConsumer(
    {
      'bootstrap.servers': brokers,
      'group.id': group,
      'partition.assignment.strategy': 'cooperative-sticky',
      'enable.auto.commit': true,
      'enable.auto.offset.store': false,
      'auto.commit.interval.ms': 1000,
      'enable.partition.eof': true,
      'heartbeat.interval.ms': 100,
      rebalance_cb: true,
    },
    { 'auto.offset.reset': 'earliest' },
  );
  await new Promise((resolve, reject) => consumer.connect({}, (error) => (error ? reject(error) : resolve())));
  consumer.setDefaultConsumeTimeout(50);
  consumer.subscribe([topic]);
  let consumed = 0;
  let started;
  while (consumed < messages) {
    const batch = await new Promise((resolve, reject) =>
      consumer.consume(readCount, (error, fetched) => (error ? reject(error) : resolve(fetched))),
    );
    if (batch.length === 0) continue;
    started ??= process.hrtime.bigint();
    const next = new Map();
    for (const message of batch) next.set(message.partition, message.offset + 1);
    consumer.offsetsStore([...next].map(([partition, offset]) => ({ topic, partition, offset })));
    consumed += batch.length;
  }
  const ms = elapsed(started);
  await new Promise((resolve) => consumer.disconnect(resolve));
  return ms;
}

async function adapterConsume(topic, group) {
  let consumed = 0;
  let started;
  let done;
  const finished = new Promise((resolve) => (done = resolve));
  const subscription = await queue.subscribe(
    topic,
    async (batch) => {
      started ??= process.hrtime.bigint();
      await queue.ack(batch);
      consumed += batch.length;
      if (consumed >= messages) done();
    },
    { group, maxBatchSize: readCount },
  );
  await finished;
  const ms = elapsed(started);
  await subscription.close();
  return ms;
}

async function timeConsume(side, payload) {
  const topic = await nextTopic();
  await rawPublish(topic, payload);
  const group = `${topic}-${side}`;
  return side === 'adapter' ? adapterConsume(topic, group) : rawConsume(topic, group);
}

console.log(
  `Kafka at ${brokers} (librdkafka ${Kafka.librdkafkaVersion}); ${messages} messages per run, ${rounds} rounds, ` +
    `${partitions} partitions, publish batches of ${publishBatchSize}, consume(${readCount})`,
);
try {
  for (const size of [100, 1024]) {
    const payload = Buffer.alloc(size, 'x');
    for (const [name, measure] of [
      ['consume-and-ack', timeConsume],
      ['publish (batch)', timePublish],
    ]) {
      await measure('adapter', payload); // warm-up
      await measure('raw', payload);
      const adapterMs = [];
      const rawMs = [];
      for (let round = 0; round < rounds; round++) {
        adapterMs.push(await measure('adapter', payload));
        rawMs.push(await measure('raw', payload));
      }
      const ours = rate(median(adapterMs));
      const theirs = rate(median(rawMs));
      console.log(
        `${name.padEnd(16)} ${String(size).padStart(5)} B: adapter ${Math.round(ours).toLocaleString('en-US').padStart(9)} msgs/s, ` +
          `raw node-rdkafka ${Math.round(theirs).toLocaleString('en-US').padStart(9)} msgs/s, ratio ${(ours / theirs).toFixed(2)}`,
      );
    }
  }
} finally {
  await queue.disconnect();
  await new Promise((resolve) => producer.disconnect(resolve));
  const admin = Kafka.AdminClient.create({ 'bootstrap.servers': brokers });
  await Promise.all(topics.map((topic) => new Promise((resolve) => admin.deleteTopic(topic, 10_000, resolve))));
  admin.disconnect();
}
