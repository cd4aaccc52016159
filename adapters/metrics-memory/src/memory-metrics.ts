import { performance } from 'node:perf_hooks';
import type { MetricTags, Metrics, Timer } from '@platform-host/contracts';

/** One counter time series. */
export interface CounterSeries {
  readonly name: string;
  readonly tags: MetricTags;
  readonly value: number;
}

/** One gauge time series: its last value. */
export type GaugeSeries = CounterSeries;

/** One histogram time series. `count`, `sum`, `min` and `max` cover every observation ever made. */
export interface HistogramSeries {
  readonly name: string;
  readonly tags: MetricTags;
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
  /** The most recent observations, oldest first (at most `maxObservations` of them). */
  readonly values: readonly number[];
}

/** Everything recorded, series sorted by name then tags. */
export interface MetricsSnapshot {
  readonly counters: readonly CounterSeries[];
  readonly gauges: readonly GaugeSeries[];
  readonly histograms: readonly HistogramSeries[];
}

/** Options of {@link MemoryMetrics}. */
export interface MemoryMetricsOptions {
  /** Observations kept per histogram series for {@link MemoryMetrics.histogramValues}; default 10 000. */
  readonly maxObservations?: number;
}

export const DEFAULT_MAX_OBSERVATIONS = 10_000;

interface Series<T> {
  readonly name: string;
  readonly tags: MetricTags;
  state: T;
}

interface HistogramState {
  count: number;
  sum: number;
  min: number;
  max: number;
  /** Ring buffer of the latest observations; `next` is where the next one goes once it is full. */
  readonly recent: number[];
  next: number;
}

/**
 * Metrics kept in memory (seed 5.2.6, `--metrics memory`), for tests that assert on metric values
 * and for local runs. Series are identified by name plus the exact tag set.
 *
 * Validates like a real backend: a metric name must be a non-empty string, a counter increment a
 * finite number >= 0, gauge and histogram values finite numbers; otherwise a `RangeError` naming
 * the metric is thrown and nothing is recorded.
 */
export class MemoryMetrics implements Metrics {
  private readonly maxObservations: number;
  private readonly counters = new Map<string, Series<number>>();
  private readonly gauges = new Map<string, Series<number>>();
  private readonly histograms = new Map<string, Series<HistogramState>>();

  constructor(options: MemoryMetricsOptions = {}) {
    const maxObservations = options.maxObservations ?? DEFAULT_MAX_OBSERVATIONS;
    if (!Number.isInteger(maxObservations) || maxObservations < 1) {
      throw new RangeError(`maxObservations must be an integer >= 1, got ${maxObservations}`);
    }
    this.maxObservations = maxObservations;
  }

  counter(name: string, value = 1, tags: MetricTags = {}): void {
    checkName(name);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new RangeError(
        `Counter "${name}" can only grow: the increment must be a finite number >= 0, got ${String(value)}`,
      );
    }
    const series = seriesFor(this.counters, name, tags, () => 0);
    series.state += value;
  }

  gauge(name: string, value: number, tags: MetricTags = {}): void {
    checkName(name);
    checkFinite('Gauge', name, value);
    seriesFor(this.gauges, name, tags, () => 0).state = value;
  }

  histogram(name: string, value: number, tags: MetricTags = {}): void {
    checkName(name);
    checkFinite('Histogram', name, value);
    const series = seriesFor(this.histograms, name, tags, () => ({
      count: 0,
      sum: 0,
      min: value,
      max: value,
      recent: [],
      next: 0,
    }));
    const state = series.state;
    state.count += 1;
    state.sum += value;
    state.min = Math.min(state.min, value);
    state.max = Math.max(state.max, value);
    if (state.recent.length < this.maxObservations) {
      state.recent.push(value);
    } else {
      state.recent[state.next] = value;
      state.next = (state.next + 1) % this.maxObservations;
    }
  }

  timer(name: string, tags: MetricTags = {}): Timer {
    checkName(name);
    const started = performance.now();
    let elapsed: number | undefined;
    return {
      stop: () => {
        if (elapsed === undefined) {
          elapsed = Math.max(0, performance.now() - started);
          this.histogram(name, elapsed, tags);
        }
        return elapsed;
      },
    };
  }

  async flush(): Promise<void> {
    // Nothing is buffered: every value is recorded when it is reported.
  }

  /** The counter's total for exactly these tags; 0 when it was never incremented. */
  counterValue(name: string, tags: MetricTags = {}): number {
    return this.counters.get(seriesKey(name, tags))?.state ?? 0;
  }

  /** The sum of the counter over all its tag sets; 0 when it was never incremented. */
  counterTotal(name: string): number {
    let total = 0;
    for (const series of this.counters.values()) if (series.name === name) total += series.state;
    return total;
  }

  /** The gauge's last value for exactly these tags, or `undefined` when it was never set. */
  gaugeValue(name: string, tags: MetricTags = {}): number | undefined {
    return this.gauges.get(seriesKey(name, tags))?.state;
  }

  /** The histogram's recent observations (oldest first) for exactly these tags; empty when none. */
  histogramValues(name: string, tags: MetricTags = {}): number[] {
    const series = this.histograms.get(seriesKey(name, tags));
    return series === undefined ? [] : orderedObservations(series.state);
  }

  /** A copy of every series recorded so far. */
  snapshot(): MetricsSnapshot {
    return {
      counters: sortedSeries(this.counters).map(({ name, tags, state }) => ({ name, tags, value: state })),
      gauges: sortedSeries(this.gauges).map(({ name, tags, state }) => ({ name, tags, value: state })),
      histograms: sortedSeries(this.histograms).map(({ name, tags, state }) => ({
        name,
        tags,
        count: state.count,
        sum: state.sum,
        min: state.min,
        max: state.max,
        values: orderedObservations(state),
      })),
    };
  }

  /** Forgets every series (between tests). */
  reset(): void {
    this.counters.clear();
    this.gauges.clear();
    this.histograms.clear();
  }
}

function checkName(name: string): void {
  if (typeof name !== 'string' || name.trim() === '') {
    throw new RangeError(`A metric name must be a non-empty string, got ${JSON.stringify(name) ?? String(name)}`);
  }
}

function checkFinite(kind: string, name: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new RangeError(`${kind} "${name}" needs a finite number, got ${String(value)}`);
  }
}

/** Identifies a series: the name plus the tags sorted by key (tag order does not matter). */
function seriesKey(name: string, tags: MetricTags): string {
  const sorted = Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([name, sorted]);
}

function seriesFor<T>(map: Map<string, Series<T>>, name: string, tags: MetricTags, initial: () => T): Series<T> {
  const key = seriesKey(name, tags);
  let series = map.get(key);
  if (series === undefined) {
    series = { name, tags: Object.freeze({ ...tags }), state: initial() };
    map.set(key, series);
  }
  return series;
}

function sortedSeries<T>(map: Map<string, Series<T>>): Array<Series<T>> {
  return [...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, series]) => series);
}

function orderedObservations(state: HistogramState): number[] {
  return [...state.recent.slice(state.next), ...state.recent.slice(0, state.next)];
}
