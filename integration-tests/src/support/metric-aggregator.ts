import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { waitFor } from '@platform-host/test-kit';
import { ModuleProcess } from './module-process.js';
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

/** The window sizes of the end-to-end tests (the module's default `1m,1h`). */
export const E2E_WINDOWS = [60, 3600];

/** Events applied for `source`: the sum of `event_count` over its one-minute windows. */
export function appliedEvents(databaseUrl: string, source: string): number {
  const out = psql(
    databaseUrl,
    `SELECT coalesce(sum(event_count), 0) FROM metric_rollups WHERE window_seconds = 60 AND dimensions->>'source' = '${source}'`,
  );
  return Number(out);
}

/** Every stored row equals the independently computed one: exact counts, sums within 1e-9 relative. */
export function expectRollupsToMatch(databaseUrl: string, source: string, events: readonly PublishedEvent[]): void {
  expectStoredToMatch(storedRollups(databaseUrl, source), expectedRollups(events, E2E_WINDOWS));
}

/** `stored` has exactly the keys of `expected`, each with exact counts and values within 1e-9 relative. */
export function expectStoredToMatch(
  stored: ReadonlyMap<string, RollupRow & { avg: number | null }>,
  expected: ReadonlyMap<string, RollupRow>,
): void {
  expect([...stored.keys()].sort()).to.deep.equal([...expected.keys()].sort());
  const close = (actual: number | null, wanted: number | null, what: string): void => {
    if (wanted === null) {
      expect(actual, what).to.equal(null);
      return;
    }
    expect(actual, what).to.not.equal(null);
    expect(Math.abs((actual ?? 0) - wanted), what).to.be.at.most(1e-9 * Math.max(1, Math.abs(wanted)));
  };
  for (const [key, want] of expected) {
    const got = stored.get(key);
    expect(got?.events, `${key} event_count`).to.equal(want.events);
    expect(got?.values, `${key} value_count`).to.equal(want.values);
    close(got?.sum ?? null, want.sum, `${key} value_sum`);
    close(got?.min ?? null, want.min, `${key} value_min`);
    close(got?.max ?? null, want.max, `${key} value_max`);
    close(got?.avg ?? null, want.sum === null ? null : want.sum / want.values, `${key} value_avg`);
  }
}

/** A dead letter as read back by an independent client. */
export interface DeadLetterSeen {
  readonly reason: string;
  /** The `original-id` header: the id of the message that was dead-lettered. */
  readonly originalId: string;
}

/**
 * What an end-to-end test needs of one queue: the `--mq` flag and worker environment, an
 * independent publisher, the group's lag, the dead letters' reasons, cleanup.
 */
export interface QueueFixture {
  readonly mq: 'redis-stream' | 'kafka';
  readonly topic: string;
  /** Environment of a worker process using this queue. */
  environment(): Record<string, string>;
  publish(events: readonly PublishedEvent[]): Promise<void>;
  /** Waits until the group has consumed and acknowledged everything published. */
  waitForZeroLag(group: string, timeoutMs: number): Promise<void>;
  /** Every message of `<topic>.dead-letter`: its `reason` header and its `original-id` header. */
  deadLetters(): Promise<DeadLetterSeen[]>;
  cleanup(): Promise<void>;
}

/** The module arguments of the end-to-end tests. */
export function e2eModuleArgs(topic: string, flushInterval = '200ms', batchSize = '50'): string[] {
  return [
    '--topic',
    topic,
    '--group-by',
    'event_type,source',
    // Events of the last 90 minutes, redelivered out of order after a kill: none is late.
    '--allowed-lateness',
    '1d',
    '--flush-interval',
    flushInterval,
    '--batch-size',
    batchSize,
  ];
}

/** Starts metric_aggregator workers through the CLI on PostgreSQL and `queue`; remembers them for {@link killAll}. */
export class WorkerPool {
  readonly workers: WorkerProcess[] = [];

  /**
   * `database`: a PostgreSQL URL (`--db postgres`), or the `--db` flag and environment of another
   * database (`{ flag: 'cassandra', environment: {...} }`).
   */
  constructor(
    private readonly database: string | { readonly flag: string; readonly environment: Record<string, string> },
    private readonly queue: QueueFixture,
  ) {}

  /** The `--db` flag of the workers. */
  get dbFlag(): string {
    return typeof this.database === 'string' ? 'postgres' : this.database.flag;
  }

  environment(): Record<string, string> {
    const db = typeof this.database === 'string' ? { DB_POSTGRES_URL: this.database } : this.database.environment;
    return { PLATFORM_AUTO_MIGRATE: 'true', ...db, ...this.queue.environment() };
  }

  start(flushInterval?: string, batchSize?: string): WorkerProcess {
    const worker = new WorkerProcess(
      [
        '--db',
        this.dbFlag,
        '--mq',
        this.queue.mq,
        '--env',
        'test',
        '--log',
        'json',
        '--health-port',
        '0',
        ...e2eModuleArgs(this.queue.topic, flushInterval, batchSize),
      ],
      this.environment(),
    );
    this.workers.push(worker);
    return worker;
  }

  async killAll(): Promise<void> {
    for (const worker of this.workers) if (worker.child.exitCode === null) await worker.kill9();
  }
}

/** A Redis Streams setup of one test: its own key prefix, an independent client, cleanup. */
export class StreamFixture implements QueueFixture {
  readonly mq = 'redis-stream';
  readonly prefix = `it-metric-${randomBytes(4).toString('hex')}:`;
  readonly topic = 'events';
  readonly redis: Redis;

  constructor(readonly url: string) {
    this.redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2, protocol: 2 });
  }

  environment(): Record<string, string> {
    return {
      MQ_REDIS_STREAM_URL: this.url,
      MQ_REDIS_STREAM_KEY_PREFIX: this.prefix,
      MQ_REDIS_STREAM_CLAIM_IDLE_MS: '1000',
    };
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

  /** Entries of the dead-letter stream, their `reason` and `original-id` headers. */
  async deadLetters(): Promise<DeadLetterSeen[]> {
    const entries = await this.redis.xrange(`${this.streamKey}.dead-letter`, '-', '+');
    return entries.map(([, fields]) => {
      const header = (name: string): string => {
        const index = fields.indexOf(`h:${name}`);
        return index >= 0 ? (fields[index + 1] ?? '') : '';
      };
      return { reason: header('reason'), originalId: header('original-id') };
    });
  }

  async cleanup(): Promise<void> {
    const keys = await this.redis.keys(`${this.prefix}*`);
    if (keys.length > 0) await this.redis.del(...keys);
    this.redis.disconnect();
  }
}

/** A metric_aggregator worker started through the real CLI. */
export class WorkerProcess extends ModuleProcess {
  constructor(args: readonly string[], env: Record<string, string>) {
    super('metric_aggregator', args, env, { line: 'Metric aggregator consuming', role: 'worker' });
  }

  /** `pending_events` of the worker's last `Batch delivered` log line (debug level), 0 before any. */
  pendingEvents(): number {
    const lines = this.output.split('\n').filter((line) => line.includes('"Batch delivered"'));
    const last = lines.at(-1);
    if (last === undefined) return 0;
    return (JSON.parse(last) as { context?: { pending_events?: number } }).context?.pending_events ?? 0;
  }
}
