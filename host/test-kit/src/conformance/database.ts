import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { Database, Row } from '@platform-host/contracts';
import { batchesOf, expectCode, firstBatchOf, range, rejectionOf } from './assertions.js';
import type { ConformanceSubject } from './subject.js';

export type { ConformanceSubject } from './subject.js';

/** The SQLSTATE of a query error, from the adapter's `sqlState` or from the driver error kept as `cause`. */
function sqlStateOf(error: unknown): unknown {
  const own = (error as { sqlState?: unknown }).sqlState;
  if (typeof own === 'string') return own;
  return ((error as { cause?: { code?: unknown } }).cause ?? {}).code;
}

/** `count(*)` and similar int8 results, whatever JavaScript type the driver returns them as. */
async function countRows(db: Database, table: string, where = ''): Promise<number> {
  const row = await db.fetchOne<{ n: unknown }>(`SELECT count(*) AS n FROM ${table} ${where}`);
  return Number(row?.n);
}

function bytesOf(value: unknown): number[] {
  expect(value).to.be.instanceOf(Uint8Array);
  return Array.from(value as Uint8Array);
}

/**
 * Declares the conformance suite every {@link Database} adapter of the PostgreSQL family runs
 * against itself (PGlite, PostgreSQL 15+). Every test creates its own tables named `conf_<random>`
 * in the default schema and drops them afterwards, so the suite can share a real server with other
 * runs. Result values are compared loosely where drivers legitimately differ (an `int8` may come
 * back as number, bigint or string; `bytea` as any `Uint8Array`).
 *
 * @param adapterName Shown in the suite title (`Database conformance: memory`).
 * @param subject Creates a connected database, and optionally destroys it. The suite calls
 *   `create()` once for most tests and once more for each connection-lifecycle test.
 */
