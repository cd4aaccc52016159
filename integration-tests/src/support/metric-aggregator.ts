import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { waitFor } from '@platform-host/test-kit';
import { CLI, REPO_ROOT, cliEnv } from './cli.js';
import { psql } from './psql.js';

/** One generated platform event and the message value it is published as. */
export interface PublishedEvent {
  readonly value: string;
  /** `undefined` for events the worker must dead-letter. */
  readonly valid?: { readonly eventType: string; readonly timeMs: number; readonly value: number | undefined };
}

/** One rollup row, as computed independently by the test or read back with psql. */
export interface RollupRow {
  events: number;
  values: number;
  sum: number | null;
  min: number | null;
  max: number | null;
}

/** Events spread over `spanMs` before `endMs`, a few types, values mostly numbers, some invalid. */
export function generateEvents(count: number, source: string, endMs: number, spanMs: number): PublishedEvent[] {
  const types = ['purchase', 'view', 'click', 'signup'];
  const events: PublishedEvent[] = [];
  for (let index = 0; index < count; index += 1) {
    if (index % 97 === 13) {
      events.push({ value: index % 2 === 0 ? '{"event_type": "cut off' : JSON.stringify({ source, payload: {} }) });
      continue;
    }
    const eventType = types[index % types.length] ?? 'purchase';
    const timeMs = endMs - Math.floor(((index * 7919) % count) * (spanMs / count));
    const value = index % 5 === 0 ? undefined : Math.round(((index * 31) % 1000) * 1.37 * 1000) / 1000 - 200;
    events.push({
      value: JSON.stringify({
        event_id: `e-${index}`,
        event_type: eventType,
        source,
        timestamp: new Date(timeMs).toISOString(),
        payload: value === undefined ? { note: 'no value' } : { value },
      }),
      valid: { eventType, timeMs, value },
    });
  }
  return events;
}

/** The rollup rows the published events must produce, keyed `window_seconds|start_seconds|event_type`. */
export function expectedRollups(events: readonly PublishedEvent[], windows: readonly number[]): Map<string, RollupRow> {
  const rows = new Map<string, RollupRow>();
  for (const { valid } of events) {
    if (valid === undefined) continue;
    for (const size of windows) {
      const start = Math.floor(valid.timeMs / 1000 / size) * size;
      const key = `${size}|${start}|${valid.eventType}`;
      const row = rows.get(key) ?? { events: 0, values: 0, sum: null, min: null, max: null };
      row.events += 1;
      if (valid.value !== undefined) {
        row.values += 1;
        row.sum = (row.sum ?? 0) + valid.value;
        row.min = row.min === null ? valid.value : Math.min(row.min, valid.value);
        row.max = row.max === null ? valid.value : Math.max(row.max, valid.value);
      }
      rows.set(key, row);
    }
  }
  return rows;
}

/** The rows of metric_rollups for `source`, read with psql, keyed as {@link expectedRollups}. */
export function storedRollups(databaseUrl: string, source: string): Map<string, RollupRow & { avg: number | null }> {
  const out = psql(
    databaseUrl,
    `SELECT window_seconds, extract(epoch FROM window_start)::bigint, dimensions->>'event_type', event_count, value_count,
            value_sum, value_min, value_max, value_avg
     FROM metric_rollups WHERE dimensions->>'source' = '${source}'`,
  );
  const rows = new Map<string, RollupRow & { avg: number | null }>();
  for (const line of out.split('\n').filter(Boolean)) {
    const [size, start, type, events, values, sum, min, max, avg] = line.split('|');
    const number = (text: string | undefined): number | null =>
      text === undefined || text === '' ? null : Number(text);
    rows.set(`${size}|${start}|${type}`, {
      events: Number(events),
      values: Number(values),
      sum: number(sum),
      min: number(min),
      max: number(max),
      avg: number(avg),
    });
  }
  return rows;
}

/** A Redis Streams setup of one test: its own key prefix, an independent client, cleanup. */
export class StreamFixture {
  readonly prefix = `it-metric-${randomBytes(4).toString('hex')}:`;
  readonly topic = 'events';
  readonly redis: Redis;

  constructor(readonly url: string) {
    this.redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2, protocol: 2 });
  }

  get streamKey(): string {
    return `${this.prefix}${this.topic}`;
  }

  /** XADD with the adapter's documented entry field `value`, in pipelines of 500. */
  async publish(events: readonly PublishedEvent[]): Promise<void> {
    for (let start = 0; start < events.length; start += 500) {
      const pipeline = this.redis.pipeline();
      for (const event of events.slice(start, start + 500)) pipeline.xadd(this.streamKey, '*', 'value', event.value);
      await pipeline.exec();
    }
  }

  /** The group's lag and pending count (`XINFO GROUPS`); lag is `null` when Redis cannot tell. */
  async groupState(group: string): Promise<{ lag: number | null; pending: number } | undefined> {
    const groups = (await this.redis.xinfo('GROUPS', this.streamKey).catch(() => [])) as unknown[][];
    for (const fields of groups) {
      const entry = new Map<string, unknown>();
      for (let index = 0; index + 1 < fields.length; index += 2) entry.set(String(fields[index]), fields[index + 1]);
      if (entry.get('name') === group) {
        const lag = entry.get('lag');
        return { lag: lag === null || lag === undefined ? null : Number(lag), pending: Number(entry.get('pending')) };
      }
    }
    return undefined;
  }

  /** Waits until the group has read everything (lag 0) and acknowledged it (pending 0). */
  async waitForZeroLag(group: string, timeoutMs: number): Promise<void> {
    await waitFor(
      async () => {
        const state = await this.groupState(group);
        return state !== undefined && state.lag === 0 && state.pending === 0;
      },
      timeoutMs,
      `group ${group} at zero lag with nothing pending`,
    );
  }

  /** Entries of the dead-letter stream and their `reason` header. */
  async deadLetterReasons(): Promise<string[]> {
    const entries = await this.redis.xrange(`${this.streamKey}.dead-letter`, '-', '+');
    return entries.map(([, fields]) => {
      const index = fields.indexOf('h:reason');
      return index >= 0 ? (fields[index + 1] ?? '') : '';
    });
  }

  async cleanup(): Promise<void> {
    const keys = await this.redis.keys(`${this.prefix}*`);
    if (keys.length > 0) await this.redis.del(...keys);
    this.redis.disconnect();
  }
}

/** A metric_aggregator worker started through the real CLI. */
export class WorkerProcess {
  readonly child: ChildProcess;
  output = '';
  readonly exited: Promise<number | null>;

  constructor(args: readonly string[], env: Record<string, string>) {
    this.child = spawn(process.execPath, [CLI, 'run', 'metric_aggregator', ...args], {
      cwd: REPO_ROOT,
      env: cliEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  /** Resolves once the worker has subscribed. */
  async consuming(timeoutMs = 60_000): Promise<void> {
    await waitFor(
      () => this.output.includes('Metric aggregator consuming') || this.child.exitCode !== null,
      timeoutMs,
      'the worker to subscribe',
    );
    if (this.child.exitCode !== null) throw new Error(`the worker exited early:\n${this.output}`);
  }

  kill9(): Promise<number | null> {
    this.child.kill('SIGKILL');
    return this.exited;
  }

  async terminate(): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.exited;
    this.child.kill('SIGTERM');
    return this.exited;
  }
}
