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
//       [--service-node-options '--max-semi-space-size=16'] [--cpu-prof DIR] [--baseline CHECKOUT]
//
// --baseline CHECKOUT: also runs the service of another built checkout of this repository (e.g.
// main's) in every round, on the same topic, so a change is compared with its predecessor in the
// same run; its figures print beside ours.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
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
// --cpu-prof DIR: the service writes a V8 CPU profile per round there (for profiling, not timing).
const cpuProfDir = process.argv.includes('--cpu-prof')
  ? process.argv[process.argv.indexOf('--cpu-prof') + 1]
  : undefined;
// --service-node-options '...': NODE_OPTIONS of the service process only (e.g. the young-generation
// flag deploy/ sets for metric_aggregator, '--max-semi-space-size=16'); default: none. Not given to
// the --baseline service, so `--baseline .` measures the flag against none in the same run.
const serviceNodeOptions = process.argv.includes('--service-node-options')
  ? process.argv[process.argv.indexOf('--service-node-options') + 1]
  : undefined;
// --baseline DIR: a second built checkout whose service runs in every round too.
const baselineRoot = process.argv.includes('--baseline')
  ? `${process.argv[process.argv.indexOf('--baseline') + 1].replace(/\/$/, '')}/`
  : undefined;
const env = process.env;
for (const key of ['DB_POSTGRES_URL', 'MQ_KAFKA_BOOTSTRAP_SERVERS', 'FS_MINIO_ENDPOINT', 'FS_MINIO_BUCKET']) {
  if (!env[key]) {
    console.error(`Set ${key} (source /tmp/infra.env or deploy/native/infra.sh up).`);
    process.exit(2);
  }
}
const brokers = env.MQ_KAFKA_BOOTSTRAP_SERVERS;
const root = fileURLToPath(new URL('..', import.meta.url));
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

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); 0 when unreadable. */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return 0;
  }
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
  const cpuBefore = process.cpuUsage();
  let seen = 0;
  while (seen < messages) {
    const batch = await new Promise((resolve, reject) =>
      consumer.consume(10_000, (error, got) => (error ? reject(error) : resolve(got))),
    );
    seen += batch.length;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  await new Promise((resolve) => consumer.disconnect(() => resolve()));
  return { rate: messages / seconds, cpuUsPerMessage: (cpu.user + cpu.system) / messages };
}

