#!/usr/bin/env node
// metric_aggregator on Cassandra vs on PostgreSQL (issue 15 item 8): end-to-end events/s of
// `platform-host run metric_aggregator --mq redis-stream` with `--db cassandra` and with
// `--db postgres`, each draining the same Redis stream (already holding N events) to zero lag with a
// fresh consumer group, same run, rounds alternating which database goes first. Between rounds the
// tables are emptied. Prints the medians of both, their ratio, and the 1-minute load average.
//
//   npm run build && set -a && source /tmp/infra.env && set +a && \
//     node bench/metric-aggregator-cassandra.mjs [--events 100000] [--rounds 5] [--keys 1000] [--batch-size 500]
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import cassandra from 'cassandra-driver';
import { Redis } from 'ioredis';

const option = (name, fallback) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
};
const events = option('events', 100_000);
const rounds = option('rounds', 5);
const keys = option('keys', 1000);
const batchSize = option('batch-size', 500);
const adminUrl = process.env.DB_POSTGRES_URL;
const redisUrl = process.env.MQ_REDIS_STREAM_URL;
const cassandraHosts = process.env.DB_CASSANDRA_HOSTS;
if (!adminUrl || !redisUrl || !cassandraHosts) {
  console.error(
    'Set DB_POSTGRES_URL, MQ_REDIS_STREAM_URL and DB_CASSANDRA_HOSTS (deploy/native/infra.sh up prints them).',
  );
  process.exit(2);
}
const root = fileURLToPath(new URL('..', import.meta.url));
const cli = `${root}host/runtime/bin/platform-host.js`;

