import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { isPlatformError } from '@platform-host/contracts';
import type { AdapterContext, Logger, Row } from '@platform-host/contracts';
import { adapterManifestSchema } from '@platform-host/contracts/manifest-schemas';
import {
  adapterContextForTest,
  describeDatabaseConformance,
  RecordingLogger,
  useRealService,
} from '@platform-host/test-kit';
import { DatabaseQueryError } from '@platform-host/postgres-family';
import adapter, { PostgresDatabase } from './index.js';
import { MAX_PREPARED_TEXTS } from './postgres-database.js';
import type { PostgresDatabaseOptions } from './index.js';

/**
 * A `describe` whose tests need a real PostgreSQL server (the test kit's `useRealService`: the
 * DB_POSTGRES_URL server, else a container, else skip — or fail under PLATFORM_TEST_REQUIRE_INFRA=1).
 */
function describeWithPostgres(title: string, body: (serverUrl: () => string) => void): void {
  describe(title, function () {
    const service = useRealService('postgres');
    body(() => service().DB_POSTGRES_URL ?? '');
  });
}

function uniqueName(base: string): string {
  return `ph_test_${base}_${randomBytes(4).toString('hex')}`;
}

/** The same URL with credentials the server does not check under trust auth, to find leaks. */
function urlWithPassword(url: string, password: string): string {
  const parsed = new URL(url);
  parsed.username = parsed.username || 'postgres';
  parsed.password = password;
  return parsed.toString();
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

/** A logger that keeps what it was told at info level, to check what the adapter reports. */
/** What the host hands the adapter's factory: the context and the declared logger. */
function adapterDeps(
  values: Record<string, string>,
  logger: Logger = new RecordingLogger(),
): AdapterContext & { readonly logger: Logger } {
  return adapterContextForTest('postgres', values, logger);
}

describe('postgres adapter package', function () {
  it('has a valid manifest that declares every config key the adapter reads', async function () {
    const text = await readFile(new URL('../platform-adapter.json', import.meta.url), 'utf8');
    const manifest = adapterManifestSchema.parse(JSON.parse(text));
    expect(manifest.interface).to.equal('database');
    expect(manifest.flags).to.deep.equal(['postgres']);
    expect(manifest.config.map((key) => key.env)).to.deep.equal([
      'DB_POSTGRES_URL',
      'DB_POSTGRES_POOL_MIN',
      'DB_POSTGRES_POOL_MAX',
      'DB_POSTGRES_STATEMENT_TIMEOUT',
      'DB_POSTGRES_CONNECT_TIMEOUT',
      'DB_POSTGRES_APPLICATION_NAME',
      'DB_POSTGRES_PREPARE',
    ]);
    expect(manifest.config.find((key) => key.env === 'DB_POSTGRES_CONNECT_TIMEOUT')?.default).to.equal('10');
    const url = manifest.config.find((key) => key.env === 'DB_POSTGRES_URL');
    expect(url?.required).to.equal(true);
    expect(url?.secret).to.equal(true);
  });

  it('creates a database without connecting', async function () {
    const db = await adapter.create(adapterDeps({ DB_POSTGRES_URL: 'postgres://nobody@127.0.0.1:1/none' }));
    expect(db).to.be.instanceOf(PostgresDatabase);
    expect(db.isConnected()).to.equal(false);
  });

  it('refuses a pool minimum above the maximum, naming both keys', function () {
    const deps = adapterDeps({
      DB_POSTGRES_URL: 'postgres://x@h/d',
      DB_POSTGRES_POOL_MIN: '5',
      DB_POSTGRES_POOL_MAX: '2',
    });
    expect(() => adapter.create(deps)).to.throw(
      /DB_POSTGRES_POOL_MIN \(5\) is greater than DB_POSTGRES_POOL_MAX \(2\)/,
    );
  });

  it('refuses a negative statement timeout', function () {
    const deps = adapterDeps({ DB_POSTGRES_URL: 'postgres://x@h/d', DB_POSTGRES_STATEMENT_TIMEOUT: '-1' });
    expect(() => adapter.create(deps)).to.throw(/DB_POSTGRES_STATEMENT_TIMEOUT must be an integer of at least 0/);
  });

  it('refuses a connect timeout below one second, naming the key', function () {
    const deps = adapterDeps({ DB_POSTGRES_URL: 'postgres://x@h/d', DB_POSTGRES_CONNECT_TIMEOUT: '0' });
    expect(() => adapter.create(deps))
      .to.throw(/DB_POSTGRES_CONNECT_TIMEOUT must be an integer of at least 1, got 0/)
      .with.property('code', 'PH_ERR_CONFIG_INVALID');
  });

  it('refuses a DB_POSTGRES_PREPARE other than true or false, naming the key', function () {
    const deps = adapterDeps({ DB_POSTGRES_URL: 'postgres://x@h/d', DB_POSTGRES_PREPARE: 'yes' });
    expect(() => adapter.create(deps))
      .to.throw(/DB_POSTGRES_PREPARE must be true or false/)
      .with.property('code', 'PH_ERR_CONFIG_INVALID');
  });

  it('throws PH_ERR_NOT_CONNECTED from every query method before connect()', async function () {
    const db = new PostgresDatabase({ url: 'postgres://nobody@127.0.0.1:1/none' });
    const calls: Array<() => Promise<unknown>> = [
      () => db.execute('SELECT 1'),
      () => db.fetchOne('SELECT 1'),
      () => db.fetchAll('SELECT 1'),
      () => db.transaction(async () => 1),
      () => db.bulkInsert('t', [{ a: 1 }]),
      async () => {
        for await (const batch of db.stream('SELECT 1')) return batch;
      },
    ];
    for (const call of calls) {
      const error = await rejection(call());
      expect(isPlatformError(error) && error.code).to.equal('PH_ERR_NOT_CONNECTED');
    }
  });

  it('reports unhealthy without throwing before connect(), and disconnects harmlessly', async function () {
    const db = new PostgresDatabase({ url: 'postgres://nobody@127.0.0.1:1/none' });
    const health = await db.healthCheck();
    expect(health.ok).to.equal(false);
    expect(health.detail).to.match(/not connected/);
    await db.disconnect();
    await db.disconnect();
    expect(db.isConnected()).to.equal(false);
  });

  it('names the server but no part of the password when it cannot connect, even with an unencoded "@" in it', async function () {
    const db = new PostgresDatabase({
      url: 'postgres://user:p@ss-must-not-leak@127.0.0.1:1/appdb',
      connectTimeoutSeconds: 5,
    });
    const error = await rejection(db.connect());
    expect(isPlatformError(error) && error.code).to.equal('PH_ERR_DB_QUERY');
    expect((error as Error).message).to.match(/^Could not connect to PostgreSQL at 127\.0\.0\.1:1\/appdb: /);
    expect((error as Error).message).not.to.match(/ss-must-not-leak|p@ss/);
  });

  it('refuses an unparsable URL with PH_ERR_CONFIG_INVALID that does not quote it', async function () {
    const db = new PostgresDatabase({ url: 'postgres://user:s3cr3t-pw@[bad/db' });
    const error = await rejection(db.connect());
    expect(isPlatformError(error) && error.code).to.equal('PH_ERR_CONFIG_INVALID');
    expect(String((error as Error).message)).not.to.contain('s3cr3t-pw');
    expect((error as Error).cause).to.equal(undefined);
  });
});

describeWithPostgres('postgres adapter against a real server', function (serverUrl) {
  describeDatabaseConformance('postgres', {
    create: async () => {
      const db = new PostgresDatabase({ url: serverUrl(), poolMin: 1, poolMax: 4 });
      await db.connect();
      return db;
    },
    destroy: (db) => db.disconnect(),
  });
});

describeWithPostgres('PostgresDatabase (real server)', function (serverUrl) {
  let db: PostgresDatabase;
  const tables: string[] = [];

  function open(options: Partial<PostgresDatabaseOptions> = {}): PostgresDatabase {
    return new PostgresDatabase({ url: serverUrl(), poolMin: 1, poolMax: 4, ...options });
  }

  async function createTable(base: string, columns: string): Promise<string> {
    const name = uniqueName(base);
    await db.execute(`CREATE TABLE ${name} (${columns})`);
    tables.push(name);
    return name;
  }

  before(async function () {
    db = open();
    await db.connect();
  });

  after(async function () {
    if (db === undefined) return;
    for (const table of tables.reverse())
      await db.execute(`DROP VIEW IF EXISTS ${table}_view; DROP TABLE IF EXISTS ${table} CASCADE`);
    await db.disconnect();
  });

  describe('connection', function () {
    it('connects and disconnects, is idempotent both ways and refuses queries afterwards', async function () {
      const other = open();
      await other.connect();
      await other.connect();
      expect(other.isConnected()).to.equal(true);
      expect(await other.fetchOne('SELECT 1 AS one')).to.deep.equal({ one: 1 });
      await other.disconnect();
      await other.disconnect();
      expect(other.isConnected()).to.equal(false);
      const error = await rejection(other.execute('SELECT 1'));
      expect(isPlatformError(error) && error.code).to.equal('PH_ERR_NOT_CONNECTED');
      expect((await other.healthCheck()).ok).to.equal(false);
    });

    it('reconnects after a disconnect', async function () {
      const other = open();
      await other.connect();
      await other.disconnect();
      await other.connect();
      expect(await other.fetchOne('SELECT 2 AS two')).to.deep.equal({ two: 2 });
      await other.disconnect();
    });

    it('reports healthy when connected', async function () {
      expect(await db.healthCheck()).to.deep.equal({ ok: true });
    });

    it('opens DB_POSTGRES_POOL_MIN connections in connect() and applies the per-connection settings', async function () {
      const applicationName = uniqueName('app');
      const other = open({ poolMin: 3, poolMax: 5, applicationName, statementTimeoutMs: 1234 });
      await other.connect();
      try {
        const row = await db.fetchOne<{ n: number }>(
          'SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1',
          [applicationName],
        );
        expect(row?.n).to.equal(3);
        expect(await other.fetchOne('SHOW statement_timeout')).to.deep.equal({ statement_timeout: '1234ms' });
      } finally {
        await other.disconnect();
      }
    });

    it('prepares a statement with parameters once per connection and plans every run with its values', async function () {
      const text = `SELECT $1::int + 1 AS n -- ${uniqueName('prepared')}`;
      const prepared = (): Promise<{ n: number } | null> =>
        db.fetchOne<{ n: number }>('SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement = $1', [
          text,
        ]);
      await db.transaction(async () => {
        for (let run = 1; run <= 3; run += 1) expect(await db.fetchOne(text, [run])).to.deep.equal({ n: run + 1 });
        // One connection (the transaction's): one prepared statement for the three runs.
        expect(await prepared()).to.deep.equal({ n: 1 });
        expect(await db.fetchOne('SHOW plan_cache_mode')).to.deep.equal({ plan_cache_mode: 'force_custom_plan' });
      });
      const unprepared = open({ prepare: false });
      await unprepared.connect();
      try {
        await unprepared.transaction(async () => {
          for (let run = 1; run <= 3; run += 1) await unprepared.fetchOne(text, [run]);
          expect(
            await unprepared.fetchOne('SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement = $1', [
              text,
            ]),
          ).to.deep.equal({ n: 0 });
          expect(await unprepared.fetchOne('SHOW plan_cache_mode')).to.deep.equal({ plan_cache_mode: 'auto' });
        });
      } finally {
        await unprepared.disconnect();
      }
    });

    it(`prepares at most ${MAX_PREPARED_TEXTS} distinct texts, and never a stream's cursor or a bulk insert's batch`, async function () {
      // One connection (pg_prepared_statements shows the session's own), bulk inserts as INSERT batches.
      const other = open({ poolMin: 1, poolMax: 1, useCopy: false });
      await other.connect();
      const tag = uniqueName('cap');
      const table = uniqueName('prepared_bulk');
      tables.push(table);
      try {
        await other.execute(`CREATE TABLE ${table} (id integer PRIMARY KEY)`);
        await other.transaction(async () => {
          for (let index = 0; index <= MAX_PREPARED_TEXTS; index += 1)
            await other.fetchOne(`SELECT $1::int AS n -- ${tag} ${index}`, [index]);
          for await (const rows of other.stream('SELECT g FROM generate_series(1, $1::int) AS g', [3])) void rows;
          await other.bulkInsert(table, [{ id: 1 }, { id: 2 }]);
        });
        const counts = await other.fetchOne<{ capped: number; last: number; cursors: number; inserts: number }>(
          `SELECT count(*) FILTER (WHERE statement LIKE $1)::int AS capped,
                  count(*) FILTER (WHERE statement = $2)::int AS last,
                  count(*) FILTER (WHERE statement LIKE 'DECLARE%')::int AS cursors,
                  count(*) FILTER (WHERE statement LIKE $3)::int AS inserts
             FROM pg_prepared_statements`,
          [
            `SELECT $1::int AS n -- ${tag} %`,
            `SELECT $1::int AS n -- ${tag} ${MAX_PREPARED_TEXTS}`,
            `INSERT INTO ${table}%`,
          ],
        );
        expect(await other.fetchAll(`SELECT id FROM ${table} ORDER BY id`)).to.deep.equal([{ id: 1 }, { id: 2 }]);
        expect(counts?.capped, 'the first distinct texts are prepared').to.equal(MAX_PREPARED_TEXTS);
        expect(counts?.last, 'the text past the cap runs unprepared').to.equal(0);
        expect(counts?.cursors, "a stream's DECLARE is never prepared").to.equal(0);
        expect(counts?.inserts, "a bulk insert's batch is never prepared").to.equal(0);
      } finally {
        await other.disconnect();
      }
    });

    it('cancels a statement that runs past the statement timeout with SQLSTATE 57014', async function () {
      // The timeout applies to every statement of the connection, also to connect()'s warm-up
      // SELECT 1 and the driver's type lookup: 50 ms, as before, cancelled those on a loaded machine
      // (connect() failed with 57014). 500 ms stays far above them and far below pg_sleep(5).
      const other = open({ statementTimeoutMs: 500 });
      await other.connect();
      try {
        const error = await rejection(other.execute('SELECT pg_sleep(5)'));
        expect(error).to.be.instanceOf(DatabaseQueryError);
        expect((error as DatabaseQueryError).sqlState).to.equal('57014');
      } finally {
        await other.disconnect();
      }
    });

    it('fails connect() with a message naming the server and never the password', async function () {
      const url = new URL(urlWithPassword(serverUrl(), 'pw-must-not-leak'));
      url.port = '1';
      const other = new PostgresDatabase({ url: url.toString(), connectTimeoutSeconds: 5 });
      const error = await rejection(other.connect());
      expect(isPlatformError(error) && error.code).to.equal('PH_ERR_DB_QUERY');
      expect((error as Error).message).to.match(/Could not connect to PostgreSQL at 127\.0\.0\.1:1\//);
      expect((error as Error).message).not.to.contain('pw-must-not-leak');
      expect(other.isConnected()).to.equal(false);
    });

    it('fails connect() for a missing database with its SQLSTATE', async function () {
      const url = new URL(serverUrl());
      url.pathname = `/${uniqueName('missing')}`;
      const error = await rejection(new PostgresDatabase({ url: url.toString() }).connect());
      expect((error as DatabaseQueryError).sqlState).to.equal('3D000');
    });
  });

  describe('queries', function () {
    it('creates a table with execute() and returns 0 for DDL', async function () {
      const name = uniqueName('ddl');
      expect(await db.execute(`CREATE TABLE ${name} (id int)`)).to.equal(0);
      tables.push(name);
      expect(await db.fetchOne('SELECT to_regclass($1)::text AS name', [name])).to.deep.equal({ name });
    });

    it('returns the number of rows an UPDATE or DELETE affected', async function () {
      const table = await createTable('affected', 'id int');
      expect(await db.execute(`INSERT INTO ${table} SELECT generate_series(1, 5)`)).to.equal(5);
      expect(await db.execute(`UPDATE ${table} SET id = id + 10 WHERE id > $1`, [2])).to.equal(3);
      expect(await db.execute(`DELETE FROM ${table} WHERE id < $1`, [100])).to.equal(5);
    });

    it('fetches an inserted row back as a plain object', async function () {
      const table = await createTable('fetch_one', 'id int primary key, name text, payload jsonb');
      await db.execute(`INSERT INTO ${table} (id, name, payload) VALUES ($1, $2, $3)`, [
        1,
        'alpha',
        { nested: { list: [1, 'two', null] } },
      ]);
      const row = await db.fetchOne(`SELECT id, name, payload FROM ${table} WHERE id = $1`, [1]);
      expect(row).to.deep.equal({ id: 1, name: 'alpha', payload: { nested: { list: [1, 'two', null] } } });
      expect(Object.getPrototypeOf(row)).to.equal(Object.prototype);
    });

    it('fetches all rows in query order as a plain array', async function () {
      const table = await createTable('fetch_all', 'id int, label text');
      for (const id of [3, 1, 2]) await db.execute(`INSERT INTO ${table} VALUES ($1, $2)`, [id, `row-${id}`]);
      const rows = await db.fetchAll(`SELECT id, label FROM ${table} ORDER BY id`);
      expect(rows).to.deep.equal([
        { id: 1, label: 'row-1' },
        { id: 2, label: 'row-2' },
        { id: 3, label: 'row-3' },
      ]);
      expect(Array.isArray(rows) && Object.getPrototypeOf(rows)).to.equal(Array.prototype);
    });

    it('returns null from fetchOne and [] from fetchAll when no row matches', async function () {
      const table = await createTable('empty', 'id int');
      expect(await db.fetchOne(`SELECT * FROM ${table} WHERE id = $1`, [42])).to.equal(null);
      expect(await db.fetchAll(`SELECT * FROM ${table}`)).to.deep.equal([]);
    });

    it('binds hostile strings as values, never as SQL', async function () {
      const table = await createTable('injection', 'id int, name text');
      const hostile = `x'); DROP TABLE ${table}; --`;
      await db.execute(`INSERT INTO ${table} (id, name) VALUES ($1, $2)`, [1, hostile]);
      expect(await db.fetchOne(`SELECT name FROM ${table} WHERE name = $1`, [hostile])).to.deep.equal({
        name: hostile,
      });
      expect(await db.fetchOne(`SELECT count(*) AS n FROM ${table} WHERE name = $1`, [`' OR '1'='1`])).to.deep.equal({
        n: 0,
      });
    });

    it('binds objects and arrays by the type the server expects: jsonb, arrays, text', async function () {
      const table = await createTable(
        'binding',
        'doc jsonb, list jsonb, raw jsonb, tags text[], flags boolean[], ids int[], note text',
      );
      await db.execute(`INSERT INTO ${table} VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
        { a: 1, b: [true, null] },
        [1, 'two', { three: 3 }],
        '{"already": "json"}',
        ['plain', 'with "quotes"', 'comma,inside', 'back\\slash', ''],
        [true, false, true],
        [3, 1, 2],
        { kept: 'as json text' },
      ]);
      const row = await db.fetchOne(`SELECT * FROM ${table}`);
      expect(row).to.deep.equal({
        doc: { a: 1, b: [true, null] },
        list: [1, 'two', { three: 3 }],
        raw: { already: 'json' },
        tags: ['plain', 'with "quotes"', 'comma,inside', 'back\\slash', ''],
        flags: [true, false, true],
        ids: [3, 1, 2],
        note: '{"kept":"as json text"}',
      });
      expect(await db.fetchOne(`SELECT count(*) AS n FROM ${table} WHERE 2 = ANY($1::int[])`, [[1, 2]])).to.deep.equal({
        n: 1,
      });
    });

    it('returns NULL array elements as null, and the string "NULL" as a string', async function () {
      const row = await db.fetchOne(
        `SELECT ARRAY[1, NULL]::int[] AS ints, ARRAY[true, NULL] AS bools, ARRAY['NULL', NULL]::text[] AS texts, '{{1,NULL},{3,4}}'::int[] AS grid`,
      );
      expect(row).to.deep.equal({
        ints: [1, null],
        bools: [true, null],
        texts: ['NULL', null],
        grid: [
          [1, null],
          [3, 4],
        ],
      });
    });

    it("parses box[], whose elements are separated by ';', into one string per box", async function () {
      const row = await db.fetchOne(`SELECT ARRAY[box '((1,2),(0,0))', box '((3,4),(1,1))'] AS boxes`);
      expect(row).to.deep.equal({ boxes: ['(1,2),(0,0)', '(3,4),(1,1)'] });
    });

    it('returns int8 as a number when exact and a bigint beyond 2^53, numeric as a string', async function () {
      const row = await db.fetchOne(
        'SELECT count(*) AS n, 9007199254740993::int8 AS big, $1::int8 AS bound, 1.10::numeric AS num',
        [1234567890123456789n],
      );
      expect(row).to.deep.equal({ n: 1, big: 9007199254740993n, bound: 1234567890123456789n, num: '1.10' });
    });

    it('round-trips dates, bytes, booleans and unicode', async function () {
      const when = new Date('2026-01-15T10:20:30.456Z');
      const bytes = new Uint8Array([0, 1, 127, 128, 255]);
      const text = 'héllo wörld — 日本語 🎉 \t tab \n newline \\ backslash';
      const row = await db.fetchOne(
        'SELECT $1::timestamptz AS at, $2::bytea AS bytes, $3::boolean AS yes, $4::text AS text',
        [when, bytes, true, text],
      );
      expect((row?.at as Date).toISOString()).to.equal(when.toISOString());
      expect(new Uint8Array(row?.bytes as Uint8Array)).to.deep.equal(bytes);
      expect(row?.yes).to.equal(true);
      expect(row?.text).to.equal(text);
    });

    it('runs several statements in one execute() when there are no parameters', async function () {
      const table = uniqueName('multi');
      tables.push(table);
      const affected = await db.execute(
        `CREATE TABLE ${table} (id int); INSERT INTO ${table} VALUES (1), (2); UPDATE ${table} SET id = id * 10`,
      );
      expect(affected).to.equal(2);
      expect(await db.fetchAll(`SELECT id FROM ${table} ORDER BY id`)).to.deep.equal([{ id: 10 }, { id: 20 }]);
    });

    it('refuses an undefined parameter with a message that says to pass null', async function () {
      const error = await rejection(db.fetchOne('SELECT $1::text AS v', [undefined as unknown as null]));
      expect(isPlatformError(error) && error.code).to.equal('PH_ERR_DB_QUERY');
      expect((error as Error).message).to.match(/Parameter \$1 .* is undefined; pass null/);
    });
  });

  describe('errors', function () {
    it('wraps a unique violation as PH_ERR_DB_QUERY with sqlState 23505, the constraint and the statement start', async function () {
      const table = await createTable('unique', 'id int primary key, secret_value text');
      await db.execute(`INSERT INTO ${table} VALUES ($1, $2)`, [1, 'first']);
      const error = await rejection(db.execute(`INSERT INTO ${table} VALUES ($1, $2)`, [1, 'parameter-must-not-leak']));
      expect(error).to.be.instanceOf(DatabaseQueryError);
      const queryError = error as DatabaseQueryError;
      expect(queryError.code).to.equal('PH_ERR_DB_QUERY');
      expect(queryError.sqlState).to.equal('23505');
      expect(queryError.constraint).to.equal(`${table}_pkey`);
      expect(queryError.message).to.contain(`"INSERT INTO ${table} VALUES ($1,`);
      expect(queryError.message).to.contain('duplicate key value violates unique constraint');
      expect(queryError.message).not.to.contain('parameter-must-not-leak');
      expect(queryError.cause).to.be.instanceOf(Error);
    });

    it('wraps a syntax error with sqlState 42601 and keeps the pool usable', async function () {
      const error = await rejection(db.fetchAll('SELEC 1'));
      expect((error as DatabaseQueryError).sqlState).to.equal('42601');
      expect(await db.fetchOne('SELECT 1 AS ok')).to.deep.equal({ ok: 1 });
    });

    it('never puts the password of the URL in query errors', async function () {
      const other = new PostgresDatabase({ url: urlWithPassword(serverUrl(), 'url-pw-must-not-leak'), poolMin: 1 });
      await other.connect();
      try {
        const error = await rejection(other.execute('SELECT * FROM ph_no_such_table_at_all'));
        expect((error as DatabaseQueryError).sqlState).to.equal('42P01');
        expect(JSON.stringify({ message: (error as Error).message, stack: (error as Error).stack })).not.to.contain(
          'url-pw-must-not-leak',
        );
      } finally {
        await other.disconnect();
      }
    });
  });

  describe('transactions', function () {
    it('commits: rows written inside are visible afterwards, and the value of work is returned', async function () {
      const table = await createTable('commit', 'id int');
      const result = await db.transaction(async () => {
        await db.execute(`INSERT INTO ${table} VALUES ($1)`, [1]);
        await db.execute(`INSERT INTO ${table} VALUES ($1)`, [2]);
        return [1, 2];
      });
      expect(result).to.deep.equal([1, 2]);
      expect(await db.fetchAll(`SELECT id FROM ${table} ORDER BY id`)).to.deep.equal([{ id: 1 }, { id: 2 }]);
    });

    it('rolls back when work throws and rethrows the same error', async function () {
      const table = await createTable('rollback', 'id int');
      const thrown = new Error('work failed');
      const error = await rejection(
        db.transaction(async () => {
          await db.execute(`INSERT INTO ${table} VALUES ($1)`, [1]);
          throw thrown;
        }),
      );
      expect(error).to.equal(thrown);
      expect(await db.fetchAll(`SELECT id FROM ${table}`)).to.deep.equal([]);
    });

    it('runs every statement of work on one connection and in one transaction, across awaits and timers', async function () {
      const seen = await db.transaction(async () => {
        const rows: Array<Row | null> = [];
        rows.push(await db.fetchOne('SELECT pg_backend_pid() AS pid, txid_current() AS xid'));
        await sleep(5);
        rows.push(await db.fetchOne('SELECT pg_backend_pid() AS pid, txid_current() AS xid'));
        rows.push(
          ...(await Promise.all(
            [1, 2, 3].map(() => db.fetchOne('SELECT pg_backend_pid() AS pid, txid_current() AS xid')),
          )),
        );
        return rows;
      });
      expect(seen).to.have.length(5);
      expect(new Set(seen.map((row) => row?.pid)).size).to.equal(1);
      expect(new Set(seen.map((row) => row?.xid)).size).to.equal(1);
    });

    it('keeps statements started outside work on the pool, where uncommitted rows are invisible', async function () {
      const table = await createTable('isolation', 'id int');
      let openGate: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => {
        openGate = resolve;
      });
      // Started before the transaction, so its statement runs outside it even while work waits for it.
      const outsideRead = (async () => {
        await gate;
        return db.fetchAll(`SELECT id FROM ${table}`);
      })();
      await db.transaction(async () => {
        await db.execute(`INSERT INTO ${table} VALUES (1)`);
        openGate();
        expect(await outsideRead).to.deep.equal([]);
      });
      expect(await db.fetchAll(`SELECT id FROM ${table}`)).to.deep.equal([{ id: 1 }]);
    });

    it('runs a nested transaction as a savepoint: its failure rolls back only its own work', async function () {
      const table = await createTable('savepoint', 'id int');
      await db.transaction(async () => {
        await db.execute(`INSERT INTO ${table} VALUES (1)`);
        const inner = await rejection(
          db.transaction(async () => {
            await db.execute(`INSERT INTO ${table} VALUES (2)`);
            throw new Error('inner failed');
          }),
        );
        expect((inner as Error).message).to.equal('inner failed');
        await db.transaction(async () => {
          await db.execute(`INSERT INTO ${table} VALUES (3)`);
        });
      });
      expect(await db.fetchAll(`SELECT id FROM ${table} ORDER BY id`)).to.deep.equal([{ id: 1 }, { id: 3 }]);
    });

    it('rolls back everything when the outer transaction fails after a nested one committed', async function () {
      const table = await createTable('outer_fail', 'id int');
      await rejection(
        db.transaction(async () => {
          await db.transaction(async () => {
            await db.execute(`INSERT INTO ${table} VALUES (1)`);
          });
          throw new Error('outer failed');
        }),
      );
      expect(await db.fetchAll(`SELECT id FROM ${table}`)).to.deep.equal([]);
    });

    it('fails the transaction when a statement inside failed even though work caught it', async function () {
      const table = await createTable('caught', 'id int primary key');
      const error = await rejection(
        db.transaction(async () => {
          await db.execute(`INSERT INTO ${table} VALUES (1)`);
          await db.execute(`INSERT INTO ${table} VALUES (1)`).catch(() => undefined);
        }),
      );
      expect((error as DatabaseQueryError).sqlState).to.equal('23505');
      expect(await db.fetchAll(`SELECT id FROM ${table}`)).to.deep.equal([]);
    });

    it('runs concurrent transactions on separate connections without mixing them', async function () {
      const table = await createTable('concurrent', 'tx int, id int');
      await Promise.all(
        [1, 2, 3].map((tx) =>
          db
            .transaction(async () => {
              for (let id = 0; id < 5; id += 1) {
                await db.execute(`INSERT INTO ${table} VALUES ($1, $2)`, [tx, id]);
                await sleep(1);
              }
              if (tx === 2) throw new Error('tx 2 fails');
            })
            .catch(() => undefined),
        ),
      );
      const rows = await db.fetchAll<{ tx: number; n: number }>(
        `SELECT tx, count(*) AS n FROM ${table} GROUP BY tx ORDER BY tx`,
      );
      expect(rows).to.deep.equal([
        { tx: 1, n: 5 },
        { tx: 3, n: 5 },
      ]);
    });
  });

  describe('stream', function () {
    /** Reads `stream` until it ends or fails: the batches read before, and the error. */
    async function readUntilFailure(stream: AsyncIterable<Row[]>): Promise<{ batches: number; error: unknown }> {
      let batches = 0;
      try {
        for await (const batch of stream) {
          expect(batch).to.have.length(100);
          batches += 1;
        }
      } catch (error) {
        return { batches, error };
      }
      return { batches, error: undefined };
    }

    const failsAtTheEnd = 'SELECT 1 / (10000 - g) AS x FROM generate_series(1, 10000) g';

    it('reads as it goes, outside a transaction and inside one: batches arrive before a failure at the last row', async function () {
      const outside = await readUntilFailure(db.stream(failsAtTheEnd, [], { batchSize: 100 }));
      expect(outside.batches).to.equal(99);
      expect((outside.error as DatabaseQueryError).sqlState).to.equal('22012');
      const inside = await rejection(
        db.transaction(async () => {
          const result = await readUntilFailure(db.stream(failsAtTheEnd, [], { batchSize: 100 }));
          expect(result.batches).to.equal(99);
          throw result.error;
        }),
      );
      expect((inside as DatabaseQueryError).sqlState).to.equal('22012');
    });

    it('returns its connection to the pool when the loop is left early, even with a pool of one', async function () {
      const single = open({ poolMin: 1, poolMax: 1 });
      await single.connect();
      try {
        for (let attempt = 0; attempt < 5; attempt += 1) {
          for await (const batch of single.stream('SELECT g FROM generate_series(1, 1000) g', [], { batchSize: 10 })) {
            expect(batch).to.have.length(10);
            break;
          }
          // With the connection still held by the stream, this would wait forever.
          expect(await single.fetchOne('SELECT 1 AS one')).to.deep.equal({ one: 1 });
        }
      } finally {
        await single.disconnect();
      }
    });

    it('reads outside a transaction on a connection of its own, so the loop body queries on another', async function () {
      const body = new Set<number>();
      let streamed: number | undefined;
      for await (const batch of db.stream<{ pid: number }>(
        'SELECT pg_backend_pid() AS pid FROM generate_series(1, 300)',
        [],
        { batchSize: 100 },
      )) {
        streamed = batch[0]?.pid;
        const row = await db.fetchOne<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        body.add(row?.pid ?? -1);
      }
      expect(streamed).to.be.a('number');
      expect([...body]).not.to.include(streamed);
    });

    it("reads inside a transaction on the transaction's connection", async function () {
      await db.transaction(async () => {
        const own = await db.fetchOne<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        const pids = new Set<number>();
        for await (const batch of db.stream<{ pid: number }>(
          'SELECT pg_backend_pid() AS pid FROM generate_series(1, 30)',
          [],
          { batchSize: 10 },
        )) {
          for (const row of batch) pids.add(row.pid);
        }
        expect([...pids]).to.deep.equal([own?.pid]);
      });
    });

    it('binds parameters by the type the server infers, as the other methods do', async function () {
      const rows: Row[] = [];
      for await (const batch of db.stream('SELECT $1::jsonb AS doc, $2::int[] AS nums, $3::bigint AS big', [
        { a: [1, 'b'] },
        [1, null, 3],
        9_007_199_254_740_993n,
      ]))
        rows.push(...batch);
      expect(rows).to.deep.equal([{ doc: { a: [1, 'b'] }, nums: [1, null, 3], big: 9_007_199_254_740_993n }]);
    });

    it('refuses a batch size that is not a positive integer with PH_ERR_DB_QUERY', async function () {
      for (const batchSize of [0, -1, 1.5, Number.NaN]) {
        const error = await rejection(
          (async () => {
            for await (const batch of db.stream('SELECT 1', [], { batchSize })) return batch;
          })(),
        );
        expect(isPlatformError(error) && error.code).to.equal('PH_ERR_DB_QUERY');
      }
    });
  });

  describe('bulkInsert', function () {
    const awkwardText = [
      'plain',
      'tab\there',
      'new\nline',
      'carriage\rreturn',
      'back\\slash \\N \\. end',
      '\\',
      'quote " and \' apostrophe',
      'unicode: é ß 日本語 🎉 \u2028',
      '',
      'NULL',
    ];

    function awkwardRows(count: number): Row[] {
      return Array.from({ length: count }, (_, index) => ({
        id: index,
        label: awkwardText[index % awkwardText.length] as string,
        maybe: index % 3 === 0 ? null : `value-${index}`,
        doc:
          index % 4 === 0
            ? [index, 'x\ty', { z: null }]
            : { index, text: awkwardText[index % awkwardText.length], nested: { ok: true } },
        raw_json: '{"from":"string"}',
        tags: ['a', 'b "quoted"', 'c,comma', 'back\\slash', null, awkwardText[index % awkwardText.length] as string],
        flags: [true, null, false],
        bytes: new Uint8Array([index % 256, 0, 255, 92, 9, 10]),
        at: new Date(Date.UTC(2026, 0, 15, 0, 0, index % 60)),
        big: BigInt(Number.MAX_SAFE_INTEGER) * 10n + BigInt(index),
        yes: index % 2 === 0,
        amount: index + 0.25,
      }));
    }

    const awkwardColumns = `id int primary key, label text not null, maybe text, doc jsonb, raw_json jsonb, tags text[],
      flags boolean[], bytes bytea, at timestamptz, big bigint, yes boolean, amount double precision`;

    async function readBack(table: string): Promise<Row[]> {
      const rows = await db.fetchAll(`SELECT * FROM ${table} ORDER BY id`);
      return rows.map((row) => ({ ...row, bytes: new Uint8Array(row.bytes as Uint8Array) }));
    }

    function expected(rows: readonly Row[]): Row[] {
      return rows.map((row) => ({ ...row, raw_json: { from: 'string' } }));
    }

    it('inserts 100 rows and returns the count', async function () {
      const table = await createTable('bulk_100', 'id int, name text');
      const rows = Array.from({ length: 100 }, (_, id) => ({ id, name: `name-${id}` }));
      expect(await db.bulkInsert(table, rows)).to.equal(100);
      expect(await db.fetchOne(`SELECT count(*) AS n, sum(id) AS total FROM ${table}`)).to.deep.equal({
        n: 100,
        total: 4950,
      });
    });

    it('returns 0 for no rows', async function () {
      const table = await createTable('bulk_none', 'id int');
      expect(await db.bulkInsert(table, [])).to.equal(0);
    });

    it('writes every value type through COPY exactly: jsonb, arrays, NULL, backslashes, tabs, newlines, unicode, bytes, dates, bigints', async function () {
      const table = await createTable('bulk_copy_types', awkwardColumns);
      const rows = awkwardRows(40);
      expect(await db.bulkInsert(table, rows)).to.equal(40);
      expect(await readBack(table)).to.deep.equal(expected(rows));
    });

    it('writes the same values through the INSERT fallback', async function () {
      const table = await createTable('bulk_insert_types', awkwardColumns);
      const rows = awkwardRows(40);
      const fallback = open({ useCopy: false });
      await fallback.connect();
      try {
        expect(await fallback.bulkInsert(table, rows)).to.equal(40);
      } finally {
        await fallback.disconnect();
      }
      expect(await readBack(table)).to.deep.equal(expected(rows));
    });

    it('splits the INSERT fallback into batches under the parameter limit', async function () {
      const table = await createTable('bulk_batches', 'id int, a text, b text');
      const rows = Array.from({ length: 2_500 }, (_, id) => ({ id, a: `a${id}`, b: null }));
      const fallback = open({ useCopy: false });
      await fallback.connect();
      try {
        expect(await fallback.bulkInsert(table, rows)).to.equal(2_500);
      } finally {
        await fallback.disconnect();
      }
      expect(await db.fetchOne(`SELECT count(*) AS n, count(DISTINCT id) AS ids FROM ${table}`)).to.deep.equal({
        n: 2_500,
        ids: 2_500,
      });
    });

    it('inserts only the listed columns, writing NULL for missing keys and ignoring extra keys', async function () {
      const table = await createTable('bulk_columns', "id int, name text, note text default 'default note'");
      const rows = [{ id: 1, name: 'one', extra: 'ignored' }, { id: 2 }];
      expect(await db.bulkInsert(table, rows, { columns: ['id', 'name'] })).to.equal(2);
      expect(await db.fetchAll(`SELECT * FROM ${table} ORDER BY id`)).to.deep.equal([
        { id: 1, name: 'one', note: 'default note' },
        { id: 2, name: null, note: 'default note' },
      ]);
    });

    it('refuses rows whose keys differ from the first row when no columns are given', async function () {
      const table = await createTable('bulk_keys', 'id int, name text');
      const error = await rejection(
        db.bulkInsert(table, [
          { id: 1, name: 'a' },
          { id: 2, nome: 'b' },
        ]),
      );
      expect(isPlatformError(error) && error.code).to.equal('PH_ERR_DB_QUERY');
      expect((error as Error).message).to.match(/row 1 has keys \(id, nome\) but the first row has \(id, name\)/);
      expect(await db.fetchAll(`SELECT * FROM ${table}`)).to.deep.equal([]);
    });

    it('fails as a whole with sqlState 23505 on a duplicate key, inserting nothing', async function () {
      const table = await createTable('bulk_dup', 'id int primary key');
      await db.execute(`INSERT INTO ${table} VALUES (5)`);
      const rows = Array.from({ length: 10 }, (_, id) => ({ id }));
      const error = await rejection(db.bulkInsert(table, rows));
      expect((error as DatabaseQueryError).sqlState).to.equal('23505');
      expect(await db.fetchAll(`SELECT id FROM ${table}`)).to.deep.equal([{ id: 5 }]);
    });

    it('skips conflicting rows with onConflict ignore and returns only the number inserted', async function () {
      const table = await createTable('bulk_ignore', 'id int primary key, name text');
      await db.execute(`INSERT INTO ${table} VALUES (2, 'existing'), (4, 'existing')`);
      const rows = [1, 2, 3, 4, 5, 5].map((id) => ({ id, name: `new-${id}` }));
      expect(await db.bulkInsert(table, rows, { onConflict: 'ignore' })).to.equal(3);
      expect(await db.fetchAll(`SELECT id, name FROM ${table} ORDER BY id`)).to.deep.equal([
        { id: 1, name: 'new-1' },
        { id: 2, name: 'existing' },
        { id: 3, name: 'new-3' },
        { id: 4, name: 'existing' },
        { id: 5, name: 'new-5' },
      ]);
    });

    it('skips conflicting rows the same way through the INSERT fallback', async function () {
      const table = await createTable('bulk_ignore_fallback', 'id int primary key, name text');
      await db.execute(`INSERT INTO ${table} VALUES (2, 'existing')`);
      const fallback = open({ useCopy: false });
      await fallback.connect();
      try {
        const rows = [1, 2, 3, 3].map((id) => ({ id, name: `new-${id}` }));
        expect(await fallback.bulkInsert(table, rows, { onConflict: 'ignore' })).to.equal(2);
      } finally {
        await fallback.disconnect();
      }
      expect(await db.fetchOne(`SELECT count(*) AS n FROM ${table}`)).to.deep.equal({ n: 3 });
    });

    it('does not draw serial values for the staging table of onConflict ignore', async function () {
      const table = await createTable('bulk_serial', 'id serial primary key, key text unique');
      const rows = ['a', 'b', 'c'].map((key) => ({ key }));
      expect(await db.bulkInsert(table, rows, { onConflict: 'ignore' })).to.equal(3);
      expect(await db.fetchAll(`SELECT id, key FROM ${table} ORDER BY id`)).to.deep.equal([
        { id: 1, key: 'a' },
        { id: 2, key: 'b' },
        { id: 3, key: 'c' },
      ]);
    });

    it('can run onConflict ignore twice in one transaction', async function () {
      const table = await createTable('bulk_ignore_twice', 'id int primary key');
      const counts = await db.transaction(async () => [
        await db.bulkInsert(table, [{ id: 1 }, { id: 2 }], { onConflict: 'ignore' }),
        await db.bulkInsert(table, [{ id: 2 }, { id: 3 }], { onConflict: 'ignore' }),
      ]);
      expect(counts).to.deep.equal([2, 1]);
    });

    it('surfaces a value the server rejects after all data was sent, and leaves the pool usable', async function () {
      const table = await createTable('bulk_bad_value', 'id int');
      const error = await rejection(db.bulkInsert(table, [{ id: 1 }, { id: 'not a number' }]));
      expect((error as DatabaseQueryError).sqlState).to.equal('22P02');
      expect((error as Error).message).to.match(/^PostgreSQL rejected "COPY .*invalid input syntax for type integer/);
      for (let attempt = 0; attempt < 6; attempt += 1) {
        expect(await db.fetchOne('SELECT 1 AS ok')).to.deep.equal({ ok: 1 });
      }
      const stuck = await db.fetchOne<{ n: number }>(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'platform-host' AND datname = current_database() AND state LIKE 'idle in transaction%'",
      );
      expect(stuck?.n).to.equal(0);
      expect(await db.fetchAll(`SELECT * FROM ${table}`)).to.deep.equal([]);
    });

    it('surfaces a rejected value in the middle of a large COPY', async function () {
      const table = await createTable('bulk_bad_middle', 'id int, pad text');
      const rows: Row[] = Array.from({ length: 20_000 }, (_, id) => ({ id, pad: 'x'.repeat(50) }));
      rows[10_000] = { id: 'bad', pad: 'x' };
      const error = await rejection(db.bulkInsert(table, rows));
      expect((error as DatabaseQueryError).sqlState).to.equal('22P02');
      expect(await db.fetchOne(`SELECT count(*) AS n FROM ${table}`)).to.deep.equal({ n: 0 });
    });

    it("joins the caller's transaction: a rollback removes the inserted rows", async function () {
      const table = await createTable('bulk_in_tx', 'id int');
      await rejection(
        db.transaction(async () => {
          expect(await db.bulkInsert(table, [{ id: 1 }, { id: 2 }])).to.equal(2);
          expect(await db.fetchOne(`SELECT count(*) AS n FROM ${table}`)).to.deep.equal({ n: 2 });
          throw new Error('roll it back');
        }),
      );
      expect(await db.fetchAll(`SELECT * FROM ${table}`)).to.deep.equal([]);
    });

    it('falls back to INSERT for a view, which COPY cannot write', async function () {
      const table = await createTable('bulk_view', 'id int, name text');
      await db.execute(`CREATE VIEW ${table}_view AS SELECT id, name FROM ${table}`);
      expect(
        await db.bulkInsert(`${table}_view`, [
          { id: 1, name: 'a' },
          { id: 2, name: 'b' },
        ]),
      ).to.equal(2);
      expect(await db.fetchAll(`SELECT id, name FROM ${table} ORDER BY id`)).to.deep.equal([
        { id: 1, name: 'a' },
        { id: 2, name: 'b' },
      ]);
    });

    it("falls back to INSERT when a generated column is listed, which then reports the server's refusal", async function () {
      const table = await createTable('bulk_generated', 'id int, twice int GENERATED ALWAYS AS (id * 2) STORED');
      const error = await rejection(db.bulkInsert(table, [{ id: 1, twice: 5 }]));
      expect((error as DatabaseQueryError).sqlState).to.equal('428C9');
      expect((error as Error).message).to.match(/"INSERT INTO/);
      expect(await db.bulkInsert(table, [{ id: 1 }, { id: 2 }])).to.equal(2);
      expect(await db.fetchAll(`SELECT id, twice FROM ${table} ORDER BY id`)).to.deep.equal([
        { id: 1, twice: 2 },
        { id: 2, twice: 4 },
      ]);
    });

    it('accepts a schema-qualified table name', async function () {
      const schema = uniqueName('schema');
      await db.execute(`CREATE SCHEMA ${schema}`);
      try {
        await db.execute(`CREATE TABLE ${schema}.events (id int)`);
        expect(await db.bulkInsert(`${schema}.events`, [{ id: 1 }])).to.equal(1);
        expect(await db.fetchAll(`SELECT id FROM ${schema}.events`)).to.deep.equal([{ id: 1 }]);
      } finally {
        await db.execute(`DROP SCHEMA ${schema} CASCADE`);
      }
    });

    it('refuses table and column names that are not plain identifiers, before touching the database', async function () {
      const table = await createTable('bulk_names', 'id int');
      for (const [name, columns] of [
        [`${table}; DROP TABLE ${table}`, ['id']],
        [`"${table}"`, ['id']],
        [`a.b.c`, ['id']],
        [table, ['id) VALUES (1); --']],
        [table, ['']],
      ] as const) {
        const error = await rejection(db.bulkInsert(name, [{ id: 1 }], { columns: [...columns] }));
        expect(isPlatformError(error) && error.code).to.equal('PH_ERR_DB_QUERY');
        expect((error as Error).message).to.match(/not a valid identifier|more than one "\."/);
      }
      expect(await db.fetchAll(`SELECT * FROM ${table}`)).to.deep.equal([]);
    });

    it('reports a missing table with sqlState 42P01', async function () {
      const error = await rejection(db.bulkInsert(uniqueName('missing'), [{ id: 1 }]));
      expect((error as DatabaseQueryError).sqlState).to.equal('42P01');
    });
  });
});
