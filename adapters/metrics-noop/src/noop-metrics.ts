import { performance } from 'node:perf_hooks';
import type { MetricTags, Metrics, Timer } from '@platform-host/contracts';

/**
 * Metrics that are discarded (seed 5.2.6, `--metrics noop`), for local runs that do not need them.
 *
 * Still validates input the way every metrics adapter does, with cheap checks, so code that passes
 * locally does not fail on a real backend: a metric name must be a non-empty string and a counter
 * increment a finite number >= 0 (`RangeError` naming the metric otherwise). Timers still measure
 * and return the elapsed milliseconds.
 */
export class NoopMetrics implements Metrics {
  counter(name: string, value = 1, _tags?: MetricTags): void {
    checkName(name);
    if (!(value >= 0 && value !== Number.POSITIVE_INFINITY)) {
      throw new RangeError(
        `Counter "${name}" can only grow: the increment must be a finite number >= 0, got ${String(value)}`,
      );
    }
  }

  gauge(name: string, _value: number, _tags?: MetricTags): void {
    checkName(name);
  }

  histogram(name: string, _value: number, _tags?: MetricTags): void {
    checkName(name);
  }

  timer(name: string, _tags?: MetricTags): Timer {
    checkName(name);
    const started = performance.now();
    let elapsed: number | undefined;
    return {
      stop: () => (elapsed ??= Math.max(0, performance.now() - started)),
    };
  }

  async flush(): Promise<void> {
    // Nothing is kept, so there is nothing to write out.
  }
}

function checkName(name: string): void {
  if (typeof name !== 'string' || name.trim() === '') {
    throw new RangeError(`A metric name must be a non-empty string, got ${JSON.stringify(name) ?? String(name)}`);
  }
}
