// What the metric_aggregator benchmarks share (bench/metric-aggregator.mjs against raw ioredis,
// bench/metric-aggregator-cassandra.mjs Cassandra against PostgreSQL): command-line numbers,
// medians, psql, the Redis stream of events, and a `platform-host run metric_aggregator` worker
// timed from "consuming" until its consumer group has drained the stream.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/** The repository root and the real CLI. */
export const root = fileURLToPath(new URL('../..', import.meta.url));
export const cli = `${root}host/runtime/bin/platform-host.js`;

/** `--name N` from the command line as a number, else `fallback`. */
export function option(name, fallback) {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}

export const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
export const elapsedSeconds = (started) => Number(process.hrtime.bigint() - started) / 1e9;
export const format = (n) => Math.round(n).toLocaleString('en-US');

/** Runs one statement with psql and returns its unaligned output. */
export function psql(url, sql) {
  const result = spawnSync('psql', [url, '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`psql failed: ${result.stderr || result.error?.message}`);
  return result.stdout.trim();
}

/**
 * Appends `events` platform events to `stream` in time order over the last 50 minutes, `keys`
 * distinct users, 4 event types, numeric values; returns the id of the last entry.
 */
export async function fillStream(redis, stream, events, keys) {
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
  return (await redis.xrevrange(stream, '+', '-', 'COUNT', 1))[0]?.[0];
}

/** Whether consumer `group` of `stream` has drained it. */
export async function groupDone(redis, stream, group, lastEntryId) {
  const groups = await redis.xinfo('GROUPS', stream);
  for (const fields of groups) {
    const entry = Object.fromEntries(
      fields.reduce((pairs, value, index) => (index % 2 ? pairs : [...pairs, [value, fields[index + 1]]]), []),
    );
    // Drained: the group was handed the stream's last entry and holds nothing unacknowledged. (Its
    // `lag` is not used: Redis reports it as nil, which Number() reads as 0, when it cannot tell.)
    if (entry.name === group) return entry['last-delivered-id'] === lastEntryId && Number(entry.pending) === 0;
  }
  return false;
}

/**
 * Starts `platform-host run metric_aggregator --db <db> --mq redis-stream` on `topic` with consumer
 * `group` (`env`: the child's whole environment) and resolves once it logs that it is consuming.
 * The handle's `drained()` waits until the group drained `stream` and returns the seconds it
 * waited (call it right away: the worker is already consuming); `peakRssKb()` reads the worker's peak RSS; `stop()` sends SIGTERM and fails
 * unless it exits 0.
 */
export async function startWorker({ db, topic, group, batchSize, env, redis, stream, lastEntryId }) {
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
    { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  while (!output.includes('Metric aggregator consuming')) {
    if (child.exitCode !== null) throw new Error(`worker exited:\n${output}`);
    await sleep(2);
  }
  return {
    pid: child.pid,
    output: () => output,
    async drained() {
      const started = process.hrtime.bigint();
      while (!(await groupDone(redis, stream, group, lastEntryId))) await sleep(20);
      return elapsedSeconds(started);
    },
    peakRssKb: () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0),
    async stop() {
      child.kill('SIGTERM');
      const code = await exited;
      if (code !== 0) throw new Error(`worker exit ${code}:\n${output.slice(-2000)}`);
    },
  };
}
