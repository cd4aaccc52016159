import {
  EXIT_CODES,
  PlatformError,
  REFS,
  type ArgValue,
  type Connectable,
  type HealthCheckable,
  type InterfaceName,
  type Logger,
  type ModuleDefinition,
  type ModuleManifest,
  type PlatformContext,
} from '@platform-host/contracts';
import { createModuleConfig, requireValidArgs, validateModuleArgs } from '../args/module-args.js';
import type { HealthTarget } from '../health/health-server.js';
import { HostLifecycle } from '../lifecycle/host-lifecycle.js';
import type { ModuleRecord } from '../discovery/plugin-record.js';
import { loadModuleEntry } from '../wiring/load-entry.js';
import type { ServiceContainer } from '../wiring/service-container.js';
import type { ConstructedAdapter } from '../wiring/wire-adapters.js';
import { migrationsDir, runAutoMigrations } from '../migrations/auto-migrate.js';
import { renderModuleHelp } from './module-help.js';
import { findModule, preflight, type Preflight } from '../preflight/preflight.js';

/** Options of {@link prepareRun}. */
export interface PrepareRunOptions {
  readonly root: string;
  readonly moduleName: string;
  /** Tokens after the module name: global flags and module arguments. */
  readonly tokens: readonly string[];
  readonly processEnv?: NodeJS.ProcessEnv;
}

function isConnectable(value: unknown): value is Connectable {
  return (
    typeof (value as Partial<Connectable>).connect === 'function' &&
    typeof (value as Partial<Connectable>).disconnect === 'function'
  );
}

/**
 * A module run after validation and construction, before `run()`: the pieces the lifecycle
 * orchestrates. Used by `platform-host run` and by the test kit, so tests exercise the same wiring.
 */
export class ModuleRun {
  readonly lifecycle = new HostLifecycle();
  /** The module's logger (bound to its name); `ctx.log` is this logger. */
  readonly moduleLog: Logger;
  /** The host's own logger for this run (module name plus `component: host`). */
  readonly log: Logger;
  private readonly connected: ConstructedAdapter[] = [];
  private resolveShutdown: (reason: string) => void = () => {};
  /** Resolves with the reason once shutdown is requested (signal or {@link ModuleRun.requestShutdown}). */
  readonly shutdownRequested = new Promise<string>((resolve) => {
    this.resolveShutdown = resolve;
  });

  constructor(
    readonly pre: Preflight,
    readonly manifest: ModuleManifest,
    readonly definition: ModuleDefinition,
    readonly args: ReadonlyMap<string, ArgValue>,
    readonly services: ServiceContainer,
    readonly constructed: readonly ConstructedAdapter[],
    readonly record: ModuleRecord,
  ) {
    this.moduleLog = services.resolve(REFS.logging).child({ module: manifest.name });
    this.log = this.moduleLog.child({ component: 'host' });
  }

  /** Connects every adapter (secrets already are), then applies migrations when enabled. */
  async start(): Promise<void> {
    for (const adapter of this.constructed) {
      if (adapter.interface === 'secrets' || !isConnectable(adapter.instance)) continue;
      try {
        await adapter.instance.connect();
        this.connected.push(adapter);
      } catch (error) {
        throw new PlatformError(
          'PH_ERR_MODULE_FAILED',
          `Cannot connect ${adapter.interface} adapter ${adapter.record.name} (--${REFS[adapter.interface].flag} ${adapter.flag}): ${(error as Error).message}`,
          {
            cause: error,
            exitCode: EXIT_CODES.FAILURE,
          },
        );
      }
    }
    if (this.manifest.dependencies.interfaces.includes('database')) {
      await runAutoMigrations(
        this.services.resolve(REFS.database),
        this.pre.options,
        migrationsDir(this.pre.root, this.pre.env.values),
        this.record,
        this.log,
      );
    }
  }

