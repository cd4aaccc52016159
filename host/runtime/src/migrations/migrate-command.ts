import { EXIT_CODES, REFS, type Connectable } from '@platform-host/contracts';
import { preflight } from '../run/run-context.js';
import { migrationsDir } from '../run/auto-migrate.js';
import { constructAdapters, selectAdapters } from '../wiring/wire-adapters.js';
import { createMigrationFile, MigrationRunner } from './runner.js';

export type MigrateAction =
  | { action: 'up'; target?: number | undefined }
  | { action: 'down'; count: number }
  | { action: 'status' }
  | { action: 'create'; name: string };

/**
 * `platform-host migrate up|down|status|create` against the database chosen by `--db` and `--env`
 * (seed 5.4). Builds only secrets, logging and the database.
 */
export async function migrateCommand(
  root: string,
  request: MigrateAction,
  tokens: readonly string[],
  write: (text: string) => void,
): Promise<number> {
  const pre = await preflight(root, tokens);
  const dir = migrationsDir(root, pre.env.values);
  if (request.action === 'create') {
    write(`created ${createMigrationFile(dir, request.name)}\n`);
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
    const runner = new MigrationRunner(db, dir, log);
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
      const width = Math.max(10, ...statuses.map((s) => s.name.length));
      write(`${'MIGRATION'.padEnd(width + 2)}${'STATE'.padEnd(10)}APPLIED AT\n`);
      for (const s of statuses)
        write(`${s.name.padEnd(width + 2)}${s.state.padEnd(10)}${s.appliedAt?.toISOString() ?? '-'}\n`);
      if (statuses.length === 0) write('(no migrations found)\n');
    }
    return EXIT_CODES.OK;
  } finally {
    for (const instance of connectable.reverse()) await instance.disconnect().catch(() => undefined);
    await services.resolve(REFS.logging).flush();
  }
}
