import type { Argv } from 'yargs';
import {
  DATABASE_DIALECTS,
  EXIT_CODES,
  HOST_API_VERSION,
  PlatformError,
  type DatabaseDialect,
} from '@platform-host/contracts';
import { findProjectRoot } from '../project/project-root.js';
import { formatError } from './format-error.js';
import { GLOBAL_FLAGS } from '../options/global-flags.js';
import type { MigrateAction } from '../commands/migrate.js';

/** Where commands write; tests capture it. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

const defaultIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

async function loadRegistry(root: string) {
  const { discoverPlugins } = await import('../discovery/discover.js');
  const { buildRegistry } = await import('../discovery/registry.js');
  return buildRegistry(await discoverPlugins({ root, pluginPath: process.env.PLATFORM_PLUGIN_PATH }));
}

function withGlobalFlags<T>(argv: Argv<T>): Argv<T> {
  for (const flag of GLOBAL_FLAGS) {
    argv.option(flag.name, {
      type: flag.type === 'integer' ? 'number' : flag.type,
      describe: `${flag.description} [${flag.env}]`,
    });
  }
  return argv;
}

/**
 * Runs the CLI and returns the exit code. `run` is parsed by the host itself (its arguments come
 * from the module's manifest, and `run <module> --help` is generated from it); every other command
 * goes through yargs.
 */
export async function main(argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  const root = findProjectRoot();
  const verbose = argv.includes('--verbose') || process.env.PLATFORM_VERBOSE === 'true';
  try {
    if (argv[0] === 'run' && argv[1] !== undefined && !argv[1].startsWith('-')) {
      const { runModule } = await import('../run/run-module.js');
      return await runModule({ root, moduleName: argv[1], tokens: argv.slice(2), write: io.stdout });
    }
    const listing = fastPluginsCommand(argv);
    if (listing) {
      const registry = await loadRegistry(root);
      const { renderPluginInspect, renderPluginList } = await import('../commands/plugins.js');
      io.stdout(
        listing.name === undefined
          ? renderPluginList(registry, root, listing.json)
          : renderPluginInspect(registry, root, listing.name, listing.json),
      );
      return EXIT_CODES.OK;
    }
    return await runYargs(root, argv, io);
  } catch (error) {
    const { text, exitCode } = formatError(error, verbose);
    io.stderr(text);
    return exitCode;
  }
}

/**
 * `plugins list [--json]` and `plugins inspect <name> [--json]` in their plain forms skip yargs:
 * listing must stay fast with many plugins, and yargs alone costs more than node's own startup.
 * Any other spelling (help, unknown options) goes through yargs.
 */
function fastPluginsCommand(argv: readonly string[]): { name: string | undefined; json: boolean } | undefined {
  if (argv[0] !== 'plugins') return undefined;
  const rest = argv.slice(2).filter((token) => token !== '--json');
  const json = argv.length - 2 !== rest.length;
  if (argv[1] === 'list' && rest.length === 0) return { name: undefined, json };
  if (argv[1] === 'inspect' && rest.length === 1 && !rest[0]?.startsWith('-')) return { name: rest[0], json };
  return undefined;
}

