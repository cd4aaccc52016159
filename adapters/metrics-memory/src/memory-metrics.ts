import { performance } from 'node:perf_hooks';
import {
  resolveDeclaration,
  validateLabels,
  validateObservation,
  type Counter,
  type Gauge,
  type Histogram,
  type HistogramOptions,
  type InstrumentDeclaration,
  type InstrumentKind,
  type InstrumentOptions,
  type LabelValues,
  type Metrics,
} from '@platform-host/contracts';

/** Label values of one series, as read back. */
export type SeriesLabels = Readonly<Record<string, string>>;

/** One bucket of a histogram series: observations `<= le`, cumulative like Prometheus. */
export interface BucketCount {
  readonly le: number;
  readonly count: number;
}

/** A histogram series as read back. `buckets` lists the declared bounds (no `+Inf`: that is `count`). */
export interface HistogramData {
  readonly count: number;
  readonly sum: number;
  readonly buckets: readonly BucketCount[];
}

/** One counter or gauge series. */
export interface ScalarSeries {
  readonly labels: SeriesLabels;
  readonly value: number;
}

/** One histogram series. */
export interface HistogramSeries extends HistogramData {
  readonly labels: SeriesLabels;
}

/** A declared instrument with every series it recorded, series sorted by label values. */
export type MetricFamily =
  | {
      readonly kind: 'counter' | 'gauge';
      readonly name: string;
      readonly help: string;
      readonly labelNames: readonly string[];
      readonly series: readonly ScalarSeries[];
    }
  | {
      readonly kind: 'histogram';
      readonly name: string;
      readonly help: string;
      readonly labelNames: readonly string[];
      readonly bucketBounds: readonly number[];
      readonly series: readonly HistogramSeries[];
    };

interface HistogramState {
  count: number;
  sum: number;
  /** Observations per bucket, not cumulative; cumulated when read. */
  readonly perBucket: number[];
}

interface Family {
  readonly declaration: InstrumentDeclaration;
  /** Series by {@link seriesKey}: label values in the declaration's label order. */
  readonly series: Map<string, { readonly labels: SeriesLabels; state: number | HistogramState }>;
}

/**
 * Metrics kept in memory (seed 5.2.6, `--metrics memory`), for tests that assert on metric values
 * and for local runs. Validates exactly like every other adapter (through the contracts' helpers):
 * an invalid declaration, a redeclaration with other options, a label set other than the declared
 * one or a value that is not allowed throws `PH_ERR_METRIC_INVALID` and records nothing.
 *
 * Read back with {@link MemoryMetrics.value}, {@link MemoryMetrics.histogramData},
 * {@link MemoryMetrics.total} and {@link MemoryMetrics.families}.
 */
export class MemoryMetrics implements Metrics {
  readonly #families = new Map<string, Family>();

  counter<L extends string = never>(options: InstrumentOptions<L>): Counter<L> {
    const family = this.#declare('counter', options);
    return {
      inc: (labels, value = 1) => {
        validateObservation(family.declaration.name, value, 'counter');
        const series = this.#series(family, labels, () => 0);
        series.state = (series.state as number) + value;
      },
    };
  }

  gauge<L extends string = never>(options: InstrumentOptions<L>): Gauge<L> {
    const family = this.#declare('gauge', options);
    const add = (labels: LabelValues<L>, delta: number): void => {
      validateObservation(family.declaration.name, delta, 'gauge');
      const series = this.#series(family, labels, () => 0);
      series.state = (series.state as number) + delta;
    };
    return {
      set: (labels, value) => {
        validateObservation(family.declaration.name, value, 'gauge');
        this.#series(family, labels, () => 0).state = value;
      },
      inc: (labels, value = 1) => add(labels, value),
      dec: (labels, value = 1) => add(labels, -value),
    };
  }

  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L> {
    const family = this.#declare('histogram', options);
    const bounds = family.declaration.buckets ?? [];
    const observe = (labels: LabelValues<L>, value: number): void => {
      validateObservation(family.declaration.name, value, 'histogram');
      const series = this.#series(family, labels, () => ({ count: 0, sum: 0, perBucket: bounds.map(() => 0) }));
      const state = series.state as HistogramState;
      state.count += 1;
      state.sum += value;
      const index = bounds.findIndex((bound) => value <= bound);
      if (index >= 0) state.perBucket[index] = (state.perBucket[index] ?? 0) + 1;
    };
    return {
      observe,
      startTimer: (labels) => {
        validateLabels(family.declaration.name, family.declaration.labelNames, labels);
        const started = performance.now();
        let elapsed: number | undefined;
        return () => {
          if (elapsed === undefined) {
            elapsed = Math.max(0, performance.now() - started) / 1000;
            observe(labels, elapsed);
          }
          return elapsed;
        };
      },
    };
  }

