import type { Database } from '@platform-host/contracts';
import type { LakeRecord } from './record.js';
import type { OutputFormat } from './settings.js';

/** A partition as the new owner finds it on assignment. */
export interface ClaimedPartition {
  readonly partition: number;
  /** This owner's generation; every commit checks it is still the current one. */
  readonly generation: bigint;
  /** The last offset committed to the lake, -1 when none. */
  readonly committedOffset: bigint;
}

/** A committed file whose bytes are still to be copied from staging to the lake. */
export interface Publication {
  readonly path: string;
  readonly stagingPath: string;
}

/** One file of a commit. */
export interface FileToCommit {
  readonly path: string;
  readonly stagingPath: string;
  readonly records: readonly LakeRecord[];
  readonly byteCount: number;
  readonly sha256: string;
}

/**
 * A commit refused because another consumer became the owner of the partition (its generation is
 * newer): the writer lost the partition and must drop what it holds.
 */
export class FencedError extends Error {
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly generation: bigint,
    readonly current: bigint | undefined,
  ) {
    super(
      `partition ${partition} of ${topic} is owned by generation ${String(current)}, not ${generation}: this writer lost it`,
    );
    this.name = 'FencedError';
  }
}

/**
 * The database side of stream_ingest: the owner generation per partition, and the commit that
 * records a partition's files and events in one transaction under the partition's row lock.
 */
export class LakeStore {
  constructor(
    private readonly db: Database,
    private readonly topic: string,
    private readonly format: OutputFormat,
  ) {}

  /**
   * Becomes the owner of `partition`: bumps its generation (so an earlier owner can no longer
   * commit) and returns the offset committed so far.
   */
  async claim(partition: number, owner: string): Promise<ClaimedPartition> {
    const row = await this.db.fetchOne<{ generation: string; committed_offset: string }>(
      `INSERT INTO stream_ingest_partitions (topic, partition, generation, committed_offset, owner)
       VALUES ($1, $2, 1, -1, $3)
       ON CONFLICT (topic, partition) DO UPDATE
       SET generation = stream_ingest_partitions.generation + 1, owner = EXCLUDED.owner, updated_at = now()
       RETURNING generation::text AS generation, committed_offset::text AS committed_offset`,
      [this.topic, partition, owner],
    );
    if (row === null) throw new Error(`claiming partition ${partition} of ${this.topic} returned no row`);
    return { partition, generation: BigInt(row.generation), committedOffset: BigInt(row.committed_offset) };
  }

  /** Committed files of `partition` whose copy from staging a crash may have interrupted. */
  async publications(partition: number): Promise<Publication[]> {
    const rows = await this.db.fetchAll<{ path: string; staging_path: string }>(
      `SELECT path, staging_path FROM stream_ingest_publications WHERE topic = $1 AND partition = $2 ORDER BY path`,
      [this.topic, partition],
    );
    return rows.map((row) => ({ path: row.path, stagingPath: row.staging_path }));
  }

  /** Forgets a publication once its file is at its lake path. */
  async published(path: string): Promise<void> {
    await this.db.execute('DELETE FROM stream_ingest_publications WHERE path = $1', [path]);
  }

