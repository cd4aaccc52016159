#!/usr/bin/env node
// metric_aggregator benchmark (issue 11): end-to-end events/s of `platform-host run metric_aggregator
// --db postgres --mq redis-stream` draining a stream already holding N events to zero lag (every
// entry acknowledged, so every rollup committed), against a raw ioredis XREADGROUP + XACK loop
// draining the same stream (a fresh consumer group each), same run, rounds alternating which side
// goes first. Prints the medians, their ratio, the worker's peak RSS and the live (open) rollup rows
// the run produced.
// Goals: ratio >= 0.5, >= 30,000 events/s, peak RSS <= 200 MB at 100,000 live group keys.
//
//   npm run build && DB_POSTGRES_URL=postgresql://postgres@127.0.0.1:55432/platform \
//     MQ_REDIS_STREAM_URL=redis://127.0.0.1:56379/1 node bench/metric-aggregator.mjs \
//     [--events 200000] [--rounds 5] [--keys 100000] [--batch-size 500] [--worker-node-options '--max-semi-space-size=8']
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import {
  cli,
  elapsedSeconds,
  fillStream,
  format,
  median,
  option,
  psql,
  root,
  startWorker,
} from './lib/metric-aggregator.mjs';
const events = option('events', 200_000);
const rounds = option('rounds', 5);
const keys = option('keys', 100_000);
const batchSize = option('batch-size', 500);
// The worker's Node options, as deploy/ (Kubernetes, compose) sets them: V8's young generation
// otherwise grows to 64 MB semi-spaces under the backlog. `--worker-node-options ''` runs without.
const workerNodeOptionsIndex = process.argv.indexOf('--worker-node-options');
const workerNodeOptions =
  workerNodeOptionsIndex === -1 ? '--max-semi-space-size=8' : (process.argv[workerNodeOptionsIndex + 1] ?? '');
const adminUrl = process.env.DB_POSTGRES_URL;
const redisUrl = process.env.MQ_REDIS_STREAM_URL;
if (!adminUrl || !redisUrl) {
  console.error('Set DB_POSTGRES_URL and MQ_REDIS_STREAM_URL (deploy/native/infra.sh up postgres redis prints them).');
  process.exit(2);
}
const databaseName = `bench_metric_${randomBytes(4).toString('hex')}`;
psql(adminUrl, `CREATE DATABASE ${databaseName}`);
const dbUrl = Object.assign(new URL(adminUrl), { pathname: `/${databaseName}` }).toString();

const prefix = `bench-metric-${randomBytes(4).toString('hex')}:`;
const topic = 'events';
const stream = `${prefix}${topic}`;
// RESP2, as the adapter: the raw XREADGROUP reply below is read in its RESP2 shape.
const redis = new Redis(redisUrl, { protocol: 2 });
/** The id of the stream's last entry, once it is filled. */
let lastEntryId;

async function rawDrain(group) {
  const started = process.hrtime.bigint();
  const reader = redis.duplicate();
  await reader.xgroup('CREATE', stream, group, '0');
  let consumed = 0;
  while (consumed < events) {
    const reply = await reader.xreadgroupBuffer(
      'GROUP',
      group,
      'raw',
      'COUNT',
      batchSize,
      'BLOCK',
      1000,
      'STREAMS',
      stream,
      '>',
    );
    const entries = reply?.[0]?.[1] ?? [];
    if (entries.length === 0) continue;
    await reader.xack(stream, group, ...entries.map(([id]) => id));
    consumed += entries.length;
  }
  const seconds = elapsedSeconds(started);
  reader.disconnect();
  return seconds;
}

/** User + system CPU milliseconds of a process of this machine (from /proc; 0 once it is gone). */
function cpuMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return 0;
  }
}
const clockTicks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/**
 * CPU milliseconds of the PostgreSQL backends serving the bench database (the worker's pool), when
 * the server runs on this machine: per backend pid, used since `before` (a map from an earlier call).
 */
function serverCpuMs(before) {
  const pids = psql(adminUrl, `SELECT pid FROM pg_stat_activity WHERE datname = '${databaseName}'`)
    .split('\n')
    .filter(Boolean);
  if (before === undefined) return new Map(pids.map((pid) => [pid, cpuMs(pid)]));
  return pids.reduce((total, pid) => total + cpuMs(pid) - (before.get(pid) ?? 0), 0);
}

