import { performance } from 'node:perf_hooks';
import { safeRecorder, scopeLabels, secondsSince, type PlatformMetricsScope } from './scope.js';

export const MODULE_STARTUP_DURATION = 'platform_module_startup_duration_seconds';
export const MODULE_UPTIME = 'platform_module_uptime_seconds';

/**
 * Records how long the module took to start (host start to the call of `run()`, as the host
 * measures it) in the gauge `platform_module_startup_duration_seconds` (labels `module`, `env`).
 */
export function recordModuleStartup(scope: PlatformMetricsScope, seconds: number): void {
  const gauge = scope.metrics.gauge({
    name: MODULE_STARTUP_DURATION,
    help: 'Time the module took to start: from host start until run() was called.',
    labelNames: ['module', 'env'],
    unit: 'seconds',
  });
  safeRecorder(scope)(() => gauge.set(scopeLabels(scope), seconds));
}

/** A running uptime gauge (see {@link startModuleUptime}). */
export interface UptimeGauge {
  /** Sets the gauge to the seconds since start now (call it before a scrape or flush). */
  update(): void;
  /** Stops the periodic update, after a last one. Idempotent. */
  stop(): void;
}

/**
 * Starts the gauge `platform_module_uptime_seconds` (labels `module`, `env`): set at once, then
 * every `intervalMs` (default 10 s) by an unref'd timer that never keeps the process alive, and on
 * every {@link UptimeGauge.update}. `since` is the `performance.now()` reading uptime counts from
 * (default: now).
 */
export function startModuleUptime(
  scope: PlatformMetricsScope,
  options: { readonly intervalMs?: number; readonly since?: number } = {},
): UptimeGauge {
  const gauge = scope.metrics.gauge({
    name: MODULE_UPTIME,
    help: 'Seconds since the module started.',
    labelNames: ['module', 'env'],
    unit: 'seconds',
  });
  const since = options.since ?? performance.now();
  const labels = scopeLabels(scope);
  const record = safeRecorder(scope);
  const update = (): void => record(() => gauge.set(labels, secondsSince(since)));
  update();
  let timer: NodeJS.Timeout | undefined = setInterval(update, options.intervalMs ?? 10_000);
  timer.unref();
  return {
    update,
    stop: () => {
      if (timer === undefined) return;
      clearInterval(timer);
      timer = undefined;
      update();
    },
  };
}
