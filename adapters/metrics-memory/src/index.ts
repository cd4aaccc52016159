import { defineAdapter } from '@platform-host/contracts';
import { MemoryMetrics } from './memory-metrics.js';

export { MemoryMetrics } from './memory-metrics.js';
export type {
  BucketCount,
  HistogramData,
  HistogramSeries,
  MetricFamily,
  ScalarSeries,
  SeriesLabels,
} from './memory-metrics.js';

/** `--metrics memory`: metrics kept in memory, readable by tests. */
export default defineAdapter({
  interface: 'metrics',
  create: () => new MemoryMetrics(),
});