async function runYargs(root: string, argv: readonly string[], io: CliIo): Promise<number> {
  const { default: yargs } = await import('yargs');
  // yargs does not wait for an asynchronous completion callback, so plugin names are loaded first.
  const completionRegistry = argv.includes('--get-yargs-completions') ? await loadRegistry(root) : undefined;
  let exitCode: number = EXIT_CODES.OK;
  let failure: unknown;
  let suggestion: string | undefined;
  const guard = (work: () => Promise<number>) => async (): Promise<void> => {
    try {
      exitCode = await work();
    } catch (error) {
      failure = error;
    }
  };
  const parser = yargs([...argv])
    .scriptName('platform-host')
    .usage(
      '$0 <command> [options]\n\nA plugin-host runtime for data platforms: discovers module and adapter packages, wires one backend per interface by flag, and runs modules with a production lifecycle.',
    )
    .version(`host API ${HOST_API_VERSION}`)
    .command('plugins', 'List and inspect discovered modules and adapters', (y) =>
      y
        .command(
          'list',
          'Every discovered module and adapter (reads manifests only; imports no plugin code)',
          (c) => c.option('json', { type: 'boolean', default: false, describe: 'Print JSON' }),
          (args) =>
            guard(async () => {
              const { renderPluginList } = await import('../commands/plugins.js');
              io.stdout(renderPluginList(await loadRegistry(root), root, args.json));
              return EXIT_CODES.OK;
            })(),
        )
        .command(
          'inspect <name>',
          'Everything about one plugin: manifest, location, problems',
          (c) =>
            c
              .positional('name', { type: 'string', demandOption: true })
              .option('json', { type: 'boolean', default: false }),
          (args) =>
            guard(async () => {
              const { renderPluginInspect } = await import('../commands/plugins.js');
              io.stdout(renderPluginInspect(await loadRegistry(root), root, args.name, args.json));
              return EXIT_CODES.OK;
            })(),
        )
        .demandCommand(1, 'Choose: plugins list | plugins inspect <name>'),
    )
    .command(
      'run <module> [args..]',
      'Run a module: platform-host run <module> [global flags] [module args]; run <module> --help for its arguments',
      (y) => withGlobalFlags(y.positional('module', { type: 'string', demandOption: true })),
    )
    .command(
      'doctor [module]',
      'Preflight: manifests, compatibility, adapter per flag, required config (names only), arguments. Runs nothing. Exit 0 when the run would start, 2 otherwise',
      (y) => withGlobalFlags(y.positional('module', { type: 'string' })).strict(false),
      (args) =>
        guard(async () => {
          const { doctor } = await import('../commands/doctor.js');
          const after = argv.slice(argv.indexOf('doctor') + 1);
          // Only the positional module name goes: a flag value may spell the same word (--cache x for module x).
          const position = args.module === undefined ? -1 : after.indexOf(args.module);
          const tokens = position === -1 ? after : [...after.slice(0, position), ...after.slice(position + 1)];
          const result = await doctor(root, args.module, tokens);
          io.stdout(result.text);
          return result.exitCode;
        })(),
    )
    .command('migrate', 'Database migrations (--db, --env select the database)', (y) =>
      withGlobalFlags(y)
        .option('module', {
          type: 'string',
          describe: 'Only this owner: a module name, or "shared" (default: shared and every module)',
        })
        .command(
          'up',
          'Apply pending migrations',
          (c) =>
            c.option('target', { type: 'string', describe: 'Apply up to this migration number (a positive integer)' }),
          (args) =>
            guard(() =>
              migrate(
                root,
                { action: 'up', target: optionalCount('--target', args.target), module: args.module },
                argv,
                io,
              ),
            )(),
        )
        .command(
          'down',
          'Roll back the last migrations',
          (c) =>
            c.option('count', { type: 'string', default: '1', describe: 'How many to roll back (a positive integer)' }),
          (args) =>
            guard(() =>
              migrate(
                root,
                { action: 'down', count: optionalCount('--count', args.count) ?? 1, module: args.module },
                argv,
                io,
              ),
            )(),
        )
        .command(
          'status',
          'Show applied, pending and changed migrations',
          (c) => c,
          (args) => guard(() => migrate(root, { action: 'status', module: args.module }, argv, io))(),
        )
        .command(
          'create <name>',
          'Create migrations/src/NNN_<name>.ts, or with --dialect cql migrations/src/cql/NNN_<name>.cql and .down.cql (with --module: in that module)',
          (c) =>
            c.positional('name', { type: 'string', demandOption: true }).option('dialect', {
              type: 'string',
              describe: `The dialect of the migration: ${DATABASE_DIALECTS.join(' or ')} (default postgresql: a .ts file; cql: .cql files)`,
            }),
          (args) =>
            guard(() =>
              migrate(
                root,
                { action: 'create', name: args.name, dialect: optionalDialect(args.dialect), module: args.module },
                argv,
                io,
              ),
            )(),
        )
        .demandCommand(1, 'Choose: migrate up | down | status | create <name>'),
    )
    .command('new', 'Scaffold a plugin', (y) =>
      y
        .command(
          'module <name>',
          'A module workspace under plugins/ with manifest, entry and a passing test',
          (c) =>
            c
              .positional('name', { type: 'string', demandOption: true })
              .option('type', { choices: ['job', 'service', 'worker'] as const, default: 'job' as const }),
          (args) =>
            guard(async () => {
              const { scaffoldModule } = await import('../scaffold/scaffold.js');
              io.stdout(scaffoldModule(root, args.name, args.type));
              return EXIT_CODES.OK;
            })(),
        )
        .command(
          'adapter <interface> <flag>',
          'An adapter workspace under adapters/ with manifest, entry and a passing test',
          (c) =>
            c
              .positional('interface', { type: 'string', demandOption: true })
              .positional('flag', { type: 'string', demandOption: true }),
          (args) =>
            guard(async () => {
              const { scaffoldAdapter } = await import('../scaffold/scaffold.js');
              io.stdout(scaffoldAdapter(root, args.interface, args.flag));
              return EXIT_CODES.OK;
            })(),
        )
        .demandCommand(1, 'Choose: new module <name> | new adapter <interface> <flag>'),
    )
    .completion(
      'completion',
      'Print a bash/zsh completion script (source it from your shell rc)',
      (
        current: string,
        args: { _: Array<string | number> },
        defaultCompletion: () => void,
        done: (completions: string[]) => void,
      ) => {
        const words = args._.map(String);
        const previous = words.at(-2) ?? '';
        if (completionRegistry && ['run', 'doctor', 'inspect'].includes(previous)) {
          const names =
            previous === 'inspect'
              ? completionRegistry.records.map((r) => r.name)
              : [...completionRegistry.modules.keys()];
          done(names.filter((name) => name.startsWith(current)).sort());
          return;
        }
        defaultCompletion();
      },
    )
    .demandCommand(1, 'Choose a command; --help lists them')
    .strictCommands()
    .recommendCommands()
    .wrap(process.stdout.isTTY ? Math.min(120, process.stdout.columns) : null)
    .fail((message, error) => {
      // recommendCommands reports its suggestion first; the unknown command's own failure follows.
      if (error === undefined && message?.startsWith('Did you mean') === true) {
        suggestion = message;
        return;
      }
      failure =
        error ??
        new PlatformError('PH_ERR_USAGE', message ?? 'invalid command line', {
          hint:
            suggestion === undefined ? 'Run `platform-host --help`.' : `${suggestion} Run \`platform-host --help\`.`,
        });
      // Thrown, not only recorded: yargs would otherwise go on to run the command's handler with
      // the invalid values (a `new module --type bogus` was scaffolded before its usage error).
      throw failure;
    })
    .exitProcess(false)
    .help();
  await parser.parseAsync().catch((error: unknown) => {
    failure ??= error;
  });
  if (failure !== undefined)
    throw failure instanceof Error ? failure : new PlatformError('PH_ERR_USAGE', 'invalid command line');
  return exitCode;
}

