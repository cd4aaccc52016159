import type { Lifecycle, Logger, ShutdownHook } from '@platform-host/contracts';

/** Phases a run goes through; health endpoints and the job status file report them. */
export type RunPhase = 'starting' | 'running' | 'shutting_down' | 'stopped';

/**
 * The host side of {@link Lifecycle}: hooks, the abort signal, tracked in-flight work, and the
 * readiness / startup state the health endpoints report.
 */
export class HostLifecycle implements Lifecycle {
  private readonly hooks: Array<{ hook: ShutdownHook; name: string }> = [];
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
