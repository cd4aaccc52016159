import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { expect } from 'chai';
import {
  DEAD_LETTER_HEADERS,
  type Database,
  type MessageQueue,
  type QueueMessage,
  type Row,
} from '@platform-host/contracts';
import { MemoryMetrics } from '@platform-host/adapter-metrics-memory';
import {
  interceptDeliveries,
  moduleConfigForTest,
  startModuleForTest,
  waitFor,
  type StartedModule,
} from '@platform-host/test-kit';
import { MetricAggregator } from './aggregator.js';
import { readSettings } from './settings.js';
import type { MetricAggregatorContext } from './main.js';

const MODULE_DIR = fileURLToPath(new URL('..', import.meta.url));
const T0 = Date.parse('2026-01-15T10:00:00Z');
const MINUTE = 60_000;

interface Harness {
  readonly module: StartedModule;
  readonly ctx: MetricAggregatorContext;
  readonly metrics: MemoryMetrics;
  readonly aggregator: MetricAggregator;
  readonly topic: string;
  /** The fake wall clock (epoch ms). */
  now: number;
  /** The fake monotonic clock (ms). */
  monotonic: number;
  publish(events: readonly unknown[]): Promise<void>;
  /** Dead letters received so far from `<topic>.dead-letter`. */
  readonly deadLetters: QueueMessage[];
  rollups(): Promise<Row[]>;
  close(): Promise<void>;
}

let counter = 0;

/**
 * The module on PGlite in memory and the memory queue, with fake clocks and an explicit flush;
 * `wrapQueue` replaces the queue the aggregator sees (tests that delay or refuse dead letters),
 * `wrapDb` the database (tests that make the store fail), `env` adds adapter config keys.
 */
async function harness(
  args: readonly string[] = [],
  startAt = T0 + 60 * MINUTE,
  wrapQueue: (mq: MessageQueue) => MessageQueue = (mq) => mq,
  wrapDb: (db: Database) => Database = (db) => db,
  env: Readonly<Record<string, string>> = {},
): Promise<Harness> {
  counter += 1;
  const topic = `events-${counter}`;
  const module = await startModuleForTest({ moduleDir: MODULE_DIR, args: ['--topic', topic], env });
  const ctx = module.ctx as unknown as MetricAggregatorContext;
  const metrics = new MemoryMetrics();
  const deadLetters: QueueMessage[] = [];
  const dlq = await ctx.mq.subscribe(
    `${topic}.dead-letter`,
    async (messages) => {
      deadLetters.push(...messages);
      await ctx.mq.ack(messages);
    },
    { group: 'test-reader' },
  );
  const settings = readSettings(moduleConfigForTest(MODULE_DIR, ['--topic', topic, '--flush-interval', '1h', ...args]));
  const state: Harness = {
    module,
    ctx,
    metrics,
    topic,
    now: startAt,
    monotonic: 0,
    deadLetters,
    aggregator: undefined as unknown as MetricAggregator,
    async publish(events) {
      await ctx.mq.publishBatch(
        topic,
        events.map((event) => ({ value: typeof event === 'string' ? event : JSON.stringify(event) })),
      );
    },
    rollups: () =>
      ctx.db.fetchAll(
        `SELECT window_seconds, extract(epoch FROM window_start)::bigint::text AS start, dimensions, event_count::int AS events,
                value_count::int AS values, value_sum, value_min, value_max, value_avg, closed_at IS NOT NULL AS closed
         FROM metric_rollups ORDER BY window_seconds, window_start, dimensions::text`,
      ),
    async close() {
      await state.aggregator.stop();
      await dlq.close();
      await module.close();
    },
  };
  const aggregator = new MetricAggregator({
    db: wrapDb(ctx.db),
    mq: wrapQueue(ctx.mq),
    log: ctx.log,
    metrics,
    lifecycle: ctx.lifecycle,
    settings,
    now: () => state.now,
    monotonicNow: () => state.monotonic,
    idleAfterMs: 10_000,
  });
  (state as { aggregator: MetricAggregator }).aggregator = aggregator;
  await aggregator.start();
  return state;
}

