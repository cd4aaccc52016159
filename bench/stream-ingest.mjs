#!/usr/bin/env node
// stream_ingest benchmark (issue 12): messages/s from a Kafka topic holding N messages into
// committed parquet files on MinIO (`platform-host run stream_ingest --db postgres --fs minio --mq
// kafka`, timed from its "consuming" log line until ingested_events holds all N rows, so every file
// and row is committed), against a raw node-rdkafka consume-only loop reading the same topic (a
// fresh consumer group each), same run, rounds alternating which side goes first. Prints the
// medians and their ratio. Goal: ratio >= 0.6.
//
//   npm run build && set -a && source /tmp/infra.env && set +a && \
//     node bench/stream-ingest.mjs [--messages 500000] [--rounds 5] [--partitions 3] [--batch-size 20000]
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import Kafka from 'node-rdkafka';

const option = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
};
const messages = option('messages', 500_000);
const rounds = option('rounds', 5);
const partitions = option('partitions', 3);
const batchSize = option('batch-size', 20_000);
const env = process.env;
for (const key of ['DB_POSTGRES_URL', 'MQ_KAFKA_BOOTSTRAP_SERVERS', 'FS_MINIO_ENDPOINT', 'FS_MINIO_BUCKET']) {
  if (!env[key]) {
    console.error(`Set ${key} (source /tmp/infra.env or deploy/native/infra.sh up).`);
    process.exit(2);
  }
}
const brokers = env.MQ_KAFKA_BOOTSTRAP_SERVERS;
const root = fileURLToPath(new URL('..', import.meta.url));
const cli = `${root}host/runtime/bin/platform-host.js`;
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const format = (n) => Math.round(n).toLocaleString('en-US');
const topic = `bench-ingest-${randomBytes(4).toString('hex')}`;

