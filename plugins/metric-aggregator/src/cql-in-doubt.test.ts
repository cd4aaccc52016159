import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import {
  PlatformError,
  type BatchOptions,
  type BatchStatement,
  type Database,
  type QueueMessage,
  type Row,
  type SqlParam,
} from '@platform-host/contracts';
import {
  queueMessageForTest,
  RecordingLogger,
  startModuleForTest,
  useRealService,
  type StartedModule,
} from '@platform-host/test-kit';
import {
  CqlRollupStore,
  InDoubtBatchError,
  PreviousHolderPendingError,
  isFatalStoreError,
  type CqlRollupStoreOptions,
} from './cql-rollup-store.js';
import { run, type MetricAggregatorContext } from './main.js';
import type { PendingEvent } from './rollup-store.js';

const MODULE_DIR = fileURLToPath(new URL('..', import.meta.url));
const T0 = Date.parse('2026-02-20T10:00:00Z');

function message(id: string): QueueMessage {
  return queueMessageForTest({ id });
}

/** What the Cassandra adapter throws for a batch whose outcome is unknown (a write timeout of type BATCH). */
function batchTimeout(): PlatformError {
  return new PlatformError(
    'PH_ERR_DB_TIMEOUT',
    'Cassandra did not confirm "BATCH INSERT INTO metric_rollup_parts", its outcome is unknown: Operation timed out - received only 0 responses. (write type BATCH)',
  );
}