/**
 * A `--target` / `--count` value: a positive integer written in digits, else a usage error (exit 2)
 * before anything is changed — `abc`, `2abc`, `1.5`, `0` and `-1` are all refused.
 */
function optionalCount(flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const value = /^[1-9]\d*$/.test(String(raw).trim()) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value)) {
    throw new PlatformError('PH_ERR_USAGE', `${flag} must be a positive integer, got "${String(raw)}"`);
  }
  return value;
}

/**
 * A `--dialect` value of `migrate create`: one of {@link DATABASE_DIALECTS}, else a usage error
 * (exit 2) before any file is written.
 */
function optionalDialect(raw: string | undefined): DatabaseDialect | undefined {
  if (raw === undefined) return undefined;
  const dialect = DATABASE_DIALECTS.find((known) => known === raw);
  if (dialect === undefined) {
    throw new PlatformError(
      'PH_ERR_USAGE',
      `--dialect must be ${DATABASE_DIALECTS.join(' or ')}, got "${String(raw)}"`,
    );
  }
  return dialect;
}

async function migrate(root: string, request: MigrateAction, argv: readonly string[], io: CliIo): Promise<number> {
  if (request.action === 'create' && (typeof request.name !== 'string' || request.name.trim() === '')) {
    throw new PlatformError('PH_ERR_USAGE', 'migrate create needs a name: platform-host migrate create <name>');
  }
  const { migrateCommand } = await import('../commands/migrate.js');
  const start = argv.indexOf(request.action) + 1;
  const tokens = argv
    .slice(start)
    .filter(
      (token, index, all) =>
        !(request.action === 'create' && token === request.name) &&
        !/^--(target|count|module)(=|$)/.test(token) &&
        !/^--(target|count|module)$/.test(all[index - 1] ?? '') &&
        !(request.action === 'create' && /^--dialect(=|$)/.test(token)) &&
        !(request.action === 'create' && all[index - 1] === '--dialect'),
    );
  return migrateCommand(root, request, tokens, io.stdout);
}
