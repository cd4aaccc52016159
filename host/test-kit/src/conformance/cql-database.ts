import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { Database, Row } from '@platform-host/contracts';
import { batchesOf, expectCode, firstBatchOf, range } from './assertions.js';
import type { ConformanceSubject } from './subject.js';

/**
 * Declares the conformance suite every {@link Database} adapter of the `cql` dialect (Apache
 * Cassandra, ScyllaDB) runs against itself. DDL is slow on Cassandra (hundreds of milliseconds
 * per table), so the suite creates four tables named `conf_<random>_<kind>` once, in the
 * adapter's keyspace, gives every test its own partition (a fresh `pk`), and drops the tables at
 * the end: it can share a real cluster with other runs. Values are compared exactly: the contract
 * of the dialect fixes bigint/varint as `bigint`, decimal as `string`, uuid as `string`, timestamp
 * as `Date`, blob as bytes, collections as arrays and objects.
 *
 * @param adapterName Shown in the suite title (`CQL database conformance: cassandra`).
 * @param subject Creates a connected database whose keyspace exists, and optionally destroys it.
 *   The suite calls `create()` once for most tests and once more for each lifecycle test.
 */
export function describeCqlDatabaseConformance(adapterName: string, subject: ConformanceSubject<Database>): void {
  describe(`CQL database conformance: ${adapterName}`, function () {
    this.timeout(60_000);
    let db: Database;
    const prefix = `conf_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    /** `(pk int, ck int, name text, PRIMARY KEY (pk, ck))`: one partition per test. */
    const wide = `${prefix}_wide`;
    /** `(id int PRIMARY KEY, name text, extra text)`. */
    const kv = `${prefix}_kv`;
    /** A column of each scalar and collection type. */
    const typed = `${prefix}_typed`;
    /** `(pk int, ck int, name text, note text, PRIMARY KEY (pk, ck))` for bulk inserts. */
    const bulk = `${prefix}_bulk`;
    let partition = 0;
    /** A partition key no other test of this run uses. */
    const freshPartition = (): number => (partition += 1);
    /** A range of 1000 `kv` ids no other test of this run uses. */
    const freshIds = (): number => freshPartition() * 1000;

    async function countIn(table: string, pk: number): Promise<number> {
      const row = await db.fetchOne<{ n: unknown }>(`SELECT count(*) AS n FROM ${table} WHERE pk = ?`, [pk]);
      return Number(row?.n);
    }

    /** Fills partition `pk` of the wide table with `ck` 0..count-1, named `n<ck>`. */
    async function fillPartition(count: number): Promise<number> {
      const pk = freshPartition();
      const rows = range(count).map((ck) => ({ pk, ck, name: `n${ck}` }));
      expect(await db.bulkInsert(wide, rows)).to.equal(count);
      return pk;
    }

    before(async function () {
      db = await subject.create();
      await db.execute(`CREATE TABLE ${wide} (pk int, ck int, name text, PRIMARY KEY (pk, ck))`);
      await db.execute(`CREATE TABLE ${kv} (id int PRIMARY KEY, name text, extra text)`);
      await db.execute(
        `CREATE TABLE ${typed} (id int PRIMARY KEY, big bigint, vint varint, dec decimal, dbl double, fl float,
          small smallint, tiny tinyint, flag boolean, ts timestamp, day date, u uuid, tu timeuuid, bytes blob,
          addr inet, body text, tags set<text>, items list<int>, attrs map<text, int>, pair tuple<int, text>)`,
      );
      await db.execute(`CREATE TABLE ${bulk} (pk int, ck int, name text, note text, PRIMARY KEY (pk, ck))`);
    });

    after(async function () {
      if (db === undefined) return;
      if (db.isConnected()) {
        for (const table of [wide, kv, typed, bulk]) await db.execute(`DROP TABLE IF EXISTS ${table}`);
      }
      await subject.destroy?.(db);
    });

    it('speaks the cql dialect and names its keyspace and replication', function () {
      expect(db.dialect).to.equal('cql');
      expect(db.keyspace?.name).to.match(/^[a-z][a-z0-9_]*$/);
      expect(db.keyspace?.replication).to.match(/^\{.*'class'.*\}$/);
    });

    describe('connection lifecycle', function () {
      it('is connected after create, stays connected on a second connect(), and disconnects idempotently', async function () {
        const other = await subject.create();
        try {
          expect(other.isConnected()).to.equal(true);
          await other.connect();
          expect(other.isConnected()).to.equal(true);
          expect(await other.fetchOne(`SELECT count(*) AS n FROM ${kv} WHERE id = ?`, [-1])).to.deep.equal({ n: 0n });
          await other.disconnect();
          expect(other.isConnected()).to.equal(false);
          await other.disconnect();
          expect(other.isConnected()).to.equal(false);
        } finally {
          await subject.destroy?.(other);
        }
      });

      it('rejects every query method with PH_ERR_NOT_CONNECTED after disconnect, and reports unhealthy', async function () {
        const other = await subject.create();
        try {
          expect(await other.healthCheck()).to.include({ ok: true });
          await other.disconnect();
          const select = 'SELECT release_version FROM system.local';
          await expectCode(other.execute(select), 'PH_ERR_NOT_CONNECTED');
          await expectCode(other.fetchOne(select), 'PH_ERR_NOT_CONNECTED');
          await expectCode(other.fetchAll(select), 'PH_ERR_NOT_CONNECTED');
          await expectCode(batchesOf(other.stream(select)), 'PH_ERR_NOT_CONNECTED');
          await expectCode(other.batch([{ sql: select }]), 'PH_ERR_NOT_CONNECTED');
          await expectCode(other.bulkInsert(kv, [{ id: 1 }]), 'PH_ERR_NOT_CONNECTED');
          const health = await other.healthCheck();
          expect(health.ok).to.equal(false);
          expect(health.detail).to.be.a('string').and.not.equal('');
        } finally {
          await subject.destroy?.(other);
        }
      });

      it('answers queries again after disconnect and a new connect()', async function () {
        const other = await subject.create();
        try {
          await other.disconnect();
          await other.connect();
          expect(await other.fetchOne(`SELECT id FROM ${kv} WHERE id = ?`, [-1])).to.equal(null);
        } finally {
          await subject.destroy?.(other);
        }
      });
    });

    describe('statements', function () {
      it('returns 0 from execute for writes (Cassandra reports no affected rows), and the rows are there', async function () {
        const id = freshIds();
        expect(await db.execute(`INSERT INTO ${kv} (id, name) VALUES (?, ?)`, [id, 'a'])).to.equal(0);
        expect(await db.execute(`UPDATE ${kv} SET name = ? WHERE id = ?`, ['b', id])).to.equal(0);
        expect(await db.fetchOne(`SELECT id, name FROM ${kv} WHERE id = ?`, [id])).to.deep.equal({ id, name: 'b' });
        expect(await db.execute(`DELETE FROM ${kv} WHERE id = ?`, [id])).to.equal(0);
        expect(await db.fetchOne(`SELECT id FROM ${kv} WHERE id = ?`, [id])).to.equal(null);
      });

      it('returns 1 from execute for an applied lightweight transaction and 0 for one not applied', async function () {
        const id = freshIds();
        const insert = `INSERT INTO ${kv} (id, name) VALUES (?, ?) IF NOT EXISTS`;
        expect(await db.execute(insert, [id, 'first'])).to.equal(1);
        expect(await db.execute(insert, [id, 'second'])).to.equal(0);
        expect(await db.execute(`UPDATE ${kv} SET name = ? WHERE id = ? IF name = ?`, ['third', id, 'first'])).to.equal(
          1,
        );
        expect(await db.execute(`UPDATE ${kv} SET name = ? WHERE id = ? IF name = ?`, ['x', id, 'first'])).to.equal(0);
        expect(await db.fetchOne(`SELECT name FROM ${kv} WHERE id = ?`, [id])).to.deep.equal({ name: 'third' });
      });

      it('returns the [applied] row from fetchOne of a lightweight transaction, with the current values when not applied', async function () {
        const id = freshIds();
        const insert = `INSERT INTO ${kv} (id, name) VALUES (?, ?) IF NOT EXISTS`;
        expect(await db.fetchOne(insert, [id, 'first'])).to.deep.equal({ '[applied]': true });
        const refused = await db.fetchOne(insert, [id, 'second']);
        expect(refused).to.include({ '[applied]': false, id, name: 'first' });
      });

      it('returns null from fetchOne when there is no row, and the first row when there are several', async function () {
        const pk = await fillPartition(3);
        expect(await db.fetchOne(`SELECT name FROM ${wide} WHERE pk = ?`, [freshPartition()])).to.equal(null);
        expect(await db.fetchOne(`SELECT ck, name FROM ${wide} WHERE pk = ?`, [pk])).to.deep.equal({
          ck: 0,
          name: 'n0',
        });
      });

      it('returns every row in clustering order from fetchAll, and an empty array when there are none', async function () {
        const pk = await fillPartition(5);
        const rows = await db.fetchAll<{ ck: number }>(`SELECT ck FROM ${wide} WHERE pk = ? ORDER BY ck DESC`, [pk]);
        expect(rows.map((row) => row.ck)).to.deep.equal([4, 3, 2, 1, 0]);
        expect(await db.fetchAll(`SELECT ck FROM ${wide} WHERE pk = ?`, [freshPartition()])).to.deep.equal([]);
      });

      it('keeps every row of 200 concurrent inserts', async function () {
        const pk = freshPartition();
        await Promise.all(
          range(200).map((ck) => db.execute(`INSERT INTO ${wide} (pk, ck, name) VALUES (?, ?, ?)`, [pk, ck, 'c'])),
        );
        expect(await countIn(wide, pk)).to.equal(200);
      });

      it('rejects invalid CQL and an unknown table with PH_ERR_DB_QUERY naming the statement', async function () {
        const syntax = await expectCode(db.execute('SELEC nothing FROM nowhere'), 'PH_ERR_DB_QUERY');
        expect(syntax.message).to.contain('SELEC nothing');
        const unknown = await expectCode(
          db.fetchAll(`SELECT * FROM ${prefix}_missing WHERE id = ?`, [1]),
          'PH_ERR_DB_QUERY',
        );
        expect(unknown.message).to.contain(`${prefix}_missing`);
      });
    });

    describe('parameters', function () {
      it('binds JavaScript numbers to int, bigint, varint, double, float, decimal, smallint and tinyint columns', async function () {
        const id = freshIds();
        await db.execute(
          `INSERT INTO ${typed} (id, big, vint, dbl, fl, dec, small, tiny) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          [id, 42, 43, 1.5, 0.25, 2.5, 7, -3],
        );
        expect(
          await db.fetchOne(`SELECT big, vint, dbl, fl, dec, small, tiny FROM ${typed} WHERE id = ?`, [id]),
        ).to.deep.equal({ big: 42n, vint: 43n, dbl: 1.5, fl: 0.25, dec: '2.5', small: 7, tiny: -3 });
      });

      it('binds a bigint beyond 2^53 to bigint and varint columns exactly, and a decimal string exactly', async function () {
        const id = freshIds();
        const big = 2n ** 62n + 7n;
        const vint = -(10n ** 30n) - 1n;
        const dec = '12345678901234567890.123456789';
        await db.execute(`INSERT INTO ${typed} (id, big, vint, dec) VALUES (?, ?, ?, ?)`, [id, big, vint, dec]);
        expect(await db.fetchOne(`SELECT big, vint, dec FROM ${typed} WHERE id = ?`, [id])).to.deep.equal({
          big,
          vint,
          dec,
        });
      });

      it('binds a Date to timestamp (same instant), a YYYY-MM-DD date, uuid and timeuuid strings, and an inet', async function () {
        const id = freshIds();
        const instant = new Date('2026-03-04T05:06:07.089Z');
        const uuid = randomUUID();
        const timeuuid = '4d5c6c60-af6b-11ee-9f7a-0242ac120002';
        await db.execute(`INSERT INTO ${typed} (id, ts, day, u, tu, addr) VALUES (?, ?, ?, ?, ?, ?)`, [
          id,
          instant,
          '2026-03-04',
          uuid,
          timeuuid,
          '10.1.2.3',
        ]);
        const row = await db.fetchOne<Row>(`SELECT ts, day, u, tu, addr FROM ${typed} WHERE id = ?`, [id]);
        expect(row?.['ts']).to.be.instanceOf(Date);
        expect((row?.['ts'] as Date).toISOString()).to.equal(instant.toISOString());
        expect(row).to.deep.include({ day: '2026-03-04', u: uuid, tu: timeuuid, addr: '10.1.2.3' });
      });

      it('binds booleans, bytes, null, and set, list and map values, and returns them (and a tuple) as arrays and objects', async function () {
        const id = freshIds();
        await db.execute(
          `INSERT INTO ${typed} (id, flag, bytes, body, tags, items, attrs) VALUES (?, ?, ?, ?, ?, ?, ?)`,
          [id, true, new Uint8Array([0, 1, 255]), null, ['b', 'a'], [3, 1, 3], { x: 1, y: 2 }],
        );
        // A tuple literal: a tuple parameter would need the driver's own Tuple class.
        await db.execute(`UPDATE ${typed} SET pair = (5, 'five') WHERE id = ${id}`);
        const row = await db.fetchOne<Row>(
          `SELECT flag, bytes, body, tags, items, attrs, pair FROM ${typed} WHERE id = ?`,
          [id],
        );
        expect(row?.['bytes']).to.be.instanceOf(Uint8Array);
        expect(Array.from(row?.['bytes'] as Uint8Array)).to.deep.equal([0, 1, 255]);
        expect({ ...row, bytes: undefined }).to.deep.equal({
          flag: true,
          bytes: undefined,
          body: null,
          tags: ['a', 'b'],
          items: [3, 1, 3],
          attrs: { x: 1, y: 2 },
          pair: [5, 'five'],
        });
      });

      it('stores text with quotes, backslashes, control characters and unicode, and an injection attempt, literally', async function () {
        const id = freshIds();
        const tricky = `it's "quoted" \\ back\\slash \n\t\u0001 zażółć 𝄞 ✓`;
        const injection = `x'); DROP TABLE ${kv}; --`;
        await db.execute(`INSERT INTO ${kv} (id, name, extra) VALUES (?, ?, ?)`, [id, tricky, injection]);
        expect(await db.fetchOne(`SELECT name, extra FROM ${kv} WHERE id = ?`, [id])).to.deep.equal({
          name: tricky,
          extra: injection,
        });
      });

      it('refuses an undefined parameter and one that does not fit its column with PH_ERR_DB_QUERY, without quoting the value', async function () {
        const id = freshIds();
        const undefinedParam = await expectCode(
          db.execute(`INSERT INTO ${kv} (id, name) VALUES (?, ?)`, [id, undefined as unknown as null]),
          'PH_ERR_DB_QUERY',
        );
        expect(undefinedParam.message).to.match(/parameter 2/i);
        const secretish = 'not-a-uuid-s3cr3t';
        const misfit = await expectCode(
          db.execute(`INSERT INTO ${typed} (id, u) VALUES (?, ?)`, [id, secretish]),
          'PH_ERR_DB_QUERY',
        );
        expect(misfit.message).to.not.contain(secretish);
      });
    });

    describe('transactions', function () {
      it('refuses transaction() with PH_ERR_DB_UNSUPPORTED and a hint naming batch(), without running the work', async function () {
        let ran = false;
        const error = await expectCode(
          db.transaction(async () => {
            ran = true;
          }),
          'PH_ERR_DB_UNSUPPORTED',
        );
        expect(ran).to.equal(false);
        expect(error.hint).to.contain('batch(');
      });
    });

    describe('batch', function () {
      it('applies a logged batch of statements across partitions, with their parameters', async function () {
        const id = freshIds();
        await db.batch([
          { sql: `INSERT INTO ${kv} (id, name) VALUES (?, ?)`, params: [id, 'a'] },
          { sql: `INSERT INTO ${kv} (id, name) VALUES (?, ?)`, params: [id + 1, 'b'] },
          { sql: `UPDATE ${kv} SET extra = ? WHERE id = ?`, params: ['e', id] },
        ]);
        const rows = await db.fetchAll(`SELECT id, name, extra FROM ${kv} WHERE id IN (?, ?)`, [id, id + 1]);
        expect(rows).to.deep.equal([
          { id, name: 'a', extra: 'e' },
          { id: id + 1, name: 'b', extra: null },
        ]);
      });

      it('applies an unlogged batch within one partition', async function () {
        const pk = freshPartition();
        await db.batch(
          range(20).map((ck) => ({
            sql: `INSERT INTO ${wide} (pk, ck, name) VALUES (?, ?, ?)`,
            params: [pk, ck, 'u'],
          })),
          { logged: false },
        );
        expect(await countIn(wide, pk)).to.equal(20);
      });

      it('rejects a conditional batch whose condition does not hold, and applies none of it', async function () {
        const pk = freshPartition();
        await db.execute(`INSERT INTO ${wide} (pk, ck, name) VALUES (?, ?, ?)`, [pk, 0, 'current']);
        await expectCode(
          db.batch([
            { sql: `UPDATE ${wide} SET name = ? WHERE pk = ? AND ck = ? IF name = ?`, params: ['new', pk, 0, 'stale'] },
            { sql: `INSERT INTO ${wide} (pk, ck, name) VALUES (?, ?, ?)`, params: [pk, 1, 'added'] },
          ]),
          'PH_ERR_DB_QUERY',
        );
        expect(await db.fetchAll(`SELECT ck, name FROM ${wide} WHERE pk = ?`, [pk])).to.deep.equal([
          { ck: 0, name: 'current' },
        ]);
        await db.batch([
          { sql: `UPDATE ${wide} SET name = ? WHERE pk = ? AND ck = ? IF name = ?`, params: ['new', pk, 0, 'current'] },
          { sql: `INSERT INTO ${wide} (pk, ck, name) VALUES (?, ?, ?)`, params: [pk, 1, 'added'] },
        ]);
        expect(await countIn(wide, pk)).to.equal(2);
      });

      it('rejects a batch holding an invalid statement with PH_ERR_DB_QUERY, applying none of it', async function () {
        const id = freshIds();
        await expectCode(
          db.batch([
            { sql: `INSERT INTO ${kv} (id, name) VALUES (?, ?)`, params: [id, 'a'] },
            { sql: `INSERT INTO ${prefix}_missing (id) VALUES (?)`, params: [id] },
          ]),
          'PH_ERR_DB_QUERY',
        );
        expect(await db.fetchOne(`SELECT id FROM ${kv} WHERE id = ?`, [id])).to.equal(null);
      });

      it('does nothing for an empty list', async function () {
        await db.batch([]);
        await db.batch([], { logged: false });
      });
    });

    describe('stream', function () {
      it('reads 2,500 rows as batches of at most 250 in clustering order, none lost or repeated', async function () {
        const pk = await fillPartition(2500);
        const batches = await batchesOf(
          db.stream<{ ck: number }>(`SELECT ck FROM ${wide} WHERE pk = ?`, [pk], { batchSize: 250 }),
        );
        expect(batches.every((batch) => batch.length > 0 && batch.length <= 250)).to.equal(true);
        expect(batches.flat().map((row) => row.ck)).to.deep.equal(range(2500));
        expect(batches.length).to.be.at.least(10);
      });

      it('uses batches of 1000 rows when no batch size is given, and yields no batch for an empty result', async function () {
        const pk = await fillPartition(2100);
        const sizes = (await batchesOf(db.stream(`SELECT ck FROM ${wide} WHERE pk = ?`, [pk]))).map((b) => b.length);
        expect(sizes).to.deep.equal([1000, 1000, 100]);
        expect(await batchesOf(db.stream(`SELECT ck FROM ${wide} WHERE pk = ?`, [freshPartition()]))).to.deep.equal([]);
      });

      it('binds its parameters, and lets the loop body use the database between batches', async function () {
        const pk = await fillPartition(30);
        const copy = freshPartition();
        for await (const batch of db.stream<{ ck: number; name: string }>(
          `SELECT ck, name FROM ${wide} WHERE pk = ? AND ck >= ?`,
          [pk, 10],
          { batchSize: 7 },
        )) {
          for (const row of batch)
            await db.execute(`INSERT INTO ${wide} (pk, ck, name) VALUES (?, ?, ?)`, [copy, row.ck, row.name]);
        }
        expect(await countIn(wide, copy)).to.equal(20);
      });

      it('can be left early 20 times, and the database still answers', async function () {
        const pk = await fillPartition(50);
        for (let round = 0; round < 20; round += 1) {
          const first = await firstBatchOf(db.stream(`SELECT ck FROM ${wide} WHERE pk = ?`, [pk], { batchSize: 10 }));
          expect(first).to.have.lengthOf(10);
        }
        expect(await countIn(wide, pk)).to.equal(50);
      });

      it('rejects a statement the server refuses, and a batch size that is not a positive integer, with PH_ERR_DB_QUERY', async function () {
        await expectCode(batchesOf(db.stream(`SELECT nothing FROM ${prefix}_missing`)), 'PH_ERR_DB_QUERY');
        await expectCode(batchesOf(db.stream(`SELECT ck FROM ${wide}`, [], { batchSize: 0 })), 'PH_ERR_DB_QUERY');
        expect(await db.fetchOne(`SELECT id FROM ${kv} WHERE id = ?`, [-1])).to.equal(null);
      });
    });

    describe('bulkInsert', function () {
      it('inserts 1,000 rows, returns 1000, and a count query agrees', async function () {
        const pk = freshPartition();
        const rows = range(1000).map((ck) => ({ pk, ck, name: `r${ck}`, note: 'x' }));
        expect(await db.bulkInsert(bulk, rows)).to.equal(1000);
        expect(await countIn(bulk, pk)).to.equal(1000);
      });

      it('returns 0 for an empty list of rows', async function () {
        expect(await db.bulkInsert(bulk, [])).to.equal(0);
      });

      it('with onConflict ignore keeps existing rows and returns only the rows it inserted', async function () {
        const pk = freshPartition();
        const existing = range(30).map((ck) => ({ pk, ck, name: 'old' }));
        expect(await db.bulkInsert(bulk, existing)).to.equal(30);
        const all = range(100).map((ck) => ({ pk, ck, name: 'new' }));
        expect(await db.bulkInsert(bulk, all, { onConflict: 'ignore' })).to.equal(70);
        const names = (await db.fetchAll<{ name: string }>(`SELECT name FROM ${bulk} WHERE pk = ?`, [pk])).map(
          (row) => row.name,
        );
        expect(names.filter((name) => name === 'old')).to.have.lengthOf(30);
        expect(names.filter((name) => name === 'new')).to.have.lengthOf(70);
      });

      it('by default overwrites an existing row (a CQL INSERT is an upsert)', async function () {
        const pk = freshPartition();
        await db.bulkInsert(bulk, [{ pk, ck: 1, name: 'old', note: 'kept?' }]);
        expect(await db.bulkInsert(bulk, [{ pk, ck: 1, name: 'new', note: 'replaced' }])).to.equal(1);
        expect(await db.fetchAll(`SELECT name, note FROM ${bulk} WHERE pk = ?`, [pk])).to.deep.equal([
          { name: 'new', note: 'replaced' },
        ]);
      });

      it('writes only the listed columns, leaves a key a row lacks unset, and accepts a keyspace-qualified name', async function () {
        const pk = freshPartition();
        const keyspace = db.keyspace?.name ?? '';
        const rows = [
          { pk, ck: 1, name: 'a', note: 'not listed' },
          { pk, ck: 2, note: 'not listed' },
        ];
        expect(await db.bulkInsert(`${keyspace}.${bulk}`, rows, { columns: ['pk', 'ck', 'name'] })).to.equal(2);
        expect(await db.fetchAll(`SELECT ck, name, note FROM ${bulk} WHERE pk = ?`, [pk])).to.deep.equal([
          { ck: 1, name: 'a', note: null },
          { ck: 2, name: null, note: null },
        ]);
      });

      it('refuses a table or column name that is not a plain identifier, and rows whose keys differ, with PH_ERR_DB_QUERY', async function () {
        for (const bad of [`${bulk}; DROP TABLE ${kv}`, `a.b.${bulk}`, `"${bulk}"`, '']) {
          await expectCode(db.bulkInsert(bad, [{ pk: 1, ck: 1 }]), 'PH_ERR_DB_QUERY');
        }
        await expectCode(db.bulkInsert(bulk, [{ pk: 1, 'ck) VALUES (1); --': 1 }]), 'PH_ERR_DB_QUERY');
        await expectCode(
          db.bulkInsert(bulk, [
            { pk: 1, ck: 1, name: 'a' },
            { pk: 1, ck: 2 },
          ]),
          'PH_ERR_DB_QUERY',
        );
      });

      it('rejects with PH_ERR_DB_QUERY when a row does not fit the table', async function () {
        const pk = freshPartition();
        await expectCode(db.bulkInsert(bulk, [{ pk, ck: 'not a number' }]), 'PH_ERR_DB_QUERY');
        await expectCode(db.bulkInsert(`${prefix}_missing`, [{ pk, ck: 1 }]), 'PH_ERR_DB_QUERY');
      });
    });
  });
}