/** A Database whose methods can be overridden (also the adapter's `fetchAllOnEachNode`), the rest going to the real adapter. */
function wrap(db: Database, overrides: Record<string, unknown>): Database {
  return new Proxy(db, {
    get(target, property) {
      if (typeof property === 'string' && overrides[property] !== undefined) return overrides[property];
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

type EachNode = (sql: string, params?: readonly SqlParam[]) => Promise<Map<string, Row[]>>;

interface StoredRow {
  event_count: bigint;
  value_sum: number | null;
  closed_at: Date | null;
  [column: string]: unknown;
}

/**
 * Issue 15, in-doubt batches on the native Cassandra: a logged batch that timed out is re-sent
 * until it settles; a writer that takes the lease over from one that never gave it back waits for
 * what that one may still have in flight; the parts of closed windows are deleted.
 */
describe('metric_aggregator Cassandra store: in-doubt batches and takeovers', function () {
  this.timeout(120_000);
  const cassandra = useRealService('cassandra');
  const keyspace = `it_indoubt_${randomBytes(4).toString('hex')}`;
  let module: StartedModule;
  let db: Database;

  before(async function () {
    this.timeout(180_000);
    module = await startModuleForTest({
      moduleDir: MODULE_DIR,
      flags: { db: 'cassandra' },
      env: { ...cassandra(), DB_CASSANDRA_KEYSPACE: keyspace, PLATFORM_AUTO_MIGRATE: 'true' },
    });
    db = module.ctx.db;
  });
  after(async () => {
    await db?.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`).catch(() => undefined);
    await module?.close();
  });

  const store = (group: string, database: Database, options: Partial<CqlRollupStoreOptions> = {}): CqlRollupStore =>
    new CqlRollupStore({
      db: database,
      queue: { deadLetter: async () => undefined },
      group,
      topic: 'events',
      windowSeconds: [60, 3600],
      record: 'ledger',
      monotonicNow: () => performance.now(),
      ...options,
    });
  const dims = (label: string): string => JSON.stringify({ event_type: label });
  const events = (base: number, d: string, count: number): PendingEvent[] =>
    Array.from({ length: count }, (_, index) => ({
      message: message(`${base}-${index}`),
      event: { timeMs: base + 1000 + index, dimensionsKey: d, value: index + 1 },
      receivedAt: performance.now(),
    }));
  const row = async (size: number, startMs: number, d: string): Promise<StoredRow | null> =>
    db.fetchOne<StoredRow>(
      'SELECT event_count, value_sum, closed_at FROM metric_rollups WHERE window_seconds = ? AND window_start = ? AND dimensions = ?',
      [size, new Date(startMs), d],
    );
  const leaseHolder = async (group: string): Promise<string | null | undefined> =>
    (
      await db.fetchOne<{ lease_holder: string | null }>(
        'SELECT lease_holder FROM metric_aggregator_watermarks WHERE consumer_group = ? AND topic = ?',
        [group, 'events'],
      )
    )?.lease_holder;

  it('a logged batch applied but answered with a timeout is re-sent identically and the flush settles: counts exact', async () => {
    const group = `g-${randomBytes(3).toString('hex')}`;
    const d = dims(`applied-timeout-${group}`);
    const base = T0;
    const sent: Array<readonly BatchStatement[]> = [];
    const flaky = wrap(db, {
      batch: async (statements: readonly BatchStatement[], options?: BatchOptions) => {
        await db.batch(statements, options);
        if (options?.logged === false) return;
        sent.push(statements);
        if (sent.length === 1) throw batchTimeout(); // Applied, then the answer is lost.
      },
    });
    const log = new RecordingLogger();
    const s = store(group, flaky, { log });
    await s.loadWatermark();
    const outcome = await s.flush(events(base, d, 5), undefined);
    expect(outcome.applied).to.have.length(5);
    expect(sent, 'the in-doubt batch and its re-send').to.have.length(2);
    expect(sent[1], 'identical statements: same values, same ledger ids').to.deep.equal(sent[0]);
    expect((await row(60, base, d))?.event_count).to.equal(5n);
    expect((await row(3600, base, d))?.value_sum).to.equal(15);
    expect(
      log
        .at('warn')
        .map((entry) => entry.message)
        .join('\n'),
    ).to.contain('outcome is unknown');
    expect(
      log
        .at('info')
        .map((entry) => entry.message)
        .join('\n'),
    ).to.contain('settled');
    expect(await leaseHolder(group), 'given back with the lease').to.equal(null);
    // Redelivered (not acknowledged in time): recognised in the ledger.
    const again = await store(group, db).flush(events(base, d, 5), undefined);
    expect(again.duplicates).to.have.length(5);
    expect((await row(60, base, d))?.event_count).to.equal(5n);
  });

  it('a batch that stays in doubt past the bound turns the store fatal: nothing more is applied and lease_holder stays', async () => {
    const group = `g-${randomBytes(3).toString('hex')}`;
    const d = dims(`fatal-${group}`);
    const base = T0 + 3600_000;
    let logged = 0;
    const timingOut = wrap(db, {
      batch: async (statements: readonly BatchStatement[], options?: BatchOptions) => {
        if (options?.logged === false) return db.batch(statements, options);
        logged += 1;
        throw batchTimeout();
      },
    });
    const s = store(group, timingOut, { inDoubtSettleBoundMs: 400, log: new RecordingLogger() });
    await s.loadWatermark();
    const failure = await s.flush(events(base, d, 3), undefined).catch((error: unknown) => error);
    expect(failure).to.be.instanceOf(InDoubtBatchError);
    expect(isFatalStoreError(failure)).to.equal(true);
    expect(String(failure)).to.contain(group).and.to.contain('applies nothing more');
    expect(logged, 'sent again before giving up').to.be.at.least(2);
    const sentBefore = logged;
    expect(await s.flush(events(base, d, 3), undefined).catch((error: unknown) => error)).to.equal(failure);
    expect(logged, 'a fatal store sends nothing').to.equal(sentBefore);
    expect(await leaseHolder(group), 'the next holder must wait for the batchlog').to.equal(s.writer);
  });

  it('the worker: a batch in doubt whose writer then lost the lease makes run() reject (exit non-zero) without sending it again', async () => {
    const topic = `events-${randomBytes(3).toString('hex')}`;
    const worker = await startModuleForTest({
      moduleDir: MODULE_DIR,
      flags: { db: 'cassandra' },
      args: ['--topic', topic, '--flush-interval', '1s'],
      env: { ...cassandra(), DB_CASSANDRA_KEYSPACE: keyspace },
    });
    try {
      let logged = 0;
      const stealing = wrap(db, {
        batch: async (statements: readonly BatchStatement[], options?: BatchOptions) => {
          if (options?.logged === false) return db.batch(statements, options);
          logged += 1;
          // In doubt, and meanwhile another writer took the lease over (this one paused too long).
          const held = await db.fetchOne<{ owner: string | null }>(
            'SELECT owner FROM metric_aggregator_watermarks WHERE consumer_group = ? AND topic = ?',
            ['metric_aggregator', topic],
          );
          await db.execute(
            `UPDATE metric_aggregator_watermarks USING TTL 30 SET owner = 'another-writer'
             WHERE consumer_group = ? AND topic = ? IF owner = ?`,
            ['metric_aggregator', topic, held?.owner ?? null],
          );
          throw batchTimeout();
        },
      });
      // The worker's context with the fault-injecting database (the rest is the harness's).
      const ctx = Object.create(worker.ctx, { db: { value: stealing } }) as MetricAggregatorContext;
      const running = run(ctx);
      await worker.ctx.mq.publish(topic, {
        value: JSON.stringify({ event_type: 'purchase', timestamp: new Date().toISOString(), payload: { value: 1 } }),
      });
      const failure = await running.then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).to.be.instanceOf(InDoubtBatchError);
      expect(String(failure)).to.contain('lost the flush lease');
      expect(logged, 'not sent again without the lease').to.equal(1);
      expect(worker.logs().join('\n')).to.contain('applies nothing more');
    } finally {
      await worker.close();
    }
  });

  it('a held-back batch of a writer that died lands while a second writer takes over: the second waits, no double count', async () => {
    const group = `g-${randomBytes(3).toString('hex')}`;
    const d = dims(`replay-${group}`);
    const base = T0 + 2 * 3600_000;
    // Writer A: its logged batch is held back (never answered: A "dies" there, its lease runs out).
    let held: { statements: readonly BatchStatement[]; options?: BatchOptions } | undefined;
    let heldCaptured: () => void = () => undefined;
    const captured = new Promise<void>((resolve) => (heldCaptured = resolve));
    const dying = wrap(db, {
      batch: (statements: readonly BatchStatement[], options?: BatchOptions) => {
        if (options?.logged === false) return db.batch(statements, options);
        held = options === undefined ? { statements } : { statements, options };
        heldCaptured();
        return new Promise<void>(() => undefined);
      },
    });
    const a = store(group, dying, { leaseTtlSeconds: 2 });
    await a.loadWatermark();
    void a.flush(events(base, d, 4), undefined);
    await captured;
    // The "replay": A's batch lands late, while the next writer is in its takeover wait (when the
    // store works as it should) or after the next writer applied the same messages (when it does not).
    let replayed = false;
    const replay = async (): Promise<void> => {
      if (replayed || held === undefined) return;
      replayed = true;
      await db.batch(held.statements, held.options);
    };
    const log = new RecordingLogger();
    const b = store(group, db, {
      // A TTL of 2 s lasts at least 1 s (Cassandra expires cells by whole seconds).
      leaseTtlSeconds: 2,
      requestTimeoutMs: 2000,
      log,
      sleep: async (ms) => {
        await replay();
        await new Promise((resolve) => setTimeout(resolve, ms));
      },
    });
    // B receives the same messages again (A never acknowledged them).
    const outcome = await b.flush(events(base, d, 4), undefined);
    await replay();
    // Any writer's next flush finishes A's dirty list (A's batch carried it).
    await store(group, db).flush([], undefined);
    expect((await row(60, base, d))?.event_count, 'each event once').to.equal(4n);
    expect((await row(3600, base, d))?.value_sum).to.equal(10);
    expect(outcome.duplicates.length + outcome.applied.length).to.equal(4);
    expect(outcome.duplicates, "A's ledger rows landed before B looked").to.have.length(4);
    const takeover = log.at('info').find((entry) => entry.message.includes('Took over the flush lease'));
    expect(takeover?.fields).to.include({ group, previous_holder: a.writer });
  });

  it('while the batchlog holds a batch older than the takeover, the flush fails naming the group and waits again next time', async () => {
    const group = `g-${randomBytes(3).toString('hex')}`;
    const d = dims(`batchlog-${group}`);
    const base = T0 + 3 * 3600_000;
    await store(group, db).loadWatermark();
    await db.execute(
      'UPDATE metric_aggregator_watermarks SET lease_holder = ? WHERE consumer_group = ? AND topic = ?',
      ['killed-writer', group, 'events'],
    );
    // The batchlog as the store reads it on each node: the real one, plus an entry written a
    // minute ago on a second node until `drained`.
    let drained = false;
    let reads = 0;
    const eachNode = (db as unknown as { fetchAllOnEachNode: EachNode }).fetchAllOnEachNode.bind(db);
    const withBatchlog = wrap(db, {
      fetchAllOnEachNode: async (sql: string, params?: readonly SqlParam[]): Promise<Map<string, Row[]>> => {
        reads += 1;
        const real = await eachNode(sql, params);
        expect(real.size, 'the single native node').to.equal(1);
        if (!drained) real.set('127.0.0.2:9042', [{ written_at: new Date(Date.now() - 60_000) }]);
        return real;
      },
    });
    const log = new RecordingLogger();
    const s = store(group, withBatchlog, { takeoverWaitMs: 300, requestTimeoutMs: 1, log });
    const failure = await s.flush(events(base, d, 2), undefined).catch((error: unknown) => error);
    expect(failure).to.be.instanceOf(PreviousHolderPendingError);
    expect(reads, 'the batchlog read again while waiting').to.be.at.least(2);
    expect(String(failure)).to.contain(group).and.to.contain('killed-writer');
    expect(
      log
        .at('error')
        .map((entry) => entry.message)
        .join('\n'),
    ).to.contain(group);
    expect(await row(60, base, d), 'nothing applied').to.equal(null);
    expect(await leaseHolder(group), 'still waited for').to.equal('killed-writer');
    drained = true;
    const outcome = await s.flush(events(base, d, 2), undefined);
    expect(outcome.applied).to.have.length(2);
    expect((await row(60, base, d))?.event_count).to.equal(2n);
    expect(await leaseHolder(group)).to.equal(null);
  });

  it('the parts of a closed window are deleted and its rows keep their values, also when duplicates or dirty lists name it later', async () => {
    const group = `g-${randomBytes(3).toString('hex')}`;
    const d = dims(`cleanup-${group}`);
    const base = T0 + 4 * 3600_000;
    const a = store(group, db);
    const b = store(group, db);
    await a.loadWatermark();
    const first = events(base, d, 3);
    await a.flush(first, undefined);
    await b.flush([{ ...(events(base, d, 4)[3] as PendingEvent), message: message(`${base}-b`) }], undefined);
    const parts = async (size: number): Promise<number> =>
      (
        await db.fetchAll('SELECT writer FROM metric_rollup_parts WHERE window_seconds = ? AND window_start = ?', [
          size,
          new Date(base),
        ])
      ).length;
    expect(await parts(60), 'one part per writer').to.equal(2);
    // The watermark passes the minute (not the hour): the minute closes.
    await a.flush([], base + 61_000);
    const closed = await row(60, base, d);
    expect(closed?.closed_at).to.be.instanceOf(Date);
    expect(closed?.event_count).to.equal(4n);
    expect(closed?.value_sum).to.equal(10);
    expect(await parts(60), 'parts of the closed minute deleted').to.equal(0);
    expect(await parts(3600), 'parts of the open hour kept').to.equal(2);
    // A redelivered duplicate recomputes its keys; a dirty list a crash left names the closed window.
    const dup = await b.flush(first.slice(0, 1), undefined);
    expect(dup.duplicates).to.have.length(1);
    await db.execute(
      'UPDATE metric_aggregator_writers SET dirty = ? WHERE consumer_group = ? AND topic = ? AND writer = ?',
      [JSON.stringify([`60|${base / 1000}`]), group, 'events', 'crashed-writer'],
    );
    await store(group, db).loadWatermark();
    const after = await row(60, base, d);
    expect(after?.event_count, 'not zeroed by a recompute from deleted parts').to.equal(4n);
    expect(after?.value_sum).to.equal(10);
    expect(after?.closed_at?.getTime()).to.equal(closed?.closed_at?.getTime());
    expect((await row(3600, base, d))?.event_count).to.equal(4n);
  });
});
