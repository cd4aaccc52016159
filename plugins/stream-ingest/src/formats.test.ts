import { expect } from 'chai';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { LAKE_COLUMNS, encodeRecords } from './formats.js';
import type { LakeRecord } from './record.js';

const base = Date.parse('2026-01-15T10:00:00.123Z');

function record(i: number, overrides: Partial<LakeRecord> = {}): LakeRecord {
  return {
    event_id: `evt-${i}`,
    event_type: ['click', 'view'][i % 2] as string,
    source: 'web',
    timestamp: base + i,
    payload: JSON.stringify({ n: i }),
    _topic: 'events',
    _partition: 2,
    _offset: 9_007_199_254_740_000n + BigInt(i),
    _ingested_at: base + 1000,
    ...overrides,
  };
}

/** Reads a parquet file with hyparquet (the reader batch_etl uses, independent of the writer). */
async function readBack(bytes: Uint8Array): Promise<Array<Record<string, unknown>>> {
  const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  return (await parquetReadObjects({ file })) as Array<Record<string, unknown>>;
}

describe('stream_ingest parquet encoding', () => {
  it('writes the nine fixed columns with their parquet types', () => {
    const bytes = encodeRecords([record(0), record(1)], 'parquet');
    const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const metadata = parquetMetadata(file);
    const columns = metadata.schema.slice(1);
    expect(columns.map((c) => c.name)).to.deep.equal([...LAKE_COLUMNS]);
    const byName = new Map(columns.map((c) => [c.name, c]));
    for (const name of ['event_id', 'event_type', 'source', 'payload', '_topic']) {
      expect(byName.get(name)?.type, name).to.equal('BYTE_ARRAY');
      expect(byName.get(name)?.logical_type?.type, name).to.equal('STRING');
    }
    for (const name of ['timestamp', '_ingested_at']) {
      expect(byName.get(name)?.type, name).to.equal('INT64');
      expect(byName.get(name)?.logical_type, name).to.deep.include({
        type: 'TIMESTAMP',
        isAdjustedToUTC: true,
        unit: 'MILLIS',
      });
    }
    expect(byName.get('_partition')?.type).to.equal('INT32');
    expect(byName.get('_offset')?.type).to.equal('INT64');
    expect(byName.get('source')?.repetition_type).to.equal('OPTIONAL');
    expect(byName.get('event_id')?.repetition_type).to.equal('REQUIRED');
    expect(metadata.row_groups).to.have.length(1);
    expect(Number(metadata.num_rows)).to.equal(2);
  });

  it('reads back every value, nulls and non-ASCII text included', async () => {
    const records = [
      record(0),
      record(1, { source: null, payload: null }),
      record(2, { event_id: 'évt-2 ☃', source: 'ünïcode', payload: JSON.stringify({ text: '日本語, "quoted"' }) }),
      record(3, { event_type: 'purchase', source: '' }),
    ];
    const rows = await readBack(encodeRecords(records, 'parquet'));
    expect(rows).to.have.length(records.length);
    rows.forEach((row, i) => {
      const expected = records[i] as LakeRecord;
      expect(row.event_id).to.equal(expected.event_id);
      expect(row.event_type).to.equal(expected.event_type);
      expect(row.source ?? null).to.equal(expected.source);
      expect(row.payload ?? null).to.equal(expected.payload);
      expect((row.timestamp as Date).getTime()).to.equal(expected.timestamp);
      expect(row._topic).to.equal(expected._topic);
      expect(row._partition).to.equal(expected._partition);
      expect(row._offset).to.equal(expected._offset);
      expect((row._ingested_at as Date).getTime()).to.equal(expected._ingested_at);
    });
  });

  it('keeps min/max statistics on the time and offset columns only, no dictionary pages', () => {
    const records = Array.from({ length: 500 }, (_, i) => record(i));
    const bytes = encodeRecords(records, 'parquet');
    const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const chunks = parquetMetadata(file).row_groups[0]?.columns ?? [];
    const withStatistics = chunks
      .filter((chunk) => chunk.meta_data?.statistics?.max_value !== undefined)
      .map((chunk) => chunk.meta_data?.path_in_schema.join('.'));
    expect(withStatistics).to.deep.equal(['timestamp', '_partition', '_offset', '_ingested_at']);
    const offsets = chunks.find((chunk) => chunk.meta_data?.path_in_schema[0] === '_offset')?.meta_data?.statistics;
    expect(offsets?.min_value).to.equal(records[0]?._offset);
    expect(offsets?.max_value).to.equal(records[499]?._offset);
    expect(chunks.filter((chunk) => chunk.meta_data?.dictionary_page_offset !== undefined)).to.have.length(0);
  });
});
