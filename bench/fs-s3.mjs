#!/usr/bin/env node
// fs-s3 benchmark (issue 12, item 1): the adapter against the raw minio client on the same server, with
// the same data, in the same run. Per round: write N files, read them back (both at the same
// concurrency), and stream one large file; adapter and raw alternate which goes first. Prints the
// median of each and the ratio adapter / raw.
//
//   npm run build && set -a && source /tmp/infra.env && set +a && node bench/fs-s3.mjs \
//     [--files 200] [--size 4096] [--concurrency 16] [--large-mb 32] [--rounds 5]
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Buffer } from 'node:buffer';
import { Readable } from 'node:stream';
import { Client } from 'minio';
import { S3FileSystem } from '@platform-host/adapter-fs-s3';

const option = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
};
const files = option('files', 200);
const size = option('size', 4096);
const concurrency = option('concurrency', 16);
const largeBytes = option('large-mb', 32) * 1024 * 1024;
const rounds = option('rounds', 5);
const { FS_MINIO_ENDPOINT: endpoint, FS_MINIO_ACCESS_KEY: accessKey, FS_MINIO_SECRET_KEY: secretKey } = process.env;
const bucket = process.env.FS_MINIO_BUCKET ?? 'platform-test';
if (!endpoint || !accessKey || !secretKey) {
  console.error(
    'Set FS_MINIO_ENDPOINT, FS_MINIO_ACCESS_KEY, FS_MINIO_SECRET_KEY (deploy/native/infra.sh up object-store prints them).',
  );
  process.exit(2);
}

const prefix = `bench-fs-s3-${randomUUID().slice(0, 8)}/`;
const fs = new S3FileSystem({ endpoint, bucket, accessKey, secretKey, keyPrefix: `${prefix}adapter` });
const url = new URL(endpoint);
// The same part size as the adapter's default (8 MiB), so both send the large file in the same parts.
const raw = new Client({
  endPoint: url.hostname,
  port: Number(url.port),
  useSSL: url.protocol === 'https:',
  accessKey,
  secretKey,
  region: 'us-east-1',
  partSize: 8 * 1024 * 1024,
});
await fs.connect();

const contents = Array.from({ length: files }, () => randomBytes(size));
const large = randomBytes(largeBytes);
const largeDigest = createHash('sha256').update(large).digest('hex');
const names = contents.map((_, index) => `files/part-${String(index).padStart(5, '0')}.bin`);

async function pool(count, task) {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next;
      next += 1;
      await task(index);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function* chunks(bytes, chunkSize) {
  for (let start = 0; start < bytes.byteLength; start += chunkSize) yield bytes.subarray(start, start + chunkSize);
}

const sides = {
  adapter: {
    write: (index) => fs.write(names[index], contents[index]),
    read: async (index) => fs.read(names[index]),
    stream: () => fs.writeStream('large.bin', chunks(large, 256 * 1024)),
    readLarge: async () => collect(await fs.readStream('large.bin')),
  },
  raw: {
    write: (index) => raw.putObject(bucket, `${prefix}raw/${names[index]}`, contents[index], size),
    read: async (index) => collect(await raw.getObject(bucket, `${prefix}raw/${names[index]}`)),
    stream: () => raw.putObject(bucket, `${prefix}raw/large.bin`, Readable.from(chunks(large, 256 * 1024))),
    readLarge: async () => collect(await raw.getObject(bucket, `${prefix}raw/large.bin`)),
  },
};

async function seconds(action) {
  const started = process.hrtime.bigint();
  await action();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function round(side) {
  const write = await seconds(() => pool(files, side.write));
  let readBytes = 0;
  const read = await seconds(() =>
    pool(files, async (index) => {
      const bytes = await side.read(index);
      readBytes += bytes.byteLength;
    }),
  );
  if (readBytes !== files * size) throw new Error(`read ${readBytes} bytes, expected ${files * size}`);
  const stream = await seconds(() => side.stream());
  const back = await side.readLarge();
  if (createHash('sha256').update(back).digest('hex') !== largeDigest)
    throw new Error('the large file came back different');
  return { write: files / write, read: files / read, stream: largeBytes / 1024 / 1024 / stream };
}

const results = { adapter: [], raw: [] };
try {
  await round(sides.adapter); // warm-up of both connections
  await round(sides.raw);
  for (let index = 0; index < rounds; index += 1) {
    const order = index % 2 === 0 ? ['adapter', 'raw'] : ['raw', 'adapter'];
    for (const name of order) results[name].push(await round(sides[name]));
  }

  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const row = (metric, unit) => {
    const ours = median(results.adapter.map((result) => result[metric]));
    const reference = median(results.raw.map((result) => result[metric]));
    const format = (value) => value.toLocaleString('en-US', { maximumFractionDigits: 1 });
    console.log(
      `${metric.padEnd(7)} adapter ${format(ours)} ${unit}, raw minio ${format(reference)} ${unit}, ratio ${(ours / reference).toFixed(2)}`,
    );
  };
  console.log(
    `fs-s3 vs raw minio client at ${endpoint}, bucket ${bucket}: ${files} files of ${size} B at concurrency ${concurrency}, one ${largeBytes / 1024 / 1024} MiB stream; median of ${rounds} rounds`,
  );
  row('write', 'files/s');
  row('read', 'files/s');
  row('stream', 'MiB/s');
} finally {
  // Clean up everything under the benchmark's prefix.
  const keys = [];
  for await (const item of raw.listObjectsV2(bucket, prefix, true)) if (item.name) keys.push(item.name);
  if (keys.length > 0) await raw.removeObjects(bucket, keys);
  await fs.disconnect();
}
