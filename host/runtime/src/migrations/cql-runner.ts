import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PlatformError, type Database, type Logger } from '@platform-host/contracts';
import { splitCqlStatements } from './cql-statements.js';
import { migrationStatuses } from './migration-types.js';
import type { MigrationFile, MigrationSet, MigrationStatus } from './migration-types.js';

const CQL_PATTERN = /^(\d{3,})_([a-z0-9_]+)\.cql$/;
const LOCK_NAME = 'migrate';

/** The tracking table on Cassandra: one partition per owner, a row per applied migration. */
export const CQL_TRACKING_TABLE = `CREATE TABLE IF NOT EXISTS "_migrations" (
  owner text,
  name text,
  checksum text,
  applied_at timestamp,
  PRIMARY KEY (owner, name)
)`;

/** The lock row that serializes runners: written with `IF NOT EXISTS` and a TTL. */
export const CQL_LOCK_TABLE = `CREATE TABLE IF NOT EXISTS "_migrations_lock" (
  name text PRIMARY KEY,
  owner text,
  acquired_at timestamp
)`;

/** Options of the cql migration runner. */
export interface CqlMigrationOptions {
  /**
   * Seconds the lock row lives without renewal; the holder renews it every third of that. A runner
   * killed while holding it blocks others at most this long. Default 60.
   */
  readonly lockTtlSeconds?: number;
  /** How long a runner waits for the lock before giving up with `PH_ERR_MIGRATION`. Default 300 s. */
  readonly lockWaitSeconds?: number;
}

/** The `.cql` migration files of a set, sorted by number (`NNN_name.cql`; `NNN_name.down.cql` reverses it). */
export function discoverCqlMigrations(set: MigrationSet): MigrationFile[] {
  const dir = set.sourceDir !== undefined && existsSync(set.sourceDir) ? set.sourceDir : set.compiledDir;
  if (!existsSync(dir)) return [];
  const numbers = new Map<number, string>();
  const files: MigrationFile[] = [];
  for (const file of readdirSync(dir).sort()) {
    const match = CQL_PATTERN.exec(file);
    if (!match) continue;
    const number = Number(match[1]);
    const name = file.slice(0, -'.cql'.length);
    const other = numbers.get(number);
    if (other)
      throw new PlatformError(
        'PH_ERR_MIGRATION',
        `Migrations ${other} and ${name} of ${set.owner} have the same number ${number}`,
      );
    numbers.set(number, name);
    const path = join(dir, file);
    const checksum = createHash('sha256').update(readFileSync(path, 'utf8').replace(/\r\n/g, '\n')).digest('hex');
    files.push({ owner: set.owner, number, name, sourcePath: path, compiledPath: path, checksum });
  }
  return files.sort((a, b) => a.number - b.number);
}

interface AppliedRow extends Record<string, unknown> {
  owner: string;
  name: string;
  checksum: string | null;
  applied_at: Date | null;
}

const key = (owner: string, name: string): string => `${owner}/${name}`;

function label(migration: { readonly owner: string; readonly name: string }, sharedOwner: string): string {
  return migration.owner === sharedOwner ? migration.name : `${migration.owner}/${migration.name}`;
}

/**
 * Migrations on the `cql` dialect (Cassandra). Cassandra has neither transactional DDL nor
 * advisory locks, so:
 * - the keyspace the adapter names ({@link Database.keyspace}) is created first when absent, with
 *   its replication (`DB_CASSANDRA_REPLICATION`), and `_migrations` and `_migrations_lock` live in it;
 * - runners serialize on a lock row written by a lightweight transaction (`INSERT ... IF NOT EXISTS
 *   USING TTL`), carrying the holder's id, renewed while it works and deleted (`IF owner = ?`) when
 *   it is done; the lock of a runner that died expires after its TTL;
 * - holding the lock, a runner re-reads `_migrations` before each migration, so runners started
 *   together apply each migration exactly once;
 * - a migration is a `.cql` file of statements (split by {@link splitCqlStatements}) run one by one;
 *   each schema change waits for schema agreement (the adapter fails a change the nodes did not
 *   agree on in time). A failing statement leaves the earlier ones of that file applied (there is
 *   nothing to roll back to): the error says so, and the migration stays pending.
 */
export class CqlMigrationRunner {
  readonly #owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly #lockTtlSeconds: number;
  readonly #lockWaitMs: number;

  constructor(
    private readonly db: Database,
    private readonly sets: readonly MigrationSet[],
    private readonly sharedOwner: string,
    private readonly log: Logger | undefined,
    options: CqlMigrationOptions = {},
  ) {
    this.#lockTtlSeconds = Math.max(1, Math.round(options.lockTtlSeconds ?? 60));
    this.#lockWaitMs = (options.lockWaitSeconds ?? 300) * 1000;
  }

