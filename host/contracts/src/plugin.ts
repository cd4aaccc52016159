import type { HealthCheckResult } from './health.js';
import type { ModuleType } from './manifest/types.js';
import type { ContextKeys, InterfaceName, InterfaceRef, InterfaceTypes } from './refs.js';

/** A module argument after validation and casting. */
export type ArgValue = string | number | boolean;

/**
 * The validated module arguments (seed 3.3): defaults applied, values cast to their declared type.
 * The typed getters throw when the argument is absent or of another type — a bug in the module,
 * since the host validated the arguments against `module.json` before `run()`.
 */
export interface ModuleConfig {
  /** The value of an argument, or `undefined` when it is optional, has no default and was not given. */
  get(name: string): ArgValue | undefined;
  string(name: string): string;
  integer(name: string): number;
  float(name: string): number;
  boolean(name: string): boolean;
  /** A `format: "duration"` argument in milliseconds (`1.5s` -> 1500). */
  durationMs(name: string): number;
  /** Every argument that has a value. */
  entries(): ReadonlyArray<readonly [string, ArgValue]>;
}

/** A callback run during graceful shutdown. */
export type ShutdownHook = () => void | Promise<void>;

/** A module-level readiness check; it should answer quickly (the host bounds it in time). */
export type ReadinessCheck = () => HealthCheckResult | Promise<HealthCheckResult>;

/** A liveness heartbeat (see {@link Lifecycle.heartbeat}). */
export interface Heartbeat {
  /** Records that the loop it guards made progress now. */
  beat(): void;
  /** Stops watching (for a loop that ended on purpose). */
  stop(): void;
}

/**
 * The module's handle on the host lifecycle (seed 4.3, 9). Shutdown runs in phases: stop intake
 * (`onStopAccepting` hooks, the host pauses every subscription made through `ctx.mq`, readiness
 * turns 503, `signal` aborts), drain (`run()` and tracked work, up to `--drain-timeout`), then
 * `onShutdown` hooks in reverse order, disconnect, flush. Every hook, disconnect and flush has a
 * deadline (`--hook-timeout`); one that fails or misses it is reported by name with
 * `PH_ERR_SHUTDOWN`, the others still run, and the process exits 1.
 */
export interface Lifecycle {
  /**
   * Registers a hook run first at shutdown, before the drain: stop taking new work (close an HTTP
   * listener, pause a consumer). Hooks run in reverse registration order.
   */
  onStopAccepting(hook: ShutdownHook, name?: string): void;
  /**
   * Registers a hook run after the drain. Hooks run in reverse registration order, each awaited
   * with a deadline; one failing hook is logged and does not stop the others.
   */
  onShutdown(hook: ShutdownHook, name?: string): void;
  /** Adds a check to `/health/ready` under `name`, beside the adapters' health checks. */
  addReadinessCheck(name: string, check: ReadinessCheck): void;
  /**
   * Declares that the module keeps answering while the adapter of `name` is unhealthy (a cache used
   * only as an optimisation): its failing health check then shows as `degraded` in `/health/ready`,
   * with its detail, and does not turn readiness 503. Every other check still does. Since host API 2.1.
   */
  tolerateUnhealthy(name: InterfaceName): void;
  /**
   * Guards a loop with a liveness heartbeat: `/health/live` answers 503 naming it once `beat()` has
   * not been called for `timeoutMs`, so an orchestrator restarts a process whose loop is stuck.
   */
  heartbeat(name: string, options: { readonly timeoutMs: number }): Heartbeat;
  /**
   * Aborted when shutdown starts (SIGTERM/SIGINT, or the host stopping). Long-running modules stop
   * taking new work when it fires and let `run()` resolve.
   */
  readonly signal: AbortSignal;
  /**
   * Declares in-flight work the host waits for during the drain period (up to the drain timeout)
   * before running shutdown hooks. Returns the same promise.
   */
  trackWork<T>(work: Promise<T>): Promise<T>;
}

/** Identity of the running module. */
export interface ModuleInfo {
  readonly name: string;
  readonly version: string;
  readonly type: ModuleType;
  /** The `--env` the host was started with. */
  readonly env: string;
}

type ContextServices<I extends InterfaceName> = { readonly [K in I as ContextKeys[K]]: InterfaceTypes[K] };

/**
 * What a module's `run()` receives: only the interfaces its manifest declares (`ctx.db`, `ctx.fs`,
 * `ctx.cache`, `ctx.mq`, `ctx.log`, `ctx.metrics`, `ctx.secrets`), plus config and lifecycle.
 */
export type PlatformContext<I extends InterfaceName = never> = ContextServices<I> & {
  readonly config: ModuleConfig;
  readonly lifecycle: Lifecycle;
  readonly module: ModuleInfo;
};

