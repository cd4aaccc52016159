import { performance } from 'node:perf_hooks';
import type { Logger, Metrics } from '@platform-host/contracts';

/**
 * Where the host's standard platform metrics (seed 11.2, DESIGN.md decisions 13 and 14) go: the
 * run's metrics adapter, and the `module` and `env` label values every one of them carries.
 */
export interface PlatformMetricsScope {
  readonly metrics: Metrics;
  readonly module: string;
  readonly env: string;
  /** Told (once) when recording a metric fails; the instrumented call is never affected. */
  readonly log?: Logger;
}

/** The labels every standard platform metric carries. */
export type ScopeLabel = 'module' | 'env';

/** The `module` and `env` label values of a scope. */
export function scopeLabels(scope: PlatformMetricsScope): { readonly module: string; readonly env: string } {
  return { module: scope.module, env: scope.env };
}

/**
 * Returns a function that runs a recording step and keeps any failure of it away from the caller:
 * an instrumented database, queue or cache behaves exactly as the adapter it wraps, whatever the
 * metrics backend does. The first failure is logged as a warning.
 */
export function safeRecorder(scope: PlatformMetricsScope): (record: () => void) => void {
  let warned = false;
  return (record) => {
    try {
      record();
    } catch (error) {
      if (warned) return;
      warned = true;
      scope.log?.warn('Recording a standard platform metric failed; further failures are not logged', { error });
    }
  };
}

/** Seconds elapsed since `started` (a `performance.now()` reading). */
export function secondsSince(started: number): number {
  return Math.max(0, performance.now() - started) / 1000;
}
