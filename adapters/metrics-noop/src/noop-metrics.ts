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
  type Metrics,
} from '@platform-host/contracts';

/**
 * Metrics that are discarded (seed 5.2.6, `--metrics noop`), for local runs that do not need them.
 *
 * Still validates everything the way every metrics adapter does (through the contracts' helpers),
 * so code that passes on noop does not fail on Prometheus: invalid declarations, a name declared
 * again with other options or as another kind, label sets other than the declared one and values
 * that are not allowed throw `PH_ERR_METRIC_INVALID`. Timers still measure and return the elapsed
 * seconds.
 */
export class NoopMetrics implements Metrics {
  readonly #declarations = new Map<string, InstrumentDeclaration>();

  counter<L extends string = never>(options: InstrumentOptions<L>): Counter<L> {
    const { name, labelNames } = this.#declare('counter', options);
    return {
      inc: (labels, value = 1) => {
        validateLabels(name, labelNames, labels);
        validateObservation(name, value, 'counter');
      },
    };
  }

  gauge<L extends string = never>(options: InstrumentOptions<L>): Gauge<L> {
    const { name, labelNames } = this.#declare('gauge', options);
    const check = (labels: unknown, value: number): void => {
      validateLabels(name, labelNames, labels);
      validateObservation(name, value, 'gauge');
    };
    return {
      set: check,
      inc: (labels, value = 1) => check(labels, value),
      dec: (labels, value = 1) => check(labels, value),
    };
  }

  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L> {
    const { name, labelNames } = this.#declare('histogram', options);
    return {
      observe: (labels, value) => {
        validateLabels(name, labelNames, labels);
        validateObservation(name, value, 'histogram');
      },
      startTimer: (labels) => {
        validateLabels(name, labelNames, labels);
        const started = performance.now();
        let elapsed: number | undefined;
        return () => (elapsed ??= Math.max(0, performance.now() - started) / 1000);
      },
    };
  }

  async flush(): Promise<void> {
    // Nothing is kept, so there is nothing to write out.
  }

  #declare(kind: InstrumentKind, options: HistogramOptions<string>): InstrumentDeclaration {
    const declaration = resolveDeclaration(kind, options, this.#declarations.get(options.name));
    this.#declarations.set(declaration.name, declaration);
    return declaration;
  }
}