  private files(): MigrationFile[] {
    return this.sets.flatMap((set) => discoverCqlMigrations(set));
  }

  /** Creates the keyspace (when absent), the tracking table and the lock table. */
  private async prepare(): Promise<void> {
    const keyspace = this.db.keyspace;
    if (keyspace === undefined) {
      throw new PlatformError(
        'PH_ERR_MIGRATION',
        'The cql database adapter does not name its keyspace (Database.keyspace)',
        {
          hint: 'Use an adapter of the cql dialect that implements the host API 2.2 Database.keyspace property.',
        },
      );
    }
    await this.db.execute(`CREATE KEYSPACE IF NOT EXISTS ${keyspace.name} WITH replication = ${keyspace.replication}`);
    await this.db.execute(CQL_TRACKING_TABLE);
    await this.db.execute(CQL_LOCK_TABLE);
  }

  private async applied(): Promise<Map<string, AppliedRow>> {
    const owners = [...new Set(this.sets.map((set) => set.owner))];
    if (owners.length === 0) return new Map();
    const rows = await this.db.fetchAll<AppliedRow>(
      `SELECT owner, name, checksum, applied_at FROM "_migrations" WHERE owner IN (${owners.map(() => '?').join(', ')})`,
      owners,
    );
    return new Map(rows.map((row) => [key(row.owner, row.name), row]));
  }

  async status(): Promise<MigrationStatus[]> {
    await this.prepare();
    return this.statusOf(this.files(), await this.applied());
  }

  private statusOf(files: readonly MigrationFile[], applied: ReadonlyMap<string, AppliedRow>): MigrationStatus[] {
    const rows = [...applied.values()].map((row) => ({
      owner: row.owner,
      name: row.name,
      checksum: row.checksum,
      appliedAt: row.applied_at ?? undefined,
    }));
    return migrationStatuses(
      files,
      rows,
      this.sets.map((set) => set.owner),
    );
  }

  async up(target?: number): Promise<string[]> {
    await this.prepare();
    return this.withLock(async (stillHeld) => {
      const files = this.files();
      const applied = await this.applied();
      const changed = this.statusOf(files, applied).filter((status) => status.state === 'changed');
      if (changed.length > 0) {
        throw new PlatformError(
          'PH_ERR_MIGRATION',
          `Migration${changed.length > 1 ? 's' : ''} ${changed.map((status) => label(status, this.sharedOwner)).join(', ')} changed after being applied (checksum differs)`,
          { hint: 'Restore the applied version of the file and put the change in a new migration.' },
        );
      }
      const appliedNow: string[] = [];
      for (const file of files) {
        if (target !== undefined && file.number > target) continue;
        stillHeld();
        // Read again under the lock: a runner that held it before may have applied it.
        const done = await this.db.fetchOne('SELECT name FROM "_migrations" WHERE owner = ? AND name = ?', [
          file.owner,
          file.name,
        ]);
        if (done) continue;
        await this.runStatements(file, readFileSync(file.sourcePath, 'utf8'), 'applying');
        await this.db.execute('INSERT INTO "_migrations" (owner, name, checksum, applied_at) VALUES (?, ?, ?, ?)', [
          file.owner,
          file.name,
          file.checksum,
          new Date(),
        ]);
        appliedNow.push(label(file, this.sharedOwner));
        this.log?.info('Migration applied', { migration: file.name, owner: file.owner });
      }
      return appliedNow;
    });
  }

  async down(count = 1): Promise<string[]> {
    await this.prepare();
    return this.withLock(async (stillHeld) => {
      const files = new Map(this.files().map((file) => [key(file.owner, file.name), file]));
      const rolledBack: string[] = [];
      for (let index = 0; index < count; index += 1) {
        stillHeld();
        const newest = [...(await this.applied()).values()].sort(
          (a, b) => (b.applied_at?.getTime() ?? 0) - (a.applied_at?.getTime() ?? 0) || b.name.localeCompare(a.name),
        )[0];
        if (!newest) break;
        const name = label(newest, this.sharedOwner);
        const file = files.get(key(newest.owner, newest.name));
        if (!file)
          throw new PlatformError(
            'PH_ERR_MIGRATION',
            `Cannot roll back ${name}: its file is missing from the ${newest.owner} migrations`,
          );
        const downPath = file.sourcePath.replace(/\.cql$/, '.down.cql');
        if (!existsSync(downPath)) {
          throw new PlatformError('PH_ERR_MIGRATION', `Cannot roll back ${name}: there is no ${downPath}`, {
            hint: 'Add the statements that undo it in NNN_name.down.cql beside the migration.',
          });
        }
        await this.runStatements(file, readFileSync(downPath, 'utf8'), 'rolling back');
        await this.db.execute('DELETE FROM "_migrations" WHERE owner = ? AND name = ?', [newest.owner, newest.name]);
        rolledBack.push(name);
        this.log?.info('Migration rolled back', { migration: name });
      }
      return rolledBack;
    });
  }

