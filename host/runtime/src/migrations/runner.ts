import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PlatformError, type Database, type Logger } from '@platform-host/contracts';

/** A migration file: `migrations/src/NNN_description.ts`, compiled to `dist/NNN_description.js`. */
export interface MigrationFile {
  readonly number: number;
  /** File name without extension, e.g. `002_create_events_table`. */
  readonly name: string;
  readonly sourcePath: string;
  readonly compiledPath: string;
  /** sha256 of the source with line endings normalized. */
  readonly checksum: string;
}

/** What a migration module exports. */
export interface MigrationModule {
  up(db: Database): Promise<void>;
  down(db: Database): Promise<void>;
}

export type MigrationState = 'applied' | 'pending' | 'changed' | 'missing';

export interface MigrationStatus {
  readonly number: number;
  readonly name: string;
  readonly state: MigrationState;
  readonly appliedAt: Date | undefined;
}

const FILE_PATTERN = /^(\d{3,})_([a-z0-9_]+)\.ts$/;
/** Key of the transaction-level advisory lock that serializes migration runners. */
const LOCK_KEY = 7_311_942_001;

const TRACKING_TABLE_SQL = `CREATE TABLE IF NOT EXISTS _migrations (
  id SERIAL PRIMARY KEY,
  name VARCHAR(255) NOT NULL UNIQUE,
  checksum CHAR(64),
  applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
)`;

/** The SQL that creates the tracking table (also used by migration 001, the bootstrap one). */
export function trackingTableSql(): string {
  return TRACKING_TABLE_SQL;
}

