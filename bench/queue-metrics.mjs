#!/usr/bin/env node
// The host's per-message queue metrics (issue 12's profile of stream_ingest): the CPU cost per
// message of `instrumentMessageQueue` around a queue that does nothing, with the Prometheus metrics
// adapter (not serving), batches of --batch messages delivered to an `autoAck` handler and to a
// handler that acknowledges each batch with one `ack(messages)`. Printed beside the same loop on the
// bare queue (the reference: what the metrics add is the difference), same process, rounds
// alternating, median of the rounds. With --before DIR, the host runtime of another built checkout
// (e.g. the main branch) is measured too.
//
//   npm run build && node bench/queue-metrics.mjs [--messages 500000] [--batch 500] [--rounds 7] [--before DIR]
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { PrometheusMetrics } from '@platform-host/adapter-metrics-prometheus';
import { instrumentMessageQueue } from '@platform-host/runtime';

const option = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : process.argv[index + 1];
};
const total = Number(option('messages', 500_000));
const batchSize = Number(option('batch', 500));
const rounds = Number(option('rounds', 7));
const beforeRoot = option('before', undefined);

/** A queue that hands the batches it is given to its subscriber and acknowledges by doing nothing. */
class NullQueue {
  capabilities = { orderedByKey: true, partitioned: true, delayedRedelivery: false };
  handlers = [];
  async connect() {}
  async disconnect() {}
  async healthCheck() {
    return { ok: true };
  }
  async publish() {
    return '0';
  }
  async publishBatch(_topic, messages) {
    return messages.map(() => '0');
  }
  async subscribe(_topic, handler, options) {
    this.handlers.push({ handler, options });
    return { unsubscribe: async () => {} };
  }
  async ack() {}
  async nack() {}
  async deadLetter() {}
}

const batches = Array.from({ length: Math.ceil(total / batchSize) }, (_, b) =>
  Array.from({ length: batchSize }, (_, i) => ({
    id: `${b}-${i}`,
    topic: 'events',
    group: 'stream_ingest',
    partition: 0,
    offset: String(b * batchSize + i),
    key: undefined,
    value: new Uint8Array(0),
    headers: {},
    deliveryCount: 1,
    publishedAt: new Date(0),
  })),
);

const variants = { bare: (queue) => queue };
variants.ours = (queue) =>
  instrumentMessageQueue(queue, { metrics: new PrometheusMetrics({ serve: false }), module: 'bench', env: 'test' });
if (beforeRoot !== undefined) {
  const before = await import(pathToFileURL(`${beforeRoot}/host/runtime/dist/index.js`).href);
  const { PrometheusMetrics: BeforeMetrics } = await import(
    pathToFileURL(`${beforeRoot}/adapters/metrics-prometheus/dist/index.js`).href
  );
  variants.before = (queue) =>
    before.instrumentMessageQueue(queue, {
      metrics: new BeforeMetrics({ serve: false }),
      module: 'bench',
      env: 'test',
    });
}

/** CPU µs per message through `wrap(queue)`, for an autoAck subscriber and an explicit ack per batch. */
async function run(wrap, mode) {
  const inner = new NullQueue();
  const queue = wrap(inner);
  await queue.subscribe('events', mode === 'autoAck' ? async () => {} : (messages) => queue.ack(messages), {
    group: 'stream_ingest',
    autoAck: mode === 'autoAck',
  });
  const { handler } = inner.handlers[0];
  const cpu = process.cpuUsage();
  for (const batch of batches) await handler(batch);
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / (batches.length * batchSize);
}

const names = Object.keys(variants);
const results = {};
for (const mode of ['autoAck', 'ack(batch)']) {
  results[mode] = Object.fromEntries(names.map((name) => [name, []]));
  for (const name of names) await run(variants[name], mode); // warm-up
  for (let round = 0; round < rounds; round += 1) {
    for (let index = 0; index < names.length; index += 1) {
      const name = names[(index + round) % names.length];
      results[mode][name].push(await run(variants[name], mode));
    }
  }
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
console.log(`load average: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
console.log(
  `queue metrics, ${batches.length * batchSize} messages in batches of ${batchSize}, median of ${rounds} rounds, CPU µs per message`,
);
for (const mode of Object.keys(results)) {
  const line = names.map((name) => `${name} ${median(results[mode][name]).toFixed(3)}`).join(', ');
  const added = (name) => median(results[mode][name]) - median(results[mode].bare);
  const extra =
    beforeRoot === undefined
      ? ''
      : `; added by the metrics: before ${added('before').toFixed(3)}, now ${added('ours').toFixed(3)}`;
  console.log(`  ${mode.padEnd(11)}: ${line}${extra}`);
}
