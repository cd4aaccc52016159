import type { HealthCheckResult } from '@platform-host/contracts';
import type { HostLifecycle } from '../lifecycle/host-lifecycle.js';
import { redactText } from '../redaction/redact.js';

/** One adapter whose health the readiness probe aggregates. */
export interface HealthTarget {
  /** The key in `checks`: the context key of the interface (`db`, `fs`, `cache`, `mq`, ...). */
  readonly name: string;
  readonly adapter: string;
  check(): Promise<HealthCheckResult>;
}

/** Beside a check's status in `/health/ready`: which adapter answered, and why it failed. */
export interface CheckDetail {
  /** The adapter's name; absent for a module readiness check. */
  readonly adapter?: string;
  /** The check's own explanation (redacted), or why it gave no answer. */
  readonly detail?: string;
}

/**
 * The body of `/health/ready` in the seed's shape (seed 8.3), with details beside it:
 * `{"status":"ok","checks":{"db":"ok","cache":"ok","consumer":"ok"},"details":{"db":{"adapter":"postgres"}}}`.
 * Keys of adapter checks are context keys; module checks appear under the names they were added with.
 */
export interface ReadinessReport {
  readonly status: 'ok' | 'error' | 'starting' | 'shutting_down';
  /** `degraded`: the check failed, but the module declared it can serve without that adapter. */
  readonly checks: Readonly<Record<string, 'ok' | 'error' | 'degraded'>>;
  readonly details: Readonly<Record<string, CheckDetail>>;
}

/** How long one check may take before it counts as failed (ms). */
export const DEFAULT_CHECK_TIMEOUT_MS = 3000;

async function bounded(
  check: () => HealthCheckResult | Promise<HealthCheckResult>,
  timeoutMs: number,
): Promise<HealthCheckResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      (async () => check())().catch((error: unknown) => ({
        ok: false,
        detail: `check threw: ${error instanceof Error ? error.message : String(error)}`,
      })),
      new Promise<HealthCheckResult>((resolve) => {
        timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${timeoutMs} ms` }), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Readiness of one run: every adapter's health check and every module readiness check, in
 * parallel, each bounded by `timeoutMs`. Concurrent probes share one in-flight check run (a probe
 * arriving while checks run gets their result), so a burst of probes never multiplies the load on
 * the backends. Details are redacted: a driver message quoting a URL with its password, or a
 * secret value, never reaches the response.
 */
export class Readiness {
  private inFlight: Promise<ReadinessReport> | undefined;
  /** How many check runs were started (each probe that did not join one starts one). */
  runs = 0;

  constructor(
    private readonly lifecycle: HostLifecycle,
    private readonly targets: readonly HealthTarget[],
    private readonly timeoutMs = DEFAULT_CHECK_TIMEOUT_MS,
  ) {}

  /** The current report; never rejects. */
  report(): Promise<ReadinessReport> {
    if (this.lifecycle.stopping) return Promise.resolve({ status: 'shutting_down', checks: {}, details: {} });
    this.inFlight ??= this.run().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async run(): Promise<ReadinessReport> {
    this.runs += 1;
    const all = [
      ...this.targets.map((target) => ({ name: target.name, adapter: target.adapter, check: () => target.check() })),
      ...this.lifecycle.readinessChecks.map((entry) => ({ name: entry.name, adapter: undefined, check: entry.check })),
    ];
    const results = await Promise.all(
      all.map(async (entry) => [entry, await bounded(entry.check, this.timeoutMs)] as const),
    );
    const checks: Record<string, 'ok' | 'error' | 'degraded'> = {};
    const tolerated = (name: string): boolean => this.lifecycle.tolerated.has(name);
    const details: Record<string, CheckDetail> = {};
    for (const [entry, result] of results) {
      checks[entry.name] = result.ok
        ? 'ok'
        : entry.adapter !== undefined && tolerated(entry.name)
          ? 'degraded'
          : 'error';
      const detail = typeof result.detail === 'string' && result.detail !== '' ? redactText(result.detail) : undefined;
      if (entry.adapter !== undefined || detail !== undefined) {
        details[entry.name] = {
          ...(entry.adapter !== undefined ? { adapter: entry.adapter } : {}),
          ...(detail !== undefined ? { detail } : {}),
        };
      }
    }
    // Shutdown may have begun, or startup not ended, while the checks ran.
    const status = this.lifecycle.stopping
      ? 'shutting_down'
      : !this.lifecycle.ready
        ? 'starting'
        : results.every(([entry, result]) => result.ok || (entry.adapter !== undefined && tolerated(entry.name)))
          ? 'ok'
          : 'error';
    return { status, checks, details };
  }
}
