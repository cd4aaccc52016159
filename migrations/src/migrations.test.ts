import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type {
  AdapterConfig,
  AdapterContext,
  AdapterDefinition,
  AdapterDependencies,
  Database,
  Logger,
  ResolvedDependencies,
} from '@platform-host/contracts';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  discoverMigrations,
  MigrationRunner,
  moduleMigrationSet,
  sharedMigrationSet,
  trackingTableSql,
  type MigrationSet,
} from '@platform-host/runtime';
import { TRACKING_TABLE_SQL } from './001_create_migrations_table.js';
import { MIGRATIONS_DIR } from './index.js';

/** The shared set and batch_etl's own, as `migrate up` applies them in this repository. */
const SETS: MigrationSet[] = [
  sharedMigrationSet(MIGRATIONS_DIR),
  moduleMigrationSet('batch_etl', join(MIGRATIONS_DIR, '..', 'plugins', 'batch-etl'), './dist/migrations/postgresql'),
];
const ALL = ['001_create_migrations_table', '002_create_events_table', 'batch_etl/001_create_cleaned_events_table'];
/** `_migrations` rows (owner, name) after a full `up`. */
const ROWS = [
  ['shared', '001_create_migrations_table'],
  ['shared', '002_create_events_table'],
  ['batch_etl', '001_create_cleaned_events_table'],
];

/** Config of an adapter created outside the host: only the given keys, no defaults needed. */
function configOf(values: Readonly<Record<string, string>>): AdapterConfig {
  return {
    get: (key) => values[key],
    require: (key) => {
      const value = values[key];
      if (value === undefined) throw new Error(`${key} is not set`);
      return value;
    },
    integer: (key, fallback) => (values[key] === undefined ? fallback : Number(values[key])),
  };
}

/** Stands in for the host's logger: what the adapters log is not under test here. */
const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
  flush: async () => undefined,
};

/**
 * A database adapter as the host creates it for `--db <flag>` (through its definition), with the
 * dependencies it declares. Only a logger can be provided; any other declared dependency fails here.
 */
async function createDatabase(
  packageName: string,
  flag: string,
  config: Readonly<Record<string, string>> = {},
): Promise<Database> {
  const { default: definition } = (await import(packageName)) as { default: AdapterDefinition<'database'> };
  const dependencies = Object.entries(definition.dependencies).map(([name, ref]) => {
    if (ref.id !== 'logging')
      throw new Error(`${packageName} declares a ${ref.id} dependency this test cannot provide`);
    return [name, silentLogger] as const;
  });
  const context: AdapterContext = { flag, config: configOf(config), environment: {} };
  // As the host does: each dependency has the type its ref names (checked above).
  const db = await definition.create({ ...Object.fromEntries(dependencies), ...context } as AdapterContext &
    ResolvedDependencies<AdapterDependencies>);
  await db.connect();
  return db;
}

interface Subject {
  readonly name: string;
  open(): Promise<{ db: Database; dispose(): Promise<void> }>;
}

const postgresUrl = process.env.DB_POSTGRES_URL;

const subjects: Subject[] = [
  {
    name: '--db memory (PGlite)',
    async open() {
      const db = await createDatabase('@platform-host/adapter-pglite', 'memory');
      return { db, dispose: () => db.disconnect() };
    },
  },
  {
    name: '--db postgres',
    async open() {
      if (postgresUrl === undefined) throw new Error('DB_POSTGRES_URL is not set');
      // A database of its own, so a shared server keeps its tables.
      const admin = await createDatabase('@platform-host/adapter-postgres', 'postgres', {
        DB_POSTGRES_URL: postgresUrl,
        DB_POSTGRES_POOL_MIN: '1',
      });
      const name = `migrations_test_${randomBytes(4).toString('hex')}`;
      await admin.execute(`CREATE DATABASE ${name}`);
      const url = new URL(postgresUrl);
      url.pathname = `/${name}`;
      const db = await createDatabase('@platform-host/adapter-postgres', 'postgres', {
        DB_POSTGRES_URL: url.toString(),
        DB_POSTGRES_POOL_MIN: '1',
      });
      return {
        db,
        async dispose() {
          await db.disconnect();
          await admin.execute(`DROP DATABASE IF EXISTS ${name}`);
          await admin.disconnect();
        },
      };
    },
  },
];

async function indexDefinitions(db: Database, table: string): Promise<Map<string, string>> {
  const rows = await db.fetchAll<{ indexname: string; indexdef: string }>(
    'SELECT indexname, indexdef FROM pg_indexes WHERE tablename = $1',
    [table],
  );
  return new Map(rows.map((row) => [row.indexname, row.indexdef]));
}

