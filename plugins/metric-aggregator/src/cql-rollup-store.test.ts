import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { BatchOptions, BatchStatement, Database, QueueMessage } from '@platform-host/contracts';
import { queueMessageForTest, startModuleForTest, useRealService, type StartedModule } from '@platform-host/test-kit';
import { CqlRollupStore, FlushLeaseLostError, ledgerBucket } from './cql-rollup-store.js';
import type { MetricAggregatorContext } from './main.js';
import { EXCLUSIVITY_MARGIN_MS, type AppliedRecord, type PendingEvent } from './rollup-store.js';

const MODULE_DIR = fileURLToPath(new URL('..', import.meta.url));
const T0 = Date.parse('2026-01-15T10:00:00Z');

function message(
  id: string,
  partition?: number,
  offset?: string,
  deliveryCount = 1,
  exclusiveUntil?: number,
): QueueMessage {
  return queueMessageForTest({
    id,
    partition,
    offset,
    deliveryCount,
    ...(exclusiveUntil === undefined ? {} : { exclusiveUntil }),
  });
}

interface StoredRow {
  event_count: bigint;
  value_count: bigint;
  value_sum: number | null;
  value_min: number | null;
  value_max: number | null;
  value_avg: number | null;
  closed_at: Date | null;
  [column: string]: unknown;
}

/**
 * The Cassandra store of metric_aggregator against the native Cassandra: one keyspace per run (the
 * module's cql migrations applied by the host's auto-migrate), every test on its own group, dimensions and windows.
 */
