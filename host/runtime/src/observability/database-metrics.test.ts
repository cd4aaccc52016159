import { AsyncLocalStorage } from 'node:async_hooks';
import { expect } from 'chai';
import { PlatformError, isPlatformError } from '@platform-host/contracts';
import type { BatchStatement, Database, HealthCheckResult, Row, SqlParam } from '@platform-host/contracts';
import { memoryMetrics, type ReadableMetrics } from '../test-support/memory-metrics.js';
import { DB_QUERY_DURATION, instrumentDatabase } from './database-metrics.js';

/**
 * The PGlite adapter does not compile on this branch yet, so the proxy is tested against this
 * minimal in-memory database: one table of rows, `INSERT`/`SELECT`/`FAIL` statements, and
 * transactions found through AsyncLocalStorage whose writes are only kept on commit.
 */
class ListDatabase implements Database {
  readonly dialect = 'postgresql' as const;
  #connected = false;
  #rows: Row[] = [];
  readonly #transaction = new AsyncLocalStorage<Row[]>();
  streamsStarted = 0;

  async connect(): Promise<void> {
    this.#connected = true;
  }
  async disconnect(): Promise<void> {
    this.#connected = false;
  }
  isConnected(): boolean {
    return this.#connected;
  }
  async healthCheck(): Promise<HealthCheckResult> {
    return { ok: this.#connected };
  }
  #table(): Row[] {
    if (!this.#connected) throw new PlatformError('PH_ERR_NOT_CONNECTED', 'not connected');
    return this.#transaction.getStore() ?? this.#rows;
  }
  async execute(sql: string, params: readonly SqlParam[] = []): Promise<number> {
    const table = this.#table();
    if (sql === 'FAIL') throw new PlatformError('PH_ERR_DB_QUERY', 'syntax error at "FAIL"');
    if (sql !== 'INSERT') return 0;
    table.push({ value: params[0] ?? null });
    return 1;
  }
  async fetchOne<T extends Row = Row>(sql: string, params?: readonly SqlParam[]): Promise<T | null> {
    return (await this.fetchAll<T>(sql, params))[0] ?? null;
  }
  async fetchAll<T extends Row = Row>(sql: string, _params?: readonly SqlParam[]): Promise<T[]> {
    const table = this.#table();
    if (sql === 'FAIL') throw new PlatformError('PH_ERR_DB_QUERY', 'syntax error at "FAIL"');
    return table.map((row) => ({ ...row }) as T);
  }
  async *stream<T extends Row = Row>(sql: string, params?: readonly SqlParam[], options: { batchSize?: number } = {}) {
    this.streamsStarted += 1;
    const rows = await this.fetchAll<T>(sql, params);
    const size = options.batchSize ?? 1000;
    for (let index = 0; index < rows.length; index += size) yield rows.slice(index, index + size);
  }
  async transaction<T>(work: () => Promise<T>): Promise<T> {
    const outer = this.#table();
    const working = [...outer];
    const result = await this.#transaction.run(working, work);
    outer.splice(0, outer.length, ...working);
    return result;
  }
  async batch(statements: readonly BatchStatement[]): Promise<void> {
    await this.transaction(async () => {
      for (const statement of statements) await this.execute(statement.sql, statement.params);
    });
  }
  async bulkInsert(_table: string, rows: readonly Row[]): Promise<number> {
    this.#table().push(...rows);
    return rows.length;
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail('expected a rejection'),
    (error: unknown) => error,
  );
}

describe('instrumentDatabase', function () {
  let metrics: ReadableMetrics;
  let inner: ListDatabase;
  let db: ListDatabase;
  const labels = (operation: string, outcome: string) => ({ module: 'batch_etl', env: 'test', operation, outcome });

  beforeEach(async function () {
    metrics = await memoryMetrics();
    inner = new ListDatabase();
    db = instrumentDatabase(inner, { metrics, module: 'batch_etl', env: 'test' });
    await db.connect();
  });

  it('returns what the adapter returns and times each statement by operation with outcome ok', async function () {
    expect(await db.execute('INSERT', ['a'])).to.equal(1);
    expect(await db.bulkInsert('events', [{ value: 'b' }, { value: 'c' }])).to.equal(2);
    expect(await db.fetchOne('SELECT')).to.deep.equal({ value: 'a' });
    expect(await db.fetchAll('SELECT')).to.deep.equal([{ value: 'a' }, { value: 'b' }, { value: 'c' }]);
    await db.batch([{ sql: 'INSERT', params: ['d'] }]);
    expect(await db.fetchAll('SELECT')).to.have.lengthOf(4);
    for (const operation of ['execute', 'bulk_insert', 'fetch_one', 'fetch_all', 'batch']) {
      expect(metrics.histogramData(DB_QUERY_DURATION, labels(operation, 'ok'))?.count, operation).to.equal(
        operation === 'fetch_all' ? 2 : 1,
      );
    }
  });

  it('rethrows the adapter error itself and records the statement with outcome error', async function () {
    const error = await rejection(db.execute('FAIL'));
    expect(isPlatformError(error) && error.code).to.equal('PH_ERR_DB_QUERY');
    await rejection(db.fetchAll('FAIL'));
    await db.disconnect();
    const notConnected = await rejection(db.fetchOne('SELECT'));
    expect(isPlatformError(notConnected) && notConnected.code).to.equal('PH_ERR_NOT_CONNECTED');
    expect(metrics.histogramData(DB_QUERY_DURATION, labels('execute', 'error'))?.count).to.equal(1);
    expect(metrics.histogramData(DB_QUERY_DURATION, labels('fetch_all', 'error'))?.count).to.equal(1);
    expect(metrics.histogramData(DB_QUERY_DURATION, labels('fetch_one', 'error'))?.count).to.equal(1);
    expect(metrics.histogramData(DB_QUERY_DURATION, labels('execute', 'ok'))).to.equal(undefined);
  });

  it('keeps the transaction context: calls through the proxy inside work join the transaction', async function () {
    await db.execute('INSERT', ['before']);
    const seenInside = await db.transaction(async () => {
      await db.execute('INSERT', ['inside']);
      await new Promise((resolve) => setImmediate(resolve));
      return db.fetchAll('SELECT');
    });
    expect(seenInside).to.have.lengthOf(2);
    await rejection(
      db.transaction(async () => {
        await db.execute('INSERT', ['rolled back']);
        throw new Error('abort');
      }),
    );
    expect((await db.fetchAll('SELECT')).map((row) => row['value'])).to.deep.equal(['before', 'inside']);
    expect(metrics.histogramData(DB_QUERY_DURATION, labels('transaction', 'ok'))?.count).to.equal(1);
    expect(metrics.histogramData(DB_QUERY_DURATION, labels('transaction', 'error'))?.count).to.equal(1);
    expect(metrics.histogramData(DB_QUERY_DURATION, labels('execute', 'ok'))?.count).to.equal(3);
  });

  it('keeps stream lazy and records one observation per iteration, also when left early', async function () {
    await db.bulkInsert('events', [{ value: 1 }, { value: 2 }, { value: 3 }]);
    const stream = db.stream('SELECT', [], { batchSize: 2 });
    expect(inner.streamsStarted).to.equal(0);
    expect(metrics.histogramData(DB_QUERY_DURATION, labels('stream', 'ok'))).to.equal(undefined);
    const batches: Row[][] = [];
    for await (const batch of stream) batches.push(batch);
    expect(batches.map((batch) => batch.length)).to.deep.equal([2, 1]);
    for await (const batch of db.stream('SELECT', [], { batchSize: 1 })) {
      expect(batch).to.have.lengthOf(1);
      break;
    }
    expect(inner.streamsStarted).to.equal(2);
    expect(metrics.histogramData(DB_QUERY_DURATION, labels('stream', 'ok'))?.count).to.equal(2);
  });

  it('records a stream that fails with outcome error and rethrows its error', async function () {
    const error = await rejection(
      (async () => {
        for await (const batch of db.stream('FAIL')) void batch;
      })(),
    );
    expect(isPlatformError(error) && error.code).to.equal('PH_ERR_DB_QUERY');
    expect(metrics.histogramData(DB_QUERY_DURATION, labels('stream', 'error'))?.count).to.equal(1);
  });

  it('keeps dialect, instanceof, connection state and methods it does not measure', async function () {
    expect(db.dialect).to.equal('postgresql');
    expect(db).to.be.instanceOf(ListDatabase);
    expect(db.isConnected()).to.equal(true);
    await db.disconnect();
    expect(inner.isConnected()).to.equal(false);
    expect(db.streamsStarted).to.equal(0);
  });

  it('never lets a failing metrics backend change the result of a statement', async function () {
    const failing = await memoryMetrics();
    const histogram = failing.histogram.bind(failing);
    failing.histogram = (options) => {
      const real = histogram(options);
      return {
        ...real,
        observe: () => {
          throw new Error('metrics backend down');
        },
      };
    };
    const guarded = instrumentDatabase(new ListDatabase(), { metrics: failing, module: 'm', env: 'test' });
    await guarded.connect();
    expect(await guarded.execute('INSERT', ['x'])).to.equal(1);
    const error = await rejection(guarded.execute('FAIL'));
    expect(isPlatformError(error) && error.code).to.equal('PH_ERR_DB_QUERY');
  });
});