/** stream_ingest through the CLI into parquet on MinIO, with a fresh database, group and lake prefix. */
async function ours(round, checkout = root) {
  const cli = `${checkout}host/runtime/bin/platform-host.js`;
  const database = `bench_ingest_${randomBytes(4).toString('hex')}`;
  psql(env.DB_POSTGRES_URL, `CREATE DATABASE ${database}`);
  const dbUrl = Object.assign(new URL(env.DB_POSTGRES_URL), { pathname: `/${database}` }).toString();
  const prefix = `bench-ingest-${randomBytes(4).toString('hex')}/`;
  const childEnv = { ...env, DB_POSTGRES_URL: dbUrl, FS_MINIO_PREFIX: prefix, PLATFORM_AUTO_MIGRATE: 'true' };
  if (serviceNodeOptions !== undefined && checkout === root) childEnv.NODE_OPTIONS = serviceNodeOptions;
  for (const key of Object.keys(childEnv))
    if (key.startsWith('PLATFORM_') && key !== 'PLATFORM_AUTO_MIGRATE') delete childEnv[key];
  const child = spawn(
    process.execPath,
    [
      ...(cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', cpuProfDir]),
      ...[cli, 'run', 'stream_ingest', '--db', 'postgres', '--fs', 'minio', '--mq', 'kafka', '--env', 'test'],
      ...['--log', 'json', '--health-port', '0', '--topic', topic],
      ...[
        '--group',
        `bench-ours-${round}-${randomBytes(2).toString('hex')}`,
        '--batch-size',
        String(batchSize),
        '--flush-interval',
        '2s',
      ],
    ],
    { cwd: checkout, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  while (!output.includes('Stream ingest consuming')) {
    if (child.exitCode !== null) throw new Error(`stream_ingest exited:\n${output}`);
    await sleep(20);
  }
  const started = process.hrtime.bigint();
  const serviceCpuBefore = cpuSeconds(child.pid);
  // lake_files rows commit in the same transaction as their ingested_events rows: summing their
  // record_count polls the same condition far more cheaply than count(*) over ingested_events.
  while (Number(psql(dbUrl, 'SELECT coalesce(sum(record_count), 0) FROM lake_files')) < messages) {
    if (child.exitCode !== null) throw new Error(`stream_ingest exited:\n${output}`);
    await sleep(100);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const serviceCpu = cpuSeconds(child.pid) - serviceCpuBefore;
  const backends = psql(env.DB_POSTGRES_URL, `SELECT pid FROM pg_stat_activity WHERE datname = '${database}'`)
    .split('\n')
    .filter((pid) => pid !== '');
  const postgresCpu = backends.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  child.kill('SIGTERM');
  await new Promise((resolve) => child.on('exit', resolve));
  if (process.env.BENCH_SERVICE_LOG) writeFileSync(`${process.env.BENCH_SERVICE_LOG}.${round}`, output);
  const files = Number(psql(dbUrl, 'SELECT count(*) FROM lake_files'));
  const rows = Number(psql(dbUrl, 'SELECT count(*) FROM ingested_events'));
  if (rows !== messages) throw new Error(`ingested_events holds ${rows} rows, expected ${messages}`);
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
  return {
    rate: messages / seconds,
    files,
    serviceCpuUsPerMessage: (serviceCpu * 1e6) / messages,
    postgresCpuUsPerMessage: (postgresCpu * 1e6) / messages,
  };
}

try {
  fill();
  const oursRates = [];
  const rawRates = [];
  const serviceCpu = [];
  const postgresCpu = [];
  const rawCpu = [];
  let files = 0;
  const runOurs = async (round) => {
    const result = await ours(round);
    oursRates.push(result.rate);
    serviceCpu.push(result.serviceCpuUsPerMessage);
    postgresCpu.push(result.postgresCpuUsPerMessage);
    files = result.files;
  };
  const runRaw = async () => {
    const result = await raw();
    rawRates.push(result.rate);
    rawCpu.push(result.cpuUsPerMessage);
  };
  const baseline = { rates: [], serviceCpu: [], postgresCpu: [] };
  const runBaseline = async (round) => {
    if (baselineRoot === undefined) return;
    const result = await ours(round, baselineRoot);
    baseline.rates.push(result.rate);
    baseline.serviceCpu.push(result.serviceCpuUsPerMessage);
    baseline.postgresCpu.push(result.postgresCpuUsPerMessage);
  };
  for (let round = 0; round < rounds; round += 1) {
    // Alternate which side goes first.
    if (round % 2 === 0) {
      await runRaw();
      await runBaseline(round);
      await runOurs(round);
    } else {
      await runOurs(round);
      await runBaseline(round);
      await runRaw();
    }
    console.log(
      `round ${round + 1}: ours ${format(oursRates.at(-1))} msg/s (${serviceCpu.at(-1).toFixed(1)} µs/msg)` +
        (baselineRoot === undefined
          ? ''
          : `, baseline ${format(baseline.rates.at(-1))} msg/s (${baseline.serviceCpu.at(-1).toFixed(1)} µs/msg)`) +
        `, raw ${format(rawRates.at(-1))} msg/s`,
    );
  }
  const o = median(oursRates);
  const r = median(rawRates);
  console.log(
    `stream_ingest, ${format(messages)} messages, ${partitions} partitions, --batch-size ${batchSize} --flush-interval 2s, parquet on MinIO (${files} files per run)${serviceNodeOptions ? `, service NODE_OPTIONS=${serviceNodeOptions}` : ''}`,
  );
  console.log(`  ours (committed parquet + ingested_events): ${format(o)} msg/s`);
  console.log(`  raw node-rdkafka consume-only loop:         ${format(r)} msg/s`);
  console.log(`  ratio ours/raw: ${(o / r).toFixed(3)} (goal >= 0.6)`);
  const us = (values) => median(values).toFixed(1);
  console.log(
    `  CPU per message (median, µs): stream_ingest process ${us(serviceCpu)}, its PostgreSQL backends ${us(postgresCpu)}; raw loop process ${us(rawCpu)} (Kafka broker and MinIO not counted: shared)`,
  );
  if (baselineRoot !== undefined) {
    const b = median(baseline.rates);
    console.log(
      `  baseline ${baselineRoot}: ${format(b)} msg/s, ratio ${(b / r).toFixed(3)}; CPU per message (median, µs): service ${median(baseline.serviceCpu).toFixed(1)}, PostgreSQL ${median(baseline.postgresCpu).toFixed(1)}`,
    );
  }
  console.log(`  load average: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
} finally {
  await adminCall((done) => admin.deleteTopic(topic, 10_000, done)).catch(() => undefined);
  admin.disconnect();
}
