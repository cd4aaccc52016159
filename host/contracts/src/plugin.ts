import type { Logger } from './interfaces/logger.js';
import type { Secrets } from './interfaces/secrets.js';
import type { ModuleType } from './manifest/types.js';
import type { ContextKeys, InterfaceName, InterfaceTypes } from './refs.js';

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
  /** Every argument that has a value. */
  entries(): ReadonlyArray<readonly [string, ArgValue]>;
}

/** A callback run during graceful shutdown. */
export type ShutdownHook = () => void | Promise<void>;

/** The module's handle on the host lifecycle (seed 4.3, 9). */
export interface Lifecycle {
  /**
   * Registers a hook run at shutdown. Hooks run in reverse registration order, each awaited;
   * one failing hook is logged and does not stop the others (the process then exits 1).
   */
  onShutdown(hook: ShutdownHook, name?: string): void;
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
  /** The value parsed as an integer, or `fallback`; throws `PH_ERR_CONFIG_INVALID` when not a number. */
  integer(key: string, fallback: number): number;
}

/** What an adapter factory receives from the host. */
export interface AdapterDeps {
  /** The flag value that selected it (`memory` or `pglite` for a two-flag adapter). */
  readonly flag: string;
  /** Its declared config keys, read through Secrets. */
  readonly config: AdapterConfig;
  /** The secrets provider, for keys not known at manifest time. Absent for secrets adapters. */
  readonly secrets: Secrets | undefined;
  /** A logger bound to the adapter's name. Absent for logging and secrets adapters. */
  readonly logger: Logger | undefined;
  /**
   * The host's merged environment (real environment variables over env files). Only secrets
   * providers read it; every other adapter reads its config through `config`.
   */
  readonly environment: Readonly<Record<string, string>>;
}

/** What an adapter entry exports as default (see {@link defineAdapter}). */
export interface AdapterDefinition<K extends InterfaceName = InterfaceName> {
  readonly kind: 'platform-host.adapter';
  readonly interface: K;
  /** Constructs the adapter. Must not connect or start timers: the host calls `connect()`. */
  create(deps: AdapterDeps): InterfaceTypes[K] | Promise<InterfaceTypes[K]>;
}

/**
 * Defines an adapter entry:
 *
 * ```ts
 * export default defineAdapter({
 *   interface: 'cache',
 *   create: ({ config }) => new RedisCache(config.require('CACHE_REDIS_URL')),
 * });
 * ```
 */
export function defineAdapter<K extends InterfaceName>(definition: {
  readonly interface: K;
  create(deps: AdapterDeps): InterfaceTypes[K] | Promise<InterfaceTypes[K]>;
}): AdapterDefinition<K> {
  return Object.freeze({
    kind: 'platform-host.adapter',
    interface: definition.interface,
    create: (deps: AdapterDeps) => definition.create(deps),
  });
}
