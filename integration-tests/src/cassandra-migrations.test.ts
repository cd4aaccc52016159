import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import cassandra from 'cassandra-driver';
import { CassandraDatabase } from '@platform-host/adapter-cassandra';
import { isPlatformError } from '@platform-host/contracts';
import { MigrationRunner, sharedMigrationSet } from '@platform-host/runtime';
import { useRealService, waitFor } from '@platform-host/test-kit';
import { CLI, cliEnv, platformHost, REPO_ROOT } from './support/cli.js';

/**
 * A shared migrations folder whose cql migrations fail when run twice: each one makes a DDL change
 * that is not idempotent (CREATE TABLE without IF NOT EXISTS, ALTER TABLE ADD) and writes a row
 * into `applied_log`, so both a second run and a lost row show.
 */
function nonIdempotentMigrations(dir: string): void {
  const cql = join(dir, 'src', 'cql');
  mkdirSync(cql, { recursive: true });
  writeFileSync(
    join(cql, '001_create_items.cql'),
    `CREATE TABLE applied_log (migration text PRIMARY KEY, at timestamp);
CREATE TABLE items (id int PRIMARY KEY, name text); -- no IF NOT EXISTS: a second run fails
INSERT INTO applied_log (migration, at) VALUES ('001', toTimestamp(now()));
`,
  );
  writeFileSync(
    join(cql, '002_add_item_note.cql'),
    `ALTER TABLE items ADD note text;
/* a ; inside a comment */ INSERT INTO applied_log (migration, at) VALUES ('002;with a semicolon', toTimestamp(now()));
`,
  );
  writeFileSync(
    join(cql, '003_add_item_price.cql'),
    `ALTER TABLE items ADD price decimal;
BEGIN BATCH
  INSERT INTO applied_log (migration, at) VALUES ('003', toTimestamp(now()));
  INSERT INTO items (id, name, price) VALUES (1, 'seed; row', 1.50);
APPLY BATCH;
`,
  );
}

/**
 * Issue 15 item 2: migrations on the native Cassandra through the CLI and the runner: the keyspace
 * is created, `_migrations` kept there, concurrent runners serialize on the lightweight-transaction
 * lock, a stale lock expires. Every test works in a keyspace of its own, dropped afterwards; an
 * independent client (cassandra-driver, not the adapter) checks the schema and the rows.
 */