  private async runStatements(file: MigrationFile, text: string, doing: string): Promise<void> {
    const statements = splitCqlStatements(text);
    for (const [index, statement] of statements.entries()) {
      try {
        await this.db.execute(statement);
      } catch (error) {
        const name = label(file, this.sharedOwner);
        throw new PlatformError(
          'PH_ERR_MIGRATION',
          `Migration ${name} failed at statement ${index + 1} of ${statements.length} while ${doing}: ${(error as Error).message}`,
          {
            cause: error,
            hint:
              index === 0
                ? 'Nothing of it was applied: fix the statement and run migrate up again.'
                : `Statements 1 to ${index} of it were applied and stay (Cassandra has no transactional DDL): write migrations with IF NOT EXISTS / IF EXISTS so that a rerun finishes them.`,
          },
        );
      }
    }
  }

  /**
   * Runs `work` holding the lock row: waits for it (polling) up to the lock wait, renews it every
   * third of its TTL while `work` runs, and deletes it afterwards. `work` calls `stillHeld()` before
   * each step; it throws when a renewal found the lock taken over (this runner stalled past the TTL).
   */
  private async withLock<T>(work: (stillHeld: () => void) => Promise<T>): Promise<T> {
    await this.acquire();
    let lost = false;
    let renewing = Promise.resolve();
    const timer = setInterval(
      () => {
        renewing = this.renew().then(
          (held) => {
            if (!held) lost = true;
          },
          (error: unknown) => this.log?.warn('Could not renew the migration lock', { error: (error as Error).message }),
        );
      },
      (this.#lockTtlSeconds * 1000) / 3,
    );
    timer.unref();
    try {
      return await work(() => {
        if (lost) {
          throw new PlatformError(
            'PH_ERR_MIGRATION',
            `The migration lock of ${this.#owner} expired and was taken by another runner; stopping`,
            { hint: 'Run migrate up again; raise the lock TTL if migrations stall this long.' },
          );
        }
      });
    } finally {
      clearInterval(timer);
      await renewing;
      await this.db
        .execute(`DELETE FROM "_migrations_lock" WHERE name = ? IF owner = ?`, [LOCK_NAME, this.#owner])
        .catch((error: unknown) =>
          this.log?.warn('Could not release the migration lock; it expires by itself', {
            error: (error as Error).message,
            ttlSeconds: this.#lockTtlSeconds,
          }),
        );
    }
  }

  private async acquire(): Promise<void> {
    const started = Date.now();
    let announced = false;
    let pause = 100;
    for (;;) {
      const taken = await this.db.execute(
        `INSERT INTO "_migrations_lock" (name, owner, acquired_at) VALUES (?, ?, ?) IF NOT EXISTS USING TTL ${this.#lockTtlSeconds}`,
        [LOCK_NAME, this.#owner, new Date()],
      );
      if (taken === 1) return;
      if (!announced) {
        const holder = await this.db.fetchOne<{ owner: string | null }>(
          'SELECT owner FROM "_migrations_lock" WHERE name = ?',
          [LOCK_NAME],
        );
        this.log?.info('Waiting for the migration lock held by another runner', {
          holder: holder?.owner ?? 'unknown',
          ttlSeconds: this.#lockTtlSeconds,
        });
        announced = true;
      }
      if (Date.now() - started > this.#lockWaitMs) {
        throw new PlatformError(
          'PH_ERR_MIGRATION',
          `Another runner held the migration lock ("_migrations_lock" in keyspace ${this.db.keyspace?.name ?? '?'}) for more than ${this.#lockWaitMs / 1000} s`,
          {
            hint: 'Wait for the other migrate to finish; the lock of a runner that died expires after its TTL.',
          },
        );
      }
      await sleep(pause + Math.random() * pause);
      pause = Math.min(pause * 2, 1000);
    }
  }

  /** Extends the lock's TTL; false when the lock is no longer this runner's. */
  private async renew(): Promise<boolean> {
    const renewed = await this.db.execute(
      `UPDATE "_migrations_lock" USING TTL ${this.#lockTtlSeconds} SET owner = ?, acquired_at = ? WHERE name = ? IF owner = ?`,
      [this.#owner, new Date(), LOCK_NAME, this.#owner],
    );
    return renewed === 1;
  }
}
