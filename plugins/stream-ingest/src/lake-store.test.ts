import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { startModuleForTest } from '@platform-host/test-kit';
import { LakeStore } from './lake-store.js';
import type { LakeRecord } from './record.js';

const MODULE_DIR = fileURLToPath(new URL('..', import.meta.url));

describe('LakeStore.commit', function () {
  this.timeout(60_000);

  it('writes each record as one ingested_events row with its exact offset, times and fields', async () => {
    const topic = 'lake-store-rows';
    const module = await startModuleForTest({ moduleDir: MODULE_DIR, args: ['--topic', topic] });
    try {
      const { db } = module.ctx;
      const store = new LakeStore(db, topic, 'parquet');
      const claimed = await store.claim(3, 'test-owner');
      const record = (offset: bigint, timestamp: number, ingestedAt: number, source: string | null): LakeRecord => ({
        event_id: `e-${offset}`,
        event_type: 'click',
        source,
        timestamp,
        payload: null,
        _topic: topic,
        _partition: 3,
        _offset: offset,
        _ingested_at: ingestedAt,
      });
      const now = Date.UTC(2026, 0, 15, 12, 0, 0, 123);
      // Offsets with gaps (dead letters), times before and after the first record's, the first
      // and last instants the lake takes; a second file past 2^53, where numbers lose digits.
      const small = [
        record(10n, Date.UTC(2026, 0, 15, 10), now, 'web'),
        record(11n, 0, now + 1, null),
        record(15n, 253_402_300_799_999, now - 86_400_000, 'ios'),
        record(16n, Date.UTC(2026, 0, 15, 10) + 1, now + 2_000_000_000, 'a "quoted", \\ source ü'),
      ];
      const huge = [
        record(9_007_199_254_740_993n, Date.UTC(2026, 0, 16), now, 'web'),
        record(9_223_372_036_854_775_807n, Date.UTC(2026, 0, 16) + 5, now, 'web'),
      ];
      const file = (path: string, records: LakeRecord[]) => ({
        path,
        stagingPath: `staging/${path}`,
        records,
        byteCount: 1,
        sha256: '0'.repeat(64),
      });
      await store.commit(
        3,
        claimed.generation,
        [file('lake/a.parquet', small), file('lake/b.parquet', huge)],
        9_223_372_036_854_775_807n,
        new Date(now),
      );
      const rows = await db.fetchAll<Record<string, unknown>>(
        `SELECT "offset"::text AS offset, event_id, event_type, source, file_path, partition,
                (extract(epoch FROM event_timestamp) * 1000)::bigint::text AS ts,
                (extract(epoch FROM ingested_at) * 1000)::bigint::text AS ia
         FROM ingested_events WHERE topic = $1 ORDER BY "offset"`,
        [topic],
      );
      const expected = [
        ...small.map((r) => ['lake/a.parquet', r] as const),
        ...huge.map((r) => ['lake/b.parquet', r] as const),
      ];
      expect(rows).to.deep.equal(
        expected.map(([path, r]) => ({
          offset: r._offset.toString(),
          event_id: r.event_id,
          event_type: 'click',
          source: r.source,
          file_path: path,
          partition: 3,
          ts: String(r.timestamp),
          ia: String(r._ingested_at),
        })),
      );
    } finally {
      await module.close();
    }
  });
});
