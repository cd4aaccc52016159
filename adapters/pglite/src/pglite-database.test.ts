import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { PGlite } from '@electric-sql/pglite';
import { isPlatformError } from '@platform-host/contracts';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import type { AdapterContext, Logger, Row } from '@platform-host/contracts';
import { adapterContextForTest, describeDatabaseConformance, RecordingLogger } from '@platform-host/test-kit';
import { DatabaseQueryError } from '@platform-host/postgres-family';
import adapter, { PgliteDatabase } from './index.js';

/** PGlite takes seconds to start (initdb in WebAssembly), more on a busy machine. */
const STARTUP_TIMEOUT_MS = 180_000;

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  expect.fail('expected the call to be rejected, but it resolved');
}

async function batchesOf(stream: AsyncIterable<Row[]>): Promise<Row[][]> {
  const batches: Row[][] = [];
  for await (const batch of stream) batches.push(batch);
  return batches;
}

function codeOf(error: unknown): unknown {
  return isPlatformError(error) ? error.code : error;
}

/** A logger that keeps what it was told at info level, to check what the adapter reports. */
/** What the host hands the adapter's factory: the context and the declared logger. */
function adapterDeps(
  flag: string,
  values: Record<string, string>,
  logger: Logger = new RecordingLogger(),
): AdapterContext & { readonly logger: Logger } {
  return adapterContextForTest(flag, values, logger);
}

/** The database the adapter entry creates for `flag`, which must be a PgliteDatabase. */
async function createdBy(flag: string, values: Record<string, string>, logger?: Logger): Promise<PgliteDatabase> {
  const db = await adapter.create(adapterDeps(flag, values, logger));
  expect(db).to.be.instanceOf(PgliteDatabase);
  return db as PgliteDatabase;
}