describe('metric_aggregator Cassandra store: exactly-once effects without multi-partition transactions', function () {
  this.timeout(120_000);
  const cassandra = useRealService('cassandra');
  const keyspace = `it_metric_${randomBytes(4).toString('hex')}`;
  let module: StartedModule;
  let ctx: MetricAggregatorContext;
  let db: Database;
  const monotonic = 0;
  const deadLettered: string[] = [];

  before(async function () {
    this.timeout(180_000);
    const env = cassandra();
    module = await startModuleForTest({
      moduleDir: MODULE_DIR,
      flags: { db: 'cassandra' },
      env: { ...env, DB_CASSANDRA_KEYSPACE: keyspace, PLATFORM_AUTO_MIGRATE: 'true' },
    });
    ctx = module.ctx;
    db = ctx.db;
  });
  after(async () => {
    await db?.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`).catch(() => undefined);
    await module?.close();
  });

  const store = (
    record: AppliedRecord,
    group: string,
    database: Database = db,
    options: { leaseTtlSeconds?: number; writer?: string } = {},
  ): CqlRollupStore =>
    new CqlRollupStore({
      db: database,
      queue: {
        deadLetter: async (msg: QueueMessage) => {
          deadLettered.push(msg.id);
        },
      },
      group,
      topic: 'events',
      windowSeconds: [60, 3600],
      record,
      monotonicNow: () => monotonic,
      ...options,
    });

  const dims = (label: string): string => JSON.stringify({ event_type: label });
  const event = (msg: QueueMessage, dimensions: string, timeMs: number, value?: number): PendingEvent => ({
    message: msg,
    event: { timeMs, dimensionsKey: dimensions, value },
    receivedAt: monotonic,
  });
  const row = async (size: number, startMs: number, dimensions: string): Promise<StoredRow | null> =>
    db.fetchOne<StoredRow>(
      'SELECT * FROM metric_rollups WHERE window_seconds = ? AND window_start = ? AND dimensions = ?',
      [size, new Date(startMs), dimensions],
    );

  it('applies each message once: a redelivered batch is recognised in the ledger and not counted again', async () => {
    const group = `g-${randomBytes(3).toString('hex')}`;
    const d = dims(`ledger-${group}`);
    const s = store('ledger', group);
    await s.loadWatermark();
    const first = [
      event(message(`${T0}-0`), d, T0 + 1000, 2),
      event(message(`${T0}-1`), d, T0 + 2000, 5),
      event(message(`${T0}-2`), d, T0 + 3000),
    ];
    const outcome = await s.flush(first, undefined);
    expect(outcome.applied.map((m) => m.id)).to.deep.equal([`${T0}-0`, `${T0}-1`, `${T0}-2`]);
    expect(outcome.rows).to.equal(2);
    // Killed before the acknowledgement: the queue delivers the same ids again (deliveryCount 2).
    const again = first.map((entry) =>
      event(message(entry.message.id, undefined, undefined, 2), d, entry.event.timeMs, entry.event.value),
    );
    const second = await store('ledger', group).flush(again, undefined);
    expect(second.applied).to.have.length(0);
    expect(second.duplicates).to.have.length(3);
    const minute = await row(60, T0, d);
    expect(minute?.event_count).to.equal(3n);
    expect(minute?.value_count).to.equal(2n);
    expect(minute?.value_sum).to.equal(7);
    expect(minute?.value_min).to.equal(2);
    expect(minute?.value_max).to.equal(5);
    expect(minute?.value_avg).to.equal(3.5);
    expect((await row(3600, T0, d))?.event_count).to.equal(3n);
    const ledger = await db.fetchAll(
      'SELECT message_id FROM metric_aggregator_applied_messages WHERE consumer_group = ? AND topic = ? AND bucket = ?',
      [group, 'events', ledgerBucket(`${T0}-0`)],
    );
    expect(ledger).to.have.length(3);
  });

  it('looks up a first delivery only once its exclusivity has run out (ledger)', async () => {
    const group = `g-${randomBytes(3).toString('hex')}`;
    const d = dims(`exclusive-${group}`);
    const claimer = store('ledger', group);
    await claimer.loadWatermark();
    // Another worker claimed the entry once it went idle and applied it first.
    await claimer.flush([event(message(`${T0}-7`, undefined, undefined, 2), d, T0 + 1000, 1)], undefined);
    const holder = store('ledger', group);
    // The holder's first copy: while the queue still promised it to the holder alone it is not looked
    // up (that promise was broken here on purpose, to show the lookup is skipped) ...
    const trusted = await holder.flush(
      [event(message(`${T0}-7`, undefined, undefined, 1, monotonic + 60_000), d, T0 + 1000, 1)],
      undefined,
    );
    expect(trusted.applied.map((m) => m.id)).to.deep.equal([`${T0}-7`]);
    // ... and once the promise has run out (within the margin) it is, and found.
    const stale = await store('ledger', group).flush(
      [event(message(`${T0}-7`, undefined, undefined, 1, monotonic + EXCLUSIVITY_MARGIN_MS - 1), d, T0 + 1000, 1)],
      undefined,
    );
    expect(stale.duplicates.map((m) => m.id)).to.deep.equal([`${T0}-7`]);
    expect(stale.applied).to.deep.equal([]);
  });

  it('merges the parts of several writers into one row: counts and sums add up, min of mins, max of maxes', async () => {
    const group = `g-${randomBytes(3).toString('hex')}`;
    const d = dims(`writers-${group}`);
    const a = store('ledger', group);
    const b = store('ledger', group);
    await a.loadWatermark();
    expect(a.writer).to.not.equal(b.writer);
    await a.flush([event(message(`${T0}-10`), d, T0 + 1000, 10)], undefined);
    await b.flush([event(message(`${T0}-11`), d, T0 + 1500, -4), event(message(`${T0}-12`), d, T0 + 1600)], undefined);
    await a.flush([event(message(`${T0}-13`), d, T0 + 1700, 1)], undefined);
    const merged = await row(60, T0, d);
    expect(merged?.event_count).to.equal(4n);
    expect(merged?.value_count).to.equal(3n);
    expect(merged?.value_sum).to.equal(7);
    expect(merged?.value_min).to.equal(-4);
    expect(merged?.value_max).to.equal(10);
    const parts = await db.fetchAll<{ writer: string; event_count: bigint }>(
      'SELECT writer, event_count FROM metric_rollup_parts WHERE window_seconds = ? AND window_start = ? AND dimensions = ?',
      [60, new Date(T0), d],
    );
    expect(new Map(parts.map((p) => [p.writer, p.event_count]))).to.deep.equal(
      new Map([
        [a.writer, 2n],
        [b.writer, 2n],
      ]),
    );
  });

  it('partitioned queues: offsets at or below the stored high-water mark are duplicates; dead-lettered offsets count', async () => {
    const group = `g-${randomBytes(3).toString('hex')}`;
    const d = dims(`offsets-${group}`);
    const s = store('partition-offsets', group);
    await s.loadWatermark();
    await s.flush(
      [event(message('p0-5', 0, '5'), d, T0 + 1000, 1), event(message('p1-2', 1, '2'), d, T0 + 1000, 1)],
      undefined,
      [message('p0-7', 0, '7')],
    );
    expect(await s.highWaterOffsets([0, 1, 2])).to.deep.equal(
      new Map([
        [0, 7n],
        [1, 2n],
      ]),
    );
    const next = await store('partition-offsets', group).flush(
      [event(message('p0-5', 0, '5'), d, T0 + 1000, 1), event(message('p0-8', 0, '8'), d, T0 + 1000, 1)],
      undefined,
    );
    expect(next.duplicates.map((m) => m.id)).to.deep.equal(['p0-5']);
    expect(next.applied.map((m) => m.id)).to.deep.equal(['p0-8']);
    expect((await row(60, T0, d))?.event_count).to.equal(3n);
  });

  it('a flush split over several logged batches that fails half-way: the next flush counts the written part once', async () => {
    const group = `g-${randomBytes(3).toString('hex')}`;
    const base = T0 + 3 * 3600_000;
    let logged = 0;
    const failing = proxyBatch(db, (options) => {
      if (options?.logged === false) return;
      logged += 1;
      if (logged === 2) throw new Error('injected: the second batch fails');
    });
    const s = store('ledger', group, failing);
    await s.loadWatermark();
    // 600 distinct dimensions x 2 windows: more than one batch's worth of parts.
    const events = Array.from({ length: 600 }, (_, index) =>
      event(message(`${base}-${index}`), dims(`split-${group}-${index}`), base + 1000, index),
    );
    let failure: unknown;
    await s.flush(events, undefined).catch((error: unknown) => (failure = error));
    expect(String(failure)).to.include('injected');
    const retried = await s.flush(events, undefined);
    expect(retried.applied).to.have.length(600);
    expect(retried.duplicates).to.have.length(0);
    const rows = await db.fetchAll<{ event_count: bigint; value_sum: number | null }>(
      'SELECT event_count, value_sum FROM metric_rollups WHERE window_seconds = ? AND window_start = ?',
      [60, new Date(base)],
    );
    expect(rows).to.have.length(600);
    expect(rows.every((r) => r.event_count === 1n)).to.equal(true);
    expect(rows.reduce((sum, r) => sum + (r.value_sum ?? 0), 0)).to.equal((599 * 600) / 2);
    expect(logged, 'several logged batches').to.be.at.least(4);
  });

  it('a writer killed between its batch and the recompute: the next flush of the group finishes its dirty list', async () => {
    const group = `g-${randomBytes(3).toString('hex')}`;
    const d = dims(`dirty-${group}`);
    const base = T0 + 5 * 3600_000;
    // The recompute is the unlogged single-partition batch: it "dies" there.
    const dying = proxyBatch(db, (options) => {
      if (options?.logged === false) throw new Error('injected: killed before the recompute');
    });
    // TTL 2 s: Cassandra expires cells by whole seconds, so a TTL of 1 s may run out before the lease is given back.
    const crashed = store('ledger', group, dying, { leaseTtlSeconds: 2 });
    await crashed.loadWatermark();
    await crashed.flush([event(message(`${base}-0`), d, base + 1000, 3)], undefined).catch(() => undefined);
    expect(await row(60, base, d), 'parts written, row not recomputed').to.equal(null);
    const dirty = await db.fetchOne<{ dirty: string }>(
      'SELECT dirty FROM metric_aggregator_writers WHERE consumer_group = ? AND topic = ? AND writer = ?',
      [group, 'events', crashed.writer],
    );
    expect(JSON.parse(dirty?.dirty ?? '[]')).to.deep.equal([`60|${base / 1000}`, `3600|${base / 1000}`]);
    const restarted = store('ledger', group);
    await restarted.loadWatermark();
    expect((await row(60, base, d))?.event_count).to.equal(1n);
    expect((await row(3600, base, d))?.value_sum).to.equal(3);
    const cleared = await db.fetchOne<{ dirty: string }>(
      'SELECT dirty FROM metric_aggregator_writers WHERE consumer_group = ? AND topic = ? AND writer = ?',
      [group, 'events', crashed.writer],
    );
    expect(cleared?.dirty).to.equal('');
  });

  it('late events against a watermark another writer moved are dead-lettered; windows it passed get closed_at; it never moves back', async () => {
    const group = `g-${randomBytes(3).toString('hex')}`;
    const d = dims(`late-${group}`);
    const base = T0 + 7 * 3600_000;
    const a = store('ledger', group);
    const b = store('ledger', group);
    await a.loadWatermark();
    await a.flush([event(message(`${base}-0`), d, base + 1000, 1)], base);
    expect((await row(60, base, d))?.closed_at).to.equal(null);
    // Writer b moves the watermark past the first minute (and the hour's first minute).
    const moved = await b.flush([event(message(`${base}-1`), d, base + 90_000, 1)], base + 61_000);
    expect(moved.watermarkMs).to.equal(base + 61_000);
    expect((await row(60, base, d))?.closed_at).to.be.instanceOf(Date);
    expect((await row(3600, base, d))?.closed_at).to.equal(null);
    // Writer a still holds an event of the first minute: late against the stored watermark.
    deadLettered.length = 0;
    const stale = await a.flush([event(message(`${base}-2`), d, base + 5000, 1)], base + 30_000);
    expect(stale.late.map((m) => m.id)).to.deep.equal([`${base}-2`]);
    expect(deadLettered).to.deep.equal([`${base}-2`]);
    expect(stale.watermarkMs, 'never backwards').to.equal(base + 61_000);
    expect((await row(60, base, d))?.event_count).to.equal(1n);
    expect((await row(3600, base, d))?.event_count).to.equal(2n);
  });

  it('flushes of one group are serialized by the lease: a held lease is waited for until it expires', async () => {
    const group = `g-${randomBytes(3).toString('hex')}`;
    const d = dims(`lease-${group}`);
    const s = store('ledger', group, db, { leaseTtlSeconds: 2 });
    await s.loadWatermark();
    // A writer that died holding the lease (TTL 2 s).
    await db.execute(
      `UPDATE metric_aggregator_watermarks USING TTL 2 SET owner = 'dead-writer'
       WHERE consumer_group = ? AND topic = ? IF owner = null`,
      [group, 'events'],
    );
    const outcome = await s.flush([event(message(`${T0}-99`), d, T0 + 1000, 1)], undefined);
    expect(outcome.applied).to.have.length(1);
    const owner = await db.fetchOne<{ owner: string | null }>(
      'SELECT owner FROM metric_aggregator_watermarks WHERE consumer_group = ? AND topic = ?',
      [group, 'events'],
    );
    expect(owner?.owner, 'given back').to.equal(null);
    expect(new FlushLeaseLostError('x')).to.be.instanceOf(Error);
  });
});

/** `db` with `batch` observed by `before` (which may throw to fail the call). */
function proxyBatch(db: Database, before: (options: BatchOptions | undefined) => void): Database {
  return new Proxy(db, {
    get(target, property) {
      if (property === 'batch') {
        return async (statements: readonly BatchStatement[], options?: BatchOptions) => {
          before(options);
          await target.batch(statements, options);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}