function event(minutesAfterT0: number, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    event_type: 'purchase',
    source: 'web',
    timestamp: new Date(T0 + minutesAfterT0 * MINUTE).toISOString(),
    payload: {},
    ...fields,
  };
}

/** Waits until the aggregator has taken `count` messages (pending or dead-lettered), then flushes. */
async function deliveredAndFlushed(h: Harness, count: number): Promise<void> {
  await waitFor(
    () => {
      const handled = Object.values(h.aggregator.totals.deadLettered).reduce((sum, n) => sum + n, 0);
      return (
        h.aggregator.pendingEvents + handled + h.aggregator.totals.applied + h.aggregator.totals.duplicates >= count
      );
    },
    10_000,
    `${count} messages handled`,
  );
  await h.aggregator.flush();
}

/** `mq` with its `deadLetter` replaced. */
function withDeadLetter(mq: MessageQueue, deadLetter: MessageQueue['deadLetter']): MessageQueue {
  return new Proxy(mq, {
    get(target, property) {
      if (property === 'deadLetter') return deadLetter;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** `db` whose transactions fail while `failing()` says so, counting the failures in `failures.count`. */
function withFailingTransactions(db: Database, failing: () => boolean, failures: { count: number }): Database {
  return new Proxy(db, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (property === 'transaction')
        return (...args: unknown[]) => {
          if (!failing()) return (value as (...a: unknown[]) => unknown).apply(target, args);
          failures.count += 1;
          return Promise.reject(new Error('injected: the database is down'));
        };
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** What {@link withProbedTransactions} observes and controls. */
interface TransactionProbe {
  /** `transaction()` calls so far. */
  calls: number;
  /** Opens the gate the first transaction's rollup upsert waits at. */
  releaseFirstUpsert: () => void;
  /** Statements of the second transaction after its watermark lock (it has taken its events). */
  secondStatementsAfterLock: number;
}

/**
 * `db` whose first transaction's rollup upsert waits until `probe.releaseFirstUpsert()`, and then
 * fails when `failFirst`; a failed first transaction reports its failure to the worker only once
 * the second transaction ran a statement after its lock, or 200 ms later (the second one is then
 * waiting for the worker, as it must).
 */
function withProbedTransactions(db: Database, failFirst: boolean): { db: Database; probe: TransactionProbe } {
  const current = new AsyncLocalStorage<number>();
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let secondTook: () => void = () => undefined;
  const secondTookEvents = new Promise<void>((resolve) => {
    secondTook = resolve;
  });
  const probe: TransactionProbe = { calls: 0, releaseFirstUpsert: release, secondStatementsAfterLock: 0 };
  const observe = async (sql: string): Promise<void> => {
    const transaction = current.getStore();
    if (transaction === 1 && sql.startsWith('INSERT INTO metric_rollups')) {
      await gate;
      if (failFirst) throw new Error('injected: the first flush fails');
    }
    if (transaction === 2 && !sql.includes('FOR UPDATE')) {
      probe.secondStatementsAfterLock += 1;
      secondTook();
    }
  };
  const wrapped = new Proxy(db, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const method = value as (...a: unknown[]) => Promise<unknown>;
      if (property === 'transaction') {
        return (work: () => Promise<unknown>) => {
          probe.calls += 1;
          const index = probe.calls;
          const run = method.call(target, () => current.run(index, work));
          if (index !== 1) return run;
          return run.catch(async (error: unknown) => {
            await Promise.race([secondTookEvents, sleep(200)]);
            throw error;
          });
        };
      }
      if (property === 'execute' || property === 'fetchOne' || property === 'fetchAll') {
        return async (sql: string, ...rest: unknown[]) => {
          await observe(sql);
          return method.call(target, sql, ...rest);
        };
      }
      return method.bind(target);
    },
  });
  return { db: wrapped, probe };
}

/** Publishes `values` with one key: one partition, in this order, offsets from 0. */
async function publishToOnePartition(h: Harness, values: readonly unknown[]): Promise<void> {
  await h.ctx.mq.publishBatch(
    h.topic,
    values.map((value) => ({ key: 'one', value: typeof value === 'string' ? value : JSON.stringify(value) })),
  );
}

/** The stored high-water offset of `h`'s topic (one partition used), `undefined` before any. */
async function highWater(h: Harness): Promise<number | undefined> {
  const row = await h.ctx.db.fetchOne<{ offset: string | null }>(
    'SELECT max(applied_offset)::text AS offset FROM metric_aggregator_partition_offsets WHERE topic = $1',
    [h.topic],
  );
  return row?.offset === null || row?.offset === undefined ? undefined : Number(row.offset);
}

const labels = (h: Harness): { topic: string; group: string } => ({ topic: h.topic, group: 'metric_aggregator' });

describe('metric_aggregator on the memory queue and PGlite', function () {
  this.timeout(60_000);
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('counts every event in one epoch-aligned window of each size, grouped by the --group-by values', async () => {
    h = await harness(['--windows', '1m,1h', '--group-by', 'event_type,source,payload.region']);
    await h.publish([
      event(0.1, { payload: { value: 2, region: 'eu' } }),
      event(0.5, { payload: { value: 4, region: 'eu' } }),
      event(1.2, { payload: { value: 10, region: 'eu' } }),
      event(0.3, { event_type: 'view', payload: { value: 'not a number', region: 'eu' } }),
      event(0.4, { source: 'app', payload: { value: 1.5 } }),
    ]);
    await deliveredAndFlushed(h, 5);
    const rows = await h.rollups();
    const start = (minutes: number): string => String((T0 + minutes * MINUTE) / 1000);
    const row = (seconds: number, minutes: number, dimensions: Record<string, unknown>) =>
      rows.find(
        (r) =>
          r.window_seconds === seconds && r.start === start(minutes) && isDeepStrictEqual(r.dimensions, dimensions),
      );
    expect(rows).to.have.length(7);
    const webEu = { event_type: 'purchase', source: 'web', 'payload.region': 'eu' };
    expect(row(60, 0, webEu)).to.deep.include({
      events: 2,
      values: 2,
      value_sum: 6,
      value_min: 2,
      value_max: 4,
      value_avg: 3,
    });
    expect(row(60, 1, webEu)).to.deep.include({ events: 1, values: 1, value_sum: 10, value_avg: 10 });
    expect(row(3600, 0, webEu)).to.deep.include({ events: 3, values: 3, value_sum: 16, value_min: 2, value_max: 10 });
    const view = { event_type: 'view', source: 'web', 'payload.region': 'eu' };
    expect(row(3600, 0, view)).to.deep.include({ events: 1, values: 0, value_sum: null, value_avg: null });
    const app = { event_type: 'purchase', source: 'app', 'payload.region': null };
    expect(row(60, 0, app)).to.deep.include({ events: 1, values: 1, value_sum: 1.5 });
    expect(h.metrics.value('metric_aggregator_events_applied_total', labels(h))).to.equal(5);
    expect(h.metrics.histogramData('metric_aggregator_flush_batch_size_events', labels(h))?.sum).to.equal(5);
    expect(h.metrics.histogramData('metric_aggregator_flush_duration_seconds', labels(h))?.count).to.equal(1);
  });

  it('merges later flushes into the same rows: counts and sums add, min and max combine, avg is recomputed', async () => {
    h = await harness(['--windows', '1h', '--value-field', 'payload.amount']);
    await h.publish([event(1, { payload: { amount: 5 } }), event(2, { payload: { amount: -1 } })]);
    await deliveredAndFlushed(h, 2);
    await h.publish([event(3, { payload: { amount: 20 } }), event(4, { payload: {} })]);
    await deliveredAndFlushed(h, 4);
    const rows = await h.rollups();
    expect(rows).to.have.length(1);
    expect(rows[0]).to.deep.include({
      events: 4,
      values: 3,
      value_sum: 24,
      value_min: -1,
      value_max: 20,
      value_avg: 8,
    });
    expect(h.aggregator.totals.flushes).to.equal(2);
  });

  it('counts a copy redelivered while its message is still pending once', async () => {
    // Each batch is handed to the aggregator twice, the second time as a redelivery (as a queue
    // does when the visibility or claim time of a held message runs out before the flush).
    const twice = (mq: MessageQueue): MessageQueue =>
      interceptDeliveries(mq, async (messages, handler) => {
        await handler(messages);
        await handler(messages.map((m) => ({ ...m, deliveryCount: m.deliveryCount + 1 })));
      });
    h = await harness(['--windows', '1h', '--value-field', 'payload.amount'], undefined, twice);
    await h.publish([event(1, { payload: { amount: 5 } }), event(2, { payload: { amount: 7 } })]);
    await deliveredAndFlushed(h, 2);
    const rows = await h.rollups();
    expect(rows).to.have.length(1);
    expect(rows[0]).to.deep.include({ events: 2, values: 2, value_sum: 12 });
    expect(h.aggregator.totals.applied).to.equal(2);
  });

  it('dead-letters an event for a closed window as late, counts it, and never applies it', async () => {
    h = await harness(['--windows', '1m', '--allowed-lateness', '5m']);
    // 10:20 moves the watermark to 10:15: the windows ending at or before 10:15 close.
    await h.publish([event(0.5), event(20)]);
    await deliveredAndFlushed(h, 2);
    let rows = await h.rollups();
    expect(rows.map((r) => [r.start, r.closed])).to.deep.equal([
      [String((T0 + 0) / 1000), true],
      [String((T0 + 20 * MINUTE) / 1000), false],
    ]);
    await h.publish([event(14.9, { payload: { value: 1 } }), event(15.5, { payload: { value: 2 } })]);
    await deliveredAndFlushed(h, 4);
    await waitFor(() => h?.deadLetters.length === 1, 5000, 'one dead letter');
    expect(h.deadLetters[0]?.headers[DEAD_LETTER_HEADERS.reason]).to.equal('late');
    expect(h.metrics.value('metric_aggregator_events_late_total', labels(h))).to.equal(1);
    expect(h.metrics.value('metric_aggregator_events_dead_lettered_total', { ...labels(h), reason: 'late' })).to.equal(
      1,
    );
    rows = await h.rollups();
    expect(rows.map((r) => [r.start, r.events])).to.deep.equal([
      [String(T0 / 1000), 1],
      [String((T0 + 15 * MINUTE) / 1000), 1],
      [String((T0 + 20 * MINUTE) / 1000), 1],
    ]);
    expect(h.aggregator.watermarkMs).to.equal(T0 + 15 * MINUTE);
  });

  it('treats an event as late when the first of its windows to close is closed, and applies it to none', async () => {
    h = await harness(['--windows', '1m,1h', '--allowed-lateness', '1m']);
    await h.publish([event(10)]);
    await deliveredAndFlushed(h, 1);
    // Watermark 10:09: the hour is open, but the minute 10:05 is closed.
    await h.publish([event(5)]);
    await deliveredAndFlushed(h, 2);
    await waitFor(() => h?.deadLetters.length === 1, 5000, 'the late event');
    const hour = (await h.rollups()).find((r) => r.window_seconds === 3600);
    expect(hour?.events).to.equal(1);
  });

  it('dead-letters an event more than --max-clock-skew ahead of the wall clock, without moving the watermark', async () => {
    h = await harness(['--windows', '1m', '--max-clock-skew', '5m', '--allowed-lateness', '1m'], T0 + 30 * MINUTE);
    await h.publish([event(10), event(36)]);
    await deliveredAndFlushed(h, 2);
    await waitFor(() => h?.deadLetters.length === 1, 5000, 'the future event');
    expect(h.deadLetters[0]?.headers[DEAD_LETTER_HEADERS.reason]).to.equal('future_timestamp');
    expect(
      h.metrics.value('metric_aggregator_events_dead_lettered_total', { ...labels(h), reason: 'future_timestamp' }),
    ).to.equal(1);
    expect(h.aggregator.watermarkMs).to.equal(T0 + 9 * MINUTE);
    // 10:34 is within the skew: applied, and then the watermark moves.
    await h.publish([event(34)]);
    await deliveredAndFlushed(h, 3);
    expect(h.aggregator.watermarkMs).to.equal(T0 + 33 * MINUTE);
    const stored = await h.ctx.db.fetchOne<{ ms: number }>(
      `SELECT round(extract(epoch FROM watermark) * 1000)::float8 AS ms FROM metric_aggregator_watermarks WHERE topic = $1`,
      [h.topic],
    );
    expect(stored?.ms).to.equal(T0 + 33 * MINUTE);
  });

  it('closes windows on a quiet stream as the wall clock advances, and never moves the watermark back', async () => {
    h = await harness(['--windows', '1m', '--allowed-lateness', '2m'], T0 + 3 * MINUTE);
    await h.publish([event(1)]);
    await deliveredAndFlushed(h, 1);
    expect(h.aggregator.watermarkMs).to.equal(T0 - MINUTE);
    expect((await h.rollups())[0]?.closed).to.equal(false);
    // Quiet for 5 s: not idle yet.
    h.now += 5000;
    await h.aggregator.flush();
    expect((await h.rollups())[0]?.closed).to.equal(false);
    // Quiet for 3 minutes: the watermark follows the wall clock (up to now - lateness).
    h.now += 3 * MINUTE;
    await h.aggregator.flush();
    expect(h.aggregator.watermarkMs).to.be.at.least(T0 + 2 * MINUTE);
    expect((await h.rollups())[0]?.closed).to.equal(true);
    const before = h.aggregator.watermarkMs ?? 0;
    // An older event arriving afterwards does not move it back; it is late.
    await h.publish([event(1.5)]);
    await deliveredAndFlushed(h, 2);
    expect(h.aggregator.watermarkMs).to.be.at.least(before);
    await waitFor(() => h?.deadLetters.length === 1, 5000, 'the late event');
    expect(h.deadLetters[0]?.headers[DEAD_LETTER_HEADERS.reason]).to.equal('late');
  });

  it('dead-letters invalid input with its reason header, acknowledges and counts it, and goes on', async () => {
    h = await harness();
    await h.publish([
      '{"event_type": "broken"',
      '[1, 2]',
      JSON.stringify({ source: 'web', timestamp: new Date(T0).toISOString() }),
      JSON.stringify(event(1, { event_type: '  ' })),
      JSON.stringify(event(1, { timestamp: undefined })),
      JSON.stringify(event(1, { timestamp: '2026-02-30T10:00:00Z' })),
      JSON.stringify(event(1, { timestamp: '2026-01-15T10:00:00' })),
      JSON.stringify(event(1, { event_type: 'nul\u0000' })),
      JSON.stringify(event(1)),
    ]);
    await deliveredAndFlushed(h, 9);
    await waitFor(() => h?.deadLetters.length === 8, 5000, 'eight dead letters');
    const reasons = h.deadLetters.map((message) => message.headers[DEAD_LETTER_HEADERS.reason]);
    expect(reasons.filter((reason) => reason === 'malformed_json')).to.have.length(1);
    expect(reasons.filter((reason) => reason === 'invalid_event')).to.have.length(7);
    expect(h.deadLetters.every((message) => (message.headers[DEAD_LETTER_HEADERS.error] ?? '').length > 0)).to.equal(
      true,
    );
    expect(
      h.metrics.value('metric_aggregator_events_dead_lettered_total', { ...labels(h), reason: 'malformed_json' }),
    ).to.equal(1);
    expect(
      h.metrics.value('metric_aggregator_events_dead_lettered_total', { ...labels(h), reason: 'invalid_event' }),
    ).to.equal(7);
    expect(h.aggregator.totals.applied).to.equal(1);
    expect((await h.rollups()).map((r) => r.events)).to.deep.equal([1, 1]);
  });

  it('a flush while a dead letter is being published waits for it before recording the offsets that cover it', async () => {
    const effects: string[] = [];
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    h = await harness(['--windows', '1m'], undefined, (mq) =>
      withDeadLetter(mq, async (message, reason, error) => {
        effects.push('dead letter started');
        await released;
        await mq.deadLetter(message, reason, error);
        effects.push('dead letter durable');
      }),
    );
    // Offset 0 invalid, offset 1 valid: one batch.
    await publishToOnePartition(h, ['not json', event(1)]);
    await waitFor(() => h?.aggregator.pendingEvents === 1 && effects.length === 1, 10_000, 'the batch taken in');
    const flushing = h.aggregator.flush().then(() => effects.push('flushed'));
    // A flush that did not wait would have committed offset 1 (over offset 0) well before this.
    setTimeout(release, 200);
    await flushing;
    expect(effects).to.deep.equal(['dead letter started', 'dead letter durable', 'flushed']);
    expect(await highWater(h)).to.equal(1);
    expect(h.aggregator.totals).to.deep.include({ applied: 1 });
    expect(h.aggregator.totals.deadLettered.malformed_json).to.equal(1);
  });

  it("settles a dead letter being published before the flush's transaction begins: its publish never holds the group's lock", async () => {
    const effects: string[] = [];
    let release = (): void => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    h = await harness(
      ['--windows', '1m'],
      undefined,
      (mq) =>
        withDeadLetter(mq, async (message, reason, error) => {
          effects.push('dead letter started');
          await released;
          await mq.deadLetter(message, reason, error);
          effects.push('dead letter durable');
        }),
      (db) =>
        new Proxy(db, {
          get(target, property) {
            const value: unknown = Reflect.get(target, property, target);
            if (property === 'transaction')
              return (...args: unknown[]) => {
                effects.push('transaction begun');
                return (value as (...a: unknown[]) => unknown).apply(target, args);
              };
            return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
          },
        }),
    );
    await publishToOnePartition(h, ['not json', event(1)]);
    await waitFor(() => h?.aggregator.pendingEvents === 1 && effects.length === 1, 10_000, 'the batch taken in');
    const flushing = h.aggregator.flush().then(() => effects.push('flushed'));
    setTimeout(release, 200);
    await flushing;
    expect(effects).to.deep.equal(['dead letter started', 'dead letter durable', 'transaction begun', 'flushed']);
    expect(await highWater(h)).to.equal(1);
  });

  it('a dead letter that cannot be published blocks the offsets above it: retried, never skipped', async () => {
    let refuse = true;
    let attempts = 0;
    h = await harness(['--windows', '1m'], undefined, (mq) =>
      withDeadLetter(mq, async (message, reason, error) => {
        attempts += 1;
        if (refuse) throw new Error('injected: the dead-letter topic refused the message');
        await mq.deadLetter(message, reason, error);
      }),
    );
    // Offset 0 valid, 1 invalid, 2 valid.
    await publishToOnePartition(h, [event(1), JSON.stringify({ source: 'web', payload: {} }), event(2)]);
    await waitFor(() => h?.aggregator.pendingEvents === 2 && attempts >= 2, 10_000, 'the batch and a retry');
    await h.aggregator.flush();
    expect(await highWater(h), 'recorded up to the event below the failed dead letter').to.equal(0);
    expect(h.aggregator.totals.applied).to.equal(1);
    expect(h.aggregator.pendingEvents, 'the event above it waits').to.equal(1);
    expect(h.deadLetters).to.have.length(0);
    refuse = false;
    await waitFor(() => h?.deadLetters.length === 1, 10_000, 'the dead letter published by a retry');
    await h.aggregator.flush();
    expect(await highWater(h)).to.equal(2);
    expect(h.aggregator.totals.applied).to.equal(2);
    expect(h.aggregator.totals.deadLettered.invalid_event).to.equal(1);
    expect((await h.rollups()).map((r) => r.events)).to.deep.equal([1, 1]);
  });

  it('backpressure while the store fails retries the flush and never hands held events back to the queue (no max_deliveries dead letter)', async () => {
    let failing = true;
    const failures = { count: 0 };
    // --batch-size 5: intake waits for the running flush at 20 pending events (4 × the batch size).
    h = await harness(['--windows', '1m', '--batch-size', '5'], undefined, undefined, (db) =>
      withFailingTransactions(db, () => failing, failures),
    );
    await h.publish(Array.from({ length: 60 }, (_, index) => event(1, { payload: { value: index } })));
    // The store stays down for 2 s and 6 failed flushes: a handler that threw would have had its
    // batch redelivered 5 times by then (memory queue backoff 50 ms doubling: 750 ms in all) and
    // dead-lettered with reason max_deliveries, although its events are pending here.
    const downSince = Date.now();
    await waitFor(() => failures.count >= 6 && Date.now() - downSince >= 2000, 20_000, 'six failed flushes in 2 s');
    const reasons = (): Array<string | undefined> =>
      h?.deadLetters.map((message) => message.headers[DEAD_LETTER_HEADERS.reason]) ?? [];
    expect(reasons(), 'nothing dead-lettered while the store is down').to.deep.equal([]);
    expect(h.aggregator.pendingEvents, 'intake paused at the backpressure limit').to.equal(20);
    failing = false;
    await deliveredAndFlushed(h, 60);
    expect(h.aggregator.totals.applied).to.equal(60);
    expect(reasons(), 'nothing dead-lettered').to.deep.equal([]);
    const [row] = await h.rollups();
    expect(row).to.deep.include({ events: 60, values: 60, value_sum: (59 * 60) / 2 });
  });

  it("holds events through a database outage longer than the queue's redelivery budget, then applies each exactly once, none dead-lettered", async () => {
    let failing = true;
    const failures = { count: 0 };
    // The memory queue redelivers what is unacknowledged after 200 ms; at the 5th delivery (the
    // default maxDeliveries) its timeout would dead-letter it: a budget of 1 s, well under the
    // outage below. The events stay pending here all along (10 of them: no backpressure).
    const deliveries = new Map<string, number>();
    const recordingDeliveries = (mq: MessageQueue): MessageQueue =>
      interceptDeliveries(mq, (messages, handler) => {
        for (const message of messages)
          deliveries.set(message.id, Math.max(deliveries.get(message.id) ?? 0, message.deliveryCount));
        return handler(messages);
      });
    h = await harness(
      ['--windows', '1m'],
      undefined,
      recordingDeliveries,
      (db) => withFailingTransactions(db, () => failing, failures),
      { MQ_MEMORY_VISIBILITY_TIMEOUT_MS: '200' },
    );
    await h.publish(Array.from({ length: 10 }, (_, index) => event(1, { payload: { value: index } })));
    await waitFor(() => h?.aggregator.pendingEvents === 10, 10_000, 'ten pending events');
    await h.aggregator.flush().catch(() => undefined);
    expect(failures.count, 'the flush failed').to.be.greaterThan(0);
    // Every event reaches its last allowed delivery, and that delivery outlives its visibility
    // timeout (1 s more) while the database is still down.
    await waitFor(
      () => deliveries.size === 10 && [...deliveries.values()].every((count) => count >= 5),
      20_000,
      'every event delivered 5 times',
    );
    const lastDeliveryAt = Date.now();
    await waitFor(() => Date.now() - lastDeliveryAt >= 1000, 5_000, 'five visibility timeouts past the last delivery');
    await h.aggregator.flush().catch(() => undefined);
    const reasons = (): Array<string | undefined> =>
      h?.deadLetters.map((message) => message.headers[DEAD_LETTER_HEADERS.reason]) ?? [];
    expect(reasons(), 'dead letters while the database is down').to.deep.equal([]);
    expect(h.aggregator.pendingEvents).to.equal(10);
    failing = false;
    await h.aggregator.flush();
    expect(h.aggregator.totals.applied).to.equal(10);
    expect(h.aggregator.totals.duplicates).to.equal(0);
    const [row] = await h.rollups();
    expect(row).to.deep.include({ events: 10, values: 10, value_sum: 45 });
    // Acknowledged: nothing is delivered again, and nothing was dead-lettered.
    const counted = new Map(deliveries);
    await waitFor(() => Date.now() - lastDeliveryAt >= 2000, 5_000, 'more visibility timeouts after the flush');
    expect(deliveries, 'no redelivery after the acknowledgement').to.deep.equal(counted);
    expect(reasons(), 'nothing dead-lettered').to.deep.equal([]);
  });

  it("starts the next flush's transaction while the running one writes; the next takes the events that came meanwhile", async () => {
    let probe: TransactionProbe | undefined;
    // --batch-size 5: a flush starts in the background at 10 pending events.
    h = await harness(['--windows', '1m', '--batch-size', '5'], undefined, undefined, (db) => {
      const probed = withProbedTransactions(db, false);
      probe = probed.probe;
      return probed.db;
    });
    await h.publish(Array.from({ length: 10 }, (_, index) => event(1, { payload: { value: index } })));
    await waitFor(() => probe?.calls === 1, 10_000, 'the first flush begun');
    await h.publish(Array.from({ length: 10 }, (_, index) => event(2, { payload: { value: index } })));
    try {
      // Its transaction is asked for while the first is still held at its upsert.
      await waitFor(() => probe?.calls === 2, 10_000, 'the second flush begun while the first writes');
      expect(h.aggregator.totals.flushes, 'the first flush has not committed').to.equal(0);
    } finally {
      probe?.releaseFirstUpsert();
    }
    await waitFor(() => h?.aggregator.totals.applied === 20, 10_000, 'both flushes committed');
    expect(h.aggregator.totals.flushes).to.equal(2);
    expect(probe?.calls, 'no third transaction: the second took everything').to.equal(2);
    const rows = await h.rollups();
    expect(rows.map((row) => [row.start, row.events, row.value_sum])).to.deep.equal([
      [String((T0 + MINUTE) / 1000), 10, 45],
      [String((T0 + 2 * MINUTE) / 1000), 10, 45],
    ]);
  });

  it('a flush that waits for the lock takes its events only once the flush before failed and put its events back: none late', async () => {
    let probe: TransactionProbe | undefined;
    h = await harness(['--windows', '1m', '--batch-size', '5'], undefined, undefined, (db) => {
      const probed = withProbedTransactions(db, true);
      probe = probed.probe;
      return probed.db;
    });
    await h.publish(Array.from({ length: 10 }, (_, index) => event(1, { payload: { value: index } })));
    await waitFor(() => probe?.calls === 1, 10_000, 'the first flush begun');
    // Events 9 minutes later: the worker's watermark candidate (minute 10 minus 5 min of lateness)
    // closes the first events' window.
    await h.publish(Array.from({ length: 10 }, (_, index) => event(10, { payload: { value: index } })));
    try {
      await waitFor(() => probe?.calls === 2, 10_000, 'the second flush begun while the first writes');
    } finally {
      probe?.releaseFirstUpsert();
    }
    await waitFor(() => h?.aggregator.totals.applied === 20, 10_000, 'every event applied');
    // Had the second flush taken its events before the first one's came back, it would have moved
    // the watermark past their window, and the flush after it would have found them late.
    expect(h.aggregator.totals.deadLettered.late, 'late events').to.equal(0);
    expect(probe?.secondStatementsAfterLock, 'the second flush wrote').to.be.greaterThan(0);
    const rows = await h.rollups();
    expect(rows.map((row) => [row.start, row.events, row.closed])).to.deep.equal([
      [String((T0 + MINUTE) / 1000), 10, true],
      [String((T0 + 10 * MINUTE) / 1000), 10, false],
    ]);
  });

  it('on stop writes the pending events in one flush (onRevoked of the partitions) and acknowledges them', async () => {
    h = await harness(['--windows', '1m']);
    await h.publish([event(1), event(2), event(3)]);
    await waitFor(() => h?.aggregator.pendingEvents === 3, 10_000, 'three pending events');
    await h.aggregator.stop();
    expect(h.aggregator.totals).to.deep.include({ applied: 3, flushes: 1 });
    expect((await h.rollups()).map((r) => r.events)).to.deep.equal([1, 1, 1]);
    const offsets = await h.ctx.db.fetchOne<{ n: number }>(
      'SELECT count(*)::int AS n FROM metric_aggregator_partition_offsets WHERE topic = $1',
      [h.topic],
    );
    expect(offsets?.n, 'high-water offsets of the partitions written').to.be.above(0);
  });
});
