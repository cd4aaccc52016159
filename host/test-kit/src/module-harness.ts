import { readFileSync } from 'node:fs';
import { delimiter, dirname, join, relative } from 'node:path';
import {
  createModuleConfig,
  findProjectRoot,
  prepareRun,
  requireValidArgs,
  runModule,
  validateModuleArgs,
  type ModuleRun,
} from '@platform-host/runtime';
import { moduleManifestSchema } from '@platform-host/contracts/manifest-schemas';
import type { InterfaceName, Logger, ModuleConfig, PlatformContext } from '@platform-host/contracts';

/**
 * The {@link ModuleConfig} a module's `run()` would receive for `args` (as on the command line):
 * validated against its module.json by the host's own rules (types, formats, choices, defaults).
 * Throws `PH_ERR_ARGS_INVALID` as the host would.
 */
export function moduleConfigForTest(moduleDir: string, args: readonly string[]): ModuleConfig {
  const manifest = moduleManifestSchema.parse(JSON.parse(readFileSync(join(moduleDir, 'module.json'), 'utf8')));
  return createModuleConfig(manifest.name, requireValidArgs(manifest, validateModuleArgs(manifest, args)));
}

/** The global flags a module test runs with; defaults are the embedded adapters. */
export interface TestFlags {
  readonly db?: string;
  readonly fs?: string;
  readonly cache?: string;
  readonly mq?: string;
  readonly log?: string;
  readonly metrics?: string;
  readonly secrets?: string;
}

export interface ModuleTestOptions {
  /** The module's folder (where module.json is). */
  readonly moduleDir: string;
  /** Module arguments, as on the command line. */
  readonly args?: readonly string[];
  readonly flags?: TestFlags;
  /** Extra environment for this run (config keys of adapters); `process.env` is not modified. */
  readonly env?: Readonly<Record<string, string>>;
}

const EMBEDDED: Required<TestFlags> = {
  db: 'memory',
  fs: 'memory',
  cache: 'memory',
  mq: 'memory',
  log: 'memory',
  metrics: 'memory',
  secrets: 'env',
};

interface KeptLogs {
  lines(): string[];
}

function moduleName(moduleDir: string): string {
  return (JSON.parse(readFileSync(join(moduleDir, 'module.json'), 'utf8')) as { name: string }).name;
}

function runOptions(options: ModuleTestOptions): {
  root: string;
  moduleName: string;
  tokens: string[];
  processEnv: NodeJS.ProcessEnv;
} {
  const root = findProjectRoot(options.moduleDir);
  const flags = { ...EMBEDDED, ...options.flags };
  const insideProject = !relative(join(root, 'plugins'), options.moduleDir).startsWith('..');
  const processEnv: NodeJS.ProcessEnv = { ...process.env, PLATFORM_ENV: 'test', ...options.env };
  if (!insideProject)
    processEnv.PLATFORM_PLUGIN_PATH = [dirname(options.moduleDir), processEnv.PLATFORM_PLUGIN_PATH]
      .filter(Boolean)
      .join(delimiter);
  const tokens = [
    ...Object.entries(flags).flatMap(([flag, value]) => [`--${flag}`, value]),
    '--env',
    'test',
    '--health-port',
    '0',
    ...(options.args ?? []),
  ];
  return { root, moduleName: moduleName(options.moduleDir), tokens, processEnv };
}

function logLines(logger: Logger): string[] {
  const kept = logger as Partial<KeptLogs>;
  return typeof kept.lines === 'function' ? kept.lines() : [];
}

/** A module prepared and connected with the host's real wiring, for tests that call `run(ctx)` themselves. */
export interface StartedModule {
  readonly run: ModuleRun;
  /** The context `run()` would receive. */
  readonly ctx: PlatformContext<InterfaceName>;
  /** What was logged so far (with `--log memory`), one line per entry. */
  logs(): string[];
  /** Shutdown hooks, disconnect, flush. */
  close(): Promise<void>;
}

/**
 * Prepares and connects a module exactly as `platform-host run` does (discovery, manifests,
 * argument validation, adapters by flag, migrations with --env test), on embedded adapters by default.
 */
export async function startModuleForTest(options: ModuleTestOptions): Promise<StartedModule> {
  const prepared = await prepareRun(runOptions(options));
  if ('help' in prepared) throw new Error('startModuleForTest: --help is not a run');
  await prepared.start();
  const logger = prepared.log;
  return {
    run: prepared,
    ctx: prepared.context(),
    logs: () => logLines(logger),
    close: async () => {
      await prepared.close();
      await prepared.flushLogs();
    },
  };
}

/**
 * Runs a module through the full lifecycle (as `platform-host run`) and returns its exit code and
 * logs. `stopAfterStart` requests shutdown as soon as the module has started (services, workers).
 */
export async function runModuleForTest(
  options: ModuleTestOptions & { readonly stopAfterStart?: boolean },
): Promise<{ exitCode: number; logs: string[] }> {
  let run: ModuleRun | undefined;
  const exitCode = await runModule({
    ...runOptions(options),
    handleSignals: false,
    write: () => undefined,
    onPrepared: (prepared) => {
      run = prepared;
    },
    onHealthListening: () => {
      if (options.stopAfterStart) setImmediate(() => run?.requestShutdown('test finished'));
    },
  });
  return { exitCode, logs: run ? logLines(run.log) : [] };
}
