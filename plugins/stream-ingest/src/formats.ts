import { parquetWriteBuffer } from 'hyparquet-writer';
import type { LakeRecord } from './record.js';
import type { OutputFormat } from './settings.js';

/** The columns of every lake file, in order (issue 12, fixed). */
export const LAKE_COLUMNS = [
  'event_id',
  'event_type',
  'source',
  'timestamp',
  'payload',
  '_topic',
  '_partition',
  '_offset',
  '_ingested_at',
] as const;

/** A record as one JSON object (the JSON Lines form; timestamps as ISO 8601 UTC, the offset as a number). */
export function recordJson(record: LakeRecord): string {
  return JSON.stringify({
    event_id: record.event_id,
    event_type: record.event_type,
    source: record.source,
    timestamp: new Date(record.timestamp).toISOString(),
    payload: record.payload === null ? null : (JSON.parse(record.payload) as unknown),
    _topic: record._topic,
    _partition: record._partition,
    // Kafka offsets stay far below 2^53; a JSON number keeps the column numeric for readers.
    _offset: Number(record._offset),
    _ingested_at: new Date(record._ingested_at).toISOString(),
  });
}

/** One CSV field, quoted as RFC 4180 requires when it holds a comma, a quote, CR or LF. */
function csvField(value: string | null): string {
  if (value === null) return '';
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

function csvRow(fields: ReadonlyArray<string | null>): string {
  return `${fields.map(csvField).join(',')}\r\n`;
}

/**
 * RFC 4180 CSV with a header line and CRLF line ends; `payload` holds the JSON text, an absent
 * `source`/`payload` is an empty field. (Quoting is the five lines above: no library needed.)
 */
function encodeCsv(records: readonly LakeRecord[]): Uint8Array {
  let text = csvRow(LAKE_COLUMNS);
  for (const r of records) {
    text += csvRow([
      r.event_id,
      r.event_type,
      r.source,
      new Date(r.timestamp).toISOString(),
      r.payload,
      r._topic,
      String(r._partition),
      r._offset.toString(),
      new Date(r._ingested_at).toISOString(),
    ]);
  }
  return new TextEncoder().encode(text);
}

function encodeJsonLines(records: readonly LakeRecord[]): Uint8Array {
  return new TextEncoder().encode(records.map((record) => `${recordJson(record)}\n`).join(''));
}

/**
 * Parquet through hyparquet-writer (pure JavaScript, no native build): strings as UTF8 byte arrays,
 * `timestamp` and `_ingested_at` as INT64 TIMESTAMP_MILLIS adjusted to UTC, `_partition` INT32,
 * `_offset` INT64, snappy-compressed, one row group per file. The high-cardinality `event_id` and
 * `payload` columns skip the dictionary and statistics (most of the writer's time otherwise).
 */
function encodeParquet(records: readonly LakeRecord[]): Uint8Array {
  const utc = (name: string) =>
    ({
      name,
      type: 'INT64',
      repetition_type: 'REQUIRED',
      converted_type: 'TIMESTAMP_MILLIS',
      logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
    }) as const;
  const text = (name: string, optional = false) =>
    ({
      name,
      type: 'BYTE_ARRAY',
      repetition_type: optional ? 'OPTIONAL' : 'REQUIRED',
      converted_type: 'UTF8',
      logical_type: { type: 'STRING' },
    }) as const;
  const buffer = parquetWriteBuffer({
    schema: [
      { name: 'root', num_children: LAKE_COLUMNS.length },
      text('event_id'),
      text('event_type'),
      text('source', true),
      utc('timestamp'),
      text('payload', true),
      text('_topic'),
      { name: '_partition', type: 'INT32', repetition_type: 'REQUIRED' },
      { name: '_offset', type: 'INT64', repetition_type: 'REQUIRED' },
      utc('_ingested_at'),
    ],
    columnData: [
      // Unique per row: plain encoding (no dictionary attempt) and no min/max statistics.
      { name: 'event_id', data: records.map((r) => r.event_id), encoding: 'PLAIN', statistics: false },
      { name: 'event_type', data: records.map((r) => r.event_type) },
      { name: 'source', data: records.map((r) => r.source) },
      { name: 'timestamp', data: records.map((r) => BigInt(r.timestamp)) },
      { name: 'payload', data: records.map((r) => r.payload), encoding: 'PLAIN', statistics: false },
      { name: '_topic', data: records.map((r) => r._topic) },
      { name: '_partition', data: Int32Array.from(records, (r) => r._partition) },
      { name: '_offset', data: BigInt64Array.from(records, (r) => r._offset) },
      { name: '_ingested_at', data: records.map((r) => BigInt(r._ingested_at)) },
    ],
    rowGroupSize: Math.max(1, records.length),
  });
  return new Uint8Array(buffer);
}

/** The bytes of one lake file holding `records` in `format`. */
export function encodeRecords(records: readonly LakeRecord[], format: OutputFormat): Uint8Array {
  if (format === 'parquet') return encodeParquet(records);
  if (format === 'csv') return encodeCsv(records);
  return encodeJsonLines(records);
}