function psql(url, sql) {
  const result = spawnSync('psql', [url, '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`psql failed: ${result.stderr || result.error?.message}`);
  return result.stdout.trim();
}
const suffix = randomBytes(4).toString('hex');
const databaseName = `bench_metric_${suffix}`;
const keyspace = `bench_metric_${suffix}`;
psql(adminUrl, `CREATE DATABASE ${databaseName}`);
const dbUrl = Object.assign(new URL(adminUrl), { pathname: `/${databaseName}` }).toString();
const cql = new cassandra.Client({ contactPoints: cassandraHosts.split(','), localDataCenter: 'datacenter1' });
const CQL_TABLES = [
  'metric_rollups',
  'metric_rollup_parts',
  'metric_rollup_open_windows',
  'metric_aggregator_watermarks',
  'metric_aggregator_writers',
  'metric_aggregator_applied_messages',
  'metric_aggregator_partition_offsets',
];

const prefix = `bench-metric-cass-${suffix}:`;
const topic = 'events';
const stream = `${prefix}${topic}`;
const redis = new Redis(redisUrl, { protocol: 2 });
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const elapsedSeconds = (started) => Number(process.hrtime.bigint() - started) / 1e9;
const format = (n) => Math.round(n).toLocaleString('en-US');

/** N events in time order over the last 50 minutes, `keys` distinct users, 4 event types, numeric values. */
async function fillStream() {
  const types = ['purchase', 'view', 'click', 'signup'];
  const end = Date.now() - 60_000;
  const span = 50 * 60_000;
  for (let sent = 0; sent < events; sent += 1000) {
    const pipeline = redis.pipeline();
    for (let i = sent; i < Math.min(events, sent + 1000); i += 1) {
      const event = {
        event_id: `b-${i}`,
        event_type: types[i % 4],
        source: 'bench',
        timestamp: new Date(end - span + Math.floor((i * span) / events)).toISOString(),
        payload: { user: `u${i % keys}`, value: (i % 1000) / 10 },
      };
      pipeline.xadd(stream, '*', 'value', JSON.stringify(event));
    }
    await pipeline.exec();
  }
}

async function groupDone(group) {
  const groups = await redis.xinfo('GROUPS', stream);
  for (const fields of groups) {
    const entry = Object.fromEntries(
      fields.reduce((pairs, value, index) => (index % 2 ? pairs : [...pairs, [value, fields[index + 1]]]), []),
    );
    if (entry.name === group) return Number(entry.lag) === 0 && Number(entry.pending) === 0;
  }
  return false;
}

/** Events applied: the sum of event_count over the one-minute windows (raw driver on Cassandra, psql on PostgreSQL). */
async function appliedEvents(db) {
  if (db === 'postgres') {
    return Number(psql(dbUrl, 'SELECT sum(event_count) FROM metric_rollups WHERE window_seconds = 60'));
  }
  let total = 0;
  let pageState;
  do {
    const page = await cql.execute(`SELECT window_seconds, event_count FROM ${keyspace}.metric_rollups`, [], {
      fetchSize: 5000,
      ...(pageState ? { pageState } : {}),
    });
    for (const row of page.rows) if (row.window_seconds === 60) total += Number(row.event_count);
    pageState = page.pageState ?? undefined;
  } while (pageState);
  return total;
}

async function emptyTables(db) {
  if (db === 'postgres') {
    psql(dbUrl, 'TRUNCATE metric_rollups, metric_aggregator_applied_messages, metric_aggregator_watermarks');
    return;
  }
  for (const table of CQL_TABLES) await cql.execute(`TRUNCATE ${keyspace}.${table}`);
}

function environment(db) {
  const base = {
    ...process.env,
    MQ_REDIS_STREAM_URL: redisUrl,
    MQ_REDIS_STREAM_KEY_PREFIX: prefix,
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
  };
  return db === 'postgres'
    ? { ...base, DB_POSTGRES_URL: dbUrl }
    : { ...base, DB_CASSANDRA_HOSTS: cassandraHosts, DB_CASSANDRA_KEYSPACE: keyspace };
}

async function workerDrain(db, group) {
  await emptyTables(db);
  const child = spawn(
    process.execPath,
    [
      cli,
      'run',
      'metric_aggregator',
      '--db',
      db,
      '--mq',
      'redis-stream',
      '--env',
      'test',
      '--log',
      'json',
      '--health-port',
      '0',
      '--topic',
      topic,
      '--group',
      group,
      '--group-by',
      'event_type,payload.user',
      '--batch-size',
      String(batchSize),
    ],
    { cwd: root, env: { ...environment(db), PLATFORM_AUTO_MIGRATE: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  while (!output.includes('Metric aggregator consuming')) {
    if (child.exitCode !== null) throw new Error(`worker exited:\n${output}`);
    await sleep(2);
  }
  const started = process.hrtime.bigint();
  while (!(await groupDone(group))) await sleep(20);
  const seconds = elapsedSeconds(started);
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const peakRssKb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  child.kill('SIGTERM');
  const code = await exited;
  if (code !== 0) throw new Error(`worker exit ${code}:\n${output.slice(-2000)}`);
  const applied = await appliedEvents(db);
  if (applied !== events) throw new Error(`worker on ${db} applied ${applied} of ${events} events`);
  return { seconds, peakRssKb };
}

function migrate(db) {
  const result = spawnSync(process.execPath, [cli, 'migrate', 'up', '--db', db, '--env', 'test'], {
    cwd: root,
    env: environment(db),
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`migrate up --db ${db} failed: ${result.stderr}${result.stdout}`);
}

try {
  await cql.connect();
  migrate('postgres');
  migrate('cassandra');
  await fillStream();
  const results = { postgres: [], cassandra: [] };
  for (let round = 0; round < rounds; round += 1) {
    const order = round % 2 === 0 ? ['cassandra', 'postgres'] : ['postgres', 'cassandra'];
    for (const db of order) results[db].push(await workerDrain(db, `${db}-${round}`));
    const rate = (db) => format(events / results[db][results[db].length - 1].seconds);
    console.log(`round ${round + 1}: cassandra ${rate('cassandra')} ev/s, postgres ${rate('postgres')} ev/s`);
  }
  const rate = (db) => events / median(results[db].map((r) => r.seconds));
  const peak = (db) => (Math.max(...results[db].map((r) => r.peakRssKb)) / 1024).toFixed(1);
  console.log(
    `\n${format(events)} events in the stream, ${format(keys)} users x 4 event types, windows 1m,1h, batch size ${batchSize}, median of ${rounds}`,
  );
  console.log(
    `  metric_aggregator --db postgres  --mq redis-stream : ${format(rate('postgres'))} events/s (peak RSS ${peak('postgres')} MB)`,
  );
  console.log(
    `  metric_aggregator --db cassandra --mq redis-stream : ${format(rate('cassandra'))} events/s (peak RSS ${peak('cassandra')} MB)`,
  );
  console.log(
    `  ratio cassandra / postgres                         : ${(rate('cassandra') / rate('postgres')).toFixed(3)}`,
  );
  console.log(`  load average                                       : ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
} finally {
  const streamKeys = await redis.keys(`${prefix}*`);
  if (streamKeys.length > 0) await redis.del(...streamKeys);
  redis.disconnect();
  psql(adminUrl, `DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
  await cql.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`).catch(() => undefined);
  await cql.shutdown();
}