  async flush(): Promise<void> {
    // Nothing is buffered: every value is recorded when it is observed.
  }

  /**
   * The value of a counter or gauge series with exactly these labels, or `undefined` when that
   * series was never observed (or the name never declared). Throws `PH_ERR_METRIC_INVALID` when
   * the labels are not the declared ones, and a `TypeError` for a histogram.
   */
  value(name: string, labels: SeriesLabels = {}): number | undefined {
    const state = this.#read(name, labels, 'value');
    return state === undefined ? undefined : (state as number);
  }

  /** Count, sum and cumulative buckets of a histogram series, or `undefined` when never observed. */
  histogramData(name: string, labels: SeriesLabels = {}): HistogramData | undefined {
    const family = this.#families.get(name);
    const state = this.#read(name, labels, 'histogram');
    if (family === undefined || state === undefined) return undefined;
    return histogramData(family.declaration.buckets ?? [], state as HistogramState);
  }

  /** A counter's or gauge's values summed over all its series (0 when none), e.g. every outcome at once. */
  total(name: string): number {
    const family = this.#families.get(name);
    if (family?.declaration.kind === 'histogram') {
      throw new TypeError(`Metric ${name} is a histogram: read it with histogramData()`);
    }
    let sum = 0;
    for (const series of family?.series.values() ?? []) sum += series.state as number;
    return sum;
  }

  /** A copy of every declared instrument and its series, sorted by name. */
  families(): MetricFamily[] {
    return [...this.#families.values()]
      .sort((a, b) => compare(a.declaration.name, b.declaration.name))
      .map(({ declaration, series }) => {
        const entries = [...series.entries()].sort(([a], [b]) => compare(a, b)).map(([, entry]) => entry);
        const base = { name: declaration.name, help: declaration.help, labelNames: declaration.labelNames };
        if (declaration.kind !== 'histogram') {
          return {
            ...base,
            kind: declaration.kind,
            series: entries.map(({ labels, state }) => ({ labels, value: state as number })),
          };
        }
        const bounds = declaration.buckets ?? [];
        return {
          ...base,
          kind: 'histogram',
          bucketBounds: bounds,
          series: entries.map(({ labels, state }) => ({ labels, ...histogramData(bounds, state as HistogramState) })),
        };
      });
  }

  /** Forgets every recorded value; declarations (and instruments already handed out) stay valid. */
  reset(): void {
    for (const family of this.#families.values()) family.series.clear();
  }

  #declare(kind: InstrumentKind, options: HistogramOptions<string>): Family {
    const existing = this.#families.get(options.name);
    const declaration = resolveDeclaration(kind, options, existing?.declaration);
    if (existing !== undefined) return existing;
    const family: Family = { declaration, series: new Map() };
    this.#families.set(declaration.name, family);
    return family;
  }

  #series(
    family: Family,
    labels: unknown,
    initial: () => number | HistogramState,
  ): { readonly labels: SeriesLabels; state: number | HistogramState } {
    const { name, labelNames } = family.declaration;
    validateLabels(name, labelNames, labels);
    const values = (labels ?? {}) as SeriesLabels;
    const key = seriesKey(labelNames, values);
    let series = family.series.get(key);
    if (series === undefined) {
      const copy = Object.freeze(Object.fromEntries(labelNames.map((label) => [label, values[label] ?? ''])));
      series = { labels: copy, state: initial() };
      family.series.set(key, series);
    }
    return series;
  }

  #read(name: string, labels: SeriesLabels, as: 'value' | 'histogram'): number | HistogramState | undefined {
    const family = this.#families.get(name);
    if (family === undefined) return undefined;
    const isHistogram = family.declaration.kind === 'histogram';
    if (isHistogram !== (as === 'histogram')) {
      throw new TypeError(
        `Metric ${name} is a ${family.declaration.kind}: read it with ${isHistogram ? 'histogramData()' : 'value()'}`,
      );
    }
    validateLabels(name, family.declaration.labelNames, labels);
    return family.series.get(seriesKey(family.declaration.labelNames, labels))?.state;
  }
}

function seriesKey(labelNames: readonly string[], labels: SeriesLabels): string {
  return JSON.stringify(labelNames.map((label) => labels[label]));
}

function histogramData(bounds: readonly number[], state: HistogramState): HistogramData {
  let cumulative = 0;
  return {
    count: state.count,
    sum: state.sum,
    buckets: bounds.map((le, index) => {
      cumulative += state.perBucket[index] ?? 0;
      return { le, count: cumulative };
    }),
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
