import { join } from 'node:path';
import type { Database, Logger } from '@platform-host/contracts';
import type { GlobalOptions } from '../cli/split-argv.js';
import { MigrationRunner } from '../migrations/runner.js';

/** `--auto-migrate` defaults to on for local and test, off elsewhere (seed 5.5). */
export function autoMigrateEnabled(options: GlobalOptions): boolean {
  return options.autoMigrate ?? (options.env === 'local' || options.env === 'test');
}

/** The migrations folder: `PLATFORM_MIGRATIONS_DIR` or `<root>/migrations`. */
export function migrationsDir(root: string, env: Readonly<Record<string, string | undefined>>): string {
  return env.PLATFORM_MIGRATIONS_DIR ?? join(root, 'migrations');
}

/** Applies pending migrations before the module starts, when enabled. */
export async function runAutoMigrations(db: Database, options: GlobalOptions, dir: string, log: Logger): Promise<void> {
  if (!autoMigrateEnabled(options)) return;
  const applied = await new MigrationRunner(db, dir, log).up();
  log.info('Auto-migrate done', { applied: applied.length });
}
