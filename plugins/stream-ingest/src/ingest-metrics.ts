import type { Counter, Gauge, Histogram, Metrics } from '@platform-host/contracts';

type Labels = 'topic' | 'group';

/** The instruments of stream_ingest (issue 12), declared once per run. */
export interface IngestMetrics {
  readonly recordsWritten: Counter<Labels | 'format'>;
  readonly filesWritten: Counter<Labels | 'format'>;
  readonly bytesWritten: Counter<Labels | 'format'>;
  readonly duplicatesSkipped: Counter<Labels>;
  readonly deadLettered: Counter<Labels | 'reason'>;
  readonly fencedCommits: Counter<Labels>;
  readonly flushDuration: Histogram<Labels>;
  readonly partitionLag: Gauge<Labels | 'partition'>;
  readonly committedOffset: Gauge<Labels | 'partition'>;
}

/** The metric names of the instruments, by {@link IngestMetrics} member (fixed for the dashboards). */
const METRIC_NAMES = {
  recordsWritten: 'stream_ingest_records_written_total',
  filesWritten: 'stream_ingest_files_written_total',
  bytesWritten: 'stream_ingest_bytes_written_total',
  duplicatesSkipped: 'stream_ingest_duplicates_skipped_total',
  deadLettered: 'stream_ingest_dead_lettered_total',
  fencedCommits: 'stream_ingest_fenced_commits_total',
  flushDuration: 'stream_ingest_flush_duration_seconds',
  partitionLag: 'stream_ingest_partition_lag_records',
  committedOffset: 'stream_ingest_committed_offset',
} as const satisfies Record<keyof IngestMetrics, string>;

/** Every metric name stream_ingest exports (the dashboard test checks panels against these). */
export const INGEST_METRIC_NAMES: readonly string[] = Object.freeze(Object.values(METRIC_NAMES));

/** Declares the module's instruments on `metrics`. */
export function declareIngestMetrics(metrics: Metrics): IngestMetrics {
  const labelNames: Labels[] = ['topic', 'group'];
  return {
    recordsWritten: metrics.counter({
      name: METRIC_NAMES.recordsWritten,
      help: 'Records committed to lake files (each exactly once).',
      labelNames: [...labelNames, 'format'],
    }),
    filesWritten: metrics.counter({
      name: METRIC_NAMES.filesWritten,
      help: 'Lake files committed.',
      labelNames: [...labelNames, 'format'],
    }),
    bytesWritten: metrics.counter({
      name: METRIC_NAMES.bytesWritten,
      help: 'Bytes of the committed lake files.',
      labelNames: [...labelNames, 'format'],
    }),
    duplicatesSkipped: metrics.counter({
      name: METRIC_NAMES.duplicatesSkipped,
      help: 'Redelivered messages found already committed, acknowledged without writing them again.',
      labelNames,
    }),
    deadLettered: metrics.counter({
      name: METRIC_NAMES.deadLettered,
      help: 'Messages dead-lettered, by reason (malformed_json, invalid_event).',
      labelNames: [...labelNames, 'reason'],
    }),
    fencedCommits: metrics.counter({
      name: METRIC_NAMES.fencedCommits,
      help: 'Commits refused because the partition had moved to a newer owner (a stalled writer woke up).',
      labelNames,
    }),
    flushDuration: metrics.histogram({
      name: METRIC_NAMES.flushDuration,
      help: 'Time of one partition flush: encode, stage, commit transaction, publish, acknowledge.',
      labelNames,
      unit: 'seconds',
    }),
    partitionLag: metrics.gauge({
      name: METRIC_NAMES.partitionLag,
      help: 'Records delivered to this consumer and not committed to the lake yet, per partition.',
      labelNames: [...labelNames, 'partition'],
    }),
    committedOffset: metrics.gauge({
      name: METRIC_NAMES.committedOffset,
      help: 'The last offset committed to the lake, per partition.',
      labelNames: [...labelNames, 'partition'],
    }),
  };
}
