import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PlatformError, type Database, type DatabaseDialect, type Logger } from '@platform-host/contracts';
import { CqlMigrationRunner, discoverCqlMigrations, type CqlMigrationOptions } from './cql-runner.js';
import { migrationStatuses } from './migration-types.js';
import type { AppliedMigration, MigrationFile, MigrationSet, MigrationStatus } from './migration-types.js';

export type {
  AppliedMigration,
  MigrationFile,
  MigrationSet,
  MigrationState,
  MigrationStatus,
} from './migration-types.js';
export type { CqlMigrationOptions } from './cql-runner.js';

/** The owner of the platform's shared migrations (the top-level `migrations/` workspace). */
export const SHARED_OWNER = 'shared';

/** A migration that took over one applied under another owner (a table that moved to a module). */
export interface ReplacedMigration {
  readonly owner: string;
  readonly name: string;
}

/** What a migration module exports. */
export interface MigrationModule {
  up(db: Database): Promise<void>;
  down(db: Database): Promise<void>;
  /**
   * Set when this migration creates what an earlier migration of another owner created (for
   * example `cleaned_events`, which moved from the shared set to batch_etl). On a database where
   * that one is applied, the runner records this migration in its place instead of running `up`,
   * so databases migrated by an earlier release upgrade in place.
   */
  readonly replaces?: ReplacedMigration;
}

const SOURCE_PATTERN = /^(\d{3,})_([a-z0-9_]+)\.ts$/;
const COMPILED_PATTERN = /^(\d{3,})_([a-z0-9_]+)\.js$/;
/** Key of the transaction-level advisory lock that serializes migration runners. */
const LOCK_KEY = 7_311_942_001;

const TRACKING_TABLE_SQL = `CREATE TABLE IF NOT EXISTS _migrations (
  id SERIAL PRIMARY KEY,
  name VARCHAR(255) NOT NULL UNIQUE,
  checksum CHAR(64),
  applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
)`;

/**
 * Brings a tracking table of any earlier release to the current shape, idempotently: the `checksum`
 * column, then `owner` (rows of earlier releases belong to the shared set) with names unique per
 * owner instead of globally.
 */
const TRACKING_TABLE_UPGRADES = [
  'ALTER TABLE _migrations ADD COLUMN IF NOT EXISTS checksum CHAR(64)',
  `ALTER TABLE _migrations ADD COLUMN IF NOT EXISTS owner VARCHAR(255) NOT NULL DEFAULT '${SHARED_OWNER}'`,
  'ALTER TABLE _migrations DROP CONSTRAINT IF EXISTS _migrations_name_key',
  'CREATE UNIQUE INDEX IF NOT EXISTS _migrations_owner_name_key ON _migrations (owner, name)',
];

/** The SQL that creates the tracking table (also used by migration 001, the bootstrap one). */
export function trackingTableSql(): string {
  return TRACKING_TABLE_SQL;
}

/**
 * The shared set in a migrations workspace folder: for `postgresql`, `src/NNN_name.ts` compiled to
 * `dist/`; for `cql`, `src/cql/NNN_name.cql` (read as they are; `dist/cql/` when there are no
 * sources).
 */
export function sharedMigrationSet(dir: string, dialect: DatabaseDialect = 'postgresql'): MigrationSet {
  if (dialect === 'cql')
    return { owner: SHARED_OWNER, sourceDir: join(dir, 'src', 'cql'), compiledDir: join(dir, 'dist', 'cql') };
  return { owner: SHARED_OWNER, sourceDir: join(dir, 'src'), compiledDir: join(dir, 'dist') };
}

/**
 * A module's set from the folder its manifest names (compiled, relative to the manifest); the
 * sources are looked for at the same place under `src/` instead of `dist/`.
 */
