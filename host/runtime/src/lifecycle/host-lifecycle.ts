import { PlatformError, REFS, type InterfaceName } from '@platform-host/contracts';
import type { Heartbeat, Lifecycle, Logger, ReadinessCheck, ShutdownHook } from '@platform-host/contracts';
import { runSteps, type ShutdownStep } from './shutdown.js';
import { SubscriptionTracker } from './tracked-queue.js';

/** Keys of the adapters' checks in `/health/ready`; a module check may not take one. */
const ADAPTER_CHECK_NAMES: ReadonlySet<string> = new Set(Object.values(REFS).map((ref) => ref.contextKey));

/** A named module readiness check. */
export interface NamedReadinessCheck {
  readonly name: string;
  readonly check: ReadinessCheck;
}

/** The state of one heartbeat, read by `/health/live`. */
interface HeartbeatState {
  readonly name: string;
  readonly timeoutMs: number;
  last: number;
  stopped: boolean;
}

/** Phases a run goes through; health endpoints and the job status file report them. */
export type RunPhase = 'starting' | 'running' | 'shutting_down' | 'stopped';

/**
 * The host side of {@link Lifecycle}: hooks, the abort signal, tracked in-flight work, the
 * subscriptions made through `ctx.mq`, module readiness checks, heartbeats, and the readiness /
 * startup state the health endpoints report.
 *
 * Shutdown phases (see `ModuleRun` and `runModule`): {@link stopIntake} (readiness 503, every
 * subscription paused, `onStopAccepting` hooks in reverse, then the signal aborts), {@link drain},
 * then {@link runHooks} (`onShutdown` in reverse); each hook has the `--hook-timeout` deadline.
 */
export class HostLifecycle implements Lifecycle {
  private readonly hooks: Array<{ hook: ShutdownHook; name: string }> = [];
  private readonly stopAcceptingHooks: Array<{ hook: ShutdownHook; name: string }> = [];
  private readonly heartbeats: HeartbeatState[] = [];
  /** Module-level readiness checks, beside the adapters' in `/health/ready`. */
  readonly readinessChecks: NamedReadinessCheck[] = [];
  /** Check names (context keys) whose failure reports `degraded` instead of failing readiness. */
  readonly tolerated = new Set<string>();
  private readonly controller = new AbortController();
  /** The subscriptions made through `ctx.mq`. */
  readonly subscriptions = new SubscriptionTracker();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Set once `run()` has been called (the startup probe turns green). */
  started = false;
  phase: RunPhase = 'starting';

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** True while the run accepts work: started, not shutting down. */
  get ready(): boolean {
    return this.phase === 'running';
  }

  onStopAccepting(hook: ShutdownHook, name?: string): void {
    this.stopAcceptingHooks.push({
      hook,
      name: name ?? (hook.name || `stop-accepting hook #${this.stopAcceptingHooks.length + 1}`),
    });
  }

  addReadinessCheck(name: string, check: ReadinessCheck): void {
    const refuse = (why: string): PlatformError =>
      new PlatformError('PH_ERR_MODULE_FAILED', `ctx.lifecycle.addReadinessCheck("${name}"): ${why}`);
    if (name.trim() === '') throw refuse('the name is empty');
    if (ADAPTER_CHECK_NAMES.has(name)) throw refuse('the name is taken by an adapter check');
    if (this.readinessChecks.some((existing) => existing.name === name)) {
      throw refuse('a readiness check with this name is already registered');
    }
    this.readinessChecks.push({ name, check });
  }

  tolerateUnhealthy(name: InterfaceName): void {
    if (!(name in REFS)) {
      throw new PlatformError(
        'PH_ERR_MODULE_FAILED',
        `ctx.lifecycle.tolerateUnhealthy("${String(name)}"): not an interface name`,
      );
    }
    this.tolerated.add(checkNameOf(name));
  }

  heartbeat(name: string, options: { readonly timeoutMs: number }): Heartbeat {
    if (!(options.timeoutMs > 0))
      throw new PlatformError('PH_ERR_MODULE_FAILED', `ctx.lifecycle.heartbeat("${name}"): timeoutMs must be > 0`);
    const state: HeartbeatState = { name, timeoutMs: options.timeoutMs, last: Date.now(), stopped: false };
    this.heartbeats.push(state);
    return {
      beat: () => {
        state.last = Date.now();
      },
      stop: () => {
        state.stopped = true;
      },
    };
  }

  /** Names of heartbeats that have not beaten within their timeout (empty when live). */
  staleHeartbeats(now = Date.now()): string[] {
    return this.heartbeats.filter((h) => !h.stopped && now - h.last > h.timeoutMs).map((h) => h.name);
  }

  onShutdown(hook: ShutdownHook, name?: string): void {
    this.hooks.push({ hook, name: name ?? (hook.name || `hook #${this.hooks.length + 1}`) });
  }

  trackWork<T>(work: Promise<T>): Promise<T> {
    this.inFlight.add(work);
    const forget = (): void => {
      this.inFlight.delete(work);
    };
    work.then(forget, forget);
    return work;
  }

  /** True once shutdown has begun (readiness is off). */
  get stopping(): boolean {
    return this.phase === 'shutting_down' || this.phase === 'stopped';
  }

  /**
   * The first, synchronous step of shutdown: readiness turns 503 and every subscription made through
   * `ctx.mq` is paused. Idempotent.
   */
  beginShutdown(): void {
    if (!this.stopping) this.phase = 'shutting_down';
    this.subscriptions.stopIntake();
  }

  /**
   * Stop intake: {@link beginShutdown}, the `onStopAccepting` hooks in reverse order (each with
   * its deadline), then the signal aborts with `reason`. Runs its hooks once; returns the number
   * of hooks that failed or missed their deadline (reported by name with `PH_ERR_SHUTDOWN`).
   */
  async stopIntake(reason: string, log: Logger, hookTimeoutMs: number): Promise<number> {
    this.beginShutdown();
    const hooks = this.stopAcceptingHooks.splice(0).reverse();
    const failures = await runSteps(
      hooks.map(({ hook, name }) => ({ name: `stop-accepting hook "${name}"`, run: hook })),
      hookTimeoutMs,
      log,
      'stop-intake',
    );
    if (!this.controller.signal.aborted) this.controller.abort(new Error(reason));
    return failures;
  }

  /** The `onShutdown` hooks, last registered first, as shutdown steps (each runs once). */
  shutdownHookSteps(): ShutdownStep[] {
    return this.hooks
      .splice(0)
      .reverse()
      .map(({ hook, name }) => ({ name: `shutdown hook "${name}"`, run: hook }));
  }

  /**
   * Waits for `also` and every tracked piece of work to settle, up to `timeoutMs`.
   * Resolves true when everything settled in time.
   */
  async drain(timeoutMs: number, also: ReadonlyArray<Promise<unknown>> = []): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const settle = async (): Promise<true> => {
      await Promise.allSettled(also);
      // Work tracked while draining is waited for too.
      while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
      return true;
    };
    try {
      return await Promise.race([settle(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Runs the `onShutdown` hooks in reverse registration order, each with its deadline; one that
   * fails or misses it is logged by name and the rest still run. Returns the number of failures.
   */
  runHooks(logger: Logger, hookTimeoutMs: number): Promise<number> {
    return runSteps(this.shutdownHookSteps(), hookTimeoutMs, logger, 'shutdown-hooks');
  }
}

/** The `/health/ready` key of an interface's adapter check (`database` -> `db`). */
export function checkNameOf(name: InterfaceName): string {
  return REFS[name].contextKey;
}