// DESIGN.md decision 5: one PGlite instance for the whole file, shared by every adapter under test
// (`instance` option) and reset between the adapter's own tests.
describe('PGlite adapter', function () {
  let shared: PGlite;

  before(async function () {
    this.timeout(STARTUP_TIMEOUT_MS);
    shared = await PGlite.create();
  });

  after(async function () {
    await shared?.close();
  });

  describeDatabaseConformance('memory (PGlite)', {
    create: async () => {
      const db = new PgliteDatabase({ instance: shared });
      await db.connect();
      return db;
    },
    destroy: (db) => db.disconnect(),
  });

  describe('PgliteDatabase', function () {
    let db: PgliteDatabase;

    beforeEach(async function () {
      await shared.exec('DROP SCHEMA public CASCADE; CREATE SCHEMA public;');
      db = new PgliteDatabase({ instance: shared });
      await db.connect();
    });

    afterEach(async function () {
      await db.disconnect();
    });

    describe('connection', function () {
      it('refuses queries with PH_ERR_NOT_CONNECTED before connect(), and disconnects harmlessly', async function () {
        const idle = new PgliteDatabase();
        expect(idle.isConnected()).to.equal(false);
        expect(codeOf(await rejectionOf(idle.execute('SELECT 1')))).to.equal('PH_ERR_NOT_CONNECTED');
        expect(codeOf(await rejectionOf(idle.bulkInsert('t', [{ a: 1 }])))).to.equal('PH_ERR_NOT_CONNECTED');
        expect(codeOf(await rejectionOf(batchesOf(idle.stream('SELECT 1'))))).to.equal('PH_ERR_NOT_CONNECTED');
        expect(await idle.healthCheck()).to.include({ ok: false });
        await idle.disconnect();
        expect(idle.isConnected()).to.equal(false);
      });

      it('leaves a borrowed instance open on disconnect', async function () {
        const borrower = new PgliteDatabase({ instance: shared });
        await borrower.connect();
        await borrower.disconnect();
        expect(shared.closed).to.equal(false);
        expect((await shared.query('SELECT 1 AS one')).rows).to.deep.equal([{ one: 1 }]);
      });

      it('waits for a running transaction before disconnecting, and refuses new calls meanwhile', async function () {
        await db.execute('CREATE TABLE t (id integer)');
        let release: () => void = () => undefined;
        const released = new Promise<void>((resolve) => (release = resolve));
        let signalStarted: () => void = () => undefined;
        const started = new Promise<void>((resolve) => (signalStarted = resolve));
        const transaction = db.transaction(async () => {
          await db.execute('INSERT INTO t VALUES (1)');
          signalStarted();
          await released;
          await db.execute('INSERT INTO t VALUES (2)');
        });
        await started;
        let disconnected = false;
        const disconnecting = db.disconnect().then(() => (disconnected = true));
        expect(db.isConnected()).to.equal(false);
        expect(codeOf(await rejectionOf(db.execute('SELECT 1')))).to.equal('PH_ERR_NOT_CONNECTED');
        expect(disconnected).to.equal(false);
        release();
        await transaction;
        await disconnecting;
        expect((await shared.query('SELECT count(*)::int AS n FROM t')).rows).to.deep.equal([{ n: 2 }]);
      });

      it('keeps a file-backed database in DB_PGLITE_DIR across restarts, creating the directory', async function () {
        this.timeout(2 * STARTUP_TIMEOUT_MS);
        const parent = await mkdtemp(join(tmpdir(), 'pglite-adapter-'));
        const dataDir = join(parent, 'nested', 'pglite');
        try {
          const logger = new RecordingLogger();
          const first = await createdBy('pglite', { DB_PGLITE_DIR: dataDir }, logger);
          expect(first.location).to.equal(dataDir);
          await first.connect();
          // The logger declared as the adapter's dependency is the one it reports to.
          expect(logger.infos.map((line) => [line.message, line.fields.location])).to.deep.equal([
            ['PGlite started', dataDir],
          ]);
          await first.execute('CREATE TABLE kept (id integer, note text)');
          await first.execute('INSERT INTO kept VALUES ($1, $2)', [1, 'survives a restart']);
          await first.disconnect();
          expect(await readFile(join(dataDir, 'PG_VERSION'), 'utf8')).to.match(/^\d+/);

          const second = new PgliteDatabase({ dataDir });
          await second.connect();
          try {
            expect(await second.fetchAll('SELECT id, note FROM kept')).to.deep.equal([
              { id: 1, note: 'survives a restart' },
            ]);
          } finally {
            await second.disconnect();
          }
        } finally {
          await rm(parent, { recursive: true, force: true });
        }
      });
    });

    describe('adapter entry and manifest', function () {
      it('has a valid manifest serving memory and pglite, with DB_PGLITE_DIR for pglite only', async function () {
        const raw: unknown = JSON.parse(await readFile(new URL('../platform-adapter.json', import.meta.url), 'utf8'));
        const manifest = adapterManifestSchema.parse(raw);
        expect(manifest.interface).to.equal('database');
        expect(manifest.flags).to.deep.equal(['memory', 'pglite']);
        expect(manifest.config).to.have.length(1);
        expect(manifest.config[0]).to.include({ env: 'DB_PGLITE_DIR', default: './.data/pglite' });
        expect(manifest.config[0]?.flags).to.deep.equal(['pglite']);
      });

      it('creates an in-memory database for memory and a file-backed one for pglite, without connecting', async function () {
        const memory = await createdBy('memory', {});
        expect(memory.location).to.equal('memory');
        expect(memory.isConnected()).to.equal(false);
        const fileBacked = await createdBy('pglite', {});
        expect(fileBacked.location).to.equal(join(process.cwd(), '.data', 'pglite'));
        expect(fileBacked.isConnected()).to.equal(false);
      });

      it('refuses a flag it does not serve', async function () {
        const error = await rejectionOf(Promise.resolve().then(() => adapter.create(adapterDeps('postgres', {}))));
        expect(codeOf(error)).to.equal('PH_ERR_FLAG_UNKNOWN_ADAPTER');
      });
    });

    describe('statements and parameters', function () {
      it('runs several statements in one execute() without parameters, returning the last count', async function () {
        const affected = await db.execute(`
          CREATE TABLE multi (id integer PRIMARY KEY);
          INSERT INTO multi VALUES (1), (2), (3);
          UPDATE multi SET id = id + 10 WHERE id > 1;
        `);
        expect(affected).to.equal(2);
        expect(await db.fetchAll('SELECT id FROM multi ORDER BY id')).to.deep.equal([
          { id: 1 },
          { id: 12 },
          { id: 13 },
        ]);
      });

      it('binds an array to an array column, an object to text as JSON, and a string to jsonb as JSON text', async function () {
        await db.execute('CREATE TABLE conv (id integer, tags text[], nums integer[], label text, doc jsonb)');
        await db.execute('INSERT INTO conv VALUES ($1, $2, $3, $4, $5)', [
          1,
          ['a', 'b "c"', null],
          [1, 2, 3],
          { as: 'json' },
          '{"from":"text"}',
        ]);
        expect(await db.fetchOne('SELECT tags, nums, label, doc FROM conv')).to.deep.equal({
          tags: ['a', 'b "c"', null],
          nums: [1, 2, 3],
          label: '{"as":"json"}',
          doc: { from: 'text' },
        });
      });

      it('writes bigints inside a jsonb parameter as exact JSON numbers', async function () {
        const row = await db.fetchOne('SELECT ($1::jsonb ->> $2) AS big', [{ big: 9_007_199_254_740_993n }, 'big']);
        expect(row).to.deep.equal({ big: '9007199254740993' });
      });

      it('refuses an undefined parameter with PH_ERR_DB_QUERY', async function () {
        const params = [undefined] as unknown as [];
        const error = await rejectionOf(db.fetchOne('SELECT $1::text AS v', params));
        expect(codeOf(error)).to.equal('PH_ERR_DB_QUERY');
        expect((error as Error).message).to.include('$1');
      });

      it('names the statement and keeps SQLSTATE and constraint, but not the values, in a query error', async function () {
        await db.execute('CREATE TABLE uniq (id integer CONSTRAINT uniq_pk PRIMARY KEY, secret text)');
        await db.execute('INSERT INTO uniq VALUES ($1, $2)', [1, 'first']);
        const error = await rejectionOf(db.execute('INSERT INTO uniq VALUES ($1, $2)', [1, 'hunter2-secret']));
        expect(error).to.be.instanceOf(DatabaseQueryError);
        const queryError = error as DatabaseQueryError;
        expect(queryError.code).to.equal('PH_ERR_DB_QUERY');
        expect(queryError.sqlState).to.equal('23505');
        expect(queryError.constraint).to.equal('uniq_pk');
        expect(queryError.message).to.include('INSERT INTO uniq VALUES').and.include('23505');
        expect(queryError.message).not.to.include('hunter2-secret');
        expect(queryError.message).not.to.include('Key (id)');
        expect((queryError.cause as { code?: unknown }).code).to.equal('23505');
      });
    });

    describe('transactions', function () {
      it('fails COMMIT with SQLSTATE 25P02 when the work swallowed a failed statement, keeping no rows', async function () {
        await db.execute('CREATE TABLE t (id integer PRIMARY KEY)');
        const error = await rejectionOf(
          db.transaction(async () => {
            await db.execute('INSERT INTO t VALUES (1)');
            await db.execute('INSERT INTO t VALUES (1)').catch(() => undefined);
          }),
        );
        expect(error).to.be.instanceOf(DatabaseQueryError);
        expect((error as DatabaseQueryError).sqlState).to.equal('25P02');
        expect(await db.fetchAll('SELECT id FROM t')).to.deep.equal([]);
      });

      it('refuses a call that the work did not await once the transaction has ended', async function () {
        await db.execute('CREATE TABLE t (id integer)');
        let late: Promise<unknown> = Promise.resolve();
        await db.transaction(async () => {
          late = (async () => {
            await new Promise((resolve) => setTimeout(resolve, 20));
            return db.execute('INSERT INTO t VALUES (1)');
          })();
        });
        const error = await rejectionOf(late);
        expect(codeOf(error)).to.equal('PH_ERR_DB_QUERY');
        expect((error as Error).message).to.include('after its transaction had ended');
        expect(await db.fetchAll('SELECT id FROM t')).to.deep.equal([]);
      });

      it('runs nested transactions started in parallel one after another, undoing only the failed one', async function () {
        await db.execute('CREATE TABLE t (id integer)');
        const results = await db.transaction(() =>
          Promise.allSettled(
            [1, 2, 3].map((id) =>
              db.transaction(async () => {
                await db.execute('INSERT INTO t VALUES ($1)', [id]);
                await new Promise((resolve) => setTimeout(resolve, 5));
                if (id === 2) throw new Error('second fails');
              }),
            ),
          ),
        );
        expect(results.map((result) => result.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled']);
        expect(await db.fetchAll('SELECT id FROM t ORDER BY id')).to.deep.equal([{ id: 1 }, { id: 3 }]);
      });

      it('reports healthy while a transaction is open, without waiting for it', async function () {
        let release: () => void = () => undefined;
        const released = new Promise<void>((resolve) => (release = resolve));
        let signalStarted: () => void = () => undefined;
        const started = new Promise<void>((resolve) => (signalStarted = resolve));
        const transaction = db.transaction(async () => {
          await db.execute('SELECT 1');
          signalStarted();
          await released;
        });
        await started;
        const health = await db.healthCheck();
        release();
        await transaction;
        expect(health.ok, health.detail).to.equal(true);
      });
    });

    describe('stream', function () {
      /** The stream cursors open on the (one) session; inside a transaction, asked in it. */
      function openStreamCursors(): Promise<Row[]> {
        return db.fetchAll("SELECT is_holdable AS holdable FROM pg_cursors WHERE name LIKE 'ph\\_stream\\_%'");
      }

      it('outside a transaction holds a WITH HOLD cursor while the loop runs and closes it however the loop ends', async function () {
        await db.execute('CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 500) g');
        for await (const batch of db.stream('SELECT id FROM t ORDER BY id', [], { batchSize: 100 })) {
          expect(batch).to.have.length(100);
          expect(await openStreamCursors()).to.deep.equal([{ holdable: true }]);
          break;
        }
        expect(await openStreamCursors()).to.deep.equal([]);
        expect((await batchesOf(db.stream('SELECT id FROM t', [], { batchSize: 100 }))).flat()).to.have.length(500);
        expect(await openStreamCursors()).to.deep.equal([]);
        const thrown = new Error('the loop body failed');
        const error = await rejectionOf(
          (async () => {
            for await (const batch of db.stream('SELECT id FROM t', [], { batchSize: 100 })) {
              expect(batch).to.have.length(100);
              throw thrown;
            }
          })(),
        );
        expect(error).to.equal(thrown);
        expect(await openStreamCursors()).to.deep.equal([]);
        const failed = await rejectionOf(batchesOf(db.stream('SELECT 1 / (id - 250) FROM t', [], { batchSize: 100 })));
        expect((failed as DatabaseQueryError).sqlState).to.equal('22012');
        expect(await openStreamCursors()).to.deep.equal([]);
      });

      it('outside a transaction lets the loop body run transactions between batches (one session, no wait)', async function () {
        await db.execute('CREATE TABLE source AS SELECT g AS id FROM generate_series(1, 300) g');
        await db.execute('CREATE TABLE copied (id integer PRIMARY KEY)');
        for await (const batch of db.stream<{ id: number }>('SELECT id FROM source ORDER BY id', [], {
          batchSize: 100,
        })) {
          await db.transaction(async () => {
            for (const row of batch) await db.execute('INSERT INTO copied VALUES ($1)', [row.id]);
          });
        }
        expect(await db.fetchOne('SELECT count(*)::int AS n FROM copied')).to.deep.equal({ n: 300 });
      });

      it('inside a transaction reads as it goes: batches arrive before a failure at the last row', async function () {
        let batches = 0;
        const error = await rejectionOf(
          db.transaction(async () => {
            for await (const batch of db.stream('SELECT 1 / (10000 - g) AS x FROM generate_series(1, 10000) g', [], {
              batchSize: 100,
            })) {
              expect(batch).to.have.length(100);
              expect(await openStreamCursors()).to.deep.equal([{ holdable: false }]);
              batches += 1;
            }
          }),
        );
        expect(batches).to.equal(99);
        expect((error as DatabaseQueryError).sqlState).to.equal('22012');
        expect(await openStreamCursors()).to.deep.equal([]);
      });
    });

    describe('bulkInsert', function () {
      it('converts values by column type: arrays, json strings and objects, bytes, bigints, dates', async function () {
        await db.execute(
          'CREATE TABLE typed (id bigint, tags text[], doc jsonb, raw json, data bytea, at timestamp, day date, flag boolean)',
        );
        const rows = [
          {
            id: 9_007_199_254_740_993n,
            tags: ['x', 'tab\there', null, 'quote "q" \\'],
            doc: '{"already":"json"}',
            raw: { n: 1 },
            data: Uint8Array.from([0, 9, 10, 13, 92, 255]),
            at: new Date('2026-01-15T10:11:12.345Z'),
            day: new Date('2026-01-15T00:00:00.000Z'),
            flag: false,
          },
          { id: 2, tags: [], doc: { n: [1, 2] }, raw: null, data: null, at: null, day: null, flag: null },
        ];
        expect(await db.bulkInsert('typed', rows)).to.equal(2);
        const stored = await db.fetchAll('SELECT * FROM typed ORDER BY id DESC');
        expect(stored).to.deep.equal([
          { ...rows[0], at: new Date('2026-01-15T10:11:12.345Z'), doc: { already: 'json' } },
          rows[1],
        ]);
      });

      it('inserts more rows than one COPY chunk in one call', async function () {
        await db.execute('CREATE TABLE many (id integer PRIMARY KEY)');
        const rows = Array.from({ length: 50_001 }, (_, id) => ({ id }));
        expect(await db.bulkInsert('many', rows)).to.equal(50_001);
        expect(await db.fetchOne('SELECT count(*)::int AS n, max(id) AS top FROM many')).to.deep.equal({
          n: 50_001,
          top: 50_000,
        });
      });

      it('inserts through an updatable view', async function () {
        await db.execute('CREATE TABLE base (id integer PRIMARY KEY, name text, hidden text DEFAULT $$d$$)');
        await db.execute('CREATE VIEW visible AS SELECT id, name FROM base');
        expect(
          await db.bulkInsert('visible', [
            { id: 1, name: 'a' },
            { id: 2, name: 'b' },
          ]),
        ).to.equal(2);
        expect(await db.fetchAll('SELECT id, name, hidden FROM base ORDER BY id')).to.deep.equal([
          { id: 1, name: 'a', hidden: 'd' },
          { id: 2, name: 'b', hidden: 'd' },
        ]);
      });

      it('names a missing table or column in its error', async function () {
        await db.execute('CREATE TABLE t (id integer)');
        const missingTable = await rejectionOf(db.bulkInsert('nope', [{ id: 1 }]));
        expect((missingTable as DatabaseQueryError).sqlState).to.equal('42P01');
        expect((missingTable as Error).message).to.include('"nope"');
        const missingColumn = await rejectionOf(db.bulkInsert('t', [{ id: 1, wrong: 2 }]));
        expect(codeOf(missingColumn)).to.equal('PH_ERR_DB_QUERY');
        expect((missingColumn as Error).message).to.include('"wrong"');
      });

      it('names the row and column of a value it cannot write', async function () {
        await db.execute('CREATE TABLE t (id integer, at timestamptz)');
        const error = await rejectionOf(
          db.bulkInsert('t', [
            { id: 1, at: new Date() },
            { id: 2, at: new Date(Number.NaN) },
          ]),
        );
        expect(codeOf(error)).to.equal('PH_ERR_DB_QUERY');
        expect((error as Error).message)
          .to.include('row 1')
          .and.include('"at"');
        expect(await db.fetchAll('SELECT id FROM t')).to.deep.equal([]);
      });
    });
  });
});