async function columns(db: Database, table: string): Promise<Record<string, string>> {
  const rows = await db.fetchAll<{
    column_name: string;
    data_type: string;
    is_nullable: string;
    character_maximum_length: number | null;
  }>(
    `SELECT column_name, data_type, is_nullable, character_maximum_length FROM information_schema.columns
      WHERE table_name = $1 ORDER BY ordinal_position`,
    [table],
  );
  return Object.fromEntries(
    rows.map((row) => [
      row.column_name,
      `${row.data_type}${row.character_maximum_length ? `(${row.character_maximum_length})` : ''}${row.is_nullable === 'NO' ? ' not null' : ''}`,
    ]),
  );
}

async function tableExists(db: Database, table: string): Promise<boolean> {
  const row = await db.fetchOne<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [table]);
  return row?.found === true;
}

describe('shared migrations and batch_etl’s own', function () {
  this.timeout(120_000);

  it('001 creates the tracking table with the runner’s own statement', () => {
    expect(TRACKING_TABLE_SQL).to.equal(trackingTableSql());
  });

  for (const subject of subjects) {
    describe(`through the runner on ${subject.name}`, () => {
      let db: Database;
      let opened: { db: Database; dispose(): Promise<void> } | undefined;
      let runner: MigrationRunner;
      /** What `up` applied on the fresh database. */
      let firstUp: string[];

      before(async function () {
        if (subject.name === '--db postgres' && postgresUrl === undefined) {
          if (process.env.PLATFORM_TEST_REQUIRE_INFRA === '1')
            throw new Error('DB_POSTGRES_URL is not set and PLATFORM_TEST_REQUIRE_INFRA=1');
          this.skip();
        }
        opened = await subject.open();
        db = opened.db;
        runner = new MigrationRunner(db, SETS);
        // Here rather than in the first test, so that every test can also run alone (--grep).
        firstUp = await runner.up();
      });

      after(async () => {
        await opened?.dispose();
      });

      it('applies the shared set, then batch_etl’s, and records each with its owner and checksum', async () => {
        expect(firstUp).to.deep.equal(ALL);
        const statuses = await runner.status();
        expect(statuses.map((status) => [status.owner, status.name, status.state])).to.deep.equal(
          ROWS.map(([owner, name]) => [owner, name, 'applied']),
        );
        const recorded = await db.fetchAll<{ owner: string; name: string; checksum: string }>(
          'SELECT owner, name, checksum FROM _migrations ORDER BY id',
        );
        expect(recorded.map((row) => [row.owner, row.name])).to.deep.equal(ROWS);
        for (const row of recorded) expect(row.checksum).to.match(/^[0-9a-f]{64}$/);
        expect(await runner.up(), 'a second up applies nothing').to.deep.equal([]);
      });

      it('creates events as the seed defines it, with its two indexes', async () => {
        expect(await columns(db, 'events')).to.deep.equal({
          id: 'bigint not null',
          event_type: 'character varying(255) not null',
          payload: 'jsonb not null',
          source: 'character varying(255)',
          created_at: 'timestamp with time zone not null',
          processed_at: 'timestamp with time zone',
        });
        const indexes = await indexDefinitions(db, 'events');
        expect([...indexes.keys()].sort()).to.deep.equal(['events_pkey', 'idx_events_created', 'idx_events_type']);
        expect(indexes.get('idx_events_type')).to.match(/\(event_type\)$/);
        expect(indexes.get('idx_events_created')).to.match(/\(created_at\)$/);
      });

      it('creates cleaned_events with dedup_key under a unique index instead of UNIQUE over the payload', async () => {
        expect(await columns(db, 'cleaned_events')).to.deep.equal({
          id: 'bigint not null',
          event_type: 'character varying(255) not null',
          payload: 'jsonb not null',
          source: 'character varying(255) not null',
          event_date: 'date not null',
          created_at: 'timestamp with time zone not null',
          dedup_key: 'character(64) not null',
        });
        const indexes = await indexDefinitions(db, 'cleaned_events');
        expect([...indexes.keys()].sort()).to.deep.equal([
          'cleaned_events_pkey',
          'idx_cleaned_events_date',
          'idx_cleaned_events_dedup_key',
          'idx_cleaned_events_type',
        ]);
        expect(indexes.get('idx_cleaned_events_dedup_key')).to.match(/^CREATE UNIQUE INDEX .*\(dedup_key\)$/);
        expect(indexes.get('idx_cleaned_events_date')).to.match(/\(event_date\)$/);
        expect(indexes.get('idx_cleaned_events_type')).to.match(/\(event_type, event_date\)$/);
      });

      it('stores a 10 kB payload and refuses a second row with the same dedup_key', async () => {
        const payload = { text: 'x'.repeat(10_000) };
        const key = 'a'.repeat(64);
        const insert = `INSERT INTO cleaned_events (event_type, payload, source, event_date, dedup_key) VALUES ('big', $1, 'test', '2026-01-15', $2) ON CONFLICT (dedup_key) DO NOTHING`;
        expect(await db.execute(insert, [payload, key])).to.equal(1);
        expect(await db.execute(insert, [payload, key])).to.equal(0);
        await db.execute('DELETE FROM cleaned_events WHERE dedup_key = $1', [key]);
      });

      it('rolls back only the owners it was given: batch_etl’s alone leaves the shared tables', async () => {
        const batchOnly = new MigrationRunner(db, [SETS[1] as MigrationSet]);
        expect(await batchOnly.down(5)).to.deep.equal(['batch_etl/001_create_cleaned_events_table']);
        expect(await tableExists(db, 'cleaned_events')).to.equal(false);
        expect(await tableExists(db, 'events')).to.equal(true);
        expect(await runner.up()).to.deep.equal(['batch_etl/001_create_cleaned_events_table']);
      });

      it('rolls all three back, keeping the tracking table, and applies them again', async () => {
        expect(await runner.down(3)).to.deep.equal([...ALL].reverse());
        expect(await tableExists(db, 'cleaned_events')).to.equal(false);
        expect(await tableExists(db, 'events')).to.equal(false);
        expect(await tableExists(db, '_migrations')).to.equal(true);
        expect((await runner.status()).map((status) => status.state)).to.deep.equal(['pending', 'pending', 'pending']);
        expect(await runner.down(1), 'nothing left to roll back').to.deep.equal([]);
        expect(await runner.up()).to.deep.equal(ALL);
        expect(await tableExists(db, 'cleaned_events')).to.equal(true);
        expect(await tableExists(db, 'events')).to.equal(true);
      });
    });
  }

  for (const subject of subjects) {
    describe(`upgrading in place a database migrated by release 1 on ${subject.name}`, () => {
      let db: Database;
      let opened: { db: Database; dispose(): Promise<void> } | undefined;

      before(async function () {
        if (subject.name === '--db postgres' && postgresUrl === undefined) {
          if (process.env.PLATFORM_TEST_REQUIRE_INFRA === '1')
            throw new Error('DB_POSTGRES_URL is not set and PLATFORM_TEST_REQUIRE_INFRA=1');
          this.skip();
        }
        opened = await subject.open();
        db = opened.db;
        // What release 1's runner left: a tracking table without owners (names unique on their
        // own), the shared 001-003 applied — 003 being cleaned_events, which batch_etl now owns
        // with the identical DDL — and data in the tables.
        await db.execute(TRACKING_TABLE_SQL);
        await db.execute('ALTER TABLE _migrations ADD COLUMN IF NOT EXISTS checksum CHAR(64)');
        const files = SETS.flatMap((set) => discoverMigrations(set));
        const releaseOneNames = [
          '001_create_migrations_table',
          '002_create_events_table',
          '003_create_cleaned_events_table',
        ];
        for (const [index, file] of files.entries()) {
          const migration = (await import(pathToFileURL(file.compiledPath).href)) as {
            up(db: Database): Promise<void>;
          };
          await migration.up(db);
          const checksum = file.owner === 'shared' ? file.checksum : 'f'.repeat(64);
          await db.execute('INSERT INTO _migrations (name, checksum) VALUES ($1, $2)', [
            releaseOneNames[index] ?? '',
            checksum,
          ]);
        }
        await db.execute(
          `INSERT INTO cleaned_events (event_type, payload, source, event_date, dedup_key) VALUES ('a', '{}', 'web', '2026-01-15', $1), ('b', '{}', 'web', '2026-01-15', $2)`,
          ['1'.repeat(64), '2'.repeat(64)],
        );
      });

      after(async () => {
        await opened?.dispose();
      });

      it('applies nothing, records cleaned_events under batch_etl, keeps every row, and is up to date afterwards', async () => {
        const runner = new MigrationRunner(db, SETS);
        expect(await runner.up(), 'nothing runs again').to.deep.equal([]);
        const rows = await db.fetchAll<{ owner: string; name: string }>(
          'SELECT owner, name FROM _migrations ORDER BY id',
        );
        expect(rows.map((row) => [row.owner, row.name])).to.deep.equal(ROWS);
        expect((await runner.status()).map((status) => status.state)).to.deep.equal(['applied', 'applied', 'applied']);
        const count = await db.fetchOne<{ count: number }>('SELECT count(*)::int AS count FROM cleaned_events');
        expect(count?.count).to.equal(2);
        expect(await runner.up(), 'a second up after the upgrade').to.deep.equal([]);
      });

      it('lets batch_etl roll its table back and apply it again after the upgrade', async () => {
        const batchOnly = new MigrationRunner(db, [SETS[1] as MigrationSet]);
        expect(await batchOnly.down(1)).to.deep.equal(['batch_etl/001_create_cleaned_events_table']);
        expect(await tableExists(db, 'cleaned_events')).to.equal(false);
        expect(await batchOnly.up()).to.deep.equal(['batch_etl/001_create_cleaned_events_table']);
        expect(await tableExists(db, 'cleaned_events')).to.equal(true);
      });
    });
  }
});