describe('migrations on a real Cassandra through the CLI', function () {
  this.timeout(180_000);
  const service = useRealService('cassandra');
  let keyspace: string;
  let client: cassandra.Client;
  let folders: string[] = [];

  const hosts = (): string => service().DB_CASSANDRA_HOSTS ?? '';
  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv =>
    cliEnv({ DB_CASSANDRA_HOSTS: hosts(), DB_CASSANDRA_KEYSPACE: keyspace, ...extra });
  const folder = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'cql-migrations-'));
    folders.push(dir);
    return dir;
  };
  const tablesOf = async (): Promise<string[]> =>
    (
      await client.execute('SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?', [keyspace], {
        prepare: true,
      })
    ).rows.map((row) => String(row.get('table_name')));

  before(async function () {
    // A long request timeout: DROP KEYSPACE can take a while on a loaded machine.
    client = new cassandra.Client({
      contactPoints: hosts().split(','),
      localDataCenter: 'datacenter1',
      socketOptions: { readTimeout: 120_000 },
    });
    await client.connect();
  });

  beforeEach(function () {
    keyspace = `ph_it_mig_${randomBytes(4).toString('hex')}`;
  });

  afterEach(async function () {
    await client.execute(`DROP KEYSPACE IF EXISTS ${keyspace}`);
    for (const dir of folders) rmSync(dir, { recursive: true, force: true });
    folders = [];
  });

  after(async function () {
    await client?.shutdown();
  });

  it('migrate up creates the keyspace with the configured replication, the events table and its indexes; down and up again', async function () {
    const replication = "{'class': 'SimpleStrategy', 'replication_factor': '1'}";
    const up = await platformHost(
      ['migrate', 'up', '--module', 'shared', '--db', 'cassandra', '--log', 'json'],
      env({ DB_CASSANDRA_REPLICATION: replication }),
    );
    expect(up.code, up.stderr).to.equal(0);
    expect(up.stdout).to.contain('applied 2: 001_create_migrations_table, 002_create_events_table');
    const created = await client.execute(
      'SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?',
      [keyspace],
      { prepare: true },
    );
    expect(created.first()?.get('replication')).to.deep.include({
      class: 'org.apache.cassandra.locator.SimpleStrategy',
      replication_factor: '1',
    });
    expect((await tablesOf()).sort()).to.deep.equal(['_migrations', '_migrations_lock', 'events']);
    const indexes = await client.execute('SELECT index_name FROM system_schema.indexes WHERE keyspace_name = ?', [
      keyspace,
    ]);
    expect(indexes.rows.map((row) => String(row.get('index_name'))).sort()).to.deep.equal([
      'idx_events_created',
      'idx_events_type',
    ]);
    const status = await platformHost(['migrate', 'status', '--module', 'shared', '--db', 'cassandra'], env());
    expect(status.stdout).to.match(/shared\s+002_create_events_table\s+applied\s+\d{4}-/);
    const down = await platformHost(['migrate', 'down', '--module', 'shared', '--db', 'cassandra'], env());
    expect(down.code, down.stderr).to.equal(0);
    expect(down.stdout).to.contain('rolled back 1: 002_create_events_table');
    expect(await tablesOf()).to.not.include('events');
    const again = await platformHost(['migrate', 'up', '--module', 'shared', '--db', 'cassandra'], env());
    expect(again.stdout).to.contain('applied 1: 002_create_events_table');
    const lock = await client.execute(`SELECT count(*) AS n FROM ${keyspace}."_migrations_lock"`);
    expect(Number(lock.first()?.get('n'))).to.equal(0);
  });

  it('three migrate up processes started together apply each migration exactly once', async function () {
    const dir = folder();
    nonIdempotentMigrations(dir);
    const runs = await Promise.all(
      [1, 2, 3].map(() =>
        platformHost(
          ['migrate', 'up', '--module', 'shared', '--db', 'cassandra', '--log', 'json'],
          env({ PLATFORM_MIGRATIONS_DIR: dir }),
        ),
      ),
    );
    for (const run of runs) expect(run.code, run.stderr + run.stdout).to.equal(0);
    const applied = runs.flatMap((run) => /applied \d+: (.*)/.exec(run.stdout)?.[1]?.split(', ') ?? []);
    expect(applied.sort()).to.deep.equal(['001_create_items', '002_add_item_note', '003_add_item_price']);
    expect(runs.filter((run) => run.stdout.includes('nothing to apply')).length).to.be.at.least(1);
    const tracked = await client.execute(`SELECT owner, name FROM ${keyspace}."_migrations"`);
    expect(tracked.rows.map((row) => `${String(row.get('owner'))}/${String(row.get('name'))}`).sort()).to.deep.equal([
      'shared/001_create_items',
      'shared/002_add_item_note',
      'shared/003_add_item_price',
    ]);
    const log = await client.execute(`SELECT migration FROM ${keyspace}.applied_log`);
    expect(log.rows.map((row) => String(row.get('migration'))).sort()).to.deep.equal([
      '001',
      '002;with a semicolon',
      '003',
    ]);
    const item = await client.execute(`SELECT name, note, price FROM ${keyspace}.items WHERE id = 1`);
    expect(item.first()?.get('name')).to.equal('seed; row');
    expect(String(item.first()?.get('price'))).to.equal('1.50');
  });

  it('stops at a failing statement naming it and what stays applied, and keeps the migration pending', async function () {
    const dir = folder();
    const cql = join(dir, 'src', 'cql');
    mkdirSync(cql, { recursive: true });
    writeFileSync(
      join(cql, '001_half.cql'),
      'CREATE TABLE half (id int PRIMARY KEY);\nCREATE TABLE broken (id nosuchtype PRIMARY KEY);\n',
    );
    const up = await platformHost(
      ['migrate', 'up', '--module', 'shared', '--db', 'cassandra'],
      env({ PLATFORM_MIGRATIONS_DIR: dir }),
    );
    expect(up.code).to.equal(1);
    expect(up.stderr)
      .to.contain('PH_ERR_MIGRATION')
      .and.contain('Migration 001_half failed at statement 2 of 2')
      .and.contain('Statements 1 to 1 of it were applied');
    expect(await tablesOf())
      .to.include('half')
      .and.not.include('broken');
    const status = await platformHost(
      ['migrate', 'status', '--module', 'shared', '--db', 'cassandra'],
      env({ PLATFORM_MIGRATIONS_DIR: dir }),
    );
    expect(status.stdout).to.match(/shared\s+001_half\s+pending/);
  });

  it('after kill -9 of a migrate up holding the lock, the next one waits for the lock to expire and finishes every migration once', async function () {
    const dir = folder();
    const cql = join(dir, 'src', 'cql');
    mkdirSync(cql, { recursive: true });
    // Idempotent DDL, as a migration that may be cut short must be: 40 tables, slow enough to kill it midway.
    writeFileSync(
      join(cql, '001_many_tables.cql'),
      Array.from({ length: 40 }, (_, index) => `CREATE TABLE IF NOT EXISTS t${index} (id int PRIMARY KEY);`).join('\n'),
    );
    writeFileSync(join(cql, '002_marker.cql'), 'CREATE TABLE marker (id int PRIMARY KEY);\n');
    // A TTL long enough that the lock is still there when the next CLI process has started, even on a
    // loaded machine, and short enough to keep the test quick.
    const migrateEnv = env({ PLATFORM_MIGRATIONS_DIR: dir, PLATFORM_MIGRATION_LOCK_TTL: '10' });
    const victim = spawn(process.execPath, [CLI, 'migrate', 'up', '--module', 'shared', '--db', 'cassandra'], {
      cwd: REPO_ROOT,
      env: migrateEnv,
      stdio: 'ignore',
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      victim.once('exit', (_code, signal) => resolve(signal)),
    );
    // Killed once it holds the lock and has created some of the tables, but not all.
    let holder = '';
    let victimEnded = false;
    void exited.then(() => (victimEnded = true));
    try {
      await waitFor(
        async () => {
          if (victimEnded) throw new Error('the first migrate up ended before it could be killed');
          const tables = (await tablesOf().catch(() => [])).filter((table) => /^t\d+$/.test(table));
          if (tables.length < 3) return false;
          const lock = await client.execute(`SELECT owner FROM ${keyspace}."_migrations_lock" WHERE name = 'migrate'`);
          holder = String(lock.first()?.get('owner') ?? '');
          return holder !== '';
        },
        60_000,
        'the first migrate up holding the lock midway',
      );
    } finally {
      victim.kill('SIGKILL');
    }
    expect(await exited).to.equal('SIGKILL');
    const cutShort = (await tablesOf()).filter((table) => /^t\d+$/.test(table)).length;
    expect(cutShort, 'tables created before the kill').to.be.below(40);
    const next = await platformHost(
      ['migrate', 'up', '--module', 'shared', '--db', 'cassandra', '--log', 'json'],
      migrateEnv,
    );
    expect(next.code, next.stderr + next.stdout).to.equal(0);
    expect(next.stdout).to.contain('Waiting for the migration lock').and.contain(holder);
    expect(next.stdout).to.contain('applied 2: 001_many_tables, 002_marker');
    expect((await tablesOf()).filter((table) => /^t\d+$/.test(table))).to.have.lengthOf(40);
    const tracked = await client.execute(`SELECT name FROM ${keyspace}."_migrations"`);
    expect(tracked.rows.map((row) => String(row.get('name'))).sort()).to.deep.equal(['001_many_tables', '002_marker']);
  });

  it('gives up with PH_ERR_MIGRATION when the lock stays taken longer than it may wait', async function () {
    const db = new CassandraDatabase({ contactPoints: hosts().split(','), keyspace });
    await db.connect();
    try {
      const runner = new MigrationRunner(db, [sharedMigrationSet(folder(), 'cql')], undefined, {
        lockWaitSeconds: 1,
      });
      await runner.status();
      await db.execute(
        'INSERT INTO "_migrations_lock" (name, owner, acquired_at) VALUES (?, ?, ?) IF NOT EXISTS USING TTL 60',
        ['migrate', 'busy-runner', new Date()],
      );
      const error = await runner.up().then(
        () => expect.fail('expected up() to give up'),
        (failure: unknown) => failure,
      );
      expect(isPlatformError(error) && error.code).to.equal('PH_ERR_MIGRATION');
      expect((error as Error).message)
        .to.contain('held the migration lock')
        .and.contain(keyspace);
    } finally {
      await db.disconnect();
    }
  });
});
