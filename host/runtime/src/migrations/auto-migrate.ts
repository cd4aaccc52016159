import { join } from 'node:path';
import { PlatformError, type Database, type DatabaseDialect, type Logger } from '@platform-host/contracts';
import type { GlobalOptions } from '../options/split-argv.js';
import type { ModuleRecord } from '../discovery/plugin-record.js';
import type { PluginRegistry } from '../discovery/registry.js';
import {
  MigrationRunner,
  moduleMigrationSet,
  sharedMigrationSet,
  SHARED_OWNER,
  type CqlMigrationOptions,
  type MigrationSet,
} from './runner.js';

/** `--auto-migrate` defaults to on for local and test, off elsewhere (seed 5.5). */
export function autoMigrateEnabled(options: GlobalOptions): boolean {
  return options.autoMigrate ?? (options.env === 'local' || options.env === 'test');
}

/** The shared migrations folder: `PLATFORM_MIGRATIONS_DIR` or `<root>/migrations`. */
export function migrationsDir(root: string, env: Readonly<Record<string, string | undefined>>): string {
  return env.PLATFORM_MIGRATIONS_DIR ?? join(root, 'migrations');
}

/**
 * Options of the cql runner from the environment: `PLATFORM_MIGRATION_LOCK_TTL`, the seconds a
 * migration lock lives without renewal (default 60). Anything but a positive integer is
 * `PH_ERR_CONFIG_INVALID`.
 */
export function cqlMigrationOptions(env: Readonly<Record<string, string | undefined>>): CqlMigrationOptions {
  const text = env.PLATFORM_MIGRATION_LOCK_TTL;
  if (text === undefined || text === '') return {};
  const seconds = Number(text);
  if (!Number.isSafeInteger(seconds) || seconds < 1) {
    throw new PlatformError(
      'PH_ERR_CONFIG_INVALID',
      'PLATFORM_MIGRATION_LOCK_TTL must be a whole number of seconds of at least 1',
      {
        hint: 'Unset it for the default of 60 s.',
      },
    );
  }
  return { lockTtlSeconds: seconds };
}

/** The migration set of one module for `dialect`, or `undefined` when it ships none. */
export function migrationSetOf(record: ModuleRecord, dialect: DatabaseDialect): MigrationSet | undefined {
  const folder = record.manifest?.migrations?.[dialect];
  return folder === undefined ? undefined : moduleMigrationSet(record.name, record.dir, folder);
}

/**
 * The migration sets `migrate` works on: the shared set, then every usable module's for `dialect`
 * (sorted by name); `only` narrows to one owner (`shared` or a module name), with a clear error for
 * an unknown one.
 */
export function migrationSets(
  sharedDir: string,
  registry: PluginRegistry,
  dialect: DatabaseDialect,
  only?: string,
): MigrationSet[] {
  const modules = [...registry.modules.values()]
    .filter((record) => record.problems.length === 0)
    .sort((a, b) => a.name.localeCompare(b.name));
  if (only !== undefined && only !== SHARED_OWNER) {
    const record = modules.find((candidate) => candidate.name === only);
    if (!record) {
      throw new PlatformError('PH_ERR_MODULE_NOT_FOUND', `--module ${only}: no usable module has that name`, {
        hint: 'Run `platform-host plugins list` to see every module; use --module shared for the shared migrations.',
      });
    }
    const set = migrationSetOf(record, dialect);
    if (!set) {
      throw new PlatformError('PH_ERR_MIGRATION', `--module ${only}: the module ships no ${dialect} migrations`);
    }
    return [set];
  }
  const shared = sharedMigrationSet(sharedDir, dialect);
  if (only === SHARED_OWNER) return [shared];
  return [shared, ...modules.flatMap((record) => migrationSetOf(record, dialect) ?? [])];
}

/** Applies the shared migrations and the running module's own before it starts, when enabled. */
export async function runAutoMigrations(
  db: Database,
  options: GlobalOptions,
  sharedDir: string,
  record: ModuleRecord,
  log: Logger,
): Promise<void> {
  if (!autoMigrateEnabled(options)) return;
  const own = migrationSetOf(record, db.dialect);
  const applied = await new MigrationRunner(
    db,
    [sharedMigrationSet(sharedDir, db.dialect), ...(own ? [own] : [])],
    log,
  ).up();
  log.info('Auto-migrate done', { applied: applied.length });
}
