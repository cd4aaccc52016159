#!/usr/bin/env node
// Redis cache GET benchmark (issue 10, item 7): RedisCache.get through the adapter against a raw ioredis
// GET of the same keys, on the same server, at the same concurrency, in the same run. Each round runs
// both (alternating which goes first); the median ops/s of each and their ratio are printed.
//
//   npm run build && CACHE_REDIS_URL=redis://127.0.0.1:56379/0 node bench/cache-redis.mjs \
//     [--ops 50000] [--concurrency 50] [--keys 1000] [--size 100] [--rounds 7] [--command-timeout 0]
//
// --command-timeout sets the adapter's CACHE_REDIS_COMMAND_TIMEOUT_MS (default 0, as shipped): with it,
// ioredis arms a timer per command, which is where the adapter loses throughput against the raw client.
// --auto-pipelining 1|0 sets CACHE_REDIS_AUTO_PIPELINING (default 0, as shipped) and the raw client's
// enableAutoPipelining alike, so that the ratio is the adapter's own cost either way.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisCache } from '@platform-host/adapter-cache-redis';

const option = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
};
const ops = option('ops', 50_000);
const concurrency = option('concurrency', 50);
const keyCount = option('keys', 1000);
const size = option('size', 100);
const rounds = option('rounds', 7);
const commandTimeoutMs = option('command-timeout', 0);
const autoPipelining = option('auto-pipelining', 0) === 1;
const url = process.env.CACHE_REDIS_URL;
if (!url) {
  console.error('Set CACHE_REDIS_URL (deploy/native/infra.sh up redis prints it).');
  process.exit(2);
}

const keyPrefix = `bench:${randomUUID().slice(0, 8)}:`;
const cache = new RedisCache({ url, keyPrefix, commandTimeoutMs, autoPipelining });
const raw = new Redis(url, { lazyConnect: true, enableAutoPipelining: autoPipelining });
await cache.connect();
await raw.connect();

const keys = Array.from({ length: keyCount }, (_, index) => `key-${index}`);
const fullKeys = keys.map((key) => keyPrefix + key);
const value = 'v'.repeat(size);
await cache.setMany(keys.map((key) => ({ key, value, ttlSeconds: 3600 })));

/** ops GETs with `concurrency` in flight; ops/s. Every answer is checked, so a miss cannot go unnoticed. */
async function measure(get, names) {
  let next = 0;
  let bytes = 0;
  const worker = async () => {
    while (next < ops) {
      const index = next;
      next += 1;
      const answer = await get(names[index % names.length]);
      bytes += answer.length;
    }
  };
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (bytes !== ops * size) throw new Error(`read ${bytes} bytes, expected ${ops * size}`);
  return ops / seconds;
}

const adapterGet = (key) => cache.get(key);
const rawGet = (key) => raw.get(key);
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const ours = [];
const reference = [];
await measure(adapterGet, keys); // warm-up of both connections
await measure(rawGet, fullKeys);
for (let round = 0; round < rounds; round += 1) {
  if (round % 2 === 0) {
    ours.push(await measure(adapterGet, keys));
    reference.push(await measure(rawGet, fullKeys));
  } else {
    reference.push(await measure(rawGet, fullKeys));
    ours.push(await measure(adapterGet, keys));
  }
}
await cache.flush();
await cache.disconnect();
await raw.quit();

const format = (rate) => `${Math.round(rate).toLocaleString('en-US')} ops/s`;
console.log(
  `Redis cache GET, ${ops} ops per round, ${concurrency} in flight, ${keyCount} keys of ${size} B, median of ${rounds} rounds, adapter command timeout ${commandTimeoutMs} ms, auto-pipelining ${autoPipelining ? 'on' : 'off'} (both clients)`,
);
console.log(`  adapter RedisCache.get : ${format(median(ours))}`);
console.log(`  raw ioredis GET        : ${format(median(reference))}`);
console.log(`  ratio adapter / raw    : ${(median(ours) / median(reference)).toFixed(3)} (goal >= 0.9)`);
