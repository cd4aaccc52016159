import type { Heartbeat, Lifecycle, Logger, ReadinessCheck, ShutdownHook } from '@platform-host/contracts';

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
 * The host side of {@link Lifecycle}: hooks, the abort signal, tracked in-flight work, and the
 * readiness / startup state the health endpoints report.
 */
export class HostLifecycle implements Lifecycle {
  private readonly hooks: Array<{ hook: ShutdownHook; name: string }> = [];
  private readonly stopAcceptingHooks: Array<{ hook: ShutdownHook; name: string }> = [];
  private readonly heartbeats: HeartbeatState[] = [];
  /** Module-level readiness checks, beside the adapters' in `/health/ready`. */
  readonly readinessChecks: NamedReadinessCheck[] = [];
  private readonly controller = new AbortController();
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
    if (this.readinessChecks.some((existing) => existing.name === name)) {
      throw new Error(`A readiness check named "${name}" is already registered`);
    }
    this.readinessChecks.push({ name, check });
  }

  heartbeat(name: string, options: { readonly timeoutMs: number }): Heartbeat {
    if (!(options.timeoutMs > 0)) throw new RangeError(`heartbeat ${name}: timeoutMs must be > 0`);
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

  /** Turns readiness off and aborts the signal. Idempotent. */
  beginShutdown(reason: string): void {
    if (this.phase === 'shutting_down' || this.phase === 'stopped') return;
    this.phase = 'shutting_down';
    this.controller.abort(new Error(reason));
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

  /** Runs hooks in reverse registration order; a failing hook is logged and the rest still run. */
  async runHooks(logger: Logger): Promise<number> {
    let failures = 0;
    for (const { hook, name } of [...this.hooks].reverse()) {
      try {
        await hook();
      } catch (error) {
        failures += 1;
        logger.error('Shutdown hook failed', { hook: name, error });
      }
    }
    return failures;
  }
}
