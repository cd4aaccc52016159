import { defineModule } from '@platform-host/contracts';
import { run } from './main.js';

/**
 * metric_aggregator (seed 17.5, issue 11): a worker that consumes platform events from a queue,
 * aggregates them in tumbling event-time windows and upserts the rollups into `metric_rollups`
 * with exactly-once effects.
 */
export default defineModule({ interfaces: ['database', 'message_queue', 'logging', 'metrics'], run });

export { run, type MetricAggregatorContext } from './main.js';
export { AGGREGATOR_METRIC_NAMES, declareAggregatorMetrics, type AggregatorMetrics } from './aggregator-metrics.js';
export { MetricAggregator, idleAfterMs, type AggregatorDependencies, type AggregatorTotals } from './aggregator.js';
export { readSettings, parseWindows, parseGroupBy, parseDuration, InvalidArgumentError } from './settings.js';
export type { AggregatorSettings, Dimension } from './settings.js';
export { decodeEvent, parseTimestamp, DEAD_LETTER_REASONS, MAX_DIMENSIONS_BYTES } from './event.js';
export type { DeadLetterReason, AggregatedEvent, DecodedEvent } from './event.js';
export { windowStartSeconds, earliestWindowEndMs, WatermarkClock } from './windows.js';
export { createRollupSink, type RollupSink } from './rollup-sink.js';
export { CqlRollupStore, FLUSH_LEASE_TTL_SECONDS, CQL_ORPHAN_TTL_SECONDS, ledgerBucket } from './cql-rollup-store.js';
export { LEDGER_HOLD_LIMIT_MS, LEDGER_ORPHAN_RETENTION_MS, ORPHAN_PRUNE_AFTER_UPTIME_MS } from './rollup-store.js';