  /**
   * Commits `files` of `partition` in one transaction: locks the partition row, checks the
   * generation (throws {@link FencedError} when another owner took over), inserts the `lake_files`,
   * `ingested_events` and publication rows and moves the committed offset to `lastOffset`.
   */
  async commit(
    partition: number,
    generation: bigint,
    files: readonly FileToCommit[],
    lastOffset: bigint,
    ingestedAt: Date,
  ): Promise<void> {
    await this.db.transaction(async () => {
      const locked = await this.db.fetchOne<{ generation: string }>(
        `SELECT generation::text AS generation FROM stream_ingest_partitions WHERE topic = $1 AND partition = $2 FOR UPDATE`,
        [this.topic, partition],
      );
      const current = locked === null ? undefined : BigInt(locked.generation);
      if (current !== generation) throw new FencedError(this.topic, partition, generation, current);
      for (const file of files) {
        const first = file.records[0];
        const last = file.records[file.records.length - 1];
        if (first === undefined || last === undefined) continue;
        await this.db.execute(
          `INSERT INTO lake_files (path, topic, partition, first_offset, last_offset, record_count, byte_count, format, sha256, created_at)
           VALUES ($1, $2, $3, $4::bigint, $5::bigint, $6, $7, $8, $9, $10)`,
          [
            file.path,
            this.topic,
            partition,
            first._offset.toString(),
            last._offset.toString(),
            file.records.length,
            file.byteCount,
            this.format,
            file.sha256,
            ingestedAt,
          ],
        );
        // Each column goes as one JSON array (JSON.stringify, native), zipped back into rows by
        // ROWS FROM in array order: the driver's text-array serializer escaped value by value and
        // was a tenth of the service's CPU per message. Offsets and times go as differences from
        // the file's first record: small integers, which JSON.stringify writes for a third of the
        // cost of epoch milliseconds; the sums are exact (integers below 2^53 in float8 and bigint).
        const deltas = columnDeltas(file.records);
        await this.db.execute(
          `INSERT INTO ingested_events (topic, partition, "offset", event_id, event_type, source, event_timestamp, file_path, ingested_at)
           SELECT $1, $2, $10::bigint + o::bigint, id, et, src, to_timestamp(($11::float8 + ts::float8) / 1000.0), $3,
             to_timestamp(($12::float8 + ia::float8) / 1000.0)
           FROM ROWS FROM (
             json_array_elements_text($4::json), json_array_elements_text($5::json), json_array_elements_text($6::json),
             json_array_elements_text($7::json), json_array_elements_text($8::json), json_array_elements_text($9::json)
           ) AS t(o, id, et, src, ts, ia)`,
          [
            this.topic,
            partition,
            file.path,
            deltas.offsets,
            JSON.stringify(file.records.map((r) => r.event_id)),
            JSON.stringify(file.records.map((r) => r.event_type)),
            JSON.stringify(file.records.map((r) => r.source)),
            deltas.timestamps,
            deltas.ingestedAt,
            deltas.offsetBase,
            first.timestamp,
            first._ingested_at,
          ],
        );
        await this.db.execute(
          `INSERT INTO stream_ingest_publications (path, staging_path, topic, partition) VALUES ($1, $2, $3, $4)`,
          [file.path, file.stagingPath, this.topic, partition],
        );
      }
      await this.db.execute(
        `UPDATE stream_ingest_partitions SET committed_offset = GREATEST(committed_offset, $3::bigint), updated_at = now()
         WHERE topic = $1 AND partition = $2`,
        [this.topic, partition, lastOffset.toString()],
      );
    });
  }
}

/** The offset, `timestamp` and `_ingested_at` columns of `records` as JSON arrays of differences from the first record's. */
function columnDeltas(records: readonly LakeRecord[]): {
  offsets: string;
  offsetBase: string;
  timestamps: string;
  ingestedAt: string;
} {
  const first = records[0] as LakeRecord;
  const last = records[records.length - 1] as LakeRecord;
  const count = records.length;
  const timestamps = new Array<number>(count);
  const ingestedAt = new Array<number>(count);
  for (let i = 0; i < count; i += 1) {
    const record = records[i] as LakeRecord;
    timestamps[i] = record.timestamp - first.timestamp;
    ingestedAt[i] = record._ingested_at - first._ingested_at;
  }
  let offsets: string;
  if (last._offset <= BigInt(Number.MAX_SAFE_INTEGER)) {
    const base = Number(first._offset);
    const differences = new Array<number>(count);
    for (let i = 0; i < count; i += 1) differences[i] = Number((records[i] as LakeRecord)._offset) - base;
    offsets = JSON.stringify(differences);
  } else {
    // Past 2^53 a number loses digits: the differences are written from bigints.
    offsets = JSON.stringify(records.map((record) => (record._offset - first._offset).toString()));
  }
  return {
    offsets,
    offsetBase: first._offset.toString(),
    timestamps: JSON.stringify(timestamps),
    ingestedAt: JSON.stringify(ingestedAt),
  };
}