/** What a module entry exports as default (see {@link defineModule}). */
export interface ModuleDefinition<I extends InterfaceName = InterfaceName> {
  readonly kind: 'platform-host.module';
  /** The interfaces the code uses; the host checks they are declared in `module.json`. */
  readonly interfaces: readonly I[];
  /**
   * Runs the module. Jobs return their exit code (0 success, 1 failure). Services and workers
   * resolve when `ctx.lifecycle.signal` has fired and their work has stopped.
   */
  run(ctx: PlatformContext<I>): Promise<number | void>;
}

/**
 * Defines a module entry with a context typed by the interfaces it lists:
 *
 * ```ts
 * export default defineModule({
 *   interfaces: ['database', 'logging'],
 *   async run(ctx) { await ctx.db.execute('SELECT 1'); ctx.log.info('done'); return 0; },
 * });
 * ```
 */
export function defineModule<const I extends InterfaceName>(definition: {
  readonly interfaces: readonly I[];
  run(ctx: PlatformContext<I>): Promise<number | void>;
}): ModuleDefinition<I> {
  return Object.freeze({
    kind: 'platform-host.module',
    interfaces: definition.interfaces,
    run: (ctx: PlatformContext<I>) => definition.run(ctx),
  });
}

/** Config values of one adapter, resolved through the Secrets interface with defaults applied. */
export interface AdapterConfig {
  /** The value, or `undefined` when the key is unset and has no default. */
  get(key: string): string | undefined;
  /** The value; throws `PH_ERR_CONFIG_MISSING` naming the key and adapter when absent. */
  require(key: string): string;
  /**
   * The value parsed as an integer, or `fallback`; throws `PH_ERR_CONFIG_INVALID` naming the key when
   * it is not an integer or is below `options.min`.
   */
  integer(key: string, fallback: number, options?: { readonly min?: number }): number;
}

/**
 * The services an adapter factory asks for, by the name it wants them under: typed refs of other
 * interfaces (`{ logger: REFS.logging, metrics: REFS.metrics }`). The host constructs those first
 * (construction order follows these declarations) and hands them over typed.
 */
export type AdapterDependencies = { readonly [name: string]: InterfaceRef<InterfaceName> };

/** The resolved services of an {@link AdapterDependencies} map. */
export type ResolvedDependencies<D extends AdapterDependencies> = {
  readonly [P in keyof D]: D[P] extends InterfaceRef<infer K> ? InterfaceTypes[K] : never;
};

/** What every adapter factory receives from the host, besides its declared dependencies. */
export interface AdapterContext {
  /** The flag value that selected it (`memory` or `pglite` for a two-flag adapter). */
  readonly flag: string;
  /** Its declared config keys, read through Secrets. */
  readonly config: AdapterConfig;
  /**
   * The host's merged environment (real environment variables over env files). Only secrets
   * providers read it; every other adapter reads its config through `config`.
   */
  readonly environment: Readonly<Record<string, string>>;
}

/** What an adapter entry exports as default (see {@link defineAdapter}). */
export interface AdapterDefinition<
  K extends InterfaceName = InterfaceName,
  D extends AdapterDependencies = AdapterDependencies,
> {
  readonly kind: 'platform-host.adapter';
  readonly interface: K;
  /** The services the factory needs. A logger arrives bound to the adapter's name. */
  readonly dependencies: D;
  /** Constructs the adapter. Must not connect or start timers: the host calls `connect()`. */
  create(deps: AdapterContext & ResolvedDependencies<D>): InterfaceTypes[K] | Promise<InterfaceTypes[K]>;
}

/**
 * Defines an adapter entry with typed dependencies:
 *
 * ```ts
 * export default defineAdapter({
 *   interface: 'cache',
 *   dependencies: { logger: REFS.logging, metrics: REFS.metrics },
 *   create: ({ config, logger }) => new RedisCache(config.require('CACHE_REDIS_URL'), logger),
 * });
 * ```
 */
export function defineAdapter<
  K extends InterfaceName,
  const D extends AdapterDependencies = Record<never, never>,
>(definition: {
  readonly interface: K;
  readonly dependencies?: D;
  create(deps: AdapterContext & ResolvedDependencies<D>): InterfaceTypes[K] | Promise<InterfaceTypes[K]>;
}): AdapterDefinition<K, D> {
  return Object.freeze({
    kind: 'platform-host.adapter',
    interface: definition.interface,
    dependencies: Object.freeze({ ...(definition.dependencies ?? {}) }) as D,
    create: (deps: AdapterContext & ResolvedDependencies<D>) => definition.create(deps),
  });
}