async function workerDrain(group) {
  psql(dbUrl, 'TRUNCATE metric_rollups, metric_aggregator_applied_messages, metric_aggregator_watermarks');
  const worker = await startWorker({
    db: 'postgres',
    topic,
    group,
    batchSize,
    env: {
      ...process.env,
      DB_POSTGRES_URL: dbUrl,
      MQ_REDIS_STREAM_URL: redisUrl,
      MQ_REDIS_STREAM_KEY_PREFIX: prefix,
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
      NODE_OPTIONS: [process.env.NODE_OPTIONS, workerNodeOptions].filter(Boolean).join(' '),
    },
    redis,
    stream,
    lastEntryId,
  });
  const workerCpuBefore = cpuMs(worker.pid);
  const serverCpuBefore = serverCpuMs();
  const seconds = await worker.drained();
  const workerCpu = cpuMs(worker.pid) - workerCpuBefore;
  const serverCpu = serverCpuMs(serverCpuBefore);
  const peakRssKb = worker.peakRssKb();
  await worker.stop();
  const output = worker.output();
  if (process.env.BENCH_WORKER_LOG)
    (await import('node:fs')).writeFileSync(`${process.env.BENCH_WORKER_LOG}.${group}`, output);
  const applied = Number(psql(dbUrl, `SELECT sum(event_count) FROM metric_rollups WHERE window_seconds = 60`));
  if (applied !== events) {
    const summary = output.split('\n').filter((line) => /"level":"(WARN|ERROR)"|stopped/.test(line));
    const deadLetters = await redis.xrange(`${stream}.dead-letter`, '-', '+', 'COUNT', 2);
    throw new Error(
      `worker applied ${applied} of ${events} events:\n${summary.join('\n').slice(-4000)}\nfirst dead letters: ${JSON.stringify(deadLetters).slice(0, 3000)}`,
    );
  }
  const open = Number(psql(dbUrl, 'SELECT count(*) FROM metric_rollups WHERE closed_at IS NULL'));
  const rows = Number(psql(dbUrl, 'SELECT count(*) FROM metric_rollups'));
  return { seconds, peakRssKb, open, rows, workerCpu, serverCpu };
}

try {
  // Creates the schema once (the timed runs then find it migrated).
  const migrate = spawnSync(process.execPath, [cli, 'migrate', 'up', '--db', 'postgres', '--env', 'test'], {
    cwd: root,
    env: { ...process.env, DB_POSTGRES_URL: dbUrl },
    encoding: 'utf8',
  });
  if (migrate.status !== 0) throw new Error(`migrate up failed: ${migrate.stderr}${migrate.stdout}`);
  lastEntryId = await fillStream(redis, stream, events, keys);
  const raw = [];
  const ours = [];
  for (let round = 0; round < rounds; round += 1) {
    const order = round % 2 === 0 ? ['raw', 'ours'] : ['ours', 'raw'];
    for (const side of order) {
      if (side === 'raw') raw.push(await rawDrain(`raw-${round}`));
      else ours.push(await workerDrain(`ours-${round}`));
    }
    const last = ours[ours.length - 1];
    console.log(
      `round ${round + 1}: raw ${format(events / raw[raw.length - 1])} ev/s, metric_aggregator ${format(events / last.seconds)} ev/s, peak RSS ${(last.peakRssKb / 1024).toFixed(1)} MB, rollup rows ${format(last.rows)} (open ${format(last.open)}), CPU per event: worker ${((last.workerCpu * 1000) / events).toFixed(1)} us, PostgreSQL ${((last.serverCpu * 1000) / events).toFixed(1)} us, load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}`,
    );
  }
  const rawRate = events / median(raw);
  const oursRate = events / median(ours.map((r) => r.seconds));
  const peak = Math.max(...ours.map((r) => r.peakRssKb)) / 1024;
  console.log(
    `\n${format(events)} events in the stream, ${format(keys)} users x 4 event types, windows 1m,1h, batch size ${batchSize}, median of ${rounds}, worker NODE_OPTIONS '${workerNodeOptions}'`,
  );
  console.log(`  raw ioredis XREADGROUP COUNT ${batchSize} + XACK : ${format(rawRate)} events/s`);
  console.log(`  metric_aggregator (postgres, redis-stream)  : ${format(oursRate)} events/s (goal >= 30,000)`);
  console.log(`  ratio metric_aggregator / raw               : ${(oursRate / rawRate).toFixed(3)} (goal >= 0.5)`);
  console.log(`  peak RSS of the worker                      : ${peak.toFixed(1)} MB (goal <= 200 MB)`);
  console.log(`  live group keys (open rollup rows)          : ${format(Math.max(...ours.map((r) => r.open)))}`);
  console.log(
    `  CPU per event (medians): worker ${((median(ours.map((r) => r.workerCpu)) * 1000) / events).toFixed(1)} us, PostgreSQL backends ${((median(ours.map((r) => r.serverCpu)) * 1000) / events).toFixed(1)} us; load average ${readFileSync('/proc/loadavg', 'utf8').trim()}`,
  );
} finally {
  const streamKeys = await redis.keys(`${prefix}*`);
  if (streamKeys.length > 0) await redis.del(...streamKeys);
  redis.disconnect();
  psql(adminUrl, `DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
}