function psql(url, sql) {
  const result = spawnSync('psql', [url, '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`psql failed: ${result.stderr || result.error?.message}`);
  return result.stdout.trim();
}

const admin = Kafka.AdminClient.create({ 'bootstrap.servers': brokers });
const adminCall = (call) => new Promise((resolve, reject) => call((error) => (error ? reject(error) : resolve())));
await adminCall((done) =>
  admin.createTopic({ topic, num_partitions: partitions, replication_factor: 1 }, 10_000, done),
);

/** Fills the topic with kcat: `messages` JSON events dated over one day. */
function fill() {
  const base = Date.parse('2026-01-15T00:00:00Z');
  const lines = [];
  for (let i = 0; i < messages; i += 1) {
    const event = {
      event_id: `evt-${i}`,
      event_type: ['page_view', 'click', 'purchase', 'signup'][i % 4],
      source: ['web', 'ios', 'android'][i % 3],
      timestamp: new Date(base + ((i * 97) % 86_400_000)).toISOString(),
      payload: { user_id: `u${i % 5000}`, value: (i % 1000) / 10 },
    };
    lines.push(`k${i % 1000}\t${JSON.stringify(event)}`);
  }
  const result = spawnSync('kcat', ['-P', '-b', brokers, '-t', topic, '-K', '\t', '-z', 'lz4'], {
    input: `${lines.join('\n')}\n`,
    maxBuffer: 1 << 30,
  });
  if (result.status !== 0) throw new Error(`kcat failed: ${result.stderr}`);
}

/** Raw node-rdkafka consume-only loop: a fresh group reads the topic from the start to the end. */
async function raw() {
  const consumer = new Kafka.KafkaConsumer(
    {
      'group.id': `bench-raw-${randomBytes(4).toString('hex')}`,
      'metadata.broker.list': brokers,
      'enable.auto.commit': true,
    },
    { 'auto.offset.reset': 'earliest' },
  );
  await new Promise((resolve, reject) => consumer.connect({}, (error) => (error ? reject(error) : resolve())));
  consumer.subscribe([topic]);
  const started = process.hrtime.bigint();
  let seen = 0;
  while (seen < messages) {
    const batch = await new Promise((resolve, reject) =>
      consumer.consume(10_000, (error, got) => (error ? reject(error) : resolve(got))),
    );
    seen += batch.length;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await new Promise((resolve) => consumer.disconnect(() => resolve()));
  return messages / seconds;
}

/** stream_ingest through the CLI into parquet on MinIO, with a fresh database, group and lake prefix. */
async function ours(round) {
  const database = `bench_ingest_${randomBytes(4).toString('hex')}`;
  psql(env.DB_POSTGRES_URL, `CREATE DATABASE ${database}`);
  const dbUrl = Object.assign(new URL(env.DB_POSTGRES_URL), { pathname: `/${database}` }).toString();
  const prefix = `bench-ingest-${randomBytes(4).toString('hex')}/`;
  const childEnv = { ...env, DB_POSTGRES_URL: dbUrl, FS_MINIO_PREFIX: prefix, PLATFORM_AUTO_MIGRATE: 'true' };
  for (const key of Object.keys(childEnv))
    if (key.startsWith('PLATFORM_') && key !== 'PLATFORM_AUTO_MIGRATE') delete childEnv[key];
  const child = spawn(
    process.execPath,
    [
      ...[cli, 'run', 'stream_ingest', '--db', 'postgres', '--fs', 'minio', '--mq', 'kafka', '--env', 'test'],
      ...['--log', 'json', '--health-port', '0', '--topic', topic],
      ...['--group', `bench-ours-${round}`, '--batch-size', String(batchSize), '--flush-interval', '2s'],
    ],
    { cwd: root, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  while (!output.includes('Stream ingest consuming')) {
    if (child.exitCode !== null) throw new Error(`stream_ingest exited:\n${output}`);
    await sleep(20);
  }
  const started = process.hrtime.bigint();
  while (Number(psql(dbUrl, 'SELECT count(*) FROM ingested_events')) < messages) {
    if (child.exitCode !== null) throw new Error(`stream_ingest exited:\n${output}`);
    await sleep(100);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  child.kill('SIGTERM');
  await new Promise((resolve) => child.on('exit', resolve));
  const files = Number(psql(dbUrl, 'SELECT count(*) FROM lake_files'));
  psql(env.DB_POSTGRES_URL, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  spawnSync(
    'python3',
    [
      `${root}integration-tests/src/support/lake_reader.py`,
      'delete',
      env.FS_MINIO_ENDPOINT,
      env.FS_MINIO_ACCESS_KEY ?? '',
      '-',
      env.FS_MINIO_BUCKET,
      prefix,
    ],
    { env: { ...env, LAKE_READER_SECRET: env.FS_MINIO_SECRET_KEY ?? '' } },
  );
  return { rate: messages / seconds, files };
}

try {
  fill();
  const oursRates = [];
  const rawRates = [];
  let files = 0;
  for (let round = 0; round < rounds; round += 1) {
    if (round % 2 === 0) {
      rawRates.push(await raw());
      const result = await ours(round);
      oursRates.push(result.rate);
      files = result.files;
    } else {
      const result = await ours(round);
      oursRates.push(result.rate);
      files = result.files;
      rawRates.push(await raw());
    }
    console.log(`round ${round + 1}: ours ${format(oursRates.at(-1))} msg/s, raw ${format(rawRates.at(-1))} msg/s`);
  }
  const o = median(oursRates);
  const r = median(rawRates);
  console.log(
    `stream_ingest, ${format(messages)} messages, ${partitions} partitions, --batch-size ${batchSize}, parquet on MinIO (${files} files per run)`,
  );
  console.log(`  ours (committed parquet + ingested_events): ${format(o)} msg/s`);
  console.log(`  raw node-rdkafka consume-only loop:         ${format(r)} msg/s`);
  console.log(`  ratio ours/raw: ${(o / r).toFixed(3)} (goal >= 0.6)`);
} finally {
  await adminCall((done) => admin.deleteTopic(topic, 10_000, done)).catch(() => undefined);
  admin.disconnect();
}
