import { defineModule } from '@platform-host/contracts';
import { run } from './main.js';

/**
 * stream_ingest (seed 3.1, 10.3, 17.1; issue 12): a service that consumes events from a Kafka
 * topic and writes them to the data lake in parquet, JSON Lines or CSV files, each message in
 * exactly one committed file and one `ingested_events` row.
 */
export default defineModule({ interfaces: ['database', 'filesystem', 'message_queue', 'logging', 'metrics'], run });

export { run, type StreamIngestContext } from './main.js';
export { StreamIngester, type IngesterDependencies, type IngestTotals } from './ingester.js';
export { readSettings, InvalidArgumentError, OUTPUT_FORMATS } from './settings.js';
export type { IngestSettings, OutputFormat } from './settings.js';
export { decodeMessage, lakeFilePath, parseTimestamp, utcDate, DEAD_LETTER_REASONS } from './record.js';
export type { LakeRecord, DeadLetterReason } from './record.js';
export { encodeRecords, LAKE_COLUMNS } from './formats.js';
export { LakeStore, FencedError } from './lake-store.js';
export { INGEST_METRIC_NAMES, declareIngestMetrics, type IngestMetrics } from './ingest-metrics.js';
