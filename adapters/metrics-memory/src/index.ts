import { PlatformError, defineAdapter } from '@platform-host/contracts';
import { DEFAULT_MAX_OBSERVATIONS, MemoryMetrics } from './memory-metrics.js';

export { MemoryMetrics, DEFAULT_MAX_OBSERVATIONS } from './memory-metrics.js';
export type {
  CounterSeries,
  GaugeSeries,
  HistogramSeries,
  MemoryMetricsOptions,
  MetricsSnapshot,
} from './memory-metrics.js';

/** `--metrics memory`: metrics kept in memory, inspectable by tests. */
export default defineAdapter({
  interface: 'metrics',
  create: ({ config }) => {
    const maxObservations = config.integer('METRICS_MEMORY_MAX_OBSERVATIONS', DEFAULT_MAX_OBSERVATIONS);
    if (maxObservations < 1) {
      throw new PlatformError(
        'PH_ERR_CONFIG_INVALID',
        `METRICS_MEMORY_MAX_OBSERVATIONS must be at least 1, got ${maxObservations}`,
        { hint: 'Set METRICS_MEMORY_MAX_OBSERVATIONS to a positive integer, or leave it unset for 10000.' },
      );
    }
    return new MemoryMetrics({ maxObservations });
  },
});
