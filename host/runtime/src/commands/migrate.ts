import {
  EXIT_CODES,
  PlatformError,
  REFS,
  type Connectable,
  type DatabaseDialect,
  type Logger,
} from '@platform-host/contracts';
import { runWithDeadline } from '../lifecycle/shutdown.js';
import { preflight } from '../preflight/preflight.js';
import { cqlMigrationOptions, migrationSets, migrationsDir } from '../migrations/auto-migrate.js';
import { connectAdapter, isConnectable } from '../wiring/connect-adapter.js';
import { constructAdapters, selectAdapters, type ConstructedAdapter } from '../wiring/wire-adapters.js';
import { createMigrationFile, MigrationRunner, SHARED_OWNER } from '../migrations/runner.js';

const SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/** Which owner's migrations (`shared` or a module name); all of them when absent. */
interface Narrowing {
  readonly module?: string | undefined;
}

export type MigrateAction =
  | ({ action: 'up'; target?: number | undefined } & Narrowing)
  | ({ action: 'down'; count: number } & Narrowing)
  | ({ action: 'status' } & Narrowing)
  | ({ action: 'create'; name: string; dialect?: DatabaseDialect | undefined } & Narrowing);

/**
 * `platform-host migrate up|down|status|create` against the database chosen by `--db` and `--env`
 * (seed 5.4), over the shared migrations and every module's own (DESIGN.md decision 12), or one
 * owner's with `--module`. Builds only secrets, logging and the database, connects the database
 * within `--connect-timeout` (`PH_ERR_CONNECT`, exit 1, naming the adapter). SIGTERM/SIGINT while
 * connecting or migrating ends it: the step in progress gets `--hook-timeout`, then the database is
 * disconnected, exit 1; a second signal exits 1 at once.
 */
export async function migrateCommand(
  root: string,
  request: MigrateAction,
  tokens: readonly string[],
  write: (text: string) => void,
): Promise<number> {
  const signals = interruptingSignals();
  try {
    return await migrate(root, request, tokens, write, signals);
  } finally {
    signals.remove();
  }
}

async function migrate(
  root: string,
  request: MigrateAction,
  tokens: readonly string[],
  write: (text: string) => void,
  signals: InterruptingSignals,
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
    // New files go to the source folder of the owner's set for that dialect (postgresql by default).
    const dialect: DatabaseDialect = request.dialect ?? 'postgresql';
    const [set] = migrationSets(dir, pre.registry, dialect, request.module ?? SHARED_OWNER);
    if (!set) throw new PlatformError('PH_ERR_INTERNAL', 'No migration set to create a file in');
    for (const file of createMigrationFile(set, request.name, dialect)) write(`created ${file}\n`);
    return EXIT_CODES.OK;
  }
  const cqlOptions = cqlMigrationOptions(pre.env.values);
  const selections = selectAdapters(pre.registry, ['secrets', 'logging', 'database'], pre.options.adapterFlags);
  const connectTimeoutMs = pre.options.connectTimeoutSeconds * 1000;
  const hookTimeoutMs = pre.options.hookTimeoutSeconds * 1000;
  const { services, constructed } = await constructAdapters(selections, pre.env.values, connectTimeoutMs);
  const log = services.resolve(REFS.logging).child({ component: 'migrate' });
  const db = services.resolve(REFS.database);
  const toConnect = constructed.filter((a) => a.interface !== 'secrets' && isConnectable(a.instance));
  // The secrets provider was connected while the adapters were constructed: disconnected last.
  const connected: ConstructedAdapter[] = constructed.filter(
    (a) => a.interface === 'secrets' && isConnectable(a.instance),
  );
  signals.log = log;
  const work = async (): Promise<number> => {
    for (const adapter of toConnect) {
      // Listed first, so one whose connect fails or is cut short is disconnected too.
      connected.push(adapter);
      await connectAdapter(adapter, connectTimeoutMs);
    }
    const runner = new MigrationRunner(
      db,
      migrationSets(dir, pre.registry, db.dialect, request.module),
      log,
      cqlOptions,
    );
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
  };
  // A signal before anything connected: nothing to wait for.
  const working = signals.signal === undefined ? work() : Promise.resolve(EXIT_CODES.FAILURE);
  try {
    const first = await Promise.race([working, signals.received]);
    if (typeof first === 'number') return first;
    // A signal while connecting or migrating: the step in progress gets --hook-timeout, then the
    // database is disconnected (a migration still running is rolled back: each is one transaction).
    const unfinished = await runWithDeadline(
      { name: `migrate ${request.action} in progress`, run: () => working },
      hookTimeoutMs,
    );
    log.error(`migrate ${request.action} interrupted by a signal: exit 1`, {
      signal: first.signal,
      ...(unfinished ? { error: unfinished } : {}),
    });
    return EXIT_CODES.FAILURE;
  } finally {
    for (const adapter of connected.reverse()) {
      await runWithDeadline(
        {
          name: `disconnect ${adapter.interface} adapter ${adapter.record.name}`,
          run: () => (adapter.instance as Connectable).disconnect(),
        },
        hookTimeoutMs,
      );
    }
    await runWithDeadline({ name: 'log flush', run: () => services.resolve(REFS.logging).flush() }, hookTimeoutMs);
  }
}

/** The signal handlers of one migrate command; see {@link interruptingSignals}. */
interface InterruptingSignals {
  /** Resolves with the first SIGTERM/SIGINT. */
  readonly received: Promise<{ signal: NodeJS.Signals }>;
  /** The first signal, once one arrived. */
  readonly signal: NodeJS.Signals | undefined;
  /** Where the first signal is logged, once there is a logger. */
  log: Logger | undefined;
  remove(): void;
}

/**
 * SIGTERM/SIGINT handlers for the whole of one migrate command (the host installs them once per
 * command, as `run` does): the first signal resolves `received`; a second one exits 1 at once.
 */
function interruptingSignals(): InterruptingSignals {
  let resolve: (value: { signal: NodeJS.Signals }) => void = () => undefined;
  const handlers: InterruptingSignals & { signal: NodeJS.Signals | undefined } = {
    received: new Promise<{ signal: NodeJS.Signals }>((r) => {
      resolve = r;
    }),
    signal: undefined,
    log: undefined,
    remove: () => {
      for (const signal of SIGNALS) process.off(signal, onSignal);
    },
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (handlers.signal !== undefined) {
      process.stderr.write(`Second signal (${signal}) during migrate: exiting now\n`);
      process.exit(EXIT_CODES.FAILURE);
    }
    handlers.signal = signal;
    handlers.log?.info('Signal received: stopping migrate', { signal });
    resolve({ signal });
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  return handlers;
}
