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

/** Declares the module's instruments on `metrics`. */
export function declareIngestMetrics(metrics: Metrics): IngestMetrics {
  const labelNames: Labels[] = ['topic', 'group'];
  return {
    recordsWritten: metrics.counter({
      name: 'stream_ingest_records_written_total',
      help: 'Records committed to lake files (each exactly once).',
      labelNames: [...labelNames, 'format'],
    }),
    filesWritten: metrics.counter({
      name: 'stream_ingest_files_written_total',
      help: 'Lake files committed.',
      labelNames: [...labelNames, 'format'],
    }),
    bytesWritten: metrics.counter({
      name: 'stream_ingest_bytes_written_total',
      help: 'Bytes of the committed lake files.',
      labelNames: [...labelNames, 'format'],
    }),
    duplicatesSkipped: metrics.counter({
      name: 'stream_ingest_duplicates_skipped_total',
      help: 'Redelivered messages found already committed, acknowledged without writing them again.',
      labelNames,
    }),
    deadLettered: metrics.counter({
      name: 'stream_ingest_dead_lettered_total',
      help: 'Messages dead-lettered, by reason (malformed_json, invalid_event).',
      labelNames: [...labelNames, 'reason'],
    }),
    fencedCommits: metrics.counter({
      name: 'stream_ingest_fenced_commits_total',
      help: 'Commits refused because the partition had moved to a newer owner (a stalled writer woke up).',
      labelNames,
    }),
    flushDuration: metrics.histogram({
      name: 'stream_ingest_flush_duration_seconds',
      help: 'Time of one partition flush: encode, stage, commit transaction, publish, acknowledge.',
      labelNames,
      unit: 'seconds',
    }),
    partitionLag: metrics.gauge({
      name: 'stream_ingest_partition_lag_records',
      help: 'Records delivered to this consumer and not committed to the lake yet, per partition.',
      labelNames: [...labelNames, 'partition'],
    }),
    committedOffset: metrics.gauge({
      name: 'stream_ingest_committed_offset',
      help: 'The last offset committed to the lake, per partition.',
      labelNames: [...labelNames, 'partition'],
    }),
  };
}
