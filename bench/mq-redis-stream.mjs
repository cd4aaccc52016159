#!/usr/bin/env node
// Redis Streams message queue benchmark (issue 10, item 7): the --mq redis-stream adapter against
// raw ioredis on the same server, same data, same run.
//   - consume-and-ack: a batch handler that acknowledges each batch (adapter.subscribe + ack) vs a
//     raw XREADGROUP COUNT 100 + XACK loop, over a stream filled beforehand;
//   - publish: adapter.publishBatch vs a raw pipeline of XADD, in batches of the same size.
// Message sizes 100 B and 1 kB; rounds alternate between the two sides; medians are printed with
// their ratio (adapter / raw, higher is better for the adapter).
//
//   npm run build && MQ_REDIS_STREAM_URL=redis://127.0.0.1:6379/1 node bench/mq-redis-stream.mjs \
//     [--messages 50000] [--rounds 5] [--batch 1000]
import { Buffer } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisStreamQueue } from '@platform-host/adapter-mq-redis-stream';

const option = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
};
const messages = option('messages', 50_000);
const rounds = option('rounds', 5);
const publishBatchSize = option('batch', 1000);
const readCount = 100; // the adapter's default maxBatchSize, and the raw loop's COUNT
const url = process.env.MQ_REDIS_STREAM_URL;
if (!url) {
  console.error('Set MQ_REDIS_STREAM_URL (deploy/native/infra.sh up redis prints it).');
  process.exit(2);
}

const prefix = `bench:${randomUUID().slice(0, 8)}:`;
// The same protocol as the adapter (RESP2: it reads the stream replies raw in their RESP2 shapes).
const raw = new Redis(url, { protocol: 2 });
const queue = new RedisStreamQueue({ url, keyPrefix: prefix });
await queue.connect();
let serial = 0;
const nextTopic = () => `t${++serial}`;
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const rate = (ms) => messages / (ms / 1000);
const elapsed = (started) => Number(process.hrtime.bigint() - started) / 1e6;

async function rawPublish(key, payload) {
  for (let sent = 0; sent < messages; sent += publishBatchSize) {
    const pipeline = raw.pipeline();
    for (let index = sent; index < Math.min(messages, sent + publishBatchSize); index++)
      pipeline.xadd(key, '*', 'value', payload);
    for (const [error] of await pipeline.exec()) if (error) throw error;
  }
}

async function adapterPublish(topic, payload) {
  const batch = Array.from({ length: publishBatchSize }, () => ({ value: payload }));
  for (let sent = 0; sent < messages; sent += publishBatchSize)
    await queue.publishBatch(topic, sent + publishBatchSize <= messages ? batch : batch.slice(0, messages - sent));
}

async function timePublish(side, payload) {
  const topic = nextTopic();
  const started = process.hrtime.bigint();
  if (side === 'adapter') await adapterPublish(topic, payload);
  else await rawPublish(queue.streamKey(topic), payload);
  const ms = elapsed(started);
  if ((await raw.xlen(queue.streamKey(topic))) !== messages) throw new Error(`${side} publish lost messages`);
  await raw.del(queue.streamKey(topic));
  return ms;
}

async function rawConsume(key) {
  // Both sides start from nothing: a new connection and a new group are part of the timed work.
  const started = process.hrtime.bigint();
  const reader = raw.duplicate();
  await reader.xgroup('CREATE', key, 'bench', '0');
  let consumed = 0;
  while (consumed < messages) {
    const reply = await reader.xreadgroupBuffer(
      'GROUP',
      'bench',
      'raw',
      'COUNT',
      readCount,
      'BLOCK',
      1000,
      'STREAMS',
      key,
      '>',
    );
    if (reply === null) continue;
    const ids = reply[0][1].map(([id]) => id);
    await reader.xack(key, 'bench', ...ids);
    consumed += ids.length;
  }
  const ms = elapsed(started);
  reader.disconnect();
  return ms;
}

async function adapterConsume(topic) {
  let consumed = 0;
  let done;
  const finished = new Promise((resolve) => (done = resolve));
  const started = process.hrtime.bigint();
  const subscription = await queue.subscribe(
    topic,
    async (batch) => {
      await queue.ack(batch);
      consumed += batch.length;
      if (consumed >= messages) done();
    },
    { group: 'bench', maxBatchSize: readCount },
  );
  await finished;
  const ms = elapsed(started);
  await subscription.close();
  return ms;
}

async function timeConsume(side, payload) {
  const topic = nextTopic();
  const key = queue.streamKey(topic);
  await rawPublish(key, payload);
  const ms = side === 'adapter' ? await adapterConsume(topic) : await rawConsume(key);
  const [pending] = await raw.xpending(key, 'bench');
  if (pending !== 0) throw new Error(`${side} consume left ${pending} pending`);
  await raw.del(key);
  return ms;
}

const info = await raw.info('server');
console.log(
  `Redis ${/redis_version:(\S+)/.exec(info)?.[1]} at ${new URL(url).host}; ${messages} messages per run, ` +
    `${rounds} rounds, publish batches of ${publishBatchSize}, reads of ${readCount}`,
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
        `${name.padEnd(16)} ${String(size).padStart(5)} B: adapter ${Math.round(ours).toLocaleString('en-US').padStart(8)} msgs/s, ` +
          `raw ioredis ${Math.round(theirs).toLocaleString('en-US').padStart(8)} msgs/s, ratio ${(ours / theirs).toFixed(2)}`,
      );
    }
  }
} finally {
  await queue.disconnect();
  const keys = await raw.keys(`${prefix}*`);
  if (keys.length > 0) await raw.del(...keys);
  raw.disconnect();
}
