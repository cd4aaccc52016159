import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { QueueMessage } from '@platform-host/contracts';
import { queueMessageForTest, startModuleForTest, type StartedModule } from '@platform-host/test-kit';
import type { MetricAggregatorContext } from './main.js';
import {
  EXCLUSIVITY_MARGIN_MS,
  idBounds,
  LEDGER_HOLD_LIMIT_MS,
  RollupStore,
  type AppliedRecord,
  type PendingEvent,
} from './rollup-store.js';

const MODULE_DIR = fileURLToPath(new URL('..', import.meta.url));
const T0 = Date.parse('2026-01-15T10:00:00Z');

function message(
  id: string,
  partition: number | undefined,
  offset: string | undefined,
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

function pending(msg: QueueMessage, value: number, receivedAt = 0): PendingEvent {
  return { message: msg, event: { timeMs: T0 + 1000, dimensionsKey: '{"event_type":"a"}', value }, receivedAt };
}

describe('metric_aggregator rollup store: what was applied is recorded in the same transaction', function () {
  this.timeout(60_000);
  let module: StartedModule;
  let ctx: MetricAggregatorContext;
  let monotonic = 0;
  const deadLettered: string[] = [];

  before(async () => {
    module = await startModuleForTest({ moduleDir: MODULE_DIR });
    ctx = module.ctx;
  });
  after(async () => {
    await module.close();
  });

  const store = (record: AppliedRecord, group: string): RollupStore =>
    new RollupStore({
      db: ctx.db,
      queue: {
        deadLetter: async (msg: QueueMessage) => {
          deadLettered.push(msg.id);
        },
      },
      group,
      topic: 'events',
      windowSeconds: [60],
      record,
      monotonicNow: () => monotonic,
    });

  const count = async (group: string): Promise<number> => {
    const row = await ctx.db.fetchOne<{ n: number }>(
      `SELECT coalesce(sum(event_count), 0)::int AS n FROM metric_rollups WHERE dimensions = $1::jsonb`,
      [JSON.stringify({ event_type: group })],
    );
    return row?.n ?? 0;
  };

  for (const record of ['ledger', 'partition-offsets'] as const) {
    it(`never applies a redelivered message twice (${record})`, async () => {
      const group = `g-${record}`;
      const first = store(record, group);
      await first.loadWatermark();
      const batch = [1, 2, 3].map((n) => pending(message(`m${n}`, record === 'ledger' ? undefined : 0, String(n)), n));
      const withGroup = batch.map((entry) => ({
        ...entry,
        event: { ...entry.event, dimensionsKey: JSON.stringify({ event_type: group }) },
      }));
      const outcome = await first.flush(withGroup, undefined);
      expect(outcome.applied.map((m) => m.id)).to.deep.equal(['m1', 'm2', 'm3']);
      // A restarted worker (the acknowledgement was lost) gets the same messages again, plus one new.
      const second = store(record, group);
      await second.loadWatermark();
      const again = [
        ...withGroup.map((entry) => ({ ...entry, message: { ...entry.message, deliveryCount: 2 } })),
        { ...withGroup[0]!, message: message('m4', record === 'ledger' ? undefined : 0, '4') },
      ];
      const redelivered = await second.flush(again, undefined);
      expect(redelivered.duplicates.map((m) => m.id)).to.deep.equal(['m1', 'm2', 'm3']);
      expect(redelivered.applied.map((m) => m.id)).to.deep.equal(['m4']);
      expect(await count(group)).to.equal(4);
    });
  }

  it('never applies the first copy of an entry that another worker claimed and applied first (ledger)', async () => {
    const group = 'g-claimed-first-copy';
    const dims = JSON.stringify({ event_type: group });
    const holder = store('ledger', group);
    const claimer = store('ledger', group);
    await holder.loadWatermark();
    await claimer.loadWatermark();
    const entry = (deliveryCount: number): PendingEvent => ({
      ...pending(message('c1', undefined, undefined, deliveryCount), 1),
      event: { timeMs: T0 + 1000, dimensionsKey: dims, value: 1 },
    });
    // The holder got the entry first (delivery 1) and is slow; the entry went idle, another worker
    // claimed it (delivery 2), applied it and committed before the holder's flush.
    const claimed = await claimer.flush([entry(2)], undefined);
    expect(claimed.applied.map((m) => m.id)).to.deep.equal(['c1']);
    const late = await holder.flush([entry(1)], undefined);
    expect(late.applied).to.deep.equal([]);
    expect(late.duplicates.map((m) => m.id)).to.deep.equal(['c1']);
    expect(await count(group)).to.equal(1);
  });

  it('looks up a first delivery once its exclusivity has run out, and only then (ledger)', async () => {
    const group = 'g-exclusivity';
    const dims = JSON.stringify({ event_type: group });
    const lookups: string[] = [];
    const counted = new RollupStore({
      db: new Proxy(ctx.db, {
        get(target, property, receiver) {
          if (property === 'fetchAll') {
            return async (sql: string, params?: Parameters<typeof target.fetchAll>[1]) => {
              if (sql.includes('metric_aggregator_applied_messages')) lookups.push(JSON.stringify(params?.[2]));
              return target.fetchAll(sql, params);
            };
          }
          const value: unknown = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
        },
      }),
      queue: { deadLetter: async () => undefined },
      group,
      topic: 'events',
      windowSeconds: [60],
      record: 'ledger',
      monotonicNow: () => monotonic,
    });
    const claimer = store('ledger', group);
    await counted.loadWatermark();
    monotonic = 10_000;
    const entry = (id: string, deliveryCount: number, exclusiveUntil?: number): PendingEvent => ({
      ...pending(message(id, undefined, undefined, deliveryCount, exclusiveUntil), 1),
      event: { timeMs: T0 + 1000, dimensionsKey: dims, value: 1 },
    });
    // Still this consumer's alone: no other consumer can have applied it, so no lookup.
    const fresh = await counted.flush([entry('e1', 1, monotonic + EXCLUSIVITY_MARGIN_MS + 5_000)], undefined);
    expect(fresh.applied.map((m) => m.id)).to.deep.equal(['e1']);
    expect(lookups).to.deep.equal([]);
    // Another consumer claimed e2 once it went idle and applied it first; the holder's copy is a first
    // delivery whose exclusivity ran out (within the margin counts as run out): looked up, a duplicate.
    await claimer.flush([entry('e2', 2)], undefined);
    const stale = await counted.flush(
      [
        entry('e2', 1, monotonic + EXCLUSIVITY_MARGIN_MS - 1),
        entry('e3', 1, monotonic + 60_000),
        entry('e4', 2, monotonic + 60_000),
      ],
      undefined,
    );
    expect(stale.duplicates.map((m) => m.id)).to.deep.equal(['e2']);
    expect(stale.applied.map((m) => m.id)).to.deep.equal(['e3', 'e4']);
    // e3 (exclusive) was not looked up; e2 (ran out) and e4 (a redelivery) were.
    expect(lookups).to.deep.equal([JSON.stringify('{"e2","e4"}')]);
    expect(await count(group)).to.equal(4);
  });

  it('finds applied entry ids through the id bounds of the ledger rows, and opaque ids in rows without bounds', async () => {
    const group = 'g-id-bounds';
    const dims = JSON.stringify({ event_type: group });
    const entry = (id: string, deliveryCount: number): PendingEvent => ({
      ...pending(message(id, undefined, undefined, deliveryCount), 1),
      event: { timeMs: T0 + 1000, dimensionsKey: dims, value: 1 },
    });
    const first = store('ledger', group);
    await first.loadWatermark();
    await first.flush([entry('1700000000000-0', 1), entry('1700000000005-3', 1)], undefined);
    await first.flush([entry('1700000009000-0', 1)], undefined);
    await first.flush([entry('opaque-1', 1), entry('1700000000003-0', 1)], undefined);
    const bounds = await ctx.db.fetchAll<{ min_ms: string | null; max_ms: string | null }>(
      `SELECT min_ms::text, max_ms::text FROM metric_aggregator_applied_messages WHERE consumer_group = $1
       ORDER BY applied_at, flush_id`,
      [group],
    );
    expect(bounds.map((row) => [row.min_ms, row.max_ms]).sort()).to.deep.equal(
      [
        ['1700000000000', '1700000000005'],
        ['1700000009000', '1700000009000'],
        [null, null],
      ].sort(),
    );
    const second = store('ledger', group);
    const again = await second.flush(
      [
        entry('1700000000005-3', 2),
        entry('1700000009000-0', 2),
        entry('opaque-1', 2),
        entry('1700000000003-0', 2),
        entry('1700000000004-0', 2),
      ],
      undefined,
    );
    expect(again.duplicates.map((m) => m.id)).to.deep.equal([
      '1700000000005-3',
      '1700000009000-0',
      'opaque-1',
      '1700000000003-0',
    ]);
    expect(again.applied.map((m) => m.id)).to.deep.equal(['1700000000004-0']);
    expect(await count(group)).to.equal(6);
    expect(idBounds(['5-1', '3-0', '12-7'])).to.deep.equal([3, 12]);
    expect(idBounds(['5-1', 'x-1'])).to.equal(undefined);
    expect(idBounds(['99999999999999999999-0'])).to.equal(undefined);
    expect(idBounds([])).to.equal(undefined);
  });

  it('stores dimensions, message ids and values exactly, whatever characters the array literals must escape', async () => {
    const group = 'g-escaping';
    const awkward = `quote " backslash \\ comma , braces {} NULL ${group}`;
    const dims = JSON.stringify({ event_type: awkward, 'payload.user': 'u"1\\' });
    const ledger = store('ledger', group);
    await ledger.loadWatermark();
    const ids = ['1-0', 'id "with" quotes', 'id \\ back, slash {x}'];
    const values = [0.1, 0.2, 1e-300];
    const entries = ids.map((id, index) => ({
      ...pending(message(id, undefined, undefined), values[index]!),
      event: { timeMs: T0 + 1000, dimensionsKey: dims, value: values[index] },
    }));
    entries.push({
      ...pending(message('no-value', undefined, undefined), 0),
      event: {
        timeMs: T0 + 1000,
        dimensionsKey: JSON.stringify({ event_type: `${awkward} without value` }),
        value: undefined,
      },
    });
    const outcome = await ledger.flush(entries, undefined);
    expect(outcome.applied.map((m) => m.id)).to.deep.equal([...ids, 'no-value']);
    const rows = await ctx.db.fetchAll<{ dims: string; n: number; vs: number | null; vmin: number | null; vc: number }>(
      `SELECT dimensions::text AS dims, event_count::int AS n, value_count::int AS vc, value_sum AS vs, value_min AS vmin
       FROM metric_rollups WHERE dimensions->>'event_type' LIKE $1 ORDER BY event_count DESC`,
      [`%${group}%`],
    );
    expect(
      rows.map((row): unknown[] => [JSON.parse(row.dims) as unknown, row.n, row.vc, row.vs, row.vmin]),
    ).to.deep.equal([
      [JSON.parse(dims) as unknown, 3, 3, 0.1 + 0.2 + 1e-300, 1e-300],
      [{ event_type: `${awkward} without value` }, 1, 0, null, null],
    ]);
    const ledgerIds = await ctx.db.fetchAll<{ id: string }>(
      'SELECT unnest(message_ids) AS id FROM metric_aggregator_applied_messages WHERE consumer_group = $1',
      [group],
    );
    expect(ledgerIds.map((row) => row.id)).to.deep.equal([...ids, 'no-value']);
  });

  it('records the offsets of messages the worker dead-lettered itself with the high-water offsets (partitions)', async () => {
    const group = 'g-dead-lettered-offsets';
    const offsets = store('partition-offsets', group);
    await offsets.loadWatermark();
    expect(await offsets.highWaterOffsets([0, 1])).to.deep.equal(new Map());
    const applied = pending(message('p0-3', 0, '3'), 1);
    await offsets.flush(
      [{ ...applied, event: { ...applied.event, dimensionsKey: JSON.stringify({ event_type: group }) } }],
      undefined,
      [message('p0-5', 0, '5'), message('p1-9', 1, '9')],
    );
    // A restarted owner reads these at assignment: offsets 0..5 and 0..9 were applied or dead-lettered.
    expect(await offsets.highWaterOffsets([0, 1])).to.deep.equal(
      new Map([
        [0, 5n],
        [1, 9n],
      ]),
    );
    expect(await count(group)).to.equal(1);
  });

  it('deletes ledger rows only after the hold limit since the acknowledgement, and refuses messages held longer', async () => {
    const group = 'g-retention';
    const dims = JSON.stringify({ event_type: group });
    const ledger = store('ledger', group);
    await ledger.loadWatermark();
    monotonic = 0;
    const entry = {
      ...pending(message('r1', undefined, undefined), 1),
      event: { timeMs: T0, dimensionsKey: dims, value: 1 },
    };
    const outcome = await ledger.flush([entry], undefined);
    ledger.acknowledged(outcome.flushId);
    const rows = async (): Promise<number> =>
      (
        await ctx.db.fetchOne<{ n: number }>(
          'SELECT coalesce(sum(cardinality(message_ids)), 0)::int AS n FROM metric_aggregator_applied_messages WHERE consumer_group = $1',
          [group],
        )
      )?.n ?? 0;
    monotonic = LEDGER_HOLD_LIMIT_MS - 1;
    await ledger.flush([], T0 - 60_000);
    expect(await rows()).to.equal(1);
    // A copy another consumer still holds since before the acknowledgement is now held too long.
    const stale = await ledger.flush([{ ...entry, receivedAt: -2 }], undefined);
    expect(stale.released.map((m) => m.id)).to.deep.equal(['r1']);
    monotonic = LEDGER_HOLD_LIMIT_MS;
    await ledger.flush([], T0 - 30_000);
    expect(await rows()).to.equal(0);
    expect(await count(group)).to.equal(1);
  });

  it('dead-letters, inside the flush, events the stored watermark has closed (another worker moved it)', async () => {
    const group = 'g-late';
    const dims = JSON.stringify({ event_type: group });
    const a = store('ledger', group);
    const b = store('ledger', group);
    await a.loadWatermark();
    // Worker A moves the stored watermark past 10:01.
    await a.flush([], T0 + 120_000);
    const entry = {
      ...pending(message('late-1', undefined, undefined), 1),
      event: { timeMs: T0 + 1000, dimensionsKey: dims, value: 1 },
    };
    const outcome = await b.flush([entry], T0);
    expect(outcome.late.map((m) => m.id)).to.deep.equal(['late-1']);
    expect(deadLettered).to.include('late-1');
    expect(outcome.watermarkMs).to.equal(T0 + 120_000);
    expect(await count(group)).to.equal(0);
  });
});
