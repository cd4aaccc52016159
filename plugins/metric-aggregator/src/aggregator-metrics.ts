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

/** Bucket bounds of the flush batch size (events per flush). */
const BATCH_SIZE_BUCKETS = [1, 10, 50, 100, 500, 1000, 2500, 5000, 10_000, 25_000];

/** Declares the module's instruments on `metrics`. */
export function declareAggregatorMetrics(metrics: Metrics): AggregatorMetrics {
  const labelNames: Labels[] = ['topic', 'group'];
  return {
    eventsApplied: metrics.counter({
      name: 'metric_aggregator_events_applied_total',
      help: 'Events applied to metric_rollups (each exactly once).',
      labelNames,
    }),
    eventsDuplicate: metrics.counter({
      name: 'metric_aggregator_events_duplicate_total',
      help: 'Redelivered events found already applied, acknowledged without changing metric_rollups.',
      labelNames,
    }),
    eventsDeadLettered: metrics.counter({
      name: 'metric_aggregator_events_dead_lettered_total',
      help: 'Messages dead-lettered, by reason (malformed_json, invalid_event, future_timestamp, late).',
      labelNames: [...labelNames, 'reason'],
    }),
    eventsLate: metrics.counter({
      name: 'metric_aggregator_events_late_total',
      help: 'Events for a window the watermark had already closed (dead-lettered with reason late).',
      labelNames,
    }),
    flushDuration: metrics.histogram({
      name: 'metric_aggregator_flush_duration_seconds',
      help: 'Time of one flush transaction (rollup upserts, applied record, watermark), until the commit.',
      labelNames,
      unit: 'seconds',
    }),
    flushBatchSize: metrics.histogram({
      name: 'metric_aggregator_flush_batch_size_events',
      help: 'Events written by one flush.',
      labelNames,
      unit: 'events',
      buckets: BATCH_SIZE_BUCKETS,
    }),
    watermarkLag: metrics.gauge({
      name: 'metric_aggregator_watermark_lag_seconds',
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
