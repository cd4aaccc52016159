import { PlatformError } from '@platform-host/contracts';
import type { Logger } from '@platform-host/contracts';

/** One named piece of shutdown work (a hook, a disconnect, a flush). */
export interface ShutdownStep {
  /** Names the step in the report: `shutdown hook "flush-buffer"`, `disconnect database adapter postgres`. */
  readonly name: string;
  run(): unknown;
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/**
 * Runs `step` and waits for it at most `timeoutMs`. Resolves `undefined` when it finished in time,
 * else a `PH_ERR_SHUTDOWN` error naming it: it threw (the error is the cause) or it missed its
 * deadline (it is abandoned: still running, but nobody waits for it any more). Never rejects.
 */
export async function runWithDeadline(step: ShutdownStep, timeoutMs: number): Promise<PlatformError | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<PlatformError>((resolve) => {
    timer = setTimeout(
      () =>
        resolve(
          new PlatformError('PH_ERR_SHUTDOWN', `${step.name} did not finish within ${seconds(timeoutMs)}`, {
            hint: 'Raise --hook-timeout if it needs longer, or find out why it hangs.',
          }),
        ),
      timeoutMs,
    );
  });
  const work = (async (): Promise<undefined> => {
    await step.run();
    return undefined;
  })().catch(
    (error: unknown) =>
      new PlatformError(
        'PH_ERR_SHUTDOWN',
        `${step.name} failed: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      ),
  );
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `steps` one after the other, each with its deadline; a step that fails or misses it is
 * logged by name with `PH_ERR_SHUTDOWN` and the next still runs. Returns the number of failures.
 */
export async function runSteps(
  steps: readonly ShutdownStep[],
  timeoutMs: number,
  log: Logger,
  phase: string,
): Promise<number> {
  let failures = 0;
  for (const step of steps) {
    const error = await runWithDeadline(step, timeoutMs);
    if (!error) continue;
    failures += 1;
    log.error(error.message, { code: error.code, phase, step: step.name, error });
  }
  return failures;
}

/** What {@link shutdownAfterDrain} tears down. */
export interface ShutdownPlan {
  /** Closes the subscriptions the module left open. */
  readonly closeSubscriptions: readonly ShutdownStep[];
  /** Runs the `onShutdown` hooks in reverse, each with its deadline; resolves with the failures. */
  runHooks(): Promise<number>;
  /** Connected adapters in connection order; they are disconnected in reverse. */
  readonly connected: ReadonlyArray<{ readonly name: string; disconnect(): Promise<void> }>;
  /** Flushes metrics, when the run has them. */
  readonly flushMetrics: (() => Promise<void>) | undefined;
}

/**
 * The shutdown after stop-intake and drain (seed 9): close the subscriptions the module left open,
 * `onShutdown` hooks in reverse, disconnect the adapters in reverse, flush metrics — each step with
 * the `--hook-timeout` deadline and reported by name with `PH_ERR_SHUTDOWN` when it fails or misses
 * it, the others still running. Returns the number of failures.
 */
export async function shutdownAfterDrain(plan: ShutdownPlan, timeoutMs: number, log: Logger): Promise<number> {
  let failures = await runSteps(plan.closeSubscriptions, timeoutMs, log, 'close-subscriptions');
  failures += await plan.runHooks();
  const disconnects = [...plan.connected]
    .reverse()
    .map((adapter) => ({ name: `disconnect of ${adapter.name}`, run: () => adapter.disconnect() }));
  failures += await runSteps(disconnects, timeoutMs, log, 'disconnect');
  const flush = plan.flushMetrics;
  if (flush) failures += await runSteps([{ name: 'metrics flush', run: flush }], timeoutMs, log, 'flush');
  return failures;
}
