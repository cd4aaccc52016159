import type { Counter, Gauge, Histogram, Metrics } from '@platform-host/contracts';
import type { DeadLetterReason } from './event.js';

type Labels = 'topic' | 'group';

/** The instruments of metric_aggregator (issue 11, Observability), declared once per run. */
export interface AggregatorMetrics {
  readonly eventsApplied: Counter<Labels>;
  readonly eventsDuplicate: Counter<Labels>;
  readonly eventsDeadLettered: Counter<Labels | 'reason'>;
  readonly eventsLate: Counter<Labels>;
  readonly flushDuration: Histogram<Labels>;
  readonly flushBatchSize: Histogram<Labels>;
  readonly watermarkLag: Gauge<Labels>;
}

/** The metric name of each instrument (fixed: the Grafana dashboard queries them). */
const METRIC_NAMES = {
  eventsApplied: 'metric_aggregator_events_applied_total',
  eventsDuplicate: 'metric_aggregator_events_duplicate_total',
  eventsDeadLettered: 'metric_aggregator_events_dead_lettered_total',
  eventsLate: 'metric_aggregator_events_late_total',
  flushDuration: 'metric_aggregator_flush_duration_seconds',
  flushBatchSize: 'metric_aggregator_flush_batch_size_events',
  watermarkLag: 'metric_aggregator_watermark_lag_seconds',
} as const satisfies Record<keyof AggregatorMetrics, string>;

/** Every metric name metric_aggregator exports (the dashboard test checks panels against these). */
export const AGGREGATOR_METRIC_NAMES: readonly string[] = Object.freeze(Object.values(METRIC_NAMES));

/** Bucket bounds of the flush batch size (events per flush). */
const BATCH_SIZE_BUCKETS = [1, 10, 50, 100, 500, 1000, 2500, 5000, 10_000, 25_000];

/** Declares the module's instruments on `metrics`. */
export function declareAggregatorMetrics(metrics: Metrics): AggregatorMetrics {
  const labelNames: Labels[] = ['topic', 'group'];
  return {
    eventsApplied: metrics.counter({
      name: METRIC_NAMES.eventsApplied,
      help: 'Events applied to metric_rollups (each exactly once).',
      labelNames,
    }),
    eventsDuplicate: metrics.counter({
      name: METRIC_NAMES.eventsDuplicate,
      help: 'Redelivered events found already applied, acknowledged without changing metric_rollups.',
      labelNames,
    }),
    eventsDeadLettered: metrics.counter({
      name: METRIC_NAMES.eventsDeadLettered,
      help: 'Messages dead-lettered, by reason (malformed_json, invalid_event, future_timestamp, late).',
      labelNames: [...labelNames, 'reason'],
    }),
    eventsLate: metrics.counter({
      name: METRIC_NAMES.eventsLate,
      help: 'Events for a window the watermark had already closed (dead-lettered with reason late).',
      labelNames,
    }),
    flushDuration: metrics.histogram({
      name: METRIC_NAMES.flushDuration,
      help: 'Time of one flush transaction (rollup upserts, applied record, watermark), until the commit.',
      labelNames,
      unit: 'seconds',
    }),
    flushBatchSize: metrics.histogram({
      name: METRIC_NAMES.flushBatchSize,
      help: 'Events written by one flush.',
      labelNames,
      unit: 'events',
      buckets: BATCH_SIZE_BUCKETS,
    }),
    watermarkLag: metrics.gauge({
      name: METRIC_NAMES.watermarkLag,
      help: 'Wall-clock time minus the watermark of the group, in seconds.',
      labelNames,
      unit: 'seconds',
    }),
  };
}

/** Counts one dead letter (and a late one in the late counter too). */
export function countDeadLetter(
  metrics: AggregatorMetrics,
  labels: { readonly topic: string; readonly group: string },
  reason: DeadLetterReason,
  count = 1,
): void {
  if (count <= 0) return;
  metrics.eventsDeadLettered.inc({ ...labels, reason }, count);
  if (reason === 'late') metrics.eventsLate.inc(labels, count);
}
