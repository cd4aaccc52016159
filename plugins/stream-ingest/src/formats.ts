import {
  Field,
  Int32,
  Int64,
  RecordBatch,
  Schema,
  Struct,
  Table as ArrowTable,
  TimestampMillisecond,
  Utf8,
  makeData,
  tableToIPC,
  type Data,
} from 'apache-arrow';
import { Compression, EnabledStatistics, Table, WriterPropertiesBuilder, writeParquet } from 'parquet-wasm/node';
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
 * One Arrow `Utf8` column of `values` (`null` entries become nulls). The common case, a column with
 * no nulls and only ASCII text, is encoded in one pass over the joined text (its byte offsets are
 * the character offsets); anything else is written value by value.
 */
function utf8Column(values: ReadonlyArray<string | null>): Data<Utf8> {
  const length = values.length;
  const offsets = new Int32Array(length + 1);
  let nullCount = 0;
  for (const value of values) if (value === null) nullCount += 1;
  if (nullCount === 0) {
    const joined = (values as readonly string[]).join('');
    const bytes = Buffer.from(joined, 'utf8');
    if (bytes.byteLength === joined.length) {
      let end = 0;
      for (let i = 0; i < length; i += 1) {
        end += (values[i] as string).length;
        offsets[i + 1] = end;
      }
      return makeData({ type: new Utf8(), length, nullCount: 0, valueOffsets: offsets, data: bytes });
    }
  }
  let byteLength = 0;
  for (const value of values) if (value !== null) byteLength += Buffer.byteLength(value, 'utf8');
  const bytes = Buffer.allocUnsafe(byteLength);
  const validity = nullCount === 0 ? undefined : new Uint8Array((length + 7) >> 3);
  let end = 0;
  for (let i = 0; i < length; i += 1) {
    const value = values[i] as string | null;
    if (value !== null) {
      end += bytes.write(value, end, 'utf8');
      if (validity !== undefined) validity[i >> 3] = (validity[i >> 3] as number) | (1 << (i & 7));
    }
    offsets[i + 1] = end;
  }
  return makeData({ type: new Utf8(), length, nullCount, nullBitmap: validity, valueOffsets: offsets, data: bytes });
}

/** True where a 64-bit integer's low 32-bit word comes first in memory (x86, Arm as Node runs them). */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const TWO_TO_32 = 2 ** 32;

/**
 * `column[index] = BigInt(ms)` for an integral epoch ms, written as its two 32-bit words when it
 * is not negative (every lake time is, below 2^53): no BigInt is made for each row.
 */
function setEpochMs(column: BigInt64Array, words: Uint32Array, index: number, ms: number): void {
  if (LITTLE_ENDIAN && ms >= 0) {
    words[2 * index] = ms % TWO_TO_32;
    words[2 * index + 1] = Math.floor(ms / TWO_TO_32);
  } else {
    column[index] = BigInt(ms);
  }
}

/** Lake columns with min/max statistics in the footer (cheap, and what readers prune files by). */
const STATISTICS_COLUMNS = ['timestamp', '_partition', '_offset', '_ingested_at'] as const;

/**
 * Parquet through parquet-wasm (the Rust `parquet` crate compiled to WebAssembly, from an Apache
 * Arrow table built column-wise with apache-arrow): strings as UTF8 byte arrays, `timestamp` and
 * `_ingested_at` as INT64 timestamps in milliseconds adjusted to UTC, `_partition` INT32, `_offset`
 * INT64, snappy-compressed, one row group per file, plain encoding (measured: dictionary-encoding
 * the low-cardinality `event_type`/`source`/`_topic` made the file 4% smaller but the encoding
 * about 30% slower; snappy already shrinks their repeats), min/max statistics on the time and
 * offset columns only. (hyparquet-writer, the pure-JavaScript writer used before, encoded about a
 * quarter as fast.)
 */
function encodeParquet(records: readonly LakeRecord[]): Uint8Array {
  const length = records.length;
  const timestamps = new BigInt64Array(length);
  const ingestedAt = new BigInt64Array(length);
  const offsets = new BigInt64Array(length);
  const partitions = new Int32Array(length);
  const timestampWords = new Uint32Array(timestamps.buffer);
  const ingestedAtWords = new Uint32Array(ingestedAt.buffer);
  for (let i = 0; i < length; i += 1) {
    const record = records[i] as LakeRecord;
    setEpochMs(timestamps, timestampWords, i, record.timestamp);
    setEpochMs(ingestedAt, ingestedAtWords, i, record._ingested_at);
    offsets[i] = record._offset;
    partitions[i] = record._partition;
  }
  const utcMillis = new TimestampMillisecond('UTC');
  const columns: Record<(typeof LAKE_COLUMNS)[number], Data> = {
    event_id: utf8Column(records.map((r) => r.event_id)),
    event_type: utf8Column(records.map((r) => r.event_type)),
    source: utf8Column(records.map((r) => r.source)),
    timestamp: makeData({ type: utcMillis, length, data: timestamps }),
    payload: utf8Column(records.map((r) => r.payload)),
    _topic: utf8Column(records.map((r) => r._topic)),
    _partition: makeData({ type: new Int32(), length, data: partitions }),
    _offset: makeData({ type: new Int64(), length, data: offsets }),
    _ingested_at: makeData({ type: utcMillis, length, data: ingestedAt }),
  };
  const fields = LAKE_COLUMNS.map(
    (name) => new Field(name, columns[name].type, name === 'source' || name === 'payload'),
  );
  const schema = new Schema(fields);
  const rows = makeData({ type: new Struct(fields), length, children: LAKE_COLUMNS.map((name) => columns[name]) });
  const table = Table.fromIPCStream(tableToIPC(new ArrowTable(schema, new RecordBatch(schema, rows)), 'stream'));
  let properties = new WriterPropertiesBuilder()
    .setCompression(Compression.SNAPPY)
    .setDictionaryEnabled(false)
    .setStatisticsEnabled(EnabledStatistics.None)
    .setMaxRowGroupSize(Math.max(1, length));
  for (const name of STATISTICS_COLUMNS) {
    properties = properties.setColumnStatisticsEnabled(name, EnabledStatistics.Chunk);
  }
  // writeParquet takes ownership of (and frees) both the table and the properties.
  return writeParquet(table, properties.build());
}

/** The bytes of one lake file holding `records` in `format`. */
export function encodeRecords(records: readonly LakeRecord[], format: OutputFormat): Uint8Array {
  if (format === 'parquet') return encodeParquet(records);
  if (format === 'csv') return encodeCsv(records);
  return encodeJsonLines(records);
}