/** The migration files in `dir` (`src/` for sources, `dist/` for compiled), sorted by number. */
export function discoverMigrations(dir: string): MigrationFile[] {
  const sourceDir = join(dir, 'src');
  if (!existsSync(sourceDir)) return [];
  const files: MigrationFile[] = [];
  const numbers = new Map<number, string>();
  for (const file of readdirSync(sourceDir).sort()) {
    if (file.endsWith('.test.ts')) continue;
    const match = FILE_PATTERN.exec(file);
    if (!match) continue;
    const number = Number(match[1]);
    const name = file.slice(0, -3);
    const other = numbers.get(number);
    if (other)
      throw new PlatformError('PH_ERR_MIGRATION', `Migrations ${other} and ${name} have the same number ${number}`);
    numbers.set(number, name);
    const sourcePath = join(sourceDir, file);
    const text = readFileSync(sourcePath, 'utf8').replace(/\r\n/g, '\n');
    files.push({
      number,
      name,
      sourcePath,
      compiledPath: join(dir, 'dist', `${name}.js`),
      checksum: createHash('sha256').update(text).digest('hex'),
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
      `Cannot import migration ${file.name} from ${file.compiledPath}: ${(error as Error).message}`,
      {
        cause: error,
        hint: 'Build the migrations first: npm run build',
      },
    );
  }
  if (typeof loaded.up !== 'function' || typeof loaded.down !== 'function') {
    throw new PlatformError(
      'PH_ERR_MIGRATION',
      `Migration ${file.name} must export async functions up(db) and down(db)`,
    );
  }
  return loaded as MigrationModule;
}

interface AppliedRow extends Record<string, unknown> {
  name: string;
  checksum: string | null;
  applied_at: Date | string;
}

/**
 * Applies and rolls back migrations (seed 5.3). Every migration runs in its own transaction that
 * first takes a transaction-level advisory lock and re-reads the tracking table, so runners started
 * at the same moment apply each migration exactly once. A migration whose source changed after it
 * was applied blocks `up` (checksum).
 */
export class MigrationRunner {
  constructor(
    private readonly db: Database,
    private readonly dir: string,
    private readonly log: Logger | undefined = undefined,
  ) {}

  private async ensureTrackingTable(): Promise<void> {
    await this.db.transaction(async () => {
      await this.db.execute('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
      await this.db.execute(TRACKING_TABLE_SQL);
      await this.db.execute('ALTER TABLE _migrations ADD COLUMN IF NOT EXISTS checksum CHAR(64)');
    });
  }

  private async applied(): Promise<Map<string, AppliedRow>> {
    const rows = await this.db.fetchAll<AppliedRow>('SELECT name, checksum, applied_at FROM _migrations ORDER BY name');
    return new Map(rows.map((row) => [row.name, row]));
  }

  /** Every migration file and every applied row, with its state. */
  async status(): Promise<MigrationStatus[]> {
    await this.ensureTrackingTable();
    const files = discoverMigrations(this.dir);
    const applied = await this.applied();
    const out: MigrationStatus[] = files.map((file) => {
      const row = applied.get(file.name);
      const state: MigrationState = !row
        ? 'pending'
        : row.checksum !== null && row.checksum !== file.checksum
          ? 'changed'
          : 'applied';
      return { number: file.number, name: file.name, state, appliedAt: row ? new Date(row.applied_at) : undefined };
    });
    for (const [name, row] of applied) {
      if (!files.some((file) => file.name === name)) {
        out.push({ number: Number(name.split('_')[0]), name, state: 'missing', appliedAt: new Date(row.applied_at) });
      }
    }
    return out.sort((a, b) => a.number - b.number);
  }

  /** Applies pending migrations up to `target` (a number) or all; returns the names applied. */
  async up(target?: number): Promise<string[]> {
    const statuses = await this.status();
    const changed = statuses.filter((s) => s.state === 'changed');
    if (changed.length > 0) {
      throw new PlatformError(
        'PH_ERR_MIGRATION',
        `Migration${changed.length > 1 ? 's' : ''} ${changed.map((s) => s.name).join(', ')} changed after being applied (checksum differs)`,
        {
          hint: 'Restore the applied version of the file and put the change in a new migration (platform-host migrate create <name>).',
        },
      );
    }
    const appliedNow: string[] = [];
    for (const file of discoverMigrations(this.dir)) {
      if (target !== undefined && file.number > target) break;
      const migration = await importMigration(file);
      const applied = await this.db
        .transaction(async () => {
          await this.db.execute('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
          const row = await this.db.fetchOne('SELECT 1 AS present FROM _migrations WHERE name = $1', [file.name]);
          if (row) return false;
          await migration.up(this.db);
          await this.db.execute('INSERT INTO _migrations (name, checksum) VALUES ($1, $2)', [file.name, file.checksum]);
          return true;
        })
        .catch((error: unknown) => {
          if (error instanceof PlatformError && error.code === 'PH_ERR_MIGRATION') throw error;
          throw new PlatformError(
            'PH_ERR_MIGRATION',
            `Migration ${file.name} failed and was rolled back: ${(error as Error).message}`,
            { cause: error },
          );
        });
      if (applied) {
        appliedNow.push(file.name);
        this.log?.info('Migration applied', { migration: file.name });
      }
    }
    return appliedNow;
  }

  /** Rolls back the last `count` applied migrations, newest first; returns the names rolled back. */
  async down(count = 1): Promise<string[]> {
    await this.ensureTrackingTable();
    const files = new Map(discoverMigrations(this.dir).map((file) => [file.name, file]));
    const rolledBack: string[] = [];
    for (let index = 0; index < count; index += 1) {
      const done = await this.db
        .transaction(async () => {
          await this.db.execute('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
          const last = await this.db.fetchOne<{ name: string }>(
            'SELECT name FROM _migrations ORDER BY name DESC LIMIT 1',
          );
          if (!last) return undefined;
          const file = files.get(last.name);
          if (!file)
            throw new PlatformError(
              'PH_ERR_MIGRATION',
              `Cannot roll back ${last.name}: its file is missing from ${join(this.dir, 'src')}`,
            );
          const migration = await importMigration(file);
          await this.db.execute('DELETE FROM _migrations WHERE name = $1', [last.name]);
          await migration.down(this.db);
          return last.name;
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

/** Writes `src/NNN_<name>.ts` with the next number and returns its path. */
export function createMigrationFile(dir: string, rawName: string): string {
  const name = rawName
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (name === '') throw new PlatformError('PH_ERR_USAGE', `Migration name "${rawName}" has no letters or digits`);
  const next = (discoverMigrations(dir).at(-1)?.number ?? 0) + 1;
  const file = join(dir, 'src', `${String(next).padStart(3, '0')}_${name}.ts`);
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(
    file,
    `import type { Database } from '@platform-host/contracts';

/** ${name.replace(/_/g, ' ')}. */
export async function up(db: Database): Promise<void> {
  await db.execute(\`SELECT 1\`);
}

/** Reverses up(). */
export async function down(db: Database): Promise<void> {
  await db.execute(\`SELECT 1\`);
}
`,
    { flag: 'wx' },
  );
  return file;
}
