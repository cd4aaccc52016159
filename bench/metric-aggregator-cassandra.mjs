#!/usr/bin/env node
// metric_aggregator on Cassandra vs on PostgreSQL (issue 15 item 8): end-to-end events/s of
// `platform-host run metric_aggregator --mq redis-stream` with `--db cassandra` and with
// `--db postgres`, each draining the same Redis stream (already holding N events) to zero lag with a
// fresh consumer group, same run, rounds alternating which database goes first. Between rounds the
// tables are emptied. Prints the medians of both, their ratio, and the 1-minute load average.
//
//   npm run build && set -a && source /tmp/infra.env && set +a && \
//     node bench/metric-aggregator-cassandra.mjs [--events 100000] [--rounds 5] [--keys 1000] [--batch-size 500]
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import cassandra from 'cassandra-driver';
import { Redis } from 'ioredis';
import { cli, fillStream, format, median, option, psql, root, startWorker } from './lib/metric-aggregator.mjs';

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
/** The id of the stream's last entry, once it is filled. */
let lastEntryId;

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
  const worker = await startWorker({
    db,
    topic,
    group,
    batchSize,
    env: { ...environment(db), PLATFORM_AUTO_MIGRATE: 'false' },
    redis,
    stream,
    lastEntryId,
  });
  const seconds = await worker.drained();
  const peakRssKb = worker.peakRssKb();
  await worker.stop();
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
  lastEntryId = await fillStream(redis, stream, events, keys);
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