export function moduleMigrationSet(owner: string, moduleDir: string, compiledFolder: string): MigrationSet {
  const compiledDir = join(moduleDir, compiledFolder);
  const relative = compiledFolder.replace(/^\.\//, '');
  const sourceDir = relative.startsWith('dist/') ? join(moduleDir, 'src', relative.slice('dist/'.length)) : undefined;
  return { owner, sourceDir: sourceDir && existsSync(sourceDir) ? sourceDir : undefined, compiledDir };
}

function checksumOf(path: string): string {
  return createHash('sha256').update(readFileSync(path, 'utf8').replace(/\r\n/g, '\n')).digest('hex');
}

/** The migration files of a set, sorted by number. Two files with one number are an error. */
export function discoverMigrations(set: MigrationSet): MigrationFile[] {
  const listDir = set.sourceDir !== undefined && existsSync(set.sourceDir) ? set.sourceDir : set.compiledDir;
  const fromSources = listDir !== set.compiledDir;
  if (!existsSync(listDir)) return [];
  const pattern = fromSources ? SOURCE_PATTERN : COMPILED_PATTERN;
  const files: MigrationFile[] = [];
  const numbers = new Map<number, string>();
  for (const file of readdirSync(listDir).sort()) {
    if (file.includes('.test.')) continue;
    const match = pattern.exec(file);
    if (!match) continue;
    const number = Number(match[1]);
    const name = file.slice(0, -3);
    const other = numbers.get(number);
    if (other)
      throw new PlatformError(
        'PH_ERR_MIGRATION',
        `Migrations ${other} and ${name} of ${set.owner} have the same number ${number}`,
      );
    numbers.set(number, name);
    const sourcePath = join(listDir, file);
    files.push({
      owner: set.owner,
      number,
      name,
      sourcePath,
      compiledPath: join(set.compiledDir, `${name}.js`),
      checksum: checksumOf(sourcePath),
    });
  }
  return files.sort((a, b) => a.number - b.number);
}

async function importMigration(file: MigrationFile): Promise<MigrationModule> {
  let loaded: Partial<MigrationModule>;
  try {
    loaded = (await import(pathToFileURL(file.compiledPath).href)) as Partial<MigrationModule>;
  } catch (error) {
    throw new PlatformError(
      'PH_ERR_MIGRATION',
      `Cannot import migration ${file.owner}/${file.name} from ${file.compiledPath}: ${(error as Error).message}`,
      {
        cause: error,
        hint: 'Build the migrations first: npm run build',
      },
    );
  }
  if (typeof loaded.up !== 'function' || typeof loaded.down !== 'function') {
    throw new PlatformError(
      'PH_ERR_MIGRATION',
      `Migration ${file.owner}/${file.name} must export async functions up(db) and down(db)`,
    );
  }
  return loaded as MigrationModule;
}

interface AppliedRow extends Record<string, unknown> {
  owner: string;
  name: string;
  checksum: string | null;
  applied_at: Date | string;
}

const key = (owner: string, name: string): string => `${owner}/${name}`;

/**
 * Applies and rolls back migrations (seed 5.3) of one or more {@link MigrationSet}s: the shared set
 * first, then each module's, in the order given. Every migration runs in its own transaction that
 * first takes a transaction-level advisory lock and re-reads the tracking table, so runners started
 * at the same moment apply each migration exactly once. A migration whose source changed after it
 * was applied blocks `up` (checksum). `_migrations` records the owner of each.
 */
export class MigrationRunner {
  private readonly sets: readonly MigrationSet[];
  /** Set on the `cql` dialect, which every method hands over to. */
  private readonly cql: CqlMigrationRunner | undefined;

  constructor(
    private readonly db: Database,
    sets: MigrationSet | readonly MigrationSet[],
    private readonly log: Logger | undefined = undefined,
    cqlOptions: CqlMigrationOptions = {},
  ) {
    this.sets = Array.isArray(sets) ? sets : [sets as MigrationSet];
    this.cql = db.dialect === 'cql' ? new CqlMigrationRunner(db, this.sets, SHARED_OWNER, log, cqlOptions) : undefined;
    if (db.dialect !== 'postgresql' && db.dialect !== 'cql') {
      throw new PlatformError(
        'PH_ERR_DB_DIALECT',
        `The migration runner supports the postgresql and cql dialects, not ${String(db.dialect)}`,
      );
    }
  }

  private files(): MigrationFile[] {
    return this.sets.flatMap((set) => discoverMigrations(set));
  }

  private async ensureTrackingTable(): Promise<void> {
    await this.db.transaction(async () => {
      await this.db.execute('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
      await this.db.execute(TRACKING_TABLE_SQL);
      for (const statement of TRACKING_TABLE_UPGRADES) await this.db.execute(statement);
    });
  }

  private async applied(): Promise<AppliedMigration[]> {
    const rows = await this.db.fetchAll<AppliedRow>(
      'SELECT owner, name, checksum, applied_at FROM _migrations ORDER BY id',
    );
    return rows.map((row) => ({
      owner: row.owner,
      name: row.name,
      checksum: row.checksum,
      appliedAt: new Date(row.applied_at),
    }));
  }

  /**
   * Every migration file of the sets and every applied row of their owners, with its state. A row
   * whose file is gone is `missing`.
   */
  async status(): Promise<MigrationStatus[]> {
    if (this.cql) return this.cql.status();
    await this.ensureTrackingTable();
    return migrationStatuses(
      this.files(),
      await this.applied(),
      this.sets.map((set) => set.owner),
    );
  }

  /**
   * Applies pending migrations, set by set; with `target`, only up to that number (allowed with a
   * single set). Returns the names applied (`owner/name` for module sets).
   */
  async up(target?: number): Promise<string[]> {
    if (target !== undefined && this.sets.length !== 1) {
      throw new PlatformError(
        'PH_ERR_USAGE',
        '--target needs exactly one migration set: add --module <name> (or --module shared)',
      );
    }
    if (this.cql) return this.cql.up(target);
    const statuses = await this.status();
    const changed = statuses.filter((s) => s.state === 'changed');
    if (changed.length > 0) {
      throw new PlatformError(
        'PH_ERR_MIGRATION',
        `Migration${changed.length > 1 ? 's' : ''} ${changed.map((s) => label(s)).join(', ')} changed after being applied (checksum differs)`,
        {
          hint: 'Restore the applied version of the file and put the change in a new migration (platform-host migrate create <name>).',
        },
      );
    }
    const appliedNow: string[] = [];
    for (const file of this.files()) {
      if (target !== undefined && file.number > target) continue;
      const migration = await importMigration(file);
      const outcome = await this.db
        .transaction(async () => {
          await this.db.execute('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
          const row = await this.db.fetchOne('SELECT 1 AS present FROM _migrations WHERE owner = $1 AND name = $2', [
            file.owner,
            file.name,
          ]);
          if (row) return undefined;
          if (migration.replaces) {
            const adopted = await this.db.execute(
              'UPDATE _migrations SET owner = $1, name = $2, checksum = $3 WHERE owner = $4 AND name = $5',
              [file.owner, file.name, file.checksum, migration.replaces.owner, migration.replaces.name],
            );
            if (adopted > 0) return 'adopted' as const;
          }
          await migration.up(this.db);
          await this.db.execute('INSERT INTO _migrations (owner, name, checksum) VALUES ($1, $2, $3)', [
            file.owner,
            file.name,
            file.checksum,
          ]);
          return 'applied' as const;
        })
        .catch((error: unknown) => {
          if (error instanceof PlatformError && error.code === 'PH_ERR_MIGRATION') throw error;
          throw new PlatformError(
            'PH_ERR_MIGRATION',
            `Migration ${label(file)} failed and was rolled back: ${(error as Error).message}`,
            { cause: error },
          );
        });
      if (outcome === 'applied') {
        appliedNow.push(label(file));
        this.log?.info('Migration applied', { migration: file.name, owner: file.owner });
      } else if (outcome === 'adopted' && migration.replaces) {
        this.log?.info('Migration taken over from an earlier release (already in effect, not run again)', {
          migration: file.name,
          owner: file.owner,
          replaces: label(migration.replaces),
        });
      }
    }
    return appliedNow;
  }

  /**
   * Rolls back the last `count` applied migrations of the sets' owners, newest first (in the order
   * they were applied); returns the names rolled back.
   */
  async down(count = 1): Promise<string[]> {
    if (this.cql) return this.cql.down(count);
    await this.ensureTrackingTable();
    const files = new Map(this.files().map((file) => [key(file.owner, file.name), file]));
    const owners = this.sets.map((set) => set.owner);
    const rolledBack: string[] = [];
    for (let index = 0; index < count; index += 1) {
      const done = await this.db
        .transaction(async () => {
          await this.db.execute('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
          const last = await this.db.fetchOne<{ owner: string; name: string }>(
            `SELECT owner, name FROM _migrations WHERE owner IN (${owners.map((_, i) => `$${i + 1}`).join(', ')}) ORDER BY id DESC LIMIT 1`,
            owners,
          );
          if (!last) return undefined;
          const file = files.get(key(last.owner, last.name));
          if (!file)
            throw new PlatformError(
              'PH_ERR_MIGRATION',
              `Cannot roll back ${label(last)}: its file is missing from the ${last.owner} migrations`,
            );
          const migration = await importMigration(file);
          await this.db.execute('DELETE FROM _migrations WHERE owner = $1 AND name = $2', [last.owner, last.name]);
          await migration.down(this.db);
          return label(last);
        })
        .catch((error: unknown) => {
          if (error instanceof PlatformError && error.code === 'PH_ERR_MIGRATION') throw error;
          throw new PlatformError(
            'PH_ERR_MIGRATION',
            `Rolling back failed and was undone: ${(error as Error).message}`,
            { cause: error },
          );
        });
      if (done === undefined) break;
      rolledBack.push(done);
      this.log?.info('Migration rolled back', { migration: done });
    }
    return rolledBack;
  }
}

/** `name` for the shared set, `owner/name` for a module's. */
function label(migration: { readonly owner: string; readonly name: string }): string {
  return migration.owner === SHARED_OWNER ? migration.name : `${migration.owner}/${migration.name}`;
}

/**
 * Writes the next-numbered migration into the set's source folder and returns the paths written:
 * for `postgresql` `NNN_<name>.ts` (exporting `up` and `down`), for `cql` `NNN_<name>.cql` and the
 * `NNN_<name>.down.cql` that rolls it back, both holding only comments until they are filled in.
 * An existing file is never overwritten.
 */
export function createMigrationFile(
  set: MigrationSet,
  rawName: string,
  dialect: DatabaseDialect = 'postgresql',
): string[] {
  const name = rawName
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (name === '') throw new PlatformError('PH_ERR_USAGE', `Migration name "${rawName}" has no letters or digits`);
  if (!set.sourceDir) {
    throw new PlatformError('PH_ERR_USAGE', `The ${set.owner} migrations have no source folder to create a file in`);
  }
  const existing = dialect === 'cql' ? discoverCqlMigrations(set) : discoverMigrations(set);
  const base = `${String((existing.at(-1)?.number ?? 0) + 1).padStart(3, '0')}_${name}`;
  const title = name.replace(/_/g, ' ');
  mkdirSync(set.sourceDir, { recursive: true });
  const files: Array<[string, string]> =
    dialect === 'cql'
      ? [
          [
            `${base}.cql`,
            `-- ${title}: CQL statements, each ending in ";", run one by one by platform-host migrate up.
-- Cassandra has no transactional DDL: write IF NOT EXISTS so that a rerun after a failure finishes it.
`,
          ],
          [
            `${base}.down.cql`,
            `-- Reverses ${base}.cql (platform-host migrate down), with IF EXISTS.
`,
          ],
        ]
      : [
          [
            `${base}.ts`,
            `import type { Database } from '@platform-host/contracts';

/** ${title}. */
export async function up(db: Database): Promise<void> {
  await db.execute(\`SELECT 1\`);
}

/** Reverses up(). */
export async function down(db: Database): Promise<void> {
  await db.execute(\`SELECT 1\`);
}
`,
          ],
        ];
  const taken = files.map(([file]) => join(set.sourceDir as string, file)).filter((path) => existsSync(path));
  if (taken.length > 0) throw new PlatformError('PH_ERR_USAGE', `Migration file ${taken.join(', ')} already exists`);
  return files.map(([file, content]) => {
    const path = join(set.sourceDir as string, file);
    writeFileSync(path, content, { flag: 'wx' });
    return path;
  });
}