export function describeDatabaseConformance(adapterName: string, subject: ConformanceSubject<Database>): void {
  describe(`Database conformance: ${adapterName}`, function () {
    let db: Database;
    let tables: string[] = [];

    /** A fresh table name, dropped after the test. */
    function tableName(): string {
      const name = `conf_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
      tables.push(name);
      return name;
    }

    /** Creates a table `(id int primary key, name text)` and returns its name. */
    async function simpleTable(): Promise<string> {
      const table = tableName();
      await db.execute(`CREATE TABLE ${table} (id integer PRIMARY KEY, name text)`);
      return table;
    }

    before(async function () {
      db = await subject.create();
    });

    afterEach(async function () {
      const dropping = tables;
      tables = [];
      if (dropping.length > 0 && db.isConnected())
        await db.execute(`DROP TABLE IF EXISTS ${dropping.join(', ')} CASCADE`);
    });

    after(async function () {
      if (db !== undefined) await subject.destroy?.(db);
    });

    it('speaks the postgresql dialect', function () {
      expect(db.dialect).to.equal('postgresql');
    });

    describe('connection lifecycle', function () {
      it('is connected after create, stays connected on a second connect(), and disconnects idempotently', async function () {
        const other = await subject.create();
        try {
          expect(other.isConnected()).to.equal(true);
          await other.connect();
          expect(other.isConnected()).to.equal(true);
          expect(await other.fetchOne('SELECT 1 AS one')).to.deep.equal({ one: 1 });
          await other.disconnect();
          expect(other.isConnected()).to.equal(false);
          await other.disconnect();
          expect(other.isConnected()).to.equal(false);
        } finally {
          await subject.destroy?.(other);
        }
      });

      it('rejects every query method with PH_ERR_NOT_CONNECTED after disconnect', async function () {
        const other = await subject.create();
        try {
          await other.disconnect();
          await expectCode(other.execute('SELECT 1'), 'PH_ERR_NOT_CONNECTED');
          await expectCode(other.fetchOne('SELECT 1'), 'PH_ERR_NOT_CONNECTED');
          await expectCode(other.fetchAll('SELECT 1'), 'PH_ERR_NOT_CONNECTED');
          await expectCode(batchesOf(other.stream('SELECT 1')), 'PH_ERR_NOT_CONNECTED');
          let ran = false;
          await expectCode(
            other.transaction(async () => {
              ran = true;
            }),
            'PH_ERR_NOT_CONNECTED',
          );
          expect(ran, 'transaction work ran while disconnected').to.equal(false);
          await expectCode(other.bulkInsert('conf_never_created', [{ id: 1 }]), 'PH_ERR_NOT_CONNECTED');
          await expectCode(other.batch([{ sql: 'SELECT 1' }]), 'PH_ERR_NOT_CONNECTED');
        } finally {
          await subject.destroy?.(other);
        }
      });

      it('reports healthy when connected and unhealthy, without throwing, when disconnected', async function () {
        const other = await subject.create();
        try {
          const healthy = await other.healthCheck();
          expect(healthy.ok, healthy.detail).to.equal(true);
          await other.disconnect();
          const unhealthy = await other.healthCheck();
          expect(unhealthy.ok).to.equal(false);
          expect(unhealthy.detail).to.be.a('string').and.not.equal('');
        } finally {
          await subject.destroy?.(other);
        }
      });

      it('answers queries again after disconnect and a new connect()', async function () {
        const other = await subject.create();
        try {
          await other.disconnect();
          await other.connect();
          expect(other.isConnected()).to.equal(true);
          expect(await other.fetchOne('SELECT 2 AS two')).to.deep.equal({ two: 2 });
        } finally {
          await subject.destroy?.(other);
        }
      });
    });

    describe('statements', function () {
      it('returns 0 for DDL and the rows affected by INSERT, UPDATE and DELETE', async function () {
        const table = tableName();
        expect(await db.execute(`CREATE TABLE ${table} (id integer PRIMARY KEY, name text)`)).to.equal(0);
        expect(
          await db.execute(`INSERT INTO ${table} (id, name) VALUES ($1, $2), ($3, $4), ($5, $6)`, [
            1,
            'a',
            2,
            'b',
            3,
            'c',
          ]),
        ).to.equal(3);
        expect(await db.execute(`UPDATE ${table} SET name = $1 WHERE id >= $2`, ['z', 2])).to.equal(2);
        expect(await db.execute(`UPDATE ${table} SET name = 'none' WHERE id > 100`)).to.equal(0);
        expect(await db.execute(`DELETE FROM ${table} WHERE id = $1`, [1])).to.equal(1);
        expect(await countRows(db, table)).to.equal(2);
      });

      it('returns null from fetchOne when the query returns no rows', async function () {
        const table = await simpleTable();
        expect(await db.fetchOne(`SELECT * FROM ${table}`)).to.equal(null);
        expect(await db.fetchOne(`SELECT * FROM ${table} WHERE id = $1`, [42])).to.equal(null);
      });

      it('returns the first row from fetchOne when the query returns several', async function () {
        const table = await simpleTable();
        await db.execute(`INSERT INTO ${table} (id, name) VALUES (1, 'one'), (2, 'two'), (3, 'three')`);
        expect(await db.fetchOne(`SELECT id, name FROM ${table} ORDER BY id DESC`)).to.deep.equal({
          id: 3,
          name: 'three',
        });
      });

      it('returns every row in query order from fetchAll, and an empty array when there are none', async function () {
        const table = await simpleTable();
        expect(await db.fetchAll(`SELECT * FROM ${table}`)).to.deep.equal([]);
        await db.execute(`INSERT INTO ${table} (id, name) VALUES (2, 'two'), (1, 'one'), (3, NULL)`);
        expect(await db.fetchAll(`SELECT id, name FROM ${table} ORDER BY id`)).to.deep.equal([
          { id: 1, name: 'one' },
          { id: 2, name: 'two' },
          { id: 3, name: null },
        ]);
        expect(await db.fetchAll(`SELECT id FROM ${table} WHERE id > $1 ORDER BY id`, [1])).to.deep.equal([
          { id: 2 },
          { id: 3 },
        ]);
      });

      it('keeps every row of many concurrent inserts', async function () {
        const table = await simpleTable();
        const ids = Array.from({ length: 50 }, (_, index) => index + 1);
        const affected = await Promise.all(
          ids.map((id) => db.execute(`INSERT INTO ${table} (id, name) VALUES ($1, $2)`, [id, `n${id}`])),
        );
        expect(affected).to.deep.equal(ids.map(() => 1));
        const rows = await db.fetchAll<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`);
        expect(rows.map((row) => row.id)).to.deep.equal(ids);
      });

      it('rejects invalid SQL with PH_ERR_DB_QUERY naming the statement', async function () {
        const error = await expectCode(db.execute('SELEC nonsense FROM nowhere'), 'PH_ERR_DB_QUERY');
        // More than the engine's own message quotes ("syntax error at or near "SELEC"").
        expect(error.message).to.include('SELEC nonsense FROM nowhere');
        await expectCode(db.fetchAll(`SELECT * FROM conf_missing_${randomUUID().slice(0, 8)}`), 'PH_ERR_DB_QUERY');
      });

      it('reports a unique violation as PH_ERR_DB_QUERY with SQLSTATE 23505 reachable', async function () {
        const table = await simpleTable();
        await db.execute(`INSERT INTO ${table} (id, name) VALUES (1, 'first')`);
        const error = await expectCode(
          db.execute(`INSERT INTO ${table} (id, name) VALUES (1, 'again')`),
          'PH_ERR_DB_QUERY',
        );
        expect(sqlStateOf(error)).to.equal('23505');
        expect(await countRows(db, table)).to.equal(1);
      });
    });

    describe('parameters', function () {
      it('binds a jsonb object and array and returns them parsed', async function () {
        const table = tableName();
        await db.execute(`CREATE TABLE ${table} (id integer PRIMARY KEY, doc jsonb)`);
        const doc = { name: 'Zoë "quoted"', nested: { list: [1, 2.5, 'three', null, true] }, emoji: '🚀', empty: {} };
        await db.execute(`INSERT INTO ${table} (id, doc) VALUES ($1, $2)`, [1, doc]);
        await db.execute(`INSERT INTO ${table} (id, doc) VALUES ($1, $2)`, [2, [1, { a: 'b' }, []]]);
        const rows = await db.fetchAll<{ doc: unknown }>(`SELECT doc FROM ${table} ORDER BY id`);
        expect(rows.map((row) => row.doc)).to.deep.equal([doc, [1, { a: 'b' }, []]]);
        const found = await db.fetchOne(`SELECT id FROM ${table} WHERE doc @> $1`, [{ nested: { list: ['three'] } }]);
        expect(found).to.deep.equal({ id: 1 });
        expect(await db.fetchOne(`SELECT $1::jsonb ->> 'k' AS v`, [{ k: 'value' }])).to.deep.equal({ v: 'value' });
      });

      it('stores text with quotes, backslashes, control characters and unicode unchanged', async function () {
        const table = await simpleTable();
        const texts = [
          `it's "quoted" \\ back\\slash`,
          'tab\tnew\nline\r\nend',
          'unicode: héllo wörld ✓ 日本語 👩‍👩‍👧 e\u0301',
          '',
          ' leading and trailing spaces ',
        ];
        for (const [index, text] of texts.entries()) {
          await db.execute(`INSERT INTO ${table} (id, name) VALUES ($1, $2)`, [index, text]);
        }
        const rows = await db.fetchAll<{ name: string }>(`SELECT name FROM ${table} ORDER BY id`);
        expect(rows.map((row) => row.name)).to.deep.equal(texts);
        expect(await db.fetchOne(`SELECT id FROM ${table} WHERE name = $1`, [texts[2] as string])).to.deep.equal({
          id: 2,
        });
      });

      it('stores an SQL injection attempt passed as a parameter literally', async function () {
        const table = await simpleTable();
        const attack = `x'); DROP TABLE ${table}; --`;
        await db.execute(`INSERT INTO ${table} (id, name) VALUES ($1, $2)`, [1, attack]);
        expect(await db.fetchOne(`SELECT name FROM ${table} WHERE name = $1`, [attack])).to.deep.equal({
          name: attack,
        });
        expect(await db.fetchOne(`SELECT id FROM ${table} WHERE name = $1`, [`' OR '1'='1`])).to.equal(null);
        expect(await countRows(db, table)).to.equal(1);
      });

      it('binds NULL and returns null', async function () {
        const table = await simpleTable();
        await db.execute(`INSERT INTO ${table} (id, name) VALUES ($1, $2)`, [1, null]);
        expect(await db.fetchOne(`SELECT name FROM ${table} WHERE id = 1`)).to.deep.equal({ name: null });
        expect(await db.fetchOne(`SELECT id FROM ${table} WHERE name IS NULL`)).to.deep.equal({ id: 1 });
      });

      it('binds a Date to timestamptz and returns the same instant', async function () {
        const table = tableName();
        await db.execute(`CREATE TABLE ${table} (id integer PRIMARY KEY, at timestamptz NOT NULL)`);
        const at = new Date('2026-01-15T10:11:12.345Z');
        await db.execute(`INSERT INTO ${table} (id, at) VALUES ($1, $2)`, [1, at]);
        const row = await db.fetchOne<{ at: unknown }>(`SELECT at FROM ${table} WHERE id = 1`);
        expect(row?.at).to.be.instanceOf(Date);
        expect((row?.at as Date).getTime()).to.equal(at.getTime());
        const later = await db.fetchOne(`SELECT id FROM ${table} WHERE at > $1`, [
          new Date('2026-01-15T10:11:12.000Z'),
        ]);
        expect(later).to.deep.equal({ id: 1 });
      });

      it('binds a bigint beyond 2^53 to an int8 column exactly', async function () {
        const table = tableName();
        await db.execute(`CREATE TABLE ${table} (id integer PRIMARY KEY, big bigint NOT NULL)`);
        const big = 9_007_199_254_740_993n;
        await db.execute(`INSERT INTO ${table} (id, big) VALUES ($1, $2), ($3, $4)`, [1, big, 2, 42]);
        const rows = await db.fetchAll<{ big: unknown }>(`SELECT big FROM ${table} ORDER BY id`);
        expect(rows.map((row) => String(row.big))).to.deep.equal(['9007199254740993', '42']);
        expect(await db.fetchOne(`SELECT id FROM ${table} WHERE big = $1`, [big])).to.deep.equal({ id: 1 });
      });

      it('binds booleans, numbers and bytes', async function () {
        const table = tableName();
        await db.execute(
          `CREATE TABLE ${table} (id integer PRIMARY KEY, flag boolean, ratio double precision, data bytea)`,
        );
        const bytes = Uint8Array.from({ length: 256 }, (_, index) => index);
        await db.execute(`INSERT INTO ${table} (id, flag, ratio, data) VALUES ($1, $2, $3, $4)`, [
          1,
          true,
          -0.125,
          bytes,
        ]);
        const row = await db.fetchOne<{ flag: unknown; ratio: unknown; data: unknown }>(
          `SELECT flag, ratio, data FROM ${table}`,
        );
        expect(row?.flag).to.equal(true);
        expect(row?.ratio).to.equal(-0.125);
        expect(bytesOf(row?.data)).to.deep.equal(Array.from(bytes));
      });
    });

    describe('transactions', function () {
      it('commits the work when it resolves and returns its value', async function () {
        const table = await simpleTable();
        const result = await db.transaction(async () => {
          await db.execute(`INSERT INTO ${table} (id, name) VALUES (1, 'a')`);
          await db.execute(`INSERT INTO ${table} (id, name) VALUES (2, 'b')`);
          return 'done';
        });
        expect(result).to.equal('done');
        expect(await countRows(db, table)).to.equal(2);
      });

      it('rolls back and rethrows the same error when the work rejects', async function () {
        const table = await simpleTable();
        const failure = new Error('work failed on purpose');
        const error = await rejectionOf(
          db.transaction(async () => {
            await db.execute(`INSERT INTO ${table} (id, name) VALUES (1, 'a')`);
            throw failure;
          }),
        );
        expect(error).to.equal(failure);
        expect(await countRows(db, table)).to.equal(0);
      });

      it('rolls back when a statement inside the work fails, rejecting with PH_ERR_DB_QUERY', async function () {
        const table = await simpleTable();
        await expectCode(
          db.transaction(async () => {
            await db.execute(`INSERT INTO ${table} (id, name) VALUES (1, 'a')`);
            await db.execute(`INSERT INTO ${table} (id, name) VALUES (1, 'duplicate')`);
          }),
          'PH_ERR_DB_QUERY',
        );
        expect(await countRows(db, table)).to.equal(0);
      });

      it('shows its uncommitted rows to calls inside the work, also across awaits and in parallel calls', async function () {
        const table = await simpleTable();
        await db.transaction(async () => {
          await db.execute(`INSERT INTO ${table} (id, name) VALUES (1, 'a')`);
          await sleep(1);
          expect(await countRows(db, table)).to.equal(1);
          const [inserted, rows] = await Promise.all([
            db.execute(`INSERT INTO ${table} (id, name) VALUES (2, 'b')`),
            db.fetchAll(`SELECT id FROM ${table} WHERE id = 1`),
          ]);
          expect(inserted).to.equal(1);
          expect(rows).to.deep.equal([{ id: 1 }]);
          expect(await db.fetchAll(`SELECT id FROM ${table} ORDER BY id`)).to.deep.equal([{ id: 1 }, { id: 2 }]);
        });
      });

      it('runs calls made together inside the work in the order they were made', async function () {
        const table = await simpleTable();
        await db.transaction(async () => {
          // Each statement depends on the one before: issued without awaiting, they must still run in turn.
          const [, , , renamed, rows] = await Promise.all([
            db.execute(`INSERT INTO ${table} (id, name) VALUES (1, 'a')`),
            db.execute(`UPDATE ${table} SET name = name || 'b' WHERE id = 1`),
            db.execute(`INSERT INTO ${table} (id, name) SELECT id + 1, name || 'c' FROM ${table} WHERE id = 1`),
            db.execute(`UPDATE ${table} SET name = name || 'd' WHERE id = 2`),
            db.fetchAll<{ id: number; name: string }>(`SELECT id, name FROM ${table} ORDER BY id`),
          ]);
          expect(renamed).to.equal(1);
          expect(rows).to.deep.equal([
            { id: 1, name: 'ab' },
            { id: 2, name: 'abcd' },
          ]);
        });
      });

      it('does not show its uncommitted rows to a concurrent call made outside the work', async function () {
        const table = await simpleTable();
        let signalInserted: () => void = () => undefined;
        const inserted = new Promise<void>((resolve) => (signalInserted = resolve));
        let release: () => void = () => undefined;
        const released = new Promise<void>((resolve) => (release = resolve));
        const failure = new Error('roll back on purpose');
        const transaction = db.transaction(async () => {
          await db.execute(`INSERT INTO ${table} (id, name) VALUES (1, 'uncommitted')`);
          signalInserted();
          await released;
          throw failure;
        });
        await inserted;
        // Made from the test's own context: not inside the work. A backend with one session may
        // make it wait for the transaction to end; one with a pool answers while it is open.
        const outside = countRows(db, table);
        await sleep(50);
        release();
        expect(await rejectionOf(transaction)).to.equal(failure);
        expect(await outside).to.equal(0);
      });

      it('runs a nested transaction as a savepoint: its failure undoes only its own rows', async function () {
        const table = await simpleTable();
        await db.transaction(async () => {
          await db.execute(`INSERT INTO ${table} (id, name) VALUES (1, 'outer')`);
          const inner = new Error('inner failed');
          const error = await rejectionOf(
            db.transaction(async () => {
              await db.execute(`INSERT INTO ${table} (id, name) VALUES (2, 'inner')`);
              throw inner;
            }),
          );
          expect(error).to.equal(inner);
          await db.transaction(async () => {
            await db.execute(`INSERT INTO ${table} (id, name) VALUES (3, 'inner kept')`);
          });
        });
        expect(await db.fetchAll(`SELECT id FROM ${table} ORDER BY id`)).to.deep.equal([{ id: 1 }, { id: 3 }]);
      });

      it('rolls back a committed nested transaction with its outer transaction', async function () {
        const table = await simpleTable();
        const failure = new Error('outer failed');
        const error = await rejectionOf(
          db.transaction(async () => {
            await db.transaction(async () => {
              await db.execute(`INSERT INTO ${table} (id, name) VALUES (1, 'inner')`);
            });
            throw failure;
          }),
        );
        expect(error).to.equal(failure);
        expect(await countRows(db, table)).to.equal(0);
      });
    });

    describe('batch', function () {
      it('applies every statement of a batch, in order, with their parameters', async function () {
        const table = await simpleTable();
        await db.batch([
          { sql: `INSERT INTO ${table} (id, name) VALUES ($1, $2)`, params: [1, 'a'] },
          { sql: `INSERT INTO ${table} (id, name) VALUES ($1, $2)`, params: [2, 'b'] },
          { sql: `UPDATE ${table} SET name = $1 WHERE id = $2`, params: ['a2', 1] },
        ]);
        expect(await db.fetchAll(`SELECT id, name FROM ${table} ORDER BY id`)).to.deep.equal([
          { id: 1, name: 'a2' },
          { id: 2, name: 'b' },
        ]);
      });

      it('keeps none of its statements when one fails, logged or not, rejecting with PH_ERR_DB_QUERY', async function () {
        const table = await simpleTable();
        for (const logged of [true, false]) {
          await expectCode(
            db.batch(
              [
                { sql: `INSERT INTO ${table} (id, name) VALUES ($1, $2)`, params: [1, 'a'] },
                { sql: `INSERT INTO ${table} (id, name) VALUES ($1, $2)`, params: [1, 'duplicate'] },
              ],
              { logged },
            ),
            'PH_ERR_DB_QUERY',
          );
          expect(await countRows(db, table), `logged: ${logged}`).to.equal(0);
        }
      });

      it('joins the surrounding transaction and rolls back with it', async function () {
        const table = await simpleTable();
        const failure = new Error('outer failed');
        const error = await rejectionOf(
          db.transaction(async () => {
            await db.batch([{ sql: `INSERT INTO ${table} (id, name) VALUES ($1, $2)`, params: [1, 'a'] }]);
            expect(await countRows(db, table)).to.equal(1);
            throw failure;
          }),
        );
        expect(error).to.equal(failure);
        expect(await countRows(db, table)).to.equal(0);
      });

      it('does nothing for an empty list', async function () {
        await db.batch([]);
        expect(await db.fetchOne('SELECT 1 AS one')).to.deep.equal({ one: 1 });
      });
    });

    describe('stream', function () {
      /** A `(id, name)` table holding ids 1..count, named `n<id>`. */
      async function numberedTable(count: number): Promise<string> {
        const table = await simpleTable();
        await db.execute(`INSERT INTO ${table} (id, name) SELECT g, 'n' || g FROM generate_series(1, $1::int) g`, [
          count,
        ]);
        return table;
      }

      it('reads 10,000 rows as 10 batches of at most 1000, in query order, none lost or repeated', async function () {
        const table = await numberedTable(10_000);
        const batches = await batchesOf(
          db.stream<{ id: number; name: string }>(`SELECT id, name FROM ${table} ORDER BY id`, [], { batchSize: 1000 }),
        );
        expect(batches).to.have.length(10);
        for (const batch of batches) expect(batch.length).to.be.within(1, 1000);
        const rows = batches.flat();
        expect(rows).to.have.length(10_000);
        expect(rows.map((row) => row.id)).to.deep.equal(range(10_000, 1));
        expect(rows[4_321]).to.deep.equal({ id: 4_322, name: 'n4322' });
      });

      it('uses batches of 1000 rows when no batch size is given', async function () {
        const table = await numberedTable(2_500);
        const batches = await batchesOf(db.stream<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`));
        expect(batches.map((batch) => batch.length)).to.deep.equal([1000, 1000, 500]);
        expect(batches.flat().map((row) => row.id)).to.deep.equal(range(2_500, 1));
      });

      it('yields no batch for an empty result', async function () {
        const table = await simpleTable();
        expect(await batchesOf(db.stream(`SELECT id FROM ${table}`, [], { batchSize: 10 }))).to.deep.equal([]);
      });

      it('binds its parameters', async function () {
        const table = await numberedTable(100);
        const batches = await batchesOf(
          db.stream<{ id: number }>(`SELECT id FROM ${table} WHERE id > $1 AND name <> $2 ORDER BY id`, [90, 'n95'], {
            batchSize: 3,
          }),
        );
        expect(batches.map((batch) => batch.map((row) => row.id))).to.deep.equal([
          [91, 92, 93],
          [94, 96, 97],
          [98, 99, 100],
        ]);
      });

      it('releases its cursor when the loop is left early: 20 early exits, then the database still answers', async function () {
        const table = await numberedTable(5_000);
        for (let attempt = 0; attempt < 20; attempt += 1) {
          const first = await firstBatchOf(
            db.stream<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`, [], { batchSize: 100 }),
          );
          expect(first?.map((row) => row.id)).to.deep.equal(range(100, 1));
        }
        expect(await countRows(db, table)).to.equal(5_000);
        const all = await batchesOf(db.stream(`SELECT id FROM ${table}`, [], { batchSize: 1000 }));
        expect(all.flat()).to.have.length(5_000);
      });

      it('lets the loop body use the database between batches', async function () {
        const source = await numberedTable(250);
        const target = await simpleTable();
        for await (const batch of db.stream<{ id: number; name: string }>(
          `SELECT id, name FROM ${source} ORDER BY id`,
          [],
          {
            batchSize: 100,
          },
        )) {
          await db.bulkInsert(target, batch);
          expect(await countRows(db, target)).to.equal(batch[batch.length - 1]?.id);
        }
        expect(await countRows(db, target)).to.equal(250);
      });

      it('inside a transaction reads its uncommitted rows, and the loop body runs in the same transaction', async function () {
        const table = await simpleTable();
        const failure = new Error('roll back on purpose');
        const error = await rejectionOf(
          db.transaction(async () => {
            await db.execute(`INSERT INTO ${table} (id, name) SELECT g, 'n' || g FROM generate_series(1, 300) g`);
            let seen = 0;
            for await (const batch of db.stream<{ id: number }>(
              `SELECT id FROM ${table} WHERE id <= 300 ORDER BY id`,
              [],
              {
                batchSize: 100,
              },
            )) {
              expect(batch.map((row) => row.id)).to.deep.equal(range(100, seen + 1));
              seen += batch.length;
              await db.execute(`INSERT INTO ${table} (id, name) VALUES ($1, 'written in the loop')`, [1000 + seen]);
            }
            expect(seen).to.equal(300);
            expect(await countRows(db, table)).to.equal(303);
            throw failure;
          }),
        );
        expect(error).to.equal(failure);
        expect(await countRows(db, table)).to.equal(0);
      });

      it('inside a transaction closes the cursors it leaves early', async function () {
        const table = await numberedTable(1_000);
        const openCursors = `SELECT count(*) AS n FROM pg_cursors WHERE name <> ''`;
        await db.transaction(async () => {
          const before = Number((await db.fetchOne<{ n: unknown }>(openCursors))?.n);
          for (let attempt = 0; attempt < 20; attempt += 1) {
            const first = await firstBatchOf(db.stream(`SELECT id FROM ${table} ORDER BY id`, [], { batchSize: 10 }));
            expect(first).to.have.length(10);
          }
          expect(Number((await db.fetchOne<{ n: unknown }>(openCursors))?.n)).to.equal(before);
        });
      });

      it('rejects a statement the server refuses with PH_ERR_DB_QUERY, and the database still answers', async function () {
        await expectCode(batchesOf(db.stream('SELEC nonsense FROM nowhere')), 'PH_ERR_DB_QUERY');
        const table = await numberedTable(3_000);
        // Fails at row 2,500, after the engine may already have sent batches.
        const error = await expectCode(
          batchesOf(db.stream(`SELECT 1 / (2500 - id) AS x FROM ${table} ORDER BY id`, [], { batchSize: 1000 })),
          'PH_ERR_DB_QUERY',
        );
        expect(sqlStateOf(error)).to.equal('22012');
        expect(await countRows(db, table)).to.equal(3_000);
      });
    });

    describe('bulkInsert', function () {
      function eventRows(count: number, firstId = 0): Row[] {
        return Array.from({ length: count }, (_, index) => {
          const id = firstId + index;
          return {
            id,
            name: `event ${id}: tab\there, "quote", back\\slash, newline\n, ünïcødé ✓`,
            payload: { id, tags: ['a', 'b'], nested: { even: id % 2 === 0 } },
            at: new Date(Date.UTC(2026, 0, 15, 0, 0, id % 60)),
            note: id % 10 === 0 ? null : `note ${id}`,
          };
        });
      }

      async function eventTable(): Promise<string> {
        const table = tableName();
        await db.execute(
          `CREATE TABLE ${table} (id integer PRIMARY KEY, name text NOT NULL, payload jsonb NOT NULL, at timestamptz NOT NULL, note text)`,
        );
        return table;
      }

      it('inserts 1,000 rows, returns 1000, and a count query agrees', async function () {
        const table = await eventTable();
        const rows = eventRows(1000);
        expect(await db.bulkInsert(table, rows)).to.equal(1000);
        expect(await countRows(db, table)).to.equal(1000);
        const stored = await db.fetchAll(
          `SELECT id, name, payload, at, note FROM ${table} WHERE id IN (0, 7, 999) ORDER BY id`,
        );
        expect(stored).to.deep.equal([rows[0], rows[7], rows[999]]);
      });

      it('returns 0 for an empty list of rows', async function () {
        const table = await eventTable();
        expect(await db.bulkInsert(table, [])).to.equal(0);
        expect(await countRows(db, table)).to.equal(0);
      });

      it('with onConflict ignore skips rows that hit a unique index and returns only the new ones', async function () {
        const table = tableName();
        await db.execute(`CREATE TABLE ${table} (id serial PRIMARY KEY, dedup_key text NOT NULL, value integer)`);
        await db.execute(`CREATE UNIQUE INDEX ${table}_dedup ON ${table} (dedup_key)`);
        const existing = Array.from({ length: 300 }, (_, index) => ({ dedup_key: `key-${index * 2}`, value: -1 }));
        expect(await db.bulkInsert(table, existing)).to.equal(300);
        const batch = Array.from({ length: 1000 }, (_, index) => ({ dedup_key: `key-${index}`, value: index }));
        batch.push({ dedup_key: 'key-1', value: 99_999 }); // a duplicate inside the batch itself
        expect(await db.bulkInsert(table, batch, { onConflict: 'ignore' })).to.equal(700);
        expect(await countRows(db, table)).to.equal(1000);
        expect(await db.fetchOne(`SELECT value FROM ${table} WHERE dedup_key = 'key-0'`)).to.deep.equal({ value: -1 });
        expect(await db.fetchOne(`SELECT value FROM ${table} WHERE dedup_key = 'key-1'`)).to.deep.equal({ value: 1 });
      });

      it('fails as a whole on a unique violation by default, keeping none of its rows', async function () {
        const table = await simpleTable();
        await db.execute(`INSERT INTO ${table} (id, name) VALUES (500, 'existing')`);
        const rows = Array.from({ length: 1000 }, (_, index) => ({ id: index, name: `n${index}` }));
        const error = await expectCode(db.bulkInsert(table, rows), 'PH_ERR_DB_QUERY');
        expect(sqlStateOf(error)).to.equal('23505');
        expect(await countRows(db, table)).to.equal(1);
      });

      it('joins the surrounding transaction and rolls back with it', async function () {
        const table = await eventTable();
        const failure = new Error('roll back the bulk insert');
        const error = await rejectionOf(
          db.transaction(async () => {
            expect(await db.bulkInsert(table, eventRows(200))).to.equal(200);
            expect(await countRows(db, table)).to.equal(200);
            throw failure;
          }),
        );
        expect(error).to.equal(failure);
        expect(await countRows(db, table)).to.equal(0);
      });

      it('inserts into a table with a generated column it does not list', async function () {
        const table = tableName();
        await db.execute(
          `CREATE TABLE ${table} (id integer PRIMARY KEY, price integer NOT NULL, qty integer NOT NULL, ` +
            `total integer GENERATED ALWAYS AS (price * qty) STORED, created_at timestamptz NOT NULL DEFAULT now())`,
        );
        const rows = Array.from({ length: 100 }, (_, index) => ({ id: index, price: index, qty: 3 }));
        expect(await db.bulkInsert(table, rows)).to.equal(100);
        expect(
          await db.bulkInsert(table, [{ id: 1000, price: 5, qty: 2, ignored: 'x' }], {
            columns: ['id', 'price', 'qty'],
          }),
        ).to.equal(1);
        expect(await db.fetchOne(`SELECT total FROM ${table} WHERE id = 7`)).to.deep.equal({ total: 21 });
        expect(await db.fetchOne(`SELECT total FROM ${table} WHERE id = 1000`)).to.deep.equal({ total: 10 });
        expect(await countRows(db, table, 'WHERE created_at IS NOT NULL')).to.equal(101);
      });

      it('writes only the listed columns, NULL for keys a row lacks, and accepts a schema-qualified name', async function () {
        const table = await simpleTable();
        const rows: Row[] = [{ id: 1, name: 'one', extra: 'ignored' }, { id: 2 }];
        expect(await db.bulkInsert(`public.${table}`, rows, { columns: ['id', 'name'] })).to.equal(2);
        expect(await db.fetchAll(`SELECT id, name FROM ${table} ORDER BY id`)).to.deep.equal([
          { id: 1, name: 'one' },
          { id: 2, name: null },
        ]);
      });

      it('refuses a table name that is not a plain or schema-qualified identifier, with PH_ERR_DB_QUERY', async function () {
        const table = await simpleTable();
        for (const bad of [`${table}; DROP TABLE ${table}`, `a.b.${table}`, `"${table}"`, '', `${table} x`]) {
          await expectCode(db.bulkInsert(bad, [{ id: 1, name: 'x' }]), 'PH_ERR_DB_QUERY');
        }
        expect(await countRows(db, table)).to.equal(0);
      });

      it('rejects rows whose keys differ from the first row when no columns are given', async function () {
        const table = await simpleTable();
        await expectCode(db.bulkInsert(table, [{ id: 1, name: 'a' }, { id: 2 }]), 'PH_ERR_DB_QUERY');
        expect(await countRows(db, table)).to.equal(0);
      });
    });
  });
}
