import type { HealthCheckResult } from '@platform-host/contracts';

/** What `healthCheck()` reports before `connect()` and after `disconnect()` (a new object each time). */
export function notConnectedHealth(): HealthCheckResult {
  return { ok: false, detail: 'not connected (connect() has not run, or disconnect() has)' };
}

/** Options of {@link raceHealthProbe}. */
export interface HealthProbeOptions {
  /** How long the probe may take. */
  readonly timeoutMs: number;
  /** The detail reported when it has not answered in time. */
  readonly timeoutDetail: string;
  /** Called once when the time is up, for example to cancel the query. */
  readonly onTimeout?: () => void;
  /** The detail reported when the probe failed. */
  readonly failureDetail: (error: unknown) => string;
}

/**
 * Waits for `probe` (a `SELECT 1`) at most `timeoutMs`: `{ ok: true }` when it answers,
 * `{ ok: false, detail }` when it fails or the time is up. Never rejects, and leaves no timer
 * behind (the timer does not keep the process alive either).
 */
export async function raceHealthProbe(
  probe: PromiseLike<unknown>,
  options: HealthProbeOptions,
): Promise<HealthCheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<HealthCheckResult>((resolve) => {
    timer = setTimeout(() => {
      options.onTimeout?.();
      resolve({ ok: false, detail: options.timeoutDetail });
    }, options.timeoutMs);
    timer.unref();
  });
  const answered = Promise.resolve(probe).then(
    (): HealthCheckResult => ({ ok: true }),
    (error: unknown): HealthCheckResult => ({ ok: false, detail: options.failureDetail(error) }),
  );
  try {
    return await Promise.race([answered, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
