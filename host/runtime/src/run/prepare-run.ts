import {
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
import type { HealthTarget } from '../health/readiness.js';
import { runWithDeadline, shutdownAfterDrain } from '../lifecycle/shutdown.js';
import { checkNameOf, HostLifecycle } from '../lifecycle/host-lifecycle.js';
import { redactText } from '../redaction/redact.js';
import { registeringSecrets } from '../redaction/registering-secrets.js';
import type { ModuleRecord } from '../discovery/plugin-record.js';
import { loadModuleEntry } from '../wiring/load-entry.js';
import type { ServiceContainer } from '../wiring/service-container.js';
import type { ConstructedAdapter } from '../wiring/wire-adapters.js';
import { connectAdapter, isConnectable } from '../wiring/connect-adapter.js';
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
  /** Adapters to disconnect at shutdown, in connection order (the secrets provider first). */
  private readonly connected: ConstructedAdapter[] = [];
  private resolveShutdown: (reason: string) => void = () => {};
  private reason: string | undefined;
  private intake: Promise<number> | undefined;
  private builtContext: PlatformContext<InterfaceName> | undefined;
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
    // The secrets provider was connected while the adapters were constructed.
    const secrets = constructed.find((adapter) => adapter.interface === 'secrets');
    if (secrets && isConnectable(secrets.instance)) this.connected.push(secrets);
  }

  /** The deadline of every hook, disconnect and flush (`--hook-timeout`), in ms. */
  get hookTimeoutMs(): number {
    return this.pre.options.hookTimeoutSeconds * 1000;
  }

  /** Why shutdown was requested, once it was. */
  get shutdownReason(): string | undefined {
    return this.reason;
  }

  /**
   * Connects every adapter (secrets already are), each within `--connect-timeout`, then applies
   * migrations when enabled. Stops early, connecting nothing more, once shutdown was requested (a
   * SIGTERM during startup); resolves false then, true when the run is ready for `run()`. A connect
   * that fails or misses its deadline throws `PH_ERR_CONNECT` naming the adapter (exit 1).
   */
  async start(): Promise<boolean> {
    for (const adapter of this.constructed) {
      if (adapter.interface === 'secrets' || !isConnectable(adapter.instance)) continue;
      if (this.reason !== undefined) return false;
      // Listed before connect() settles, so an adapter whose connect fails or is cut short by a
      // signal is disconnected too (disconnect is harmless on an adapter that is not connected).
      this.connected.push(adapter);
      await connectAdapter(adapter, this.pre.options.connectTimeoutSeconds * 1000);
    }
    if (this.reason !== undefined) return false;
    if (this.manifest.dependencies.interfaces.includes('database')) {
      await runAutoMigrations(
        this.services.resolve(REFS.database),
        this.pre.options,
        migrationsDir(this.pre.root, this.pre.env.values),
        this.record,
        this.log,
      );
    }
    return this.reason === undefined;
  }

  /**
   * The context `run()` receives: only the declared interfaces, plus config, lifecycle, module.
   * `ctx.mq` records subscriptions (paused at stop-intake, closed after the drain); every value
   * `ctx.secrets` returns is registered for redaction. Built once per run.
   */
  context(): PlatformContext<InterfaceName> {
    if (this.builtContext) return this.builtContext;
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
      const key = REFS[name].contextKey;
      if (name === 'logging') context[key] = this.moduleLog;
      else if (name === 'message_queue')
        context[key] = this.lifecycle.subscriptions.wrap(this.services.resolve(REFS.message_queue));
      else if (name === 'secrets') context[key] = registeringSecrets(this.services.resolve(REFS.secrets));
      else context[key] = this.services.resolve(REFS[name]);
    }
    this.builtContext = Object.freeze(context) as PlatformContext<InterfaceName>;
    return this.builtContext;
  }

  /** Adapters with a health check, for the readiness probe (keyed `db`, `cache`, ...). */
  healthTargets(): HealthTarget[] {
    return this.constructed
      .filter((adapter) => typeof (adapter.instance as Partial<HealthCheckable>).healthCheck === 'function')
      .map((adapter) => ({
        name: checkNameOf(adapter.interface),
        adapter: adapter.record.name,
        check: () => (adapter.instance as HealthCheckable).healthCheck(),
      }));
  }

  /**
   * Requests shutdown: readiness turns 503 and every subscription made through `ctx.mq` pauses at
   * once; whoever awaits {@link shutdownRequested} wakes. The first reason wins.
   */
  requestShutdown(reason: string): void {
    this.reason ??= reason;
    this.lifecycle.beginShutdown();
    this.resolveShutdown(this.reason);
  }

  /**
   * Stop intake (runs once): readiness off, subscriptions paused, `onStopAccepting` hooks in reverse
   * with deadlines, then `ctx.lifecycle.signal` aborts. Resolves with the number of failed hooks.
   */
  stopIntake(): Promise<number> {
    this.requestShutdown('shutdown');
    this.intake ??= this.lifecycle.stopIntake(this.reason ?? 'shutdown', this.log, this.hookTimeoutMs);
    return this.intake;
  }

  /**
   * The shutdown after the drain, each step with the `--hook-timeout` deadline and reported by name
   * with `PH_ERR_SHUTDOWN` when it fails or misses it (the others still run): stop intake (when not
   * done yet), close the subscriptions the module left open, `onShutdown` hooks in reverse,
   * disconnect the adapters in reverse, flush metrics. Returns the number of failures.
   */
  async close(): Promise<number> {
    let failures = await this.stopIntake();
    const metrics = this.services.has(REFS.metrics) ? this.services.resolve(REFS.metrics) : undefined;
    failures += await shutdownAfterDrain(
      {
        closeSubscriptions: this.lifecycle.subscriptions.closeSteps(),
        runHooks: () => this.lifecycle.runHooks(this.log, this.hookTimeoutMs),
        connected: this.connected.splice(0).map((adapter) => ({
          name: `${adapter.interface} adapter ${adapter.record.name}`,
          disconnect: () => (adapter.instance as Connectable).disconnect(),
        })),
        flushMetrics: metrics && (() => metrics.flush()),
      },
      this.hookTimeoutMs,
      this.log,
    );
    this.lifecycle.phase = 'stopped';
    return failures;
  }

  /**
   * Flushes the logger within the hook deadline; the last thing a run does. Resolves false when the
   * flush failed or missed it (nothing can be logged about that any more: it goes to stderr).
   */
  async flushLogs(timeoutMs = this.hookTimeoutMs): Promise<boolean> {
    const logger = this.services.resolve(REFS.logging);
    const error = await runWithDeadline({ name: 'log flush', run: () => logger.flush() }, timeoutMs);
    if (error) process.stderr.write(redactText(`error [${error.code}]: ${error.message}\n`));
    return error === undefined;
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
  const built = await constructAdapters(selections, pre.env.values, pre.options.connectTimeoutSeconds * 1000);
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