  /** The context `run()` receives: only the declared interfaces, plus config, lifecycle, module. */
  context(): PlatformContext<InterfaceName> {
    const context: Record<string, unknown> = {
      config: createModuleConfig(this.manifest.name, this.args),
      lifecycle: this.lifecycle,
      module: {
        name: this.manifest.name,
        version: this.manifest.version,
        type: this.manifest.type,
        env: this.pre.options.env,
      },
    };
    for (const name of this.manifest.dependencies.interfaces) {
      context[REFS[name].contextKey] = name === 'logging' ? this.moduleLog : this.services.resolve(REFS[name]);
    }
    return Object.freeze(context) as PlatformContext<InterfaceName>;
  }

  /** Adapters with a health check, for the readiness probe. */
  healthTargets(): HealthTarget[] {
    return this.constructed
      .filter((adapter) => typeof (adapter.instance as Partial<HealthCheckable>).healthCheck === 'function')
      .map((adapter) => ({
        interface: adapter.interface,
        adapter: adapter.record.name,
        check: () => (adapter.instance as HealthCheckable).healthCheck(),
      }));
  }

  /** Turns readiness off, aborts `ctx.lifecycle.signal` and wakes whoever awaits {@link shutdownRequested}. */
  requestShutdown(reason: string): void {
    this.lifecycle.beginShutdown(reason);
    this.resolveShutdown(reason);
  }

  /**
   * Runs shutdown hooks (reverse order), disconnects adapters (reverse order) and flushes metrics
   * and logs. Returns the number of failures (failed hooks and disconnects).
   */
  async close(): Promise<number> {
    this.lifecycle.beginShutdown('shutdown');
    let failures = await this.lifecycle.runHooks(this.log);
    for (const adapter of this.connected.splice(0).reverse()) {
      try {
        await (adapter.instance as Connectable).disconnect();
      } catch (error) {
        failures += 1;
        this.log.error('Disconnect failed', { interface: adapter.interface, adapter: adapter.record.name, error });
      }
    }
    this.lifecycle.phase = 'stopped';
    if (this.services.has(REFS.metrics))
      await this.services
        .resolve(REFS.metrics)
        .flush()
        .catch(() => undefined);
    return failures;
  }

  /** Flushes the logger; the last thing a run does. */
  async flushLogs(): Promise<void> {
    await this.services
      .resolve(REFS.logging)
      .flush()
      .catch(() => undefined);
  }
}

/**
 * Steps 1–5 of the startup sequence (seed 4.3): env, flags, module lookup, argument validation,
 * adapter selection and construction (nothing connected yet). Returns the help text instead when
 * `--help` was given. Usage and configuration problems throw PlatformError (exit 2).
 */
export async function prepareRun(options: PrepareRunOptions): Promise<ModuleRun | { help: string }> {
  const pre = await preflight(options.root, options.tokens, options.processEnv);
  const record = findModule(pre.registry, options.moduleName);
  const manifest = record.manifest;
  if (pre.help) return { help: renderModuleHelp(manifest, pre.registry) };
  const args = requireValidArgs(manifest, validateModuleArgs(manifest, pre.rest));
  const definition = await loadModuleEntry(record);
  // Loaded only for a real run: DI (tsyringe, reflect-metadata) is not needed for --help.
  const { checkDialect, constructAdapters, interfacesToConstruct, selectAdapters } =
    await import('../wiring/wire-adapters.js');
  const selections = selectAdapters(
    pre.registry,
    interfacesToConstruct(manifest.dependencies.interfaces),
    pre.options.adapterFlags,
  );
  checkDialect(manifest, selections);
  const built = await constructAdapters(selections, pre.env.values);
  // Standard platform metrics (DESIGN.md decision 14): the module, and the host itself, use the
  // database, queue and cache through instrumenting proxies.
  const { instrumentAdapters } = await import('../observability/instrument-adapters.js');
  const constructed = instrumentAdapters(
    {
      metrics: built.services.resolve(REFS.metrics),
      module: manifest.name,
      env: pre.options.env,
      log: built.services.resolve(REFS.logging).child({ module: manifest.name, component: 'host' }),
    },
    built.constructed,
  );
  for (const adapter of constructed) {
    if (adapter.interface === 'database' || adapter.interface === 'message_queue' || adapter.interface === 'cache')
      built.services.provide(REFS[adapter.interface], adapter.instance as never);
  }
  return new ModuleRun(pre, manifest, definition, args, built.services, constructed, record);
}
