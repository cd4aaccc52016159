import { EXIT_CODES, PlatformError, REFS, type Connectable, type DatabaseDialect } from '@platform-host/contracts';
import { preflight } from '../preflight/preflight.js';
import { migrationSets, migrationsDir } from '../migrations/auto-migrate.js';
import { constructAdapters, selectAdapters } from '../wiring/wire-adapters.js';
import { createMigrationFile, MigrationRunner, SHARED_OWNER } from '../migrations/runner.js';

/** Which owner's migrations (`shared` or a module name); all of them when absent. */
interface Narrowing {
  readonly module?: string | undefined;
}

export type MigrateAction =
  | ({ action: 'up'; target?: number | undefined } & Narrowing)
  | ({ action: 'down'; count: number } & Narrowing)
  | ({ action: 'status' } & Narrowing)
  | ({ action: 'create'; name: string } & Narrowing);

/**
 * `platform-host migrate up|down|status|create` against the database chosen by `--db` and `--env`
 * (seed 5.4), over the shared migrations and every module's own (DESIGN.md decision 12), or one
 * owner's with `--module`. Builds only secrets, logging and the database.
 */
export async function migrateCommand(
  root: string,
  request: MigrateAction,
  tokens: readonly string[],
  write: (text: string) => void,
): Promise<number> {
  const pre = await preflight(root, tokens);
  if (pre.rest.length > 0) {
    throw new PlatformError(
      'PH_ERR_USAGE',
      `migrate ${request.action}: unknown argument${pre.rest.length > 1 ? 's' : ''} ${pre.rest.join(' ')}`,
      { hint: 'Run `platform-host migrate --help` for its options.' },
    );
  }
  const dir = migrationsDir(root, pre.env.values);
  if (request.action === 'create') {
    // New files go to the dialect-less source folder of the owner; modules' are postgresql here.
    const dialect: DatabaseDialect = 'postgresql';
    const [set] = migrationSets(dir, pre.registry, dialect, request.module ?? SHARED_OWNER);
    if (!set) throw new PlatformError('PH_ERR_INTERNAL', 'No migration set to create a file in');
    write(`created ${createMigrationFile(set, request.name)}\n`);
    return EXIT_CODES.OK;
  }
  const selections = selectAdapters(pre.registry, ['secrets', 'logging', 'database'], pre.options.adapterFlags);
  const { services, constructed } = await constructAdapters(selections, pre.env.values);
  const log = services.resolve(REFS.logging).child({ component: 'migrate' });
  const db = services.resolve(REFS.database);
  const connectable = constructed
    .map((a) => a.instance)
    .filter(
      (i): i is typeof i & Connectable =>
        typeof (i as Partial<Connectable>).connect === 'function' && i !== services.resolve(REFS.secrets),
    );
  try {
    for (const instance of connectable) await instance.connect();
    const runner = new MigrationRunner(db, migrationSets(dir, pre.registry, db.dialect, request.module), log);
    if (request.action === 'up') {
      const applied = await runner.up(request.target);
      write(
        applied.length === 0
          ? 'nothing to apply: the database is up to date\n'
          : `applied ${applied.length}: ${applied.join(', ')}\n`,
      );
    } else if (request.action === 'down') {
      const rolled = await runner.down(request.count);
      write(rolled.length === 0 ? 'nothing to roll back\n' : `rolled back ${rolled.length}: ${rolled.join(', ')}\n`);
    } else {
      const statuses = await runner.status();
      const ownerWidth = Math.max(5, ...statuses.map((s) => s.owner.length));
      const width = Math.max(10, ...statuses.map((s) => s.name.length));
      write(`${'OWNER'.padEnd(ownerWidth + 2)}${'MIGRATION'.padEnd(width + 2)}${'STATE'.padEnd(10)}APPLIED AT\n`);
      for (const s of statuses)
        write(
          `${s.owner.padEnd(ownerWidth + 2)}${s.name.padEnd(width + 2)}${s.state.padEnd(10)}${s.appliedAt?.toISOString() ?? '-'}\n`,
        );
      if (statuses.length === 0) write('(no migrations found)\n');
    }
    return EXIT_CODES.OK;
  } finally {
    for (const instance of connectable.reverse()) await instance.disconnect().catch(() => undefined);
    await services.resolve(REFS.logging).flush();
  }
}
